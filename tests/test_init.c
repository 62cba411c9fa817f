/* test_init.c - the initialisers of models/init.h: PyTorch's gains and
 * fans, values equal to NumPy's draws bit for bit (tests/data/init_ref.inc,
 * made by make_init_ref.py), statistics on large tensors against PyTorch's
 * own initialisers, orthogonality, bad input and allocation failures. */
#include <math.h>

#include "helpers.h"

#include "data/init_ref.inc"

static void assert_exact(const tg_tensor *t, const double *want, int64_t n)
{
    ck_assert_int_eq(tg_numel(t), n);
    for (int64_t i = 0; i < n; i++)
        if (tgt_at(t, i) != want[i])
            ck_abort_msg("element %lld: got %a, want %a", (long long)i, tgt_at(t, i), want[i]);
}

static void assert_close(const tg_tensor *t, const double *want, int64_t n, double tol)
{
    ck_assert_int_eq(tg_numel(t), n);
    for (int64_t i = 0; i < n; i++)
        if (fabs(tgt_at(t, i) - want[i]) > tol)
            ck_abort_msg("element %lld: got %.17g, want %.17g", (long long)i, tgt_at(t, i),
                         want[i]);
}

/* ---- gains and fans ---- */

START_TEST(test_gains_match_torch)
{
    const tg_gain kinds[] = {TG_GAIN_LINEAR, TG_GAIN_SIGMOID,    TG_GAIN_TANH,
                             TG_GAIN_RELU,   TG_GAIN_LEAKY_RELU, TG_GAIN_LEAKY_RELU,
                             TG_GAIN_SELU,   TG_GAIN_LINEAR};
    const double params[] = {0, 0, 0, 0, 0.01, 0.2, 0, 0};
    for (int i = 0; i < ref_gains_len; i++)
        ck_assert_msg(tg_init_gain(kinds[i], params[i]) == ref_gains[i], "gain %d", i);
}
END_TEST

START_TEST(test_fans_match_torch)
{
    struct {
        int ndim;
        int64_t shape[4];
        int64_t fi, fo;
    } cases[] = {{2, {3, 5}, ref_fan_in_2d, ref_fan_out_2d},
                 {4, {8, 3, 3, 3}, ref_fan_in_conv, ref_fan_out_conv},
                 {3, {4, 2, 5}, ref_fan_in_3d, ref_fan_out_3d}};
    for (int c = 0; c < 3; c++) {
        tg_tensor *t = tg_empty(TG_FLOAT32, cases[c].ndim, cases[c].shape);
        int64_t fi = -1, fo = -1;
        ck_assert_int_eq(tg_init_fans(t, &fi, &fo), TG_OK);
        ck_assert_int_eq(fi, cases[c].fi);
        ck_assert_int_eq(fo, cases[c].fo);
        tg_free(t);
    }
}
END_TEST

/* ---- values equal to NumPy's draws ---- */

START_TEST(test_xavier_uniform_numpy)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_tensor *w = tg_empty(TG_FLOAT64, TG_SHAPE(20, 30));
    ck_assert_int_eq(tg_init_xavier_uniform(&rng, w, 1.0), TG_OK);
    assert_exact(w, ref_xavier_uniform_s1, ref_xavier_uniform_s1_len);
    tg_free(w);
}
END_TEST

START_TEST(test_xavier_normal_numpy)
{
    tg_rng rng;
    tg_rng_seed(&rng, 2);
    tg_tensor *w = tg_empty(TG_FLOAT64, TG_SHAPE(16, 4, 3, 3));
    ck_assert_int_eq(tg_init_xavier_normal(&rng, w, tg_init_gain(TG_GAIN_TANH, 0)), TG_OK);
    assert_exact(w, ref_xavier_normal_s2, ref_xavier_normal_s2_len);
    tg_free(w);
}
END_TEST

START_TEST(test_kaiming_uniform_float32_numpy)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_tensor *w = tg_empty(TG_FLOAT32, TG_SHAPE(50, 40));
    ck_assert_int_eq(tg_init_kaiming_uniform(&rng, w, 0.0, TG_FAN_IN, TG_GAIN_LEAKY_RELU),
                     TG_OK);
    assert_exact(w, ref_kaiming_uniform_s3_f32, ref_kaiming_uniform_s3_f32_len);
    tg_free(w);
}
END_TEST

START_TEST(test_kaiming_normal_fan_out_numpy)
{
    tg_rng rng;
    tg_rng_seed(&rng, 4);
    tg_tensor *w = tg_empty(TG_FLOAT64, TG_SHAPE(32, 16, 3, 3));
    ck_assert_int_eq(tg_init_kaiming_normal(&rng, w, 0.0, TG_FAN_OUT, TG_GAIN_RELU), TG_OK);
    assert_exact(w, ref_kaiming_normal_s4, ref_kaiming_normal_s4_len);
    tg_free(w);
}
END_TEST

START_TEST(test_kaiming_leaky_numpy)
{
    tg_rng rng;
    tg_rng_seed(&rng, 8);
    tg_tensor *w = tg_empty(TG_FLOAT64, TG_SHAPE(10, 7));
    ck_assert_int_eq(tg_init_kaiming_uniform(&rng, w, 0.2, TG_FAN_OUT, TG_GAIN_LEAKY_RELU),
                     TG_OK);
    assert_exact(w, ref_kaiming_leaky_s8, ref_kaiming_leaky_s8_len);
    tg_free(w);
}
END_TEST

/* A transposed view is filled in its own C order, as a contiguous one. */
START_TEST(test_fill_view_in_c_order)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_tensor *base = tg_empty(TG_FLOAT64, TG_SHAPE(30, 20));
    tg_tensor *w = tg_transpose(base, 0, 1); /* (20, 30), not contiguous */
    ck_assert_int_eq(tg_init_xavier_uniform(&rng, w, 1.0), TG_OK);
    assert_exact(w, ref_xavier_uniform_s1, ref_xavier_uniform_s1_len);
    tg_free(w);
    tg_free(base);
}
END_TEST

START_TEST(test_uniform_normal_constants)
{
    tg_rng rng, ref;
    tg_rng_seed(&rng, 11);
    tg_rng_seed(&ref, 11);
    tg_tensor *w = tg_empty(TG_FLOAT64, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_init_uniform(&rng, w, -2, 3), TG_OK);
    for (int64_t i = 0; i < 12; i++)
        ck_assert(tgt_at(w, i) == tg_rng_uniform(&ref, -2, 3));
    ck_assert_int_eq(tg_init_normal(&rng, w, 1.5, 0.25), TG_OK);
    for (int64_t i = 0; i < 12; i++)
        ck_assert(tgt_at(w, i) == 1.5 + 0.25 * tg_rng_normal(&ref));
    ck_assert_int_eq(tg_init_zeros(w), TG_OK);
    for (int64_t i = 0; i < 12; i++)
        ck_assert(tgt_at(w, i) == 0.0);
    ck_assert_int_eq(tg_init_ones(w), TG_OK);
    for (int64_t i = 0; i < 12; i++)
        ck_assert(tgt_at(w, i) == 1.0);
    ck_assert_int_eq(tg_init_constant(w, -0.125), TG_OK);
    for (int64_t i = 0; i < 12; i++)
        ck_assert(tgt_at(w, i) == -0.125);
    tg_tensor *b = tg_empty(TG_FLOAT32, TG_SHAPE(5)); /* constants take any ndim */
    ck_assert_int_eq(tg_init_constant(b, 0.1), TG_OK);
    ck_assert(tgt_at(b, 4) == (double)0.1f);
    tg_free(b);
    tg_free(w);
}
END_TEST

/* ---- orthogonal ---- */

/* Q^T Q = I (columns) or Q Q^T = I (rows) of the (rows, cols) values. */
static void assert_orthonormal(const tg_tensor *t, double gain, double tol)
{
    int64_t rows = tg_size(t, 0), cols = tg_numel(t) / rows;
    bool wide = rows < cols;
    int64_t n = wide ? rows : cols, m = wide ? cols : rows;
    tg_tensor *c = tg_cast(t, TG_FLOAT64); /* contiguous float64 copy */
    const double *d = tg_data(c);
    double worst = 0.0;
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) {
            double dot = 0.0;
            for (int64_t k = 0; k < m; k++)
                dot += wide ? d[a * cols + k] * d[b * cols + k]
                            : d[k * cols + a] * d[k * cols + b];
            double want = a == b ? gain * gain : 0.0;
            if (fabs(dot - want) > worst)
                worst = fabs(dot - want);
        }
    tg_free(c);
    ck_assert_msg(worst <= tol, "largest deviation from the identity %g > %g", worst, tol);
}

START_TEST(test_orthogonal_matches_numpy_qr)
{
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_tensor *w = tg_empty(TG_FLOAT64, TG_SHAPE(6, 10));
    ck_assert_int_eq(tg_init_orthogonal(&rng, w, 1.0), TG_OK);
    assert_close(w, ref_orth_wide_s5, ref_orth_wide_s5_len, 1e-13);
    assert_orthonormal(w, 1.0, 1e-12);
    tg_free(w);

    tg_rng_seed(&rng, 6);
    w = tg_empty(TG_FLOAT64, TG_SHAPE(12, 5));
    ck_assert_int_eq(tg_init_orthogonal(&rng, w, 2.0), TG_OK);
    assert_close(w, ref_orth_tall_s6, ref_orth_tall_s6_len, 1e-13);
    assert_orthonormal(w, 2.0, 1e-12);
    tg_free(w);

    tg_rng_seed(&rng, 7);
    w = tg_empty(TG_FLOAT64, TG_SHAPE(4, 2, 3, 3));
    ck_assert_int_eq(tg_init_orthogonal(&rng, w, 1.0), TG_OK);
    assert_close(w, ref_orth_conv_s7, ref_orth_conv_s7_len, 1e-13);
    assert_orthonormal(w, 1.0, 1e-12);
    tg_free(w);
}
END_TEST

START_TEST(test_orthogonal_large_and_float32)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tensor *w = tg_empty(TG_FLOAT64, TG_SHAPE(64, 64));
    ck_assert_int_eq(tg_init_orthogonal(&rng, w, 1.0), TG_OK);
    assert_orthonormal(w, 1.0, 1e-12);
    tg_free(w);
    w = tg_empty(TG_FLOAT32, TG_SHAPE(16, 40));
    ck_assert_int_eq(tg_init_orthogonal(&rng, w, 1.0), TG_OK);
    assert_orthonormal(w, 1.0, 1e-5);
    tg_free(w);
}
END_TEST

/* ---- statistics against PyTorch's own initialisers ---- */

static void sample_stats(const tg_tensor *t, double *mean, double *std, double *maxabs)
{
    int64_t n = tg_numel(t);
    const double *d = tg_data(t); /* contiguous float64 */
    double s = 0.0, m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s += d[i];
        if (fabs(d[i]) > m)
            m = fabs(d[i]);
    }
    *mean = s / (double)n;
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        ss += (d[i] - *mean) * (d[i] - *mean);
    *std = sqrt(ss / (double)(n - 1));
    *maxabs = m;
}

START_TEST(test_statistics_match_torch)
{
    tg_rng rng;
    tg_rng_seed(&rng, 42);
    tg_tensor *w = tg_empty(TG_FLOAT64, TG_SHAPE(256, 512));
    const double *ref = ref_torch_stats_256x512;
    for (int k = 0; k < 5; k++) {
        int rc = k == 0   ? tg_init_xavier_uniform(&rng, w, 1.0)
                 : k == 1 ? tg_init_xavier_normal(&rng, w, 1.0)
                 : k == 2 ? tg_init_kaiming_uniform(&rng, w, 0.0, TG_FAN_IN, TG_GAIN_RELU)
                 : k == 3 ? tg_init_kaiming_normal(&rng, w, 0.0, TG_FAN_OUT, TG_GAIN_RELU)
                          : tg_init_kaiming_normal(&rng, w, 0.1, TG_FAN_IN, TG_GAIN_LEAKY_RELU);
        ck_assert_int_eq(rc, TG_OK);
        double mean, std, maxabs;
        sample_stats(w, &mean, &std, &maxabs);
        double tstd = ref[3 * k + 1];
        /* 131072 samples: the mean is within 5 standard errors of 0 in both
         * libraries, the sample stds agree to 1%. */
        ck_assert_msg(fabs(mean) < 5 * tstd / sqrt(131072.0), "case %d mean %g", k, mean);
        ck_assert_msg(fabs(ref[3 * k]) < 5 * tstd / sqrt(131072.0), "torch mean %g", ref[3 * k]);
        ck_assert_msg(fabs(std / tstd - 1) < 0.01, "case %d std %g, torch's %g", k, std, tstd);
        if (k == 0 || k == 2) /* uniform: the bound sqrt(3) std, never passed */
            ck_assert_msg(maxabs <= ref[3 * k + 2] * 1.001 && maxabs > ref[3 * k + 2] * 0.99,
                          "case %d max %g, torch's %g", k, maxabs, ref[3 * k + 2]);
    }
    /* The formula's std for case 2: sqrt(2) / sqrt(512) * sqrt(3) bounds it. */
    ck_assert_int_eq(tg_init_kaiming_uniform(&rng, w, 0.0, TG_FAN_IN, TG_GAIN_RELU), TG_OK);
    double bound = sqrt(3.0) * (sqrt(2.0) / sqrt(512.0)), mean, std, maxabs;
    sample_stats(w, &mean, &std, &maxabs);
    ck_assert(maxabs <= bound);
    tg_free(w);
}
END_TEST

/* ---- bad input ---- */

START_TEST(test_bad_input)
{
    tg_rng rng, unseeded = {0};
    tg_rng_seed(&rng, 0);
    tg_tensor *v = tg_zeros(TG_FLOAT32, TG_SHAPE(4));
    tg_tensor *w = tg_zeros(TG_FLOAT32, TG_SHAPE(3, 4));
    tg_tensor *i = tg_zeros(TG_INT32, TG_SHAPE(3, 4));

    ck_assert_int_eq(tg_init_xavier_uniform(NULL, w, 1), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_init_xavier_uniform: rng is NULL");
    ck_assert_int_eq(tg_init_kaiming_normal(&rng, NULL, 0, TG_FAN_IN, TG_GAIN_RELU),
                     TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_init_kaiming_normal: tensor is NULL");
    ck_assert_int_eq(tg_init_zeros(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_init_zeros: tensor is NULL");
    ck_assert_int_eq(tg_init_orthogonal(&unseeded, w, 1), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_init_orthogonal: rng is not seeded");
    ck_assert_int_eq(tg_init_uniform(&rng, i, 0, 1), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_init_uniform");
    ck_assert_int_eq(tg_init_xavier_normal(&rng, v, 1), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_init_xavier_normal: fan in and fan out need a tensor of 2 "
                                 "or more dimensions, got 1");
    ck_assert_int_eq(tg_init_kaiming_uniform(&rng, v, 0, TG_FAN_IN, TG_GAIN_RELU), TG_ERR_SHAPE);
    ck_assert_int_eq(tg_init_orthogonal(&rng, v, 1), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_init_orthogonal: needs a tensor of 2 or more dimensions");
    ck_assert_int_eq(tg_init_fans(v, &(int64_t){0}, &(int64_t){0}), TG_ERR_SHAPE);
    ck_assert_int_eq(tg_init_fans(w, NULL, &(int64_t){0}), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_init_fans: fan_in is NULL");
    ck_assert_int_eq(tg_init_kaiming_uniform(&rng, w, 0, (tg_fan_mode)7, TG_GAIN_RELU),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "mode 7");
    ck_assert_int_eq(tg_init_kaiming_uniform(&rng, w, 0, TG_FAN_IN, (tg_gain)99), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "unknown nonlinearity 99");
    ck_assert(isnan(tg_init_gain((tg_gain)99, 0)));
    ck_assert(isnan(tg_init_gain(TG_GAIN_LEAKY_RELU, (double)INFINITY)));
    ck_assert_int_eq(tg_init_normal(&rng, w, 0, -1), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_init_normal: std is -1, must be >= 0");
    ck_assert_int_eq(tg_init_uniform(&rng, w, (double)NAN, 1), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_init_uniform: low is nan, must be finite");
    ck_assert_int_eq(tg_init_xavier_uniform(&rng, w, (double)INFINITY), TG_ERR_VALUE);

    /* A broadcast view cannot be written; w is left as it was. */
    tg_tensor *row = tg_zeros(TG_FLOAT32, TG_SHAPE(1, 4));
    tg_tensor *bc = tg_expand(row, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_init_ones(bc), TG_ERR_VALUE);
    ck_assert(tgt_at(row, 0) == 0.0);
    for (int64_t k = 0; k < 12; k++)
        ck_assert(tgt_at(w, k) == 0.0);

    /* Zero elements: left alone, as PyTorch (kaiming even for 1-d). */
    tg_tensor *e = tg_empty(TG_FLOAT64, TG_SHAPE(0, 3));
    ck_assert_int_eq(tg_init_orthogonal(&rng, e, 1), TG_OK);
    ck_assert_int_eq(tg_init_xavier_uniform(&rng, e, 1), TG_OK);
    tg_tensor *e1 = tg_empty(TG_FLOAT64, TG_SHAPE(0));
    ck_assert_int_eq(tg_init_kaiming_uniform(&rng, e1, 0, TG_FAN_IN, TG_GAIN_RELU), TG_OK);
    tg_free(e1);
    tg_free(e);
    tg_free(bc);
    tg_free(row);
    tg_free(i);
    tg_free(w);
    tg_free(v);
}
END_TEST

/* Only orthogonal allocates (its scratch); every other initialiser makes no
 * allocation at all. A failed one reports TG_ERR_NOMEM and leaves the
 * tensor and the generator as they were. */
START_TEST(test_allocation_failures)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_tensor *w = tg_zeros(TG_FLOAT64, TG_SHAPE(5, 3));
    long before = tgt_stats.calls;
    ck_assert_int_eq(tg_init_xavier_uniform(&rng, w, 1), TG_OK);
    ck_assert_int_eq(tg_init_xavier_normal(&rng, w, 1), TG_OK);
    ck_assert_int_eq(tg_init_kaiming_uniform(&rng, w, 0, TG_FAN_IN, TG_GAIN_RELU), TG_OK);
    ck_assert_int_eq(tg_init_kaiming_normal(&rng, w, 0, TG_FAN_OUT, TG_GAIN_TANH), TG_OK);
    ck_assert_int_eq(tg_init_uniform(&rng, w, 0, 1), TG_OK);
    ck_assert_int_eq(tg_init_normal(&rng, w, 0, 1), TG_OK);
    ck_assert_int_eq(tg_init_constant(w, 2), TG_OK);
    ck_assert_int_eq(tgt_stats.calls, before);

    ck_assert_int_eq(tg_init_zeros(w), TG_OK);
    long made = 0;
    for (long k = 1;; k++) {
        tg_rng copy = rng;
        tgt_stats.fail_at = tgt_stats.calls + k;
        int rc = tg_init_orthogonal(&copy, w, 1.0);
        tgt_stats.fail_at = 0;
        if (rc == TG_OK) {
            made = k - 1;
            break;
        }
        ck_assert_int_eq(rc, TG_ERR_NOMEM);
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_init_orthogonal");
        for (int64_t i = 0; i < 15; i++)
            ck_assert(tgt_at(w, i) == 0.0);
        ck_assert(memcmp(&copy, &rng, sizeof rng) == 0);
        ck_assert_int_lt(k, 10);
    }
    ck_assert_int_eq(made, 1);
    assert_orthonormal(w, 1.0, 1e-12);
    tg_free(w);
}
END_TEST

Suite *test_init_suite(void);
Suite *test_init_suite(void)
{
    Suite *s = suite_create("init");
    TCase *tc = tgt_tcase("gains_fans");
    tcase_add_test(tc, test_gains_match_torch);
    tcase_add_test(tc, test_fans_match_torch);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("numpy_values");
    tcase_add_test(tc, test_xavier_uniform_numpy);
    tcase_add_test(tc, test_xavier_normal_numpy);
    tcase_add_test(tc, test_kaiming_uniform_float32_numpy);
    tcase_add_test(tc, test_kaiming_normal_fan_out_numpy);
    tcase_add_test(tc, test_kaiming_leaky_numpy);
    tcase_add_test(tc, test_fill_view_in_c_order);
    tcase_add_test(tc, test_uniform_normal_constants);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("orthogonal");
    tcase_add_test(tc, test_orthogonal_matches_numpy_qr);
    tcase_add_test(tc, test_orthogonal_large_and_float32);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("statistics");
    tcase_add_test(tc, test_statistics_match_torch);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
