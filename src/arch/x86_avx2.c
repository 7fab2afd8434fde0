/* x86 AVX2 (+FMA, F16C) kernels for the kern_isa table (kernels.h): activation quantizers,
 * vec_dots and matmul tiles for every weight type, float helpers. The bodies are shared with
 * the AVX-512 file in x86_kern.inc; this file supplies the int8 dot primitive. Only used after
 * kernels.c has checked the CPU; checked against the scalar reference by tests/test_kernels.c.
 */
#include "kernels.h"

#include <immintrin.h>

/* u8 x s8, 4 products summed per i32 lane (a's bytes must be < 128 so i16 pairs cannot saturate). */
static inline __attribute__((always_inline)) __m256i kx_dot_u8s8(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

#include "x86_kern.inc"

const struct kern_isa kern_isa_avx2 = { .name = "avx2", KX_TABLE_ENTRIES };
