/* Minimal test harness: CHECK records a failure with its location and goes on; every test
 * program ends with TEST_DONE(), which prints "N passed, N failed" and returns the exit code. */
#ifndef EDGELLM_TESTUTIL_H
#define EDGELLM_TESTUTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_pass, tu_fail;
#define CHECK(cond) do { if (cond) tu_pass++; else { tu_fail++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...) do { if (cond) tu_pass++; else { tu_fail++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define TEST_DONE() (printf("%d passed, %d failed\n", tu_pass, tu_fail), tu_fail ? 1 : 0)

/* The shared data folder: argv[1], $EDGELLM_SHARED, or ../shared. */
static inline const char *tu_shared(int argc, char **argv) {
    if (argc > 1 && argv[1][0]) return argv[1];
    const char *e = getenv("EDGELLM_SHARED");
    return e && e[0] ? e : "../shared";
}

/* Reads a whole file; NULL on failure. *len gets the size. Caller frees. */
static inline char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; if (len) *len = (size_t)n; }
    return buf;
}
#endif
