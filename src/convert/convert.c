/* convert: a Hugging Face checkpoint directory -> GGUF, as llama.cpp's convert_hf_to_gguf.py
 * writes it (metadata keys and their order, tensor names, the llama Q/K row permutation, 1-D
 * tensors in F32), streamed.
 *
 * Flow: config.json -> an architecture row (arch_table) and the hyperparameters; the
 * safetensors tensors are each mapped to a GGUF name and checked against the shapes the config
 * implies (a plan, built and validated before anything is written); the tokenizer files become
 * the vocabulary (hf_tokenizer.c); then the GGUF writer pulls every tensor row by row through
 * fill_rows, which converts a bounded chunk of source rows (threaded) and drops the source pages
 * it is done with, so peak RSS stays far below the checkpoint size. The file is written as
 * OUT.part and renamed to OUT at the end.
 *
 * Outtypes f32/f16/bf16/q8_0 are written directly (pick_type(); rows encoded by the type's
 * from_float of quant/qtypes, as llama.cpp's converter does). The other quantized file types go
 * through an F16 file and edgellm_model_quantize (llama.cpp's per-tensor rules, same bytes).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/hf_tokenizer.h"
#include "convert/safetensors.h"
#include "core/os.h"
#include "core/threadpool.h"
#include "core/util.h"
#include "edgellm.h"
#include "gguf/gguf_writer.h"
#include "quant/qtypes.h"
#include "template/json.h"

/* ---- tables -------------------------------------------------------------------------------- */

struct arch_row {
    const char *hf_class;    /* config.json "architectures"[0] */
    const char *arch;        /* general.architecture */
    int permute_qk;          /* llama: Q/K rows from HF (rotate-half) order into GGUF order */
    int write_vocab_size;    /* <arch>.vocab_size */
    int write_rope_dim;      /* <arch>.rope.dimension_count */
    int qk_norm;             /* q_norm / k_norm tensors required (Qwen3) */
};

static const struct arch_row arch_table[] = {
    {"LlamaForCausalLM", "llama", 1, 1, 1, 0},
    {"MistralForCausalLM", "llama", 1, 1, 1, 0},
    {"Qwen2ForCausalLM", "qwen2", 0, 0, 1, 0},
    {"Qwen3ForCausalLM", "qwen3", 0, 0, 0, 1},
};

struct outtype {
    const char *name;
    uint32_t ftype;      /* general.file_type (llama_ftype) */
    enum qtype type;     /* type of the 2-D weights */
};

static const struct outtype outtypes[] = {
    {"f32", 0, QT_F32},      {"f16", 1, QT_F16},      {"bf16", 32, QT_BF16},   {"q8_0", 7, QT_Q8_0},
    {"q4_0", 2, QT_Q4_0},    {"q4_1", 3, QT_Q4_1},    {"q5_0", 8, QT_Q5_0},    {"q5_1", 9, QT_Q5_1},
    {"q2_k", 10, QT_Q2_K},   {"q3_k_s", 11, QT_Q3_K}, {"q3_k_m", 12, QT_Q3_K}, {"q3_k_l", 13, QT_Q3_K},
    {"q4_k_s", 14, QT_Q4_K}, {"q4_k_m", 15, QT_Q4_K}, {"q5_k_s", 16, QT_Q5_K}, {"q5_k_m", 17, QT_Q5_K},
    {"q6_k", 18, QT_Q6_K},   {"iq4_nl", 25, QT_IQ4_NL}, {"iq4_xs", 30, QT_IQ4_XS},
};
#define N_OUTTYPES (sizeof outtypes / sizeof outtypes[0])

const char *edgellm_convert_outtype_name(int i) {
    return i >= 0 && (size_t)i < N_OUTTYPES ? outtypes[i].name : NULL;
}

/* Per-layer tensors: HF suffix after "model.layers.N.", GGUF suffix after "blk.N.", shape role. */
enum role { R_SKIP, R_NORM, R_Q, R_K, R_V, R_QB, R_KB, R_VB, R_O, R_QN, R_KN, R_GATE, R_UP, R_DOWN };

static const struct { const char *hf, *gguf; enum role role; int required; } layer_map[] = {
    {"input_layernorm.weight", "attn_norm.weight", R_NORM, 1},
    {"self_attn.q_proj.weight", "attn_q.weight", R_Q, 1},
    {"self_attn.k_proj.weight", "attn_k.weight", R_K, 1},
    {"self_attn.v_proj.weight", "attn_v.weight", R_V, 1},
    {"self_attn.q_proj.bias", "attn_q.bias", R_QB, 0},
    {"self_attn.k_proj.bias", "attn_k.bias", R_KB, 0},
    {"self_attn.v_proj.bias", "attn_v.bias", R_VB, 0},
    {"self_attn.o_proj.weight", "attn_output.weight", R_O, 1},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", R_QN, 0},
    {"self_attn.k_norm.weight", "attn_k_norm.weight", R_KN, 0},
    {"post_attention_layernorm.weight", "ffn_norm.weight", R_NORM, 1},
    {"mlp.gate_proj.weight", "ffn_gate.weight", R_GATE, 1},
    {"mlp.up_proj.weight", "ffn_up.weight", R_UP, 1},
    {"mlp.down_proj.weight", "ffn_down.weight", R_DOWN, 1},
    {"self_attn.rotary_emb.inv_freq", NULL, R_SKIP, 0},
};
#define N_LAYER_MAP (sizeof layer_map / sizeof layer_map[0])

/* ---- hyperparameters ------------------------------------------------------------------------ */

struct hparams {
    const struct arch_row *arch;
    int64_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab, n_ctx;
    int has_head_dim;        /* config.json states head_dim */
    double rope_theta, rms_eps;
    int tied;
    const json_value *rope_scaling;
};

static int cfg_int(const json_value *cfg, const char *key, int64_t lo, int64_t hi, int64_t *out, int required,
                   char *err, size_t err_size) {
    const json_value *v = json_get(cfg, key);
    if (!v || v->type == JSON_NULL) {
        if (required) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "config.json: \"%s\" is missing", key);
        return 0;
    }
    if (v->type != JSON_NUMBER || !v->is_int || v->i < lo || v->i > hi)
        return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "config.json: \"%s\" must be an integer in [%lld, %lld]", key,
                         (long long)lo, (long long)hi);
    *out = v->i;
    return 0;
}

static int read_hparams(const json_value *cfg, struct hparams *hp, char *err, size_t err_size) {
    memset(hp, 0, sizeof *hp);
    if (!cfg || cfg->type != JSON_OBJECT) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "config.json is not a JSON object");
    const json_value *archs = json_get(cfg, "architectures");
    const char *cls = archs && archs->type == JSON_ARRAY && archs->len && archs->items[0]->type == JSON_STRING ? archs->items[0]->str : NULL;
    if (!cls) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "config.json: no \"architectures\" list");
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (!strcmp(cls, arch_table[i].hf_class)) hp->arch = &arch_table[i];
    if (!hp->arch)
        return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED,
                         "unsupported architecture '%.64s' (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)", cls);
    const int64_t BIG = (int64_t)1 << 24;
    int st = cfg_int(cfg, "num_hidden_layers", 1, 4096, &hp->n_layer, 1, err, err_size);
    if (!st) st = cfg_int(cfg, "hidden_size", 1, BIG, &hp->n_embd, 1, err, err_size);
    if (!st) st = cfg_int(cfg, "intermediate_size", 1, BIG, &hp->n_ff, 1, err, err_size);
    if (!st) st = cfg_int(cfg, "num_attention_heads", 1, 65536, &hp->n_head, 1, err, err_size);
    hp->n_head_kv = hp->n_head;
    if (!st) st = cfg_int(cfg, "num_key_value_heads", 1, 65536, &hp->n_head_kv, 0, err, err_size);
    if (!st) st = cfg_int(cfg, "vocab_size", 1, BIG, &hp->n_vocab, 1, err, err_size);
    if (!st) st = cfg_int(cfg, "max_position_embeddings", 1, (int64_t)1 << 31, &hp->n_ctx, 1, err, err_size);
    if (st) return st;
    hp->head_dim = hp->n_embd / hp->n_head;
    if (json_get(cfg, "head_dim") && json_get(cfg, "head_dim")->type != JSON_NULL) {
        if ((st = cfg_int(cfg, "head_dim", 1, 65536, &hp->head_dim, 1, err, err_size))) return st;
        hp->has_head_dim = 1;
    }
    if (hp->n_head % hp->n_head_kv || (hp->arch->permute_qk && hp->head_dim % 2))
        return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "config.json: %lld heads, %lld KV heads, head size %lld do not fit together",
                         (long long)hp->n_head, (long long)hp->n_head_kv, (long long)hp->head_dim);
    const json_value *v = json_get(cfg, "rope_theta");
    hp->rope_theta = v && v->type == JSON_NUMBER ? v->num : 10000.0;
    v = json_get(cfg, "rms_norm_eps");
    if (!v || v->type != JSON_NUMBER || !(v->num > 0)) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "config.json: \"rms_norm_eps\" is missing");
    hp->rms_eps = v->num;
    v = json_get(cfg, "tie_word_embeddings");
    hp->tied = v && v->type == JSON_BOOL ? v->boolean : 0;
    v = json_get(cfg, "rope_scaling");
    hp->rope_scaling = v && v->type == JSON_OBJECT ? v : NULL;
    return 0;
}

/* ---- the plan: every output tensor, checked before writing ----------------------------------- */

struct ptensor {
    char name[64];
    const struct st_tensor *src;   /* NULL: data is gen */
    float *gen;
    int n_dims;
    int64_t ne[2];                 /* ggml order: ne[0] = row length */
    enum qtype type;
    int64_t permute_heads;         /* > 0: Q/K rows permuted with this many heads */
};

struct plan {
    struct ptensor *t;
    size_t n, cap;
};

static struct ptensor *plan_add(struct plan *p) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        struct ptensor *t = realloc(p->t, cap * sizeof *t);
        if (!t) return NULL;
        p->t = t;
        p->cap = cap;
    }
    memset(&p->t[p->n], 0, sizeof p->t[0]);
    return &p->t[p->n++];
}

/* The type of one tensor. 1-D tensors and norms stay F32 (as llama.cpp writes them); f32/f16/
 * bf16/q8_0 put every matrix in that type, as llama.cpp's converter does. For the quantized
 * file types this is a first approximation of llama.cpp's mix (output / tied embedding in Q6_K):
 * the seam where `edgellm quantize`'s per-tensor rules replace it. A row length the type's block
 * does not divide falls back to F16, as the converter does. */
static enum qtype pick_type(const struct outtype *ot, const struct ptensor *t, int output_role) {
    if (t->n_dims < 2) return QT_F32;
    enum qtype q = ot->type;
    if (ot->ftype != 0 && ot->ftype != 1 && ot->ftype != 32 && ot->ftype != 7 && output_role) q = QT_Q6_K;
    const struct qtype_traits *tr = qtype_get(q);
    if (!tr || !tr->from_float || t->ne[0] % tr->blck_size) return QT_F16;
    return q;
}

static int check_shape(const struct st_tensor *s, int n_dims, int64_t d0, int64_t d1, char *err, size_t err_size) {
    int ok = s->n_dims == n_dims && s->shape[0] == d0 && (n_dims < 2 || s->shape[1] == d1);
    if (ok) return 0;
    char got[96] = "", want[64];
    size_t o = 0;
    for (int i = 0; i < s->n_dims && o < sizeof got - 24; i++)
        o += (size_t)snprintf(got + o, sizeof got - o, "%s%lld", i ? ", " : "", (long long)s->shape[i]);
    if (n_dims == 2) snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
    else snprintf(want, sizeof want, "%lld", (long long)d0);
    return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tensor '%s' has shape [%s] but config.json implies [%s]", s->name, got, want);
}

static int check_dtype(const struct st_tensor *s, char *err, size_t err_size) {
    if (s->dtype == ST_OTHER)
        return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "tensor '%s' has dtype %s (edgellm convert reads F32, F16, BF16)", s->name, s->dtype_name);
    return 0;
}

/* Expected HF shape of a layer tensor. */
static void role_shape(const struct hparams *hp, enum role r, int *nd, int64_t *d0, int64_t *d1) {
    int64_t q = hp->n_head * hp->head_dim, kv = hp->n_head_kv * hp->head_dim;
    *nd = 2;
    *d1 = hp->n_embd;
    switch (r) {
    case R_NORM: *nd = 1; *d0 = hp->n_embd; break;
    case R_Q: *d0 = q; break;
    case R_K: case R_V: *d0 = kv; break;
    case R_QB: *nd = 1; *d0 = q; break;
    case R_KB: case R_VB: *nd = 1; *d0 = kv; break;
    case R_O: *d0 = hp->n_embd; *d1 = q; break;
    case R_QN: case R_KN: *nd = 1; *d0 = hp->head_dim; break;
    case R_GATE: case R_UP: *d0 = hp->n_ff; break;
    case R_DOWN: *d0 = hp->n_embd; *d1 = hp->n_ff; break;
    default: *nd = 0; *d0 = 0; break;
    }
}

static int add_src(struct plan *p, const char *name, const struct st_tensor *s, const struct hparams *hp, int nd,
                   int64_t d0, int64_t d1, int64_t permute_heads, struct ptensor **out, char *err, size_t err_size) {
    int st = check_dtype(s, err, err_size);
    if (!st) st = check_shape(s, nd, d0, d1, err, err_size);
    if (st) return st;
    (void)hp;
    struct ptensor *t = plan_add(p);
    if (!t) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    snprintf(t->name, sizeof t->name, "%s", name);
    t->src = s;
    t->n_dims = nd;
    t->ne[0] = nd == 2 ? d1 : d0;
    t->ne[1] = nd == 2 ? d0 : 1;
    t->permute_heads = permute_heads;
    if (out) *out = t;
    return 0;
}

/* llama3 rope frequency factors, with the converter's float32 arithmetic. */
static float *llama3_rope_factors(const struct hparams *hp, const json_value *rs, char *err, size_t err_size) {
    int64_t dim = hp->head_dim;
    const json_value *v;
    float factor = (v = json_get(rs, "factor")) && v->type == JSON_NUMBER ? (float)v->num : 8.0f;
    float lo = (v = json_get(rs, "low_freq_factor")) && v->type == JSON_NUMBER ? (float)v->num : 1.0f;
    float hi = (v = json_get(rs, "high_freq_factor")) && v->type == JSON_NUMBER ? (float)v->num : 4.0f;
    float old = (v = json_get(rs, "original_max_position_embeddings")) && v->type == JSON_NUMBER ? (float)v->num : 8192.0f;
    if (!(factor > 0) || !(hi > lo) || !(old > 0)) {
        util_errf(err, err_size, EDGELLM_ERR_FORMAT, "config.json: bad llama3 rope_scaling values");
        return NULL;
    }
    float *f = malloc((size_t)(dim / 2) * sizeof *f);
    if (!f) { util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); return NULL; }
    float low_wl = old / lo, high_wl = old / hi;
    for (int64_t i = 0; i < dim / 2; i++) {
        float freq = 1.0f / powf((float)hp->rope_theta, (float)(2 * i) / (float)dim);
        float wl = 6.28318530717958647692f / freq;
        if (wl < high_wl) f[i] = 1.0f;
        else if (wl > low_wl) f[i] = factor;
        else {
            float smooth = (old / wl - lo) / (hi - lo);
            f[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
    }
    return f;
}

static int build_plan(const struct st_model *sm, const struct hparams *hp, const struct outtype *ot, struct plan *p,
                      char *err, size_t err_size) {
    int st = 0;
    const json_value *rs = hp->rope_scaling;
    if (rs) {
        const json_value *rt = json_get(rs, "rope_type");
        if (!rt || rt->type != JSON_STRING) rt = json_get(rs, "type");
        const char *type = rt && rt->type == JSON_STRING ? rt->str : "";
        if (!strcmp(type, "llama3") && !strcmp(hp->arch->arch, "llama")) {
            struct ptensor *t = plan_add(p);
            if (!t) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
            snprintf(t->name, sizeof t->name, "rope_freqs.weight");
            t->n_dims = 1;
            t->ne[0] = hp->head_dim / 2;
            t->ne[1] = 1;
            if (!(t->gen = llama3_rope_factors(hp, rs, err, err_size))) return EDGELLM_ERR_FORMAT;
        } else if (strcmp(type, "default")) {
            return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "config.json: rope_scaling type '%.32s' is not supported", type);
        }
    }
    /* global tensors */
    const struct st_tensor *emb = st_find(sm, "model.embed_tokens.weight"), *head = st_find(sm, "lm_head.weight");
    if (!emb && hp->tied) emb = head;
    if (!emb) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "the checkpoint has no 'model.embed_tokens.weight'");
    struct ptensor *t_emb = NULL, *t_out = NULL;
    if ((st = add_src(p, "token_embd.weight", emb, hp, 2, hp->n_vocab, hp->n_embd, 0, &t_emb, err, err_size))) return st;
    if (!hp->tied) {
        if (!head) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "the checkpoint has no 'lm_head.weight' (config.json: tie_word_embeddings false)");
        if ((st = add_src(p, "output.weight", head, hp, 2, hp->n_vocab, hp->n_embd, 0, &t_out, err, err_size))) return st;
    }
    const struct st_tensor *norm = st_find(sm, "model.norm.weight");
    if (!norm) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "the checkpoint has no 'model.norm.weight'");
    if ((st = add_src(p, "output_norm.weight", norm, hp, 1, hp->n_embd, 0, 0, NULL, err, err_size))) return st;
    /* layers */
    for (int64_t l = 0; l < hp->n_layer; l++) {
        for (size_t k = 0; k < N_LAYER_MAP; k++) {
            if (layer_map[k].role == R_SKIP) continue;
            char hf[160], gg[64];
            snprintf(hf, sizeof hf, "model.layers.%lld.%s", (long long)l, layer_map[k].hf);
            snprintf(gg, sizeof gg, "blk.%lld.%s", (long long)l, layer_map[k].gguf);
            const struct st_tensor *s = st_find(sm, hf);
            int required = layer_map[k].required || (hp->arch->qk_norm && (layer_map[k].role == R_QN || layer_map[k].role == R_KN));
            if (!s) {
                if (required) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "the checkpoint has no '%s'", hf);
                continue;
            }
            int nd;
            int64_t d0, d1, perm = 0;
            role_shape(hp, layer_map[k].role, &nd, &d0, &d1);
            if (hp->arch->permute_qk && (layer_map[k].role == R_Q || layer_map[k].role == R_QB)) perm = hp->n_head;
            if (hp->arch->permute_qk && (layer_map[k].role == R_K || layer_map[k].role == R_KB)) perm = hp->n_head_kv;
            if ((st = add_src(p, gg, s, hp, nd, d0, d1, perm, NULL, err, err_size))) return st;
        }
    }
    /* every checkpoint tensor must have been used or be known to be skippable */
    for (size_t i = 0; i < st_n_tensors(sm); i++) {
        const struct st_tensor *s = st_tensor_at(sm, i);
        int used = 0;
        for (size_t k = 0; k < p->n && !used; k++) used = p->t[k].src == s;
        if (used || strstr(s->name, "rotary_emb.inv_freq") || (hp->tied && !strcmp(s->name, "lm_head.weight"))) continue;
        return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tensor '%s' has no place in a %s model of %lld layers", s->name,
                         hp->arch->arch, (long long)hp->n_layer);
    }
    for (size_t k = 0; k < p->n; k++) {
        struct ptensor *t = &p->t[k];
        int output_role = t == t_out || (hp->tied && t == t_emb);
        t->type = pick_type(ot, t, output_role);
    }
    return 0;
}

/* ---- streaming the tensor data ----------------------------------------------------------------- */

struct job {
    struct ctx *c;
    const struct ptensor *t;
    uint64_t first_row, n_rows;
    uint8_t *out;
};

struct ctx {
    const struct st_model *sm;
    struct plan *plan;
    struct threadpool *tp;
    float **scratch;               /* one row of floats per thread */
    uint64_t done, total;
    edgellm_convert_progress_fn progress;
    void *progress_user;
};

/* Source row of GGUF row r of a permuted Q/K matrix (llama.cpp's LlamaModel.permute:
 * rows (head h, pair j in {0,1}, i < d/2) of HF order go to (h, i, j)). */
static uint64_t src_row(const struct ptensor *t, uint64_t r) {
    if (t->permute_heads <= 0) return r;
    uint64_t d = (uint64_t)(t->n_dims == 2 ? t->ne[1] : t->ne[0]) / (uint64_t)t->permute_heads;
    uint64_t h = r / d, w = r % d, i = w / 2, j = w % 2;
    return h * d + j * (d / 2) + i;
}

static void convert_rows(void *arg, int ith, int nth) {
    struct job *jb = arg;
    const struct ptensor *t = jb->t;
    long lo, hi;
    tp_split((long)jb->n_rows, 1, ith, nth, &lo, &hi);
    float *buf = jb->c->scratch[ith];
    const struct qtype_traits *tr = qtype_get(t->type);
    size_t row_size = qtype_row_size(t->type, t->ne[0]);
    for (long r = lo; r < hi; r++) {
        uint64_t row = jb->first_row + (uint64_t)r;
        if (t->n_dims == 1) { /* a 1-D tensor is one row; a 1-D permuted bias permutes elements */
            for (int64_t e = 0; e < t->ne[0]; e++) buf[e] = st_get_f32(t->src, src_row(t, (uint64_t)e));
        } else {
            st_to_f32(t->src, src_row(t, row) * (uint64_t)t->ne[0], (uint64_t)t->ne[0], buf);
        }
        tr->from_float(buf, jb->out + (size_t)r * row_size, t->ne[0]);
    }
}

static int fill_rows(void *user, uint64_t ti, uint64_t first_row, uint64_t n_rows, void *buf) {
    struct ctx *c = user;
    const struct ptensor *t = &c->plan->t[ti];
    if (t->gen) {
        qtype_get(t->type)->from_float(t->gen, buf, t->ne[0]);
        return 0;
    }
    struct job jb = {c, t, first_row, n_rows, buf};
    tp_run(n_rows > 1 ? c->tp : NULL, convert_rows, &jb);
    uint64_t row_bytes = t->src->nbytes / (uint64_t)t->ne[1];
    uint64_t last = first_row + n_rows == (uint64_t)t->ne[1];
    if (!t->permute_heads) st_release(c->sm, t->src, first_row * row_bytes, n_rows * row_bytes);
    else if (last) st_release(c->sm, t->src, 0, t->src->nbytes);
    c->done += n_rows * row_bytes;
    if (c->progress && c->progress(c->progress_user, c->done, c->total)) return EDGELLM_ERR_ABORTED;
    return 0;
}

/* ---- metadata ------------------------------------------------------------------------------------ */

static void add_key_u32(struct gguf_writer *w, const char *arch, const char *key, int64_t v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gguf_writer_add_u32(w, k, (uint32_t)v);
}

static void add_key_f32(struct gguf_writer *w, const char *arch, const char *key, double v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gguf_writer_add_f32(w, k, (float)v);
}

static void write_metadata(struct gguf_writer *w, const struct hparams *hp, const struct outtype *ot, const char *name,
                           const struct hf_vocab *v) {
    const char *a = hp->arch->arch;
    gguf_writer_add_str(w, "general.architecture", a);
    gguf_writer_add_str(w, "general.type", "model");
    gguf_writer_add_str(w, "general.name", name);
    add_key_u32(w, a, "block_count", hp->n_layer);
    add_key_u32(w, a, "context_length", hp->n_ctx);
    add_key_u32(w, a, "embedding_length", hp->n_embd);
    add_key_u32(w, a, "feed_forward_length", hp->n_ff);
    add_key_u32(w, a, "attention.head_count", hp->n_head);
    add_key_u32(w, a, "attention.head_count_kv", hp->n_head_kv);
    add_key_f32(w, a, "rope.freq_base", hp->rope_theta);
    add_key_f32(w, a, "attention.layer_norm_rms_epsilon", hp->rms_eps);
    if (hp->has_head_dim) {
        add_key_u32(w, a, "attention.key_length", hp->head_dim);
        add_key_u32(w, a, "attention.value_length", hp->head_dim);
    }
    gguf_writer_add_u32(w, "general.file_type", ot->ftype);
    if (hp->arch->write_vocab_size) add_key_u32(w, a, "vocab_size", hp->n_vocab);
    if (hp->arch->write_rope_dim) add_key_u32(w, a, "rope.dimension_count", hp->head_dim);

    gguf_writer_add_str(w, "tokenizer.ggml.model", v->model);
    gguf_writer_add_str(w, "tokenizer.ggml.pre", v->pre);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", v->tokens, v->token_lens, v->n_tokens);
    if (v->scores) gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_T_FLOAT32, v->scores, v->n_tokens);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_T_INT32, v->types, v->n_tokens);
    if (v->n_merges) gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", v->merges, v->merge_lens, v->n_merges);
    static const char *const id_keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
                                          "tokenizer.ggml.padding_token_id"};
    const int32_t ids[] = {v->bos, v->eos, v->unk, v->sep, v->pad};
    for (int i = 0; i < 5; i++)
        if (ids[i] >= 0) gguf_writer_add_u32(w, id_keys[i], (uint32_t)ids[i]);
    if (v->add_bos >= 0) gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
    if (v->add_eos >= 0) gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos);
    if (v->add_space_prefix >= 0) gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix);
    if (v->chat_template) gguf_writer_add_str(w, "tokenizer.chat_template", v->chat_template);
    gguf_writer_add_u32(w, "general.quantization_version", 2);
}

/* ---- the entry point ------------------------------------------------------------------------------ */

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Reads DIR/NAME as JSON into *out; a missing optional file leaves *out NULL. */
static int read_dir_json(const char *dir, const char *name, int required, json_value **out, char *err, size_t err_size) {
    char path[4096];
    *out = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!file_exists(path)) {
        if (!required) return 0;
        return util_errf(err, err_size, EDGELLM_ERR_IO, "%s: no %s", dir, name);
    }
    return st_read_json_file(path, out, err, err_size);
}

static int read_vocab(const char *dir, const json_value *cfg, const struct hparams *hp, struct hf_vocab **out, char *err,
                      size_t err_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!file_exists(path)) {
        snprintf(path, sizeof path, "%s/tokenizer.model", dir);
        if (file_exists(path))
            return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED,
                             "%s has only tokenizer.model (SentencePiece protobuf): edgellm convert reads tokenizer.json", dir);
        return util_errf(err, err_size, EDGELLM_ERR_IO, "%s: no tokenizer.json", dir);
    }
    struct os_map *map;
    int st = os_map_file(path, &map, err, err_size);
    if (st) return st;
    json_value *tcfg = NULL, *gen = NULL;
    st = read_dir_json(dir, "tokenizer_config.json", 0, &tcfg, err, err_size);
    if (!st) st = read_dir_json(dir, "generation_config.json", 0, &gen, err, err_size);
    if (!st) st = hf_vocab_build(os_map_data(map), (size_t)os_map_size(map), tcfg, cfg, gen, (uint32_t)hp->n_vocab, out, err, err_size);
    if (!st && !(*out)->chat_template) { /* newer repositories keep the template in its own file */
        snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
        struct os_map *tm;
        if (file_exists(path) && !os_map_file(path, &tm, err, err_size)) {
            size_t n = (size_t)os_map_size(tm);
            char *s = malloc(n + 1);
            if (s) {
                memcpy(s, os_map_data(tm), n);
                s[n] = 0;
                char **owned = realloc((*out)->owned, ((*out)->n_owned + 1) * sizeof *owned);
                if (owned) { (*out)->owned = owned; owned[(*out)->n_owned++] = s; (*out)->chat_template = s; }
                else free(s);
            }
            os_unmap(tm);
        }
    }
    json_free(tcfg);
    json_free(gen);
    os_unmap(map);
    return st;
}

edgellm_status edgellm_model_convert(const char *hf_dir, const char *out_path, const struct edgellm_convert_params *params,
                                     char *err, size_t err_size) {
    if (err && err_size) err[0] = 0;
    struct edgellm_convert_params p = edgellm_convert_default_params();
    if (util_params_in(&p, sizeof p, params, UTIL_END_OF(struct edgellm_convert_params, progress_user)) != EDGELLM_OK)
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "edgellm_convert_params.struct_size %u is below the 1.0 size",
                         params ? params->struct_size : 0);
    if (!hf_dir || !out_path || !*out_path) return (edgellm_status)util_errf(err, err_size, EDGELLM_ERR_ARG, "a checkpoint directory and an output path are needed");
    const struct outtype *ot = NULL;
    for (size_t i = 0; i < N_OUTTYPES; i++)
        if (p.outtype && !strcmp(p.outtype, outtypes[i].name)) ot = &outtypes[i];
    if (!ot) return (edgellm_status)util_errf(err, err_size, EDGELLM_ERR_ARG, "unknown outtype '%s' (f32, f16, bf16, q8_0, q4_0, q4_k_m, ...)", p.outtype ? p.outtype : "(null)");

    if (ot->type != QT_F32 && ot->type != QT_F16 && ot->type != QT_BF16 && ot->type != QT_Q8_0) {
        /* A quantized file type: convert to F16 (what llama.cpp's converter writes by default), then
         * quantize with the library's quantizer — llama.cpp's per-tensor rules and bytes. */
        size_t n = strlen(out_path) + 16;
        char *f16 = malloc(n);
        if (!f16) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
        snprintf(f16, n, "%s.f16.part", out_path);
        struct edgellm_convert_params cp = p;
        cp.outtype = "f16";
        edgellm_status st = edgellm_model_convert(hf_dir, f16, &cp, err, err_size);
        if (st == EDGELLM_OK) {
            struct edgellm_quantize_params qp = edgellm_quantize_default_params();
            qp.ftype = (int)ot->ftype;
            qp.n_threads = p.n_threads;
            st = edgellm_model_quantize(f16, out_path, &qp, err, err_size);
        }
        remove(f16);
        free(f16);
        return st;
    }
    json_value *cfg = NULL;
    struct st_model *sm = NULL;
    struct hf_vocab *voc = NULL;
    struct plan plan = {0};
    struct gguf_writer *w = NULL;
    struct ctx c = {0};
    char *tmp = NULL;
    struct hparams hp;
    int st = read_dir_json(hf_dir, "config.json", 1, &cfg, err, err_size);
    if (!st) st = read_hparams(cfg, &hp, err, err_size);
    if (!st) st = st_open_dir(hf_dir, &sm, err, err_size);
    if (!st) st = build_plan(sm, &hp, ot, &plan, err, err_size);
    /* after the plan: the embedding's shape has vouched for config.json's vocab_size */
    if (!st) st = read_vocab(hf_dir, cfg, &hp, &voc, err, err_size);
    if (st) goto done;

    /* general.name: the directory's name */
    const char *name = hf_dir + strlen(hf_dir);
    while (name > hf_dir && name[-1] == '/') name--;
    const char *end = name;
    while (name > hf_dir && name[-1] != '/') name--;
    char model_name[256];
    snprintf(model_name, sizeof model_name, "%.*s", (int)(end - name), name);

    if (!(w = gguf_writer_new())) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto done; }
    write_metadata(w, &hp, ot, model_name[0] ? model_name : "model", voc);
    c.sm = sm;
    c.plan = &plan;
    c.progress = p.progress;
    c.progress_user = p.progress_user;
    int n_threads = p.n_threads > 0 ? p.n_threads : os_n_cores();
    c.tp = n_threads > 1 ? tp_new(n_threads) : NULL;
    int nth = c.tp ? tp_n_threads(c.tp) : 1;
    int64_t max_row = 1;
    for (size_t i = 0; i < plan.n; i++) {
        if (plan.t[i].ne[0] > max_row) max_row = plan.t[i].ne[0];
        if (plan.t[i].src) c.total += plan.t[i].src->nbytes;
    }
    c.scratch = calloc((size_t)nth, sizeof *c.scratch);
    for (int i = 0; c.scratch && i < nth; i++)
        if (!(c.scratch[i] = malloc((size_t)max_row * sizeof(float)))) { st = EDGELLM_ERR_NOMEM; break; }
    if (!c.scratch || st) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < plan.n; i++) {
        const struct ptensor *t = &plan.t[i];
        gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, NULL, fill_rows, &c);
    }
    size_t tn = strlen(out_path) + 8;
    if (!(tmp = malloc(tn))) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto done; }
    snprintf(tmp, tn, "%s.part", out_path);
    st = gguf_writer_write_file(w, tmp, err, err_size);
    if (!st && rename(tmp, out_path) != 0) {
        st = util_errf(err, err_size, EDGELLM_ERR_IO, "cannot rename '%s' to '%s'", tmp, out_path);
        remove(tmp);
    }
done:
    free(tmp);
    if (c.scratch)
        for (int i = 0; i < (c.tp ? tp_n_threads(c.tp) : 1); i++) free(c.scratch[i]);
    free(c.scratch);
    tp_free(c.tp);
    gguf_writer_free(w);
    for (size_t i = 0; i < plan.n; i++) free(plan.t[i].gen);
    free(plan.t);
    st_close(sm);
    hf_vocab_free(voc);
    json_free(cfg);
    return (edgellm_status)st;
}
