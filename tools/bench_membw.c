/* DRAM read bandwidth (`edgellm bench --membw`): a 1 GiB buffer (once with 4 KiB pages, once with
 * huge pages, the faster counts), read by each thread over its own
 * slice with the widest loads the CPU has (AVX-512, AVX2 or NEON, picked at run time), eight
 * loads per step into four independent accumulators and every line prefetched 2 KiB and, in
 * a second measurement, 8 KiB ahead, so that many loads are in flight; one
 * warm-up pass, then MEMBW_PASSES passes between barriers, and the mean over those passes.
 * This is the roof that decode (which streams every weight once per token) is measured against.
 * Cache file: a JSON object {"membw":[...]} with one entry per line, each keyed by "cpu" and
 * "threads"; lines that do not parse are dropped when the file is rewritten (temporary name,
 * then rename, so readers never see half a file).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "bench_membw.h"
#include "cli.h"

#define MEMBW_BYTES ((size_t)1 << 30)
#define MEMBW_PASSES 8
#define MEMBW_STEP 512 /* bytes per loop step: 8 AVX-512 loads */
/* Every line is also prefetched this far ahead, as the decode kernels do (x86_rp.inc): a core's
 * hardware prefetcher alone keeps too few lines in flight to reach what the core can pull (on
 * the 2-core AMD EPYC VM a plain read loop gave 14 GB/s while decode streamed 20-24). Each
 * buffer is read at two distances, 2 KiB and 8 KiB (the decode kernels' own), the faster counts. */
static const size_t membw_pf_dists[] = { 2048, 8192 };

/* Reads n bytes at p (a multiple of MEMBW_STEP), every line also prefetched pf bytes ahead. */
typedef uint64_t (*membw_read_fn)(const uint8_t *p, size_t n, size_t pf);

/* Sums of 64-bit lanes, so the loads cannot be optimized away; n is a multiple of MEMBW_STEP. */
static uint64_t read_scalar(const uint8_t *p, size_t n, size_t pf) {
    (void)pf;
    const uint64_t *q = (const uint64_t *)(const void *)p;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i < n / 8; i += 4) a0 += q[i], a1 += q[i + 1], a2 += q[i + 2], a3 += q[i + 3];
    return a0 + a1 + a2 + a3;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static uint64_t read_avx512(const uint8_t *p, size_t n, size_t pf) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += MEMBW_STEP) {
        const __m512i *v = (const __m512i *)(const void *)(p + i);
        for (int l = 0; l < MEMBW_STEP; l += 64) _mm_prefetch((const char *)p + i + pf + l, _MM_HINT_T0);
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(v + 0));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(v + 1));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(v + 2));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(v + 3));
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(v + 4));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(v + 5));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(v + 6));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(v + 7));
    }
    return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
}

__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n, size_t pf) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 256) {
        const __m256i *v = (const __m256i *)(const void *)(p + i);
        for (int l = 0; l < 256; l += 64) _mm_prefetch((const char *)p + i + pf + l, _MM_HINT_T0);
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + 0));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + 1));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + 2));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + 3));
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + 4));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + 5));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + 6));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + 7));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t l[4];
    _mm256_storeu_si256((__m256i *)(void *)l, s);
    return l[0] + l[1] + l[2] + l[3];
}
#elif defined(__aarch64__)
static uint64_t read_neon(const uint8_t *p, size_t n, size_t pf) {
    uint64x2_t a0 = vdupq_n_u64(0), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 128) {
        const uint64_t *v = (const uint64_t *)(const void *)(p + i);
        __builtin_prefetch(p + i + pf);
        __builtin_prefetch(p + i + pf + 64);
        a0 = vaddq_u64(a0, vld1q_u64(v + 0));
        a1 = vaddq_u64(a1, vld1q_u64(v + 2));
        a2 = vaddq_u64(a2, vld1q_u64(v + 4));
        a3 = vaddq_u64(a3, vld1q_u64(v + 6));
        a0 = vaddq_u64(a0, vld1q_u64(v + 8));
        a1 = vaddq_u64(a1, vld1q_u64(v + 10));
        a2 = vaddq_u64(a2, vld1q_u64(v + 12));
        a3 = vaddq_u64(a3, vld1q_u64(v + 14));
    }
    return vaddvq_u64(vaddq_u64(vaddq_u64(a0, a1), vaddq_u64(a2, a3)));
}
#endif

static membw_read_fn pick_reader(const char **name) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) { *name = "avx512"; return read_avx512; }
    if (__builtin_cpu_supports("avx2")) { *name = "avx2"; return read_avx2; }
#elif defined(__aarch64__)
    *name = "neon";
    return read_neon;
#endif
    *name = "scalar";
    return read_scalar;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct membw_run {
    const uint8_t *buf;
    size_t bytes;
    int nth;
    membw_read_fn read;
    size_t pf; /* prefetch distance */
    pthread_barrier_t bar;
    pthread_mutex_t mu; /* the start gate: workers wait until all threads exist (go) or not (stop) */
    pthread_cond_t cv;
    int go, stop;
    volatile uint64_t sink;
};

struct membw_thread {
    struct membw_run *run;
    int ith;
};

/* Every thread does the warm-up and MEMBW_PASSES passes over its slice, a barrier after each;
 * thread 0 (the caller) times from the barrier after the warm-up to the one after the last pass. */
static void *membw_worker(void *arg) {
    struct membw_thread *t = arg;
    struct membw_run *r = t->run;
    const size_t slice = r->bytes / (size_t)r->nth / MEMBW_STEP * MEMBW_STEP;
    const uint8_t *p = r->buf + slice * (size_t)t->ith;
    uint64_t s = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->go && !r->stop) pthread_cond_wait(&r->cv, &r->mu);
    int stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    if (stop) return NULL;
    for (int pass = 0; pass <= MEMBW_PASSES; pass++) {
        s += r->read(p, slice, r->pf);
        pthread_barrier_wait(&r->bar);
    }
    r->sink += s; /* racy on purpose: only keeps the sums alive */
    return NULL;
}

/* GB/s of nth threads over the buffer, or a negative value if the threads cannot start. */
static double membw_run_threads(const uint8_t *buf, size_t bytes, int nth, membw_read_fn read, size_t pf) {
    struct membw_run r = {.buf = buf, .bytes = bytes, .nth = nth, .read = read, .pf = pf};
    static struct membw_thread th[1024];
    static pthread_t tid[1024];
    if (nth < 1 || nth > 1024 || pthread_barrier_init(&r.bar, NULL, (unsigned)nth)) return -1;
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    int started = 1;
    for (int i = 1; i < nth; i++) {
        th[i] = (struct membw_thread){&r, i};
        if (pthread_create(&tid[i], NULL, membw_worker, &th[i])) break;
        started++;
    }
    pthread_mutex_lock(&r.mu);
    if (started < nth) r.stop = 1;
    else r.go = 1;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    if (r.stop) {
        for (int i = 1; i < started; i++) pthread_join(tid[i], NULL);
        pthread_barrier_destroy(&r.bar);
        return -1;
    }
    const size_t slice = bytes / (size_t)nth / MEMBW_STEP * MEMBW_STEP;
    uint64_t s = read(buf, slice, pf);
    pthread_barrier_wait(&r.bar); /* warm-up done */
    double t0 = now_s();
    for (int pass = 1; pass <= MEMBW_PASSES; pass++) {
        s += read(buf, slice, pf);
        pthread_barrier_wait(&r.bar);
    }
    double el = now_s() - t0;
    for (int i = 1; i < nth; i++) pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&r.bar);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    r.sink += s;
    return (double)slice * (double)nth * MEMBW_PASSES / el / 1e9;
}

void membw_cpu_model(char *buf, int size) {
    snprintf(buf, (size_t)size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512], impl[64] = "", part[64] = "";
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        v[strcspn(v, "\n")] = 0;
        if (!strncmp(line, "model name", 10) || !strncmp(line, "Hardware", 8)) {
            snprintf(buf, (size_t)size, "%s", v);
            break;
        }
        if (!strncmp(line, "CPU implementer", 15) && !impl[0]) snprintf(impl, sizeof impl, "%s", v);
        if (!strncmp(line, "CPU part", 8) && !part[0]) snprintf(part, sizeof part, "%s", v);
    }
    fclose(f);
    if (!strcmp(buf, "unknown") && impl[0]) snprintf(buf, (size_t)size, "arm implementer %s part %s", impl, part);
    for (char *c = buf; *c; c++) /* the name goes into JSON unescaped */
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = ' ';
}

/* One measurement over a fresh buffer; huge: ask for transparent huge pages, else forbid them.
 * Returns 0, or -1 with err set. */
static int membw_measure_pages(int threads, int huge, membw_read_fn read, double *gb_1t, double *gb_n, char *err,
                               int err_size) {
    uint8_t *buf = mmap(NULL, MEMBW_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        snprintf(err, (size_t)err_size, "cannot allocate the %zu MiB buffer: %s", MEMBW_BYTES >> 20, strerror(errno));
        return -1;
    }
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
    madvise(buf, MEMBW_BYTES, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE); /* a hint, ignored if unsupported */
#else
    (void)huge;
#endif
    for (size_t i = 0; i < MEMBW_BYTES; i += 4096) memset(buf + i, (int)(i >> 12) & 0xff, 4096);
    *gb_1t = *gb_n = 0;
    for (size_t d = 0; d < sizeof membw_pf_dists / sizeof membw_pf_dists[0]; d++) {
        const size_t pf = membw_pf_dists[d];
        const double g1 = membw_run_threads(buf, MEMBW_BYTES, 1, read, pf);
        const double gn = threads == 1 ? g1 : membw_run_threads(buf, MEMBW_BYTES, threads, read, pf);
        if (g1 <= 0 || gn <= 0) { *gb_1t = *gb_n = 0; break; }
        if (g1 > *gb_1t) *gb_1t = g1;
        if (gn > *gb_n) *gb_n = gn;
    }
    munmap(buf, MEMBW_BYTES);
    if (*gb_1t <= 0 || *gb_n <= 0) {
        snprintf(err, (size_t)err_size, "cannot start %d threads", threads);
        return -1;
    }
    return 0;
}

/* The machine's limit is the faster of the two page sizes: on some VMs 4 KiB pages stream faster
 * than huge ones (seen on a 2-core AMD EPYC guest: 14 GB/s with huge pages, 22-30 without),
 * elsewhere huge pages win by sparing TLB misses. Each is measured over its own buffer, one after
 * the other, so the peak footprint stays one buffer. */
int membw_measure(int threads, struct membw_result *out, char *err, int err_size) {
    memset(out, 0, sizeof *out);
    membw_cpu_model(out->cpu, sizeof out->cpu);
    out->threads = threads;
    membw_read_fn read = pick_reader(&out->isa);
    for (int huge = 0; huge <= 1; huge++) {
        double g1, gn;
        if (membw_measure_pages(threads, huge, read, &g1, &gn, err, err_size)) return -1;
        if (g1 > out->gb_s_1t) out->gb_s_1t = g1;
        if (gn > out->gb_s) out->gb_s = gn;
    }
    return 0;
}

/* ---------------------------------------------------------------- the cache file */

static int cache_path(char *buf, size_t size, int make_dirs) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[1024];
    if (xdg && xdg[0]) snprintf(dir, sizeof dir, "%s", xdg);
    else if (home && home[0]) snprintf(dir, sizeof dir, "%s/.cache", home);
    else return -1;
    if (make_dirs) mkdir(dir, 0755);
    size_t n = strlen(dir);
    if (n + sizeof "/edgellm/membw.json" > sizeof dir || n + sizeof "/edgellm/membw.json" > size) return -1;
    strcat(dir, "/edgellm");
    if (make_dirs) mkdir(dir, 0755);
    snprintf(buf, size, "%s/membw.json", dir);
    return 0;
}

/* One entry line; returns 1 if it parsed. */
static int parse_entry(const char *line, struct membw_result *r) {
    const char *c = strstr(line, "\"cpu\":\"");
    if (!c) return 0;
    c += 7;
    const char *e = strchr(c, '"');
    if (!e || e - c >= (long)sizeof r->cpu) return 0;
    memcpy(r->cpu, c, (size_t)(e - c));
    r->cpu[e - c] = 0;
    const char *t = strstr(e, "\"threads\":"), *a = strstr(e, "\"membw_gb_s_1t\":"), *b = strstr(e, "\"membw_gb_s\":");
    r->isa = "";
    return t && a && b && sscanf(t + 10, "%d", &r->threads) == 1 && sscanf(a + 16, "%lf", &r->gb_s_1t) == 1 &&
           sscanf(b + 13, "%lf", &r->gb_s) == 1 && r->threads > 0 && r->gb_s_1t > 0 && r->gb_s > 0;
}

int membw_cache_lookup(const char *cpu, int threads, struct membw_result *out) {
    char path[1100], line[512];
    if (cache_path(path, sizeof path, 0)) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int found = 0;
    struct membw_result r;
    while (fgets(line, sizeof line, f))
        if (parse_entry(line, &r) && r.threads == threads && !strcmp(r.cpu, cpu)) *out = r, found = 1;
    fclose(f);
    return found;
}

int membw_cache_store(const struct membw_result *m, char *err, int err_size) {
    char path[1100], tmp[1200], line[512];
    if (cache_path(path, sizeof path, 1)) {
        snprintf(err, (size_t)err_size, "no cache folder (neither XDG_CACHE_HOME nor HOME is set)");
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *out = fopen(tmp, "w");
    if (!out) {
        snprintf(err, (size_t)err_size, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(out, "{\"membw\":[\n");
    FILE *in = fopen(path, "r");
    int first = 1;
    struct membw_result r;
    if (in) {
        while (fgets(line, sizeof line, in))
            if (parse_entry(line, &r) && !(r.threads == m->threads && !strcmp(r.cpu, m->cpu))) {
                fprintf(out, "%s{\"cpu\":\"%s\",\"threads\":%d,\"membw_gb_s_1t\":%.2f,\"membw_gb_s\":%.2f}", first ? "" : ",\n",
                        r.cpu, r.threads, r.gb_s_1t, r.gb_s);
                first = 0;
            }
        fclose(in);
    }
    fprintf(out, "%s{\"cpu\":\"%s\",\"threads\":%d,\"membw_gb_s_1t\":%.2f,\"membw_gb_s\":%.2f}\n]}\n", first ? "" : ",\n",
            m->cpu, m->threads, m->gb_s_1t, m->gb_s);
    if (fclose(out) || rename(tmp, path)) {
        snprintf(err, (size_t)err_size, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
