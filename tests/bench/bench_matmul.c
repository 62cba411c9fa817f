/* bench_matmul.c - workload W4: tg_matmul on square matrices, the result
 * allocated by each call and freed (as NumPy's a @ b and torch.matmul do).
 *
 * Flags (defaults): --dtype float32|float64 (float32) --sizes 64,128,256,512,1024
 * --portable (force the portable kernel with tg_use_blas(false)) --min-time
 * 0.1 (seconds per sample) --samples 3. For each size: one warm-up call,
 * calls per sample chosen so a sample lasts about min-time, then the
 * samples. Prints one RESULT line per size (harness.h) with gflops=
 * 2n^3 / median time and check= the sum of the last product (inputs are
 * rand() from seed 0, so the sides can be compared).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tapegrad.h"
#include "harness.h"

#define PROG "bench_matmul"
#define MAX_SAMPLES 100

/* Times tg_matmul(a, b) for one n; returns 0 or 1 after a failure. */
static int bench_size(tg_dtype dt, long n, bool portable, double min_time,
                      long samples)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tensor *a = tg_rand(&rng, dt, TG_SHAPE(n, n)); /* (n, n) */
    tg_tensor *b = tg_rand(&rng, dt, TG_SHAPE(n, n)); /* (n, n) */
    tg_tensor *total = NULL;
    double per_iter[MAX_SAMPLES], check = 0.0;
    int rc = 1;
    if (!a || !b) {
        bench_fail(PROG, "making the inputs");
        goto done;
    }

    /* Warm-up call, which also sizes the samples. */
    double t0 = bench_now();
    tg_tensor *c = tg_matmul(a, b);
    double one = bench_now() - t0;
    if (!c) {
        bench_fail(PROG, "tg_matmul");
        goto done;
    }
    tg_free(c);
    long iters = one > 0.0 ? (long)(min_time / one) + 1 : 1000;

    for (long s = 0; s < samples; s++) {
        t0 = bench_now();
        for (long it = 0; it < iters; it++) {
            c = tg_matmul(a, b);
            if (!c) {
                bench_fail(PROG, "tg_matmul");
                goto done;
            }
            if (s + 1 < samples || it + 1 < iters)
                tg_free(c);
        }
        per_iter[s] = (bench_now() - t0) / (double)iters;
    }
    total = tg_sum(c);
    tg_free(c);
    if (!total || tg_item(total, &check)) {
        bench_fail(PROG, "summing the product");
        goto done;
    }

    char workload[32], impl[32], extra[128];
    snprintf(workload, sizeof workload, "w4_%s_%ld",
             dt == TG_FLOAT32 ? "f32" : "f64", n);
    snprintf(impl, sizeof impl, "%s", portable ? "tapegrad_portable" : "tapegrad");
    double med = bench_median(per_iter, (int)samples);
    snprintf(extra, sizeof extra, "n=%ld gflops=%.3f check=%.10g blas=%d", n,
             2.0 * (double)n * (double)n * (double)n / med * 1e-9, check,
             tg_blas_available() && !portable);
    bench_result(workload, impl, per_iter, (int)samples, iters, extra);
    rc = 0;
done:
    tg_free(total);
    tg_free(a);
    tg_free(b);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dtype = bench_arg_str(argc, argv, "dtype", "float32");
    const char *sizes = bench_arg_str(argc, argv, "sizes", "64,128,256,512,1024");
    bool portable = bench_arg_flag(argc, argv, "portable");
    double min_time = bench_arg_double(argc, argv, "min-time", 0.1);
    long samples = bench_arg_long(argc, argv, "samples", 3);
    bool f32 = !strcmp(dtype, "float32");
    if ((!f32 && strcmp(dtype, "float64")) || samples < 1 ||
        samples > MAX_SAMPLES || !(min_time >= 0.0)) {
        fprintf(stderr, PROG ": bad arguments (--dtype float32|float64,"
                        " --samples 1..%d, --min-time >= 0)\n", MAX_SAMPLES);
        return 2;
    }
    if (portable)
        tg_use_blas(false);

    const char *p = sizes;
    while (*p) {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p || n < 1 || (*end && *end != ',')) {
            fprintf(stderr, PROG ": --sizes: '%s' is not a list of sizes\n", sizes);
            return 2;
        }
        if (bench_size(f32 ? TG_FLOAT32 : TG_FLOAT64, n, portable, min_time,
                       samples))
            return 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}
