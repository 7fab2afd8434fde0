/* Weight quantizers: llama.cpp's reference algorithms (ggml-quants.c) reproduced operation by
 * operation in float32, so that a tensor quantized here has the same bytes as llama-quantize's.
 * Byte identity depends on the exact float operations: this code must be compiled without FMA
 * contraction (-ffp-contract=off, set for the whole library; the pragma below covers clang) and
 * never with -ffast-math.
 *
 * Without importance weights every type uses its closed-form or search-based reference
 * (quantize_row_*_ref); with importance weights qw (one per column: the imatrix's mean squared
 * activation) Q4_0/Q4_1/Q5_0/Q5_1, the K-quants and IQ4 use the weighted searches
 * (quantize_row_*_impl). Q8_0 and the float types ignore qw, as the reference does.
 * Each row is quantized independently, so rows can be split across threads freely.
 */
#ifndef EDGELLM_QUANTIZE_H
#define EDGELLM_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "quant/qtypes.h"

/* 1 if quantize_rows can produce type t (F32, F16, BF16, Q4_0 ... IQ4_XS). */
int quant_can_produce(uint32_t t);

/* Quantizes nrows rows of n_per_row floats (contiguous) into dst (nrows rows of
 * qtype_row_size(t, n_per_row) bytes). qw: n_per_row importance weights or NULL. n_per_row
 * must be a multiple of t's block size. Returns the bytes written (0 if t is not producible). */
size_t quantize_rows(uint32_t t, const float *src, void *dst, int64_t nrows, int64_t n_per_row, const float *qw);

/* Reference (no importance matrix) row quantizers of the block types, k a multiple of the block
 * size: the from_float entries of the qtype traits table. Q8_1 and Q8_K are the activation
 * formats of the dot products. */
void quant_q4_0_ref(const float *x, void *y, int64_t k);
void quant_q4_1_ref(const float *x, void *y, int64_t k);
void quant_q5_0_ref(const float *x, void *y, int64_t k);
void quant_q5_1_ref(const float *x, void *y, int64_t k);
void quant_q8_0_ref(const float *x, void *y, int64_t k);
void quant_q8_1_ref(const float *x, void *y, int64_t k);
void quant_q2_K_ref(const float *x, void *y, int64_t k);
void quant_q3_K_ref(const float *x, void *y, int64_t k);
void quant_q4_K_ref(const float *x, void *y, int64_t k);
void quant_q5_K_ref(const float *x, void *y, int64_t k);
void quant_q6_K_ref(const float *x, void *y, int64_t k);
void quant_q8_K_ref(const float *x, void *y, int64_t k);
void quant_iq4_nl_ref(const float *x, void *y, int64_t k);
void quant_iq4_xs_ref(const float *x, void *y, int64_t k);

#endif
