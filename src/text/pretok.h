/* Pre-tokenizers of byte-level BPE vocabularies: split text into the words BPE merges within,
 * exactly as the regular expressions of each model family (as run by Hugging Face tokenizers
 * and llama.cpp) do, but as hand-written matchers over code points and their Unicode flags.
 * A pre-tokenizer is a sequence of stages; each stage splits every piece from the previous
 * stage into its matches and the unmatched runs between them. */
#ifndef EDGELLM_PRETOK_H
#define EDGELLM_PRETOK_H

#include <stddef.h>
#include <stdint.h>

enum pretok_kind {
    PRETOK_DEFAULT = 0, PRETOK_GPT2, PRETOK_LLAMA3, PRETOK_QWEN2, PRETOK_DEEPSEEK_LLM,
    PRETOK_DEEPSEEK_CODER, PRETOK_FALCON, PRETOK_STARCODER,
    PRETOK_SMAUG,   /* Llama 3's regex, without Llama 3's merge skipping or default BOS (SmolLM3) */
    PRETOK_GPT4O,   /* o200k: case-split words, contractions attached, [\r\n/]* after symbols (Phi-4-mini) */
};

/* The kind for a tokenizer.ggml.pre name, or -1 if the name is unknown. */
int pretok_kind_from_name(const char *name);

/* Splits the code points cp[0..n) (with flags[i] = unicode_flags(cp[i])) into words. On success
 * *bounds (malloc'ed, caller frees) holds *n_words + 1 ascending code-point indices: word i is
 * [bounds[i], bounds[i+1]). Returns 0, or -1 when out of memory. */
int pretok_split(enum pretok_kind kind, const uint32_t *cp, const uint16_t *flags, size_t n,
                 size_t **bounds, size_t *n_words);

#endif
