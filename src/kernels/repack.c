/* Row-interleaved weight layout for decode (kernels.h, "Repacked weights").
 *
 * A weight in KERN_LAYOUT_X4 keeps its size and its row groups where they were: rows 4g..4g+3
 * still occupy bytes [4g * nb_row, (4g + 4) * nb_row), and rows past the last whole group stay
 * as they are. Inside a group the blocks of the 4 rows are interleaved column by column (a
 * column = the same block index in the 4 rows), each field of a block split into pieces that
 * are stored for the 4 rows one after another (row r at r * len). A decode kernel then reads a
 * group as one sequential stream, and a 16-byte piece of the 4 rows is one 64-byte vector with
 * row r in 128-bit lane r. Small per-block fields (the fp16 scales of the 32-element types)
 * are grouped after up to `S` columns, so that the quants of every column start on a 64-byte
 * boundary. The description below (which fields, in which order) is the only thing the
 * portable code needs: repacking, unpacking rows back for the other kernels, and reading one
 * row (embedding lookup) are all generic copies driven by it.
 *
 * Long rows (more than RP_SLICE_MIN_E elements: ffn_down) are cut into slices of RP_SLICE_E
 * elements (8 super-blocks, or 64 blocks of 32 = 8 super-columns), and slice s of every group
 * is stored before slice s + 1 of any: slice s of group g (ncs blocks, the last slice may be
 * shorter) starts at KERN_RP_R * bs * (ng * s0 + g * ncs), s0 its first block, and is laid out
 * as the group of a matrix with ncs-block rows. A decode kernel then takes the matrix slice by
 * slice, each a sequential stream whose activations (2.3 KiB) stay in L1. Whole rows of k =
 * 8960 re-read for every group no longer did beside the group's weights and the prefetched
 * stream: from DRAM one thread held 88-94% of membw on Q4_K up to k = 4096 and 65-72% from k =
 * 8192, and walking the unsliced layout slice by slice cost as much as it saved; Q4_0 at k =
 * 8960 went from 23.2 to 26.7 GB/s when sliced. The whole groups still take the same bytes,
 * and the plain tail rows stay after them.
 */
#include "kernels/kernels.h"
#include "core/os.h"

#include <stdlib.h>
#include <string.h>

#define RP_MAXP 16

struct rp_piece {
    uint16_t off, len;
};

struct rp_desc {
    uint16_t bs;        /* bytes of one block as stored in a plain row */
    uint16_t be;        /* elements of one block */
    uint8_t S;          /* columns per super-column */
    uint8_t npc, ngp;   /* per-column pieces, grouped pieces */
    uint16_t pcsum;     /* bytes of the per-column pieces of one row (and block) */
    struct rp_piece pc[RP_MAXP], gp[2];
};

#define P16(o) { (o), 16 }
static const struct rp_desc rp_q4_0 = { 18, 32, 8, 1, 1, 16, { P16(2) }, { { 0, 2 } } };
static const struct rp_desc rp_q8_0 = { 34, 32, 8, 2, 1, 32, { P16(2), P16(18) }, { { 0, 2 } } };
static const struct rp_desc rp_q5_0 = { 22, 32, 8, 1, 2, 16, { P16(6) }, { { 2, 4 }, { 0, 2 } } };
static const struct rp_desc rp_q4_K = { 144, 256, 1, 9, 0, 144,
                                        { P16(0), P16(16), P16(32), P16(48), P16(64), P16(80), P16(96), P16(112), P16(128) },
                                        { { 0, 0 } } };
static const struct rp_desc rp_q5_K = { 176, 256, 1, 11, 0, 176,
                                        { P16(0), P16(16), P16(32), P16(48), P16(64), P16(80), P16(96), P16(112),
                                          P16(128), P16(144), P16(160) },
                                        { { 0, 0 } } };
static const struct rp_desc rp_q6_K = { 210, 256, 1, 14, 0, 210,
                                        { P16(0), P16(16), P16(32), P16(48), P16(64), P16(80), P16(96), P16(112),
                                          P16(128), P16(144), P16(160), P16(176), P16(192), { 208, 2 } },
                                        { { 0, 0 } } };
static const struct rp_desc rp_iq4_xs = { 136, 256, 1, 9, 0, 136,
                                          { { 0, 8 }, P16(8), P16(24), P16(40), P16(56), P16(72), P16(88), P16(104), P16(120) },
                                          { { 0, 0 } } };
static const struct rp_desc rp_f16 = { 64, 32, 1, 1, 0, 64, { { 0, 64 } }, { { 0, 0 } } };
#undef P16

static const struct rp_desc *rp_get(uint32_t type) {
    switch (type) {
    case QT_Q4_0: return &rp_q4_0;
    case QT_Q8_0: return &rp_q8_0;
    case QT_Q5_0: return &rp_q5_0;
    case QT_Q4_K: return &rp_q4_K;
    case QT_Q5_K: return &rp_q5_K;
    case QT_Q6_K: return &rp_q6_K;
    case QT_IQ4_XS: return &rp_iq4_xs;
    case QT_F16: return &rp_f16;
    default: return NULL;
    }
}

int kern_repack_layout_known(uint32_t type) { return rp_get(type) != NULL; }

#define RP_SLICE_E 2048     /* elements per slice */
#define RP_SLICE_MIN_E 4096 /* rows up to this many elements are not sliced */

/* Blocks per slice of a repacked row of nb blocks (nb: not sliced). */
static int rp_slice(const struct rp_desc *d, int nb) { return nb * d->be > RP_SLICE_MIN_E ? RP_SLICE_E / d->be : nb; }

int64_t kern_rp_slice(const struct weight *w) {
    const struct rp_desc *d = rp_get(w->type);
    return d ? (int64_t)rp_slice(d, (int)(w->ne[0] / d->be)) * d->be : w->ne[0];
}

/* Slice s of group g of a repacked weight (ng whole groups, nb blocks per row) at base, and its
 * blocks (*ncs). */
static uint8_t *rp_slice_at(const struct rp_desc *d, const void *base, int64_t ng, int nb, int64_t g, int s, int *ncs) {
    const int sw = rp_slice(d, nb), s0 = s * sw;
    *ncs = nb - s0 < sw ? nb - s0 : sw;
    return (uint8_t *)(uintptr_t)base + (size_t)KERN_RP_R * d->bs * ((size_t)ng * s0 + (size_t)g * *ncs);
}

const void *kern_rp_slice_at(const struct weight *w, int64_t g, int s) {
    const struct rp_desc *d = rp_get(w->type);
    int ncs;
    return rp_slice_at(d, w->data, w->ne[1] / KERN_RP_R, (int)(w->ne[0] / d->be), g, s, &ncs);
}

/* Small copies of the lengths the descriptions use, inlined. */
static inline void rp_copy(uint8_t *d, const uint8_t *s, unsigned len) {
    switch (len) {
    case 2: memcpy(d, s, 2); break;
    case 4: memcpy(d, s, 4); break;
    case 8: memcpy(d, s, 8); break;
    case 16: memcpy(d, s, 16); break;
    case 64: memcpy(d, s, 64); break;
    default: memcpy(d, s, len); break;
    }
}

/* Moves block i of lane r (0..3) of a group between the group (grp) and a plain block (blk):
 * to_grp = 1 writes the group, 0 reads it. nb = blocks per row. */
static inline void rp_xfer(const struct rp_desc *d, uint8_t *grp, int nb, int i, int r, uint8_t *blk, int to_grp) {
    const int s = i / d->S, c = i % d->S;
    const int ncs = nb - s * d->S < d->S ? nb - s * d->S : d->S;
    uint8_t *sc = grp + (size_t)s * d->S * KERN_RP_R * d->bs;
    uint8_t *p = sc + (size_t)c * KERN_RP_R * d->pcsum;
    for (int j = 0; j < d->npc; j++) {
        const unsigned len = d->pc[j].len;
        if (to_grp) rp_copy(p + r * len, blk + d->pc[j].off, len);
        else rp_copy(blk + d->pc[j].off, p + r * len, len);
        p += KERN_RP_R * len;
    }
    p = sc + (size_t)ncs * KERN_RP_R * d->pcsum;
    for (int j = 0; j < d->ngp; j++) {
        const unsigned len = d->gp[j].len;
        uint8_t *q = p + (size_t)(c * KERN_RP_R + r) * len;
        if (to_grp) rp_copy(q, blk + d->gp[j].off, len);
        else rp_copy(blk + d->gp[j].off, q, len);
        p += (size_t)ncs * KERN_RP_R * len;
    }
}

/* One piece of the 4 rows: p (4 x len bytes, row r at r * len) <-> b + r * nb_row. */
static inline void rp_piece4(uint8_t *p, uint8_t *b, size_t nb_row, unsigned len, int to_grp) {
#define RP_PIECE4(L)                                                                              \
    for (int r = 0; r < KERN_RP_R; r++) {                                                         \
        if (to_grp) memcpy(p + r * (L), b + r * nb_row, (L));                                     \
        else memcpy(b + r * nb_row, p + r * (L), (L));                                            \
    }                                                                                             \
    break;
    switch (len) {
    case 2: RP_PIECE4(2)
    case 4: RP_PIECE4(4)
    case 8: RP_PIECE4(8)
    case 16: RP_PIECE4(16)
    case 64: RP_PIECE4(64)
    default: RP_PIECE4(len)
    }
#undef RP_PIECE4
}

/* A whole group between its repacked form (grp) and 4 plain rows (rows, nb_row bytes apart),
 * in the repacked order (one sequential pass over grp). */
static void rp_group(const struct rp_desc *d, uint8_t *grp, uint8_t *rows, size_t nb_row, int nb, int to_grp) {
    uint8_t *p = grp;
    for (int s0 = 0; s0 < nb; s0 += d->S) {
        const int ncs = nb - s0 < d->S ? nb - s0 : d->S;
        for (int c = 0; c < ncs; c++) {
            uint8_t *b = rows + (size_t)(s0 + c) * d->bs;
            for (int j = 0; j < d->npc; j++) {
                rp_piece4(p, b + d->pc[j].off, nb_row, d->pc[j].len, to_grp);
                p += KERN_RP_R * d->pc[j].len;
            }
        }
        for (int j = 0; j < d->ngp; j++)
            for (int c = 0; c < ncs; c++) {
                rp_piece4(p, rows + (size_t)(s0 + c) * d->bs + d->gp[j].off, nb_row, d->gp[j].len, to_grp);
                p += KERN_RP_R * d->gp[j].len;
            }
    }
}

int kern_repack_possible(const struct weight *w) {
    const struct rp_desc *d = rp_get(w->type);
    return d && w->layout == KERN_LAYOUT_ROWS && w->ne[1] >= KERN_RP_R && w->ne[0] % d->be == 0 &&
           (size_t)(w->ne[0] / d->be) * d->bs == w->nb_row;
}

/* Whole group g between the repacked weight at base and 4 plain rows at rows (its slices in turn). */
static void rp_group_sliced(const struct rp_desc *d, const void *base, int64_t ng, int nb, int64_t g, uint8_t *rows,
                            size_t nb_row, int to_grp) {
    const int sw = rp_slice(d, nb);
    for (int s = 0; s * sw < nb; s++) {
        int ncs;
        uint8_t *p = rp_slice_at(d, base, ng, nb, g, s, &ncs);
        rp_group(d, p, rows + (size_t)s * sw * d->bs, nb_row, ncs, to_grp);
    }
}

void kern_repack_groups(const struct weight *w, const void *src, void *dst, int64_t g0, int64_t g1) {
    const struct rp_desc *d = rp_get(w->type);
    const int nb = (int)(w->ne[0] / d->be);
    for (int64_t g = g0; g < g1; g++)
        rp_group_sliced(d, dst, w->ne[1] / KERN_RP_R, nb, g,
                        (uint8_t *)(uintptr_t)((const uint8_t *)src + (size_t)g * KERN_RP_R * w->nb_row), w->nb_row, 1);
}

/* Block i of row r (inside a whole group) of the repacked w, plain, to blk. */
static void rp_block(const struct rp_desc *d, const struct weight *w, int64_t r, int i, uint8_t *blk) {
    const int nb = (int)(w->ne[0] / d->be), sw = rp_slice(d, nb);
    int ncs;
    uint8_t *p = rp_slice_at(d, w->data, w->ne[1] / KERN_RP_R, nb, r / KERN_RP_R, i / sw, &ncs);
    rp_xfer(d, p, ncs, i % sw, (int)(r % KERN_RP_R), blk, 0);
}

/* Row r (inside a whole group) of the repacked w, plain, to out. */
static void rp_row(const struct rp_desc *d, const struct weight *w, int64_t r, uint8_t *out) {
    const int nb = (int)(w->ne[0] / d->be);
    for (int i = 0; i < nb; i++) rp_block(d, w, r, i, out + (size_t)i * d->bs);
}

void kern_unrepack_rows(const struct weight *w, int64_t r0, int64_t r1, void *dst) {
    const struct rp_desc *d = rp_get(w->type);
    const int64_t ng = w->ne[1] / KERN_RP_R;
    uint8_t *out = dst;
    int64_t r = r0;
    if (d && w->layout == KERN_LAYOUT_X4) {
        const int nb = (int)(w->ne[0] / d->be);
        for (; r % KERN_RP_R == 0 && r + KERN_RP_R <= r1 && r / KERN_RP_R < ng; r += KERN_RP_R)
            rp_group_sliced(d, w->data, ng, nb, r / KERN_RP_R, out + (size_t)(r - r0) * w->nb_row, w->nb_row, 0);
        for (; r < r1 && r / KERN_RP_R < ng; r++) rp_row(d, w, r, out + (size_t)(r - r0) * w->nb_row);
    }
    if (r < r1) memcpy(out + (size_t)(r - r0) * w->nb_row, (const char *)w->data + (size_t)r * w->nb_row, (size_t)(r1 - r) * w->nb_row);
}

void kern_repacked_row(const struct weight *w, int64_t r, float *y, qtype_to_float_fn f) {
    const struct rp_desc *d = rp_get(w->type);
    const int nb = (int)(w->ne[0] / d->be);
    uint8_t blk[256];
    for (int i = 0; i < nb; i++) {
        rp_block(d, w, r, i, blk);
        f(blk, y + (size_t)i * d->be, d->be);
    }
}

/* ---------------------------------------------------------------- repacking a model */

struct rp_job {
    const struct weight *w;
    const void *src;
    void *dst;
    int64_t g0, g1;
};

static void rp_worker(void *arg, int ith, int nth) {
    const struct rp_job *j = arg;
    long lo, hi;
    tp_split((long)(j->g1 - j->g0), 1, ith, nth, &lo, &hi);
    kern_repack_groups(j->w, j->src, j->dst, j->g0 + lo, j->g0 + hi);
}

#define RP_SLAB ((size_t)8 << 20) /* bytes repacked between two releases of the source */

size_t kern_repack_bytes(const struct weight *w) {
    return ((size_t)w->ne[1] * w->nb_row + 63) / 64 * 64;
}

void kern_repack_weight(struct threadpool *tp, const struct os_map *map, const struct weight *w, void *dst) {
    const int64_t ng = w->ne[1] / KERN_RP_R;
    const size_t gbytes = KERN_RP_R * w->nb_row;
    int64_t gstep = (int64_t)(RP_SLAB / gbytes);
    if (gstep < 1) gstep = 1;
    for (int64_t g = 0; g < ng; g += gstep) {
        struct rp_job j = { w, w->data, dst, g, g + gstep < ng ? g + gstep : ng };
        tp_run(tp, rp_worker, &j);
        /* the source pages behind us are not needed again (pages shared with the next tensor
         * are only advised once fully covered, and come back from the file if touched) */
        if (map) os_map_release(map, w->data, (size_t)j.g1 * gbytes);
    }
    const size_t tail = (size_t)(w->ne[1] - ng * KERN_RP_R) * w->nb_row;
    memcpy((char *)dst + (size_t)ng * gbytes, (const char *)w->data + (size_t)ng * gbytes, tail);
    if (map) os_map_release(map, w->data, (size_t)w->ne[1] * w->nb_row);
}
