/* Small library-wide entry points: version, status names, the deallocator for memory the
 * library hands to the caller, and system facts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "core/os.h"
#include "core/util.h"

const char *edgellm_version(void) { return EDGELLM_VERSION; }
uint32_t edgellm_version_number(void) { return EDGELLM_VERSION_NUMBER; }

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
    case EDGELLM_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case EDGELLM_ERR_NOT_FOUND: return "not found";
    }
    return "unknown status";
}

void edgellm_free(void *p) { free(p); }

int edgellm_n_cores(void) { return os_n_cores(); }

edgellm_status util_errf(char *err, size_t err_size, edgellm_status st, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}

static uint32_t struct_size_of(const void *p) {
    uint32_t n;
    memcpy(&n, p, sizeof n);
    return n;
}

edgellm_status util_params_in(void *dst, size_t dst_size, const void *src, size_t min_size) {
    if (!src) return EDGELLM_OK;
    size_t n = struct_size_of(src);
    if (n < min_size) return EDGELLM_ERR_ARG;
    memcpy(dst, src, n < dst_size ? n : dst_size);
    return EDGELLM_OK;
}

edgellm_status util_struct_out(void *dst, const void *full, size_t full_size, size_t min_size) {
    if (!dst) return EDGELLM_ERR_ARG;
    size_t n = struct_size_of(dst);
    if (n < min_size) return EDGELLM_ERR_ARG;
    if (n > full_size) n = full_size;
    memcpy((char *)dst + sizeof(uint32_t), (const char *)full + sizeof(uint32_t), n - sizeof(uint32_t));
    return EDGELLM_OK;
}

uint64_t util_hash64(const void *p, size_t n, uint64_t h0) {
    const uint64_t k1 = 0x9e3779b97f4a7c15ULL, k2 = 0xc2b2ae3d27d4eb4fULL;
    const unsigned char *b = p;
    uint64_t h = h0 ^ k2, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, b + i, 8);
        h ^= w * k1;
        h = ((h << 31) | (h >> 33)) * k2;
    }
    if (i < n) {
        w = 0;
        memcpy(&w, b + i, n - i);
        h ^= w * k1;
        h = ((h << 31) | (h >> 33)) * k2;
    }
    h ^= (uint64_t)n * k1;
    h ^= h >> 29;
    h *= k2;
    return h ^ (h >> 32);
}
