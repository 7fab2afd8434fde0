/* AVX2 + FMA attention kernels: x86_attn.inc over 256-bit vectors. Only used when the active
 * kern_isa table is avx2 (the CPU checks are kernels.c's); tested against attn.c's references. */
#include "kernels/attn.h"

#include <immintrin.h>

#define AI static inline __attribute__((always_inline))
typedef __m256 V;
#define VW 8
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_LOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_SUB(a, b) _mm256_sub_ps((a), (b))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_MAX(a, b) _mm256_max_ps((a), (b))

AI float xa_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
AI float xa_hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
/* The sums of 4 vectors: two rounds of hadd, then the two 128-bit halves. */
AI void xa_hsum4(__m256 a, __m256 b, __m256 c, __m256 d, float *t) {
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(t, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}
#define V_FNMA(a, b, c) _mm256_fnmadd_ps((a), (b), (c))
#define V_MIN(a, b) _mm256_min_ps((a), (b))
#define V_ROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_POW2I(n) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))
#define V_HSUM(v) xa_hsum8(v)
#define V_HMAX(v) xa_hmax8(v)
#define V_HSUM4(a, b, c, d, t) xa_hsum4((a), (b), (c), (d), (t))
#define XA_NR 2
#define ATTN_TABLE_NAME kern_attn_avx2
#define ATTN_ISA_NAME "avx2"

#include "x86_attn.inc"
