/* edgellm — LLM inference on the CPU, offline, from GGUF files.
 *
 * This is the only public header. Objects are opaque handles.
 *
 * Errors. Every function that can fail for a reason the caller must see returns an
 * edgellm_status, with its results in out-parameters. The message goes on something the caller
 * owns: the context (edgellm_context_errmsg) for functions that take one, otherwise a caller
 * buffer (err, err_size) — never the model, which may be shared between threads. Functions that
 * return text follow the snprintf rule: the return value is the size that was needed; the output
 * is truncated (and NUL-terminated when size > 0) if the buffer was too small; an error is a
 * negative edgellm_status (-EDGELLM_ERR_ARG, ...). Accessors (edgellm_context_logits,
 * edgellm_model_n_vocab, ...) return their value, or NULL / 0 on bad input.
 *
 * ABI (1.0 onwards). Every parameter or description struct starts with `uint32_t struct_size`,
 * set by the static inline edgellm_*_default_params() / EDGELLM_*_INIT of this header to the
 * size the caller was compiled with. The library reads only struct_size bytes of such a struct
 * (fields beyond get their defaults) and writes nothing beyond; struct_size 0 or smaller than the
 * 1.0 layout is EDGELLM_ERR_ARG. New fields are only appended, and no 1.0 struct ends in padding,
 * so struct_size says exactly which fields the caller knows. NULL params mean the defaults.
 *
 * Thread safety: a model may be shared by any number of contexts and threads (nothing writes to
 * it after edgellm_model_load); a context, sampler, detokenizer or text stream is used by one
 * thread at a time.
 */
#ifndef EDGELLM_H
#define EDGELLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGELLM_VERSION_MAJOR 1
#define EDGELLM_VERSION_MINOR 0
#define EDGELLM_VERSION_PATCH 0
#define EDGELLM_VERSION "1.0.0"
/* The version number of a header: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define EDGELLM_VERSION_NUMBER (EDGELLM_VERSION_MAJOR * 10000 + EDGELLM_VERSION_MINOR * 100 + EDGELLM_VERSION_PATCH)

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
    EDGELLM_ERR_BUFFER_TOO_SMALL = 9, /* an output array is too small; the size needed was reported */
    EDGELLM_ERR_NOT_FOUND = 10,   /* a named thing (metadata key, ...) does not exist */
} edgellm_status;

/* A short English name of a status ("ok", "format error", ...). Static storage. */
EDGELLM_API const char *edgellm_status_str(edgellm_status st);
/* The version of the library that is running ("1.0.0") and its number (10000 for 1.0.0); compare
 * with EDGELLM_VERSION_NUMBER, the version the caller was compiled with. */
EDGELLM_API const char *edgellm_version(void);
EDGELLM_API uint32_t edgellm_version_number(void);

/* Allocation made by the library for the caller (rendered templates, ...). */
EDGELLM_API void edgellm_free(void *p);

/* ------------------------------------------------------------------------- */
/* Model: the mapped GGUF file, its hyperparameters, weights and vocabulary.  */

struct edgellm_model;

struct edgellm_model_params {
    uint32_t struct_size; /* sizeof(struct edgellm_model_params), set by edgellm_model_default_params() */
    int vocab_only;   /* 1: read metadata and vocabulary only; any architecture, no tensors needed */
    int use_mlock;    /* 1: lock the mapped weights in RAM; failing is a warning (edgellm_model_warning) */
    int n_threads;    /* threads for load-time work (repacking); 0 = number of cores */
#ifdef EDGELLM_TEST_GROW_STRUCTS
    uint64_t test_grown; /* test builds only (tests/abi): a field appended after 1.0; must be 0 */
#endif
};

static inline struct edgellm_model_params edgellm_model_default_params(void) {
    struct edgellm_model_params p;
    p.struct_size = (uint32_t)sizeof p;
    p.vocab_only = 0;
    p.use_mlock = 0;
    p.n_threads = 0;
#ifdef EDGELLM_TEST_GROW_STRUCTS
    p.test_grown = 0;
#endif
    return p;
}

/* Loads a GGUF file. On failure *out is NULL and err (if err_size > 0) holds one line naming
 * what is wrong. The weights stay in the mapped file, except the matrices that the CPU's kernels
 * decode faster repacked: those are rewritten into memory (on n_threads threads), their pages of
 * the mapping released as it goes (EDGELLM_REPACK=0 in the environment turns this off).
 * params NULL: the defaults. */
EDGELLM_API edgellm_status edgellm_model_load(const char *path, const struct edgellm_model_params *params,
                                              struct edgellm_model **out, char *err, size_t err_size);
EDGELLM_API void edgellm_model_free(struct edgellm_model *model);

/* Loads a GGUF file that is already in memory, without copying it (zero-copy): data[0..size) must
 * stay valid and unchanged until the model is freed. Any alignment is accepted: when the tensor
 * data would be less than 16-byte aligned, the file is copied once into an aligned buffer the
 * model owns. A cut or malformed buffer fails with a status (EDGELLM_ERR_FORMAT, ...). */
EDGELLM_API edgellm_status edgellm_model_load_mem(const void *data, size_t size,
                                                  const struct edgellm_model_params *params,
                                                  struct edgellm_model **out, char *err, size_t err_size);
/* Loads the GGUF file that is `size` bytes at `offset` in the open file fd (e.g. an uncompressed
 * Android asset: AAsset_openFileDescriptor64). The library maps what it needs (read-only) and does
 * not close fd; the caller may close it as soon as this returns. */
EDGELLM_API edgellm_status edgellm_model_load_fd(int fd, uint64_t offset, uint64_t size,
                                                 const struct edgellm_model_params *params,
                                                 struct edgellm_model **out, char *err, size_t err_size);

/* Facts about a loaded model. Strings are valid until the model is freed. */
struct edgellm_model_desc {
    /* 8-byte fields (pointers, uint64) first, then 4-byte ones, so that the layout ends without
     * padding on 32- and 64-bit targets alike (see "ABI" above) */
    uint32_t struct_size;       /* sizeof(struct edgellm_model_desc): use EDGELLM_MODEL_DESC_INIT */
    uint32_t gguf_version;
    const char *arch;           /* general.architecture */
    const char *name;           /* general.name, or "" */
    const char *unsupported_why; /* why the model cannot be run, or "" */
    const char *tokenizer_model;  /* tokenizer.ggml.model ("llama", "gpt2", ...) */
    const char *tokenizer_pre;    /* tokenizer.ggml.pre, or "" */
    const char *chat_template;  /* NULL when the file has none */
    const char *family;         /* the architecture table's row ("llama", "qwen3", "gemma3", ...), or "" */
    uint64_t file_size;
    uint64_t n_tensors;
    uint64_t n_params;          /* total elements of all tensors */
    uint64_t n_kv;              /* metadata key/value pairs */
    uint32_t alignment;         /* general.alignment of the tensor data */
    uint32_t n_ctx_train;
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_rot, head_dim;
    float rope_freq_base;
    float norm_eps;
    int has_rope_freqs;         /* llama3 rope_freqs.weight present */
    int tied_output;            /* output projection shares token_embd */
    int supported;              /* 1 if the architecture and all tensor types can be run */
    int32_t n_vocab;
    edgellm_token bos, eos, eot, pad, unk;  /* -1 when none */
    int add_bos, add_eos;
    /* from the architecture table (when the architecture is known) */
    uint32_t head_dim_v;        /* value head size (head_dim is the key head size) */
    int rope_neox;              /* 1: NEOX pairs (i, i + n_rot/2); 0: NORM pairs (2i, 2i+1) */
#ifdef EDGELLM_TEST_GROW_STRUCTS
    uint64_t test_grown;        /* test builds only (tests/abi) */
#endif
};

/* struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT; (C; C++ sets d.struct_size itself) */
#define EDGELLM_MODEL_DESC_INIT {.struct_size = (uint32_t)sizeof(struct edgellm_model_desc)}

/* Fills the first out->struct_size bytes of *out (which the caller sets, see
 * EDGELLM_MODEL_DESC_INIT); EDGELLM_ERR_ARG for a NULL argument or a struct_size below 1.0's. */
EDGELLM_API edgellm_status edgellm_model_describe(const struct edgellm_model *model, struct edgellm_model_desc *out);

/* Attention of layer il of a runnable model: sliding-window (swa = 1, over the last `window`
 * positions) or full, and whether it applies RoPE. Fills the first out->struct_size bytes (use
 * EDGELLM_LAYER_DESC_INIT); EDGELLM_ERR_ARG if il is out of range, the model cannot be run or
 * struct_size is below 1.0's. */
struct edgellm_layer_desc {
    uint32_t struct_size;       /* sizeof(struct edgellm_layer_desc): use EDGELLM_LAYER_DESC_INIT */
    int swa;
    uint32_t window;            /* 0 for full attention */
    int rope;
    float rope_freq_base;       /* the base this layer's RoPE uses */
#ifdef EDGELLM_TEST_GROW_STRUCTS
    uint32_t test_grown;        /* test builds only (tests/abi) */
#endif
};
#define EDGELLM_LAYER_DESC_INIT {.struct_size = (uint32_t)sizeof(struct edgellm_layer_desc)}
EDGELLM_API edgellm_status edgellm_model_layer(const struct edgellm_model *model, uint32_t il,
                                               struct edgellm_layer_desc *out);

/* Tensor-type histogram: for i in [0, n), the type name and count of tensors of that type. */
EDGELLM_API int edgellm_model_n_tensor_types(const struct edgellm_model *model);
EDGELLM_API const char *edgellm_model_tensor_type(const struct edgellm_model *model, int i, uint64_t *count);

/* Bytes of weights one decoded token reads: every matrix of the blocks and the output projection
 * (also when it is the tied embedding table), not the input token's embedding row nor the norms
 * and biases. 0 for a vocab-only or unsupported model. Divided into bytes/s it gives tokens/s at a
 * memory bandwidth. */
EDGELLM_API uint64_t edgellm_model_weight_bytes_per_token(const struct edgellm_model *model);

/* Metadata access: the i-th key (NULL when out of range) and its value rendered as text (arrays
 * abbreviated; snprintf rule, -EDGELLM_ERR_ARG when i is out of range). */
EDGELLM_API const char *edgellm_model_meta_key(const struct edgellm_model *model, uint64_t i);
EDGELLM_API int edgellm_model_meta_value(const struct edgellm_model *model, uint64_t i, char *buf, size_t size);
/* The value of metadata key `key` as text (numbers and booleans formatted, arrays abbreviated as
 * `edgellm info` shows them), NUL-terminated in buf[0..size). *needed (if not NULL) is set to the
 * length of the whole text + 1; if that is more than size, the text is truncated and the status is
 * EDGELLM_ERR_BUFFER_TOO_SMALL (buf may be NULL with size 0 to ask). EDGELLM_ERR_NOT_FOUND when the
 * file has no such key; EDGELLM_ERR_ARG for a NULL model or key. */
EDGELLM_API edgellm_status edgellm_model_meta_str(const struct edgellm_model *model, const char *key,
                                                  char *buf, size_t size, size_t *needed);

/* What went wrong at load time without failing the load (e.g. use_mlock could not lock the
 * weights), one line; "" when nothing did. Set only by the edgellm_model_load* functions. */
EDGELLM_API const char *edgellm_model_warning(const struct edgellm_model *model);

/* ------------------------------------------------------------------------- */
/* Vocabulary and text.                                                        */

EDGELLM_API int32_t edgellm_model_n_vocab(const struct edgellm_model *model);

/* Tokenizes text[0..len). add_bos: -1 = as the model's metadata says, 0 = never, 1 = always.
 * parse_special: 1 to match CONTROL tokens written in the text (USER_DEFINED tokens always match).
 * *n_tokens is set to the number of tokens of the text. If it is more than n_max, nothing is
 * written and the status is EDGELLM_ERR_BUFFER_TOO_SMALL (out may be NULL with n_max 0 to ask
 * for the size). On an error, err (if err_size > 0) holds one line. */
EDGELLM_API edgellm_status edgellm_tokenize(const struct edgellm_model *model, const char *text, size_t len,
                                            int add_bos, int parse_special, edgellm_token *out, int32_t n_max,
                                            int32_t *n_tokens, char *err, size_t err_size);

/* The raw bytes a token stands for (byte tokens give their byte; control tokens their text
 * only if render_special). snprintf rule; no NUL inside the returned length; -EDGELLM_ERR_ARG
 * for a token id out of range. */
EDGELLM_API int edgellm_token_to_piece(const struct edgellm_model *model, edgellm_token tok,
                                       int render_special, char *buf, size_t size);
EDGELLM_API const char *edgellm_token_text(const struct edgellm_model *model, edgellm_token tok);
/* 1 if the token ends generation (eos/eot ids and the known end-of-turn control tokens). */
EDGELLM_API int edgellm_token_is_eog(const struct edgellm_model *model, edgellm_token tok);
EDGELLM_API int edgellm_token_is_control(const struct edgellm_model *model, edgellm_token tok);

/* Streaming detokenizer: turns tokens into valid UTF-8 text, never splitting a character.
 * Bytes proven invalid become U+FFFD. */
struct edgellm_detok;
/* EDGELLM_ERR_ARG (NULL model or out) or EDGELLM_ERR_NOMEM; *out is NULL on failure. */
EDGELLM_API edgellm_status edgellm_detok_new(const struct edgellm_model *model, int render_special,
                                             struct edgellm_detok **out);
/* Writes the text of tok that is complete so far to buf, NUL-terminated, and returns its length.
 * If that does not fit (return value >= size), nothing is consumed: call again with the same
 * token and a buffer of at least the returned value + 1 bytes (a token of invalid bytes can grow
 * 3x when each byte becomes U+FFFD). Negative status on error (-EDGELLM_ERR_NOMEM, ...). */
EDGELLM_API int edgellm_detok_push(struct edgellm_detok *d, edgellm_token tok, char *buf, size_t size);
/* Emits the pending bytes at the end of generation (incomplete ones as U+FFFD); the same
 * retry rule as edgellm_detok_push (the pending bytes stay until they fit). */
EDGELLM_API int edgellm_detok_flush(struct edgellm_detok *d, char *buf, size_t size);
EDGELLM_API void edgellm_detok_reset(struct edgellm_detok *d);
EDGELLM_API void edgellm_detok_free(struct edgellm_detok *d);

/* ------------------------------------------------------------------------- */
/* Chat templates (a Jinja subset interpreter, Hugging Face semantics).        */

struct edgellm_template_params {
    uint32_t struct_size;     /* sizeof(struct edgellm_template_params) */
    int add_generation_prompt;
    const char *bos_token;    /* NULL: not defined in the template */
    const char *eos_token;    /* NULL: not defined */
    const char *date;         /* "YYYY-MM-DD" seen by strftime_now; NULL: today */
    const char *kwargs_json;  /* a JSON object whose members become template variables, or NULL */
#ifdef EDGELLM_TEST_GROW_STRUCTS
    uint64_t test_grown;      /* test builds only (tests/abi); must be 0 */
#endif
};

static inline struct edgellm_template_params edgellm_template_default_params(void) {
    struct edgellm_template_params p;
    p.struct_size = (uint32_t)sizeof p;
    p.add_generation_prompt = 0;
    p.bos_token = NULL;
    p.eos_token = NULL;
    p.date = NULL;
    p.kwargs_json = NULL;
#ifdef EDGELLM_TEST_GROW_STRUCTS
    p.test_grown = 0;
#endif
    return p;
}

/* Renders template_src with messages_json (a JSON list of {"role","content",...} objects).
 * On success *out is a NUL-terminated string to release with edgellm_free().
 * On failure (EDGELLM_ERR_TEMPLATE for a parse error, an unsupported construct or
 * raise_exception; EDGELLM_ERR_FORMAT for bad JSON) err holds one line. */
EDGELLM_API edgellm_status edgellm_template_render(const char *template_src, const char *messages_json,
                                                   const struct edgellm_template_params *params,
                                                   char **out, char *err, size_t err_size);

/* How a conversation becomes a prompt (edgellm_chat_render, edgellm_chat_tokenize). */
struct edgellm_chat_params {
    uint32_t struct_size;       /* sizeof(struct edgellm_chat_params) */
    int add_generation_prompt;  /* 1 (default): end with the assistant's header */
    int enable_thinking;        /* 1 (default): passed as the template variable enable_thinking */
    const char *kwargs_json;    /* a JSON object of further template variables, or NULL */
    const char *prompt;         /* edgellm_chat_tokenize only: a prompt already rendered (raw text
                                   with the template's control tokens) to tokenize by the same rule
                                   instead of rendering messages_json (then NULL); NULL by default */
#ifdef EDGELLM_TEST_GROW_STRUCTS
    uint64_t test_grown;        /* test builds only (tests/abi); must be 0 */
#endif
};

static inline struct edgellm_chat_params edgellm_chat_default_params(void) {
    struct edgellm_chat_params p;
    p.struct_size = (uint32_t)sizeof p;
    p.add_generation_prompt = 1;
    p.enable_thinking = 1;
    p.kwargs_json = NULL;
    p.prompt = NULL;
#ifdef EDGELLM_TEST_GROW_STRUCTS
    p.test_grown = 0;
#endif
    return p;
}

/* Renders a conversation (messages_json: a JSON list of {"role","content",...}) for a model: its
 * own template with its bos/eos tokens, or — when the model has none or it cannot be rendered —
 * a ChatML prompt (*used_fallback set to 1, and err holds why, with EDGELLM_OK). *out is released
 * with edgellm_free(). params NULL: the defaults. */
EDGELLM_API edgellm_status edgellm_chat_render(const struct edgellm_model *model, const char *messages_json,
                                               const struct edgellm_chat_params *params, char **out,
                                               int *used_fallback, char *err, size_t err_size);

/* A conversation as the tokens to evaluate: rendered as by edgellm_chat_render and tokenized with
 * the template's control tokens parsed and the model's BOS rule, keeping one BOS where the
 * template writes it too. The one place where chat prompts become tokens (run --chat, chat, serve). */
struct edgellm_chat_prompt {
    uint32_t struct_size;       /* sizeof(struct edgellm_chat_prompt): use EDGELLM_CHAT_PROMPT_INIT */
    int32_t n_tokens;
    edgellm_token *tokens;      /* [n_tokens] */
    char *text;                 /* the rendered prompt, NUL-terminated */
    int used_fallback;          /* 1: a ChatML prompt was used (err said why) */
    int opens_think;            /* 1: the prompt ends inside an open <think> block */
#ifdef EDGELLM_TEST_GROW_STRUCTS
    uint64_t test_grown;        /* test builds only (tests/abi) */
#endif
};

#define EDGELLM_CHAT_PROMPT_INIT {.struct_size = (uint32_t)sizeof(struct edgellm_chat_prompt)}

/* Fills the first out->struct_size bytes of *out; release it with edgellm_chat_prompt_free.
 * On failure out holds no allocation and err (if err_size > 0) one line. With EDGELLM_OK, a
 * non-empty err is a warning (the template fallback). */
EDGELLM_API edgellm_status edgellm_chat_tokenize(const struct edgellm_model *model, const char *messages_json,
                                                 const struct edgellm_chat_params *params,
                                                 struct edgellm_chat_prompt *out, char *err, size_t err_size);
/* Frees tokens and text and sets them to NULL (safe on a zeroed or already freed prompt). */
EDGELLM_API void edgellm_chat_prompt_free(struct edgellm_chat_prompt *p);

/* Tool calls: parses a model's raw output (special tokens written out as text) into the OpenAI
 * assistant message it stands for, as JSON: {"content": S|null, "reasoning_content": S|null,
 * "tool_calls": [{"type": "function", "function": {"name": N, "arguments": "<JSON text>"}}...]}
 * (no ids: the caller assigns them). family: "hermes" (Qwen2.5, Qwen3: <tool_call> JSON blocks),
 * "llama3" (one JSON call {"name", "parameters"}, optionally after <|python_tag|>, or a built-in
 * tool's NAME.call(k="v")), "deepseek-r1" (its tool-call markers); "qwen3" is "hermes".
 * think_open: the prompt ended inside <think> (the text up to </think> is reasoning); otherwise a
 * leading <think>...</think> is. content and reasoning are stripped, null when empty. Malformed
 * calls are no error: no tool_calls, and the text after the reasoning is the content verbatim.
 * *out_json is released with edgellm_free(). EDGELLM_ERR_ARG for an unknown family. */
EDGELLM_API edgellm_status edgellm_parse_tool_calls(const char *family, const char *output, int think_open,
                                                    char **out_json, char *err, size_t err_size);

/* ------------------------------------------------------------------------- */
/* Context: KV cache and all scratch for forward passes, allocated at creation. */

struct edgellm_context;

typedef enum edgellm_kv_type {
    EDGELLM_KV_F16 = 0,
    EDGELLM_KV_F32 = 1,
    EDGELLM_KV_Q8_0 = 2,
} edgellm_kv_type;

struct edgellm_context_params {
    uint32_t struct_size; /* sizeof(struct edgellm_context_params) */
    uint32_t n_ctx;       /* positions per sequence; 0 = min(model context, 4096) */
    uint32_t n_batch;     /* max tokens per decode call; 0 = 512 */
    uint32_t n_seq;       /* independent sequences (server slots); 0 = 1 */
    int n_threads;        /* 0 = number of cores */
    edgellm_kv_type kv_type;
    int logits_all;       /* reserve room for logits at every position of a batch */
#ifdef EDGELLM_TEST_GROW_STRUCTS
    uint64_t test_grown;  /* test builds only (tests/abi); must be 0 */
#endif
};

static inline struct edgellm_context_params edgellm_context_default_params(void) {
    struct edgellm_context_params p;
    p.struct_size = (uint32_t)sizeof p;
    p.n_ctx = 0;
    p.n_batch = 0;
    p.n_seq = 0;
    p.n_threads = 0;
    p.kv_type = EDGELLM_KV_F16;
    p.logits_all = 0;
#ifdef EDGELLM_TEST_GROW_STRUCTS
    p.test_grown = 0;
#endif
    return p;
}

/* The bytes edgellm_context_new would allocate for these params (KV cache, token history,
 * scratch, logits; not the weights, which stay in the mapped file): what an app checks against its
 * memory budget before creating the context. Within 1% of edgellm_context_memory_size. */
EDGELLM_API edgellm_status edgellm_context_memory_needed(const struct edgellm_model *model,
                                                         const struct edgellm_context_params *params,
                                                         uint64_t *bytes);
/* Creates a context for a model; params NULL: the defaults. On failure *out is NULL and err
 * (if err_size > 0) holds one line. */
EDGELLM_API edgellm_status edgellm_context_new(struct edgellm_model *model, const struct edgellm_context_params *params,
                                               struct edgellm_context **out, char *err, size_t err_size);
EDGELLM_API void edgellm_context_free(struct edgellm_context *ctx);
EDGELLM_API const char *edgellm_context_errmsg(const struct edgellm_context *ctx);
EDGELLM_API uint32_t edgellm_context_n_ctx(const struct edgellm_context *ctx);
EDGELLM_API uint32_t edgellm_context_n_batch(const struct edgellm_context *ctx);
/* The bytes the context allocated (counted by the library's allocator); 0 for NULL. */
EDGELLM_API uint64_t edgellm_context_memory_size(const struct edgellm_context *ctx); /* bytes it allocated */
/* Threads used by the next decodes: 1 .. the count the context was created with (0 = that
 * count); more is EDGELLM_ERR_ARG (every buffer was sized at creation). Logits do not depend on
 * the thread count (each output is computed by one thread in the same order). */
EDGELLM_API edgellm_status edgellm_context_set_threads(struct edgellm_context *ctx, int32_t n_threads);

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
/* Forgets positions >= n_keep of a sequence (0 clears it). On models with sliding-window layers
 * whose KV rings no longer hold the window before n_keep, the sequence is cleared instead:
 * read edgellm_context_seq_len to learn where to resume. */
EDGELLM_API edgellm_status edgellm_context_seq_truncate(struct edgellm_context *ctx, int32_t seq_id, uint32_t n_keep);

/* Context shift: forgets positions [n_keep, n_keep + n_discard) of a sequence and moves the later
 * ones down by n_discard without recomputing them: their cached keys are rotated back by
 * n_discard positions (RoPE layers only; every KV cache type, a Q8_0 row is dequantized, rotated
 * and quantized again). The moved tokens keep the keys and values computed while the discarded
 * ones were still there (as the reference engine's context shift does). seq_len becomes
 * seq_len - n_discard. EDGELLM_ERR_ARG for a bad sequence or n_keep + n_discard > seq_len;
 * EDGELLM_ERR_UNSUPPORTED (the sequence unchanged) when a sliding-window layer's ring no longer
 * holds a position the shifted sequence needs: evaluate its tokens again instead. */
EDGELLM_API edgellm_status edgellm_context_seq_shift(struct edgellm_context *ctx, int32_t seq_id, uint32_t n_keep,
                                                     uint32_t n_discard);

/* The tokens a sequence holds (positions 0 .. seq_len - 1): *n = seq_len, and the first
 * min(n_max, seq_len) of them in out; EDGELLM_ERR_BUFFER_TOO_SMALL when n_max < seq_len (out may
 * be NULL with n_max 0 to ask), EDGELLM_ERR_ARG for a bad sequence. */
EDGELLM_API edgellm_status edgellm_context_seq_tokens(struct edgellm_context *ctx, int32_t seq_id, edgellm_token *out,
                                                      int32_t n_max, int32_t *n);

/* Sequence state: the tokens and KV cache of one sequence as a self-contained byte string
 * (versioned, with a checksum over every byte and the identity of the model: a hash of its GGUF
 * metadata, tensor table and a sample of every tensor's bytes), to save a conversation and resume
 * it later without evaluating it again.
 * _size: the bytes _get will write for the sequence as it is now; 0 for a bad ctx or seq_id.
 * _get: writes them to buf; *written (if not NULL) is set to that size. A buffer smaller than
 *   _size is EDGELLM_ERR_ARG (nothing written).
 * _set: replaces the sequence with a saved state. After it, seq_len is the saved length and the
 *   next token's logits are bit-identical to those of the context the state was saved from. It
 *   refuses, leaving the sequence empty (seq_len 0): a truncated buffer or any changed byte
 *   (EDGELLM_ERR_FORMAT), a state of another model or KV cache type (EDGELLM_ERR_UNSUPPORTED),
 *   a state longer than the context (EDGELLM_ERR_CONTEXT_FULL). */
EDGELLM_API size_t edgellm_context_seq_state_size(const struct edgellm_context *ctx, int32_t seq_id); /* 0 on bad ctx/seq */
EDGELLM_API edgellm_status edgellm_context_seq_state_get(struct edgellm_context *ctx, int32_t seq_id,
                                                         void *buf, size_t size, size_t *written);
EDGELLM_API edgellm_status edgellm_context_seq_state_set(struct edgellm_context *ctx, int32_t seq_id,
                                                         const void *buf, size_t size);
/* Makes sequence dst a copy of sequence src (tokens and KV cache, no recomputation; dst's former
 * content is dropped): a shared prefix evaluated once. The next token's logits on dst are
 * bit-identical to those on src. src == dst does nothing. */
EDGELLM_API edgellm_status edgellm_context_seq_copy(struct edgellm_context *ctx, int32_t src, int32_t dst);

/* Called between layers; return nonzero to abort the decode (EDGELLM_ERR_ABORTED). */
typedef int (*edgellm_abort_fn)(void *user);
EDGELLM_API void edgellm_context_set_abort(struct edgellm_context *ctx, edgellm_abort_fn fn, void *user);

/* Called during a decode with the input of every matrix multiplication, before it runs:
 * weight is the GGUF name of the weight ("blk.3.attn_q.weight", "output.weight" — or
 * "token_embd.weight" when the output projection is tied to it; valid during the call), x holds n_rows rows of n_cols floats (one row per token of the micro-batch; for
 * the output projection only the rows that asked for logits). The rows are read-only and
 * valid during the call. Used by the importance matrix below; fn NULL removes the hook. */
typedef void (*edgellm_activation_fn)(void *user, const char *weight, const float *x, int32_t n_rows, int64_t n_cols);
EDGELLM_API void edgellm_context_set_activation_hook(struct edgellm_context *ctx, edgellm_activation_fn fn, void *user);

/* ------------------------------------------------------------------------- */
/* Importance matrix: per input column of every weight matrix of the blocks, the sum of the  */
/* squared activations and the number of tokens, collected over decodes and written in        */
/* llama.cpp's imatrix GGUF format (general.type = "imatrix", imatrix.datasets,               */
/* imatrix.chunk_count, imatrix.chunk_size, and per weight the F32 tensors <name>.in_sum2      */
/* [n_cols] and <name>.counts [1]), so files move between edgellm and llama-quantize.          */
/* As llama-imatrix does, it collects only blk.* weights (output.weight with process_output)   */
/* and skips multiplications over fewer than 16 rows.                                          */

struct edgellm_imatrix;

struct edgellm_imatrix_params {
    uint32_t struct_size;     /* sizeof(struct edgellm_imatrix_params) */
    uint32_t chunk_size;      /* tokens per chunk (recorded as imatrix.chunk_size); 0 = 512 */
    int32_t process_output;   /* 1: collect output.weight as well */
};

static inline struct edgellm_imatrix_params edgellm_imatrix_default_params(void) {
    struct edgellm_imatrix_params p = {sizeof(struct edgellm_imatrix_params), 512, 0};
    return p;
}

/* A new, empty collector. params NULL = defaults. */
EDGELLM_API edgellm_status edgellm_imatrix_new(const struct edgellm_imatrix_params *params, struct edgellm_imatrix **out,
                                               char *err, size_t err_size);
EDGELLM_API void edgellm_imatrix_free(struct edgellm_imatrix *im);
EDGELLM_API const char *edgellm_imatrix_errmsg(const struct edgellm_imatrix *im);
/* Collects from every later decode on ctx (replaces ctx's activation hook); im NULL detaches.
 * The collector must outlive the attachment. A decode that fails or is aborted part way has
 * already added the layers it ran (start over with a new collector to keep counts equal). */
EDGELLM_API void edgellm_imatrix_attach(struct edgellm_context *ctx, struct edgellm_imatrix *im);
/* EDGELLM_OK, or the first error met while collecting (a non-finite activation, a weight whose
 * width changed, out of memory); collection stops at the first error. */
EDGELLM_API edgellm_status edgellm_imatrix_status(const struct edgellm_imatrix *im);
/* Records the name of a text the matrix was computed on (imatrix.datasets). */
EDGELLM_API edgellm_status edgellm_imatrix_add_dataset(struct edgellm_imatrix *im, const char *name);
/* Collected weights, sorted by name. Entry i: its name (valid until the next decode or free),
 * *sum2 = the n_cols sums of squares, *count = tokens seen. NULL if i is out of range. */
EDGELLM_API int32_t edgellm_imatrix_n_entries(const struct edgellm_imatrix *im);
EDGELLM_API const char *edgellm_imatrix_entry(const struct edgellm_imatrix *im, int32_t i, const float **sum2,
                                              int64_t *n_cols, int64_t *count);
/* Completed chunks: the largest count divided by chunk_size (imatrix.chunk_count). */
EDGELLM_API uint32_t edgellm_imatrix_n_chunks(const struct edgellm_imatrix *im);
/* Writes the GGUF file (under a temporary name, renamed when complete). */
EDGELLM_API edgellm_status edgellm_imatrix_save(struct edgellm_imatrix *im, const char *path);

/* ------------------------------------------------------------------------- */
/* Sampler.                                                                    */

struct edgellm_sampler;

/* One entry of edgellm_sampler_params.logit_bias. */
struct edgellm_logit_bias { edgellm_token token; float bias; };

struct edgellm_sampler_params {
    uint32_t struct_size;     /* sizeof(struct edgellm_sampler_params) */
    float temperature;        /* <= 0: greedy */
    int32_t top_k;            /* <= 0: off */
    float top_p;              /* >= 1: off */
    float min_p;              /* <= 0: off */
    float repeat_penalty;     /* 1: off */
    float presence_penalty;   /* 0: off */
    float frequency_penalty;  /* 0: off */
    int32_t penalty_last_n;   /* window of recent tokens the penalties look at */
    uint64_t seed;
    /* appended after 1.0: added to the logits before any other step (e.g. -INFINITY bans a
     * token); entries with a token id out of range are ignored; copied by edgellm_sampler_new */
    const struct edgellm_logit_bias *logit_bias;
    int32_t n_logit_bias;
#ifdef EDGELLM_TEST_GROW_STRUCTS
    uint64_t test_grown;      /* test builds only (tests/abi); must be 0 */
#endif
};

static inline struct edgellm_sampler_params edgellm_sampler_default_params(void) {
    struct edgellm_sampler_params p;
    p.struct_size = (uint32_t)sizeof p;
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.penalty_last_n = 64;
    p.seed = 0x5eed5eed5eedULL;
    p.logit_bias = NULL;
    p.n_logit_bias = 0;
#ifdef EDGELLM_TEST_GROW_STRUCTS
    p.test_grown = 0;
#endif
    return p;
}

/* A sampler for logits of n_vocab entries; params NULL: the defaults. EDGELLM_ERR_ARG for
 * n_vocab <= 0, a NULL out or a bad struct_size; EDGELLM_ERR_NOMEM. *out is NULL on failure. */
EDGELLM_API edgellm_status edgellm_sampler_new(const struct edgellm_sampler_params *params, int32_t n_vocab,
                                               struct edgellm_sampler **out);
EDGELLM_API void edgellm_sampler_free(struct edgellm_sampler *s);
/* Picks a token from logits [n_vocab]; does not modify the logits. -1 for a NULL sampler or logits. */
EDGELLM_API edgellm_token edgellm_sampler_sample(struct edgellm_sampler *s, const float *logits);
/* Records a token (prompt or generated) for the penalties, and — with a grammar set — moves the
 * grammar past it: a token the grammar forbids is EDGELLM_ERR_ARG and changes nothing. Tokens of
 * the prompt are accepted before the grammar is set. */
EDGELLM_API edgellm_status edgellm_sampler_accept(struct edgellm_sampler *s, edgellm_token tok);
/* Clears the penalty window, reseeds, and puts the grammar (if any) back at its start. */
EDGELLM_API void edgellm_sampler_reset(struct edgellm_sampler *s);

/* ------------------------------------------------------------------------- */
/* Constrained decoding: grammars (GBNF as llama.cpp's users write it, or a JSON schema) that  */
/* every sampled token must follow. A grammar is immutable and may be shared by samplers.     */

struct edgellm_grammar;

/* Compiles GBNF text; root names the start rule (NULL: "root"). On failure *out is NULL and err
 * holds one line with the line and column (EDGELLM_ERR_FORMAT). */
EDGELLM_API edgellm_status edgellm_grammar_from_gbnf(const char *gbnf, const char *root, struct edgellm_grammar **out,
                                                     char *err, size_t err_size);
/* Compiles a JSON schema (text). Unknown keywords are ignored; see edgellm_grammar_from_json_schema_ex. */
EDGELLM_API edgellm_status edgellm_grammar_from_json_schema(const char *schema_json, struct edgellm_grammar **out,
                                                            char *err, size_t err_size);
/* strict 1: a keyword the compiler does not enforce is an error naming it (EDGELLM_ERR_UNSUPPORTED). */
EDGELLM_API edgellm_status edgellm_grammar_from_json_schema_ex(const char *schema_json, int strict,
                                                               struct edgellm_grammar **out, char *err, size_t err_size);
/* The GBNF text a JSON schema compiles to (start rule "root"), for callers that embed it in a
 * larger grammar; *gbnf is released with edgellm_free(). Errors as edgellm_grammar_from_json_schema_ex. */
EDGELLM_API edgellm_status edgellm_json_schema_to_gbnf(const char *schema_json, int strict, char **gbnf, char *err,
                                                       size_t err_size);
EDGELLM_API void edgellm_grammar_free(struct edgellm_grammar *g);
/* Constrains a sampler to g (NULL g removes it); the grammar starts at the next sampled token.
 * g must outlive the sampler's use of it. EDGELLM_ERR_ARG when the model's vocabulary size is
 * not the sampler's; EDGELLM_ERR_NOMEM. Masking is exact: disallowed tokens are removed before
 * temperature and the truncation samplers (greedy and plain temperature sampling check the
 * drawn token first and mask only when it is rejected, which gives the same distribution). */
EDGELLM_API edgellm_status edgellm_sampler_set_grammar(struct edgellm_sampler *s, const struct edgellm_model *model,
                                                       const struct edgellm_grammar *g);
/* The number of tokens that may still be generated, the next one and the end-of-generation token
 * included (< 0: no limit, the default); it goes down by one with each accepted token. With a grammar, only tokens after which the grammar can
 * still be completed within the rest are sampled, so a constrained answer always finishes. */
EDGELLM_API void edgellm_sampler_set_budget(struct edgellm_sampler *s, int32_t n_left);
/* 1 when the grammar is complete (the end-of-generation token is allowed); 0 otherwise or with no grammar. */
EDGELLM_API int edgellm_sampler_grammar_complete(const struct edgellm_sampler *s);

/* ------------------------------------------------------------------------- */
/* Conversion: a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json,  */
/* tokenizer_config.json, generation_config.json) to a GGUF file, streamed.                     */

/* Called as tensors are written: done/total bytes of source weights. Return nonzero to abort
 * (the call then fails with EDGELLM_ERR_ABORTED and no output file is left). */
typedef int (*edgellm_convert_progress_fn)(void *user, uint64_t done, uint64_t total);

struct edgellm_convert_params {
    uint32_t struct_size;     /* sizeof(struct edgellm_convert_params): set by the default params */
    const char *outtype;      /* "f32", "f16" (default), "bf16", "q8_0", or a quantized file type
                                 ("q4_0", "q4_k_m", ...; see edgellm_convert_outtype_name) */
    int n_threads;            /* 0 = number of cores */
    edgellm_convert_progress_fn progress;  /* may be NULL */
    void *progress_user;
};

static inline struct edgellm_convert_params edgellm_convert_default_params(void) {
    struct edgellm_convert_params p = {sizeof(struct edgellm_convert_params), "f16", 0, 0, 0};
    return p;
}

/* Converts hf_dir to out_path (written under a temporary name next to it and renamed at the end,
 * so out_path is never left half-written). Architectures: llama, qwen2, qwen3. Returns
 * EDGELLM_ERR_ARG for a bad parameter (unknown outtype), EDGELLM_ERR_IO / FORMAT / UNSUPPORTED for
 * a missing, malformed or unsupported input, with one line in err. */
EDGELLM_API edgellm_status edgellm_model_convert(const char *hf_dir, const char *out_path,
                                                 const struct edgellm_convert_params *params, char *err,
                                                 size_t err_size);
/* The i-th accepted outtype name, or NULL past the end (for --help). */
EDGELLM_API const char *edgellm_convert_outtype_name(int i);

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
 * (after whitespace) opens reasoning. EDGELLM_ERR_ARG (NULL out, n_stops < 0, stops NULL with
 * n_stops > 0) or EDGELLM_ERR_NOMEM; *out is NULL on failure. */
EDGELLM_API edgellm_status edgellm_textstream_new(const char *const *stops, int n_stops, int in_think,
                                                  struct edgellm_textstream **out);
/* Feeds text (any split, e.g. one token's piece). Text that could be the beginning of a stop string
 * or of a tag is held back until it is decided; a stop string itself is never emitted.
 * Returns 0 to go on, 1 once a stop string has matched (then and on every later call; the text
 * before the stop was emitted, the rest is dropped), a negative status on error
 * (-EDGELLM_ERR_NOMEM, -EDGELLM_ERR_ARG). */
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

/* ------------------------------------------------------------------------- */
/* Quantization: a GGUF file (F32/F16/BF16 weights) to a quantized GGUF file, byte for byte
 * what llama.cpp's llama-quantize writes for the same file type (and importance matrix).      */

/* Tensor types (GGML type ids as stored in GGUF): the ones the quantizer can produce. */
#define EDGELLM_TYPE_F32 0
#define EDGELLM_TYPE_F16 1
#define EDGELLM_TYPE_Q4_0 2
#define EDGELLM_TYPE_Q4_1 3
#define EDGELLM_TYPE_Q5_0 6
#define EDGELLM_TYPE_Q5_1 7
#define EDGELLM_TYPE_Q8_0 8
#define EDGELLM_TYPE_Q2_K 10
#define EDGELLM_TYPE_Q3_K 11
#define EDGELLM_TYPE_Q4_K 12
#define EDGELLM_TYPE_Q5_K 13
#define EDGELLM_TYPE_Q6_K 14
#define EDGELLM_TYPE_IQ4_NL 20
#define EDGELLM_TYPE_IQ4_XS 23
#define EDGELLM_TYPE_BF16 30
#define EDGELLM_TYPE_COUNT 40 /* type ids are below this */

/* ggml's name of a type id ("q4_K", "iq4_xs", "f16"), or NULL. */
EDGELLM_API const char *edgellm_type_name(int type);
/* Type id of a ggml type name (case-insensitive: "q4_k", "Q8_0", "bf16") that the quantizer can
 * produce, or -1. */
EDGELLM_API int edgellm_type_from_name(const char *name);

/* File types, numbered as llama.cpp's LLAMA_FTYPE (the value written to general.file_type). */
#define EDGELLM_FTYPE_F32 0
#define EDGELLM_FTYPE_F16 1
#define EDGELLM_FTYPE_Q4_0 2
#define EDGELLM_FTYPE_Q4_1 3
#define EDGELLM_FTYPE_Q8_0 7
#define EDGELLM_FTYPE_Q5_0 8
#define EDGELLM_FTYPE_Q5_1 9
#define EDGELLM_FTYPE_Q2_K 10
#define EDGELLM_FTYPE_Q3_K_S 11
#define EDGELLM_FTYPE_Q3_K_M 12
#define EDGELLM_FTYPE_Q3_K_L 13
#define EDGELLM_FTYPE_Q4_K_S 14
#define EDGELLM_FTYPE_Q4_K_M 15
#define EDGELLM_FTYPE_Q5_K_S 16
#define EDGELLM_FTYPE_Q5_K_M 17
#define EDGELLM_FTYPE_Q6_K 18
#define EDGELLM_FTYPE_IQ4_NL 25
#define EDGELLM_FTYPE_IQ4_XS 30
#define EDGELLM_FTYPE_BF16 32

/* File type of a name as llama-quantize spells it ("Q4_K_M", "IQ4_XS", "BF16"; case-insensitive;
 * also "Q3_K" = Q3_K_M, "Q4_K" = Q4_K_M, "Q5_K" = Q5_K_M as llama-quantize accepts), or -1. */
EDGELLM_API int edgellm_ftype_from_name(const char *name);
/* Canonical name of a file type ("Q4_K_M"), or NULL. */
EDGELLM_API const char *edgellm_ftype_name(int ftype);

/* Called as each tensor is started (i of n, in file order), with its source and chosen types. */
typedef void (*edgellm_quantize_progress_fn)(void *user, uint64_t i, uint64_t n, const char *name, int type_in,
                                             int type_out);

/* What was written: sizes are tensor data bytes (as llama-quantize reports them); bits per weight
 * = size * 8 / n_elements. n_per_type[t] counts the output tensors of type id t. */
struct edgellm_quantize_stats {
    uint64_t size_in, size_out, n_elements, n_tensors;
    uint32_t n_fallback;               /* tensors whose row length forced a fallback type */
    uint32_t n_imatrix;                /* tensors quantized with importance weights */
    uint32_t n_per_type[EDGELLM_TYPE_COUNT];
};

struct edgellm_quantize_params {
    uint32_t struct_size;         /* sizeof(struct edgellm_quantize_params): set by the default below */
    int ftype;                    /* EDGELLM_FTYPE_* (default Q8_0) */
    int n_threads;                /* 0 = number of cores */
    int output_tensor_type;       /* type of output.weight (and of a tied token_embd); -1 = the mix's */
    int token_embedding_type;     /* type of token_embd.weight; -1 = the mix's */
    int pure;                     /* 1: every quantizable tensor gets the file type's base type */
    int allow_requantize;         /* 1: accept already-quantized inputs (quality loss); else refused */
    const char *imatrix_path;     /* importance matrix (GGUF imatrix format), or NULL */
    /* Per-tensor overrides: a tensor whose name contains tensor_type_names[i] (the first match
     * wins) gets tensor_type_types[i] (an EDGELLM_TYPE_*), as llama-quantize --tensor-type. */
    const char *const *tensor_type_names;
    const int *tensor_type_types;
    int n_tensor_types;
    edgellm_quantize_progress_fn progress; /* may be NULL */
    void *progress_user;
    struct edgellm_quantize_stats *stats;   /* filled on success if not NULL */
};

static inline struct edgellm_quantize_params edgellm_quantize_default_params(void) {
    struct edgellm_quantize_params p;
    p.struct_size = (uint32_t)sizeof(struct edgellm_quantize_params);
    p.ftype = EDGELLM_FTYPE_Q8_0;
    p.n_threads = 0;
    p.output_tensor_type = -1;
    p.token_embedding_type = -1;
    p.pure = 0;
    p.allow_requantize = 0;
    p.imatrix_path = NULL;
    p.tensor_type_names = NULL;
    p.tensor_type_types = NULL;
    p.n_tensor_types = 0;
    p.progress = NULL;
    p.progress_user = NULL;
    p.stats = NULL;
    return p;
}

/* Quantizes in_path (a GGUF model with F32/F16/BF16 weights) to out_path with llama.cpp's
 * per-tensor type rules and reference algorithms (identical bytes for the same inputs). The file
 * is written under a temporary name (out_path + ".tmp") and renamed when complete, so out_path
 * never holds a partial file. params NULL = defaults. Errors: EDGELLM_ERR_IO / _FORMAT (bad or
 * unreadable file), _UNSUPPORTED (quantized input without allow_requantize, a type that cannot
 * be produced), _ARG (bad params), with one line in err. */
EDGELLM_API edgellm_status edgellm_model_quantize(const char *in_path, const char *out_path,
                                                  const struct edgellm_quantize_params *params, char *err,
                                                  size_t err_size);

#ifdef __cplusplus
}
#endif
#endif /* EDGELLM_H */
