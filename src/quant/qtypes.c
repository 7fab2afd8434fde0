/* Tensor element types: half/bfloat conversion, and the portable scalar reference of every
 * GGUF block type (dequantize, reference quantize, dot product with the activation type).
 *
 * Element order, rounding and accumulation order follow ggml's reference code (ggml-quants.c
 * and the generic kernels of ggml-cpu) so that dequantized weights are bit-identical and dot
 * products round the way the reference engine does. Each SIMD path is tested against these.
 */
#include "quant/qtypes.h"

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

/* Round half to even, as ggml's nearest_int (valid for |x| < 2^22, which all callers respect). */
static int nearest_int(float x) {
    float v = x + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Tiny groups are treated as all-zero by the K-quant searches (ggml's GROUP_MAX_EPS). */
#define GROUP_MAX_EPS 1e-15f

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

/* Symmetric types scale by max / -nmax so the largest magnitude lands on the extra negative level;
 * quantization truncates x/d + offset + 0.5 exactly as ggml's reference (not roundf). */
static void q4_0_from_float(const float *x, void *vy, int64_t k) {
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < k / QK4_0; i++, x += QK4_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        const float d = max / -8, id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            uint8_t q0 = (uint8_t)MIN(15, (int8_t)(x[j] * id + 8.5f));
            uint8_t q1 = (uint8_t)MIN(15, (int8_t)(x[j + 16] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

static void q4_1_from_float(const float *x, void *vy, int64_t k) {
    block_q4_1 *y = vy;
    for (int64_t i = 0; i < k / QK4_1; i++, x += QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; j++) { if (x[j] < min) min = x[j]; if (x[j] > max) max = x[j]; }
        const float d = (max - min) / 15, id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        for (int j = 0; j < 16; j++) {
            uint8_t q0 = (uint8_t)MIN(15, (int8_t)((x[j] - min) * id + 0.5f));
            uint8_t q1 = (uint8_t)MIN(15, (int8_t)((x[j + 16] - min) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

static void q5_pack(const uint8_t *q, uint8_t *qs, uint8_t *qhb) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | (q[j + 16] & 0x0f) << 4);
        qh |= (uint32_t)(q[j] >> 4 & 1) << j | (uint32_t)(q[j + 16] >> 4 & 1) << (j + 16);
    }
    for (int b = 0; b < 4; b++) qhb[b] = (uint8_t)(qh >> 8 * b);
}

static void q5_0_from_float(const float *x, void *vy, int64_t k) {
    block_q5_0 *y = vy;
    uint8_t q[32];
    for (int64_t i = 0; i < k / QK5_0; i++, x += QK5_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        const float d = max / -16, id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)MIN(31, (int8_t)(x[j] * id + 16.5f));
        q5_pack(q, y[i].qs, y[i].qh);
    }
}

static void q5_1_from_float(const float *x, void *vy, int64_t k) {
    block_q5_1 *y = vy;
    uint8_t q[32];
    for (int64_t i = 0; i < k / QK5_1; i++, x += QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; j++) { if (x[j] < min) min = x[j]; if (x[j] > max) max = x[j]; }
        const float d = (max - min) / 31, id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)((x[j] - min) * id + 0.5f);
        q5_pack(q, y[i].qs, y[i].qh);
    }
}

/* Q8_0 / Q8_1 activations: d = amax/127, q = roundf(x * (1/d)) (half away from zero). */
static float q8_block(const float *x, int8_t *qs, int n) {
    float amax = 0;
    for (int j = 0; j < n; j++) amax = MAX(amax, fabsf(x[j]));
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < n; j++) qs[j] = (int8_t)roundf(x[j] * id);
    return d;
}

static void q8_0_from_float(const float *x, void *vy, int64_t k) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / QK8_0; i++, x += QK8_0) y[i].d = f32_to_fp16(q8_block(x, y[i].qs, QK8_0));
}

static void q8_1_from_float(const float *x, void *vy, int64_t k) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < k / QK8_1; i++, x += QK8_1) {
        const float d = q8_block(x, y[i].qs, QK8_1);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) sum += y[i].qs[j];
        y[i].d = f32_to_fp16(d);
        y[i].s = f32_to_fp16(sum * d);
    }
}

static int best_index_iq4nl(float x) {
    const int8_t *v = kvalues_iq4nl;
    if (x <= v[0]) return 0;
    if (x >= v[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (x < v[mid]) hi = mid; else lo = mid;
    }
    return x - v[hi - 1] < v[hi] - x ? hi - 1 : hi;
}

/* IQ4_NL / IQ4_XS search (ggml's quantize_row_iq4_nl_impl without importance weights): per
 * 32-group, a weighted least-squares scale on the grid, refined over 2*ntry+1 trial inverse
 * scales; IQ4_XS then stores 6-bit group scales relative to d. Both use ntry 7, as llama-quantize
 * does when writing files (ggml's quantize_row_iq4_nl_ref skips the refinement). */
static void iq4_quantize_superblock(int sb, const float *x, fp16_t *dh, uint8_t *q4, uint16_t *scales_h,
                                    uint8_t *scales_l, int ntry) {
    float scales[QK_K / 32] = {0}, weight[32];
    uint8_t L[QK_K];
    const int nb = sb / 32;
    memset(q4, 0, (size_t)sb / 2);
    *dh = f32_to_fp16(0.f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < nb; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        for (int j = 0; j < 32; j++) weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) if (fabsf(xb[j]) > amax) { amax = fabsf(xb[j]); max = xb[j]; }
        if (amax < GROUP_MAX_EPS) { scales[ib] = 0; continue; }
        float d = ntry > 0 ? -max / kvalues_iq4nl[0] : max / kvalues_iq4nl[0];
        float id = 1 / d, sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            int l = best_index_iq4nl(id * xb[j]);
            Lb[j] = (uint8_t)l;
            float q = kvalues_iq4nl[l];
            sumqx += weight[j] * q * xb[j];
            sumq2 += weight[j] * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = (itry + kvalues_iq4nl[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                float q = kvalues_iq4nl[best_index_iq4nl(id * xb[j])];
                sumqx += weight[j] * q * xb[j];
                sumq2 += weight[j] * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) { d = sumqx / sumq2; best = d * sumqx; }
        }
        scales[ib] = d;
        if (fabsf(d) > amax_scale) { amax_scale = fabsf(d); max_scale = d; }
    }
    if (nb > 1) {
        *scales_h = 0;
        const float d = -max_scale / 32, id = d ? 1 / d : 0.f;
        *dh = f32_to_fp16(d);
        for (int ib = 0; ib < nb; ib++) {
            int l = MAX(-32, MIN(31, nearest_int(id * scales[ib])));
            const float dl = d * l, idl = dl ? 1 / dl : 0.f;
            for (int j = 0; j < 32; j++) L[32 * ib + j] = (uint8_t)best_index_iq4nl(idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0) scales_l[ib / 2] = (uint8_t)(l & 0xf);
            else scales_l[ib / 2] |= (uint8_t)((l & 0xf) << 4);
            *scales_h |= (uint16_t)((l >> 4) << 2 * ib);
        }
    } else {
        *dh = f32_to_fp16(scales[0]);
        if (ntry > 0) {
            const float id = scales[0] ? 1 / scales[0] : 0;
            for (int j = 0; j < sb; j++) L[j] = (uint8_t)best_index_iq4nl(id * x[j]);
        }
    }
    for (int i = 0; i < sb / 32; i++)
        for (int j = 0; j < 16; j++) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | L[32 * i + 16 + j] << 4);
}

static void iq4_nl_from_float(const float *x, void *vy, int64_t k) {
    block_iq4_nl *y = vy;
    uint16_t unused_h;
    for (int64_t i = 0; i < k / QK4_NL; i++)
        iq4_quantize_superblock(QK4_NL, x + QK4_NL * i, &y[i].d, y[i].qs, &unused_h, NULL, 7);
}

static void iq4_xs_from_float(const float *x, void *vy, int64_t k) {
    block_iq4_xs *y = vy;
    for (int64_t i = 0; i < k / QK_K; i++)
        iq4_quantize_superblock(QK_K, x + QK_K * i, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l, 7);
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
static void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
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
static void q3_K_scales(const uint8_t *scales, int *sc) {
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
    q3_K_scales(b->scales, sc);
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
            get_scale_min_k4(j, scales, &ls, &lm);
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

/* --- K-quant reference quantizers (ggml's *_ref: no importance matrix). */

/* Symmetric scale search for Q6_K (ggml make_qx_quants, rmse_type 1: weights x^2): try 19
 * inverse scales around -nmax/max and keep the least-squares best. L gets l + nmax. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (amax < GROUP_MAX_EPS) { memset(L, 0, (size_t)n); return 0.f; }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MAX(-nmax, MIN(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = MAX(-nmax, MIN(nmax - 1, nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + MAX(-nmax, MIN(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K group scale: start from -nmax/max, then up to 5 passes of moving single quants to the
 * level that improves the weighted (x^2) least-squares fit. L gets l + nmax. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (amax < GROUP_MAX_EPS) { memset(L, 0, (size_t)n); return 0.f; }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MAX(-nmax, MIN(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i], slx = sumlx - w * x[i] * L[i];
            if (slx <= 0) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int new_l = MAX(-nmax, MIN(nmax - 1, nearest_int(x[i] * sl2 / slx)));
            if (new_l == L[i]) continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                n_changed++;
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric (scale, min) search for Q2_K/Q4_K/Q5_K (ggml make_qkx2_quants): x ~ scale*L - the_min,
 * trying nstep+1 inverse scales (rmin + rdelta*is + nmax)/(max - min) with a weighted
 * least-squares fit of scale and min at each, keeping the lowest weighted error. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                              float rmin, float rdelta, int nstep, int use_mad) {
    uint8_t Laux[32];
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) { memset(L, 0, (size_t)n); *the_min = -min; return 0.f; }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)MAX(0, MIN(nmax, nearest_int(iscale * (x[i] - min))));
        float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = MAX(0, MIN(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) { this_min = 0; this_scale = sum_xl / sum_l2; }
        float cur_error = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            cur_error += w[i] * (use_mad ? fabsf(diff) : diff * diff);
        }
        if (cur_error < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* Packs 256 two-bit values (0..3) in the Q2_K/Q3_K qs order (see k_low2). */
static void k_pack2(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

static void q2_K_from_float(const float *x, void *vy, int64_t k) {
    block_q2_K *y = vy;
    uint8_t L[QK_K];
    float weights[16], mins[16], scales[16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        memset(y[i].scales, 0, sizeof(y[i].scales));
        y[i].d = y[i].dmin = f32_to_fp16(0.f);
        if (max_scale > 0) {
            const float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = f32_to_fp16(max_scale / 15.f);
        }
        if (max_min > 0) {
            const float iscale = 15.f / max_min;
            for (int j = 0; j < 16; j++) y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = f32_to_fp16(max_min / 15.f);
        }
        for (int j = 0; j < 16; j++) {
            const float d = FP16(y[i].d) * (y[i].scales[j] & 0x0f);
            if (!d) continue;
            const float dm = FP16(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)MAX(0, MIN(3, nearest_int((x[16 * j + l] + dm) / d)));
        }
        k_pack2(L, y[i].qs);
    }
}

static void q3_K_from_float(const float *x, void *vy, int64_t k) {
    block_q3_K *y = vy;
    int8_t L[QK_K];
    float scales[16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) { amax = fabsf(scales[j]); max_scale = scales[j]; }
        }
        memset(y[i].scales, 0, 12);
        y[i].d = f32_to_fp16(0.f);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = MAX(-32, MIN(31, nearest_int(iscale * scales[j]))) + 32;
                if (j < 8) y[i].scales[j] = (uint8_t)(l & 0x0f);
                else y[i].scales[j - 8] |= (uint8_t)((l & 0x0f) << 4);
                y[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = f32_to_fp16(1 / iscale);
        }
        int sc[16];
        q3_K_scales(y[i].scales, sc); /* quantize against the scales as stored */
        for (int j = 0; j < 16; j++) {
            const float d = FP16(y[i].d) * sc[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(MAX(-4, MIN(3, nearest_int(x[16 * j + l] / d))) + 4);
        }
        memset(y[i].hmask, 0, sizeof(y[i].hmask));
        uint8_t L2[QK_K];
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 3) y[i].hmask[e % 32] |= (uint8_t)(1 << (e / 32));
            L2[e] = (uint8_t)(L[e] & 3);
        }
        k_pack2(L2, y[i].qs);
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-group (scale, min), then 6-bit
 * super-block quantization of both, then the quants redone against the stored scales. */
static void q45_K_quantize(const float *x, int nmax, float rmin, int nstep, fp16_t *dd, fp16_t *dm,
                           uint8_t *sc12, uint8_t *L) {
    float mins[8], scales[8], weights[32], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(sc12, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)MIN(63, (uint8_t)nearest_int(inv_scale * scales[j]));
        uint8_t lm = (uint8_t)MIN(63, (uint8_t)nearest_int(inv_min * mins[j]));
        if (j < 4) {
            sc12[j] = ls;
            sc12[j + 4] = lm;
        } else {
            sc12[j + 4] = (uint8_t)((ls & 0x0f) | (lm & 0x0f) << 4);
            sc12[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc12[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *dd = f32_to_fp16(max_scale / 63.f);
    *dm = f32_to_fp16(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        get_scale_min_k4(j, sc12, &sc, &m);
        const float d = FP16(*dd) * sc;
        if (!d) continue;
        const float dmin = FP16(*dm) * m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)MAX(0, MIN(nmax, nearest_int((x[32 * j + l] + dmin) / d)));
    }
}

static void q4_K_from_float(const float *x, void *vy, int64_t k) {
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        q45_K_quantize(x, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        for (int e = 0; e < QK_K; e += 64)
            for (int l = 0; l < 32; l++) y[i].qs[e / 2 + l] = (uint8_t)(L[e + l] | L[e + l + 32] << 4);
    }
}

static void q5_K_from_float(const float *x, void *vy, int64_t k) {
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        q45_K_quantize(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        memset(y[i].qh, 0, sizeof(y[i].qh));
        for (int e = 0; e < QK_K; e++) if (L[e] > 15) y[i].qh[e % 32] |= (uint8_t)(1 << (e / 32));
        for (int e = 0; e < QK_K; e += 64)
            for (int l = 0; l < 32; l++) y[i].qs[e / 2 + l] = (uint8_t)((L[e + l] & 0x0f) | (L[e + l + 32] & 0x0f) << 4);
    }
}

static void q6_K_from_float(const float *x, void *vy, int64_t k) {
    block_q6_K *y = vy;
    int8_t L[QK_K];
    float scales[16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs_scale) { max_abs_scale = fabsf(scales[ib]); max_scale = scales[ib]; }
        }
        memset(&y[i], 0, sizeof(y[i]));
        if (max_abs_scale < GROUP_MAX_EPS) continue;
        const float iscale = -128.f / max_scale;
        y[i].d = f32_to_fp16(1 / iscale);
        for (int ib = 0; ib < 16; ib++) y[i].scales[ib] = (int8_t)MIN(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < 16; j++) {
            const float d = FP16(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(MAX(-32, MIN(31, nearest_int(x[16 * j + l] / d))) + 32);
        }
        for (int e = 0; e < QK_K; e++) {
            int g = e / 128, t = e % 128 / 32, l = e % 32;
            y[i].ql[64 * g + l + 32 * (t & 1)] |= (uint8_t)((L[e] & 0x0f) << (t >= 2 ? 4 : 0));
            y[i].qh[32 * g + l] |= (uint8_t)((L[e] >> 4) << (2 * t));
        }
    }
}

/* Q8_K activations: d = max / -127 with max the signed element of largest magnitude, quants
 * rounded half to even, bsums = sums of 16 quants (used for the K-quant mins). */
static void q8_K_from_float(const float *x, void *vy, int64_t k) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        if (!amax) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)MIN(127, nearest_int(iscale * x[j]));
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---------------------------------------------------------------- the traits table */

#define T_FLOAT(id, nm, T, pre) [id] = { nm, 1, sizeof(T), 0, pre##_to_float, pre##_from_float, pre##_vec_dot, id }
#define T_QUANT(id, nm, blk, B, pre, vd, dot) \
    [id] = { nm, blk, sizeof(B), 1, pre##_to_float, pre##_from_float, dot, vd }

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
