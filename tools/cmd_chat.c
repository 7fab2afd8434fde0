/* `edgellm chat`: an interactive conversation in the terminal. Each turn renders the whole history
 * with the model's chat template, tokenizes it, keeps the KV cache for the prefix shared with what
 * the cache already holds (cache_toks mirrors sequence 0 token for token) and decodes only the
 * rest. Reasoning is shown dimmed (or hidden); Ctrl-C stops the answer, not the program. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat_session.h"
#include "cli.h"
#include "cmd_run.h"

static const char *const usage_text =
    "usage: edgellm chat -m MODEL.gguf [options]\n"
    "\n"
    "An interactive conversation using the model's chat template. Type a message and press Enter;\n"
    "/reset starts over, /exit (or Ctrl-D) quits, Ctrl-C stops the current answer.\n"
    "  -m, --model FILE         GGUF model\n"
    "  --system TEXT            system message\n"
    "  --no-think               render the template with enable_thinking=false\n"
    "  --hide-thinking          do not show the reasoning part of answers\n"
    "  --no-cache-reuse         evaluate the whole conversation again each turn (for testing)\n"
    "  --session FILE           keep the conversation (messages and KV cache) in FILE: written after\n"
    "                           every answer and on exit, resumed without evaluating it again; a\n"
    "                           missing FILE starts a new one\n"
    RUN_OPTIONS_HELP
    "  (in chat, -n defaults to: until the end of the answer)\n"
    "Environment: EDGELLM_CHAT_DEBUG=1 prints how many prompt tokens each turn evaluates (stderr).\n";

/* Set by the SIGINT handler; a signal handler can only reach a global. */
static volatile sig_atomic_t chat_interrupted;

static void chat_on_sigint(int sig) {
    (void)sig;
    chat_interrupted = 1;
}

static int chat_should_abort(void *user) {
    (void)user;
    return chat_interrupted != 0;
}

struct chat_history {
    const char **roles;
    char **contents;
    int n, cap;
};

static int chat_history_add(struct chat_history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 16;
        const char **r = realloc(h->roles, (size_t)cap * sizeof *r);
        if (!r) return 0;
        h->roles = r;
        char **c = realloc(h->contents, (size_t)cap * sizeof *c);
        if (!c) return 0;
        h->contents = c;
        h->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy) return 0;
    h->roles[h->n] = role;
    h->contents[h->n++] = copy;
    return 1;
}

static void chat_history_truncate(struct chat_history *h, int n) {
    while (h->n > n) free(h->contents[--h->n]);
}

/* What the streaming callback needs: how to show each kind, and the answer being collected. */
struct chat_out {
    int tty, hide_thinking;
    int dim_on;          /* escape sequence for dim text is active */
    int shown_reasoning; /* some reasoning (or the thinking sign) was printed this turn */
    int shown_content;
    char *answer;
    size_t n_answer, cap_answer;
    int oom;
};

static void chat_print(void *user, edgellm_text_kind kind, const char *text, size_t len) {
    struct chat_out *o = user;
    if (kind == EDGELLM_TEXT_TAG) return;
    if (kind == EDGELLM_TEXT_REASONING) {
        if (o->hide_thinking) {
            if (o->tty && !o->shown_reasoning) { /* a sign of life while the answer is thought out */
                fputs("\033[2m(thinking...)\033[0m", stdout);
                fflush(stdout);
                o->shown_reasoning = 1;
            }
            return;
        }
        if (o->tty && !o->dim_on) { fputs("\033[2m", stdout); o->dim_on = 1; }
        fwrite(text, 1, len, stdout);
        o->shown_reasoning = 1;
        fflush(stdout);
        return;
    }
    if (o->dim_on) { fputs("\033[0m", stdout); o->dim_on = 0; }
    if (o->shown_reasoning && !o->shown_content) fputs("\n\n", stdout);
    o->shown_content = 1;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (o->n_answer + len + 1 > o->cap_answer) {
        size_t cap = o->cap_answer ? o->cap_answer : 256;
        while (cap < o->n_answer + len + 1) cap *= 2;
        char *a = realloc(o->answer, cap);
        if (!a) { o->oom = 1; return; }
        o->answer = a;
        o->cap_answer = cap;
    }
    memcpy(o->answer + o->n_answer, text, len);
    o->n_answer += len;
    o->answer[o->n_answer] = 0;
}

/* Reads one line without its newline. Returns 1, 0 at end of input, -1 on Ctrl-C. */
static int chat_read_line(char **line, size_t *cap) {
    errno = 0;
    ssize_t n = getline(line, cap, stdin);
    if (n < 0) {
        if (chat_interrupted || errno == EINTR) {
            clearerr(stdin);
            return -1;
        }
        return 0;
    }
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r')) (*line)[--n] = 0;
    return 1;
}

static int chat_is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

/* With --session, after an answer: brings the KV cache in line with the history as the template
 * renders it (without a generation prompt), e.g. without the answer's reasoning, which templates
 * drop from earlier turns. The next message then shares the whole cached prefix, so a resumed
 * session evaluates only the new message; the cost of re-evaluating the last answer moves from
 * the next Enter to the end of this answer. Best effort: on any failure the cache keeps what it
 * holds (the next turn re-evaluates from the first difference, as without a session). */
static void chat_sync_history(const struct edgellm_model *m, struct edgellm_context *ctx, const struct chat_history *h,
                              int enable_thinking, edgellm_token *cache_toks, int32_t *n_cache) {
    char *json = run_messages_json((const char *const *)h->roles, (const char *const *)h->contents, h->n);
    struct edgellm_chat_params cp = edgellm_chat_default_params();
    struct edgellm_chat_prompt pr = EDGELLM_CHAT_PROMPT_INIT;
    cp.add_generation_prompt = 0;
    cp.enable_thinking = enable_thinking;
    uint32_t n_ctx = edgellm_context_n_ctx(ctx);
    if (json && edgellm_chat_tokenize(m, json, &cp, &pr, NULL, 0) == EDGELLM_OK && pr.n_tokens > 0 &&
        (uint32_t)pr.n_tokens < n_ctx) {
        int32_t p = 0, have = *n_cache < (int32_t)edgellm_context_seq_len(ctx, 0) ? *n_cache : (int32_t)edgellm_context_seq_len(ctx, 0);
        while (p < have && p < pr.n_tokens && cache_toks[p] == pr.tokens[p]) p++;
        if (p < pr.n_tokens || p < have) {
            edgellm_context_seq_truncate(ctx, 0, (uint32_t)p);
            *n_cache = p;
            if (p < pr.n_tokens && run_decode(ctx, pr.tokens + p, pr.n_tokens - p) == EDGELLM_OK) {
                memcpy(cache_toks + p, pr.tokens + p, (size_t)(pr.n_tokens - p) * sizeof *cache_toks);
                *n_cache = pr.n_tokens;
            } else {
                edgellm_context_seq_truncate(ctx, 0, (uint32_t)p);
            }
        }
    }
    edgellm_chat_prompt_free(&pr);
    free(json);
}

int cmd_chat(int argc, char **argv) {
    const char *cmd = "chat", *model_path = NULL, *system = NULL, *session = NULL;
    int no_think = 0, hide_thinking = 0, reuse = 1;
    struct run_opts o;
    run_opts_init(&o);
    o.n_predict = 1L << 30; /* an answer ends at its end-of-turn token or when the context is full */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = run_opts_parse(cmd, &o, argc, argv, &i);
        if (r < 0) return CLI_USAGE;
        if (r > 0) continue;
        if (cli_is_help(a)) { fputs(usage_text, stdout); return CLI_OK; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model_path = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--system")) {
            if (!(system = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--session")) {
            if (!(session = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--no-think")) no_think = 1;
        else if (!strcmp(a, "--hide-thinking")) hide_thinking = 1;
        else if (!strcmp(a, "--no-cache-reuse")) reuse = 0;
        else {
            cli_err(cmd, "unknown option '%s' (try --help)", a);
            return CLI_USAGE;
        }
    }
    if (!model_path) {
        cli_err(cmd, "-m MODEL.gguf is required (try --help)");
        return CLI_USAGE;
    }
    run_opts_finish(&o);

    int rc = CLI_RUNTIME;
    struct edgellm_model *m = NULL;
    struct edgellm_context *ctx = NULL;
    struct edgellm_sampler *smp = NULL;
    struct edgellm_detok *dt = NULL;
    struct edgellm_textstream *ts = NULL;
    edgellm_token *cache_toks = NULL;
    struct chat_history h = {0};
    struct chat_out out = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int32_t n_cache = 0;
    int warned = 0;
    struct cli_shift shift = {0, 0};
    int keep_set = 0; /* shift.keep is fixed for the conversation at its first prompt */

    if (!(m = cli_load_model(cmd, model_path, 0))) goto done;
    if (!(ctx = run_context_new(cmd, m, &o))) goto done;
    uint32_t n_ctx = edgellm_context_n_ctx(ctx);
    edgellm_status st0;
    if ((st0 = edgellm_sampler_new(&o.sp, edgellm_model_n_vocab(m), &smp)) != EDGELLM_OK ||
        (st0 = edgellm_detok_new(m, 0, &dt)) != EDGELLM_OK || (st0 = edgellm_textstream_new(NULL, 0, 0, &ts)) != EDGELLM_OK) {
        cli_err(cmd, "cannot set up generation: %s", edgellm_status_str(st0));
        goto done;
    }
    if (!(cache_toks = malloc((size_t)n_ctx * sizeof *cache_toks))) {
        cli_err(cmd, "out of memory");
        goto done;
    }
    int resumed = 0;
    if (session) {
        struct chat_session ses;
        int r = chat_session_load(cmd, session, ctx, &ses);
        if (r < 0) goto done;
        if (r > 0) {
            /* the session's messages (with its system message) replace --system */
            for (int i = 0; i < ses.n; i++)
                if (!chat_history_add(&h, ses.roles[i], ses.contents[i])) { chat_session_free(&ses); cli_err(cmd, "out of memory"); goto done; }
            n_cache = ses.n_tokens;
            memcpy(cache_toks, ses.tokens, (size_t)n_cache * sizeof *cache_toks);
            for (int32_t i = 0; i < n_cache; i++) edgellm_sampler_accept(smp, cache_toks[i]);
            fprintf(stderr, "edgellm chat: resumed session %s (%d messages, %d tokens)\n", session, ses.n, (int)n_cache);
            chat_session_free(&ses);
            resumed = 1;
        }
    }
    if (!resumed && system && !chat_history_add(&h, "system", system)) {
        cli_err(cmd, "out of memory");
        goto done;
    }
    int n_base = h.n && !strcmp(h.roles[0], "system") ? 1 : 0; /* messages /reset keeps */
    edgellm_context_set_abort(ctx, chat_should_abort, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = chat_on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: Ctrl-C at the prompt interrupts the read */
    sigaction(SIGINT, &sa, NULL);

    int in_tty = isatty(STDIN_FILENO);
    out.tty = isatty(STDOUT_FILENO);
    out.hide_thinking = hide_thinking;
    if (in_tty)
        printf("edgellm chat (context %u tokens): /reset starts over, /exit quits, Ctrl-C stops an answer\n", n_ctx);

    for (;;) {
        chat_interrupted = 0; /* before the prompt: a Ctrl-C right after it must interrupt the read */
        if (in_tty) { fputs("> ", stdout); fflush(stdout); }
        int r = chat_read_line(&line, &line_cap);
        if (r == 0) { if (in_tty) putchar('\n'); break; }
        if (r < 0) {
            chat_interrupted = 0;
            if (in_tty) fputs("\n(/exit or Ctrl-D quits)\n", stdout);
            continue;
        }
        if (chat_is_blank(line)) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            chat_history_truncate(&h, n_base);
            edgellm_context_seq_truncate(ctx, 0, 0);
            n_cache = 0;
            shift.n_discarded = 0;
            keep_set = 0;
            edgellm_sampler_reset(smp);
            if (session && chat_session_save(cmd, session, (const char *const *)h.roles, (const char *const *)h.contents, h.n,
                                             cache_toks, n_cache, ctx))
                goto done;
            puts("(conversation cleared)");
            fflush(stdout);
            continue;
        }
        if (!chat_history_add(&h, "user", line)) { cli_err(cmd, "out of memory"); goto done; }

        struct edgellm_chat_prompt cprompt = EDGELLM_CHAT_PROMPT_INIT;
        if (run_chat_tokenize(cmd, m, (const char *const *)h.roles, (const char *const *)h.contents, h.n, !no_think,
                              &warned, &cprompt))
            goto done;
        int32_t n_toks = cprompt.n_tokens;
        edgellm_token *toks = cprompt.tokens;
        int opens_think = cprompt.opens_think;
        if (!keep_set && n_toks > 0) {
            char *json = o.keep < 0 ? run_messages_json((const char *const *)h.roles, (const char *const *)h.contents, h.n) : NULL;
            shift.keep = o.keep >= 0 ? (uint32_t)o.keep : cli_chat_keep(m, json, !no_think, toks, n_toks);
            free(json);
            keep_set = 1;
        }
        uint32_t dropped_before = shift.n_discarded;
        if (!o.no_shift && n_toks > 0) {
            int32_t n_cut = cli_shift_prompt(&shift, n_ctx, toks, n_toks, toks);
            if (n_cut > 0) n_toks = n_cut;
        }
        if (shift.n_discarded > dropped_before) {
            printf("[the conversation was shortened: %u tokens after the first %u dropped]\n", shift.n_discarded - dropped_before,
                   shift.keep);
            fflush(stdout);
        }
        if (n_toks >= (int32_t)n_ctx || n_toks == 0) {
            printf("The conversation no longer fits the context (%d tokens, the context holds %u): "
                   "/reset to start over%s.\n", n_toks, n_ctx, n_ctx < run_model_ctx(m) ? ", or restart with a larger -c" : "");
            fflush(stdout);
            edgellm_chat_prompt_free(&cprompt);
            chat_history_truncate(&h, h.n - 1);
            continue;
        }
        /* Keep the cached prefix; at least the last token is decoded again for its logits. */
        int32_t p = 0;
        while (reuse && p < n_cache && p < n_toks - 1 && cache_toks[p] == toks[p]) p++;
        edgellm_context_seq_truncate(ctx, 0, (uint32_t)p);
        p = (int32_t)edgellm_context_seq_len(ctx, 0); /* sliding-window rings may not reach back to p */
        n_cache = p;
        if (getenv("EDGELLM_CHAT_DEBUG")) fprintf(stderr, "[prefill %d of %d tokens]\n", n_toks - p, n_toks);
        edgellm_status st = run_decode(ctx, toks + p, n_toks - p);
        if (st == EDGELLM_OK) {
            memcpy(cache_toks + p, toks + p, (size_t)(n_toks - p) * sizeof *toks);
            n_cache = n_toks;
            for (int32_t i = p; i < n_toks; i++) edgellm_sampler_accept(smp, toks[i]);
        }
        edgellm_chat_prompt_free(&cprompt);
        if (st != EDGELLM_OK) {
            edgellm_context_seq_truncate(ctx, 0, (uint32_t)p);
            chat_history_truncate(&h, h.n - 1);
            if (st == EDGELLM_ERR_ABORTED) {
                puts("\n[interrupted]");
                fflush(stdout);
                continue;
            }
            cli_err(cmd, "evaluating the prompt failed: %s", edgellm_context_errmsg(ctx));
            goto done;
        }

        edgellm_detok_reset(dt);
        edgellm_textstream_reset(ts, opens_think);
        out.dim_on = out.shown_reasoning = out.shown_content = 0;
        out.n_answer = 0;
        if (out.answer) out.answer[0] = 0;
        struct run_gen g = {0};
        g.model = m;
        g.ctx = ctx;
        g.sampler = smp;
        g.detok = dt;
        g.ts = ts;
        g.fn = chat_print;
        g.user = &out;
        g.n_predict = o.n_predict;
        g.interrupted = &chat_interrupted;
        g.cache_toks = cache_toks;
        g.n_cache = n_cache;
        g.cap_cache = (int32_t)n_ctx;
        if (!o.no_shift && o.n_predict_given) g.shift = &shift;
        enum run_end end = run_generate(&g);
        if (g.n_shifted) printf("\n[the conversation was shortened: %u tokens dropped]", g.n_shifted);
        n_cache = g.n_cache;
        if (out.dim_on) { fputs("\033[0m", stdout); out.dim_on = 0; }
        putchar('\n');
        if (end == RUN_END_ABORTED) puts("[interrupted]");
        if (end == RUN_END_CTX_FULL)
            printf("[the context is full (%u tokens): /reset to start a new conversation]\n", n_ctx);
        fflush(stdout);
        if (end == RUN_END_ERROR) {
            cli_err(cmd, "generation failed: %s", g.status == EDGELLM_ERR_NOMEM ? "out of memory" : edgellm_context_errmsg(ctx));
            goto done;
        }
        if (out.oom) { cli_err(cmd, "out of memory"); goto done; }
        /* The history keeps the answer, not the reasoning (as chat APIs send it back). */
        const char *answer = out.answer ? out.answer : "";
        size_t n = strlen(answer);
        while (n > 0 && (answer[n - 1] == ' ' || answer[n - 1] == '\n')) out.answer[--n] = 0;
        if (!chat_history_add(&h, "assistant", answer)) { cli_err(cmd, "out of memory"); goto done; }
        if (session && end != RUN_END_ABORTED) chat_sync_history(m, ctx, &h, !no_think, cache_toks, &n_cache);
        if (session && end != RUN_END_ABORTED &&
            chat_session_save(cmd, session, (const char *const *)h.roles, (const char *const *)h.contents, h.n, cache_toks,
                              n_cache, ctx))
            goto done;
    }
    if (session && chat_session_save(cmd, session, (const char *const *)h.roles, (const char *const *)h.contents, h.n,
                                     cache_toks, n_cache, ctx))
        goto done;
    rc = CLI_OK;
done:
    signal(SIGINT, SIG_DFL);
    chat_history_truncate(&h, 0);
    free(h.roles);
    free(h.contents);
    free(out.answer);
    free(line);
    free(cache_toks);
    edgellm_textstream_free(ts);
    edgellm_detok_free(dt);
    edgellm_sampler_free(smp);
    edgellm_context_free(ctx);
    edgellm_model_free(m);
    return rc;
}
