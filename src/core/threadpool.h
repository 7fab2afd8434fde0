/* Persistent worker threads. A job is fn(arg, ith, nth) run once on each of nth threads
 * (the caller is thread 0); tp_run returns when all have finished. Workers spin briefly
 * waiting for the next job, then sleep on a condition variable. */
#ifndef EDGELLM_THREADPOOL_H
#define EDGELLM_THREADPOOL_H

typedef void (*tp_fn)(void *arg, int ith, int nth);
struct threadpool;

/* n_threads >= 1 (including the caller). NULL on failure. */
struct threadpool *tp_new(int n_threads);
void tp_free(struct threadpool *tp);
/* Threads that take part in jobs: n_threads at creation, fewer after tp_set_active. */
int tp_n_threads(const struct threadpool *tp);
/* Runs the next jobs on threads 0..n-1 only (1 <= n <= the created count; the others stay idle).
 * 0, or -1 when n is out of range. Not while a job runs. */
int tp_set_active(struct threadpool *tp, int n);
/* Runs fn on all threads; tp may be NULL (runs fn(arg, 0, 1)). */
void tp_run(struct threadpool *tp, tp_fn fn, void *arg);
/* Splits [0, n) into nth nearly equal chunks aligned to `align`; sets [*lo, *hi) for ith. */
void tp_split(long n, long align, int ith, int nth, long *lo, long *hi);
#endif
