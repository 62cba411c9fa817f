/* reduce_more.c - the tape's forms of tensor/reduce_more.c: min, prod, var,
 * std and the L1/L2 norms of everything, along one axis or over a set of
 * axes; sum, mean and max over a set of axes; and cumsum. Each op's
 * forward is followed by its rule, written with tg_ad_* ops so that a
 * recorded walk can differentiate it again. The rules are PyTorch's:
 *
 *   sum, mean    g (divided by the count) spread back over the group
 *   max, min     g spread evenly over the elements equal to the result
 *                (torch.amax/amin), so ties share it: (g / count) * mask
 *   prod         g * prod / a without zeros; with zeros, the product of
 *                the other elements of the group, so the one zero of a
 *                group gets a gradient and everything else 0; second
 *                derivatives right too (see prod_rule)
 *   var          g * 2 / (count - ddof) * (a - mean)
 *   std          var's, given g / (2 std), and 0 where std is 0
 *   norm         ord 2: g * a / norm, 0 where the norm is 0; ord 1:
 *                g * sign(a)
 *   cumsum       the running sum of g from the end (and that op's rule is
 *                cumsum again)
 *
 * A record keeps its reduced axes as a mask (n->axes), keepdims, and ddof
 * or ord in n->s. */
#include "internal.h"

/* ---- the forward ----------------------------------------------------------- */

static tg_tensor *reduce_op(tg_tape *T, const char *fn, const tga_op *op, int kind,
                            tg_tensor *a, unsigned mask, bool keepdims, double p)
{
    if (!a || tg__reduce_check(fn, &kind, a, p))
        return NULL;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    tg__mask_shape(a, mask, keepdims, &nd, shape);
    tg_tensor *out = tga__new_like(T, fn, a->dtype, nd, shape);
    if (!out)
        return NULL;
    if (tg__reduce_mask(fn, kind, out, a, mask, p))
        return tga__discard(T, out);
    tg__node *n;
    out = tga__finish(T, fn, op, out, a, NULL, &n);
    if (n) {
        n->axes = mask;
        n->keepdims = keepdims;
        n->s = p;
    }
    return out;
}

static tg_tensor *whole(tg_tape *T, const char *fn, const tga_op *op, int kind,
                        tg_tensor *a, double p)
{
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    return reduce_op(T, fn, op, kind, a, tg__all_axes(a), false, p);
}

static tg_tensor *along(tg_tape *T, const char *fn, const tga_op *op, int kind,
                        tg_tensor *a, int axis, bool keepdims, double p)
{
    int ax;
    if (!a || tga__check_input(T, fn, a) || tg__axis(fn, axis, a->ndim, &ax))
        return NULL;
    return reduce_op(T, fn, op, kind, a, 1u << ax, keepdims, p);
}

static tg_tensor *over(tg_tape *T, const char *fn, const tga_op *op, int kind,
                       tg_tensor *a, int naxes, const int *axes, bool keepdims,
                       double p)
{
    unsigned mask;
    if (!a || tga__check_input(T, fn, a) ||
        tg__axes_mask(fn, a->ndim, naxes, axes, &mask))
        return NULL;
    return reduce_op(T, fn, op, kind, a, mask, keepdims, p);
}

/* ---- helpers of the rules ------------------------------------------------------ */

/* How many values of a each result of a reduction over mask combines. */
static int64_t mask_count(const tg_tensor *a, unsigned mask)
{
    int64_t c = 1;
    for (int k = 0; k < a->ndim; k++)
        if ((mask >> k) & 1u)
            c *= a->shape[k];
    return c;
}

/* t, of a reduction's result shape, in the keepdims shape (a recorded
 * reshape, so second order sees through it). */
static tg_tensor *keep(tg_tape *T, tg_tensor *t, const tg_tensor *a,
                       unsigned mask, bool keepdims)
{
    if (keepdims || !t)
        return t;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    tg__mask_shape(a, mask, true, &nd, shape);
    return tg_ad_reshape(T, t, nd, shape);
}

/* The same as a constant: a view of t that no gradient flows through. */
static tg_tensor *keep_const(tg_tape *T, const char *fn, const tg_tensor *t,
                             const tg_tensor *a, unsigned mask, bool keepdims)
{
    tg_tensor v = *t;
    v.ndim = a->ndim;
    for (int k = 0, j = 0; k < a->ndim; k++) {
        if ((mask >> k) & 1u) {
            v.shape[k] = 1;
            v.strides[k] = 0;
            j += keepdims;
        } else {
            v.shape[k] = t->shape[j];
            v.strides[k] = t->strides[j];
            j++;
        }
    }
    return tga__view(T, fn, &v);
}

/* A 0-d constant of dtype dt on T. */
static tg_tensor *constant(tg_tape *T, const char *fn, tg_dtype dt, double v)
{
    tg_tensor *c = tga__new_like(T, fn, dt, 0, NULL);
    if (c)
        tg__store(c, c->offset, v);
    return c;
}

/* Whether any element of t is exactly 0 (a NaN is not). */
static bool any_zero(const tg_tensor *t)
{
    int64_t idx[TG_MAX_DIMS] = {0}, pos = t->offset;
    for (int64_t i = 0; i < t->numel; i++) {
        if (tg__load(t, pos) == 0.0)
            return true;
        for (int k = t->ndim - 1; k >= 0; k--) {
            if (++idx[k] < t->shape[k]) {
                pos += t->strides[k];
                break;
            }
            idx[k] = 0;
            pos -= (t->shape[k] - 1) * t->strides[k];
        }
    }
    return false;
}

/* m * x / (d + (1 - m)) with the constant mask m = (d != 0): x / d where
 * d is not 0, exactly (x * 1 and d + 0 round to themselves), and 0 where
 * it is. PyTorch's masked_fill_(norm == 0, 0) written with tg_ad_* ops. */
static tg_tensor *div_or_zero(tg_tape *T, const char *fn, tg_tensor *x, tg_tensor *d)
{
    if (!d || !any_zero(d))
        return tg_ad_div(T, x, d);
    tg_tensor *zero = constant(T, fn, d->dtype, 0.0);
    tg_tensor *is0 = tg_ad_mul(T, tg_ad_ge(T, d, zero), tg_ad_ge(T, zero, d));
    tg_tensor *m = tg_ad_rsub_scalar(T, is0, 1.0);
    return tg_ad_div(T, tg_ad_mul(T, x, m), tg_ad_add(T, d, is0));
}

/* ---- sum and mean over a set of axes ------------------------------------------ */

static void sum_axes_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    r->a = tg_ad_expand(T, keep(T, g, a, n->axes, n->keepdims), a->ndim, a->shape);
}

static const tga_op op_sum_axes = {"sum_axes", sum_axes_rule, NULL};

tg_tensor *tg_ad_sum_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          bool keepdims)
{
    return over(T, "tg_ad_sum_axes", &op_sum_axes, TG__RED_SUM, a, naxes, axes,
                keepdims, 0);
}

static void mean_axes_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    tg_tensor *k = keep(T, g, a, n->axes, n->keepdims);
    r->a = tg_ad_expand(T, tg_ad_div_scalar(T, k, (double)mask_count(a, n->axes)),
                        a->ndim, a->shape);
}

static const tga_op op_mean_axes = {"mean_axes", mean_axes_rule, NULL};

tg_tensor *tg_ad_mean_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                           bool keepdims)
{
    return over(T, "tg_ad_mean_axes", &op_mean_axes, TG__RED_MEAN, a, naxes, axes,
                keepdims, 0);
}

/* ---- max and min: ties share the gradient ------------------------------------- */

tg_tensor *tga__tie_grad(tg_tape *T, const tg__node *n, tg_tensor *g,
                         unsigned mask, bool is_min)
{
    const char *fn = is_min ? "tg_ad_min (backward)" : "tg_ad_max (backward)";
    tg_tensor *a = n->in[0];
    tg_tensor *y = keep_const(T, fn, n->out, a, mask, n->keepdims);
    /* 1 where a equals the extremum: a >= max, or a <= min (all 0 in a
     * group whose result is NaN, so 0/0 makes its gradient NaN) */
    tg_tensor *m = y ? (is_min ? tg_ad_ge(T, y, a) : tg_ad_ge(T, a, y)) : NULL;
    tg_tensor *count = reduce_op(T, fn, &op_sum_axes, TG__RED_SUM, m, mask, true, 0);
    tg_tensor *gk = keep(T, g, a, mask, n->keepdims);
    return tg_ad_mul(T, tg_ad_div(T, gk, count), m);
}

static void max_axes_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tga__tie_grad(T, n, g, n->axes, false);
}

static const tga_op op_max_axes = {"max_axes", max_axes_rule, NULL};

tg_tensor *tg_ad_max_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          bool keepdims)
{
    return over(T, "tg_ad_max_axes", &op_max_axes, TG__RED_MAX, a, naxes, axes,
                keepdims, 0);
}

static void min_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tga__tie_grad(T, n, g, n->axes, true);
}

static const tga_op op_min = {"min", min_rule, NULL};
static const tga_op op_min_axis = {"min_axis", min_rule, NULL};
static const tga_op op_min_axes = {"min_axes", min_rule, NULL};

tg_tensor *tg_ad_min(tg_tape *T, tg_tensor *a)
{
    return whole(T, "tg_ad_min", &op_min, TG__RED_MIN, a, 0);
}

tg_tensor *tg_ad_min_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims)
{
    return along(T, "tg_ad_min_axis", &op_min_axis, TG__RED_MIN, a, axis, keepdims, 0);
}

tg_tensor *tg_ad_min_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          bool keepdims)
{
    return over(T, "tg_ad_min_axes", &op_min_axes, TG__RED_MIN, a, naxes, axes,
                keepdims, 0);
}

/* ---- prod ------------------------------------------------------------------------ */

static const tga_op op_prod_axes;

/* d prod / d a_i is the product of the others. Without zeros that is
 * prod / a_i (PyTorch's grad * (result / input)). With zeros, let z mark
 * them (a constant), a' = a + z (zeros made 1) and P' = prod(a') over the
 * group, the product of its non-zero elements. The product of the others
 * is P' / a'_i times W_i:
 *   1                          in a group without zeros,
 *   z_i + (1 - z_i) a_k        in a group whose only zero is a_k,
 *   z_i a_l                    for a zero a_k of a group of two, a_l the
 *                              other (and 0 for the rest of the group),
 *   0                          in a group of three zeros or more.
 * The a_k enter through f(a) = where(a == 0, a, 0) and its sum s over
 * the group (a_k = s, a_l = s - f(a_k)): the value of f is 0 whatever a
 * is (inf included), and df/da is 1 exactly at the zeros, 0 elsewhere.
 * The values are 0 and the second derivatives are the products of the
 * remaining elements, as
 * with PyTorch's prod along a dim (its whole-tensor prod has none when
 * two elements are 0: its gradient is then a constant). */
static void prod_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    const char *fn = "tg_ad_prod (backward)";
    tg_tensor *a = n->in[0];
    unsigned mask = n->axes;
    tg_tensor *gk = keep(T, g, a, mask, n->keepdims);
    if (!any_zero(a)) {
        tg_tensor *yk = keep(T, n->out, a, mask, n->keepdims);
        r->a = tg_ad_mul(T, gk, tg_ad_div(T, yk, a));
        return;
    }
    tg_tensor *zero = constant(T, fn, a->dtype, 0.0);
    tg_tensor *one = constant(T, fn, a->dtype, 1.0);
    tg_tensor *two = constant(T, fn, a->dtype, 2.0);
    tg_tensor *z = tg_ad_mul(T, tg_ad_ge(T, a, zero), tg_ad_ge(T, zero, a));
    tg_tensor *nz = reduce_op(T, fn, &op_sum_axes, TG__RED_SUM, z, mask, true, 0);
    tg_tensor *c0 = tg_ad_ge(T, zero, nz); /* groups without a zero */
    tg_tensor *c1 = tg_ad_mul(T, tg_ad_ge(T, one, nz), tg_ad_ge(T, nz, one));
    tg_tensor *c2 = tg_ad_mul(T, tg_ad_ge(T, two, nz), tg_ad_ge(T, nz, two));
    tg_tensor *ap = tg_ad_add(T, a, z);
    tg_tensor *pp = reduce_op(T, fn, &op_prod_axes, TG__RED_PROD, ap, mask, true, 0);
    tg_tensor *zb = tga__new_like(T, fn, TG_BOOL, a->ndim, a->shape);
    if (zb && zero)
        tg__compare(TG_CMP_EQ, zb, a, zero);
    tg_tensor *fa = zb && zero ? tg_ad_where(T, zb, a, zero) : NULL;
    tg_tensor *s = reduce_op(T, fn, &op_sum_axes, TG__RED_SUM, fa, mask, true, 0);
    tg_tensor *w1 = tg_ad_add(T, z, tg_ad_mul(T, tg_ad_rsub_scalar(T, z, 1.0), s));
    tg_tensor *w2 = tg_ad_mul(T, z, tg_ad_sub(T, s, fa));
    tg_tensor *w = tg_ad_add(T, tg_ad_add(T, c0, tg_ad_mul(T, c1, w1)),
                             tg_ad_mul(T, c2, w2));
    r->a = tg_ad_mul(T, gk, tg_ad_mul(T, tg_ad_div(T, pp, ap), w));
}

static const tga_op op_prod = {"prod", prod_rule, NULL};
static const tga_op op_prod_axis = {"prod_axis", prod_rule, NULL};
static const tga_op op_prod_axes = {"prod_axes", prod_rule, NULL};

tg_tensor *tg_ad_prod(tg_tape *T, tg_tensor *a)
{
    return whole(T, "tg_ad_prod", &op_prod, TG__RED_PROD, a, 0);
}

tg_tensor *tg_ad_prod_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims)
{
    return along(T, "tg_ad_prod_axis", &op_prod_axis, TG__RED_PROD, a, axis, keepdims, 0);
}

tg_tensor *tg_ad_prod_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                           bool keepdims)
{
    return over(T, "tg_ad_prod_axes", &op_prod_axes, TG__RED_PROD, a, naxes, axes,
                keepdims, 0);
}

/* ---- var and std ------------------------------------------------------------------ */

/* d var = g * 2 / d * (a - mean) with the forward's divisor d = max(count -
 * ddof, 0) (PyTorch's (2 / dof) * grad * (self - mean); for ddof > count
 * PyTorch divides by the negative dof, tapegrad by 0, as its forward);
 * gk in the keepdims shape. */
static tg_tensor *var_grad(tg_tape *T, const tg__node *n, tg_tensor *gk)
{
    tg_tensor *a = n->in[0];
    double d = (double)mask_count(a, n->axes) - n->s;
    tg_tensor *mean = reduce_op(T, "tg_ad_var (backward)", &op_mean_axes,
                                TG__RED_MEAN, a, n->axes, true, 0);
    return tg_ad_mul(T, tg_ad_mul_scalar(T, gk, 2.0 / (d > 0 ? d : 0.0)),
                     tg_ad_sub(T, a, mean));
}

static void var_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = var_grad(T, n, keep(T, g, n->in[0], n->axes, n->keepdims));
}

static const tga_op op_var = {"var", var_rule, NULL};
static const tga_op op_var_axis = {"var_axis", var_rule, NULL};
static const tga_op op_var_axes = {"var_axes", var_rule, NULL};

tg_tensor *tg_ad_var(tg_tape *T, tg_tensor *a, double ddof)
{
    return whole(T, "tg_ad_var", &op_var, TG__RED_VAR, a, ddof);
}

tg_tensor *tg_ad_var_axis(tg_tape *T, tg_tensor *a, int axis, double ddof, bool keepdims)
{
    return along(T, "tg_ad_var_axis", &op_var_axis, TG__RED_VAR, a, axis, keepdims, ddof);
}

tg_tensor *tg_ad_var_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          double ddof, bool keepdims)
{
    return over(T, "tg_ad_var_axes", &op_var_axes, TG__RED_VAR, a, naxes, axes,
                keepdims, ddof);
}

/* d std = d var with g / (2 std), 0 where std is 0 (PyTorch's
 * masked_fill_(result == 0, 0)). */
static void std_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *gv = div_or_zero(T, "tg_ad_std (backward)", g,
                                tg_ad_mul_scalar(T, n->out, 2.0));
    r->a = var_grad(T, n, keep(T, gv, n->in[0], n->axes, n->keepdims));
}

static const tga_op op_std = {"std", std_rule, NULL};
static const tga_op op_std_axis = {"std_axis", std_rule, NULL};
static const tga_op op_std_axes = {"std_axes", std_rule, NULL};

tg_tensor *tg_ad_std(tg_tape *T, tg_tensor *a, double ddof)
{
    return whole(T, "tg_ad_std", &op_std, TG__RED_STD, a, ddof);
}

tg_tensor *tg_ad_std_axis(tg_tape *T, tg_tensor *a, int axis, double ddof, bool keepdims)
{
    return along(T, "tg_ad_std_axis", &op_std_axis, TG__RED_STD, a, axis, keepdims, ddof);
}

tg_tensor *tg_ad_std_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          double ddof, bool keepdims)
{
    return over(T, "tg_ad_std_axes", &op_std_axes, TG__RED_STD, a, naxes, axes,
                keepdims, ddof);
}

/* ---- norms ------------------------------------------------------------------------ */

/* ord 2: g * (a / norm), 0 where the norm is 0 (PyTorch); ord 1: sign(a) * g. */
static void norm_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    tg_tensor *gk = keep(T, g, a, n->axes, n->keepdims);
    if (n->s == 1.0) {
        r->a = tg_ad_mul(T, tg_ad_sign(T, a), gk);
        return;
    }
    tg_tensor *yk = keep(T, n->out, a, n->axes, n->keepdims);
    r->a = tg_ad_mul(T, gk, div_or_zero(T, "tg_ad_norm (backward)", a, yk));
}

static const tga_op op_norm = {"norm", norm_rule, NULL};
static const tga_op op_norm_axis = {"norm_axis", norm_rule, NULL};
static const tga_op op_norm_axes = {"norm_axes", norm_rule, NULL};

tg_tensor *tg_ad_norm(tg_tape *T, tg_tensor *a, double ord)
{
    return whole(T, "tg_ad_norm", &op_norm, TG__RED_NORM2, a, ord);
}

tg_tensor *tg_ad_norm_axis(tg_tape *T, tg_tensor *a, int axis, double ord, bool keepdims)
{
    return along(T, "tg_ad_norm_axis", &op_norm_axis, TG__RED_NORM2, a, axis, keepdims, ord);
}

tg_tensor *tg_ad_norm_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                           double ord, bool keepdims)
{
    return over(T, "tg_ad_norm_axes", &op_norm_axes, TG__RED_NORM2, a, naxes, axes,
                keepdims, ord);
}

/* ---- cumsum ------------------------------------------------------------------------ */

static tg_tensor *cumsum(tg_tape *T, const char *fn, tg_tensor *a, int axis, bool reverse);

/* d cumsum = the running sum of g from the end, whose own rule is the
 * running sum from the start. */
static void cumsum_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = cumsum(T, "tg_ad_cumsum (backward)", g, n->axis, !n->keepdims);
}

static const tga_op op_cumsum = {"cumsum", cumsum_rule, NULL};

/* The running sums of a along axis (normalised); n->keepdims holds
 * reverse (the sums from the end). */
static tg_tensor *cumsum(tg_tape *T, const char *fn, tg_tensor *a, int axis, bool reverse)
{
    int kind = TG__RED_SUM;
    if (!a || tg__reduce_check(fn, &kind, a, 0))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (!out)
        return NULL;
    tg__cumsum(out, a, axis, reverse);
    tg__node *n;
    out = tga__finish(T, fn, &op_cumsum, out, a, NULL, &n);
    if (n) {
        n->axis = axis;
        n->keepdims = reverse;
    }
    return out;
}

tg_tensor *tg_ad_cumsum(tg_tape *T, tg_tensor *a, int axis)
{
    const char *fn = "tg_ad_cumsum";
    int ax;
    if (!a || tga__check_input(T, fn, a) || tg__axis(fn, axis, a->ndim, &ax))
        return NULL;
    return cumsum(T, fn, a, ax, false);
}
