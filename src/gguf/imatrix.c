/* Importance matrix reader (see imatrix.h). */
#include "gguf/imatrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "edgellm.h"
#include "gguf/gguf.h"
#include "quant/qtypes.h"

static const char SUMS[] = ".in_sum2", COUNTS[] = ".counts";

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

static int ends_with(const struct gguf_str *s, const char *suf) {
    size_t n = strlen(suf);
    return s->len >= n && !memcmp(s->ptr + s->len - n, suf, n);
}

static const struct gguf_tensor *find_n(const struct gguf_file *f, const char *name, size_t n, const char *suf) {
    size_t ns = strlen(suf);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        if (t->name.len == n + ns && !memcmp(t->name.ptr, name, n) && !memcmp(t->name.ptr + n, suf, ns)) return t;
    }
    return NULL;
}

static float *copy_f32(const struct gguf_tensor *t, int64_t n) {
    float *d = malloc((size_t)n * sizeof(float) + 1);
    if (d) memcpy(d, t->data, (size_t)n * sizeof(float));
    return d;
}

int imatrix_load(const char *path, struct imatrix **out, char *err, size_t err_size) {
    *out = NULL;
    struct gguf_file *f;
    int st = gguf_open(path, 1, &f, err, err_size);
    if (st) return st;
    struct gguf_str ty;
    if (!gguf_get_str(f, "general.type", &ty) || ty.len != 7 || memcmp(ty.ptr, "imatrix", 7)) {
        gguf_close(f);
        return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "'%s' is not an importance matrix (general.type is not \"imatrix\")", path);
    }
    struct imatrix *im = calloc(1, sizeof *im);
    if (!im || !(im->entries = calloc(f->n_tensors + 1, sizeof *im->entries))) {
        free(im);
        gguf_close(f);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    gguf_get_u32(f, "imatrix.chunk_count", &im->chunk_count);
    gguf_get_u32(f, "imatrix.chunk_size", &im->chunk_size);
    const struct gguf_kv *ds = gguf_get_arr(f, "imatrix.datasets", GGUF_T_STRING);
    if (ds && ds->n > 0) {
        struct gguf_str *strs = malloc(ds->n * sizeof *strs);
        if (strs) {
            gguf_arr_strings(ds, strs);
            im->dataset = dupn(strs[0].ptr, strs[0].len);
            free(strs);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors && !st; i++) {
        const struct gguf_tensor *ts = &f->tensors[i];
        if (!ends_with(&ts->name, SUMS)) continue;
        size_t nlen = ts->name.len - strlen(SUMS);
        const struct gguf_tensor *tc = find_n(f, ts->name.ptr, nlen, COUNTS);
        if (!tc) {
            st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "'%s': %.*s has no matching .counts tensor", path,
                           (int)ts->name.len, ts->name.ptr);
            break;
        }
        if (ts->type != QT_F32 || tc->type != QT_F32) {
            st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "'%s': %.*s: imatrix tensors must be F32", path, (int)nlen, ts->name.ptr);
            break;
        }
        int64_t ns = (int64_t)(ts->nbytes / 4), nc = (int64_t)(tc->nbytes / 4);
        if (nc < 1 || ns < 1 || ns % nc) {
            st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "'%s': %.*s: %lld sums do not split over %lld counts", path,
                           (int)nlen, ts->name.ptr, (long long)ns, (long long)nc);
            break;
        }
        struct imatrix_entry *e = &im->entries[im->n_entries++];
        e->name = dupn(ts->name.ptr, nlen);
        e->n_expert = nc;
        e->ne0 = ns / nc;
        e->in_sum2 = copy_f32(ts, ns);
        e->counts = copy_f32(tc, nc);
        e->weights = malloc((size_t)ns * sizeof(float) + 1);
        if (!e->name || !e->in_sum2 || !e->counts || !e->weights) {
            st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory reading '%s'", path);
            break;
        }
        for (int64_t j = 0; j < nc && !st; j++) {
            const float count = e->counts[j];
            for (int64_t k = 0; k < e->ne0; k++) {
                const float s = e->in_sum2[j * e->ne0 + k];
                if (!isfinite(s)) {
                    st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "'%s': %s contains a non-finite value", path, e->name);
                    break;
                }
                e->weights[j * e->ne0 + k] = count > 0.0f ? s / count : 1;
            }
        }
    }
    gguf_close(f);
    if (!st && im->n_entries == 0) st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "'%s' holds no importance data (no <name>.in_sum2 tensors)", path);
    if (st) { imatrix_free(im); return st; }
    *out = im;
    return 0;
}

void imatrix_free(struct imatrix *im) {
    if (!im) return;
    for (size_t i = 0; i < im->n_entries; i++) {
        free(im->entries[i].name);
        free(im->entries[i].in_sum2);
        free(im->entries[i].counts);
        free(im->entries[i].weights);
    }
    free(im->entries);
    free(im->dataset);
    free(im);
}

const struct imatrix_entry *imatrix_find(const struct imatrix *im, const char *name) {
    for (size_t i = 0; im && i < im->n_entries; i++)
        if (!strcmp(im->entries[i].name, name)) return &im->entries[i];
    return NULL;
}
