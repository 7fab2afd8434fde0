/* Context shift (edgellm_context_seq_shift) against recomputation.
 *
 * The moved tokens' cached K/V were computed while the discarded tokens were still there, so a
 * shifted cache cannot be compared with a fresh evaluation of the kept tokens directly. Instead
 * the test builds, from a fresh evaluation, the cache the shift must undo: context C evaluates
 * keep + rest at positions 0..L-1; context A gets C's rows, with `d` filler rows inserted after
 * the kept ones and every later key rotated FORWARD by d positions by this test's own RoPE (double
 * precision, pairs and angles from the model's description, on RoPE layers only). Shifting A by d
 * must give back C: the logits of the next tokens on A must match C's (max |dlogit| / std of the
 * row, top-1). A shift by the wrong amount (a forward rotation of d + 3) must fail the same bar,
 * so the check can fail. Models: qwen2 (NEOX), llama3 (NORM pairs, rope_freqs), gemma3 (sliding
 * layers with their own base, KV rings smaller than the sequence), phi3 (partial rotary,
 * LongRoPE factors), smollm3 (NoPE layers); KV cache F32, F16, Q8_0. */
#include <math.h>
#include <stdint.h>

#include "edgellm.h"
#include "model/context.h"
#include "model/model.h"
#include "quant/qtypes.h"
#include "testutil.h"

#define NEXT 4
#define BATCH 32

static uint32_t g_rng = 12345;
static edgellm_token rnd_token(int32_t nv) {
    g_rng = g_rng * 1103515245u + 12345u;
    return (edgellm_token)(10 + (g_rng >> 8) % (uint32_t)(nv - 20));
}

static struct edgellm_context *mkctx(struct edgellm_model *m, edgellm_kv_type kv) {
    struct edgellm_context_params p = edgellm_context_default_params();
    struct edgellm_context *c = NULL;
    char err[256];
    p.n_ctx = 256;
    p.n_batch = BATCH; /* gemma3-mini: rings of 16 + 32 rows */
    p.n_threads = 2;
    p.kv_type = kv;
    edgellm_status st = edgellm_context_new(m, &p, &c, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "context: %s", err);
    return c;
}

static int decode_all(struct edgellm_context *c, const edgellm_token *t, int n) {
    for (int i = 0; i < n; i += BATCH) {
        struct edgellm_batch b = {n - i < BATCH ? n - i : BATCH, t + i, NULL, NULL, NULL};
        if (edgellm_context_decode(c, &b)) {
            fprintf(stderr, "decode: %s\n", edgellm_context_errmsg(c));
            return -1;
        }
    }
    return 0;
}

/* The test's own RoPE: rotates the first n_rot dims of every kv head of row x by `dp` positions,
 * in double precision. */
static void rotate_fwd(const struct edgellm_context *c, const struct edgellm_model_desc *md, const struct edgellm_layer_desc *ld,
                       float *x, double dp) {
    const struct hparams *hp = &c->model->hp;
    uint32_t half = md->n_rot / 2;
    double fs = ld->swa ? 1.0 : hp->rope_freq_scale;
    for (uint32_t h = 0; h < md->n_head_kv; h++) {
        float *v = x + (size_t)h * md->head_dim;
        for (uint32_t i = 0; i < half; i++) {
            double th = dp * pow((double)ld->rope_freq_base, -2.0 * i / md->n_rot) * fs;
            if (c->rope_factors) th /= c->rope_factors[i];
            uint32_t a = md->rope_neox ? i : 2 * i, b = md->rope_neox ? i + half : 2 * i + 1;
            double x0 = v[a], x1 = v[b];
            v[a] = (float)(x0 * cos(th) - x1 * sin(th));
            v[b] = (float)(x0 * sin(th) + x1 * cos(th));
        }
    }
}

/* A's sequence 0 := C's (keep + rest, length L) with d filler rows after the kept ones and every
 * later key rotated forward by rot positions. ring_lo: mark the sliding rings as holding only
 * their last window (as after a restore). */
static void craft(struct edgellm_context *a, struct edgellm_context *c, const struct edgellm_model_desc *md, uint32_t keep,
                  uint32_t d, double rot, int ring_lo) {
    const struct hparams *hp = &c->model->hp;
    uint32_t L = c->seq_len[0], len = L + d;
    size_t kv_dim = (size_t)md->n_head_kv * md->head_dim;
    const struct qtype_traits *qt = qtype_get(c->kv_qtype);
    float *f = malloc(sizeof(float) * kv_dim);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        struct edgellm_layer_desc ld = EDGELLM_LAYER_DESC_INIT;
        edgellm_model_layer(c->model, il, &ld);
        uint32_t lo_c = ld.swa && c->seq_hi[0] > c->kv_ring ? c->seq_hi[0] - c->kv_ring : 0; /* C's ring holds [lo_c, L) */
        for (uint32_t p = 0; p < len; p++) {
            int filler = p >= keep && p < keep + d;
            uint32_t q = p < keep ? p : p - d;
            for (int kv = 0; kv < 2; kv++) {
                uint8_t *dst = kv_row(a, kv ? a->v_cache : a->k_cache, 0, il, p);
                if (filler || q < lo_c) {
                    memset(f, 0, sizeof(float) * kv_dim);
                    f[0] = 1.0f;
                    if (qt->from_float) qt->from_float(f, dst, (int64_t)kv_dim);
                    else memcpy(dst, f, sizeof(float) * kv_dim);
                    continue;
                }
                const uint8_t *src = kv_row(c, kv ? c->v_cache : c->k_cache, 0, il, q);
                if (kv || !ld.rope || p < keep) {
                    memcpy(dst, src, c->kv_row_bytes);
                    continue;
                }
                if (qt->to_float) qt->to_float(src, f, (int64_t)kv_dim);
                else memcpy(f, src, sizeof(float) * kv_dim);
                rotate_fwd(c, md, &ld, f, rot);
                if (qt->from_float) qt->from_float(f, dst, (int64_t)kv_dim);
                else memcpy(dst, f, sizeof(float) * kv_dim);
            }
        }
    }
    free(f);
    for (uint32_t p = 0; p < len; p++) a->tokens[p] = p < keep ? c->tokens[p] : p < keep + d ? 5 : c->tokens[p - d];
    a->seq_len[0] = a->seq_hi[0] = len;
    a->seq_ring_lo[0] = ring_lo && a->kv_ring && len > hp->swa_window ? len - hp->swa_window : 0;
}

/* Worst max|dlogit|/std over the NEXT steps, and top-1 mismatches. */
static double compare_next(struct edgellm_context *a, const edgellm_token *next, const float *ref, int32_t nv, int *top1_bad) {
    double worst = 0;
    *top1_bad = 0;
    for (int s = 0; s < NEXT; s++) {
        if (decode_all(a, next + s, 1)) return 1e9;
        const float *lg = edgellm_context_logits(a, 0), *r = ref + (size_t)s * nv;
        double mean = 0, var = 0, mx = 0;
        int ta = 0, tr = 0;
        for (int32_t i = 0; i < nv; i++) mean += r[i];
        mean /= nv;
        for (int32_t i = 0; i < nv; i++) {
            var += (r[i] - mean) * (r[i] - mean);
            if (fabs(lg[i] - r[i]) > mx) mx = fabs(lg[i] - r[i]);
            if (lg[i] > lg[ta]) ta = i;
            if (r[i] > r[tr]) tr = i;
        }
        double rel = mx / sqrt(var / nv);
        if (rel > worst) worst = rel;
        *top1_bad += ta != tr;
    }
    return worst;
}

static void run_case(struct edgellm_model *m, const char *name, edgellm_kv_type kv, uint32_t keep, uint32_t d, uint32_t rest) {
    struct edgellm_model_desc md = EDGELLM_MODEL_DESC_INIT;
    edgellm_model_describe(m, &md);
    int32_t nv = md.n_vocab;
    struct edgellm_context *c = mkctx(m, kv), *a = mkctx(m, kv);
    if (!c || !a) return;
    edgellm_token toks[256], next[NEXT];
    for (uint32_t i = 0; i < keep + rest; i++) toks[i] = rnd_token(nv);
    for (int i = 0; i < NEXT; i++) next[i] = rnd_token(nv);
    float *ref = malloc(sizeof(float) * (size_t)nv * NEXT);
    if (decode_all(c, toks, (int)(keep + rest))) return;
    /* the reference: C continued by the next tokens, from a copy of its cache (sequence state) */
    size_t sz = edgellm_context_seq_state_size(c, 0), wr;
    void *st = malloc(sz);
    CHECK(edgellm_context_seq_state_get(c, 0, st, sz, &wr) == EDGELLM_OK);
    for (int s = 0; s < NEXT; s++) {
        decode_all(c, next + s, 1);
        memcpy(ref + (size_t)s * nv, edgellm_context_logits(c, 0), sizeof(float) * (size_t)nv);
    }
    edgellm_context_seq_truncate(c, 0, keep + rest);
    if (c->seq_len[0] != keep + rest) { /* rings overwritten by the next tokens: restore C's rows */
        CHECK(edgellm_context_seq_state_set(c, 0, st, sz) == EDGELLM_OK);
        c->seq_ring_lo[0] = 0;
    }
    const double bar = kv == EDGELLM_KV_Q8_0 ? 0.1 : 0.01;
    int bad;
    craft(a, c, &md, keep, d, (double)d, 0);
    edgellm_status s = edgellm_context_seq_shift(a, 0, keep, d);
    CHECKF(s == EDGELLM_OK, "%s: shift: %s", name, edgellm_context_errmsg(a));
    CHECK(edgellm_context_seq_len(a, 0) == keep + rest);
    CHECK(!memcmp(a->tokens, c->tokens, sizeof(edgellm_token) * (keep + rest)));
    double rel = compare_next(a, next, ref, nv, &bad);
    printf("%-14s kv %-4s keep %3u discard %3u rest %3u: max|dlogit|/std %.5f (bar %.2f), top-1 mismatches %d\n", name,
           kv == EDGELLM_KV_Q8_0 ? "q8_0" : kv == EDGELLM_KV_F16 ? "f16" : "f32", keep, d, rest, rel, bar, bad);
    CHECKF(rel <= bar && bad == 0, "%s: shifted logits differ from recomputation: %.4f, %d top-1", name, rel, bad);
    /* negative control: the cache rotated by d + 3 and shifted back by d is 3 positions off */
    edgellm_context_seq_truncate(a, 0, 0);
    craft(a, c, &md, keep, d, (double)d + 3, 0);
    CHECK(edgellm_context_seq_shift(a, 0, keep, d) == EDGELLM_OK);
    double rel_bad = compare_next(a, next, ref, nv, &bad);
    int nope_only = 1;
    for (uint32_t il = 0; il < md.n_layer; il++) {
        struct edgellm_layer_desc ld = EDGELLM_LAYER_DESC_INIT;
        edgellm_model_layer(m, il, &ld);
        nope_only &= !ld.rope;
    }
    if (!nope_only) CHECKF(rel_bad > bar, "%s: a wrong rotation went unnoticed (%.4f)", name, rel_bad);
    /* sliding rings that hold only the last window (a restored state) cannot give back kept
     * positions a shifted query still sees: refused, the sequence unchanged */
    if (a->kv_ring && keep + rest <= 16) {
        edgellm_context_seq_truncate(a, 0, 0);
        craft(a, c, &md, keep, d, (double)d, 1);
        uint32_t len = a->seq_len[0];
        s = edgellm_context_seq_shift(a, 0, keep, d);
        CHECKF(s == EDGELLM_ERR_UNSUPPORTED && a->seq_len[0] == len, "%s: ring refusal: status %d, len %u", name, s, a->seq_len[0]);
    }
    free(st);
    free(ref);
    edgellm_context_free(a);
    edgellm_context_free(c);
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    static const char *files[] = {"models/qwen2-mini-f16.gguf", "models/llama3-mini-f16.gguf", "zoo/gemma3-mini-f16.gguf",
                                  "zoo/phi3-mini-f16.gguf", "zoo/smollm3-mini-f16.gguf"};
    static const edgellm_kv_type kvs[] = {EDGELLM_KV_F32, EDGELLM_KV_F16, EDGELLM_KV_Q8_0};
    int n_loaded = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[700], err[256];
        snprintf(path, sizeof path, "%s/%s", shared, files[i]);
        struct edgellm_model *m = NULL;
        if (edgellm_model_load(path, NULL, &m, err, sizeof err)) {
            fprintf(stderr, "skip %s: %s\n", files[i], err);
            continue;
        }
        n_loaded++;
        const char *name = strrchr(files[i], '/') + 1;
        for (size_t k = 0; k < sizeof kvs / sizeof kvs[0]; k++) {
            run_case(m, name, kvs[k], 4, 40, 60);   /* rings of 48 rows wrap on gemma3 */
            run_case(m, name, kvs[k], 1, 100, 120); /* only BOS kept, long move */
            run_case(m, name, kvs[k], 4, 8, 6);     /* the window reaches the kept rows */
        }
        /* refusals */
        struct edgellm_context *c = mkctx(m, EDGELLM_KV_F16);
        edgellm_token t[8] = {11, 12, 13, 14, 15, 16, 17, 18};
        decode_all(c, t, 8);
        CHECK(edgellm_context_seq_shift(c, 0, 4, 5) == EDGELLM_ERR_ARG && edgellm_context_seq_len(c, 0) == 8);
        CHECK(edgellm_context_seq_shift(c, 1, 0, 1) == EDGELLM_ERR_ARG);
        CHECK(edgellm_context_seq_shift(NULL, 0, 0, 1) == EDGELLM_ERR_ARG);
        CHECK(edgellm_context_seq_shift(c, 0, 8, 0) == EDGELLM_OK && edgellm_context_seq_len(c, 0) == 8);
        CHECK(edgellm_context_seq_shift(c, 0, 0, 8) == EDGELLM_OK && edgellm_context_seq_len(c, 0) == 0);
        edgellm_context_free(c);
        edgellm_model_free(m);
    }
    if (!n_loaded) {
        printf("no model: skipped\n");
        return 77;
    }
    return TEST_DONE();
}
