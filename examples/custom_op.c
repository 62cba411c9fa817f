/* custom_op.c - an op of your own on the tape: the chapter's model
 * pred = w x^2 + b as one custom op, its forward a C loop, its backward
 * the chapter's hand-derived gradients written with tapegrad's ops, so
 * that second derivatives flow through it too. The worked example of
 * docs/autograd.md ("Custom ops"). */
#include <stdio.h>
#include "tapegrad.h"

/* The result has x's shape; w and b must be float64 scalars like x. */
static int quadratic_shape(int n, tg_tensor *const *in, void *ctx,
                           tg_dtype *dtype, int *ndim, int64_t *shape)
{
    (void)n, (void)ctx, (void)ndim, (void)shape; /* in[0]'s: kept */
    if (*dtype != TG_FLOAT64 || tg_dtype_of(in[1]) != TG_FLOAT64 ||
        tg_dtype_of(in[2]) != TG_FLOAT64)
        return TG_ERR_DTYPE;
    return tg_numel(in[1]) == 1 && tg_numel(in[2]) == 1 ? TG_OK : TG_ERR_SHAPE;
}

/* out = x^2 w + b in one loop. out is fresh and contiguous, so x is copied
 * into it first (whatever x's strides) and transformed in place. */
static int quadratic_forward(tg_tape *T, int n, tg_tensor *const *in,
                             tg_tensor *out, void *ctx)
{
    (void)T, (void)n, (void)ctx;
    double w, b;
    int rc = tg_item(in[1], &w);
    if (!rc)
        rc = tg_item(in[2], &b);
    if (!rc)
        rc = tg_copy(out, in[0]);
    if (rc)
        return rc;
    double *y = tg_data(out);
    for (int64_t i = 0; i < tg_numel(out); i++)
        y[i] = y[i] * y[i] * w + b;
    return TG_OK;
}

/* dx = g 2 w x, dw = sum(g x^2), db = sum(g), with tg_ad_* ops (recorded
 * when the walk is, so the Hessian below works), each summed back to its
 * input's shape, and only for the inputs that want one. */
static int quadratic_backward(tg_tape *T, int n, tg_tensor *const *in,
                              tg_tensor *out, tg_tensor *g, tg_tensor **din,
                              void *ctx)
{
    (void)n, (void)out, (void)ctx;
    tg_tensor *x = in[0], *w = in[1], *b = in[2];
    if (tg_requires_grad_of(x) &&
        !(din[0] = tg_ad_mul(T, g, tg_ad_mul_scalar(T, tg_ad_mul(T, x, w), 2.0))))
        return tg_last_error();
    if (tg_requires_grad_of(w) &&
        !(din[1] = tg_ad_sum_to(T, tg_ad_mul(T, g, tg_ad_mul(T, x, x)),
                                tg_ndim(w), tg_shape(w))))
        return tg_last_error();
    if (tg_requires_grad_of(b) &&
        !(din[2] = tg_ad_sum_to(T, g, tg_ndim(b), tg_shape(b))))
        return tg_last_error();
    return TG_OK;
}

static const tg_custom_op quadratic = {
    .name = "quadratic",
    .forward = quadratic_forward,
    .backward = quadratic_backward,
    .shape = quadratic_shape,
};

/* L = 0.5 sum (pred - y)^2 */
static tg_tensor *half_sse(tg_tape *T, tg_tensor *pred, tg_tensor *y)
{
    tg_tensor *err = tg_ad_sub(T, pred, y);
    return tg_ad_mul_scalar(T, tg_ad_sum(T, tg_ad_mul(T, err, err)), 0.5);
}

static double item(const tg_tensor *t)
{
    double v = 0;
    tg_item(t, &v);
    return v;
}

int main(void)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *x = tg_linspace(TG_FLOAT64, -1, 1, 100);        /* (100,) */
    tg_tensor *y = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(100));
    tg_tensor *w = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.5);      /* (1,) */
    tg_tensor *b = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.0);
    tg_requires_grad(w, true);
    tg_requires_grad(b, true);
    tg_tape *T = tg_tape_new();

    tg_tensor *wb[2] = {w, b}, *g[2], *h0[2], *h1[2], *ref[2];
    tg_tensor *pred = tg_ad_custom(T, &quadratic, 3, (tg_tensor *[]){x, w, b}, NULL);
    tg_tensor *L = half_sse(T, pred, y);
    /* The same model from built-in ops, for comparison. */
    tg_tensor *L2 = half_sse(T, tg_ad_add(T, tg_ad_mul(T, tg_ad_mul(T, x, x), w), b), y);
    if (!L || !L2 || tg_ad_grad(T, L, NULL, 2, wb, g, true) ||  /* recorded */
        tg_ad_grad(T, g[0], NULL, 2, wb, h0, false) ||         /* Hessian rows */
        tg_ad_grad(T, g[1], NULL, 2, wb, h1, false) ||
        tg_ad_grad(T, L2, NULL, 2, wb, ref, false)) {
        fprintf(stderr, "custom_op: %s\n", tg_last_message());
        return 1;
    }
    printf("loss           %.17g\n", item(L));
    printf("dL/dw, dL/db   %.17g %.17g\n", item(g[0]), item(g[1]));
    printf("built-in ops   %.17g %.17g\n", item(ref[0]), item(ref[1]));
    printf("Hessian        [[%.17g, %.17g], [%.17g, %.17g]]\n", item(h0[0]),
           item(h0[1]), item(h1[0]), item(h1[1]));

    /* Messages name the op: write into w after it was recorded. */
    tg_fill(w, 0.25);
    if (tg_backward(T, L))
        printf("%s\n", tg_last_message());

    tg_tape_free(T);
    tg_free(x), tg_free(y), tg_free(w), tg_free(b);
    return 0;
}
