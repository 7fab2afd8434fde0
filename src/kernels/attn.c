/* Attention kernels (attn.h): the scalar references, and the dispatch that follows the active
 * kern_isa table (so EDGELLM_ISA and kern_force switch these too). The references are written
 * to be checked by eye; the SIMD versions in arch/x86_attn.inc are tested against them.
 */
#include "kernels/attn.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

static void attn_qk_ref(float *s, size_t lds, const float *q, size_t ldq, int nq, const float *k, size_t ldk, int nk,
                        int hd, float scale) {
    for (int r = 0; r < nq; r++)
        for (int j = 0; j < nk; j++) {
            double d = 0;
            for (int i = 0; i < hd; i++) d += (double)(q[(size_t)r * ldq + i] * k[(size_t)j * ldk + i]);
            s[(size_t)r * lds + j] = (float)d * scale;
        }
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

static void attn_pv_ref(float *o, size_t ldo, const float *corr, const float *p, size_t ldp, int nq, const float *v,
                        size_t ldv, int nk, int hd) {
    for (int r = 0; r < nq; r++) {
        float *or = o + (size_t)r * ldo;
        for (int i = 0; i < hd; i++) {
            float a = or[i] * corr[r];
            for (int j = 0; j < nk; j++) a += p[(size_t)r * ldp + j] * v[(size_t)j * ldv + i];
            or[i] = a;
        }
    }
}

static const struct kern_attn_isa kern_attn_scalar = {"scalar", attn_qk_ref, attn_softmax_ref, attn_pv_ref};

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
