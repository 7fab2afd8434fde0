/* JSON schema -> GBNF (placeholder, filled in below). */
#include <stdlib.h>

#include "grammar/grammar.h"
#include "core/util.h"

edgellm_status grammar_schema_to_gbnf(const char *schema_json, size_t len, int strict, char **gbnf, char *err,
                                      size_t err_size) {
    (void)schema_json; (void)len; (void)strict;
    *gbnf = NULL;
    return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "json schema: not implemented");
}
