/* Kernel tests: on every ISA this machine can run (kern_force), each fast kernel against the
 * scalar reference of qtypes.c — quantizers bit-identical, vec_dots and matmul tiles within
 * float rounding — and kern_matmul against a naive float product of the dequantized weights
 * with the float activations, within the bound the activation quantization allows. Sizes have
 * odd tails, row counts not divisible by the thread count, token counts 1..17. */
#include <math.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "testutil.h"
#include "core/threadpool.h"

static const uint32_t wtypes[] = { QT_F32, QT_F16, QT_BF16, QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1, QT_Q8_0,
                                   QT_Q2_K, QT_Q3_K, QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_IQ4_NL, QT_IQ4_XS };
#define N_WTYPES (sizeof wtypes / sizeof wtypes[0])
static const uint32_t atypes[] = { QT_Q8_0, QT_Q8_1, QT_Q8_K, QT_F16, QT_BF16 };

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
    const int64_t ks[] = { 256, 512, 1536, 8960 };
    for (size_t a = 0; a < sizeof atypes / sizeof atypes[0]; a++) {
        const uint32_t t = atypes[a];
        if (!isa->quantize[t] || !qtype_get(t)->from_float) continue;
        for (size_t ki = 0; ki < 4; ki++) {
            const int64_t k = ks[ki];
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

/* Bound on |fast - exact float| for a dot product through activation quantization. */
static double act_err_bound(uint32_t vdt, const float *w, const float *x, int64_t k) {
    double b = 0, mag = 0;
    for (int64_t i = 0; i < k; i++) mag += fabs((double)w[i] * x[i]);
    if (vdt == QT_Q8_0 || vdt == QT_Q8_1 || vdt == QT_Q8_K) {
        const int bs = vdt == QT_Q8_K ? 256 : 32;
        for (int64_t i0 = 0; i0 < k; i0 += bs) {
            float amax = 0;
            for (int i = 0; i < bs; i++) amax = fmaxf(amax, fabsf(x[i0 + i]));
            for (int i = 0; i < bs; i++) b += fabs((double)w[i0 + i]) * amax * (0.5 / 127 + 1e-3);
        }
    } else if (vdt == QT_F16) {
        for (int64_t i = 0; i < k; i++) b += fabs((double)w[i] * x[i]) * (1.0 / 2048);
    } else if (vdt == QT_BF16) {
        for (int64_t i = 0; i < k; i++) b += fabs((double)w[i] * x[i]) * (1.0 / 256);
    }
    return b + 2e-5 * mag + 1e-6;
}

/* vec_dot and the tile kernels against the reference vec_dot on the same bytes. */
static void test_dots(const struct kern_isa *isa, uint32_t t, int64_t k) {
    const struct qtype_traits *tt = qtype_get(t), *vt = qtype_get(tt->vec_dot_type);
    enum { ROWS = 2 * KERN_TILE_R + 1 }; /* two full row groups and a tail */
    const int rows = ROWS, cols = KERN_TILE_C;
    float *wf = malloc(sizeof(float) * (size_t)(k * rows)), *xf = malloc(sizeof(float) * (size_t)(k * cols));
    for (int r = 0; r < rows; r++) fill(wf + r * k, k, r);
    for (int c = 0; c < cols; c++) fill(xf + c * k, k, 100 + c);
    char *wq = quant_rows(t, wf, k, rows), *xq = quant_rows(tt->vec_dot_type, xf, k, cols);
    float *wd = dequant_rows(t, wq, k, rows), *xd = dequant_rows(tt->vec_dot_type, xq, k, cols);
    const size_t nbw = qtype_row_size(t, k), nbx = qtype_row_size(tt->vec_dot_type, k);
    float ref[ROWS * KERN_TILE_C], tol[ROWS * KERN_TILE_C];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            tt->vec_dot((int)k, &ref[c * rows + r], wq + r * nbw, xq + c * nbx);
            double mag = 0;
            for (int64_t i = 0; i < k; i++) mag += fabs((double)wd[r * k + i] * xd[c * k + i]);
            tol[c * rows + r] = (float)(2e-6 * mag + 1e-7);
        }
    (void)vt;
    if (isa->vec_dot[t]) {
        int bad = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float s = NAN;
                isa->vec_dot[t]((int)k, &s, wq + r * nbw, xq + c * nbx);
                if (!(fabsf(s - ref[c * rows + r]) <= tol[c * rows + r])) {
                    if (!bad) fprintf(stderr, "  %s %s k=%lld: %.9g vs ref %.9g\n", isa->name, tt->name, (long long)k, s,
                                      ref[c * rows + r]);
                    bad++;
                }
            }
        CHECKF(bad == 0, "%s vec_dot %s k=%lld: %d bad", isa->name, tt->name, (long long)k, bad);
    }
    if (isa->tile[t]) {
        int bad = 0;
        for (int nr = 1; nr <= rows; nr++)
            for (int nc = 1; nc <= cols; nc++) {
                float s[ROWS * KERN_TILE_C + 1];
                for (int i = 0; i <= rows * cols; i++) s[i] = NAN;
                isa->tile[t]((int)k, wq, nbw, nr, xq, nbx, nc, s, (size_t)rows);
                for (int c = 0; c < cols; c++)
                    for (int r = 0; r < rows; r++) {
                        const float v = s[c * rows + r];
                        if (r < nr && c < nc ? !(fabsf(v - ref[c * rows + r]) <= tol[c * rows + r]) : !isnan(v)) bad++;
                    }
                if (!isnan(s[rows * cols])) bad++;
            }
        CHECKF(bad == 0, "%s tile %s k=%lld: %d bad", isa->name, tt->name, (long long)k, bad);
    }
    free(wf); free(xf); free(wq); free(xq); free(wd); free(xd);
}

/* kern_matmul (whatever path is active) against float products of the dequantized weights. */
static void test_matmul(struct threadpool *tp, uint32_t t, int64_t k, int rows, int n) {
    const struct qtype_traits *tt = qtype_get(t);
    float *wf = malloc(sizeof(float) * (size_t)(k * rows)), *xf = malloc(sizeof(float) * (size_t)(k * n));
    for (int r = 0; r < rows; r++) fill(wf + r * k, k, r);
    for (int c = 0; c < n; c++) fill(xf + c * k, k, 50 + c);
    char *wq = quant_rows(t, wf, k, rows);
    float *wd = dequant_rows(t, wq, k, rows);
    struct weight w = { .data = wq, .type = t, .ne = { k, rows }, .nb_row = qtype_row_size(t, k) };
    const int64_t ldy = rows + 3;
    float *y = malloc(sizeof(float) * (size_t)(ldy * n));
    for (int64_t i = 0; i < ldy * n; i++) y[i] = -12345.0f;
    void *scratch = malloc(kern_matmul_scratch_size(t, k, n, tp_n_threads(tp)));
    kern_matmul(tp, &w, xf, n, y, ldy, scratch);
    int bad = 0;
    for (int c = 0; c < n; c++) {
        for (int r = 0; r < rows; r++) {
            double e = 0;
            for (int64_t i = 0; i < k; i++) e += (double)wd[r * k + i] * xf[c * k + i];
            const double tol = act_err_bound(tt->vec_dot_type, wd + r * k, xf + c * k, k);
            const float v = y[c * ldy + r];
            if (!(fabs(v - e) <= tol)) {
                if (!bad) fprintf(stderr, "  %s matmul %s k=%lld rows=%d n=%d: y[%d][%d]=%.7g expected %.7g (tol %.3g)\n",
                                  kern_isa_name(), tt->name, (long long)k, rows, n, c, r, v, e, tol);
                bad++;
            }
        }
        for (int64_t r = rows; r < ldy; r++) if (y[c * ldy + r] != -12345.0f) bad++; /* padding untouched */
    }
    CHECKF(bad == 0, "%s matmul %s k=%lld rows=%d n=%d threads=%d: %d bad", kern_isa_name(), tt->name, (long long)k,
           rows, n, tp_n_threads(tp), bad);
    free(wf); free(xf); free(wq); free(wd); free(y); free(scratch);
}

/* kern_matmul_n (Q/K/V-style: one input, several weights of different row counts, possibly
 * of different types sharing an activation type) against kern_matmul of each weight alone,
 * which test_matmul checks against float products: the results must be identical. */
static void test_matmul_n(struct threadpool *tp, uint32_t t0, uint32_t t1, int64_t k, int n) {
    const int rows[3] = { 130, 36, 37 };
    const uint32_t types[3] = { t0, t1, t0 };
    struct weight w[3];
    float *y[3], *yref[3];
    int64_t ldy[3];
    float *xf = malloc(sizeof(float) * (size_t)(k * n));
    for (int c = 0; c < n; c++) fill(xf + c * k, k, 70 + c);
    size_t ss = 0;
    for (int i = 0; i < 3; i++) {
        float *wf = malloc(sizeof(float) * (size_t)(k * rows[i]));
        for (int r = 0; r < rows[i]; r++) fill(wf + r * k, k, 100 * i + r);
        w[i] = (struct weight){ .data = quant_rows(types[i], wf, k, rows[i]), .type = types[i], .ne = { k, rows[i] },
                                .nb_row = qtype_row_size(types[i], k) };
        free(wf);
        ldy[i] = rows[i] + i;
        y[i] = malloc(sizeof(float) * (size_t)(ldy[i] * n));
        yref[i] = malloc(sizeof(float) * (size_t)(ldy[i] * n));
        for (int64_t j = 0; j < ldy[i] * n; j++) y[i][j] = yref[i][j] = -777.0f;
        const size_t s1 = kern_matmul_scratch_size(types[i], k, n, tp_n_threads(tp));
        if (s1 > ss) ss = s1;
    }
    void *scratch = malloc(ss);
    for (int i = 0; i < 3; i++) kern_matmul(tp, &w[i], xf, n, yref[i], ldy[i], scratch);
    const struct weight *wp[3] = { &w[0], &w[1], &w[2] };
    kern_matmul_n(tp, 3, wp, xf, n, y, ldy, scratch);
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        bad += memcmp(y[i], yref[i], sizeof(float) * (size_t)(ldy[i] * n)) != 0;
        free((void *)w[i].data); free(y[i]); free(yref[i]);
    }
    CHECKF(bad == 0, "%s matmul_n %s+%s k=%lld n=%d threads=%d: %d outputs differ", kern_isa_name(), qtype_name(t0),
           qtype_name(t1), (long long)k, n, tp_n_threads(tp), bad);
    free(xf); free(scratch);
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

/* The attention helpers against double-precision sums: m keys/values of n floats, rows padded. */
static void test_attn_helpers(void) {
    const int ms[] = { 1, 3, 4, 9, 64 }, ns[] = { 8, 64, 100, 128, 136 };
    for (size_t mi = 0; mi < 5; mi++)
        for (size_t ni = 0; ni < 5; ni++) {
            const int m = ms[mi], n = ns[ni];
            const size_t ld = (size_t)n + 5;
            float *q = malloc(sizeof(float) * (size_t)n), *kv = malloc(sizeof(float) * ld * (size_t)m);
            float *sc = malloc(sizeof(float) * (size_t)m), *y = malloc(sizeof(float) * (size_t)n);
            float *y0 = malloc(sizeof(float) * (size_t)n), *p = malloc(sizeof(float) * (size_t)m);
            for (int i = 0; i < n; i++) { q[i] = rng_f() * 2; y0[i] = y[i] = rng_f(); }
            for (size_t i = 0; i < ld * (size_t)m; i++) kv[i] = rng_f() * 2;
            for (int j = 0; j < m; j++) p[j] = 0.5f + rng_f() * 0.25f;
            kern_scores_f32(sc, q, kv, ld, m, n, 0.125f);
            kern_wsum_f32(y, p, kv, ld, m, n);
            int bad = 0;
            for (int j = 0; j < m; j++) {
                double e = 0, mag = 0;
                for (int i = 0; i < n; i++) { e += (double)q[i] * kv[(size_t)j * ld + i]; mag += fabs((double)q[i] * kv[(size_t)j * ld + i]); }
                if (!(fabs(sc[j] - 0.125 * e) <= 0.125 * (1e-5 * mag + 1e-6))) bad++;
            }
            for (int i = 0; i < n; i++) {
                double e = y0[i], mag = fabs(y0[i]);
                for (int j = 0; j < m; j++) { e += (double)p[j] * kv[(size_t)j * ld + i]; mag += fabs((double)p[j] * kv[(size_t)j * ld + i]); }
                if (!(fabs(y[i] - e) <= 1e-5 * mag + 1e-6)) bad++;
            }
            CHECKF(bad == 0, "%s scores/wsum m=%d n=%d: %d bad", kern_isa_name(), m, n, bad);
            free(q); free(kv); free(sc); free(y); free(y0); free(p);
        }
}

int main(void) {
    static const char *const isas[] = { "scalar", "avx2", "avx512", "neon" };
    struct threadpool *tps[3] = { tp_new(1), tp_new(2), tp_new(3) };
    CHECK(tps[0] && tps[1] && tps[2]);
    CHECK(kern_active() != NULL);
    CHECK(!kern_force("no-such-isa"));
    int n_isa = 0;
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        if (!kern_force(isas[ii])) { printf("isa %s: not available here\n", isas[ii]); continue; }
        n_isa++;
        const struct kern_isa *isa = kern_active();
        CHECK(!strcmp(kern_isa_name(), isas[ii]));
        printf("isa %s\n", isa->name);
        test_quantizers(isa);
        test_to_float(isa);
        test_float_helpers();
        test_attn_helpers();
        for (size_t ti = 0; ti < N_WTYPES; ti++) {
            const uint32_t t = wtypes[ti];
            const struct qtype_traits *tt = qtype_get(t);
            if (!tt || !tt->from_float || !tt->to_float || !tt->vec_dot || !qtype_get(tt->vec_dot_type)->from_float) {
                printf("  %s: no reference quantizer/dot, skipped\n", qtype_name(t) ? qtype_name(t) : "?");
                continue;
            }
            const int bs = block_of(t) > block_of(tt->vec_dot_type) ? block_of(t) : block_of(tt->vec_dot_type);
            const int64_t ks[] = { 32, 256, 288, 512, 1536 };
            for (size_t ki = 0; ki < 5; ki++) if (ks[ki] % bs == 0) test_dots(isa, t, ks[ki]);
            test_get_row(t);
            const int64_t k = bs == 256 ? 512 : 288;
            const int ntok[] = { 1, 2, 3, 5, 8, 17, 40 };
            for (size_t ni = 0; ni < sizeof ntok / sizeof ntok[0]; ni++)
                test_matmul(tps[ni % 3], t, k, ni % 2 ? 37 : 130, ntok[ni]);
            /* one token with a row length of whole 4-block groups (the AVX-512 decode kernels) */
            if (1536 % bs == 0) test_matmul(tps[1], t, 1536, 41, 1);
            test_matmul_n(tps[1], t, t, k, 1);
            test_matmul_n(tps[2], t, t, k, 9);
            /* enough tokens for the packed prefill path: groups of 16 rows plus a tail, several
             * token tiles with a partial last one, a row length of many sub-blocks */
            test_matmul_n(tps[1], t, t, k, 40);
            if (1536 % bs == 0) test_matmul(tps[2], t, 1536, 83, 33);
        }
        /* mixed types with one activation type (Q4_K_M's Q4_K/Q6_K projections), and not */
        test_matmul_n(tps[1], QT_Q4_K, QT_Q6_K, 512, 1);
        test_matmul_n(tps[2], QT_Q4_K, QT_Q6_K, 512, 11);
        test_matmul_n(tps[2], QT_Q4_K, QT_Q6_K, 512, 37);
        test_matmul_n(tps[1], QT_Q4_0, QT_Q4_K, 512, 3);
    }
    CHECK(n_isa >= 1);
    for (int i = 0; i < 3; i++) tp_free(tps[i]);
    return TEST_DONE();
}
