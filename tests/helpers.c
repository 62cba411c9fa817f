/* helpers.c - the test suite's counting allocator, shared assertions and
 * the runner of example programs. */
#include "helpers.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

tgt_alloc_stats tgt_stats;

/* The pool's threads allocate too (their packing buffers), so the counts
 * are kept under a lock: unguarded, two threads' increments could be lost
 * and a balanced test report a leak of -1 blocks. */
static pthread_mutex_t counting_lock = PTHREAD_MUTEX_INITIALIZER;

static void *counting_alloc_locked(void *ptr, size_t osize, size_t nsize);

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    pthread_mutex_lock(&counting_lock);
    void *p = counting_alloc_locked(ptr, osize, nsize);
    pthread_mutex_unlock(&counting_lock);
    return p;
}

static void *counting_alloc_locked(void *ptr, size_t osize, size_t nsize)
{
    if (nsize == 0) {
        if (ptr) {
            tgt_stats.frees++;
            tgt_stats.live_blocks--;
            tgt_stats.live_bytes -= (long long)osize;
            free(ptr);
        }
        return NULL;
    }
    tgt_stats.calls++;
    if (tgt_stats.fail_at > 0 && tgt_stats.calls == tgt_stats.fail_at)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    if (ptr) {
        tgt_stats.reallocs++;
        tgt_stats.live_bytes += (long long)nsize - (long long)osize;
    } else {
        tgt_stats.allocs++;
        tgt_stats.live_blocks++;
        tgt_stats.live_bytes += (long long)nsize;
    }
    return p;
}

void tgt_alloc_install(void)
{
    memset(&tgt_stats, 0, sizeof tgt_stats);
    tg_set_allocator(counting_alloc, NULL);
}

void tgt_alloc_uninstall(void) { tg_set_allocator(NULL, NULL); }

void tgt_setup(void)
{
    tgt_alloc_install();
    tg_clear_error();
}

void tgt_teardown(void)
{
    long live = tgt_stats.live_blocks;
    long long bytes = tgt_stats.live_bytes;
    tgt_alloc_uninstall();
    ck_assert_msg(live == 0, "leak: %ld blocks (%lld bytes) still live", live,
                  bytes);
}

TCase *tgt_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, tgt_setup, tgt_teardown);
    tcase_set_timeout(tc, 120);
    return tc;
}

double tgt_at(const tg_tensor *t, int64_t i)
{
    int nd = tg_ndim(t);
    const int64_t *sh = tg_shape(t);
    int64_t idx[TG_MAX_DIMS];
    for (int k = nd - 1; k >= 0; k--) {
        idx[k] = sh[k] ? i % sh[k] : 0;
        i = sh[k] ? i / sh[k] : 0;
    }
    double v = 0;
    ck_assert_int_eq(tg_get(t, idx, &v), TG_OK);
    return v;
}

void tgt_assert_shape(const tg_tensor *t, int ndim, const int64_t *shape)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_ndim(t), ndim);
    for (int k = 0; k < ndim; k++)
        ck_assert_int_eq(tg_shape(t)[k], shape[k]);
}

const char *tgt_data(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "data/%s", name);
    return buf;
}

bool tgt_same_value(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

long tgt_sweep_failures(tgt_op1_fn f, const tg_tensor *x, const char *name)
{
    for (long k = 1; k <= 64; k++) {
        long live = tgt_stats.live_blocks;
        tg_clear_error();
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        tg_tensor *r = f(x);
        tgt_stats.fail_at = 0;
        if (r) {
            tg_free(r);
            ck_assert_int_eq(tgt_stats.live_blocks, live);
            return k - 1;
        }
        ck_assert_msg(tg_last_error() == TG_ERR_NOMEM,
                      "%s, allocation %ld failed: code %d (%s)", name, k,
                      tg_last_error(), tg_last_message());
        TGT_ASSERT_ERR(TG_ERR_NOMEM, name);
        ck_assert_msg(tgt_stats.live_blocks == live,
                      "%s leaked when allocation %ld failed", name, k);
    }
    ck_abort_msg("%s never succeeded", name);
    return -1;
}

/* ---- Running an example program ------------------------------------------- */

tgt_run *tgt_new_run(void)
{
    tgt_run *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* The first cap - 1 bytes of f, from its start, '\0'-terminated. */
static void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    ck_assert_msg(!ferror(f), "reading a child's output failed");
}

void tgt_run_example(const char *name, const char *const *args, const char *out_path,
                     tgt_run *r)
{
    const char *build = getenv("TG_BUILD");
    ck_assert_msg(build != NULL, "TG_BUILD is not set; run the tests with make check");
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/%s", build, name);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not built", path);

    char *argv[32];
    int argc = 0;
    argv[argc++] = path;
    for (; args[argc - 1] != NULL; argc++) {
        ck_assert_int_lt(argc, 31);
        argv[argc] = (char *)(uintptr_t)args[argc - 1]; /* execv's signature */
    }
    argv[argc] = NULL;

    FILE *out = out_path ? fopen(out_path, "w") : tmpfile(), *err = tmpfile();
    ck_assert_msg(out && err, "cannot make the child's output files");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        if (dup2(fileno(out), STDOUT_FILENO) < 0 || dup2(fileno(err), STDERR_FILENO) < 0)
            _exit(126);
        execv(path, argv);
        _exit(127);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (out_path)
        r->out[0] = '\0';
    else
        slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
    fclose(out);
    fclose(err);
}
