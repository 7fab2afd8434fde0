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

/* A special token written over the vocabulary (type: 1 normal, 2 unknown, 3 control, 4 user-defined). */
struct synth_token { int32_t id; int32_t type; const char *text; };

struct synth_preset {
    const char *name;
    const char *arch;         /* general.architecture */
    const char *general_name;
    uint32_t n_ctx, n_embd, n_layer, n_ff, n_head, n_head_kv;
    float rope_base, norm_eps;
    uint32_t head_dim;        /* attention.key_length/value_length (0: not written) */
    uint32_t n_rot;           /* rope.dimension_count (0: not written) */
    uint32_t swa_window;      /* attention.sliding_window (0: not written) */
    float rope_base_swa;      /* rope.freq_base_swa (0: not written) */
    uint32_t rope_orig_ctx;   /* rope.scaling.original_context_length (0: not written) */
    float rope_attn_factor;   /* rope.scaling.attn_factor (0: not written) */
    /* vocabulary: a file under <shared>/vocab/, or n_vocab placeholder tokens "<tok_N>" */
    const char *vocab;
    uint32_t n_vocab;
    const char *tok_model;    /* placeholder vocabularies: tokenizer.ggml.model */
    const char *pre;          /* tokenizer.ggml.pre */
    const struct synth_token *specials;
    int n_specials;
    int32_t bos, eos, pad, unk; /* -1: not written */
    int add_bos, add_space_prefix; /* add_space_prefix -1: not written */
    /* chat template: a file under <shared>/templates/, a GGUF under <shared>/ whose template is copied,
     * or inline text */
    const char *chat_template, *template_gguf, *template_text;
};

/* The DeepSeek-R1-Distill tokenizer replaces Qwen2's first added tokens with its own. */
static const struct synth_token r1_tokens[] = {
    {151643, 3, "<｜end▁of▁sentence｜>"}, {151644, 3, "<｜User｜>"}, {151645, 3, "<｜Assistant｜>"},
    {151646, 3, "<｜begin▁of▁sentence｜>"}, {151647, 4, "<|EOT|>"}, {151648, 4, "<think>"}, {151649, 4, "</think>"},
};
/* Qwen3's added tokens over the Qwen2 vocabulary. */
static const struct synth_token qwen3_tokens[] = {
    {151643, 3, "<|endoftext|>"}, {151644, 3, "<|im_start|>"}, {151645, 3, "<|im_end|>"},
    {151646, 3, "<|object_ref_start|>"}, {151647, 3, "<|object_ref_end|>"}, {151648, 3, "<|box_start|>"},
    {151649, 3, "<|box_end|>"}, {151650, 3, "<|quad_start|>"}, {151651, 3, "<|quad_end|>"},
    {151652, 3, "<|vision_start|>"}, {151653, 3, "<|vision_end|>"}, {151654, 3, "<|vision_pad|>"},
    {151655, 3, "<|image_pad|>"}, {151656, 3, "<|video_pad|>"}, {151657, 4, "<tool_call>"}, {151658, 4, "</tool_call>"},
    {151659, 4, "<|fim_prefix|>"}, {151660, 4, "<|fim_middle|>"}, {151661, 4, "<|fim_suffix|>"}, {151662, 4, "<|fim_pad|>"},
    {151663, 4, "<|repo_name|>"}, {151664, 4, "<|file_sep|>"}, {151665, 4, "<tool_response>"},
    {151666, 4, "</tool_response>"}, {151667, 4, "<think>"}, {151668, 4, "</think>"},
};
/* Gemma 3's control tokens at their real ids. */
static const struct synth_token gemma3_tokens[] = {
    {0, 3, "<pad>"}, {1, 3, "<eos>"}, {2, 3, "<bos>"}, {3, 2, "<unk>"}, {4, 3, "<mask>"},
    {105, 3, "<start_of_turn>"}, {106, 3, "<end_of_turn>"},
};
/* Phi-4-mini's special tokens at their real ids. */
static const struct synth_token phi4_tokens[] = {
    {199999, 3, "<|endoftext|>"}, {200018, 3, "<|endofprompt|>"}, {200019, 3, "<|assistant|>"}, {200020, 3, "<|end|>"},
    {200021, 3, "<|user|>"}, {200022, 3, "<|system|>"}, {200023, 3, "<|tool|>"}, {200024, 3, "<|/tool|>"},
    {200025, 3, "<|tool_call|>"}, {200026, 3, "<|/tool_call|>"}, {200027, 3, "<|tool_response|>"}, {200028, 3, "<|tag|>"},
};
#define N_OF(a) (int)(sizeof(a) / sizeof((a)[0]))

static const char gemma_template[] =
    "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}";
static const char phi4_template[] =
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";

/* r1-qwen-tiny is the qwen2 family at test size (rows multiple of 256 so that every file type
 * applies). The others mirror the real checkpoints (../shared/presets/README.md). */
static const struct synth_preset synth_presets[] = {
    {.name = "r1-qwen-1.5b", .arch = "qwen2", .general_name = "DeepSeek-R1-Distill-Qwen-1.5B (synthetic weights)",
     .n_ctx = 131072, .n_embd = 1536, .n_layer = 28, .n_ff = 8960, .n_head = 12, .n_head_kv = 2, .rope_base = 10000.0f,
     .norm_eps = 1e-6f, .vocab = "ggml-vocab-qwen2.gguf", .pre = "deepseek-r1-qwen", .specials = r1_tokens,
     .n_specials = N_OF(r1_tokens), .bos = 151646, .eos = 151643, .pad = 151643, .unk = -1, .add_bos = 1,
     .add_space_prefix = -1, .chat_template = "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"},
    {.name = "r1-qwen-tiny", .arch = "qwen2", .general_name = "DeepSeek-R1-Distill-Qwen tiny (synthetic weights)",
     .n_ctx = 4096, .n_embd = 256, .n_layer = 2, .n_ff = 768, .n_head = 4, .n_head_kv = 2, .rope_base = 10000.0f,
     .norm_eps = 1e-6f, .vocab = "ggml-vocab-qwen2.gguf", .pre = "deepseek-r1-qwen", .specials = r1_tokens,
     .n_specials = N_OF(r1_tokens), .bos = 151646, .eos = 151643, .pad = 151643, .unk = -1, .add_bos = 1,
     .add_space_prefix = -1, .chat_template = "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"},
    {.name = "qwen3-1.7b", .arch = "qwen3", .general_name = "Qwen3-1.7B (synthetic weights)", .n_ctx = 40960,
     .n_embd = 2048, .n_layer = 28, .n_ff = 6144, .n_head = 16, .n_head_kv = 8, .rope_base = 1000000.0f,
     .norm_eps = 1e-6f, .head_dim = 128, .vocab = "ggml-vocab-qwen2.gguf", .pre = "qwen2", .specials = qwen3_tokens,
     .n_specials = N_OF(qwen3_tokens), .bos = 151643, .eos = 151645, .pad = 151643, .unk = -1, .add_bos = 0,
     .add_space_prefix = -1, .template_gguf = "zoo/qwen3-mini-f32.gguf"},
    {.name = "gemma3-1b", .arch = "gemma3", .general_name = "Gemma 3 1B IT (synthetic weights)", .n_ctx = 32768,
     .n_embd = 1152, .n_layer = 26, .n_ff = 6912, .n_head = 4, .n_head_kv = 1, .rope_base = 1000000.0f,
     .norm_eps = 1e-6f, .head_dim = 256, .swa_window = 512, .rope_base_swa = 10000.0f, .n_vocab = 262144,
     .tok_model = "llama", .pre = "default", .specials = gemma3_tokens, .n_specials = N_OF(gemma3_tokens), .bos = 2,
     .eos = 1, .pad = 0, .unk = 3, .add_bos = 1, .add_space_prefix = 0, .template_text = gemma_template},
    {.name = "phi4-mini", .arch = "phi3", .general_name = "Phi-4-mini-instruct (synthetic weights)", .n_ctx = 131072,
     .n_embd = 3072, .n_layer = 32, .n_ff = 8192, .n_head = 24, .n_head_kv = 8, .rope_base = 10000.0f,
     .norm_eps = 1e-5f, .n_rot = 96, .swa_window = 262144, .rope_orig_ctx = 4096, .rope_attn_factor = 1.190238f,
     .n_vocab = 200064, .tok_model = "gpt2", .pre = "gpt-4o", .specials = phi4_tokens, .n_specials = N_OF(phi4_tokens),
     .bos = 199999, .eos = 199999, .pad = 199999, .unk = -1, .add_bos = 0, .add_space_prefix = -1,
     .template_text = phi4_template},
};

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
    if (strcmp(p->arch, "qwen2")) return EDGELLM_ERR_UNSUPPORTED; /* the other presets come with their TSV */
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
    if (!*pp) return util_errf(err, err_size, EDGELLM_ERR_ARG, "unknown preset '%s' (known: r1-qwen-1.5b, r1-qwen-tiny, qwen3-1.7b, gemma3-1b, phi4-mini)",
                          sp->preset ? sp->preset : "");
    *fi = ftype_index(sp->type);
    if (*fi < 0) return util_errf(err, err_size, EDGELLM_ERR_ARG, "unknown type '%s' (q4_0, q8_0, q4_k_m or f16)", sp->type ? sp->type : "");
    char path[4096];
    if (sp->presets_dir) snprintf(path, sizeof path, "%s/%s-%s.tsv", sp->presets_dir, sp->preset, sp->type);
    else snprintf(path, sizeof path, "%s/presets/%s-%s.tsv", sp->shared_dir, sp->preset, sp->type);
    FILE *f = fopen(path, "r");
    if (!f) {
        int st = layout_derive(*pp, sp->type, L);
        if (st == EDGELLM_ERR_UNSUPPORTED) return util_errf(err, err_size, EDGELLM_ERR_IO, "cannot read the layout %s", path);
        return st ? util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory") : 0;
    }
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

/* Random bytes, then each block's leading fp16 scale set to ±SYNTH_STD / code_std (Q4_0, Q5_0). */
static void fill_codes_scale(struct rng *r, uint8_t *p, size_t len, uint64_t nb, size_t block, float code_std) {
    uint64_t signs = 0;
    rng_bytes(r, p, len);
    fp16_t d = f32_to_fp16(SYNTH_STD / code_std);
    for (uint64_t i = 0; i < nb; i++) {
        fp16_t di = d ^ random_sign(r, &signs, i);
        memcpy(p + i * block, &di, sizeof di);
    }
}

/* Per block: random codes, fixed scales (standard deviation of the dequantized values ~0.02).
 * Q4_0: ±d*(q-8), q uniform 0..15 (std 4.61 d). Q8_0: ±d*q, q uniform -127..127 (std 73.6 d).
 * Q5_0: ±d*(q-16), q uniform 0..31 (std 9.23 d).
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
    case QT_Q4_0: fill_codes_scale(r, p, len, nb, sizeof(block_q4_0), 4.61f); return 0;
    case QT_Q5_0: fill_codes_scale(r, p, len, nb, sizeof(block_q5_0), 9.23f); return 0;
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
    /* float tensors and other types: norms and rope factors 1, biases 0, the rest N(0, 0.02) through the reference quantizer */
    size_t nl = strlen(t->name);
    int is_norm = strstr(t->name, "norm") != NULL || strstr(t->name, "rope_factors") != NULL, is_bias = nl > 5 && !strcmp(t->name + nl - 5, ".bias");
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

/* The vocabulary: the preset's file (tokens, types, scores, merges) or n_vocab placeholder tokens
 * "<tok_N>" with empty merges, then the preset's special tokens written over their ids. */
static int add_vocab(struct gguf_writer *w, const struct gguf_file *v, const struct synth_preset *p, char *err, size_t err_size) {
    const struct gguf_kv *toks = v ? gguf_get_arr(v, "tokenizer.ggml.tokens", GGUF_T_STRING) : NULL;
    const struct gguf_kv *types = v ? gguf_get_arr(v, "tokenizer.ggml.token_type", GGUF_T_INT32) : NULL;
    const struct gguf_kv *merges = v ? gguf_get_arr(v, "tokenizer.ggml.merges", GGUF_T_STRING) : NULL;
    struct gguf_str model = {p->tok_model ? p->tok_model : "", p->tok_model ? strlen(p->tok_model) : 0};
    if (v && (!toks || !types || !merges || types->n != toks->n || !gguf_get_str(v, "tokenizer.ggml.model", &model)))
        return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "the vocabulary file lacks tokens, token types or merges");
    uint64_t n = v ? toks->n : p->n_vocab;
    for (int i = 0; i < p->n_specials; i++)
        if ((uint64_t)p->specials[i].id >= n)
            return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "special token %d is outside the vocabulary", p->specials[i].id);
    struct gguf_str *s = v ? malloc(n * sizeof(*s)) : NULL;
    const char **sp = malloc(n * sizeof(*sp));
    uint64_t *lens = malloc(n * sizeof(*lens));
    int32_t *ty = malloc(n * sizeof(*ty));
    float *scores = v ? NULL : calloc(n, sizeof(*scores));
    char *names = v ? NULL : malloc(n * 16);
    if ((v && !s) || !sp || !lens || !ty || (!v && (!scores || !names))) {
        free(s), free(sp), free(lens), free(ty), free(scores), free(names);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory building the vocabulary");
    }
    if (v) {
        gguf_arr_strings(toks, s);
        for (uint64_t i = 0; i < n; i++) sp[i] = s[i].ptr, lens[i] = s[i].len, ty[i] = (int32_t)gguf_arr_num(types, i);
    } else {
        for (uint64_t i = 0; i < n; i++) {
            sp[i] = names + i * 16;
            lens[i] = (uint64_t)snprintf(names + i * 16, 16, "<tok_%" PRIu64 ">", i);
            ty[i] = 1;
        }
    }
    for (int i = 0; i < p->n_specials; i++) {
        sp[p->specials[i].id] = p->specials[i].text;
        lens[p->specials[i].id] = strlen(p->specials[i].text);
        ty[p->specials[i].id] = p->specials[i].type;
    }
    gguf_writer_add_strn(w, "tokenizer.ggml.model", model.ptr, model.len);
    gguf_writer_add_str(w, "tokenizer.ggml.pre", p->pre);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", sp, lens, n);
    if (scores) gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_T_FLOAT32, scores, n);
    else if (v && gguf_get_arr(v, "tokenizer.ggml.scores", GGUF_T_FLOAT32))
        gguf_writer_copy_kv(w, gguf_get_arr(v, "tokenizer.ggml.scores", GGUF_T_FLOAT32), NULL);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_T_INT32, ty, n);
    if (merges) gguf_writer_copy_kv(w, merges, NULL);
    else if (!strcmp(model.ptr, "gpt2")) gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", sp, lens, 0);
    if (p->bos >= 0) gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)p->bos);
    if (p->eos >= 0) gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)p->eos);
    if (p->unk >= 0) gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)p->unk);
    if (p->pad >= 0) gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)p->pad);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", p->add_bos);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", 0);
    if (p->add_space_prefix >= 0) gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", p->add_space_prefix);
    int st = gguf_writer_status(w) ? util_errf(err, err_size, gguf_writer_status(w), "%s", gguf_writer_error(w)) : 0;
    free(s), free(sp), free(lens), free(ty), free(scores), free(names);
    return st;
}

/* The chat template text (malloc'ed) from the preset's source. */
static char *read_template(const struct synth_preset *p, const char *shared, char *err, size_t err_size) {
    char path[4096];
    if (p->template_text) return strdup(p->template_text);
    if (p->template_gguf) {
        struct gguf_file *g = NULL;
        struct gguf_str t;
        char *out = NULL;
        snprintf(path, sizeof path, "%s/%s", shared, p->template_gguf);
        if (gguf_open(path, 1, &g, err, err_size)) return NULL;
        if (gguf_get_str(g, "tokenizer.chat_template", &t) && (out = malloc(t.len + 1))) {
            memcpy(out, t.ptr, t.len);
            out[t.len] = 0;
        }
        gguf_close(g);
        if (!out) util_errf(err, err_size, EDGELLM_ERR_IO, "no chat template in %s", path);
        return out;
    }
    snprintf(path, sizeof path, "%s/templates/%s", shared, p->chat_template);
    char *tmpl = NULL;
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) && (tmpl = malloc((size_t)n + 1))) {
        if (fread(tmpl, 1, (size_t)n, f) != (size_t)n) n = -1;
        else tmpl[n] = 0;
    }
    if (f) fclose(f);
    if (!tmpl || n < 0) {
        free(tmpl);
        util_errf(err, err_size, EDGELLM_ERR_IO, "cannot read the chat template %s", path);
        return NULL;
    }
    return tmpl;
}

/* "<arch>.<suffix>" keys. */
static const char *akey(char *key, size_t size, const struct synth_preset *p, const char *suffix) {
    snprintf(key, size, "%s.%s", p->arch, suffix);
    return key;
}
#define ARCH_U32(suffix, v) gguf_writer_add_u32(w, akey(key, sizeof key, p, suffix), v)
#define ARCH_F32(suffix, v) gguf_writer_add_f32(w, akey(key, sizeof key, p, suffix), v)

edgellm_status edgellm_synth_write(const struct edgellm_synth_params *params, const char *out_path, char *err, size_t err_size) {
    const struct synth_preset *p;
    struct synth_layout L = {0};
    struct gguf_file *vocab = NULL;
    struct gguf_writer *w = NULL;
    struct synth_fill sf = {0};
    char *tmpl = NULL;
    char path[4096], key[128];
    int fi;
    if (err && err_size) err[0] = 0;
    int st = synth_prepare(params, &p, &fi, &L, err, err_size);
    if (!st && !out_path) st = util_errf(err, err_size, EDGELLM_ERR_ARG, "no output path");
    if (!st && p->vocab) {
        snprintf(path, sizeof path, "%s/vocab/%s", params->shared_dir, p->vocab);
        st = gguf_open(path, 1, &vocab, err, err_size);
    }
    if (!st && !(tmpl = read_template(p, params->shared_dir, err, err_size))) st = EDGELLM_ERR_IO;
    if (!st && !(w = gguf_writer_new())) st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    if (!st) {
        gguf_writer_add_str(w, "general.architecture", p->arch);
        gguf_writer_add_str(w, "general.name", p->general_name);
        ARCH_U32("context_length", p->n_ctx);
        ARCH_U32("embedding_length", p->n_embd);
        ARCH_U32("block_count", p->n_layer);
        ARCH_U32("feed_forward_length", p->n_ff);
        ARCH_U32("attention.head_count", p->n_head);
        ARCH_U32("attention.head_count_kv", p->n_head_kv);
        ARCH_F32("rope.freq_base", p->rope_base);
        ARCH_F32("attention.layer_norm_rms_epsilon", p->norm_eps);
        if (p->head_dim) ARCH_U32("attention.key_length", p->head_dim), ARCH_U32("attention.value_length", p->head_dim);
        if (p->n_rot) ARCH_U32("rope.dimension_count", p->n_rot);
        if (p->swa_window) ARCH_U32("attention.sliding_window", p->swa_window);
        if (p->rope_base_swa > 0) ARCH_F32("rope.freq_base_swa", p->rope_base_swa);
        if (p->rope_orig_ctx) ARCH_U32("rope.scaling.original_context_length", p->rope_orig_ctx);
        if (p->rope_attn_factor > 0) ARCH_F32("rope.scaling.attn_factor", p->rope_attn_factor);
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
