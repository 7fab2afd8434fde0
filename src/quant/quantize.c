/* Weight quantizers (see quantize.h). Every expression keeps the reference's operation order:
 * (w*x)*l, sums accumulated left to right in float, divisions where the reference divides.
 * Changing any of that changes bytes (../shared/quant/README.md, Determinism).
 */
#include "quant/quantize.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define FP16(h) fp16_to_f32(h)

/* Tiny groups are treated as all-zero by the searches (ggml's GROUP_MAX_EPS). */
#define GROUP_MAX_EPS 1e-15f

/* Round half to even through the float mantissa, as ggml's nearest_int (|x| < 2^22). */
static int nearest_int(float x) {
    float v = x + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* ---------------------------------------------------------------- scale searches */

/* Symmetric search (rmse_type 1): start at -nmax/max, try 18 more inverse scales
 * -(nmax + 0.1*is)/max and keep the weighted least-squares best. Weights qw, or x^2 when NULL.
 * L gets l + nmax (0 .. 2*nmax-1). */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, const float *qw) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) { memset(L, 0, (size_t)n); return 0.f; }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MAX(-nmax, MIN(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = qw ? qw[i] : x[i] * x[i];
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
            float w = qw ? qw[i] : x[i] * x[i];
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

/* Q3_K group scale: start from -nmax/max, then up to 5 passes moving single quants to the level
 * that improves the x^2-weighted least-squares fit. L gets l + nmax. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
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

/* Asymmetric (scale, min) search (ggml's make_qkx2_quants, and make_qkx3_quants, which is the
 * same computation when weights are given): x ~ scale*L - the_min, trying nstep+1 inverse
 * scales (rmin + rdelta*is + nmax)/(max - min) with a weighted least-squares fit of scale and
 * min at each, keeping the lowest weighted error (absolute when use_mad, else squared). */
static float make_qkx_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
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
    if (max <= min) { memset(L, 0, (size_t)n); *the_min = -min; return 0.f; }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)MAX(0, MIN(nmax, nearest_int(iscale * (x[i] - min))));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
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
            diff = use_mad ? fabsf(diff) : diff * diff;
            cur_error += w[i] * diff;
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

/* Positive-only scale quantization of the group scales/mins with importance qw (ggml's
 * make_qp_quants): 9 trial inverse scales by weighted MSE, then up to 5 passes of single-level
 * moves. L gets 0 .. nmax. */
static float make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw) {
    float max = 0;
    for (int i = 0; i < n; i++) max = MAX(max, x[i]);
    if (max < GROUP_MAX_EPS) { memset(L, 0, (size_t)n); return 0.f; }
    float iscale = nmax / max;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)nearest_int(iscale * x[i]);
    float scale = 1 / iscale, best_mse = 0;
    for (int i = 0; i < n; i++) {
        float diff = x[i] - scale * L[i];
        best_mse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        float iscale_is = (0.1f * is + nmax) / max, scale_is = 1 / iscale_is, mse = 0;
        for (int i = 0; i < n; i++) {
            int l = MIN(nmax, nearest_int(iscale_is * x[i]));
            float diff = x[i] - scale_is * l;
            mse += qw[i] * diff * diff;
        }
        if (mse < best_mse) { best_mse = mse; iscale = iscale_is; }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MIN(nmax, nearest_int(iscale * x[i]));
        L[i] = (uint8_t)l;
        sumlx += qw[i] * x[i] * l;
        suml2 += qw[i] * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = qw[i], slx = sumlx - w * x[i] * L[i], sl2 = suml2 - w * L[i] * L[i];
            if (!(slx > 0 && sl2 > 0)) continue;
            int new_l = MIN(nmax, nearest_int(x[i] * sl2 / slx));
            if (new_l == L[i]) continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (uint8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                n_changed++;
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Importance weights of a group: qw[j] * sqrt(sigma2 + x[j]^2). */
static void imp_weights(int n, const float *x, const float *qw, float sigma2, float *w) {
    for (int j = 0; j < n; j++) w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

static float sum_sq(int64_t n, const float *x) {
    float s = 0;
    for (int64_t j = 0; j < n; j++) s += x[j] * x[j];
    return s;
}

/* ---------------------------------------------------------------- legacy 32-element blocks
 * Byte j of qs holds element j in its low nibble and element j + 16 in its high nibble; Q5: bit
 * j of the little-endian u32 qh is the fifth bit of element j. The references truncate
 * x/d + offset + 0.5 (not roundf). */

static void q4_pack(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
}

static void q5_pack(const uint8_t *q, uint8_t *qs, uint8_t *qhb) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | (q[j + 16] & 0x0f) << 4);
        qh |= (uint32_t)(q[j] >> 4 & 1) << j | (uint32_t)(q[j + 16] >> 4 & 1) << (j + 16);
    }
    for (int b = 0; b < 4; b++) qhb[b] = (uint8_t)(qh >> 8 * b);
}

/* Symmetric 32-block: d = max / -(nmax), the signed element of largest magnitude on level 0. */
static float legacy_sym(const float *x, int nmax, uint8_t *q) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    const float d = max / -nmax, id = d ? 1.0f / d : 0.0f, off = nmax + 0.5f;
    for (int j = 0; j < 32; j++) q[j] = (uint8_t)MIN(2 * nmax - 1, (int8_t)(x[j] * id + off));
    return d;
}

/* Asymmetric 32-block: d = (max - min) / levels, m = min. */
static float legacy_asym(const float *x, int levels, uint8_t *q, float *min_out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / levels, id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) {
        const float v = (x[j] - min) * id;
        q[j] = levels == 15 ? (uint8_t)MIN(15, (int8_t)(v + 0.5f)) : (uint8_t)(v + 0.5f);
    }
    *min_out = min;
    return d;
}

void quant_q4_0_ref(const float *x, void *vy, int64_t k) {
    block_q4_0 *y = vy;
    uint8_t q[32];
    for (int64_t i = 0; i < k / QK4_0; i++, x += QK4_0) {
        y[i].d = f32_to_fp16(legacy_sym(x, 8, q));
        q4_pack(q, y[i].qs);
    }
}

void quant_q4_1_ref(const float *x, void *vy, int64_t k) {
    block_q4_1 *y = vy;
    uint8_t q[32];
    float min;
    for (int64_t i = 0; i < k / QK4_1; i++, x += QK4_1) {
        y[i].d = f32_to_fp16(legacy_asym(x, 15, q, &min));
        y[i].m = f32_to_fp16(min);
        q4_pack(q, y[i].qs);
    }
}

void quant_q5_0_ref(const float *x, void *vy, int64_t k) {
    block_q5_0 *y = vy;
    uint8_t q[32];
    for (int64_t i = 0; i < k / QK5_0; i++, x += QK5_0) {
        y[i].d = f32_to_fp16(legacy_sym(x, 16, q));
        q5_pack(q, y[i].qs, y[i].qh);
    }
}

void quant_q5_1_ref(const float *x, void *vy, int64_t k) {
    block_q5_1 *y = vy;
    uint8_t q[32];
    float min;
    for (int64_t i = 0; i < k / QK5_1; i++, x += QK5_1) {
        y[i].d = f32_to_fp16(legacy_asym(x, 31, q, &min));
        y[i].m = f32_to_fp16(min);
        q5_pack(q, y[i].qs, y[i].qh);
    }
}

/* With importance weights (a whole row, n a multiple of 32): sigma2 over the row, then per
 * block the weighted symmetric search (Q4_0/Q5_0) or the weighted (scale, min) search (Q4_1/Q5_1). */
static void legacy_imatrix_row(uint32_t t, const float *x, void *vy, int64_t n, const float *qw) {
    const float sigma2 = sum_sq(n, x) / n;
    float weight[32], min;
    int8_t L[32];
    uint8_t Lu[32];
    for (int64_t ib = 0; ib < n / 32; ib++) {
        const float *xb = x + 32 * ib;
        imp_weights(32, xb, qw + 32 * ib, sigma2, weight);
        switch (t) {
        case QT_Q4_0: {
            block_q4_0 *y = (block_q4_0 *)vy + ib;
            y->d = f32_to_fp16(make_qx_quants(32, 8, xb, L, weight));
            memcpy(Lu, L, 32);
            q4_pack(Lu, y->qs);
            break;
        }
        case QT_Q5_0: {
            block_q5_0 *y = (block_q5_0 *)vy + ib;
            y->d = f32_to_fp16(make_qx_quants(32, 16, xb, L, weight));
            memcpy(Lu, L, 32);
            q5_pack(Lu, y->qs, y->qh);
            break;
        }
        case QT_Q4_1: {
            block_q4_1 *y = (block_q4_1 *)vy + ib;
            const float d = make_qkx_quants(32, 15, xb, weight, Lu, &min, -0.9f, 0.05f, 36, 0);
            y->d = f32_to_fp16(d);
            y->m = f32_to_fp16(-min);
            q4_pack(Lu, y->qs);
            break;
        }
        default: { /* QT_Q5_1 */
            block_q5_1 *y = (block_q5_1 *)vy + ib;
            const float d = make_qkx_quants(32, 31, xb, weight, Lu, &min, -0.9f, 0.05f, 36, 0);
            y->d = f32_to_fp16(d);
            y->m = f32_to_fp16(-min);
            q5_pack(Lu, y->qs, y->qh);
            break;
        }
        }
    }
}

/* Q8_0 / Q8_1: d = amax/127, q = roundf(x * (1/d)) (half away from zero). */
static float q8_block(const float *x, int8_t *qs, int n) {
    float amax = 0;
    for (int j = 0; j < n; j++) amax = MAX(amax, fabsf(x[j]));
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < n; j++) qs[j] = (int8_t)roundf(x[j] * id);
    return d;
}

void quant_q8_0_ref(const float *x, void *vy, int64_t k) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / QK8_0; i++, x += QK8_0) y[i].d = f32_to_fp16(q8_block(x, y[i].qs, QK8_0));
}

void quant_q8_1_ref(const float *x, void *vy, int64_t k) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < k / QK8_1; i++, x += QK8_1) {
        const float d = q8_block(x, y[i].qs, QK8_1);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) sum += y[i].qs[j];
        y[i].d = f32_to_fp16(d);
        y[i].s = f32_to_fp16(sum * d);
    }
}

/* ---------------------------------------------------------------- K-quants */

/* Packs 256 two-bit values (0..3) in the Q2_K/Q3_K qs order: per 128, byte l holds elements
 * l, l+32, l+64, l+96. */
static void k_pack2(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

/* Q2_K tail: the quants redone against the stored 4-bit scales and mins, then packed. */
static void q2_K_finish(const float *x, block_q2_K *y, uint8_t *L) {
    const float dd = FP16(y->d), dmm = FP16(y->dmin);
    for (int j = 0; j < 16; j++) {
        const float d = dd * (y->scales[j] & 0x0f);
        if (!d) continue;
        const float dm = dmm * (y->scales[j] >> 4);
        for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)MAX(0, MIN(3, nearest_int((x[16 * j + l] + dm) / d)));
    }
    k_pack2(L, y->qs);
}

void quant_q2_K_ref(const float *x, void *vy, int64_t k) {
    block_q2_K *y = vy;
    uint8_t L[QK_K];
    float weights[16], mins[16], scales[16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
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
        q2_K_finish(x, &y[i], L);
    }
}

static void q2_K_imatrix(const float *x, void *vy, int64_t n, const float *qw) {
    block_q2_K *y = vy;
    uint8_t L[QK_K], Ls[16], Lm[16];
    float mins[16], scales[16], sw[16], weight[16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        const float sigma2 = sum_sq(QK_K, x) / QK_K;
        for (int j = 0; j < 16; j++) {
            imp_weights(16, x + 16 * j, qw + QK_K * i + 16 * j, sigma2, weight);
            sw[j] = 0;
            for (int l = 0; l < 16; l++) sw[j] += weight[l];
            scales[j] = make_qkx_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], -0.9f, 0.05f, 36, 0);
        }
        const float dm = make_qp_quants(16, 15, scales, Ls, sw), mm = make_qp_quants(16, 15, mins, Lm, sw);
        y[i].d = f32_to_fp16(dm);
        y[i].dmin = f32_to_fp16(mm);
        for (int j = 0; j < 16; j++) y[i].scales[j] = (uint8_t)(Ls[j] | Lm[j] << 4);
        q2_K_finish(x, &y[i], L);
    }
}

/* Q3_K: the 16 six-bit scales (stored + 32): low nibbles in bytes 0-7, top 2 bits of scale j
 * in bits 2*(j/4) of byte 8 + j%4. */
static void q3_K_put_scales(uint8_t *sc12, const int *l6) {
    memset(sc12, 0, 12);
    for (int j = 0; j < 16; j++) {
        const int l = l6[j];
        if (j < 8) sc12[j] = (uint8_t)(l & 0x0f);
        else sc12[j - 8] |= (uint8_t)((l & 0x0f) << 4);
        sc12[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
    }
}

/* Q3_K tail: quants against the stored scales (as decoded), then hmask and the low 2 bits. */
static void q3_K_finish(const float *x, block_q3_K *y, int8_t *L) {
    int sc[16];
    qtype_q3_K_scales(y->scales, sc);
    const float dd = FP16(y->d);
    for (int j = 0; j < 16; j++) {
        const float d = dd * sc[j];
        if (!d) continue;
        for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(MAX(-4, MIN(3, nearest_int(x[16 * j + l] / d))) + 4);
    }
    memset(y->hmask, 0, sizeof(y->hmask));
    uint8_t L2[QK_K];
    for (int e = 0; e < QK_K; e++) {
        if (L[e] > 3) y->hmask[e % 32] |= (uint8_t)(1 << (e / 32));
        L2[e] = (uint8_t)(L[e] & 3);
    }
    k_pack2(L2, y->qs);
}

void quant_q3_K_ref(const float *x, void *vy, int64_t k) {
    block_q3_K *y = vy;
    int8_t L[QK_K];
    float scales[16];
    int l6[16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) { amax = fabsf(scales[j]); max_scale = scales[j]; }
        }
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) l6[j] = MAX(-32, MIN(31, nearest_int(iscale * scales[j]))) + 32;
            q3_K_put_scales(y[i].scales, l6);
            y[i].d = f32_to_fp16(1 / iscale);
        } else {
            memset(y[i].scales, 0, 12);
            y[i].d = f32_to_fp16(0.f);
        }
        q3_K_finish(x, &y[i], L);
    }
}

static void q3_K_imatrix(const float *x, void *vy, int64_t n, const float *qw) {
    block_q3_K *y = vy;
    int8_t L[QK_K], Ls[16];
    float scales[16], weight[16], sw[16];
    int l6[16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        const float sigma2 = 2 * sum_sq(QK_K, x) / QK_K;
        for (int j = 0; j < 16; j++) {
            imp_weights(16, x + 16 * j, qw + QK_K * i + 16 * j, sigma2, weight);
            float sumw = 0;
            for (int l = 0; l < 16; l++) sumw += weight[l];
            sw[j] = sumw;
            scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
        }
        const float d_block = make_qx_quants(16, 32, scales, Ls, sw);
        for (int j = 0; j < 16; j++) l6[j] = Ls[j];
        q3_K_put_scales(y[i].scales, l6);
        y[i].d = f32_to_fp16(d_block);
        q3_K_finish(x, &y[i], L);
    }
}

/* Q4_K/Q5_K: 8 six-bit scales and mins in 12 bytes (see qtype_k4_scale_min). */
static void k4_put_scales(uint8_t *sc12, const uint8_t *ls, const uint8_t *lm) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            sc12[j] = ls[j];
            sc12[j + 4] = lm[j];
        } else {
            sc12[j + 4] = (uint8_t)((ls[j] & 0x0f) | (lm[j] & 0x0f) << 4);
            sc12[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            sc12[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Q4_K/Q5_K tail: the quants (0..nmax) redone against the stored scales and mins. */
static void k45_requant(const float *x, int nmax, fp16_t dd, fp16_t dm, const uint8_t *sc12, uint8_t *L) {
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        qtype_k4_scale_min(j, sc12, &sc, &m);
        const float d = FP16(dd) * sc;
        if (!d) continue;
        const float dmin = FP16(dm) * m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)MAX(0, MIN(nmax, nearest_int((x[32 * j + l] + dmin) / d)));
    }
}

/* One Q4_K/Q5_K super-block's scales: the reference (per-group weights av_x + |x|, 6-bit
 * scales relative to the maxima) or, with qw, the weighted search and make_qp_quants. */
static void k45_scales(const float *x, const float *qw, int nmax, float rmin, int nstep, fp16_t *dd, fp16_t *dm,
                       uint8_t *sc12, uint8_t *L) {
    float mins[8], scales[8], weights[32], sw[8];
    uint8_t ls[8], lm[8];
    if (!qw) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; j++) {
            const float av_x = sqrtf(sum_sq(32, x + 32 * j) / 32);
            for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = make_qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < 8; j++) {
            ls[j] = (uint8_t)MIN(63, (uint8_t)nearest_int(inv_scale * scales[j]));
            lm[j] = (uint8_t)MIN(63, (uint8_t)nearest_int(inv_min * mins[j]));
        }
        k4_put_scales(sc12, ls, lm);
        *dd = f32_to_fp16(max_scale / 63.f);
        *dm = f32_to_fp16(max_min / 63.f);
        return;
    }
    const float sigma2 = 2 * sum_sq(QK_K, x) / QK_K;
    for (int j = 0; j < 8; j++) {
        imp_weights(32, x + 32 * j, qw + 32 * j, sigma2, weights);
        float sumw = 0;
        for (int l = 0; l < 32; l++) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = make_qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], -0.9f, 0.05f, 36, 0);
    }
    const float d_block = make_qp_quants(8, 63, scales, ls, sw), m_block = make_qp_quants(8, 63, mins, lm, sw);
    k4_put_scales(sc12, ls, lm);
    *dd = f32_to_fp16(d_block);
    *dm = f32_to_fp16(m_block);
}

static void q4_K_row(const float *x, void *vy, int64_t n, const float *qw) {
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        k45_scales(x, qw ? qw + QK_K * i : NULL, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        k45_requant(x, 15, y[i].d, y[i].dmin, y[i].scales, L);
        for (int e = 0; e < QK_K; e += 64)
            for (int l = 0; l < 32; l++) y[i].qs[e / 2 + l] = (uint8_t)(L[e + l] | L[e + l + 32] << 4);
    }
}

static void q5_K_row(const float *x, void *vy, int64_t n, const float *qw) {
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        k45_scales(x, qw ? qw + QK_K * i : NULL, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        k45_requant(x, 31, y[i].d, y[i].dmin, y[i].scales, L);
        memset(y[i].qh, 0, sizeof(y[i].qh));
        for (int e = 0; e < QK_K; e++) if (L[e] > 15) y[i].qh[e % 32] |= (uint8_t)(1 << (e / 32));
        for (int e = 0; e < QK_K; e += 64)
            for (int l = 0; l < 32; l++) y[i].qs[e / 2 + l] = (uint8_t)((L[e + l] & 0x0f) | (L[e + l + 32] & 0x0f) << 4);
    }
}

void quant_q4_K_ref(const float *x, void *vy, int64_t k) { q4_K_row(x, vy, k, NULL); }
void quant_q5_K_ref(const float *x, void *vy, int64_t k) { q5_K_row(x, vy, k, NULL); }

/* Q6_K: 16 groups by make_qx_quants (weights x^2, or qw), 8-bit group scales relative to the
 * largest, quants redone against them. The importance path differs only in the weights. */
static void q6_K_row(const float *x, void *vy, int64_t n, const float *qw) {
    block_q6_K *y = vy;
    int8_t L[QK_K];
    float scales[16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qw ? qw + QK_K * i + 16 * ib : NULL);
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

void quant_q6_K_ref(const float *x, void *vy, int64_t k) { q6_K_row(x, vy, k, NULL); }

/* Q8_K activations: d = max / -127 with max the signed element of largest magnitude, quants
 * rounded half to even, bsums = sums of 16 quants (used for the K-quant mins). */
void quant_q8_K_ref(const float *x, void *vy, int64_t k) {
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

/* ---------------------------------------------------------------- IQ4_NL / IQ4_XS */

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

/* ggml's quantize_row_iq4_nl_impl with ntry 7 (what llama-quantize uses for both types): per
 * 32-group a weighted least-squares scale on the grid (weights x^2, or qw*sqrt(sigma2 + x^2)),
 * refined over 15 trial inverse scales; IQ4_XS (sb = 256) then stores 6-bit group scales
 * relative to d and re-picks the levels. */
static void iq4_superblock(int sb, const float *x, const float *qw, fp16_t *dh, uint8_t *q4, uint16_t *scales_h,
                           uint8_t *scales_l) {
    const int ntry = 7, nb = sb / 32;
    float scales[QK_K / 32] = {0}, weight[32];
    uint8_t L[QK_K];
    float sigma2 = 0;
    for (int j = 0; j < sb; j++) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / sb;
    memset(q4, 0, (size_t)sb / 2);
    *dh = f32_to_fp16(0.f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < nb; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        if (qw) imp_weights(32, xb, qw + 32 * ib, sigma2, weight);
        else for (int j = 0; j < 32; j++) weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) if (fabsf(xb[j]) > amax) { amax = fabsf(xb[j]); max = xb[j]; }
        if (amax < GROUP_MAX_EPS) { scales[ib] = 0; continue; }
        float d = -max / kvalues_iq4nl[0], id = 1 / d, sumqx = 0, sumq2 = 0;
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
        const float id = scales[0] ? 1 / scales[0] : 0;
        for (int j = 0; j < sb; j++) L[j] = (uint8_t)best_index_iq4nl(id * x[j]);
    }
    for (int i = 0; i < sb / 32; i++)
        for (int j = 0; j < 16; j++) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | L[32 * i + 16 + j] << 4);
}

static void iq4_nl_row(const float *x, void *vy, int64_t n, const float *qw) {
    block_iq4_nl *y = vy;
    uint16_t unused_h;
    for (int64_t i = 0; i < n / QK4_NL; i++)
        iq4_superblock(QK4_NL, x + QK4_NL * i, qw ? qw + QK4_NL * i : NULL, &y[i].d, y[i].qs, &unused_h, NULL);
}

static void iq4_xs_row(const float *x, void *vy, int64_t n, const float *qw) {
    block_iq4_xs *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++)
        iq4_superblock(QK_K, x + QK_K * i, qw ? qw + QK_K * i : NULL, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l);
}

void quant_iq4_nl_ref(const float *x, void *vy, int64_t k) { iq4_nl_row(x, vy, k, NULL); }
void quant_iq4_xs_ref(const float *x, void *vy, int64_t k) { iq4_xs_row(x, vy, k, NULL); }

/* ---------------------------------------------------------------- dispatch */

int quant_can_produce(uint32_t t) {
    switch (t) {
    case QT_F32: case QT_F16: case QT_BF16: case QT_Q4_0: case QT_Q4_1: case QT_Q5_0: case QT_Q5_1:
    case QT_Q8_0: case QT_Q2_K: case QT_Q3_K: case QT_Q4_K: case QT_Q5_K: case QT_Q6_K: case QT_IQ4_NL:
    case QT_IQ4_XS:
        return 1;
    default:
        return 0;
    }
}

size_t quantize_rows(uint32_t t, const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *qw) {
    if (!quant_can_produce(t)) return 0;
    const size_t row_size = qtype_row_size(t, n_per_row);
    if (!row_size) return 0;
    const struct qtype_traits *tt = qtype_get(t);
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * n_per_row;
        void *y = (uint8_t *)dst + (size_t)r * row_size;
        switch (t) {
        case QT_Q4_0: case QT_Q4_1: case QT_Q5_0: case QT_Q5_1:
            if (qw) legacy_imatrix_row(t, x, y, n_per_row, qw);
            else tt->from_float(x, y, n_per_row);
            break;
        case QT_Q2_K:
            if (qw) q2_K_imatrix(x, y, n_per_row, qw);
            else quant_q2_K_ref(x, y, n_per_row);
            break;
        case QT_Q3_K:
            if (qw) q3_K_imatrix(x, y, n_per_row, qw);
            else quant_q3_K_ref(x, y, n_per_row);
            break;
        case QT_Q4_K: q4_K_row(x, y, n_per_row, qw); break;
        case QT_Q5_K: q5_K_row(x, y, n_per_row, qw); break;
        case QT_Q6_K: q6_K_row(x, y, n_per_row, qw); break;
        case QT_IQ4_NL: iq4_nl_row(x, y, n_per_row, qw); break;
        case QT_IQ4_XS: iq4_xs_row(x, y, n_per_row, qw); break;
        default: tt->from_float(x, y, n_per_row); break; /* F32, F16, BF16, Q8_0 */
        }
    }
    return (size_t)nrows * row_size;
}
