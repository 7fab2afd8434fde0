/* The architecture table's loader checks (model/arch.c, model/model.c), on copies of zoo files
 * with one metadata key changed: per-layer arrays must have block_count entries (checked before
 * anything is filled), arrays of equal values are accepted, a per-layer sliding-window pattern is
 * read layer by layer, and bad head sizes are refused with a one-line reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgellm.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "testutil.h"

struct edit {
    const char *key;      /* replaced (or added) key; NULL: none */
    uint32_t arr_type;    /* GGUF_T_UINT32 array, or 0 for a scalar u32 */
    uint32_t vals[16];
    uint64_t n;
    const char *drop;     /* a key removed, or NULL */
};

/* Copies src with the edit into dst; returns 0 on success. */
static int copy_with(const char *src, const char *dst, const struct edit *e) {
    struct gguf_file *f = NULL;
    char err[256];
    if (gguf_open(src, 1, &f, err, sizeof err)) { fprintf(stderr, "%s\n", err); return -1; }
    struct gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        if ((e->key && kv->key.len == strlen(e->key) && !memcmp(kv->key.ptr, e->key, kv->key.len)) ||
            (e->drop && kv->key.len == strlen(e->drop) && !memcmp(kv->key.ptr, e->drop, kv->key.len)))
            continue;
        gguf_writer_copy_kv(w, kv, NULL);
    }
    if (e->key) {
        if (e->arr_type) gguf_writer_add_arr(w, e->key, e->arr_type, e->vals, e->n);
        else gguf_writer_add_u32(w, e->key, e->vals[0]);
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        gguf_writer_add_tensor(w, name, t->type, (int)t->n_dims, t->ne, t->data, NULL, NULL);
    }
    int st = gguf_writer_write_file(w, dst, err, sizeof err);
    if (st) fprintf(stderr, "%s\n", err);
    gguf_writer_free(w);
    gguf_close(f);
    return st;
}

/* Loads dst; returns the status, the reason in err. */
static int try_load(const char *path, char *err, size_t size, struct edgellm_model **out) {
    struct edgellm_model *m = NULL;
    int st = edgellm_model_load(path, NULL, &m, err, size);
    if (out) *out = m;
    else edgellm_model_free(m);
    return st;
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    char gemma[1024], qwen3[1024], tmp[64], err[512];
    snprintf(gemma, sizeof gemma, "%s/zoo/gemma3-mini-f32.gguf", shared);
    snprintf(qwen3, sizeof qwen3, "%s/zoo/qwen3-mini-f32.gguf", shared);
    snprintf(tmp, sizeof tmp, "/tmp/edgellm-test-arch-%d.gguf", (int)getpid());

    /* head_count as an array one entry short of block_count (6): refused, nothing filled */
    struct edit e1 = {"gemma3.attention.head_count", GGUF_T_UINT32, {4, 4, 4, 4, 4}, 5, NULL};
    CHECK(copy_with(gemma, tmp, &e1) == 0);
    CHECK(try_load(tmp, err, sizeof err, NULL) == EDGELLM_ERR_UNSUPPORTED);
    CHECKF(strstr(err, "block_count") != NULL, "message: %s", err);
    /* a huge array length is refused the same way */
    struct edit e1b = {"gemma3.attention.head_count_kv", GGUF_T_UINT32, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 16, NULL};
    CHECK(copy_with(gemma, tmp, &e1b) == 0);
    CHECK(try_load(tmp, err, sizeof err, NULL) == EDGELLM_ERR_UNSUPPORTED);
    CHECKF(strstr(err, "block_count") != NULL, "message: %s", err);
    /* the right length with equal values loads */
    struct edit e2 = {"gemma3.attention.head_count", GGUF_T_UINT32, {4, 4, 4, 4, 4, 4}, 6, NULL};
    CHECK(copy_with(gemma, tmp, &e2) == 0);
    CHECKF(try_load(tmp, err, sizeof err, NULL) == EDGELLM_OK, "%s", err);
    /* values that differ between layers: a clear refusal */
    struct edit e3 = {"gemma3.feed_forward_length", GGUF_T_UINT32, {256, 256, 512, 256, 256, 256}, 6, NULL};
    CHECK(copy_with(gemma, tmp, &e3) == 0);
    CHECK(try_load(tmp, err, sizeof err, NULL) == EDGELLM_ERR_UNSUPPORTED);
    CHECKF(strstr(err, "differs between layers") != NULL, "message: %s", err);
    /* a per-layer sliding-window pattern: slide on layers 1 and 3 only */
    struct edit e4 = {"gemma3.attention.sliding_window_pattern", GGUF_T_UINT32, {0, 1, 0, 1, 0, 0}, 6, NULL};
    CHECK(copy_with(gemma, tmp, &e4) == 0);
    struct edgellm_model *m = NULL;
    CHECKF(try_load(tmp, err, sizeof err, &m) == EDGELLM_OK, "%s", err);
    if (m) {
        struct edgellm_layer_desc ld = EDGELLM_LAYER_DESC_INIT;
        int swa[6] = {0};
        for (uint32_t il = 0; il < 6; il++) swa[il] = edgellm_model_layer(m, il, &ld) == 0 && ld.swa;
        CHECK(!swa[0] && swa[1] && !swa[2] && swa[3] && !swa[4] && !swa[5]);
        CHECK(edgellm_model_layer(m, 6, &ld) == EDGELLM_ERR_ARG);
        edgellm_model_free(m);
    }
    /* a scalar pattern of 3: layers 0, 1, 3, 4 slide */
    struct edit e5 = {"gemma3.attention.sliding_window_pattern", 0, {3}, 1, NULL};
    CHECK(copy_with(gemma, tmp, &e5) == 0);
    m = NULL;
    CHECKF(try_load(tmp, err, sizeof err, &m) == EDGELLM_OK, "%s", err);
    if (m) {
        struct edgellm_layer_desc ld = EDGELLM_LAYER_DESC_INIT;
        int got = 0;
        for (uint32_t il = 0; il < 6; il++) got |= (edgellm_model_layer(m, il, &ld) == 0 && ld.swa) << il;
        CHECKF(got == 0x1b, "pattern 3: swa mask %#x", got);
        edgellm_model_free(m);
    }
    /* without attention.sliding_window: no sliding layers at all */
    struct edit e6 = {NULL, 0, {0}, 0, "gemma3.attention.sliding_window"};
    CHECK(copy_with(gemma, tmp, &e6) == 0);
    m = NULL;
    CHECKF(try_load(tmp, err, sizeof err, &m) == EDGELLM_OK, "%s", err);
    if (m) {
        struct edgellm_layer_desc ld = EDGELLM_LAYER_DESC_INIT;
        CHECK(edgellm_model_layer(m, 0, &ld) == 0 && !ld.swa);
        edgellm_model_free(m);
    }
    /* qwen3 without key_length: the key head size falls back to n_embd / n_head (64), which
     * disagrees with value_length (128): refused */
    struct edit e7 = {NULL, 0, {0}, 0, "qwen3.attention.key_length"};
    CHECK(copy_with(qwen3, tmp, &e7) == 0);
    CHECK(try_load(tmp, err, sizeof err, NULL) == EDGELLM_ERR_UNSUPPORTED);
    CHECKF(strstr(err, "head size 64") != NULL, "message: %s", err);
    /* an odd head size */
    struct edit e8 = {"qwen3.attention.key_length", 0, {127}, 1, NULL};
    CHECK(copy_with(qwen3, tmp, &e8) == 0);
    CHECK(try_load(tmp, err, sizeof err, NULL) == EDGELLM_ERR_UNSUPPORTED);
    CHECKF(strstr(err, "head size") != NULL, "message: %s", err);
    remove(tmp);
    return TEST_DONE();
}
