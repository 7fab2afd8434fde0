/* edgellm — LLM inference on the CPU, offline, from GGUF files.
 *
 * This is the only public header. Objects are opaque handles; every function
 * that can fail returns an edgellm_status, and the text of the last error is
 * kept on the handle (edgellm_model_errmsg / edgellm_context_errmsg). Loading
 * functions, which have no handle yet, write the message into a caller buffer.
 *
 * Output buffers follow the snprintf rule: the return value is the size that
 * was needed; the output is truncated (and NUL-terminated when size > 0) if
 * the buffer was too small.
 *
 * Thread safety: a model may be shared by any number of contexts and threads;
 * a context or a sampler is used by one thread at a time.
 */
#ifndef EDGELLM_H
#define EDGELLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGELLM_VERSION "0.1.0"

#if defined(_WIN32) && defined(EDGELLM_SHARED)
#define EDGELLM_API __declspec(dllexport)
#elif defined(__GNUC__)
#define EDGELLM_API __attribute__((visibility("default")))
#else
#define EDGELLM_API
#endif

typedef int32_t edgellm_token;

typedef enum edgellm_status {
    EDGELLM_OK = 0,
    EDGELLM_ERR_IO = 1,           /* cannot open / read / map a file */
    EDGELLM_ERR_FORMAT = 2,       /* malformed or truncated file or data */
    EDGELLM_ERR_UNSUPPORTED = 3,  /* architecture, tensor type, construct not supported */
    EDGELLM_ERR_NOMEM = 4,        /* allocation failed */
    EDGELLM_ERR_ARG = 5,          /* invalid argument from the caller */
    EDGELLM_ERR_CONTEXT_FULL = 6, /* the tokens do not fit in the context */
    EDGELLM_ERR_TEMPLATE = 7,     /* chat template failed to parse or raised */
    EDGELLM_ERR_ABORTED = 8,      /* stopped by the caller's abort callback */
} edgellm_status;

/* A short English name of a status ("ok", "format error", ...). Static storage. */
EDGELLM_API const char *edgellm_status_str(edgellm_status st);
EDGELLM_API const char *edgellm_version(void);

/* Allocation made by the library for the caller (rendered templates, ...). */
EDGELLM_API void edgellm_free(void *p);

/* ------------------------------------------------------------------------- */
/* Model: the mapped GGUF file, its hyperparameters, weights and vocabulary.  */

struct edgellm_model;

struct edgellm_model_params {
    int vocab_only;   /* 1: read metadata and vocabulary only; any architecture, no tensors needed */
    int use_mlock;    /* 1: try to lock the weights in RAM */
    int n_threads;    /* threads for load-time work (repacking); 0 = number of cores */
};

EDGELLM_API struct edgellm_model_params edgellm_model_default_params(void);

/* Loads a GGUF file. On failure *out is NULL and err (if err_size > 0) holds one line naming
 * what is wrong. The weights stay in the mapped file. */
EDGELLM_API edgellm_status edgellm_model_load(const char *path, const struct edgellm_model_params *params,
                                              struct edgellm_model **out, char *err, size_t err_size);
EDGELLM_API void edgellm_model_free(struct edgellm_model *model);

/* Facts about a loaded model. Strings are valid until the model is freed. */
struct edgellm_model_desc {
    const char *arch;           /* general.architecture */
    const char *name;           /* general.name, or "" */
    uint32_t gguf_version;
    uint64_t file_size;
    uint64_t n_tensors;
    uint64_t n_params;          /* total elements of all tensors */
    uint64_t n_kv;              /* metadata key/value pairs */
    uint32_t n_ctx_train;
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_rot, head_dim;
    float rope_freq_base;
    float norm_eps;
    int has_rope_freqs;         /* llama3 rope_freqs.weight present */
    int tied_output;            /* output projection shares token_embd */
    int supported;              /* 1 if the architecture and all tensor types can be run */
    const char *unsupported_why; /* why not, or "" */
    int32_t n_vocab;
    const char *tokenizer_model;  /* tokenizer.ggml.model ("llama", "gpt2", ...) */
    const char *tokenizer_pre;    /* tokenizer.ggml.pre, or "" */
    edgellm_token bos, eos, eot, pad, unk;  /* -1 when none */
    int add_bos, add_eos;
    const char *chat_template;  /* NULL when the file has none */
};

EDGELLM_API void edgellm_model_describe(const struct edgellm_model *model, struct edgellm_model_desc *out);

/* Tensor-type histogram: for i in [0, n), the type name and count of tensors of that type. */
EDGELLM_API int edgellm_model_n_tensor_types(const struct edgellm_model *model);
EDGELLM_API const char *edgellm_model_tensor_type(const struct edgellm_model *model, int i, uint64_t *count);

/* Bytes of weights one decoded token reads: every matrix of the blocks and the output projection
 * (also when it is the tied embedding table), not the input token's embedding row nor the norms
 * and biases. 0 for a vocab-only or unsupported model. Divided into bytes/s it gives tokens/s at a
 * memory bandwidth. */
EDGELLM_API uint64_t edgellm_model_weight_bytes_per_token(const struct edgellm_model *model);

/* Metadata access: the i-th key and its value rendered as text (arrays abbreviated). */
EDGELLM_API const char *edgellm_model_meta_key(const struct edgellm_model *model, uint64_t i);
EDGELLM_API int edgellm_model_meta_value(const struct edgellm_model *model, uint64_t i, char *buf, size_t size);

/* The last error on this model (for functions below that take a model). */
EDGELLM_API const char *edgellm_model_errmsg(const struct edgellm_model *model);

/* ------------------------------------------------------------------------- */
/* Vocabulary and text.                                                        */

EDGELLM_API int32_t edgellm_model_n_vocab(const struct edgellm_model *model);

/* Tokenizes text[0..len). add_bos: -1 = as the model's metadata says, 0 = never, 1 = always.
 * parse_special: 1 to match CONTROL tokens written in the text (USER_DEFINED tokens always match).
 * Returns the number of tokens written, or if n_max was too small the negated number needed.
 * Returns INT32_MIN on error (message on the model). */
EDGELLM_API int32_t edgellm_tokenize(const struct edgellm_model *model, const char *text, size_t len,
                                     int add_bos, int parse_special, edgellm_token *out, int32_t n_max);

/* The raw bytes a token stands for (byte tokens give their byte; control tokens their text
 * only if render_special). snprintf rule; no NUL inside the returned length. */
EDGELLM_API int edgellm_token_to_piece(const struct edgellm_model *model, edgellm_token tok,
                                       int render_special, char *buf, size_t size);
EDGELLM_API const char *edgellm_token_text(const struct edgellm_model *model, edgellm_token tok);
/* 1 if the token ends generation (eos/eot ids and the known end-of-turn control tokens). */
EDGELLM_API int edgellm_token_is_eog(const struct edgellm_model *model, edgellm_token tok);
EDGELLM_API int edgellm_token_is_control(const struct edgellm_model *model, edgellm_token tok);

/* Streaming detokenizer: turns tokens into valid UTF-8 text, never splitting a character.
 * Bytes proven invalid become U+FFFD. */
struct edgellm_detok;
EDGELLM_API struct edgellm_detok *edgellm_detok_new(const struct edgellm_model *model, int render_special);
/* Writes the text of tok that is complete so far to buf (snprintf rule: the return value is the
 * size needed; a detok keeps at most 4 pending bytes, but a token of invalid bytes can grow 3x
 * when each byte becomes U+FFFD, so retry with the returned size if it exceeds size - 1). */
EDGELLM_API int edgellm_detok_push(struct edgellm_detok *d, edgellm_token tok, char *buf, size_t size);
/* Emits the pending bytes at the end of generation (incomplete ones as U+FFFD). */
EDGELLM_API int edgellm_detok_flush(struct edgellm_detok *d, char *buf, size_t size);
EDGELLM_API void edgellm_detok_reset(struct edgellm_detok *d);
EDGELLM_API void edgellm_detok_free(struct edgellm_detok *d);

/* ------------------------------------------------------------------------- */
/* Chat templates (a Jinja subset interpreter, Hugging Face semantics).        */

struct edgellm_template_params {
    int add_generation_prompt;
    const char *bos_token;    /* NULL: not defined in the template */
    const char *eos_token;    /* NULL: not defined */
    const char *date;         /* "YYYY-MM-DD" seen by strftime_now; NULL: today */
    const char *kwargs_json;  /* a JSON object whose members become template variables, or NULL */
};

EDGELLM_API struct edgellm_template_params edgellm_template_default_params(void);

/* Renders template_src with messages_json (a JSON list of {"role","content",...} objects).
 * On success *out is a NUL-terminated string to release with edgellm_free().
 * On failure (EDGELLM_ERR_TEMPLATE for a parse error, an unsupported construct or
 * raise_exception; EDGELLM_ERR_FORMAT for bad JSON) err holds one line. */
EDGELLM_API edgellm_status edgellm_template_render(const char *template_src, const char *messages_json,
                                                   const struct edgellm_template_params *params,
                                                   char **out, char *err, size_t err_size);

/* Renders a conversation for a model: its own template with its bos/eos tokens, or — when the
 * model has none or it cannot be rendered — a ChatML prompt (*used_fallback set to 1, and
 * err holds why). enable_thinking is passed as a template variable. */
EDGELLM_API edgellm_status edgellm_chat_render(const struct edgellm_model *model, const char *messages_json,
                                               int add_generation_prompt, int enable_thinking,
                                               const char *extra_kwargs_json, char **out,
                                               int *used_fallback, char *err, size_t err_size);

/* ------------------------------------------------------------------------- */
/* Context: KV cache and all scratch for forward passes, allocated at creation. */

struct edgellm_context;

typedef enum edgellm_kv_type {
    EDGELLM_KV_F16 = 0,
    EDGELLM_KV_F32 = 1,
    EDGELLM_KV_Q8_0 = 2,
} edgellm_kv_type;

struct edgellm_context_params {
    uint32_t n_ctx;       /* positions per sequence; 0 = min(model context, 4096) */
    uint32_t n_batch;     /* max tokens per decode call; 0 = 512 */
    uint32_t n_seq;       /* independent sequences (server slots); 0 = 1 */
    int n_threads;        /* 0 = number of cores */
    edgellm_kv_type kv_type;
    int logits_all;       /* reserve room for logits at every position of a batch */
};

EDGELLM_API struct edgellm_context_params edgellm_context_default_params(void);

EDGELLM_API edgellm_status edgellm_context_new(struct edgellm_model *model, const struct edgellm_context_params *params,
                                               struct edgellm_context **out, char *err, size_t err_size);
EDGELLM_API void edgellm_context_free(struct edgellm_context *ctx);
EDGELLM_API const char *edgellm_context_errmsg(const struct edgellm_context *ctx);
EDGELLM_API uint32_t edgellm_context_n_ctx(const struct edgellm_context *ctx);
EDGELLM_API uint32_t edgellm_context_n_batch(const struct edgellm_context *ctx);

/* A batch of tokens. Token i goes to sequence seq_id[i] at position pos[i]; the positions of one
 * sequence in a batch must follow the ones already in its cache (pos == n_past, n_past+1, ...).
 * logits[i] != 0 asks for the logits at token i. seq_id and logits may be NULL (all 0 / last only);
 * pos may be NULL (continue each sequence). */
struct edgellm_batch {
    int32_t n_tokens;
    const edgellm_token *token;
    const int32_t *pos;
    const int32_t *seq_id;
    const int8_t *logits;
};

/* Evaluates a batch. On EDGELLM_ERR_CONTEXT_FULL nothing was added to the cache. */
EDGELLM_API edgellm_status edgellm_context_decode(struct edgellm_context *ctx, const struct edgellm_batch *batch);
/* Logits of the i-th token of the last batch that asked for them ([n_vocab] floats), in batch order;
 * valid until the next decode. NULL if i is out of range. */
EDGELLM_API const float *edgellm_context_logits(const struct edgellm_context *ctx, int32_t i);
/* Number of positions held for a sequence. */
EDGELLM_API uint32_t edgellm_context_seq_len(const struct edgellm_context *ctx, int32_t seq_id);
/* Forgets positions >= n_keep of a sequence (0 clears it). */
EDGELLM_API edgellm_status edgellm_context_seq_truncate(struct edgellm_context *ctx, int32_t seq_id, uint32_t n_keep);

/* Called between layers; return nonzero to abort the decode (EDGELLM_ERR_ABORTED). */
typedef int (*edgellm_abort_fn)(void *user);
EDGELLM_API void edgellm_context_set_abort(struct edgellm_context *ctx, edgellm_abort_fn fn, void *user);

/* ------------------------------------------------------------------------- */
/* Sampler.                                                                    */

struct edgellm_sampler;

struct edgellm_sampler_params {
    float temperature;        /* <= 0: greedy */
    int32_t top_k;            /* <= 0: off */
    float top_p;              /* >= 1: off */
    float min_p;              /* <= 0: off */
    float repeat_penalty;     /* 1: off */
    float presence_penalty;   /* 0: off */
    float frequency_penalty;  /* 0: off */
    int32_t penalty_last_n;   /* window of recent tokens the penalties look at */
    uint64_t seed;
};

EDGELLM_API struct edgellm_sampler_params edgellm_sampler_default_params(void);
EDGELLM_API struct edgellm_sampler *edgellm_sampler_new(const struct edgellm_sampler_params *params, int32_t n_vocab);
EDGELLM_API void edgellm_sampler_free(struct edgellm_sampler *s);
/* Picks a token from logits [n_vocab]; does not modify the logits. */
EDGELLM_API edgellm_token edgellm_sampler_sample(struct edgellm_sampler *s, const float *logits);
/* Records a token (prompt or generated) for the penalties. */
EDGELLM_API void edgellm_sampler_accept(struct edgellm_sampler *s, edgellm_token tok);
EDGELLM_API void edgellm_sampler_reset(struct edgellm_sampler *s);

/* ------------------------------------------------------------------------- */
/* Kernels and system.                                                         */

/* The instruction-set path in use ("scalar", "avx2", "avx512", "avx512vnni", "neon", ...).
 * The environment variable EDGELLM_ISA=scalar|avx2|avx512|neon forces a path (if the CPU has it). */
EDGELLM_API const char *edgellm_isa(void);
EDGELLM_API int edgellm_n_cores(void);

/* ------------------------------------------------------------------------- */
/* Text stream (sampler helper): stop strings and the reasoning / content split over the     */
/* generated text, shared by `run`, `chat` and the server. Feed it the detokenized pieces;    */
/* it calls back with each chunk that is safe to show, tagged with its kind.                  */

struct edgellm_textstream;

typedef enum edgellm_text_kind {
    EDGELLM_TEXT_CONTENT = 0,   /* the answer */
    EDGELLM_TEXT_REASONING = 1, /* text inside <think> ... </think> */
    EDGELLM_TEXT_TAG = 2,       /* the <think> / </think> tags themselves and the whitespace right
                                   after them: part of neither reasoning nor content */
} edgellm_text_kind;

/* text[0..len) is not NUL-terminated. Concatenating every chunk of every kind gives the raw
 * generated text up to (not including) the stop string, so raw output = print all kinds. */
typedef void (*edgellm_text_fn)(void *user, edgellm_text_kind kind, const char *text, size_t len);

/* stops: n_stops strings (copied; empty ones ignored; may be NULL when n_stops is 0).
 * in_think: 1 when the prompt ends inside an open <think> block (see edgellm_prompt_opens_think),
 * so the text up to </think> is reasoning. Otherwise a <think> at the very start of the output
 * (after whitespace) opens reasoning. Returns NULL when out of memory. */
EDGELLM_API struct edgellm_textstream *edgellm_textstream_new(const char *const *stops, int n_stops, int in_think);
/* Feeds text (any split, e.g. one token's piece). Text that could be the beginning of a stop string
 * or of a tag is held back until it is decided; a stop string itself is never emitted.
 * Returns 0 to go on, 1 once a stop string has matched (then and on every later call; the text
 * before the stop was emitted, the rest is dropped), -1 when out of memory. */
EDGELLM_API int edgellm_textstream_push(struct edgellm_textstream *ts, const char *text, size_t len,
                                        edgellm_text_fn fn, void *user);
/* Emits what is still held back (call at the end of generation, also after a stop). */
EDGELLM_API void edgellm_textstream_flush(struct edgellm_textstream *ts, edgellm_text_fn fn, void *user);
/* Index of the stop string that matched, or -1. */
EDGELLM_API int edgellm_textstream_stop_index(const struct edgellm_textstream *ts);
/* Forgets all state (for a new generation with the same stops); in_think as for _new. */
EDGELLM_API void edgellm_textstream_reset(struct edgellm_textstream *ts, int in_think);
EDGELLM_API void edgellm_textstream_free(struct edgellm_textstream *ts);
/* 1 if the last "<think>" in the prompt is not followed by "</think>" (generation starts inside
 * the reasoning block, as the DeepSeek-R1-Distill template's prompts do). */
EDGELLM_API int edgellm_prompt_opens_think(const char *prompt);

#ifdef __cplusplus
}
#endif
#endif /* EDGELLM_H */
