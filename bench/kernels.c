/* Kernel micro-benchmark, the CMake target bench_kernels (built on demand: `make bench-kernels`,
 * not part of the test suite).
 * Decode: GB/s of weight bytes streamed by kern_matmul with n = 1, from DRAM: the weight is
 * copied until the copies fill at least 4x the last-level cache, the calls cycle through them,
 * and the figure is the mean wall time per call; printed beside the machine's DRAM read
 * bandwidth for the same threads (from `edgellm bench --membw`'s cache, measured here if absent).
 * Compute rate: the same kernel on a weight that stays in L2 (fastest call). Prefill: GOP/s (2
 * ops per multiply-add) with n tokens.
 * usage: bench_kernels [isa] [type] [threads] [n_prefill]
 *        (defaults: best, q4_0, 1 and all cores, 64) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "kernels/kernels.h"
#include "core/threadpool.h"
#include "bench_membw.h"

static double membw_gb_s[1025]; /* by threads, 0 = unknown */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t type_by_name(const char *s) {
    for (uint32_t t = 0; t < QT_COUNT; t++)
        if (qtype_name(t) && !strcmp(qtype_name(t), s)) return t;
    return QT_Q4_0;
}

/* A weight of `rows` x k filled by quantizing smooth pseudo-random floats. */
static struct weight make_weight(uint32_t t, int64_t k, int64_t rows, int repack) {
    struct weight w = { .type = t, .ne = { k, rows }, .nb_row = qtype_row_size(t, k) };
    char *d = malloc(w.nb_row * (size_t)rows);
    float *f = malloc(sizeof(float) * (size_t)k);
    uint32_t s = 1;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < k; i++) { s = s * 1664525u + 1013904223u; f[i] = ((s >> 8) / 16777216.0f - 0.5f) * 0.04f; }
        qtype_get(t)->from_float(f, d + w.nb_row * (size_t)r, k);
    }
    free(f);
    w.data = d;
    /* decode runs on the repacked layout when the ISA has a kernel for it: measure that */
    if (repack && kern_repack_wanted(&w)) {
        void *rp = NULL;
        if (!posix_memalign(&rp, 64, kern_repack_bytes(&w))) {
            kern_repack_weight(NULL, NULL, &w, rp);
            free(d);
            w.data = rp;
            w.layout = KERN_LAYOUT_X4;
        }
    }
    return w;
}

/* The last-level cache in bytes (32 MiB if the OS does not say). */
static size_t llc_bytes(void) {
    long l3 = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 <= 0) l3 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return l3 > 0 ? (size_t)l3 : (size_t)32 << 20;
}

static void bench(struct threadpool *tp, uint32_t t, int64_t k, int64_t rows, int n, int from_dram) {
    struct weight w = make_weight(t, k, rows, n < KERN_PACK_MIN_N);
    float *x = malloc(sizeof(float) * (size_t)(k * n)), *y = malloc(sizeof(float) * (size_t)(rows * n));
    for (int64_t i = 0; i < k * n; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    void *scratch = malloc(kern_matmul_scratch_size(t, k, n, tp_n_threads(tp)));
    /* From DRAM: cycle through copies filling >= 4x the last-level cache (and >= 256 MiB). */
    int n_copies = 1;
    if (from_dram) {
        size_t ws_bytes = 4 * llc_bytes();
        if (ws_bytes < ((size_t)256 << 20)) ws_bytes = (size_t)256 << 20;
        n_copies = (int)(ws_bytes / (w.nb_row * (size_t)rows)) + 1;
        if (n_copies > 1024) n_copies = 1024;
    }
    static struct weight ws[1024];
    ws[0] = w;
    for (int c = 1; c < n_copies; c++) {
        ws[c] = w;
        char *d = malloc(w.nb_row * (size_t)rows);
        memcpy(d, w.data, w.nb_row * (size_t)rows);
        ws[c].data = d;
    }
    for (int c = 0; c < n_copies; c++) kern_matmul(tp, &ws[c], x, n, y, rows, scratch); /* warm-up pass */
    /* From DRAM: the mean wall time per call over whole passes through the copies (what a
     * decode sees). In cache: the fastest call (on a shared machine the mean includes the time
     * other processes held the cores; the best call is what the kernel costs when it runs). */
    int iters = 0;
    double t0 = now_s(), el = 0, per = 1e30, cpu_best = 1e30;
    while ((el = now_s() - t0) < 1.5 || iters < 5 || (from_dram && iters % n_copies)) {
        const double c0 = cpu_s(), w0 = now_s();
        kern_matmul(tp, &ws[iters % n_copies], x, n, y, rows, scratch);
        const double wt = now_s() - w0, c = cpu_s() - c0;
        if (wt < per) per = wt;
        if (c < cpu_best) cpu_best = c;
        iters++;
    }
    const double bytes = (double)w.nb_row * rows;
    if (from_dram) per = el / iters;
    printf("[mean wall %8.1f us, best cpu %8.1f us] ", el / iters * 1e6, cpu_best * 1e6);
    if (n == 1) {
        const int th = tp_n_threads(tp);
        printf("%-7s %-6s k=%-5lld rows=%-5lld n=1  threads=%d: %8.1f us  %6.2f GB/s %s", kern_isa_name(), qtype_name(t),
               (long long)k, (long long)rows, th, per * 1e6, bytes / per / 1e9,
               from_dram ? "from DRAM (mean)" : "in L2 (best)");
        if (from_dram && th <= 1024 && membw_gb_s[th] > 0)
            printf(", %.0f%% of membw %.2f GB/s", 100.0 * bytes / per / 1e9 / membw_gb_s[th], membw_gb_s[th]);
        printf("\n");
    } else
        printf("%-7s %-6s k=%-5lld rows=%-5lld n=%-3d threads=%d: %8.1f us  %6.1f GOP/s\n", kern_isa_name(), qtype_name(t),
               (long long)k, (long long)rows, n, tp_n_threads(tp), per * 1e6, 2.0 * k * rows * n / per / 1e9);
    for (int c = 0; c < n_copies; c++) free((void *)ws[c].data);
    free(x); free(y); free(scratch);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "best") && !kern_force(argv[1])) { fprintf(stderr, "isa %s not available\n", argv[1]); return 1; }
    const uint32_t t = argc > 2 ? type_by_name(argv[2]) : QT_Q4_0;
    int n_cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_cores < 1) n_cores = 1;
    if (n_cores > 1024) n_cores = 1024;
    const int th0 = argc > 3 ? atoi(argv[3]) : 1, th1 = argc > 3 ? th0 : n_cores;
    const int np = argc > 4 ? atoi(argv[4]) : 64;
    if (th0 < 1 || th0 > 1024) { fprintf(stderr, "threads must be 1..1024\n"); return 2; }
    /* the machine's DRAM read bandwidth for the thread counts used: cached by edgellm bench --membw */
    char cpu[128], err[256];
    membw_cpu_model(cpu, sizeof cpu);
    for (int th = th0; th <= th1; th++) {
        struct membw_result r;
        if (!membw_cache_lookup(cpu, th, &r)) {
            fprintf(stderr, "bench_kernels: measuring the DRAM bandwidth with %d thread(s) (edgellm bench --membw)\n", th);
            if (membw_measure(th, &r, err, sizeof err) || membw_cache_store(&r, err, sizeof err)) fprintf(stderr, "bench_kernels: %s\n", err);
        }
        membw_gb_s[th] = r.gb_s;
        printf("membw %s, %d thread(s): %.2f GB/s\n", cpu, th, r.gb_s);
    }
    printf("last-level cache %zu KiB: decode working sets >= %zu MiB\n", llc_bytes() >> 10, 4 * llc_bytes() >> 20);
    for (int th = th0; th <= th1; th++) {
        struct threadpool *tp = tp_new(th);
        /* KB_ONLY=up or down: only that decode shape (for perf stat); sweep: decode from DRAM at
         * k = 1024..16384, same bytes (where the activations stop fitting beside the stream) */
        const char *only = getenv("KB_ONLY");
        if (!only || !strcmp(only, "up")) bench(tp, t, 1536, 8960, 1, 1);
        if (!only || !strcmp(only, "down")) bench(tp, t, 8960, 1536, 1, 1);
        if (only && !strcmp(only, "sweep"))
            for (int kk = 1024; kk <= 16384; kk *= 2) bench(tp, t, kk, 8960 * 1536 / kk, 1, 1);
        if (only) { tp_free(tp); continue; }
        bench(tp, t, 1536, 512, 1, 0); /* L2-resident: the kernel's compute rate */
        if (np > 8) bench(tp, t, 1536, 8960, np, 0);
        else if (np > 1) { /* batched decode, weights from DRAM */
            bench(tp, t, 8960, 1536, np, 1);
            bench(tp, t, 1536, 8960, np, 1);
        }
        tp_free(tp);
    }
    return 0;
}
