/* Sampler tests on hand-made distributions: each expected frequency is a softmax computed here
 * by hand (renormalized over the tokens the filter must keep), and the empirical frequencies over
 * 20000 draws must match within 2% (about 5 standard deviations). Also greedy = argmax,
 * penalties as llama.cpp applies them, and reproducibility of seeded draws. */
#include <math.h>
#include <stdint.h>

#include "edgellm.h"
#include "testutil.h"

#define DRAWS 20000

/* edgellm_sampler_new, NULL when it fails. */
static struct edgellm_sampler *new_sampler(const struct edgellm_sampler_params *p, int32_t n_vocab) {
    struct edgellm_sampler *s = NULL;
    return edgellm_sampler_new(p, n_vocab, &s) == EDGELLM_OK ? s : NULL;
}

static struct edgellm_sampler_params plain(float temp) {
    struct edgellm_sampler_params p = edgellm_sampler_default_params();
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 1234;
    return p;
}

/* Draws DRAWS tokens; checks that only tokens with expected[i] > 0 appear and that the
 * frequencies match expected[] (which must sum to 1) within tol. */
static void check_freq(const char *name, const struct edgellm_sampler_params *p, const float *logits, int n,
                       const double *expected, double tol) {
    struct edgellm_sampler *s = new_sampler(p, n);
    CHECK(s != NULL);
    if (!s) return;
    int count[64] = {0};
    int bad = 0;
    for (int d = 0; d < DRAWS; d++) {
        edgellm_token t = edgellm_sampler_sample(s, logits);
        if (t < 0 || t >= n || expected[t] <= 0.0) bad++;
        else count[t]++;
    }
    CHECKF(bad == 0, "%s: %d draws of tokens that must not appear", name, bad);
    for (int i = 0; i < n; i++) {
        double f = (double)count[i] / DRAWS;
        CHECKF(fabs(f - expected[i]) <= tol, "%s: token %d frequency %.4f, expected %.4f", name, i, f, expected[i]);
    }
    edgellm_sampler_free(s);
}

static void test_greedy(void) {
    struct edgellm_sampler_params p = plain(0.0f);
    float l1[6] = {0.1f, -3.0f, 2.5f, 2.4f, -0.5f, 1.0f};
    struct edgellm_sampler *s = new_sampler(&p, 6);
    CHECK(edgellm_sampler_sample(s, l1) == 2);
    float l2[6] = {-5.0f, -4.0f, -4.5f, -9.0f, -4.0f, -6.0f}; /* tie: the lower id */
    CHECK(edgellm_sampler_sample(s, l2) == 1);
    edgellm_sampler_free(s);
    /* Negative temperature is greedy too, and filters do not change the argmax. */
    p = edgellm_sampler_default_params();
    p.temperature = -1.0f;
    s = new_sampler(&p, 6);
    for (int i = 0; i < 10; i++) CHECK(edgellm_sampler_sample(s, l1) == 2);
    edgellm_sampler_free(s);
}

static void test_top_p(void) {
    /* logits [2,1,0,-1]: softmax 0.6439 0.2369 0.0871 0.0321; cumulative 0.644 < 0.7 <= 0.881,
     * so top-p 0.7 keeps {0, 1}: e^2/(e^2+e) and e/(e^2+e). */
    float l[4] = {2, 1, 0, -1};
    double e2 = exp(2.0), e1 = exp(1.0);
    double exp_p[4] = {e2 / (e2 + e1), e1 / (e2 + e1), 0, 0};
    struct edgellm_sampler_params p = plain(1.0f);
    p.top_p = 0.7f;
    check_freq("top-p 0.7", &p, l, 4, exp_p, 0.02);
    /* top-p 0.5 keeps only the best (0.644 >= 0.5). */
    p.top_p = 0.5f;
    double only0[4] = {1, 0, 0, 0};
    check_freq("top-p 0.5", &p, l, 4, only0, 0.0);
    /* top-p 0.9 keeps three tokens (0.881 < 0.9). */
    p.top_p = 0.9f;
    double z3 = e2 + e1 + 1.0;
    double three[4] = {e2 / z3, e1 / z3, 1.0 / z3, 0};
    check_freq("top-p 0.9", &p, l, 4, three, 0.02);
    /* top-p then temperature: the kept set is decided at temperature 1, then sharpened. */
    p.top_p = 0.7f;
    p.temperature = 0.5f; /* logits / 0.5 = [4, 2] over the kept pair */
    double e4 = exp(4.0), ee2 = exp(2.0);
    double sharp[4] = {e4 / (e4 + ee2), ee2 / (e4 + ee2), 0, 0};
    check_freq("top-p 0.7 temp 0.5", &p, l, 4, sharp, 0.02);
}

/* Top-p over an unsorted 60-token distribution (the bucketed path, top-k off): the nucleus and
 * its renormalized probabilities are computed here by brute force. */
static void test_top_p_unsorted(void) {
    enum { N = 60 };
    float l[N];
    double pr[N], z = 0;
    for (int r = 0; r < N; r++) l[(r * 7) % N] = 1.0f - 0.15f * (float)r; /* rank r at id 7r mod 60 */
    for (int i = 0; i < N; i++) z += exp(l[i]);
    const float tops[3] = {0.8f, 0.5f, 0.95f};
    for (int t = 0; t < 3; t++) {
        double cum = 0, zn = 0;
        double ex[N] = {0};
        for (int r = 0; r < N && cum < tops[t]; r++) { /* ranks in order until the mass reaches top-p */
            int id = (r * 7) % N;
            pr[id] = exp(l[id]) / z;
            cum += pr[id];
            ex[id] = exp(l[id]);
            zn += ex[id];
        }
        for (int i = 0; i < N; i++) ex[i] /= zn;
        struct edgellm_sampler_params p = plain(1.0f);
        p.top_p = tops[t];
        char name[32];
        snprintf(name, sizeof name, "unsorted top-p %.2f", tops[t]);
        check_freq(name, &p, l, N, ex, 0.02);
    }
}

static void test_top_k(void) {
    float l[6] = {0.5f, 3.0f, -1.0f, 2.0f, 2.5f, 1.0f};
    struct edgellm_sampler_params p = plain(1.0f);
    p.top_k = 3; /* tokens 1 (3.0), 4 (2.5), 3 (2.0) */
    double a = exp(3.0), b = exp(2.5), c = exp(2.0), z = a + b + c;
    double ex[6] = {0, a / z, 0, c / z, b / z, 0};
    check_freq("top-k 3", &p, l, 6, ex, 0.02);
    p.top_k = 1;
    double one[6] = {0, 1, 0, 0, 0, 0};
    check_freq("top-k 1", &p, l, 6, one, 0.0);
    /* top-k larger than the vocabulary: off. */
    p.top_k = 100;
    double all[6], za = 0;
    for (int i = 0; i < 6; i++) za += exp(l[i]);
    for (int i = 0; i < 6; i++) all[i] = exp(l[i]) / za;
    check_freq("top-k 100", &p, l, 6, all, 0.02);
}

static void test_min_p(void) {
    /* probabilities 0.5 0.3 0.1 0.06 0.04; min-p 0.15 keeps p >= 0.075: {0,1,2} -> 5/9, 3/9, 1/9. */
    float l[5] = {logf(0.5f), logf(0.3f), logf(0.1f), logf(0.06f), logf(0.04f)};
    struct edgellm_sampler_params p = plain(1.0f);
    p.min_p = 0.15f;
    double ex[5] = {5.0 / 9, 3.0 / 9, 1.0 / 9, 0, 0};
    check_freq("min-p 0.15", &p, l, 5, ex, 0.02);
    p.min_p = 0.7f; /* keeps p >= 0.35: only token 0 */
    double one[5] = {1, 0, 0, 0, 0};
    check_freq("min-p 0.7", &p, l, 5, one, 0.0);
}

static void test_temperature(void) {
    float l[2] = {1.0f, 0.0f};
    struct edgellm_sampler_params p = plain(0.5f);
    double e = exp(2.0);
    double ex[2] = {e / (e + 1), 1 / (e + 1)}; /* 0.8808 */
    check_freq("temp 0.5", &p, l, 2, ex, 0.02);
    p.temperature = 2.0f;
    e = exp(0.5);
    double ex2[2] = {e / (e + 1), 1 / (e + 1)}; /* 0.6225 */
    check_freq("temp 2", &p, l, 2, ex2, 0.02);
}

static void test_penalties(void) {
    struct edgellm_sampler_params p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.penalty_last_n = 8;
    /* positive logit is divided: 2 -> 1 < 1.9 */
    float l1[3] = {2.0f, 1.9f, -1.0f};
    struct edgellm_sampler *s = new_sampler(&p, 3);
    CHECK(edgellm_sampler_sample(s, l1) == 0);
    edgellm_sampler_accept(s, 0);
    CHECK(edgellm_sampler_sample(s, l1) == 1);
    CHECK(l1[0] == 2.0f); /* logits untouched */
    edgellm_sampler_free(s);
    /* negative logit is multiplied: -1 -> -2 < -1.5 */
    float l2[2] = {-1.0f, -1.5f};
    s = new_sampler(&p, 2);
    edgellm_sampler_accept(s, 0);
    edgellm_sampler_accept(s, 0); /* repeated occurrences do not compound the repeat penalty */
    CHECK(edgellm_sampler_sample(s, l2) == 1);
    edgellm_sampler_free(s);
    float l3[2] = {-1.0f, -2.5f};
    s = new_sampler(&p, 2);
    edgellm_sampler_accept(s, 0);
    edgellm_sampler_accept(s, 0);
    CHECK(edgellm_sampler_sample(s, l3) == 0); /* -2 > -2.5: once, not -4 */
    edgellm_sampler_free(s);

    /* presence: a constant once the token appeared */
    p = plain(0.0f);
    p.presence_penalty = 0.6f;
    float l4[2] = {1.0f, 0.5f};
    s = new_sampler(&p, 2);
    edgellm_sampler_accept(s, 1);
    CHECK(edgellm_sampler_sample(s, l4) == 0);
    edgellm_sampler_accept(s, 0);
    CHECK(edgellm_sampler_sample(s, l4) == 0); /* both penalized alike */
    edgellm_sampler_free(s);
    s = new_sampler(&p, 2);
    edgellm_sampler_accept(s, 0);
    CHECK(edgellm_sampler_sample(s, l4) == 1); /* 0.4 < 0.5 */
    edgellm_sampler_free(s);

    /* frequency: per occurrence. 1 - 0.3 = 0.7 > 0.5; 1 - 0.6 = 0.4 < 0.5 */
    p = plain(0.0f);
    p.frequency_penalty = 0.3f;
    s = new_sampler(&p, 2);
    edgellm_sampler_accept(s, 0);
    CHECK(edgellm_sampler_sample(s, l4) == 0);
    edgellm_sampler_accept(s, 0);
    CHECK(edgellm_sampler_sample(s, l4) == 1);
    edgellm_sampler_free(s);

    /* window: only the last penalty_last_n tokens count */
    p.penalty_last_n = 2;
    s = new_sampler(&p, 4);
    float l5[4] = {1.0f, 0.5f, -3.0f, -3.0f};
    edgellm_sampler_accept(s, 0);
    edgellm_sampler_accept(s, 0);
    CHECK(edgellm_sampler_sample(s, l5) == 1);
    edgellm_sampler_accept(s, 2);
    CHECK(edgellm_sampler_sample(s, l5) == 0); /* window {0, 2}: 1 - 0.3 = 0.7 > 0.5 */
    edgellm_sampler_accept(s, 3); /* window {2, 3}: token 0 forgotten */
    CHECK(edgellm_sampler_sample(s, l5) == 0);
    edgellm_sampler_reset(s);
    edgellm_sampler_accept(s, 0);
    edgellm_sampler_accept(s, 0);
    CHECK(edgellm_sampler_sample(s, l5) == 1);
    edgellm_sampler_reset(s); /* reset forgets the window */
    CHECK(edgellm_sampler_sample(s, l5) == 0);
    edgellm_sampler_free(s);

    /* penalized distribution: [2,1,0,-1] with repeat 2 on token 0 -> [1,1,0,-1] */
    p = plain(1.0f);
    p.repeat_penalty = 2.0f;
    p.penalty_last_n = 4;
    float l6[4] = {2, 1, 0, -1};
    double e = exp(1.0), z = 2 * e + 1 + exp(-1.0);
    double ex[4] = {e / z, e / z, 1 / z, exp(-1.0) / z};
    s = new_sampler(&p, 4);
    int count[4] = {0};
    edgellm_sampler_accept(s, 0);
    for (int d = 0; d < DRAWS; d++) count[edgellm_sampler_sample(s, l6)]++;
    for (int i = 0; i < 4; i++)
        CHECKF(fabs((double)count[i] / DRAWS - ex[i]) <= 0.02, "repeat-penalized token %d: %.4f vs %.4f", i,
               (double)count[i] / DRAWS, ex[i]);
    edgellm_sampler_free(s);
}

static void test_seed(void) {
    enum { N = 64, LEN = 300 };
    float l[N];
    for (int i = 0; i < N; i++) l[i] = (float)((i * 37) % 11) * 0.3f;
    struct edgellm_sampler_params p = plain(1.0f);
    p.seed = 42;
    struct edgellm_sampler *a = new_sampler(&p, N), *b = new_sampler(&p, N);
    p.seed = 43;
    struct edgellm_sampler *c = new_sampler(&p, N);
    edgellm_token sa[LEN], sb[LEN], sc[LEN];
    for (int i = 0; i < LEN; i++) {
        sa[i] = edgellm_sampler_sample(a, l);
        sb[i] = edgellm_sampler_sample(b, l);
        sc[i] = edgellm_sampler_sample(c, l);
    }
    CHECK(!memcmp(sa, sb, sizeof sa));
    CHECK(memcmp(sa, sc, sizeof sa) != 0);
    int same = 0;
    for (int i = 0; i < LEN; i++) same += sa[i] == sc[i];
    CHECKF(same < LEN / 4, "seeds 42 and 43 agree on %d of %d draws", same, LEN);
    edgellm_sampler_reset(a); /* reset restarts the sequence */
    int again = 1;
    for (int i = 0; i < LEN; i++) again &= edgellm_sampler_sample(a, l) == sa[i];
    CHECK(again);
    edgellm_sampler_free(a);
    edgellm_sampler_free(b);
    edgellm_sampler_free(c);
}

/* Deterministic pseudo-random logits for the large-vocabulary checks. */
static float lcg_logit(uint32_t *x) {
    *x = *x * 1664525u + 1013904223u;
    return (float)(*x >> 8) / (float)(1u << 24) * 20.0f - 10.0f;
}

static int cmp_float_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

static void test_large_vocab(void) {
    enum { NV = 152064 };
    float *l = malloc(NV * sizeof *l), *sorted = malloc(NV * sizeof *sorted);
    uint32_t x = 7;
    for (int i = 0; i < NV; i++) l[i] = lcg_logit(&x);
    memcpy(sorted, l, NV * sizeof *l);
    qsort(sorted, NV, sizeof *sorted, cmp_float_desc);

    struct edgellm_sampler_params p = plain(1.0f);
    p.top_k = 40;
    struct edgellm_sampler *s = new_sampler(&p, NV);
    int bad = 0;
    for (int d = 0; d < 2000; d++) bad += l[edgellm_sampler_sample(s, l)] < sorted[39];
    CHECKF(bad == 0, "top-k 40 on 152k: %d draws outside the top 40", bad);
    edgellm_sampler_free(s);

    /* top-p alone on 152k: the nucleus computed by brute force here. */
    p = plain(1.0f);
    p.top_p = 0.9f;
    double z = 0, cum = 0;
    for (int i = 0; i < NV; i++) z += exp((double)sorted[i] - sorted[0]);
    int k = 0;
    while (k < NV && cum < 0.9) cum += exp((double)sorted[k++] - sorted[0]) / z;
    float cut = sorted[k - 1];
    s = new_sampler(&p, NV);
    bad = 0;
    for (int d = 0; d < 200; d++) bad += l[edgellm_sampler_sample(s, l)] < cut;
    CHECKF(bad == 0, "top-p 0.9 on 152k: %d draws outside the nucleus of %d", bad, k);
    edgellm_sampler_free(s);

    /* A flat distribution (logits 0, -0.002, ...) whose nucleus reaches past the fast path's window. */
    enum { NF = 10000 };
    for (int i = 0; i < NF; i++) l[i] = -0.002f * (float)((i * 7919) % NF);
    p.top_p = 0.9999999f;
    p.seed = 9;
    s = new_sampler(&p, NF);
    z = 0;
    for (int i = 0; i < NF; i++) z += exp(-0.002 * i);
    cum = 0;
    k = 0;
    while (k < NF && cum < (double)p.top_p) cum += exp(-0.002 * k++) / z;
    bad = 0;
    for (int d = 0; d < 300; d++) bad += l[edgellm_sampler_sample(s, l)] < -0.002f * (float)(k - 1) - 1e-4f;
    CHECKF(bad == 0, "flat top-p: %d draws outside the nucleus of %d", bad, k);
    edgellm_sampler_free(s);
    free(l);
    free(sorted);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    struct edgellm_sampler *none = (struct edgellm_sampler *)&none;
    CHECK(edgellm_sampler_new(NULL, 0, &none) == EDGELLM_ERR_ARG && none == NULL);
    struct edgellm_sampler_params bad = edgellm_sampler_default_params();
    bad.struct_size = 8; /* smaller than the 1.0 layout */
    CHECK(edgellm_sampler_new(&bad, 4, &none) == EDGELLM_ERR_ARG && none == NULL);
    CHECK(edgellm_sampler_new(NULL, 4, NULL) == EDGELLM_ERR_ARG);
    test_greedy();
    test_top_p();
    test_top_p_unsorted();
    test_top_k();
    test_min_p();
    test_temperature();
    test_penalties();
    test_seed();
    test_large_vocab();
    return TEST_DONE();
}
