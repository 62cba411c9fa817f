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
 * zero up to rounding (-2.2e-17) is printed as 0. The labels of a y axis
 * of very large or very small values share a factor, written once at the
 * top of the axis ("x10" to the 78th), so that they stay short. */
static void linear_ticks(FILE *f, const ex_plot *p, bool xaxis)
{
    double lo = xaxis ? p->xmin : p->ymin, hi = xaxis ? p->xmax : p->ymax;
    double step = nice_step(lo, hi);
    if (xaxis && p->xinteger && step < 1.0)
        step = 1.0;
    double big = fmax(fabs(lo), fabs(hi)), e = 0.0;
    if (!xaxis && (big >= 1e5 || big < 1e-3))
        e = floor(log10(big));
    double scale = pow(10.0, e);
    double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
    for (double k = k0; k <= k1; k += 1.0) {
        double v = k * step;
        if (fabs(v) < step * 1e-9)
            v = 0.0;
        char label[32];
        snprintf(label, sizeof label, "%g", v / scale);
        if (xaxis)
            grid_x(f, p, v, label);
        else
            grid_y(f, p, v, label, NULL);
    }
    if (e != 0.0) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"start\">\xc3\x97" "10"
                   "<tspan dy=\"-7\" font-size=\"9\">%d</tspan></text>\n",
                LEFT, TOP - 4, (int)e);
    }
}

/* Decades 10^d on a log y axis. Over many decades only every 2, 5, 10,
 * 20, 50, ... decades, at multiples of that step (10^0, 10^20, 10^40: not
 * 10^2, 10^22), so that at most about eight labels read evenly; a range of
 * at most two decades also gets 2x and 5x ticks. */
static void log_ticks(FILE *f, const ex_plot *p)
{
    double d0 = ceil(log10(p->ymin) - 1e-9), d1 = floor(log10(p->ymax) + 1e-9);
    static const double mantissa[] = {1.0, 2.0, 5.0};
    double every = 1.0;
    for (int k = 1; (d1 - d0) / every > 8.0; k++)
        every = mantissa[k % 3] * pow(10.0, k / 3);
    for (double d = ceil(d0 / every) * every; d <= d1; d += every) {
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

/* How many of the drawn marks fall in the box (x, y, w, h), padded: the
 * points, and the lines at their vertices and three points between. */
static long marks_in(const ex_plot *p, double x, double y, double w, double h)
{
    long n = 0;
    x -= 4.0, y -= 4.0, w += 8.0, h += 8.0;
    for (int i = 0; i < p->nseries; i++) {
        const ex_series *s = &p->series[i];
        long stride = thin_stride(s->n);
        bool have = false;
        double X0 = 0.0, Y0 = 0.0;
        for (long k = 0; k < s->n; k += stride) {
            long j = k + stride >= s->n ? s->n - 1 : k;
            if (!plottable(p, s, s->x[j], s->y[j])) {
                have = false;
                continue;
            }
            double X = px(p, s->x[j]), Y = sy(p, s, s->y[j]);
            int parts = have && s->mark == EX_LINE ? 4 : 1;
            for (int q = 0; q < parts; q++) {
                double t = (double)(q + 1) / parts;
                double cx = parts > 1 ? X0 + t * (X - X0) : X;
                double cy = parts > 1 ? Y0 + t * (Y - Y0) : Y;
                n += cx >= x && cx <= x + w && cy >= y && cy <= y + h;
            }
            X0 = X, Y0 = Y, have = true;
        }
    }
    return n;
}

/* Whether two boxes {x, y, w, h} overlap. */
static bool boxes_meet(const double *a, const double *b)
{
    return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] &&
           b[1] < a[1] + a[3];
}

/* Where a box of w by h goes so that it covers the fewest drawn marks and
 * not the box avoid (NULL: none): a corner of the plotting area, the
 * middle of its top or bottom edge, or its centre, top right first among
 * equals. */
static void place_box(const ex_plot *p, double w, double h, const double *avoid,
                      double *x, double *y)
{
    double l = LEFT + 10.0, c = (LEFT + right_edge(p) - w) / 2.0,
           r = right_edge(p) - 10.0 - w;
    double t = TOP + 10.0, b = HEIGHT - BOTTOM - 10.0 - h,
           m = (TOP + HEIGHT - BOTTOM - h) / 2.0;
    const double at[][2] = {{r, t}, {l, t}, {c, t}, {r, b}, {c, b}, {l, b}, {c, m}};
    long best = -1;
    *x = r;
    *y = t;
    for (int i = 0; i < 7; i++) {
        double box[4] = {at[i][0], at[i][1], w, h};
        long n = marks_in(p, box[0], box[1], w, h);
        if (avoid && boxes_meet(box, avoid))
            n += 1000000; /* only if every place meets it */
        if (best < 0 || n < best) {
            best = n;
            *x = at[i][0];
            *y = at[i][1];
        }
    }
}

/* The legend's size (rows 0: there is no legend). */
static int legend_size(const ex_plot *p, double *w, double *h)
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
    /* About 7 pixels per character of 12-pixel sans-serif text. */
    *w = 44.0 + 7.0 * (double)longest;
    *h = 8.0 + 20.0 * rows;
    return rows;
}

/* Where the legend goes: where p->legend says, or where place_box finds
 * room (EX_LEGEND_AUTO). */
static void legend_place(const ex_plot *p, double w, double h, double *x, double *y)
{
    if (p->legend == EX_LEGEND_AUTO) {
        place_box(p, w, h, NULL, x, y);
        return;
    }
    *x = p->legend == EX_LEGEND_TOP_LEFT ? LEFT + 10.0
       : p->legend == EX_LEGEND_TOP_CENTER ? (LEFT + right_edge(p) - w) / 2.0
       : right_edge(p) - 10.0 - w;
    *y = TOP + 10.0;
}

/* The note, in dark red on white, where it covers the fewest marks and
 * not the legend box. */
static void draw_note(FILE *f, const ex_plot *p, const double *legend)
{
    double w = 14.0 + 7.0 * (double)strlen(p->note), h = 22.0, x, y;
    place_box(p, w, h, legend, &x, &y);
    fprintf(f, "<g class=\"note\">\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
               "height=\"%.2f\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#b00000\"/>\n",
            x, y, w, h);
    put_text(f, x + 7.0, y + 15.0, "start", " fill=\"#b00000\"", p->note);
    fputs("</g>\n", f);
}

/* The legend in the box {x, y, w, h}. */
static void draw_legend(FILE *f, const ex_plot *p, const double *box)
{
    double x = box[0], y = box[1], w = box[2], h = box[3];
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
    double legend[4] = {0.0, 0.0, 0.0, 0.0};
    bool has_legend = legend_size(p, &legend[2], &legend[3]) > 0;
    if (has_legend)
        legend_place(p, legend[2], legend[3], &legend[0], &legend[1]);
    if (p->note)
        draw_note(f, p, has_legend ? legend : NULL);
    if (has_legend)
        draw_legend(f, p, legend);
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
