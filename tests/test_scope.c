/* test_scope.c - what makes a training program short: the owning scope
 * (scope.h), the optimiser handle and the one-call step (optim.h),
 * tg_module_parameters and the Quadratic module (module.h),
 * tg_binary_accuracy (nn.h) and tg_rng_seeded (random.h). The handle and
 * the step must give the structs' and the hand-written loop's numbers bit
 * for bit; every function refuses bad input with a message and leaks
 * nothing when an allocation fails (the fixture checks the leaks). */
#include <math.h>
#include <stdlib.h>

#include "helpers.h"

/* ---- tg_rng_seeded ------------------------------------------------------------ */

START_TEST(test_rng_seeded)
{
    tg_rng a, b = tg_rng_seeded(100);
    tg_rng_seed(&a, 100);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(tg_rng_uint32(&a), tg_rng_uint32(&b));
    TGT_ASSERT_SAME(tg_rng_normal(&a), tg_rng_normal(&b));
}
END_TEST

/* ---- the Quadratic module and tg_module_parameters ------------------------------- */

START_TEST(test_quadratic_module)
{
    tg_module *m = tg_nn_quadratic(TG_FLOAT64, 0.5, -2.0);
    ck_assert_ptr_nonnull(m);
    const tg_params *ps = tg_module_parameters(m);
    ck_assert_ptr_nonnull(ps);
    ck_assert_int_eq(ps->count, 2);
    ck_assert_str_eq(ps->names[0], "w");
    ck_assert_str_eq(ps->names[1], "b");
    ck_assert(tg_requires_grad_of(ps->tensors[0]));
    tg_quadratic *q = tg_module_layer(m, "Quadratic");
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_eq(q->w, ps->tensors[0]);

    /* forward: the layer's, 0.5 x^2 - 2 */
    tg_tensor *x = tg_linspace(TG_FLOAT64, -1.0, 1.0, 5);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_module_forward(T, m, x);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < 5; i++) {
        double v = tgt_at(x, i);
        TGT_ASSERT_SAME(tgt_at(y, i), 0.5 * (v * v) + -2.0);
    }
    ck_assert_int_eq(tg_module_num_params(m), 2);
    tg_tape_free(T);
    tg_free(x);
    tg_module_free(m);

    ck_assert_ptr_null(tg_nn_quadratic(TG_INT32, 1.0, 1.0));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_quadratic_init");
}
END_TEST

START_TEST(test_module_parameters)
{
    tg_module *net = tg_nn_sequential(3, (tg_module *[]){tg_nn_linear(2, 4, TG_FLOAT64, NULL),
                                                         tg_nn_relu(),
                                                         tg_nn_linear(4, 1, TG_FLOAT64, NULL)});
    const tg_params *ps = tg_module_parameters(net);
    ck_assert_ptr_nonnull(ps);
    ck_assert_int_eq(ps->count, 4);
    ck_assert_str_eq(ps->names[0], "0.weight");
    ck_assert_str_eq(ps->names[3], "2.bias");
    /* rebuilt, not appended to, at each call; the same list as tg_module_params */
    ck_assert_ptr_eq(tg_module_parameters(net), ps);
    ck_assert_int_eq(ps->count, 4);
    tg_params mine = {0};
    ck_assert_int_eq(tg_module_params(net, &mine), TG_OK);
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_eq(mine.tensors[i], ps->tensors[i]);
        ck_assert_str_eq(mine.names[i], ps->names[i]);
    }
    tg_module_free(net);

    /* a NULL module (its constructor failed) keeps that message */
    ck_assert_ptr_null(tg_module_parameters(tg_nn_linear(0, -1, TG_FLOAT64, NULL)));
    ck_assert_int_ne(tg_last_error(), TG_OK);
    ck_assert_ptr_null(strstr(tg_last_message(), "tg_module_parameters"));
    tg_module bare;
    memset(&bare, 0, sizeof bare);
    ck_assert_ptr_null(tg_module_parameters(&bare));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_module_parameters: module is not initialised");

    /* allocation failures: NULL, out of memory, nothing leaked */
    tg_module *m = tg_nn_quadratic(TG_FLOAT64, 1.0, 2.0);
    tgt_stats.fail_at = tgt_stats.calls + 1;
    ck_assert_ptr_null(tg_module_parameters(m));
    tgt_stats.fail_at = 0;
    TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_module_parameters");
    ck_assert_ptr_nonnull(tg_module_parameters(m));
    tg_module_free(m);
}
END_TEST

/* ---- the optimiser handle ----------------------------------------------------------- */

/* A small float64 model and its list: w (3,), b (1,), drawn from seed. */
typedef struct small {
    tg_tensor *w, *b, *x, *y;
    tg_params ps;
} small;

static void small_init(small *s, uint32_t seed)
{
    tg_rng rng = tg_rng_seeded(seed);
    memset(s, 0, sizeof *s);
    s->w = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(3));
    s->b = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(1));
    s->x = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(8, 3));
    s->y = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(8));
    ck_assert_int_eq(tg_params_add(&s->ps, "w", s->w), TG_OK);
    ck_assert_int_eq(tg_params_add(&s->ps, "b", s->b), TG_OK);
}

static void small_free(small *s)
{
    tg_free(s->w);
    tg_free(s->b);
    tg_free(s->x);
    tg_free(s->y);
}

static tg_tensor *small_loss(tg_tape *T, small *s)
{
    return tg_loss_mse(T, tg_ad_add(T, tg_ad_matmul(T, s->x, s->w), s->b), s->y);
}

/* Five steps of each optimiser through the handle and tg_step, and through
 * its struct and a written-out step: the same losses and parameters, bit
 * for bit. kind: 0 SGD (momentum, Nesterov), 1 AdamW, 2 RMSprop
 * (centered, momentum), 3 Adagrad. */
START_TEST(test_handle_equals_struct)
{
    int kind = _i;
    small a, b;
    small_init(&a, 7);
    small_init(&b, 7);
    tg_optim *o = NULL;
    tg_sgd sgd;
    tg_adam adam;
    tg_rmsprop rms;
    tg_adagrad ada;
    switch (kind) {
    case 0:
        o = tg_optim_sgd(&a.ps, 0.1, 0.9, 0.01, true);
        ck_assert_int_eq(tg_sgd_init(&sgd, &b.ps, 0.1, 0.9, 0.01, true), TG_OK);
        break;
    case 1:
        o = tg_optim_adam(&a.ps, 0.01, 0.9, 0.999, 1e-8, 0.1, true);
        ck_assert_int_eq(tg_adam_init(&adam, &b.ps, 0.01, 0.9, 0.999, 1e-8, 0.1, true), TG_OK);
        break;
    case 2:
        o = tg_optim_rmsprop(&a.ps, 0.01, 0.99, 1e-8, 0.0, 0.5, true);
        ck_assert_int_eq(tg_rmsprop_init(&rms, &b.ps, 0.01, 0.99, 1e-8, 0.0, 0.5, true), TG_OK);
        break;
    default:
        o = tg_optim_adagrad(&a.ps, 0.1, 0.01, 0.0, 0.1, 1e-10);
        ck_assert_int_eq(tg_adagrad_init(&ada, &b.ps, 0.1, 0.01, 0.0, 0.1, 1e-10), TG_OK);
    }
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(tg_optim_params(o)->count, 2);
    ck_assert_ptr_eq(tg_optim_groups(o)->params, tg_optim_params(o));
    tg_tape *T = tg_tape_new();
    for (int step = 0; step < 5; step++) {
        double la = 0.0, lb = 0.0;
        ck_assert_int_eq(tg_step(T, small_loss(T, &a), o, &la), TG_OK);
        ck_assert_uint_eq(tg_tape_length(T), 0); /* reset for the next forward */

        tg_tensor *l = small_loss(T, &b);
        ck_assert_int_eq(tg_item(l, &lb), TG_OK);
        ck_assert_int_eq(tg_params_zero_grad(&b.ps), TG_OK);
        ck_assert_int_eq(tg_backward(T, l), TG_OK);
        int rc = kind == 0   ? tg_sgd_step(&sgd)
                 : kind == 1 ? tg_adam_step(&adam)
                 : kind == 2 ? tg_rmsprop_step(&rms)
                             : tg_adagrad_step(&ada);
        ck_assert_int_eq(rc, TG_OK);
        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        TGT_ASSERT_SAME(la, lb);
    }
    for (int i = 0; i < 3; i++)
        TGT_ASSERT_SAME(tgt_at(a.w, i), tgt_at(b.w, i));
    TGT_ASSERT_SAME(tgt_at(a.b, 0), tgt_at(b.b, 0));
    ck_assert_int_eq(tg_optim_steps(o), 5);
    tg_optim_free(o);
    switch (kind) {
    case 0:
        tg_sgd_free(&sgd);
        break;
    case 1:
        tg_adam_free(&adam);
        break;
    case 2:
        tg_rmsprop_free(&rms);
        break;
    default:
        tg_adagrad_free(&ada);
    }
    tg_tape_free(T);
    small_free(&a);
    small_free(&b);
}
END_TEST

/* The handle copies the list: the caller's may change or go away. A group
 * added through tg_optim_groups and a schedule reach the update. */
START_TEST(test_handle_copies_list_and_groups)
{
    small a;
    small_init(&a, 3);
    tg_params *tmp = malloc(sizeof *tmp);
    ck_assert_ptr_nonnull(tmp);
    *tmp = a.ps;
    tg_optim *o = tg_optim_sgd(tmp, 0.5, 0.0, 0.0, false);
    memset(tmp, 0xff, sizeof *tmp);
    free(tmp);
    ck_assert_int_eq(tg_param_groups_add(tg_optim_groups(o), "b", 0.0, 0.0), TG_OK);
    double b0 = tgt_at(a.b, 0), w0 = tgt_at(a.w, 0);
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(tg_step(T, small_loss(T, &a), o, NULL), TG_OK);
    TGT_ASSERT_SAME(tgt_at(a.b, 0), b0); /* lr 0 in b's group */
    ck_assert(tgt_at(a.w, 0) != w0);
    ck_assert_int_eq(tg_optim_zero_grad(o), TG_OK);
    TGT_ASSERT_SAME(tgt_at(tg_grad(a.w), 0), 0.0);
    tg_optim_free(o);
    tg_tape_free(T);
    small_free(&a);
}
END_TEST

START_TEST(test_handle_errors)
{
    small a;
    small_init(&a, 1);
    ck_assert_ptr_null(tg_optim_sgd(&a.ps, -1.0, 0.0, 0.0, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "lr = -1 must be finite and >= 0");
    ck_assert_ptr_null(tg_optim_adam(&a.ps, 1e-3, 1.5, 0.999, 1e-8, 0.0, false));
    ck_assert_int_eq(tg_last_error(), TG_ERR_VALUE);
    ck_assert_ptr_null(tg_optim_rmsprop(&a.ps, 1e-2, 2.0, 1e-8, 0.0, 0.0, false));
    ck_assert_int_eq(tg_last_error(), TG_ERR_VALUE);
    ck_assert_ptr_null(tg_optim_adagrad(&a.ps, (double)NAN, 0.0, 0.0, 0.0, 1e-10));
    ck_assert_int_eq(tg_last_error(), TG_ERR_VALUE);

    /* a NULL list: a message of its own, or the maker's kept */
    tg_clear_error();
    ck_assert_ptr_null(tg_optim_sgd(NULL, 0.1, 0.0, 0.0, false));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_optim_sgd: parameter list is NULL");
    ck_assert_ptr_null(tg_optim_adam(tg_module_parameters(NULL), 0.1, 0.9, 0.999, 1e-8, 0, 0));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_optim_sgd: parameter list is NULL");

    ck_assert_int_eq(tg_optim_step(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_optim_step: optimiser is NULL");
    ck_assert_int_eq(tg_optim_zero_grad(NULL), TG_ERR_NULL);
    ck_assert_ptr_null(tg_optim_groups(NULL));
    ck_assert_ptr_null(tg_optim_params(NULL));
    ck_assert_int_eq(tg_optim_steps(NULL), -1);
    tg_optim_free(NULL);

    /* allocation failures, in turn: NULL, out of memory, nothing leaked */
    for (long k = 1;; k++) {
        tgt_stats.fail_at = tgt_stats.calls + k;
        tg_optim *o = tg_optim_adam(&a.ps, 1e-3, 0.9, 0.999, 1e-8, 0.0, false);
        tgt_stats.fail_at = 0;
        if (o) {
            ck_assert_int_gt(k, 2); /* the handle, then the moments */
            tg_optim_free(o);
            break;
        }
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_");
        ck_assert_int_lt(k, 50);
    }
    small_free(&a);
}
END_TEST

START_TEST(test_step_errors)
{
    small a;
    small_init(&a, 2);
    tg_optim *o = tg_optim_sgd(&a.ps, 0.1, 0.0, 0.0, false);
    tg_tape *T = tg_tape_new();
    double w0 = tgt_at(a.w, 0), v = 42.0;

    /* a forward pass that failed: its message stands, nothing is updated,
     * the tape is reset */
    tg_tensor *bad = tg_ad_add(T, a.x, tg_ad_matmul(T, a.x, a.x)); /* (8,3)@(8,3) */
    ck_assert_ptr_null(bad);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", tg_last_message());
    ck_assert_int_eq(tg_step(T, bad, o, &v), TG_ERR_NULL);
    ck_assert_str_eq(tg_last_message(), msg);
    TGT_ASSERT_SAME(v, 42.0);
    TGT_ASSERT_SAME(tgt_at(a.w, 0), w0);

    ck_assert_int_eq(tg_step(T, tg_ad_mul(T, a.x, a.x), o, &v), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_step: the loss has 24 elements, not one");
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert_int_eq(tg_step(T, small_loss(T, &a), NULL, &v), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_step: optimiser is NULL");
    ck_assert_int_eq(tg_step(NULL, a.w, o, &v), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_step: tape is NULL");
    /* a loss from another tape */
    tg_tape *U = tg_tape_new();
    ck_assert_int_ne(tg_step(T, small_loss(U, &a), o, &v), TG_OK);
    ck_assert_int_eq(tg_last_error(), TG_ERR_TAPE);
    TGT_ASSERT_SAME(tgt_at(a.w, 0), w0);
    tg_tape_free(U);
    tg_optim_free(o);
    tg_tape_free(T);
    small_free(&a);
}
END_TEST

/* Allocation failures in the constructors not swept above and in a step
 * on a fresh tape: NOMEM, nothing leaked (the fixture checks), and a
 * failed step leaves the parameters as they were. */
START_TEST(test_more_allocation_failures)
{
    for (long k = 1;; k++) {
        tgt_stats.fail_at = tgt_stats.calls + k;
        tg_module *m = tg_nn_quadratic(TG_FLOAT64, 1.0, 2.0);
        tgt_stats.fail_at = 0;
        if (m) {
            tg_module_free(m);
            break;
        }
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_");
        ck_assert_int_lt(k, 20);
    }
    small a;
    small_init(&a, 4);
    for (int kind = 0; kind < 3; kind++)
        for (long k = 1;; k++) {
            tgt_stats.fail_at = tgt_stats.calls + k;
            tg_optim *o = kind == 0   ? tg_optim_sgd(&a.ps, 0.1, 0.9, 0.0, false)
                          : kind == 1 ? tg_optim_rmsprop(&a.ps, 0.01, 0.99, 1e-8, 0, 0.5, true)
                                      : tg_optim_adagrad(&a.ps, 0.1, 0.0, 0.0, 0.0, 1e-10);
            tgt_stats.fail_at = 0;
            if (o) {
                tg_optim_free(o);
                break;
            }
            TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_");
            ck_assert_int_lt(k, 50);
        }
    tg_optim *o = tg_optim_sgd(&a.ps, 0.1, 0.0, 0.0, false);
    for (long k = 1;; k++) {
        tg_tape *T = tg_tape_new();
        tg_tensor *l = small_loss(T, &a);
        ck_assert_ptr_nonnull(l);
        double w0 = tgt_at(a.w, 0), v;
        tgt_stats.fail_at = tgt_stats.calls + k;
        int rc = tg_step(T, l, o, &v);
        tgt_stats.fail_at = 0;
        tg_tape_free(T);
        if (rc == TG_OK)
            break;
        ck_assert_int_eq(rc, TG_ERR_NOMEM);
        TGT_ASSERT_SAME(tgt_at(a.w, 0), w0);
        ck_assert_int_lt(k, 100);
    }
    tg_optim_free(o);
    small_free(&a);
}
END_TEST

/* ---- the scope ------------------------------------------------------------------- */

START_TEST(test_scope_owns_and_frees)
{
    tg_scope *S = tg_scope_new("prog");
    ck_assert_ptr_nonnull(S);
    tg_tape *T = tg_keep(S, tg_tape_new());
    tg_tensor *x = tg_keep(S, tg_zeros(TG_FLOAT64, TG_SHAPE(4)));
    tg_module *m = tg_keep(S, tg_nn_quadratic(TG_FLOAT64, 1.0, 0.0));
    tg_optim *o = tg_keep(S, tg_optim_sgd(tg_module_parameters(m), 0.1, 0, 0, false));
    tg_rng rng = tg_rng_seeded(0);
    tg_batches *B = tg_keep(S, tg_batches_new(2, &rng, false));
    for (int i = 0; i < 40; i++) /* past the first growth of the list */
        ck_assert_ptr_nonnull(tg_keep(S, tg_ones(TG_FLOAT32, TG_SHAPE(3))));
    ck_assert(T && x && m && o && B);
    ck_assert(!tg_failed(S));
    ck_assert(tg_check(S, TG_OK));
    ck_assert_str_eq(tg_scope_message(S), "");
    ck_assert_int_eq(tg_step(T, tg_ad_sum(T, tg_module_forward(T, m, x)), o, NULL), TG_OK);
    ck_assert_int_eq(tg_scope_end(S), 0); /* the fixture finds every block freed */
}
END_TEST

START_TEST(test_scope_keeps_first_failure)
{
    tg_scope *S = tg_scope_new("prog");
    tg_tensor *x = tg_keep(S, tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3)));
    tg_tensor *bad = tg_keep(S, tg_reshape(x, TG_SHAPE(4)));
    ck_assert_ptr_null(bad);
    ck_assert(tg_failed(S));
    ck_assert_ptr_nonnull(strstr(tg_scope_message(S), "tg_reshape"));
    /* later failures do not replace the first message; objects kept after
     * a failure are still owned */
    ck_assert(!tg_check(S, tg_fill(NULL, 0.0)));
    ck_assert_ptr_nonnull(strstr(tg_scope_message(S), "tg_reshape"));
    ck_assert_ptr_nonnull(tg_keep(S, tg_ones(TG_FLOAT64, TG_SHAPE(2))));
    ck_assert(!tg_check(S, TG_OK));
    ck_assert_int_eq(tg_scope_end(S), 1);

    /* tg_check on its own: the message of the call that failed */
    S = tg_scope_new("prog");
    ck_assert(!tg_check(S, tg_lr_step(NULL, 1, 0.5)));
    ck_assert_ptr_nonnull(strstr(tg_scope_message(S), "tg_lr_step"));
    ck_assert_int_eq(tg_scope_end(S), 1);

    /* a condition with no error behind it still fails, with a message */
    tg_clear_error();
    S = tg_scope_new("prog");
    ck_assert(!tg_check(S, 1));
    ck_assert_str_ne(tg_scope_message(S), "");
    ck_assert_int_eq(tg_scope_end(S), 1);
}
END_TEST

START_TEST(test_scope_null_and_oom)
{
    /* a NULL scope: what it is given is freed at once (the fixture checks) */
    ck_assert_ptr_null(tg_keep(NULL, tg_zeros(TG_FLOAT64, TG_SHAPE(3))));
    ck_assert_ptr_null(tg_keep(NULL, tg_tape_new()));
    ck_assert(tg_failed(NULL));
    ck_assert(!tg_check(NULL, TG_OK));
    ck_assert_ptr_nonnull(strstr(tg_scope_message(NULL), "out of memory"));
    ck_assert_int_eq(tg_scope_end(NULL), 1);

    tgt_stats.fail_at = tgt_stats.calls + 1;
    ck_assert_ptr_null(tg_scope_new("prog"));
    tgt_stats.fail_at = 0;
    TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_scope_new");

    /* the list cannot grow: the object is freed, the scope fails */
    tg_scope *S = tg_scope_new("prog");
    tg_tensor *t = tg_zeros(TG_FLOAT64, TG_SHAPE(3));
    tgt_stats.fail_at = tgt_stats.calls + 1;
    ck_assert_ptr_null(tg_keep(S, t));
    tgt_stats.fail_at = 0;
    ck_assert(tg_failed(S));
    ck_assert_ptr_nonnull(strstr(tg_scope_message(S), "tg_keep: out of memory"));
    ck_assert_int_eq(tg_scope_end(S), 1);

    S = tg_scope_new(NULL);
    int dummy;
    ck_assert_ptr_null(tg_keep_object(S, &dummy, NULL));
    ck_assert_ptr_nonnull(strstr(tg_scope_message(S), "release function is NULL"));
    ck_assert_int_eq(tg_scope_end(S), 1);
}
END_TEST

/* ---- tg_binary_accuracy --------------------------------------------------------- */

START_TEST(test_binary_accuracy)
{
    tg_tensor *z = tg_from_array(TG_FLOAT64, TG_SHAPE(2, 3),
                                 (const double[]){-1, 2, 0, 3, (double)NAN, -0.5});
    tg_tensor *y = tg_from_array(TG_FLOAT64, TG_SHAPE(2, 3),
                                 (const double[]){0, 1, 1, 0, 0, 0.5});
    /* hits: (-1,0) (2,1) (NaN,0) (-0.5,0.5): 4 of 6; 0 > 0 is false */
    TGT_ASSERT_SAME(tg_binary_accuracy(z, y), 4.0 / 6.0);
    /* views: the transposes pair the same elements */
    tg_tensor *zt = tg_transpose(z, 0, 1), *yt = tg_transpose(y, 0, 1);
    TGT_ASSERT_SAME(tg_binary_accuracy(zt, yt), 4.0 / 6.0);
    /* integer targets */
    tg_tensor *yi = tg_from_array(TG_INT64, TG_SHAPE(2, 3), (const int64_t[]){0, 1, 1, 0, 0, 1});
    TGT_ASSERT_SAME(tg_binary_accuracy(z, yi), 3.0 / 6.0);

    TGT_ASSERT_SAME(tg_binary_accuracy(z, zt), -1.0);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_binary_accuracy: logits have shape (2,3) and targets (3,2)");
    TGT_ASSERT_SAME(tg_binary_accuracy(yi, yi), -1.0);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_binary_accuracy");
    TGT_ASSERT_SAME(tg_binary_accuracy(z, NULL), -1.0);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_binary_accuracy: targets is NULL");
    tg_clear_error();
    TGT_ASSERT_SAME(tg_binary_accuracy(NULL, y), -1.0);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_binary_accuracy: logits is NULL");
    tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(0));
    ck_assert(isnan(tg_binary_accuracy(e, e)));
    tg_free(e);
    tg_free(z);
    tg_free(y);
    tg_free(zt);
    tg_free(yt);
    tg_free(yi);
}
END_TEST

Suite *test_scope_suite(void); /* called by the generated runner */
Suite *test_scope_suite(void)
{
    Suite *s = suite_create("scope");
    TCase *tc = tgt_tcase("pieces");
    tcase_add_test(tc, test_rng_seeded);
    tcase_add_test(tc, test_quadratic_module);
    tcase_add_test(tc, test_module_parameters);
    tcase_add_test(tc, test_binary_accuracy);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("optimiser handle and step");
    tcase_add_loop_test(tc, test_handle_equals_struct, 0, 4);
    tcase_add_test(tc, test_handle_copies_list_and_groups);
    tcase_add_test(tc, test_handle_errors);
    tcase_add_test(tc, test_step_errors);
    tcase_add_test(tc, test_more_allocation_failures);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("scope");
    tcase_add_test(tc, test_scope_owns_and_frees);
    tcase_add_test(tc, test_scope_keeps_first_failure);
    tcase_add_test(tc, test_scope_null_and_oom);
    suite_add_tcase(s, tc);
    return s;
}
