/* Tests of the tensor types (src/quant/qtypes.c): block sizes against the GGUF format, half/bfloat
 * conversion (exhaustive over all halves), hand-built blocks decoded from the format description
 * and against values ggml's dequantize_row_* gives, quantizer and dot-product results against
 * ggml's reference (hashes and values produced by ggml-quants.c on the same inputs), round-trip
 * error bounds, vec_dot against dequantized dots, and the real GGUF files in shared/models.
 * The ggml numbers come from a one-off program linking ggml-quants.c and ggml-cpu/quants.c of
 * llama.cpp 80fb11ac (node-llama-cpp 3.21.1) with this file's hand_block and golden_data. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "quant/qtypes.h"
#include "testutil.h"

static const uint32_t all_types[] = {
    QT_F32, QT_F16, QT_BF16, QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1, QT_Q8_0, QT_Q8_1,
    QT_Q2_K, QT_Q3_K, QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_Q8_K, QT_IQ4_NL, QT_IQ4_XS,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Deterministic data from integer arithmetic only, so every platform sees the same floats:
 * a sum of four uniforms (about normal, std 1), with every 37th value a 6x outlier. */
static uint32_t rng_next(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s; }
static float rng_uniform(uint32_t *s) { return (float)(rng_next(s) >> 8) * (1.0f / 16777216.0f); }
static void fill_data_ex(float *x, int n, uint32_t seed, float outlier) {
    uint32_t s = seed;
    for (int i = 0; i < n; i++) {
        float a = rng_uniform(&s) + rng_uniform(&s) + rng_uniform(&s) + rng_uniform(&s);
        x[i] = (a - 2.0f) * 1.7320508f * (i % 37 == 5 ? outlier : 1.0f);
    }
}
static void fill_data(float *x, int n, uint32_t seed) { fill_data_ex(x, n, seed, 6.0f); }

static uint64_t fnv64(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 1099511628211ull; }
    return h;
}

/* ---------------------------------------------------------------- traits */

static void test_traits(void) {
    /* bytes per block and elements per block as the GGUF format defines them */
    static const struct { uint32_t t, id; const char *name; int blck; size_t size; } want[] = {
        {QT_F32, 0, "f32", 1, 4}, {QT_F16, 1, "f16", 1, 2}, {QT_BF16, 30, "bf16", 1, 2},
        {QT_Q4_0, 2, "q4_0", 32, 18}, {QT_Q4_1, 3, "q4_1", 32, 20}, {QT_Q5_0, 6, "q5_0", 32, 22},
        {QT_Q5_1, 7, "q5_1", 32, 24}, {QT_Q8_0, 8, "q8_0", 32, 34}, {QT_Q8_1, 9, "q8_1", 32, 36},
        {QT_Q2_K, 10, "q2_K", 256, 84}, {QT_Q3_K, 11, "q3_K", 256, 110}, {QT_Q4_K, 12, "q4_K", 256, 144},
        {QT_Q5_K, 13, "q5_K", 256, 176}, {QT_Q6_K, 14, "q6_K", 256, 210}, {QT_Q8_K, 15, "q8_K", 256, 292},
        {QT_IQ4_NL, 20, "iq4_nl", 32, 18}, {QT_IQ4_XS, 23, "iq4_xs", 256, 136},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct qtype_traits *tt = qtype_get(want[i].t);
        CHECKF(want[i].t == want[i].id, "enum value of %s", want[i].name);
        CHECKF(tt && tt->blck_size == want[i].blck && tt->type_size == want[i].size, "%s size", want[i].name);
        CHECKF(qtype_name(want[i].t) && !strcmp(qtype_name(want[i].t), want[i].name), "%s name", want[i].name);
        if (!tt) continue;
        CHECKF(tt->to_float && tt->from_float, "%s has to_float/from_float", want[i].name);
        CHECKF(tt->is_quantized == (want[i].blck > 1), "%s is_quantized", want[i].name);
        CHECKF(qtype_row_size(want[i].t, 4096) == 4096 / (size_t)want[i].blck * want[i].size, "%s row size", want[i].name);
        CHECKF(want[i].blck == 1 || qtype_row_size(want[i].t, want[i].blck + 1) == 0, "%s partial block", want[i].name);
        CHECK(qtype_row_size(want[i].t, -want[i].blck) == 0);
        int act = want[i].t == QT_Q8_1 || want[i].t == QT_Q8_K;
        CHECKF(act ? tt->vec_dot == NULL : tt->vec_dot != NULL, "%s vec_dot", want[i].name);
    }
    static const struct { uint32_t w, a; } vdt[] = {
        {QT_F32, QT_F32}, {QT_F16, QT_F16}, {QT_BF16, QT_BF16}, {QT_Q4_0, QT_Q8_0}, {QT_Q4_1, QT_Q8_1},
        {QT_Q5_0, QT_Q8_0}, {QT_Q5_1, QT_Q8_1}, {QT_Q8_0, QT_Q8_0}, {QT_Q2_K, QT_Q8_K}, {QT_Q3_K, QT_Q8_K},
        {QT_Q4_K, QT_Q8_K}, {QT_Q5_K, QT_Q8_K}, {QT_Q6_K, QT_Q8_K}, {QT_IQ4_NL, QT_Q8_0}, {QT_IQ4_XS, QT_Q8_K},
    };
    for (size_t i = 0; i < sizeof vdt / sizeof vdt[0]; i++)
        CHECKF(qtype_get(vdt[i].w)->vec_dot_type == vdt[i].a, "vec_dot_type of %s", qtype_name(vdt[i].w));
    /* GGML types known by layout only (sizes from the GGUF format): no arithmetic, but a file
     * holding them parses and its data ranges can be checked */
    static const struct { uint32_t t; int blk; size_t size; } layout_only[] = {
        {16, 256, 66}, {17, 256, 74}, {18, 256, 98}, {19, 256, 50}, {21, 256, 110}, {22, 256, 82}, {24, 1, 1},
        {25, 1, 2}, {26, 1, 4}, {27, 1, 8}, {28, 1, 8}, {29, 256, 56}, {34, 256, 54}, {35, 256, 66}, {39, 32, 17},
    };
    for (size_t i = 0; i < sizeof layout_only / sizeof layout_only[0]; i++) {
        const struct qtype_traits *tt = qtype_get(layout_only[i].t);
        CHECKF(tt && tt->blck_size == layout_only[i].blk && tt->type_size == layout_only[i].size && !tt->to_float &&
               !tt->vec_dot && qtype_row_size(layout_only[i].t, 256 * 32) == 256 * 32 / (size_t)layout_only[i].blk * layout_only[i].size,
               "layout-only type %u", layout_only[i].t);
    }
    /* every other id, including huge ones, is unknown and harmless */
    int unknown_ok = 1, n_known = 0;
    for (uint64_t t = 0; t < 100000; t++) {
        int known = 0, layout = 0;
        for (size_t i = 0; i < N_TYPES; i++) known |= all_types[i] == t;
        for (size_t i = 0; i < sizeof layout_only / sizeof layout_only[0]; i++) layout |= layout_only[i].t == t;
        if (layout) continue;
        n_known += known;
        if (!known && (qtype_get((uint32_t)t) || qtype_name((uint32_t)t) || qtype_row_size((uint32_t)t, 256))) unknown_ok = 0;
    }
    static const uint32_t big[] = {QT_COUNT, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        if (qtype_get(big[i]) || qtype_name(big[i]) || qtype_row_size(big[i], 256)) unknown_ok = 0;
    CHECK(unknown_ok);
    CHECK(qtype_row_size(QT_F32, INT64_MAX) == 0 && qtype_row_size(QT_F32, (int64_t)1 << 62) == 0); /* overflow */
    if (SIZE_MAX > UINT32_MAX) CHECK(qtype_row_size(QT_F16, (int64_t)1 << 62) == (size_t)1 << 62 << 1);
    CHECK(qtype_row_size(QT_F32, 0) == 0 && qtype_row_size(QT_Q8_0, (int64_t)1 << 40) == ((size_t)1 << 35) * 34);
    CHECK(n_known == (int)N_TYPES);
    CHECK(kvalues_iq4nl[0] == -127 && kvalues_iq4nl[7] == -10 && kvalues_iq4nl[8] == 1 && kvalues_iq4nl[15] == 113);
}

/* ---------------------------------------------------------------- half and bfloat */

static void test_fp16(void) {
    static const struct { uint16_t h; float f; } known[] = {
        {0x0000, 0.0f}, {0x3c00, 1.0f}, {0xc000, -2.0f}, {0x7bff, 65504.0f}, {0xfbff, -65504.0f},
        {0x0001, 5.9604644775390625e-8f}, {0x03ff, 6.0975551605224609e-5f}, {0x0400, 6.103515625e-5f},
        {0x3555, 0.333251953125f}, {0x3bff, 0.99951171875f}, {0x3c01, 1.0009765625f}, {0x5640, 100.0f},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        CHECKF(fp16_to_f32(known[i].h) == known[i].f, "h2f %04x", known[i].h);
        CHECKF(f32_to_fp16(known[i].f) == known[i].h, "f2h %g", known[i].f);
    }
    CHECK(f2u(fp16_to_f32(0x8000)) == 0x80000000u);
    CHECK(isinf(fp16_to_f32(0x7c00)) && fp16_to_f32(0x7c00) > 0);
    CHECK(isinf(fp16_to_f32(0xfc00)) && fp16_to_f32(0xfc00) < 0);
    CHECK(isnan(fp16_to_f32(0x7e00)) && isnan(fp16_to_f32(0x7c01)) && isnan(fp16_to_f32(0xfe00)));
    CHECK(f32_to_fp16(-0.0f) == 0x8000);
    CHECK(f32_to_fp16(INFINITY) == 0x7c00 && f32_to_fp16(-INFINITY) == 0xfc00);
    CHECK(f32_to_fp16(1e10f) == 0x7c00 && f32_to_fp16(-1e10f) == 0xfc00);
    CHECK(f32_to_fp16(65519.99f) == 0x7bff);   /* just below the halfway point to 65536 */
    CHECK(f32_to_fp16(65520.0f) == 0x7c00);    /* halfway: ties to even = inf */
    uint16_t hn = f32_to_fp16(NAN);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff));
    uint16_t hsn = f32_to_fp16(u2f(0xff800001u)); /* signalling nan with a low payload stays nan */
    CHECK((hsn & 0x7c00) == 0x7c00 && (hsn & 0x3ff) && (hsn & 0x8000));
    /* ties to even, in the normal and subnormal range */
    CHECK(f32_to_fp16(1.0f + 0x1p-11f) == 0x3c00);
    CHECK(f32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3c02);
    CHECK(f32_to_fp16(0x1p-25f) == 0x0000);
    CHECK(f32_to_fp16(3 * 0x1p-25f) == 0x0002);
    CHECK(f32_to_fp16(0x1p-14f - 0x1p-25f) == 0x0400); /* subnormal/normal boundary */
    CHECK(f32_to_fp16(1e-8f) == 0 && f32_to_fp16(3e-8f) == 1 && f32_to_fp16(1e-30f) == 0);
    CHECK(f32_to_fp16(u2f(1)) == 0); /* f32 subnormal */

    /* exhaustive: every non-nan half survives f16 -> f32 -> f16, and the values between
     * neighbours round to the nearer one, ties to the even one */
    int ident = 1, ties = 1, order = 1;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_f32((fp16_t)h);
        if (isnan(f)) { if (!isnan(fp16_to_f32(f32_to_fp16(f)))) ident = 0; continue; }
        if (f32_to_fp16(f) != h) ident = 0;
        uint32_t mag = h & 0x7fff;
        if (mag >= 0x7bff) continue; /* next is inf */
        float g = fp16_to_f32((fp16_t)(h + 1));
        if (!(fabsf(g) > fabsf(f))) order = 0;
        float mid = (f + g) / 2; /* exact: halves have at most 11 significant bits */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        if (f32_to_fp16(mid) != even) ties = 0;
        if (f32_to_fp16(nextafterf(mid, 0)) != h) ties = 0;
        if (f32_to_fp16(nextafterf(mid, f > 0 || h == 0 ? INFINITY : -INFINITY)) != h + 1) ties = 0;
    }
    CHECK(ident);
    CHECK(ties);
    CHECK(order);

    /* bfloat16 */
    CHECK(bf16_to_f32(0x3f80) == 1.0f && bf16_to_f32(0xc040) == -3.0f && bf16_to_f32(0x0000) == 0.0f);
    CHECK(bf16_to_f32(0x0001) == 0x1p-133f && isinf(bf16_to_f32(0x7f80)) && isnan(bf16_to_f32(0x7fc0)));
    CHECK(f32_to_bf16(1.0f) == 0x3f80 && f32_to_bf16(-3.0f) == 0xc040);
    CHECK(f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);            /* tie -> even */
    CHECK(f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);        /* tie -> even (up) */
    CHECK(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81); /* above the tie */
    CHECK(f32_to_bf16(u2f(0x7f7fffffu)) == 0x7f80);          /* FLT_MAX rounds to inf */
    CHECK(f32_to_bf16(INFINITY) == 0x7f80 && f32_to_bf16(-0.0f) == 0x8000);
    CHECK(f32_to_bf16(u2f(0x7fc00001u)) == 0x7fc0);          /* nan stays nan, never inf */
    CHECK(f32_to_bf16(u2f(0x7f800001u)) == 0x7fc0);          /* signalling nan is quieted */
    CHECK(f32_to_bf16(u2f(0xff810000u)) == 0xffc1);          /* sign and payload kept */
    CHECK(f32_to_bf16(u2f(0x7f80ffffu)) == 0x7fc0);
    int bf_ident = 1;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bf16_to_f32((bf16_t)h);
        if (!isnan(f) && f32_to_bf16(f) != h) bf_ident = 0;
    }
    CHECK(bf_ident);
}

/* ---------------------------------------------------------------- hand-built blocks */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static double h2d(const uint8_t *p) { return fp16_to_f32(rd16(p)); }

/* A block of type t with a fixed byte pattern; fp16 scale fields get chosen values (offsets
 * from the GGUF block layouts). Returns the elements per block. */
static int hand_block(uint32_t t, uint8_t *b) {
    const struct qtype_traits *tt = qtype_get(t);
    for (size_t i = 0; i < tt->type_size; i++) b[i] = (uint8_t)(i * 37 + 11 + (i >> 3));
    switch (t) {
    case QT_F32: memcpy(b, &(float){-1.5f}, 4); break;
    case QT_F16: wr16(b, 0xb555); break;
    case QT_BF16: wr16(b, 0xbfa0); break;
    case QT_Q4_0: case QT_Q5_0: case QT_Q8_0: case QT_IQ4_NL: wr16(b, 0x3800); break; /* d = 0.5 */
    case QT_Q4_1: case QT_Q5_1: wr16(b, 0x3400); wr16(b + 2, 0xc100); break;        /* 0.25, -2.5 */
    case QT_Q8_1: wr16(b, 0x2c00); break;
    case QT_Q2_K: wr16(b + 80, 0x3c00); wr16(b + 82, 0x3400); break;                /* d 1, dmin 0.25 */
    case QT_Q3_K: wr16(b + 108, 0x3800); break;
    case QT_Q4_K: case QT_Q5_K: wr16(b, 0x3400); wr16(b + 2, 0x3000); break;        /* 0.25, 0.125 */
    case QT_Q6_K: wr16(b + 208, 0x3400); break;
    case QT_Q8_K: memcpy(b, &(float){0.03125f}, 4); break;
    case QT_IQ4_XS: wr16(b, 0x3400); break;
    }
    return tt->blck_size;
}

/* Element e of a hand block, decoded straight from the format description (byte offsets). */
static double hand_expect(uint32_t t, const uint8_t *b, int e) {
    int q, sc, m;
    switch (t) {
    case QT_F32: { float f; memcpy(&f, b, 4); return f; }
    case QT_F16: return h2d(b);
    case QT_BF16: return bf16_to_f32(rd16(b));
    case QT_Q4_0: q = e < 16 ? b[2 + e] & 15 : b[2 + e - 16] >> 4; return (q - 8) * h2d(b);
    case QT_IQ4_NL: q = e < 16 ? b[2 + e] & 15 : b[2 + e - 16] >> 4; return kvalues_iq4nl[q] * h2d(b);
    case QT_Q4_1: q = e < 16 ? b[4 + e] & 15 : b[4 + e - 16] >> 4; return q * h2d(b) + h2d(b + 2);
    case QT_Q5_0:
        q = (e < 16 ? b[6 + e] & 15 : b[6 + e - 16] >> 4) | ((b[2 + e / 8] >> (e % 8)) & 1) << 4;
        return (q - 16) * h2d(b);
    case QT_Q5_1:
        q = (e < 16 ? b[8 + e] & 15 : b[8 + e - 16] >> 4) | ((b[4 + e / 8] >> (e % 8)) & 1) << 4;
        return q * h2d(b) + h2d(b + 2);
    case QT_Q8_0: return (int8_t)b[2 + e] * h2d(b);
    case QT_Q8_1: return (int8_t)b[4 + e] * h2d(b);
    case QT_Q8_K: { float d; memcpy(&d, b, 4); return (int8_t)b[4 + e] * (double)d; }
    case QT_Q2_K: /* scales[16] qs[64] d dmin */
        q = (b[16 + 32 * (e / 128) + e % 32] >> (2 * (e / 32 % 4))) & 3;
        sc = b[e / 16];
        return h2d(b + 80) * (sc & 15) * q - h2d(b + 82) * (sc >> 4);
    case QT_Q3_K: { /* hmask[32] qs[64] scales[12] d */
        int s = e / 16;
        q = ((b[32 + 32 * (e / 128) + e % 32] >> (2 * (e / 32 % 4))) & 3) - ((b[e % 32] >> (e / 32)) & 1 ? 0 : 4);
        sc = (s < 8 ? b[96 + s] & 15 : b[96 + s - 8] >> 4) | ((b[96 + 8 + s % 4] >> (2 * (s / 4))) & 3) << 4;
        return h2d(b + 108) * (sc - 32) * q;
    }
    case QT_Q4_K: case QT_Q5_K: { /* d dmin scales[12] (qh[32]) qs[128] */
        const uint8_t *s = b + 4, *qs = b + (t == QT_Q5_K ? 48 : 16);
        int j = e / 32;
        sc = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        q = (qs[32 * (e / 64) + e % 32] >> (e % 64 < 32 ? 0 : 4)) & 15;
        if (t == QT_Q5_K) q |= ((b[16 + e % 32] >> (e / 32)) & 1) << 4;
        return h2d(b) * sc * q - h2d(b + 2) * m;
    }
    case QT_Q6_K: { /* ql[128] qh[64] scales[16] d */
        int g = e / 128, r = e % 128;
        int lo = (b[64 * g + r % 64] >> (r < 64 ? 0 : 4)) & 15;
        int hi = (b[128 + 32 * g + r % 32] >> (2 * (r / 32))) & 3;
        return h2d(b + 208) * (int8_t)b[192 + e / 16] * ((lo | hi << 4) - 32);
    }
    case QT_IQ4_XS: { /* d scales_h scales_l[4] qs[128] */
        int ib = e / 32, r = e % 32;
        sc = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 15) | ((rd16(b + 2) >> (2 * ib)) & 3) << 4;
        q = (b[8 + 16 * ib + r % 16] >> (r < 16 ? 0 : 4)) & 15;
        return h2d(b) * (sc - 32) * kvalues_iq4nl[q];
    }
    }
    return NAN;
}

/* What ggml's dequantize_row_* gives for the hand blocks (printed from ggml-quants.c). */
static const struct { uint32_t t; int e; float v; } ggml_hand[] = {
    {QT_F16, 0, -0x1.554p-2f},
    {QT_Q4_0, 0, -0x1.8p+0f}, {QT_Q4_0, 1, 0x1p+0f}, {QT_Q4_0, 7, 0x1p-1f}, {QT_Q4_0, 15, -0x1.8p+1f},
    {QT_Q4_0, 16, -0x1.8p+0f}, {QT_Q4_0, 17, -0x1p-1f}, {QT_Q4_0, 30, -0x1.8p+0f}, {QT_Q4_0, 31, 0x0p+0f},
    {QT_Q4_1, 0, 0x1.4p+0f}, {QT_Q4_1, 1, -0x1.8p+0f}, {QT_Q4_1, 7, -0x1.cp+0f}, {QT_Q4_1, 15, 0x1p-1f},
    {QT_Q4_1, 16, -0x1p-2f}, {QT_Q4_1, 17, 0x1p-1f}, {QT_Q4_1, 30, 0x0p+0f}, {QT_Q4_1, 31, 0x1p-1f},
    {QT_Q5_0, 0, 0x1.2p+2f}, {QT_Q5_0, 1, -0x1p+0f}, {QT_Q5_0, 7, -0x1.8p+0f}, {QT_Q5_0, 15, -0x1.4p+2f},
    {QT_Q5_0, 16, 0x1.cp+2f}, {QT_Q5_0, 17, 0x0p+0f}, {QT_Q5_0, 30, 0x1.ep+2f}, {QT_Q5_0, 31, 0x1p-1f},
    {QT_Q5_1, 0, 0x1.4p+1f}, {QT_Q5_1, 1, 0x1.ep+1f}, {QT_Q5_1, 7, 0x1.ap+1f}, {QT_Q5_1, 15, 0x1.8p+0f},
    {QT_Q5_1, 16, 0x1.2p+1f}, {QT_Q5_1, 17, -0x1.4p+0f}, {QT_Q5_1, 30, -0x1.cp+0f}, {QT_Q5_1, 31, -0x1p+0f},
    {QT_Q8_0, 0, 0x1.54p+5f}, {QT_Q8_0, 1, 0x1.e8p+5f}, {QT_Q8_0, 7, 0x1.64p+5f}, {QT_Q8_0, 15, -0x1.f8p+5f},
    {QT_Q8_0, 16, -0x1.64p+5f}, {QT_Q8_0, 17, -0x1.ap+4f}, {QT_Q8_0, 30, -0x1.44p+5f}, {QT_Q8_0, 31, -0x1.6p+4f},
    {QT_Q2_K, 0, 0x1.6p+3f}, {QT_Q2_K, 1, 0x1.6p+4f}, {QT_Q2_K, 15, 0x1.6p+3f}, {QT_Q2_K, 16, -0x1.8p-1f},
    {QT_Q2_K, 31, -0x1.8p-1f}, {QT_Q2_K, 32, 0x1.b8p+3f}, {QT_Q2_K, 63, 0x1.24p+4f}, {QT_Q2_K, 64, 0x1.98p+3f},
    {QT_Q2_K, 100, 0x1.78p+4f}, {QT_Q2_K, 127, 0x1.5p+5f}, {QT_Q2_K, 128, 0x1.ap+1f}, {QT_Q2_K, 129, 0x1.dp+2f},
    {QT_Q2_K, 191, 0x1.ap+2f}, {QT_Q2_K, 200, 0x1.ap+3f}, {QT_Q2_K, 224, -0x1p-2f}, {QT_Q2_K, 255, 0x1.9p+2f},
    {QT_Q3_K, 0, -0x1.2cp+5f}, {QT_Q3_K, 1, 0x1.9p+5f}, {QT_Q3_K, 15, -0x1.2cp+5f}, {QT_Q3_K, 16, -0x1p+1f},
    {QT_Q3_K, 31, -0x1p+1f}, {QT_Q3_K, 32, 0x1.8p+0f}, {QT_Q3_K, 63, -0x1.6p+3f}, {QT_Q3_K, 64, 0x1.5p+4f},
    {QT_Q3_K, 100, 0x1.4p+1f}, {QT_Q3_K, 127, 0x0p+0f}, {QT_Q3_K, 128, -0x1.ep+2f}, {QT_Q3_K, 129, 0x0p+0f},
    {QT_Q3_K, 191, 0x1.ap+5f}, {QT_Q3_K, 200, 0x1.8p+3f}, {QT_Q3_K, 224, 0x1.2p+2f}, {QT_Q3_K, 255, 0x1.68p+4f},
    {QT_Q4_K, 0, 0x1.79p+6f}, {QT_Q4_K, 1, 0x1.2p+3f}, {QT_Q4_K, 15, 0x1.fap+5f}, {QT_Q4_K, 16, 0x1.b7p+6f},
    {QT_Q4_K, 31, 0x1.3bp+6f}, {QT_Q4_K, 32, 0x1.ep+0f}, {QT_Q4_K, 63, 0x1.3cp+3f}, {QT_Q4_K, 64, 0x1.4p+1f},
    {QT_Q4_K, 100, 0x1.b2p+4f}, {QT_Q4_K, 127, 0x1.42p+4f}, {QT_Q4_K, 128, 0x1.84p+5f}, {QT_Q4_K, 129, 0x1.8ap+6f},
    {QT_Q4_K, 191, 0x1.acp+4f}, {QT_Q4_K, 200, 0x1.6ep+4f}, {QT_Q4_K, 224, 0x1.5p+1f}, {QT_Q4_K, 255, 0x1.0ap+4f},
    {QT_Q5_K, 0, 0x1.f5p+6f}, {QT_Q5_K, 1, 0x1.4p+5f}, {QT_Q5_K, 15, 0x1.b48p+7f}, {QT_Q5_K, 16, 0x1.198p+7f},
    {QT_Q5_K, 31, 0x1.d38p+7f}, {QT_Q5_K, 32, -0x1.9p+1f}, {QT_Q5_K, 63, 0x1.3ep+4f}, {QT_Q5_K, 64, 0x1.9fp+7f},
    {QT_Q5_K, 100, 0x1.88p+2f}, {QT_Q5_K, 127, 0x1.d5p+5f}, {QT_Q5_K, 128, 0x1.f1p+7f}, {QT_Q5_K, 129, 0x1.15p+7f},
    {QT_Q5_K, 191, 0x1.668p+7f}, {QT_Q5_K, 200, 0x1.238p+6f}, {QT_Q5_K, 224, 0x1.42p+4f}, {QT_Q5_K, 255, 0x1.11p+5f},
    {QT_Q6_K, 0, -0x1.878p+7f}, {QT_Q6_K, 1, 0x1.dp+7f}, {QT_Q6_K, 15, -0x1.4d8p+7f}, {QT_Q6_K, 16, -0x1.8p+2f},
    {QT_Q6_K, 31, -0x1.cp+3f}, {QT_Q6_K, 32, 0x1.518p+7f}, {QT_Q6_K, 63, 0x1.0a8p+8f}, {QT_Q6_K, 64, -0x1.dcp+8f},
    {QT_Q6_K, 100, 0x1.b9p+8f}, {QT_Q6_K, 127, 0x1.86p+7f}, {QT_Q6_K, 128, 0x1.c8p+5f}, {QT_Q6_K, 129, -0x1.2p+6f},
    {QT_Q6_K, 191, 0x1.42ep+9f}, {QT_Q6_K, 200, -0x1.5p+7f}, {QT_Q6_K, 224, 0x1.76p+6f}, {QT_Q6_K, 255, 0x1.a4p+4f},
    {QT_Q8_K, 0, -0x1.84p+1f}, {QT_Q8_K, 1, -0x1.ep+0f}, {QT_Q8_K, 15, -0x1.ap+0f}, {QT_Q8_K, 16, -0x1.ep-2f},
    {QT_Q8_K, 31, 0x1.ep-1f}, {QT_Q8_K, 32, 0x1.0cp+1f}, {QT_Q8_K, 63, -0x1.fp+0f}, {QT_Q8_K, 64, -0x1.9p-1f},
    {QT_Q8_K, 100, 0x1p+0f}, {QT_Q8_K, 127, 0x1.4p-2f}, {QT_Q8_K, 128, 0x1.78p+0f}, {QT_Q8_K, 129, 0x1.5p+1f},
    {QT_Q8_K, 191, 0x1.48p+1f}, {QT_Q8_K, 200, -0x1.8p+1f}, {QT_Q8_K, 224, 0x1.bp-1f}, {QT_Q8_K, 255, -0x1.98p+1f},
    {QT_IQ4_NL, 0, -0x1.18p+4f}, {QT_IQ4_NL, 1, 0x1.9p+3f}, {QT_IQ4_NL, 7, 0x1.ap+2f}, {QT_IQ4_NL, 15, -0x1.4cp+5f},
    {QT_IQ4_NL, 16, -0x1.18p+4f}, {QT_IQ4_NL, 17, -0x1.4p+2f}, {QT_IQ4_NL, 30, -0x1.18p+4f}, {QT_IQ4_NL, 31, 0x1p-1f},
    {QT_IQ4_XS, 0, 0x1.88p+3f}, {QT_IQ4_XS, 1, -0x1.ap+1f}, {QT_IQ4_XS, 15, 0x1.fcp+4f}, {QT_IQ4_XS, 16, 0x1.04p+4f},
    {QT_IQ4_XS, 31, 0x1.6p+2f}, {QT_IQ4_XS, 32, 0x1.34p+5f}, {QT_IQ4_XS, 63, -0x1.0ap+6f}, {QT_IQ4_XS, 64, -0x1.8p+1f},
    {QT_IQ4_XS, 100, -0x1.64p+6f}, {QT_IQ4_XS, 127, 0x1.18p+5f}, {QT_IQ4_XS, 128, 0x1.ddp+6f}, {QT_IQ4_XS, 129, -0x1.d4p+7f},
    {QT_IQ4_XS, 191, 0x1.8b8p+8f}, {QT_IQ4_XS, 200, 0x1.86p+6f}, {QT_IQ4_XS, 224, 0x1.4cp+8f}, {QT_IQ4_XS, 255, -0x1.ap+5f},
};

static void test_hand_blocks(void) {
    uint8_t b[512];
    float y[256];
    for (size_t i = 0; i < N_TYPES; i++) {
        uint32_t t = all_types[i];
        int n = hand_block(t, b), bad = 0;
        qtype_get(t)->to_float(b, y, n);
        for (int e = 0; e < n; e++) {
            double want = hand_expect(t, b, e);
            if (!(fabs(y[e] - want) <= 1e-6 * fabs(want) + 1e-12)) {
                if (bad++ < 3) fprintf(stderr, "%s element %d: %.9g, expected %.9g\n", qtype_name(t), e, y[e], want);
            }
        }
        CHECKF(!bad, "%s hand block: %d elements differ", qtype_name(t), bad);
    }
    int n_ggml = 0;
    for (size_t i = 0; i < sizeof ggml_hand / sizeof ggml_hand[0]; i++) {
        int n = hand_block(ggml_hand[i].t, b);
        qtype_get(ggml_hand[i].t)->to_float(b, y, n);
        CHECKF(f2u(y[ggml_hand[i].e]) == f2u(ggml_hand[i].v), "%s element %d: %.9g, ggml %.9g",
               qtype_name(ggml_hand[i].t), ggml_hand[i].e, y[ggml_hand[i].e], ggml_hand[i].v);
        n_ggml++;
    }
    CHECK(n_ggml > 100);
}

/* ---------------------------------------------------------------- against ggml's reference
 * For each type: fnv64 of the bytes ggml's reference quantizer (quantize_row_*_ref; for IQ4_NL
 * quantize_iq4_nl as llama-quantize calls it) writes for the row x of golden_data, and the
 * float bits ggml's generic vec_dot gives for it against y quantized to the vec_dot type. */
static const struct { uint32_t t; uint64_t hash; uint32_t dot; } ggml_golden[] = {
    {QT_Q4_0, 0xcaaa7ce11a0c5cb6ull, 0x434ba053u},
    {QT_Q4_1, 0x9c98b20136837081ull, 0x43448a47u},
    {QT_Q5_0, 0xb19ca7ea37f4f057ull, 0x4349533au},
    {QT_Q5_1, 0x83c916ba3cf092c2ull, 0x434d5e8fu},
    {QT_Q8_0, 0x3d3ea11abc198348ull, 0x43484928u},
    {QT_Q8_1, 0xabd35c189147ed19ull, 0x00000000u},
    {QT_Q2_K, 0xa7464c2efb6b4982ull, 0x437f4b5au},
    {QT_Q3_K, 0xb4a58d64bbcc3d32ull, 0x43301c71u},
    {QT_Q4_K, 0x7d0849fd1ef7b2b4ull, 0x43421005u},
    {QT_Q5_K, 0x38f2e325b3ad0ac5ull, 0x434a846cu},
    {QT_Q6_K, 0xe884ea58a7960faeull, 0x434b3b66u},
    {QT_Q8_K, 0x30e3eb3b95f1ffabull, 0x00000000u},
    {QT_IQ4_NL, 0x6276a31978f9d814ull, 0x43369742u},
    {QT_IQ4_XS, 0x2bc919cceff7d82dull, 0x432fd069u},
};

/* Four quarters: with outliers, plain, on a 0.25 grid (ties in every search), asymmetric. */
static void golden_data(float *x, float *y, int n) {
    int q = n / 4;
    fill_data(x, q, 7);
    fill_data_ex(x + q, q, 9, 1.0f);
    fill_data_ex(x + 2 * q, q, 11, 1.0f);
    for (int i = 2 * q; i < 3 * q; i++) x[i] = (float)(int)(x[i] * 4) * 0.25f;
    uint32_t s = 13;
    for (int i = 3 * q; i < n; i++) x[i] = rng_uniform(&s) * 4 - 1;
    fill_data(y, n, 8);
}

static void test_ggml_golden(void) {
    enum { N = 8192 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    uint8_t *qx = malloc(N * 4), *qy = malloc(N * 4);
    golden_data(x, y, N);
    for (size_t i = 0; i < sizeof ggml_golden / sizeof ggml_golden[0]; i++) {
        const struct qtype_traits *tt = qtype_get(ggml_golden[i].t);
        tt->from_float(x, qx, N);
        CHECKF(fnv64(qx, qtype_row_size(ggml_golden[i].t, N)) == ggml_golden[i].hash, "%s quantization differs from ggml", tt->name);
        if (!tt->vec_dot) continue;
        qtype_get(tt->vec_dot_type)->from_float(y, qy, N);
        float s = 0;
        tt->vec_dot(N, &s, qx, qy);
        CHECKF(f2u(s) == ggml_golden[i].dot, "%s vec_dot %.9g, ggml %.9g", tt->name, s, u2f(ggml_golden[i].dot));
    }
    /* the activation quantizers by their defining formulas */
    block_q8_0 b0;
    block_q8_1 b1;
    block_q8_K bk;
    float z[256];
    for (int j = 0; j < 256; j++) z[j] = (float)(j % 32) - 10.25f;
    z[3] = 25.4f;
    z[200] = -63.5f;
    qtype_get(QT_Q8_0)->from_float(z, &b0, 32);
    CHECK(b0.d == f32_to_fp16(25.4f / 127));
    CHECK(b0.qs[3] == 127 && b0.qs[0] == (int8_t)roundf(-10.25f * (1.0f / (25.4f / 127))) && b0.qs[0] == -51);
    qtype_get(QT_Q8_1)->from_float(z, &b1, 32);
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += b1.qs[j];
    CHECK(b1.d == b0.d && !memcmp(b1.qs, b0.qs, 32) && b1.s == f32_to_fp16(sum * (25.4f / 127)));
    qtype_get(QT_Q8_K)->from_float(z, &bk, 256);
    /* d = max / -127 with max the signed extreme (-63.5): the extreme always lands on -127 */
    CHECK(bk.d == 0.5f && bk.qs[200] == -127 && bk.qs[3] == 51 && bk.qs[0] == -20); /* -20.5 -> even */
    int bs_ok = 1;
    for (int g = 0; g < 16; g++) {
        int s16 = 0;
        for (int j = 0; j < 16; j++) s16 += bk.qs[16 * g + j];
        bs_ok &= bk.bsums[g] == s16;
    }
    CHECK(bs_ok);
    for (int j = 0; j < 256; j++) z[j] = -z[j];
    qtype_get(QT_Q8_K)->from_float(z, &bk, 256);
    CHECK(bk.d == -0.5f && bk.qs[200] == -127 && bk.qs[3] == 51 && bk.qs[0] == -20);
    free(x); free(y); free(qx); free(qy);
}

/* ---------------------------------------------------------------- round trip and vec_dot */

static double rel_rms(const float *a, const float *b, int64_t n) {
    double se = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) { se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]); ss += (double)a[i] * a[i]; }
    return ss > 0 ? sqrt(se / ss) : sqrt(se);
}

/* Upper bounds on RMS(error)/RMS(data) for normal-like data and real weights (measured with
 * llama-quantize's files: q8_0 0.005, q6_K 0.018, q5_K 0.036, q5_0 0.041, q4_K 0.071, q4_1 0.078,
 * iq4 0.077, q4_0 0.086, q3_K 0.152, q2_K 0.30). Data with outliers may take twice as much. */
static double err_bound(uint32_t t) {
    switch (t) {
    case QT_F32: return 0;
    case QT_F16: return 5e-4;
    case QT_BF16: return 4e-3;
    case QT_Q8_0: case QT_Q8_1: case QT_Q8_K: return 0.01;
    case QT_Q6_K: return 0.025;
    case QT_Q5_K: case QT_Q5_1: return 0.05;
    case QT_Q5_0: return 0.055;
    case QT_Q4_K: return 0.09;
    case QT_Q4_1: case QT_IQ4_NL: case QT_IQ4_XS: return 0.1;
    case QT_Q4_0: return 0.11;
    case QT_Q3_K: return 0.19;
    case QT_Q2_K: return 0.36;
    }
    return 0;
}

static void test_roundtrip(void) {
    enum { N = 8192 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    uint8_t *q = malloc(N * 4);
    for (size_t i = 0; i < N_TYPES; i++) {
        uint32_t t = all_types[i];
        const struct qtype_traits *tt = qtype_get(t);
        for (int outliers = 0; outliers < 2; outliers++) {
            fill_data_ex(x, N, 42, outliers ? 6.0f : 1.0f);
            tt->from_float(x, q, N);
            tt->to_float(q, y, N);
            double e = rel_rms(x, y, N), bound = err_bound(t) * (outliers ? 2 : 1);
            CHECKF(e <= bound, "%s round trip error %.4f > %.4f (outliers %d)", tt->name, e, bound, outliers);
        }
        /* all zeros stay zeros (no 0/0) */
        memset(y, 0, N * sizeof(float));
        tt->from_float(y, q, N);
        tt->to_float(q, y, N);
        int zero = 1;
        for (int j = 0; j < N; j++) zero &= y[j] == 0;
        CHECKF(zero, "%s zeros", tt->name);
        /* a constant row (no spread, min == max) and a tiny-magnitude row */
        for (int j = 0; j < N; j++) x[j + 0] = 0.75f;
        tt->from_float(x, q, 256);
        tt->to_float(q, y, 256);
        CHECKF(rel_rms(x, y, 256) <= fmax(err_bound(t), 0.01), "%s constant row error %.4f", tt->name, rel_rms(x, y, 256));
    }
    free(x); free(y); free(q);
}

/* vec_dot of a weight row against quantized activations equals the plain dot of the two
 * dequantized rows (the integer dot is exact; only float summation order differs). */
static int check_vec_dot(uint32_t t, const void *qx, const float *act, int n, float *wx, float *wy, uint8_t *qy) {
    const struct qtype_traits *tt = qtype_get(t), *at = qtype_get(tt->vec_dot_type);
    at->from_float(act, qy, n);
    tt->to_float(qx, wx, n);
    at->to_float(qy, wy, n);
    double ref = 0, mag = 0, slack = 1e-6;
    for (int i = 0; i < n; i++) { ref += (double)wx[i] * wy[i]; mag += fabs((double)wx[i] * wy[i]); }
    if (tt->vec_dot_type == QT_Q8_1) {
        /* Q4_1/Q5_1 use the block's s = d*sum(q), stored as fp16 beside the fp16 d: allow both
         * roundings on the min term m*s (m is the fp16 after d in the weight block) */
        const block_q8_1 *b = (const block_q8_1 *)qy;
        for (int i = 0; i < n / 32; i++)
            slack += fabs(fp16_to_f32(rd16((const uint8_t *)qx + i * tt->type_size + 2)) * fp16_to_f32(b[i].s)) * 2e-3;
    }
    float s = 0;
    tt->vec_dot(n, &s, qx, qy);
    int ok = fabs(s - ref) <= 1e-4 * mag + slack;
    if (!ok) fprintf(stderr, "%s n=%d: vec_dot %.9g, dequantized dot %.9g (scale %.3g)\n", tt->name, n, s, ref, mag);
    return ok;
}

static void test_vec_dot(void) {
    enum { NMAX = 4096 };
    float *x = malloc(NMAX * sizeof(float)), *a = malloc(NMAX * sizeof(float));
    float *wx = malloc(NMAX * sizeof(float)), *wy = malloc(NMAX * sizeof(float));
    uint8_t *qx = malloc(NMAX * 4), *qy = malloc(NMAX * 4);
    static const int ns[] = {256, 512, 4096};
    for (size_t i = 0; i < N_TYPES; i++) {
        uint32_t t = all_types[i];
        const struct qtype_traits *tt = qtype_get(t);
        if (!tt->vec_dot) continue;
        int ok = 1;
        for (int k = 0; k < 3; k++) {
            for (int rep = 0; rep < 4; rep++) {
                fill_data(x, ns[k], 100 + (uint32_t)rep);
                fill_data(a, ns[k], 200 + (uint32_t)rep);
                if (rep == 1) for (int j = 0; j < ns[k]; j++) a[j] = fabsf(a[j]) + 0.5f; /* mins matter */
                if (rep == 2) for (int j = 0; j < ns[k]; j++) x[j] = x[j] * 0.01f + 0.02f;
                tt->from_float(x, qx, ns[k]);
                ok &= check_vec_dot(t, qx, a, ns[k], wx, wy, qy);
            }
        }
        CHECKF(ok, "%s vec_dot", tt->name);
    }
    free(x); free(a); free(wx); free(wy); free(qx); free(qy);
}

/* ---------------------------------------------------------------- real GGUF files
 * Every tensor of a quantized file, dequantized, must be close to the same tensor of the
 * float file it was made from (a wrong element order gives an error near sqrt(2)); and the
 * dot product of its rows with quantized activations must equal the dequantized dot. */

static float *load_tensor(const struct gguf_tensor *t, int64_t *n_out) {
    const struct qtype_traits *tt = qtype_get(t->type);
    int64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) n *= t->ne[d];
    float *y = tt && n % tt->blck_size == 0 ? malloc((size_t)n * sizeof(float)) : NULL;
    if (y) tt->to_float(t->data, y, n);
    *n_out = n;
    return y;
}

static void test_real_files(const char *shared) {
    static const struct { const char *ref, *q; } pairs[] = {
        {"qwen2-mini-f16", "qwen2-mini-bf16"},   {"qwen2-mini-f16", "qwen2-mini-q8_0"},
        {"qwen2-mini-f16", "qwen2-mini-q4_0"},   {"qwen2-mini-f16", "qwen2-mini-q4_1"},
        {"qwen2-mini-f16", "qwen2-mini-q5_0"},   {"qwen2-mini-f16", "qwen2-mini-q5_1"},
        {"qwen2-mini-f16", "qwen2-mini-q2_k"},   {"qwen2-mini-f16", "qwen2-mini-q3_k_m"},
        {"qwen2-mini-f16", "qwen2-mini-q4_k_m"}, {"qwen2-mini-f16", "qwen2-mini-q5_k_m"},
        {"qwen2-mini-f16", "qwen2-mini-q6_k"},   {"qwen2-mini-f16", "qwen2-mini-iq4_nl"},
        {"qwen2-mini-f16", "qwen2-mini-iq4_xs"}, {"llama3-mini-f16", "llama3-mini-q8_0"},
        {"llama3-mini-f16", "llama3-mini-q4_0"}, {"llama3-mini-f16", "llama3-mini-q4_k_m"},
        {"aidreams260K-f32", "aidreams260K-q8_0"}, {"aidreams260K-f32", "aidreams260K-q4_0"},
    };
    int seen[QT_COUNT] = {0};
    char path[1024], err[256];
    float *act = malloc(8192 * sizeof(float)), *wx = malloc(8192 * sizeof(float)), *wy = malloc(8192 * sizeof(float));
    uint8_t *qy = malloc(8192 * 4);
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        struct gguf_file *fr = NULL, *fq = NULL;
        snprintf(path, sizeof path, "%s/models/%s.gguf", shared, pairs[p].ref);
        int st = gguf_open(path, 1, &fr, err, sizeof err);
        CHECKF(st == 0, "open %s: %s", path, err);
        snprintf(path, sizeof path, "%s/models/%s.gguf", shared, pairs[p].q);
        int st2 = gguf_open(path, 1, &fq, err, sizeof err);
        CHECKF(st2 == 0, "open %s: %s", path, err);
        if (st || st2) { if (fr) gguf_close(fr); if (fq) gguf_close(fq); continue; }
        int n_cmp = 0, ok_err = 1, ok_dot = 1;
        for (uint64_t i = 0; i < fq->n_tensors; i++) {
            const struct gguf_tensor *tq = &fq->tensors[i];
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)tq->name.len, tq->name.ptr);
            const struct gguf_tensor *tr = gguf_find_tensor(fr, name);
            if (!tr || memcmp(tr->ne, tq->ne, sizeof tq->ne) || tq->type == QT_F32) continue;
            int64_t nr, nq;
            float *a = load_tensor(tr, &nr), *b = load_tensor(tq, &nq);
            if (a && b) {
                double e = rel_rms(a, b, nq);
                if (!(e <= err_bound(tq->type))) {
                    ok_err = 0;
                    fprintf(stderr, "%s %s (%s): error %.4f vs %s > %.4f\n", pairs[p].q, name, qtype_name(tq->type),
                            e, pairs[p].ref, err_bound(tq->type));
                }
                if (tq->type < QT_COUNT) seen[tq->type]++;
                n_cmp++;
                const struct qtype_traits *tt = qtype_get(tq->type);
                int64_t ne0 = tq->ne[0];
                if (tt->vec_dot && ne0 <= 8192 && ne0 % qtype_get(tt->vec_dot_type)->blck_size == 0) {
                    for (int r = 0; r < 3 && r < nq / ne0; r++) {
                        fill_data(act, (int)ne0, 300 + (uint32_t)r);
                        const uint8_t *row = (const uint8_t *)tq->data + (size_t)r * qtype_row_size(tq->type, ne0);
                        ok_dot &= check_vec_dot(tq->type, row, act, (int)ne0, wx, wy, qy);
                    }
                }
            } else {
                CHECKF(0, "%s %s: cannot dequantize", pairs[p].q, name);
            }
            free(a);
            free(b);
        }
        CHECKF(n_cmp >= 5, "%s: %d tensors compared", pairs[p].q, n_cmp);
        CHECKF(ok_err, "%s dequantizes close to %s", pairs[p].q, pairs[p].ref);
        CHECKF(ok_dot, "%s vec_dot on real rows", pairs[p].q);
        gguf_close(fr);
        gguf_close(fq);
    }
    /* the files cover every weight type */
    static const uint32_t weight_types[] = {QT_BF16, QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1, QT_Q8_0, QT_Q2_K,
                                            QT_Q3_K, QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_IQ4_NL, QT_IQ4_XS};
    for (size_t i = 0; i < sizeof weight_types / sizeof weight_types[0]; i++)
        CHECKF(seen[weight_types[i]] > 0, "no %s tensor found in the shared models", qtype_name(weight_types[i]));
    free(act); free(wx); free(wy); free(qy);
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    test_traits();
    test_fp16();
    test_hand_blocks();
    test_ggml_golden();
    test_roundtrip();
    test_vec_dot();
    test_real_files(shared);
    return TEST_DONE();
}
