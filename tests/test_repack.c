/* Repacked weights (KERN_LAYOUT_X4, src/kernels/repack.c) on every ISA this machine can run:
 * repack -> unpack gives the file's bytes back; an embedding row read from the repacked copy
 * equals the plain row's dequantization; each ISA's decode kernel (rp_gemv) and kern_matmul on
 * the repacked weight (one token: the kernel; several: the unpacked chunks through the tile and
 * packed-prefill paths) agree with the scalar reference vec_dot of qtypes.c on the same
 * quantized activations, within float rounding. Row counts that are not a multiple of 4 (plain
 * tail rows), row lengths of one block, of a partial super-column and of many blocks. */
#include <math.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "testutil.h"
#include "core/threadpool.h"

static const uint32_t rtypes[] = { QT_Q4_0, QT_Q8_0, QT_Q5_0, QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_IQ4_XS, QT_F16 };
#define N_RTYPES (sizeof rtypes / sizeof rtypes[0])

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rng_f(void) { return (float)rng_u32() / 2147483648.0f - 1.0f; } /* [-1, 1) */

/* Blocks of different magnitudes, so that every scale differs. */
static void fill(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_f() * ((i / 32) % 3 == 1 ? 0.1f : (i / 32) % 5 == 2 ? 4.0f : 1.0f);
}

static void *quant(uint32_t t, const float *x, int64_t k, int rows) {
    const size_t rs = qtype_row_size(t, k);
    char *q = malloc(rs * (size_t)rows + 64);
    for (int r = 0; r < rows; r++) qtype_get(t)->from_float(x + r * k, q + rs * (size_t)r, k);
    return q;
}

/* One type, row length and row count on the active ISA. */
static void test_one(struct threadpool *tp, uint32_t t, int64_t k, int rows) {
    const struct qtype_traits *tt = qtype_get(t);
    const uint32_t vdt = tt->vec_dot_type;
    const char *isa = kern_isa_name();
    const size_t nbw = qtype_row_size(t, k), nbx = qtype_row_size(vdt, k);
    float *wf = malloc(sizeof(float) * (size_t)(k * rows));
    fill(wf, k * rows);
    char *wq = quant(t, wf, k, rows);
    struct weight w = { .data = wq, .type = t, .layout = KERN_LAYOUT_ROWS, .ne = { k, rows }, .nb_row = nbw };
    CHECKF(kern_repack_possible(&w), "%s k=%lld rows=%d: repack not possible", tt->name, (long long)k, rows);
    char *rp = malloc(kern_repack_bytes(&w));
    kern_repack_weight(tp, NULL, &w, rp);
    struct weight wr = w;
    wr.data = rp;
    wr.layout = KERN_LAYOUT_X4;
    CHECKF(!kern_repack_possible(&wr), "%s: a repacked weight must not be repacked again", tt->name);
    CHECKF(memcmp(rp, wq, nbw * (size_t)rows) != 0 || rows < KERN_RP_R || (t == QT_F16 && k == 32), "%s k=%lld: repacking changed nothing", tt->name,
           (long long)k);

    /* round trip, whole and from the second group on */
    char *back = malloc(nbw * (size_t)rows);
    kern_unrepack_rows(&wr, 0, rows, back);
    CHECKF(!memcmp(back, wq, nbw * (size_t)rows), "%s %s k=%lld rows=%d: unrepack differs", isa, tt->name, (long long)k, rows);
    /* rows inside one group, one by one */
    memset(back, 0, nbw * (size_t)rows);
    kern_unrepack_rows(&wr, 1, 3, back);
    CHECKF(!memcmp(back, wq + nbw, 2 * nbw), "%s %s k=%lld rows=%d: rows 1-2 unrepack differs", isa, tt->name,
           (long long)k, rows);
    if (rows > KERN_RP_R) {
        memset(back, 0, nbw * (size_t)rows);
        kern_unrepack_rows(&wr, KERN_RP_R, rows, back);
        CHECKF(!memcmp(back, wq + KERN_RP_R * nbw, nbw * (size_t)(rows - KERN_RP_R)), "%s %s k=%lld rows=%d: partial unrepack differs",
               isa, tt->name, (long long)k, rows);
    }

    /* embedding rows: exact */
    float *a = malloc(sizeof(float) * (size_t)k), *b = malloc(sizeof(float) * (size_t)k);
    int badrow = 0;
    for (int r = 0; r < rows; r++) {
        tt->to_float(wq + (size_t)r * nbw, a, k);
        kern_get_row(&wr, r, b);
        badrow += memcmp(a, b, sizeof(float) * (size_t)k) != 0;
    }
    CHECKF(badrow == 0, "%s %s k=%lld rows=%d: %d get_row differ", isa, tt->name, (long long)k, rows, badrow);

    /* activations, quantized by the reference; the expected results are the reference vec_dot */
    enum { NT = 20 };
    float *xf = malloc(sizeof(float) * (size_t)(k * NT));
    fill(xf, k * NT);
    char *xq = quant(vdt, xf, k, NT);
    float *ref = malloc(sizeof(float) * (size_t)(rows * NT)), *tol = malloc(sizeof(float) * (size_t)(rows * NT));
    float *wd = malloc(sizeof(float) * (size_t)k), *xd = malloc(sizeof(float) * (size_t)k);
    for (int c = 0; c < NT; c++) {
        qtype_get(vdt)->to_float(xq + (size_t)c * nbx, xd, k);
        for (int r = 0; r < rows; r++) {
            tt->vec_dot((int)k, &ref[c * rows + r], wq + (size_t)r * nbw, xq + (size_t)c * nbx);
            tt->to_float(wq + (size_t)r * nbw, wd, k);
            double mag = 0;
            for (int64_t i = 0; i < k; i++) mag += fabs((double)wd[i] * xd[i]);
            tol[c * rows + r] = (float)(2e-6 * mag + 1e-7);
        }
    }

    /* the ISA's decode kernel directly, on the whole groups */
    const kern_rp_fn fn = kern_active()->rp_gemv[t];
    if (fn) {
        const int ng = rows / KERN_RP_R;
        struct kern_aux *aux = malloc(sizeof *aux * (size_t)(k / 32 + 1));
        kern_aux_row(vdt, xq, k, aux);
        float *s = malloc(sizeof(float) * (size_t)(rows + 1));
        for (int i = 0; i <= rows; i++) s[i] = NAN;
        kern_rp_groups(fn, &wr, 0, ng, vdt, xq, aux, s);
        int bad = 0;
        for (int r = 0; r <= rows; r++) {
            const int inside = r < ng * KERN_RP_R;
            if (inside ? !(fabsf(s[r] - ref[r]) <= tol[r]) : !isnan(s[r])) {
                if (!bad) fprintf(stderr, "  %s rp %s k=%lld row %d: %.9g vs ref %.9g\n", isa, tt->name, (long long)k, r, s[r], ref[r]);
                bad++;
            }
        }
        CHECKF(bad == 0, "%s rp_gemv %s k=%lld rows=%d: %d bad", isa, tt->name, (long long)k, rows, bad);
        free(aux);
        free(s);
    }

    /* kern_matmul on the repacked weight: 1 token (the decode kernel, or unpacked chunks where
     * the ISA has none), a few (tiles), many (packed prefill) */
    const int ntok[] = { 1, 3, NT };
    for (size_t ni = 0; ni < 3; ni++) {
        const int n = ntok[ni];
        /* the float activations that quantize to xq: its dequantization (quantizing again is exact) */
        float *xin = malloc(sizeof(float) * (size_t)(k * n));
        for (int c = 0; c < n; c++) qtype_get(vdt)->to_float(xq + (size_t)c * nbx, xin + (size_t)c * k, k);
        const int64_t ldy = rows + 2;
        float *y = malloc(sizeof(float) * (size_t)(ldy * n));
        for (int64_t i = 0; i < ldy * n; i++) y[i] = -777.0f;
        void *scratch = malloc(kern_matmul_scratch_size(t, k, n, tp_n_threads(tp)));
        kern_matmul(tp, &wr, xin, n, y, ldy, scratch);
        int bad = 0;
        for (int c = 0; c < n; c++) {
            for (int r = 0; r < rows; r++) {
                const float v = y[c * ldy + r], e = ref[c * rows + r];
                if (!(fabsf(v - e) <= 4 * tol[c * rows + r])) {
                    if (!bad) fprintf(stderr, "  %s matmul %s k=%lld rows=%d n=%d: y[%d][%d]=%.9g ref %.9g\n", isa, tt->name,
                                      (long long)k, rows, n, c, r, v, e);
                    bad++;
                }
            }
            bad += y[c * ldy + rows] != -777.0f || y[c * ldy + rows + 1] != -777.0f;
        }
        CHECKF(bad == 0, "%s matmul on repacked %s k=%lld rows=%d n=%d threads=%d: %d bad", isa, tt->name, (long long)k, rows, n,
               tp_n_threads(tp), bad);
        if (n >= KERN_PACK_MIN_N && !kern_active()->rp_prefill[t]) {
            /* prefill packs the same bytes whether it reads the repacked groups (pack_x4) or
             * plain rows: the results are identical to the plain weight's (a type whose
             * prefill runs the decode kernel is held to the reference above instead) */
            float *yp = malloc(sizeof(float) * (size_t)(ldy * n));
            for (int64_t i = 0; i < ldy * n; i++) yp[i] = -777.0f;
            kern_matmul(tp, &w, xin, n, yp, ldy, scratch);
            CHECKF(!memcmp(y, yp, sizeof(float) * (size_t)(ldy * n)), "%s prefill %s k=%lld rows=%d n=%d: repacked differs from plain", isa,
                   tt->name, (long long)k, rows, n);
            free(yp);
        }
        free(xin); free(y); free(scratch);
    }
    free(wf); free(wq); free(rp); free(back); free(a); free(b); free(xf); free(xq); free(ref); free(tol); free(wd); free(xd);
}

int main(void) {
    static const char *const isas[] = { "scalar", "avx2", "avx512", "neon" };
    struct threadpool *tps[2] = { tp_new(1), tp_new(3) };
    CHECK(tps[0] && tps[1]);
    /* what cannot be repacked */
    {
        struct weight w = { .data = NULL, .type = QT_Q4_1, .ne = { 64, 8 }, .nb_row = qtype_row_size(QT_Q4_1, 64) };
        CHECK(!kern_repack_possible(&w));
        w.type = QT_Q4_0;
        w.nb_row = qtype_row_size(QT_Q4_0, 64);
        CHECK(kern_repack_possible(&w));
        w.ne[1] = 3;
        CHECK(!kern_repack_possible(&w));
        w.type = QT_F16;
        w.ne[0] = 48;
        w.ne[1] = 8;
        w.nb_row = qtype_row_size(QT_F16, 48);
        CHECK(!kern_repack_possible(&w)); /* F16 needs whole 32-element columns */
    }
    int n_isa = 0;
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        if (!kern_force(isas[ii])) continue;
        n_isa++;
        printf("isa %s\n", kern_isa_name());
        for (size_t ti = 0; ti < N_RTYPES; ti++) {
            const uint32_t t = rtypes[ti];
            const int bs = qtype_get(t)->blck_size == 256 ? 256 : 32;
            /* 1 block, a super-column and a partial one (9 x 32), many blocks, and long rows that
             * are repacked in slices of 2048 elements (19 super-blocks: 8 + 8 + 3; 153 blocks of
             * 32: 64 + 64 + 25, the last slice ending in a partial super-column) */
            const int64_t ks[] = { bs, bs == 256 ? 768 : 288, 1536, bs == 256 ? 4864 : 4896 };
            const int rowss[] = { 4, 7, 13, 41 };
            for (int ki = 0; ki < 4; ki++)
                for (int ri = 0; ri < 4; ri++) test_one(tps[(ki + ri) % 2], t, ks[ki], rowss[ri]);
        }
    }
    CHECK(n_isa >= 1);
    tp_free(tps[0]);
    tp_free(tps[1]);
    return TEST_DONE();
}
