/* Corrupt-file tests of the GGUF reader (src/gguf/gguf.c). A small valid file is built with the GGUF
 * writer and its byte layout is recorded (where each kv and tensor-info field starts); each
 * variant below then truncates it, patches a field, or rebuilds it with one bad part. Every
 * variant must make gguf_open_mem fail with a status and one line naming the problem. Also:
 * every truncation of a real model file, and seeded random byte damage (no crash either way).
 * `test_gguf --write-corrupt DIR` writes the variants as files (for tests/cli_corrupt.sh) and
 * `test_gguf --write-seeds DIR` writes valid and corrupt files as a fuzzing corpus, and
 * `test_gguf --rewrite` crafts unsupported models (see rewrite()).
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edgellm.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "quant/qtypes.h"
#include "testutil.h"

#define BASE_KV 6
#define BASE_T 3

/* Byte offsets of the fields of the base file, found by walking it. */
struct layout {
    size_t kv_key[BASE_KV], kv_type[BASE_KV], kv_val[BASE_KV], kv_end[BASE_KV];
    size_t ti_name[BASE_T], ti_ndims[BASE_T], ti_ne[BASE_T], ti_type[BASE_T], ti_off[BASE_T], ti_end[BASE_T];
    size_t data;
};

struct buf { uint8_t *p; size_t n; };

static const float t0_data[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  -1, -2, -3, -4, -5, -6, -7, -8, 0.5f, 0.25f, 0.125f, 0, 0, 0, 0, 1};
static uint8_t t1_data[68];

/* The valid base: kvs 0..5 and tensors 0..2 as documented in the layout walker below. */
static struct gguf_writer *base_writer(void) {
    static const char *const toks[4] = {"a", "bc", "<s>", "def"};
    static const float scores[4] = {0, -1, -2, -3};
    struct gguf_writer *w = gguf_writer_new();
    if (!w) return NULL;
    gguf_writer_add_str(w, "general.architecture", "llama");        /* kv0 string */
    gguf_writer_set_alignment(w, 32);                                 /* kv1 u32 general.alignment */
    gguf_writer_add_u32(w, "llama.block_count", 1);                   /* kv2 u32 */
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4); /* kv3 [string] */
    gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_T_FLOAT32, scores, 4); /* kv4 [f32] */
    gguf_writer_add_u64(w, "test.u64", 12345);                        /* kv5 u64 */
    int64_t ne0[2] = {8, 4}, ne1[2] = {32, 2}, ne2[1] = {8};
    gguf_writer_add_tensor(w, "token_embd.weight", QT_F32, 2, ne0, t0_data, NULL, NULL);   /* 128 B */
    gguf_writer_add_tensor(w, "blk.0.attn_q.weight", QT_Q8_0, 2, ne1, t1_data, NULL, NULL); /* 68 B */
    gguf_writer_add_tensor(w, "output_norm.weight", QT_F32, 1, ne2, t0_data, NULL, NULL);  /* 32 B */
    return w;
}

static struct buf writer_to_buf(struct gguf_writer *w) {
    struct buf b = {NULL, 0};
    void *p = NULL;
    uint64_t n = 0;
    char err[256];
    if (w && gguf_writer_write_mem(w, &p, &n, err, sizeof err) == 0) { b.p = p; b.n = (size_t)n; }
    else fprintf(stderr, "writer failed: %s\n", w ? err : "out of memory");
    gguf_writer_free(w);
    return b;
}

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Walks the (valid) base file; returns 0 if it does not look like what base_writer makes. */
static int walk(const struct buf *b, struct layout *L) {
    const uint8_t *p = b->p;
    size_t o = 24;
    if (b->n < 24 || rd64(p + 8) != BASE_T || rd64(p + 16) != BASE_KV) return 0;
    for (int i = 0; i < BASE_KV; i++) {
        L->kv_key[i] = o;
        o += 8 + rd64(p + o);
        L->kv_type[i] = o;
        uint32_t t = rd32(p + o);
        o += 4;
        L->kv_val[i] = o;
        if (t == GGUF_T_STRING) o += 8 + rd64(p + o);
        else if (t == GGUF_T_ARRAY) {
            uint32_t at = rd32(p + o);
            uint64_t n = rd64(p + o + 4);
            o += 12;
            for (uint64_t j = 0; j < n; j++) o += at == GGUF_T_STRING ? 8 + rd64(p + o) : gguf_vtype_size(at);
        } else o += gguf_vtype_size(t);
        L->kv_end[i] = o;
    }
    for (int i = 0; i < BASE_T; i++) {
        L->ti_name[i] = o;
        o += 8 + rd64(p + o);
        L->ti_ndims[i] = o;
        uint32_t nd = rd32(p + o);
        o += 4;
        L->ti_ne[i] = o;
        o += 8 * nd;
        L->ti_type[i] = o;
        o += 4;
        L->ti_off[i] = o;
        o += 8;
        L->ti_end[i] = o;
    }
    L->data = (o + 31) / 32 * 32;
    return L->data + 256 <= b->n;
}

static struct buf copy_buf(const struct buf *b, size_t n) {
    struct buf c = {malloc(b->n ? b->n : 1), n};
    if (c.p) memcpy(c.p, b->p, b->n);
    return c;
}

/* Variant i of the corrupt set: fills *out (malloc'd) and returns its name and the word its
 * error message must contain; returns 0 when i is past the last variant. */
struct variant { const char *name; const char *expect; struct buf b; };

static struct buf raw_kv(const char *key, uint32_t type, const void *bytes, size_t n) {
    struct gguf_writer *w = base_writer();
    if (w) gguf_writer_add_raw(w, key, type, bytes, n);
    return writer_to_buf(w);
}

static struct buf raw_tensor(const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne, uint64_t nbytes) {
    struct gguf_writer *w = base_writer();
    if (w) gguf_writer_add_tensor_raw(w, name, type, n_dims, ne, NULL, nbytes);
    return writer_to_buf(w);
}

static int make_variant(int i, const struct buf *base, const struct layout *L, struct variant *v) {
    struct buf c = copy_buf(base, base->n);
    uint8_t *p = c.p;
    v->b.p = NULL;
    if (!p) return 0;
#define V(nm, ex) v->name = nm; v->expect = ex
    switch (i) {
    /* ---- header */
    case 0: V("empty", "empty"); c.n = 0; break;
    case 1: V("three-bytes", "GGUF"); c.n = 3; break;
    case 2: V("bad-magic", "magic"); memcpy(p, "GGML", 4); break;
    case 3: V("text-file", "magic"); memcpy(p, "hello world, not a model\n", 25); c.n = 25; break;
    case 4: V("version-0", "version"); wr32(p + 4, 0); break;
    case 5: V("version-1", "version"); wr32(p + 4, 1); break;
    case 6: V("version-4", "version"); wr32(p + 4, 4); break;
    case 7: V("version-ffffffff", "version"); wr32(p + 4, 0xffffffffu); break;
    case 8: V("trunc-header-version", "truncated"); c.n = 6; break;
    case 9: V("trunc-header-tensor-count", "truncated"); c.n = 12; break;
    case 10: V("trunc-header-kv-count", "truncated"); c.n = 20; break;
    case 11: V("n-kv-2^63", "metadata count"); wr64(p + 16, 1ull << 63); break;
    case 12: V("n-kv-2^32", "metadata count"); wr64(p + 16, 1ull << 32); break;
    case 13: V("n-kv-max", "metadata count"); wr64(p + 16, UINT64_MAX); break;
    case 14: V("n-tensors-2^63", "tensor count"); wr64(p + 8, 1ull << 63); break;
    case 15: V("n-tensors-2^32", "tensor count"); wr64(p + 8, 1ull << 32); break;
    case 16: V("n-kv-one-too-many", "metadata count|string length|truncated"); wr64(p + 16, BASE_KV + 1); c.n = L->kv_end[BASE_KV - 1] + 40; break;
    /* ---- metadata */
    case 17: V("trunc-kv-key-length", "truncated|metadata count"); c.n = L->kv_key[0] + 4; break;
    case 18: V("trunc-kv-key", "string length"); c.n = L->kv_key[2] + 12; break;
    case 19: V("trunc-kv-type", "truncated"); c.n = L->kv_type[2] + 2; break;
    case 20: V("trunc-kv-value-u32", "truncated"); c.n = L->kv_val[2] + 3; break;
    case 21: V("trunc-kv-value-u64", "truncated"); c.n = L->kv_val[5] + 5; break;
    case 22: V("trunc-kv-string-length", "truncated|metadata count"); c.n = L->kv_val[0] + 5; break;
    case 23: V("trunc-kv-string", "string length|metadata count"); c.n = L->kv_val[0] + 10; break;
    case 24: V("trunc-array-header", "truncated"); c.n = L->kv_val[3] + 7; break;
    case 25: V("trunc-array-strings", "tokenizer.ggml.tokens"); c.n = L->kv_val[3] + 12 + 8 + 1 + 4; break;
    case 26: V("trunc-array-f32", "tokenizer.ggml.scores"); c.n = L->kv_val[4] + 12 + 6; break;
    case 27: V("key-length-2^63", "string length"); wr64(p + L->kv_key[1], 1ull << 63); break;
    case 28: V("key-length-past-end", "string length"); wr64(p + L->kv_key[1], base->n); break;
    case 29: V("string-length-max", "string length"); wr64(p + L->kv_val[0], UINT64_MAX); break;
    case 30: V("string-length-past-end", "string length"); wr64(p + L->kv_val[0], base->n - L->kv_val[0] - 7); break;
    case 31: V("empty-key", "empty"); wr64(p + L->kv_key[2], 0); memmove(p + L->kv_key[2] + 8, p + L->kv_type[2], base->n - L->kv_type[2]);
             c.n = base->n - (L->kv_type[2] - L->kv_key[2] - 8); break;
    case 32: V("key-with-nul", "NUL"); p[L->kv_key[2] + 8 + 3] = 0; break;
    case 33: V("unknown-value-type-13", "type"); wr32(p + L->kv_type[5], 13); break;
    case 34: V("unknown-value-type-max", "type"); wr32(p + L->kv_type[5], 0xffffffffu); break;
    case 35: V("unknown-array-type", "type"); wr32(p + L->kv_val[4], 99); break;
    case 36: V("array-of-arrays", "nested"); wr32(p + L->kv_val[4], GGUF_T_ARRAY); break;
    case 37: V("array-count-2^62", "scores"); wr64(p + L->kv_val[4] + 4, 1ull << 62); break;
    case 38: V("array-count-max", "scores"); wr64(p + L->kv_val[4] + 4, UINT64_MAX); break;
    case 39: V("string-array-count-2^61", "tokens"); wr64(p + L->kv_val[3] + 4, 1ull << 61); break;
    case 40: V("array-string-length-past-end", "tokens"); wr64(p + L->kv_val[3] + 12, 1ull << 40); break;
    case 41: V("array-count-past-end", "scores"); wr64(p + L->kv_val[4] + 4, (base->n - L->kv_val[4]) / 4); break;
    case 42: V("duplicate-key", "duplicate"); memcpy(p + L->kv_key[2] + 8, "test.u64", 8); wr64(p + L->kv_key[2], 8);
             memmove(p + L->kv_key[2] + 16, p + L->kv_type[2], base->n - L->kv_type[2]);
             c.n = base->n - (L->kv_type[2] - L->kv_key[2] - 16); break;
    case 43: { V("alignment-0", "alignment"); uint32_t z = 0; free(p); c = raw_kv("general.alignment", GGUF_T_UINT32, &z, 4); break; }
    case 44: { V("alignment-3", "alignment"); uint32_t z = 3; free(p); c = raw_kv("general.alignment", GGUF_T_UINT32, &z, 4); break; }
    case 45: V("alignment-48", "alignment"); wr32(p + L->kv_val[1], 48); break;
    case 46: V("alignment-wrong-type", "alignment"); wr32(p + L->kv_type[1], GGUF_T_FLOAT32); break;
    case 47: { V("nested-array-raw", "nested"); uint8_t a[24] = {0}; wr32(a, GGUF_T_ARRAY); wr64(a + 4, 1); wr32(a + 12, GGUF_T_UINT8); wr64(a + 16, 0);
               free(p); c = raw_kv("test.nested", GGUF_T_ARRAY, a, sizeof a); break; }
    /* ---- tensor infos */
    case 48: V("trunc-tensor-name-length", "truncated"); c.n = L->ti_name[0] + 3; break;
    case 49: V("trunc-tensor-name", "string length"); c.n = L->ti_name[1] + 12; break;
    case 50: V("trunc-tensor-ndims", "truncated"); c.n = L->ti_ndims[1] + 2; break;
    case 51: V("trunc-tensor-shape", "truncated"); c.n = L->ti_ne[0] + 12; break;
    case 52: V("trunc-tensor-type", "truncated"); c.n = L->ti_type[2] + 1; break;
    case 53: V("trunc-tensor-offset", "truncated"); c.n = L->ti_off[2] + 7; break;
    case 54: V("no-data-section", "truncated"); c.n = L->ti_end[2]; break;
    case 55: V("tensor-name-length-max", "string length"); wr64(p + L->ti_name[0], UINT64_MAX); break;
    case 56: V("tensor-name-empty", "name"); { uint64_t ne[1] = {8}; free(p); c = raw_tensor("", QT_F32, 1, ne, 32); } break;
    case 57: V("n-dims-0", "dimensions"); wr32(p + L->ti_ndims[2], 0); break;
    case 58: { V("n-dims-5", "dimensions"); uint64_t ne[5] = {8, 1, 1, 1, 1}; free(p); c = raw_tensor("x5", QT_F32, 5, ne, 32); break; }
    case 59: V("n-dims-max", "dimensions"); wr32(p + L->ti_ndims[2], 0xffffffffu); break;
    case 60: V("negative-ne", "size"); wr64(p + L->ti_ne[0] + 8, (uint64_t)-4); break;
    case 61: { V("ne-product-overflow", "overflow"); uint64_t ne[2] = {1ull << 32, 1ull << 32}; free(p); c = raw_tensor("big", QT_F32, 2, ne, 32); break; }
    case 62: { V("ne-4d-overflow", "overflow"); uint64_t ne[4] = {1ull << 16, 1ull << 16, 1ull << 16, 1ull << 16}; free(p);
               c = raw_tensor("big4", QT_F32, 4, ne, 32); break; }
    case 63: { V("ne-int64-max", "size"); uint64_t ne[1] = {(uint64_t)INT64_MAX}; free(p); c = raw_tensor("huge", QT_F32, 1, ne, 32); break; }
    case 64: { V("bytes-overflow", "overflow"); uint64_t ne[2] = {1ull << 31, 1ull << 31}; free(p); c = raw_tensor("wide", QT_F32, 2, ne, 32); break; }
    case 65: { V("shape-past-end", "past the end"); uint64_t ne[2] = {1ull << 20, 1ull << 10}; free(p); c = raw_tensor("long", QT_F32, 2, ne, 32); break; }
    case 66: V("unknown-tensor-type-4", "type"); wr32(p + L->ti_type[2], 4); break;
    case 67: V("unknown-tensor-type-max", "type"); wr32(p + L->ti_type[2], 0xffffffffu); break;
    case 68: V("row-not-block-multiple", "block"); wr64(p + L->ti_ne[1], 16); break;
    case 69: { V("duplicate-tensor-name", "duplicate"); uint64_t ne[1] = {8}; free(p); c = raw_tensor("token_embd.weight", QT_F32, 1, ne, 32); break; }
    /* ---- data */
    case 70: V("offset-misaligned", "align"); wr64(p + L->ti_off[1], rd64(p + L->ti_off[1]) + 4); break;
    case 71: V("offset-past-end", "past the end"); wr64(p + L->ti_off[2], 1ull << 40); break;
    case 72: V("offset-max-aligned", "past the end"); wr64(p + L->ti_off[2], UINT64_MAX & ~31ull); break;
    case 73: V("data-cut-by-one", "past the end"); c.n = base->n - 1; break; /* the last tensor ends the file */
    case 74: V("data-cut-in-first-tensor", "past the end"); c.n = L->data + 64; break;
    case 75: V("trunc-in-padding", "truncated"); c.n = L->ti_end[2] + 1; if (c.n >= L->data) c.n = L->data - 1; break;
    case 76: V("tensor-overlaps-next", "overlap"); wr64(p + L->ti_off[1], 0); break;
    default: free(p); return 0;
    }
#undef V
    v->b = c;
    return 1;
}

/* Does hay contain one of the '|'-separated words of needles (case-insensitive)? */
static int contains_ci(const char *hay, const char *needles) {
    for (const char *w = needles; *w;) {
        size_t n = strcspn(w, "|");
        for (const char *h = hay; *h; h++) {
            size_t k = 0;
            while (k < n && h[k] && tolower((unsigned char)h[k]) == tolower((unsigned char)w[k])) k++;
            if (k == n) return 1;
        }
        w += n + (w[n] == '|');
    }
    return 0;
}

/* Messages are one printable line: names from the file must be escaped. */
static int has_ctrl(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

static int build_base(struct buf *base, struct layout *L) {
    for (size_t i = 0; i < sizeof t1_data; i++) t1_data[i] = (uint8_t)(i * 37 + 11);
    t1_data[0] = 0; t1_data[1] = 0x3c; t1_data[34] = 0; t1_data[35] = 0x3c; /* block scales 1.0 */
    *base = writer_to_buf(base_writer());
    return base->p && walk(base, L);
}

static void test_base(const struct buf *base, const struct layout *L) {
    struct gguf_file *f = NULL;
    char err[256];
    int st = gguf_open_mem(base->p, base->n, 1, &f, err, sizeof err);
    CHECKF(st == 0 && f, "base file refused: %s", err);
    if (!f) return;
    CHECK(f->n_kv == BASE_KV && f->n_tensors == BASE_T && f->data_offset == L->data);
    CHECK(f->tensors[0].nbytes == 128 && f->tensors[1].nbytes == 68 && f->tensors[2].nbytes == 32);
    CHECK(f->tensors[2].offset == 224 && L->data + 256 == base->n);
    CHECK(f->tensors[0].data && !memcmp(f->tensors[0].data, t0_data, 128));
    gguf_close(f);
}

/* Every variant fails with a status and one line naming the problem. */
static int test_variants(const struct buf *base, const struct layout *L) {
    int n = 0;
    struct variant v;
    for (int i = 0; make_variant(i, base, L, &v); i++, n++) {
        struct gguf_file *f = NULL;
        char err[256];
        memset(err, 'x', sizeof err);
        CHECKF(v.b.p != NULL, "%s: could not build", v.name);
        if (!v.b.p) continue;
        int st = gguf_open_mem(v.b.p, v.b.n, 1, &f, err, sizeof err);
        CHECKF(st != 0 && f == NULL, "%s: accepted (status %d)", v.name, st);
        if (st) {
            CHECKF(memchr(err, 0, sizeof err) && err[0] && !has_ctrl(err), "%s: message is not one printable line", v.name);
            CHECKF(contains_ci(err, v.expect), "%s: message '%s' does not mention '%s'", v.name, err, v.expect);
            CHECKF(st == EDGELLM_ERR_FORMAT || st == EDGELLM_ERR_UNSUPPORTED, "%s: status %d", v.name, st);
        } else {
            gguf_close(f);
        }
        free(v.b.p);
    }
    return n;
}

/* A real file cut at many points (every byte of the first 4 KiB, then a stride) never opens. */
static void test_real_truncations(const char *shared) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/aidreams260K-q8_0.gguf", shared);
    size_t n = 0;
    char *data = tu_read_file(path, &n);
    CHECKF(data != NULL, "cannot read %s", path);
    if (!data) return;
    struct gguf_file *f = NULL;
    char err[256];
    CHECKF(gguf_open_mem(data, n, 1, &f, err, sizeof err) == 0, "%s: %s", path, err);
    uint64_t data_off = f ? f->data_offset : 0;
    gguf_close(f);
    int bad = 0, cuts = 0;
    for (size_t cut = 0; cut < n; cut += cut < 4096 ? 1 : cut < data_off + 4096 ? 97 : 4099) {
        /* a copy of exactly cut bytes, so ASan sees any read past it */
        char *c = malloc(cut ? cut : 1);
        if (!c) break;
        memcpy(c, data, cut);
        f = NULL;
        err[0] = 0;
        int st = gguf_open_mem(c, cut, 1, &f, err, sizeof err);
        if (st == 0 || f || !err[0] || strchr(err, '\n')) {
            if (bad++ < 5) fprintf(stderr, "truncation at %zu: status %d '%s'\n", cut, st, err);
            gguf_close(f);
        }
        free(c);
        cuts++;
    }
    CHECKF(bad == 0, "%d of %d truncations of %s were not rejected cleanly", bad, cuts, path);
    CHECK(cuts > 4096);
    free(data);
}

/* Seeded random damage to the base: 1-4 bytes changed, or a field set to an extreme. Whatever
 * the reader decides, it must not crash, and a failure must come with one line. */
static void test_random_damage(const struct buf *base) {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    int bad = 0, rejected = 0;
    const int rounds = 20000;
    for (int r = 0; r < rounds; r++) {
        uint8_t *c = malloc(base->n);
        if (!c) break;
        memcpy(c, base->p, base->n);
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        int k = 1 + (int)(s % 4);
        for (int j = 0; j < k; j++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            size_t at = (size_t)(s % (base->n < 400 ? base->n : 400)); /* headers and tables, not data */
            uint8_t val = (uint8_t)(s >> 32);
            if (j == 0 && (s >> 40) % 3 == 0 && at + 8 <= base->n) memset(c + at, (s >> 44) & 1 ? 0xff : 0x7f, 8);
            else c[at] = val;
        }
        struct gguf_file *f = NULL;
        char err[256];
        err[0] = 0;
        int st = gguf_open_mem(c, base->n, 1, &f, err, sizeof err);
        if (st) {
            rejected++;
            if (!err[0] || has_ctrl(err) || f) {
                if (bad++ < 3) fprintf(stderr, "damage round %d: status %d, message '%s'\n", r, st, err);
            }
        } else {
            /* accepted: every tensor's data lies inside the buffer */
            for (uint64_t i = 0; i < f->n_tensors; i++) {
                const uint8_t *d = f->tensors[i].data;
                if (d < c || d > c + base->n || f->tensors[i].nbytes > (uint64_t)(c + base->n - d)) bad++;
            }
            gguf_close(f);
        }
        free(c);
    }
    CHECKF(bad == 0, "%d of %d damaged files misbehaved", bad, rounds);
    CHECKF(rejected > rounds / 4, "only %d of %d damaged files were rejected", rejected, rounds);
}

/* gguf_open on paths that are not GGUF files. */
static void test_paths(void) {
    struct gguf_file *f = NULL;
    char err[256];
    int st = gguf_open("/nonexistent/dir/model.gguf", 1, &f, err, sizeof err);
    CHECKF(st == EDGELLM_ERR_IO && !f && err[0] && !strchr(err, '\n'), "nonexistent: %d '%s'", st, err);
    st = gguf_open("/", 1, &f, err, sizeof err);
    CHECKF(st != 0 && !f && err[0] && !strchr(err, '\n'), "directory: %d '%s'", st, err);
}

static int write_files(const char *dir, int seeds) {
    struct buf base;
    struct layout L;
    if (!build_base(&base, &L)) { fprintf(stderr, "test_gguf: cannot build the base file\n"); return 1; }
    if (mkdir(dir, 0755) && errno != EEXIST) { fprintf(stderr, "test_gguf: cannot create %s\n", dir); return 1; }
    struct variant v;
    int n = 0;
    char path[2048];
    for (int i = 0; make_variant(i, &base, &L, &v); i++) {
        snprintf(path, sizeof path, "%s/%02d-%s.gguf", dir, i, v.name);
        FILE *fp = fopen(path, "wb");
        if (fp) {
            if (v.b.n) fwrite(v.b.p, 1, v.b.n, fp);
            fclose(fp);
            printf("%s\t%s\n", path, v.expect);
            n++;
        }
        free(v.b.p);
    }
    if (seeds) {
        snprintf(path, sizeof path, "%s/valid-base.gguf", dir);
        FILE *fp = fopen(path, "wb");
        if (fp) { fwrite(base.p, 1, base.n, fp); fclose(fp); }
    }
    free(base.p);
    return n > 0 ? 0 : 1;
}

/* `--rewrite IN OUT [--arch NAME] [--retype TENSOR TYPE]`: copies a model file, replacing the
 * architecture name or giving one tensor another type id (its data then zeros of the new size).
 * tests/cli_badinput.sh makes its unsupported-architecture and unsupported-type models so. */
static int rewrite(int argc, char **argv) {
    const char *in = argv[2], *outp = argv[3], *arch = NULL, *retype = NULL;
    uint32_t new_type = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--arch") && i + 1 < argc) arch = argv[++i];
        else if (!strcmp(argv[i], "--retype") && i + 2 < argc) { retype = argv[++i]; new_type = (uint32_t)strtoul(argv[++i], NULL, 10); }
        else { fprintf(stderr, "test_gguf --rewrite: bad argument '%s'\n", argv[i]); return 2; }
    }
    struct gguf_file *f = NULL;
    char err[256];
    if (gguf_open(in, 1, &f, err, sizeof err)) { fprintf(stderr, "test_gguf: %s\n", err); return 1; }
    struct gguf_writer *w = gguf_writer_new();
    if (!w) { gguf_close(f); return 1; }
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        if (kv->key.len == 20 && !memcmp(kv->key.ptr, "general.architecture", 20) && arch)
            gguf_writer_add_str(w, "general.architecture", arch);
        else if (!(kv->key.len == 17 && !memcmp(kv->key.ptr, "general.alignment", 17)))
            gguf_writer_copy_kv(w, kv, NULL);
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        char name[300];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (retype && !strcmp(name, retype)) {
            uint64_t ne[GGUF_MAX_DIMS], rows = 1;
            for (uint32_t d = 0; d < t->n_dims; d++) { ne[d] = (uint64_t)t->ne[d]; if (d) rows *= ne[d]; }
            uint64_t nbytes = (uint64_t)qtype_row_size(new_type, t->ne[0]) * rows;
            gguf_writer_add_tensor_raw(w, name, new_type, t->n_dims, ne, NULL, nbytes ? nbytes : 32);
        } else {
            gguf_writer_add_tensor(w, name, t->type, (int)t->n_dims, t->ne, t->data, NULL, NULL);
        }
    }
    int st = gguf_writer_write_file(w, outp, err, sizeof err);
    if (st) fprintf(stderr, "test_gguf: %s\n", err);
    gguf_writer_free(w);
    gguf_close(f);
    return st ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 3 && !strcmp(argv[1], "--rewrite")) return rewrite(argc, argv);
    if (argc > 2 && !strcmp(argv[1], "--write-corrupt")) return write_files(argv[2], 0);
    if (argc > 2 && !strcmp(argv[1], "--write-seeds")) return write_files(argv[2], 1);
    const char *shared = tu_shared(argc, argv);
    struct buf base;
    struct layout L;
    int ok = build_base(&base, &L);
    CHECK(ok);
    if (!ok) return TEST_DONE();
    test_base(&base, &L);
    int n = test_variants(&base, &L);
    CHECKF(n >= 30, "only %d corrupt variants", n);
    printf("%d corrupt variants\n", n);
    test_real_truncations(shared);
    test_random_damage(&base);
    test_paths();
    free(base.p);
    return TEST_DONE();
}
