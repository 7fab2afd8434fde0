/* Model loading: maps the GGUF file, reads the hyperparameters of the architecture's row in the
 * table (model/arch.c; llama.cpp's defaults for absent keys), binds every weight the row names to
 * a view into the mapping after checking its shape and type, and loads the vocabulary. The matrices the active
 * kernels decode faster row-interleaved are then repacked in memory (repack_weights); everything
 * else stays in the mapping. `vocab_only` loads accept any architecture and files without tensors.
 */
#include "model/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/os.h"
#include "core/threadpool.h"
#include "core/util.h"
#include "quant/qtypes.h"
#include "text/vocab.h"

const struct vocab *model_vocab(const struct edgellm_model *m) { return m->vocab; }

/* The 1.0 layouts (include/edgellm.h): a caller's struct_size must reach at least this far. */
#define MODEL_PARAMS_SIZE_1_0 UTIL_END_OF(struct edgellm_model_params, n_threads)
#define MODEL_DESC_SIZE_1_0 UTIL_END_OF(struct edgellm_model_desc, rope_neox)
#define LAYER_DESC_SIZE_1_0 UTIL_END_OF(struct edgellm_layer_desc, rope_freq_base)
#ifndef EDGELLM_TEST_GROW_STRUCTS
_Static_assert(MODEL_PARAMS_SIZE_1_0 == sizeof(struct edgellm_model_params), "1.0 layout ends in padding");
_Static_assert(MODEL_DESC_SIZE_1_0 == sizeof(struct edgellm_model_desc), "1.0 layout ends in padding");
_Static_assert(LAYER_DESC_SIZE_1_0 == sizeof(struct edgellm_layer_desc), "1.0 layout ends in padding");
#endif

static char *dup_str(struct gguf_str s) {
    char *z = malloc((size_t)s.len + 1);
    if (z) {
        memcpy(z, s.ptr, (size_t)s.len);
        z[s.len] = 0;
    }
    return z;
}

/* "<arch>.<suffix>" as u32, with a default. */
static uint32_t arch_u32(const struct gguf_file *f, const char *arch, const char *suffix, uint32_t def) {
    char key[128];
    uint32_t v;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_u32(f, key, &v) ? v : def;
}

static float arch_f32(const struct gguf_file *f, const char *arch, const char *suffix, float def) {
    char key[128];
    float v;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_f32(f, key, &v) ? v : def;
}

/* Binds a tensor by name: checks its shape is (ne0, ne1) (ne1 = 1 for vectors) and that it can
 * be used as a matrix (matrix != 0: a vec_dot exists) or as a plain F32 vector. */
static int bind(struct edgellm_model *m, struct weight *w, const char *name, int64_t ne0, int64_t ne1,
                int matrix, int required) {
    const struct gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    memset(w, 0, sizeof *w);
    if (!t) {
        if (!required) return 0;
        snprintf(m->unsupported_why, sizeof m->unsupported_why, "missing tensor '%s'", name);
        return -1;
    }
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
        snprintf(m->unsupported_why, sizeof m->unsupported_why,
                 "tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], expected [%" PRId64 ", %" PRId64 "]",
                 name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0, ne1);
        return -1;
    }
    const struct qtype_traits *tt = qtype_get(t->type);
    if (!tt || !tt->to_float || (matrix && !tt->vec_dot)) {
        snprintf(m->unsupported_why, sizeof m->unsupported_why, "tensor '%s' has type %s, which this engine cannot compute with",
                 name, qtype_name(t->type) ? qtype_name(t->type) : "unknown");
        return -1;
    }
    if (!matrix && t->type != QT_F32) {
        snprintf(m->unsupported_why, sizeof m->unsupported_why, "tensor '%s' has type %s; norm weights and biases must be f32",
                 name, qtype_name(t->type));
        return -1;
    }
    w->data = t->data;
    w->type = t->type;
    w->ne[0] = ne0;
    w->ne[1] = ne1;
    w->nb_row = qtype_row_size(t->type, ne0);
    return 0;
}

#define WHY(...) (snprintf(m->unsupported_why, sizeof m->unsupported_why, __VA_ARGS__), -1)

/* "<arch>.<suffix>" that may be a scalar or an array with one entry per layer: the array's
 * length is checked against block_count before anything is filled (out has n_layer entries).
 * Returns 1 if present, 0 if absent (out untouched), -1 on a bad array. */
static int arch_u32_layers(struct edgellm_model *m, const char *suffix, uint32_t n_layer, uint32_t *out) {
    char key[128];
    uint32_t v;
    snprintf(key, sizeof key, "%s.%s", m->arch_name, suffix);
    if (gguf_get_u32(m->gguf, key, &v)) {
        for (uint32_t il = 0; il < n_layer; il++) out[il] = v;
        return 1;
    }
    int64_t ki = gguf_find_key(m->gguf, key);
    if (ki < 0) return 0;
    const struct gguf_kv *kv = &m->gguf->kv[ki];
    if (kv->type != GGUF_T_ARRAY || kv->n != n_layer)
        return WHY("%s must be a number or an array of block_count (%u) entries", key, n_layer);
    for (uint32_t il = 0; il < n_layer; il++) {
        double d = gguf_arr_num(kv, il);
        if (!(d >= 0 && d <= (double)UINT32_MAX)) return WHY("%s[%u] is not a valid count", key, il);
        out[il] = (uint32_t)d;
    }
    return 1;
}

/* A per-layer key that this engine needs to be the same on every layer. */
static int arch_u32_uniform(struct edgellm_model *m, const char *suffix, uint32_t *tmp, uint32_t def, uint32_t *out) {
    int r = arch_u32_layers(m, suffix, m->hp.n_layer, tmp);
    if (r < 0) return -1;
    *out = def;
    if (r == 0) return 0;
    for (uint32_t il = 1; il < m->hp.n_layer; il++)
        if (tmp[il] != tmp[0]) return WHY("%s.%s differs between layers, which this engine does not support", m->arch_name, suffix);
    *out = tmp[0];
    return 0;
}

static int read_hparams(struct edgellm_model *m) {
    struct gguf_file *f = m->gguf;
    struct hparams *hp = &m->hp;
    const char *a = m->arch_name;
    const struct arch_desc *ad = arch_find(a);
    if (!ad) return WHY("unsupported architecture '%s' (supported: %s)", a, arch_names());
    hp->arch = ad;
    hp->n_ctx_train = arch_u32(f, a, "context_length", 0);
    hp->n_embd = arch_u32(f, a, "embedding_length", 0);
    hp->n_layer = arch_u32(f, a, "block_count", 0);
    if (!hp->n_layer || hp->n_layer > 4096) return WHY("missing or invalid %s.block_count", a);
    uint32_t *tmp = malloc(sizeof(uint32_t) * hp->n_layer);
    hp->layer = calloc(hp->n_layer, sizeof *hp->layer);
    if (!tmp || !hp->layer) {
        free(tmp);
        return WHY("out of memory");
    }
    int bad = arch_u32_uniform(m, "feed_forward_length", tmp, 0, &hp->n_ff) ||
              arch_u32_uniform(m, "attention.head_count", tmp, 0, &hp->n_head) ||
              arch_u32_uniform(m, "attention.head_count_kv", tmp, hp->n_head, &hp->n_head_kv);
    /* sliding-window pattern: a period (il % period < period - 1 slides) or one flag per layer */
    uint32_t period = ad->swa_period;
    int have_pattern = 0;
    if (!bad && ad->swa) {
        char key[128];
        snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", a);
        int64_t ki = gguf_find_key(f, key);
        if (ki >= 0 && f->kv[ki].type == GGUF_T_ARRAY) {
            bad = arch_u32_layers(m, "attention.sliding_window_pattern", hp->n_layer, tmp) < 0;
            have_pattern = 1;
        } else if (ki >= 0 && !gguf_get_u32(f, key, &period)) {
            bad = WHY("%s must be a number or an array of block_count entries", key);
        }
    }
    if (bad) {
        free(tmp);
        return -1;
    }
    hp->swa_window = ad->swa ? arch_u32(f, a, "attention.sliding_window", 0) : 0;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        struct layer_hparams *L = &hp->layer[il];
        if (hp->swa_window) L->swa = have_pattern ? tmp[il] != 0 : period > 0 && il % period < period - 1;
        L->rope = !(ad->nope_step && (il + 1) % ad->nope_step == 0);
        hp->n_swa_layers += L->swa;
    }
    free(tmp);
    hp->rope_freq_base = arch_f32(f, a, "rope.freq_base", 10000.0f);
    hp->rope_freq_base_swa = ad->swa ? arch_f32(f, a, "rope.freq_base_swa", ad->swa_rope_base) : hp->rope_freq_base;
    hp->norm_eps = arch_f32(f, a, "attention.layer_norm_rms_epsilon", 1e-5f);
    hp->rope_attn_factor = arch_f32(f, a, "rope.scaling.attn_factor", 1.0f);
    hp->logit_softcap = ad->logit_softcap ? arch_f32(f, a, "final_logit_softcapping", 0.0f) : 0.0f;
    if (!hp->n_embd || !hp->n_ff || !hp->n_head || !hp->n_ctx_train)
        return WHY("missing or zero hyperparameter (%s.embedding_length, block_count, feed_forward_length, attention.head_count, context_length)", a);
    if (!hp->n_head_kv || hp->n_head % hp->n_head_kv || hp->n_head > 4096 || hp->n_embd > (1u << 20) || hp->n_ff > (1u << 22))
        return WHY("inconsistent attention hyperparameters (n_embd %u, n_head %u, n_head_kv %u, n_layer %u)", hp->n_embd,
                   hp->n_head, hp->n_head_kv, hp->n_layer);
    uint32_t hd_default = hp->n_embd % hp->n_head ? 0 : hp->n_embd / hp->n_head;
    hp->head_dim = arch_u32(f, a, "attention.key_length", hd_default);
    hp->head_dim_v = arch_u32(f, a, "attention.value_length", hp->head_dim);
    if (!hp->head_dim || hp->head_dim > 4096 || hp->head_dim % 2)
        return WHY("invalid head size %u (n_embd %u, n_head %u, attention.key_length)", hp->head_dim, hp->n_embd, hp->n_head);
    if (hp->head_dim_v != hp->head_dim)
        return WHY("key head size %u differs from value head size %u, which this engine does not support", hp->head_dim, hp->head_dim_v);
    hp->n_rot = arch_u32(f, a, "rope.dimension_count", hp->head_dim);
    if (hp->n_rot == 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return WHY("invalid rope dimension %u for head size %u", hp->n_rot, hp->head_dim);
    hp->n_ctx_orig = arch_u32(f, a, "rope.scaling.original_context_length", hp->n_ctx_train);
    /* linear rope scaling (the default type when a factor is given) on the global layers */
    {
        char key[128];
        struct gguf_str st;
        float factor = arch_f32(f, a, "rope.scaling.factor", arch_f32(f, a, "rope.scale_linear", 0.0f));
        snprintf(key, sizeof key, "%s.rope.scaling.type", a);
        int linear = !gguf_get_str(f, key, &st) || (st.len == 6 && !memcmp(st.ptr, "linear", 6));
        hp->rope_freq_scale = linear && factor > 0.0f ? 1.0f / factor : 1.0f;
    }
    if (!(hp->norm_eps > 0.0f && hp->norm_eps < 1.0f) || !(hp->rope_freq_base > 1.0f) || !(hp->rope_freq_base_swa > 1.0f) ||
        !(hp->rope_attn_factor > 0.0f && hp->rope_attn_factor < 100.0f) || !(hp->logit_softcap >= 0.0f))
        return WHY("invalid rms epsilon, rope base, rope attention factor or logit soft-cap");
    if (hp->n_swa_layers && hp->swa_window > (1u << 24)) return WHY("invalid sliding window %u", hp->swa_window);
    hp->rope_neox = ad->rope == ROPE_NEOX;
    hp->embd_scale = ad->embd_scale_sqrt ? sqrtf((float)hp->n_embd) : 1.0f;
    hp->attn_scale = ad->attn_scale == SCALE_GEMMA3 && hp->n_layer == 62 ? 1.0f / sqrtf((float)(hp->n_embd / hp->n_head))
                                                                         : 1.0f / sqrtf((float)hp->head_dim);
    return 0;
}

/* A view of rows [r0, r0 + n) of a bound matrix. */
static struct weight rows_view(const struct weight *w, int64_t r0, int64_t n) {
    struct weight v = *w;
    v.data = (const uint8_t *)w->data + (size_t)r0 * w->nb_row;
    v.ne[1] = n;
    return v;
}

static int bind_weights(struct edgellm_model *m) {
    const struct hparams *hp = &m->hp;
    const struct arch_desc *ad = hp->arch;
    int64_t n_vocab = vocab_n_tokens(m->vocab);
    int64_t e = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim, kv = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t ff = hp->n_ff, hd = hp->head_dim;
    char name[128];
    if (n_vocab <= 0) return WHY("the file has no vocabulary");
    if (bind(m, &m->tok_embd, "token_embd.weight", e, n_vocab, 1, 1)) return -1;
    if (bind(m, &m->output_norm, "output_norm.weight", e, 1, 0, 1)) return -1;
    if (bind(m, &m->output, "output.weight", e, n_vocab, 1, 0)) return -1;
    if (!m->output.data) m->output = m->tok_embd;
    if (ad->rope_factors == RF_LLAMA3 && bind(m, &m->rope_freqs, "rope_freqs.weight", hp->n_rot / 2, 1, 0, 0)) return -1;
    if (ad->rope_factors == RF_LONGROPE) {
        if (bind(m, &m->rope_long, "rope_factors_long.weight", hp->n_rot / 2, 1, 0, 0) ||
            bind(m, &m->rope_short, "rope_factors_short.weight", hp->n_rot / 2, 1, 0, 0))
            return -1;
        if (!m->rope_long.data != !m->rope_short.data) return WHY("only one of rope_factors_long / rope_factors_short is present");
    }
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) return WHY("out of memory");
    /* shapes (row length, rows) of every block tensor */
    const int64_t shape[AT_COUNT][2] = {
        [AT_ATTN_NORM] = {e, 1}, [AT_Q] = {e, q}, [AT_K] = {e, kv}, [AT_V] = {e, kv}, [AT_QKV] = {e, q + 2 * kv},
        [AT_O] = {q, e}, [AT_Q_BIAS] = {q, 1}, [AT_K_BIAS] = {kv, 1}, [AT_V_BIAS] = {kv, 1}, [AT_Q_NORM] = {hd, 1},
        [AT_K_NORM] = {hd, 1}, [AT_POST_ATTN_NORM] = {e, 1}, [AT_FFN_NORM] = {e, 1}, [AT_GATE] = {e, ff},
        [AT_UP] = {e, ff}, [AT_UP_GATE] = {e, 2 * ff}, [AT_DOWN] = {ff, e}, [AT_POST_FFN_NORM] = {e, 1},
    };
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        struct layer_weights *L = &m->layers[il];
        struct weight qkv, up_gate;
        struct weight *dst[AT_COUNT] = {
            [AT_ATTN_NORM] = &L->attn_norm, [AT_Q] = &L->wq, [AT_K] = &L->wk, [AT_V] = &L->wv, [AT_QKV] = &qkv,
            [AT_O] = &L->wo, [AT_Q_BIAS] = &L->bq, [AT_K_BIAS] = &L->bk, [AT_V_BIAS] = &L->bv,
            [AT_Q_NORM] = &L->q_norm, [AT_K_NORM] = &L->k_norm, [AT_POST_ATTN_NORM] = &L->post_attn_norm,
            [AT_FFN_NORM] = &L->ffn_norm, [AT_GATE] = &L->w_gate, [AT_UP] = &L->w_up, [AT_UP_GATE] = &up_gate,
            [AT_DOWN] = &L->w_down, [AT_POST_FFN_NORM] = &L->post_ffn_norm,
        };
        memset(&qkv, 0, sizeof qkv);
        memset(&up_gate, 0, sizeof up_gate);
        for (int t = 0; t < AT_COUNT; t++) {
            int req = (ad->required >> t) & 1, opt = (ad->optional >> t) & 1;
            if (!req && !opt) continue;
            int matrix = shape[t][1] > 1;
            snprintf(name, sizeof name, "blk.%u.%s", il, arch_layer_tensors[t]);
            if (bind(m, dst[t], name, shape[t][0], shape[t][1], matrix, req)) return -1;
        }
        if (qkv.data) {
            L->wq = rows_view(&qkv, 0, q);
            L->wk = rows_view(&qkv, q, kv);
            L->wv = rows_view(&qkv, q + kv, kv);
        }
        if (!L->wq.data || !L->wk.data || !L->wv.data)
            return WHY("block %u has neither blk.%u.attn_qkv.weight nor all of attn_q/attn_k/attn_v", il, il);
        if (up_gate.data) {
            L->w_gate = rows_view(&up_gate, 0, ff);
            L->w_up = rows_view(&up_gate, ff, ff);
        }
    }
    return 0;
}

/* Repacks, in memory, the matrices the active kernels decode faster row-interleaved
 * (kern_repack_wanted), one after another on n_threads threads, releasing each one's pages of
 * the mapping as it goes (peak memory about one copy of the model). Weights sharing a tensor
 * (tied output and embedding) share the copy. EDGELLM_REPACK=0 keeps every weight in the
 * mapping. Returns 0, or -1 when out of memory (the model then stays as mapped). */
static int repack_weights(struct edgellm_model *m, int n_threads) {
    const char *env = getenv("EDGELLM_REPACK");
    if (env && !strcmp(env, "0")) return 0;
    const uint32_t nl = m->hp.n_layer;
    const size_t nw = (size_t)nl * 7 + 2;
    struct weight **ws = malloc(nw * sizeof *ws);
    if (!ws) return -1;
    size_t n = 0, total = 0;
    for (uint32_t il = 0; il < nl; il++) {
        struct layer_weights *L = &m->layers[il];
        struct weight *lw[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (int i = 0; i < 7; i++) ws[n++] = lw[i];
    }
    ws[n++] = &m->output;
    ws[n++] = &m->tok_embd; /* repacked only when it is the output too */
    const int tied = m->output.data == m->tok_embd.data;
    for (size_t i = 0; i < n; i++) {
        int first = kern_repack_wanted(ws[i]) && (ws[i] != &m->tok_embd || tied);
        for (size_t j = 0; first && j < i; j++) first = ws[j]->data != ws[i]->data;
        if (first) total += kern_repack_bytes(ws[i]);
    }
    if (!total) {
        free(ws);
        return 0;
    }
    char *dst = os_alloc_big(total);
    struct threadpool *tp = tp_new(n_threads > 0 ? n_threads : os_n_cores());
    if (!dst || !tp) {
        os_free_big(dst, total);
        tp_free(tp);
        free(ws);
        return -1;
    }
    m->repacked = dst;
    m->repacked_size = total;
    for (size_t i = 0; i < n; i++) {
        if (ws[i]->layout != KERN_LAYOUT_ROWS || !kern_repack_wanted(ws[i]) || (ws[i] == &m->tok_embd && !tied)) continue;
        const void *src = ws[i]->data;
        kern_repack_weight(tp, m->gguf->os_map, ws[i], dst);
        for (size_t j = i; j < n; j++)
            if (ws[j]->data == src) {
                ws[j]->data = dst;
                ws[j]->layout = KERN_LAYOUT_X4;
            }
        dst += kern_repack_bytes(ws[i]);
    }
    tp_free(tp);
    free(ws);
    return 0;
}

static void type_histogram(struct edgellm_model *m) {
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        uint32_t t = m->gguf->tensors[i].type;
        int j;
        for (j = 0; j < m->n_type_hist; j++)
            if (m->type_hist_type[j] == t) break;
        if (j == m->n_type_hist) {
            if (j == 64) continue;
            m->type_hist_type[j] = t;
            m->type_hist_count[j] = 0;
            m->n_type_hist++;
        }
        m->type_hist_count[j]++;
    }
}

/* The identity of a model file: its metadata and tensor table (every byte before the tensor
 * data) and a sample of every tensor's bytes (start, middle, end), so that a fine-tune with the
 * same shapes is another model. Sequence states carry it. */
static uint64_t model_identity(const struct gguf_file *f) {
    uint64_t h = util_hash64(f->base, (size_t)(f->data_offset < f->size ? f->data_offset : f->size), 0x1de7);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        const uint8_t *d = t->data;
        uint64_t n = t->nbytes, k = n < 64 ? n : 64;
        h = util_hash64(d, (size_t)k, h);
        h = util_hash64(d + (n - k) / 2, (size_t)k, h);
        h = util_hash64(d + (n - k), (size_t)k, h);
    }
    return h;
}

/* The model params of a caller, checked. */
static edgellm_status model_params_in(const struct edgellm_model_params *params, struct edgellm_model_params *p,
                                      struct edgellm_model **out, char *err, size_t err_size) {
    *p = edgellm_model_default_params();
    if (!out) return util_errf(err, err_size, EDGELLM_ERR_ARG, "no place for the model (out is NULL)");
    *out = NULL;
    if (util_params_in(p, sizeof *p, params, MODEL_PARAMS_SIZE_1_0) != EDGELLM_OK || !UTIL_GROWN_OK(*p))
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "model params: struct_size %u is not a known layout",
                         params ? (unsigned)params->struct_size : 0u);
    if (p->n_threads < 0 || p->n_threads > 1024)
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "model params: n_threads %d out of range", p->n_threads);
    return EDGELLM_OK;
}

/* Builds a model over an opened GGUF file (whose mapping it then owns, closed with the model,
 * also on failure). label names the source in messages (the path, "memory buffer", ...). The
 * one path every loader (path, fd, memory) goes through. */
static edgellm_status model_build(struct gguf_file *g, const struct edgellm_model_params *pp, const char *label,
                                  struct edgellm_model **out, char *err, size_t err_size) {
    struct edgellm_model_params p = *pp;
    struct edgellm_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(g);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    }
    m->gguf = g;
    m->n_threads = p.n_threads > 0 ? p.n_threads : os_n_cores();
    struct gguf_str s;
    static const struct gguf_str empty = {"", 0};
    m->arch_name = dup_str(gguf_get_str(m->gguf, "general.architecture", &s) ? s : empty);
    m->name = dup_str(gguf_get_str(m->gguf, "general.name", &s) ? s : empty);
    m->chat_template = gguf_get_str(m->gguf, "tokenizer.chat_template", &s) ? dup_str(s) : NULL;
    if (!m->arch_name || !m->name || (gguf_find_key(m->gguf, "tokenizer.chat_template") >= 0 && !m->chat_template)) {
        edgellm_model_free(m);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    }
    type_histogram(m);
    m->meta_keys = calloc(m->gguf->n_kv + 1, sizeof(char *));
    for (uint64_t i = 0; m->meta_keys && i < m->gguf->n_kv; i++)
        if (!(m->meta_keys[i] = dup_str(m->gguf->kv[i].key))) break;
    if (!m->meta_keys || (m->gguf->n_kv && !m->meta_keys[m->gguf->n_kv - 1])) {
        edgellm_model_free(m);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    }
    edgellm_status st = vocab_load(m->gguf, &m->vocab, err, err_size);
    if (st) {
        edgellm_model_free(m);
        return st;
    }
    m->supported = read_hparams(m) == 0 && bind_weights(m) == 0;
    if (!p.vocab_only && !m->supported) {
        util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "%s: %s", label, m->unsupported_why);
        edgellm_model_free(m);
        return EDGELLM_ERR_UNSUPPORTED;
    }
    m->identity = model_identity(m->gguf);
    /* use_mlock: a failure is a warning on the model, not a load error (the weights still work
     * from the page cache) */
    if (p.use_mlock && m->gguf->os_map) os_map_lock(m->gguf->os_map, m->warning, sizeof m->warning);
    if (!p.vocab_only && repack_weights(m, p.n_threads)) {
        util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory repacking the weights of %s", label);
        edgellm_model_free(m);
        return EDGELLM_ERR_NOMEM;
    }
    *out = m;
    return EDGELLM_OK;
}

/* Parses data[0..size) (owned by map when map is not NULL) as GGUF; when a tensor's data would be
 * less than 16-byte aligned (a buffer at an odd address), parses an aligned heap copy instead, so
 * the kernels never see a misaligned weight. On success the file owns the mapping or copy. */
static edgellm_status model_open_mem(const void *data, uint64_t size, struct os_map *map, const char *label,
                                     struct gguf_file **out, char *err, size_t err_size) {
    edgellm_status st = gguf_open_mem(data, size, 1, out, err, err_size);
    int misaligned = 0;
    for (uint64_t i = 0; !st && i < (*out)->n_tensors; i++) misaligned |= ((uintptr_t)(*out)->tensors[i].data % 16) != 0;
    if (!st && misaligned) {
        struct os_map *copy = NULL;
        gguf_close(*out);
        *out = NULL;
        st = os_map_copy(data, size, &copy, err, err_size);
        os_unmap(map);
        if (st) return st;
        map = copy;
        st = gguf_open_mem(os_map_data(copy), size, 1, out, err, err_size);
    }
    if (st) {
        os_unmap(map);
        char why[384];
        snprintf(why, sizeof why, "%s", err);
        return util_errf(err, err_size, st, "%s: %s", label, why);
    }
    (*out)->os_map = map;
    return EDGELLM_OK;
}

/* The three loaders: the map (a path, size bytes at offset of fd, or data in memory), then the build. */
enum model_src { SRC_PATH, SRC_FD, SRC_MEM };

static edgellm_status model_load_from(enum model_src src, const char *path, int fd, const void *data, uint64_t offset,
                                      uint64_t size, const struct edgellm_model_params *params,
                                      struct edgellm_model **out, char *err, size_t err_size) {
    struct edgellm_model_params p;
    char tmp[512], label[64];
    if (!err || !err_size) {
        err = tmp;
        err_size = sizeof tmp;
    }
    err[0] = 0;
    edgellm_status st = model_params_in(params, &p, out, err, err_size);
    if (st) return st;
    struct gguf_file *g;
    struct os_map *map;
    switch (src) {
    case SRC_PATH:
        if (!path) return util_errf(err, err_size, EDGELLM_ERR_ARG, "no model path given");
        if ((st = gguf_open(path, 1, &g, err, err_size))) return st;
        return model_build(g, &p, path, out, err, err_size);
    case SRC_MEM:
        if (!data) return util_errf(err, err_size, EDGELLM_ERR_ARG, "no model data given");
        if ((st = model_open_mem(data, size, NULL, "memory buffer", &g, err, err_size))) return st;
        return model_build(g, &p, "memory buffer", out, err, err_size);
    case SRC_FD:
        if ((st = os_map_fd(fd, offset, size, &map, err, err_size))) return st;
        snprintf(label, sizeof label, "file descriptor %d at offset %llu", fd, (unsigned long long)offset);
        if ((st = model_open_mem(os_map_data(map), os_map_size(map), map, label, &g, err, err_size))) return st;
        return model_build(g, &p, label, out, err, err_size);
    }
    return EDGELLM_ERR_ARG;
}

edgellm_status edgellm_model_load(const char *path, const struct edgellm_model_params *params,
                                  struct edgellm_model **out, char *err, size_t err_size) {
    return model_load_from(SRC_PATH, path, -1, NULL, 0, 0, params, out, err, err_size);
}

edgellm_status edgellm_model_load_mem(const void *data, size_t size, const struct edgellm_model_params *params,
                                      struct edgellm_model **out, char *err, size_t err_size) {
    return model_load_from(SRC_MEM, NULL, -1, data, 0, size, params, out, err, err_size);
}

edgellm_status edgellm_model_load_fd(int fd, uint64_t offset, uint64_t size, const struct edgellm_model_params *params,
                                     struct edgellm_model **out, char *err, size_t err_size) {
    return model_load_from(SRC_FD, NULL, fd, NULL, offset, size, params, out, err, err_size);
}

void edgellm_model_free(struct edgellm_model *m) {
    if (!m) return;
    vocab_free(m->vocab);
    if (m->meta_keys)
        for (uint64_t i = 0; i < m->gguf->n_kv; i++) free(m->meta_keys[i]);
    free(m->meta_keys);
    gguf_close(m->gguf);
    os_free_big(m->repacked, m->repacked_size);
    free(m->layers);
    free(m->hp.layer);
    free(m->arch_name);
    free(m->name);
    free(m->chat_template);
    free(m);
}

const char *edgellm_model_warning(const struct edgellm_model *m) { return m ? m->warning : ""; }

int32_t edgellm_model_n_vocab(const struct edgellm_model *m) { return m ? vocab_n_tokens(m->vocab) : 0; }

edgellm_status edgellm_model_describe(const struct edgellm_model *m, struct edgellm_model_desc *out) {
    if (!m) return EDGELLM_ERR_ARG;
    struct edgellm_model_desc full, *d = &full; /* filled here, then copied up to out->struct_size */
    memset(d, 0, sizeof *d);
    d->struct_size = (uint32_t)sizeof *d;
    const struct gguf_file *f = m->gguf;
    d->arch = m->arch_name;
    d->name = m->name;
    d->gguf_version = f->version;
    d->file_size = f->size;
    d->alignment = (uint32_t)f->alignment;
    d->n_tensors = f->n_tensors;
    d->n_kv = f->n_kv;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        d->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    /* hyperparameters as the file states them (even for architectures we cannot run) */
    d->n_ctx_train = arch_u32(f, m->arch_name, "context_length", 0);
    d->n_embd = arch_u32(f, m->arch_name, "embedding_length", 0);
    d->n_layer = arch_u32(f, m->arch_name, "block_count", 0);
    d->n_ff = arch_u32(f, m->arch_name, "feed_forward_length", 0);
    d->n_head = arch_u32(f, m->arch_name, "attention.head_count", 0);
    d->n_head_kv = arch_u32(f, m->arch_name, "attention.head_count_kv", d->n_head);
    d->head_dim = d->n_head ? arch_u32(f, m->arch_name, "attention.key_length", d->n_embd / d->n_head) : 0;
    d->n_rot = arch_u32(f, m->arch_name, "rope.dimension_count", d->head_dim);
    d->rope_freq_base = arch_f32(f, m->arch_name, "rope.freq_base", 10000.0f);
    d->norm_eps = arch_f32(f, m->arch_name, "attention.layer_norm_rms_epsilon", 1e-5f);
    d->has_rope_freqs = gguf_find_tensor(f, "rope_freqs.weight") != NULL;
    d->tied_output = gguf_find_tensor(f, "output.weight") == NULL;
    d->supported = m->supported;
    d->unsupported_why = m->supported ? "" : m->unsupported_why;
    d->n_vocab = vocab_n_tokens(m->vocab);
    d->tokenizer_model = vocab_model_name(m->vocab);
    d->tokenizer_pre = vocab_pre_name(m->vocab);
    d->bos = vocab_bos(m->vocab);
    d->eos = vocab_eos(m->vocab);
    d->eot = vocab_eot(m->vocab);
    d->pad = vocab_pad(m->vocab);
    d->unk = vocab_unk(m->vocab);
    d->add_bos = vocab_add_bos(m->vocab);
    d->add_eos = vocab_add_eos(m->vocab);
    d->chat_template = m->chat_template;
    const struct arch_desc *ad = arch_find(m->arch_name);
    d->family = ad ? ad->name : "";
    d->head_dim_v = d->n_head ? arch_u32(f, m->arch_name, "attention.value_length", d->head_dim) : 0;
    d->rope_neox = ad && ad->rope == ROPE_NEOX;
#ifdef EDGELLM_TEST_GROW_STRUCTS
    d->test_grown = 0x5a5a5a5a5a5a5a5aULL; /* tests/abi: must not reach a 1.0 caller */
#endif
    return util_struct_out(out, d, sizeof *d, MODEL_DESC_SIZE_1_0);
}

edgellm_status edgellm_model_layer(const struct edgellm_model *m, uint32_t il, struct edgellm_layer_desc *out) {
    if (!out || out->struct_size < LAYER_DESC_SIZE_1_0) return EDGELLM_ERR_ARG;
    if (!m || !m->supported || il >= m->hp.n_layer) return EDGELLM_ERR_ARG;
    const struct layer_hparams *L = &m->hp.layer[il];
    struct edgellm_layer_desc r;
    memset(&r, 0, sizeof r);
    r.struct_size = out->struct_size;
    r.swa = L->swa;
    r.window = L->swa ? m->hp.swa_window : 0;
    r.rope = L->rope;
    r.rope_freq_base = L->swa ? m->hp.rope_freq_base_swa : m->hp.rope_freq_base;
#ifdef EDGELLM_TEST_GROW_STRUCTS
    r.test_grown = 0x5a5a5a5au;
#endif
    return util_struct_out(out, &r, sizeof r, LAYER_DESC_SIZE_1_0);
}


static uint64_t weight_bytes(const struct weight *w) { return w->data ? (uint64_t)w->nb_row * (uint64_t)w->ne[1] : 0; }

uint64_t edgellm_model_weight_bytes_per_token(const struct edgellm_model *m) {
    if (!m || !m->supported || !m->layers) return 0;
    uint64_t b = weight_bytes(&m->output); /* also when it is the tied embedding table */
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        const struct layer_weights *L = &m->layers[il];
        const struct weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) b += weight_bytes(ws[i]);
    }
    return b;
}


int edgellm_model_n_tensor_types(const struct edgellm_model *m) { return m ? m->n_type_hist : 0; }

const char *edgellm_model_tensor_type(const struct edgellm_model *m, int i, uint64_t *count) {
    if (!m || i < 0 || i >= m->n_type_hist) return NULL;
    if (count) *count = m->type_hist_count[i];
    const char *n = qtype_name(m->type_hist_type[i]);
    return n ? n : "unknown";
}

const char *edgellm_model_meta_key(const struct edgellm_model *m, uint64_t i) {
    return m && i < m->gguf->n_kv ? m->meta_keys[i] : NULL;
}

int edgellm_model_meta_value(const struct edgellm_model *m, uint64_t i, char *buf, size_t size) {
    if (!m || i >= m->gguf->n_kv || (size && !buf)) {
        if (size && buf) buf[0] = 0;
        return -EDGELLM_ERR_ARG;
    }
    return gguf_kv_format(&m->gguf->kv[i], buf, size);
}

edgellm_status edgellm_model_meta_str(const struct edgellm_model *m, const char *key, char *buf, size_t size, size_t *needed) {
    if (needed) *needed = 0;
    if (size && buf) buf[0] = 0;
    if (!m || !key || (size && !buf)) return EDGELLM_ERR_ARG;
    int64_t i = gguf_find_key(m->gguf, key);
    if (i < 0) return EDGELLM_ERR_NOT_FOUND;
    int n = gguf_kv_format(&m->gguf->kv[i], buf, size);
    if (n < 0) return EDGELLM_ERR_FORMAT;
    if (needed) *needed = (size_t)n + 1;
    return (size_t)n + 1 > size ? EDGELLM_ERR_BUFFER_TOO_SMALL : EDGELLM_OK;
}
