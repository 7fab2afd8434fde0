/* edgellm_model_convert against references computed elsewhere (../shared/hf/README.md's bar):
 * - TinyStories-656K -> q8_0: the 20 tensors byte-identical to llama.cpp's conversion
 *   (quant/tinystories656K-q8_0.gguf), its hyperparameters and token table, and Hugging Face's
 *   own token ids (hf/tinystories-656k/tokenize-expected.json);
 * - qwen2-mini, llama3-mini -> bf16: every 2-D tensor's sha256 as llama-quantize's BF16 files
 *   (quant/expected.json), 1-D tensors F32; -> f32: every value the BF16 rounding of the F32 base
 *   GGUF, rope_freqs within 1e-6; tokenizer and hyperparameters as the base; qwen2-mini's logits
 *   within refs/qwen2-mini-bf16.json's bars;
 * - qwen3-mini: names, shapes, keys; values against the safetensors' BF16 bits;
 * - bad input: truncated / overlong / unknown-dtype safetensors, shapes against config.json,
 *   missing tokenizer, unsupported architecture, bad outtype: a status and no output file.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgellm.h"
#include "gguf/gguf.h"
#include "golden.h"
#include "quant/qtypes.h"
#include "template/json.h"
#include "testutil.h"

static const char *shared;
static char tmpdir[256];

/* ---- sha256 (FIPS 180-4), for comparing tensor bytes with expected.json ---- */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
    0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
    0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void sha256_block(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64], a[8];
    for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, h, sizeof a);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = a[7] + (ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25)) + ((a[4] & a[5]) ^ (~a[4] & a[6])) + K256[i] + w[i];
        uint32_t t2 = (ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22)) + ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
        memmove(a + 1, a, 7 * sizeof a[0]);
        a[4] += t1;
        a[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) h[i] += a[i];
}
static void sha256_hex(const void *data, uint64_t n, char out[65]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = data;
    uint64_t i = 0;
    for (; i + 64 <= n; i += 64) sha256_block(h, p + i);
    uint8_t last[128] = {0};
    size_t r = (size_t)(n - i);
    memcpy(last, p + i, r);
    last[r] = 0x80;
    size_t L = r + 9 <= 64 ? 64 : 128;
    for (int k = 0; k < 8; k++) last[L - 1 - k] = (uint8_t)((n * 8) >> (8 * k));
    sha256_block(h, last);
    if (L == 128) sha256_block(h, last + 64);
    for (int k = 0; k < 8; k++) snprintf(out + 8 * k, 9, "%08x", h[k]);
}

/* ---- helpers ---- */

static int convert(const char *model, const char *outtype, const char *out) {
    char dir[512], err[512];
    snprintf(dir, sizeof dir, "%s/hf/%s", shared, model);
    struct edgellm_convert_params p = edgellm_convert_default_params();
    p.outtype = outtype;
    p.n_threads = 2;
    edgellm_status st = edgellm_model_convert(dir, out, &p, err, sizeof err);
    if (st) fprintf(stderr, "convert %s %s: %s\n", model, outtype, err);
    return st;
}

static struct gguf_file *open_gguf(const char *path) {
    struct gguf_file *f = NULL;
    char err[256];
    if (gguf_open(path, 1, &f, err, sizeof err)) fprintf(stderr, "%s: %s\n", path, err);
    return f;
}

static uint16_t bf16_round(float x) { return f32_to_bf16(x); }

/* Metadata value of key in a and b are equal (numbers, bools, strings, arrays of them). */
static int kv_equal(const struct gguf_file *a, const struct gguf_file *b, const char *key) {
    int64_t ia = gguf_find_key(a, key), ib = gguf_find_key(b, key);
    if (ia < 0 || ib < 0) return 0;
    const struct gguf_kv *x = &a->kv[ia], *y = &b->kv[ib];
    if (x->type != y->type || x->n != y->n || x->arr_type != y->arr_type) return 0;
    if (x->type == GGUF_T_STRING) {
        struct gguf_str s, t;
        gguf_get_str(a, key, &s);
        gguf_get_str(b, key, &t);
        return s.len == t.len && !memcmp(s.ptr, t.ptr, s.len);
    }
    if (x->type == GGUF_T_ARRAY && x->arr_type == GGUF_T_STRING) {
        struct gguf_str *s = malloc(x->n * sizeof *s), *t = malloc(y->n * sizeof *t);
        int eq = s && t;
        if (eq) {
            gguf_arr_strings(x, s);
            gguf_arr_strings(y, t);
            for (uint64_t i = 0; i < x->n && eq; i++) eq = s[i].len == t[i].len && !memcmp(s[i].ptr, t[i].ptr, s[i].len);
        }
        free(s);
        free(t);
        return eq;
    }
    if (x->type == GGUF_T_ARRAY) {
        for (uint64_t i = 0; i < x->n; i++)
            if (gguf_arr_num(x, i) != gguf_arr_num(y, i)) return 0;
        return 1;
    }
    size_t n = gguf_vtype_size(x->type);
    return n && !memcmp(x->data, y->data, n);
}

static int64_t key_u32(const struct gguf_file *f, const char *key) {
    uint32_t v;
    return gguf_get_u32(f, key, &v) ? (int64_t)v : -1;
}

static const json_value *expected_file(const json_value *ex, const char *key) {
    return json_get(json_get(ex, "files"), key);
}

/* ---- TinyStories ---- */

static void test_tinystories(void) {
    char out[512];
    snprintf(out, sizeof out, "%s/tinystories-q8_0.gguf", tmpdir);
    CHECK(convert("tinystories-656k", "q8_0", out) == 0);
    char ref_path[512];
    snprintf(ref_path, sizeof ref_path, "%s/quant/tinystories656K-q8_0.gguf", shared);
    struct gguf_file *ref = open_gguf(ref_path), *got = open_gguf(out);
    CHECK(ref && got);
    if (!ref || !got) { gguf_close(ref); gguf_close(got); return; }
    CHECK(got->n_tensors == 20 && ref->n_tensors == 20);
    int same = 0;
    for (uint64_t i = 0; i < ref->n_tensors; i++) {
        const struct gguf_tensor *r = &ref->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)r->name.len, r->name.ptr);
        const struct gguf_tensor *g = gguf_find_tensor(got, name);
        int ok = g && g->type == r->type && g->nbytes == r->nbytes && g->ne[0] == r->ne[0] && g->ne[1] == r->ne[1] &&
                 !memcmp(g->data, r->data, r->nbytes);
        CHECKF(ok, "tensor %s differs from llama.cpp's conversion", name);
        same += ok;
    }
    printf("tinystories q8_0: %d/20 tensors byte-identical\n", same);
    static const char *const keys[] = {
        "general.architecture", "llama.context_length", "llama.embedding_length", "llama.block_count",
        "llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.freq_base",
        "llama.attention.layer_norm_rms_epsilon", "llama.rope.dimension_count", "llama.vocab_size", "general.file_type",
        "tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) CHECKF(kv_equal(ref, got, keys[i]), "key %s", keys[i]);
    gguf_close(ref);
    gguf_close(got);

    /* Hugging Face's own token ids */
    char path[1024];
    snprintf(path, sizeof path, "%s/hf/tinystories-656k/tokenize-expected.json", shared);
    size_t len;
    char *text = tu_read_file(path, &len);
    char jerr[128];
    json_value *ex = text ? json_parse(text, len, jerr, sizeof jerr) : NULL;
    free(text);
    const json_value *cases = json_get(ex, "cases");
    CHECK(cases && cases->type == JSON_ARRAY && cases->len == 9);
    struct edgellm_model *m = NULL;
    struct edgellm_model_params mp = edgellm_model_default_params();
    mp.vocab_only = 1;
    char err[256];
    CHECK(edgellm_model_load(out, &mp, &m, err, sizeof err) == EDGELLM_OK);
    int n_ok = 0;
    for (size_t c = 0; m && cases && c < cases->len; c++) {
        const json_value *t = json_get(cases->items[c], "text"), *ids = json_get(cases->items[c], "ids");
        edgellm_token toks[512];
        int32_t n = -1;
        if (edgellm_tokenize(m, t->str, t->len, 0, 0, toks, 512, &n, NULL, 0) != EDGELLM_OK) n = -1;
        int ok = n == (int32_t)ids->len;
        for (int32_t k = 0; ok && k < n; k++) ok = toks[k] == ids->items[k]->i;
        CHECKF(ok, "tokenization of \"%s\" differs from tokenizer.json's", t->str);
        n_ok += ok;
    }
    printf("tinystories tokenizer: %d/9 strings as Hugging Face tokenizes them\n", n_ok);
    edgellm_model_free(m);
    json_free(ex);
}

/* ---- qwen2-mini / llama3-mini ---- */

static void test_mini(const char *model, const json_value *expected) {
    char out_bf16[512], out_f32[512], base_path[512], key[64];
    snprintf(out_bf16, sizeof out_bf16, "%s/%s-bf16.gguf", tmpdir, model);
    snprintf(out_f32, sizeof out_f32, "%s/%s-f32.gguf", tmpdir, model);
    snprintf(base_path, sizeof base_path, "%s/quant/%s-f32.gguf", shared, model);
    CHECK(convert(model, "bf16", out_bf16) == 0);
    CHECK(convert(model, "f32", out_f32) == 0);
    struct gguf_file *bf = open_gguf(out_bf16), *f32 = open_gguf(out_f32), *base = open_gguf(base_path);
    CHECK(bf && f32 && base);
    snprintf(key, sizeof key, "%s-bf16", model);
    const json_value *tensors = json_get(expected_file(expected, key), "tensors");
    CHECK(tensors && tensors->type == JSON_ARRAY);
    if (!bf || !f32 || !base || !tensors) goto done;

    /* bf16: 2-D tensors as llama-quantize's BF16 file, 1-D tensors F32 */
    int n2 = 0, ok2 = 0;
    for (size_t i = 0; i < tensors->len; i++) {
        const json_value *e = tensors->items[i], *ne = json_get(e, "ne");
        const char *name = json_get(e, "name")->str;
        const struct gguf_tensor *t = gguf_find_tensor(bf, name);
        CHECKF(t != NULL, "%s: no tensor %s", model, name);
        if (!t) continue;
        CHECKF(t->ne[0] == ne->items[0]->i && (ne->len < 2 || t->ne[1] == ne->items[1]->i), "%s: %s shape", model, name);
        if (ne->len == 2) {
            char hex[65];
            sha256_hex(t->data, t->nbytes, hex);
            int ok = t->type == QT_BF16 && !strcmp(hex, json_get(e, "sha256")->str);
            CHECKF(ok, "%s bf16: %s sha256 %s", model, name, hex);
            n2++;
            ok2 += ok;
        } else {
            CHECKF(t->type == QT_F32, "%s bf16: 1-D %s is not F32", model, name);
        }
    }
    CHECK(bf->n_tensors == tensors->len);
    printf("%s bf16: %d/%d matrices with llama-quantize's sha256\n", model, ok2, n2);

    /* f32: every value the BF16 rounding of the base's */
    int exact = 0;
    for (uint64_t i = 0; i < base->n_tensors; i++) {
        const struct gguf_tensor *b = &base->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)b->name.len, b->name.ptr);
        const struct gguf_tensor *t = gguf_find_tensor(f32, name);
        CHECKF(t && t->type == QT_F32 && t->nbytes == b->nbytes, "%s f32: tensor %s", model, name);
        if (!t || t->nbytes != b->nbytes) continue;
        const float *x = t->data, *y = b->data;
        uint64_t n = b->nbytes / 4;
        int ok = 1;
        if (!strcmp(name, "rope_freqs.weight")) {
            double worst = 0;
            for (uint64_t k = 0; k < n; k++) worst = fmax(worst, fabs((double)x[k] - y[k]) / fabs((double)y[k]));
            ok = worst <= 1e-6;
            CHECKF(ok, "%s: rope_freqs max relative difference %g", model, worst);
        } else {
            for (uint64_t k = 0; k < n && ok; k++) {
                uint32_t bits;
                memcpy(&bits, &x[k], 4);
                ok = (bits & 0xffff) == 0 && (uint16_t)(bits >> 16) == bf16_round(y[k]);
            }
            CHECKF(ok, "%s f32: %s is not the BF16 rounding of the base", model, name);
        }
        exact += ok;
    }
    CHECK(f32->n_tensors == base->n_tensors);
    printf("%s f32: %d/%d tensors equal the BF16-rounded base\n", model, exact, (int)base->n_tensors);

    /* metadata as the base holds it */
    const char *arch = !strcmp(model, "qwen2-mini") ? "qwen2" : "llama";
    static const char *const hp[] = {"context_length", "embedding_length", "block_count", "feed_forward_length",
                                     "attention.head_count", "attention.head_count_kv", "rope.freq_base",
                                     "attention.layer_norm_rms_epsilon", "rope.dimension_count"};
    for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, hp[i]);
        CHECKF(kv_equal(base, f32, key), "%s: %s", model, key);
    }
    static const char *const tk[] = {"general.architecture", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                                     "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
                                     "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.chat_template"};
    for (size_t i = 0; i < sizeof tk / sizeof tk[0]; i++) CHECKF(kv_equal(base, bf, tk[i]), "%s: %s", model, tk[i]);
    CHECK(key_u32(bf, "general.file_type") == 32 && key_u32(f32, "general.file_type") == 0);
done:
    gguf_close(bf);
    gguf_close(f32);
    gguf_close(base);
}

/* qwen2-mini converted to bf16 against llama.cpp's logits on the BF16 file. */
static void test_qwen2_logits(void) {
    struct golden_ref r;
    CHECK(golden_ref_load(shared, "qwen2-mini-bf16", 0, &r) == 0);
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/qwen2-mini-bf16.gguf", tmpdir);
    struct edgellm_model *m = NULL;
    struct edgellm_context *ctx = NULL;
    CHECK(edgellm_model_load(path, NULL, &m, err, sizeof err) == EDGELLM_OK);
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 256;
    cp.logits_all = 1;
    cp.n_threads = 2;
    if (m) CHECK(edgellm_context_new(m, &cp, &ctx, err, sizeof err) == EDGELLM_OK);
    if (ctx) {
        int8_t *want = calloc((size_t)r.n_tokens, 1);
        for (int i = r.first_row; i < r.first_row + r.n_rows; i++) want[i] = 1;
        struct edgellm_batch b = {r.n_tokens, r.tokens, NULL, NULL, want};
        CHECK(edgellm_context_decode(ctx, &b) == EDGELLM_OK);
        float *ours = malloc((size_t)r.n_rows * r.n_vocab * sizeof *ours);
        for (int i = 0; i < r.n_rows; i++) memcpy(ours + (size_t)i * r.n_vocab, edgellm_context_logits(ctx, i), (size_t)r.n_vocab * 4);
        struct golden_stats s;
        golden_compare(&r, r.logits, ours, r.n_rows, &s);
        printf("qwen2-mini converted bf16 vs llama.cpp: mean KL %.3g (bar %.3g), max_rel %.4f (bar %.3g), top1 %d/%d\n", s.mean_kl,
               r.kl_bar, s.max_rel, r.max_rel_bar, s.top1_checked - s.top1_mismatch, s.top1_checked);
        CHECK(golden_holds(&r, &s));
        free(ours);
        free(want);
    }
    edgellm_context_free(ctx);
    edgellm_model_free(m);
    golden_ref_free(&r);
}

/* ---- qwen3-mini ---- */

static void test_qwen3(void) {
    char out[512], st_path[512];
    snprintf(out, sizeof out, "%s/qwen3-mini-f32.gguf", tmpdir);
    snprintf(st_path, sizeof st_path, "%s/hf/qwen3-mini/model.safetensors", shared);
    CHECK(convert("qwen3-mini", "f32", out) == 0);
    struct gguf_file *f = open_gguf(out);
    CHECK(f != NULL);
    if (!f) return;
    struct gguf_str s;
    CHECK(gguf_get_str(f, "general.architecture", &s) && s.len == 5 && !memcmp(s.ptr, "qwen3", 5));
    CHECK(gguf_get_str(f, "tokenizer.ggml.pre", &s) && s.len == 5 && !memcmp(s.ptr, "qwen2", 5));
    CHECK(key_u32(f, "qwen3.attention.key_length") == 128 && key_u32(f, "qwen3.attention.value_length") == 128);
    CHECK(key_u32(f, "qwen3.block_count") == 2 && key_u32(f, "qwen3.context_length") == 40960);
    CHECK(gguf_find_key(f, "qwen3.rope.dimension_count") < 0);
    CHECK(key_u32(f, "tokenizer.ggml.bos_token_id") == 1000 && key_u32(f, "tokenizer.ggml.eos_token_id") == 1002 &&
          key_u32(f, "tokenizer.ggml.padding_token_id") == 1000);
    int add_bos = -1;
    CHECK(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos) && add_bos == 0);
    const struct gguf_kv *tt = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_T_INT32);
    CHECK(tt && tt->n == 1007 && gguf_arr_num(tt, 1002) == 3 && gguf_arr_num(tt, 1005) == 4 && gguf_arr_num(tt, 1006) == 4);
    CHECK(f->n_tensors == 24 && !gguf_find_tensor(f, "output.weight"));
    const struct gguf_tensor *qn = gguf_find_tensor(f, "blk.1.attn_q_norm.weight"), *q = gguf_find_tensor(f, "blk.0.attn_q.weight");
    CHECK(qn && qn->ne[0] == 128 && q && q->ne[0] == 256 && q->ne[1] == 512);
    /* values: the safetensors' BF16 bits widened (HF order: Qwen3 is not permuted) */
    size_t len;
    char *st = tu_read_file(st_path, &len);
    CHECK(st && len > 8);
    if (st && q) {
        uint64_t hn;
        memcpy(&hn, st, 8);
        char jerr[128];
        json_value *h = json_parse(st + 8, (size_t)hn, jerr, sizeof jerr);
        const json_value *e = json_get(h, "model.layers.0.self_attn.q_proj.weight");
        const json_value *off = json_get(e, "data_offsets");
        CHECK(off && off->len == 2);
        if (off) {
            const uint8_t *src = (const uint8_t *)st + 8 + hn + off->items[0]->i;
            const uint32_t *dst = q->data;
            int ok = 1;
            for (int64_t k = 0; k < 256 * 512 && ok; k++) ok = dst[k] == (uint32_t)(src[2 * k] | src[2 * k + 1] << 8) << 16;
            CHECK(ok);
        }
        json_free(h);
    }
    free(st);
    gguf_close(f);
}

/* ---- bad input ---- */

static void write_file(const char *dir, const char *name, const void *data, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(data, 1, n, f); fclose(f); }
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", from_dir, name);
    size_t n;
    char *d = tu_read_file(path, &n);
    if (d) write_file(to_dir, name, d, n);
    free(d);
}

/* A directory holding TinyStories' JSON files and the given safetensors bytes. */
static void make_case(const char *name, const void *st, size_t n, const char *config_sub, const char *config_with) {
    char dir[1024], src[512];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    snprintf(src, sizeof src, "%s/hf/tinystories-656k", shared);
    mkdir(dir, 0755);
    copy_file(src, dir, "tokenizer.json");
    copy_file(src, dir, "tokenizer_config.json");
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", src);
    size_t cn;
    char *cfg = tu_read_file(path, &cn);
    if (cfg && config_sub) { /* one textual substitution */
        char *at = strstr(cfg, config_sub);
        if (at) {
            size_t a = (size_t)(at - cfg), sl = strlen(config_sub), wl = strlen(config_with);
            char *c2 = malloc(cn - sl + wl + 1);
            memcpy(c2, cfg, a);
            memcpy(c2 + a, config_with, wl);
            memcpy(c2 + a + wl, cfg + a + sl, cn - a - sl + 1);
            free(cfg);
            cfg = c2;
            cn = cn - sl + wl;
        }
    }
    if (cfg) write_file(dir, "config.json", cfg, cn);
    free(cfg);
    if (st) write_file(dir, "model.safetensors", st, n);
}

static edgellm_status try_convert(const char *name, const char *outtype, char *err, size_t err_size) {
    char dir[1024], out[1024];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    snprintf(out, sizeof out, "%s/%s.gguf", tmpdir, name);
    struct edgellm_convert_params p = edgellm_convert_default_params();
    p.outtype = outtype;
    edgellm_status st = edgellm_model_convert(dir, out, &p, err, err_size);
    char part[1100];
    snprintf(part, sizeof part, "%s.part", out);
    CHECKF(access(out, F_OK) != 0 || st == EDGELLM_OK, "%s: output left behind after a failure", name);
    CHECKF(access(part, F_OK) != 0, "%s: temporary file left behind", name);
    printf("  %-16s -> %s: %s\n", name, edgellm_status_str(st), err);
    return st;
}

static void test_bad_input(void) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/hf/tinystories-656k/model.safetensors", shared);
    size_t n;
    char *st = tu_read_file(path, &n);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t hn;
    memcpy(&hn, st, 8);
    make_case("truncated", st, n - 1000, NULL, NULL);
    CHECK(try_convert("truncated", "f16", err, sizeof err) == EDGELLM_ERR_FORMAT && strstr(err, "truncated"));
    char *h = malloc(n);
    memcpy(h, st, n);
    uint64_t big = n; /* header longer than the file */
    memcpy(h, &big, 8);
    make_case("header_long", h, n, NULL, NULL);
    CHECK(try_convert("header_long", "f16", err, sizeof err) == EDGELLM_ERR_FORMAT && strstr(err, "longer than the file"));
    make_case("short", st, 5, NULL, NULL);
    CHECK(try_convert("short", "f16", err, sizeof err) == EDGELLM_ERR_FORMAT);
    /* an unknown dtype: same length, so only the dtype differs */
    memcpy(h, st, n);
    char *d = memmem(h + 8, (size_t)hn, "\"F32\"", 5);
    if (d) memcpy(d, "\"X32\"", 5);
    make_case("dtype", h, n, NULL, NULL);
    CHECK(try_convert("dtype", "f16", err, sizeof err) == EDGELLM_ERR_UNSUPPORTED && strstr(err, "X32"));
    /* a dtype the format knows but the converter does not read */
    memcpy(h, st, n);
    if ((d = memmem(h + 8, (size_t)hn, "\"F32\"", 5))) memcpy(d, "\"I32\"", 5);
    make_case("dtype_i32", h, n, NULL, NULL);
    CHECK(try_convert("dtype_i32", "f16", err, sizeof err) == EDGELLM_ERR_UNSUPPORTED && strstr(err, "I32"));
    free(h);
    make_case("shapes", st, n, "\"intermediate_size\": 384", "\"intermediate_size\": 512");
    CHECK(try_convert("shapes", "f16", err, sizeof err) == EDGELLM_ERR_FORMAT && strstr(err, "config.json implies"));
    make_case("layers", st, n, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    CHECK(try_convert("layers", "f16", err, sizeof err) == EDGELLM_ERR_FORMAT && strstr(err, "model.layers.2"));
    make_case("arch", st, n, "LlamaForCausalLM", "GPTNeoXForCausalLM");
    CHECK(try_convert("arch", "f16", err, sizeof err) == EDGELLM_ERR_UNSUPPORTED && strstr(err, "GPTNeoXForCausalLM"));
    make_case("no_tokenizer", st, n, NULL, NULL);
    snprintf(path, sizeof path, "%s/no_tokenizer/tokenizer.json", tmpdir);
    remove(path);
    CHECK(try_convert("no_tokenizer", "f16", err, sizeof err) == EDGELLM_ERR_IO && strstr(err, "tokenizer.json"));
    snprintf(path, sizeof path, "%s/no_tokenizer", tmpdir);
    write_file(path, "tokenizer.model", "\x0a\x01x", 3);
    CHECK(try_convert("no_tokenizer", "f16", err, sizeof err) == EDGELLM_ERR_UNSUPPORTED && strstr(err, "tokenizer.model"));
    make_case("no_weights", NULL, 0, NULL, NULL);
    CHECK(try_convert("no_weights", "f16", err, sizeof err) == EDGELLM_ERR_IO && strstr(err, "model.safetensors"));
    make_case("outtype", st, n, NULL, NULL);
    CHECK(try_convert("outtype", "q9_9", err, sizeof err) == EDGELLM_ERR_ARG);
    /* sharded: an index naming a missing shard */
    make_case("shard", NULL, 0, NULL, NULL);
    snprintf(path, sizeof path, "%s/shard", tmpdir);
    const char *idx = "{\"metadata\": {}, \"weight_map\": {\"lm_head.weight\": \"model-00001-of-00002.safetensors\"}}";
    write_file(path, "model.safetensors.index.json", idx, strlen(idx));
    CHECK(try_convert("shard", "f16", err, sizeof err) == EDGELLM_ERR_IO);
    const char *idx2 = "{\"weight_map\": {\"lm_head.weight\": \"../../etc/passwd\"}}";
    write_file(path, "model.safetensors.index.json", idx2, strlen(idx2));
    CHECK(try_convert("shard", "f16", err, sizeof err) == EDGELLM_ERR_FORMAT);
    free(st);
}

/* TinyStories split into two shards + index (tensors alternately in each, the alias kept in the
 * first): the conversion must give the same file as from the single model.safetensors. */
static void test_sharded(void) {
    char path[1024], dir[1024];
    snprintf(path, sizeof path, "%s/hf/tinystories-656k/model.safetensors", shared);
    size_t n;
    char *st = tu_read_file(path, &n);
    CHECK(st != NULL);
    if (!st) return;
    uint64_t hn;
    memcpy(&hn, st, 8);
    char jerr[128];
    json_value *h = json_parse(st + 8, (size_t)hn, jerr, sizeof jerr);
    CHECK(h && h->type == JSON_OBJECT);
    make_case("sharded", NULL, 0, NULL, NULL);
    snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
    json_buf index = {0};
    json_buf_puts(&index, "{\"metadata\": {}, \"weight_map\": {");
    int first_entry = 1;
    for (int k = 0; h && k < 2; k++) {
        json_buf hdr = {0}, data = {0};
        json_buf_puts(&hdr, "{\"__metadata__\": ");
        json_write(&hdr, json_get(h, "__metadata__"), -1, 0);
        char fname[64];
        snprintf(fname, sizeof fname, "model-%05d-of-00002.safetensors", k + 1);
        int i = 0;
        for (size_t m = 0; m < h->len; m++) {
            if (!strcmp(h->keys[m], "__metadata__") || (i++ % 2) != k) continue;
            const json_value *e = h->items[m], *off = json_get(e, "data_offsets");
            size_t b = (size_t)off->items[0]->i, e_ = (size_t)off->items[1]->i;
            char meta[256];
            json_buf_puts(&hdr, ", ");
            json_write_string(&hdr, h->keys[m], h->key_lens[m], 0);
            json_buf_puts(&hdr, ": {\"dtype\": ");
            json_write(&hdr, json_get(e, "dtype"), -1, 0);
            json_buf_puts(&hdr, ", \"shape\": ");
            json_write(&hdr, json_get(e, "shape"), -1, 0);
            snprintf(meta, sizeof meta, ", \"data_offsets\": [%zu, %zu]}", data.len, data.len + (e_ - b));
            json_buf_puts(&hdr, meta);
            json_buf_put(&data, st + 8 + hn + b, e_ - b);
            json_buf_puts(&index, first_entry ? "" : ", ");
            first_entry = 0;
            json_write_string(&index, h->keys[m], h->key_lens[m], 0);
            json_buf_puts(&index, ": ");
            json_write_string(&index, fname, strlen(fname), 0);
        }
        json_buf_puts(&hdr, "}");
        while (hdr.len % 8) json_buf_puts(&hdr, " ");
        uint64_t hl = hdr.len;
        json_buf file = {0};
        json_buf_put(&file, (const char *)&hl, 8);
        json_buf_put(&file, hdr.data, hdr.len);
        json_buf_put(&file, data.data ? data.data : "", data.len);
        write_file(dir, fname, file.data, file.len);
        json_buf_free(&hdr);
        json_buf_free(&data);
        json_buf_free(&file);
    }
    json_buf_puts(&index, "}}");
    write_file(dir, "model.safetensors.index.json", index.data, index.len);
    json_buf_free(&index);
    json_free(h);
    free(st);
    char err[512];
    CHECK(try_convert("sharded", "q8_0", err, sizeof err) == EDGELLM_OK);
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/sharded.gguf", tmpdir);
    snprintf(b, sizeof b, "%s/tinystories-q8_0.gguf", tmpdir);
    struct gguf_file *fa = open_gguf(a), *fb = open_gguf(b);
    CHECK(fa && fb && fa->n_tensors == fb->n_tensors);
    for (uint64_t i = 0; fa && fb && i < fb->n_tensors; i++) {
        const struct gguf_tensor *t = &fb->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        const struct gguf_tensor *u = gguf_find_tensor(fa, name);
        CHECKF(u && u->nbytes == t->nbytes && !memcmp(u->data, t->data, t->nbytes), "sharded: %s differs", name);
    }
    gguf_close(fa);
    gguf_close(fb);
}

int main(int argc, char **argv) {
    shared = tu_shared(argc, argv);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/edgellm_test_convert_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    char path[1024];
    snprintf(path, sizeof path, "%s/quant/expected.json", shared);
    size_t len;
    char *text = tu_read_file(path, &len);
    char jerr[128];
    json_value *expected = text ? json_parse(text, len, jerr, sizeof jerr) : NULL;
    free(text);
    CHECK(expected != NULL);

    test_tinystories();
    test_mini("qwen2-mini", expected);
    test_mini("llama3-mini", expected);
    test_qwen2_logits();
    test_qwen3();
    test_bad_input();
    test_sharded();

    json_free(expected);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_DONE();
}
