/* AArch64 NEON kernels (with the dotprod extension: sdot) for the kern_isa table (kernels.h):
 * Q8_0 / Q8_K activation quantizers (bit-identical to the scalar references), vec_dots and
 * matmul tiles for Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_XS, F32, F16, and float helpers. The
 * matmul kernels are "multi" dots: one weight row against up to KERN_TILE_C activation rows,
 * so each weight block is unpacked once per tile of tokens. Compiled only for aarch64 with
 * -march=armv8.2-a+dotprod+fp16; kernels.c uses it only when HWCAP_ASIMDDP is set.
 */
#include "kernels/kernels.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))
#define X_ROW(T, base, nb, c) ((const T *)((const char *)(base) + (size_t)(c) * (nb)))

AI float kn_h2f(fp16_t h) {
    __fp16 f;
    memcpy(&f, &h, 2);
    return (float)f;
}

/* ---------------------------------------------------------------- 32-blocks */

AI void kn_q4_0_multi(int k, const void *vw, const void *vx, size_t nbx, int nc, float *s, size_t lds) {
    const block_q4_0 *w = vw;
    float32x4_t acc[KERN_TILE_C];
    for (int c = 0; c < nc; c++) acc[c] = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int i = 0; i < k / 32; i++) {
        const uint8x16_t b = vld1q_u8(w[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, m4)), eight);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight);
        const float dw = kn_h2f(w[i].d);
        for (int c = 0; c < nc; c++) {
            const block_q8_0 *y = X_ROW(block_q8_0, vx, nbx, c) + i;
            const int32x4_t p = vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(y->qs)), hi, vld1q_s8(y->qs + 16));
            acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(p), dw * kn_h2f(y->d));
        }
    }
    for (int c = 0; c < nc; c++) s[c * lds] = vaddvq_f32(acc[c]);
}

AI void kn_q8_0_multi(int k, const void *vw, const void *vx, size_t nbx, int nc, float *s, size_t lds) {
    const block_q8_0 *w = vw;
    float32x4_t acc[KERN_TILE_C];
    for (int c = 0; c < nc; c++) acc[c] = vdupq_n_f32(0);
    for (int i = 0; i < k / 32; i++) {
        const int8x16_t lo = vld1q_s8(w[i].qs), hi = vld1q_s8(w[i].qs + 16);
        const float dw = kn_h2f(w[i].d);
        for (int c = 0; c < nc; c++) {
            const block_q8_0 *y = X_ROW(block_q8_0, vx, nbx, c) + i;
            const int32x4_t p = vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(y->qs)), hi, vld1q_s8(y->qs + 16));
            acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(p), dw * kn_h2f(y->d));
        }
    }
    for (int c = 0; c < nc; c++) s[c * lds] = vaddvq_f32(acc[c]);
}

/* ---------------------------------------------------------------- K-quants (Q8_K activations) */

AI void kn_scale_min_k4(const uint8_t *sc, uint8_t *ls, uint8_t *lm) {
    for (int j = 0; j < 4; j++) {
        ls[j] = sc[j] & 63;
        lm[j] = sc[j + 4] & 63;
        ls[j + 4] = (uint8_t)((sc[j + 8] & 0x0f) | (sc[j] >> 6) << 4);
        lm[j + 4] = (uint8_t)((sc[j + 8] >> 4) | (sc[j + 4] >> 6) << 4);
    }
}

/* sum over the 8 sub-blocks of 32 of min[j] * (sum of the activation's 32 quants) */
AI int kn_mins_dot(const block_q8_K *y, const uint8_t *lm) {
    const int16x8_t b = vpaddq_s16(vld1q_s16(y->bsums), vld1q_s16(y->bsums + 8));
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(lm)));
    return vaddvq_s32(vaddq_s32(vmull_s16(vget_low_s16(b), vget_low_s16(m)), vmull_high_s16(b, m)));
}

AI void kn_q45_K_multi(int is5, int k, const void *vw, const void *vx, size_t nbx, int nc, float *s, size_t lds) {
    float32x4_t acc[KERN_TILE_C];
    float accm[KERN_TILE_C];
    for (int c = 0; c < nc; c++) { acc[c] = vdupq_n_f32(0); accm[c] = 0; }
    const uint8x16_t m4 = vdupq_n_u8(0x0f), one = vdupq_n_u8(1);
    for (int i = 0; i < k / QK_K; i++) {
        const block_q4_K *b4 = (const block_q4_K *)vw + i;
        const block_q5_K *b5 = (const block_q5_K *)vw + i;
        const uint8_t *scales = is5 ? b5->scales : b4->scales, *qs = is5 ? b5->qs : b4->qs;
        uint8_t ls[8], lm[8];
        kn_scale_min_k4(scales, ls, lm);
        const float dw = kn_h2f(is5 ? b5->d : b4->d), dmw = kn_h2f(is5 ? b5->dmin : b4->dmin);
        uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0);
        if (is5) { qh0 = vld1q_u8(b5->qh); qh1 = vld1q_u8(b5->qh + 16); }
        int32x4_t sumi[KERN_TILE_C];
        for (int c = 0; c < nc; c++) sumi[c] = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++) {
            const uint8x16_t b0 = vld1q_u8(qs + 32 * j), b1 = vld1q_u8(qs + 32 * j + 16);
            uint8x16_t l0 = vandq_u8(b0, m4), l1 = vandq_u8(b1, m4), h0 = vshrq_n_u8(b0, 4), h1 = vshrq_n_u8(b1, 4);
            if (is5) {
                const int8x16_t sl = vdupq_n_s8((int8_t)-(2 * j)), sh = vdupq_n_s8((int8_t)-(2 * j + 1));
                l0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(vshlq_u8(qh0, sl), one), 4));
                l1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(vshlq_u8(qh1, sl), one), 4));
                h0 = vorrq_u8(h0, vshlq_n_u8(vandq_u8(vshlq_u8(qh0, sh), one), 4));
                h1 = vorrq_u8(h1, vshlq_n_u8(vandq_u8(vshlq_u8(qh1, sh), one), 4));
            }
            for (int c = 0; c < nc; c++) {
                const int8_t *q8 = (X_ROW(block_q8_K, vx, nbx, c) + i)->qs + 64 * j;
                int32x4_t p0 = vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(l0), vld1q_s8(q8));
                p0 = vdotq_s32(p0, vreinterpretq_s8_u8(l1), vld1q_s8(q8 + 16));
                int32x4_t p1 = vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(h0), vld1q_s8(q8 + 32));
                p1 = vdotq_s32(p1, vreinterpretq_s8_u8(h1), vld1q_s8(q8 + 48));
                sumi[c] = vmlaq_n_s32(vmlaq_n_s32(sumi[c], p0, ls[2 * j]), p1, ls[2 * j + 1]);
            }
        }
        for (int c = 0; c < nc; c++) {
            const block_q8_K *y = X_ROW(block_q8_K, vx, nbx, c) + i;
            acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(sumi[c]), dw * y->d);
            accm[c] += dmw * y->d * (float)kn_mins_dot(y, lm);
        }
    }
    for (int c = 0; c < nc; c++) s[c * lds] = vaddvq_f32(acc[c]) - accm[c];
}

AI void kn_q4_K_multi(int k, const void *vw, const void *vx, size_t nbx, int nc, float *s, size_t lds) {
    kn_q45_K_multi(0, k, vw, vx, nbx, nc, s, lds);
}
AI void kn_q5_K_multi(int k, const void *vw, const void *vx, size_t nbx, int nc, float *s, size_t lds) {
    kn_q45_K_multi(1, k, vw, vx, nbx, nc, s, lds);
}

AI void kn_q6_K_multi(int k, const void *vw, const void *vx, size_t nbx, int nc, float *s, size_t lds) {
    const block_q6_K *w = vw;
    float32x4_t acc[KERN_TILE_C];
    for (int c = 0; c < nc; c++) acc[c] = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(3);
    const int8x16_t k32 = vdupq_n_s8(32);
    for (int i = 0; i < k / QK_K; i++) {
        const int8_t *sc = w[i].scales;
        const float dw = kn_h2f(w[i].d);
        int32x4_t sumi[KERN_TILE_C];
        for (int c = 0; c < nc; c++) sumi[c] = vdupq_n_s32(0);
        for (int g = 0; g < 2; g++)
            for (int h = 0; h < 2; h++) {
                const uint8x16_t l0 = vld1q_u8(w[i].ql + 64 * g + 16 * h), l1 = vld1q_u8(w[i].ql + 64 * g + 32 + 16 * h);
                const uint8x16_t qh = vld1q_u8(w[i].qh + 32 * g + 16 * h);
                for (int t = 0; t < 4; t++) {
                    const uint8x16_t l = t & 1 ? l1 : l0;
                    const uint8x16_t lo = t >= 2 ? vshrq_n_u8(l, 4) : vandq_u8(l, m4);
                    const uint8x16_t hi = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(-2 * t))), m2);
                    const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hi, 4))), k32);
                    const int scl = sc[8 * g + 2 * t + h];
                    for (int c = 0; c < nc; c++) {
                        const int8_t *q8 = (X_ROW(block_q8_K, vx, nbx, c) + i)->qs + 128 * g + 32 * t + 16 * h;
                        sumi[c] = vmlaq_n_s32(sumi[c], vdotq_s32(vdupq_n_s32(0), q, vld1q_s8(q8)), scl);
                    }
                }
            }
        for (int c = 0; c < nc; c++)
            acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(sumi[c]), dw * (X_ROW(block_q8_K, vx, nbx, c) + i)->d);
    }
    for (int c = 0; c < nc; c++) s[c * lds] = vaddvq_f32(acc[c]);
}

AI void kn_iq4_xs_multi(int k, const void *vw, const void *vx, size_t nbx, int nc, float *s, size_t lds) {
    const block_iq4_xs *w = vw;
    const int8x16_t kv = vld1q_s8(kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float32x4_t acc[KERN_TILE_C];
    for (int c = 0; c < nc; c++) acc[c] = vdupq_n_f32(0);
    for (int i = 0; i < k / QK_K; i++) {
        const float dw = kn_h2f(w[i].d);
        int32x4_t sumi[KERN_TILE_C];
        for (int c = 0; c < nc; c++) sumi[c] = vdupq_n_s32(0);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = (((w[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0x0f) | ((w[i].scales_h >> 2 * ib) & 3) << 4) - 32;
            const uint8x16_t b = vld1q_u8(w[i].qs + 16 * ib);
            const int8x16_t lo = vqtbl1q_s8(kv, vandq_u8(b, m4)), hi = vqtbl1q_s8(kv, vshrq_n_u8(b, 4));
            for (int c = 0; c < nc; c++) {
                const int8_t *q8 = (X_ROW(block_q8_K, vx, nbx, c) + i)->qs + 32 * ib;
                const int32x4_t p = vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(q8)), hi, vld1q_s8(q8 + 16));
                sumi[c] = vmlaq_n_s32(sumi[c], p, ls);
            }
        }
        for (int c = 0; c < nc; c++)
            acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(sumi[c]), dw * (X_ROW(block_q8_K, vx, nbx, c) + i)->d);
    }
    for (int c = 0; c < nc; c++) s[c * lds] = vaddvq_f32(acc[c]);
}

/* ---------------------------------------------------------------- float weights */

AI float32x4_t kn_ld_f32(const float *p) { return vld1q_f32(p); }
AI float32x4_t kn_ld_f16(const fp16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

#define KN_FLOAT_MULTI(NAME, T, LOAD, TOF)                                                           \
    AI void NAME(int k, const void *vw, const void *vx, size_t nbx, int nc, float *s, size_t lds) {   \
        const T *w = vw;                                                                             \
        float32x4_t acc[KERN_TILE_C];                                                                \
        for (int c = 0; c < nc; c++) acc[c] = vdupq_n_f32(0);                                        \
        int i = 0;                                                                                   \
        for (; i + 4 <= k; i += 4) {                                                                 \
            const float32x4_t a = LOAD(w + i);                                                       \
            for (int c = 0; c < nc; c++) acc[c] = vfmaq_f32(acc[c], a, LOAD(X_ROW(T, vx, nbx, c) + i)); \
        }                                                                                            \
        for (int c = 0; c < nc; c++) {                                                               \
            float t = vaddvq_f32(acc[c]);                                                            \
            for (int j = i; j < k; j++) t += TOF(w[j]) * TOF(X_ROW(T, vx, nbx, c)[j]);               \
            s[c * lds] = t;                                                                          \
        }                                                                                            \
    }
#define KN_ID(x) (x)
KN_FLOAT_MULTI(kn_f32_multi, float, kn_ld_f32, KN_ID)
KN_FLOAT_MULTI(kn_f16_multi, fp16_t, kn_ld_f16, kn_h2f)

#define KN_DEFINE(T)                                                                                      \
    static void kn_##T##_vec_dot(int n, float *s, const void *w, const void *x) {                         \
        kn_##T##_multi(n, w, x, 0, 1, s, 1);                                                              \
    }                                                                                                     \
    static void kn_##T##_tile(int k, const void *w, size_t nbw, int nr, const void *x, size_t nbx, int nc, \
                              float *s, size_t lds) {                                                     \
        for (int c0 = 0; c0 < nc; c0 += 4) /* 4 tokens at a time keeps the accumulators in registers */ \
            for (int r = 0; r < nr; r++) {                                                                \
                const void *wr = (const char *)w + (size_t)r * nbw;                                       \
                const void *xc = (const char *)x + (size_t)c0 * nbx;                                      \
                switch (nc - c0) {                                                                        \
                case 1: kn_##T##_multi(k, wr, xc, nbx, 1, s + r + c0 * lds, lds); break;                  \
                case 2: kn_##T##_multi(k, wr, xc, nbx, 2, s + r + c0 * lds, lds); break;                  \
                case 3: kn_##T##_multi(k, wr, xc, nbx, 3, s + r + c0 * lds, lds); break;                  \
                default: kn_##T##_multi(k, wr, xc, nbx, 4, s + r + c0 * lds, lds); break;                 \
                }                                                                                         \
            }                                                                                             \
    }
KN_DEFINE(q4_0)
KN_DEFINE(q8_0)
KN_DEFINE(q4_K)
KN_DEFINE(q5_K)
KN_DEFINE(q6_K)
KN_DEFINE(iq4_xs)
KN_DEFINE(f32)
KN_DEFINE(f16)

/* ---------------------------------------------------------------- activation quantizers */

AI int8x8_t kn_narrow(int32x4_t a, int32x4_t b) { return vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b))); }

/* Q8_0 like the reference: d = amax/127, q = roundf(x / d) (vcvta: ties away from zero). */
static void kn_quantize_q8_0(const float *x, void *vy, int64_t k) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        float32x4_t v[8];
        float32x4_t am = vdupq_n_f32(0);
        for (int j = 0; j < 8; j++) { v[j] = vld1q_f32(x + 4 * j); am = vmaxq_f32(am, vabsq_f32(v[j])); }
        const float d = vmaxvq_f32(am) / 127, id = d ? 1.0f / d : 0.0f;
        for (int j = 0; j < 8; j += 2) {
            const int32x4_t a = vcvtaq_s32_f32(vmulq_n_f32(v[j], id)), b = vcvtaq_s32_f32(vmulq_n_f32(v[j + 1], id));
            vst1_s8(y[i].qs + 4 * j, kn_narrow(a, b));
        }
        y[i].d = f32_to_fp16(d);
    }
}

/* Q8_K: iscale = -127 / (signed value of largest magnitude, first on ties); q = min(127,
 * nearest-even(iscale * x)) (vcvtn); bsums are sums of 16. */
static void kn_quantize_q8_K(const float *x, void *vy, int64_t k) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float32x4_t am = vdupq_n_f32(0);
        for (int j = 0; j < QK_K; j += 4) am = vmaxq_f32(am, vabsq_f32(vld1q_f32(x + j)));
        const float amax = vmaxvq_f32(am);
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0;
        for (int j = 0; j < QK_K; j++) if (fabsf(x[j]) == amax) { max = x[j]; break; }
        const float iscale = -127.f / max;
        const int32x4_t lim = vdupq_n_s32(127);
        for (int j = 0; j < QK_K; j += 16) {
            int32x4_t q[4];
            for (int l = 0; l < 4; l++) q[l] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j + 4 * l), iscale)), lim);
            const int8x16_t qb = vcombine_s8(kn_narrow(q[0], q[1]), kn_narrow(q[2], q[3]));
            vst1q_s8(y[i].qs + j, qb);
            y[i].bsums[j / 16] = (int16_t)vaddlvq_s8(qb);
        }
        y[i].d = 1 / iscale;
    }
}

/* F16 rows (the default KV cache) to float; exact. */
static void kn_f16_to_float(const void *vx, float *y, int64_t k) {
    const fp16_t *x = vx;
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) vst1q_f32(y + i, kn_ld_f16(x + i));
    for (; i < k; i++) y[i] = kn_h2f(x[i]);
}

static void kn_quantize_f16(const float *x, void *vy, int64_t k) {
    fp16_t *y = vy;
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < k; i++) y[i] = f32_to_fp16(x[i]);
}

/* ---------------------------------------------------------------- float helpers */

static float kn_dot_f32(const float *a, const float *b, int n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void kn_rmsnorm(float *y, const float *x, const float *g, int n, float eps) {
    const float scale = 1.0f / sqrtf(kn_dot_f32(x, x, n) / n + eps);
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(g + i)));
    for (; i < n; i++) y[i] = (x[i] * scale) * g[i];
}

static void kn_axpy_f32(float *y, float a, const float *x, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

const struct kern_isa kern_isa_neon = {
    .name = "neon",
    .vec_dot = { [QT_F32] = kn_f32_vec_dot, [QT_F16] = kn_f16_vec_dot, [QT_Q4_0] = kn_q4_0_vec_dot,
                 [QT_Q8_0] = kn_q8_0_vec_dot, [QT_Q4_K] = kn_q4_K_vec_dot, [QT_Q5_K] = kn_q5_K_vec_dot,
                 [QT_Q6_K] = kn_q6_K_vec_dot, [QT_IQ4_XS] = kn_iq4_xs_vec_dot },
    .tile = { [QT_F32] = kn_f32_tile, [QT_F16] = kn_f16_tile, [QT_Q4_0] = kn_q4_0_tile, [QT_Q8_0] = kn_q8_0_tile,
              [QT_Q4_K] = kn_q4_K_tile, [QT_Q5_K] = kn_q5_K_tile, [QT_Q6_K] = kn_q6_K_tile,
              [QT_IQ4_XS] = kn_iq4_xs_tile },
    .quantize = { [QT_Q8_0] = kn_quantize_q8_0, [QT_Q8_K] = kn_quantize_q8_K, [QT_F16] = kn_quantize_f16 },
    .to_float = { [QT_F16] = kn_f16_to_float },
    .rmsnorm = kn_rmsnorm, .dot_f32 = kn_dot_f32, .axpy_f32 = kn_axpy_f32,
};
