/* safetensors reader (see safetensors.h): maps each file, parses its JSON header with the
 * project's JSON parser and checks every tensor's dtype, shape and byte range against the file
 * before exposing it. Tensors of all shards live in one table, in file order then header order. */
#include "convert/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/os.h"
#include "core/util.h"
#include "edgellm.h"
#include "quant/qtypes.h"
#include "template/json.h"

struct st_alias { char *from, *to; };

struct st_model {
    struct os_map **maps;  /* [n_files]; NULL entries for st_open_mem */
    int n_files;
    struct st_tensor *t;
    size_t n_t, cap_t;
    struct st_alias *alias;
    size_t n_alias;
    uint64_t total_bytes;
};

static const struct { const char *name; int size; enum st_dtype dt; } dtypes[] = {
    {"F32", 4, ST_F32}, {"F16", 2, ST_F16}, {"BF16", 2, ST_BF16},
    {"F64", 8, ST_OTHER}, {"I64", 8, ST_OTHER}, {"U64", 8, ST_OTHER}, {"I32", 4, ST_OTHER},
    {"U32", 4, ST_OTHER}, {"I16", 2, ST_OTHER}, {"U16", 2, ST_OTHER}, {"I8", 1, ST_OTHER},
    {"U8", 1, ST_OTHER}, {"BOOL", 1, ST_OTHER}, {"F8_E4M3", 1, ST_OTHER}, {"F8_E5M2", 1, ST_OTHER},
};

size_t st_n_tensors(const struct st_model *m) { return m->n_t; }
const struct st_tensor *st_tensor_at(const struct st_model *m, size_t i) { return i < m->n_t ? &m->t[i] : NULL; }
uint64_t st_total_bytes(const struct st_model *m) { return m->total_bytes; }

static const struct st_tensor *find_exact(const struct st_model *m, const char *name) {
    for (size_t i = 0; i < m->n_t; i++)
        if (!strcmp(m->t[i].name, name)) return &m->t[i];
    return NULL;
}

const struct st_tensor *st_find(const struct st_model *m, const char *name) {
    const struct st_tensor *t = find_exact(m, name);
    if (t) return t;
    for (size_t i = 0; i < m->n_alias; i++)
        if (!strcmp(m->alias[i].from, name)) return find_exact(m, m->alias[i].to);
    return NULL;
}

void st_close(struct st_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_files; i++) os_unmap(m->maps[i]);
    free(m->maps);
    for (size_t i = 0; i < m->n_t; i++) free(m->t[i].name);
    free(m->t);
    for (size_t i = 0; i < m->n_alias; i++) { free(m->alias[i].from); free(m->alias[i].to); }
    free(m->alias);
    free(m);
}

void st_release(const struct st_model *m, const struct st_tensor *t, uint64_t off, uint64_t n) {
    if (t->file < 0 || t->file >= m->n_files || !m->maps[t->file] || off > t->nbytes) return;
    if (n > t->nbytes - off) n = t->nbytes - off;
    os_map_release(m->maps[t->file], t->data + off, (size_t)n);
}

float st_get_f32(const struct st_tensor *t, uint64_t i) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32: { float f; memcpy(&f, p + 4 * i, 4); return f; }
    case ST_F16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return fp16_to_f32(h); }
    case ST_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return bf16_to_f32(h); }
    default: return 0;
    }
}

void st_to_f32(const struct st_tensor *t, uint64_t first, uint64_t n, float *y) {
    if (t->dtype == ST_F32) { memcpy(y, t->data + 4 * first, (size_t)n * 4); return; }
    for (uint64_t i = 0; i < n; i++) y[i] = st_get_f32(t, first + i);
}

/* Parses the header of one file image and appends its tensors (file index file). */
static int parse_image(struct st_model *m, const uint8_t *img, uint64_t size, int file, const char *fname,
                       char *err, size_t err_size) {
    if (size < 8) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: truncated safetensors file (%llu bytes, no header)", fname, (unsigned long long)size);
    uint64_t n_hdr = 0;
    for (int i = 7; i >= 0; i--) n_hdr = n_hdr << 8 | img[i];
    if (n_hdr > ST_MAX_HEADER)
        return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: safetensors header of %llu bytes is over the %u-byte limit", fname, (unsigned long long)n_hdr, ST_MAX_HEADER);
    if (n_hdr > size - 8)
        return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: safetensors header of %llu bytes is longer than the file (%llu bytes)", fname, (unsigned long long)n_hdr, (unsigned long long)size);
    const uint8_t *data = img + 8 + n_hdr;
    uint64_t data_size = size - 8 - n_hdr;
    char jerr[160];
    json_value *h = json_parse((const char *)img + 8, (size_t)n_hdr, jerr, sizeof jerr);
    if (!h) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: bad safetensors header: %s", fname, jerr);
    int st = 0;
    if (h->type != JSON_OBJECT) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: safetensors header is not a JSON object", fname); goto done; }
    for (size_t k = 0; k < h->len && !st; k++) {
        const char *name = h->keys[k];
        const json_value *v = h->items[k];
        if (strlen(name) != h->key_lens[k] || !h->key_lens[k]) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: empty or NUL-holding tensor name", fname); break; }
        if (!strcmp(name, "__metadata__")) {
            if (v->type != JSON_OBJECT) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: __metadata__ is not an object", fname); break; }
            for (size_t j = 0; j < v->len; j++) {
                const json_value *s = v->items[j];
                if (s->type != JSON_STRING || strlen(s->str) != s->len || strlen(v->keys[j]) != v->key_lens[j]) continue;
                struct st_alias *a = realloc(m->alias, (m->n_alias + 1) * sizeof *a);
                if (!a) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); break; }
                m->alias = a;
                a[m->n_alias].from = strdup(v->keys[j]);
                a[m->n_alias].to = strdup(s->str);
                m->n_alias++;
                if (!a[m->n_alias - 1].from || !a[m->n_alias - 1].to) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); break; }
            }
            continue;
        }
        if (v->type != JSON_OBJECT) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s': entry is not an object", fname, name); break; }
        const json_value *dt = json_get(v, "dtype"), *shape = json_get(v, "shape"), *offs = json_get(v, "data_offsets");
        if (!dt || dt->type != JSON_STRING || !shape || shape->type != JSON_ARRAY || !offs || offs->type != JSON_ARRAY || offs->len != 2) {
            st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s': needs dtype, shape and data_offsets [begin, end]", fname, name);
            break;
        }
        int di = -1;
        for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
            if (!strcmp(dt->str, dtypes[i].name)) di = (int)i;
        if (di < 0) {
            st = util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "%s: tensor '%s' has unknown dtype '%.32s' (edgellm convert reads F32, F16, BF16)", fname, name, dt->str);
            break;
        }
        if (shape->len > ST_MAX_DIMS) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s' has %zu dimensions (at most %d)", fname, name, shape->len, ST_MAX_DIMS); break; }
        struct st_tensor t = {0};
        t.dtype = dtypes[di].dt;
        t.dtype_name = dtypes[di].name;
        t.n_dims = (int)shape->len;
        t.n_elem = 1;
        t.file = file;
        for (size_t i = 0; i < shape->len; i++) {
            const json_value *d = shape->items[i];
            if (d->type != JSON_NUMBER || !d->is_int || d->i < 0 || d->i > (int64_t)1 << 40) {
                st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s': bad dimension in shape", fname, name);
                break;
            }
            t.shape[i] = d->i;
            if (d->i && t.n_elem > ((uint64_t)1 << 56) / (uint64_t)d->i) {
                st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s': shape too large", fname, name);
                break;
            }
            t.n_elem *= (uint64_t)d->i;
        }
        if (st) break;
        const json_value *b = offs->items[0], *e = offs->items[1];
        if (b->type != JSON_NUMBER || !b->is_int || e->type != JSON_NUMBER || !e->is_int || b->i < 0 || e->i < b->i ||
            (uint64_t)e->i > data_size) {
            st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s': data_offsets outside the file's %llu data bytes (truncated file?)", fname, name, (unsigned long long)data_size);
            break;
        }
        t.nbytes = (uint64_t)(e->i - b->i);
        if (t.nbytes != t.n_elem * (uint64_t)dtypes[di].size) {
            st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s': %llu data bytes for %llu %s elements", fname, name, (unsigned long long)t.nbytes, (unsigned long long)t.n_elem, t.dtype_name);
            break;
        }
        t.data = data + b->i;
        if (find_exact(m, name)) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s' appears twice", fname, name); break; }
        if (m->n_t == m->cap_t) {
            size_t cap = m->cap_t ? 2 * m->cap_t : 64;
            struct st_tensor *p = realloc(m->t, cap * sizeof *p);
            if (!p) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); break; }
            m->t = p;
            m->cap_t = cap;
        }
        if (!(t.name = strdup(name))) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); break; }
        m->t[m->n_t++] = t;
    }
done:
    json_free(h);
    return st;
}

int st_open_mem(const void *data, size_t size, struct st_model **out, char *err, size_t err_size) {
    *out = NULL;
    struct st_model *m = calloc(1, sizeof *m);
    if (!m) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    m->total_bytes = size;
    int st = parse_image(m, data, size, -1, "(memory)", err, err_size);
    if (st) { st_close(m); return st; }
    *out = m;
    return 0;
}

static int add_file(struct st_model *m, const char *dir, const char *fname, char *err, size_t err_size) {
    size_t n = strlen(dir) + strlen(fname) + 2;
    char *path = malloc(n);
    if (!path) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/%s", dir, fname);
    struct os_map **maps = realloc(m->maps, (size_t)(m->n_files + 1) * sizeof *maps);
    if (!maps) { free(path); return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); }
    m->maps = maps;
    int st = os_map_file(path, &m->maps[m->n_files], err, err_size);
    if (!st) {
        m->n_files++;
        const struct os_map *mp = m->maps[m->n_files - 1];
        m->total_bytes += os_map_size(mp);
        st = parse_image(m, os_map_data(mp), os_map_size(mp), m->n_files - 1, path, err, err_size);
    }
    free(path);
    return st;
}

int st_read_json_file(const char *path, struct json_value **out, char *err, size_t err_size) {
    *out = NULL;
    struct os_map *map;
    int st = os_map_file(path, &map, err, err_size);
    if (st) return st;
    char jerr[160];
    *out = json_parse(os_map_data(map), (size_t)os_map_size(map), jerr, sizeof jerr);
    os_unmap(map);
    if (!*out) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: %s", path, jerr);
    return 0;
}

static int open_sharded(struct st_model *m, const char *dir, const char *index_path, char *err, size_t err_size) {
    json_value *idx;
    int st = st_read_json_file(index_path, &idx, err, err_size);
    if (st) return st;
    const json_value *wm = json_get(idx, "weight_map");
    if (idx->type != JSON_OBJECT || !wm || wm->type != JSON_OBJECT || !wm->len) {
        st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
        goto done;
    }
    for (size_t i = 0; i < wm->len && !st; i++) {
        const json_value *f = wm->items[i];
        if (f->type != JSON_STRING || !f->len || strlen(f->str) != f->len || strchr(f->str, '/') || f->str[0] == '.') {
            st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s' maps to a bad file name", index_path, wm->keys[i]);
            break;
        }
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(wm->items[j]->str, f->str);
        if (!seen) st = add_file(m, dir, f->str, err, err_size);
    }
    for (size_t i = 0; i < wm->len && !st; i++) {
        const struct st_tensor *t = find_exact(m, wm->keys[i]);
        if (!t) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "%s: tensor '%s' is not in %s", index_path, wm->keys[i], wm->items[i]->str); break; }
    }
done:
    json_free(idx);
    return st;
}

int st_open_dir(const char *dir, struct st_model **out, char *err, size_t err_size) {
    *out = NULL;
    struct st_model *m = calloc(1, sizeof *m);
    if (!m) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    size_t n = strlen(dir) + 64;
    char *path = malloc(n);
    if (!path) { free(m); return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); }
    int st;
    snprintf(path, n, "%s/model.safetensors", dir);
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        st = add_file(m, dir, "model.safetensors", err, err_size);
    } else {
        snprintf(path, n, "%s/model.safetensors.index.json", dir);
        if ((probe = fopen(path, "rb"))) {
            fclose(probe);
            st = open_sharded(m, dir, path, err, err_size);
        } else {
            st = util_errf(err, err_size, EDGELLM_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
        }
    }
    free(path);
    if (st) { st_close(m); return st; }
    *out = m;
    return 0;
}
