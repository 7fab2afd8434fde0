/* Vocabulary and tokenizers, read from a GGUF file's tokenizer.ggml.* metadata: token texts,
 * scores and types, BPE merges, special-token ids. Two tokenizer models are implemented:
 * SentencePiece-style score merges ("llama") and byte-level BPE ("gpt2", with the
 * pre-tokenizers of pretok.h). Other models load (so `info` works) but cannot tokenize.
 * Token ids and text lookups use hash tables; the vocab owns copies of all strings. */
#ifndef EDGELLM_VOCAB_H
#define EDGELLM_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "edgellm.h"

struct gguf_file;
struct vocab;

/* Token types of tokenizer.ggml.token_type (as written by the GGUF converters). */
enum vocab_token_type {
    VOCAB_TT_UNDEFINED = 0, VOCAB_TT_NORMAL = 1, VOCAB_TT_UNKNOWN = 2, VOCAB_TT_CONTROL = 3,
    VOCAB_TT_USER_DEFINED = 4, VOCAB_TT_UNUSED = 5, VOCAB_TT_BYTE = 6,
};

/* Reads the vocabulary. A file without tokenizer metadata gives an empty vocab (0 tokens).
 * Returns an edgellm_status; on failure *out is NULL and err holds one line. */
edgellm_status vocab_load(const struct gguf_file *f, struct vocab **out, char *err, size_t err_size);
void vocab_free(struct vocab *v);

int32_t vocab_n_tokens(const struct vocab *v);
/* Special ids, -1 when none (an id >= n_tokens in the file also means none). */
int32_t vocab_bos(const struct vocab *v);
int32_t vocab_eos(const struct vocab *v);
int32_t vocab_eot(const struct vocab *v);
int32_t vocab_eom(const struct vocab *v);
int32_t vocab_pad(const struct vocab *v);
int32_t vocab_unk(const struct vocab *v);
/* Whether the model wants BOS / EOS around a prompt: add_bos_token / add_eos_token, or when
 * absent the convention of its tokenizer (SentencePiece: BOS; BPE: BOS only for Llama 3). */
int vocab_add_bos(const struct vocab *v);
int vocab_add_eos(const struct vocab *v);
/* tokenizer.ggml.model and .pre ("" when absent). Valid until vocab_free. */
const char *vocab_model_name(const struct vocab *v);
const char *vocab_pre_name(const struct vocab *v);

/* NUL-terminated raw text of a token, or NULL when out of range. */
const char *vocab_token_text(const struct vocab *v, int32_t tok);
int vocab_token_type(const struct vocab *v, int32_t tok);
int vocab_is_eog(const struct vocab *v, int32_t tok);
/* Id of an exact token text, or -1. */
int32_t vocab_find(const struct vocab *v, const char *text, size_t len);

/* Tokenizes text[0..len). add_bos: -1 = as the metadata says (BOS and EOS), 0 = neither,
 * 1 = BOS always (EOS as the metadata says). parse_special: also match CONTROL tokens written
 * in the text (USER_DEFINED tokens always match). On success *out (malloc'ed, caller frees)
 * holds *n_out ids. Returns an edgellm_status with one line in err on failure. */
edgellm_status vocab_tokenize(const struct vocab *v, const char *text, size_t len, int add_bos, int parse_special,
                              int32_t **out, size_t *n_out, char *err, size_t err_size);

/* The bytes a token stands for (snprintf rule, no NUL counted). CONTROL/UNKNOWN tokens give
 * their text only when render_special. Returns -1 for an id out of range. */
int vocab_token_to_piece(const struct vocab *v, int32_t tok, int render_special, char *buf, size_t size);

#endif
