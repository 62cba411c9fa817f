/* test_index.c - indexing and selection on the tape: index_select, gather,
 * scatter_add, where, clamp, masked_fill and one_hot. Values and gradients
 * against PyTorch (tests/data/make_index_ref.py), tg_gradcheck in float64
 * on non-contiguous inputs, second order, a loop that allocates nothing
 * after its first step, and the errors. */
#include "helpers.h"

#include <math.h>

#define F64 TG_FLOAT64
#define SH TG_SHAPE
#define DINF ((double)INFINITY)

#include "data/index_ref.inc"

static tg_tensor *f64(int nd, const int64_t *shape, const double *v)
{
    tg_tensor *t = tg_from_array(F64, nd, shape, v);
    ck_assert_ptr_nonnull(t);
    return t;
}

static tg_tensor *i64(int nd, const int64_t *shape, const int64_t *v)
{
    tg_tensor *t = tg_from_array(TG_INT64, nd, shape, v);
    ck_assert_ptr_nonnull(t);
    return t;
}

static void assert_close(const tg_tensor *got, const double *want, int64_t n,
                         const char *what)
{
    ck_assert_msg(got != NULL, "%s: %s", what, tg_last_message());
    ck_assert_int_eq(tg_numel(got), n);
    for (int64_t i = 0; i < n; i++) {
        double g = tgt_at(got, i), w = want[i];
        bool ok = isinf(w) ? g == w : fabs(g - w) <= 1e-14 * (1 + fabs(w));
        ck_assert_msg(ok, "%s[%lld]: %.17g, PyTorch %.17g", what, (long long)i, g, w);
    }
}

/* sum(out * w) on T, backward. */
static void backward_weighted(tg_tape *T, tg_tensor *out, const double *w)
{
    tg_tensor *wt = tg_from_array(F64, tg_ndim(out), tg_shape(out), w);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, out, wt))), TG_OK);
    tg_free(wt);
}

START_TEST(test_vs_pytorch)
{
    tg_tape *T = tg_tape_new();
    /* index_select: the embedding lookup, rows repeated and unused */
    tg_tensor *weight = f64(SH(5, 3), ref_is_weight), *ids = i64(SH(2, 4), ref_is_ids);
    tg_requires_grad(weight, true);
    tg_tensor *emb = tg_ad_index_select(T, weight, 0, ids);
    tgt_assert_shape(emb, SH(2, 4, 3));
    assert_close(emb, ref_is_out, 24, "index_select");
    backward_weighted(T, emb, ref_is_w);
    assert_close(tg_grad(weight), ref_is_grad, 15, "index_select grad");
    /* gather along axis 1 */
    tg_tensor *x = f64(SH(3, 4), ref_g_x), *gi = i64(SH(3, 2), ref_g_index);
    tg_requires_grad(x, true);
    tg_tensor *g = tg_ad_gather(T, x, 1, gi);
    assert_close(g, ref_g_out, 6, "gather");
    backward_weighted(T, g, ref_g_w);
    assert_close(tg_grad(x), ref_g_grad, 12, "gather grad");
    /* scatter_add along axis 0 */
    tg_tensor *t = f64(SH(3, 4), ref_sa_t), *src = f64(SH(2, 4), ref_sa_src);
    tg_tensor *si = i64(SH(2, 4), ref_sa_index);
    tg_requires_grad(t, true);
    tg_requires_grad(src, true);
    tg_tensor *sa = tg_ad_scatter_add(T, t, 0, si, src);
    assert_close(sa, ref_sa_out, 12, "scatter_add");
    backward_weighted(T, sa, ref_sa_w);
    assert_close(tg_grad(t), ref_sa_grad_t, 12, "scatter_add grad t");
    assert_close(tg_grad(src), ref_sa_grad_src, 8, "scatter_add grad src");
    /* where: b's -inf is never chosen and leaves no NaN behind */
    bool mv[6];
    for (int i = 0; i < 6; i++)
        mv[i] = ref_w_mask[i] != 0;
    tg_tensor *m = tg_from_array(TG_BOOL, SH(2, 3), mv);
    tg_tensor *a = f64(SH(2, 3), ref_w_a), *b = f64(SH(3), ref_w_b);
    tg_requires_grad(a, true);
    tg_requires_grad(b, true);
    tg_tensor *wh = tg_ad_where(T, m, a, b);
    assert_close(wh, ref_w_out, 6, "where");
    backward_weighted(T, wh, ref_w_w);
    assert_close(tg_grad(a), ref_w_grad_a, 6, "where grad a");
    assert_close(tg_grad(b), ref_w_grad_b, 3, "where grad b");
    /* clamp with values on the bounds */
    tg_tensor *c = f64(SH(2, 3), ref_c_x);
    tg_requires_grad(c, true);
    tg_tensor *cl = tg_ad_clamp(T, c, -1.0, 1.5);
    assert_close(cl, ref_c_out, 6, "clamp");
    backward_weighted(T, cl, ref_c_w);
    assert_close(tg_grad(c), ref_c_grad, 6, "clamp grad");
    /* masked_fill with -inf: the loss is -inf, the gradient finite */
    bool fv[3];
    for (int i = 0; i < 3; i++)
        fv[i] = ref_mf_mask[i] != 0;
    tg_tensor *fm = tg_from_array(TG_BOOL, SH(3), fv);
    tg_tensor *mf = f64(SH(2, 3), ref_mf_a);
    tg_requires_grad(mf, true);
    tg_tensor *filled = tg_ad_masked_fill(T, mf, fm, -DINF);
    assert_close(filled, ref_mf_out, 6, "masked_fill");
    backward_weighted(T, filled, ref_mf_w);
    assert_close(tg_grad(mf), ref_mf_grad, 6, "masked_fill grad");
    tg_tape_free(T);
    tg_tensor *all[] = {weight, ids, x, gi, t, src, si, m, a, b, c, fm, mf};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

START_TEST(test_one_hot)
{
    tg_tensor *idx = i64(SH(2, 2), (const int64_t[]){2, 0, 1, 2});
    tg_tensor *oh = tg_one_hot(idx, 4, TG_INT64);
    tgt_assert_shape(oh, SH(2, 2, 4));
    for (int i = 0; i < 16; i++)
        ck_assert_double_eq(tgt_at(oh, i), (double)ref_oh[i]);
    tg_tensor *ohf = tg_one_hot(idx, 3, TG_FLOAT32);
    ck_assert_int_eq(tg_dtype_of(ohf), TG_FLOAT32);
    ck_assert_double_eq(tgt_at(ohf, 2), 1.0);
    ck_assert_ptr_null(tg_one_hot(idx, 2, F64));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_one_hot: index 2 at position 0 is outside [0, 2)");
    ck_assert_ptr_null(tg_one_hot(idx, 0, F64));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_one_hot: classes = 0 must be positive");
    tg_free(idx);
    tg_free(oh);
    tg_free(ohf);
}
END_TEST

/* ---- gradcheck on strided inputs, and second order ------------------------------ */

typedef struct ictx {
    tg_tensor *index, *mask;
} ictx;

static tg_tensor *f_index_select(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    ictx *c = ctx; /* a transposed view in, repeated indices */
    tg_tensor *v = tg_ad_transpose(T, in[0], 0, 1);
    return tg_ad_tanh(T, tg_ad_index_select(T, v, 1, c->index));
}

static tg_tensor *f_gather(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    ictx *c = ctx;
    tg_tensor *v = tg_ad_slice(T, in[0], 1, 0, 4, 1);
    return tg_ad_mul(T, tg_ad_gather(T, v, 1, c->index), tg_ad_gather(T, v, 1, c->index));
}

static tg_tensor *f_scatter(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    ictx *c = ctx;
    tg_tensor *src = tg_ad_exp(T, tg_ad_slice(T, in[0], 1, 0, 2, 1));
    return tg_ad_sin(T, tg_ad_scatter_add(T, in[0], 1, c->index, src));
}

static tg_tensor *f_select(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    ictx *c = ctx;
    tg_tensor *w = tg_ad_where(T, c->mask, tg_ad_mul(T, in[0], in[0]), in[0]);
    tg_tensor *k = tg_ad_clamp(T, w, -0.6, 0.7);
    return tg_ad_masked_fill(T, tg_ad_exp(T, k), c->mask, 2.0);
}

START_TEST(test_gradcheck)
{
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_tensor *x = tg_uniform(&rng, F64, -1, 1, SH(3, 5));
    tg_requires_grad(x, true);
    ictx c;
    tg_tensor *idx_sel = i64(SH(2, 2), (const int64_t[]){0, 2, 2, -1});
    tg_tensor *idx_g = i64(SH(3, 3), (const int64_t[]){3, 3, 0, 1, 2, 1, 0, 0, 0});
    tg_tensor *idx_s = i64(SH(3, 2), (const int64_t[]){4, 4, 0, 2, 1, 1});
    bool mv[15];
    for (int i = 0; i < 15; i++)
        mv[i] = (i * 7) % 3 == 0;
    c.mask = tg_from_array(TG_BOOL, SH(3, 5), mv);
    tg_ad_fn fns[4] = {f_index_select, f_gather, f_scatter, f_select};
    tg_tensor *ids[4] = {idx_sel, idx_g, idx_s, idx_s};
    for (int k = 0; k < 4; k++) {
        c.index = ids[k];
        tg_gradcheck_report rep;
        ck_assert_int_eq(tg_gradcheck(fns[k], &c, 1, &x, 1e-6, 1e-8, 1e-6, &rep), TG_OK);
        ck_assert_msg(rep.ok, "function %d: worst ratio %g at %lld (%g vs %g)", k,
                      rep.worst_ratio, (long long)rep.index, rep.analytic, rep.numeric);
    }
    tg_free(idx_sel);
    tg_free(idx_g);
    tg_free(idx_s);
    tg_free(c.mask);
    tg_free(x);
}
END_TEST

/* d/dx of the gradient of sum(gather(x)^3 w): the Hessian-vector product
 * through gather and its adjoint, against finite differences of the
 * gradient. */
START_TEST(test_second_order)
{
    tg_tensor *x = f64(SH(2, 3), (const double[]){0.5, -1.0, 2.0, 1.5, 0.25, -0.75});
    tg_tensor *v = f64(SH(2, 3), (const double[]){1, 2, -1, 0.5, -2, 1});
    tg_tensor *idx = i64(SH(2, 2), (const int64_t[]){2, 2, 0, 1});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_gather(T, x, 1, idx);
    tg_tensor *loss = tg_ad_sum(T, tg_ad_mul(T, y, tg_ad_mul(T, y, y)));
    tg_tensor *gx;
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 1, &x, &gx, true), TG_OK);
    tg_tensor *hv;
    tg_tensor *gv = tg_ad_sum(T, tg_ad_mul(T, gx, v));
    ck_assert_int_eq(tg_ad_grad(T, gv, NULL, 1, &x, &hv, false), TG_OK);
    /* analytic: loss = sum_j x[r, i_j]^3, gradient 3 x^2 times the count
     * of each pick, Hessian diagonal 6 x times the count */
    const double count[6] = {0, 0, 2, 1, 1, 0};
    const double xv[6] = {0.5, -1.0, 2.0, 1.5, 0.25, -0.75};
    const double vv[6] = {1, 2, -1, 0.5, -2, 1};
    for (int i = 0; i < 6; i++) {
        ck_assert_double_eq_tol(tgt_at(gx, i), 3 * xv[i] * xv[i] * count[i], 1e-12);
        ck_assert_double_eq_tol(tgt_at(hv, i), 6 * xv[i] * count[i] * vv[i], 1e-12);
    }
    tg_tape_free(T);
    tg_free(x);
    tg_free(v);
    tg_free(idx);
}
END_TEST

/* The Hessian-vector product of sum(gather^3) + sum(index_select^3)/2 +
 * sum(where(m, x, x*x)^3) against PyTorch's (tests/data/make_index_ref.py):
 * second order through all three ops and their adjoints. */
START_TEST(test_hvp_vs_pytorch)
{
    tg_tensor *x = f64(SH(3, 4), ref_h_x), *v = f64(SH(3, 4), ref_h_v);
    tg_tensor *gi = i64(SH(3, 3), ref_h_gi), *si = i64(SH(3), ref_h_si);
    bool mv[12];
    for (int i = 0; i < 12; i++)
        mv[i] = ref_h_mask[i] != 0;
    tg_tensor *m = tg_from_array(TG_BOOL, SH(3, 4), mv);
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *g = tg_ad_gather(T, x, 1, gi), *s = tg_ad_index_select(T, x, 0, si);
    tg_tensor *w = tg_ad_where(T, m, x, tg_ad_mul(T, x, x));
    tg_tensor *y = tg_ad_add(
        T, tg_ad_add(T, tg_ad_sum(T, tg_ad_pow_scalar(T, g, 3.0)),
                     tg_ad_mul_scalar(T, tg_ad_sum(T, tg_ad_pow_scalar(T, s, 3.0)), 0.5)),
        tg_ad_sum(T, tg_ad_pow_scalar(T, w, 3.0)));
    tg_tensor *gx, *hv;
    ck_assert_int_eq(tg_ad_grad(T, y, NULL, 1, &x, &gx, true), TG_OK);
    assert_close(gx, ref_h_grad, 12, "gradient");
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, gx, v)), NULL, 1, &x, &hv, false),
                     TG_OK);
    for (int i = 0; i < 12; i++) /* a longer chain: relative 1e-13 */
        ck_assert_msg(fabs(tgt_at(hv, i) - ref_h_hv[i]) <= 1e-13 * (1 + fabs(ref_h_hv[i])),
                      "hv[%d]: %.17g, PyTorch %.17g", i, tgt_at(hv, i), ref_h_hv[i]);
    tg_tape_free(T);
    tg_tensor *all[] = {x, v, gi, si, m};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

/* Empty indices, masks and tensors: empty results, zero gradients. */
START_TEST(test_empty)
{
    tg_tensor *x = tg_ones(F64, SH(3, 2));
    tg_requires_grad(x, true);
    tg_tensor *none = tg_zeros(TG_INT64, SH(0));
    tg_tensor *gnone = tg_zeros(TG_INT64, SH(3, 0));
    tg_tape *T = tg_tape_new();
    tg_tensor *s = tg_ad_index_select(T, x, 0, none);
    tgt_assert_shape(s, SH(0, 2));
    tg_tensor *g = tg_ad_gather(T, x, 1, gnone);
    tgt_assert_shape(g, SH(3, 0));
    tg_tensor *l = tg_ad_add(T, tg_ad_sum(T, s), tg_ad_sum(T, g));
    ck_assert_int_eq(tg_backward(T, l), TG_OK);
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq(tgt_at(tg_grad(x), i), 0.0);
    tg_tensor *e = tg_zeros(F64, SH(0, 2));
    tg_tensor *em = tg_zeros(TG_BOOL, SH(0, 2));
    tg_tensor *we = tg_where(em, e, e);
    tgt_assert_shape(we, SH(0, 2));
    tg_tensor *oh = tg_one_hot(none, 3, F64);
    tgt_assert_shape(oh, SH(0, 3));
    tg_tape_free(T);
    tg_tensor *all[] = {x, none, gnone, e, em, we, oh};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

/* An embedding-style step repeated: no allocator call after the first. */
START_TEST(test_no_allocation_per_step)
{
    tg_tensor *weight = tg_ones(F64, SH(10, 4));
    tg_tensor *ids = i64(SH(6), (const int64_t[]){1, 3, 3, 9, 0, 1});
    bool mv[4] = {true, false, true, false};
    tg_tensor *m = tg_from_array(TG_BOOL, SH(4), mv);
    tg_requires_grad(weight, true);
    tg_tape *T = tg_tape_new();
    long after_first = 0;
    for (int step = 0; step < 50; step++) {
        tg_tape_reset(T);
        tg_tensor *e = tg_ad_index_select(T, weight, 0, ids);
        tg_tensor *w = tg_ad_where(T, m, e, tg_ad_clamp(T, e, 0.0, 0.5));
        ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, w)), TG_OK);
        if (step == 0)
            after_first = tgt_stats.allocs;
    }
    ck_assert_int_eq(tgt_stats.allocs, after_first);
    /* rows 1 and 3 were picked twice: their gradient accumulated */
    ck_assert_double_eq(tgt_at(tg_grad(weight), 1 * 4 + 0), 50 * 2.0);
    ck_assert_double_eq(tgt_at(tg_grad(weight), 2 * 4 + 0), 0.0);
    tg_tape_free(T);
    tg_free(weight);
    tg_free(ids);
    tg_free(m);
}
END_TEST

START_TEST(test_errors)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = tg_zeros(F64, SH(3, 4));
    tg_tensor *fidx = tg_zeros(F64, SH(2));
    tg_tensor *big = i64(SH(2), (const int64_t[]){1, 4});
    tg_tensor *neg = i64(SH(2), (const int64_t[]){-3, -5});
    tg_tensor *g3 = i64(SH(3), (const int64_t[]){0, 1, 2});
    tg_tensor *wide = i64(SH(4, 1), (const int64_t[]){0, 0, 0, 0});
    ck_assert_ptr_null(tg_ad_index_select(T, x, 1, fidx));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_ad_index_select: index is float64; indices must be int32 or int64");
    ck_assert_ptr_null(tg_index_select(x, 1, big));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_index_select: index 4 at position 1 is out of range for an axis of size 4");
    ck_assert_ptr_null(tg_ad_index_select(T, x, 0, neg));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "index -5 at position 1 is out of range for an axis of size 3");
    ck_assert_ptr_null(tg_ad_index_select(T, x, 2, g3));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_index_select");
    ck_assert_ptr_null(tg_gather(x, 1, g3));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_gather: index (3,) and input (3,4) must have the same number of dimensions");
    ck_assert_ptr_null(tg_ad_gather(T, x, 1, wide));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_ad_gather: index (4,1) is larger than input (3,4) in axis 0");
    tg_tensor *src = tg_zeros(F64, SH(2, 1));
    ck_assert_ptr_null(tg_ad_scatter_add(T, x, 0, wide, src));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_ad_scatter_add: src (2,1) must have index's shape (4,1)");
    tg_tensor *m = tg_zeros(F64, SH(3, 4));
    ck_assert_ptr_null(tg_ad_where(T, m, x, x));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_ad_where: mask is float64; it must be bool");
    ck_assert_ptr_null(tg_ad_masked_fill(T, x, m, 1.0));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_ad_masked_fill: mask is float64");
    ck_assert_ptr_null(tg_ad_clamp(T, x, (double)NAN, 1.0));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ad_clamp: bounds lo = nan");
    ck_assert_uint_eq(tg_tape_length(T), 0);
    tg_tape_free(T);
    tg_tensor *all[] = {x, fidx, big, neg, g3, wide, src, m};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

/* Every allocation of a selection step fails in turn: NOMEM, nothing leaks,
 * and the step then runs as before. */
START_TEST(test_allocation_failures)
{
    tg_tensor *weight = tg_ones(F64, SH(5, 2));
    tg_tensor *ids = i64(SH(3), (const int64_t[]){4, 4, 1});
    bool mv[2] = {true, false};
    tg_tensor *m = tg_from_array(TG_BOOL, SH(2), mv);
    tg_requires_grad(weight, true);
    int failures = 0;
    for (long k = 1; k < 1000; k++) {
        tg_clear_error();
        tgt_stats.fail_at = tgt_stats.calls + k;
        tg_tape *T = tg_tape_new();
        int rc = T ? TG_OK : tg_last_error();
        if (T) {
            tg_tensor *e = tg_ad_index_select(T, weight, 0, ids);
            tg_tensor *w = tg_ad_where(T, m, e, tg_ad_clamp(T, e, 0.0, 0.5));
            tg_tensor *l = tg_ad_sum(T, tg_ad_masked_fill(T, w, m, 0.0));
            rc = l ? tg_backward(T, l) : tg_last_error();
            tg_tape_free(T);
        }
        bool hit = tgt_stats.calls >= tgt_stats.fail_at;
        tgt_stats.fail_at = 0;
        if (rc != TG_OK) {
            ck_assert_msg(rc == TG_ERR_NOMEM, "k=%ld: %d %s", k, rc, tg_last_message());
            failures++;
        }
        if (!hit)
            break;
    }
    ck_assert_int_ge(failures, 2);
    tg_free(weight);
    tg_free(ids);
    tg_free(m);
}
END_TEST

/* The tensor-level forms (no tape), each swept by tgt_sweep_failures: every
 * allocation fails in turn with a NOMEM naming the function and nothing
 * leaked, then the call succeeds. The inputs besides x are built first. */
static tg_tensor *sw_idx, *sw_gidx, *sw_src, *sw_mask;

static tg_tensor *sw_index_select(const tg_tensor *x) { return tg_index_select(x, 1, sw_idx); }
static tg_tensor *sw_gather(const tg_tensor *x) { return tg_gather(x, 1, sw_gidx); }
static tg_tensor *sw_scatter_add(const tg_tensor *x) { return tg_scatter_add(x, 1, sw_gidx, sw_src); }
static tg_tensor *sw_where(const tg_tensor *x) { return tg_where(sw_mask, x, sw_src); }
static tg_tensor *sw_clamp(const tg_tensor *x) { return tg_clamp(x, -0.5, 0.5); }
static tg_tensor *sw_masked_fill(const tg_tensor *x) { return tg_masked_fill(x, sw_mask, 7.0); }
static tg_tensor *sw_compare(const tg_tensor *x) { return tg_compare(TG_CMP_LE, x, sw_src); }
static tg_tensor *sw_eq(const tg_tensor *x) { return tg_eq(x, x); }
static tg_tensor *sw_compare_scalar(const tg_tensor *x) { return tg_compare_scalar(TG_CMP_GT, x, 0.0); }
static tg_tensor *sw_one_hot(const tg_tensor *x) { (void)x; return tg_one_hot(sw_idx, 4, F64); }

/* gather and scatter_add on a tape, forward and backward: x's gradient
 * as a caller-owned copy. */
static tg_tensor *sw_tape_gather(const tg_tensor *x0)
{
    tg_tensor *x = tg_clone(x0), *r = NULL;
    tg_tape *T = x ? tg_tape_new() : NULL;
    if (T) {
        tg_requires_grad(x, true);
        tg_tensor *g = tg_ad_gather(T, x, 1, sw_gidx);
        tg_tensor *s = tg_ad_scatter_add(T, x, 1, sw_gidx, tg_ad_mul(T, g, g));
        tg_tensor *l = tg_ad_sum(T, s);
        if (l && !tg_backward(T, l))
            r = tg_clone(tg_grad(x));
        tg_tape_free(T);
    }
    tg_free(x);
    return r;
}

START_TEST(test_tensor_allocation_failures)
{
    tg_tensor *base = tg_arange(F64, -1.0, 1.0, 1.0 / 6);
    ck_assert_ptr_nonnull(base);
    tg_tensor *x = tg_reshape(base, SH(4, 3));
    tg_tensor *xt = tg_transpose(x, 0, 1); /* (3,4), strided */
    sw_idx = i64(SH(3), (const int64_t[]){3, 0, 3});
    sw_gidx = i64(SH(3, 2), (const int64_t[]){0, 3, 1, 1, 2, 0});
    sw_src = tg_ones(F64, SH(3, 2));
    bool mv[4] = {true, false, false, true};
    sw_mask = tg_from_array(TG_BOOL, SH(4), mv);
    tg_tensor *wide_src = tg_ones(F64, SH(3, 4));
    struct { tgt_op1_fn f; const char *name; } ops[] = {
        {sw_index_select, "tg_index_select"}, {sw_gather, "tg_gather"},
        {sw_scatter_add, "tg_scatter_add"},   {sw_clamp, "tg_clamp"},
        {sw_masked_fill, "tg_masked_fill"},   {sw_eq, "tg_"},
        {sw_compare_scalar, "tg_compare_scalar"}, {sw_one_hot, "tg_one_hot"},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        ck_assert_int_gt(tgt_sweep_failures(ops[i].f, xt, ops[i].name), 0);
    ck_assert_int_gt(tgt_sweep_failures(sw_tape_gather, xt, "out of memory"), 2);
    tg_free(sw_src);
    sw_src = wide_src; /* where and compare take b of x's shape */
    ck_assert_int_gt(tgt_sweep_failures(sw_where, xt, "tg_where"), 0);
    ck_assert_int_gt(tgt_sweep_failures(sw_compare, xt, "tg_compare"), 0);
    tg_tensor *all[] = {base, x, xt, sw_idx, sw_gidx, sw_src, sw_mask};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

/* Element i of a fresh contiguous tensor t set to v. */
static void put(tg_tensor *t, int64_t i, double v)
{
    switch (tg_dtype_of(t)) {
    case TG_FLOAT32: ((float *)tg_data(t))[i] = (float)v; break;
    case TG_FLOAT64: ((double *)tg_data(t))[i] = v; break;
    case TG_INT32: ((int32_t *)tg_data(t))[i] = (int32_t)v; break;
    default: ((uint8_t *)tg_data(t))[i] = (uint8_t)v; break;
    }
}

/* tg_where over every layout its fast path takes (operands in memory
 * order, repeating over leading axes, scalars) and some it leaves to the
 * general walk (strided, broadcast along an inner axis, 1-byte elements),
 * element by element against the definition. */
START_TEST(test_where_layouts)
{
    static const tg_dtype dts[] = {TG_FLOAT32, TG_FLOAT64, TG_INT32, TG_UINT8};
    static const struct {
        int mnd, and_, bnd;
        int64_t ms[4], as[4], bs[4];
        bool b_transposed;
    } cases[] = {
        {2, 0, 4, {3, 3}, {0}, {2, 2, 3, 3}, false},       /* causal mask, scalar */
        {4, 4, 0, {2, 2, 3, 3}, {2, 2, 3, 3}, {0}, false}, /* all in order */
        {1, 2, 2, {5}, {4, 5}, {1, 5}, false},            /* rows repeating */
        {2, 1, 2, {4, 1}, {5}, {4, 5}, false},            /* mask along an inner axis */
        {2, 2, 2, {1, 1}, {3, 4}, {4, 3}, true},          /* b strided */
        {3, 3, 3, {2, 1, 4}, {1, 3, 4}, {2, 3, 4}, false}, /* mixed */
    };
    uint32_t seed = 7;
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            tg_tensor *m = tg_zeros(TG_BOOL, cases[c].mnd, cases[c].ms);
            tg_tensor *a = tg_zeros(dts[d], cases[c].and_, cases[c].as);
            tg_tensor *b0 = tg_zeros(dts[d], cases[c].bnd, cases[c].bs);
            ck_assert(m && a && b0);
            tg_tensor *b = cases[c].b_transposed ? tg_transpose(b0, 0, 1) : b0;
            ck_assert_ptr_nonnull(b);
            uint8_t *mb = tg_data(m);
            for (int64_t i = 0; i < tg_numel(m); i++) {
                seed = seed * 1103515245u + 12345u;
                mb[i] = (uint8_t)((seed >> 16) & 1);
            }
            for (int64_t i = 0; i < tg_numel(a); i++)
                put(a, i, (double)(i + 1));
            for (int64_t i = 0; i < tg_numel(b0); i++)
                put(b0, i, (double)(100 + i));
            tg_tensor *w = tg_where(m, a, b);
            ck_assert_msg(w != NULL, "%s", tg_last_message());
            /* The definition, through broadcast views of each operand. */
            tg_tensor *me = tg_expand(m, tg_ndim(w), tg_shape(w));
            tg_tensor *ae = tg_expand(a, tg_ndim(w), tg_shape(w));
            tg_tensor *be = tg_expand(b, tg_ndim(w), tg_shape(w));
            ck_assert(me && ae && be);
            tg_tensor *mc = tg_contiguous(me), *ac = tg_contiguous(ae), *bc = tg_contiguous(be);
            ck_assert(mc && ac && bc);
            for (int64_t i = 0; i < tg_numel(w); i++)
                ck_assert_msg(tgt_at(w, i) == (tgt_at(mc, i) != 0 ? tgt_at(ac, i) : tgt_at(bc, i)),
                              "case %zu, %s, element %lld", c, tg_dtype_name(dts[d]),
                              (long long)i);
            tg_tensor *all[] = {m, a, b0, w, me, ae, be, mc, ac, bc};
            for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
                tg_free(all[k]);
            if (b != b0)
                tg_free(b);
        }
}
END_TEST

Suite *test_index_suite(void); /* called by the generated runner */

Suite *test_index_suite(void)
{
    Suite *s = suite_create("index");
    TCase *tc = tgt_tcase("ops");
    tcase_add_test(tc, test_vs_pytorch);
    tcase_add_test(tc, test_one_hot);
    tcase_add_test(tc, test_where_layouts);
    tcase_add_test(tc, test_gradcheck);
    tcase_add_test(tc, test_second_order);
    tcase_add_test(tc, test_hvp_vs_pytorch);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_no_allocation_per_step);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_allocation_failures);
    tcase_add_test(tc, test_tensor_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
