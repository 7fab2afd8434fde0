/* Context lifecycle: edgellm_context_new sizes and allocates every buffer a decode needs (the KV
 * cache: per sequence, per layer n_ctx rows, or a ring on sliding-window layers; micro-batch activations, matmul and attention scratch, logits
 * rows); sequences, logits access, and the KV cache row codec. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "core/os.h"
#include "core/threadpool.h"
#include "core/util.h"
#include "kernels/kernels.h"
#include "model/context.h"
#include "model/model.h"
#include "quant/qtypes.h"
#include "text/vocab.h"

edgellm_status ctx_fail(struct edgellm_context *c, edgellm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return st;
}

/* The 1.0 layout (include/edgellm.h): a caller's struct_size must reach at least this far. */
#define CONTEXT_PARAMS_SIZE_1_0 UTIL_END_OF(struct edgellm_context_params, logits_all)
#ifndef EDGELLM_TEST_GROW_STRUCTS
_Static_assert(CONTEXT_PARAMS_SIZE_1_0 == sizeof(struct edgellm_context_params), "1.0 layout ends in padding");
#endif

const char *edgellm_context_errmsg(const struct edgellm_context *c) { return c ? c->errmsg : "no context"; }
uint32_t edgellm_context_n_ctx(const struct edgellm_context *c) { return c->n_ctx; }
uint32_t edgellm_context_n_batch(const struct edgellm_context *c) { return c->n_batch; }

void edgellm_context_set_abort(struct edgellm_context *c, edgellm_abort_fn fn, void *user) {
    c->abort_fn = fn;
    c->abort_user = user;
}

void edgellm_context_set_activation_hook(struct edgellm_context *c, edgellm_activation_fn fn, void *user) {
    if (!c) return;
    c->act_fn = fn;
    c->act_user = user;
}

void ctx_activation(struct edgellm_context *c, int32_t il, const char *role, const float *x, int n, int64_t ncols) {
    if (!c->act_fn || n <= 0) return;
    char name[96];
    if (il >= 0) snprintf(name, sizeof name, "blk.%d.%s.weight", (int)il, role);
    else snprintf(name, sizeof name, "%s", c->model->output.data == c->model->tok_embd.data ? "token_embd.weight" : "output.weight");
    c->act_fn(c->act_user, name, x, n, ncols);
}

/* The one allocator of context buffers: counts what it allocates (edgellm_context_memory_size). */
static void *xalloc(size_t n, uint64_t *total) {
    *total += n ? n : 1;
    return calloc(1, n ? n : 1);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Every buffer of a context, in one table, so that edgellm_context_memory_needed and
 * edgellm_context_new size them by the same rule. */
enum ctx_buf {
    CB_K_CACHE, CB_V_CACHE, CB_SEQ_LEN, CB_TOKENS, CB_X, CB_XN, CB_Q, CB_K, CB_V, CB_ATT, CB_GATE, CB_UP,
    CB_ROPE, CB_OUT_ROWS, CB_UB_POS, CB_UB_SEQ, CB_LOGITS, CB_MM, CB_ATT_SCRATCH, CB_ATT_PART, CB_SEQ_HI,
    CB_LAYER_OFF, CB_LAYER_ROWS, CB_SEQ_RING_LO, CB_COUNT
};

struct ctx_plan {
    uint32_t n_ctx, n_seq, n_batch, n_ub, n_out_max, kv_qtype;
    uint32_t kv_ring;   /* rows of a sliding layer's ring (0: no sliding layers) */
    size_t seq_rows;    /* cache rows of one sequence over all layers */
    int n_threads;
    size_t kv_row_bytes, att_scratch_stride;
    size_t size[CB_COUNT];
};

/* Checks the params against the model and sizes every buffer. */
static edgellm_status ctx_plan_make(const struct edgellm_model *model, const struct edgellm_context_params *params,
                                    struct edgellm_context_params *pout, struct ctx_plan *pl, char *err, size_t err_size) {
    struct edgellm_context_params p = edgellm_context_default_params();
    memset(pl, 0, sizeof *pl);
    if (!model) return util_errf(err, err_size, EDGELLM_ERR_ARG, "no model");
    if (util_params_in(&p, sizeof p, params, CONTEXT_PARAMS_SIZE_1_0) != EDGELLM_OK || !UTIL_GROWN_OK(p))
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "context params: struct_size %u is not a known layout",
                         params ? (unsigned)params->struct_size : 0u);
    if (!model->supported) {
        return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "this model cannot be run: %s", model->unsupported_why);
    }
    if (kern_isa_error()) return util_errf(err, err_size, EDGELLM_ERR_ARG, "%s", kern_isa_error());
    const struct hparams *hp = &model->hp;
    uint32_t n_ctx = p.n_ctx ? p.n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    uint32_t n_seq = p.n_seq ? p.n_seq : 1;
    uint32_t n_batch = p.n_batch ? p.n_batch : 512;
    int n_threads = p.n_threads > 0 ? p.n_threads : os_n_cores();
    if (n_ctx > (1u << 24) || n_seq > 256 || n_batch > (1u << 24) || n_threads > 1024 || p.n_threads < 0) {
        return util_errf(err, err_size, EDGELLM_ERR_ARG,
                         "context parameters out of range (n_ctx %u, n_seq %u, n_batch %u, threads %d)", n_ctx, n_seq,
                         n_batch, p.n_threads);
    }
    uint32_t kv_qtype;
    switch (p.kv_type) {
    case EDGELLM_KV_F16: kv_qtype = QT_F16; break;
    case EDGELLM_KV_F32: kv_qtype = QT_F32; break;
    case EDGELLM_KV_Q8_0: kv_qtype = QT_Q8_0; break;
    default: return util_errf(err, err_size, EDGELLM_ERR_ARG, "unknown KV cache type %d", (int)p.kv_type);
    }
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    if (kv_qtype == QT_Q8_0 && hp->head_dim % QK8_0) {
        return util_errf(err, err_size, EDGELLM_ERR_ARG,
                         "a q8_0 KV cache needs a head size that is a multiple of 32 (it is %u)", hp->head_dim);
    }
    pl->n_ctx = n_ctx;
    pl->n_seq = n_seq;
    pl->n_batch = n_batch;
    pl->n_ub = n_batch < UBATCH ? n_batch : UBATCH;
    pl->n_out_max = p.logits_all ? n_batch : n_seq;
    if (pl->n_out_max > n_batch) pl->n_out_max = n_batch;
    pl->n_threads = n_threads;
    pl->kv_qtype = kv_qtype;
    pl->kv_row_bytes = qtype_row_size(kv_qtype, (int64_t)kv_dim);
    size_t ub = pl->n_ub, e = hp->n_embd, qd = (size_t)hp->n_head * hp->head_dim, *sz = pl->size;
    /* sliding layers: a ring of window + n_batch rows covers every key a micro-batch can see */
    uint64_t ring = (uint64_t)hp->swa_window + n_batch;
    pl->kv_ring = hp->n_swa_layers ? (uint32_t)(ring < n_ctx ? ring : n_ctx) : 0;
    for (uint32_t il = 0; il < hp->n_layer; il++) pl->seq_rows += hp->layer[il].swa ? pl->kv_ring : n_ctx;
    sz[CB_K_CACHE] = sz[CB_V_CACHE] = (size_t)n_seq * pl->seq_rows * pl->kv_row_bytes;
    sz[CB_SEQ_HI] = sz[CB_SEQ_RING_LO] = n_seq * sizeof(uint32_t);
    sz[CB_LAYER_OFF] = hp->n_layer * sizeof(size_t);
    sz[CB_LAYER_ROWS] = hp->n_layer * sizeof(uint32_t);
    sz[CB_SEQ_LEN] = n_seq * sizeof(uint32_t);
    sz[CB_TOKENS] = (size_t)n_seq * n_ctx * sizeof(edgellm_token);
    sz[CB_X] = sz[CB_XN] = sz[CB_OUT_ROWS] = ub * e * sizeof(float);
    sz[CB_Q] = sz[CB_ATT] = ub * qd * sizeof(float);
    sz[CB_K] = sz[CB_V] = ub * kv_dim * sizeof(float);
    sz[CB_GATE] = sz[CB_UP] = ub * hp->n_ff * sizeof(float);
    sz[CB_ROPE] = 2 * ub * hp->n_rot * sizeof(float);
    sz[CB_UB_POS] = sz[CB_UB_SEQ] = ub * sizeof(int32_t);
    sz[CB_LOGITS] = (size_t)pl->n_out_max * (size_t)vocab_n_tokens(model->vocab) * sizeof(float);
    size_t mm = 0;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const struct layer_weights *L = &model->layers[il];
        const struct weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            mm = max_sz(mm, kern_matmul_scratch_size(ws[i]->type, ws[i]->ne[0], (int)ub, (int)n_threads));
    }
    mm = max_sz(mm, kern_matmul_scratch_size(model->output.type, model->output.ne[0], (int)ub, (int)n_threads));
    sz[CB_MM] = mm;
    uint32_t gq = hp->n_head / hp->n_head_kv;
    size_t nq = (size_t)ATT_TILE * gq;
    /* attn_tile: q tile, K and V chunks, scores, max/sum/corr, output, lo/hi (int32, float-sized) */
    pl->att_scratch_stride = nq * hp->head_dim + 2 * ATT_CHUNK * (size_t)hp->head_dim + nq * ATT_CHUNK + 3 * nq +
                             nq * hp->head_dim + 2 * nq + 16;
    sz[CB_ATT_SCRATCH] = (size_t)n_threads * pl->att_scratch_stride * sizeof(float);
    size_t n_seg = (size_t)n_threads < ATT_MAX_SEG ? (size_t)n_threads : ATT_MAX_SEG;
    sz[CB_ATT_PART] = (size_t)hp->n_head_kv * n_seg * gq * (hp->head_dim + 2) * sizeof(float);
    if (pout) *pout = p;
    return EDGELLM_OK;
}

/* The bytes a plan allocates: every buffer (as xalloc counts it) and the context itself. */
static uint64_t ctx_plan_bytes(const struct ctx_plan *pl) {
    uint64_t total = sizeof(struct edgellm_context);
    for (int i = 0; i < CB_COUNT; i++) total += pl->size[i] ? pl->size[i] : 1;
    return total;
}

edgellm_status edgellm_context_memory_needed(const struct edgellm_model *model, const struct edgellm_context_params *params,
                                             uint64_t *bytes) {
    struct ctx_plan pl;
    if (!bytes) return EDGELLM_ERR_ARG;
    *bytes = 0;
    edgellm_status st = ctx_plan_make(model, params, NULL, &pl, NULL, 0);
    if (st) return st;
    *bytes = ctx_plan_bytes(&pl);
    return EDGELLM_OK;
}

uint64_t edgellm_context_memory_size(const struct edgellm_context *c) { return c ? c->mem_bytes : 0; }

edgellm_status edgellm_context_new(struct edgellm_model *model, const struct edgellm_context_params *params,
                                   struct edgellm_context **out, char *err, size_t err_size) {
    struct edgellm_context_params p;
    struct ctx_plan pl;
    char tmp[256];
    if (!err || !err_size) {
        err = tmp;
        err_size = sizeof tmp;
    }
    err[0] = 0;
    if (!out || !model) return util_errf(err, err_size, EDGELLM_ERR_ARG, "no model or no place for the context");
    *out = NULL;
    edgellm_status st = ctx_plan_make(model, params, &p, &pl, err, err_size);
    if (st) return st;
    struct edgellm_context *c = calloc(1, sizeof *c);
    if (!c) {
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    }
    c->mem_bytes = sizeof *c;
    c->model = model;
    c->n_ctx = pl.n_ctx;
    c->n_seq = pl.n_seq;
    c->n_batch = pl.n_batch;
    c->n_ub = pl.n_ub;
    c->n_out_max = pl.n_out_max;
    c->n_threads = c->n_threads_max = pl.n_threads;
    c->kv_type = p.kv_type;
    c->kv_qtype = pl.kv_qtype;
    c->kv_row_bytes = pl.kv_row_bytes;
    c->att_scratch_stride = pl.att_scratch_stride;
    void **dst[CB_COUNT] = {
        [CB_K_CACHE] = (void **)&c->k_cache, [CB_V_CACHE] = (void **)&c->v_cache, [CB_SEQ_LEN] = (void **)&c->seq_len,
        [CB_TOKENS] = (void **)&c->tokens, [CB_X] = (void **)&c->x, [CB_XN] = (void **)&c->xn, [CB_Q] = (void **)&c->q,
        [CB_K] = (void **)&c->k, [CB_V] = (void **)&c->v, [CB_ATT] = (void **)&c->att, [CB_GATE] = (void **)&c->gate,
        [CB_UP] = (void **)&c->up, [CB_ROPE] = (void **)&c->rope_cache, [CB_OUT_ROWS] = (void **)&c->out_rows,
        [CB_UB_POS] = (void **)&c->ub_pos, [CB_UB_SEQ] = (void **)&c->ub_seq, [CB_LOGITS] = (void **)&c->logits,
        [CB_MM] = &c->mm_scratch, [CB_ATT_SCRATCH] = (void **)&c->att_scratch, [CB_ATT_PART] = (void **)&c->att_part,
        [CB_SEQ_HI] = (void **)&c->seq_hi, [CB_LAYER_OFF] = (void **)&c->layer_off, [CB_LAYER_ROWS] = (void **)&c->layer_rows,
        [CB_SEQ_RING_LO] = (void **)&c->seq_ring_lo,
    };
    int ok = 1;
    for (int i = 0; i < CB_COUNT; i++) ok &= (*dst[i] = xalloc(pl.size[i], &c->mem_bytes)) != NULL;
    const struct hparams *hp = &model->hp;
    c->kv_ring = pl.kv_ring;
    c->kv_bytes = pl.size[CB_K_CACHE] + pl.size[CB_V_CACHE];
    for (uint32_t il = 0; ok && il < hp->n_layer; il++) {
        c->layer_off[il] = c->seq_rows;
        c->layer_rows[il] = hp->layer[il].swa ? c->kv_ring : c->n_ctx;
        c->seq_rows += c->layer_rows[il];
    }
    /* LongRoPE: the long factors when the context is longer than the original one, for its whole life */
    c->rope_factors = model->rope_freqs.data ? model->rope_freqs.data
                      : model->rope_long.data ? (c->n_ctx > hp->n_ctx_orig ? model->rope_long.data : model->rope_short.data)
                                              : NULL;
    c->tp = tp_new(pl.n_threads);
    if (!ok || !c->tp) {
        util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory allocating %.1f MiB for the context (n_ctx %u x %u sequences)",
                  (double)ctx_plan_bytes(&pl) / (1024.0 * 1024.0), pl.n_ctx, pl.n_seq);
        edgellm_context_free(c);
        return EDGELLM_ERR_NOMEM;
    }
    *out = c;
    return EDGELLM_OK;
}

void edgellm_context_free(struct edgellm_context *c) {
    if (!c) return;
    tp_free(c->tp);
    free(c->k_cache);
    free(c->v_cache);
    free(c->seq_len);
    free(c->tokens);
    free(c->x);
    free(c->xn);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->gate);
    free(c->up);
    free(c->rope_cache);
    free(c->out_rows);
    free(c->ub_pos);
    free(c->ub_seq);
    free(c->logits);
    free(c->mm_scratch);
    free(c->att_scratch);
    free(c->att_part);
    free(c->seq_hi);
    free(c->layer_off);
    free(c->layer_rows);
    free(c->seq_ring_lo);
    free(c);
}

edgellm_status edgellm_context_set_threads(struct edgellm_context *c, int32_t n_threads) {
    if (!c) return EDGELLM_ERR_ARG;
    if (n_threads < 0 || n_threads > c->n_threads_max)
        return ctx_fail(c, EDGELLM_ERR_ARG, "%d threads: the context was created for 1..%d", (int)n_threads, c->n_threads_max);
    int n = n_threads ? (int)n_threads : c->n_threads_max;
    if (tp_set_active(c->tp, n)) return ctx_fail(c, EDGELLM_ERR_ARG, "cannot use %d threads", n);
    c->n_threads = n;
    return EDGELLM_OK;
}

uint32_t edgellm_context_seq_len(const struct edgellm_context *c, int32_t seq) {
    return seq >= 0 && (uint32_t)seq < c->n_seq ? c->seq_len[seq] : 0;
}

edgellm_status edgellm_context_seq_truncate(struct edgellm_context *c, int32_t seq, uint32_t n_keep) {
    if (seq < 0 || (uint32_t)seq >= c->n_seq) return ctx_fail(c, EDGELLM_ERR_ARG, "sequence %d out of range (0..%u)", seq, c->n_seq - 1);
    if (n_keep < c->seq_len[seq]) c->seq_len[seq] = n_keep;
    /* the sliding layers' rings no longer hold the window before n_keep: evaluate again from 0
     * (the caller reads edgellm_context_seq_len to learn where to resume) */
    if (!kv_ring_covers(c, seq, c->seq_len[seq])) c->seq_len[seq] = 0;
    if (!c->seq_len[seq]) c->seq_hi[seq] = c->seq_ring_lo[seq] = 0;
    return EDGELLM_OK;
}

int kv_ring_covers(const struct edgellm_context *c, int32_t seq, uint32_t p) {
    if (!c->kv_ring || !p) return 1;
    uint32_t w = c->model->hp.swa_window, need = p > w ? p - w : 0; /* llama.cpp's threshold: p - window */
    uint32_t hi = c->seq_hi[seq], lo = hi > c->kv_ring ? hi - c->kv_ring : 0;
    if (lo < c->seq_ring_lo[seq]) lo = c->seq_ring_lo[seq];
    return need >= lo;
}

const float *edgellm_context_logits(const struct edgellm_context *c, int32_t i) {
    if (i < 0 || i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * (size_t)vocab_n_tokens(c->model->vocab);
}

uint8_t *kv_row(const struct edgellm_context *c, uint8_t *cache, int32_t seq, uint32_t il, uint32_t pos) {
    size_t row = (size_t)seq * c->seq_rows + c->layer_off[il] + pos % c->layer_rows[il];
    return cache + row * c->kv_row_bytes;
}

void kv_store(const struct edgellm_context *c, uint8_t *dst, const float *src, int64_t n) {
    if (c->kv_qtype == QT_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else kern_active()->quantize[c->kv_qtype] ? kern_active()->quantize[c->kv_qtype](src, dst, n)
                                              : qtype_get(c->kv_qtype)->from_float(src, dst, n);
}

void kv_load(const struct edgellm_context *c, const uint8_t *src, float *dst, int64_t n) {
    if (c->kv_qtype == QT_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else kern_active()->to_float[c->kv_qtype] ? kern_active()->to_float[c->kv_qtype](src, dst, n)
                                              : qtype_get(c->kv_qtype)->to_float(src, dst, n);
}


void kv_set_token(struct edgellm_context *c, int32_t seq, uint32_t pos, edgellm_token tok) {
    c->tokens[(size_t)seq * c->n_ctx + pos] = tok;
}

/* ---- sequence state (save / restore / copy) ----------------------------------------------
 * The KV part goes through the three kv_seq_* helpers below, the only code that knows how a
 * sequence's rows are laid out in the cache. */

/* Positions [first, n) of layer il that a sequence of n tokens still needs: all of them, or on a
 * sliding layer the last `window` (what any later query can see; its ring holds at least those). */
static uint32_t kv_seq_first(const struct edgellm_context *c, uint32_t il, uint32_t n) {
    const struct hparams *hp = &c->model->hp;
    return hp->layer[il].swa && n > hp->swa_window ? n - hp->swa_window : 0;
}

/* K rows (= V rows) a sequence of n tokens keeps over all layers. */
static uint64_t kv_seq_rows(const struct edgellm_context *c, uint32_t n) {
    uint64_t rows = 0;
    for (uint32_t il = 0; il < c->model->hp.n_layer; il++) rows += n - kv_seq_first(c, il, n);
    return rows;
}

size_t kv_seq_bytes(const struct edgellm_context *c, uint32_t n) { return 2 * (size_t)kv_seq_rows(c, n) * c->kv_row_bytes; }

/* Row by row through kv_row, so a ring that wraps is read and written in position order. */
void kv_seq_save(const struct edgellm_context *c, int32_t seq, uint32_t n, uint8_t *dst) {
    for (int kv = 0; kv < 2; kv++)
        for (uint32_t il = 0; il < c->model->hp.n_layer; il++)
            for (uint32_t pos = kv_seq_first(c, il, n); pos < n; pos++, dst += c->kv_row_bytes)
                memcpy(dst, kv_row(c, kv ? c->v_cache : c->k_cache, seq, il, pos), c->kv_row_bytes);
}

void kv_seq_restore(struct edgellm_context *c, int32_t seq, uint32_t n, const uint8_t *src) {
    for (int kv = 0; kv < 2; kv++)
        for (uint32_t il = 0; il < c->model->hp.n_layer; il++)
            for (uint32_t pos = kv_seq_first(c, il, n); pos < n; pos++, src += c->kv_row_bytes)
                memcpy(kv_row(c, kv ? c->v_cache : c->k_cache, seq, il, pos), src, c->kv_row_bytes);
    c->seq_hi[seq] = n;
    c->seq_ring_lo[seq] = c->kv_ring && n > c->model->hp.swa_window ? n - c->model->hp.swa_window : 0;
}

void kv_seq_copy(struct edgellm_context *c, int32_t src, int32_t dst, uint32_t n) {
    for (int kv = 0; kv < 2; kv++) {
        uint8_t *cache = kv ? c->v_cache : c->k_cache;
        for (uint32_t il = 0; il < c->model->hp.n_layer; il++)
            for (uint32_t pos = kv_seq_first(c, il, n); pos < n; pos++)
                memcpy(kv_row(c, cache, dst, il, pos), kv_row(c, cache, src, il, pos), c->kv_row_bytes);
    }
    c->seq_hi[dst] = n;
    c->seq_ring_lo[dst] = c->kv_ring && n > c->model->hp.swa_window ? n - c->model->hp.swa_window : 0;
}

int kv_holds(const struct edgellm_context *c, int32_t seq, uint32_t il, uint32_t pos) {
    if (!c->model->hp.layer[il].swa) return 1;
    uint32_t hi = c->seq_hi[seq];
    return pos < hi && pos + c->kv_ring >= hi && pos >= c->seq_ring_lo[seq];
}

/* State layout (native byte order; a foreign one fails the version check):
 *   header: magic[8] "EDGLSEQ\0", u32 version, u32 kv qtype, u64 model identity,
 *           u32 n_layer, u32 kv row bytes, u32 n_tokens, u32 K rows kept (kv_seq_rows: fewer than
 *           n_layer * n_tokens when sliding layers keep only their window)
 *   tokens: i32[n_tokens]
 *   KV:     kv_seq_bytes(n_tokens) (kv_seq_save)
 *   u64 checksum: util_hash64 of every byte before it */
#define STATE_MAGIC "EDGLSEQ"
#define STATE_VERSION 2u
struct state_header {
    char magic[8];
    uint32_t version, kv_qtype;
    uint64_t model_id;
    uint32_t n_layer, row_bytes, n_tokens, kv_rows;
};
#define STATE_SEED 0x5e9c57a7e0000001ULL

static int seq_ok(const struct edgellm_context *c, int32_t seq) { return c && seq >= 0 && (uint32_t)seq < c->n_seq; }

static size_t state_size_for(const struct edgellm_context *c, uint32_t n) {
    return sizeof(struct state_header) + (size_t)n * sizeof(edgellm_token) + kv_seq_bytes(c, n) + sizeof(uint64_t);
}

size_t edgellm_context_seq_state_size(const struct edgellm_context *c, int32_t seq) {
    return seq_ok(c, seq) ? state_size_for(c, c->seq_len[seq]) : 0;
}

edgellm_status edgellm_context_seq_state_get(struct edgellm_context *c, int32_t seq, void *buf, size_t size, size_t *written) {
    if (written) *written = 0;
    if (!c) return EDGELLM_ERR_ARG;
    if (!seq_ok(c, seq)) return ctx_fail(c, EDGELLM_ERR_ARG, "sequence %d out of range (0..%u)", seq, c->n_seq - 1);
    uint32_t n = c->seq_len[seq];
    size_t need = state_size_for(c, n);
    if (!buf || size < need)
        return ctx_fail(c, EDGELLM_ERR_ARG, "the state of sequence %d needs %zu bytes; the buffer has %zu", seq, need, buf ? size : 0);
    struct state_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, STATE_MAGIC, sizeof STATE_MAGIC);
    h.version = STATE_VERSION;
    h.kv_qtype = c->kv_qtype;
    h.model_id = c->model->identity;
    h.n_layer = c->model->hp.n_layer;
    h.row_bytes = (uint32_t)c->kv_row_bytes;
    h.n_tokens = n;
    h.kv_rows = (uint32_t)kv_seq_rows(c, n);
    uint8_t *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    memcpy(p, c->tokens + (size_t)seq * c->n_ctx, (size_t)n * sizeof(edgellm_token));
    p += (size_t)n * sizeof(edgellm_token);
    kv_seq_save(c, seq, n, p);
    p += kv_seq_bytes(c, n);
    uint64_t sum = util_hash64(buf, need - sizeof sum, STATE_SEED);
    memcpy(p, &sum, sizeof sum);
    if (written) *written = need;
    return EDGELLM_OK;
}

edgellm_status edgellm_context_seq_state_set(struct edgellm_context *c, int32_t seq, const void *buf, size_t size) {
    if (!c) return EDGELLM_ERR_ARG;
    if (!seq_ok(c, seq)) return ctx_fail(c, EDGELLM_ERR_ARG, "sequence %d out of range (0..%u)", seq, c->n_seq - 1);
    c->seq_len[seq] = 0;
    if (!buf && size) return ctx_fail(c, EDGELLM_ERR_ARG, "no state buffer");
    struct state_header h;
    uint64_t sum;
    if (size < sizeof h + sizeof sum) return ctx_fail(c, EDGELLM_ERR_FORMAT, "sequence state: %zu bytes is too short", size);
    memcpy(&h, buf, sizeof h);
    if (memcmp(h.magic, STATE_MAGIC, sizeof STATE_MAGIC) || h.version != STATE_VERSION)
        return ctx_fail(c, EDGELLM_ERR_FORMAT, "not an edgellm sequence state of version %u", STATE_VERSION);
    /* the size the header announces, computed with the header's own row geometry */
    uint64_t body = (uint64_t)h.n_tokens * sizeof(edgellm_token) + 2ull * h.kv_rows * h.row_bytes;
    if (h.n_layer > 4096 || h.row_bytes > (1u << 24) || h.n_tokens > (1u << 24) || h.kv_rows > (uint64_t)h.n_layer * h.n_tokens ||
        body != (uint64_t)size - sizeof h - sizeof sum)
        return ctx_fail(c, EDGELLM_ERR_FORMAT, "sequence state: %zu bytes, the header announces %llu (truncated or changed)",
                        size, (unsigned long long)(body + sizeof h + sizeof sum));
    memcpy(&sum, (const uint8_t *)buf + size - sizeof sum, sizeof sum);
    if (util_hash64(buf, size - sizeof sum, STATE_SEED) != sum)
        return ctx_fail(c, EDGELLM_ERR_FORMAT, "sequence state: checksum mismatch (the data was changed or damaged)");
    if (h.model_id != c->model->identity || h.n_layer != c->model->hp.n_layer || h.kv_rows != kv_seq_rows(c, h.n_tokens))
        return ctx_fail(c, EDGELLM_ERR_UNSUPPORTED, "sequence state: saved with another model (identity %016llx, this one %016llx)",
                        (unsigned long long)h.model_id, (unsigned long long)c->model->identity);
    if (h.kv_qtype != c->kv_qtype || h.row_bytes != c->kv_row_bytes)
        return ctx_fail(c, EDGELLM_ERR_UNSUPPORTED, "sequence state: saved with KV cache type %s, this context uses %s",
                        qtype_name(h.kv_qtype) ? qtype_name(h.kv_qtype) : "unknown", qtype_name(c->kv_qtype));
    if (h.n_tokens > c->n_ctx)
        return ctx_fail(c, EDGELLM_ERR_CONTEXT_FULL, "sequence state: %u tokens; the context holds %u", h.n_tokens, c->n_ctx);
    const uint8_t *p = (const uint8_t *)buf + sizeof h;
    int32_t n_vocab = vocab_n_tokens(c->model->vocab);
    edgellm_token *toks = c->tokens + (size_t)seq * c->n_ctx;
    memcpy(toks, p, (size_t)h.n_tokens * sizeof(edgellm_token));
    for (uint32_t i = 0; i < h.n_tokens; i++)
        if (toks[i] < 0 || toks[i] >= n_vocab) return ctx_fail(c, EDGELLM_ERR_FORMAT, "sequence state: token %u out of range", i);
    kv_seq_restore(c, seq, h.n_tokens, p + (size_t)h.n_tokens * sizeof(edgellm_token));
    c->seq_len[seq] = h.n_tokens;
    return EDGELLM_OK;
}

edgellm_status edgellm_context_seq_copy(struct edgellm_context *c, int32_t src, int32_t dst) {
    if (!c) return EDGELLM_ERR_ARG;
    if (!seq_ok(c, src) || !seq_ok(c, dst))
        return ctx_fail(c, EDGELLM_ERR_ARG, "sequence %d or %d out of range (0..%u)", src, dst, c->n_seq - 1);
    if (src == dst) return EDGELLM_OK;
    uint32_t n = c->seq_len[src];
    memcpy(c->tokens + (size_t)dst * c->n_ctx, c->tokens + (size_t)src * c->n_ctx, (size_t)n * sizeof(edgellm_token));
    kv_seq_copy(c, src, dst, n);
    c->seq_len[dst] = n;
    return EDGELLM_OK;
}

/* ---- context shift ------------------------------------------------------------------------
 * Positions [keep + d, n) move to [keep, n - d): the row of each moved position is copied to its
 * new place (full layers in place, ascending; sliding layers through a buffer, as the ring rows of
 * old and new positions interleave) and, on RoPE layers, its key is rotated back by d positions:
 * RoPE's rotation by angle(p) composes, so R(-d)·R(p)·k = R(p - d)·k. A row is converted to f32
 * (kv_load: Q8_0 dequantized), rotated and stored again (kv_store: requantized). */
static void shift_row(struct edgellm_context *c, uint8_t *row, float *f, const float *cs) {
    const struct hparams *hp = &c->model->hp;
    int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    kv_load(c, row, f, kv_dim);
    rope_rotate(hp, f, hp->n_head_kv, cs);
    kv_store(c, row, f, kv_dim);
}

edgellm_status edgellm_context_seq_shift(struct edgellm_context *c, int32_t seq, uint32_t n_keep, uint32_t n_discard) {
    if (!c) return EDGELLM_ERR_ARG;
    if (!seq_ok(c, seq)) return ctx_fail(c, EDGELLM_ERR_ARG, "sequence %d out of range (0..%u)", seq, c->n_seq - 1);
    const uint32_t n = c->seq_len[seq], d = n_discard;
    if (n_keep > n || d > n - n_keep)
        return ctx_fail(c, EDGELLM_ERR_ARG, "shift: keep %u + discard %u is more than the %u positions of sequence %d",
                        n_keep, d, n, seq);
    if (!d) return EDGELLM_OK;
    const struct hparams *hp = &c->model->hp;
    const uint32_t n2 = n - d;
    /* every position the shifted sequence still needs must be in the cache: on sliding layers the
     * last window, which the ring holds only if it was not overwritten (or never restored) */
    for (uint32_t il = 0; il < hp->n_layer; il++)
        for (uint32_t q = kv_seq_first(c, il, n2); q < n2; q++)
            if (!kv_holds(c, seq, il, q < n_keep ? q : q + d))
                return ctx_fail(c, EDGELLM_ERR_UNSUPPORTED,
                                "shift: the sliding-window cache of layer %u no longer holds position %u (evaluate again instead)",
                                il, q < n_keep ? q : q + d);
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim, ring_rows = c->kv_ring ? hp->swa_window : 0;
    float *f = malloc(sizeof(float) * (kv_dim + 4 * (size_t)hp->n_rot));
    uint8_t *buf = ring_rows ? malloc(ring_rows * c->kv_row_bytes) : NULL;
    if (!f || (ring_rows && !buf)) {
        free(f);
        free(buf);
        return ctx_fail(c, EDGELLM_ERR_NOMEM, "shift: out of memory");
    }
    float *cs[2] = {f + kv_dim, f + kv_dim + 2 * (size_t)hp->n_rot}; /* global, sliding layers: angle(-d) */
    rope_cos_sin(c, 0, -(float)d, 1.0f, cs[0]);
    rope_cos_sin(c, 1, -(float)d, 1.0f, cs[1]);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const struct layer_hparams *LH = &hp->layer[il];
        uint32_t q0 = kv_seq_first(c, il, n2);
        if (q0 < n_keep) q0 = n_keep; /* kept positions stay where they are */
        for (int kv = 0; kv < 2; kv++) {
            uint8_t *cache = kv ? c->v_cache : c->k_cache;
            const int rotate = !kv && LH->rope;
            if (!LH->swa) {
                for (uint32_t q = q0; q < n2; q++) {
                    uint8_t *dst = kv_row(c, cache, seq, il, q);
                    memcpy(dst, kv_row(c, cache, seq, il, q + d), c->kv_row_bytes);
                    if (rotate) shift_row(c, dst, f, cs[0]);
                }
                continue;
            }
            for (uint32_t q = q0; q < n2; q++)
                memcpy(buf + (size_t)(q - q0) * c->kv_row_bytes, kv_row(c, cache, seq, il, q + d), c->kv_row_bytes);
            for (uint32_t q = q0; q < n2; q++) {
                uint8_t *dst = kv_row(c, cache, seq, il, q);
                memcpy(dst, buf + (size_t)(q - q0) * c->kv_row_bytes, c->kv_row_bytes);
                if (rotate) shift_row(c, dst, f, cs[1]);
            }
        }
    }
    free(f);
    free(buf);
    edgellm_token *toks = c->tokens + (size_t)seq * c->n_ctx;
    memmove(toks + n_keep, toks + n_keep + d, (size_t)(n2 - n_keep) * sizeof(edgellm_token));
    c->seq_len[seq] = c->seq_hi[seq] = n2;
    c->seq_ring_lo[seq] = c->kv_ring && n2 > hp->swa_window ? n2 - hp->swa_window : 0;
    return EDGELLM_OK;
}

edgellm_status edgellm_context_seq_tokens(struct edgellm_context *c, int32_t seq, edgellm_token *out, int32_t n_max, int32_t *n) {
    if (n) *n = 0;
    if (!c || !n || n_max < 0 || (n_max && !out)) return EDGELLM_ERR_ARG;
    if (!seq_ok(c, seq)) return ctx_fail(c, EDGELLM_ERR_ARG, "sequence %d out of range (0..%u)", seq, c->n_seq - 1);
    uint32_t len = c->seq_len[seq];
    *n = (int32_t)len;
    if (n_max) memcpy(out, c->tokens + (size_t)seq * c->n_ctx, (size_t)((uint32_t)n_max < len ? (uint32_t)n_max : len) * sizeof *out);
    return (uint32_t)n_max < len ? EDGELLM_ERR_BUFFER_TOO_SMALL : EDGELLM_OK;
}
