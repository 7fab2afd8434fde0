/* Golden tests against the reference engine's logits in shared/refs: for every shared model,
 * the prompt evaluated as one batch and token by token must hold the file's bars at every
 * position (mean KL(ref||ours), max |dlogit|/std for float files, top-1 agreement where the
 * reference's top-2 gap is large for quantized files), and greedy continuation must equal the
 * reference's up to its first near-tie (aidreams and f16 files).
 * usage: test_golden SHARED_DIR [MODEL-NAME ...]   (EDGELLM_ISA picks the kernel path)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "golden.h"
#include "testutil.h"

static const char *const models[] = {
    "aidreams260K-f32", "aidreams260K-q8_0", "aidreams260K-q4_0", "llama3-mini-f16", "llama3-mini-q8_0",
    "llama3-mini-q4_0", "llama3-mini-q4_k_m", "qwen2-mini-f16", "qwen2-mini-bf16", "qwen2-mini-q8_0",
    "qwen2-mini-q4_0", "qwen2-mini-q4_1", "qwen2-mini-q5_0", "qwen2-mini-q5_1", "qwen2-mini-q2_k",
    "qwen2-mini-q3_k_m", "qwen2-mini-q4_k_m", "qwen2-mini-q5_k_m", "qwen2-mini-q6_k", "qwen2-mini-iq4_nl",
    "qwen2-mini-iq4_xs",
};

static void check_rows(const char *what, const struct golden_ref *r, const float *ours, int n_rows) {
    struct golden_stats s;
    golden_compare(r, r->logits, ours, n_rows, &s);
    int ok = golden_holds(r, &s);
    printf("  %-28s mean KL %.3g (bar %.3g)  max rel %.3g%s  top1 %d/%d checked\n", what, s.mean_kl, r->kl_bar,
           s.max_rel, r->max_rel_bar > 0 ? "" : " (n/a)", s.top1_checked - s.top1_mismatch, s.top1_checked);
    CHECKF(ok, "%s %s: mean KL %.3g (bar %.3g), max rel %.3g (bar %.3g), top-1 mismatches %d", r->name, what,
           s.mean_kl, r->kl_bar, s.max_rel, r->max_rel_bar, s.top1_mismatch);
}

static void run_model(const char *shared, const char *name) {
    struct golden_ref r;
    char path[1024];
    if (golden_ref_load(shared, name, 0, &r)) {
        CHECKF(0, "cannot read the reference of %s", name);
        return;
    }
    snprintf(path, sizeof path, "%s/models/%s.gguf", shared, name);
    struct edgellm_model *m = NULL;
    char err[512];
    int st = edgellm_model_load(path, NULL, &m, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "load %s: %s", name, err);
    if (st) { golden_ref_free(&r); return; }
    CHECK(edgellm_model_n_vocab(m) == r.n_vocab);
    printf("%s (%d tokens)\n", name, r.n_tokens);

    int n = r.n_tokens;
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = (uint32_t)n + 40;
    cp.n_batch = (uint32_t)n;
    cp.logits_all = 1;
    cp.n_threads = 2;
    struct edgellm_context *ctx = NULL;
    st = edgellm_context_new(m, &cp, &ctx, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "context %s: %s", name, err);
    if (st) { edgellm_model_free(m); golden_ref_free(&r); return; }
    float *ours = malloc(sizeof(float) * (size_t)n * (size_t)r.n_vocab);
    int8_t *want = malloc((size_t)n);
    memset(want, 1, (size_t)n);

    /* 1. the whole prompt as one batch */
    struct edgellm_batch b = {n, r.tokens, NULL, NULL, want};
    st = edgellm_context_decode(ctx, &b);
    CHECKF(st == EDGELLM_OK, "decode: %s", edgellm_context_errmsg(ctx));
    for (int i = 0; i < n && !st; i++) memcpy(ours + (size_t)i * r.n_vocab, edgellm_context_logits(ctx, i), sizeof(float) * (size_t)r.n_vocab);
    if (!st) check_rows("batch", &r, ours, n);

    /* 2. token by token through the cache */
    edgellm_context_seq_truncate(ctx, 0, 0);
    for (int i = 0; i < n && !st; i++) {
        struct edgellm_batch one = {1, r.tokens + i, NULL, NULL, NULL};
        st = edgellm_context_decode(ctx, &one);
        if (!st) memcpy(ours + (size_t)i * r.n_vocab, edgellm_context_logits(ctx, 0), sizeof(float) * (size_t)r.n_vocab);
    }
    CHECKF(st == EDGELLM_OK, "token-by-token decode: %s", edgellm_context_errmsg(ctx));
    if (!st) check_rows("token by token", &r, ours, n);

    /* 3. greedy continuation for the files whose continuation is pinned */
    int pinned = strstr(name, "aidreams") || strstr(name, "-f16");
    if (pinned && !st) {
        const float *lg = ours + (size_t)(n - 1) * r.n_vocab;
        int agree = 0, checked = 0;
        for (int step = 0; step < r.n_greedy; step++) {
            if (r.greedy_gaps[step] < 0.05f) break; /* near-tie: either branch is right */
            edgellm_token best = 0;
            for (int v = 1; v < r.n_vocab; v++)
                if (lg[v] > lg[best]) best = v;
            checked++;
            if (best != r.greedy[step]) {
                CHECKF(0, "%s greedy step %d: got %d, reference %d", name, step, best, r.greedy[step]);
                break;
            }
            agree++;
            struct edgellm_batch one = {1, &best, NULL, NULL, NULL};
            if (edgellm_context_decode(ctx, &one)) { CHECKF(0, "greedy decode: %s", edgellm_context_errmsg(ctx)); break; }
            lg = edgellm_context_logits(ctx, 0);
        }
        printf("  greedy: %d/%d steps equal (up to the first near-tie)\n", agree, checked);
        CHECK(agree == checked && checked > 0);
    }
    free(ours);
    free(want);
    edgellm_context_free(ctx);
    edgellm_model_free(m);
    golden_ref_free(&r);
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    int n_sel = 0;
    for (int i = 3; i < argc; i++) { run_model(shared, argv[i]); n_sel++; }
    if (!n_sel)
        for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) run_model(shared, models[i]);
    printf("isa: %s\n", edgellm_isa());
    return TEST_DONE();
}
