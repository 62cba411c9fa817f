/* reduce.c - the reductions: sum, mean and max of everything or along one
 * axis, and sum_to (the adjoint of broadcasting). The gradient of a sum or
 * mean is the incoming one spread back over the reduced axes; that of a
 * max goes to the first arg-max. */
#include "internal.h"

static tg_tensor *reduce(tg_tape *T, const char *fn, const tga_op *op, int kind,
                         tg_tensor *a, int axis, bool keepdims, bool all)
{
    if (!a || tga__check_input(T, fn, a))
        return NULL;
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

/* The constant 0/1 mask of the first arg-max of a (all, or along axis).
 * The positions are integers (never a float holding an index). */
static tg_tensor *argmax_mask(tg_tape *T, const tg_tensor *a, int axis)
{
    const char *fn = "tg_ad_max (backward)";
    tg_tensor *mask = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (!mask || tg_fill(mask, 0.0))
        return tga__discard(T, mask);
    if (a->numel == 0)
        return mask;
    int64_t n = axis < 0 ? a->numel : a->shape[axis], inner = 1;
    int64_t npos = a->numel / n;
    size_t nbytes = (size_t)npos * sizeof(int64_t);
    int64_t *pos = T ? tg__arena_alloc(&T->arena, nbytes) : tg__alloc(nbytes);
    if (!pos) {
        T ? tg__arena_fail(&T->arena, fn) : tg__oom(fn);
        return tga__discard(T, mask);
    }
    int rc = tg__argmax_positions(fn, a, axis, pos);
    for (int k = axis + 1; axis >= 0 && k < a->ndim; k++)
        inner *= a->shape[k];
    for (int64_t i = 0; rc == TG_OK && i < npos; i++) {
        int64_t o = i / inner, r = i % inner; /* axis < 0: one position */
        tg__store(mask, axis < 0 ? pos[0] : (o * n + pos[i]) * inner + r, 1.0);
    }
    if (!T)
        tg__dealloc(pos, nbytes);
    return rc ? tga__discard(T, mask) : mask;
}

static void max_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, argmax_mask(T, n->in[0], -1), g);
}

static const tga_op op_max = {"max", max_rule, NULL};
tg_tensor *tg_ad_max(tg_tape *T, tg_tensor *a) { return reduce(T, "tg_ad_max", &op_max, 2, a, 0, false, true); }

static void max_axis_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    r->a = tg_ad_mul(T, argmax_mask(T, a, n->axis),
                     keepdims_grad(T, g, a, n->axis, n->keepdims));
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
