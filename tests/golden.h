/* Golden checks: one model file against one reference of the engine we compare with (a JSON file
 * + its float32 logits, the format of shared/refs, shared/refs/long and shared/zoo/refs), on a
 * chosen kernel path, KV cache type and set of passes, with the bars shared/README.md defines.
 *
 *   struct golden_opts o = golden_default_opts();      (batch + token by token + greedy, KV F16)
 *   o.kv_type = EDGELLM_KV_Q8_0; o.quant_bar = 1;       (e.g. a quantized KV cache on a float file)
 *   int rc = golden_check("models/M.gguf", "refs/M.json", &o);   0 held, 1 failed, 77 skipped
 *
 * Passes (o.modes): GOLDEN_BATCH evaluates the prompt as one batch, GOLDEN_TOKENS token by token
 * through the KV cache; both compare every reference row: mean KL(ref||ours) <= kl_bar, the worst
 * row's KL <= 10 x kl_bar, max |dlogit| / std of the row <= max_rel_bar (float files), top-1 equal
 * wherever the reference's top-2 gap >= top1_gap_bar (quantized files). GOLDEN_GREEDY continues
 * after the token-by-token pass for the reference's greedy steps, feeding the reference's token at
 * every step (teacher forcing), so that every step is compared: our top-1 must equal the
 * reference's wherever its gap is >= o.greedy_gap. A failure is recorded with CHECKF (testutil.h).
 * The JSON files are trusted test data of a fixed shape, so a key scanner is enough here. */
#ifndef EDGELLM_GOLDEN_H
#define EDGELLM_GOLDEN_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "kernels/kernels.h"
#include "testutil.h"

#define GOLDEN_SKIP 77 /* the exit code ctest counts as a skip (SKIP_RETURN_CODE) */
#define GOLDEN_MAX_GREEDY 64

struct golden_ref {
    char name[128];
    int32_t n_vocab, n_tokens, n_greedy, n_rows, first_row;
    edgellm_token *tokens, greedy[GOLDEN_MAX_GREEDY];
    float greedy_gaps[GOLDEN_MAX_GREEDY];
    float *logits; /* [n_rows][n_vocab]: positions first_row .. first_row + n_rows - 1 */
    double kl_bar, max_rel_bar, top1_gap_bar, peer_self_kl;
};

struct golden_stats {
    double mean_kl, max_kl, max_rel;
    int max_kl_row, top1_checked, top1_mismatch;
};

enum { GOLDEN_BATCH = 1, GOLDEN_TOKENS = 2, GOLDEN_GREEDY = 4, GOLDEN_ALL = 7 };

struct golden_opts {
    unsigned modes;   /* GOLDEN_BATCH | GOLDEN_TOKENS | GOLDEN_GREEDY (greedy needs GOLDEN_TOKENS) */
    int kv_type;      /* EDGELLM_KV_F16 / F32 / Q8_0 */
    int quant_bar;    /* hold the quantized-file bars (e.g. a Q8_0 KV cache on a float file) */
    double greedy_gap; /* greedy top-1 must match where the reference's gap >= this (0: top1_gap_bar, else 0.05) */
    int n_threads;    /* 0: 2 */
    const char *isa;  /* NULL: the selected path (EDGELLM_ISA); else forced, 77 if this CPU lacks it */
};

static inline struct golden_opts golden_default_opts(void) {
    struct golden_opts o = { GOLDEN_ALL, EDGELLM_KV_F16, 0, 0, 2, NULL };
    return o;
}

static inline const char *golden_kv_name(int kv) {
    return kv == EDGELLM_KV_F32 ? "f32" : kv == EDGELLM_KV_Q8_0 ? "q8_0" : "f16";
}

/* Points after `"key":` or returns NULL. */
static inline const char *golden_key(const char *js, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(js, pat);
    if (!p) return NULL;
    p = strchr(p + strlen(pat), ':');
    return p ? p + 1 : NULL;
}

static inline double golden_num(const char *js, const char *key, double def) {
    const char *p = golden_key(js, key);
    return p ? strtod(p, NULL) : def;
}

/* Copies the JSON string at key (no escapes expected) into out; 0 if absent. */
static inline int golden_str(const char *js, const char *key, char *out, size_t size) {
    const char *p = golden_key(js, key);
    if (!p || !(p = strchr(p, '"'))) return 0;
    const char *e = strchr(++p, '"');
    if (!e || (size_t)(e - p) >= size) return 0;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
    return 1;
}

/* Parses a JSON array of numbers at key into out (doubles), up to max; returns the count. */
static inline int golden_arr(const char *js, const char *key, double *out, int max) {
    const char *p = golden_key(js, key);
    if (!p) return -1;
    while (*p && *p != '[') p++;
    if (!*p) return -1;
    p++;
    int n = 0;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ',') p++;
        if (*p == ']' || !*p) break;
        char *end;
        double v = strtod(p, &end);
        if (end == p) return -1;
        if (n < max) out[n] = v;
        n++;
        p = end;
    }
    return n;
}

static inline void golden_ref_free(struct golden_ref *r) {
    free(r->tokens);
    free(r->logits);
    r->tokens = NULL;
    r->logits = NULL;
}

/* Reads a reference: json_path and its logits file ("logits_file", next to it). 0 on success. */
static inline int golden_ref_load_path(const char *json_path, struct golden_ref *r) {
    memset(r, 0, sizeof *r);
    const char *base = strrchr(json_path, '/');
    base = base ? base + 1 : json_path;
    snprintf(r->name, sizeof r->name, "%.100s", base);
    char *dot = strstr(r->name, ".json");
    if (dot) *dot = 0;
    char *js = tu_read_file(json_path, NULL);
    if (!js) return -1;
    r->n_vocab = (int32_t)golden_num(js, "n_vocab", 0);
    double shape[2] = { 0, 0 };
    golden_arr(js, "logits_shape", shape, 2);
    r->n_rows = (int32_t)shape[0];
    if (!r->n_vocab) r->n_vocab = (int32_t)shape[1];
    r->first_row = (int32_t)golden_num(js, "logits_first_row", 0);
    r->kl_bar = golden_num(js, "kl_bar", 0);
    r->max_rel_bar = golden_num(js, "max_rel_bar", 0);
    r->top1_gap_bar = golden_num(js, "top1_gap_bar", 0);
    r->peer_self_kl = golden_num(js, "peer_self_kl", 0);
    int n = golden_arr(js, "prompt_tokens", NULL, 0);
    double *tmp = n > 0 ? malloc(sizeof(double) * (size_t)n) : NULL;
    r->tokens = n > 0 ? malloc(sizeof(edgellm_token) * (size_t)n) : NULL;
    if (!tmp || !r->tokens || golden_arr(js, "prompt_tokens", tmp, n) != n) {
        free(tmp);
        free(js);
        golden_ref_free(r);
        return -1;
    }
    r->n_tokens = n;
    for (int i = 0; i < n; i++) r->tokens[i] = (edgellm_token)tmp[i];
    free(tmp);
    double g[GOLDEN_MAX_GREEDY];
    int ng = golden_arr(js, "greedy_tokens", g, GOLDEN_MAX_GREEDY);
    r->n_greedy = ng > 0 ? (ng < GOLDEN_MAX_GREEDY ? ng : GOLDEN_MAX_GREEDY) : 0;
    for (int i = 0; i < r->n_greedy; i++) r->greedy[i] = (edgellm_token)g[i];
    if (r->n_greedy && golden_arr(js, "greedy_gaps", g, GOLDEN_MAX_GREEDY) < r->n_greedy) r->n_greedy = 0;
    for (int i = 0; i < r->n_greedy; i++) r->greedy_gaps[i] = (float)g[i];
    char lf[256], path[1200];
    if (!golden_str(js, "logits_file", lf, sizeof lf)) snprintf(lf, sizeof lf, "%s.logits.f32", r->name);
    free(js);
    snprintf(path, sizeof path, "%.*s%s", (int)(base - json_path), json_path, lf);
    size_t len = 0;
    r->logits = (float *)tu_read_file(path, &len);
    if (!r->logits || r->n_vocab <= 0 || r->n_rows <= 0 || r->first_row < 0 ||
        r->first_row + r->n_rows > r->n_tokens || len != sizeof(float) * (size_t)r->n_rows * (size_t)r->n_vocab) {
        golden_ref_free(r);
        return -1;
    }
    return 0;
}

/* shared/refs/<name>.json, or with long_ref shared/refs/long/<name>.long.json. */
static inline int golden_ref_load(const char *shared, const char *name, int long_ref, struct golden_ref *r) {
    char path[2200];
    snprintf(path, sizeof path, long_ref ? "%s/refs/long/%s.long.json" : "%s/refs/%s.json", shared, name);
    return golden_ref_load_path(path, r);
}

/* The bars of a quantized file (shared/README.md): mean KL max(3e-3, 3 x peer_self_kl), no
 * max-rel bar, top-1 agreement where the gap is >= 0.5 (never looser than the file's own). */
static inline void golden_use_quant_bars(struct golden_ref *r) {
    double kl = 3 * r->peer_self_kl > 3e-3 ? 3 * r->peer_self_kl : 3e-3;
    if (kl > r->kl_bar) r->kl_bar = kl;
    r->max_rel_bar = 0;
    if (!(r->top1_gap_bar > 0)) r->top1_gap_bar = 0.5;
}

/* Compares n_rows rows of ours against ref rows (both [n_rows][n_vocab]). */
static inline void golden_compare(const struct golden_ref *r, const float *ref, const float *ours, int n_rows,
                                  struct golden_stats *s) {
    memset(s, 0, sizeof *s);
    const int nv = r->n_vocab;
    double kl_sum = 0;
    for (int row = 0; row < n_rows; row++) {
        const float *a = ref + (size_t)row * nv, *b = ours + (size_t)row * nv;
        double ma = -INFINITY, mb = -INFINITY, mean = 0, var = 0, maxd = 0;
        int ta = 0, tb = 0;
        for (int v = 0; v < nv; v++) {
            if (a[v] > ma) { ma = a[v]; ta = v; }
            if (b[v] > mb) { mb = b[v]; tb = v; }
            mean += a[v];
        }
        mean /= nv;
        double za = 0, zb = 0;
        for (int v = 0; v < nv; v++) {
            za += exp(a[v] - ma);
            zb += exp(b[v] - mb);
            var += (a[v] - mean) * (a[v] - mean);
            double d = fabs((double)a[v] - b[v]);
            if (!(d <= maxd)) maxd = d; /* NaN counts as worst */
        }
        double lza = log(za), lzb = log(zb), kl = 0;
        for (int v = 0; v < nv; v++) {
            double la = a[v] - ma - lza, lb = b[v] - mb - lzb;
            kl += exp(la) * (la - lb);
        }
        if (!(kl >= -1e-12)) kl = INFINITY; /* NaN logits: the worst KL */
        kl_sum += kl;
        if (!(kl <= s->max_kl)) { s->max_kl = kl; s->max_kl_row = row; }
        double sd = sqrt(var / nv);
        double rel = sd > 0 ? maxd / sd : maxd;
        if (!(rel <= s->max_rel)) s->max_rel = rel;
        double second = -INFINITY; /* top-2 gap of the reference row */
        for (int v = 0; v < nv; v++)
            if (v != ta && a[v] > second) second = a[v];
        if (r->top1_gap_bar > 0 && ma - second >= r->top1_gap_bar) {
            s->top1_checked++;
            if (ta != tb) s->top1_mismatch++;
        }
    }
    s->mean_kl = n_rows ? kl_sum / n_rows : 0;
}

/* The mean KL, the worst row's KL (<= 10 x kl_bar), max-rel and top-1 bars. */
static inline int golden_holds(const struct golden_ref *r, const struct golden_stats *s) {
    if (!(s->mean_kl <= r->kl_bar)) return 0;
    if (!(s->max_kl <= 10 * r->kl_bar)) return 0;
    if (r->max_rel_bar > 0 && !(s->max_rel <= r->max_rel_bar)) return 0;
    if (r->top1_gap_bar > 0 && s->top1_mismatch) return 0;
    return 1;
}

static inline void golden_check_rows(const char *what, const struct golden_ref *r, const float *ours) {
    struct golden_stats s;
    golden_compare(r, r->logits, ours, r->n_rows, &s);
    printf("  %-24s mean KL %.3g (bar %.3g)  max KL %.3g at pos %d (cap %.3g)  max rel %.3g%s  top1 %d/%d\n", what,
           s.mean_kl, r->kl_bar, s.max_kl, r->first_row + s.max_kl_row, 10 * r->kl_bar, s.max_rel,
           r->max_rel_bar > 0 ? "" : " (n/a)", s.top1_checked - s.top1_mismatch, s.top1_checked);
    CHECKF(golden_holds(r, &s),
           "%s %s: mean KL %.3g (bar %.3g), max KL %.3g at position %d (cap %.3g), max rel %.3g (bar %.3g), top-1 "
           "mismatches %d",
           r->name, what, s.mean_kl, r->kl_bar, s.max_kl, r->first_row + s.max_kl_row, 10 * r->kl_bar, s.max_rel,
           r->max_rel_bar, s.top1_mismatch);
}

static inline edgellm_token golden_argmax(const float *lg, int nv) {
    edgellm_token best = 0;
    for (int v = 1; v < nv; v++)
        if (lg[v] > lg[best] || lg[best] != lg[best]) best = v;
    return best;
}

/* The greedy continuation with teacher forcing: after the prompt (already in ctx, lg = the
 * logits of its last position) each step feeds the reference's token, so all steps are compared. */
static inline void golden_greedy(const struct golden_ref *r, struct edgellm_context *ctx, const float *lg, double gap,
                                 const char *what) {
    int checked = 0, agree = 0;
    for (int step = 0; step < r->n_greedy; step++) {
        const edgellm_token best = golden_argmax(lg, r->n_vocab);
        if (r->greedy_gaps[step] >= gap) {
            checked++;
            if (best == r->greedy[step]) agree++;
            else
                CHECKF(0, "%s %s greedy step %d (reference gap %.3g): got %d, reference %d", r->name, what, step,
                       r->greedy_gaps[step], best, r->greedy[step]);
        }
        struct edgellm_batch one = { 1, &r->greedy[step], NULL, NULL, NULL };
        if (edgellm_context_decode(ctx, &one)) {
            CHECKF(0, "%s greedy decode: %s", r->name, edgellm_context_errmsg(ctx));
            return;
        }
        lg = edgellm_context_logits(ctx, 0);
    }
    printf("  %-24s greedy %d/%d steps equal (%d steps fed; top-1 checked where the gap >= %.3g)\n", what, agree,
           checked, r->n_greedy, gap);
}

/* Checks one model file against one reference (see the top of this file). Returns 0 when every
 * check held, 1 when one failed (recorded with CHECKF), GOLDEN_SKIP when o->isa is not on this CPU. */
static inline int golden_check(const char *model_path, const char *ref_json, const struct golden_opts *opts) {
    const struct golden_opts o = opts ? *opts : golden_default_opts();
    const int fails0 = tu_fail;
    if (o.isa && !kern_force(o.isa)) {
        printf("SKIP: this CPU has no %s path (%s)\n", o.isa, model_path);
        return GOLDEN_SKIP;
    }
    struct golden_ref r;
    if (golden_ref_load_path(ref_json, &r)) {
        CHECKF(0, "cannot read the reference %s (or its logits)", ref_json);
        return 1;
    }
    if (o.quant_bar) golden_use_quant_bars(&r);
    struct edgellm_model *m = NULL;
    char err[512];
    int st = edgellm_model_load(model_path, NULL, &m, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "load %s: %s", model_path, err);
    if (st) { golden_ref_free(&r); return 1; }
    CHECKF(edgellm_model_n_vocab(m) == r.n_vocab, "%s: n_vocab %d, reference %d", r.name, edgellm_model_n_vocab(m),
           r.n_vocab);
    const int n = r.n_tokens, nv = r.n_vocab;
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = (uint32_t)(n + r.n_greedy + 8);
    cp.n_batch = (uint32_t)n;
    cp.logits_all = 1;
    cp.n_threads = o.n_threads > 0 ? o.n_threads : 2;
    cp.kv_type = (edgellm_kv_type)o.kv_type;
    struct edgellm_context *ctx = NULL;
    st = edgellm_context_new(m, &cp, &ctx, err, sizeof err);
    CHECKF(st == EDGELLM_OK, "context for %s: %s", r.name, err);
    float *ours = malloc(sizeof(float) * (size_t)r.n_rows * (size_t)nv);
    int8_t *want = calloc((size_t)n, 1);
    if (st || !ours || !want) goto done;
    printf("%s (%d tokens, rows %d..%d) on %s, KV %s%s\n", r.name, n, r.first_row, r.first_row + r.n_rows - 1,
           edgellm_isa(), golden_kv_name(o.kv_type), o.quant_bar ? ", quantized-file bars" : "");
    char what[64];
    if (o.modes & GOLDEN_BATCH) {
        for (int i = r.first_row; i < r.first_row + r.n_rows; i++) want[i] = 1;
        struct edgellm_batch b = { n, r.tokens, NULL, NULL, want };
        st = edgellm_context_decode(ctx, &b);
        CHECKF(st == EDGELLM_OK, "%s batch decode: %s", r.name, edgellm_context_errmsg(ctx));
        for (int i = 0; i < r.n_rows && !st; i++) {
            const float *lg = edgellm_context_logits(ctx, i);
            CHECKF(lg != NULL, "%s: no logits for row %d", r.name, i);
            if (!lg) { st = 1; break; }
            memcpy(ours + (size_t)i * nv, lg, sizeof(float) * (size_t)nv);
        }
        snprintf(what, sizeof what, "batch, KV %s", golden_kv_name(o.kv_type));
        if (!st) golden_check_rows(what, &r, ours);
        edgellm_context_seq_truncate(ctx, 0, 0);
    }
    if ((o.modes & GOLDEN_TOKENS) && !st) {
        for (int i = 0; i < n && !st; i++) {
            struct edgellm_batch one = { 1, r.tokens + i, NULL, NULL, NULL };
            st = edgellm_context_decode(ctx, &one);
            if (!st && i >= r.first_row)
                memcpy(ours + (size_t)(i - r.first_row) * nv, edgellm_context_logits(ctx, 0), sizeof(float) * (size_t)nv);
        }
        CHECKF(st == EDGELLM_OK, "%s token-by-token decode: %s", r.name, edgellm_context_errmsg(ctx));
        snprintf(what, sizeof what, "token by token, KV %s", golden_kv_name(o.kv_type));
        if (!st) golden_check_rows(what, &r, ours);
        if (!st && (o.modes & GOLDEN_GREEDY) && r.n_greedy && r.first_row + r.n_rows == n) {
            const double gap = o.greedy_gap > 0 ? o.greedy_gap : r.top1_gap_bar > 0 ? r.top1_gap_bar : 0.05;
            snprintf(what, sizeof what, "KV %s", golden_kv_name(o.kv_type));
            golden_greedy(&r, ctx, ours + (size_t)(r.n_rows - 1) * nv, gap, what);
        }
    }
done:
    free(ours);
    free(want);
    edgellm_context_free(ctx);
    edgellm_model_free(m);
    golden_ref_free(&r);
    return tu_fail > fails0 ? 1 : 0;
}

/* The EDGELLM_ISA gate of a golden test program, before any kernel runs: 0 to go on; GOLDEN_SKIP
 * (printed) when the CPU lacks the requested path; 1 (printed) when the value names no ISA —
 * then the library must refuse it too (kern_isa_error), never fall back silently. */
static inline int golden_isa_gate(void) {
    const char *env = getenv("EDGELLM_ISA");
    if (!env || !env[0]) return 0;
    if (strcmp(env, "scalar") && strcmp(env, "avx2") && strcmp(env, "avx512") && strcmp(env, "neon")) {
        printf("FAIL: EDGELLM_ISA=%s is not one of scalar|avx2|avx512|neon (library: %s)\n", env,
               kern_isa_error() ? kern_isa_error() : "accepted it silently");
        return 1;
    }
    if (strcmp(edgellm_isa(), env)) {
        printf("SKIP: EDGELLM_ISA=%s: this CPU has no %s path (the library would run %s)\n", env, env, edgellm_isa());
        return GOLDEN_SKIP;
    }
    printf("isa: %s (EDGELLM_ISA)\n", edgellm_isa());
    return 0;
}
#endif
