/* reduce_more.c - the reductions beyond reduce.c's: min and argmin, prod,
 * var and std, the L1 and L2 norms, each of everything, along one axis or
 * over a set of axes (NumPy's axis tuples); sums, means and maxima over a
 * set of axes; and the running sum, cumsum.
 *
 * Each computes what NumPy computes, the way NumPy computes it:
 * - Sums and means over several axes go through reduce.c's plan, so they
 *   equal np.sum(t, axis=axes) bit for bit (pairwise runs, the 8192-value
 *   buffer, memory order).
 * - min is np.min: NaN wins. prod is np.prod: np.multiply.reduce is not
 *   pairwise, it multiplies one value after another, from 1, in the order
 *   NumPy's iterator visits them (memory order); tg__reduce_rows gives
 *   that order.
 * - var is np.var's two passes: the mean, then the pairwise sum of the
 *   squared deviations, divided by max(count - ddof, 0), so ddof >= count
 *   gives inf, or NaN for 0/0, as NumPy and PyTorch do. The deviations are
 *   laid out in the input's memory order, as NumPy's temporary is, so the
 *   second sum adds in NumPy's order too. std is sqrt(var).
 * - The L1 norm is the sum of |x| and the L2 norm sqrt(sum of x*x), as
 *   np.linalg.norm computes them along an axis (no rescaling: squares past
 *   1e154 overflow to inf there too).
 * - cumsum is np.cumsum: one addition after another along the axis, in the
 *   input's dtype (float32 in float, unlike torch.cumsum's double).
 * float64 and float32 only; other dtypes are TG_ERR_DTYPE. */
#include <math.h>

#include "internal.h"

static int no_extremum(const char *fn, const tg_tensor *t, unsigned mask,
                       const char *what)
{
    if (mask == tg__all_axes(t))
        return tg__fail(TG_ERR_VALUE, fn, "zero-size tensor has no %s", what);
    int ax = 0;
    while (!((mask >> ax) & 1u) || t->shape[ax] != 0)
        ax++;
    return tg__fail(TG_ERR_VALUE, fn, "axis %d has size 0, so there is no %s",
                    ax, what);
}

/* ---- axes, shapes, checks ------------------------------------------------ */

int tg__axes_mask(const char *fn, int ndim, int naxes, const int *axes,
                  unsigned *mask)
{
    *mask = 0;
    if (naxes < 0)
        return tg__fail(TG_ERR_VALUE, fn, "naxes is %d", naxes);
    if (naxes > 0 && !axes)
        return tg__fail(TG_ERR_NULL, fn, "axes is NULL");
    for (int i = 0; i < naxes; i++) {
        int ax;
        if (tg__axis(fn, axes[i], ndim, &ax))
            return tg_last_error();
        if ((*mask >> ax) & 1u) {
            int j = 0;
            while (axes[j] != ax && axes[j] != ax - ndim)
                j++;
            return tg__fail(TG_ERR_AXIS, fn, "axis %d appears twice in axes "
                            "(as %d and %d)", ax, axes[j], axes[i]);
        }
        *mask |= 1u << ax;
    }
    return TG_OK;
}

void tg__mask_shape(const tg_tensor *t, unsigned mask, bool keepdims, int *ndim,
                    int64_t *shape)
{
    int n = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (!((mask >> k) & 1u))
            shape[n++] = t->shape[k];
        else if (keepdims)
            shape[n++] = 1;
    }
    *ndim = n;
}

int tg__reduce_check(const char *fn, int *kind, const tg_tensor *t, double p)
{
    if (t->dtype != TG_FLOAT32 && t->dtype != TG_FLOAT64)
        return tg__fail(TG_ERR_DTYPE, fn, "the input is %s; this reduction "
                        "needs float32 or float64 (tg_cast it first)",
                        tg_dtype_name(t->dtype));
    if ((*kind == TG__RED_VAR || *kind == TG__RED_STD) && !isfinite(p))
        return tg__fail(TG_ERR_VALUE, fn, "ddof is %g; it must be finite", p);
    if (*kind == TG__RED_NORM1 || *kind == TG__RED_NORM2) {
        if (p != 1.0 && p != 2.0)
            return tg__fail(TG_ERR_VALUE, fn, "ord %g is not supported (1 or 2)", p);
        *kind = p == 1.0 ? TG__RED_NORM1 : TG__RED_NORM2;
    }
    return TG_OK;
}

/* Result strides of a reduction over mask (C order over the kept axes, 0
 * along the reduced ones); returns how many values each result combines. */
static int64_t mask_strides(const tg_tensor *t, unsigned mask, int64_t *rs)
{
    int64_t s = 1, count = 1;
    for (int k = t->ndim - 1; k >= 0; k--) {
        if ((mask >> k) & 1u) {
            rs[k] = 0;
            count *= t->shape[k];
        } else {
            rs[k] = s;
            s *= t->shape[k];
        }
    }
    return count;
}

/* A fresh tensor of t's shape laid out in t's memory order, as NumPy lays
 * out the result of an elementwise op on t (order 'K'): its axes nest as
 * t's do (sorted by |stride| with reduce.c's rule: a stable insertion sort
 * in which a 0 stride is ambiguous and stays), with positive strides and
 * no gaps. Summing it then walks it in the order NumPy walks its
 * temporary. */
static tg_tensor *new_memory_order(const char *fn, const tg_tensor *t)
{
    tg_tensor *r = tg__new(fn, t->dtype, t->ndim, t->shape);
    if (!r)
        return NULL;
    int ax[TG_MAX_DIMS], m = 0; /* innermost first */
    for (int k = t->ndim - 1; k >= 0; k--)
        if (t->shape[k] != 1)
            ax[m++] = k;
    for (int i0 = 1; i0 < m; i0++) {
        int64_t s0 = t->strides[ax[i0]];
        int ipos = i0;
        for (int i1 = i0 - 1; i1 >= 0; i1--) {
            int64_t s1 = t->strides[ax[i1]];
            if (s0 == 0 || s1 == 0)
                continue;
            if ((s1 < 0 ? -s1 : s1) > (s0 < 0 ? -s0 : s0))
                ipos = i1;
            else
                break;
        }
        int a0 = ax[i0];
        for (int i = i0; i > ipos; i--)
            ax[i] = ax[i - 1];
        ax[ipos] = a0;
    }
    int64_t s = 1;
    for (int i = 0; i < m; i++) {
        r->strides[ax[i]] = s;
        s *= t->shape[ax[i]];
    }
    return r;
}

/* ---- min and prod: kernels fed by tg__reduce_rows ------------------------- */

/* np.minimum's rule: a when a <= b or a is NaN, else b; so NaN wins. */
#define NP_MIN(a, b) (((a) <= (b) || (a) != (a)) ? (a) : (b))

typedef struct rows {
    const void *x; /* the input's storage */
    void *res;     /* the results, C order */
} rows;

#define DEFINE_ROWS(T, S)                                                      \
    /* The minimum of n >= 1 values, NaN if any is NaN: four independent */    \
    /* lanes, NaN noted on the side, as reduce.c's run_max. */                 \
    static T run_min_##S(const T *x, int64_t n, int64_t s)                     \
    {                                                                          \
        T m0 = (T)INFINITY, m1 = m0, m2 = m0, m3 = m0;                         \
        unsigned nan = 0;                                                      \
        int64_t i = 0;                                                         \
        for (; i + 4 <= n; i += 4) {                                           \
            T v0 = x[i * s], v1 = x[(i + 1) * s];                              \
            T v2 = x[(i + 2) * s], v3 = x[(i + 3) * s];                        \
            m0 = v0 < m0 ? v0 : m0;                                            \
            m1 = v1 < m1 ? v1 : m1;                                            \
            m2 = v2 < m2 ? v2 : m2;                                            \
            m3 = v3 < m3 ? v3 : m3;                                            \
            nan |= (unsigned)(v0 != v0) | (unsigned)(v1 != v1) |               \
                   (unsigned)(v2 != v2) | (unsigned)(v3 != v3);                \
        }                                                                      \
        m0 = m1 < m0 ? m1 : m0;                                                \
        m2 = m3 < m2 ? m3 : m2;                                                \
        T m = m2 < m0 ? m2 : m0;                                               \
        for (; i < n; i++) {                                                   \
            T v = x[i * s];                                                    \
            m = v < m ? v : m;                                                 \
            nan |= (unsigned)(v != v);                                         \
        }                                                                      \
        return nan ? (T)NAN : m;                                               \
    }                                                                          \
                                                                               \
    static void min_row_##S(void *ctx, int64_t x, int64_t r, int64_t n,        \
                            int64_t xs, int64_t rs)                            \
    {                                                                          \
        const rows *c = ctx;                                                   \
        const T *p = (const T *)c->x + x;                                      \
        T *o = (T *)c->res + r;                                                \
        if (rs == 0) {                                                         \
            T b = run_min_##S(p, n, xs);                                       \
            o[0] = NP_MIN(o[0], b);                                            \
            return;                                                            \
        }                                                                      \
        for (int64_t j = 0; j < n; j++) {                                      \
            T a = o[j * rs], b = p[j * xs];                                    \
            o[j * rs] = NP_MIN(a, b);                                          \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* np.multiply.reduce: one product after another, never reordered. */     \
    static void prod_row_##S(void *ctx, int64_t x, int64_t r, int64_t n,       \
                             int64_t xs, int64_t rs)                           \
    {                                                                          \
        const rows *c = ctx;                                                   \
        const T *p = (const T *)c->x + x;                                      \
        T *o = (T *)c->res + r;                                                \
        if (rs == 0) {                                                         \
            T acc = o[0];                                                      \
            for (int64_t j = 0; j < n; j++)                                    \
                acc *= p[j * xs];                                              \
            o[0] = acc;                                                        \
            return;                                                            \
        }                                                                      \
        for (int64_t j = 0; j < n; j++)                                        \
            o[j * rs] *= p[j * xs];                                            \
    }                                                                          \
                                                                               \
    /* Running sums along one axis: n values at stride xs into out at */       \
    /* stride os, forwards or from the end. */                                 \
    static void cumsum_line_##S(const T *x, int64_t xs, T *o, int64_t os,      \
                                int64_t n, bool reverse)                       \
    {                                                                          \
        if (reverse) {                                                         \
            x += (n - 1) * xs;                                                 \
            o += (n - 1) * os;                                                 \
            xs = -xs;                                                          \
            os = -os;                                                          \
        }                                                                      \
        T acc = x[0];                                                          \
        o[0] = acc;                                                            \
        for (int64_t j = 1; j < n; j++) {                                      \
            acc += x[j * xs];                                                  \
            o[j * os] = acc;                                                   \
        }                                                                      \
    }

DEFINE_ROWS(float, f)
DEFINE_ROWS(double, d)

/* out (all `init`) combined with the values of t by row, in NumPy's order. */
static void by_rows(tg_tensor *out, const tg_tensor *t, const int64_t *rs,
                    double init, tg__row_fn row_d, tg__row_fn row_f)
{
    for (int64_t i = 0; i < out->numel; i++)
        tg__store(out, out->offset + i, init);
    if (t->numel == 0)
        return;
    rows c = {t->storage->data, tg__data(out)};
    tg__reduce_rows(t, rs, t->dtype == TG_FLOAT64 ? row_d : row_f, &c);
}

/* ---- var, std and the norms: a temporary, then a sum ---------------------- */

/* out = sum over mask of f(t) with f(t) laid out in t's memory order:
 * the squared deviations from the mean (var, std), |t| or t*t; then the
 * division by max(count - ddof, 0) and the square root where they apply. */
static int via_temporary(const char *fn, int kind, tg_tensor *out,
                         const tg_tensor *t, const int64_t *rs, int64_t count,
                         double ddof)
{
    tg_tensor *tmp = new_memory_order(fn, t), *mean = NULL;
    if (!tmp)
        return TG_ERR_NOMEM;
    int rc = TG_OK;
    if (kind == TG__RED_VAR || kind == TG__RED_STD) {
        /* the mean in the keepdims shape, which broadcasts against t */
        int nd = 0;
        int64_t shape[TG_MAX_DIMS];
        for (int k = 0; k < t->ndim; k++)
            shape[nd++] = rs[k] == 0 ? 1 : t->shape[k];
        mean = tg__new(fn, t->dtype, nd, shape);
        rc = mean ? tg__reduce_strided(fn, TG__RED_MEAN, mean, t, rs, count)
                  : TG_ERR_NOMEM;
        if (rc == TG_OK) {
            tg__binary_kernel(TG_SUB, 0.0, tmp, t, mean);
            tg__binary_kernel(TG_MUL, 0.0, tmp, tmp, tmp);
        }
    } else if (kind == TG__RED_NORM1) {
        tg__unary_kernel(TG_ABS, tmp, t);
    } else {
        tg__binary_kernel(TG_MUL, 0.0, tmp, t, t);
    }
    if (rc == TG_OK)
        rc = tg__reduce_strided(fn, TG__RED_SUM, out, tmp, rs, count);
    tg_free(mean);
    tg_free(tmp);
    if (rc)
        return rc;
    if (kind == TG__RED_VAR || kind == TG__RED_STD) {
        double d = (double)count - ddof; /* NumPy: max(count - ddof, 0) */
        tg__scalar_kernel(TG_DIV, out, out, d > 0 ? d : 0.0, false);
    }
    if (kind == TG__RED_STD || kind == TG__RED_NORM2)
        tg__unary_kernel(TG_SQRT, out, out);
    return TG_OK;
}

/* ---- the entry point ----------------------------------------------------- */

static int reduce_mask(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
                       unsigned mask, double p);
static int run_reduce_mask(tg__step *e)
{
    return reduce_mask(e->fn, e->op, &e->out, &e->a, (unsigned)e->i[0], e->s);
}

int tg__reduce_mask(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
                    unsigned mask, double p)
{
    int rc;
    TG__TRACED_RC(rc, reduce_mask(fn, kind, out, t, mask, p), .run = run_reduce_mask,
                  .fn = fn, .op = kind, .s = p, .out = *out, .a = *t, .i = {mask});
    return rc;
}

static int reduce_mask(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
                    unsigned mask, double p)
{
    int64_t rs[TG_MAX_DIMS];
    int64_t count = mask_strides(t, mask, rs);
    if ((kind == TG__RED_MAX || kind == TG__RED_MIN) && count == 0)
        return no_extremum(fn, t, mask, kind == TG__RED_MAX ? "maximum" : "minimum");
    if (out->numel == 0)
        return TG_OK;
    switch (kind) {
    case TG__RED_SUM:
    case TG__RED_MEAN:
    case TG__RED_MAX:
        return tg__reduce_strided(fn, kind, out, t, rs, count);
    case TG__RED_MIN:
        by_rows(out, t, rs, (double)INFINITY, min_row_d, min_row_f);
        break;
    case TG__RED_PROD:
        by_rows(out, t, rs, 1.0, prod_row_d, prod_row_f);
        break;
    default:
        return via_temporary(fn, kind, out, t, rs, count, p);
    }
    tg__touch(out);
    return TG_OK;
}

void tg__cumsum(tg_tensor *out, const tg_tensor *t, int axis, bool reverse)
{
    int64_t n = t->shape[axis];
    if (t->numel == 0)
        return;
    /* every line along axis: an odometer over the other axes */
    int64_t idx[TG_MAX_DIMS] = {0}, x = t->offset, o = 0;
    int64_t xs = t->strides[axis], os = out->strides[axis];
    bool more = true;
    while (more) {
        if (t->dtype == TG_FLOAT64)
            cumsum_line_d((const double *)t->storage->data + x, xs,
                          (double *)tg__data(out) + o, os, n, reverse);
        else
            cumsum_line_f((const float *)t->storage->data + x, xs,
                          (float *)tg__data(out) + o, os, n, reverse);
        more = false;
        for (int k = t->ndim - 1; k >= 0; k--) {
            if (k == axis)
                continue;
            if (++idx[k] < t->shape[k]) {
                x += t->strides[k];
                o += out->strides[k];
                more = true;
                break;
            }
            idx[k] = 0;
            x -= (t->shape[k] - 1) * t->strides[k];
            o -= (t->shape[k] - 1) * out->strides[k];
        }
    }
    tg__touch(out);
}

/* ---- public API ----------------------------------------------------------- */

/* A reduction over mask into a new tensor, after the checks. */
static tg_tensor *reduce_new(const char *fn, int kind, const tg_tensor *t,
                             unsigned mask, bool keepdims, double p)
{
    if (tg__reduce_check(fn, &kind, t, p))
        return NULL;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    tg__mask_shape(t, mask, keepdims, &nd, shape);
    tg_tensor *out = tg__new(fn, t->dtype, nd, shape);
    if (out && tg__reduce_mask(fn, kind, out, t, mask, p)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

static tg_tensor *whole(const char *fn, int kind, const tg_tensor *t, double p)
{
    return t ? reduce_new(fn, kind, t, tg__all_axes(t), false, p) : NULL;
}

static tg_tensor *along(const char *fn, int kind, const tg_tensor *t, int axis,
                        bool keepdims, double p)
{
    int ax;
    if (!t || tg__axis(fn, axis, t->ndim, &ax))
        return NULL;
    return reduce_new(fn, kind, t, 1u << ax, keepdims, p);
}

static tg_tensor *over(const char *fn, int kind, const tg_tensor *t, int naxes,
                       const int *axes, bool keepdims, double p)
{
    unsigned mask;
    if (!t || tg__axes_mask(fn, t->ndim, naxes, axes, &mask))
        return NULL;
    return reduce_new(fn, kind, t, mask, keepdims, p);
}

tg_tensor *tg_min(const tg_tensor *t) { return whole("tg_min", TG__RED_MIN, t, 0); }
tg_tensor *tg_prod(const tg_tensor *t) { return whole("tg_prod", TG__RED_PROD, t, 0); }
tg_tensor *tg_var(const tg_tensor *t, double ddof) { return whole("tg_var", TG__RED_VAR, t, ddof); }
tg_tensor *tg_std(const tg_tensor *t, double ddof) { return whole("tg_std", TG__RED_STD, t, ddof); }
tg_tensor *tg_norm(const tg_tensor *t, double ord) { return whole("tg_norm", TG__RED_NORM2, t, ord); }

tg_tensor *tg_min_axis(const tg_tensor *t, int axis, bool keepdims)
{
    return along("tg_min_axis", TG__RED_MIN, t, axis, keepdims, 0);
}

tg_tensor *tg_prod_axis(const tg_tensor *t, int axis, bool keepdims)
{
    return along("tg_prod_axis", TG__RED_PROD, t, axis, keepdims, 0);
}

tg_tensor *tg_var_axis(const tg_tensor *t, int axis, double ddof, bool keepdims)
{
    return along("tg_var_axis", TG__RED_VAR, t, axis, keepdims, ddof);
}

tg_tensor *tg_std_axis(const tg_tensor *t, int axis, double ddof, bool keepdims)
{
    return along("tg_std_axis", TG__RED_STD, t, axis, keepdims, ddof);
}

tg_tensor *tg_norm_axis(const tg_tensor *t, int axis, double ord, bool keepdims)
{
    return along("tg_norm_axis", TG__RED_NORM2, t, axis, keepdims, ord);
}

tg_tensor *tg_sum_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims)
{
    return over("tg_sum_axes", TG__RED_SUM, t, naxes, axes, keepdims, 0);
}

tg_tensor *tg_mean_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims)
{
    return over("tg_mean_axes", TG__RED_MEAN, t, naxes, axes, keepdims, 0);
}

tg_tensor *tg_max_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims)
{
    return over("tg_max_axes", TG__RED_MAX, t, naxes, axes, keepdims, 0);
}

tg_tensor *tg_min_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims)
{
    return over("tg_min_axes", TG__RED_MIN, t, naxes, axes, keepdims, 0);
}

tg_tensor *tg_prod_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims)
{
    return over("tg_prod_axes", TG__RED_PROD, t, naxes, axes, keepdims, 0);
}

tg_tensor *tg_var_axes(const tg_tensor *t, int naxes, const int *axes, double ddof,
                       bool keepdims)
{
    return over("tg_var_axes", TG__RED_VAR, t, naxes, axes, keepdims, ddof);
}

tg_tensor *tg_std_axes(const tg_tensor *t, int naxes, const int *axes, double ddof,
                       bool keepdims)
{
    return over("tg_std_axes", TG__RED_STD, t, naxes, axes, keepdims, ddof);
}

tg_tensor *tg_norm_axes(const tg_tensor *t, int naxes, const int *axes, double ord,
                        bool keepdims)
{
    return over("tg_norm_axes", TG__RED_NORM2, t, naxes, axes, keepdims, ord);
}

/* The arg-max of -t: the first minimum (or the first NaN) in C order,
 * stored as tg_argmax stores its positions. */
static tg_tensor *argmin_new(const char *fn, const tg_tensor *t, bool all,
                             int axis, bool keepdims)
{
    int kind = TG__RED_MIN, ax = -1;
    if (!t || tg__reduce_check(fn, &kind, t, 0) ||
        (!all && tg__axis(fn, axis, t->ndim, &ax)))
        return NULL;
    unsigned mask = all ? tg__all_axes(t) : 1u << ax;
    if ((all ? t->numel : t->shape[ax]) == 0) {
        no_extremum(fn, t, mask, "minimum");
        return NULL;
    }
    tg_tensor *neg = tg__new(fn, t->dtype, t->ndim, t->shape);
    if (!neg)
        return NULL;
    tg__unary_kernel(TG_NEG, neg, t);
    tg_tensor *r = tg__argmax_new(fn, neg, all, ax, keepdims);
    tg_free(neg);
    return r;
}

tg_tensor *tg_argmin(const tg_tensor *t) { return argmin_new("tg_argmin", t, true, 0, false); }

tg_tensor *tg_argmin_axis(const tg_tensor *t, int axis, bool keepdims)
{
    return argmin_new("tg_argmin_axis", t, false, axis, keepdims);
}

tg_tensor *tg_cumsum(const tg_tensor *t, int axis)
{
    const char *fn = "tg_cumsum";
    int kind = TG__RED_SUM, ax;
    if (!t || tg__reduce_check(fn, &kind, t, 0) || tg__axis(fn, axis, t->ndim, &ax))
        return NULL;
    tg_tensor *out = tg__new(fn, t->dtype, t->ndim, t->shape);
    if (out)
        tg__cumsum(out, t, ax, false);
    return out;
}
