/* test_plan.c - capture and replay (autograd/plan.h). A replayed step must
 * give the eager step's numbers bit for bit (the chapter with plain
 * updates, an MLP with Adam and a changing batch, tg_step); a replay makes
 * no allocation; a replay whose inputs changed is refused; a step that a
 * replay could not repeat is refused when the capture ends, naming what;
 * errors and allocation failures leak nothing (the fixture checks). */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "tensor/internal.h" /* to change a captured input's header in place */

static bool same_bits(const tg_tensor *a, const tg_tensor *b)
{
    return a->numel == b->numel && a->dtype == b->dtype &&
           !memcmp(tg_data(a), tg_data(b), (size_t)a->numel * tg_dtype_size(a->dtype));
}

/* ---- the chapter ----------------------------------------------------------------- */

typedef struct chapter {
    tg_tensor *x, *y, *w, *b;
    tg_tape *T;
    tg_tensor *loss; /* the last step's, on T */
} chapter;

static void chapter_init(chapter *c, tg_tensor *x, tg_tensor *y)
{
    c->x = x;
    c->y = y;
    c->w = tg_full(tg_dtype_of(x), TG_SHAPE(1), 0.5);
    c->b = tg_full(tg_dtype_of(x), TG_SHAPE(1), 0.25);
    c->T = tg_tape_new();
    ck_assert(c->w && c->b && c->T);
    ck_assert_int_eq(tg_requires_grad(c->w, true), TG_OK);
    ck_assert_int_eq(tg_requires_grad(c->b, true), TG_OK);
}

static void chapter_free(chapter *c)
{
    tg_tape_free(c->T);
    tg_free(c->w);
    tg_free(c->b);
}

/* examples/chapter_autograd.c's step; TG_OK or the first error */
static int chapter_step(chapter *c)
{
    tg_tape *T = c->T;
    int rc = tg_tape_reset(T);
    if (rc)
        return rc;
    tg_tensor *x2 = tg_ad_pow_scalar(T, c->x, 2.0);
    tg_tensor *err = tg_ad_sub(T, tg_ad_add(T, tg_ad_mul(T, x2, c->w), c->b), c->y);
    c->loss = tg_ad_sum(T, tg_ad_mul_scalar(T, tg_ad_pow_scalar(T, err, 2.0), 0.5));
    if (!c->loss)
        return tg_last_error();
    if ((rc = tg_zero_grad(c->w)) || (rc = tg_zero_grad(c->b)) ||
        (rc = tg_backward(T, c->loss)))
        return rc;
    if ((rc = tg_axpy_into(c->w, -0.001, tg_grad(c->w))))
        return rc;
    return tg_axpy_into(c->b, -0.001, tg_grad(c->b));
}

static tg_plan *chapter_capture(chapter *c)
{
    ck_assert_int_eq(tg_capture_begin(c->T), TG_OK);
    ck_assert(tg_tape_is_capturing(c->T));
    ck_assert_int_eq(chapter_step(c), TG_OK);
    tg_plan *P = tg_capture_end(c->T);
    ck_assert_msg(P != NULL, "%s", tg_last_message());
    ck_assert(!tg_tape_is_capturing(c->T));
    return P;
}

static void chapter_data(tg_tensor **x, tg_tensor **y)
{
    tg_rng rng = tg_rng_seeded(100);
    *x = tg_linspace(TG_FLOAT64, -1.0, 1.0, 100);
    *y = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(100));
    ck_assert(*x && *y);
    double *ys = tg_data(*y);
    const double *xs = tg_data(*x);
    for (int i = 0; i < 100; i++)
        ys[i] = 3.0 * xs[i] * xs[i] + 2.0 + 0.2 * ys[i];
}

START_TEST(test_chapter_replay_is_eager)
{
    tg_tensor *x, *y;
    chapter_data(&x, &y);
    chapter eager, rep;
    chapter_init(&eager, x, y);
    chapter_init(&rep, x, y);
    ck_assert_int_eq(chapter_step(&eager), TG_OK); /* makes the .grads */
    ck_assert_int_eq(chapter_step(&rep), TG_OK);
    ck_assert_int_eq(chapter_step(&eager), TG_OK);
    tg_plan *P = chapter_capture(&rep); /* the capture is a real step */
    ck_assert(same_bits(eager.w, rep.w) && same_bits(eager.b, rep.b));

    tg_plan_stats st;
    ck_assert_int_eq(tg_plan_get_stats(P, &st), TG_OK);
    ck_assert_uint_ge(st.kernels, 10);
    ck_assert_uint_eq(st.inputs, 6); /* x, y, w, b and the two .grads */
    ck_assert_uint_gt(st.plan_bytes, st.kernels * sizeof(tg_tensor));
    ck_assert_uint_gt(st.tape_bytes, 0);

    double captured_loss = tgt_at(rep.loss, 0);
    tg_tape_stats before, after;
    ck_assert_int_eq(tg_tape_get_stats(rep.T, &before), TG_OK);
    long calls = tgt_stats.calls;
    for (int step = 0; step < 50; step++) {
        ck_assert_int_eq(chapter_step(&eager), TG_OK);
        ck_assert_int_eq(tg_plan_replay(P), TG_OK);
        ck_assert(same_bits(eager.loss, rep.loss));
        ck_assert(same_bits(eager.w, rep.w));
        ck_assert(same_bits(eager.b, rep.b));
        ck_assert(same_bits(tg_grad(eager.w), tg_grad(rep.w)));
        if (step == 0) /* the eager side's own, after its first step: none */
            calls = tgt_stats.calls;
    }
    ck_assert_int_eq(tgt_stats.calls, calls); /* neither side allocates */
    /* and the replays did not grow the tape's arena */
    ck_assert_int_eq(tg_tape_get_stats(rep.T, &after), TG_OK);
    ck_assert_uint_eq(after.bytes_in_use, before.bytes_in_use);
    ck_assert_uint_eq(after.reserved, before.reserved);
    ck_assert_uint_eq(after.records, before.records);
    /* the loss went down: the replays train */
    ck_assert_double_lt(tgt_at(rep.loss, 0), captured_loss);

    /* new data written into the captured input is used */
    double *ys = tg_data(y);
    ys[7] += 1.0;
    ck_assert_int_eq(chapter_step(&eager), TG_OK);
    ck_assert_int_eq(tg_plan_replay(P), TG_OK);
    ck_assert(same_bits(eager.w, rep.w) && same_bits(eager.loss, rep.loss));

    tg_plan_free(P);
    chapter_free(&eager);
    chapter_free(&rep);
    tg_free(x);
    tg_free(y);
}
END_TEST

/* ---- an MLP with Adam on a batch that changes ------------------------------------ */

typedef struct mlp_side {
    tg_mlp net;
    tg_params ps;
    tg_adam opt;
    tg_tape *T;
} mlp_side;

static void mlp_init(mlp_side *m)
{
    memset(m, 0, sizeof *m);
    tg_rng rng = tg_rng_seeded(7);
    ck_assert_int_eq(tg_mlp_init(&m->net, 3, (const int64_t[]){6, 16, 3}, TG_ACT_RELU,
                                 TG_FLOAT64, &rng), TG_OK);
    ck_assert_int_eq(tg_mlp_params(&m->net, &m->ps), TG_OK);
    ck_assert_int_eq(tg_adam_init(&m->opt, &m->ps, 1e-2, 0.9, 0.999, 1e-8, 0.01, true),
                     TG_OK);
    m->T = tg_tape_new();
    ck_assert_ptr_nonnull(m->T);
}

static void mlp_free(mlp_side *m)
{
    tg_tape_free(m->T);
    tg_adam_free(&m->opt);
    tg_mlp_free(&m->net);
}

static int mlp_step(mlp_side *m, tg_tensor *x, tg_tensor *labels, tg_tensor **loss)
{
    int rc = tg_tape_reset(m->T);
    if (rc)
        return rc;
    *loss = tg_loss_cross_entropy(m->T, tg_mlp_forward(m->T, &m->net, x), labels);
    if (!*loss)
        return tg_last_error();
    if ((rc = tg_params_zero_grad(&m->ps)) || (rc = tg_backward(m->T, *loss)))
        return rc;
    return tg_adam_step(&m->opt);
}

static void new_batch(tg_rng *rng, tg_tensor *x, tg_tensor *labels)
{
    ck_assert_int_eq(tg_randn_fill(rng, x), TG_OK);
    int64_t *l = tg_data(labels);
    for (int64_t i = 0; i < tg_numel(labels); i++)
        l[i] = (int64_t)(tg_rng_uint32(rng) % 3u);
}

START_TEST(test_mlp_adam_replay_is_eager)
{
    mlp_side eager, rep;
    mlp_init(&eager);
    mlp_init(&rep);
    tg_tensor *x = tg_empty(TG_FLOAT64, TG_SHAPE(8, 6));
    tg_tensor *labels = tg_empty(TG_INT64, TG_SHAPE(8));
    ck_assert(x && labels);
    tg_rng rng = tg_rng_seeded(3);
    tg_tensor *le, *lr;
    new_batch(&rng, x, labels);
    ck_assert_int_eq(mlp_step(&eager, x, labels, &le), TG_OK);
    ck_assert_int_eq(mlp_step(&rep, x, labels, &lr), TG_OK);
    new_batch(&rng, x, labels);
    ck_assert_int_eq(mlp_step(&eager, x, labels, &le), TG_OK);
    ck_assert_int_eq(tg_capture_begin(rep.T), TG_OK);
    ck_assert_int_eq(mlp_step(&rep, x, labels, &lr), TG_OK);
    tg_plan *P = tg_capture_end(rep.T);
    ck_assert_msg(P != NULL, "%s", tg_last_message());
    for (int step = 0; step < 18; step++) {
        new_batch(&rng, x, labels);
        if (step == 6) /* a schedule's change reaches the replayed update */
            eager.opt.groups.lr[0] = rep.opt.groups.lr[0] = 3e-3;
        if (step == 12) {
            /* The MLP has no whole sum (its loss is a mean, its bias
             * gradients sums over rows): fused, still bit for bit. */
            ck_assert_int_eq(tg_plan_fuse(P, 0, NULL), TG_OK);
            tg_plan_stats st;
            ck_assert_int_eq(tg_plan_get_stats(P, &st), TG_OK);
            ck_assert_uint_ge(st.fused_groups, 1);
        }
        ck_assert_int_eq(mlp_step(&eager, x, labels, &le), TG_OK);
        long before = tgt_stats.calls;
        ck_assert_int_eq(tg_plan_replay(P), TG_OK);
        ck_assert_int_eq(tgt_stats.calls, before); /* no allocation */
        ck_assert(same_bits(le, lr));
        for (int i = 0; i < eager.ps.count; i++) {
            ck_assert(same_bits(eager.ps.tensors[i], rep.ps.tensors[i]));
            ck_assert(same_bits(tg_grad(eager.ps.tensors[i]), tg_grad(rep.ps.tensors[i])));
        }
    }
    ck_assert_int_eq(rep.opt.t[0], eager.opt.t[0]); /* Adam's counts advanced */
    tg_plan_free(P);
    mlp_free(&eager);
    mlp_free(&rep);
    tg_free(x);
    tg_free(labels);
}
END_TEST

/* ---- tg_step (the toolkit's one-call step) ------------------------------------------ */

START_TEST(test_tg_step_replays)
{
    tg_tensor *x, *y;
    chapter_data(&x, &y);
    tg_tensor *w[2], *b[2];
    tg_optim *opt[2];
    tg_tape *T[2];
    tg_tensor *loss[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        w[k] = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.5);
        b[k] = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.25);
        ck_assert_int_eq(tg_requires_grad(w[k], true), TG_OK);
        ck_assert_int_eq(tg_requires_grad(b[k], true), TG_OK);
        tg_params ps = {0};
        ck_assert_int_eq(tg_params_add(&ps, "w", w[k]), TG_OK);
        ck_assert_int_eq(tg_params_add(&ps, "b", b[k]), TG_OK);
        opt[k] = tg_optim_adam(&ps, 0.1, 0.9, 0.999, 1e-8, 0.0, false);
        T[k] = tg_tape_new();
        ck_assert(opt[k] && T[k]);
    }
    tg_plan *P = NULL;
    for (int step = 0; step < 20; step++) {
        for (int k = 0; k < 2; k++) {
            if (k == 1 && P) {
                ck_assert_int_eq(tg_plan_replay(P), TG_OK);
                continue;
            }
            if (k == 1 && step == 1)
                ck_assert_int_eq(tg_capture_begin(T[1]), TG_OK);
            tg_tensor *err = tg_ad_sub(T[k], tg_ad_add(T[k], tg_ad_mul(T[k],
                tg_ad_mul(T[k], x, x), w[k]), b[k]), y);
            loss[k] = tg_ad_mean(T[k], tg_ad_mul(T[k], err, err));
            double v;
            ck_assert_int_eq(tg_step(T[k], loss[k], opt[k], &v), TG_OK);
            if (k == 1 && step == 1) {
                P = tg_capture_end(T[1]);
                ck_assert_msg(P != NULL, "%s", tg_last_message());
            }
        }
        ck_assert(same_bits(w[0], w[1]) && same_bits(b[0], b[1]));
    }
    /* tg_step reset the eager tape each step; the captured one kept its
     * tensors, so the replayed loss is the one of the last replay, which
     * matches the eager loss computed before its own reset */
    ck_assert(tg_tape_length(T[0]) == 0);
    tg_plan_free(P);
    for (int k = 0; k < 2; k++) {
        tg_tape_free(T[k]);
        tg_optim_free(opt[k]);
        tg_free(w[k]);
        tg_free(b[k]);
    }
    tg_free(x);
    tg_free(y);
}
END_TEST

/* ---- a small CNN: convolution, pooling, dropout -------------------------------- */

typedef struct cnn_side {
    tg_tensor *k, *kb, *w, *wb; /* conv (3,1,3,3) + (3,), linear (12, 5) + (5,) */
    tg_params ps;
    tg_adam opt;
    tg_rng rng; /* dropout's */
    tg_tape *T;
} cnn_side;

static void cnn_init(cnn_side *c)
{
    memset(c, 0, sizeof *c);
    tg_rng init = tg_rng_seeded(21);
    c->k = tg_randn(&init, TG_FLOAT64, TG_SHAPE(3, 1, 3, 3));
    c->kb = tg_randn(&init, TG_FLOAT64, TG_SHAPE(3));
    c->w = tg_randn(&init, TG_FLOAT64, TG_SHAPE(12, 5));
    c->wb = tg_randn(&init, TG_FLOAT64, TG_SHAPE(5));
    tg_tensor *all[4] = {c->k, c->kb, c->w, c->wb};
    const char *names[4] = {"k", "kb", "w", "wb"};
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(all[i]);
        ck_assert_int_eq(tg_requires_grad(all[i], true), TG_OK);
        ck_assert_int_eq(tg_params_add(&c->ps, names[i], all[i]), TG_OK);
    }
    ck_assert_int_eq(tg_adam_init(&c->opt, &c->ps, 1e-2, 0.9, 0.999, 1e-8, 0.0, false),
                     TG_OK);
    c->rng = tg_rng_seeded(99);
    c->T = tg_tape_new();
    ck_assert_ptr_nonnull(c->T);
}

static void cnn_free(cnn_side *c)
{
    tg_tape_free(c->T);
    tg_adam_free(&c->opt);
    tg_free(c->k);
    tg_free(c->kb);
    tg_free(c->w);
    tg_free(c->wb);
}

/* x (4,1,8,8) -> conv 3x3 pad 1 -> relu -> max pool 2 -> avg pool 2 ->
 * dropout 0.25 -> (4, 12) @ w + wb -> cross-entropy; Adam */
static int cnn_step(cnn_side *c, tg_tensor *x, tg_tensor *labels, tg_tensor **loss)
{
    tg_tape *T = c->T;
    int rc = tg_tape_reset(T);
    if (rc)
        return rc;
    tg_conv_args args = TG_CONV_ARGS;
    args.padding[0] = args.padding[1] = 1;
    tg_tensor *h = tg_ad_relu(T, tg_ad_conv2d(T, x, c->k, c->kb, &args));
    h = tg_ad_max_pool2d(T, h, (const int64_t[]){2, 2}, NULL, NULL);  /* (4,3,4,4) */
    h = tg_ad_avg_pool2d(T, h, (const int64_t[]){2, 2}, NULL, NULL);  /* (4,3,2,2) */
    h = tg_ad_dropout(T, h, 0.25, true, &c->rng);
    h = tg_ad_reshape(T, h, 2, (const int64_t[]){4, 12});
    h = tg_ad_add(T, tg_ad_matmul(T, h, c->w), c->wb);
    *loss = tg_loss_cross_entropy(T, h, labels);
    if (!*loss)
        return tg_last_error();
    if ((rc = tg_params_zero_grad(&c->ps)) || (rc = tg_backward(T, *loss)))
        return rc;
    return tg_adam_step(&c->opt);
}

START_TEST(test_cnn_replay_is_eager)
{
    cnn_side eager, rep;
    cnn_init(&eager);
    cnn_init(&rep);
    tg_tensor *x = tg_empty(TG_FLOAT64, TG_SHAPE(4, 1, 8, 8));
    tg_tensor *labels = tg_empty(TG_INT64, TG_SHAPE(4));
    ck_assert(x && labels);
    tg_rng data = tg_rng_seeded(4);
    tg_tensor *le, *lr;
    new_batch(&data, x, labels);
    ck_assert_int_eq(cnn_step(&eager, x, labels, &le), TG_OK);
    ck_assert_int_eq(cnn_step(&rep, x, labels, &lr), TG_OK);
    new_batch(&data, x, labels);
    ck_assert_int_eq(cnn_step(&eager, x, labels, &le), TG_OK);
    ck_assert_int_eq(tg_capture_begin(rep.T), TG_OK);
    ck_assert_int_eq(cnn_step(&rep, x, labels, &lr), TG_OK);
    tg_plan *P = tg_capture_end(rep.T);
    ck_assert_msg(P != NULL, "%s", tg_last_message());
    for (int fused = 0; fused < 2; fused++) {
        if (fused) /* no whole sum here: fused, still bit for bit */
            ck_assert_int_eq(tg_plan_fuse(P, 0, NULL), TG_OK);
        for (int step = 0; step < 5; step++) {
            new_batch(&data, x, labels);
            ck_assert_int_eq(cnn_step(&eager, x, labels, &le), TG_OK);
            long before = tgt_stats.calls;
            ck_assert_int_eq(tg_plan_replay(P), TG_OK);
            ck_assert_int_eq(tgt_stats.calls, before);
            ck_assert(same_bits(le, lr));
            for (int i = 0; i < eager.ps.count; i++)
                ck_assert(same_bits(eager.ps.tensors[i], rep.ps.tensors[i]));
            /* each replay drew its own dropout mask, as the eager step did */
            ck_assert_uint_eq(tg_rng_uint32(&eager.rng), tg_rng_uint32(&rep.rng));
        }
    }
    /* the convolution's work buffer was sized for this thread count */
    int threads = tg_get_num_threads();
    ck_assert_int_eq(tg_set_num_threads(threads + 1), TG_OK);
    ck_assert_int_eq(tg_plan_replay(P), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "the thread count changed");
    ck_assert_int_eq(tg_set_num_threads(threads), TG_OK);
    ck_assert_int_eq(tg_plan_replay(P), TG_OK);
    tg_plan_free(P);
    cnn_free(&eager);
    cnn_free(&rep);
    tg_free(x);
    tg_free(labels);
}
END_TEST

/* ---- fusion ------------------------------------------------------------------------ */

/* |a - b| <= tol |b|, element by element */
static void assert_close(const tg_tensor *a, const tg_tensor *b, double tol)
{
    ck_assert_int_eq(tg_numel(a), tg_numel(b));
    for (int64_t i = 0; i < tg_numel(a); i++) {
        double x = tgt_at(a, i), y = tgt_at(b, i);
        ck_assert_msg(fabs(x - y) <= tol * fabs(y), "element %lld: %.17g against %.17g",
                      (long long)i, x, y);
    }
}

/* The chapter on n points, fused: each replay within tol of the eager step
 * from the same parameters (the sums are added tile by tile, the products
 * feeding them taken in), nothing allocated; unfused again, bit for bit. */
static void chapter_fused(tg_dtype dt, int64_t n, double tol)
{
    tg_rng rng = tg_rng_seeded(5);
    tg_tensor *x = tg_linspace(dt, -1.0, 1.0, n);
    tg_tensor *y = tg_randn(&rng, dt, TG_SHAPE(n));
    ck_assert(x && y);
    chapter eager, rep;
    chapter_init(&eager, x, y);
    chapter_init(&rep, x, y);
    ck_assert_int_eq(chapter_step(&eager), TG_OK);
    ck_assert_int_eq(chapter_step(&rep), TG_OK);
    tg_plan *P = chapter_capture(&rep);
    ck_assert_int_eq(chapter_step(&eager), TG_OK);
    ck_assert(same_bits(eager.w, rep.w));
    ck_assert_int_eq(tg_plan_fuse(P, 0, NULL), TG_OK);
    tg_plan_stats st;
    ck_assert_int_eq(tg_plan_get_stats(P, &st), TG_OK);
    ck_assert_uint_ge(st.fused_groups, 1);
    ck_assert_uint_ge(st.fused_kernels, 10);
    ck_assert_uint_gt(st.scratch_bytes, 0);
    long calls = tgt_stats.calls;
    for (int step = 0; step < 12; step++) {
        /* both sides start from the same parameters */
        ck_assert_int_eq(tg_copy(rep.w, eager.w), TG_OK);
        ck_assert_int_eq(tg_copy(rep.b, eager.b), TG_OK);
        ck_assert_int_eq(chapter_step(&eager), TG_OK);
        ck_assert_int_eq(tg_plan_replay(P), TG_OK);
        assert_close(rep.loss, eager.loss, tol);
        assert_close(tg_grad(rep.w), tg_grad(eager.w), tol);
        assert_close(tg_grad(rep.b), tg_grad(eager.b), tol);
        assert_close(rep.w, eager.w, tol);
        assert_close(rep.b, eager.b, tol);
    }
    ck_assert_int_eq(tgt_stats.calls, calls);

    /* unfused: bit for bit again */
    ck_assert_int_eq(tg_plan_unfuse(P), TG_OK);
    ck_assert_int_eq(tg_copy(rep.w, eager.w), TG_OK);
    ck_assert_int_eq(tg_copy(rep.b, eager.b), TG_OK);
    ck_assert_int_eq(chapter_step(&eager), TG_OK);
    ck_assert_int_eq(tg_plan_replay(P), TG_OK);
    ck_assert(same_bits(eager.loss, rep.loss) && same_bits(eager.w, rep.w));

    tg_plan_free(P);
    chapter_free(&eager);
    chapter_free(&rep);
    tg_free(x);
    tg_free(y);
}

START_TEST(test_fused_chapter)
{
    chapter_fused(TG_FLOAT64, 100, 1e-12);    /* one tile */
    chapter_fused(TG_FLOAT64, 100003, 1e-12); /* many, the last one short */
    /* float32's sums: the eager ones add in float, the fused in double */
    chapter_fused(TG_FLOAT32, 1000, 1e-5);
}
END_TEST

/* A kept intermediate is written by every fused replay, bit for bit the
 * eager one's; sums and anything outside a fused run always are. */
START_TEST(test_fused_keeps)
{
    tg_tensor *x, *y;
    chapter_data(&x, &y);
    tg_tensor *w = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.5);
    ck_assert_int_eq(tg_requires_grad(w, true), TG_OK);
    tg_tape *T = tg_tape_new();
    tg_tape *E = tg_tape_new();
    ck_assert(T && E);
    /* forward and backward of sum((w x - y)^2), no update: the inputs stay */
    tg_tensor *pred = NULL, *loss = NULL;
    tg_plan *P = NULL;
    for (int pass = 0; pass < 2; pass++) {
        tg_tape *U = pass ? E : T;
        if (!pass)
            ck_assert_int_eq(tg_capture_begin(T), TG_OK);
        tg_tensor *p = tg_ad_mul(U, x, w);
        tg_tensor *l = tg_ad_sum(U, tg_ad_pow_scalar(U, tg_ad_sub(U, p, y), 2.0));
        ck_assert_int_eq(tg_zero_grad(w), TG_OK);
        ck_assert_int_eq(tg_backward(U, l), TG_OK);
        if (!pass) {
            pred = p;
            loss = l;
            P = tg_capture_end(T);
            ck_assert_msg(P != NULL, "%s", tg_last_message());
        }
    }
    ck_assert_int_eq(tg_fill(pred, 0.0), TG_OK); /* outside the plan */
    ck_assert_int_eq(tg_fill(loss, 0.0), TG_OK);
    ck_assert_int_eq(tg_plan_fuse(P, 1, (const tg_tensor *const[]){pred}), TG_OK);
    ck_assert_int_eq(tg_plan_replay(P), TG_OK);
    /* E's last pass holds the eager values for the same inputs */
    tg_tensor *pe = tg_ad_mul(E, x, w);
    ck_assert(same_bits(pred, pe));
    assert_close(loss, tg_ad_sum(E, tg_ad_pow_scalar(E, tg_ad_sub(E, pe, y), 2.0)), 1e-12);

    ck_assert_int_eq(tg_plan_fuse(P, -1, NULL), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_plan_fuse: nkeep is negative");
    ck_assert_int_eq(tg_plan_fuse(P, 1, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_plan_fuse(P, 1, (const tg_tensor *const[]){NULL}), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_plan_fuse: keep[0] is NULL");
    ck_assert_int_eq(tg_plan_fuse(NULL, 0, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_plan_unfuse(NULL), TG_ERR_NULL);
    /* allocation failures in turn: the plan keeps its old program */
    for (long k = 1;; k++) {
        tgt_stats.fail_at = tgt_stats.calls + k;
        int rc = tg_plan_fuse(P, 1, (const tg_tensor *const[]){pred});
        tgt_stats.fail_at = 0;
        if (rc == TG_OK)
            break;
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_plan_fuse");
        ck_assert_int_eq(tg_plan_replay(P), TG_OK);
        ck_assert_int_lt(k, 20);
    }
    tg_plan_free(P);
    tg_tape_free(T);
    tg_tape_free(E);
    tg_free(w);
    tg_free(x);
    tg_free(y);
}
END_TEST

/* ---- random steps: the fusion pass against the eager tape ------------------------- */

/* A step made of k ops drawn once from a seed: element-wise ops on (n,)
 * tensors and on the (1,) parameter s, whole sums, and sums broadcast back
 * into later ops (which a fused group must not take in: the sum is not
 * complete until the group's last tile). The loss sums the last results;
 * backward, then SGD on s and v. */
enum { RAND_OPS = 14 };

typedef struct rand_prog {
    int op[RAND_OPS], a[RAND_OPS], b[RAND_OPS];
} rand_prog;

static void rand_prog_make(rand_prog *p, uint32_t seed)
{
    tg_rng rng = tg_rng_seeded(seed);
    for (int k = 0; k < RAND_OPS; k++) {
        p->op[k] = (int)(tg_rng_uint32(&rng) % 9u);
        p->a[k] = (int)(tg_rng_uint32(&rng) % (uint32_t)(k + 4));
        p->b[k] = (int)(tg_rng_uint32(&rng) % (uint32_t)(k + 4));
    }
}

typedef struct rand_side {
    tg_tensor *s, *v;
    tg_tape *T;
    tg_tensor *loss;
} rand_side;

static int rand_step(rand_side *r, const rand_prog *p, tg_tensor *x, tg_tensor *y)
{
    tg_tape *T = r->T;
    int rc = tg_tape_reset(T);
    if (rc)
        return rc;
    tg_tensor *val[RAND_OPS + 4] = {x, y, r->s, r->v};
    for (int k = 0; k < RAND_OPS; k++) {
        tg_tensor *a = val[p->a[k]], *b = val[p->b[k]];
        tg_tensor *o = NULL;
        switch (p->op[k]) {
        case 0: o = tg_ad_add(T, a, b); break;
        case 1: o = tg_ad_sub(T, a, b); break;
        case 2: o = tg_ad_mul(T, a, b); break;
        case 3: o = tg_ad_mul_scalar(T, a, 0.75); break;
        case 4: o = tg_ad_tanh(T, a); break;
        case 5: o = tg_ad_pow_scalar(T, a, 2.0); break;
        case 6: o = tg_ad_neg(T, a); break;
        case 7: o = tg_ad_mul(T, b, tg_ad_tanh(T, tg_ad_sum(T, tg_ad_mul(T, a, a))));
            break;
        default: o = tg_ad_relu(T, tg_ad_add(T, a, x)); break;
        }
        /* keep the values small: every other result through tanh */
        val[k + 4] = k % 2 ? tg_ad_tanh(T, o) : o;
    }
    tg_tensor *l = tg_ad_add(T, tg_ad_sum(T, val[RAND_OPS + 3]),
                             tg_ad_sum(T, tg_ad_mul(T, val[RAND_OPS + 2], val[RAND_OPS + 1])));
    /* s and v always reach the loss, so both always have a gradient */
    l = tg_ad_add(T, l, tg_ad_mul(T, r->s, r->s));
    r->loss = tg_ad_add(T, l, tg_ad_sum(T, tg_ad_mul(T, r->v, r->v)));
    if (!r->loss)
        return tg_last_error();
    if ((rc = tg_zero_grad(r->s)) || (rc = tg_zero_grad(r->v)) ||
        (rc = tg_backward(T, r->loss)))
        return rc;
    if ((rc = tg_axpy_into(r->s, -1e-3, tg_grad(r->s))))
        return rc;
    return tg_axpy_into(r->v, -1e-3, tg_grad(r->v));
}

static void rand_side_init(rand_side *r, int64_t n)
{
    tg_rng rng = tg_rng_seeded(8);
    r->s = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.5);
    r->v = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(n));
    r->T = tg_tape_new();
    ck_assert(r->s && r->v && r->T);
    ck_assert_int_eq(tg_requires_grad(r->s, true), TG_OK);
    ck_assert_int_eq(tg_requires_grad(r->v, true), TG_OK);
}

static void rand_side_free(rand_side *r)
{
    tg_tape_free(r->T);
    tg_free(r->s);
    tg_free(r->v);
}

/* Every element within tol of the eager one, relative to the larger of
 * its magnitude and 1 (a sum that cancels to near 0 keeps the rounding
 * of its terms). */
static void assert_near(const tg_tensor *a, const tg_tensor *b, double tol)
{
    for (int64_t i = 0; i < tg_numel(a); i++) {
        double x = tgt_at(a, i), y = tgt_at(b, i);
        double m = fabs(y) > 1.0 ? fabs(y) : 1.0;
        ck_assert_msg(fabs(x - y) <= tol * m, "element %lld: %.17g against %.17g",
                      (long long)i, x, y);
    }
}

START_TEST(test_fused_random_steps)
{
    int64_t n = _i % 2 ? 700 : 37; /* several tiles, and one short one */
    rand_prog p;
    rand_prog_make(&p, (uint32_t)_i + 1);
    tg_rng rng = tg_rng_seeded((uint32_t)_i + 100);
    tg_tensor *x = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(n));
    tg_tensor *y = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(n));
    ck_assert(x && y);
    rand_side eager, rep;
    rand_side_init(&eager, n);
    rand_side_init(&rep, n);
    ck_assert_int_eq(rand_step(&eager, &p, x, y), TG_OK);
    ck_assert_int_eq(rand_step(&rep, &p, x, y), TG_OK);
    ck_assert_int_eq(tg_capture_begin(rep.T), TG_OK);
    ck_assert_int_eq(rand_step(&rep, &p, x, y), TG_OK);
    tg_plan *P = tg_capture_end(rep.T);
    ck_assert_msg(P != NULL, "%s", tg_last_message());
    ck_assert_int_eq(rand_step(&eager, &p, x, y), TG_OK);
    for (int fused = 0; fused < 2; fused++) {
        if (fused)
            ck_assert_int_eq(tg_plan_fuse(P, 0, NULL), TG_OK);
        for (int step = 0; step < 4; step++) {
            /* from the same parameters, with new data */
            ck_assert_int_eq(tg_copy(rep.s, eager.s), TG_OK);
            ck_assert_int_eq(tg_copy(rep.v, eager.v), TG_OK);
            ck_assert_int_eq(tg_randn_fill(&rng, x), TG_OK);
            ck_assert_int_eq(rand_step(&eager, &p, x, y), TG_OK);
            ck_assert_int_eq(tg_plan_replay(P), TG_OK);
            if (!fused) { /* plain: bit for bit */
                ck_assert(same_bits(rep.loss, eager.loss));
                ck_assert(same_bits(rep.v, eager.v) && same_bits(rep.s, eager.s));
                ck_assert(same_bits(tg_grad(rep.v), tg_grad(eager.v)));
            } else { /* fused: the sums round differently */
                assert_near(rep.loss, eager.loss, 1e-12);
                assert_near(tg_grad(rep.s), tg_grad(eager.s), 1e-11);
                assert_near(tg_grad(rep.v), tg_grad(eager.v), 1e-11);
                assert_near(rep.v, eager.v, 1e-12);
            }
        }
    }
    tg_plan_free(P);
    rand_side_free(&eager);
    rand_side_free(&rep);
    tg_free(x);
    tg_free(y);
}
END_TEST

/* ---- replays refused ----------------------------------------------------------------- */

START_TEST(test_replay_refuses_changed_inputs)
{
    tg_tensor *x, *y;
    chapter_data(&x, &y);
    chapter c;
    chapter_init(&c, x, y);
    ck_assert_int_eq(chapter_step(&c), TG_OK);
    tg_set_name(y, "targets");
    tg_plan *P = chapter_capture(&c);
    double w0;
    ck_assert_int_eq(tg_item(c.w, &w0), TG_OK);

    y->shape[0] = 50;
    ck_assert_int_eq(tg_plan_replay(P), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "(targets) changed its shape since the capture");
    y->shape[0] = 100;
    y->strides[0] = 2;
    ck_assert_int_eq(tg_plan_replay(P), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "changed its strides");
    y->strides[0] = 1;
    y->dtype = TG_FLOAT32;
    ck_assert_int_eq(tg_plan_replay(P), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "changed its dtype");
    y->dtype = TG_FLOAT64;
    void *data = y->storage->data;
    y->storage->data = tg_data(x);
    ck_assert_int_eq(tg_plan_replay(P), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "changed its storage");
    y->storage->data = data;
    tg_tensor *g = c.w->grad;
    c.w->grad = c.b->grad;
    ck_assert_int_eq(tg_plan_replay(P), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "changed its .grad");
    c.w->grad = g;
    double w1;
    ck_assert_int_eq(tg_item(c.w, &w1), TG_OK);
    TGT_ASSERT_SAME(w1, w0); /* nothing ran */

    ck_assert_int_eq(tg_plan_replay(P), TG_OK); /* restored: runs */
    ck_assert_int_eq(tg_tape_reset(c.T), TG_OK);
    ck_assert_int_eq(tg_plan_replay(P), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_plan_replay: the tape was reset after the capture");
    tg_plan_free(P);
    chapter_free(&c);
    tg_free(x);
    tg_free(y);
}
END_TEST

/* ---- captures refused ---------------------------------------------------------------- */

/* Ends a capture that must fail with code and a message holding substr;
 * the tape must then be free to capture again. */
static void assert_refused(tg_tape *T, int code, const char *substr)
{
    ck_assert_ptr_null(tg_capture_end(T));
    TGT_ASSERT_ERR(code, substr);
    ck_assert(!tg_tape_is_capturing(T));
}

START_TEST(test_capture_refuses_what_cannot_replay)
{
    tg_tensor *x, *y;
    chapter_data(&x, &y);
    chapter c;
    chapter_init(&c, x, y);
    ck_assert_int_eq(chapter_step(&c), TG_OK);
    tg_tape *other = tg_tape_new();
    ck_assert_ptr_nonnull(other);

    /* a caller-owned tensor made during the step */
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    tg_tensor *heap = tg_clone(x);
    ck_assert_ptr_nonnull(heap);
    assert_refused(c.T, TG_ERR_VALUE, "caller-owned (heap) tensor");
    tg_free(heap);

    /* an op on another tape */
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    ck_assert_ptr_nonnull(tg_ad_mul(other, x, x));
    assert_refused(c.T, TG_ERR_VALUE, "a tape other than the capturing one");

    /* a reset after the step's first op */
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    ck_assert_ptr_nonnull(tg_ad_mul(c.T, x, c.w));
    ck_assert_int_eq(tg_tape_reset(c.T), TG_OK);
    assert_refused(c.T, TG_ERR_VALUE, "tg_tape_reset: the tape was reset in the middle");

    /* an op whose kernel is not captured names itself */
    tg_tensor *img = tg_ones(TG_FLOAT64, TG_SHAPE(1, 1, 4, 4));
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    ck_assert_ptr_nonnull(tg_ad_layer_norm(c.T, img, 2, NULL, NULL, 1e-5));
    assert_refused(c.T, TG_ERR_VALUE, "tg_ad_layer_norm's result");

    /* an in-place write that no captured kernel repeats */
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    tg_rng rng = tg_rng_seeded(1);
    ck_assert_int_eq(tg_rand_fill(&rng, img), TG_OK);
    assert_refused(c.T, TG_ERR_VALUE, "an in-place write");

    /* a decision made on the host from values */
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    ck_assert_int_eq(chapter_step(&c), TG_OK);
    tg_params ps = {0};
    ck_assert_int_eq(tg_params_add(&ps, "w", c.w), TG_OK);
    ck_assert_int_eq(tg_clip_grad_norm(&ps, 1.0, 2.0, NULL), TG_OK);
    assert_refused(c.T, TG_ERR_VALUE, "tg_clip_grad_norm: clipping decides on the host");

    /* a failed op */
    tg_tensor *bad = tg_empty(TG_FLOAT64, TG_SHAPE(3));
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    ck_assert_ptr_nonnull(tg_ad_mul(c.T, x, x));
    ck_assert_int_eq(tg_copy(bad, x), TG_ERR_SHAPE); /* refused by its checks */
    ck_assert_int_eq(tg_matmul_into(bad, x, x), TG_ERR_SHAPE);
    assert_refused(c.T, TG_ERR_VALUE, "an op of the step failed");

    /* nothing at all */
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    assert_refused(c.T, TG_ERR_VALUE, "the step ran no kernel");

    /* and after all that, a capture that works */
    tg_plan *P = chapter_capture(&c);
    ck_assert_int_eq(tg_plan_replay(P), TG_OK);
    tg_plan_free(P);
    tg_free(bad);
    tg_free(img);
    tg_tape_free(other);
    chapter_free(&c);
    tg_free(x);
    tg_free(y);
}
END_TEST

START_TEST(test_plan_errors_and_oom)
{
    ck_assert_int_eq(tg_capture_begin(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_capture_begin: tape is NULL");
    ck_assert_ptr_null(tg_capture_end(NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_capture_end: tape is NULL");
    ck_assert_int_eq(tg_plan_replay(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_plan_replay: plan is NULL");
    tg_plan_stats st;
    ck_assert_int_eq(tg_plan_get_stats(NULL, &st), TG_ERR_NULL);
    ck_assert(!tg_tape_is_capturing(NULL));
    tg_plan_free(NULL);

    tg_tensor *x, *y;
    chapter_data(&x, &y);
    chapter c;
    chapter_init(&c, x, y);
    ck_assert_int_eq(chapter_step(&c), TG_OK);
    ck_assert_ptr_null(tg_capture_end(c.T));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_capture_end: the tape is not capturing");
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    ck_assert_int_eq(tg_capture_begin(c.T), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "already capturing");
    tg_tape *other = tg_tape_new();
    ck_assert_int_eq(tg_capture_begin(other), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "another tape is capturing on this thread");
    tg_tape_free(other);
    ck_assert_int_eq(chapter_step(&c), TG_OK);
    tg_plan *P = tg_capture_end(c.T);
    ck_assert_ptr_nonnull(P);
    ck_assert_int_eq(tg_plan_get_stats(P, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK);
    ck_assert_int_eq(tg_plan_replay(P), TG_ERR_TAPE); /* capturing; and reset */
    ck_assert(tg_tape_is_capturing(c.T));
    tg_plan_free(P);

    /* a tape freed while capturing ends the capture and frees the trace */
    ck_assert_ptr_nonnull(tg_ad_mul(c.T, x, x));
    tg_tape_free(c.T);
    c.T = tg_tape_new();
    ck_assert_int_eq(tg_capture_begin(c.T), TG_OK); /* the thread is free again */
    ck_assert_ptr_null(tg_capture_end(c.T));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "no kernel");

    /* allocation failures in turn, through the capture: NULL plan or a
     * failed begin, out of memory, nothing leaked, the tape not capturing */
    for (long k = 1;; k++) {
        tgt_stats.fail_at = tgt_stats.calls + k;
        int rc = tg_capture_begin(c.T);
        if (rc == TG_OK) {
            rc = chapter_step(&c);
            P = tg_capture_end(c.T);
        } else {
            P = NULL;
        }
        tgt_stats.fail_at = 0;
        if (P) {
            ck_assert_int_gt(k, 3);
            ck_assert_int_eq(rc, TG_OK);
            break;
        }
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "");
        ck_assert(!tg_tape_is_capturing(c.T));
        ck_assert_int_lt(k, 60);
    }
    ck_assert_int_eq(tg_plan_replay(P), TG_OK);
    tg_plan_free(P);
    chapter_free(&c);
    tg_free(x);
    tg_free(y);
}
END_TEST

Suite *test_plan_suite(void); /* called by the generated runner */
Suite *test_plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tgt_tcase("replay equals eager");
    tcase_add_test(tc, test_chapter_replay_is_eager);
    tcase_add_test(tc, test_mlp_adam_replay_is_eager);
    tcase_add_test(tc, test_tg_step_replays);
    tcase_add_test(tc, test_cnn_replay_is_eager);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("fusion");
    tcase_add_test(tc, test_fused_chapter);
    tcase_add_test(tc, test_fused_keeps);
    tcase_add_loop_test(tc, test_fused_random_steps, 0, 100);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("refusals and errors");
    tcase_add_test(tc, test_replay_refuses_changed_inputs);
    tcase_add_test(tc, test_capture_refuses_what_cannot_replay);
    tcase_add_test(tc, test_plan_errors_and_oom);
    suite_add_tcase(s, tc);
    return s;
}
