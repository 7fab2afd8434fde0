/* Tests of the GGUF writer: a file with every metadata type, arrays of numbers and strings and a
 * few tensors (from a pointer and from a fill callback) is written to memory and to disk, read
 * back with the reader (gguf.h), and every value, shape, offset and data byte is compared with
 * what was put in. Also checks the byte layout of a tiny file against a hand-assembled image,
 * alignment handling, copying keys out of a real vocabulary file, and argument errors.
 * Then edgellm_synth_write (tools/dev/synth.c): a full-size file against ../shared/presets, its metadata
 * and vocabulary against ../shared/vocab, and its weights dequantized by the reference qtypes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgellm_dev.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "quant/qtypes.h"
#include "testutil.h"

static int str_is(struct gguf_str s, const char *z) { return s.len == strlen(z) && !memcmp(s.ptr, z, s.len); }

/* Fill callback: byte j of row r of tensor ti is (ti * 131 + r * 7 + j) & 0xff. Records the calls. */
struct fill_log { uint64_t next_row; int out_of_order; uint64_t calls; };
static int fill_pattern(void *user, uint64_t ti, uint64_t first_row, uint64_t n_rows, void *buf) {
    struct fill_log *log = user;
    if (first_row != log->next_row) log->out_of_order = 1;
    log->next_row = first_row + n_rows;
    log->calls++;
    /* the only tensor filled this way has rows of 4 Q8_0 blocks = 136 bytes */
    uint8_t *b = buf;
    for (uint64_t r = 0; r < n_rows; r++)
        for (uint64_t j = 0; j < 136; j++) b[r * 136 + j] = (uint8_t)(ti * 131 + (first_row + r) * 7 + j);
    return 0;
}

static int fill_fail(void *user, uint64_t ti, uint64_t first_row, uint64_t n_rows, void *buf) {
    return EDGELLM_ERR_ARG;
}

static void build_full(struct gguf_writer *w, const float *f32data, struct fill_log *log) {
    static const int32_t i32s[5] = {-3, 0, 7, 2147483647, -2147483647 - 1};
    static const float f32s[3] = {1.5f, -0.25f, 3.0e38f};
    static const uint8_t bools[4] = {1, 0, 0, 1};
    static const char *const strs[4] = {"a", "", "hello wörld", "<｜User｜>"};
    gguf_writer_add_str(w, "general.architecture", "test");
    gguf_writer_add_u8(w, "k.u8", 250);
    gguf_writer_add_i8(w, "k.i8", -100);
    gguf_writer_add_u16(w, "k.u16", 65000);
    gguf_writer_add_i16(w, "k.i16", -32000);
    gguf_writer_add_u32(w, "k.u32", 4000000000u);
    gguf_writer_add_i32(w, "k.i32", -2000000000);
    gguf_writer_add_u64(w, "k.u64", 0xfedcba9876543210ull);
    gguf_writer_add_i64(w, "k.i64", -9000000000000000000ll);
    gguf_writer_add_f32(w, "k.f32", 1e-6f);
    gguf_writer_add_f64(w, "k.f64", -2.718281828459045);
    gguf_writer_add_bool(w, "k.true", 1);
    gguf_writer_add_bool(w, "k.false", 0);
    gguf_writer_add_str(w, "k.str", "line1\nline2");
    gguf_writer_add_strn(w, "k.strn", "ab\0cd", 5);
    gguf_writer_add_arr(w, "k.arr_i32", GGUF_T_INT32, i32s, 5);
    gguf_writer_add_arr(w, "k.arr_f32", GGUF_T_FLOAT32, f32s, 3);
    gguf_writer_add_arr(w, "k.arr_bool", GGUF_T_BOOL, bools, 4);
    gguf_writer_add_arr(w, "k.arr_empty", GGUF_T_UINT64, NULL, 0);
    gguf_writer_add_arr_str(w, "k.arr_str", strs, NULL, 4);
    gguf_writer_set_alignment(w, 64);

    int64_t ne_a[2] = {8, 3};          /* f32 [3][8] from a pointer */
    int64_t ne_b[3] = {128, 5, 2};     /* q8_0 10 rows of 136 bytes from a fill callback */
    int64_t ne_c[1] = {7};             /* f32, 28 bytes: the next offset needs padding */
    CHECK(gguf_writer_add_tensor(w, "a.weight", QT_F32, 2, ne_a, f32data, NULL, NULL) == 0);
    CHECK(gguf_writer_add_tensor(w, "b.weight", QT_Q8_0, 3, ne_b, NULL, fill_pattern, log) == 1);
    CHECK(gguf_writer_add_tensor(w, "c.bias", QT_F32, 1, ne_c, f32data, NULL, NULL) == 2);
}

static void check_full(const void *buf, uint64_t size, const float *f32data) {
    struct gguf_file *f = NULL;
    char err[256];
    int st = gguf_open_mem(buf, size, 1, &f, err, sizeof err);
    CHECKF(st == 0, "reader refused the file: %s", err);
    if (st) return;
    CHECK(f->version == 3);
    CHECK(f->n_kv == 21);
    CHECK(f->n_tensors == 3);
    CHECK(f->alignment == 64);
    CHECK(f->data_offset % 64 == 0);

    struct gguf_str s;
    uint32_t u32 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    int b = -1;
    CHECK(gguf_get_str(f, "general.architecture", &s) && str_is(s, "test"));
    const struct gguf_kv *kv;
    int64_t k;
    /* every scalar: type and raw value */
#define RAW(key, T, type_id, expect) do { k = gguf_find_key(f, key); CHECKF(k >= 0, "%s missing", key); \
        if (k >= 0) { T v_; kv = &f->kv[k]; memcpy(&v_, kv->data, sizeof v_); \
            CHECKF(kv->type == type_id && v_ == (expect), "%s: type %u", key, kv->type); } } while (0)
    RAW("k.u8", uint8_t, GGUF_T_UINT8, 250);
    RAW("k.i8", int8_t, GGUF_T_INT8, -100);
    RAW("k.u16", uint16_t, GGUF_T_UINT16, 65000);
    RAW("k.i16", int16_t, GGUF_T_INT16, -32000);
    RAW("k.u32", uint32_t, GGUF_T_UINT32, 4000000000u);
    RAW("k.i32", int32_t, GGUF_T_INT32, -2000000000);
    RAW("k.u64", uint64_t, GGUF_T_UINT64, 0xfedcba9876543210ull);
    RAW("k.i64", int64_t, GGUF_T_INT64, -9000000000000000000ll);
    RAW("k.f32", float, GGUF_T_FLOAT32, 1e-6f);
    RAW("k.f64", double, GGUF_T_FLOAT64, -2.718281828459045);
    RAW("general.alignment", uint32_t, GGUF_T_UINT32, 64);
#undef RAW
    CHECK(gguf_get_u32(f, "k.u32", &u32) && u32 == 4000000000u);
    CHECK(gguf_get_i64(f, "k.i64", &i64) && i64 == -9000000000000000000ll);
    CHECK(gguf_get_f32(f, "k.f32", &f32) && f32 == 1e-6f);
    CHECK(gguf_get_bool(f, "k.true", &b) && b == 1);
    CHECK(gguf_get_bool(f, "k.false", &b) && b == 0);
    CHECK(gguf_get_str(f, "k.str", &s) && str_is(s, "line1\nline2"));
    CHECK(gguf_get_str(f, "k.strn", &s) && s.len == 5 && !memcmp(s.ptr, "ab\0cd", 5));

    kv = gguf_get_arr(f, "k.arr_i32", GGUF_T_INT32);
    CHECK(kv && kv->n == 5);
    if (kv) {
        CHECK(gguf_arr_num(kv, 0) == -3 && gguf_arr_num(kv, 2) == 7);
        CHECK(gguf_arr_num(kv, 3) == 2147483647.0 && gguf_arr_num(kv, 4) == -2147483648.0);
    }
    kv = gguf_get_arr(f, "k.arr_f32", GGUF_T_FLOAT32);
    CHECK(kv && kv->n == 3 && gguf_arr_num(kv, 0) == 1.5 && gguf_arr_num(kv, 1) == -0.25 && (float)gguf_arr_num(kv, 2) == 3.0e38f);
    kv = gguf_get_arr(f, "k.arr_bool", GGUF_T_BOOL);
    CHECK(kv && kv->n == 4 && kv->data[0] == 1 && kv->data[1] == 0 && kv->data[3] == 1);
    kv = gguf_get_arr(f, "k.arr_empty", GGUF_T_UINT64);
    CHECK(kv && kv->n == 0);
    kv = gguf_get_arr(f, "k.arr_str", GGUF_T_STRING);
    CHECK(kv && kv->n == 4);
    if (kv && kv->n == 4) {
        struct gguf_str a[4];
        gguf_arr_strings(kv, a);
        CHECK(str_is(a[0], "a") && str_is(a[1], "") && str_is(a[2], "hello wörld") && str_is(a[3], "<｜User｜>"));
    }
    /* the keys come back in insertion order */
    CHECK(str_is(f->kv[0].key, "general.architecture") && str_is(f->kv[20].key, "general.alignment"));

    const struct gguf_tensor *ta = gguf_find_tensor(f, "a.weight");
    const struct gguf_tensor *tb = gguf_find_tensor(f, "b.weight");
    const struct gguf_tensor *tc = gguf_find_tensor(f, "c.bias");
    CHECK(ta && tb && tc);
    if (ta && tb && tc) {
        CHECK(ta->n_dims == 2 && ta->ne[0] == 8 && ta->ne[1] == 3 && ta->ne[2] == 1 && ta->type == QT_F32);
        CHECK(ta->offset == 0 && ta->nbytes == 96);
        CHECK(!memcmp(ta->data, f32data, 96));
        /* 96 bytes padded to 64 -> 128 */
        CHECK(tb->n_dims == 3 && tb->ne[0] == 128 && tb->ne[1] == 5 && tb->ne[2] == 2 && tb->type == QT_Q8_0);
        CHECK(tb->offset == 128 && tb->nbytes == 10 * 136);
        const uint8_t *p = tb->data;
        int bad = 0;
        for (int r = 0; r < 10; r++)
            for (int j = 0; j < 136; j++) bad += p[r * 136 + j] != (uint8_t)(1 * 131 + r * 7 + j);
        CHECKF(bad == 0, "%d bytes of the filled tensor differ", bad);
        /* 1360 padded to 64 -> 1408; 128 + 1408 = 1536 */
        CHECK(tc->n_dims == 1 && tc->ne[0] == 7 && tc->offset == 1536 && tc->nbytes == 28);
        CHECK(!memcmp(tc->data, f32data, 28));
        /* the last tensor is padded too, as llama.cpp's writer does */
        CHECK(size == f->data_offset + 1536 + 64);
    }
    gguf_close(f);
}

/* A tiny file assembled by hand, byte for byte, from the GGUF v3 specification. */
static void check_bytes(void) {
    struct gguf_writer *w = gguf_writer_new();
    float one = 1.0f;
    int64_t ne[1] = {1};
    gguf_writer_add_u32(w, "n", 5);
    gguf_writer_add_tensor(w, "t", QT_F32, 1, ne, &one, NULL, NULL);
    void *buf = NULL;
    uint64_t size = 0;
    char err[128];
    CHECK(gguf_writer_write_mem(w, &buf, &size, err, sizeof err) == 0);
    static const uint8_t expect[] = {
        'G', 'G', 'U', 'F', 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        1, 0, 0, 0, 0, 0, 0, 0, 'n', 4, 0, 0, 0, 5, 0, 0, 0,                     /* kv: "n" u32 5 */
        1, 0, 0, 0, 0, 0, 0, 0, 't', 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,          /* "t" 1 dim, ne 1 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                                       /* f32, offset 0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* pad 74 -> 96 */
        0, 0, 0x80, 0x3f, /* 1.0f, then pad to 128 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    };
    CHECKF(size == sizeof expect, "size %llu, expected %zu", (unsigned long long)size, sizeof expect);
    CHECK(size == gguf_writer_file_size(w));
    CHECK(buf && size == sizeof expect && !memcmp(buf, expect, sizeof expect));
    free(buf);
    gguf_writer_free(w);
}

/* Copies the tokenizer keys of a real vocabulary file and checks they read back identical. */
static void check_copy(const char *shared) {
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-qwen2.gguf", shared);
    struct gguf_file *src = NULL;
    if (gguf_open(path, 1, &src, err, sizeof err)) {
        CHECKF(0, "cannot open %s: %s", path, err);
        return;
    }
    struct gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < src->n_kv; i++) gguf_writer_copy_kv(w, &src->kv[i], NULL);
    gguf_writer_copy_kv(w, &src->kv[0], "copy.renamed");
    void *buf = NULL;
    uint64_t size = 0;
    CHECK(gguf_writer_write_mem(w, &buf, &size, err, sizeof err) == 0);
    struct gguf_file *f = NULL;
    CHECKF(buf && gguf_open_mem(buf, size, 1, &f, err, sizeof err) == 0, "%s", err);
    if (f) {
        CHECK(f->n_kv == src->n_kv + 1);
        int same = 1;
        for (uint64_t i = 0; i < src->n_kv && i < f->n_kv; i++) {
            const struct gguf_kv *a = &src->kv[i], *b = &f->kv[i];
            const uint8_t *enda = i + 1 < src->n_kv ? (const uint8_t *)src->kv[i + 1].key.ptr - 8 : NULL;
            const uint8_t *endb = i + 1 < f->n_kv ? (const uint8_t *)f->kv[i + 1].key.ptr - 8 : NULL;
            if (a->key.len != b->key.len || memcmp(a->key.ptr, b->key.ptr, a->key.len) || a->type != b->type ||
                a->arr_type != b->arr_type || a->n != b->n)
                same = 0;
            else if (enda && endb && (enda - a->data != endb - b->data || memcmp(a->data, b->data, (size_t)(enda - a->data))))
                same = 0;
        }
        CHECK(same);
        const struct gguf_kv *toks = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_T_STRING);
        CHECK(toks && toks->n == 151936);
        gguf_close(f);
    }
    free(buf);
    gguf_writer_free(w);
    gguf_close(src);
}

static void check_errors(const char *dir) {
    struct gguf_writer *w = gguf_writer_new();
    int64_t ne[2] = {100, 2}; /* 100 is not a multiple of the Q4_0 block */
    float x[4] = {0};
    char err[256];
    void *buf = NULL;
    uint64_t size = 0;
    CHECK(gguf_writer_add_tensor(w, "bad", QT_Q4_0, 2, ne, x, NULL, NULL) == -1);
    CHECK(gguf_writer_status(w) == EDGELLM_ERR_ARG);
    CHECK(strstr(gguf_writer_error(w), "bad") != NULL);
    CHECK(gguf_writer_write_mem(w, &buf, &size, err, sizeof err) == EDGELLM_ERR_ARG && buf == NULL);
    gguf_writer_free(w);

    w = gguf_writer_new();
    CHECK(gguf_writer_set_alignment(w, 48) == EDGELLM_ERR_ARG);
    gguf_writer_free(w);

    /* a failing fill aborts the write and leaves no file behind */
    char path[1100];
    snprintf(path, sizeof path, "%s/gguf_writer_fail.gguf", dir);
    w = gguf_writer_new();
    int64_t ne2[2] = {32, 4};
    gguf_writer_add_tensor(w, "f", QT_Q8_0, 2, ne2, NULL, fill_fail, NULL);
    CHECK(gguf_writer_write_file(w, path, err, sizeof err) == EDGELLM_ERR_ARG);
    CHECK(strstr(err, "'f'") != NULL);
    FILE *fp = fopen(path, "rb");
    CHECK(fp == NULL);
    if (fp) fclose(fp);
    CHECK(gguf_writer_write_file(w, "/nonexistent-dir/x.gguf", err, sizeof err) == EDGELLM_ERR_IO);
    gguf_writer_free(w);

    /* raw pieces for crafting broken files: the reader must see exactly what was asked for */
    w = gguf_writer_new();
    uint64_t rne[2] = {32, 2};
    gguf_writer_set_version(w, 2);
    gguf_writer_add_tensor_raw(w, "r", QT_Q8_0, 2, rne, NULL, 68);
    gguf_writer_set_tensor_offset(w, 0, 4096);
    CHECK(gguf_writer_write_mem(w, &buf, &size, err, sizeof err) == 0);
    struct gguf_file *f = NULL;
    CHECK(gguf_open_mem(buf, size, 1, &f, err, sizeof err) == EDGELLM_ERR_FORMAT);
    CHECK(strstr(err, "past the end") != NULL);
    gguf_close(f);
    free(buf);
    gguf_writer_free(w);
}

/* ---- edgellm_synth_write: layout against the reference TSV, metadata, vocabulary, weight statistics ---- */

static int stricmp_ascii(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = (char)(*a >= 'A' && *a <= 'Z' ? *a + 32 : *a), y = (char)(*b >= 'A' && *b <= 'Z' ? *b + 32 : *b);
        if (x != y) return 1;
    }
    return *a != *b;
}

/* Every tensor of f against the lines of a preset TSV: same order, names, types and shapes. */
static void check_layout_tsv(const struct gguf_file *f, const char *tsv_path) {
    size_t len = 0;
    char *tsv = tu_read_file(tsv_path, &len);
    CHECKF(tsv != NULL, "cannot read %s", tsv_path);
    if (!tsv) return;
    uint64_t i = 0;
    int bad = 0;
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char name[128], type[16];
        long long ne0 = 0, ne1 = 1;
        int k = sscanf(line, "%127[^\t]\t%15[^\t]\t%lld,%lld", name, type, &ne0, &ne1);
        if (k < 3 || i >= f->n_tensors) { bad++; i++; continue; }
        const struct gguf_tensor *t = &f->tensors[i++];
        uint32_t nd = k == 4 ? 2 : 1;
        if (!str_is(t->name, name) || stricmp_ascii(qtype_name(t->type), type) || t->n_dims != nd || t->ne[0] != ne0 ||
            t->ne[1] != ne1) {
            if (bad < 5) fprintf(stderr, "tensor %llu differs from the TSV line '%s'\n", (unsigned long long)i - 1, line);
            bad++;
        }
    }
    CHECKF(i == f->n_tensors && i == 339, "%llu TSV lines, %llu tensors", (unsigned long long)i, (unsigned long long)f->n_tensors);
    CHECKF(bad == 0, "%d tensors differ from the TSV", bad);
    free(tsv);
}

/* Dequantizes up to 8 rows of every tensor: finite, norms 1, biases 0, matrices std ~0.02, mean ~0. */
static void check_weights(const struct gguf_file *f) {
    int bad = 0;
    float *row = NULL;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        const struct qtype_traits *q = qtype_get(t->type);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (!q || !q->to_float) { bad++; continue; }
        float *nr = realloc(row, (size_t)t->ne[0] * sizeof(float));
        if (!nr) break;
        row = nr;
        int64_t rows = t->ne[1] < 8 ? t->ne[1] : 8;
        size_t rs = qtype_row_size(t->type, t->ne[0]);
        double sum = 0, sum2 = 0, n = 0;
        int is_norm = strstr(name, "norm") != NULL, is_bias = strstr(name, ".bias") != NULL;
        for (int64_t r = 0; r < rows; r++) {
            /* rows spread over the tensor, not only the first ones */
            int64_t rr = r * (t->ne[1] / rows);
            q->to_float((const uint8_t *)t->data + (size_t)rr * rs, row, t->ne[0]);
            for (int64_t j = 0; j < t->ne[0]; j++) {
                if (!isfinite(row[j]) || (is_norm && row[j] != 1.0f) || (is_bias && row[j] != 0.0f)) {
                    if (bad++ < 5) fprintf(stderr, "%s[%lld][%lld] = %g\n", name, (long long)rr, (long long)j, row[j]);
                }
                sum += row[j], sum2 += (double)row[j] * row[j], n++;
            }
        }
        if (!is_norm && !is_bias) {
            double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
            if (fabs(mean) > 0.002 || sd < 0.017 || sd > 0.023) {
                if (bad++ < 5) fprintf(stderr, "%s: mean %g std %g\n", name, mean, sd);
            }
        }
    }
    CHECKF(bad == 0, "%d weight checks failed", bad);
    free(row);
}

static void check_synth_meta(const struct gguf_file *f, const char *shared, uint32_t n_embd, uint32_t n_layer,
                             uint32_t n_ff, uint32_t n_head, uint32_t file_type) {
    uint32_t u = 0;
    float x = 0;
    struct gguf_str s;
    CHECK(gguf_get_str(f, "general.architecture", &s) && str_is(s, "qwen2"));
    CHECK(gguf_get_u32(f, "qwen2.embedding_length", &u) && u == n_embd);
    CHECK(gguf_get_u32(f, "qwen2.block_count", &u) && u == n_layer);
    CHECK(gguf_get_u32(f, "qwen2.feed_forward_length", &u) && u == n_ff);
    CHECK(gguf_get_u32(f, "qwen2.attention.head_count", &u) && u == n_head);
    CHECK(gguf_get_u32(f, "qwen2.attention.head_count_kv", &u) && u == 2);
    CHECK(gguf_get_f32(f, "qwen2.rope.freq_base", &x) && x == 10000.0f);
    CHECK(gguf_get_f32(f, "qwen2.attention.layer_norm_rms_epsilon", &x) && x == 1e-6f);
    CHECK(gguf_get_u32(f, "general.file_type", &u) && u == file_type);
    CHECK(gguf_get_str(f, "tokenizer.ggml.pre", &s) && str_is(s, "deepseek-r1-qwen"));
    CHECK(gguf_get_str(f, "tokenizer.ggml.model", &s) && str_is(s, "gpt2"));
    CHECK(gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &u) && u == 151646);
    CHECK(gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &u) && u == 151643);

    char path[1100];
    snprintf(path, sizeof path, "%s/templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", shared);
    size_t tlen = 0;
    char *tmpl = tu_read_file(path, &tlen);
    CHECK(tmpl && gguf_get_str(f, "tokenizer.chat_template", &s) && s.len == tlen && !memcmp(s.ptr, tmpl, tlen));
    free(tmpl);

    /* the vocabulary: Qwen2's, byte for byte, but for the R1 added tokens 151643..151649 */
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-qwen2.gguf", shared);
    struct gguf_file *v = NULL;
    char err[256];
    if (gguf_open(path, 1, &v, err, sizeof err)) { CHECKF(0, "%s", err); return; }
    const struct gguf_kv *ta = gguf_get_arr(v, "tokenizer.ggml.tokens", GGUF_T_STRING);
    const struct gguf_kv *tb = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_T_STRING);
    const struct gguf_kv *ya = gguf_get_arr(v, "tokenizer.ggml.token_type", GGUF_T_INT32);
    const struct gguf_kv *yb = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_T_INT32);
    const struct gguf_kv *ma = gguf_get_arr(v, "tokenizer.ggml.merges", GGUF_T_STRING);
    const struct gguf_kv *mb = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_T_STRING);
    CHECK(ta && tb && ya && yb && ma && mb && tb->n == 151936 && ta->n == tb->n && yb->n == tb->n && ma->n == mb->n);
    if (ta && tb && ya && yb && ta->n == tb->n && yb->n == ya->n) {
        struct gguf_str *a = malloc(ta->n * sizeof(*a)), *b = malloc(tb->n * sizeof(*b));
        int diff = 0;
        if (a && b) {
            gguf_arr_strings(ta, a);
            gguf_arr_strings(tb, b);
            for (uint64_t i = 0; i < ta->n; i++)
                if (i < 151643 || i > 151649)
                    diff += a[i].len != b[i].len || memcmp(a[i].ptr, b[i].ptr, a[i].len) || gguf_arr_num(ya, i) != gguf_arr_num(yb, i);
            CHECKF(diff == 0, "%d tokens differ from the Qwen2 vocabulary", diff);
            CHECK(str_is(b[151643], "<｜end▁of▁sentence｜>") && gguf_arr_num(yb, 151643) == 3);
            CHECK(str_is(b[151644], "<｜User｜>") && str_is(b[151645], "<｜Assistant｜>"));
            CHECK(str_is(b[151646], "<｜begin▁of▁sentence｜>") && gguf_arr_num(yb, 151646) == 3);
            CHECK(str_is(b[151648], "<think>") && str_is(b[151649], "</think>") && gguf_arr_num(yb, 151648) == 4);
        }
        free(a);
        free(b);
    }
    if (ma && mb && ma->n == mb->n) {
        struct gguf_str last_a, last_b;
        /* identical element bytes: compare the spans from the first to the end of the last string */
        struct gguf_str *a = malloc(ma->n * sizeof(*a)), *b = malloc(mb->n * sizeof(*b));
        if (a && b && ma->n) {
            gguf_arr_strings(ma, a);
            gguf_arr_strings(mb, b);
            last_a = a[ma->n - 1], last_b = b[mb->n - 1];
            size_t na = (size_t)(last_a.ptr + last_a.len - (const char *)ma->data);
            size_t nb = (size_t)(last_b.ptr + last_b.len - (const char *)mb->data);
            CHECK(na == nb && !memcmp(ma->data, mb->data, na));
        }
        free(a);
        free(b);
    }
    gguf_close(v);
}

static void check_synth(const char *shared, const char *dir) {
    char out[1100], out2[1100], err[512], tsv[1100];
    snprintf(out, sizeof out, "%s/synth_test_%d.gguf", dir, (int)getpid());
    snprintf(out2, sizeof out2, "%s/synth_test2_%d.gguf", dir, (int)getpid());

    /* the full-size Q4_0 file against the layout the reference quantizer writes (~1 GB, a few seconds) */
    struct edgellm_synth_params p = {"r1-qwen-1.5b", "q4_0", shared, NULL, 7};
    int st = edgellm_synth_write(&p, out, err, sizeof err);
    CHECKF(st == 0, "synth r1-qwen-1.5b q4_0: %s", err);
    struct gguf_file *f = NULL;
    if (!st && gguf_open(out, 1, &f, err, sizeof err) == 0) {
        snprintf(tsv, sizeof tsv, "%s/presets/r1-qwen-1.5b-q4_0.tsv", shared);
        check_layout_tsv(f, tsv);
        check_synth_meta(f, shared, 1536, 28, 8960, 12, 2);
        check_weights(f);
        gguf_close(f);
    } else {
        CHECKF(0, "cannot read the synthesized file: %s", err);
    }
    remove(out);

    /* the derived layouts (no TSV at hand) equal the reference TSVs for all three types */
    static const char *const types[3] = {"q4_0", "q8_0", "q4_k_m"};
    for (int i = 0; i < 3; i++) {
        struct edgellm_synth_params lp = {"r1-qwen-1.5b", types[i], shared, "/nonexistent-presets", 1};
        char *text = NULL;
        snprintf(tsv, sizeof tsv, "%s/presets/r1-qwen-1.5b-%s.tsv", shared, types[i]);
        size_t len = 0;
        char *ref = tu_read_file(tsv, &len);
        CHECK(edgellm_synth_layout(&lp, &text, err, sizeof err) == 0);
        CHECKF(ref && text && !strcmp(ref, text), "derived %s layout differs from %s", types[i], tsv);
        edgellm_free(text);
        free(ref);
    }

    /* small files of the other types: statistics, and the seed decides every byte */
    static const uint32_t ftypes[3] = {2, 7, 15};
    for (int i = 1; i < 3; i++) {
        struct edgellm_synth_params tp = {"r1-qwen-tiny", types[i], shared, NULL, 3};
        st = edgellm_synth_write(&tp, out, err, sizeof err);
        CHECKF(st == 0, "synth r1-qwen-tiny %s: %s", types[i], err);
        if (!st && gguf_open(out, 1, &f, err, sizeof err) == 0) {
            CHECK(f->n_tensors == 3 + 2 * 12);
            check_synth_meta(f, shared, 256, 2, 768, 4, ftypes[i]);
            check_weights(f);
            gguf_close(f);
        }
    }
    struct edgellm_synth_params tp = {"r1-qwen-tiny", "q4_k_m", shared, NULL, 3};
    CHECK(edgellm_synth_write(&tp, out2, err, sizeof err) == 0);
    size_t n1 = 0, n2 = 0;
    char *b1 = tu_read_file(out, &n1), *b2 = tu_read_file(out2, &n2);
    CHECK(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1));
    free(b2);
    tp.seed = 4;
    CHECK(edgellm_synth_write(&tp, out2, err, sizeof err) == 0);
    b2 = tu_read_file(out2, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) != 0);
    free(b1);
    free(b2);
    remove(out);
    remove(out2);

    /* bad arguments */
    struct edgellm_synth_params bp = {"no-such-model", "q4_0", shared, NULL, 1};
    CHECK(edgellm_synth_write(&bp, out, err, sizeof err) == EDGELLM_ERR_ARG && strstr(err, "no-such-model"));
    bp.preset = "r1-qwen-1.5b";
    bp.type = "q3_k";
    CHECK(edgellm_synth_write(&bp, out, err, sizeof err) == EDGELLM_ERR_ARG && strstr(err, "q3_k"));
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    float data[24];
    for (int i = 0; i < 24; i++) data[i] = (float)i * 0.5f - 3.0f;

    /* memory */
    struct fill_log log = {0};
    struct gguf_writer *w = gguf_writer_new();
    CHECK(w != NULL);
    build_full(w, data, &log);
    CHECK(gguf_writer_status(w) == 0);
    void *buf = NULL;
    uint64_t size = 0;
    char err[256];
    CHECKF(gguf_writer_write_mem(w, &buf, &size, err, sizeof err) == 0, "%s", err);
    CHECK(size == gguf_writer_file_size(w));
    CHECK(log.calls >= 1 && !log.out_of_order && log.next_row == 10);
    if (buf) check_full(buf, size, data);

    /* file: the same bytes */
    const char *tmp = getenv("TMPDIR");
    char path[1100];
    snprintf(path, sizeof path, "%s/gguf_writer_test_%d.gguf", tmp && tmp[0] ? tmp : "/tmp", (int)getpid());
    log = (struct fill_log){0};
    CHECKF(gguf_writer_write_file(w, path, err, sizeof err) == 0, "%s", err);
    size_t flen = 0;
    char *fbuf = tu_read_file(path, &flen);
    CHECK(fbuf && buf && flen == size && !memcmp(fbuf, buf, size));
    struct gguf_file *f = NULL;
    CHECKF(gguf_open(path, 1, &f, err, sizeof err) == 0, "%s", err);
    gguf_close(f);
    remove(path);
    free(fbuf);
    free(buf);
    gguf_writer_free(w);

    check_bytes();
    check_copy(shared);
    check_errors(tmp && tmp[0] ? tmp : "/tmp");
    check_synth(shared, tmp && tmp[0] ? tmp : "/tmp");
    return TEST_DONE();
}
