/* Synthetic benchmark files: a GGUF with the exact tensor layout of a real download (names,
 * types, shapes from ../shared/presets/<preset>-<type>.tsv, or derived from the preset's
 * hyperparameters with llama.cpp's type rules when no TSV is at hand), the real vocabulary and
 * chat template, and seeded random weights that dequantize to small finite values: quantized
 * blocks get random codes under a fixed scale chosen so each matrix has a standard deviation of
 * about 0.02; norm weights are 1, biases 0. The file is streamed through gguf_writer row by row.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgellm_dev.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "core/util.h"
#include "quant/qtypes.h"

#define SYNTH_STD 0.02f

struct synth_preset {
    const char *name;
    const char *general_name;
    uint32_t n_ctx, n_embd, n_layer, n_ff, n_head, n_head_kv;
    float rope_base, norm_eps;
    const char *vocab;        /* under <shared>/vocab/ */
    const char *pre;          /* tokenizer.ggml.pre */
    const char *chat_template; /* under <shared>/templates/ */
};

/* qwen2-architecture presets. r1-qwen-tiny is the same family at test size (rows multiple of 256
 * so that every file type applies). */
static const struct synth_preset synth_presets[] = {
    {"r1-qwen-1.5b", "DeepSeek-R1-Distill-Qwen-1.5B (synthetic weights)", 131072, 1536, 28, 8960, 12, 2, 10000.0f,
     1e-6f, "ggml-vocab-qwen2.gguf", "deepseek-r1-qwen", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"},
    {"r1-qwen-tiny", "DeepSeek-R1-Distill-Qwen tiny (synthetic weights)", 4096, 256, 2, 768, 4, 2, 10000.0f, 1e-6f,
     "ggml-vocab-qwen2.gguf", "deepseek-r1-qwen", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"},
};

/* The DeepSeek-R1-Distill tokenizer replaces Qwen2's first added tokens with its own. */
static const struct { int32_t id; int32_t type; const char *text; } r1_tokens[] = {
    {151643, 3, "<｜end▁of▁sentence｜>"}, {151644, 3, "<｜User｜>"}, {151645, 3, "<｜Assistant｜>"},
    {151646, 3, "<｜begin▁of▁sentence｜>"}, {151647, 4, "<|EOT|>"}, {151648, 4, "<think>"}, {151649, 4, "</think>"},
};
#define R1_BOS 151646
#define R1_EOS 151643

/* File types: the name used on the command line and general.file_type (llama_ftype). */
static const struct { const char *name; uint32_t ftype; } synth_ftypes[] = {
    {"q4_0", 2}, {"q8_0", 7}, {"q4_k_m", 15}, {"f16", 1},
};

struct synth_tensor {
    char name[64];
    uint32_t type;
    int n_dims;
    int64_t ne[2];
};

struct synth_layout {
    struct synth_tensor *t;
    int n, cap;
};

static int layout_add(struct synth_layout *L, const char *name, uint32_t type, int n_dims, int64_t ne0, int64_t ne1) {
    if (L->n == L->cap) {
        int cap = L->cap ? L->cap * 2 : 64;
        struct synth_tensor *nt = realloc(L->t, (size_t)cap * sizeof(*nt));
        if (!nt) return EDGELLM_ERR_NOMEM;
        L->t = nt;
        L->cap = cap;
    }
    struct synth_tensor *t = &L->t[L->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    return 0;
}

/* llama.cpp's rule for which layers of a _M mix get more bits (attn_v, ffn_down). */
static int more_bits(uint32_t i, uint32_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The layout llama.cpp's quantizer gives a qwen2 model for each file type. */
static int layout_derive(const struct synth_preset *p, const char *ftype, struct synth_layout *L) {
    uint32_t mat, out, emb, bump;
    if (!strcmp(ftype, "q4_0")) mat = emb = bump = QT_Q4_0, out = QT_Q6_K;
    else if (!strcmp(ftype, "q8_0")) mat = emb = bump = out = QT_Q8_0;
    else if (!strcmp(ftype, "f16")) mat = emb = bump = out = QT_F16; /* an unquantized base, for `quantize` */
    else mat = emb = QT_Q4_K, out = bump = QT_Q6_K;
    const int64_t E = p->n_embd, KV = (int64_t)p->n_embd / p->n_head * p->n_head_kv, F = p->n_ff, V = 151936;
    int st = layout_add(L, "output.weight", out, 2, E, V);
    if (!st) st = layout_add(L, "output_norm.weight", QT_F32, 1, E, 1);
    if (!st) st = layout_add(L, "token_embd.weight", emb, 2, E, V);
    for (uint32_t i = 0; i < p->n_layer && !st; i++) {
        char n[64];
        uint32_t vd = more_bits(i, p->n_layer) ? bump : mat;
#define ADD(suffix, type, nd, a, b) do { snprintf(n, sizeof n, "blk.%u." suffix, i); \
        if (!st) st = layout_add(L, n, type, nd, a, b); } while (0)
        ADD("attn_k.bias", QT_F32, 1, KV, 1);
        ADD("attn_k.weight", mat, 2, E, KV);
        ADD("attn_norm.weight", QT_F32, 1, E, 1);
        ADD("attn_output.weight", mat, 2, E, E);
        ADD("attn_q.bias", QT_F32, 1, E, 1);
        ADD("attn_q.weight", mat, 2, E, E);
        ADD("attn_v.bias", QT_F32, 1, KV, 1);
        ADD("attn_v.weight", vd, 2, E, KV);
        ADD("ffn_down.weight", vd, 2, F, E);
        ADD("ffn_gate.weight", mat, 2, E, F);
        ADD("ffn_norm.weight", QT_F32, 1, E, 1);
        ADD("ffn_up.weight", mat, 2, E, F);
#undef ADD
    }
    return st;
}

static int type_from_name(const char *s, uint32_t *out) {
    for (uint32_t t = 0; t < QT_COUNT; t++) {
        const struct qtype_traits *q = qtype_get(t);
        if (q && q->name && !strcasecmp(q->name, s)) { *out = t; return 1; }
    }
    return 0;
}

/* Parses a preset TSV: "name<TAB>TYPE<TAB>ne0[,ne1]" per line, '#' lines are comments. */
static int layout_parse(const char *path, FILE *f, struct synth_layout *L, char *err, size_t err_size) {
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        char *name = line, *type = strchr(name, '\t'), *shape = type ? strchr(type + 1, '\t') : NULL;
        if (!shape) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s:%d: expected name, type and shape", path, lineno);
        *type++ = 0;
        *shape++ = 0;
        uint32_t t;
        if (!type_from_name(type, &t)) return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "%s:%d: unknown type '%s'", path, lineno, type);
        char *end;
        long long a = strtoll(shape, &end, 10), b = 1;
        int nd = 1;
        if (*end == ',') { b = strtoll(end + 1, &end, 10); nd = 2; }
        if (*end || a < 1 || b < 1 || strlen(name) >= 64)
            return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s:%d: bad shape or name", path, lineno);
        if (layout_add(L, name, t, nd, a, b)) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    }
    if (L->n == 0) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s lists no tensors", path);
    return 0;
}

static int ftype_index(const char *type) {
    for (size_t i = 0; i < sizeof synth_ftypes / sizeof synth_ftypes[0]; i++)
        if (type && !strcmp(type, synth_ftypes[i].name)) return (int)i;
    return -1;
}

static const struct synth_preset *find_preset(const char *name) {
    for (size_t i = 0; i < sizeof synth_presets / sizeof synth_presets[0]; i++)
        if (name && !strcmp(name, synth_presets[i].name)) return &synth_presets[i];
    return NULL;
}

/* Checks the parameters and builds the layout (TSV if present, else derived). */
static int synth_prepare(const struct edgellm_synth_params *sp, const struct synth_preset **pp, int *fi,
                         struct synth_layout *L, char *err, size_t err_size) {
    if (!sp || !sp->shared_dir) return util_errf(err, err_size, EDGELLM_ERR_ARG, "no shared data folder given");
    *pp = find_preset(sp->preset);
    if (!*pp) return util_errf(err, err_size, EDGELLM_ERR_ARG, "unknown preset '%s' (known: r1-qwen-1.5b, r1-qwen-tiny)",
                          sp->preset ? sp->preset : "");
    *fi = ftype_index(sp->type);
    if (*fi < 0) return util_errf(err, err_size, EDGELLM_ERR_ARG, "unknown type '%s' (q4_0, q8_0, q4_k_m or f16)", sp->type ? sp->type : "");
    char path[4096];
    if (sp->presets_dir) snprintf(path, sizeof path, "%s/%s-%s.tsv", sp->presets_dir, sp->preset, sp->type);
    else snprintf(path, sizeof path, "%s/presets/%s-%s.tsv", sp->shared_dir, sp->preset, sp->type);
    FILE *f = fopen(path, "r");
    if (!f) return layout_derive(*pp, sp->type, L) ? util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory") : 0;
    int st = layout_parse(path, f, L, err, err_size);
    fclose(f);
    return st;
}

edgellm_status edgellm_synth_layout(const struct edgellm_synth_params *params, char **out, char *err, size_t err_size) {
    const struct synth_preset *p;
    struct synth_layout L = {0};
    int fi;
    *out = NULL;
    int st = synth_prepare(params, &p, &fi, &L, err, err_size);
    size_t cap = 128 + (size_t)L.n * 96, n = 0;
    char *buf = st ? NULL : malloc(cap);
    if (!st && !buf) st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    if (buf) {
        n += (size_t)snprintf(buf + n, cap - n, "# tensor\ttype\tshape (ne0,ne1: ne0 is the row length)\n");
        for (int i = 0; i < L.n; i++) {
            char ty[16];
            const char *tn = qtype_name(L.t[i].type);
            size_t k = 0;
            for (; tn[k] && k + 1 < sizeof ty; k++) ty[k] = (char)(tn[k] >= 'a' && tn[k] <= 'z' ? tn[k] - 32 : tn[k]);
            ty[k] = 0;
            if (L.t[i].n_dims > 1)
                n += (size_t)snprintf(buf + n, cap - n, "%s\t%s\t%" PRId64 ",%" PRId64 "\n", L.t[i].name, ty, L.t[i].ne[0], L.t[i].ne[1]);
            else
                n += (size_t)snprintf(buf + n, cap - n, "%s\t%s\t%" PRId64 "\n", L.t[i].name, ty, L.t[i].ne[0]);
        }
        *out = buf;
    }
    free(L.t);
    return (edgellm_status)st;
}

/* ---- seeded random data ---- */

struct rng { uint64_t s[4]; };

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static uint64_t rng_next(struct rng *r) {
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

static void rng_bytes(struct rng *r, uint8_t *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = rng_next(r);
        memcpy(p + i, &v, 8);
    }
    if (i < n) {
        uint64_t v = rng_next(r);
        memcpy(p + i, &v, n - i);
    }
}

/* Standard normal by Box-Muller (the slow path: float tensors that are not norms or biases). */
static float rng_normal(struct rng *r) {
    double u1 = ((rng_next(r) >> 11) + 1) * (1.0 / 9007199254740993.0), u2 = (rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

struct synth_fill {
    const struct synth_layout *L;
    struct rng *rng;   /* one stream per tensor: rows are asked in order, so the data depend on the seed only */
    float *row;        /* [max ne0] scratch for the quantizer path */
};

/* The fp16 sign bit, at random for block i: codes like q-8 in 0..15 have a mean of -0.5, and a
 * random sign per block makes the weights' mean zero. One random word serves 64 blocks. */
static fp16_t random_sign(struct rng *r, uint64_t *word, uint64_t i) {
    if (i % 64 == 0) *word = rng_next(r);
    return (fp16_t)(((*word >> (i % 64)) & 1) << 15);
}

/* Per block: random codes, fixed scales (standard deviation of the dequantized values ~0.02).
 * Q4_0: ±d*(q-8), q uniform 0..15 (std 4.61 d). Q8_0: ±d*q, q uniform -127..127 (std 73.6 d).
 * Q4_K: all sub-scales 2, mins 15, d = dmin: d*(2q-15) (std 9.22 d). Q6_K: scales 8: ±8d*(q-32), q 0..63
 * (std 18.5*8 d). The signs of d are random per block. */
static int fill_rows(void *user, uint64_t ti, uint64_t first_row, uint64_t n_rows, void *buf) {
    struct synth_fill *sf = user;
    const struct synth_tensor *t = &sf->L->t[ti];
    struct rng *r = &sf->rng[ti];
    size_t rs = qtype_row_size(t->type, t->ne[0]);
    uint64_t nb = (uint64_t)t->ne[0] / (uint64_t)(qtype_get(t->type)->blck_size) * n_rows;
    uint8_t *p = buf;
    size_t len = rs * n_rows;
    uint64_t signs = 0;
    switch (t->type) {
    case QT_Q4_0: {
        block_q4_0 *b = buf;
        rng_bytes(r, p, len);
        fp16_t d = f32_to_fp16(SYNTH_STD / 4.61f);
        for (uint64_t i = 0; i < nb; i++) b[i].d = d ^ random_sign(r, &signs, i);
        return 0;
    }
    case QT_Q8_0: {
        block_q8_0 *b = buf;
        rng_bytes(r, p, len);
        fp16_t d = f32_to_fp16(SYNTH_STD / 73.6f);
        for (uint64_t i = 0; i < nb; i++) {
            b[i].d = d ^ random_sign(r, &signs, i);
            for (int j = 0; j < QK8_0; j++)
                if (b[i].qs[j] == -128) b[i].qs[j] = -127; /* the reference quantizer never writes -128 */
        }
        return 0;
    }
    case QT_Q4_K: {
        block_q4_K *b = buf;
        rng_bytes(r, p, len);
        fp16_t d = f32_to_fp16(SYNTH_STD / 9.22f);
        for (uint64_t i = 0; i < nb; i++) {
            b[i].d = b[i].dmin = d;
            for (int j = 0; j < 4; j++) b[i].scales[j] = 2, b[i].scales[j + 4] = 15, b[i].scales[j + 8] = 2 | 15 << 4;
        }
        return 0;
    }
    case QT_Q6_K: {
        block_q6_K *b = buf;
        rng_bytes(r, p, len);
        fp16_t d = f32_to_fp16(SYNTH_STD / (18.5f * 8));
        for (uint64_t i = 0; i < nb; i++) {
            b[i].d = d ^ random_sign(r, &signs, i);
            for (int j = 0; j < QK_K / 16; j++) b[i].scales[j] = 8;
        }
        return 0;
    }
    default: break;
    }
    /* float tensors and other types: norms 1, biases 0, the rest N(0, 0.02) through the reference quantizer */
    size_t nl = strlen(t->name);
    int is_norm = strstr(t->name, "norm") != NULL, is_bias = nl > 5 && !strcmp(t->name + nl - 5, ".bias");
    const struct qtype_traits *q = qtype_get(t->type);
    if (t->type != QT_F32 && !q->from_float) return EDGELLM_ERR_UNSUPPORTED;
    for (uint64_t row = 0; row < n_rows; row++) {
        float *x = t->type == QT_F32 ? (float *)(void *)(p + row * rs) : sf->row;
        for (int64_t j = 0; j < t->ne[0]; j++) x[j] = is_norm ? 1.0f : is_bias ? 0.0f : SYNTH_STD * rng_normal(r);
        if (t->type != QT_F32) q->from_float(x, p + row * rs, t->ne[0]);
    }
    (void)first_row;
    return 0;
}

/* Copies the vocabulary, with the R1 special tokens when the preset uses the R1 pre-tokenizer. */
static int add_vocab(struct gguf_writer *w, const struct gguf_file *v, const struct synth_preset *p, char *err, size_t err_size) {
    const struct gguf_kv *toks = gguf_get_arr(v, "tokenizer.ggml.tokens", GGUF_T_STRING);
    const struct gguf_kv *types = gguf_get_arr(v, "tokenizer.ggml.token_type", GGUF_T_INT32);
    const struct gguf_kv *merges = gguf_get_arr(v, "tokenizer.ggml.merges", GGUF_T_STRING);
    struct gguf_str model;
    if (!toks || !types || !merges || types->n != toks->n || !gguf_get_str(v, "tokenizer.ggml.model", &model) || toks->n <= R1_BOS)
        return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "the vocabulary file lacks tokens, token types or merges");
    uint64_t n = toks->n;
    struct gguf_str *s = malloc(n * sizeof(*s));
    const char **sp = malloc(n * sizeof(*sp));
    uint64_t *lens = malloc(n * sizeof(*lens));
    int32_t *ty = malloc(n * sizeof(*ty));
    if (!s || !sp || !lens || !ty) {
        free(s), free(sp), free(lens), free(ty);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory copying the vocabulary");
    }
    gguf_arr_strings(toks, s);
    for (uint64_t i = 0; i < n; i++) sp[i] = s[i].ptr, lens[i] = s[i].len, ty[i] = (int32_t)gguf_arr_num(types, i);
    for (size_t i = 0; i < sizeof r1_tokens / sizeof r1_tokens[0]; i++) {
        sp[r1_tokens[i].id] = r1_tokens[i].text;
        lens[r1_tokens[i].id] = strlen(r1_tokens[i].text);
        ty[r1_tokens[i].id] = r1_tokens[i].type;
    }
    gguf_writer_add_strn(w, "tokenizer.ggml.model", model.ptr, model.len);
    gguf_writer_add_str(w, "tokenizer.ggml.pre", p->pre);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", sp, lens, n);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_T_INT32, ty, n);
    gguf_writer_copy_kv(w, merges, NULL);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", R1_BOS);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", R1_EOS);
    gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", R1_EOS);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", 0);
    free(s), free(sp), free(lens), free(ty);
    return gguf_writer_status(w) ? util_errf(err, err_size, gguf_writer_status(w), "%s", gguf_writer_error(w)) : 0;
}

edgellm_status edgellm_synth_write(const struct edgellm_synth_params *params, const char *out_path, char *err, size_t err_size) {
    const struct synth_preset *p;
    struct synth_layout L = {0};
    struct gguf_file *vocab = NULL;
    struct gguf_writer *w = NULL;
    struct synth_fill sf = {0};
    char *tmpl = NULL;
    char path[4096];
    int fi;
    if (err && err_size) err[0] = 0;
    int st = synth_prepare(params, &p, &fi, &L, err, err_size);
    if (!st && !out_path) st = util_errf(err, err_size, EDGELLM_ERR_ARG, "no output path");
    if (!st) {
        snprintf(path, sizeof path, "%s/vocab/%s", params->shared_dir, p->vocab);
        st = gguf_open(path, 1, &vocab, err, err_size);
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/templates/%s", params->shared_dir, p->chat_template);
        FILE *f = fopen(path, "rb");
        long n = -1;
        if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) && (tmpl = malloc((size_t)n + 1))) {
            if (fread(tmpl, 1, (size_t)n, f) != (size_t)n) n = -1;
            else tmpl[n] = 0;
        }
        if (f) fclose(f);
        if (!tmpl || n < 0) st = util_errf(err, err_size, EDGELLM_ERR_IO, "cannot read the chat template %s", path);
    }
    if (!st && !(w = gguf_writer_new())) st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    if (!st) {
        gguf_writer_add_str(w, "general.architecture", "qwen2");
        gguf_writer_add_str(w, "general.name", p->general_name);
        gguf_writer_add_u32(w, "qwen2.context_length", p->n_ctx);
        gguf_writer_add_u32(w, "qwen2.embedding_length", p->n_embd);
        gguf_writer_add_u32(w, "qwen2.block_count", p->n_layer);
        gguf_writer_add_u32(w, "qwen2.feed_forward_length", p->n_ff);
        gguf_writer_add_u32(w, "qwen2.attention.head_count", p->n_head);
        gguf_writer_add_u32(w, "qwen2.attention.head_count_kv", p->n_head_kv);
        gguf_writer_add_f32(w, "qwen2.rope.freq_base", p->rope_base);
        gguf_writer_add_f32(w, "qwen2.attention.layer_norm_rms_epsilon", p->norm_eps);
        gguf_writer_add_u32(w, "general.file_type", synth_ftypes[fi].ftype);
        gguf_writer_add_u32(w, "general.quantization_version", 2);
        gguf_writer_add_u64(w, "edgellm.synth.seed", params->seed);
        st = add_vocab(w, vocab, p, err, err_size);
    }
    if (!st) {
        gguf_writer_add_str(w, "tokenizer.chat_template", tmpl);
        int64_t max_ne0 = 1;
        for (int i = 0; i < L.n; i++) max_ne0 = L.t[i].ne[0] > max_ne0 ? L.t[i].ne[0] : max_ne0;
        sf.L = &L;
        sf.rng = malloc((size_t)L.n * sizeof(*sf.rng));
        sf.row = malloc((size_t)max_ne0 * sizeof(float));
        if (!sf.rng || !sf.row) st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
        for (int i = 0; i < L.n && !st; i++) {
            uint64_t x = params->seed * 0x100000001b3ull + (uint64_t)i;
            for (int k = 0; k < 4; k++) sf.rng[i].s[k] = splitmix64(&x);
            if (gguf_writer_add_tensor(w, L.t[i].name, L.t[i].type, L.t[i].n_dims, L.t[i].ne, NULL, fill_rows, &sf) < 0)
                st = util_errf(err, err_size, gguf_writer_status(w), "%s", gguf_writer_error(w));
        }
    }
    if (!st) st = gguf_writer_write_file(w, out_path, err, err_size);
    gguf_writer_free(w);
    gguf_close(vocab);
    free(tmpl);
    free(sf.rng);
    free(sf.row);
    free(L.t);
    return (edgellm_status)st;
}
