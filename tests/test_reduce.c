/* test_reduce.c - sums, means, maxima, arg-maxima and sum_to: values and
 * shapes on contiguous and strided inputs, NumPy's order of additions bit
 * for bit (reference values from data/make_reduce_ref.py), NaN/Inf, empty
 * and 0-d inputs, and every error path. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "helpers.h"
#include "tensor/internal.h"

#include "data/reduce_ref.inc"

#define NREF(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

/* ---- data: the LCG of make_reduce_ref.py -------------------------------- */

static uint64_t lcg_next(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return *s;
}

static double lcg_unit(uint64_t *s)
{
    return (double)(lcg_next(s) >> 11) * 0x1p-53;
}

/* (2u-1) * 2^e, e in [-20, 40]: exact, 60 binary orders of magnitude. */
static double wide64_value(uint64_t *s)
{
    double u = lcg_unit(s);
    int e = (int)(lcg_next(s) % 61) - 20;
    return ldexp(2.0 * u - 1.0, e);
}

static float wide32_value(uint64_t *s)
{
    double u = lcg_unit(s);
    int e = (int)(lcg_next(s) % 21) - 10;
    return (float)(2.0 * u - 1.0) * ldexpf(1.0f, e);
}

/* A contiguous tensor of wide values from seed, in C order. */
static tg_tensor *wide(tg_dtype dt, uint64_t seed, int ndim, const int64_t *shape)
{
    tg_tensor *t = tg_empty(dt, ndim, shape);
    ck_assert_ptr_nonnull(t);
    uint64_t s = seed;
    if (dt == TG_FLOAT64) {
        double *p = tg_data(t);
        for (int64_t i = 0; i < tg_numel(t); i++)
            p[i] = wide64_value(&s);
    } else {
        float *p = tg_data(t);
        for (int64_t i = 0; i < tg_numel(t); i++)
            p[i] = wide32_value(&s);
    }
    return t;
}

/* 1.0 everywhere but +1e16 at i % 100 == 0 and -1e16 at i % 100 == 37. */
static tg_tensor *spiky(int64_t n)
{
    tg_tensor *t = tg_empty(TG_FLOAT64, 1, (const int64_t[]){n});
    ck_assert_ptr_nonnull(t);
    double *p = tg_data(t);
    for (int64_t i = 0; i < n; i++)
        p[i] = i % 100 == 0 ? 1e16 : i % 100 == 37 ? -1e16 : 1.0;
    return t;
}

static tg_tensor *from64(int ndim, const int64_t *shape, const double *v)
{
    tg_tensor *t = tg_from_array(TG_FLOAT64, ndim, shape, v);
    ck_assert_ptr_nonnull(t);
    return t;
}

static tg_tensor *from32(int ndim, const int64_t *shape, const float *v)
{
    tg_tensor *t = tg_from_array(TG_FLOAT32, ndim, shape, v);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Element-by-element equality, bit for bit (NaN equals NaN). */
static void assert_values(const tg_tensor *t, const double *want, int64_t n,
                          const char *what)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        double got = tgt_at(t, i);
        ck_assert_msg(got == want[i] || (isnan(got) && isnan(want[i])),
                      "%s[%lld]: got %a, want %a", what, (long long)i, got,
                      want[i]);
    }
}

static double item(const tg_tensor *t)
{
    double v = 0;
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_item(t, &v), TG_OK);
    return v;
}

/* Takes ownership of r, checks it is 0-d with value want, frees it. */
static void take_scalar(tg_tensor *r, double want, const char *what)
{
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(tg_ndim(r), 0);
    assert_values(r, &want, 1, what);
    tg_free(r);
}

/* Takes ownership of r and checks its shape and values. */
static void take(tg_tensor *r, int ndim, const int64_t *shape,
                 const double *want, const char *what)
{
    tgt_assert_shape(r, ndim, shape);
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= shape[k];
    assert_values(r, want, n, what);
    tg_free(r);
}

/* ---- NumPy's pairwise sums, bit for bit --------------------------------- */

START_TEST(test_pairwise_sizes_f64)
{
    /* every prefix length: below 8, the 8-wide blocks, the 128 boundary,
     * the split points and the 8192-element buffer */
    int64_t nbig = ref_sizes[NREF(ref_sizes) - 1];
    tg_tensor *w = wide(TG_FLOAT64, 1, 1, (const int64_t[]){nbig});
    tg_tensor *sp = spiky(nbig);
    for (int64_t i = 0; i < NREF(ref_sizes); i++) {
        int64_t n = ref_sizes[i];
        tg_tensor *wv = tg_slice(w, 0, 0, n, 1);
        tg_tensor *sv = tg_slice(sp, 0, 0, n, 1);
        take_scalar(tg_sum(wv), ref_sum_wide64[i], "sum wide64");
        take_scalar(tg_sum(sv), ref_sum_spiky[i], "sum spiky");
        ck_assert(tg__pairwise_sum_f64(tg_data(wv), n, 1) == ref_sum_wide64[i]);
        tg_free(wv);
        tg_free(sv);
    }
    tg_free(w);
    tg_free(sp);
}
END_TEST

START_TEST(test_pairwise_order_matters)
{
    /* the reference data really does tell orders apart: a plain running
     * sum, and pairwise without NumPy's 8192 buffer, both differ */
    int64_t n = ref_sizes[NREF(ref_sizes) - 1];
    double want = ref_sum_wide64[NREF(ref_sizes) - 1];
    tg_tensor *w = wide(TG_FLOAT64, 1, 1, (const int64_t[]){n});
    const double *p = tg_data(w);
    double naive = 0;
    for (int64_t i = 0; i < n; i++)
        naive += p[i];
    ck_assert(naive != want);
    double spiky_naive = 0;
    for (int64_t i = 0; i < 1000; i++)
        spiky_naive += i % 100 == 0 ? 1e16 : i % 100 == 37 ? -1e16 : 1.0;
    ck_assert_int_eq(ref_sizes[18], 1000);
    ck_assert(spiky_naive != ref_sum_spiky[18]);
    /* 100003 = 12 full buffers + 1699: one pairwise tree over all of it
     * splits elsewhere */
    double halves = tg__pairwise_sum_f64(p, 49152, 1) +
                    tg__pairwise_sum_f64(p + 49152, n - 49152, 1);
    ck_assert(halves != want);
    take_scalar(tg_sum(w), want, "sum");
    tg_free(w);
}
END_TEST

START_TEST(test_pairwise_sizes_f32)
{
    int64_t nbig = ref_sizes[NREF(ref_sizes) - 1];
    tg_tensor *w = wide(TG_FLOAT32, 2, 1, (const int64_t[]){nbig});
    const float *p = tg_data(w);
    float naive = 0;
    for (int64_t i = 0; i < nbig; i++)
        naive += p[i];
    for (int64_t i = 1; i < NREF(ref_sizes); i++) { /* n > 0 */
        int64_t n = ref_sizes[i];
        tg_tensor *v = tg_slice(w, 0, 0, n, 1);
        tg_tensor *s = tg_sum(v);
        ck_assert_int_eq(tg_dtype_of(s), TG_FLOAT32);
        take_scalar(s, ref_sum_wide32[i - 1], "sum wide32");
        take_scalar(tg_mean(v), ref_mean_wide32[i - 1], "mean wide32");
        ck_assert(tg__pairwise_sum_f32(p, n, 1) == ref_sum_wide32[i - 1]);
        tg_free(v);
    }
    /* float accumulation, not double: a running float sum differs */
    ck_assert((double)naive != ref_sum_wide32[NREF(ref_sum_wide32) - 1]);
    tg_free(w);
}
END_TEST

START_TEST(test_pairwise_mean_and_stride)
{
    int64_t nbig = ref_sizes[NREF(ref_sizes) - 1];
    tg_tensor *w = wide(TG_FLOAT64, 1, 1, (const int64_t[]){nbig});
    for (int64_t i = 1; i < NREF(ref_sizes); i++) {
        tg_tensor *v = tg_slice(w, 0, 0, ref_sizes[i], 1);
        take_scalar(tg_mean(v), ref_mean_wide64[i - 1], "mean wide64");
        tg_free(v);
    }
    /* a strided 1-D view: same blocks, stride 3 */
    tg_tensor *v = tg_slice(w, 0, 0, nbig, 3);
    take_scalar(tg_sum(v), ref_sum_wide64_step3[0], "sum step 3");
    ck_assert(tg__pairwise_sum_f64(tg_data(w), (nbig + 2) / 3, 3) ==
              ref_sum_wide64_step3[0]);
    tg_free(v);
    tg_free(w);
}
END_TEST

/* ---- axis reductions on contiguous inputs -------------------------------- */

START_TEST(test_axis_contiguous_f64)
{
    tg_tensor *a = wide(TG_FLOAT64, 3, TG_SHAPE(37, 300));
    take_scalar(tg_sum(a), ref_a_sum[0], "a.sum()");
    take_scalar(tg_mean(a), ref_a_mean[0], "a.mean()");
    take(tg_sum_axis(a, 0, false), TG_SHAPE(300), ref_a_sum0, "sum0");
    take(tg_sum_axis(a, -2, true), TG_SHAPE(1, 300), ref_a_sum0, "sum-2 keep");
    take(tg_sum_axis(a, 1, false), TG_SHAPE(37), ref_a_sum1, "sum1");
    take(tg_sum_axis(a, -1, true), TG_SHAPE(37, 1), ref_a_sum1, "sum-1 keep");
    take(tg_mean_axis(a, 0, false), TG_SHAPE(300), ref_a_mean0, "mean0");
    take(tg_mean_axis(a, 1, true), TG_SHAPE(37, 1), ref_a_mean1, "mean1 keep");
    take(tg_mean_axis(a, -1, false), TG_SHAPE(37), ref_a_mean1, "mean-1");
    tg_free(a);

    /* rows longer than NumPy's buffer */
    tg_tensor *b = wide(TG_FLOAT64, 5, TG_SHAPE(3, 20000));
    take(tg_sum_axis(b, 1, false), TG_SHAPE(3), ref_b_sum1, "b.sum(1)");
    take_scalar(tg_sum(b), ref_b_sum[0], "b.sum()");
    tg_free(b);

    tg_tensor *c = wide(TG_FLOAT64, 6, TG_SHAPE(5, 40, 9));
    take(tg_sum_axis(c, 0, false), TG_SHAPE(40, 9), ref_c_sum0, "c.sum(0)");
    take(tg_sum_axis(c, 1, false), TG_SHAPE(5, 9), ref_c_sum1, "c.sum(1)");
    take(tg_sum_axis(c, 1, true), TG_SHAPE(5, 1, 9), ref_c_sum1, "c.sum(1) keep");
    take(tg_sum_axis(c, -1, false), TG_SHAPE(5, 40), ref_c_sum2, "c.sum(2)");
    tg_free(c);
}
END_TEST

START_TEST(test_axis_small_values)
{
    /* [[0,1,2],[3,4,5]]: exact sums */
    tg_tensor *t = tg_arange(TG_FLOAT64, 0, 6, 1);
    tg_tensor *m = tg_reshape(t, TG_SHAPE(2, 3));
    take_scalar(tg_sum(m), 15, "sum");
    take_scalar(tg_mean(m), 2.5, "mean");
    take(tg_sum_axis(m, 0, false), TG_SHAPE(3), (const double[]){3, 5, 7}, "sum0");
    take(tg_sum_axis(m, 1, false), TG_SHAPE(2), (const double[]){3, 12}, "sum1");
    take(tg_mean_axis(m, 0, true), TG_SHAPE(1, 3), (const double[]){1.5, 2.5, 3.5},
         "mean0");
    take(tg_mean_axis(m, 1, false), TG_SHAPE(2), (const double[]){1, 4}, "mean1");
    take(tg_max_axis(m, 0, false), TG_SHAPE(3), (const double[]){3, 4, 5}, "max0");
    take(tg_max_axis(m, -1, true), TG_SHAPE(2, 1), (const double[]){2, 5}, "max1");
    take(tg_argmax_axis(m, 0, false), TG_SHAPE(3), (const double[]){1, 1, 1}, "argmax0");
    take(tg_argmax_axis(m, 1, false), TG_SHAPE(2), (const double[]){2, 2}, "argmax1");
    take_scalar(tg_max(m), 5, "max");
    take_scalar(tg_argmax(m), 5, "argmax");
    tg_free(m);
    tg_free(t);

    /* a middle axis, keepdims and not; inputs do not change */
    tg_tensor *c = tg_arange(TG_FLOAT64, 0, 24, 1);
    tg_tensor *c3 = tg_reshape(c, TG_SHAPE(2, 3, 4));
    take(tg_sum_axis(c3, 1, false), TG_SHAPE(2, 4),
         (const double[]){12, 15, 18, 21, 48, 51, 54, 57}, "sum mid");
    take(tg_max_axis(c3, 1, true), TG_SHAPE(2, 1, 4),
         (const double[]){8, 9, 10, 11, 20, 21, 22, 23}, "max mid");
    take(tg_argmax_axis(c3, -2, false), TG_SHAPE(2, 4),
         (const double[]){2, 2, 2, 2, 2, 2, 2, 2}, "argmax mid");
    ck_assert_double_eq(tgt_at(c3, 23), 23);
    tg_free(c3);
    tg_free(c);
}
END_TEST

START_TEST(test_axis_float32)
{
    tg_tensor *a = wide(TG_FLOAT32, 4, TG_SHAPE(37, 300));
    tg_tensor *s = tg_sum(a);
    ck_assert_int_eq(tg_dtype_of(s), TG_FLOAT32);
    take_scalar(s, ref_a32_sum[0], "a32.sum()");
    take(tg_sum_axis(a, 0, false), TG_SHAPE(300), ref_a32_sum0, "a32.sum(0)");
    take(tg_sum_axis(a, 1, true), TG_SHAPE(37, 1), ref_a32_sum1, "a32.sum(1)");
    take(tg_mean_axis(a, 1, false), TG_SHAPE(37), ref_a32_mean1, "a32.mean(1)");
    tg_tensor *at = tg_transpose(a, 0, 1);
    take_scalar(tg_sum(at), ref_a32_T_sum[0], "a32.T.sum()");
    take(tg_sum_axis(at, 1, false), TG_SHAPE(300), ref_a32_T_sum1, "a32.T.sum(1)");
    tg_tensor *idx = tg_argmax_axis(at, 0, false);
    ck_assert_int_eq(tg_dtype_of(idx), TG_INT64); /* positions, as NumPy */
    tg_free(idx);
    tg_free(at);
    tg_free(a);

    /* float32 sums are float sums: 2^24 + 1 + 1 ... stays 2^24 one by one */
    float v[4] = {16777216.0f, 1.0f, 1.0f, 1.0f};
    tg_tensor *f = from32(TG_SHAPE(4), v);
    take_scalar(tg_sum(f), 16777216.0, "float running sum");
    take_scalar(tg_max(f), 16777216.0, "max");
    take_scalar(tg_argmax(f), 0, "argmax");
    tg_free(f);
}
END_TEST

/* ---- strided inputs -------------------------------------------------------- */

START_TEST(test_views)
{
    tg_tensor *d = wide(TG_FLOAT64, 7, TG_SHAPE(60, 50));
    tg_tensor *v[3] = {tg_transpose(d, 0, 1), tg_slice(d, 1, 0, 50, 2),
                       tg_slice(d, 0, 59, TG_NONE, -1)};
    const double *sums[3] = {ref_dT_sum, ref_dstep_sum, ref_drev_sum};
    const double *sum0[3] = {ref_dT_sum0, ref_dstep_sum0, ref_drev_sum0};
    const double *sum1[3] = {ref_dT_sum1, ref_dstep_sum1, ref_drev_sum1};
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(v[i]);
        ck_assert(!tg_is_contiguous(v[i]));
        int64_t r = tg_shape(v[i])[0], c = tg_shape(v[i])[1];
        take_scalar(tg_sum(v[i]), sums[i][0], "view sum");
        take(tg_sum_axis(v[i], 0, false), 1, (const int64_t[]){c}, sum0[i],
             "view sum0");
        take(tg_sum_axis(v[i], 1, true), TG_SHAPE(r, 1), sum1[i], "view sum1");
        tg_free(v[i]);
    }
    tg_free(d);

    /* a slice of long rows: not one run, NumPy's buffer spans rows */
    tg_tensor *b = wide(TG_FLOAT64, 5, TG_SHAPE(3, 20000));
    tg_tensor *bs = tg_slice(b, 1, 0, 19000, 1);
    take_scalar(tg_sum(bs), ref_bs_sum[0], "b[:, :19000].sum()");
    take(tg_sum_axis(bs, 1, false), TG_SHAPE(3), ref_bs_sum1, "b[:, :19000].sum(1)");
    tg_free(bs);
    tg_free(b);

    /* 4-D with the axes reversed */
    tg_tensor *f = wide(TG_FLOAT64, 9, TG_SHAPE(6, 7, 8, 9));
    tg_tensor *fp = tg_permute(f, (const int[]){3, 2, 1, 0});
    take_scalar(tg_sum(fp), ref_fp_sum[0], "fp.sum()");
    take(tg_sum_axis(fp, 0, false), TG_SHAPE(8, 7, 6), ref_fp_sum0, "fp.sum(0)");
    take(tg_sum_axis(fp, 1, false), TG_SHAPE(9, 7, 6), ref_fp_sum1, "fp.sum(1)");
    take(tg_sum_axis(fp, 2, false), TG_SHAPE(9, 8, 6), ref_fp_sum2, "fp.sum(2)");
    take(tg_sum_axis(fp, 3, false), TG_SHAPE(9, 8, 7), ref_fp_sum3, "fp.sum(3)");
    tg_free(fp);
    tg_free(f);
}
END_TEST

START_TEST(test_expanded)
{
    tg_tensor *e = wide(TG_FLOAT64, 8, TG_SHAPE(5));
    tg_tensor *ex = tg_expand(e, TG_SHAPE(300, 5));
    take_scalar(tg_sum(ex), ref_ex_sum[0], "expanded sum");
    take(tg_sum_axis(ex, 0, false), TG_SHAPE(5), ref_ex_sum0, "expanded sum0");
    /* max/argmax of a broadcast axis: every row ties, the first wins */
    tg_tensor *m = tg_max_axis(ex, 0, false);
    tg_tensor *am = tg_argmax_axis(ex, 0, false);
    for (int64_t j = 0; j < 5; j++) {
        ck_assert(tgt_at(m, j) == tgt_at(e, j));
        ck_assert(tgt_at(am, j) == 0);
    }
    tg_free(m);
    tg_free(am);
    tg_free(ex);

    tg_tensor *e2 = tg_reshape(e, TG_SHAPE(5, 1));
    tg_tensor *ex2 = tg_expand(e2, TG_SHAPE(5, 300));
    take_scalar(tg_sum(ex2), ref_ex2_sum[0], "expanded2 sum");
    take(tg_sum_axis(ex2, 1, false), TG_SHAPE(5), ref_ex2_sum1, "expanded2 sum1");
    tg_tensor *mean = tg_mean_axis(ex2, 1, false);
    for (int64_t j = 0; j < 5; j++)
        ck_assert_double_eq_tol(tgt_at(mean, j), tgt_at(e, j),
                                1e-15 * fabs(tgt_at(e, j)));
    tg_free(mean);
    tg_free(ex2);
    tg_free(e2);
    tg_free(e);
}
END_TEST

START_TEST(test_strided_max_argmax)
{
    /* max/argmax of transposed, reversed and stepped views against a plain
     * loop over the logical elements */
    tg_tensor *d = wide(TG_FLOAT64, 12, TG_SHAPE(40, 70));
    tg_tensor *views[4] = {tg_transpose(d, 0, 1), tg_slice(d, 0, 39, TG_NONE, -1),
                           tg_slice(d, 1, 1, 70, 3), d};
    for (int i = 0; i < 4; i++) {
        const tg_tensor *v = views[i];
        int64_t r = tg_shape(v)[0], c = tg_shape(v)[1];
        double best = -(double)INFINITY;
        int64_t at = 0;
        for (int64_t k = 0; k < r * c; k++)
            if (tgt_at(v, k) > best) {
                best = tgt_at(v, k);
                at = k;
            }
        take_scalar(tg_max(v), best, "max");
        take_scalar(tg_argmax(v), (double)at, "argmax");
        tg_tensor *m0 = tg_max_axis(v, 0, false), *a0 = tg_argmax_axis(v, 0, true);
        tg_tensor *m1 = tg_max_axis(v, 1, true), *a1 = tg_argmax_axis(v, -1, false);
        tgt_assert_shape(a0, 2, (const int64_t[]){1, c});
        tgt_assert_shape(m1, 2, (const int64_t[]){r, 1});
        for (int64_t j = 0; j < c; j++) {
            double b = -(double)INFINITY, ai = 0;
            for (int64_t k = 0; k < r; k++)
                if (tgt_at(v, k * c + j) > b) {
                    b = tgt_at(v, k * c + j);
                    ai = (double)k;
                }
            ck_assert(tgt_at(m0, j) == b);
            ck_assert(tgt_at(a0, j) == ai);
        }
        for (int64_t k = 0; k < r; k++) {
            double b = -(double)INFINITY, ai = 0;
            for (int64_t j = 0; j < c; j++)
                if (tgt_at(v, k * c + j) > b) {
                    b = tgt_at(v, k * c + j);
                    ai = (double)j;
                }
            ck_assert(tgt_at(m1, k) == b);
            ck_assert(tgt_at(a1, k) == ai);
        }
        tg_free(m0);
        tg_free(a0);
        tg_free(m1);
        tg_free(a1);
        if (views[i] != d)
            tg_free(views[i]);
    }
    tg_free(d);
}
END_TEST

/* ---- fast paths against plain loops ---------------------------------------- */

START_TEST(test_first_axis_is_running_sum)
{
    /* NumPy sums axis 0 of a C-ordered matrix row after row: a plain
     * running sum per column, bit for bit */
    const int64_t r = 1000, c = 257;
    tg_tensor *t = wide(TG_FLOAT64, 13, TG_SHAPE(r, c));
    const double *p = tg_data(t);
    tg_tensor *s = tg_sum_axis(t, 0, false);
    for (int64_t j = 0; j < c; j++) {
        double acc = 0;
        for (int64_t i = 0; i < r; i++)
            acc += p[i * c + j];
        ck_assert_msg(tgt_at(s, j) == acc, "column %lld", (long long)j);
    }
    tg_free(s);
    tg_free(t);
}
END_TEST

START_TEST(test_large_max_argmax)
{
    const int64_t n = 100003;
    tg_tensor *t = wide(TG_FLOAT64, 14, TG_SHAPE(n));
    double *p = tg_data(t);
    int64_t at = 0;
    for (int64_t i = 1; i < n; i++)
        if (p[i] > p[at])
            at = i;
    take_scalar(tg_max(t), p[at], "max");
    take_scalar(tg_argmax(t), (double)at, "argmax");
    /* a second copy of the maximum later on: argmax keeps the first */
    p[n - 2] = p[at];
    take_scalar(tg_argmax(t), (double)at, "first of ties");
    /* NaN in the 8-wide body, then in the tail */
    p[500] = (double)NAN;
    take_scalar(tg_max(t), (double)NAN, "NaN body");
    take_scalar(tg_argmax(t), 500, "argmax NaN body");
    p[500] = 0;
    p[n - 1] = (double)NAN;
    take_scalar(tg_max(t), (double)NAN, "NaN tail");
    take_scalar(tg_argmax(t), (double)(n - 1), "argmax NaN tail");
    tg_free(t);

    tg_tensor *f = wide(TG_FLOAT32, 15, TG_SHAPE(33, 1001));
    float *q = tg_data(f);
    tg_tensor *m = tg_max_axis(f, 1, false), *a = tg_argmax_axis(f, 1, false);
    for (int64_t i = 0; i < 33; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < 1001; j++)
            if (q[i * 1001 + j] > q[i * 1001 + best])
                best = j;
        ck_assert(tgt_at(m, i) == (double)q[i * 1001 + best]);
        ck_assert(tgt_at(a, i) == (double)best);
    }
    tg_free(m);
    tg_free(a);
    tg_free(f);
}
END_TEST

/* ---- NaN and Inf ----------------------------------------------------------- */

START_TEST(test_nan_inf)
{
    const double v[6] = {1, (double)INFINITY, 3, -(double)INFINITY, 2, 0};
    tg_tensor *t = from64(TG_SHAPE(2, 3), v);
    take_scalar(tg_sum(t), (double)NAN, "inf + -inf");
    take(tg_sum_axis(t, 1, false), TG_SHAPE(2), (const double[]){(double)INFINITY, -(double)INFINITY},
         "row sums");
    take(tg_sum_axis(t, 0, false), TG_SHAPE(3), (const double[]){-(double)INFINITY, (double)INFINITY, 3},
         "column sums");
    take_scalar(tg_max(t), (double)INFINITY, "max inf");
    take_scalar(tg_argmax(t), 1, "argmax inf");
    take(tg_max_axis(t, 1, false), TG_SHAPE(2), (const double[]){(double)INFINITY, 2}, "max1");
    tg_free(t);

    const double w[6] = {1, (double)NAN, 5, 7, 2, (double)NAN};
    tg_tensor *u = from64(TG_SHAPE(2, 3), w);
    take_scalar(tg_sum(u), (double)NAN, "NaN sum");
    take_scalar(tg_mean(u), (double)NAN, "NaN mean");
    take_scalar(tg_max(u), (double)NAN, "NaN max");
    take_scalar(tg_argmax(u), 1, "first NaN");
    take(tg_max_axis(u, 0, false), TG_SHAPE(3), (const double[]){7, (double)NAN, (double)NAN}, "max0");
    take(tg_argmax_axis(u, 0, false), TG_SHAPE(3), (const double[]){1, 0, 1}, "argmax0");
    take(tg_argmax_axis(u, 1, false), TG_SHAPE(2), (const double[]){1, 2}, "argmax1");
    take(tg_sum_axis(u, 1, false), TG_SHAPE(2), (const double[]){(double)NAN, (double)NAN}, "sum1");
    take(tg_sum_axis(u, 0, false), TG_SHAPE(3), (const double[]){8, (double)NAN, (double)NAN}, "sum0");
    tg_tensor *ut = tg_transpose(u, 0, 1);
    take_scalar(tg_argmax(ut), 2, "first NaN in logical order of the transpose");
    take(tg_argmax_axis(ut, 1, false), TG_SHAPE(3), (const double[]){1, 0, 1},
         "argmax of transpose");
    tg_free(ut);
    tg_free(u);

    /* NaN first stays; all -inf gives index 0 */
    const float x[3] = {(float)NAN, 5, (float)NAN};
    tg_tensor *f = from32(TG_SHAPE(3), x);
    take_scalar(tg_max(f), (double)NAN, "f32 NaN");
    take_scalar(tg_argmax(f), 0, "f32 first NaN");
    tg_free(f);
    const double ninf[3] = {-(double)INFINITY, -(double)INFINITY, -(double)INFINITY};
    tg_tensor *g = from64(TG_SHAPE(3), ninf);
    take_scalar(tg_max(g), -(double)INFINITY, "max -inf");
    take_scalar(tg_argmax(g), 0, "argmax -inf");
    tg_free(g);
}
END_TEST

/* ---- empty and 0-d inputs ------------------------------------------------ */

START_TEST(test_empty)
{
    tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(0, 3));
    take_scalar(tg_sum(e), 0, "sum of nothing");
    tg_tensor *m = tg_mean(e);
    ck_assert_int_eq(tg_last_error(), TG_OK);
    take_scalar(m, (double)NAN, "mean of nothing");
    take(tg_sum_axis(e, 0, false), TG_SHAPE(3), (const double[]){0, 0, 0}, "sum0");
    take(tg_mean_axis(e, 0, true), TG_SHAPE(1, 3), (const double[]){(double)NAN, (double)NAN, (double)NAN},
         "mean0");
    take(tg_sum_axis(e, 1, false), TG_SHAPE(0), NULL, "sum1");
    /* reducing a non-empty axis of an empty tensor gives an empty result */
    take(tg_max_axis(e, 1, false), TG_SHAPE(0), NULL, "max1");
    take(tg_argmax_axis(e, -1, true), TG_SHAPE(0, 1), NULL, "argmax1");

    ck_assert_ptr_null(tg_max(e));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_max: zero-size tensor has no maximum");
    ck_assert_ptr_null(tg_argmax(e));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_argmax: zero-size tensor has no maximum");
    ck_assert_ptr_null(tg_max_axis(e, 0, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_max_axis: axis 0 has size 0");
    ck_assert_ptr_null(tg_argmax_axis(e, -2, true));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_argmax_axis: axis 0 has size 0");
    tg_free(e);

    tg_tensor *z = tg_zeros(TG_FLOAT32, TG_SHAPE(0));
    take_scalar(tg_sum(z), 0, "f32 sum of nothing");
    take_scalar(tg_mean(z), (double)NAN, "f32 mean of nothing");
    ck_assert_ptr_null(tg_max(z));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "zero-size tensor has no maximum");
    tg_free(z);

    /* NumPy: sums of -0.0 are +0.0 (a sum starts from 0) */
    tg_tensor *nz = tg_full(TG_FLOAT64, TG_SHAPE(10, 2), -0.0);
    tg_tensor *s = tg_sum(nz);
    ck_assert(!signbit(item(s)));
    tg_tensor *s0 = tg_sum_axis(nz, 0, false), *s1 = tg_sum_axis(nz, 1, false);
    ck_assert(!signbit(tgt_at(s0, 1)) && !signbit(tgt_at(s1, 9)));
    tg_tensor *mx = tg_max(nz);
    ck_assert(signbit(item(mx)));
    tg_free(mx);
    tg_free(s0);
    tg_free(s1);
    tg_free(s);
    tg_free(nz);
}
END_TEST

START_TEST(test_zero_dim)
{
    tg_tensor *s = tg_scalar(TG_FLOAT64, 4.5);
    take_scalar(tg_sum(s), 4.5, "sum");
    take_scalar(tg_mean(s), 4.5, "mean");
    take_scalar(tg_max(s), 4.5, "max");
    take_scalar(tg_argmax(s), 0, "argmax");
    ck_assert_ptr_null(tg_sum_axis(s, 0, false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_sum_axis: axis 0 out of range for 0 dimensions");
    take_scalar(tg_sum_to(s, 0, NULL), 4.5, "sum_to ()");
    tg_tensor *out = tg_scalar(TG_FLOAT64, 0);
    ck_assert_int_eq(tg_sum_into(out, s), TG_OK);
    ck_assert_double_eq(item(out), 4.5);
    tg_free(out);
    tg_free(s);

    /* size-1 axes: one element, any keepdims */
    tg_tensor *one = tg_full(TG_FLOAT32, TG_SHAPE(1, 1, 1), -2.0);
    take(tg_sum_axis(one, 1, false), TG_SHAPE(1, 1), (const double[]){-2}, "sum");
    take(tg_argmax_axis(one, 2, true), TG_SHAPE(1, 1, 1), (const double[]){0}, "argmax");
    take_scalar(tg_max(one), -2, "max");
    tg_free(one);
}
END_TEST

/* ---- sum_to ------------------------------------------------------------------ */

START_TEST(test_sum_to_values)
{
    tg_tensor *r = tg_arange(TG_FLOAT64, 0, 24, 1);
    tg_tensor *t = tg_reshape(r, TG_SHAPE(2, 3, 4));
    /* t[i][j][k] = 12i + 4j + k */
    take(tg_sum_to(t, TG_SHAPE(3, 1)), TG_SHAPE(3, 1), (const double[]){60, 92, 124},
         "(3,1)");
    take(tg_sum_to(t, TG_SHAPE(4)), TG_SHAPE(4), (const double[]){60, 66, 72, 78},
         "(4,)");
    take(tg_sum_to(t, TG_SHAPE(1, 4)), TG_SHAPE(1, 4), (const double[]){60, 66, 72, 78},
         "(1,4)");
    take(tg_sum_to(t, TG_SHAPE(2, 1, 1)), TG_SHAPE(2, 1, 1), (const double[]){66, 210},
         "(2,1,1)");
    take(tg_sum_to(t, TG_SHAPE(2, 1, 4)), TG_SHAPE(2, 1, 4),
         (const double[]){12, 15, 18, 21, 48, 51, 54, 57}, "(2,1,4)");
    take(tg_sum_to(t, 0, NULL), 0, NULL, (const double[]){276}, "()");
    tg_tensor *same = tg_sum_to(t, TG_SHAPE(2, 3, 4));
    tgt_assert_shape(same, 3, (const int64_t[]){2, 3, 4});
    ck_assert(!tg_shares_storage(same, t));
    for (int64_t i = 0; i < 24; i++)
        ck_assert_double_eq(tgt_at(same, i), (double)i);
    tg_free(same);

    /* a transposed input: t.T is (4,3,2) */
    tg_tensor *tt = tg_permute(t, (const int[]){2, 1, 0});
    take(tg_sum_to(tt, TG_SHAPE(3, 1)), TG_SHAPE(3, 1), (const double[]){60, 92, 124},
         "T (3,1)");
    take(tg_sum_to(tt, TG_SHAPE(4, 1, 1)), TG_SHAPE(4, 1, 1),
         (const double[]){60, 66, 72, 78}, "T (4,1,1)");
    tg_free(tt);
    tg_free(t);
    tg_free(r);

    /* float32, from an expanded view: the adjoint of broadcasting */
    tg_tensor *b = tg_full(TG_FLOAT32, TG_SHAPE(3, 1), 0.5);
    tg_tensor *bx = tg_expand(b, TG_SHAPE(2, 3, 5));
    tg_tensor *back = tg_sum_to(bx, TG_SHAPE(3, 1));
    ck_assert_int_eq(tg_dtype_of(back), TG_FLOAT32);
    take(back, TG_SHAPE(3, 1), (const double[]){5, 5, 5}, "expanded back");
    tg_free(bx);
    tg_free(b);
}
END_TEST

START_TEST(test_sum_to_numpy)
{
    tg_tensor *g = wide(TG_FLOAT64, 10, TG_SHAPE(2, 3, 4));
    take(tg_sum_to(g, TG_SHAPE(3, 1)), TG_SHAPE(3, 1), ref_g_to31, "g -> (3,1)");
    take(tg_sum_to(g, TG_SHAPE(4)), TG_SHAPE(4), ref_g_to4, "g -> (4,)");
    take(tg_sum_to(g, 0, NULL), 0, NULL, ref_g_to, "g -> ()");
    tg_free(g);
    /* several reduced axes that are not one run: NumPy buffers them */
    tg_tensor *h = wide(TG_FLOAT64, 11, TG_SHAPE(4, 30, 50));
    tg_tensor *hs = tg_slice(h, 2, 0, 40, 1);
    take(tg_sum_to(hs, TG_SHAPE(4, 1, 1)), TG_SHAPE(4, 1, 1), ref_h_to411, "h -> (4,1,1)");
    take(tg_sum_to(hs, TG_SHAPE(1, 30, 1)), TG_SHAPE(1, 30, 1), ref_h_to1301,
         "h -> (1,30,1)");
    tg_free(hs);
    tg_free(h);
}
END_TEST

START_TEST(test_sum_to_errors)
{
    tg_tensor *t = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 4));
    ck_assert_ptr_null(tg_sum_to(t, TG_SHAPE(3, 2)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_sum_to: cannot sum shape (2,3,4) to (3,2)");
    ck_assert_ptr_null(tg_sum_to(t, TG_SHAPE(5, 2, 3, 4)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_sum_to: cannot sum shape (2,3,4) to (5,2,3,4)");
    ck_assert_ptr_null(tg_sum_to(t, TG_SHAPE(2)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "cannot sum shape (2,3,4) to (2,)");
    ck_assert_ptr_null(tg_sum_to(t, TG_SHAPE(-1)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_sum_to: negative size");
    ck_assert_ptr_null(tg_sum_to(t, 2, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_sum_to: shape is NULL");

    tg_tensor *bad = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 4));
    ck_assert_int_eq(tg_sum_to_into(bad, t), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_sum_to_into: cannot sum shape (2,3,4) to (2,4)");
    tg_tensor *f = tg_zeros(TG_FLOAT32, TG_SHAPE(3, 1));
    ck_assert_int_eq(tg_sum_to_into(f, t), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_sum_to_into: out is float32 but the input is float64");
    ck_assert_int_eq(tg_sum_to_into(NULL, t), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_sum_to_into: out is NULL");
    ck_assert_int_eq(tg_sum_to_into(f, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_sum_to_into: input tensor is NULL");
    tg_free(f);
    tg_free(bad);
    tg_free(t);
}
END_TEST

/* ---- in-place forms ------------------------------------------------------- */

START_TEST(test_into)
{
    tg_tensor *r = tg_arange(TG_FLOAT64, 0, 24, 1);
    tg_tensor *t = tg_reshape(r, TG_SHAPE(2, 3, 4));

    tg_tensor *o = tg_full(TG_FLOAT64, TG_SHAPE(3, 1), -1);
    uint64_t v0 = o->storage->version;
    ck_assert_int_eq(tg_sum_to_into(o, t), TG_OK);
    ck_assert(o->storage->version > v0);
    assert_values(o, (const double[]){60, 92, 124}, 3, "sum_to_into");
    tg_free(o);

    /* into a transposed (non-contiguous) out of shape (3,4) */
    tg_tensor *base = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 3));
    tg_tensor *ot = tg_transpose(base, 0, 1);
    ck_assert_int_eq(tg_sum_to_into(ot, t), TG_OK);
    /* column sums over axis 0: 12 + 2(4j + k) */
    for (int64_t j = 0; j < 3; j++)
        for (int64_t k = 0; k < 4; k++)
            ck_assert_double_eq(tgt_at(ot, j * 4 + k), (double)(12 + 8 * j + 2 * k));
    ck_assert_double_eq(tgt_at(base, 1), 20); /* base[0][1] = ot[1][0] */
    tg_free(ot);
    tg_free(base);

    /* whole sums into a 0-d or an all-ones out */
    tg_tensor *s0 = tg_scalar(TG_FLOAT64, 0);
    uint64_t v1 = s0->storage->version;
    ck_assert_int_eq(tg_sum_into(s0, t), TG_OK);
    ck_assert_double_eq(item(s0), 276);
    ck_assert(s0->storage->version > v1);
    tg_tensor *s1 = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 1, 1));
    ck_assert_int_eq(tg_sum_into(s1, t), TG_OK);
    ck_assert_double_eq(item(s1), 276);

    /* out inside the input's own storage: computed first, then written */
    tg_tensor *cell = tg_select(r, 0, 23); /* 0-d view of r[23] */
    ck_assert_int_eq(tg_sum_into(cell, r), TG_OK);
    ck_assert_double_eq(item(cell), 276);
    ck_assert_double_eq(tgt_at(r, 22), 22);
    tg_free(cell);

    /* errors */
    tg_tensor *wrong = tg_zeros(TG_FLOAT64, TG_SHAPE(2));
    ck_assert_int_eq(tg_sum_into(wrong, t), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_sum_into: out has shape (2,) but the result has shape ()");
    tg_tensor *f = tg_scalar(TG_FLOAT32, 0);
    ck_assert_int_eq(tg_sum_into(f, t), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_sum_into: out is float32 but the input is float64");
    ck_assert_int_eq(tg_sum_into(NULL, t), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_sum_into: out is NULL");
    ck_assert_int_eq(tg_sum_into(s0, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_sum_into: input tensor is NULL");
    /* a failed call leaves out alone */
    ck_assert_double_eq(item(s0), 276);
    tg_free(f);
    tg_free(wrong);
    tg_free(s1);
    tg_free(s0);
    tg_free(t);
    tg_free(r);
}
END_TEST

START_TEST(test_internal_reduce)
{
    /* tg__reduce takes out in the keepdims or the dropped shape */
    tg_tensor *t = wide(TG_FLOAT64, 3, TG_SHAPE(37, 300));
    tg_tensor *keep = tg_empty(TG_FLOAT64, TG_SHAPE(37, 1));
    tg_tensor *drop = tg_empty(TG_FLOAT64, TG_SHAPE(37));
    ck_assert_int_eq(tg__reduce("f", 0, keep, t, 1), TG_OK);
    ck_assert_int_eq(tg__reduce("f", 0, drop, t, 1), TG_OK);
    assert_values(keep, ref_a_sum1, 37, "keep");
    assert_values(drop, ref_a_sum1, 37, "drop");
    ck_assert_int_eq(tg__reduce("f", 1, drop, t, 1), TG_OK);
    assert_values(drop, ref_a_mean1, 37, "mean");
    ck_assert_int_eq(tg__reduce("f", 0, drop, t, 0), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "f: out has shape (37,) but the result has shape (300,)");
    ck_assert_int_eq(tg__reduce("f", 7, drop, t, 1), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "f: unknown reduction 7");
    ck_assert_int_eq(tg__reduce("f", 0, drop, t, 2), TG_ERR_AXIS);
    TGT_ASSERT_ERR(TG_ERR_AXIS, "f: axis 2 out of range for 2 dimensions");

    /* the arg-max has its own entry point; tg__reduce refuses it */
    ck_assert_int_eq(tg__reduce("f", 3, drop, t, 1), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "f: unknown reduction 3");
    int64_t pos[300];
    ck_assert_int_eq(tg__argmax_positions("f", t, 0, pos), TG_OK);
    for (int64_t j = 0; j < 300; j++) {
        int64_t k = pos[j];
        ck_assert(k >= 0 && k < 37);
        for (int64_t i = 0; i < 37; i++)
            ck_assert(tgt_at(t, i * 300 + j) <= tgt_at(t, k * 300 + j));
    }
    int nd;
    int64_t shape[TG_MAX_DIMS];
    tg__reduced_shape(t, -1, true, &nd, shape);
    ck_assert_int_eq(nd, 2);
    ck_assert(shape[0] == 1 && shape[1] == 1);
    tg__reduced_shape(t, -1, false, &nd, shape);
    ck_assert_int_eq(nd, 0);
    tg__reduced_shape(t, 0, false, &nd, shape);
    ck_assert_int_eq(nd, 1);
    ck_assert(shape[0] == 300);
    tg_free(keep);
    tg_free(drop);
    tg_free(t);
}
END_TEST

/* ---- errors ----------------------------------------------------------------- */

START_TEST(test_bad_axis)
{
    tg_tensor *t = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3));
    ck_assert_ptr_null(tg_sum_axis(t, 3, false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_sum_axis: axis 3 out of range for 2 dimensions");
    ck_assert_ptr_null(tg_mean_axis(t, -3, true));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_mean_axis: axis -3 out of range for 2 dimensions");
    ck_assert_ptr_null(tg_max_axis(t, 2, false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_max_axis: axis 2 out of range for 2 dimensions");
    ck_assert_ptr_null(tg_argmax_axis(t, -4, false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_argmax_axis: axis -4 out of range for 2 dimensions");
    tg_free(t);
}
END_TEST

START_TEST(test_null_inputs)
{
    /* NULL propagates without a new error */
    tg_clear_error();
    ck_assert_ptr_null(tg_sum(NULL));
    ck_assert_ptr_null(tg_mean(NULL));
    ck_assert_ptr_null(tg_max(NULL));
    ck_assert_ptr_null(tg_argmax(NULL));
    ck_assert_ptr_null(tg_sum_axis(NULL, 0, false));
    ck_assert_ptr_null(tg_mean_axis(NULL, 0, true));
    ck_assert_ptr_null(tg_max_axis(NULL, 0, false));
    ck_assert_ptr_null(tg_argmax_axis(NULL, 0, false));
    ck_assert_ptr_null(tg_sum_to(NULL, TG_SHAPE(1)));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    /* a chain: the first failure's message survives */
    tg_tensor *t = tg_zeros(TG_FLOAT64, TG_SHAPE(2));
    tg_tensor *r = tg_sum(tg_sum_axis(t, 5, false));
    ck_assert_ptr_null(r);
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_sum_axis: axis 5");
    tg_free(t);
}
END_TEST

START_TEST(test_out_of_memory)
{
    /* fail each allocation in turn: NULL/NOMEM, nothing leaks, and the
     * call succeeds once every allocation is allowed */
    tg_tensor *h = wide(TG_FLOAT64, 11, TG_SHAPE(4, 30, 50));
    tg_tensor *hs = tg_slice(h, 2, 0, 40, 1);
    tg_tensor *base = tg_zeros(TG_FLOAT64, TG_SHAPE(30, 4));
    tg_tensor *ot2 = tg_transpose(base, 0, 1);
    tg_tensor *ot = tg_unsqueeze(ot2, 2); /* (4,30,1), not contiguous */
    for (int which = 0; which < 4; which++) {
        bool ok = false;
        for (long k = 1; k < 20 && !ok; k++) {
            tgt_stats.fail_at = tgt_stats.calls + k;
            tg_tensor *r = NULL;
            int rc = TG_OK;
            if (which == 0)
                r = tg_sum_to(hs, TG_SHAPE(4, 1, 1)); /* gather buffer */
            else if (which == 1)
                r = tg_argmax_axis(h, 1, false);      /* running maxima */
            else if (which == 2)
                r = tg_mean(hs);
            else
                rc = tg_sum_to_into(ot, h);           /* scratch result */
            tgt_stats.fail_at = 0;
            if (which == 3 ? rc == TG_OK : r != NULL) {
                ok = true;
            } else {
                ck_assert_int_eq(tg_last_error(), TG_ERR_NOMEM);
                ck_assert_msg(strstr(tg_last_message(), "tg_") != NULL, "%s",
                              tg_last_message());
            }
            tg_free(r);
        }
        ck_assert_msg(ok, "case %d never succeeded", which);
    }
    tg_tensor *want = tg_sum_axis(h, 2, false);
    for (int64_t i = 0; i < 120; i++)
        ck_assert(tgt_at(ot, i) == tgt_at(want, i));
    tg_free(want);
    tg_free(ot);
    tg_free(ot2);
    tg_free(base);
    tg_free(hs);
    tg_free(h);
}
END_TEST

Suite *test_reduce_suite(void); /* called by the generated runner */

Suite *test_reduce_suite(void)
{
    Suite *s = suite_create("reduce");
    TCase *tc = tgt_tcase("pairwise");
    tcase_add_test(tc, test_pairwise_sizes_f64);
    tcase_add_test(tc, test_pairwise_order_matters);
    tcase_add_test(tc, test_pairwise_sizes_f32);
    tcase_add_test(tc, test_pairwise_mean_and_stride);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("axis");
    tcase_add_test(tc, test_axis_contiguous_f64);
    tcase_add_test(tc, test_axis_small_values);
    tcase_add_test(tc, test_axis_float32);
    tcase_add_test(tc, test_first_axis_is_running_sum);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("strided");
    tcase_add_test(tc, test_views);
    tcase_add_test(tc, test_expanded);
    tcase_add_test(tc, test_strided_max_argmax);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("max");
    tcase_add_test(tc, test_large_max_argmax);
    tcase_add_test(tc, test_nan_inf);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("edge");
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_zero_dim);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("sum_to");
    tcase_add_test(tc, test_sum_to_values);
    tcase_add_test(tc, test_sum_to_numpy);
    tcase_add_test(tc, test_sum_to_errors);
    tcase_add_test(tc, test_into);
    tcase_add_test(tc, test_internal_reduce);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_bad_axis);
    tcase_add_test(tc, test_null_inputs);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
