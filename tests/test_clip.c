/* test_clip.c - gradient clipping: tg_clip_grad_norm (2, inf and 1 norms,
 * below, at and above max_norm) and tg_clip_grad_value against
 * torch.nn.utils (tests/data/make_optim_ref.py, 1e-12 relative), the
 * returned total norm, what takes part (no gradient, buffers), NaN and
 * infinite gradients, no allocation, and every bad argument. */
#include "helpers.h"

#include <math.h>

#include "tensor/internal.h"

#include "data/optim_ref.inc"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32

static void assert_rel(double got, double want, double rtol, const char *what, int i)
{
    double err = fabs(got - want), lim = rtol * fabs(want);
    ck_assert_msg(err <= lim, "%s [%d]: got %.17g, want %.17g (err %.3g)", what, i, got,
                  want, err);
}

/* Sets p's gradient to the n values g exactly, through a backward of
 * sum(p * g). */
static void set_grad(tg_tensor *p, const double *g)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *c = tg_from_array(F64, tg_ndim(p), tg_shape(p), g);
    tg_tensor *cc = tg_cast(c, tg_dtype_of(p));
    ck_assert_int_eq(tg_zero_grad(p), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, p, cc))), TG_OK);
    tg_free(c);
    tg_free(cc);
    tg_tape_free(T);
}

/* a (3,) and b (2, 2) holding make_optim_ref.py's CLIP_A and CLIP_B as
 * gradients, in the list ps. */
static void make_pair(tg_params *ps, tg_dtype dt, tg_tensor **a, tg_tensor **b)
{
    memset(ps, 0, sizeof *ps);
    *a = tg_zeros(dt, TG_SHAPE(3));
    *b = tg_zeros(dt, TG_SHAPE(2, 2));
    ck_assert_int_eq(tg_params_add(ps, "a", *a), TG_OK);
    ck_assert_int_eq(tg_params_add(ps, "b", *b), TG_OK);
    set_grad(*a, ref_clip_a);
    set_grad(*b, ref_clip_b);
}

START_TEST(test_clip_norm_against_torch)
{
    const ref_clip_case *c = &ref_clip_norm[_i];
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = k ? F32 : F64;
        double rtol = k ? 1e-6 : 1e-12;
        tg_params ps;
        tg_tensor *a, *b;
        make_pair(&ps, dt, &a, &b);
        double total = 0;
        long allocs = tgt_stats.allocs, calls = tgt_stats.calls;
        ck_assert_int_eq(tg_clip_grad_norm(&ps, c->max_norm, c->norm_type, &total), TG_OK);
        ck_assert_int_eq(tgt_stats.allocs, allocs); /* nothing allocated */
        ck_assert_int_eq(tgt_stats.calls, calls);
        assert_rel(total, c->total, rtol, c->name, -1);
        for (int i = 0; i < 3; i++)
            assert_rel(tgt_at(tg_grad(a), i), c->a[i], rtol, c->name, i);
        for (int i = 0; i < 4; i++)
            assert_rel(tgt_at(tg_grad(b), i), c->b[i], rtol, c->name, 3 + i);
        tg_free(a);
        tg_free(b);
    }
}
END_TEST

START_TEST(test_clip_norm_by_hand)
{
    /* The 2-norm worked by hand: sqrt of the sum of squares of all seven
     * numbers; after clipping to max_norm the norm is max_norm * total /
     * (total + 1e-6). */
    double ss = 0;
    for (int i = 0; i < 3; i++)
        ss += ref_clip_a[i] * ref_clip_a[i];
    for (int i = 0; i < 4; i++)
        ss += ref_clip_b[i] * ref_clip_b[i];
    tg_params ps;
    tg_tensor *a, *b;
    make_pair(&ps, F64, &a, &b);
    double total = 0, again = 0;
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 0.5, 2.0, &total), TG_OK);
    assert_rel(total, sqrt(ss), 1e-15, "total", 0);
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 100.0, 2.0, &again), TG_OK);
    assert_rel(again, 0.5 * total / (total + 1e-6), 1e-14, "clipped", 0);
    /* max_norm 0 zeroes every gradient; NULL total_norm is allowed */
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 0.0, 2.0, NULL), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(b), 3), 0.0);
    tg_free(a);
    tg_free(b);
}
END_TEST

START_TEST(test_clip_value_against_torch)
{
    for (int k = 0; k < 2; k++) {
        tg_dtype dt = k ? F32 : F64;
        tg_params ps;
        tg_tensor *a, *b;
        make_pair(&ps, dt, &a, &b);
        long allocs = tgt_stats.allocs;
        ck_assert_int_eq(tg_clip_grad_value(&ps, 0.6), TG_OK);
        ck_assert_int_eq(tgt_stats.allocs, allocs);
        double rtol = k ? 1e-7 : 0.0;
        for (int i = 0; i < 3; i++)
            assert_rel(tgt_at(tg_grad(a), i), ref_clip_value_a[i], rtol, "value a", i);
        for (int i = 0; i < 4; i++)
            assert_rel(tgt_at(tg_grad(b), i), ref_clip_value_b[i], rtol, "value b", i);
        /* an infinite clip value changes nothing */
        ck_assert_int_eq(tg_clip_grad_value(&ps, (double)INFINITY), TG_OK);
        assert_rel(tgt_at(tg_grad(b), 0), ref_clip_value_b[0], rtol, "inf", 0);
        tg_free(a);
        tg_free(b);
    }
}
END_TEST

START_TEST(test_clip_what_takes_part)
{
    /* A parameter without a gradient and a buffer are left out of the
     * norm and never written; with no gradient at all the total is 0. */
    tg_params ps = {0};
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(3));
    tg_tensor *idle = tg_zeros(F64, TG_SHAPE(2));
    tg_tensor *buf = tg_full(F64, TG_SHAPE(2), 100.0);
    ck_assert_int_eq(tg_params_add(&ps, "idle", idle), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "a", a), TG_OK);
    ck_assert_int_eq(tg_params_add_buffer(&ps, "buf", buf), TG_OK);
    double total = -1;
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 1.0, 2.0, &total), TG_OK);
    ck_assert_double_eq(total, 0.0);
    set_grad(a, (const double[]){3.0, 0.0, -4.0});
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 1.0, 2.0, &total), TG_OK);
    ck_assert_double_eq(total, 5.0);
    assert_rel(tgt_at(tg_grad(a), 0), 3.0 / (5.0 + 1e-6), 1e-15, "a", 0);
    ck_assert_ptr_null(tg_grad(idle));
    ck_assert_ptr_null(tg_grad(buf));
    ck_assert_int_eq(tg_clip_grad_value(&ps, 0.1), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(a), 2), -0.1);
    ck_assert_double_eq(tgt_at(buf, 0), 100.0);
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 1.0, (double)INFINITY, &total), TG_OK);
    ck_assert_double_eq(total, 0.1);
    tg_free(a);
    tg_free(idle);
    tg_free(buf);
}
END_TEST

START_TEST(test_clip_nonfinite)
{
    /* As PyTorch without error_if_nonfinite: a NaN gradient makes the
     * total NaN and every gradient NaN; an infinite one makes the total
     * infinite and the coefficient 0 (inf * 0 = NaN there). */
    tg_params ps;
    tg_tensor *a, *b;
    make_pair(&ps, F64, &a, &b);
    tg_tensor *ga = tg_grad(a);
    ((double *)tg_data(ga))[1] = (double)NAN;
    double total = 0;
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 1.0, 2.0, &total), TG_OK);
    ck_assert(isnan(total));
    ck_assert(isnan(tgt_at(tg_grad(b), 0)));
    ck_assert_int_eq(tg_clip_grad_value(&ps, 1.0), TG_OK);
    ck_assert(isnan(tgt_at(ga, 1))); /* NaN stays NaN */
    set_grad(a, (const double[]){1.0, 1.0, 1.0});
    set_grad(b, ref_clip_b);
    ((double *)tg_data(tg_grad(a)))[0] = (double)INFINITY;
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 1.0, (double)INFINITY, &total), TG_OK);
    ck_assert(isinf(total));
    ck_assert(isnan(tgt_at(tg_grad(a), 0)));
    ck_assert_double_eq(tgt_at(tg_grad(a), 1), 0.0);
    tg_free(a);
    tg_free(b);
}
END_TEST

START_TEST(test_clip_errors)
{
    tg_params ps;
    tg_tensor *a, *b;
    make_pair(&ps, F64, &a, &b);
    double total = 0;
    ck_assert_int_eq(tg_clip_grad_norm(NULL, 1.0, 2.0, &total), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_clip_grad_norm: parameter list is NULL");
    ck_assert(isnan(total));
    ck_assert_int_eq(tg_clip_grad_norm(&ps, -1.0, 2.0, &total), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_clip_grad_norm: max_norm = -1 must be finite and >= 0");
    ck_assert_int_eq(tg_clip_grad_norm(&ps, (double)NAN, 2.0, NULL), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "max_norm = nan");
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 1.0, 0.0, NULL), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_clip_grad_norm: norm_type = 0 must be > 0");
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 1.0, -(double)INFINITY, NULL), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "norm_type = -inf");
    ck_assert_int_eq(tg_clip_grad_value(NULL, 1.0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_clip_grad_value: parameter list is NULL");
    ck_assert_int_eq(tg_clip_grad_value(&ps, -0.5), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_clip_grad_value: clip_value = -0.5 must be >= 0");
    ck_assert_int_eq(tg_clip_grad_value(&ps, (double)NAN), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "clip_value = nan");
    /* a broken list is refused before anything is written */
    ps.count = 99;
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 0.0, 2.0, NULL), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "count 99");
    ps.count = 2;
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(tg_grad(a), i), ref_clip_a[i]);
    tg_free(a);
    tg_free(b);
}
END_TEST

Suite *test_clip_suite(void); /* called by the generated runner */
Suite *test_clip_suite(void)
{
    Suite *s = suite_create("clip");
    TCase *tc = tgt_tcase("against torch");
    tcase_add_loop_test(tc, test_clip_norm_against_torch, 0,
                        (int)(sizeof ref_clip_norm / sizeof *ref_clip_norm));
    tcase_add_test(tc, test_clip_norm_by_hand);
    tcase_add_test(tc, test_clip_value_against_torch);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("edges and errors");
    tcase_add_test(tc, test_clip_what_takes_part);
    tcase_add_test(tc, test_clip_nonfinite);
    tcase_add_test(tc, test_clip_errors);
    suite_add_tcase(s, tc);
    return s;
}
