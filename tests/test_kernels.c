/* Kernel tests: on every ISA this machine can run (kern_force), every fast kernel against the
 * scalar reference of qtypes.c on the same quantized bytes, with the float-rounding bar dot_tol
 * derives: quantizers and dequantizers bit-identical; vec_dot at row lengths with every tail
 * (1..15 elements past whole 16s for float types, 1..32 blocks); tile kernels for nr = 1..31
 * rows and nc = 1..tile_c tokens; packed prefill for 1..3 groups and 1..16 tokens; kern_matmul
 * for n = 1..33 tokens with every row tail 1..15 past whole packed groups, and kern_matmul_n
 * (several weights, mixed types) — every output against the reference, none against other fast
 * code. The types come from the type table (and every entry an ISA table fills must be one of
 * them), not from a hand-written list. */
#include <math.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "testutil.h"
#include "core/threadpool.h"

/* Weight types: every type of the table with a reference quantizer, dequantizer and vec_dot whose
 * activation type (vec_dot_type) has a reference quantizer; activation types: those vec_dot_types. */
static uint32_t wtypes[QT_COUNT], atypes[QT_COUNT];
static int n_wtypes, n_atypes;

static int in_list(const uint32_t *l, int n, uint32_t t) {
    for (int i = 0; i < n; i++)
        if (l[i] == t) return 1;
    return 0;
}

static void derive_types(void) {
    for (uint32_t t = 0; t < QT_COUNT; t++) {
        const struct qtype_traits *tt = qtype_get(t);
        if (!tt || !tt->from_float || !tt->to_float || !tt->vec_dot) continue;
        const struct qtype_traits *vt = qtype_get(tt->vec_dot_type);
        if (!vt || !vt->from_float || !vt->to_float) continue;
        wtypes[n_wtypes++] = t;
        if (!in_list(atypes, n_atypes, tt->vec_dot_type)) atypes[n_atypes++] = tt->vec_dot_type;
    }
}

/* Every kernel an ISA table holds must be one this test checks against a reference. */
static void test_table_coverage(const struct kern_isa *isa) {
    for (uint32_t t = 0; t < QT_COUNT; t++) {
        const int w = isa->vec_dot[t] || isa->tile[t] || isa->pack[t] || isa->tile_packed[t];
        CHECKF(!w || in_list(wtypes, n_wtypes, t), "%s has a kernel for type %u (%s), which has no reference", isa->name,
               t, qtype_name(t) ? qtype_name(t) : "?");
        CHECKF(!isa->quantize[t] || in_list(atypes, n_atypes, t), "%s quantizes to type %u, no weight type uses it",
               isa->name, t);
        CHECKF(!isa->to_float[t] || (qtype_get(t) && qtype_get(t)->to_float), "%s to_float %u has no reference", isa->name, t);
        CHECKF(!(isa->pack[t] || isa->tile_packed[t] || isa->pack_b32[t]) ||
                   (isa->pack[t] && isa->tile_packed[t] && isa->pack_b32[t]),
               "%s packed %s: pack, tile_packed and pack_b32 must be set together", isa->name, qtype_name(t));
        CHECKF(isa->tile_c[t] <= KERN_TILE_C_MAX, "%s tile_c %s > KERN_TILE_C_MAX", isa->name, qtype_name(t));
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rng_f(void) { return (float)rng_u32() / 2147483648.0f - 1.0f; } /* [-1, 1) */

/* Data with some structure: per-32 blocks of different magnitudes, a zero block, and exact
 * rounding ties (x * (127 / amax) = m + 0.5) that the SIMD rounding must break like roundf. */
static void fill(float *x, int64_t k, int salt) {
    for (int64_t i = 0; i < k; i++) {
        const int64_t b = i / 32;
        const float mag = (b % 5 == 4) ? 8.0f : (b % 3 == 1 ? 0.05f : 1.0f);
        x[i] = rng_f() * mag;
    }
    if (k >= 96) for (int i = 64; i < 96; i++) x[i] = 0;
    if (k >= 128) {
        x[96] = 127.0f;
        for (int i = 97; i < 128; i++) x[i] = (float)((i * 7 + salt) % 126 - 63) + 0.5f;
    }
}

/* Matmul data: per-32 blocks of magnitudes 1, 0.05 and 8 and a zero block, with no block that
 * dwarfs the others, so that the rounding bar stays far below what any one block adds. */
static void fill_mm(float *x, int64_t k, int salt) {
    uint64_t st = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(uint32_t)salt * 0x100000001b3ull);
    for (int64_t i = 0; i < k; i++) {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        const int64_t b = i / 32;
        const float mag = (b % 5 == 4) ? 8.0f : (b % 3 == 1 ? 0.05f : 1.0f);
        x[i] = ((float)(uint32_t)(st >> 11) / 2147483648.0f - 1.0f) * mag;
    }
    if (k >= 96) for (int i = 64; i < 96; i++) x[i] = 0;
}

static int block_of(uint32_t t) { return qtype_get(t)->blck_size; }

static float *dequant_rows(uint32_t t, const void *q, int64_t k, int rows) {
    float *f = malloc(sizeof(float) * (size_t)(k * rows));
    const size_t rs = qtype_row_size(t, k);
    for (int r = 0; r < rows; r++) qtype_get(t)->to_float((const char *)q + rs * (size_t)r, f + r * k, k);
    return f;
}

static void *quant_rows(uint32_t t, const float *x, int64_t k, int rows) {
    const size_t rs = qtype_row_size(t, k);
    char *q = malloc(rs * (size_t)rows + 1);
    for (int r = 0; r < rows; r++) qtype_get(t)->from_float(x + r * k, q + rs * (size_t)r, k);
    return q;
}

/* Quantizers of activation types: bit-identical to the reference. */
static void test_quantizers(const struct kern_isa *isa) {
    const int64_t ks[] = { 256, 512, 1536, 8960, 32, 96, 288 };
    for (int a = 0; a < n_atypes; a++) {
        const uint32_t t = atypes[a];
        if (!isa->quantize[t] || !qtype_get(t)->from_float) continue;
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            const int64_t k = ks[ki];
            if (k % block_of(t)) continue;
            float *x = malloc(sizeof(float) * (size_t)k);
            fill(x, k, (int)ki);
            const size_t rs = qtype_row_size(t, k);
            char *q0 = calloc(1, rs), *q1 = calloc(1, rs);
            qtype_get(t)->from_float(x, q0, k);
            isa->quantize[t](x, q1, k);
            CHECKF(!memcmp(q0, q1, rs), "%s quantize %s k=%lld differs", isa->name, qtype_name(t), (long long)k);
            free(x); free(q0); free(q1);
        }
    }
}

/* Fast dequantizers: exact. F16 over all 65536 bit patterns (NaNs only need to stay NaN). */
static void test_to_float(const struct kern_isa *isa) {
    if (isa->to_float[QT_F16]) {
        fp16_t *h = malloc(sizeof(fp16_t) * 65536);
        float *a = malloc(sizeof(float) * 65536), *b = malloc(sizeof(float) * 65536);
        for (int i = 0; i < 65536; i++) h[i] = (fp16_t)i;
        qtype_get(QT_F16)->to_float(h, a, 65536);
        isa->to_float[QT_F16](h, b, 65535); /* odd length: the tail path too */
        b[65535] = a[65535];
        int bad = 0;
        for (int i = 0; i < 65536; i++)
            if (isnan(a[i]) ? !isnan(b[i]) : memcmp(&a[i], &b[i], sizeof(float)) != 0) bad++;
        CHECKF(bad == 0, "%s f16 to_float: %d patterns differ", isa->name, bad);
        free(h); free(a); free(b);
    }
    for (uint32_t t = 0; t < QT_COUNT; t++) {
        if (t == QT_F16 || !isa->to_float[t] || !qtype_get(t) || !qtype_get(t)->from_float) continue;
        const int64_t k = 512;
        float *x = malloc(sizeof(float) * k), *a = malloc(sizeof(float) * k), *b = malloc(sizeof(float) * k);
        fill(x, k, 7);
        char *q = malloc(qtype_row_size(t, k));
        qtype_get(t)->from_float(x, q, k);
        qtype_get(t)->to_float(q, a, k);
        isa->to_float[t](q, b, k);
        CHECKF(!memcmp(a, b, sizeof(float) * k), "%s %s to_float differs", isa->name, qtype_name(t));
        free(x); free(a); free(b); free(q);
    }
}

/* ---------------------------------------------------------------- the reference and its tolerance
 *
 * Every fast dot product is compared with the scalar reference vec_dot of qtypes.c on the SAME
 * bytes: the weight row and the activation row quantized by the reference quantizer (the fast
 * quantizers are bit-identical to it, test_quantizers). Both then sum the same exact products —
 * integer block sums times scale products, or the k float products of the float types — in
 * different orders and groupings, so they may differ only by float rounding:
 *   - a float sum of m terms, in any order and grouping, is within (m - 1) u sum|terms| of the
 *     exact sum (u = 2^-24, round to nearest); each term carries at most 3 roundings of its own
 *     (the scale product, its product with the integer sum, a conversion), so
 *     |fast - reference| <= 2 (m + 3) u T, with T the sum of |terms| (both sides err);
 *   - float types: m = k, T = sum |w_i x_i|;
 *   - block types: at most two terms (scale and min/offset) per 16 elements, m <= k / 8 + 2; a
 *     scale term of a block is |d_w d_x sum q_w q_x| <= sum (|w_i| + |o|) |x_i| with o the
 *     block's offset, |o| <= max |w| of the block, and the offset term is <= |o| sum |x_i|: so
 *     T <= sum over 32-blocks of 3 max|w| sum|x|.
 * With the data of fill_mm (block magnitudes 0.05 to 8) the bar is ~1e-5 of a row's magnitude:
 * dropping any block of magnitude 1 (one tail block, one token, one row) is far outside it. */
static double dot_tol(uint32_t t, const float *w, const float *x, int64_t k) {
    double T = 0, m;
    if (!qtype_get(t)->is_quantized) {
        for (int64_t i = 0; i < k; i++) T += fabs((double)w[i] * x[i]);
        m = (double)k;
    } else {
        for (int64_t i0 = 0; i0 < k; i0 += 32) {
            double wmax = 0, xs = 0;
            for (int64_t i = i0; i < i0 + 32 && i < k; i++) {
                wmax = fmax(wmax, fabs(w[i]));
                xs += fabs(x[i]);
            }
            T += 3 * wmax * xs;
        }
        m = (double)k / 8 + 2;
    }
    return 2 * (m + 3) * ldexp(1.0, -24) * T + 1e-30;
}

/* Largest |error| / tolerance seen, per ISA (printed: how much room the bars leave). */
static double worst_ratio;

static int within(float v, double ref, double tol) {
    const double e = fabs((double)v - ref);
    if (!(e <= tol)) return 0;
    if (e / tol > worst_ratio) worst_ratio = e / tol;
    return 1;
}

/* Weights (rows of k) and activations (cols of k) of type t, quantized by the reference, with
 * their dequantized copies and the reference dot of every (row, col) pair and its tolerance. */
struct dotset {
    uint32_t t, vdt;
    int64_t k;
    int rows, cols;
    size_t nbw, nbx;
    char *wq, *xq;
    float *ref;  /* [cols][rows] */
    double *tol; /* [cols][rows] */
};

static void dotset_make(struct dotset *d, uint32_t t, int64_t k, int rows, int cols, int wsalt, int xsalt) {
    const struct qtype_traits *tt = qtype_get(t);
    d->t = t;
    d->vdt = tt->vec_dot_type;
    d->k = k;
    d->rows = rows;
    d->cols = cols;
    float *wf = malloc(sizeof(float) * (size_t)(k * rows)), *xf = malloc(sizeof(float) * (size_t)(k * cols));
    for (int r = 0; r < rows; r++) fill_mm(wf + r * k, k, wsalt + r);
    for (int c = 0; c < cols; c++) fill_mm(xf + c * k, k, xsalt + c);
    d->wq = quant_rows(t, wf, k, rows);
    d->xq = quant_rows(d->vdt, xf, k, cols);
    float *wd = dequant_rows(t, d->wq, k, rows), *xd = dequant_rows(d->vdt, d->xq, k, cols);
    d->nbw = qtype_row_size(t, k);
    d->nbx = qtype_row_size(d->vdt, k);
    d->ref = malloc(sizeof(float) * (size_t)(rows * cols));
    d->tol = malloc(sizeof(double) * (size_t)(rows * cols));
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) {
            tt->vec_dot((int)k, &d->ref[c * rows + r], d->wq + r * d->nbw, d->xq + c * d->nbx);
            d->tol[c * rows + r] = dot_tol(t, wd + r * k, xd + c * k, k);
        }
    free(wf); free(xf); free(wd); free(xd);
}

static void dotset_free(struct dotset *d) { free(d->wq); free(d->xq); free(d->ref); free(d->tol); }

static int tile_c_of(const struct kern_isa *isa, uint32_t t) {
    const int tc = isa->tile_c[t];
    return tc > 0 && tc <= KERN_TILE_C_MAX ? tc : KERN_TILE_C;
}

/* The ISA's vec_dot and tile kernel of type t at row length k against the reference: every
 * (row, token) of the tile for nr = 1..max_nr rows and nc = 1..tile_c tokens; outside the tile
 * nothing is written. */
static void test_dots(const struct kern_isa *isa, uint32_t t, int64_t k, int max_nr) {
    const int tc = tile_c_of(isa, t);
    struct dotset d;
    dotset_make(&d, t, k, max_nr, tc, (int)k, 5000 + (int)k);
    const int rows = d.rows, cols = d.cols;
    if (isa->vec_dot[t]) {
        int bad = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float s = NAN;
                isa->vec_dot[t]((int)k, &s, d.wq + r * d.nbw, d.xq + c * d.nbx);
                if (!within(s, d.ref[c * rows + r], d.tol[c * rows + r])) {
                    if (!bad)
                        fprintf(stderr, "  %s vec_dot %s k=%lld row %d token %d: %.9g vs reference %.9g (tol %.3g)\n",
                                isa->name, qtype_name(t), (long long)k, r, c, s, d.ref[c * rows + r], d.tol[c * rows + r]);
                    bad++;
                }
            }
        CHECKF(bad == 0, "%s vec_dot %s k=%lld: %d bad", isa->name, qtype_name(t), (long long)k, bad);
    }
    if (isa->tile[t]) {
        int bad = 0;
        float *s = malloc(sizeof(float) * (size_t)(rows * cols + 1));
        for (int nr = 1; nr <= rows; nr++)
            for (int nc = 1; nc <= cols; nc++) {
                for (int i = 0; i <= rows * cols; i++) s[i] = NAN;
                isa->tile[t]((int)k, d.wq, d.nbw, nr, d.xq, d.nbx, nc, s, (size_t)rows);
                for (int c = 0; c < cols; c++)
                    for (int r = 0; r < rows; r++) {
                        const float v = s[c * rows + r];
                        const int ok = r < nr && c < nc ? within(v, d.ref[c * rows + r], d.tol[c * rows + r]) : isnan(v);
                        if (!ok && !bad)
                            fprintf(stderr, "  %s tile %s k=%lld nr=%d nc=%d: s[row %d][token %d] = %.9g, reference %.9g\n",
                                    isa->name, qtype_name(t), (long long)k, nr, nc, r, c, v,
                                    r < nr && c < nc ? d.ref[c * rows + r] : NAN);
                        bad += !ok;
                    }
                if (!isnan(s[rows * cols])) bad++;
            }
        CHECKF(bad == 0, "%s tile %s k=%lld (nr 1..%d, nc 1..%d): %d bad", isa->name, qtype_name(t), (long long)k,
               rows, cols, bad);
        free(s);
    }
    dotset_free(&d);
}

/* The packed prefill kernel of type t: groups of KERN_PACK_R rows packed, then ng = 1..3 groups
 * (pairs of groups and a last single one go through different code) against nc = 1..KERN_TILE_C_MAX tokens (with their aux entries), against the reference. */
static void test_packed(const struct kern_isa *isa, uint32_t t, int64_t k) {
    if (!isa->pack[t] || !isa->tile_packed[t] || !isa->pack_b32[t]) return;
    const int NG = 3, rows = NG * KERN_PACK_R, cols = KERN_TILE_C_MAX;
    struct dotset d;
    dotset_make(&d, t, k, rows, cols, 7 * (int)k, 9000 + (int)k);
    const size_t gbytes = (size_t)isa->pack_b32[t] * (size_t)(k / 32);
    char *packed = aligned_alloc(64, (gbytes * NG + 63) / 64 * 64);
    for (int g = 0; g < NG; g++) isa->pack[t]((int)k, d.wq + (size_t)g * KERN_PACK_R * d.nbw, d.nbw, packed + g * gbytes);
    const size_t naux = (size_t)(k / 32) + 3; /* a stride longer than the row: the kernel must use it */
    struct kern_aux *aux = calloc(naux * (size_t)cols, sizeof *aux);
    for (int c = 0; c < cols; c++) kern_aux_row(d.vdt, d.xq + c * d.nbx, k, aux + (size_t)c * naux);
    float *s = malloc(sizeof(float) * (size_t)(rows * cols + 1));
    int bad = 0;
    for (int ng = 1; ng <= NG; ng++)
        for (int nc = 1; nc <= cols; nc++) {
            for (int i = 0; i <= rows * cols; i++) s[i] = NAN;
            isa->tile_packed[t]((int)k, packed, ng, d.xq, d.nbx, aux, naux, nc, s, (size_t)rows);
            for (int c = 0; c < cols; c++)
                for (int r = 0; r < rows; r++) {
                    const float v = s[c * rows + r];
                    const int in = r < ng * KERN_PACK_R && c < nc;
                    const int ok = in ? within(v, d.ref[c * rows + r], d.tol[c * rows + r]) : isnan(v);
                    if (!ok && !bad)
                        fprintf(stderr, "  %s packed %s k=%lld groups=%d nc=%d: s[row %d][token %d] = %.9g, reference %.9g\n",
                                isa->name, qtype_name(t), (long long)k, ng, nc, r, c, v, in ? d.ref[c * rows + r] : NAN);
                    bad += !ok;
                }
            if (!isnan(s[rows * cols])) bad++;
        }
    CHECKF(bad == 0, "%s packed %s k=%lld (groups 1..3, nc 1..%d): %d bad", isa->name, qtype_name(t), (long long)k,
           cols, bad);
    free(packed); free(aux); free(s);
    dotset_free(&d);
}

/* kern_matmul_n on the active ISA (nw weights sharing the input, kern_matmul when nw = 1) against
 * the reference vec_dot of every output: y[i][token][row] within dot_tol, padding untouched. */
static void test_matmul_n(struct threadpool *tp, int nw, const uint32_t *types, const int *rows, int64_t k, int n) {
    struct dotset d[4];
    struct weight w[4];
    const struct weight *wp[4];
    float *y[4];
    int64_t ldy[4];
    float *xf = malloc(sizeof(float) * (size_t)(k * n));
    for (int c = 0; c < n; c++) fill_mm(xf + c * k, k, 91000 + c); /* the floats dotset_make quantizes */
    size_t ss = 0;
    for (int i = 0; i < nw; i++) {
        dotset_make(&d[i], types[i], k, rows[i], n, 90000 + 100 * i, 91000);
        w[i] = (struct weight){ .data = d[i].wq, .type = types[i], .ne = { k, rows[i] }, .nb_row = d[i].nbw };
        wp[i] = &w[i];
        ldy[i] = rows[i] + 1 + i;
        y[i] = malloc(sizeof(float) * (size_t)(ldy[i] * n));
        for (int64_t j = 0; j < ldy[i] * n; j++) y[i][j] = -777.0f;
        const size_t s1 = kern_matmul_scratch_size(types[i], k, n, tp_n_threads(tp));
        if (s1 > ss) ss = s1;
    }
    void *scratch = malloc(ss);
    if (nw == 1) kern_matmul(tp, &w[0], xf, n, y[0], ldy[0], scratch);
    else kern_matmul_n(tp, nw, wp, xf, n, y, ldy, scratch);
    int bad = 0;
    for (int i = 0; i < nw; i++) {
        for (int c = 0; c < n; c++) {
            for (int r = 0; r < rows[i]; r++) {
                const float v = y[i][c * ldy[i] + r];
                const int ok = within(v, d[i].ref[c * rows[i] + r], d[i].tol[c * rows[i] + r]);
                if (!ok && !bad)
                    fprintf(stderr, "  %s matmul%s %s k=%lld rows=%d n=%d: y[token %d][row %d] = %.9g, reference %.9g (tol %.3g)\n",
                            kern_isa_name(), nw > 1 ? "_n" : "", qtype_name(types[i]), (long long)k, rows[i], n, c, r, v,
                            d[i].ref[c * rows[i] + r], d[i].tol[c * rows[i] + r]);
                bad += !ok;
            }
            for (int64_t r = rows[i]; r < ldy[i]; r++) bad += y[i][c * ldy[i] + r] != -777.0f; /* padding */
        }
        free(y[i]);
        dotset_free(&d[i]);
    }
    char names[64] = "";
    for (int i = 0; i < nw; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? "+" : "", qtype_name(types[i]));
    CHECKF(bad == 0, "%s matmul%s %s k=%lld rows=%d n=%d threads=%d: %d bad", kern_isa_name(), nw > 1 ? "_n" : "",
           names, (long long)k, rows[0], n, tp_n_threads(tp), bad);
    free(xf); free(scratch);
}

static void test_matmul(struct threadpool *tp, uint32_t t, int64_t k, int rows, int n) {
    test_matmul_n(tp, 1, &t, &rows, k, n);
}

static void test_get_row(uint32_t t) {
    const int64_t k = 512;
    float *wf = malloc(sizeof(float) * (size_t)k * 3);
    for (int r = 0; r < 3; r++) fill(wf + r * k, k, r);
    char *wq = quant_rows(t, wf, k, 3);
    float *ref = dequant_rows(t, wq, k, 3), *got = malloc(sizeof(float) * (size_t)k);
    struct weight w = { .data = wq, .type = t, .ne = { k, 3 }, .nb_row = qtype_row_size(t, k) };
    kern_get_row(&w, 2, got);
    CHECKF(!memcmp(got, ref + 2 * k, sizeof(float) * (size_t)k), "%s get_row %s", kern_isa_name(), qtype_name(t));
    free(wf); free(wq); free(ref); free(got);
}

/* Float helpers against double-precision formulas. */
static void test_float_helpers(void) {
    const int ns[] = { 1, 7, 16, 64, 100, 1536, 1537 };
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int n = ns[ni];
        float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
        float *y = malloc(sizeof(float) * (size_t)n), *g = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++) { a[i] = rng_f() * 4; b[i] = rng_f() * 4; g[i] = 1 + rng_f() * 0.5f; }
        double ss = 0, dot = 0, mag = 0;
        for (int i = 0; i < n; i++) { ss += (double)a[i] * a[i]; dot += (double)a[i] * b[i]; mag += fabs((double)a[i] * b[i]); }
        const double sc = 1 / sqrt(ss / n + 1e-6);
        kern_rmsnorm(y, a, g, n, 1e-6f);
        int bad = 0;
        for (int i = 0; i < n; i++) if (!(fabs(y[i] - a[i] * sc * g[i]) <= 1e-5 * fabs(a[i] * sc * g[i]) + 1e-6)) bad++;
        CHECKF(bad == 0, "%s rmsnorm n=%d: %d bad", kern_isa_name(), n, bad);
        const float d = kern_dot_f32(a, b, n);
        CHECKF(fabs(d - dot) <= 1e-5 * mag + 1e-6, "%s dot n=%d: %g vs %g", kern_isa_name(), n, d, dot);
        memcpy(y, b, sizeof(float) * (size_t)n);
        kern_axpy_f32(y, 0.75f, a, n);
        bad = 0;
        for (int i = 0; i < n; i++) if (!(fabs(y[i] - (b[i] + 0.75 * a[i])) <= 1e-6 * (fabs(b[i]) + fabs(a[i])) + 1e-7)) bad++;
        CHECKF(bad == 0, "%s axpy n=%d: %d bad", kern_isa_name(), n, bad);
        memcpy(y, a, sizeof(float) * (size_t)n);
        kern_silu_mul(y, b, n);
        bad = 0;
        for (int i = 0; i < n; i++) {
            const double e = a[i] / (1 + exp(-(double)a[i])) * b[i];
            if (!(fabs(y[i] - e) <= 1e-5 * fabs(e) + 1e-6)) bad++;
        }
        CHECKF(bad == 0, "%s silu_mul n=%d: %d bad", kern_isa_name(), n, bad);
        free(a); free(b); free(y); free(g);
    }
}

int main(void) {
    static const char *const isas[] = { "scalar", "avx2", "avx512", "neon" };
    struct threadpool *tps[3] = { tp_new(1), tp_new(2), tp_new(3) };
    CHECK(tps[0] && tps[1] && tps[2]);
    CHECK(kern_active() != NULL);
    CHECK(!kern_force("no-such-isa"));
    derive_types();
    printf("%d weight types and %d activation types from the type table\n", n_wtypes, n_atypes);
    CHECK(n_wtypes >= 15 && n_atypes >= 3);
    int n_isa = 0;
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        if (!kern_force(isas[ii])) { printf("isa %s: not available here\n", isas[ii]); continue; }
        n_isa++;
        worst_ratio = 0;
        const struct kern_isa *isa = kern_active();
        CHECK(!strcmp(kern_isa_name(), isas[ii]));
        printf("isa %s\n", isa->name);
        test_table_coverage(isa);
        test_quantizers(isa);
        test_to_float(isa);
        test_float_helpers();
        for (int ti = 0; ti < n_wtypes; ti++) {
            const uint32_t t = wtypes[ti];
            const int bw = block_of(t), bx = block_of(qtype_get(t)->vec_dot_type), bs = bw > bx ? bw : bx;
            /* row lengths with every tail: float types 1..48 elements (tails 1..15 past 0, 16 and
             * 32), block types 1..33 blocks of 32 or 1..6 of 256 (5 rows: a row group and a tail) */
            const int nk = bs == 1 ? 48 : bs == 32 ? 33 : 6;
            for (int j = 1; j <= nk; j++) test_dots(isa, t, (int64_t)j * bs, KERN_TILE_R + 1);
            /* rows 1..31 and tokens 1..tile_c at two row lengths; the packed kernels */
            const int64_t k = bs == 256 ? 512 : 288;
            test_dots(isa, t, k, 31);
            if (1536 % bs == 0) test_dots(isa, t, 1536, 31);
            test_packed(isa, t, k);
            if (1536 % bs == 0) test_packed(isa, t, 1536);
            test_get_row(t);
            /* kern_matmul: n = 1..33 tokens (packed prefill from KERN_PACK_MIN_N, its last token
             * tile 1..16 wide), rows = two packed groups plus every tail 0..15 (the tail goes
             * through the tile kernels); 1..15 rows (no whole group); long rows */
            for (int n = 1; n <= 33; n++) test_matmul(tps[n % 3], t, k, 2 * KERN_PACK_R + (n - 1) % KERN_PACK_R, n);
            for (int r = 1; r < KERN_PACK_R; r++) test_matmul(tps[r % 3], t, k, r, r % 2 ? 1 : 20);
            if (1536 % bs == 0) {
                test_matmul(tps[1], t, 1536, 41, 1); /* whole 4-block groups: the AVX-512 decode kernels */
                test_matmul(tps[2], t, 1536, 83, 33);
            }
            /* kern_matmul_n: Q/K/V-style, three weights of one type with different row counts */
            const uint32_t tt3[3] = { t, t, t };
            const int rows3[3] = { 130, 36, 37 };
            test_matmul_n(tps[1], 3, tt3, rows3, k, 1);
            test_matmul_n(tps[2], 3, tt3, rows3, k, 9);
            test_matmul_n(tps[1], 3, tt3, rows3, k, 40);
        }
        /* mixed types with one activation type (Q4_K_M's Q4_K/Q6_K projections), and not */
        const uint32_t kk[3] = { QT_Q4_K, QT_Q6_K, QT_Q4_K }, mixed[2] = { QT_Q4_0, QT_Q4_K };
        const int rows3[3] = { 130, 36, 37 }, rows2[2] = { 48, 21 };
        test_matmul_n(tps[1], 3, kk, rows3, 512, 1);
        test_matmul_n(tps[2], 3, kk, rows3, 512, 11);
        test_matmul_n(tps[2], 3, kk, rows3, 512, 37);
        test_matmul_n(tps[1], 2, mixed, rows2, 512, 3);
        test_matmul_n(tps[2], 2, mixed, rows2, 512, 19);
        printf("  largest |error| / bar over all dot products: %.3g\n", worst_ratio);
    }
    CHECK(n_isa >= 1);
    for (int i = 0; i < 3; i++) tp_free(tps[i]);
    return TEST_DONE();
}
