/* edgellm_model_quantize against llama-quantize: for the keys of ../shared/quant/expected.json,
 * every tensor's type and the sha256 of its bytes must equal the reference (no tolerance), the
 * written file is re-read by our GGUF reader, and general.file_type is llama.cpp's value. All 39
 * keys (~30 s on 2 cores); EDGELLM_QUANT_SUBSET=1 (set for the sanitizer and qemu runs) checks 17
 * that cover every tensor type, the three imatrix keys and the tied/GQA rules;
 * EDGELLM_QUANT_KEYS=key,key,... checks just those.
 *
 * A held-out base (8 layers, GQA 4, tied embeddings, row lengths that are not multiples of 256 or
 * of 32) written here checks the type rules where the shipped bases do not reach: use_more_bits
 * over 8 layers, the fallbacks, F16 as the last resort. Expected types are worked out by hand
 * from llama.cpp's rules (llama_tensor_get_type), not taken from this code. Also: the options
 * (--pure, type overrides) and bad inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "edgellm.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf/imatrix.h"
#include "quant/qtypes.h"
#include "sha256.h"
#include "template/json.h"
#include "testutil.h"

static char tmpdir[64];

static const json_value *jget(const json_value *o, const char *k) { return o ? json_get(o, k) : NULL; }

/* Quantizes with the API and compares with one expected.json entry; 1 if everything matches. */
static int check_key(const char *shared, const char *key, const json_value *e) {
    const json_value *base = jget(e, "base"), *ft = jget(e, "ftype"), *imx = jget(e, "imatrix"), *ts = jget(e, "tensors"),
                     *gft = jget(e, "general.file_type");
    if (!base || !ft || !ts || !gft || ts->type != JSON_ARRAY) { CHECKF(0, "%s: malformed entry", key); return 0; }
    char in[1024], im[1024], out[1024], err[512];
    snprintf(in, sizeof in, "%s/quant/%s", shared, base->str);
    snprintf(out, sizeof out, "%s/out.gguf", tmpdir);
    struct edgellm_quantize_params p = edgellm_quantize_default_params();
    p.ftype = edgellm_ftype_from_name(ft->str);
    p.n_threads = 2;
    if (imx && imx->type == JSON_STRING) {
        snprintf(im, sizeof im, "%s/quant/%s", shared, imx->str);
        p.imatrix_path = im;
    }
    int st = edgellm_model_quantize(in, out, &p, err, sizeof err);
    CHECKF(st == 0, "%s: %s", key, err);
    if (st) return 0;
    struct gguf_file *f = NULL;
    st = gguf_open(out, 1, &f, err, sizeof err);
    CHECKF(st == 0, "%s: our reader rejects the output: %s", key, err);
    if (st) return 0;
    int ok = 1;
    uint32_t fty = 0;
    if (!gguf_get_u32(f, "general.file_type", &fty) || (int64_t)fty != gft->i) { ok = 0; CHECKF(0, "%s: general.file_type %u", key, fty); }
    if (f->n_tensors != ts->len) { ok = 0; CHECKF(0, "%s: %llu tensors, expected %zu", key, (unsigned long long)f->n_tensors, ts->len); }
    for (size_t i = 0; i < ts->len && i < f->n_tensors; i++) {
        const json_value *x = ts->items[i];
        const struct gguf_tensor *t = &f->tensors[i];
        const char *name = jget(x, "name")->str, *type = jget(x, "type")->str, *sha = jget(x, "sha256")->str;
        if (strlen(name) != t->name.len || memcmp(name, t->name.ptr, t->name.len)) {
            ok = 0;
            CHECKF(0, "%s: tensor %zu is %.*s, expected %s", key, i, (int)t->name.len, t->name.ptr, name);
            continue;
        }
        const char *tn = qtype_name(t->type);
        if (!tn || strcasecmp(tn, type)) { ok = 0; CHECKF(0, "%s: %s is %s, expected %s", key, name, tn ? tn : "?", type); continue; }
        char hex[65];
        sha256_hex(t->data, (size_t)t->nbytes, hex);
        if (t->nbytes != (uint64_t)jget(x, "n_bytes")->i || strcmp(hex, sha)) { ok = 0; CHECKF(0, "%s: %s (%s): bytes differ", key, name, type); }
    }
    gguf_close(f);
    unlink(out);
    return ok;
}

/* ------------------------------------------------------------ held-out base */

#define HO_LAYERS 8
#define HO_EMBD 256
#define HO_FF 320   /* ffn_down rows of 320: not a multiple of 256 (K-quants fall back) */
#define HO_KV 64    /* 4 heads of 64, 1 KV head: GQA 4 */
#define HO_VOCAB 64

static float ho_val(uint64_t i) { /* deterministic pseudo-random values in [-0.05, 0.05) */
    uint64_t x = i * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return (float)((double)(x >> 11) / 9007199254740992.0 - 0.5) * 0.1f;
}

struct ho_tensor { char name[64]; int64_t ne0, ne1; float *data; };

static int write_heldout(const char *path, struct ho_tensor *T, int *nt) {
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "llama");
    gguf_writer_add_u32(w, "llama.block_count", HO_LAYERS);
    gguf_writer_add_u32(w, "llama.embedding_length", HO_EMBD);
    gguf_writer_add_u32(w, "llama.feed_forward_length", HO_FF);
    gguf_writer_add_u32(w, "llama.attention.head_count", 4);
    gguf_writer_add_u32(w, "llama.attention.head_count_kv", 1);
    gguf_writer_add_u32(w, "general.file_type", 0);
    int n = 0;
#define T(nm, a, b) do { snprintf(T[n].name, 64, "%s", nm); T[n].ne0 = a; T[n].ne1 = b; n++; } while (0)
    T("token_embd.weight", HO_EMBD, HO_VOCAB);
    T("output_norm.weight", HO_EMBD, 1);
    for (int l = 0; l < HO_LAYERS; l++) {
        char s[64];
#define L(suf, a, b) do { snprintf(s, sizeof s, "blk.%d." suf, l); T(s, a, b); } while (0)
        L("attn_norm.weight", HO_EMBD, 1);
        L("attn_q.weight", HO_EMBD, HO_EMBD);
        L("attn_k.weight", HO_EMBD, HO_KV);
        L("attn_v.weight", HO_EMBD, HO_KV);
        L("attn_output.weight", HO_EMBD, HO_EMBD);
        L("ffn_norm.weight", HO_EMBD, 1);
        L("ffn_gate.weight", l == 0 ? 40 : HO_EMBD, HO_FF); /* 40: not even a multiple of 32 */
        L("ffn_up.weight", HO_EMBD, HO_FF);
        L("ffn_down.weight", HO_FF, HO_EMBD);
#undef L
    }
#undef T
    uint64_t seed = 0;
    for (int i = 0; i < n; i++) {
        size_t ne = (size_t)(T[i].ne0 * T[i].ne1);
        T[i].data = malloc(ne * sizeof(float));
        for (size_t j = 0; j < ne; j++) T[i].data[j] = strstr(T[i].name, "norm") ? 1.0f : ho_val(seed++);
        int64_t shape[2] = {T[i].ne0, T[i].ne1};
        gguf_writer_add_tensor(w, T[i].name, QT_F32, T[i].ne1 > 1 ? 2 : 1, shape, T[i].data, NULL, NULL);
    }
    char err[256];
    int st = gguf_writer_write_file(w, path, err, sizeof err);
    CHECKF(st == 0, "writing the held-out base: %s", err);
    gguf_writer_free(w);
    *nt = n;
    return st;
}

/* Type llama.cpp gives each tensor of the held-out base, worked out by hand:
 * use_more_bits(i, 8) holds for layers 0, 3, 6, 7 (i < 1, i >= 7, (i-1)%3 == 2). */
static const char *ho_expect(const char *ftype, const char *name) {
    int l = -1;
    sscanf(name, "blk.%d.", &l);
    const int more = l == 0 || l == 3 || l == 6 || l == 7;
    if (strstr(name, "norm")) return "f32";
    const int tied_embd = !strcmp(name, "token_embd.weight");
    const int v = strstr(name, "attn_v") != NULL, down = strstr(name, "ffn_down") != NULL;
    const int gate0 = l == 0 && strstr(name, "ffn_gate") != NULL, out = strstr(name, "attn_output") != NULL;
    if (!strcmp(ftype, "Q4_K_M")) {
        if (tied_embd) return "q6_K";             /* tied: plays output, 256 | 256 */
        if (gate0) return "f16";                  /* q4_K -> q5_0 -> 40 % 32 != 0 -> f16 */
        if (v) return more ? "q6_K" : "q4_K";
        if (down) return more ? "q8_0" : "q5_0";  /* q6_K/q4_K fall back: 320 % 256 != 0 */
        return "q4_K";
    }
    if (!strcmp(ftype, "Q2_K")) {
        if (tied_embd) return "q6_K";
        if (gate0) return "f16";                  /* q2_K -> q4_0 -> f16 */
        if (v) return "q4_K";                     /* GQA >= 4 */
        if (down) return "q4_0";                  /* q3_K falls back */
        if (out) return "q3_K";
        return "q2_K";
    }
    if (!strcmp(ftype, "IQ4_XS")) {
        if (tied_embd) return "q6_K";
        if (gate0) return "f16";                  /* iq4_xs -> iq4_nl -> 40 % 32 != 0 -> f16 */
        if (v) return "q5_K";                     /* GQA >= 4 */
        if (down) return l < 1 ? "q5_1" : "iq4_nl"; /* layer < 8/8 without imatrix: q5_K -> q5_1 */
        return "iq4_xs";
    }
    return "?";
}

static void check_heldout(void) {
    char in[256], out[256], err[512];
    snprintf(in, sizeof in, "%s/heldout-f32.gguf", tmpdir);
    snprintf(out, sizeof out, "%s/heldout-q.gguf", tmpdir);
    struct ho_tensor T[2 + 9 * HO_LAYERS];
    int nt = 0;
    if (write_heldout(in, T, &nt)) return;
    const char *ftypes[] = {"Q4_K_M", "Q2_K", "IQ4_XS"};
    for (int k = 0; k < 3; k++) {
        struct edgellm_quantize_params p = edgellm_quantize_default_params();
        struct edgellm_quantize_stats stats;
        p.ftype = edgellm_ftype_from_name(ftypes[k]);
        p.n_threads = 3;
        p.stats = &stats;
        int st = edgellm_model_quantize(in, out, &p, err, sizeof err);
        CHECKF(st == 0, "held-out %s: %s", ftypes[k], err);
        struct gguf_file *f = NULL;
        if (st || gguf_open(out, 1, &f, err, sizeof err)) { CHECKF(0, "held-out %s: cannot re-read: %s", ftypes[k], err); continue; }
        int bad = 0;
        CHECK(f->n_tensors == (uint64_t)nt);
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const struct gguf_tensor *t = &f->tensors[i];
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            const char *want = ho_expect(ftypes[k], name), *got = qtype_name(t->type);
            if (strcmp(want, got)) { bad++; CHECKF(0, "held-out %s: %s is %s, expected %s", ftypes[k], name, got, want); }
            /* the data decode back close to the source (a sanity check of the fallback types' bytes) */
            const struct ho_tensor *src = NULL;
            for (int j = 0; j < nt; j++) if (!strcmp(T[j].name, name)) src = &T[j];
            if (!src || t->type == QT_F32) continue;
            float *y = malloc((size_t)t->ne[0] * sizeof(float));
            double e2 = 0, x2 = 0;
            for (int64_t r = 0; r < t->ne[1]; r++) {
                qtype_get(t->type)->to_float((const uint8_t *)t->data + r * qtype_row_size(t->type, t->ne[0]), y, t->ne[0]);
                for (int64_t c = 0; c < t->ne[0]; c++) {
                    double d = y[c] - src->data[r * t->ne[0] + c];
                    e2 += d * d;
                    x2 += (double)src->data[r * t->ne[0] + c] * src->data[r * t->ne[0] + c];
                }
            }
            free(y);
            CHECKF(e2 < 0.1 * x2, "held-out %s: %s (%s) decodes with relative error %.3g", ftypes[k], name, got, e2 / x2);
        }
        CHECKF(stats.n_fallback > 0, "held-out %s: fallbacks were counted", ftypes[k]);
        CHECK(bad == 0);
        gguf_close(f);
    }
    for (int i = 0; i < nt; i++) free(T[i].data);
    unlink(in);
    unlink(out);
}

/* ------------------------------------------------------------ options and errors */

static void check_options(const char *shared) {
    char in[1024], out[1024], err[512];
    snprintf(in, sizeof in, "%s/quant/qwen2-mini-f32.gguf", shared);
    snprintf(out, sizeof out, "%s/opt.gguf", tmpdir);
    const char *names[] = {"attn_v"};
    const int types[] = {EDGELLM_TYPE_Q8_0};
    struct edgellm_quantize_params p = edgellm_quantize_default_params();
    p.ftype = EDGELLM_FTYPE_Q4_K_M;
    p.tensor_type_names = names;
    p.tensor_type_types = types;
    p.n_tensor_types = 1;
    p.token_embedding_type = EDGELLM_TYPE_Q5_0;
    p.output_tensor_type = EDGELLM_TYPE_F16;
    CHECKF(edgellm_model_quantize(in, out, &p, err, sizeof err) == 0, "%s", err);
    struct gguf_file *f = NULL;
    if (!gguf_open(out, 1, &f, err, sizeof err)) {
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const struct gguf_tensor *t = &f->tensors[i];
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            const char *want = strstr(name, "norm") || strstr(name, "bias") ? "f32"
                             : strstr(name, "attn_v") ? "q8_0"
                             : !strcmp(name, "token_embd.weight") ? "q5_0"
                             : !strcmp(name, "output.weight") ? "f16"
                             : strstr(name, "blk.1.ffn_down") ? "q6_K" : "q4_K";
            CHECKF(!strcmp(qtype_name(t->type), want), "overrides: %s is %s, expected %s", name, qtype_name(t->type), want);
        }
        gguf_close(f);
    }
    /* --pure: the base type everywhere it can go, output included */
    p = edgellm_quantize_default_params();
    p.ftype = EDGELLM_FTYPE_Q4_K_M;
    p.pure = 1;
    CHECKF(edgellm_model_quantize(in, out, &p, err, sizeof err) == 0, "%s", err);
    if (!gguf_open(out, 1, &f, err, sizeof err)) {
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const struct gguf_tensor *t = &f->tensors[i];
            const int vec = t->ne[1] == 1;
            CHECKF(t->type == (vec ? QT_F32 : QT_Q4_K), "pure: %.*s is %s", (int)t->name.len, t->name.ptr, qtype_name(t->type));
        }
        gguf_close(f);
    }
    unlink(out);

    /* errors: nothing left at the output path */
    p = edgellm_quantize_default_params();
    p.ftype = EDGELLM_FTYPE_Q4_0;
    CHECK(edgellm_model_quantize("/nonexistent/x.gguf", out, &p, err, sizeof err) == EDGELLM_ERR_IO);
    CHECK(access(out, F_OK) != 0);
    char q[1024];
    snprintf(q, sizeof q, "%s/models/qwen2-mini-q4_0.gguf", shared);
    p.ftype = EDGELLM_FTYPE_Q8_0; /* (to Q4_0 nothing would change: tensors of the target type are copied) */
    int st = edgellm_model_quantize(q, out, &p, err, sizeof err);
    CHECKF(st == EDGELLM_ERR_UNSUPPORTED && strstr(err, "requantiz"), "requantize refused: %d %s", st, err);
    CHECK(access(out, F_OK) != 0);
    p.allow_requantize = 1;
    CHECKF(edgellm_model_quantize(q, out, &p, err, sizeof err) == 0, "requantize allowed: %s", err);
    CHECK(access(out, F_OK) == 0);
    unlink(out);
    p = edgellm_quantize_default_params();
    p.ftype = 19; /* IQ2_XXS: not written by this quantizer */
    CHECK(edgellm_model_quantize(in, out, &p, err, sizeof err) == EDGELLM_ERR_ARG);
    p.ftype = EDGELLM_FTYPE_Q4_0;
    p.imatrix_path = in; /* not an imatrix */
    CHECK(edgellm_model_quantize(in, out, &p, err, sizeof err) == EDGELLM_ERR_FORMAT);
    CHECK(access(out, F_OK) != 0);
    CHECK(edgellm_ftype_from_name("q4_k_m") == EDGELLM_FTYPE_Q4_K_M && edgellm_ftype_from_name("IQ4_XS") == 30 &&
          edgellm_ftype_from_name("bf16") == 32 && edgellm_ftype_from_name("Q4_K") == 15 && edgellm_ftype_from_name("Q9") < 0);
    CHECK(edgellm_type_from_name("Q6_K") == 14 && edgellm_type_from_name("iq4_nl") == 20 && edgellm_type_from_name("q8_1") < 0);
}

/* The imatrix reader on llama-imatrix's file: 14 matrices, 896 tokens each, 7 chunks of 128. */
static void check_imatrix_reader(const char *shared) {
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/quant/qwen2-mini.imatrix.gguf", shared);
    struct imatrix *im = NULL;
    CHECKF(imatrix_load(path, &im, err, sizeof err) == 0, "%s", err);
    if (!im) return;
    CHECK(im->n_entries == 14 && im->chunk_count == 7 && im->chunk_size == 128);
    CHECK(im->dataset && !strcmp(im->dataset, "calib.txt"));
    const struct imatrix_entry *e = imatrix_find(im, "blk.1.ffn_down.weight");
    CHECK(e && e->n_expert == 1 && e->counts[0] == 896.0f && e->ne0 > 0);
    if (e) CHECK(e->weights[3] == e->in_sum2[3] / 896.0f);
    CHECK(imatrix_find(im, "output.weight") == NULL);
    imatrix_free(im);
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    char hex[65];
    sha256_hex("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    snprintf(tmpdir, sizeof tmpdir, "/tmp/edgellm-qtest.XXXXXX");
    if (!mkdtemp(tmpdir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    char path[1024];
    snprintf(path, sizeof path, "%s/quant/expected.json", shared);
    size_t len = 0;
    char *text = tu_read_file(path, &len), err[256];
    json_value *root = text ? json_parse(text, len, err, sizeof err) : NULL;
    const json_value *files = jget(root, "files");
    CHECKF(files && files->type == JSON_OBJECT, "cannot read %s", path);
    const char *sub = getenv("EDGELLM_QUANT_SUBSET"), *san = getenv("EDGELLM_SANITIZED");
    const int full = !((sub && atoi(sub) > 0) || (san && atoi(san) > 0));
    int n_keys = 0, n_ok = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; files && i < files->len; i++) {
        const char *key = files->keys[i];
        /* subset: every tensor type and the imatrix paths, with the mixes whose rules differ */
        static const char *const subset[] = {
            "qwen2-mini-f16", "qwen2-mini-bf16", "qwen2-mini-q8_0", "qwen2-mini-q4_0", "qwen2-mini-q4_1",
            "qwen2-mini-q5_0", "qwen2-mini-q5_1", "qwen2-mini-q2_k", "qwen2-mini-q3_k_l", "qwen2-mini-q4_k_m",
            "qwen2-mini-q6_k", "qwen2-mini-iq4_nl", "qwen2-mini-iq4_xs", "qwen2-mini-q4_k_m+imatrix",
            "qwen2-mini-iq4_xs+imatrix", "qwen2-mini-q2_k+imatrix", "llama3-mini-q4_k_m"};
        int pick = full;
        for (size_t k = 0; !pick && k < sizeof subset / sizeof subset[0]; k++) pick = !strcmp(key, subset[k]);
        const char *only = getenv("EDGELLM_QUANT_KEYS"); /* comma-separated keys, for diagnosis */
        if (only && only[0]) {
            const char *hit = strstr(only, key);
            size_t kl = strlen(key);
            pick = hit && (hit == only || hit[-1] == ',') && (hit[kl] == 0 || hit[kl] == ',');
        }
        if (!pick) continue;
        n_keys++;
        n_ok += check_key(shared, key, files->items[i]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("expected.json: %d/%d keys identical (types and sha256 of every tensor)%s, %.1f s\n", n_ok, n_keys,
           full ? "" : " [subset: EDGELLM_QUANT_SUBSET/EDGELLM_SANITIZED set]",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    CHECK(n_keys > 0 && n_ok == n_keys);
    json_free(root);
    free(text);
    check_imatrix_reader(shared);
    check_heldout();
    check_options(shared);
    rmdir(tmpdir);
    return TEST_DONE();
}
