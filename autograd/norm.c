/* norm.c - batch norm, layer norm and dropout on the tape (nn_ops.h).
 *
 * Both norms are one op, normalise: xhat = (x - mean) * rstd over a set
 * of axes, rstd = 1 / sqrt(var + eps) with the biased variance, followed
 * by the affine part xhat * weight + bias as tg_ad_mul and tg_ad_add (their
 * rules sum the weight's and bias's gradients back over the broadcast
 * axes). normalise's forward is the mean and variance kernels of
 * reduce_more.c and one fused loop (tensor/norm.c); its rule is PyTorch's
 *
 *     dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
 *
 * written with tg_ad_* ops of xhat (the record's result) and of rstd, which
 * a recorded walk recomputes from x with tg_ad_var_axes, so a second order
 * differentiates through both; an unrecorded walk takes rstd as the
 * forward saved it (n->aux; the same kernels on the same x, so the same
 * bits), and its plain rule does the elementwise part in one loop.
 *
 * Why not simply compose mean_axes, sub, var_axes, add_scalar, sqrt, div
 * (correct, and second order for free)? Measured (tests/bench-style loop:
 * y = norm(x) * w + b, loss sum(y^2), tg_backward; thread CPU time, best
 * of 28 steps after the arena has grown, gcc -O3, a loaded 2-core box),
 * composite -> this file:
 *
 *     batch_norm train float32 (32, 64, 32, 32)  12.7 ms -> 10.0 ms
 *     layer_norm float32 (4096, 512)             11.9 ms ->  8.9 ms
 *
 * (forward alone about even, 4.4 -> 4.3 and 4.3 -> 4.0 ms: the gain is the
 * backward's one fused loop), and the composite's var_axes allocates a
 * heap temporary the size of x every step, which a training loop here
 * must not do; this file allocates on the tape's arena only.
 *
 * Batch norm's running statistics are updated in place (and their storage
 * version bumped) only after everything that can fail has succeeded, with
 * PyTorch's rule running = momentum * stat + (1 - momentum) * running, the
 * variance made unbiased by n / (n - 1). In eval the running statistics
 * are constants (no gradient flows to them, as in PyTorch), and the op is
 * PyTorch's x * alpha + beta, alpha = weight / sqrt(running_var + eps),
 * beta = bias - running_mean * alpha.
 *
 * Dropout is x * m with m a tape tensor of 0 and 1 / (1 - p) drawn from
 * the generator, so its gradient (g * m) and every higher one come from
 * tg_ad_mul. When it keeps everything (eval, p = 0) the result is a view
 * of x (on T, recorded as an identity; with T NULL a heap view to
 * tg_free).
 *
 * With T NULL the norms run on a private paused tape and hand back a heap
 * copy of the result, so nothing of theirs is left to free but that. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "nn_ops.h"

/* ---- checks --------------------------------------------------------------------- */

static int check_eps(const char *fn, double eps)
{
    if (!(eps > 0) || !isfinite(eps))
        return tg__fail(TG_ERR_VALUE, fn, "eps %g must be positive and finite", eps);
    return TG_OK;
}

/* t (not NULL) may join x in fn: on the tape, x's dtype, shape (n, shape). */
static int check_param(tg_tape *T, const char *fn, const char *what,
                       const tg_tensor *t, const tg_tensor *x, int n,
                       const int64_t *shape)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (tga__check_input(T, fn, t))
        return tg_last_error();
    if (t->dtype != x->dtype)
        return tg__fail(TG_ERR_DTYPE, fn, "%s is %s but x is %s (tg_ad_cast one of them)",
                        what, tg_dtype_name(t->dtype), tg_dtype_name(x->dtype));
    bool same = t->ndim == n;
    for (int k = 0; same && k < n; k++)
        same = t->shape[k] == shape[k];
    if (!same)
        return tg__fail(TG_ERR_SHAPE, fn, "%s has shape %s; x %s needs %s", what,
                        tg__shape_fmt(t->ndim, t->shape, b1, sizeof b1),
                        tg__shape_fmt(x->ndim, x->shape, b2, sizeof b2),
                        tg__shape_fmt(n, shape, b1 + 100, sizeof b1 - 100));
    return TG_OK;
}

static int check_x(tg_tape *T, const char *fn, const tg_tensor *x)
{
    if (tga__check_input(T, fn, x))
        return tg_last_error();
    if (!tg__is_float(x->dtype))
        return tg__need_float(fn, "x", x->dtype);
    return TG_OK;
}

/* ---- the private tape of T == NULL ----------------------------------------------- */

/* T, or a new paused tape (NULL: out of memory, reported under fn). */
static tg_tape *work_tape(tg_tape *T, const char *fn)
{
    if (T)
        return T;
    tg_tape *U = tg_tape_new();
    if (!U) {
        tg__oom(fn);
        return NULL;
    }
    tg_tape_pause(U, true);
    return U;
}

/* ---- normalise -------------------------------------------------------------------- */

/* The axes in mask, as a list; returns how many. */
static int mask_axes(unsigned mask, int ndim, int *axes)
{
    int n = 0;
    for (int k = 0; k < ndim; k++)
        if ((mask >> k) & 1u)
            axes[n++] = k;
    return n;
}

/* d xhat: rstd (g - mean(g) - xhat mean(g xhat)), the means over n->axes
 * kept as size 1. */
static void normalise_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *x = n->in[0], *y = n->out, *rstd = n->aux;
    int axes[TG_MAX_DIMS], na = mask_axes(n->axes, x->ndim, axes);
    if (T->recording) {
        /* rstd as a function of x, for the next derivative: r = 1 /
         * sqrt(var(x) + eps) recorded, added as r - detach(r), exactly 0,
         * to the saved value, so the values stay the forward's (and the
         * plain rule's) bits while the derivatives are r's. */
        tg_tensor *v = tg_ad_var_axes(T, x, na, axes, 0.0, true);
        tg_tensor *q = tg_ad_rdiv_scalar(T, tg_ad_sqrt(T, tg_ad_add_scalar(T, v, n->s)), 1.0);
        rstd = tg_ad_add(T, rstd, tg_ad_sub(T, q, tg_ad_detach(T, q)));
    }
    tg_tensor *gm = tg_ad_mean_axes(T, g, na, axes, true);
    tg_tensor *gym = tg_ad_mean_axes(T, tg_ad_mul(T, g, y), na, axes, true);
    r->a = tg_ad_mul(T, tg_ad_sub(T, tg_ad_sub(T, g, gm), tg_ad_mul(T, y, gym)), rstd);
}

/* The same values from the kernels: g * xhat, the two means, then one loop
 * for the elementwise part (tensor/norm.c). A g of other strides (a
 * broadcast seed) takes the rule. */
static bool normalise_plain(tg_tape *T, const char *fn, const tg__node *n, tg_tensor *g,
                            tga_grads *r)
{
    tg_tensor *y = n->out;
    if (!tg__contiguous(g) || g->dtype != y->dtype || y->numel == 0)
        return false; /* an empty one: the rule's ops handle it */
    int nd;
    int64_t shape[TG_MAX_DIMS];
    tg__mask_shape(y, n->axes, true, &nd, shape);
    tg_tensor *gy = tga__plain_new(T, fn, g);
    tg_tensor *gm = gy ? tga__new_like(T, fn, g->dtype, nd, shape) : NULL;
    tg_tensor *gym = gm ? tga__new_like(T, fn, g->dtype, nd, shape) : NULL;
    tg_tensor *dx = gym ? tga__plain_new(T, fn, g) : NULL;
    r->a = NULL;
    if (!dx)
        return true; /* the walk reports the allocation's error */
    tg__binary_kernel(TG_MUL, 0.0, gy, g, y);
    if (tg__reduce_mask(fn, TG__RED_MEAN, gm, g, n->axes, 0.0) ||
        tg__reduce_mask(fn, TG__RED_MEAN, gym, gy, n->axes, 0.0))
        return true;
    tg__norm_grad(dx, g, y, gm, gym, n->aux, n->p[0], n->p[1], n->p[2]);
    r->a = dx;
    return true;
}

static const tga_op op_normalise = {"normalise", normalise_rule, normalise_plain};

/* xhat of x over the axes in mask on U, the kept axes being [k0, k1); the
 * batch mean and biased variance (float64, one per kept position) in
 * *mean, *var. Recorded under fn as normalise when x requires a gradient.
 * Allocates on U only (a strided x is copied there first). */
static tg_tensor *normalise(tg_tape *U, const char *fn, tg_tensor *x, unsigned mask,
                            int k0, int k1, double eps, tg_tensor **mean,
                            tg_tensor **var)
{
    int nd;
    int64_t shape[TG_MAX_DIMS], A = 1, C = 1, B = 1;
    for (int k = 0; k < x->ndim; k++)
        *(k < k0 ? &A : k < k1 ? &C : &B) *= x->shape[k];
    tg__mask_shape(x, mask, true, &nd, shape);
    tg_tensor *xc = x;
    if (!tg__contiguous(x)) {
        xc = tga__new_like(U, fn, x->dtype, x->ndim, x->shape);
        if (!xc || tg__copy(fn, xc, x))
            return NULL;
    }
    tg_tensor *m64 = tga__new_like(U, fn, TG_FLOAT64, 1, &C);
    tg_tensor *v64 = m64 ? tga__new_like(U, fn, TG_FLOAT64, 1, &C) : NULL;
    tg_tensor *m = v64 ? tga__new_like(U, fn, x->dtype, nd, shape) : NULL;
    tg_tensor *rstd = m ? tga__new_like(U, fn, x->dtype, nd, shape) : NULL;
    tg_tensor *out = rstd ? tga__new_like(U, fn, x->dtype, x->ndim, x->shape) : NULL;
    if (!out)
        return NULL; /* all on U's arena */
    if (C > 0) { /* else there are no statistics (and no storage for them) */
        double *mv = tg__data(m64), *vv = tg__data(v64);
        tg__norm_stats(xc, A, C, B, mv, vv);
        for (int64_t c = 0; c < C; c++) {
            tg__store(m, m->offset + c, mv[c]);
            tg__store(rstd, rstd->offset + c, 1.0 / sqrt(vv[c] + eps));
        }
    }
    if (out->numel > 0)
        tg__norm_apply(out, xc, m, rstd, A, C, B);
    tg__node *n;
    out = tga__finish(U, fn, &op_normalise, out, x, NULL, &n);
    if (n) {
        n->axes = mask;
        n->s = eps;
        n->aux = rstd;
        n->p[0] = A;
        n->p[1] = C;
        n->p[2] = B;
    }
    *mean = m64;
    *var = v64;
    return out;
}

/* y * w + b, each of w and b applied when not NULL. */
static tg_tensor *affine(tg_tape *U, tg_tensor *y, tg_tensor *w, tg_tensor *b)
{
    if (w)
        y = tg_ad_mul(U, y, w);
    if (b)
        y = tg_ad_add(U, y, b);
    return y;
}

/* ---- batch norm ------------------------------------------------------------------- */

/* A parameter (C,) as (C, 1, 1) for x (N, C, H, W) (a recorded reshape), or
 * itself for x (N, C). */
static tg_tensor *per_channel(tg_tape *U, tg_tensor *t, const tg_tensor *x)
{
    if (!t || x->ndim == 2)
        return t;
    return tg_ad_reshape(U, t, 3, (const int64_t[]){x->shape[1], 1, 1});
}

/* A running statistic as a constant of U shaped like per_channel's: a
 * view no gradient flows through (PyTorch does not differentiate them). */
static tg_tensor *running_view(tg_tape *U, const char *fn, const tg_tensor *t,
                               const tg_tensor *x)
{
    tg_tensor v = *t;
    if (x->ndim == 4) {
        v.ndim = 3;
        v.shape[1] = v.shape[2] = 1;
        v.strides[1] = v.strides[2] = 0;
    }
    return tga__view(U, fn, &v);
}

/* running = momentum * stat * factor + (1 - momentum) * running, per
 * channel, in double (PyTorch's order); stat contiguous. */
static void update_running(tg_tensor *run, const tg_tensor *stat, double momentum,
                           double factor)
{
    for (int64_t c = 0; c < run->shape[0]; c++) {
        int64_t pos = run->offset + c * run->strides[0];
        double s = tg__load(stat, stat->offset + c) * factor;
        tg__store(run, pos, momentum * s + (1.0 - momentum) * tg__load(run, pos));
    }
    tg__touch(run);
}

static int batch_norm_check(tg_tape *T, const char *fn, tg_tensor *x, tg_tensor *rm,
                            tg_tensor *rv, tg_tensor *w, tg_tensor *b, bool training,
                            double momentum, double eps)
{
    char buf[TG__SHAPE_BUF];
    if (check_x(T, fn, x))
        return tg_last_error();
    if (x->ndim != 2 && x->ndim != 4)
        return tg__fail(TG_ERR_SHAPE, fn,
                        "x has shape %s; batch norm takes (N, C) or (N, C, H, W)",
                        tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
    const int64_t *c = &x->shape[1];
    if ((rm && check_param(T, fn, "running_mean", rm, x, 1, c)) ||
        (rv && check_param(T, fn, "running_var", rv, x, 1, c)) ||
        (w && check_param(T, fn, "weight", w, x, 1, c)) ||
        (b && check_param(T, fn, "bias", b, x, 1, c)))
        return tg_last_error();
    if (!rm != !rv)
        return tg__fail(TG_ERR_NULL, fn,
                        "running_%s is NULL but running_%s is not; give both or neither",
                        rm ? "var" : "mean", rm ? "mean" : "var");
    if (!training && !rm)
        return tg__fail(TG_ERR_NULL, fn,
                        "running_mean and running_var are needed when not training");
    if (check_eps(fn, eps))
        return TG_ERR_VALUE;
    if (!(momentum >= 0 && momentum <= 1))
        return tg__fail(TG_ERR_VALUE, fn, "momentum %g is outside [0, 1]", momentum);
    if (training && rm &&
        (tg__check_writable(fn, "running_mean", rm) ||
         tg__check_writable(fn, "running_var", rv)))
        return TG_ERR_VALUE;
    if (training && x->numel == x->shape[1] && x->numel > 0)
        return tg__fail(TG_ERR_SHAPE, fn,
                        "x %s has 1 value per channel; training needs more than 1 "
                        "(the batch variance of one value is not defined)",
                        tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
    return TG_OK;
}

tg_tensor *tg_ad_batch_norm(tg_tape *T, tg_tensor *x, tg_tensor *running_mean,
                            tg_tensor *running_var, tg_tensor *weight,
                            tg_tensor *bias, bool training, double momentum,
                            double eps)
{
    const char *fn = "tg_ad_batch_norm";
    if (!x || batch_norm_check(T, fn, x, running_mean, running_var, weight, bias,
                               training, momentum, eps))
        return NULL;
    tg_tape *U = work_tape(T, fn);
    if (!U)
        return NULL;
    tg_tensor *w = per_channel(U, weight, x), *b = per_channel(U, bias, x);
    tg_tensor *y = NULL, *mean = NULL, *var = NULL;
    if ((weight && !w) || (bias && !b)) {
        y = NULL;
    } else if (training) {
        unsigned mask = tg__all_axes(x) & ~2u; /* all but the channels */
        y = affine(U, normalise(U, fn, x, mask, 1, 2, eps, &mean, &var), w, b);
    } else { /* x alpha + beta, alpha = w / sqrt(rv + eps), beta = b - rm alpha */
        tg_tensor *rm = running_view(U, fn, running_mean, x);
        tg_tensor *rv = running_view(U, fn, running_var, x);
        tg_tensor *inv = tg_ad_rdiv_scalar(U, tg_ad_sqrt(U, tg_ad_add_scalar(U, rv, eps)),
                                           1.0);
        tg_tensor *alpha = w ? tg_ad_mul(U, inv, w) : inv;
        tg_tensor *ma = tg_ad_mul(U, rm, alpha);
        tg_tensor *beta = b ? tg_ad_sub(U, b, ma) : tg_ad_rsub_scalar(U, ma, 0.0);
        y = tg_ad_add(U, tg_ad_mul(U, x, alpha), beta);
    }
    tg_tensor *out = T || !y ? y : tg__clone(fn, y);
    /* Everything that can fail is done: now the buffers change (mean and
     * var are on U, which a private tape keeps until here). */
    int64_t per = x->shape[1] ? x->numel / x->shape[1] : 0; /* values per channel */
    if (out && training && running_mean && per > 0) {
        update_running(running_mean, mean, momentum, 1.0);
        update_running(running_var, var, momentum, (double)per / (double)(per - 1));
    }
    if (!T)
        tg_tape_free(U);
    return out;
}

/* ---- layer norm ------------------------------------------------------------------- */

tg_tensor *tg_ad_layer_norm(tg_tape *T, tg_tensor *x, int ndims, tg_tensor *weight,
                            tg_tensor *bias, double eps)
{
    const char *fn = "tg_ad_layer_norm";
    char buf[TG__SHAPE_BUF];
    if (!x || check_x(T, fn, x))
        return NULL;
    if (ndims < 1 || ndims > x->ndim) {
        tg__fail(TG_ERR_VALUE, fn, "ndims %d is outside [1, %d] for x of shape %s", ndims,
                 x->ndim, tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
        return NULL;
    }
    int k0 = x->ndim - ndims;
    const int64_t *last = x->shape + k0;
    if ((weight && check_param(T, fn, "weight", weight, x, ndims, last)) ||
        (bias && check_param(T, fn, "bias", bias, x, ndims, last)) || check_eps(fn, eps))
        return NULL;
    tg_tape *U = work_tape(T, fn);
    if (!U)
        return NULL;
    tg_tensor *mean, *var;
    unsigned mask = tg__all_axes(x) & ~((1u << k0) - 1u); /* the last ndims */
    tg_tensor *y = affine(U, normalise(U, fn, x, mask, 0, k0, eps, &mean, &var), weight,
                          bias);
    if (T)
        return y;
    tg_tensor *out = y ? tg__clone(fn, y) : NULL;
    tg_tape_free(U);
    return out;
}

/* ---- dropout ---------------------------------------------------------------------- */

/* What is kept whole: the gradient passes unchanged. */
static void identity_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    (void)T;
    (void)n;
    r->a = g;
}

static bool identity_plain(tg_tape *T, const char *fn, const tg__node *n, tg_tensor *g,
                           tga_grads *r)
{
    (void)fn;
    identity_rule(T, n, g, r);
    return true;
}

static const tga_op op_dropout_identity = {"dropout", identity_rule, identity_plain};

/* m = a mask of 1/(1-p) where a draw from rng is >= p, else 0 (rng NULL:
 * all 0, p = 1). A replay of a captured step draws a new mask from the
 * same generator, as the eager step would. */
static int draw_mask(tg_tensor *m, double p, tg_rng *rng)
{
    double scale = p < 1 ? 1.0 / (1.0 - p) : 0.0;
    for (int64_t i = 0; i < m->numel; i++) {
        double u = rng ? tg_rng_random(rng) : 0.0;
        if (u != u) /* the generator refused: not seeded */
            return tg__fail(TG_ERR_VALUE, "tg_ad_dropout",
                            "rng is not seeded (call tg_rng_seed on it first)");
        tg__store(m, m->offset + i, rng && u >= p ? scale : 0.0);
    }
    return TG_OK;
}

static int run_draw_mask(tg__step *e) { return draw_mask(&e->out, e->s, e->ptr); }

tg_tensor *tg_ad_dropout(tg_tape *T, tg_tensor *x, double p, bool training, tg_rng *rng)
{
    const char *fn = "tg_ad_dropout";
    if (!x || check_x(T, fn, x))
        return NULL;
    if (!(p >= 0 && p <= 1)) {
        tg__fail(TG_ERR_VALUE, fn, "p %g is outside [0, 1]", p);
        return NULL;
    }
    if (!training || p == 0) { /* x itself, as a view */
        tg_tensor *v = tga__view(T, fn, x);
        return v ? tga__finish(T, fn, &op_dropout_identity, v, x, NULL, NULL) : NULL;
    }
    bool draw = p < 1 && x->numel > 0; /* p = 1 drops everything, drawing nothing */
    if (draw && !rng) {
        tg__fail(TG_ERR_NULL, fn, "rng is NULL (training with 0 < p < 1 draws a mask)");
        return NULL;
    }
    tg_tensor *m = tga__new_like(T, fn, x->dtype, x->ndim, x->shape); /* C order */
    if (!m)
        return NULL;
    tg_rng saved;
    if (draw)
        memcpy(&saved, rng, sizeof saved);
    int rc;
    TG__TRACED_RC(rc, draw_mask(m, p, draw ? rng : NULL), .run = run_draw_mask,
                  .out = *m, .s = p, .ptr = draw ? rng : NULL);
    if (rc)
        return tga__discard(T, m);
    tg__touch(m);
    tg_tensor *out = tg_ad_mul(T, x, m);
    if (!T)
        tg_free(m);
    if (!out && draw) /* a failed call leaves the generator as it was */
        memcpy(rng, &saved, sizeof saved);
    return out;
}
