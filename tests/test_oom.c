/* test_oom.c - allocation-failure injection. Each scenario runs once with
 * the counting allocator to learn how many allocations it makes (N), then
 * N more times with allocation k (k = 1..N) refused. Every run must either
 * fail with TG_ERR_NOMEM or succeed with the clean run's numbers, must give
 * back every block it took, and the library must then work normally: the
 * interrupted work is redone without failures (on the same objects when
 * they were built) and must give the clean run's numbers bit for bit.
 *
 * Scenarios: (a) building tensors: creation, views, elementwise ops,
 * reductions, matmul, casts, .npy save and load, IDX; (b) one training step
 * of the chapter's model y = w x^2 + b; (c) one training step of an MLP
 * with cross-entropy and Adam; (d) autograd extras: second-order gradients,
 * the gradient checker, saving and loading parameters. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE

/* What a run computed: the numbers compared with the clean run. */
#define SIG_MAX 256
typedef struct sig {
    int n;
    double v[SIG_MAX];
} sig;

static void sig_add(sig *s, double v)
{
    ck_assert_int_lt(s->n, SIG_MAX);
    s->v[s->n++] = v;
}

/* Every element of t, in C order. */
static void sig_tensor(sig *s, const tg_tensor *t)
{
    for (int64_t i = 0; i < tg_numel(t); i++)
        sig_add(s, tgt_at(t, i));
}

/* The sum of t's elements in C order (for big tensors). */
static void sig_sum(sig *s, const tg_tensor *t)
{
    double acc = 0;
    for (int64_t i = 0; i < tg_numel(t); i++)
        acc += tgt_at(t, i);
    sig_add(s, acc);
}

static void assert_same_sig(const sig *got, const sig *want, const char *what,
                            long k)
{
    ck_assert_msg(got->n == want->n, "%s (failure at %ld): %d numbers, want %d",
                  what, k, got->n, want->n);
    for (int i = 0; i < got->n; i++)
        ck_assert_msg(memcmp(&got->v[i], &want->v[i], sizeof(double)) == 0,
                      "%s (failure at %ld): number %d is %.17g, want %.17g", what,
                      k, i, got->v[i], want->v[i]);
}

/* Arms the allocator to refuse the k-th allocation from now (0: none). */
static void fail_in(long k) { tgt_stats.fail_at = k ? tgt_stats.calls + k : 0; }

/* After a run with allocation k refused: the refusal happened, and the run
 * either failed with out of memory or succeeded. */
static void assert_outcome(int rc, long k, const char *what)
{
    ck_assert_msg(tgt_stats.calls >= tgt_stats.fail_at,
                  "%s: allocation %ld was never made", what, k);
    tgt_stats.fail_at = 0;
    ck_assert_msg(rc == TG_OK || rc == TG_ERR_NOMEM,
                  "%s: allocation %ld refused gave code %d (%s)", what, k, rc,
                  tg_last_message());
    if (rc == TG_ERR_NOMEM) {
        ck_assert_int_eq(tg_last_error(), TG_ERR_NOMEM);
        ck_assert_msg(strstr(tg_last_message(), "out of memory") != NULL,
                      "%s: allocation %ld: message \"%s\"", what, k,
                      tg_last_message());
        ck_assert_msg(strncmp(tg_last_message(), "tg_", 3) == 0,
                      "%s: allocation %ld: message \"%s\" names no function", what,
                      k, tg_last_message());
    }
}

static void assert_no_leak(long baseline, long k, const char *what)
{
    ck_assert_msg(tgt_stats.live_blocks == baseline,
                  "%s: allocation %ld refused: %ld blocks leaked", what, k,
                  tgt_stats.live_blocks - baseline);
}

/* ---- (a) building tensors -------------------------------------------------- */

/* Everything made is kept here and released at the end, whatever happened. */
#define BAG_MAX 160
typedef struct bag {
    int n;
    tg_tensor *t[BAG_MAX];
} bag;

static tg_tensor *keep(bag *b, tg_tensor *t)
{
    ck_assert_int_lt(b->n, BAG_MAX);
    if (t)
        b->t[b->n++] = t;
    return t;
}

static void bag_free(bag *b)
{
    for (int i = 0; i < b->n; i++)
        tg_free(b->t[i]);
    b->n = 0;
}

/* Stop at the first failure: later calls would report NULL arguments. */
#define T_(var, expr)                                                          \
    tg_tensor *var = keep(&B, (expr));                                         \
    if (!var)                                                                  \
        goto fail
#define I_(expr)                                                               \
    if ((expr) != TG_OK)                                                       \
    goto fail

static const char *npy_path(void)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/tapegrad-oom-%ld.npy", (long)getpid());
    return path;
}

static int build_tensors(sig *s)
{
    bag B = {0};
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    s->n = 0;

    /* creation */
    T_(z, tg_zeros(F64, SH(3, 3)));
    T_(o, tg_ones(F32, SH(4)));
    T_(fl, tg_full(F64, SH(3, 1), 0.25));
    T_(arr, tg_from_array(F64, SH(2, 2), (const double[]){1, -2, 3, -4}));
    T_(ar, tg_arange(F64, 0, 24, 1));
    T_(ls, tg_linspace(F32, -1, 1, 7));
    T_(ey, tg_eye(F64, 3, 4));
    T_(sc, tg_scalar(F64, 1.5));
    T_(ra, tg_rand(&rng, F64, SH(3, 4)));
    T_(rn, tg_randn(&rng, F32, SH(2, 3, 4)));
    T_(un, tg_uniform(&rng, F64, -2, 2, SH(4, 5)));
    T_(em, tg_empty(F64, SH(0, 3)));

    /* views and copies */
    T_(r234, tg_reshape(ar, SH(2, 3, 4)));
    T_(tr, tg_transpose(r234, 0, 2));                   /* (4,3,2) */
    T_(trc, tg_reshape(tr, SH(-1)));                    /* a copy */
    T_(pm, tg_permute(r234, (const int[]){1, 0, 2}));   /* (3,2,4) */
    T_(sl, tg_slice(pm, 2, 3, TG_NONE, -2));            /* (3,2,2) */
    T_(se, tg_select(sl, 1, -1));                       /* (3,2) */
    T_(us, tg_unsqueeze(se, 0));                        /* (1,3,2) */
    T_(sq, tg_squeeze(us, 0));
    T_(ex, tg_expand(fl, SH(2, 3, 4)));
    T_(ct, tg_contiguous(tr));
    T_(cl, tg_clone(sl));
    T_(ca, tg_cast(rn, F64));
    T_(cb, tg_cast(tr, F32));

    /* elementwise */
    T_(add, tg_add(ex, r234));
    T_(one, tg_ones(F64, SH(1)));
    T_(sub, tg_sub(ra, one));
    T_(mul, tg_mul(ca, ex));
    T_(dv, tg_div(ra, fl));
    T_(pw, tg_pow(ra, fl));
    T_(mx, tg_maximum(ra, fl));
    T_(mn, tg_minimum(fl, ra));
    T_(ge, tg_binary(TG_GE, ra, fl));
    T_(as, tg_add_scalar(se, 1));
    T_(ss, tg_binary_scalar(TG_SUB, se, 1, true));
    T_(ms, tg_mul_scalar(cb, 2));
    T_(ds, tg_div_scalar(tr, 3));
    T_(ps, tg_pow_scalar(tr, 2));
    T_(ng, tg_neg(sl));
    T_(xp, tg_exp(un));
    T_(lg, tg_log(ra));
    T_(sr, tg_sqrt(ra));
    T_(ab, tg_abs(un));
    T_(th, tg_tanh(un));
    T_(sg, tg_sigmoid(un));
    T_(rl, tg_relu(un));
    T_(sn, tg_unary(TG_SIGN, un));
    I_(tg_binary_into(TG_MUL, z, z, fl));
    I_(tg_unary_into(TG_EXP, z, z));
    I_(tg_axpy_into(z, 2.0, fl));
    I_(tg_binary_scalar_into(TG_ADD, z, z, 1.0, false));
    I_(tg_copy(cl, sl));
    I_(tg_fill(ey, 0.5));

    /* reductions */
    T_(su, tg_sum(rn));
    T_(me, tg_mean(tr));
    T_(mxa, tg_max(un));
    T_(am, tg_argmax(tr));
    T_(sa, tg_sum_axis(tr, 1, false));
    T_(ma, tg_mean_axis(pm, 0, true));
    T_(xa, tg_max_axis(pm, -1, false));
    T_(aa, tg_argmax_axis(tr, 0, true));
    T_(st, tg_sum_to(ex, SH(3, 1)));
    T_(se0, tg_sum(em));
    T_(out, tg_zeros(F64, SH(3, 1)));
    I_(tg_sum_to_into(out, add));
    T_(s0, tg_scalar(F64, 0));
    I_(tg_sum_into(s0, pm));

    /* matmul: plain, transposed operand, batched, vector */
    T_(mm, tg_matmul(ra, un));
    T_(rat, tg_transpose(ra, 0, 1));
    T_(mt, tg_matmul(rat, ra));
    T_(cat, tg_transpose(ca, 1, 2));
    T_(bm, tg_matmul(ca, cat));                         /* (2,3,3) */
    T_(uc, tg_slice(un, 1, 0, 1, 1));
    T_(mv, tg_matmul(ra, uc));                          /* (3,1) */
    T_(v4, tg_arange(F64, 0, 4, 1));
    T_(vm, tg_matmul(v4, un));
    T_(mo, tg_zeros(F64, SH(3, 5)));
    I_(tg_matmul_into(mo, ra, un));

    /* .npy, IDX */
    I_(tg_save_npy(tr, npy_path()));
    T_(ld, tg_load_npy(npy_path()));
    {
        FILE *f = fopen(npy_path(), "rb");
        ck_assert_ptr_nonnull(f);
        unsigned char img[512];
        size_t len = fread(img, 1, sizeof img, f);
        fclose(f);
        T_(lb, tg_load_npy_buffer(img, len));
        sig_tensor(s, lb);
    }
    {
        tg_idx x;
        I_(tg_idx_load_buffer("\0\0\x08\x02\0\0\0\x02\0\0\0\x03\1\2\3\4\5\6", 18, &x));
        for (int64_t i = 0; i < x.count; i++)
            sig_add(s, x.data[i]);
        tg_idx_free(&x);
    }
    FILE *devnull = fopen("/dev/null", "w");
    int prc = tg_print(ra, devnull);
    fclose(devnull);
    I_(prc);

    /* Numbers of everything kept. */
    for (int i = 0; i < B.n; i++)
        sig_sum(s, B.t[i]);
    sig_tensor(s, z);
    sig_tensor(s, st);
    bag_free(&B);
    unlink(npy_path());
    return TG_OK;
fail:;
    int rc = tg_last_error();
    bag_free(&B);
    unlink(npy_path());
    return rc;
}

/* ---- (b) the chapter's model ------------------------------------------------ */

typedef struct quad_run {
    tg_tape *T;
    tg_quadratic m;
    tg_tensor *x, *y; /* (100,) each */
    bool built;
} quad_run;

static void quad_free(quad_run *r)
{
    tg_tape_free(r->T);
    tg_quadratic_free(&r->m);
    tg_free(r->x);
    tg_free(r->y);
    memset(r, 0, sizeof *r);
}

/* The data (y = 3 x^2 + 2 on [-1, 1]), the tape and the model. */
static int quad_build(quad_run *r)
{
    memset(r, 0, sizeof *r);
    r->x = tg_linspace(F64, -1, 1, 100);
    tg_tensor *x2 = tg_mul(r->x, r->x);
    tg_tensor *ax2 = tg_mul_scalar(x2, 3.0);
    r->y = tg_add_scalar(ax2, 2.0);
    tg_free(x2);
    tg_free(ax2);
    if (!r->y)
        return tg_last_error();
    r->T = tg_tape_new();
    if (!r->T)
        return tg_last_error();
    int rc = tg_quadratic_init(&r->m, F64, 0.5, -0.5);
    if (rc)
        return rc;
    r->built = true;
    return TG_OK;
}

/* One step: forward, loss, backward, w -= lr dL/dw, b -= lr dL/db. */
static int quad_step(quad_run *r, sig *s)
{
    const double lr = 0.001;
    double loss;
    s->n = 0;
    int rc = tg_tape_reset(r->T);
    if (rc)
        return rc;
    tg_tensor *pred = tg_quadratic_forward(r->T, &r->m, r->x);
    tg_tensor *L = tg_loss_half_sse(r->T, pred, r->y);
    if (!L)
        return tg_last_error();
    if ((rc = tg_item(L, &loss)) || (rc = tg_zero_grad(r->m.w)) ||
        (rc = tg_zero_grad(r->m.b)) || (rc = tg_backward(r->T, L)) ||
        (rc = tg_axpy_into(r->m.w, -lr, tg_grad(r->m.w))) ||
        (rc = tg_axpy_into(r->m.b, -lr, tg_grad(r->m.b))))
        return rc;
    sig_add(s, loss);
    sig_tensor(s, r->m.w);
    sig_tensor(s, r->m.b);
    sig_tensor(s, tg_grad(r->m.w));
    sig_tensor(s, tg_grad(r->m.b));
    return TG_OK;
}

/* ---- (c) an MLP with cross-entropy and Adam ------------------------------------ */

typedef struct mlp_run {
    tg_tape *T;
    tg_mlp net;
    tg_params ps;
    tg_adam opt;
    tg_tensor *x; /* (8, 6) float32 */
    tg_tensor *y; /* (8,) int32 labels */
    bool built;
} mlp_run;

static const int32_t mlp_labels[8] = {0, 2, 1, 1, 0, 2, 2, 0};

static void mlp_free(mlp_run *r)
{
    tg_tape_free(r->T);
    tg_adam_free(&r->opt);
    tg_mlp_free(&r->net);
    tg_free(r->x);
    tg_free(r->y);
    memset(r, 0, sizeof *r);
}

static int mlp_build(mlp_run *r)
{
    memset(r, 0, sizeof *r);
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    r->x = tg_randn(&rng, F32, SH(8, 6));
    if (!r->x)
        return tg_last_error();
    r->y = tg_from_array(TG_INT32, SH(8), mlp_labels);
    if (!r->y)
        return tg_last_error();
    r->T = tg_tape_new();
    if (!r->T)
        return tg_last_error();
    int rc = tg_mlp_init(&r->net, 4, (const int64_t[]){6, 5, 4, 3}, TG_ACT_TANH,
                         F32, &rng);
    if (!rc)
        rc = tg_mlp_params(&r->net, &r->ps);
    if (!rc)
        rc = tg_adam_init(&r->opt, &r->ps, 0.01, 0.9, 0.999, 1e-8, 0.01, true);
    if (rc)
        return rc;
    r->built = true;
    return TG_OK;
}

static int mlp_step(mlp_run *r, sig *s)
{
    double loss;
    s->n = 0;
    int rc = tg_tape_reset(r->T);
    if (rc)
        return rc;
    tg_tensor *logits = tg_mlp_forward(r->T, &r->net, r->x);
    tg_tensor *L = tg_loss_cross_entropy(r->T, logits, r->y);
    if (!L)
        return tg_last_error();
    if ((rc = tg_item(L, &loss)) || (rc = tg_params_zero_grad(&r->ps)) ||
        (rc = tg_backward(r->T, L)) || (rc = tg_adam_step(&r->opt)))
        return rc;
    sig_add(s, loss);
    sig_add(s, tg_accuracy(logits, r->y));
    for (int i = 0; i < r->ps.count; i++) {
        sig_tensor(s, r->ps.tensors[i]);
        sig_sum(s, tg_grad(r->ps.tensors[i]));
    }
    return TG_OK;
}

/* ---- (d) autograd extras --------------------------------------------------------- */

static tg_tensor *gc_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    tg_tensor *h = tg_ad_tanh(T, tg_ad_matmul(T, in[0], in[1]));
    return tg_ad_sum_axis(T, tg_ad_mul(T, h, h), 0, false);
}

typedef struct extra_run {
    tg_tape *T;
    tg_tensor *a, *b; /* (3,4), (4,2) float64 leaves */
    tg_params ps;
    char dir[64];
    bool built;
} extra_run;

static void extra_free(extra_run *r)
{
    char path[128];
    tg_tape_free(r->T);
    tg_free(r->a);
    tg_free(r->b);
    if (r->dir[0]) {
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "%s/%s.npy", r->dir, i ? "b" : "a");
            unlink(path);
        }
        rmdir(r->dir);
    }
    memset(r, 0, sizeof *r);
}

static int extra_build(extra_run *r)
{
    memset(r, 0, sizeof *r);
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    r->a = tg_uniform(&rng, F64, -1, 1, SH(3, 4));
    r->b = tg_uniform(&rng, F64, -1, 1, SH(4, 2));
    r->T = tg_tape_new();
    if (!r->a || !r->b || !r->T)
        return tg_last_error();
    int rc = tg_params_add(&r->ps, "a", r->a);
    if (!rc)
        rc = tg_params_add(&r->ps, "b", r->b);
    if (rc)
        return rc;
    snprintf(r->dir, sizeof r->dir, "/tmp/tapegrad-oom-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(r->dir));
    r->built = true;
    return TG_OK;
}

/* Hessian-vector product, log-softmax on the tape, the gradient checker,
 * and a save / load round trip of the parameters. */
static int extra_step(extra_run *r, sig *s)
{
    s->n = 0;
    int rc = tg_tape_reset(r->T);
    if (rc)
        return rc;
    tg_tensor *in[2] = {r->a, r->b}, *g[2], *hv[2];
    tg_tensor *ls = tg_log_softmax(r->T, tg_ad_matmul(r->T, r->a, r->b));
    tg_tensor *L = tg_ad_sum(r->T, tg_ad_mul(r->T, ls, ls));
    if (!L)
        return tg_last_error();
    if ((rc = tg_ad_grad(r->T, L, NULL, 2, in, g, true)))
        return rc;
    tg_tensor *gv = tg_ad_add(r->T, tg_ad_sum(r->T, g[0]), tg_ad_sum(r->T, g[1]));
    if (!gv)
        return tg_last_error();
    if ((rc = tg_ad_grad(r->T, gv, NULL, 2, in, hv, false)))
        return rc;
    tg_gradcheck_report rep;
    if ((rc = tg_gradcheck(gc_fn, NULL, 2, in, 1e-6, 1e-7, 1e-5, &rep)))
        return rc;
    ck_assert_msg(rep.ok, "gradcheck: worst ratio %g", rep.worst_ratio);
    if ((rc = tg_params_save(&r->ps, r->dir)) || (rc = tg_params_load(&r->ps, r->dir)))
        return rc;
    for (int i = 0; i < 2; i++) {
        sig_tensor(s, g[i]);
        sig_tensor(s, hv[i]);
    }
    sig_add(s, (double)rep.checked);
    sig_add(s, rep.max_abs_err);
    sig_tensor(s, r->a);
    return TG_OK;
}

/* ---- the drivers ------------------------------------------------------------------ */

/* (a): no objects outlive a run, so a failed run is simply rerun. */
START_TEST(test_oom_build_tensors)
{
    sig clean, got;
    long base = tgt_stats.live_blocks, start = tgt_stats.calls;
    ck_assert_msg(build_tensors(&clean) == TG_OK, "clean run: %s", tg_last_message());
    long n = tgt_stats.calls - start;
    ck_assert_int_gt(n, 50);
    ck_assert_int_eq(tgt_stats.live_blocks, base);
    for (long k = 1; k <= n; k++) {
        fail_in(k);
        int rc = build_tensors(&got);
        assert_outcome(rc, k, "build tensors");
        if (rc == TG_OK)
            assert_same_sig(&got, &clean, "build tensors", k);
        assert_no_leak(base, k, "build tensors");
        ck_assert_int_eq(build_tensors(&got), TG_OK);
        assert_same_sig(&got, &clean, "build tensors, rerun", k);
    }
    printf("oom: build tensors: %ld failure points\n", n);
}
END_TEST

/* The training scenarios: build the objects and take one step with
 * allocation k refused; then, on the same objects when they were built,
 * take the step again without failures; the numbers must be the clean
 * run's. */
#define TRAINING_DRIVER(name, run_t, build, step, freefn, label)               \
    START_TEST(name)                                                           \
    {                                                                          \
        run_t r;                                                               \
        sig clean, got;                                                        \
        long base = tgt_stats.live_blocks, start = tgt_stats.calls;            \
        ck_assert_int_eq(build(&r), TG_OK);                                    \
        ck_assert_int_eq(step(&r, &clean), TG_OK);                             \
        long n = tgt_stats.calls - start;                                      \
        freefn(&r);                                                            \
        ck_assert_int_eq(tgt_stats.live_blocks, base);                         \
        for (long k = 1; k <= n; k++) {                                        \
            fail_in(k);                                                        \
            int rc = build(&r);                                                \
            if (rc == TG_OK)                                                   \
                rc = step(&r, &got);                                           \
            assert_outcome(rc, k, label);                                      \
            if (rc == TG_OK) {                                                 \
                assert_same_sig(&got, &clean, label, k);                       \
            } else if (r.built) { /* redo the step on the same objects */      \
                ck_assert_int_eq(step(&r, &got), TG_OK);                       \
                assert_same_sig(&got, &clean, label ", step redone", k);       \
            }                                                                  \
            freefn(&r);                                                        \
            assert_no_leak(base, k, label);                                    \
            if (rc != TG_OK) { /* and from scratch */                          \
                ck_assert_int_eq(build(&r), TG_OK);                            \
                ck_assert_int_eq(step(&r, &got), TG_OK);                       \
                assert_same_sig(&got, &clean, label ", rebuilt", k);           \
                freefn(&r);                                                    \
            }                                                                  \
        }                                                                      \
        printf("oom: %s: %ld failure points\n", label, n);                     \
    }                                                                          \
    END_TEST

TRAINING_DRIVER(test_oom_chapter_step, quad_run, quad_build, quad_step, quad_free,
                "chapter model step")
TRAINING_DRIVER(test_oom_mlp_step, mlp_run, mlp_build, mlp_step, mlp_free,
                "MLP step")
TRAINING_DRIVER(test_oom_autograd_extras, extra_run, extra_build, extra_step,
                extra_free, "autograd extras")

/* A tape that ran out of memory in the middle of a pass keeps working:
 * reset, and a second pass over the same ops allocates nothing more. */
START_TEST(test_oom_tape_reuse)
{
    quad_run r;
    sig clean, got;
    ck_assert_int_eq(quad_build(&r), TG_OK);
    ck_assert_int_eq(quad_step(&r, &clean), TG_OK);
    long before = tgt_stats.calls;
    ck_assert_int_eq(quad_step(&r, &got), TG_OK); /* the arena is reused */
    ck_assert_int_eq(tgt_stats.calls, before);
    quad_free(&r);
}
END_TEST

Suite *test_oom_suite(void); /* called by the generated runner */

Suite *test_oom_suite(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tgt_tcase("allocation_failures");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_oom_build_tensors);
    tcase_add_test(tc, test_oom_chapter_step);
    tcase_add_test(tc, test_oom_mlp_step);
    tcase_add_test(tc, test_oom_autograd_extras);
    tcase_add_test(tc, test_oom_tape_reuse);
    suite_add_tcase(s, tc);
    return s;
}
