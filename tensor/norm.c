/* norm.c - the elementwise halves of batch and layer normalisation
 * (autograd/norm.c): a contiguous tensor seen as (A, C, B), one statistic
 * per c (batch norm: A the batch, C the channels, B the pixels; layer
 * norm: A 1, C the leading axes, B the normalised ones). The statistics
 * are two passes in double (the mean, then the squared deviations from
 * it), without any allocation. The other loops do,
 * element by element, the same IEEE operations in the same order as the
 * separate binary kernels it replaces, so it equals them bit for bit:
 *
 *     tg__norm_apply  y  = (x - mean) * rstd
 *     tg__norm_grad   dx = ((g - gm) - y * gym) * rstd
 *
 * (under -std=c11 nothing is contracted into a fused multiply-add). */
#include <math.h>

#include "internal.h"

/* The sum of n values and of their squared deviations from m, each in 8
 * double lanes (lane k takes the values k mod 8, which vectorises) added
 * up at the end: a fixed order, whatever the machine. */
#define NORM_SUMS(T, NAME)                                                     \
    static void NAME(const T *x, int64_t n, double m, double *s, double *q)    \
    {                                                                          \
        double as[8] = {0}, aq[8] = {0};                                       \
        int64_t b = 0;                                                         \
        for (; b + 8 <= n; b += 8)                                             \
            for (int k = 0; k < 8; k++) {                                      \
                double v = (double)x[b + k], d = v - m;                        \
                as[k] += v;                                                    \
                aq[k] += d * d;                                                \
            }                                                                  \
        for (int k = 0; b < n; b++, k++) {                                     \
            double v = (double)x[b], d = v - m;                                \
            as[k] += v;                                                        \
            aq[k] += d * d;                                                    \
        }                                                                      \
        *s += ((as[0] + as[1]) + (as[2] + as[3])) + ((as[4] + as[5]) + (as[6] + as[7])); \
        *q += ((aq[0] + aq[1]) + (aq[2] + aq[3])) + ((aq[4] + aq[5]) + (aq[6] + aq[7])); \
    }

NORM_SUMS(double, sums_f64)
NORM_SUMS(float, sums_f32)

/* Two passes per c: the sum (m = 0, the squares unused), then the squared
 * deviations from the mean. */
#define NORM_STATS(T, NAME, SUMS)                                              \
    TG_CLONES static void NAME(int64_t A, int64_t C, int64_t B, const T *x,    \
                               double *mean, double *var)                      \
    {                                                                          \
        double n = (double)A * (double)B;                                      \
        for (int64_t c = 0; c < C; c++) {                                      \
            double s = 0.0, q = 0.0, unused = 0.0;                             \
            for (int64_t a = 0; a < A; a++)                                    \
                SUMS(x + (a * C + c) * B, B, 0.0, &s, &unused);                \
            double m = s / n;                                                  \
            for (int64_t a = 0; a < A; a++)                                    \
                SUMS(x + (a * C + c) * B, B, m, &unused, &q);                  \
            mean[c] = m;                                                       \
            var[c] = q / n;                                                    \
        }                                                                      \
    }

NORM_STATS(double, stats_f64, sums_f64)
NORM_STATS(float, stats_f32, sums_f32)

void tg__norm_stats(const tg_tensor *x, int64_t A, int64_t C, int64_t B, double *mean,
                    double *var)
{
    if (x->numel == 0) { /* groups of no elements: 0 / 0, as the mean of none */
        for (int64_t c = 0; c < C; c++)
            mean[c] = var[c] = (double)NAN;
        return;
    }
    if (x->dtype == TG_FLOAT64)
        stats_f64(A, C, B, tg__data(x), mean, var);
    else
        stats_f32(A, C, B, tg__data(x), mean, var);
}

#define NORM_APPLY(T, NAME)                                                    \
    TG_CLONES static void NAME(int64_t A, int64_t C, int64_t B, const T *x,    \
                               const T *mean, const T *rstd, T *y)             \
    {                                                                          \
        for (int64_t a = 0; a < A; a++)                                        \
            for (int64_t c = 0; c < C; c++) {                                  \
                const T m = mean[c], r = rstd[c];                              \
                const T *xi = x + (a * C + c) * B;                             \
                T *yi = y + (a * C + c) * B;                                   \
                for (int64_t b = 0; b < B; b++) {                              \
                    T d = xi[b] - m;                                           \
                    yi[b] = d * r;                                             \
                }                                                              \
            }                                                                  \
    }

NORM_APPLY(double, apply_f64)
NORM_APPLY(float, apply_f32)

void tg__norm_apply(tg_tensor *y, const tg_tensor *x, const tg_tensor *mean,
                    const tg_tensor *rstd, int64_t A, int64_t C, int64_t B)
{
    if (x->dtype == TG_FLOAT64)
        apply_f64(A, C, B, tg__data(x), tg__data(mean), tg__data(rstd), tg__data(y));
    else
        apply_f32(A, C, B, tg__data(x), tg__data(mean), tg__data(rstd), tg__data(y));
    tg__touch(y);
}

#define NORM_GRAD(T, NAME)                                                     \
    TG_CLONES static void NAME(int64_t A, int64_t C, int64_t B, const T *g,    \
                               const T *y, const T *gm, const T *gym,          \
                               const T *rstd, T *dx)                           \
    {                                                                          \
        for (int64_t a = 0; a < A; a++)                                        \
            for (int64_t c = 0; c < C; c++) {                                  \
                const T m = gm[c], my = gym[c], r = rstd[c];                   \
                const int64_t o = (a * C + c) * B;                             \
                for (int64_t b = 0; b < B; b++) {                              \
                    T u = g[o + b] - m;                                        \
                    T v = y[o + b] * my;                                       \
                    T w = u - v;                                               \
                    dx[o + b] = w * r;                                         \
                }                                                              \
            }                                                                  \
    }

NORM_GRAD(double, grad_f64)
NORM_GRAD(float, grad_f32)

void tg__norm_grad(tg_tensor *dx, const tg_tensor *g, const tg_tensor *y,
                   const tg_tensor *gm, const tg_tensor *gym, const tg_tensor *rstd,
                   int64_t A, int64_t C, int64_t B)
{
    if (g->dtype == TG_FLOAT64)
        grad_f64(A, C, B, tg__data(g), tg__data(y), tg__data(gm), tg__data(gym),
                 tg__data(rstd), tg__data(dx));
    else
        grad_f32(A, C, B, tg__data(g), tg__data(y), tg__data(gm), tg__data(gym),
                 tg__data(rstd), tg__data(dx));
    tg__touch(dx);
}
