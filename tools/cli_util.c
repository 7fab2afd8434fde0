/* Helpers shared by the subcommands: strict argument parsing and one-line diagnostics. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_err(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "edgellm %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_is_help(const char *s) { return !strcmp(s, "-h") || !strcmp(s, "--help"); }

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_err(cmd, "option %s needs a value (see edgellm %s --help)", argv[*i], cmd);
        return NULL;
    }
    return argv[++*i];
}

int cli_parse_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno) {
        cli_err(cmd, "%s expects an integer, got '%s'", flag, s);
        return 0;
    }
    if (v < lo || v > hi) {
        cli_err(cmd, "%s must be between %ld and %ld, got %ld", flag, lo, hi, v);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_float(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || isnan(v)) {
        cli_err(cmd, "%s expects a number, got '%s'", flag, s);
        return 0;
    }
    if (v < lo || v > hi) {
        cli_err(cmd, "%s must be between %g and %g, got %g", flag, lo, hi, v);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_threads(const char *cmd, const char *s, int *out) {
    long v;
    if (!cli_parse_int(cmd, "-t", s, 1, 1024, &v)) return 0;
    *out = (int)v;
    return 1;
}

int cli_parse_kv_type(const char *cmd, const char *s, edgellm_kv_type *out) {
    if (!strcmp(s, "f16")) *out = EDGELLM_KV_F16;
    else if (!strcmp(s, "f32")) *out = EDGELLM_KV_F32;
    else if (!strcmp(s, "q8_0")) *out = EDGELLM_KV_Q8_0;
    else {
        cli_err(cmd, "--kv-type must be f16, f32 or q8_0, got '%s'", s);
        return 0;
    }
    return 1;
}

char *cli_read_file(const char *cmd, const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        cli_err(cmd, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || bad) {
        cli_err(cmd, bad ? "cannot read '%s'" : "out of memory reading '%s'", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

struct edgellm_model *cli_load_model(const char *cmd, const char *path, int vocab_only) {
    struct edgellm_model_params p = edgellm_model_default_params();
    struct edgellm_model *m = NULL;
    char err[512];
    p.vocab_only = vocab_only;
    if (edgellm_model_load(path, &p, &m, err, sizeof err) != EDGELLM_OK) {
        cli_err(cmd, "%s", err);
        return NULL;
    }
    return m;
}

int cli_emit_token(struct edgellm_detok *dt, struct edgellm_textstream *ts, edgellm_token tok, edgellm_text_fn fn,
                   void *user) {
    char small[1024], *buf = small;
    size_t size = sizeof small;
    int n;
    for (;;) {
        n = tok >= 0 ? edgellm_detok_push(dt, tok, buf, size) : edgellm_detok_flush(dt, buf, size);
        if (n < 0 || (size_t)n < size) break;
        if (buf != small) free(buf);
        size = (size_t)n + 1;
        if (!(buf = malloc(size))) return -EDGELLM_ERR_NOMEM;
    }
    int rc = n > 0 ? edgellm_textstream_push(ts, buf, (size_t)n, fn, user) : n;
    if (buf != small) free(buf);
    return rc;
}
