/* chapter.h - what the five chapter examples share: the data set, the two
 * result lines every stage prints, error reporting and the figures.
 *
 * The data are the chapter's, drawn in the NumPy listing's order from one
 * stream seeded like np.random.seed(seed):
 *     x  = linspace(-1, 1, n)
 *     y  = 3*x^2 + 2 + 0.2*rand(n)
 *     w0 = rand(), b0 = rand()
 */
#ifndef EX_CHAPTER_H
#define EX_CHAPTER_H

#include "../../tapegrad.h"
#include "cli.h"

/* x and y as new float64 (n,) tensors (the caller frees them) and the
 * initial w and b. Returns 0, or 1 after reporting the tapegrad error. */
int ex_chapter_data(const ex_options *o, tg_tensor **x, tg_tensor **y,
                    double *w0, double *b0);

/* "init w=%.17g b=%.17g" - printed before training, even with --quiet. */
void ex_print_init(double w, double b);
/* "w=%.17g b=%.17g loss=%.17g" - the last line, even with --quiet. */
void ex_print_final(double w, double b, double loss);
/* "step %d loss %g" every 100 steps and at the last one, unless quiet. */
void ex_print_progress(const ex_options *o, long step, double loss);

/* Reports a failed tapegrad call on stderr as "STAGE: WHAT: <last message>"
 * and returns 1, the exit status to use. */
int ex_fail(const ex_options *o, const char *what);

/* Writes o->plot (the points (x, y) in blue and the curve w*x^2 + b in red
 * on ranges that hold both with margins, legend "true" / "predict" where
 * the marks are not, a note on the figure when values are not finite) and
 * o->loss_plot
 * (losses[0..iters), log scale), unless quiet prints where they went, and
 * flushes stdout. Returns 0, or 1 after printing why a file (or stdout)
 * could not be written. */
int ex_write_figures(const ex_options *o, const double *x, const double *y,
                     long n, double w, double b, const double *losses,
                     long iters);

/* The end of every tensor-based stage: reads the fitted w and b (one
 * element each), writes the figures, prints the final line and flushes
 * stdout. Returns 0, or 1 after saying why. */
int ex_finish(const ex_options *o, const tg_tensor *x, const tg_tensor *y,
              const tg_tensor *w, const tg_tensor *b, const double *losses,
              double loss);

/* The contiguous float64 data of a tensor (for plotting and printing). */
const double *ex_doubles(const tg_tensor *t);

#endif /* EX_CHAPTER_H */
