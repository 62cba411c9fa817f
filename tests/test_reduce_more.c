/* test_reduce_more.c - min/argmin, prod, var, std, norms and cumsum, and
 * sums, means, maxima and minima over a set of axes: values against NumPy
 * (bit for bit where tapegrad computes as NumPy does), gradients and
 * Hessian-vector products against PyTorch (reference values from
 * data/make_reduce_more_ref.py), gradcheck in float64 on non-contiguous
 * inputs, the tie rule of max/min, edge cases, bad input and allocation
 * failures. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"
#include "tensor/internal.h"

#include "data/reduce_more_ref.inc"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define NREF(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

/* ---- inputs: the LCG of make_reduce_more_ref.py ------------------------------- */

static uint64_t lcg_next(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return *s;
}

static double lcg_unit(uint64_t *s) { return (double)(lcg_next(s) >> 11) * 0x1p-53; }

/* A contiguous tensor of n values from seed in C order: wide64 / wide32
 * ((2u-1) 2^e over many binary orders of magnitude), or lo + (hi-lo) u. */
enum { WIDE, NEAR };

static tg_tensor *gen(tg_dtype dt, int kind, uint64_t seed, double lo, double hi,
                      int ndim, const int64_t *shape)
{
    tg_tensor *t = tg_empty(dt, ndim, shape);
    ck_assert_ptr_nonnull(t);
    uint64_t s = seed;
    for (int64_t i = 0; i < tg_numel(t); i++) {
        double u = lcg_unit(&s), v;
        if (kind == NEAR)
            v = lo + (hi - lo) * u;
        else if (dt == F64)
            v = ldexp(2.0 * u - 1.0, (int)(lcg_next(&s) % 61) - 20);
        else
            v = (double)((float)(2.0 * u - 1.0) *
                         ldexpf(1.0f, (int)(lcg_next(&s) % 21) - 10));
        tg__store(t, i, v);
    }
    return t;
}

static tg_tensor *wide(tg_dtype dt, uint64_t seed, int ndim, const int64_t *shape)
{
    return gen(dt, WIDE, seed, 0, 0, ndim, shape);
}

static tg_tensor *near(uint64_t seed, double lo, double hi, int ndim, const int64_t *shape)
{
    return gen(F64, NEAR, seed, lo, hi, ndim, shape);
}

static tg_tensor *from64(int ndim, const int64_t *shape, const double *v)
{
    tg_tensor *t = tg_from_array(F64, ndim, shape, v);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* t reversed along axis (t[::-1]): a view with a negative stride, made from
 * the header so that it does not depend on tg_slice's bound conventions. */
static tg_tensor *flipped(const tg_tensor *t, int axis)
{
    tg_tensor *v = tg_slice(t, axis, 0, tg_shape(t)[axis], 1);
    ck_assert_ptr_nonnull(v);
    v->offset += (v->shape[axis] - 1) * v->strides[axis];
    v->strides[axis] = -v->strides[axis];
    return v;
}

/* A view equal to data (C order, shape) whose axes are reversed in memory:
 * the permutation of a base of the reversed shape. Not contiguous for
 * ndim >= 2 (a (1,k) or (k,1) shape aside). */
static tg_tensor *noncontig(int ndim, const int64_t *shape, const double *data)
{
    int64_t rs[TG_MAX_DIMS];
    int perm[TG_MAX_DIMS];
    for (int k = 0; k < ndim; k++) {
        rs[k] = shape[ndim - 1 - k];
        perm[k] = ndim - 1 - k;
    }
    tg_tensor *base = tg_zeros(F64, ndim, rs);
    tg_tensor *view = tg_permute(base, perm);
    tg_tensor *src = from64(ndim, shape, data);
    ck_assert_ptr_nonnull(view);
    ck_assert_int_eq(tg_copy(view, src), TG_OK);
    tg_free(src);
    tg_free(base);
    return view;
}

/* ---- comparisons ------------------------------------------------------------ */

/* Element by element, bit for bit (NaN equals NaN). */
static void assert_exact(const tg_tensor *t, const double *want, int64_t n,
                         const char *what)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        double got = tgt_at(t, i);
        ck_assert_msg(tgt_same_value(got, want[i]), "%s[%lld]: got %a, want %a",
                      what, (long long)i, got, want[i]);
    }
}

/* Within rtol relative to max(|want|, 1e-3 of the largest |want|);
 * non-finite values must match exactly. */
static void assert_close_nan0(const tg_tensor *t, const double *want, int64_t n,
                              double rtol, bool nan0, const char *what)
{
    double worst = 0;
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_numel(t), n);
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) > scale)
            scale = fabs(want[i]);
    for (int64_t i = 0; i < n; i++) {
        double got = tgt_at(t, i);
        if (nan0 && isnan(want[i])) { /* PyTorch's 0/0, tapegrad's 0 */
            ck_assert_msg(got == 0, "%s[%lld]: got %.17g, want 0 (PyTorch: NaN)", what,
                          (long long)i, got);
            continue;
        }
        if (!isfinite(want[i]) || !isfinite(got)) {
            ck_assert_msg(tgt_same_value(got, want[i]), "%s[%lld]: got %.17g, want %.17g",
                          what, (long long)i, got, want[i]);
            continue;
        }
        double d = fabs(got - want[i]) / fmax(fabs(want[i]), 1e-3 * scale + 1e-300);
        if (d > worst)
            worst = d;
        ck_assert_msg(d <= rtol, "%s[%lld]: got %.17g, want %.17g (relative %g)", what,
                      (long long)i, got, want[i], d);
    }
    if (getenv("TGT_VERBOSE")) /* how close tapegrad comes, for the record */
        fprintf(stderr, "reduce_more: %s: largest relative difference %.3g\n", what,
                worst);
}

static void assert_close(const tg_tensor *t, const double *want, int64_t n,
                         double rtol, const char *what)
{
    assert_close_nan0(t, want, n, rtol, false, what);
}

/* Takes ownership of r: shape and values, exactly. */
static void take(tg_tensor *r, int ndim, const int64_t *shape, const double *want,
                 const char *what)
{
    tgt_assert_shape(r, ndim, shape);
    assert_exact(r, want, tg_numel(r), what);
    tg_free(r);
}

static void take_scalar(tg_tensor *r, double want, const char *what)
{
    take(r, 0, NULL, &want, what);
}

/* ---- sums, means, max and min over a set of axes: np.sum bit for bit ------- */

#define AX(...) (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)), (const int[]){__VA_ARGS__}

START_TEST(test_axes_numpy)
{
    tg_tensor *c = wide(F64, 6, TG_SHAPE(5, 40, 9));
    take(tg_sum_axes(c, AX(0, 2), false), TG_SHAPE(40), ref_c_sum02, "c.sum((0,2))");
    take(tg_sum_axes(c, AX(2, -3), true), TG_SHAPE(1, 40, 1), ref_c_sum02, "c.sum((2,0)) keep");
    take(tg_sum_axes(c, AX(0, 1), false), TG_SHAPE(9), ref_c_sum01, "c.sum((0,1))");
    take(tg_sum_axes(c, AX(1, 2), false), TG_SHAPE(5), ref_c_sum12, "c.sum((1,2))");
    take(tg_sum_axes(c, AX(0, 1, 2), false), 0, NULL, ref_c_sum012, "c.sum((0,1,2))");
    take(tg_mean_axes(c, AX(0, 2), false), TG_SHAPE(40), ref_c_mean02, "c.mean((0,2))");
    take(tg_max_axes(c, AX(0, 2), false), TG_SHAPE(40), ref_c_max02, "c.max((0,2))");
    take(tg_min_axes(c, AX(1, 2), false), TG_SHAPE(5), ref_c_min12, "c.min((1,2))");
    /* one axis and every axis agree with the older forms, bit for bit */
    tg_tensor *s1 = tg_sum_axis(c, 1, false), *all = tg_sum(c);
    take(tg_sum_axes(c, AX(1), false), TG_SHAPE(5, 9), tg_data(s1), "sum((1,))");
    take_scalar(tg_sum_axes(c, AX(0, 1, 2), false), *(double *)tg_data(all), "sum all");
    tg_free(s1);
    tg_free(all);
    tg_free(c);

    tg_tensor *f = wide(F64, 9, TG_SHAPE(6, 7, 8, 9));
    tg_tensor *fp = tg_permute(f, (const int[]){3, 2, 1, 0}); /* (9,8,7,6) */
    take(tg_sum_axes(fp, AX(0, 2), false), TG_SHAPE(8, 6), ref_fp_sum02, "fp.sum((0,2))");
    take(tg_sum_axes(fp, AX(1, 3), false), TG_SHAPE(9, 7), ref_fp_sum13, "fp.sum((1,3))");
    take(tg_sum_axes(fp, AX(0, 1, 3), false), TG_SHAPE(7), ref_fp_sum013, "fp.sum((0,1,3))");
    take(tg_sum_axes(fp, AX(2, 3), true), TG_SHAPE(9, 8, 1, 1), ref_fp_sum23, "fp.sum((2,3))");
    take(tg_mean_axes(fp, AX(1, 2), false), TG_SHAPE(9, 6), ref_fp_mean12, "fp.mean((1,2))");
    tg_free(fp);
    tg_free(f);

    /* long rows cut by a slice: NumPy's buffer spans rows */
    tg_tensor *b = wide(F64, 5, TG_SHAPE(3, 20000));
    tg_tensor *bs = tg_slice(b, 1, 0, 19000, 1);
    take_scalar(tg_sum_axes(bs, AX(0, 1), false), ref_bs_sum01[0], "bs.sum((0,1))");
    tg_free(bs);
    tg_free(b);
    tg_tensor *h = wide(F64, 11, TG_SHAPE(4, 30, 50));
    tg_tensor *hs = tg_slice(h, 2, 0, 40, 1);
    take(tg_sum_axes(hs, AX(0, 1), false), TG_SHAPE(40), ref_h_sum01, "h.sum((0,1))");
    tg_free(hs);
    tg_free(h);

    /* reversed and stepped: r = (10,20,30)[::-1, :, ::2] */
    tg_tensor *r0 = wide(F64, 12, TG_SHAPE(10, 20, 30));
    tg_tensor *r1 = flipped(r0, 0);
    tg_tensor *r = tg_slice(r1, 2, 0, 30, 2);
    take(tg_sum_axes(r, AX(0, 2), false), TG_SHAPE(20), ref_r_sum02, "r.sum((0,2))");
    take(tg_sum_axes(r, AX(0, 1), false), TG_SHAPE(15), ref_r_sum01, "r.sum((0,1))");
    take(tg_mean_axes(r, AX(1, 2), false), TG_SHAPE(10), ref_r_mean12, "r.mean((1,2))");
    tg_free(r);
    tg_free(r1);
    tg_free(r0);

    /* float32 sums add in float */
    tg_tensor *c32 = wide(F32, 13, TG_SHAPE(6, 70, 80));
    tg_tensor *s = tg_sum_axes(c32, AX(0, 2), false);
    ck_assert_int_eq(tg_dtype_of(s), F32);
    take(s, TG_SHAPE(70), ref_c32_sum02, "c32.sum((0,2))");
    take(tg_sum_axes(c32, AX(1, 2), false), TG_SHAPE(6), ref_c32_sum12, "c32.sum((1,2))");
    tg_tensor *c32t = tg_permute(c32, (const int[]){2, 0, 1});
    take(tg_mean_axes(c32t, AX(0, 1), false), TG_SHAPE(70), ref_c32_mean01,
         "c32.transpose(2,0,1).mean((0,1))");
    tg_free(c32t);
    tg_free(c32);

    /* no axes: nothing reduced, each value added to 0 (so -0.0 becomes 0.0) */
    tg_tensor *n0 = tg_full(F64, TG_SHAPE(2, 3), -0.0);
    tg_tensor *sn = tg_sum_axes(n0, 0, NULL, false);
    take(sn, TG_SHAPE(2, 3), ref_neg0_sum_none, "sum(axis=())");
    tg_free(n0);
}
END_TEST

/* ---- min and argmin ------------------------------------------------------------- */

/* argmin's positions are stored as argmax's (a float of the input's dtype
 * today, int64 once tapegrad has integer dtypes): the same dtype as
 * tg_argmax of the same input, and the same values as NumPy's. */
static void take_arg(tg_tensor *r, const tg_tensor *like, int ndim, const int64_t *shape,
                     const double *want, const char *what)
{
    tg_tensor *ref = tg_argmax(like);
    ck_assert_ptr_nonnull(ref);
    ck_assert_int_eq(tg_dtype_of(r), tg_dtype_of(ref));
    tg_free(ref);
    take(r, ndim, shape, want, what);
}

START_TEST(test_min_argmin)
{
    tg_tensor *t = from64(TG_SHAPE(3, 4), in_ties);
    take(tg_min_axis(t, 0, false), TG_SHAPE(4), ref_ties_min0, "ties.min(0)");
    take(tg_min_axis(t, -1, true), TG_SHAPE(3, 1), ref_ties_min1, "ties.min(1)");
    take_arg(tg_argmin_axis(t, 0, false), t, TG_SHAPE(4), ref_ties_argmin0, "ties.argmin(0)");
    take_arg(tg_argmin_axis(t, 1, true), t, TG_SHAPE(3, 1), ref_ties_argmin1, "ties.argmin(1)");
    take_arg(tg_argmin(t), t, 0, NULL, ref_ties_argmin, "ties.argmin()");
    tg_free(t);

    tg_tensor *n = from64(TG_SHAPE(3, 3), in_nan);
    take(tg_min_axis(n, 0, false), TG_SHAPE(3), ref_nan_min0, "nan.min(0)");
    take(tg_min_axis(n, 1, false), TG_SHAPE(3), ref_nan_min1, "nan.min(1)");
    take_arg(tg_argmin_axis(n, 0, false), n, TG_SHAPE(3), ref_nan_argmin0, "nan.argmin(0)");
    take_arg(tg_argmin_axis(n, 1, false), n, TG_SHAPE(3), ref_nan_argmin1, "nan.argmin(1)");
    take_arg(tg_argmin(n), n, 0, NULL, ref_nan_argmin, "nan.argmin()");
    take_scalar(tg_max_axes(n, AX(0, 1), false), ref_nan_max01[0], "nan.max((0,1))");
    take_scalar(tg_min(n), (double)NAN, "nan.min()");
    tg_free(n);

    /* long rows (past the four lanes and any block), a column-wise min, a
     * transposed arg-min */
    tg_tensor *w = wide(F64, 14, TG_SHAPE(41, 1030));
    take(tg_min_axis(w, 1, false), TG_SHAPE(41), ref_w_min1, "w.min(1)");
    take(tg_min_axis(w, 0, false), TG_SHAPE(1030), ref_w_min0, "w.min(0)");
    take_scalar(tg_min(w), ref_w_min[0], "w.min()");
    take_arg(tg_argmin(w), w, 0, NULL, ref_w_argmin, "w.argmin()");
    tg_tensor *wt = tg_transpose(w, 0, 1);
    take_arg(tg_argmin_axis(wt, 1, false), wt, TG_SHAPE(1030), ref_wT_argmin1, "w.T.argmin(1)");
    tg_free(wt);
    tg_free(w);

    /* float32 stays float32; -0.0 and 0.0 tie, the first is kept */
    tg_tensor *f = tg_from_array(F32, TG_SHAPE(4), (const float[]){0.0f, -0.0f, 2.5f, 0.0f});
    tg_tensor *mf = tg_min(f);
    ck_assert_int_eq(tg_dtype_of(mf), F32);
    ck_assert(tgt_at(mf, 0) == 0.0 && !signbit(tgt_at(mf, 0)));
    tg_free(mf);
    take_arg(tg_argmin(f), f, 0, NULL, (const double[]){0}, "argmin of zeros");
    tg_free(f);
}
END_TEST

/* ---- prod ------------------------------------------------------------------------- */

START_TEST(test_prod)
{
    tg_tensor *p = near(15, 0.5, 1.5, TG_SHAPE(6, 7, 8));
    take_scalar(tg_prod(p), ref_p_prod[0], "p.prod()");
    take(tg_prod_axis(p, 0, false), TG_SHAPE(7, 8), ref_p_prod0, "p.prod(0)");
    take(tg_prod_axis(p, 1, false), TG_SHAPE(6, 8), ref_p_prod1, "p.prod(1)");
    take(tg_prod_axis(p, -1, true), TG_SHAPE(6, 7, 1), ref_p_prod2, "p.prod(2)");
    take(tg_prod_axes(p, AX(0, 2), false), TG_SHAPE(7), ref_p_prod02, "p.prod((0,2))");
    /* a transposed view multiplies in memory order, as NumPy */
    tg_tensor *pt = tg_permute(p, (const int[]){2, 0, 1}); /* (8,6,7) */
    take_scalar(tg_prod(pt), ref_pt_prod[0], "pt.prod()");
    take(tg_prod_axis(pt, 1, false), TG_SHAPE(8, 7), ref_pt_prod1, "pt.prod(1)");
    take(tg_prod_axes(pt, AX(0, 2), false), TG_SHAPE(6), ref_pt_prod02, "pt.prod((0,2))");
    tg_free(pt);
    tg_free(p);

    tg_tensor *z = from64(TG_SHAPE(3, 4), in_pz);
    take(tg_prod_axis(z, 1, false), TG_SHAPE(3), ref_pz_prod1, "pz.prod(1)");
    take(tg_prod_axis(z, 0, false), TG_SHAPE(4), ref_pz_prod0, "pz.prod(0)");
    tg_free(z);
}
END_TEST

/* ---- var and std --------------------------------------------------------------- */

START_TEST(test_var_std)
{
    tg_tensor *v = near(16, -3.0, 5.0, TG_SHAPE(7, 9, 11));
    static const int64_t sh0[] = {9, 11}, sh1[] = {7, 11}, sh2[] = {7, 9};
    const int64_t *shs[3] = {sh0, sh1, sh2};
    const double *var_d0[3] = {ref_v_var0_d0, ref_v_var1_d0, ref_v_var2_d0};
    const double *var_d1[3] = {ref_v_var0_d1, ref_v_var1_d1, ref_v_var2_d1};
    take_scalar(tg_var(v, 0), ref_v_var_d0[0], "v.var()");
    take_scalar(tg_var(v, 1), ref_v_var_d1[0], "v.var(ddof=1)");
    take_scalar(tg_std(v, 0), ref_v_std_d0[0], "v.std()");
    take_scalar(tg_std(v, 1), ref_v_std_d1[0], "v.std(ddof=1)");
    for (int ax = 0; ax < 3; ax++) {
        take(tg_var_axis(v, ax, 0, false), 2, shs[ax], var_d0[ax], "v.var(ax)");
        take(tg_var_axis(v, ax, 1, false), 2, shs[ax], var_d1[ax], "v.var(ax, ddof=1)");
    }
    take(tg_std_axes(v, AX(0, 2), 0, false), TG_SHAPE(9), ref_v_std02_d0, "v.std((0,2))");
    take(tg_std_axes(v, AX(0, 2), 1, true), TG_SHAPE(1, 9, 1), ref_v_std02_d1,
         "v.std((0,2), ddof=1)");
    take(tg_var_axes(v, AX(1, 2), 2.5, false), TG_SHAPE(7), ref_v_var12_d2_5,
         "v.var((1,2), ddof=2.5)");
    /* views: NumPy's temporary (x - mean) follows the input's memory
     * order; tapegrad's does too, so these agree bit for bit as well */
    tg_tensor *vt = tg_permute(v, (const int[]){1, 2, 0}); /* (9,11,7) */
    take(tg_var_axes(vt, AX(0, 2), 0, false), TG_SHAPE(11), ref_vt_var02, "vt.var((0,2))");
    take(tg_std_axis(vt, 1, 1, false), TG_SHAPE(9, 7), ref_vt_std1, "vt.std(1, ddof=1)");
    tg_free(vt);
    tg_tensor *va = tg_slice(v, 1, 0, 9, 2);
    tg_tensor *vs = flipped(va, 2); /* v[:, ::2, ::-1] */
    take_scalar(tg_var(vs, 0), ref_vs_var[0], "vs.var()");
    take(tg_var_axes(vs, AX(0, 1), 0, false), TG_SHAPE(11), ref_vs_var01, "vs.var((0,1))");
    tg_free(vs);
    tg_free(va);
    tg_tensor *v32 = tg_cast(v, F32);
    take(tg_var_axis(v32, 2, 0, false), TG_SHAPE(7, 9), ref_v32_var2, "v32.var(2)");
    take_scalar(tg_std(v32, 1), ref_v32_std[0], "v32.std(ddof=1)");
    tg_free(v32);
    tg_free(v);

    /* ddof >= count: NumPy's and PyTorch's max(count - ddof, 0) divisor */
    tg_tensor *s = from64(TG_SHAPE(2, 2), (const double[]){1, 2, 3, 3});
    take(tg_var_axis(s, 1, 2, false), TG_SHAPE(2), ref_small_var1_d2, "ddof 2: inf, nan");
    take(tg_var_axis(s, 1, 3, false), TG_SHAPE(2), ref_small_var1_d3, "ddof 3");
    take(tg_std_axis(s, 1, -1, false), TG_SHAPE(2), ref_small_std1_dm1, "ddof -1");
    tg_free(s);
}
END_TEST

/* ---- norms --------------------------------------------------------------------- */

START_TEST(test_norm)
{
    tg_tensor *n = near(17, -2.0, 2.0, TG_SHAPE(5, 6, 7));
    /* np.linalg.norm's formulas along axes, bit for bit */
    take(tg_norm_axis(n, 2, 2, false), TG_SHAPE(5, 6), ref_n_l2_2, "norm(n, axis=2)");
    take(tg_norm_axis(n, 0, 1, false), TG_SHAPE(6, 7), ref_n_l1_0, "norm(n, 1, axis=0)");
    take(tg_norm_axes(n, AX(0, 1), 2, false), TG_SHAPE(7), ref_n_l2_01, "l2 over (0,1)");
    take_scalar(tg_norm(n, 2), ref_n_l2[0], "l2");
    take_scalar(tg_norm(n, 1), ref_n_l1[0], "l1");
    /* torch.linalg.vector_norm sums in another order */
    tg_tensor *r = tg_norm_axes(n, AX(0, 2), 2, false);
    assert_close(r, ref_n_torch_l2_02, 6, 4e-16, "vector_norm(n, 2, (0,2))");
    tg_free(r);
    r = tg_norm_axes(n, AX(1, 2), 1, true);
    tgt_assert_shape(r, 3, (const int64_t[]){5, 1, 1});
    assert_close(r, ref_n_torch_l1_12, 5, 4e-16, "vector_norm(n, 1, (1,2))");
    tg_free(r);
    r = tg_norm(n, 2);
    assert_close(r, ref_n_torch_l2, 1, 4e-16, "vector_norm(n)");
    tg_free(r);
    tg_free(n);
    /* nothing has norm 0; a zero vector too */
    tg_tensor *e = tg_zeros(F64, TG_SHAPE(0, 3));
    take(tg_norm_axis(e, 0, 2, false), TG_SHAPE(3), (const double[]){0, 0, 0}, "empty");
    tg_free(e);
}
END_TEST

/* ---- cumsum -------------------------------------------------------------------- */

START_TEST(test_cumsum)
{
    tg_tensor *cs = wide(F64, 18, TG_SHAPE(4, 50, 6));
    const double *want[3] = {ref_cs_cumsum0, ref_cs_cumsum1, ref_cs_cumsum2};
    for (int ax = 0; ax < 3; ax++)
        take(tg_cumsum(cs, ax), TG_SHAPE(4, 50, 6), want[ax], "np.cumsum(cs, ax)");
    take(tg_cumsum(cs, -2), TG_SHAPE(4, 50, 6), ref_cs_cumsum1, "axis -2");
    /* cs.transpose(2,1,0)[:, ::-3, :] */
    tg_tensor *t1 = tg_permute(cs, (const int[]){2, 1, 0});
    tg_tensor *t2 = flipped(t1, 1);
    tg_tensor *cst = tg_slice(t2, 1, 0, 50, 3);
    take(tg_cumsum(cst, 1), TG_SHAPE(6, 17, 4), ref_cst_cumsum1, "cst cumsum");
    tg_free(cst);
    tg_free(t2);
    tg_free(t1);
    tg_free(cs);

    tg_tensor *c32 = wide(F32, 19, TG_SHAPE(3, 700));
    tg_tensor *r = tg_cumsum(c32, 1);
    ck_assert_int_eq(tg_dtype_of(r), F32);
    take(r, TG_SHAPE(3, 700), ref_cs32_cumsum1, "float32 cumsum");
    tg_free(c32);

    tg_tensor *sp = from64(TG_SHAPE(6), in_csn);
    take(tg_cumsum(sp, 0), TG_SHAPE(6), ref_csn_cumsum, "NaN and inf");
    tg_free(sp);
    /* -0.0 stays -0.0 (the first value is not added to 0), empty is empty */
    tg_tensor *z = tg_full(F64, TG_SHAPE(2), -0.0);
    r = tg_cumsum(z, 0);
    ck_assert(signbit(tgt_at(r, 0)) && signbit(tgt_at(r, 1)));
    tg_free(r);
    tg_free(z);
    tg_tensor *e = tg_zeros(F64, TG_SHAPE(0, 4));
    take(tg_cumsum(e, 1), TG_SHAPE(0, 4), NULL, "empty");
    tg_free(e);
}
END_TEST

/* ---- gradients and Hessian-vector products against PyTorch -------------------- */

typedef tg_tensor *(*ad_fn)(tg_tape *T, tg_tensor *x);

static tg_tensor *sq(tg_tape *T, tg_tensor *x) { return tg_ad_mul(T, x, x); }
static tg_tensor *cube(tg_tape *T, tg_tensor *x) { return tg_ad_mul(T, x, tg_ad_mul(T, x, x)); }

static tg_tensor *f_amax_all(tg_tape *T, tg_tensor *x) { return tg_ad_max(T, x); }
static tg_tensor *f_amin1(tg_tape *T, tg_tensor *x) { return tg_ad_min_axis(T, x, 1, false); }
static tg_tensor *h_amin1(tg_tape *T, tg_tensor *x) { return tg_ad_min_axis(T, sq(T, x), 1, false); }
static tg_tensor *f_amax0_keep(tg_tape *T, tg_tensor *x) { return tg_ad_max_axis(T, x, 0, true); }
static tg_tensor *f_amin_all(tg_tape *T, tg_tensor *x) { return tg_ad_min(T, x); }
static tg_tensor *f_amax02(tg_tape *T, tg_tensor *x) { return tg_ad_max_axes(T, x, AX(0, 2), false); }
static tg_tensor *h_amax02(tg_tape *T, tg_tensor *x) { return tg_ad_max_axes(T, sq(T, x), AX(0, 2), false); }
static tg_tensor *f_prod1(tg_tape *T, tg_tensor *x) { return tg_ad_prod_axis(T, x, 1, false); }
static tg_tensor *f_prod(tg_tape *T, tg_tensor *x) { return tg_ad_prod(T, x); }
static tg_tensor *f_prod0_keep(tg_tape *T, tg_tensor *x) { return tg_ad_prod_axis(T, x, 0, true); }
static tg_tensor *f_prod02(tg_tape *T, tg_tensor *x) { return tg_ad_prod_axes(T, x, AX(0, 2), false); }
static tg_tensor *f_var1_d1(tg_tape *T, tg_tensor *x) { return tg_ad_var_axis(T, x, 1, 1, false); }
static tg_tensor *f_var_all(tg_tape *T, tg_tensor *x) { return tg_ad_var(T, x, 0); }
static tg_tensor *f_std1_d0(tg_tape *T, tg_tensor *x) { return tg_ad_std_axis(T, x, 1, 0, false); }
static tg_tensor *f_std02_d1(tg_tape *T, tg_tensor *x) { return tg_ad_std_axes(T, x, AX(0, 2), 1, true); }
static tg_tensor *f_var_nn(tg_tape *T, tg_tensor *x) { return tg_ad_var_axis(T, x, 1, 2, false); }
static tg_tensor *f_norm2_1(tg_tape *T, tg_tensor *x) { return tg_ad_norm_axis(T, x, 1, 2, false); }
static tg_tensor *f_norm2_all(tg_tape *T, tg_tensor *x) { return tg_ad_norm(T, x, 2); }
static tg_tensor *f_norm1_0(tg_tape *T, tg_tensor *x) { return tg_ad_norm_axis(T, x, 0, 1, false); }
static tg_tensor *h_norm1_0(tg_tape *T, tg_tensor *x) { return tg_ad_norm_axis(T, cube(T, x), 0, 1, false); }
static tg_tensor *f_norm2_02(tg_tape *T, tg_tensor *x) { return tg_ad_norm_axes(T, x, AX(0, 2), 2, false); }
static tg_tensor *f_cumsum1(tg_tape *T, tg_tensor *x) { return tg_ad_cumsum(T, x, 1); }
static tg_tensor *h_cumsum1(tg_tape *T, tg_tensor *x) { return sq(T, tg_ad_cumsum(T, x, 1)); }
static tg_tensor *f_cumsum0(tg_tape *T, tg_tensor *x) { return tg_ad_cumsum(T, x, 0); }
static tg_tensor *f_sum02(tg_tape *T, tg_tensor *x) { return tg_ad_sum_axes(T, x, AX(0, 2), false); }
static tg_tensor *h_sum02(tg_tape *T, tg_tensor *x) { return sq(T, f_sum02(T, x)); }
static tg_tensor *f_mean12_keep(tg_tape *T, tg_tensor *x) { return tg_ad_mean_axes(T, x, AX(1, 2), true); }
static tg_tensor *h_mean12_keep(tg_tape *T, tg_tensor *x) { return tg_ad_mean_axes(T, cube(T, x), AX(1, 2), true); }

typedef struct grad_case {
    const char *name;
    int ndim;
    int64_t shape[3];
    const double *x, *w, *grad;
    ad_fn f;
    const double *hw, *hv, *hvp; /* NULL: no HVP case */
    ad_fn h;
    double rtol;
} grad_case;

#define G(name, nd, s0, s1, s2, f, rtol)                                      \
    {#name, nd, {s0, s1, s2}, in_##name, w_##name, grad_##name, f, NULL, NULL, NULL, NULL, rtol}
#define GH(name, nd, s0, s1, s2, f, h, rtol)                                  \
    {#name, nd, {s0, s1, s2}, in_##name, w_##name, grad_##name, f,            \
     hw_##name, hv_##name, hvp_##name, h, rtol}

static const grad_case grad_cases[] = {
    G(amax_all, 2, 3, 4, 0, f_amax_all, 0),
    GH(amin1, 2, 3, 4, 0, f_amin1, h_amin1, 0),
    G(amax0_keep, 2, 3, 4, 0, f_amax0_keep, 0),
    G(amin_all, 2, 3, 4, 0, f_amin_all, 0),
    GH(amax02, 3, 3, 4, 5, f_amax02, h_amax02, 0),
    G(amin_nan1, 2, 3, 3, 0, f_amin1, 0),
    GH(prod1_zeros, 2, 3, 4, 0, f_prod1, f_prod1, 1e-15),
    GH(prod_all, 2, 3, 4, 0, f_prod, f_prod, 1e-14),
    GH(prod_one_zero, 2, 2, 2, 0, f_prod, f_prod, 1e-15),
    G(prod_two_zeros, 2, 2, 2, 0, f_prod, 0),
    G(prod0_keep, 2, 4, 5, 0, f_prod0_keep, 1e-15),
    GH(prod02, 3, 3, 2, 4, f_prod02, f_prod02, 1e-14),
    GH(var1_d1, 3, 4, 5, 6, f_var1_d1, f_var1_d1, 1e-14),
    GH(var_all, 3, 4, 5, 6, f_var_all, f_var_all, 1e-14),
    GH(std1_d0, 3, 4, 5, 6, f_std1_d0, f_std1_d0, 1e-13),
    G(std02_d1, 3, 4, 5, 6, f_std02_d1, 1e-14),
    G(var_nn, 2, 2, 2, 0, f_var_nn, 0),
    GH(norm2_1, 2, 4, 6, 0, f_norm2_1, f_norm2_1, 1e-14),
    GH(norm2_all, 2, 4, 6, 0, f_norm2_all, f_norm2_all, 1e-14),
    GH(norm1_0, 2, 4, 6, 0, f_norm1_0, h_norm1_0, 1e-15),
    G(norm2_02, 3, 3, 4, 5, f_norm2_02, 1e-14),
    GH(cumsum1, 2, 3, 5, 0, f_cumsum1, h_cumsum1, 1e-14),
    G(cumsum0, 2, 3, 5, 0, f_cumsum0, 0),
    GH(sum02, 3, 3, 4, 5, f_sum02, h_sum02, 1e-14),
    GH(mean12_keep, 3, 3, 4, 5, f_mean12_keep, h_mean12_keep, 1e-14),
};

/* sum(w * f(x)) on T, with w the reference's weight in f(x)'s shape. */
static tg_tensor *weighted(tg_tape *T, ad_fn f, tg_tensor *x, const double *w,
                           tg_tensor **wt)
{
    tg_tensor *y = f(T, x);
    ck_assert_msg(y != NULL, "%s", tg_last_message());
    *wt = tg_from_array(F64, tg_ndim(y), tg_shape(y), w);
    ck_assert_ptr_nonnull(*wt);
    return tg_ad_sum(T, tg_ad_mul(T, y, *wt));
}

START_TEST(test_grads_vs_torch)
{
    const grad_case *c = &grad_cases[_i];
    tg_tensor *x = noncontig(c->ndim, c->shape, c->x);
    ck_assert(c->ndim < 2 || !tg_is_contiguous(x));
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
    tg_tape *T = tg_tape_new();
    tg_tensor *w;
    tg_tensor *loss = weighted(T, c->f, x, c->w, &w);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    if (c->rtol <= 0)
        assert_exact(tg_grad(x), c->grad, tg_numel(x), c->name);
    else
        assert_close(tg_grad(x), c->grad, tg_numel(x), c->rtol, c->name);
    tg_free(w);

    if (c->hvp) { /* H v = d/dx sum(v * d/dx sum(hw * h(x))) */
        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        tg_tensor *hw, *g, *hv;
        tg_tensor *l2 = weighted(T, c->h, x, c->hw, &hw);
        ck_assert_int_eq(tg_ad_grad(T, l2, NULL, 1, &x, &g, true), TG_OK);
        tg_tensor *v = tg_from_array(F64, c->ndim, c->shape, c->hv);
        tg_tensor *gv = tg_ad_sum(T, tg_ad_mul(T, g, v));
        ck_assert_int_eq(tg_ad_grad(T, gv, NULL, 1, &x, &hv, false), TG_OK);
        /* at a zero norm PyTorch's second derivative is NaN (0/0 in the
         * backward of its masked a / norm); tapegrad's is 0 */
        assert_close_nan0(hv, c->hvp, tg_numel(x), c->rtol != 0 ? c->rtol * 10 : 1e-15,
                          c->f == f_norm2_1, c->name);
        tg_free(v);
        tg_free(hw);
    }
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

/* ---- the tie rule ----------------------------------------------------------------- */

START_TEST(test_tie_rule)
{
    /* three maxima share g: each gets exactly g / 3, as torch.amax */
    tg_tensor *x = from64(TG_SHAPE(5), (const double[]){2, 7, 7, -1, 7});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_mul_scalar(T, tg_ad_max(T, x), 5.0);
    ck_assert_int_eq(tg_backward(T, y), TG_OK);
    double third = 5.0 / 3.0;
    assert_exact(tg_grad(x), (const double[]){0, third, third, 0, third}, 5, "max ties");
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert_int_eq(tg_zero_grad(x), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_min(T, x)), TG_OK);
    assert_exact(tg_grad(x), (const double[]){0, 0, 0, 1, 0}, 5, "min");
    /* per axis of a non-contiguous input; a broadcast axis is all ties */
    tg_tensor *m = noncontig(TG_SHAPE(2, 3), (const double[]){4, 3, 1, 0, 3, 1});
    tg_requires_grad(m, true);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_min_axis(T, m, 0, false))), TG_OK);
    assert_exact(tg_grad(m), (const double[]){0, 0.5, 0.5, 1, 0.5, 0.5}, 6, "min_axis ties");
    tg_tensor *e = from64(TG_SHAPE(1, 3), (const double[]){1, 5, 2});
    tg_requires_grad(e, true);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    tg_tensor *ex = tg_ad_expand(T, e, TG_SHAPE(4, 3));
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_max_axes(T, ex, AX(0), false))), TG_OK);
    assert_exact(tg_grad(e), (const double[]){1, 1, 1}, 3, "broadcast ties");
    /* float32: the same shares */
    tg_tensor *f = tg_from_array(F32, TG_SHAPE(3), (const float[]){1, 1, 1});
    tg_requires_grad(f, true);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_max_axis(T, f, 0, false)), TG_OK);
    ck_assert(tgt_at(tg_grad(f), 2) == (double)(1.0f / 3.0f));
    tg_tape_free(T);
    tg_free(f);
    tg_free(e);
    tg_free(m);
    tg_free(x);
}
END_TEST

/* ---- gradcheck in float64, non-contiguous inputs ----------------------------------- */

typedef struct gc_case {
    const char *name;
    tg_tensor *(*f)(tg_tape *T, tg_tensor *x, int which);
    int which;
    bool zeros;    /* put zeros in the input (prod) */
    bool positive; /* keep the input away from 0 (L1 norm) */
} gc_case;

static tg_tensor *gc_min(tg_tape *T, tg_tensor *x, int which)
{
    switch (which) {
    case 0: return tg_ad_min(T, x);
    case 1: return tg_ad_min_axis(T, x, 1, false);
    case 2: return tg_ad_min_axes(T, x, AX(0, 2), true);
    default: return tg_ad_max_axes(T, x, AX(2, 0), false);
    }
}

static tg_tensor *gc_sum(tg_tape *T, tg_tensor *x, int which)
{
    return which ? tg_ad_mean_axes(T, x, AX(0, -1), false)
                 : tg_ad_sum_axes(T, x, AX(1, 2), true);
}

static tg_tensor *gc_prod(tg_tape *T, tg_tensor *x, int which)
{
    switch (which) {
    case 0: return tg_ad_prod(T, x);
    case 1: return tg_ad_prod_axis(T, x, 1, false);
    default: return tg_ad_prod_axes(T, x, AX(0, 2), false);
    }
}

static tg_tensor *gc_var(tg_tape *T, tg_tensor *x, int which)
{
    switch (which) {
    case 0: return tg_ad_var(T, x, 1);
    case 1: return tg_ad_var_axis(T, x, -1, 0, true);
    case 2: return tg_ad_var_axes(T, x, AX(0, 1), 1.5, false);
    case 3: return tg_ad_std(T, x, 0);
    case 4: return tg_ad_std_axis(T, x, 0, 1, false);
    default: return tg_ad_std_axes(T, x, AX(2, 1), 0, true);
    }
}

static tg_tensor *gc_norm(tg_tape *T, tg_tensor *x, int which)
{
    switch (which) {
    case 0: return tg_ad_norm(T, x, 2);
    case 1: return tg_ad_norm_axis(T, x, 2, 2, false);
    case 2: return tg_ad_norm_axes(T, x, AX(0, 1), 2, true);
    case 3: return tg_ad_norm(T, x, 1);
    default: return tg_ad_norm_axes(T, x, AX(1, 2), 1, false);
    }
}

static tg_tensor *gc_cumsum(tg_tape *T, tg_tensor *x, int which)
{
    /* squared, so that the weights of the checker meet a non-linear map */
    return sq(T, tg_ad_cumsum(T, x, which - 1));
}

static const gc_case gc_cases[] = {
    {"min", gc_min, 0, false, false},         {"min_axis", gc_min, 1, false, false},
    {"min_axes", gc_min, 2, false, false},    {"max_axes", gc_min, 3, false, false},
    {"sum_axes", gc_sum, 0, false, false},    {"mean_axes", gc_sum, 1, false, false},
    {"prod", gc_prod, 0, false, false},       {"prod_axis", gc_prod, 1, false, false},
    {"prod_axes", gc_prod, 2, false, false},  {"prod zeros", gc_prod, 0, true, false},
    {"prod_axis zeros", gc_prod, 1, true, false},
    {"prod_axes zeros", gc_prod, 2, true, false},
    {"var", gc_var, 0, false, false},         {"var_axis", gc_var, 1, false, false},
    {"var_axes", gc_var, 2, false, false},    {"std", gc_var, 3, false, false},
    {"std_axis", gc_var, 4, false, false},    {"std_axes", gc_var, 5, false, false},
    {"norm2", gc_norm, 0, false, false},      {"norm2_axis", gc_norm, 1, false, false},
    {"norm2_axes", gc_norm, 2, false, false}, {"norm1", gc_norm, 3, false, true},
    {"norm1_axes", gc_norm, 4, false, true},  {"cumsum0", gc_cumsum, 1, false, false},
    {"cumsum-1", gc_cumsum, 0, false, false},
};

static tg_tensor *gc_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    const gc_case *c = ctx;
    return c->f(T, in[0], c->which);
}

START_TEST(test_gradcheck)
{
    gc_case cc = gc_cases[_i], *c = &cc;
    /* (3,4,5) distinct values in [0.6, 1.4] and their negatives, no ties
     * (min/max are smooth away from them), one zero per (0,2) group */
    double v[60];
    uint64_t s = 40 + (uint64_t)_i;
    for (int i = 0; i < 60; i++)
        v[i] = (0.6 + 0.8 * (i + 0.5 * lcg_unit(&s)) / 60.0) * (lcg_unit(&s) < 0.5 ? -1 : 1);
    if (c->positive)
        for (int i = 0; i < 60; i++)
            v[i] = fabs(v[i]);
    if (c->zeros) { /* one in row (0,1,*), two in (2,3,*) */
        v[0 * 20 + 1 * 5 + 2] = 0;
        v[2 * 20 + 3 * 5 + 0] = 0;
        v[2 * 20 + 3 * 5 + 4] = 0;
    }
    tg_tensor *x = noncontig(TG_SHAPE(3, 4, 5), v);
    ck_assert(!tg_is_contiguous(x));
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(gc_fn, c, 1, &x, 1e-6, 1e-8, 1e-6, &rep), TG_OK);
    ck_assert_msg(rep.ok, "%s: element %lld: analytic %.17g, numeric %.17g", c->name,
                  (long long)rep.index, rep.analytic, rep.numeric);
    ck_assert_int_eq(rep.checked, 60);
    tg_free(x);
}
END_TEST

/* ---- edges -------------------------------------------------------------------------- */

START_TEST(test_edges)
{
    /* 0-d: every reduction of a scalar is over nothing, so count 1 */
    tg_tensor *s = tg_scalar(F64, -2.5);
    take_scalar(tg_min(s), -2.5, "min");
    take_scalar(tg_prod(s), -2.5, "prod");
    take_scalar(tg_var(s, 0), 0, "var");
    take_scalar(tg_var(s, 1), (double)NAN, "var ddof 1: 0/0");
    take_scalar(tg_norm(s, 2), 2.5, "norm");
    take_scalar(tg_sum_axes(s, 0, NULL, false), -2.5, "sum_axes ()");
    ck_assert_ptr_null(tg_cumsum(s, 0));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_cumsum: axis 0 out of range for 0 dimensions");
    tg_free(s);

    /* empty: prod of nothing 1, var NaN, norm 0; an empty result is fine */
    tg_tensor *e = tg_zeros(F64, TG_SHAPE(0, 3));
    take_scalar(tg_prod(e), 1, "prod of nothing");
    take(tg_prod_axis(e, 0, false), TG_SHAPE(3), (const double[]){1, 1, 1}, "prod0");
    take(tg_var_axis(e, 0, 0, false), TG_SHAPE(3),
         (const double[]){(double)NAN, (double)NAN, (double)NAN}, "var of nothing");
    take_scalar(tg_norm(e, 1), 0, "l1 of nothing");
    take(tg_min_axis(e, 1, false), TG_SHAPE(0), NULL, "min of an empty result");
    take(tg_min_axes(e, AX(1), true), TG_SHAPE(0, 1), NULL, "min_axes of an empty result");
    ck_assert_ptr_null(tg_min(e));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_min: zero-size tensor has no minimum");
    ck_assert_ptr_null(tg_min_axis(e, 0, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_min_axis: axis 0 has size 0, so there is no minimum");
    ck_assert_ptr_null(tg_min_axes(e, AX(1, 0), false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_min_axes: zero-size tensor has no minimum");
    ck_assert_ptr_null(tg_max_axes(e, AX(0), false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_max_axes: axis 0 has size 0, so there is no maximum");
    ck_assert_ptr_null(tg_argmin(e));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_argmin: zero-size tensor has no minimum");
    ck_assert_ptr_null(tg_argmin_axis(e, -2, true));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_argmin_axis: axis 0 has size 0, so there is no minimum");
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_null(tg_ad_min(T, e));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ad_min: zero-size tensor has no minimum");
    ck_assert_uint_eq(tg_tape_length(T), 0);
    tg_tape_free(T);
    tg_free(e);

    /* the tape's results equal the functions' */
    tg_tensor *x = near(50, -1, 1, TG_SHAPE(4, 5));
    tg_tensor *a = tg_ad_var_axes(NULL, x, AX(1), 1, false);
    tg_tensor *b = tg_var_axis(x, 1, 1, false);
    assert_exact(a, tg_data(b), 4, "tape var");
    tg_free(a);
    tg_free(b);
    tg_free(x);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------------- */

START_TEST(test_bad_input)
{
    tg_tensor *t = tg_zeros(F64, TG_SHAPE(2, 3, 4));
    ck_assert_ptr_null(tg_sum_axes(t, AX(0, 3), false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_sum_axes: axis 3 out of range for 3 dimensions");
    ck_assert_ptr_null(tg_mean_axes(t, AX(0, -3), false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_mean_axes: axis 0 appears twice in axes (as 0 and -3)");
    ck_assert_ptr_null(tg_max_axes(t, AX(2, 1, 2), false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_max_axes: axis 2 appears twice in axes (as 2 and 2)");
    ck_assert_ptr_null(tg_min_axes(t, 2, NULL, false));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_min_axes: axes is NULL");
    ck_assert_ptr_null(tg_prod_axes(t, -1, NULL, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_prod_axes: naxes is -1");
    ck_assert_ptr_null(tg_var_axis(t, -4, 0, false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_var_axis: axis -4 out of range for 3 dimensions");
    ck_assert_ptr_null(tg_std(t, (double)NAN));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_std: ddof is nan; it must be finite");
    ck_assert_ptr_null(tg_var_axes(t, AX(0), (double)INFINITY, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_var_axes: ddof is inf");
    ck_assert_ptr_null(tg_norm(t, 3));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_norm: ord 3 is not supported (1 or 2)");
    ck_assert_ptr_null(tg_norm_axes(t, AX(1), 0, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_norm_axes: ord 0 is not supported");
    ck_assert_ptr_null(tg_cumsum(t, 3));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_cumsum: axis 3 out of range");
    ck_assert_ptr_null(tg_argmin_axis(t, 5, false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_argmin_axis: axis 5 out of range");

    /* the tape's forms: the same checks under their names, nothing recorded */
    tg_tensor *l = tg_ones(F64, TG_SHAPE(2, 3));
    tg_requires_grad(l, true);
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_null(tg_ad_sum_axes(T, l, AX(1, 1), true));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_sum_axes: axis 1 appears twice");
    ck_assert_ptr_null(tg_ad_norm_axis(T, l, 0, 1.5, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ad_norm_axis: ord 1.5 is not supported");
    ck_assert_ptr_null(tg_ad_cumsum(T, l, -3));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_cumsum: axis -3 out of range for 2 dimensions");
    ck_assert_ptr_null(tg_ad_std_axes(T, l, AX(0), (double)NAN, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ad_std_axes: ddof is nan");
    ck_assert_uint_eq(tg_tape_length(T), 0);
    /* mixed dtypes cannot meet here; a tape's result on another tape can */
    tg_tape *U = tg_tape_new();
    tg_tensor *y = tg_ad_mul(T, l, l);
    ck_assert_ptr_null(tg_ad_prod(U, y));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_prod: an input was made by another tape");
    tg_tape_free(U);

    /* NULL in, NULL out, no new message */
    tg_clear_error();
    ck_assert_ptr_null(tg_min(NULL));
    ck_assert_ptr_null(tg_argmin(NULL));
    ck_assert_ptr_null(tg_prod_axis(NULL, 0, false));
    ck_assert_ptr_null(tg_var(NULL, 0));
    ck_assert_ptr_null(tg_std_axes(NULL, AX(0), 0, false));
    ck_assert_ptr_null(tg_norm(NULL, 2));
    ck_assert_ptr_null(tg_sum_axes(NULL, AX(0), false));
    ck_assert_ptr_null(tg_cumsum(NULL, 0));
    ck_assert_ptr_null(tg_ad_min_axis(T, NULL, 0, false));
    ck_assert_ptr_null(tg_ad_var_axes(T, NULL, AX(0), 0, false));
    ck_assert_ptr_null(tg_ad_cumsum(T, NULL, 0));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    tg_tape_free(T);
    tg_free(l);
    tg_free(t);
}
END_TEST

/* ---- allocation failures ------------------------------------------------------------ */

static tg_tensor *o_min_axes(const tg_tensor *x) { return tg_min_axes(x, AX(0, 2), false); }
static tg_tensor *o_argmin(const tg_tensor *x) { return tg_argmin_axis(x, 1, false); }
static tg_tensor *o_prod(const tg_tensor *x) { return tg_prod_axes(x, AX(1, 2), true); }
static tg_tensor *o_var(const tg_tensor *x) { return tg_var_axes(x, AX(0, 2), 1, false); }
static tg_tensor *o_std(const tg_tensor *x) { return tg_std(x, 0); }
static tg_tensor *o_norm(const tg_tensor *x) { return tg_norm_axis(x, 1, 2, true); }
static tg_tensor *o_sum(const tg_tensor *x) { return tg_sum_axes(x, AX(0, 2), false); }
static tg_tensor *o_cumsum(const tg_tensor *x) { return tg_cumsum(x, 1); }

/* A whole backward on a tape of its own; the gradient cloned out. */
static tg_tensor *o_backward(const tg_tensor *x0)
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
    tg_tensor *g = NULL, *r = NULL;
    tg_tensor *y = tg_ad_add(T, tg_ad_sum(T, tg_ad_std_axes(T, x, AX(0, 2), 1, false)),
                             tg_ad_sum(T, tg_ad_prod_axis(T, tg_ad_cumsum(T, x, 2), 1, false)));
    y = tg_ad_add(T, y, tg_ad_add(T, tg_ad_min(T, x), tg_ad_norm(T, x, 2)));
    if (y && tg_ad_grad(T, y, NULL, 1, &x, &g, true) == TG_OK)
        r = tg_clone(g);
    tg_tape_free(T);
    tg_free(x);
    return r;
}

START_TEST(test_out_of_memory)
{
    tg_tensor *base = near(60, -1, 1, TG_SHAPE(5, 4, 3));
    tg_tensor *x = tg_permute(base, (const int[]){2, 1, 0}); /* (3,4,5), strided */
    ck_assert_int_gt(tgt_sweep_failures(o_min_axes, x, "tg_min_axes"), 0);
    ck_assert_int_gt(tgt_sweep_failures(o_argmin, x, "tg_argmin_axis"), 0);
    ck_assert_int_gt(tgt_sweep_failures(o_prod, x, "tg_prod_axes"), 0);
    ck_assert_int_gt(tgt_sweep_failures(o_var, x, "tg_var_axes"), 1);
    ck_assert_int_gt(tgt_sweep_failures(o_std, x, "tg_std"), 1);
    ck_assert_int_gt(tgt_sweep_failures(o_norm, x, "tg_norm_axis"), 1);
    ck_assert_int_gt(tgt_sweep_failures(o_sum, x, "tg_sum_axes"), 0);
    ck_assert_int_gt(tgt_sweep_failures(o_cumsum, x, "tg_cumsum"), 0);
    ck_assert_int_gt(tgt_sweep_failures(o_backward, x, "tg_"), 2);
    tg_free(x);
    tg_free(base);
}
END_TEST

Suite *test_reduce_more_suite(void); /* called by the generated runner */

Suite *test_reduce_more_suite(void)
{
    Suite *s = suite_create("reduce_more");
    TCase *tc = tgt_tcase("numpy");
    tcase_add_test(tc, test_axes_numpy);
    tcase_add_test(tc, test_min_argmin);
    tcase_add_test(tc, test_prod);
    tcase_add_test(tc, test_var_std);
    tcase_add_test(tc, test_norm);
    tcase_add_test(tc, test_cumsum);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("gradients");
    tcase_add_loop_test(tc, test_grads_vs_torch, 0, (int)NREF(grad_cases));
    tcase_add_test(tc, test_tie_rule);
    tcase_add_loop_test(tc, test_gradcheck, 0, (int)NREF(gc_cases));
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_edges);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
