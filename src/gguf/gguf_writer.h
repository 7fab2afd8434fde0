/* GGUF writer: builds a GGUF v3 file (the layout gguf.h describes) in memory or streams it to
 * a file. Metadata is encoded as it is added (one growing byte buffer); tensors are kept as a
 * table of (name, shape, type, source) and their data is pulled at write time, either from a
 * caller pointer or row by row from a fill callback, so multi-GB files never sit in memory.
 * Tensor data offsets are packed in insertion order, each padded to the alignment, as llama.cpp
 * expects. Used by `edgellm synth` and by tests that craft (also deliberately broken) files.
 */
#ifndef EDGELLM_GGUF_WRITER_H
#define EDGELLM_GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

struct gguf_writer;

/* Fills n_rows rows of tensor index ti starting at row first_row (a row is ne[0] elements,
 * rows counted over ne[1]*ne[2]*ne[3]) into buf (n_rows * row_size bytes). Rows are asked for
 * in increasing order, each exactly once per write. Returns 0, or a status to abort the write. */
typedef int (*gguf_writer_fill_fn)(void *user, uint64_t ti, uint64_t first_row, uint64_t n_rows, void *buf);

/* NULL when out of memory. */
struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);

/* Status of the first failed add (an allocation, a bad argument), or 0. Adds after a failure
 * are ignored and the write functions return this status; err text via gguf_writer_error. */
int gguf_writer_status(const struct gguf_writer *w);
const char *gguf_writer_error(const struct gguf_writer *w);

/* Alignment of the data section and of each tensor (a power of two; default 32). Also adds the
 * u32 key general.alignment at this point of the metadata. */
int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment);
/* Header version field (default 3); for tests of the reader's version check. */
void gguf_writer_set_version(struct gguf_writer *w, uint32_t version);

/* Metadata, in the order added. Duplicate keys are not rejected (tests craft such files). */
int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v);
int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v);
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v);
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v);
int gguf_writer_add_bool(struct gguf_writer *w, const char *key, int v);
int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v);
int gguf_writer_add_strn(struct gguf_writer *w, const char *key, const char *v, uint64_t len);
/* Array of n numbers (or bools) of element type arr_type (enum gguf_vtype, not STRING/ARRAY),
 * data in the file's little-endian layout: n * gguf_vtype_size(arr_type) bytes. */
int gguf_writer_add_arr(struct gguf_writer *w, const char *key, uint32_t arr_type, const void *data, uint64_t n);
/* Array of n strings; lens may be NULL (then each is NUL-terminated). */
int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const char *const *strs,
                            const uint64_t *lens, uint64_t n);
/* Copies a key/value of a file opened with gguf.h, under its own key or under key if non-NULL. */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv, const char *key);
/* Raw value: writes the key, the type field and then exactly n bytes as the value (no checks);
 * for crafting malformed files. */
int gguf_writer_add_raw(struct gguf_writer *w, const char *key, uint32_t type, const void *bytes, size_t n);

/* Tensors, in the order added; ne has n_dims (1..4) entries, ne[0] the row length, and
 * ne[0] must be a multiple of the type's block size. Data comes from data (nbytes of the tensor
 * are read at write time; it must stay valid until then) or from fill (data NULL).
 * Returns the tensor index, or -1 (status set). */
int64_t gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                               const int64_t *ne, const void *data, gguf_writer_fill_fn fill, void *user);
/* Unchecked variant for crafting files: any type id and shape; nbytes of data are written
 * (zeros if data is NULL) and the next tensor's offset follows them. */
int64_t gguf_writer_add_tensor_raw(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const uint64_t *ne, const void *data, uint64_t nbytes);
/* Overrides the offset stored in tensor ti's header entry (data is still placed as computed). */
int gguf_writer_set_tensor_offset(struct gguf_writer *w, int64_t ti, uint64_t offset);

/* Byte size of a tensor's data as it will be written, and of the whole file. */
uint64_t gguf_writer_tensor_nbytes(const struct gguf_writer *w, int64_t ti);
uint64_t gguf_writer_file_size(const struct gguf_writer *w);

/* Writes the file. Returns 0 or a status (edgellm_status) with one line in err. A file that
 * fails part way is removed. */
int gguf_writer_write_file(struct gguf_writer *w, const char *path, char *err, size_t err_size);
/* Writes into a malloc'd buffer (*out, *size; release with free()). */
int gguf_writer_write_mem(struct gguf_writer *w, void **out, uint64_t *size, char *err, size_t err_size);

#endif
