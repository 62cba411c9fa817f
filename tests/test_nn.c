/* test_nn.c - models/nn.c: parameter lists and their save/load format, the
 * quadratic model, linear layers with and without a bias (values,
 * hand-derived gradients, init and its draws), activations, the MLP, the
 * losses (values against direct computation, gradients against (softmax -
 * onehot)/batch and finite differences, huge logits), accuracy, and every
 * error path. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/internal.h"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32

/* ---- helpers --------------------------------------------------------------- */

/* A caller-owned tensor of dtype dt holding the doubles v (C order). */
static tg_tensor *arr(tg_dtype dt, int nd, const int64_t *shape, const double *v)
{
    tg_tensor *t64 = tg_from_array(F64, nd, shape, v);
    ck_assert_ptr_nonnull(t64);
    if (dt == F64)
        return t64;
    tg_tensor *t = tg_cast(t64, dt);
    tg_free(t64);
    ck_assert_ptr_nonnull(t);
    return t;
}

static void assert_values(const tg_tensor *t, int64_t n, const double *want,
                          double tol)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        double g = tgt_at(t, i);
        ck_assert_msg(fabs(g - want[i]) <= tol, "element %lld: got %.17g, want %.17g",
                      (long long)i, g, want[i]);
    }
}

static double scalar_of(const tg_tensor *t)
{
    double v = (double)NAN;
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_item(t, &v), TG_OK);
    return v;
}

/* A linear layer with the given weight (out, in) and bias, float64. */
static void linear_with(tg_linear *l, int64_t in, int64_t out, const double *w,
                        const double *b)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    ck_assert_int_eq(tg_linear_init(l, in, out, F64, &rng), TG_OK);
    tg_tensor *wt = tg_from_array(F64, TG_SHAPE(out, in), w);
    tg_tensor *bt = tg_from_array(F64, TG_SHAPE(out), b);
    ck_assert_int_eq(tg_copy(l->weight, wt), TG_OK);
    ck_assert_int_eq(tg_copy(l->bias, bt), TG_OK);
    tg_free(wt);
    tg_free(bt);
}

/* A fresh temporary directory; remove with rm_saved. */
static void make_tmpdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/tg_test_nn_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

/* Removes dir/NAME.npy for each name, then dir. */
static void rm_saved(const char *dir, int n, const char *const *names)
{
    char path[600];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static bool same_bits(const tg_tensor *a, const tg_tensor *b)
{
    return tg_dtype_of(a) == tg_dtype_of(b) && tg_numel(a) == tg_numel(b) &&
           tg_is_contiguous(a) && tg_is_contiguous(b) &&
           memcmp(tg_data(a), tg_data(b),
                  (size_t)tg_numel(a) * tg_dtype_size(tg_dtype_of(a))) == 0;
}

/* ---- parameter lists --------------------------------------------------------------- */

START_TEST(test_params_add)
{
    tg_params ps = {0};
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(2));
    tg_tensor *b = tg_zeros(F32, TG_SHAPE(2, 3));
    ck_assert(!tg_requires_grad_of(a));
    ck_assert_int_eq(tg_params_add(&ps, "fc1.weight", a), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "Layer_2-b", b), TG_OK);
    ck_assert_int_eq(ps.count, 2);
    ck_assert_str_eq(ps.names[0], "fc1.weight");
    ck_assert_str_eq(ps.names[1], "Layer_2-b");
    ck_assert_ptr_eq(ps.tensors[1], b);
    ck_assert(tg_requires_grad_of(a) && tg_requires_grad_of(b));
    /* 47 characters is the longest name. */
    char longest[TG_PARAM_NAME_MAX];
    memset(longest, 'x', TG_PARAM_NAME_MAX - 1);
    longest[TG_PARAM_NAME_MAX - 1] = '\0';
    tg_tensor *c = tg_zeros(F64, TG_SHAPE(1));
    ck_assert_int_eq(tg_params_add(&ps, longest, c), TG_OK);
    ck_assert_str_eq(ps.names[2], longest);
    tg_free(a);
    tg_free(b);
    tg_free(c);
}
END_TEST

START_TEST(test_params_add_errors)
{
    tg_params ps = {0};
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(2));
    tg_tensor *b = tg_zeros(F64, TG_SHAPE(2));
    ck_assert_int_eq(tg_params_add(&ps, "a", a), TG_OK);

    ck_assert_int_eq(tg_params_add(&ps, "a b", b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_params_add: name \"a b\" has the character ' '");
    ck_assert_int_eq(tg_params_add(&ps, "../x", b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "character '/'");
    ck_assert_int_eq(tg_params_add(&ps, "caf\xc3\xa9", b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "the byte 0xc3");
    ck_assert_int_eq(tg_params_add(&ps, "", b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_params_add: name is empty");
    char toolong[TG_PARAM_NAME_MAX + 1];
    memset(toolong, 'y', TG_PARAM_NAME_MAX);
    toolong[TG_PARAM_NAME_MAX] = '\0';
    ck_assert_int_eq(tg_params_add(&ps, toolong, b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "has 48 characters; at most 47 are allowed");
    ck_assert_int_eq(tg_params_add(&ps, "a", b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "name \"a\" is already in the list");
    ck_assert_int_eq(tg_params_add(&ps, "again", a), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "the tensor for \"again\" is already in the list as \"a\"");
    ck_assert_int_eq(tg_params_add(NULL, "x", b), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_params_add: parameter list is NULL");
    ck_assert_int_eq(tg_params_add(&ps, NULL, b), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "name is NULL");
    ck_assert_int_eq(tg_params_add(&ps, "x", NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tensor is NULL");
    ck_assert_int_eq(ps.count, 1);
    ck_assert(!tg_requires_grad_of(b)); /* a refused tensor is not marked */

    /* Tensors made by a tape cannot be parameters. */
    tg_tape *T = tg_tape_new();
    tg_tensor *t = tg_ad_add_scalar(T, a, 1.0);
    ck_assert_int_eq(tg_params_add(&ps, "tmp", t), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "\"tmp\" belongs to a tape");
    tg_tape_free(T);

    ps.count = TG_MAX_PARAMS + 1;
    ck_assert_int_eq(tg_params_add(&ps, "x", b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "parameter list has count 65");
    tg_free(a);
    tg_free(b);
}
END_TEST

START_TEST(test_params_full)
{
    tg_params ps = {0};
    tg_tensor *ts[TG_MAX_PARAMS + 1];
    char name[16];
    for (int i = 0; i <= TG_MAX_PARAMS; i++)
        ts[i] = tg_zeros(F32, TG_SHAPE(1));
    for (int i = 0; i < TG_MAX_PARAMS; i++) {
        snprintf(name, sizeof name, "p%d", i);
        ck_assert_int_eq(tg_params_add(&ps, name, ts[i]), TG_OK);
    }
    ck_assert_int_eq(tg_params_add(&ps, "extra", ts[TG_MAX_PARAMS]), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "cannot add \"extra\": the list is full (64 parameters)");
    ck_assert_int_eq(ps.count, TG_MAX_PARAMS);

    /* A network whose parameters do not fit is refused as a whole. */
    tg_params small = {0};
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_mlp net;
    ck_assert_int_eq(tg_mlp_init(&net, 3, (const int64_t[]){2, 2, 2}, TG_ACT_RELU, F32, &rng),
                     TG_OK);
    for (int i = 0; i < TG_MAX_PARAMS - 3; i++) {
        snprintf(name, sizeof name, "q%d", i);
        ck_assert_int_eq(tg_params_add(&small, name, ts[i]), TG_OK);
    }
    ck_assert_int_eq(tg_mlp_params(&net, &small), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_mlp_params: 4 more parameters do not fit in a list holding 61 of 64");
    ck_assert_int_eq(small.count, TG_MAX_PARAMS - 3);
    tg_mlp_free(&net);
    for (int i = 0; i <= TG_MAX_PARAMS; i++)
        tg_free(ts[i]);
}
END_TEST

START_TEST(test_params_zero_grad)
{
    tg_params ps = {0};
    tg_tensor *a = arr(F64, TG_SHAPE(3), (const double[]){1, 2, 3});
    tg_tensor *b = arr(F32, TG_SHAPE(1), (const double[]){4});
    ck_assert_int_eq(tg_params_add(&ps, "a", a), TG_OK);
    ck_assert_int_eq(tg_params_add(&ps, "b", b), TG_OK);
    ck_assert_int_eq(tg_params_zero_grad(&ps), TG_OK); /* no gradients yet */
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, a, a))), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(a), 2), 6.0);
    ck_assert_ptr_null(tg_grad(b));
    ck_assert_int_eq(tg_params_zero_grad(&ps), TG_OK);
    assert_values(tg_grad(a), 3, (const double[]){0, 0, 0}, 0.0);
    ck_assert_int_eq(tg_params_zero_grad(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_params_zero_grad: parameter list is NULL");
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
}
END_TEST

/* ---- save and load ------------------------------------------------------------------ */

static const char *const saved_names[] = {"w32", "v64", "c.3-d_x"};

/* Three parameters of both dtypes with awkward values. */
static void make_saved_params(tg_params *ps, tg_tensor **t)
{
    tg_rng rng;
    tg_rng_seed(&rng, 42);
    t[0] = tg_randn(&rng, F32, TG_SHAPE(3, 4));
    t[1] = arr(F64, TG_SHAPE(6), (const double[]){-0.0, 4.9e-324, 1e300, 3.141592653589793, -1.0 / 3.0, 0.1});
    t[2] = tg_randn(&rng, F64, TG_SHAPE(2, 1, 3));
    memset(ps, 0, sizeof *ps);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tg_params_add(ps, saved_names[i], t[i]), TG_OK);
}

START_TEST(test_save_load_round_trip)
{
    char tmp[64], dir[128];
    make_tmpdir(tmp, sizeof tmp);
    snprintf(dir, sizeof dir, "%s/run/model", tmp); /* two levels to create */
    tg_params ps;
    tg_tensor *t[3], *orig[3];
    make_saved_params(&ps, t);
    for (int i = 0; i < 3; i++)
        orig[i] = tg_clone(t[i]);
    ck_assert_int_eq(tg_params_save(&ps, dir), TG_OK);
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0700, 0700);

    /* Each file is a plain .npy of the parameter. */
    char path[256];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, saved_names[i]);
        tg_tensor *u = tg_load_npy(path);
        ck_assert_msg(u != NULL, "%s", tg_last_message());
        ck_assert_int_eq(tg_ndim(u), tg_ndim(t[i]));
        ck_assert(same_bits(u, t[i]));
        tg_free(u);
    }

    /* Overwrite, load back: bit for bit (including -0.0 and the subnormal). */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tg_fill(t[i], 7.0), TG_OK);
    ck_assert_int_eq(tg_params_load(&ps, dir), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(same_bits(t[i], orig[i]), "parameter %d differs", i);
    ck_assert(signbit(tgt_at(t[1], 0)));

    /* Saving again over existing files works. */
    ck_assert_int_eq(tg_params_save(&ps, dir), TG_OK);
    rm_saved(dir, 3, saved_names);
    snprintf(path, sizeof path, "%s/run", tmp);
    rmdir(path);
    rmdir(tmp);
    for (int i = 0; i < 3; i++) {
        tg_free(t[i]);
        tg_free(orig[i]);
    }
}
END_TEST

START_TEST(test_load_is_all_or_nothing)
{
    char dir[64], path[256];
    make_tmpdir(dir, sizeof dir);
    tg_params ps;
    tg_tensor *t[3];
    make_saved_params(&ps, t);
    ck_assert_int_eq(tg_params_save(&ps, dir), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tg_fill(t[i], -2.0), TG_OK);

    /* A parameter with no file: an error naming it, nothing loaded. */
    tg_tensor *extra = tg_zeros(F64, TG_SHAPE(2));
    ck_assert_int_eq(tg_params_add(&ps, "extra", extra), TG_OK);
    ck_assert_int_eq(tg_params_load(&ps, dir), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_params_load: parameter \"extra\"");
    TGT_ASSERT_ERR(TG_ERR_IO, "extra.npy");
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(t[i], 0), -2.0);
    ps.count = 3;

    /* A shape that differs, on the last parameter: the first two untouched. */
    tg_tensor *wrong = tg_zeros(F64, TG_SHAPE(3, 2));
    ps.tensors[2] = wrong;
    ck_assert_int_eq(tg_params_load(&ps, dir), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "has shape (2,1,3) but parameter \"c.3-d_x\" has shape (3,2)");
    ck_assert_double_eq(tgt_at(t[0], 0), -2.0);
    ck_assert_double_eq(tgt_at(t[1], 5), -2.0);
    ck_assert_double_eq(tgt_at(wrong, 0), 0.0);

    /* A dtype that differs. */
    tg_tensor *wrong32 = tg_zeros(F32, TG_SHAPE(2, 1, 3));
    ps.tensors[2] = wrong32;
    ck_assert_int_eq(tg_params_load(&ps, dir), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "holds float64 but parameter \"c.3-d_x\" is float32");
    ck_assert_double_eq(tgt_at(t[0], 0), -2.0);

    /* A corrupt file. */
    ps.tensors[2] = t[2];
    snprintf(path, sizeof path, "%s/v64.npy", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("not a numpy file", f);
    fclose(f);
    ck_assert_int_eq(tg_params_load(&ps, dir), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "tg_params_load: parameter \"v64\"");
    ck_assert_double_eq(tgt_at(t[0], 0), -2.0);

    /* A missing directory. */
    snprintf(path, sizeof path, "%s/nowhere", dir);
    ck_assert_int_eq(tg_params_load(&ps, path), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_params_load: cannot open directory");
    TGT_ASSERT_ERR(TG_ERR_IO, "nowhere");
    ck_assert_int_eq(tg_params_load(&ps, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_params_load: directory is NULL");
    ck_assert_int_eq(tg_params_load(NULL, dir), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "parameter list is NULL");

    rm_saved(dir, 3, saved_names);
    for (int i = 0; i < 3; i++)
        tg_free(t[i]);
    tg_free(extra);
    tg_free(wrong);
    tg_free(wrong32);
}
END_TEST

START_TEST(test_save_errors)
{
    char dir[64], path[256];
    make_tmpdir(dir, sizeof dir);
    tg_params ps = {0};
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(2));
    ck_assert_int_eq(tg_params_add(&ps, "a", a), TG_OK);
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(tg_params_save(&ps, path), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "exists and is not a directory");
    ck_assert_int_eq(tg_params_load(&ps, path), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "is not a directory");
    snprintf(path, sizeof path, "%s/file/sub", dir);
    ck_assert_int_eq(tg_params_save(&ps, path), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_params_save: cannot create directory");
    TGT_ASSERT_ERR(TG_ERR_IO, "/file/sub");
    ck_assert_int_eq(tg_params_save(&ps, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_params_save: directory is NULL");
    ck_assert_int_eq(tg_params_save(&ps, ""), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "directory is empty");
    ck_assert_int_eq(tg_params_save(NULL, dir), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_params_save: parameter list is NULL");
    snprintf(path, sizeof path, "%s/file", dir);
    unlink(path);
    rmdir(dir);
    tg_free(a);
}
END_TEST

/* ---- the quadratic model ------------------------------------------------------------------ */

START_TEST(test_quadratic)
{
    tg_quadratic m;
    ck_assert_int_eq(tg_quadratic_init(&m, F64, 3.0, 2.0), TG_OK);
    ck_assert(tg_requires_grad_of(m.w) && tg_requires_grad_of(m.b));
    tgt_assert_shape(m.w, 1, (const int64_t[]){1});
    double xv[] = {-1.0, 0.5, 2.0}, yv[] = {1.0, 1.0, 20.0};
    tg_tensor *x = arr(F64, TG_SHAPE(3), xv);
    tg_tensor *y = arr(F64, TG_SHAPE(3), yv);
    tg_tape *T = tg_tape_new();
    tg_tensor *pred = tg_quadratic_forward(T, &m, x);
    assert_values(pred, 3, (const double[]){5.0, 2.75, 14.0}, 0.0);
    tg_tensor *loss = tg_loss_half_sse(T, pred, y);
    /* 0.5 (16 + 3.0625 + 36) */
    ck_assert_double_eq(scalar_of(loss), 27.53125);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    /* dL/dw = sum (pred - y) x^2, dL/db = sum (pred - y). */
    double dw = 0, db = 0;
    double pv[] = {5.0, 2.75, 14.0};
    for (int i = 0; i < 3; i++) {
        dw += (pv[i] - yv[i]) * xv[i] * xv[i];
        db += pv[i] - yv[i];
    }
    ck_assert_double_eq_tol(tgt_at(tg_grad(m.w), 0), dw, 1e-12);
    ck_assert_double_eq_tol(tgt_at(tg_grad(m.b), 0), db, 1e-12);
    ck_assert_double_eq(db, -0.25); /* 4 + 1.75 - 6 */

    /* Without a tape the result is the caller's and nothing else is kept. */
    tg_tensor *p2 = tg_quadratic_forward(NULL, &m, x);
    assert_values(p2, 3, (const double[]){5.0, 2.75, 14.0}, 0.0);
    tg_free(p2);

    tg_params ps = {0};
    ck_assert_int_eq(tg_quadratic_params(&m, &ps), TG_OK);
    ck_assert_int_eq(ps.count, 2);
    ck_assert_str_eq(ps.names[0], "w");
    ck_assert_ptr_eq(ps.tensors[1], m.b);
    tg_tape_free(T);
    tg_quadratic_free(&m);
    ck_assert_ptr_null(m.w);
    tg_quadratic_free(&m);
    tg_quadratic_free(NULL);
    tg_free(x);
    tg_free(y);
}
END_TEST

START_TEST(test_quadratic_errors)
{
    tg_quadratic m;
    ck_assert_int_eq(tg_quadratic_init(NULL, F64, 1, 1), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_quadratic_init: model is NULL");
    ck_assert_int_eq(tg_quadratic_init(&m, (tg_dtype)7, 1, 1), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "unknown dtype 7");
    ck_assert_ptr_null(m.w);
    tg_tensor *x = tg_zeros(F64, TG_SHAPE(2));
    ck_assert_ptr_null(tg_quadratic_forward(NULL, &m, x));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_quadratic_forward: model is not initialised");
    ck_assert_ptr_null(tg_quadratic_forward(NULL, NULL, x));
    TGT_ASSERT_ERR(TG_ERR_NULL, "model is NULL");
    tg_params ps = {0};
    ck_assert_int_eq(tg_quadratic_params(&m, &ps), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_quadratic_params: model is not initialised");
    ck_assert_int_eq(tg_quadratic_init(&m, F32, 1, 1), TG_OK);
    tg_clear_error();
    ck_assert_ptr_null(tg_quadratic_forward(NULL, &m, NULL));
    ck_assert_int_eq(tg_last_error(), TG_OK); /* NULL input: no new error */
    tg_tensor *y = tg_quadratic_forward(NULL, &m, x); /* float64 x, float32 model */
    ck_assert_int_eq(tg_dtype_of(y), F64); /* promoted, as in PyTorch */
    tg_free(y);
    tg_quadratic_free(&m);
    tg_free(x);
}
END_TEST

/* ---- the linear layer ------------------------------------------------------------------------ */

START_TEST(test_linear_init_bounds_and_draw_order)
{
    tg_rng rng, ref;
    tg_linear l;
    tg_rng_seed(&rng, 7);
    ck_assert_int_eq(tg_linear_init(&l, 4, 3, F64, &rng), TG_OK);
    ck_assert_int_eq(l.in, 4);
    ck_assert_int_eq(l.out, 3);
    tgt_assert_shape(l.weight, 2, (const int64_t[]){3, 4});
    tgt_assert_shape(l.bias, 1, (const int64_t[]){3});
    ck_assert(tg_requires_grad_of(l.weight) && tg_requires_grad_of(l.bias));
    /* Draw order: the weight in C order, then the bias, each
     * uniform(-1/sqrt(in), 1/sqrt(in)) from the same stream. */
    tg_rng_seed(&ref, 7);
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq(tgt_at(l.weight, i), tg_rng_uniform(&ref, -0.5, 0.5));
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(l.bias, i), tg_rng_uniform(&ref, -0.5, 0.5));
    ck_assert_uint_eq(tg_rng_uint32(&rng), tg_rng_uint32(&ref)); /* nothing more drawn */
    tg_linear_free(&l);

    /* A wide layer: every value within 1/sqrt(in) and the range is used. */
    tg_rng_seed(&rng, 3);
    ck_assert_int_eq(tg_linear_init(&l, 10000, 8, F32, &rng), TG_OK);
    double bound = 0.01, lo = 1, hi = -1;
    const float *w = tg_data(l.weight);
    for (int64_t i = 0; i < tg_numel(l.weight); i++) {
        ck_assert((double)w[i] >= -bound && (double)w[i] <= bound);
        lo = fmin(lo, (double)w[i]);
        hi = fmax(hi, (double)w[i]);
    }
    ck_assert(lo < -0.0099 && hi > 0.0099);
    for (int i = 0; i < 8; i++)
        ck_assert(fabs(tgt_at(l.bias, i)) <= bound);

    /* The same seed gives the same layer, bit for bit; another seed not. */
    tg_linear l2, l3;
    tg_rng_seed(&rng, 3);
    ck_assert_int_eq(tg_linear_init(&l2, 10000, 8, F32, &rng), TG_OK);
    ck_assert(same_bits(l.weight, l2.weight) && same_bits(l.bias, l2.bias));
    tg_rng_seed(&rng, 4);
    ck_assert_int_eq(tg_linear_init(&l3, 10000, 8, F32, &rng), TG_OK);
    ck_assert(!same_bits(l.weight, l3.weight));
    tg_linear_free(&l);
    tg_linear_free(&l2);
    tg_linear_free(&l3);
}
END_TEST

START_TEST(test_linear_forward_values)
{
    tg_linear l;
    linear_with(&l, 3, 2, (const double[]){1, 2, 3, 4, 5, 6}, (const double[]){0.5, -1});
    tg_tensor *x = arr(F64, TG_SHAPE(2, 3), (const double[]){1, 0, -1, 2, 1, 0});
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_linear_forward(T, &l, x);
    tgt_assert_shape(y, 2, (const int64_t[]){2, 2});
    assert_values(y, 4, (const double[]){-1.5, -3.0, 4.5, 12.0}, 0.0);
    /* 1-D input. */
    tg_tensor *x1 = arr(F64, TG_SHAPE(3), (const double[]){2, 1, 0});
    tg_tensor *y1 = tg_linear_forward(T, &l, x1);
    tgt_assert_shape(y1, 1, (const int64_t[]){2});
    assert_values(y1, 2, (const double[]){4.5, 12.0}, 0.0);
    /* No tape: a caller-owned result, no intermediates left behind. */
    tg_tensor *y2 = tg_linear_forward(NULL, &l, x);
    assert_values(y2, 4, (const double[]){-1.5, -3.0, 4.5, 12.0}, 0.0);
    tg_free(y2);
    tg_tape_free(T);
    tg_linear_free(&l);
    tg_free(x);
    tg_free(x1);
}
END_TEST

START_TEST(test_linear_backward_by_hand)
{
    /* y = x W^T + b with seed dy: dW = dy^T x, db = sum_i dy[i], dx = dy W. */
    enum { B = 4, IN = 3, OUT = 2 };
    double w[OUT * IN] = {1, -2, 3, 0.5, 4, -1};
    double b[OUT] = {0.25, -0.75};
    double xv[B * IN] = {1, 2, 3, -1, 0, 2, 0.5, -0.5, 1, 3, 1, -2};
    double dyv[B * OUT] = {1, -1, 2, 0.5, -3, 1, 0.25, 4};
    tg_linear l;
    linear_with(&l, IN, OUT, w, b);
    tg_tensor *x = arr(F64, TG_SHAPE(B, IN), xv);
    tg_tensor *dy = arr(F64, TG_SHAPE(B, OUT), dyv);
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_linear_forward(T, &l, x);
    ck_assert_int_eq(tg_backward_seed(T, y, dy), TG_OK);

    double dw[OUT * IN] = {0}, db[OUT] = {0}, dx[B * IN] = {0};
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OUT; o++) {
            db[o] += dyv[i * OUT + o];
            for (int k = 0; k < IN; k++) {
                dw[o * IN + k] += dyv[i * OUT + o] * xv[i * IN + k];
                dx[i * IN + k] += dyv[i * OUT + o] * w[o * IN + k];
            }
        }
    tgt_assert_shape(tg_grad(l.weight), 2, (const int64_t[]){OUT, IN});
    assert_values(tg_grad(l.weight), OUT * IN, dw, 1e-14);
    assert_values(tg_grad(l.bias), OUT, db, 1e-14);
    assert_values(tg_grad(x), B * IN, dx, 1e-14);
    ck_assert_double_eq(db[1], 4.5); /* -1 + 0.5 + 1 + 4 */

    /* 1-D: dW = outer(dy, x), db = dy, dx = dy W. */
    tg_tape_reset(T);
    tg_zero_grad(l.weight);
    tg_zero_grad(l.bias);
    tg_tensor *x1 = arr(F64, TG_SHAPE(IN), xv);
    tg_tensor *dy1 = arr(F64, TG_SHAPE(OUT), dyv);
    ck_assert_int_eq(tg_requires_grad(x1, true), TG_OK);
    ck_assert_int_eq(tg_backward_seed(T, tg_linear_forward(T, &l, x1), dy1), TG_OK);
    for (int o = 0; o < OUT; o++) {
        ck_assert_double_eq(tgt_at(tg_grad(l.bias), o), dyv[o]);
        for (int k = 0; k < IN; k++)
            ck_assert_double_eq(tgt_at(tg_grad(l.weight), o * IN + k), dyv[o] * xv[k]);
    }
    for (int k = 0; k < IN; k++)
        ck_assert_double_eq(tgt_at(tg_grad(x1), k), dyv[0] * w[k] + dyv[1] * w[IN + k]);
    tg_tape_free(T);
    tg_linear_free(&l);
    tg_free(x);
    tg_free(dy);
    tg_free(x1);
    tg_free(dy1);
}
END_TEST

/* tanh(x W^T + b) for the finite-difference check (which reduces it with
 * fixed weights). */
static tg_tensor *linear_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    tg_linear l = {.in = tg_shape(in[1])[1], .out = tg_shape(in[1])[0],
                   .weight = in[1], .bias = in[2]};
    return tg_activate(T, TG_ACT_TANH, tg_linear_forward(T, &l, in[0]));
}

START_TEST(test_linear_gradcheck)
{
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    tg_tensor *in[3] = {tg_randn(&rng, F64, TG_SHAPE(5, 4)),
                        tg_randn(&rng, F64, TG_SHAPE(3, 4)),
                        tg_randn(&rng, F64, TG_SHAPE(3))};
    for (int i = 0; i < 3; i++)
        tg_requires_grad(in[i], true);
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(linear_fn, NULL, 3, in, 1e-6, 1e-8, 1e-6, &rep), TG_OK);
    ck_assert_msg(rep.ok, "worst ratio %g at input %d", rep.worst_ratio, rep.input);
    ck_assert_int_eq(rep.checked, 20 + 12 + 3);
    for (int i = 0; i < 3; i++)
        tg_free(in[i]);
}
END_TEST

START_TEST(test_linear_errors)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_linear l;
    ck_assert_int_eq(tg_linear_init(NULL, 3, 2, F64, &rng), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_linear_init: layer is NULL");
    ck_assert_int_eq(tg_linear_init(&l, 3, 2, F64, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "rng is NULL");
    ck_assert_int_eq(tg_linear_init(&l, 0, 2, F64, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "sizes in = 0 and out = 2 must be positive");
    ck_assert_int_eq(tg_linear_init(&l, 3, 2, (tg_dtype)50, &rng), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "unknown dtype 50");
    ck_assert_int_eq(tg_linear_init(&l, 3, 2, TG_INT32, &rng), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_linear_init: dtype is int32; this op needs a float dtype");
    ck_assert_ptr_null(l.weight);
    tg_tensor *x = tg_zeros(F64, TG_SHAPE(2, 4));
    ck_assert_ptr_null(tg_linear_forward(NULL, &l, x));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_linear_forward: layer is not initialised");
    ck_assert_ptr_null(tg_linear_forward(NULL, NULL, x));
    TGT_ASSERT_ERR(TG_ERR_NULL, "layer is NULL");

    ck_assert_int_eq(tg_linear_init(&l, 3, 2, F64, &rng), TG_OK);
    ck_assert_ptr_null(tg_linear_forward(NULL, &l, x));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_linear_forward: x has shape (2,4); expected (batch, 3) or (3,)");
    tg_tensor *s = tg_scalar(F64, 1.0);
    ck_assert_ptr_null(tg_linear_forward(NULL, &l, s));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "x has shape ()");
    tg_tensor *x32 = tg_zeros(F32, TG_SHAPE(2, 3));
    ck_assert_ptr_null(tg_linear_forward(NULL, &l, x32));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "x is float32 but the layer is float64");
    tg_clear_error();
    ck_assert_ptr_null(tg_linear_forward(NULL, &l, NULL));
    ck_assert_int_eq(tg_last_error(), TG_OK);

    /* Parameter names, and a failed add leaves the list as it was. */
    tg_params ps = {0};
    ck_assert_int_eq(tg_linear_params(&l, "enc", &ps), TG_OK);
    ck_assert_str_eq(ps.names[0], "enc.weight");
    ck_assert_str_eq(ps.names[1], "enc.bias");
    tg_params ps2 = {0};
    ck_assert_int_eq(tg_params_add(&ps2, "dec.bias", x), TG_OK);
    ck_assert_int_eq(tg_linear_params(&l, "dec", &ps2), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "name \"dec.bias\" is already in the list");
    ck_assert_int_eq(ps2.count, 1);
    ck_assert_int_eq(tg_linear_params(&l, "a layer", &ps2), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "character ' '");
    ck_assert_int_eq(tg_linear_params(&l, "a_very_long_prefix_that_does_not_fit_at_all", &ps2),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_linear_params: prefix \"a_very_long");
    ck_assert_int_eq(tg_linear_params(&l, NULL, &ps2), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_linear_params: prefix is NULL");
    ck_assert_int_eq(ps2.count, 1);
    tg_linear_free(&l);
    tg_linear_free(&l);
    tg_linear_free(NULL);
    tg_free(x);
    tg_free(s);
    tg_free(x32);
}
END_TEST

/* torch.nn.Linear(in, out, bias=False): tg_linear_init_ex with bias false. */
START_TEST(test_linear_without_bias_init)
{
    /* The weight is the biased layer's, drawn from the same state; only the
     * bias's draws are missing after it. */
    tg_rng rng, ref;
    tg_linear nb, wb;
    tg_rng_seed(&rng, 7);
    ck_assert_int_eq(tg_linear_init_ex(&nb, 4, 3, false, F64, &rng), TG_OK);
    ck_assert_int_eq(nb.in, 4);
    ck_assert_int_eq(nb.out, 3);
    tgt_assert_shape(nb.weight, 2, (const int64_t[]){3, 4});
    ck_assert_ptr_null(nb.bias);
    ck_assert(tg_requires_grad_of(nb.weight));
    tg_rng_seed(&ref, 7);
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq(tgt_at(nb.weight, i), tg_rng_uniform(&ref, -0.5, 0.5));
    ck_assert_uint_eq(tg_rng_uint32(&rng), tg_rng_uint32(&ref)); /* the 12 draws, no more */
    tg_rng_seed(&rng, 7);
    ck_assert_int_eq(tg_linear_init(&wb, 4, 3, F64, &rng), TG_OK);
    ck_assert(same_bits(nb.weight, wb.weight));
    tg_linear_free(&wb);
    /* bias true is tg_linear_init, draw for draw. */
    tg_rng_seed(&rng, 7);
    tg_rng_seed(&ref, 7);
    ck_assert_int_eq(tg_linear_init_ex(&wb, 4, 3, true, F64, &rng), TG_OK);
    tg_linear w2;
    ck_assert_int_eq(tg_linear_init(&w2, 4, 3, F64, &ref), TG_OK);
    ck_assert(same_bits(wb.weight, w2.weight) && same_bits(wb.bias, w2.bias));
    ck_assert_uint_eq(tg_rng_uint32(&rng), tg_rng_uint32(&ref));
    tg_linear_free(&wb);
    tg_linear_free(&w2);

    /* float32: the same draws rounded. */
    tg_linear n32;
    tg_rng_seed(&rng, 7);
    ck_assert_int_eq(tg_linear_init_ex(&n32, 4, 3, false, F32, &rng), TG_OK);
    ck_assert_ptr_null(n32.bias);
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq(tgt_at(n32.weight, i), (double)(float)tgt_at(nb.weight, i));
    tg_linear_free(&n32);

    /* Parameters: the weight alone. */
    tg_params ps = {0};
    ck_assert_int_eq(tg_linear_params(&nb, "head", &ps), TG_OK);
    ck_assert_int_eq(ps.count, 1);
    ck_assert_str_eq(ps.names[0], "head.weight");
    ck_assert_ptr_eq(ps.tensors[0], nb.weight);
    /* a name already taken: refused, the list as it was */
    ck_assert_int_eq(tg_linear_params(&nb, "head", &ps), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "name \"head.weight\" is already in the list");
    ck_assert_int_eq(ps.count, 1);
    tg_linear_free(&nb);
    ck_assert_ptr_null(nb.weight);
    tg_linear_free(&nb);

    /* Bad input: the same checks and messages as tg_linear_init, the layer
     * left empty. */
    ck_assert_int_eq(tg_linear_init_ex(NULL, 3, 2, false, F64, &rng), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_linear_init: layer is NULL");
    ck_assert_int_eq(tg_linear_init_ex(&nb, 3, 2, false, F64, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_linear_init: rng is NULL");
    ck_assert_int_eq(tg_linear_init_ex(&nb, 3, 0, false, F64, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "sizes in = 3 and out = 0 must be positive");
    ck_assert_int_eq(tg_linear_init_ex(&nb, 3, 2, false, TG_INT64, &rng), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "dtype is int64; this op needs a float dtype");
    ck_assert_int_eq(tg_linear_init_ex(&nb, 1LL << 40, 1LL << 40, false, F64, &rng),
                     TG_ERR_OVERFLOW);
    ck_assert(!nb.weight && !nb.bias && nb.in == 0 && nb.out == 0);
}
END_TEST

START_TEST(test_linear_without_bias_forward_backward)
{
    /* y = x W^T; with seed dy: dW = dy^T x, dx = dy W (no bias gradient). */
    enum { B = 4, IN = 3, OUT = 2 };
    double w[OUT * IN] = {1, -2, 3, 0.5, 4, -1};
    double xv[B * IN] = {1, 2, 3, -1, 0, 2, 0.5, -0.5, 1, 3, 1, -2};
    double dyv[B * OUT] = {1, -1, 2, 0.5, -3, 1, 0.25, 4};
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_linear l;
    ck_assert_int_eq(tg_linear_init_ex(&l, IN, OUT, false, F64, &rng), TG_OK);
    tg_tensor *wt = tg_from_array(F64, TG_SHAPE(OUT, IN), w);
    ck_assert_int_eq(tg_copy(l.weight, wt), TG_OK);
    tg_free(wt);
    tg_tensor *x = arr(F64, TG_SHAPE(B, IN), xv);
    tg_tensor *dy = arr(F64, TG_SHAPE(B, OUT), dyv);
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);

    double y[B * OUT] = {0}, dw[OUT * IN] = {0}, dx[B * IN] = {0};
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OUT; o++)
            for (int k = 0; k < IN; k++) {
                y[i * OUT + o] += xv[i * IN + k] * w[o * IN + k];
                dw[o * IN + k] += dyv[i * OUT + o] * xv[i * IN + k];
                dx[i * IN + k] += dyv[i * OUT + o] * w[o * IN + k];
            }
    ck_assert_double_eq(y[0], 6.0); /* 1 - 4 + 9 */

    tg_tape *T = tg_tape_new();
    tg_tensor *out = tg_linear_forward(T, &l, x);
    tgt_assert_shape(out, 2, (const int64_t[]){B, OUT});
    assert_values(out, B * OUT, y, 0.0);
    ck_assert_int_eq(tg_backward_seed(T, out, dy), TG_OK);
    assert_values(tg_grad(l.weight), OUT * IN, dw, 1e-14);
    assert_values(tg_grad(x), B * IN, dx, 1e-14);

    /* 1-D input: (in,) -> (out,). */
    tg_tensor *x1 = arr(F64, TG_SHAPE(IN), xv);
    tg_tensor *y1 = tg_linear_forward(T, &l, x1);
    tgt_assert_shape(y1, 1, (const int64_t[]){OUT});
    assert_values(y1, OUT, y, 0.0);
    /* No tape: a caller-owned result, nothing left behind (the fixture
     * counts blocks). */
    tg_tensor *y2 = tg_linear_forward(NULL, &l, x);
    assert_values(y2, B * OUT, y, 0.0);
    tg_free(y2);
    /* A biased layer with a zero bias computes the same values. */
    tg_linear zb;
    ck_assert_int_eq(tg_linear_init(&zb, IN, OUT, F64, &rng), TG_OK);
    ck_assert_int_eq(tg_copy(zb.weight, l.weight), TG_OK);
    ck_assert_int_eq(tg_fill(zb.bias, 0.0), TG_OK);
    tg_tensor *y3 = tg_linear_forward(T, &zb, x);
    for (int i = 0; i < B * OUT; i++)
        TGT_ASSERT_SAME(tgt_at(y3, i), y[i]);
    /* The shape and dtype checks are the biased layer's. */
    tg_tensor *x32 = tg_zeros(F32, TG_SHAPE(2, IN));
    ck_assert_ptr_null(tg_linear_forward(T, &l, x32));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "x is float32 but the layer is float64");
    ck_assert_ptr_null(tg_linear_forward(T, &l, dy));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_linear_forward: x has shape (4,2); expected (batch, 3)");
    tg_tape_free(T);
    tg_linear_free(&l);
    tg_linear_free(&zb);
    tg_free(x);
    tg_free(x1);
    tg_free(dy);
    tg_free(x32);
}
END_TEST

/* tanh(x W^T) for the finite-difference check. */
static tg_tensor *linear_nobias_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    tg_linear l = {.in = tg_shape(in[1])[1], .out = tg_shape(in[1])[0], .weight = in[1]};
    return tg_activate(T, TG_ACT_TANH, tg_linear_forward(T, &l, in[0]));
}

START_TEST(test_linear_without_bias_gradcheck)
{
    tg_rng rng;
    tg_rng_seed(&rng, 12);
    tg_tensor *in[2] = {tg_randn(&rng, F64, TG_SHAPE(5, 4)),
                        tg_randn(&rng, F64, TG_SHAPE(3, 4))};
    for (int i = 0; i < 2; i++)
        tg_requires_grad(in[i], true);
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(linear_nobias_fn, NULL, 2, in, 1e-6, 1e-8, 1e-6, &rep),
                     TG_OK);
    ck_assert_msg(rep.ok, "worst ratio %g at input %d", rep.worst_ratio, rep.input);
    ck_assert_int_eq(rep.checked, 20 + 12);
    for (int i = 0; i < 2; i++)
        tg_free(in[i]);
}
END_TEST

/* ---- activations and the MLP ------------------------------------------------------------- */

START_TEST(test_activations)
{
    tg_tensor *x = arr(F64, TG_SHAPE(3), (const double[]){-1.0, 0.0, 2.0});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    assert_values(tg_activate(T, TG_ACT_RELU, x), 3, (const double[]){0, 0, 2}, 0.0);
    assert_values(tg_activate(T, TG_ACT_TANH, x), 3,
                  (const double[]){tanh(-1.0), 0.0, tanh(2.0)}, 1e-15);
    assert_values(tg_activate(T, TG_ACT_SIGMOID, x), 3,
                  (const double[]){1 / (1 + exp(1.0)), 0.5, 1 / (1 + exp(-2.0))}, 1e-15);
    ck_assert_ptr_eq(tg_activate(T, TG_ACT_NONE, x), x);
    /* d relu / dx = 1 where x > 0. */
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_activate(T, TG_ACT_RELU, x))), TG_OK);
    assert_values(tg_grad(x), 3, (const double[]){0, 0, 1}, 0.0);
    /* Without a tape, NONE is a caller-owned copy. */
    tg_tensor *c = tg_activate(NULL, TG_ACT_NONE, x);
    ck_assert_ptr_ne(c, x);
    assert_values(c, 3, (const double[]){-1, 0, 2}, 0.0);
    tg_free(c);
    ck_assert_ptr_null(tg_activate(T, (tg_activation)42, x));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_activate: unknown activation 42");
    tg_clear_error();
    ck_assert_ptr_null(tg_activate(T, TG_ACT_NONE, NULL));
    ck_assert_ptr_null(tg_activate(T, TG_ACT_RELU, NULL));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

START_TEST(test_mlp)
{
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_mlp net;
    ck_assert_int_eq(tg_mlp_init(&net, 4, (const int64_t[]){5, 4, 3, 2}, TG_ACT_RELU, F64, &rng),
                     TG_OK);
    ck_assert_int_eq(net.nlayers, 3);
    tg_params ps = {0};
    ck_assert_int_eq(tg_mlp_params(&net, &ps), TG_OK);
    const char *names[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                           "fc3.weight", "fc3.bias"};
    const int64_t shapes[][2] = {{4, 5}, {4, 0}, {3, 4}, {3, 0}, {2, 3}, {2, 0}};
    ck_assert_int_eq(ps.count, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_str_eq(ps.names[i], names[i]);
        tgt_assert_shape(ps.tensors[i], i % 2 ? 1 : 2, shapes[i]);
    }
    /* The same draws as three linear layers made one after another. */
    tg_rng_seed(&rng, 5);
    tg_linear l1;
    ck_assert_int_eq(tg_linear_init(&l1, 5, 4, F64, &rng), TG_OK);
    ck_assert(same_bits(l1.weight, net.layers[0].weight));
    tg_linear_free(&l1);

    tg_tensor *x = tg_randn(&rng, F64, TG_SHAPE(6, 5));
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_mlp_forward(T, &net, x);
    tgt_assert_shape(y, 2, (const int64_t[]){6, 2});
    /* fc3(relu(fc2(relu(fc1(x))))) by hand with tensor ops. */
    tg_tensor *h = tg_clone(x);
    for (int i = 0; i < 3; i++) {
        tg_tensor *wt = tg_transpose(net.layers[i].weight, 0, 1);
        tg_tensor *mm = tg_matmul(h, wt);
        tg_tensor *z = tg_add(mm, net.layers[i].bias);
        tg_free(h);
        tg_free(wt);
        tg_free(mm);
        h = i < 2 ? tg_relu(z) : tg_clone(z);
        tg_free(z);
    }
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq_tol(tgt_at(y, i), tgt_at(h, i), 1e-14);
    /* Without a tape: the same values, no intermediates left. */
    tg_tensor *y2 = tg_mlp_forward(NULL, &net, x);
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq(tgt_at(y2, i), tgt_at(y, i));
    tg_free(y2);
    /* Backward reaches every parameter. */
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    for (int i = 0; i < 6; i++)
        ck_assert_ptr_nonnull(tg_grad(ps.tensors[i]));
    tg_free(h);
    tg_tape_free(T);
    tg_mlp_free(&net);
    ck_assert_int_eq(net.nlayers, 0);
    tg_mlp_free(&net);
    tg_mlp_free(NULL);
    tg_free(x);
}
END_TEST

START_TEST(test_mlp_errors)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_mlp net;
    const int64_t sizes[] = {3, 0, 2};
    ck_assert_int_eq(tg_mlp_init(NULL, 3, sizes, TG_ACT_RELU, F64, &rng), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_mlp_init: network is NULL");
    ck_assert_int_eq(tg_mlp_init(&net, 3, NULL, TG_ACT_RELU, F64, &rng), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "sizes is NULL");
    ck_assert_int_eq(tg_mlp_init(&net, 3, sizes, TG_ACT_RELU, F64, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "rng is NULL");
    ck_assert_int_eq(tg_mlp_init(&net, 1, sizes, TG_ACT_RELU, F64, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "1 sizes give 0 layers; between 1 and 16 are allowed");
    ck_assert_int_eq(tg_mlp_init(&net, 18, sizes, TG_ACT_RELU, F64, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "18 sizes give 17 layers");
    ck_assert_int_eq(tg_mlp_init(&net, 3, sizes, TG_ACT_RELU, F64, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "sizes[1] is 0; sizes must be positive");
    const int64_t good[] = {3, 2};
    ck_assert_int_eq(tg_mlp_init(&net, 2, good, (tg_activation)9, F64, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "unknown activation 9");
    ck_assert_int_eq(tg_mlp_init(&net, 2, good, TG_ACT_TANH, (tg_dtype)30, &rng), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_linear_init: unknown dtype 30");
    ck_assert_int_eq(net.nlayers, 0);
    tg_mlp_free(&net); /* a failed init leaves a struct free accepts */
    tg_tensor *x = tg_zeros(F64, TG_SHAPE(1, 3));
    ck_assert_ptr_null(tg_mlp_forward(NULL, &net, x));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_mlp_forward: network is not initialised");
    ck_assert_ptr_null(tg_mlp_forward(NULL, NULL, x));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_mlp_forward: network is NULL");
    tg_params ps = {0};
    ck_assert_int_eq(tg_mlp_params(&net, &ps), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_mlp_params: network is not initialised");

    /* A wrong-sized input fails inside the first layer, nothing leaks. */
    ck_assert_int_eq(tg_mlp_init(&net, 3, (const int64_t[]){4, 3, 2}, TG_ACT_SIGMOID, F64, &rng),
                     TG_OK);
    ck_assert_ptr_null(tg_mlp_forward(NULL, &net, x));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_linear_forward: x has shape (1,3)");
    tg_tensor *x2 = tg_zeros(F64, TG_SHAPE(2, 4));
    tg_tensor *y = tg_mlp_forward(NULL, &net, x2);
    tgt_assert_shape(y, 2, (const int64_t[]){2, 2});
    tg_free(y);
    tg_mlp_free(&net);

    /* Every allocation of init may fail: NOMEM and nothing kept. */
    int failures = 0;
    for (long k = 1;; k++) {
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        long live = tgt_stats.live_blocks;
        int rc = tg_mlp_init(&net, 4, (const int64_t[]){4, 3, 3, 2}, TG_ACT_RELU, F32, &rng);
        tgt_stats.fail_at = 0;
        if (rc == TG_OK)
            break;
        failures++;
        ck_assert_int_eq(rc, TG_ERR_NOMEM);
        ck_assert_int_eq(net.nlayers, 0);
        ck_assert_ptr_null(net.layers[0].weight);
        ck_assert_int_eq(tgt_stats.live_blocks, live);
    }
    ck_assert_int_ge(failures, 6);
    tg_mlp_free(&net);
    tg_free(x);
    tg_free(x2);
}
END_TEST

/* ---- losses ------------------------------------------------------------------------------- */

START_TEST(test_squared_losses)
{
    tg_tensor *pred = arr(F64, TG_SHAPE(3), (const double[]){1, 2, 3});
    tg_tensor *target = arr(F64, TG_SHAPE(3), (const double[]){0, 2, 5});
    tg_requires_grad(pred, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *l = tg_loss_half_sse(T, pred, target);
    ck_assert_int_eq(tg_ndim(l), 0);
    ck_assert_double_eq(scalar_of(l), 2.5);
    ck_assert_int_eq(tg_backward(T, l), TG_OK);
    assert_values(tg_grad(pred), 3, (const double[]){1, 0, -2}, 0.0); /* pred - target */
    tg_zero_grad(pred);
    tg_tape_reset(T);
    l = tg_loss_mse(T, pred, target);
    ck_assert_double_eq_tol(scalar_of(l), 5.0 / 3.0, 1e-15);
    ck_assert_int_eq(tg_backward(T, l), TG_OK);
    assert_values(tg_grad(pred), 3, (const double[]){2.0 / 3, 0, -4.0 / 3}, 1e-15);
    /* No tape. */
    tg_tensor *l2 = tg_loss_mse(NULL, pred, target);
    ck_assert_double_eq_tol(scalar_of(l2), 5.0 / 3.0, 1e-15);
    tg_free(l2);
    l2 = tg_loss_half_sse(NULL, pred, target);
    ck_assert_double_eq(scalar_of(l2), 2.5);
    tg_free(l2);

    tg_tensor *col = tg_zeros(F64, TG_SHAPE(3, 1));
    ck_assert_ptr_null(tg_loss_mse(T, pred, col));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_loss_mse: pred (3,) and target (3,1) differ in shape");
    tg_tensor *t32 = tg_zeros(F32, TG_SHAPE(3));
    ck_assert_ptr_null(tg_loss_half_sse(T, pred, t32));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_loss_half_sse: pred is float64 but target is float32");
    tg_clear_error();
    ck_assert_ptr_null(tg_loss_mse(T, NULL, target));
    ck_assert_ptr_null(tg_loss_half_sse(T, pred, NULL));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    tg_tape_free(T);
    tg_free(pred);
    tg_free(target);
    tg_free(col);
    tg_free(t32);
}
END_TEST

static const double ls_x[2][3] = {{1, 2, 3}, {-1, 0.5, 10}};

START_TEST(test_log_softmax_values)
{
    tg_tensor *x = arr(F64, TG_SHAPE(2, 3), &ls_x[0][0]);
    tg_tensor *y = tg_log_softmax(NULL, x);
    tgt_assert_shape(y, 2, (const int64_t[]){2, 3});
    for (int i = 0; i < 2; i++) {
        double s = 0;
        for (int j = 0; j < 3; j++)
            s += exp(ls_x[i][j]);
        for (int j = 0; j < 3; j++)
            ck_assert_double_eq_tol(tgt_at(y, i * 3 + j), log(exp(ls_x[i][j]) / s), 1e-14);
    }
    tg_free(y);

    /* Along the last axis of a 3-D tensor, and through a transposed view. */
    tg_tensor *x3 = tg_reshape(x, TG_SHAPE(2, 1, 3));
    y = tg_log_softmax(NULL, x3);
    tgt_assert_shape(y, 3, (const int64_t[]){2, 1, 3});
    ck_assert_double_eq_tol(tgt_at(y, 5), 10 - log(exp(-1.0) + exp(0.5) + exp(10.0)), 1e-14);
    tg_free(y);
    tg_tensor *xt = tg_transpose(x, 0, 1); /* (3, 2): rows are columns of x */
    y = tg_log_softmax(NULL, xt);
    ck_assert_double_eq_tol(tgt_at(y, 0), 1 - log(exp(1.0) + exp(-1.0)), 1e-14);
    tg_free(y);

    /* Huge logits: finite, and exactly the shifted values. */
    tg_tensor *big = arr(F64, TG_SHAPE(1, 3), (const double[]){1e4, 0, -1e4});
    y = tg_log_softmax(NULL, big);
    assert_values(y, 3, (const double[]){0, -1e4, -2e4}, 0.0);
    tg_free(y);

    tg_tensor *s = tg_scalar(F64, 1);
    tg_tensor *e = tg_zeros(F64, TG_SHAPE(2, 0));
    ck_assert_ptr_null(tg_log_softmax(NULL, s));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_log_softmax: x has shape (); it needs a non-empty last axis");
    ck_assert_ptr_null(tg_log_softmax(NULL, e));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "x has shape (2,0)");
    tg_clear_error();
    ck_assert_ptr_null(tg_log_softmax(NULL, NULL));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    tg_free(s);
    tg_free(e);
    tg_free(x);
    tg_free(x3);
    tg_free(xt);
    tg_free(big);
}
END_TEST

START_TEST(test_log_softmax_gradient)
{
    /* d/dx of sum(dy * log softmax(x)) = dy - softmax(x) * sum(dy) per row;
     * the max shift must not add a gradient of its own. */
    const double dyv[6] = {1, -2, 0.5, 3, 0.25, -1};
    tg_tensor *x = arr(F64, TG_SHAPE(2, 3), &ls_x[0][0]);
    tg_tensor *dy = arr(F64, TG_SHAPE(2, 3), dyv);
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(tg_backward_seed(T, tg_log_softmax(T, x), dy), TG_OK);
    for (int i = 0; i < 2; i++) {
        double s = 0, sdy = 0;
        for (int j = 0; j < 3; j++) {
            s += exp(ls_x[i][j]);
            sdy += dyv[i * 3 + j];
        }
        for (int j = 0; j < 3; j++)
            ck_assert_double_eq_tol(tgt_at(tg_grad(x), i * 3 + j),
                                    dyv[i * 3 + j] - exp(ls_x[i][j]) / s * sdy, 1e-14);
    }
    /* One record: tg_ad_log_softmax, whose rule is g - exp(y) sum(g). */
    ck_assert_uint_eq(tg_tape_length(T), 1);
    tg_tape_free(T);
    tg_free(x);
    tg_free(dy);
}
END_TEST

/* Labels as an int32 tensor, and the accuracy and loss of a literal list
 * (the tensor freed again: for the checks that need no backward). */
static tg_tensor *lab(int64_t n, const int32_t *v)
{
    tg_tensor *t = tg_from_array(TG_INT32, 1, &n, v);
    ck_assert_ptr_nonnull(t);
    return t;
}

static double acc_of(const tg_tensor *x, int64_t n, const int32_t *v)
{
    tg_tensor *y = lab(n, v);
    double a = tg_accuracy(x, y);
    tg_free(y);
    return a;
}

static tg_tensor *ce_of(tg_tape *T, tg_tensor *x, int64_t n, const int32_t *v)
{
    tg_tensor *y = lab(n, v);
    tg_tensor *l = tg_loss_cross_entropy(T, x, y);
    tg_free(y); /* no backward follows */
    return l;
}

static const double ce_x[3][4] = {{0.5, -1, 2, 0}, {1, 1, 1, 1}, {-3, 0.25, 0.75, 4}};
static const int32_t ce_labels_v[3] = {2, 0, 1};

START_TEST(test_cross_entropy)
{
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? F32 : F64;
        double tol = d ? 1e-6 : 1e-14;
        tg_tensor *x = arr(dt, TG_SHAPE(3, 4), &ce_x[0][0]);
        tg_requires_grad(x, true);
        tg_tape *T = tg_tape_new();
        tg_tensor *ce_labels = lab(3, ce_labels_v);
        tg_tensor *loss = tg_loss_cross_entropy(T, x, ce_labels);
        ck_assert_int_eq(tg_ndim(loss), 0);
        ck_assert_int_eq(tg_dtype_of(loss), dt);
        /* -mean log softmax(x)[i, label_i] and (softmax - onehot) / batch */
        double want = 0, sm[3][4];
        for (int i = 0; i < 3; i++) {
            double s = 0;
            for (int j = 0; j < 4; j++)
                s += exp(ce_x[i][j]);
            for (int j = 0; j < 4; j++)
                sm[i][j] = exp(ce_x[i][j]) / s;
            want -= log(sm[i][ce_labels_v[i]]) / 3;
        }
        ck_assert_double_eq_tol(scalar_of(loss), want, tol);
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                ck_assert_double_eq_tol(tgt_at(tg_grad(x), i * 4 + j),
                                        (sm[i][j] - (j == ce_labels_v[i])) / 3, tol);
        /* Row 1 is uniform: its loss term is log 4. */
        ck_assert_double_eq_tol(sm[1][0], 0.25, 1e-15);
        tg_tensor *l2 = tg_loss_cross_entropy(NULL, x, ce_labels);
        ck_assert_double_eq(scalar_of(l2), scalar_of(loss));
        tg_free(l2);
        tg_tape_free(T);
        tg_free(ce_labels);
        tg_free(x);
    }
}
END_TEST

START_TEST(test_cross_entropy_huge_logits)
{
    const double v[6] = {1e4, 0, -1e4, -1e4, 1e4, 0};
    tg_tensor *labels = lab(2, (const int32_t[]){0, 2});
    for (int d = 0; d < 2; d++) {
        tg_tensor *x = arr(d ? F32 : F64, TG_SHAPE(2, 3), v);
        tg_requires_grad(x, true);
        tg_tape *T = tg_tape_new();
        tg_tensor *loss = tg_loss_cross_entropy(T, x, labels);
        /* Row 0 is right with certainty (0), row 1 misses by 1e4. */
        ck_assert_double_eq(scalar_of(loss), 5000.0);
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        assert_values(tg_grad(x), 6, (const double[]){0, 0, 0, 0, 0.5, -0.5}, 0.0);
        for (int i = 0; i < 6; i++)
            ck_assert(isfinite(tgt_at(tg_grad(x), i)));
        tg_tape_free(T);
        tg_free(x);
    }
    tg_free(labels);
}
END_TEST

static tg_tensor *ce_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    return tg_loss_cross_entropy(T, in[0], ctx);
}

START_TEST(test_cross_entropy_gradcheck)
{
    tg_rng rng;
    tg_rng_seed(&rng, 9);
    tg_tensor *x = tg_randn(&rng, F64, TG_SHAPE(5, 7));
    tg_requires_grad(x, true);
    tg_tensor *labels = lab(5, (const int32_t[]){6, 0, 3, 3, 1});
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(ce_fn, labels, 1, &x, 1e-6, 1e-9, 1e-6, &rep), TG_OK);
    ck_assert_msg(rep.ok, "worst ratio %g", rep.worst_ratio);
    ck_assert_int_eq(rep.checked, 35);
    tg_free(labels);
    tg_free(x);
}
END_TEST

START_TEST(test_cross_entropy_errors)
{
    tg_tensor *x = arr(F64, TG_SHAPE(3, 4), &ce_x[0][0]);
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_null(ce_of(T, x, 3, (const int32_t[]){0, 4, 1}));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_loss_cross_entropy: row 1 has label 4, outside [0, 4)");
    ck_assert_ptr_null(ce_of(T, x, 3, (const int32_t[]){0, 1, -1}));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "row 2 has label -1");
    ck_assert_ptr_null(tg_loss_cross_entropy(T, x, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_loss_cross_entropy: labels is NULL");
    tg_tensor *v = tg_zeros(F64, TG_SHAPE(4));
    tg_tensor *ce_labels = lab(3, ce_labels_v);
    ck_assert_ptr_null(tg_loss_cross_entropy(T, v, ce_labels));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "logits have shape (4,); expected (batch, classes)");
    ck_assert_uint_eq(tg_tape_length(T), 0);
    tg_clear_error();
    ck_assert_ptr_null(tg_loss_cross_entropy(T, NULL, ce_labels));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    tg_tape_free(T);
    tg_free(x);
    tg_free(v);
    tg_free(ce_labels);
}
END_TEST

START_TEST(test_accuracy)
{
    /* Row 0 ties between 1 and 2: the first wins. */
    const double v[4][3] = {{1, 3, 3}, {0, 0, 0}, {5, -1, 2}, {-2, -1, -3}};
    tg_tensor *x = arr(F32, TG_SHAPE(4, 3), &v[0][0]);
    ck_assert_double_eq(acc_of(x, 4, (const int32_t[]){1, 0, 0, 1}), 1.0);
    ck_assert_double_eq(acc_of(x, 4, (const int32_t[]){2, 0, 0, 1}), 0.75);
    ck_assert_double_eq(acc_of(x, 4, (const int32_t[]){2, 1, 2, 0}), 0.0);
    /* A transposed view: rows are the columns of v. */
    tg_tensor *xt = tg_transpose(x, 0, 1); /* (3, 4) */
    ck_assert_double_eq(acc_of(xt, 3, (const int32_t[]){2, 0, 0}), 1.0);
    ck_assert_double_eq(acc_of(xt, 3, (const int32_t[]){2, 1, 0}), 2.0 / 3.0);
    /* A NaN counts as the maximum, as in NumPy's argmax. */
    tg_tensor *n = arr(F64, TG_SHAPE(1, 3), (const double[]){1, (double)NAN, 5});
    ck_assert_double_eq(acc_of(n, 1, (const int32_t[]){1}), 1.0);
    tg_tensor *e = tg_zeros(F64, TG_SHAPE(0, 3));
    ck_assert(isnan(acc_of(e, 0, (const int32_t[]){0})));

    ck_assert_double_eq(acc_of(x, 4, (const int32_t[]){0, 3, 0, 0}), -1.0);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_accuracy: row 1 has label 3, outside [0, 3)");
    ck_assert_double_eq(acc_of(NULL, 1, (const int32_t[]){0}), -1.0);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_accuracy: logits is NULL");
    ck_assert_double_eq(tg_accuracy(x, NULL), -1.0);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_accuracy: labels is NULL");
    tg_tensor *s = tg_zeros(F64, TG_SHAPE(2, 2, 2));
    ck_assert_double_eq(acc_of(s, 2, (const int32_t[]){0, 0}), -1.0);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "logits have shape (2,2,2)");
    tg_free(x);
    tg_free(xt);
    tg_free(n);
    tg_free(e);
    tg_free(s);
}
END_TEST

START_TEST(test_load_numpy_written_file)
{
    /* A file NumPy wrote (the npy fixture) loads into a parameter of its
     * dtype and shape, bit for bit. */
    char dir[64], path[256];
    make_tmpdir(dir, sizeof dir);
    FILE *in = fopen(tgt_data("npy_f4_2x3x2.npy"), "rb");
    ck_assert_ptr_nonnull(in);
    snprintf(path, sizeof path, "%s/emb.npy", dir);
    FILE *out = fopen(path, "wb");
    ck_assert_ptr_nonnull(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    tg_tensor *emb = tg_zeros(F32, TG_SHAPE(2, 3, 2));
    tg_params ps = {0};
    ck_assert_int_eq(tg_params_add(&ps, "emb", emb), TG_OK);
    ck_assert_int_eq(tg_params_load(&ps, dir), TG_OK);
    tg_tensor *want = tg_load_npy(tgt_data("npy_f4_2x3x2.npy"));
    ck_assert(same_bits(emb, want));
    ck_assert(tgt_at(emb, 11) != 0.0);
    rm_saved(dir, 1, (const char *const[]){"emb"});
    tg_free(emb);
    tg_free(want);
}
END_TEST

START_TEST(test_quadratic_float32)
{
    tg_quadratic m;
    ck_assert_int_eq(tg_quadratic_init(&m, F32, 0.5, -1.0), TG_OK);
    ck_assert_int_eq(tg_dtype_of(m.w), F32);
    tg_tensor *x = arr(F32, TG_SHAPE(2, 2), (const double[]){1, 2, -3, 0.25});
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_quadratic_forward(T, &m, x);
    tgt_assert_shape(y, 2, (const int64_t[]){2, 2});
    assert_values(y, 4, (const double[]){-0.5, 1.0, 3.5, -0.96875}, 0.0);
    /* d/dx sum(w x^2 + b) = 2 w x = x */
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    assert_values(tg_grad(x), 4, (const double[]){1, 2, -3, 0.25}, 0.0);
    ck_assert_double_eq(tgt_at(tg_grad(m.w), 0), 1 + 4 + 9 + 0.0625);
    ck_assert_double_eq(tgt_at(tg_grad(m.b), 0), 4.0);
    tg_tape_free(T);
    tg_quadratic_free(&m);
    tg_free(x);
}
END_TEST

START_TEST(test_linear_float32_matches_float64)
{
    tg_rng rng;
    tg_rng_seed(&rng, 21);
    tg_linear l64, l32;
    ck_assert_int_eq(tg_linear_init(&l64, 6, 4, F64, &rng), TG_OK);
    tg_rng_seed(&rng, 21);
    ck_assert_int_eq(tg_linear_init(&l32, 6, 4, F32, &rng), TG_OK);
    /* The same draws, rounded to float32. */
    for (int i = 0; i < 24; i++)
        ck_assert_double_eq(tgt_at(l32.weight, i), (double)(float)tgt_at(l64.weight, i));
    tg_tensor *x64 = tg_randn(&rng, F64, TG_SHAPE(3, 6));
    tg_tensor *x32 = tg_cast(x64, F32);
    tg_tensor *y64 = tg_linear_forward(NULL, &l64, x64);
    tg_tensor *y32 = tg_linear_forward(NULL, &l32, x32);
    ck_assert_int_eq(tg_dtype_of(y32), F32);
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq_tol(tgt_at(y32, i), tgt_at(y64, i), 1e-5);
    tg_free(x64);
    tg_free(x32);
    tg_free(y64);
    tg_free(y32);
    tg_linear_free(&l64);
    tg_linear_free(&l32);
}
END_TEST

START_TEST(test_mlp_activation_choices)
{
    /* Two layers: the activation sits between them and never after the
     * last one. */
    const tg_activation acts[] = {TG_ACT_NONE, TG_ACT_TANH, TG_ACT_SIGMOID, TG_ACT_RELU};
    for (int a = 0; a < 4; a++) {
        tg_rng rng;
        tg_rng_seed(&rng, 8);
        tg_mlp net;
        ck_assert_int_eq(tg_mlp_init(&net, 3, (const int64_t[]){3, 4, 2}, acts[a], F64, &rng),
                         TG_OK);
        ck_assert_int_eq(net.act, acts[a]);
        tg_tensor *x = tg_randn(&rng, F64, TG_SHAPE(2, 3));
        tg_tensor *y = tg_mlp_forward(NULL, &net, x);
        tg_tensor *h1 = tg_linear_forward(NULL, &net.layers[0], x);
        tg_tensor *a1 = tg_activate(NULL, acts[a], h1);
        tg_tensor *want = tg_linear_forward(NULL, &net.layers[1], a1);
        for (int i = 0; i < 4; i++)
            ck_assert_double_eq(tgt_at(y, i), tgt_at(want, i));
        tg_free(x);
        tg_free(y);
        tg_free(h1);
        tg_free(a1);
        tg_free(want);
        tg_mlp_free(&net);
    }
}
END_TEST

START_TEST(test_log_softmax_float32_huge)
{
    tg_tensor *x = arr(F32, TG_SHAPE(2, 3), (const double[]){3e4, -3e4, 0, 1, 1, 1});
    tg_tensor *y = tg_log_softmax(NULL, x);
    ck_assert_int_eq(tg_dtype_of(y), F32);
    ck_assert_double_eq(tgt_at(y, 0), 0.0);
    ck_assert_double_eq(tgt_at(y, 1), -6e4);
    ck_assert_double_eq(tgt_at(y, 2), -3e4);
    for (int j = 3; j < 6; j++)
        ck_assert_double_eq_tol(tgt_at(y, j), -log(3.0), 1e-6);
    tg_free(x);
    tg_free(y);
}
END_TEST

START_TEST(test_cross_entropy_tape_cost)
{
    /* The loss records a fixed handful of whole-tensor ops whatever the
     * batch: log softmax, the gather of the labels, sum, negation, division. */
    size_t len[2];
    for (int k = 0; k < 2; k++) {
        int64_t batch = k ? 64 : 2;
        tg_rng rng;
        tg_rng_seed(&rng, 4);
        tg_tensor *x = tg_randn(&rng, F32, TG_SHAPE(batch, 10));
        tg_requires_grad(x, true);
        int32_t lv[64];
        for (int i = 0; i < 64; i++)
            lv[i] = (int32_t)(i * 7 % 10);
        tg_tensor *labels = lab(batch, lv);
        tg_tape *T = tg_tape_new();
        ck_assert_ptr_nonnull(tg_loss_cross_entropy(T, x, labels));
        len[k] = tg_tape_length(T);
        tg_tape_free(T);
        tg_free(labels);
        tg_free(x);
    }
    ck_assert_uint_eq(len[0], 5);
    ck_assert_uint_eq(len[1], len[0]);
}
END_TEST

/* ---- a training step's steady state ------------------------------------------------------ */

START_TEST(test_training_step_stops_allocating)
{
    /* The hot loop (MLP forward, cross-entropy, backward) allocates only
     * during its first passes: after that the tape's arena is reused. */
    tg_rng rng;
    tg_rng_seed(&rng, 2);
    tg_mlp net;
    ck_assert_int_eq(tg_mlp_init(&net, 3, (const int64_t[]){20, 16, 10}, TG_ACT_RELU, F32, &rng),
                     TG_OK);
    tg_params ps = {0};
    ck_assert_int_eq(tg_mlp_params(&net, &ps), TG_OK);
    tg_tensor *x = tg_randn(&rng, F32, TG_SHAPE(8, 20));
    tg_tensor *labels = lab(8, (const int32_t[]){0, 1, 2, 3, 4, 5, 6, 9});
    tg_tape *T = tg_tape_new();
    long allocs = 0;
    double first = 0, last = 0;
    for (int step = 0; step < 6; step++) {
        if (step == 3)
            allocs = tgt_stats.allocs;
        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        tg_tensor *loss = tg_loss_cross_entropy(T, tg_mlp_forward(T, &net, x), labels);
        ck_assert_int_eq(tg_params_zero_grad(&ps), TG_OK);
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        for (int i = 0; i < ps.count; i++) /* plain SGD by hand */
            ck_assert_int_eq(tg_axpy_into(ps.tensors[i], -0.1, tg_grad(ps.tensors[i])), TG_OK);
        last = scalar_of(loss);
        if (step == 0)
            first = last;
    }
    ck_assert_int_eq(tgt_stats.allocs, allocs);
    ck_assert(last < first); /* and it learns */
    double acc = tg_accuracy(tg_mlp_forward(T, &net, x), labels);
    ck_assert(acc >= 0.0 && acc <= 1.0);
    tg_tape_free(T);
    tg_mlp_free(&net);
    tg_free(labels);
    tg_free(x);
}
END_TEST

Suite *test_nn_suite(void); /* called by the generated runner */
Suite *test_nn_suite(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tgt_tcase("params");
    tcase_add_test(tc, test_params_add);
    tcase_add_test(tc, test_params_add_errors);
    tcase_add_test(tc, test_params_full);
    tcase_add_test(tc, test_params_zero_grad);
    tcase_add_test(tc, test_save_load_round_trip);
    tcase_add_test(tc, test_load_is_all_or_nothing);
    tcase_add_test(tc, test_save_errors);
    tcase_add_test(tc, test_load_numpy_written_file);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("layers");
    tcase_add_test(tc, test_quadratic);
    tcase_add_test(tc, test_quadratic_errors);
    tcase_add_test(tc, test_quadratic_float32);
    tcase_add_test(tc, test_linear_init_bounds_and_draw_order);
    tcase_add_test(tc, test_linear_forward_values);
    tcase_add_test(tc, test_linear_backward_by_hand);
    tcase_add_test(tc, test_linear_gradcheck);
    tcase_add_test(tc, test_linear_float32_matches_float64);
    tcase_add_test(tc, test_linear_errors);
    tcase_add_test(tc, test_linear_without_bias_init);
    tcase_add_test(tc, test_linear_without_bias_forward_backward);
    tcase_add_test(tc, test_linear_without_bias_gradcheck);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_mlp);
    tcase_add_test(tc, test_mlp_errors);
    tcase_add_test(tc, test_mlp_activation_choices);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("losses");
    tcase_add_test(tc, test_squared_losses);
    tcase_add_test(tc, test_log_softmax_values);
    tcase_add_test(tc, test_log_softmax_gradient);
    tcase_add_test(tc, test_log_softmax_float32_huge);
    tcase_add_test(tc, test_cross_entropy);
    tcase_add_test(tc, test_cross_entropy_huge_logits);
    tcase_add_test(tc, test_cross_entropy_gradcheck);
    tcase_add_test(tc, test_cross_entropy_errors);
    tcase_add_test(tc, test_cross_entropy_tape_cost);
    tcase_add_test(tc, test_accuracy);
    tcase_add_test(tc, test_training_step_stops_allocating);
    suite_add_tcase(s, tc);
    return s;
}
