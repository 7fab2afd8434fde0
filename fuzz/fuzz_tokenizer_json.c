/* libFuzzer target for the tokenizer.json reader (src/convert/hf_tokenizer.h): the input is the
 * text of a tokenizer.json. Building the GGUF vocabulary either fails with one line or yields a
 * table whose every entry is a token text with a valid GGUF token type, and (byte-level BPE)
 * merges of the form "left right". */
#include <stdint.h>
#include <string.h>

#include "convert/hf_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    err[0] = 0;
    struct hf_vocab *v = NULL;
    if (hf_vocab_build((const char *)data, size, NULL, NULL, NULL, 0, &v, err, sizeof err)) {
        if (!err[0] || strchr(err, '\n') || v) __builtin_trap();
        return 0;
    }
    if (!v->n_tokens || !v->model || !v->pre) __builtin_trap();
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        if (!v->tokens[i] || v->types[i] < 1 || v->types[i] > 6) __builtin_trap();
        if (v->tokens[i][v->token_lens[i]] != 0) __builtin_trap(); /* NUL-terminated at its length */
    }
    for (uint32_t i = 0; i < v->n_merges; i++)
        if (!memchr(v->merges[i], ' ', v->merge_lens[i])) __builtin_trap();
    int32_t ids[] = {v->bos, v->eos, v->unk, v->sep, v->pad};
    for (int i = 0; i < 5; i++)
        if (ids[i] >= (int32_t)v->n_tokens) __builtin_trap();
    hf_vocab_free(v);
    return 0;
}
