/* test_gradcheck.c - every differentiable op of autograd/ against central
 * finite differences (tg_gradcheck), on random shapes from a local LCG,
 * broadcasting both ways and non-contiguous leaves; second derivatives by
 * checking gradients that were themselves recorded; and the checker
 * catching a wrong gradient. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>

/* ---- a small deterministic generator -------------------------------------- */

typedef struct lcg {
    uint64_t s;
} lcg;

static uint64_t lcg_next(lcg *g)
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return g->s >> 11; /* 53 bits */
}

static double lcg_unit(lcg *g) { return (double)lcg_next(g) * 0x1p-53; }

static double lcg_range(lcg *g, double lo, double hi)
{
    return lo + (hi - lo) * lcg_unit(g);
}

/* An integer in [lo, hi]. */
static int64_t lcg_int(lcg *g, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(lcg_next(g) % (uint64_t)(hi - lo + 1));
}

/* ---- leaves ------------------------------------------------------------------ */

/* How leaf values are drawn. */
enum {
    D_ANY,      /* [-2, 2] */
    D_POS,      /* [0.5, 2] */
    D_AWAY,     /* +-[0.3, 2]: away from the kinks of abs and relu */
    D_DISTINCT, /* a shuffled ladder 0.1 apart: a unique maximum everywhere */
};

/* How a leaf is laid out in memory. */
enum {
    L_CONTIG,
    L_TRANSPOSED, /* tg_transpose of a base with the last two axes swapped */
    L_STRIDED,    /* every other row of a base twice as tall */
    L_REVERSED,   /* the last axis read backwards with step -2 */
    L_COUNT
};

static void draw_values(lcg *g, int dist, double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        switch (dist) {
        case D_POS:
            v[i] = lcg_range(g, 0.5, 2.0);
            break;
        case D_AWAY:
            v[i] = lcg_range(g, 0.3, 2.0) * (lcg_next(g) & 1 ? 1.0 : -1.0);
            break;
        case D_DISTINCT:
            v[i] = -1.0 + 0.1 * (double)i + lcg_range(g, 0.0, 0.01);
            break;
        default:
            v[i] = lcg_range(g, -2.0, 2.0);
        }
    }
    if (dist == D_DISTINCT)
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = lcg_int(g, 0, i);
            double t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
}

/* A float64 leaf of the given shape and layout that requires a gradient. A
 * non-contiguous leaf is a heap view whose base has already been freed (the
 * view keeps the storage alive). */
static tg_tensor *leaf(lcg *g, int dist, int layout, int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= shape[k];
    double *v = malloc((size_t)(n ? n : 1) * sizeof(double));
    ck_assert_ptr_nonnull(v);
    draw_values(g, dist, v, n);
    tg_tensor *data = tg_from_array(TG_FLOAT64, ndim, shape, v);
    free(v);
    ck_assert_ptr_nonnull(data);
    if (layout == L_TRANSPOSED && ndim < 2)
        layout = L_STRIDED;
    if (ndim == 0)
        layout = L_CONTIG;
    if (layout == L_CONTIG) {
        ck_assert_int_eq(tg_requires_grad(data, true), TG_OK);
        return data;
    }
    int64_t bs[TG_MAX_DIMS];
    for (int k = 0; k < ndim; k++)
        bs[k] = shape[k];
    tg_tensor *base, *view;
    if (layout == L_TRANSPOSED) {
        bs[ndim - 1] = shape[ndim - 2];
        bs[ndim - 2] = shape[ndim - 1];
        base = tg_zeros(TG_FLOAT64, ndim, bs);
        view = tg_transpose(base, -1, -2);
    } else if (layout == L_STRIDED) {
        bs[0] = 2 * shape[0] + 1;
        base = tg_zeros(TG_FLOAT64, ndim, bs);
        view = tg_slice(base, 0, 0, 2 * shape[0], 2);
    } else {
        bs[ndim - 1] = 2 * shape[ndim - 1];
        base = tg_zeros(TG_FLOAT64, ndim, bs);
        view = tg_slice(base, -1, bs[ndim - 1] - 1, TG_NONE, -2);
    }
    ck_assert_ptr_nonnull(view);
    tg_free(base);
    tgt_assert_shape(view, ndim, shape);
    ck_assert_int_eq(tg_copy(view, data), TG_OK);
    tg_free(data);
    ck_assert_int_eq(tg_requires_grad(view, true), TG_OK);
    return view;
}

static int random_shape(lcg *g, int nd_min, int nd_max, int64_t *shape)
{
    int nd = (int)lcg_int(g, nd_min, nd_max);
    for (int k = 0; k < nd; k++)
        shape[k] = lcg_int(g, 1, 4);
    return nd;
}

/* ---- the functions under test ---------------------------------------------- */

enum {
    K_ADD, K_SUB, K_MUL, K_DIV, K_POW, K_MAXIMUM, K_MINIMUM,
    K_ADDS, K_SUBS, K_RSUBS, K_MULS, K_DIVS, K_RDIVS, K_POWS,
    K_NEG, K_EXP, K_LOG, K_SQRT, K_ABS, K_TANH, K_SIGMOID, K_RELU,
    K_SUM, K_MEAN, K_MAX, K_SUM_AXIS, K_MEAN_AXIS, K_MAX_AXIS, K_SUM_TO,
    K_MATMUL, K_RESHAPE, K_TRANSPOSE, K_PERMUTE, K_SLICE, K_EXPAND, K_CAST,
    K_COUNT
};

static const char *const kind_names[K_COUNT] = {
    "add", "sub", "mul", "div", "pow", "maximum", "minimum",
    "add_scalar", "sub_scalar", "rsub_scalar", "mul_scalar", "div_scalar",
    "rdiv_scalar", "pow_scalar", "neg", "exp", "log", "sqrt", "abs", "tanh",
    "sigmoid", "relu", "sum", "mean", "max", "sum_axis", "mean_axis",
    "max_axis", "sum_to", "matmul", "reshape", "transpose", "permute", "slice",
    "expand", "cast"};

typedef struct op_case {
    int kind;
    double s;        /* scalar operand */
    int axis, axis1; /* reduction / transpose / slice axes */
    bool keepdims;
    int ndim;        /* target shape of sum_to, reshape, expand */
    int64_t shape[TG_MAX_DIMS];
    int perm[TG_MAX_DIMS];
    int64_t start, stop, step;
    bool second;     /* return d(sum(op * weights))/d inputs instead (Hessian) */
} op_case;

static int kind_arity(int kind)
{
    return kind <= K_MINIMUM || kind == K_MATMUL ? 2 : 1;
}

static tg_tensor *apply_op(tg_tape *T, tg_tensor *const *in, const op_case *c)
{
    tg_tensor *a = in[0], *b = kind_arity(c->kind) > 1 ? in[1] : NULL;
    switch (c->kind) {
    case K_ADD: return tg_ad_add(T, a, b);
    case K_SUB: return tg_ad_sub(T, a, b);
    case K_MUL: return tg_ad_mul(T, a, b);
    case K_DIV: return tg_ad_div(T, a, b);
    case K_POW: return tg_ad_pow(T, a, b);
    case K_MAXIMUM: return tg_ad_maximum(T, a, b);
    case K_MINIMUM: return tg_ad_minimum(T, a, b);
    case K_ADDS: return tg_ad_add_scalar(T, a, c->s);
    case K_SUBS: return tg_ad_sub_scalar(T, a, c->s);
    case K_RSUBS: return tg_ad_rsub_scalar(T, a, c->s);
    case K_MULS: return tg_ad_mul_scalar(T, a, c->s);
    case K_DIVS: return tg_ad_div_scalar(T, a, c->s);
    case K_RDIVS: return tg_ad_rdiv_scalar(T, a, c->s);
    case K_POWS: return tg_ad_pow_scalar(T, a, c->s);
    case K_NEG: return tg_ad_neg(T, a);
    case K_EXP: return tg_ad_exp(T, a);
    case K_LOG: return tg_ad_log(T, a);
    case K_SQRT: return tg_ad_sqrt(T, a);
    case K_ABS: return tg_ad_abs(T, a);
    case K_TANH: return tg_ad_tanh(T, a);
    case K_SIGMOID: return tg_ad_sigmoid(T, a);
    case K_RELU: return tg_ad_relu(T, a);
    case K_SUM: return tg_ad_sum(T, a);
    case K_MEAN: return tg_ad_mean(T, a);
    case K_MAX: return tg_ad_max(T, a);
    case K_SUM_AXIS: return tg_ad_sum_axis(T, a, c->axis, c->keepdims);
    case K_MEAN_AXIS: return tg_ad_mean_axis(T, a, c->axis, c->keepdims);
    case K_MAX_AXIS: return tg_ad_max_axis(T, a, c->axis, c->keepdims);
    case K_SUM_TO: return tg_ad_sum_to(T, a, c->ndim, c->shape);
    case K_MATMUL: return tg_ad_matmul(T, a, b);
    case K_RESHAPE: return tg_ad_reshape(T, a, c->ndim, c->shape);
    case K_TRANSPOSE: return tg_ad_transpose(T, a, c->axis, c->axis1);
    case K_PERMUTE: return tg_ad_permute(T, a, c->perm);
    case K_SLICE: return tg_ad_slice(T, a, c->axis, c->start, c->stop, c->step);
    case K_EXPAND: return tg_ad_expand(T, a, c->ndim, c->shape);
    case K_CAST: /* float64 -> float32 -> float64 */
        return tg_ad_cast(T, tg_ad_cast(T, a, TG_FLOAT32), TG_FLOAT64);
    default:
        return NULL;
    }
}

/* A tape-owned constant shaped like y: fixed, non-uniform weights that do
 * not move when the checker perturbs the inputs. */
static tg_tensor *fixed_weights(tg_tape *T, tg_tensor *y)
{
    tg_tensor *u = tg_ad_detach(T, y);
    if (!u)
        return NULL;
    for (int64_t i = 0; i < tg_numel(u); i++)
        ((double *)tg_data(u))[i] = 0.5 + 0.25 * (double)(i % 5);
    return u;
}

/* The function handed to tg_gradcheck. With c->second it returns
 * d sum(op(in) * u) / d in for fixed weights u, recorded with create_graph,
 * so the checker compares second derivatives. */
static tg_tensor *fn_op(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    const op_case *c = ctx;
    tg_tensor *y = apply_op(T, in, c);
    if (!c->second || !y)
        return y;
    tg_tensor *root = tg_ad_sum(T, tg_ad_mul(T, y, fixed_weights(T, y)));
    int n = kind_arity(c->kind);
    tg_tensor *g[2] = {NULL, NULL};
    tg_tensor *wrt[2];
    int m = 0;
    for (int i = 0; i < n; i++)
        if (tg_requires_grad_of(in[i]))
            wrt[m++] = in[i];
    if (tg_ad_grad(T, root, NULL, m, wrt, g, true))
        return NULL;
    if (m == 1)
        return g[0];
    /* Both gradients into one output: sum(g0^2) + sum(g1 * tanh(g1)). */
    return tg_ad_add(T, tg_ad_sum(T, tg_ad_mul(T, g[0], g[0])),
                     tg_ad_sum(T, tg_ad_mul(T, g[1], tg_ad_tanh(T, g[1]))));
}

/* Runs tg_gradcheck on c over inputs and asserts that it passed, compared
 * every element of every input that requires a gradient, and left the
 * inputs as they were. */
static void check_case_tol(const op_case *c, int n, tg_tensor *const *in,
                           double eps, double atol, double rtol, const char *what)
{
    int64_t want = 0, total = 0;
    for (int i = 0; i < n; i++) {
        total += tg_numel(in[i]);
        if (tg_requires_grad_of(in[i]))
            want += tg_numel(in[i]);
    }
    double *before = malloc((size_t)(total ? total : 1) * sizeof(double));
    ck_assert_ptr_nonnull(before);
    int64_t off = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < tg_numel(in[i]); j++)
            before[off++] = tgt_at(in[i], j);

    tg_gradcheck_report rep;
    int rc = tg_gradcheck(fn_op, (void *)(uintptr_t)c, n, in, eps, atol, rtol, &rep);
    ck_assert_msg(rc == TG_OK, "%s %s: gradcheck did not run: %s", kind_names[c->kind],
                  what, tg_last_message());
    ck_assert_msg(rep.checked == want, "%s %s: checked %lld of %lld elements",
                  kind_names[c->kind], what, (long long)rep.checked, (long long)want);
    ck_assert_msg(rep.ok,
                  "%s %s: gradient mismatch at input %d element %lld: analytic %.17g "
                  "numeric %.17g (ratio %g)",
                  kind_names[c->kind], what, rep.input, (long long)rep.index,
                  rep.analytic, rep.numeric, rep.worst_ratio);
    ck_assert(rep.worst_ratio <= 1.0);

    off = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < tg_numel(in[i]); j++, off++)
            ck_assert_msg(tgt_at(in[i], j) == before[off],
                          "%s: input %d element %lld not restored", what, i, (long long)j);
    free(before);
}

static void check_case(const op_case *c, int n, tg_tensor *const *in, const char *what)
{
    check_case_tol(c, n, in, 1e-6, 1e-7, 1e-5, what);
}

static void free_inputs(tg_tensor **in, int n)
{
    for (int i = 0; i < n; i++)
        tg_free(in[i]);
}

/* ---- binary ops ---------------------------------------------------------------- */

static const int binary_kinds[] = {K_ADD, K_SUB, K_MUL, K_DIV, K_POW, K_MAXIMUM, K_MINIMUM};
#define N_BINARY ((int)(sizeof binary_kinds / sizeof binary_kinds[0]))

/* Smallest |a - b| over the broadcast pairs (to keep maximum/minimum away
 * from ties). */
static double min_gap(const tg_tensor *a, const tg_tensor *b)
{
    tg_tensor *d = tg_sub(a, b);
    ck_assert_ptr_nonnull(d);
    double m = (double)INFINITY;
    for (int64_t i = 0; i < tg_numel(d); i++)
        m = fmin(m, fabs(tgt_at(d, i)));
    tg_free(d);
    return m;
}

/* Two leaves suited to kind: a positive base for pow, a divisor away from
 * zero, no ties for maximum/minimum. */
static void binary_inputs(lcg *g, int kind, int nda, const int64_t *sa, int la,
                          int ndb, const int64_t *sb, int lb, tg_tensor **in)
{
    int da = kind == K_POW ? D_POS : D_ANY;
    int db = kind == K_DIV ? D_AWAY : D_ANY;
    for (int tries = 0;; tries++) {
        in[0] = leaf(g, da, la, nda, sa);
        in[1] = leaf(g, db, lb, ndb, sb);
        if ((kind != K_MAXIMUM && kind != K_MINIMUM) || min_gap(in[0], in[1]) > 1e-3)
            return;
        ck_assert_int_lt(tries, 100);
        free_inputs(in, 2);
    }
}

static void check_binary_shapes(lcg *g, int nda, const int64_t *sa, int ndb,
                                const int64_t *sb, const char *what)
{
    for (int k = 0; k < N_BINARY; k++) {
        op_case c = {.kind = binary_kinds[k]};
        tg_tensor *in[2];
        binary_inputs(g, c.kind, nda, sa, (int)lcg_int(g, 0, L_COUNT - 1), ndb, sb,
                      (int)lcg_int(g, 0, L_COUNT - 1), in);
        check_case(&c, 2, in, what);
        free_inputs(in, 2);
    }
}

START_TEST(test_binary_same_shape)
{
    lcg g = {11};
    for (int rep = 0; rep < 4; rep++) {
        int64_t s[TG_MAX_DIMS];
        int nd = random_shape(&g, 0, 4, s);
        check_binary_shapes(&g, nd, s, nd, s, "same shape");
    }
}
END_TEST

START_TEST(test_binary_broadcast_col_row)
{
    lcg g = {12};
    check_binary_shapes(&g, TG_SHAPE(3, 1), TG_SHAPE(1, 4), "(3,1) op (1,4)");
    check_binary_shapes(&g, TG_SHAPE(1, 4), TG_SHAPE(3, 1), "(1,4) op (3,1)");
}
END_TEST

START_TEST(test_binary_broadcast_vec_left)
{
    lcg g = {13};
    check_binary_shapes(&g, TG_SHAPE(4), TG_SHAPE(2, 3, 4), "(4,) op (2,3,4)");
}
END_TEST

START_TEST(test_binary_broadcast_vec_right)
{
    lcg g = {14};
    check_binary_shapes(&g, TG_SHAPE(2, 3, 4), TG_SHAPE(4), "(2,3,4) op (4,)");
}
END_TEST

START_TEST(test_binary_broadcast_scalar)
{
    lcg g = {15};
    check_binary_shapes(&g, 0, NULL, TG_SHAPE(2, 3), "() op (2,3)");
    check_binary_shapes(&g, TG_SHAPE(2, 3), TG_SHAPE(1), "(2,3) op (1,)");
}
END_TEST

START_TEST(test_binary_broadcast_random)
{
    lcg g = {16};
    for (int rep = 0; rep < 5; rep++) {
        int64_t s[TG_MAX_DIMS], p[TG_MAX_DIMS];
        int nd = random_shape(&g, 1, 4, s);
        /* The partner: some leading axes dropped, some sizes set to 1. */
        int drop = (int)lcg_int(&g, 0, nd - 1), np = nd - drop;
        for (int k = 0; k < np; k++)
            p[k] = lcg_int(&g, 0, 2) == 0 ? 1 : s[k + drop];
        if (rep % 2)
            check_binary_shapes(&g, nd, s, np, p, "random broadcast, big left");
        else
            check_binary_shapes(&g, np, p, nd, s, "random broadcast, big right");
    }
}
END_TEST

START_TEST(test_binary_one_side_requires_grad)
{
    lcg g = {17};
    for (int k = 0; k < N_BINARY; k++) {
        op_case c = {.kind = binary_kinds[k]};
        for (int side = 0; side < 2; side++) {
            tg_tensor *in[2];
            binary_inputs(&g, c.kind, TG_SHAPE(2, 3), L_CONTIG, TG_SHAPE(3), L_STRIDED, in);
            ck_assert_int_eq(tg_requires_grad(in[side], false), TG_OK);
            check_case(&c, 2, in, side ? "only a requires grad" : "only b requires grad");
            free_inputs(in, 2);
        }
    }
}
END_TEST

START_TEST(test_binary_noncontiguous)
{
    lcg g = {18};
    for (int la = L_TRANSPOSED; la < L_COUNT; la++)
        for (int k = 0; k < N_BINARY; k++) {
            op_case c = {.kind = binary_kinds[k]};
            tg_tensor *in[2];
            binary_inputs(&g, c.kind, TG_SHAPE(3, 4), la, TG_SHAPE(3, 4),
                          L_COUNT - la, in);
            ck_assert(!tg_is_contiguous(in[0]));
            check_case(&c, 2, in, "non-contiguous leaves");
            free_inputs(in, 2);
        }
}
END_TEST

/* ---- scalar and unary ops --------------------------------------------------------- */

static void check_unary(lcg *g, op_case *c, int dist, int reps, const char *what)
{
    for (int rep = 0; rep < reps; rep++) {
        int64_t s[TG_MAX_DIMS];
        int nd = random_shape(g, 0, 3, s);
        tg_tensor *x = leaf(g, dist, rep % L_COUNT, nd, s);
        check_case(c, 1, &x, what);
        tg_free(x);
    }
}

START_TEST(test_scalar_ops)
{
    lcg g = {21};
    static const int kinds[] = {K_ADDS, K_SUBS, K_RSUBS, K_MULS, K_DIVS};
    static const double svals[] = {2.5, -0.75, 0.0, 3.0};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (size_t j = 0; j < sizeof svals / sizeof svals[0]; j++) {
            op_case c = {.kind = kinds[k], .s = svals[j]};
            if (c.kind == K_DIVS && c.s == 0.0)
                c.s = -4.0;
            check_unary(&g, &c, D_ANY, 2, "scalar op");
        }
}
END_TEST

START_TEST(test_rdiv_scalar)
{
    lcg g = {22};
    static const double svals[] = {1.0, -2.5, 0.5};
    for (size_t j = 0; j < 3; j++) {
        op_case c = {.kind = K_RDIVS, .s = svals[j]};
        check_unary(&g, &c, D_AWAY, 3, "rdiv_scalar");
    }
}
END_TEST

START_TEST(test_pow_scalar_exponents)
{
    lcg g = {23};
    static const double exps[] = {0.0, 1.0, 2.0, 3.0, 0.5, -1.5, 2.5};
    for (size_t j = 0; j < sizeof exps / sizeof exps[0]; j++) {
        op_case c = {.kind = K_POWS, .s = exps[j]};
        check_unary(&g, &c, D_POS, 3, "pow_scalar");
    }
}
END_TEST

START_TEST(test_pow_scalar_integer_negative_base)
{
    /* Integer exponents are differentiable at negative bases too. */
    lcg g = {24};
    static const double exps[] = {2.0, 3.0};
    for (size_t j = 0; j < 2; j++) {
        op_case c = {.kind = K_POWS, .s = exps[j]};
        check_unary(&g, &c, D_AWAY, 3, "pow_scalar, negative base");
    }
}
END_TEST

START_TEST(test_unary_smooth)
{
    lcg g = {25};
    op_case c = {.kind = K_NEG};
    check_unary(&g, &c, D_ANY, 4, "neg");
    c.kind = K_EXP;
    check_unary(&g, &c, D_ANY, 4, "exp");
    c.kind = K_LOG;
    check_unary(&g, &c, D_POS, 4, "log");
    c.kind = K_SQRT;
    check_unary(&g, &c, D_POS, 4, "sqrt");
    c.kind = K_TANH;
    check_unary(&g, &c, D_ANY, 4, "tanh");
    c.kind = K_SIGMOID;
    check_unary(&g, &c, D_ANY, 4, "sigmoid");
}
END_TEST

START_TEST(test_unary_kinks)
{
    lcg g = {26};
    op_case c = {.kind = K_ABS};
    check_unary(&g, &c, D_AWAY, 4, "abs");
    c.kind = K_RELU;
    check_unary(&g, &c, D_AWAY, 4, "relu");
}
END_TEST

/* ---- reductions ---------------------------------------------------------------------- */

START_TEST(test_reduce_all)
{
    lcg g = {31};
    static const int kinds[] = {K_SUM, K_MEAN, K_MAX};
    for (size_t k = 0; k < 3; k++) {
        op_case c = {.kind = kinds[k]};
        check_unary(&g, &c, c.kind == K_MAX ? D_DISTINCT : D_ANY, 4, "whole tensor");
    }
}
END_TEST

static void check_axis_reduction(int kind, uint64_t seed)
{
    lcg g = {seed};
    for (int rep = 0; rep < 3; rep++) {
        int64_t s[TG_MAX_DIMS];
        int nd = random_shape(&g, 1, 4, s);
        for (int axis = -nd; axis < nd; axis++)
            for (int keep = 0; keep < 2; keep++) {
                op_case c = {.kind = kind, .axis = axis, .keepdims = keep};
                tg_tensor *x = leaf(&g, kind == K_MAX_AXIS ? D_DISTINCT : D_ANY,
                                    (int)lcg_int(&g, 0, L_COUNT - 1), nd, s);
                check_case(&c, 1, &x, keep ? "keepdims" : "no keepdims");
                tg_free(x);
            }
    }
}

START_TEST(test_sum_axis) { check_axis_reduction(K_SUM_AXIS, 32); }
END_TEST

START_TEST(test_mean_axis) { check_axis_reduction(K_MEAN_AXIS, 33); }
END_TEST

START_TEST(test_max_axis) { check_axis_reduction(K_MAX_AXIS, 34); }
END_TEST

START_TEST(test_sum_to)
{
    lcg g = {35};
    static const struct {
        int nd;
        int64_t s[3];
    } targets[] = {{2, {3, 1}}, {1, {4}}, {3, {1, 3, 4}}, {3, {2, 1, 1}},
                   {1, {1}},    {0, {0}}, {3, {2, 3, 4}}, {2, {1, 4}}};
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        op_case c = {.kind = K_SUM_TO, .ndim = targets[t].nd};
        for (int k = 0; k < c.ndim; k++)
            c.shape[k] = targets[t].s[k];
        tg_tensor *x = leaf(&g, D_ANY, (int)(t % L_COUNT), TG_SHAPE(2, 3, 4));
        check_case(&c, 1, &x, "(2,3,4) summed down");
        tg_free(x);
    }
}
END_TEST

/* ---- matmul ------------------------------------------------------------------------------ */

static void check_matmul(lcg *g, int nda, const int64_t *sa, int ndb,
                         const int64_t *sb, const char *what)
{
    op_case c = {.kind = K_MATMUL};
    tg_tensor *in[2] = {leaf(g, D_ANY, (int)lcg_int(g, 0, L_COUNT - 1), nda, sa),
                        leaf(g, D_ANY, (int)lcg_int(g, 0, L_COUNT - 1), ndb, sb)};
    check_case(&c, 2, in, what);
    free_inputs(in, 2);
}

START_TEST(test_matmul_2d)
{
    lcg g = {41};
    for (int rep = 0; rep < 5; rep++) {
        int64_t m = lcg_int(&g, 1, 5), k = lcg_int(&g, 1, 5), n = lcg_int(&g, 1, 5);
        check_matmul(&g, TG_SHAPE(m, k), TG_SHAPE(k, n), "2-D");
    }
}
END_TEST

START_TEST(test_matmul_vector_matrix)
{
    lcg g = {42};
    for (int rep = 0; rep < 4; rep++) {
        int64_t k = lcg_int(&g, 1, 5), n = lcg_int(&g, 1, 5);
        check_matmul(&g, TG_SHAPE(k), TG_SHAPE(k, n), "(k,) @ (k,n)");
    }
}
END_TEST

START_TEST(test_matmul_matrix_vector)
{
    lcg g = {43};
    for (int rep = 0; rep < 4; rep++) {
        int64_t m = lcg_int(&g, 1, 5), k = lcg_int(&g, 1, 5);
        check_matmul(&g, TG_SHAPE(m, k), TG_SHAPE(k), "(m,k) @ (k,)");
    }
}
END_TEST

START_TEST(test_matmul_vector_vector)
{
    lcg g = {44};
    for (int rep = 0; rep < 4; rep++) {
        int64_t k = lcg_int(&g, 1, 6);
        check_matmul(&g, TG_SHAPE(k), TG_SHAPE(k), "(k,) @ (k,)");
    }
}
END_TEST

START_TEST(test_matmul_batched)
{
    lcg g = {45};
    check_matmul(&g, TG_SHAPE(2, 3, 4), TG_SHAPE(2, 4, 5), "(2,3,4) @ (2,4,5)");
    check_matmul(&g, TG_SHAPE(2, 1, 3, 4), TG_SHAPE(5, 4, 2), "(2,1,3,4) @ (5,4,2)");
    check_matmul(&g, TG_SHAPE(3, 4), TG_SHAPE(2, 4, 5), "(3,4) @ (2,4,5)");
    check_matmul(&g, TG_SHAPE(2, 3, 4), TG_SHAPE(4, 2), "(2,3,4) @ (4,2)");
    check_matmul(&g, TG_SHAPE(1, 3, 4), TG_SHAPE(3, 1, 4, 2), "(1,3,4) @ (3,1,4,2)");
    check_matmul(&g, TG_SHAPE(4), TG_SHAPE(2, 4, 5), "(4,) @ (2,4,5)");
    check_matmul(&g, TG_SHAPE(2, 3, 4), TG_SHAPE(4), "(2,3,4) @ (4,)");
}
END_TEST

START_TEST(test_matmul_noncontiguous)
{
    lcg g = {46};
    op_case c = {.kind = K_MATMUL};
    tg_tensor *in[2] = {leaf(&g, D_ANY, L_TRANSPOSED, TG_SHAPE(3, 4)),
                        leaf(&g, D_ANY, L_REVERSED, TG_SHAPE(4, 2))};
    ck_assert(!tg_is_contiguous(in[0]) && !tg_is_contiguous(in[1]));
    check_case(&c, 2, in, "transposed @ reversed");
    free_inputs(in, 2);
    tg_tensor *in2[2] = {leaf(&g, D_ANY, L_STRIDED, TG_SHAPE(2, 3, 4)),
                         leaf(&g, D_ANY, L_TRANSPOSED, TG_SHAPE(2, 4, 3))};
    check_case(&c, 2, in2, "strided @ transposed, batched");
    free_inputs(in2, 2);
}
END_TEST

/* ---- views and shape ops --------------------------------------------------------------- */

START_TEST(test_reshape)
{
    lcg g = {51};
    static const struct {
        int nd;
        int64_t s[3];
    } targets[] = {{2, {4, 6}}, {1, {24}}, {3, {2, -1, 3}}, {3, {4, 3, 2}}};
    for (size_t t = 0; t < 4; t++)
        for (int layout = 0; layout < L_COUNT; layout++) {
            op_case c = {.kind = K_RESHAPE, .ndim = targets[t].nd};
            for (int k = 0; k < c.ndim; k++)
                c.shape[k] = targets[t].s[k];
            tg_tensor *x = leaf(&g, D_ANY, layout, TG_SHAPE(2, 3, 4));
            check_case(&c, 1, &x, layout == L_CONTIG ? "view reshape" : "copying reshape");
            tg_free(x);
        }
}
END_TEST

START_TEST(test_transpose)
{
    lcg g = {52};
    static const int axes[][2] = {{0, 1}, {0, 2}, {-1, -2}, {2, 0}, {1, 1}};
    for (size_t t = 0; t < 5; t++) {
        op_case c = {.kind = K_TRANSPOSE, .axis = axes[t][0], .axis1 = axes[t][1]};
        tg_tensor *x = leaf(&g, D_ANY, (int)(t % L_COUNT), TG_SHAPE(2, 3, 4));
        check_case(&c, 1, &x, "transpose");
        tg_free(x);
    }
}
END_TEST

START_TEST(test_permute)
{
    lcg g = {53};
    static const int perms[][4] = {{2, 0, 1, 3}, {1, -1, 0, 2}, {3, 2, 1, 0}, {0, 1, 2, 3}};
    for (size_t t = 0; t < 4; t++) {
        op_case c = {.kind = K_PERMUTE};
        for (int k = 0; k < 4; k++)
            c.perm[k] = perms[t][k];
        tg_tensor *x = leaf(&g, D_ANY, (int)(t % L_COUNT), TG_SHAPE(2, 3, 4, 2));
        check_case(&c, 1, &x, "permute");
        tg_free(x);
    }
}
END_TEST

static void check_slices(uint64_t seed, const int64_t (*sl)[4], size_t n, const char *what)
{
    lcg g = {seed};
    for (size_t t = 0; t < n; t++) {
        op_case c = {.kind = K_SLICE, .axis = (int)sl[t][0], .start = sl[t][1],
                     .stop = sl[t][2], .step = sl[t][3]};
        tg_tensor *x = leaf(&g, D_ANY, (int)(t % L_COUNT), TG_SHAPE(5, 4, 3));
        check_case(&c, 1, &x, what);
        tg_free(x);
    }
}

START_TEST(test_slice_positive_steps)
{
    static const int64_t sl[][4] = {{0, 1, 4, 1}, {0, 0, 5, 2}, {1, 1, 4, 2},
                                    {-1, 0, 3, 3}, {2, 1, 2, 1}, {-2, 0, 4, 1}};
    check_slices(61, sl, sizeof sl / sizeof sl[0], "slice, positive step");
}
END_TEST

START_TEST(test_slice_negative_steps)
{
    static const int64_t sl[][4] = {{0, 4, TG_NONE, -1}, {0, 4, TG_NONE, -2},
                                    {1, 3, 0, -1},       {-1, 2, TG_NONE, -2},
                                    {1, 2, 1, -1},       {-3, 3, 0, -3}};
    check_slices(62, sl, sizeof sl / sizeof sl[0], "slice, negative step");
}
END_TEST

START_TEST(test_expand)
{
    lcg g = {63};
    op_case c = {.kind = K_EXPAND, .ndim = 3, .shape = {2, 3, 4}};
    tg_tensor *x = leaf(&g, D_ANY, L_CONTIG, TG_SHAPE(3, 1));
    check_case(&c, 1, &x, "(3,1) -> (2,3,4)");
    tg_free(x);
    x = leaf(&g, D_ANY, L_REVERSED, TG_SHAPE(4));
    check_case(&c, 1, &x, "(4,) -> (2,3,4)");
    tg_free(x);
    x = leaf(&g, D_ANY, L_CONTIG, 0, NULL);
    check_case(&c, 1, &x, "() -> (2,3,4)");
    tg_free(x);
    op_case c2 = {.kind = K_EXPAND, .ndim = 2, .shape = {3, 5}};
    x = leaf(&g, D_ANY, L_STRIDED, TG_SHAPE(3, 1));
    check_case(&c2, 1, &x, "strided (3,1) -> (3,5)");
    tg_free(x);
}
END_TEST

START_TEST(test_cast_roundtrip)
{
    lcg g = {64};
    op_case c = {.kind = K_CAST};
    tg_tensor *x = leaf(&g, D_ANY, L_TRANSPOSED, TG_SHAPE(3, 4));
    /* Float32 rounding makes finite differences coarse: a wide step and a
     * loose tolerance. */
    check_case_tol(&c, 1, &x, 1e-3, 1e-4, 1e-3, "f64 -> f32 -> f64");

    /* Values and the exact gradient: d sum(cast(cast(x)) * w) / dx = w. */
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_nonnull(T);
    tg_tensor *y32 = tg_ad_cast(T, x, TG_FLOAT32);
    tg_tensor *y = tg_ad_cast(T, y32, TG_FLOAT64);
    ck_assert_int_eq(tg_dtype_of(y32), TG_FLOAT32);
    ck_assert_int_eq(tg_dtype_of(y), TG_FLOAT64);
    tg_tensor *w = tg_arange(TG_FLOAT64, 1, 13, 1);
    tg_tensor *w2 = tg_reshape(w, TG_SHAPE(3, 4));
    tg_tensor *loss = tg_ad_sum(T, tg_ad_mul(T, y, w2));
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    for (int64_t i = 0; i < 12; i++) {
        ck_assert_double_eq(tgt_at(y, i), (double)(float)tgt_at(x, i));
        ck_assert_double_eq(tgt_at(tg_grad(x), i), (double)(i + 1));
    }
    tg_tape_free(T);
    tg_free(w2);
    tg_free(w);
    tg_free(x);
}
END_TEST

/* ---- compositions ------------------------------------------------------------------------- */

/* A two-layer net: mean(sigmoid(tanh(X @ W1 + b1) @ W2)) with every piece a
 * leaf, so each gets its gradient through several ops. */
static tg_tensor *fn_mlp(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    tg_tensor *h = tg_ad_tanh(T, tg_ad_add(T, tg_ad_matmul(T, in[0], in[1]), in[2]));
    tg_tensor *o = tg_ad_sigmoid(T, tg_ad_matmul(T, h, in[3]));
    return tg_ad_mean(T, tg_ad_mul(T, o, tg_ad_log(T, tg_ad_add_scalar(T, o, 1.0))));
}

START_TEST(test_composite_mlp)
{
    lcg g = {71};
    tg_tensor *in[4] = {leaf(&g, D_ANY, L_CONTIG, TG_SHAPE(5, 3)),
                        leaf(&g, D_ANY, L_TRANSPOSED, TG_SHAPE(3, 4)),
                        leaf(&g, D_ANY, L_REVERSED, TG_SHAPE(4)),
                        leaf(&g, D_ANY, L_STRIDED, TG_SHAPE(4, 2))};
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(fn_mlp, NULL, 4, in, 1e-6, 1e-8, 1e-5, &rep), TG_OK);
    ck_assert_msg(rep.ok, "input %d element %lld: %.17g vs %.17g", rep.input,
                  (long long)rep.index, rep.analytic, rep.numeric);
    ck_assert_int_eq(rep.checked, 15 + 12 + 4 + 8);
    /* X need not require a gradient; then only the others are checked. */
    ck_assert_int_eq(tg_requires_grad(in[0], false), TG_OK);
    ck_assert_int_eq(tg_gradcheck(fn_mlp, NULL, 4, in, 1e-6, 1e-8, 1e-5, &rep), TG_OK);
    ck_assert(rep.ok);
    ck_assert_int_eq(rep.checked, 12 + 4 + 8);
    free_inputs(in, 4);
}
END_TEST

/* A leaf reached along several paths, through views and reductions. */
static tg_tensor *fn_shared(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    tg_tensor *x = in[0];                                     /* (4,3) */
    tg_tensor *xt = tg_ad_transpose(T, x, 0, 1);              /* (3,4) */
    tg_tensor *p = tg_ad_matmul(T, x, xt);                    /* (4,4) */
    tg_tensor *r = tg_ad_slice(T, x, 0, 3, TG_NONE, -1);      /* (4,3) reversed */
    tg_tensor *q = tg_ad_mul(T, r, tg_ad_max_axis(T, x, 1, true));
    return tg_ad_add(T, tg_ad_sum_axis(T, p, -1, false), tg_ad_sum_axis(T, q, 1, false));
}

START_TEST(test_composite_shared_leaf)
{
    lcg g = {72};
    tg_tensor *x = leaf(&g, D_DISTINCT, L_CONTIG, TG_SHAPE(4, 3));
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(fn_shared, NULL, 1, &x, 1e-6, 1e-8, 1e-5, &rep), TG_OK);
    ck_assert_msg(rep.ok, "element %lld: %.17g vs %.17g", (long long)rep.index,
                  rep.analytic, rep.numeric);
    ck_assert_int_eq(rep.checked, 12);
    tg_free(x);
}
END_TEST

/* ---- second derivatives: gradcheck of a recorded gradient ------------------------------ */

static void check_second(lcg *g, int kind, double s, int dist, int nd, const int64_t *shape)
{
    op_case c = {.kind = kind, .s = s, .second = true};
    tg_tensor *x = leaf(g, dist, (int)lcg_int(g, 0, L_COUNT - 1), nd, shape);
    check_case_tol(&c, 1, &x, 1e-5, 1e-7, 1e-5, "second order");
    tg_free(x);
}

START_TEST(test_second_order_unary)
{
    lcg g = {81};
    check_second(&g, K_EXP, 0, D_ANY, TG_SHAPE(2, 3));
    check_second(&g, K_LOG, 0, D_POS, TG_SHAPE(2, 3));
    check_second(&g, K_SQRT, 0, D_POS, TG_SHAPE(2, 3));
    check_second(&g, K_TANH, 0, D_ANY, TG_SHAPE(2, 3));
    check_second(&g, K_SIGMOID, 0, D_ANY, TG_SHAPE(2, 3));
    check_second(&g, K_RDIVS, 1.5, D_AWAY, TG_SHAPE(2, 3));
    check_second(&g, K_POWS, 3.0, D_ANY, TG_SHAPE(2, 3));
    check_second(&g, K_POWS, 2.0, D_ANY, TG_SHAPE(2, 3));
    check_second(&g, K_POWS, 0.5, D_POS, TG_SHAPE(2, 3));
    check_second(&g, K_ABS, 0, D_AWAY, TG_SHAPE(2, 3));
    check_second(&g, K_RELU, 0, D_AWAY, TG_SHAPE(2, 3));
    check_second(&g, K_MULS, -2.0, D_ANY, TG_SHAPE(2, 3));
    check_second(&g, K_NEG, 0, D_ANY, TG_SHAPE(4));
}
END_TEST

/* Second derivatives through a linear op: the gradient of
 * sum(op(x)^3 * u) (recorded), whose own gradient goes back through the op
 * and its adjoint again. */
static tg_tensor *fn_cube_of_op(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    const op_case *c = ctx;
    op_case first = *c;
    first.second = false;
    tg_tensor *y = tg_ad_pow_scalar(T, apply_op(T, in, &first), 3.0);
    tg_tensor *root = tg_ad_sum(T, tg_ad_mul(T, y, fixed_weights(T, y)));
    tg_tensor *gx;
    if (!root || tg_ad_grad(T, root, NULL, 1, in, &gx, true))
        return NULL;
    return gx;
}

START_TEST(test_second_order_through_shape_ops)
{
    lcg g = {83};
    op_case cases[] = {
        {.kind = K_SUM_AXIS, .axis = -1},
        {.kind = K_MEAN_AXIS, .axis = 0, .keepdims = true},
        {.kind = K_MAX_AXIS, .axis = 1},
        {.kind = K_MAX},
        {.kind = K_SLICE, .axis = 1, .start = 2, .stop = -1, .step = -2},
        {.kind = K_SLICE, .axis = 2, .start = 1, .stop = 4, .step = 2},
        {.kind = K_PERMUTE, .perm = {2, 0, 1}},
        {.kind = K_TRANSPOSE, .axis = 0, .axis1 = -1},
        {.kind = K_RESHAPE, .ndim = 2, .shape = {4, 6}},
        {.kind = K_EXPAND, .ndim = 4, .shape = {2, 2, 3, 4}},
        {.kind = K_SUM_TO, .ndim = 2, .shape = {1, 4}},
        {.kind = K_CAST},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        tg_tensor *x = leaf(&g, D_DISTINCT, (int)(t % L_COUNT), TG_SHAPE(2, 3, 4));
        tg_gradcheck_report rep;
        bool loose = cases[t].kind == K_CAST;
        int rc = tg_gradcheck(fn_cube_of_op, &cases[t], 1, &x, loose ? 1e-3 : 1e-5,
                              loose ? 1e-3 : 1e-7, loose ? 1e-2 : 1e-5, &rep);
        ck_assert_msg(rc == TG_OK, "%s: %s", kind_names[cases[t].kind], tg_last_message());
        ck_assert_msg(rep.ok, "%s: element %lld: analytic %.17g numeric %.17g",
                      kind_names[cases[t].kind], (long long)rep.index, rep.analytic,
                      rep.numeric);
        ck_assert_int_eq(rep.checked, 24);
        tg_free(x);
    }
}
END_TEST

START_TEST(test_second_order_binary)
{
    lcg g = {84};
    for (int k = 0; k < N_BINARY; k++) {
        op_case c = {.kind = binary_kinds[k], .second = true};
        tg_tensor *in[2];
        binary_inputs(&g, c.kind, TG_SHAPE(2, 3), L_CONTIG, TG_SHAPE(3), L_REVERSED, in);
        check_case_tol(&c, 2, in, 1e-5, 1e-7, 1e-5, "second order, broadcast");
        free_inputs(in, 2);
    }
    op_case c = {.kind = K_MATMUL, .second = true};
    tg_tensor *in[2] = {leaf(&g, D_ANY, L_TRANSPOSED, TG_SHAPE(2, 3, 4)),
                        leaf(&g, D_ANY, L_CONTIG, TG_SHAPE(4))};
    check_case_tol(&c, 2, in, 1e-5, 1e-7, 1e-5, "second order, matmul");
    free_inputs(in, 2);
}
END_TEST

/* ---- the checker itself must catch wrong gradients ------------------------------------- */

/* f(a, b) = sum(a^2) + sum(b^2) + s * detach(s), s = b[k]: the detach hides
 * half of d/db[k], so only that element is wrong. */
static tg_tensor *fn_detached(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    int64_t k = *(const int64_t *)ctx;
    tg_tensor *s = tg_ad_slice(T, in[1], 0, k, k + 1, 1);
    tg_tensor *hidden = tg_ad_sum(T, tg_ad_mul(T, s, tg_ad_detach(T, s)));
    return tg_ad_add(T, tg_ad_add(T, tg_ad_sum(T, tg_ad_mul(T, in[0], in[0])),
                                  tg_ad_sum(T, tg_ad_mul(T, in[1], in[1]))),
                     hidden);
}

START_TEST(test_gradcheck_catches_detach)
{
    double av[] = {0.5, -1.0, 1.5}, bv[] = {0.25, -0.75, 1.25, 2.0, -1.5};
    tg_tensor *in[2] = {tg_from_array(TG_FLOAT64, TG_SHAPE(3), av),
                        tg_from_array(TG_FLOAT64, TG_SHAPE(5), bv)};
    tg_requires_grad(in[0], true);
    tg_requires_grad(in[1], true);
    int64_t k = 3;
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(fn_detached, &k, 2, in, 1e-6, 1e-7, 1e-5, &rep), TG_OK);
    ck_assert(!rep.ok);
    ck_assert_int_eq(rep.checked, 8);
    ck_assert_int_eq(rep.input, 1);
    ck_assert_int_eq(rep.index, 3);
    ck_assert_double_eq_tol(rep.analytic, 3 * bv[3], 1e-12);
    ck_assert_double_eq_tol(rep.numeric, 4 * bv[3], 1e-6);
    ck_assert_double_eq_tol(rep.max_abs_err, bv[3], 1e-6);
    ck_assert(rep.worst_ratio > 1000.0);
    /* The inputs are as they were. */
    for (int i = 0; i < 5; i++)
        ck_assert_double_eq(tgt_at(in[1], i), bv[i]);
    free_inputs(in, 2);
}
END_TEST

static tg_tensor *fn_relu(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    return tg_ad_relu(T, in[0]);
}

START_TEST(test_gradcheck_catches_kink)
{
    /* relu at exactly 0: the tape says 0, the central difference 1/2. */
    double v[] = {0.75, -0.5, 0.0, 1.25};
    tg_tensor *x = tg_from_array(TG_FLOAT64, TG_SHAPE(4), v);
    tg_requires_grad(x, true);
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(fn_relu, NULL, 1, &x, 1e-6, 1e-7, 1e-5, &rep), TG_OK);
    ck_assert(!rep.ok);
    ck_assert_int_eq(rep.checked, 4);
    ck_assert_int_eq(rep.input, 0);
    ck_assert_int_eq(rep.index, 2);
    ck_assert_double_eq(rep.analytic, 0.0);
    /* Non-scalar output: the checker weights element 2 by some w in
     * [0.5, 1.5], so the numeric value is w / 2. */
    ck_assert(rep.numeric > 0.25 - 1e-9 && rep.numeric < 0.75 + 1e-9);
    free_inputs(&x, 1);
}
END_TEST

START_TEST(test_gradcheck_errors)
{
    op_case c = {.kind = K_EXP};
    tg_gradcheck_report rep;
    tg_tensor *x32 = tg_ones(TG_FLOAT32, TG_SHAPE(3));
    tg_requires_grad(x32, true);
    ck_assert_int_eq(tg_gradcheck(fn_op, &c, 1, &x32, 1e-6, 1e-7, 1e-5, &rep), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_gradcheck: input 0 is float32");

    tg_tensor *x = tg_ones(TG_FLOAT64, TG_SHAPE(3));
    tg_requires_grad(x, true);
    ck_assert_int_eq(tg_gradcheck(NULL, &c, 1, &x, 1e-6, 1e-7, 1e-5, &rep), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_gradcheck: f is NULL");
    ck_assert_int_eq(tg_gradcheck(fn_op, &c, 1, &x, 1e-6, 1e-7, 1e-5, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "rep is NULL");
    ck_assert_int_eq(tg_gradcheck(fn_op, &c, 1, &x, 0.0, 1e-7, 1e-5, &rep), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "eps > 0");
    ck_assert_int_eq(tg_gradcheck(fn_op, &c, 0, &x, 1e-6, 1e-7, 1e-5, &rep), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "n > 0");
    tg_tensor *nul = NULL;
    ck_assert_int_eq(tg_gradcheck(fn_op, &c, 1, &nul, 1e-6, 1e-7, 1e-5, &rep), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "input 0 is NULL");

    /* A tape-owned input is not a leaf. */
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_exp(T, x);
    ck_assert_int_eq(tg_gradcheck(fn_op, &c, 1, &y, 1e-6, 1e-7, 1e-5, &rep), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "not a caller-owned leaf");

    /* An f that fails: its error comes back. */
    op_case bad = {.kind = K_SUM_AXIS, .axis = 5};
    ck_assert_int_eq(tg_gradcheck(fn_op, &bad, 1, &x, 1e-6, 1e-7, 1e-5, &rep), TG_ERR_AXIS);
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_sum_axis");

    /* Still works afterwards. */
    ck_assert_int_eq(tg_gradcheck(fn_op, &c, 1, &x, 1e-6, 1e-7, 1e-5, &rep), TG_OK);
    ck_assert(rep.ok);
    ck_assert_int_eq(rep.checked, 3);
    tg_tape_free(T);
    tg_free(x);
    tg_free(x32);
}
END_TEST

Suite *test_gradcheck_suite(void); /* called by the generated runner */

Suite *test_gradcheck_suite(void)
{
    Suite *s = suite_create("gradcheck");
    TCase *tc = tgt_tcase("binary");
    tcase_add_test(tc, test_binary_same_shape);
    tcase_add_test(tc, test_binary_broadcast_col_row);
    tcase_add_test(tc, test_binary_broadcast_vec_left);
    tcase_add_test(tc, test_binary_broadcast_vec_right);
    tcase_add_test(tc, test_binary_broadcast_scalar);
    tcase_add_test(tc, test_binary_broadcast_random);
    tcase_add_test(tc, test_binary_one_side_requires_grad);
    tcase_add_test(tc, test_binary_noncontiguous);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("unary");
    tcase_add_test(tc, test_scalar_ops);
    tcase_add_test(tc, test_rdiv_scalar);
    tcase_add_test(tc, test_pow_scalar_exponents);
    tcase_add_test(tc, test_pow_scalar_integer_negative_base);
    tcase_add_test(tc, test_unary_smooth);
    tcase_add_test(tc, test_unary_kinks);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("reductions");
    tcase_add_test(tc, test_reduce_all);
    tcase_add_test(tc, test_sum_axis);
    tcase_add_test(tc, test_mean_axis);
    tcase_add_test(tc, test_max_axis);
    tcase_add_test(tc, test_sum_to);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("matmul");
    tcase_add_test(tc, test_matmul_2d);
    tcase_add_test(tc, test_matmul_vector_matrix);
    tcase_add_test(tc, test_matmul_matrix_vector);
    tcase_add_test(tc, test_matmul_vector_vector);
    tcase_add_test(tc, test_matmul_batched);
    tcase_add_test(tc, test_matmul_noncontiguous);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("views");
    tcase_add_test(tc, test_reshape);
    tcase_add_test(tc, test_transpose);
    tcase_add_test(tc, test_permute);
    tcase_add_test(tc, test_slice_positive_steps);
    tcase_add_test(tc, test_slice_negative_steps);
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_cast_roundtrip);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("compositions");
    tcase_add_test(tc, test_composite_mlp);
    tcase_add_test(tc, test_composite_shared_leaf);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("second_order");
    tcase_add_test(tc, test_second_order_unary);
    tcase_add_test(tc, test_second_order_through_shape_ops);
    tcase_add_test(tc, test_second_order_binary);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("checker");
    tcase_add_test(tc, test_gradcheck_catches_detach);
    tcase_add_test(tc, test_gradcheck_catches_kink);
    tcase_add_test(tc, test_gradcheck_errors);
    suite_add_tcase(s, tc);
    return s;
}
