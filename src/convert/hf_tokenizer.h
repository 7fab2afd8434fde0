/* hf_tokenizer: a Hugging Face tokenizer (tokenizer.json, tokenizer_config.json, the special
 * token ids of config.json / generation_config.json) turned into the GGUF vocabulary that
 * tokenizes the same way: the tokenizer.ggml.* arrays and keys llama.cpp's converter writes.
 *
 * Two kinds are understood, recognised from the tokenizer's own rules (never by hashing its
 * output):
 * - byte-level BPE (a ByteLevel pre-tokenizer): model "gpt2", merges kept in rank order, and the
 *   pre-tokenizer named from the Split regex (Llama 3's \p{N}{1,3} -> "llama-bpe"; Qwen2's \p{N}
 *   -> "deepseek-r1-qwen" when a TemplateProcessing adds <｜begin▁of▁sentence｜>, else "qwen2";
 *   ByteLevel with its own regex -> "gpt-2");
 * - SentencePiece-style BPE (Prepend/Replace "▁" normalizer or a Metaspace pre-tokenizer, byte
 *   fallback): model "llama" with scores -rank of the first merge producing each token, so that
 *   the score-ordered merge loop of a SentencePiece tokenizer applies the merges in BPE order
 *   (llama.cpp's converter writes -1000 for every score here and tokenizes differently).
 * Anything else (Unigram, WordPiece, an unknown Split regex) is refused with a message.
 */
#ifndef EDGELLM_HF_TOKENIZER_H
#define EDGELLM_HF_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

struct json_value;

struct hf_vocab {
    const char *model;        /* "llama" or "gpt2" (static) */
    const char *pre;          /* tokenizer.ggml.pre (static) */
    uint32_t n_tokens;
    const char **tokens;      /* [n_tokens] */
    uint64_t *token_lens;
    float *scores;            /* [n_tokens] for "llama", NULL for "gpt2" */
    int32_t *types;           /* [n_tokens] GGUF token types */
    uint32_t n_merges;
    const char **merges;      /* "left right", rank order; "gpt2" only */
    uint64_t *merge_lens;
    int32_t bos, eos, unk, sep, pad;   /* -1 when none */
    int add_bos, add_eos;              /* -1 when not stated */
    int add_space_prefix;              /* -1 when not stated */
    const char *chat_template;         /* NULL when none */
    /* private */
    struct json_value *tok_json, *cfg_json;
    char **owned;
    size_t n_owned;
};

/* Builds the vocabulary. tokenizer_json[0..len) is tokenizer.json's text; tokenizer_config,
 * config and generation_config may be NULL (parsed JSON objects). n_vocab is config.json's
 * vocab_size (0: as many as the tokenizer has); ids beyond the tokenizer's become "[PAD<i>]"
 * UNUSED tokens. Returns an edgellm_status with one line in err. */
int hf_vocab_build(const char *tokenizer_json, size_t len, const struct json_value *tokenizer_config,
                   const struct json_value *config, const struct json_value *generation_config, uint32_t n_vocab,
                   struct hf_vocab **out, char *err, size_t err_size);
void hf_vocab_free(struct hf_vocab *v);
#endif
