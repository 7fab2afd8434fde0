/* Attention over the KV cache for a micro-batch (see the design note below). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "core/os.h"
#include "core/threadpool.h"
#include "kernels/attn.h"
#include "kernels/kernels.h"
#include "model/context.h"
#include "model/model.h"
#include "quant/qtypes.h"
#include "text/vocab.h"

/* Attention, flash style: a tile of up to ATT_TILE consecutive tokens of one sequence and one
 * kv head, with the gq query heads that share it (nq = tokens x gq query rows), walks the cached
 * positions in chunks of ATT_CHUNK rows. An f16 cache is read in place (converted in registers);
 * other cache types are converted to f32 once per chunk for the whole tile. The tile is three
 * small matrix products (kernels/attn.h): S = Q Kᵀ (nq x chunk), an
 * online softmax of S (running max and sum per row), O = corr O + P V; so no score matrix larger
 * than nq x chunk is ever held. Which keys a query row may see is a range [lo, hi) of the chunk
 * (attn_row_range: causal today; a sliding window is a lower bound there).
 * Decode of one token has only n_head_kv work items; when there are fewer than threads, the
 * positions are split into segments (whole chunks), each thread leaves its segment's (max, sum,
 * unnormalized output) in c->att_part, and attn_run merges them. */
struct attn_job {
    struct edgellm_context *c;
    uint32_t il;
    int n_tiles;
    const int16_t *tile_t0, *tile_nt; /* (n_tiles) first token and token count of each tile */
    int n_seg;                        /* position segments per (tile, head): > 1 only for one token */
    uint32_t seg_len;                 /* positions per segment, a multiple of ATT_CHUNK */
};

/* Keys [lo, hi) of the chunk starting at j0 that the query at position pt may see: causal, and
 * with a sliding window (win > 0) only the keys pt - win < j <= pt. */
static void attn_row_range(uint32_t pt, uint32_t j0, uint32_t win, int32_t *lo, int32_t *hi) {
    *hi = pt + 1 > j0 ? (int32_t)(pt + 1 - j0) : 0;
    *lo = win && pt + 1 > win + j0 ? (int32_t)(pt + 1 - win - j0) : 0;
    if (*lo > *hi) *lo = *hi;
}

/* One tile and kv head g over the positions [p0, p1) (clipped to what the tile's last token
 * sees). part == NULL: the normalized result goes to c->att; else (one token) part receives
 * per query row its max, sum and unnormalized output (gq x (hd + 2) floats). */
static void attn_tile(struct edgellm_context *c, uint32_t il, int t0, int nt, uint32_t g, uint32_t p0, uint32_t p1,
                      float *scratch, float *part) {
    const struct hparams *hp = &c->model->hp;
    const struct kern_attn_isa *ka = kern_attn_active();
    uint32_t hd = hp->head_dim, gq = hp->n_head / hp->n_head_kv, nq = (uint32_t)nt * gq;
    int32_t seq = c->ub_seq[t0];
    float *qt = scratch;                             /* (nq, hd) the tile's query rows */
    float *kc = qt + (size_t)nq * hd;                /* (ATT_CHUNK, hd) keys as f32 (when not f16) */
    float *vc = kc + ATT_CHUNK * (size_t)hd;         /* (ATT_CHUNK, hd) values as f32 (when not f16) */
    float *p = vc + ATT_CHUNK * (size_t)hd;          /* (nq, ATT_CHUNK) scores, then probabilities */
    float *mx = p + (size_t)nq * ATT_CHUNK;          /* (nq) running max */
    float *sum = mx + nq;                            /* (nq) running sum */
    float *corr = sum + nq;                          /* (nq) rescaling of the running output */
    float *acc = corr + nq;                          /* (nq, hd) running output */
    int32_t *lo = (int32_t *)(acc + (size_t)nq * hd), *hi = lo + nq; /* (nq) each: visible keys of the chunk */
    const float scale = hp->attn_scale;
    /* sliding-window layers: a query at p sees keys p - window < j <= p */
    const uint32_t win = hp->layer[il].swa ? hp->swa_window : 0;
    const uint32_t ring = c->layer_rows[il]; /* cache rows of the layer: a ring on sliding layers */
    const int f16 = c->kv_qtype == QT_F16;
    size_t slice = qtype_row_size(c->kv_qtype, (int64_t)g * hd); /* byte offset of head g in a row */
    for (int t = 0; t < nt; t++)
        memcpy(qt + (size_t)t * gq * hd, c->q + ((size_t)(t0 + t) * hp->n_head + (size_t)g * gq) * hd,
               sizeof(float) * gq * hd);
    for (uint32_t r = 0; r < nq; r++) {
        mx[r] = -INFINITY;
        sum[r] = 0.0f;
    }
    memset(acc, 0, sizeof(float) * nq * hd);
    uint32_t n_pos = (uint32_t)c->ub_pos[t0 + nt - 1] + 1;
    if (p1 > n_pos) p1 = n_pos;
    uint32_t p_first = (uint32_t)c->ub_pos[t0];
    if (win && p_first + 1 > win && p0 < p_first + 1 - win) p0 = p_first + 1 - win; /* older keys: out of every window */
    for (uint32_t j0 = p0, nj_u = 0; j0 < p1; j0 += nj_u) {
        nj_u = p1 - j0 < ATT_CHUNK ? p1 - j0 : ATT_CHUNK;
        if (nj_u > ring - j0 % ring) nj_u = ring - j0 % ring; /* a chunk never wraps around the ring */
        int nj = (int)nj_u;
        const uint8_t *kr = kv_row(c, c->k_cache, seq, il, j0) + slice, *vr = kv_row(c, c->v_cache, seq, il, j0) + slice;
        for (int t = 0; t < nt; t++)
            for (uint32_t h = 0; h < gq; h++)
                attn_row_range((uint32_t)c->ub_pos[t0 + t], j0, win, &lo[(uint32_t)t * gq + h], &hi[(uint32_t)t * gq + h]);
        if (f16) { /* read in place */
            ka->qk_f16(p, ATT_CHUNK, qt, hd, (int)nq, kr, c->kv_row_bytes, nj, (int)hd, scale);
        } else {
            kern_attn_load_rows(c->kv_qtype, kr, c->kv_row_bytes, nj, (int)hd, kc, hd);
            kern_attn_load_rows(c->kv_qtype, vr, c->kv_row_bytes, nj, (int)hd, vc, hd);
            ka->qk_f32(p, ATT_CHUNK, qt, hd, (int)nq, kc, hd * sizeof(float), nj, (int)hd, scale);
        }
        ka->softmax(p, ATT_CHUNK, (int)nq, nj, lo, hi, mx, sum, corr);
        if (f16) ka->pv_f16(acc, hd, corr, p, ATT_CHUNK, (int)nq, vr, c->kv_row_bytes, nj, (int)hd);
        else ka->pv_f32(acc, hd, corr, p, ATT_CHUNK, (int)nq, vc, hd * sizeof(float), nj, (int)hd);
    }
    if (part) {
        for (uint32_t r = 0; r < nq; r++) {
            float *pr = part + (size_t)r * (hd + 2);
            pr[0] = mx[r];
            pr[1] = sum[r];
            memcpy(pr + 2, acc + (size_t)r * hd, sizeof(float) * hd);
        }
        return;
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
    const struct hparams *hp = &c->model->hp;
    uint32_t n_kv = hp->n_head_kv, gq = hp->n_head / hp->n_head_kv;
    float *scratch = c->att_scratch + (size_t)ith * c->att_scratch_stride;
    if (job->n_seg > 1) { /* one token: items are (head, segment) */
        for (long it = ith; it < (long)n_kv * job->n_seg; it += nth) {
            uint32_t g = (uint32_t)(it / job->n_seg), sg = (uint32_t)(it % job->n_seg);
            float *part = c->att_part + ((size_t)g * job->n_seg + sg) * gq * (hp->head_dim + 2);
            attn_tile(c, job->il, job->tile_t0[0], 1, g, sg * job->seg_len, (sg + 1) * job->seg_len, scratch, part);
        }
        return;
    }
    long n_items = (long)job->n_tiles * n_kv;
    /* later tiles attend to more positions: deal items round-robin, from the most expensive */
    for (long it = n_items - 1 - ith; it >= 0; it -= nth) {
        long tile = it / n_kv;
        attn_tile(c, job->il, job->tile_t0[tile], job->tile_nt[tile], (uint32_t)(it % n_kv), 0, UINT32_MAX, scratch, NULL);
    }
}

/* Combines the segments of a split one-token attention into c->att. */
static void attn_merge(struct edgellm_context *c, int t0, int n_seg) {
    const struct hparams *hp = &c->model->hp;
    uint32_t hd = hp->head_dim, gq = hp->n_head / hp->n_head_kv;
    for (uint32_t g = 0; g < hp->n_head_kv; g++)
        for (uint32_t h = 0; h < gq; h++) {
            float m = -INFINITY, sum = 0.0f;
            for (int sg = 0; sg < n_seg; sg++) {
                const float *pr = c->att_part + (((size_t)g * n_seg + sg) * gq + h) * (hd + 2);
                if (pr[0] > m) m = pr[0];
            }
            float *out = c->att + ((size_t)t0 * hp->n_head + (size_t)g * gq + h) * hd;
            memset(out, 0, sizeof(float) * hd);
            for (int sg = 0; sg < n_seg; sg++) {
                const float *pr = c->att_part + (((size_t)g * n_seg + sg) * gq + h) * (hd + 2);
                if (pr[1] == 0.0f) continue; /* a segment with no visible position */
                const float w = expf(pr[0] - m);
                sum += pr[1] * w;
                kern_axpy_f32(out, w, pr + 2, (int)hd);
            }
            const float inv = 1.0f / sum;
            for (uint32_t i = 0; i < hd; i++) out[i] *= inv;
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
    struct attn_job job = {c, il, n_tiles, t0, nt, 1, 0};
    const uint32_t n_kv = c->model->hp.n_head_kv, nth = (uint32_t)tp_n_threads(c->tp);
    if (n_tiles == 1 && nt[0] == 1 && n_kv < nth) {
        /* one token, fewer heads than threads: split its positions (whole chunks) */
        const uint32_t n_pos = (uint32_t)c->ub_pos[t0[0]] + 1, n_chunks = (n_pos + ATT_CHUNK - 1) / ATT_CHUNK;
        uint32_t n_seg = (nth + n_kv - 1) / n_kv;
        if (n_seg > n_chunks) n_seg = n_chunks;
        if (n_seg > ATT_MAX_SEG) n_seg = ATT_MAX_SEG;
        job.n_seg = (int)n_seg;
        job.seg_len = (n_chunks + n_seg - 1) / n_seg * ATT_CHUNK;
    }
    tp_run(c->tp, attn_worker, &job);
    if (job.n_seg > 1) attn_merge(c, t0[0], job.n_seg);
}
