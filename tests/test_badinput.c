/* test_badinput.c - the catalogue of bad input: every public function of
 * tapegrad.h called with NULL arguments, mixed dtypes, shapes that cannot
 * broadcast, 9 dimensions, negative sizes, element counts that overflow,
 * axes and indices out of range, zero slice steps, tape misuse, and broken
 * .npy and IDX files. Each case asserts the error code and the message, and (through
 * the tgt_tcase fixture) that nothing leaked. The cases are tables, one loop
 * test per row, so a failure names the row.
 *
 * The last section holds regression tests for crashes the fuzzers in fuzz/
 * found. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef TG_HAVE_ZLIB
#include <zlib.h>
#endif

#include "tensor/internal.h"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE
#define DNAN ((double)NAN)
#define DINF ((double)INFINITY)
#define NODIR "/nonexistent-tapegrad-dir"

static const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
static const int32_t labels_ok_v[3] = {0, 1, 3};
static const int32_t labels_big_v[3] = {0, 4, 1};
static const int32_t labels_neg_v[3] = {-1, 0, 0};

/* ---- the fixture every case may use ------------------------------------- */

typedef struct fx {
    tg_tensor *a;    /* (3,4) float64: 0..11 */
    tg_tensor *h;    /* (3,4) float32 */
    tg_tensor *b;    /* (5,) float64 */
    tg_tensor *v;    /* (4,) float64 */
    tg_tensor *v3;   /* (3,) float64 */
    tg_tensor *s;    /* () float64 */
    tg_tensor *s32;  /* () float32 */
    tg_tensor *e;    /* (0,3) float64 */
    tg_tensor *z;    /* (3,0) float64 */
    tg_tensor *bc;   /* (3,4): v broadcast, stride 0 on axis 0 */
    tg_tensor *d8;   /* (1,1,1,1,1,1,1,1) float64 */
    tg_tensor *c234; /* (2,3,4) float64 */
    tg_tensor *c342; /* (3,4,2) float64 */
    tg_tensor *i4;   /* (4,4) identity */
    tg_tensor *leaf; /* (3,) float64 leaf requiring a gradient */
    tg_tensor *lf32; /* (3,) float32 leaf requiring a gradient */
    tg_tensor *n32;  /* (3,) int32: 1, 2, 3 */
    tg_tensor *bl;   /* (3,) bool: true, false, true */
    tg_tensor *lab_ok, *lab_big, *lab_neg; /* (3,) int32 labels for 4 classes */
    tg_tape *T;
    tg_tensor *y;    /* (3,) = 2 * leaf, recorded on T */
    tg_rng rng;
    tg_quadratic quad; /* float64, w = 2, b = 1 */
    tg_linear lin;   /* 4 -> 2, float64 */
    tg_mlp mlp;      /* 4 -> 3 -> 2, ReLU, float64 */
    tg_params ps;    /* empty */
    double out;
    int64_t idx[TG_MAX_DIMS];
    tg_idx xi;
    tg_sgd sgd;
    tg_adam adam;
} fx;

static void fx_setup(fx *f)
{
    memset(f, 0, sizeof *f);
    tg_tensor *r = tg_arange(F64, 0, 12, 1);
    f->a = tg_reshape(r, SH(3, 4));
    tg_free(r);
    f->h = tg_cast(f->a, F32);
    f->b = tg_ones(F64, SH(5));
    f->v = tg_arange(F64, 0, 4, 1);
    f->v3 = tg_ones(F64, SH(3));
    f->s = tg_scalar(F64, 2.0);
    f->s32 = tg_scalar(F32, 2.0);
    f->e = tg_zeros(F64, SH(0, 3));
    f->z = tg_zeros(F64, SH(3, 0));
    f->bc = tg_expand(f->v, SH(3, 4));
    f->d8 = tg_ones(F64, 8, nine);
    f->c234 = tg_ones(F64, SH(2, 3, 4));
    f->c342 = tg_ones(F64, SH(3, 4, 2));
    f->i4 = tg_eye(F64, 4, 4);
    f->leaf = tg_full(F64, SH(3), 0.5);
    f->lf32 = tg_full(F32, SH(3), 0.5);
    f->n32 = tg_from_array(TG_INT32, SH(3), (const int32_t[]){1, 2, 3});
    f->bl = tg_from_array(TG_BOOL, SH(3), (const bool[]){true, false, true});
    f->lab_ok = tg_from_array(TG_INT32, SH(3), labels_ok_v);
    f->lab_big = tg_from_array(TG_INT32, SH(3), labels_big_v);
    f->lab_neg = tg_from_array(TG_INT32, SH(3), labels_neg_v);
    f->T = tg_tape_new();
    ck_assert_ptr_nonnull(f->a);
    ck_assert_ptr_nonnull(f->h);
    ck_assert_ptr_nonnull(f->b);
    ck_assert_ptr_nonnull(f->v);
    ck_assert_ptr_nonnull(f->v3);
    ck_assert_ptr_nonnull(f->s);
    ck_assert_ptr_nonnull(f->s32);
    ck_assert_ptr_nonnull(f->e);
    ck_assert_ptr_nonnull(f->z);
    ck_assert_ptr_nonnull(f->bc);
    ck_assert_ptr_nonnull(f->d8);
    ck_assert_ptr_nonnull(f->c234);
    ck_assert_ptr_nonnull(f->c342);
    ck_assert_ptr_nonnull(f->i4);
    ck_assert_ptr_nonnull(f->leaf);
    ck_assert_ptr_nonnull(f->lf32);
    ck_assert_ptr_nonnull(f->n32);
    ck_assert_ptr_nonnull(f->bl);
    ck_assert_ptr_nonnull(f->T);
    ck_assert_int_eq(tg_requires_grad(f->leaf, true), TG_OK);
    ck_assert_int_eq(tg_requires_grad(f->lf32, true), TG_OK);
    f->y = tg_ad_mul_scalar(f->T, f->leaf, 2.0);
    ck_assert_ptr_nonnull(f->y);
    tg_rng_seed(&f->rng, 7);
    ck_assert_int_eq(tg_quadratic_init(&f->quad, F64, 2.0, 1.0), TG_OK);
    ck_assert_int_eq(tg_linear_init(&f->lin, 4, 2, F64, &f->rng), TG_OK);
    ck_assert_int_eq(tg_mlp_init(&f->mlp, 3, (const int64_t[]){4, 3, 2},
                                 TG_ACT_RELU, F64, &f->rng),
                     TG_OK);
    tg_clear_error();
}

static void fx_free(fx *f)
{
    tg_tensor *all[] = {f->a,   f->h,    f->b,    f->v,   f->v3,   f->s,
                        f->s32, f->e,    f->z,    f->bc,  f->d8,   f->c234,
                        f->c342, f->i4,  f->leaf, f->lf32, f->n32, f->bl,
                        f->lab_ok, f->lab_big, f->lab_neg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
    tg_tape_free(f->T);
    tg_quadratic_free(&f->quad);
    tg_linear_free(&f->lin);
    tg_mlp_free(&f->mlp);
}

/* ---- outcomes of calls ------------------------------------------------------- */

/* A tensor-returning call: TG_OK when it returned a tensor (released here),
 * else the code of the error it set. */
static int tr(tg_tensor *t)
{
    if (!t)
        return tg_last_error();
    tg_free(t);
    return TG_OK;
}

/* tg_size returns -1 on error. */
static int sz(int64_t n) { return n == -1 ? tg_last_error() : TG_OK; }
/* tg_accuracy returns -1 on error. */
static int acc(double a) { return a == -1.0 ? tg_last_error() : TG_OK; }

/* A scratch file under /tmp holding len bytes; the caller unlinks it. */
static const char *tmp_file(const char *tag, const void *bytes, size_t len)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/tapegrad-badinput-%ld-%s", (long)getpid(),
             tag);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (len)
        ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* A fresh empty directory under /tmp; the caller removes it. */
static const char *tmp_dir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/tapegrad-badinput-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
    return buf;
}

/* ---- cases that need more than one call ------------------------------------ */

static int print_to_read_only(fx *f)
{
    FILE *ro = fopen("/dev/null", "r");
    ck_assert_ptr_nonnull(ro);
    int rc = tg_print(f->a, ro);
    fclose(ro);
    return rc;
}

static int cast_nan_to_int(void)
{
    tg_tensor *x = tg_full(F64, SH(2), (double)NAN);
    int rc = tr(tg_cast(x, TG_INT32));
    tg_free(x);
    return rc;
}

static int set_uint8_256(void)
{
    tg_tensor *u = tg_zeros(TG_UINT8, SH(2));
    int rc = tg_set(u, (const int64_t[]){0}, 256.0);
    tg_free(u);
    return rc;
}

static int rng_uint32_null(fx *f)
{
    (void)f;
    ck_assert_uint_eq(tg_rng_uint32(NULL), 0);
    return tg_last_error();
}

static int rng_random_null(fx *f)
{
    (void)f;
    ck_assert(isnan(tg_rng_random(NULL)));
    return tg_last_error();
}

static int rng_normal_null(fx *f)
{
    (void)f;
    ck_assert(isnan(tg_rng_normal(NULL)));
    return tg_last_error();
}

static int rng_uniform_null(fx *f)
{
    (void)f;
    ck_assert(isnan(tg_rng_uniform(NULL, 0, 1)));
    return tg_last_error();
}

static int load_npy_directory(fx *f)
{
    (void)f;
    tg_tensor *t = tg_load_npy("/tmp");
    ck_assert_ptr_null(t);
    return tg_last_error();
}

static int backward_after_reset(fx *f)
{
    tg_tensor *root = tg_ad_sum(f->T, f->y);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(tg_tape_reset(f->T), TG_OK);
    int rc = tg_backward(f->T, root);
    ck_assert_ptr_null(tg_grad(f->leaf));
    return rc;
}

static int backward_other_tape(fx *f)
{
    tg_tape *T2 = tg_tape_new();
    ck_assert_ptr_nonnull(T2);
    tg_tensor *root = tg_ad_sum(T2, tg_ad_mul(T2, f->leaf, f->leaf));
    ck_assert_ptr_nonnull(root);
    int rc = tg_backward(f->T, root);
    tg_tape_free(T2);
    return rc;
}

static int backward_nothing_requires_grad(fx *f)
{
    tg_tensor *root = tg_ad_sum(f->T, f->a);
    ck_assert_ptr_nonnull(root);
    return tg_backward(f->T, root);
}

static int backward_input_modified(fx *f)
{
    tg_tensor *root = tg_ad_sum(f->T, tg_ad_mul(f->T, f->leaf, f->leaf));
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(tg_fill(f->leaf, 3.0), TG_OK);
    int rc = tg_backward(f->T, root);
    ck_assert_ptr_null(tg_grad(f->leaf)); /* a failed backward changes nothing */
    return rc;
}

static int backward_result_modified(fx *f)
{
    tg_tensor *sq = tg_ad_mul(f->T, f->leaf, f->leaf);
    tg_tensor *root = tg_ad_sum(f->T, sq);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(tg_fill(root, 3.0), TG_OK);
    return tg_backward(f->T, root);
}

static int ad_grad_negative_n(fx *f)
{
    tg_tensor *g[1];
    return tg_ad_grad(f->T, f->y, NULL, -1, &f->leaf, g, false);
}

static int ad_grad_null_inputs(fx *f)
{
    tg_tensor *g[1];
    return tg_ad_grad(f->T, f->y, NULL, 1, NULL, g, false);
}

static int ad_grad_null_input(fx *f)
{
    tg_tensor *in[1] = {NULL}, *g[1];
    return tg_ad_grad(f->T, f->y, NULL, 1, in, g, false);
}

static int ad_grad_not_requiring(fx *f)
{
    tg_tensor *g[1];
    return tg_ad_grad(f->T, tg_ad_sum(f->T, f->y), NULL, 1, &f->a, g, false);
}

static int ad_grad_vector_root(fx *f)
{
    tg_tensor *g[1];
    return tg_ad_grad(f->T, f->y, NULL, 1, &f->leaf, g, false);
}

static int ad_grad_null_tape(fx *f)
{
    tg_tensor *g[1];
    return tg_ad_grad(NULL, f->y, NULL, 1, &f->leaf, g, false);
}

static int ad_stale_input(fx *f)
{
    ck_assert_int_eq(tg_tape_reset(f->T), TG_OK);
    return tr(tg_ad_mul(f->T, f->y, f->leaf)); /* y died with the reset */
}

static int ad_other_tape_input(fx *f)
{
    tg_tape *T2 = tg_tape_new();
    ck_assert_ptr_nonnull(T2);
    tg_tensor *x2 = tg_ad_mul_scalar(T2, f->leaf, 2.0);
    ck_assert_ptr_nonnull(x2);
    int rc = tr(tg_ad_add(f->T, x2, f->leaf));
    tg_tape_free(T2);
    return rc;
}

/* Functions handed to tg_gradcheck. */
static tg_tensor *gc_sum(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    return tg_ad_sum(T, in[0]);
}

static tg_tensor *gc_bad_reshape(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    (void)ctx;
    return tg_ad_reshape(T, in[0], SH(7));
}

static int gradcheck_with(fx *f, tg_ad_fn fn, int n, tg_tensor *const *in,
                          double eps, double atol)
{
    (void)f;
    tg_gradcheck_report rep;
    return tg_gradcheck(fn, NULL, n, in, eps, atol, 1e-6, &rep);
}

static int gradcheck_null_rep(fx *f)
{
    return tg_gradcheck(gc_sum, NULL, 1, &f->leaf, 1e-6, 1e-6, 1e-6, NULL);
}

static int gradcheck_null_input(fx *f)
{
    tg_tensor *in[1] = {NULL};
    return gradcheck_with(f, gc_sum, 1, in, 1e-6, 1e-6);
}

static int params_add_twice_name(fx *f)
{
    ck_assert_int_eq(tg_params_add(&f->ps, "w", f->a), TG_OK);
    return tg_params_add(&f->ps, "w", f->b);
}

static int params_add_twice_tensor(fx *f)
{
    ck_assert_int_eq(tg_params_add(&f->ps, "w", f->a), TG_OK);
    return tg_params_add(&f->ps, "v", f->a);
}

static int params_add_full(fx *f)
{
    tg_tensor *t[TG_MAX_PARAMS + 1];
    char name[16];
    int rc = TG_OK;
    for (int i = 0; i <= TG_MAX_PARAMS; i++) {
        t[i] = tg_zeros(F64, SH(1));
        ck_assert_ptr_nonnull(t[i]);
        snprintf(name, sizeof name, "p%d", i);
        rc = tg_params_add(&f->ps, name, t[i]);
        if (i < TG_MAX_PARAMS)
            ck_assert_int_eq(rc, TG_OK);
    }
    ck_assert_int_eq(f->ps.count, TG_MAX_PARAMS);
    for (int i = 0; i <= TG_MAX_PARAMS; i++)
        tg_free(t[i]);
    return rc;
}

static int params_garbage_count(fx *f)
{
    f->ps.count = -1;
    return tg_params_add(&f->ps, "w", f->a);
}

static int params_load_missing_file(fx *f)
{
    char dir[64];
    tmp_dir(dir, sizeof dir);
    ck_assert_int_eq(tg_params_add(&f->ps, "w", f->a), TG_OK);
    int rc = tg_params_load(&f->ps, dir);
    rmdir(dir);
    return rc;
}

/* Saves name = saved into a fresh directory, then loads it into a list
 * holding name = into. */
static int params_load_into(fx *f, tg_tensor *saved, tg_tensor *into)
{
    char dir[64], path[128];
    tmp_dir(dir, sizeof dir);
    tg_params p = {0};
    ck_assert_int_eq(tg_params_add(&p, "w", saved), TG_OK);
    ck_assert_int_eq(tg_params_save(&p, dir), TG_OK);
    ck_assert_int_eq(tg_params_add(&f->ps, "w", into), TG_OK);
    int rc = tg_params_load(&f->ps, dir);
    snprintf(path, sizeof path, "%s/w.npy", dir);
    unlink(path);
    rmdir(dir);
    return rc;
}

static int params_load_shape(fx *f) { return params_load_into(f, f->v, f->b); }
static int params_load_dtype(fx *f) { return params_load_into(f, f->a, f->h); }

static int params_load_truncated(fx *f)
{
    char dir[64], path[128];
    tmp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/w.npy", dir);
    FILE *out = fopen(path, "wb");
    ck_assert_ptr_nonnull(out);
    fputs("\x93NUMPY", out);
    fclose(out);
    ck_assert_int_eq(tg_params_add(&f->ps, "w", f->v), TG_OK);
    int rc = tg_params_load(&f->ps, dir);
    unlink(path);
    rmdir(dir);
    return rc;
}

static int quadratic_uninitialised(fx *f)
{
    tg_quadratic m = {NULL, NULL};
    return tr(tg_quadratic_forward(f->T, &m, f->leaf));
}

static int quadratic_params_uninitialised(fx *f)
{
    tg_quadratic m = {NULL, NULL};
    return tg_quadratic_params(&m, &f->ps);
}

static int linear_uninitialised(fx *f)
{
    tg_linear l;
    memset(&l, 0, sizeof l);
    return tr(tg_linear_forward(f->T, &l, f->a));
}

static int linear_params_uninitialised(fx *f)
{
    tg_linear l;
    memset(&l, 0, sizeof l);
    return tg_linear_params(&l, "fc", &f->ps);
}

static int quadratic_init_with(fx *f, tg_dtype dt)
{
    (void)f;
    tg_quadratic m;
    int rc = tg_quadratic_init(&m, dt, 1.0, 1.0);
    ck_assert_ptr_null(m.w);
    return rc;
}

static int linear_init_with(fx *f, int64_t in, int64_t out, tg_dtype dt,
                            tg_rng *rng)
{
    (void)f;
    tg_linear l;
    int rc = tg_linear_init(&l, in, out, dt, rng);
    ck_assert_ptr_null(l.weight);
    return rc;
}

static int linear_init_overflow(fx *f)
{
    tg_linear l;
    int rc = tg_linear_init(&l, 1LL << 40, 1LL << 40, F64, &f->rng);
    ck_assert_ptr_null(l.weight);
    return rc;
}

static int mlp_uninitialised(fx *f)
{
    tg_mlp m;
    memset(&m, 0, sizeof m);
    return tr(tg_mlp_forward(f->T, &m, f->a));
}

static int mlp_params_uninitialised(fx *f)
{
    tg_mlp m;
    memset(&m, 0, sizeof m);
    return tg_mlp_params(&m, &f->ps);
}

static int mlp_params_too_many(fx *f)
{
    for (int i = 0; i < TG_MAX_PARAMS - 3; i++) { /* a list of 61 entries */
        f->ps.tensors[i] = f->a;
        snprintf(f->ps.names[i], TG_PARAM_NAME_MAX, "p%d", i);
    }
    f->ps.count = TG_MAX_PARAMS - 3;
    return tg_mlp_params(&f->mlp, &f->ps);
}

static int mlp_init_with(fx *f, int n, const int64_t *sizes, tg_activation act,
                         tg_dtype dt)
{
    tg_mlp m;
    int rc = tg_mlp_init(&m, n, sizes, act, dt, &f->rng);
    tg_mlp_free(&m);
    return rc;
}

static int sgd_init_with(fx *f, double lr, double mom, double wd, bool nest)
{
    tg_sgd o;
    ck_assert_int_eq(tg_params_add(&f->ps, "w", f->v), TG_OK);
    int rc = tg_sgd_init(&o, &f->ps, lr, mom, wd, nest);
    tg_sgd_free(&o);
    return rc;
}

static int adam_init_with(fx *f, double lr, double b1, double b2, double eps,
                          double wd)
{
    tg_adam o;
    ck_assert_int_eq(tg_params_add(&f->ps, "w", f->v), TG_OK);
    int rc = tg_adam_init(&o, &f->ps, lr, b1, b2, eps, wd, false);
    tg_adam_free(&o);
    return rc;
}

static int sgd_init_not_contiguous(fx *f)
{
    tg_tensor *wt = tg_transpose(f->a, 0, 1);
    ck_assert_ptr_nonnull(wt);
    ck_assert_int_eq(tg_params_add(&f->ps, "wt", wt), TG_OK);
    tg_sgd o;
    int rc = tg_sgd_init(&o, &f->ps, 0.1, 0.0, 0.0, false);
    tg_sgd_free(&o);
    tg_free(wt);
    return rc;
}

static int sgd_step_uninitialised(fx *f)
{
    (void)f;
    tg_sgd o;
    memset(&o, 0, sizeof o);
    return tg_sgd_step(&o);
}

static int adam_step_uninitialised(fx *f)
{
    (void)f;
    tg_adam o;
    memset(&o, 0, sizeof o);
    return tg_adam_step(&o);
}

static int sgd_step_added_after_init(fx *f)
{
    tg_sgd o;
    ck_assert_int_eq(tg_params_add(&f->ps, "w", f->v), TG_OK);
    ck_assert_int_eq(tg_sgd_init(&o, &f->ps, 0.1, 0.9, 0.0, false), TG_OK);
    ck_assert_int_eq(tg_params_add(&f->ps, "b", f->b), TG_OK);
    int rc = tg_sgd_step(&o);
    tg_sgd_free(&o);
    return rc;
}

static int adam_step_added_after_init(fx *f)
{
    tg_adam o;
    ck_assert_int_eq(tg_params_add(&f->ps, "w", f->v), TG_OK);
    ck_assert_int_eq(tg_adam_init(&o, &f->ps, 0.1, 0.9, 0.999, 1e-8, 0, true),
                     TG_OK);
    ck_assert_int_eq(tg_params_add(&f->ps, "b", f->b), TG_OK);
    int rc = tg_adam_step(&o);
    tg_adam_free(&o);
    return rc;
}

/* ---- the catalogue ------------------------------------------------------------ */
/* X(id, expected code, expected message (a substring), the call's outcome) */

#define CREATION_CASES(X)                                                      \
    X(empty_9d, TG_ERR_VALUE, "tg_empty: 9 dimensions (at most 8 allowed)",    \
      tr(tg_empty(F64, 9, nine)))                                              \
    X(zeros_negative, TG_ERR_VALUE, "tg_zeros: negative size -2 in axis 1",    \
      tr(tg_zeros(F64, SH(3, -2))))                                            \
    X(ones_negative_ndim, TG_ERR_VALUE,                                        \
      "tg_ones: -1 dimensions (at most 8 allowed)", tr(tg_ones(F64, -1, NULL))) \
    X(full_count_overflow, TG_ERR_OVERFLOW,                                    \
      "tg_full: shape (1099511627776,1099511627776) has too many elements",    \
      tr(tg_full(F64, SH(1LL << 40, 1LL << 40), 1.0)))                         \
    X(empty_bytes_overflow, TG_ERR_OVERFLOW,                                   \
      "tg_empty: shape (2305843009213693952,) needs too many bytes",           \
      tr(tg_empty(F64, SH(1LL << 61))))                                        \
    X(zeros_empty_but_huge, TG_ERR_OVERFLOW,                                   \
      "tg_zeros: shape (0,4611686018427387904) needs too many bytes",          \
      tr(tg_zeros(F32, SH(0, 1LL << 62))))                                     \
    X(empty_null_shape, TG_ERR_NULL, "tg_empty: shape is NULL",                \
      tr(tg_empty(F64, 2, NULL)))                                              \
    X(empty_bad_dtype, TG_ERR_DTYPE, "tg_empty: unknown dtype 7",              \
      tr(tg_empty((tg_dtype)7, SH(2))))                                        \
    X(from_array_null_data, TG_ERR_NULL, "tg_from_array: data is NULL",        \
      tr(tg_from_array(F64, SH(2), NULL)))                                     \
    X(from_array_9d, TG_ERR_VALUE, "tg_from_array: 9 dimensions",              \
      tr(tg_from_array(F64, 9, nine, &f->out)))                                \
    X(scalar_bad_dtype, TG_ERR_DTYPE, "tg_scalar: unknown dtype 99",           \
      tr(tg_scalar((tg_dtype)99, 1.0)))                                        \
    X(scalar_int_fraction, TG_ERR_VALUE, "tg_scalar: value 0.5 is not a int32 value", \
      tr(tg_scalar(TG_INT32, 0.5)))                                            \
    X(full_bool_seven, TG_ERR_VALUE, "tg_full: value 7 is not a bool value",   \
      tr(tg_full(TG_BOOL, SH(2), 7.0)))                                        \
    X(full_uint8_negative, TG_ERR_VALUE, "tg_full: value -1 is not a uint8 value", \
      tr(tg_full(TG_UINT8, SH(2), -1.0)))                                      \
    X(arange_step_0, TG_ERR_VALUE,                                             \
      "tg_arange: needs finite start, stop and a non-zero step",               \
      tr(tg_arange(F64, 0, 3, 0)))                                             \
    X(arange_nan, TG_ERR_VALUE, "tg_arange: needs finite start",               \
      tr(tg_arange(F64, DNAN, 3, 1)))                                          \
    X(arange_inf, TG_ERR_VALUE, "tg_arange: needs finite start",               \
      tr(tg_arange(F64, 0, DINF, 1)))                                          \
    X(arange_too_long, TG_ERR_OVERFLOW, "tg_arange: too many elements",        \
      tr(tg_arange(F64, 0, 1e18, 1)))                                          \
    X(arange_bad_dtype, TG_ERR_DTYPE, "tg_arange: unknown dtype 55",           \
      tr(tg_arange((tg_dtype)55, 0, 3, 1)))                                    \
    X(arange_int_overflow, TG_ERR_VALUE, "tg_arange: value 2147483648 is not a int32 value", \
      tr(tg_arange(TG_INT32, 2147483646.0, 2147483649.0, 1)))                  \
    X(arange_bools, TG_ERR_VALUE, "tg_arange: a bool range holds at most 2 values, not 3", \
      tr(tg_arange(TG_BOOL, 0, 3, 1)))                                         \
    X(linspace_int, TG_ERR_DTYPE, "tg_linspace: dtype is int64; this op needs a float dtype", \
      tr(tg_linspace(TG_INT64, 0, 1, 3)))                                      \
    X(linspace_negative, TG_ERR_VALUE,                                         \
      "tg_linspace: number of samples -1 is negative",                         \
      tr(tg_linspace(F64, 0, 1, -1)))                                          \
    X(linspace_overflow, TG_ERR_OVERFLOW,                                      \
      "tg_linspace: shape (9223372036854775807,) needs too many bytes",        \
      tr(tg_linspace(F64, 0, 1, INT64_MAX)))                                   \
    X(eye_negative, TG_ERR_VALUE, "tg_eye: negative size -1 in axis 0",        \
      tr(tg_eye(F64, -1, 3)))                                                  \
    X(eye_overflow, TG_ERR_OVERFLOW,                                           \
      "tg_eye: shape (4294967296,4294967296) has too many elements",           \
      tr(tg_eye(F64, 1LL << 32, 1LL << 32)))                                   \
    X(size_axis, TG_ERR_AXIS, "tg_size: axis 2 out of range for 2 dimensions", \
      sz(tg_size(f->a, 2)))                                                    \
    X(size_axis_negative, TG_ERR_AXIS,                                         \
      "tg_size: axis -3 out of range for 2 dimensions", sz(tg_size(f->a, -3))) \
    X(size_scalar, TG_ERR_AXIS, "tg_size: axis 0 out of range for 0 dimensions", \
      sz(tg_size(f->s, 0)))

#define VIEW_CASES(X)                                                          \
    X(reshape_count, TG_ERR_SHAPE, "tg_reshape: cannot reshape (3,4) into (5,)", \
      tr(tg_reshape(f->a, SH(5))))                                             \
    X(reshape_count_more, TG_ERR_SHAPE,                                        \
      "tg_reshape: cannot reshape (3,4) into (3,5)", tr(tg_reshape(f->a, SH(3, 5)))) \
    X(reshape_two_infer, TG_ERR_VALUE, "tg_reshape: more than one size is -1", \
      tr(tg_reshape(f->a, SH(-1, -1))))                                        \
    X(reshape_infer_indivisible, TG_ERR_SHAPE,                                 \
      "tg_reshape: cannot infer -1 reshaping (3,4) (12 elements)",             \
      tr(tg_reshape(f->a, SH(-1, 5))))                                         \
    X(reshape_infer_zero, TG_ERR_SHAPE,                                        \
      "tg_reshape: cannot infer -1 reshaping (3,4) (12 elements)",             \
      tr(tg_reshape(f->a, SH(0, -1))))                                         \
    X(reshape_negative, TG_ERR_VALUE, "tg_reshape: negative size -3 in axis 0", \
      tr(tg_reshape(f->a, SH(-3, -4))))                                        \
    X(reshape_9d, TG_ERR_VALUE, "tg_reshape: 9 dimensions (at most 8 allowed)", \
      tr(tg_reshape(f->d8, 9, nine)))                                          \
    X(reshape_null_shape, TG_ERR_NULL, "tg_reshape: shape is NULL",            \
      tr(tg_reshape(f->a, 2, NULL)))                                           \
    X(reshape_overflow, TG_ERR_OVERFLOW,                                       \
      "tg_reshape: new shape has too many elements",                           \
      tr(tg_reshape(f->a, SH(1LL << 62, 1LL << 62))))                          \
    X(transpose_axis, TG_ERR_AXIS,                                             \
      "tg_transpose: axis 2 out of range for 2 dimensions",                    \
      tr(tg_transpose(f->a, 0, 2)))                                            \
    X(transpose_axis_negative, TG_ERR_AXIS,                                    \
      "tg_transpose: axis -3 out of range for 2 dimensions",                   \
      tr(tg_transpose(f->a, -3, 0)))                                           \
    X(permute_repeated, TG_ERR_AXIS, "tg_permute: axis 0 repeated in permutation", \
      tr(tg_permute(f->a, (const int[]){0, 0})))                               \
    X(permute_repeated_negative, TG_ERR_AXIS,                                  \
      "tg_permute: axis -1 repeated in permutation",                           \
      tr(tg_permute(f->a, (const int[]){1, -1})))                              \
    X(permute_axis, TG_ERR_AXIS, "tg_permute: axis 5 out of range for 2 dimensions", \
      tr(tg_permute(f->a, (const int[]){0, 5})))                               \
    X(permute_null_axes, TG_ERR_NULL, "tg_permute: axes is NULL",              \
      tr(tg_permute(f->a, NULL)))                                              \
    X(slice_step_0, TG_ERR_VALUE, "tg_slice: slice step is 0",                 \
      tr(tg_slice(f->a, 0, 0, 2, 0)))                                          \
    X(slice_step_0_omitted, TG_ERR_VALUE, "tg_slice: slice step is 0",         \
      tr(tg_slice(f->a, 1, TG_NONE, TG_NONE, 0)))                              \
    X(slice_axis, TG_ERR_AXIS, "tg_slice: axis 2 out of range for 2 dimensions", \
      tr(tg_slice(f->a, 2, 0, 1, 1)))                                          \
    X(slice_scalar, TG_ERR_AXIS, "tg_slice: axis 0 out of range for 0 dimensions", \
      tr(tg_slice(f->s, 0, 0, 1, 1)))                                          \
    X(select_index, TG_ERR_INDEX,                                              \
      "tg_select: index 3 out of range for axis 0 of size 3",                  \
      tr(tg_select(f->a, 0, 3)))                                               \
    X(select_index_negative, TG_ERR_INDEX,                                     \
      "tg_select: index -4 out of range for axis 0 of size 3",                 \
      tr(tg_select(f->a, 0, -4)))                                              \
    X(select_empty_axis, TG_ERR_INDEX,                                         \
      "tg_select: index 0 out of range for axis 0 of size 0",                  \
      tr(tg_select(f->e, 0, 0)))                                               \
    X(select_axis, TG_ERR_AXIS, "tg_select: axis 2 out of range for 2 dimensions", \
      tr(tg_select(f->a, 2, 0)))                                               \
    X(select_scalar, TG_ERR_AXIS, "tg_select: axis 0 out of range for 0 dimensions", \
      tr(tg_select(f->s, 0, 0)))                                               \
    X(unsqueeze_8d, TG_ERR_VALUE, "tg_unsqueeze: tensor already has 8 dimensions", \
      tr(tg_unsqueeze(f->d8, 0)))                                              \
    X(unsqueeze_axis, TG_ERR_AXIS,                                             \
      "tg_unsqueeze: axis 3 out of range for 3 dimensions",                    \
      tr(tg_unsqueeze(f->a, 3)))                                               \
    X(unsqueeze_axis_negative, TG_ERR_AXIS,                                    \
      "tg_unsqueeze: axis -4 out of range for 3 dimensions",                   \
      tr(tg_unsqueeze(f->a, -4)))                                              \
    X(squeeze_not_1, TG_ERR_SHAPE, "tg_squeeze: axis 0 has size 3, not 1",     \
      tr(tg_squeeze(f->a, 0)))                                                 \
    X(squeeze_axis, TG_ERR_AXIS, "tg_squeeze: axis 2 out of range for 2 dimensions", \
      tr(tg_squeeze(f->a, 2)))                                                 \
    X(expand_mismatch, TG_ERR_SHAPE, "tg_expand: cannot broadcast (3,4) to (3,5)", \
      tr(tg_expand(f->a, SH(3, 5))))                                           \
    X(expand_fewer_dims, TG_ERR_SHAPE, "tg_expand: cannot broadcast (3,4) to (4,)", \
      tr(tg_expand(f->a, SH(4))))                                              \
    X(expand_9d, TG_ERR_VALUE, "tg_expand: 9 dimensions (at most 8 allowed)",  \
      tr(tg_expand(f->d8, 9, nine)))                                           \
    X(expand_null_shape, TG_ERR_NULL, "tg_expand: shape is NULL",              \
      tr(tg_expand(f->v, 2, NULL)))                                            \
    X(expand_negative, TG_ERR_VALUE, "tg_expand: negative size -1 in axis 0",  \
      tr(tg_expand(f->v, SH(-1, 4))))                                          \
    X(expand_overflow, TG_ERR_OVERFLOW,                                        \
      "tg_expand: shape (4611686018427387904,4) has too many elements",        \
      tr(tg_expand(f->v, SH(1LL << 62, 4))))                                   \
    X(cast_bad_dtype, TG_ERR_DTYPE, "tg_cast: unknown dtype 9",                \
      tr(tg_cast(f->a, (tg_dtype)9)))

#define ACCESS_CASES(X)                                                        \
    X(get_null, TG_ERR_NULL, "tg_get: tensor is NULL",                         \
      tg_get(NULL, f->idx, &f->out))                                           \
    X(get_null_out, TG_ERR_NULL, "tg_get: out is NULL", tg_get(f->a, f->idx, NULL)) \
    X(get_null_index, TG_ERR_NULL, "tg_get: index is NULL",                    \
      tg_get(f->a, NULL, &f->out))                                             \
    X(get_index, TG_ERR_INDEX, "tg_get: index 3 out of range for axis 0 of size 3", \
      tg_get(f->a, (const int64_t[]){3, 0}, &f->out))                          \
    X(get_index_negative, TG_ERR_INDEX,                                        \
      "tg_get: index -5 out of range for axis 1 of size 4",                    \
      tg_get(f->a, (const int64_t[]){0, -5}, &f->out))                         \
    X(set_null, TG_ERR_NULL, "tg_set: tensor is NULL", tg_set(NULL, f->idx, 1.0)) \
    X(set_null_index, TG_ERR_NULL, "tg_set: index is NULL", tg_set(f->a, NULL, 1.0)) \
    X(set_index, TG_ERR_INDEX, "tg_set: index 4 out of range for axis 1 of size 4", \
      tg_set(f->a, (const int64_t[]){0, 4}, 1.0))                              \
    X(set_empty, TG_ERR_INDEX, "tg_set: index 0 out of range for axis 0 of size 0", \
      tg_set(f->e, (const int64_t[]){0, 0}, 1.0))                              \
    X(item_many, TG_ERR_SHAPE, "tg_item: tensor of shape (3,4) has 12 elements, not 1", \
      tg_item(f->a, &f->out))                                                  \
    X(item_empty, TG_ERR_SHAPE, "tg_item: tensor of shape (0,3) has 0 elements, not 1", \
      tg_item(f->e, &f->out))                                                  \
    X(item_null, TG_ERR_NULL, "tg_item: tensor is NULL", tg_item(NULL, &f->out)) \
    X(item_null_out, TG_ERR_NULL, "tg_item: out is NULL", tg_item(f->s, NULL)) \
    X(fill_null, TG_ERR_NULL, "tg_fill: tensor is NULL", tg_fill(NULL, 1.0))   \
    X(copy_null_dst, TG_ERR_NULL, "tg_copy: dst is NULL", tg_copy(NULL, f->a)) \
    X(copy_null_src, TG_ERR_NULL, "tg_copy: src is NULL", tg_copy(f->a, NULL)) \
    X(copy_dtype, TG_ERR_DTYPE,                                                \
      "tg_copy: dtypes float64 and float32 differ (use tg_cast)", tg_copy(f->a, f->h)) \
    X(copy_shape, TG_ERR_SHAPE, "tg_copy: shapes (3,4) and (5,) cannot be broadcast", \
      tg_copy(f->a, f->b))                                                     \
    X(copy_into_broadcast_view, TG_ERR_VALUE,                                  \
      "tg_copy: out is a broadcast view (stride 0 on axis 0)", tg_copy(f->bc, f->a)) \
    X(copy_src_larger, TG_ERR_SHAPE, "tg_copy: out has shape (4,), expected (3,4)", \
      tg_copy(f->v, f->a))                                                     \
    X(print_null, TG_ERR_NULL, "tg_print: tensor is NULL", tg_print(NULL, stdout)) \
    X(print_null_file, TG_ERR_NULL, "tg_print: FILE is NULL", tg_print(f->a, NULL)) \
    X(print_read_only, TG_ERR_IO, "tg_print: writing the tensor failed",       \
      print_to_read_only(f))

/* Every binary function with shapes that do not broadcast (mixed dtypes
 * promote, as in NumPy: tests/test_dtypes.c). */
#define BINARY_FN_CASES(X, name, call)                                         \
    X(name##_shape, TG_ERR_SHAPE,                                              \
      "tg_" #name ": shapes (3,4) and (5,) cannot be broadcast", tr(call(f->a, f->b)))

#define ELEMENTWISE_CASES(X)                                                   \
    BINARY_FN_CASES(X, add, tg_add)                                            \
    BINARY_FN_CASES(X, sub, tg_sub)                                            \
    BINARY_FN_CASES(X, mul, tg_mul)                                            \
    BINARY_FN_CASES(X, div, tg_div)                                            \
    BINARY_FN_CASES(X, pow, tg_pow)                                            \
    BINARY_FN_CASES(X, maximum, tg_maximum)                                    \
    BINARY_FN_CASES(X, minimum, tg_minimum)                                    \
    X(sub_bools, TG_ERR_DTYPE, "tg_sub: subtraction is not defined for bool operands", \
      tr(tg_sub(f->bl, f->bl)))                                                \
    X(pow_negative_int, TG_ERR_VALUE,                                          \
      "tg_pow_scalar: integers to negative integer powers are not allowed",    \
      tr(tg_pow_scalar(f->n32, -1.0)))                                         \
    X(neg_bool, TG_ERR_DTYPE, "tg_neg: negating a bool is not defined",        \
      tr(tg_neg(f->bl)))                                                       \
    X(where_float_mask, TG_ERR_DTYPE, "tg_where: mask is float64; it must be bool", \
      tr(tg_where(f->v3, f->leaf, f->leaf)))                                   \
    X(where_shapes, TG_ERR_SHAPE, "tg_where: shapes (3,) and (5,) cannot be broadcast", \
      tr(tg_where(f->bl, f->b, f->leaf)))                                      \
    X(masked_fill_float_mask, TG_ERR_DTYPE, "tg_masked_fill: mask is float64", \
      tr(tg_masked_fill(f->a, f->v3, 0.0)))                                    \
    X(masked_fill_shape, TG_ERR_SHAPE,                                         \
      "tg_masked_fill: mask (3,) does not broadcast to a's shape (3,4)",       \
      tr(tg_masked_fill(f->a, f->bl, 0.0)))                                    \
    X(masked_fill_int_value, TG_ERR_VALUE, "tg_masked_fill: value 0.5 is not a int32 value", \
      tr(tg_masked_fill(f->n32, f->bl, 0.5)))                                  \
    X(clamp_nan, TG_ERR_VALUE, "tg_clamp: bounds lo = nan and hi = 1 must not be NaN", \
      tr(tg_clamp(f->a, DNAN, 1.0)))                                           \
    X(compare_op, TG_ERR_VALUE, "tg_compare: unknown comparison 9",            \
      tr(tg_compare((tg_cmpop)9, f->a, f->a)))                                 \
    X(compare_shapes, TG_ERR_SHAPE, "tg_lt: shapes (3,4) and (5,) cannot be broadcast", \
      tr(tg_lt(f->a, f->b)))                                                   \
    X(cast_nan_to_int, TG_ERR_VALUE, "tg_cast: element 0 is nan, which int32 cannot hold", \
      cast_nan_to_int())                                                       \
    X(fill_int_fraction, TG_ERR_VALUE, "tg_fill: value 1.5 is not a int32 value", \
      tg_fill(f->n32, 1.5))                                                    \
    X(set_uint8_range, TG_ERR_VALUE, "tg_set: value 256 is not a uint8 value", \
      set_uint8_256())                                                         \
    X(requires_grad_int, TG_ERR_DTYPE,                                         \
      "tg_requires_grad: a int32 tensor cannot require a gradient",            \
      tg_requires_grad(f->n32, true))                                          \
    X(rand_int, TG_ERR_DTYPE, "tg_rand: dtype is int32; this op needs a float dtype", \
      tr(tg_rand(&f->rng, TG_INT32, SH(2))))                                   \
    X(rand_fill_int, TG_ERR_DTYPE, "tg_rand_fill: tensor is int32", tg_rand_fill(&f->rng, f->n32)) \
    X(axpy_int, TG_ERR_DTYPE, "tg_axpy_into: out is int32", tg_axpy_into(f->n32, 1.0, f->n32)) \
    X(sum_to_int, TG_ERR_DTYPE, "tg_sum_to: the input is int32",               \
      tr(tg_sum_to(f->n32, SH(1))))                                            \
    X(matmul_int, TG_ERR_DTYPE, "tg_matmul: a is int32; this op needs a float dtype", \
      tr(tg_matmul(f->n32, f->n32)))                                           \
    X(ad_matmul_int, TG_ERR_DTYPE, "tg_ad_matmul: b is int32",                 \
      tr(tg_ad_matmul(f->T, f->leaf, f->n32)))                                 \
    X(binary_shape_3d, TG_ERR_SHAPE,                                           \
      "tg_mul: shapes (2,3,4) and (3,4,2) cannot be broadcast",                \
      tr(tg_binary(TG_MUL, f->c234, f->c342)))                                 \
    X(binary_unknown_op, TG_ERR_VALUE, "tg_binary: unknown binary op 99",      \
      tr(tg_binary((tg_binop)99, f->a, f->a)))                                 \
    X(binary_negative_op, TG_ERR_VALUE, "tg_binary: unknown binary op -1",     \
      tr(tg_binary((tg_binop)-1, f->a, f->a)))                                 \
    X(binary_scalar_unknown_op, TG_ERR_VALUE,                                  \
      "tg_binary_scalar: unknown binary op 42",                                \
      tr(tg_binary_scalar((tg_binop)42, f->a, 1.0, false)))                    \
    X(unary_unknown_op, TG_ERR_VALUE, "tg_unary: unknown unary op 99",         \
      tr(tg_unary((tg_unop)99, f->a)))                                         \
    X(binary_into_null_out, TG_ERR_NULL, "tg_binary_into: out is NULL",        \
      tg_binary_into(TG_ADD, NULL, f->a, f->a))                                \
    X(binary_into_null_a, TG_ERR_NULL, "tg_binary_into: a is NULL",            \
      tg_binary_into(TG_ADD, f->a, NULL, f->a))                                \
    X(binary_into_null_b, TG_ERR_NULL, "tg_binary_into: b is NULL",            \
      tg_binary_into(TG_ADD, f->a, f->a, NULL))                                \
    X(binary_into_out_shape, TG_ERR_SHAPE,                                     \
      "tg_binary_into: out has shape (4,), expected (3,4)",                    \
      tg_binary_into(TG_ADD, f->v, f->a, f->a))                                \
    X(binary_into_out_dtype, TG_ERR_DTYPE,                                     \
      "tg_binary_into: out has dtype float32, expected float64",               \
      tg_binary_into(TG_ADD, f->h, f->a, f->a))                                \
    X(binary_into_broadcast_view, TG_ERR_VALUE,                                \
      "tg_binary_into: out is a broadcast view (stride 0 on axis 0)",          \
      tg_binary_into(TG_ADD, f->bc, f->a, f->a))                               \
    X(binary_into_unknown_op, TG_ERR_VALUE, "tg_binary_into: unknown binary op 8", \
      tg_binary_into(TG_BINOP_COUNT_, f->a, f->a, f->a))                       \
    X(binary_into_mixed, TG_ERR_DTYPE,                                         \
      "tg_binary_into: out has dtype float32, expected float64",               \
      tg_binary_into(TG_MUL, f->h, f->a, f->h))                                \
    X(binary_into_shapes, TG_ERR_SHAPE,                                        \
      "tg_binary_into: shapes (3,4) and (5,) cannot be broadcast",             \
      tg_binary_into(TG_MUL, f->a, f->a, f->b))                                \
    X(binary_scalar_into_null, TG_ERR_NULL, "tg_binary_scalar_into: a is NULL", \
      tg_binary_scalar_into(TG_MUL, f->a, NULL, 2.0, false))                   \
    X(binary_scalar_into_shape, TG_ERR_SHAPE,                                  \
      "tg_binary_scalar_into: out has shape (4,), expected (3,4)",             \
      tg_binary_scalar_into(TG_MUL, f->v, f->a, 2.0, false))                   \
    X(binary_scalar_into_dtype, TG_ERR_DTYPE,                                  \
      "tg_binary_scalar_into: out has dtype float32, expected float64",        \
      tg_binary_scalar_into(TG_MUL, f->h, f->a, 2.0, true))                    \
    X(binary_scalar_into_op, TG_ERR_VALUE,                                     \
      "tg_binary_scalar_into: unknown binary op 8",                            \
      tg_binary_scalar_into(TG_BINOP_COUNT_, f->a, f->a, 2.0, true))           \
    X(unary_into_null, TG_ERR_NULL, "tg_unary_into: out is NULL",              \
      tg_unary_into(TG_EXP, NULL, f->a))                                       \
    X(unary_into_shape, TG_ERR_SHAPE,                                          \
      "tg_unary_into: out has shape (4,), expected (3,4)",                     \
      tg_unary_into(TG_EXP, f->v, f->a))                                       \
    X(unary_into_dtype, TG_ERR_DTYPE,                                          \
      "tg_unary_into: out has dtype float32, expected float64",                \
      tg_unary_into(TG_EXP, f->h, f->a))                                       \
    X(unary_into_op, TG_ERR_VALUE, "tg_unary_into: unknown unary op 10",       \
      tg_unary_into(TG_UNOP_COUNT_, f->a, f->a))                               \
    X(unary_into_broadcast_view, TG_ERR_VALUE,                                 \
      "tg_unary_into: out is a broadcast view (stride 0 on axis 0)",           \
      tg_unary_into(TG_NEG, f->bc, f->a))                                      \
    X(axpy_null, TG_ERR_NULL, "tg_axpy_into: a is NULL", tg_axpy_into(f->a, 1, NULL)) \
    X(axpy_null_out, TG_ERR_NULL, "tg_axpy_into: out is NULL",                 \
      tg_axpy_into(NULL, 1, f->a))                                             \
    X(axpy_dtype, TG_ERR_DTYPE, "tg_axpy_into: dtypes float64 and float32 differ", \
      tg_axpy_into(f->a, 1, f->h))                                             \
    X(axpy_shape, TG_ERR_SHAPE,                                                \
      "tg_axpy_into: shapes (3,4) and (5,) cannot be broadcast",               \
      tg_axpy_into(f->a, 1, f->b))                                             \
    X(axpy_larger, TG_ERR_SHAPE, "tg_axpy_into: out has shape (4,), expected (3,4)", \
      tg_axpy_into(f->v, 1, f->a))

#define REDUCE_CASES(X)                                                        \
    X(sum_axis, TG_ERR_AXIS, "tg_sum_axis: axis 2 out of range for 2 dimensions", \
      tr(tg_sum_axis(f->a, 2, false)))                                         \
    X(mean_axis, TG_ERR_AXIS, "tg_mean_axis: axis -3 out of range for 2 dimensions", \
      tr(tg_mean_axis(f->a, -3, true)))                                        \
    X(max_axis, TG_ERR_AXIS, "tg_max_axis: axis 5 out of range for 2 dimensions", \
      tr(tg_max_axis(f->a, 5, false)))                                         \
    X(argmax_axis_scalar, TG_ERR_AXIS,                                         \
      "tg_argmax_axis: axis 0 out of range for 0 dimensions",                  \
      tr(tg_argmax_axis(f->s, 0, false)))                                      \
    X(max_empty, TG_ERR_VALUE, "tg_max: zero-size tensor has no maximum",      \
      tr(tg_max(f->e)))                                                        \
    X(argmax_empty, TG_ERR_VALUE, "tg_argmax: zero-size tensor has no maximum", \
      tr(tg_argmax(f->e)))                                                     \
    X(max_axis_empty, TG_ERR_VALUE,                                            \
      "tg_max_axis: axis 0 has size 0, so there is no maximum",                \
      tr(tg_max_axis(f->e, 0, false)))                                         \
    X(argmax_axis_empty, TG_ERR_VALUE,                                         \
      "tg_argmax_axis: axis 1 has size 0, so there is no maximum",             \
      tr(tg_argmax_axis(f->z, 1, true)))                                       \
    X(sum_to_mismatch, TG_ERR_SHAPE, "tg_sum_to: cannot sum shape (3,4) to (3,)", \
      tr(tg_sum_to(f->a, SH(3))))                                              \
    X(sum_to_more_dims, TG_ERR_SHAPE, "tg_sum_to: cannot sum shape (4,) to (3,4)", \
      tr(tg_sum_to(f->v, SH(3, 4))))                                           \
    X(sum_to_9d, TG_ERR_VALUE, "tg_sum_to: 9 dimensions (at most 8 allowed)",  \
      tr(tg_sum_to(f->d8, 9, nine)))                                           \
    X(sum_to_negative, TG_ERR_VALUE, "tg_sum_to: negative size -1 in axis 0",  \
      tr(tg_sum_to(f->a, SH(-1))))                                             \
    X(sum_to_null_shape, TG_ERR_NULL, "tg_sum_to: shape is NULL",              \
      tr(tg_sum_to(f->a, 1, NULL)))                                            \
    X(sum_to_into_null_out, TG_ERR_NULL, "tg_sum_to_into: out is NULL",        \
      tg_sum_to_into(NULL, f->a))                                              \
    X(sum_to_into_null, TG_ERR_NULL, "tg_sum_to_into: input tensor is NULL",   \
      tg_sum_to_into(f->v, NULL))                                              \
    X(sum_to_into_dtype, TG_ERR_DTYPE,                                         \
      "tg_sum_to_into: out is float32 but the input is float64",               \
      tg_sum_to_into(f->h, f->a))                                              \
    X(sum_to_into_shape, TG_ERR_SHAPE,                                         \
      "tg_sum_to_into: cannot sum shape (3,4) to (5,)", tg_sum_to_into(f->b, f->a)) \
    X(sum_into_shape, TG_ERR_SHAPE,                                            \
      "tg_sum_into: out has shape (4,) but the result has shape ()",           \
      tg_sum_into(f->v, f->a))                                                 \
    X(sum_into_null, TG_ERR_NULL, "tg_sum_into: out is NULL", tg_sum_into(NULL, f->a)) \
    X(sum_into_dtype, TG_ERR_DTYPE,                                            \
      "tg_sum_into: out is float32 but the input is float64",                  \
      tg_sum_into(f->s32, f->a))

#define MATMUL_CASES(X)                                                        \
    X(matmul_inner, TG_ERR_SHAPE,                                              \
      "tg_matmul: inner sizes 4 and 3 differ (shapes (3,4) and (3,4))",        \
      tr(tg_matmul(f->a, f->a)))                                               \
    X(matmul_0d, TG_ERR_SHAPE, "tg_matmul: 0-d operand (shapes () and (4,))",  \
      tr(tg_matmul(f->s, f->v)))                                               \
    X(matmul_batch, TG_ERR_SHAPE,                                              \
      "tg_matmul: batch sizes 2 and 3 cannot be broadcast (shapes (2,3,4) and (3,4,2))", \
      tr(tg_matmul(f->c234, f->c342)))                                         \
    X(matmul_vectors, TG_ERR_SHAPE,                                            \
      "tg_matmul: inner sizes 4 and 5 differ (shapes (4,) and (5,))",          \
      tr(tg_matmul(f->v, f->b)))                                               \
    X(matmul_matrix_vector, TG_ERR_SHAPE,                                      \
      "tg_matmul: inner sizes 4 and 3 differ (shapes (3,4) and (3,))",         \
      tr(tg_matmul(f->a, f->v3)))                                              \
    X(matmul_into_null, TG_ERR_NULL, "tg_matmul_into: out is NULL",            \
      tg_matmul_into(NULL, f->a, f->v))                                        \
    X(matmul_into_null_b, TG_ERR_NULL, "tg_matmul_into: b is NULL",            \
      tg_matmul_into(f->v3, f->a, NULL))                                       \
    X(matmul_into_shape, TG_ERR_SHAPE,                                         \
      "tg_matmul_into: out has shape (3,4), expected (3,)",                    \
      tg_matmul_into(f->a, f->a, f->v))                                        \
    X(matmul_into_dtype, TG_ERR_DTYPE,                                         \
      "tg_matmul_into: out has dtype float32, expected float64",               \
      tg_matmul_into(f->lf32, f->a, f->v))                                     \
    X(matmul_into_broadcast_view, TG_ERR_VALUE,                                \
      "tg_matmul_into: out is a broadcast view (stride 0 on axis 0)",          \
      tg_matmul_into(f->bc, f->a, f->i4))                                      \
    X(matmul_into_inner, TG_ERR_SHAPE, "tg_matmul_into: inner sizes 4 and 3 differ", \
      tg_matmul_into(f->v3, f->a, f->v3))

#define RANDOM_CASES(X)                                                        \
    X(rng_seed_null, TG_ERR_NULL, "tg_rng_seed: rng is NULL",                  \
      (tg_rng_seed(NULL, 1), tg_last_error()))                                 \
    X(rng_uint32_null, TG_ERR_NULL, "tg_rng_uint32: rng is NULL", rng_uint32_null(f)) \
    X(rng_random_null, TG_ERR_NULL, "tg_rng_random: rng is NULL", rng_random_null(f)) \
    X(rng_normal_null, TG_ERR_NULL, "tg_rng_normal: rng is NULL", rng_normal_null(f)) \
    X(rng_uniform_null, TG_ERR_NULL, "tg_rng_uniform: rng is NULL",            \
      rng_uniform_null(f))                                                     \
    X(rand_null_rng, TG_ERR_NULL, "tg_rand: rng is NULL", tr(tg_rand(NULL, F64, SH(3)))) \
    X(randn_null_rng, TG_ERR_NULL, "tg_randn: rng is NULL",                    \
      tr(tg_randn(NULL, F64, SH(3))))                                          \
    X(uniform_null_rng, TG_ERR_NULL, "tg_uniform: rng is NULL",                \
      tr(tg_uniform(NULL, F64, 0, 1, SH(3))))                                  \
    X(rand_negative, TG_ERR_VALUE, "tg_rand: negative size -1 in axis 0",      \
      tr(tg_rand(&f->rng, F64, SH(-1))))                                       \
    X(randn_9d, TG_ERR_VALUE, "tg_randn: 9 dimensions (at most 8 allowed)",    \
      tr(tg_randn(&f->rng, F64, 9, nine)))                                     \
    X(uniform_dtype, TG_ERR_DTYPE, "tg_uniform: unknown dtype 44",             \
      tr(tg_uniform(&f->rng, (tg_dtype)44, 0, 1, SH(3))))                      \
    X(rand_overflow, TG_ERR_OVERFLOW, "tg_rand: shape (4294967296,4294967296) has too many elements", \
      tr(tg_rand(&f->rng, F32, SH(1LL << 32, 1LL << 32))))                     \
    X(rand_fill_null_rng, TG_ERR_NULL, "tg_rand_fill: rng is NULL",            \
      tg_rand_fill(NULL, f->a))                                                \
    X(rand_fill_null, TG_ERR_NULL, "tg_rand_fill: tensor is NULL",             \
      tg_rand_fill(&f->rng, NULL))                                             \
    X(randn_fill_null, TG_ERR_NULL, "tg_randn_fill: tensor is NULL",           \
      tg_randn_fill(&f->rng, NULL))                                            \
    X(uniform_fill_null_rng, TG_ERR_NULL, "tg_uniform_fill: rng is NULL",      \
      tg_uniform_fill(NULL, f->a, 0, 1))                                       \
    X(permutation_negative, TG_ERR_VALUE,                                      \
      "tg_rng_permutation: n is -1, must be >= 0",                             \
      tg_rng_permutation(&f->rng, f->idx, -1))                                 \
    X(permutation_null_perm, TG_ERR_NULL, "tg_rng_permutation: perm is NULL",  \
      tg_rng_permutation(&f->rng, NULL, 3))                                    \
    X(permutation_null_rng, TG_ERR_NULL, "tg_rng_permutation: rng is NULL",    \
      tg_rng_permutation(NULL, f->idx, 3))

#define FILE_API_CASES(X)                                                      \
    X(save_npy_null, TG_ERR_NULL, "tg_save_npy: tensor is NULL",               \
      tg_save_npy(NULL, "/tmp/x.npy"))                                         \
    X(save_npy_null_path, TG_ERR_NULL, "tg_save_npy: path is NULL",            \
      tg_save_npy(f->a, NULL))                                                 \
    X(save_npy_no_dir, TG_ERR_IO,                                              \
      "tg_save_npy: cannot open '" NODIR "/x.npy' for writing: No such file or directory", \
      tg_save_npy(f->a, NODIR "/x.npy"))                                       \
    X(load_npy_null, TG_ERR_NULL, "tg_load_npy: path is NULL", tr(tg_load_npy(NULL))) \
    X(load_npy_missing, TG_ERR_IO,                                             \
      "tg_load_npy: cannot open '" NODIR "/x.npy': No such file or directory", \
      tr(tg_load_npy(NODIR "/x.npy")))                                         \
    X(load_npy_directory, TG_ERR_IO, "tg_load_npy: /tmp: ", load_npy_directory(f)) \
    X(load_npy_buffer_null, TG_ERR_NULL, "tg_load_npy_buffer: buffer is NULL", \
      tr(tg_load_npy_buffer(NULL, 10)))                                        \
    X(idx_load_null_path, TG_ERR_NULL, "tg_idx_load: path is NULL",            \
      tg_idx_load(NULL, &f->xi))                                     \
    X(idx_load_null_out, TG_ERR_NULL, "tg_idx_load: out is NULL",              \
      tg_idx_load("/tmp/x.idx", NULL))                                         \
    X(idx_load_missing, TG_ERR_IO,                                             \
      "tg_idx_load: " NODIR "/x.idx: cannot open: No such file or directory",  \
      tg_idx_load(NODIR "/x.idx", &f->xi))                           \
    X(idx_buffer_null, TG_ERR_NULL, "tg_idx_load_buffer: buffer is NULL",      \
      tg_idx_load_buffer(NULL, 4, &f->xi))                           \
    X(idx_buffer_null_out, TG_ERR_NULL, "tg_idx_load_buffer: out is NULL",     \
      tg_idx_load_buffer("\0\0\x08\x01", 4, NULL))

#define TAPE_CASES(X)                                                          \
    X(tape_reset_null, TG_ERR_NULL, "tg_tape_reset: tape is NULL", tg_tape_reset(NULL)) \
    X(requires_grad_null, TG_ERR_NULL, "tg_requires_grad: tensor is NULL",     \
      tg_requires_grad(NULL, true))                                            \
    X(requires_grad_tape_result, TG_ERR_TAPE,                                  \
      "tg_requires_grad: only caller-owned tensors can be leaves",             \
      tg_requires_grad(f->y, true))                                            \
    X(zero_grad_null, TG_ERR_NULL, "tg_zero_grad: tensor is NULL", tg_zero_grad(NULL)) \
    X(backward_null_tape, TG_ERR_NULL, "tg_backward: tape is NULL",            \
      tg_backward(NULL, f->y))                                                 \
    X(backward_null_root, TG_ERR_NULL, "tg_backward: root is NULL",            \
      tg_backward(f->T, NULL))                                                 \
    X(backward_vector_root, TG_ERR_TAPE,                                       \
      "tg_backward: root has shape (3,); backward without a seed needs one element", \
      tg_backward(f->T, f->y))                                                 \
    X(backward_heap_root, TG_ERR_TAPE,                                         \
      "tg_backward: root was not produced by this tape", tg_backward(f->T, f->s)) \
    X(backward_after_reset, TG_ERR_TAPE,                                       \
      "tg_backward: root was made before the last reset or by another tape",   \
      backward_after_reset(f))                                                 \
    X(backward_other_tape, TG_ERR_TAPE,                                        \
      "tg_backward: root was made before the last reset or by another tape",   \
      backward_other_tape(f))                                                  \
    X(backward_no_grad, TG_ERR_TAPE,                                           \
      "tg_backward: root does not depend on any tensor that requires a gradient", \
      backward_nothing_requires_grad(f))                                       \
    X(backward_input_modified, TG_ERR_TAPE,                                    \
      "tg_backward: input 1 of tg_ad_mul was modified in place after it was recorded", \
      backward_input_modified(f))                                              \
    X(backward_result_modified, TG_ERR_TAPE,                                   \
      "tg_backward: the result of tg_ad_sum was modified in place after it was recorded", \
      backward_result_modified(f))                                             \
    X(backward_seed_shape, TG_ERR_SHAPE,                                       \
      "tg_backward_seed: seed float64 (5,) does not match root float64 (3,)",  \
      tg_backward_seed(f->T, f->y, f->b))                                      \
    X(backward_seed_dtype, TG_ERR_DTYPE,                                       \
      "tg_backward_seed: seed float32 (3,) does not match root float64 (3,)",  \
      tg_backward_seed(f->T, f->y, f->lf32))                                   \
    X(ad_grad_negative_n, TG_ERR_VALUE, "tg_ad_grad: negative input count",    \
      ad_grad_negative_n(f))                                                   \
    X(ad_grad_null_inputs, TG_ERR_NULL, "tg_ad_grad: inputs or grads is NULL", \
      ad_grad_null_inputs(f))                                                  \
    X(ad_grad_null_input, TG_ERR_NULL, "tg_ad_grad: input 0 is NULL",          \
      ad_grad_null_input(f))                                                   \
    X(ad_grad_not_requiring, TG_ERR_TAPE,                                      \
      "tg_ad_grad: input 0 does not require a gradient", ad_grad_not_requiring(f)) \
    X(ad_grad_vector_root, TG_ERR_TAPE,                                        \
      "tg_ad_grad: root has shape (3,); backward without a seed needs one element", \
      ad_grad_vector_root(f))                                                  \
    X(ad_grad_null_tape, TG_ERR_NULL, "tg_ad_grad: tape is NULL", ad_grad_null_tape(f)) \
    X(ad_sub_shape, TG_ERR_SHAPE, "tg_ad_sub: shapes (3,4) and (5,) cannot be broadcast", \
      tr(tg_ad_sub(f->T, f->a, f->b)))                                         \
    X(ad_pow_shape, TG_ERR_SHAPE, "tg_ad_pow: shapes (3,) and (4,) cannot be broadcast", \
      tr(tg_ad_pow(f->T, f->leaf, f->v)))                                      \
    X(ad_minimum_shape, TG_ERR_SHAPE,                                          \
      "tg_ad_minimum: shapes (3,) and (5,) cannot be broadcast",               \
      tr(tg_ad_minimum(f->T, f->leaf, f->b)))                                  \
    X(ad_stale_input, TG_ERR_TAPE,                                             \
      "tg_ad_mul: an input was made before the last tg_tape_reset",            \
      ad_stale_input(f))                                                       \
    X(ad_other_tape_input, TG_ERR_TAPE,                                        \
      "tg_ad_add: an input was made by another tape",                          \
      ad_other_tape_input(f))                                                  \
    X(ad_tape_input_without_tape, TG_ERR_TAPE,                                 \
      "tg_ad_neg: the tape is NULL but an input belongs to a tape; pass that tape", \
      tr(tg_ad_neg(NULL, f->y)))                                               \
    X(ad_sum_axis, TG_ERR_AXIS, "tg_ad_sum_axis: axis 1 out of range for 1 dimensions", \
      tr(tg_ad_sum_axis(f->T, f->leaf, 1, false)))                             \
    X(ad_mean_axis, TG_ERR_AXIS,                                               \
      "tg_ad_mean_axis: axis -2 out of range for 1 dimensions",                \
      tr(tg_ad_mean_axis(f->T, f->leaf, -2, true)))                            \
    X(ad_max_axis, TG_ERR_AXIS, "tg_ad_max_axis: axis 3 out of range for 1 dimensions", \
      tr(tg_ad_max_axis(f->T, f->leaf, 3, false)))                             \
    X(ad_max_empty, TG_ERR_VALUE, "tg_ad_max: zero-size tensor has no maximum", \
      tr(tg_ad_max(f->T, f->e)))                                               \
    X(ad_max_axis_empty, TG_ERR_VALUE,                                         \
      "tg_ad_max_axis: axis 0 has size 0, so there is no maximum",             \
      tr(tg_ad_max_axis(f->T, f->e, 0, false)))                                \
    X(ad_sum_to, TG_ERR_SHAPE, "tg_ad_sum_to: cannot sum shape (3,4) to (3,)", \
      tr(tg_ad_sum_to(f->T, f->a, SH(3))))                                     \
    X(ad_sum_to_9d, TG_ERR_VALUE, "tg_ad_sum_to: 9 dimensions (at most 8 allowed)", \
      tr(tg_ad_sum_to(f->T, f->a, 9, nine)))                                   \
    X(ad_matmul_inner, TG_ERR_SHAPE, "tg_ad_matmul: inner sizes 4 and 3 differ", \
      tr(tg_ad_matmul(f->T, f->a, f->a)))                                      \
    X(ad_reshape, TG_ERR_SHAPE, "tg_ad_reshape: cannot reshape (3,) into (4,)", \
      tr(tg_ad_reshape(f->T, f->leaf, SH(4))))                                 \
    X(ad_reshape_9d, TG_ERR_VALUE, "tg_ad_reshape: 9 dimensions (at most 8 allowed)", \
      tr(tg_ad_reshape(f->T, f->d8, 9, nine)))                                 \
    X(ad_transpose, TG_ERR_AXIS, "tg_ad_transpose: axis 1 out of range for 1 dimensions", \
      tr(tg_ad_transpose(f->T, f->leaf, 0, 1)))                                \
    X(ad_permute, TG_ERR_AXIS, "tg_ad_permute: axis 1 repeated in permutation", \
      tr(tg_ad_permute(f->T, f->a, (const int[]){1, 1})))                      \
    X(ad_slice_step_0, TG_ERR_VALUE, "tg_ad_slice: slice step is 0",           \
      tr(tg_ad_slice(f->T, f->leaf, 0, 0, 3, 0)))                              \
    X(ad_expand, TG_ERR_SHAPE, "tg_ad_expand: cannot broadcast (3,) to (2,4)", \
      tr(tg_ad_expand(f->T, f->leaf, SH(2, 4))))                               \
    X(ad_cast, TG_ERR_DTYPE, "tg_ad_cast: unknown dtype 22",                   \
      tr(tg_ad_cast(f->T, f->leaf, (tg_dtype)22)))                             \
    X(gradcheck_null_f, TG_ERR_NULL, "tg_gradcheck: f is NULL",                \
      gradcheck_with(f, NULL, 1, &f->leaf, 1e-6, 1e-6))                        \
    X(gradcheck_null_rep, TG_ERR_NULL, "tg_gradcheck: rep is NULL",            \
      gradcheck_null_rep(f))                                                   \
    X(gradcheck_null_inputs, TG_ERR_NULL, "tg_gradcheck: inputs is NULL",      \
      gradcheck_with(f, gc_sum, 1, NULL, 1e-6, 1e-6))                          \
    X(gradcheck_n_0, TG_ERR_VALUE,                                             \
      "tg_gradcheck: needs n > 0, eps > 0, atol >= 0, rtol >= 0",              \
      gradcheck_with(f, gc_sum, 0, &f->leaf, 1e-6, 1e-6))                      \
    X(gradcheck_eps_0, TG_ERR_VALUE, "tg_gradcheck: needs n > 0, eps > 0",     \
      gradcheck_with(f, gc_sum, 1, &f->leaf, 0.0, 1e-6))                       \
    X(gradcheck_atol_nan, TG_ERR_VALUE, "tg_gradcheck: needs n > 0, eps > 0",  \
      gradcheck_with(f, gc_sum, 1, &f->leaf, 1e-6, DNAN))                      \
    X(gradcheck_null_input, TG_ERR_NULL, "tg_gradcheck: input 0 is NULL",      \
      gradcheck_null_input(f))                                                 \
    X(gradcheck_float32, TG_ERR_DTYPE,                                         \
      "tg_gradcheck: input 0 is float32; finite differences need float64",     \
      gradcheck_with(f, gc_sum, 1, &f->lf32, 1e-6, 1e-6))                      \
    X(gradcheck_tape_input, TG_ERR_TAPE,                                       \
      "tg_gradcheck: input 0 is not a caller-owned leaf",                      \
      gradcheck_with(f, gc_sum, 1, &f->y, 1e-6, 1e-6))                         \
    X(gradcheck_f_fails, TG_ERR_SHAPE, "tg_ad_reshape: cannot reshape (3,) into (7,)", \
      gradcheck_with(f, gc_bad_reshape, 1, &f->leaf, 1e-6, 1e-6))

#define NN_CASES(X)                                                            \
    X(params_add_null_list, TG_ERR_NULL, "tg_params_add: parameter list is NULL", \
      tg_params_add(NULL, "w", f->a))                                          \
    X(params_add_null_name, TG_ERR_NULL, "tg_params_add: name is NULL",        \
      tg_params_add(&f->ps, NULL, f->a))                                       \
    X(params_add_null_tensor, TG_ERR_NULL, "tg_params_add: tensor is NULL",    \
      tg_params_add(&f->ps, "w", NULL))                                        \
    X(params_add_empty_name, TG_ERR_VALUE, "tg_params_add: name is empty",     \
      tg_params_add(&f->ps, "", f->a))                                         \
    X(params_add_slash, TG_ERR_VALUE,                                          \
      "tg_params_add: name \"fc1/weight\" has the character '/'",              \
      tg_params_add(&f->ps, "fc1/weight", f->a))                               \
    X(params_add_byte, TG_ERR_VALUE, "tg_params_add: name \"w\xc3\xa9\" has the byte 0xc3", \
      tg_params_add(&f->ps, "w\xc3\xa9", f->a))                                \
    X(params_add_long, TG_ERR_VALUE, "has 48 characters; at most 47 are allowed", \
      tg_params_add(&f->ps, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv", f->a)) \
    X(params_add_twice_name, TG_ERR_VALUE,                                     \
      "tg_params_add: name \"w\" is already in the list", params_add_twice_name(f)) \
    X(params_add_twice_tensor, TG_ERR_VALUE,                                   \
      "tg_params_add: the tensor for \"v\" is already in the list as \"w\"",   \
      params_add_twice_tensor(f))                                              \
    X(params_add_tape_tensor, TG_ERR_TAPE,                                     \
      "tg_params_add: \"y\" belongs to a tape; parameters must be caller-owned", \
      tg_params_add(&f->ps, "y", f->y))                                        \
    X(params_add_full, TG_ERR_VALUE,                                           \
      "tg_params_add: cannot add \"p64\": the list is full (64 parameters)",   \
      params_add_full(f))                                                      \
    X(params_add_garbage_count, TG_ERR_VALUE,                                  \
      "tg_params_add: parameter list has count -1 (start from a zeroed tg_params)", \
      params_garbage_count(f))                                                 \
    X(params_zero_grad_null, TG_ERR_NULL, "tg_params_zero_grad: parameter list is NULL", \
      tg_params_zero_grad(NULL))                                               \
    X(params_save_null, TG_ERR_NULL, "tg_params_save: parameter list is NULL", \
      tg_params_save(NULL, "/tmp"))                                            \
    X(params_save_null_dir, TG_ERR_NULL, "tg_params_save: directory is NULL",  \
      tg_params_save(&f->ps, NULL))                                            \
    X(params_save_empty_dir, TG_ERR_VALUE, "tg_params_save: directory is empty", \
      tg_params_save(&f->ps, ""))                                              \
    X(params_save_file_as_dir, TG_ERR_IO,                                      \
      "tg_params_save: '/dev/null' exists and is not a directory",             \
      tg_params_save(&f->ps, "/dev/null"))                                     \
    X(params_save_cannot_create, TG_ERR_IO,                                    \
      "tg_params_save: cannot create directory '/dev/null/sub': Not a directory", \
      tg_params_save(&f->ps, "/dev/null/sub"))                                 \
    X(params_load_null_dir, TG_ERR_NULL, "tg_params_load: directory is NULL",  \
      tg_params_load(&f->ps, NULL))                                            \
    X(params_load_missing_dir, TG_ERR_IO,                                      \
      "tg_params_load: cannot open directory '" NODIR "': No such file or directory", \
      tg_params_load(&f->ps, NODIR))                                           \
    X(params_load_not_dir, TG_ERR_IO, "tg_params_load: '/dev/null' is not a directory", \
      tg_params_load(&f->ps, "/dev/null"))                                     \
    X(params_load_missing_file, TG_ERR_IO,                                     \
      "tg_params_load: parameter \"w\": tg_load_npy: cannot open",             \
      params_load_missing_file(f))                                             \
    X(params_load_shape, TG_ERR_SHAPE, "has shape (4,) but parameter \"w\" has shape (5,)", \
      params_load_shape(f))                                                    \
    X(params_load_dtype, TG_ERR_DTYPE, "holds float64 but parameter \"w\" is float32", \
      params_load_dtype(f))                                                    \
    X(params_load_truncated, TG_ERR_FORMAT,                                    \
      "tg_params_load: parameter \"w\": tg_load_npy: ",                        \
      params_load_truncated(f))                                                \
    X(quadratic_init_null, TG_ERR_NULL, "tg_quadratic_init: model is NULL",    \
      tg_quadratic_init(NULL, F64, 1, 1))                                      \
    X(quadratic_init_dtype, TG_ERR_DTYPE, "tg_quadratic_init: unknown dtype 15", \
      quadratic_init_with(f, (tg_dtype)15))                                    \
    X(quadratic_init_int, TG_ERR_DTYPE, "tg_quadratic_init: dtype is int32; this op needs a float dtype", \
      quadratic_init_with(f, TG_INT32))                                        \
    X(quadratic_forward_null, TG_ERR_NULL, "tg_quadratic_forward: model is NULL", \
      tr(tg_quadratic_forward(f->T, NULL, f->leaf)))                           \
    X(quadratic_forward_uninit, TG_ERR_VALUE,                                  \
      "tg_quadratic_forward: model is not initialised", quadratic_uninitialised(f)) \
    X(quadratic_params_null, TG_ERR_NULL, "tg_quadratic_params: model is NULL", \
      tg_quadratic_params(NULL, &f->ps))                                       \
    X(quadratic_params_uninit, TG_ERR_VALUE,                                   \
      "tg_quadratic_params: model is not initialised", quadratic_params_uninitialised(f)) \
    X(linear_init_null, TG_ERR_NULL, "tg_linear_init: layer is NULL",          \
      tg_linear_init(NULL, 2, 3, F64, &f->rng))                                \
    X(linear_init_null_rng, TG_ERR_NULL, "tg_linear_init: rng is NULL",        \
      linear_init_with(f, 2, 3, F64, NULL))                                \
    X(linear_init_zero, TG_ERR_VALUE,                                          \
      "tg_linear_init: sizes in = 0 and out = 3 must be positive",             \
      linear_init_with(f, 0, 3, F64, &f->rng))                             \
    X(linear_init_negative, TG_ERR_VALUE,                                      \
      "tg_linear_init: sizes in = 2 and out = -3 must be positive",            \
      linear_init_with(f, 2, -3, F64, &f->rng))                            \
    X(linear_init_dtype, TG_ERR_DTYPE, "tg_linear_init: unknown dtype 6",      \
      linear_init_with(f, 2, 3, (tg_dtype)6, &f->rng))                     \
    X(linear_init_overflow, TG_ERR_OVERFLOW,                                   \
      "tg_linear_init: shape (1099511627776,1099511627776) has too many elements", \
      linear_init_overflow(f))                                                 \
    X(linear_forward_null, TG_ERR_NULL, "tg_linear_forward: layer is NULL",    \
      tr(tg_linear_forward(f->T, NULL, f->a)))                                 \
    X(linear_forward_uninit, TG_ERR_VALUE, "tg_linear_forward: layer is not initialised", \
      linear_uninitialised(f))                                                 \
    X(linear_forward_shape, TG_ERR_SHAPE,                                      \
      "tg_linear_forward: x has shape (5,); expected (batch, 4) or (4,)",      \
      tr(tg_linear_forward(f->T, &f->lin, f->b)))                              \
    X(linear_forward_0d, TG_ERR_SHAPE,                                         \
      "tg_linear_forward: x has shape (); expected (batch, 4) or (4,)",        \
      tr(tg_linear_forward(f->T, &f->lin, f->s)))                              \
    X(linear_forward_dtype, TG_ERR_DTYPE,                                      \
      "tg_linear_forward: x is float32 but the layer is float64",              \
      tr(tg_linear_forward(f->T, &f->lin, f->h)))                              \
    X(linear_params_null_prefix, TG_ERR_NULL, "tg_linear_params: prefix is NULL", \
      tg_linear_params(&f->lin, NULL, &f->ps))                                 \
    X(linear_params_long_prefix, TG_ERR_VALUE, "tg_linear_params: prefix \"", \
      tg_linear_params(&f->lin, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", \
                       &f->ps))                                                \
    X(linear_params_uninit, TG_ERR_VALUE, "tg_linear_params: layer is not initialised", \
      linear_params_uninitialised(f))                                          \
    X(activate_unknown, TG_ERR_VALUE, "tg_activate: unknown activation 9",     \
      tr(tg_activate(f->T, (tg_activation)9, f->leaf)))                        \
    X(mlp_init_null, TG_ERR_NULL, "tg_mlp_init: network is NULL",              \
      tg_mlp_init(NULL, 2, (const int64_t[]){2, 2}, TG_ACT_RELU, F64, &f->rng)) \
    X(mlp_init_null_sizes, TG_ERR_NULL, "tg_mlp_init: sizes is NULL",          \
      mlp_init_with(f, 2, NULL, TG_ACT_RELU, F64))                             \
    X(mlp_init_one_size, TG_ERR_VALUE,                                         \
      "tg_mlp_init: 1 sizes give 0 layers; between 1 and 16 are allowed",      \
      mlp_init_with(f, 1, (const int64_t[]){2}, TG_ACT_RELU, F64))             \
    X(mlp_init_many_sizes, TG_ERR_VALUE, "tg_mlp_init: 18 sizes give 17 layers", \
      mlp_init_with(f, 18, (const int64_t[18]){0}, TG_ACT_RELU, F64))          \
    X(mlp_init_zero_size, TG_ERR_VALUE, "tg_mlp_init: sizes[1] is 0; sizes must be positive", \
      mlp_init_with(f, 3, (const int64_t[]){4, 0, 2}, TG_ACT_RELU, F64))       \
    X(mlp_init_activation, TG_ERR_VALUE, "tg_mlp_init: unknown activation 7",  \
      mlp_init_with(f, 2, (const int64_t[]){4, 2}, (tg_activation)7, F64))     \
    X(mlp_init_dtype, TG_ERR_DTYPE, "unknown dtype 33",                        \
      mlp_init_with(f, 2, (const int64_t[]){4, 2}, TG_ACT_RELU, (tg_dtype)33)) \
    X(mlp_init_bool, TG_ERR_DTYPE, "tg_linear_init: dtype is bool; this op needs a float dtype", \
      mlp_init_with(f, 2, (const int64_t[]){4, 2}, TG_ACT_RELU, TG_BOOL))      \
    X(mlp_forward_null, TG_ERR_NULL, "tg_mlp_forward: network is NULL",        \
      tr(tg_mlp_forward(f->T, NULL, f->a)))                                    \
    X(mlp_forward_uninit, TG_ERR_VALUE, "tg_mlp_forward: network is not initialised", \
      mlp_uninitialised(f))                                                    \
    X(mlp_forward_shape, TG_ERR_SHAPE, "x has shape (5,); expected (batch, 4) or (4,)", \
      tr(tg_mlp_forward(f->T, &f->mlp, f->b)))                                 \
    X(mlp_params_null, TG_ERR_NULL, "tg_mlp_params: network is NULL",          \
      tg_mlp_params(NULL, &f->ps))                                             \
    X(mlp_params_null_list, TG_ERR_NULL, "tg_mlp_params: parameter list is NULL", \
      tg_mlp_params(&f->mlp, NULL))                                            \
    X(mlp_params_uninit, TG_ERR_VALUE, "tg_mlp_params: network is not initialised", \
      mlp_params_uninitialised(f))                                             \
    X(mlp_params_too_many, TG_ERR_VALUE,                                       \
      "tg_mlp_params: 4 more parameters do not fit in a list holding 61 of 64", \
      mlp_params_too_many(f))                                                  \
    X(half_sse_shape, TG_ERR_SHAPE,                                            \
      "tg_loss_half_sse: pred (3,4) and target (4,) differ in shape",          \
      tr(tg_loss_half_sse(f->T, f->a, f->v)))                                  \
    X(half_sse_dtype, TG_ERR_DTYPE,                                            \
      "tg_loss_half_sse: pred is float64 but target is float32",               \
      tr(tg_loss_half_sse(f->T, f->leaf, f->lf32)))                            \
    X(mse_shape, TG_ERR_SHAPE, "tg_loss_mse: pred (3,) and target (3,4) differ in shape", \
      tr(tg_loss_mse(f->T, f->leaf, f->a)))                                    \
    X(mse_dtype, TG_ERR_DTYPE, "tg_loss_mse: pred is float32 but target is float64", \
      tr(tg_loss_mse(f->T, f->lf32, f->leaf)))                                 \
    X(log_softmax_0d, TG_ERR_SHAPE,                                            \
      "tg_log_softmax: x has shape (); it needs a non-empty last axis",        \
      tr(tg_log_softmax(f->T, f->s)))                                          \
    X(log_softmax_empty_axis, TG_ERR_SHAPE,                                    \
      "tg_log_softmax: x has shape (3,0); it needs a non-empty last axis",     \
      tr(tg_log_softmax(f->T, f->z)))                                          \
    X(cross_entropy_null_labels, TG_ERR_NULL, "tg_loss_cross_entropy: labels is NULL", \
      tr(tg_loss_cross_entropy(f->T, f->a, NULL)))                             \
    X(cross_entropy_1d, TG_ERR_SHAPE,                                          \
      "tg_loss_cross_entropy: logits have shape (3,); expected (batch, classes)", \
      tr(tg_loss_cross_entropy(f->T, f->leaf, f->lab_ok)))                     \
    X(cross_entropy_label_big, TG_ERR_INDEX,                                   \
      "tg_loss_cross_entropy: row 1 has label 4, outside [0, 4)",              \
      tr(tg_loss_cross_entropy(f->T, f->a, f->lab_big)))                       \
    X(cross_entropy_label_negative, TG_ERR_INDEX,                              \
      "tg_loss_cross_entropy: row 0 has label -1, outside [0, 4)",             \
      tr(tg_loss_cross_entropy(f->T, f->a, f->lab_neg)))                       \
    X(cross_entropy_float_labels, TG_ERR_DTYPE,                                \
      "tg_loss_cross_entropy: labels are float64; they must be int32 or int64", \
      tr(tg_loss_cross_entropy(f->T, f->a, f->v3)))                            \
    X(cross_entropy_labels_shape, TG_ERR_SHAPE,                                \
      "tg_loss_cross_entropy: labels have shape (3,); logits (0,3) need (0,)",  \
      tr(tg_loss_cross_entropy(f->T, f->e, f->lab_ok)))                        \
    X(accuracy_null, TG_ERR_NULL, "tg_accuracy: logits is NULL",               \
      acc(tg_accuracy(NULL, f->lab_ok)))                                       \
    X(accuracy_null_labels, TG_ERR_NULL, "tg_accuracy: labels is NULL",        \
      acc(tg_accuracy(f->a, NULL)))                                            \
    X(accuracy_3d, TG_ERR_SHAPE,                                               \
      "tg_accuracy: logits have shape (2,3,4); expected (batch, classes)",     \
      acc(tg_accuracy(f->c234, f->lab_ok)))                                    \
    X(accuracy_label_big, TG_ERR_INDEX, "tg_accuracy: row 1 has label 4, outside [0, 4)", \
      acc(tg_accuracy(f->a, f->lab_big)))

#define OPTIM_CASES(X)                                                         \
    X(sgd_init_null, TG_ERR_NULL, "tg_sgd_init: optimiser is NULL",            \
      tg_sgd_init(NULL, &f->ps, 0.1, 0, 0, false))                             \
    X(sgd_init_null_params, TG_ERR_NULL, "tg_sgd_init: parameter list is NULL", \
      tg_sgd_init(&f->sgd, NULL, 0.1, 0, 0, false))                   \
    X(sgd_init_lr, TG_ERR_VALUE, "tg_sgd_init: lr = -1 must be finite and >= 0", \
      sgd_init_with(f, -1, 0, 0, false))                                       \
    X(sgd_init_lr_nan, TG_ERR_VALUE, "tg_sgd_init: lr = nan must be finite and >= 0", \
      sgd_init_with(f, DNAN, 0, 0, false))                                     \
    X(sgd_init_momentum, TG_ERR_VALUE,                                         \
      "tg_sgd_init: momentum = -0.5 must be finite and >= 0",                  \
      sgd_init_with(f, 0.1, -0.5, 0, false))                                   \
    X(sgd_init_weight_decay, TG_ERR_VALUE,                                     \
      "tg_sgd_init: weight_decay = inf must be finite and >= 0",               \
      sgd_init_with(f, 0.1, 0, DINF, false))                                   \
    X(sgd_init_nesterov, TG_ERR_VALUE, "tg_sgd_init: Nesterov momentum needs momentum > 0", \
      sgd_init_with(f, 0.1, 0, 0, true))                                       \
    X(sgd_init_not_contiguous, TG_ERR_VALUE,                                   \
      "tg_sgd_init: parameter \"wt\" is not contiguous", sgd_init_not_contiguous(f)) \
    X(sgd_step_null, TG_ERR_NULL, "tg_sgd_step: optimiser is NULL", tg_sgd_step(NULL)) \
    X(sgd_step_uninit, TG_ERR_VALUE, "tg_sgd_step: optimiser is not initialised", \
      sgd_step_uninitialised(f))                                               \
    X(sgd_step_added_after_init, TG_ERR_VALUE,                                 \
      "tg_sgd_step: parameter \"b\" was added to the list after init",         \
      sgd_step_added_after_init(f))                                            \
    X(adam_init_null, TG_ERR_NULL, "tg_adam_init: optimiser is NULL",          \
      tg_adam_init(NULL, &f->ps, 0.1, 0.9, 0.999, 1e-8, 0, false))             \
    X(adam_init_null_params, TG_ERR_NULL, "tg_adam_init: parameter list is NULL", \
      tg_adam_init(&f->adam, NULL, 0.1, 0.9, 0.999, 1e-8, 0, false))  \
    X(adam_init_lr, TG_ERR_VALUE, "tg_adam_init: lr = inf must be finite and >= 0", \
      adam_init_with(f, DINF, 0.9, 0.999, 1e-8, 0))                            \
    X(adam_init_beta1, TG_ERR_VALUE, "tg_adam_init: beta1 = 1 is outside [0, 1)", \
      adam_init_with(f, 0.1, 1.0, 0.999, 1e-8, 0))                             \
    X(adam_init_beta2, TG_ERR_VALUE, "tg_adam_init: beta2 = -0.1 is outside [0, 1)", \
      adam_init_with(f, 0.1, 0.9, -0.1, 1e-8, 0))                              \
    X(adam_init_eps, TG_ERR_VALUE, "tg_adam_init: eps = -1 must be finite and >= 0", \
      adam_init_with(f, 0.1, 0.9, 0.999, -1, 0))                               \
    X(adam_init_weight_decay, TG_ERR_VALUE,                                    \
      "tg_adam_init: weight_decay = nan must be finite and >= 0",              \
      adam_init_with(f, 0.1, 0.9, 0.999, 1e-8, DNAN))                          \
    X(adam_step_null, TG_ERR_NULL, "tg_adam_step: optimiser is NULL", tg_adam_step(NULL)) \
    X(adam_step_uninit, TG_ERR_VALUE, "tg_adam_step: optimiser is not initialised", \
      adam_step_uninitialised(f))                                              \
    X(adam_step_added_after_init, TG_ERR_VALUE,                                \
      "tg_adam_step: parameter \"b\" was added to the list after init",        \
      adam_step_added_after_init(f))

/* Joining and reordering (tensor/join.c, autograd/join.c). */
static tg_tensor *pieces[4]; /* split's and chunk's out (no case succeeds) */

#define JOIN_CASES(X)                                                          \
    X(concat_n0, TG_ERR_VALUE, "tg_concat: needs at least one tensor (n is 0)", \
      tr(tg_concat(0, (const tg_tensor *[]){f->a}, 0)))                        \
    X(concat_null_array, TG_ERR_NULL, "tg_concat: tensors is NULL",            \
      tr(tg_concat(2, NULL, 0)))                                               \
    X(concat_dtype, TG_ERR_DTYPE,                                              \
      "tg_concat: tensor 1 is float32 and tensor 0 float64; convert one with tg_cast", \
      tr(tg_concat(2, (const tg_tensor *[]){f->a, f->h}, 0)))                  \
    X(concat_shape, TG_ERR_SHAPE,                                              \
      "tg_concat: tensor 1 has shape (5,) and tensor 0 (3,4): they must match except on the axis", \
      tr(tg_concat(2, (const tg_tensor *[]){f->a, f->b}, 0)))                  \
    X(concat_axis, TG_ERR_AXIS, "tg_concat: axis 2 out of range for 2 dimensions", \
      tr(tg_concat(2, (const tg_tensor *[]){f->a, f->a}, 2)))                  \
    X(concat_scalars, TG_ERR_AXIS, "tg_concat: axis 0 out of range for 0 dimensions", \
      tr(tg_concat(2, (const tg_tensor *[]){f->s, f->s}, 0)))                  \
    X(stack_shape, TG_ERR_SHAPE,                                               \
      "tg_stack: tensor 1 has shape (4,) and tensor 0 (3,4): stacked tensors must have one shape", \
      tr(tg_stack(2, (const tg_tensor *[]){f->a, f->v}, 0)))                   \
    X(stack_axis, TG_ERR_AXIS, "tg_stack: axis 3 out of range for 3 dimensions", \
      tr(tg_stack(1, (const tg_tensor *[]){f->a}, 3)))                         \
    X(stack_9d, TG_ERR_VALUE,                                                  \
      "tg_stack: the result would have 9 dimensions (at most 8 allowed)",      \
      tr(tg_stack(1, (const tg_tensor *[]){f->d8}, 0)))                        \
    X(split_sizes, TG_ERR_SHAPE,                                               \
      "tg_split: the sizes add up to 2, not 3, the size of axis 0",            \
      tg_split(f->a, 0, 2, (const int64_t[]){1, 1}, pieces))                   \
    X(split_negative, TG_ERR_VALUE, "tg_split: size -1 of piece 0 is negative", \
      tg_split(f->a, 1, 2, (const int64_t[]){-1, 5}, pieces))                  \
    X(split_null_sizes, TG_ERR_NULL, "tg_split: sizes is NULL",                \
      tg_split(f->a, 0, 2, NULL, pieces))                                      \
    X(split_null_out, TG_ERR_NULL, "tg_split: out is NULL",                    \
      tg_split(f->a, 0, 1, (const int64_t[]){3}, NULL))                        \
    X(chunk_n0, TG_ERR_VALUE, "tg_chunk: needs at least one piece (n is 0)",   \
      tg_chunk(f->a, 0, 0, pieces))                                            \
    X(chunk_axis, TG_ERR_AXIS, "tg_chunk: axis -3 out of range for 2 dimensions", \
      tg_chunk(f->a, -3, 2, pieces))                                           \
    X(pad_null_widths, TG_ERR_NULL, "tg_pad: widths is NULL",                  \
      tr(tg_pad(f->a, NULL, 0)))                                               \
    X(pad_negative, TG_ERR_VALUE, "tg_pad: negative width -1 before axis 0",   \
      tr(tg_pad(f->a, (const int64_t[]){-1, 0, 0, 0}, 0)))                     \
    X(pad_overflow, TG_ERR_OVERFLOW,                                           \
      "tg_pad: axis 0 padded to 9223372036854775807 + 5 + 0 elements overflows", \
      tr(tg_pad(f->b, (const int64_t[]){INT64_MAX, 0}, 0)))                    \
    X(flip_axis, TG_ERR_AXIS, "tg_flip: axis 2 out of range for 2 dimensions", \
      tr(tg_flip(f->a, 2)))                                                    \
    X(tile_9, TG_ERR_VALUE, "tg_tile: 9 repetitions (at most 8, one per dimension)", \
      tr(tg_tile(f->a, 9, nine)))                                              \
    X(tile_negative, TG_ERR_VALUE, "tg_tile: negative repetition -1 (reps[0])", \
      tr(tg_tile(f->a, 1, (const int64_t[]){-1})))                             \
    X(tile_null_reps, TG_ERR_NULL, "tg_tile: reps is NULL", tr(tg_tile(f->a, 2, NULL))) \
    X(repeat_negative, TG_ERR_VALUE, "tg_repeat: negative repeat count -2",    \
      tr(tg_repeat(f->a, 0, -2)))                                              \
    X(repeat_axis, TG_ERR_AXIS, "tg_repeat: axis 0 out of range for 0 dimensions", \
      tr(tg_repeat(f->s, 0, 2)))                                               \
    X(ad_concat_dtype, TG_ERR_DTYPE,                                           \
      "tg_ad_concat: tensor 1 is float32 and tensor 0 float64; convert one with tg_ad_cast", \
      tr(tg_ad_concat(f->T, 2, (tg_tensor *[]){f->leaf, f->lf32}, 0)))         \
    X(ad_stack_shape, TG_ERR_SHAPE, "tg_ad_stack: tensor 1 has shape (4,)",    \
      tr(tg_ad_stack(f->T, 2, (tg_tensor *[]){f->leaf, f->v}, 0)))             \
    X(ad_split_sizes, TG_ERR_SHAPE,                                            \
      "tg_ad_split: the sizes add up to more than 3, the size of axis 0",      \
      tg_ad_split(f->T, f->leaf, 0, 2, (const int64_t[]){2, 2}, pieces))       \
    X(ad_chunk_n0, TG_ERR_VALUE, "tg_ad_chunk: needs at least one piece (n is -1)", \
      tg_ad_chunk(f->T, f->leaf, 0, -1, pieces))                               \
    X(ad_pad_negative, TG_ERR_VALUE, "tg_ad_pad: negative width -3 after axis 0", \
      tr(tg_ad_pad(f->T, f->leaf, (const int64_t[]){0, -3}, 0)))               \
    X(ad_flip_axis, TG_ERR_AXIS, "tg_ad_flip: axis 1 out of range for 1 dimensions", \
      tr(tg_ad_flip(f->T, f->leaf, 1)))                                        \
    X(ad_tile_negative, TG_ERR_VALUE, "tg_ad_tile: negative repetition count -1", \
      tr(tg_ad_tile(f->T, f->leaf, -1, NULL)))                                 \
    X(ad_repeat_negative, TG_ERR_VALUE, "tg_ad_repeat: negative repeat count -1", \
      tr(tg_ad_repeat(f->T, f->leaf, 0, -1)))

/* Pooling (tensor/pool.c, autograd/pool.c): op 0 max, 1 avg, 2 adaptive
 * (kernel[0], kernel[1] the output size) on f->T over x seen as (1, 1,
 * rows, columns) (a 1-d x as one column), the view freed here. */
static int pool_on(fx *f, const tg_tensor *x, int op, const int64_t *kernel,
                   const int64_t *stride, const int64_t *padding)
{
    const int64_t *sh = tg_shape(x);
    int64_t four[4] = {1, 1, sh[0], tg_ndim(x) > 1 ? sh[1] : 1};
    tg_tensor *x4 = tg_reshape(x, 4, four);
    tg_tensor *y = op == 0   ? tg_ad_max_pool2d(f->T, x4, kernel, stride, padding)
                   : op == 1 ? tg_ad_avg_pool2d(f->T, x4, kernel, stride, padding)
                             : tg_ad_adaptive_avg_pool2d(f->T, x4, kernel[0], kernel[1]);
    int rc = y ? TG_OK : tg_last_error();
    tg_free(x4);
    return rc;
}

#define POOL_CASES(X)                                                          \
    X(max_pool_null_kernel, TG_ERR_NULL, "tg_ad_max_pool2d: kernel is NULL",   \
      tr(tg_ad_max_pool2d(f->T, f->c234, NULL, NULL, NULL)))                   \
    X(max_pool_rank, TG_ERR_SHAPE,                                             \
      "tg_ad_max_pool2d: x has shape (2,3,4); expected (batch, channels, height, width)", \
      tr(tg_ad_max_pool2d(f->T, f->c234, (const int64_t[]){2, 2}, NULL, NULL))) \
    X(adaptive_pool_rank, TG_ERR_SHAPE,                                        \
      "tg_ad_adaptive_avg_pool2d: x has shape (3,4); expected (batch, channels, height, width)", \
      tr(tg_ad_adaptive_avg_pool2d(f->T, f->a, 1, 1)))                         \
    X(avg_pool_int, TG_ERR_DTYPE,                                              \
      "tg_ad_avg_pool2d: x is int32; this op needs a float dtype (tg_ad_cast to float32 or float64 first)", \
      pool_on(f, f->n32, 1, (const int64_t[]){1, 1}, NULL, NULL))              \
    X(avg_pool_kernel, TG_ERR_VALUE, "tg_ad_avg_pool2d: kernel (0,1) must be positive", \
      pool_on(f, f->i4, 1, (const int64_t[]){0, 1}, NULL, NULL))               \
    X(max_pool_stride, TG_ERR_VALUE, "tg_ad_max_pool2d: stride (0,1) must be positive", \
      pool_on(f, f->i4, 0, (const int64_t[]){2, 2}, (const int64_t[]){0, 1}, NULL)) \
    X(max_pool_negative_padding, TG_ERR_VALUE,                                 \
      "tg_ad_max_pool2d: padding (0,-1) must not be negative",                 \
      pool_on(f, f->i4, 0, (const int64_t[]){2, 2}, NULL, (const int64_t[]){0, -1})) \
    X(max_pool_padding, TG_ERR_VALUE,                                          \
      "tg_ad_max_pool2d: padding (2,0) is more than half the kernel (2,2)",    \
      pool_on(f, f->i4, 0, (const int64_t[]){2, 2}, NULL, (const int64_t[]){2, 0})) \
    X(avg_pool_kernel_too_big, TG_ERR_SHAPE,                                   \
      "tg_ad_avg_pool2d: kernel (5,5) is larger than the input (4,4) with padding (0,0)", \
      pool_on(f, f->i4, 1, (const int64_t[]){5, 5}, NULL, NULL))               \
    X(adaptive_pool_size, TG_ERR_VALUE,                                        \
      "tg_ad_adaptive_avg_pool2d: output size (2,0) must be positive",         \
      pool_on(f, f->i4, 2, (const int64_t[]){2, 0}, NULL, NULL))               \
    X(adaptive_pool_overflow, TG_ERR_OVERFLOW,                                 \
      "tg_ad_adaptive_avg_pool2d: output size (4611686018427387903,1) times the input's (4,4) overflows", \
      pool_on(f, f->i4, 2, (const int64_t[]){INT64_MAX / 2, 1}, NULL, NULL))

/* Convolutions (autograd/conv.c): kind 0 conv2d, 1 conv1d, 2
 * conv_transpose2d on f->T, of float64 ones x and w of ranks nx and nw and
 * the given shapes, with a bias (nbias,) when nbias >= 0; all freed here. */
static int conv_on(fx *f, int kind, int nx, const int64_t *xs, int nw, const int64_t *ws,
                   int64_t nbias, const tg_conv_args *args, const int64_t *output_padding)
{
    tg_tensor *x = tg_ones(F64, nx, xs), *w = tg_ones(F64, nw, ws);
    tg_tensor *b = nbias >= 0 ? tg_ones(F64, SH(nbias)) : NULL;
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(w);
    ck_assert(nbias < 0 || b);
    tg_tensor *y = kind == 0   ? tg_ad_conv2d(f->T, x, w, b, args)
                   : kind == 1 ? tg_ad_conv1d(f->T, x, w, b, args)
                               : tg_ad_conv_transpose2d(f->T, x, w, b, args, output_padding);
    int rc = y ? TG_OK : tg_last_error();
    tg_free(x);
    tg_free(w);
    tg_free(b);
    return rc;
}

/* A valid geometry (x (1, 2, 5[, 5]), w (4, 2, 3[, 3]); transposed: w (2,
 * 4, 3, 3)) in the dtypes given to x, w and the bias (4,). */
static int conv_dtypes(fx *f, int kind, tg_dtype xdt, tg_dtype wdt, tg_dtype bdt)
{
    int n = kind == 1 ? 3 : 4;
    tg_tensor *x = tg_ones(xdt, n, (const int64_t[]){1, 2, 5, 5});
    tg_tensor *w = tg_ones(wdt, n, kind == 2 ? (const int64_t[]){2, 4, 3, 3}
                                             : (const int64_t[]){4, 2, 3, 3});
    tg_tensor *b = tg_ones(bdt, SH(4));
    ck_assert(x && w && b);
    tg_tensor *y = kind == 0   ? tg_ad_conv2d(f->T, x, w, b, NULL)
                   : kind == 1 ? tg_ad_conv1d(f->T, x, w, b, NULL)
                               : tg_ad_conv_transpose2d(f->T, x, w, b, NULL, NULL);
    int rc = y ? TG_OK : tg_last_error();
    tg_free(x);
    tg_free(w);
    tg_free(b);
    return rc;
}

#define X4 4, (const int64_t[]) /* a 4-d shape for conv_on */
#define X3 3, (const int64_t[]) /* a 3-d shape */
#define CARGS(...) (&(tg_conv_args){__VA_ARGS__})
#define OPAD(...) ((const int64_t[]){__VA_ARGS__})

#define CONV_CASES(X)                                                          \
    X(conv2d_rank_x, TG_ERR_SHAPE,                                             \
      "tg_ad_conv2d: x has shape (2,3,4); want 4 axes (N, C, H, W)",           \
      tr(tg_ad_conv2d(f->T, f->c234, f->c234, NULL, NULL)))                    \
    X(conv2d_rank_w, TG_ERR_SHAPE,                                             \
      "tg_ad_conv2d: w has shape (4,2,3); want 4 axes (O, C/groups, KH, KW)",  \
      conv_on(f, 0, X4{1, 2, 5, 5}, X3{4, 2, 3}, -1, NULL, NULL))              \
    X(conv2d_int, TG_ERR_DTYPE,                                                \
      "tg_ad_conv2d: x is int32; convolutions take float32 or float64",        \
      tr(tg_ad_conv2d(f->T, f->n32, f->n32, NULL, NULL)))                      \
    X(conv2d_dtype, TG_ERR_DTYPE, "tg_ad_conv2d: x is float32 but w is float64 (use ", \
      conv_dtypes(f, 0, F32, F64, F32))                                        \
    X(conv2d_bias_dtype, TG_ERR_DTYPE, "tg_ad_conv2d: x is float64 but bias is float32", \
      conv_dtypes(f, 0, F64, F64, F32))                                        \
    X(conv2d_channels, TG_ERR_SHAPE,                                           \
      "tg_ad_conv2d: x has 2 channels but w takes 3 per group with groups 1 "  \
      "(want C = groups * w.shape[1])",                                        \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 3, 3, 3}, -1, NULL, NULL))           \
    X(conv2d_channels_groups, TG_ERR_SHAPE,                                    \
      "tg_ad_conv2d: x has 2 channels but w takes 2 per group with groups 2",  \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 2, 3, 3}, -1,                        \
              CARGS({1, 1}, {0, 0}, {1, 1}, 2, false), NULL))                  \
    X(conv2d_groups_not_dividing, TG_ERR_SHAPE,                                \
      "tg_ad_conv2d: w has 3 output channels, not a multiple of groups 2",     \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{3, 1, 3, 3}, -1,                        \
              CARGS({1, 1}, {0, 0}, {1, 1}, 2, false), NULL))                  \
    X(conv2d_groups_0, TG_ERR_VALUE, "tg_ad_conv2d: groups is 0; it must be at least 1", \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 2, 3, 3}, -1,                        \
              CARGS({1, 1}, {0, 0}, {1, 1}, 0, false), NULL))                  \
    X(conv2d_stride_0, TG_ERR_VALUE, "tg_ad_conv2d: stride[1] is 0; it must be at least 1", \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 2, 3, 3}, -1,                        \
              CARGS({1, 0}, {0, 0}, {1, 1}, 1, false), NULL))                  \
    X(conv2d_negative_padding, TG_ERR_VALUE,                                   \
      "tg_ad_conv2d: padding[0] is -1; it must not be negative",               \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 2, 3, 3}, -1,                        \
              CARGS({1, 1}, {-1, 0}, {1, 1}, 1, false), NULL))                 \
    X(conv2d_dilation_0, TG_ERR_VALUE, "tg_ad_conv2d: dilation[0] is 0; it must be at least 1", \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 2, 3, 3}, -1,                        \
              CARGS({1, 1}, {0, 0}, {0, 1}, 1, false), NULL))                  \
    X(conv2d_same_stride_2, TG_ERR_VALUE,                                      \
      "tg_ad_conv2d: padding 'same' needs stride 1, got stride[0] 2",          \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 2, 3, 3}, -1,                        \
              CARGS({2, 2}, {0, 0}, {1, 1}, 1, true), NULL))                   \
    X(conv2d_kernel_too_big, TG_ERR_SHAPE,                                     \
      "tg_ad_conv2d: the kernel's height 7 (dilated) is larger than the padded input's 6", \
      conv_on(f, 0, X4{1, 2, 4, 5}, X4{4, 2, 7, 3}, -1,                        \
              CARGS({1, 1}, {1, 1}, {1, 1}, 1, false), NULL))                  \
    X(conv2d_dilated_kernel_too_big, TG_ERR_SHAPE,                             \
      "tg_ad_conv2d: the kernel's width 7 (dilated) is larger than the padded input's 5", \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 2, 3, 3}, -1,                        \
              CARGS({1, 1}, {0, 0}, {1, 3}, 1, false), NULL))                  \
    X(conv2d_kernel_0, TG_ERR_SHAPE, "tg_ad_conv2d: the kernel's height is 0", \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 2, 0, 3}, -1, NULL, NULL))           \
    X(conv2d_bias_shape, TG_ERR_SHAPE,                                         \
      "tg_ad_conv2d: bias has shape (3,); want (4,), one per output channel",  \
      conv_on(f, 0, X4{1, 2, 5, 5}, X4{4, 2, 3, 3}, 3, NULL, NULL))            \
    X(conv2d_tape_input_without_tape, TG_ERR_TAPE,                             \
      "tg_ad_conv2d: the tape is NULL but an input belongs to a tape",         \
      tr(tg_ad_conv2d(NULL, f->y, f->leaf, NULL, NULL)))                       \
    X(conv1d_rank_x, TG_ERR_SHAPE,                                             \
      "tg_ad_conv1d: x has shape (3,4); want 3 axes (N, C, L)",                \
      tr(tg_ad_conv1d(f->T, f->a, f->c234, NULL, NULL)))                       \
    X(conv1d_rank_w, TG_ERR_SHAPE,                                             \
      "tg_ad_conv1d: w has shape (4,2,3,3); want 3 axes (O, C/groups, K)",     \
      conv_on(f, 1, X3{1, 2, 5}, X4{4, 2, 3, 3}, -1, NULL, NULL))              \
    X(conv1d_int, TG_ERR_DTYPE,                                                \
      "tg_ad_conv1d: x is int32; convolutions take float32 or float64",        \
      tr(tg_ad_conv1d(f->T, f->n32, f->c234, NULL, NULL)))                     \
    X(conv1d_dtype, TG_ERR_DTYPE, "tg_ad_conv1d: x is float64 but w is float32 (use ", \
      conv_dtypes(f, 1, F64, F32, F64))                                        \
    X(conv1d_channels, TG_ERR_SHAPE,                                           \
      "tg_ad_conv1d: x has 2 channels but w takes 3 per group with groups 1",  \
      conv_on(f, 1, X3{1, 2, 5}, X3{4, 3, 3}, -1, NULL, NULL))                 \
    X(conv1d_groups_not_dividing, TG_ERR_SHAPE,                                \
      "tg_ad_conv1d: w has 3 output channels, not a multiple of groups 2",     \
      conv_on(f, 1, X3{1, 4, 5}, X3{3, 2, 3}, -1,                              \
              CARGS({1, 1}, {0, 0}, {1, 1}, 2, false), NULL))                  \
    X(conv1d_groups_0, TG_ERR_VALUE, "tg_ad_conv1d: groups is 0; it must be at least 1", \
      conv_on(f, 1, X3{1, 2, 5}, X3{4, 2, 3}, -1,                              \
              CARGS({1, 1}, {0, 0}, {1, 1}, 0, false), NULL))                  \
    X(conv1d_stride_0, TG_ERR_VALUE, "tg_ad_conv1d: stride[0] is 0; it must be at least 1", \
      conv_on(f, 1, X3{1, 2, 5}, X3{4, 2, 3}, -1,                              \
              CARGS({0, 1}, {0, 0}, {1, 1}, 1, false), NULL))                  \
    X(conv1d_negative_padding, TG_ERR_VALUE,                                   \
      "tg_ad_conv1d: padding[0] is -2; it must not be negative",               \
      conv_on(f, 1, X3{1, 2, 5}, X3{4, 2, 3}, -1,                              \
              CARGS({1, 1}, {-2, 0}, {1, 1}, 1, false), NULL))                 \
    X(conv1d_dilation_0, TG_ERR_VALUE, "tg_ad_conv1d: dilation[0] is 0; it must be at least 1", \
      conv_on(f, 1, X3{1, 2, 5}, X3{4, 2, 3}, -1,                              \
              CARGS({1, 1}, {0, 0}, {0, 1}, 1, false), NULL))                  \
    X(conv1d_same_stride_2, TG_ERR_VALUE,                                      \
      "tg_ad_conv1d: padding 'same' needs stride 1, got stride[0] 2",          \
      conv_on(f, 1, X3{1, 2, 5}, X3{4, 2, 3}, -1,                              \
              CARGS({2, 1}, {0, 0}, {1, 1}, 1, true), NULL))                   \
    X(conv1d_kernel_too_big, TG_ERR_SHAPE,                                     \
      "tg_ad_conv1d: the kernel's length 8 (dilated) is larger than the padded input's 7", \
      conv_on(f, 1, X3{1, 2, 5}, X3{4, 2, 8}, -1,                              \
              CARGS({1, 1}, {1, 0}, {1, 1}, 1, false), NULL))                  \
    X(conv1d_bias_shape, TG_ERR_SHAPE,                                         \
      "tg_ad_conv1d: bias has shape (2,); want (4,), one per output channel",  \
      conv_on(f, 1, X3{1, 2, 5}, X3{4, 2, 3}, 2, NULL, NULL))                  \
    X(conv_transpose_rank_x, TG_ERR_SHAPE,                                     \
      "tg_ad_conv_transpose2d: x has shape (2,3,4); want 4 axes (N, C, H, W)", \
      tr(tg_ad_conv_transpose2d(f->T, f->c234, f->c234, NULL, NULL, NULL)))    \
    X(conv_transpose_rank_w, TG_ERR_SHAPE,                                     \
      "tg_ad_conv_transpose2d: w has shape (2,4,3); want 4 axes",              \
      conv_on(f, 2, X4{1, 2, 3, 3}, X3{2, 4, 3}, -1, NULL, NULL))              \
    X(conv_transpose_int, TG_ERR_DTYPE,                                        \
      "tg_ad_conv_transpose2d: x is int32; convolutions take float32 or float64", \
      tr(tg_ad_conv_transpose2d(f->T, f->n32, f->n32, NULL, NULL, NULL)))      \
    X(conv_transpose_dtype, TG_ERR_DTYPE,                                      \
      "tg_ad_conv_transpose2d: x is float32 but w is float64 (use ",           \
      conv_dtypes(f, 2, F32, F64, F32))                                        \
    X(conv_transpose_bias_dtype, TG_ERR_DTYPE,                                 \
      "tg_ad_conv_transpose2d: x is float32 but bias is float64",              \
      conv_dtypes(f, 2, F32, F32, F64))                                        \
    X(conv_transpose_channels, TG_ERR_SHAPE,                                   \
      "tg_ad_conv_transpose2d: x has 2 channels but w has 3 (w is (C, O/groups, KH, KW))", \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{3, 2, 2, 2}, -1, NULL, NULL))           \
    X(conv_transpose_groups_not_dividing, TG_ERR_SHAPE,                        \
      "tg_ad_conv_transpose2d: x's 3 channels are not a multiple of groups 2", \
      conv_on(f, 2, X4{1, 3, 3, 3}, X4{3, 1, 2, 2}, -1,                        \
              CARGS({1, 1}, {0, 0}, {1, 1}, 2, false), NULL))                  \
    X(conv_transpose_groups_0, TG_ERR_VALUE,                                   \
      "tg_ad_conv_transpose2d: groups is 0; it must be at least 1",            \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1,                        \
              CARGS({1, 1}, {0, 0}, {1, 1}, 0, false), NULL))                  \
    X(conv_transpose_stride_0, TG_ERR_VALUE,                                   \
      "tg_ad_conv_transpose2d: stride[0] is 0; it must be at least 1",         \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1,                        \
              CARGS({0, 1}, {0, 0}, {1, 1}, 1, false), NULL))                  \
    X(conv_transpose_negative_padding, TG_ERR_VALUE,                           \
      "tg_ad_conv_transpose2d: padding[1] is -1; it must not be negative",     \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1,                        \
              CARGS({1, 1}, {0, -1}, {1, 1}, 1, false), NULL))                 \
    X(conv_transpose_dilation_0, TG_ERR_VALUE,                                 \
      "tg_ad_conv_transpose2d: dilation[1] is 0; it must be at least 1",       \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1,                        \
              CARGS({1, 1}, {0, 0}, {1, 0}, 1, false), NULL))                  \
    X(conv_transpose_same, TG_ERR_VALUE,                                       \
      "tg_ad_conv_transpose2d: padding 'same' is not defined for a transposed convolution", \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1,                        \
              CARGS({1, 1}, {0, 0}, {1, 1}, 1, true), NULL))                   \
    X(conv_transpose_same_stride_2, TG_ERR_VALUE,                              \
      "tg_ad_conv_transpose2d: padding 'same' needs stride 1, got stride[0] 2", \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1,                        \
              CARGS({2, 2}, {0, 0}, {1, 1}, 1, true), NULL))                   \
    X(conv_transpose_output_padding, TG_ERR_VALUE,                             \
      "tg_ad_conv_transpose2d: output_padding[0] is 2; it must be at least 0 and smaller " \
      "than the stride (2) or the dilation (1)",                               \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1,                        \
              CARGS({2, 2}, {0, 0}, {1, 1}, 1, false), OPAD(2, 0)))            \
    X(conv_transpose_output_padding_stride_1, TG_ERR_VALUE,                    \
      "tg_ad_conv_transpose2d: output_padding[1] is 1; it must be at least 0 and smaller " \
      "than the stride (1) or the dilation (1)",                               \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1, NULL, OPAD(0, 1)))     \
    X(conv_transpose_output_padding_negative, TG_ERR_VALUE,                    \
      "tg_ad_conv_transpose2d: output_padding[0] is -1; it must be at least 0", \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1,                        \
              CARGS({2, 2}, {0, 0}, {1, 1}, 1, false), OPAD(-1, 0)))           \
    X(conv_transpose_padding_too_large, TG_ERR_SHAPE,                          \
      "tg_ad_conv_transpose2d: the result's height would be 0; padding[0] 2 is too large", \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, -1,                        \
              CARGS({1, 1}, {2, 0}, {1, 1}, 1, false), NULL))                  \
    X(conv_transpose_kernel_0, TG_ERR_SHAPE,                                   \
      "tg_ad_conv_transpose2d: the kernel's width is 0",                       \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 0}, -1, NULL, NULL))           \
    X(conv_transpose_empty_x, TG_ERR_SHAPE, "tg_ad_conv_transpose2d: x's height is 0", \
      conv_on(f, 2, X4{1, 2, 0, 3}, X4{2, 3, 2, 2}, -1, NULL, NULL))           \
    X(conv_transpose_bias_shape, TG_ERR_SHAPE,                                 \
      "tg_ad_conv_transpose2d: bias has shape (2,); want (6,), one per output channel", \
      conv_on(f, 2, X4{1, 2, 3, 3}, X4{2, 3, 2, 2}, 2,                         \
              CARGS({1, 1}, {0, 0}, {1, 1}, 2, false), NULL))

/* Batch norm with running_var a broadcast view (stride 0), training: the
 * running statistics are written, so refused, and running_mean untouched. */
static int batch_norm_broadcast_running(fx *f)
{
    tg_tensor *one = tg_ones(F64, SH(1)), *rv = tg_expand(one, SH(4));
    ck_assert_ptr_nonnull(rv);
    int rc = tr(tg_ad_batch_norm(f->T, f->a, f->v, rv, NULL, NULL, true, 0.1, 1e-5));
    for (int k = 0; k < 4; k++)
        ck_assert(tgt_at(f->v, k) == (double)k);
    tg_free(rv);
    tg_free(one);
    return rc;
}

/* Batch norm training on x (1, 4): one value per channel. */
static int batch_norm_one_row(fx *f)
{
    tg_tensor *x = tg_reshape(f->v, SH(1, 4));
    ck_assert_ptr_nonnull(x);
    int rc = tr(tg_ad_batch_norm(f->T, x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
    tg_free(x);
    return rc;
}

/* Dropout, training, with a generator never seeded. */
static int dropout_unseeded(fx *f)
{
    tg_rng r;
    memset(&r, 0, sizeof r);
    return tr(tg_ad_dropout(f->T, f->leaf, 0.5, true, &r));
}

/* x = f->a (3, 4), 4 channels; f->v (4,) holds 0..3. */
#define BN(x, rm, rv, w, b, training, momentum, eps)                           \
    tr(tg_ad_batch_norm(f->T, x, rm, rv, w, b, training, momentum, eps))

#define NORM_CASES(X)                                                          \
    X(batch_norm_int, TG_ERR_DTYPE,                                            \
      "tg_ad_batch_norm: x is int32; this op needs a float dtype",             \
      BN(f->n32, NULL, NULL, NULL, NULL, true, 0.1, 1e-5))                     \
    X(batch_norm_rank, TG_ERR_SHAPE,                                           \
      "tg_ad_batch_norm: x has shape (2,3,4); batch norm takes (N, C) or (N, C, H, W)", \
      BN(f->c234, NULL, NULL, NULL, NULL, true, 0.1, 1e-5))                    \
    X(batch_norm_rank_1, TG_ERR_SHAPE, "tg_ad_batch_norm: x has shape (3,); batch norm takes", \
      BN(f->leaf, NULL, NULL, NULL, NULL, true, 0.1, 1e-5))                    \
    X(batch_norm_running_mean_shape, TG_ERR_SHAPE,                             \
      "tg_ad_batch_norm: running_mean has shape (3,); x (3,4) needs (4,)",     \
      BN(f->a, f->v3, f->v, NULL, NULL, true, 0.1, 1e-5))                      \
    X(batch_norm_running_var_dtype, TG_ERR_DTYPE,                              \
      "tg_ad_batch_norm: running_var is float32 but x is float64 (tg_ad_cast one of them)", \
      BN(f->a, f->v, f->lf32, NULL, NULL, false, 0.1, 1e-5))                   \
    X(batch_norm_weight_dtype, TG_ERR_DTYPE,                                   \
      "tg_ad_batch_norm: weight is float32 but x is float64",                  \
      BN(f->a, NULL, NULL, f->lf32, NULL, true, 0.1, 1e-5))                    \
    X(batch_norm_weight_shape, TG_ERR_SHAPE,                                   \
      "tg_ad_batch_norm: weight has shape (3,4); x (3,4) needs (4,)",          \
      BN(f->a, NULL, NULL, f->a, NULL, true, 0.1, 1e-5))                       \
    X(batch_norm_bias_shape, TG_ERR_SHAPE,                                     \
      "tg_ad_batch_norm: bias has shape (5,); x (3,4) needs (4,)",             \
      BN(f->a, NULL, NULL, f->v, f->b, true, 0.1, 1e-5))                       \
    X(batch_norm_only_running_mean, TG_ERR_NULL,                               \
      "tg_ad_batch_norm: running_var is NULL but running_mean is not; give both or neither", \
      BN(f->a, f->v, NULL, NULL, NULL, true, 0.1, 1e-5))                       \
    X(batch_norm_only_running_var, TG_ERR_NULL,                                \
      "tg_ad_batch_norm: running_mean is NULL but running_var is not",         \
      BN(f->a, NULL, f->v, NULL, NULL, true, 0.1, 1e-5))                       \
    X(batch_norm_eval_no_running, TG_ERR_NULL,                                 \
      "tg_ad_batch_norm: running_mean and running_var are needed when not training", \
      BN(f->a, NULL, NULL, f->v, f->v, false, 0.1, 1e-5))                      \
    X(batch_norm_eps_0, TG_ERR_VALUE,                                          \
      "tg_ad_batch_norm: eps 0 must be positive and finite",                   \
      BN(f->a, NULL, NULL, NULL, NULL, true, 0.1, 0.0))                        \
    X(batch_norm_eps_nan, TG_ERR_VALUE,                                        \
      "tg_ad_batch_norm: eps nan must be positive and finite",                 \
      BN(f->a, f->v, f->v, NULL, NULL, false, 0.1, DNAN))                      \
    X(batch_norm_momentum, TG_ERR_VALUE,                                       \
      "tg_ad_batch_norm: momentum 1.5 is outside [0, 1]",                      \
      BN(f->a, f->v, f->v, NULL, NULL, true, 1.5, 1e-5))                       \
    X(batch_norm_momentum_nan, TG_ERR_VALUE,                                   \
      "tg_ad_batch_norm: momentum nan is outside [0, 1]",                      \
      BN(f->a, NULL, NULL, NULL, NULL, true, DNAN, 1e-5))                      \
    X(batch_norm_running_broadcast, TG_ERR_VALUE,                              \
      "tg_ad_batch_norm: running_var is a broadcast view (stride 0 on axis 0); " \
      "write into a contiguous tensor (tg_clone)",                             \
      batch_norm_broadcast_running(f))                                         \
    X(batch_norm_one_value_per_channel, TG_ERR_SHAPE,                          \
      "tg_ad_batch_norm: x (1,4) has 1 value per channel; training needs more than 1", \
      batch_norm_one_row(f))                                                   \
    X(batch_norm_tape_input_without_tape, TG_ERR_TAPE,                         \
      "tg_ad_batch_norm: the tape is NULL but an input belongs to a tape",     \
      tr(tg_ad_batch_norm(NULL, f->y, NULL, NULL, NULL, NULL, true, 0.1, 1e-5))) \
    X(layer_norm_int, TG_ERR_DTYPE,                                            \
      "tg_ad_layer_norm: x is int32; this op needs a float dtype",             \
      tr(tg_ad_layer_norm(f->T, f->n32, 1, NULL, NULL, 1e-5)))                 \
    X(layer_norm_ndims_0, TG_ERR_VALUE,                                        \
      "tg_ad_layer_norm: ndims 0 is outside [1, 2] for x of shape (3,4)",      \
      tr(tg_ad_layer_norm(f->T, f->a, 0, NULL, NULL, 1e-5)))                   \
    X(layer_norm_ndims_3, TG_ERR_VALUE,                                        \
      "tg_ad_layer_norm: ndims 3 is outside [1, 2] for x of shape (3,4)",      \
      tr(tg_ad_layer_norm(f->T, f->a, 3, NULL, NULL, 1e-5)))                   \
    X(layer_norm_scalar, TG_ERR_VALUE,                                         \
      "tg_ad_layer_norm: ndims 1 is outside [1, 0] for x of shape ()",         \
      tr(tg_ad_layer_norm(f->T, f->s, 1, NULL, NULL, 1e-5)))                   \
    X(layer_norm_weight_shape, TG_ERR_SHAPE,                                   \
      "tg_ad_layer_norm: weight has shape (3,); x (3,4) needs (4,)",           \
      tr(tg_ad_layer_norm(f->T, f->a, 1, f->v3, NULL, 1e-5)))                  \
    X(layer_norm_weight_shape_2, TG_ERR_SHAPE,                                 \
      "tg_ad_layer_norm: weight has shape (4,); x (3,4) needs (3,4)",          \
      tr(tg_ad_layer_norm(f->T, f->a, 2, f->v, NULL, 1e-5)))                   \
    X(layer_norm_bias_shape, TG_ERR_SHAPE,                                     \
      "tg_ad_layer_norm: bias has shape (3,4); x (2,3,4) needs (4,)",          \
      tr(tg_ad_layer_norm(f->T, f->c234, 1, NULL, f->a, 1e-5)))                \
    X(layer_norm_bias_dtype, TG_ERR_DTYPE,                                     \
      "tg_ad_layer_norm: bias is float32 but x is float64 (tg_ad_cast one of them)", \
      tr(tg_ad_layer_norm(f->T, f->leaf, 1, f->leaf, f->lf32, 1e-5)))          \
    X(layer_norm_eps_negative, TG_ERR_VALUE,                                   \
      "tg_ad_layer_norm: eps -1 must be positive and finite",                  \
      tr(tg_ad_layer_norm(f->T, f->a, 1, NULL, NULL, -1.0)))                   \
    X(layer_norm_eps_inf, TG_ERR_VALUE,                                        \
      "tg_ad_layer_norm: eps inf must be positive and finite",                 \
      tr(tg_ad_layer_norm(f->T, f->a, 2, NULL, NULL, DINF)))                   \
    X(layer_norm_tape_input_without_tape, TG_ERR_TAPE,                         \
      "tg_ad_layer_norm: the tape is NULL but an input belongs to a tape",     \
      tr(tg_ad_layer_norm(NULL, f->y, 1, NULL, NULL, 1e-5)))                   \
    X(dropout_int, TG_ERR_DTYPE, "tg_ad_dropout: x is int32; this op needs a float dtype", \
      tr(tg_ad_dropout(f->T, f->n32, 0.5, true, &f->rng)))                     \
    X(dropout_p_negative, TG_ERR_VALUE, "tg_ad_dropout: p -0.5 is outside [0, 1]", \
      tr(tg_ad_dropout(f->T, f->leaf, -0.5, true, &f->rng)))                   \
    X(dropout_p_above_1, TG_ERR_VALUE, "tg_ad_dropout: p 1.5 is outside [0, 1]", \
      tr(tg_ad_dropout(f->T, f->leaf, 1.5, false, &f->rng)))                   \
    X(dropout_p_nan, TG_ERR_VALUE, "tg_ad_dropout: p nan is outside [0, 1]",   \
      tr(tg_ad_dropout(f->T, f->leaf, DNAN, true, &f->rng)))                   \
    X(dropout_null_rng, TG_ERR_NULL,                                           \
      "tg_ad_dropout: rng is NULL (training with 0 < p < 1 draws a mask)",     \
      tr(tg_ad_dropout(f->T, f->leaf, 0.5, true, NULL)))                       \
    X(dropout_unseeded_rng, TG_ERR_VALUE,                                      \
      "tg_ad_dropout: rng is not seeded (call tg_rng_seed on it first)",       \
      dropout_unseeded(f))                                                     \
    X(dropout_tape_input_without_tape, TG_ERR_TAPE,                            \
      "tg_ad_dropout: the tape is NULL but an input belongs to a tape",        \
      tr(tg_ad_dropout(NULL, f->y, 0.5, true, &f->rng)))

#define ALL_CASES(X)                                                           \
    CONV_CASES(X)                                                              \
    NORM_CASES(X)                                                              \
    POOL_CASES(X)                                                              \
    CREATION_CASES(X)                                                          \
    VIEW_CASES(X)                                                              \
    JOIN_CASES(X)                                                              \
    ACCESS_CASES(X)                                                            \
    ELEMENTWISE_CASES(X)                                                       \
    REDUCE_CASES(X)                                                            \
    MATMUL_CASES(X)                                                            \
    RANDOM_CASES(X)                                                            \
    FILE_API_CASES(X)                                                          \
    TAPE_CASES(X)                                                              \
    NN_CASES(X)                                                                \
    OPTIM_CASES(X)

#define DEFINE_CASE(id, code, msg, expr)                                       \
    static int bad_##id(fx *f)                                                 \
    {                                                                          \
        (void)f;                                                               \
        return expr;                                                           \
    }
ALL_CASES(DEFINE_CASE)
#undef DEFINE_CASE

typedef struct bad_case {
    const char *name;
    int (*run)(fx *f);
    int code;
    const char *msg;
} bad_case;

#define CASE_ROW(id, code, msg, expr) {#id, bad_##id, code, msg},
static const bad_case bad_cases[] = {ALL_CASES(CASE_ROW)};
#undef CASE_ROW

#define NCASES(table) ((int)(sizeof table / sizeof table[0]))

START_TEST(test_bad_call)
{
    const bad_case *c = &bad_cases[_i];
    fx f;
    fx_setup(&f);
    tg_clear_error();
    int rc = c->run(&f);
    ck_assert_msg(rc == c->code, "%s: outcome %d, want %d (last error %d: %s)",
                  c->name, rc, c->code, tg_last_error(), tg_last_message());
    ck_assert_msg(tg_last_error() == c->code, "%s: last error %d, want %d",
                  c->name, tg_last_error(), c->code);
    ck_assert_msg(strstr(tg_last_message(), c->msg) != NULL,
                  "%s: message \"%s\" lacks \"%s\"", c->name, tg_last_message(),
                  c->msg);
    TGT_ASSERT_ERR(c->code, c->msg);
    fx_free(&f);
}
END_TEST

/* ---- NULL propagation: an op given a NULL tensor returns NULL and keeps the
 * last error, so a chain can be checked once at its end. ------------------ */

#define NULLPROP_CASES(X)                                                      \
    X(tg_reshape(NULL, SH(3)))                                                 \
    X(tg_transpose(NULL, 0, 1))                                                \
    X(tg_permute(NULL, (const int[]){0}))                                      \
    X(tg_slice(NULL, 0, 0, 1, 1))                                              \
    X(tg_select(NULL, 0, 0))                                                   \
    X(tg_unsqueeze(NULL, 0))                                                   \
    X(tg_squeeze(NULL, 0))                                                     \
    X(tg_expand(NULL, SH(3)))                                                  \
    X(tg_contiguous(NULL))                                                     \
    X(tg_clone(NULL))                                                          \
    X(tg_cast(NULL, F32))                                                      \
    X(tg_concat(2, (const tg_tensor *[]){f->a, NULL}, 0))                      \
    X(tg_stack(1, (const tg_tensor *[]){NULL}, 0))                             \
    X(tg_pad(NULL, NULL, 0))                                                   \
    X(tg_flip(NULL, 0))                                                        \
    X(tg_tile(NULL, 0, NULL))                                                  \
    X(tg_repeat(NULL, 0, 2))                                                   \
    X(tg_binary(TG_ADD, NULL, f->a))                                           \
    X(tg_add(f->a, NULL))                                                      \
    X(tg_sub(NULL, f->a))                                                      \
    X(tg_mul(NULL, NULL))                                                      \
    X(tg_div(f->a, NULL))                                                      \
    X(tg_pow(NULL, f->a))                                                      \
    X(tg_maximum(f->a, NULL))                                                  \
    X(tg_minimum(NULL, f->a))                                                  \
    X(tg_binary_scalar(TG_ADD, NULL, 1, false))                                \
    X(tg_add_scalar(NULL, 1))                                                  \
    X(tg_sub_scalar(NULL, 1))                                                  \
    X(tg_mul_scalar(NULL, 1))                                                  \
    X(tg_div_scalar(NULL, 1))                                                  \
    X(tg_pow_scalar(NULL, 2))                                                  \
    X(tg_unary(TG_EXP, NULL))                                                  \
    X(tg_neg(NULL))                                                            \
    X(tg_exp(NULL))                                                            \
    X(tg_log(NULL))                                                            \
    X(tg_sqrt(NULL))                                                           \
    X(tg_abs(NULL))                                                            \
    X(tg_tanh(NULL))                                                           \
    X(tg_sigmoid(NULL))                                                        \
    X(tg_relu(NULL))                                                           \
    X(tg_sum(NULL))                                                            \
    X(tg_mean(NULL))                                                           \
    X(tg_max(NULL))                                                            \
    X(tg_argmax(NULL))                                                         \
    X(tg_sum_axis(NULL, 0, false))                                             \
    X(tg_mean_axis(NULL, 0, true))                                             \
    X(tg_max_axis(NULL, 0, false))                                             \
    X(tg_argmax_axis(NULL, 0, false))                                          \
    X(tg_sum_to(NULL, SH(1)))                                                  \
    X(tg_matmul(NULL, f->a))                                                   \
    X(tg_matmul(f->a, NULL))                                                   \
    X(tg_ad_add(f->T, NULL, f->leaf))                                          \
    X(tg_ad_sub(f->T, f->leaf, NULL))                                          \
    X(tg_ad_mul(f->T, NULL, f->leaf))                                          \
    X(tg_ad_div(f->T, f->leaf, NULL))                                          \
    X(tg_ad_pow(f->T, NULL, f->leaf))                                          \
    X(tg_ad_maximum(f->T, f->leaf, NULL))                                      \
    X(tg_ad_minimum(f->T, NULL, f->leaf))                                      \
    X(tg_ad_ge(f->T, NULL, f->leaf))                                           \
    X(tg_ad_add_scalar(f->T, NULL, 1))                                         \
    X(tg_ad_sub_scalar(f->T, NULL, 1))                                         \
    X(tg_ad_rsub_scalar(f->T, NULL, 1))                                        \
    X(tg_ad_mul_scalar(f->T, NULL, 1))                                         \
    X(tg_ad_div_scalar(f->T, NULL, 1))                                         \
    X(tg_ad_rdiv_scalar(f->T, NULL, 1))                                        \
    X(tg_ad_pow_scalar(f->T, NULL, 2))                                         \
    X(tg_ad_neg(f->T, NULL))                                                   \
    X(tg_ad_exp(f->T, NULL))                                                   \
    X(tg_ad_log(f->T, NULL))                                                   \
    X(tg_ad_sqrt(f->T, NULL))                                                  \
    X(tg_ad_abs(f->T, NULL))                                                   \
    X(tg_ad_tanh(f->T, NULL))                                                  \
    X(tg_ad_sigmoid(f->T, NULL))                                               \
    X(tg_ad_relu(f->T, NULL))                                                  \
    X(tg_ad_sign(f->T, NULL))                                                  \
    X(tg_ad_step(f->T, NULL))                                                  \
    X(tg_ad_detach(f->T, NULL))                                                \
    X(tg_ad_sum(f->T, NULL))                                                   \
    X(tg_ad_mean(f->T, NULL))                                                  \
    X(tg_ad_max(f->T, NULL))                                                   \
    X(tg_ad_sum_axis(f->T, NULL, 0, false))                                    \
    X(tg_ad_mean_axis(f->T, NULL, 0, false))                                   \
    X(tg_ad_max_axis(f->T, NULL, 0, false))                                    \
    X(tg_ad_sum_to(f->T, NULL, SH(1)))                                         \
    X(tg_ad_matmul(f->T, NULL, f->leaf))                                       \
    X(tg_ad_matmul(f->T, f->leaf, NULL))                                       \
    X(tg_ad_reshape(f->T, NULL, SH(3)))                                        \
    X(tg_ad_transpose(f->T, NULL, 0, 1))                                       \
    X(tg_ad_permute(f->T, NULL, (const int[]){0}))                             \
    X(tg_ad_slice(f->T, NULL, 0, 0, 1, 1))                                     \
    X(tg_ad_expand(f->T, NULL, SH(3)))                                         \
    X(tg_ad_cast(f->T, NULL, F32))                                             \
    X(tg_ad_concat(f->T, 2, (tg_tensor *[]){NULL, f->leaf}, 0))                \
    X(tg_ad_stack(f->T, 1, (tg_tensor *[]){NULL}, 0))                          \
    X(tg_ad_pad(f->T, NULL, NULL, 0))                                          \
    X(tg_ad_flip(f->T, NULL, 0))                                               \
    X(tg_ad_tile(f->T, NULL, 0, NULL))                                         \
    X(tg_ad_repeat(f->T, NULL, 0, 2))                                          \
    X(tg_ad_max_pool2d(f->T, NULL, (const int64_t[]){2, 2}, NULL, NULL))       \
    X(tg_ad_avg_pool2d(f->T, NULL, (const int64_t[]){2, 2}, NULL, NULL))       \
    X(tg_ad_adaptive_avg_pool2d(f->T, NULL, 1, 1))                             \
    X(tg_ad_conv2d(f->T, NULL, f->c234, NULL, NULL))                           \
    X(tg_ad_conv2d(f->T, f->c234, NULL, f->v, NULL))                           \
    X(tg_ad_conv1d(f->T, NULL, f->c234, NULL, NULL))                           \
    X(tg_ad_conv1d(f->T, f->c234, NULL, NULL, NULL))                           \
    X(tg_ad_conv_transpose2d(f->T, NULL, f->c234, NULL, NULL, NULL))           \
    X(tg_ad_conv_transpose2d(f->T, f->c234, NULL, NULL, NULL, NULL))           \
    X(tg_ad_conv2d(NULL, NULL, f->c234, NULL, NULL))                           \
    X(tg_ad_batch_norm(f->T, NULL, f->v, f->v, f->v, f->v, true, 0.1, 1e-5))   \
    X(tg_ad_batch_norm(f->T, NULL, NULL, NULL, NULL, NULL, false, 0.1, 1e-5))  \
    X(tg_ad_batch_norm(NULL, NULL, NULL, NULL, NULL, NULL, true, 0.1, 1e-5))   \
    X(tg_ad_layer_norm(f->T, NULL, 1, f->v, f->v, 1e-5))                       \
    X(tg_ad_layer_norm(NULL, NULL, 1, NULL, NULL, 1e-5))                       \
    X(tg_ad_dropout(f->T, NULL, 0.5, true, &f->rng))                           \
    X(tg_ad_dropout(f->T, NULL, 0.5, false, NULL))                             \
    X(tg_ad_dropout(NULL, NULL, 0.0, true, &f->rng))                           \
    X(tg_ad_add(NULL, NULL, f->leaf))                                          \
    X(tg_quadratic_forward(f->T, &f->quad, NULL))                              \
    X(tg_linear_forward(f->T, &f->lin, NULL))                                  \
    X(tg_mlp_forward(f->T, &f->mlp, NULL))                                     \
    X(tg_mlp_forward(NULL, &f->mlp, NULL))                                     \
    X(tg_activate(f->T, TG_ACT_NONE, NULL))                                    \
    X(tg_activate(f->T, TG_ACT_RELU, NULL))                                    \
    X(tg_activate(f->T, TG_ACT_TANH, NULL))                                    \
    X(tg_activate(f->T, TG_ACT_SIGMOID, NULL))                                 \
    X(tg_loss_half_sse(f->T, NULL, f->leaf))                                   \
    X(tg_loss_mse(f->T, f->leaf, NULL))                                        \
    X(tg_log_softmax(f->T, NULL))                                              \
    X(tg_loss_cross_entropy(f->T, NULL, f->lab_ok))

static int nullprop_index;

/* Runs case i of NULLPROP_CASES; returns its result and names it. */
static tg_tensor *run_nullprop(int i, fx *f, const char **name)
{
    int k = 0;
#define NULLPROP_RUN(expr)                                                     \
    if (k++ == i) {                                                            \
        *name = #expr;                                                         \
        return expr;                                                           \
    }
    NULLPROP_CASES(NULLPROP_RUN)
#undef NULLPROP_RUN
    (void)f;
    nullprop_index = k;
    *name = NULL;
    return NULL;
}

static int nullprop_count(void)
{
    const char *name;
    run_nullprop(-1, NULL, &name);
    return nullprop_index;
}

START_TEST(test_null_propagates)
{
    fx f;
    fx_setup(&f);
    tg__fail(TG_ERR_IO, "marker", "known error %d", 42);
    const char *name = NULL;
    tg_tensor *r = run_nullprop(_i, &f, &name);
    ck_assert_ptr_nonnull(name);
    ck_assert_msg(r == NULL, "%s returned a tensor", name);
    ck_assert_msg(tg_last_error() == TG_ERR_IO &&
                      strcmp(tg_last_message(), "marker: known error 42") == 0,
                  "%s replaced the last error with %d: %s", name, tg_last_error(),
                  tg_last_message());
    fx_free(&f);
}
END_TEST

/* Accessors, destructors and queries accept NULL without an error. */
START_TEST(test_null_tolerant)
{
    tg_clear_error();
    ck_assert_int_eq(tg_ndim(NULL), 0);
    ck_assert_ptr_null(tg_shape(NULL));
    ck_assert_ptr_null(tg_strides(NULL));
    ck_assert_int_eq(tg_offset(NULL), 0);
    ck_assert_int_eq(tg_numel(NULL), 0);
    ck_assert(!tg_is_contiguous(NULL));
    ck_assert_ptr_null(tg_data(NULL));
    ck_assert(!tg_shares_storage(NULL, NULL));
    char buf[16];
    ck_assert_str_eq(tg_shape_str(NULL, buf, sizeof buf), "(null)");
    ck_assert_int_eq(tg_size(NULL, 0), -1); /* without a message */
    tg_free(NULL);
    tg_tape_free(NULL);
    ck_assert(tg_tape_pause(NULL, true));
    ck_assert(!tg_tape_is_recording(NULL));
    ck_assert_uint_eq(tg_tape_length(NULL), 0);
    ck_assert_uint_eq(tg_tape_bytes(NULL), 0);
    ck_assert_ptr_null(tg_grad(NULL));
    ck_assert(!tg_requires_grad_of(NULL));
    tg_idx_free(NULL);
    tg_quadratic_free(NULL);
    tg_linear_free(NULL);
    tg_mlp_free(NULL);
    tg_sgd_free(NULL);
    tg_adam_free(NULL);
    ck_assert_int_eq(tg_last_error(), TG_OK);
    ck_assert_str_eq(tg_last_message(), "");
}
END_TEST

/* Every code has its own fixed description; others are "unknown". */
START_TEST(test_error_codes)
{
    for (int c = 0; c < TG_ERR_COUNT_; c++) {
        ck_assert_ptr_nonnull(tg_strerror(c));
        ck_assert_str_ne(tg_strerror(c), "unknown error code");
        for (int d = 0; d < c; d++)
            ck_assert_str_ne(tg_strerror(c), tg_strerror(d));
    }
    ck_assert_str_eq(tg_strerror(-1), "unknown error code");
    ck_assert_str_eq(tg_strerror(TG_ERR_COUNT_), "unknown error code");
    ck_assert_str_eq(tg_strerror(TG_ERR_NOMEM), "out of memory");
    /* A long message is cut, still NUL-terminated, still naming the function. */
    tg_tensor *t = tg_zeros(F64, SH(1, 1, 1, 1, 1, 1, 1, 1));
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(tg_reshape(t, SH(INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX,
                                        INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_reshape: ");
    ck_assert_uint_lt(strlen(tg_last_message()), 512);
    tg_free(t);
}
END_TEST

/* ---- broken files: each image through the file reader and the buffer reader */

typedef struct bad_image {
    const char *name;
    const char *bytes; /* NULL: built by make_image */
    size_t len;
    int code;
    const char *msg;
} bad_image;

/* The bytes of a version-1.0 .npy image: the header dict, then ndata zero
 * bytes of data. */
static size_t npy_v1(unsigned char *buf, size_t cap, const char *dict, size_t ndata)
{
    size_t hl = strlen(dict) + 1;
    ck_assert_uint_le(10 + hl + ndata, cap);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, dict, hl - 1);
    buf[10 + hl - 1] = '\n';
    memset(buf + 10 + hl, 0, ndata);
    return 10 + hl + ndata;
}

#define D(descr, fortran, shape)                                               \
    "{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape ", }"

typedef struct npy_case {
    const char *name;
    const char *dict; /* NULL: raw bytes below */
    size_t ndata;
    const char *raw;
    size_t rawlen;
    int code;
    const char *msg;
} npy_case;

static const npy_case npy_cases[] = {
    {"empty", NULL, 0, "", 0, TG_ERR_FORMAT, "empty file, not a .npy file"},
    {"magic only", NULL, 0, "\x93NUMPY", 6, TG_ERR_FORMAT,
     "truncated: 6 bytes, too short for a .npy prefix"},
    {"wrong magic", NULL, 0, "\x93NUMPZ\x01\x00\x10\x00{}", 12, TG_ERR_FORMAT,
     "not a .npy file (bad magic)"},
    {"zip (np.savez)", NULL, 0, "PK\x03\x04\x14\x00\x00\x00\x00\x00", 10,
     TG_ERR_FORMAT, "not a .npy file (bad magic)"},
    {"version 9.0", NULL, 0, "\x93NUMPY\x09\x00\x10\x00{}", 12, TG_ERR_FORMAT,
     "unsupported .npy version 9.0"},
    {"header length 0", NULL, 0, "\x93NUMPY\x01\x00\x00\x00{}", 12, TG_ERR_FORMAT,
     "bad header length 0"},
    {"header past the end", NULL, 0, "\x93NUMPY\x01\x00\xc8\x00{'descr'", 18,
     TG_ERR_FORMAT, "truncated header: length 200 but 8 bytes follow"},
    {"header too long", NULL, 0, "\x93NUMPY\x02\x00\xa0\x86\x01\x00{}", 14,
     TG_ERR_FORMAT, "bad header length 100000 (more than 65536)"},
    {"truncated data", D("<f8", "False", "(3, 4)"), 40, NULL, 0, TG_ERR_FORMAT,
     "truncated: shape (3,4) needs 96 bytes of data, the file has 40"},
    {"lying header", D("<f8", "False", "(1000000, 1000000)"), 8, NULL, 0,
     TG_ERR_FORMAT,
     "truncated: shape (1000000,1000000) needs 8000000000000 bytes of data, the "
     "file has 8"},
    {"count overflow", D("<f4", "False", "(4294967296, 4294967296)"), 0, NULL, 0,
     TG_ERR_OVERFLOW, "shape (4294967296,4294967296) has too many elements"},
    {"size over 64 bits", D("<f8", "False", "(99999999999999999999,)"), 0, NULL,
     0, TG_ERR_OVERFLOW, "size of axis 0 overflows 64 bits"},
    {"9 dimensions", D("<f8", "False", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), 8, NULL, 0,
     TG_ERR_FORMAT, "shape has more than 8 dimensions"},
    {"int16", D("<i2", "False", "(2,)"), 4, NULL, 0, TG_ERR_FORMAT,
     "unsupported dtype '<i2' (tapegrad reads '<f4', '<f8', '<i4', '<i8', '|u1' and '|b1')"},
    {"big-endian", D(">f8", "False", "(2,)"), 16, NULL, 0, TG_ERR_FORMAT,
     "unsupported dtype '>f8' (big-endian; tapegrad reads '<f4', '<f8', '<i4', '<i8', '|u1' and '|b1')"},
    {"float16", D("<f2", "False", "(2,)"), 4, NULL, 0, TG_ERR_FORMAT,
     "unsupported dtype '<f2'"},
    {"structured", "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }",
     16, NULL, 0, TG_ERR_FORMAT,
     "unsupported dtype: 'descr' is not a simple type string"},
    {"fortran order", D("<f8", "True", "(2, 2)"), 32, NULL, 0, TG_ERR_FORMAT,
     "Fortran order is not supported"},
    {"missing key", "{'descr': '<f8', 'fortran_order': False}", 8, NULL, 0,
     TG_ERR_FORMAT, "bad header: missing key 'shape'"},
    {"duplicate key", "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (), }",
     8, NULL, 0, TG_ERR_FORMAT, "bad header: duplicate key 'descr'"},
    {"unexpected key", "{'descr': '<f8', 'x': 1}", 8, NULL, 0, TG_ERR_FORMAT,
     "bad header: unexpected key 'x'"},
    {"shape not a tuple", D("<f8", "False", "3"), 24, NULL, 0, TG_ERR_FORMAT,
     "bad header: 'shape' is not a tuple"},
    {"shape (3) is an int", D("<f8", "False", "(3)"), 24, NULL, 0, TG_ERR_FORMAT,
     "bad header: 'shape' is not a tuple"},
    {"negative size", D("<f8", "False", "(-1,)"), 8, NULL, 0, TG_ERR_FORMAT,
     "bad header: 'shape' holds a non-integer"},
    {"not a dictionary", "[1, 2]", 0, NULL, 0, TG_ERR_FORMAT,
     "bad header: not a dictionary"},
    {"text after the dictionary", D("<f8", "False", "()") " junk", 8, NULL, 0,
     TG_ERR_FORMAT, "bad header: unexpected text after the dictionary"},
    {"fortran_order not a bool", D("<f8", "0", "()"), 8, NULL, 0, TG_ERR_FORMAT,
     "bad header: 'fortran_order' is not True or False"},
};

static size_t npy_case_bytes(const npy_case *c, unsigned char *buf, size_t cap)
{
    if (!c->dict) {
        memcpy(buf, c->raw, c->rawlen);
        return c->rawlen;
    }
    return npy_v1(buf, cap, c->dict, c->ndata);
}

START_TEST(test_bad_npy_file)
{
    const npy_case *c = &npy_cases[_i];
    unsigned char buf[512];
    size_t len = npy_case_bytes(c, buf, sizeof buf);
    const char *path = tmp_file("bad.npy", buf, len);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "tg_load_npy: %s: ", path);
    ck_assert_ptr_null(tg_load_npy(path));
    ck_assert_msg(tg_last_error() == c->code, "%s: code %d (%s), want %d", c->name,
                  tg_last_error(), tg_last_message(), c->code);
    TGT_ASSERT_ERR(c->code, c->msg);
    if (c->code == TG_ERR_FORMAT) /* the shape check names no file */
        TGT_ASSERT_ERR(c->code, prefix);
    unlink(path);
}
END_TEST

START_TEST(test_bad_npy_buffer)
{
    const npy_case *c = &npy_cases[_i];
    unsigned char buf[512];
    size_t len = npy_case_bytes(c, buf, sizeof buf);
    ck_assert_ptr_null(tg_load_npy_buffer(buf, len));
    ck_assert_msg(tg_last_error() == c->code, "%s: code %d (%s), want %d", c->name,
                  tg_last_error(), tg_last_message(), c->code);
    TGT_ASSERT_ERR(c->code, c->msg);
    TGT_ASSERT_ERR(c->code, "tg_load_npy_buffer: ");
}
END_TEST

/* IDX images: 0 0 type ndim, ndim big-endian u32 sizes, the bytes. */
static const bad_image idx_cases[] = {
    {"empty", "", 0, TG_ERR_FORMAT, "empty file, not an IDX file"},
    {"half a magic", "\0\0", 2, TG_ERR_FORMAT, "truncated: only 2 of the 4 magic bytes"},
    {"wrong magic", "\1\2\x08\x01\0\0\0\0", 8, TG_ERR_FORMAT,
     "not an IDX file (bad magic: the first two bytes must be zero)"},
    {"float32 elements", "\0\0\x0d\x01\0\0\0\0", 8, TG_ERR_FORMAT,
     "unsupported element type 0x0d (float32); only 0x08 (unsigned byte) is supported"},
    {"unknown element type", "\0\0\x42\x01\0\0\0\0", 8, TG_ERR_FORMAT,
     "unsupported element type 0x42 (not an IDX type)"},
    {"0 dimensions", "\0\0\x08\0", 4, TG_ERR_FORMAT,
     "unsupported number of dimensions 0 (1 to 8 are supported)"},
    {"9 dimensions", "\0\0\x08\x09", 4, TG_ERR_FORMAT,
     "unsupported number of dimensions 9 (1 to 8 are supported)"},
    {"truncated header", "\0\0\x08\x03\0\0\0\x02\0\0", 10, TG_ERR_FORMAT,
     "truncated header: 3 dimensions need 16 bytes, the file has 10"},
    {"truncated body", "\0\0\x08\x02\0\0\0\x02\0\0\0\x03\1\2\3\4", 16, TG_ERR_FORMAT,
     "truncated: dimensions (2,3) need 6 bytes of data, the file has 4"},
    {"lying header", "\0\0\x08\x03\0\0\xea\x60\0\0\0\x1c\0\0\0\x1c\1\2", 18,
     TG_ERR_FORMAT,
     "truncated: dimensions (60000,28,28) need 47040000 bytes of data, the file has 2"},
    {"count overflow",
     "\0\0\x08\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16,
     TG_ERR_OVERFLOW,
     "dimensions (4294967295,4294967295,4294967295) hold too many elements"},
    {"trailing bytes", "\0\0\x08\x01\0\0\0\x02\1\2\3", 11, TG_ERR_FORMAT,
     "longer than its header says: dimensions (2,) need 2 bytes of data, the file has 3"},
};

START_TEST(test_bad_idx_file)
{
    const bad_image *c = &idx_cases[_i];
    const char *path = tmp_file("bad.idx", c->bytes, c->len);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "tg_idx_load: %s: ", path);
    tg_idx x, before;
    memset(&x, 0x5a, sizeof x);
    memcpy(&before, &x, sizeof x);
    ck_assert_int_eq(tg_idx_load(path, &x), c->code);
    TGT_ASSERT_ERR(c->code, c->msg);
    TGT_ASSERT_ERR(c->code, prefix);
    ck_assert(memcmp(&x, &before, sizeof x) == 0); /* untouched on error */
    unlink(path);
}
END_TEST

START_TEST(test_bad_idx_buffer)
{
    const bad_image *c = &idx_cases[_i];
    tg_idx x, before;
    memset(&x, 0x5a, sizeof x);
    memcpy(&before, &x, sizeof x);
    ck_assert_int_eq(tg_idx_load_buffer(c->len ? c->bytes : "", c->len, &x), c->code);
    TGT_ASSERT_ERR(c->code, c->msg);
    TGT_ASSERT_ERR(c->code, "tg_idx_load_buffer: ");
    ck_assert(memcmp(&x, &before, sizeof x) == 0);
}
END_TEST

START_TEST(test_idx_buffer_gzip)
{
    tg_idx x;
    ck_assert_int_eq(tg_idx_load_buffer("\x1f\x8b\x08\0\0\0\0\0", 8, &x), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT,
                   "tg_idx_load_buffer: gzip-compressed data; the buffer must "
                   "hold an uncompressed IDX image");
}
END_TEST

#ifdef TG_HAVE_ZLIB
/* A gzip file holding bytes (compressed), cut to keep bytes of it when keep
 * is not 0. */
static const char *gz_file(const void *bytes, size_t len, size_t keep)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/tapegrad-badinput-%ld.idx.gz", (long)getpid());
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, bytes, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    if (keep)
        ck_assert_int_eq(truncate(path, (off_t)keep), 0);
    return path;
}

START_TEST(test_bad_idx_gzip_files)
{
    /* A lying header, compressed: read as it arrives, refused at the end. */
    const char *p = gz_file("\0\0\x08\x03\0\0\xea\x60\0\0\0\x1c\0\0\0\x1c\1\2", 18, 0);
    tg_idx x;
    ck_assert_int_eq(tg_idx_load(p, &x), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT,
                   "truncated: dimensions (60000,28,28) need 47040000 bytes of "
                   "data, the file has 2");
    /* Cut in the middle of the deflate stream. */
    unsigned char img[4 + 4 + 300];
    memcpy(img, "\0\0\x08\x01\0\0\x01\x2c", 8);
    for (int i = 0; i < 300; i++)
        img[8 + i] = (unsigned char)(i * 7919 % 251);
    p = gz_file(img, sizeof img, 40);
    ck_assert_int_eq(tg_idx_load(p, &x), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "truncated gzip stream");
    /* Gzip magic followed by garbage. */
    p = tmp_file("corrupt.gz", "\x1f\x8b\x08\0\0\0\0\0\0\x03\xff\xff\xff\xff\xff\xff", 16);
    ck_assert_int_eq(tg_idx_load(p, &x), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "tg_idx_load: ");
    unlink(p);
    snprintf((char *)img, sizeof img, "/tmp/tapegrad-badinput-%ld.idx.gz", (long)getpid());
    unlink((const char *)img);
}
END_TEST
#endif

/* ---- regression tests for bugs found by the fuzzers ----------------------- */

/* fuzz_ops (out-of-memory mode): a backward that runs out of memory while it
 * allocates the leaves' gradients must leave every .grad as it was. The
 * rollback in flush_queue (autograd/tape.c) frees the gradients this call
 * made by looking for storage version 1, but tg_fill does not bump the
 * version of a zero-size tensor, so the new gradient of an empty leaf
 * survived: e kept a (0,1) .grad after a failed tg_backward. Fixed by
 * marking the gradients a backward creates (TG__NEW_GRAD). */
START_TEST(regression_failed_backward_empty_leaf)
{
    for (long k = 1; k < 1000; k++) {
        tg_tape *T = tg_tape_new();
        tg_tensor *s = tg_zeros(F64, 0, NULL), *e = tg_zeros(F64, SH(0, 1));
        ck_assert_ptr_nonnull(T);
        ck_assert_int_eq(tg_requires_grad(s, true), TG_OK);
        ck_assert_int_eq(tg_requires_grad(e, true), TG_OK);
        tg_tensor *L = tg_ad_sum(T, tg_ad_add(T, s, e)); /* () + (0,1) */
        ck_assert_ptr_nonnull(L);
        tgt_stats.fail_at = tgt_stats.calls + k;
        int rc = tg_backward(T, L);
        tgt_stats.fail_at = 0;
        bool done = rc == TG_OK;
        if (!done) {
            TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_backward: out of memory");
            ck_assert_msg(tg_grad(s) == NULL && tg_grad(e) == NULL,
                          "allocation %ld refused: tg_backward failed but left "
                          "grad(s) = %p, grad(e) = %p", k, (void *)tg_grad(s),
                          (void *)tg_grad(e));
        } else {
            tgt_assert_shape(tg_grad(e), 2, (const int64_t[]){0, 1});
            ck_assert_ptr_nonnull(tg_grad(s));
        }
        tg_tape_free(T);
        tg_free(s);
        tg_free(e);
        if (done)
            return;
    }
    ck_abort_msg("tg_backward never succeeded");
}
END_TEST

/* fuzz_ops (clang's UBSan): softmax, log_softmax and logsumexp along an
 * empty axis of a tensor with lines to do, (3,0) along axis 1, formed a
 * line pointer as NULL + 0 (the empty input has no storage). Empty lines
 * are now skipped; the logsumexp of one is -inf, as in PyTorch. */
START_TEST(regression_softmax_empty_axis)
{
    tg_tensor *e = tg_zeros(F64, SH(3, 0));
    ck_assert_int_eq(tg_requires_grad(e, true), TG_OK);
    tg_tape *T = tg_tape_new();
    tgt_assert_shape(tg_ad_softmax(T, e, 1), 2, (const int64_t[]){3, 0});
    tgt_assert_shape(tg_ad_log_softmax(T, e, -1), 2, (const int64_t[]){3, 0});
    tg_tensor *l = tg_ad_logsumexp(T, e, 1, true);
    tgt_assert_shape(l, 2, (const int64_t[]){3, 1});
    for (int k = 0; k < 3; k++)
        ck_assert(tgt_at(l, k) == -(double)INFINITY);
    ck_assert_int_eq(tg_backward_seed(T, l, tg_ad_detach(T, l)), TG_OK);
    tgt_assert_shape(tg_grad(e), 2, (const int64_t[]){3, 0});
    tg_tape_free(T);
    tg_free(e);
}
END_TEST

Suite *test_badinput_suite(void); /* called by the generated runner */

Suite *test_badinput_suite(void)
{
    Suite *s = suite_create("badinput");
    TCase *tc = tgt_tcase("catalogue");
    tcase_add_loop_test(tc, test_bad_call, 0, NCASES(bad_cases));
    suite_add_tcase(s, tc);

    tc = tgt_tcase("null_arguments");
    tcase_add_loop_test(tc, test_null_propagates, 0, nullprop_count());
    tcase_add_test(tc, test_null_tolerant);
    tcase_add_test(tc, test_error_codes);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("files");
    tcase_add_loop_test(tc, test_bad_npy_file, 0, NCASES(npy_cases));
    tcase_add_loop_test(tc, test_bad_npy_buffer, 0, NCASES(npy_cases));
    tcase_add_loop_test(tc, test_bad_idx_file, 0, NCASES(idx_cases));
    tcase_add_loop_test(tc, test_bad_idx_buffer, 0, NCASES(idx_cases));
    tcase_add_test(tc, test_idx_buffer_gzip);
#ifdef TG_HAVE_ZLIB
    tcase_add_test(tc, test_bad_idx_gzip_files);
#endif
    suite_add_tcase(s, tc);

    tc = tgt_tcase("fuzz_regressions");
    tcase_add_test(tc, regression_failed_backward_empty_leaf);
    tcase_add_test(tc, regression_softmax_empty_axis);
    suite_add_tcase(s, tc);
    return s;
}
