/* GGUF reader: maps a file read-only and checks every count, length, offset and shape
 * against the file size before anything is used. Strings and tensor data point into the
 * mapping (strings are NOT NUL-terminated; use the length). Versions 2 and 3.
 *
 * Layout: header (magic "GGUF", u32 version, u64 n_tensors, u64 n_kv), n_kv key/value pairs,
 * n_tensors tensor infos (name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset), padding
 * to general.alignment (default 32), then the tensor data.
 */
#ifndef EDGELLM_GGUF_H
#define EDGELLM_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "edgellm.h"

enum gguf_vtype {
    GGUF_T_UINT8 = 0, GGUF_T_INT8 = 1, GGUF_T_UINT16 = 2, GGUF_T_INT16 = 3,
    GGUF_T_UINT32 = 4, GGUF_T_INT32 = 5, GGUF_T_FLOAT32 = 6, GGUF_T_BOOL = 7,
    GGUF_T_STRING = 8, GGUF_T_ARRAY = 9, GGUF_T_UINT64 = 10, GGUF_T_INT64 = 11,
    GGUF_T_FLOAT64 = 12, GGUF_T_COUNT = 13,
};

struct gguf_str { const char *ptr; uint64_t len; };

struct gguf_kv {
    struct gguf_str key;
    uint32_t type;        /* enum gguf_vtype */
    uint32_t arr_type;    /* element type when type == ARRAY */
    uint64_t n;           /* element count when ARRAY, else 1 */
    const uint8_t *data;  /* the raw value (for arrays: the first element) */
};

#define GGUF_MAX_DIMS 4

struct gguf_tensor {
    struct gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];  /* ne[0] is the row length; unused dims are 1 */
    uint32_t type;              /* enum qtype */
    uint64_t offset;            /* relative to the data section */
    const void *data;           /* into the mapping */
    uint64_t nbytes;
};

struct gguf_file {
    const uint8_t *base;     /* mapping */
    uint64_t size;
    uint32_t version;
    uint64_t n_kv;
    struct gguf_kv *kv;
    uint64_t n_tensors;
    struct gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
    void *os_map;            /* os mapping handle */
};

/* Opens and validates path. Returns 0 on success; otherwise a status (edgellm_status) and one line in err.
 * Every tensor's type must be a GGML type id whose block size is known (qtype_get), so that its
 * data range can be checked; whether the engine can compute with it is the model loader's
 * concern. check_tensors is reserved (pass 1). */
edgellm_status gguf_open(const char *path, int check_tensors, struct gguf_file **out, char *err, size_t err_size);
/* Same, over a caller-owned memory buffer (fuzzing and tests); buf must outlive the file. */
edgellm_status gguf_open_mem(const void *buf, uint64_t size, int check_tensors, struct gguf_file **out, char *err, size_t err_size);
void gguf_close(struct gguf_file *f);

/* Index of key, or -1. */
int64_t gguf_find_key(const struct gguf_file *f, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name);

/* Typed getters: return 1 and set *out if key exists with a compatible scalar type, else 0.
 * Integer getters accept any integer type whose value fits; f32 accepts f32/f64. */
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out);
int gguf_get_bool(const struct gguf_file *f, const char *key, int *out);
int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out);
/* An array key: returns its kv (type ARRAY) or NULL. */
const struct gguf_kv *gguf_get_arr(const struct gguf_file *f, const char *key, uint32_t arr_type);
/* Fills out[0..kv->n) with the strings of a string array (validated at open). */
void gguf_arr_strings(const struct gguf_kv *kv, struct gguf_str *out);
/* Element i of a numeric array as double (any numeric type). */
double gguf_arr_num(const struct gguf_kv *kv, uint64_t i);

/* Value as short text (arrays: "[n items] first, ..."). snprintf rule. */
int gguf_kv_format(const struct gguf_kv *kv, char *buf, size_t size);
const char *gguf_vtype_name(uint32_t t);
size_t gguf_vtype_size(uint32_t t); /* 0 for STRING/ARRAY/unknown */

#endif
