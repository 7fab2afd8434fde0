/* Context lifecycle: edgellm_context_new sizes and allocates every buffer a decode needs (the KV
 * cache [seq][layer][pos] rows, micro-batch activations, matmul and attention scratch, logits
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

static void *xalloc(size_t n, size_t *total) {
    *total += n;
    return calloc(1, n ? n : 1);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

edgellm_status edgellm_context_new(struct edgellm_model *model, const struct edgellm_context_params *params,
                                   struct edgellm_context **out, char *err, size_t err_size) {
    struct edgellm_context_params p = edgellm_context_default_params();
    char tmp[256];
    if (!err || !err_size) {
        err = tmp;
        err_size = sizeof tmp;
    }
    err[0] = 0;
    if (!out || !model) return util_errf(err, err_size, EDGELLM_ERR_ARG, "no model or no place for the context");
    *out = NULL;
    if (util_params_in(&p, sizeof p, params, CONTEXT_PARAMS_SIZE_1_0) != EDGELLM_OK || !UTIL_GROWN_OK(p))
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "context params: struct_size %u is not a known layout",
                         params ? (unsigned)params->struct_size : 0u);
    if (!model->supported) {
        return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "this model cannot be run: %s", model->unsupported_why);
    }
    if (kern_isa_error()) {
        snprintf(err, err_size, "%s", kern_isa_error());
        return EDGELLM_ERR_ARG;
    }
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
    struct edgellm_context *c = calloc(1, sizeof *c);
    if (!c) {
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    }
    c->model = model;
    c->n_ctx = n_ctx;
    c->n_seq = n_seq;
    c->n_batch = n_batch;
    c->n_ub = n_batch < UBATCH ? n_batch : UBATCH;
    c->n_out_max = p.logits_all ? n_batch : n_seq;
    if (c->n_out_max > n_batch) c->n_out_max = n_batch;
    c->n_threads = n_threads;
    c->kv_type = p.kv_type;
    c->kv_qtype = kv_qtype;
    c->kv_row_bytes = qtype_row_size(kv_qtype, (int64_t)kv_dim);

    size_t total = 0, ub = c->n_ub, e = hp->n_embd, qd = (size_t)hp->n_head * hp->head_dim;
    /* sliding layers: a ring of window + n_batch rows covers every key a micro-batch can see */
    uint64_t ring = (uint64_t)hp->swa_window + n_batch;
    c->kv_ring = hp->n_swa_layers ? (uint32_t)(ring < n_ctx ? ring : n_ctx) : 0;
    c->layer_off = xalloc(hp->n_layer * sizeof(size_t), &total);
    c->layer_rows = xalloc(hp->n_layer * sizeof(uint32_t), &total);
    for (uint32_t il = 0; c->layer_off && c->layer_rows && il < hp->n_layer; il++) {
        c->layer_off[il] = c->seq_rows;
        c->layer_rows[il] = hp->layer[il].swa ? c->kv_ring : n_ctx;
        c->seq_rows += c->layer_rows[il];
    }
    c->kv_bytes = 2 * (size_t)n_seq * c->seq_rows * c->kv_row_bytes;
    c->k_cache = xalloc(c->kv_bytes / 2, &total);
    c->v_cache = xalloc(c->kv_bytes / 2, &total);
    c->seq_len = xalloc(n_seq * sizeof(uint32_t), &total);
    c->seq_hi = xalloc(n_seq * sizeof(uint32_t), &total);
    /* LongRoPE: the long factors when the context is longer than the original one, for its whole life */
    c->rope_factors = model->rope_freqs.data ? model->rope_freqs.data
                      : model->rope_long.data ? (n_ctx > hp->n_ctx_orig ? model->rope_long.data : model->rope_short.data)
                                              : NULL;
    c->x = xalloc(ub * e * sizeof(float), &total);
    c->xn = xalloc(ub * e * sizeof(float), &total);
    c->q = xalloc(ub * qd * sizeof(float), &total);
    c->k = xalloc(ub * kv_dim * sizeof(float), &total);
    c->v = xalloc(ub * kv_dim * sizeof(float), &total);
    c->att = xalloc(ub * qd * sizeof(float), &total);
    c->gate = xalloc(ub * hp->n_ff * sizeof(float), &total);
    c->up = xalloc(ub * hp->n_ff * sizeof(float), &total);
    c->rope_cache = xalloc(2 * ub * hp->n_rot * sizeof(float), &total);
    c->out_rows = xalloc(ub * e * sizeof(float), &total);
    c->ub_pos = xalloc(ub * sizeof(int32_t), &total);
    c->ub_seq = xalloc(ub * sizeof(int32_t), &total);
    size_t n_vocab = (size_t)vocab_n_tokens(model->vocab);
    c->logits = xalloc((size_t)c->n_out_max * n_vocab * sizeof(float), &total);
    size_t mm = 0;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const struct layer_weights *L = &model->layers[il];
        const struct weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            mm = max_sz(mm, kern_matmul_scratch_size(ws[i]->type, ws[i]->ne[0], (int)ub, (int)n_threads));
    }
    mm = max_sz(mm, kern_matmul_scratch_size(model->output.type, model->output.ne[0], (int)ub, (int)n_threads));
    c->mm_scratch = xalloc(mm, &total);
    uint32_t gq = hp->n_head / hp->n_head_kv;
    size_t nq = (size_t)ATT_TILE * gq;
    /* attn_tile: q tile, K and V chunks, scores, max/sum/corr, output, lo/hi (int32, float-sized) */
    c->att_scratch_stride = nq * hp->head_dim + 2 * ATT_CHUNK * (size_t)hp->head_dim + nq * ATT_CHUNK + 3 * nq +
                            nq * hp->head_dim + 2 * nq + 16;
    c->att_scratch = xalloc((size_t)n_threads * c->att_scratch_stride * sizeof(float), &total);
    size_t n_seg = (size_t)n_threads < ATT_MAX_SEG ? (size_t)n_threads : ATT_MAX_SEG;
    c->att_part = xalloc((size_t)hp->n_head_kv * n_seg * gq * (hp->head_dim + 2) * sizeof(float), &total);
    c->tp = tp_new(n_threads);
    if (!c->k_cache || !c->v_cache || !c->seq_len || !c->seq_hi || !c->layer_off || !c->layer_rows || !c->x ||
        !c->xn || !c->q || !c->k || !c->v || !c->att || !c->gate || !c->up || !c->rope_cache || !c->out_rows || !c->ub_pos || !c->ub_seq || !c->logits ||
        !c->mm_scratch || !c->att_scratch || !c->att_part || !c->tp) {
        util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory allocating %.1f MiB for the context (n_ctx %u x %u sequences)",
                 (double)total / (1024.0 * 1024.0), n_ctx, n_seq);
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
    free(c->seq_hi);
    free(c->layer_off);
    free(c->layer_rows);
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
    free(c);
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
    if (!c->seq_len[seq]) c->seq_hi[seq] = 0;
    return EDGELLM_OK;
}

int kv_ring_covers(const struct edgellm_context *c, int32_t seq, uint32_t p) {
    if (!c->kv_ring || !p) return 1;
    uint32_t w = c->model->hp.swa_window, need = p > w ? p - w : 0; /* llama.cpp's threshold: p - window */
    uint32_t hi = c->seq_hi[seq], lo = hi > c->kv_ring ? hi - c->kv_ring : 0;
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

