/* GGUF reader. The file is mapped read-only (os.c) and parsed with a bounds-checked cursor:
 * every length, count and offset is compared with the bytes that remain before it is used,
 * so a truncated or hostile file yields a message, never a read outside the mapping.
 * The kv and tensor tables are the only allocations; strings and data stay in the mapping.
 */
#include "gguf/gguf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "core/os.h"
#include "core/util.h"
#include "quant/qtypes.h"

struct cursor {
    const uint8_t *p, *end;
    char *err;
    size_t err_size;
    const uint8_t *base;
};

static int fail(struct cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct cursor *c, const char *fmt, ...) {
    if (c->err && c->err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_size, fmt, ap);
        va_end(ap);
    }
    return EDGELLM_ERR_FORMAT;
}

static uint64_t remaining(const struct cursor *c) { return (uint64_t)(c->end - c->p); }
static uint64_t offset_of(const struct cursor *c) { return (uint64_t)(c->p - c->base); }

static int take(struct cursor *c, void *out, size_t n, const char *what) {
    if (remaining(c) < n)
        return fail(c, "truncated file: %s at offset %" PRIu64 " needs %zu bytes, %" PRIu64 " left",
                    what, offset_of(c), n, remaining(c));
    memcpy(out, c->p, n);
    c->p += n;
    return 0;
}

static int take_str(struct cursor *c, struct gguf_str *s, const char *what) {
    uint64_t len = 0;
    int st = take(c, &len, 8, what);
    if (st) return st;
    if (len > remaining(c))
        return fail(c, "bad string length %" PRIu64 " for %s at offset %" PRIu64 " (only %" PRIu64 " bytes left)",
                    len, what, offset_of(c) - 8, remaining(c));
    s->ptr = (const char *)c->p;
    s->len = len;
    c->p += len;
    return 0;
}

static const size_t vtype_sizes[GGUF_T_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const vtype_names[GGUF_T_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                      "bool", "string", "array", "u64", "i64", "f64"};

size_t gguf_vtype_size(uint32_t t) { return t < GGUF_T_COUNT ? vtype_sizes[t] : 0; }
const char *gguf_vtype_name(uint32_t t) { return t < GGUF_T_COUNT ? vtype_names[t] : "unknown"; }

/* Skips over one value of type t (already validated as known), checking bounds. */
static int skip_value(struct cursor *c, struct gguf_kv *kv, const char *key) {
    if (kv->type == GGUF_T_STRING) {
        struct gguf_str s;
        return take_str(c, &s, "string value");
    }
    if (kv->type != GGUF_T_ARRAY) {
        size_t n = vtype_sizes[kv->type];
        if (remaining(c) < n) return fail(c, "truncated file: value of key '%s'", key);
        c->p += n;
        return 0;
    }
    uint32_t at = 0;
    uint64_t n = 0;
    int st = take(c, &at, 4, "array type");
    if (!st) st = take(c, &n, 8, "array length");
    if (st) return st;
    if (at >= GGUF_T_COUNT) return fail(c, "key '%s': unknown array element type %u", key, at);
    if (at == GGUF_T_ARRAY) return fail(c, "key '%s': nested arrays are not supported", key);
    kv->arr_type = at;
    kv->n = n;
    kv->data = c->p;
    if (at == GGUF_T_STRING) {
        /* each string needs at least its 8-byte length */
        if (n > remaining(c) / 8)
            return fail(c, "key '%s': array of %" PRIu64 " strings exceeds the file", key, n);
        for (uint64_t i = 0; i < n; i++) {
            struct gguf_str s;
            st = take_str(c, &s, "array string");
            if (st) return fail(c, "key '%s': string %" PRIu64 " of %" PRIu64 " runs past the end of the file", key, i, n);
        }
        return 0;
    }
    size_t es = vtype_sizes[at];
    if (n > remaining(c) / es)
        return fail(c, "key '%s': array of %" PRIu64 " %s values exceeds the file", key, n, vtype_names[at]);
    c->p += n * es;
    return 0;
}

static int str_eq(struct gguf_str s, const char *z) {
    size_t n = strlen(z);
    return s.len == n && memcmp(s.ptr, z, n) == 0;
}

/* A name for messages: at most 60 bytes, bytes outside printable ASCII shown as \xNN, so a
 * message always stays one printable line. */
static void print_str(char *buf, size_t size, struct gguf_str s) {
    size_t o = 0;
    for (uint64_t i = 0; i < s.len && i < 60 && o + 5 < size; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch >= 0x20 && ch < 0x7f) buf[o++] = (char)ch;
        else o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
    }
    if (s.len > 60 && o + 4 < size) { memcpy(buf + o, "...", 3); o += 3; }
    buf[o] = 0;
}



struct span { uint64_t off, idx; };

static int span_cmp(const void *a, const void *b) {
    const struct span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int str_cmp(const void *a, const void *b) {
    const struct gguf_str *x = a, *y = b;
    uint64_t n = x->len < y->len ? x->len : y->len;
    int r = n ? memcmp(x->ptr, y->ptr, (size_t)n) : 0;
    return r ? r : (x->len < y->len ? -1 : x->len > y->len);
}

/* Fails on the first name that occurs twice among n strings found every `stride` bytes from
 * first (sorted copies: n log n, so a hostile file with a million names cannot stall us). */
static int check_unique(struct cursor *c, uint64_t n, const struct gguf_str *first, size_t stride, const char *what) {
    if (n < 2) return 0;
    struct gguf_str *v = malloc(sizeof *v * n);
    if (!v) return EDGELLM_ERR_NOMEM;
    for (uint64_t i = 0; i < n; i++) v[i] = *(const struct gguf_str *)((const char *)first + i * stride);
    qsort(v, n, sizeof *v, str_cmp);
    for (uint64_t i = 1; i < n; i++)
        if (!str_cmp(&v[i - 1], &v[i])) {
            char name[96];
            print_str(name, sizeof name, v[i]);
            free(v);
            return fail(c, "duplicate %s '%s'", what, name);
        }
    free(v);
    return 0;
}

static int parse(struct gguf_file *f, char *err, size_t err_size) {
    struct cursor c = {f->base, f->base + f->size, err, err_size, f->base};
    char magic[4];
    int st;
    if (f->size == 0) return fail(&c, "empty file (0 bytes), not a GGUF file");
    if (f->size < 4 || memcmp(f->base, "GGUF", 4) != 0) return fail(&c, "not a GGUF file (bad magic)");
    take(&c, magic, 4, "magic");
    if ((st = take(&c, &f->version, 4, "version"))) return st;
    if (f->version == 1) return fail(&c, "GGUF version 1 is not supported (versions 2 and 3 are)");
    if (f->version != 2 && f->version != 3)
        return fail(&c, "unsupported GGUF version %u (versions 2 and 3 are supported)", f->version);
    if ((st = take(&c, &f->n_tensors, 8, "tensor count"))) return st;
    if ((st = take(&c, &f->n_kv, 8, "metadata count"))) return st;
    /* a kv needs >= 12 bytes (key length + type), a tensor info >= 24 */
    if (f->n_kv > remaining(&c) / 12) return fail(&c, "metadata count %" PRIu64 " is larger than the file can hold", f->n_kv);
    if (f->n_tensors > remaining(&c) / 24) return fail(&c, "tensor count %" PRIu64 " is larger than the file can hold", f->n_tensors);

    f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof(*f->kv));
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof(*f->tensors));
    if (!f->kv || !f->tensors) return EDGELLM_ERR_NOMEM;

    f->alignment = 32;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        struct gguf_kv *kv = &f->kv[i];
        char key[96];
        if ((st = take_str(&c, &kv->key, "metadata key"))) return st;
        print_str(key, sizeof key, kv->key);
        if (kv->key.len == 0) return fail(&c, "metadata key %" PRIu64 " is empty", i);
        if (memchr(kv->key.ptr, 0, kv->key.len)) return fail(&c, "metadata key %" PRIu64 " contains a NUL byte", i);
        if ((st = take(&c, &kv->type, 4, "value type"))) return st;
        if (kv->type >= GGUF_T_COUNT) return fail(&c, "key '%s': unknown value type %u", key, kv->type);
        kv->n = 1;
        kv->data = c.p;
        if ((st = skip_value(&c, kv, key))) return st;
        if (str_eq(kv->key, "general.alignment")) {
            uint32_t a;
            if (kv->type != GGUF_T_UINT32) return fail(&c, "general.alignment must be a u32");
            memcpy(&a, kv->data, 4);
            if (a == 0 || (a & (a - 1)) != 0) return fail(&c, "general.alignment %u is not a power of two", a);
            f->alignment = a;
        }
    }

    if ((st = check_unique(&c, f->n_kv, &f->kv[0].key, sizeof f->kv[0], "metadata key"))) return st;

    for (uint64_t i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        char name[96];
        if ((st = take_str(&c, &t->name, "tensor name"))) return st;
        print_str(name, sizeof name, t->name);
        if (t->name.len == 0 || t->name.len >= 256) return fail(&c, "tensor %" PRIu64 " has a bad name length %" PRIu64, i, t->name.len);
        if ((st = take(&c, &t->n_dims, 4, "tensor dimension count"))) return st;
        if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
            return fail(&c, "tensor '%s' has %u dimensions (1 to %d allowed)", name, t->n_dims, GGUF_MAX_DIMS);
        for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t ne = 0;
            if ((st = take(&c, &ne, 8, "tensor shape"))) return st;
            if (ne == 0 || ne > (uint64_t)INT64_MAX / 2)
                return fail(&c, "tensor '%s' has an invalid size %" PRIu64 " in dimension %u", name, ne, d);
            t->ne[d] = (int64_t)ne;
        }
        if ((st = take(&c, &t->type, 4, "tensor type"))) return st;
        if ((st = take(&c, &t->offset, 8, "tensor offset"))) return st;
        /* element count without overflow */
        uint64_t nel = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            if ((uint64_t)t->ne[d] > UINT64_MAX / nel || nel * (uint64_t)t->ne[d] > (uint64_t)INT64_MAX)
                return fail(&c, "tensor '%s': shape overflows", name);
            nel *= (uint64_t)t->ne[d];
        }
        const struct qtype_traits *tt = qtype_get(t->type);
        if (!tt) return fail(&c, "tensor '%s' has unknown type %u", name, t->type);
        {
            if (t->ne[0] % tt->blck_size)
                return fail(&c, "tensor '%s': row length %" PRId64 " is not a multiple of the %s block size %d",
                            name, t->ne[0], tt->name, tt->blck_size);
            uint64_t blocks = nel / (uint64_t)tt->blck_size;
            if (blocks > UINT64_MAX / tt->type_size) return fail(&c, "tensor '%s': size overflows", name);
            t->nbytes = blocks * tt->type_size;
        }
    }

    if ((st = check_unique(&c, f->n_tensors, &f->tensors[0].name, sizeof f->tensors[0], "tensor name"))) return st;

    uint64_t pos = offset_of(&c);
    uint64_t data = (pos + f->alignment - 1) / f->alignment * f->alignment;
    if (f->n_tensors > 0 && data > f->size) return fail(&c, "truncated file: no tensor data section");
    f->data_offset = data;
    uint64_t data_size = f->size >= data ? f->size - data : 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        char name[96];
        print_str(name, sizeof name, t->name);
        if (t->offset % f->alignment)
            return fail(&c, "tensor '%s': data offset %" PRIu64 " is not aligned to %" PRIu64, name, t->offset, f->alignment);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return fail(&c, "tensor '%s': data [%" PRIu64 ", +%" PRIu64 ") runs past the end of the file (data section is %" PRIu64 " bytes)",
                        name, t->offset, t->nbytes, data_size);
        t->data = f->base + data + t->offset;
    }
    /* no two tensors may share bytes: sort the ranges by offset and compare neighbours */
    if (f->n_tensors > 1) {
        struct span *sp = malloc(sizeof *sp * f->n_tensors);
        if (!sp) return EDGELLM_ERR_NOMEM;
        for (uint64_t i = 0; i < f->n_tensors; i++) sp[i] = (struct span){f->tensors[i].offset, i};
        qsort(sp, f->n_tensors, sizeof *sp, span_cmp);
        for (uint64_t i = 1; i < f->n_tensors; i++) {
            const struct gguf_tensor *a = &f->tensors[sp[i - 1].idx], *b = &f->tensors[sp[i].idx];
            if (b->offset - a->offset < a->nbytes) {
                char na[96], nb[96];
                print_str(na, sizeof na, a->name);
                print_str(nb, sizeof nb, b->name);
                free(sp);
                return fail(&c, "tensors '%s' and '%s' overlap in the data section", na, nb);
            }
        }
        free(sp);
    }
    return 0;
}

edgellm_status gguf_open_mem(const void *buf, uint64_t size, int check_tensors, struct gguf_file **out, char *err, size_t err_size) {
    *out = NULL;
    if (err && err_size) err[0] = 0;
    struct gguf_file *f = calloc(1, sizeof(*f));
    if (!f) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    f->base = buf;
    f->size = size;
    (void)check_tensors;
    edgellm_status st = (edgellm_status)parse(f, err, err_size);
    if (st) {
        if (st == EDGELLM_ERR_NOMEM) util_errf(err, err_size, st, "out of memory reading the GGUF tables");
        gguf_close(f);
        return st;
    }
    *out = f;
    return 0;
}

edgellm_status gguf_open(const char *path, int check_tensors, struct gguf_file **out, char *err, size_t err_size) {
    *out = NULL;
    struct os_map *m = NULL;
    edgellm_status st = os_map_file(path, &m, err, err_size);
    if (st) return st;
    st = gguf_open_mem(os_map_data(m), os_map_size(m), check_tensors, out, err, err_size);
    if (st) {
        os_unmap(m);
        return st;
    }
    (*out)->os_map = m;
    return 0;
}

void gguf_close(struct gguf_file *f) {
    if (!f) return;
    if (f->os_map) os_unmap(f->os_map);
    free(f->kv);
    free(f->tensors);
    free(f);
}

int64_t gguf_find_key(const struct gguf_file *f, const char *key) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (str_eq(f->kv[i].key, key)) return (int64_t)i;
    return -1;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (str_eq(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static const struct gguf_kv *find(const struct gguf_file *f, const char *key) {
    int64_t i = gguf_find_key(f, key);
    return i < 0 ? NULL : &f->kv[i];
}

/* Reads a scalar of integer type t at p as int64 (u64 above INT64_MAX fails). */
static int read_int(uint32_t t, const uint8_t *p, int64_t *out) {
    switch (t) {
    case GGUF_T_UINT8: *out = *p; return 1;
    case GGUF_T_INT8: *out = (int8_t)*p; return 1;
    case GGUF_T_BOOL: *out = *p != 0; return 1;
    case GGUF_T_UINT16: { uint16_t v; memcpy(&v, p, 2); *out = v; return 1; }
    case GGUF_T_INT16: { int16_t v; memcpy(&v, p, 2); *out = v; return 1; }
    case GGUF_T_UINT32: { uint32_t v; memcpy(&v, p, 4); *out = v; return 1; }
    case GGUF_T_INT32: { int32_t v; memcpy(&v, p, 4); *out = v; return 1; }
    case GGUF_T_UINT64: { uint64_t v; memcpy(&v, p, 8); if (v > (uint64_t)INT64_MAX) return 0; *out = (int64_t)v; return 1; }
    case GGUF_T_INT64: { int64_t v; memcpy(&v, p, 8); *out = v; return 1; }
    default: return 0;
    }
}

int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out) {
    const struct gguf_kv *kv = find(f, key);
    return kv && kv->type != GGUF_T_ARRAY && kv->type != GGUF_T_BOOL && read_int(kv->type, kv->data, out);
}

int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out) {
    int64_t v;
    if (!gguf_get_i64(f, key, &v) || v < 0 || v > (int64_t)UINT32_MAX) return 0;
    *out = (uint32_t)v;
    return 1;
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *out) {
    const struct gguf_kv *kv = find(f, key);
    if (!kv) return 0;
    if (kv->type == GGUF_T_FLOAT32) { memcpy(out, kv->data, 4); return 1; }
    if (kv->type == GGUF_T_FLOAT64) { double d; memcpy(&d, kv->data, 8); *out = (float)d; return 1; }
    return 0;
}

int gguf_get_bool(const struct gguf_file *f, const char *key, int *out) {
    const struct gguf_kv *kv = find(f, key);
    if (!kv || kv->type != GGUF_T_BOOL) return 0;
    *out = kv->data[0] != 0;
    return 1;
}

int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out) {
    const struct gguf_kv *kv = find(f, key);
    if (!kv || kv->type != GGUF_T_STRING) return 0;
    uint64_t len = 0;
    memcpy(&len, kv->data, 8);
    out->ptr = (const char *)kv->data + 8;
    out->len = len;
    return 1;
}

const struct gguf_kv *gguf_get_arr(const struct gguf_file *f, const char *key, uint32_t arr_type) {
    const struct gguf_kv *kv = find(f, key);
    if (!kv || kv->type != GGUF_T_ARRAY || kv->arr_type != arr_type) return NULL;
    return kv;
}

void gguf_arr_strings(const struct gguf_kv *kv, struct gguf_str *out) {
    const uint8_t *p = kv->data;
    for (uint64_t i = 0; i < kv->n; i++) {
        uint64_t len = 0;
        memcpy(&len, p, 8);
        out[i].ptr = (const char *)p + 8;
        out[i].len = len;
        p += 8 + len;
    }
}

static double num_at(uint32_t t, const uint8_t *p) {
    int64_t v;
    if (t == GGUF_T_FLOAT32) { float x; memcpy(&x, p, 4); return x; }
    if (t == GGUF_T_FLOAT64) { double x; memcpy(&x, p, 8); return x; }
    if (t == GGUF_T_UINT64) { uint64_t x; memcpy(&x, p, 8); return (double)x; }
    return read_int(t, p, &v) ? (double)v : 0.0;
}

double gguf_arr_num(const struct gguf_kv *kv, uint64_t i) {
    if (kv->type != GGUF_T_ARRAY || i >= kv->n || kv->arr_type == GGUF_T_STRING || kv->arr_type == GGUF_T_ARRAY) return 0.0;
    return num_at(kv->arr_type, kv->data + i * vtype_sizes[kv->arr_type]);
}

/* Appends printable text of a string value (control characters escaped), bounded. */
static int fmt_str(char *buf, size_t size, struct gguf_str s, size_t max) {
    size_t n = 0, out = 0;
    char tmp[8];
    for (uint64_t i = 0; i < s.len && n < max; i++, n++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        int k;
        if (ch == '\n') k = snprintf(tmp, sizeof tmp, "\\n");
        else if (ch < 0x20 || ch == 0x7f) k = snprintf(tmp, sizeof tmp, "\\x%02x", ch);
        else { tmp[0] = (char)ch; tmp[1] = 0; k = 1; }
        if (out + (size_t)k < size) memcpy(buf + out, tmp, (size_t)k + 1);
        out += (size_t)k;
    }
    if (s.len > max) {
        if (out + 3 < size) memcpy(buf + out, "...", 4);
        out += 3;
    }
    if (size) buf[out < size ? out : size - 1] = 0;
    return (int)out;
}

static int fmt_scalar(char *buf, size_t size, uint32_t t, const uint8_t *p) {
    int64_t v;
    if (t == GGUF_T_FLOAT32 || t == GGUF_T_FLOAT64) return snprintf(buf, size, "%g", num_at(t, p));
    if (t == GGUF_T_BOOL) return snprintf(buf, size, "%s", *p ? "true" : "false");
    if (t == GGUF_T_UINT64) { uint64_t x; memcpy(&x, p, 8); return snprintf(buf, size, "%" PRIu64, x); }
    if (read_int(t, p, &v)) return snprintf(buf, size, "%" PRId64, v);
    return snprintf(buf, size, "?");
}

int gguf_kv_format(const struct gguf_kv *kv, char *buf, size_t size) {
    if (size) buf[0] = 0;
    if (kv->type == GGUF_T_STRING) {
        struct gguf_str s;
        memcpy(&s.len, kv->data, 8);
        s.ptr = (const char *)kv->data + 8;
        return fmt_str(buf, size, s, 200);
    }
    if (kv->type != GGUF_T_ARRAY) return fmt_scalar(buf, size, kv->type, kv->data);
    size_t used = (size_t)snprintf(buf, size, "[%" PRIu64 " %s]", kv->n, vtype_names[kv->arr_type]);
    const uint8_t *p = kv->data;
    for (uint64_t i = 0; i < kv->n && i < 4; i++) {
        char item[128];
        if (kv->arr_type == GGUF_T_STRING) {
            struct gguf_str s;
            memcpy(&s.len, p, 8);
            s.ptr = (const char *)p + 8;
            p += 8 + s.len;
            fmt_str(item, sizeof item, s, 40);
        } else {
            fmt_scalar(item, sizeof item, kv->arr_type, p);
            p += vtype_sizes[kv->arr_type];
        }
        used += (size_t)snprintf(used < size ? buf + used : NULL, used < size ? size - used : 0, "%s%s", i ? ", " : " ", item);
    }
    if (kv->n > 4) used += (size_t)snprintf(used < size ? buf + used : NULL, used < size ? size - used : 0, ", ...");
    return (int)used;
}
