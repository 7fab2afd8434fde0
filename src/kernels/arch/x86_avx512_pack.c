/* x86 AVX-512 VNNI packed prefill (kernels.h, "Packed prefill") for Q4_0, Q5_0, Q8_0, Q4_K, Q6_K.
 *
 * A group of 16 weight rows is rewritten per 32 elements as
 *     float scale[16]           row r's scale of these 32 elements (Q6_K: of the first 16)
 *     float extra[16]           Q4_K: -dmin * min of the sub-block; Q6_K: scale of the last 16
 *     uint8 q[8][64]            q[t] holds elements 4t..4t+3 of row r in dword r, as u8
 * (Q4_0 and Q8_0 have no extra: 576 bytes, else 640), so one vpdpbusd with the 4 activation
 * bytes broadcast does 4 elements of 16 rows, and a token's 16 results sit in one zmm, ready
 * to store. Quants are unpacked once here (nibbles split, Q8_0 offset by +128, Q5_0's and Q6_K's
 * high bits merged) rather than once per token tile. The offset that makes the unsigned weights
 * signed again (-8, -16, -128, -32 times the activation sums) starts the integer sum (aux o0/o1),
 * Q4_K's mins go through aux bdy. Results differ from the scalar reference only in float
 * rounding; tests/test_kernels.c checks them against float products like every matmul path.
 */
#include "kernels/kernels.h"
#include "kernels/arch/x86_pack.h"

#include <immintrin.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

enum { KP_B32 = 576, KP_B32X = 640 }; /* bytes per 32 elements of a group: without / with extra */

/* 16 bytes at the same offset of 4 rows -> one zmm, row r in 128-bit lane r. */
AI __m512i kp_load4(const uint8_t *p, size_t nbw) {
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + nbw)), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 2 * nbw)), 2);
    return _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 3 * nbw)), 3);
}

/* z[g] = 16 bytes at p of rows 4g..4g+3. */
AI void kp_load16(const uint8_t *p, size_t nbw, __m512i z[4]) {
    _Pragma("GCC unroll 16")
    for (int g = 0; g < 4; g++) z[g] = kp_load4(p + 4 * g * nbw, nbw);
}

/* z[g] holding rows 4g..4g+3 (16 bytes each, one per lane) -> out[t] (t < 4, 64 bytes each):
 * dword r = bytes 4t..4t+3 of row r. */
AI void kp_transpose(const __m512i z[4], uint8_t *out) {
    const __m512i i01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i i23 = _mm512_add_epi32(i01, _mm512_set1_epi32(2));
    const __m512i ab01 = _mm512_permutex2var_epi32(z[0], i01, z[1]), cd01 = _mm512_permutex2var_epi32(z[2], i01, z[3]);
    const __m512i ab23 = _mm512_permutex2var_epi32(z[0], i23, z[1]), cd23 = _mm512_permutex2var_epi32(z[2], i23, z[3]);
    _mm512_storeu_si512(out, _mm512_shuffle_i32x4(ab01, cd01, 0x44));
    _mm512_storeu_si512(out + 64, _mm512_shuffle_i32x4(ab01, cd01, 0xee));
    _mm512_storeu_si512(out + 128, _mm512_shuffle_i32x4(ab23, cd23, 0x44));
    _mm512_storeu_si512(out + 192, _mm512_shuffle_i32x4(ab23, cd23, 0xee));
}

AI __m512i kp_lo(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0f)); }
AI __m512i kp_hi(__m512i v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0f)); }
AI __m512i kp_x80(__m512i v) { return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80)); }
#define KP_MAP(F, z, out) _Pragma("GCC unroll 4") for (int g_ = 0; g_ < 4; g_++) (out)[g_] = F((z)[g_])

/* The fp16 at the same offset of 16 rows -> 16 floats. */
AI __m512 kp_h16(const uint8_t *p, size_t nbw) {
    uint16_t h[16];
    _Pragma("GCC unroll 16")
    for (int r = 0; r < 16; r++) memcpy(&h[r], p + r * nbw, 2);
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
}

/* ---------------------------------------------------------------- packing */

/* One packed 32-element column: the 16 rows' scales, then z (16 bytes of rows 4g..4g+3 in
 * z[g]) as nibbles, or (q8) z and z2 (bytes 0-15 and 16-31) offset to unsigned. */
AI void kp_store_32(uint8_t *g, __m512 scales, const __m512i z[4], const __m512i z2[4], int q8) {
    __m512i lo[4], hi[4];
    _mm512_storeu_ps(g, scales);
    if (q8) {
        KP_MAP(kp_x80, z, lo);
        KP_MAP(kp_x80, z2, hi);
    } else {
        KP_MAP(kp_lo, z, lo);
        KP_MAP(kp_hi, z, hi);
    }
    kp_transpose(lo, g + 64);
    kp_transpose(hi, g + 64 + 256);
}

/* Q4_0 / Q8_0: a 2-byte fp16 scale, then 16 bytes of nibbles or 32 signed bytes. */
AI void kp_pack_32(int k, const uint8_t *w, size_t nbw, uint8_t *dst, size_t bsize, int q8) {
    for (int i = 0; i < k / 32; i++) {
        uint8_t *g = dst + (size_t)i * KP_B32;
        const uint8_t *b = w + (size_t)i * bsize;
        __m512i z[4], z2[4];
        kp_load16(b + 2, nbw, z);
        if (q8) kp_load16(b + 2 + 16, nbw, z2);
        kp_store_32(g, kp_h16(b, nbw), z, z2, q8);
    }
}

void kp_pack_q4_0(int k, const void *w, size_t nbw, void *dst) { kp_pack_32(k, w, nbw, dst, sizeof(block_q4_0), 0); }

/* The same from the repacked layout (repack.c): 16 rows are 4 groups of 4 rows (4 * nbw bytes
 * each); in a group, super-columns of 8 columns, each column's quants one 64-byte piece per 16
 * bytes (row r in lane r: what kp_load4 assembles), then the columns' fp16 scales, 4 rows each. */
AI void kp_pack_x4_32(int k, const uint8_t *w, size_t nbw, uint8_t *dst, size_t bsize, int q8) {
    const int nb = k / 32;
    const size_t qb = q8 ? 128 : 64, sstride = 8 * 4 * bsize;
    for (int i = 0; i < nb; i++) {
        const int s0 = i / 8 * 8, c = i - s0, ncs = nb - s0 < 8 ? nb - s0 : 8;
        const uint8_t *col = w + (size_t)(s0 / 8) * sstride + (size_t)c * qb, *sc = w + (size_t)(s0 / 8) * sstride + ncs * qb + 8 * c;
        uint8_t *g = dst + (size_t)i * KP_B32;
        uint64_t h[4];
        __m512i z[4], z2[4];
        _Pragma("GCC unroll 4")
        for (int gg = 0; gg < 4; gg++) {
            memcpy(&h[gg], sc + gg * 4 * nbw, 8);
            z[gg] = _mm512_loadu_si512(col + gg * 4 * nbw);
            if (q8) z2[gg] = _mm512_loadu_si512(col + 64 + gg * 4 * nbw);
        }
        kp_store_32(g, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)h)), z, z2, q8);
    }
}

void kp_pack_x4_q4_0(int k, const void *w, size_t nbw, void *dst) { kp_pack_x4_32(k, w, nbw, dst, sizeof(block_q4_0), 0); }
void kp_pack_x4_q8_0(int k, const void *w, size_t nbw, void *dst) { kp_pack_x4_32(k, w, nbw, dst, sizeof(block_q8_0), 1); }

/* Q5_0: element j < 16 is the low nibble of qs[j] plus bit j of qh as its fifth bit, element
 * j + 16 the high nibble plus bit j + 16. With rows in 128-bit lanes, byte j of lane r is bit
 * 16r + j of a 64-bit mask gathered from the four rows' qh, which sets 0x10 where it is 1. */
void kp_pack_q5_0(int k, const void *vw, size_t nbw, void *dst) {
    const uint8_t *w = vw;
    for (int i = 0; i < k / 32; i++) {
        uint8_t *g = dst;
        g += (size_t)i * KP_B32;
        const uint8_t *b = w + (size_t)i * sizeof(block_q5_0);
        _mm512_storeu_ps(g, kp_h16(b, nbw));
        __m512i z[4], lo[4], hi[4];
        kp_load16(b + offsetof(block_q5_0, qs), nbw, z);
        _Pragma("GCC unroll 4")
        for (int q = 0; q < 4; q++) {
            uint64_t ml = 0, mh = 0;
            for (int r = 0; r < 4; r++) {
                uint32_t qh;
                memcpy(&qh, b + (size_t)(4 * q + r) * nbw + offsetof(block_q5_0, qh), 4);
                ml |= (uint64_t)(qh & 0xffff) << (16 * r);
                mh |= (uint64_t)(qh >> 16) << (16 * r);
            }
            lo[q] = _mm512_or_si512(kp_lo(z[q]), _mm512_maskz_set1_epi8(ml, 0x10));
            hi[q] = _mm512_or_si512(kp_hi(z[q]), _mm512_maskz_set1_epi8(mh, 0x10));
        }
        kp_transpose(lo, g + 64);
        kp_transpose(hi, g + 64 + 256);
    }
}
void kp_pack_q8_0(int k, const void *w, size_t nbw, void *dst) { kp_pack_32(k, w, nbw, dst, sizeof(block_q8_0), 1); }
_Static_assert(offsetof(block_q4_0, qs) == 2 && offsetof(block_q8_0, qs) == 2 && offsetof(block_q5_0, qh) == 2,
               "the scale, then the quants");

void kp_pack_q4_K(int k, const void *vw, size_t nbw, void *dst) {
    const uint8_t *w = vw;
    for (int i = 0; i < k / QK_K; i++) {
        uint8_t *sb = (uint8_t *)dst + (size_t)i * 8 * KP_B32X;
        const uint8_t *b = w + (size_t)i * sizeof(block_q4_K);
        const __m512 d = kp_h16(b + offsetof(block_q4_K, d), nbw), dmin = kp_h16(b + offsetof(block_q4_K, dmin), nbw);
        float sc[8][16], mn[8][16];
        _Pragma("GCC unroll 16")
        for (int r = 0; r < 16; r++) {
            const uint8_t *q = b + r * nbw + offsetof(block_q4_K, scales);
            _Pragma("GCC unroll 16")
            for (int j = 0; j < 8; j++) {
                const int s = j < 4 ? q[j] & 63 : (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
                const int m = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
                sc[j][r] = (float)s;
                mn[j][r] = (float)m;
            }
        }
        _Pragma("GCC unroll 16")
        for (int j = 0; j < 8; j++) {
            _mm512_storeu_ps(sb + j * KP_B32X, _mm512_mul_ps(d, _mm512_loadu_ps(sc[j])));
            _mm512_storeu_ps(sb + j * KP_B32X + 64, _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), dmin), _mm512_loadu_ps(mn[j])));
        }
        _Pragma("GCC unroll 16")
        for (int p = 0; p < 4; p++) {
            __m512i z0[4], z1[4], t[4];
            kp_load16(b + offsetof(block_q4_K, qs) + 32 * p, nbw, z0);
            kp_load16(b + offsetof(block_q4_K, qs) + 32 * p + 16, nbw, z1);
            KP_MAP(kp_lo, z0, t);
            kp_transpose(t, sb + (2 * p) * KP_B32X + 128);
            KP_MAP(kp_lo, z1, t);
            kp_transpose(t, sb + (2 * p) * KP_B32X + 128 + 256);
            KP_MAP(kp_hi, z0, t);
            kp_transpose(t, sb + (2 * p + 1) * KP_B32X + 128);
            KP_MAP(kp_hi, z1, t);
            kp_transpose(t, sb + (2 * p + 1) * KP_B32X + 128 + 256);
        }
    }
}

/* Q6_K element 32c + l (c = 4h + t, l < 32): low nibble of ql[64h + 32(t & 1) + l] (high
 * nibble if t >= 2), high 2 bits from qh[32h + l] >> 2t. */
AI __m512i kp_q6(__m512i l, __m512i h, int t) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(3);
    const __m512i lo = _mm512_and_si512(t >= 2 ? _mm512_srli_epi16(l, 4) : l, m4);
    return _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 2 * t), m3), 4));
}

void kp_pack_q6_K(int k, const void *vw, size_t nbw, void *dst) {
    const uint8_t *w = vw;
    for (int i = 0; i < k / QK_K; i++) {
        uint8_t *sb = (uint8_t *)dst + (size_t)i * 8 * KP_B32X;
        const uint8_t *b = w + (size_t)i * sizeof(block_q6_K);
        const __m512 d = kp_h16(b + offsetof(block_q6_K, d), nbw);
        float sc[16][16];
        _Pragma("GCC unroll 16")
        for (int r = 0; r < 16; r++)
            _Pragma("GCC unroll 16")
            for (int j = 0; j < 16; j++) sc[j][r] = (float)((const int8_t *)(b + r * nbw + offsetof(block_q6_K, scales)))[j];
        _Pragma("GCC unroll 16")
        for (int c = 0; c < 8; c++) {
            _mm512_storeu_ps(sb + c * KP_B32X, _mm512_mul_ps(d, _mm512_loadu_ps(sc[2 * c])));
            _mm512_storeu_ps(sb + c * KP_B32X + 64, _mm512_mul_ps(d, _mm512_loadu_ps(sc[2 * c + 1])));
        }
        _Pragma("GCC unroll 16")
        for (int h = 0; h < 2; h++) {
            __m512i h0[4], h1[4];
            kp_load16(b + offsetof(block_q6_K, qh) + 32 * h, nbw, h0);
            kp_load16(b + offsetof(block_q6_K, qh) + 32 * h + 16, nbw, h1);
            _Pragma("GCC unroll 16")
            for (int t = 0; t < 4; t++) {
                __m512i l0[4], l1[4], o[4];
                kp_load16(b + offsetof(block_q6_K, ql) + 64 * h + 32 * (t & 1), nbw, l0);
                kp_load16(b + offsetof(block_q6_K, ql) + 64 * h + 32 * (t & 1) + 16, nbw, l1);
                uint8_t *g = sb + (4 * h + t) * KP_B32X + 128;
                _Pragma("GCC unroll 16")
                for (int r = 0; r < 4; r++) o[r] = kp_q6(l0[r], h0[r], t);
                kp_transpose(o, g);
                _Pragma("GCC unroll 16")
                for (int r = 0; r < 4; r++) o[r] = kp_q6(l1[r], h1[r], t);
                kp_transpose(o, g + 256);
            }
        }
    }
}

/* ---------------------------------------------------------------- tiles */

AI __m512i kp_b32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* acc += q · (the 4 activation bytes at y, broadcast), the broadcast as vpdpbusd's {1to16}
 * memory operand (compilers emit a separate vpbroadcastd for _mm512_set1_epi32). */
AI __m512i kp_dpb(__m512i acc, __m512i q, const int8_t *y) {
#if defined(__GNUC__)
    __asm__("vpdpbusd %[y]%{1to16%}, %[q], %[acc]" : [acc] "+v"(acc) : [q] "v"(q), [y] "m"(*(const int32_t *)(const void *)y));
    return acc;
#else
    return _mm512_dpbusd_epi32(acc, q, kp_b32(y));
#endif
}

/* NG (1..3) groups of 16 rows against NC tokens (kind: 0 Q4_0, 1 Q8_0, 4 Q5_0 with Q8_0
 * activations, 2 Q4_K, 3 Q6_K with Q8_K activations), in passes of up to
 * KP_CP tokens. Per 4-element slice a token's activation bytes are broadcast once and feed one
 * vpdpbusd per group, so three groups cut the broadcast loads per vpdpbusd to a third (the load ports, not
 * the multipliers, bound the one-group tile). Live: 2 * NG * KP_CP accumulators + NG quants. */
enum { KP_CP = 6, KP_CP3 = 4 };
_Static_assert(KP_CP == 6 && KP_CP3 == 4, "KP_CASES2 spells out the pass sizes 1..6 and 1..4");
AI void kp_group2(int kind, int NG, int nsb, const uint8_t *pk, size_t pgs, const uint8_t *x, size_t nbx,
                  const struct kern_aux *aux, size_t naux, const int NC, float *s, size_t lds) {
    const int q8a = kind <= 1 || kind == 4; /* Q8_0 activations, no extra */
    const size_t gb = q8a ? KP_B32 : KP_B32X, wo = q8a ? 64 : 128;
    const int CP = NG == 3 ? KP_CP3 : KP_CP;
    /* Q6_K: two halves of 16 elements, each with its own scale (scale / extra) and offset (o0 /
     * o1); the other types: one half of 32 */
    const int NH = kind == 3 ? 2 : 1, TH = 8 / NH;
    _Pragma("GCC unroll 4")
    for (int c0 = 0; c0 < NC; c0 += CP) {
        const int np = NC - c0 < CP ? NC - c0 : CP;
        __m512 acc[3][KP_CP];
        _Pragma("GCC unroll 16")
        for (int c = 0; c < np; c++) acc[0][c] = acc[1][c] = acc[2][c] = _mm512_setzero_ps();
        for (int i = 0; i < nsb; i++) {
            const uint8_t *g0 = pk + (size_t)i * gb, *g1 = g0 + pgs, *g2 = g1 + pgs;
            const int8_t *y[KP_CP];
            const struct kern_aux *a[KP_CP];
            _Pragma("GCC unroll 16")
            for (int c = 0; c < np; c++) {
                a[c] = aux + (size_t)(c0 + c) * naux + i;
                y[c] = q8a
                    ? (const int8_t *)(x + (size_t)(c0 + c) * nbx + (size_t)i * sizeof(block_q8_0) + offsetof(block_q8_0, qs))
                    : (const int8_t *)(x + (size_t)(c0 + c) * nbx + (size_t)(i / 8) * sizeof(block_q8_K) + offsetof(block_q8_K, qs)) + 32 * (i % 8);
            }
            _Pragma("GCC unroll 2")
            for (int hf = 0; hf < NH; hf++) {
                __m512i p[3][KP_CP];
                _Pragma("GCC unroll 16")
                for (int c = 0; c < np; c++) {
                    /* the offset of the unsigned quants: -8 (Q4_0, o0), -16 (Q5_0, 2 o0), -128 (Q8_0, o1) or
                     * Q6_K's -32 per half (o0, o1) times the activation sums; Q4_K's mins come later */
                    p[0][c] = _mm512_set1_epi32(kind == 0 || (kind == 3 && !hf) ? a[c]->o0
                                                : kind == 4                     ? 2 * a[c]->o0
                                                : kind == 1 || kind == 3        ? a[c]->o1
                                                                                : 0);
                    p[1][c] = p[2][c] = p[0][c];
                }
                _Pragma("GCC unroll 16")
                for (int t = hf * TH; t < hf * TH + TH; t++) {
                    const __m512i q0 = _mm512_loadu_si512(g0 + wo + 64 * t);
                    const __m512i q1 = NG > 1 ? _mm512_loadu_si512(g1 + wo + 64 * t) : q0;
                    const __m512i q2 = NG > 2 ? _mm512_loadu_si512(g2 + wo + 64 * t) : q0;
                    _Pragma("GCC unroll 16")
                    for (int c = 0; c < np; c++) {
                        if (NG > 1) {
                            const __m512i b = kp_b32(y[c] + 4 * t);
                            p[0][c] = _mm512_dpbusd_epi32(p[0][c], q0, b);
                            p[1][c] = _mm512_dpbusd_epi32(p[1][c], q1, b);
                            if (NG > 2) p[2][c] = _mm512_dpbusd_epi32(p[2][c], q2, b);
                        } else {
                            p[0][c] = kp_dpb(p[0][c], q0, y[c] + 4 * t);
                        }
                    }
                }
                _Pragma("GCC unroll 3")
                for (int h = 0; h < NG; h++) {
                    const uint8_t *g = h == 2 ? g2 : h ? g1 : g0;
                    const __m512 sc = _mm512_loadu_ps((const float *)(g + 64 * hf)); /* Q6_K: scale, then extra */
                    _Pragma("GCC unroll 16")
                    for (int c = 0; c < np; c++) {
                        acc[h][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[h][c]), _mm512_mul_ps(sc, _mm512_set1_ps(a[c]->d)), acc[h][c]);
                        if (kind == 2)
                            acc[h][c] = _mm512_fmadd_ps(_mm512_loadu_ps((const float *)(g + 64)), _mm512_set1_ps(a[c]->bdy), acc[h][c]);
                    }
                }
            }
        }
        _Pragma("GCC unroll 3")
        for (int h = 0; h < NG; h++) {
            _Pragma("GCC unroll 16")
            for (int c = 0; c < np; c++) _mm512_storeu_ps(s + (size_t)(c0 + c) * lds + 16 * h, acc[h][c]);
        }
    }
}

/* One pass of N <= KP_CP tokens (KP_CP3 for three groups) from token c0: the token count is a
 * compile-time constant only per pass, so each type instantiates 6 + 6 + 4 variants, not 3 x 16. */
#define KP_CASE2(NGV, N) case N: kp_group2(KIND, NGV, nsb, pk, pgs, x + (size_t)c0 * nbx, nbx, aux + (size_t)c0 * naux, naux, N, so + (size_t)c0 * lds, lds); break;
#define KP_CASES2(NGV)                                                                                     \
    for (int c0 = 0; c0 < nc; c0 += (NGV) == 3 ? KP_CP3 : KP_CP) {                                       \
        const int cp_ = (NGV) == 3 ? KP_CP3 : KP_CP, np_ = nc - c0 < cp_ ? nc - c0 : cp_;                 \
        switch (np_) {                                                                                     \
            KP_CASE2(NGV, 1) KP_CASE2(NGV, 2) KP_CASE2(NGV, 3)                                             \
            default: if ((NGV) == 3) { kp_group2(KIND, NGV, nsb, pk, pgs, x + (size_t)c0 * nbx, nbx,        \
                                                 aux + (size_t)c0 * naux, naux, KP_CP3, so + (size_t)c0 * lds, lds); break; } \
            switch (np_) { KP_CASE2(NGV, 4) KP_CASE2(NGV, 5) default: kp_group2(KIND, NGV, nsb, pk, pgs,   \
                x + (size_t)c0 * nbx, nbx, aux + (size_t)c0 * naux, naux, KP_CP, so + (size_t)c0 * lds, lds); break; } \
        }                                                                                                  \
    }
#define KP_TILE(NAME, KIND_, GB)                                                                           \
    void NAME(int k, const void *packed, int ng, const void *vx, size_t nbx, const struct kern_aux *aux,  \
              size_t naux, int nc, float *s, size_t lds) {                                                 \
        enum { KIND = KIND_ };                                                                             \
        const int nsb = k / 32;                                                                            \
        const size_t pgs = (size_t)nsb * (GB);                                                             \
        const uint8_t *x = vx;                                                                             \
        for (int gi = 0; gi < ng;) {                                                                       \
            const uint8_t *pk = (const uint8_t *)packed + (size_t)gi * pgs;                                \
            float *so = s + gi * KERN_PACK_R;                                                              \
            const int left = ng - gi;                                                                      \
            if (left >= 3) {                                                                               \
                KP_CASES2(3)                                                               \
                gi += 3;                                                                                   \
            } else if (left == 2) {                                                                        \
                KP_CASES2(2)                                                               \
                gi += 2;                                                                                   \
            } else {                                                                                       \
                KP_CASES2(1)                                                               \
                gi++;                                                                                      \
            }                                                                                              \
        }                                                                                                  \
    }
_Static_assert(KERN_TILE_C_MAX == 16 && KERN_PACK_R == 16, "the packed tiles do 16 rows x up to 16 tokens");

KP_TILE(kp_tile_q4_0, 0, KP_B32)
KP_TILE(kp_tile_q8_0, 1, KP_B32)
KP_TILE(kp_tile_q4_K, 2, KP_B32X)
KP_TILE(kp_tile_q6_K, 3, KP_B32X)
KP_TILE(kp_tile_q5_0, 4, KP_B32)
