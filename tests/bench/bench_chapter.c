/* bench_chapter.c - workloads W1 and W2: one gradient-descent step of the
 * chapter's model y = w*x^2 + b with loss 0.5 * sum((pred - y)^2), float64.
 *
 *   --impl tape   tapegrad's tape with the ops of examples/chapter_autograd.c:
 *                 reset, pow_scalar, mul, add, sub, pow_scalar, mul_scalar,
 *                 sum, item, zero_grad x2, backward, axpy x2
 *   --impl replay the tape step above captured once (plan.h) after one
 *                 eager step, then replayed: tg_plan_replay and the loss's
 *                 tg_item each step
 *   --impl fused_replay  the same with tg_plan_fuse: the element-wise
 *                 kernels and the sums run as one pass in tiles
 *   --impl fused  a hand-written C loop: one pass over the points computes
 *                 the loss and both gradients, then the update (the floor)
 *
 * The data are the chapter's, from NumPy's seed-100 stream: x = linspace(-1,
 * 1, n), y = 3x^2 + 2 + 0.2 rand(n), w0 = rand(), b0 = rand(), so the peers
 * in peers.py train on the same numbers. Flags (defaults): --workload w1
 * --n 100 --lr 0.001 --warmup 1000 --iters 20000 --samples 3. After the
 * warm-up, each of the samples times iters steps. Prints a RESULT line (see
 * harness.h) with check= the final w, and for the tape allocs= the number of
 * tapegrad allocations during steps 2..N (replay: 3..N, after the capture;
 * a counting allocator is installed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tapegrad.h"
#include "harness.h"

#define PROG "bench_chapter"
#define MAX_SAMPLES 100

/* The tape step, exactly as chapter_autograd.c's train_step. */
static bool tape_step(tg_tape *T, tg_tensor *w, tg_tensor *b, tg_tensor *x,
                      tg_tensor *y, double lr, double *loss, tg_tensor **root)
{
    if (tg_tape_reset(T))
        return false;
    tg_tensor *x2 = tg_ad_pow_scalar(T, x, 2.0);                   /* (n,) */
    tg_tensor *pred = tg_ad_add(T, tg_ad_mul(T, x2, w), b);        /* (n,) */
    tg_tensor *err = tg_ad_sub(T, pred, y);                        /* (n,) */
    tg_tensor *half_sq = tg_ad_mul_scalar(T, tg_ad_pow_scalar(T, err, 2.0), 0.5);
    tg_tensor *total = tg_ad_sum(T, half_sq);                      /* () */
    if (!total || tg_item(total, loss))
        return false;
    *root = total;
    if (tg_zero_grad(w) || tg_zero_grad(b) || tg_backward(T, total))
        return false;
    return tg_axpy_into(w, -lr, tg_grad(w)) == TG_OK &&
           tg_axpy_into(b, -lr, tg_grad(b)) == TG_OK;
}

/* The floor: loss and both gradients in one pass, summed in order.
 * dL/dw = sum(err * x^2), dL/db = sum(err). */
static void fused_step(const double *x, const double *y, int64_t n, double *w,
                       double *b, double lr, double *loss)
{
    double l = 0.0, gw = 0.0, gb = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double x2 = x[i] * x[i];
        double err = *w * x2 + *b - y[i];
        l += 0.5 * err * err;
        gw += err * x2;
        gb += err;
    }
    *w -= lr * gw;
    *b -= lr * gb;
    *loss = l;
}

/* The chapter's data: x, y (n,) float64 and the initial w, b. */
static int make_data(int64_t n, tg_tensor **x, tg_tensor **y, double *w0,
                     double *b0)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    *x = tg_linspace(TG_FLOAT64, -1.0, 1.0, n);
    *y = tg_rand(&rng, TG_FLOAT64, 1, (const int64_t[]){n});
    if (!*x || !*y)
        return bench_fail(PROG, "making the data");
    const double *xs = tg_data(*x);
    double *ys = tg_data(*y);
    for (int64_t i = 0; i < n; i++)
        ys[i] = 3.0 * (xs[i] * xs[i]) + 2.0 + 0.2 * ys[i];
    *w0 = tg_rng_random(&rng);
    *b0 = tg_rng_random(&rng);
    return 0;
}

int main(int argc, char **argv)
{
    const char *workload = bench_arg_str(argc, argv, "workload", "w1");
    const char *impl = bench_arg_str(argc, argv, "impl", "tape");
    long n = bench_arg_long(argc, argv, "n", 100);
    double lr = bench_arg_double(argc, argv, "lr", 0.001);
    long warmup = bench_arg_long(argc, argv, "warmup", 1000);
    long iters = bench_arg_long(argc, argv, "iters", 20000);
    long samples = bench_arg_long(argc, argv, "samples", 3);
    bool fuse = !strcmp(impl, "fused_replay");
    bool replay = fuse || !strcmp(impl, "replay");
    bool tape = replay || !strcmp(impl, "tape");
    if ((!tape && strcmp(impl, "fused")) || n < 1 || warmup < 1 || iters < 1 ||
        samples < 1 || samples > MAX_SAMPLES) {
        fprintf(stderr, PROG ": bad arguments (--impl tape|replay|fused_replay|fused, --n, --warmup,"
                        " --iters >= 1, --samples 1..%d)\n", MAX_SAMPLES);
        return 2;
    }

    bench_count_allocations();
    tg_tensor *x = NULL, *y = NULL, *w = NULL, *b = NULL;
    tg_tape *T = NULL;
    tg_plan *P = NULL;
    tg_tensor *root = NULL; /* the loss on the tape */
    double w0 = 0.0, b0 = 0.0, loss = (double)NAN, per_iter[MAX_SAMPLES];
    long allocs_after_first = 0;
    int rc = 1;
    if (make_data((int64_t)n, &x, &y, &w0, &b0))
        goto done;
    const double *xs = tg_data(x), *ys = tg_data(y);
    double wf = w0, bf = b0; /* the fused loop's parameters */

    if (tape) {
        T = tg_tape_new();
        w = tg_full(TG_FLOAT64, TG_SHAPE(1), w0); /* (1,) leaf */
        b = tg_full(TG_FLOAT64, TG_SHAPE(1), b0); /* (1,) leaf */
        if (!T || !w || !b || tg_requires_grad(w, true) ||
            tg_requires_grad(b, true)) {
            bench_fail(PROG, "creating the tape and the parameters");
            goto done;
        }
    }

    for (long s = -1; s < samples; s++) { /* s = -1: the warm-up */
        long steps = s < 0 ? warmup : iters;
        double t0 = bench_now();
        for (long it = 0; it < steps; it++) {
            if (!tape) {
                fused_step(xs, ys, (int64_t)n, &wf, &bf, lr, &loss);
            } else if (P) {
                if (tg_plan_replay(P) || tg_item(root, &loss)) {
                    bench_fail(PROG, "replaying the step");
                    goto done;
                }
            } else if ((replay && s < 0 && it == 1 && tg_capture_begin(T)) ||
                       !tape_step(T, w, b, x, y, lr, &loss, &root)) {
                bench_fail(PROG, "training step");
                goto done;
            } else if (replay && s < 0 && it == 1 &&
                       (!(P = tg_capture_end(T)) || (fuse && tg_plan_fuse(P, 0, NULL)))) {
                bench_fail(PROG, "capturing the step");
                goto done;
            }
            if (s < 0 && it == (replay ? 1 : 0)) /* replay: after the capture */
                allocs_after_first = bench_allocations();
        }
        if (s >= 0)
            per_iter[s] = (bench_now() - t0) / (double)steps;
    }

    if (tape && (tg_item(w, &wf) || tg_item(b, &bf))) {
        bench_fail(PROG, "reading the parameters");
        goto done;
    }
    char extra[160];
    int len = snprintf(extra, sizeof extra, "n=%ld check=%.17g loss=%.17g", n,
                       wf, loss);
    if (tape)
        snprintf(extra + len, sizeof extra - (size_t)len, " allocs=%ld",
                 bench_allocations() - allocs_after_first);
    bench_result(workload, fuse ? "tapegrad_fused_replay" : replay ? "tapegrad_replay"
                           : tape ? "tapegrad" : "fused_c", per_iter, (int)samples,
                 iters, extra);
    rc = 0;
done:
    tg_plan_free(P);
    tg_tape_free(T);
    tg_free(w);
    tg_free(b);
    tg_free(x);
    tg_free(y);
    return rc;
}
