/* Thread pool tests: every job runs once on each ith (0..nth-1) for 1..8 threads, over many
 * back-to-back jobs (the spinning path) and jobs separated by pauses (the sleeping path);
 * tp_split partitions [0, n) exactly, in order, aligned, with sizes differing by <= align. */
#include <stdatomic.h>
#include <time.h>

#include "testutil.h"
#include "core/threadpool.h"

#define MAXT 8

struct job {
    atomic_int hits[MAXT];
    atomic_int bad_nth;
    int expect_nth;
    long sum_lo_hi;          /* filled by tp_split work: total covered elements */
    atomic_long covered;
    long n;
};

static void job_fn(void *arg, int ith, int nth) {
    struct job *j = arg;
    if (nth != j->expect_nth || ith < 0 || ith >= MAXT) { atomic_fetch_add(&j->bad_nth, 1); return; }
    atomic_fetch_add(&j->hits[ith], 1);
    long lo, hi;
    tp_split(j->n, 1, ith, nth, &lo, &hi);
    atomic_fetch_add(&j->covered, hi - lo);
}

static void sleep_ms(int ms) {
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

static void test_split(void) {
    int bad = 0;
    for (long n = 0; n < 300; n += 7)
        for (long align = 1; align <= 32; align *= 2)
            for (int nth = 1; nth <= 8; nth++) {
                long prev = 0, mn = n + 1, mx = -1;
                for (int i = 0; i < nth; i++) {
                    long lo, hi;
                    tp_split(n, align, i, nth, &lo, &hi);
                    if (lo != prev || hi < lo || hi > n) bad++;
                    if ((lo % align && lo != n) || (hi % align && hi != n)) bad++;
                    if (hi - lo < mn) mn = hi - lo;
                    if (hi - lo > mx) mx = hi - lo;
                    prev = hi;
                }
                if (prev != n) bad++;
                if (n && mx - mn > 2 * align) bad++; /* whole units differ by one; the tail is cut */
            }
    CHECKF(bad == 0, "%d tp_split violations", bad);
    long lo, hi;
    tp_split(10, 4, 0, 2, &lo, &hi);
    CHECK(lo == 0 && hi == 8); /* 3 units of 4: thread 0 gets 2 */
    tp_split(10, 4, 1, 2, &lo, &hi);
    CHECK(lo == 8 && hi == 10);
    tp_split(5, 1, 4, 8, &lo, &hi);
    CHECK(lo == 4 && hi == 5);
    tp_split(5, 1, 6, 8, &lo, &hi);
    CHECK(lo == 5 && hi == 5);
}

int main(void) {
    test_split();
    CHECK(tp_new(0) == NULL);
    CHECK(tp_n_threads(NULL) == 1);
    {
        struct job j = { .expect_nth = 1, .n = 5 };
        tp_run(NULL, job_fn, &j);
        CHECK(atomic_load(&j.hits[0]) == 1 && atomic_load(&j.covered) == 5);
    }
    for (int nt = 1; nt <= MAXT; nt++) {
        struct threadpool *tp = tp_new(nt);
        CHECK(tp != NULL);
        if (!tp) continue;
        CHECK(tp_n_threads(tp) == nt);
        const int n_jobs = 1200;
        int bad = 0;
        for (int r = 0; r < n_jobs; r++) {
            struct job j = { .expect_nth = nt, .n = 1000 + r };
            for (int i = 0; i < MAXT; i++) atomic_init(&j.hits[i], 0);
            atomic_init(&j.bad_nth, 0);
            atomic_init(&j.covered, 0);
            if (r % 300 == 299) sleep_ms(5); /* let workers fall asleep on the condvar */
            tp_run(tp, job_fn, &j);
            for (int i = 0; i < MAXT; i++) if (atomic_load(&j.hits[i]) != (i < nt)) bad++;
            if (atomic_load(&j.bad_nth) || atomic_load(&j.covered) != j.n) bad++;
        }
        CHECKF(bad == 0, "nt=%d: %d bad jobs", nt, bad);
        tp_free(tp);
    }
    tp_free(NULL);
    return TEST_DONE();
}
