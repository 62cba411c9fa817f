/* test_norm.c - batch norm, layer norm and dropout (autograd/norm.c,
 * tensor/norm.c). Forward values, gradients of x, weight and bias, a
 * second order (the gradient of the squared gradient) and batch norm's
 * running statistics after one and two training calls, against PyTorch
 * (data/norm_ref.inc, written by data/make_norm_ref.py) in float64 and
 * float32; the gradient checker in float64, first and second order; the
 * plain backward equal bit for bit to the recorded one; dropout's mask
 * statistics, scale, gradient, and its cases that draw nothing; bad input
 * with its messages (running statistics untouched); allocation failures,
 * forward and backward; no allocation in a steady training loop. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>

#include "data/norm_ref.inc"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE

/* ---- inputs, as make_norm_ref.py's ----------------------------------------------- */

static tg_tensor *filled(tg_dtype dt, int ndim, const int64_t *shape, int which, int k)
{
    tg_tensor *t = tg_empty(F64, ndim, shape);
    ck_assert_ptr_nonnull(t);
    double *v = tg_data(t);
    for (int64_t i = 0; i < tg_numel(t); i++) {
        switch (which) {
        case 0: /* x */
            v[i] = (double)((37 * i + 11 * k) % 23 - 11) / 8.0 + (double)i / 64.0;
            break;
        case 1: /* weight */
            v[i] = 1.0 + (double)((3 * i) % 5 - 2) / 4.0;
            break;
        case 2: /* bias */
            v[i] = (double)((5 * i) % 7 - 3) / 8.0;
            break;
        case 3: /* running_mean */
            v[i] = (double)(i % 3 - 1) / 4.0;
            break;
        case 4: /* running_var */
            v[i] = 1.0 + (double)(i % 4) / 2.0;
            break;
        default: /* the loss weights */
            v[i] = (double)((i * 7) % 11 - 5) * 0.5;
            break;
        }
    }
    if (dt == F64)
        return t;
    tg_tensor *c = tg_cast(t, dt);
    tg_free(t);
    ck_assert_ptr_nonnull(c);
    return c;
}

typedef enum { BN, LN } nkind;

typedef struct ncase {
    const char *name;
    nkind kind;
    int ndim;
    int64_t shape[4];
    int ndims; /* layer norm */
    bool w, b, running, training;
    double momentum, eps;
    const norm_ref *y, *gx, *gw, *gb, *hhx, *hhw, *rm1, *rv1, *rm2, *rv2;
} ncase;

#define R(n, f) &ref_##n##_##f
#define REFS(n) .y = R(n, y), .gx = R(n, gx), .hhx = R(n, hhx)
#define RUN(n) .rm1 = R(n, rm1), .rv1 = R(n, rv1), .rm2 = R(n, rm2), .rv2 = R(n, rv2)

static const ncase cases[] = {
    {"bn2d_train", BN, 2, {5, 3}, 0, true, true, true, true, 0.1, 1e-5, REFS(bn2d_train),
     .gw = R(bn2d_train, gw), .gb = R(bn2d_train, gb), .hhw = R(bn2d_train, hhw),
     RUN(bn2d_train)},
    {"bn4d_train", BN, 4, {2, 3, 2, 3}, 0, true, true, true, true, 0.3, 1e-3,
     REFS(bn4d_train), .gw = R(bn4d_train, gw), .gb = R(bn4d_train, gb),
     .hhw = R(bn4d_train, hhw), RUN(bn4d_train)},
    {"bn4d_train_batch1", BN, 4, {1, 2, 3, 2}, 0, false, false, true, true, 0.1, 1e-5,
     REFS(bn4d_train_batch1), RUN(bn4d_train_batch1)},
    {"bn2d_train_nostats", BN, 2, {4, 2}, 0, true, false, false, true, 0.1, 1e-5,
     REFS(bn2d_train_nostats), .gw = R(bn2d_train_nostats, gw),
     .hhw = R(bn2d_train_nostats, hhw)},
    {"bn2d_eval", BN, 2, {4, 3}, 0, true, true, true, false, 0.1, 1e-5, REFS(bn2d_eval),
     .gw = R(bn2d_eval, gw), .gb = R(bn2d_eval, gb), .hhw = R(bn2d_eval, hhw)},
    {"bn4d_eval_bias", BN, 4, {2, 3, 2, 2}, 0, false, true, true, false, 0.1, 1e-2,
     REFS(bn4d_eval_bias), .gb = R(bn4d_eval_bias, gb)},
    {"ln1_affine", LN, 2, {3, 5}, 1, true, true, false, false, 0, 1e-5, REFS(ln1_affine),
     .gw = R(ln1_affine, gw), .gb = R(ln1_affine, gb), .hhw = R(ln1_affine, hhw)},
    {"ln2_affine", LN, 3, {2, 3, 4}, 2, true, true, false, false, 0, 1e-5,
     REFS(ln2_affine), .gw = R(ln2_affine, gw), .gb = R(ln2_affine, gb),
     .hhw = R(ln2_affine, hhw)},
    {"ln1_plain", LN, 2, {4, 6}, 1, false, false, false, false, 0, 1e-5, REFS(ln1_plain)},
    {"ln2_plain", LN, 3, {2, 2, 3}, 2, false, false, false, false, 0, 1e-3,
     REFS(ln2_plain)},
    {"ln1_weight", LN, 2, {3, 4}, 1, true, false, false, false, 0, 1e-5, REFS(ln1_weight),
     .gw = R(ln1_weight, gw), .hhw = R(ln1_weight, hhw)},
    {"ln_all_axes", LN, 2, {2, 3}, 2, false, true, false, false, 0, 1e-5,
     REFS(ln_all_axes), .gb = R(ln_all_axes, gb)},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* A case's tensors: x (input k), weight, bias, running statistics. */
typedef struct nset {
    tg_tensor *x, *w, *b, *rm, *rv;
} nset;

static nset make_set(const ncase *c, tg_dtype dt, int k)
{
    nset s = {NULL, NULL, NULL, NULL, NULL};
    s.x = filled(dt, c->ndim, c->shape, 0, k);
    int pn = c->kind == BN ? 1 : c->ndims;
    const int64_t *ps = c->kind == BN ? &c->shape[1] : &c->shape[c->ndim - c->ndims];
    if (c->w)
        s.w = filled(dt, pn, ps, 1, 0);
    if (c->b)
        s.b = filled(dt, pn, ps, 2, 0);
    if (c->running) {
        s.rm = filled(dt, 1, &c->shape[1], 3, 0);
        s.rv = filled(dt, 1, &c->shape[1], 4, 0);
    }
    return s;
}

static void free_set(nset *s)
{
    tg_free(s->x);
    tg_free(s->w);
    tg_free(s->b);
    tg_free(s->rm);
    tg_free(s->rv);
}

static tg_tensor *run_case(tg_tape *T, const ncase *c, tg_tensor *x, tg_tensor *w,
                           tg_tensor *b, tg_tensor *rm, tg_tensor *rv)
{
    if (c->kind == LN)
        return tg_ad_layer_norm(T, x, c->ndims, w, b, c->eps);
    return tg_ad_batch_norm(T, x, rm, rv, w, b, c->training, c->momentum, c->eps);
}

static void assert_close(const tg_tensor *t, const norm_ref *want, double tol,
                         const char *case_name, const char *what)
{
    ck_assert_msg(t != NULL, "%s %s: NULL (%s)", case_name, what, tg_last_message());
    ck_assert_int_eq(tg_ndim(t), want->ndim);
    for (int k = 0; k < want->ndim; k++)
        ck_assert_int_eq(tg_shape(t)[k], want->shape[k]);
    for (int64_t i = 0; i < tg_numel(t); i++) {
        double g = tgt_at(t, i), w = want->v[i];
        ck_assert_msg(fabs(g - w) <= tol * (1.0 + fabs(w)),
                      "%s %s: element %lld is %.17g, want %.17g", case_name, what,
                      (long long)i, g, w);
    }
}

/* ---- against PyTorch -------------------------------------------------------------------- */

/* _i: case index * 2 + (float32). Forward, the gradients of sum(lw * y),
 * the gradients of sum(gx^2), and the running statistics after two calls. */
START_TEST(test_against_torch)
{
    const ncase *c = &cases[_i / 2];
    tg_dtype dt = _i % 2 ? F32 : F64;
    double tol = dt == F64 ? 1e-10 : 2e-4;
    nset s = make_set(c, dt, 0);
    tg_requires_grad(s.x, true);
    if (s.w)
        tg_requires_grad(s.w, true);
    if (s.b)
        tg_requires_grad(s.b, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = run_case(T, c, s.x, s.w, s.b, s.rm, s.rv);
    assert_close(y, c->y, tol, c->name, "y");
    tg_tensor *lw = filled(dt, c->ndim, c->shape, 5, 0);
    tg_tensor *loss = tg_ad_sum(T, tg_ad_mul(T, y, lw));
    tg_tensor *leaves[3] = {s.x, NULL, NULL}, *g[3] = {NULL, NULL, NULL};
    int nl = 1, iw = 0, ib = 0;
    if (s.w)
        leaves[iw = nl++] = s.w;
    if (s.b)
        leaves[ib = nl++] = s.b;
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, nl, leaves, g, true), TG_OK);
    assert_close(g[0], c->gx, tol, c->name, "grad x");
    if (c->gw)
        assert_close(g[iw], c->gw, tol, c->name, "grad weight");
    if (c->gb)
        assert_close(g[ib], c->gb, tol, c->name, "grad bias");
    /* second order: d sum(gx^2) / d (x, weight) */
    tg_tensor *sq = tg_ad_sum(T, tg_ad_mul(T, g[0], g[0]));
    tg_tensor *h[2] = {NULL, NULL};
    ck_assert_int_eq(tg_ad_grad(T, sq, NULL, s.w ? 2 : 1, leaves, h, false), TG_OK);
    assert_close(h[0], c->hhx, dt == F64 ? 1e-9 : 2e-3, c->name, "second order x");
    if (c->hhw)
        assert_close(h[1], c->hhw, dt == F64 ? 1e-9 : 2e-3, c->name, "second order weight");
    /* the same gradients through tg_backward (the plain rules) */
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    assert_close(tg_grad(s.x), c->gx, tol, c->name, "tg_backward x");
    if (c->rm1) {
        assert_close(s.rm, c->rm1, tol, c->name, "running_mean after 1");
        assert_close(s.rv, c->rv1, tol, c->name, "running_var after 1");
        tg_tensor *x1 = filled(dt, c->ndim, c->shape, 0, 1);
        tg_tensor *y1 = run_case(NULL, c, x1, s.w, s.b, s.rm, s.rv); /* T NULL */
        ck_assert_ptr_nonnull(y1);
        assert_close(s.rm, c->rm2, tol, c->name, "running_mean after 2");
        assert_close(s.rv, c->rv2, tol, c->name, "running_var after 2");
        tg_free(y1);
        tg_free(x1);
    }
    tg_tape_free(T);
    tg_free(lw);
    free_set(&s);
}
END_TEST

/* T NULL gives the values the tape gives, caller-owned; a transposed x
 * (another layout) the same values as a contiguous one. */
START_TEST(test_no_tape_and_layouts)
{
    const ncase *c = &cases[_i];
    nset s = make_set(c, F64, 0);
    tg_tape *T = tg_tape_new();
    tg_tensor *a = run_case(T, c, s.x, s.w, s.b, s.rm, s.rv);
    tg_tensor *rm = c->running ? filled(F64, 1, &c->shape[1], 3, 0) : NULL;
    tg_tensor *rv = c->running ? filled(F64, 1, &c->shape[1], 4, 0) : NULL;
    tg_tensor *b = run_case(NULL, c, s.x, s.w, s.b, rm, rv);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    for (int64_t i = 0; i < tg_numel(a); i++)
        TGT_ASSERT_SAME(tgt_at(b, i), tgt_at(a, i));
    /* x as a transpose of its transpose's copy: strides reversed */
    int perm[4] = {3, 2, 1, 0};
    if (c->ndim == 2) {
        perm[0] = 1;
        perm[1] = 0;
    } else if (c->ndim == 3) {
        perm[0] = 2;
        perm[1] = 1;
        perm[2] = 0;
    }
    tg_tensor *xt = tg_permute(s.x, perm);
    tg_tensor *xtc = tg_clone(xt);
    tg_tensor *xs = tg_permute(xtc, perm); /* x's values, other strides */
    ck_assert(!tg_is_contiguous(xs));
    tg_tensor *r2 = c->running ? filled(F64, 1, &c->shape[1], 3, 0) : NULL;
    tg_tensor *v2 = c->running ? filled(F64, 1, &c->shape[1], 4, 0) : NULL;
    tg_tensor *d = run_case(NULL, c, xs, s.w, s.b, r2, v2);
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < tg_numel(a); i++)
        TGT_ASSERT_SAME(tgt_at(d, i), tgt_at(a, i));
    tg_free(d);
    tg_free(r2);
    tg_free(v2);
    tg_free(xs);
    tg_free(xtc);
    tg_free(xt);
    tg_free(b);
    tg_free(rm);
    tg_free(rv);
    tg_tape_free(T);
    free_set(&s);
}
END_TEST

/* ---- gradients ---------------------------------------------------------------------- */

typedef struct gc_ctx {
    const ncase *c;
    int nleaves;
    bool second;
    tg_tensor *rm, *rv; /* eval's statistics: must outlive the backward */
} gc_ctx;

static tg_tensor *gc_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    const gc_ctx *g = ctx;
    const ncase *c = g->c;
    int k = 1;
    tg_tensor *w = c->w ? in[k++] : NULL, *b = c->b ? in[k++] : NULL;
    /* training's statistics change at each call but never change y */
    tg_tensor *y = run_case(T, c, in[0], w, b, g->rm, g->rv);
    if (!g->second || !y)
        return y;
    /* the gradients of sum(lw * y^2), recorded, joined */
    tg_tensor *lw = filled(F64, c->ndim, c->shape, 5, 0);
    tg_tensor *root = tg_ad_sum(T, tg_ad_mul(T, tg_ad_mul(T, y, y), lw));
    tg_tensor *d[3] = {NULL, NULL, NULL}, *flat[3];
    int rc = root ? tg_ad_grad(T, root, NULL, g->nleaves, in, d, true) : -1;
    tg_free(lw);
    if (rc)
        return NULL;
    for (int i = 0; i < g->nleaves; i++)
        flat[i] = tg_ad_reshape(T, d[i], 1, (const int64_t[]){-1});
    return tg_ad_concat(T, g->nleaves, flat, 0);
}

START_TEST(test_gradcheck)
{
    const ncase *c = &cases[_i];
    nset s = make_set(c, F64, 0);
    tg_tensor *leaves[3];
    int n = 0;
    leaves[n++] = s.x;
    if (s.w)
        leaves[n++] = s.w;
    if (s.b)
        leaves[n++] = s.b;
    for (int i = 0; i < n; i++)
        tg_requires_grad(leaves[i], true);
    for (int second = 0; second < 2; second++) {
        gc_ctx g = {c, n, second, s.rm, s.rv};
        tg_gradcheck_report rep;
        ck_assert_int_eq(tg_gradcheck(gc_fn, &g, n, leaves, 1e-6, 1e-6, 1e-5, &rep), TG_OK);
        ck_assert_msg(rep.ok, "%s (%s order): input %d element %lld: analytic %.17g numeric %.17g",
                      c->name, second ? "second" : "first", rep.input,
                      (long long)rep.index, rep.analytic, rep.numeric);
    }
    free_set(&s);
}
END_TEST

/* tg_backward's plain rules give the recorded rules' gradients bit for bit,
 * with a contiguous seed (the fused loop) and a broadcast one (the rule). */
START_TEST(test_plain_equals_recorded)
{
    const ncase *c = &cases[_i / 2];
    bool bcast_seed = _i % 2;
    for (int dtk = 0; dtk < 2; dtk++) {
        tg_dtype dt = dtk ? F32 : F64;
        nset s = make_set(c, dt, 0);
        tg_requires_grad(s.x, true);
        if (s.w)
            tg_requires_grad(s.w, true);
        tg_tape *T = tg_tape_new();
        tg_tensor *y = run_case(T, c, s.x, s.w, s.b, s.rm, s.rv);
        tg_tensor *lw = filled(dt, c->ndim, c->shape, 5, 0);
        tg_tensor *loss = bcast_seed ? tg_ad_sum(T, y) : tg_ad_sum(T, tg_ad_mul(T, y, lw));
        tg_tensor *in[2] = {s.x, s.w}, *g[2] = {NULL, NULL};
        int n = s.w ? 2 : 1;
        ck_assert_int_eq(tg_ad_grad(T, loss, NULL, n, in, g, true), TG_OK);
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        for (int j = 0; j < n; j++)
            for (int64_t i = 0; i < tg_numel(g[j]); i++) {
                double a = tgt_at(g[j], i), b = tgt_at(tg_grad(in[j]), i);
                ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "%s input %d element %lld: %.17g vs %.17g",
                              c->name, j, (long long)i, a, b);
            }
        tg_tape_free(T);
        tg_free(lw);
        free_set(&s);
    }
}
END_TEST

/* Gradients only to the weight (x a constant), and none when nothing
 * requires one (no record). */
START_TEST(test_what_is_recorded)
{
    const ncase *c = &cases[0]; /* bn2d_train */
    nset s = make_set(c, F64, 0);
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_nonnull(run_case(T, c, s.x, s.w, s.b, s.rm, s.rv));
    ck_assert_int_eq((int)tg_tape_length(T), 0);
    tg_requires_grad(s.w, true);
    tg_tensor *y = run_case(T, c, s.x, s.w, s.b, s.rm, s.rv);
    tg_tensor *lw = filled(F64, c->ndim, c->shape, 5, 0);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, y, lw))), TG_OK);
    assert_close(tg_grad(s.w), c->gw, 1e-10, c->name, "weight alone");
    ck_assert_ptr_null(tg_grad(s.x));
    tg_tape_free(T);
    tg_free(lw);
    free_set(&s);
}
END_TEST

/* Empty batches: an empty result; batch norm's statistics unchanged. */
START_TEST(test_empty)
{
    tg_tensor *x = tg_zeros(F64, SH(0, 3));
    tg_tensor *rm = filled(F64, 1, (const int64_t[]){3}, 3, 0);
    tg_tensor *rv = filled(F64, 1, (const int64_t[]){3}, 4, 0);
    tg_tensor *y = tg_ad_batch_norm(NULL, x, rm, rv, NULL, NULL, true, 0.1, 1e-5);
    ck_assert_ptr_nonnull(y);
    tgt_assert_shape(y, SH(0, 3));
    TGT_ASSERT_SAME(tgt_at(rm, 0), -0.25);
    TGT_ASSERT_SAME(tgt_at(rv, 2), 2.0);
    tg_free(y);
    y = tg_ad_layer_norm(NULL, x, 1, NULL, NULL, 1e-5);
    ck_assert_ptr_nonnull(y);
    tgt_assert_shape(y, SH(0, 3));
    tg_free(y);
    tg_free(x);
    tg_free(rm);
    tg_free(rv);
}
END_TEST

/* ---- dropout ------------------------------------------------------------------------- */

/* At a fixed seed: the mask is the draws u >= p in C order (a copy of the
 * generator predicts it), the kept fraction is within 4 binomial standard
 * deviations of 1 - p, kept values are x * (1 / (1 - p)) exactly, the
 * gradient is the mask times the scale, and the generator advanced by
 * exactly one draw per element. */
START_TEST(test_dropout_mask)
{
    static const double ps[] = {0.1, 0.5, 0.9};
    for (int dtk = 0; dtk < 2; dtk++)
        for (int j = 0; j < 3; j++) {
            tg_dtype dt = dtk ? F32 : F64;
            double p = ps[j];
            tg_tensor *x = filled(dt, SH(40, 50), 0, 0);
            tg_requires_grad(x, true);
            tg_rng rng, copy;
            tg_rng_seed(&rng, 1234);
            copy = rng;
            tg_tape *T = tg_tape_new();
            tg_tensor *y = tg_ad_dropout(T, x, p, true, &rng);
            ck_assert_ptr_nonnull(y);
            ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
            double scale = dt == F64 ? 1.0 / (1.0 - p) : (double)(float)(1.0 / (1.0 - p));
            int64_t kept = 0, n = tg_numel(x);
            for (int64_t i = 0; i < n; i++) {
                bool keep = tg_rng_random(&copy) >= p;
                double xv = tgt_at(x, i), yv = tgt_at(y, i), gv = tgt_at(tg_grad(x), i);
                double want = dt == F64 ? xv * scale : (double)((float)xv * (float)scale);
                kept += keep;
                TGT_ASSERT_SAME(yv, keep ? want : 0.0);
                TGT_ASSERT_SAME(gv, keep ? scale : 0.0);
            }
            ck_assert_int_eq((int)rng.pos, (int)copy.pos); /* n draws, no more */
            ck_assert(memcmp(rng.mt, copy.mt, sizeof rng.mt) == 0);
            double q = 1.0 - p, sd = sqrt((double)n * p * q);
            ck_assert_msg(fabs((double)kept - (double)n * q) <= 4.0 * sd,
                          "p %g: kept %lld of %lld", p, (long long)kept, (long long)n);
            tg_tape_free(T);
            tg_free(x);
        }
}
END_TEST

/* Not training, or p = 0: x's values, no draw (rng may be NULL), the
 * gradient passes whole; the result is freed on its own when T is NULL.
 * p = 1: zeros (PyTorch's x * 0), no draw, gradient 0. */
START_TEST(test_dropout_edges)
{
    tg_tensor *x = filled(F64, SH(3, 4), 0, 0);
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    for (int c = 0; c < 3; c++) {
        tg_tensor *y = c == 0 ? tg_ad_dropout(T, x, 0.5, false, NULL)
                     : c == 1 ? tg_ad_dropout(T, x, 0.0, true, NULL)
                              : tg_ad_dropout(T, x, 1.0, true, NULL);
        ck_assert_ptr_nonnull(y);
        tg_zero_grad(x);
        ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
        for (int64_t i = 0; i < 12; i++) {
            TGT_ASSERT_SAME(tgt_at(y, i), c < 2 ? tgt_at(x, i) : 0.0);
            TGT_ASSERT_SAME(tgt_at(tg_grad(x), i), c < 2 ? 1.0 : 0.0);
        }
    }
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_rng before = rng;
    for (int c = 0; c < 3; c++) { /* T NULL: caller-owned, x still usable */
        tg_tensor *y = tg_ad_dropout(NULL, x, c == 2 ? 1.0 : c == 1 ? 0.0 : 0.3, c != 0, &rng);
        ck_assert_ptr_nonnull(y);
        tgt_assert_shape(y, SH(3, 4));
        TGT_ASSERT_SAME(tgt_at(y, 5), c < 2 ? tgt_at(x, 5) : 0.0);
        tg_free(y);
        ck_assert(tgt_at(x, 5) == (double)((37 * 5) % 23 - 11) / 8.0 + 5.0 / 64.0);
    }
    ck_assert_int_eq(rng.pos, before.pos); /* no draw at all */
    ck_assert(memcmp(rng.mt, before.mt, sizeof rng.mt) == 0);
    tg_tensor *y = tg_ad_dropout(NULL, x, 0.5, true, &rng); /* T NULL, drawing */
    ck_assert_ptr_nonnull(y);
    tg_free(y);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------- */

#define ERR(expr, code, msg)                                                   \
    do {                                                                       \
        tg_clear_error();                                                      \
        ck_assert_ptr_null(expr);                                              \
        TGT_ASSERT_ERR(code, msg);                                             \
    } while (0)

START_TEST(test_bad_input)
{
    tg_tensor *x = filled(F64, SH(2, 3, 2, 2), 0, 0);
    tg_tensor *x2 = filled(F64, SH(4, 3), 0, 0);
    tg_tensor *x3 = filled(F64, SH(2, 3, 4), 0, 0);
    tg_tensor *x1 = filled(F64, SH(1, 3), 0, 0);
    tg_tensor *xf = filled(F32, SH(4, 3), 0, 0);
    tg_tensor *xi = tg_zeros(TG_INT32, SH(4, 3));
    tg_tensor *rm = filled(F64, SH(3), 3, 0), *rv = filled(F64, SH(3), 4, 0);
    tg_tensor *r4 = filled(F64, SH(4), 3, 0), *rf = filled(F32, SH(3), 3, 0);
    tg_tensor *w2 = filled(F64, SH(3, 4), 1, 0), *w4 = filled(F64, SH(4), 1, 0);
    tg_tensor *one = tg_zeros(F64, SH(1));
    tg_tensor *bc = tg_expand(one, SH(3)); /* a broadcast view */
    ERR(tg_ad_batch_norm(NULL, x3, rm, rv, NULL, NULL, true, 0.1, 1e-5), TG_ERR_SHAPE,
        "tg_ad_batch_norm: x has shape (2,3,4); batch norm takes (N, C) or (N, C, H, W)");
    ERR(tg_ad_batch_norm(NULL, xi, NULL, NULL, NULL, NULL, true, 0.1, 1e-5), TG_ERR_DTYPE,
        "tg_ad_batch_norm: x is int32; this op needs a float dtype");
    ERR(tg_ad_batch_norm(NULL, x, r4, rv, NULL, NULL, true, 0.1, 1e-5), TG_ERR_SHAPE,
        "tg_ad_batch_norm: running_mean has shape (4,); x (2,3,2,2) needs (3,)");
    ERR(tg_ad_batch_norm(NULL, x, rm, r4, NULL, NULL, true, 0.1, 1e-5), TG_ERR_SHAPE,
        "running_var has shape (4,)");
    ERR(tg_ad_batch_norm(NULL, x2, rm, rv, w4, NULL, true, 0.1, 1e-5), TG_ERR_SHAPE,
        "tg_ad_batch_norm: weight has shape (4,); x (4,3) needs (3,)");
    ERR(tg_ad_batch_norm(NULL, x2, rm, rv, NULL, w4, true, 0.1, 1e-5), TG_ERR_SHAPE,
        "tg_ad_batch_norm: bias has shape (4,)");
    ERR(tg_ad_batch_norm(NULL, x2, rf, rv, NULL, NULL, true, 0.1, 1e-5), TG_ERR_DTYPE,
        "tg_ad_batch_norm: running_mean is float32 but x is float64 (tg_ad_cast one of them)");
    ERR(tg_ad_batch_norm(NULL, xf, NULL, NULL, rm, NULL, true, 0.1, 1e-5), TG_ERR_DTYPE,
        "tg_ad_batch_norm: weight is float64 but x is float32");
    ERR(tg_ad_batch_norm(NULL, x2, rm, NULL, NULL, NULL, true, 0.1, 1e-5), TG_ERR_NULL,
        "tg_ad_batch_norm: running_var is NULL but running_mean is not; give both or neither");
    ERR(tg_ad_batch_norm(NULL, x2, NULL, rv, NULL, NULL, true, 0.1, 1e-5), TG_ERR_NULL,
        "running_mean is NULL but running_var is not");
    ERR(tg_ad_batch_norm(NULL, x2, NULL, NULL, NULL, NULL, false, 0.1, 1e-5), TG_ERR_NULL,
        "tg_ad_batch_norm: running_mean and running_var are needed when not training");
    static const double bad_eps[] = {0.0, -1e-5, (double)INFINITY, (double)NAN};
    for (int i = 0; i < 4; i++) {
        ERR(tg_ad_batch_norm(NULL, x2, rm, rv, NULL, NULL, true, 0.1, bad_eps[i]),
            TG_ERR_VALUE, "must be positive and finite");
        ERR(tg_ad_layer_norm(NULL, x2, 1, NULL, NULL, bad_eps[i]), TG_ERR_VALUE,
            "tg_ad_layer_norm: eps");
    }
    ERR(tg_ad_batch_norm(NULL, x2, rm, rv, NULL, NULL, true, 0.1, 0.0), TG_ERR_VALUE,
        "tg_ad_batch_norm: eps 0 must be positive and finite");
    static const double bad_m[] = {-0.1, 1.5, (double)NAN};
    for (int i = 0; i < 3; i++)
        ERR(tg_ad_batch_norm(NULL, x2, rm, rv, NULL, NULL, true, bad_m[i], 1e-5),
            TG_ERR_VALUE, "is outside [0, 1]");
    ERR(tg_ad_batch_norm(NULL, x2, rm, rv, NULL, NULL, true, 1.5, 1e-5), TG_ERR_VALUE,
        "tg_ad_batch_norm: momentum 1.5 is outside [0, 1]");
    ERR(tg_ad_batch_norm(NULL, x1, rm, rv, NULL, NULL, true, 0.1, 1e-5), TG_ERR_SHAPE,
        "tg_ad_batch_norm: x (1,3) has 1 value per channel; training needs more than 1");
    ERR(tg_ad_batch_norm(NULL, x2, bc, rv, NULL, NULL, true, 0.1, 1e-5), TG_ERR_VALUE,
        "tg_ad_batch_norm: running_mean is a broadcast view");
    /* none of that touched the running statistics */
    for (int64_t i = 0; i < 3; i++) {
        TGT_ASSERT_SAME(tgt_at(rm, i), (double)(i % 3 - 1) / 4.0);
        TGT_ASSERT_SAME(tgt_at(rv, i), 1.0 + (double)(i % 4) / 2.0);
    }
    /* batch 1 is fine in eval */
    tg_tensor *y = tg_ad_batch_norm(NULL, x1, rm, rv, NULL, NULL, false, 0.1, 1e-5);
    ck_assert_ptr_nonnull(y);
    tg_free(y);

    ERR(tg_ad_layer_norm(NULL, x3, 0, NULL, NULL, 1e-5), TG_ERR_VALUE,
        "tg_ad_layer_norm: ndims 0 is outside [1, 3] for x of shape (2,3,4)");
    ERR(tg_ad_layer_norm(NULL, x3, 4, NULL, NULL, 1e-5), TG_ERR_VALUE,
        "ndims 4 is outside [1, 3]");
    ERR(tg_ad_layer_norm(NULL, x3, 1, w2, NULL, 1e-5), TG_ERR_SHAPE,
        "tg_ad_layer_norm: weight has shape (3,4); x (2,3,4) needs (4,)");
    ERR(tg_ad_layer_norm(NULL, x3, 2, NULL, w4, 1e-5), TG_ERR_SHAPE,
        "tg_ad_layer_norm: bias has shape (4,); x (2,3,4) needs (3,4)");
    ERR(tg_ad_layer_norm(NULL, xi, 1, NULL, NULL, 1e-5), TG_ERR_DTYPE,
        "tg_ad_layer_norm: x is int32");
    ERR(tg_ad_layer_norm(NULL, xf, 1, NULL, rm, 1e-5), TG_ERR_DTYPE,
        "tg_ad_layer_norm: bias is float64 but x is float32");

    tg_rng rng, unseeded;
    tg_rng_seed(&rng, 1);
    memset(&unseeded, 0, sizeof unseeded);
    static const double bad_p[] = {-0.5, 1.5, (double)NAN};
    for (int i = 0; i < 3; i++)
        ERR(tg_ad_dropout(NULL, x2, bad_p[i], true, &rng), TG_ERR_VALUE,
            "tg_ad_dropout: p");
    ERR(tg_ad_dropout(NULL, x2, 1.5, true, &rng), TG_ERR_VALUE,
        "tg_ad_dropout: p 1.5 is outside [0, 1]");
    ERR(tg_ad_dropout(NULL, x2, 0.5, true, NULL), TG_ERR_NULL,
        "tg_ad_dropout: rng is NULL (training with 0 < p < 1 draws a mask)");
    ERR(tg_ad_dropout(NULL, x2, 0.5, true, &unseeded), TG_ERR_VALUE,
        "tg_ad_dropout: rng is not seeded (call tg_rng_seed on it first)");
    ERR(tg_ad_dropout(NULL, xi, 0.5, true, &rng), TG_ERR_DTYPE, "tg_ad_dropout: x is int32");
    /* NULL inputs: NULL without a new message */
    tg_clear_error();
    ck_assert_ptr_null(tg_ad_batch_norm(NULL, NULL, rm, rv, NULL, NULL, true, 0.1, 1e-5));
    ck_assert_ptr_null(tg_ad_layer_norm(NULL, NULL, 1, NULL, NULL, 1e-5));
    ck_assert_ptr_null(tg_ad_dropout(NULL, NULL, 0.5, true, &rng));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    /* a freed tape */
    tg_tape *T = tg_tape_new();
    tg_tensor *t = tg_ad_mul_scalar(T, x2, 1.0);
    tg_tape_reset(T);
    ERR(tg_ad_layer_norm(T, t, 1, NULL, NULL, 1e-5), TG_ERR_TAPE, "tg_ad_layer_norm");
    tg_tape_free(T);
    tg_free(x);
    tg_free(x1);
    tg_free(x2);
    tg_free(x3);
    tg_free(xf);
    tg_free(xi);
    tg_free(rm);
    tg_free(rv);
    tg_free(r4);
    tg_free(rf);
    tg_free(w2);
    tg_free(w4);
    tg_free(bc);
    tg_free(one);
}
END_TEST

/* ---- allocation failures ----------------------------------------------------------------- */

static tg_tensor *g_rm, *g_rv, *g_w, *g_b;
static tg_rng g_rng;

static tg_tensor *oom_bn_train(const tg_tensor *x)
{
    return tg_ad_batch_norm(NULL, (tg_tensor *)(uintptr_t)x, g_rm, g_rv, g_w, g_b, true, 0.1,
                            1e-5);
}
static tg_tensor *oom_bn_eval(const tg_tensor *x)
{
    return tg_ad_batch_norm(NULL, (tg_tensor *)(uintptr_t)x, g_rm, g_rv, g_w, g_b, false, 0.1,
                            1e-5);
}
static tg_tensor *oom_ln(const tg_tensor *x)
{
    return tg_ad_layer_norm(NULL, (tg_tensor *)(uintptr_t)x, 2, NULL, NULL, 1e-5);
}
static tg_tensor *oom_dropout(const tg_tensor *x)
{
    return tg_ad_dropout(NULL, (tg_tensor *)(uintptr_t)x, 0.5, true, &g_rng);
}
static tg_tensor *oom_dropout_eval(const tg_tensor *x)
{
    return tg_ad_dropout(NULL, (tg_tensor *)(uintptr_t)x, 0.5, false, &g_rng);
}

/* T NULL: each allocation refused in turn gives out of memory and leaves
 * nothing; the running statistics change only on the call that succeeds,
 * and the generator only moves on the call that succeeds. */
START_TEST(test_oom_no_tape)
{
    tg_tensor *x = filled(F64, SH(2, 3, 2, 2), 0, 0);
    g_rm = filled(F64, SH(3), 3, 0);
    g_rv = filled(F64, SH(3), 4, 0);
    g_w = filled(F64, SH(3), 1, 0);
    g_b = filled(F64, SH(3), 2, 0);
    ck_assert_int_ge(tgt_sweep_failures(oom_bn_train, x, "out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_bn_eval, x, "out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_ln, x, "out of memory"), 1);
    tg_rng_seed(&g_rng, 5);
    ck_assert_int_ge(tgt_sweep_failures(oom_dropout, x, "out of memory"), 1);
    tg_rng fresh;
    tg_rng_seed(&fresh, 5);
    for (int i = 0; i < 24; i++) /* exactly one successful call's draws */
        tg_rng_random(&fresh);
    ck_assert_int_eq(fresh.pos, g_rng.pos);
    ck_assert(memcmp(fresh.mt, g_rng.mt, sizeof fresh.mt) == 0);
    ck_assert_int_ge(tgt_sweep_failures(oom_dropout_eval, x, "tg_ad_dropout: out of memory"),
                     1);
    tg_free(x);
    tg_free(g_rm);
    tg_free(g_rv);
    tg_free(g_w);
    tg_free(g_b);
}
END_TEST

/* The running statistics after a sweep's one success equal one clean call's. */
START_TEST(test_oom_running_once)
{
    tg_tensor *x = filled(F64, SH(2, 3, 2, 2), 0, 0);
    g_rm = filled(F64, SH(3), 3, 0);
    g_rv = filled(F64, SH(3), 4, 0);
    g_w = g_b = NULL;
    tgt_sweep_failures(oom_bn_train, x, "out of memory");
    tg_tensor *rm = filled(F64, SH(3), 3, 0), *rv = filled(F64, SH(3), 4, 0);
    tg_tensor *y = tg_ad_batch_norm(NULL, x, rm, rv, NULL, NULL, true, 0.1, 1e-5);
    for (int64_t i = 0; i < 3; i++) {
        TGT_ASSERT_SAME(tgt_at(g_rm, i), tgt_at(rm, i));
        TGT_ASSERT_SAME(tgt_at(g_rv, i), tgt_at(rv, i));
    }
    tg_free(y);
    tg_free(rm);
    tg_free(rv);
    tg_free(x);
    tg_free(g_rm);
    tg_free(g_rv);
}
END_TEST

/* Every op of this file, forward and backward on a tape. */
static tg_tensor *every_op(tg_tape *T, tg_tensor *x, tg_tensor *w, tg_tensor *rm,
                           tg_tensor *rv, tg_rng *rng)
{
    tg_tensor *y = tg_ad_batch_norm(T, x, rm, rv, w, NULL, true, 0.1, 1e-5);
    y = tg_ad_dropout(T, y, 0.25, true, rng);
    y = tg_ad_layer_norm(T, y, 2, NULL, NULL, 1e-5);
    tg_tensor *z = tg_ad_batch_norm(T, x, rm, rv, w, NULL, false, 0.1, 1e-5);
    return tg_ad_sum(T, tg_ad_mul(T, tg_ad_add(T, y, z), tg_ad_add(T, y, z)));
}

START_TEST(test_oom_tape)
{
    double clean[15];
    bool done = false;
    long base = tgt_stats.live_blocks;
    for (long k = 0; !done; k++) {
        tg_tensor *x = filled(F64, SH(2, 3, 2, 2), 0, 0);
        tg_tensor *w = filled(F64, SH(3), 1, 0);
        tg_tensor *rm = filled(F64, SH(3), 3, 0), *rv = filled(F64, SH(3), 4, 0);
        tg_requires_grad(x, true);
        tg_requires_grad(w, true);
        tg_rng rng;
        tg_rng_seed(&rng, 3);
        tg_tape *T = tg_tape_new();
        ck_assert_ptr_nonnull(T);
        tgt_stats.fail_at = k ? tgt_stats.calls + k : 0;
        tg_clear_error();
        tg_tensor *f = every_op(T, x, w, rm, rv, &rng);
        int rc = f ? tg_backward(T, f) : tg_last_error();
        bool refused = k && tgt_stats.calls >= tgt_stats.fail_at;
        tgt_stats.fail_at = 0;
        if (rc == TG_OK) {
            for (int64_t i = 0; i < 15; i++) {
                double v = i < 12 ? tgt_at(tg_grad(x), i) : tgt_at(tg_grad(w), i - 12);
                if (k == 0)
                    clean[i] = v;
                else
                    ck_assert(memcmp(&v, &clean[i], sizeof v) == 0);
            }
            done = k > 0 && !refused;
        } else {
            ck_assert_msg(rc == TG_ERR_NOMEM, "allocation %ld: code %d (%s)", k, rc,
                          tg_last_message());
            ck_assert_msg(strncmp(tg_last_message(), "tg_", 3) == 0 &&
                              strstr(tg_last_message(), "out of memory"),
                          "allocation %ld: \"%s\"", k, tg_last_message());
            ck_assert_ptr_null(tg_grad(x));
            ck_assert_ptr_null(tg_grad(w));
        }
        tg_tape_free(T);
        tg_free(x);
        tg_free(w);
        tg_free(rm);
        tg_free(rv);
        ck_assert_msg(tgt_stats.live_blocks == base, "allocation %ld: %ld blocks leaked", k,
                      tgt_stats.live_blocks - base);
        ck_assert_int_lt(k, 200);
    }
}
END_TEST

/* A training loop that redoes the same step after tg_tape_reset makes no
 * allocator call from its third step on. */
START_TEST(test_steady_state)
{
    tg_tensor *x = filled(F32, SH(4, 3, 5, 5), 0, 0);
    tg_tensor *w = filled(F32, SH(3), 1, 0);
    tg_tensor *rm = filled(F32, SH(3), 3, 0), *rv = filled(F32, SH(3), 4, 0);
    tg_requires_grad(x, true);
    tg_requires_grad(w, true);
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_tape *T = tg_tape_new();
    long before = 0;
    for (int step = 0; step < 4; step++) {
        if (step == 2)
            before = tgt_stats.calls;
        tg_tape_reset(T);
        tg_zero_grad(x);
        tg_zero_grad(w);
        ck_assert_int_eq(tg_backward(T, every_op(T, x, w, rm, rv, &rng)), TG_OK);
    }
    ck_assert_int_eq(tgt_stats.calls, before);
    tg_tape_free(T);
    tg_free(x);
    tg_free(w);
    tg_free(rm);
    tg_free(rv);
}
END_TEST

/* The running statistics are buffers written in place: a record that used
 * them (eval) sees the write at backward. */
START_TEST(test_running_written_in_place)
{
    tg_tensor *x = filled(F64, SH(4, 3), 0, 0);
    tg_tensor *w = filled(F64, SH(3), 1, 0);
    tg_tensor *rm = filled(F64, SH(3), 3, 0), *rv = filled(F64, SH(3), 4, 0);
    tg_requires_grad(w, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_batch_norm(T, x, rm, rv, w, NULL, false, 0.1, 1e-5);
    tg_tensor *y2 = tg_ad_batch_norm(NULL, x, rm, rv, NULL, NULL, true, 0.1, 1e-5);
    tg_free(y2);
    tg_clear_error();
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_ERR_TAPE);
    ck_assert_msg(strstr(tg_last_message(), "modified in place"), "%s", tg_last_message());
    tg_tape_free(T);
    tg_free(x);
    tg_free(w);
    tg_free(rm);
    tg_free(rv);
}
END_TEST

Suite *test_norm_suite(void); /* called by the generated runner */

Suite *test_norm_suite(void)
{
    Suite *s = suite_create("norm");
    TCase *tc = tgt_tcase("reference");
    tcase_add_loop_test(tc, test_against_torch, 0, 2 * NCASES);
    tcase_add_loop_test(tc, test_no_tape_and_layouts, 0, NCASES);
    tcase_add_test(tc, test_empty);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("gradients");
    tcase_add_loop_test(tc, test_gradcheck, 0, NCASES);
    tcase_add_loop_test(tc, test_plain_equals_recorded, 0, 2 * NCASES);
    tcase_add_test(tc, test_what_is_recorded);
    tcase_add_test(tc, test_running_written_in_place);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("dropout");
    tcase_add_test(tc, test_dropout_mask);
    tcase_add_test(tc, test_dropout_edges);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_oom_no_tape);
    tcase_add_test(tc, test_oom_running_once);
    tcase_add_test(tc, test_oom_tape);
    tcase_add_test(tc, test_steady_state);
    suite_add_tcase(s, tc);
    return s;
}
