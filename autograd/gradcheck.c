/* gradcheck.c - tg_gradcheck: tape gradients against central finite
 * differences, element by element, with a non-scalar output reduced by
 * fixed pseudo-random weights so the whole Jacobian is exercised. */
#include <math.h>
#include <string.h>

#include "../tensor/random.h"
#include "internal.h"

/* ---- the gradient checker ------------------------------------------------------------ */

/* sum(out * w) in double, w the fixed weights (NULL: out has one element). */
static double weighted_sum(const tg_tensor *out, const double *w)
{
    double acc = 0;
    int64_t idx[TG_MAX_DIMS] = {0};
    int64_t pos = out->offset;
    for (int64_t i = 0; i < out->numel; i++) {
        acc += tg__load(out, pos) * (w ? w[i] : 1.0);
        for (int k = out->ndim - 1; k >= 0; k--) {
            pos += out->strides[k];
            if (++idx[k] < out->shape[k])
                break;
            pos -= out->strides[k] * out->shape[k];
            idx[k] = 0;
        }
    }
    return acc;
}

typedef struct checker {
    tg_ad_fn f;
    void *ctx;
    tg_tensor *const *inputs;
    tg_tape *T;
    double *w;    /* weights of the output elements, NULL for one element */
    int64_t wn;   /* number of output elements */
} checker;

static int eval(checker *c, double *value)
{
    tg_tape_reset(c->T);
    tg_tensor *out = c->f(c->T, c->inputs, c->ctx);
    if (!out)
        return tg_last_error() ? tg_last_error() : TG_ERR_VALUE;
    if (out->numel != c->wn)
        return tg__fail(TG_ERR_SHAPE, "tg_gradcheck", "f's output changed size");
    *value = weighted_sum(out, c->w);
    return TG_OK;
}

/* The analytic gradients of sum(f * w), copied into an (one double per
 * element of every input that requires a gradient). */
static int analytic(checker *c, int n, double *an)
{
    const char *fn = "tg_gradcheck";
    tg_tape_reset(c->T);
    tg_tensor *out = c->f(c->T, c->inputs, c->ctx);
    if (!out)
        return tg_last_error() ? tg_last_error() : TG_ERR_VALUE;
    c->wn = out->numel;
    tg_tensor *root = out;
    if (out->numel != 1) {
        /* An empty output has no weights: its gradient is zero. */
        c->w = out->numel ? tg__alloc((size_t)out->numel * sizeof(double)) : NULL;
        tg_tensor *W = tga__new(c->T, fn, out->dtype, out->ndim, out->shape);
        if (out->numel && !c->w)
            return tg__oom(fn);
        if (!W)
            return tg_last_error();
        tg_rng rng;
        tg_rng_seed(&rng, 20261129u);
        for (int64_t i = 0; i < out->numel; i++) {
            c->w[i] = tg_rng_uniform(&rng, 0.5, 1.5);
            tg__store(W, i, c->w[i]);
        }
        root = tg_ad_sum(c->T, tg_ad_mul(c->T, out, W));
        if (!root)
            return tg_last_error();
    }
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        tg_tensor *x = c->inputs[i];
        if (!x->requires_grad)
            continue;
        tg_tensor *g;
        int rc = tg_ad_grad(c->T, root, NULL, 1, &c->inputs[i], &g, false);
        if (rc)
            return rc;
        for (int64_t j = 0; j < g->numel; j++)
            an[off + j] = tg__load(g, tg__flat_pos(g, j));
        off += x->numel;
    }
    return TG_OK;
}

int tg_gradcheck(tg_ad_fn f, void *ctx, int n, tg_tensor *const *inputs,
                 double eps, double atol, double rtol, tg_gradcheck_report *rep)
{
    const char *fn = "tg_gradcheck";
    if (!f || !rep || (n > 0 && !inputs))
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", !f ? "f" : !rep ? "rep" : "inputs");
    if (n <= 0 || !(eps > 0) || !(atol >= 0) || !(rtol >= 0))
        return tg__fail(TG_ERR_VALUE, fn, "needs n > 0, eps > 0, atol >= 0, rtol >= 0");
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!inputs[i])
            return tg__fail(TG_ERR_NULL, fn, "input %d is NULL", i);
        if (inputs[i]->dtype != TG_FLOAT64)
            return tg__fail(TG_ERR_DTYPE, fn,
                            "input %d is %s; finite differences need float64", i,
                            tg_dtype_name(inputs[i]->dtype));
        if (inputs[i]->flags & TG__ARENA)
            return tg__fail(TG_ERR_TAPE, fn, "input %d is not a caller-owned leaf", i);
        if (inputs[i]->requires_grad)
            total += inputs[i]->numel;
    }
    memset(rep, 0, sizeof *rep);
    rep->ok = true;
    rep->input = -1;
    rep->index = -1;
    checker c = {f, ctx, inputs, tg_tape_new(), NULL, 0};
    double *an = total ? tg__alloc((size_t)total * sizeof(double)) : NULL;
    int rc = (!c.T || (total && !an)) ? tg__oom(fn) : analytic(&c, n, an);
    int64_t off = 0;
    for (int i = 0; i < n && rc == TG_OK; i++) {
        tg_tensor *x = inputs[i];
        if (!x->requires_grad)
            continue;
        for (int64_t j = 0; j < x->numel && rc == TG_OK; j++) {
            int64_t pos = tg__flat_pos(x, j);
            double orig = tg__load(x, pos), fp = 0, fm = 0;
            tg__store(x, pos, orig + eps);
            rc = eval(&c, &fp);
            tg__store(x, pos, orig - eps);
            if (rc == TG_OK)
                rc = eval(&c, &fm);
            tg__store(x, pos, orig);
            double num = (fp - fm) / (2 * eps), a = an[off + j];
            double err = fabs(a - num), tol = atol + rtol * fabs(num);
            double ratio = tol > 0 ? err / tol : (err > 0 ? (double)INFINITY : 0.0);
            if (isnan(err))
                ratio = (double)INFINITY;
            rep->checked++;
            if (err > rep->max_abs_err || isnan(err))
                rep->max_abs_err = err;
            if (rep->input < 0 || ratio > rep->worst_ratio) {
                rep->worst_ratio = ratio;
                rep->input = i;
                rep->index = j;
                rep->analytic = a;
                rep->numeric = num;
            }
            if (!(ratio <= 1.0))
                rep->ok = false;
        }
        off += x->numel;
    }
    tg__dealloc(an, (size_t)total * sizeof(double));
    tg__dealloc(c.w, (size_t)c.wn * sizeof(double));
    tg_tape_free(c.T);
    return rc;
}
