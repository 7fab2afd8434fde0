/* x86 AVX-512 (F/BW/VL/DQ + VNNI) kernels for the kern_isa table (kernels.h). Most bodies are
 * shared with the AVX2 file (x86_kern.inc) with the int8 dot as one vpdpbusd. Q4_0 and Q8_0,
 * the bandwidth-critical types, get 4-row tiles: one zmm holds the same 16 bytes of a block
 * from 4 weight rows (one 128-bit lane per row), so the activation block is broadcast once
 * and the per-block scales of the 4 rows are applied in one multiply. Only used after
 * kernels.c has checked the CPU; checked against the scalar reference by tests/test_kernels.c.
 */
#include "kernels/kernels.h"
#include "kernels/arch/x86_pack.h"

#include <immintrin.h>

static inline __attribute__((always_inline)) __m256i kx_dot_u8s8(__m256i a, __m256i b) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
}

static kern_tile_sig k5_q4_0_tile, k5_q8_0_tile_n, k5_q4_K_tile, k5_q6_K_tile;
#define KX_TILE_Q6_K k5_q6_K_tile
#define KX_TILE_Q4_0 k5_q4_0_tile
#define KX_TILE_Q4_K k5_q4_K_tile
#define KX_TILE_Q8_0 k5_q8_0_tile_n

#include "x86_kern.inc"

/* 16 bytes at the same offset of 4 rows -> one zmm, row r in 128-bit lane r. */
AI __m512i k5_load4(const uint8_t *p, size_t nbw) {
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + nbw)), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 2 * nbw)), 2);
    return _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 3 * nbw)), 3);
}

/* The fp16 scale at the start of a block, from 4 rows -> each repeated over its row's 4
 * lanes (one permute of the 4 lanes loaded from the block starts, no scalar shuffling). */
AI __m512 k5_scales4(const uint8_t *p, size_t nbw) {
    const __m512i z = k5_load4(p, nbw);
    const __m512i idx = _mm512_setr_epi32(0, 0, 0x00080008, 0x00080008, 0x00100010, 0x00100010, 0x00180018,
                                          0x00180018, 0, 0, 0, 0, 0, 0, 0, 0); /* 16-bit indices 0,8,16,24 x4 */
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx, z)));
}

/* The next tile's 4 rows follow these 4 in memory; fetching them one tile ahead keeps four
 * interleaved streams from outrunning the hardware prefetcher (measured +30-60% on decode);
 * every line the block may touch, as blocks do not start on a line (Q6_K decode -7%). */
AI void k5_prefetch_next(const uint8_t *b, size_t nbw, int bytes) {
    for (int r = 4; r < 8; r++)
        for (int o = 0; o < bytes + 63; o += 64) _mm_prefetch((const char *)b + r * nbw + o, _MM_HINT_T0);
}

/* Per-row sums of 4 float lanes -> 4 floats. */
AI __m128 k5_rowsums(__m512 v) {
    const __m128 a = _mm512_castps512_ps128(v), b = _mm512_extractf32x4_ps(v, 1);
    const __m128 c = _mm512_extractf32x4_ps(v, 2), d = _mm512_extractf32x4_ps(v, 3);
    return _mm_hadd_ps(_mm_hadd_ps(a, b), _mm_hadd_ps(c, d));
}

/* Per activation block, mult * sum(quants) negated: the offset that the unsigned-operand dot
 * products below start from (Q4_0: q - 8 as q and -8; Q8_0: w + 128 as u8 and -128). Computed
 * once per tile call for its tokens, it turns two dot instructions per token and block into a
 * broadcast load; the activation scales are converted to float there too (the fp16 convert
 * and broadcast would otherwise compete with the dot products for the vector ports). */
#define K5_TC 16     /* tokens per tile call for Q4_0 / Q8_0 (tile_c in the table) */
#define K5_MAXB 1024 /* blocks per row the stack buffers hold (k <= 32768, 64 KiB); longer rows take the ymm path */
AI __m128i k5_sum32x4(const block_q8_0 *y) {
    /* the int8 sums of 4 blocks: vpdpbusd with 1s gives 8 partial sums each, folded by hadds */
    const __m256i one = _mm256_set1_epi8(1);
    __m128i t[4];
    for (int j = 0; j < 4; j++) {
        const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), one, _mm256_loadu_si256((const __m256i *)y[j].qs));
        t[j] = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    }
    return _mm_hadd_epi32(_mm_hadd_epi32(t[0], t[1]), _mm_hadd_epi32(t[2], t[3]));
}

static void k5_block_sums(int nb, const void *vx, size_t nbx, int nc, int mult, int32_t *out, float *dy) {
    for (int c = 0; c < nc; c++) {
        const block_q8_0 *y = X_ROW(block_q8_0, vx, nbx, c);
        int i = 0;
        for (; i + 4 <= nb; i += 4) {
            _mm_storeu_si128((__m128i *)(out + c * nb + i), _mm_mullo_epi32(k5_sum32x4(y + i), _mm_set1_epi32(-mult / 4)));
            for (int j = 0; j < 4; j++) dy[c * nb + i + j] = kx_h2f(y[i + j].d);
        }
        for (; i < nb; i++) {
            dy[c * nb + i] = kx_h2f(y[i].d);
            const __m256i q = _mm256_loadu_si256((const __m256i *)y[i].qs);
            const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
            out[c * nb + i] = -mult / 4 * kx_hsum_i(s); /* a quarter: it seeds each of a row's 4 lanes */
        }
    }
}

/* Q4_0 (q8 = 0: nibbles, q - 8) and Q8_0 (q8 = 1: bytes, taken as unsigned w + 128); the
 * offset times sum(y) comes back through off[] (-2 * sum(y) / -32 * sum(y) per lane). */
AI void k5_32_4rows(const int q8, int k, const void *vw, size_t nbw, const void *vx, size_t nbx, int nc, float *s,
                    size_t lds, const int32_t *off, const float *dy) {
    const uint8_t *w = vw;
    const int nb = k / 32;
    const size_t bs = q8 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    const __m512i m4 = _mm512_set1_epi8(0x0f), x80 = _mm512_set1_epi8((char)0x80);
    __m512 acc[K5_TC];
    _Pragma("GCC unroll 16")
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const uint8_t *b = w + i * bs;
        __m512i lo, hi;
        if (q8) {
            _mm_prefetch((const char *)b + (4 + 2 * (i & 1)) * nbw, _MM_HINT_T0); /* 2 x 34 bytes ~ a line per row */
            _mm_prefetch((const char *)b + (5 + 2 * (i & 1)) * nbw, _MM_HINT_T0);
            lo = _mm512_xor_si512(k5_load4(b + offsetof(block_q8_0, qs), nbw), x80);
            hi = _mm512_xor_si512(k5_load4(b + offsetof(block_q8_0, qs) + 16, nbw), x80);
        } else {
            _mm_prefetch((const char *)b + (4 + (i & 3)) * nbw, _MM_HINT_T0); /* 4 x 18 bytes ~ a line per row */
            const __m512i z = k5_load4(b + offsetof(block_q4_0, qs), nbw);
            lo = _mm512_and_si512(z, m4);
            hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
        }
        const __m512 dw = k5_scales4(b, nbw);
        _Pragma("GCC unroll 16")
        for (int c = 0; c < nc; c++) {
            const block_q8_0 *y = X_ROW(block_q8_0, vx, nbx, c) + i;
            const __m512i ylo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)y->qs));
            const __m512i yhi = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(y->qs + 16)));
            /* exact in int32 */
            const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_set1_epi32(off[c * nb + i]), lo, ylo), hi, yhi);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw, _mm512_set1_ps(dy[c * nb + i])), acc[c]);
        }
    }
    _Pragma("GCC unroll 16")
    for (int c = 0; c < nc; c++) _mm_storeu_ps(s + c * lds, k5_rowsums(acc[c]));
}

/* Q4_0 decode (one token), 4 rows, 4 blocks at a time: instead of gathering the same block of
 * 4 rows (6 inserts and a permute per block), each row's 72 bytes of 4 consecutive blocks are
 * loaded as 64 + 8 bytes and two word permutes (blocks are 9 words) pull out the 4 x 16 quant
 * bytes (block j in lane j) and the 4 scales, each repeated over its block's 4 dwords. The
 * activations are rearranged once per call to match (k5_q4_0_prep_1): per 4 blocks, 64 bytes
 * of elements 0-15 (lane j = block j), 64 bytes of 16-31, 16 offsets and 16 scales. */
struct k5_y4 {
    __m512i lo, hi;
    __m512i off; /* -8 * sum(y) of block j, a quarter in each of lane j's 4 dwords */
    __m512 dy;   /* y's scale of block j in lane j's 4 dwords */
};

static void k5_q4_0_prep_1(int nb, const void *vx, struct k5_y4 *out) {
    const block_q8_0 *y = vx;
    for (int g = 0; g < nb / 4; g++) {
        int8_t lo[64], hi[64];
        int32_t off[16];
        float dy[16];
        for (int j = 0; j < 4; j++) {
            const block_q8_0 *b = y + 4 * g + j;
            memcpy(lo + 16 * j, b->qs, 16);
            memcpy(hi + 16 * j, b->qs + 16, 16);
            int sum = 0;
            for (int e = 0; e < 32; e++) sum += b->qs[e];
            const float d = kx_h2f(b->d);
            for (int t = 0; t < 4; t++) {
                off[4 * j + t] = -2 * sum;
                dy[4 * j + t] = d;
            }
        }
        out[g].lo = _mm512_loadu_si512(lo);
        out[g].hi = _mm512_loadu_si512(hi);
        out[g].off = _mm512_loadu_si512(off);
        out[g].dy = _mm512_loadu_ps(dy);
    }
}

/* Word indices into a group's 36 words (block j: d at 9j, quants at 9j+1..9j+8). */
static const int16_t k5_ix_q40_q[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17,
                                         19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35 };
static const int16_t k5_ix_q40_d[32] = { 0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27 };

AI __m512 k5_q4_0_group(const uint8_t *b, const struct k5_y4 *y, __m512 acc, __m512i idx_q, __m512i idx_d) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i a = _mm512_loadu_si512(b);
    const __m512i bb = _mm512_zextsi128_si512(_mm_loadl_epi64((const __m128i *)(b + 64)));
    const __m512i q = _mm512_permutex2var_epi16(a, idx_q, bb);
    const __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(y->off, lo, y->lo), hi, y->hi);
    const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx_d, a)));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw, y->dy), acc);
}

AI void k5_q4_0_4rows_1(int nb, const uint8_t *w, size_t nbw, const struct k5_y4 *y, float *s) {
    const __m512i iq = _mm512_loadu_si512(k5_ix_q40_q), id = _mm512_loadu_si512(k5_ix_q40_d);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    for (int g = 0; g < nb / 4; g++) {
        const uint8_t *b = w + (size_t)g * 4 * sizeof(block_q4_0);
        /* the next 4 rows' 72 bytes at this offset span up to 2 lines each (measured -11% time
         * on short rows against one line per row) */
        _mm_prefetch((const char *)b + 4 * nbw, _MM_HINT_T0);
        _mm_prefetch((const char *)b + 4 * nbw + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)b + 5 * nbw, _MM_HINT_T0);
        _mm_prefetch((const char *)b + 5 * nbw + 64, _MM_HINT_T0);
        acc0 = k5_q4_0_group(b, y + g, acc0, iq, id);
        acc1 = k5_q4_0_group(b + nbw, y + g, acc1, iq, id);
        _mm_prefetch((const char *)b + 6 * nbw, _MM_HINT_T0);
        _mm_prefetch((const char *)b + 6 * nbw + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)b + 7 * nbw, _MM_HINT_T0);
        _mm_prefetch((const char *)b + 7 * nbw + 64, _MM_HINT_T0);
        acc2 = k5_q4_0_group(b + 2 * nbw, y + g, acc2, iq, id);
        acc3 = k5_q4_0_group(b + 3 * nbw, y + g, acc3, iq, id);
    }
    s[0] = _mm512_reduce_add_ps(acc0);
    s[1] = _mm512_reduce_add_ps(acc1);
    s[2] = _mm512_reduce_add_ps(acc2);
    s[3] = _mm512_reduce_add_ps(acc3);
}

/* Q4_K and Q6_K, 4 rows: one per 128-bit lane (the kernels are x86_klanes.inc, shared with the
 * AVX2 file's 2 rows per ymm), up to KERN_TILE_C tokens. */
/* The fp16 ending at p + 2 of 4 rows, each over its lane (the last word of a 16-byte load). */
AI __m512 k5_scales4_end(const uint8_t *p, size_t nbw) {
    const __m512i idx = _mm512_setr_epi32(0x00070007, 0x00070007, 0x000f000f, 0x000f000f, 0x00170017, 0x00170017,
                                          0x001f001f, 0x001f001f, 0, 0, 0, 0, 0, 0, 0, 0); /* 16-bit indices 7,15,23,31 x4 */
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx, k5_load4(p - 14, nbw))));
}
#define KL_NAME(x) k5_##x
#define KL_ROWS 4
#define KL_NCMAX KERN_TILE_C
#define KL_I __m512i
#define KL_F __m512
#define KL_LOADROWS k5_load4
#define KL_SCALES k5_scales4
#define KL_SCALES_END k5_scales4_end
#define KL_BCAST(p) _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(p)))
#define KL_BCASTX _mm512_broadcast_i32x4
#define KL_PREFETCH_NEXT k5_prefetch_next
#define KL_ROWSUMS(acc, s) _mm_storeu_ps(s, k5_rowsums(acc))
#define KL_DOTW _mm512_dpwssd_epi32
#define KL_AND _mm512_and_si512
#define KL_OR _mm512_or_si512
#define KL_SRLI16 _mm512_srli_epi16
#define KL_SLLI16 _mm512_slli_epi16
#define KL_SRAI16 _mm512_srai_epi16
#define KL_SHUF8 _mm512_shuffle_epi8
#define KL_SET1_8 _mm512_set1_epi8
#define KL_SET1_16 _mm512_set1_epi16
#define KL_ADD16 _mm512_add_epi16
#define KL_MULLO16 _mm512_mullo_epi16
#define KL_SUB16 _mm512_sub_epi16
#define KL_SRAI32 _mm512_srai_epi32
#define KL_ADD32 _mm512_add_epi32
#define KL_SUB32 _mm512_sub_epi32
#define KL_SLLI32 _mm512_slli_epi32
#define KL_MADDUBS _mm512_maddubs_epi16
#define KL_MADD _mm512_madd_epi16
#define KL_ZERO _mm512_setzero_si512
#define KL_FZERO _mm512_setzero_ps
#define KL_CVT _mm512_cvtepi32_ps
#define KL_FMA _mm512_fmadd_ps
#define KL_FNMA _mm512_fnmadd_ps
#define KL_MULF _mm512_mul_ps
#define KL_SET1F _mm512_set1_ps
#define KL_BSRLI _mm512_bsrli_epi128
#include "x86_klanes.inc"

/* Decode on repacked weights (x86_rp.inc): a 64-byte piece of a group's 4 rows is one zmm. */
AI __m512 k5_rp_h2f(const uint8_t *p, const int stride) {
    if (stride == 2)
        return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                     _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)p))));
    /* word (stride / 2) * r of the 64 bytes at p into the 4 words of lane r */
    const int st = stride / 2;
    const __m512i idx = _mm512_setr_epi32(0, 0, st * 0x10001, st * 0x10001, 2 * st * 0x10001, 2 * st * 0x10001,
                                          3 * st * 0x10001, 3 * st * 0x10001, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx, _mm512_loadu_si512((const void *)p))));
}
#define KR_NAME(x) k5_rp_##x
#define KR_NV 1
#define KR_VB 64
#define KR_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define KR_OFF(x) _mm512_maskz_set1_epi32(0x1111, x)
#define KR_DOTU(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
#define KR_VNNI 1 /* KR_DOTU is one instruction */
#define KL_SET1_32 _mm512_set1_epi32
#define KR_DOTS(acc, a, b) \
    _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(a), _mm512_mask_sub_epi8(b, _mm512_movepi8_mask(a), _mm512_setzero_si512(), b))
#define KR_DOTQ8(acc, w, y) _mm512_dpbusd_epi32(acc, _mm512_xor_si512(w, _mm512_set1_epi8((char)0x80)), y)
#define KR_Q8_INIT KR_OFF
#define KR_H2F k5_rp_h2f
#define KR_HDR8(p) /* the 8 bytes at p + 8r over lane r */ \
    _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3), _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(p))))
#define KR_QH4(p) \
    _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), \
                             _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(p))))
#define KR_BITS(v, bit) _mm512_movm_epi8(_mm512_test_epi8_mask(v, bit))
#define KR_SEL(a, b, m) _mm512_ternarylogic_epi64(m, a, b, 0xCA)
#define KR_CN 4
#define KR_COMB(p, a) \
    _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p))), \
                  _mm512_permute_ps(_mm512_loadu_ps(&(a)->d), 0))
#define KR_COMB_ROWS(v, cc, h) \
    ((void)(h), _mm512_permutexvar_ps(_mm512_add_epi32(_mm512_set1_epi32(4 * (cc)), \
                                                      _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)), v))
#define KR_MULLO _mm512_mullo_epi32
#define KR_FV __m512
#define KR_FE 16
#define KR_LDH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define KR_FSUM _mm512_reduce_add_ps
#include "x86_rp.inc"

/* (The token loops above are unrolled: nc is a constant per instance (K5_SWITCH_NC), and
 * with the loops rolled GCC keeps the accumulators on the stack.)
 *
 * Tiles: 4-row groups in zmm, leftover rows through the shared ymm kernels. */
#define K5_SWITCH_NC(CALL)                                                                                \
    switch (nc) {                                                                                         \
    case 1: CALL(1); break;                                                                               \
    case 2: CALL(2); break;                                                                               \
    case 3: CALL(3); break;                                                                               \
    case 4: CALL(4); break;                                                                               \
    case 5: CALL(5); break;                                                                               \
    case 6: CALL(6); break;                                                                               \
    case 7: CALL(7); break;                                                                               \
    default: CALL(8); break;                                                                              \
    }
_Static_assert(KERN_TILE_C == 8, "K5_SWITCH_NC covers 1..8 tokens");
#define K5_SWITCH_NC16(CALL)                                                                              \
    switch (nc) {                                                                                         \
    case 1: CALL(1); break;                                                                               \
    case 2: CALL(2); break;                                                                               \
    case 3: CALL(3); break;                                                                               \
    case 4: CALL(4); break;                                                                               \
    case 5: CALL(5); break;                                                                               \
    case 6: CALL(6); break;                                                                               \
    case 7: CALL(7); break;                                                                               \
    case 8: CALL(8); break;                                                                               \
    case 9: CALL(9); break;                                                                               \
    case 10: CALL(10); break;                                                                             \
    case 11: CALL(11); break;                                                                             \
    case 12: CALL(12); break;                                                                             \
    case 13: CALL(13); break;                                                                             \
    case 14: CALL(14); break;                                                                             \
    case 15: CALL(15); break;                                                                             \
    default: CALL(16); break;                                                                             \
    }
_Static_assert(K5_TC == 16 && KERN_TILE_C_MAX >= K5_TC, "K5_SWITCH_NC16 covers 1..16 tokens");

#define K5_TILE(T)                                                                                        \
    static void k5_##T##_tile(int k, const void *w, size_t nbw, int nr, const void *x, size_t nbx, int nc, \
                              float *s, size_t lds) {                                                     \
        int r = 0;                                                                                        \
        for (; r + 4 <= nr; r += 4) {                                                                     \
            const char *wr = (const char *)w + (size_t)r * nbw;                                           \
            K5_SWITCH_NC(K5_CALL_##T)                                                                     \
        }                                                                                                 \
        if (r < nr) kx_##T##_tile(k, (const char *)w + (size_t)r * nbw, nbw, nr - r, x, nbx, nc, s + r, lds); \
    }
#define K5_CALL_q4_K(NC) k5_q4_K_rows(k, (const uint8_t *)wr, nbw, x, nbx, NC, s + r, lds)
#define K5_CALL_q6_K(NC) k5_q6_K_rows(k, (const uint8_t *)wr, nbw, x, nbx, NC, s + r, lds)
K5_TILE(q4_K)
K5_TILE(q6_K)

/* Q4_0 / Q8_0 first compute the activation offsets of the call's tokens, shared by all rows. */
#define K5_TILE_OFF(T, MULT)                                                                              \
    static void k5_##T##_tile_n(int k, const void *w, size_t nbw, int nr, const void *x, size_t nbx, int nc, \
                              float *s, size_t lds) {                                                     \
        int32_t off[K5_TC * K5_MAXB];                                                               \
        float dy[K5_TC * K5_MAXB];                                                                        \
        const int nb = k / 32;                                                                            \
        int r = 0;                                                                                        \
        if (nb <= K5_MAXB && nr >= 4) {                                                                   \
            k5_block_sums(nb, x, nbx, nc, MULT, off, dy);                                                 \
            for (; r + 4 <= nr; r += 4) {                                                                 \
                const char *wr = (const char *)w + (size_t)r * nbw;                                       \
                K5_SWITCH_NC16(K5_CALL_##T)                                                                 \
            }                                                                                             \
        }                                                                                                 \
        if (r < nr) kx_##T##_tile(k, (const char *)w + (size_t)r * nbw, nbw, nr - r, x, nbx, nc, s + r, lds); \
    }
#define K5_CALL_q4_0(NC) k5_32_4rows(0, k, wr, nbw, x, nbx, NC, s + r, lds, off, dy)
#define K5_CALL_q8_0(NC) k5_32_4rows(1, k, wr, nbw, x, nbx, NC, s + r, lds, off, dy)
K5_TILE_OFF(q4_0, 8)
K5_TILE_OFF(q8_0, 128)

/* Q4_0: one token (decode) through the 4-blocks-per-row kernel when the row length allows. */
static void k5_q4_0_tile(int k, const void *w, size_t nbw, int nr, const void *x, size_t nbx, int nc, float *s,
                         size_t lds) {
    const int nb = k / 32;
    if (nc != 1 || nb % 4 || nb > K5_MAXB || nr < 4) {
        k5_q4_0_tile_n(k, w, nbw, nr, x, nbx, nc, s, lds);
        return;
    }
    struct k5_y4 y[K5_MAXB / 4];
    k5_q4_0_prep_1(nb, x, y);
    int r = 0;
    for (; r + 4 <= nr; r += 4) k5_q4_0_4rows_1(nb, (const uint8_t *)w + (size_t)r * nbw, nbw, y, s + r);
    if (r < nr) kx_q4_0_tile(k, (const char *)w + (size_t)r * nbw, nbw, nr - r, x, nbx, nc, s + r, lds);
}

const struct kern_isa kern_isa_avx512 = { .name = "avx512", KX_TABLE_ENTRIES, KR_TABLE_ENTRIES,
                                            .tile_c = { [QT_Q4_0] = K5_TC, [QT_Q8_0] = K5_TC },
                                            .pack = { [QT_Q4_0] = kp_pack_q4_0, [QT_Q8_0] = kp_pack_q8_0, [QT_Q5_0] = kp_pack_q5_0,
                                                      [QT_Q4_K] = kp_pack_q4_K, [QT_Q6_K] = kp_pack_q6_K },
                                            .pack_x4 = { [QT_Q4_0] = kp_pack_x4_q4_0, [QT_Q8_0] = kp_pack_x4_q8_0 },
                                            .tile_packed = { [QT_Q4_0] = kp_tile_q4_0, [QT_Q8_0] = kp_tile_q8_0, [QT_Q5_0] = kp_tile_q5_0,
                                                             [QT_Q4_K] = kp_tile_q4_K, [QT_Q6_K] = kp_tile_q6_K },
                                            .pack_b32 = { [QT_Q4_0] = 576, [QT_Q8_0] = 576, [QT_Q5_0] = 576, [QT_Q4_K] = 640, [QT_Q6_K] = 640 } };
