/* harness.c - clock, arguments, counting allocator and result line for the
 * benchmark programs (see harness.h). */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../../tapegrad.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The text after --NAME (as the next argument or after '='), or NULL. */
static const char *find_arg(int argc, char **argv, const char *name)
{
    size_t len = strlen(name);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, len) != 0)
            continue;
        if (a[2 + len] == '=')
            return a + 3 + len;
        if (a[2 + len] == '\0' && i + 1 < argc)
            return argv[i + 1];
    }
    return NULL;
}

static void bad_number(const char *name, const char *value)
{
    fprintf(stderr, "bench: --%s: '%s' is not a number\n", name, value);
    exit(2);
}

long bench_arg_long(int argc, char **argv, const char *name, long def)
{
    const char *s = find_arg(argc, argv, name);
    if (!s)
        return def;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno)
        bad_number(name, s);
    return v;
}

double bench_arg_double(int argc, char **argv, const char *name, double def)
{
    const char *s = find_arg(argc, argv, name);
    if (!s)
        return def;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno)
        bad_number(name, s);
    return v;
}

const char *bench_arg_str(int argc, char **argv, const char *name,
                          const char *def)
{
    const char *s = find_arg(argc, argv, name);
    return s ? s : def;
}

bool bench_arg_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strcmp(argv[i] + 2, name))
            return true;
    return false;
}

/* ---- counting allocator ---- */

static long allocations;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    allocations++;
    return realloc(ptr, nsize);
}

void bench_count_allocations(void)
{
    allocations = 0;
    tg_set_allocator(counting_alloc, NULL);
}

long bench_allocations(void) { return allocations; }

/* ---- statistics and output ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

long bench_peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss; /* KiB on Linux */
}

void bench_result(const char *workload, const char *impl, double *per_iter,
                  int samples, long iters, const char *extra)
{
    double med = bench_median(per_iter, samples);
    printf("RESULT workload=%s impl=%s sec=%.6e samples=%d iters=%ld%s%s\n",
           workload, impl, med, samples, iters, extra && *extra ? " " : "",
           extra ? extra : "");
    fflush(stdout);
}

int bench_fail(const char *prog, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, tg_last_message());
    return 1;
}

int bench_replay_step(bench_replay *r, const char *prog, bool full, bench_step_fn step,
                      void *ctx, double *loss, bool *allocates)
{
    tg_tensor *loss_t = NULL;
    *allocates = r->mode && (full ? r->full_steps <= 1 : !r->tail_steps);
    if (r->mode && full && r->P) {
        if (tg_plan_replay(r->P) || tg_item(r->loss_t, loss))
            return bench_fail(prog, "replaying the step");
    } else if (r->mode && full) { /* the first eager, the second captured */
        bool capture = r->full_steps == 1;
        if ((!r->TR && !(r->TR = tg_tape_new())) || (capture && tg_capture_begin(r->TR)) ||
            step(r->TR, ctx, loss, &loss_t) ||
            (capture && (!(r->P = tg_capture_end(r->TR)) ||
                         (r->mode == 2 && tg_plan_fuse(r->P, 0, NULL)))))
            return bench_fail(prog, "training or capturing the step");
        r->loss_t = loss_t;
    } else if (step(r->T, ctx, loss, &loss_t)) {
        return bench_fail(prog, "training step");
    }
    r->full_steps += full;
    r->tail_steps += !full;
    return 0;
}

const char *bench_replay_impl(const bench_replay *r)
{
    return r->mode == 2 ? "tapegrad_fused_replay" : r->mode ? "tapegrad_replay" : "tapegrad";
}

void bench_replay_free(bench_replay *r)
{
    tg_plan_free(r->P);
    tg_tape_free(r->TR);
    r->P = NULL;
    r->TR = NULL;
}
