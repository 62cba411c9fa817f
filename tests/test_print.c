/* test_print.c - tg_print against NumPy's repr, character for character.
 * The expected strings come from tests/data/make_print_ref.py (NumPy 1.24,
 * default print options); each builder below makes the same array. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>

/* What tg_print writes for t, captured through a temporary file. */
static const char *printed(const tg_tensor *t)
{
    static char buf[1 << 16];
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(tg_print(t, f), TG_OK);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static tg_tensor *vec64(int64_t n, const double *v)
{
    return tg_from_array(TG_FLOAT64, 1, &n, v);
}

/* arange(n) reshaped; the base is released, the view keeps the storage. */
static tg_tensor *arange_shaped(tg_dtype dt, double n, int ndim,
                                const int64_t *shape)
{
    tg_tensor *a = tg_arange(dt, 0, n, 1);
    tg_tensor *r = tg_reshape(a, ndim, shape);
    tg_free(a);
    return r;
}

static tg_tensor *build_arange5(void) { return tg_arange(TG_FLOAT64, 0, 5, 1); }
static tg_tensor *build_linspace5(void) { return tg_linspace(TG_FLOAT64, 0, 1, 5); }
static tg_tensor *build_matrix(void)
{
    return tg_from_array(TG_FLOAT64, TG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
}
static tg_tensor *build_matrix_t(void)
{
    tg_tensor *m = build_matrix();
    tg_tensor *t = tg_transpose(m, 0, 1); /* a strided view */
    tg_free(m);
    return t;
}
static tg_tensor *build_scalar(void) { return tg_scalar(TG_FLOAT64, 3); }
static tg_tensor *build_scalar_f4(void) { return tg_scalar(TG_FLOAT32, 3); }
static tg_tensor *build_scalar_nan(void) { return tg_scalar(TG_FLOAT64, (double)NAN); }
static tg_tensor *build_scalar_small(void) { return tg_scalar(TG_FLOAT64, 1e-5); }
static tg_tensor *build_tenth(void) { return vec64(1, (const double[]){0.1}); }
static tg_tensor *build_tenth_f4(void)
{
    return tg_from_array(TG_FLOAT32, TG_SHAPE(1), (const float[]){0.1f});
}
static tg_tensor *build_small(void) { return vec64(1, (const double[]){1e-5}); }
static tg_tensor *build_big(void) { return vec64(1, (const double[]){1e10}); }
static tg_tensor *build_nonfinite(void)
{
    return vec64(3, (const double[]){(double)NAN, (double)INFINITY, -(double)INFINITY});
}
static tg_tensor *build_one_nan_neginf(void)
{
    return vec64(3, (const double[]){1, (double)NAN, -(double)INFINITY});
}
static tg_tensor *build_mixed_sci(void) { return vec64(2, (const double[]){0.1, 1e-5}); }
static tg_tensor *build_huge_range(void)
{
    return vec64(2, (const double[]){1e-300, 1e300});
}
static tg_tensor *build_signed_zero(void)
{
    return vec64(3, (const double[]){-0.0, 0.0, 1.5});
}
static tg_tensor *build_wide_fixed(void)
{
    return vec64(2, (const double[]){123456.789, 1e-3});
}
static tg_tensor *build_arange3_f4(void) { return tg_arange(TG_FLOAT32, 0, 3, 1); }
/* the shortest digits of a power of two may lie above the nearest ones */
static tg_tensor *build_pow2_f4(void)
{
    return tg_from_array(TG_FLOAT32, TG_SHAPE(1), (const float[]){0x1p-96f});
}
/* every digit down to the units, though 6.710887e7 would read back */
static tg_tensor *build_big_int_f4(void)
{
    return tg_from_array(TG_FLOAT32, TG_SHAPE(2), (const float[]){67108872.0f, 1e5f});
}
/* float32(1e-4) is below the double 1e-4 NumPy compares it with */
static tg_tensor *build_tiny_f4(void)
{
    return tg_from_array(TG_FLOAT32, TG_SHAPE(2), (const float[]){1e-4f, 0.05f});
}
static tg_tensor *build_thirds_f4(void)
{
    return tg_from_array(TG_FLOAT32, TG_SHAPE(4),
                         (const float[]){1.0f / 3, 2.0f / 3, 1e-3f, -5});
}
static tg_tensor *build_sevenths(void)
{
    tg_tensor *a = tg_arange(TG_FLOAT64, 0, 30, 1);
    tg_tensor *s = tg_div_scalar(a, 7);
    tg_free(a);
    return s;
}
static tg_tensor *build_cube(void)
{
    return arange_shaped(TG_FLOAT64, 30, TG_SHAPE(2, 3, 5));
}
static tg_tensor *build_ones4d(void) { return tg_ones(TG_FLOAT64, TG_SHAPE(2, 1, 1, 3)); }
static tg_tensor *build_empty(void) { return tg_zeros(TG_FLOAT64, TG_SHAPE(0)); }
static tg_tensor *build_empty_f4(void) { return tg_zeros(TG_FLOAT32, TG_SHAPE(0)); }
static tg_tensor *build_empty_0x3(void) { return tg_zeros(TG_FLOAT64, TG_SHAPE(0, 3)); }
static tg_tensor *build_empty_2x0x3(void)
{
    return tg_zeros(TG_FLOAT64, TG_SHAPE(2, 0, 3));
}
static tg_tensor *build_long(void) { return tg_arange(TG_FLOAT64, 0, 2000, 1); }
static tg_tensor *build_long_matrix(void)
{
    return arange_shaped(TG_FLOAT64, 2000, TG_SHAPE(40, 50));
}
static tg_tensor *build_long_cube(void)
{
    return arange_shaped(TG_FLOAT64, 1008, TG_SHAPE(7, 2, 72));
}
static tg_tensor *build_dtype_own_line_f4(void)
{
    tg_tensor *a = tg_arange(TG_FLOAT32, 0, 9, 1);
    tg_tensor *m = tg_mul_scalar(a, 1.5);
    tg_free(a);
    return m;
}

static const struct print_case {
    const char *name;
    tg_tensor *(*build)(void);
    const char *want;
} cases[] = {
    {"arange5", build_arange5,
     "array([0., 1., 2., 3., 4.])\n"
    },
    {"linspace5", build_linspace5,
     "array([0.  , 0.25, 0.5 , 0.75, 1.  ])\n"
    },
    {"matrix", build_matrix,
     "array([[1., 2.],\n"
     "       [3., 4.]])\n"
    },
    {"matrix_t", build_matrix_t,
     "array([[1., 3.],\n"
     "       [2., 4.]])\n"
    },
    {"scalar", build_scalar,
     "array(3.)\n"
    },
    {"scalar_f4", build_scalar_f4,
     "array(3., dtype=float32)\n"
    },
    {"scalar_nan", build_scalar_nan,
     "array(nan)\n"
    },
    {"scalar_small", build_scalar_small,
     "array(1.e-05)\n"
    },
    {"tenth", build_tenth,
     "array([0.1])\n"
    },
    {"tenth_f4", build_tenth_f4,
     "array([0.1], dtype=float32)\n"
    },
    {"small", build_small,
     "array([1.e-05])\n"
    },
    {"big", build_big,
     "array([1.e+10])\n"
    },
    {"nonfinite", build_nonfinite,
     "array([ nan,  inf, -inf])\n"
    },
    {"one_nan_neginf", build_one_nan_neginf,
     "array([  1.,  nan, -inf])\n"
    },
    {"mixed_sci", build_mixed_sci,
     "array([1.e-01, 1.e-05])\n"
    },
    {"huge_range", build_huge_range,
     "array([1.e-300, 1.e+300])\n"
    },
    {"signed_zero", build_signed_zero,
     "array([-0. ,  0. ,  1.5])\n"
    },
    {"wide_fixed", build_wide_fixed,
     "array([1.23456789e+05, 1.00000000e-03])\n"
    },
    {"arange3_f4", build_arange3_f4,
     "array([0., 1., 2.], dtype=float32)\n"
    },
    {"pow2_f4", build_pow2_f4,
     "array([1.2621775e-29], dtype=float32)\n"
    },
    {"big_int_f4", build_big_int_f4,
     "array([67108872.,   100000.], dtype=float32)\n"
    },
    {"tiny_f4", build_tiny_f4,
     "array([1.e-04, 5.e-02], dtype=float32)\n"
    },
    {"thirds_f4", build_thirds_f4,
     "array([ 3.3333334e-01,  6.6666669e-01,  1.0000000e-03, -5.0000000e+00],\n"
     "      dtype=float32)\n"
    },
    {"sevenths", build_sevenths,
     "array([0.        , 0.14285714, 0.28571429, 0.42857143, 0.57142857,\n"
     "       0.71428571, 0.85714286, 1.        , 1.14285714, 1.28571429,\n"
     "       1.42857143, 1.57142857, 1.71428571, 1.85714286, 2.        ,\n"
     "       2.14285714, 2.28571429, 2.42857143, 2.57142857, 2.71428571,\n"
     "       2.85714286, 3.        , 3.14285714, 3.28571429, 3.42857143,\n"
     "       3.57142857, 3.71428571, 3.85714286, 4.        , 4.14285714])\n"
    },
    {"cube", build_cube,
     "array([[[ 0.,  1.,  2.,  3.,  4.],\n"
     "        [ 5.,  6.,  7.,  8.,  9.],\n"
     "        [10., 11., 12., 13., 14.]],\n"
     "\n"
     "       [[15., 16., 17., 18., 19.],\n"
     "        [20., 21., 22., 23., 24.],\n"
     "        [25., 26., 27., 28., 29.]]])\n"
    },
    {"ones4d", build_ones4d,
     "array([[[[1., 1., 1.]]],\n"
     "\n"
     "\n"
     "       [[[1., 1., 1.]]]])\n"
    },
    {"empty", build_empty,
     "array([], dtype=float64)\n"
    },
    {"empty_f4", build_empty_f4,
     "array([], dtype=float32)\n"
    },
    {"empty_0x3", build_empty_0x3,
     "array([], shape=(0, 3), dtype=float64)\n"
    },
    {"empty_2x0x3", build_empty_2x0x3,
     "array([], shape=(2, 0, 3), dtype=float64)\n"
    },
    {"long", build_long,
     "array([0.000e+00, 1.000e+00, 2.000e+00, ..., 1.997e+03, 1.998e+03,\n"
     "       1.999e+03])\n"
    },
    {"long_matrix", build_long_matrix,
     "array([[0.000e+00, 1.000e+00, 2.000e+00, ..., 4.700e+01, 4.800e+01,\n"
     "        4.900e+01],\n"
     "       [5.000e+01, 5.100e+01, 5.200e+01, ..., 9.700e+01, 9.800e+01,\n"
     "        9.900e+01],\n"
     "       [1.000e+02, 1.010e+02, 1.020e+02, ..., 1.470e+02, 1.480e+02,\n"
     "        1.490e+02],\n"
     "       ...,\n"
     "       [1.850e+03, 1.851e+03, 1.852e+03, ..., 1.897e+03, 1.898e+03,\n"
     "        1.899e+03],\n"
     "       [1.900e+03, 1.901e+03, 1.902e+03, ..., 1.947e+03, 1.948e+03,\n"
     "        1.949e+03],\n"
     "       [1.950e+03, 1.951e+03, 1.952e+03, ..., 1.997e+03, 1.998e+03,\n"
     "        1.999e+03]])\n"
    },
    {"long_cube", build_long_cube,
     "array([[[0.000e+00, 1.000e+00, 2.000e+00, ..., 6.900e+01, 7.000e+01,\n"
     "         7.100e+01],\n"
     "        [7.200e+01, 7.300e+01, 7.400e+01, ..., 1.410e+02, 1.420e+02,\n"
     "         1.430e+02]],\n"
     "\n"
     "       [[1.440e+02, 1.450e+02, 1.460e+02, ..., 2.130e+02, 2.140e+02,\n"
     "         2.150e+02],\n"
     "        [2.160e+02, 2.170e+02, 2.180e+02, ..., 2.850e+02, 2.860e+02,\n"
     "         2.870e+02]],\n"
     "\n"
     "       [[2.880e+02, 2.890e+02, 2.900e+02, ..., 3.570e+02, 3.580e+02,\n"
     "         3.590e+02],\n"
     "        [3.600e+02, 3.610e+02, 3.620e+02, ..., 4.290e+02, 4.300e+02,\n"
     "         4.310e+02]],\n"
     "\n"
     "       ...,\n"
     "\n"
     "       [[5.760e+02, 5.770e+02, 5.780e+02, ..., 6.450e+02, 6.460e+02,\n"
     "         6.470e+02],\n"
     "        [6.480e+02, 6.490e+02, 6.500e+02, ..., 7.170e+02, 7.180e+02,\n"
     "         7.190e+02]],\n"
     "\n"
     "       [[7.200e+02, 7.210e+02, 7.220e+02, ..., 7.890e+02, 7.900e+02,\n"
     "         7.910e+02],\n"
     "        [7.920e+02, 7.930e+02, 7.940e+02, ..., 8.610e+02, 8.620e+02,\n"
     "         8.630e+02]],\n"
     "\n"
     "       [[8.640e+02, 8.650e+02, 8.660e+02, ..., 9.330e+02, 9.340e+02,\n"
     "         9.350e+02],\n"
     "        [9.360e+02, 9.370e+02, 9.380e+02, ..., 1.005e+03, 1.006e+03,\n"
     "         1.007e+03]]])\n"
    },
    {"dtype_own_line_f4", build_dtype_own_line_f4,
     "array([ 0. ,  1.5,  3. ,  4.5,  6. ,  7.5,  9. , 10.5, 12. ],\n"
     "      dtype=float32)\n"
    },
};

START_TEST(test_matches_numpy)
{
    const struct print_case *c = &cases[_i];
    tg_tensor *t = c->build();
    ck_assert_msg(t != NULL, "%s: %s", c->name, tg_last_message());
    const char *got = printed(t);
    ck_assert_msg(strcmp(got, c->want) == 0, "%s:\nwant:\n%sgot:\n%s", c->name,
                  c->want, got);
    tg_free(t);
}
END_TEST

/* NumPy summarises above 1000 elements, not at 1000. */
START_TEST(test_threshold)
{
    tg_tensor *at = tg_arange(TG_FLOAT64, 0, 1000, 1);
    tg_tensor *over = tg_arange(TG_FLOAT64, 0, 1001, 1);
    const char *s = printed(at);
    ck_assert_ptr_null(strstr(s, "..."));
    ck_assert_ptr_nonnull(strstr(s, " 998., 999.])\n"));
    s = printed(over);
    ck_assert_str_eq(s, "array([   0.,    1.,    2., ...,  998.,  999., 1000.])\n");
    tg_free(at);
    tg_free(over);
}
END_TEST

/* A strided view prints its own elements, summarised the same way as a
 * contiguous tensor holding them. */
START_TEST(test_strided_view_matches_copy)
{
    tg_tensor *a = tg_arange(TG_FLOAT32, 0, 4002, 1);
    tg_tensor *view = tg_slice(a, 0, 4001, TG_NONE, -2); /* 4001, 3999, ..., 1 */
    tg_tensor *same = tg_arange(TG_FLOAT32, 4001, 0, -2);
    ck_assert_ptr_nonnull(view);
    ck_assert_ptr_nonnull(same);
    ck_assert_int_eq(tg_numel(view), 2001);
    char want[4096];
    snprintf(want, sizeof want, "%s", printed(same));
    ck_assert_str_eq(printed(view), want);
    ck_assert_str_eq(want, "array([4.001e+03, 3.999e+03, 3.997e+03, ..., "
                           "5.000e+00, 3.000e+00,\n"
                           "       1.000e+00], dtype=float32)\n");
    tg_free(same);
    tg_free(view);
    tg_free(a);
}
END_TEST

START_TEST(test_null_arguments)
{
    tg_tensor *t = tg_scalar(TG_FLOAT64, 1);
    ck_assert_int_eq(tg_print(NULL, stdout), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_print: tensor is NULL");
    ck_assert_int_eq(tg_print(t, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_print: FILE is NULL");
    tg_free(t);
}
END_TEST

/* A stream that refuses writes makes tg_print fail with TG_ERR_IO. */
START_TEST(test_write_error)
{
    tg_tensor *t = tg_arange(TG_FLOAT64, 0, 5, 1);
    FILE *ro = tmpfile();
    ck_assert_ptr_nonnull(ro);
    FILE *f = freopen(NULL, "r", ro); /* same file, now read-only */
    if (!f) {
        tg_free(t);
        return; /* the platform cannot reopen a tmpfile: nothing to test */
    }
    ck_assert_int_eq(tg_print(t, f), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_print: writing the tensor failed");
    fclose(f);
    tg_free(t);
}
END_TEST

Suite *test_print_suite(void); /* called by the generated runner */

Suite *test_print_suite(void)
{
    Suite *s = suite_create("print");
    TCase *tc = tgt_tcase("numpy_repr");
    tcase_add_loop_test(tc, test_matches_numpy, 0,
                        (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_threshold);
    tcase_add_test(tc, test_strided_view_matches_copy);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_write_error);
    suite_add_tcase(s, tc);
    return s;
}
