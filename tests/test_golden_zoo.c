/* Golden tests of the four architectures of shared/zoo (qwen3, gemma3, phi3, smollm3) against
 * the reference engine's logits in shared/zoo/refs, on every ISA path this CPU has:
 *  - the prompt as one batch, in chunks of 7 tokens (n_batch 7) and token by token (n_batch 1,
 *    so gemma3's sliding-window rings are as small as they get and wrap many times), each
 *    holding the file's bars at every position; the context has the reference's n_ctx (phi3's
 *    LongRoPE factors depend on it);
 *  - greedy continuation (f32/f16 files) with teacher forcing: at every step whose reference
 *    top-2 gap is >= 0.05 our top-1 must be the reference's; the reference's token is fed;
 *  - the long gemma3 reference (2,000 positions, batches of 512 through the ring);
 *  - the KV allocation of gemma3-mini at n_ctx 4096 follows the ring formula, and truncation
 *    inside / past what the rings cover.
 * usage: test_golden_zoo SHARED_DIR [EDGELLM_BIN] [MODEL-NAME ...] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "golden.h"
#include "kernels/kernels.h"
#include "model/context.h"
#include "testutil.h"

static const char *const models[] = {
    "qwen3-mini-f32",    "qwen3-mini-f16",   "qwen3-mini-q8_0",    "qwen3-mini-q4_0",   "qwen3-mini-q4_k_m",
    "gemma3-mini-f32",   "gemma3-mini-f16",  "gemma3-mini-bf16",   "gemma3-mini-q8_0",  "gemma3-mini-q4_0",
    "gemma3-mini-q4_k_m", "phi3-mini-f32",   "phi3-mini-f16",      "phi3-mini-q8_0",    "phi3-mini-q4_0",
    "phi3-mini-q4_k_m",  "smollm3-mini-f32", "smollm3-mini-f16",   "smollm3-mini-q8_0", "smollm3-mini-q4_0",
    "smollm3-mini-q4_k_m",
};
static const char *const isas[] = {"scalar", "avx2", "avx512", "neon"};

static int n_pass, n_fail;

static void check_rows(const char *what, const struct golden_ref *r, const float *ours, int n_rows) {
    struct golden_stats s;
    golden_compare(r, r->logits, ours, n_rows, &s);
    int ok = golden_holds(r, &s);
    printf("  %-8s %-15s mean KL %.3g (bar %.3g)  max rel %.3g%s  top1 %d/%d checked\n", kern_isa_name(), what,
           s.mean_kl, r->kl_bar, s.max_rel, r->max_rel_bar > 0 ? "" : " (n/a)", s.top1_checked - s.top1_mismatch,
           s.top1_checked);
    CHECKF(ok, "%s [%s] %s: mean KL %.3g (bar %.3g), max rel %.3g (bar %.3g), top-1 mismatches %d", r->name,
           kern_isa_name(), what, s.mean_kl, r->kl_bar, s.max_rel, r->max_rel_bar, s.top1_mismatch);
    ok ? n_pass++ : n_fail++;
}

static struct edgellm_context *new_ctx(struct edgellm_model *m, uint32_t n_ctx, uint32_t n_batch) {
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.logits_all = 1;
    cp.n_threads = 2;
    struct edgellm_context *ctx = NULL;
    char err[512];
    int st = edgellm_context_new(m, &cp, &ctx, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "context (n_ctx %u, n_batch %u): %s", n_ctx, n_batch, err);
    return st ? NULL : ctx;
}

/* The prompt in batches of `chunk` tokens through a context with n_batch = chunk. */
static int eval_chunks(struct edgellm_model *m, const struct golden_ref *r, uint32_t n_ctx, int chunk, float *ours,
                       struct edgellm_context **keep) {
    struct edgellm_context *ctx = new_ctx(m, n_ctx, (uint32_t)chunk);
    if (!ctx) return -1;
    int8_t want[512];
    memset(want, 1, sizeof want);
    int st = 0;
    for (int i = 0; i < r->n_tokens && !st; i += chunk) {
        int nb = r->n_tokens - i < chunk ? r->n_tokens - i : chunk;
        struct edgellm_batch b = {nb, r->tokens + i, NULL, NULL, want};
        st = edgellm_context_decode(ctx, &b);
        for (int j = 0; j < nb && !st; j++)
            memcpy(ours + (size_t)(i + j) * r->n_vocab, edgellm_context_logits(ctx, j), sizeof(float) * (size_t)r->n_vocab);
    }
    CHECKF(st == EDGELLM_OK, "%s decode in chunks of %d: %s", r->name, chunk, edgellm_context_errmsg(ctx));
    if (keep && !st) *keep = ctx;
    else edgellm_context_free(ctx);
    return st ? -1 : 0;
}

static void run_model(const char *zoo, const char *name) {
    struct golden_ref r;
    char path[2048], err[512], js_path[2048];
    if (golden_ref_load(zoo, name, 0, &r)) {
        CHECKF(0, "cannot read the reference of %s", name);
        return;
    }
    snprintf(js_path, sizeof js_path, "%s/refs/%s.json", zoo, name);
    char *js = tu_read_file(js_path, NULL);
    uint32_t n_ctx = js ? (uint32_t)golden_num(js, "n_ctx", 0) : 0;
    free(js);
    if (n_ctx < (uint32_t)r.n_tokens + (uint32_t)r.n_greedy) n_ctx = (uint32_t)(r.n_tokens + r.n_greedy);
    snprintf(path, sizeof path, "%s/%s.gguf", zoo, name);
    struct edgellm_model *m = NULL;
    int st = edgellm_model_load(path, NULL, &m, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "load %s: %s", name, err);
    if (st) { golden_ref_free(&r); return; }
    CHECK(edgellm_model_n_vocab(m) == r.n_vocab);
    printf("%s (%d tokens, n_ctx %u)\n", name, r.n_tokens, n_ctx);
    int n = r.n_tokens;
    float *ours = malloc(sizeof(float) * (size_t)n * (size_t)r.n_vocab);
    int pinned = strstr(name, "-f32") || strstr(name, "-f16");
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        if (!kern_force(isas[ii])) continue;
        if (!eval_chunks(m, &r, n_ctx, n, ours, NULL)) check_rows("batch", &r, ours, n);
        if (!eval_chunks(m, &r, n_ctx, 7, ours, NULL)) check_rows("chunks of 7", &r, ours, n);
        struct edgellm_context *ctx = NULL;
        if (!eval_chunks(m, &r, n_ctx, 1, ours, &ctx)) check_rows("token by token", &r, ours, n);
        if (pinned && ctx) {
            const float *lg = ours + (size_t)(n - 1) * r.n_vocab;
            int checked = 0, agree = 0;
            for (int step = 0; step < r.n_greedy && lg; step++) {
                edgellm_token best = 0;
                for (int v = 1; v < r.n_vocab; v++)
                    if (lg[v] > lg[best]) best = v;
                if (r.greedy_gaps[step] >= 0.05f) {
                    checked++;
                    agree += best == r.greedy[step];
                    CHECKF(best == r.greedy[step], "%s [%s] greedy step %d: got %d, reference %d", name, kern_isa_name(),
                           step, best, r.greedy[step]);
                }
                struct edgellm_batch one = {1, &r.greedy[step], NULL, NULL, NULL}; /* teacher forcing */
                if (edgellm_context_decode(ctx, &one)) { CHECKF(0, "greedy decode: %s", edgellm_context_errmsg(ctx)); break; }
                lg = edgellm_context_logits(ctx, 0);
            }
            printf("  %-8s greedy: %d/%d steps equal (teacher forcing; steps with gap >= 0.05)\n", kern_isa_name(), agree, checked);
            CHECK(checked > 0);
            agree == checked && checked > 0 ? n_pass++ : n_fail++;
        }
        edgellm_context_free(ctx);
    }
    kern_force(NULL);
    free(ours);
    edgellm_model_free(m);
    golden_ref_free(&r);
}

/* 2,000 positions in batches of 512 through a context of the reference's n_ctx: the sliding
 * layers' rings (16 + 512 rows) wrap several times. */
static void run_long(const char *zoo, const char *name) {
    struct golden_ref r;
    char path[2048], err[512];
    if (golden_ref_load(zoo, name, 1, &r)) { CHECKF(0, "cannot read the long reference of %s", name); return; }
    snprintf(path, sizeof path, "%s/refs/long/%s.long.json", zoo, name);
    char *js = tu_read_file(path, NULL);
    uint32_t n_ctx = js ? (uint32_t)golden_num(js, "n_ctx", 0) : 0;
    free(js);
    if (n_ctx < (uint32_t)r.n_tokens) n_ctx = (uint32_t)r.n_tokens;
    snprintf(path, sizeof path, "%s/%s.gguf", zoo, name);
    struct edgellm_model *m = NULL;
    int st = edgellm_model_load(path, NULL, &m, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "load %s: %s", name, err);
    if (st) { golden_ref_free(&r); return; }
    struct edgellm_context *ctx = new_ctx(m, n_ctx, 512);
    CHECK(r.first_row + r.n_rows == r.n_tokens);
    float *ours = malloc(sizeof(float) * (size_t)r.n_rows * (size_t)r.n_vocab);
    int8_t *want = calloc((size_t)r.n_tokens, 1);
    for (int i = r.first_row; i < r.n_tokens; i++) want[i] = 1;
    int got = 0;
    st = ctx ? 0 : -1;
    for (int i = 0; i < r.n_tokens && !st; i += 512) {
        int nb = r.n_tokens - i < 512 ? r.n_tokens - i : 512;
        struct edgellm_batch b = {nb, r.tokens + i, NULL, NULL, want + i};
        st = edgellm_context_decode(ctx, &b);
        CHECKF(st == EDGELLM_OK, "long decode: %s", edgellm_context_errmsg(ctx));
        for (int j = 0; !st && edgellm_context_logits(ctx, j); j++, got++)
            memcpy(ours + (size_t)got * r.n_vocab, edgellm_context_logits(ctx, j), sizeof(float) * (size_t)r.n_vocab);
    }
    if (!st && got == r.n_rows) {
        struct golden_stats s;
        golden_compare(&r, r.logits, ours, r.n_rows, &s);
        int ok = golden_holds(&r, &s);
        printf("%s long: %d positions (ring %u rows), last %d rows: mean KL %.3g (bar %.3g), max rel %.3g (bar %.3g)\n", name,
               r.n_tokens, ctx->kv_ring, r.n_rows, s.mean_kl, r.kl_bar, s.max_rel, r.max_rel_bar);
        CHECKF(ok, "%s long context outside the bars", name);
        ok ? n_pass++ : n_fail++;
    } else {
        CHECKF(0, "%s long: got %d rows of logits, expected %d", name, got, r.n_rows);
    }
    free(ours);
    free(want);
    edgellm_context_free(ctx);
    edgellm_model_free(m);
    golden_ref_free(&r);
}

/* gemma3-mini: 6 layers, layers 0-4 slide over 16 positions, KV rows of 64 values (F16: 128
 * bytes). At n_ctx 4096 with n_batch 512 a sliding layer holds min(4096, 16 + 512) = 528 rows
 * per sequence, the global layer 4096. */
static void ring_memory(const char *zoo) {
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/gemma3-mini-f16.gguf", zoo);
    struct edgellm_model *m = NULL;
    if (edgellm_model_load(path, NULL, &m, err, sizeof err)) { CHECKF(0, "load: %s", err); return; }
    const uint32_t seqs[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        struct edgellm_context_params cp = edgellm_context_default_params();
        cp.n_ctx = 4096;
        cp.n_seq = seqs[i];
        cp.n_threads = 1;
        struct edgellm_context *ctx = NULL;
        if (edgellm_context_new(m, &cp, &ctx, err, sizeof err)) { CHECKF(0, "context: %s", err); break; }
        size_t expect = 2 * (size_t)seqs[i] * (5 * 528 + 1 * 4096) * 64 * 2;
        printf("gemma3-mini n_ctx 4096 x %u sequences: KV %zu bytes (ring formula: %zu; without rings %zu)\n", seqs[i],
               ctx->kv_bytes, expect, 2 * (size_t)seqs[i] * 6 * 4096 * 128);
        CHECK(ctx->kv_ring == 528);
        CHECK(ctx->kv_bytes == expect);
        edgellm_context_free(ctx);
    }
    /* truncation: n_batch 16 -> rings of 32 rows. After 100 positions they hold 68..99. */
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 16;
    cp.n_threads = 1;
    struct edgellm_context *ctx = NULL;
    if (edgellm_context_new(m, &cp, &ctx, err, sizeof err)) { CHECKF(0, "context: %s", err); edgellm_model_free(m); return; }
    edgellm_token toks[100];
    for (int i = 0; i < 100; i++) toks[i] = (edgellm_token)(1 + (i * 37) % 600);
    int32_t nv = edgellm_model_n_vocab(m);
    float *first = malloc(sizeof(float) * (size_t)nv), *again = malloc(sizeof(float) * (size_t)nv);
    int st = 0;
    for (int i = 0; i < 100 && !st; i += 10) {
        struct edgellm_batch b = {10, toks + i, NULL, NULL, NULL};
        st = edgellm_context_decode(ctx, &b);
    }
    CHECK(st == 0);
    if (!st) memcpy(first, edgellm_context_logits(ctx, 0), sizeof(float) * (size_t)nv);
    /* 90: the window before it (74..89) is still in the rings: kept */
    edgellm_context_seq_truncate(ctx, 0, 90);
    CHECK(edgellm_context_seq_len(ctx, 0) == 90);
    struct edgellm_batch b = {10, toks + 90, NULL, NULL, NULL};
    CHECK(edgellm_context_decode(ctx, &b) == EDGELLM_OK);
    memcpy(again, edgellm_context_logits(ctx, 0), sizeof(float) * (size_t)nv);
    double maxd = 0;
    for (int v = 0; v < nv; v++) maxd = fmax(maxd, fabs((double)first[v] - again[v]));
    printf("gemma3-mini truncate to 90 of 100 and re-decode: max |dlogit| %.3g\n", maxd);
    CHECK(maxd < 1e-4);
    /* 50: positions 34..49 were overwritten long ago: the sequence restarts from 0 */
    edgellm_context_seq_truncate(ctx, 0, 50);
    CHECK(edgellm_context_seq_len(ctx, 0) == 0);
    for (int i = 0; i < 100 && !st; i += 10) {
        struct edgellm_batch bb = {10, toks + i, NULL, NULL, NULL};
        st = edgellm_context_decode(ctx, &bb);
    }
    CHECK(st == 0);
    maxd = 0;
    for (int v = 0; v < nv && !st; v++) maxd = fmax(maxd, fabs((double)first[v] - edgellm_context_logits(ctx, 0)[v]));
    CHECK(maxd < 1e-4);
    free(first);
    free(again);
    edgellm_context_free(ctx);
    edgellm_model_free(m);
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    char zoo[1024];
    snprintf(zoo, sizeof zoo, "%s/zoo", shared);
    int n_sel = 0;
    for (int i = 3; i < argc; i++) { run_model(zoo, argv[i]); n_sel++; }
    if (!n_sel) {
        for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) run_model(zoo, models[i]);
        run_long(zoo, "gemma3-mini-f16");
        ring_memory(zoo);
    }
    printf("zoo goldens: %d checks hold, %d do not\n", n_pass, n_fail);
    return TEST_DONE();
}
