/* test_edge.c - numerical edge cases, held to NumPy's and PyTorch's
 * answers: NaN and infinities propagate through elementwise ops,
 * reductions, matmul and gradients without traps; zero-size tensors reduce
 * to NumPy's values (the sum of nothing is 0, the mean of nothing NaN) and
 * go through every op; log-softmax and cross-entropy stay finite for logits
 * of +-1e4, forward and backward. Expected values were checked with NumPy
 * 1.x / PyTorch 2.x (the calls are quoted next to them). */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE
#define DNAN ((double)NAN)
#define DINF ((double)INFINITY)

/* NaN equals NaN; otherwise exact (-0 equals 0). */
static bool same(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static void assert_values(const tg_tensor *t, int64_t n, const double *want,
                          const char *what)
{
    ck_assert_msg(t != NULL, "%s: NULL (%s)", what, tg_last_message());
    ck_assert_msg(tg_numel(t) == n, "%s: %lld elements, want %lld", what,
                  (long long)tg_numel(t), (long long)n);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(same(tgt_at(t, i), want[i]), "%s: element %lld is %.17g, want %.17g",
                      what, (long long)i, tgt_at(t, i), want[i]);
}

static void assert_close(const tg_tensor *t, int64_t n, const double *want,
                         double rtol, const char *what)
{
    ck_assert_msg(t != NULL, "%s: NULL (%s)", what, tg_last_message());
    ck_assert_int_eq(tg_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        double g = tgt_at(t, i);
        ck_assert_msg(isfinite(g), "%s: element %lld is %g", what, (long long)i, g);
        ck_assert_msg(fabs(g - want[i]) <= rtol * fabs(want[i]) + 1e-12,
                      "%s: element %lld is %.17g, want %.17g", what, (long long)i,
                      g, want[i]);
    }
}

static tg_tensor *vec(tg_dtype dt, int64_t n, const double *v)
{
    tg_tensor *t = tg_empty(dt, 1, &n);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < n; i++)
        ck_assert_int_eq(tg_set(t, &i, v[i]), TG_OK);
    return t;
}

static tg_tensor *mat(tg_dtype dt, int64_t r, int64_t c, const double *v)
{
    tg_tensor *f = vec(dt, r * c, v);
    tg_tensor *m = tg_reshape(f, SH(r, c));
    tg_free(f);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* What tg_print writes, as a string the caller frees. */
static char *printed(const tg_tensor *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(tg_print(t, f), TG_OK);
    fclose(f);
    return buf;
}

static const tg_dtype dtypes[2] = {F64, F32};

/* ---- NaN and infinities ------------------------------------------------------ */

/* Each unary op on (nan, inf, -inf, -0.), as np.<op> gives them. */
START_TEST(test_unary_specials)
{
    tg_dtype dt = dtypes[_i];
    static const double x[4] = {(double)NAN, (double)INFINITY, -(double)INFINITY, -0.0};
    static const struct {
        tg_unop op;
        double want[4];
    } rows[] = {
        {TG_NEG, {(double)NAN, -(double)INFINITY, (double)INFINITY, 0.0}},
        {TG_EXP, {(double)NAN, (double)INFINITY, 0.0, 1.0}},
        {TG_LOG, {(double)NAN, (double)INFINITY, (double)NAN, -(double)INFINITY}},
        {TG_SQRT, {(double)NAN, (double)INFINITY, (double)NAN, -0.0}},
        {TG_ABS, {(double)NAN, (double)INFINITY, (double)INFINITY, 0.0}},
        {TG_TANH, {(double)NAN, 1.0, -1.0, -0.0}},
        {TG_SIGMOID, {(double)NAN, 1.0, 0.0, 0.5}},
        {TG_RELU, {(double)NAN, (double)INFINITY, 0.0, 0.0}}, /* np.maximum(x, 0) */
        {TG_SIGN, {(double)NAN, 1.0, -1.0, 0.0}},
        {TG_STEP, {0.0, 1.0, 0.0, 0.0}},      /* x > 0 */
    };
    tg_tensor *t = vec(dt, 4, x);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        tg_tensor *u = tg_unary(rows[r].op, t);
        char what[48];
        snprintf(what, sizeof what, "unary op %d (%s)", (int)rows[r].op,
                 tg_dtype_name(dt));
        assert_values(u, 4, rows[r].want, what);
        tg_free(u);
    }
    tg_free(t);
}
END_TEST

START_TEST(test_binary_specials)
{
    tg_dtype dt = dtypes[_i];
    static const double a[8] = {(double)INFINITY, (double)INFINITY, 1, -1, 0, 0, -8, (double)NAN};
    static const double b[8] = {-(double)INFINITY, 0, 0, 0, 0, -1, 0.5, 1};
    static const struct {
        tg_binop op;
        double want[8];
    } rows[] = {
        {TG_ADD, {(double)NAN, (double)INFINITY, 1, -1, 0, -1, -7.5, (double)NAN}},
        {TG_MUL, {-(double)INFINITY, (double)NAN, 0, -0.0, 0, -0.0, -4, (double)NAN}},
        {TG_DIV, {(double)NAN, (double)INFINITY, (double)INFINITY, -(double)INFINITY, (double)NAN, -0.0, -16, (double)NAN}},
        {TG_POW, {0, 1, 1, 1, 1, (double)INFINITY, (double)NAN, (double)NAN}}, /* np.power */
        {TG_MAXIMUM, {(double)INFINITY, (double)INFINITY, 1, 0, 0, 0, 0.5, (double)NAN}},
        {TG_MINIMUM, {-(double)INFINITY, 0, 0, -1, 0, -1, -8, (double)NAN}},
        {TG_GE, {1, 1, 1, 0, 1, 1, 0, 0}},
    };
    tg_tensor *ta = vec(dt, 8, a), *tb = vec(dt, 8, b);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        tg_tensor *c = tg_binary(rows[r].op, ta, tb);
        char what[48];
        snprintf(what, sizeof what, "binary op %d (%s)", (int)rows[r].op,
                 tg_dtype_name(dt));
        assert_values(c, 8, rows[r].want, what);
        tg_free(c);
    }
    /* NaN wins in maximum and minimum from either side. */
    tg_tensor *n = vec(dt, 1, (const double[]){(double)NAN}), *one = vec(dt, 1, (const double[]){1});
    tg_tensor *m1 = tg_maximum(one, n), *m2 = tg_minimum(one, n);
    assert_values(m1, 1, (const double[]){(double)NAN}, "maximum(1, nan)");
    assert_values(m2, 1, (const double[]){(double)NAN}, "minimum(1, nan)");
    tg_free(m1);
    tg_free(m2);
    tg_free(n);
    tg_free(one);
    tg_free(ta);
    tg_free(tb);
}
END_TEST

/* Overflow to infinity in float32, and casts out of range. */
START_TEST(test_float32_overflow)
{
    tg_tensor *big = tg_full(F32, SH(3), 3e38);
    tg_tensor *m = tg_mul_scalar(big, 10);
    assert_values(m, 3, (const double[]){(double)INFINITY, (double)INFINITY, (double)INFINITY}, "3e38 * 10");
    tg_tensor *h = tg_full(F32, SH(1), 100);
    tg_tensor *e = tg_exp(h);
    assert_values(e, 1, (const double[]){(double)INFINITY}, "exp(100) in float32");
    /* np.float32([1e300, -1e300, 1e-50]) */
    tg_tensor *d = vec(F64, 3, (const double[]){1e300, -1e300, 1e-50});
    tg_tensor *c = tg_cast(d, F32);
    assert_values(c, 3, (const double[]){(double)INFINITY, -(double)INFINITY, 0}, "cast to float32");
    /* A float32 sum of 100 values of 1e37 overflows (float accumulation). */
    tg_tensor *many = tg_full(F32, SH(100), 1e37);
    tg_tensor *s = tg_sum(many);
    assert_values(s, 1, (const double[]){(double)INFINITY}, "float32 sum");
    tg_free(big);
    tg_free(m);
    tg_free(h);
    tg_free(e);
    tg_free(d);
    tg_free(c);
    tg_free(many);
    tg_free(s);
}
END_TEST

START_TEST(test_reduce_specials)
{
    tg_dtype dt = dtypes[_i];
    tg_tensor *a = vec(dt, 4, (const double[]){1, (double)NAN, 3, (double)NAN});
    tg_tensor *b = vec(dt, 2, (const double[]){(double)INFINITY, -(double)INFINITY});
    tg_tensor *c = vec(dt, 2, (const double[]){(double)INFINITY, 1});
    tg_tensor *r[6] = {tg_sum(a), tg_sum(b), tg_sum(c), tg_mean(c), tg_max(a),
                       tg_argmax(a)};
    /* np.sum, np.sum, np.sum, np.mean, np.max, np.argmax: the first NaN */
    static const double want[6] = {(double)NAN, (double)NAN, (double)INFINITY, (double)INFINITY, (double)NAN, 1};
    for (int i = 0; i < 6; i++) {
        assert_values(r[i], 1, &want[i], "reduction with specials");
        tg_free(r[i]);
    }
    /* np.array([[1, nan], [3, 2]]).max(axis=1) -> [nan, 3.]; argmax [1, 0];
     * .sum(axis=0) -> [4, nan] */
    tg_tensor *m = mat(dt, 2, 2, (const double[]){1, (double)NAN, 3, 2});
    tg_tensor *mx = tg_max_axis(m, 1, false), *am = tg_argmax_axis(m, 1, false);
    tg_tensor *sa = tg_sum_axis(m, 0, false), *me = tg_mean_axis(m, 1, true);
    assert_values(mx, 2, (const double[]){(double)NAN, 3}, "max_axis");
    assert_values(am, 2, (const double[]){1, 0}, "argmax_axis");
    assert_values(sa, 2, (const double[]){4, (double)NAN}, "sum_axis");
    assert_values(me, 2, (const double[]){(double)NAN, 2.5}, "mean_axis");
    tgt_assert_shape(me, 2, (const int64_t[]){2, 1});
    tg_free(mx);
    tg_free(am);
    tg_free(sa);
    tg_free(me);
    tg_free(m);
    tg_free(a);
    tg_free(b);
    tg_free(c);
}
END_TEST

/* inf * 0 inside a product is NaN (np.array([[inf]]) @ [[0.]] -> nan), and
 * a NaN spoils only its row; with CBLAS and with the portable kernel. */
START_TEST(test_matmul_specials)
{
    tg_dtype dt = dtypes[_i % 2];
    tg_use_blas(_i < 2);
    tg_tensor *inf = vec(dt, 1, (const double[]){(double)INFINITY});
    tg_tensor *i2 = tg_reshape(inf, SH(1, 1));
    tg_tensor *zero = tg_zeros(dt, SH(1, 1));
    tg_tensor *p = tg_matmul(i2, zero);
    assert_values(p, 1, (const double[]){(double)NAN}, "[[inf]] @ [[0]]");
    tg_tensor *a = mat(dt, 3, 2, (const double[]){1, 2, (double)NAN, 1, 0, 0});
    tg_tensor *b = mat(dt, 2, 3, (const double[]){1, 0, 2, 0, 1, (double)INFINITY});
    tg_tensor *c = tg_matmul(a, b);
    /* np: [[1, 2, inf], [nan, nan, nan], [0, 0, nan]] */
    assert_values(c, 9, (const double[]){1, 2, (double)INFINITY, (double)NAN, (double)NAN, (double)NAN, 0, 0, (double)NAN},
                  "matmul with nan and inf");
    tg_use_blas(true);
    tg_free(inf);
    tg_free(i2);
    tg_free(zero);
    tg_free(p);
    tg_free(a);
    tg_free(b);
    tg_free(c);
}
END_TEST

/* Gradients carry NaN where it came from and nowhere else. */
START_TEST(test_gradient_specials)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = vec(F64, 3, (const double[]){1, (double)NAN, -2});
    tg_requires_grad(x, true);
    /* d/dx sum(x*x + relu(x)) = 2x + step(x): [3, nan, -4] */
    tg_tensor *L = tg_ad_sum(T, tg_ad_add(T, tg_ad_mul(T, x, x), tg_ad_relu(T, x)));
    ck_assert_int_eq(tg_backward(T, L), TG_OK);
    assert_values(tg_grad(x), 3, (const double[]){3, (double)NAN, -4}, "grad with nan");
    /* a NaN maximum: no element equals it, so the tie rule's share, g / 0
     * times 0, is NaN over the whole group, as torch.amax gives */
    ck_assert_int_eq(tg_zero_grad(x), TG_OK);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_max(T, x)), TG_OK);
    assert_values(tg_grad(x), 3, (const double[]){(double)NAN, (double)NAN, (double)NAN},
                  "grad of max with nan");
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

START_TEST(test_print_specials)
{
    tg_tensor *a = vec(F64, 4, (const double[]){(double)NAN, (double)INFINITY, -(double)INFINITY, 1});
    char *s = printed(a);
    ck_assert_str_eq(s, "array([ nan,  inf, -inf,   1.])\n"); /* repr(np.array(...)) */
    free(s);
    tg_tensor *b = vec(F32, 2, (const double[]){(double)NAN, 1.5});
    s = printed(b);
    ck_assert_str_eq(s, "array([nan, 1.5], dtype=float32)\n");
    free(s);
    tg_free(a);
    tg_free(b);
}
END_TEST

/* ---- zero-size tensors --------------------------------------------------------- */

START_TEST(test_empty_reductions)
{
    tg_dtype dt = dtypes[_i];
    tg_tensor *e = tg_zeros(dt, SH(0, 3));
    /* np.zeros((0, 3)): sum 0.0, mean nan, sum(axis=0) [0 0 0],
     * mean(axis=0) [nan nan nan], sum/mean/max/argmax(axis=1) shape (0,) */
    tg_tensor *s = tg_sum(e), *m = tg_mean(e);
    assert_values(s, 1, (const double[]){0}, "sum of nothing");
    ck_assert_int_eq(tg_ndim(s), 0);
    assert_values(m, 1, (const double[]){(double)NAN}, "mean of nothing");
    tg_tensor *s0 = tg_sum_axis(e, 0, false), *m0 = tg_mean_axis(e, 0, false);
    assert_values(s0, 3, (const double[]){0, 0, 0}, "sum(axis=0)");
    assert_values(m0, 3, (const double[]){(double)NAN, (double)NAN, (double)NAN}, "mean(axis=0)");
    tg_tensor *r1[4] = {tg_sum_axis(e, 1, false), tg_mean_axis(e, 1, false),
                        tg_max_axis(e, 1, false), tg_argmax_axis(e, -1, true)};
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(r1[i]);
        ck_assert_int_eq(tg_numel(r1[i]), 0);
        ck_assert_int_eq(tg_shape(r1[i])[0], 0);
        tg_free(r1[i]);
    }
    /* np.zeros((0, 3)).max() raises: so does tg_max */
    ck_assert_ptr_null(tg_max(e));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_max: zero-size tensor has no maximum");
    tg_tensor *st = tg_sum_to(e, SH(1, 3));
    assert_values(st, 3, (const double[]){0, 0, 0}, "sum_to of nothing");
    tg_tensor *z = tg_zeros(dt, SH(0));
    tg_tensor *into = tg_full(dt, SH(1), 7);
    ck_assert_int_eq(tg_sum_into(into, z), TG_OK);
    assert_values(into, 1, (const double[]){0}, "sum_into of nothing");
    tg_free(st);
    tg_free(z);
    tg_free(into);
    tg_free(s);
    tg_free(m);
    tg_free(s0);
    tg_free(m0);
    tg_free(e);
}
END_TEST

START_TEST(test_empty_ops)
{
    tg_dtype dt = dtypes[_i];
    tg_tensor *e = tg_zeros(dt, SH(0, 3)), *row = tg_ones(dt, SH(3));
    tg_tensor *r[11];
    r[0] = tg_add(e, row);
    r[1] = tg_exp(e);
    r[2] = tg_reshape(e, SH(-1, 3));
    r[3] = tg_transpose(e, 0, 1);
    r[4] = tg_slice(e, 1, 1, 3, 1);
    r[5] = tg_cast(e, dt == F64 ? F32 : F64);
    r[6] = tg_clone(e);
    tg_tensor *w = tg_ones(dt, SH(3, 2));
    r[7] = tg_matmul(e, w);                         /* (0,2) */
    tg_tensor *l = tg_zeros(dt, SH(2, 0)), *rr = tg_zeros(dt, SH(0, 3));
    r[8] = tg_matmul(l, rr);                        /* zeros (2,3) */
    r[9] = tg_arange(dt, 0, 0, 1);
    r[10] = tg_linspace(dt, 0, 1, 0);
    static const int64_t shapes[11][2] = {{0, 3}, {0, 3}, {0, 3}, {3, 0}, {0, 2},
                                          {0, 3}, {0, 3}, {0, 2}, {2, 3}, {0, 0},
                                          {0, 0}};
    static const int nd[11] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1};
    for (int i = 0; i < 11; i++) {
        ck_assert_msg(r[i] != NULL, "op %d: %s", i, tg_last_message());
        tgt_assert_shape(r[i], nd[i], shapes[i]);
    }
    assert_values(r[8], 6, (const double[]){0, 0, 0, 0, 0, 0}, "(2,0) @ (0,3)");
    /* np.zeros((0, 3)).reshape(0, -1) raises, and so does tg_reshape */
    ck_assert_ptr_null(tg_reshape(e, SH(0, -1)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_reshape: cannot infer -1 reshaping (0,3)");
    char *s = printed(e);
    ck_assert_str_eq(s, dt == F64 ? "array([], shape=(0, 3), dtype=float64)\n"
                                  : "array([], shape=(0, 3), dtype=float32)\n");
    free(s);
    s = printed(r[9]);
    ck_assert_str_eq(s, dt == F64 ? "array([], dtype=float64)\n"
                                  : "array([], dtype=float32)\n");
    free(s);
    for (int i = 0; i < 11; i++)
        tg_free(r[i]);
    tg_free(w);
    tg_free(l);
    tg_free(rr);
    tg_free(e);
    tg_free(row);
}
END_TEST

/* Gradients of zero-size leaves are zero-size; the mean of nothing is NaN
 * (torch: cross_entropy(zeros(0, 3), zeros(0)) -> nan). */
START_TEST(test_empty_gradients)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = tg_zeros(F64, SH(0, 3));
    tg_requires_grad(x, true);
    double v;
    tg_tensor *L = tg_ad_sum(T, tg_ad_mul_scalar(T, x, 2));
    ck_assert_int_eq(tg_item(L, &v), TG_OK);
    ck_assert(v == 0);
    ck_assert_int_eq(tg_backward(T, L), TG_OK);
    tgt_assert_shape(tg_grad(x), 2, (const int64_t[]){0, 3});
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    L = tg_ad_mean(T, x);
    ck_assert_int_eq(tg_item(L, &v), TG_OK);
    ck_assert(isnan(v));
    ck_assert_int_eq(tg_backward(T, L), TG_OK);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    tg_tensor *no_labels = tg_zeros(TG_INT64, TG_SHAPE(0));
    L = tg_loss_cross_entropy(T, x, no_labels);
    ck_assert_ptr_nonnull(L);
    ck_assert_int_eq(tg_item(L, &v), TG_OK);
    ck_assert(isnan(v));
    ck_assert_int_eq(tg_backward(T, L), TG_OK);
    tgt_assert_shape(tg_grad(x), 2, (const int64_t[]){0, 3});
    ck_assert(isnan(tg_accuracy(x, no_labels))); /* the mean of nothing */
    tg_tape_free(T);
    tg_free(no_labels);
    tg_free(x);
}
END_TEST

/* ---- log-softmax and cross-entropy at +-1e4 ------------------------------------- */

/* torch.log_softmax(x, -1), x = [[1e4, -1e4, 0], [-1e4, -1e4, 1e4],
 * [1e4, 1e4, -1e4]]; cross_entropy(x, [1, 0, 2]) and its gradient. */
static const double big_logits[9] = {1e4, -1e4, 0, -1e4, -1e4, 1e4, 1e4, 1e4, -1e4};
static const int32_t big_labels_v[3] = {1, 0, 2};

START_TEST(test_log_softmax_large)
{
    tg_dtype dt = dtypes[_i];
    double ln2 = log(2.0);
    const double want[9] = {0, -2e4, -1e4, -2e4, -2e4, 0, -ln2, -ln2, -2e4 - ln2};
    /* d/dx sum(log_softmax(x)) = 1 - 3 softmax(x) */
    static const double dls[9] = {-2, 1, 1, 1, 1, -2, -0.5, -0.5, 1};
    double rtol = dt == F32 ? 1e-6 : 1e-14;
    tg_tape *T = tg_tape_new();
    tg_tensor *x = mat(dt, 3, 3, big_logits);
    tg_requires_grad(x, true);
    tg_tensor *ls = tg_log_softmax(T, x);
    assert_close(ls, 9, want, rtol, "log_softmax");
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, ls)), TG_OK);
    assert_close(tg_grad(x), 9, dls, rtol, "d sum(log_softmax)");
    /* without a tape too */
    tg_tensor *ls2 = tg_log_softmax(NULL, x);
    assert_close(ls2, 9, want, rtol, "log_softmax without a tape");
    tg_free(ls2);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

START_TEST(test_cross_entropy_large)
{
    tg_dtype dt = dtypes[_i];
    /* torch float64: 20000.231049060185, float32: 20000.232421875 */
    double want = dt == F64 ? 20000.231049060185 : 20000.232421875;
    const double third = 1.0 / 3.0, sixth = 1.0 / 6.0;
    const double grad[9] = {third, -third, 0, -third, 0, third, sixth, sixth, -third};
    double rtol = dt == F32 ? 1e-6 : 1e-14;
    tg_tape *T = tg_tape_new();
    tg_tensor *x = mat(dt, 3, 3, big_logits);
    tg_requires_grad(x, true);
    tg_tensor *big_labels = tg_from_array(TG_INT32, TG_SHAPE(3), big_labels_v);
    tg_tensor *L = tg_loss_cross_entropy(T, x, big_labels);
    double v;
    ck_assert_int_eq(tg_item(L, &v), TG_OK);
    ck_assert_msg(fabs(v - want) <= rtol * want, "loss %.17g, want %.17g", v, want);
    ck_assert_int_eq(tg_backward(T, L), TG_OK);
    assert_close(tg_grad(x), 9, grad, rtol, "d cross_entropy");
    tg_tape_free(T);
    tg_free(big_labels);
    tg_free(x);
}
END_TEST

/* Far beyond 1e4 in float64: [[1e300, -1e300]] -> [[0, -2e300]] (torch). A
 * NaN logit spoils its own row only. */
START_TEST(test_log_softmax_extremes)
{
    tg_tensor *x = mat(F64, 2, 2, (const double[]){1e300, -1e300, (double)NAN, 1});
    tg_tensor *ls = tg_log_softmax(NULL, x);
    assert_values(ls, 4, (const double[]){0, -2e300, (double)NAN, (double)NAN}, "log_softmax extremes");
    tg_free(ls);
    tg_free(x);
}
END_TEST

Suite *test_edge_suite(void); /* called by the generated runner */

Suite *test_edge_suite(void)
{
    Suite *s = suite_create("edge");
    TCase *tc = tgt_tcase("nan_and_inf");
    tcase_add_loop_test(tc, test_unary_specials, 0, 2);
    tcase_add_loop_test(tc, test_binary_specials, 0, 2);
    tcase_add_test(tc, test_float32_overflow);
    tcase_add_loop_test(tc, test_reduce_specials, 0, 2);
    tcase_add_loop_test(tc, test_matmul_specials, 0, 4);
    tcase_add_test(tc, test_gradient_specials);
    tcase_add_test(tc, test_print_specials);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("zero_size");
    tcase_add_loop_test(tc, test_empty_reductions, 0, 2);
    tcase_add_loop_test(tc, test_empty_ops, 0, 2);
    tcase_add_test(tc, test_empty_gradients);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("large_logits");
    tcase_add_loop_test(tc, test_log_softmax_large, 0, 2);
    tcase_add_loop_test(tc, test_cross_entropy_large, 0, 2);
    tcase_add_test(tc, test_log_softmax_extremes);
    suite_add_tcase(s, tc);
    return s;
}
