/* safetensors: a reader for Hugging Face weight files, one file or a sharded set.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}),
 * then the data section; offsets are relative to its start. Files are mapped (core/os.h), never
 * read whole; every offset and length is checked against the file before a tensor is exposed,
 * and st_release drops pages a caller is done with (streaming conversions keep RSS small).
 * A sharded model is "model.safetensors.index.json" ({"weight_map": {tensor: file}}) plus its
 * files. __metadata__ entries whose value names a tensor are aliases (transformers saves a tied
 * embedding once, e.g. "model.embed_tokens.weight": "lm_head.weight"); st_find follows them.
 */
#ifndef EDGELLM_SAFETENSORS_H
#define EDGELLM_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_HEADER (100u << 20) /* the safetensors library's own limit */
#define ST_MAX_DIMS 8

enum st_dtype { ST_F32 = 0, ST_F16, ST_BF16, ST_OTHER /* known to the format, not convertible */ };

struct st_tensor {
    char *name;
    enum st_dtype dtype;
    const char *dtype_name;    /* "F32", "I64", ... (static) */
    int n_dims;
    int64_t shape[ST_MAX_DIMS]; /* safetensors order: shape[0] is the outermost (rows) */
    uint64_t n_elem, nbytes;
    const uint8_t *data;        /* inside the mapping of its file */
    int file;
};

struct st_model;

/* Opens DIR/model.safetensors, or DIR/model.safetensors.index.json and its shards. */
int st_open_dir(const char *dir, struct st_model **out, char *err, size_t err_size);
/* Parses one safetensors image held in memory (the caller keeps it alive); for tests and fuzzing. */
int st_open_mem(const void *data, size_t size, struct st_model **out, char *err, size_t err_size);
void st_close(struct st_model *m);

size_t st_n_tensors(const struct st_model *m);
const struct st_tensor *st_tensor_at(const struct st_model *m, size_t i);
/* A tensor by name, following a __metadata__ alias; NULL if absent. */
const struct st_tensor *st_find(const struct st_model *m, const char *name);
/* Total bytes of all files. */
uint64_t st_total_bytes(const struct st_model *m);
/* Tells the OS that bytes [off, off + n) of t's data are no longer needed (pages dropped). */
void st_release(const struct st_model *m, const struct st_tensor *t, uint64_t off, uint64_t n);
struct json_value;
/* Reads and parses a JSON file (config.json, an index) through a mapping; *out for json_free. */
int st_read_json_file(const char *path, struct json_value **out, char *err, size_t err_size);
/* Element i of t as float (t->dtype F32/F16/BF16). */
float st_get_f32(const struct st_tensor *t, uint64_t i);
/* Converts n elements starting at element first into y. */
void st_to_f32(const struct st_tensor *t, uint64_t first, uint64_t n, float *y);
#endif
