/* libFuzzer target for the GBNF parser (src/grammar/gbnf.c) and the byte-level matcher: the input
 * is grammar text. It either fails with one non-empty line naming line and column (or the root /
 * a rule), or compiles; a compiled grammar is then run over the input's own bytes and a few fixed
 * strings (any answer, no crash, bounded time), and a matcher accepting a text must have a state
 * that says it is complete. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "grammar/grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct edgellm_grammar *g = NULL;
    char err[256];
    err[0] = 0;
    edgellm_status st = edgellm_grammar_from_gbnf(text, NULL, &g, err, sizeof err);
    if (st != EDGELLM_OK) {
        if (g || !err[0] || strchr(err, '\n')) __builtin_trap();
    } else {
        if (!g) __builtin_trap();
        static const char *const probes[] = {"", "a", "{\"a\": 1}", "1+2=3\n", "\xe3\x81\x82", "\xff\xfe"};
        for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) (void)grammar_accepts(g, probes[i], strlen(probes[i]));
        (void)grammar_accepts(g, text, size);
        edgellm_grammar_free(g);
    }
    free(text);
    return 0;
}
