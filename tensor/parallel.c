/* parallel.c - the intra-op thread pool: tg_set_num_threads, and
 * tg__parallel_for, which splits a range of work over the pool's threads
 * and the caller.
 *
 * The pool starts with the first parallel region after the thread count
 * was set above 1 (tg_set_num_threads, or TG_NUM_THREADS in the
 * environment); with one thread, the default, nothing here runs and no
 * thread is made. Between regions the workers poll for about 50
 * microseconds (the ops of one step follow each other closely, and waking
 * a thread through the kernel costs tens of microseconds in a virtual
 * machine), then sleep on a condition variable, so that a long product
 * on OpenBLAS's threads does not compete with them. They are joined when
 * the count drops and at exit.
 *
 * Results never depend on the thread count: a region's parts are disjoint
 * ranges of independent work (elements of an elementwise op, rows of an
 * update or of a product on tapegrad's own kernels, NumPy's 8192-value
 * blocks of a sum, whose partial sums the caller then adds in order), so
 * each value is computed by the same operations whichever thread
 * computes it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

#define MAX_THREADS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* the pool's state */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;   /* a region or stop */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;   /* a region's end */
/* One region at a time (and resizing between them): a second caller that
 * finds it taken runs its region alone. */
static pthread_mutex_t region = PTHREAD_MUTEX_INITIALIZER;

static _Atomic int want = 0; /* threads asked for; 0 until decided */
static int nworkers = 0;     /* worker threads running (want - 1 or fewer) */
static pthread_t workers[MAX_THREADS];
static uint64_t born[MAX_THREADS]; /* the generation when each was made */
static _Atomic uint64_t generation; /* counts regions; workers wait for a new one */
static _Atomic bool stopping;
static int sleepers;         /* workers asleep on wake (under lock) */
static bool exit_hook;       /* the atexit join is registered */
/* The region's work, written by the caller before it publishes the
 * region's home words below, and unchanged until all its chunks are done. */
static struct {
    tg__range_fn fn;
    void *ctx;
    int64_t n, chunk;
} job;
/* Each of the region's participants (the caller 0, worker i) owns
 * CHUNKS consecutive chunks of the range, and takes them first (so that a
 * thread works on the same part of the data op after op, which stays in
 * its core's cache); then it takes what the others have not started, so
 * that a worker slow to wake holds nobody up. home[p] is the region's
 * number (high bits) and participant p's next chunk (low 20 bits): a
 * claim only succeeds in the region it was made for. */
#define CHUNKS 4
static _Atomic uint64_t home[MAX_THREADS];
static _Atomic int participants; /* of the current region */
static _Atomic int finished; /* chunks of the region done */
static _Thread_local bool in_worker;

#define HOME(gen, next) (((uint64_t)(gen) & 0xffffffffu) << 20 | (uint64_t)(next))

/* The count from TG_NUM_THREADS, or 1 (unset or not a whole number in
 * [1, MAX_THREADS]). */
static int env_threads(void)
{
    const char *s = getenv("TG_NUM_THREADS");
    if (!s || !*s)
        return 1;
    char *end;
    long v = strtol(s, &end, 10);
    return *end == '\0' && v >= 1 && v <= MAX_THREADS ? (int)v : 1;
}

/* About 50 microseconds of polling before a wait sleeps. */
#define SPINS 20000

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The next chunk of participant q's in region gen, or -1. */
static int claim(int q, uint64_t gen)
{
    uint64_t t = home[q];
    for (;;) {
        if ((t >> 20) != (gen & 0xffffffffu) || (t & 0xfffffu) >= CHUNKS)
            return -1;
        if (atomic_compare_exchange_weak(&home[q], &t, t + 1))
            return (int)(t & 0xfffffu);
    }
}

/* Participant me's share of region gen, then whatever the others have
 * not started. Any thread may run any chunk: a chunk's work does not
 * depend on who does it. */
static void run_chunks(uint64_t gen, int me, int np)
{
    for (int k = 0; k < np; k++) {
        int q = (me + k) % np, c;
        while ((c = claim(q, gen)) >= 0) {
            int64_t b = ((int64_t)q * CHUNKS + c) * job.chunk;
            if (b < job.n)
                job.fn(job.ctx, b, b + job.chunk < job.n ? b + job.chunk : job.n);
            if (atomic_fetch_add(&finished, 1) + 1 == np * CHUNKS) {
                pthread_mutex_lock(&lock);
                pthread_cond_signal(&done);
                pthread_mutex_unlock(&lock);
            }
        }
    }
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg; /* 1..nworkers */
    in_worker = true;
    pthread_mutex_lock(&lock);
    /* not the generation now: a region may have started already */
    uint64_t seen = born[id - 1];
    pthread_mutex_unlock(&lock);
    for (;;) {
        for (int i = 0; i < SPINS && !stopping && generation == seen; i++)
            cpu_pause();
        if (!stopping && generation == seen) {
            pthread_mutex_lock(&lock);
            sleepers++;
            while (!stopping && generation == seen)
                pthread_cond_wait(&wake, &lock);
            sleepers--;
            pthread_mutex_unlock(&lock);
        }
        if (stopping)
            break;
        seen = generation; /* written after participants */
        int np = participants;
        if (id < np)
            run_chunks(seen, id, np);
    }
    return NULL;
}

/* Stops and joins every worker. Called with region held (or at exit). */
static void stop_workers(void)
{
    pthread_mutex_lock(&lock);
    stopping = true;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i], NULL);
    pthread_mutex_lock(&lock);
    stopping = false;
    nworkers = 0;
    pthread_mutex_unlock(&lock);
}

/* A child made by fork() has the caller's thread only: it starts with no
 * workers (and fresh locks), and makes its own at its next large op. */
static void after_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    pthread_mutex_init(&region, NULL);
    pthread_cond_init(&wake, NULL);
    pthread_cond_init(&done, NULL);
    nworkers = 0;
    sleepers = 0;
    stopping = false;
}

static void join_at_exit(void)
{
    pthread_mutex_lock(&region);
    stop_workers();
    pthread_mutex_unlock(&region);
}

/* Starts workers up to want - 1; a thread that cannot be made leaves the
 * pool smaller (the regions then have fewer parts), never an error. Called
 * with region held. */
static void grow_pool(void)
{
    if (!exit_hook)
        exit_hook = atexit(join_at_exit) == 0 &&
                    pthread_atfork(NULL, NULL, after_fork_child) == 0;
    while (nworkers < want - 1 && exit_hook) {
        born[nworkers] = generation; /* no region runs while region is held */
        if (pthread_create(&workers[nworkers], NULL, worker_main,
                           (void *)(intptr_t)(nworkers + 1)) != 0)
            break;
        pthread_mutex_lock(&lock);
        nworkers++;
        pthread_mutex_unlock(&lock);
    }
}

int tg_set_num_threads(int n)
{
    if (n < 1 || n > MAX_THREADS)
        return tg__fail(TG_ERR_VALUE, "tg_set_num_threads",
                        "%d threads; the count must be in [1, %d]", n, MAX_THREADS);
    if (in_worker)
        return tg__fail(TG_ERR_VALUE, "tg_set_num_threads",
                        "called from one of the pool's own threads");
    pthread_mutex_lock(&region);
    if (nworkers > n - 1)
        stop_workers();
    want = n;
    pthread_mutex_unlock(&region);
    return TG_OK;
}

int tg_get_num_threads(void)
{
    pthread_mutex_lock(&region);
    if (want == 0)
        want = env_threads();
    int n = want;
    pthread_mutex_unlock(&region);
    return n;
}

void tg__parallel_for(int64_t n, int64_t grain, tg__range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (want == 1 || in_worker || n < 2 * grain || pthread_mutex_trylock(&region) != 0) {
        fn(ctx, 0, n);
        return;
    }
    if (want == 0)
        want = env_threads();
    if (want > 1 && nworkers < want - 1)
        grow_pool();
    if (nworkers == 0) {
        pthread_mutex_unlock(&region);
        fn(ctx, 0, n);
        return;
    }
    /* CHUNKS chunks a participant, each a multiple of grain long (the
     * last ones shorter or empty). */
    int np = nworkers + 1, parts = np * CHUNKS;
    int64_t chunk = (n + parts - 1) / parts;
    chunk = (chunk + grain - 1) / grain * grain;
    pthread_mutex_lock(&lock);
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    job.chunk = chunk;
    finished = 0;
    participants = np;
    uint64_t gen = generation + 1;
    for (int q = 0; q < np; q++)
        home[q] = HOME(gen, 0);
    generation = gen;
    if (sleepers > 0)
        pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    run_chunks(gen, 0, np);
    for (int i = 0; i < SPINS && finished < parts; i++)
        cpu_pause();
    if (finished < parts) {
        pthread_mutex_lock(&lock);
        while (finished < parts)
            pthread_cond_wait(&done, &lock);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_unlock(&region);
}
