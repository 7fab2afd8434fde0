/* x86 AVX2 (+FMA, F16C) kernels for the kern_isa table (kernels.h): activation quantizers,
 * vec_dots and matmul tiles for every weight type, float helpers. The bodies are shared with
 * the AVX-512 file in x86_kern.inc; this file supplies the int8 dot primitive. Only used after
 * kernels.c has checked the CPU; checked against the scalar reference by tests/test_kernels.c.
 */
#include "kernels/kernels.h"

#include <immintrin.h>

/* u8 x s8, 4 products summed per i32 lane (a's bytes must be < 128 so i16 pairs cannot saturate). */
static inline __attribute__((always_inline)) __m256i kx_dot_u8s8(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

static kern_tile_sig k2_q4_0_tile, k2_q8_0_tile, k2_q4_K_tile, k2_q6_K_tile;
#define KX_TILE_Q4_0 k2_q4_0_tile
#define KX_TILE_Q8_0 k2_q8_0_tile
#define KX_TILE_Q4_K k2_q4_K_tile
#define KX_TILE_Q6_K k2_q6_K_tile

#include "x86_kern.inc"

/* Q4_0 / Q8_0 tiles, 4 rows at a time (the one-row kernels above are bound by their single
 * accumulator chain and per-block scalar work): a ymm holds the same 16 bytes of a block from
 * 2 rows (one 128-bit lane each), so the activation half-block is broadcast once for 4 rows and
 * the rows' scales are applied in one multiply per pair. The next group of rows is prefetched
 * a block at a time (4 interleaved streams otherwise outrun the hardware prefetcher). */
#define K2_MAXB 1024 /* blocks per row the stack buffers hold (k <= 32768); longer rows: one-row kernels */

AI __m256i k2_load2(const uint8_t *p, size_t nbw) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                   _mm_loadu_si128((const __m128i *)(p + nbw)), 1);
}

/* The fp16 scales at p of 2 rows -> [d0 x 4 | d1 x 4]. */
AI __m256 k2_scales2(const uint8_t *p, size_t nbw) {
    fp16_t a, b;
    memcpy(&a, p, 2);
    memcpy(&b, p + nbw, 2);
    return _mm256_set_m128(_mm_set1_ps(kx_h2f(b)), _mm_set1_ps(kx_h2f(a)));
}

/* Row sums of two accumulators of 2 rows each (lanes: rows 0|1 and 2|3) -> rows 0..3. */
AI __m128 k2_rowsums(__m256 a, __m256 b) {
    const __m256 h = _mm256_hadd_ps(a, b);
    const __m256 h2 = _mm256_hadd_ps(h, h); /* lane 0: r0 r2 r0 r2, lane 1: r1 r3 r1 r3 */
    return _mm_unpacklo_ps(_mm256_castps256_ps128(h2), _mm256_extractf128_ps(h2, 1));
}

/* Per token and block: the activation scale, and (Q4_0) -2 * sum of its quants, the offset
 * that turns q . y into (q - 8) . y, a quarter in each of a row's 4 dword lanes. */
static void k2_block_sums(int nb, const void *vx, size_t nbx, int nc, int32_t *off, float *dy) {
    const __m256i one8 = _mm256_set1_epi8(1);
    for (int c = 0; c < nc; c++) {
        const block_q8_0 *y = X_ROW(block_q8_0, vx, nbx, c);
        for (int i = 0; i < nb; i++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)y[i].qs);
            off[c * nb + i] = -2 * kx_hsum_i(_mm256_madd_epi16(_mm256_maddubs_epi16(one8, q), _mm256_set1_epi16(1)));
            dy[c * nb + i] = kx_h2f(y[i].d);
        }
    }
}

AI void k2_q4_0_4rows(int nb, const uint8_t *w, size_t nbw, const void *vx, size_t nbx, const int NC, float *s,
                      size_t lds, const int32_t *off, const float *dy) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), one16 = _mm256_set1_epi16(1);
    __m256 acc[4][2];
    _Pragma("GCC unroll 4")
    for (int c = 0; c < NC; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const uint8_t *b = w + (size_t)i * sizeof(block_q4_0);
        _mm_prefetch((const char *)b + (4 + (i & 3)) * nbw, _MM_HINT_T0);
        __m256i lo[2], hi[2];
        __m256 dw[2];
        _Pragma("GCC unroll 2")
        for (int h = 0; h < 2; h++) {
            const __m256i z = k2_load2(b + 2 * h * nbw + offsetof(block_q4_0, qs), nbw);
            lo[h] = _mm256_and_si256(z, m4);
            hi[h] = _mm256_and_si256(_mm256_srli_epi16(z, 4), m4);
            dw[h] = k2_scales2(b + 2 * h * nbw, nbw);
        }
        _Pragma("GCC unroll 4")
        for (int c = 0; c < NC; c++) {
            const block_q8_0 *y = X_ROW(block_q8_0, vx, nbx, c) + i;
            const __m256i ylo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)y->qs));
            const __m256i yhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(y->qs + 16)));
            const __m256i o = _mm256_set1_epi32(off[c * nb + i]);
            const __m256 d = _mm256_set1_ps(dy[c * nb + i]);
            _Pragma("GCC unroll 2")
            for (int h = 0; h < 2; h++) {
                /* u8 (< 16) x s8 pairs: |sum| <= 2 * 15 * 128, two of them still fit in i16 */
                const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo[h], ylo), _mm256_maddubs_epi16(hi[h], yhi));
                const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(p16, one16), o);
                acc[c][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw[h], d), acc[c][h]);
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < NC; c++) _mm_storeu_ps(s + (size_t)c * lds, k2_rowsums(acc[c][0], acc[c][1]));
}

AI void k2_q8_0_4rows(int nb, const uint8_t *w, size_t nbw, const void *vx, size_t nbx, const int NC, float *s,
                      size_t lds, const int32_t *off, const float *dy) {
    (void)off;
    const __m256i one16 = _mm256_set1_epi16(1);
    __m256 acc[4][2];
    _Pragma("GCC unroll 4")
    for (int c = 0; c < NC; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const uint8_t *b = w + (size_t)i * sizeof(block_q8_0);
        _mm_prefetch((const char *)b + (4 + 2 * (i & 1)) * nbw, _MM_HINT_T0);
        _mm_prefetch((const char *)b + (5 + 2 * (i & 1)) * nbw, _MM_HINT_T0);
        __m256i lo[2], hi[2];
        __m256 dw[2];
        _Pragma("GCC unroll 2")
        for (int h = 0; h < 2; h++) {
            lo[h] = k2_load2(b + 2 * h * nbw + offsetof(block_q8_0, qs), nbw);
            hi[h] = k2_load2(b + 2 * h * nbw + offsetof(block_q8_0, qs) + 16, nbw);
            dw[h] = k2_scales2(b + 2 * h * nbw, nbw);
        }
        __m256i alo[2], ahi[2];
        _Pragma("GCC unroll 2")
        for (int h = 0; h < 2; h++) {
            alo[h] = _mm256_sign_epi8(lo[h], lo[h]);
            ahi[h] = _mm256_sign_epi8(hi[h], hi[h]);
        }
        _Pragma("GCC unroll 4")
        for (int c = 0; c < NC; c++) {
            const block_q8_0 *y = X_ROW(block_q8_0, vx, nbx, c) + i;
            const __m256i ylo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)y->qs));
            const __m256i yhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(y->qs + 16)));
            const __m256 d = _mm256_set1_ps(dy[c * nb + i]);
            _Pragma("GCC unroll 2")
            for (int h = 0; h < 2; h++) {
                /* |w| x sign(y, w): one i16 pair sum is at most 2 * 128 * 128, so each half
                 * goes to i32 on its own */
                const __m256i p = _mm256_add_epi32(
                    _mm256_madd_epi16(_mm256_maddubs_epi16(alo[h], _mm256_sign_epi8(ylo, lo[h])), one16),
                    _mm256_madd_epi16(_mm256_maddubs_epi16(ahi[h], _mm256_sign_epi8(yhi, hi[h])), one16));
                acc[c][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw[h], d), acc[c][h]);
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < NC; c++) _mm_storeu_ps(s + (size_t)c * lds, k2_rowsums(acc[c][0], acc[c][1]));
}

#define K2_TILE(T)                                                                                            \
    static void k2_##T##_tile(int k, const void *w, size_t nbw, int nr, const void *x, size_t nbx, int nc,    \
                              float *s, size_t lds) {                                                         \
        const int nb = k / 32;                                                                                \
        int r = 0;                                                                                            \
        if (nb <= K2_MAXB && nr >= 4 && nc <= KERN_TILE_C) {                                                  \
            int32_t off[KERN_TILE_C * K2_MAXB];                                                               \
            float dy[KERN_TILE_C * K2_MAXB];                                                                  \
            k2_block_sums(nb, x, nbx, nc, off, dy);                                                           \
            for (; r + 4 <= nr; r += 4)                                                                       \
                for (int c0 = 0; c0 < nc; c0 += 4) {                                                          \
                    const uint8_t *wr = (const uint8_t *)w + (size_t)r * nbw;                                 \
                    const void *xc = (const char *)x + (size_t)c0 * nbx;                                      \
                    float *sc = s + r + (size_t)c0 * lds;                                                     \
                    const int32_t *oc = off + c0 * nb;                                                        \
                    const float *dc = dy + c0 * nb;                                                           \
                    switch (nc - c0) {                                                                        \
                    case 1: k2_##T##_4rows(nb, wr, nbw, xc, nbx, 1, sc, lds, oc, dc); break;                 \
                    case 2: k2_##T##_4rows(nb, wr, nbw, xc, nbx, 2, sc, lds, oc, dc); break;                 \
                    case 3: k2_##T##_4rows(nb, wr, nbw, xc, nbx, 3, sc, lds, oc, dc); break;                 \
                    default: k2_##T##_4rows(nb, wr, nbw, xc, nbx, 4, sc, lds, oc, dc); break;                \
                    }                                                                                         \
                }                                                                                             \
        }                                                                                                     \
        if (r < nr) kx_##T##_tile(k, (const char *)w + (size_t)r * nbw, nbw, nr - r, x, nbx, nc, s + r, lds); \
    }
K2_TILE(q4_0)
K2_TILE(q8_0)

/* Q4_K and Q6_K, 2 rows (one per 128-bit lane; the kernels are x86_klanes.inc, shared with the
 * AVX-512 file's 4 rows per zmm), up to 4 tokens. */
/* The next 2 rows' lines of this block (rows are contiguous: the next pair follows). */
AI void k2_prefetch_next(const uint8_t *b, size_t nbw, int bytes) {
    for (int r = 2; r < 4; r++)
        for (int o = 0; o < bytes + 63; o += 64) _mm_prefetch((const char *)b + r * nbw + o, _MM_HINT_T0);
}

/* Row sums of a 2-row accumulator -> s[0], s[1]. */
AI void k2_rowsums2(__m256 a, float *s) {
    const __m128 lo = _mm256_castps256_ps128(a), hi = _mm256_extractf128_ps(a, 1);
    const __m128 h = _mm_hadd_ps(lo, hi);                /* r0 r0 r1 r1 */
    const __m128 h2 = _mm_hadd_ps(h, h);                 /* r0 r1 r0 r1 */
    _mm_storel_pi((__m64 *)s, h2);
}


#define KL_NAME(x) k2_##x
#define KL_ROWS 2
#define KL_NCMAX 4
#define KL_I __m256i
#define KL_F __m256
#define KL_LOADROWS k2_load2
#define KL_SCALES k2_scales2
#define KL_SCALES_END k2_scales2
#define KL_BCAST(p) _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p)))
#define KL_BCASTX _mm256_broadcastsi128_si256
#define KL_PREFETCH_NEXT k2_prefetch_next
#define KL_ROWSUMS k2_rowsums2
#define KL_DOTW(acc, a, b) _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
#define KL_AND _mm256_and_si256
#define KL_OR _mm256_or_si256
#define KL_SRLI16 _mm256_srli_epi16
#define KL_SLLI16 _mm256_slli_epi16
#define KL_SRAI16 _mm256_srai_epi16
#define KL_SHUF8 _mm256_shuffle_epi8
#define KL_SET1_8 _mm256_set1_epi8
#define KL_SET1_16 _mm256_set1_epi16
#define KL_ADD16 _mm256_add_epi16
#define KL_MULLO16 _mm256_mullo_epi16
#define KL_SUB16 _mm256_sub_epi16
#define KL_SET1_32 _mm256_set1_epi32
#define KL_ABS8 _mm256_abs_epi8
#define KL_SIGN8 _mm256_sign_epi8
#define KL_SRAI32 _mm256_srai_epi32
#define KL_ADD32 _mm256_add_epi32
#define KL_SUB32 _mm256_sub_epi32
#define KL_SLLI32 _mm256_slli_epi32
#define KL_MADDUBS _mm256_maddubs_epi16
#define KL_MADD _mm256_madd_epi16
#define KL_ZERO _mm256_setzero_si256
#define KL_FZERO _mm256_setzero_ps
#define KL_CVT _mm256_cvtepi32_ps
#define KL_FMA _mm256_fmadd_ps
#define KL_FNMA _mm256_fnmadd_ps
#define KL_MULF _mm256_mul_ps
#define KL_SET1F _mm256_set1_ps
#define KL_BSRLI _mm256_bsrli_epi128
#include "x86_klanes.inc"

/* Decode on repacked weights (x86_rp.inc): a 64-byte piece of a group's 4 rows is two ymm. */
AI __m256 k2_rp_h2f(const uint8_t *p, int stride) {
    fp16_t a, b;
    memcpy(&a, p, 2);
    memcpy(&b, p + stride, 2);
    return _mm256_set_m128(_mm_set1_ps(kx_h2f(b)), _mm_set1_ps(kx_h2f(a)));
}
#define K2_ONES16 _mm256_set1_epi16(1)
#define KR_NAME(x) k2_rp_##x
#define KR_NV 2
#define KR_VB 32
#define KR_LOAD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define KR_OFF(x) _mm256_blend_epi32(_mm256_setzero_si256(), _mm256_set1_epi32(x), 0x11)
#define KR_DOTU(acc, u, s) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), K2_ONES16))
#define KR_DOTS(acc, a, b) KR_DOTU(acc, _mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a))
#define KR_DOTQ8 KR_DOTS
#define KR_Q8_INIT(o) ((void)(o), _mm256_setzero_si256())
#define KR_H2F k2_rp_h2f
#define KR_HDR8(p) /* the 8 bytes at p + 8r over lane r */ \
    _mm256_permute4x64_epi64(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(p))), 0x50)
#define KR_QH4(p) \
    _mm256_permutevar8x32_epi32(_mm256_castsi128_si256(_mm_loadl_epi64((const __m128i *)(const void *)(p))), \
                                _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1))
#define KR_BITS(v, bit) _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit)
#define KR_SEL(a, b, m) _mm256_or_si256(_mm256_and_si256(a, m), _mm256_andnot_si256(m, b))
#define KR_CN 2
#define KR_COMB(p, a) \
    _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p))), _mm256_permute_ps(_mm256_loadu_ps(&(a)->d), 0))
#define KR_COMB_ROWS(v, cc, h) \
    _mm256_permutevar8x32_ps(v, _mm256_add_epi32(_mm256_set1_epi32(4 * (cc) + 2 * (h)), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)))
#define KR_MULLO _mm256_mullo_epi32
#define KR_FV __m256
#define KR_FE 8
#define KR_LDH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define KR_FSUM kx_hsum
#include "x86_rp.inc"

#define K2_TILE2(T)                                                                                           \
    static void k2_##T##_tile(int k, const void *w, size_t nbw, int nr, const void *x, size_t nbx, int nc,    \
                              float *s, size_t lds) {                                                         \
        int r = 0;                                                                                            \
        for (; r + 2 <= nr; r += 2)                                                                           \
            for (int c0 = 0; c0 < nc; c0 += 4) {                                                              \
                const uint8_t *wr = (const uint8_t *)w + (size_t)r * nbw;                                     \
                const void *xc = (const char *)x + (size_t)c0 * nbx;                                          \
                float *sc = s + r + (size_t)c0 * lds;                                                         \
                switch (nc - c0) {                                                                            \
                case 1: k2_##T##_rows(k, wr, nbw, xc, nbx, 1, sc, lds); break;                               \
                case 2: k2_##T##_rows(k, wr, nbw, xc, nbx, 2, sc, lds); break;                               \
                case 3: k2_##T##_rows(k, wr, nbw, xc, nbx, 3, sc, lds); break;                               \
                default: k2_##T##_rows(k, wr, nbw, xc, nbx, 4, sc, lds); break;                              \
                }                                                                                             \
            }                                                                                                 \
        if (r < nr) kx_##T##_tile(k, (const char *)w + (size_t)r * nbw, nbw, nr - r, x, nbx, nc, s + r, lds); \
    }
K2_TILE2(q4_K)
K2_TILE2(q6_K)

const struct kern_isa kern_isa_avx2 = { .name = "avx2", KX_TABLE_ENTRIES, KR_TABLE_ENTRIES };
