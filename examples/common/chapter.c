/* chapter.c - the chapter's data, the examples' output lines and their two
 * figures (the fit and the loss curve). */
#include "chapter.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

/* Points of the red curve, evenly spaced on [-1, 1]. */
#define CURVE_POINTS 201

int ex_chapter_data(const ex_options *o, tg_tensor **x, tg_tensor **y,
                    double *w0, double *b0)
{
    *x = *y = NULL;
    tg_rng rng;
    tg_rng_seed(&rng, o->seed);                        /* np.random.seed(100) */

    /* The listing's expression, one op per tensor so each can be freed:
     * y = 3*np.power(x, 2) + 2 + 0.2*np.random.rand(x.size). A failure
     * makes every later result NULL, so one check at the end suffices. */
    tg_tensor *xs = tg_linspace(TG_FLOAT64, -1.0, 1.0, o->n);  /* (n,) */
    tg_tensor *x2 = tg_pow_scalar(xs, 2.0);
    tg_tensor *x2_3 = tg_mul_scalar(x2, 3.0);
    tg_tensor *clean = tg_add_scalar(x2_3, 2.0);
    tg_tensor *r = tg_rand(&rng, TG_FLOAT64, 1, (const int64_t[]){o->n});
    tg_tensor *noise = tg_mul_scalar(r, 0.2);
    tg_tensor *ys = tg_add(clean, noise);
    tg_free(x2);
    tg_free(x2_3);
    tg_free(clean);
    tg_free(r);
    tg_free(noise);
    if (!xs || !ys) {
        tg_free(xs);
        tg_free(ys);
        return ex_fail(o, "making the data");
    }
    *x = xs;
    *y = ys;
    *w0 = tg_rng_random(&rng);                         /* w1 = np.random.rand() */
    *b0 = tg_rng_random(&rng);                         /* b1 = np.random.rand() */
    return 0;
}

void ex_print_init(double w, double b)
{
    ex_printf("init w=%.17g b=%.17g\n", w, b);
}

void ex_print_final(double w, double b, double loss)
{
    ex_printf("w=%.17g b=%.17g loss=%.17g\n", w, b, loss);
}

void ex_print_progress(const ex_options *o, long step, double loss)
{
    if (!o->quiet && (step % 100 == 0 || step == o->iters - 1))
        ex_printf("step %4ld  loss %.6g\n", step, loss);
}

int ex_fail(const ex_options *o, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", o->stage, what, tg_last_message());
    return 1;
}

const double *ex_doubles(const tg_tensor *t)
{
    return (const double *)tg_data(t);
}

static int write_error(const ex_options *o, const char *path)
{
    fprintf(stderr, "%s: cannot write %s: %s\n", o->stage, path, strerror(errno));
    return 1;
}

/* Values past this size are clipped rather than fitted into the axes, so
 * that the range's width stays a finite number. */
#define HUGE_VALUE 1e300

/* The smallest and largest finite values of v[0..n), the count of the
 * others in *bad; false when none is finite. */
static bool finite_range(const double *v, long n, double *lo, double *hi, long *bad)
{
    *lo = (double)INFINITY;
    *hi = -(double)INFINITY;
    for (long i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            ++*bad;
            continue;
        }
        *lo = v[i] < *lo ? v[i] : *lo;
        *hi = v[i] > *hi ? v[i] : *hi;
    }
    return *lo <= *hi;
}

/* [lo, hi] widened by frac of its width on each side (a single value by
 * 1 or a tenth of itself), within +-HUGE_VALUE. */
static void widen(double *lo, double *hi, double frac)
{
    *lo = *lo < -HUGE_VALUE ? -HUGE_VALUE : *lo;
    *hi = *hi > HUGE_VALUE ? HUGE_VALUE : *hi;
    double span = *hi - *lo;
    if (span <= 0.0)
        span = fabs(*lo) > 10.0 ? fabs(*lo) : 10.0;
    *lo -= frac * span;
    *hi += frac * span;
}

/* The fit: data as blue points, the model's curve in red. The ranges come
 * from what is drawn, with margins, so that no point is cut in half and a
 * curve far from the data (a diverged run, a run without zero_grad) is
 * still on the figure; what is not finite is said on it. */
static int write_fit(const ex_options *o, const double *x, const double *y,
                     long n, double w, double b)
{
    double cx[CURVE_POINTS], cy[CURVE_POINTS];
    for (int i = 0; i < CURVE_POINTS; i++) {
        cx[i] = -1.0 + 2.0 * i / (CURVE_POINTS - 1);
        cy[i] = w * cx[i] * cx[i] + b;
    }
    double xlo, xhi, ylo, yhi, clo, chi;
    long bad_data = 0, bad_curve = 0, bad_x = 0;
    if (!finite_range(x, n, &xlo, &xhi, &bad_x)) {
        xlo = -1.0;
        xhi = 1.0;
    }
    bool data = finite_range(y, n, &ylo, &yhi, &bad_data);
    bool curve = finite_range(cy, CURVE_POINTS, &clo, &chi, &bad_curve);
    if (!data) {
        ylo = curve ? clo : 0.0;
        yhi = curve ? chi : 1.0;
    } else if (curve) {
        ylo = clo < ylo ? clo : ylo;
        yhi = chi > yhi ? chi : yhi;
    }
    widen(&xlo, &xhi, 0.05);
    widen(&ylo, &yhi, 0.08);

    char title[160], note[160];
    snprintf(title, sizeof title, "%s: y = w x\xc2\xb2 + b, w = %.5g, b = %.5g",
             o->stage, w, b);
    ex_plot p = ex_plot_new(title, "x", "y", xlo, xhi, ylo, yhi);
    p.legend = EX_LEGEND_AUTO;
    if (bad_curve) {
        snprintf(note, sizeof note, "w x\xc2\xb2 + b is not finite (w = %g, b = %g)%s",
                 w, b, curve ? " at some x" : ": no curve");
        p.note = note;
    } else if (bad_data + bad_x) {
        snprintf(note, sizeof note, "%ld data points are not finite", bad_data + bad_x);
        p.note = note;
    }
    ex_plot_add(&p, "true", "#1f77b4", EX_POINTS, x, y, n);
    ex_plot_add(&p, curve ? "predict" : "predict (not finite)", "#d62728", EX_LINE,
                cx, cy, CURVE_POINTS);
    return ex_plot_write(&p, o->plot) == 0 ? 0 : write_error(o, o->plot);
}

/* The loss of each step on a log axis spanning whole decades. The series
 * is sampled down to at most EX_PLOT_MAX_MARKS steps here, so that a long
 * run does not need a second array of its length. */
static int write_loss(const ex_options *o, const double *losses, long iters)
{
    double lo = (double)INFINITY, hi = -(double)INFINITY;
    long bad = 0, first_bad = -1, last_good = -1;
    for (long i = 0; i < iters; i++) {
        if (isfinite(losses[i]) && losses[i] > 0.0) {
            lo = losses[i] < lo ? losses[i] : lo;
            hi = losses[i] > hi ? losses[i] : hi;
            last_good = i;
        } else {
            bad++;
            first_bad = first_bad < 0 ? i : first_bad;
        }
    }
    bool bad_to_end = bad > 0 && last_good < first_bad; /* every step from first_bad on */
    if (lo > hi) { /* nothing to draw (no steps, or all non-finite) */
        lo = 0.1;
        hi = 10.0;
    }
    double ymin = pow(10.0, floor(log10(lo)));
    double ymax = pow(10.0, ceil(log10(hi)));
    if (!(ymin > 0.0)) /* lo below 1e-308 */
        ymin = lo;
    if (!isfinite(ymax)) /* hi above 1e308 */
        ymax = DBL_MAX;
    if (ymax <= ymin)
        ymax = ymin * 10.0;

    long m = iters < EX_PLOT_MAX_MARKS ? iters : EX_PLOT_MAX_MARKS;
    double *sx = malloc((size_t)(m > 0 ? m : 1) * 2 * sizeof *sx);
    if (!sx) {
        fprintf(stderr, "%s: out of memory for the loss curve\n", o->stage);
        return 1;
    }
    double *sy = sx + m;
    for (long k = 0; k < m; k++) {
        /* Steps 0 and iters-1 are always among the samples. */
        long i = m > 1 ? (long)((double)k * (double)(iters - 1) / (double)(m - 1) + 0.5)
                       : iters - 1;
        sx[k] = (double)i;
        sy[k] = losses[i];
    }
    char title[160];
    snprintf(title, sizeof title, "%s: loss per step (lr = %g)", o->stage, o->lr);
    ex_plot p = ex_plot_new(title, "step", "loss (log scale)", 0.0,
                            iters > 1 ? (double)iters : 1.0, ymin, ymax);
    p.logy = true;
    p.legend = EX_LEGEND_AUTO;
    char note[128];
    if (iters == 0)
        p.note = "no steps were run: no loss to draw";
    if (bad) { /* the log axis has no place for them either */
        if (bad_to_end)
            snprintf(note, sizeof note, "the loss is not a finite number > 0 from step %ld on",
                     first_bad);
        else
            snprintf(note, sizeof note, "%ld steps whose loss is not a finite number > 0 "
                     "are not drawn", bad);
        p.note = note;
    }
    ex_plot_add(&p, "loss", "#d62728", EX_LINE, sx, sy, m);
    int rc = ex_plot_write(&p, o->loss_plot);
    free(sx);
    return rc == 0 ? 0 : write_error(o, o->loss_plot);
}

int ex_write_figures(const ex_options *o, const double *x, const double *y,
                     long n, double w, double b, const double *losses,
                     long iters)
{
    if (write_fit(o, x, y, n, w, b) || write_loss(o, losses, iters))
        return 1;
    if (!o->quiet)
        ex_printf("figure: %s\nloss curve: %s\n", o->plot, o->loss_plot);
    return ex_flush_stdout(); /* the lines so far were really written */
}

int ex_finish(const ex_options *o, const tg_tensor *x, const tg_tensor *y,
              const tg_tensor *w, const tg_tensor *b, const double *losses,
              double loss)
{
    double wf, bf;
    if (tg_item(w, &wf) || tg_item(b, &bf))
        return ex_fail(o, "reading the parameters");
    if (ex_write_figures(o, ex_doubles(x), ex_doubles(y), o->n, wf, bf, losses,
                         o->iters))
        return 1;
    ex_print_final(wf, bf, loss);
    return ex_flush_stdout();
}
