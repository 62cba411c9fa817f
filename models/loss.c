/* loss.c - PyTorch's losses (loss.h): regression (L1, MSE, Huber,
 * smooth L1), binary (BCE on probabilities and on logits), class (NLL,
 * cross-entropy with ignore_index, weights and label smoothing) and KL
 * divergence. Each forward is a composition of tape ops, so autograd
 * differentiates it to any order; the one op of its own is BCE on
 * probabilities, whose gradient PyTorch defines as (x - t) / max(x (1 - x),
 * eps) rather than as the derivative of its clamped logs. Constants a loss
 * needs (the gathered class indices, masks, per-element class weights) are
 * made on the tape's arena, so a training loop stops allocating after its
 * first step. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../autograd/internal.h"
#include "internal.h"
#include "loss.h"

/* ---- intermediates, and errors from the ops inside ------------------------ */

/* With T == NULL every op returns a caller-owned tensor: the loss keeps
 * them here and frees all but its result (the longest loss, cross-entropy
 * with label smoothing and weights, holds 21). On a tape they die at the
 * next reset. */
#define SCRATCH_MAX 32

typedef struct scratch {
    tg_tape *T;
    const char *fn;
    int n;
    tg_tensor *held[SCRATCH_MAX];
} scratch;

static tg_tensor *hold(scratch *s, tg_tensor *t)
{
    if (!s->T && t && s->n < SCRATCH_MAX)
        s->held[s->n++] = t;
    return t;
}

/* Frees every intermediate but result and returns it. The inputs were
 * checked before the first op, so a NULL result means an op inside failed
 * and set the error: its message gets the loss's name in front
 * ("tg_cross_entropy: tg_ad_mul: out of memory ..."). */
static tg_tensor *release(scratch *s, tg_tensor *result)
{
    for (int i = 0; i < s->n; i++)
        if (s->held[i] != result)
            tg_free(s->held[i]);
    s->n = 0;
    size_t len = strlen(s->fn);
    const char *msg = tg_last_message();
    if (!result && tg_last_error() &&
        !(strncmp(msg, s->fn, len) == 0 && msg[len] == ':')) {
        char inner[256];
        snprintf(inner, sizeof inner, "%s", tg_last_message());
        tg__fail(tg_last_error(), s->fn, "%s", inner);
    }
    return result;
}

/* A tensor for constants: on the tape's arena, or held (T NULL). */
static tg_tensor *constant(scratch *s, tg_dtype dt, int ndim, const int64_t *shape)
{
    return hold(s, tga__new_like(s->T, s->fn, dt, ndim, shape));
}

/* ---- checks ---------------------------------------------------------------- */

static int check_reduction(const char *fn, tg_reduction r, bool batchmean_ok)
{
    if ((unsigned)r > (unsigned)TG_REDUCE_BATCHMEAN)
        return tg__fail(TG_ERR_VALUE, fn,
                        "unknown reduction %d (TG_REDUCE_MEAN, TG_REDUCE_SUM or "
                        "TG_REDUCE_NONE)", (int)r);
    if (r == TG_REDUCE_BATCHMEAN && !batchmean_ok)
        return tg__fail(TG_ERR_VALUE, fn, "TG_REDUCE_BATCHMEAN is for tg_kl_div only");
    return TG_OK;
}

static int check_float(const char *fn, const char *what, const tg_tensor *t)
{
    if (t->dtype != TG_FLOAT32 && t->dtype != TG_FLOAT64)
        return tg__fail(TG_ERR_DTYPE, fn, "%s is %s; losses take float32 or float64",
                        what, tg_dtype_name(t->dtype));
    return TG_OK;
}

/* input and target: float, one dtype, one shape. */
static int check_pair(const char *fn, const tg_tensor *input, const tg_tensor *target)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    int rc = check_float(fn, "input", input);
    if (rc)
        return rc;
    if (target->dtype != input->dtype)
        return tg__fail(TG_ERR_DTYPE, fn, "input is %s but target is %s",
                        tg_dtype_name(input->dtype), tg_dtype_name(target->dtype));
    /* No broadcasting: (64,1) against (64,) would silently give (64,64). */
    if (!tg__same_shape(input, target))
        return tg__fail(TG_ERR_SHAPE, fn, "input %s and target %s differ in shape",
                        tg__shape_fmt(input->ndim, input->shape, b1, sizeof b1),
                        tg__shape_fmt(target->ndim, target->shape, b2, sizeof b2));
    return TG_OK;
}

/* An elementwise weight (may be NULL): input's dtype, and a shape that
 * broadcasts to input's without changing it. */
static int check_weight(const char *fn, const char *what, const tg_tensor *w,
                        const tg_tensor *input)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (!w)
        return TG_OK;
    if (w->dtype != input->dtype)
        return tg__fail(TG_ERR_DTYPE, fn, "input is %s but %s is %s",
                        tg_dtype_name(input->dtype), what, tg_dtype_name(w->dtype));
    bool ok = w->ndim <= input->ndim;
    for (int k = 1; ok && k <= w->ndim; k++) {
        int64_t ws = w->shape[w->ndim - k], is = input->shape[input->ndim - k];
        ok = ws == is || ws == 1;
    }
    if (!ok)
        return tg__fail(TG_ERR_SHAPE, fn, "%s %s does not broadcast to input %s", what,
                        tg__shape_fmt(w->ndim, w->shape, b1, sizeof b1),
                        tg__shape_fmt(input->ndim, input->shape, b2, sizeof b2));
    return TG_OK;
}

/* ---- reductions ---------------------------------------------------------- */

/* el reduced as r asks; divisor is BATCHMEAN's. */
static tg_tensor *reduce(scratch *s, tg_tensor *el, tg_reduction r, double divisor)
{
    switch (r) {
    case TG_REDUCE_NONE:
        return el;
    case TG_REDUCE_SUM:
        return hold(s, tg_ad_sum(s->T, el));
    case TG_REDUCE_MEAN:
        return hold(s, tg_ad_mean(s->T, el));
    case TG_REDUCE_BATCHMEAN:
        break;
    }
    return hold(s, tg_ad_div_scalar(s->T, hold(s, tg_ad_sum(s->T, el)), divisor));
}

/* ---- regression ---------------------------------------------------------------- */

/* The checks every elementwise loss starts with; false: return NULL. */
static bool pair_ok(const char *fn, const tg_tensor *input, const tg_tensor *target,
                    tg_reduction r, bool batchmean_ok)
{
    if (!input || !target)
        return false;
    return !check_reduction(fn, r, batchmean_ok) && !check_pair(fn, input, target);
}

tg_tensor *tg_l1_loss(tg_tape *T, tg_tensor *input, tg_tensor *target,
                      tg_reduction reduction)
{
    scratch s = {.T = T, .fn = "tg_l1_loss"};
    if (!pair_ok(s.fn, input, target, reduction, false))
        return NULL;
    tg_tensor *el = hold(&s, tg_ad_abs(T, hold(&s, tg_ad_sub(T, input, target))));
    return release(&s, reduce(&s, el, reduction, 0));
}

tg_tensor *tg_mse_loss(tg_tape *T, tg_tensor *input, tg_tensor *target,
                       tg_reduction reduction)
{
    scratch s = {.T = T, .fn = "tg_mse_loss"};
    if (!pair_ok(s.fn, input, target, reduction, false))
        return NULL;
    tg_tensor *d = hold(&s, tg_ad_sub(T, input, target));
    return release(&s, reduce(&s, hold(&s, tg_ad_mul(T, d, d)), reduction, 0));
}

/* c = d where |d| < k, else k sign(d): a clamp whose gradient passes only
 * inside the open interval, as PyTorch's second derivatives of Huber and
 * smooth L1 do ((|d| < k), 0 at |d| = k). The masks are read from d's
 * values, made already. */
static tg_tensor *clamp_open(scratch *s, tg_tensor *d, double k)
{
    if (!d)
        return NULL;
    tg_tensor *hi = constant(s, TG_BOOL, d->ndim, d->shape);
    tg_tensor *lo = constant(s, TG_BOOL, d->ndim, d->shape);
    if (!hi || !lo)
        return NULL;
    uint8_t *h = tg__data(hi), *l = tg__data(lo);
    for (int64_t i = 0; i < d->numel; i++) {
        double v = tg__load(d, tg__flat_pos(d, i));
        h[i] = (uint8_t)(v >= k);
        l[i] = (uint8_t)(v <= -k);
    }
    return hold(s, tg_ad_masked_fill(s->T, hold(s, tg_ad_masked_fill(s->T, d, hi, k)),
                                     lo, -k));
}

/* 0.5 c^2 / scale + outer (|d| - |c|) with c = clamp_open(d, k): 0.5 d^2 /
 * scale inside, 0.5 k^2 / scale + outer (|d| - k) outside. Huber is scale
 * 1, k = outer = delta; smooth L1 scale = k = beta, outer 1. Its
 * derivative c' c / scale + outer (sign d - sign(c) c') is d / scale
 * inside, outer sign(d) outside and on the bounds (where both forms
 * agree), 0 at 0, as PyTorch's. */
static tg_tensor *clamped_quadratic(scratch *s, tg_tensor *d, double k, double scale,
                                    double outer)
{
    tg_tape *T = s->T;
    tg_tensor *c = clamp_open(s, d, k);
    tg_tensor *q = hold(s, tg_ad_mul_scalar(T, hold(s, tg_ad_square(T, c)), 0.5));
    if (scale != 1.0)
        q = hold(s, tg_ad_div_scalar(T, q, scale));
    tg_tensor *lin = hold(s, tg_ad_sub(T, hold(s, tg_ad_abs(T, d)),
                                       hold(s, tg_ad_abs(T, c))));
    if (outer != 1.0)
        lin = hold(s, tg_ad_mul_scalar(T, lin, outer));
    return hold(s, tg_ad_add(T, q, lin));
}

tg_tensor *tg_huber_loss(tg_tape *T, tg_tensor *input, tg_tensor *target,
                         tg_reduction reduction, double delta)
{
    scratch s = {.T = T, .fn = "tg_huber_loss"};
    if (!pair_ok(s.fn, input, target, reduction, false))
        return NULL;
    if (!(delta > 0) || !isfinite(delta)) {
        tg__fail(TG_ERR_VALUE, s.fn, "delta is %g; it must be positive and finite",
                 delta);
        return NULL;
    }
    tg_tensor *d = hold(&s, tg_ad_sub(T, input, target));
    tg_tensor *el = clamped_quadratic(&s, d, delta, 1.0, delta);
    return release(&s, reduce(&s, el, reduction, 0));
}

tg_tensor *tg_smooth_l1_loss(tg_tape *T, tg_tensor *input, tg_tensor *target,
                             tg_reduction reduction, double beta)
{
    scratch s = {.T = T, .fn = "tg_smooth_l1_loss"};
    if (!pair_ok(s.fn, input, target, reduction, false))
        return NULL;
    if (!(beta >= 0) || !isfinite(beta)) {
        tg__fail(TG_ERR_VALUE, s.fn, "beta is %g; it must be >= 0 and finite", beta);
        return NULL;
    }
    tg_tensor *d = hold(&s, tg_ad_sub(T, input, target));
    /* beta 0 is the L1 loss (the quadratic part vanishes), with L1's
     * gradient 0 at d = 0 (PyTorch 1.13's smooth_l1_loss gives -1 there:
     * its x <= -beta test comes first; its l1_loss gives 0). */
    tg_tensor *el = beta == 0 ? hold(&s, tg_ad_abs(T, d))
                              : clamped_quadratic(&s, d, beta, beta, 1.0);
    return release(&s, reduce(&s, el, reduction, 0));
}

/* ---- binary cross-entropy on probabilities ------------------------------------- */

/* PyTorch's EPSILON of the BCE backward is the float 1e-12f. */
#define BCE_EPS ((double)1e-12f)

/* loss = (t - 1) max(log(1 - x), -100) - t max(log(x), -100), PyTorch's
 * forward term for term (log(1 - x), not log1p(-x), as PyTorch 1.13). */
static int bce_forward(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                       void *ctx)
{
    (void)T;
    (void)n;
    (void)ctx;
    const tg_tensor *x = in[0], *t = in[1];
    for (int64_t i = 0; i < out->numel; i++) {
        double xv = tg__load(x, tg__flat_pos(x, i)), tv = tg__load(t, tg__flat_pos(t, i));
        if (out->dtype == TG_FLOAT32) { /* in float, as PyTorch: 1 - 1e-10f is 1 */
            float xf = (float)xv, tf = (float)tv;
            float l1 = fmaxf(logf(xf), -100.0f), l0 = fmaxf(logf(1.0f - xf), -100.0f);
            tg__store(out, out->offset + i, (double)((tf - 1.0f) * l0 - tf * l1));
        } else {
            double l1 = fmax(log(xv), -100.0), l0 = fmax(log(1.0 - xv), -100.0);
            tg__store(out, out->offset + i, (tv - 1.0) * l0 - tv * l1);
        }
    }
    return TG_OK;
}

/* d/dx = (x - t) / max((1 - x) x, eps): PyTorch's rule, finite at 0 and 1.
 * d/dt = log(1 - x) - log(x), unclamped as PyTorch's. */
static int bce_backward(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                        tg_tensor *dout, tg_tensor **din, void *ctx)
{
    (void)n;
    (void)out;
    (void)ctx;
    tg_tensor *x = in[0], *t = in[1];
    if (tg_requires_grad_of(x)) {
        tg_tensor *q = tg_ad_mul(T, tg_ad_rsub_scalar(T, x, 1.0), x);
        din[0] = tg_ad_div(T, tg_ad_mul(T, dout, tg_ad_sub(T, x, t)),
                           tg_ad_clamp(T, q, BCE_EPS, HUGE_VAL));
        if (!din[0])
            return tg_last_error();
    }
    if (tg_requires_grad_of(t)) {
        tg_tensor *l = tg_ad_sub(T, tg_ad_log(T, tg_ad_rsub_scalar(T, x, 1.0)),
                                 tg_ad_log(T, x));
        din[1] = tg_ad_mul(T, dout, l);
        if (!din[1])
            return tg_last_error();
    }
    return TG_OK;
}

static const tg_custom_op bce_op = {"binary_cross_entropy", bce_forward, bce_backward,
                                    NULL, 0};

tg_tensor *tg_binary_cross_entropy(tg_tape *T, tg_tensor *input, tg_tensor *target,
                                   tg_tensor *weight, tg_reduction reduction)
{
    scratch s = {.T = T, .fn = "tg_binary_cross_entropy"};
    if (!pair_ok(s.fn, input, target, reduction, false) ||
        check_weight(s.fn, "weight", weight, input))
        return NULL;
    for (int64_t i = 0; i < input->numel; i++) {
        double v = tg__load(input, tg__flat_pos(input, i));
        if (!(v >= 0 && v <= 1)) { /* NaN too, as PyTorch */
            tg__fail(TG_ERR_VALUE, s.fn,
                     "input element %lld is %g; probabilities must be in [0, 1] "
                     "(for logits use tg_binary_cross_entropy_with_logits)",
                     (long long)i, v);
            return NULL;
        }
    }
    tg_tensor *el = hold(&s, tg_ad_custom(T, &bce_op, 2,
                                          (tg_tensor *const[]){input, target}, NULL));
    if (weight)
        el = hold(&s, tg_ad_mul(T, el, weight));
    return release(&s, reduce(&s, el, reduction, 0));
}

/* ---- binary cross-entropy on logits --------------------------------------------- */

tg_tensor *tg_binary_cross_entropy_with_logits(tg_tape *T, tg_tensor *input,
                                               tg_tensor *target, tg_tensor *weight,
                                               tg_tensor *pos_weight,
                                               tg_reduction reduction)
{
    scratch s = {.T = T, .fn = "tg_binary_cross_entropy_with_logits"};
    if (!pair_ok(s.fn, input, target, reduction, false) ||
        check_weight(s.fn, "weight", weight, input) ||
        check_weight(s.fn, "pos_weight", pos_weight, input))
        return NULL;
    /* -(p t log s(x) + (1 - t) log s(-x)). log_sigmoid is min(x, 0) -
     * log1p(exp(-|x|)): no exp overflows, and log s(-x) = log s(x) - x
     * keeps its full precision where s(x) rounds to 1. Its derivative
     * s(-x) makes the gradient p t (s(x) - 1) + (1 - t) s(x), exact at
     * x = 0 (the max(x, 0) - x t + log1p(exp(-|x|)) form, differentiated
     * by the tape, would give -t there: relu and abs have slope 0 at 0). */
    tg_tensor *pt = pos_weight ? hold(&s, tg_ad_mul(T, target, pos_weight)) : target;
    tg_tensor *a = hold(&s, tg_ad_mul(T, pt, hold(&s, tg_ad_log_sigmoid(T, input))));
    tg_tensor *ls_neg = hold(&s, tg_ad_log_sigmoid(T, hold(&s, tg_ad_neg(T, input))));
    tg_tensor *b = hold(&s, tg_ad_mul(T, hold(&s, tg_ad_rsub_scalar(T, target, 1.0)),
                                      ls_neg));
    tg_tensor *el = hold(&s, tg_ad_neg(T, hold(&s, tg_ad_add(T, a, b))));
    if (weight)
        el = hold(&s, tg_ad_mul(T, el, weight));
    return release(&s, reduce(&s, el, reduction, 0));
}

/* ---- class losses ------------------------------------------------------------------ */

/* What a class loss needs, checked and made before any op runs. */
typedef struct class_plan {
    int axis;                      /* the class axis of input: 0 or 1 */
    int64_t classes;
    int tnd;                       /* the target's (= a per-element loss's) shape */
    int64_t tshape[TG_MAX_DIMS];
    double total;                  /* sum of w[t] over kept elements (MEAN's divisor) */
} class_plan;

static int check_class(const char *fn, const tg_tensor *input, const tg_tensor *target,
                       const tg_class_loss_args *a, bool smoothing, class_plan *p)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF], b3[TG__SHAPE_BUF];
    int rc = check_reduction(fn, a->reduction, false);
    if (rc)
        return rc;
    double e = a->label_smoothing;
    if (smoothing && !(e >= 0 && e <= 1))
        return tg__fail(TG_ERR_VALUE, fn, "label_smoothing is %g; it must be in [0, 1]",
                        e);
    if (!smoothing && e != 0)
        return tg__fail(TG_ERR_VALUE, fn,
                        "label_smoothing is %g; only tg_cross_entropy smooths labels",
                        e);
    if ((rc = check_float(fn, "input", input)))
        return rc;
    if (input->ndim < 1)
        return tg__fail(TG_ERR_SHAPE, fn,
                        "input has shape (); it needs (classes,), (batch, classes) or "
                        "(batch, classes, d1, ...)");
    p->axis = input->ndim == 1 ? 0 : 1;
    p->classes = input->shape[p->axis];
    if (p->classes == 0)
        return tg__fail(TG_ERR_SHAPE, fn, "input %s has no classes (axis %d is empty)",
                        tg__shape_fmt(input->ndim, input->shape, b1, sizeof b1),
                        p->axis);
    if (!target)
        return tg__fail(TG_ERR_NULL, fn, "target is NULL");
    if (target->dtype != TG_INT32 && target->dtype != TG_INT64)
        return tg__fail(TG_ERR_DTYPE, fn,
                        "target is %s; class targets must be int32 or int64",
                        tg_dtype_name(target->dtype));
    p->tnd = 0;
    for (int k = 0; k < input->ndim; k++)
        if (k != p->axis)
            p->tshape[p->tnd++] = input->shape[k];
    bool same = target->ndim == p->tnd;
    for (int k = 0; same && k < p->tnd; k++)
        same = target->shape[k] == p->tshape[k];
    if (!same)
        return tg__fail(TG_ERR_SHAPE, fn, "input %s needs target %s, not %s",
                        tg__shape_fmt(input->ndim, input->shape, b1, sizeof b1),
                        tg__shape_fmt(p->tnd, p->tshape, b2, sizeof b2),
                        tg__shape_fmt(target->ndim, target->shape, b3, sizeof b3));
    const tg_tensor *w = a->weight;
    if (w && w->dtype != input->dtype)
        return tg__fail(TG_ERR_DTYPE, fn, "input is %s but weight is %s",
                        tg_dtype_name(input->dtype), tg_dtype_name(w->dtype));
    if (w && (w->ndim != 1 || w->shape[0] != p->classes))
        return tg__fail(TG_ERR_SHAPE, fn, "weight has shape %s; %lld classes need (%lld,)",
                        tg__shape_fmt(w->ndim, w->shape, b1, sizeof b1),
                        (long long)p->classes, (long long)p->classes);
    p->total = 0;
    for (int64_t i = 0; i < target->numel; i++) {
        int64_t c = tg__load_int(target, tg__flat_pos(target, i));
        if (c == a->ignore_index)
            continue;
        if (c < 0 || c >= p->classes)
            return tg__fail(TG_ERR_INDEX, fn,
                            "target element %lld is %lld, outside [0, %lld) and not "
                            "ignore_index (%lld)", (long long)i, (long long)c,
                            (long long)p->classes, (long long)a->ignore_index);
        p->total += w ? tg__load(w, w->offset + c * w->strides[0]) : 1.0;
    }
    return TG_OK;
}

/* The per-element NLL of log-probabilities logp, -w[t] logp[t] (0 where
 * ignored), of the target's shape; *ignored gets the mask of ignored
 * elements (bool, the target's shape) for the smoothing term. */
static tg_tensor *nll_elements(scratch *s, tg_tensor *logp, const tg_tensor *target,
                               const tg_class_loss_args *a, const class_plan *p,
                               tg_tensor **ignored)
{
    tg_tape *T = s->T;
    const tg_tensor *w = a->weight;
    /* The index gather reads: logp's shape with 1 on the class axis, the
     * target's elements in the same C order (0 where ignored, any class
     * would do: the mask below hides it). */
    int64_t ishape[TG_MAX_DIMS];
    for (int k = 0; k < logp->ndim; k++)
        ishape[k] = k == p->axis ? 1 : logp->shape[k];
    tg_tensor *index = constant(s, TG_INT64, logp->ndim, ishape);
    tg_tensor *mask = constant(s, TG_BOOL, p->tnd, p->tshape);
    tg_tensor *wsel = w ? constant(s, logp->dtype, p->tnd, p->tshape) : NULL;
    *ignored = mask;
    if (!index || !mask || (w && !wsel))
        return NULL;
    int64_t *ix = tg__data(index);
    uint8_t *m = tg__data(mask);
    for (int64_t i = 0; i < target->numel; i++) {
        int64_t c = tg__load_int(target, tg__flat_pos(target, i));
        bool ign = c == a->ignore_index;
        ix[i] = ign ? 0 : c;
        m[i] = (uint8_t)ign;
        if (wsel)
            tg__store(wsel, wsel->offset + i,
                      ign ? 0.0 : tg__load(w, w->offset + c * w->strides[0]));
    }
    tg_tensor *picked = hold(s, tg_ad_gather(T, logp, p->axis, index));
    picked = hold(s, tg_ad_reshape(T, picked, p->tnd, p->tshape));
    if (wsel)
        picked = hold(s, tg_ad_mul(T, picked, wsel));
    /* Filled after the product, so an ignored element is +0 and a -inf
     * log-probability it happens to gather gives no NaN (nor gradient). */
    return hold(s, tg_ad_masked_fill(T, hold(s, tg_ad_neg(T, picked)), mask, 0.0));
}

/* NONE, SUM, or MEAN as the sum over the plan's total weight. */
static tg_tensor *class_reduce(scratch *s, tg_tensor *el, tg_reduction r,
                               const class_plan *p)
{
    if (r != TG_REDUCE_MEAN)
        return reduce(s, el, r, 0);
    return hold(s, tg_ad_div_scalar(s->T, hold(s, tg_ad_sum(s->T, el)), p->total));
}

static const tg_class_loss_args default_args = TG_CLASS_LOSS_ARGS;

tg_tensor *tg_nll_loss(tg_tape *T, tg_tensor *input, const tg_tensor *target,
                       const tg_class_loss_args *args)
{
    scratch s = {.T = T, .fn = "tg_nll_loss"};
    const tg_class_loss_args *a = args ? args : &default_args;
    class_plan p;
    if (!input || check_class(s.fn, input, target, a, false, &p))
        return NULL;
    tg_tensor *ignored;
    tg_tensor *el = nll_elements(&s, input, target, a, &p, &ignored);
    return release(&s, class_reduce(&s, el, a->reduction, &p));
}

tg_tensor *tg_cross_entropy(tg_tape *T, tg_tensor *input, const tg_tensor *target,
                            const tg_class_loss_args *args)
{
    scratch s = {.T = T, .fn = "tg_cross_entropy"};
    const tg_class_loss_args *a = args ? args : &default_args;
    class_plan p;
    if (!input || check_class(s.fn, input, target, a, true, &p))
        return NULL;
    tg_tensor *logp = hold(&s, tg_ad_log_softmax(T, input, p.axis));
    if (!logp)
        return release(&s, NULL);
    tg_tensor *ignored;
    tg_tensor *nll = class_reduce(&s, nll_elements(&s, logp, target, a, &p, &ignored),
                                  a->reduction, &p);
    double e = a->label_smoothing;
    if (e == 0) /* PyTorch too takes the plain path then */
        return release(&s, nll);
    /* PyTorch's cross_entropy_loss_label_smoothing: smooth = -sum_c w[c]
     * logp[c] per element, 0 where ignored, reduced as the NLL (MEAN over
     * the same sum of w[t]); the loss (1 - e) nll + e / classes smooth. */
    tg_tensor *terms = logp;
    if (a->weight) {
        int64_t wshape[TG_MAX_DIMS];
        for (int k = 0; k < logp->ndim; k++)
            wshape[k] = k == p.axis ? p.classes : 1;
        tg_tensor *wb = constant(&s, logp->dtype, logp->ndim, wshape);
        if (!wb)
            return release(&s, NULL);
        const tg_tensor *w = a->weight;
        for (int64_t c = 0; c < p.classes; c++)
            tg__store(wb, wb->offset + c, tg__load(w, w->offset + c * w->strides[0]));
        terms = hold(&s, tg_ad_mul(T, logp, wb));
    }
    tg_tensor *sm = hold(&s, tg_ad_neg(T, hold(&s, tg_ad_sum_axis(T, terms, p.axis, false))));
    sm = hold(&s, tg_ad_masked_fill(T, sm, ignored, 0.0));
    sm = class_reduce(&s, sm, a->reduction, &p);
    tg_tensor *l = hold(&s, tg_ad_add(T, hold(&s, tg_ad_mul_scalar(T, nll, 1.0 - e)),
                                      hold(&s, tg_ad_mul_scalar(T, sm,
                                                                e / (double)p.classes))));
    return release(&s, l);
}

/* ---- KL divergence --------------------------------------------------------------------- */

tg_tensor *tg_kl_div(tg_tape *T, tg_tensor *input, tg_tensor *target,
                     tg_reduction reduction, bool log_target)
{
    scratch s = {.T = T, .fn = "tg_kl_div"};
    if (!pair_ok(s.fn, input, target, reduction, true))
        return NULL;
    double batch = input->ndim > 0 ? (double)input->shape[0] : 1.0;
    tg_tensor *el;
    if (log_target) { /* exp(t) (t - x) */
        el = hold(&s, tg_ad_mul(T, hold(&s, tg_ad_exp(T, target)),
                                hold(&s, tg_ad_sub(T, target, input))));
    } else {
        /* PyTorch's xlogy(t, t) - t x, xlogy(0, 0) = 0: t log(t') with t'
         * = t where t != 0 and 1 where it is 0, so the log is finite there
         * and its derivative log t + 1 (t > 0) has no 0 * inf. */
        tg_tensor *zero = constant(&s, TG_BOOL, target->ndim, target->shape);
        if (!zero)
            return release(&s, NULL);
        uint8_t *z = tg__data(zero);
        for (int64_t i = 0; i < target->numel; i++)
            z[i] = (uint8_t)(tg__load(target, tg__flat_pos(target, i)) == 0);
        tg_tensor *safe = hold(&s, tg_ad_masked_fill(T, target, zero, 1.0));
        tg_tensor *xlogy = hold(&s, tg_ad_mul(T, target, hold(&s, tg_ad_log(T, safe))));
        el = hold(&s, tg_ad_sub(T, xlogy, hold(&s, tg_ad_mul(T, target, input))));
    }
    return release(&s, reduce(&s, el, reduction, batch));
}
