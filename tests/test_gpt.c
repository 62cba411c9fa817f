/* test_gpt.c - the GPT of models/gpt.h (issue #14) and its contract with
 * PyTorch. tests/data/make_gpt_ref.py defines the same model in PyTorch
 * (float64: vocab 27, context 8, 2 layers of 2 heads, width 16), draws
 * GPT-2's initialisation with NumPy, offsets the biases and norms, and
 * trains 20 steps on fixed batches with AdamW in two groups (decay on the
 * matrices only), a warm-up + cosine schedule and clip_grad_norm_ at 1.0.
 * It saves the weights, the batches, every step's loss, total norm and lr,
 * and step 1's gradient of every parameter to data/gpt_ref.npz.
 *
 * Here the same .npz goes into tg_gpt_new's model (tg_params_load_npz:
 * the parameter names are the state_dict's) and the same 20 steps run with
 * tg_gpt_loss, tg_adam with TG_GPT_NO_DECAY, tg_lr_warmup_cosine and
 * tg_clip_grad_norm. Every loss must agree to 1e-9 relative and step 1's
 * gradients to 1e-9 of each tensor's largest |value|; the steps after the
 * first allocate nothing; the float32 run agrees to 1e-4. Runs with one
 * thing changed must miss, so the comparison can fail. Besides: the init
 * is NumPy's draws bit for bit, the mask is causal exactly, the attention
 * passes tg_gradcheck, dropout and sampling behave, and every bad
 * configuration or input is an error naming its function. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/checkpoint.h"
#include "tensor/npz.h"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32

/* float64 against PyTorch: the two sides round differently (BLAS against
 * PyTorch's kernels, the order of sums in softmax and layer norm), yet
 * they agree to about 1e-14 (TG_GPT_VERBOSE=1 prints the figures); 1e-9
 * is the contract. */
#define RTOL_F64 1e-9
/* float32 against the float64 reference: float32 rounding over 20 steps. */
#define RTOL_F32 1e-4

/* ---- the fixture ------------------------------------------------------------- */

typedef struct gpt_ref {
    tg_npz *npz;
    tg_tensor *x, *y;        /* (batches, B, T) int64 */
    tg_tensor *loss, *norm, *lr, *clipped, *logits0;
    int64_t steps, batches;
    tg_gpt_config cfg;
    int64_t init_seed, warmup_iters, t_max;
    double lr0, beta1, beta2, eps, wd, max_norm, warmup_start, eta_min;
} gpt_ref;

static tg_tensor *member(tg_npz *z, const char *name)
{
    tg_tensor *t = tg_npz_get(z, name);
    ck_assert_msg(t != NULL, "gpt_ref.npz: %s: %s", name, tg_last_message());
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

static void ref_open(gpt_ref *r)
{
    memset(r, 0, sizeof *r);
    r->npz = tg_npz_open(tgt_data("gpt_ref.npz"));
    ck_assert_msg(r->npz != NULL, "%s", tg_last_message());
    tg_npz *z = r->npz;
    r->x = member(z, "x");
    r->y = member(z, "y");
    r->loss = member(z, "loss");
    r->norm = member(z, "total_norm");
    r->lr = member(z, "step_lr");
    r->clipped = member(z, "clipped");
    r->logits0 = member(z, "logits0");
    r->steps = tg_numel(r->loss);
    r->batches = tg_size(r->x, 0);
    r->cfg = (tg_gpt_config){.vocab_size = (int64_t)setting(z, "vocab"),
                             .context = (int64_t)setting(z, "context"),
                             .n_layer = (int)setting(z, "n_layer"),
                             .n_head = (int)setting(z, "n_head"),
                             .n_embd = (int64_t)setting(z, "n_embd"),
                             .dtype = F64};
    r->init_seed = (int64_t)setting(z, "init_seed");
    r->lr0 = setting(z, "lr");
    r->beta1 = setting(z, "beta1");
    r->beta2 = setting(z, "beta2");
    r->eps = setting(z, "eps");
    r->wd = setting(z, "wd");
    r->max_norm = setting(z, "max_norm");
    r->warmup_start = setting(z, "warmup_start");
    r->warmup_iters = (int64_t)setting(z, "warmup_iters");
    r->t_max = (int64_t)setting(z, "t_max");
    r->eta_min = setting(z, "eta_min");
    ck_assert_int_eq(tg_dtype_of(r->x), TG_INT64);
    tgt_assert_shape(r->y, 3, tg_shape(r->x));
    ck_assert_int_eq(tg_size(r->x, 2), r->cfg.context);
}

static void ref_close(gpt_ref *r)
{
    tg_tensor *ts[] = {r->x, r->y, r->loss, r->norm, r->lr, r->clipped, r->logits0};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        tg_free(ts[i]);
    tg_npz_close(r->npz);
}

/* A model of the fixture's configuration in dt, its parameters in *ps,
 * set from gpt_ref.npz (through a float64 copy and tg_cast for float32). */
static tg_module *load_model(const gpt_ref *r, tg_dtype dt, tg_params *ps)
{
    tg_gpt_config cfg = r->cfg;
    cfg.dtype = dt;
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_module *gpt = tg_gpt_new(&cfg, &rng);
    ck_assert_msg(gpt != NULL, "%s", tg_last_message());
    ps->count = 0;
    ck_assert_msg(tg_module_params(gpt, ps) == TG_OK, "%s", tg_last_message());
    if (dt == F64) {
        ck_assert_msg(tg_params_load_npz(ps, tgt_data("gpt_ref.npz")) == TG_OK, "%s",
                      tg_last_message());
    } else {
        for (int i = 0; i < ps->count; i++) {
            tg_tensor *w = member(r->npz, ps->names[i]);
            tg_tensor *c = tg_cast(w, dt);
            ck_assert_int_eq(tg_copy(ps->tensors[i], c), TG_OK);
            tg_free(c);
            tg_free(w);
        }
    }
    return gpt;
}

/* The largest |got - want| over the largest |want| of a tensor. */
static double scaled_diff(const tg_tensor *got, const tg_tensor *want)
{
    ck_assert_int_eq(tg_numel(got), tg_numel(want));
    double scale = 0, worst = 0;
    for (int64_t k = 0; k < tg_numel(want); k++)
        scale = fmax(scale, fabs(tgt_at(want, k)));
    ck_assert(scale > 0);
    for (int64_t k = 0; k < tg_numel(want); k++)
        worst = fmax(worst, fabs(tgt_at(got, k) - tgt_at(want, k)) / scale);
    return worst;
}

/* ---- one training run ----------------------------------------------------------- */

typedef enum perturbation {
    EXACT,
    LR_OFF,     /* lr 1e-6 relative too high */
    ONE_GROUP,  /* biases and norms decayed too */
    NO_CLIP,    /* clipping left out */
    WEIGHT_OFF, /* one weight of one tensor 1e-5 off (its values are ~0.02) */
    NPERTURBATIONS
} perturbation;

static const char *const perturbation_name[NPERTURBATIONS] = {
    "exact", "lr off by 1e-6", "decay on every parameter", "no clipping",
    "one weight off by 1e-5"};

typedef struct gpt_run {
    double loss[64], norm[64], lr[64];
    bool clipped[64];
    double worst_grad;          /* step 1's gradients against PyTorch's */
    char worst_grad_name[TG_PARAM_NAME_MAX];
    long allocs_after_first, allocs_after_last;
} gpt_run;

static void train(const gpt_ref *r, tg_dtype dt, perturbation pert, gpt_run *o)
{
    memset(o, 0, sizeof *o);
    ck_assert_int_le(r->steps, 64);
    tg_params ps;
    tg_module *gpt = load_model(r, dt, &ps);
    if (pert == WEIGHT_OFF) {
        double *w = tg_data(ps.tensors[4]); /* h.0.attn.c_attn.weight */
        ck_assert_str_eq(ps.names[4], "h.0.attn.c_attn.weight");
        w[7] += 1e-5;
    }
    /* the batches as views, made before the steps */
    tg_tensor *xs[64], *ys[64];
    for (int64_t b = 0; b < r->batches && b < 64; b++) {
        xs[b] = tg_select(r->x, 0, b);
        ys[b] = tg_select(r->y, 0, b);
        ck_assert(xs[b] && ys[b]);
    }
    tg_adam opt;
    double lr = pert == LR_OFF ? r->lr0 * (1 + 1e-6) : r->lr0;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, lr, r->beta1, r->beta2, r->eps, r->wd, true),
                     TG_OK);
    if (pert != ONE_GROUP)
        ck_assert_msg(tg_param_groups_add(&opt.groups, TG_GPT_NO_DECAY, lr, 0.0) == TG_OK,
                      "%s", tg_last_message());
    tg_lr_schedule sched;
    ck_assert_int_eq(tg_lr_warmup_cosine(&sched, r->warmup_start, r->warmup_iters, r->t_max,
                                         r->eta_min),
                     TG_OK);
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_nonnull(T);
    for (int64_t step = 0; step < r->steps; step++) {
        int64_t b = step % r->batches;
        ck_assert_int_eq(tg_lr_apply(&sched, step, &opt.groups), TG_OK);
        o->lr[step] = opt.groups.lr[0];
        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        tg_tensor *logits = tg_module_forward(T, gpt, xs[b]);
        tg_tensor *loss = tg_gpt_loss(T, logits, ys[b]);
        ck_assert_msg(loss != NULL, "step %lld: %s", (long long)step, tg_last_message());
        ck_assert_int_eq(tg_params_zero_grad(&ps), TG_OK);
        ck_assert_msg(tg_backward(T, loss) == TG_OK, "%s", tg_last_message());
        if (step == 0) {
            o->worst_grad = -1;
            for (int i = 0; i < ps.count; i++) {
                char name[TG_PARAM_NAME_MAX + 8];
                snprintf(name, sizeof name, "grad.%s", ps.names[i]);
                tg_tensor *want = member(r->npz, name);
                double d = scaled_diff(tg_grad(ps.tensors[i]), want);
                if (d > o->worst_grad) {
                    o->worst_grad = d;
                    snprintf(o->worst_grad_name, sizeof o->worst_grad_name, "%s",
                             ps.names[i]);
                }
                tg_free(want);
            }
        }
        double total = 0;
        if (pert != NO_CLIP)
            ck_assert_int_eq(tg_clip_grad_norm(&ps, r->max_norm, 2.0, &total), TG_OK);
        ck_assert_msg(tg_adam_step(&opt) == TG_OK, "%s", tg_last_message());
        ck_assert_int_eq(tg_item(loss, &o->loss[step]), TG_OK);
        o->norm[step] = total;
        o->clipped[step] = pert != NO_CLIP && r->max_norm / (total + 1e-6) < 1.0;
        if (step == 0)
            o->allocs_after_first = tgt_stats.allocs + tgt_stats.reallocs;
    }
    o->allocs_after_last = tgt_stats.allocs + tgt_stats.reallocs;
    tg_tape_free(T);
    tg_adam_free(&opt);
    for (int64_t b = 0; b < r->batches && b < 64; b++) {
        tg_free(xs[b]);
        tg_free(ys[b]);
    }
    tg_module_free(gpt);
}

static double rel_diff(double got, double want)
{
    return fabs(got - want) / fabs(want);
}

static double max_loss_diff(const gpt_ref *r, const gpt_run *o)
{
    double worst = 0;
    for (int64_t s = 0; s < r->steps; s++)
        worst = fmax(worst, rel_diff(o->loss[s], tgt_at(r->loss, s)));
    return worst;
}

/* ---- float64: the contract ---------------------------------------------------------- */

START_TEST(test_gpt_parity_f64)
{
    gpt_ref r;
    ref_open(&r);
    gpt_run o;
    train(&r, F64, EXACT, &o);

    /* step 1's gradient of every parameter, before clipping */
    ck_assert_msg(o.worst_grad >= 0 && o.worst_grad <= RTOL_F64,
                  "step 1 gradient of %s: off by %.3g of its largest value",
                  o.worst_grad_name, o.worst_grad);
    double worst_loss = 0, worst_norm = 0, worst_lr = 0;
    int64_t nclipped = 0;
    for (int64_t s = 0; s < r.steps; s++) {
        double wl = tgt_at(r.loss, s), wn = tgt_at(r.norm, s), wr = tgt_at(r.lr, s);
        ck_assert_msg(rel_diff(o.loss[s], wl) <= RTOL_F64,
                      "loss, step %lld: got %.17g, want %.17g", (long long)s, o.loss[s], wl);
        ck_assert_msg(rel_diff(o.norm[s], wn) <= RTOL_F64,
                      "total norm, step %lld: got %.17g, want %.17g", (long long)s, o.norm[s],
                      wn);
        ck_assert_msg(rel_diff(o.lr[s], wr) <= RTOL_F64, "lr, step %lld: got %.17g, want %.17g",
                      (long long)s, o.lr[s], wr);
        ck_assert_msg(o.clipped[s] == (tgt_at(r.clipped, s) != 0), "step %lld: clipped %d",
                      (long long)s, o.clipped[s]);
        worst_loss = fmax(worst_loss, rel_diff(o.loss[s], wl));
        worst_norm = fmax(worst_norm, rel_diff(o.norm[s], wn));
        worst_lr = fmax(worst_lr, rel_diff(o.lr[s], wr));
        nclipped += o.clipped[s];
    }
    ck_assert(nclipped > 0 && nclipped < r.steps);
    /* it learns: the last loss is well below the first */
    ck_assert(o.loss[r.steps - 1] < o.loss[0] - 0.1);

    /* a training step allocates nothing after the first: the tape's arena,
     * the gradients and AdamW's state are reused */
    ck_assert_int_gt(o.allocs_after_first, 0);
    ck_assert_int_eq(o.allocs_after_last, o.allocs_after_first);

    if (getenv("TG_GPT_VERBOSE"))
        fprintf(stderr,
                "gpt f64: max rel diff loss %.3g, total norm %.3g, lr %.3g; step-1 gradients "
                "%.3g (%s); %lld of %lld steps clipped; loss %.6f -> %.6f\n",
                worst_loss, worst_norm, worst_lr, o.worst_grad, o.worst_grad_name,
                (long long)nclipped, (long long)r.steps, o.loss[0], o.loss[r.steps - 1]);
    ref_close(&r);
}
END_TEST

START_TEST(test_gpt_parity_f32)
{
    gpt_ref r;
    ref_open(&r);
    gpt_run o;
    train(&r, F32, EXACT, &o);
    double worst_loss = 0;
    for (int64_t s = 0; s < r.steps; s++) {
        double wl = tgt_at(r.loss, s);
        ck_assert_msg(rel_diff(o.loss[s], wl) <= RTOL_F32, "loss, step %lld: got %.9g, want %.9g",
                      (long long)s, o.loss[s], wl);
        worst_loss = fmax(worst_loss, rel_diff(o.loss[s], wl));
    }
    ck_assert_msg(o.worst_grad <= 1e-4, "float32 step 1 gradient of %s: off by %.3g",
                  o.worst_grad_name, o.worst_grad);
    ck_assert_int_eq(o.allocs_after_last, o.allocs_after_first);
    if (getenv("TG_GPT_VERBOSE"))
        fprintf(stderr, "gpt f32: max rel diff loss %.3g, step-1 gradients %.3g\n", worst_loss,
                o.worst_grad);
    ref_close(&r);
}
END_TEST

START_TEST(test_gpt_detects_mistakes)
{
    /* one thing changed: the losses or step 1's gradients (the two halves
     * of the contract) must miss by far more than RTOL_F64 */
    perturbation pert = (perturbation)(_i + 1);
    gpt_ref r;
    ref_open(&r);
    gpt_run o;
    train(&r, F64, pert, &o);
    double worst_loss = max_loss_diff(&r, &o), worst = fmax(worst_loss, o.worst_grad);
    if (getenv("TG_GPT_VERBOSE"))
        fprintf(stderr, "gpt, %s: max rel loss diff %.3g, step-1 gradients %.3g (%s)\n",
                perturbation_name[pert], worst_loss, o.worst_grad, o.worst_grad_name);
    ck_assert_msg(worst > 100 * RTOL_F64, "%s: the losses and gradients still match (%.3g)",
                  perturbation_name[pert], worst);
    ref_close(&r);
}
END_TEST

/* ---- the model itself ---------------------------------------------------------------- */

START_TEST(test_gpt_names_and_shapes)
{
    gpt_ref r;
    ref_open(&r);
    tg_params ps;
    tg_module *gpt = load_model(&r, F64, &ps);
    /* the state_dict's names, in its order, with the fixture's shapes */
    const char *per_layer[] = {"ln_1.weight",      "ln_1.bias",        "attn.c_attn.weight",
                               "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
                               "ln_2.weight",      "ln_2.bias",        "mlp.c_fc.weight",
                               "mlp.c_fc.bias",    "mlp.c_proj.weight", "mlp.c_proj.bias"};
    int L = r.cfg.n_layer;
    ck_assert_int_eq(ps.count, 5 + 12 * L);
    ck_assert_str_eq(ps.names[0], "wte.weight");
    ck_assert_str_eq(ps.names[1], "wpe.weight");
    for (int l = 0; l < L; l++)
        for (int k = 0; k < 12; k++) {
            char want[64];
            snprintf(want, sizeof want, "h.%d.%s", l, per_layer[k]);
            ck_assert_str_eq(ps.names[2 + 12 * l + k], want);
        }
    ck_assert_str_eq(ps.names[2 + 12 * L], "ln_f.weight");
    ck_assert_str_eq(ps.names[3 + 12 * L], "ln_f.bias");
    ck_assert_str_eq(ps.names[4 + 12 * L], "lm_head.weight");
    int64_t C = r.cfg.n_embd, V = r.cfg.vocab_size;
    tgt_assert_shape(ps.tensors[0], 2, (const int64_t[]){V, C});
    tgt_assert_shape(ps.tensors[1], 2, (const int64_t[]){r.cfg.context, C});
    tgt_assert_shape(ps.tensors[4], 2, (const int64_t[]){3 * C, C});
    tgt_assert_shape(ps.tensors[10], 2, (const int64_t[]){4 * C, C});
    tgt_assert_shape(ps.tensors[12], 2, (const int64_t[]){C, 4 * C});
    tgt_assert_shape(ps.tensors[4 + 12 * L], 2, (const int64_t[]){V, C});
    int64_t count = V * C + r.cfg.context * C + 2 * C + V * C +
                    L * (4 * C + 3 * C * C + 3 * C + C * C + C + 4 * C * C + 4 * C + 4 * C * C + C);
    ck_assert_int_eq(tg_module_num_params(gpt), count);

    /* the forward: (B, T) -> (B, T, vocab), PyTorch's logits at the start */
    tg_tensor *x0 = tg_select(r.x, 0, 0);
    tg_tape *T = tg_tape_new();
    tg_tensor *logits = tg_module_forward(T, gpt, x0);
    ck_assert_msg(logits != NULL, "%s", tg_last_message());
    tgt_assert_shape(logits, 3, (const int64_t[]){tg_size(x0, 0), tg_size(x0, 1), V});
    ck_assert_int_eq(tg_dtype_of(logits), F64);
    double d = scaled_diff(logits, r.logits0);
    ck_assert_msg(d <= 1e-12, "logits off by %.3g", d);
    /* shorter sequences and int32 tokens work too */
    tg_tensor *x0_3 = tg_slice(x0, 1, 0, 3, 1);
    tg_tensor *x3 = tg_cast(x0_3, TG_INT32);
    tg_free(x0_3);
    tg_tensor *short_logits = tg_module_forward(T, gpt, x3);
    ck_assert_msg(short_logits != NULL, "%s", tg_last_message());
    tgt_assert_shape(short_logits, 3, (const int64_t[]){tg_size(x0, 0), 3, V});
    for (int64_t i = 0; i < tg_size(x0, 0); i++)
        for (int64_t t = 0; t < 3; t++)
            for (int64_t v = 0; v < V; v++)
                ck_assert(fabs(tgt_at(short_logits, (i * 3 + t) * V + v) -
                               tgt_at(logits, (i * tg_size(x0, 1) + t) * V + v)) < 1e-12);

    /* the summary runs (a zero input of int64 tokens) */
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    ck_assert_msg(tg_module_summary(gpt, TG_INT64, 2, (const int64_t[]){1, r.cfg.context},
                                    devnull) == TG_OK,
                  "%s", tg_last_message());
    fclose(devnull);
    tg_tape_free(T);
    tg_free(x3);
    tg_free(x0);
    tg_module_free(gpt);
    ref_close(&r);
}
END_TEST

START_TEST(test_gpt_init_is_numpys)
{
    /* tg_gpt_new(cfg, rng seeded s) draws make_gpt_ref.py's GPT-2 init bit
     * for bit: the fixture's matrices are those draws (its biases and norms
     * were moved off 0 and 1 after) */
    gpt_ref r;
    ref_open(&r);
    tg_rng rng;
    tg_rng_seed(&rng, (uint32_t)r.init_seed);
    tg_module *gpt = tg_gpt_new(&r.cfg, &rng);
    ck_assert_ptr_nonnull(gpt);
    tg_params ps = {0};
    ck_assert_int_eq(tg_module_params(gpt, &ps), TG_OK);
    int matrices = 0;
    for (int i = 0; i < ps.count; i++) {
        const tg_tensor *t = ps.tensors[i];
        if (tg_ndim(t) == 2) {
            tg_tensor *want = member(r.npz, ps.names[i]);
            for (int64_t k = 0; k < tg_numel(t); k++)
                ck_assert_msg(tgt_at(t, k) == tgt_at(want, k), "%s[%lld]: %.17g, NumPy %.17g",
                              ps.names[i], (long long)k, tgt_at(t, k), tgt_at(want, k));
            tg_free(want);
            matrices++;
        } else {
            double v = strstr(ps.names[i], ".bias") ? 0.0 : 1.0;
            for (int64_t k = 0; k < tg_numel(t); k++)
                ck_assert(tgt_at(t, k) == v);
        }
    }
    ck_assert_int_eq(matrices, 3 + 4 * r.cfg.n_layer);
    /* the residual projections are scaled down: std 0.02 / sqrt(2 n_layer) */
    double ss = 0;
    const tg_tensor *proj = ps.tensors[2 + 10]; /* h.0.mlp.c_proj.weight */
    ck_assert_str_eq(ps.names[12], "h.0.mlp.c_proj.weight");
    for (int64_t k = 0; k < tg_numel(proj); k++)
        ss += tgt_at(proj, k) * tgt_at(proj, k);
    double std = sqrt(ss / (double)tg_numel(proj));
    ck_assert(std > 0.8 * 0.01 && std < 1.2 * 0.01);
    /* tg_gpt_init_weights draws the same again from the same seed */
    tg_rng_seed(&rng, (uint32_t)r.init_seed);
    tg_tensor *before = tg_clone(ps.tensors[0]);
    ck_assert_int_eq(tg_fill(ps.tensors[0], 5.0), TG_OK);
    ck_assert_int_eq(tg_gpt_init_weights(gpt, &rng), TG_OK);
    for (int64_t k = 0; k < tg_numel(before); k++)
        ck_assert(tgt_at(before, k) == tgt_at(ps.tensors[0], k));
    tg_free(before);
    ck_assert_int_eq(tg_gpt_config_of(gpt)->n_layer, r.cfg.n_layer);
    tg_module_free(gpt);
    ref_close(&r);
}
END_TEST

START_TEST(test_gpt_causal)
{
    /* logits at positions before t do not depend on the token at t: exactly,
     * not to rounding (the masked scores are -inf, their weights 0) */
    gpt_ref r;
    ref_open(&r);
    tg_params ps;
    tg_module *gpt = load_model(&r, F64, &ps);
    int64_t Bn = tg_size(r.x, 1), L = r.cfg.context, V = r.cfg.vocab_size;
    tg_tape *T = tg_tape_new();
    for (int64_t t = 0; t < L; t++) {
        tg_tensor *view = tg_select(r.x, 0, 0);
        tg_tensor *a = tg_clone(view), *b = tg_clone(view);
        tg_free(view);
        int64_t *bd = tg_data(b);
        for (int64_t i = 0; i < Bn; i++)
            bd[i * L + t] = (bd[i * L + t] + 1 + i) % V;
        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        tg_tensor *la = tg_module_forward(T, gpt, a), *lb = tg_module_forward(T, gpt, b);
        ck_assert(la && lb);
        int64_t differ_after = 0;
        for (int64_t i = 0; i < Bn; i++)
            for (int64_t s = 0; s < L; s++)
                for (int64_t v = 0; v < V; v++) {
                    int64_t k = (i * L + s) * V + v;
                    if (s < t)
                        ck_assert_msg(tgt_at(la, k) == tgt_at(lb, k),
                                      "token %lld changed the logits at %lld", (long long)t,
                                      (long long)s);
                    else
                        differ_after += tgt_at(la, k) != tgt_at(lb, k);
                }
        ck_assert_int_gt(differ_after, 0); /* and it does change the ones from t on */
        tg_free(a);
        tg_free(b);
    }
    /* the same holds for the gradient: the loss at position 0 alone does not
     * reach the position embedding of position 1 */
    tg_tensor *x0 = tg_select(r.x, 0, 0);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    tg_tensor *logits = tg_module_forward(T, gpt, x0);
    tg_tensor *first = tg_ad_sum(T, tg_ad_slice(T, logits, 1, 0, 1, 1));
    ck_assert_int_eq(tg_params_zero_grad(&ps), TG_OK);
    ck_assert_int_eq(tg_backward(T, first), TG_OK);
    const tg_tensor *gpe = tg_grad(ps.tensors[1]); /* wpe.weight (context, C) */
    int64_t C = r.cfg.n_embd;
    double row0 = 0;
    for (int64_t c = 0; c < C; c++) {
        row0 += fabs(tgt_at(gpe, c));
        for (int64_t s = 1; s < L; s++)
            ck_assert(tgt_at(gpe, s * C + c) == 0.0);
    }
    ck_assert(row0 > 0);
    tg_free(x0);
    tg_tape_free(T);
    tg_module_free(gpt);
    ref_close(&r);
}
END_TEST

/* ---- gradcheck of the attention and of the whole loss --------------------------------- */

typedef struct gc_ctx {
    tg_module *gpt, *attn;
    tg_tensor *tokens, *targets;
} gc_ctx;

static tg_tensor *attn_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    gc_ctx *c = ctx;
    return tg_module_forward(T, c->attn, in[0]);
}

static tg_tensor *loss_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)in; /* the parameters, used by the model through its own pointers */
    gc_ctx *c = ctx;
    return tg_gpt_loss(T, tg_module_forward(T, c->gpt, c->tokens), c->targets);
}

START_TEST(test_gpt_gradcheck)
{
    tg_gpt_config cfg = {.vocab_size = 5, .context = 4, .n_layer = 1, .n_head = 2, .n_embd = 4,
                         .dtype = F64};
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_module *gpt = tg_gpt_new(&cfg, &rng);
    ck_assert_ptr_nonnull(gpt);
    tg_params ps = {0};
    ck_assert_int_eq(tg_module_params(gpt, &ps), TG_OK);
    for (int i = 0; i < ps.count; i++) /* GPT-2's init is tiny: make it O(1) */
        ck_assert_int_eq(tg_uniform_fill(&rng, ps.tensors[i], -1, 1), TG_OK);
    gc_ctx c = {.gpt = gpt, .attn = tg_module_child(gpt, "h.0.attn")};
    ck_assert_ptr_nonnull(c.attn);

    /* the attention block alone: x (2, 3, 4) and its four parameters */
    tg_tensor *x = tg_uniform(&rng, F64, -1, 1, 3, (const int64_t[]){2, 3, 4});
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
    tg_tensor *in[] = {x, ps.tensors[4], ps.tensors[5], ps.tensors[6], ps.tensors[7]};
    ck_assert_str_eq(ps.names[4], "h.0.attn.c_attn.weight");
    ck_assert_str_eq(ps.names[7], "h.0.attn.c_proj.bias");
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(attn_fn, &c, 5, in, 1e-6, 1e-7, 1e-5, &rep), TG_OK);
    ck_assert_msg(rep.ok, "attention: input %d [%lld]: analytic %.10g, numeric %.10g",
                  rep.input, (long long)rep.index, rep.analytic, rep.numeric);

    /* the whole model's loss against every parameter */
    int64_t tok[] = {1, 4, 0, 2, 3, 3, 1, 0}, tgt[] = {4, 0, 2, 1, 3, 1, 0, 2};
    c.tokens = tg_empty(TG_INT64, 2, (const int64_t[]){2, 4});
    c.targets = tg_empty(TG_INT64, 2, (const int64_t[]){2, 4});
    memcpy(tg_data(c.tokens), tok, sizeof tok);
    memcpy(tg_data(c.targets), tgt, sizeof tgt);
    ck_assert_int_eq(tg_gradcheck(loss_fn, &c, ps.count, ps.tensors, 1e-6, 1e-7, 1e-5, &rep),
                     TG_OK);
    ck_assert_msg(rep.ok, "loss: %s [%lld]: analytic %.10g, numeric %.10g",
                  ps.names[rep.input], (long long)rep.index, rep.analytic, rep.numeric);
    ck_assert_int_gt(rep.checked, 200);
    tg_free(c.tokens);
    tg_free(c.targets);
    tg_free(x);
    tg_module_free(gpt);
}
END_TEST

/* ---- dropout and sampling ---------------------------------------------------------------- */

START_TEST(test_gpt_dropout)
{
    /* with p > 0: the same parameters (same names, same draws), the same
     * logits in eval mode, other logits in training mode, and a backward */
    tg_gpt_config cfg = {.vocab_size = 7, .context = 5, .n_layer = 2, .n_head = 2,
                         .n_embd = 8, .dtype = F64};
    tg_gpt_config dcfg = cfg;
    dcfg.dropout = 0.2;
    dcfg.dropout_seed = 11;
    tg_rng r1, r2;
    tg_rng_seed(&r1, 5);
    tg_rng_seed(&r2, 5);
    tg_module *plain = tg_gpt_new(&cfg, &r1), *drop = tg_gpt_new(&dcfg, &r2);
    ck_assert(plain && drop);
    tg_params pp = {0}, pd = {0};
    ck_assert_int_eq(tg_module_params(plain, &pp), TG_OK);
    ck_assert_int_eq(tg_module_params(drop, &pd), TG_OK);
    ck_assert_int_eq(pp.count, pd.count);
    for (int i = 0; i < pp.count; i++) {
        ck_assert_str_eq(pp.names[i], pd.names[i]);
        for (int64_t k = 0; k < tg_numel(pp.tensors[i]); k++)
            ck_assert(tgt_at(pp.tensors[i], k) == tgt_at(pd.tensors[i], k));
    }
    ck_assert_ptr_nonnull(tg_module_child(drop, "h.1.attn.attn_dropout"));
    ck_assert_ptr_nonnull(tg_module_child(drop, "h.1.mlp.dropout"));
    int64_t tok[] = {1, 2, 3, 4, 5, 6, 0, 1, 2, 3};
    tg_tensor *x = tg_empty(TG_INT64, 2, (const int64_t[]){2, 5});
    memcpy(tg_data(x), tok, sizeof tok);
    tg_tape *T = tg_tape_new();
    tg_tensor *lp = tg_module_forward(T, plain, x);
    tg_tensor *ld = tg_module_forward(T, drop, x); /* training: dropped */
    ck_assert(lp && ld);
    int64_t differ = 0;
    for (int64_t k = 0; k < tg_numel(lp); k++)
        differ += tgt_at(lp, k) != tgt_at(ld, k);
    ck_assert_int_gt(differ, 0);
    ck_assert_int_eq(tg_params_zero_grad(&pd), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_gpt_loss(T, ld, x)), TG_OK);
    tg_module_train(drop, false);
    tg_tensor *le = tg_module_forward(T, drop, x);
    ck_assert_ptr_nonnull(le);
    for (int64_t k = 0; k < tg_numel(lp); k++)
        ck_assert(tgt_at(lp, k) == tgt_at(le, k));
    tg_tape_free(T);
    tg_free(x);
    tg_module_free(plain);
    tg_module_free(drop);
}
END_TEST

START_TEST(test_gpt_generate)
{
    gpt_ref r;
    ref_open(&r);
    tg_params ps;
    tg_module *gpt = load_model(&r, F64, &ps);
    int64_t V = r.cfg.vocab_size, L = r.cfg.context;
    const int64_t prompt[] = {3, 1, 4};
    int64_t a[40], b[40], g[40];
    tg_rng rng;
    /* the same seed, the same words; every token in range; the prompt kept */
    tg_rng_seed(&rng, 9);
    ck_assert_int_eq(tg_gpt_generate(gpt, prompt, 3, 30, 1.0, 0, &rng, a), TG_OK);
    tg_rng_seed(&rng, 9);
    ck_assert_int_eq(tg_gpt_generate(gpt, prompt, 3, 30, 1.0, 0, &rng, b), TG_OK);
    ck_assert_mem_eq(a, b, sizeof(int64_t) * 33);
    ck_assert_mem_eq(a, prompt, sizeof prompt);
    for (int k = 0; k < 33; k++)
        ck_assert(a[k] >= 0 && a[k] < V);
    /* top_k 1 and temperature 0 both take the most likely token, whatever
     * the draws: the first new one is the argmax of the forward's last row */
    tg_rng_seed(&rng, 1);
    ck_assert_int_eq(tg_gpt_generate(gpt, prompt, 3, 12, 0.0, 0, &rng, g), TG_OK);
    tg_rng_seed(&rng, 2);
    ck_assert_int_eq(tg_gpt_generate(gpt, prompt, 3, 12, 0.7, 1, &rng, b), TG_OK);
    ck_assert_mem_eq(g, b, sizeof(int64_t) * 15);
    tg_tensor *x = tg_empty(TG_INT64, 2, (const int64_t[]){1, 3});
    memcpy(tg_data(x), prompt, sizeof prompt);
    tg_tape *T = tg_tape_new();
    tg_tensor *logits = tg_module_forward(T, gpt, x);
    ck_assert_ptr_nonnull(logits);
    int64_t best = 0;
    for (int64_t v = 1; v < V; v++)
        if (tgt_at(logits, 2 * V + v) > tgt_at(logits, 2 * V + best))
            best = v;
    ck_assert_int_eq(g[3], best);
    /* top_k 2: only the two most likely tokens ever follow */
    tg_rng_seed(&rng, 4);
    for (int rep = 0; rep < 20; rep++) {
        ck_assert_int_eq(tg_gpt_generate(gpt, prompt, 3, 1, 5.0, 2, &rng, b), TG_OK);
        int64_t second = best == 0 ? 1 : 0;
        for (int64_t v = 0; v < V; v++)
            if (v != best && tgt_at(logits, 2 * V + v) > tgt_at(logits, 2 * V + second))
                second = v;
        ck_assert(b[3] == best || b[3] == second);
    }
    /* in place, a prompt longer than the context (the last L tokens are
     * read), and the training flag put back */
    ck_assert(gpt->training);
    for (int k = 0; k < 2 * (int)L; k++)
        a[k] = k % V;
    ck_assert_int_eq(tg_gpt_generate(gpt, a, 2 * L, 5, 1.0, 5, &rng, a), TG_OK);
    ck_assert(gpt->training);
    /* bad arguments: errors naming the function, out untouched */
    memset(b, 0x55, sizeof b);
    ck_assert_int_eq(tg_gpt_generate(gpt, prompt, 0, 5, 1.0, 0, &rng, b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_gpt_generate");
    ck_assert_int_eq(tg_gpt_generate(gpt, prompt, 3, 5, -1.0, 0, &rng, b), TG_ERR_VALUE);
    ck_assert_int_eq(tg_gpt_generate(gpt, prompt, 3, 5, (double)NAN, 0, &rng, b), TG_ERR_VALUE);
    const int64_t bad[] = {1, 27};
    ck_assert_int_eq(tg_gpt_generate(gpt, bad, 2, 5, 1.0, 0, &rng, b), TG_ERR_INDEX);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_gpt_generate");
    ck_assert_int_eq(tg_gpt_generate(gpt, prompt, 3, 5, 1.0, 0, NULL, b), TG_ERR_NULL);
    ck_assert_int_eq(b[0], 0x5555555555555555);
    tg_module *lin = tg_nn_linear(2, 2, F64, NULL);
    ck_assert_int_eq(tg_gpt_generate(lin, prompt, 3, 5, 1.0, 0, &rng, b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "not a GPT");
    tg_module_free(lin);
    tg_tape_free(T);
    tg_free(x);
    tg_module_free(gpt);
    ref_close(&r);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------- */

START_TEST(test_gpt_bad_config)
{
    const tg_gpt_config good = {.vocab_size = 7, .context = 5, .n_layer = 1, .n_head = 2,
                                .n_embd = 8, .dtype = F64};
    ck_assert_ptr_null(tg_gpt_new(NULL, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_gpt_new");
    struct {
        tg_gpt_config cfg;
        int code;
        const char *says;
    } bad[] = {
        {good, TG_ERR_VALUE, "vocab_size 0"},     {good, TG_ERR_VALUE, "context -1"},
        {good, TG_ERR_VALUE, "n_head 3"},         {good, TG_ERR_VALUE, "n_head 0"},
        {good, TG_ERR_VALUE, "n_embd 0"},         {good, TG_ERR_VALUE, "n_layer 5"},
        {good, TG_ERR_VALUE, "n_layer -1"},       {good, TG_ERR_VALUE, "dropout 1"},
        {good, TG_ERR_VALUE, "dropout -0.1"},     {good, TG_ERR_DTYPE, "int64"},
    };
    bad[0].cfg.vocab_size = 0;
    bad[1].cfg.context = -1;
    bad[2].cfg.n_head = 3;
    bad[3].cfg.n_head = 0;
    bad[4].cfg.n_embd = 0;
    bad[5].cfg.n_layer = 5;
    bad[6].cfg.n_layer = -1;
    bad[7].cfg.dropout = 1;
    bad[8].cfg.dropout = -0.1;
    bad[9].cfg.dtype = TG_INT64;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_clear_error();
        ck_assert_ptr_null(tg_gpt_new(&bad[i].cfg, NULL));
        TGT_ASSERT_ERR(bad[i].code, "tg_gpt_new");
        TGT_ASSERT_ERR(bad[i].code, bad[i].says);
    }
    tg_gpt_config nan_cfg = good;
    nan_cfg.dropout = (double)NAN;
    ck_assert_ptr_null(tg_gpt_new(&nan_cfg, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "dropout");
    /* the largest model a tg_params list holds, and one with no block */
    tg_gpt_config big = good;
    big.n_layer = 4;
    tg_module *m = tg_gpt_new(&big, NULL);
    ck_assert_ptr_nonnull(m);
    tg_params ps = {0};
    ck_assert_int_eq(tg_module_params(m, &ps), TG_OK);
    ck_assert_int_eq(ps.count, 53);
    tg_module_free(m);
    big.n_layer = 0;
    m = tg_gpt_new(&big, NULL);
    ck_assert_ptr_nonnull(m);
    tg_module_free(m);
    /* the default size, float32: 5 + 48 tensors, (2, 16) -> (2, 16, 27) */
    const tg_gpt_config def = TG_GPT_CONFIG;
    m = tg_gpt_new(&def, NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(tg_module_num_params(m),
                     (27 + 16 + 27) * 64 + 2 * 64 + 4 * (12 * 64 * 64 + 13 * 64));
    tg_tensor *x = tg_zeros(TG_INT64, 2, (const int64_t[]){2, 16});
    tg_tape *T = tg_tape_new();
    tg_tensor *logits = tg_module_forward(T, m, x);
    ck_assert_msg(logits != NULL, "%s", tg_last_message());
    tgt_assert_shape(logits, 3, (const int64_t[]){2, 16, 27});
    ck_assert_int_eq(tg_dtype_of(logits), F32);
    tg_tape_free(T);
    tg_free(x);
    tg_module_free(m);
    ck_assert_ptr_null(tg_gpt_config_of(NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_gpt_config_of");
    ck_assert_int_eq(tg_gpt_init_weights(NULL, NULL), TG_ERR_NULL);
}
END_TEST

START_TEST(test_gpt_bad_input)
{
    const tg_gpt_config cfg = {.vocab_size = 7, .context = 5, .n_layer = 1, .n_head = 2,
                               .n_embd = 8, .dtype = F64};
    tg_module *gpt = tg_gpt_new(&cfg, NULL);
    ck_assert_ptr_nonnull(gpt);
    tg_tape *T = tg_tape_new();
    /* a sequence longer than the context */
    tg_tensor *x6 = tg_zeros(TG_INT64, 2, (const int64_t[]){2, 6});
    ck_assert_ptr_null(tg_module_forward(T, gpt, x6));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "GPT: tokens have shape (2,6): 6 positions, but the context is 5");
    /* not (B, T), not integers, empty */
    tg_tensor *x1 = tg_zeros(TG_INT64, 1, (const int64_t[]){5});
    ck_assert_ptr_null(tg_module_forward(T, gpt, x1));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "GPT: tokens have shape (5,)");
    tg_tensor *xf = tg_zeros(F64, 2, (const int64_t[]){2, 5});
    ck_assert_ptr_null(tg_module_forward(T, gpt, xf));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "GPT: tokens are float64");
    tg_tensor *x0 = tg_zeros(TG_INT64, 2, (const int64_t[]){2, 0});
    ck_assert_ptr_null(tg_module_forward(T, gpt, x0));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "GPT");
    /* tokens outside [0, vocab): the embedding would read -1 from the end */
    tg_tensor *x = tg_zeros(TG_INT64, 2, (const int64_t[]){2, 5});
    int64_t *xd = tg_data(x);
    xd[7] = 7;
    ck_assert_ptr_null(tg_module_forward(T, gpt, x));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "GPT: token 7 at (1, 2) is outside [0, 7)");
    xd[7] = -1;
    ck_assert_ptr_null(tg_module_forward(T, gpt, x));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "token -1");
    xd[7] = 6;
    tg_tensor *logits = tg_module_forward(T, gpt, x);
    ck_assert_ptr_nonnull(logits);
    /* the loss: shapes checked, NULL propagated */
    ck_assert_ptr_null(tg_gpt_loss(T, logits, x1));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_gpt_loss");
    ck_assert_ptr_null(tg_gpt_loss(T, logits, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_gpt_loss");
    tg_clear_error();
    ck_assert_ptr_null(tg_gpt_loss(T, NULL, x));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    /* the loss is PyTorch's mean cross-entropy: uniform logits give log V */
    tg_tensor *flat = tg_zeros(F64, 3, (const int64_t[]){2, 5, 7});
    tg_tensor *l = tg_gpt_loss(T, flat, x);
    double v = 0;
    ck_assert_int_eq(tg_item(l, &v), TG_OK);
    ck_assert(fabs(v - log(7.0)) < 1e-15);
    /* the attention alone refuses a wrong width */
    tg_module *attn = tg_module_child(gpt, "h.0.attn");
    ck_assert_ptr_null(tg_module_forward(T, attn, flat));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "CausalSelfAttention");
    tg_free(flat);
    tg_free(x);
    tg_free(x0);
    tg_free(xf);
    tg_free(x1);
    tg_free(x6);
    tg_tape_free(T);
    tg_module_free(gpt);
}
END_TEST

START_TEST(test_gpt_oom)
{
    /* every allocation of tg_gpt_new failing in turn: NULL, TG_ERR_NOMEM, no leak */
    const tg_gpt_config cfg = {.vocab_size = 7, .context = 5, .n_layer = 1, .n_head = 2,
                               .n_embd = 8, .dropout = 0.1, .dtype = F32};
    long n = 0;
    for (long k = 1;; k++) {
        tgt_stats.fail_at = tgt_stats.calls + k;
        long live = tgt_stats.live_blocks;
        tg_module *m = tg_gpt_new(&cfg, NULL);
        tgt_stats.fail_at = 0;
        if (m) {
            n = k;
            tg_module_free(m);
            break;
        }
        ck_assert_int_eq(tg_last_error(), TG_ERR_NOMEM);
        ck_assert_int_eq(tgt_stats.live_blocks, live);
        ck_assert_int_lt(k, 10000);
    }
    ck_assert_int_gt(n, 10);
}
END_TEST

Suite *test_gpt_suite(void); /* called by the generated runner */
Suite *test_gpt_suite(void)
{
    Suite *s = suite_create("gpt");
    TCase *tc = tgt_tcase("pytorch");
    tcase_add_test(tc, test_gpt_parity_f64);
    tcase_add_test(tc, test_gpt_parity_f32);
    tcase_add_loop_test(tc, test_gpt_detects_mistakes, 0, NPERTURBATIONS - 1);
    suite_add_tcase(s, tc);
    TCase *tm = tgt_tcase("model");
    tcase_add_test(tm, test_gpt_names_and_shapes);
    tcase_add_test(tm, test_gpt_init_is_numpys);
    tcase_add_test(tm, test_gpt_causal);
    tcase_add_test(tm, test_gpt_gradcheck);
    tcase_add_test(tm, test_gpt_dropout);
    tcase_add_test(tm, test_gpt_generate);
    tcase_add_test(tm, test_gpt_bad_config);
    tcase_add_test(tm, test_gpt_bad_input);
    tcase_add_test(tm, test_gpt_oom);
    suite_add_tcase(s, tm);
    return s;
}
