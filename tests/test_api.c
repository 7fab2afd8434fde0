/* The app-facing API (issue "The API an app needs"): sequence state save / restore with every
 * refusal and its status, sequence copy, thread count changes, the memory bill (against the C
 * library's own count of what was allocated), loading from memory (any alignment, cut buffers)
 * and from a file descriptor at an offset, metadata by key, logit bias; the state of a sliding-window
 * (ring) sequence. Logits are compared with
 * those of a path load / the context the state came from, bit for bit. */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "edgellm.h"
#include "testutil.h"

static char g_shared[512];
static int32_t g_nv;

static struct edgellm_model *load(const char *name) {
    char path[700], err[256];
    struct edgellm_model *m = NULL;
    snprintf(path, sizeof path, "%s/models/%s", g_shared, name);
    edgellm_status st = edgellm_model_load(path, NULL, &m, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "%s: %s", name, err);
    return m;
}

static struct edgellm_context *mkctx(struct edgellm_model *m, uint32_t n_ctx, uint32_t n_seq, int threads, edgellm_kv_type kv) {
    struct edgellm_context_params p = edgellm_context_default_params();
    struct edgellm_context *c = NULL;
    char err[256];
    p.n_ctx = n_ctx;
    p.n_seq = n_seq;
    p.n_threads = threads;
    p.kv_type = kv;
    edgellm_status st = edgellm_context_new(m, &p, &c, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "context: %s", err);
    return c;
}

/* Decodes n tokens on seq; copies the last logits to out (if not NULL). */
static int decode(struct edgellm_context *c, int32_t seq, const edgellm_token *t, int n, float *out) {
    int32_t sid[64];
    for (int i = 0; i < n; i++) sid[i] = seq;
    struct edgellm_batch b = {n, t, NULL, sid, NULL};
    edgellm_status st = edgellm_context_decode(c, &b);
    if (st) {
        fprintf(stderr, "decode: %s\n", edgellm_context_errmsg(c));
        return -1;
    }
    if (out) memcpy(out, edgellm_context_logits(c, 0), (size_t)g_nv * sizeof(float));
    return 0;
}

static const edgellm_token PROMPT[] = {4001, 17, 250, 981, 33, 1200, 7, 64, 3001, 12, 400, 5};
#define NP ((int)(sizeof PROMPT / sizeof PROMPT[0]))
static const edgellm_token NEXT = 77;

/* Logits of PROMPT then NEXT in a fresh context of model m (the reference for loads). */
static void ref_logits(struct edgellm_model *m, float *out) {
    struct edgellm_context *c = mkctx(m, 64, 1, 1, EDGELLM_KV_F16);
    if (!c) return;
    CHECK(decode(c, 0, PROMPT, NP, NULL) == 0);
    CHECK(decode(c, 0, &NEXT, 1, out) == 0);
    edgellm_context_free(c);
}

static void test_state(struct edgellm_model *m, struct edgellm_model *other, struct edgellm_model *tuned) {
    float *la = malloc((size_t)g_nv * 4), *lb = malloc((size_t)g_nv * 4);
    struct edgellm_context *a = mkctx(m, 64, 1, 2, EDGELLM_KV_F16), *b = mkctx(m, 64, 2, 2, EDGELLM_KV_F16);
    CHECK(decode(a, 0, PROMPT, NP, NULL) == 0);
    size_t need = edgellm_context_seq_state_size(a, 0), wr = 0;
    CHECK(need > (size_t)NP * 4);
    CHECK(edgellm_context_seq_state_size(a, 1) == 0);
    CHECK(edgellm_context_seq_state_size(NULL, 0) == 0);
    uint8_t *buf = malloc(need + 16);
    /* too small a buffer: EDGELLM_ERR_ARG, nothing written */
    CHECK(edgellm_context_seq_state_get(a, 0, buf, need - 1, &wr) == EDGELLM_ERR_ARG && wr == 0);
    CHECK(edgellm_context_seq_state_get(a, 3, buf, need, &wr) == EDGELLM_ERR_ARG);
    CHECK(edgellm_context_seq_state_get(a, 0, buf, need + 16, &wr) == EDGELLM_OK && wr == need);
    CHECK(decode(a, 0, &NEXT, 1, la) == 0);
    /* restore into sequence 1 of another context: same length, bit-identical next logits */
    CHECK(edgellm_context_seq_state_set(b, 1, buf, need) == EDGELLM_OK);
    CHECK(edgellm_context_seq_len(b, 1) == (uint32_t)NP);
    CHECK(decode(b, 1, &NEXT, 1, lb) == 0);
    CHECKF(memcmp(la, lb, (size_t)g_nv * 4) == 0, "logits after seq_state_set differ");

    /* refusals: each leaves the sequence empty */
#define REFUSE(ctx, data, size, want) do { \
        CHECK(decode(ctx, 0, PROMPT, 2, NULL) == 0 || edgellm_context_seq_len(ctx, 0) > 0); \
        edgellm_status st_ = edgellm_context_seq_state_set(ctx, 0, data, size); \
        CHECKF(st_ == (want), "status %d (%s), expected %d", (int)st_, edgellm_context_errmsg(ctx), (int)(want)); \
        CHECK(edgellm_context_seq_len(ctx, 0) == 0); } while (0)
    for (size_t cut = 0; cut < need; cut += need / 7 + 1) REFUSE(b, buf, cut, EDGELLM_ERR_FORMAT);
    REFUSE(b, buf, need - 1, EDGELLM_ERR_FORMAT);
    /* any changed byte: header, tokens, KV rows, checksum (and every byte of the first 200) */
    size_t spots[] = {0, 8, 12, 16, 24, 28, 32, 36, 40, 41, 40 + 4 * NP, need / 2, need - 9, need - 8, need - 1};
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        buf[spots[i]] ^= 0x10;
        REFUSE(b, buf, need, EDGELLM_ERR_FORMAT);
        buf[spots[i]] ^= 0x10;
    }
    int all_format = 1;
    for (size_t i = 0; i < 200 && i < need; i++) {
        buf[i] ^= 1;
        edgellm_status st = edgellm_context_seq_state_set(b, 0, buf, need);
        all_format &= st == EDGELLM_ERR_FORMAT && edgellm_context_seq_len(b, 0) == 0;
        buf[i] ^= 1;
    }
    CHECK(all_format);
    CHECK(edgellm_context_seq_state_set(b, 0, buf, need) == EDGELLM_OK); /* the buffer is intact again */
    /* another model (other weights, same shapes and tokenizer), a "fine-tune" (one tensor byte
     * changed), another KV type, a context too short */
    struct edgellm_context *c_other = mkctx(other, 64, 1, 1, EDGELLM_KV_F16);
    if (c_other) REFUSE(c_other, buf, need, EDGELLM_ERR_UNSUPPORTED);
    struct edgellm_context *c_tuned = tuned ? mkctx(tuned, 64, 1, 1, EDGELLM_KV_F16) : NULL;
    if (c_tuned) REFUSE(c_tuned, buf, need, EDGELLM_ERR_UNSUPPORTED);
    struct edgellm_context *c_f32 = mkctx(m, 64, 1, 1, EDGELLM_KV_F32), *c_q8 = mkctx(m, 64, 1, 1, EDGELLM_KV_Q8_0);
    REFUSE(c_f32, buf, need, EDGELLM_ERR_UNSUPPORTED);
    REFUSE(c_q8, buf, need, EDGELLM_ERR_UNSUPPORTED);
    struct edgellm_context *c_short = mkctx(m, NP - 1, 1, 1, EDGELLM_KV_F16);
    REFUSE(c_short, buf, need, EDGELLM_ERR_CONTEXT_FULL);
    CHECK(edgellm_context_seq_state_set(b, 5, buf, need) == EDGELLM_ERR_ARG);

    /* q8_0 round trip too, and an empty sequence */
    CHECK(decode(c_q8, 0, PROMPT, NP, NULL) == 0);
    size_t nq = edgellm_context_seq_state_size(c_q8, 0);
    uint8_t *bq = malloc(nq);
    CHECK(edgellm_context_seq_state_get(c_q8, 0, bq, nq, NULL) == EDGELLM_OK);
    CHECK(decode(c_q8, 0, &NEXT, 1, la) == 0);
    struct edgellm_context *c_q8b = mkctx(m, 64, 1, 1, EDGELLM_KV_Q8_0);
    CHECK(edgellm_context_seq_state_set(c_q8b, 0, bq, nq) == EDGELLM_OK);
    CHECK(decode(c_q8b, 0, &NEXT, 1, lb) == 0);
    CHECK(memcmp(la, lb, (size_t)g_nv * 4) == 0);
    CHECK(edgellm_context_seq_truncate(c_q8b, 0, 0) == EDGELLM_OK);
    size_t ne = edgellm_context_seq_state_size(c_q8b, 0);
    CHECK(ne > 0 && ne <= nq && edgellm_context_seq_state_get(c_q8b, 0, bq, ne, NULL) == EDGELLM_OK);
    CHECK(edgellm_context_seq_state_set(c_q8, 0, bq, ne) == EDGELLM_OK && edgellm_context_seq_len(c_q8, 0) == 0);
    free(bq);
    edgellm_context_free(c_q8b);

    /* seq_copy: a shared prefix, bit-identical next logits on both sequences */
    CHECK(edgellm_context_seq_truncate(b, 0, 0) == EDGELLM_OK && edgellm_context_seq_truncate(b, 1, 0) == EDGELLM_OK);
    CHECK(decode(b, 0, PROMPT, NP, NULL) == 0);
    CHECK(decode(b, 1, PROMPT, 3, NULL) == 0); /* dst's old content is dropped */
    CHECK(edgellm_context_seq_copy(b, 0, 1) == EDGELLM_OK);
    CHECK(edgellm_context_seq_len(b, 1) == (uint32_t)NP);
    CHECK(edgellm_context_seq_copy(b, 0, 2) == EDGELLM_ERR_ARG && edgellm_context_seq_copy(b, -1, 0) == EDGELLM_ERR_ARG);
    CHECK(edgellm_context_seq_copy(b, 0, 0) == EDGELLM_OK);
    CHECK(decode(b, 0, &NEXT, 1, la) == 0);
    CHECK(decode(b, 1, &NEXT, 1, lb) == 0);
    CHECKF(memcmp(la, lb, (size_t)g_nv * 4) == 0, "logits after seq_copy differ");
    /* and equal to the reference of a fresh context (the copy holds the same tokens) */
    size_t n1 = edgellm_context_seq_state_size(b, 1), n0 = edgellm_context_seq_state_size(b, 0);
    CHECK(n1 == n0);

    edgellm_context_free(c_other);
    edgellm_context_free(c_tuned);
    edgellm_context_free(c_f32);
    edgellm_context_free(c_q8);
    edgellm_context_free(c_short);
    edgellm_context_free(a);
    edgellm_context_free(b);
    free(buf);
    free(la);
    free(lb);
}

/* A sliding-window model (zoo gemma3-mini: window 16, layers 0-4 sliding, layer 5 global): the
 * state of a sequence that has wrapped its rings, saved and restored into fresh contexts (one
 * shorter), continues bit for bit; seq_copy of a wrapped sequence too. The state keeps only the
 * last `window` positions of a sliding layer, so past the window it grows by the global layer's
 * rows alone (about a sixth of what it grows by inside the window). */
static void test_ring_state(void) {
    char path[700], err[256];
    snprintf(path, sizeof path, "%s/zoo/gemma3-mini-q8_0.gguf", g_shared);
    struct edgellm_model *m = NULL;
    if (edgellm_model_load(path, NULL, &m, err, sizeof err) != EDGELLM_OK) {
        CHECKF(0, "gemma3-mini: %s", err);
        return;
    }
    int32_t nv = edgellm_model_n_vocab(m), saved_nv = g_nv;
    g_nv = nv;
    edgellm_token t[48];
    for (int i = 0; i < 48; i++) t[i] = (edgellm_token)(100 + (i * 37) % (nv - 200));
    float *la = malloc((size_t)nv * 4), *lb = malloc((size_t)nv * 4);
    struct edgellm_context *a = mkctx(m, 128, 2, 2, EDGELLM_KV_F16);
    size_t sz[41] = {0};
    for (int i = 0; i < 40; i++) { /* token by token, recording the state size after each */
        CHECK(decode(a, 0, &t[i], 1, NULL) == 0);
        sz[i + 1] = edgellm_context_seq_state_size(a, 0);
    }
    size_t early = sz[10] - sz[5], late = sz[40] - sz[35];
    CHECKF(late > 0 && late * 3 < early, "state growth inside the window %zu, past it %zu", early, late);
    size_t need = sz[40];
    uint8_t *buf = malloc(need);
    CHECK(edgellm_context_seq_state_get(a, 0, buf, need, NULL) == EDGELLM_OK);
    CHECK(edgellm_context_seq_copy(a, 0, 1) == EDGELLM_OK);
    for (int i = 40; i < 48; i++) CHECK(decode(a, 0, &t[i], 1, i == 47 ? la : NULL) == 0);
    /* the copy in the same context */
    for (int i = 40; i < 48; i++) CHECK(decode(a, 1, &t[i], 1, i == 47 ? lb : NULL) == 0);
    CHECKF(memcmp(la, lb, (size_t)nv * 4) == 0, "gemma3: logits after seq_copy of a wrapped sequence differ");
    /* restored into fresh contexts, one of them shorter than the original */
    uint32_t sizes[] = {128, 64};
    for (int k = 0; k < 2; k++) {
        struct edgellm_context *b = mkctx(m, sizes[k], 1, 1, EDGELLM_KV_F16);
        if (!b) continue;
        edgellm_status st = edgellm_context_seq_state_set(b, 0, buf, need);
        CHECKF(st == EDGELLM_OK, "gemma3 restore (n_ctx %u): %s", sizes[k], edgellm_context_errmsg(b));
        CHECK(edgellm_context_seq_len(b, 0) == 40);
        for (int i = 40; i < 48; i++) CHECK(decode(b, 0, &t[i], 1, i == 47 ? lb : NULL) == 0);
        CHECKF(memcmp(la, lb, (size_t)nv * 4) == 0, "gemma3: logits after restoring a wrapped sequence differ (n_ctx %u)",
               sizes[k]);
        edgellm_context_free(b);
    }
    free(buf);
    free(la);
    free(lb);
    edgellm_context_free(a);
    edgellm_model_free(m);
    g_nv = saved_nv;
}

static void test_threads(struct edgellm_model *m) {
    float *l4 = malloc((size_t)g_nv * 4), *l1 = malloc((size_t)g_nv * 4);
    struct edgellm_context *c = mkctx(m, 64, 1, 4, EDGELLM_KV_F16);
    CHECK(edgellm_context_set_threads(c, 5) == EDGELLM_ERR_ARG);
    CHECK(edgellm_context_set_threads(c, -1) == EDGELLM_ERR_ARG);
    CHECK(edgellm_context_set_threads(NULL, 1) == EDGELLM_ERR_ARG);
    CHECK(decode(c, 0, PROMPT, NP, l4) == 0);
    for (int t = 1; t <= 4; t++) {
        CHECK(edgellm_context_seq_truncate(c, 0, 0) == EDGELLM_OK);
        CHECK(edgellm_context_set_threads(c, t) == EDGELLM_OK);
        CHECK(decode(c, 0, PROMPT, NP, l1) == 0);
        float md = 0;
        for (int i = 0; i < g_nv; i++) md = fmaxf(md, fabsf(l1[i] - l4[i]));
        CHECKF(md <= 1e-3f, "%d threads: max abs diff %g", t, (double)md);
        CHECKF(memcmp(l1, l4, (size_t)g_nv * 4) == 0, "%d threads: logits not bit-identical (max abs diff %g)", t, (double)md);
    }
    CHECK(edgellm_context_set_threads(c, 0) == EDGELLM_OK);
    edgellm_context_free(c);
    free(l4);
    free(l1);
}

#ifdef __GLIBC__
static uint64_t heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}
#endif

static void test_memory(struct edgellm_model *m) {
    const uint32_t sizes[3] = {64, 512, 2048};
    const edgellm_kv_type kvs[3] = {EDGELLM_KV_F16, EDGELLM_KV_F32, EDGELLM_KV_Q8_0};
    uint64_t prev = 0;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) {
            struct edgellm_context_params p = edgellm_context_default_params();
            p.n_ctx = sizes[i];
            p.kv_type = kvs[k];
            p.n_threads = 2;
            uint64_t need = 0;
            CHECK(edgellm_context_memory_needed(m, &p, &need) == EDGELLM_OK);
#ifdef __GLIBC__
            uint64_t before = heap_in_use();
#endif
            struct edgellm_context *c = NULL;
            CHECK(edgellm_context_new(m, &p, &c, NULL, 0) == EDGELLM_OK);
            uint64_t have = edgellm_context_memory_size(c);
            double rel = fabs((double)need - (double)have) / (double)have;
            CHECKF(rel <= 0.01, "n_ctx %u kv %d: needed %llu, allocated %llu", sizes[i], (int)kvs[k],
                   (unsigned long long)need, (unsigned long long)have);
#ifdef __GLIBC__
            /* the C library's own count of the bytes the context holds (with its chunk headers
             * and the thread pool, hence the slack of 1% + 64 KiB) */
            uint64_t seen = heap_in_use() - before;
            if (seen == 0) seen = need; /* a sanitizer's allocator: mallinfo2 does not see it */
            double rel2 = fabs((double)need - (double)seen) / (double)seen;
            CHECKF(rel2 <= 0.01 || fabs((double)need - (double)seen) < 65536, "n_ctx %u kv %d: needed %llu, malloc saw %llu",
                   sizes[i], (int)kvs[k], (unsigned long long)need, (unsigned long long)seen);
#endif
            if (k == 0) {
                CHECK(need > prev);
                prev = need;
            }
            edgellm_context_free(c);
        }
    uint64_t x = 0;
    struct edgellm_context_params bad = edgellm_context_default_params();
    bad.kv_type = (edgellm_kv_type)9;
    CHECK(edgellm_context_memory_needed(m, &bad, &x) == EDGELLM_ERR_ARG);
    CHECK(edgellm_context_memory_needed(NULL, NULL, &x) == EDGELLM_ERR_ARG);
    CHECK(edgellm_context_memory_needed(m, NULL, NULL) == EDGELLM_ERR_ARG);
    CHECK(edgellm_context_memory_size(NULL) == 0);
}

static void test_loads(const char *name, const float *ref) {
    char path[700], err[256];
    snprintf(path, sizeof path, "%s/models/%s", g_shared, name);
    size_t len = 0;
    char *file = tu_read_file(path, &len);
    CHECK(file != NULL);
    if (!file) return;
    float *l = malloc((size_t)g_nv * 4);
    /* memory: aligned (malloc) and at every misalignment 1..15 */
    uint8_t *raw = malloc(len + 64);
    for (int off = 0; off < 16; off += (off < 2 ? 1 : 5)) {
        uint8_t *p = raw + off;
        memcpy(p, file, len);
        struct edgellm_model *mm = NULL;
        edgellm_status st = edgellm_model_load_mem(p, len, NULL, &mm, err, sizeof err);
        CHECKF(st == EDGELLM_OK, "load_mem at +%d: %s", off, err);
        if (st) continue;
        ref_logits(mm, l);
        CHECKF(memcmp(l, ref, (size_t)g_nv * 4) == 0, "load_mem at +%d: logits differ from a path load", off);
        edgellm_model_free(mm);
    }
    /* a cut buffer fails with a status, never a crash */
    size_t cuts[] = {0, 3, 24, 100, len / 3, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        struct edgellm_model *mm = (struct edgellm_model *)1;
        edgellm_status st = edgellm_model_load_mem(raw, cuts[i], NULL, &mm, err, sizeof err);
        CHECKF(st == EDGELLM_ERR_FORMAT && mm == NULL && err[0], "cut at %zu: status %d", cuts[i], (int)st);
    }
    struct edgellm_model *mm = NULL;
    CHECK(edgellm_model_load_mem(NULL, 10, NULL, &mm, err, sizeof err) == EDGELLM_ERR_ARG);
    /* fd: the file inside a bigger one (as an asset in an APK), at a page offset and an odd one */
    char tmpl[] = "/tmp/edgellm_test_api_XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    const uint64_t offs[2] = {8192, 1001};
    for (int k = 0; k < 2 && fd >= 0; k++) {
        CHECK(ftruncate(fd, 0) == 0);
        uint8_t junk[9000];
        memset(junk, 0xab, sizeof junk);
        CHECK(pwrite(fd, junk, (size_t)offs[k], 0) == (ssize_t)offs[k]);
        CHECK(pwrite(fd, file, len, (off_t)offs[k]) == (ssize_t)len);
        CHECK(pwrite(fd, junk, 777, (off_t)(offs[k] + len)) == 777);
        mm = NULL;
        edgellm_status st = edgellm_model_load_fd(fd, offs[k], len, NULL, &mm, err, sizeof err);
        CHECKF(st == EDGELLM_OK, "load_fd at %llu: %s", (unsigned long long)offs[k], err);
        CHECK(fcntl(fd, F_GETFD) != -1); /* not closed */
        if (!st) {
            ref_logits(mm, l);
            CHECKF(memcmp(l, ref, (size_t)g_nv * 4) == 0, "load_fd at %llu: logits differ", (unsigned long long)offs[k]);
            edgellm_model_free(mm);
        }
        CHECK(edgellm_model_load_fd(fd, offs[k], len + 778, NULL, &mm, err, sizeof err) == EDGELLM_ERR_IO && !mm);
        CHECK(edgellm_model_load_fd(fd, offs[k], len / 2, NULL, &mm, err, sizeof err) == EDGELLM_ERR_FORMAT && !mm);
    }
    CHECK(edgellm_model_load_fd(-1, 0, len, NULL, &mm, err, sizeof err) == EDGELLM_ERR_IO);
    if (fd >= 0) {
        close(fd);
        unlink(tmpl);
    }
    free(raw);
    free(file);
    free(l);
}

static void test_meta(struct edgellm_model *m) {
    char buf[64];
    size_t need = 0;
    CHECK(edgellm_model_meta_str(m, "general.architecture", buf, sizeof buf, &need) == EDGELLM_OK);
    CHECK(!strcmp(buf, "qwen2") && need == 6);
    CHECK(edgellm_model_meta_str(m, "qwen2.block_count", buf, sizeof buf, &need) == EDGELLM_OK && !strcmp(buf, "2"));
    CHECK(edgellm_model_meta_str(m, "qwen2.embedding_length", buf, sizeof buf, NULL) == EDGELLM_OK && !strcmp(buf, "256"));
    CHECK(edgellm_model_meta_str(m, "no.such.key", buf, sizeof buf, &need) == EDGELLM_ERR_NOT_FOUND && need == 0 && !buf[0]);
    CHECK(EDGELLM_ERR_NOT_FOUND == 10 && !strcmp(edgellm_status_str(EDGELLM_ERR_NOT_FOUND), "not found"));
    CHECK(edgellm_model_meta_str(m, "general.architecture", buf, 3, &need) == EDGELLM_ERR_BUFFER_TOO_SMALL);
    CHECK(need == 6 && !strcmp(buf, "qw"));
    CHECK(edgellm_model_meta_str(m, "general.architecture", NULL, 0, &need) == EDGELLM_ERR_BUFFER_TOO_SMALL && need == 6);
    CHECK(edgellm_model_meta_str(m, NULL, buf, sizeof buf, &need) == EDGELLM_ERR_ARG);
    CHECK(edgellm_model_meta_str(NULL, "x", buf, sizeof buf, &need) == EDGELLM_ERR_ARG);
    /* arrays abbreviated as meta_value (info) shows them */
    char b2[256];
    for (uint64_t i = 0; edgellm_model_meta_key(m, i); i++)
        if (!strcmp(edgellm_model_meta_key(m, i), "tokenizer.ggml.tokens")) {
            CHECK(edgellm_model_meta_value(m, i, b2, sizeof b2) > 0);
            CHECK(edgellm_model_meta_str(m, "tokenizer.ggml.tokens", buf, sizeof buf, &need) != EDGELLM_ERR_NOT_FOUND);
            CHECK(need == strlen(b2) + 1 && !strncmp(buf, b2, sizeof buf - 1));
            CHECK(!strncmp(b2, "[4008", 5) || strstr(b2, "4008") != NULL);
        }
}

static void test_bias(struct edgellm_model *m) {
    float *l = malloc((size_t)g_nv * 4);
    ref_logits(m, l);
    int best = 0;
    for (int i = 1; i < g_nv; i++)
        if (l[i] > l[best]) best = i;
    struct edgellm_sampler_params p = edgellm_sampler_default_params();
    p.temperature = 0;
    struct edgellm_logit_bias bias[3] = {{best, -INFINITY}, {123, 0.0f}, {99999, 50.0f}};
    p.logit_bias = bias;
    p.n_logit_bias = 3;
    struct edgellm_sampler *s = NULL;
    CHECK(edgellm_sampler_new(&p, g_nv, &s) == EDGELLM_OK);
    bias[0].token = 5; /* copied at creation */
    edgellm_token t = edgellm_sampler_sample(s, l);
    CHECK(t >= 0 && t != best);
    edgellm_sampler_free(s);
    struct edgellm_logit_bias up = {321, 1000.0f};
    p.logit_bias = &up;
    p.n_logit_bias = 1;
    p.temperature = 0.8f;
    CHECK(edgellm_sampler_new(&p, g_nv, &s) == EDGELLM_OK);
    int all = 1;
    for (int i = 0; i < 20; i++) all &= edgellm_sampler_sample(s, l) == 321;
    CHECK(all);
    edgellm_sampler_free(s);
    p.n_logit_bias = -1;
    CHECK(edgellm_sampler_new(&p, g_nv, &s) == EDGELLM_ERR_ARG);
    p.n_logit_bias = 2;
    p.logit_bias = NULL;
    CHECK(edgellm_sampler_new(&p, g_nv, &s) == EDGELLM_ERR_ARG);
    free(l);
}

int main(int argc, char **argv) {
    snprintf(g_shared, sizeof g_shared, "%s", tu_shared(argc, argv));
    struct edgellm_model *m = load("qwen2-mini-q4_0.gguf"), *other = load("qwen2-mini-q4_1.gguf");
    if (!m || !other) return TEST_DONE();
    g_nv = edgellm_model_n_vocab(m);
    /* a "fine-tune": the same file with one byte of the last tensor changed */
    char path[700], err[256];
    snprintf(path, sizeof path, "%s/models/qwen2-mini-q4_0.gguf", g_shared);
    size_t len = 0;
    char *tuned_bytes = tu_read_file(path, &len);
    struct edgellm_model *tuned = NULL;
    if (tuned_bytes) {
        tuned_bytes[len - 1] ^= 0x01;
        CHECKF(edgellm_model_load_mem(tuned_bytes, len, NULL, &tuned, err, sizeof err) == EDGELLM_OK, "%s", err);
    }
    float *ref = malloc((size_t)g_nv * 4);
    ref_logits(m, ref);
    test_state(m, other, tuned);
    test_threads(m);
    test_memory(m);
    test_loads("qwen2-mini-q4_0.gguf", ref);
    test_meta(m);
    test_bias(m);
    test_ring_state();
    edgellm_model_free(tuned);
    free(tuned_bytes);
    free(ref);
    edgellm_model_free(m);
    edgellm_model_free(other);
    return TEST_DONE();
}
