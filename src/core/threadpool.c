/* Persistent worker threads for the kernels (threadpool.h). The caller of tp_run is thread 0;
 * workers 1..n-1 wait for the job generation counter to move: they spin (with a CPU pause)
 * for a short while, since the forward pass issues ~10 jobs per layer back to back, then
 * sleep on a condition variable so an idle context costs no CPU. Completion is a counter the
 * caller spins on. The job (fn, arg) is published before the generation is bumped (release)
 * and read after it is seen (acquire).
 */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#define TP_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define TP_PAUSE() __asm__ __volatile__("yield")
#else
#define TP_PAUSE() ((void)0)
#endif

/* Pauses a worker spins before sleeping (~50-100 us), and the caller's spins between yields
 * while it waits for the others (the machine may be oversubscribed). */
#define TP_SPIN_WORKER (1 << 13)
#define TP_SPIN_CALLER (1 << 10)

struct tp_worker {
    struct threadpool *tp;
    pthread_t th;
    int ith;
};

struct threadpool {
    int n_threads;
    int n_active;                   /* threads that take part in the next jobs (tp_set_active) */
    int nth_job;                    /* n_active of the current job, valid while gen is current */
    struct tp_worker *workers;      /* [n_threads - 1], worker i has ith = i + 1 */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;                /* bumped once per job */
    atomic_int n_done;              /* workers finished with the current job */
    atomic_int n_sleeping;          /* workers inside (or entering) cond_wait */
    atomic_int stop;
    tp_fn fn;                       /* the current job, valid while gen is current */
    void *arg;
};

static void *tp_worker_main(void *p) {
    struct tp_worker *w = p;
    struct threadpool *tp = w->tp;
    unsigned seen = 0; /* gen at tp_new: a job posted before this thread ran must not be missed */
    for (;;) {
        unsigned g = 0;
        int spins = 0;
        while ((g = atomic_load_explicit(&tp->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&tp->stop, memory_order_acquire) && spins < TP_SPIN_WORKER) {
            TP_PAUSE();
            spins++;
        }
        if (g == seen && !atomic_load(&tp->stop)) {
            /* n_sleeping is raised under the mutex before re-checking gen; tp_run bumps gen
             * before reading n_sleeping, so one of the two sides always sees the other. */
            pthread_mutex_lock(&tp->mu);
            atomic_fetch_add(&tp->n_sleeping, 1);
            while ((g = atomic_load(&tp->gen)) == seen && !atomic_load(&tp->stop)) pthread_cond_wait(&tp->cv, &tp->mu);
            atomic_fetch_sub(&tp->n_sleeping, 1);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop)) break;
        seen = g;
        if (w->ith < tp->nth_job) tp->fn(tp->arg, w->ith, tp->nth_job);
        atomic_fetch_add_explicit(&tp->n_done, 1, memory_order_release);
    }
    return NULL;
}

struct threadpool *tp_new(int n_threads) {
    if (n_threads < 1) return NULL;
    struct threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n_threads = n_threads;
    tp->n_active = n_threads;
    atomic_init(&tp->gen, 0);
    atomic_init(&tp->n_done, 0);
    atomic_init(&tp->n_sleeping, 0);
    atomic_init(&tp->stop, 0);
    if (pthread_mutex_init(&tp->mu, NULL)) { free(tp); return NULL; }
    if (pthread_cond_init(&tp->cv, NULL)) { pthread_mutex_destroy(&tp->mu); free(tp); return NULL; }
    if (n_threads > 1) {
        tp->workers = calloc((size_t)n_threads - 1, sizeof *tp->workers);
        if (!tp->workers) { tp->n_threads = 1; tp_free(tp); return NULL; }
        for (int i = 0; i < n_threads - 1; i++) {
            tp->workers[i].tp = tp;
            tp->workers[i].ith = i + 1;
            if (pthread_create(&tp->workers[i].th, NULL, tp_worker_main, &tp->workers[i])) {
                tp->n_threads = i + 1; /* only the first i workers exist: tp_free joins those */
                tp_free(tp);
                return NULL;
            }
        }
    }
    return tp;
}

void tp_free(struct threadpool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, 1);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 0; i < tp->n_threads - 1; i++) pthread_join(tp->workers[i].th, NULL);
    free(tp->workers);
    pthread_cond_destroy(&tp->cv);
    pthread_mutex_destroy(&tp->mu);
    free(tp);
}

int tp_n_threads(const struct threadpool *tp) { return tp ? tp->n_active : 1; }

int tp_set_active(struct threadpool *tp, int n) {
    if (!tp || n < 1 || n > tp->n_threads) return -1;
    tp->n_active = n;
    return 0;
}

void tp_run(struct threadpool *tp, tp_fn fn, void *arg) {
    if (!tp || tp->n_active == 1) {
        fn(arg, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->arg = arg;
    tp->nth_job = tp->n_active;
    atomic_store_explicit(&tp->n_done, 0, memory_order_relaxed);
    atomic_fetch_add(&tp->gen, 1); /* seq_cst: publishes fn/arg/n_done, ordered before n_sleeping */
    if (atomic_load(&tp->n_sleeping) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
    }
    fn(arg, 0, tp->nth_job);
    int spins = 0;
    while (atomic_load_explicit(&tp->n_done, memory_order_acquire) != tp->n_threads - 1) {
        TP_PAUSE();
        if (++spins == TP_SPIN_CALLER) { spins = 0; sched_yield(); }
    }
}

void tp_split(long n, long align, int ith, int nth, long *lo, long *hi) {
    if (align < 1) align = 1;
    if (nth < 1) nth = 1;
    const long units = n > 0 ? (n + align - 1) / align : 0;
    const long base = units / nth, rem = units % nth;
    const long u0 = ith * base + (ith < rem ? ith : rem);
    const long u1 = u0 + base + (ith < rem ? 1 : 0);
    long a = u0 * align, b = u1 * align;
    if (a > n) a = n > 0 ? n : 0;
    if (b > n) b = n > 0 ? n : 0;
    *lo = a;
    *hi = b;
}
