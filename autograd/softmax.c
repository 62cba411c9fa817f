/* softmax.c - softmax, log softmax and logsumexp along one axis. The
 * forwards are one kernel each (tensor/softmax.c: shifted by the maximum,
 * so +-1e4 and -inf entries are safe); the rules are PyTorch's, written
 * with tg_ad_* ops of the result y, so second order works:
 *
 *     softmax      y (g - sum(g y))
 *     log_softmax  g - exp(y) sum(g)
 *     logsumexp    g exp(a - y)
 *
 * the sums along the axis, kept as size 1 so they broadcast back. A -inf
 * entry has y = 0 (log: -inf, exp(y) = 0), so its gradient is finite; a
 * line of nothing but -inf is NaN, gradient included, as in PyTorch. */
#include "internal.h"

/* kind 0 softmax, 1 log_softmax (result shaped like a), 2 logsumexp (the
 * axis reduced, kept with keepdims). */
static tg_tensor *softmax_op(tg_tape *T, const char *fn, const tga_op *op,
                             int kind, tg_tensor *a, int axis, bool keepdims)
{
    int ax;
    if (!a || tga__check_input(T, fn, a) || tg__fn_check(fn, a, -1, 0.0) ||
        tg__axis(fn, axis, a->ndim, &ax))
        return NULL;
    int nd = a->ndim;
    int64_t shape[TG_MAX_DIMS];
    if (kind == 2)
        tg__reduced_shape(a, ax, keepdims, &nd, shape);
    tg_tensor *out = tga__new_like(T, fn, a->dtype, nd, kind == 2 ? shape : a->shape);
    if (!out)
        return NULL;
    tg__softmax_kernel(kind, out, a, ax);
    tg__node *n;
    out = tga__finish(T, fn, op, out, a, NULL, &n);
    if (n) {
        n->axis = ax;
        n->keepdims = keepdims;
    }
    return out;
}

/* d softmax: y (g - sum(g y)) */
static void softmax_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *y = n->out;
    tg_tensor *s = tg_ad_sum_axis(T, tg_ad_mul(T, g, y), n->axis, true);
    r->a = tg_ad_mul(T, y, tg_ad_sub(T, g, s));
}

static const tga_op op_softmax = {"softmax", softmax_rule, NULL};

tg_tensor *tg_ad_softmax(tg_tape *T, tg_tensor *a, int axis)
{
    return softmax_op(T, "tg_ad_softmax", &op_softmax, 0, a, axis, false);
}

/* d log_softmax: g - exp(y) sum(g) */
static void log_softmax_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *s = tg_ad_sum_axis(T, g, n->axis, true);
    r->a = tg_ad_sub(T, g, tg_ad_mul(T, tg_ad_exp(T, n->out), s));
}

static const tga_op op_log_softmax = {"log_softmax", log_softmax_rule, NULL};

tg_tensor *tg_ad_log_softmax(tg_tape *T, tg_tensor *a, int axis)
{
    return softmax_op(T, "tg_ad_log_softmax", &op_log_softmax, 1, a, axis, false);
}

/* x with the reduced axis as size 1 (itself when it was kept). */
static tg_tensor *with_axis(tg_tape *T, tg_tensor *x, const tg__node *n)
{
    if (n->keepdims)
        return x;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    tg__reduced_shape(n->in[0], n->axis, true, &nd, shape);
    return tg_ad_reshape(T, x, nd, shape);
}

/* d logsumexp: g exp(a - y), broadcast along the axis */
static void logsumexp_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *y = with_axis(T, n->out, n);
    r->a = tg_ad_mul(T, with_axis(T, g, n), tg_ad_exp(T, tg_ad_sub(T, n->in[0], y)));
}

static const tga_op op_logsumexp = {"logsumexp", logsumexp_rule, NULL};

tg_tensor *tg_ad_logsumexp(tg_tape *T, tg_tensor *a, int axis, bool keepdims)
{
    return softmax_op(T, "tg_ad_logsumexp", &op_logsumexp, 2, a, axis, keepdims);
}
