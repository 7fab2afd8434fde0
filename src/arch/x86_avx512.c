/* x86 AVX-512 (F/BW/VL/DQ + VNNI) kernels for the kern_isa table (kernels.h). The bodies are
 * shared with the AVX2 file (x86_kern.inc); here the int8 dot is one vpdpbusd. Only used
 * after kernels.c has checked the CPU; checked against the scalar reference by
 * tests/test_kernels.c.
 */
#include "kernels.h"

#include <immintrin.h>

static inline __attribute__((always_inline)) __m256i kx_dot_u8s8(__m256i a, __m256i b) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
}

#include "x86_kern.inc"

const struct kern_isa kern_isa_avx512 = { .name = "avx512", KX_TABLE_ENTRIES };
