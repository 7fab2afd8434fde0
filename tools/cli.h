/* The edgellm program: one binary, one subcommand per tools/cmd_<name>.c.
 * Conventions: results on stdout, diagnostics on stderr (one line, prefixed "edgellm <cmd>: ");
 * exit code 0 ok, 1 runtime error, 2 usage error. Programs use only the public header. */
#ifndef EDGELLM_CLI_H
#define EDGELLM_CLI_H
#include <stdint.h>
#include "edgellm.h"

enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_imatrix(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* Prints "edgellm <cmd>: <message>\n" to stderr. */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Strict number parsing: the whole string must be a number within [lo, hi].
 * On failure prints a usage error naming the flag and returns 0. */
int cli_parse_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);
/* argv[*i] is a flag that needs a value: returns it and advances *i, or prints a usage error and returns NULL. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* Is s "-h" or "--help"? */
int cli_is_help(const char *s);
/* Reads a whole file (or stdin when path is "-") into a NUL-terminated buffer; NULL + message on failure. */
char *cli_read_file(const char *cmd, const char *path, size_t *len);
/* Parses a -t value: 1..1024 threads. */
int cli_parse_threads(const char *cmd, const char *s, int *out);
/* Parses --kv-type f16|f32|q8_0. */
int cli_parse_kv_type(const char *cmd, const char *s, edgellm_kv_type *out);
/* Loads a model for running (not vocab-only): prints one line and returns NULL on failure. */
struct edgellm_model *cli_load_model(const char *cmd, const char *path, int vocab_only);

/* A text split into chunks of n_ctx tokens as llama-perplexity / llama-imatrix do (cli_chunks.c). */
struct cli_chunks {
    edgellm_token *tok;  /* the whole text's tokens (BOS first when the model adds one) */
    int32_t n_tok, n_ctx, n_chunks;
    edgellm_token bos;   /* put in place of each chunk's first token; -1: the model adds no BOS */
};
/* Reads and tokenizes path; fewer than two chunks is an error. Returns CLI_OK or CLI_RUNTIME (printed). */
int cli_chunks_tokenize(const char *cmd, struct edgellm_model *m, const char *path, int32_t n_ctx, struct cli_chunks *out);
void cli_chunks_free(struct cli_chunks *ch);
/* Evaluates chunk c from an empty sequence 0, asking for logits at positions >= first_out
 * (buf and want: n_ctx entries of scratch). Returns CLI_OK or CLI_RUNTIME (printed). */
int cli_chunk_decode(const char *cmd, struct edgellm_context *ctx, const struct cli_chunks *ch, int32_t c, int32_t first_out,
                     edgellm_token *buf, int8_t *want);
/* -log softmax(logits)[tok]: max-shifted float exponentials summed in double, as llama.cpp's
 * perplexity and imatrix tools compute it. */
double cli_token_nll(const float *logits, int32_t n_vocab, edgellm_token tok);
/* The text of one token (tok >= 0) or what the detokenizer still holds (tok < 0: its flush) into
 * a text stream. A text longer than the stack buffer is fetched again into a big enough one (the
 * detokenizer consumes nothing until it fits). Returns the text stream's answer: 1 once a stop
 * string matched, 0 to go on, a negative status on an error. Shared by run, chat and serve. */
int cli_emit_token(struct edgellm_detok *dt, struct edgellm_textstream *ts, edgellm_token tok, edgellm_text_fn fn,
                   void *user);

/* Context shift (cli_shift.c), shared by run, chat and serve: the first `keep` tokens stay, the
 * rest loses its oldest half (a block of (n_ctx - keep) / 2 tokens) when the context is full. */
struct cli_shift {
    uint32_t keep;
    uint32_t n_discarded;  /* tokens after keep dropped from the conversation so far */
};
/* The block a shift drops (0: keep leaves no room to shift). */
uint32_t cli_shift_block(uint32_t n_ctx, uint32_t keep);
/* A conversation's whole prompt (in, n tokens) as the cache holds it: without the tokens already
 * dropped after keep, and cut by more whole blocks until it leaves room for one token. Writes
 * out (n entries; may be in) and returns its length, or -1 when it cannot fit. */
int32_t cli_shift_prompt(struct cli_shift *sh, uint32_t n_ctx, const edgellm_token *in, int32_t n, edgellm_token *out);
/* The cache of seq is full: drops a block after keep from it (no recomputation) and from toks
 * (*n tokens in the cache, may be NULL). Returns the tokens dropped, 0 when it cannot shift. */
uint32_t cli_shift_now(struct edgellm_context *ctx, int32_t seq, struct cli_shift *sh, edgellm_token *toks, int32_t *n);
/* The default keep of a chat: through the end of the first message when it is a system message
 * (as that message alone renders and tokenizes), else only BOS (1 if prompt starts with it). */
uint32_t cli_chat_keep(const struct edgellm_model *m, const char *messages_json, int enable_thinking,
                       const edgellm_token *prompt, int32_t n);
#endif
