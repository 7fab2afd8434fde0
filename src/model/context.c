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

struct edgellm_context_params edgellm_context_default_params(void) {
    struct edgellm_context_params p = {0, 0, 0, 0, EDGELLM_KV_F16, 0};
    return p;
}

const char *edgellm_context_errmsg(const struct edgellm_context *c) { return c ? c->errmsg : "no context"; }
uint32_t edgellm_context_n_ctx(const struct edgellm_context *c) { return c->n_ctx; }
uint32_t edgellm_context_n_batch(const struct edgellm_context *c) { return c->n_batch; }

void edgellm_context_set_abort(struct edgellm_context *c, edgellm_abort_fn fn, void *user) {
    c->abort_fn = fn;
    c->abort_user = user;
}

static void *xalloc(size_t n, size_t *total) {
    *total += n;
    return calloc(1, n ? n : 1);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

edgellm_status edgellm_context_new(struct edgellm_model *model, const struct edgellm_context_params *params,
                                   struct edgellm_context **out, char *err, size_t err_size) {
    struct edgellm_context_params p = params ? *params : edgellm_context_default_params();
    char tmp[256];
    if (!err || !err_size) {
        err = tmp;
        err_size = sizeof tmp;
    }
    err[0] = 0;
    if (!out || !model) return EDGELLM_ERR_ARG;
    *out = NULL;
    if (!model->supported) {
        snprintf(err, err_size, "this model cannot be run: %s", model->unsupported_why);
        return EDGELLM_ERR_UNSUPPORTED;
    }
    const struct hparams *hp = &model->hp;
    uint32_t n_ctx = p.n_ctx ? p.n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    uint32_t n_seq = p.n_seq ? p.n_seq : 1;
    uint32_t n_batch = p.n_batch ? p.n_batch : 512;
    int n_threads = p.n_threads > 0 ? p.n_threads : os_n_cores();
    if (n_ctx > (1u << 24) || n_seq > 256 || n_batch > (1u << 24) || n_threads > 1024 || p.n_threads < 0) {
        snprintf(err, err_size, "context parameters out of range (n_ctx %u, n_seq %u, n_batch %u, threads %d)", n_ctx,
                 n_seq, n_batch, p.n_threads);
        return EDGELLM_ERR_ARG;
    }
    uint32_t kv_qtype;
    switch (p.kv_type) {
    case EDGELLM_KV_F16: kv_qtype = QT_F16; break;
    case EDGELLM_KV_F32: kv_qtype = QT_F32; break;
    case EDGELLM_KV_Q8_0: kv_qtype = QT_Q8_0; break;
    default: snprintf(err, err_size, "unknown KV cache type %d", (int)p.kv_type); return EDGELLM_ERR_ARG;
    }
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    if (kv_qtype == QT_Q8_0 && hp->head_dim % QK8_0) {
        snprintf(err, err_size, "a q8_0 KV cache needs a head size that is a multiple of 32 (it is %u)", hp->head_dim);
        return EDGELLM_ERR_ARG;
    }
    struct edgellm_context *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_size, "out of memory");
        return EDGELLM_ERR_NOMEM;
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
    size_t cache_rows = (size_t)n_seq * hp->n_layer * n_ctx;
    c->k_cache = xalloc(cache_rows * c->kv_row_bytes, &total);
    c->v_cache = xalloc(cache_rows * c->kv_row_bytes, &total);
    c->seq_len = xalloc(n_seq * sizeof(uint32_t), &total);
    c->x = xalloc(ub * e * sizeof(float), &total);
    c->xn = xalloc(ub * e * sizeof(float), &total);
    c->q = xalloc(ub * qd * sizeof(float), &total);
    c->k = xalloc(ub * kv_dim * sizeof(float), &total);
    c->v = xalloc(ub * kv_dim * sizeof(float), &total);
    c->att = xalloc(ub * qd * sizeof(float), &total);
    c->gate = xalloc(ub * hp->n_ff * sizeof(float), &total);
    c->up = xalloc(ub * hp->n_ff * sizeof(float), &total);
    c->rope_cache = xalloc(ub * hp->n_rot * sizeof(float), &total);
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
    if (!c->k_cache || !c->v_cache || !c->seq_len || !c->x || !c->xn || !c->q || !c->k || !c->v || !c->att ||
        !c->gate || !c->up || !c->rope_cache || !c->out_rows || !c->ub_pos || !c->ub_seq || !c->logits ||
        !c->mm_scratch || !c->att_scratch || !c->att_part || !c->tp) {
        snprintf(err, err_size, "out of memory allocating %.1f MiB for the context (n_ctx %u x %u sequences)",
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
    return EDGELLM_OK;
}

const float *edgellm_context_logits(const struct edgellm_context *c, int32_t i) {
    if (i < 0 || i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * (size_t)vocab_n_tokens(c->model->vocab);
}

uint8_t *kv_row(const struct edgellm_context *c, uint8_t *cache, int32_t seq, uint32_t il, uint32_t pos) {
    size_t row = ((size_t)seq * c->model->hp.n_layer + il) * c->n_ctx + pos;
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

