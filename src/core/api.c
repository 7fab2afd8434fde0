/* Small library-wide entry points: version, status names, the deallocator for memory the
 * library hands to the caller, and system facts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "edgellm.h"
#include "core/os.h"
#include "core/util.h"

const char *edgellm_version(void) { return EDGELLM_VERSION; }

const char *edgellm_status_str(edgellm_status st) {
    switch (st) {
    case EDGELLM_OK: return "ok";
    case EDGELLM_ERR_IO: return "I/O error";
    case EDGELLM_ERR_FORMAT: return "format error";
    case EDGELLM_ERR_UNSUPPORTED: return "unsupported";
    case EDGELLM_ERR_NOMEM: return "out of memory";
    case EDGELLM_ERR_ARG: return "invalid argument";
    case EDGELLM_ERR_CONTEXT_FULL: return "context full";
    case EDGELLM_ERR_TEMPLATE: return "template error";
    case EDGELLM_ERR_ABORTED: return "aborted";
    }
    return "unknown status";
}

void edgellm_free(void *p) { free(p); }

int edgellm_n_cores(void) { return os_n_cores(); }

int util_errf(char *err, size_t err_size, int st, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}
