/* grammar: constrained decoding. A GBNF grammar (as llama.cpp's users write it) is parsed and
 * lowered to byte-level rules: every alternative is a sequence of elements, each a byte set
 * (a 256-bit map) or a reference to a rule; character classes become UTF-8 byte sequences,
 * repetitions become generated rules. The matcher (gmatch) runs the rules as a pushdown
 * automaton over bytes whose states (sets of stacks) are interned and whose byte transitions are
 * cached, i.e. a lazily built DFA; a token mask is one walk of a trie of the vocabulary's token
 * bytes through that DFA, pruned at the first dead byte. JSON schemas are compiled to GBNF text. */
#ifndef EDGELLM_GRAMMAR_H
#define EDGELLM_GRAMMAR_H
#include <stddef.h>
#include <stdint.h>

#include "edgellm.h"

struct vocab;

#define GRAMMAR_END INT32_MIN       /* end of an alternative */
#define GRAMMAR_INF (INT32_MAX / 4) /* "cannot complete" in byte counts */

/* A compiled grammar. elems[]: >= 0 a rule reference, GRAMMAR_END, else the byte set
 * sets[-1 - e]. Rule r has rule_nalt[r] alternatives starting at elems[alt_pos[rule_alt0[r] + k]]. */
struct edgellm_grammar {
    int32_t n_rules, n_alts, n_elems, n_sets, root;
    int32_t *rule_alt0, *rule_nalt, *alt_pos, *elems;
    uint8_t (*sets)[32];
    int32_t *rule_min;  /* [n_rules] fewest bytes a rule matches (GRAMMAR_INF: never completes) */
    int32_t *pos_min;   /* [n_elems] fewest bytes from a position to the end of its alternative */
    char **names;       /* [n_rules] rule names (generated ones too) */
};

static inline int grammar_set_has(const struct edgellm_grammar *g, int32_t e, unsigned b) {
    return (g->sets[-1 - e][b >> 3] >> (b & 7)) & 1;
}

/* Parses GBNF text; root names the start rule (NULL: "root"). Errors name the line and column. */
edgellm_status grammar_parse_gbnf(const char *src, const char *root, struct edgellm_grammar **out, char *err,
                                  size_t err_size);
void grammar_free(struct edgellm_grammar *g);

/* JSON schema (text) -> GBNF text (malloc'd, root rule "root"). strict: an unknown keyword is an
 * error naming it; otherwise it is ignored. */
edgellm_status grammar_schema_to_gbnf(const char *schema_json, size_t len, int strict, char **gbnf, char *err,
                                      size_t err_size);

/* The matcher: a grammar run over a vocabulary's tokens. */
struct gmatch;
edgellm_status gmatch_new(const struct edgellm_grammar *g, const struct vocab *v, struct gmatch **out, char *err,
                          size_t err_size);
void gmatch_free(struct gmatch *m);
/* Back to the start of the grammar. */
void gmatch_reset(struct gmatch *m);
/* n_left: tokens that may still be generated, this one and the end-of-generation token included
 * (< 0: no limit). A token is allowed when its bytes continue the grammar and what remains can
 * still be completed within n_left - 1 tokens (an end-of-generation token: when the grammar is
 * complete). 1 allowed, 0 not. */
int gmatch_check(struct gmatch *m, int32_t tok, int32_t n_left);
/* The allowed tokens ([n_vocab] 0/1), valid until the next call on m; NULL when out of memory. */
const uint8_t *gmatch_mask(struct gmatch *m, int32_t n_left);
/* 1 when gmatch_mask(m, n_left) would come from the cache (no walk over the vocabulary). */
int gmatch_mask_cached(const struct gmatch *m, int32_t n_left);
/* The allowed tokens of the last gmatch_mask as a list (*n of them, no order), valid as long as its mask. */
const int32_t *gmatch_mask_ids(const struct gmatch *m, int32_t *n);
/* Moves past tok; EDGELLM_ERR_ARG (state unchanged) when the grammar forbids it. */
edgellm_status gmatch_accept(struct gmatch *m, int32_t tok);
/* 1 when the text so far is a complete sentence of the grammar. */
int gmatch_complete(const struct gmatch *m);
/* Fewest bytes still needed to complete (0 when complete). */
int32_t gmatch_min_bytes(const struct gmatch *m);

/* Byte-level use without a vocabulary (tests, validation): 1 if s[0..n) is a complete sentence. */
int grammar_accepts(const struct edgellm_grammar *g, const char *s, size_t n);
#endif
