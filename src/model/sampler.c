/* Sampler: picks the next token from a row of logits. The chain is llama.cpp's default order:
 * penalties (repetition / presence / frequency over the last penalty_last_n accepted tokens),
 * top-k, top-p, min-p, temperature, softmax, then one draw from a per-sampler xoshiro256**.
 * Layout: `work` is a penalized copy of the logits [n_vocab]; `cand` holds (logit, id) pairs of the
 * surviving candidates — sorted only after top-k (a k-heap, not a full sort); top-p without top-k
 * buckets the logits instead of sorting 150k of them; `ring` is the penalty window with `counts`
 * [n_vocab] kept in step with it. All of it is allocated in _new: nothing per token. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "core/util.h"
#include "grammar/grammar.h"
#include "model/model.h"

struct sampler_cand {
    float logit;
    int32_t id;
};

#define SAMPLER_BUCKETS 1024
#define SAMPLER_GREEDY_TRY 64 /* greedy under a grammar: candidates checked before a full mask */

struct edgellm_sampler {
    struct edgellm_sampler_params p;
    int32_t n_vocab;
    float *work;                /* [n_vocab] logits after penalties */
    struct sampler_cand *cand;  /* [n_vocab] */
    float *prob;                /* [n_vocab] probabilities of cand, same order */
    int32_t *counts;            /* [n_vocab] occurrences of each token in the window */
    uint8_t *seen;              /* [n_vocab] scratch: penalty already applied this step */
    edgellm_token *ring;        /* [penalty_last_n] the window, oldest overwritten first */
    int32_t n_ring, ring_head;
    uint64_t rng[4];            /* xoshiro256** state */
    struct edgellm_logit_bias *bias; /* [n_bias] the params' logit_bias entries with valid token ids */
    int32_t n_bias;
    double bucket_mass[SAMPLER_BUCKETS]; /* top-p scratch: probability mass per logit bucket */
    struct gmatch *gm;          /* the grammar's matcher, or NULL */
    int32_t n_left;             /* token budget (< 0: none) */
};

/* The 1.0 layout (include/edgellm.h): a caller's struct_size must reach at least this far. */
#define SAMPLER_PARAMS_SIZE_1_0 UTIL_END_OF(struct edgellm_sampler_params, seed)
/* 1.1 appended logit_bias and n_logit_bias: sizeof may end in 4 bytes of padding on 64-bit targets,
 * so a field appended later starts 8-byte aligned (the padding bytes are never read). */

/* splitmix64 spreads any seed (even 0) over the 256-bit xoshiro state. */
static uint64_t sampler_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t sampler_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t sampler_next(uint64_t s[4]) {
    uint64_t r = sampler_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sampler_rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double sampler_uniform(uint64_t s[4]) { return (double)(sampler_next(s) >> 11) * 0x1.0p-53; }

static void sampler_seed(struct edgellm_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = sampler_splitmix64(&x);
}

static int sampler_has_penalties(const struct edgellm_sampler *s) {
    return s->ring && (s->p.repeat_penalty != 1.0f || s->p.presence_penalty != 0.0f || s->p.frequency_penalty != 0.0f);
}

edgellm_status edgellm_sampler_new(const struct edgellm_sampler_params *params, int32_t n_vocab,
                                   struct edgellm_sampler **out) {
    if (!out) return EDGELLM_ERR_ARG;
    *out = NULL;
    struct edgellm_sampler_params p = edgellm_sampler_default_params();
    if (n_vocab <= 0 || util_params_in(&p, sizeof p, params, SAMPLER_PARAMS_SIZE_1_0) != EDGELLM_OK || !UTIL_GROWN_OK(p))
        return EDGELLM_ERR_ARG;
    if (p.n_logit_bias < 0 || (p.n_logit_bias > 0 && !p.logit_bias)) return EDGELLM_ERR_ARG;
    struct edgellm_sampler *s = calloc(1, sizeof *s);
    if (!s) return EDGELLM_ERR_NOMEM;
    s->p = p;
    s->n_vocab = n_vocab;
    s->n_left = -1;
    size_t n = (size_t)n_vocab;
    s->work = malloc(n * sizeof *s->work);
    s->cand = malloc(n * sizeof *s->cand);
    s->prob = malloc(n * sizeof *s->prob);
    s->counts = calloc(n, sizeof *s->counts);
    s->seen = calloc(n, 1);
    int ok = s->work && s->cand && s->prob && s->counts && s->seen;
    if (ok && s->p.penalty_last_n > 0) ok = (s->ring = malloc((size_t)s->p.penalty_last_n * sizeof *s->ring)) != NULL;
    if (ok && s->p.n_logit_bias > 0 && s->p.logit_bias) {
        ok = (s->bias = malloc((size_t)s->p.n_logit_bias * sizeof *s->bias)) != NULL;
        for (int32_t i = 0; ok && i < s->p.n_logit_bias; i++)
            if (s->p.logit_bias[i].token >= 0 && s->p.logit_bias[i].token < n_vocab) s->bias[s->n_bias++] = s->p.logit_bias[i];
    }
    s->p.logit_bias = NULL; /* the caller's array need not outlive this call */
    if (!ok) { edgellm_sampler_free(s); return EDGELLM_ERR_NOMEM; }
    sampler_seed(s);
    *out = s;
    return EDGELLM_OK;
}

void edgellm_sampler_free(struct edgellm_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->cand);
    free(s->prob);
    free(s->counts);
    free(s->seen);
    free(s->ring);
    gmatch_free(s->gm);
    free(s->bias);
    free(s);
}

void edgellm_sampler_reset(struct edgellm_sampler *s) {
    if (!s) return;
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->n_ring = s->ring_head = 0;
    sampler_seed(s);
    gmatch_reset(s->gm);
}

edgellm_status edgellm_sampler_set_grammar(struct edgellm_sampler *s, const struct edgellm_model *model,
                                           const struct edgellm_grammar *g) {
    if (!s) return EDGELLM_ERR_ARG;
    if (!g) {
        gmatch_free(s->gm);
        s->gm = NULL;
        return EDGELLM_OK;
    }
    if (!model || edgellm_model_n_vocab(model) != s->n_vocab) return EDGELLM_ERR_ARG;
    struct gmatch *m;
    edgellm_status st = gmatch_new(g, model_vocab(model), &m, NULL, 0);
    if (st != EDGELLM_OK) return st;
    gmatch_free(s->gm);
    s->gm = m;
    return EDGELLM_OK;
}

void edgellm_sampler_set_budget(struct edgellm_sampler *s, int32_t n_left) {
    if (s) s->n_left = n_left < 0 ? -1 : n_left;
}

int edgellm_sampler_grammar_complete(const struct edgellm_sampler *s) { return s && s->gm && gmatch_complete(s->gm); }

edgellm_status edgellm_sampler_accept(struct edgellm_sampler *s, edgellm_token tok) {
    if (!s || tok < 0 || tok >= s->n_vocab) return EDGELLM_ERR_ARG;
    if (s->gm) {
        edgellm_status st = gmatch_accept(s->gm, tok);
        if (st != EDGELLM_OK) return st;
    }
    if (s->n_left > 0) s->n_left--;
    if (!s->ring) return EDGELLM_OK;
    int32_t cap = s->p.penalty_last_n;
    if (s->n_ring == cap) {
        s->counts[s->ring[s->ring_head]]--;
    } else {
        s->n_ring++;
    }
    s->ring[s->ring_head] = tok;
    s->ring_head = (s->ring_head + 1) % cap;
    s->counts[tok]++;
    return EDGELLM_OK;
}

/* As llama.cpp: the repetition penalty pushes a logit toward "less likely" whatever its sign;
 * presence and frequency subtract a constant and a per-occurrence amount. */
static void sampler_apply_penalties(struct edgellm_sampler *s) {
    for (int32_t i = 0; i < s->n_ring; i++) {
        edgellm_token t = s->ring[i];
        if (s->seen[t]) continue;
        s->seen[t] = 1;
        float v = s->work[t];
        v = v <= 0.0f ? v * s->p.repeat_penalty : v / s->p.repeat_penalty;
        v -= (float)s->counts[t] * s->p.frequency_penalty + s->p.presence_penalty;
        s->work[t] = v;
    }
    for (int32_t i = 0; i < s->n_ring; i++) s->seen[s->ring[i]] = 0;
}

/* Candidate order: higher logit first, lower id first among equals (deterministic ties). */
static int sampler_better(struct sampler_cand a, struct sampler_cand b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int sampler_cmp_desc(const void *pa, const void *pb) {
    const struct sampler_cand *a = pa, *b = pb;
    return sampler_better(*a, *b) ? -1 : sampler_better(*b, *a) ? 1 : 0;
}

/* Min-heap on "better" (the root is the worst of the k kept). */
static void sampler_sift_down(struct sampler_cand *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && sampler_better(h[m], h[l])) m = l;
        if (r < n && sampler_better(h[m], h[r])) m = r;
        if (m == i) return;
        struct sampler_cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* The k best of x[0..n) into cand[0..k), sorted best first: O(n log k), no full sort. */
static void sampler_top_k(struct sampler_cand *cand, const float *x, int32_t n, int32_t k) {
    for (int32_t i = 0; i < k; i++) cand[i] = (struct sampler_cand){x[i], i};
    for (int32_t i = k / 2 - 1; i >= 0; i--) sampler_sift_down(cand, k, i);
    for (int32_t i = k; i < n; i++) {
        struct sampler_cand c = {x[i], i};
        if (sampler_better(c, cand[0])) {
            cand[0] = c;
            sampler_sift_down(cand, k, 0);
        }
    }
    qsort(cand, (size_t)k, sizeof *cand, sampler_cmp_desc);
}

/* Smallest prefix of the candidates (in sorted order) whose probability — softmax at temperature
 * 1 over all of them — reaches top_p; returns its length and leaves those tokens in cand[0..n'),
 * not necessarily sorted. Unsorted input is not sorted: the logits are bucketed by distance
 * from the best (buckets are ordered like the logits), whole buckets are taken while the mass
 * stays below top_p, and only the bucket where it crosses is sorted. */
static int32_t sampler_top_p(struct edgellm_sampler *s, int32_t n, int sorted, float mx, float top_p) {
    struct sampler_cand *cand = s->cand;
    float *e = s->prob; /* e[i] = exp(logit_i - max), moved along with cand */
    double z = 0.0;
    for (int32_t i = 0; i < n; i++) z += e[i] = expf(cand[i].logit - mx);
    double target = (double)top_p * z, cum = 0.0;
    int32_t lo = 0, hi = n; /* the part still to sort and scan */
    if (!sorted) {
        float lowest = mx;
        for (int32_t i = 0; i < n; i++) lowest = cand[i].logit < lowest ? cand[i].logit : lowest;
        /* Past 40 nats below the best a token weighs < 1e-17 of it: one last bucket for them all. */
        float span = mx - lowest < 40.0f ? mx - lowest : 40.0f;
        if (span > 0.0f) {
            float scale = (float)SAMPLER_BUCKETS / span;
            memset(s->bucket_mass, 0, sizeof s->bucket_mass);
#define BUCKET(l) ((mx - (l)) * scale < (float)SAMPLER_BUCKETS ? (int32_t)((mx - (l)) * scale) : SAMPLER_BUCKETS - 1)
            for (int32_t i = 0; i < n; i++) s->bucket_mass[BUCKET(cand[i].logit)] += e[i];
            int32_t k = 0;
            while (k < SAMPLER_BUCKETS - 1 && cum + s->bucket_mass[k] < target) cum += s->bucket_mass[k++];
            /* buckets < k to the front (taken whole), then bucket k (to sort and scan) */
            hi = 0;
            for (int32_t pass = 0; pass < 2; pass++) {
                for (int32_t i = hi; i < n; i++) {
                    int32_t b = BUCKET(cand[i].logit);
                    if (pass == 0 ? b < k : b == k) {
                        struct sampler_cand t = cand[hi];
                        cand[hi] = cand[i];
                        cand[i] = t;
                        float te = e[hi];
                        e[hi++] = e[i];
                        e[i] = te;
                    }
                }
                if (pass == 0) lo = hi;
            }
#undef BUCKET
        }
        qsort(cand + lo, (size_t)(hi - lo), sizeof *cand, sampler_cmp_desc);
    }
    for (int32_t i = lo; i < hi; i++) {
        cum += expf(cand[i].logit - mx); /* e[] is stale here: the segment was sorted */
        if (cum >= target) return i + 1;
    }
    return hi; /* rounding kept cum just below the target: all of the crossing bucket */
}

static edgellm_token sampler_argmax(const float *x, int32_t n) {
    int32_t best = 0;
    float v = x[0];
    for (int32_t i = 1; i < n; i++)
        if (x[i] > v) v = x[best = i];
    return best;
}

/* The chain over x [n_vocab]; masked: x is s->work with -inf at the tokens the grammar forbids
 * (n_allowed of them are not), which are never candidates. */
static edgellm_token sampler_chain(struct edgellm_sampler *s, const float *x, int masked, int32_t n_allowed) {
    int32_t nv = s->n_vocab;
    if (!(s->p.temperature > 0.0f)) return sampler_argmax(x, nv);

    int32_t n = 0;
    int sorted = 0;
    int top_p = s->p.top_p < 1.0f, min_p = s->p.min_p > 0.0f;
    float mx;
    if (s->p.top_k > 0 && s->p.top_k < (masked ? n_allowed : nv)) {
        n = s->p.top_k;
        sampler_top_k(s->cand, x, nv, n);
        sorted = 1;
        mx = s->cand[0].logit;
    } else {
        mx = x[sampler_argmax(x, nv)];
        /* Without top-p, min-p can filter while the candidates are collected. */
        float thr = !top_p && min_p ? mx + logf(s->p.min_p) : -INFINITY;
        if (masked && thr == -INFINITY) thr = -FLT_MAX;
        for (int32_t i = 0; i < nv; i++)
            if (x[i] >= thr) s->cand[n++] = (struct sampler_cand){x[i], i};
        if (n == 0 && masked) { /* every allowed logit is NaN / -inf (a -inf bias): the first allowed token */
            int32_t n_ids = 0;
            const int32_t *ids = gmatch_mask_ids(s->gm, &n_ids);
            return n_ids > 0 ? ids[0] : -1;
        }
        if (n == 0) return sampler_argmax(x, nv); /* all NaN / -inf */
    }
    if (top_p && n > 1) n = sampler_top_p(s, n, sorted, mx, s->p.top_p > 0.0f ? s->p.top_p : 0.0f);
    if (min_p && n > 1) {
        /* p_i >= min_p * p_max  <=>  logit_i >= max + log(min_p); the best always survives. */
        float thr = mx + logf(s->p.min_p);
        int32_t m = 0;
        for (int32_t i = 0; i < n; i++)
            if (s->cand[i].logit >= thr) s->cand[m++] = s->cand[i];
        n = m;
    }
    float inv_t = 1.0f / s->p.temperature;
    double z = 0.0;
    for (int32_t i = 0; i < n; i++) {
        float p = expf((s->cand[i].logit - mx) * inv_t);
        s->prob[i] = p;
        z += p;
    }
    if (!(z > 0.0) || isinf(z)) return s->cand[0].id; /* NaN / inf logits: take the best */
    double u = sampler_uniform(s->rng) * z, cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        cum += s->prob[i];
        if (u < cum) return s->cand[i].id;
    }
    return s->cand[n - 1].id; /* u rounded up to z */
}

/* The tokens the grammar allows as -inf-masked logits in s->work; returns how many are allowed
 * (-1: out of memory). */
static int32_t sampler_mask(struct edgellm_sampler *s, const float *x) {
    const uint8_t *allow = gmatch_mask(s->gm, s->n_left);
    if (!allow) return -1;
    int32_t n = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        s->work[i] = allow[i] ? x[i] : -INFINITY;
        n += allow[i];
    }
    return n;
}

edgellm_token edgellm_sampler_sample(struct edgellm_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    int32_t nv = s->n_vocab;
    const float *x = logits;
    if (sampler_has_penalties(s) || s->n_bias) {
        /* logit bias, then penalties, then (below) the grammar's mask over the result */
        memcpy(s->work, logits, (size_t)nv * sizeof *s->work);
        for (int32_t i = 0; i < s->n_bias; i++) s->work[s->bias[i].token] += s->bias[i].bias;
        if (sampler_has_penalties(s)) sampler_apply_penalties(s);
        x = s->work;
    }
    if (!s->gm) return sampler_chain(s, x, 0, nv);
    int greedy = !(s->p.temperature > 0.0f);
    int plain_temp = !greedy && !(s->p.top_k > 0 && s->p.top_k < nv) && !(s->p.top_p < 1.0f) && !(s->p.min_p > 0.0f);
    if (greedy) {
        /* the best allowed token: the best of all when allowed, else the best of the allowed
         * list (lowest id among equals, as argmax over the masked logits) */
        edgellm_token t = sampler_argmax(x, nv);
        if (gmatch_check(s->gm, t, s->n_left)) return t;
        if (!gmatch_mask_cached(s->gm, s->n_left)) {
            /* no mask at hand (a walk over the vocabulary): the first allowed of the best
             * SAMPLER_GREEDY_TRY tokens, in the argmax order (best first, lower id among equals) */
            int32_t k = nv < SAMPLER_GREEDY_TRY ? nv : SAMPLER_GREEDY_TRY;
            sampler_top_k(s->cand, x, nv, k);
            for (int32_t i = 1; i < k; i++)
                if (gmatch_check(s->gm, s->cand[i].id, s->n_left)) return s->cand[i].id;
        }
        if (!gmatch_mask(s->gm, s->n_left)) return -1;
        int32_t n = 0;
        const int32_t *ids = gmatch_mask_ids(s->gm, &n);
        edgellm_token best = -1;
        for (int32_t i = 0; i < n; i++) {
            int32_t id = ids[i];
            if (best < 0 || x[id] > x[best] || (x[id] == x[best] && id < best)) best = id;
        }
        return best;
    } else if (plain_temp) {
        /* a draw from p, kept when allowed, else a draw from p restricted to the allowed set:
         * P(t) = p(t) + (1 - A) p(t) / A = p(t) / A, the masked distribution */
        edgellm_token t = sampler_chain(s, x, 0, nv);
        if (gmatch_check(s->gm, t, s->n_left)) return t;
    }
    int32_t n = sampler_mask(s, x);
    if (n < 0) return -1;
    if (n == 0) return -1; /* nothing allowed (the grammar is finished and the model has no end token) */
    return sampler_chain(s, s->work, 1, n);
}
