/* POSIX implementation of os.h: mmap for weights (read-only, shared with the page cache,
 * so several processes running one model share its memory), sysconf for cores. */
#include "core/os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edgellm.h"
#include "core/util.h"

struct os_map {
    void *data;      /* what the caller sees: the file's first byte */
    uint64_t size;
    void *base;      /* what was mapped (a page boundary at or before data) or allocated */
    size_t base_size;
    int owned_copy;  /* 1: base is a heap copy (os_map_copy), else an mmap */
};

edgellm_status os_map_fd(int fd, uint64_t offset, uint64_t size, struct os_map **out, char *err, size_t err_size) {
    *out = NULL;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return util_errf(err, err_size, EDGELLM_ERR_IO, "cannot stat file descriptor %d: %s", fd, fd < 0 ? "negative" : strerror(errno));
    if (S_ISREG(st.st_mode) && (offset > (uint64_t)st.st_size || size > (uint64_t)st.st_size - offset))
        return util_errf(err, err_size, EDGELLM_ERR_IO, "file descriptor %d: %llu bytes at offset %llu run past its end (%llu bytes)",
                         fd, (unsigned long long)size, (unsigned long long)offset, (unsigned long long)st.st_size);
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    uint64_t delta = offset % (uint64_t)page;
    if (size + delta > (uint64_t)SIZE_MAX)
        return util_errf(err, err_size, EDGELLM_ERR_IO, "file descriptor %d: %llu bytes cannot be mapped", fd, (unsigned long long)size);
    struct os_map *m = calloc(1, sizeof(*m));
    if (!m) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    m->size = size;
    if (size > 0) {
        m->base_size = (size_t)(size + delta);
        m->base = mmap(NULL, m->base_size, PROT_READ, MAP_SHARED, fd, (off_t)(offset - delta));
        if (m->base == MAP_FAILED) {
            edgellm_status rc = util_errf(err, err_size, EDGELLM_ERR_IO, "cannot map file descriptor %d at offset %llu: %s", fd,
                                          (unsigned long long)offset, strerror(errno));
            free(m);
            return rc;
        }
        m->data = (uint8_t *)m->base + delta;
    }
    *out = m;
    return EDGELLM_OK;
}

edgellm_status os_map_copy(const void *data, uint64_t size, struct os_map **out, char *err, size_t err_size) {
    *out = NULL;
    if (size > (uint64_t)SIZE_MAX - 64) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    struct os_map *m = calloc(1, sizeof(*m));
    void *p = NULL;
    if (!m || posix_memalign(&p, 64, size ? (size_t)size : 1)) {
        free(m);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory copying %llu bytes", (unsigned long long)size);
    }
    if (size) memcpy(p, data, (size_t)size);
    m->base = m->data = p;
    m->size = size;
    m->owned_copy = 1;
    *out = m;
    return EDGELLM_OK;
}

edgellm_status os_map_file(const char *path, struct os_map **out, char *err, size_t err_size) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return util_errf(err, err_size, EDGELLM_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        edgellm_status rc = util_errf(err, err_size, EDGELLM_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return util_errf(err, err_size, EDGELLM_ERR_IO, "'%s' is a directory, not a GGUF file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return util_errf(err, err_size, EDGELLM_ERR_IO, "'%s' is not a regular file", path);
    }
    struct os_map *m = calloc(1, sizeof(*m));
    if (!m) {
        close(fd);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    }
    m->size = (uint64_t)st.st_size;
    if (m->size > 0) {
        m->data = m->base = mmap(NULL, (size_t)m->size, PROT_READ, MAP_SHARED, fd, 0);
        m->base_size = (size_t)m->size;
        if (m->data == MAP_FAILED) {
            edgellm_status rc = util_errf(err, err_size, EDGELLM_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
            free(m);
            close(fd);
            return rc;
        }
    }
    close(fd);
    *out = m;
    return EDGELLM_OK;
}

const void *os_map_data(const struct os_map *m) { return m->data ? m->data : (const void *)""; }
uint64_t os_map_size(const struct os_map *m) { return m->size; }

edgellm_status os_map_lock(const struct os_map *m, char *err, size_t err_size) {
    if (!m || !m->data || !m->size) return EDGELLM_OK;
    if (mlock(m->data, (size_t)m->size) == 0) return EDGELLM_OK;
    return util_errf(err, err_size, EDGELLM_ERR_IO,
                     "use_mlock: cannot lock the %.1f MiB of weights in RAM: %s (the limit is `ulimit -l`)",
                     (double)m->size / (1024.0 * 1024.0), strerror(errno));
}

void os_unmap(struct os_map *m) {
    if (!m) return;
    if (m->owned_copy) free(m->base);
    else if (m->base && m->base_size) munmap(m->base, m->base_size);
    free(m);
}

void os_map_release(const struct os_map *m, const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (!m || !m->data || m->owned_copy || page <= 0) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

void *os_alloc_big(size_t n) {
    if (!n) return NULL;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

void os_free_big(void *p, size_t n) {
    if (p && n) munmap(p, n);
}

int os_n_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

double os_time_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
