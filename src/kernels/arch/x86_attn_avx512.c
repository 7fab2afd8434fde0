/* AVX-512 attention kernels: x86_attn.inc over 512-bit vectors. Only used when the active
 * kern_isa table is avx512 (the CPU checks are kernels.c's); tested against attn.c's references. */
#include "kernels/attn.h"

#include <immintrin.h>

#define AI static inline __attribute__((always_inline))
typedef __m512 V;
#define VW 16
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_LOADH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_MAX(a, b) _mm512_max_ps((a), (b))

AI __m256 xa_fold(__m512 v) { return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)); }
/* The sums of 4 vectors: fold each to 256 bits, two rounds of hadd, then the 128-bit halves. */
AI void xa_hsum4(__m512 a, __m512 b, __m512 c, __m512 d, float *t) {
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(xa_fold(a), xa_fold(b)), _mm256_hadd_ps(xa_fold(c), xa_fold(d)));
    _mm_storeu_ps(t, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}
#define V_FNMA(a, b, c) _mm512_fnmadd_ps((a), (b), (c))
#define V_MIN(a, b) _mm512_min_ps((a), (b))
#define V_ROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_POW2I(n) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))
#define V_HSUM(v) _mm512_reduce_add_ps(v)
#define V_HMAX(v) _mm512_reduce_max_ps(v)
#define V_HSUM4(a, b, c, d, t) xa_hsum4((a), (b), (c), (d), (t))
#define XA_NR 6
#define ATTN_TABLE_NAME kern_attn_avx512
#define ATTN_ISA_NAME "avx512"

#include "x86_attn.inc"
