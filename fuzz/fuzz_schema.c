/* libFuzzer target for the JSON schema compiler (src/grammar/schema.c): the input is a schema
 * (the first byte picks strict mode when odd, the rest is the JSON text). Compiling either fails
 * with one non-empty line, or yields a grammar; the GBNF the compiler writes must always be
 * accepted by the GBNF parser (an "internal grammar error" is a compiler bug and traps). A
 * compiled grammar is run over a few JSON texts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "grammar/grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    int strict = data[0] & 1;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    struct edgellm_grammar *g = NULL;
    char err[256];
    err[0] = 0;
    edgellm_status st = edgellm_grammar_from_json_schema_ex(text, strict, &g, err, sizeof err);
    if (st != EDGELLM_OK) {
        if (g || !err[0] || strchr(err, '\n')) __builtin_trap();
        /* (the message may quote a keyword of the input: only its own prefix counts) */
        if (!strncmp(err, "json schema: internal grammar error", 35) && !strstr(err, "out of memory")) __builtin_trap();
    } else {
        if (!g) __builtin_trap();
        static const char *const probes[] = {"{}", "[]", "\"a\"", "1", "-0.5", "null", "true", "{\"a\": [1, \"x\"]}"};
        for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) (void)grammar_accepts(g, probes[i], strlen(probes[i]));
        edgellm_grammar_free(g);
    }
    free(text);
    return 0;
}
