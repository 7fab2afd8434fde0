/* Operating-system services, isolated here (os_unix.c): read-only file mappings,
 * core count and time. Ports to other systems replace only os_<system>.c. */
#ifndef EDGELLM_OS_H
#define EDGELLM_OS_H
#include <stddef.h>
#include <stdint.h>

#include "edgellm.h"

struct os_map;
/* Maps path read-only. On failure err names the problem. */
edgellm_status os_map_file(const char *path, struct os_map **out, char *err, size_t err_size);
/* Maps size bytes at offset of an open file (read-only; fd stays open and the caller's). */
edgellm_status os_map_fd(int fd, uint64_t offset, uint64_t size, struct os_map **out, char *err, size_t err_size);
/* A heap copy of data[0..size), 64-byte aligned, that behaves as a mapping (os_unmap frees it). */
edgellm_status os_map_copy(const void *data, uint64_t size, struct os_map **out, char *err, size_t err_size);
/* Locks the whole mapping in RAM (mlock). On failure err says why (a one-line warning). */
edgellm_status os_map_lock(const struct os_map *m, char *err, size_t err_size);
const void *os_map_data(const struct os_map *m);
uint64_t os_map_size(const struct os_map *m);
void os_unmap(struct os_map *m);
/* Advises the kernel that [p, p+n) of a mapping will not be needed (after repacking). */
void os_map_release(const struct os_map *m, const void *p, size_t n);
/* n bytes of zeroed, page-aligned anonymous memory for long-lived bulk data (repacked weights),
 * backed by huge pages where the system allows (fewer TLB misses when streamed); NULL on
 * failure. Freed with os_free_big(p, n). */
void *os_alloc_big(size_t n);
void os_free_big(void *p, size_t n);
int os_n_cores(void);
double os_time_s(void);
#endif
