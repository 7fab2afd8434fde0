/* Attention over the KV cache for a micro-batch (see the design note below). */
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
    const float scale = hp->attn_scale;
    /* sliding-window layers: a query at p sees keys p - window < j <= p */
    uint32_t win = hp->layer[il].swa ? hp->swa_window : 0;
    size_t slice = qtype_row_size(c->kv_qtype, (int64_t)g * hd); /* byte offset of head g in a row */
    for (uint32_t r = 0; r < nq; r++) {
        mx[r] = -INFINITY;
        sum[r] = 0.0f;
    }
    memset(acc, 0, sizeof(float) * nq * hd);
    uint32_t n_pos = (uint32_t)c->ub_pos[t0 + nt - 1] + 1, p_first = (uint32_t)c->ub_pos[t0];
    uint32_t lo = win && p_first + 1 > win ? p_first + 1 - win : 0; /* first visible key of the tile */
    for (uint32_t j0 = lo; j0 < n_pos; j0 += ATT_CHUNK) {
        uint32_t nj = n_pos - j0 < ATT_CHUNK ? n_pos - j0 : ATT_CHUNK;
        for (uint32_t j = 0; j < nj; j++) {
            kv_load(c, kv_row(c, c->k_cache, seq, il, j0 + j) + slice, kc + (size_t)j * hd, hd);
            kv_load(c, kv_row(c, c->v_cache, seq, il, j0 + j) + slice, vc + (size_t)j * hd, hd);
        }
        for (int t = 0; t < nt; t++) {
            uint32_t pt = (uint32_t)c->ub_pos[t0 + t];
            if (pt < j0) continue; /* causal: this chunk is entirely in the token's future */
            uint32_t njt = pt + 1 - j0 < nj ? pt + 1 - j0 : nj;
            uint32_t jlo = win && pt + 1 > win + j0 ? pt + 1 - win - j0 : 0; /* window: rows before jlo are too old */
            if (jlo >= njt) continue;
            njt -= jlo;
            for (uint32_t h = 0; h < gq; h++) {
                uint32_t r = (uint32_t)t * gq + h;
                const float *q = c->q + ((size_t)(t0 + t) * hp->n_head + (size_t)g * gq + h) * hd;
                float *pr = p + (size_t)r * ATT_CHUNK, m_new = mx[r];
                kern_scores_f32(pr, q, kc + (size_t)jlo * hd, hd, (int)njt, (int)hd, scale);
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
                kern_wsum_f32(o, pr, vc + (size_t)jlo * hd, hd, (int)njt, (int)hd);
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
int attn_tiles(const struct edgellm_context *c, int n, int16_t *t0, int16_t *nt) {
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

void attn_run(struct edgellm_context *c, uint32_t il, int n_tiles, const int16_t *t0, const int16_t *nt) {
    struct attn_job job = {c, il, n_tiles, t0, nt};
    tp_run(c->tp, attn_worker, &job);
}
