/* unary.c - the elementwise functions of one tensor: neg exp log sqrt abs
 * tanh sigmoid relu, and sign, step and detach (not differentiable). Each
 * forward is followed by its rule; the plain rules are one fused loop g op
 * x, with x the input or the result. */
#include "internal.h"

static tg_tensor *unary(tg_tape *T, const char *fn, const tga_op *op,
                        tg_unop kop, tg_tensor *a)
{
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    if (!tg__is_float(a->dtype)) /* integers carry no gradient: not recorded */
        return tga__adopt(T, fn, tg__unary_new_any(fn, kop, a));
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (!out)
        return NULL;
    tg__unary_kernel(kop, out, a);
    return tga__finish(T, fn, op, out, a, NULL, NULL);
}

/* The plain rule of a function whose derivative is one kernel: g kop x, x
 * the input (of_result false) or the result. */
static bool plain_fused(tg_tape *T, const char *fn, const tg__node *n,
                        tg_tensor *g, tga_grads *r, int kop, double s,
                        bool of_result)
{
    r->a = tga__plain_op(T, fn, kop, s, g, of_result ? n->out : n->in[0]);
    return true;
}

/* d(-a) = -da */
static void neg_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    (void)n;
    r->a = tg_ad_neg(T, g);
}

static bool neg_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    (void)n;
    r->a = tga__plain_neg(T, fn, g);
    return true;
}

static const tga_op op_neg = {"neg", neg_rule, neg_plain};
tg_tensor *tg_ad_neg(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_neg", &op_neg, TG_NEG, a); }

/* d e^a = e^a da */
static void exp_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, n->out);
}

static bool exp_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    return plain_fused(T, fn, n, g, r, TG_MUL, 0.0, true);
}

static const tga_op op_exp = {"exp", exp_rule, exp_plain};
tg_tensor *tg_ad_exp(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_exp", &op_exp, TG_EXP, a); }

/* d log a = da / a */
static void log_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_div(T, g, n->in[0]);
}

static bool log_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    return plain_fused(T, fn, n, g, r, TG_DIV, 0.0, false);
}

static const tga_op op_log = {"log", log_rule, log_plain};
tg_tensor *tg_ad_log(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_log", &op_log, TG_LOG, a); }

/* d sqrt(a) = da / (2 sqrt(a)) */
static void sqrt_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_div(T, g, tg_ad_mul_scalar(T, n->out, 2.0));
}

static bool sqrt_plain(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tga_grads *r)
{
    return plain_fused(T, fn, n, g, r, TG__OP_DIV_SCALED, 2.0, true);
}

static const tga_op op_sqrt = {"sqrt", sqrt_rule, sqrt_plain};
tg_tensor *tg_ad_sqrt(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_sqrt", &op_sqrt, TG_SQRT, a); }

/* d|a| = sign(a) da, 0 at 0 */
static void abs_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, tg_ad_sign(T, n->in[0]));
}

static const tga_op op_abs = {"abs", abs_rule, NULL};
tg_tensor *tg_ad_abs(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_abs", &op_abs, TG_ABS, a); }

/* d tanh(a) = (1 - tanh^2) da */
static void tanh_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *y = n->out;
    r->a = tg_ad_mul(T, g, tg_ad_rsub_scalar(T, tg_ad_mul(T, y, y), 1.0));
}

static bool tanh_plain(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tga_grads *r)
{
    return plain_fused(T, fn, n, g, r, TG__OP_TANH_GRAD, 0.0, true);
}

static const tga_op op_tanh = {"tanh", tanh_rule, tanh_plain};
tg_tensor *tg_ad_tanh(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_tanh", &op_tanh, TG_TANH, a); }

/* d s(a) = s (1 - s) da */
static void sigmoid_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *y = n->out;
    r->a = tg_ad_mul(T, g, tg_ad_mul(T, y, tg_ad_rsub_scalar(T, y, 1.0)));
}

static bool sigmoid_plain(tg_tape *T, const char *fn, const tg__node *n,
                          tg_tensor *g, tga_grads *r)
{
    return plain_fused(T, fn, n, g, r, TG__OP_SIGMOID_GRAD, 0.0, true);
}

static const tga_op op_sigmoid = {"sigmoid", sigmoid_rule, sigmoid_plain};
tg_tensor *tg_ad_sigmoid(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_sigmoid", &op_sigmoid, TG_SIGMOID, a); }

/* d relu(a) = (a > 0) da */
static void relu_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, tg_ad_step(T, n->in[0]));
}

static bool relu_plain(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tga_grads *r)
{
    return plain_fused(T, fn, n, g, r, TG__OP_MUL_STEP, 0.0, false);
}

static const tga_op op_relu = {"relu", relu_rule, relu_plain};
tg_tensor *tg_ad_relu(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_relu", &op_relu, TG_RELU, a); }

/* ---- not differentiable: never recorded ------------------------------------ */

tg_tensor *tg_ad_sign(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_sign", NULL, TG_SIGN, a); }
tg_tensor *tg_ad_step(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_step", NULL, TG_STEP, a); }

tg_tensor *tg_ad_detach(tg_tape *T, tg_tensor *a)
{
    const char *fn = "tg_ad_detach";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (out && tg__copy(fn, out, a))
        return tga__discard(T, out);
    return out;
}
