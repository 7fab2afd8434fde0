/* Importance matrix files in llama.cpp's GGUF imatrix format (what llama-imatrix writes by
 * default and llama-quantize reads): general.type = "imatrix", imatrix.datasets (string array),
 * imatrix.chunk_count and imatrix.chunk_size (u32), and per weight matrix two F32 tensors:
 * "<name>.in_sum2" (ne = [row length, n_expert]: the sum over evaluated tokens of the squared
 * input activation of each column) and "<name>.counts" (ne = [1, n_expert]: tokens counted).
 * This module reads such a file; the writer side lives with `imatrix` (same format).
 */
#ifndef EDGELLM_IMATRIX_H
#define EDGELLM_IMATRIX_H

#include <stddef.h>
#include <stdint.h>

struct imatrix_entry {
    char *name;          /* the weight's name, e.g. "blk.0.attn_q.weight" */
    int64_t ne0;         /* row length (columns) */
    int64_t n_expert;    /* matrices (1 for dense weights) */
    float *in_sum2;      /* ne0 * n_expert sums */
    float *counts;       /* n_expert token counts */
    float *weights;      /* ne0 * n_expert: in_sum2 / count in float32 (1 where count is 0), as
                          * llama-quantize turns the file into quantization weights */
};

struct imatrix {
    struct imatrix_entry *entries;
    size_t n_entries;
    char *dataset;       /* first of imatrix.datasets, or NULL */
    uint32_t chunk_count, chunk_size;
};

/* Reads path. 0, or a status (edgellm_status) with one line in err: not a GGUF file, not an
 * imatrix, a sums tensor without counts, a non-F32 tensor, a non-finite value. */
int imatrix_load(const char *path, struct imatrix **out, char *err, size_t err_size);
void imatrix_free(struct imatrix *im);
/* The entry of a weight name, or NULL. */
const struct imatrix_entry *imatrix_find(const struct imatrix *im, const char *name);

#endif
