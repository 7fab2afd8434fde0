/* Tensor element types: half/bfloat conversion, and the portable scalar reference of every
 * GGUF block type (dequantize, dot product with the activation type; the quantizers, also the
 * from_float entries of the table, are in quantize.c).
 *
 * Element order, rounding and accumulation order follow ggml's reference code (ggml-quants.c
 * and the generic kernels of ggml-cpu) so that dequantized weights are bit-identical and dot
 * products round the way the reference engine does. Each SIMD path is tested against these.
 */
#include "quant/qtypes.h"
#include "quant/quantize.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Bit-exactness needs a*b+c rounded twice: clang would otherwise fuse it (gcc does not in ISO C mode). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

const int8_t kvalues_iq4nl[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* ---------------------------------------------------------------- half and bfloat */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float fp16_to_f32(fp16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in f32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | man << 13); /* inf, nan keeps payload */
    return bits_f32(sign | (exp + 112) << 23 | man << 13);
}

fp16_t f32_to_fp16(float f) {
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7fffffff;
    if (a > 0x7f800000u) return (fp16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff)); /* quiet nan */
    if (a >= 0x477ff000u) return (fp16_t)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {
        /* below 2^-14: a half subnormal, round(|f| * 2^24) with ties to even */
        uint32_t e = a >> 23;
        if (e < 102) return (fp16_t)sign; /* < 2^-25: rounds to zero */
        uint32_t m = (a & 0x7fffff) | 0x800000, shift = 126 - e;
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (fp16_t)(sign | q); /* q == 0x400 is the smallest normal: the encoding carries */
    }
    uint32_t h = ((a >> 23) - 112) << 10 | ((a >> 13) & 0x3ff), rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* a carry into the exponent is right */
    return (fp16_t)(sign | h);
}

float bf16_to_f32(bf16_t h) { return bits_f32((uint32_t)h << 16); }

bf16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000u) return (bf16_t)((u >> 16) | 0x40); /* quiet nan */
    return (bf16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

#define FP16(h) fp16_to_f32(h)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))


/* ---------------------------------------------------------------- float types */

static void f32_to_float(const void *x, float *y, int64_t k) { memcpy(y, x, (size_t)k * sizeof(float)); }
static void f32_from_float(const float *x, void *y, int64_t k) { memcpy(y, x, (size_t)k * sizeof(float)); }
static void f16_to_float(const void *vx, float *y, int64_t k) {
    const fp16_t *x = vx;
    for (int64_t i = 0; i < k; i++) y[i] = fp16_to_f32(x[i]);
}
static void f16_from_float(const float *x, void *vy, int64_t k) {
    fp16_t *y = vy;
    for (int64_t i = 0; i < k; i++) y[i] = f32_to_fp16(x[i]);
}
static void bf16_to_float(const void *vx, float *y, int64_t k) {
    const bf16_t *x = vx;
    for (int64_t i = 0; i < k; i++) y[i] = bf16_to_f32(x[i]);
}
static void bf16_from_float(const float *x, void *vy, int64_t k) {
    bf16_t *y = vy;
    for (int64_t i = 0; i < k; i++) y[i] = f32_to_bf16(x[i]);
}

/* The float dots sum single-precision products in double, like ggml's scalar path. */
static void f32_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}
static void f16_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const fp16_t *x = vx, *y = vy;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)(fp16_to_f32(x[i]) * fp16_to_f32(y[i]));
    *s = (float)sum;
}
static void bf16_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const bf16_t *x = vx, *y = vy;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)(bf16_to_f32(x[i]) * bf16_to_f32(y[i]));
    *s = (float)sum;
}

/* ---------------------------------------------------------------- legacy 32-element blocks
 * Byte j of qs holds element j in its low nibble and element j + 16 in its high nibble.
 * Q5: bit j of the little-endian u32 qh is the fifth bit of element j. */

static void q4_0_to_float(const void *vx, float *y, int64_t k) {
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < k / QK4_0; i++, y += QK4_0) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = ((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_1_to_float(const void *vx, float *y, int64_t k) {
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < k / QK4_1; i++, y += QK4_1) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (x[i].qs[j] & 0x0f) * d + m;
            y[j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Unpacks the 5-bit values (0..31) of a Q5_0/Q5_1 block. */
static void q5_unpack(const uint8_t *qs, const uint8_t *qhb, int *q) {
    uint32_t qh = load_u32(qhb);
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
        q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
    }
}

static void q5_0_to_float(const void *vx, float *y, int64_t k) {
    const block_q5_0 *x = vx;
    int q[32];
    for (int64_t i = 0; i < k / QK5_0; i++, y += QK5_0) {
        const float d = FP16(x[i].d);
        q5_unpack(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) y[j] = (q[j] - 16) * d;
    }
}

static void q5_1_to_float(const void *vx, float *y, int64_t k) {
    const block_q5_1 *x = vx;
    int q[32];
    for (int64_t i = 0; i < k / QK5_1; i++, y += QK5_1) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        q5_unpack(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) y[j] = q[j] * d + m;
    }
}

static void q8_0_to_float(const void *vx, float *y, int64_t k) {
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < k / QK8_0; i++, y += QK8_0) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = x[i].qs[j] * d;
    }
}

static void q8_1_to_float(const void *vx, float *y, int64_t k) {
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < k / QK8_1; i++, y += QK8_1) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = x[i].qs[j] * d;
    }
}

static void iq4_nl_to_float(const void *vx, float *y, int64_t k) {
    const block_iq4_nl *x = vx;
    for (int64_t i = 0; i < k / QK4_NL; i++, y += QK4_NL) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * kvalues_iq4nl[x[i].qs[j] & 0x0f];
            y[j + 16] = d * kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

/* Legacy dot products: one exact int sum per 32-block, scaled by the two fp16 scales. */
static void q4_0_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK8_0; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sumf += sumi * FP16(x[i].d) * FP16(y[i].d);
    }
    *s = sumf;
}

static void q4_1_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK8_1; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += (x[i].qs[j] & 0x0f) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    *s = sumf;
}

static void q5_0_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    int q[32];
    for (int i = 0; i < n / QK8_0; i++) {
        q5_unpack(x[i].qs, x[i].qh, q);
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += (q[j] - 16) * y[i].qs[j];
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * sumi;
    }
    *s = sumf;
}

static void q5_1_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    int q[32];
    for (int i = 0; i < n / QK8_1; i++) {
        q5_unpack(x[i].qs, x[i].qh, q);
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += q[j] * y[i].qs[j];
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    *s = sumf;
}

static void q8_0_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx, *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK8_0; i++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += sumi * (FP16(x[i].d) * FP16(y[i].d));
    }
    *s = sumf;
}

static void iq4_nl_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK4_NL; i++) {
        const float d = FP16(y[i].d) * FP16(x[i].d);
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += y[i].qs[j] * kvalues_iq4nl[x[i].qs[j] & 0x0f] + y[i].qs[j + 16] * kvalues_iq4nl[x[i].qs[j] >> 4];
        sumf += d * sumi;
    }
    *s = sumf;
}

/* ---------------------------------------------------------------- K-quants (256-element super-blocks)
 * Every K block is unpacked to its integer quants in element order (a[256]) plus one integer
 * scale per 16 elements; dequantization and the dot products work from that. */

/* Q4_K/Q5_K: 8 six-bit scales and 8 six-bit mins in 12 bytes. Bytes 0-3 hold scales 0-3 and
 * bytes 4-7 mins 0-3 in their low 6 bits; scales/mins 4-7 keep their low nibbles in bytes 8-11
 * and their top 2 bits in the top bits of bytes 0-3 / 4-7. */
void qtype_k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0x0f) | (q[j - 4] >> 6) << 4);
        *m = (uint8_t)((q[j + 4] >> 4) | (q[j] >> 6) << 4);
    }
}

/* Q2_K / Q3_K low bits: each group of 128 elements uses 32 bytes of qs; element 32*j + l of the
 * group sits in bits 2j..2j+1 of byte l. */
static void k_low2(const uint8_t *qs, int8_t *a) {
    for (int g = 0; g < 2; g++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) a[128 * g + 32 * j + l] = (int8_t)((qs[32 * g + l] >> 2 * j) & 3);
}

static void q2_K_unpack(const block_q2_K *b, int8_t *a) { k_low2(b->qs, a); }

/* Q3_K: hmask bit e/32 of byte e%32 is the high bit (set means no -4 offset). The 16 six-bit
 * scales: low nibbles in bytes 0-7 (scale s < 8 low, s >= 8 high nibble of byte s-8), top 2 bits
 * of scale s in bits 2*(s/4) of byte 8 + s%4. */
void qtype_q3_K_scales(const uint8_t *scales, int *sc) {
    for (int s = 0; s < 16; s++) {
        int lo = s < 8 ? scales[s] & 0x0f : scales[s - 8] >> 4;
        int hi = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
        sc[s] = (lo | hi << 4) - 32;
    }
}

static void q3_K_unpack(const block_q3_K *b, int8_t *a, int *sc) {
    k_low2(b->qs, a);
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 32; l++) a[32 * j + l] = (int8_t)(a[32 * j + l] - ((b->hmask[l] >> j) & 1 ? 0 : 4));
    qtype_q3_K_scales(b->scales, sc);
}

/* Q4_K / Q5_K: each 64 elements use 32 bytes of qs, the first 32 in low nibbles, the next 32 in
 * high nibbles. Q5_K: bit e/32 of qh[e%32] is the fifth bit. */
static void q45_K_unpack(const uint8_t *qs, const uint8_t *qh, int8_t *a) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            a[64 * c + l] = (int8_t)(qs[32 * c + l] & 0x0f);
            a[64 * c + 32 + l] = (int8_t)(qs[32 * c + l] >> 4);
        }
    if (qh)
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 32; l++) a[32 * j + l] = (int8_t)(a[32 * j + l] | ((qh[l] >> j) & 1) << 4);
}

/* Q6_K: per 128 elements, 64 bytes of ql and 32 of qh. Quarter t (32 elements) of the group
 * takes its low nibble from ql[l + 32*(t&1)] (high nibble when t >= 2) and its top two bits
 * from qh[l] >> 2t. */
static void q6_K_unpack(const block_q6_K *b, int8_t *a) {
    for (int g = 0; g < 2; g++)
        for (int t = 0; t < 4; t++)
            for (int l = 0; l < 32; l++) {
                int lo = b->ql[64 * g + l + 32 * (t & 1)] >> (t >= 2 ? 4 : 0) & 0x0f;
                int hi = b->qh[32 * g + l] >> (2 * t) & 3;
                a[128 * g + 32 * t + l] = (int8_t)((lo | hi << 4) - 32);
            }
}

/* IQ4_XS: 6-bit scale of group ib (32 elements): low nibble from scales_l, 2 bits from scales_h. */
static int iq4_xs_scale(const block_iq4_xs *b, int ib) {
    return ((b->scales_l[ib / 2] >> 4 * (ib % 2)) & 0x0f) | ((b->scales_h >> 2 * ib) & 3) << 4;
}

static void q2_K_to_float(const void *vx, float *y, int64_t k) {
    const block_q2_K *x = vx;
    int8_t a[QK_K];
    for (int64_t i = 0; i < k / QK_K; i++, y += QK_K) {
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        q2_K_unpack(&x[i], a);
        for (int e = 0; e < QK_K; e++) {
            const uint8_t sc = x[i].scales[e / 16];
            const float dl = d * (sc & 0x0f), ml = min * (sc >> 4);
            y[e] = dl * a[e] - ml;
        }
    }
}

/* Q3_K..Q6_K as integers: quants in element order, a scale per 16 elements and, for Q4_K/Q5_K,
 * a min per 32 (the value is d*scale*q - dmin*min); d and dmin are the super-block scales. */
struct kblock { int8_t a[QK_K]; int sc[16], mins[8]; float d, dmin; int has_min; };

static void k_decode(uint32_t t, const void *vx, int64_t i, struct kblock *kb) {
    kb->has_min = t == QT_Q4_K || t == QT_Q5_K;
    if (t == QT_Q3_K) {
        const block_q3_K *b = (const block_q3_K *)vx + i;
        q3_K_unpack(b, kb->a, kb->sc);
        kb->d = FP16(b->d);
    } else if (t == QT_Q6_K) {
        const block_q6_K *b = (const block_q6_K *)vx + i;
        q6_K_unpack(b, kb->a);
        for (int j = 0; j < 16; j++) kb->sc[j] = b->scales[j];
        kb->d = FP16(b->d);
    } else {
        const block_q4_K *b4 = t == QT_Q4_K ? (const block_q4_K *)vx + i : NULL;
        const block_q5_K *b5 = t == QT_Q5_K ? (const block_q5_K *)vx + i : NULL;
        const uint8_t *scales = b4 ? b4->scales : b5->scales;
        if (b4) q45_K_unpack(b4->qs, NULL, kb->a);
        else q45_K_unpack(b5->qs, b5->qh, kb->a);
        kb->d = FP16(b4 ? b4->d : b5->d);
        kb->dmin = FP16(b4 ? b4->dmin : b5->dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t ls, lm;
            qtype_k4_scale_min(j, scales, &ls, &lm);
            kb->sc[2 * j] = kb->sc[2 * j + 1] = ls;
            kb->mins[j] = lm;
        }
    }
}

static void k_to_float(uint32_t t, const void *vx, float *y, int64_t k) {
    struct kblock kb;
    for (int64_t i = 0; i < k / QK_K; i++, y += QK_K) {
        k_decode(t, vx, i, &kb);
        for (int e = 0; e < QK_K; e++) {
            const float dl = kb.d * kb.sc[e / 16];
            y[e] = kb.has_min ? dl * kb.a[e] - kb.dmin * kb.mins[e / 32] : dl * kb.a[e];
        }
    }
}

static void q3_K_to_float(const void *vx, float *y, int64_t k) { k_to_float(QT_Q3_K, vx, y, k); }
static void q4_K_to_float(const void *vx, float *y, int64_t k) { k_to_float(QT_Q4_K, vx, y, k); }
static void q5_K_to_float(const void *vx, float *y, int64_t k) { k_to_float(QT_Q5_K, vx, y, k); }
static void q6_K_to_float(const void *vx, float *y, int64_t k) { k_to_float(QT_Q6_K, vx, y, k); }

static void q8_K_to_float(const void *vx, float *y, int64_t k) {
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < k / QK_K; i++, y += QK_K)
        for (int e = 0; e < QK_K; e++) y[e] = x[i].d * x[i].qs[e];
}

static void iq4_xs_to_float(const void *vx, float *y, int64_t k) {
    const block_iq4_xs *x = vx;
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float d = FP16(x[i].d);
        for (int ib = 0; ib < QK_K / 32; ib++, y += 32) {
            const float dl = d * (iq4_xs_scale(&x[i], ib) - 32);
            const uint8_t *qs = x[i].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * kvalues_iq4nl[qs[j] & 0x0f];
                y[j + 16] = dl * kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

/* --- K-quant dot products. ggml's generic Q3_K..Q6_K kernels accumulate into 8 int32 lanes
 * (element e goes to lane e%8) and 8 float partial sums; the same order is kept here so the
 * float rounding matches. */
static void q2_K_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    int8_t a[QK_K];
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int summs = 0, isum = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        q2_K_unpack(&x[i], a);
        for (int j = 0; j < 16; j++) {
            int isuml = 0;
            for (int l = 0; l < 16; l++) isuml += y[i].qs[16 * j + l] * a[16 * j + l];
            isum += (x[i].scales[j] & 0x0f) * isuml;
        }
        const float dall = y[i].d * FP16(x[i].d), dmin = y[i].d * FP16(x[i].dmin);
        sumf += dall * isum - dmin * summs;
    }
    *s = sumf;
}

static void k_vec_dot(uint32_t t, int n, float *s, const void *vx, const void *vy) {
    const block_q8_K *y = vy;
    struct kblock kb;
    int32_t aux32[8];
    float sums[8] = {0}, sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        k_decode(t, vx, i, &kb);
        for (int l = 0; l < 8; l++) aux32[l] = 0;
        for (int e = 0; e < QK_K; e += 8)
            for (int l = 0; l < 8; l++) aux32[l] += kb.sc[e / 16] * (y[i].qs[e + l] * kb.a[e + l]);
        const float d = kb.d * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
        if (kb.has_min) {
            int sumi = 0;
            for (int j = 0; j < 16; j++) sumi += y[i].bsums[j] * kb.mins[j / 2];
            sumf -= kb.dmin * y[i].d * sumi;
        }
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

static void q3_K_vec_dot(int n, float *s, const void *vx, const void *vy) { k_vec_dot(QT_Q3_K, n, s, vx, vy); }
static void q4_K_vec_dot(int n, float *s, const void *vx, const void *vy) { k_vec_dot(QT_Q4_K, n, s, vx, vy); }
static void q5_K_vec_dot(int n, float *s, const void *vx, const void *vy) { k_vec_dot(QT_Q5_K, n, s, vx, vy); }
static void q6_K_vec_dot(int n, float *s, const void *vx, const void *vy) { k_vec_dot(QT_Q6_K, n, s, vx, vy); }

static void iq4_xs_vec_dot(int n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        const float d4d8 = FP16(x[i].d) * y[i].d;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const uint8_t *qs = x[i].qs + 16 * ib;
            const int8_t *q8 = y[i].qs + 32 * ib;
            int sumi1 = 0, sumi2 = 0;
            for (int j = 0; j < 16; j++) {
                sumi1 += q8[j] * kvalues_iq4nl[qs[j] & 0x0f];
                sumi2 += q8[j + 16] * kvalues_iq4nl[qs[j] >> 4];
            }
            sumf += d4d8 * (iq4_xs_scale(&x[i], ib) - 32) * (sumi1 + sumi2);
        }
    }
    *s = sumf;
}

/* ---------------------------------------------------------------- the traits table */

#define T_FLOAT(id, nm, T, pre) [id] = { nm, 1, sizeof(T), 0, pre##_to_float, pre##_from_float, pre##_vec_dot, id }
#define T_QUANT(id, nm, blk, B, pre, vd, dot) \
    [id] = { nm, blk, sizeof(B), 1, pre##_to_float, quant_##pre##_ref, dot, vd }

#define T_LAYOUT(id, nm, blk, size) [id] = { nm, blk, size, 1, NULL, NULL, NULL, id }

static const struct qtype_traits qtype_table[QT_COUNT] = {
    T_FLOAT(QT_F32, "f32", float, f32),
    T_FLOAT(QT_F16, "f16", fp16_t, f16),
    T_FLOAT(QT_BF16, "bf16", bf16_t, bf16),
    T_QUANT(QT_Q4_0, "q4_0", QK4_0, block_q4_0, q4_0, QT_Q8_0, q4_0_vec_dot),
    T_QUANT(QT_Q4_1, "q4_1", QK4_1, block_q4_1, q4_1, QT_Q8_1, q4_1_vec_dot),
    T_QUANT(QT_Q5_0, "q5_0", QK5_0, block_q5_0, q5_0, QT_Q8_0, q5_0_vec_dot),
    T_QUANT(QT_Q5_1, "q5_1", QK5_1, block_q5_1, q5_1, QT_Q8_1, q5_1_vec_dot),
    T_QUANT(QT_Q8_0, "q8_0", QK8_0, block_q8_0, q8_0, QT_Q8_0, q8_0_vec_dot),
    T_QUANT(QT_Q8_1, "q8_1", QK8_1, block_q8_1, q8_1, QT_Q8_1, NULL),
    T_QUANT(QT_Q2_K, "q2_K", QK_K, block_q2_K, q2_K, QT_Q8_K, q2_K_vec_dot),
    T_QUANT(QT_Q3_K, "q3_K", QK_K, block_q3_K, q3_K, QT_Q8_K, q3_K_vec_dot),
    T_QUANT(QT_Q4_K, "q4_K", QK_K, block_q4_K, q4_K, QT_Q8_K, q4_K_vec_dot),
    T_QUANT(QT_Q5_K, "q5_K", QK_K, block_q5_K, q5_K, QT_Q8_K, q5_K_vec_dot),
    T_QUANT(QT_Q6_K, "q6_K", QK_K, block_q6_K, q6_K, QT_Q8_K, q6_K_vec_dot),
    T_QUANT(QT_Q8_K, "q8_K", QK_K, block_q8_K, q8_K, QT_Q8_K, NULL),
    T_QUANT(QT_IQ4_NL, "iq4_nl", QK4_NL, block_iq4_nl, iq4_nl, QT_Q8_0, iq4_nl_vec_dot),
    T_QUANT(QT_IQ4_XS, "iq4_xs", QK_K, block_iq4_xs, iq4_xs, QT_Q8_K, iq4_xs_vec_dot),
    /* Types this engine cannot compute with, known by layout only, so that a GGUF holding them
     * still parses (its data ranges are checked) and `info` can describe it. */
    T_LAYOUT(16, "iq2_xxs", QK_K, 66), T_LAYOUT(17, "iq2_xs", QK_K, 74), T_LAYOUT(18, "iq3_xxs", QK_K, 98),
    T_LAYOUT(19, "iq1_s", QK_K, 50), T_LAYOUT(21, "iq3_s", QK_K, 110), T_LAYOUT(22, "iq2_s", QK_K, 82),
    T_LAYOUT(24, "i8", 1, 1), T_LAYOUT(25, "i16", 1, 2), T_LAYOUT(26, "i32", 1, 4), T_LAYOUT(27, "i64", 1, 8),
    T_LAYOUT(28, "f64", 1, 8), T_LAYOUT(29, "iq1_m", QK_K, 56), T_LAYOUT(34, "tq1_0", QK_K, 54),
    T_LAYOUT(35, "tq2_0", QK_K, 66), T_LAYOUT(39, "mxfp4", 32, 17),
};

const struct qtype_traits *qtype_get(uint32_t t) {
    if (t >= QT_COUNT || qtype_table[t].blck_size == 0) return NULL;
    return &qtype_table[t];
}

size_t qtype_row_size(uint32_t t, int64_t n) {
    const struct qtype_traits *tt = qtype_get(t);
    if (!tt || n < 0 || n % tt->blck_size) return 0;
    uint64_t nb = (uint64_t)(n / tt->blck_size);
    if (nb > SIZE_MAX / tt->type_size) return 0; /* would overflow: treat as invalid */
    return (size_t)nb * tt->type_size;
}

const char *qtype_name(uint32_t t) {
    const struct qtype_traits *tt = qtype_get(t);
    return tt ? tt->name : NULL;
}
