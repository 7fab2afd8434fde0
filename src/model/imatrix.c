/* Importance matrix collector and writer (edgellm_imatrix_*): the context's activation hook
 * (forward.c reports every matmul input) feeds, per weight, a float32 running sum of x[j]^2 over
 * all token rows and a token count, accumulated row after row in token order as llama-imatrix
 * does; multiplications over fewer than IMATRIX_MIN_ROWS rows are skipped, as there.
 * Entries are kept sorted by name (binary search on each call; the file lists them in that
 * order). The file is llama.cpp's imatrix GGUF: general.type, imatrix.datasets,
 * imatrix.chunk_count, imatrix.chunk_size, then per weight "<name>.in_sum2" (F32 [n_cols]) and
 * "<name>.counts" (F32 [1]), written under a temporary name and renamed when complete.
 */
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "gguf/gguf_writer.h"
#include "model/context.h"
#include "quant/qtypes.h"

#define IMATRIX_MIN_ROWS 16
/* the params layout of ABI 1.0 (up to process_output): callers built against it stay valid */
#define IMATRIX_PARAMS_V1_SIZE (offsetof(struct edgellm_imatrix_params, process_output) + sizeof(int32_t))

struct im_entry {
    char *name;
    float *sum2;    /* [n_cols] */
    int64_t n_cols;
    int64_t count;  /* token rows */
};

struct edgellm_imatrix {
    struct edgellm_imatrix_params p;
    struct im_entry *e;
    int32_t n, cap;
    char **datasets;
    int32_t n_datasets;
    edgellm_status status;
    char errmsg[256];
};

static edgellm_status im_fail(struct edgellm_imatrix *im, edgellm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static edgellm_status im_fail(struct edgellm_imatrix *im, edgellm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(im->errmsg, sizeof im->errmsg, fmt, ap);
    va_end(ap);
    return st;
}

static char *dup_cstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

edgellm_status edgellm_imatrix_new(const struct edgellm_imatrix_params *params, struct edgellm_imatrix **out, char *err,
                                   size_t err_size) {
    struct edgellm_imatrix_params p = edgellm_imatrix_default_params();
    if (err && err_size) err[0] = 0;
    if (!out) return EDGELLM_ERR_ARG;
    *out = NULL;
    if (params) {
        /* read only the caller's struct_size bytes; fields beyond keep their defaults */
        if (params->struct_size < IMATRIX_PARAMS_V1_SIZE) {
            if (err && err_size) snprintf(err, err_size, "edgellm_imatrix_params.struct_size %u is too small", params->struct_size);
            return EDGELLM_ERR_ARG;
        }
        memcpy(&p, params, params->struct_size < sizeof p ? params->struct_size : sizeof p);
        p.struct_size = sizeof p;
    }
    if (!p.chunk_size) p.chunk_size = 512;
    struct edgellm_imatrix *im = calloc(1, sizeof *im);
    if (!im) {
        if (err && err_size) snprintf(err, err_size, "out of memory");
        return EDGELLM_ERR_NOMEM;
    }
    im->p = p;
    *out = im;
    return EDGELLM_OK;
}

void edgellm_imatrix_free(struct edgellm_imatrix *im) {
    if (!im) return;
    for (int32_t i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].sum2);
    }
    for (int32_t i = 0; i < im->n_datasets; i++) free(im->datasets[i]);
    free(im->datasets);
    free(im->e);
    free(im);
}

const char *edgellm_imatrix_errmsg(const struct edgellm_imatrix *im) { return im ? im->errmsg : "no imatrix"; }
edgellm_status edgellm_imatrix_status(const struct edgellm_imatrix *im) { return im ? im->status : EDGELLM_ERR_ARG; }

/* Index of name, or -(insertion point) - 1. */
static int32_t im_find(const struct edgellm_imatrix *im, const char *name) {
    int32_t lo = 0, hi = im->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(im->e[mid].name, name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -lo - 1;
}

static struct im_entry *im_get(struct edgellm_imatrix *im, const char *name, int64_t n_cols) {
    int32_t i = im_find(im, name);
    if (i >= 0) {
        if (im->e[i].n_cols != n_cols) {
            im->status = im_fail(im, EDGELLM_ERR_ARG, "%s: inputs of %lld columns, earlier %lld", name, (long long)n_cols,
                                 (long long)im->e[i].n_cols);
            return NULL;
        }
        return &im->e[i];
    }
    i = -i - 1;
    if (im->n == im->cap) {
        int32_t cap = im->cap ? im->cap * 2 : 64;
        struct im_entry *ne = realloc(im->e, sizeof *ne * (size_t)cap);
        if (!ne) goto oom;
        im->e = ne;
        im->cap = cap;
    }
    struct im_entry x = {dup_cstr(name), calloc((size_t)n_cols, sizeof(float)), n_cols, 0};
    if (!x.name || !x.sum2) {
        free(x.name);
        free(x.sum2);
        goto oom;
    }
    memmove(im->e + i + 1, im->e + i, sizeof *im->e * (size_t)(im->n - i));
    im->e[i] = x;
    im->n++;
    return &im->e[i];
oom:
    im->status = im_fail(im, EDGELLM_ERR_NOMEM, "out of memory collecting %s", name);
    return NULL;
}

static void im_collect(void *user, const char *weight, const float *x, int32_t n_rows, int64_t n_cols) {
    struct edgellm_imatrix *im = user;
    if (im->status || n_rows < IMATRIX_MIN_ROWS || n_cols <= 0) return;
    if (strncmp(weight, "blk.", 4) != 0 && !(im->p.process_output && !strcmp(weight, "output.weight"))) return;
    struct im_entry *e = im_get(im, weight, n_cols);
    if (!e) return;
    float *acc = e->sum2;
    for (int32_t r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * (size_t)n_cols;
        for (int64_t j = 0; j < n_cols; j++) acc[j] += xr[j] * xr[j];
    }
    e->count += n_rows;
    for (int64_t j = 0; j < n_cols; j++)
        if (!isfinite(acc[j])) {
            im->status = im_fail(im, EDGELLM_ERR_FORMAT, "non-finite activations in the input of %s", weight);
            return;
        }
}

void edgellm_imatrix_attach(struct edgellm_context *ctx, struct edgellm_imatrix *im) {
    if (!ctx) return;
    edgellm_context_set_activation_hook(ctx, im ? im_collect : NULL, im);
}

edgellm_status edgellm_imatrix_add_dataset(struct edgellm_imatrix *im, const char *name) {
    if (!im || !name) return EDGELLM_ERR_ARG;
    char **nd = realloc(im->datasets, sizeof *nd * (size_t)(im->n_datasets + 1));
    if (!nd) return im_fail(im, EDGELLM_ERR_NOMEM, "out of memory");
    im->datasets = nd;
    if (!(nd[im->n_datasets] = dup_cstr(name))) return im_fail(im, EDGELLM_ERR_NOMEM, "out of memory");
    im->n_datasets++;
    return EDGELLM_OK;
}

int32_t edgellm_imatrix_n_entries(const struct edgellm_imatrix *im) { return im ? im->n : 0; }

const char *edgellm_imatrix_entry(const struct edgellm_imatrix *im, int32_t i, const float **sum2, int64_t *n_cols,
                                  int64_t *count) {
    if (!im || i < 0 || i >= im->n) return NULL;
    if (sum2) *sum2 = im->e[i].sum2;
    if (n_cols) *n_cols = im->e[i].n_cols;
    if (count) *count = im->e[i].count;
    return im->e[i].name;
}

uint32_t edgellm_imatrix_n_chunks(const struct edgellm_imatrix *im) {
    if (!im) return 0;
    int64_t mx = 0;
    for (int32_t i = 0; i < im->n; i++)
        if (im->e[i].count > mx) mx = im->e[i].count;
    return (uint32_t)(mx / im->p.chunk_size);
}

edgellm_status edgellm_imatrix_save(struct edgellm_imatrix *im, const char *path) {
    if (!im || !path) return EDGELLM_ERR_ARG;
    if (im->status) return im->status;
    if (!im->n) return im_fail(im, EDGELLM_ERR_ARG, "nothing collected (no decode of %d or more tokens ran)", IMATRIX_MIN_ROWS);
    struct gguf_writer *w = gguf_writer_new();
    float *counts = malloc(sizeof(float) * (size_t)im->n);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    edgellm_status st = EDGELLM_OK;
    if (!w || !counts || !tmp) {
        st = im_fail(im, EDGELLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    gguf_writer_add_str(w, "general.type", "imatrix");
    gguf_writer_add_arr_str(w, "imatrix.datasets", (const char *const *)im->datasets, NULL, (uint64_t)im->n_datasets);
    gguf_writer_add_u32(w, "imatrix.chunk_count", edgellm_imatrix_n_chunks(im));
    gguf_writer_add_u32(w, "imatrix.chunk_size", im->p.chunk_size);
    for (int32_t i = 0; i < im->n; i++) {
        char name[300];
        const struct im_entry *e = &im->e[i];
        int64_t ne1 = 1;
        counts[i] = (float)e->count;
        snprintf(name, sizeof name, "%s.in_sum2", e->name);
        gguf_writer_add_tensor(w, name, QT_F32, 1, &e->n_cols, e->sum2, NULL, NULL);
        snprintf(name, sizeof name, "%s.counts", e->name);
        gguf_writer_add_tensor(w, name, QT_F32, 1, &ne1, &counts[i], NULL, NULL);
    }
    char err[256];
    st = (edgellm_status)gguf_writer_write_file(w, tmp, err, sizeof err);
    if (st) {
        im_fail(im, st, "%s", err);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        st = im_fail(im, EDGELLM_ERR_IO, "cannot rename '%s' to '%s'", tmp, path);
    }
done:
    gguf_writer_free(w);
    free(counts);
    free(tmp);
    return st;
}
