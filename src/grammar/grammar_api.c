/* The public grammar functions (include/edgellm.h): compile GBNF or a JSON schema. */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "core/util.h"

edgellm_status edgellm_grammar_from_gbnf(const char *gbnf, const char *root, struct edgellm_grammar **out, char *err,
                                         size_t err_size) {
    if (!out) return util_errf(err, err_size, EDGELLM_ERR_ARG, "grammar: out is NULL");
    *out = NULL;
    if (!gbnf) return util_errf(err, err_size, EDGELLM_ERR_ARG, "grammar: no GBNF text");
    return grammar_parse_gbnf(gbnf, root, out, err, err_size);
}

edgellm_status edgellm_grammar_from_json_schema_ex(const char *schema_json, int strict, struct edgellm_grammar **out,
                                                   char *err, size_t err_size) {
    if (!out) return util_errf(err, err_size, EDGELLM_ERR_ARG, "grammar: out is NULL");
    *out = NULL;
    if (!schema_json) return util_errf(err, err_size, EDGELLM_ERR_ARG, "grammar: no schema");
    char *gbnf = NULL;
    edgellm_status st = grammar_schema_to_gbnf(schema_json, strlen(schema_json), strict, &gbnf, err, err_size);
    if (st != EDGELLM_OK) return st;
    char e2[256];
    st = grammar_parse_gbnf(gbnf, "root", out, e2, sizeof e2);
    free(gbnf);
    if (st == EDGELLM_ERR_FORMAT && strstr(e2, "left-recursive"))
        return util_errf(err, err_size, st, "json schema: a $ref loops back to itself before any text");
    if (st == EDGELLM_ERR_FORMAT && strstr(e2, "can never finish"))
        return util_errf(err, err_size, st, "json schema: no JSON value satisfies the schema (as far as this compiler can generate)");
    /* any other failure of the GBNF the compiler wrote is the compiler's fault: say so */
    if (st != EDGELLM_OK) return util_errf(err, err_size, st, "json schema: internal grammar error: %s", e2);
    return EDGELLM_OK;
}

edgellm_status edgellm_grammar_from_json_schema(const char *schema_json, struct edgellm_grammar **out, char *err,
                                                size_t err_size) {
    return edgellm_grammar_from_json_schema_ex(schema_json, 0, out, err, err_size);
}

void edgellm_grammar_free(struct edgellm_grammar *g) { grammar_free(g); }

edgellm_status edgellm_json_schema_to_gbnf(const char *schema_json, int strict, char **gbnf, char *err, size_t err_size) {
    if (!gbnf) return util_errf(err, err_size, EDGELLM_ERR_ARG, "grammar: gbnf is NULL");
    *gbnf = NULL;
    if (!schema_json) return util_errf(err, err_size, EDGELLM_ERR_ARG, "grammar: no schema");
    return grammar_schema_to_gbnf(schema_json, strlen(schema_json), strict, gbnf, err, err_size);
}
