/* conv.c - the kernels of 2-d convolution over NCHW data: the forward, the
 * gradient it sends to its input (which is also conv_transpose2d) and the
 * gradient of its weight. autograd/conv.c builds the ops on them.
 *
 * Each is one im2col (or col2im) and one GEMM per sample and group, as in
 * Caffe and Darknet. For sample n and group g, the columns matrix has a row
 * per weight tap (input channel of the group, kernel row, kernel column)
 * and a column per output position (oy, ox); its entry is the input pixel
 * that tap reads at that position, zero where the tap falls in the
 * padding. Then
 *
 *     forward        y[n,g]  = W[g] (og x cK)  @ cols (cK x P)  (+ bias,
 *                                               each row starting as its
 *                                               channel's bias)
 *     input grad     cols    = W[g]^T          @ gy[n,g] (og x P), then
 *                    dx[n,g] += col2im(cols)   (each entry added back to the
 *                                               pixel it was read from)
 *     weight grad    dW[g]  += gy[n,g]         @ cols^T
 *
 * with og = O / groups, cK = C / groups * KH * KW taps and P = OH * OW
 * positions. A 1x1 kernel of stride 1 without padding reads the input as
 * it is, so its columns are the input itself and no copy is made.
 *
 * The GEMMs are tg__gemm's (OpenBLAS when the build has it); the callers
 * give the work buffer (tg__conv_work elements: columns for each slot of
 * samples the thread pool runs, see "samples on the thread pool" below),
 * from the tape's arena, so a training step allocates nothing here. All
 * arrays are contiguous.
 *
 * One GEMM per sample is as fast as one over a block of samples with their
 * columns side by side: for the middle convolution of the Fashion-MNIST
 * CNN (64 x 196 x 288 a sample, batch 64) OpenBLAS ran both at the same
 * rate here (86-87 GFLOPS single-threaded), so the simpler form stays and
 * a columns buffer holds one sample. */
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* The columns are the input itself (1x1, stride 1, no padding). */
static bool conv_direct(const tg__conv *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
           g->pw == 0 && g->oh == g->h && g->ow == g->w;
}

int64_t tg__conv_cols(const tg__conv *g)
{
    if (conv_direct(g))
        return 0;
    return g->c / g->groups * g->kh * g->kw * g->oh * g->ow;
}

/* The output columns [lo, hi) of kernel column kj whose input column
 * ox * sw - pw + kj * dw falls inside [0, w). */
static void conv_span(const tg__conv *g, int64_t kj, int64_t *lo, int64_t *hi)
{
    int64_t off = kj * g->dw - g->pw; /* input column of ox = 0 */
    int64_t a = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
    int64_t b = g->w - off <= 0 ? 0 : (g->w - off + g->sw - 1) / g->sw;
    if (a > g->ow)
        a = g->ow;
    if (b > g->ow)
        b = g->ow;
    if (b < a)
        b = a;
    *lo = a;
    *hi = b;
}

/* The 'same' case of im2col and col2im below (stride 1, ow == w): tap
 * (ki, kj) reads entry d of its row of columns from element d + s of the
 * input plane. Rows [oy0, oy1) read input rows inside the plane, and of
 * them columns [lo, hi) read inside columns; [d0, d1) is the block of
 * entries from row oy0 to row oy1 clipped to 0 <= d + s < h w (the
 * entries clipped off are border columns). False when the block is
 * empty: the tap reads only padding. */
typedef struct same_tap {
    int64_t s, oy0, oy1, lo, hi, d0, d1;
} same_tap;

static bool same_tap_of(const tg__conv *g, int64_t ki, int64_t kj, same_tap *t)
{
    int64_t dy = ki * g->dh - g->ph, hw = g->h * g->w;
    conv_span(g, kj, &t->lo, &t->hi);
    t->s = dy * g->w + kj * g->dw - g->pw;
    t->oy0 = dy < 0 ? -dy : 0;
    t->oy1 = g->h - dy < g->oh ? g->h - dy : g->oh;
    t->oy0 = t->oy0 < g->oh ? t->oy0 : g->oh;
    t->oy1 = t->oy1 > t->oy0 ? t->oy1 : t->oy0;
    t->d0 = t->oy0 * g->ow;
    t->d1 = t->oy1 * g->ow;
    t->d0 = t->d0 > -t->s ? t->d0 : -t->s;
    t->d1 = t->d1 < hw - t->s ? t->d1 : hw - t->s;
    return t->d1 > t->d0;
}

/* im2col (x: one sample's group, cg x h x w) and col2im (adds cols back
 * into x; cols is scratch and may be changed), for element type T.
 *
 * With stride 1 and rows as wide as the input's (ow == w: "same" padding
 * of an odd kernel), a tap's row of columns is the input plane shifted
 * by s = (ki dh - ph) w + kj dw - pw elements: one copy of the part that
 * lies inside the plane, then zeros where the tap reads the padding (the
 * rows above and below, and the columns [0, lo) and [hi, ow) of each row,
 * which the shifted copy had filled from the neighbouring row). col2im
 * likewise adds the block back in one pass, after zeroing those border
 * entries of the columns (a scratch buffer; the entries are gradients of
 * padding, and adding +0 to the neighbours they now land on changes no
 * sum: dx starts at +0 and a sum that starts at +0 is never -0). */
#define CONV_COLS(T, sfx)                                                      \
    static void im2col_same_##sfx(const tg__conv *g, const T *x, T *cols)      \
    {                                                                          \
        int64_t cg = g->c / g->groups, P = g->oh * g->ow, hw = g->h * g->w;    \
        for (int64_t ci = 0; ci < cg; ci++)                                    \
            for (int64_t ki = 0; ki < g->kh; ki++)                             \
                for (int64_t kj = 0; kj < g->kw; kj++) {                       \
                    T *row = cols + ((ci * g->kh + ki) * g->kw + kj) * P;      \
                    same_tap t;                                                \
                    if (!same_tap_of(g, ki, kj, &t)) {                         \
                        memset(row, 0, (size_t)P * sizeof(T));                 \
                        continue;                                              \
                    }                                                          \
                    memset(row, 0, (size_t)t.d0 * sizeof(T));                  \
                    memcpy(row + t.d0, x + ci * hw + t.d0 + t.s,               \
                           (size_t)(t.d1 - t.d0) * sizeof(T));                 \
                    memset(row + t.d1, 0, (size_t)(P - t.d1) * sizeof(T));     \
                    for (int64_t oy = t.oy0; oy < t.oy1; oy++) {               \
                        T *r = row + oy * g->ow;                               \
                        for (int64_t ox = 0; ox < t.lo; ox++)                  \
                            r[ox] = 0;                                         \
                        for (int64_t ox = t.hi; ox < g->ow; ox++)              \
                            r[ox] = 0;                                         \
                    }                                                          \
                }                                                              \
    }                                                                          \
    static void im2col_##sfx(const tg__conv *g, const T *x, T *cols)           \
    {                                                                          \
        if (g->sh == 1 && g->sw == 1 && g->ow == g->w) {                       \
            im2col_same_##sfx(g, x, cols);                                     \
            return;                                                            \
        }                                                                      \
        int64_t cg = g->c / g->groups, P = g->oh * g->ow;                      \
        for (int64_t ci = 0; ci < cg; ci++)                                    \
            for (int64_t ki = 0; ki < g->kh; ki++)                             \
                for (int64_t kj = 0; kj < g->kw; kj++) {                       \
                    T *row = cols + ((ci * g->kh + ki) * g->kw + kj) * P;      \
                    int64_t lo, hi;                                            \
                    conv_span(g, kj, &lo, &hi);                                \
                    int64_t x0 = lo * g->sw - g->pw + kj * g->dw;              \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                   \
                        T *r = row + oy * g->ow;                               \
                        int64_t iy = oy * g->sh - g->ph + ki * g->dh;          \
                        if (iy < 0 || iy >= g->h || lo == hi) {                \
                            memset(r, 0, (size_t)g->ow * sizeof(T));           \
                            continue;                                          \
                        }                                                      \
                        const T *src = x + (ci * g->h + iy) * g->w + x0;       \
                        for (int64_t ox = 0; ox < lo; ox++)                    \
                            r[ox] = 0;                                         \
                        if (g->sw == 1) /* short rows: no memcpy call */       \
                            for (int64_t ox = lo; ox < hi; ox++)               \
                                r[ox] = src[ox - lo];                          \
                        else                                                   \
                            for (int64_t ox = lo; ox < hi; ox++)               \
                                r[ox] = src[(ox - lo) * g->sw];                \
                        for (int64_t ox = hi; ox < g->ow; ox++)                \
                            r[ox] = 0;                                         \
                    }                                                          \
                }                                                              \
    }                                                                          \
    static void col2im_same_##sfx(const tg__conv *g, T *cols, T *x)            \
    {                                                                          \
        int64_t cg = g->c / g->groups, P = g->oh * g->ow, hw = g->h * g->w;    \
        for (int64_t ci = 0; ci < cg; ci++)                                    \
            for (int64_t ki = 0; ki < g->kh; ki++)                             \
                for (int64_t kj = 0; kj < g->kw; kj++) {                       \
                    T *row = cols + ((ci * g->kh + ki) * g->kw + kj) * P;      \
                    same_tap t;                                                \
                    if (!same_tap_of(g, ki, kj, &t))                           \
                        continue;                                              \
                    for (int64_t oy = t.oy0; oy < t.oy1; oy++) {               \
                        T *r = row + oy * g->ow;                               \
                        for (int64_t ox = 0; ox < t.lo; ox++)                  \
                            r[ox] = 0;                                         \
                        for (int64_t ox = t.hi; ox < g->ow; ox++)              \
                            r[ox] = 0;                                         \
                    }                                                          \
                    T *plane = x + ci * hw;                                    \
                    for (int64_t d = t.d0; d < t.d1; d++)                      \
                        plane[d + t.s] += row[d];                              \
                }                                                              \
    }                                                                          \
    static void col2im_##sfx(const tg__conv *g, T *cols, T *x)                 \
    {                                                                          \
        if (g->sh == 1 && g->sw == 1 && g->ow == g->w) {                       \
            col2im_same_##sfx(g, cols, x);                                     \
            return;                                                            \
        }                                                                      \
        int64_t cg = g->c / g->groups, P = g->oh * g->ow;                      \
        for (int64_t ci = 0; ci < cg; ci++)                                    \
            for (int64_t ki = 0; ki < g->kh; ki++)                             \
                for (int64_t kj = 0; kj < g->kw; kj++) {                       \
                    const T *row = cols + ((ci * g->kh + ki) * g->kw + kj) * P; \
                    int64_t lo, hi;                                            \
                    conv_span(g, kj, &lo, &hi);                                \
                    if (lo == hi)                                              \
                        continue;                                              \
                    int64_t x0 = lo * g->sw - g->pw + kj * g->dw;              \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                   \
                        int64_t iy = oy * g->sh - g->ph + ki * g->dh;          \
                        if (iy < 0 || iy >= g->h)                              \
                            continue;                                          \
                        const T *r = row + oy * g->ow;                         \
                        T *dst = x + (ci * g->h + iy) * g->w + x0;             \
                        if (g->sw == 1) /* unit stride: vectorises */          \
                            for (int64_t ox = lo; ox < hi; ox++)               \
                                dst[ox - lo] += r[ox];                         \
                        else                                                   \
                            for (int64_t ox = lo; ox < hi; ox++)               \
                                dst[(ox - lo) * g->sw] += r[ox];               \
                    }                                                          \
                }                                                              \
    }

CONV_COLS(float, f32)
CONV_COLS(double, f64)

static void im2col(tg_dtype dt, const tg__conv *g, const void *x, void *cols)
{
    if (dt == TG_FLOAT32)
        im2col_f32(g, x, cols);
    else
        im2col_f64(g, x, cols);
}

static void col2im(tg_dtype dt, const tg__conv *g, void *cols, void *x)
{
    if (dt == TG_FLOAT32)
        col2im_f32(g, cols, x);
    else
        col2im_f64(g, cols, x);
}

/* The sizes every kernel walks by, in elements. */
typedef struct conv_steps {
    size_t es;           /* element size */
    int64_t cg, og, cK, P;
    int64_t xs, xg;      /* x: per sample, per group */
    int64_t ys, yg;      /* y */
    int64_t wg;          /* w: per group */
} conv_steps;

static conv_steps steps_of(tg_dtype dt, const tg__conv *g)
{
    conv_steps s;
    s.es = tg__dsize(dt);
    s.cg = g->c / g->groups;
    s.og = g->o / g->groups;
    s.cK = s.cg * g->kh * g->kw;
    s.P = g->oh * g->ow;
    s.xg = s.cg * g->h * g->w;
    s.xs = g->c * g->h * g->w;
    s.yg = s.og * s.P;
    s.ys = g->o * s.P;
    s.wg = s.og * s.cK;
    return s;
}

/* The degenerate cases: a result of no elements (nothing to do), or one
 * that sums over nothing (zeros). True when the kernel is done. */
static bool empty(const conv_steps *s, int64_t count, void *out, bool zeros)
{
    if (count == 0)
        return true;
    if (zeros)
        memset(out, 0, (size_t)count * s->es);
    return zeros;
}

#define AT(p, i) ((char *)(p) + (size_t)(i) * s.es)
#define CAT(p, i) ((const char *)(p) + (size_t)(i) * s.es)

/* Each row of sample n of y (o, positions) set to bias[o], just before
 * that sample's GEMMs add to it: y[n] is then still in cache for them. */
static void fill_bias(tg_dtype dt, const tg__conv *g, int64_t n, void *y,
                      const void *bias)
{
    int64_t P = g->oh * g->ow;
    for (int64_t o = 0; o < g->o; o++) {
        int64_t row = (n * g->o + o) * P;
        if (dt == TG_FLOAT32) {
            float v = ((const float *)bias)[o], *r = (float *)y + row;
            for (int64_t i = 0; i < P; i++)
                r[i] = v;
        } else {
            double v = ((const double *)bias)[o], *r = (double *)y + row;
            for (int64_t i = 0; i < P; i++)
                r[i] = v;
        }
    }
}

/* ---- samples on the thread pool ----------------------------------------------- */

/* The samples are cut into slots, each a run of consecutive samples with
 * its own columns buffer, and the pool runs the slots (tg__parallel_for
 * over slot indices, so any participant may take any slot). The forward
 * and the input gradient write each sample's own part of the result, so
 * their slots are as many as the threads. The weight gradient sums over
 * the samples: its slots are always WEIGHT_SLOTS (fewer only with fewer
 * samples), each summing its samples in order into its own part of the
 * work buffer (slot 0 into dw), and the parts are then added to dw in slot
 * order. The result is the same for any number of threads. */
enum { WEIGHT_SLOTS = 8 };

static int64_t slots_of(const tg__conv *g, bool weight_grad)
{
    int64_t want = weight_grad ? WEIGHT_SLOTS : tg_get_num_threads();
    return g->n < want ? (g->n > 0 ? g->n : 1) : want;
}

int64_t tg__conv_work(const tg__conv *g, bool weight_grad)
{
    int64_t cols = tg__conv_cols(g), S = slots_of(g, weight_grad), total, wn, parts;
    if (cols < 0 || tg__mul_overflows(cols, S, &total))
        return -1;
    if (!weight_grad)
        return total;
    if (tg__mul_overflows(g->o, g->c / g->groups * g->kh * g->kw, &wn) ||
        tg__mul_overflows(wn, S - 1, &parts) || parts > INT64_MAX - total)
        return -1;
    return total + parts;
}

typedef struct conv_job {
    tg_dtype dt;
    const tg__conv *g;
    conv_steps s;
    bool direct;
    int64_t slots, cols; /* slots, and elements of one slot's columns */
    void *out, *work;
    const void *a, *b, *bias;
} conv_job;

/* The samples [n0, n1) of slot k. */
static void slot_samples(const conv_job *j, int64_t k, int64_t *n0, int64_t *n1)
{
    *n0 = j->g->n * k / j->slots;
    *n1 = j->g->n * (k + 1) / j->slots;
}

/* Runs the slots on the pool when the convolution has at least 2^20
 * multiply-adds (waking the threads costs microseconds), else in turn:
 * the same results either way. */
static void run_slots(conv_job *j, tg__range_fn fn)
{
    double macs = (double)j->g->n * (double)j->g->o * (double)j->s.cK * (double)j->s.P;
    if (macs >= 1048576.0)
        tg__parallel_for(j->slots, 1, fn, j);
    else
        fn(j, 0, j->slots);
}

/* The columns of sample n, group gi of the input j->a: made in cols by
 * im2col, or the input itself for a 1x1 kernel read in place. */
static const void *columns(const conv_job *j, int64_t n, int64_t gi, void *cols)
{
    conv_steps s = j->s;
    const void *xg = CAT(j->a, n * s.xs + gi * s.xg);
    if (j->direct)
        return xg;
    im2col(j->dt, j->g, xg, cols);
    return cols;
}

/* y[n] for the samples of slots [k0, k1). */
static void forward_slots(void *ctx, int64_t k0, int64_t k1)
{
    const conv_job *j = ctx;
    conv_steps s = j->s;
    double beta = j->bias ? 1.0 : 0.0;
    for (int64_t k = k0; k < k1; k++) {
        void *cols = AT(j->work, k * j->cols);
        int64_t n0, n1;
        slot_samples(j, k, &n0, &n1);
        for (int64_t n = n0; n < n1; n++) {
            if (j->bias)
                fill_bias(j->dt, j->g, n, j->out, j->bias);
            if (s.cK == 0) /* the bias alone */
                continue;
            for (int64_t gi = 0; gi < j->g->groups; gi++) {
                const void *b = columns(j, n, gi, cols);
                tg__gemm(j->dt, false, false, s.og, s.P, s.cK, 1.0, CAT(j->b, gi * s.wg),
                         s.cK, b, s.P, beta, AT(j->out, n * s.ys + gi * s.yg), s.P);
            }
        }
    }
}

void tg__conv_forward(tg_dtype dt, const tg__conv *g, void *y, const void *x,
                      const void *w, const void *bias, void *work)
{
    conv_steps s = steps_of(dt, g);
    if (g->n * s.ys == 0)
        return;
    if (!bias && empty(&s, g->n * s.ys, y, s.cK == 0))
        return;
    conv_job j = {dt, g, s, conv_direct(g), slots_of(g, false), tg__conv_cols(g),
                  y, work, x, w, bias};
    run_slots(&j, forward_slots);
}

/* dx[n] for the samples of slots [k0, k1). */
static void input_slots(void *ctx, int64_t k0, int64_t k1)
{
    const conv_job *j = ctx;
    conv_steps s = j->s;
    for (int64_t k = k0; k < k1; k++) {
        void *cols = AT(j->work, k * j->cols);
        int64_t n0, n1;
        slot_samples(j, k, &n0, &n1);
        for (int64_t n = n0; n < n1; n++) {
            if (!j->direct) /* zeros for col2im's additions, each sample in turn */
                memset(AT(j->out, n * s.xs), 0, (size_t)s.xs * s.es);
            for (int64_t gi = 0; gi < j->g->groups; gi++) {
                void *xg = AT(j->out, n * s.xs + gi * s.xg);
                tg__gemm(j->dt, true, false, s.cK, s.P, s.og, 1.0, CAT(j->b, gi * s.wg),
                         s.cK, CAT(j->a, n * s.ys + gi * s.yg), s.P, 0.0,
                         j->direct ? xg : cols, s.P);
                if (!j->direct)
                    col2im(j->dt, j->g, cols, xg);
            }
        }
    }
}

void tg__conv_input_grad(tg_dtype dt, const tg__conv *g, void *dx, const void *gy,
                         const void *w, void *work)
{
    conv_steps s = steps_of(dt, g);
    if (empty(&s, g->n * s.xs, dx, s.og == 0 || s.P == 0))
        return;
    conv_job j = {dt, g, s, conv_direct(g), slots_of(g, false), tg__conv_cols(g),
                  dx, work, gy, w, NULL};
    run_slots(&j, input_slots);
}

/* A group's weight gradient of fewer than 16 taps and at least 16 output
 * channels (a first convolution over one input channel: 9 taps, 32
 * channels) is a GEMM too narrow for the kernels' tiles, og x cK with cK
 * columns. Its transpose dW^T = cols gy^T (cK x og) is as wide as there
 * are channels: float32 sums that into dw itself and transposes each
 * group in place at the end, through a stack buffer of TRANSPOSE_MAX
 * elements. */
enum { TRANSPOSE_MAX = 1024 };

static bool weight_grad_transposed(tg_dtype dt, const conv_steps *s)
{
    return dt == TG_FLOAT32 && s->cK < 16 && s->og >= 16 && s->wg <= TRANSPOSE_MAX;
}

/* Slot k's part of dw (slot 0: dw itself; the others after the columns). */
static void *weight_part(const conv_job *j, int64_t k)
{
    conv_steps s = j->s;
    return k == 0 ? j->out
                  : AT(j->work, j->slots * j->cols + (k - 1) * j->g->o * s.cK);
}

/* The sum over the samples of slots [k0, k1), each into its part. */
static void weight_slots(void *ctx, int64_t k0, int64_t k1)
{
    const conv_job *j = ctx;
    conv_steps s = j->s;
    bool transposed = weight_grad_transposed(j->dt, &s);
    for (int64_t k = k0; k < k1; k++) {
        void *cols = AT(j->work, k * j->cols), *part = weight_part(j, k);
        int64_t n0, n1;
        slot_samples(j, k, &n0, &n1);
        for (int64_t n = n0; n < n1; n++)
            for (int64_t gi = 0; gi < j->g->groups; gi++) {
                const void *b = columns(j, n, gi, cols);
                const void *gyg = CAT(j->b, n * s.ys + gi * s.yg);
                double beta = n > n0 ? 1.0 : 0.0;
                if (transposed) /* dW^T += cols gy^T */
                    tg__gemm(j->dt, false, true, s.cK, s.og, s.P, 1.0, b, s.P, gyg, s.P,
                             beta, AT(part, gi * s.wg), s.og);
                else /* dW += gy cols^T */
                    tg__gemm(j->dt, false, true, s.og, s.cK, s.P, 1.0, gyg, s.P, b, s.P,
                             beta, AT(part, gi * s.wg), s.cK);
            }
    }
}

void tg__conv_weight_grad(tg_dtype dt, const tg__conv *g, void *dw, const void *x,
                          const void *gy, void *work)
{
    conv_steps s = steps_of(dt, g);
    if (empty(&s, g->o * s.cK, dw, g->n == 0 || s.P == 0))
        return;
    conv_job j = {dt, g, s, conv_direct(g), slots_of(g, true), tg__conv_cols(g),
                  dw, work, x, gy, NULL};
    run_slots(&j, weight_slots);
    int64_t wn = g->o * s.cK;
    for (int64_t k = 1; k < j.slots; k++) { /* in slot order, whatever the threads */
        const void *part = weight_part(&j, k);
        if (dt == TG_FLOAT32)
            for (int64_t i = 0; i < wn; i++)
                ((float *)dw)[i] += ((const float *)part)[i];
        else
            for (int64_t i = 0; i < wn; i++)
                ((double *)dw)[i] += ((const double *)part)[i];
    }
    for (int64_t gi = 0; weight_grad_transposed(dt, &s) && gi < g->groups; gi++) {
        float tmp[TRANSPOSE_MAX], *d = (float *)dw + gi * s.wg;
        memcpy(tmp, d, (size_t)s.wg * sizeof *tmp);
        for (int64_t o = 0; o < s.og; o++)
            for (int64_t t = 0; t < s.cK; t++)
                d[o * s.cK + t] = tmp[t * s.og + o];
    }
}
