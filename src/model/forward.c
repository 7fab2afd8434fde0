/* The forward pass: one transformer block for every family of the architecture table
 * (model/arch.c) over one micro-batch, and edgellm_context_decode (validate the whole batch,
 * then run it; roll back on failure):
 *   x = embed(tokens) [* sqrt(n_embd)]
 *   per layer: q, k, v = Wq·n(x) [+bq], ...;  [per-head RMSNorm of q, k];  [rope(q), rope(k)]
 *              x += [post_norm](Wo·attn(q, k, v))          (attn over a sliding window on swa layers)
 *              x += [post_norm](Wdown·(act(Wgate·n(x)) * Wup·n(x)))   act = SiLU | GELU-tanh
 *   logits = Wout·n(x) at the positions asked for [soft-capped].
 * The bracketed steps are the table's flags; fused QKV / gate|up weights arrive as row views.
 * A batch is processed in micro-batches of at most UBATCH tokens; attention (attention.c) reads
 * keys and values of earlier positions from the cache (context.c: one row per position, per
 * layer, per sequence).
 */
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

/* cos/sin of the angles of position pos, as the reference computes them: the angle of pair i is
 * pos * freq_scale * base^(-2i/n_rot) (accumulated by repeated multiplication in float), divided
 * by the frequency factor of pair i when the context uses factors (llama3 rope_freqs, or phi3's
 * LongRoPE long/short set), and cos and sin are multiplied by ms (rope.scaling.attn_factor for
 * the forward pass). swa: the sliding-window layers' angles (their own base, no scaling). pos may
 * be negative (a rotation back, edgellm_context_seq_shift). */
void rope_cos_sin(const struct edgellm_context *c, int swa, float pos, float ms, float *cs) {
    const struct hparams *hp = &c->model->hp;
    const float *ff = c->rope_factors;
    float base = swa ? hp->rope_freq_base_swa : hp->rope_freq_base;
    float fs = swa ? 1.0f : hp->rope_freq_scale;
    float theta_scale = powf(base, -2.0f / (float)hp->n_rot), theta = pos;
    for (uint32_t i = 0; i < hp->n_rot / 2; i++) {
        float th = (ff ? theta / ff[i] : theta) * fs;
        cs[2 * i] = cosf(th) * ms;
        cs[2 * i + 1] = sinf(th) * ms;
        theta *= theta_scale;
    }
}

/* Table 0 is for global layers, table 1 for sliding-window layers. */
static void rope_prepare(struct edgellm_context *c, int n) {
    const struct hparams *hp = &c->model->hp;
    for (int kind = 0; kind < (hp->n_swa_layers ? 2 : 1); kind++)
        for (int t = 0; t < n; t++)
            rope_cos_sin(c, kind, (float)c->ub_pos[t], hp->rope_attn_factor,
                         c->rope_cache + ((size_t)kind * c->n_ub + (size_t)t) * hp->n_rot);
}

void rope_rotate(const struct hparams *hp, float *x, uint32_t n_heads, const float *cs) {
    uint32_t hd = hp->head_dim, half = hp->n_rot / 2;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hd;
        for (uint32_t i = 0; i < half; i++) {
            /* NORM pairs (2i, 2i+1); NEOX pairs (i, i + n_rot/2) */
            uint32_t a = hp->rope_neox ? i : 2 * i, b = hp->rope_neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b], co = cs[2 * i], si = cs[2 * i + 1];
            v[a] = x0 * co - x1 * si;
            v[b] = x0 * si + x1 * co;
        }
    }
}

/* Rotates the first n_rot dims of each head of n tokens; dims n_rot..head_dim pass unchanged. */
static void rope_apply(const struct edgellm_context *c, float *x, int n, uint32_t n_heads, int swa) {
    const struct hparams *hp = &c->model->hp;
    for (int t = 0; t < n; t++)
        rope_rotate(hp, x + (size_t)t * n_heads * hp->head_dim, n_heads,
                    c->rope_cache + ((size_t)(swa ? c->n_ub : 0) + (size_t)t) * hp->n_rot);
}

static void add_bias(float *x, const struct weight *b, int n) {
    if (!b->data) return;
    const float *bb = b->data;
    for (int t = 0; t < n; t++)
        for (int64_t i = 0; i < b->ne[0]; i++) x[(size_t)t * (size_t)b->ne[0] + (size_t)i] += bb[i];
}

static void rmsnorm_rows(float *y, const float *x, const struct weight *g, int n, uint32_t e, float eps) {
    for (int t = 0; t < n; t++) kern_rmsnorm(y + (size_t)t * e, x + (size_t)t * e, g->data, (int)e, eps);
}

/* x += norm(y) when the block has a post-norm (gemma3), else x += y. */
static void add_residual(float *x, float *y, const struct weight *post_norm, int n, uint32_t e, float eps) {
    if (post_norm->data) rmsnorm_rows(y, y, post_norm, n, e, eps);
    for (size_t i = 0; i < (size_t)n * e; i++) x[i] += y[i];
}

/* gate = act(gate) * up (act: SiLU, or GELU-tanh) over n tokens of n_ff values, split across the pool's threads in whole
 * cache lines (the work is the same per element, so equal parts). */
struct swiglu_job {
    float *gate;
    const float *up;
    long n;
    int gelu; /* GELU-tanh (gemma3) instead of SiLU */
};

static void swiglu_worker(void *arg, int ith, int nth) {
    struct swiglu_job *job = arg;
    long lo, hi;
    tp_split(job->n, 16, ith, nth, &lo, &hi);
    if (hi <= lo) return;
    if (job->gelu) kern_gelu_mul(job->gate + lo, job->up + lo, (int)(hi - lo));
    else kern_silu_mul(job->gate + lo, job->up + lo, (int)(hi - lo));
}

static void swiglu(struct edgellm_context *c, int n) {
    struct swiglu_job job = {c->gate, c->up, (long)n * (long)c->model->hp.n_ff, c->model->hp.arch->act == ACT_GELU_TANH};
    if (n == 1) swiglu_worker(&job, 0, 1); /* decode: 8,960 values, not worth a pool round trip */
    else tp_run(c->tp, swiglu_worker, &job);
}

/* Runs one micro-batch of n tokens (already validated; cache rows for their positions exist).
 * want[t] marks tokens whose logits go to c->logits rows starting at out0. */
static edgellm_status run_ubatch(struct edgellm_context *c, const edgellm_token *tok, const int8_t *want, int n, int32_t *n_out) {
    struct edgellm_model *m = c->model;
    const struct hparams *hp = &m->hp;
    uint32_t e = hp->n_embd, hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    for (int t = 0; t < n; t++) {
        float *xt = c->x + (size_t)t * e;
        kern_get_row(&m->tok_embd, tok[t], xt);
        if (hp->embd_scale != 1.0f)
            for (uint32_t i = 0; i < e; i++) xt[i] *= hp->embd_scale;
    }
    rope_prepare(c, n);
    int16_t tile_t0[UBATCH], tile_nt[UBATCH];
    int n_tiles = attn_tiles(c, n, tile_t0, tile_nt);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const struct layer_weights *L = &m->layers[il];
        const struct layer_hparams *LH = &hp->layer[il];
        if (c->abort_fn && c->abort_fn(c->abort_user)) return ctx_fail(c, EDGELLM_ERR_ABORTED, "decode aborted by the caller");
        rmsnorm_rows(c->xn, c->x, &L->attn_norm, n, e, hp->norm_eps);
        {
            /* one quantization of xn and one thread-pool job for the three projections */
            const struct weight *ws[3] = {&L->wq, &L->wk, &L->wv};
            float *ys[3] = {c->q, c->k, c->v};
            const int64_t ld[3] = {L->wq.ne[1], L->wk.ne[1], L->wv.ne[1]};
            ctx_activation(c, (int32_t)il, "attn_q", c->xn, n, e);
            ctx_activation(c, (int32_t)il, "attn_k", c->xn, n, e);
            ctx_activation(c, (int32_t)il, "attn_v", c->xn, n, e);
            kern_matmul_n(c->tp, 3, ws, c->xn, n, ys, ld, c->mm_scratch);
        }
        add_bias(c->q, &L->bq, n);
        add_bias(c->k, &L->bk, n);
        add_bias(c->v, &L->bv, n);
        if (L->q_norm.data) rmsnorm_rows(c->q, c->q, &L->q_norm, n * (int)hp->n_head, hd, hp->norm_eps);
        if (L->k_norm.data) rmsnorm_rows(c->k, c->k, &L->k_norm, n * (int)hp->n_head_kv, hd, hp->norm_eps);
        if (LH->rope) {
            rope_apply(c, c->q, n, hp->n_head, LH->swa);
            rope_apply(c, c->k, n, hp->n_head_kv, LH->swa);
        }
        for (int t = 0; t < n; t++) {
            kv_store(c, kv_row(c, c->k_cache, c->ub_seq[t], il, (uint32_t)c->ub_pos[t]), c->k + (size_t)t * kv_dim, kv_dim);
            kv_store(c, kv_row(c, c->v_cache, c->ub_seq[t], il, (uint32_t)c->ub_pos[t]), c->v + (size_t)t * kv_dim, kv_dim);
        }
        attn_run(c, il, n_tiles, tile_t0, tile_nt);
        ctx_activation(c, (int32_t)il, "attn_output", c->att, n, L->wo.ne[0]);
        kern_matmul(c->tp, &L->wo, c->att, n, c->xn, e, c->mm_scratch);
        add_residual(c->x, c->xn, &L->post_attn_norm, n, e, hp->norm_eps);
        rmsnorm_rows(c->xn, c->x, &L->ffn_norm, n, e, hp->norm_eps);
        {
            const struct weight *ws[2] = {&L->w_gate, &L->w_up};
            float *ys[2] = {c->gate, c->up};
            const int64_t ld[2] = {hp->n_ff, hp->n_ff};
            ctx_activation(c, (int32_t)il, "ffn_gate", c->xn, n, e);
            ctx_activation(c, (int32_t)il, "ffn_up", c->xn, n, e);
            kern_matmul_n(c->tp, 2, ws, c->xn, n, ys, ld, c->mm_scratch);
        }
        swiglu(c, n);
        ctx_activation(c, (int32_t)il, "ffn_down", c->gate, n, hp->n_ff);
        kern_matmul(c->tp, &L->w_down, c->gate, n, c->xn, e, c->mm_scratch);
        add_residual(c->x, c->xn, &L->post_ffn_norm, n, e, hp->norm_eps);
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
        float *lg = c->logits + (size_t)*n_out * (size_t)n_vocab;
        ctx_activation(c, -1, NULL, c->out_rows, n_rows, e);
        kern_matmul(c->tp, &m->output, c->out_rows, n_rows, lg, n_vocab, c->mm_scratch);
        if (hp->logit_softcap > 0.0f) {
            float cap = hp->logit_softcap;
            for (size_t i = 0; i < (size_t)n_rows * (size_t)n_vocab; i++) lg[i] = cap * tanhf(lg[i] / cap);
        }
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
            if (c->seq_len[s] > c->seq_hi[s]) c->seq_hi[s] = c->seq_len[s];
            kv_set_token(c, s, (uint32_t)c->ub_pos[t], b->token[i0 + t]);
            want[t] = b->logits ? b->logits[i0 + t] != 0 : i0 + t == n - 1;
        }
        edgellm_status st = run_ubatch(c, b->token + i0, want, nu, &n_out);
        if (st) {
            /* the cache rows of this batch are incomplete: forget all its positions */
            memcpy(c->seq_len, start, sizeof(uint32_t) * c->n_seq);
            for (uint32_t s = 0; s < c->n_seq; s++) edgellm_context_seq_truncate(c, (int32_t)s, start[s]);
            return st;
        }
    }
    c->n_logits = n_out;
    return EDGELLM_OK;
}
