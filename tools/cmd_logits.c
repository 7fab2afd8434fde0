/* edgellm logits -m MODEL.gguf --tokens "ID ID ..." -o OUT.f32 [-t N] [--last N] [--kv-type T] [-c N]
 * Evaluates the tokens as one batch from an empty cache and writes little-endian float32
 * [rows][n_vocab]: every position, or the last N. The context holds -c positions (default: the
 * token count); size-dependent choices (LongRoPE factors, sliding-window rings) follow it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: edgellm logits -m MODEL.gguf --tokens \"ID ID ...\" -o OUT.f32 [-t THREADS] [--last N] [--kv-type f16|f32|q8_0]\n"
               "                      [-c, --ctx-size N]\n\n"
               "Evaluates the tokens as one batch from an empty cache and writes float32 logits [rows][n_vocab]\n"
               "(all positions, or the last N with --last N). The context is created with N positions (default:\n"
               "the number of tokens; at least that many); LongRoPE factors and sliding-window rings follow it.\n");
}

/* Parses space/comma-separated ids; returns the count or -1 (message printed). */
static int parse_tokens(const char *s, edgellm_token **out) {
    int n = 0, cap = 64;
    edgellm_token *t = malloc(sizeof *t * (size_t)cap);
    while (t) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') s++;
        if (!*s) break;
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 0x7fffffffL || (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            cli_err("logits", "--tokens: '%.20s' is not a token id", s);
            free(t);
            return -1;
        }
        if (n == cap) {
            edgellm_token *nt = realloc(t, sizeof *t * (size_t)(cap *= 2));
            if (!nt) { free(t); t = NULL; break; }
            t = nt;
        }
        t[n++] = (edgellm_token)v;
        s = end;
    }
    if (!t) { cli_err("logits", "out of memory"); return -1; }
    *out = t;
    return n;
}

int cmd_logits(int argc, char **argv) {
    const char *path = NULL, *toks = NULL, *outp = NULL;
    int threads = 0;
    long last = 0, n_ctx = 0;
    edgellm_kv_type kv = EDGELLM_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) { usage(stdout); return CLI_OK; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(path = cli_value("logits", argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "--tokens")) { if (!(toks = cli_value("logits", argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "-o")) { if (!(outp = cli_value("logits", argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value("logits", argc, argv, &i)) || !cli_parse_threads("logits", v, &threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--last")) {
            if (!(v = cli_value("logits", argc, argv, &i)) || !cli_parse_int("logits", "--last", v, 1, 1L << 30, &last)) return CLI_USAGE;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = cli_value("logits", argc, argv, &i)) || !cli_parse_int("logits", "--ctx-size", v, 1, 1L << 24, &n_ctx)) return CLI_USAGE;
        } else if (!strcmp(a, "--kv-type")) {
            if (!(v = cli_value("logits", argc, argv, &i)) || !cli_parse_kv_type("logits", v, &kv)) return CLI_USAGE;
        } else { cli_err("logits", "unknown option '%s' (see edgellm logits --help)", a); return CLI_USAGE; }
    }
    if (!path || !toks || !outp) {
        cli_err("logits", "-m, --tokens and -o are required (see edgellm logits --help)");
        return CLI_USAGE;
    }
    edgellm_token *t = NULL;
    int n = parse_tokens(toks, &t);
    if (n < 0) return CLI_USAGE;
    if (n == 0) { cli_err("logits", "--tokens is empty"); free(t); return CLI_USAGE; }
    if (n_ctx && n_ctx < n) {
        cli_err("logits", "--ctx-size %ld is smaller than the %d tokens", n_ctx, n);
        free(t);
        return CLI_USAGE;
    }
    int rc = CLI_RUNTIME;
    struct edgellm_model *m = cli_load_model("logits", path, 0);
    struct edgellm_context *ctx = NULL;
    int8_t *want = NULL;
    FILE *f = NULL;
    if (!m) goto done;
    int32_t n_vocab = edgellm_model_n_vocab(m);
    for (int i = 0; i < n; i++)
        if (t[i] >= n_vocab) { cli_err("logits", "token id %d is out of range (the vocabulary has %d tokens)", t[i], n_vocab); goto done; }
    int rows = last && last < n ? (int)last : n;
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = n_ctx ? (uint32_t)n_ctx : (uint32_t)n;
    cp.n_batch = (uint32_t)n;
    cp.n_threads = threads;
    cp.kv_type = kv;
    cp.logits_all = 1;
    char err[512];
    if (edgellm_context_new(m, &cp, &ctx, err, sizeof err)) { cli_err("logits", "%s", err); goto done; }
    want = calloc((size_t)n, 1);
    if (!want) { cli_err("logits", "out of memory"); goto done; }
    for (int i = n - rows; i < n; i++) want[i] = 1;
    struct edgellm_batch b = {n, t, NULL, NULL, want};
    if (edgellm_context_decode(ctx, &b)) { cli_err("logits", "%s", edgellm_context_errmsg(ctx)); goto done; }
    if (!(f = fopen(outp, "wb"))) { cli_err("logits", "cannot write '%s'", outp); goto done; }
    for (int r = 0; r < rows; r++)
        if (fwrite(edgellm_context_logits(ctx, r), sizeof(float), (size_t)n_vocab, f) != (size_t)n_vocab) {
            cli_err("logits", "cannot write '%s'", outp);
            goto done;
        }
    if (fclose(f)) { f = NULL; cli_err("logits", "cannot write '%s'", outp); goto done; }
    f = NULL;
    rc = CLI_OK;
done:
    if (f) fclose(f);
    free(want);
    free(t);
    edgellm_context_free(ctx);
    edgellm_model_free(m);
    return rc;
}
