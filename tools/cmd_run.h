/* What `run` (tools/cmd_run.c) shares with `chat` (tools/cmd_chat.c): the sampling and context
 * options, tokenizing / decoding a prompt, rendering a conversation, and the generation loop
 * (sample -> detokenize -> text stream -> callback, one forward pass per token). */
#ifndef EDGELLM_CMD_RUN_H
#define EDGELLM_CMD_RUN_H
#include <signal.h>
#include <stdint.h>
#include "edgellm.h"
#include "cli.h"

#define RUN_OPTIONS_HELP \
    "  -n, --n-predict N        tokens to generate at most (default 256)\n" \
    "  --temp T                 temperature, 0 = greedy (default 0.8)\n" \
    "  --top-k K                keep the K most likely tokens, 0 = off (default 40)\n" \
    "  --top-p P                keep the smallest set of tokens with probability >= P, 1 = off (default 0.95)\n" \
    "  --min-p P                drop tokens less likely than P x the best one, 0 = off (default 0.05)\n" \
    "  --repeat-penalty R       penalize the last --repeat-last-n tokens, 1 = off (default 1)\n" \
    "  --repeat-last-n N        window of the penalties (default 64)\n" \
    "  --presence-penalty P     subtract P from tokens already in the window (default 0)\n" \
    "  --frequency-penalty P    subtract P per occurrence in the window (default 0)\n" \
    "  --seed S                 random seed (default: a different one each run)\n" \
    "  -t, --threads N          threads (default: number of cores)\n" \
    "  -c, --ctx-size N         context size in tokens (default: the model's, at most 4096)\n" \
    "  --kv-type f16|f32|q8_0   KV cache type (default f16)\n" \
    "  --keep N                 tokens a context shift keeps at the start (default: run 0; chat: through\n" \
    "                           the system message, else only BOS)\n" \
    "  --no-context-shift       a prompt that does not fit is an error, an answer stops when the context is\n" \
    "                           full (default: drop the oldest half after --keep and go on; without -n an\n" \
    "                           answer still stops at the first full context)\n"

struct run_opts {
    struct edgellm_sampler_params sp;
    int seed_given;
    long n_predict;
    int n_threads;     /* 0: number of cores */
    uint32_t n_ctx;    /* 0: min(model context, 4096) */
    edgellm_kv_type kv;
    int n_predict_given; /* -n was given: generation may go on past a full context (shifting it) */
    long keep;           /* --keep, -1: the command's default */
    int no_shift;        /* --no-context-shift */
};

void run_opts_init(struct run_opts *o);
/* Parses argv[*i] if it is one of the shared options (advancing *i past its value).
 * Returns 1 if it was, 0 if it is not a shared option, -1 on a bad value (message printed). */
int run_opts_parse(const char *cmd, struct run_opts *o, int argc, char **argv, int *i);
/* Picks a random seed unless --seed was given. */
void run_opts_finish(struct run_opts *o);
struct edgellm_context *run_context_new(const char *cmd, struct edgellm_model *m, const struct run_opts *o);
/* Tokenizes a NUL-terminated text; NULL + message on failure. Caller frees. */
edgellm_token *run_tokenize(const char *cmd, const struct edgellm_model *m, const char *text, int add_bos,
                            int parse_special, int32_t *n_out);
uint32_t run_model_ctx(const struct edgellm_model *m);
/* Decodes toks on sequence 0 in batches of the context's n_batch; logits of the last token. */
edgellm_status run_decode(struct edgellm_context *ctx, const edgellm_token *toks, int32_t n);
/* [{"role": roles[i], "content": contents[i]}, ...] as JSON (malloc'd), NULL when out of memory. */
char *run_messages_json(const char *const *roles, const char *const *contents, int n);
/* A conversation as prompt tokens (edgellm_chat_tokenize: the model's template + generation
 * prompt, the library's BOS rule); warns on stderr when it falls back to ChatML (once: only while
 * *warned is 0, which it sets; warned may be NULL). Release out with edgellm_chat_prompt_free.
 * Returns 0, or -1 with a message printed. */
int run_chat_tokenize(const char *cmd, const struct edgellm_model *m, const char *const *roles,
                      const char *const *contents, int n, int enable_thinking, int *warned,
                      struct edgellm_chat_prompt *out);
double run_now(void);

enum run_end { RUN_END_EOG, RUN_END_LIMIT, RUN_END_STOP, RUN_END_CTX_FULL, RUN_END_ABORTED, RUN_END_ERROR };

struct run_gen {
    /* in */
    const struct edgellm_model *model;
    struct edgellm_context *ctx;     /* the prompt already decoded: logits of its last token ready */
    struct edgellm_sampler *sampler;
    struct edgellm_detok *detok;
    struct edgellm_textstream *ts;
    edgellm_text_fn fn;
    void *user;
    long n_predict;
    int ignore_eos;
    volatile sig_atomic_t *interrupted; /* may be NULL */
    edgellm_token *cache_toks;          /* may be NULL: tokens decoded into the cache are appended */
    int32_t n_cache, cap_cache;
    struct cli_shift *shift;            /* may be NULL: when the context is full, shift it (cli_shift_now) */
    /* out */
    uint32_t n_shifted;                 /* tokens dropped by shifts during generation */
    int n_generated;
    double t_gen;
    edgellm_status status;              /* for RUN_END_ERROR */
};

/* Generates until end of generation, n_predict tokens, a stop string, a full context, an
 * interruption or an error; flushes the detokenizer and the text stream at the end. */
enum run_end run_generate(struct run_gen *g);
#endif
