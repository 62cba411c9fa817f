/* softmax.c - softmax, log softmax and logsumexp along one axis: the
 * kernels of autograd/softmax.c's ops. Each line is shifted by its
 * maximum m, so exp(x - m) <= 1 never overflows and the sum is at least 1:
 *
 *     softmax     exp(x - m) / s        s = sum exp(x - m)
 *     log softmax (x - m) - log s
 *     logsumexp   log s + m             (m taken as 0 when infinite)
 *
 * PyTorch computes the same, so the special lines agree with it: -inf
 * entries get probability 0 (log: -inf); a line of nothing but -inf, or
 * holding +inf or NaN, is NaN throughout; its logsumexp is -inf (all
 * -inf), +inf or NaN. Lines are computed in double whatever the dtype,
 * and summed with Neumaier's compensation, so a long line loses nothing
 * to the order of its additions; except float32 lines in memory order
 * (line_f32_fast below), whose exponentials are float32 polynomials. */
#include <math.h>

#include "internal.h"

/* s + e with the rounding error of each addition carried in *c. Once s is
 * infinite or NaN there is nothing left to compensate (inf - inf would
 * turn a sum of +inf into NaN). */
static inline double add_compensated(double s, double e, double *c)
{
    double t = s + e;
    if (isfinite(t))
        *c += fabs(s) >= fabs(e) ? (s - t) + e : (e - t) + s;
    return t;
}

#define SOFTMAX_LINE(T, NAME)                                                  \
    static void NAME(int kind, int64_t n, const T *x, int64_t sx, T *o,        \
                     int64_t so)                                               \
    {                                                                          \
        double m = -(double)INFINITY;                                          \
        for (int64_t i = 0; i < n; i++) {                                      \
            double v = (double)x[i * sx];                                      \
            if (v > m || v != v) /* NaN wins */                                \
                m = v;                                                         \
        }                                                                      \
        if (kind == 2 && isinf(m))                                             \
            m = 0;                                                             \
        double s = 0, c = 0;                                                   \
        for (int64_t i = 0; i < n; i++)                                        \
            s = add_compensated(s, exp((double)x[i * sx] - m), &c);            \
        s += c;                                                                \
        if (kind == 2) {                                                       \
            o[0] = (T)(log(s) + m);                                            \
        } else if (kind == 1) {                                                \
            double ls = log(s);                                                \
            for (int64_t i = 0; i < n; i++)                                    \
                o[i * so] = (T)(((double)x[i * sx] - m) - ls);                 \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++)                                    \
                o[i * so] = (T)(exp((double)x[i * sx] - m) / s);               \
        }                                                                      \
    }

SOFTMAX_LINE(double, line_f64)
SOFTMAX_LINE(float, line_f32)

/* A contiguous float32 line (x and, but for logsumexp, o with stride 1)
 * whose entries are finite or -inf, with a finite maximum: e^(x - m) once
 * per entry by tg__exp_nonpos_f (within 2e-7 of libm's, branch-free, so
 * the loops vectorise) and summed in double. Returns false, touching
 * nothing, for a line holding NaN or +inf or only -inf, which line_f32
 * then computes as the comment at the top says. Attention's short rows
 * (16 entries a line) made the double-precision line, two libm exps per
 * entry, a seventh of a small GPT's training step. */
TG_CLONES_512 static bool line_f32_fast(int kind, int64_t n, const float *x, float *o)
{
    float m = x[0];
    int32_t nan = 0;
    for (int64_t i = 0; i < n; i++) {
        m = x[i] > m ? x[i] : m;
        nan |= x[i] != x[i];
    }
    if (nan || !(m - m == 0.0f)) /* NaN, or m infinite */
        return false;
    double s = 0;
    if (kind == 0) {
        for (int64_t i = 0; i < n; i++)
            o[i] = tg__exp_nonpos_f(x[i] - m);
        for (int64_t i = 0; i < n; i++)
            s += (double)o[i];
        float inv = (float)(1.0 / s);
        for (int64_t i = 0; i < n; i++)
            o[i] *= inv;
        return true;
    }
    for (int64_t i = 0; i < n; i++)
        s += (double)tg__exp_nonpos_f(x[i] - m);
    double ls = log(s);
    if (kind == 2) {
        o[0] = (float)(ls + (double)m);
    } else {
        for (int64_t i = 0; i < n; i++)
            o[i] = (float)(((double)x[i] - (double)m) - ls);
    }
    return true;
}

static void softmax_kernel(int kind, tg_tensor *out, const tg_tensor *a, int axis);
static int run_softmax(tg__step *e)
{
    softmax_kernel(e->op, &e->out, &e->a, (int)e->i[0]);
    return TG_OK;
}

void tg__softmax_kernel(int kind, tg_tensor *out, const tg_tensor *a, int axis)
{
    TG__TRACED(softmax_kernel(kind, out, a, axis), .run = run_softmax, .op = kind,
               .out = *out, .a = *a, .i = {axis});
}

static void softmax_kernel(int kind, tg_tensor *out, const tg_tensor *a, int axis)
{
    /* The other axes of a, with the strides of a and of out along them. */
    int m = 0;
    int64_t shape[TG_MAX_DIMS], sa[TG_MAX_DIMS], so[TG_MAX_DIMS], lines = 1;
    bool dropped = out->ndim < a->ndim; /* logsumexp without keepdims */
    for (int k = 0, j = 0; k < a->ndim; k++, j++) {
        if (k == axis) {
            if (dropped)
                j--;
            continue;
        }
        shape[m] = a->shape[k];
        sa[m] = a->strides[k];
        so[m] = out->strides[j];
        lines *= a->shape[k];
        m++;
    }
    int64_t n = a->shape[axis], sx = a->strides[axis];
    int64_t sout = kind == 2 ? 0 : out->strides[axis];
    int64_t idx[TG_MAX_DIMS] = {0}, pa = a->offset, po = out->offset;
    for (int64_t l = 0; l < lines; l++) {
        if (n == 0) { /* a holds no data; a logsumexp of nothing is -inf */
            if (kind == 2)
                tg__store(out, po, -(double)INFINITY);
        } else if (a->dtype == TG_FLOAT64) {
            line_f64(kind, n, (const double *)a->storage->data + pa, sx,
                     (double *)out->storage->data + po, sout);
        } else {
            const float *x = (const float *)a->storage->data + pa;
            float *o = (float *)out->storage->data + po;
            if (sx != 1 || (kind != 2 && sout != 1) || !line_f32_fast(kind, n, x, o))
                line_f32(kind, n, x, sx, o, sout);
        }
        for (int k = m - 1; k >= 0; k--) {
            pa += sa[k];
            po += so[k];
            if (++idx[k] < shape[k])
                break;
            pa -= sa[k] * shape[k];
            po -= so[k] * shape[k];
            idx[k] = 0;
        }
    }
    tg__touch(out);
}
