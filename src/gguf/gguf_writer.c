/* GGUF writer (see gguf_writer.h). The metadata section is encoded eagerly into one byte
 * buffer (key, type, value, little-endian as on disk); the tensor table keeps each tensor's
 * header fields and its data source. At write time: header, metadata bytes, tensor infos,
 * zero padding to the alignment, then each tensor's data followed by padding to the alignment.
 */
#include "gguf/gguf_writer.h"
#include "core/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgellm.h"
#include "quant/qtypes.h"

#define WRITER_MAX_DIMS 8
#define WRITER_CHUNK (4u << 20) /* bytes of rows asked from a fill callback at a time */

struct wtensor {
    char *name;
    uint64_t name_len;
    uint32_t n_dims;
    uint64_t ne[WRITER_MAX_DIMS];
    uint32_t type;
    const void *data;         /* or NULL: fill, or zeros for raw tensors */
    gguf_writer_fill_fn fill;
    void *user;
    uint64_t nbytes;
    uint64_t row_size;        /* 0 for raw tensors */
    uint64_t n_rows;
    int has_offset_override;
    uint64_t offset_override;
};

struct gguf_writer {
    uint32_t version;
    uint32_t alignment;
    uint8_t *kv;              /* encoded metadata section */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    struct wtensor *t;
    uint64_t n_t, cap_t;
    int status;
    char err[256];
};

static int set_error(struct gguf_writer *w, int st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_error(struct gguf_writer *w, int st, const char *fmt, ...) {
    if (w->status) return w->status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    w->status = st;
    return st;
}

struct gguf_writer *gguf_writer_new(void) {
    struct gguf_writer *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    w->version = 3;
    w->alignment = 32;
    return w;
}

void gguf_writer_free(struct gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w->kv);
    free(w);
}

int gguf_writer_status(const struct gguf_writer *w) { return w->status; }
const char *gguf_writer_error(const struct gguf_writer *w) { return w->err; }
void gguf_writer_set_version(struct gguf_writer *w, uint32_t version) { w->version = version; }

/* ---- metadata encoding ---- */

static int kv_put(struct gguf_writer *w, const void *p, size_t n) {
    if (w->status) return w->status;
    if (n > SIZE_MAX - w->kv_len) return set_error(w, EDGELLM_ERR_NOMEM, "metadata too large");
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n) cap = cap > SIZE_MAX / 2 ? w->kv_len + n : cap * 2;
        uint8_t *nk = realloc(w->kv, cap);
        if (!nk) return set_error(w, EDGELLM_ERR_NOMEM, "out of memory building the metadata");
        w->kv = nk;
        w->kv_cap = cap;
    }
    if (n) memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 0;
}

static int kv_u32(struct gguf_writer *w, uint32_t v) { return kv_put(w, &v, 4); }
static int kv_u64(struct gguf_writer *w, uint64_t v) { return kv_put(w, &v, 8); }
static int kv_string(struct gguf_writer *w, const char *s, uint64_t len) {
    int st = kv_u64(w, len);
    return st ? st : kv_put(w, s, (size_t)len);
}

/* Starts a pair: key then type. Counts the pair only if everything after also succeeds. */
static int kv_begin(struct gguf_writer *w, const char *key, uint32_t type) {
    if (w->status) return w->status;
    if (!key) return set_error(w, EDGELLM_ERR_ARG, "metadata key is NULL");
    int st = kv_string(w, key, strlen(key));
    return st ? st : kv_u32(w, type);
}

static int kv_scalar(struct gguf_writer *w, const char *key, uint32_t type, const void *v, size_t n) {
    int st = kv_begin(w, key, type);
    if (!st) st = kv_put(w, v, n);
    if (!st) w->n_kv++;
    return st;
}

int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v) { return kv_scalar(w, key, GGUF_T_UINT8, &v, 1); }
int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v) { return kv_scalar(w, key, GGUF_T_INT8, &v, 1); }
int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v) { return kv_scalar(w, key, GGUF_T_UINT16, &v, 2); }
int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v) { return kv_scalar(w, key, GGUF_T_INT16, &v, 2); }
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v) { return kv_scalar(w, key, GGUF_T_UINT32, &v, 4); }
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v) { return kv_scalar(w, key, GGUF_T_INT32, &v, 4); }
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v) { return kv_scalar(w, key, GGUF_T_UINT64, &v, 8); }
int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v) { return kv_scalar(w, key, GGUF_T_INT64, &v, 8); }
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v) { return kv_scalar(w, key, GGUF_T_FLOAT32, &v, 4); }
int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v) { return kv_scalar(w, key, GGUF_T_FLOAT64, &v, 8); }

int gguf_writer_add_bool(struct gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    return kv_scalar(w, key, GGUF_T_BOOL, &b, 1);
}

int gguf_writer_add_strn(struct gguf_writer *w, const char *key, const char *v, uint64_t len) {
    if (!v && len) return set_error(w, EDGELLM_ERR_ARG, "string value of '%s' is NULL", key ? key : "?");
    int st = kv_begin(w, key, GGUF_T_STRING);
    if (!st) st = kv_string(w, v, len);
    if (!st) w->n_kv++;
    return st;
}

int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v) {
    return gguf_writer_add_strn(w, key, v, v ? strlen(v) : 0);
}

int gguf_writer_add_arr(struct gguf_writer *w, const char *key, uint32_t arr_type, const void *data, uint64_t n) {
    size_t es = gguf_vtype_size(arr_type);
    if (es == 0) return set_error(w, EDGELLM_ERR_ARG, "key '%s': array element type %u is not numeric", key ? key : "?", arr_type);
    if (n > SIZE_MAX / es) return set_error(w, EDGELLM_ERR_NOMEM, "key '%s': array too large", key ? key : "?");
    int st = kv_begin(w, key, GGUF_T_ARRAY);
    if (!st) st = kv_u32(w, arr_type);
    if (!st) st = kv_u64(w, n);
    if (!st) st = kv_put(w, data, (size_t)n * es);
    if (!st) w->n_kv++;
    return st;
}

int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const char *const *strs,
                            const uint64_t *lens, uint64_t n) {
    int st = kv_begin(w, key, GGUF_T_ARRAY);
    if (!st) st = kv_u32(w, GGUF_T_STRING);
    if (!st) st = kv_u64(w, n);
    for (uint64_t i = 0; i < n && !st; i++) st = kv_string(w, strs[i], lens ? lens[i] : strlen(strs[i]));
    if (!st) w->n_kv++;
    return st;
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv, const char *key) {
    char kbuf[256];
    if (!key) {
        if (kv->key.len >= sizeof kbuf) return set_error(w, EDGELLM_ERR_ARG, "key too long to copy");
        memcpy(kbuf, kv->key.ptr, (size_t)kv->key.len);
        kbuf[kv->key.len] = 0;
        key = kbuf;
    }
    if (kv->type == GGUF_T_STRING) {
        uint64_t len;
        memcpy(&len, kv->data, 8);
        return gguf_writer_add_strn(w, key, (const char *)kv->data + 8, len);
    }
    if (kv->type != GGUF_T_ARRAY) {
        size_t es = gguf_vtype_size(kv->type);
        if (!es) return set_error(w, EDGELLM_ERR_ARG, "key '%s': cannot copy value type %u", key, kv->type);
        return kv_scalar(w, key, kv->type, kv->data, es);
    }
    /* arrays: the element bytes are contiguous from kv->data; measure them (the reader validated them) */
    size_t nbytes;
    if (kv->arr_type == GGUF_T_STRING) {
        const uint8_t *p = kv->data;
        for (uint64_t i = 0; i < kv->n; i++) {
            uint64_t len;
            memcpy(&len, p, 8);
            p += 8 + len;
        }
        nbytes = (size_t)(p - kv->data);
    } else {
        size_t es = gguf_vtype_size(kv->arr_type);
        if (!es) return set_error(w, EDGELLM_ERR_ARG, "key '%s': cannot copy array type %u", key, kv->arr_type);
        nbytes = (size_t)kv->n * es;
    }
    int st = kv_begin(w, key, GGUF_T_ARRAY);
    if (!st) st = kv_u32(w, kv->arr_type);
    if (!st) st = kv_u64(w, kv->n);
    if (!st) st = kv_put(w, kv->data, nbytes);
    if (!st) w->n_kv++;
    return st;
}

int gguf_writer_add_raw(struct gguf_writer *w, const char *key, uint32_t type, const void *bytes, size_t n) {
    return kv_scalar(w, key, type, bytes, n);
}

int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)))
        return set_error(w, EDGELLM_ERR_ARG, "alignment %u is not a power of two", alignment);
    w->alignment = alignment;
    return gguf_writer_add_u32(w, "general.alignment", alignment);
}

/* ---- tensors ---- */

static struct wtensor *tensor_push(struct gguf_writer *w, const char *name) {
    if (w->status) return NULL;
    if (!name) { set_error(w, EDGELLM_ERR_ARG, "tensor name is NULL"); return NULL; }
    if (w->n_t == w->cap_t) {
        uint64_t cap = w->cap_t ? w->cap_t * 2 : 64;
        struct wtensor *nt = realloc(w->t, cap * sizeof(*nt));
        if (!nt) { set_error(w, EDGELLM_ERR_NOMEM, "out of memory adding tensor '%s'", name); return NULL; }
        w->t = nt;
        w->cap_t = cap;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof(*t));
    t->name_len = strlen(name);
    t->name = malloc(t->name_len + 1);
    if (!t->name) { set_error(w, EDGELLM_ERR_NOMEM, "out of memory adding tensor '%s'", name); return NULL; }
    memcpy(t->name, name, t->name_len + 1);
    w->n_t++;
    return t;
}

int64_t gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                               const int64_t *ne, const void *data, gguf_writer_fill_fn fill, void *user) {
    if (w->status) return -1;
    const char *nm = name ? name : "?";
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) { set_error(w, EDGELLM_ERR_ARG, "tensor '%s': %d dimensions", nm, n_dims); return -1; }
    if (!data && !fill) { set_error(w, EDGELLM_ERR_ARG, "tensor '%s': no data and no fill callback", nm); return -1; }
    const struct qtype_traits *tt = qtype_get(type);
    if (!tt) { set_error(w, EDGELLM_ERR_ARG, "tensor '%s': unknown type %u", nm, type); return -1; }
    uint64_t rows = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1) { set_error(w, EDGELLM_ERR_ARG, "tensor '%s': dimension %d is %" PRId64, nm, d, ne[d]); return -1; }
        if (d > 0) rows *= (uint64_t)ne[d];
    }
    size_t rs = qtype_row_size(type, ne[0]);
    if (!rs) {
        set_error(w, EDGELLM_ERR_ARG, "tensor '%s': row length %" PRId64 " is not a multiple of the %s block size",
                  nm, ne[0], tt->name);
        return -1;
    }
    struct wtensor *t = tensor_push(w, name);
    if (!t) return -1;
    t->n_dims = (uint32_t)n_dims;
    for (int d = 0; d < n_dims; d++) t->ne[d] = (uint64_t)ne[d];
    t->type = type;
    t->data = data;
    t->fill = data ? NULL : fill;
    t->user = user;
    t->row_size = rs;
    t->n_rows = rows;
    t->nbytes = rows * rs;
    return (int64_t)(w->n_t - 1);
}

int64_t gguf_writer_add_tensor_raw(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const uint64_t *ne, const void *data, uint64_t nbytes) {
    if (w->status) return -1;
    if (n_dims > WRITER_MAX_DIMS) {
        set_error(w, EDGELLM_ERR_ARG, "tensor '%s': at most %d dimensions can be written", name ? name : "?", WRITER_MAX_DIMS);
        return -1;
    }
    struct wtensor *t = tensor_push(w, name);
    if (!t) return -1;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims; d++) t->ne[d] = ne[d];
    t->type = type;
    t->data = data;
    t->nbytes = nbytes;
    return (int64_t)(w->n_t - 1);
}

int gguf_writer_set_tensor_offset(struct gguf_writer *w, int64_t ti, uint64_t offset) {
    if (ti < 0 || (uint64_t)ti >= w->n_t) return set_error(w, EDGELLM_ERR_ARG, "no tensor %" PRId64, ti);
    w->t[ti].has_offset_override = 1;
    w->t[ti].offset_override = offset;
    return 0;
}

uint64_t gguf_writer_tensor_nbytes(const struct gguf_writer *w, int64_t ti) {
    return ti >= 0 && (uint64_t)ti < w->n_t ? w->t[ti].nbytes : 0;
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static uint64_t header_size(const struct gguf_writer *w) {
    uint64_t n = 4 + 4 + 8 + 8 + w->kv_len;
    for (uint64_t i = 0; i < w->n_t; i++) n += 8 + w->t[i].name_len + 4 + 8ull * w->t[i].n_dims + 4 + 8;
    return n;
}

uint64_t gguf_writer_file_size(const struct gguf_writer *w) {
    uint64_t n = pad_to(header_size(w), w->alignment);
    for (uint64_t i = 0; i < w->n_t; i++) n += pad_to(w->t[i].nbytes, w->alignment);
    return n;
}

/* ---- output: one sink for files and memory ---- */

struct sink {
    FILE *f;
    uint8_t *mem;
    uint64_t pos, cap;
};

static int sink_write(struct sink *s, const void *p, uint64_t n) {
    if (s->f) {
        if (n && fwrite(p, 1, (size_t)n, s->f) != n) return EDGELLM_ERR_IO;
    } else {
        if (n > s->cap - s->pos) return EDGELLM_ERR_IO; /* size was computed ahead: a bug */
        if (n) memcpy(s->mem + s->pos, p, (size_t)n);
    }
    s->pos += n;
    return 0;
}

static int sink_zeros(struct sink *s, uint64_t n) {
    static const uint8_t zeros[256];
    while (n) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        int st = sink_write(s, zeros, k);
        if (st) return st;
        n -= k;
    }
    return 0;
}

static int write_all(struct gguf_writer *w, struct sink *s, char *err, size_t err_size) {
    if (w->status) return util_errf(err, err_size, w->status, "%s", w->err);
    uint32_t u32;
    uint64_t u64;
    int st = sink_write(s, "GGUF", 4);
    u32 = w->version;
    if (!st) st = sink_write(s, &u32, 4);
    u64 = w->n_t;
    if (!st) st = sink_write(s, &u64, 8);
    u64 = w->n_kv;
    if (!st) st = sink_write(s, &u64, 8);
    if (!st) st = sink_write(s, w->kv, w->kv_len);
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_t && !st; i++) {
        const struct wtensor *t = &w->t[i];
        u64 = t->name_len;
        st = sink_write(s, &u64, 8);
        if (!st) st = sink_write(s, t->name, t->name_len);
        if (!st) st = sink_write(s, &t->n_dims, 4);
        if (!st) st = sink_write(s, t->ne, 8ull * t->n_dims);
        if (!st) st = sink_write(s, &t->type, 4);
        u64 = t->has_offset_override ? t->offset_override : off;
        if (!st) st = sink_write(s, &u64, 8);
        off += pad_to(t->nbytes, w->alignment);
    }
    if (!st) st = sink_zeros(s, pad_to(s->pos, w->alignment) - s->pos);
    if (st) return util_errf(err, err_size, st, "write error in the GGUF header: %s", strerror(errno));

    uint8_t *chunk = NULL;
    size_t chunk_cap = 0;
    for (uint64_t i = 0; i < w->n_t && !st; i++) {
        struct wtensor *t = &w->t[i];
        if (t->data) {
            st = sink_write(s, t->data, t->nbytes);
        } else if (!t->fill) {
            st = sink_zeros(s, t->nbytes);
        } else {
            uint64_t per = t->row_size >= WRITER_CHUNK ? 1 : WRITER_CHUNK / t->row_size;
            if (per > t->n_rows) per = t->n_rows;
            size_t need = (size_t)(per * t->row_size);
            if (need > chunk_cap) {
                free(chunk);
                chunk = malloc(need);
                chunk_cap = chunk ? need : 0;
                if (!chunk) {
                    st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory (%zu bytes) writing tensor '%s'", need, t->name);
                    break;
                }
            }
            for (uint64_t r = 0; r < t->n_rows && !st; r += per) {
                uint64_t n = t->n_rows - r < per ? t->n_rows - r : per;
                int fst = t->fill(t->user, i, r, n, chunk);
                if (fst) {
                    free(chunk);
                    return util_errf(err, err_size, fst, "filling tensor '%s' failed (status %d)", t->name, fst);
                }
                st = sink_write(s, chunk, n * t->row_size);
            }
        }
        if (!st) st = sink_zeros(s, pad_to(t->nbytes, w->alignment) - t->nbytes);
        if (st == EDGELLM_ERR_IO) st = util_errf(err, err_size, st, "write error in the data of tensor '%s': %s", t->name, strerror(errno));
    }
    free(chunk);
    return st;
}

int gguf_writer_write_file(struct gguf_writer *w, const char *path, char *err, size_t err_size) {
    if (err && err_size) err[0] = 0;
    if (w->status) return util_errf(err, err_size, w->status, "%s", w->err);
    struct sink s = {0};
    s.f = fopen(path, "wb");
    if (!s.f) return util_errf(err, err_size, EDGELLM_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    setvbuf(s.f, NULL, _IOFBF, 1 << 20);
    int st = write_all(w, &s, err, err_size);
    if (fclose(s.f) != 0 && !st) st = util_errf(err, err_size, EDGELLM_ERR_IO, "cannot finish writing '%s': %s", path, strerror(errno));
    if (st) unlink(path);
    return st;
}

int gguf_writer_write_mem(struct gguf_writer *w, void **out, uint64_t *size, char *err, size_t err_size) {
    if (err && err_size) err[0] = 0;
    *out = NULL;
    *size = 0;
    if (w->status) return util_errf(err, err_size, w->status, "%s", w->err);
    uint64_t total = gguf_writer_file_size(w);
    if (total > SIZE_MAX) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "file of %" PRIu64 " bytes does not fit in memory", total);
    struct sink s = {0};
    s.mem = malloc(total ? (size_t)total : 1);
    s.cap = total;
    if (!s.mem) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory (%" PRIu64 " bytes) for the GGUF buffer", total);
    int st = write_all(w, &s, err, err_size);
    if (st) { free(s.mem); return st; }
    *out = s.mem;
    *size = s.pos;
    return 0;
}
