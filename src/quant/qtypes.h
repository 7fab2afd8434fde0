/* Tensor element types: the GGUF block layouts and one table of per-type traits.
 *
 * Block layouts are a file format: they must match GGUF files byte for byte, and each is
 * pinned by a static_assert. Every type has a portable scalar reference (qtypes.c); fast
 * paths live in src/kernels/arch/ and are checked against these references by tests/test_qtypes.c
 * and tests/test_kernels.c.
 *
 * A weight type W is multiplied with activations quantized to qtype_traits[W].vec_dot_type
 * (Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants and IQ4_XS, and
 * the type itself for F32/F16/BF16). Some GGML types are known by layout only (to_float NULL).
 */
#ifndef EDGELLM_QTYPES_H
#define EDGELLM_QTYPES_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* GGML type ids as stored in GGUF tensor infos (append-only, numbered by the file format). */
enum qtype {
    QT_F32 = 0,
    QT_F16 = 1,
    QT_Q4_0 = 2,
    QT_Q4_1 = 3,
    QT_Q5_0 = 6,
    QT_Q5_1 = 7,
    QT_Q8_0 = 8,
    QT_Q8_1 = 9,
    QT_Q2_K = 10,
    QT_Q3_K = 11,
    QT_Q4_K = 12,
    QT_Q5_K = 13,
    QT_Q6_K = 14,
    QT_Q8_K = 15,
    QT_IQ4_NL = 20,
    QT_IQ4_XS = 23,
    QT_BF16 = 30,
    QT_COUNT = 40, /* upper bound of ids known to the table (unknown ids have blck_size 0) */
};

typedef uint16_t fp16_t;  /* IEEE half, stored bits */
typedef uint16_t bf16_t;  /* bfloat16, stored bits */

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12
#define QK4_NL 32

typedef struct { fp16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
static_assert(sizeof(block_q4_0) == 2 + QK4_0 / 2, "block_q4_0 size");

typedef struct { fp16_t d; fp16_t m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
static_assert(sizeof(block_q4_1) == 4 + QK4_1 / 2, "block_q4_1 size");

typedef struct { fp16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
static_assert(sizeof(block_q5_0) == 2 + 4 + QK5_0 / 2, "block_q5_0 size");

typedef struct { fp16_t d; fp16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
static_assert(sizeof(block_q5_1) == 4 + 4 + QK5_1 / 2, "block_q5_1 size");

typedef struct { fp16_t d; int8_t qs[QK8_0]; } block_q8_0;
static_assert(sizeof(block_q8_0) == 2 + QK8_0, "block_q8_0 size");

/* Q8_1: activation format with s = d * sum(qs), paired with Q4_1 / Q5_1. */
typedef struct { fp16_t d; fp16_t s; int8_t qs[QK8_1]; } block_q8_1;
static_assert(sizeof(block_q8_1) == 4 + QK8_1, "block_q8_1 size");

/* Q2_K: 16 sub-blocks of 16; scales: low 4 bits scale, high 4 bits min. */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; fp16_t d; fp16_t dmin; } block_q2_K;
static_assert(sizeof(block_q2_K) == 2 * 2 + QK_K / 16 + QK_K / 4, "block_q2_K size");

/* Q3_K: hmask holds the high bit, qs the low 2 bits, 12 bytes of 6-bit scales. */
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; fp16_t d; } block_q3_K;
static_assert(sizeof(block_q3_K) == 2 + QK_K / 4 + QK_K / 8 + 12, "block_q3_K size");

/* Q4_K: 8 sub-blocks of 32, 6-bit scales and mins packed in 12 bytes. */
typedef struct { fp16_t d; fp16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
static_assert(sizeof(block_q4_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2, "block_q4_K size");

typedef struct { fp16_t d; fp16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
static_assert(sizeof(block_q5_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2 + QK_K / 8, "block_q5_K size");

typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; fp16_t d; } block_q6_K;
static_assert(sizeof(block_q6_K) == 2 + QK_K / 16 + 3 * QK_K / 4, "block_q6_K size");

/* Q8_K: activation format for K-quants; bsums are sums of groups of 16. d is a float. */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;
static_assert(sizeof(block_q8_K) == 4 + QK_K + QK_K / 16 * 2, "block_q8_K size");

typedef struct { fp16_t d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;
static_assert(sizeof(block_iq4_nl) == 2 + QK4_NL / 2, "block_iq4_nl size");

typedef struct { fp16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs;
static_assert(sizeof(block_iq4_xs) == 2 + 2 + QK_K / 64 + QK_K / 2, "block_iq4_xs size");

/* The non-linear 4-bit grid of IQ4_NL / IQ4_XS. */
extern const int8_t kvalues_iq4nl[16];

/* Row conversion: k elements (a multiple of blck_size). */
typedef void (*qtype_to_float_fn)(const void *x, float *y, int64_t k);
typedef void (*qtype_from_float_fn)(const float *x, void *y, int64_t k);
/* s = dot(x row of n elements in this type, y row of n elements in vec_dot_type). */
typedef void (*qtype_vec_dot_fn)(int n, float *s, const void *x, const void *y);

struct qtype_traits {
    const char *name;       /* "q4_K" style as in GGUF tools; NULL for unknown ids */
    int blck_size;          /* elements per block; 0 = unknown type */
    size_t type_size;       /* bytes per block */
    int is_quantized;
    qtype_to_float_fn to_float;       /* scalar reference dequantization; NULL for layout-only types */
    qtype_from_float_fn from_float;   /* scalar reference quantization (NULL if not provided) */
    qtype_vec_dot_fn vec_dot;         /* scalar reference dot product with vec_dot_type */
    enum qtype vec_dot_type;
};

/* Scalar reference traits of type t, or NULL if t is out of range or unknown. */
const struct qtype_traits *qtype_get(uint32_t t);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size or t is unknown. */
size_t qtype_row_size(uint32_t t, int64_t n);
const char *qtype_name(uint32_t t);

/* Q4_K/Q5_K: scale and min of group j (0..7) from the 12 packed bytes. */
void qtype_k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m);
/* Q3_K: the 16 signed group scales (-32..31) from the 12 packed bytes. */
void qtype_q3_K_scales(const uint8_t *scales, int *sc);

/* Half/bfloat conversions (exact, round-to-nearest-even on the way down). */
float fp16_to_f32(fp16_t h);
fp16_t f32_to_fp16(float f);
float bf16_to_f32(bf16_t h);
bf16_t f32_to_bf16(float f);

#endif
