/* Attention kernels: one tile of nq query rows (the query heads of a group of tokens that share
 * a kv head) against one chunk of nk cached positions, as small matrix products on f32 rows:
 *   S = scale * Q Kᵀ                       (kern_attn_qk)
 *   online softmax of S, row r limited to the keys [lo[r], hi[r]) of the chunk — causal masks and
 *   sliding windows are both such ranges (kern_attn_softmax)
 *   O = corr * O + P V                     (kern_attn_pv)
 * Each has a scalar reference (attn.c) and AVX2 / AVX-512 versions (arch/x86_attn.inc), picked
 * to match the active kern_isa table. An f16 cache is read in place; other cache types are
 * converted to f32 rows once per chunk (kern_attn_load_rows), so one converted chunk serves every
 * query row.
 */
#ifndef EDGELLM_KERNELS_ATTN_H
#define EDGELLM_KERNELS_ATTN_H

#include <stddef.h>
#include <stdint.h>

/* s[r * lds + j] = scale * dot(q row r, k row j) for r < nq, j < nk, hd elements each; q rows are
 * ldq floats apart, k rows nbk bytes apart (f32 or f16 values: qk_f32 / qk_f16, so an f16 cache
 * is read in place, converted in registers). */
typedef void kern_attn_qk_fn(float *s, size_t lds, const float *q, size_t ldq, int nq, const void *k, size_t nbk,
                             int nk, int hd, float scale);
/* Online softmax over one chunk, per row r < nq with keys [lo[r], hi[r]) valid (empty if lo >= hi):
 *   m' = max(mx[r], max of the valid s), corr[r] = exp(mx[r] - m'), s[j] = exp(s[j] - m') for
 *   valid j and 0 for the others, sum[r] = sum[r] * corr[r] + sum of those, mx[r] = m'.
 * A row with no valid key gets corr 1 and all zeros. mx starts at -INFINITY, sum at 0. */
typedef void kern_attn_softmax_fn(float *s, size_t lds, int nq, int nk, const int32_t *lo, const int32_t *hi, float *mx,
                                  float *sum, float *corr);
/* o[r * ldo + i] = o[r * ldo + i] * corr[r] + sum_j p[r * ldp + j] * v_j[i], r < nq, i < hd, the
 * rows v_j nbv bytes apart (f32 or f16 values: pv_f32 / pv_f16). */
typedef void kern_attn_pv_fn(float *o, size_t ldo, const float *corr, const float *p, size_t ldp, int nq, const void *v,
                             size_t nbv, int nk, int hd);

struct kern_attn_isa {
    const char *name;         /* the kern_isa table it goes with */
    kern_attn_qk_fn *qk_f32, *qk_f16;
    kern_attn_softmax_fn *softmax;
    kern_attn_pv_fn *pv_f32, *pv_f16;
};

extern const struct kern_attn_isa kern_attn_avx2, kern_attn_avx512;

/* The table matching the active kern_isa (the scalar reference when none does). */
const struct kern_attn_isa *kern_attn_active(void);
/* The scalar reference (tests). */
const struct kern_attn_isa *kern_attn_ref(void);

/* Converts n cache rows (src rows nb_src bytes apart, type qtype) of hd values each into dst
 * rows of hd floats, ldd apart, with the active ISA's converter. */
void kern_attn_load_rows(uint32_t qtype, const void *src, size_t nb_src, int n, int hd, float *dst, size_t ldd);

#endif
