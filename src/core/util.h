/* Small helpers shared by library modules. */
#ifndef EDGELLM_UTIL_H
#define EDGELLM_UTIL_H
#include <stddef.h>

/* Formats a one-line message into err (if err_size > 0) and returns st: the usual tail of a
 * function that fails with a status and a message in a caller buffer. */
int util_errf(char *err, size_t err_size, int st, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#endif
