/* test_elementwise.c - tensor/elementwise.c: every binary and unary op
 * against libm (float64) and float arithmetic (float32) on awkward inputs,
 * NumPy broadcasting in both directions, scalar ops, the _into forms and
 * axpy, non-contiguous operands and outputs, and every argument check. */
#include "helpers.h"

#include <math.h>
#include <stdint.h>

#include "tensor/internal.h"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32

/* ---- references --------------------------------------------------------- */


static const char *const binop_name[TG_BINOP_COUNT_] = {
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "ge"};
static const char *const unop_name[TG_UNOP_COUNT_] = {
    "neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "sign", "step"};

/* NumPy's maximum/minimum: NaN wins from either side. */
static double ref_bin(tg_binop op, double x, double y)
{
    switch (op) {
    case TG_ADD: return x + y;
    case TG_SUB: return x - y;
    case TG_MUL: return x * y;
    case TG_DIV: return x / y;
    case TG_POW: return pow(x, y);
    case TG_MAXIMUM: return isnan(x) || isnan(y) ? (double)NAN : x > y ? x : y;
    case TG_MINIMUM: return isnan(x) || isnan(y) ? (double)NAN : x < y ? x : y;
    case TG_GE: return x >= y ? 1.0 : 0.0;
    default: break;
    }
    ck_abort_msg("bad op %d", (int)op);
    return 0;
}

/* The same in float arithmetic (no double rounding). */
static float ref_bin32(tg_binop op, float x, float y)
{
    switch (op) {
    case TG_ADD: return x + y;
    case TG_SUB: return x - y;
    case TG_MUL: return x * y;
    case TG_DIV: return x / y;
    case TG_POW: return powf(x, y);
    case TG_MAXIMUM: return isnan(x) || isnan(y) ? NAN : x > y ? x : y;
    case TG_MINIMUM: return isnan(x) || isnan(y) ? NAN : x < y ? x : y;
    case TG_GE: return x >= y ? 1.0f : 0.0f;
    default: break;
    }
    ck_abort_msg("bad op %d", (int)op);
    return 0;
}

/* sigmoid from long double: an independent reference. */
static double ref_sigmoid(double x)
{
    if (isnan(x))
        return (double)NAN;
    return (double)(1.0L / (1.0L + expl(-(long double)x)));
}

static double ref_un(tg_unop op, double x)
{
    switch (op) {
    case TG_NEG: return -x;
    case TG_EXP: return exp(x);
    case TG_LOG: return log(x);
    case TG_SQRT: return sqrt(x);
    case TG_ABS: return fabs(x);
    case TG_TANH: return tanh(x);
    case TG_SIGMOID: return ref_sigmoid(x);
    case TG_RELU: return isnan(x) ? (double)NAN : x > 0 ? x : 0.0;
    case TG_SIGN: return isnan(x) ? (double)NAN : x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0;
    case TG_STEP: return x > 0 ? 1.0 : 0.0;
    default: break;
    }
    ck_abort_msg("bad op %d", (int)op);
    return 0;
}

static float ref_un32(tg_unop op, float x)
{
    switch (op) {
    case TG_NEG: return -x;
    case TG_EXP: return expf(x);
    case TG_LOG: return logf(x);
    case TG_SQRT: return sqrtf(x);
    case TG_ABS: return fabsf(x);
    case TG_TANH: return tanhf(x);
    case TG_SIGMOID: return (float)ref_sigmoid((double)x);
    case TG_RELU: return isnan(x) ? NAN : x > 0 ? x : 0.0f;
    case TG_SIGN: return isnan(x) ? NAN : x > 0 ? 1.0f : x < 0 ? -1.0f : 0.0f;
    case TG_STEP: return x > 0 ? 1.0f : 0.0f;
    default: break;
    }
    ck_abort_msg("bad op %d", (int)op);
    return 0;
}

/* sigmoid is computed by a different formula: allow about three ulps. */
static bool close_sigmoid(double got, double want, double rel)
{
    if (isnan(want))
        return isnan(got);
    return fabs(got - want) <= rel * fabs(want) || got == want;
}

/* ---- walking shapes ------------------------------------------------------ */

static void unravel(int64_t flat, int nd, const int64_t *shape, int64_t *idx)
{
    for (int k = nd - 1; k >= 0; k--) {
        idx[k] = shape[k] ? flat % shape[k] : 0;
        flat = shape[k] ? flat / shape[k] : 0;
    }
}

/* Element of t broadcast to an nd-dimensional index (NumPy rules). */
static double bget(const tg_tensor *t, int nd, const int64_t *idx)
{
    int64_t ti[TG_MAX_DIMS];
    int lead = nd - tg_ndim(t);
    for (int k = 0; k < tg_ndim(t); k++)
        ti[k] = tg_shape(t)[k] == 1 ? 0 : idx[k + lead];
    double v = 0;
    ck_assert_int_eq(tg_get(t, ti, &v), TG_OK);
    return v;
}

/* r == op(a, b) element by element, operands read through tg_get with
 * broadcasting (independent of the kernels' strided walk). */
static void check_binary_result(const tg_tensor *r, tg_binop op, const tg_tensor *a,
                                const tg_tensor *b)
{
    ck_assert_ptr_nonnull(r);
    int nd = tg_ndim(r);
    int64_t idx[TG_MAX_DIMS];
    for (int64_t i = 0; i < tg_numel(r); i++) {
        unravel(i, nd, tg_shape(r), idx);
        double x = bget(a, nd, idx), y = bget(b, nd, idx);
        double want = tg_dtype_of(r) == F64
                          ? ref_bin(op, x, y)
                          : (double)ref_bin32(op, (float)x, (float)y);
        double got = bget(r, nd, idx);
        ck_assert_msg(tgt_same_value(got, want), "%s(%g, %g) at %lld: got %.17g, want %.17g",
                      binop_name[op], x, y, (long long)i, got, want);
    }
}

static void check_binary(tg_binop op, const tg_tensor *a, const tg_tensor *b,
                         int nd, const int64_t *shape)
{
    tg_tensor *r = tg_binary(op, a, b);
    ck_assert_msg(r != NULL, "%s failed: %s", binop_name[op], tg_last_message());
    tgt_assert_shape(r, nd, shape);
    ck_assert_int_eq(tg_dtype_of(r), tg_dtype_of(a));
    ck_assert(tg_is_contiguous(r));
    check_binary_result(r, op, a, b);
    tg_free(r);
}

static void check_unary_result(const tg_tensor *r, tg_unop op, const tg_tensor *a)
{
    ck_assert_ptr_nonnull(r);
    int nd = tg_ndim(r);
    int64_t idx[TG_MAX_DIMS];
    for (int64_t i = 0; i < tg_numel(r); i++) {
        unravel(i, nd, tg_shape(r), idx);
        double x = bget(a, nd, idx);
        double got = bget(r, nd, idx);
        double want = tg_dtype_of(r) == F64 ? ref_un(op, x)
                                            : (double)ref_un32(op, (float)x);
        bool ok = op == TG_SIGMOID
                      ? close_sigmoid(got, want, tg_dtype_of(r) == F64 ? 4e-16 : 3.6e-7)
                      : tgt_same_value(got, want);
        ck_assert_msg(ok, "%s(%.17g) at %lld: got %.17g, want %.17g", unop_name[op],
                      x, (long long)i, got, want);
    }
}

static void check_unary(tg_unop op, const tg_tensor *a)
{
    tg_tensor *r = tg_unary(op, a);
    ck_assert_msg(r != NULL, "%s failed: %s", unop_name[op], tg_last_message());
    tgt_assert_shape(r, tg_ndim(a), tg_shape(a));
    check_unary_result(r, op, a);
    tg_free(r);
}

/* Deterministic, irregular values (no RNG dependency). */
static tg_tensor *pattern(tg_dtype dt, int ndim, const int64_t *shape, double seed)
{
    tg_tensor *t = tg_empty(dt, ndim, shape);
    ck_assert_ptr_nonnull(t);
    int64_t idx[TG_MAX_DIMS];
    for (int64_t i = 0; i < tg_numel(t); i++) {
        unravel(i, ndim, shape, idx);
        double v = sin(seed + 0.7 * (double)i) * 3.0 + 0.125 * (double)(i % 5);
        ck_assert_int_eq(tg_set(t, idx, v), TG_OK);
    }
    return t;
}

static void assert_equal_tensors(const tg_tensor *x, const tg_tensor *y)
{
    ck_assert_int_eq(tg_ndim(x), tg_ndim(y));
    tgt_assert_shape(x, tg_ndim(y), tg_shape(y));
    for (int64_t i = 0; i < tg_numel(x); i++)
        ck_assert_msg(tgt_same_value(tgt_at(x, i), tgt_at(y, i)),
                      "element %lld: %.17g vs %.17g", (long long)i, tgt_at(x, i),
                      tgt_at(y, i));
}

/* Awkward inputs: negative, both zeros, fractions, NaN and the infinities. */
static const double XS[] = {-2.5, -1.0, -0.0, 0.0, 0.5, 3.0, (double)NAN, (double)INFINITY, -(double)INFINITY};
enum { NXS = sizeof XS / sizeof XS[0] };

static tg_tensor *xs_column(tg_dtype dt)
{
    tg_tensor *t = tg_empty(dt, TG_SHAPE(NXS, 1));
    for (int64_t i = 0; i < NXS; i++)
        ck_assert_int_eq(tg_set(t, (const int64_t[]){i, 0}, XS[i]), TG_OK);
    return t;
}

/* ======================================================================== */
/* values                                                                    */
/* ======================================================================== */

/* Loop tests: _i is the op code, so each op is reported on its own. */
START_TEST(test_binary_op_f64)
{
    tg_binop op = (tg_binop)_i;
    /* (9,1) op (1,9): every pair of awkward inputs at once. */
    tg_tensor *a = xs_column(F64);
    tg_tensor *b = tg_transpose(a, 0, 1);
    check_binary(op, a, b, TG_SHAPE(NXS, NXS));
    /* Same-shape contiguous operands (the kernel's fast path). */
    tg_tensor *x = pattern(F64, TG_SHAPE(7, 9), 0.3);
    tg_tensor *y = pattern(F64, TG_SHAPE(7, 9), 2.1);
    check_binary(op, x, y, TG_SHAPE(7, 9));
    check_binary(op, y, x, TG_SHAPE(7, 9));
    tg_free(a);
    tg_free(b);
    tg_free(x);
    tg_free(y);
}
END_TEST

START_TEST(test_binary_op_f32)
{
    tg_binop op = (tg_binop)_i;
    tg_tensor *a = xs_column(F32);
    tg_tensor *b = tg_transpose(a, 0, 1);
    check_binary(op, a, b, TG_SHAPE(NXS, NXS));
    /* Contiguous float operands: results are float arithmetic, bit for bit. */
    tg_tensor *x = pattern(F32, TG_SHAPE(7, 9), 0.3);
    tg_tensor *y = pattern(F32, TG_SHAPE(7, 9), 2.1);
    tg_tensor *r = tg_binary(op, x, y);
    const float *xp = tg_data(x), *yp = tg_data(y), *rp = tg_data(r);
    for (int i = 0; i < 63; i++)
        ck_assert_msg(tgt_same_value((double)rp[i], (double)ref_bin32(op, xp[i], yp[i])),
                      "%s f32 at %d", binop_name[op], i);
    tg_free(a);
    tg_free(b);
    tg_free(x);
    tg_free(y);
    tg_free(r);
}
END_TEST

START_TEST(test_named_binary_ops_match_generic)
{
    tg_tensor *a = xs_column(F64);
    tg_tensor *b = tg_transpose(a, 0, 1);
    tg_tensor *(*const fns[])(const tg_tensor *, const tg_tensor *) = {
        tg_add, tg_sub, tg_mul, tg_div, tg_pow, tg_maximum, tg_minimum};
    for (int op = 0; op < (int)(sizeof fns / sizeof fns[0]); op++) {
        tg_tensor *r = fns[op](a, b);
        check_binary_result(r, (tg_binop)op, a, b);
        tg_free(r);
    }
    tg_free(a);
    tg_free(b);
}
END_TEST

START_TEST(test_nan_semantics)
{
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(3), (const double[]){(double)NAN, 1, (double)NAN});
    tg_tensor *b = tg_from_array(F64, TG_SHAPE(3), (const double[]){1, (double)NAN, (double)NAN});
    tg_tensor *mx = tg_maximum(a, b);
    tg_tensor *mn = tg_minimum(b, a);
    tg_tensor *ge = tg_binary(TG_GE, a, b);
    for (int i = 0; i < 3; i++) {
        ck_assert(isnan(tgt_at(mx, i)));
        ck_assert(isnan(tgt_at(mn, i)));
        TGT_ASSERT_SAME(tgt_at(ge, i), 0.0); /* comparisons with NaN are false */
    }
    tg_tensor *r = tg_relu(a);
    ck_assert(isnan(tgt_at(r, 0)));
    TGT_ASSERT_SAME(tgt_at(r, 1), 1.0);
    tg_tensor *sg = tg_unary(TG_SIGN, a);
    ck_assert(isnan(tgt_at(sg, 0)));
    tg_tensor *st = tg_unary(TG_STEP, a);
    TGT_ASSERT_SAME(tgt_at(st, 0), 0.0);
    TGT_ASSERT_SAME(tgt_at(st, 1), 1.0);
    tg_free(a);
    tg_free(b);
    tg_free(mx);
    tg_free(mn);
    tg_free(ge);
    tg_free(r);
    tg_free(sg);
    tg_free(st);
}
END_TEST

static const double US[] = {-1000, -20, -2.5, -1, -1e-300, -0.0, 0.0, 1e-300, 0.5,
                            1,     3,   20,   1000, (double)NAN,   (double)INFINITY, -(double)INFINITY};
enum { NUS = sizeof US / sizeof US[0] };

START_TEST(test_unary_op_f64)
{
    tg_unop op = (tg_unop)_i;
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(NUS), US);
    check_unary(op, a);
    tg_tensor *x = pattern(F64, TG_SHAPE(6, 7), 0.8);
    check_unary(op, x);
    tg_free(a);
    tg_free(x);
}
END_TEST

START_TEST(test_unary_op_f32)
{
    tg_unop op = (tg_unop)_i;
    tg_tensor *a64 = tg_from_array(F64, TG_SHAPE(NUS), US);
    tg_tensor *a = tg_cast(a64, F32);
    check_unary(op, a);
    /* float functions (expf, tanhf, ...) on contiguous data, bit for bit */
    tg_tensor *x = pattern(F32, TG_SHAPE(5, 11), 1.0);
    check_unary(op, x);
    if (op != TG_SIGMOID) {
        tg_tensor *r = tg_unary(op, x);
        const float *xp = tg_data(x), *rp = tg_data(r);
        for (int i = 0; i < 55; i++)
            ck_assert_msg(tgt_same_value((double)rp[i], (double)ref_un32(op, xp[i])),
                          "%s f32 at %d", unop_name[op], i);
        tg_free(r);
    }
    tg_free(a64);
    tg_free(a);
    tg_free(x);
}
END_TEST

START_TEST(test_sigmoid_extremes)
{
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(NUS), US);
    tg_tensor *s = tg_sigmoid(a);
    TGT_ASSERT_SAME(tgt_at(s, 0), 0.0);  /* sigmoid(-1000): no overflow, no NaN */
    TGT_ASSERT_SAME(tgt_at(s, 12), 1.0); /* sigmoid(1000) */
    TGT_ASSERT_SAME(tgt_at(s, 6), 0.5);
    TGT_ASSERT_SAME(tgt_at(s, 14), 1.0);
    TGT_ASSERT_SAME(tgt_at(s, 15), 0.0);
    for (int i = 0; i < NUS; i++)
        ck_assert(i == 13 || !isnan(tgt_at(s, i)));
    ck_assert(isnan(tgt_at(s, 13)));
    tg_tensor *a32 = tg_cast(a, F32);
    tg_tensor *s32 = tg_sigmoid(a32);
    TGT_ASSERT_SAME(tgt_at(s32, 0), 0.0);
    TGT_ASSERT_SAME(tgt_at(s32, 12), 1.0);
    ck_assert(tgt_at(s32, 1) > 0.0); /* sigmoid(-20) in float: tiny, not 0/NaN */
    tg_free(a);
    tg_free(s);
    tg_free(a32);
    tg_free(s32);
}
END_TEST

START_TEST(test_sign_step_relu_log_values)
{
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(NUS), US);
    tg_tensor *sg = tg_unary(TG_SIGN, a);
    TGT_ASSERT_SAME(tgt_at(sg, 2), -1.0);
    TGT_ASSERT_SAME(tgt_at(sg, 4), -1.0);
    TGT_ASSERT_SAME(tgt_at(sg, 6), 0.0);
    TGT_ASSERT_SAME(tgt_at(sg, 7), 1.0);
    TGT_ASSERT_SAME(tgt_at(sg, 14), 1.0);
    TGT_ASSERT_SAME(tgt_at(sg, 15), -1.0);
    ck_assert(isnan(tgt_at(sg, 13)));
    tg_tensor *stp = tg_unary(TG_STEP, a);
    TGT_ASSERT_SAME(tgt_at(stp, 6), 0.0); /* step(0) = 0 */
    TGT_ASSERT_SAME(tgt_at(stp, 5), 0.0);
    TGT_ASSERT_SAME(tgt_at(stp, 7), 1.0);
    TGT_ASSERT_SAME(tgt_at(stp, 13), 0.0); /* step(NaN) = 0 */
    tg_tensor *rl = tg_relu(a);
    TGT_ASSERT_SAME(tgt_at(rl, 0), 0.0);
    TGT_ASSERT_SAME(tgt_at(rl, 12), 1000.0);
    TGT_ASSERT_SAME(tgt_at(rl, 15), 0.0);
    TGT_ASSERT_SAME(tgt_at(rl, 14), (double)INFINITY);
    ck_assert(isnan(tgt_at(rl, 13))); /* relu(NaN) is NaN */
    tg_tensor *lg = tg_log(a);
    ck_assert(isnan(tgt_at(lg, 2)));
    TGT_ASSERT_SAME(tgt_at(lg, 6), -(double)INFINITY);
    TGT_ASSERT_SAME(tgt_at(lg, 9), 0.0);
    tg_tensor *sq = tg_sqrt(a);
    ck_assert(isnan(tgt_at(sq, 3)));
    TGT_ASSERT_SAME(tgt_at(sq, 14), (double)INFINITY);
    tg_free(a);
    tg_free(sg);
    tg_free(stp);
    tg_free(rl);
    tg_free(lg);
    tg_free(sq);
}
END_TEST

START_TEST(test_named_unary_ops_match_generic)
{
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(NUS), US);
    tg_tensor *(*const fns[])(const tg_tensor *) = {
        tg_neg, tg_exp, tg_log, tg_sqrt, tg_abs, tg_tanh, tg_sigmoid, tg_relu};
    for (int op = 0; op < (int)(sizeof fns / sizeof fns[0]); op++) {
        tg_tensor *r = fns[op](a);
        check_unary_result(r, (tg_unop)op, a);
        tg_tensor *g = tg_unary((tg_unop)op, a);
        assert_equal_tensors(r, g);
        tg_free(r);
        tg_free(g);
    }
    tg_free(a);
}
END_TEST

/* ======================================================================== */
/* broadcasting                                                              */
/* ======================================================================== */

START_TEST(test_broadcast_column_row)
{
    tg_tensor *c = tg_from_array(F64, TG_SHAPE(3, 1), (const double[]){1, 2, 3});
    tg_tensor *r = tg_from_array(F64, TG_SHAPE(1, 4), (const double[]){10, 20, 30, 40});
    tg_tensor *s = tg_add(c, r);
    tgt_assert_shape(s, TG_SHAPE(3, 4));
    double want[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            want[i * 4 + j] = (i + 1) + 10.0 * (j + 1);
    for (int i = 0; i < 12; i++)
        TGT_ASSERT_SAME(tgt_at(s, i), want[i]);
    tg_tensor *s2 = tg_add(r, c);
    tgt_assert_shape(s2, TG_SHAPE(3, 4));
    assert_equal_tensors(s, s2);
    check_binary(TG_SUB, c, r, TG_SHAPE(3, 4));
    check_binary(TG_SUB, r, c, TG_SHAPE(3, 4));
    check_binary(TG_DIV, r, c, TG_SHAPE(3, 4));
    tg_free(c);
    tg_free(r);
    tg_free(s);
    tg_free(s2);
}
END_TEST

START_TEST(test_broadcast_trailing_and_leading)
{
    tg_tensor *a = pattern(F64, TG_SHAPE(2, 3, 4), 0.0);
    tg_tensor *v = tg_from_array(F64, TG_SHAPE(4), (const double[]){100, 200, 300, 400});
    tg_tensor *s = tg_add(a, v);
    tgt_assert_shape(s, TG_SHAPE(2, 3, 4));
    double x, y;
    ck_assert_int_eq(tg_get(a, (const int64_t[]){1, 2, 3}, &x), TG_OK);
    ck_assert_int_eq(tg_get(s, (const int64_t[]){1, 2, 3}, &y), TG_OK);
    TGT_ASSERT_SAME(y, x + 400);
    tg_free(s);
    check_binary(TG_ADD, a, v, TG_SHAPE(2, 3, 4));
    check_binary(TG_SUB, v, a, TG_SHAPE(2, 3, 4)); /* (4,) - (2,3,4) */
    check_binary(TG_POW, v, a, TG_SHAPE(2, 3, 4));
    /* (2,1,4) * (3,1) -> (2,3,4): both sides broadcast. */
    tg_tensor *p = pattern(F64, TG_SHAPE(2, 1, 4), 1.0);
    tg_tensor *q = pattern(F64, TG_SHAPE(3, 1), 2.0);
    check_binary(TG_MUL, p, q, TG_SHAPE(2, 3, 4));
    check_binary(TG_MAXIMUM, q, p, TG_SHAPE(2, 3, 4));
    /* (1,) with (1,1) is (1,1); (5,1,1) with (1,6,1) with size-1 tails. */
    tg_tensor *o1 = tg_ones(F64, TG_SHAPE(1));
    tg_tensor *o11 = tg_full(F64, TG_SHAPE(1, 1), 2.0);
    check_binary(TG_DIV, o1, o11, TG_SHAPE(1, 1));
    tg_tensor *m = pattern(F64, TG_SHAPE(5, 1, 1), 3.0);
    tg_tensor *n = pattern(F64, TG_SHAPE(1, 6, 1), 4.0);
    check_binary(TG_MINIMUM, m, n, TG_SHAPE(5, 6, 1));
    tg_free(a);
    tg_free(v);
    tg_free(p);
    tg_free(q);
    tg_free(o1);
    tg_free(o11);
    tg_free(m);
    tg_free(n);
}
END_TEST

START_TEST(test_broadcast_scalar_tensor)
{
    tg_tensor *s = tg_scalar(F64, 10);
    tg_tensor *a = pattern(F64, TG_SHAPE(2, 3), 0.5);
    tg_tensor *r = tg_add(s, a);
    tgt_assert_shape(r, TG_SHAPE(2, 3));
    TGT_ASSERT_SAME(tgt_at(r, 4), 10 + tgt_at(a, 4));
    tg_free(r);
    check_binary(TG_SUB, s, a, TG_SHAPE(2, 3));
    check_binary(TG_SUB, a, s, TG_SHAPE(2, 3));
    check_binary(TG_DIV, s, a, TG_SHAPE(2, 3));
    check_binary(TG_GE, a, s, TG_SHAPE(2, 3));
    /* 0-d with 0-d is 0-d. */
    tg_tensor *t = tg_scalar(F64, 4);
    tg_tensor *st = tg_mul(s, t);
    ck_assert_int_eq(tg_ndim(st), 0);
    double v;
    ck_assert_int_eq(tg_item(st, &v), TG_OK);
    TGT_ASSERT_SAME(v, 40.0);
    tg_free(s);
    tg_free(a);
    tg_free(t);
    tg_free(st);
}
END_TEST

START_TEST(test_broadcast_zero_size)
{
    tg_tensor *e = tg_zeros(F64, TG_SHAPE(0, 3));
    tg_tensor *r = tg_ones(F64, TG_SHAPE(1, 3));
    tg_tensor *s = tg_add(e, r);
    tgt_assert_shape(s, TG_SHAPE(0, 3));
    ck_assert_int_eq(tg_numel(s), 0);
    tg_tensor *s2 = tg_mul(r, e);
    tgt_assert_shape(s2, TG_SHAPE(0, 3));
    tg_tensor *c = tg_ones(F64, TG_SHAPE(3, 1));
    tg_tensor *z = tg_zeros(F64, TG_SHAPE(3, 0));
    tg_tensor *s3 = tg_sub(c, z);
    tgt_assert_shape(s3, TG_SHAPE(3, 0));
    tg_tensor *u = tg_exp(e);
    tgt_assert_shape(u, TG_SHAPE(0, 3));
    tg_tensor *k = tg_add_scalar(e, 1.0);
    tgt_assert_shape(k, TG_SHAPE(0, 3));
    ck_assert_int_eq(tg_binary_into(TG_ADD, e, e, r), TG_OK);
    ck_assert_int_eq(tg_axpy_into(e, 2.0, r), TG_OK);
    /* 0 does not broadcast against 2. */
    tg_tensor *two = tg_ones(F64, TG_SHAPE(2, 3));
    ck_assert_ptr_null(tg_mul(e, two));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_mul: shapes (0,3) and (2,3) cannot be broadcast");
    tg_free(e);
    tg_free(r);
    tg_free(s);
    tg_free(s2);
    tg_free(c);
    tg_free(z);
    tg_free(s3);
    tg_free(u);
    tg_free(k);
    tg_free(two);
}
END_TEST

START_TEST(test_broadcast_errors)
{
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(3, 4));
    tg_tensor *b = tg_zeros(F64, TG_SHAPE(5));
    ck_assert_ptr_null(tg_add(a, b));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_add: shapes (3,4) and (5,) cannot be broadcast");
    ck_assert_ptr_null(tg_sub(b, a));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_sub: shapes (5,) and (3,4) cannot be broadcast");
    tg_tensor *c = tg_zeros(F64, TG_SHAPE(4, 3));
    ck_assert_ptr_null(tg_div(a, c));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_div: shapes (3,4) and (4,3) cannot be broadcast");
    tg_tensor *d = tg_zeros(F64, TG_SHAPE(2, 3, 5));
    tg_tensor *v = tg_zeros(F64, TG_SHAPE(4));
    ck_assert_ptr_null(tg_binary(TG_GE, v, d));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_binary: shapes (4,) and (2,3,5) cannot be broadcast");
    ck_assert_ptr_null(tg_binary(TG_POW, d, a));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_pow: shapes (2,3,5) and (3,4)");
    ck_assert_ptr_null(tg_maximum(a, b));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_maximum: shapes (3,4) and (5,)");
    ck_assert_ptr_null(tg_minimum(a, b));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_minimum: shapes (3,4) and (5,)");
    ck_assert_ptr_null(tg_mul(a, b));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_mul: shapes (3,4) and (5,)");
    ck_assert_int_eq(tg_binary_into(TG_ADD, a, a, b), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_binary_into: shapes (3,4) and (5,) cannot be broadcast");
    tg_free(a);
    tg_free(b);
    tg_free(c);
    tg_free(d);
    tg_free(v);
}
END_TEST

/* ======================================================================== */
/* scalar ops                                                                */
/* ======================================================================== */

START_TEST(test_scalar_ops_f64)
{
    const double x[] = {-2, -0.5, 0, 1, 3, (double)NAN, (double)INFINITY};
    enum { N = sizeof x / sizeof x[0] };
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(N), x);
    tg_tensor *r[9];
    r[0] = tg_add_scalar(a, 1.5);
    r[1] = tg_sub_scalar(a, 1.0);
    r[2] = tg_mul_scalar(a, -2.0);
    r[3] = tg_div_scalar(a, 4.0);
    r[4] = tg_pow_scalar(a, 3.0);
    r[5] = tg_pow_scalar(a, 0.5);
    r[6] = tg_binary_scalar(TG_SUB, a, 10.0, true); /* 10 - a */
    r[7] = tg_binary_scalar(TG_DIV, a, 1.0, true);  /* 1 / a */
    r[8] = tg_binary_scalar(TG_POW, a, 2.0, true);  /* 2 ** a */
    for (int i = 0; i < N; i++) {
        TGT_ASSERT_SAME(tgt_at(r[0], i), x[i] + 1.5);
        TGT_ASSERT_SAME(tgt_at(r[1], i), x[i] - 1.0);
        TGT_ASSERT_SAME(tgt_at(r[2], i), x[i] * -2.0);
        TGT_ASSERT_SAME(tgt_at(r[3], i), x[i] / 4.0);
        TGT_ASSERT_SAME(tgt_at(r[4], i), pow(x[i], 3.0));
        TGT_ASSERT_SAME(tgt_at(r[5], i), pow(x[i], 0.5));
        TGT_ASSERT_SAME(tgt_at(r[6], i), 10.0 - x[i]);
        TGT_ASSERT_SAME(tgt_at(r[7], i), 1.0 / x[i]);
        TGT_ASSERT_SAME(tgt_at(r[8], i), pow(2.0, x[i]));
    }
    TGT_ASSERT_SAME(tgt_at(r[7], 2), (double)INFINITY); /* 1 / 0 */
    TGT_ASSERT_SAME(tgt_at(r[6], 0), 12.0);
    for (int k = 0; k < 9; k++)
        tg_free(r[k]);
    /* Every op in both orders against the reference. */
    for (int op = 0; op < TG_BINOP_COUNT_; op++)
        for (int first = 0; first < 2; first++)
            for (int si = 0; si < NXS; si++) {
                tg_tensor *q = tg_binary_scalar((tg_binop)op, a, XS[si], first);
                ck_assert_ptr_nonnull(q);
                tgt_assert_shape(q, TG_SHAPE(N));
                for (int i = 0; i < N; i++) {
                    double want = first ? ref_bin((tg_binop)op, XS[si], x[i])
                                        : ref_bin((tg_binop)op, x[i], XS[si]);
                    ck_assert_msg(tgt_same_value(tgt_at(q, i), want),
                                  "%s scalar %g first %d at %d: got %g want %g",
                                  binop_name[op], XS[si], first, i, tgt_at(q, i), want);
                }
                tg_free(q);
            }
    tg_free(a);
}
END_TEST

START_TEST(test_pow_scalar_two_is_square)
{
    const double x[] = {1.1, -3.7, 0.1, 1e200, -1e-200, 123456.789, (double)NAN, -(double)INFINITY, -0.0};
    enum { N = sizeof x / sizeof x[0] };
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(N), x);
    tg_tensor *p = tg_pow_scalar(a, 2.0);
    for (int i = 0; i < N; i++)
        TGT_ASSERT_SAME(tgt_at(p, i), x[i] * x[i]);
    /* The tensor form with a broadcast 2 agrees. */
    tg_tensor *two = tg_scalar(F64, 2.0);
    tg_tensor *p2 = tg_pow(a, two);
    assert_equal_tensors(p, p2);
    tg_tensor *a32 = tg_cast(a, F32);
    tg_tensor *p32 = tg_pow_scalar(a32, 2.0);
    const float *xf = tg_data(a32), *pf = tg_data(p32);
    for (int i = 0; i < N; i++)
        ck_assert(tgt_same_value((double)pf[i], (double)(xf[i] * xf[i])));
    tg_free(a);
    tg_free(p);
    tg_free(two);
    tg_free(p2);
    tg_free(a32);
    tg_free(p32);
}
END_TEST

START_TEST(test_scalar_rounded_to_float32_first)
{
    /* 1 + 2^-24 is a tie that rounds to 1 in float; s = 2^-24 + 2^-50 is
     * 2^-24 in float. Rounding s first gives 1 + 2^-24 -> 1.0f; adding the
     * double s and rounding once would give 1 + 2^-23. */
    tg_tensor *a = tg_ones(F32, TG_SHAPE(3));
    tg_tensor *r = tg_add_scalar(a, 0x1p-24 + 0x1p-50);
    for (int i = 0; i < 3; i++)
        TGT_ASSERT_SAME(tgt_at(r, i), 1.0);
    /* General float32 scalar ops equal float arithmetic with (float)s. */
    tg_tensor *x = pattern(F32, TG_SHAPE(4, 5), 0.9);
    const double s = 0.1;
    const float sf = (float)s;
    tg_tensor *m = tg_mul_scalar(x, s);
    tg_tensor *d = tg_binary_scalar(TG_DIV, x, s, true);
    tg_tensor *sub = tg_sub_scalar(x, s);
    const float *xp = tg_data(x);
    for (int i = 0; i < 20; i++) {
        TGT_ASSERT_SAME(tgt_at(m, i), (double)(xp[i] * sf));
        TGT_ASSERT_SAME(tgt_at(d, i), (double)(sf / xp[i]));
        TGT_ASSERT_SAME(tgt_at(sub, i), (double)(xp[i] - sf));
    }
    tg_free(a);
    tg_free(r);
    tg_free(x);
    tg_free(m);
    tg_free(d);
    tg_free(sub);
}
END_TEST

/* ======================================================================== */
/* _into forms and axpy                                                      */
/* ======================================================================== */

START_TEST(test_binary_into)
{
    tg_tensor *a = pattern(F64, TG_SHAPE(2, 3), 0.0);
    tg_tensor *b = pattern(F64, TG_SHAPE(3), 1.0);
    tg_tensor *a0 = tg_clone(a);
    tg_tensor *out = tg_zeros(F64, TG_SHAPE(2, 3));
    uint64_t ver = out->storage->version;
    ck_assert_int_eq(tg_binary_into(TG_ADD, out, a, b), TG_OK);
    check_binary_result(out, TG_ADD, a, b);
    ck_assert(out->storage->version > ver);
    /* out is a (in place), b broadcast. */
    ck_assert_int_eq(tg_binary_into(TG_MUL, a, a, b), TG_OK);
    check_binary_result(a, TG_MUL, a0, b);
    /* out is b. */
    tg_tensor *c = pattern(F64, TG_SHAPE(2, 3), 2.0);
    tg_tensor *c0 = tg_clone(c);
    ck_assert_int_eq(tg_binary_into(TG_SUB, c, a, c), TG_OK);
    check_binary_result(c, TG_SUB, a, c0);
    /* out is both. */
    tg_tensor *c1 = tg_clone(c);
    ck_assert_int_eq(tg_binary_into(TG_MAXIMUM, c1, c1, c1), TG_OK);
    check_binary_result(c1, TG_MAXIMUM, c, c);
    tg_free(c1);
    c1 = tg_clone(c);
    ck_assert_int_eq(tg_binary_into(TG_MUL, c1, c1, c1), TG_OK);
    check_binary_result(c1, TG_MUL, c, c);
    tg_free(a);
    tg_free(b);
    tg_free(a0);
    tg_free(out);
    tg_free(c);
    tg_free(c0);
    tg_free(c1);
}
END_TEST

START_TEST(test_scalar_and_unary_into)
{
    tg_tensor *a = pattern(F64, TG_SHAPE(3, 4), 0.2);
    tg_tensor *a0 = tg_clone(a);
    tg_tensor *one = tg_scalar(F64, 1.0);
    /* a = 1 - a, in place */
    ck_assert_int_eq(tg_binary_scalar_into(TG_SUB, a, a, 1.0, true), TG_OK);
    check_binary_result(a, TG_SUB, one, a0);
    /* out distinct, scalar second */
    tg_tensor *out = tg_empty(F64, TG_SHAPE(3, 4));
    uint64_t ver = out->storage->version;
    ck_assert_int_eq(tg_binary_scalar_into(TG_DIV, out, a0, 4.0, false), TG_OK);
    ck_assert(out->storage->version > ver);
    for (int i = 0; i < 12; i++)
        TGT_ASSERT_SAME(tgt_at(out, i), tgt_at(a0, i) / 4.0);
    /* unary in place and into another tensor */
    tg_tensor *b = tg_clone(a0);
    ck_assert_int_eq(tg_unary_into(TG_EXP, b, b), TG_OK);
    check_unary_result(b, TG_EXP, a0);
    ck_assert_int_eq(tg_unary_into(TG_TANH, out, a0), TG_OK);
    check_unary_result(out, TG_TANH, a0);
    /* into a transposed view: the base sees the result transposed */
    tg_tensor *base = tg_zeros(F64, TG_SHAPE(4, 3));
    tg_tensor *bt = tg_transpose(base, 0, 1); /* (3,4) */
    ck_assert_int_eq(tg_unary_into(TG_NEG, bt, a0), TG_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            double x, y;
            ck_assert_int_eq(tg_get(base, (const int64_t[]){j, i}, &x), TG_OK);
            ck_assert_int_eq(tg_get(a0, (const int64_t[]){i, j}, &y), TG_OK);
            TGT_ASSERT_SAME(x, -y);
        }
    ck_assert_int_eq(tg_binary_scalar_into(TG_SUB, bt, a0, 3.0, true), TG_OK);
    for (int i = 0; i < 12; i++)
        TGT_ASSERT_SAME(tgt_at(bt, i), 3.0 - tgt_at(a0, i));
    tg_free(a);
    tg_free(a0);
    tg_free(one);
    tg_free(out);
    tg_free(b);
    tg_free(base);
    tg_free(bt);
}
END_TEST

START_TEST(test_axpy_into)
{
    tg_tensor *o = tg_from_array(F64, TG_SHAPE(3), (const double[]){1, 2, 3});
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(3), (const double[]){10, 20, 30});
    uint64_t ver = o->storage->version;
    ck_assert_int_eq(tg_axpy_into(o, 0.5, a), TG_OK);
    ck_assert(o->storage->version > ver);
    const double w1[] = {6, 12, 18};
    for (int i = 0; i < 3; i++)
        TGT_ASSERT_SAME(tgt_at(o, i), w1[i]);
    ck_assert_int_eq(tg_axpy_into(o, -0.1, a), TG_OK);
    for (int i = 0; i < 3; i++)
        TGT_ASSERT_SAME(tgt_at(o, i), w1[i] + -0.1 * (10.0 * (i + 1)));
    /* out += 2 * out: a is out itself */
    tg_tensor *p = tg_from_array(F64, TG_SHAPE(2), (const double[]){1.5, -4});
    ck_assert_int_eq(tg_axpy_into(p, 2.0, p), TG_OK);
    TGT_ASSERT_SAME(tgt_at(p, 0), 4.5);
    TGT_ASSERT_SAME(tgt_at(p, 1), -12.0);
    /* a broadcast to out: (3,) onto (2,3), 0-d onto (2,3) */
    tg_tensor *m = pattern(F64, TG_SHAPE(2, 3), 0.0);
    tg_tensor *m0 = tg_clone(m);
    ck_assert_int_eq(tg_axpy_into(m, 3.0, a), TG_OK);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            int64_t ix[2] = {i, j};
            TGT_ASSERT_SAME(bget(m, 2, ix), bget(m0, 2, ix) + 3.0 * 10.0 * (j + 1));
        }
    tg_tensor *s = tg_scalar(F64, 2.0);
    ck_assert_int_eq(tg_axpy_into(m, -1.0, s), TG_OK);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            int64_t ix[2] = {i, j};
            TGT_ASSERT_SAME(bget(m, 2, ix), (bget(m0, 2, ix) + 3.0 * 10.0 * (j + 1)) + -1.0 * 2.0);
        }
    /* non-contiguous out: a column of a matrix */
    tg_tensor *base = tg_zeros(F64, TG_SHAPE(3, 2));
    tg_tensor *col = tg_select(base, 1, 1);
    ck_assert_int_eq(tg_axpy_into(col, 1.0, a), TG_OK);
    const double wb[] = {0, 10, 0, 20, 0, 30};
    for (int i = 0; i < 6; i++)
        TGT_ASSERT_SAME(tgt_at(base, i), wb[i]);
    /* float32: out + (float)alpha * a in float */
    tg_tensor *of = pattern(F32, TG_SHAPE(10), 0.4);
    tg_tensor *af = pattern(F32, TG_SHAPE(10), 1.7);
    tg_tensor *of0 = tg_clone(of);
    ck_assert_int_eq(tg_axpy_into(of, 0.01, af), TG_OK);
    const float *op0 = tg_data(of0), *ap = tg_data(af), *opn = tg_data(of);
    const float alpha = 0.01f;
    for (int i = 0; i < 10; i++)
        ck_assert_msg(opn[i] == op0[i] + alpha * ap[i], "axpy f32 at %d", i);
    /* alpha is rounded to float first: 1 + 2^-24 is a tie that stays 1.0f,
     * while 1 + (2^-24 + 2^-50) rounded once would be 1 + 2^-23. */
    tg_tensor *one = tg_ones(F32, TG_SHAPE(2));
    ck_assert_int_eq(tg_axpy_into(one, 0x1p-24 + 0x1p-50, one), TG_OK);
    TGT_ASSERT_SAME(tgt_at(one, 0), 1.0);
    TGT_ASSERT_SAME(tgt_at(one, 1), 1.0);
    tg_free(one);
    tg_free(o);
    tg_free(a);
    tg_free(p);
    tg_free(m);
    tg_free(m0);
    tg_free(s);
    tg_free(base);
    tg_free(col);
    tg_free(of);
    tg_free(af);
    tg_free(of0);
}
END_TEST

/* ======================================================================== */
/* non-contiguous operands                                                   */
/* ======================================================================== */

/* The non-contiguous layouts under test, each with a contiguous partner
 * of the same shape. */
enum { NVIEWS = 7 };
typedef struct views {
    tg_tensor *keep[8]; /* bases, freed last */
    int nkeep;
    tg_tensor *v[NVIEWS], *w[NVIEWS];
} views;

static tg_tensor *keep(views *vs, tg_tensor *t)
{
    ck_assert_ptr_nonnull(t);
    vs->keep[vs->nkeep++] = t;
    return t;
}

static void views_make(views *vs, tg_dtype dt)
{
    memset(vs, 0, sizeof *vs);
    tg_tensor *b2 = keep(vs, pattern(dt, TG_SHAPE(13, 22), 0.1));
    tg_tensor *b3 = keep(vs, pattern(dt, TG_SHAPE(2, 3, 4), 0.7));
    tg_tensor *row = keep(vs, pattern(dt, TG_SHAPE(1, 7), 0.5));
    tg_tensor *s2 = keep(vs, tg_slice(b2, 1, 1, 22, 2)); /* (13,11), step 2 */
    tg_tensor *t = keep(vs, tg_transpose(b2, 0, 1));     /* (22,13) */
    vs->v[0] = tg_transpose(b2, 0, 1);                   /* transposed */
    vs->v[1] = tg_slice(b2, 1, 1, 22, 2);                /* step 2 */
    vs->v[2] = tg_slice(b2, 0, 12, TG_NONE, -1);         /* rows reversed */
    vs->v[3] = tg_slice(s2, 1, 10, TG_NONE, -3);         /* (13,4), stride -6 */
    vs->v[4] = tg_expand(row, TG_SHAPE(5, 7));           /* stride 0 */
    vs->v[5] = tg_permute(b3, (const int[]){2, 0, 1});   /* (4,2,3) */
    vs->v[6] = tg_select(t, 0, 3);                       /* (13,), stride 22 */
    for (int k = 0; k < NVIEWS; k++) {
        ck_assert_ptr_nonnull(vs->v[k]);
        ck_assert_msg(!tg_is_contiguous(vs->v[k]), "view %d is contiguous", k);
        vs->w[k] = pattern(dt, tg_ndim(vs->v[k]), tg_shape(vs->v[k]), 3.0 + k);
    }
}

static void views_free(views *vs)
{
    for (int k = 0; k < NVIEWS; k++) {
        tg_free(vs->v[k]);
        tg_free(vs->w[k]);
    }
    for (int k = 0; k < vs->nkeep; k++)
        tg_free(vs->keep[k]);
}

/* op(v, w), op(w, v) and op(v, v) for a view v: equal to the reference read
 * through tg_get, and equal to the same op on a contiguous copy of v. */
static void check_view_binary(tg_binop op, const tg_tensor *v, const tg_tensor *w)
{
    tg_tensor *vc = tg_clone(v);
    tg_tensor *r1 = tg_binary(op, v, w);
    tg_tensor *r2 = tg_binary(op, vc, w);
    check_binary_result(r1, op, v, w);
    assert_equal_tensors(r1, r2);
    tg_tensor *r3 = tg_binary(op, w, v);
    check_binary_result(r3, op, w, v);
    tg_tensor *r4 = tg_binary(op, v, v);
    check_binary_result(r4, op, v, v);
    /* a scalar on either side */
    tg_tensor *s1 = tg_binary_scalar(op, v, 0.75, true);
    tg_tensor *s2 = tg_binary_scalar(op, vc, 0.75, true);
    assert_equal_tensors(s1, s2);
    tg_tensor *s3 = tg_binary_scalar(op, v, -1.25, false);
    tg_tensor *s4 = tg_binary_scalar(op, vc, -1.25, false);
    assert_equal_tensors(s3, s4);
    /* into a fresh out */
    tg_tensor *o = tg_empty(tg_dtype_of(v), tg_ndim(v), tg_shape(v));
    ck_assert_int_eq(tg_binary_into(op, o, v, w), TG_OK);
    assert_equal_tensors(o, r1);
    tg_tensor *r[] = {vc, r1, r2, r3, r4, s1, s2, s3, s4, o};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        tg_free(r[i]);
}

START_TEST(test_noncontiguous_binary_f64)
{
    views vs;
    views_make(&vs, F64);
    for (int k = 0; k < NVIEWS; k++)
        check_view_binary((tg_binop)_i, vs.v[k], vs.w[k]);
    views_free(&vs);
}
END_TEST

START_TEST(test_noncontiguous_binary_f32)
{
    views vs;
    views_make(&vs, F32);
    for (int k = 0; k < NVIEWS; k++)
        check_view_binary((tg_binop)_i, vs.v[k], vs.w[k]);
    views_free(&vs);
}
END_TEST

START_TEST(test_noncontiguous_unary)
{
    tg_unop op = (tg_unop)_i;
    for (int d = 0; d < 2; d++) {
        views vs;
        views_make(&vs, d ? F32 : F64);
        for (int k = 0; k < NVIEWS; k++) {
            tg_tensor *v = vs.v[k];
            tg_tensor *vc = tg_clone(v);
            tg_tensor *u1 = tg_unary(op, v);
            tg_tensor *u2 = tg_unary(op, vc);
            check_unary_result(u1, op, v);
            assert_equal_tensors(u1, u2);
            tg_tensor *o = tg_empty(tg_dtype_of(v), tg_ndim(v), tg_shape(v));
            ck_assert_int_eq(tg_unary_into(op, o, v), TG_OK);
            assert_equal_tensors(o, u1);
            tg_free(vc);
            tg_free(u1);
            tg_free(u2);
            tg_free(o);
        }
        views_free(&vs);
    }
}
END_TEST

START_TEST(test_noncontiguous_mixed_layouts)
{
    /* Two non-contiguous operands with different layouts. */
    tg_tensor *base = pattern(F64, TG_SHAPE(9, 22), 0.3);
    tg_tensor *neg = tg_slice(base, 0, 8, TG_NONE, -1);
    tg_tensor *sq = tg_slice(base, 1, 0, 9, 1);   /* (9,9), row stride 22 */
    tg_tensor *sqt = tg_transpose(sq, 0, 1);
    tg_tensor *nsq = tg_slice(neg, 1, 20, 2, -2); /* (9,9), strides -22, -2 */
    check_binary(TG_SUB, sqt, nsq, TG_SHAPE(9, 9));
    check_binary(TG_POW, nsq, sqt, TG_SHAPE(9, 9));
    tg_tensor *o = tg_zeros(F64, TG_SHAPE(9, 9));
    ck_assert_int_eq(tg_binary_into(TG_DIV, o, sqt, nsq), TG_OK);
    check_binary_result(o, TG_DIV, sqt, nsq);
    /* broadcasting on top of non-contiguous layouts */
    tg_tensor *row = pattern(F64, TG_SHAPE(9), 6.0);
    check_binary(TG_ADD, sqt, row, TG_SHAPE(9, 9));
    check_binary(TG_DIV, row, nsq, TG_SHAPE(9, 9));
    tg_tensor *c = pattern(F64, TG_SHAPE(5, 1), 1.5);
    tg_tensor *ec = tg_expand(c, TG_SHAPE(5, 7));
    tg_tensor *r = pattern(F64, TG_SHAPE(1, 7), 0.5);
    tg_tensor *er = tg_expand(r, TG_SHAPE(5, 7));
    check_binary(TG_MUL, er, ec, TG_SHAPE(5, 7)); /* stride 0 on different axes */
    tg_tensor *b3 = pattern(F64, TG_SHAPE(2, 3, 4), 0.7);
    tg_tensor *p = tg_permute(b3, (const int[]){2, 0, 1}); /* (4,2,3) */
    tg_tensor *v3 = pattern(F64, TG_SHAPE(3), 3.7);
    check_binary(TG_SUB, p, v3, TG_SHAPE(4, 2, 3));
    tg_tensor *q = tg_permute(b3, (const int[]){1, 2, 0}); /* (3,4,2) */
    tg_tensor *qq = tg_transpose(q, 0, 1);                   /* (4,3,2) */
    tg_tensor *pt = tg_transpose(p, 1, 2);                   /* (4,3,2) */
    check_binary(TG_ADD, qq, pt, TG_SHAPE(4, 3, 2));
    tg_tensor *all[] = {base, neg, sq, sqt, nsq, o, row, c, ec, r, er, b3, p, v3, q, qq, pt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

START_TEST(test_noncontiguous_out)
{
    tg_tensor *a = pattern(F64, TG_SHAPE(6, 5), 0.0);
    tg_tensor *b = pattern(F64, TG_SHAPE(5), 1.0);
    /* out: a transposed view */
    tg_tensor *base = tg_zeros(F64, TG_SHAPE(5, 6));
    tg_tensor *ot = tg_transpose(base, 0, 1);
    ck_assert_int_eq(tg_binary_into(TG_SUB, ot, a, b), TG_OK);
    check_binary_result(ot, TG_SUB, a, b);
    /* out: every other row, reversed */
    tg_tensor *big = tg_full(F64, TG_SHAPE(12, 5), -9.0);
    tg_tensor *orv = tg_slice(big, 0, 11, TG_NONE, -2); /* rows 11, 9, ..., 1 */
    ck_assert_int_eq(tg_binary_into(TG_MUL, orv, a, b), TG_OK);
    check_binary_result(orv, TG_MUL, a, b);
    for (int i = 0; i < 12; i += 2) /* untouched rows */
        for (int j = 0; j < 5; j++) {
            double v;
            ck_assert_int_eq(tg_get(big, (const int64_t[]){i, j}, &v), TG_OK);
            TGT_ASSERT_SAME(v, -9.0);
        }
    /* in place on a non-contiguous view: a = a * 2 through the view */
    tg_tensor *at = tg_transpose(a, 0, 1);
    tg_tensor *a0 = tg_clone(at);
    ck_assert_int_eq(tg_binary_scalar_into(TG_MUL, at, at, 2.0, false), TG_OK);
    for (int i = 0; i < 30; i++)
        TGT_ASSERT_SAME(tgt_at(at, i), tgt_at(a0, i) * 2.0);
    ck_assert_int_eq(tg_unary_into(TG_ABS, at, at), TG_OK);
    for (int i = 0; i < 30; i++)
        TGT_ASSERT_SAME(tgt_at(at, i), fabs(tgt_at(a0, i) * 2.0));
    tg_free(a);
    tg_free(b);
    tg_free(base);
    tg_free(ot);
    tg_free(big);
    tg_free(orv);
    tg_free(at);
    tg_free(a0);
}
END_TEST

/* ======================================================================== */
/* errors                                                                    */
/* ======================================================================== */

START_TEST(test_dtype_errors)
{
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(2, 3));
    tg_tensor *f = tg_zeros(F32, TG_SHAPE(2, 3));
    /* Mixed floats promote to float64 (tests/test_dtypes.c); an out of
     * another dtype is refused. */
    tg_tensor *p = tg_add(a, f);
    ck_assert_int_eq(tg_dtype_of(p), F64);
    tg_free(p);
    ck_assert_int_eq(tg_binary_into(TG_SUB, f, a, f), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_binary_into: out has dtype float32, expected float64");
    ck_assert_int_eq(tg_axpy_into(a, 1.0, f), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_axpy_into: dtypes float64 and float32 differ");
    /* out of the wrong dtype */
    tg_tensor *b = tg_ones(F64, TG_SHAPE(2, 3));
    ck_assert_int_eq(tg_binary_into(TG_ADD, f, a, b), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_binary_into: out has dtype float32, expected float64");
    ck_assert_int_eq(tg_binary_scalar_into(TG_ADD, f, a, 1.0, false), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_binary_scalar_into: out has dtype float32, expected float64");
    ck_assert_int_eq(tg_unary_into(TG_EXP, a, f), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_unary_into: out has dtype float64, expected float32");
    /* nothing was written */
    for (int i = 0; i < 6; i++) {
        TGT_ASSERT_SAME(tgt_at(a, i), 0.0);
        TGT_ASSERT_SAME(tgt_at(f, i), 0.0);
    }
    tg_free(a);
    tg_free(f);
    tg_free(b);
}
END_TEST

START_TEST(test_into_shape_errors)
{
    tg_tensor *a = tg_ones(F64, TG_SHAPE(2, 3));
    tg_tensor *b = tg_ones(F64, TG_SHAPE(3));
    tg_tensor *o22 = tg_zeros(F64, TG_SHAPE(2, 2));
    ck_assert_int_eq(tg_binary_into(TG_ADD, o22, a, b), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_binary_into: out has shape (2,2), expected (2,3)");
    tg_tensor *o13 = tg_zeros(F64, TG_SHAPE(1, 3)); /* out does not broadcast */
    ck_assert_int_eq(tg_binary_into(TG_ADD, o13, a, b), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_binary_into: out has shape (1,3), expected (2,3)");
    tg_tensor *o3 = tg_zeros(F64, TG_SHAPE(3));
    ck_assert_int_eq(tg_binary_scalar_into(TG_MUL, o3, a, 2.0, false), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_binary_scalar_into: out has shape (3,), expected (2,3)");
    ck_assert_int_eq(tg_unary_into(TG_NEG, o3, a), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_unary_into: out has shape (3,), expected (2,3)");
    ck_assert_int_eq(tg_axpy_into(o3, 1.0, a), TG_ERR_SHAPE); /* a bigger than out */
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_axpy_into: out has shape (3,), expected (2,3)");
    tg_tensor *b4 = tg_ones(F64, TG_SHAPE(4));
    ck_assert_int_eq(tg_axpy_into(a, 1.0, b4), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_axpy_into: shapes (2,3) and (4,) cannot be broadcast");
    /* A broadcast (stride-0) out would write one element many times. */
    tg_tensor *ex = tg_expand(b, TG_SHAPE(2, 3));
    ck_assert_int_eq(tg_binary_into(TG_ADD, ex, a, b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_binary_into: out is a broadcast view (stride 0 on axis 0)");
    ck_assert_int_eq(tg_binary_scalar_into(TG_ADD, ex, a, 1.0, true), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_binary_scalar_into: out is a broadcast view");
    ck_assert_int_eq(tg_unary_into(TG_EXP, ex, a), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_unary_into: out is a broadcast view");
    ck_assert_int_eq(tg_axpy_into(ex, 1.0, a), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_axpy_into: out is a broadcast view");
    for (int i = 0; i < 3; i++)
        TGT_ASSERT_SAME(tgt_at(b, i), 1.0); /* untouched */
    /* ...but a size-1 axis with stride 0 is fine. */
    tg_tensor *s = tg_zeros(F64, TG_SHAPE(3));
    tg_tensor *s1 = tg_expand(s, TG_SHAPE(1, 3));
    tg_tensor *r = tg_ones(F64, TG_SHAPE(1, 3));
    ck_assert_int_eq(tg_binary_into(TG_ADD, s1, r, r), TG_OK);
    TGT_ASSERT_SAME(tgt_at(s, 2), 2.0);
    tg_free(a);
    tg_free(b);
    tg_free(o22);
    tg_free(o13);
    tg_free(o3);
    tg_free(b4);
    tg_free(ex);
    tg_free(s);
    tg_free(s1);
    tg_free(r);
}
END_TEST

START_TEST(test_unknown_op_codes)
{
    tg_tensor *a = tg_ones(F64, TG_SHAPE(2));
    ck_assert_ptr_null(tg_binary((tg_binop)99, a, a));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_binary: unknown binary op 99");
    ck_assert_ptr_null(tg_binary(TG_BINOP_COUNT_, a, a));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "unknown binary op");
    ck_assert_ptr_null(tg_binary_scalar((tg_binop)-1, a, 1.0, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_binary_scalar: unknown binary op -1");
    ck_assert_ptr_null(tg_unary(TG_UNOP_COUNT_, a));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_unary: unknown unary op 10");
    ck_assert_int_eq(tg_binary_into((tg_binop)42, a, a, a), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_binary_into: unknown binary op 42");
    ck_assert_int_eq(tg_binary_scalar_into(TG_BINOP_COUNT_, a, a, 1.0, true), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_binary_scalar_into: unknown binary op");
    ck_assert_int_eq(tg_unary_into((tg_unop)-3, a, a), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_unary_into: unknown unary op -3");
    TGT_ASSERT_SAME(tgt_at(a, 1), 1.0);
    tg_free(a);
}
END_TEST

START_TEST(test_null_int_returning)
{
    tg_tensor *a = tg_ones(F64, TG_SHAPE(2));
    ck_assert_int_eq(tg_binary_into(TG_ADD, NULL, a, a), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_binary_into: out is NULL");
    ck_assert_int_eq(tg_binary_into(TG_ADD, a, NULL, a), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_binary_into: a is NULL");
    ck_assert_int_eq(tg_binary_into(TG_ADD, a, a, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_binary_into: b is NULL");
    ck_assert_int_eq(tg_binary_scalar_into(TG_ADD, NULL, a, 1.0, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_binary_scalar_into: out is NULL");
    ck_assert_int_eq(tg_binary_scalar_into(TG_ADD, a, NULL, 1.0, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_binary_scalar_into: a is NULL");
    ck_assert_int_eq(tg_unary_into(TG_EXP, NULL, a), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_unary_into: out is NULL");
    ck_assert_int_eq(tg_unary_into(TG_EXP, a, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_unary_into: a is NULL");
    ck_assert_int_eq(tg_axpy_into(NULL, 1.0, a), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_axpy_into: out is NULL");
    ck_assert_int_eq(tg_axpy_into(a, 1.0, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_axpy_into: a is NULL");
    TGT_ASSERT_SAME(tgt_at(a, 0), 1.0);
    tg_free(a);
}
END_TEST

START_TEST(test_null_tensor_returning_keeps_error)
{
    tg_tensor *a = tg_ones(F64, TG_SHAPE(2));
    tg__fail(TG_ERR_IO, "marker", "known error");
    tg_tensor *(*const bins[])(const tg_tensor *, const tg_tensor *) = {
        tg_add, tg_sub, tg_mul, tg_div, tg_pow, tg_maximum, tg_minimum};
    for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++) {
        ck_assert_ptr_null(bins[i](NULL, a));
        ck_assert_ptr_null(bins[i](a, NULL));
        ck_assert_ptr_null(bins[i](NULL, NULL));
    }
    for (int op = 0; op < TG_BINOP_COUNT_; op++) {
        ck_assert_ptr_null(tg_binary((tg_binop)op, NULL, a));
        ck_assert_ptr_null(tg_binary((tg_binop)op, a, NULL));
        ck_assert_ptr_null(tg_binary_scalar((tg_binop)op, NULL, 1.0, true));
    }
    tg_tensor *(*const scal[])(const tg_tensor *, double) = {
        tg_add_scalar, tg_sub_scalar, tg_mul_scalar, tg_div_scalar, tg_pow_scalar};
    for (size_t i = 0; i < sizeof scal / sizeof scal[0]; i++)
        ck_assert_ptr_null(scal[i](NULL, 2.0));
    tg_tensor *(*const uns[])(const tg_tensor *) = {
        tg_neg, tg_exp, tg_log, tg_sqrt, tg_abs, tg_tanh, tg_sigmoid, tg_relu};
    for (size_t i = 0; i < sizeof uns / sizeof uns[0]; i++)
        ck_assert_ptr_null(uns[i](NULL));
    for (int op = 0; op < TG_UNOP_COUNT_; op++)
        ck_assert_ptr_null(tg_unary((tg_unop)op, NULL));
    /* Even with an invalid op code, NULL input wins: no new error. */
    ck_assert_ptr_null(tg_binary((tg_binop)99, NULL, a));
    ck_assert_ptr_null(tg_unary((tg_unop)99, NULL));
    /* A chain: one check at the end. */
    tg_tensor *r = tg_relu(tg_add_scalar(tg_mul(a, NULL), 1.0));
    ck_assert_ptr_null(r);
    ck_assert_int_eq(tg_last_error(), TG_ERR_IO);
    ck_assert_str_eq(tg_last_message(), "marker: known error");
    tg_free(a);
}
END_TEST

/* ======================================================================== */
/* allocation failures                                                       */
/* ======================================================================== */


static tg_tensor *op_add_self(const tg_tensor *x) { return tg_add(x, x); }
static tg_tensor *op_mul_row(const tg_tensor *x)
{
    tg_tensor *row = tg_select(x, 0, 0); /* may itself fail */
    tg_tensor *r = tg_mul(x, row);
    tg_free(row);
    return r;
}
static tg_tensor *op_add_scalar(const tg_tensor *x) { return tg_add_scalar(x, 1.0); }
static tg_tensor *op_rsub(const tg_tensor *x) { return tg_binary_scalar(TG_SUB, x, 1.0, true); }
static tg_tensor *op_exp(const tg_tensor *x) { return tg_exp(x); }
static tg_tensor *op_sign(const tg_tensor *x) { return tg_unary(TG_SIGN, x); }

START_TEST(test_alloc_failure_ops)
{
    tg_tensor *base = pattern(F64, TG_SHAPE(4, 5), 0.0);
    tg_tensor *t = tg_transpose(base, 0, 1);
    ck_assert_int_ge(tgt_sweep_failures(op_add_self, base, "tg_add: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(op_add_self, t, "tg_add: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(op_mul_row, t, ": out of memory"), 3);
    ck_assert_int_ge(tgt_sweep_failures(op_add_scalar, t, "tg_add_scalar: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(op_rsub, t, "tg_binary_scalar: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(op_exp, t, "tg_exp: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(op_sign, base, "tg_unary: out of memory"), 2);
    /* The _into forms allocate nothing. */
    long calls = tgt_stats.calls;
    tg_tensor *o = tg_empty(F64, TG_SHAPE(5, 4));
    calls = tgt_stats.calls;
    ck_assert_int_eq(tg_binary_into(TG_ADD, o, t, t), TG_OK);
    ck_assert_int_eq(tg_binary_scalar_into(TG_ADD, o, t, 2.0, true), TG_OK);
    ck_assert_int_eq(tg_unary_into(TG_EXP, o, t), TG_OK);
    ck_assert_int_eq(tg_axpy_into(o, 2.0, t), TG_OK);
    ck_assert_int_eq(tgt_stats.calls, calls);
    tg_free(o);
    tg_free(t);
    tg_free(base);
}
END_TEST

/* ======================================================================== */

Suite *test_elementwise_suite(void); /* called by the generated runner */

Suite *test_elementwise_suite(void)
{
    Suite *s = suite_create("elementwise");
    TCase *tc;

    tc = tgt_tcase("values");
    tcase_add_loop_test(tc, test_binary_op_f64, 0, TG_BINOP_COUNT_);
    tcase_add_loop_test(tc, test_binary_op_f32, 0, TG_BINOP_COUNT_);
    tcase_add_test(tc, test_named_binary_ops_match_generic);
    tcase_add_test(tc, test_nan_semantics);
    tcase_add_loop_test(tc, test_unary_op_f64, 0, TG_UNOP_COUNT_);
    tcase_add_loop_test(tc, test_unary_op_f32, 0, TG_UNOP_COUNT_);
    tcase_add_test(tc, test_sigmoid_extremes);
    tcase_add_test(tc, test_sign_step_relu_log_values);
    tcase_add_test(tc, test_named_unary_ops_match_generic);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("broadcasting");
    tcase_add_test(tc, test_broadcast_column_row);
    tcase_add_test(tc, test_broadcast_trailing_and_leading);
    tcase_add_test(tc, test_broadcast_scalar_tensor);
    tcase_add_test(tc, test_broadcast_zero_size);
    tcase_add_test(tc, test_broadcast_errors);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("scalar");
    tcase_add_test(tc, test_scalar_ops_f64);
    tcase_add_test(tc, test_pow_scalar_two_is_square);
    tcase_add_test(tc, test_scalar_rounded_to_float32_first);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("into");
    tcase_add_test(tc, test_binary_into);
    tcase_add_test(tc, test_scalar_and_unary_into);
    tcase_add_test(tc, test_axpy_into);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("noncontiguous");
    tcase_add_loop_test(tc, test_noncontiguous_binary_f64, 0, TG_BINOP_COUNT_);
    tcase_add_loop_test(tc, test_noncontiguous_binary_f32, 0, TG_BINOP_COUNT_);
    tcase_add_loop_test(tc, test_noncontiguous_unary, 0, TG_UNOP_COUNT_);
    tcase_add_test(tc, test_noncontiguous_mixed_layouts);
    tcase_add_test(tc, test_noncontiguous_out);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_dtype_errors);
    tcase_add_test(tc, test_into_shape_errors);
    tcase_add_test(tc, test_unknown_op_codes);
    tcase_add_test(tc, test_null_int_returning);
    tcase_add_test(tc, test_null_tensor_returning_keeps_error);
    tcase_add_test(tc, test_alloc_failure_ops);
    suite_add_tcase(s, tc);

    return s;
}
