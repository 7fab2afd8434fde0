/* Context and forward pass: the KV cache, all scratch buffers (allocated once in
 * edgellm_context_new, nothing per token), and the transformer blocks of llama / qwen2:
 *   x = embed(tokens); per layer: x += Wo·attn(rope(Wq·n(x)+bq), rope(Wk·n(x)+bk), Wv·n(x)+bv)
 *                                 x += Wdown·(silu(Wgate·n(x)) * Wup·n(x))
 *   logits = Wout·n(x) at the positions asked for.
 * A batch is processed in micro-batches of at most UBATCH tokens; attention reads keys and
 * values of earlier positions from the cache (one row per position, per layer, per sequence).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "core/os.h"
#include "quant/qtypes.h"
#include "core/threadpool.h"
#include "text/vocab.h"

#define UBATCH 512
#define ATT_CHUNK 64 /* cached positions whose K/V rows are converted to f32 at once */
#define ATT_TILE 16  /* query tokens of one sequence that share each converted chunk */

struct edgellm_context {
    struct edgellm_model *model;
    struct threadpool *tp;
    uint32_t n_ctx, n_batch, n_seq, n_ub, n_out_max;
    int n_threads;
    edgellm_kv_type kv_type;
    uint32_t kv_qtype;       /* qtype of a cache row */
    size_t kv_row_bytes;     /* bytes per (position, layer) row of n_head_kv*head_dim */
    uint8_t *k_cache, *v_cache; /* [n_seq][n_layer][n_ctx] rows */
    uint32_t *seq_len;       /* [n_seq] */
    /* micro-batch scratch */
    float *x, *xn;           /* (n_ub, n_embd) */
    float *q, *k, *v, *att;  /* (n_ub, n_head*hd), (n_ub, kv_dim) x2, (n_ub, n_head*hd) */
    float *gate, *up;        /* (n_ub, n_ff) */
    float *rope_cache;       /* (n_ub, n_rot) cos/sin pairs */
    void *mm_scratch;        /* quantized activations for kern_matmul */
    float *att_scratch;      /* per thread: see attn_tile */
    size_t att_scratch_stride;
    float *logits;           /* (n_out_max, n_vocab) */
    int32_t n_logits;
    int32_t *ub_pos, *ub_seq; /* (n_ub) */
    float *out_rows;          /* (n_ub, n_embd) normalized states of tokens that want logits */
    edgellm_abort_fn abort_fn;
    void *abort_user;
    char errmsg[256];
};

static edgellm_status ctx_fail(struct edgellm_context *c, edgellm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static edgellm_status ctx_fail(struct edgellm_context *c, edgellm_status st, const char *fmt, ...) {
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
    c->att_scratch_stride = 2 * ATT_CHUNK * (size_t)hp->head_dim + nq * ATT_CHUNK + 2 * nq + nq * hp->head_dim + 16;
    c->att_scratch = xalloc((size_t)n_threads * c->att_scratch_stride * sizeof(float), &total);
    c->tp = tp_new(n_threads);
    if (!c->k_cache || !c->v_cache || !c->seq_len || !c->x || !c->xn || !c->q || !c->k || !c->v || !c->att ||
        !c->gate || !c->up || !c->rope_cache || !c->out_rows || !c->ub_pos || !c->ub_seq || !c->logits ||
        !c->mm_scratch || !c->att_scratch || !c->tp) {
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

/* --- the pieces of a layer ------------------------------------------------ */

static uint8_t *kv_row(const struct edgellm_context *c, uint8_t *cache, int32_t seq, uint32_t il, uint32_t pos) {
    size_t row = ((size_t)seq * c->model->hp.n_layer + il) * c->n_ctx + pos;
    return cache + row * c->kv_row_bytes;
}

static void kv_store(const struct edgellm_context *c, uint8_t *dst, const float *src, int64_t n) {
    if (c->kv_qtype == QT_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else kern_active()->quantize[c->kv_qtype] ? kern_active()->quantize[c->kv_qtype](src, dst, n)
                                              : qtype_get(c->kv_qtype)->from_float(src, dst, n);
}

static void kv_load(const struct edgellm_context *c, const uint8_t *src, float *dst, int64_t n) {
    if (c->kv_qtype == QT_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else kern_active()->to_float[c->kv_qtype] ? kern_active()->to_float[c->kv_qtype](src, dst, n)
                                              : qtype_get(c->kv_qtype)->to_float(src, dst, n);
}

/* cos/sin for each token's position, as the reference computes them: the angle of pair i is
 * pos * base^(-2i/n_rot) (accumulated by repeated multiplication in float), divided by the
 * llama3 frequency factor of pair i when rope_freqs.weight is present. */
static void rope_prepare(struct edgellm_context *c, int n) {
    const struct hparams *hp = &c->model->hp;
    const float *ff = c->model->rope_freqs.data;
    float theta_scale = powf(hp->rope_freq_base, -2.0f / (float)hp->n_rot);
    for (int t = 0; t < n; t++) {
        float *cs = c->rope_cache + (size_t)t * hp->n_rot;
        float theta = (float)c->ub_pos[t];
        for (uint32_t i = 0; i < hp->n_rot / 2; i++) {
            float th = ff ? theta / ff[i] : theta;
            cs[2 * i] = cosf(th);
            cs[2 * i + 1] = sinf(th);
            theta *= theta_scale;
        }
    }
}

static void rope_apply(const struct edgellm_context *c, float *x, int n, uint32_t n_heads) {
    const struct hparams *hp = &c->model->hp;
    uint32_t hd = hp->head_dim, half = hp->n_rot / 2;
    for (int t = 0; t < n; t++) {
        const float *cs = c->rope_cache + (size_t)t * hp->n_rot;
        for (uint32_t h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)t * n_heads + h) * hd;
            for (uint32_t i = 0; i < half; i++) {
                /* llama pairs (2i, 2i+1); qwen2 (NEOX) pairs (i, i + n_rot/2) */
                uint32_t a = hp->rope_neox ? i : 2 * i, b = hp->rope_neox ? i + half : 2 * i + 1;
                float x0 = v[a], x1 = v[b], co = cs[2 * i], si = cs[2 * i + 1];
                v[a] = x0 * co - x1 * si;
                v[b] = x0 * si + x1 * co;
            }
        }
    }
}

static void add_bias(float *x, const struct weight *b, int n) {
    if (!b->data) return;
    const float *bb = b->data;
    for (int t = 0; t < n; t++)
        for (int64_t i = 0; i < b->ne[0]; i++) x[(size_t)t * (size_t)b->ne[0] + (size_t)i] += bb[i];
}

/* Attention, flash style: a tile of up to ATT_TILE consecutive tokens of one sequence and one
 * kv head (with the gq query heads that share it) walks the cached positions in chunks of
 * ATT_CHUNK rows, converting each K/V chunk to f32 once for the whole tile, with an online
 * softmax (running max and sum), so no score matrix larger than a chunk is ever held. */
struct attn_job {
    struct edgellm_context *c;
    uint32_t il;
    int n_tiles;
    const int16_t *tile_t0, *tile_nt; /* (n_tiles) first token and token count of each tile */
};

static void attn_tile(struct edgellm_context *c, uint32_t il, int t0, int nt, uint32_t g, float *scratch) {
    const struct hparams *hp = &c->model->hp;
    uint32_t hd = hp->head_dim, gq = hp->n_head / hp->n_head_kv, nq = (uint32_t)nt * gq;
    int32_t seq = c->ub_seq[t0];
    float *kc = scratch;                        /* (ATT_CHUNK, hd) keys */
    float *vc = kc + ATT_CHUNK * (size_t)hd;    /* (ATT_CHUNK, hd) values */
    float *p = vc + ATT_CHUNK * (size_t)hd;     /* (nq, ATT_CHUNK) probabilities of the chunk */
    float *mx = p + (size_t)nq * ATT_CHUNK;     /* (nq) running max */
    float *sum = mx + nq;                       /* (nq) running sum */
    float *acc = sum + nq;                      /* (nq, hd) running output */
    const float scale = 1.0f / sqrtf((float)hd);
    size_t slice = qtype_row_size(c->kv_qtype, (int64_t)g * hd); /* byte offset of head g in a row */
    for (uint32_t r = 0; r < nq; r++) {
        mx[r] = -INFINITY;
        sum[r] = 0.0f;
    }
    memset(acc, 0, sizeof(float) * nq * hd);
    uint32_t n_pos = (uint32_t)c->ub_pos[t0 + nt - 1] + 1;
    for (uint32_t j0 = 0; j0 < n_pos; j0 += ATT_CHUNK) {
        uint32_t nj = n_pos - j0 < ATT_CHUNK ? n_pos - j0 : ATT_CHUNK;
        for (uint32_t j = 0; j < nj; j++) {
            kv_load(c, kv_row(c, c->k_cache, seq, il, j0 + j) + slice, kc + (size_t)j * hd, hd);
            kv_load(c, kv_row(c, c->v_cache, seq, il, j0 + j) + slice, vc + (size_t)j * hd, hd);
        }
        for (int t = 0; t < nt; t++) {
            uint32_t pt = (uint32_t)c->ub_pos[t0 + t];
            if (pt < j0) continue; /* causal: this chunk is entirely in the token's future */
            uint32_t njt = pt + 1 - j0 < nj ? pt + 1 - j0 : nj;
            for (uint32_t h = 0; h < gq; h++) {
                uint32_t r = (uint32_t)t * gq + h;
                const float *q = c->q + ((size_t)(t0 + t) * hp->n_head + (size_t)g * gq + h) * hd;
                float *pr = p + (size_t)r * ATT_CHUNK, m_new = mx[r];
                kern_scores_f32(pr, q, kc, hd, (int)njt, (int)hd, scale);
                for (uint32_t j = 0; j < njt; j++)
                    if (pr[j] > m_new) m_new = pr[j];
                float corr = expf(mx[r] - m_new), ls = 0.0f; /* exp(-inf) = 0 on the first chunk */
                for (uint32_t j = 0; j < njt; j++) {
                    pr[j] = expf(pr[j] - m_new);
                    ls += pr[j];
                }
                float *o = acc + (size_t)r * hd;
                if (corr != 1.0f)
                    for (uint32_t i = 0; i < hd; i++) o[i] *= corr;
                kern_wsum_f32(o, pr, vc, hd, (int)njt, (int)hd);
                sum[r] = sum[r] * corr + ls;
                mx[r] = m_new;
            }
        }
    }
    for (int t = 0; t < nt; t++)
        for (uint32_t h = 0; h < gq; h++) {
            uint32_t r = (uint32_t)t * gq + h;
            float *out = c->att + ((size_t)(t0 + t) * hp->n_head + (size_t)g * gq + h) * hd, inv = 1.0f / sum[r];
            for (uint32_t i = 0; i < hd; i++) out[i] = acc[(size_t)r * hd + i] * inv;
        }
}

static void attn_worker(void *arg, int ith, int nth) {
    struct attn_job *job = arg;
    struct edgellm_context *c = job->c;
    uint32_t n_kv = c->model->hp.n_head_kv;
    long n_items = (long)job->n_tiles * n_kv;
    float *scratch = c->att_scratch + (size_t)ith * c->att_scratch_stride;
    /* later tiles attend to more positions: deal items round-robin, from the most expensive */
    for (long it = n_items - 1 - ith; it >= 0; it -= nth) {
        long tile = it / n_kv;
        attn_tile(c, job->il, job->tile_t0[tile], job->tile_nt[tile], (uint32_t)(it % n_kv), scratch);
    }
}

/* Groups the micro-batch into tiles of consecutive tokens of one sequence. */
static int attn_tiles(const struct edgellm_context *c, int n, int16_t *t0, int16_t *nt) {
    int n_tiles = 0;
    for (int t = 0; t < n;) {
        int e = t + 1;
        while (e < n && e - t < ATT_TILE && c->ub_seq[e] == c->ub_seq[t] && c->ub_pos[e] == c->ub_pos[e - 1] + 1) e++;
        t0[n_tiles] = (int16_t)t;
        nt[n_tiles] = (int16_t)(e - t);
        n_tiles++;
        t = e;
    }
    return n_tiles;
}

static void rmsnorm_rows(float *y, const float *x, const struct weight *g, int n, uint32_t e, float eps) {
    for (int t = 0; t < n; t++) kern_rmsnorm(y + (size_t)t * e, x + (size_t)t * e, g->data, (int)e, eps);
}

/* Runs one micro-batch of n tokens (already validated; cache rows for their positions exist).
 * want[t] marks tokens whose logits go to c->logits rows starting at out0. */
static edgellm_status run_ubatch(struct edgellm_context *c, const edgellm_token *tok, const int8_t *want, int n, int32_t *n_out) {
    struct edgellm_model *m = c->model;
    const struct hparams *hp = &m->hp;
    uint32_t e = hp->n_embd, hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    for (int t = 0; t < n; t++) kern_get_row(&m->tok_embd, tok[t], c->x + (size_t)t * e);
    rope_prepare(c, n);
    int16_t tile_t0[UBATCH], tile_nt[UBATCH];
    int n_tiles = attn_tiles(c, n, tile_t0, tile_nt);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const struct layer_weights *L = &m->layers[il];
        if (c->abort_fn && c->abort_fn(c->abort_user)) return ctx_fail(c, EDGELLM_ERR_ABORTED, "decode aborted by the caller");
        rmsnorm_rows(c->xn, c->x, &L->attn_norm, n, e, hp->norm_eps);
        {
            /* one quantization of xn and one thread-pool job for the three projections */
            const struct weight *ws[3] = {&L->wq, &L->wk, &L->wv};
            float *ys[3] = {c->q, c->k, c->v};
            const int64_t ld[3] = {L->wq.ne[1], L->wk.ne[1], L->wv.ne[1]};
            kern_matmul_n(c->tp, 3, ws, c->xn, n, ys, ld, c->mm_scratch);
        }
        add_bias(c->q, &L->bq, n);
        add_bias(c->k, &L->bk, n);
        add_bias(c->v, &L->bv, n);
        rope_apply(c, c->q, n, hp->n_head);
        rope_apply(c, c->k, n, hp->n_head_kv);
        for (int t = 0; t < n; t++) {
            kv_store(c, kv_row(c, c->k_cache, c->ub_seq[t], il, (uint32_t)c->ub_pos[t]), c->k + (size_t)t * kv_dim, kv_dim);
            kv_store(c, kv_row(c, c->v_cache, c->ub_seq[t], il, (uint32_t)c->ub_pos[t]), c->v + (size_t)t * kv_dim, kv_dim);
        }
        struct attn_job job = {c, il, n_tiles, tile_t0, tile_nt};
        tp_run(c->tp, attn_worker, &job);
        kern_matmul(c->tp, &L->wo, c->att, n, c->xn, e, c->mm_scratch);
        for (size_t i = 0; i < (size_t)n * e; i++) c->x[i] += c->xn[i];
        rmsnorm_rows(c->xn, c->x, &L->ffn_norm, n, e, hp->norm_eps);
        {
            const struct weight *ws[2] = {&L->w_gate, &L->w_up};
            float *ys[2] = {c->gate, c->up};
            const int64_t ld[2] = {hp->n_ff, hp->n_ff};
            kern_matmul_n(c->tp, 2, ws, c->xn, n, ys, ld, c->mm_scratch);
        }
        for (int t = 0; t < n; t++) kern_silu_mul(c->gate + (size_t)t * hp->n_ff, c->up + (size_t)t * hp->n_ff, (int)hp->n_ff);
        kern_matmul(c->tp, &L->w_down, c->gate, n, c->xn, e, c->mm_scratch);
        for (size_t i = 0; i < (size_t)n * e; i++) c->x[i] += c->xn[i];
    }
    /* only the rows that want logits go through the output norm and projection */
    int n_rows = 0;
    for (int t = 0; t < n; t++)
        if (want[t]) {
            kern_rmsnorm(c->out_rows + (size_t)n_rows * e, c->x + (size_t)t * e, m->output_norm.data, (int)e, hp->norm_eps);
            n_rows++;
        }
    if (n_rows) {
        int64_t n_vocab = m->output.ne[1];
        kern_matmul(c->tp, &m->output, c->out_rows, n_rows, c->logits + (size_t)*n_out * (size_t)n_vocab, n_vocab, c->mm_scratch);
        *n_out += n_rows;
    }
    return EDGELLM_OK;
}

edgellm_status edgellm_context_decode(struct edgellm_context *c, const struct edgellm_batch *b) {
    if (!c || !b || !b->token) return EDGELLM_ERR_ARG;
    int32_t n = b->n_tokens;
    int32_t n_vocab = vocab_n_tokens(c->model->vocab);
    c->n_logits = 0;
    if (n <= 0) return ctx_fail(c, EDGELLM_ERR_ARG, "empty batch");
    if ((uint32_t)n > c->n_batch) return ctx_fail(c, EDGELLM_ERR_ARG, "batch of %d tokens exceeds n_batch %u", n, c->n_batch);
    /* validate everything before touching the cache (n_seq <= 256, checked at creation) */
    int32_t n_want = 0;
    uint32_t start[256], add[256];
    memcpy(start, c->seq_len, sizeof(uint32_t) * c->n_seq);
    memset(add, 0, sizeof(uint32_t) * c->n_seq);
    for (int32_t i = 0; i < n; i++) {
        int32_t s = b->seq_id ? b->seq_id[i] : 0;
        if (s < 0 || (uint32_t)s >= c->n_seq) return ctx_fail(c, EDGELLM_ERR_ARG, "token %d: sequence id %d out of range", i, s);
        if (b->token[i] < 0 || b->token[i] >= n_vocab)
            return ctx_fail(c, EDGELLM_ERR_ARG, "token %d: id %d out of range (n_vocab %d)", i, b->token[i], n_vocab);
        uint32_t expect = start[s] + add[s];
        if (b->pos && (b->pos[i] < 0 || (uint32_t)b->pos[i] != expect))
            return ctx_fail(c, EDGELLM_ERR_ARG, "token %d: position %d, expected %u for sequence %d", i, b->pos[i], expect, s);
        add[s]++;
        n_want += b->logits ? b->logits[i] != 0 : i == n - 1;
    }
    if ((uint32_t)n_want > c->n_out_max)
        return ctx_fail(c, EDGELLM_ERR_ARG, "batch asks for %d rows of logits; the context holds %u (set logits_all)", n_want, c->n_out_max);
    for (uint32_t s = 0; s < c->n_seq; s++)
        if (add[s] && start[s] + add[s] > c->n_ctx)
            return ctx_fail(c, EDGELLM_ERR_CONTEXT_FULL, "sequence %u needs %u positions; the context holds %u", s,
                            start[s] + add[s], c->n_ctx);
    int32_t n_out = 0;
    int8_t want[UBATCH];
    for (int32_t i0 = 0; i0 < n; i0 += (int32_t)c->n_ub) {
        int nu = n - i0 < (int32_t)c->n_ub ? n - i0 : (int)c->n_ub;
        for (int t = 0; t < nu; t++) {
            int32_t s = b->seq_id ? b->seq_id[i0 + t] : 0;
            c->ub_seq[t] = s;
            c->ub_pos[t] = (int32_t)c->seq_len[s]++;
            want[t] = b->logits ? b->logits[i0 + t] != 0 : i0 + t == n - 1;
        }
        edgellm_status st = run_ubatch(c, b->token + i0, want, nu, &n_out);
        if (st) {
            /* the cache rows of this batch are incomplete: forget all its positions */
            memcpy(c->seq_len, start, sizeof(uint32_t) * c->n_seq);
            return st;
        }
    }
    c->n_logits = n_out;
    return EDGELLM_OK;
}
