/* edgellm perplexity -m MODEL.gguf -f TEXT [-c 512] [--kl-base-out FILE | --kl-base FILE] [--json]
 * Perplexity as llama-perplexity computes it: chunks of -c tokens (cli_chunks.c), each scored
 * on its second half (the logits at positions c/2 .. c-2 predict the next token), PPL =
 * exp(mean NLL) ± PPL·sqrt(var(NLL)/(N-1)).
 *
 * KL-divergence mode. --kl-base-out stores the base model's log-probabilities at every scored
 * position; --kl-base then compares another model (a quantization of it) against them with
 * llama-perplexity's statistics and error formulas. The base file (little-endian):
 *   char magic[8] "EDGLKLD\0", u32 version (1), u32 n_ctx, u32 n_vocab, u32 n_chunks,
 *   u32 first (= n_ctx/2), u32 n_scored (= n_ctx - 1 - first), u32 bos (-1: none), u32 0,
 *   i32 tokens[n_chunks * n_ctx] (the text's tokens, unmodified),
 *   then per chunk and scored position one row: f32 scale, f32 min_lp, u16 q[n_vocab], u16 pad
 *   when n_vocab is odd; log p(i) = scale*q[i] + min_lp. As in llama-perplexity's own file,
 *   a row spans the 16 nats below its largest logit (smaller values clamp to q = 0) in 65535
 *   steps, a quarter of the size of float32 rows at a resolution of 2.4e-4 nats.
 * The reader checks the magic, the version, every size against the file's length and the
 * vocabulary against the model's. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "perplexity"
#define KLD_MAGIC "EDGLKLD"
#define KLD_VERSION 1u
#define KLD_HEADER_WORDS 8

static void usage(FILE *f) {
    fprintf(f, "usage: edgellm perplexity -m MODEL.gguf -f TEXT [-c 512] [-t N] [--kv-type f16|f32|q8_0] [--json]\n"
               "                          [--kl-base-out FILE | --kl-base FILE]\n\n"
               "Perplexity over non-overlapping chunks of -c tokens, each scored on its second half, as\n"
               "llama-perplexity does (BOS at the start of every chunk when the model adds one). The text must\n"
               "hold at least two chunks.\n\n"
               "  --kl-base-out FILE  also save this (base) model's log-probabilities at every scored position\n"
               "  --kl-base FILE      compare this model against a saved base: KL divergence, same top token,\n"
               "                      probability change, perplexity ratio (the text and -c come from FILE;\n"
               "                      -f, if given, must tokenize to the same tokens)\n"
               "  --json              print one JSON line at the end: ppl, ppl_err, n_chunks, n_tokens (scored\n"
               "                      tokens), n_ctx; with --kl-base also kld_mean, kld_mean_err, kld_median,\n"
               "                      kld_p99, kld_max, same_top_pct, same_top_err, rms_dp_pct, rms_dp_err,\n"
               "                      ppl_base, ppl_ratio, ppl_ratio_err, ln_ppl_ratio, ln_ppl_ratio_err\n");
}

/* ---- per-position arithmetic (float/double exactly where llama-perplexity uses them) ---- */

static float row_max(const float *l, int32_t n, int32_t *imax) {
    float mx = l[0];
    int32_t im = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > mx) { mx = l[i]; im = i; }
    if (imax) *imax = im;
    return mx;
}

static double row_sum_exp(const float *l, int32_t n, float mx) {
    double s = 0.0;
    for (int32_t i = 0; i < n; i++) s += expf(l[i] - mx);
    return s;
}

/* Encodes a row of logits as the base file stores it (into out: 2 floats then n u16) and
 * returns the NLL of tok. */
static double encode_row(const float *l, int32_t n, edgellm_token tok, uint16_t *out) {
    float mx = row_max(l, n, NULL), mn = l[0];
    for (int32_t i = 1; i < n; i++) mn = l[i] < mn ? l[i] : mn;
    if (mn < mx - 16) mn = mx - 16;
    float lse = (float)log(row_sum_exp(l, n, mx));
    float hdr[2] = {(mx - mn) / 65535.f, mn - mx - lse};
    memcpy(out, hdr, sizeof hdr);
    uint16_t *q = out + 4;
    if (hdr[0] != 0.0f) {
        float inv = 1 / hdr[0];
        for (int32_t i = 0; i < n; i++) q[i] = l[i] > mn ? (uint16_t)lrintf(inv * (l[i] - mn)) : 0;
    } else {
        memset(q, 0, sizeof *q * (size_t)n);
    }
    return (double)(mx + lse - l[tok]);
}

struct kld_acc {
    double sum_nll, sum_nll2, sum_nll_base, sum_nll_base2, sum_nll_nll_base, sum_kld, sum_kld2;
    double sum_p_diff, sum_p_diff2, sum_p_diff4;
    size_t n_same_top, count;
};

/* Compares one row of logits with a base row; returns the position's KL(base || model) and
 * stores p_model(tok) - p_base(tok) in *p_diff. */
static double kld_row(const float *l, int32_t n, const uint16_t *base, edgellm_token tok, struct kld_acc *a, float *p_diff) {
    int32_t imax;
    float mx = row_max(l, n, &imax);
    float lse = (float)log(row_sum_exp(l, n, mx));
    float hdr[2];
    memcpy(hdr, base, sizeof hdr);
    const uint16_t *q = base + 4;
    float nll = mx + lse - l[tok];
    float nll_base = -(hdr[0] * q[tok] + hdr[1]);
    a->sum_nll += nll;
    a->sum_nll2 += nll * nll;
    a->sum_nll_base += nll_base;
    a->sum_nll_base2 += nll_base * nll_base;
    a->sum_nll_nll_base += nll * nll_base;
    float norm = mx + lse;
    double kl = 0.0;
    int32_t imax_base = 0;
    float lp_base_max = 0.0f;
    for (int32_t i = 0; i < n; i++) {
        float lpb = hdr[0] * q[i] + hdr[1];
        if (i == 0 || lpb > lp_base_max) { lp_base_max = lpb; imax_base = i; }
        if (lpb > -16.f) kl += expf(lpb) * (lpb - l[i] + norm);
    }
    a->sum_kld += kl;
    a->sum_kld2 += kl * kl;
    a->count++;
    a->n_same_top += imax == imax_base;
    float pd = expf(-nll) - expf(-nll_base);
    double pd2 = (double)pd * pd;
    a->sum_p_diff += pd;
    a->sum_p_diff2 += pd2;
    a->sum_p_diff4 += pd2 * pd2;
    *p_diff = pd;
    return kl;
}

/* mean and its standard error, as llama-perplexity's mean_and_uncertainty */
static void mean_err(double sum, double sum2, size_t n, double *mean, double *err) {
    *mean = n ? sum / (double)n : 0.0;
    double v = n ? sum2 / (double)n - *mean * *mean : 0.0;
    *err = v > 0 && n > 10 ? sqrt(v / (double)(n - 1)) : 0.0;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* linear interpolation between sorted values, as llama-perplexity's percentile */
static double percentile(const float *v, size_t n, float fraction) {
    float p = fraction * (float)(n - 1);
    size_t ip = (size_t)p;
    p -= (float)ip;
    return (1 - p) * v[ip] + p * v[ip + 1 < n ? ip + 1 : n - 1];
}

/* ---- the base file ---- */

struct kld_file {
    FILE *f;
    uint32_t n_ctx, n_vocab, n_chunks, first, n_scored;
    int32_t bos;
    size_t row_words; /* u16 per row */
};

static size_t kld_row_words(uint32_t n_vocab) { return 4 + (size_t)n_vocab + (n_vocab & 1); }

static int kld_write_header(struct kld_file *k, const struct cli_chunks *ch, int32_t n_vocab) {
    uint32_t h[KLD_HEADER_WORDS] = {KLD_VERSION, (uint32_t)ch->n_ctx, (uint32_t)n_vocab, (uint32_t)ch->n_chunks,
                                    (uint32_t)(ch->n_ctx / 2), (uint32_t)(ch->n_ctx - 1 - ch->n_ctx / 2), (uint32_t)ch->bos, 0};
    size_t nt = (size_t)ch->n_chunks * (size_t)ch->n_ctx;
    return fwrite(KLD_MAGIC, 1, 8, k->f) == 8 && fwrite(h, sizeof h, 1, k->f) == 1 &&
           fwrite(ch->tok, sizeof *ch->tok, nt, k->f) == nt;
}

/* Opens and checks a base file; fills ch with its tokens. Returns CLI_OK or CLI_RUNTIME (printed). */
static int kld_open(const char *path, int32_t n_vocab, struct kld_file *k, struct cli_chunks *ch) {
    memset(ch, 0, sizeof *ch);
    if (!(k->f = fopen(path, "rb"))) {
        cli_err(CMD, "cannot open '%s': %s", path, strerror(errno));
        return CLI_RUNTIME;
    }
    char magic[8];
    uint32_t h[KLD_HEADER_WORDS];
    if (fread(magic, 1, 8, k->f) != 8 || memcmp(magic, KLD_MAGIC, 8) || fread(h, sizeof h, 1, k->f) != 1) {
        cli_err(CMD, "'%s' is not an edgellm KL-divergence base file (made with --kl-base-out)", path);
        return CLI_RUNTIME;
    }
    if (h[0] != KLD_VERSION) {
        cli_err(CMD, "'%s' has version %u; this edgellm reads version %u", path, h[0], KLD_VERSION);
        return CLI_RUNTIME;
    }
    k->n_ctx = h[1], k->n_vocab = h[2], k->n_chunks = h[3], k->first = h[4], k->n_scored = h[5], k->bos = (int32_t)h[6];
    if (k->n_ctx < 4 || k->n_ctx > (1u << 20) || k->n_chunks < 2 || k->n_chunks > (1u << 24) || k->first != k->n_ctx / 2 ||
        k->n_scored != k->n_ctx - 1 - k->first || k->n_vocab == 0 || k->n_vocab > (1u << 24) || h[7] != 0 ||
        (k->bos < -1 || k->bos >= (int32_t)k->n_vocab)) {
        cli_err(CMD, "'%s': inconsistent header (n_ctx %u, n_vocab %u, n_chunks %u)", path, k->n_ctx, k->n_vocab, k->n_chunks);
        return CLI_RUNTIME;
    }
    if ((int32_t)k->n_vocab != n_vocab) {
        cli_err(CMD, "'%s' was made with a vocabulary of %u tokens; this model has %d", path, k->n_vocab, n_vocab);
        return CLI_RUNTIME;
    }
    k->row_words = kld_row_words(k->n_vocab);
    size_t nt = (size_t)k->n_chunks * k->n_ctx;
    uint64_t want = 8 + sizeof h + nt * 4 + (uint64_t)k->n_chunks * k->n_scored * k->row_words * 2;
    if (fseek(k->f, 0, SEEK_END) || (uint64_t)ftell(k->f) != want || fseek(k->f, 8 + (long)sizeof h, SEEK_SET)) {
        cli_err(CMD, "'%s' is truncated or has trailing bytes (expected %llu bytes)", path, (unsigned long long)want);
        return CLI_RUNTIME;
    }
    ch->tok = malloc(sizeof *ch->tok * nt);
    if (!ch->tok) { cli_err(CMD, "out of memory"); return CLI_RUNTIME; }
    if (fread(ch->tok, sizeof *ch->tok, nt, k->f) != nt) {
        cli_err(CMD, "cannot read the tokens of '%s'", path);
        return CLI_RUNTIME;
    }
    for (size_t i = 0; i < nt; i++)
        if (ch->tok[i] < 0 || ch->tok[i] >= n_vocab) {
            cli_err(CMD, "'%s': token %zu has id %d, out of the vocabulary", path, i, ch->tok[i]);
            return CLI_RUNTIME;
        }
    ch->n_tok = (int32_t)nt;
    ch->n_ctx = (int32_t)k->n_ctx;
    ch->n_chunks = (int32_t)k->n_chunks;
    ch->bos = k->bos;
    return CLI_OK;
}

/* ---- the command ---- */

struct opts {
    const char *model, *text, *base_out, *base_in;
    long n_ctx;
    int ctx_given, threads, json;
    edgellm_kv_type kv;
};

static int parse(int argc, char **argv, struct opts *o) {
    memset(o, 0, sizeof *o);
    o->n_ctx = 512;
    o->kv = EDGELLM_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) { usage(stdout); return -1; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(o->model = cli_value(CMD, argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { if (!(o->text = cli_value(CMD, argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "--kl-base-out")) { if (!(o->base_out = cli_value(CMD, argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "--kl-base")) { if (!(o->base_in = cli_value(CMD, argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_int(CMD, "-c", v, 4, 1L << 20, &o->n_ctx)) return CLI_USAGE;
            o->ctx_given = 1;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_threads(CMD, v, &o->threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--kv-type")) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_kv_type(CMD, v, &o->kv)) return CLI_USAGE;
        } else if (!strcmp(a, "--json")) o->json = 1;
        else { cli_err(CMD, "unknown option '%s' (see edgellm perplexity --help)", a); return CLI_USAGE; }
    }
    if (!o->model) { cli_err(CMD, "-m is required (see edgellm perplexity --help)"); return CLI_USAGE; }
    if (o->base_out && o->base_in) { cli_err(CMD, "--kl-base-out and --kl-base exclude each other"); return CLI_USAGE; }
    if (!o->text && !o->base_in) { cli_err(CMD, "-f is required (see edgellm perplexity --help)"); return CLI_USAGE; }
    if ((o->base_out && !*o->base_out) || (o->base_in && !*o->base_in)) { cli_err(CMD, "empty file name"); return CLI_USAGE; }
    return CLI_OK;
}

static void print_kl_report(const struct opts *o, const struct kld_acc *a, float *kld, float *pdiff, int32_t n_chunks) {
    size_t n = a->count;
    qsort(kld, n, sizeof *kld, cmp_float);
    qsort(pdiff, n, sizeof *pdiff, cmp_float);
    double lp, lp_err, lb, lb_err, kl, kl_err, mse, mse_err;
    mean_err(a->sum_nll, a->sum_nll2, n, &lp, &lp_err);
    mean_err(a->sum_nll_base, a->sum_nll_base2, n, &lb, &lb_err);
    mean_err(a->sum_kld, a->sum_kld2, n, &kl, &kl_err);
    mean_err(a->sum_p_diff2, a->sum_p_diff4, n, &mse, &mse_err);
    double cov = n >= 10 ? (a->sum_nll_nll_base / (double)n - (a->sum_nll / (double)n) * (a->sum_nll_base / (double)n)) / (double)(n - 1) : 0.0;
    double ppl = exp(lp), ppl_err = ppl * lp_err, ppl_base = exp(lb), ppl_base_err = ppl_base * lb_err;
    double ln_ratio = lp - lb, ln_ratio_err = sqrt(lp_err * lp_err + lb_err * lb_err - 2.0 * cov);
    double ratio = exp(ln_ratio), ratio_err = ratio * ln_ratio_err;
    double median = n % 2 == 0 ? 0.5f * (kld[n / 2] + kld[n / 2 - 1]) : kld[n / 2];
    double rms = sqrt(mse), rms_err = rms > 0 ? 0.5 / rms * mse_err : 0.0;
    double top = (double)a->n_same_top / (double)n, top_err = n > 1 ? sqrt(top * (1 - top) / (double)(n - 1)) : 0.0;
    double dp_mean, dp_mean_err;
    mean_err(a->sum_p_diff, a->sum_p_diff2, n, &dp_mean, &dp_mean_err);
    if (o->json) {
        printf("{\"ppl\":%.6f,\"ppl_err\":%.6f,\"n_chunks\":%d,\"n_tokens\":%zu,\"n_ctx\":%ld,\"ppl_base\":%.6f,"
               "\"kld_mean\":%.6g,\"kld_mean_err\":%.6g,\"kld_median\":%.6g,\"kld_p99\":%.6g,\"kld_max\":%.6g,"
               "\"same_top_pct\":%.4f,\"same_top_err\":%.4f,\"rms_dp_pct\":%.5f,\"rms_dp_err\":%.5f,"
               "\"ppl_ratio\":%.6f,\"ppl_ratio_err\":%.6f,\"ln_ppl_ratio\":%.6f,\"ln_ppl_ratio_err\":%.6f}\n",
               ppl, ppl_err, n_chunks, n, o->n_ctx, ppl_base, kl, kl_err, median, percentile(kld, n, 0.99f), (double)kld[n - 1],
               100 * top, 100 * top_err, 100 * rms, 100 * rms_err, ratio, ratio_err, ln_ratio, ln_ratio_err);
        return;
    }
    printf("====== Perplexity statistics (%d chunks of %ld, %zu scored tokens) ======\n", n_chunks, o->n_ctx, n);
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", ppl, ppl_err);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", ppl_base, ppl_base_err);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", lp_err * lb_err > 0 ? 100.0 * cov / (lp_err * lb_err) : 0.0);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", ln_ratio, ln_ratio_err);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", ratio, ratio_err);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", ppl - ppl_base,
           sqrt(ppl_err * ppl_err + ppl_base_err * ppl_base_err - 2.0 * ppl * ppl_base * cov));
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", kl, kl_err);
    printf("Maximum KLD: %10.6f\n", (double)kld[n - 1]);
    static const float fr[] = {0.999f, 0.99f, 0.95f, 0.90f};
    for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) printf("%4.1f%%   KLD: %10.6f\n", 100.0 * fr[i], percentile(kld, n, fr[i]));
    printf("Median  KLD: %10.6f\n", median);
    static const float lo[] = {0.10f, 0.05f, 0.01f, 0.001f};
    for (size_t i = 0; i < sizeof lo / sizeof lo[0]; i++) printf("%4.1f%%   KLD: %10.6f\n", 100.0 * lo[i], percentile(kld, n, lo[i]));
    printf("Minimum KLD: %10.6f\n", (double)kld[0]);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * dp_mean, 100.0 * dp_mean_err);
    printf("Maximum Δp: %6.3f%%\n", 100.0 * pdiff[n - 1]);
    printf("Median  Δp: %6.3f%%\n", 100.0 * (n % 2 == 0 ? 0.5f * (pdiff[n / 2] + pdiff[n / 2 - 1]) : pdiff[n / 2]));
    printf("Minimum Δp: %6.3f%%\n", 100.0 * pdiff[0]);
    printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * rms, 100.0 * rms_err);
    printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * top, 100.0 * top_err);
}

int cmd_perplexity(int argc, char **argv) {
    struct opts o;
    int prc = parse(argc, argv, &o);
    if (prc) return prc < 0 ? CLI_OK : prc;
    int rc = CLI_RUNTIME;
    struct cli_chunks ch = {0}, chf = {0};
    struct kld_file k = {0};
    struct edgellm_context *ctx = NULL;
    edgellm_token *buf = NULL;
    int8_t *want = NULL;
    uint16_t *rows = NULL;
    float *kld = NULL, *pdiff = NULL;
    char err[512], *tmp_out = NULL;
    struct edgellm_model *m = cli_load_model(CMD, o.model, 0);
    if (!m) goto done;
    int32_t n_vocab = edgellm_model_n_vocab(m);
    if (o.base_in) {
        if (kld_open(o.base_in, n_vocab, &k, &ch)) goto done;
        if (o.ctx_given && o.n_ctx != ch.n_ctx) {
            cli_err(CMD, "-c %ld differs from the %d of '%s'", o.n_ctx, ch.n_ctx, o.base_in);
            goto done;
        }
        o.n_ctx = ch.n_ctx;
        struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT; /* BOS as this model adds it, as llama-perplexity does */
        edgellm_model_describe(m, &d);
        ch.bos = d.add_bos ? d.bos : -1;
        if (o.text) { /* the text, if given, must be the one the base was computed on */
            if (cli_chunks_tokenize(CMD, m, o.text, ch.n_ctx, &chf)) goto done;
            if (chf.n_chunks != ch.n_chunks || memcmp(chf.tok, ch.tok, sizeof *ch.tok * (size_t)ch.n_tok)) {
                cli_err(CMD, "'%s' does not tokenize to the tokens '%s' was made with", o.text, o.base_in);
                goto done;
            }
        }
    } else if (cli_chunks_tokenize(CMD, m, o.text, (int32_t)o.n_ctx, &ch)) {
        goto done;
    }
    int32_t n = ch.n_ctx, first = n / 2, n_scored = n - 1 - first;
    size_t row_words = kld_row_words((uint32_t)n_vocab);
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = cp.n_batch = (uint32_t)n;
    cp.n_threads = o.threads;
    cp.kv_type = o.kv;
    cp.logits_all = 1;
    if (edgellm_context_new(m, &cp, &ctx, err, sizeof err)) { cli_err(CMD, "%s", err); goto done; }
    buf = malloc(sizeof *buf * (size_t)n);
    want = malloc((size_t)n);
    if (o.base_in || o.base_out) rows = malloc(sizeof *rows * row_words * (size_t)n_scored);
    if (o.base_in) {
        kld = malloc(sizeof *kld * (size_t)n_scored * (size_t)ch.n_chunks);
        pdiff = malloc(sizeof *pdiff * (size_t)n_scored * (size_t)ch.n_chunks);
    }
    if (!buf || !want || ((o.base_in || o.base_out) && !rows) || (o.base_in && (!kld || !pdiff))) {
        cli_err(CMD, "out of memory");
        goto done;
    }
    if (o.base_out) { /* written under a temporary name, renamed when complete */
        size_t len = strlen(o.base_out);
        if (!(tmp_out = malloc(len + 5))) { cli_err(CMD, "out of memory"); goto done; }
        memcpy(tmp_out, o.base_out, len);
        memcpy(tmp_out + len, ".tmp", 5);
        if (!(k.f = fopen(tmp_out, "wb")) || !kld_write_header(&k, &ch, n_vocab)) {
            cli_err(CMD, "cannot write '%s': %s", tmp_out, strerror(errno));
            goto done;
        }
    }
    fprintf(stderr, "edgellm perplexity: %d tokens, %d chunks of %d, %d scored per chunk\n", ch.n_tok, ch.n_chunks, n, n_scored);
    double nll = 0.0, nll2 = 0.0;
    size_t count = 0;
    struct kld_acc acc = {0};
    for (int32_t c = 0; c < ch.n_chunks; c++) {
        if (cli_chunk_decode(CMD, ctx, &ch, c, first, buf, want)) goto done;
        const edgellm_token *t = ch.tok + (size_t)c * (size_t)n + first;
        if (o.base_in && fread(rows, sizeof *rows * row_words, (size_t)n_scored, k.f) != (size_t)n_scored) {
            cli_err(CMD, "cannot read chunk %d of '%s'", c + 1, o.base_in);
            goto done;
        }
        for (int32_t r = 0; r < n_scored; r++) {
            const float *l = edgellm_context_logits(ctx, r);
            if (o.base_in) {
                size_t i = acc.count;
                kld[i] = (float)kld_row(l, n_vocab, rows + (size_t)r * row_words, t[r + 1], &acc, &pdiff[i]);
                continue;
            }
            double v;
            if (o.base_out) {
                v = encode_row(l, n_vocab, t[r + 1], rows + (size_t)r * row_words);
                if (n_vocab & 1) rows[(size_t)r * row_words + row_words - 1] = 0;
            } else {
                v = cli_token_nll(l, n_vocab, t[r + 1]);
            }
            nll += v;
            nll2 += v * v;
            count++;
        }
        if (o.base_out && fwrite(rows, sizeof *rows * row_words, (size_t)n_scored, k.f) != (size_t)n_scored) {
            cli_err(CMD, "cannot write '%s': %s", o.base_out, strerror(errno));
            goto done;
        }
        double run = o.base_in ? exp(acc.sum_nll / (double)acc.count) : exp(nll / (double)count);
        fprintf(stderr, "[%d]%.4f%s", c + 1, run, c + 1 < ch.n_chunks ? "," : "\n");
    }
    if (o.base_out) {
        int bad = fclose(k.f) != 0;
        k.f = NULL;
        if (bad || rename(tmp_out, o.base_out)) { cli_err(CMD, "cannot write '%s'", o.base_out); goto done; }
    }
    if (o.base_in) {
        print_kl_report(&o, &acc, kld, pdiff, ch.n_chunks);
    } else {
        double mean = nll / (double)count, var = nll2 / (double)count - mean * mean, ppl = exp(mean);
        double ppl_err = var > 0 ? sqrt(var / (double)(count - 1)) * ppl : 0.0;
        if (o.json)
            printf("{\"ppl\":%.6f,\"ppl_err\":%.6f,\"n_chunks\":%d,\"n_tokens\":%zu,\"n_ctx\":%d}\n", ppl, ppl_err, ch.n_chunks, count, n);
        else
            printf("Final estimate: PPL = %.4f +/- %.5f (%d chunks of %d, %zu scored tokens)\n", ppl, ppl_err, ch.n_chunks, n, count);
    }
    rc = CLI_OK;
done:
    if (k.f) fclose(k.f);
    if (tmp_out && rc != CLI_OK) remove(tmp_out); /* never leave a half-written base */
    free(tmp_out);
    free(buf);
    free(want);
    free(rows);
    free(kld);
    free(pdiff);
    edgellm_context_free(ctx);
    cli_chunks_free(&ch);
    cli_chunks_free(&chf);
    edgellm_model_free(m);
    return rc;
}
