/* edgellm_model_quantize: a GGUF model to a quantized GGUF, as llama.cpp's llama-quantize does it.
 *
 * Per-tensor types follow llama.cpp's rules (llama_tensor_get_type in src/llama-quant.cpp),
 * implemented as rules, not as a table: which tensors are quantized at all (2-D+ "*weight",
 * not norms, ...), the output tensor (or a tied token_embd) raised to Q6_K, attn_v / ffn_down /
 * attn_output raised per file type and per layer (use_more_bits), the GQA rules, and the
 * fallbacks when a row length is not a multiple of the chosen type's block. Tensors are
 * processed in llama.cpp's order (non-layer tensors first, then by layer number, by name within
 * each): the layer counters of the rules advance in that order, and the output keeps it.
 *
 * Data: each tensor is pulled by the GGUF writer in chunks of rows; a chunk is converted to
 * float32 (if needed) and quantized across the thread pool, rows split between threads (each row
 * is independent, so the bytes do not depend on the thread count). The file is written to
 * OUT.tmp and renamed at the end.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/os.h"
#include "core/threadpool.h"
#include "core/util.h"
#include "edgellm.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf/imatrix.h"
#include "quant/qtypes.h"
#include "quant/quantize.h"

/* ---------------------------------------------------------------- names */

const char *edgellm_type_name(int type) { return type < 0 ? NULL : qtype_name((uint32_t)type); }

static int strieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

int edgellm_type_from_name(const char *name) {
    if (!name) return -1;
    for (uint32_t t = 0; t < QT_COUNT; t++)
        if (quant_can_produce(t) && strieq(qtype_name(t), name)) return (int)t;
    return -1;
}

struct ftype_info { const char *name; int ftype; uint32_t base; };
static const struct ftype_info FTYPES[] = {
    {"F32", EDGELLM_FTYPE_F32, QT_F32},       {"F16", EDGELLM_FTYPE_F16, QT_F16},
    {"BF16", EDGELLM_FTYPE_BF16, QT_BF16},    {"Q8_0", EDGELLM_FTYPE_Q8_0, QT_Q8_0},
    {"Q4_0", EDGELLM_FTYPE_Q4_0, QT_Q4_0},    {"Q4_1", EDGELLM_FTYPE_Q4_1, QT_Q4_1},
    {"Q5_0", EDGELLM_FTYPE_Q5_0, QT_Q5_0},    {"Q5_1", EDGELLM_FTYPE_Q5_1, QT_Q5_1},
    {"Q2_K", EDGELLM_FTYPE_Q2_K, QT_Q2_K},    {"Q3_K_S", EDGELLM_FTYPE_Q3_K_S, QT_Q3_K},
    {"Q3_K_M", EDGELLM_FTYPE_Q3_K_M, QT_Q3_K}, {"Q3_K_L", EDGELLM_FTYPE_Q3_K_L, QT_Q3_K},
    {"Q4_K_S", EDGELLM_FTYPE_Q4_K_S, QT_Q4_K}, {"Q4_K_M", EDGELLM_FTYPE_Q4_K_M, QT_Q4_K},
    {"Q5_K_S", EDGELLM_FTYPE_Q5_K_S, QT_Q5_K}, {"Q5_K_M", EDGELLM_FTYPE_Q5_K_M, QT_Q5_K},
    {"Q6_K", EDGELLM_FTYPE_Q6_K, QT_Q6_K},    {"IQ4_NL", EDGELLM_FTYPE_IQ4_NL, QT_IQ4_NL},
    {"IQ4_XS", EDGELLM_FTYPE_IQ4_XS, QT_IQ4_XS},
    /* llama-quantize's aliases */
    {"Q3_K", EDGELLM_FTYPE_Q3_K_M, QT_Q3_K},  {"Q4_K", EDGELLM_FTYPE_Q4_K_M, QT_Q4_K},
    {"Q5_K", EDGELLM_FTYPE_Q5_K_M, QT_Q5_K},
};
#define N_FTYPES (sizeof FTYPES / sizeof FTYPES[0])

static const struct ftype_info *ftype_info(int ftype) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (FTYPES[i].ftype == ftype) return &FTYPES[i];
    return NULL;
}

int edgellm_ftype_from_name(const char *name) {
    for (size_t i = 0; name && i < N_FTYPES; i++)
        if (strieq(FTYPES[i].name, name)) return FTYPES[i].ftype;
    return -1;
}

const char *edgellm_ftype_name(int ftype) {
    const struct ftype_info *fi = ftype_info(ftype);
    return fi ? fi->name : NULL;
}

/* ---------------------------------------------------------------- the type rules */

enum category { CAT_OTHER, CAT_OUTPUT, CAT_TOKEN_EMBD, CAT_ATTN_QKV, CAT_ATTN_KV_B, CAT_ATTN_V, CAT_ATTN_K,
                CAT_ATTN_Q, CAT_ATTN_OUTPUT, CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN };

static enum category category_of(const char *name) {
    if (!strcmp(name, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight")) return CAT_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (strstr(name, "attn_kv_b.weight")) return CAT_ATTN_KV_B;
    if (strstr(name, "attn_v.weight")) return CAT_ATTN_V;
    if (strstr(name, "attn_k.weight")) return CAT_ATTN_K;
    if (strstr(name, "attn_q.weight")) return CAT_ATTN_Q;
    if (strstr(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (strstr(name, "ffn_up")) return CAT_FFN_UP;
    if (strstr(name, "ffn_gate")) return CAT_FFN_GATE;
    if (strstr(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

static int is_attn_v(enum category c) { return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B; }

/* Dimensions as ggml counts them: trailing 1s do not count. */
static int n_dims_of(const struct gguf_tensor *t) {
    for (int d = GGUF_MAX_DIMS - 1; d > 0; d--)
        if (t->ne[d] > 1) return d + 1;
    return 1;
}

/* llama.cpp's tensor_allows_quantization (the architecture-independent part). */
static int allows_quantization(const char *name, const struct gguf_tensor *t) {
    if (n_dims_of(t) < 2) return 0;
    size_t n = strlen(name);
    if (n < 6 || strcmp(name + n - 6, "weight")) return 0;
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
        "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
        "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
        "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
        ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger",
        "a.rvq.codebook", "mm.a.code_embd",
    };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(name, never[i])) return 0;
    if (!strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight")) return 0;
    return 1;
}

struct rules {
    int ftype;
    uint32_t base;            /* the file type's default tensor type */
    int is_falcon, is_70b;
    int n_gqa, n_expert;
    int has_imatrix, has_tied;
    int n_attention_wv, i_attention_wv;
    int n_layer, i_ffn_down, i_ffn_gate, i_ffn_up;
    int n_fallback;
    const struct edgellm_quantize_params *p;
};

static int use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

/* Layer of an ffn tensor: the counter, or (MoE) the number in the name. */
static int layer_of(const struct rules *r, int counter, const char *name) {
    int il = counter;
    if (r->n_expert > 1 && sscanf(name, "blk.%d.", &il) != 1) il = counter;
    return il;
}

static uint32_t blck(uint32_t t) {
    const struct qtype_traits *tt = qtype_get(t);
    return tt ? (uint32_t)tt->blck_size : 1;
}

/* llama_tensor_get_type_impl for the file types this quantizer writes. */
static uint32_t mix_type(struct rules *r, uint32_t nt, const char *name, const struct gguf_tensor *t, enum category cat) {
    const int ft = r->ftype;
    if (cat == CAT_OUTPUT || (r->has_tied && cat == CAT_TOKEN_EMBD)) {
        if (r->p->output_tensor_type >= 0) return (uint32_t)r->p->output_tensor_type;
        if (r->is_falcon || t->ne[0] % blck(nt) != 0) return QT_Q8_0;
        return nt != QT_Q8_0 ? QT_Q6_K : nt;
    }
    if (cat == CAT_TOKEN_EMBD) {
        if (r->p->token_embedding_type >= 0) return (uint32_t)r->p->token_embedding_type;
        return nt;
    }
    if (is_attn_v(cat)) {
        if (ft == EDGELLM_FTYPE_Q2_K) nt = r->n_gqa >= 4 ? QT_Q4_K : QT_Q3_K;
        else if (ft == EDGELLM_FTYPE_Q3_K_M) nt = r->i_attention_wv < 2 ? QT_Q5_K : QT_Q4_K;
        else if (ft == EDGELLM_FTYPE_Q3_K_L) nt = QT_Q5_K;
        else if ((ft == EDGELLM_FTYPE_IQ4_NL || ft == EDGELLM_FTYPE_IQ4_XS) && r->n_gqa >= 4) nt = QT_Q5_K;
        else if ((ft == EDGELLM_FTYPE_Q4_K_M || ft == EDGELLM_FTYPE_Q5_K_M) &&
                 use_more_bits(r->i_attention_wv, r->n_attention_wv)) nt = QT_Q6_K;
        else if (ft == EDGELLM_FTYPE_Q4_K_S && r->i_attention_wv < 4) nt = QT_Q5_K;
        /* 70B: 8 heads share attn_v, so it is 8x smaller than attn_q: more bits cost little */
        if (r->is_70b && (nt == QT_Q3_K || nt == QT_Q4_K)) nt = QT_Q5_K;
        if (r->n_expert == 8) nt = QT_Q8_0;
        r->i_attention_wv++;
    } else if (cat == CAT_ATTN_K) {
        if (r->n_expert == 8) nt = QT_Q8_0;
    } else if (cat == CAT_FFN_DOWN) {
        const int il = layer_of(r, r->i_ffn_down, name), nl = r->n_layer;
        if (ft == EDGELLM_FTYPE_Q2_K) nt = QT_Q3_K;
        else if (ft == EDGELLM_FTYPE_Q3_K_M)
            nt = il < nl / 16 ? QT_Q5_K : !r->is_falcon || use_more_bits(il, nl) ? QT_Q4_K : QT_Q3_K;
        else if (ft == EDGELLM_FTYPE_Q3_K_L) nt = r->is_falcon ? QT_Q4_K : QT_Q5_K;
        else if (ft == EDGELLM_FTYPE_Q4_K_M) {
            if (r->is_falcon) nt = il < nl / 16 ? QT_Q6_K : use_more_bits(il, nl) ? QT_Q5_K : QT_Q4_K;
            else if (use_more_bits(il, nl)) nt = QT_Q6_K;
        } else if (il < nl / 8 && (ft == EDGELLM_FTYPE_IQ4_NL || ft == EDGELLM_FTYPE_IQ4_XS) && !r->has_imatrix)
            nt = QT_Q5_K;
        else if (ft == EDGELLM_FTYPE_Q5_K_M && use_more_bits(il, nl)) nt = QT_Q6_K;
        else if (ft == EDGELLM_FTYPE_Q4_K_S && !r->is_falcon && il < nl / 8) nt = QT_Q5_K;
        else if ((ft == EDGELLM_FTYPE_Q4_0 || ft == EDGELLM_FTYPE_Q5_0) && r->has_imatrix && il < nl / 8)
            nt = ft == EDGELLM_FTYPE_Q4_0 ? QT_Q4_1 : QT_Q5_1; /* guards the first ffn_down layers */
        r->i_ffn_down++;
    } else if (cat == CAT_ATTN_OUTPUT) {
        if (!r->is_falcon) {
            if (r->n_expert == 8) {
                if (ft == EDGELLM_FTYPE_Q2_K || ft == EDGELLM_FTYPE_Q3_K_S || ft == EDGELLM_FTYPE_Q3_K_M ||
                    ft == EDGELLM_FTYPE_IQ4_NL || ft == EDGELLM_FTYPE_Q4_K_S || ft == EDGELLM_FTYPE_Q4_K_M ||
                    ft == EDGELLM_FTYPE_IQ4_XS)
                    nt = QT_Q5_K;
            } else if (ft == EDGELLM_FTYPE_Q2_K) nt = QT_Q3_K;
            else if (ft == EDGELLM_FTYPE_Q3_K_M) nt = QT_Q4_K;
            else if (ft == EDGELLM_FTYPE_Q3_K_L) nt = QT_Q5_K;
        } else if (ft == EDGELLM_FTYPE_Q3_K_L) nt = QT_Q4_K;
    } else if (cat == CAT_ATTN_QKV) {
        if (ft == EDGELLM_FTYPE_Q3_K_M || ft == EDGELLM_FTYPE_Q3_K_L) nt = QT_Q4_K;
        else if (ft == EDGELLM_FTYPE_Q4_K_M) nt = QT_Q5_K;
        else if (ft == EDGELLM_FTYPE_Q5_K_M) nt = QT_Q6_K;
    } else if (cat == CAT_FFN_GATE) {
        r->i_ffn_gate++;
    } else if (cat == CAT_FFN_UP) {
        r->i_ffn_up++;
    }
    return nt;
}

/* A row length that is not a multiple of the type's block: the next smaller-block type, then F16. */
static uint32_t fallback(struct rules *r, const struct gguf_tensor *t, uint32_t nt) {
    if (t->ne[0] % blck(nt) == 0) return nt;
    r->n_fallback++;
    uint32_t ft = nt;
    switch (nt) {
    case QT_IQ4_XS: ft = QT_IQ4_NL; break;
    case QT_Q2_K: case QT_Q3_K: ft = QT_Q4_0; break;
    case QT_Q4_K: ft = QT_Q5_0; break;
    case QT_Q5_K: ft = QT_Q5_1; break;
    case QT_Q6_K: ft = QT_Q8_0; break;
    default: break;
    }
    return t->ne[0] % blck(ft) == 0 ? ft : QT_F16;
}

/* llama_tensor_get_type: the output type of one tensor (its own type when not quantizable). */
static uint32_t tensor_type(struct rules *r, const char *name, const struct gguf_tensor *t, enum category cat) {
    if (!allows_quantization(name, t)) return t->type;
    const struct edgellm_quantize_params *p = r->p;
    if (p->token_embedding_type >= 0 && cat == CAT_TOKEN_EMBD) return (uint32_t)p->token_embedding_type;
    if (p->output_tensor_type >= 0 && cat == CAT_OUTPUT) return (uint32_t)p->output_tensor_type;
    uint32_t nt = r->base;
    const struct qtype_traits *bt = qtype_get(nt);
    if (!bt || !bt->is_quantized) return nt;
    int manual = 0;
    for (int i = 0; i < p->n_tensor_types; i++)
        if (strstr(name, p->tensor_type_names[i])) {
            nt = (uint32_t)p->tensor_type_types[i];
            manual = 1;
            break;
        }
    if (!manual && !p->pure) nt = mix_type(r, nt, name, t, cat);
    return fallback(r, t, nt);
}

/* ---------------------------------------------------------------- the job */

struct qtensor {
    const struct gguf_tensor *src;
    char *name;
    uint32_t type;             /* output type */
    const float *qw;           /* importance weights: ne[0] per expert matrix, or NULL */
    size_t row_in, row_out;
};

struct qjob {
    struct qtensor *t;
    uint64_t n;
    struct threadpool *tp;
    const struct edgellm_quantize_params *p;
    const struct gguf_file *f;
    /* the chunk being processed (tp job arguments) */
    const struct qtensor *cur;
    uint64_t first_row, n_rows;
    void *buf;
    int failed;
};

static int name_layer(const char *name) {
    int l = -1;
    if (sscanf(name, "blk.%d.", &l) != 1) l = -1;
    return l;
}

/* llama.cpp's weight order: layer number (non-layer tensors = -1 first), then name. */
static int cmp_weights(const void *a, const void *b) {
    const struct qtensor *x = a, *y = b;
    int lx = name_layer(x->name), ly = name_layer(y->name);
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void quantize_chunk(void *arg, int ith, int nth) {
    struct qjob *j = arg;
    const struct qtensor *q = j->cur;
    const struct gguf_tensor *s = q->src;
    long lo, hi;
    tp_split((long)j->n_rows, 1, ith, nth, &lo, &hi);
    if (lo >= hi) return;
    const int64_t n = s->ne[0];
    float *tmp = NULL;
    if (s->type != QT_F32) {
        tmp = malloc((size_t)n * sizeof(float));
        if (!tmp) { j->failed = 1; return; }
    }
    const struct qtype_traits *st = qtype_get(s->type);
    for (long r = lo; r < hi; r++) {
        const uint64_t row = j->first_row + (uint64_t)r;
        const uint8_t *src = (const uint8_t *)s->data + row * q->row_in;
        const float *x = (const float *)src;
        if (tmp) { st->to_float(src, tmp, n); x = tmp; }
        const float *qw = q->qw ? q->qw + (int64_t)(row / (uint64_t)s->ne[1]) * n : NULL;
        quantize_rows(q->type, x, (uint8_t *)j->buf + (size_t)r * q->row_out, 1, n, qw);
    }
    free(tmp);
}

static int fill_rows(void *user, uint64_t ti, uint64_t first_row, uint64_t n_rows, void *buf) {
    struct qjob *j = user;
    const struct qtensor *q = &j->t[ti];
    if (first_row == 0 && j->p->progress)
        j->p->progress(j->p->progress_user, ti, j->n, q->name, (int)q->src->type, (int)q->type);
    if (q->type == q->src->type) {
        memcpy(buf, (const uint8_t *)q->src->data + first_row * q->row_in, (size_t)(n_rows * q->row_in));
    } else {
        j->cur = q;
        j->first_row = first_row;
        j->n_rows = n_rows;
        j->buf = buf;
        tp_run(j->tp, quantize_chunk, j);
        if (j->failed) return EDGELLM_ERR_NOMEM;
    }
    if (first_row + n_rows == (uint64_t)(q->src->nbytes / q->row_in) && j->f->os_map)
        os_map_release(j->f->os_map, q->src->data, (size_t)q->src->nbytes);
    return 0;
}

static int copy_metadata(struct gguf_writer *w, const struct gguf_file *f) {
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        const struct gguf_str *k = &kv->key;
#define KEYIS(s) (k->len == sizeof(s) - 1 && !memcmp(k->ptr, s, sizeof(s) - 1))
        if (KEYIS("general.quantization_version") || KEYIS("general.file_type") || KEYIS("split.no") ||
            KEYIS("split.count") || KEYIS("split.tensors.count"))
            continue;
        if (KEYIS("general.alignment")) {
            gguf_writer_set_alignment(w, (uint32_t)f->alignment);
            continue;
        }
#undef KEYIS
        gguf_writer_copy_kv(w, kv, NULL);
    }
    return gguf_writer_status(w);
}

edgellm_status edgellm_model_quantize(const char *in_path, const char *out_path,
                                      const struct edgellm_quantize_params *params, char *err, size_t err_size) {
    if (err && err_size) err[0] = 0;
    struct edgellm_quantize_params p = edgellm_quantize_default_params();
    if (util_params_in(&p, sizeof p, params, UTIL_END_OF(struct edgellm_quantize_params, stats)) != EDGELLM_OK)
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "edgellm_quantize_params.struct_size %u is below the 1.0 size",
                         params ? params->struct_size : 0);
    if (!in_path || !out_path) return util_errf(err, err_size, EDGELLM_ERR_ARG, "input and output paths are required");
    const struct ftype_info *fi = ftype_info(p.ftype);
    if (!fi) return util_errf(err, err_size, EDGELLM_ERR_ARG, "unknown file type %d", p.ftype);
    if ((p.output_tensor_type >= 0 && !quant_can_produce((uint32_t)p.output_tensor_type)) ||
        (p.token_embedding_type >= 0 && !quant_can_produce((uint32_t)p.token_embedding_type)))
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "the output / token embedding type is not one the quantizer can write");
    for (int i = 0; i < p.n_tensor_types; i++)
        if (!p.tensor_type_names || !p.tensor_type_types || !p.tensor_type_names[i] || !p.tensor_type_names[i][0] ||
            p.tensor_type_types[i] < 0 || !quant_can_produce((uint32_t)p.tensor_type_types[i]))
            return util_errf(err, err_size, EDGELLM_ERR_ARG, "tensor type override %d is invalid", i);

    struct gguf_file *f = NULL;
    struct imatrix *im = NULL;
    struct gguf_writer *w = NULL;
    struct threadpool *tp = NULL;
    struct qtensor *ts = NULL;
    char *tmp_path = NULL;
    uint64_t nt = 0;
    int st = gguf_open(in_path, 1, &f, err, err_size);
    if (st) return (edgellm_status)st;
    struct gguf_str arch;
    if (!gguf_get_str(f, "general.architecture", &arch)) {
        st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "'%s' has no general.architecture: not a model file", in_path);
        goto done;
    }
    if (p.imatrix_path && (st = imatrix_load(p.imatrix_path, &im, err, err_size))) goto done;

    struct rules r = {0};
    r.ftype = fi->ftype;
    r.base = fi->base;
    r.p = &p;
    r.has_imatrix = im != NULL;
    {
        char key[160];
        uint32_t v = 0, n_head = 0, n_head_kv = 0;
        int al = arch.len < 64 ? (int)arch.len : 64;
        snprintf(key, sizeof key, "%.*s.block_count", al, arch.ptr);
        if (gguf_get_u32(f, key, &v)) r.n_layer = (int)v;
        snprintf(key, sizeof key, "%.*s.expert_count", al, arch.ptr);
        if (gguf_get_u32(f, key, &v)) r.n_expert = (int)v;
        snprintf(key, sizeof key, "%.*s.attention.head_count", al, arch.ptr);
        const struct gguf_kv *hk;
        if (gguf_get_u32(f, key, &v)) n_head = v;
        else if ((hk = gguf_get_arr(f, key, GGUF_T_UINT32)) && hk->n) n_head = (uint32_t)gguf_arr_num(hk, 0);
        n_head_kv = n_head;
        snprintf(key, sizeof key, "%.*s.attention.head_count_kv", al, arch.ptr);
        if (gguf_get_u32(f, key, &v)) n_head_kv = v;
        else if ((hk = gguf_get_arr(f, key, GGUF_T_UINT32)) && hk->n) n_head_kv = (uint32_t)gguf_arr_num(hk, 0);
        r.n_gqa = n_head_kv ? (int)(n_head / n_head_kv) : 0;
        r.is_falcon = arch.len == 6 && !memcmp(arch.ptr, "falcon", 6);
        r.is_70b = arch.len == 5 && !memcmp(arch.ptr, "llama", 5) && r.n_layer == 80;
    }

    nt = f->n_tensors;
    ts = calloc(nt + 1, sizeof *ts);
    if (!ts) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto done; }
    r.has_tied = 1;
    for (uint64_t i = 0; i < nt; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        ts[i].src = t;
        ts[i].name = malloc(t->name.len + 1);
        if (!ts[i].name) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto done; }
        memcpy(ts[i].name, t->name.ptr, t->name.len);
        ts[i].name[t->name.len] = 0;
        enum category c = category_of(ts[i].name);
        if (is_attn_v(c)) r.n_attention_wv++;
        if (c == CAT_OUTPUT) r.has_tied = 0;
    }
    qsort(ts, nt, sizeof *ts, cmp_weights);

    struct edgellm_quantize_stats stats;
    memset(&stats, 0, sizeof stats);
    for (uint64_t i = 0; i < nt; i++) {
        struct qtensor *q = &ts[i];
        const struct gguf_tensor *t = q->src;
        q->type = tensor_type(&r, q->name, t, category_of(q->name));
        const struct qtype_traits *in_t = qtype_get(t->type);
        if (q->type != t->type) {
            if (!in_t || !in_t->to_float) {
                st = util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "%s: cannot read tensors of type %s", q->name, qtype_name(t->type));
                goto done;
            }
            if (in_t->is_quantized && !p.allow_requantize) {
                st = util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED,
                               "%s is already quantized (%s): requantizing loses quality; pass --allow-requantize to do it anyway",
                               q->name, qtype_name(t->type));
                goto done;
            }
            if (!quant_can_produce(q->type)) {
                st = util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "%s: cannot write type %s", q->name, qtype_name(q->type));
                goto done;
            }
            const struct imatrix_entry *e = im ? imatrix_find(im, q->name) : NULL;
            if (e) {
                if (e->ne0 * e->n_expert != t->ne[0] * t->ne[2]) {
                    if (strcmp(q->name, "token_embd.weight") && strcmp(q->name, "per_layer_token_embd.weight")) {
                        st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "imatrix size %lld is different from tensor size %lld for %s",
                                       (long long)(e->ne0 * e->n_expert), (long long)(t->ne[0] * t->ne[2]), q->name);
                        goto done;
                    }
                } else {
                    q->qw = e->weights;
                    stats.n_imatrix++;
                }
            }
        }
        q->row_in = qtype_row_size(t->type, t->ne[0]);
        q->row_out = qtype_row_size(q->type, t->ne[0]);
        uint64_t rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]), nel = rows * (uint64_t)t->ne[0];
        stats.size_in += t->nbytes;
        stats.size_out += rows * q->row_out;
        stats.n_elements += nel;
        stats.n_tensors++;
        if (q->type < EDGELLM_TYPE_COUNT) stats.n_per_type[q->type]++;
    }
    stats.n_fallback = (uint32_t)r.n_fallback;

    w = gguf_writer_new();
    if (!w) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto done; }
    copy_metadata(w, f);
    gguf_writer_add_u32(w, "general.quantization_version", 2);
    gguf_writer_add_u32(w, "general.file_type", (uint32_t)fi->ftype);
    if (im) {
        const char *fn = p.imatrix_path;
        gguf_writer_add_strn(w, "quantize.imatrix.file", fn, strlen(fn) > 127 ? 127 : strlen(fn));
        if (im->dataset) gguf_writer_add_strn(w, "quantize.imatrix.dataset", im->dataset, strlen(im->dataset) > 127 ? 127 : strlen(im->dataset));
        gguf_writer_add_u32(w, "quantize.imatrix.entries_count", (uint32_t)im->n_entries);
        if (im->chunk_count > 0) gguf_writer_add_u32(w, "quantize.imatrix.chunks_count", im->chunk_count);
    }
    int n_threads = p.n_threads > 0 ? p.n_threads : os_n_cores();
    tp = tp_new(n_threads < 1 ? 1 : n_threads);
    if (!tp) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "cannot start %d threads", n_threads); goto done; }
    struct qjob job = {ts, nt, tp, &p, f, NULL, 0, 0, NULL, 0};
    for (uint64_t i = 0; i < nt; i++) {
        const struct gguf_tensor *t = ts[i].src;
        int64_t ne[GGUF_MAX_DIMS];
        memcpy(ne, t->ne, sizeof ne);
        gguf_writer_add_tensor(w, ts[i].name, ts[i].type, (int)t->n_dims, ne, NULL, fill_rows, &job);
    }
    if ((st = gguf_writer_status(w))) { st = util_errf(err, err_size, st, "%s", gguf_writer_error(w)); goto done; }

    size_t ol = strlen(out_path);
    tmp_path = malloc(ol + 5);
    if (!tmp_path) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto done; }
    memcpy(tmp_path, out_path, ol);
    memcpy(tmp_path + ol, ".tmp", 5);
    if ((st = gguf_writer_write_file(w, tmp_path, err, err_size))) goto done;
    if (rename(tmp_path, out_path) != 0) {
        remove(tmp_path);
        st = util_errf(err, err_size, EDGELLM_ERR_IO, "cannot rename '%s' to '%s'", tmp_path, out_path);
        goto done;
    }
    if (p.stats) *p.stats = stats;
done:
    free(tmp_path);
    tp_free(tp);
    gguf_writer_free(w);
    for (uint64_t i = 0; ts && i < nt; i++) free(ts[i].name);
    free(ts);
    imatrix_free(im);
    gguf_close(f);
    return (edgellm_status)st;
}
