/* test_reliability.c - regression tests for what an outside probe and a new
 * user broke (reliability round 2): results too large for memory on the
 * tape's trusted path, aliased output arrays, parameter lists with holes or
 * broadcast views, arg-max positions past 2^24, masked logits in the
 * cross-entropy, writes into broadcast views, empty gradcheck outputs, an
 * unseeded generator, messages that named the wrong function, dead tapes,
 * tape memory statistics and limits. Each case asserts the error code and
 * the message; the fixture checks that nothing leaked. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE

/* ---- 1: every tape op checks the size of a derived shape --------------- */

typedef tg_tensor *(*binop_fn)(tg_tape *, tg_tensor *, tg_tensor *);

static const struct {
    const char *name;
    binop_fn f;
} big_ops[] = {
    {"tg_ad_add", tg_ad_add},         {"tg_ad_sub", tg_ad_sub},
    {"tg_ad_mul", tg_ad_mul},         {"tg_ad_div", tg_ad_div},
    {"tg_ad_pow", tg_ad_pow},         {"tg_ad_maximum", tg_ad_maximum},
    {"tg_ad_minimum", tg_ad_minimum}, {"tg_ad_ge", tg_ad_ge},
    {"tg_ad_matmul", tg_ad_matmul},
};

/* (2^31, 1) times (1, 2^31) views: the result needs 2^62 elements, 2^65
 * bytes, which wrapped to 0 on the tape's path. */
START_TEST(test_derived_shape_overflow)
{
    const char *name = big_ops[_i].name;
    int64_t big = (int64_t)1 << 31;
    tg_tensor *one = tg_ones(F64, SH(1, 1));
    tg_tensor *col = tg_expand(one, SH(big, 1));
    tg_tensor *row = tg_expand(one, SH(1, big));
    ck_assert_ptr_nonnull(col);
    ck_assert_ptr_nonnull(row);
    tg_tape *T = tg_tape_new();
    for (int taped = 0; taped < 2; taped++) { /* on the tape, then T NULL */
        tg_clear_error();
        tg_tensor *r = big_ops[_i].f(taped ? NULL : T, col, row);
        ck_assert_msg(r == NULL, "%s made a result", name);
        TGT_ASSERT_ERR(TG_ERR_OVERFLOW, name);
        TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "too many");
    }
    /* With a leaf that requires a gradient, nothing is recorded either. */
    tg_tensor *leaf = tg_ones(F64, SH(1, 1));
    tg_requires_grad(leaf, true);
    tg_tensor *lcol = tg_ad_expand(T, leaf, SH(big, 1));
    ck_assert_ptr_nonnull(lcol);
    size_t before = tg_tape_length(T);
    ck_assert_ptr_null(big_ops[_i].f(T, lcol, row));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, name);
    ck_assert_uint_eq(tg_tape_length(T), before);
    /* The tape still works. */
    tg_tensor *ok = tg_ad_sum(T, tg_ad_mul(T, leaf, leaf));
    ck_assert_int_eq(tg_backward(T, ok), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(leaf), 0), 2.0);
    tg_tape_free(T);
    tg_free(leaf);
    tg_free(col);
    tg_free(row);
    tg_free(one);
}
END_TEST

/* ---- 2: aliased output arrays ----------------------------------------- */

START_TEST(test_ad_grad_aliased_arrays)
{
    tg_tensor *x = tg_from_array(F64, SH(2), (const double[]){1, 2});
    tg_tensor *z = tg_from_array(F64, SH(2), (const double[]){3, 4});
    tg_requires_grad(x, true);
    tg_requires_grad(z, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *loss = tg_ad_sum(T, tg_ad_mul(T, x, z));
    tg_tensor *arr[3] = {x, z, NULL};
    /* The same array for inputs and grads. */
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 1, arr, arr, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ad_grad: inputs and grads overlap");
    ck_assert_ptr_eq(arr[0], x); /* untouched */
    /* Overlapping by one slot, either way round. */
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 2, arr, arr + 1, false), TG_ERR_VALUE);
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 2, arr + 1, arr, false), TG_ERR_VALUE);
    ck_assert_ptr_eq(arr[0], x);
    ck_assert_ptr_eq(arr[1], z);
    /* Adjacent but separate arrays are fine. */
    tg_tensor *both[4] = {x, z, NULL, NULL};
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 2, both, both + 2, false), TG_OK);
    ck_assert_double_eq(tgt_at(both[2], 0), 3.0);
    ck_assert_double_eq(tgt_at(both[3], 1), 2.0);
    tg_tape_free(T);
    tg_free(x);
    tg_free(z);
}
END_TEST

/* ---- 3 and 8: parameter lists ------------------------------------------- */

typedef struct plist {
    tg_tensor *w, *b, *base, *bc;
    tg_params ps;
} plist;

static void plist_make(plist *p)
{
    memset(p, 0, sizeof *p);
    p->w = tg_from_array(F64, SH(2), (const double[]){1, 2});
    p->b = tg_from_array(F64, SH(3), (const double[]){3, 4, 5});
    p->base = tg_from_array(F64, SH(3), (const double[]){6, 7, 8});
    p->bc = tg_expand(p->base, SH(2, 3)); /* a broadcast view */
    ck_assert_int_eq(tg_params_add(&p->ps, "w", p->w), TG_OK);
    ck_assert_int_eq(tg_params_add(&p->ps, "b", p->b), TG_OK);
}

static void plist_free(plist *p)
{
    tg_free(p->w);
    tg_free(p->b);
    tg_free(p->bc);
    tg_free(p->base);
}

static char tmpdir[64];

static const char *make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tg_rel_%d_XXXXXX", (int)getpid());
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    return tmpdir;
}

static void remove_tmpdir(const char *dir, const char *const *names, int n)
{
    char path[256];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

START_TEST(test_params_null_entry)
{
    plist p;
    plist_make(&p);
    const char *dir = make_tmpdir();
    ck_assert_int_eq(tg_params_save(&p.ps, dir), TG_OK);
    p.ps.tensors[1] = NULL; /* a hole, as a hand-built list may have */
    ck_assert_int_eq(tg_params_zero_grad(&p.ps), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_params_zero_grad: parameter 1 (\"b\") is NULL");
    ck_assert_int_eq(tg_params_load(&p.ps, dir), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_params_load: parameter 1 (\"b\") is NULL");
    ck_assert_int_eq(tg_params_save(&p.ps, dir), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_params_save: parameter 1 (\"b\") is NULL");
    ck_assert_int_eq(tg_params_add(&p.ps, "c", p.base), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_params_add: parameter 1 (\"b\") is NULL");
    tg_sgd sgd;
    ck_assert_int_eq(tg_sgd_init(&sgd, &p.ps, 0.1, 0.9, 0.0, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_sgd_init: parameter 1 (\"b\") is NULL");
    tg_sgd_free(&sgd);
    tg_adam adam;
    ck_assert_int_eq(tg_adam_init(&adam, &p.ps, 1e-3, 0.9, 0.999, 1e-8, 0.0, false),
                     TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_adam_init: parameter 1 (\"b\") is NULL");
    tg_adam_free(&adam);
    /* A name without its terminating NUL (a garbage list). */
    p.ps.tensors[1] = p.b;
    memset(p.ps.names[0], 'x', TG_PARAM_NAME_MAX);
    ck_assert_int_eq(tg_params_zero_grad(&p.ps), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_params_zero_grad: parameter 0 has no valid name");
    /* A tape's tensor slipped into the list. */
    strcpy(p.ps.names[0], "w");
    tg_tape *T = tg_tape_new();
    p.ps.tensors[0] = tg_ad_exp(T, p.w);
    ck_assert_int_eq(tg_params_zero_grad(&p.ps), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_params_zero_grad: \"w\" belongs to a tape");
    tg_tape_free(T);
    remove_tmpdir(dir, (const char *const[]){"w", "b"}, 2);
    plist_free(&p);
}
END_TEST

START_TEST(test_params_broadcast_view)
{
    plist p;
    plist_make(&p);
    /* tg_params_add refuses a view that repeats elements. */
    ck_assert_int_eq(tg_params_add(&p.ps, "bc", p.bc), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_params_add: \"bc\" is a broadcast view");
    ck_assert_int_eq(p.ps.count, 2);
    /* A list that holds one anyway (built by hand): loading validates every
     * destination before the first write, so "w" is not overwritten. */
    const char *dir = make_tmpdir();
    tg_tensor *keep = tg_clone(p.bc);
    ck_assert_int_eq(tg_params_add(&p.ps, "bc", keep), TG_OK);
    ck_assert_int_eq(tg_params_save(&p.ps, dir), TG_OK);
    p.ps.tensors[2] = p.bc;
    ck_assert_int_eq(tg_fill(p.w, -1.0), TG_OK);
    ck_assert_int_eq(tg_params_load(&p.ps, dir), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_params_load: \"bc\" is a broadcast view");
    ck_assert_double_eq(tgt_at(p.w, 0), -1.0);
    ck_assert_double_eq(tgt_at(p.w, 1), -1.0);
    /* With the list repaired, the load restores everything. */
    p.ps.tensors[2] = keep;
    ck_assert_int_eq(tg_params_load(&p.ps, dir), TG_OK);
    ck_assert_double_eq(tgt_at(p.w, 1), 2.0);
    remove_tmpdir(dir, (const char *const[]){"w", "b", "bc"}, 3);
    tg_free(keep);
    plist_free(&p);
}
END_TEST

/* ---- 5: arg-max positions are integers ----------------------------------- */

/* float32 holds integers exactly only up to 2^24: an index kept as a
 * float32 sent the gradient to the wrong element. */
START_TEST(test_argmax_past_2_24)
{
    int64_t n = ((int64_t)1 << 24) + 3, at = ((int64_t)1 << 24) + 1;
    for (int form = 0; form < 3; form++) { /* all, axis 1 of (1,n), axis 0 of (n,1) */
        tg_tensor *x = form == 2 ? tg_zeros(F32, SH(n, 1)) : tg_zeros(F32, SH(1, n));
        ck_assert_ptr_nonnull(x);
        ((float *)tg_data(x))[at] = 1.0f;
        tg_requires_grad(x, true);
        tg_tape *T = tg_tape_new();
        tg_tensor *m = form == 0 ? tg_ad_max(T, x)
                                 : tg_ad_sum(T, tg_ad_max_axis(T, x, form == 1 ? 1 : 0, false));
        ck_assert_int_eq(tg_backward(T, m), TG_OK);
        const float *g = tg_data(tg_grad(x));
        ck_assert_msg(g[at] == 1.0f, "form %d: gradient %g at the arg-max", form,
                      (double)g[at]);
        ck_assert(g[at - 1] == 0.0f && g[at + 1] == 0.0f);
        double total = 0;
        for (int64_t i = 0; i < n; i++)
            total += (double)g[i];
        ck_assert_double_eq(total, 1.0);
        tg_tape_free(T);
        tg_free(x);
    }
    /* The tensor functions return int64 positions, exact at any size. */
    tg_tensor *x = tg_zeros(F32, SH(n));
    ((float *)tg_data(x))[at] = 1.0f;
    tg_tensor *i1 = tg_argmax(x), *i2 = tg_argmax_axis(x, 0, false);
    ck_assert_int_eq(tg_dtype_of(i1), TG_INT64);
    ck_assert_int_eq(*(const int64_t *)tg_data(i1), at);
    ck_assert_int_eq(*(const int64_t *)tg_data(i2), at);
    tg_free(i1);
    tg_free(i2);
    tg_free(x);
}
END_TEST

/* ---- 6: cross-entropy with masked (-inf) logits --------------------------- */

START_TEST(test_cross_entropy_masked_logits)
{
    const double inf = (double)INFINITY, e = exp(1.0), e2 = exp(2.0);
    tg_tensor *labels = tg_from_array(TG_INT32, SH(2), (const int32_t[]){0, 1});
    tg_tensor *masked = tg_from_array(TG_INT64, SH(2), (const int64_t[]){1, 1});
    /* -log softmax at the labels: log(1 + e) and log(1 + e^2). */
    double want = (log1p(e) + log1p(e2)) / 2;
    double want_g[6] = {(1 / (1 + e) - 1) / 2, 0, (e / (1 + e)) / 2,
                        (e2 / (1 + e2)) / 2, (1 / (1 + e2) - 1) / 2, 0};
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype d = dt ? F32 : F64;
        double tol = dt ? 1e-6 : 1e-15;
        tg_tensor *x64 = tg_from_array(F64, SH(2, 3),
                                       (const double[]){0, -inf, 1, 2, 0, -inf});
        tg_tensor *x = tg_cast(x64, d);
        tg_requires_grad(x, true);
        tg_tape *T = tg_tape_new();
        tg_tensor *loss = tg_loss_cross_entropy(T, x, labels);
        ck_assert_ptr_nonnull(loss);
        double l = tgt_at(loss, 0);
        ck_assert_msg(fabs(l - want) <= tol * want, "%s loss %.17g, want %.17g",
                      tg_dtype_name(d), l, want);
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        for (int i = 0; i < 6; i++) {
            double g = tgt_at(tg_grad(x), i);
            ck_assert_msg(isfinite(g) && fabs(g - want_g[i]) <= tol,
                          "%s gradient %d: %.17g, want %.17g", tg_dtype_name(d), i,
                          g, want_g[i]);
        }
        /* Without a tape: the same value, caller-owned. */
        tg_tensor *free_loss = tg_loss_cross_entropy(NULL, x, labels);
        ck_assert_double_eq(tgt_at(free_loss, 0), l);
        tg_free(free_loss);
        /* The label's own logit masked: the loss is +inf (PyTorch's value). */
        tg_tensor *inf_loss = tg_loss_cross_entropy(T, x, masked);
        ck_assert(isinf(tgt_at(inf_loss, 0)) && tgt_at(inf_loss, 0) > 0);
        tg_tape_free(T);
        tg_free(x);
        tg_free(x64);
    }
    tg_free(labels);
    tg_free(masked);
}
END_TEST

/* ---- 7: every write into a caller's tensor refuses a broadcast view ------ */

typedef struct wfx {
    tg_tensor *base, *bc, *a, *s;
    tg_rng rng;
} wfx;

static int w_fill(wfx *f) { return tg_fill(f->bc, 1.0); }
static int w_set(wfx *f) { return tg_set(f->bc, (const int64_t[]){1, 2}, 1.0); }
static int w_sum_to_into(wfx *f) { return tg_sum_to_into(f->bc, f->a); }
static int w_copy(wfx *f) { return tg_copy(f->bc, f->a); }
static int w_binary_into(wfx *f) { return tg_binary_into(TG_ADD, f->bc, f->a, f->a); }
static int w_scalar_into(wfx *f) { return tg_binary_scalar_into(TG_MUL, f->bc, f->a, 2.0, false); }
static int w_unary_into(wfx *f) { return tg_unary_into(TG_EXP, f->bc, f->a); }
static int w_axpy_into(wfx *f) { return tg_axpy_into(f->bc, 2.0, f->a); }
static int w_matmul_into(wfx *f) { return tg_matmul_into(f->bc, f->s, f->a); }
static int w_rand_fill(wfx *f) { return tg_rand_fill(&f->rng, f->bc); }
static int w_randn_fill(wfx *f) { return tg_randn_fill(&f->rng, f->bc); }
static int w_uniform_fill(wfx *f) { return tg_uniform_fill(&f->rng, f->bc, 0, 1); }

static const struct {
    const char *fn;
    int (*call)(wfx *);
} writes[] = {
    {"tg_fill", w_fill},
    {"tg_set", w_set},
    {"tg_sum_to_into", w_sum_to_into},
    {"tg_copy", w_copy},
    {"tg_binary_into", w_binary_into},
    {"tg_binary_scalar_into", w_scalar_into},
    {"tg_unary_into", w_unary_into},
    {"tg_axpy_into", w_axpy_into},
    {"tg_matmul_into", w_matmul_into},
    {"tg_rand_fill", w_rand_fill},
    {"tg_randn_fill", w_randn_fill},
    {"tg_uniform_fill", w_uniform_fill},
};

START_TEST(test_write_into_broadcast_view)
{
    wfx f;
    f.base = tg_from_array(F64, SH(3), (const double[]){1, 2, 3});
    f.bc = tg_expand(f.base, SH(2, 3));
    f.a = tg_ones(F64, SH(2, 3));
    f.s = tg_eye(F64, 2, 2);
    tg_rng_seed(&f.rng, 1);
    ck_assert_int_eq(writes[_i].call(&f), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, writes[_i].fn);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "is a broadcast view (stride 0 on axis 0)");
    for (int i = 0; i < 3; i++) /* nothing was written */
        ck_assert_double_eq(tgt_at(f.base, i), (double)(i + 1));
    tg_free(f.bc);
    tg_free(f.base);
    tg_free(f.a);
    tg_free(f.s);
}
END_TEST

/* A size-1 axis with stride 0 repeats nothing: still writable. */
START_TEST(test_write_into_stride0_size1)
{
    tg_tensor *base = tg_from_array(F64, SH(3), (const double[]){1, 2, 3});
    tg_tensor *v = tg_expand(base, SH(1, 3));
    ck_assert_int_eq(tg_fill(v, 5.0), TG_OK);
    ck_assert_double_eq(tgt_at(base, 2), 5.0);
    tg_free(v);
    tg_free(base);
}
END_TEST

/* ---- 9: gradcheck of a function with an empty output --------------------- */

static tg_tensor *empty_out(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    return tg_ad_mul_scalar(T, tg_ad_slice(T, in[0], 0, 1, 1, 1), 3.0);
}

START_TEST(test_gradcheck_empty_output)
{
    tg_tensor *x = tg_from_array(F64, SH(3), (const double[]){1, 2, 3});
    tg_requires_grad(x, true);
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(empty_out, NULL, 1, &x, 1e-6, 1e-8, 1e-6, &rep),
                     TG_OK);
    ck_assert(rep.ok);
    ck_assert_int_eq(rep.checked, 3);
    ck_assert_double_eq(rep.max_abs_err, 0.0);
    tg_free(x);
}
END_TEST

/* ---- 10: an unseeded generator ------------------------------------------------ */

START_TEST(test_rng_unseeded)
{
    tg_rng rng;
    memset(&rng, 0, sizeof rng); /* never seeded: MT19937's all-zero state */
    ck_assert_ptr_null(tg_randn(&rng, F64, SH(4)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_randn: rng is not seeded (call tg_rng_seed");
    ck_assert(isnan(tg_rng_normal(&rng)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_rng_normal: rng is not seeded");
    ck_assert(isnan(tg_rng_random(&rng)));
    ck_assert_uint_eq(tg_rng_uint32(&rng), 0);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_rng_uint32: rng is not seeded");
    int64_t perm[4];
    ck_assert_int_eq(tg_rng_permutation(&rng, perm, 4), TG_ERR_VALUE);
    tg_tensor *t = tg_zeros(F64, SH(2));
    ck_assert_int_eq(tg_uniform_fill(&rng, t, 0, 1), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_uniform_fill: rng is not seeded");
    tg_linear l;
    ck_assert_int_ne(tg_linear_init(&l, 3, 2, F64, &rng), TG_OK);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "rng is not seeded");
    /* Garbage in the struct is refused the same way. */
    memset(&rng, 0xab, sizeof rng);
    ck_assert_ptr_null(tg_rand(&rng, F64, SH(2)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_rand: rng is not seeded");
    /* Seeded, and a copy of a seeded one, work. */
    tg_rng_seed(&rng, 100);
    tg_rng fork = rng;
    ck_assert_double_eq(tg_rng_random(&fork), tg_rng_random(&rng));
    tg_free(t);
}
END_TEST

/* ---- 13: messages name the right function and the cause -------------------- */

START_TEST(test_messages_name_the_caller)
{
    tg_tensor *a = tg_ones(F64, SH(2, 2));
    tg_tensor *h = tg_ones(F32, SH(2, 2));
    /* A dtype error suggests the cast that fits the caller. */
    ck_assert_int_eq(tg_copy(a, h), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_copy: dtypes float64 and float32 differ (use tg_cast)");
    tg_tensor *i = tg_zeros(TG_INT32, SH(2, 2));
    ck_assert_ptr_null(tg_matmul(a, i));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_matmul: b is int32; this op needs a float dtype");
    tg_free(i);
    /* A tape's result with T == NULL. */
    tg_requires_grad(a, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_exp(T, a);
    ck_assert_ptr_null(tg_ad_add(NULL, y, a));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_add: the tape is NULL but an input belongs to a tape");
    /* tg_backward_seed reports as itself. */
    ck_assert_int_eq(tg_backward_seed(T, y, h), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_backward_seed: seed float32");
    tg_tape_free(T);
    tg_free(a);
    tg_free(h);
}
END_TEST

/* A .npy header whose shape overflows: the message names the file. */
START_TEST(test_npy_overflow_names_path)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/tg_rel_%d.npy", (int)getpid());
    char dict[128];
    int dl = snprintf(dict, sizeof dict,
                      "{'descr': '<f8', 'fortran_order': False, 'shape': "
                      "(4611686018427387904, 4), }");
    int total = 10 + dl + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned hl = (unsigned)(dl + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((int)(hl & 0xff), f);
    fputc((int)(hl >> 8), f);
    fwrite(dict, 1, (size_t)dl, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fclose(f);
    ck_assert_ptr_null(tg_load_npy(path));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_load_npy: ");
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, path);
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "too many elements");
    unlink(path);
}
END_TEST

/* A full disk is reported as such, not as a generic I/O error. */
START_TEST(test_enospc_names_the_cause)
{
    FILE *full = fopen("/dev/full", "w");
    if (!full) /* not every system has it */
        return;
    tg_tensor *t = tg_zeros(F64, SH(3));
    ck_assert_int_eq(tg_print(t, full), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_print: writing the tensor failed: No space left on device");
    fclose(full);
    tg_tensor *big = tg_zeros(F64, SH(100000));
    ck_assert_int_eq(tg_save_npy(big, "/dev/full"), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_save_npy: writing '/dev/full' failed: No space left on device");
    tg_free(big);
    tg_free(t);
}
END_TEST

/* ---- 14: a freed or garbage tape ------------------------------------------- */

/* An allocator that never gives memory back until the end of the test, so
 * a freed tape can be used as a program would, without the sanitizer
 * seeing a use after free: the memory keeps what tg_tape_free left. */
enum { QUARANTINE_MAX = 4096 };
static struct {
    void *p[QUARANTINE_MAX];
    int n;
} quarantine;

static void *quarantine_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        if (ptr && quarantine.n < QUARANTINE_MAX)
            quarantine.p[quarantine.n++] = ptr;
        else
            free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

START_TEST(test_dead_tape)
{
    tgt_alloc_uninstall();
    quarantine.n = 0;
    tg_set_allocator(quarantine_alloc, NULL);
    tg_tensor *x = tg_from_array(F64, SH(2), (const double[]){1, 2});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_sum(T, tg_ad_mul(T, x, x));
    ck_assert_int_eq(tg_backward(T, y), TG_OK);
    tg_tape_free(T);
    /* Every entry point reports the freed tape. */
    ck_assert_ptr_null(tg_ad_mul(T, x, x));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_mul: tape is not a live tape");
    ck_assert_int_eq(tg_tape_reset(T), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_tape_reset: tape is not a live tape");
    ck_assert_int_eq(tg_backward(T, y), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_backward: tape is not a live tape");
    tg_tensor *g;
    ck_assert_int_eq(tg_ad_grad(T, y, NULL, 1, &x, &g, false), TG_ERR_TAPE);
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert(!tg_tape_is_recording(T));
    tg_tape_stats st;
    ck_assert_int_eq(tg_tape_get_stats(T, &st), TG_ERR_TAPE);
    tg_clear_error();
    tg_tape_free(T); /* a second free does nothing but say so */
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_tape_free: tape is not a live tape");
    /* A pointer to something that never was a tape. */
    uint64_t junk[512];
    memset(junk, 0xab, sizeof junk);
    tg_tape *J = (tg_tape *)(void *)junk;
    ck_assert_ptr_null(tg_ad_exp(J, x));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_exp: tape is not a live tape");
    ck_assert(tg_tape_pause(J, true)); /* refused: reports paused */
    ck_assert_int_eq(tg_tape_set_limit(J, 10), TG_ERR_TAPE);
    tg_free(x);
    tg_set_allocator(NULL, NULL);
    for (int i = 0; i < quarantine.n; i++)
        free(quarantine.p[i]);
    quarantine.n = 0;
    tgt_alloc_install(); /* for the fixture's leak check */
}
END_TEST

/* ---- 15: tape statistics and a byte limit -------------------------------- */

static tg_tensor *chapter_like_step(tg_tape *T, tg_tensor *w, tg_tensor *x)
{
    tg_tensor *p = tg_ad_mul(T, tg_ad_pow_scalar(T, x, 2.0), w);
    return tg_ad_sum(T, tg_ad_mul(T, p, p));
}

START_TEST(test_tape_stats_and_limit)
{
    tg_tensor *w = tg_ones(F64, SH(1));
    tg_tensor *x = tg_linspace(F64, -1, 1, 100);
    tg_requires_grad(w, true);
    tg_tape *T = tg_tape_new();
    tg_tape_stats st;
    ck_assert_int_eq(tg_tape_get_stats(T, &st), TG_OK);
    ck_assert_uint_eq(st.records, 0);
    ck_assert_uint_eq(st.bytes_in_use, 0);
    ck_assert_uint_eq(st.limit, 0);
    /* Forgetting the reset: records and bytes grow every step. */
    size_t last = 0;
    for (int step = 0; step < 5; step++) {
        ck_assert_int_eq(tg_backward(T, chapter_like_step(T, w, x)), TG_OK);
        ck_assert_int_eq(tg_tape_get_stats(T, &st), TG_OK);
        ck_assert_uint_eq(st.records, (size_t)(3 * (step + 1))); /* mul, mul, sum */
        ck_assert_uint_gt(st.bytes_in_use, last);
        last = st.bytes_in_use;
    }
    ck_assert_uint_ge(st.high_water, st.bytes_in_use);
    ck_assert_uint_ge(st.reserved, st.bytes_in_use);
    size_t per_step = last / 5;
    /* With the reset each step, the use stays at one step's worth. */
    tg_tape_reset(T);
    ck_assert_int_eq(tg_tape_set_limit(T, 3 * per_step), TG_OK);
    for (int step = 0; step < 50; step++) {
        tg_tape_reset(T);
        ck_assert_int_eq(tg_backward(T, chapter_like_step(T, w, x)), TG_OK);
    }
    ck_assert_int_eq(tg_tape_get_stats(T, &st), TG_OK);
    ck_assert_uint_eq(st.limit, 3 * per_step);
    ck_assert_uint_le(st.bytes_in_use, 3 * per_step);
    /* Without it, the limit stops the loop with a message that says why. */
    tg_tape_reset(T);
    int failed_at = -1;
    for (int step = 0; step < 10 && failed_at < 0; step++) {
        tg_tensor *l = chapter_like_step(T, w, x);
        if (!l || tg_backward(T, l))
            failed_at = step;
    }
    ck_assert_int_ge(failed_at, 1);
    ck_assert_int_le(failed_at, 3);
    TGT_ASSERT_ERR(TG_ERR_NOMEM, "memory limit");
    TGT_ASSERT_ERR(TG_ERR_NOMEM, "call tg_tape_reset once per step");
    ck_assert_int_eq(tg_tape_get_stats(T, &st), TG_OK);
    ck_assert_uint_le(st.bytes_in_use, 3 * per_step);
    /* A reset makes room again; a limit of 0 removes it. */
    tg_tape_reset(T);
    ck_assert_int_eq(tg_backward(T, chapter_like_step(T, w, x)), TG_OK);
    ck_assert_int_eq(tg_tape_set_limit(T, 0), TG_OK);
    for (int step = 0; step < 10; step++)
        ck_assert_int_eq(tg_backward(T, chapter_like_step(T, w, x)), TG_OK);
    /* A limit below what is already in use stops the next op at once. */
    ck_assert_int_eq(tg_tape_set_limit(T, 1), TG_OK);
    ck_assert_ptr_null(tg_ad_exp(T, w));
    TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_ad_exp: the tape's memory limit of 1 bytes");
    ck_assert_int_eq(tg_tape_get_stats(NULL, &st), TG_ERR_NULL);
    ck_assert_int_eq(tg_tape_get_stats(T, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_tape_set_limit(NULL, 1), TG_ERR_NULL);
    tg_tape_free(T);
    tg_free(w);
    tg_free(x);
}
END_TEST

/* ---- semantics that surprised PyTorch users -------------------------------- */

/* A tensor.h view of a leaf that requires a gradient cannot pass the
 * gradient on: the tape refuses it rather than leave the leaf silently
 * without one. The tape's own views do reach it. */
START_TEST(test_views_of_leaves)
{
    tg_tensor *w = tg_from_array(F64, SH(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    tg_requires_grad(w, true);
    tg_tensor *wt = tg_transpose(w, 0, 1), *row = tg_slice(w, 0, 1, 2, 1);
    tg_tensor *rs = tg_reshape(w, SH(6)), *again = tg_reshape(wt, SH(3, 2));
    tg_tape *T = tg_tape_new();
    tg_tensor *views[4] = {wt, row, rs, again};
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_null(tg_ad_mul_scalar(T, views[i], 2.0));
        TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_mul_scalar: an input is a tensor.h view");
        TGT_ASSERT_ERR(TG_ERR_TAPE, "Take the view on the tape (tg_ad_reshape, tg_ad_slice, ...)");
    }
    ck_assert_uint_eq(tg_tape_length(T), 0);
    /* without recording (no-grad evaluation) they are fine */
    tg_tape_pause(T, true);
    ck_assert_ptr_nonnull(tg_ad_mul_scalar(T, wt, 2.0));
    tg_tape_pause(T, false);
    /* the tape's view reaches the leaf */
    tg_tensor *tv = tg_ad_transpose(T, w, 0, 1);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul_scalar(T, tv, 2.0))), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(w), 5), 2.0);
    /* a view made a leaf of its own is its own leaf */
    ck_assert_int_eq(tg_requires_grad(wt, true), TG_OK);
    ck_assert_ptr_nonnull(tg_ad_mul_scalar(T, wt, 2.0));
    /* a view of a tensor that does not require a gradient is an input */
    tg_tensor *c = tg_ones(F64, SH(2, 2)), *ct = tg_transpose(c, 0, 1);
    ck_assert_ptr_nonnull(tg_ad_mul(T, ct, ct));
    tg_tape_free(T);
    tg_tensor *all[] = {w, wt, row, rs, again, c, ct};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

/* tg_activate(TG_ACT_NONE) keeps the layout with or without a tape, so a
 * sum over it is the same bits either way. */
START_TEST(test_identity_activation_layout)
{
    tg_tensor *m = tg_from_array(F64, SH(2, 3), (const double[]){0.1, 0.2, 0.3, 0.4, 0.5, 0.6});
    tg_tensor *v = tg_transpose(m, 0, 1);
    tg_tensor *id = tg_activate(NULL, TG_ACT_NONE, v);
    ck_assert(tg_shares_storage(id, m));
    ck_assert_int_eq(tg_strides(id)[0], tg_strides(v)[0]);
    tg_tape *T = tg_tape_new();
    tg_tensor *s1 = tg_sum(id), *s2 = tg_ad_sum(T, tg_activate(T, TG_ACT_NONE, v));
    ck_assert(tgt_at(s1, 0) == tgt_at(s2, 0));
    tg_tape_free(T);
    tg_free(s1);
    tg_free(id);
    tg_free(v);
    tg_free(m);
}
END_TEST

Suite *test_reliability_suite(void); /* called by the generated runner */

Suite *test_reliability_suite(void)
{
    Suite *s = suite_create("reliability");
    TCase *tc = tgt_tcase("round2");
    tcase_add_loop_test(tc, test_derived_shape_overflow, 0,
                        (int)(sizeof big_ops / sizeof big_ops[0]));
    tcase_add_test(tc, test_ad_grad_aliased_arrays);
    tcase_add_test(tc, test_params_null_entry);
    tcase_add_test(tc, test_params_broadcast_view);
    tcase_add_test(tc, test_argmax_past_2_24);
    tcase_add_test(tc, test_cross_entropy_masked_logits);
    tcase_add_loop_test(tc, test_write_into_broadcast_view, 0,
                        (int)(sizeof writes / sizeof writes[0]));
    tcase_add_test(tc, test_write_into_stride0_size1);
    tcase_add_test(tc, test_gradcheck_empty_output);
    tcase_add_test(tc, test_rng_unseeded);
    tcase_add_test(tc, test_messages_name_the_caller);
    tcase_add_test(tc, test_npy_overflow_names_path);
    tcase_add_test(tc, test_enospc_names_the_cause);
    tcase_add_test(tc, test_dead_tape);
    tcase_add_test(tc, test_tape_stats_and_limit);
    tcase_add_test(tc, test_views_of_leaves);
    tcase_add_test(tc, test_identity_activation_layout);
    suite_add_tcase(s, tc);
    return s;
}
