/* The machine's DRAM read bandwidth for `edgellm bench --membw`, and its cache file, which
 * `edgellm bench` reads to say how close decode comes to that limit (it never measures it
 * itself: the buffer would count in its peak RSS). */
#ifndef EDGELLM_BENCH_MEMBW_H
#define EDGELLM_BENCH_MEMBW_H

struct membw_result {
    char cpu[128];        /* CPU model, the cache key with the thread count */
    int threads;
    const char *isa;      /* the loads used: "avx512", "avx2", "neon", "scalar" */
    double gb_s_1t;       /* one thread reading the whole buffer */
    double gb_s;          /* `threads` threads, each reading its slice */
};

/* The CPU model as the OS names it ("unknown" when it does not say). */
void membw_cpu_model(char *buf, int size);
/* Measures: a buffer of MEMBW_BYTES read in MEMBW_PASSES passes after one warm-up pass, mean
 * GB/s. Returns 0, or -1 with a message in err (out of memory, no threads). */
int membw_measure(int threads, struct membw_result *out, char *err, int err_size);
/* The cache: $XDG_CACHE_HOME/edgellm/membw.json, else ~/.cache/edgellm/membw.json; one entry per
 * (cpu, threads). Store returns 0 or -1 (with a message); lookup returns 1 when found. */
int membw_cache_store(const struct membw_result *r, char *err, int err_size);
int membw_cache_lookup(const char *cpu, int threads, struct membw_result *out);

#endif
