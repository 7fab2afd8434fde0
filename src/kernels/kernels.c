/* Kernel dispatch and the portable kernels (kernels.h). One const `struct kern_isa` per ISA
 * (scalar here, the others in src/kernels/arch/); the table is picked once from the CPU features
 * (pthread_once), EDGELLM_ISA can force one. kern_matmul quantizes the activations once into
 * the caller's scratch ([n][row of vec_dot_type], rows 64-byte aligned), then threads take
 * chunks of output rows from an atomic counter (decode: guided pieces that shrink with the rows
 * left, kern_mm_take), each doing all n tokens for its rows (tiles of
 * KERN_TILE_C tokens) so the weights come from memory once per matmul. With KERN_PACK_MIN_N
 * tokens or more and a packed kernel for the type, a thread first unpacks its chunk's rows in
 * groups of 16 into its part of the scratch (after the activations and their aux entries), and
 * the token tiles run against that copy. Which rows are packed depends only on the weight's row
 * count (whole groups of 16; chunks are multiples of 16), not on the threads or the chunking.
 * kern_matmul_n does the same for several weights sharing one input (Q/K/V, gate/up): one
 * quantization, one job.
 */
#include "kernels/kernels.h"
#include "edgellm.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static const struct kern_isa kern_isa_scalar = { .name = "scalar" };

/* The table in use. It is written once by pthread_once and afterwards only by kern_force
 * (tests), always as a whole pointer to a const table, so readers never see a torn state. */
static _Atomic(const struct kern_isa *) kern_cur;
static pthread_once_t kern_once = PTHREAD_ONCE_INIT;

/* ---------------------------------------------------------------- CPU features */

#if defined(__x86_64__)
static uint64_t kern_xgetbv(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* Which of the compiled-in ISA paths this CPU (and OS) can run. */
static int kern_isa_available(const struct kern_isa *isa) {
    if (isa == &kern_isa_scalar) return 1;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, osxsave = (c >> 27) & 1;
    if (!osxsave) return 0;
    const uint64_t xcr0 = kern_xgetbv();
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1;
    const int avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    const int os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = (xcr0 & 0xe6) == 0xe6;
    const int has_avx2 = os_avx && avx2 && fma && f16c;
    if (isa == &kern_isa_avx2) return has_avx2;
    if (isa == &kern_isa_avx512) return has_avx2 && os_avx512 && avx512f && avx512dq && avx512bw && avx512vl && vnni;
#elif defined(__aarch64__)
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP);
    if (isa == &kern_isa_neon) return (hw & (1ul << 20)) != 0; /* HWCAP_ASIMDDP: the file uses sdot */
#elif defined(__APPLE__)
    if (isa == &kern_isa_neon) return 1;
#endif
#endif
    return 0;
}

/* Compiled-in tables, best first. */
static const struct kern_isa *const kern_tables[] = {
#if defined(__x86_64__)
    &kern_isa_avx512, &kern_isa_avx2,
#elif defined(__aarch64__)
    &kern_isa_neon,
#endif
    &kern_isa_scalar,
};
#define KERN_N_TABLES (sizeof kern_tables / sizeof kern_tables[0])

static const struct kern_isa *kern_find(const char *name) {
    for (size_t i = 0; i < KERN_N_TABLES; i++)
        if (!strcmp(kern_tables[i]->name, name)) return kern_isa_available(kern_tables[i]) ? kern_tables[i] : NULL;
    return NULL;
}

/* Set by kern_select when EDGELLM_ISA names no ISA at all (a misspelling): the library then
 * refuses to create contexts (kern_isa_error) instead of silently running another path. A
 * valid name the CPU cannot run falls back to the best available path (edgellm_isa() says
 * which). */
static char kern_env_error[160];

static int kern_known_name(const char *name) {
    static const char *const known[] = { "scalar", "avx2", "avx512", "neon" };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(name, known[i])) return 1;
    return 0;
}

static void kern_select(void) {
    const struct kern_isa *isa = NULL;
    const char *env = getenv("EDGELLM_ISA");
    if (env && env[0] && !kern_known_name(env))
        snprintf(kern_env_error, sizeof kern_env_error, "EDGELLM_ISA=%.64s is not one of scalar|avx2|avx512|neon", env);
    if (env && env[0]) isa = kern_find(env);
    for (size_t i = 0; !isa && i < KERN_N_TABLES; i++)
        if (kern_isa_available(kern_tables[i])) isa = kern_tables[i];
    atomic_store(&kern_cur, isa);
}

const struct kern_isa *kern_active(void) {
    pthread_once(&kern_once, kern_select);
    return atomic_load_explicit(&kern_cur, memory_order_acquire);
}

int kern_force(const char *name) {
    pthread_once(&kern_once, kern_select);
    const struct kern_isa *isa = name ? kern_find(name) : NULL;
    if (!isa) return 0;
    atomic_store(&kern_cur, isa);
    return 1;
}

const char *kern_isa_name(void) { return kern_active()->name; }

const char *kern_isa_error(void) {
    pthread_once(&kern_once, kern_select);
    return kern_env_error[0] ? kern_env_error : NULL;
}

/* ---------------------------------------------------------------- matmul */

#define KERN_ALIGN 64

static size_t kern_x_stride(uint32_t wtype, int64_t k) {
    const struct qtype_traits *tt = qtype_get(wtype);
    if (!tt) return 0;
    const size_t rs = qtype_row_size(tt->vec_dot_type, k);
    return (rs + KERN_ALIGN - 1) / KERN_ALIGN * KERN_ALIGN;
}

/* Output rows per work item when there are several token tiles (prefill): three packed groups,
 * which the AVX-512 packed tile runs as one 48-row tile (64 = 3 + 1 groups measured 5% slower
 * in the tile; 128 measured the same as 64). */
#define KERN_CHUNK_PF 48

static size_t kern_align(size_t n) { return (n + KERN_ALIGN - 1) / KERN_ALIGN * KERN_ALIGN; }

/* Bytes of aux entries per token (0 if the activation type has none). */
static size_t kern_aux_stride(uint32_t wtype, int64_t k) {
    const struct qtype_traits *tt = qtype_get(wtype);
    if (!tt || (tt->vec_dot_type != QT_Q8_0 && tt->vec_dot_type != QT_Q8_K)) return 0;
    return kern_align((size_t)(k / 32) * sizeof(struct kern_aux));
}

/* Bytes of one thread's packed chunk: the most any compiled-in table needs for the type (so
 * that a scratch sized before kern_force still fits). */
static size_t kern_pack_bytes(uint32_t wtype, int64_t k) {
    size_t b32 = 0;
    for (size_t i = 0; i < KERN_N_TABLES; i++)
        if (wtype < QT_COUNT && kern_tables[i]->pack_b32[wtype] > b32) b32 = kern_tables[i]->pack_b32[wtype];
    return kern_align(b32 * (size_t)(k / 32) * (KERN_CHUNK_PF / KERN_PACK_R));
}

/* Bytes of one thread's unpacked chunk of a repacked weight: KERN_CHUNK_PF rows of the widest
 * type that can be repacked (F16), so that it holds any of them. */
static size_t kern_unrep_bytes(int64_t k) { return kern_align((size_t)KERN_CHUNK_PF * qtype_row_size(QT_F16, k)); }

size_t kern_matmul_scratch_size(uint32_t wtype, int64_t k, int n, int n_threads) {
    const size_t nn = (size_t)(n > 0 ? n : 0), nth = (size_t)(n_threads > 0 ? n_threads : 1);
    const size_t unrep = kern_repack_layout_known(wtype) ? kern_unrep_bytes(k) * nth : 0;
    return kern_x_stride(wtype, k) * nn + kern_aux_stride(wtype, k) * nn + kern_pack_bytes(wtype, k) * nth + unrep +
           4 * KERN_ALIGN;
}

int kern_repack_wanted(const struct weight *w) {
    return w->type < QT_COUNT && kern_active()->rp_gemv[w->type] && kern_repack_possible(w);
}

void kern_aux_row(uint32_t vdt, const void *xrow, int64_t k, struct kern_aux *aux) {
    if (vdt == QT_Q8_0) {
        const block_q8_0 *b = xrow;
        for (int64_t i = 0; i < k / 32; i++) {
            int32_t sum = 0;
            for (int e = 0; e < 32; e++) sum += b[i].qs[e];
            aux[i] = (struct kern_aux){ .d = fp16_to_f32(b[i].d), .bdy = 0, .o0 = -8 * sum, .o1 = -128 * sum };
        }
    } else if (vdt == QT_Q8_K) {
        const block_q8_K *b = xrow;
        for (int64_t i = 0; i < k / QK_K; i++)
            for (int j = 0; j < QK_K / 32; j++) {
                const int32_t s0 = b[i].bsums[2 * j], s1 = b[i].bsums[2 * j + 1];
                aux[i * (QK_K / 32) + j] = (struct kern_aux){ .d = b[i].d, .bdy = b[i].d * (float)(s0 + s1),
                                                              .o0 = -32 * s0, .o1 = -32 * s1 };
            }
    }
}

#define KERN_MAXW 4 /* weights one kern_matmul_n job can share an input between */

struct kern_mm_job {
    const struct weight *w;    /* the weight kern_mm_rows works on (set per item) */
    const float *x;
    int n;
    int64_t k;
    float *y;
    int64_t ldy;
    char *xq;                  /* quantized activations, n rows of xstride bytes */
    size_t xstride;
    struct kern_aux *aux;      /* their aux entries, n rows of auxstride bytes (NULL: no packing) */
    size_t auxstride;
    uint32_t vdt;
    char *packbuf;             /* this thread's packed chunk (per thread: packbase + ith * packbytes) */
    char *packbase;
    size_t packbytes;
    kern_pack_fn pack;
    kern_pack_fn pack_x4;      /* pack from the repacked layout (NULL: unpack the chunk first) */
    kern_tile_packed_fn tile_packed;
    size_t pack_gbytes;        /* bytes of one packed group of KERN_PACK_R rows */
    qtype_from_float_fn quant;
    qtype_vec_dot_fn vec_dot;
    kern_tile_fn tile;
    int tile_c;                /* tokens per tile call */
    kern_rp_fn rp;             /* decode kernel on the repacked weight (NULL: none) */
    int unrep;                 /* the weight is repacked and this job needs it plain: unpack each chunk */
    char *unrepbuf;            /* this thread's unpacked chunk (unrepbase + ith * unrepbytes) */
    char *unrepbase;
    size_t unrepbytes;
    /* the items of weight i are [first[i], first[i + 1]), chunks[i] output rows each */
    int nw;
    const struct weight *ws[KERN_MAXW];
    float *ys[KERN_MAXW];
    int64_t ldys[KERN_MAXW];
    long chunks[KERN_MAXW];
    long first[KERN_MAXW + 1];
    /* guided items (decode): weight i is rows [roff[i], roff[i + 1]) of one row space, taken
     * from gpos in pieces that shrink with what is left (kern_mm_take) */
    int guided;
    long roff[KERN_MAXW + 1];
    long gmin[KERN_MAXW];      /* smallest piece of weight i, in rows */
    atomic_long gpos;
    kern_tile_fn tiles[KERN_MAXW];
    kern_pack_fn packs[KERN_MAXW];
    kern_pack_fn pack_x4s[KERN_MAXW];
    kern_tile_packed_fn tpacks[KERN_MAXW];
    size_t pack_gb[KERN_MAXW];
    int tile_cs[KERN_MAXW];
    qtype_vec_dot_fn dots[KERN_MAXW];
    kern_rp_fn rps[KERN_MAXW];
    int unreps[KERN_MAXW];
    atomic_long next;          /* next item to take */
};

static void kern_quant_worker(void *arg, int ith, int nth) {
    struct kern_mm_job *job = arg;
    long lo, hi;
    tp_split(job->n, 1, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        char *xr = job->xq + (size_t)i * job->xstride;
        job->quant(job->x + i * job->k, xr, job->k);
        if (job->aux) kern_aux_row(job->vdt, xr, job->k, (struct kern_aux *)((char *)job->aux + (size_t)i * job->auxstride));
    }
}

/* Every token tile against the ng packed groups in this thread's packbuf (rows r0...). */
static void kern_mm_packed_tiles(struct kern_mm_job *job, int ng, long r0) {
    const size_t naux = job->auxstride / sizeof(struct kern_aux);
    for (int j = 0; j < job->n; j += KERN_TILE_C_MAX) {
        const int nc = job->n - j < KERN_TILE_C_MAX ? job->n - j : KERN_TILE_C_MAX;
        job->tile_packed((int)job->k, job->packbuf, ng, job->xq + (size_t)j * job->xstride, job->xstride,
                         (const struct kern_aux *)((const char *)job->aux + (size_t)j * job->auxstride), naux, nc,
                         job->y + j * job->ldy + r0, (size_t)job->ldy);
    }
}

void kern_rp_groups(kern_rp_fn fn, const struct weight *w, int64_t g0, int ng, uint32_t vdt, const void *x,
                    const struct kern_aux *aux, float *y) {
    const int64_t k = w->ne[0], sk = kern_rp_slice(w);
    for (int64_t e0 = 0; e0 < k; e0 += sk)
        fn((int)(k - e0 < sk ? k - e0 : sk), kern_rp_slice_at(w, g0, (int)(e0 / sk)), ng,
           (const char *)x + qtype_row_size(vdt, e0), aux ? aux + e0 / 32 : NULL, y, e0 > 0); /* aux: one per 32 */
}

static void kern_mm_rows(struct kern_mm_job *job, long r0, long r1) {
    const struct weight *w = job->w;
    const char *wd = w->data;
    const int k = (int)job->k;
    if (job->pack_x4 && r0 % KERN_PACK_R == 0) { /* set only for a repacked weight that is packed */
        /* packed straight from the repacked groups (no plain copy in between) */
        const long rx = w->ne[1] / KERN_RP_R * KERN_RP_R, re = r1 < rx ? r1 : rx;
        const int ng = re > r0 ? (int)((re - r0) / KERN_PACK_R) : 0;
        /* slice by slice (repack.c): a slice's groups are those of a matrix with sk-element rows,
         * and its packed columns follow those of the slices before it */
        const int64_t sk = kern_rp_slice(w);
        const size_t pcol = job->pack_gbytes / (size_t)(k / 32);
        for (int g = 0; g < ng; g++)
            for (int64_t e0 = 0; e0 < k; e0 += sk) {
                const int ke = (int)(k - e0 < sk ? k - e0 : sk);
                job->pack_x4(ke, kern_rp_slice_at(w, (r0 + g * KERN_PACK_R) / KERN_RP_R, (int)(e0 / sk)), qtype_row_size(w->type, ke),
                             job->packbuf + (size_t)g * job->pack_gbytes + (size_t)(e0 / 32) * pcol);
            }
        if (ng > 0) kern_mm_packed_tiles(job, ng, r0);
        r0 += (long)ng * KERN_PACK_R;
        if (r0 >= r1) return;
    }
    if (job->unrep) {
        /* the chunk's rows, plain, in this thread's scratch; then as for a plain weight */
        struct weight pw = *w;
        struct kern_mm_job sub = *job;
        kern_unrepack_rows(w, r0, r1, job->unrepbuf);
        pw.data = job->unrepbuf;
        pw.layout = KERN_LAYOUT_ROWS;
        pw.ne[1] = r1 - r0;
        sub.w = &pw;
        sub.y = job->y + r0;
        sub.unrep = 0;
        kern_mm_rows(&sub, 0, r1 - r0);
        return;
    }
    if (job->rp) {
        /* the repacked weight, token by token (so that a token's result does not depend on the
         * batch it is in; the chunk stays in L2 after the first): whole groups through the
         * kernel, the plain tail rows (after the last group) one by one */
        const long rg = r1 < w->ne[1] / KERN_RP_R * KERN_RP_R ? r1 : w->ne[1] / KERN_RP_R * KERN_RP_R;
        for (int j = 0; j < job->n; j++) {
            const char *xj = job->xq + (size_t)j * job->xstride;
            float *yj = job->y + j * job->ldy;
            if (rg > r0)
                kern_rp_groups(job->rp, w, r0 / KERN_RP_R, (int)((rg - r0) / KERN_RP_R), job->vdt, xj,
                               (const struct kern_aux *)((const char *)job->aux + (size_t)j * job->auxstride), yj + r0);
            for (long r = rg > r0 ? rg : r0; r < r1; r++) job->vec_dot(k, yj + r, wd + (size_t)r * w->nb_row, xj);
        }
        return;
    }
    if (job->pack && r1 - r0 >= KERN_PACK_R) {
        /* pack the chunk's whole groups once, then every token tile reads them from L2 */
        const int ng = (int)((r1 - r0) / KERN_PACK_R);
        for (int g = 0; g < ng; g++)
            job->pack(k, wd + (size_t)(r0 + g * KERN_PACK_R) * w->nb_row, w->nb_row, job->packbuf + (size_t)g * job->pack_gbytes);
        kern_mm_packed_tiles(job, ng, r0);
        r0 += (long)ng * KERN_PACK_R;
        if (r0 >= r1) return;
    }
    if (job->tile) {
        /* one call per tile of tokens covers all the chunk's rows: the kernel keeps the tokens'
         * activations in L1 and shares per-token work (offsets, scales) across row groups,
         * while the chunk's weights stay in L2 from one token tile to the next */
        const int tc = job->tile_c;
        for (int j = 0; j < job->n; j += tc) {
            const int nc = job->n - j < tc ? job->n - j : tc;
            job->tile(k, wd + (size_t)r0 * w->nb_row, w->nb_row, (int)(r1 - r0), job->xq + (size_t)j * job->xstride,
                      job->xstride, nc, job->y + j * job->ldy + r0, (size_t)job->ldy);
        }
        return;
    }
    for (long r = r0; r < r1; r++)
        for (int j = 0; j < job->n; j++)
            job->vec_dot(k, job->y + j * job->ldy + r, wd + (size_t)r * w->nb_row, job->xq + (size_t)j * job->xstride);
}

/* Guided scheduling for decode: the next piece is 1 / (KERN_GUIDE_K * nth) of the rows left
 * (at least gmin rows, whole groups, within one weight), so the threads start with long
 * streams and end together: with 8 equal items per thread a thread waited for the other's last
 * item at every matmul (~10% of a thread's time at 2 threads), and more, smaller items cost
 * more than they saved (each restarts the stream and its prefetch). Returns 0 when none is
 * left, else the weight and its rows [*r0, *r1). */
#ifndef KERN_GUIDE_K
#define KERN_GUIDE_K 2
#endif
static int kern_mm_take(struct kern_mm_job *job, int nth, int *wi, long *r0, long *r1) {
    const long total = job->roff[job->nw];
    long pos = atomic_load_explicit(&job->gpos, memory_order_relaxed), end;
    int i;
    do {
        if (pos >= total) return 0;
        i = 0;
        while (pos >= job->roff[i + 1]) i++;
        long size = (total - pos) / ((long)KERN_GUIDE_K * nth);
        if (size < job->gmin[i]) size = job->gmin[i];
        size = (size + KERN_TILE_R - 1) / KERN_TILE_R * KERN_TILE_R;
        end = pos + size < job->roff[i + 1] ? pos + size : job->roff[i + 1];
    } while (!atomic_compare_exchange_weak_explicit(&job->gpos, &pos, end, memory_order_relaxed, memory_order_relaxed));
    *wi = i;
    *r0 = pos - job->roff[i];
    *r1 = end - job->roff[i];
    return 1;
}

static void kern_mm_worker(void *arg, int ith, int nth) {
    struct kern_mm_job *job = arg;
    struct kern_mm_job local; /* per-thread view: w, y, tile, vec_dot change per item */
    local.x = job->x;
    local.n = job->n;
    local.k = job->k;
    local.xq = job->xq;
    local.xstride = job->xstride;
    local.aux = job->aux;
    local.auxstride = job->auxstride;
    local.vdt = job->vdt;
    local.packbuf = job->packbase + (size_t)ith * job->packbytes;
    local.unrepbuf = job->unrepbase + (size_t)ith * job->unrepbytes;
    for (;;) {
        int i = 0;
        long r0, r1;
        if (job->guided) {
            if (!kern_mm_take(job, nth, &i, &r0, &r1)) break;
        } else {
            const long c = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
            if (c >= job->first[job->nw]) break;
            while (c >= job->first[i + 1]) i++;
            const long rows = (long)job->ws[i]->ne[1];
            r0 = (c - job->first[i]) * job->chunks[i];
            r1 = r0 + job->chunks[i] < rows ? r0 + job->chunks[i] : rows;
        }
        local.w = job->ws[i];
        local.y = job->ys[i];
        local.ldy = job->ldys[i];
        local.tile = job->tiles[i];
        local.pack = job->packs[i];
        local.pack_x4 = job->pack_x4s[i];
        local.tile_packed = job->tpacks[i];
        local.pack_gbytes = job->pack_gb[i];
        local.tile_c = job->tile_cs[i];
        local.vec_dot = job->dots[i];
        local.rp = job->rps[i];
        local.unrep = job->unreps[i];
        kern_mm_rows(&local, r0, r1);
    }
}

/* Output rows per work item: enough items per thread that a thread slowed by another process
 * is covered by the others, few enough that the counter is not contended; whole tiles only.
 * in_l2: the chunk's weights are read again by later token tiles (or unpacked into scratch),
 * so a chunk is at most KERN_CHUNK_PF rows, which keeps them in L2. */
static long kern_chunk(long rows, int nth, int packing, int in_l2) {
    long chunk = nth == 1 ? rows : rows / (nth * 8);
    if (in_l2 && chunk > KERN_CHUNK_PF) chunk = KERN_CHUNK_PF;
    /* packing: whole groups, so that which rows are packed does not depend on the chunking */
    const long align = packing ? KERN_PACK_R : KERN_TILE_R;
    chunk = (chunk + align - 1) / align * align;
    return chunk < align ? align : chunk;
}

/* Does a repacked w run through the decode kernel for n tokens? Below KERN_PACK_MIN_N, and for
 * any n where the ISA says its decode kernel beats the tile kernel on unpacked rows (IQ4_XS:
 * prefill on 2 threads 38 -> 95 tok/s, the rows unpacked for the tile cost more than chunks
 * that stay in L2 and are read once per token). */
static int kern_use_rp(const struct kern_isa *isa, const struct weight *w, int n) {
    if (w->type >= QT_COUNT || !isa->rp_gemv[w->type]) return 0;
    return n < KERN_PACK_MIN_N || isa->rp_prefill[w->type];
}

void kern_matmul_n(struct threadpool *tp, int nw, const struct weight *const *w, const float *x, int n, float *const *y,
                   const int64_t *ldy, void *scratch) {
    const struct kern_isa *isa = kern_active();
    if (nw <= 0 || n <= 0) return;
    const struct qtype_traits *tt0 = qtype_get(w[0]->type);
    int same = nw <= KERN_MAXW && tt0 != NULL;
    for (int i = 1; same && i < nw; i++) {
        const struct qtype_traits *ti = qtype_get(w[i]->type);
        same = ti && ti->vec_dot_type == tt0->vec_dot_type && w[i]->ne[0] == w[0]->ne[0];
    }
    if (!same) { /* the inputs would be quantized differently: one at a time */
        for (int i = 0; i < nw; i++) kern_matmul(tp, w[i], x, n, y[i], ldy[i], scratch);
        return;
    }
    const uint32_t vdt = tt0->vec_dot_type;
    const struct qtype_traits *vt = qtype_get(vdt);
    struct kern_mm_job job = {
        .w = w[0], .x = x, .n = n, .k = w[0]->ne[0],
        .xstride = kern_x_stride(w[0]->type, w[0]->ne[0]),
        .quant = isa->quantize[vdt] ? isa->quantize[vdt] : vt->from_float,
        .nw = nw,
    };
    job.xq = (char *)(((uintptr_t)scratch + KERN_ALIGN - 1) / KERN_ALIGN * KERN_ALIGN);
    job.vdt = vdt;
    int packing = 0;
    for (int i = 0; i < nw; i++)
        packing |= n >= KERN_PACK_MIN_N && isa->pack[w[i]->type] && isa->tile_packed[w[i]->type] && isa->pack_b32[w[i]->type] &&
                    w[i]->ne[1] >= KERN_PACK_R && kern_aux_stride(w[i]->type, job.k) > 0;
    int rp = 0, unrep = 0;
    for (int i = 0; i < nw; i++) {
        if (w[i]->layout != KERN_LAYOUT_X4) continue;
        if (kern_use_rp(isa, w[i], n)) rp = 1;
        else unrep = 1;
    }
    job.auxstride = kern_aux_stride(w[0]->type, job.k);
    job.aux = (struct kern_aux *)(job.xq + job.xstride * (size_t)n);
    job.packbase = (char *)job.aux + job.auxstride * (size_t)n;
    if (!packing && !rp) job.aux = NULL;
    if (packing)
        for (int i = 0; i < nw; i++) {
            const size_t pb = kern_pack_bytes(w[i]->type, job.k);
            if (pb > job.packbytes) job.packbytes = pb;
        }
    job.unrepbase = job.packbase + job.packbytes * (size_t)(tp ? tp_n_threads(tp) : 1);
    if (unrep) job.unrepbytes = kern_unrep_bytes(job.k);
    if (n == 1 || !tp || tp_n_threads(tp) == 1) kern_quant_worker(&job, 0, 1);
    else tp_run(tp, kern_quant_worker, &job);

    const int nth = tp_n_threads(tp);
    long total_rows = 0;
    for (int i = 0; i < nw; i++) total_rows += (long)w[i]->ne[1];
    /* one chunk size for the whole job, from all its rows, so that its items cost alike */
    const int in_l2 = n > KERN_TILE_C || packing || unrep || (rp && n > 1);
    const long chunk = kern_chunk(total_rows, nth, packing, in_l2);
    job.first[0] = 0;
    for (int i = 0; i < nw; i++) {
        const struct qtype_traits *ti = qtype_get(w[i]->type);
        const long rows = (long)w[i]->ne[1];
        job.ws[i] = w[i];
        job.ys[i] = y[i];
        job.ldys[i] = ldy[i];
        job.tiles[i] = isa->tile[w[i]->type];
        if (packing && n >= KERN_PACK_MIN_N && isa->pack[w[i]->type] && isa->tile_packed[w[i]->type] &&
            isa->pack_b32[w[i]->type]) {
            job.packs[i] = isa->pack[w[i]->type];
            job.tpacks[i] = isa->tile_packed[w[i]->type];
            job.pack_gb[i] = (size_t)isa->pack_b32[w[i]->type] * (size_t)(job.k / 32);
            if (w[i]->layout == KERN_LAYOUT_X4) job.pack_x4s[i] = isa->pack_x4[w[i]->type];
        }
        const int tc = isa->tile_c[w[i]->type];
        job.tile_cs[i] = tc > 0 && tc <= KERN_TILE_C_MAX ? tc : KERN_TILE_C;
        job.dots[i] = isa->vec_dot[w[i]->type] ? isa->vec_dot[w[i]->type] : ti->vec_dot;
        if (w[i]->layout == KERN_LAYOUT_X4) {
            if (kern_use_rp(isa, w[i], n)) job.rps[i] = isa->rp_gemv[w[i]->type];
            else job.unreps[i] = 1;
        }
        job.chunks[i] = chunk;
        job.first[i + 1] = job.first[i] + (rows + chunk - 1) / chunk;
        job.roff[i + 1] = job.roff[i] + rows;
        /* a piece of at least 64 KiB of weights (of each slice's stream, repacked in slices) */
        const size_t rowb =
            job.rps[i] ? qtype_row_size(w[i]->type, kern_rp_slice(w[i])) : w[i]->nb_row;
        const long gm = (long)((size_t)65536 / (rowb ? rowb : 1));
        job.gmin[i] = gm > KERN_TILE_R ? gm : KERN_TILE_R;
    }
    /* decode-sized jobs, whose chunks need not stay in L2 */
    job.guided = nth > 1 && !in_l2;
    atomic_init(&job.next, 0);
    atomic_init(&job.gpos, 0);
    tp_run(tp, kern_mm_worker, &job);
}

void kern_matmul(struct threadpool *tp, const struct weight *w, const float *x, int n, float *y, int64_t ldy,
                 void *scratch) {
    kern_matmul_n(tp, 1, &w, x, n, &y, &ldy, scratch);
}

void kern_get_row(const struct weight *w, int64_t r, float *y) {
    const struct kern_isa *isa = kern_active();
    const struct qtype_traits *tt = qtype_get(w->type);
    if (!tt) return;
    qtype_to_float_fn f = isa->to_float[w->type] ? isa->to_float[w->type] : tt->to_float;
    if (w->layout == KERN_LAYOUT_X4 && r < w->ne[1] / KERN_RP_R * KERN_RP_R) kern_repacked_row(w, r, y, f);
    else f((const char *)w->data + (size_t)r * w->nb_row, y, w->ne[0]);
}

/* ---------------------------------------------------------------- float helpers */

/* The sum of squares is accumulated in double, and the gain applied after scaling, as the
 * reference engine does (rms_norm then mul), so that logits match it closely. */
static void kern_rmsnorm_ref(float *y, const float *x, const float *g, int n, float eps) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (int i = 0; i < n; i++) y[i] = (x[i] * scale) * g[i];
}

static float kern_dot_f32_ref(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)(a[i] * b[i]);
    return (float)s;
}

static void kern_axpy_f32_ref(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void kern_silu_mul_ref(float *g, const float *u, int n) {
    for (int i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void kern_rmsnorm(float *y, const float *x, const float *g, int n, float eps) {
    const struct kern_isa *isa = kern_active();
    (isa->rmsnorm ? isa->rmsnorm : kern_rmsnorm_ref)(y, x, g, n, eps);
}

float kern_dot_f32(const float *a, const float *b, int n) {
    const struct kern_isa *isa = kern_active();
    return (isa->dot_f32 ? isa->dot_f32 : kern_dot_f32_ref)(a, b, n);
}

void kern_axpy_f32(float *y, float a, const float *x, int n) {
    const struct kern_isa *isa = kern_active();
    (isa->axpy_f32 ? isa->axpy_f32 : kern_axpy_f32_ref)(y, a, x, n);
}

void kern_silu_mul(float *g, const float *u, int n) {
    const struct kern_isa *isa = kern_active();
    (isa->silu_mul ? isa->silu_mul : kern_silu_mul_ref)(g, u, n);
}

/* g = gelu(g) * u with GELU's tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Gemma's
 * gelu_pytorch_tanh; the reference engine's ggml_gelu). Scalar only: it is not on a hot path. */
void kern_gelu_mul(float *g, const float *u, int n) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int i = 0; i < n; i++) {
        float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(c * x * (1.0f + 0.044715f * x * x))) * u[i];
    }
}

const char *edgellm_isa(void) { return kern_isa_name(); }
