/* plot.c - writes ex_plot figures as SVG 1.1: a framed plotting area with
 * grid lines at "nice" ticks (1, 2 or 5 times a power of ten; decades on a
 * log axis), the series clipped to the area, then labels and the legend. */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Figure size and the margins around the plotting area, in pixels. */
enum { WIDTH = 640, HEIGHT = 480, LEFT = 76, RIGHT = 24, TOP = 44, BOTTOM = 64 };
/* The right margin when a right axis needs room for its labels. */
enum { RIGHT_AXIS = 76 };

/* Pixel coordinates are clamped here so that a diverging run (loss 1e300)
 * still gives numbers every SVG reader accepts; the clip hides them. */
#define PIXEL_LIMIT 1e5

ex_plot ex_plot_new(const char *title, const char *xlabel, const char *ylabel,
                    double xmin, double xmax, double ymin, double ymax)
{
    ex_plot p;
    memset(&p, 0, sizeof p);
    p.title = title;
    p.xlabel = xlabel;
    p.ylabel = ylabel;
    p.xmin = xmin;
    p.xmax = xmax;
    p.ymin = ymin;
    p.ymax = ymax;
    p.legend = EX_LEGEND_TOP_RIGHT;
    return p;
}

int ex_plot_add(ex_plot *p, const char *label, const char *color, ex_mark mark,
                const double *x, const double *y, long n)
{
    if (p->nseries >= EX_PLOT_MAX_SERIES)
        return -1;
    p->series[p->nseries++] = (ex_series){label, color, mark, x, y, n, false};
    return 0;
}

void ex_plot_set_right_axis(ex_plot *p, const char *label, double ymin, double ymax)
{
    p->has_right = true;
    p->rlabel = label;
    p->rmin = ymin;
    p->rmax = ymax;
}

int ex_plot_add_right(ex_plot *p, const char *label, const char *color, ex_mark mark,
                      const double *x, const double *y, long n)
{
    if (ex_plot_add(p, label, color, mark, x, y, n) != 0)
        return -1;
    p->series[p->nseries - 1].right = true;
    return 0;
}

/* ---- coordinates ------------------------------------------------------- */

static double clamp_pixel(double v)
{
    return v < -PIXEL_LIMIT ? -PIXEL_LIMIT : v > PIXEL_LIMIT ? PIXEL_LIMIT : v;
}

/* Where the plotting area ends on the right. */
static int right_edge(const ex_plot *p)
{
    return WIDTH - (p->has_right ? RIGHT_AXIS : RIGHT);
}

static double px(const ex_plot *p, double x)
{
    double w = right_edge(p) - LEFT;
    return clamp_pixel(LEFT + (x - p->xmin) / (p->xmax - p->xmin) * w);
}

/* The y axis runs up; on a log axis in log10 units. */
static double py(const ex_plot *p, double y)
{
    double h = HEIGHT - TOP - BOTTOM;
    double lo = p->logy ? log10(p->ymin) : p->ymin;
    double hi = p->logy ? log10(p->ymax) : p->ymax;
    double t = p->logy ? log10(y) : y;
    return clamp_pixel(TOP + (1.0 - (t - lo) / (hi - lo)) * h);
}

/* y of a series on the right axis (always linear). */
static double py_right(const ex_plot *p, double y)
{
    double h = HEIGHT - TOP - BOTTOM;
    return clamp_pixel(TOP + (1.0 - (y - p->rmin) / (p->rmax - p->rmin)) * h);
}

/* The pixel row of a series' y, on its own axis. */
static double sy(const ex_plot *p, const ex_series *s, double y)
{
    return s->right ? py_right(p, y) : py(p, y);
}

/* Whether (x, y) of s can be placed at all (not where it is clipped). */
static bool plottable(const ex_plot *p, const ex_series *s, double x, double y)
{
    return isfinite(x) && isfinite(y) && (s->right || !p->logy || y > 0.0);
}

/* ---- text ---------------------------------------------------------------- */

static void put_escaped(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f); break;
        }
    }
}

static void put_text(FILE *f, double x, double y, const char *anchor,
                     const char *extra, const char *s)
{
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\"%s>", x, y,
            anchor, extra);
    put_escaped(f, s);
    fputs("</text>\n", f);
}

/* ---- ticks ----------------------------------------------------------------- */

/* 1, 2 or 5 times a power of ten, so that [lo, hi] gets about six ticks. */
static double nice_step(double lo, double hi)
{
    double raw = (hi - lo) / 6.0;
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    double k = norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0;
    return k * mag;
}

static void grid_x(FILE *f, const ex_plot *p, double x, const char *label)
{
    double X = px(p, x);
    fprintf(f, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" class=\"grid\"/>\n",
            X, TOP, X, HEIGHT - BOTTOM);
    fprintf(f, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" class=\"tick\"/>\n",
            X, HEIGHT - BOTTOM, X, HEIGHT - BOTTOM + 5);
    put_text(f, X, HEIGHT - BOTTOM + 19, "middle", "", label);
}

/* A horizontal grid line at y with a label; sup, when non-NULL, is drawn
 * as a superscript after the label (10 with exponent -3). */
static void grid_y(FILE *f, const ex_plot *p, double y, const char *label,
                   const char *sup)
{
    double Y = py(p, y);
    fprintf(f, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" class=\"grid\"/>\n",
            LEFT, Y, right_edge(p), Y);
    fprintf(f, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" class=\"tick\"/>\n",
            LEFT - 5, Y, LEFT, Y);
    fprintf(f, "<text x=\"%d\" y=\"%.2f\" text-anchor=\"end\">", LEFT - 8, Y + 4);
    put_escaped(f, label);
    if (sup) {
        fputs("<tspan dy=\"-7\" font-size=\"9\">", f);
        put_escaped(f, sup);
        fputs("</tspan>", f);
    }
    fputs("</text>\n", f);
}

/* Ticks k*step for every integer k with k*step in [lo, hi]; a value that is
 * zero up to rounding (-2.2e-17) is printed as 0. */
static void linear_ticks(FILE *f, const ex_plot *p, bool xaxis)
{
    double lo = xaxis ? p->xmin : p->ymin, hi = xaxis ? p->xmax : p->ymax;
    double step = nice_step(lo, hi);
    if (xaxis && p->xinteger && step < 1.0)
        step = 1.0;
    double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
    for (double k = k0; k <= k1; k += 1.0) {
        double v = k * step;
        if (fabs(v) < step * 1e-9)
            v = 0.0;
        char label[32];
        snprintf(label, sizeof label, "%g", v);
        if (xaxis)
            grid_x(f, p, v, label);
        else
            grid_y(f, p, v, label, NULL);
    }
}

/* Decades 10^d on a log y axis (every few decades when there are many);
 * a range of at most two decades also gets 2x and 5x ticks. */
static void log_ticks(FILE *f, const ex_plot *p)
{
    double d0 = ceil(log10(p->ymin) - 1e-9), d1 = floor(log10(p->ymax) + 1e-9);
    double every = ceil((d1 - d0 + 1.0) / 8.0);
    if (every < 1.0)
        every = 1.0;
    for (double d = d0; d <= d1; d += every) {
        char exp10[16];
        snprintf(exp10, sizeof exp10, "%d", (int)d);
        grid_y(f, p, pow(10.0, d), "10", exp10);
    }
    if (d1 - d0 > 2.0)
        return;
    for (double d = d0 - 1.0; d <= d1; d += 1.0) {
        for (int m = 2; m <= 5; m += 3) {
            double v = m * pow(10.0, d);
            if (v < p->ymin || v > p->ymax)
                continue;
            char label[32];
            snprintf(label, sizeof label, "%g", v);
            grid_y(f, p, v, label, NULL);
        }
    }
}

/* ---- series ------------------------------------------------------------------ */

/* Index of the j-th sample drawn from a series of n, stride apart; the last
 * sample always comes last. */
static long thin_stride(long n)
{
    return n > EX_PLOT_MAX_MARKS ? (n + EX_PLOT_MAX_MARKS - 1) / EX_PLOT_MAX_MARKS : 1;
}

static void draw_points(FILE *f, const ex_plot *p, const ex_series *s)
{
    long stride = thin_stride(s->n);
    fprintf(f, "<g fill=\"%s\" fill-opacity=\"0.8\">\n", s->color);
    for (long i = 0; i < s->n; i += stride) {
        long j = i + stride >= s->n ? s->n - 1 : i;
        if (plottable(p, s, s->x[j], s->y[j]))
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\"/>\n",
                    px(p, s->x[j]), sy(p, s, s->y[j]));
    }
    fputs("</g>\n", f);
}

/* One polyline per run of plottable samples. */
static void draw_line(FILE *f, const ex_plot *p, const ex_series *s)
{
    long stride = thin_stride(s->n);
    bool open = false;
    for (long i = 0; i < s->n; i += stride) {
        long j = i + stride >= s->n ? s->n - 1 : i;
        if (!plottable(p, s, s->x[j], s->y[j])) {
            if (open)
                fputs("\"/>\n", f);
            open = false;
            continue;
        }
        if (!open)
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                       "points=\"", s->color);
        fprintf(f, "%s%.2f,%.2f", open ? " " : "", px(p, s->x[j]), sy(p, s, s->y[j]));
        open = true;
    }
    if (open)
        fputs("\"/>\n", f);
}

static void draw_legend(FILE *f, const ex_plot *p)
{
    int rows = 0;
    size_t longest = 0;
    for (int i = 0; i < p->nseries; i++) {
        if (!p->series[i].label)
            continue;
        rows++;
        size_t len = strlen(p->series[i].label);
        longest = len > longest ? len : longest;
    }
    if (rows == 0)
        return;
    /* About 7 pixels per character of 12-pixel sans-serif text. */
    double w = 44.0 + 7.0 * (double)longest, h = 8.0 + 20.0 * rows;
    double x = p->legend == EX_LEGEND_TOP_LEFT ? LEFT + 10.0
             : p->legend == EX_LEGEND_TOP_CENTER ? (LEFT + right_edge(p) - w) / 2.0
             : right_edge(p) - 10.0 - w;
    double y = TOP + 10.0;
    fprintf(f, "<g class=\"legend\">\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
               "height=\"%.2f\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#bbb\"/>\n",
            x, y, w, h);
    int row = 0;
    for (int i = 0; i < p->nseries; i++) {
        const ex_series *s = &p->series[i];
        if (!s->label)
            continue;
        double cy = y + 14.0 + 20.0 * row++;
        if (s->mark == EX_POINTS)
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                    x + 18.0, cy, s->color);
        else
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                       "stroke=\"%s\" stroke-width=\"2\"/>\n",
                    x + 8.0, cy, x + 28.0, cy, s->color);
        put_text(f, x + 36.0, cy + 4.0, "start", "", s->label);
    }
    fputs("</g>\n", f);
}

/* ---- the figure ---------------------------------------------------------------- */

static bool ranges_ok(const ex_plot *p)
{
    for (int i = 0; i < p->nseries; i++)
        if (p->series[i].right && !p->has_right)
            return false;
    return isfinite(p->xmin) && isfinite(p->xmax) && p->xmin < p->xmax &&
           isfinite(p->ymin) && isfinite(p->ymax) && p->ymin < p->ymax &&
           (!p->logy || p->ymin > 0.0) &&
           (!p->has_right || (isfinite(p->rmin) && isfinite(p->rmax) && p->rmin < p->rmax));
}

/* The right axis: ticks and labels at the nice steps of its range (no grid
 * lines: the left axis draws those), and its label turned the other way. */
static void right_axis(FILE *f, const ex_plot *p)
{
    int X = right_edge(p);
    double step = nice_step(p->rmin, p->rmax);
    double k0 = ceil(p->rmin / step - 1e-9), k1 = floor(p->rmax / step + 1e-9);
    for (double k = k0; k <= k1; k += 1.0) {
        double v = k * step;
        if (fabs(v) < step * 1e-9)
            v = 0.0;
        double Y = py_right(p, v);
        char label[32];
        snprintf(label, sizeof label, "%g", v);
        fprintf(f, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" class=\"tick\"/>\n",
                X, Y, X + 5, Y);
        put_text(f, X + 8.0, Y + 4.0, "start", "", label);
    }
    double cx = WIDTH - 16.0, cy = (TOP + HEIGHT - BOTTOM) / 2.0;
    char rotate[64];
    snprintf(rotate, sizeof rotate, " transform=\"rotate(90 %.2f %.2f)\"", cx, cy);
    put_text(f, cx, cy, "middle", rotate, p->rlabel);
}

static void write_svg(FILE *f, const ex_plot *p)
{
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
               "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n",
            WIDTH, HEIGHT, WIDTH, HEIGHT);
    fputs("<style>.grid{stroke:#e4e4e4;stroke-width:1}"
          ".tick{stroke:#333;stroke-width:1}</style>\n", f);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", WIDTH, HEIGHT);
    fprintf(f, "<defs><clipPath id=\"area\"><rect x=\"%d\" y=\"%d\" width=\"%d\" "
               "height=\"%d\"/></clipPath></defs>\n",
            LEFT, TOP, right_edge(p) - LEFT, HEIGHT - TOP - BOTTOM);

    linear_ticks(f, p, true);
    if (p->logy)
        log_ticks(f, p);
    else
        linear_ticks(f, p, false);

    fputs("<g clip-path=\"url(#area)\">\n", f);
    for (int i = 0; i < p->nseries; i++) {
        if (p->series[i].mark == EX_POINTS)
            draw_points(f, p, &p->series[i]);
        else
            draw_line(f, p, &p->series[i]);
    }
    fputs("</g>\n", f);

    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#333\"/>\n",
            LEFT, TOP, right_edge(p) - LEFT, HEIGHT - TOP - BOTTOM);
    put_text(f, WIDTH / 2.0, TOP - 16.0, "middle", " font-size=\"15\"", p->title);
    put_text(f, (LEFT + right_edge(p)) / 2.0, HEIGHT - 18.0, "middle", "",
             p->xlabel);
    char rotate[64];
    snprintf(rotate, sizeof rotate, " transform=\"rotate(-90 %d %.2f)\"", 20,
             (TOP + HEIGHT - BOTTOM) / 2.0);
    put_text(f, 20.0, (TOP + HEIGHT - BOTTOM) / 2.0, "middle", rotate, p->ylabel);
    if (p->has_right)
        right_axis(f, p);
    draw_legend(f, p);
    fputs("</svg>\n", f);
}

int ex_plot_write(const ex_plot *p, const char *path)
{
    if (!ranges_ok(p)) {
        errno = EINVAL;
        return -1;
    }
    /* The figure is made in memory, then written with one fwrite, so that
     * errno still holds the cause when a write fails: a full disk is "No
     * space left on device", not a guess. */
    char *svg = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&svg, &len);
    if (!mem)
        return -1;
    write_svg(mem, p);
    bool made = !ferror(mem);
    if (fclose(mem) != 0)
        made = false;
    if (!made) {
        free(svg);
        errno = ENOMEM; /* the only way writing to memory fails */
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        int err = errno;
        free(svg);
        errno = err;
        return -1;
    }
    int err = 0; /* EIO below only if the C library gave no reason */
    errno = 0;
    if (fwrite(svg, 1, len, f) != len)
        err = errno ? errno : EIO;
    errno = 0;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    free(svg);
    if (!err)
        return 0;
    errno = err;
    return -1;
}
