/* test_custom.c - custom ops (tg_ad_custom): forwards and backwards written
 * by the user, recorded on the tape. Their gradients against central
 * finite differences (float64, broadcast and non-contiguous inputs) and
 * against the same functions built from tape ops; second order through
 * them (Hessian-vector products against finite differences of gradients);
 * the backward called recording or paused as the walk is; one to four
 * inputs; every way a descriptor, a forward or a backward can be wrong;
 * allocation failures over a step; no allocator call in a steady loop; the
 * worked example of docs/autograd.md, run. The fixture checks leaks. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE

/* What the callbacks saw, for the tests to look at. */
static int fwd_calls, bwd_calls;
static bool fwd_recording, bwd_recording;
static tg_tape *fwd_tape;
static bool asked[TG_CUSTOM_MAX_INPUTS]; /* inputs the backward was asked for */

static void seen_reset(void)
{
    fwd_calls = bwd_calls = 0;
    fwd_recording = bwd_recording = true;
    fwd_tape = NULL;
    memset(asked, 0, sizeof asked);
}

static void seen_backward(tg_tape *T, int n, tg_tensor *const *in)
{
    bwd_calls++;
    bwd_recording = tg_tape_is_recording(T);
    for (int i = 0; i < n; i++)
        asked[i] = tg_requires_grad_of(in[i]);
}

/* g summed back to x's shape (the adjoint of broadcasting x). */
static tg_tensor *sum_back(tg_tape *T, tg_tensor *g, const tg_tensor *x)
{
    if (!g)
        return NULL;
    return tg_ad_sum_to(T, g, tg_ndim(x), tg_shape(x));
}

/* ---- the ops ------------------------------------------------------------- */

/* softplus(x) = max(x, 0) + log1p(e^-|x|), one loop; d = sigmoid(x). */
static int softplus_fwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                        void *ctx)
{
    (void)n;
    (void)ctx;
    fwd_calls++;
    fwd_tape = T;
    fwd_recording = tg_tape_is_recording(T);
    int rc = tg_copy(out, in[0]);
    if (rc)
        return rc;
    int64_t count = tg_numel(out);
    if (tg_dtype_of(out) == F64) {
        double *y = tg_data(out);
        for (int64_t i = 0; i < count; i++)
            y[i] = fmax(y[i], 0.0) + log1p(exp(-fabs(y[i])));
    } else {
        float *y = tg_data(out);
        for (int64_t i = 0; i < count; i++)
            y[i] = fmaxf(y[i], 0.0f) + log1pf(expf(-fabsf(y[i])));
    }
    return TG_OK;
}

static int softplus_bwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                        tg_tensor *dout, tg_tensor **din, void *ctx)
{
    (void)out;
    (void)ctx;
    seen_backward(T, n, in);
    din[0] = tg_ad_mul(T, dout, tg_ad_sigmoid(T, in[0]));
    return din[0] ? TG_OK : tg_last_error();
}

static const tg_custom_op op_softplus = {"softplus", softplus_fwd, softplus_bwd,
                                         NULL, 0};

/* The same function from tape ops: relu(x) + log(1 + e^-|x|). */
static tg_tensor *softplus_builtin(tg_tape *T, tg_tensor *x)
{
    tg_tensor *e = tg_ad_exp(T, tg_ad_neg(T, tg_ad_abs(T, x)));
    return tg_ad_add(T, tg_ad_relu(T, x), tg_ad_log(T, tg_ad_add_scalar(T, e, 1.0)));
}

static tg_tensor *softplus(tg_tape *T, tg_tensor *x)
{
    return tg_ad_custom(T, &op_softplus, 1, &x, NULL);
}

/* An identity whose backward clips the gradient to [-c, c], c copied onto
 * the tape with the record: clip(g) = relu(g + c) - relu(g - c) - c. */
static int clip_fwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                    void *ctx)
{
    (void)T;
    (void)n;
    (void)ctx;
    return tg_copy(out, in[0]);
}

static int clip_bwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                    tg_tensor *dout, tg_tensor **din, void *ctx)
{
    (void)out;
    seen_backward(T, n, in);
    double c = *(const double *)ctx;
    tg_tensor *hi = tg_ad_relu(T, tg_ad_add_scalar(T, dout, c));
    tg_tensor *lo = tg_ad_relu(T, tg_ad_sub_scalar(T, dout, c));
    din[0] = tg_ad_sub_scalar(T, tg_ad_sub(T, hi, lo), c);
    return din[0] ? TG_OK : tg_last_error();
}

static const tg_custom_op op_clip = {"clip_grad", clip_fwd, clip_bwd, NULL,
                                     sizeof(double)};

static tg_tensor *clip(tg_tape *T, tg_tensor *x, double c)
{
    return tg_ad_custom(T, &op_clip, 1, &x, &c); /* c dies here: copied */
}

/* relu with the mask saved by the forward in its context copy (PyTorch's
 * ctx.save_for_backward): the copy starts zeroed, ctx being NULL. */
typedef struct relu_saved_ctx {
    tg_tensor *mask; /* step(x), a scratch tensor on the tape */
    int forwards;
} relu_saved_ctx;

static int relu_saved_fwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                          void *ctx)
{
    (void)n;
    relu_saved_ctx *c = ctx;
    if (c->mask || c->forwards) /* not zeroed */
        return TG_ERR_VALUE;
    c->forwards++;
    c->mask = tg_ad_step(T, in[0]);
    if (!c->mask)
        return tg_last_error();
    return tg_unary_into(TG_RELU, out, in[0]);
}

static int relu_saved_bwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                          tg_tensor *dout, tg_tensor **din, void *ctx)
{
    (void)out;
    seen_backward(T, n, in);
    const relu_saved_ctx *c = ctx;
    if (c->forwards != 1)
        return TG_ERR_VALUE;
    din[0] = tg_ad_mul(T, dout, c->mask);
    return din[0] ? TG_OK : tg_last_error();
}

static const tg_custom_op op_relu_saved = {"relu_saved", relu_saved_fwd,
                                           relu_saved_bwd, NULL,
                                           sizeof(relu_saved_ctx)};

/* fma(a, b, c) = a b + c, broadcast; each gradient summed back. */
static int fma_fwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                   void *ctx)
{
    (void)T;
    (void)n;
    (void)ctx;
    int rc = tg_binary_into(TG_MUL, out, in[0], in[1]);
    return rc ? rc : tg_axpy_into(out, 1.0, in[2]);
}

static int fma_bwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                   tg_tensor *dout, tg_tensor **din, void *ctx)
{
    (void)out;
    (void)ctx;
    seen_backward(T, n, in);
    if (asked[0] && !(din[0] = sum_back(T, tg_ad_mul(T, dout, in[1]), in[0])))
        return tg_last_error();
    if (asked[1] && !(din[1] = sum_back(T, tg_ad_mul(T, dout, in[0]), in[1])))
        return tg_last_error();
    if (asked[2] && !(din[2] = sum_back(T, dout, in[2])))
        return tg_last_error();
    return TG_OK;
}

static const tg_custom_op op_fma = {"fma", fma_fwd, fma_bwd, NULL, 0};

static tg_tensor *fma3(tg_tape *T, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    return tg_ad_custom(T, &op_fma, 3, (tg_tensor *[]){a, b, c}, NULL);
}

/* muladd(a, b, c, d) = a b + c d, the product c d made as scratch on T. */
static int muladd_fwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                      void *ctx)
{
    (void)n;
    (void)ctx;
    fwd_tape = T;
    fwd_recording = tg_tape_is_recording(T);
    tg_tensor *cd = tg_ad_mul(T, in[2], in[3]);
    if (!cd)
        return tg_last_error();
    int rc = tg_binary_into(TG_MUL, out, in[0], in[1]);
    return rc ? rc : tg_axpy_into(out, 1.0, cd);
}

static int muladd_bwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                      tg_tensor *dout, tg_tensor **din, void *ctx)
{
    (void)out;
    (void)ctx;
    seen_backward(T, n, in);
    for (int i = 0; i < 4; i++) {
        if (!asked[i])
            continue;
        tg_tensor *other = in[i ^ 1]; /* a <-> b, c <-> d */
        din[i] = sum_back(T, tg_ad_mul(T, dout, other), in[i]);
        if (!din[i])
            return tg_last_error();
    }
    return TG_OK;
}

static const tg_custom_op op_muladd = {"muladd", muladd_fwd, muladd_bwd, NULL, 0};

static tg_tensor *muladd(tg_tape *T, tg_tensor *a, tg_tensor *b, tg_tensor *c,
                         tg_tensor *d)
{
    return tg_ad_custom(T, &op_muladd, 4, (tg_tensor *[]){a, b, c, d}, NULL);
}

/* rowdot(a, b)[i] = sum_k a[i,k] b[i,k]: (m,k), (m,k) -> (m,), declared by
 * a shape callback; the forward reduces on scratch. */
static int rowdot_shape(int n, tg_tensor *const *in, void *ctx, tg_dtype *dtype,
                        int *ndim, int64_t *shape)
{
    (void)n;
    (void)ctx;
    (void)dtype;
    (void)shape;
    if (tg_ndim(in[0]) != 2 || tg_ndim(in[1]) != 2 ||
        tg_shape(in[0])[0] != tg_shape(in[1])[0] ||
        tg_shape(in[0])[1] != tg_shape(in[1])[1])
        return TG_ERR_SHAPE;
    *ndim = 1; /* shape[0] already holds the rows */
    return TG_OK;
}

static int rowdot_fwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                      void *ctx)
{
    (void)n;
    (void)ctx;
    tg_tensor *r = tg_ad_sum_axis(T, tg_ad_mul(T, in[0], in[1]), 1, false);
    return r ? tg_copy(out, r) : tg_last_error();
}

static int rowdot_bwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                      tg_tensor *dout, tg_tensor **din, void *ctx)
{
    (void)out;
    (void)ctx;
    seen_backward(T, n, in);
    tg_tensor *gcol = tg_ad_reshape(T, dout, 2, (const int64_t[]){tg_numel(dout), 1});
    for (int i = 0; i < 2; i++)
        if (asked[i] && !(din[i] = tg_ad_mul(T, gcol, in[1 - i])))
            return tg_last_error();
    return TG_OK;
}

static const tg_custom_op op_rowdot = {"rowdot", rowdot_fwd, rowdot_bwd,
                                       rowdot_shape, 0};

/* ---- helpers ----------------------------------------------------------------- */

static tg_tensor *leaf(tg_rng *rng, double lo, double hi, int nd, const int64_t *shape)
{
    tg_tensor *t = tg_uniform(rng, F64, lo, hi, nd, shape);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_requires_grad(t, true), TG_OK);
    return t;
}

/* A non-contiguous (rows, cols) leaf: a transposed view of a (cols, rows)
 * base, which is released (the view keeps the storage). */
static tg_tensor *leaf_transposed(tg_rng *rng, double lo, double hi, int64_t rows,
                                  int64_t cols)
{
    tg_tensor *base = tg_uniform(rng, F64, lo, hi, SH(cols, rows));
    tg_tensor *t = tg_transpose(base, 0, 1);
    tg_free(base);
    ck_assert_ptr_nonnull(t);
    ck_assert(!tg_is_contiguous(t));
    ck_assert_int_eq(tg_requires_grad(t, true), TG_OK);
    return t;
}

static void assert_gradcheck(tg_ad_fn f, int n, tg_tensor *const *in, const char *what)
{
    tg_gradcheck_report rep;
    ck_assert_msg(tg_gradcheck(f, NULL, n, in, 1e-6, 1e-8, 1e-6, &rep) == TG_OK,
                  "%s: %s", what, tg_last_message());
    ck_assert_msg(rep.ok, "%s: input %d element %lld: analytic %.17g, numeric %.17g",
                  what, rep.input, (long long)rep.index, rep.analytic, rep.numeric);
    ck_assert_int_gt(rep.checked, 0);
}

static void assert_close(const tg_tensor *got, const tg_tensor *want, double tol,
                         const char *what)
{
    ck_assert_int_eq(tg_numel(got), tg_numel(want));
    for (int64_t i = 0; i < tg_numel(got); i++) {
        double g = tgt_at(got, i), w = tgt_at(want, i);
        ck_assert_msg(fabs(g - w) <= tol * (1 + fabs(w)),
                      "%s [%lld]: %.17g, want %.17g", what, (long long)i, g, w);
    }
}

/* ---- gradients: finite differences, built-in ops ------------------------------ */

static tg_tensor *f_softplus(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    return softplus(T, in[0]);
}

/* softplus of a broadcast view, times a non-contiguous input */
static tg_tensor *f_softplus_bcast(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    tg_tensor *e = tg_ad_expand(T, in[1], SH(3, 4)); /* (4,) -> (3,4), stride 0 */
    return tg_ad_mul(T, softplus(T, e), in[0]);
}

START_TEST(test_gradcheck_softplus)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_tensor *in[2] = {leaf_transposed(&rng, -3, 3, 3, 4), leaf(&rng, -3, 3, SH(4))};
    assert_gradcheck(f_softplus, 1, in, "softplus, transposed input");
    assert_gradcheck(f_softplus_bcast, 2, in, "softplus of a broadcast view");
    tg_free(in[0]);
    tg_free(in[1]);
}
END_TEST

static tg_tensor *f_fma(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    return fma3(T, in[0], in[1], in[2]);
}

static tg_tensor *f_muladd(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    return muladd(T, in[0], in[1], in[2], in[3]);
}

static tg_tensor *f_rowdot(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    return tg_ad_custom(T, &op_rowdot, 2, in, NULL);
}

START_TEST(test_gradcheck_three_and_four_inputs)
{
    tg_rng rng;
    tg_rng_seed(&rng, 2);
    /* (3,4) transposed, (4,) and (3,1) broadcast inside the op */
    tg_tensor *in[4] = {leaf_transposed(&rng, -2, 2, 3, 4), leaf(&rng, -2, 2, SH(4)),
                        leaf(&rng, -2, 2, SH(3, 1)), leaf(&rng, -2, 2, SH(1, 4))};
    assert_gradcheck(f_fma, 3, in, "fma, broadcast and transposed");
    assert_gradcheck(f_muladd, 4, in, "muladd, broadcast and transposed");
    /* an input that needs no gradient is neither checked nor asked for */
    tg_requires_grad(in[1], false);
    seen_reset();
    assert_gradcheck(f_muladd, 4, in, "muladd, input 2 constant");
    ck_assert(asked[0] && !asked[1] && asked[2] && asked[3]);
    for (int i = 0; i < 4; i++)
        tg_free(in[i]);
}
END_TEST

START_TEST(test_gradcheck_shape_callback)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_tensor *in[2] = {leaf_transposed(&rng, -2, 2, 5, 3), leaf(&rng, -2, 2, SH(5, 3))};
    assert_gradcheck(f_rowdot, 2, in, "rowdot");
    tg_tape *T = tg_tape_new();
    tg_tensor *r = tg_ad_custom(T, &op_rowdot, 2, in, NULL);
    tgt_assert_shape(r, 1, (const int64_t[]){5});
    tg_tape_free(T);
    tg_free(in[0]);
    tg_free(in[1]);
}
END_TEST

static tg_tensor *f_clip(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    double c = *(const double *)ctx;
    return tg_ad_mul_scalar(T, clip(T, in[0], c), 3.0); /* gradient 3, clipped */
}

START_TEST(test_clip_gradient)
{
    tg_tensor *x = tg_from_array(F64, SH(3), (const double[]){-1, 0.5, 2});
    tg_requires_grad(x, true);
    /* The checker sees the clipped backward disagree with the forward. */
    double c = 1.0;
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(f_clip, &c, 1, &x, 1e-6, 1e-8, 1e-6, &rep), TG_OK);
    ck_assert(!rep.ok);
    ck_assert_double_eq_tol(rep.analytic, 1.0, 1e-15); /* 3 w clipped to 1 */
    ck_assert(rep.numeric > 1.4);                      /* 3 w, w in [0.5, 1.5] */
    c = 10.0; /* past the gradient: plain identity */
    ck_assert_int_eq(tg_gradcheck(f_clip, &c, 1, &x, 1e-6, 1e-8, 1e-6, &rep), TG_OK);
    ck_assert(rep.ok);
    /* The threshold was copied: the local c of clip() is long gone, and a
     * seed of both signs is clipped both ways. */
    tg_tape *T = tg_tape_new();
    tg_tensor *y = clip(T, x, 1.5);
    tg_tensor *seed = tg_from_array(F64, SH(3), (const double[]){-4, 0.25, 7});
    seen_reset();
    ck_assert_int_eq(tg_backward_seed(T, y, seed), TG_OK);
    ck_assert_int_eq(bwd_calls, 1);
    ck_assert_double_eq(tgt_at(tg_grad(x), 0), -1.5);
    ck_assert_double_eq(tgt_at(tg_grad(x), 1), 0.25);
    ck_assert_double_eq(tgt_at(tg_grad(x), 2), 1.5);
    tg_tape_free(T);
    tg_free(seed);
    tg_free(x);
}
END_TEST

START_TEST(test_saved_context)
{
    tg_tensor *x = tg_from_array(F64, SH(4), (const double[]){-2, -0.5, 0.5, 3});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    /* ctx NULL with a ctx_size: a zeroed copy, which the forward fills. */
    tg_tensor *y = tg_ad_custom(T, &op_relu_saved, 1, &x, NULL);
    ck_assert_msg(y != NULL, "%s", tg_last_message());
    tg_tensor *L = tg_ad_sum(T, tg_ad_mul(T, y, y));
    tg_tensor *g, *ref;
    ck_assert_int_eq(tg_ad_grad(T, L, NULL, 1, &x, &g, false), TG_OK);
    tg_tensor *r = tg_ad_relu(T, x);
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, r, r)), NULL, 1, &x, &ref, false),
                     TG_OK);
    for (int64_t i = 0; i < 4; i++) {
        TGT_ASSERT_SAME(tgt_at(y, i), tgt_at(r, i));
        TGT_ASSERT_SAME(tgt_at(g, i), tgt_at(ref, i));
    }
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

START_TEST(test_matches_builtin_ops)
{
    tg_rng rng;
    tg_rng_seed(&rng, 4);
    /* values well away from 0, where relu and abs have their kinks */
    tg_tensor *x = leaf(&rng, 0.1, 30, SH(2, 5));
    tg_tensor *s = tg_uniform(&rng, F64, -1, 1, SH(2, 5));
    ck_assert_int_eq(tg_binary_into(TG_MUL, x, x, s), TG_OK); /* both signs */
    tg_tensor *w = leaf(&rng, -1, 1, SH(5));
    tg_tape *T = tg_tape_new();
    tg_tensor *in[2] = {x, w}, *g[2], *ref[2];
    tg_tensor *y = softplus(T, tg_ad_mul(T, x, w));
    tg_tensor *yb = softplus_builtin(T, tg_ad_mul(T, x, w));
    assert_close(y, yb, 1e-15, "softplus");
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, y, y)), NULL, 2, in, g, false),
                     TG_OK);
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, yb, yb)), NULL, 2, in, ref,
                                false), TG_OK);
    assert_close(g[0], ref[0], 1e-14, "d/dx");
    assert_close(g[1], ref[1], 1e-14, "d/dw");
    /* float32 runs the other loop */
    tg_tensor *x32 = tg_cast(x, F32);
    tg_tensor *y32 = softplus(T, x32);
    ck_assert_int_eq(tg_dtype_of(y32), F32);
    assert_close(y32, softplus(T, x), 1e-6, "softplus, float32");
    /* fma and muladd against their formulas from built-in ops */
    tg_tensor *c = leaf(&rng, -1, 1, SH(2, 1));
    tg_tensor *in3[3] = {x, w, c}, *g3[3], *r3[3];
    tg_tensor *f = fma3(T, x, w, c);
    tg_tensor *fb = tg_ad_add(T, tg_ad_mul(T, x, w), c);
    assert_close(f, fb, 0, "fma");
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, f, f)), NULL, 3, in3, g3, false),
                     TG_OK);
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, fb, fb)), NULL, 3, in3, r3,
                                false), TG_OK);
    for (int i = 0; i < 3; i++)
        assert_close(g3[i], r3[i], 1e-15, "fma gradients");
    /* the same input in several slots: d(x x + x) = 2x + 1 */
    tg_tensor *gx;
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, fma3(T, x, x, x)), NULL, 1, &x, &gx, false),
                     TG_OK);
    for (int64_t i = 0; i < 10; i++)
        ck_assert_double_eq_tol(tgt_at(gx, i), 2 * tgt_at(x, i) + 1, 1e-14);
    tg_tape_free(T);
    tg_free(x32);
    tg_free(x);
    tg_free(s);
    tg_free(w);
    tg_free(c);
}
END_TEST

/* ---- second order --------------------------------------------------------------- */

/* L = sum(softplus(x @ W)^2), with the custom op or from built-in ops. */
static tg_tensor *hvp_loss(tg_tape *T, tg_tensor *x, tg_tensor *W, bool custom)
{
    tg_tensor *z = tg_ad_matmul(T, x, W);
    tg_tensor *y = custom ? softplus(T, z) : softplus_builtin(T, z);
    return tg_ad_sum(T, tg_ad_mul(T, y, y));
}

/* The gradients of hvp_loss at (x + t v0, W + t v1), as doubles. */
static void grads_at(tg_tensor *x, tg_tensor *W, tg_tensor *v0, tg_tensor *v1,
                     double t, double *out)
{
    tg_tensor *p[2] = {tg_clone(x), tg_clone(W)}, *g[2];
    tg_axpy_into(p[0], t, v0);
    tg_axpy_into(p[1], t, v1);
    tg_requires_grad(p[0], true);
    tg_requires_grad(p[1], true);
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(tg_ad_grad(T, hvp_loss(T, p[0], p[1], true), NULL, 2, p, g, false),
                     TG_OK);
    int64_t k = 0;
    for (int i = 0; i < 2; i++)
        for (int64_t j = 0; j < tg_numel(g[i]); j++)
            out[k++] = tgt_at(g[i], j);
    tg_tape_free(T);
    tg_free(p[0]);
    tg_free(p[1]);
}

/* H v with tg_ad_grad(create_graph) twice: d/dp sum(grad L . v). */
static void hvp(tg_tensor *x, tg_tensor *W, tg_tensor *v0, tg_tensor *v1, bool custom,
                double *out)
{
    tg_tensor *p[2] = {x, W}, *g[2], *hv[2];
    tg_tape *T = tg_tape_new();
    seen_reset();
    ck_assert_int_eq(tg_ad_grad(T, hvp_loss(T, x, W, custom), NULL, 2, p, g, true), TG_OK);
    if (custom)
        ck_assert(bwd_calls == 1 && bwd_recording); /* a recorded walk */
    tg_tensor *s = tg_ad_add(T, tg_ad_sum(T, tg_ad_mul(T, g[0], v0)),
                             tg_ad_sum(T, tg_ad_mul(T, g[1], v1)));
    seen_reset();
    ck_assert_int_eq(tg_ad_grad(T, s, NULL, 2, p, hv, false), TG_OK);
    if (custom) /* through the backward's record again, paused this time */
        ck_assert(bwd_calls == 1 && !bwd_recording);
    int64_t k = 0;
    for (int i = 0; i < 2; i++)
        for (int64_t j = 0; j < tg_numel(hv[i]); j++)
            out[k++] = tgt_at(hv[i], j);
    tg_tape_free(T);
}

START_TEST(test_hessian_vector_product)
{
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_tensor *x = leaf(&rng, -1, 1, SH(3, 4)), *W = leaf(&rng, -1, 1, SH(4, 2));
    tg_tensor *v0 = tg_uniform(&rng, F64, -1, 1, SH(3, 4));
    tg_tensor *v1 = tg_uniform(&rng, F64, -1, 1, SH(4, 2));
    enum { N = 12 + 8 };
    double hv[N], hb[N], gp[N], gm[N];
    const double eps = 1e-5;
    hvp(x, W, v0, v1, true, hv);
    hvp(x, W, v0, v1, false, hb);
    grads_at(x, W, v0, v1, eps, gp);
    grads_at(x, W, v0, v1, -eps, gm);
    for (int k = 0; k < N; k++) {
        double fd = (gp[k] - gm[k]) / (2 * eps);
        ck_assert_msg(fabs(hv[k] - fd) <= 1e-7 * (1 + fabs(fd)),
                      "Hv[%d] = %.17g, finite differences %.17g", k, hv[k], fd);
        ck_assert_msg(fabs(hv[k] - hb[k]) <= 1e-13 * (1 + fabs(hb[k])),
                      "Hv[%d] = %.17g, from built-in ops %.17g", k, hv[k], hb[k]);
    }
    tg_free(x);
    tg_free(W);
    tg_free(v0);
    tg_free(v1);
}
END_TEST

/* x -> d/dx sum(softplus(x)^2 fma(x, x, x)), itself checked by differences */
static tg_tensor *f_grad_of(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    tg_tensor *y = softplus(T, in[0]);
    tg_tensor *L = tg_ad_sum(T, tg_ad_mul(T, tg_ad_mul(T, y, y), fma3(T, in[0], in[0], in[0])));
    tg_tensor *g;
    if (!L || tg_ad_grad(T, L, NULL, 1, in, &g, true))
        return NULL;
    return g;
}

START_TEST(test_gradcheck_second_order)
{
    tg_rng rng;
    tg_rng_seed(&rng, 6);
    tg_tensor *x = leaf_transposed(&rng, -2, 2, 2, 3);
    assert_gradcheck(f_grad_of, 1, &x, "gradient through custom ops");
    tg_free(x);
}
END_TEST

/* ---- the tape: when it records, what the callbacks see ------------------------ */

START_TEST(test_recording_rules)
{
    tg_tensor *x = tg_from_array(F64, SH(2), (const double[]){-1, 2});
    tg_tensor *k = tg_from_array(F64, SH(2), (const double[]){3, 4});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    /* recorded: an input requires a gradient */
    seen_reset();
    tg_tensor *y = softplus(T, x);
    ck_assert_ptr_nonnull(y);
    ck_assert_uint_eq(tg_tape_length(T), 1);
    ck_assert(tg_requires_grad_of(y));
    ck_assert(fwd_tape == T && !fwd_recording); /* the forward runs paused */
    ck_assert(tg_tape_is_recording(T));         /* and the tape is given back */
    /* not recorded: no input requires one, or the tape is paused */
    ck_assert_ptr_nonnull(softplus(T, k));
    ck_assert_uint_eq(tg_tape_length(T), 1);
    tg_tape_pause(T, true);
    tg_tensor *p = softplus(T, x);
    ck_assert(p && !tg_requires_grad_of(p));
    tg_tape_pause(T, false);
    ck_assert_uint_eq(tg_tape_length(T), 1);
    /* the backward runs paused in tg_backward */
    seen_reset();
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    ck_assert(bwd_calls == 1 && !bwd_recording);
    ck_assert_double_eq_tol(tgt_at(tg_grad(x), 1), 1 / (1 + exp(-2.0)), 1e-15);
    /* a second backward through it is refused, naming it */
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "the graph through tg_ad_softplus was already used");
    /* T NULL: computed on a private tape, the result is the caller's */
    seen_reset();
    tg_tensor *h = tg_ad_custom(NULL, &op_muladd, 4, (tg_tensor *[]){x, k, k, x}, NULL);
    ck_assert_ptr_nonnull(h);
    ck_assert(fwd_tape != NULL && fwd_tape != T && !fwd_recording);
    ck_assert(!tg_requires_grad_of(h));
    ck_assert_double_eq(tgt_at(h, 0), -6.0); /* 2 x k */
    ck_assert_double_eq(tgt_at(h, 1), 16.0);
    ck_assert_int_eq(tg_requires_grad(h, true), TG_OK); /* caller-owned */
    tg_free(h);
    tg_tensor *c = clip(NULL, x, 1.0); /* a context copy on the private tape */
    ck_assert_ptr_nonnull(c);
    tg_free(c);
    /* but not with a tape's tensor */
    ck_assert_ptr_null(softplus(NULL, y));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_softplus: the tape is NULL but an input belongs to a tape");
    tg_tape_free(T);
    tg_free(x);
    tg_free(k);
}
END_TEST

START_TEST(test_no_gradient_request)
{
    tg_tensor *a = tg_from_array(F64, SH(2), (const double[]){1, 2});
    tg_tensor *b = tg_from_array(F64, SH(2), (const double[]){3, 4});
    tg_tensor *c = tg_from_array(F64, SH(2), (const double[]){5, 6});
    tg_requires_grad(c, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *L = tg_ad_sum(T, fma3(T, a, b, c));
    seen_reset();
    ck_assert_int_eq(tg_backward(T, L), TG_OK);
    ck_assert(bwd_calls == 1 && !asked[0] && !asked[1] && asked[2]);
    ck_assert_ptr_null(tg_grad(a));
    ck_assert_double_eq(tgt_at(tg_grad(c), 0), 1.0);
    /* an input that stopped requiring a gradient: the backward is not called */
    tg_tape_reset(T);
    L = tg_ad_sum(T, fma3(T, a, b, c));
    tg_requires_grad(c, false);
    seen_reset();
    ck_assert_int_eq(tg_backward(T, L), TG_OK);
    ck_assert_int_eq(bwd_calls, 0);
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
    tg_free(c);
}
END_TEST

START_TEST(test_modified_inputs_named)
{
    tg_tensor *x = tg_from_array(F64, SH(2), (const double[]){1, 2});
    tg_tensor *k = tg_from_array(F64, SH(2), (const double[]){3, 4});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *L = tg_ad_sum(T, softplus(T, x));
    tg_fill(x, 0.5);
    ck_assert_int_eq(tg_backward(T, L), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE,
                   "tg_backward: input 1 of tg_ad_softplus was modified in place after it "
                   "was recorded");
    ck_assert_ptr_null(tg_grad(x));
    /* inputs 3 and 4 are checked too */
    for (int which = 2; which < 4; which++) {
        tg_tape_reset(T);
        tg_tensor *in[4] = {x, k, x, k};
        in[which] = tg_clone(k);
        L = tg_ad_sum(T, muladd(T, in[0], in[1], in[2], in[3]));
        ck_assert_ptr_nonnull(L);
        tg_fill(in[which], 1.0);
        ck_assert_int_eq(tg_backward(T, L), TG_ERR_TAPE);
        char want[96];
        snprintf(want, sizeof want, "input %d of tg_ad_muladd was modified", which + 1);
        TGT_ASSERT_ERR(TG_ERR_TAPE, want);
        tg_free(in[which]);
    }
    /* and the result (the root here: a later record would name itself) */
    tg_tape_reset(T);
    tg_tensor *y = softplus(T, x);
    tg_fill(y, 0.0);
    ck_assert_int_eq(tg_backward_seed(T, y, k), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "the result of tg_ad_softplus was modified in place");
    tg_tape_free(T);
    tg_free(x);
    tg_free(k);
}
END_TEST

/* ---- errors: descriptors and inputs -------------------------------------------- */

START_TEST(test_bad_descriptor)
{
    tg_tensor *x = tg_from_array(F64, SH(2), (const double[]){1, 2});
    tg_tape *T = tg_tape_new();
    tg_custom_op op = op_softplus;
    ck_assert_ptr_null(tg_ad_custom(T, NULL, 1, &x, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_ad_custom: op is NULL");
    op.forward = NULL;
    ck_assert_ptr_null(tg_ad_custom(T, &op, 1, &x, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_ad_custom: op \"softplus\" has no forward");
    op = op_softplus;
    op.backward = NULL;
    ck_assert_ptr_null(tg_ad_custom(T, &op, 1, &x, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_ad_custom: op \"softplus\" has no backward");
    op = op_softplus;
    op.name = NULL;
    ck_assert_ptr_null(tg_ad_custom(T, &op, 1, &x, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_ad_custom: the op has no name");
    op.name = "";
    ck_assert_ptr_null(tg_ad_custom(T, &op, 1, &x, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "must have 1 to 32 characters");
    op.name = "a_name_of_thirty_three_characters";
    ck_assert_ptr_null(tg_ad_custom(T, &op, 1, &x, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "\"a_name_of_thirty_three_character...\" must have 1 to 32");
    op.name = "a_name_of_thirty_two_characters_";
    ck_assert_ptr_nonnull(tg_ad_custom(T, &op, 1, &x, NULL));
    op.name = "soft plus";
    ck_assert_ptr_null(tg_ad_custom(T, &op, 1, &x, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "op name \"soft plus\" may hold only letters, digits and _");
    /* n out of range, inputs missing */
    for (int n = -1; n <= 5; n += 6) {
        ck_assert_ptr_null(tg_ad_custom(T, &op_softplus, n, &x, NULL));
        char want[96];
        snprintf(want, sizeof want, "tg_ad_softplus: %d inputs; a custom op takes 1 to 4", n);
        TGT_ASSERT_ERR(TG_ERR_VALUE, want);
    }
    ck_assert_ptr_null(tg_ad_custom(T, &op_softplus, 0, &x, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ad_softplus: 0 inputs");
    ck_assert_ptr_null(tg_ad_custom(T, &op_softplus, 1, NULL, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_ad_softplus: inputs is NULL");
    /* a NULL input: NULL without a new message */
    tg_clear_error();
    ck_assert_ptr_null(fma3(T, x, NULL, x));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    /* a pointer that is not a live tape */
    static uint64_t junk[64];
    ck_assert_ptr_null(tg_ad_custom((tg_tape *)(void *)junk, &op_softplus, 1, &x, NULL));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_custom: tape is not a live tape");
    ck_assert_uint_eq(tg_tape_length(T), 0); /* x needs no gradient */
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

static int bad_shape_mode;

static int bad_shape(int n, tg_tensor *const *in, void *ctx, tg_dtype *dtype,
                     int *ndim, int64_t *shape)
{
    (void)n;
    (void)in;
    (void)ctx;
    switch (bad_shape_mode) {
    case 0: return TG_ERR_SHAPE;
    case 1: *ndim = TG_MAX_DIMS + 1; return TG_OK;
    case 2: shape[0] = -3; return TG_OK;
    case 3: *dtype = (tg_dtype)77; return TG_OK;
    default: return 12345;
    }
}

START_TEST(test_bad_inputs_and_shapes)
{
    tg_tensor *a = tg_zeros(F64, SH(2, 3)), *b = tg_zeros(F64, SH(4));
    tg_tensor *f = tg_zeros(F32, SH(3));
    tg_requires_grad(a, true);
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_null(fma3(T, a, b, a));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_ad_fma: input 2 of shape (4,) cannot be broadcast with "
                                 "input 1 of shape (2,3)");
    ck_assert_ptr_null(fma3(T, a, a, b));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_ad_fma: input 3 of shape (4,) cannot be broadcast with "
                                 "shape (2,3) of inputs 1 to 2");
    ck_assert_ptr_null(fma3(T, a, a, f));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_ad_fma: inputs 1 and 3 have dtypes float64 and float32");
    /* the shape callback failing or declaring nonsense */
    tg_custom_op op = op_rowdot;
    op.shape = bad_shape;
    const char *want[] = {
        "tg_ad_rowdot: the shape callback failed: shape mismatch",
        "tg_ad_rowdot: the shape callback declared 9 dimensions",
        "tg_ad_rowdot: ",
        "tg_ad_rowdot: the shape callback declared dtype 77",
        "tg_ad_rowdot: the shape callback returned 12345, which is not a tapegrad error code",
    };
    const int code[] = {TG_ERR_SHAPE, TG_ERR_VALUE, TG_ERR_VALUE, TG_ERR_DTYPE, TG_ERR_VALUE};
    for (bad_shape_mode = 0; bad_shape_mode < 5; bad_shape_mode++) {
        ck_assert_ptr_null(tg_ad_custom(T, &op, 2, (tg_tensor *[]){a, a}, NULL));
        TGT_ASSERT_ERR(code[bad_shape_mode], want[bad_shape_mode]);
        ck_assert_ptr_null(tg_ad_custom(NULL, &op, 2, (tg_tensor *[]){a, a}, NULL));
        TGT_ASSERT_ERR(code[bad_shape_mode], want[bad_shape_mode]);
    }
    ck_assert_ptr_null(tg_ad_custom(T, &op_rowdot, 2, (tg_tensor *[]){a, b}, NULL));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_ad_rowdot: the shape callback failed: shape mismatch");
    /* an input of another tape */
    tg_tape *U = tg_tape_new();
    tg_tensor *u = tg_ad_exp(U, a);
    ck_assert_ptr_null(fma3(T, a, a, u));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_fma: an input was made by another tape");
    ck_assert_uint_eq(tg_tape_length(T), 0);
    tg_tape_free(U);
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
    tg_free(f);
}
END_TEST

/* ---- errors: forwards and backwards -------------------------------------------- */

enum { F_OK, F_CODE, F_INNER, F_BADCODE, F_RESET };
enum { B_OK, B_SHAPE, B_BCAST, B_DTYPE, B_NULL, B_HEAP, B_CODE, B_INNER, B_INNER_NULL,
       B_BADCODE, B_GARBAGE_UNASKED, B_RESET, B_WALK };
static int fwd_mode, bwd_mode;
static tg_tensor *heap_grad;

/* out = a + b, failing as fwd_mode and bwd_mode say. */
static int bad_fwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out, void *ctx)
{
    (void)n;
    (void)ctx;
    switch (fwd_mode) {
    case F_CODE: return TG_ERR_VALUE;
    case F_INNER: /* a tape op that fails, its code returned */
        return tg_ad_matmul(T, in[0], in[1]) ? TG_OK : tg_last_error();
    case F_BADCODE: return -1;
    case F_RESET: tg_tape_reset(T); return TG_OK;
    default: return tg_binary_into(TG_ADD, out, in[0], in[1]);
    }
}

static int bad_bwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                   tg_tensor *dout, tg_tensor **din, void *ctx)
{
    (void)ctx;
    seen_backward(T, n, in);
    tg_tensor *a = in[0];
    switch (bwd_mode) {
    case B_SHAPE: din[0] = tg_ad_sum(T, dout); break;
    case B_BCAST: din[0] = dout; break; /* a is (3,), dout (2,3) */
    case B_DTYPE: din[0] = tg_ad_cast(T, sum_back(T, dout, a), F32); break;
    case B_NULL: break;
    case B_HEAP: din[0] = heap_grad; break;
    case B_CODE: return TG_ERR_INDEX;
    case B_INNER: /* a failing op, its code returned */
        return (din[0] = tg_ad_matmul(T, dout, dout)) ? TG_OK : tg_last_error();
    case B_INNER_NULL: /* a failing op, unchecked */
        din[0] = tg_ad_matmul(T, dout, dout);
        break;
    case B_BADCODE: return 99;
    case B_RESET: tg_tape_reset(T); return TG_OK;
    case B_WALK: { /* a walk of its own, through this very op (once) */
        static int depth;
        if (depth == 0) {
            tg_tensor *g;
            depth++;
            int rc = tg_ad_grad(T, out, dout, 1, in, &g, false);
            depth--;
            if (rc)
                return rc;
        }
        din[0] = sum_back(T, dout, a);
        break;
    }
    case B_GARBAGE_UNASKED: din[1] = tg_ad_sum(T, dout); /* b needs none */
    /* fallthrough */
    default: din[0] = sum_back(T, dout, a); break;
    }
    return TG_OK;
}

static const tg_custom_op op_bad = {"bad", bad_fwd, bad_bwd, NULL, 0};

START_TEST(test_forward_fails)
{
    tg_tensor *a = tg_from_array(F64, SH(3), (const double[]){1, 2, 3});
    tg_tensor *b = tg_from_array(F64, SH(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    tg_requires_grad(a, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *in[2] = {a, b};
    tg_tensor *keep = tg_ad_exp(T, a); /* made before: must survive */
    const struct {
        int mode, code;
        const char *msg;
    } cases[] = {
        {F_CODE, TG_ERR_VALUE, "tg_ad_bad: the forward failed: invalid argument value"},
        {F_INNER, TG_ERR_SHAPE, "tg_ad_bad: the forward failed: tg_ad_matmul: "},
        {F_BADCODE, TG_ERR_VALUE,
         "tg_ad_bad: the forward returned -1, which is not a tapegrad error code"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fwd_mode = cases[k].mode;
        for (int taped = 1; taped >= 0; taped--) {
            size_t before = tg_tape_length(T);
            long live = tgt_stats.live_blocks;
            ck_assert_ptr_null(tg_ad_custom(taped ? T : NULL, &op_bad, 2, in, NULL));
            TGT_ASSERT_ERR(cases[k].code, cases[k].msg);
            ck_assert_uint_eq(tg_tape_length(T), before); /* nothing recorded */
            ck_assert_int_eq(tgt_stats.live_blocks, live); /* nothing kept */
        }
    }
    /* a forward that resets the tape */
    fwd_mode = F_RESET;
    ck_assert_ptr_null(tg_ad_custom(NULL, &op_bad, 2, in, NULL));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_bad: the forward reset the tape");
    ck_assert_ptr_null(tg_ad_custom(T, &op_bad, 2, in, NULL));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_bad: the forward reset the tape");
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert_ptr_null(tg_ad_exp(T, keep)); /* made before the reset: dead */
    /* the tape goes on */
    fwd_mode = F_OK;
    bwd_mode = B_OK;
    tg_tensor *y = tg_ad_custom(T, &op_bad, 2, in, NULL);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(a), 0), 2.0);
    /* a successful call leaves the last error alone */
    tg_tape_reset(T);
    tg_zero_grad(a);
    ck_assert_ptr_null(tg_ad_matmul(T, a, b));
    ck_assert_int_eq(tg_last_error(), TG_ERR_SHAPE);
    char before[512];
    snprintf(before, sizeof before, "%s", tg_last_message());
    y = tg_ad_custom(T, &op_bad, 2, in, NULL);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    ck_assert_int_eq(tg_last_error(), TG_ERR_SHAPE);
    ck_assert_str_eq(tg_last_message(), before);
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
}
END_TEST

START_TEST(test_backward_fails)
{
    tg_tensor *a = tg_from_array(F64, SH(3), (const double[]){1, 2, 3});
    tg_tensor *b = tg_from_array(F64, SH(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    tg_requires_grad(a, true);
    heap_grad = tg_zeros(F64, SH(3));
    tg_tape *T = tg_tape_new();
    tg_tensor *in[2] = {a, b};
    const struct {
        int mode, code;
        const char *msg;
    } cases[] = {
        {B_SHAPE, TG_ERR_SHAPE,
         "tg_ad_bad: the backward gave input 1 a gradient of shape (); the input has "
         "shape (3,)"},
        {B_BCAST, TG_ERR_SHAPE,
         "tg_ad_bad: the backward gave input 1 a gradient of shape (2,3); the input has "
         "shape (3,) (sum it back with tg_ad_sum_to)"},
        {B_DTYPE, TG_ERR_DTYPE,
         "tg_ad_bad: the backward gave input 1 a float32 gradient; the input is float64"},
        {B_NULL, TG_ERR_TAPE,
         "tg_ad_bad: the backward gave no gradient for input 1, which requires one"},
        {B_HEAP, TG_ERR_TAPE,
         "tg_ad_bad: the backward gave input 1 a gradient that is not a tensor of this "
         "tape (make it with tg_ad_* ops on T)"},
        {B_CODE, TG_ERR_INDEX, "tg_ad_bad: the backward failed: index out of range"},
        {B_INNER, TG_ERR_SHAPE, "tg_ad_bad: the backward failed: tg_ad_matmul: "},
        {B_INNER_NULL, TG_ERR_SHAPE, "tg_ad_bad: the backward failed: tg_ad_matmul: "},
        {B_BADCODE, TG_ERR_VALUE,
         "tg_ad_bad: the backward returned 99, which is not a tapegrad error code"},
    };
    fwd_mode = F_OK;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        bwd_mode = cases[k].mode;
        for (int how = 0; how < 3; how++) { /* tg_backward, tg_ad_grad, recorded */
            tg_tape_reset(T);
            tg_tensor *L = tg_ad_sum(T, tg_ad_custom(T, &op_bad, 2, in, NULL));
            ck_assert_ptr_nonnull(L);
            tg_tensor *g = NULL;
            int rc = how == 0 ? tg_backward(T, L) : tg_ad_grad(T, L, NULL, 1, &a, &g, how == 2);
            ck_assert_msg(rc == cases[k].code, "mode %d, how %d: code %d (%s)", cases[k].mode,
                          how, rc, tg_last_message());
            TGT_ASSERT_ERR(cases[k].code, cases[k].msg);
            ck_assert_ptr_null(g);
            ck_assert_ptr_null(tg_grad(a)); /* no gradient changed */
            /* nothing was used up: the same recording works once fixed */
            bwd_mode = B_OK;
            ck_assert_int_eq(tg_backward(T, L), TG_OK);
            ck_assert_double_eq(tgt_at(tg_grad(a), 2), 2.0);
            tg_zero_grad(a);
            tg_free(a);
            a = tg_from_array(F64, SH(3), (const double[]){1, 2, 3});
            tg_requires_grad(a, true);
            in[0] = a;
            bwd_mode = cases[k].mode;
        }
    }
    /* a gradient given for an input that asked for none is ignored */
    bwd_mode = B_GARBAGE_UNASKED;
    tg_tape_reset(T);
    seen_reset();
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_custom(T, &op_bad, 2, in, NULL))),
                     TG_OK);
    ck_assert(asked[0] && !asked[1]);
    ck_assert_double_eq(tgt_at(tg_grad(a), 0), 2.0);
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
    tg_free(heap_grad);
}
END_TEST

START_TEST(test_backward_misuses)
{
    tg_tensor *a = tg_from_array(F64, SH(3), (const double[]){1, 2, 3});
    tg_tensor *b = tg_from_array(F64, SH(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    tg_requires_grad(a, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *in[2] = {a, b}, *g = NULL;
    fwd_mode = F_OK;
    /* a walk inside the walk (it would take the records' marks) */
    bwd_mode = B_WALK;
    tg_tensor *L = tg_ad_sum(T, tg_ad_custom(T, &op_bad, 2, in, NULL));
    ck_assert_int_eq(tg_backward(T, L), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_bad: the backward ran a backward walk (tg_backward or "
                                "tg_ad_grad) on the tape being walked");
    ck_assert_ptr_null(tg_grad(a));
    /* a reset inside the walk */
    bwd_mode = B_RESET;
    ck_assert_int_eq(tg_ad_grad(T, L, NULL, 1, &a, &g, false), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_bad: the backward reset the tape");
    ck_assert_ptr_null(g);
    ck_assert_uint_eq(tg_tape_length(T), 0);
    bwd_mode = B_OK;
    L = tg_ad_sum(T, tg_ad_custom(T, &op_bad, 2, in, NULL));
    ck_assert_int_eq(tg_backward(T, L), TG_OK);
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
}
END_TEST

/* ---- memory -------------------------------------------------------------------- */

/* Everything a step makes, released at the end whatever happened. */
typedef struct step_sig {
    int n;
    double v[256];
} step_sig;

static void sig_tensor(step_sig *s, const tg_tensor *t)
{
    for (int64_t i = 0; i < tg_numel(t); i++) {
        ck_assert_int_lt(s->n, 256);
        s->v[s->n++] = tgt_at(t, i);
    }
}

/* One step through every kind of custom op, from scratch: leaves, a tape,
 * a recorded gradient and a Hessian-vector product through them, a
 * tg_backward, and a custom op without a tape. */
static int custom_step(step_sig *s)
{
    static const double xs[12] = {-1.5, -1, -0.5, 0.25, 0.5, 1, 1.5, 2, -2, 0.75, -0.25, 3};
    static const double bs[4] = {0.5, -0.5, 1, 2}, cs[3] = {0.1, -0.2, 0.3};
    int rc = TG_ERR_NOMEM;
    s->n = 0;
    tg_tape *T = tg_tape_new();
    tg_tensor *x = tg_from_array(F64, SH(3, 4), xs), *b = tg_from_array(F64, SH(4), bs);
    tg_tensor *c = tg_from_array(F64, SH(3, 1), cs), *h = NULL;
    if (!T || !x || !b || !c)
        goto done;
    tg_tensor *p[3] = {x, b, c}, *g[3], *hv[3];
    for (int i = 0; i < 3; i++)
        tg_requires_grad(p[i], true);
    tg_tensor *u = fma3(T, x, b, c);
    tg_tensor *y = tg_ad_custom(T, &op_relu_saved, 1, &u, NULL);
    tg_tensor *z = clip(T, muladd(T, softplus(T, u), y, x, b), 0.5);
    tg_tensor *L = tg_ad_sum(T, tg_ad_mul(T, z, z));
    if (!L)
        goto fail;
    if ((rc = tg_ad_grad(T, L, NULL, 3, p, g, true)))
        goto done;
    tg_tensor *gs = tg_ad_sum(T, tg_ad_mul(T, g[0], g[0]));
    if (!gs)
        goto fail;
    if ((rc = tg_ad_grad(T, gs, NULL, 3, p, hv, false)) || (rc = tg_backward(T, L)))
        goto done;
    h = tg_ad_custom(NULL, &op_muladd, 4, (tg_tensor *[]){x, b, c, x}, NULL);
    if (!h)
        goto fail;
    for (int i = 0; i < 3; i++) {
        sig_tensor(s, g[i]);
        sig_tensor(s, hv[i]);
        sig_tensor(s, tg_grad(p[i]));
    }
    sig_tensor(s, L);
    sig_tensor(s, h);
    rc = TG_OK;
    goto done;
fail:
    rc = tg_last_error();
done:
    tg_tape_free(T);
    tg_free(x);
    tg_free(b);
    tg_free(c);
    tg_free(h);
    return rc;
}

START_TEST(test_allocation_failures)
{
    step_sig clean, got;
    long base = tgt_stats.live_blocks, start = tgt_stats.calls;
    ck_assert_msg(custom_step(&clean) == TG_OK, "clean run: %s", tg_last_message());
    long n = tgt_stats.calls - start;
    ck_assert_int_gt(n, 5);
    ck_assert_int_eq(tgt_stats.live_blocks, base);
    int failed = 0;
    for (long k = 1; k <= n; k++) {
        tg_clear_error();
        tgt_stats.fail_at = tgt_stats.calls + k;
        int rc = custom_step(&got);
        tgt_stats.fail_at = 0;
        ck_assert_msg(rc == TG_OK || rc == TG_ERR_NOMEM,
                      "allocation %ld refused: code %d (%s)", k, rc, tg_last_message());
        if (rc == TG_ERR_NOMEM) {
            failed++;
            ck_assert_int_eq(tg_last_error(), TG_ERR_NOMEM);
            ck_assert_msg(strstr(tg_last_message(), "out of memory") &&
                              strncmp(tg_last_message(), "tg_", 3) == 0,
                          "allocation %ld: \"%s\"", k, tg_last_message());
        } else {
            ck_assert_int_eq(got.n, clean.n);
            ck_assert(memcmp(got.v, clean.v, (size_t)got.n * sizeof(double)) == 0);
        }
        ck_assert_msg(tgt_stats.live_blocks == base, "allocation %ld refused: %ld blocks leaked",
                      k, tgt_stats.live_blocks - base);
        ck_assert_int_eq(custom_step(&got), TG_OK); /* and all is well again */
        ck_assert_int_eq(got.n, clean.n);
        ck_assert(memcmp(got.v, clean.v, (size_t)got.n * sizeof(double)) == 0);
    }
    ck_assert_int_gt(failed, 0);
    printf("custom: allocation failures: %ld points\n", n);
}
END_TEST

/* A training step with custom ops on a reused tape: p -= 0.01 dL/dp. */
static void train_step(tg_tape *T, tg_tensor *const *p, tg_tensor *X)
{
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    tg_tensor *u = fma3(T, tg_ad_matmul(T, X, p[0]), p[1], p[2]);
    tg_tensor *y = clip(T, softplus(T, u), 0.1);
    tg_tensor *r = tg_ad_custom(T, &op_relu_saved, 1, &y, NULL);
    tg_tensor *L = tg_ad_mean(T, tg_ad_mul(T, r, r));
    ck_assert_ptr_nonnull(L);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tg_zero_grad(p[i]), TG_OK);
    ck_assert_int_eq(tg_backward(T, L), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tg_axpy_into(p[i], -0.01, tg_grad(p[i])), TG_OK);
}

START_TEST(test_steady_loop_no_allocations)
{
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_tensor *X = tg_uniform(&rng, F64, -1, 1, SH(16, 8));
    tg_tensor *p[3] = {leaf(&rng, -0.5, 0.5, SH(8, 4)), leaf(&rng, -0.5, 0.5, SH(4)),
                       leaf(&rng, -0.5, 0.5, SH(16, 1))};
    tg_tape *T = tg_tape_new();
    train_step(T, p, X);
    long calls = tgt_stats.calls, allocs = tgt_stats.allocs, frees = tgt_stats.frees;
    for (int step = 1; step < 300; step++) {
        train_step(T, p, X);
        ck_assert_msg(tgt_stats.calls == calls && tgt_stats.allocs == allocs &&
                          tgt_stats.frees == frees,
                      "step %d called the allocator", step + 1);
    }
    tg_tape_free(T);
    tg_free(X);
    for (int i = 0; i < 3; i++)
        tg_free(p[i]);
}
END_TEST

/* ---- the worked example of docs/autograd.md --------------------------------------- */

static const char example_output[] =
    "loss           10.109199547556043\n"
    "dL/dw, dL/db   -5.2565724134116127 -30.233312168558452\n"
    "built-in ops   -5.2565724134116127 -30.233312168558452\n"
    "Hessian        [[20.813467463809271, 34.006734006734014], [34.006734006734014, 100]]\n"
    "tg_backward: input 2 of tg_ad_quadratic was modified in place after it was recorded\n";

START_TEST(test_example_output)
{
    const char *build = getenv("TG_BUILD");
    ck_assert_msg(build != NULL, "TG_BUILD is not set; run the tests with make check");
    char cmd[1024], out[2048];
    snprintf(cmd, sizeof cmd, "%s/examples/custom_op", build);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t len = fread(out, 1, sizeof out - 1, f);
    out[len] = '\0';
    ck_assert_int_eq(pclose(f), 0);
    ck_assert_str_eq(out, example_output);
}
END_TEST

/* The whole text of a file, or NULL (the caller frees it). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1))) {
        size_t got = fread(buf, 1, (size_t)len, f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf;
}

/* docs/autograd.md shows the example's code, from its first #include on,
 * and the output checked above. */
START_TEST(test_docs_show_the_example)
{
    char *doc = slurp("../docs/autograd.md"), *src = slurp("../examples/custom_op.c");
    ck_assert_msg(doc && src, "cannot read docs/autograd.md or examples/custom_op.c");
    const char *code = strstr(src, "#include <stdio.h>");
    ck_assert_ptr_nonnull(code);
    ck_assert_msg(strstr(doc, code) != NULL,
                  "docs/autograd.md does not show examples/custom_op.c as it is");
    ck_assert_msg(strstr(doc, example_output) != NULL,
                  "docs/autograd.md does not show the example's output");
    free(doc);
    free(src);
}
END_TEST

Suite *test_custom_suite(void); /* called by the generated runner */

Suite *test_custom_suite(void)
{
    Suite *s = suite_create("custom");
    TCase *tc = tgt_tcase("gradients");
    tcase_add_test(tc, test_gradcheck_softplus);
    tcase_add_test(tc, test_gradcheck_three_and_four_inputs);
    tcase_add_test(tc, test_gradcheck_shape_callback);
    tcase_add_test(tc, test_clip_gradient);
    tcase_add_test(tc, test_saved_context);
    tcase_add_test(tc, test_matches_builtin_ops);
    tcase_add_test(tc, test_hessian_vector_product);
    tcase_add_test(tc, test_gradcheck_second_order);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("tape");
    tcase_add_test(tc, test_recording_rules);
    tcase_add_test(tc, test_no_gradient_request);
    tcase_add_test(tc, test_modified_inputs_named);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_bad_descriptor);
    tcase_add_test(tc, test_bad_inputs_and_shapes);
    tcase_add_test(tc, test_forward_fails);
    tcase_add_test(tc, test_backward_fails);
    tcase_add_test(tc, test_backward_misuses);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("memory");
    tcase_add_test(tc, test_allocation_failures);
    tcase_add_test(tc, test_steady_loop_no_allocations);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("example");
    tcase_add_test(tc, test_example_output);
    tcase_add_test(tc, test_docs_show_the_example);
    suite_add_tcase(s, tc);
    return s;
}
