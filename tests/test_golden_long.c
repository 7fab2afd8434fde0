/* Long-context golden tests (shared/refs/long): 9,000 positions of llama3-mini-f16 (Llama 3
 * RoPE scaling through rope_freqs.weight matters there) and 4,000 of qwen2-mini-f16, evaluated
 * as one batch; the last logits_rows positions must hold kl_bar and max_rel_bar. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "golden.h"
#include "testutil.h"

static void run_long(const char *shared, const char *name) {
    struct golden_ref r;
    char path[1024], err[512];
    if (golden_ref_load(shared, name, 1, &r)) { CHECKF(0, "cannot read the long reference of %s", name); return; }
    snprintf(path, sizeof path, "%s/models/%s.gguf", shared, name);
    struct edgellm_model *m = NULL;
    int st = edgellm_model_load(path, NULL, &m, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "load %s: %s", name, err);
    if (st) { golden_ref_free(&r); return; }
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = (uint32_t)r.n_tokens;
    cp.n_batch = (uint32_t)r.n_tokens;
    cp.logits_all = 1;
    cp.n_threads = 2;
    struct edgellm_context *ctx = NULL;
    st = edgellm_context_new(m, &cp, &ctx, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "context: %s", err);
    int8_t *want = calloc((size_t)r.n_tokens, 1);
    for (int i = r.first_row; i < r.first_row + r.n_rows && i < r.n_tokens; i++) want[i] = 1;
    CHECK(r.first_row + r.n_rows == r.n_tokens);
    if (!st) {
        struct edgellm_batch b = {r.n_tokens, r.tokens, NULL, NULL, want};
        st = edgellm_context_decode(ctx, &b);
        CHECKF(st == EDGELLM_OK, "decode: %s", edgellm_context_errmsg(ctx));
    }
    if (!st) {
        float *ours = malloc(sizeof(float) * (size_t)r.n_rows * (size_t)r.n_vocab);
        for (int i = 0; i < r.n_rows; i++)
            memcpy(ours + (size_t)i * r.n_vocab, edgellm_context_logits(ctx, i), sizeof(float) * (size_t)r.n_vocab);
        struct golden_stats s;
        golden_compare(&r, r.logits, ours, r.n_rows, &s);
        printf("%s: %d positions, last %d rows: mean KL %.3g (bar %.3g), max rel %.3g (bar %.3g)\n", name, r.n_tokens,
               r.n_rows, s.mean_kl, r.kl_bar, s.max_rel, r.max_rel_bar);
        CHECKF(golden_holds(&r, &s), "%s long context outside the bars", name);
        free(ours);
    }
    free(want);
    edgellm_context_free(ctx);
    edgellm_model_free(m);
    golden_ref_free(&r);
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    run_long(shared, "llama3-mini-f16");
    run_long(shared, "qwen2-mini-f16");
    return TEST_DONE();
}
