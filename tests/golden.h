/* Reading shared/refs/<model>.json + .logits.f32 and comparing logits against them, with the
 * bars shared/README.md defines. The JSON files are trusted test data with a fixed shape, so a
 * key scanner is enough here. */
#ifndef EDGELLM_GOLDEN_H
#define EDGELLM_GOLDEN_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"

struct golden_ref {
    char name[128];
    int32_t n_vocab, n_tokens, n_greedy, n_rows, first_row;
    edgellm_token *tokens, greedy[64];
    float greedy_gaps[64];
    float *logits;            /* [n_rows][n_vocab] */
    double kl_bar, max_rel_bar, top1_gap_bar;
};

struct golden_stats {
    double mean_kl, max_kl, max_rel;
    int top1_checked, top1_mismatch;
};

static char *golden_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[n] = 0; if (len) *len = (size_t)n; }
    return b;
}

/* Points after `"key":` or returns NULL. */
static const char *golden_key(const char *js, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(js, pat);
    if (!p) return NULL;
    p = strchr(p + strlen(pat), ':');
    return p ? p + 1 : NULL;
}

static double golden_num(const char *js, const char *key, double def) {
    const char *p = golden_key(js, key);
    return p ? strtod(p, NULL) : def;
}

/* Parses a JSON array of numbers at key into out (doubles), up to max; returns the count. */
static int golden_arr(const char *js, const char *key, double *out, int max) {
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

static void golden_ref_free(struct golden_ref *r) {
    free(r->tokens);
    free(r->logits);
    r->tokens = NULL;
    r->logits = NULL;
}

/* long_ref: read refs/long/<name>.long.json */
static int golden_ref_load(const char *shared, const char *name, int long_ref, struct golden_ref *r) {
    char path[1024];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(path, sizeof path, long_ref ? "%s/refs/long/%s.long.json" : "%s/refs/%s.json", shared, name);
    char *js = golden_slurp(path, NULL);
    if (!js) return -1;
    r->n_vocab = (int32_t)golden_num(js, "n_vocab", 0);
    double shape[2] = {0, 0};
    golden_arr(js, "logits_shape", shape, 2);
    r->n_rows = (int32_t)shape[0];
    if (!r->n_vocab) r->n_vocab = (int32_t)shape[1];
    r->first_row = (int32_t)golden_num(js, "logits_first_row", 0);
    r->kl_bar = golden_num(js, "kl_bar", 0);
    r->max_rel_bar = golden_num(js, "max_rel_bar", 0);
    r->top1_gap_bar = golden_num(js, "top1_gap_bar", 0);
    int n = golden_arr(js, "prompt_tokens", NULL, 0);
    double *tmp = n > 0 ? malloc(sizeof(double) * (size_t)n) : NULL;
    if (!tmp || golden_arr(js, "prompt_tokens", tmp, n) != n) { free(tmp); free(js); return -1; }
    r->n_tokens = n;
    r->tokens = malloc(sizeof(edgellm_token) * (size_t)n);
    for (int i = 0; i < n; i++) r->tokens[i] = (edgellm_token)tmp[i];
    free(tmp);
    double g[64];
    int ng = golden_arr(js, "greedy_tokens", g, 64);
    r->n_greedy = ng > 0 ? (ng < 64 ? ng : 64) : 0;
    for (int i = 0; i < r->n_greedy; i++) r->greedy[i] = (edgellm_token)g[i];
    golden_arr(js, "greedy_gaps", g, 64);
    for (int i = 0; i < r->n_greedy; i++) r->greedy_gaps[i] = (float)g[i];
    free(js);
    snprintf(path, sizeof path, long_ref ? "%s/refs/long/%s.long.logits.f32" : "%s/refs/%s.logits.f32", shared, name);
    size_t len = 0;
    r->logits = (float *)golden_slurp(path, &len);
    if (!r->logits || r->n_vocab <= 0 || len != sizeof(float) * (size_t)r->n_rows * (size_t)r->n_vocab) {
        golden_ref_free(r);
        return -1;
    }
    return 0;
}

/* Compares n_rows rows of ours against ref rows (both [n_rows][n_vocab]). */
static void golden_compare(const struct golden_ref *r, const float *ref, const float *ours, int n_rows, struct golden_stats *s) {
    memset(s, 0, sizeof *s);
    int nv = r->n_vocab;
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
        if (!(kl >= -1e-12)) kl = INFINITY;
        kl_sum += kl;
        if (kl > s->max_kl) s->max_kl = kl;
        double sd = sqrt(var / nv);
        double rel = sd > 0 ? maxd / sd : maxd;
        if (!(rel <= s->max_rel)) s->max_rel = rel;
        /* top-2 gap of the reference row */
        double second = -INFINITY;
        for (int v = 0; v < nv; v++)
            if (v != ta && a[v] > second) second = a[v];
        if (r->top1_gap_bar > 0 && ma - second >= r->top1_gap_bar) {
            s->top1_checked++;
            if (ta != tb) s->top1_mismatch++;
        }
    }
    s->mean_kl = n_rows ? kl_sum / n_rows : 0;
}

static int golden_holds(const struct golden_ref *r, const struct golden_stats *s) {
    if (!(s->mean_kl <= r->kl_bar)) return 0;
    if (r->max_rel_bar > 0 && !(s->max_rel <= r->max_rel_bar)) return 0;
    if (r->top1_gap_bar > 0 && s->top1_mismatch) return 0;
    return 1;
}
#endif
