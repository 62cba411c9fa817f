/* chapter_arrays.c - stage 1 of the chapter: the NumPy listing in plain C.
 *
 * Fits y = w*x^2 + b with plain double arrays and gradients derived by
 * hand, following the listing line by line:
 *     dLoss/dw = sum((w*x^2 + b - y) * x^2),  dLoss/db = sum(w*x^2 + b - y)
 * Only the random numbers come from tapegrad (tg_rng, NumPy's stream), and
 * the sums are added in NumPy's order, so the chapter's run prints NumPy's
 * numbers to the last digit. (x^2 is x*x here; NumPy's np.power may use a
 * SIMD pow that is off by one unit in the last place for some x, so other
 * runs can differ from NumPy around 1e-16 relative.) Run with --help for
 * the flags.
 */
#include <math.h>
#include <stdlib.h>

#include "common/chapter.h"

/* np.sum of n contiguous doubles, in NumPy's order (its pairwise_sum):
 * fewer than 8 values one after another; up to 128 in eight interleaved
 * partial sums combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) plus the
 * leftovers; longer runs split in two halves (the first a multiple of 8)
 * summed recursively. A plain loop would agree to about 1e-15 relative;
 * this makes the C and NumPy runs identical. */
static double pairwise_sum(const double *v, long n)
{
    if (n < 8) {
        double s = 0.0;
        for (long i = 0; i < n; i++)
            s += v[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++)
            r[j] = v[j];
        long i = 8;
        for (; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += v[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            s += v[i];
        return s;
    }
    long half = n / 2;
    half -= half % 8;
    return pairwise_sum(v, half) + pairwise_sum(v + half, n - half);
}

/* NumPy feeds a reduction to pairwise_sum in buffers of 8192 elements. */
static double np_sum(const double *v, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i += 8192)
        s += pairwise_sum(v + i, n - i < 8192 ? n - i : 8192);
    return s;
}

int main(int argc, char **argv)
{
    ex_options o;
    int rc = ex_parse_args(&o, "chapter_arrays", argc, argv);
    if (rc >= 0)
        return rc;
    long n = o.n;

    /* One block for the six arrays of n values, plus the loss history. */
    double *mem = malloc((size_t)(6 * n + o.iters) * sizeof *mem);
    if (!mem) {
        fprintf(stderr, "chapter_arrays: out of memory\n");
        return 1;
    }
    double *x = mem;            /* (n,) */
    double *x2 = x + n;         /* (n,) x^2 */
    double *y = x2 + n;         /* (n,) */
    double *y_pred = y + n;     /* (n,) */
    double *diff = y_pred + n;  /* (n,) y_pred - y */
    double *terms = diff + n;   /* (n,) the terms of the sum being taken */
    double *losses = terms + n; /* (iters,) */

    /* np.random.seed(100) */
    tg_rng rng;
    tg_rng_seed(&rng, o.seed);

    /* x = np.linspace(-1, 1, 100): i*step + start, the last one exactly 1 */
    double step = 2.0 / (double)(n - 1);
    for (long i = 0; i < n; i++)
        x[i] = (double)i * step + -1.0;
    x[n - 1] = 1.0;

    /* y = 3*np.power(x, 2) + 2 + 0.2*np.random.rand(x.size) */
    for (long i = 0; i < n; i++) {
        x2[i] = x[i] * x[i];
        y[i] = 3.0 * x2[i] + 2.0 + 0.2 * tg_rng_random(&rng);
    }

    /* w1 = np.random.rand(1, 1); b1 = np.random.rand(1, 1) */
    double w = tg_rng_random(&rng);
    double b = tg_rng_random(&rng);
    ex_print_init(w, b);

    double lr = o.lr, loss = (double)NAN;
    for (long it = 0; it < o.iters; it++) {
        /* forward: y_pred = np.power(x, 2)*w1 + b1 */
        for (long i = 0; i < n; i++) {
            y_pred[i] = x2[i] * w + b;
            diff[i] = y_pred[i] - y[i];
        }
        /* loss = (0.5*(y_pred - y)**2).sum() */
        for (long i = 0; i < n; i++)
            terms[i] = 0.5 * (diff[i] * diff[i]);
        loss = np_sum(terms, n);
        losses[it] = loss;
        ex_print_progress(&o, it, loss);

        /* gradients, derived by hand:
         * grad_w = np.sum((y_pred - y)*np.power(x, 2)); grad_b = np.sum(y_pred - y) */
        for (long i = 0; i < n; i++)
            terms[i] = diff[i] * x2[i];
        double grad_w = np_sum(terms, n);
        double grad_b = np_sum(diff, n);

        /* gradient descent: w1 -= lr*grad_w; b1 -= lr*grad_b */
        w -= lr * grad_w;
        b -= lr * grad_b;
    }

    rc = ex_write_figures(&o, x, y, n, w, b, losses, o.iters);
    if (rc == 0)
        ex_print_final(w, b, loss);
    free(mem);
    return rc;
}
