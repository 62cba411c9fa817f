/* test_functions.c - the elementwise functions (sin ... round) and the
 * softmax family (softmax, log_softmax, logsumexp): values, gradients and
 * Hessian-vector products against PyTorch (data/make_functions_ref.py:
 * random shapes, edge values 0, +-1e4, +-inf, NaN, float32 and float64);
 * finite differences in float64 on non-contiguous and broadcast inputs,
 * first and second order; what is not differentiable; bad input; and
 * every allocation failing in turn. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

typedef struct fx_case {
    const char *op;
    double param;   /* leaky_relu's slope, elu's alpha */
    int axis, keep; /* the softmax family's axis; logsumexp's keepdims */
    int f64;        /* float64, else float32 */
    int ndim;
    int64_t shape[4];
    int64_t nx, ny; /* elements of x and of y */
    const double *x, *w, *y, *gx; /* gx: NULL when not differentiable */
    const double *gx_alt; /* non-NULL where PyTorch's own vector and scalar
                             loops disagree on NaN: either is accepted */
    const double *v, *hv; /* NULL without second order */
} fx_case;

#include "data/functions_ref.inc"

#define NCASES ((int)(sizeof fx_cases / sizeof fx_cases[0]))
#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE

/* ---- the ops by name ------------------------------------------------------------ */

static bool is_softmax_family(const char *op)
{
    return !strcmp(op, "softmax") || !strcmp(op, "log_softmax") ||
           !strcmp(op, "logsumexp");
}

/* The tape op of case c (T NULL: computed, caller-owned). */
static tg_tensor *apply_ad(tg_tape *T, const char *op, double p, int axis, bool keep,
                           tg_tensor *x)
{
    if (!strcmp(op, "sin")) return tg_ad_sin(T, x);
    if (!strcmp(op, "cos")) return tg_ad_cos(T, x);
    if (!strcmp(op, "log1p")) return tg_ad_log1p(T, x);
    if (!strcmp(op, "expm1")) return tg_ad_expm1(T, x);
    if (!strcmp(op, "softplus")) return tg_ad_softplus(T, x);
    if (!strncmp(op, "leaky_relu", 10)) return tg_ad_leaky_relu(T, x, p);
    if (!strncmp(op, "elu", 3)) return tg_ad_elu(T, x, p);
    if (!strcmp(op, "gelu")) return tg_ad_gelu(T, x);
    if (!strcmp(op, "gelu_tanh")) return tg_ad_gelu_tanh(T, x);
    if (!strcmp(op, "silu")) return tg_ad_silu(T, x);
    if (!strcmp(op, "log_sigmoid")) return tg_ad_log_sigmoid(T, x);
    if (!strcmp(op, "square")) return tg_ad_square(T, x);
    if (!strcmp(op, "reciprocal")) return tg_ad_reciprocal(T, x);
    if (!strcmp(op, "floor")) return tg_ad_floor(T, x);
    if (!strcmp(op, "ceil")) return tg_ad_ceil(T, x);
    if (!strcmp(op, "round")) return tg_ad_round(T, x);
    if (!strcmp(op, "softmax")) return tg_ad_softmax(T, x, axis);
    if (!strcmp(op, "log_softmax")) return tg_ad_log_softmax(T, x, axis);
    if (!strcmp(op, "logsumexp")) return tg_ad_logsumexp(T, x, axis, keep);
    ck_abort_msg("unknown op %s", op);
    return NULL;
}

/* tensor.h's function of a unary op (caller-owned). */
static tg_tensor *apply_tensor(const char *op, double p, const tg_tensor *x)
{
    if (!strcmp(op, "sin")) return tg_sin(x);
    if (!strcmp(op, "cos")) return tg_cos(x);
    if (!strcmp(op, "log1p")) return tg_log1p(x);
    if (!strcmp(op, "expm1")) return tg_expm1(x);
    if (!strcmp(op, "softplus")) return tg_softplus(x);
    if (!strncmp(op, "leaky_relu", 10)) return tg_leaky_relu(x, p);
    if (!strncmp(op, "elu", 3)) return tg_elu(x, p);
    if (!strcmp(op, "gelu")) return tg_gelu(x);
    if (!strcmp(op, "gelu_tanh")) return tg_gelu_tanh(x);
    if (!strcmp(op, "silu")) return tg_silu(x);
    if (!strcmp(op, "log_sigmoid")) return tg_log_sigmoid(x);
    if (!strcmp(op, "square")) return tg_square(x);
    if (!strcmp(op, "reciprocal")) return tg_reciprocal(x);
    if (!strcmp(op, "floor")) return tg_floor(x);
    if (!strcmp(op, "ceil")) return tg_ceil(x);
    if (!strcmp(op, "round")) return tg_round(x);
    ck_abort_msg("unknown op %s", op);
    return NULL;
}

static tg_tensor *apply_case(tg_tape *T, const fx_case *c, tg_tensor *x)
{
    return apply_ad(T, c->op, c->param, c->axis, c->keep != 0, x);
}

/* ---- comparing with PyTorch -------------------------------------------------- */

/* Tolerances: float64 agrees with PyTorch to a few units in the last
 * place (libm against PyTorch's vectorised functions); float32 likewise
 * in its own precision, with an absolute floor for results that are
 * differences of nearly equal numbers (a gradient y (g - sum(g y))). */
static double rtol_of(int f64) { return f64 ? 1e-13 : 2e-6; }
static double atol_of(int f64) { return f64 ? 1e-15 : 1e-6; }

/* The largest differences seen, for the report (TGT_VERBOSE=1 prints them). */
typedef struct agreement {
    double abs_err[2], rel_err[2]; /* [f64]; relative where |value| >= 1e-6 */
    const char *rel_op[2];         /* where the largest relative one is */
    double rel_x[2];
    long compared[2];
} agreement;

static agreement agree_y, agree_g, agree_h;

static void report(const char *what, const agreement *a)
{
    if (!getenv("TGT_VERBOSE"))
        return;
    for (int d = 1; d >= 0; d--)
        fprintf(stderr, "%s %s: %ld values, max |diff| %.3g, max relative %.3g "
                "(%s at %.17g)\n", what, d ? "float64" : "float32", a->compared[d],
                a->abs_err[d], a->rel_err[d], a->rel_op[d] ? a->rel_op[d] : "-",
                a->rel_x[d]);
}

/* got (any layout) against want in C order: NaN with NaN, an infinity with
 * the same infinity, a finite value within tolerance. */
static void expect_values_or(const char *what, const fx_case *c, int index,
                             const tg_tensor *got, const double *want,
                             const double *alt, int64_t n, agreement *a)
{
    ck_assert_int_eq(tg_numel(got), n);
    double rtol = rtol_of(c->f64), atol = atol_of(c->f64);
    for (int64_t i = 0; i < n; i++) {
        double g = tgt_at(got, i), w = want[i];
        if (alt && tgt_same_value(g, alt[i]))
            w = alt[i];
        bool ok;
        if (isnan(w) || isinf(w)) {
            ok = tgt_same_value(g, w);
        } else {
            double d = fabs(g - w);
            ok = d <= atol + rtol * fabs(w);
            if (ok) {
                a->abs_err[c->f64] = fmax(a->abs_err[c->f64], d);
                if (fabs(w) >= 1e-6 && d / fabs(w) > a->rel_err[c->f64]) {
                    a->rel_err[c->f64] = d / fabs(w);
                    a->rel_op[c->f64] = c->op;
                    a->rel_x[c->f64] = c->x[c->nx == n ? i : 0];
                }
            }
        }
        a->compared[c->f64]++;
        ck_assert_msg(ok, "%s of %s %s (case %d) at %lld (x = %.17g): got %.17g, "
                      "PyTorch %.17g", what, c->op, c->f64 ? "float64" : "float32",
                      index, (long long)i, c->x[c->nx == n ? i : 0], g, w);
    }
}

static void expect_values(const char *what, const fx_case *c, int index,
                          const tg_tensor *got, const double *want, int64_t n,
                          agreement *a)
{
    expect_values_or(what, c, index, got, want, NULL, n, a);
}

/* A contiguous tensor of the case's dtype holding values (C order). */
static tg_tensor *make(const fx_case *c, int ndim, const int64_t *shape,
                       const double *values)
{
    tg_tensor *t = tg_empty(c->f64 ? F64 : F32, ndim, shape);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < tg_numel(t); i++) {
        if (c->f64)
            ((double *)tg_data(t))[i] = values[i];
        else
            ((float *)tg_data(t))[i] = (float)values[i];
    }
    return t;
}

static tg_tensor *make_x(const fx_case *c) { return make(c, c->ndim, c->shape, c->x); }

/* Forward: the tensor function, the tape op with and without a tape. */
START_TEST(test_reference_values)
{
    for (int i = 0; i < NCASES; i++) {
        const fx_case *c = &fx_cases[i];
        tg_tensor *x = make_x(c);
        tg_tape *T = tg_tape_new();
        tg_tensor *y = apply_case(T, c, x);
        ck_assert_msg(y != NULL, "%s: %s", c->op, tg_last_message());
        expect_values("value", c, i, y, c->y, c->ny, &agree_y);
        tg_tensor *y2 = apply_case(NULL, c, x);
        ck_assert_ptr_nonnull(y2);
        for (int64_t k = 0; k < c->ny; k++)
            TGT_ASSERT_SAME(tgt_at(y2, k), tgt_at(y, k));
        tg_free(y2);
        if (!is_softmax_family(c->op)) {
            tg_tensor *y3 = apply_tensor(c->op, c->param, x);
            ck_assert_ptr_nonnull(y3);
            ck_assert_int_eq(tg_dtype_of(y3), tg_dtype_of(x));
            for (int64_t k = 0; k < c->ny; k++)
                TGT_ASSERT_SAME(tgt_at(y3, k), tgt_at(y, k));
            tg_free(y3);
        }
        tg_tape_free(T);
        tg_free(x);
    }
    report("values", &agree_y);
}
END_TEST

/* d sum(w * f(x)) / dx by tg_backward (the plain rules) and by a recorded
 * tg_ad_grad (the rules written with ops). */
START_TEST(test_reference_gradients)
{
    int checked = 0;
    for (int i = 0; i < NCASES; i++) {
        const fx_case *c = &fx_cases[i];
        if (!c->gx)
            continue;
        tg_tensor *x = make_x(c);
        ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
        tg_tape *T = tg_tape_new();
        tg_tensor *y = apply_case(T, c, x);
        ck_assert_ptr_nonnull(y);
        tg_tensor *w = make(c, tg_ndim(y), tg_shape(y), c->w);
        tg_tensor *loss = tg_ad_sum(T, tg_ad_mul(T, y, w));
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        expect_values_or("gradient", c, i, tg_grad(x), c->gx, c->gx_alt, c->nx,
                         &agree_g);
        tg_tape_free(T);

        T = tg_tape_new();
        tg_tensor *g;
        loss = tg_ad_sum(T, tg_ad_mul(T, apply_case(T, c, x), w));
        ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 1, &x, &g, true), TG_OK);
        expect_values_or("recorded gradient", c, i, g, c->gx, c->gx_alt, c->nx,
                         &agree_g);
        tg_tape_free(T);
        tg_free(w);
        tg_free(x);
        checked++;
    }
    ck_assert_int_gt(checked, 100);
    report("gradients", &agree_g);
}
END_TEST

/* d sum(v * d sum(w * f(x))/dx) / dx, the Hessian of sum(w * f) times v. */
START_TEST(test_reference_hessian_vector)
{
    int checked = 0;
    for (int i = 0; i < NCASES; i++) {
        const fx_case *c = &fx_cases[i];
        if (!c->hv)
            continue;
        tg_tensor *x = make_x(c);
        ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
        tg_tensor *v = make_x(c);
        for (int64_t k = 0; k < c->nx; k++)
            ((double *)tg_data(v))[k] = c->v[k];
        tg_tape *T = tg_tape_new();
        tg_tensor *y = apply_case(T, c, x);
        tg_tensor *w = make(c, tg_ndim(y), tg_shape(y), c->w);
        tg_tensor *g, *hv;
        ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, y, w)), NULL, 1, &x,
                                    &g, true), TG_OK);
        tg_tensor *gv = tg_ad_sum(T, tg_ad_mul(T, g, v));
        ck_assert_int_eq(tg_ad_grad(T, gv, NULL, 1, &x, &hv, false), TG_OK);
        expect_values("Hessian-vector product", c, i, hv, c->hv, c->nx, &agree_h);
        tg_tape_free(T);
        tg_free(w);
        tg_free(v);
        tg_free(x);
        checked++;
    }
    ck_assert_int_gt(checked, 30);
    report("Hessian-vector products", &agree_h);
}
END_TEST

/* ---- edges the fixtures pin down, asserted by name -------------------------------- */

static const double big[3] = {1e4, 0, -1e4};

START_TEST(test_saturation_at_1e4)
{
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? F64 : F32;
        tg_tensor *x = tg_from_array(F64, SH(3), big), *xd = tg_cast(x, dt);
        tg_tensor *(*fns[4])(const tg_tensor *) = {tg_softplus, tg_log_sigmoid,
                                                    tg_silu, tg_gelu};
        const double want[4][3] = {{1e4, log(2.0), 0}, {0, -log(2.0), -1e4},
                                   {1e4, 0, 0}, {1e4, 0, 0}};
        for (int f = 0; f < 4; f++) {
            tg_tensor *y = fns[f](xd);
            for (int k = 0; k < 3; k++)
                ck_assert_double_eq_tol(tgt_at(y, k), want[f][k], d ? 1e-15 : 1e-7);
            tg_free(y);
        }
        tg_free(x);
        tg_free(xd);
    }
}
END_TEST

/* A line with some -inf entries: probability 0 there, finite gradients
 * everywhere; a line of nothing but -inf: NaN, logsumexp -inf. */
START_TEST(test_softmax_masked_lines)
{
    const double ninf = -(double)INFINITY;
    const double xv[2][3] = {{ninf, 1, 2}, {ninf, ninf, ninf}};
    tg_tensor *x = tg_from_array(F64, SH(2, 3), xv);
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *masked = tg_ad_slice(T, x, 0, 0, 1, 1); /* (1,3): -inf, 1, 2 */
    tg_tensor *p = tg_ad_softmax(T, masked, -1);
    tg_tensor *lp = tg_ad_log_softmax(T, masked, 1);
    ck_assert_double_eq(tgt_at(p, 0), 0.0);
    ck_assert(tgt_at(lp, 0) == ninf);
    ck_assert_double_eq_tol(tgt_at(lp, 2), -log1p(exp(-1.0)), 1e-15);
    tg_tensor *wv = tg_from_array(F64, SH(1, 3), (const double[]){0.5, -1, 2});
    tg_tensor *g;
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, p, wv)), NULL, 1, &x, &g,
                                false), TG_OK);
    for (int k = 0; k < 6; k++)
        ck_assert(isfinite(tgt_at(g, k)));
    ck_assert_double_eq(tgt_at(g, 0), 0.0);
    /* log_softmax's entries other than the -inf one: the gradient at -inf
     * is g - 0 * sum(g), finite */
    tg_tensor *rest = tg_ad_slice(T, lp, 1, 1, 3, 1);
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, rest), NULL, 1, &x, &g, false), TG_OK);
    for (int k = 0; k < 6; k++)
        ck_assert(isfinite(tgt_at(g, k)));
    ck_assert_double_eq(tgt_at(g, 0), 0.0);

    tg_tensor *row = tg_ad_slice(T, x, 0, 1, 2, 1); /* nothing but -inf */
    tg_tensor *pr = tg_ad_softmax(T, row, 1), *lr = tg_ad_logsumexp(T, row, 1, false);
    for (int k = 0; k < 3; k++)
        ck_assert(isnan(tgt_at(pr, k)));
    ck_assert(tgt_at(lr, 0) == ninf);
    tg_tape_free(T);
    tg_free(wv);
    tg_free(x);
}
END_TEST

/* floor, ceil and round carry no gradient: nothing is recorded. */
START_TEST(test_rounding_not_recorded)
{
    tg_tensor *x = tg_from_array(F64, SH(4), (const double[]){0.5, 1.5, 2.5, -2.5});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *(*fns[3])(tg_tape *, tg_tensor *) = {tg_ad_floor, tg_ad_ceil, tg_ad_round};
    const double want[3][4] = {{0, 1, 2, -3}, {1, 2, 3, -2}, {0, 2, 2, -2}};
    for (int f = 0; f < 3; f++) {
        tg_tensor *y = fns[f](T, x);
        ck_assert_ptr_nonnull(y);
        ck_assert(!tg_requires_grad_of(y));
        for (int k = 0; k < 4; k++)
            ck_assert_double_eq(tgt_at(y, k), want[f][k]);
    }
    ck_assert_uint_eq(tg_tape_length(T), 0);
    tg_tensor *s = tg_ad_sum(T, tg_ad_round(T, x));
    ck_assert_int_eq(tg_backward(T, s), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "does not depend on any tensor that requires a gradient");
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

/* The parameter is the record's own: two leaky_relu with different slopes
 * on one tape, and elu with two alphas. */
START_TEST(test_parameters_kept_per_record)
{
    tg_tensor *x = tg_from_array(F64, SH(2), (const double[]){-2, 3});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_add(T, tg_ad_leaky_relu(T, x, 0.1), tg_ad_leaky_relu(T, x, -3));
    y = tg_ad_add(T, y, tg_ad_elu(T, x, 2.0));
    y = tg_ad_add(T, y, tg_ad_elu(T, x, 0.5));
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    /* x = -2: 0.1 - 3 + 2 e^-2 + 0.5 e^-2; x = 3: 1 + 1 + 1 + 1 */
    ck_assert_double_eq_tol(tgt_at(tg_grad(x), 0), -2.9 + 2.5 * exp(-2.0), 1e-15);
    ck_assert_double_eq(tgt_at(tg_grad(x), 1), 4.0);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

/* ---- finite differences (float64) ---------------------------------------------- */

typedef struct lcg {
    uint64_t s;
} lcg;

static double lcg_unit(lcg *g)
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g->s >> 11) * 0x1p-53;
}

/* A case for tg_gradcheck: the op, how its input reaches it, and whether
 * the checker sees the op (first order) or its recorded gradient (second). */
typedef struct gc_case {
    const char *op;
    double param;
    int axis;
    bool keep;
    int expand_nd;             /* > 0: the leaf is broadcast to this shape */
    int64_t expand_shape[3];
    bool second;
} gc_case;

/* A tape-owned constant like y, fixed while the checker perturbs x. */
static tg_tensor *fixed_weights(tg_tape *T, tg_tensor *y)
{
    tg_tensor *u = tg_ad_detach(T, y);
    for (int64_t i = 0; u && i < tg_numel(u); i++)
        ((double *)tg_data(u))[i] = 0.5 + 0.25 * (double)(i % 5) - 0.3 * (double)(i % 3);
    return u;
}

static tg_tensor *gc_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    const gc_case *c = ctx;
    tg_tensor *x = in[0];
    if (c->expand_nd)
        x = tg_ad_expand(T, x, c->expand_nd, c->expand_shape);
    tg_tensor *y = apply_ad(T, c->op, c->param, c->axis, c->keep, x);
    if (!c->second || !y)
        return y;
    tg_tensor *g, *root = tg_ad_sum(T, tg_ad_mul(T, y, fixed_weights(T, y)));
    if (tg_ad_grad(T, root, NULL, 1, in, &g, true))
        return NULL;
    return tg_ad_mul(T, g, g); /* something of g that is not linear */
}

/* The input domain of each op, for the checker: away from kinks and poles. */
static double draw(lcg *g, const char *op)
{
    double u = lcg_unit(g);
    if (!strcmp(op, "log1p"))
        return -0.5 + 2.5 * u;
    if (!strcmp(op, "reciprocal"))
        return (u < 0.5 ? -1 : 1) * (0.4 + 2 * u);
    if (!strncmp(op, "leaky_relu", 10) || !strncmp(op, "elu", 3))
        return (u < 0.5 ? -1 : 1) * (0.2 + 2 * fabs(u - 0.5));
    if (!strcmp(op, "softplus"))
        return -25 + 50 * u; /* across the threshold 20 */
    return -3 + 6 * u;
}

/* Leaf layouts: 0 contiguous, 1 a transposed view, 2 every other row. */
static tg_tensor *gc_leaf(lcg *g, const char *op, int layout, int nd,
                          const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < nd; k++)
        n *= shape[k];
    tg_tensor *v = tg_empty(F64, nd, shape);
    for (int64_t i = 0; i < n; i++)
        ((double *)tg_data(v))[i] = draw(g, op);
    if (layout == 0 || nd < 2) {
        tg_requires_grad(v, true);
        return v;
    }
    int64_t bs[TG_MAX_DIMS];
    for (int k = 0; k < nd; k++)
        bs[k] = shape[k];
    tg_tensor *base, *view;
    if (layout == 1) {
        bs[nd - 1] = shape[nd - 2];
        bs[nd - 2] = shape[nd - 1];
        base = tg_zeros(F64, nd, bs);
        view = tg_transpose(base, -1, -2);
    } else {
        bs[0] = 2 * shape[0];
        base = tg_zeros(F64, nd, bs);
        view = tg_slice(base, 0, 0, 2 * shape[0], 2);
    }
    tg_free(base);
    ck_assert_int_eq(tg_copy(view, v), TG_OK);
    ck_assert(!tg_is_contiguous(view));
    tg_free(v);
    tg_requires_grad(view, true);
    return view;
}

static void gradcheck_case(const gc_case *c, tg_tensor *x, const char *what)
{
    tg_gradcheck_report rep;
    int rc = tg_gradcheck(gc_fn, (void *)(uintptr_t)c, 1, &x, 1e-6, 1e-7, 1e-5, &rep);
    ck_assert_msg(rc == TG_OK, "%s %s: %s", c->op, what, tg_last_message());
    ck_assert_int_eq(rep.checked, tg_numel(x));
    ck_assert_msg(rep.ok, "%s %s%s: element %lld analytic %.17g numeric %.17g",
                  c->op, what, c->second ? " (second order)" : "",
                  (long long)rep.index, rep.analytic, rep.numeric);
}

static const char *const differentiable[] = {
    "sin", "cos", "log1p", "expm1", "softplus", "leaky_relu", "leaky_relu_neg",
    "elu", "gelu", "gelu_tanh", "silu", "log_sigmoid", "square", "reciprocal",
    "softmax", "log_softmax", "logsumexp"};
#define NDIFF ((int)(sizeof differentiable / sizeof differentiable[0]))

static double param_of(const char *op)
{
    return !strcmp(op, "leaky_relu") ? 0.05 : !strcmp(op, "leaky_relu_neg") ? -0.7
           : !strcmp(op, "elu") ? 1.3 : 0.0;
}

/* Each op, first and second order, on a contiguous (2,3,4), a transposed
 * (3,4) and a strided (2,5) leaf, along each axis for the softmax family. */
START_TEST(test_gradcheck_layouts)
{
    lcg g = {20261112};
    static const int64_t shapes[3][3] = {{2, 3, 4}, {3, 4, 0}, {2, 5, 0}};
    static const int nds[3] = {3, 2, 2};
    for (int o = 0; o < NDIFF; o++) {
        for (int layout = 0; layout < 3; layout++) {
            for (int second = 0; second < 2; second++) {
                gc_case c = {.op = differentiable[o], .param = param_of(differentiable[o]),
                             .axis = layout - 1, .keep = layout == 2,
                             .second = second != 0};
                tg_tensor *x = gc_leaf(&g, c.op, layout, nds[layout], shapes[layout]);
                gradcheck_case(&c, x, layout == 0 ? "contiguous"
                                      : layout == 1 ? "transposed" : "strided");
                tg_free(x);
            }
        }
    }
}
END_TEST

/* A (3,1) leaf broadcast to (2,3,4) before the op: the gradient sums over
 * the repeated elements (stride-0 inputs into the kernels). */
START_TEST(test_gradcheck_broadcast)
{
    lcg g = {20261113};
    for (int o = 0; o < NDIFF; o++) {
        for (int second = 0; second < 2; second++) {
            gc_case c = {.op = differentiable[o], .param = param_of(differentiable[o]),
                         .axis = second ? 1 : -1, .keep = second != 0,
                         .expand_nd = 3, .expand_shape = {2, 3, 4},
                         .second = second != 0};
            tg_tensor *x = gc_leaf(&g, c.op, 0, 2, (const int64_t[]){3, 1});
            gradcheck_case(&c, x, "broadcast");
            tg_free(x);
        }
    }
}
END_TEST

/* Third order through the derivative ops of their own (softplus', elu',
 * elu'', gelu's cdf): the checker differentiates a recorded gradient of a
 * recorded gradient. */
static tg_tensor *third_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    const gc_case *c = ctx;
    tg_tensor *x = in[0], *g1, *g2;
    tg_tensor *y = apply_ad(T, c->op, c->param, 0, false, x);
    if (tg_ad_grad(T, tg_ad_sum(T, y), NULL, 1, &x, &g1, true) ||
        tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, g1, g1)), NULL, 1, &x, &g2, true))
        return NULL;
    return g2;
}

START_TEST(test_gradcheck_third_order)
{
    lcg g = {20261114};
    const char *ops[] = {"softplus", "elu", "gelu", "gelu_tanh", "silu",
                         "log_sigmoid", "sin", "reciprocal"};
    for (int o = 0; o < 8; o++) {
        gc_case c = {.op = ops[o], .param = 0.8};
        tg_tensor *x = gc_leaf(&g, c.op, 0, 1, (const int64_t[]){6});
        tg_gradcheck_report rep;
        ck_assert_int_eq(tg_gradcheck(third_fn, &c, 1, &x, 1e-6, 1e-6, 1e-5, &rep), TG_OK);
        ck_assert_msg(rep.ok, "%s third order: analytic %.17g numeric %.17g", c.op,
                      rep.analytic, rep.numeric);
        tg_free(x);
    }
}
END_TEST

/* ---- bad input ------------------------------------------------------------------ */

START_TEST(test_bad_input)
{
    tg_tensor *x = tg_ones(F64, SH(2, 3));
    tg_tensor *s = tg_scalar(F64, 1.0);
    tg_tape *T = tg_tape_new();

    /* integer and bool tensors: the functions need floats */
    tg_tensor *xi = tg_zeros(TG_INT32, SH(2, 3)), *xb = tg_zeros(TG_BOOL, SH(3));
    ck_assert_ptr_null(tg_sin(xi));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_sin: a is int32; this op needs a float dtype "
                                 "(tg_cast to float32 or float64 first)");
    ck_assert_ptr_null(tg_round(xb));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_round: a is bool; this op needs a float dtype");
    ck_assert_ptr_null(tg_ad_gelu(T, xi));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_ad_gelu: a is int32; this op needs a float dtype "
                                 "(tg_ad_cast to float32");
    ck_assert_ptr_null(tg_ad_leaky_relu(T, xb, 0.1));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_ad_leaky_relu: a is bool");
    ck_assert_ptr_null(tg_ad_softmax(T, xi, 0));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_ad_softmax: a is int32");
    ck_assert_ptr_null(tg_ad_logsumexp(NULL, xi, 0, true));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_ad_logsumexp: a is int32");
    ck_assert_uint_eq(tg_tape_length(T), 0);
    tg_free(xi);
    tg_free(xb);

    /* axes */
    ck_assert_ptr_null(tg_ad_softmax(T, x, 2));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_softmax: axis 2 out of range for 2 dimensions");
    ck_assert_ptr_null(tg_ad_log_softmax(T, x, -3));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_log_softmax: axis -3 out of range");
    ck_assert_ptr_null(tg_ad_logsumexp(T, s, 0, false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_logsumexp: axis 0 out of range for 0 dimensions");

    /* parameters */
    ck_assert_ptr_null(tg_leaky_relu(x, (double)NAN));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_leaky_relu: slope is nan; it must be finite");
    ck_assert_ptr_null(tg_ad_elu(T, x, (double)INFINITY));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ad_elu: alpha is inf; it must be finite");

    /* NULL in, NULL out, the last error kept */
    tg_clear_error();
    ck_assert_ptr_null(tg_sin(NULL));
    ck_assert_ptr_null(tg_ad_silu(T, NULL));
    ck_assert_ptr_null(tg_ad_softmax(T, NULL, 0));
    ck_assert_ptr_null(tg_ad_logsumexp(T, NULL, 0, false));
    ck_assert_int_eq(tg_last_error(), TG_OK);

    /* a tape result given to another tape, and after a reset */
    tg_tape *T2 = tg_tape_new();
    tg_tensor *y = tg_ad_exp(T, x);
    ck_assert_ptr_null(tg_ad_cos(T2, y));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_cos: an input was made by another tape");
    ck_assert_ptr_null(tg_ad_log_softmax(NULL, y, 0));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_log_softmax: the tape is NULL");
    tg_tape_reset(T);
    ck_assert_ptr_null(tg_ad_softplus(T, y));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_softplus: an input was made before the last tg_tape_reset");
    tg_tape_free(T2);
    tg_tape_free(T);
    tg_free(x);
    tg_free(s);
}
END_TEST

/* Empty tensors and 0-d ones. */
START_TEST(test_empty_and_scalar)
{
    tg_tensor *e = tg_zeros(F64, SH(0, 3)), *s = tg_scalar(F32, 0.5);
    tg_tensor *y = tg_gelu(e);
    tgt_assert_shape(y, 2, (const int64_t[]){0, 3});
    tg_free(y);
    y = tg_ad_softmax(NULL, e, 0); /* lines of nothing */
    tgt_assert_shape(y, 2, (const int64_t[]){0, 3});
    tg_free(y);
    y = tg_ad_logsumexp(NULL, e, 0, false); /* log of an empty sum */
    tgt_assert_shape(y, 1, (const int64_t[]){3});
    for (int k = 0; k < 3; k++)
        ck_assert(tgt_at(y, k) == -(double)INFINITY);
    tg_free(y);
    y = tg_ad_logsumexp(NULL, e, 1, true);
    tgt_assert_shape(y, 2, (const int64_t[]){0, 1});
    tg_free(y);
    y = tg_square(s);
    ck_assert_int_eq(tg_ndim(y), 0);
    ck_assert_double_eq(tgt_at(y, 0), 0.25);
    tg_free(y);
    tg_free(e);
    tg_free(s);
}
END_TEST

/* ---- allocation failures --------------------------------------------------------- */

static tg_tensor *leaky(const tg_tensor *x) { return tg_leaky_relu(x, 0.2); }
static tg_tensor *elu_(const tg_tensor *x) { return tg_elu(x, 0.7); }

/* A whole recorded pass of each family: forward, a gradient with
 * create_graph (the derivative ops of their own are recorded), a
 * Hessian-vector product, handed back as a caller-owned copy. */
static tg_tensor *second_order_pass(const tg_tensor *x0, bool softmax)
{
    tg_tensor *x = tg_clone(x0);
    if (!x)
        return NULL;
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    if (!T) {
        tg_free(x);
        return NULL;
    }
    tg_tensor *y;
    if (softmax)
        y = tg_ad_add(T, tg_ad_log_softmax(T, tg_ad_softmax(T, x, 0), 1),
                      tg_ad_logsumexp(T, x, -1, true));
    else
        y = tg_ad_add(T, tg_ad_add(T, tg_ad_gelu(T, x), tg_ad_softplus(T, x)),
                      tg_ad_elu(T, tg_ad_silu(T, x), 0.5));
    tg_tensor *g, *h, *r = NULL;
    tg_tensor *L = tg_ad_sum(T, tg_ad_mul(T, y, y));
    if (L && !tg_ad_grad(T, L, NULL, 1, &x, &g, true)) {
        tg_tensor *gv = tg_ad_sum(T, tg_ad_mul(T, g, g));
        if (gv && !tg_backward(T, gv) && !tg_ad_grad(T, gv, NULL, 1, &x, &h, false))
            r = tg_clone(h);
    }
    tg_tape_free(T);
    tg_free(x);
    return r;
}

static tg_tensor *pass_functions(const tg_tensor *x) { return second_order_pass(x, false); }
static tg_tensor *pass_softmax(const tg_tensor *x) { return second_order_pass(x, true); }

START_TEST(test_allocation_failures)
{
    tg_tensor *x = tg_from_array(F64, SH(2, 3), (const double[]){-2, -0.5, 0, 0.5, 1, 25});
    tg_tensor *xt = tg_transpose(x, 0, 1);
    tgt_op1_fn fns[] = {tg_sin, tg_cos, tg_log1p, tg_expm1, tg_softplus, leaky, elu_,
                        tg_gelu, tg_gelu_tanh, tg_silu, tg_log_sigmoid, tg_square,
                        tg_reciprocal, tg_floor, tg_ceil, tg_round};
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        ck_assert_int_gt(tgt_sweep_failures(fns[f], x, "out of memory"), 0);
        ck_assert_int_gt(tgt_sweep_failures(fns[f], xt, "out of memory"), 0);
    }
    ck_assert_int_gt(tgt_sweep_failures(pass_functions, xt, "out of memory"), 3);
    ck_assert_int_gt(tgt_sweep_failures(pass_softmax, xt, "out of memory"), 3);
    tg_free(xt);
    tg_free(x);
}
END_TEST

Suite *test_functions_suite(void); /* called by the generated runner */

Suite *test_functions_suite(void)
{
    Suite *s = suite_create("functions");
    TCase *tc = tgt_tcase("pytorch");
    tcase_add_test(tc, test_reference_values);
    tcase_add_test(tc, test_reference_gradients);
    tcase_add_test(tc, test_reference_hessian_vector);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("edges");
    tcase_add_test(tc, test_saturation_at_1e4);
    tcase_add_test(tc, test_softmax_masked_lines);
    tcase_add_test(tc, test_rounding_not_recorded);
    tcase_add_test(tc, test_parameters_kept_per_record);
    tcase_add_test(tc, test_empty_and_scalar);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("gradcheck");
    tcase_add_test(tc, test_gradcheck_layouts);
    tcase_add_test(tc, test_gradcheck_broadcast);
    tcase_add_test(tc, test_gradcheck_third_order);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
