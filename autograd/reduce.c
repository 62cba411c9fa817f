/* reduce.c - the reductions: sum, mean and max of everything or along one
 * axis, and sum_to (the adjoint of broadcasting). The gradient of a sum or
 * mean is the incoming one spread back over the reduced axes; that of a
 * max is spread evenly over the elements equal to the maximum. */
#include "internal.h"

static tg_tensor *reduce(tg_tape *T, const char *fn, const tga_op *op, int kind,
                         tg_tensor *a, int axis, bool keepdims, bool all)
{
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    if (!tg__is_float(a->dtype)) { /* tensor.h's forms, never recorded */
        tg_tensor *(*const whole[3])(const tg_tensor *) = {tg_sum, tg_mean, tg_max};
        tg_tensor *(*const along[3])(const tg_tensor *, int, bool) = {
            tg_sum_axis, tg_mean_axis, tg_max_axis};
        return tga__adopt(T, fn, all ? whole[kind](a) : along[kind](a, axis, keepdims));
    }
    int ax = -1, nd = 0;
    int64_t shape[TG_MAX_DIMS];
    if (!all) {
        if (tg__axis(fn, axis, a->ndim, &ax))
            return NULL;
        tg__reduced_shape(a, ax, keepdims, &nd, shape);
    }
    tg_tensor *out = tga__new_like(T, fn, a->dtype, nd, shape);
    if (!out)
        return NULL;
    if (tg__reduce(fn, kind, out, a, ax))
        return tga__discard(T, out);
    tg__node *n;
    out = tga__finish(T, fn, op, out, a, NULL, &n);
    if (n) {
        n->axis = ax;
        n->keepdims = keepdims;
    }
    return out;
}

/* g reshaped to the keepdims shape of a reduction of a along axis. */
static tg_tensor *keepdims_grad(tg_tape *T, tg_tensor *g, const tg_tensor *a,
                                int axis, bool keepdims)
{
    if (keepdims)
        return g;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    tg__reduced_shape(a, axis, true, &nd, shape);
    return tg_ad_reshape(T, g, nd, shape);
}

/* ---- sum and mean -------------------------------------------------------------- */

/* d sum(a) = g repeated over a's shape */
static void sum_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    r->a = tg_ad_expand(T, g, a->ndim, a->shape);
}

/* The same repetition as a view with every stride 0, as tg_ad_expand
 * makes, without its checks. */
static bool sum_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    const tg_tensor *a = n->in[0];
    tg_tensor v = *g;
    v.ndim = a->ndim;
    for (int k = 0; k < a->ndim; k++) {
        v.shape[k] = a->shape[k];
        v.strides[k] = 0;
    }
    v.numel = a->numel;
    r->a = tga__view(T, fn, &v);
    return true;
}

static const tga_op op_sum = {"sum", sum_rule, sum_plain};
tg_tensor *tg_ad_sum(tg_tape *T, tg_tensor *a) { return reduce(T, "tg_ad_sum", &op_sum, 0, a, 0, false, true); }

static void mean_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    r->a = tg_ad_expand(T, tg_ad_div_scalar(T, g, (double)a->numel), a->ndim, a->shape);
}

static const tga_op op_mean = {"mean", mean_rule, NULL};
tg_tensor *tg_ad_mean(tg_tape *T, tg_tensor *a) { return reduce(T, "tg_ad_mean", &op_mean, 1, a, 0, false, true); }

static void sum_axis_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    r->a = tg_ad_expand(T, keepdims_grad(T, g, a, n->axis, n->keepdims), a->ndim, a->shape);
}

static const tga_op op_sum_axis = {"sum_axis", sum_axis_rule, NULL};
tg_tensor *tg_ad_sum_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims) { return reduce(T, "tg_ad_sum_axis", &op_sum_axis, 0, a, axis, keepdims, false); }

static void mean_axis_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    tg_tensor *k = keepdims_grad(T, g, a, n->axis, n->keepdims);
    r->a = tg_ad_expand(T, tg_ad_div_scalar(T, k, (double)a->shape[n->axis]),
                        a->ndim, a->shape);
}

static const tga_op op_mean_axis = {"mean_axis", mean_axis_rule, NULL};
tg_tensor *tg_ad_mean_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims) { return reduce(T, "tg_ad_mean_axis", &op_mean_axis, 1, a, axis, keepdims, false); }

/* ---- max ------------------------------------------------------------------------ */

/* d max = g spread evenly over the elements equal to the maximum (ties
 * share it, as torch.amax): see tga__tie_grad in reduce_more.c. */
static void max_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tga__tie_grad(T, n, g, tg__all_axes(n->in[0]), false);
}

static const tga_op op_max = {"max", max_rule, NULL};
tg_tensor *tg_ad_max(tg_tape *T, tg_tensor *a) { return reduce(T, "tg_ad_max", &op_max, 2, a, 0, false, true); }

static void max_axis_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tga__tie_grad(T, n, g, 1u << n->axis, false);
}

static const tga_op op_max_axis = {"max_axis", max_axis_rule, NULL};
tg_tensor *tg_ad_max_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims) { return reduce(T, "tg_ad_max_axis", &op_max_axis, 2, a, axis, keepdims, false); }

/* ---- sum_to: the adjoint of broadcasting ------------------------------------------ */

/* d sum_to(a) = g broadcast back to a's shape */
static void sum_to_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    r->a = tg_ad_expand(T, g, a->ndim, a->shape);
}

static const tga_op op_sum_to = {"sum_to", sum_to_rule, NULL};

tg_tensor *tg_ad_sum_to(tg_tape *T, tg_tensor *a, int ndim, const int64_t *shape)
{
    const char *fn = "tg_ad_sum_to";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor *out = tga__new(T, fn, a->dtype, ndim, shape);
    if (!out)
        return NULL;
    if (tg__sum_to(fn, out, a))
        return tga__discard(T, out);
    return tga__finish(T, fn, &op_sum_to, out, a, NULL, NULL);
}
