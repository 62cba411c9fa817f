/* test_pool.c - 2-d pooling on the tape (tensor/pool.c, autograd/pool.c):
 * max_pool2d, avg_pool2d and adaptive_avg_pool2d. Forward values,
 * gradients and a second-order product against PyTorch's
 * (data/pool_ref.inc, written by data/make_pool_ref.py) in float64 and
 * float32, on contiguous, transposed and reversed inputs, with ties and
 * NaNs for max pooling; the gradient checker in float64 at first, second
 * and third order; huge kernels and sizes; bad input with its messages;
 * allocation failures forward and backward. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>

#include "data/pool_ref.inc"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE
#define DINF ((double)INFINITY)
#define DNAN ((double)NAN)
#define NCASES ((int)(sizeof pool_cases / sizeof pool_cases[0]))

/* ---- inputs, as make_pool_ref.py's inp() ----------------------------------------- */

/* Element i of input k by the formula (see make_pool_ref.py); formula 3,
 * for the gradient checker, has distinct values far apart (no ties for a
 * finite difference to step across). */
static double formula(int f, int k, int64_t i)
{
    switch (f) {
    case 1:
        return (double)(i % 3 - 1) / 2;
    case 3:
        return (double)((i * 7919 + 31 * k) % 1009) / 1000 - 0.5;
    default:
        if (f == 2 && i % 11 == 5)
            return (double)NAN;
        return (double)((5 * i + 3 * k) % 17 - 8) / 4;
    }
}

/* Input k of shape (N,C,H,W) in dt and a layout: 'c' contiguous, 't' the
 * last two axes swapped from values of shape (N,C,W,H), 'r' the last axis
 * reversed. Caller-owned. */
static tg_tensor *pool_input(tg_dtype dt, int k, const int64_t *shape, char layout, int f)
{
    int64_t sh[4] = {shape[0], shape[1], shape[2], shape[3]};
    if (layout == 't') {
        sh[2] = shape[3];
        sh[3] = shape[2];
    }
    int64_t n = sh[0] * sh[1] * sh[2] * sh[3];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    ck_assert_ptr_nonnull(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = formula(f, k, i);
    tg_tensor *base64 = tg_from_array(F64, 4, sh, v);
    free(v);
    tg_tensor *base = dt == F64 ? base64 : tg_cast(base64, dt);
    if (base != base64)
        tg_free(base64);
    tg_tensor *t = layout == 't'   ? tg_transpose(base, 2, 3)
                   : layout == 'r' ? tg_slice(base, 3, TG_NONE, TG_NONE, -1)
                                   : tg_clone(base);
    tg_free(base);
    ck_assert_ptr_nonnull(t);
    return t;
}

static tg_tensor *case_input(tg_dtype dt, const pool_case *c)
{
    return pool_input(dt, c->k, c->shape, c->layout, c->formula);
}

/* make_pool_ref.py's weights(): ((7 i) % 11 - 5) / 2 in C order, plus add. */
static tg_tensor *weights(tg_dtype dt, const tg_tensor *like, double add)
{
    tg_tensor *w = tg_empty(F64, tg_ndim(like), tg_shape(like));
    ck_assert_ptr_nonnull(w);
    for (int64_t i = 0; i < tg_numel(w); i++)
        ((double *)tg_data(w))[i] = (double)((i * 7) % 11 - 5) * 0.5 + add;
    if (dt == F64)
        return w;
    tg_tensor *c = tg_cast(w, dt);
    tg_free(w);
    return c;
}

static const int64_t *or_null(const int64_t *p) { return p[0] < 0 ? NULL : p; }

/* The case's op on T (which may be NULL). */
static tg_tensor *run_pool(tg_tape *T, const pool_case *c, tg_tensor *x)
{
    switch (c->op) {
    case POOL_MAX:
        return tg_ad_max_pool2d(T, x, c->kernel, or_null(c->stride), or_null(c->padding));
    case POOL_AVG:
        return tg_ad_avg_pool2d(T, x, c->kernel, or_null(c->stride), or_null(c->padding));
    default:
        return tg_ad_adaptive_avg_pool2d(T, x, c->kernel[0], c->kernel[1]);
    }
}

/* t against the reference: the shape exactly, each value within tol
 * relative (absolute near zero), NaN where the reference has NaN. */
static void assert_ref(const tg_tensor *t, const pool_ref *want, double tol, const char *what)
{
    ck_assert_msg(t != NULL, "%s: NULL (%s)", what, tg_last_message());
    ck_assert_int_eq(tg_ndim(t), 4);
    for (int k = 0; k < 4; k++)
        ck_assert_msg(tg_shape(t)[k] == want->shape[k], "%s: size %lld on axis %d, want %lld",
                      what, (long long)tg_shape(t)[k], k, (long long)want->shape[k]);
    for (int64_t i = 0; i < tg_numel(t); i++) {
        double got = tgt_at(t, i), w = want->v[i];
        bool ok = isnan(w) ? isnan(got) : fabs(got - w) <= tol * (1 + fabs(w));
        ck_assert_msg(ok, "%s: element %lld is %.17g, want %.17g", what, (long long)i, got, w);
    }
}

/* ---- against PyTorch ------------------------------------------------------------ */

/* Forward with T NULL and on a tape, and the gradient of sum(w y), in
 * float64 (loop index even) and float32 (odd). */
START_TEST(test_against_torch)
{
    const pool_case *c = &pool_cases[_i / 2];
    tg_dtype dt = _i % 2 ? F32 : F64;
    double tol = dt == F64 ? 1e-14 : 1e-6;
    char what[96];
    snprintf(what, sizeof what, "%s (%s)", c->name, tg_dtype_name(dt));
    tg_tensor *x = case_input(dt, c);
    tg_tensor *y = run_pool(NULL, c, x);
    assert_ref(y, c->y, tol, what);
    ck_assert_int_eq(tg_dtype_of(y), dt);
    tg_free(y);

    tg_tape *T = tg_tape_new();
    y = run_pool(T, c, x); /* nothing requires a gradient: no record */
    assert_ref(y, c->y, tol, what);
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
    y = run_pool(T, c, x);
    assert_ref(y, c->y, tol, what);
    ck_assert_uint_eq(tg_tape_length(T), 1);
    tg_tensor *w = weights(dt, y, 0.0);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, y, w))), TG_OK);
    snprintf(what, sizeof what, "%s (%s): gradient", c->name, tg_dtype_name(dt));
    assert_ref(tg_grad(x), c->grad, tol, what);
    ck_assert_int_eq(tg_dtype_of(tg_grad(x)), dt);
    tg_tape_free(T);
    tg_free(w);
    tg_free(x);
}
END_TEST

/* h = d sum(u * dL/dx) / dx with L = sum(w y^3): the backward recorded
 * (tg_ad_grad with create_graph), then differentiated; the rules' own
 * rules against PyTorch's. Both dtypes, as above. */
START_TEST(test_second_order_against_torch)
{
    const pool_case *c = &pool_cases[_i / 2];
    tg_dtype dt = _i % 2 ? F32 : F64;
    tg_tensor *x = case_input(dt, c);
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = run_pool(T, c, x);
    tg_tensor *w = weights(dt, y, 0.0), *u = weights(dt, x, 1.0);
    tg_tensor *L = tg_ad_sum(T, tg_ad_mul(T, w, tg_ad_pow_scalar(T, y, 3.0)));
    tg_tensor *g, *h;
    ck_assert_msg(tg_ad_grad(T, L, NULL, 1, &x, &g, true) == TG_OK, "%s", tg_last_message());
    tg_tensor *gu = tg_ad_sum(T, tg_ad_mul(T, u, g));
    ck_assert_msg(tg_ad_grad(T, gu, NULL, 1, &x, &h, false) == TG_OK, "%s", tg_last_message());
    char what[96];
    snprintf(what, sizeof what, "%s (%s): second order", c->name, tg_dtype_name(dt));
    assert_ref(h, c->hvp, dt == F64 ? 1e-13 : 1e-5, what);
    tg_tape_free(T);
    tg_free(w);
    tg_free(u);
    tg_free(x);
}
END_TEST

/* ---- the gradient checker, first, second and third order ---------------------------- */

typedef struct gc_ctx {
    const pool_case *c;
    int order;
} gc_ctx;

/* Fixed weights on the tape shaped like y (constants to the checker). */
static tg_tensor *tape_weights(tg_tape *T, tg_tensor *y)
{
    tg_tensor *u = tg_ad_detach(T, y);
    if (!u)
        return NULL;
    for (int64_t i = 0; i < tg_numel(u); i++)
        ((double *)tg_data(u))[i] = 0.5 + 0.25 * (double)(i % 5) - 0.1 * (double)(i % 3);
    return u;
}

/* order 1: y = pool(x); 2: d sum(c y^3) / dx, recorded; 3: d sum(c g^2)
 * / dx of that g, recorded: the checker's backward then runs the rules of
 * the rules' rules. */
static tg_tensor *gc_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    const gc_ctx *g = ctx;
    tg_tensor *y = run_pool(T, g->c, in[0]);
    for (int k = 1; k < g->order && y; k++) {
        tg_tensor *p = tg_ad_pow_scalar(T, y, k == 1 ? 3.0 : 2.0);
        tg_tensor *root = tg_ad_sum(T, tg_ad_mul(T, p, tape_weights(T, p))), *d;
        if (!root || tg_ad_grad(T, root, NULL, 1, in, &d, true))
            return NULL;
        y = d;
    }
    return y;
}

START_TEST(test_gradcheck)
{
    const pool_case *c = &pool_cases[_i];
    /* distinct values: a finite difference must not step across a tie */
    tg_tensor *x = pool_input(F64, c->k, c->shape, c->layout, 3);
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
    for (int order = 1; order <= 3; order++) {
        gc_ctx g = {c, order};
        tg_gradcheck_report rep;
        int rc = tg_gradcheck(gc_fn, &g, 1, &x, 1e-6, 1e-7, 1e-6, &rep);
        ck_assert_msg(rc == TG_OK, "%s: gradcheck did not run: %s", c->name,
                      tg_last_message());
        ck_assert_int_eq(rep.checked, tg_numel(x));
        ck_assert_msg(rep.ok, "%s (order %d): element %lld: analytic %.17g numeric %.17g",
                      c->name, order, (long long)rep.index, rep.analytic, rep.numeric);
    }
    tg_free(x);
}
END_TEST

/* ---- semantics -------------------------------------------------------------------- */

/* PyTorch's choices at ties, NaNs and -inf: the first maximum in row-major
 * order; of several NaNs the last; a window of nothing but -inf gives -inf
 * and sends its gradient to its first element. */
START_TEST(test_max_choices)
{
    double v[8] = {1, 3, 3, 0, /* */ -DINF, -DINF, -DINF, -DINF};
    tg_tensor *x = tg_from_array(F64, SH(1, 2, 2, 2), v);
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_max_pool2d(T, x, (const int64_t[]){2, 2}, NULL, NULL);
    ck_assert_double_eq(tgt_at(y, 0), 3.0);
    ck_assert(isinf(tgt_at(y, 1)) && tgt_at(y, 1) < 0);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    const double want[8] = {0, 1, 0, 0, 1, 0, 0, 0};
    for (int64_t i = 0; i < 8; i++)
        ck_assert_double_eq(tgt_at(tg_grad(x), i), want[i]);
    tg_tape_reset(T);
    tg_zero_grad(x);
    double nv[4] = {DNAN, 5, DNAN, 7};
    tg_tensor *z = tg_from_array(F64, SH(1, 1, 2, 2), nv);
    tg_requires_grad(z, true);
    y = tg_ad_max_pool2d(T, z, (const int64_t[]){2, 2}, NULL, NULL);
    ck_assert(isnan(tgt_at(y, 0)));
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    const double nwant[4] = {0, 0, 1, 0};
    for (int64_t i = 0; i < 4; i++)
        ck_assert_double_eq(tgt_at(tg_grad(z), i), nwant[i]);
    tg_tape_free(T);
    tg_free(x);
    tg_free(z);
}
END_TEST

/* Padding with -inf (max) and zeros counted in the mean (avg), by hand. */
START_TEST(test_padding_by_hand)
{
    double v[4] = {-1, -2, -3, -4};
    tg_tensor *x = tg_from_array(F64, SH(1, 1, 2, 2), v);
    const int64_t k[2] = {2, 2}, s[2] = {1, 1}, p[2] = {1, 1};
    tg_tensor *m = tg_ad_max_pool2d(NULL, x, k, s, p); /* (1,1,3,3) */
    tg_tensor *a = tg_ad_avg_pool2d(NULL, x, k, s, p);
    tgt_assert_shape(m, SH(1, 1, 3, 3));
    const double mw[9] = {-1, -1, -2, -1, -1, -2, -3, -3, -4};
    const double aw[9] = {-0.25, -0.75, -0.5, -1, -2.5, -1.5, -0.75, -1.75, -1};
    for (int64_t i = 0; i < 9; i++) {
        ck_assert_double_eq(tgt_at(m, i), mw[i]);
        ck_assert_double_eq(tgt_at(a, i), aw[i]);
    }
    tg_free(m);
    tg_free(a);
    tg_free(x);
}
END_TEST

/* Sizes near the limits: a kernel of 2^63 - 1 padded by half of it covers
 * every input (each window's bounds computed without overflow), and an
 * empty batch or channel axis gives an empty result and gradient. */
START_TEST(test_huge_and_empty)
{
    tg_tensor *x = pool_input(F64, 0, (const int64_t[]){1, 2, 3, 4}, 'c', 0);
    const int64_t big[2] = {INT64_MAX, INT64_MAX}, half[2] = {INT64_MAX / 2, INT64_MAX / 2};
    tg_tensor *m = tg_ad_max_pool2d(NULL, x, big, big, half);
    tgt_assert_shape(m, SH(1, 2, 1, 1));
    tg_tensor *mx = tg_max_axis(x, 3, false), *mx2 = tg_max_axis(mx, 2, false);
    for (int64_t i = 0; i < 2; i++)
        ck_assert_double_eq(tgt_at(m, i), tgt_at(mx2, i));
    tg_tensor *a = tg_ad_avg_pool2d(NULL, x, big, (const int64_t[]){1, 1}, half);
    tgt_assert_shape(a, SH(1, 2, 3, 4)); /* a span of 1: one window per element */
    tg_free(m);
    tg_free(mx);
    tg_free(mx2);
    tg_free(a);

    tg_tensor *e = tg_zeros(F64, SH(0, 3, 4, 4));
    tg_requires_grad(e, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *parts[3] = {
        tg_ad_max_pool2d(T, e, (const int64_t[]){2, 2}, NULL, NULL),
        tg_ad_avg_pool2d(T, e, (const int64_t[]){3, 3}, (const int64_t[]){1, 1}, NULL),
        tg_ad_adaptive_avg_pool2d(T, e, 3, 5),
    };
    tgt_assert_shape(parts[0], SH(0, 3, 2, 2));
    tgt_assert_shape(parts[1], SH(0, 3, 2, 2));
    tgt_assert_shape(parts[2], SH(0, 3, 3, 5));
    tg_tensor *loss = tg_ad_add(T, tg_ad_add(T, tg_ad_sum(T, parts[0]), tg_ad_sum(T, parts[1])),
                                tg_ad_sum(T, parts[2]));
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    tgt_assert_shape(tg_grad(e), SH(0, 3, 4, 4));
    tg_tape_free(T);
    tg_free(e);
    tg_free(x);
}
END_TEST

/* ---- bad input -------------------------------------------------------------------- */

#define ASSERT_FAILS(expr, code, msg)                                          \
    do {                                                                       \
        tg_clear_error();                                                      \
        ck_assert_msg((expr) == NULL, "%s made a result", #expr);              \
        TGT_ASSERT_ERR(code, msg);                                             \
    } while (0)

START_TEST(test_bad_arguments)
{
    tg_tensor *x = pool_input(F64, 0, (const int64_t[]){1, 2, 4, 5}, 'c', 0);
    tg_tensor *x3 = tg_zeros(F64, SH(2, 4, 5)), *flat = tg_zeros(F64, SH(1, 2, 0, 5));
    tg_tensor *i32 = tg_zeros(TG_INT32, SH(1, 1, 4, 4));
    tg_tape *T = tg_tape_new();
    tg_requires_grad(x, true);
    const int64_t k2[2] = {2, 2};

    ASSERT_FAILS(tg_ad_max_pool2d(T, x, NULL, NULL, NULL), TG_ERR_NULL,
                 "tg_ad_max_pool2d: kernel is NULL");
    ASSERT_FAILS(tg_ad_avg_pool2d(T, x, NULL, k2, NULL), TG_ERR_NULL,
                 "tg_ad_avg_pool2d: kernel is NULL");
    ASSERT_FAILS(tg_ad_max_pool2d(T, x3, k2, NULL, NULL), TG_ERR_SHAPE,
                 "tg_ad_max_pool2d: x has shape (2,4,5); expected (batch, channels, height, width)");
    ASSERT_FAILS(tg_ad_adaptive_avg_pool2d(T, x3, 2, 2), TG_ERR_SHAPE,
                 "tg_ad_adaptive_avg_pool2d: x has shape (2,4,5); expected (batch, channels, "
                 "height, width)");
    ASSERT_FAILS(tg_ad_avg_pool2d(T, flat, k2, NULL, NULL), TG_ERR_SHAPE,
                 "tg_ad_avg_pool2d: x has shape (1,2,0,5); its height and width must be positive");
    ASSERT_FAILS(tg_ad_max_pool2d(T, i32, k2, NULL, NULL), TG_ERR_DTYPE,
                 "tg_ad_max_pool2d: x is int32; this op needs a float dtype (tg_ad_cast to "
                 "float32 or float64 first)");
    ASSERT_FAILS(tg_ad_adaptive_avg_pool2d(T, i32, 1, 1), TG_ERR_DTYPE,
                 "tg_ad_adaptive_avg_pool2d: x is int32; this op needs a float dtype");
    ASSERT_FAILS(tg_ad_max_pool2d(T, x, (const int64_t[]){0, 2}, NULL, NULL), TG_ERR_VALUE,
                 "tg_ad_max_pool2d: kernel (0,2) must be positive");
    ASSERT_FAILS(tg_ad_avg_pool2d(T, x, (const int64_t[]){2, -1}, NULL, NULL), TG_ERR_VALUE,
                 "tg_ad_avg_pool2d: kernel (2,-1) must be positive");
    ASSERT_FAILS(tg_ad_max_pool2d(T, x, k2, (const int64_t[]){1, 0}, NULL), TG_ERR_VALUE,
                 "tg_ad_max_pool2d: stride (1,0) must be positive");
    ASSERT_FAILS(tg_ad_avg_pool2d(T, x, k2, (const int64_t[]){-2, 1}, NULL), TG_ERR_VALUE,
                 "tg_ad_avg_pool2d: stride (-2,1) must be positive");
    ASSERT_FAILS(tg_ad_max_pool2d(T, x, k2, NULL, (const int64_t[]){0, -1}), TG_ERR_VALUE,
                 "tg_ad_max_pool2d: padding (0,-1) must not be negative");
    ASSERT_FAILS(tg_ad_max_pool2d(T, x, (const int64_t[]){3, 3}, NULL, (const int64_t[]){2, 1}),
                 TG_ERR_VALUE,
                 "tg_ad_max_pool2d: padding (2,1) is more than half the kernel (3,3)");
    ASSERT_FAILS(tg_ad_avg_pool2d(T, x, k2, NULL, (const int64_t[]){1, 2}), TG_ERR_VALUE,
                 "tg_ad_avg_pool2d: padding (1,2) is more than half the kernel (2,2)");
    ASSERT_FAILS(tg_ad_max_pool2d(T, x, (const int64_t[]){5, 2}, NULL, NULL), TG_ERR_SHAPE,
                 "tg_ad_max_pool2d: kernel (5,2) is larger than the input (4,5) with padding (0,0)");
    ASSERT_FAILS(tg_ad_avg_pool2d(T, x, (const int64_t[]){2, 8}, NULL, (const int64_t[]){0, 1}),
                 TG_ERR_SHAPE,
                 "tg_ad_avg_pool2d: kernel (2,8) is larger than the input (4,5) with padding (0,1)");
    ASSERT_FAILS(tg_ad_adaptive_avg_pool2d(T, x, 0, 2), TG_ERR_VALUE,
                 "tg_ad_adaptive_avg_pool2d: output size (0,2) must be positive");
    ASSERT_FAILS(tg_ad_adaptive_avg_pool2d(T, x, 3, -1), TG_ERR_VALUE,
                 "tg_ad_adaptive_avg_pool2d: output size (3,-1) must be positive");
    ASSERT_FAILS(tg_ad_adaptive_avg_pool2d(T, x, INT64_MAX / 2, 1), TG_ERR_OVERFLOW,
                 "tg_ad_adaptive_avg_pool2d: output size (4611686018427387903,1) times the "
                 "input's (4,5) overflows");
    /* an output whose element count overflows, checked before allocating */
    ASSERT_FAILS(tg_ad_adaptive_avg_pool2d(T, x, 1LL << 40, 1LL << 40), TG_ERR_OVERFLOW,
                 "tg_ad_adaptive_avg_pool2d: shape (1,2,1099511627776,1099511627776)");

    /* NULL input: NULL and the earlier error kept */
    ck_assert_ptr_null(tg_reshape(x, SH(7)));
    const char *why = "tg_reshape: cannot reshape (1,2,4,5) into (7,)";
    ck_assert_ptr_null(tg_ad_max_pool2d(T, NULL, k2, NULL, NULL));
    ck_assert_ptr_null(tg_ad_avg_pool2d(T, NULL, NULL, NULL, NULL));
    ck_assert_ptr_null(tg_ad_adaptive_avg_pool2d(T, NULL, 0, 0));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, why);

    /* a result of another tape */
    tg_tape *U = tg_tape_new();
    tg_tensor *u = tg_ad_mul_scalar(U, x, 2.0);
    ASSERT_FAILS(tg_ad_max_pool2d(T, u, k2, NULL, NULL), TG_ERR_TAPE,
                 "tg_ad_max_pool2d: an input was made by another tape");
    ASSERT_FAILS(tg_ad_adaptive_avg_pool2d(NULL, u, 1, 1), TG_ERR_TAPE,
                 "tg_ad_adaptive_avg_pool2d: the tape is NULL but an input belongs to a tape");
    tg_tape_free(U);
    ck_assert_uint_eq(tg_tape_length(T), 0);

    tg_tape_free(T);
    tg_free(x);
    tg_free(x3);
    tg_free(flat);
    tg_free(i32);
}
END_TEST

/* ---- allocation failures ---------------------------------------------------------- */

static const int64_t oom_k[2] = {3, 2}, oom_s[2] = {2, 1}, oom_p[2] = {1, 1};

static tg_tensor *oom_max(const tg_tensor *x)
{
    return tg_ad_max_pool2d(NULL, (tg_tensor *)(uintptr_t)x, oom_k, oom_s, oom_p);
}
static tg_tensor *oom_avg(const tg_tensor *x)
{
    return tg_ad_avg_pool2d(NULL, (tg_tensor *)(uintptr_t)x, oom_k, oom_s, oom_p);
}
static tg_tensor *oom_adaptive(const tg_tensor *x)
{
    return tg_ad_adaptive_avg_pool2d(NULL, (tg_tensor *)(uintptr_t)x, 3, 2);
}

/* op on a tape, forward, backward and a second-order walk: x's gradient
 * of the gradient as a caller-owned copy. */
static tg_tensor *on_tape(const tg_tensor *x0, int op)
{
    tg_tensor *x = tg_clone(x0), *r = NULL, *g, *h;
    tg_tape *T = x ? tg_tape_new() : NULL;
    if (T) {
        tg_requires_grad(x, true);
        tg_tensor *y = op == 0   ? tg_ad_max_pool2d(T, x, oom_k, oom_s, oom_p)
                       : op == 1 ? tg_ad_avg_pool2d(T, x, oom_k, oom_s, oom_p)
                                 : tg_ad_adaptive_avg_pool2d(T, x, 3, 2);
        tg_tensor *l = tg_ad_sum(T, tg_ad_pow_scalar(T, y, 3.0));
        if (l && !tg_ad_grad(T, l, NULL, 1, &x, &g, true) &&
            !tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, g, g)), NULL, 1, &x, &h, false))
            r = tg_clone(h);
        tg_tape_free(T);
    }
    tg_free(x);
    return r;
}
static tg_tensor *oom_tape_max(const tg_tensor *x) { return on_tape(x, 0); }
static tg_tensor *oom_tape_avg(const tg_tensor *x) { return on_tape(x, 1); }
static tg_tensor *oom_tape_adaptive(const tg_tensor *x) { return on_tape(x, 2); }

START_TEST(test_allocation_failures)
{
    tg_tensor *x = pool_input(F64, 1, (const int64_t[]){2, 2, 5, 4}, 't', 0);
    ck_assert_int_ge(tgt_sweep_failures(oom_max, x, "tg_ad_max_pool2d: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_avg, x, "tg_ad_avg_pool2d: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_adaptive, x,
                                        "tg_ad_adaptive_avg_pool2d: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_tape_max, x, "out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(oom_tape_avg, x, "out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(oom_tape_adaptive, x, "out of memory"), 2);
    tg_free(x);
}
END_TEST

/* Under every tape limit up to what it needs, each op either succeeds
 * (recorded) or fails with the limit's error, recording nothing. */
START_TEST(test_tape_limit)
{
    tg_tensor *x = pool_input(F64, 0, (const int64_t[]){2, 3, 6, 5}, 'c', 0);
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    for (int op = 0; op < 3; op++) {
        bool done = false;
        for (size_t limit = 64; !done; limit += 64) {
            tg_tape_reset(T);
            tg_tape_set_limit(T, limit);
            tg_clear_error();
            tg_tensor *y = op == 0   ? tg_ad_max_pool2d(T, x, oom_k, oom_s, oom_p)
                           : op == 1 ? tg_ad_avg_pool2d(T, x, oom_k, oom_s, oom_p)
                                     : tg_ad_adaptive_avg_pool2d(T, x, 4, 4);
            if (y) {
                ck_assert_uint_eq(tg_tape_length(T), 1);
                done = true;
            } else {
                TGT_ASSERT_ERR(TG_ERR_NOMEM, "the tape's memory limit");
                ck_assert_uint_eq(tg_tape_length(T), 0);
            }
            ck_assert_uint_lt(limit, 1 << 20);
        }
    }
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

Suite *test_pool_suite(void); /* called by the generated runner */

Suite *test_pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tgt_tcase("reference");
    tcase_add_loop_test(tc, test_against_torch, 0, 2 * NCASES);
    tcase_add_loop_test(tc, test_second_order_against_torch, 0, 2 * NCASES);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("gradients");
    tcase_add_loop_test(tc, test_gradcheck, 0, NCASES);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("semantics");
    tcase_add_test(tc, test_max_choices);
    tcase_add_test(tc, test_padding_by_hand);
    tcase_add_test(tc, test_huge_and_empty);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_allocation_failures);
    tcase_add_test(tc, test_tape_limit);
    suite_add_tcase(s, tc);
    return s;
}
