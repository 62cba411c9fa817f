/* bench_op.c - workload W5: the fixed cost of one recorded op. Each
 * iteration is a whole forward + backward of c = a + b (or a * b) on
 * one-element float64 leaves: reset the tape, zero both gradients, record
 * the op, backward from c (one element, so no sum is needed).
 *
 * Flags (defaults): --op add|mul (add) --warmup 10000 --iters 200000
 * --samples 3. Prints a RESULT line (harness.h) with the gradients reached
 * (check= da, which is 1 for add and b = 3 for mul) and allocs= the number
 * of tapegrad allocations after the first iteration.
 */
#include <stdio.h>
#include <string.h>

#include "../../tapegrad.h"
#include "harness.h"

#define PROG "bench_op"
#define MAX_SAMPLES 100

int main(int argc, char **argv)
{
    const char *op = bench_arg_str(argc, argv, "op", "add");
    long warmup = bench_arg_long(argc, argv, "warmup", 10000);
    long iters = bench_arg_long(argc, argv, "iters", 200000);
    long samples = bench_arg_long(argc, argv, "samples", 3);
    bool is_add = !strcmp(op, "add");
    if ((!is_add && strcmp(op, "mul")) || warmup < 1 || iters < 1 ||
        samples < 1 || samples > MAX_SAMPLES) {
        fprintf(stderr, PROG ": bad arguments (--op add|mul, --warmup, --iters"
                        " >= 1, --samples 1..%d)\n", MAX_SAMPLES);
        return 2;
    }

    bench_count_allocations();
    tg_tape *T = tg_tape_new();
    tg_tensor *a = tg_full(TG_FLOAT64, TG_SHAPE(1), 2.0); /* (1,) leaf */
    tg_tensor *b = tg_full(TG_FLOAT64, TG_SHAPE(1), 3.0); /* (1,) leaf */
    double per_iter[MAX_SAMPLES], da = 0.0;
    long allocs_after_first = 0;
    int rc = 1;
    if (!T || !a || !b || tg_requires_grad(a, true) || tg_requires_grad(b, true)) {
        bench_fail(PROG, "creating the tape and the leaves");
        goto done;
    }

    for (long s = -1; s < samples; s++) { /* s = -1: the warm-up */
        long steps = s < 0 ? warmup : iters;
        double t0 = bench_now();
        for (long it = 0; it < steps; it++) {
            if (tg_tape_reset(T) || tg_zero_grad(a) || tg_zero_grad(b)) {
                bench_fail(PROG, "reset");
                goto done;
            }
            tg_tensor *c = is_add ? tg_ad_add(T, a, b) : tg_ad_mul(T, a, b);
            if (tg_backward(T, c)) {
                bench_fail(PROG, "backward");
                goto done;
            }
            if (s < 0 && it == 0)
                allocs_after_first = bench_allocations();
        }
        if (s >= 0)
            per_iter[s] = (bench_now() - t0) / (double)steps;
    }

    if (tg_item(tg_grad(a), &da)) {
        bench_fail(PROG, "reading the gradient");
        goto done;
    }
    char workload[16], extra[96];
    snprintf(workload, sizeof workload, "w5_%s", op);
    snprintf(extra, sizeof extra, "check=%.17g allocs=%ld", da,
             bench_allocations() - allocs_after_first);
    bench_result(workload, "tapegrad", per_iter, (int)samples, iters, extra);
    rc = 0;
done:
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
    return rc;
}
