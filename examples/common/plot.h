/* plot.h - a small SVG writer for the examples' figures: points and lines
 * on linear or log axes, ticks, axis labels, a title and a legend. No
 * dependency beyond the C library.
 *
 *     ex_plot p = ex_plot_new("fit", "x", "y", -1, 1, 2, 6);
 *     ex_plot_add(&p, "true", "#1f77b4", EX_POINTS, x, y, n);
 *     ex_plot_add(&p, "predict", "#d62728", EX_LINE, x, pred, n);
 *     if (ex_plot_write(&p, "fit.svg") != 0)
 *         perror("fit.svg");
 *
 * The series are borrowed: their arrays must live until ex_plot_write.
 * Values outside the axes' ranges are clipped; non-finite values are
 * skipped (a line is broken there). Series longer than EX_PLOT_MAX_MARKS
 * are thinned to about that many evenly spaced samples (always keeping
 * the last), so a figure of ten million points stays a small file.
 *
 * A second, linear y axis on the right carries series of another unit
 * (loss on the left, accuracy on the right):
 *
 *     ex_plot_set_right_axis(&p, "test accuracy", 0.8, 1.0);
 *     ex_plot_add_right(&p, "test accuracy", "#d62728", EX_LINE, ep, acc, n);
 */
#ifndef EX_PLOT_H
#define EX_PLOT_H

#include <stdbool.h>

#define EX_PLOT_MAX_SERIES 4
#define EX_PLOT_MAX_MARKS 2000

typedef enum ex_mark { EX_POINTS, EX_LINE } ex_mark;

typedef enum ex_legend_pos {
    EX_LEGEND_TOP_LEFT, EX_LEGEND_TOP_CENTER, EX_LEGEND_TOP_RIGHT,
    EX_LEGEND_AUTO /* the corner (or top, bottom or middle centre) that
                      covers the fewest drawn marks, top right first */
} ex_legend_pos;

typedef struct ex_series {
    const char *label;  /* legend text; NULL leaves it out of the legend */
    const char *color;  /* any SVG colour: "#d62728", "red" */
    ex_mark mark;
    const double *x, *y; /* (n,) each */
    long n;
    bool right;          /* drawn against the right axis */
} ex_series;

typedef struct ex_plot {
    const char *title, *xlabel, *ylabel;
    double xmin, xmax, ymin, ymax; /* the axes' ranges */
    bool logy;                     /* log10 y axis (needs 0 < ymin < ymax) */
    bool xinteger;                 /* x ticks on whole numbers only (epochs) */
    ex_legend_pos legend;
    const char *note;              /* a warning written on the figure where
                                      it covers the fewest marks ("loss not
                                      finite from step 12"); NULL none */
    bool has_right;                /* a right axis: set by ex_plot_set_right_axis */
    double rmin, rmax;             /* its range */
    const char *rlabel;            /* its label */
    int nseries;
    ex_series series[EX_PLOT_MAX_SERIES];
} ex_plot;

/* A plot with no series, linear axes and the legend at the top right. */
ex_plot ex_plot_new(const char *title, const char *xlabel, const char *ylabel,
                    double xmin, double xmax, double ymin, double ymax);
/* Appends a series; returns 0, or -1 when EX_PLOT_MAX_SERIES are in use. */
int ex_plot_add(ex_plot *p, const char *label, const char *color, ex_mark mark,
                const double *x, const double *y, long n);
/* Adds a linear y axis on the right, from ymin to ymax, labelled label. */
void ex_plot_set_right_axis(ex_plot *p, const char *label, double ymin, double ymax);
/* ex_plot_add for a series drawn against the right axis. */
int ex_plot_add_right(ex_plot *p, const char *label, const char *color, ex_mark mark,
                      const double *x, const double *y, long n);
/* Writes the figure to path. Returns 0, or -1 with errno set to the
 * system's reason when the file cannot be written (ENOSPC for a full disk),
 * ENOMEM when the figure cannot be made in memory, or EINVAL for empty or
 * reversed ranges (or a log axis that does not start above 0), the right
 * axis's included, or a right series without a right axis. */
int ex_plot_write(const ex_plot *p, const char *path);

#endif /* EX_PLOT_H */
