/* test_parity.c - the parity test (issue #13): the training toolkit means
 * what PyTorch means. tests/data/make_parity_ref.py trains a 6 -> 32 -> 32
 * -> 3 ReLU MLP in float64 for 100 steps with everything at once: cross-
 * entropy plus BCE-with-logits on the same logits, AdamW with two parameter
 * groups (weights decayed, biases with their own lr and no decay), a linear
 * warm-up then cosine schedule, clip_grad_norm_ (clipping about half the
 * steps) and batches reshuffled every epoch by np.random.permutation. It
 * saves the initial weights, the data, each step's rows, loss, clip total
 * norm and group lrs, and the final weights to data/parity_ref.npz.
 *
 * Here the same .npz goes into a tg_mlp (tg_params_load_npz, the user's
 * path from PyTorch), a tg_batches iterator shuffles with a tg_rng seeded
 * as np.random.seed, and the same 100 steps run with tg_cross_entropy,
 * tg_binary_cross_entropy_with_logits, tg_adam (adamw) with
 * tg_param_groups_add, tg_lr_warmup_cosine and tg_clip_grad_norm. Every
 * step's batch rows and clip decision must be PyTorch's exactly; its loss,
 * total norm and group lrs, and the final parameters (relative to each
 * tensor's largest |value|), must agree to 1e-10 relative; the float32 run
 * of the same thing, losses and norms, to 1e-4.
 * The steps after the first allocate nothing. Runs with one setting changed
 * (an lr off by 1e-6, no bias group, Adam's L2 instead of AdamW's decay, no
 * clipping, the warm-up a step longer) must miss the fixture, so the
 * comparison can fail. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/checkpoint.h"
#include "tensor/npz.h"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define NSIZES 4 /* 6 -> 32 -> 32 -> 3: three tg_linear layers */

/* The float64 comparisons. The two sides round differently (BLAS or the
 * portable kernel against PyTorch's GEMM, log_sigmoid against PyTorch's BCE
 * formula, a closed-form schedule against PyTorch's recursive one), yet
 * after 100 steps every loss, total norm, lr and final parameter still
 * agrees to about 1e-15 (TG_PARITY_VERBOSE=1 prints the figures). 1e-10
 * leaves room for other compilers and BLAS builds and still catches an lr
 * off by 1e-9 (by step 8); the perturbed runs below miss by 5e-7 or more. */
#define RTOL_F64 1e-10
/* The float32 run against the float64 reference: float32 rounding, grown
 * over 100 steps. */
#define RTOL_F32 1e-4

/* ---- the fixture -------------------------------------------------------------- */

/* Everything make_parity_ref.py wrote, settings included: no number of the
 * run is typed in here. */
typedef struct parity_ref {
    tg_npz *npz;
    tg_tensor *x, *y, *z;   /* the data set (N, 6), (N,) int64, (N, 3) */
    tg_tensor *idx;         /* (steps, batch) int64: each step's rows */
    tg_tensor *loss, *norm; /* (steps,) */
    tg_tensor *clipped;     /* (steps,) bool */
    tg_tensor *lr;          /* (steps, 2): the weights' and the biases' lr */
    int64_t steps, batch, warmup_iters, t_max, perm_seed;
    double lr_w, lr_b, wd_w, wd_b, beta1, beta2, eps, max_norm;
    double warmup_start, eta_min, bce_weight;
    int64_t sizes[NSIZES];
} parity_ref;

static tg_tensor *member(tg_npz *z, const char *name)
{
    tg_tensor *t = tg_npz_get(z, name);
    ck_assert_msg(t != NULL, "parity_ref.npz: %s: %s", name, tg_last_message());
    return t;
}

static double setting(tg_npz *z, const char *name)
{
    tg_tensor *t = member(z, name);
    double v = (double)NAN;
    ck_assert_int_eq(tg_item(t, &v), TG_OK);
    tg_free(t);
    return v;
}

static void ref_open(parity_ref *r)
{
    memset(r, 0, sizeof *r);
    r->npz = tg_npz_open(tgt_data("parity_ref.npz"));
    ck_assert_msg(r->npz != NULL, "%s", tg_last_message());
    tg_npz *z = r->npz;
    r->x = member(z, "x");
    r->y = member(z, "y");
    r->z = member(z, "z");
    r->idx = member(z, "idx");
    r->loss = member(z, "loss");
    r->norm = member(z, "total_norm");
    r->clipped = member(z, "clipped");
    r->lr = member(z, "lr");
    r->steps = tg_numel(r->loss);
    r->batch = (int64_t)setting(z, "batch");
    r->warmup_iters = (int64_t)setting(z, "warmup_iters");
    r->t_max = (int64_t)setting(z, "t_max");
    r->perm_seed = (int64_t)setting(z, "perm_seed");
    r->lr_w = setting(z, "lr_w");
    r->lr_b = setting(z, "lr_b");
    r->wd_w = setting(z, "wd_w");
    r->wd_b = setting(z, "wd_b");
    r->beta1 = setting(z, "beta1");
    r->beta2 = setting(z, "beta2");
    r->eps = setting(z, "eps");
    r->max_norm = setting(z, "max_norm");
    r->warmup_start = setting(z, "warmup_start");
    r->eta_min = setting(z, "eta_min");
    r->bce_weight = setting(z, "bce_weight");
    ck_assert_int_eq(tg_dtype_of(r->x), F64);
    ck_assert_int_eq(tg_dtype_of(r->y), TG_INT64);
    ck_assert_int_eq(tg_dtype_of(r->idx), TG_INT64);
    tgt_assert_shape(r->idx, 2, (const int64_t[]){r->steps, r->batch});
    tgt_assert_shape(r->lr, 2, (const int64_t[]){r->steps, 2});
    /* the layer sizes from the weights' shapes: fcK.weight is (out, in) */
    r->sizes[0] = tg_size(r->x, 1);
    for (int k = 1; k < NSIZES; k++) {
        char name[32];
        snprintf(name, sizeof name, "fc%d.weight", k);
        tg_tensor *w = member(z, name);
        ck_assert_int_eq(tg_size(w, 1), r->sizes[k - 1]);
        r->sizes[k] = tg_size(w, 0);
        tg_free(w);
    }
}

static void ref_close(parity_ref *r)
{
    tg_tensor *ts[] = {r->x, r->y, r->z, r->idx, r->loss, r->norm, r->clipped, r->lr};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        tg_free(ts[i]);
    tg_npz_close(r->npz);
}

/* ---- one training run -------------------------------------------------------- */

/* What a run may do differently from the script: nothing (EXACT), or one
 * mistake a port could make, each of which must show in the losses. */
typedef enum perturbation {
    EXACT,
    LR_OFF,          /* the weights' lr 1e-6 relative too high */
    ONE_GROUP,       /* no bias group: biases decayed, at the weights' lr */
    ADAM_L2,         /* Adam's L2 penalty instead of AdamW's decoupled decay */
    NO_CLIP,         /* clipping left out */
    LONGER_WARMUP,   /* a warm-up one step longer (off by one) */
    NPERTURBATIONS
} perturbation;

static const char *const perturbation_name[NPERTURBATIONS] = {
    "exact", "lr off by 1e-6", "one group", "Adam with L2", "no clipping",
    "warm-up off by one"};

typedef struct parity_run {
    double *loss, *norm; /* [steps] */
    double *lr;          /* [steps][2] */
    bool *clipped;       /* [steps] */
    int64_t bad_rows;    /* steps whose batch rows differ from the script's */
    long allocs_after_first, allocs_after_last; /* allocations and reallocations */
    tg_mlp net;          /* the trained model */
    tg_params ps;
} parity_run;

/* Sets ps's parameters from parity_ref.npz: read straight into float64
 * parameters, through a float64 copy and tg_cast for float32 ones. */
static void load_initial(const parity_ref *r, tg_params *ps, tg_dtype dt)
{
    if (dt == F64) {
        ck_assert_msg(tg_params_load_npz(ps, tgt_data("parity_ref.npz")) == TG_OK, "%s",
                      tg_last_message());
        return;
    }
    for (int i = 0; i < ps->count; i++) {
        tg_tensor *w = member(r->npz, ps->names[i]);
        tg_tensor *c = tg_cast(w, dt);
        ck_assert_int_eq(tg_copy(ps->tensors[i], c), TG_OK);
        tg_free(c);
        tg_free(w);
    }
}

/* The script's loop, step for step:
 *   lr of each group for this step (PyTorch: the scheduler's value after
 *   `step` calls of scheduler.step()), forward, CE + bce_weight * BCE,
 *   zero grad, backward, clip_grad_norm_, AdamW step. */
static void train(const parity_ref *r, tg_dtype dt, perturbation pert, parity_run *o)
{
    memset(o, 0, sizeof *o);
    o->loss = calloc((size_t)r->steps, sizeof *o->loss);
    o->norm = calloc((size_t)r->steps, sizeof *o->norm);
    o->lr = calloc((size_t)r->steps * 2, sizeof *o->lr);
    o->clipped = calloc((size_t)r->steps, sizeof *o->clipped);
    ck_assert(o->loss && o->norm && o->lr && o->clipped);

    tg_rng init_rng; /* tg_mlp_init draws weights that load_initial replaces */
    tg_rng_seed(&init_rng, 0);
    ck_assert_int_eq(tg_mlp_init(&o->net, NSIZES, r->sizes, TG_ACT_RELU, dt, &init_rng),
                     TG_OK);
    ck_assert_int_eq(tg_mlp_params(&o->net, &o->ps), TG_OK);
    load_initial(r, &o->ps, dt);

    /* The batches: reshuffled each epoch as np.random.permutation after
     * np.random.seed(perm_seed), the rng used for nothing else. */
    tg_tensor *x = tg_cast(r->x, dt), *z = tg_cast(r->z, dt);
    tg_rng batch_rng;
    tg_rng_seed(&batch_rng, (uint32_t)r->perm_seed);
    tg_batches *B = tg_batches_new(r->batch, &batch_rng, false);
    ck_assert_ptr_nonnull(B);
    ck_assert_int_eq(tg_batches_add(B, x), 0);
    ck_assert_int_eq(tg_batches_add(B, r->y), 1);
    ck_assert_int_eq(tg_batches_add(B, z), 2);

    /* AdamW: group 0 the weights, group 1 the biases (PyTorch's
     * [{"params": weights}, {"params": biases, "lr": lr_b, "weight_decay": 0}]). */
    tg_adam opt;
    double lr_w = pert == LR_OFF ? r->lr_w * (1 + 1e-6) : r->lr_w;
    ck_assert_int_eq(tg_adam_init(&opt, &o->ps, lr_w, r->beta1, r->beta2, r->eps, r->wd_w,
                                  pert != ADAM_L2),
                     TG_OK);
    if (pert != ONE_GROUP)
        ck_assert_int_eq(tg_param_groups_add(&opt.groups, "*.bias", r->lr_b, r->wd_b), TG_OK);
    tg_lr_schedule sched;
    ck_assert_int_eq(tg_lr_warmup_cosine(&sched, r->warmup_start,
                                         r->warmup_iters + (pert == LONGER_WARMUP),
                                         r->t_max, r->eta_min),
                     TG_OK);

    tg_tape *T = tg_tape_new();
    ck_assert_ptr_nonnull(T);
    const int64_t *want_rows = tg_data(r->idx);
    for (int64_t step = 0; step < r->steps; step++) {
        tg_tensor *b[3];
        int more = tg_batches_next(B, b);
        if (more == 0) /* end of an epoch: the next call reshuffles */
            more = tg_batches_next(B, b);
        ck_assert_msg(more == 1, "step %lld: %s", (long long)step, tg_last_message());
        int64_t n = 0;
        const int64_t *rows = tg_batches_indices(B, &n);
        ck_assert_int_eq(n, r->batch);
        if (memcmp(rows, want_rows + step * r->batch, (size_t)n * sizeof *rows))
            o->bad_rows++;

        ck_assert_int_eq(tg_lr_apply(&sched, step, &opt.groups), TG_OK);
        o->lr[2 * step] = opt.groups.lr[0];
        o->lr[2 * step + 1] = opt.groups.lr[pert == ONE_GROUP ? 0 : 1];

        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        tg_tensor *logits = tg_mlp_forward(T, &o->net, b[0]);
        tg_tensor *loss = tg_ad_add(
            T, tg_cross_entropy(T, logits, b[1], NULL),
            tg_ad_mul_scalar(T,
                             tg_binary_cross_entropy_with_logits(T, logits, b[2], NULL, NULL,
                                                                 TG_REDUCE_MEAN),
                             r->bce_weight));
        ck_assert_msg(loss != NULL, "step %lld: %s", (long long)step, tg_last_message());
        ck_assert_int_eq(tg_params_zero_grad(&o->ps), TG_OK);
        ck_assert_msg(tg_backward(T, loss) == TG_OK, "%s", tg_last_message());
        double total = 0;
        if (pert != NO_CLIP)
            ck_assert_int_eq(tg_clip_grad_norm(&o->ps, r->max_norm, 2.0, &total), TG_OK);
        ck_assert_msg(tg_adam_step(&opt) == TG_OK, "%s", tg_last_message());

        ck_assert_int_eq(tg_item(loss, &o->loss[step]), TG_OK);
        o->norm[step] = total;
        /* clip_grad_norm_ scales when its coefficient is below 1 */
        o->clipped[step] = pert != NO_CLIP && r->max_norm / (total + 1e-6) < 1.0;
        if (step == 0)
            o->allocs_after_first = tgt_stats.allocs + tgt_stats.reallocs;
    }
    o->allocs_after_last = tgt_stats.allocs + tgt_stats.reallocs;
    tg_tape_free(T);
    tg_adam_free(&opt);
    tg_batches_free(B);
    tg_free(x);
    tg_free(z);
}

static void run_free(parity_run *o)
{
    tg_mlp_free(&o->net);
    free(o->loss);
    free(o->norm);
    free(o->lr);
    free(o->clipped);
}

static double rel_diff(double got, double want)
{
    return fabs(got - want) / fabs(want);
}

/* The largest relative difference of the run's losses from the script's. */
static double max_loss_diff(const parity_ref *r, const parity_run *o)
{
    double worst = 0;
    for (int64_t s = 0; s < r->steps; s++)
        worst = fmax(worst, rel_diff(o->loss[s], tgt_at(r->loss, s)));
    return worst;
}

/* ---- float64: the contract ----------------------------------------------------- */

START_TEST(test_parity_f64)
{
    parity_ref r;
    ref_open(&r);
    parity_run o;
    train(&r, F64, EXACT, &o);

    /* The batches are the script's: same rows, same order, every step. */
    ck_assert_int_eq(o.bad_rows, 0);

    /* Each group's lr of each step: the closed form of tg_lr_warmup_cosine
     * against SequentialLR's recursive LinearLR and CosineAnnealingLR. */
    double worst_lr = 0;
    for (int64_t s = 0; s < r.steps; s++)
        for (int g = 0; g < 2; g++) {
            double want = tgt_at(r.lr, 2 * s + g), got = o.lr[2 * s + g];
            ck_assert_msg(rel_diff(got, want) <= RTOL_F64,
                          "lr, step %lld group %d: got %.17g, want %.17g", (long long)s, g,
                          got, want);
            worst_lr = fmax(worst_lr, rel_diff(got, want));
        }

    /* Every step's loss (before its update: it sees every earlier update)
     * and clip_grad_norm_'s total norm (before clipping); the steps that
     * clip are the same steps, and there are some of both kinds. */
    double worst_loss = 0, worst_norm = 0;
    int64_t nclipped = 0;
    for (int64_t s = 0; s < r.steps; s++) {
        double wl = tgt_at(r.loss, s), wn = tgt_at(r.norm, s);
        ck_assert_msg(rel_diff(o.loss[s], wl) <= RTOL_F64,
                      "loss, step %lld: got %.17g, want %.17g", (long long)s, o.loss[s], wl);
        ck_assert_msg(rel_diff(o.norm[s], wn) <= RTOL_F64,
                      "total norm, step %lld: got %.17g, want %.17g", (long long)s, o.norm[s],
                      wn);
        ck_assert_msg(o.clipped[s] == (tgt_at(r.clipped, s) != 0),
                      "step %lld: clipped %d, PyTorch %g", (long long)s, o.clipped[s],
                      tgt_at(r.clipped, s));
        worst_loss = fmax(worst_loss, rel_diff(o.loss[s], wl));
        worst_norm = fmax(worst_norm, rel_diff(o.norm[s], wn));
        nclipped += o.clipped[s];
    }
    ck_assert(nclipped > 0 && nclipped < r.steps);

    /* The final parameters, element by element: relative to the largest
     * |value| of their tensor, so an element that happens to sit near 0
     * is held to the tensor's scale, not to its own. */
    double worst_param = 0;
    for (int i = 0; i < o.ps.count; i++) {
        char name[TG_PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "final.%s", o.ps.names[i]);
        tg_tensor *want = member(r.npz, name);
        const tg_tensor *got = o.ps.tensors[i];
        ck_assert_int_eq(tg_numel(got), tg_numel(want));
        double scale = 0;
        for (int64_t k = 0; k < tg_numel(want); k++)
            scale = fmax(scale, fabs(tgt_at(want, k)));
        for (int64_t k = 0; k < tg_numel(want); k++) {
            double g = tgt_at(got, k), w = tgt_at(want, k), d = fabs(g - w) / scale;
            ck_assert_msg(d <= RTOL_F64, "%s[%lld]: got %.17g, want %.17g", name,
                          (long long)k, g, w);
            worst_param = fmax(worst_param, d);
        }
        tg_free(want);
    }

    /* Training stops allocating after its first step: the arena, the
     * gradients, the optimiser's state and the batches are all reused.
     * (The counting allocator of helpers.c is in place: the first step
     * did allocate.) */
    ck_assert_int_gt(o.allocs_after_first, 0);
    ck_assert_int_eq(o.allocs_after_last, o.allocs_after_first);

    if (getenv("TG_PARITY_VERBOSE"))
        fprintf(stderr,
                "parity f64: max rel diff loss %.3g, total norm %.3g, lr %.3g, params %.3g; "
                "%lld of %lld steps clipped\n",
                worst_loss, worst_norm, worst_lr, worst_param, (long long)nclipped,
                (long long)r.steps);
    run_free(&o);
    ref_close(&r);
}
END_TEST

/* ---- float32: the same run, loosely ------------------------------------------- */

START_TEST(test_parity_f32)
{
    /* The same weights, data and steps in float32 (Adam computing in
     * float, as PyTorch's does) stay within float32 rounding, grown over
     * 100 steps, of PyTorch's float64 run. */
    parity_ref r;
    ref_open(&r);
    parity_run o;
    train(&r, F32, EXACT, &o);
    ck_assert_int_eq(o.bad_rows, 0);
    double worst_loss = 0, worst_norm = 0;
    for (int64_t s = 0; s < r.steps; s++) {
        double wl = tgt_at(r.loss, s), wn = tgt_at(r.norm, s);
        ck_assert_msg(rel_diff(o.loss[s], wl) <= RTOL_F32,
                      "loss, step %lld: got %.9g, want %.9g", (long long)s, o.loss[s], wl);
        ck_assert_msg(rel_diff(o.norm[s], wn) <= RTOL_F32,
                      "total norm, step %lld: got %.9g, want %.9g", (long long)s, o.norm[s],
                      wn);
        worst_loss = fmax(worst_loss, rel_diff(o.loss[s], wl));
        worst_norm = fmax(worst_norm, rel_diff(o.norm[s], wn));
    }
    ck_assert_int_eq(o.allocs_after_last, o.allocs_after_first);
    if (getenv("TG_PARITY_VERBOSE"))
        fprintf(stderr, "parity f32: max rel diff loss %.3g, total norm %.3g\n", worst_loss,
                worst_norm);
    run_free(&o);
    ref_close(&r);
}
END_TEST

/* ---- the comparison can fail ---------------------------------------------------- */

START_TEST(test_parity_detects_mistakes)
{
    /* Each run changes one thing a port could get wrong; its losses must
     * then miss PyTorch's by far more than RTOL_F64, or the test above
     * would prove nothing about that setting. */
    perturbation pert = (perturbation)(_i + 1);
    parity_ref r;
    ref_open(&r);
    parity_run o;
    train(&r, F64, pert, &o);
    double worst = max_loss_diff(&r, &o);
    if (getenv("TG_PARITY_VERBOSE"))
        fprintf(stderr, "parity, %s: max rel loss diff %.3g\n", perturbation_name[pert],
                worst);
    ck_assert_msg(worst > 100 * RTOL_F64, "%s: the losses still match (%.3g)",
                  perturbation_name[pert], worst);
    run_free(&o);
    ref_close(&r);
}
END_TEST

Suite *test_parity_suite(void); /* called by the generated runner */
Suite *test_parity_suite(void)
{
    Suite *s = suite_create("parity");
    TCase *tc = tgt_tcase("pytorch");
    tcase_add_test(tc, test_parity_f64);
    tcase_add_test(tc, test_parity_f32);
    tcase_add_loop_test(tc, test_parity_detects_mistakes, 0, NPERTURBATIONS - 1);
    suite_add_tcase(s, tc);
    return s;
}
