/* bench_conv.c - workload W6b: one conv2d forward + backward, the layers of
 * the CNN of W6a at batch 64. Each iteration resets the tape, zeroes the
 * gradients of x (N, C, H, H), w (O, C, 3, 3) and b (O,), records
 * tg_ad_conv2d (padding 1) and walks back from its result with a fixed
 * seed gradient (tg_backward_seed), so it computes the result and all
 * three gradients. The inputs are a fixed pattern that
 * tests/bench/peers.py's conv-torch builds too (element i: scale * (((i *
 * 7919) % 2003) / 2003 - 0.5)), so both sides compute the same numbers.
 *
 * Flags (defaults): --shapes CxOxHsS,... (1x32x28s1,32x64x14s1,64x64x7s2:
 * C in channels, O out channels, H the image side, S the stride) --batch
 * 64 --min-time 0.2 --samples 3. Per shape: one warm-up call, then samples
 * of as many calls as make a sample last --min-time seconds. Prints one
 * RESULT line (harness.h) per shape, workload w6b_f32_CxO_H_sS, with
 * gflops= (forward, input and weight gradient: 3 x 2 N O OH OW C 9, over
 * the median time), check= the sum of w's gradient and allocs= tapegrad's
 * allocations after the first call.
 */
#include <stdio.h>

#include "../../tapegrad.h"
#include "harness.h"

#define PROG "bench_conv"
#define MAX_SAMPLES 100

/* The shared input pattern, rounded to float32 (as NumPy's astype). */
static tg_tensor *pattern(int ndim, const int64_t *shape, double scale)
{
    tg_tensor *t = tg_empty(TG_FLOAT32, ndim, shape);
    if (!t)
        return NULL;
    float *p = tg_data(t);
    int64_t n = tg_numel(t);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(((double)((i * 7919) % 2003) / 2003.0 - 0.5) * scale);
    return t;
}

/* Times one shape; returns 0 or 1 (after reporting the failure). */
static int bench_shape(long batch, long cin, long cout, long hw, long stride,
                       double min_time, long samples)
{
    const long pad = 1;
    int64_t oh = (hw + 2 * pad - 3) / stride + 1;
    tg_tape *T = tg_tape_new();
    tg_tensor *x = pattern(TG_SHAPE(batch, cin, hw, hw), 1.0);     /* (N, C, H, H) */
    tg_tensor *w = pattern(TG_SHAPE(cout, cin, 3, 3), 0.2);        /* (O, C, 3, 3) */
    tg_tensor *b = pattern(TG_SHAPE(cout), 0.1);                   /* (O,) */
    tg_tensor *seed = pattern(TG_SHAPE(batch, cout, oh, oh), 1.0); /* (N, O, OH, OH) */
    tg_conv_args args = TG_CONV_ARGS;
    args.stride[0] = args.stride[1] = stride;
    args.padding[0] = args.padding[1] = pad;
    double per_iter[MAX_SAMPLES], check = 0.0;
    long iters = 1, allocs_after_first = 0;
    int rc = 1;
    if (!T || !x || !w || !b || !seed || tg_requires_grad(x, true) ||
        tg_requires_grad(w, true) || tg_requires_grad(b, true)) {
        bench_fail(PROG, "creating the tape and the leaves");
        goto done;
    }

    /* s = -2: the warm-up call; s = -1: one timed call that sets iters. */
    for (long s = -2; s < samples; s++) {
        long steps = s < 0 ? 1 : iters;
        double t0 = bench_now();
        for (long it = 0; it < steps; it++) {
            if (tg_tape_reset(T) || tg_zero_grad(x) || tg_zero_grad(w) ||
                tg_zero_grad(b)) {
                bench_fail(PROG, "reset");
                goto done;
            }
            tg_tensor *y = tg_ad_conv2d(T, x, w, b, &args); /* (N, O, OH, OH) */
            if (!y || tg_backward_seed(T, y, seed)) {
                bench_fail(PROG, "conv2d forward + backward");
                goto done;
            }
        }
        double dt = bench_now() - t0;
        if (s == -2)
            allocs_after_first = bench_allocations();
        else if (s == -1)
            iters = dt > 0.0 && min_time / dt < 1e6 ? (long)(min_time / dt) + 1 : 1000000;
        else
            per_iter[s] = dt / (double)steps;
    }

    const float *dw = tg_data(tg_grad(w));
    for (int64_t i = 0; i < tg_numel(w); i++)
        check += (double)dw[i];
    double flop = 3.0 * 2.0 * (double)(batch * cout * oh * oh * cin * 9);
    double med = bench_median(per_iter, (int)samples);
    char workload[128], extra[160];
    snprintf(workload, sizeof workload, "w6b_f32_%ldx%ld_%ld_s%ld", cin, cout, hw,
             stride);
    snprintf(extra, sizeof extra, "gflops=%.2f check=%.9g allocs=%ld",
             flop / med * 1e-9, check, bench_allocations() - allocs_after_first);
    bench_result(workload, "tapegrad", per_iter, (int)samples, iters, extra);
    rc = 0;
done:
    tg_tape_free(T);
    tg_free(x);
    tg_free(w);
    tg_free(b);
    tg_free(seed);
    return rc;
}

int main(int argc, char **argv)
{
    const char *shapes = bench_arg_str(argc, argv, "shapes",
                                       "1x32x28s1,32x64x14s1,64x64x7s2");
    long batch = bench_arg_long(argc, argv, "batch", 64);
    double min_time = bench_arg_double(argc, argv, "min-time", 0.2);
    long samples = bench_arg_long(argc, argv, "samples", 3);
    if (batch < 1 || !(min_time > 0.0) || samples < 1 || samples > MAX_SAMPLES) {
        fprintf(stderr, PROG ": bad arguments (--batch >= 1, --min-time > 0, "
                        "--samples 1..%d)\n", MAX_SAMPLES);
        return 2;
    }
    bench_count_allocations();
    for (const char *p = shapes; *p;) {
        long cin, cout, hw, stride;
        int used = 0;
        if (sscanf(p, "%ldx%ldx%lds%ld%n", &cin, &cout, &hw, &stride, &used) != 4 ||
            (p[used] != ',' && p[used] != '\0') || cin < 1 || cout < 1 || hw < 1 ||
            hw > 4096 || stride < 1) {
            fprintf(stderr, PROG ": --shapes: bad shape at '%s' (want CxOxHsS, "
                            "e.g. 32x64x14s1)\n", p);
            return 2;
        }
        if (bench_shape(batch, cin, cout, hw, stride, min_time, samples))
            return 1;
        p += used + (p[used] == ',');
    }
    return 0;
}
