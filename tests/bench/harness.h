/* harness.h - what the benchmark programs in tests/bench/ share: a clock,
 * command-line numbers, a counting allocator, the median, peak memory and
 * the one result line that tests/bench/run.py parses.
 *
 *     RESULT workload=w1 impl=tapegrad sec=1.2e-06 samples=3 iters=20000 ...
 *
 * sec is the median over the samples of (sample time / iters): the time of
 * one iteration (a training step, an op, a matmul, an epoch). Further
 * key=value fields (allocs, check, acc, maxrss_kb) follow. */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "../../tapegrad.h"

/* Seconds from a monotonic clock. */
double bench_now(void);

/* The value of --NAME V or --NAME=V in argv, else def. A value that is not
 * a number exits with status 2 (these are test programs, not the library). */
long bench_arg_long(int argc, char **argv, const char *name, long def);
double bench_arg_double(int argc, char **argv, const char *name, double def);
const char *bench_arg_str(int argc, char **argv, const char *name,
                          const char *def);
bool bench_arg_flag(int argc, char **argv, const char *name);

/* Installs a counting allocator with tg_set_allocator; call before any
 * tapegrad object exists. bench_allocations() is the number of blocks
 * obtained so far (new blocks and reallocations, not frees). */
void bench_count_allocations(void);
long bench_allocations(void);

/* The median of v[0..n) (sorts v). */
double bench_median(double *v, int n);

/* Peak resident set of this process in KiB (getrusage's ru_maxrss). */
long bench_peak_rss_kb(void);

/* Prints the RESULT line: workload, impl, the median of the per-iteration
 * sample times, samples, iters, then `extra` (more key=value fields, may be
 * NULL or ""). Flushes stdout. */
void bench_result(const char *workload, const char *impl, double *per_iter,
                  int samples, long iters, const char *extra);

/* Reports a failed tapegrad call (with tg_last_message) on stderr; returns 1. */
int bench_fail(const char *prog, const char *what);

/* One training step on T: 0 with *loss and *loss_t (the loss tensor on T,
 * which a replay of a captured step rewrites), else nonzero. */
typedef int (*bench_step_fn)(tg_tape *T, void *ctx, double *loss, tg_tensor **loss_t);
/* The --replay modes of the training benchmarks (bench_mlp, bench_cnn):
 * 0 runs every step eagerly on T; 1 runs the first full-batch step eagerly
 * on a tape of its own, captures the second (autograd/plan.h) and replays
 * it from then on; 2 does the same with the plan fused. A short last batch
 * has another shape, so it always runs eagerly on T. */
typedef struct bench_replay {
    long mode;         /* 0, 1 or 2, as above */
    tg_tape *T;        /* the eager steps' tape (the caller's) */
    tg_tape *TR;       /* the captured step's tape */
    tg_plan *P;        /* the captured step, once captured */
    tg_tensor *loss_t; /* the captured step's loss */
    long full_steps, tail_steps;
} bench_replay;
/* One step (full: a full batch) as the mode says; sets *allocates when it
 * is the first on its tape or the capture, which may allocate. 0, or
 * bench_fail's 1 under prog. */
int bench_replay_step(bench_replay *r, const char *prog, bool full, bench_step_fn step,
                      void *ctx, double *loss, bool *allocates);
/* The impl= name of a RESULT line for r's mode. */
const char *bench_replay_impl(const bench_replay *r);
/* Frees the plan and the tape r made (not r->T, the caller's). */
void bench_replay_free(bench_replay *r);

#endif /* BENCH_HARNESS_H */
