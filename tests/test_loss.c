/* test_loss.c - models/loss.c: every loss against PyTorch 1.13's values,
 * gradients (input's, and target's where PyTorch has one) and Hessian-vector
 * products (tests/data/loss_ref.inc, from make_loss_ref.py) in float64 to
 * 1e-12 and float32 to 1e-5, on a tape and without one, with int32 and
 * int64 class targets; finite differences; every bad argument; allocation
 * failures; and a training loop that stops allocating. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>

#include "tensor/internal.h"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32

/* ---- the reference cases ----------------------------------------------------- */

enum { LREF_L1, LREF_MSE, LREF_HUBER, LREF_SMOOTH_L1, LREF_BCE, LREF_BCE_LOGITS,
       LREF_NLL, LREF_CE, LREF_KL };

/* Element i is lo + (hi - lo) * k / (m - 1), k = (i a + b) % m (class
 * targets: k), then to[j] at position at[j] for j < nset (past the end:
 * skipped). */
typedef struct lref_gen {
    int a, b, m;
    double lo, hi;
    int nset;
    int at[8];
    double to[8];
} lref_gen;

typedef struct lref_case {
    const char *name;
    int loss, reduction;
    int ndim;
    int64_t shape[4];      /* input's */
    lref_gen x, y;
    int has_w;
    lref_gen w;
    int wndim;
    int64_t wshape[4];
    int has_pw;
    lref_gen pw;
    int pwndim;
    int64_t pwshape[4];
    double param;          /* delta, beta or label smoothing */
    int64_t ignore_index;
    int log_target;
    int tgrad;             /* target's gradient is checked too */
    int hvp;               /* and a Hessian-vector product */
    int outndim;
    int64_t outshape[4];
    const double *value64, *gx64, *gy64, *hvp64;
    const double *value32, *gx32, *gy32, *hvp32;
} lref_case;

#include "data/loss_ref.inc"

#define NCASES ((int)(sizeof lref_cases / sizeof lref_cases[0]))

static int64_t count(int nd, const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < nd; k++)
        n *= shape[k];
    return n;
}

static double gen_at(const lref_gen *g, int64_t i)
{
    for (int j = 0; j < g->nset; j++)
        if (g->at[j] == i)
            return g->to[j];
    int64_t k = (i * g->a + g->b) % g->m;
    return g->lo + (g->hi - g->lo) * (double)k / (double)(g->m - 1);
}

static int64_t gen_class(const lref_gen *g, int64_t i)
{
    for (int j = 0; j < g->nset; j++)
        if (g->at[j] == i)
            return (int64_t)g->to[j];
    return (i * g->a + g->b) % g->m;
}

/* A caller-owned float tensor of dtype dt from g. */
static tg_tensor *gen_tensor(const lref_gen *g, tg_dtype dt, int nd, const int64_t *shape)
{
    int64_t n = count(nd, shape);
    double v[64];
    ck_assert(n <= 64);
    for (int64_t i = 0; i < n; i++)
        v[i] = gen_at(g, i);
    tg_tensor *t = tg_from_array(F64, nd, shape, v);
    ck_assert_ptr_nonnull(t);
    if (dt == F64)
        return t;
    tg_tensor *c = tg_cast(t, dt);
    tg_free(t);
    ck_assert_ptr_nonnull(c);
    return c;
}

static bool is_class(const lref_case *c) { return c->loss == LREF_NLL || c->loss == LREF_CE; }

/* The inputs of a case: x (a leaf requiring a gradient), its target (class
 * targets of dtype tdt), and the weights (NULL where the case has none). */
typedef struct lref_inputs {
    tg_tensor *x, *y, *w, *pw;
} lref_inputs;

static lref_inputs make_inputs(const lref_case *c, tg_dtype dt, tg_dtype tdt)
{
    lref_inputs in = {0};
    in.x = gen_tensor(&c->x, dt, c->ndim, c->shape);
    ck_assert_int_eq(tg_requires_grad(in.x, true), TG_OK);
    if (is_class(c)) {
        int64_t tshape[4];
        int tnd = 0;
        for (int k = 0; k < c->ndim; k++)
            if (k != (c->ndim == 1 ? 0 : 1))
                tshape[tnd++] = c->shape[k];
        int64_t n = count(tnd, tshape), v[64];
        for (int64_t i = 0; i < n; i++)
            v[i] = gen_class(&c->y, i);
        tg_tensor *t = tg_from_array(TG_INT64, tnd, tshape, v);
        ck_assert_ptr_nonnull(t);
        in.y = tdt == TG_INT64 ? t : tg_cast(t, tdt);
        if (tdt != TG_INT64)
            tg_free(t);
        ck_assert_ptr_nonnull(in.y);
    } else {
        in.y = gen_tensor(&c->y, dt, c->ndim, c->shape);
        if (c->tgrad)
            ck_assert_int_eq(tg_requires_grad(in.y, true), TG_OK);
    }
    if (c->has_w)
        in.w = gen_tensor(&c->w, dt, c->wndim, c->wshape);
    if (c->has_pw)
        in.pw = gen_tensor(&c->pw, dt, c->pwndim, c->pwshape);
    return in;
}

static void free_inputs(lref_inputs *in)
{
    tg_free(in->x);
    tg_free(in->y);
    tg_free(in->w);
    tg_free(in->pw);
}

static tg_tensor *run_case(tg_tape *T, const lref_case *c, const lref_inputs *in)
{
    tg_reduction r = (tg_reduction)c->reduction;
    tg_class_loss_args a = TG_CLASS_LOSS_ARGS;
    a.reduction = r;
    a.ignore_index = c->ignore_index;
    a.weight = in->w;
    a.label_smoothing = c->param;
    switch (c->loss) {
    case LREF_L1:
        return tg_l1_loss(T, in->x, in->y, r);
    case LREF_MSE:
        return tg_mse_loss(T, in->x, in->y, r);
    case LREF_HUBER:
        return tg_huber_loss(T, in->x, in->y, r, c->param);
    case LREF_SMOOTH_L1:
        return tg_smooth_l1_loss(T, in->x, in->y, r, c->param);
    case LREF_BCE:
        return tg_binary_cross_entropy(T, in->x, in->y, in->w, r);
    case LREF_BCE_LOGITS:
        return tg_binary_cross_entropy_with_logits(T, in->x, in->y, in->w, in->pw, r);
    case LREF_NLL:
        a.label_smoothing = 0;
        return tg_nll_loss(T, in->x, in->y, &a);
    case LREF_CE:
        return tg_cross_entropy(T, in->x, in->y, &a);
    default:
        return tg_kl_div(T, in->x, in->y, r, c->log_target != 0);
    }
}

/* got[i] against want[i]: both NaN, or within rtol |want| (+ a floor that
 * is zero for float64: a zero must come out zero). */
static void compare(const char *what, const lref_case *c, const tg_tensor *got,
                    const double *want, double rtol, double floor)
{
    ck_assert_ptr_nonnull(got);
    int64_t n = tg_numel(got);
    for (int64_t i = 0; i < n; i++) {
        double g = tgt_at(got, i), w = want[i];
        bool ok = (isnan(g) && isnan(w)) || g == w ||
                  fabs(g - w) <= rtol * fabs(w) + floor;
        ck_assert_msg(ok, "%s %s [%s] element %lld: got %.17g, want %.17g (rel %.3g)",
                      c->name, what, tg_dtype_name(tg_dtype_of(got)), (long long)i, g,
                      w, fabs(g - w) / fabs(w));
    }
}

static double max_abs(const double *v, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i]) && fabs(v[i]) > m)
            m = fabs(v[i]);
    return m;
}

/* NONE's seed s_i = ((7 i + 3) % 11 + 1) / 8 (make_loss_ref.py's). */
static tg_tensor *seed_for(const tg_tensor *out)
{
    if (tg_ndim(out) == 0)
        return NULL;
    int64_t n = tg_numel(out);
    double v[64];
    for (int64_t i = 0; i < n; i++)
        v[i] = (double)((7 * i + 3) % 11 + 1) / 8.0;
    tg_tensor *s = tg_from_array(F64, tg_ndim(out), tg_shape(out), v);
    tg_tensor *c = tg_cast(s, tg_dtype_of(out));
    tg_free(s);
    return c;
}

/* One case in one dtype: value (on a tape and, float64, without one),
 * gradients through tg_backward (the plain walk) or, for the cases with a
 * Hessian-vector product, through a recorded tg_ad_grad. */
static void check_case(const lref_case *c, tg_dtype dt, tg_dtype tdt)
{
    bool f64 = dt == F64;
    const double *value = f64 ? c->value64 : c->value32, *gx = f64 ? c->gx64 : c->gx32,
                 *gy = f64 ? c->gy64 : c->gy32, *hv = f64 ? c->hvp64 : c->hvp32;
    double rtol = f64 ? 1e-12 : 1e-5;
    int64_t nx = count(c->ndim, c->shape);
    /* float32: gradients that nearly cancel are compared to their array's
     * scale (PyTorch's float32 arithmetic differs from ours in order). */
    double gfloor = f64 ? 0 : 1e-6 * max_abs(gx, nx);
    lref_inputs in = make_inputs(c, dt, tdt);
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_nonnull(T);
    tg_tensor *loss = run_case(T, c, &in);
    ck_assert_msg(loss != NULL, "%s: %s", c->name, tg_last_message());
    tgt_assert_shape(loss, c->outndim, c->outshape);
    ck_assert_int_eq(tg_dtype_of(loss), dt);
    compare("value", c, loss, value, rtol, f64 ? 0 : 1e-6 * max_abs(value, tg_numel(loss)));
    tg_tensor *seed = seed_for(loss);
    tg_tensor *ins[2] = {in.x, in.y};
    int nin = c->tgrad ? 2 : 1;
    if (!c->hvp) {
        ck_assert_int_eq(seed ? tg_backward_seed(T, loss, seed) : tg_backward(T, loss),
                         TG_OK);
        compare("d/dinput", c, tg_grad(in.x), gx, rtol, gfloor);
        if (c->tgrad)
            compare("d/dtarget", c, tg_grad(in.y), gy, rtol,
                    f64 ? 0 : 1e-6 * max_abs(gy, nx));
    } else {
        tg_tensor *g[2] = {NULL, NULL};
        ck_assert_int_eq(tg_ad_grad(T, loss, seed, nin, ins, g, true), TG_OK);
        compare("d/dinput", c, g[0], gx, rtol, gfloor);
        if (c->tgrad)
            compare("d/dtarget", c, g[1], gy, rtol, f64 ? 0 : 1e-6 * max_abs(gy, nx));
        double v[64];
        for (int64_t i = 0; i < nx; i++)
            v[i] = (double)((5 * i + 2) % 9 - 4) / 4.0;
        tg_tensor *v64 = tg_from_array(F64, c->ndim, c->shape, v);
        tg_tensor *vt = tg_cast(v64, dt);
        tg_tensor *gv = tg_ad_sum(T, tg_ad_mul(T, g[0], vt));
        tg_tensor *h = NULL;
        ck_assert_int_eq(tg_ad_grad(T, gv, NULL, 1, &in.x, &h, false), TG_OK);
        /* PyTorch's BCE double backward adds 1e-12 to x and 1 - x. */
        compare("hvp", c, h, hv, c->loss == LREF_BCE ? 1e-9 : rtol,
                f64 ? 0 : 1e-6 * max_abs(hv, nx));
        tg_free(v64);
        tg_free(vt);
    }
    tg_free(seed);
    tg_tape_free(T);
    if (f64) { /* without a tape: the same value, caller-owned */
        tg_tensor *plain = run_case(NULL, c, &in);
        ck_assert_msg(plain != NULL, "%s: %s", c->name, tg_last_message());
        compare("value (no tape)", c, plain, value, rtol, 0);
        tg_free(plain);
    }
    free_inputs(&in);
}

START_TEST(test_reference_f64)
{
    check_case(&lref_cases[_i], F64, TG_INT64);
    if (is_class(&lref_cases[_i]))
        check_case(&lref_cases[_i], F64, TG_INT32);
}
END_TEST

START_TEST(test_reference_f32)
{
    check_case(&lref_cases[_i], F32, TG_INT64);
}
END_TEST

/* ---- finite differences ------------------------------------------------------------ */

typedef struct gc_ctx {
    int loss;
    tg_tensor *target, *weight, *pos_weight;
    tg_class_loss_args args;
    double param;
} gc_ctx;

static tg_tensor *gc_fn(tg_tape *T, tg_tensor *const *in, void *vctx)
{
    gc_ctx *g = vctx;
    tg_tensor *y = g->target ? g->target : in[1];
    switch (g->loss) {
    case LREF_HUBER:
        return tg_huber_loss(T, in[0], y, TG_REDUCE_SUM, g->param);
    case LREF_SMOOTH_L1:
        return tg_smooth_l1_loss(T, in[0], y, TG_REDUCE_MEAN, g->param);
    case LREF_BCE:
        return tg_binary_cross_entropy(T, in[0], y, g->weight, TG_REDUCE_MEAN);
    case LREF_BCE_LOGITS:
        return tg_binary_cross_entropy_with_logits(T, in[0], y, g->weight, g->pos_weight,
                                                   TG_REDUCE_SUM);
    case LREF_NLL:
        return tg_nll_loss(T, in[0], g->target, &g->args);
    case LREF_CE:
        return tg_cross_entropy(T, in[0], g->target, &g->args);
    default:
        return tg_kl_div(T, in[0], y, TG_REDUCE_BATCHMEAN, false);
    }
}

static void gradcheck_one(gc_ctx *g, int n, tg_tensor *const *in)
{
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(gc_fn, g, n, in, 1e-6, 1e-8, 1e-6, &rep), TG_OK);
    ck_assert_msg(rep.ok, "loss %d: worst ratio %g at input %d element %lld (%g vs %g)",
                  g->loss, rep.worst_ratio, rep.input, (long long)rep.index,
                  rep.analytic, rep.numeric);
}

START_TEST(test_gradcheck)
{
    /* Off the kinks: no |d| on delta or beta, no probability at 0 or 1. */
    const lref_gen gx = {7, 3, 29, -2.1, 2.3, 0, {0}, {0}};
    const lref_gen gy = {5, 1, 23, -1.9, 2.2, 0, {0}, {0}};
    const lref_gen gp = {7, 3, 29, 0.03, 0.96, 0, {0}, {0}};
    const lref_gen gt = {3, 2, 11, 0.0, 1.0, 0, {0}, {0}};
    const lref_gen gw = {2, 1, 5, 0.5, 2.5, 0, {0}, {0}};
    tg_tensor *x = gen_tensor(&gx, F64, TG_SHAPE(4, 5));
    tg_tensor *y = gen_tensor(&gy, F64, TG_SHAPE(4, 5));
    tg_tensor *p = gen_tensor(&gp, F64, TG_SHAPE(4, 5));
    tg_tensor *t = gen_tensor(&gt, F64, TG_SHAPE(4, 5));
    tg_tensor *w = gen_tensor(&gw, F64, TG_SHAPE(5));
    tg_requires_grad(x, true);
    tg_requires_grad(y, true);
    tg_requires_grad(p, true);
    tg_requires_grad(t, true);

    gc_ctx g = {.loss = LREF_HUBER, .param = 0.8};
    gradcheck_one(&g, 2, (tg_tensor *const[]){x, y});
    g = (gc_ctx){.loss = LREF_SMOOTH_L1, .param = 0.7};
    gradcheck_one(&g, 2, (tg_tensor *const[]){x, y});
    g = (gc_ctx){.loss = LREF_BCE_LOGITS, .weight = w, .pos_weight = w};
    gradcheck_one(&g, 2, (tg_tensor *const[]){x, t});
    g = (gc_ctx){.loss = LREF_BCE, .weight = w};
    gradcheck_one(&g, 2, (tg_tensor *const[]){p, t});
    g = (gc_ctx){.loss = LREF_KL}; /* positive targets: log t differentiable */
    gradcheck_one(&g, 2, (tg_tensor *const[]){x, p});

    tg_tensor *labels = tg_from_array(TG_INT64, TG_SHAPE(4),
                                      (const int64_t[]){3, -100, 0, 4});
    g = (gc_ctx){.loss = LREF_CE, .target = labels, .args = TG_CLASS_LOSS_ARGS};
    g.args.weight = w;
    g.args.label_smoothing = 0.2;
    gradcheck_one(&g, 1, &x);
    g.loss = LREF_NLL;
    g.args.label_smoothing = 0;
    g.args.reduction = TG_REDUCE_SUM;
    gradcheck_one(&g, 1, &x);
    tg_free(labels);
    tg_free(x);
    tg_free(y);
    tg_free(p);
    tg_free(t);
    tg_free(w);
}
END_TEST

/* ---- the old losses agree with the general ones ------------------------------------- */

START_TEST(test_old_losses_agree)
{
    const lref_gen gx = {7, 3, 29, -2.1, 2.3, 0, {0}, {0}};
    tg_tensor *x = gen_tensor(&gx, F64, TG_SHAPE(3, 4));
    tg_tensor *y = gen_tensor(&gx, F64, TG_SHAPE(3, 4));
    tg_tensor *labels = tg_from_array(TG_INT32, TG_SHAPE(3), (const int32_t[]){3, 0, 2});
    tg_tensor *a = tg_loss_mse(NULL, x, y), *b = tg_mse_loss(NULL, x, y, TG_REDUCE_MEAN);
    ck_assert_double_eq_tol(tgt_at(a, 0), tgt_at(b, 0), 1e-15);
    tg_tensor *c = tg_loss_cross_entropy(NULL, x, labels);
    tg_tensor *d = tg_cross_entropy(NULL, x, labels, NULL);
    ck_assert_double_eq_tol(tgt_at(c, 0), tgt_at(d, 0), 1e-14);
    tg_free(a);
    tg_free(b);
    tg_free(c);
    tg_free(d);
    tg_free(labels);
    tg_free(x);
    tg_free(y);
}
END_TEST

/* ---- bad arguments ------------------------------------------------------------------- */

START_TEST(test_errors_elementwise)
{
    tg_tensor *x = tg_zeros(F64, TG_SHAPE(2, 3)), *y = tg_zeros(F64, TG_SHAPE(2, 3));
    tg_tensor *y1 = tg_zeros(F64, TG_SHAPE(3)), *y32 = tg_zeros(F32, TG_SHAPE(2, 3));
    tg_tensor *xi = tg_zeros(TG_INT32, TG_SHAPE(2, 3));
    tg_tensor *w4 = tg_ones(F64, TG_SHAPE(4)), *w32 = tg_ones(F32, TG_SHAPE(3));
    tg_tensor *big = tg_full(F64, TG_SHAPE(2, 3), 1.5);
    tg_tensor *nan = tg_full(F64, TG_SHAPE(2, 3), (double)NAN);

    /* NULL tensors propagate without a new message */
    tg_clear_error();
    ck_assert_ptr_null(tg_mse_loss(NULL, NULL, y, TG_REDUCE_MEAN));
    ck_assert_ptr_null(tg_l1_loss(NULL, x, NULL, TG_REDUCE_MEAN));
    ck_assert_ptr_null(tg_kl_div(NULL, NULL, y, TG_REDUCE_MEAN, false));
    ck_assert_ptr_null(tg_binary_cross_entropy(NULL, NULL, y, NULL, TG_REDUCE_MEAN));
    ck_assert_ptr_null(tg_binary_cross_entropy_with_logits(NULL, x, NULL, NULL, NULL,
                                                           TG_REDUCE_MEAN));
    ck_assert_ptr_null(tg_huber_loss(NULL, NULL, y, TG_REDUCE_MEAN, 1.0));
    ck_assert_ptr_null(tg_smooth_l1_loss(NULL, NULL, y, TG_REDUCE_MEAN, 1.0));
    ck_assert_int_eq(tg_last_error(), TG_OK);

    ck_assert_ptr_null(tg_mse_loss(NULL, x, y1, TG_REDUCE_MEAN));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_mse_loss: input (2,3) and target (3,) differ in shape");
    ck_assert_ptr_null(tg_l1_loss(NULL, x, y32, TG_REDUCE_SUM));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_l1_loss: input is float64 but target is float32");
    ck_assert_ptr_null(tg_l1_loss(NULL, xi, xi, TG_REDUCE_SUM));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_l1_loss: input is int32; losses take float32 or float64");
    ck_assert_ptr_null(tg_mse_loss(NULL, x, y, (tg_reduction)7));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_mse_loss: unknown reduction 7");
    ck_assert_ptr_null(tg_mse_loss(NULL, x, y, (tg_reduction)-1));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "unknown reduction -1");
    ck_assert_ptr_null(tg_l1_loss(NULL, x, y, TG_REDUCE_BATCHMEAN));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_l1_loss: TG_REDUCE_BATCHMEAN is for tg_kl_div only");

    const double bad_delta[] = {0.0, -1.0, (double)NAN, (double)INFINITY};
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_null(tg_huber_loss(NULL, x, y, TG_REDUCE_MEAN, bad_delta[i]));
        TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_huber_loss: delta is");
        TGT_ASSERT_ERR(TG_ERR_VALUE, "it must be positive and finite");
    }
    const double bad_beta[] = {-0.5, (double)NAN, (double)INFINITY};
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(tg_smooth_l1_loss(NULL, x, y, TG_REDUCE_MEAN, bad_beta[i]));
        TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_smooth_l1_loss: beta is");
    }
    ck_assert_ptr_null(tg_huber_loss(NULL, x, y1, TG_REDUCE_MEAN, 1.0));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_huber_loss: input (2,3)");

    ck_assert_ptr_null(tg_binary_cross_entropy(NULL, big, y, NULL, TG_REDUCE_MEAN));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_binary_cross_entropy: input element 0 is 1.5; "
                                 "probabilities must be in [0, 1]");
    ck_assert_ptr_null(tg_binary_cross_entropy(NULL, nan, y, NULL, TG_REDUCE_MEAN));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "input element 0 is nan");
    ck_assert_ptr_null(tg_binary_cross_entropy(NULL, x, y, w4, TG_REDUCE_MEAN));
    TGT_ASSERT_ERR(TG_ERR_SHAPE,
                   "tg_binary_cross_entropy: weight (4,) does not broadcast to input (2,3)");
    ck_assert_ptr_null(tg_binary_cross_entropy(NULL, x, y, w32, TG_REDUCE_MEAN));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "input is float64 but weight is float32");
    ck_assert_ptr_null(tg_binary_cross_entropy(NULL, x, y, NULL, TG_REDUCE_BATCHMEAN));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "TG_REDUCE_BATCHMEAN is for tg_kl_div only");
    ck_assert_ptr_null(tg_binary_cross_entropy_with_logits(NULL, x, y, NULL, w4,
                                                           TG_REDUCE_MEAN));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_binary_cross_entropy_with_logits: pos_weight (4,) "
                                 "does not broadcast to input (2,3)");
    ck_assert_ptr_null(tg_binary_cross_entropy_with_logits(NULL, x, y, w32, NULL,
                                                           TG_REDUCE_MEAN));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "input is float64 but weight is float32");
    ck_assert_ptr_null(tg_binary_cross_entropy_with_logits(NULL, x, y32, NULL, NULL,
                                                           TG_REDUCE_MEAN));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "input is float64 but target is float32");
    ck_assert_ptr_null(tg_kl_div(NULL, x, y1, TG_REDUCE_BATCHMEAN, true));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_kl_div: input (2,3) and target (3,) differ in shape");
    ck_assert_ptr_null(tg_kl_div(NULL, x, y, (tg_reduction)4, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_kl_div: unknown reduction 4");

    tg_free(x);
    tg_free(y);
    tg_free(y1);
    tg_free(y32);
    tg_free(xi);
    tg_free(w4);
    tg_free(w32);
    tg_free(big);
    tg_free(nan);
}
END_TEST

START_TEST(test_errors_class)
{
    tg_tensor *x = tg_zeros(F64, TG_SHAPE(3, 5)), *x0 = tg_scalar(F64, 1.0);
    tg_tensor *xe = tg_zeros(F64, TG_SHAPE(3, 0)), *xi = tg_zeros(TG_INT64, TG_SHAPE(3, 5));
    tg_tensor *t = tg_from_array(TG_INT64, TG_SHAPE(3), (const int64_t[]){0, 4, -100});
    tg_tensor *t5 = tg_from_array(TG_INT64, TG_SHAPE(3), (const int64_t[]){0, 5, 1});
    tg_tensor *tneg = tg_from_array(TG_INT32, TG_SHAPE(3), (const int32_t[]){0, -1, 1});
    tg_tensor *tf = tg_zeros(F64, TG_SHAPE(3)), *t2 = tg_zeros(TG_INT64, TG_SHAPE(3, 1));
    tg_tensor *w4 = tg_ones(F64, TG_SHAPE(4)), *w32 = tg_ones(F32, TG_SHAPE(5));
    tg_class_loss_args a = TG_CLASS_LOSS_ARGS;

    tg_clear_error();
    ck_assert_ptr_null(tg_nll_loss(NULL, NULL, t, NULL));
    ck_assert_ptr_null(tg_cross_entropy(NULL, NULL, t, NULL));
    ck_assert_int_eq(tg_last_error(), TG_OK);

    ck_assert_ptr_null(tg_nll_loss(NULL, x, NULL, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_nll_loss: target is NULL");
    ck_assert_ptr_null(tg_cross_entropy(NULL, x, NULL, &a));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_cross_entropy: target is NULL");
    ck_assert_ptr_null(tg_cross_entropy(NULL, x, t5, NULL));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_cross_entropy: target element 1 is 5, outside [0, 5) "
                                 "and not ignore_index (-100)");
    ck_assert_ptr_null(tg_nll_loss(NULL, x, tneg, NULL));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_nll_loss: target element 1 is -1, outside [0, 5)");
    a.ignore_index = -1; /* now -1 is fine, and -100 is not */
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_null(tg_nll_loss(NULL, x, t, &a));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "target element 2 is -100, outside [0, 5) and not "
                                 "ignore_index (-1)");
    tg_tensor *ok = tg_nll_loss(NULL, x, tneg, &a);
    ck_assert_ptr_nonnull(ok);
    tg_free(ok);
    a = (tg_class_loss_args)TG_CLASS_LOSS_ARGS;

    ck_assert_ptr_null(tg_nll_loss(NULL, x, tf, NULL));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_nll_loss: target is float64; class targets must be "
                                 "int32 or int64");
    ck_assert_ptr_null(tg_nll_loss(NULL, x, t2, NULL));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_nll_loss: input (3,5) needs target (3,), not (3,1)");
    ck_assert_ptr_null(tg_cross_entropy(NULL, x0, t, NULL));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_cross_entropy: input has shape (); it needs");
    ck_assert_ptr_null(tg_cross_entropy(NULL, xe, t, NULL));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_cross_entropy: input (3,0) has no classes");
    ck_assert_ptr_null(tg_nll_loss(NULL, xi, t, NULL));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_nll_loss: input is int64; losses take float32 or "
                                 "float64");
    a.weight = w4;
    ck_assert_ptr_null(tg_cross_entropy(NULL, x, t, &a));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_cross_entropy: weight has shape (4,); 5 classes need "
                                 "(5,)");
    a.weight = w32;
    ck_assert_ptr_null(tg_nll_loss(NULL, x, t, &a));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_nll_loss: input is float64 but weight is float32");
    a = (tg_class_loss_args)TG_CLASS_LOSS_ARGS;
    const double bad_e[] = {-0.1, 1.5, (double)NAN};
    for (int i = 0; i < 3; i++) {
        a.label_smoothing = bad_e[i];
        ck_assert_ptr_null(tg_cross_entropy(NULL, x, t, &a));
        TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_cross_entropy: label_smoothing is");
        TGT_ASSERT_ERR(TG_ERR_VALUE, "it must be in [0, 1]");
    }
    a.label_smoothing = 0.1;
    ck_assert_ptr_null(tg_nll_loss(NULL, x, t, &a));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_nll_loss: label_smoothing is 0.1; only "
                                 "tg_cross_entropy smooths labels");
    a = (tg_class_loss_args)TG_CLASS_LOSS_ARGS;
    a.reduction = TG_REDUCE_BATCHMEAN;
    ck_assert_ptr_null(tg_cross_entropy(NULL, x, t, &a));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_cross_entropy: TG_REDUCE_BATCHMEAN is for tg_kl_div");
    a.reduction = (tg_reduction)9;
    ck_assert_ptr_null(tg_nll_loss(NULL, x, t, &a));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_nll_loss: unknown reduction 9");

    tg_free(x);
    tg_free(x0);
    tg_free(xe);
    tg_free(xi);
    tg_free(t);
    tg_free(t5);
    tg_free(tneg);
    tg_free(tf);
    tg_free(t2);
    tg_free(w4);
    tg_free(w32);
}
END_TEST

/* ---- allocation failures ------------------------------------------------------------- */

/* The inputs the sweeps read (tgt_sweep_failures passes one const tensor). */
static struct {
    tg_tensor *x, *p, *z, *y, *w, *pw, *labels, *cw;
} sw;

static tg_tensor *sw_l1(const tg_tensor *u) { (void)u; return tg_l1_loss(NULL, sw.x, sw.y, TG_REDUCE_MEAN); }
static tg_tensor *sw_mse(const tg_tensor *u) { (void)u; return tg_mse_loss(NULL, sw.x, sw.y, TG_REDUCE_SUM); }
static tg_tensor *sw_huber(const tg_tensor *u) { (void)u; return tg_huber_loss(NULL, sw.x, sw.y, TG_REDUCE_MEAN, 0.5); }
static tg_tensor *sw_sl1(const tg_tensor *u) { (void)u; return tg_smooth_l1_loss(NULL, sw.x, sw.y, TG_REDUCE_NONE, 0.5); }
static tg_tensor *sw_bce(const tg_tensor *u) { (void)u; return tg_binary_cross_entropy(NULL, sw.p, sw.z, sw.w, TG_REDUCE_MEAN); }
static tg_tensor *sw_bcel(const tg_tensor *u)
{
    (void)u;
    return tg_binary_cross_entropy_with_logits(NULL, sw.x, sw.z, sw.w, sw.pw, TG_REDUCE_MEAN);
}
static tg_tensor *sw_nll(const tg_tensor *u)
{
    (void)u;
    tg_class_loss_args a = TG_CLASS_LOSS_ARGS;
    a.weight = sw.cw;
    return tg_nll_loss(NULL, sw.x, sw.labels, &a);
}
static tg_tensor *sw_ce(const tg_tensor *u)
{
    (void)u;
    tg_class_loss_args a = TG_CLASS_LOSS_ARGS;
    a.weight = sw.cw;
    a.label_smoothing = 0.1;
    return tg_cross_entropy(NULL, sw.x, sw.labels, &a);
}
static tg_tensor *sw_kl(const tg_tensor *u) { (void)u; return tg_kl_div(NULL, sw.x, sw.z, TG_REDUCE_BATCHMEAN, false); }
static tg_tensor *sw_kl_log(const tg_tensor *u) { (void)u; return tg_kl_div(NULL, sw.x, sw.y, TG_REDUCE_MEAN, true); }

static void sweep_inputs(void)
{
    const lref_gen gx = {7, 3, 29, -2.1, 2.3, 0, {0}, {0}};
    const lref_gen gp = {7, 3, 29, 0.03, 0.96, 0, {0}, {0}};
    const lref_gen gz = {3, 2, 11, 0.0, 1.0, 0, {0}, {0}};
    sw.x = gen_tensor(&gx, F64, TG_SHAPE(3, 4));
    sw.y = gen_tensor(&gp, F64, TG_SHAPE(3, 4));
    sw.p = gen_tensor(&gp, F64, TG_SHAPE(3, 4));
    sw.z = gen_tensor(&gz, F64, TG_SHAPE(3, 4));
    sw.w = gen_tensor(&gz, F64, TG_SHAPE(4));
    sw.pw = gen_tensor(&gp, F64, TG_SHAPE(4));
    sw.cw = gen_tensor(&gp, F64, TG_SHAPE(4));
    sw.labels = tg_from_array(TG_INT64, TG_SHAPE(3), (const int64_t[]){1, -100, 3});
    tg_requires_grad(sw.x, true);
    tg_requires_grad(sw.p, true);
}

static void sweep_free(void)
{
    tg_free(sw.x);
    tg_free(sw.y);
    tg_free(sw.p);
    tg_free(sw.z);
    tg_free(sw.w);
    tg_free(sw.pw);
    tg_free(sw.cw);
    tg_free(sw.labels);
}

typedef struct sweep_entry {
    tgt_op1_fn f;
    const char *name;
} sweep_entry;

static const sweep_entry sweeps[] = {
    {sw_l1, "tg_l1_loss"}, {sw_mse, "tg_mse_loss"}, {sw_huber, "tg_huber_loss"},
    {sw_sl1, "tg_smooth_l1_loss"}, {sw_bce, "tg_binary_cross_entropy"},
    {sw_bcel, "tg_binary_cross_entropy_with_logits"}, {sw_nll, "tg_nll_loss"},
    {sw_ce, "tg_cross_entropy"}, {sw_kl, "tg_kl_div"}, {sw_kl_log, "tg_kl_div"},
};
#define NSWEEPS ((int)(sizeof sweeps / sizeof sweeps[0]))

START_TEST(test_alloc_failures_no_tape)
{
    sweep_inputs();
    /* tgt_sweep_failures stops at 64 allocations; cross-entropy with
     * weights and smoothing makes more without a tape (a header and a
     * buffer per op), so it is swept here the same way with room to spare. */
    long n = 0;
    if (_i != 7) {
        n = tgt_sweep_failures(sweeps[_i].f, sw.x, sweeps[_i].name);
    } else {
        for (long k = 1; k <= 400 && n == 0; k++) {
            long live = tgt_stats.live_blocks;
            tg_clear_error();
            tgt_stats.calls = 0;
            tgt_stats.fail_at = k;
            tg_tensor *r = sweeps[_i].f(sw.x);
            tgt_stats.fail_at = 0;
            if (r) {
                tg_free(r);
                n = k - 1;
            } else {
                TGT_ASSERT_ERR(TG_ERR_NOMEM, sweeps[_i].name);
            }
            ck_assert_int_eq(tgt_stats.live_blocks, live);
        }
    }
    ck_assert(n > 0);
    sweep_free();
}
END_TEST

/* On a tape: each allocation of the loss and its backward fails in turn;
 * the loss is NULL (its message names it) or the backward fails, and
 * nothing outlives the tape. */
START_TEST(test_alloc_failures_on_tape)
{
    sweep_inputs();
    bool done = false;
    long live = -1;
    /* k = 0 fails nothing: it makes the .grad of x and p, which stay */
    for (long k = 0; k <= 300 && !done; k++) {
        tg_tape *T = tg_tape_new();
        ck_assert_ptr_nonnull(T);
        tg_clear_error();
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        tg_tensor *loss = NULL;
        /* the sweep functions run without a tape; these the same on T */
        switch (_i) {
        case 0: loss = tg_l1_loss(T, sw.x, sw.y, TG_REDUCE_MEAN); break;
        case 1: loss = tg_mse_loss(T, sw.x, sw.y, TG_REDUCE_SUM); break;
        case 2: loss = tg_huber_loss(T, sw.x, sw.y, TG_REDUCE_MEAN, 0.5); break;
        case 3: loss = tg_ad_sum(T, tg_smooth_l1_loss(T, sw.x, sw.y, TG_REDUCE_NONE, 0.5)); break;
        case 4: loss = tg_binary_cross_entropy(T, sw.p, sw.z, sw.w, TG_REDUCE_MEAN); break;
        case 5: loss = tg_binary_cross_entropy_with_logits(T, sw.x, sw.z, sw.w, sw.pw, TG_REDUCE_MEAN); break;
        case 6: {
            tg_class_loss_args a = TG_CLASS_LOSS_ARGS;
            a.weight = sw.cw;
            loss = tg_nll_loss(T, sw.x, sw.labels, &a);
            break;
        }
        case 7: {
            tg_class_loss_args a = TG_CLASS_LOSS_ARGS;
            a.weight = sw.cw;
            a.label_smoothing = 0.1;
            loss = tg_cross_entropy(T, sw.x, sw.labels, &a);
            break;
        }
        case 8: loss = tg_kl_div(T, sw.x, sw.z, TG_REDUCE_BATCHMEAN, false); break;
        default: loss = tg_kl_div(T, sw.x, sw.y, TG_REDUCE_MEAN, true); break;
        }
        int rc = loss ? tg_backward(T, loss) : tg_last_error();
        tgt_stats.fail_at = 0;
        if (!loss && _i != 3)
            TGT_ASSERT_ERR(TG_ERR_NOMEM, sweeps[_i].name);
        if (rc == TG_OK)
            done = k > 0;
        else
            ck_assert_int_eq(rc, TG_ERR_NOMEM);
        tg_tape_free(T);
        if (k == 0) {
            ck_assert_int_eq(rc, TG_OK);
            live = tgt_stats.live_blocks;
        }
        ck_assert_int_eq(tgt_stats.live_blocks, live);
    }
    ck_assert(done);
    sweep_free();
}
END_TEST

/* ---- a training loop's steady state ------------------------------------------------------ */

START_TEST(test_loop_stops_allocating)
{
    /* Every loss and its backward on one tape, step after step: after the
     * first steps the arena is reused and nothing is allocated. */
    sweep_inputs();
    tg_tape *T = tg_tape_new();
    long allocs = 0;
    for (int step = 0; step < 6; step++) {
        if (step == 2)
            allocs = tgt_stats.allocs;
        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        tg_class_loss_args a = TG_CLASS_LOSS_ARGS;
        a.weight = sw.cw;
        a.label_smoothing = 0.1;
        tg_class_loss_args b = TG_CLASS_LOSS_ARGS;
        tg_tensor *parts[] = {
            tg_l1_loss(T, sw.x, sw.y, TG_REDUCE_MEAN),
            tg_mse_loss(T, sw.x, sw.y, TG_REDUCE_SUM),
            tg_huber_loss(T, sw.x, sw.y, TG_REDUCE_MEAN, 0.5),
            tg_ad_sum(T, tg_smooth_l1_loss(T, sw.x, sw.y, TG_REDUCE_NONE, 0.5)),
            tg_binary_cross_entropy(T, sw.p, sw.z, sw.w, TG_REDUCE_MEAN),
            tg_binary_cross_entropy_with_logits(T, sw.x, sw.z, sw.w, sw.pw, TG_REDUCE_MEAN),
            tg_nll_loss(T, sw.x, sw.labels, &b),
            tg_cross_entropy(T, sw.x, sw.labels, &a),
            tg_kl_div(T, sw.x, sw.z, TG_REDUCE_BATCHMEAN, false),
            tg_kl_div(T, sw.x, sw.y, TG_REDUCE_MEAN, true),
        };
        tg_tensor *total = parts[0];
        for (int i = 1; i < (int)(sizeof parts / sizeof parts[0]); i++)
            total = tg_ad_add(T, total, parts[i]);
        ck_assert_msg(total != NULL, "%s", tg_last_message());
        tg_zero_grad(sw.x);
        tg_zero_grad(sw.p);
        ck_assert_int_eq(tg_backward(T, total), TG_OK);
    }
    ck_assert_int_eq(tgt_stats.allocs, allocs);
    tg_tape_free(T);
    sweep_free();
}
END_TEST

/* ---- edge cases the fixtures do not show ---------------------------------------------------- */

START_TEST(test_masked_logits_and_strided)
{
    /* A -inf logit (a masked class) is fine in cross-entropy, in an
     * ignored row too; a transposed (non-contiguous) input and target give
     * what their contiguous copies give. */
    tg_tensor *x = tg_from_array(F64, TG_SHAPE(2, 3),
                                 (const double[]){0.5, -(double)INFINITY, 1.0,
                                                  -(double)INFINITY, 2.0, 0.0});
    tg_tensor *t = tg_from_array(TG_INT64, TG_SHAPE(2), (const int64_t[]){0, -100});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *l = tg_cross_entropy(T, x, t, NULL);
    ck_assert_ptr_nonnull(l);
    double want = -(0.5 - log(exp(0.5) + exp(1.0)));
    ck_assert_double_eq_tol(tgt_at(l, 0), want, 1e-15);
    ck_assert_int_eq(tg_backward(T, l), TG_OK);
    for (int64_t i = 0; i < 6; i++)
        ck_assert(isfinite(tgt_at(tg_grad(x), i)));
    ck_assert_double_eq(tgt_at(tg_grad(x), 1), 0.0);
    ck_assert_double_eq(tgt_at(tg_grad(x), 4), 0.0);

    const lref_gen gx = {7, 3, 29, -2.1, 2.3, 0, {0}, {0}};
    tg_tensor *a = gen_tensor(&gx, F64, TG_SHAPE(4, 3)), *b = gen_tensor(&gx, F64, TG_SHAPE(3, 4));
    tg_tensor *at = tg_transpose(a, 0, 1), *ac = tg_contiguous(at);
    tg_tensor *l1 = tg_huber_loss(NULL, at, b, TG_REDUCE_NONE, 0.7);
    tg_tensor *l2 = tg_huber_loss(NULL, ac, b, TG_REDUCE_NONE, 0.7);
    for (int64_t i = 0; i < 12; i++)
        ck_assert_double_eq(tgt_at(l1, i), tgt_at(l2, i));
    tg_tensor *pa = tg_sigmoid(at), *pc = tg_sigmoid(ac), *z = tg_sigmoid(b);
    tg_tensor *b1 = tg_binary_cross_entropy(NULL, pa, z, NULL, TG_REDUCE_NONE);
    tg_tensor *b2 = tg_binary_cross_entropy(NULL, pc, z, NULL, TG_REDUCE_NONE);
    for (int64_t i = 0; i < 12; i++)
        ck_assert_double_eq(tgt_at(b1, i), tgt_at(b2, i));
    tg_tensor *lt = tg_from_array(TG_INT64, TG_SHAPE(4), (const int64_t[]){2, 0, 1, 2});
    tg_tensor *c1 = tg_cross_entropy(NULL, a, lt, NULL);
    tg_tensor *a2 = tg_contiguous(a);
    tg_tensor *c2 = tg_cross_entropy(NULL, a2, lt, NULL);
    ck_assert_double_eq(tgt_at(c1, 0), tgt_at(c2, 0));
    tg_tensor *frees[] = {x, t, a, b, at, ac, l1, l2, pa, pc, z, b1, b2, lt, c1, a2, c2};
    for (int i = 0; i < (int)(sizeof frees / sizeof frees[0]); i++)
        tg_free(frees[i]);
    tg_tape_free(T);
}
END_TEST

Suite *test_loss_suite(void); /* called by the generated runner */
Suite *test_loss_suite(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tgt_tcase("reference");
    tcase_add_loop_test(tc, test_reference_f64, 0, NCASES);
    tcase_add_loop_test(tc, test_reference_f32, 0, NCASES);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("gradients");
    tcase_add_test(tc, test_gradcheck);
    tcase_add_test(tc, test_old_losses_agree);
    tcase_add_test(tc, test_masked_logits_and_strided);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_errors_elementwise);
    tcase_add_test(tc, test_errors_class);
    tcase_add_loop_test(tc, test_alloc_failures_no_tape, 0, NSWEEPS);
    tcase_add_loop_test(tc, test_alloc_failures_on_tape, 0, NSWEEPS);
    tcase_add_test(tc, test_loop_stops_allocating);
    suite_add_tcase(s, tc);
    return s;
}
