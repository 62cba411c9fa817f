/* test_threads.c - the intra-op thread pool (tg_set_num_threads): large
 * elementwise ops (flat, broadcast, strided walks, scalar operands), sums,
 * matrix products on tapegrad's own kernels (split by rows),
 * a training step through the tape, Adam's update and convolutions
 * (forward, input and weight gradients, samples split over the pool) give
 * the same bits with 1, 2 and 3 threads; fashion_mnist prints the same lines with
 * TG_NUM_THREADS=2 as alone; bad counts are refused. */
#include <stdlib.h>
#include <unistd.h>

#include "helpers.h"

#if defined(TG_HAVE_CBLAS)
#include <cblas.h>
#endif

#define BIG 40009 /* odd, and above the size at which ops are split (32768) */

/* Every result of the ops below, flattened one after another into out
 * (the caller frees it), computed with the current thread count. */
static double *compute_all(tg_dtype dt, int64_t *count)
{
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    tg_tensor *a = tg_randn(&rng, dt, TG_SHAPE(BIG));
    tg_tensor *b = tg_randn(&rng, dt, TG_SHAPE(BIG));
    tg_tensor *m = tg_randn(&rng, dt, TG_SHAPE(181, 199));
    tg_tensor *row = tg_randn(&rng, dt, TG_SHAPE(199));
    tg_tensor *mt = tg_transpose(m, 0, 1); /* (199, 181), strided */
    tg_tensor *r[] = {
        tg_add(a, b),          tg_mul(a, b),           tg_div(a, b),
        tg_exp(a),             tg_tanh(b),             tg_pow_scalar(a, 2.0),
        tg_mul_scalar(b, 0.5), tg_mul(m, row),         tg_add(mt, mt),
        tg_sum(a),             tg_sum(b),              tg_sum(mt),
        tg_sum_axis(m, 0, false), tg_sum_axis(mt, 1, false),
    };
    int nr = (int)(sizeof r / sizeof *r);
    int64_t total = 0;
    for (int i = 0; i < nr; i++) {
        ck_assert_ptr_nonnull(r[i]);
        total += tg_numel(r[i]);
    }
    double *out = malloc((size_t)total * sizeof *out);
    ck_assert_ptr_nonnull(out);
    int64_t k = 0;
    for (int i = 0; i < nr; i++) {
        for (int64_t j = 0; j < tg_numel(r[i]); j++)
            out[k++] = tgt_at(r[i], j);
        tg_free(r[i]);
    }
    *count = total;
    tg_free(a);
    tg_free(b);
    tg_free(m);
    tg_free(row);
    tg_free(mt);
    return out;
}

START_TEST(test_ops_same_bits)
{
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_FLOAT32 : TG_FLOAT64;
        int64_t n1, n;
        ck_assert_int_eq(tg_set_num_threads(1), 0);
        double *one = compute_all(dt, &n1);
        for (int t = 2; t <= 3; t++) {
            ck_assert_int_eq(tg_set_num_threads(t), 0);
            ck_assert_int_eq(tg_get_num_threads(), t);
            double *many = compute_all(dt, &n);
            ck_assert_int_eq(n, n1);
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(memcmp(&one[i], &many[i], sizeof(double)) == 0,
                              "%s, %d threads, value %lld: %.17g vs %.17g",
                              tg_dtype_name(dt), t, (long long)i, one[i], many[i]);
            free(many);
        }
        free(one);
    }
    ck_assert_int_eq(tg_set_num_threads(1), 0);
}
END_TEST

/* Products big enough to be split by rows (16 million multiply-adds):
 * a (420, 200) x (200, 250), a transposed operand, and the shape of the
 * MLP's first weight gradient with 512 outputs. */
static double *products(tg_dtype dt, int64_t *count)
{
    tg_rng rng;
    tg_rng_seed(&rng, 12);
    tg_tensor *p = tg_randn(&rng, dt, TG_SHAPE(420, 200));
    tg_tensor *q = tg_randn(&rng, dt, TG_SHAPE(200, 250));
    tg_tensor *x = tg_randn(&rng, dt, TG_SHAPE(64, 784));
    tg_tensor *g = tg_randn(&rng, dt, TG_SHAPE(64, 512));
    tg_tensor *pt = tg_transpose(p, 0, 1), *xt = tg_transpose(x, 0, 1);
    tg_tensor *r[] = {tg_matmul(p, q), tg_matmul(pt, p), tg_matmul(xt, g)};
    int64_t total = 0, k = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(r[i]);
        total += tg_numel(r[i]);
    }
    double *out = malloc((size_t)total * sizeof *out);
    ck_assert_ptr_nonnull(out);
    for (int i = 0; i < 3; i++) {
        for (int64_t j = 0; j < tg_numel(r[i]); j++)
            out[k++] = tgt_at(r[i], j);
        tg_free(r[i]);
    }
    tg_free(p);
    tg_free(q);
    tg_free(x);
    tg_free(g);
    tg_free(pt);
    tg_free(xt);
    *count = total;
    return out;
}

/* f's results with 1 thread equal those with 2 and 3, bit for bit, in
 * float64 and float32, on tapegrad's kernels and on OpenBLAS's. */
static void same_bits_on_1_2_3_threads(double *(*f)(tg_dtype, int64_t *))
{
    for (int blas = 0; blas < 2; blas++) {
        tg_use_blas(blas == 1);
        for (int d = 0; d < 2; d++) {
            tg_dtype dt = d ? TG_FLOAT32 : TG_FLOAT64;
            int64_t n1, n;
            ck_assert_int_eq(tg_set_num_threads(1), 0);
            double *one = f(dt, &n1);
            for (int t = 2; t <= 3; t++) {
                ck_assert_int_eq(tg_set_num_threads(t), 0);
                double *many = f(dt, &n);
                ck_assert_int_eq(n, n1);
                for (int64_t i = 0; i < n; i++)
                    ck_assert_msg(memcmp(&one[i], &many[i], sizeof(double)) == 0,
                                  "%s, blas %d, %d threads, value %lld: %.17g vs %.17g",
                                  tg_dtype_name(dt), blas, t, (long long)i, one[i], many[i]);
                free(many);
            }
            free(one);
        }
    }
    tg_use_blas(true);
    ck_assert_int_eq(tg_set_num_threads(1), 0);
}

/* tapegrad's own kernels (the portable one, and the AVX-512 float32 one
 * where the processor has it and OpenBLAS runs on one thread) are split by
 * rows over the pool: the same bits on any thread count. */
START_TEST(test_products_same_bits)
{
#if defined(TG_HAVE_CBLAS) && defined(OPENBLAS_VERSION)
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#endif
    same_bits_on_1_2_3_threads(products);
#if defined(TG_HAVE_CBLAS) && defined(OPENBLAS_VERSION)
    openblas_set_num_threads(blas_threads);
#endif
}
END_TEST

/* The chapter's step on BIG points and one Adam update of a BIG-element
 * parameter: the loss, both gradients and the updated parameter. */
static void train_once(double *loss, double *gw, double *gb, double *p0, double *pn)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *x = tg_linspace(TG_FLOAT64, -1.0, 1.0, BIG);
    tg_tensor *y = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(BIG));
    tg_tensor *w = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.4);
    tg_tensor *b = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.7);
    tg_tensor *big = tg_randn(&rng, TG_FLOAT32, TG_SHAPE(BIG));
    tg_requires_grad(w, true);
    tg_requires_grad(b, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *pred = tg_ad_add(T, tg_ad_mul(T, tg_ad_pow_scalar(T, x, 2.0), w), b);
    tg_tensor *l = tg_ad_mul_scalar(T, tg_ad_sum(T, tg_ad_square(T, tg_ad_sub(T, pred, y))), 0.5);
    ck_assert_int_eq(tg_item(l, loss), 0);
    ck_assert_int_eq(tg_backward(T, l), 0);
    *gw = tgt_at(tg_grad(w), 0);
    *gb = tgt_at(tg_grad(b), 0);
    /* Adam on a float32 parameter whose gradient is big * 0.25 */
    tg_params ps = {0};
    tg_adam opt;
    ck_assert_int_eq(tg_params_add(&ps, "big", big), 0);
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 1e-2, 0.9, 0.999, 1e-8, 0.01, true), 0);
    ck_assert_int_eq(tg_tape_reset(T), 0);
    ck_assert_int_eq(tg_backward(T, tg_ad_mul_scalar(T, tg_ad_sum(T, tg_ad_square(T, big)), 0.125)),
                     0);
    ck_assert_int_eq(tg_adam_step(&opt), 0);
    *p0 = tgt_at(big, 0);
    *pn = tgt_at(big, BIG - 1);
    double s = 0.0;
    for (int64_t i = 0; i < BIG; i++)
        s += tgt_at(big, i) * (double)(i % 7);
    *pn += s;
    tg_adam_free(&opt);
    tg_tape_free(T);
    tg_free(x);
    tg_free(y);
    tg_free(w);
    tg_free(b);
    tg_free(big);
}

START_TEST(test_training_same_bits)
{
    double want[5], got[5];
    ck_assert_int_eq(tg_set_num_threads(1), 0);
    train_once(&want[0], &want[1], &want[2], &want[3], &want[4]);
    for (int t = 2; t <= 3; t++) {
        ck_assert_int_eq(tg_set_num_threads(t), 0);
        train_once(&got[0], &got[1], &got[2], &got[3], &got[4]);
        for (int i = 0; i < 5; i++)
            ck_assert_msg(memcmp(&want[i], &got[i], sizeof(double)) == 0,
                          "%d threads, value %d: %.17g vs %.17g", t, i, want[i], got[i]);
    }
    ck_assert_int_eq(tg_set_num_threads(1), 0);
}
END_TEST

START_TEST(test_bad_counts)
{
    ck_assert_int_eq(tg_set_num_threads(0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_set_num_threads: 0 threads");
    ck_assert_int_eq(tg_set_num_threads(65), TG_ERR_VALUE);
    ck_assert_int_eq(tg_set_num_threads(-3), TG_ERR_VALUE);
    ck_assert_int_eq(tg_set_num_threads(2), 0);
    ck_assert_int_eq(tg_get_num_threads(), 2);
    ck_assert_int_eq(tg_set_num_threads(1), 0); /* joins the pool's thread */
    ck_assert_int_eq(tg_get_num_threads(), 1);
}
END_TEST

START_TEST(test_example_same_output)
{
    if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) != 0)
        return; /* test_examples says so for the data set */
    const char *args[] = {"--epochs", "1", "--limit", "640", "--test-limit", "200", "--quiet",
                          "--save", "/tmp/tg_threads_w", "--plot", "/tmp/tg_threads.svg", NULL};
    tgt_run *one = tgt_new_run(), *two = tgt_new_run();
    ck_assert_int_eq(setenv("TG_NUM_THREADS", "1", 1), 0);
    tgt_run_example("fashion_mnist", args, NULL, one);
    ck_assert_int_eq(setenv("TG_NUM_THREADS", "2", 1), 0);
    tgt_run_example("fashion_mnist", args, NULL, two);
    ck_assert_int_eq(unsetenv("TG_NUM_THREADS"), 0);
    ck_assert_msg(one->status == 0 && two->status == 0, "%s\n%s", one->err, two->err);
    /* the epoch line without its time */
    char *t1 = strstr(one->out, " time="), *t2 = strstr(two->out, " time=");
    ck_assert(t1 && t2);
    *t1 = *t2 = '\0';
    ck_assert_str_eq(one->out, two->out);
    free(one);
    free(two);
    ck_assert_int_eq(system("rm -rf /tmp/tg_threads_w /tmp/tg_threads.svg"), 0);
}
END_TEST

/* Convolutions: the output and the three gradients of a sum through
 * conv2d, for batches of 13 (more samples than the weight gradient's 8
 * slots, unevenly cut) and 3 (fewer), with padding, stride and groups,
 * and a small 1x1 kernel read in place. The first two are large enough to
 * run on the pool (conv.c's threshold: 2^20 multiply-adds). */
static double *convolutions(tg_dtype dt, int64_t *count)
{
    tg_rng rng = tg_rng_seeded(13);
    const struct {
        int64_t n, c, h, o, k, stride, pad, groups;
    } cases[] = {{13, 8, 16, 16, 3, 1, 1, 1},  /* 3.8M multiply-adds: on the pool */
                 {3, 8, 30, 16, 3, 2, 0, 2},   /* 1.4M, groups */
                 {13, 6, 7, 4, 1, 1, 0, 1}};   /* small: in turn */
    double *out = NULL;
    int64_t total = 0;
    for (int c = 0; c < 3; c++) {
        tg_tensor *x = tg_randn(&rng, dt, TG_SHAPE(cases[c].n, cases[c].c, cases[c].h, cases[c].h));
        tg_tensor *w = tg_randn(&rng, dt, TG_SHAPE(cases[c].o, cases[c].c / cases[c].groups,
                                                   cases[c].k, cases[c].k));
        tg_tensor *b = tg_randn(&rng, dt, TG_SHAPE(cases[c].o));
        tg_tensor *gy_src = NULL;
        tg_conv_args a = TG_CONV_ARGS;
        a.stride[0] = a.stride[1] = cases[c].stride;
        a.padding[0] = a.padding[1] = cases[c].pad;
        a.groups = cases[c].groups;
        tg_requires_grad(x, true);
        tg_requires_grad(w, true);
        tg_requires_grad(b, true);
        tg_tape *T = tg_tape_new();
        tg_tensor *y = tg_ad_conv2d(T, x, w, b, &a);
        ck_assert_ptr_nonnull(y);
        gy_src = tg_randn(&rng, dt, tg_ndim(y), tg_shape(y));
        ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, y, gy_src))), TG_OK);
        const tg_tensor *parts[] = {y, tg_grad(x), tg_grad(w), tg_grad(b)};
        for (int i = 0; i < 4; i++) {
            int64_t n = tg_numel(parts[i]);
            out = realloc(out, (size_t)(total + n) * sizeof *out);
            ck_assert_ptr_nonnull(out);
            for (int64_t j = 0; j < n; j++)
                out[total + j] = tgt_at(parts[i], j);
            total += n;
        }
        tg_tape_free(T);
        tg_free(x);
        tg_free(w);
        tg_free(b);
        tg_free(gy_src);
    }
    *count = total;
    return out;
}

START_TEST(test_conv_same_bits)
{
    same_bits_on_1_2_3_threads(convolutions);
}
END_TEST

Suite *test_threads_suite(void);
Suite *test_threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tgt_tcase("same_bits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ops_same_bits);
    tcase_add_test(tc, test_products_same_bits);
    tcase_add_test(tc, test_conv_same_bits);
    tcase_add_test(tc, test_training_same_bits);
    tcase_add_test(tc, test_bad_counts);
    suite_add_tcase(s, tc);
    tc = tcase_create("example");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_example_same_output);
    suite_add_tcase(s, tc);
    return s;
}
