/* Attention tests.
 * 1. On every ISA this machine runs (kern_force), the tile kernels of kernels/attn.h against the
 *    scalar references: odd row counts (tails of the 4-row register tiles), odd key counts, head
 *    sizes that are and are not multiples of the vector width, empty and partial key ranges.
 * 2. The split one-token attention (positions divided across threads, then merged): on
 *    llama3-mini (one kv head, so with 2 threads every single-token decode splits), the logits
 *    of the last of 700 tokens decoded alone equal those of the same token at the end of one
 *    batch — the batched path that test_golden checks against the reference engine.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "kernels/attn.h"
#include "kernels/kernels.h"
#include "quant/qtypes.h"
#include "testutil.h"

static uint32_t rng = 12345;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static float max_rel(const float *a, const float *b, size_t n) {
    float scale = 1e-6f, d = 0;
    for (size_t i = 0; i < n; i++) scale = fmaxf(scale, fabsf(b[i]));
    for (size_t i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d / scale;
}

static void test_kernels(const char *isa_name) {
    const struct kern_attn_isa *ka = kern_attn_active(), *ref = kern_attn_ref();
    const int nqs[] = {1, 3, 6, 17, 96}, nks[] = {1, 5, 64}, hds[] = {5, 64, 80, 128};
    int checked = 0;
    for (size_t a = 0; a < sizeof nqs / sizeof *nqs; a++)
        for (size_t b = 0; b < sizeof nks / sizeof *nks; b++)
            for (size_t h = 0; h < sizeof hds / sizeof *hds; h++) {
                const int nq = nqs[a], nk = nks[b], hd = hds[h];
                const size_t ldq = (size_t)hd + 3, ldk = (size_t)hd + 1, lds = (size_t)nk + 2, ldo = (size_t)hd + 2;
                float *q = malloc(sizeof(float) * ldq * nq), *k = malloc(sizeof(float) * ldk * nk);
                float *v = malloc(sizeof(float) * ldk * nk);
                float *s1 = malloc(sizeof(float) * lds * nq), *s2 = malloc(sizeof(float) * lds * nq);
                float *o1 = malloc(sizeof(float) * ldo * nq), *o2 = malloc(sizeof(float) * ldo * nq);
                float mx1[96], mx2[96], sum1[96], sum2[96], c1[96], c2[96];
                int32_t lo[96], hi[96];
                for (size_t i = 0; i < ldq * nq; i++) q[i] = frand();
                for (size_t i = 0; i < ldk * nk; i++) k[i] = frand(), v[i] = frand();
                for (size_t i = 0; i < lds * nq; i++) s1[i] = s2[i] = -7.0f;
                for (size_t i = 0; i < ldo * nq; i++) o1[i] = o2[i] = frand();
                const float scale = 1.0f / sqrtf((float)hd) * 3.0f;
                /* the same keys and values as f16 rows (2 bytes of padding per row) */
                const size_t nbh = ldk * 2 + 2;
                char *kh = malloc(nbh * nk), *vh = malloc(nbh * nk);
                for (int j = 0; j < nk; j++) {
                    qtype_get(QT_F16)->from_float(k + (size_t)j * ldk, kh + (size_t)j * nbh, hd);
                    qtype_get(QT_F16)->from_float(v + (size_t)j * ldk, vh + (size_t)j * nbh, hd);
                }
                float *s3 = malloc(sizeof(float) * lds * nq), *s4 = malloc(sizeof(float) * lds * nq);
                memcpy(s3, s1, sizeof(float) * lds * nq);
                memcpy(s4, s1, sizeof(float) * lds * nq);
                ref->qk_f16(s3, lds, q, ldq, nq, kh, nbh, nk, hd, scale);
                ka->qk_f16(s4, lds, q, ldq, nq, kh, nbh, nk, hd, scale);
                float e16 = max_rel(s4, s3, lds * (size_t)nq);
                CHECKF(e16 < 1e-5f, "%s qk_f16 nq %d nk %d hd %d: rel err %g", isa_name, nq, nk, hd, e16);
                ref->qk_f32(s1, lds, q, ldq, nq, k, ldk * sizeof(float), nk, hd, scale);
                ka->qk_f32(s2, lds, q, ldq, nq, k, ldk * sizeof(float), nk, hd, scale);
                float e = max_rel(s2, s1, lds * (size_t)nq); /* relative to the tile's largest score */
                CHECKF(e < 1e-5f, "%s qk nq %d nk %d hd %d: rel err %g", isa_name, nq, nk, hd, e);
                for (int r = 0; r < nq; r++) { /* ranges: full, causal-like, empty, window-like */
                    const int kind = r % 4;
                    lo[r] = kind == 3 ? nk / 3 : kind == 2 ? nk : 0;
                    hi[r] = kind == 1 ? (r * 7) % (nk + 1) : kind == 2 ? nk : nk + 5;
                    mx1[r] = mx2[r] = r % 3 ? -INFINITY : 0.5f;
                    sum1[r] = sum2[r] = r % 3 ? 0.0f : 2.0f;
                }
                memcpy(s2, s1, sizeof(float) * lds * nq);
                ref->softmax(s1, lds, nq, nk, lo, hi, mx1, sum1, c1);
                ka->softmax(s2, lds, nq, nk, lo, hi, mx2, sum2, c2);
                e = 0;
                for (int r = 0; r < nq; r++) {
                    e = fmaxf(e, max_rel(s2 + r * lds, s1 + r * lds, (size_t)nk));
                    e = fmaxf(e, fabsf(sum2[r] - sum1[r]) / fmaxf(1e-6f, sum1[r]));
                    e = fmaxf(e, fabsf(c2[r] - c1[r]));
                    CHECK(mx1[r] == mx2[r]);
                }
                CHECKF(e < 2e-6f, "%s softmax nq %d nk %d: rel err %g", isa_name, nq, nk, e);
                float *o3 = malloc(sizeof(float) * ldo * nq), *o4 = malloc(sizeof(float) * ldo * nq);
                memcpy(o3, o1, sizeof(float) * ldo * nq);
                memcpy(o4, o1, sizeof(float) * ldo * nq);
                ref->pv_f32(o1, ldo, c1, s1, lds, nq, v, ldk * sizeof(float), nk, hd);
                ka->pv_f32(o2, ldo, c1, s1, lds, nq, v, ldk * sizeof(float), nk, hd);
                e = 0;
                for (int r = 0; r < nq; r++) e = fmaxf(e, max_rel(o2 + r * ldo, o1 + r * ldo, (size_t)hd));
                CHECKF(e < 1e-5f, "%s pv nq %d nk %d hd %d: rel err %g", isa_name, nq, nk, hd, e);
                ref->pv_f16(o3, ldo, c1, s1, lds, nq, vh, nbh, nk, hd);
                ka->pv_f16(o4, ldo, c1, s1, lds, nq, vh, nbh, nk, hd);
                e = 0;
                for (int r = 0; r < nq; r++) e = fmaxf(e, max_rel(o4 + r * ldo, o3 + r * ldo, (size_t)hd));
                CHECKF(e < 1e-5f, "%s pv_f16 nq %d nk %d hd %d: rel err %g", isa_name, nq, nk, hd, e);
                /* f16 rows hold the f32 values to ~1e-3: the two paths agree to that */
                e = 0;
                for (int r = 0; r < nq; r++) e = fmaxf(e, max_rel(o3 + r * ldo, o1 + r * ldo, (size_t)hd));
                CHECKF(e < 1e-2f && e16 < 1e-5f, "%s f16 vs f32 rows: rel err %g", isa_name, e);
                checked++;
                free(q), free(k), free(v), free(s1), free(s2), free(s3), free(s4), free(o1), free(o2), free(o3), free(o4);
                free(kh), free(vh);
            }
    printf("isa %s: %d kernel cases (attention table %s)\n", isa_name, checked, ka->name);
}

/* Logits of token n-1 of toks: decoded alone after a batch of n-1 (split == 1), or as the last
 * token of one batch. */
static int last_logits(struct edgellm_model *m, const edgellm_token *toks, int n, int alone, float *out, int n_vocab) {
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = (uint32_t)n;
    cp.n_batch = (uint32_t)n;
    cp.n_threads = 2;
    struct edgellm_context *ctx = NULL;
    char err[256];
    if (edgellm_context_new(m, &cp, &ctx, err, sizeof err) != EDGELLM_OK) return -1;
    int nb = alone ? n - 1 : n;
    struct edgellm_batch b = {nb, toks, NULL, NULL, NULL};
    edgellm_status st = edgellm_context_decode(ctx, &b);
    if (st == EDGELLM_OK && alone) {
        struct edgellm_batch b1 = {1, toks + n - 1, NULL, NULL, NULL};
        st = edgellm_context_decode(ctx, &b1);
    }
    const float *lg = st == EDGELLM_OK ? edgellm_context_logits(ctx, 0) : NULL;
    if (lg) memcpy(out, lg, sizeof(float) * (size_t)n_vocab);
    edgellm_context_free(ctx);
    return lg ? 0 : -1;
}

static void test_split(const char *shared) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/llama3-mini-f16.gguf", shared);
    struct edgellm_model *m = NULL;
    char err[256];
    if (edgellm_model_load(path, NULL, &m, err, sizeof err) != EDGELLM_OK) {
        CHECKF(0, "cannot load %s: %s", path, err);
        return;
    }
    const int n = 700, n_vocab = edgellm_model_n_vocab(m);
    edgellm_token *toks = malloc(sizeof *toks * n);
    for (int i = 0; i < n; i++) toks[i] = (edgellm_token)((i * 7919 + 13) % n_vocab);
    float *a = malloc(sizeof(float) * n_vocab), *b = malloc(sizeof(float) * n_vocab);
    CHECK(last_logits(m, toks, n, 1, a, n_vocab) == 0);
    CHECK(last_logits(m, toks, n, 0, b, n_vocab) == 0);
    double mean = 0, var = 0, d = 0;
    for (int i = 0; i < n_vocab; i++) mean += b[i];
    mean /= n_vocab;
    for (int i = 0; i < n_vocab; i++) var += (b[i] - mean) * (b[i] - mean), d = fmax(d, fabs(a[i] - b[i]));
    const double rel = d / sqrt(var / n_vocab);
    /* same math, other summation order (segments merged, F16 activations of the batch path) */
    CHECKF(rel < 2e-3, "split decode vs batch: max |dlogit| / std = %g", rel);
    printf("logit 0: %.7f alone, %.7f in the batch\n", a[0], b[0]);
    printf("split one-token attention at position %d: max |dlogit| / std = %.2e\n", n - 1, rel);
    free(a), free(b), free(toks);
    edgellm_model_free(m);
}

int main(int argc, char **argv) {
    const char *isas[] = {"scalar", "avx2", "avx512", "neon"};
    for (size_t i = 0; i < sizeof isas / sizeof *isas; i++) {
        if (!kern_force(isas[i])) continue;
        test_kernels(isas[i]);
        if (i > 0) CHECK(strcmp(kern_attn_active()->name, "scalar") || !strcmp(isas[i], "neon"));
    }
    const char *env = getenv("EDGELLM_ISA"); /* the split test runs on the path the suite runs on */
    if (!(env && env[0] && kern_force(env)) && !kern_force("avx512") && !kern_force("avx2")) kern_force("neon");
    test_split(tu_shared(argc, argv));
    return TEST_DONE();
}
