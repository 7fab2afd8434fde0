/* libFuzzer target for the tokenizers (src/text/vocab.h). Three real vocabularies are loaded once:
 * qwen2 and llama-bpe (byte-level BPE, two pre-tokenizers) and llama-spm (SentencePiece), from
 * $EDGELLM_SHARED/vocab or the shared dir given at build time. Input byte 0 picks the vocabulary
 * (byte % 3: qwen2, llama-spm, llama-bpe) and parse_special (byte / 3 odd); the rest is the
 * text. Every id must be in range, and without special parsing the BPE vocabularies must decode
 * back to the input (Qwen2: its NFC form), since byte-level BPE covers every byte string. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "text/unicode.h"
#include "text/vocab.h"

#ifndef EDGELLM_SHARED_DIR
#define EDGELLM_SHARED_DIR "../shared"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct vocab *g_vocab[3];

static struct vocab *load(const char *name) {
    const char *dir = getenv("EDGELLM_SHARED");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", dir && dir[0] ? dir : EDGELLM_SHARED_DIR, name);
    struct gguf_file *f = NULL;
    struct vocab *v = NULL;
    if (gguf_open(path, 1, &f, err, sizeof err) || vocab_load(f, &v, err, sizeof err)) {
        fprintf(stderr, "fuzz_tokenizer: %s: %s (set EDGELLM_SHARED)\n", path, err);
        exit(1);
    }
    gguf_close(f); /* the vocab owns copies of its strings */
    return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    g_vocab[0] = load("qwen2");
    g_vocab[1] = load("llama-spm");
    g_vocab[2] = load("llama-bpe");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    int which = data[0] % 3, parse_special = (data[0] / 3) & 1;
    const struct vocab *v = g_vocab[which];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    err[0] = 0;
    int st = vocab_tokenize(v, text, len, 0, parse_special, &ids, &n, err, sizeof err);
    if (st) {
        if (!err[0] || strchr(err, '\n')) __builtin_trap();
        free(ids);
        return 0;
    }
    int32_t n_vocab = vocab_n_tokens(v);
    char *dec = malloc(len * 4 + 64 * n + 16);
    size_t dl = 0;
    if (!dec) __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= n_vocab) __builtin_trap();
        char piece[512];
        int k = vocab_token_to_piece(v, ids[i], 1, piece, sizeof piece);
        if (k < 0 || (size_t)k >= sizeof piece) __builtin_trap();
        memcpy(dec + dl, piece, (size_t)k);
        dl += (size_t)k;
    }
    if (which != 1 && !parse_special) {
        /* byte-level BPE loses nothing, except that Qwen2 normalizes to NFC first (as its
         * tokenizer.json says), so there the decoded text is the NFC form of the input */
        size_t el = len;
        char *nfc = which == 0 ? unicode_nfc(text, len, &el) : NULL;
        const char *expect = nfc ? nfc : text;
        if (which == 0 && !nfc) __builtin_trap();
        if (dl != el || memcmp(dec, expect, el)) __builtin_trap();
        free(nfc);
    }
    free(dec);
    free(ids);
    return 0;
}
