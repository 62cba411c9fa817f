/* test_sched.c - learning-rate schedules: every schedule's lr at steps
 * 0..N against torch.optim.lr_scheduler's (tests/data/make_sched_ref.py,
 * 1e-12 relative), schedules applied to parameter groups and to a running
 * optimiser, and every bad argument. */
#include "helpers.h"

#include <math.h>

#include "data/sched_ref.inc"

#define NSTEPS(a) ((int64_t)(sizeof(a) / sizeof *(a)))

/* |got - want| <= 1e-12 |want|, or within 1e-17 of a zero want. */
static void assert_lr(double got, double want, const char *what, int64_t step)
{
    double err = fabs(got - want), lim = 1e-12 * fabs(want) + 1e-17;
    ck_assert_msg(err <= lim, "%s step %lld: got %.17g, want %.17g (err %.3g)", what,
                  (long long)step, got, want, err);
}

static void check_against(const tg_lr_schedule *s, const double *ref, int64_t n,
                          const char *what)
{
    for (int64_t t = 0; t < n; t++)
        assert_lr(tg_lr_at(s, REF_SCHED_BASE, t), ref[t], what, t);
}

/* ---- against PyTorch ---------------------------------------------------------- */

START_TEST(test_step_multi_step_exponential)
{
    tg_lr_schedule s;
    ck_assert_int_eq(tg_lr_step(&s, 3, 0.5), TG_OK);
    check_against(&s, ref_sched_step, NSTEPS(ref_sched_step), "step");
    ck_assert_int_eq(tg_lr_multi_step(&s, 4, (const int64_t[]){9, 5, 2, 5}, 0.3), TG_OK);
    check_against(&s, ref_sched_multi_step, NSTEPS(ref_sched_multi_step), "multi-step");
    ck_assert_int_eq(tg_lr_exponential(&s, 0.9), TG_OK);
    check_against(&s, ref_sched_exponential, NSTEPS(ref_sched_exponential), "exponential");
    ck_assert_int_eq(tg_lr_constant(&s), TG_OK);
    ck_assert_double_eq(tg_lr_at(&s, 0.3, 1000000), 0.3);
}
END_TEST

START_TEST(test_cosine)
{
    tg_lr_schedule s;
    ck_assert_int_eq(tg_lr_cosine(&s, 10, 1e-3), TG_OK);
    check_against(&s, ref_sched_cosine, NSTEPS(ref_sched_cosine), "cosine");
    ck_assert_double_eq(tg_lr_at(&s, 0.1, 10), 1e-3); /* eta_min at t_max */
    ck_assert_int_eq(tg_lr_cosine(&s, 7, 0.0), TG_OK);
    check_against(&s, ref_sched_cosine_zero, NSTEPS(ref_sched_cosine_zero), "cosine 0");
    ck_assert_double_eq(tg_lr_at(&s, 0.1, 7), 0.0);
}
END_TEST

START_TEST(test_linear_and_warmup_cosine)
{
    tg_lr_schedule s;
    ck_assert_int_eq(tg_lr_linear(&s, 0.25, 1.0, 6), TG_OK);
    check_against(&s, ref_sched_linear_warmup, NSTEPS(ref_sched_linear_warmup), "warm-up");
    ck_assert_int_eq(tg_lr_linear(&s, 1.0, 0.1, 8), TG_OK);
    check_against(&s, ref_sched_linear_decay, NSTEPS(ref_sched_linear_decay), "decay");
    ck_assert_int_eq(tg_lr_warmup_cosine(&s, 0.1, 5, 15, 1e-4), TG_OK);
    check_against(&s, ref_sched_warmup_cosine, NSTEPS(ref_sched_warmup_cosine),
                  "warm-up cosine");
    /* A warm-up from 0, which PyTorch's LinearLR refuses, is fine here. */
    ck_assert_int_eq(tg_lr_warmup_cosine(&s, 0.0, 4, 10, 0.0), TG_OK);
    ck_assert_double_eq(tg_lr_at(&s, 1.0, 0), 0.0);
    ck_assert_double_eq(tg_lr_at(&s, 1.0, 2), 0.5);
    ck_assert_double_eq(tg_lr_at(&s, 1.0, 4), 1.0);
}
END_TEST

START_TEST(test_one_cycle)
{
    tg_lr_schedule s;
    ck_assert_int_eq(tg_lr_one_cycle(&s, 30), TG_OK);
    ck_assert_double_eq(s.pct_start, 0.3);
    ck_assert_double_eq(s.div_factor, 25.0);
    ck_assert_double_eq(s.final_div_factor, 1e4);
    check_against(&s, ref_sched_one_cycle, NSTEPS(ref_sched_one_cycle), "one-cycle");
    assert_lr(tg_lr_at(&s, 0.1, 0), 0.1 / 25, "start", 0);
    ck_assert_int_eq(tg_lr_one_cycle_ex(&s, 40, 0.25, 10, 100), TG_OK);
    check_against(&s, ref_sched_one_cycle_ex, NSTEPS(ref_sched_one_cycle_ex), "one-cycle ex");
    assert_lr(tg_lr_at(&s, 0.1, 39), 0.1 / 10 / 100, "end", 39);
    /* PyTorch refuses a step past total_steps; so does tg_lr_at. */
    ck_assert(isnan(tg_lr_at(&s, 0.1, 41)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_at: step 41 is past the one-cycle schedule's total_steps 40");
}
END_TEST

/* ---- applied to groups and optimisers ---------------------------------------------- */

START_TEST(test_apply_to_groups)
{
    /* Two groups, lr 0.1 and 0.02, under one warm-up cosine: each scaled
     * from its own initial lr, eta_min shared, as PyTorch's. Steps in any
     * order give the same values (a pure function). */
    tg_params ps = {0};
    tg_tensor *w = tg_zeros(TG_FLOAT64, TG_SHAPE(2));
    tg_tensor *b = tg_zeros(TG_FLOAT64, TG_SHAPE(2));
    ck_assert_int_eq(tg_params_add(&ps, "w", w), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "b", b), TG_OK);
    tg_sgd o;
    ck_assert_int_eq(tg_sgd_init(&o, &ps, REF_SCHED_BASE, 0.0, 0.0, false), TG_OK);
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "b", 0.02, 0.0), TG_OK);
    tg_lr_schedule s;
    ck_assert_int_eq(tg_lr_warmup_cosine(&s, 0.1, 5, 15, 1e-4), TG_OK);
    int64_t n = NSTEPS(ref_sched_groups);
    long allocs = tgt_stats.allocs;
    for (int64_t k = 0; k < n; k++) {
        int64_t t = (k * 7) % n; /* 0, 7, 14, ...: every step once, out of order */
        ck_assert_int_eq(tg_lr_apply(&s, t, &o.groups), TG_OK);
        assert_lr(o.groups.lr[0], ref_sched_groups[t][0], "group 0", t);
        assert_lr(o.groups.lr[1], ref_sched_groups[t][1], "group 1", t);
        ck_assert_double_eq(o.groups.initial_lr[1], 0.02);
    }
    ck_assert_int_eq(tgt_stats.allocs, allocs);
    tg_sgd_free(&o);
    tg_free(w);
    tg_free(b);
}
END_TEST

START_TEST(test_apply_drives_the_optimiser)
{
    /* SGD on p with gradient 1 under a step schedule: each step moves p by
     * the schedule's lr, and opt.lr follows group 0. */
    tg_params ps = {0};
    tg_tensor *p = tg_zeros(TG_FLOAT64, TG_SHAPE(1));
    ck_assert_int_eq(tg_params_add(&ps, "p", p), TG_OK);
    tg_sgd o;
    ck_assert_int_eq(tg_sgd_init(&o, &ps, 1.0, 0.0, 0.0, false), TG_OK);
    tg_lr_schedule s;
    ck_assert_int_eq(tg_lr_step(&s, 2, 0.5), TG_OK);
    tg_tape *T = tg_tape_new();
    double want = 0.0;
    for (int64_t t = 0; t < 6; t++) {
        ck_assert_int_eq(tg_lr_apply(&s, t, &o.groups), TG_OK);
        tg_tape_reset(T);
        ck_assert_int_eq(tg_params_zero_grad(&ps), TG_OK);
        ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, p)), TG_OK);
        ck_assert_int_eq(tg_sgd_step(&o), TG_OK);
        want -= tg_lr_at(&s, 1.0, t);
        ck_assert_double_eq(tgt_at(p, 0), want);
        ck_assert_double_eq(o.lr, tg_lr_at(&s, 1.0, t));
    }
    ck_assert_double_eq(want, -(1 + 1 + 0.5 + 0.5 + 0.25 + 0.25));
    tg_tape_free(T);
    tg_sgd_free(&o);
    tg_free(p);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

START_TEST(test_constructor_errors)
{
    tg_lr_schedule s;
    ck_assert_int_eq(tg_lr_step(NULL, 3, 0.5), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_lr_step: schedule is NULL");
    ck_assert_int_eq(tg_lr_constant(NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_lr_step(&s, 0, 0.5), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_step: step_size = 0 must be >= 1");
    ck_assert_int_eq(s.kind, TG_LR_CONSTANT); /* left constant */
    ck_assert_int_eq(tg_lr_step(&s, 2, -0.5), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "gamma = -0.5 must be finite and >= 0");
    ck_assert_int_eq(tg_lr_exponential(&s, (double)NAN), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_exponential: gamma = nan");
    ck_assert_int_eq(tg_lr_multi_step(&s, 0, (const int64_t[]){1}, 0.5), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_multi_step: 0 milestones; between 1 and 16");
    ck_assert_int_eq(tg_lr_multi_step(&s, 17, (const int64_t[17]){1}, 0.5), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "17 milestones");
    ck_assert_int_eq(tg_lr_multi_step(&s, 2, (const int64_t[]){3, -1}, 0.5), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "milestone 1 is -1; it must be >= 0");
    ck_assert_int_eq(tg_lr_multi_step(&s, 2, NULL, 0.5), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_lr_multi_step: milestones is NULL");
    ck_assert_int_eq(tg_lr_cosine(&s, 0, 0.0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_cosine: t_max = 0 must be >= 1");
    ck_assert_int_eq(tg_lr_cosine(&s, 10, -1e-3), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "eta_min = -0.001 must be finite and >= 0");
    ck_assert_int_eq(tg_lr_linear(&s, 1.5, 1.0, 5), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_linear: start_factor = 1.5 is outside [0, 1]");
    ck_assert_int_eq(tg_lr_linear(&s, 0.5, -1.0, 5), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "end_factor = -1 is outside [0, 1]");
    ck_assert_int_eq(tg_lr_linear(&s, 0.5, 1.0, 0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "total_iters = 0 must be >= 1");
    ck_assert_int_eq(tg_lr_warmup_cosine(&s, 0.1, 0, 10, 0.0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_warmup_cosine: warmup_iters = 0 must be >= 1");
    ck_assert_int_eq(tg_lr_warmup_cosine(&s, 0.1, 5, -2, 0.0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "t_max = -2 must be >= 1");
    ck_assert_int_eq(tg_lr_one_cycle(&s, 0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_one_cycle: total_steps = 0 must be >= 1");
    ck_assert_int_eq(tg_lr_one_cycle(&s, 3), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "pct_start * total_steps = 0.9 leaves the warm-up phase no step");
    ck_assert_int_eq(tg_lr_one_cycle_ex(&s, 100, 1.0, 25, 1e4), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "pct_start = 1 is outside (0, 1)");
    ck_assert_int_eq(tg_lr_one_cycle_ex(&s, 100, 0.3, 0.0, 1e4), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "div_factor = 0 must be finite and > 0");
    ck_assert_int_eq(tg_lr_one_cycle_ex(&s, 100, 0.3, 25, (double)INFINITY), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "final_div_factor = inf");
}
END_TEST

START_TEST(test_at_and_apply_errors)
{
    tg_lr_schedule s;
    ck_assert_int_eq(tg_lr_cosine(&s, 10, 0.0), TG_OK);
    ck_assert(isnan(tg_lr_at(NULL, 0.1, 0)));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_lr_at: schedule is NULL");
    ck_assert(isnan(tg_lr_at(&s, 0.1, -1)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_at: step -1 is negative");
    ck_assert(isnan(tg_lr_at(&s, -0.1, 0)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_at: base_lr = -0.1 must be finite and >= 0");
    ck_assert(isnan(tg_lr_at(&s, (double)INFINITY, 0)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "base_lr = inf");
    /* a schedule filled in by hand is checked too */
    tg_lr_schedule bad = s;
    bad.t_max = 0;
    ck_assert(isnan(tg_lr_at(&bad, 0.1, 0)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_at: t_max = 0 must be >= 1");
    bad.kind = (tg_lr_kind)42;
    ck_assert(isnan(tg_lr_at(&bad, 0.1, 0)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "unknown schedule kind 42");
    bad = s;
    bad.kind = TG_LR_WARMUP_COSINE;
    bad.start_factor = 0.5;
    bad.total_iters = 3;
    bad.end_factor = 0.5;
    ck_assert(isnan(tg_lr_at(&bad, 0.1, 0)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "end_factor = 0.5; a warm-up ends at factor 1");

    tg_params ps = {0};
    tg_tensor *w = tg_zeros(TG_FLOAT64, TG_SHAPE(2));
    ck_assert_int_eq(tg_params_add(&ps, "w", w), TG_OK);
    tg_adam o;
    ck_assert_int_eq(tg_adam_init(&o, &ps, 0.1, 0.9, 0.999, 1e-8, 0, false), TG_OK);
    ck_assert_int_eq(tg_lr_apply(&s, 0, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_lr_apply: parameter groups are NULL");
    ck_assert_int_eq(tg_lr_apply(NULL, 0, &o.groups), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_lr_apply: schedule is NULL");
    ck_assert_int_eq(tg_lr_apply(&s, -3, &o.groups), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_apply: step -3 is negative");
    o.groups.initial_lr[0] = (double)NAN;
    ck_assert_int_eq(tg_lr_apply(&s, 3, &o.groups), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "group 0 has initial_lr = nan");
    ck_assert_double_eq(o.groups.lr[0], 0.1); /* unchanged */
    tg_adam_free(&o);
    ck_assert_int_eq(tg_lr_apply(&s, 0, &o.groups), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_lr_apply: parameter groups are not initialised");
    tg_free(w);
}
END_TEST

Suite *test_sched_suite(void); /* called by the generated runner */
Suite *test_sched_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tgt_tcase("against torch");
    tcase_add_test(tc, test_step_multi_step_exponential);
    tcase_add_test(tc, test_cosine);
    tcase_add_test(tc, test_linear_and_warmup_cosine);
    tcase_add_test(tc, test_one_cycle);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("applied");
    tcase_add_test(tc, test_apply_to_groups);
    tcase_add_test(tc, test_apply_drives_the_optimiser);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_constructor_errors);
    tcase_add_test(tc, test_at_and_apply_errors);
    suite_add_tcase(s, tc);
    return s;
}
