/* Small helpers shared by library modules: the one error formatter and the ABI rules for the
 * public params / description structs (include/edgellm.h: each starts with uint32_t struct_size;
 * the library reads and writes only the first struct_size bytes). */
#ifndef EDGELLM_UTIL_H
#define EDGELLM_UTIL_H
#include <stddef.h>
#include <stdint.h>

#include "edgellm.h"

/* Formats a one-line message into err (if err_size > 0) and returns st: the one way a library
 * function reports a failure with a status and a message in a caller buffer. */
edgellm_status util_errf(char *err, size_t err_size, edgellm_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The struct_size of a struct version whose last field is `field`: the 1.0 layouts end there. */
#define UTIL_END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* Reads a caller's params struct over the defaults in *dst (dst_size = the library's sizeof):
 * copies the first min(struct_size, dst_size) bytes of src. src NULL keeps the defaults.
 * EDGELLM_ERR_ARG when struct_size < min_size (the 1.0 layout). */
edgellm_status util_params_in(void *dst, size_t dst_size, const void *src, size_t min_size);
/* Writes a filled struct (full, full_size bytes) to the caller's dst: only the first
 * min(dst->struct_size, full_size) bytes, keeping dst's struct_size. EDGELLM_ERR_ARG when dst is
 * NULL or its struct_size < min_size. */
edgellm_status util_struct_out(void *dst, const void *full, size_t full_size, size_t min_size);

/* A 64-bit hash of n bytes (seed h0), not cryptographic. Each 8-byte word goes through a step
 * that is a bijection of the running value, so any change confined to one word (e.g. one
 * changed byte) always changes the result. Chain calls by passing the previous result as h0. */
uint64_t util_hash64(const void *p, size_t n, uint64_t h0);

/* Test builds with grown structs (tests/abi): the appended field must keep its default. */
#ifdef EDGELLM_TEST_GROW_STRUCTS
#define UTIL_GROWN_OK(p) ((p).test_grown == 0)
#else
#define UTIL_GROWN_OK(p) 1
#endif
#endif
