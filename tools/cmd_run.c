/* `edgellm run`: generates a continuation of a prompt and streams it to stdout.
 * Also holds what `chat` shares with it (the run_* functions, declared in cmd_run.h): the
 * sampling / context options, decoding a token list in batches, and the generation loop
 * (sampler -> detokenizer -> text stream -> caller's callback, one token at a time). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_run.h"

static const char *const usage_text =
    "usage: edgellm run -m MODEL.gguf -p TEXT [options]\n"
    "\n"
    "Streams the generated continuation of TEXT to stdout.\n"
    "  -m, --model FILE         GGUF model\n"
    "  -p, --prompt TEXT        the prompt\n"
    "  --chat                   wrap the prompt with the model's chat template (as a user message)\n"
    "  --system TEXT            system message (with --chat)\n"
    "  --no-think               render the template with enable_thinking=false (with --chat)\n"
    "  --stop S                 stop when the output contains S (not printed); repeatable\n"
    "  --parse-special          turn control-token texts in the prompt into their ids\n"
    "  --ignore-eos             go on after end-of-generation tokens\n"
    "  --grammar-file F.gbnf    constrain the output to a GBNF grammar (root rule \"root\")\n"
    "  --json-schema F.json     constrain the output to JSON valid against a JSON schema\n"
        "  --verbose                print timings and the prompt's token ids on stderr\n"
    RUN_OPTIONS_HELP;

/* ------------------------------------------------------------------------- */
/* Shared with cmd_chat.c                                                      */

void run_opts_init(struct run_opts *o) {
    memset(o, 0, sizeof *o);
    o->sp = edgellm_sampler_default_params();
    o->n_predict = 256;
    o->kv = EDGELLM_KV_F16;
    o->keep = -1;
}

static int run_parse_u64(const char *cmd, const char *flag, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-') {
        cli_err(cmd, "%s expects a non-negative integer, got '%s'", flag, s);
        return 0;
    }
    *out = (uint64_t)v;
    return 1;
}

int run_opts_parse(const char *cmd, struct run_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    double d;
    long l;
#define VALUE() do { if (!(v = cli_value(cmd, argc, argv, i))) return -1; } while (0)
    if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
        VALUE();
        if (!cli_parse_int(cmd, a, v, 0, 1L << 30, &l)) return -1;
        o->n_predict = l;
        o->n_predict_given = 1;
    } else if (!strcmp(a, "--keep")) {
        VALUE();
        if (!cli_parse_int(cmd, a, v, 0, 1L << 24, &l)) return -1;
        o->keep = l;
    } else if (!strcmp(a, "--no-context-shift")) {
        o->no_shift = 1;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        VALUE();
        if (!cli_parse_threads(cmd, v, &o->n_threads)) return -1;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
        VALUE();
        if (!cli_parse_int(cmd, a, v, 1, 1L << 24, &l)) return -1;
        o->n_ctx = (uint32_t)l;
    } else if (!strcmp(a, "--kv-type")) {
        VALUE();
        if (!cli_parse_kv_type(cmd, v, &o->kv)) return -1;
    } else if (!strcmp(a, "--temp") || !strcmp(a, "--temperature")) {
        VALUE();
        if (!cli_parse_float(cmd, a, v, 0, 100, &d)) return -1;
        o->sp.temperature = (float)d;
    } else if (!strcmp(a, "--top-k")) {
        VALUE();
        if (!cli_parse_int(cmd, a, v, 0, 1L << 30, &l)) return -1;
        o->sp.top_k = (int32_t)l;
    } else if (!strcmp(a, "--top-p")) {
        VALUE();
        if (!cli_parse_float(cmd, a, v, 0, 1, &d)) return -1;
        o->sp.top_p = (float)d;
    } else if (!strcmp(a, "--min-p")) {
        VALUE();
        if (!cli_parse_float(cmd, a, v, 0, 1, &d)) return -1;
        o->sp.min_p = (float)d;
    } else if (!strcmp(a, "--repeat-penalty")) {
        VALUE();
        if (!cli_parse_float(cmd, a, v, 0, 100, &d)) return -1;
        if (d <= 0) {
            cli_err(cmd, "--repeat-penalty must be greater than 0 (1 = off), got %g", d);
            return -1;
        }
        o->sp.repeat_penalty = (float)d;
    } else if (!strcmp(a, "--repeat-last-n")) {
        VALUE();
        if (!cli_parse_int(cmd, a, v, 0, 1L << 20, &l)) return -1;
        o->sp.penalty_last_n = (int32_t)l;
    } else if (!strcmp(a, "--presence-penalty")) {
        VALUE();
        if (!cli_parse_float(cmd, a, v, -100, 100, &d)) return -1;
        o->sp.presence_penalty = (float)d;
    } else if (!strcmp(a, "--frequency-penalty")) {
        VALUE();
        if (!cli_parse_float(cmd, a, v, -100, 100, &d)) return -1;
        o->sp.frequency_penalty = (float)d;
    } else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) {
        VALUE();
        if (!run_parse_u64(cmd, "--seed", v, &o->sp.seed)) return -1;
        o->seed_given = 1;
    } else {
        return 0;
    }
#undef VALUE
    return 1;
}

void run_opts_finish(struct run_opts *o) {
    if (o->seed_given) return;
    /* No seed given: a different run each time. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    o->sp.seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

struct edgellm_context *run_context_new(const char *cmd, struct edgellm_model *m, const struct run_opts *o) {
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_threads = o->n_threads;
    cp.kv_type = o->kv;
    struct edgellm_context *ctx = NULL;
    char err[512];
    if (edgellm_context_new(m, &cp, &ctx, err, sizeof err) != EDGELLM_OK) {
        cli_err(cmd, "cannot create the context: %s", err);
        return NULL;
    }
    return ctx;
}

edgellm_token *run_tokenize(const char *cmd, const struct edgellm_model *m, const char *text, int add_bos,
                            int parse_special, int32_t *n_out) {
    size_t len = strlen(text);
    char err[512];
    int32_t n = 0;
    edgellm_status st = edgellm_tokenize(m, text, len, add_bos, parse_special, NULL, 0, &n, err, sizeof err);
    if (st != EDGELLM_OK && st != EDGELLM_ERR_BUFFER_TOO_SMALL) {
        cli_err(cmd, "cannot tokenize the prompt: %s", err);
        return NULL;
    }
    edgellm_token *t = malloc(((size_t)n + 1) * sizeof *t);
    if (!t) {
        cli_err(cmd, "out of memory");
        return NULL;
    }
    if ((st = edgellm_tokenize(m, text, len, add_bos, parse_special, t, n, n_out, err, sizeof err)) != EDGELLM_OK) {
        cli_err(cmd, "cannot tokenize the prompt: %s", err);
        free(t);
        return NULL;
    }
    return t;
}

edgellm_status run_decode(struct edgellm_context *ctx, const edgellm_token *toks, int32_t n) {
    int32_t nb = (int32_t)edgellm_context_n_batch(ctx);
    if (nb <= 0) nb = 512;
    for (int32_t i = 0; i < n; i += nb) {
        struct edgellm_batch b = {n - i < nb ? n - i : nb, toks + i, NULL, NULL, NULL};
        edgellm_status st = edgellm_context_decode(ctx, &b);
        if (st != EDGELLM_OK) return st;
    }
    return EDGELLM_OK;
}

double run_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum run_end run_generate(struct run_gen *g) {
    struct edgellm_context *ctx = g->ctx;
    uint32_t n_ctx = edgellm_context_n_ctx(ctx);
    enum run_end end = RUN_END_LIMIT;
    double t0 = run_now();
    g->n_generated = 0;
    for (long i = 0; i < g->n_predict; i++) {
        if (g->interrupted && *g->interrupted) { end = RUN_END_ABORTED; break; }
        const float *logits = edgellm_context_logits(ctx, 0);
        if (!logits) { g->status = EDGELLM_ERR_ARG; end = RUN_END_ERROR; break; }
        edgellm_token tok = edgellm_sampler_sample(g->sampler, logits);
        edgellm_status ast = tok < 0 ? EDGELLM_ERR_NOMEM : edgellm_sampler_accept(g->sampler, tok);
        if (ast != EDGELLM_OK) { g->status = ast; end = RUN_END_ERROR; break; }
        if (!g->ignore_eos && edgellm_token_is_eog(g->model, tok)) { end = RUN_END_EOG; break; }
        g->n_generated++;
        int rc = cli_emit_token(g->detok, g->ts, tok, g->fn, g->user);
        if (rc < 0) { g->status = (edgellm_status)-rc; end = RUN_END_ERROR; break; }
        if (rc > 0) { end = RUN_END_STOP; break; }
        if (i + 1 == g->n_predict) break; /* the last token needs no forward pass */
        if (edgellm_context_seq_len(ctx, 0) >= n_ctx) {
            uint32_t d = g->shift ? cli_shift_now(ctx, 0, g->shift, g->cache_toks, &g->n_cache) : 0;
            if (!d) { end = RUN_END_CTX_FULL; break; }
            g->n_shifted += d;
        }
        struct edgellm_batch b = {1, &tok, NULL, NULL, NULL};
        edgellm_status st = edgellm_context_decode(ctx, &b);
        if (st == EDGELLM_ERR_ABORTED) { end = RUN_END_ABORTED; break; }
        if (st == EDGELLM_ERR_CONTEXT_FULL) { end = RUN_END_CTX_FULL; break; }
        if (st != EDGELLM_OK) { g->status = st; end = RUN_END_ERROR; break; }
        if (g->cache_toks && g->n_cache < g->cap_cache) g->cache_toks[g->n_cache++] = tok;
    }
    if (end != RUN_END_STOP) {
        int rc = cli_emit_token(g->detok, g->ts, -1, g->fn, g->user);
        if (rc < 0 && end != RUN_END_ERROR) { g->status = (edgellm_status)-rc; end = RUN_END_ERROR; }
    }
    edgellm_textstream_flush(g->ts, g->fn, g->user);
    g->t_gen = run_now() - t0;
    return end;
}

/* Appends s as a JSON string literal (quotes included) to the growing buffer. */
static int run_json_string(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t need = *len + strlen(s) * 6 + 3;
    if (need > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < need) c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb) return 0;
        *buf = nb;
        *cap = c;
    }
    char *p = *buf + *len;
    *p++ = '"';
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        switch (*q) {
        case '"': *p++ = '\\'; *p++ = '"'; break;
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '\n': *p++ = '\\'; *p++ = 'n'; break;
        case '\r': *p++ = '\\'; *p++ = 'r'; break;
        case '\t': *p++ = '\\'; *p++ = 't'; break;
        default:
            if (*q < 0x20) p += sprintf(p, "\\u%04x", *q);
            else *p++ = (char)*q;
        }
    }
    *p++ = '"';
    *p = 0;
    *len = (size_t)(p - *buf);
    return 1;
}

static int run_json_raw(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb) return 0;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return 1;
}

char *run_messages_json(const char *const *roles, const char *const *contents, int n) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int ok = run_json_raw(&buf, &len, &cap, "[");
    for (int i = 0; ok && i < n; i++) {
        ok = run_json_raw(&buf, &len, &cap, i ? ", {\"role\": " : "{\"role\": ") &&
             run_json_string(&buf, &len, &cap, roles[i]) && run_json_raw(&buf, &len, &cap, ", \"content\": ") &&
             run_json_string(&buf, &len, &cap, contents[i]) && run_json_raw(&buf, &len, &cap, "}");
    }
    ok = ok && run_json_raw(&buf, &len, &cap, "]");
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

int run_chat_tokenize(const char *cmd, const struct edgellm_model *m, const char *const *roles,
                      const char *const *contents, int n, int enable_thinking, int *warned,
                      struct edgellm_chat_prompt *out) {
    char *json = run_messages_json(roles, contents, n);
    if (!json) {
        cli_err(cmd, "out of memory");
        return -1;
    }
    char err[512] = "";
    struct edgellm_chat_params cp = edgellm_chat_default_params();
    cp.enable_thinking = enable_thinking;
    out->struct_size = (uint32_t)sizeof *out;
    edgellm_status st = edgellm_chat_tokenize(m, json, &cp, out, err, sizeof err);
    free(json);
    if (st != EDGELLM_OK) {
        cli_err(cmd, "cannot prepare the chat prompt: %s", err[0] ? err : edgellm_status_str(st));
        return -1;
    }
    if (out->used_fallback && !(warned && *warned))
        fprintf(stderr, "edgellm %s: warning: %s\n", cmd,
                err[0] ? err : "the model's chat template cannot be used; using a ChatML prompt");
    if (out->used_fallback && warned) *warned = 1;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* The run command                                                              */

static void run_print(void *user, edgellm_text_kind kind, const char *text, size_t len) {
    (void)user;
    (void)kind; /* run prints the raw continuation: reasoning, tags and content alike */
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

/* Compiles --grammar-file / --json-schema; NULL with a message (line and column) on failure. */
static struct edgellm_grammar *run_load_grammar(const char *cmd, const char *path, int is_schema) {
    size_t len = 0;
    char *text = cli_read_file(cmd, path, &len);
    if (!text) return NULL;
    struct edgellm_grammar *g = NULL;
    char err[512] = "";
    edgellm_status st = strlen(text) != len ? EDGELLM_ERR_FORMAT
                        : is_schema ? edgellm_grammar_from_json_schema(text, &g, err, sizeof err)
                                    : edgellm_grammar_from_gbnf(text, NULL, &g, err, sizeof err);
    free(text);
    if (st != EDGELLM_OK) {
        cli_err(cmd, "%s: %s", path, err[0] ? err : "contains a NUL byte");
        return NULL;
    }
    return g;
}

int cmd_run(int argc, char **argv) {
    const char *cmd = "run", *model_path = NULL, *prompt = NULL, *system = NULL;
    const char *grammar_file = NULL, *schema_file = NULL;
    int chat = 0, no_think = 0, parse_special = 0, ignore_eos = 0, verbose = 0, n_stops = 0;
    struct run_opts o;
    run_opts_init(&o);
    const char **stops = calloc((size_t)argc + 1, sizeof *stops);
    if (!stops) { cli_err(cmd, "out of memory"); return CLI_RUNTIME; }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = run_opts_parse(cmd, &o, argc, argv, &i);
        if (r < 0) { free(stops); return CLI_USAGE; }
        if (r > 0) continue;
        if (cli_is_help(a)) { fputs(usage_text, stdout); free(stops); return CLI_OK; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model_path = cli_value(cmd, argc, argv, &i))) { free(stops); return CLI_USAGE; }
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(prompt = cli_value(cmd, argc, argv, &i))) { free(stops); return CLI_USAGE; }
        } else if (!strcmp(a, "--system")) {
            if (!(system = cli_value(cmd, argc, argv, &i))) { free(stops); return CLI_USAGE; }
        } else if (!strcmp(a, "--stop")) {
            if (!(stops[n_stops++] = cli_value(cmd, argc, argv, &i))) { free(stops); return CLI_USAGE; }
        } else if (!strcmp(a, "--grammar-file")) {
            if (!(grammar_file = cli_value(cmd, argc, argv, &i))) { free(stops); return CLI_USAGE; }
        } else if (!strcmp(a, "--json-schema")) {
            if (!(schema_file = cli_value(cmd, argc, argv, &i))) { free(stops); return CLI_USAGE; }
        } else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "--no-think")) no_think = 1;
        else if (!strcmp(a, "--parse-special")) parse_special = 1;
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = 1;
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) verbose = 1;
        else {
            cli_err(cmd, "unknown option '%s' (try --help)", a);
            free(stops);
            return CLI_USAGE;
        }
    }
    if (!model_path || !prompt) {
        cli_err(cmd, "%s is required (try --help)", !model_path ? "-m MODEL.gguf" : "-p TEXT");
        free(stops);
        return CLI_USAGE;
    }
    if (system && !chat) {
        cli_err(cmd, "--system needs --chat (the system message goes into the chat template)");
        free(stops);
        return CLI_USAGE;
    }
    if (grammar_file && schema_file) {
        cli_err(cmd, "--grammar-file and --json-schema exclude each other");
        free(stops);
        return CLI_USAGE;
    }
    struct edgellm_grammar *grammar = NULL;
    if ((grammar_file || schema_file) && !(grammar = run_load_grammar(cmd, grammar_file ? grammar_file : schema_file, !grammar_file))) {
        free(stops);
        return CLI_USAGE;
    }
    run_opts_finish(&o);

    int rc = CLI_RUNTIME;
    struct edgellm_model *m = NULL;
    struct edgellm_context *ctx = NULL;
    struct edgellm_sampler *smp = NULL;
    struct edgellm_detok *dt = NULL;
    struct edgellm_textstream *ts = NULL;
    struct edgellm_chat_prompt cprompt = EDGELLM_CHAT_PROMPT_INIT;
    edgellm_token *toks = NULL, *ptoks = NULL;
    int32_t n_toks = 0;

    if (!(m = cli_load_model(cmd, model_path, 0))) goto done;
    if (chat) {
        const char *roles[2] = {"system", "user"}, *contents[2] = {system, prompt};
        int first = system ? 0 : 1;
        if (run_chat_tokenize(cmd, m, roles + first, contents + first, 2 - first, !no_think, NULL, &cprompt)) goto done;
        ptoks = cprompt.tokens;
        n_toks = cprompt.n_tokens;
    } else {
        if (!(toks = run_tokenize(cmd, m, prompt, -1, parse_special, &n_toks))) goto done;
        ptoks = toks;
    }
    if (n_toks == 0) { cli_err(cmd, "the prompt is empty (no tokens)"); goto done; }
    if (!(ctx = run_context_new(cmd, m, &o))) goto done;
    uint32_t n_ctx = edgellm_context_n_ctx(ctx);
    struct cli_shift shift = {o.keep < 0 ? 0 : (uint32_t)o.keep, 0};
    int32_t n_full = n_toks;
    if (!o.no_shift && (uint32_t)n_toks >= n_ctx) {
        int32_t n_cut = cli_shift_prompt(&shift, n_ctx, ptoks, n_toks, ptoks);
        if (n_cut > 0) n_toks = n_cut;
    }
    if ((uint32_t)n_toks > n_ctx) {
        uint32_t n_train = run_model_ctx(m);
        if (n_ctx < n_train)
            cli_err(cmd, "the prompt is %d tokens long but the context holds only %u (-c enlarges it, up to the "
                    "model's %u)", n_toks, n_ctx, n_train);
        else
            cli_err(cmd, "the prompt is %d tokens long but the context holds only %u (the model was trained "
                    "for %u)", n_toks, n_ctx, n_train);
        goto done;
    }
    int32_t n_vocab = edgellm_model_n_vocab(m);
    edgellm_status st;
    if ((st = edgellm_sampler_new(&o.sp, n_vocab, &smp)) != EDGELLM_OK || (st = edgellm_detok_new(m, 0, &dt)) != EDGELLM_OK ||
        (st = edgellm_textstream_new(stops, n_stops, chat && cprompt.opens_think, &ts)) != EDGELLM_OK) {
        cli_err(cmd, "cannot set up generation: %s", edgellm_status_str(st));
        goto done;
    }
    for (int32_t i = 0; i < n_toks; i++) edgellm_sampler_accept(smp, ptoks[i]);
    if (grammar) {
        /* the grammar applies from the first generated token, and must finish within -n */
        if ((st = edgellm_sampler_set_grammar(smp, m, grammar)) != EDGELLM_OK) {
            cli_err(cmd, "cannot set up the grammar: %s", edgellm_status_str(st));
            goto done;
        }
        edgellm_sampler_set_budget(smp, (int32_t)o.n_predict);
    }

    double t0 = run_now();
    st = run_decode(ctx, ptoks, n_toks);
    double t_prompt = run_now() - t0;
    if (st != EDGELLM_OK) {
        cli_err(cmd, "evaluating the prompt failed: %s", edgellm_context_errmsg(ctx));
        goto done;
    }
    struct run_gen g = {0};
    g.model = m;
    g.ctx = ctx;
    g.sampler = smp;
    g.detok = dt;
    g.ts = ts;
    g.fn = run_print;
    g.n_predict = o.n_predict;
    g.ignore_eos = ignore_eos;
    if (!o.no_shift && o.n_predict_given) g.shift = &shift;
    enum run_end end = run_generate(&g);
    if (shift.n_discarded)
        fprintf(stderr, "edgellm run: context shifted: %u tokens dropped (prompt %d tokens, %u dropped from it)\n",
                shift.n_discarded, n_full, shift.n_discarded - g.n_shifted);
    putchar('\n');
    fflush(stdout);
    if (end == RUN_END_ERROR) {
        cli_err(cmd, "generation failed: %s", g.status == EDGELLM_ERR_NOMEM ? "out of memory" : edgellm_context_errmsg(ctx));
        goto done;
    }
    if (end == RUN_END_CTX_FULL)
        cli_err(cmd, "stopped: the context is full (%u tokens; -c sets its size)", n_ctx);
    if (verbose) {
        fprintf(stderr, "edgellm run: seed %llu, %d threads, context %u, ISA %s\n", (unsigned long long)o.sp.seed,
                o.n_threads ? o.n_threads : edgellm_n_cores(), n_ctx, edgellm_isa());
        fprintf(stderr, "edgellm run: prompt %d tokens in %.1f ms (%.1f tok/s)\n", n_toks, t_prompt * 1e3,
                t_prompt > 0 ? n_toks / t_prompt : 0.0);
        fprintf(stderr, "edgellm run: prompt tokens:");
        for (int32_t i = 0; i < n_toks; i++) fprintf(stderr, " %d", ptoks[i]);
        fputc('\n', stderr);
        fprintf(stderr, "edgellm run: generation %d tokens in %.1f ms (%.1f tok/s)\n", g.n_generated, g.t_gen * 1e3,
                g.t_gen > 0 ? g.n_generated / g.t_gen : 0.0);
    }
    rc = CLI_OK;
done:
    edgellm_textstream_free(ts);
    edgellm_detok_free(dt);
    edgellm_sampler_free(smp);
    edgellm_context_free(ctx);
    free(toks);
    edgellm_chat_prompt_free(&cprompt);
    edgellm_model_free(m);
    edgellm_grammar_free(grammar);
    free(stops);
    return rc;
}

uint32_t run_model_ctx(const struct edgellm_model *m) {
    struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
    return edgellm_model_describe(m, &d) == EDGELLM_OK ? d.n_ctx_train : 0;
}
