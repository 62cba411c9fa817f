/* test_optim.c - SGD (plain, momentum, Nesterov with weight decay) and
 * Adam / AdamW: three steps on a 3-element parameter with fixed gradients,
 * compared with the formulas worked by hand here and with torch.optim's
 * own numbers (tests/data/make_optim_ref.py); the steps' in-place contract
 * (no allocation, version bump, skipped parameters) and every error.
 * RMSprop and Adagrad take six steps against PyTorch, and so does each
 * optimiser with two parameter groups. */
#include "helpers.h"

#include <math.h>

#include "tensor/internal.h"

#include "data/optim_ref.inc"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32

/* ---- helpers --------------------------------------------------------------- */

static void assert_rel(double got, double want, double rtol, const char *what,
                       int step, int i)
{
    double err = fabs(got - want), lim = rtol * fabs(want);
    ck_assert_msg(err <= lim, "%s step %d [%d]: got %.17g, want %.17g (err %.3g)",
                  what, step, i, got, want, err);
}

static double scalar_value(const tg_tensor *t)
{
    double v = (double)NAN;
    ck_assert_int_eq(tg_item(t, &v), TG_OK);
    return v;
}

/* Sets p's gradient to g exactly, through a real backward of sum(p * g). */
static void set_grad(tg_tensor *p, const double *g)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *c = tg_from_array(F64, TG_SHAPE(3), g);
    tg_tensor *cc = tg_cast(c, tg_dtype_of(p));
    ck_assert_int_eq(tg_zero_grad(p), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, p, cc))), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(tg_grad(p), i),
                            tg_dtype_of(p) == F64 ? g[i] : (double)(float)g[i]);
    tg_free(c);
    tg_free(cc);
    tg_tape_free(T);
}

/* A fresh (3,) parameter holding ref_p0, in a one-entry list. */
static tg_tensor *make_param(tg_params *ps, tg_dtype dt)
{
    tg_tensor *p0 = tg_from_array(F64, TG_SHAPE(3), ref_p0);
    tg_tensor *p = tg_cast(p0, dt);
    tg_free(p0);
    memset(ps, 0, sizeof *ps);
    ck_assert_int_eq(tg_params_add(ps, "p", p), TG_OK);
    return p;
}

/* torch.optim.SGD worked by hand: d = g + wd p; buf = d the first time,
 * then mom buf + d; d = nesterov ? d + mom buf : buf; p -= lr d. */
static void sgd_by_hand(double lr, double mom, double wd, bool nesterov,
                        double want[3][3])
{
    double p[3], buf[3] = {0, 0, 0};
    memcpy(p, ref_p0, sizeof p);
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 3; i++) {
            double d = ref_grads[t][i];
            if (wd != 0)
                d = d + wd * p[i];
            if (mom != 0) {
                buf[i] = t == 0 ? d : mom * buf[i] + d;
                d = nesterov ? d + mom * buf[i] : buf[i];
            }
            p[i] = p[i] - lr * d;
            want[t][i] = p[i];
        }
}

/* Adam / AdamW worked by hand, step t = 1, 2, 3. */
static void adam_by_hand(double lr, double b1, double b2, double eps, double wd,
                         bool adamw, double want[3][3])
{
    double p[3], m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
    memcpy(p, ref_p0, sizeof p);
    for (int t = 1; t <= 3; t++) {
        double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
        for (int i = 0; i < 3; i++) {
            double g = ref_grads[t - 1][i];
            if (adamw)
                p[i] = p[i] * (1 - lr * wd);
            else
                g = g + wd * p[i];
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double mhat = m[i] / bc1, vhat = v[i] / bc2;
            p[i] = p[i] - lr * mhat / (sqrt(vhat) + eps);
            want[t - 1][i] = p[i];
        }
    }
}

/* Runs three SGD steps and compares every step with by-hand and PyTorch. */
static void run_sgd(double lr, double mom, double wd, bool nesterov,
                    const double torch_ref[3][3], const char *what)
{
    double want[3][3];
    sgd_by_hand(lr, mom, wd, nesterov, want);
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_sgd opt;
    ck_assert_int_eq(tg_sgd_init(&opt, &ps, lr, mom, wd, nesterov), TG_OK);
    for (int t = 0; t < 3; t++) {
        set_grad(p, ref_grads[t]);
        ck_assert_int_eq(tg_sgd_step(&opt), TG_OK);
        for (int i = 0; i < 3; i++) {
            assert_rel(tgt_at(p, i), want[t][i], 1e-12, what, t, i);
            assert_rel(tgt_at(p, i), torch_ref[t][i], 1e-12, what, t, i);
        }
    }
    ck_assert_int_eq(opt.steps, 3);
    tg_sgd_free(&opt);
    tg_free(p);
}

static void run_adam(bool adamw, const double torch_ref[3][3], const char *what)
{
    double want[3][3];
    adam_by_hand(0.01, 0.9, 0.999, 1e-8, 0.1, adamw, want);
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 0.01, 0.9, 0.999, 1e-8, 0.1, adamw),
                     TG_OK);
    for (int t = 0; t < 3; t++) {
        set_grad(p, ref_grads[t]);
        ck_assert_int_eq(tg_adam_step(&opt), TG_OK);
        for (int i = 0; i < 3; i++) {
            assert_rel(tgt_at(p, i), want[t][i], 1e-12, what, t, i);
            assert_rel(tgt_at(p, i), torch_ref[t][i], 1e-12, what, t, i);
        }
    }
    ck_assert_int_eq(opt.steps, 3);
    tg_adam_free(&opt);
    tg_free(p);
}

/* ---- three steps against the formulas and PyTorch --------------------------------- */

START_TEST(test_sgd_plain)
{
    run_sgd(0.1, 0.0, 0.0, false, ref_sgd, "sgd");
    /* The first step in closed form: p - lr g. */
    ck_assert_double_eq_tol(ref_sgd[0][0], 0.5 - 0.1 * 0.1, 1e-15);
}
END_TEST

START_TEST(test_sgd_momentum) { run_sgd(0.1, 0.9, 0.0, false, ref_sgd_momentum, "momentum"); }
END_TEST

START_TEST(test_sgd_nesterov_weight_decay)
{
    run_sgd(0.1, 0.9, 0.01, true, ref_sgd_nesterov, "nesterov");
}
END_TEST

START_TEST(test_adam_l2) { run_adam(false, ref_adam, "adam"); }
END_TEST

START_TEST(test_adamw) { run_adam(true, ref_adamw, "adamw"); }
END_TEST

START_TEST(test_adam_first_step_is_lr_sign)
{
    /* Without decay, step 1 moves each element by lr * g/(|g| + eps'):
     * m_hat = g and sqrt(v_hat) = |g|. */
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 0.01, 0.9, 0.999, 0.0, 0.0, false), TG_OK);
    set_grad(p, ref_grads[0]);
    ck_assert_int_eq(tg_adam_step(&opt), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq_tol(tgt_at(p, i),
                                ref_p0[i] - 0.01 * (ref_grads[0][i] > 0 ? 1 : -1),
                                1e-15);
    tg_adam_free(&opt);
    tg_free(p);
}
END_TEST

START_TEST(test_float32_parameters)
{
    /* float32 parameters and state follow the float64 path to float32
     * rounding. */
    tg_params ps;
    tg_tensor *p = make_param(&ps, F32);
    tg_adam adam;
    ck_assert_int_eq(tg_adam_init(&adam, &ps, 0.01, 0.9, 0.999, 1e-8, 0.1, true), TG_OK);
    ck_assert_int_eq(tg_dtype_of(adam.m[0]), F32);
    for (int t = 0; t < 3; t++) {
        set_grad(p, ref_grads[t]);
        ck_assert_int_eq(tg_adam_step(&adam), TG_OK);
        for (int i = 0; i < 3; i++)
            assert_rel(tgt_at(p, i), ref_adamw[t][i], 1e-6, "adamw f32", t, i);
    }
    tg_adam_free(&adam);
    tg_free(p);

    p = make_param(&ps, F32);
    tg_sgd sgd;
    ck_assert_int_eq(tg_sgd_init(&sgd, &ps, 0.1, 0.9, 0.01, true), TG_OK);
    for (int t = 0; t < 3; t++) {
        set_grad(p, ref_grads[t]);
        ck_assert_int_eq(tg_sgd_step(&sgd), TG_OK);
        for (int i = 0; i < 3; i++)
            assert_rel(tgt_at(p, i), ref_sgd_nesterov[t][i], 1e-6, "nesterov f32", t, i);
    }
    tg_sgd_free(&sgd);
    tg_free(p);
}
END_TEST

START_TEST(test_sgd_weight_decay_only)
{
    /* No momentum: p -= lr (g + wd p), worked by hand only. */
    double want[3][3];
    sgd_by_hand(0.05, 0.0, 0.2, false, want);
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_sgd opt;
    ck_assert_int_eq(tg_sgd_init(&opt, &ps, 0.05, 0.0, 0.2, false), TG_OK);
    for (int t = 0; t < 3; t++) {
        set_grad(p, ref_grads[t]);
        ck_assert_int_eq(tg_sgd_step(&opt), TG_OK);
        for (int i = 0; i < 3; i++)
            assert_rel(tgt_at(p, i), want[t][i], 1e-12, "sgd wd", t, i);
    }
    ck_assert_double_eq_tol(want[0][0], 0.5 - 0.05 * (0.1 + 0.2 * 0.5), 1e-15);
    tg_sgd_free(&opt);
    tg_free(p);
}
END_TEST

START_TEST(test_adam_zero_betas)
{
    /* beta1 = beta2 = 0: m = g, v = g^2, no bias correction, so each step
     * moves by lr g / (|g| + eps). */
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 0.1, 0.0, 0.0, 0.5, 0.0, false), TG_OK);
    double want[3];
    memcpy(want, ref_p0, sizeof want);
    for (int t = 0; t < 3; t++) {
        set_grad(p, ref_grads[t]);
        ck_assert_int_eq(tg_adam_step(&opt), TG_OK);
        for (int i = 0; i < 3; i++) {
            double g = ref_grads[t][i];
            want[i] -= 0.1 * g / (fabs(g) + 0.5);
            assert_rel(tgt_at(p, i), want[i], 1e-14, "adam b=0", t, i);
            ck_assert_double_eq(tgt_at(opt.m[0], i), g);
            ck_assert_double_eq(tgt_at(opt.v[0], i), g * g);
        }
    }
    tg_adam_free(&opt);
    tg_free(p);
}
END_TEST

START_TEST(test_state_is_per_parameter)
{
    /* With a second parameter of another shape in front, the (3,) one
     * still follows PyTorch's numbers: each has its own moments. */
    tg_params ps = {0};
    tg_tensor *q = tg_full(F64, TG_SHAPE(2, 2), 1.0);
    tg_tensor *p = tg_from_array(F64, TG_SHAPE(3), ref_p0);
    ck_assert_int_eq(tg_params_add(&ps, "q", q), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "p", p), TG_OK);
    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 0.01, 0.9, 0.999, 1e-8, 0.1, true), TG_OK);
    tgt_assert_shape(opt.m[0], 2, (const int64_t[]){2, 2});
    tgt_assert_shape(opt.v[1], 1, (const int64_t[]){3});
    tg_tape *T = tg_tape_new();
    tg_tensor *c = tg_from_array(F64, TG_SHAPE(2, 2), (const double[]){5, -5, 5, -5});
    for (int t = 0; t < 3; t++) {
        set_grad(p, ref_grads[t]);
        tg_tape_reset(T);
        tg_zero_grad(q);
        ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, q, c))), TG_OK);
        ck_assert_int_eq(tg_adam_step(&opt), TG_OK);
        for (int i = 0; i < 3; i++)
            assert_rel(tgt_at(p, i), ref_adamw[t][i], 1e-12, "adamw p", t, i);
    }
    /* A constant gradient makes m_hat = g and v_hat = g^2: q decays, then
     * moves by lr g / (|g| + eps) each step. */
    double q1 = 1.0;
    for (int t = 0; t < 3; t++)
        q1 = q1 * (1 - 0.01 * 0.1) + 0.01 * 5 / (5 + 1e-8);
    assert_rel(tgt_at(q, 1), q1, 1e-12, "adamw q", 2, 1);
    ck_assert(tgt_at(q, 0) < 1.0);
    tg_tape_free(T);
    tg_adam_free(&opt);
    tg_free(c);
    tg_free(p);
    tg_free(q);
}
END_TEST

START_TEST(test_adam_counts_steps_per_parameter)
{
    /* q has no gradient on the first two steps (backward never reached
     * it), so Adam skips it; on the third it gets one, and, as in PyTorch,
     * its own step count is 1: m_hat = g, v_hat = g^2, and AdamW moves it
     * by lr g / (|g| + eps) after the decay. p, updated on every step,
     * still follows PyTorch's numbers. */
    tg_params ps = {0};
    tg_tensor *q = tg_full(F64, TG_SHAPE(3), 1.0);
    tg_tensor *p = tg_from_array(F64, TG_SHAPE(3), ref_p0);
    ck_assert_int_eq(tg_requires_grad(q, true), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "q", q), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "p", p), TG_OK);
    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 0.01, 0.9, 0.999, 1e-8, 0.1, true), TG_OK);
    const double gq[3] = {2.0, -0.5, 3.0};
    for (int t = 0; t < 3; t++) {
        if (t == 2)
            set_grad(q, gq);
        set_grad(p, ref_grads[t]);
        ck_assert_int_eq(tg_adam_step(&opt), TG_OK);
        for (int i = 0; i < 3; i++)
            assert_rel(tgt_at(p, i), ref_adamw[t][i], 1e-12, "adamw p", t, i);
        if (t < 2)
            for (int i = 0; i < 3; i++)
                ck_assert_double_eq(tgt_at(q, i), 1.0);
    }
    for (int i = 0; i < 3; i++) {
        double want = 1.0 * (1 - 0.01 * 0.1) - 0.01 * gq[i] / (fabs(gq[i]) + 1e-8);
        assert_rel(tgt_at(q, i), want, 1e-12, "late q", 2, i);
    }
    ck_assert_int_eq(opt.t[0], 1);
    ck_assert_int_eq(opt.t[1], 3);
    ck_assert_int_eq(opt.steps, 3);
    tg_adam_free(&opt);
    tg_free(p);
    tg_free(q);
}
END_TEST

START_TEST(test_adam_trains_an_mlp)
{
    /* Adam on every parameter of a float32 MLP lowers a cross-entropy. */
    tg_rng rng;
    tg_rng_seed(&rng, 12);
    tg_mlp net;
    ck_assert_int_eq(tg_mlp_init(&net, 3, (const int64_t[]){6, 8, 3}, TG_ACT_TANH, F32, &rng),
                     TG_OK);
    tg_params ps = {0};
    ck_assert_int_eq(tg_mlp_params(&net, &ps), TG_OK);
    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 0.01, 0.9, 0.999, 1e-8, 0.0, false), TG_OK);
    tg_tensor *x = tg_randn(&rng, F32, TG_SHAPE(12, 6));
    tg_tensor *labels = tg_from_array(TG_INT32, TG_SHAPE(12),
                                      (const int32_t[]){0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2});
    tg_tape *T = tg_tape_new();
    double first = 0, loss_v = 0;
    for (int step = 0; step < 300; step++) {
        tg_tape_reset(T);
        tg_tensor *loss = tg_loss_cross_entropy(T, tg_mlp_forward(T, &net, x), labels);
        tg_params_zero_grad(&ps);
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        ck_assert_int_eq(tg_adam_step(&opt), TG_OK);
        loss_v = scalar_value(loss);
        if (step == 0)
            first = loss_v;
    }
    ck_assert_msg(loss_v < 0.25 * first, "loss %g from %g", loss_v, first);
    tg_tape_reset(T);
    ck_assert_double_eq(tg_accuracy(tg_mlp_forward(T, &net, x), labels), 1.0);
    tg_tape_free(T);
    tg_adam_free(&opt);
    tg_mlp_free(&net);
    tg_free(labels);
    tg_free(x);
}
END_TEST

/* ---- the in-place contract --------------------------------------------------- */

START_TEST(test_state_allocated_at_init)
{
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_sgd sgd;
    ck_assert_int_eq(tg_sgd_init(&sgd, &ps, 0.1, 0.0, 0.0, false), TG_OK);
    ck_assert_ptr_null(sgd.buf[0]); /* plain SGD keeps no state */
    tg_sgd_free(&sgd);
    ck_assert_int_eq(tg_sgd_init(&sgd, &ps, 0.1, 0.5, 0.0, false), TG_OK);
    ck_assert_ptr_nonnull(sgd.buf[0]);
    ck_assert_int_eq(tg_numel(sgd.buf[0]), 3);
    ck_assert_double_eq(tgt_at(sgd.buf[0], 1), 0.0);
    tg_adam adam;
    ck_assert_int_eq(tg_adam_init(&adam, &ps, 0.1, 0.9, 0.99, 1e-8, 0.0, false), TG_OK);
    ck_assert_ptr_nonnull(adam.m[0]);
    ck_assert_ptr_nonnull(adam.v[0]);
    ck_assert_ptr_null(adam.m[1]);

    /* Steps allocate nothing. */
    set_grad(p, ref_grads[0]);
    long allocs = tgt_stats.allocs, calls = tgt_stats.calls;
    ck_assert_int_eq(tg_sgd_step(&sgd), TG_OK);
    ck_assert_int_eq(tg_adam_step(&adam), TG_OK);
    ck_assert_int_eq(tgt_stats.allocs, allocs);
    ck_assert_int_eq(tgt_stats.calls, calls);
    tg_sgd_free(&sgd);
    tg_adam_free(&adam);
    ck_assert_ptr_null(adam.params);
    tg_sgd_free(NULL);
    tg_adam_free(NULL);
    tg_free(p);
}
END_TEST

START_TEST(test_step_bumps_version)
{
    /* A tape that recorded p before the step must refuse to differentiate
     * through the changed value. */
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_sgd opt;
    ck_assert_int_eq(tg_sgd_init(&opt, &ps, 0.1, 0.0, 0.0, false), TG_OK);
    set_grad(p, ref_grads[0]);
    tg_tape *T = tg_tape_new();
    tg_tensor *loss = tg_ad_sum(T, tg_ad_mul(T, p, p));
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(tg_sgd_step(&opt), TG_OK);
    ck_assert_int_eq(tg_backward(T, loss), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "modified in place");
    tg_tape_free(T);
    tg_sgd_free(&opt);
    tg_free(p);
}
END_TEST

START_TEST(test_params_without_grad_are_skipped)
{
    tg_params ps = {0};
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(3), ref_p0);
    tg_tensor *b = tg_from_array(F64, TG_SHAPE(3), ref_p0);
    ck_assert_int_eq(tg_params_add(&ps, "a", a), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "b", b), TG_OK);
    set_grad(a, ref_grads[0]);
    ck_assert_ptr_null(tg_grad(b));
    tg_adam adam;
    ck_assert_int_eq(tg_adam_init(&adam, &ps, 0.01, 0.9, 0.999, 1e-8, 0.5, true), TG_OK);
    ck_assert_int_eq(tg_adam_step(&adam), TG_OK);
    tg_sgd sgd;
    ck_assert_int_eq(tg_sgd_init(&sgd, &ps, 0.1, 0.9, 0.5, false), TG_OK);
    ck_assert_int_eq(tg_sgd_step(&sgd), TG_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq(tgt_at(b, i), ref_p0[i]); /* not even decayed */
        ck_assert(tgt_at(a, i) != ref_p0[i]);
        ck_assert_double_eq(tgt_at(adam.m[1], i), 0.0);
        ck_assert_double_eq(tgt_at(sgd.buf[1], i), 0.0);
    }
    tg_adam_free(&adam);
    tg_sgd_free(&sgd);
    tg_free(a);
    tg_free(b);
}
END_TEST

START_TEST(test_lr_zero_keeps_parameters)
{
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_sgd sgd;
    ck_assert_int_eq(tg_sgd_init(&sgd, &ps, 0.0, 0.9, 0.0, false), TG_OK);
    set_grad(p, ref_grads[1]);
    ck_assert_int_eq(tg_sgd_step(&sgd), TG_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq(tgt_at(p, i), ref_p0[i]);
        ck_assert_double_eq(tgt_at(sgd.buf[0], i), ref_grads[1][i]); /* buf = g */
    }
    tg_sgd_free(&sgd);
    tg_free(p);
}
END_TEST

/* The chapter's fit: y = 3x^2 + 2 from w = b = 0, by SGD then by Adam. */
static void fit_quadratic(bool adam)
{
    tg_tensor *x = tg_linspace(F64, -1.0, 1.0, 50);
    tg_tensor *x2 = tg_pow_scalar(x, 2.0);
    tg_tensor *y3 = tg_mul_scalar(x2, 3.0);
    tg_tensor *y = tg_add_scalar(y3, 2.0);
    tg_quadratic m;
    ck_assert_int_eq(tg_quadratic_init(&m, F64, 0.0, 0.0), TG_OK);
    tg_params ps = {0};
    ck_assert_int_eq(tg_quadratic_params(&m, &ps), TG_OK);
    tg_sgd sgd;
    tg_adam ad;
    if (adam)
        ck_assert_int_eq(tg_adam_init(&ad, &ps, 0.05, 0.9, 0.999, 1e-8, 0.0, false), TG_OK);
    else
        ck_assert_int_eq(tg_sgd_init(&sgd, &ps, 0.02, 0.9, 0.0, false), TG_OK);
    tg_tape *T = tg_tape_new();
    for (int step = 0; step < 2000; step++) {
        tg_tape_reset(T);
        tg_tensor *loss = tg_loss_mse(T, tg_quadratic_forward(T, &m, x), y);
        ck_assert_int_eq(tg_params_zero_grad(&ps), TG_OK);
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        ck_assert_int_eq(adam ? tg_adam_step(&ad) : tg_sgd_step(&sgd), TG_OK);
    }
    ck_assert_double_eq_tol(tgt_at(m.w, 0), 3.0, 1e-3);
    ck_assert_double_eq_tol(tgt_at(m.b, 0), 2.0, 1e-3);
    tg_tape_free(T);
    if (adam)
        tg_adam_free(&ad);
    else
        tg_sgd_free(&sgd);
    tg_quadratic_free(&m);
    tg_free(x);
    tg_free(x2);
    tg_free(y3);
    tg_free(y);
}

START_TEST(test_fit_quadratic_sgd) { fit_quadratic(false); }
END_TEST

START_TEST(test_fit_quadratic_adam) { fit_quadratic(true); }
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

START_TEST(test_sgd_init_errors)
{
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_sgd o;
    ck_assert_int_eq(tg_sgd_init(NULL, &ps, 0.1, 0, 0, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_sgd_init: optimiser is NULL");
    ck_assert_int_eq(tg_sgd_init(&o, NULL, 0.1, 0, 0, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_sgd_init: parameter list is NULL");
    ck_assert_int_eq(tg_sgd_init(&o, &ps, -0.1, 0, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_sgd_init: lr = -0.1 must be");
    ck_assert_int_eq(tg_sgd_init(&o, &ps, (double)NAN, 0, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "lr = nan");
    ck_assert_int_eq(tg_sgd_init(&o, &ps, 0.1, -0.5, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "momentum = -0.5");
    ck_assert_int_eq(tg_sgd_init(&o, &ps, 0.1, 0.9, -1, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "weight_decay = -1");
    ck_assert_int_eq(tg_sgd_init(&o, &ps, 0.1, 0.0, 0, true), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "Nesterov momentum needs momentum > 0");
    ck_assert_ptr_null(o.params); /* left zeroed: freeing is safe */
    tg_sgd_free(&o);
    tg_free(p);
}
END_TEST

START_TEST(test_adam_init_errors)
{
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_adam o;
    ck_assert_int_eq(tg_adam_init(NULL, &ps, 0.1, 0.9, 0.99, 1e-8, 0, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_adam_init: optimiser is NULL");
    ck_assert_int_eq(tg_adam_init(&o, NULL, 0.1, 0.9, 0.99, 1e-8, 0, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "parameter list is NULL");
    ck_assert_int_eq(tg_adam_init(&o, &ps, -1, 0.9, 0.99, 1e-8, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_adam_init: lr = -1");
    ck_assert_int_eq(tg_adam_init(&o, &ps, 0.1, 1.0, 0.99, 1e-8, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "beta1 = 1 is outside [0, 1)");
    ck_assert_int_eq(tg_adam_init(&o, &ps, 0.1, 0.9, -0.1, 1e-8, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "beta2 = -0.1 is outside [0, 1)");
    ck_assert_int_eq(tg_adam_init(&o, &ps, 0.1, 0.9, 0.99, -1e-8, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "eps = -1e-08");
    ck_assert_int_eq(tg_adam_init(&o, &ps, 0.1, 0.9, 0.99, 1e-8, (double)INFINITY, true), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "weight_decay = inf");
    ck_assert_ptr_null(o.params);
    tg_adam_free(&o);
    tg_free(p);
}
END_TEST

START_TEST(test_step_errors)
{
    tg_sgd s;
    tg_adam a;
    memset(&s, 0, sizeof s);
    memset(&a, 0, sizeof a);
    ck_assert_int_eq(tg_sgd_step(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_sgd_step: optimiser is NULL");
    ck_assert_int_eq(tg_adam_step(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_adam_step: optimiser is NULL");
    ck_assert_int_eq(tg_sgd_step(&s), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_sgd_step: optimiser is not initialised");
    ck_assert_int_eq(tg_adam_step(&a), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_adam_step: optimiser is not initialised");

    /* A parameter added after init has no state: the step refuses, and
     * changes nothing (the first parameter is untouched too). */
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    ck_assert_int_eq(tg_adam_init(&a, &ps, 0.1, 0.9, 0.99, 1e-8, 0, false), TG_OK);
    ck_assert_int_eq(tg_sgd_init(&s, &ps, 0.1, 0.9, 0, false), TG_OK);
    tg_tensor *q = tg_zeros(F64, TG_SHAPE(2));
    ck_assert_int_eq(tg_params_add(&ps, "late", q), TG_OK);
    set_grad(p, ref_grads[0]);
    ck_assert_int_eq(tg_adam_step(&a), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_adam_step: parameter \"late\" was added to the list after init");
    ck_assert_int_eq(tg_sgd_step(&s), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_sgd_step: parameter \"late\" was added");
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(p, i), ref_p0[i]);
    ck_assert_int_eq(a.steps, 0);
    tg_adam_free(&a);
    tg_sgd_free(&s);
    /* Plain SGD has no state, so a late parameter is fine. */
    ck_assert_int_eq(tg_sgd_init(&s, &ps, 0.1, 0.0, 0, false), TG_OK);
    tg_tensor *r = tg_zeros(F64, TG_SHAPE(1));
    ck_assert_int_eq(tg_params_add(&ps, "later", r), TG_OK);
    ck_assert_int_eq(tg_sgd_step(&s), TG_OK);
    assert_rel(tgt_at(p, 0), ref_sgd[0][0], 1e-15, "late sgd", 0, 0);
    tg_sgd_free(&s);
    tg_free(p);
    tg_free(q);
    tg_free(r);
}
END_TEST

START_TEST(test_non_contiguous_parameter)
{
    tg_tensor *base = tg_zeros(F64, TG_SHAPE(2, 3));
    tg_tensor *view = tg_transpose(base, 0, 1);
    tg_params ps = {0};
    ck_assert_int_eq(tg_params_add(&ps, "t", view), TG_OK);
    tg_sgd s;
    tg_adam a;
    ck_assert_int_eq(tg_sgd_init(&s, &ps, 0.1, 0.9, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_sgd_init: parameter \"t\" is not contiguous");
    ck_assert_int_eq(tg_adam_init(&a, &ps, 0.1, 0.9, 0.99, 1e-8, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_adam_init: parameter \"t\" is not contiguous");
    ps.count = -3;
    ck_assert_int_eq(tg_sgd_init(&s, &ps, 0.1, 0.9, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "count -3");
    tg_free(view);
    tg_free(base);
}
END_TEST

START_TEST(test_init_allocation_failures)
{
    /* Every allocation of init may fail: NOMEM, nothing leaks, and the
     * optimiser is left zeroed. */
    tg_params ps = {0};
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(4));
    tg_tensor *b = tg_zeros(F32, TG_SHAPE(2, 2));
    ck_assert_int_eq(tg_params_add(&ps, "a", a), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "b", b), TG_OK);
    int failures = 0;
    for (long k = 1;; k++) {
        tg_adam o;
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        long live = tgt_stats.live_blocks;
        int rc = tg_adam_init(&o, &ps, 0.1, 0.9, 0.99, 1e-8, 0, false);
        tgt_stats.fail_at = 0;
        if (rc == TG_OK) {
            tg_adam_free(&o);
            break;
        }
        failures++;
        ck_assert_int_eq(rc, TG_ERR_NOMEM);
        ck_assert_ptr_null(o.m[0]);
        ck_assert_int_eq(tgt_stats.live_blocks, live);
    }
    ck_assert_int_ge(failures, 4); /* m and v for two parameters */
    tg_free(a);
    tg_free(b);
}
END_TEST

/* ---- RMSprop and Adagrad: six steps against PyTorch ------------------------------- */

/* RMSprop's settings for each fixture of make_optim_ref.py. */
typedef struct rms_case {
    const char *name;
    double lr, alpha, eps, wd, momentum;
    bool centered;
    const double (*ref)[3];
} rms_case;

static const rms_case rms_cases[] = {
    {"rmsprop", 0.01, 0.99, 1e-8, 0.0, 0.0, false, ref_rmsprop},
    {"rmsprop momentum", 0.01, 0.99, 1e-8, 0.0, 0.9, false, ref_rmsprop_momentum},
    {"rmsprop centered", 0.01, 0.9, 1e-8, 0.0, 0.0, true, ref_rmsprop_centered},
    {"rmsprop all", 0.02, 0.95, 1e-6, 0.1, 0.5, true, ref_rmsprop_all},
};

/* RMSprop worked by hand from torch's documented algorithm. */
static void rmsprop_by_hand(const rms_case *c, double want[6][3])
{
    double p[3], sq[3] = {0}, ga[3] = {0}, buf[3] = {0};
    memcpy(p, ref_p0, sizeof p);
    for (int t = 0; t < 6; t++)
        for (int i = 0; i < 3; i++) {
            double g = ref_grads6[t][i] + c->wd * p[i];
            sq[i] = c->alpha * sq[i] + (1 - c->alpha) * g * g;
            double avg = sq[i];
            if (c->centered) {
                ga[i] = c->alpha * ga[i] + (1 - c->alpha) * g;
                avg -= ga[i] * ga[i];
            }
            avg = sqrt(avg) + c->eps;
            if (c->momentum > 0) {
                buf[i] = c->momentum * buf[i] + g / avg;
                p[i] -= c->lr * buf[i];
            } else {
                p[i] -= c->lr * g / avg;
            }
            want[t][i] = p[i];
        }
}

static void run_rmsprop(const rms_case *c, tg_dtype dt, double rtol)
{
    double want[6][3];
    rmsprop_by_hand(c, want);
    tg_params ps;
    tg_tensor *p = make_param(&ps, dt);
    tg_rmsprop o;
    ck_assert_int_eq(tg_rmsprop_init(&o, &ps, c->lr, c->alpha, c->eps, c->wd,
                                     c->momentum, c->centered), TG_OK);
    ck_assert_int_eq(o.grad_avg[0] != NULL, c->centered);
    ck_assert_int_eq(o.buf[0] != NULL, c->momentum > 0);
    for (int t = 0; t < 6; t++) {
        set_grad(p, ref_grads6[t]);
        ck_assert_int_eq(tg_rmsprop_step(&o), TG_OK);
        for (int i = 0; i < 3; i++) {
            assert_rel(tgt_at(p, i), c->ref[t][i], rtol, c->name, t, i);
            assert_rel(tgt_at(p, i), want[t][i], rtol, c->name, t, i);
        }
    }
    ck_assert_int_eq(o.steps, 6);
    tg_rmsprop_free(&o);
    tg_free(p);
}

START_TEST(test_rmsprop)
{
    run_rmsprop(&rms_cases[_i], F64, 1e-12);
    run_rmsprop(&rms_cases[_i], F32, 1e-6);
}
END_TEST

typedef struct adagrad_case {
    const char *name;
    double lr, lr_decay, wd, init_acc, eps;
    const double (*ref)[3];
} adagrad_case;

static const adagrad_case adagrad_cases[] = {
    {"adagrad", 0.1, 0.0, 0.0, 0.0, 1e-10, ref_adagrad},
    {"adagrad all", 0.1, 0.05, 0.1, 0.5, 1e-6, ref_adagrad_all},
};

START_TEST(test_adagrad)
{
    const adagrad_case *c = &adagrad_cases[_i];
    double p[3], sum[3];
    memcpy(p, ref_p0, sizeof p);
    for (int i = 0; i < 3; i++)
        sum[i] = c->init_acc;
    for (int dti = 0; dti < 2; dti++) {
        tg_dtype dt = dti ? F32 : F64;
        double rtol = dti ? 1e-6 : 1e-12;
        tg_params ps;
        tg_tensor *x = make_param(&ps, dt);
        tg_adagrad o;
        ck_assert_int_eq(tg_adagrad_init(&o, &ps, c->lr, c->lr_decay, c->wd, c->init_acc,
                                         c->eps), TG_OK);
        ck_assert_double_eq(tgt_at(o.sum[0], 2), c->init_acc);
        for (int t = 0; t < 6; t++) {
            set_grad(x, ref_grads6[t]);
            ck_assert_int_eq(tg_adagrad_step(&o), TG_OK);
            double clr = c->lr / (1 + t * c->lr_decay);
            for (int i = 0; i < 3; i++) {
                if (dti == 0) { /* by hand, once */
                    double g = ref_grads6[t][i] + c->wd * p[i];
                    sum[i] += g * g;
                    p[i] -= clr * g / (sqrt(sum[i]) + c->eps);
                    assert_rel(tgt_at(x, i), p[i], 1e-12, c->name, t, i);
                }
                assert_rel(tgt_at(x, i), c->ref[t][i], rtol, c->name, t, i);
            }
        }
        ck_assert_int_eq(o.t[0], 6);
        tg_adagrad_free(&o);
        tg_free(x);
    }
}
END_TEST

/* ---- parameter groups ------------------------------------------------------------- */

enum { OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP, OPT_ADAGRAD, NOPT };

/* Any of the optimisers, behind one small interface for the group tests. */
typedef struct any_opt {
    int kind;
    tg_sgd sgd;
    tg_adam adam;
    tg_rmsprop rms;
    tg_adagrad ada;
} any_opt;

/* The settings of make_optim_ref.py's GROUP_CASES (group 0: lr 0.01,
 * weight decay 0.1). */
static int any_init(any_opt *o, int kind, tg_params *ps)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    switch (kind) {
    case OPT_SGD:
        return tg_sgd_init(&o->sgd, ps, 0.01, 0.9, 0.1, false);
    case OPT_ADAM:
    case OPT_ADAMW:
        return tg_adam_init(&o->adam, ps, 0.01, 0.9, 0.999, 1e-8, 0.1, kind == OPT_ADAMW);
    case OPT_RMSPROP:
        return tg_rmsprop_init(&o->rms, ps, 0.01, 0.99, 1e-8, 0.1, 0.5, false);
    default:
        return tg_adagrad_init(&o->ada, ps, 0.01, 0.0, 0.1, 0.0, 1e-10);
    }
}

static tg_param_groups *any_groups(any_opt *o)
{
    switch (o->kind) {
    case OPT_SGD: return &o->sgd.groups;
    case OPT_ADAM: case OPT_ADAMW: return &o->adam.groups;
    case OPT_RMSPROP: return &o->rms.groups;
    default: return &o->ada.groups;
    }
}

static int any_step(any_opt *o)
{
    switch (o->kind) {
    case OPT_SGD: return tg_sgd_step(&o->sgd);
    case OPT_ADAM: case OPT_ADAMW: return tg_adam_step(&o->adam);
    case OPT_RMSPROP: return tg_rmsprop_step(&o->rms);
    default: return tg_adagrad_step(&o->ada);
    }
}

static void any_free(any_opt *o)
{
    tg_sgd_free(&o->sgd);
    tg_adam_free(&o->adam);
    tg_rmsprop_free(&o->rms);
    tg_adagrad_free(&o->ada);
}

START_TEST(test_groups_against_torch)
{
    /* "w" in group 0 (lr 0.01, decay 0.1), "b" in a group of its own with
     * lr 0.05 and no decay, as torch's two param_groups. */
    static const double (*const refs[NOPT])[2][3] = {
        ref_groups_sgd, ref_groups_adam, ref_groups_adamw, ref_groups_rmsprop,
        ref_groups_adagrad};
    static const char *const names[NOPT] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    tg_params ps = {0};
    tg_tensor *w = tg_from_array(F64, TG_SHAPE(3), ref_p0);
    tg_tensor *b = tg_from_array(F64, TG_SHAPE(3), ref_p0_b);
    ck_assert_int_eq(tg_params_add(&ps, "w", w), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "fc.bias", b), TG_OK);
    any_opt o;
    ck_assert_int_eq(any_init(&o, _i, &ps), TG_OK);
    tg_param_groups *g = any_groups(&o);
    ck_assert_int_eq(tg_param_groups_add(g, "*.bias", 0.05, 0.0), TG_OK);
    ck_assert_int_eq(g->count, 2);
    ck_assert_int_eq(g->of[0], 0);
    ck_assert_int_eq(g->of[1], 1);
    for (int t = 0; t < 6; t++) {
        double rev[3] = {ref_grads6[t][2], ref_grads6[t][1], ref_grads6[t][0]};
        set_grad(w, ref_grads6[t]);
        set_grad(b, rev);
        long allocs = tgt_stats.allocs;
        ck_assert_int_eq(any_step(&o), TG_OK);
        ck_assert_int_eq(tgt_stats.allocs, allocs); /* groups allocate nothing */
        for (int i = 0; i < 3; i++) {
            assert_rel(tgt_at(w, i), refs[_i][t][0][i], 1e-12, names[_i], t, i);
            assert_rel(tgt_at(b, i), refs[_i][t][1][i], 1e-12, names[_i], t, i);
        }
    }
    any_free(&o);
    tg_free(w);
    tg_free(b);
}
END_TEST

START_TEST(test_groups_patterns_and_assign)
{
    tg_params ps = {0};
    const char *names[] = {"fc1.weight", "fc1.bias", "bn1.weight", "bn1.bias",
                           "fc2.weight", "fc2.bias"};
    tg_tensor *t[6];
    for (int i = 0; i < 6; i++) {
        t[i] = tg_zeros(F64, TG_SHAPE(2));
        ck_assert_int_eq(tg_params_add(&ps, names[i], t[i]), TG_OK);
    }
    tg_tensor *rm = tg_zeros(F64, TG_SHAPE(2));
    ck_assert_int_eq(tg_params_add_buffer(&ps, "bn1.running_mean", rm), TG_OK);
    tg_adam o;
    ck_assert_int_eq(tg_adam_init(&o, &ps, 1e-3, 0.9, 0.999, 1e-8, 0.01, true), TG_OK);
    /* biases and norms skip decay: "*.bias" and "bn?.*" overlap on
     * bn1.bias, which is fine within one call; the buffer never matches */
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "  *.bias bn?.*  ", 1e-3, 0.0), TG_OK);
    const int want[7] = {0, 1, 1, 1, 0, 1, 0};
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(o.groups.of[i], want[i]);
    /* exact names and '?' */
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "fc?.weight", 5e-4, 0.05), TG_OK);
    ck_assert_int_eq(o.groups.of[0], 2);
    ck_assert_int_eq(o.groups.of[4], 2);
    ck_assert_double_eq(o.groups.lr[2], 5e-4);
    ck_assert_double_eq(o.groups.initial_lr[2], 5e-4);
    ck_assert_double_eq(o.groups.weight_decay[2], 0.05);
    /* by index */
    ck_assert_int_eq(tg_param_groups_assign(&o.groups, 4, 0), TG_OK);
    ck_assert_int_eq(o.groups.of[4], 0);

    /* errors change nothing */
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "fc1.bais", 1.0, 0.0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_param_groups_add: pattern \"fc1.bais\" matches no parameter");
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "fc2.weight bn1.bias", 1.0, 0.0),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "parameter \"bn1.bias\" (pattern \"bn1.bias\") is already in group 1");
    ck_assert_int_eq(o.groups.of[4], 0); /* fc2.weight was not moved */
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "bn1.running_mean", 1.0, 0.0),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "matches no parameter");
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "   ", 1.0, 0.0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "hold no pattern");
    ck_assert_int_eq(tg_param_groups_add(&o.groups, NULL, 1.0, 0.0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_param_groups_add: patterns is NULL");
    ck_assert_int_eq(tg_param_groups_add(NULL, "*", 1.0, 0.0), TG_ERR_NULL);
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "fc2.weight", -1.0, 0.0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "lr = -1 must be finite and >= 0");
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "fc2.weight", 1.0, (double)NAN),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "weight_decay = nan");
    ck_assert_int_eq(tg_param_groups_assign(&o.groups, 7, 0), TG_ERR_INDEX);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_param_groups_assign: index 7 is outside the list's [0, 7)");
    ck_assert_int_eq(tg_param_groups_assign(&o.groups, 0, 3), TG_ERR_INDEX);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "group 3 is outside [0, 3)");
    ck_assert_int_eq(tg_param_groups_assign(&o.groups, 6, 1), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "entry 6 (\"bn1.running_mean\") is a buffer");
    ck_assert_int_eq(o.groups.count, 3);
    /* the table fills up */
    for (int k = 3; k < TG_MAX_GROUPS; k++) {
        ck_assert_int_eq(tg_param_groups_assign(&o.groups, 0, 0), TG_OK);
        ck_assert_int_eq(tg_param_groups_add(&o.groups, "fc1.weight", 0.1, 0.0), TG_OK);
    }
    ck_assert_int_eq(tg_param_groups_assign(&o.groups, 0, 0), TG_OK);
    ck_assert_int_eq(o.groups.count, TG_MAX_GROUPS);
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "fc1.weight", 0.1, 0.0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "at most 8 groups (raise TG_MAX_GROUPS");
    tg_adam_free(&o);
    /* not initialised */
    ck_assert_int_eq(tg_param_groups_add(&o.groups, "*", 0.1, 0.0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "parameter groups are not initialised");
    ck_assert_int_eq(tg_param_groups_assign(&o.groups, 0, 0), TG_ERR_VALUE);
    for (int i = 0; i < 6; i++)
        tg_free(t[i]);
    tg_free(rm);
}
END_TEST

START_TEST(test_groups_lr_writes)
{
    /* Group 0's lr lives in opt.lr and in opt.groups.lr[0]: a step takes
     * whichever was written last; a bad lr in any group refuses the step
     * and changes nothing. */
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_sgd o;
    ck_assert_int_eq(tg_sgd_init(&o, &ps, 0.1, 0.0, 0.0, false), TG_OK);
    set_grad(p, ref_grads[0]);
    o.lr = 0.5; /* the old way */
    ck_assert_int_eq(tg_sgd_step(&o), TG_OK);
    assert_rel(tgt_at(p, 0), ref_p0[0] - 0.5 * ref_grads[0][0], 1e-15, "o.lr", 0, 0);
    ck_assert_double_eq(o.groups.lr[0], 0.5);
    o.groups.lr[0] = 0.25; /* what tg_lr_apply writes */
    double before = tgt_at(p, 0);
    ck_assert_int_eq(tg_sgd_step(&o), TG_OK);
    assert_rel(tgt_at(p, 0), before - 0.25 * ref_grads[0][0], 1e-15, "groups.lr", 1, 0);
    ck_assert_double_eq(o.lr, 0.25);
    o.groups.lr[0] = -1.0;
    before = tgt_at(p, 0);
    ck_assert_int_eq(tg_sgd_step(&o), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_sgd_step: group 0 has lr = -1; it must be finite and >= 0");
    o.groups.lr[0] = 0.25;
    o.weight_decay = (double)INFINITY;
    ck_assert_int_eq(tg_sgd_step(&o), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "group 0 has weight_decay = inf");
    ck_assert_double_eq(tgt_at(p, 0), before);
    o.weight_decay = 0.0;
    o.groups.of[0] = 5;
    ck_assert_int_eq(tg_sgd_step(&o), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "parameter \"p\" is in group 5 of 1");
    o.groups.of[0] = 0;
    o.groups.count = 0;
    ck_assert_int_eq(tg_sgd_step(&o), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "parameter groups are corrupt");
    ck_assert_double_eq(tgt_at(p, 0), before);
    ck_assert_int_eq(o.steps, 2);
    tg_sgd_free(&o);
    tg_free(p);
}
END_TEST

/* ---- RMSprop / Adagrad: in place, errors ---------------------------------------- */

START_TEST(test_new_optimisers_in_place)
{
    /* State at init, none for buffers, nothing allocated per step,
     * parameters without a gradient and buffers untouched (Adagrad's count
     * stays 0 for them), the version bumped. */
    tg_params ps = {0};
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(3), ref_p0);
    tg_tensor *b = tg_cast(a, F32);
    tg_tensor *buf = tg_full(F64, TG_SHAPE(3), 7.0);
    ck_assert_int_eq(tg_params_add(&ps, "a", a), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "b", b), TG_OK);
    ck_assert_int_eq(tg_params_add_buffer(&ps, "running", buf), TG_OK);
    tg_rmsprop r;
    tg_adagrad g;
    ck_assert_int_eq(tg_rmsprop_init(&r, &ps, 0.01, 0.99, 1e-8, 0.1, 0.9, true), TG_OK);
    ck_assert_int_eq(tg_adagrad_init(&g, &ps, 0.01, 0.1, 0.1, 0.1, 1e-10), TG_OK);
    ck_assert_ptr_null(r.square_avg[2]);
    ck_assert_ptr_null(r.grad_avg[2]);
    ck_assert_ptr_null(r.buf[2]);
    ck_assert_ptr_null(g.sum[2]);
    ck_assert_int_eq(tg_dtype_of(r.buf[1]), F32);
    set_grad(a, ref_grads[0]);
    tg_tape *T = tg_tape_new();
    tg_tensor *rec = tg_ad_sum(T, tg_ad_mul(T, a, a));
    long allocs = tgt_stats.allocs, calls = tgt_stats.calls;
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(tg_rmsprop_step(&r), TG_OK);
        ck_assert_int_eq(tg_adagrad_step(&g), TG_OK);
    }
    ck_assert_int_eq(tgt_stats.allocs, allocs);
    ck_assert_int_eq(tgt_stats.calls, calls);
    ck_assert_int_eq(tg_backward(T, rec), TG_ERR_TAPE); /* a was changed */
    for (int i = 0; i < 3; i++) {
        ck_assert(tgt_at(a, i) != ref_p0[i]);
        ck_assert_double_eq(tgt_at(b, i), (double)(float)ref_p0[i]);
        ck_assert_double_eq(tgt_at(buf, i), 7.0);
        ck_assert_double_eq(tgt_at(r.square_avg[1], i), 0.0);
        ck_assert_double_eq(tgt_at(g.sum[1], i), (double)0.1f);
    }
    ck_assert_int_eq(g.t[0], 3);
    ck_assert_int_eq(g.t[1], 0);
    ck_assert_int_eq(r.steps, 3);
    tg_tape_free(T);
    tg_rmsprop_free(&r);
    tg_adagrad_free(&g);
    ck_assert_ptr_null(r.params);
    tg_rmsprop_free(NULL);
    tg_adagrad_free(NULL);
    tg_free(a);
    tg_free(b);
    tg_free(buf);
}
END_TEST

START_TEST(test_new_optimisers_errors)
{
    tg_params ps;
    tg_tensor *p = make_param(&ps, F64);
    tg_rmsprop r;
    tg_adagrad g;
    ck_assert_int_eq(tg_rmsprop_init(NULL, &ps, 0.01, 0.99, 1e-8, 0, 0, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rmsprop_init: optimiser is NULL");
    ck_assert_int_eq(tg_rmsprop_init(&r, NULL, 0.01, 0.99, 1e-8, 0, 0, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rmsprop_init: parameter list is NULL");
    ck_assert_int_eq(tg_rmsprop_init(&r, &ps, -0.01, 0.99, 1e-8, 0, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_rmsprop_init: lr = -0.01");
    ck_assert_int_eq(tg_rmsprop_init(&r, &ps, 0.01, 1.5, 1e-8, 0, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "alpha = 1.5 is outside [0, 1]");
    ck_assert_int_eq(tg_rmsprop_init(&r, &ps, 0.01, (double)NAN, 1e-8, 0, 0, false),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "alpha = nan");
    ck_assert_int_eq(tg_rmsprop_init(&r, &ps, 0.01, 0.99, -1, 0, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "eps = -1");
    ck_assert_int_eq(tg_rmsprop_init(&r, &ps, 0.01, 0.99, 1e-8, -0.1, 0, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "weight_decay = -0.1");
    ck_assert_int_eq(tg_rmsprop_init(&r, &ps, 0.01, 0.99, 1e-8, 0, (double)INFINITY, false),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "momentum = inf");
    ck_assert_ptr_null(r.params);
    ck_assert_int_eq(tg_adagrad_init(NULL, &ps, 0.01, 0, 0, 0, 1e-10), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_adagrad_init: optimiser is NULL");
    ck_assert_int_eq(tg_adagrad_init(&g, NULL, 0.01, 0, 0, 0, 1e-10), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_adagrad_init: parameter list is NULL");
    ck_assert_int_eq(tg_adagrad_init(&g, &ps, (double)NAN, 0, 0, 0, 1e-10), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_adagrad_init: lr = nan");
    ck_assert_int_eq(tg_adagrad_init(&g, &ps, 0.01, -1, 0, 0, 1e-10), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "lr_decay = -1");
    ck_assert_int_eq(tg_adagrad_init(&g, &ps, 0.01, 0, -1, 0, 1e-10), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "weight_decay = -1");
    ck_assert_int_eq(tg_adagrad_init(&g, &ps, 0.01, 0, 0, -0.5, 1e-10), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "initial_accumulator_value = -0.5");
    ck_assert_int_eq(tg_adagrad_init(&g, &ps, 0.01, 0, 0, 0, -1e-10), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "eps = -1e-10");
    ck_assert_ptr_null(g.params);

    /* steps: NULL, not initialised, a parameter added after init */
    ck_assert_int_eq(tg_rmsprop_step(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rmsprop_step: optimiser is NULL");
    ck_assert_int_eq(tg_adagrad_step(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_adagrad_step: optimiser is NULL");
    ck_assert_int_eq(tg_rmsprop_step(&r), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_rmsprop_step: optimiser is not initialised");
    ck_assert_int_eq(tg_adagrad_step(&g), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_adagrad_step: optimiser is not initialised");
    ck_assert_int_eq(tg_rmsprop_init(&r, &ps, 0.01, 0.99, 1e-8, 0, 0.9, true), TG_OK);
    ck_assert_int_eq(tg_adagrad_init(&g, &ps, 0.01, 0, 0, 0, 1e-10), TG_OK);
    tg_tensor *q = tg_zeros(F64, TG_SHAPE(2));
    ck_assert_int_eq(tg_params_add(&ps, "late", q), TG_OK);
    set_grad(p, ref_grads[0]);
    ck_assert_int_eq(tg_rmsprop_step(&r), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_rmsprop_step: parameter \"late\" was added to the list after init");
    ck_assert_int_eq(tg_adagrad_step(&g), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_adagrad_step: parameter \"late\" was added");
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(p, i), ref_p0[i]);
    ck_assert_int_eq(g.t[0], 0);
    tg_rmsprop_free(&r);
    tg_adagrad_free(&g);
    tg_free(p);
    tg_free(q);
}
END_TEST

START_TEST(test_new_init_allocation_failures)
{
    /* RMSprop centered with momentum keeps three tensors per parameter,
     * Adagrad one; every allocation may fail, nothing leaks, the optimiser
     * is left zeroed. */
    tg_params ps = {0};
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(4));
    tg_tensor *b = tg_zeros(F32, TG_SHAPE(2, 2));
    ck_assert_int_eq(tg_params_add(&ps, "a", a), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "b", b), TG_OK);
    for (int which = 0; which < 2; which++) {
        int failures = 0;
        for (long k = 1;; k++) {
            tg_rmsprop r;
            tg_adagrad g;
            tgt_stats.calls = 0;
            tgt_stats.fail_at = k;
            long live = tgt_stats.live_blocks;
            int rc = which ? tg_adagrad_init(&g, &ps, 0.1, 0, 0, 0.1, 1e-10)
                           : tg_rmsprop_init(&r, &ps, 0.1, 0.9, 1e-8, 0, 0.9, true);
            tgt_stats.fail_at = 0;
            if (rc == TG_OK) {
                if (which)
                    tg_adagrad_free(&g);
                else
                    tg_rmsprop_free(&r);
                break;
            }
            failures++;
            ck_assert_int_eq(rc, TG_ERR_NOMEM);
            ck_assert_ptr_null(which ? (void *)g.params : (void *)r.params);
            ck_assert_int_eq(tgt_stats.live_blocks, live);
        }
        ck_assert_int_ge(failures, which ? 2 : 6);
    }
    tg_free(a);
    tg_free(b);
}
END_TEST

Suite *test_optim_suite(void); /* called by the generated runner */
Suite *test_optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tgt_tcase("formulas");
    tcase_add_test(tc, test_sgd_plain);
    tcase_add_test(tc, test_sgd_momentum);
    tcase_add_test(tc, test_sgd_nesterov_weight_decay);
    tcase_add_test(tc, test_adam_l2);
    tcase_add_test(tc, test_adamw);
    tcase_add_test(tc, test_adam_first_step_is_lr_sign);
    tcase_add_test(tc, test_float32_parameters);
    tcase_add_test(tc, test_sgd_weight_decay_only);
    tcase_add_test(tc, test_adam_zero_betas);
    tcase_add_test(tc, test_state_is_per_parameter);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("in place");
    tcase_add_test(tc, test_state_allocated_at_init);
    tcase_add_test(tc, test_step_bumps_version);
    tcase_add_test(tc, test_params_without_grad_are_skipped);
    tcase_add_test(tc, test_lr_zero_keeps_parameters);
    tcase_add_test(tc, test_fit_quadratic_sgd);
    tcase_add_test(tc, test_fit_quadratic_adam);
    tcase_add_test(tc, test_adam_counts_steps_per_parameter);
    tcase_add_test(tc, test_adam_trains_an_mlp);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_sgd_init_errors);
    tcase_add_test(tc, test_adam_init_errors);
    tcase_add_test(tc, test_step_errors);
    tcase_add_test(tc, test_non_contiguous_parameter);
    tcase_add_test(tc, test_init_allocation_failures);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("rmsprop, adagrad and groups");
    tcase_add_loop_test(tc, test_rmsprop, 0, (int)(sizeof rms_cases / sizeof *rms_cases));
    tcase_add_loop_test(tc, test_adagrad, 0,
                        (int)(sizeof adagrad_cases / sizeof *adagrad_cases));
    tcase_add_loop_test(tc, test_groups_against_torch, 0, NOPT);
    tcase_add_test(tc, test_groups_patterns_and_assign);
    tcase_add_test(tc, test_groups_lr_writes);
    tcase_add_test(tc, test_new_optimisers_in_place);
    tcase_add_test(tc, test_new_optimisers_errors);
    tcase_add_test(tc, test_new_init_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
