/* Attention kernels (attn.h): the scalar references, and the dispatch that follows the active
 * kern_isa table (so EDGELLM_ISA and kern_force switch these too). The references are written
 * to be checked by eye; the SIMD versions in arch/x86_attn.inc are tested against them.
 */
#include "kernels/attn.h"
#include "kernels/kernels.h"
#include "quant/qtypes.h"

#include <math.h>
#include <string.h>

/* Element i of row j (nb bytes apart) of f32 or f16 values. */
static float attn_el(const void *base, size_t nb, int j, int i, int f16) {
    const char *row = (const char *)base + (size_t)j * nb;
    return f16 ? fp16_to_f32(((const fp16_t *)(const void *)row)[i]) : ((const float *)(const void *)row)[i];
}

static void attn_qk(float *s, size_t lds, const float *q, size_t ldq, int nq, const void *k, size_t nbk, int nk, int hd,
                    float scale, int f16) {
    for (int r = 0; r < nq; r++)
        for (int j = 0; j < nk; j++) {
            double d = 0;
            for (int i = 0; i < hd; i++) d += (double)(q[(size_t)r * ldq + i] * attn_el(k, nbk, j, i, f16));
            s[(size_t)r * lds + j] = (float)d * scale;
        }
}

static void attn_qk_f32_ref(float *s, size_t lds, const float *q, size_t ldq, int nq, const void *k, size_t nbk, int nk,
                            int hd, float scale) {
    attn_qk(s, lds, q, ldq, nq, k, nbk, nk, hd, scale, 0);
}

static void attn_qk_f16_ref(float *s, size_t lds, const float *q, size_t ldq, int nq, const void *k, size_t nbk, int nk,
                            int hd, float scale) {
    attn_qk(s, lds, q, ldq, nq, k, nbk, nk, hd, scale, 1);
}

static void attn_softmax_ref(float *s, size_t lds, int nq, int nk, const int32_t *lo, const int32_t *hi, float *mx,
                             float *sum, float *corr) {
    for (int r = 0; r < nq; r++) {
        float *sr = s + (size_t)r * lds;
        const int a = lo[r] > 0 ? lo[r] : 0, b = hi[r] < nk ? hi[r] : nk;
        if (a >= b) {
            corr[r] = 1.0f;
            for (int j = 0; j < nk; j++) sr[j] = 0.0f;
            continue;
        }
        float m = mx[r];
        for (int j = a; j < b; j++)
            if (sr[j] > m) m = sr[j];
        float ls = 0.0f;
        for (int j = 0; j < nk; j++) {
            sr[j] = j >= a && j < b ? expf(sr[j] - m) : 0.0f;
            ls += sr[j];
        }
        corr[r] = expf(mx[r] - m); /* exp(-inf) = 0 on a row's first keys */
        sum[r] = sum[r] * corr[r] + ls;
        mx[r] = m;
    }
}

static void attn_pv(float *o, size_t ldo, const float *corr, const float *p, size_t ldp, int nq, const void *v, size_t nbv,
                    int nk, int hd, int f16) {
    for (int r = 0; r < nq; r++) {
        float *or = o + (size_t)r * ldo;
        for (int i = 0; i < hd; i++) {
            float a = or[i] * corr[r];
            for (int j = 0; j < nk; j++) a += p[(size_t)r * ldp + j] * attn_el(v, nbv, j, i, f16);
            or[i] = a;
        }
    }
}

static void attn_pv_f32_ref(float *o, size_t ldo, const float *corr, const float *p, size_t ldp, int nq, const void *v,
                            size_t nbv, int nk, int hd) {
    attn_pv(o, ldo, corr, p, ldp, nq, v, nbv, nk, hd, 0);
}

static void attn_pv_f16_ref(float *o, size_t ldo, const float *corr, const float *p, size_t ldp, int nq, const void *v,
                            size_t nbv, int nk, int hd) {
    attn_pv(o, ldo, corr, p, ldp, nq, v, nbv, nk, hd, 1);
}

static const struct kern_attn_isa kern_attn_scalar = {"scalar", attn_qk_f32_ref, attn_qk_f16_ref, attn_softmax_ref,
                                                      attn_pv_f32_ref, attn_pv_f16_ref};

const struct kern_attn_isa *kern_attn_ref(void) { return &kern_attn_scalar; }

const struct kern_attn_isa *kern_attn_active(void) {
    const char *isa = kern_isa_name();
#if defined(EDGELLM_X86)
    if (!strcmp(isa, kern_attn_avx512.name)) return &kern_attn_avx512;
    if (!strcmp(isa, kern_attn_avx2.name)) return &kern_attn_avx2;
#endif
    (void)isa;
    return &kern_attn_scalar;
}

void kern_attn_load_rows(uint32_t qtype, const void *src, size_t nb_src, int n, int hd, float *dst, size_t ldd) {
    if (qtype == QT_F32) {
        for (int j = 0; j < n; j++) memcpy(dst + (size_t)j * ldd, (const char *)src + (size_t)j * nb_src, sizeof(float) * (size_t)hd);
        return;
    }
    const struct kern_isa *isa = kern_active();
    qtype_to_float_fn f = isa->to_float[qtype] ? isa->to_float[qtype] : qtype_get(qtype)->to_float;
    for (int j = 0; j < n; j++) f((const char *)src + (size_t)j * nb_src, dst + (size_t)j * ldd, hd);
}
