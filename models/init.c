/* init.c - torch.nn.init's initialisers (init.h) over tg_rng's NumPy
 * stream: fans and gains as PyTorch computes them, a C-order writer for a
 * tensor of any layout, and a Householder QR in double for orthogonal. */
#include "init.h"

#include <math.h>
#include <string.h>

#include "../tensor/internal.h"

/* ---- gains and fans ---- */

double tg_init_gain(tg_gain nonlinearity, double param)
{
    switch (nonlinearity) {
    case TG_GAIN_LINEAR:
    case TG_GAIN_SIGMOID:
        return 1.0;
    case TG_GAIN_TANH:
        return 5.0 / 3;
    case TG_GAIN_RELU:
        return sqrt(2.0);
    case TG_GAIN_LEAKY_RELU:
        if (!isfinite(param)) {
            tg__fail(TG_ERR_VALUE, "tg_init_gain", "negative_slope %g is not finite", param);
            return (double)NAN;
        }
        return sqrt(2.0 / (1 + param * param));
    case TG_GAIN_SELU:
        return 3.0 / 4;
    }
    tg__fail(TG_ERR_VALUE, "tg_init_gain", "unknown nonlinearity %d", (int)nonlinearity);
    return (double)NAN;
}

static int fans(const char *fn, const tg_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    if (t->ndim < 2)
        return tg__fail(TG_ERR_SHAPE, fn,
                        "fan in and fan out need a tensor of 2 or more dimensions, got %d",
                        t->ndim);
    /* The element count fits in int64_t, so every partial product does. */
    int64_t receptive = 1;
    for (int k = 2; k < t->ndim; k++)
        receptive *= t->shape[k];
    *fan_in = t->shape[1] * receptive;
    *fan_out = t->shape[0] * receptive;
    return TG_OK;
}

int tg_init_fans(const tg_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    static const char fn[] = "tg_init_fans";
    if (!t || !fan_in || !fan_out)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL",
                        !t ? "tensor" : !fan_in ? "fan_in" : "fan_out");
    return fans(fn, t, fan_in, fan_out);
}

/* ---- writing values in C order ---- */

typedef enum draw { DRAW_UNIFORM, DRAW_NORMAL, DRAW_CONST, DRAW_ARRAY } draw;

typedef struct source {
    draw kind;
    tg_rng *rng;
    double a, b;          /* low, high / mean, std / value, gain */
    const double *values; /* DRAW_ARRAY: numel values in C order */
} source;

static double next_value(source *s, int64_t i)
{
    switch (s->kind) {
    case DRAW_UNIFORM: /* np.random.uniform: low + (high - low) * random_sample */
        return s->a + (s->b - s->a) * tg_rng_random(s->rng);
    case DRAW_NORMAL:  /* np.random.normal: loc + scale * gauss */
        return s->a + s->b * tg_rng_normal(s->rng);
    case DRAW_CONST:
        return s->a;
    case DRAW_ARRAY:
        return s->values[i] * s->b;
    }
    return 0.0;
}

/* Writes every element of t in C order, whatever its strides. */
static void write_all(tg_tensor *t, source *s)
{
    int64_t idx[TG_MAX_DIMS] = {0};
    char *base = (char *)tg_data(t);
    size_t esize = tg_dtype_size(t->dtype);
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t off = 0;
        for (int k = 0; k < t->ndim; k++)
            off += idx[k] * t->strides[k];
        double v = next_value(s, i);
        if (t->dtype == TG_FLOAT32)
            *(float *)(void *)(base + off * (int64_t)esize) = (float)v;
        else
            *(double *)(void *)(base + off * (int64_t)esize) = v;
        for (int k = t->ndim - 1; k >= 0; k--) {
            if (++idx[k] < t->shape[k])
                break;
            idx[k] = 0;
        }
    }
    tg__touch(t);
}

/* The checks every initialiser makes; rng only when it draws. */
static int check(const char *fn, tg_rng *rng, bool needs_rng, const tg_tensor *t)
{
    if (needs_rng && !rng)
        return tg__fail(TG_ERR_NULL, fn, "rng is NULL");
    if (!t)
        return tg__fail(TG_ERR_NULL, fn, "tensor is NULL");
    if (!tg__is_float(t->dtype))
        return tg__need_float(fn, "tensor", t->dtype);
    if (tg__check_writable(fn, "tensor", t))
        return TG_ERR_VALUE;
    if (needs_rng) {
        /* A permutation of nothing checks the generator without drawing. */
        int64_t none = 0;
        if (tg_rng_permutation(rng, &none, 0))
            return tg__fail(TG_ERR_VALUE, fn, "rng is not seeded (call tg_rng_seed on it first)");
    }
    return TG_OK;
}

static int check_finite(const char *fn, const char *what, double v)
{
    if (!isfinite(v))
        return tg__fail(TG_ERR_VALUE, fn, "%s is %g, must be finite", what, v);
    return TG_OK;
}

static int fill(const char *fn, tg_rng *rng, tg_tensor *t, draw kind, double a, double b)
{
    if (check(fn, rng, kind != DRAW_CONST, t))
        return tg_last_error();
    source s = {.kind = kind, .rng = rng, .a = a, .b = b};
    write_all(t, &s);
    return TG_OK;
}

/* ---- the initialisers ---- */

int tg_init_uniform(tg_rng *rng, tg_tensor *t, double low, double high)
{
    static const char fn[] = "tg_init_uniform";
    if (check_finite(fn, "low", low) || check_finite(fn, "high", high))
        return TG_ERR_VALUE;
    return fill(fn, rng, t, DRAW_UNIFORM, low, high);
}

int tg_init_normal(tg_rng *rng, tg_tensor *t, double mean, double std)
{
    static const char fn[] = "tg_init_normal";
    if (check_finite(fn, "mean", mean) || check_finite(fn, "std", std))
        return TG_ERR_VALUE;
    if (std < 0)
        return tg__fail(TG_ERR_VALUE, fn, "std is %g, must be >= 0", std);
    return fill(fn, rng, t, DRAW_NORMAL, mean, std);
}

static int xavier(const char *fn, tg_rng *rng, tg_tensor *t, double gain, draw kind)
{
    int64_t fan_in = 0, fan_out = 0;
    if (check(fn, rng, true, t) || fans(fn, t, &fan_in, &fan_out))
        return tg_last_error();
    if (check_finite(fn, "gain", gain))
        return TG_ERR_VALUE;
    if (t->numel == 0)
        return TG_OK;
    /* PyTorch: std = gain * math.sqrt(2.0 / float(fan_in + fan_out)),
     * a = math.sqrt(3.0) * std, in this order (the same doubles). */
    double std = gain * sqrt(2.0 / (double)(fan_in + fan_out));
    return kind == DRAW_UNIFORM ? fill(fn, rng, t, kind, -sqrt(3.0) * std, sqrt(3.0) * std)
                                : fill(fn, rng, t, kind, 0.0, std);
}

int tg_init_xavier_uniform(tg_rng *rng, tg_tensor *t, double gain)
{
    return xavier("tg_init_xavier_uniform", rng, t, gain, DRAW_UNIFORM);
}

int tg_init_xavier_normal(tg_rng *rng, tg_tensor *t, double gain)
{
    return xavier("tg_init_xavier_normal", rng, t, gain, DRAW_NORMAL);
}

static int kaiming(const char *fn, tg_rng *rng, tg_tensor *t, double a, tg_fan_mode mode,
                   tg_gain nonlinearity, draw kind)
{
    if (check(fn, rng, true, t))
        return tg_last_error();
    if (t->numel == 0) /* PyTorch returns before computing the fans */
        return TG_OK;
    int64_t fan_in = 0, fan_out = 0;
    if (fans(fn, t, &fan_in, &fan_out))
        return tg_last_error();
    if (mode != TG_FAN_IN && mode != TG_FAN_OUT)
        return tg__fail(TG_ERR_VALUE, fn, "mode %d is neither TG_FAN_IN nor TG_FAN_OUT",
                        (int)mode);
    if (check_finite(fn, "a", a))
        return TG_ERR_VALUE;
    double gain = tg_init_gain(nonlinearity, a);
    if (isnan(gain))
        return tg__fail(TG_ERR_VALUE, fn, "unknown nonlinearity %d", (int)nonlinearity);
    int64_t fan = mode == TG_FAN_IN ? fan_in : fan_out;
    /* PyTorch: std = gain / math.sqrt(fan); bound = math.sqrt(3.0) * std.
     * A zero fan (a zero-size axis) has no elements: returned above. */
    double std = gain / sqrt((double)fan);
    return kind == DRAW_UNIFORM ? fill(fn, rng, t, kind, -sqrt(3.0) * std, sqrt(3.0) * std)
                                : fill(fn, rng, t, kind, 0.0, std);
}

int tg_init_kaiming_uniform(tg_rng *rng, tg_tensor *t, double a, tg_fan_mode mode,
                            tg_gain nonlinearity)
{
    return kaiming("tg_init_kaiming_uniform", rng, t, a, mode, nonlinearity, DRAW_UNIFORM);
}

int tg_init_kaiming_normal(tg_rng *rng, tg_tensor *t, double a, tg_fan_mode mode,
                           tg_gain nonlinearity)
{
    return kaiming("tg_init_kaiming_normal", rng, t, a, mode, nonlinearity, DRAW_NORMAL);
}

int tg_init_zeros(tg_tensor *t)
{
    return fill("tg_init_zeros", NULL, t, DRAW_CONST, 0.0, 0.0);
}

int tg_init_ones(tg_tensor *t)
{
    return fill("tg_init_ones", NULL, t, DRAW_CONST, 1.0, 0.0);
}

int tg_init_constant(tg_tensor *t, double value)
{
    /* Any value, as torch.nn.init.constant_ (NaN and inf included). */
    return fill("tg_init_constant", NULL, t, DRAW_CONST, value, 0.0);
}

/* ---- orthogonal ---- */

/* The thin QR of the m x n matrix a (row-major, m >= n) by Householder
 * reflections: on return q (m x n, row-major) has orthonormal columns with
 * each column multiplied by the sign of R's diagonal entry (0 for 0, as
 * torch's sign), so q = a R'^-1 for the R' of positive diagonal, whichever
 * sign convention the reflections use. a is overwritten; v (m x n) holds
 * the reflection vectors. */
static void householder_q(double *a, double *v, double *q, int64_t m, int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        double norm = 0.0;
        for (int64_t i = k; i < m; i++)
            norm += a[i * n + k] * a[i * n + k];
        norm = sqrt(norm);
        double *vk = v + k * m; /* reflection k, entries k..m-1 */
        for (int64_t i = 0; i < m; i++)
            vk[i] = 0.0;
        if (norm == 0.0) { /* nothing to reflect: H_k = I, R_kk = 0 */
            a[k * n + k] = 0.0;
            continue;
        }
        /* alpha = -sign(x0) ||x|| avoids cancellation in v = x - alpha e1. */
        double x0 = a[k * n + k];
        double alpha = x0 >= 0 ? -norm : norm;
        vk[k] = x0 - alpha;
        for (int64_t i = k + 1; i < m; i++)
            vk[i] = a[i * n + k];
        double vnorm = 0.0;
        for (int64_t i = k; i < m; i++)
            vnorm += vk[i] * vk[i];
        vnorm = sqrt(vnorm);
        for (int64_t i = k; i < m; i++)
            vk[i] /= vnorm;
        /* A[k:, k:] -= 2 v (v^T A[k:, k:]) */
        for (int64_t j = k; j < n; j++) {
            double dot = 0.0;
            for (int64_t i = k; i < m; i++)
                dot += vk[i] * a[i * n + j];
            for (int64_t i = k; i < m; i++)
                a[i * n + j] -= 2.0 * vk[i] * dot;
        }
        a[k * n + k] = alpha; /* R_kk, exactly */
    }
    /* Q = H_0 H_1 ... H_{n-1} I[:, :n], applied from the last reflection. */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            q[i * n + j] = i == j ? 1.0 : 0.0;
    for (int64_t k = n - 1; k >= 0; k--) {
        const double *vk = v + k * m;
        for (int64_t j = 0; j < n; j++) {
            double dot = 0.0;
            for (int64_t i = k; i < m; i++)
                dot += vk[i] * q[i * n + j];
            for (int64_t i = k; i < m; i++)
                q[i * n + j] -= 2.0 * vk[i] * dot;
        }
    }
    for (int64_t j = 0; j < n; j++) {
        double r = a[j * n + j];
        double sign = r > 0 ? 1.0 : r < 0 ? -1.0 : 0.0;
        for (int64_t i = 0; i < m; i++)
            q[i * n + j] *= sign;
    }
}

int tg_init_orthogonal(tg_rng *rng, tg_tensor *t, double gain)
{
    static const char fn[] = "tg_init_orthogonal";
    if (check(fn, rng, true, t))
        return tg_last_error();
    if (t->ndim < 2)
        return tg__fail(TG_ERR_SHAPE, fn, "needs a tensor of 2 or more dimensions, got %d",
                        t->ndim);
    if (check_finite(fn, "gain", gain))
        return TG_ERR_VALUE;
    if (t->numel == 0)
        return TG_OK;
    int64_t rows = t->shape[0], cols = t->numel / rows;
    size_t count = (size_t)t->numel, bytes;
    if (count > SIZE_MAX / sizeof(double) / 3)
        return tg__fail(TG_ERR_OVERFLOW, fn, "%lld elements are too many for the scratch",
                        (long long)t->numel);
    bytes = 3 * count * sizeof(double);
    double *scratch = tg__alloc(bytes);
    if (!scratch)
        return tg__oom(fn);
    double *a = scratch, *v = scratch + count, *q = scratch + 2 * count;
    /* The (rows, cols) normal matrix in C order; PyTorch factors its
     * transpose when rows < cols, so that m >= n. */
    bool wide = rows < cols;
    int64_t m = wide ? cols : rows, n = wide ? rows : cols;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            double g = tg_rng_normal(rng);
            if (wide)
                a[j * n + i] = g;
            else
                a[i * n + j] = g;
        }
    householder_q(a, v, q, m, n);
    /* Back to (rows, cols): transpose q when the matrix was wide. */
    double *out = a;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            out[i * cols + j] = wide ? q[j * n + i] : q[i * n + j];
    source s = {.kind = DRAW_ARRAY, .values = out, .b = gain};
    write_all(t, &s);
    tg__dealloc(scratch, bytes);
    return TG_OK;
}
