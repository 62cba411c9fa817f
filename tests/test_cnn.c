/* test_cnn.c - the convolutional-net layers of models/cnn.h: shapes,
 * PyTorch's initialisation (bounds, statistics, the order of the draws),
 * parameter and buffer registration, save/load of a small CNN with its
 * running statistics, the train/eval switch of dropout and batch norm, no
 * heap allocation per training step after the first, and bad input. The
 * ops underneath have their own suites (test_conv, test_pool, test_norm);
 * here they are taken as given and the layers' own work is checked. */
#include "helpers.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32

/* ---- helpers --------------------------------------------------------------- */

static bool same_bits(const tg_tensor *a, const tg_tensor *b)
{
    return a && b && tg_dtype_of(a) == tg_dtype_of(b) && tg_numel(a) == tg_numel(b) &&
           tg_is_contiguous(a) && tg_is_contiguous(b) &&
           memcmp(tg_data(a), tg_data(b),
                  (size_t)tg_numel(a) * tg_dtype_size(tg_dtype_of(a))) == 0;
}

/* Smallest and largest element, mean and (biased) variance of t. */
static void stats_of(const tg_tensor *t, double *lo, double *hi, double *mean, double *var)
{
    int64_t n = tg_numel(t);
    double s = 0.0, s2 = 0.0;
    *lo = (double)INFINITY;
    *hi = -(double)INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double v = tgt_at(t, i);
        s += v;
        s2 += v * v;
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
    *mean = s / (double)n;
    *var = s2 / (double)n - *mean * *mean;
}

/* ---- Conv2d ---------------------------------------------------------------------- */

START_TEST(test_conv2d_init_shapes)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_conv2d c;
    tg_conv_args a = TG_CONV_ARGS;
    a.groups = 2;
    a.stride[0] = 2;
    ck_assert_int_eq(tg_conv2d_init(&c, 4, 6, (const int64_t[]){3, 5}, &a, true, F32, &rng),
                     TG_OK);
    tgt_assert_shape(c.weight, 4, (const int64_t[]){6, 2, 3, 5});
    tgt_assert_shape(c.bias, 1, (const int64_t[]){6});
    ck_assert_int_eq(tg_dtype_of(c.weight), F32);
    ck_assert(tg_requires_grad_of(c.weight) && tg_requires_grad_of(c.bias));
    ck_assert_int_eq(c.in, 4);
    ck_assert_int_eq(c.out, 6);
    ck_assert_int_eq(c.args.stride[0], 2);
    ck_assert_int_eq(c.args.groups, 2);
    /* fan_in = 4/2 * 3 * 5 = 30. */
    double lo, hi, mean, var, bound = 1.0 / sqrt(30.0);
    stats_of(c.weight, &lo, &hi, &mean, &var);
    ck_assert(lo >= -bound && hi <= bound);
    stats_of(c.bias, &lo, &hi, &mean, &var);
    ck_assert(lo >= -bound && hi <= bound);
    tg_conv2d_free(&c);
    ck_assert_ptr_null(c.weight);
    tg_conv2d_free(&c); /* twice is fine, and NULL */
    tg_conv2d_free(NULL);

    /* No bias, NULL args (stride 1, no padding). */
    ck_assert_int_eq(tg_conv2d_init(&c, 3, 2, (const int64_t[]){1, 1}, NULL, false, F64, &rng),
                     TG_OK);
    ck_assert_ptr_null(c.bias);
    ck_assert_int_eq(c.args.stride[1], 1);
    ck_assert_int_eq(c.args.padding[0], 0);
    tg_params ps = {0};
    ck_assert_int_eq(tg_conv2d_params(&c, "c", &ps), TG_OK);
    ck_assert_int_eq(ps.count, 1);
    ck_assert_str_eq(ps.names[0], "c.weight");
    tg_conv2d_free(&c);
}
END_TEST

/* Bound 1/sqrt(fan_in), uniform: mean 0 and variance bound^2/3, drawn from
 * rng in C order, the weight first (as tg_linear_init and PyTorch). */
START_TEST(test_conv2d_init_statistics)
{
    tg_rng rng, again;
    tg_rng_seed(&rng, 11);
    tg_rng_seed(&again, 11);
    tg_conv2d c;
    ck_assert_int_eq(tg_conv2d_init(&c, 16, 64, (const int64_t[]){3, 3}, NULL, true, F64, &rng),
                     TG_OK);
    double lo, hi, mean, var, bound = 1.0 / 12.0; /* fan_in 144 */
    stats_of(c.weight, &lo, &hi, &mean, &var);
    ck_assert(lo >= -bound && hi <= bound);
    ck_assert(lo < -0.99 * bound && hi > 0.99 * bound); /* 9216 draws reach the ends */
    /* The mean of 9216 uniforms has standard deviation bound/sqrt(3*9216). */
    ck_assert_msg(fabs(mean) < 4.0 * bound / sqrt(3.0 * 9216.0), "mean %g", mean);
    ck_assert_msg(fabs(var / (bound * bound / 3.0) - 1.0) < 0.05, "variance %g", var);

    tg_tensor *w = tg_empty(F64, TG_SHAPE(64, 16, 3, 3));
    tg_tensor *b = tg_empty(F64, TG_SHAPE(64));
    ck_assert_int_eq(tg_uniform_fill(&again, w, -bound, bound), TG_OK);
    ck_assert_int_eq(tg_uniform_fill(&again, b, -bound, bound), TG_OK);
    ck_assert(same_bits(w, c.weight));
    ck_assert(same_bits(b, c.bias));
    tg_free(w);
    tg_free(b);
    tg_conv2d_free(&c);
}
END_TEST

/* The layer's forward is tg_ad_conv2d with its weight, bias and args. */
START_TEST(test_conv2d_forward)
{
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_conv2d c;
    tg_conv_args a = TG_CONV_ARGS;
    a.stride[0] = a.stride[1] = 2;
    a.padding[0] = a.padding[1] = 1;
    ck_assert_int_eq(tg_conv2d_init(&c, 3, 4, (const int64_t[]){3, 3}, &a, true, F64, &rng),
                     TG_OK);
    tg_tensor *x = tg_randn(&rng, F64, TG_SHAPE(2, 3, 9, 9));
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_conv2d_forward(T, &c, x);
    ck_assert_msg(y != NULL, "%s", tg_last_message());
    tgt_assert_shape(y, 4, (const int64_t[]){2, 4, 5, 5});
    tg_tensor *want = tg_ad_conv2d(T, x, c.weight, c.bias, &a);
    ck_assert(same_bits(y, want));
    /* Gradients reach the layer's parameters. */
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    ck_assert_ptr_nonnull(tg_grad(c.weight));
    ck_assert_ptr_nonnull(tg_grad(c.bias));
    /* Without a tape the result is the caller's. */
    tg_tensor *z = tg_conv2d_forward(NULL, &c, x);
    ck_assert(same_bits(z, want));
    tg_free(z);
    tg_tape_free(T);
    tg_free(x);
    tg_conv2d_free(&c);
}
END_TEST

/* ---- pooling and flatten ---------------------------------------------------------- */

START_TEST(test_pool_and_flatten)
{
    tg_rng rng;
    tg_rng_seed(&rng, 2);
    tg_pool2d p;
    ck_assert_int_eq(tg_pool2d_init(&p, (const int64_t[]){2, 2}, NULL, NULL), TG_OK);
    ck_assert_int_eq(p.stride[0], 2);
    ck_assert_int_eq(p.stride[1], 2);
    ck_assert_int_eq(p.padding[0], 0);
    tg_tensor *x = tg_randn(&rng, F32, TG_SHAPE(2, 3, 7, 6));
    tg_tape *T = tg_tape_new();
    tg_tensor *m = tg_max_pool2d_forward(T, &p, x);
    tgt_assert_shape(m, 4, (const int64_t[]){2, 3, 3, 3}); /* floor(7/2) */
    ck_assert(same_bits(m, tg_ad_max_pool2d(T, x, p.kernel, p.stride, p.padding)));
    tg_tensor *v = tg_avg_pool2d_forward(T, &p, x);
    ck_assert(same_bits(v, tg_ad_avg_pool2d(T, x, p.kernel, p.stride, p.padding)));

    ck_assert_int_eq(tg_pool2d_init(&p, (const int64_t[]){3, 3}, (const int64_t[]){1, 2},
                                    (const int64_t[]){1, 1}),
                     TG_OK);
    m = tg_max_pool2d_forward(T, &p, x);
    tgt_assert_shape(m, 4, (const int64_t[]){2, 3, 7, 3});

    tg_tensor *f = tg_flatten(T, x);
    tgt_assert_shape(f, 2, (const int64_t[]){2, 126});
    ck_assert_double_eq(tgt_at(f, 130), tgt_at(x, 130));
    /* A non-contiguous input flattens in C order of its own shape. */
    tg_tensor *xt = tg_ad_transpose(T, x, 2, 3); /* (2, 3, 6, 7) */
    f = tg_flatten(T, xt);
    tgt_assert_shape(f, 2, (const int64_t[]){2, 126});
    ck_assert_double_eq(tgt_at(f, 1), tgt_at(x, 6)); /* xt[0,0,0,1] = x[0,0,1,0] */
    f = tg_flatten(T, tg_ad_sum_axis(T, x, 3, false)); /* (2, 3, 7) */
    tgt_assert_shape(f, 2, (const int64_t[]){2, 21});
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

/* ---- batch norm ---------------------------------------------------------------------- */

/* Training: each channel normalised by its batch statistics and the
 * running ones moved a tenth of the way; eval: the running statistics. */
START_TEST(test_batch_norm_train_eval)
{
    tg_batch_norm bn;
    ck_assert_int_eq(tg_batch_norm2d_init(&bn, 3, F64), TG_OK);
    ck_assert(bn.training);
    ck_assert_double_eq(bn.eps, 1e-5);
    ck_assert_double_eq(bn.momentum, 0.1);
    for (int c = 0; c < 3; c++) {
        ck_assert_double_eq(tgt_at(bn.weight, c), 1.0);
        ck_assert_double_eq(tgt_at(bn.bias, c), 0.0);
        ck_assert_double_eq(tgt_at(bn.running_mean, c), 0.0);
        ck_assert_double_eq(tgt_at(bn.running_var, c), 1.0);
    }
    ck_assert(tg_requires_grad_of(bn.weight) && tg_requires_grad_of(bn.bias));
    ck_assert(!tg_requires_grad_of(bn.running_mean) && !tg_requires_grad_of(bn.running_var));

    tg_rng rng;
    tg_rng_seed(&rng, 4);
    tg_tensor *x = tg_randn(&rng, F64, TG_SHAPE(4, 3, 2, 5));
    ck_assert_int_eq(tg_fill(bn.bias, 0.0), TG_OK);
    /* Channel statistics by hand: 40 values each. */
    double mean[3] = {0}, var[3] = {0};
    for (int64_t i = 0; i < 120; i++)
        mean[(i / 10) % 3] += tgt_at(x, i) / 40.0;
    for (int64_t i = 0; i < 120; i++) {
        double d = tgt_at(x, i) - mean[(i / 10) % 3];
        var[(i / 10) % 3] += d * d / 40.0;
    }
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_batch_norm_forward(T, &bn, x);
    ck_assert_msg(y != NULL, "%s", tg_last_message());
    tgt_assert_shape(y, 4, (const int64_t[]){4, 3, 2, 5});
    for (int64_t i = 0; i < 120; i++) {
        int c = (int)((i / 10) % 3);
        double want = (tgt_at(x, i) - mean[c]) / sqrt(var[c] + 1e-5);
        ck_assert_double_eq_tol(tgt_at(y, i), want, 1e-12);
    }
    for (int c = 0; c < 3; c++) {
        ck_assert_double_eq_tol(tgt_at(bn.running_mean, c), 0.1 * mean[c], 1e-14);
        ck_assert_double_eq_tol(tgt_at(bn.running_var, c),
                                0.9 + 0.1 * var[c] * 40.0 / 39.0, 1e-14);
    }

    /* Eval: the running statistics, which stay as they are. */
    bn.training = false;
    double rm[3], rv[3];
    for (int c = 0; c < 3; c++) {
        rm[c] = tgt_at(bn.running_mean, c);
        rv[c] = tgt_at(bn.running_var, c);
    }
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    y = tg_batch_norm_forward(T, &bn, x);
    ck_assert_ptr_nonnull(y);
    for (int64_t i = 0; i < 120; i++) {
        int c = (int)((i / 10) % 3);
        ck_assert_double_eq_tol(tgt_at(y, i), (tgt_at(x, i) - rm[c]) / sqrt(rv[c] + 1e-5),
                                1e-12);
    }
    for (int c = 0; c < 3; c++) {
        ck_assert_double_eq(tgt_at(bn.running_mean, c), rm[c]);
        ck_assert_double_eq(tgt_at(bn.running_var, c), rv[c]);
    }
    tg_tape_free(T);
    tg_free(x);
    tg_batch_norm_free(&bn);
    tg_batch_norm_free(&bn);
    tg_batch_norm_free(NULL);
}
END_TEST

/* BatchNorm1d takes (N, C) and (N, C, L); (N, C, L) as the images
 * (N, C, L, 1), so both see the same statistics. */
START_TEST(test_batch_norm1d)
{
    tg_rng rng;
    tg_rng_seed(&rng, 6);
    tg_batch_norm a, b;
    ck_assert_int_eq(tg_batch_norm1d_init(&a, 2, F64), TG_OK);
    ck_assert_int_eq(tg_batch_norm2d_init(&b, 2, F64), TG_OK);
    tg_tensor *x = tg_randn(&rng, F64, TG_SHAPE(3, 2, 4));
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_batch_norm_forward(T, &a, x);
    ck_assert_msg(y != NULL, "%s", tg_last_message());
    tgt_assert_shape(y, 3, (const int64_t[]){3, 2, 4});
    tg_tensor *y4 = tg_batch_norm_forward(T, &b, tg_ad_reshape(T, x, TG_SHAPE(3, 2, 4, 1)));
    for (int64_t i = 0; i < 24; i++)
        ck_assert_double_eq(tgt_at(y, i), tgt_at(y4, i));
    ck_assert(same_bits(a.running_var, b.running_var));
    /* The gradient flows back through the reshapes. */
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, y, y))), TG_OK);
    ck_assert_ptr_nonnull(tg_grad(a.weight));

    tg_tensor *x2 = tg_randn(&rng, F64, TG_SHAPE(5, 2));
    y = tg_batch_norm_forward(T, &a, x2);
    tgt_assert_shape(y, 2, (const int64_t[]){5, 2});
    /* Without a tape: the caller's result, the intermediates freed (the
     * fixture checks for leaks). */
    tg_tensor *z = tg_batch_norm_forward(NULL, &a, x);
    ck_assert_ptr_nonnull(z);
    tgt_assert_shape(z, 3, (const int64_t[]){3, 2, 4});
    tg_free(z);
    tg_tape_free(T);
    tg_free(x);
    tg_free(x2);
    tg_batch_norm_free(&a);
    tg_batch_norm_free(&b);
}
END_TEST

/* ---- layer norm ---------------------------------------------------------------------- */

START_TEST(test_layer_norm)
{
    tg_layer_norm ln;
    ck_assert_int_eq(tg_layer_norm_init(&ln, 2, (const int64_t[]){3, 4}, F64), TG_OK);
    tgt_assert_shape(ln.weight, 2, (const int64_t[]){3, 4});
    ck_assert_double_eq(tgt_at(ln.weight, 5), 1.0);
    ck_assert_double_eq(tgt_at(ln.bias, 5), 0.0);
    ck_assert_double_eq(ln.eps, 1e-5);
    tg_rng rng;
    tg_rng_seed(&rng, 8);
    tg_tensor *x = tg_randn(&rng, F64, TG_SHAPE(2, 5, 3, 4));
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_layer_norm_forward(T, &ln, x);
    ck_assert_msg(y != NULL, "%s", tg_last_message());
    tgt_assert_shape(y, 4, (const int64_t[]){2, 5, 3, 4});
    /* Each block of 12 has mean 0 and biased variance 1 (up to eps). */
    for (int64_t blk = 0; blk < 10; blk++) {
        double s = 0.0, s2 = 0.0;
        for (int64_t j = 0; j < 12; j++) {
            double v = tgt_at(y, blk * 12 + j);
            s += v;
            s2 += v * v;
        }
        ck_assert_double_eq_tol(s / 12.0, 0.0, 1e-12);
        ck_assert_double_eq_tol(s2 / 12.0, 1.0, 1e-3);
    }
    tg_params ps = {0};
    ck_assert_int_eq(tg_layer_norm_params(&ln, "ln", &ps), TG_OK);
    ck_assert_int_eq(ps.count, 2);
    ck_assert_str_eq(ps.names[1], "ln.bias");
    ck_assert(!ps.buffer[0] && !ps.buffer[1]);
    tg_tape_free(T);
    tg_free(x);
    tg_layer_norm_free(&ln);
}
END_TEST

/* ---- dropout --------------------------------------------------------------------------- */

START_TEST(test_dropout_train_eval)
{
    tg_rng rng;
    tg_rng_seed(&rng, 9);
    tg_dropout d;
    ck_assert_int_eq(tg_dropout_init(&d, 0.5, &rng), TG_OK);
    ck_assert(d.training);
    tg_tensor *x = tg_full(F32, TG_SHAPE(40, 50), 3.0);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_dropout_forward(T, &d, x);
    ck_assert_msg(y != NULL, "%s", tg_last_message());
    tgt_assert_shape(y, 2, (const int64_t[]){40, 50});
    int64_t zeros = 0;
    for (int64_t i = 0; i < 2000; i++) {
        double v = tgt_at(y, i);
        ck_assert_msg(v == 0.0 || v == 6.0, "element %lld is %g", (long long)i, v);
        zeros += v == 0.0;
    }
    /* Binomial(2000, 0.5): 1000 +- 22 (one standard deviation). */
    ck_assert_msg(zeros > 900 && zeros < 1100, "%lld zeros", (long long)zeros);
    /* The mask is drawn from rng: the next call drops other elements. */
    tg_tensor *y2 = tg_dropout_forward(T, &d, x);
    ck_assert(!same_bits(y, y2));

    /* Eval: the input itself, and no draw made. */
    d.training = false;
    tg_rng before = rng;
    y = tg_dropout_forward(T, &d, x);
    for (int64_t i = 0; i < 2000; i++)
        ck_assert_double_eq(tgt_at(y, i), 3.0);
    ck_assert_int_eq(memcmp(&before, &rng, sizeof rng), 0);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

/* ---- a small CNN: registration, save/load, no allocation per step ------------------------ */

typedef struct small_cnn {
    tg_conv2d conv;    /* 2 -> 4, 3x3, padding 1 */
    tg_batch_norm bn;  /* 4 channels */
    tg_pool2d pool;    /* 2x2 */
    tg_dropout drop;   /* 0.5 */
    tg_linear fc;      /* 36 -> 3 */
} small_cnn;

static void small_init(small_cnn *m, uint32_t seed, tg_rng *rng, tg_params *ps)
{
    tg_rng_seed(rng, seed);
    tg_conv_args a = TG_CONV_ARGS;
    a.padding[0] = a.padding[1] = 1;
    ck_assert_int_eq(tg_conv2d_init(&m->conv, 2, 4, (const int64_t[]){3, 3}, &a, true, F64,
                                    rng),
                     TG_OK);
    ck_assert_int_eq(tg_batch_norm2d_init(&m->bn, 4, F64), TG_OK);
    ck_assert_int_eq(tg_pool2d_init(&m->pool, (const int64_t[]){2, 2}, NULL, NULL), TG_OK);
    ck_assert_int_eq(tg_dropout_init(&m->drop, 0.5, rng), TG_OK);
    ck_assert_int_eq(tg_linear_init(&m->fc, 36, 3, F64, rng), TG_OK);
    memset(ps, 0, sizeof *ps);
    ck_assert_int_eq(tg_conv2d_params(&m->conv, "conv", ps), TG_OK);
    ck_assert_int_eq(tg_batch_norm_params(&m->bn, "bn", ps), TG_OK);
    ck_assert_int_eq(tg_linear_params(&m->fc, "fc", ps), TG_OK);
}

static void small_training(small_cnn *m, bool training)
{
    m->bn.training = m->drop.training = training;
}

/* x (N, 2, 6, 6) -> (N, 3). */
static tg_tensor *small_forward(tg_tape *T, small_cnn *m, tg_tensor *x)
{
    tg_tensor *h = tg_batch_norm_forward(T, &m->bn, tg_conv2d_forward(T, &m->conv, x));
    h = tg_max_pool2d_forward(T, &m->pool, tg_ad_relu(T, h));  /* (N, 4, 3, 3) */
    h = tg_dropout_forward(T, &m->drop, tg_flatten(T, h));     /* (N, 36) */
    return tg_linear_forward(T, &m->fc, h);
}

static void small_free(small_cnn *m)
{
    tg_conv2d_free(&m->conv);
    tg_batch_norm_free(&m->bn);
    tg_linear_free(&m->fc);
}

/* One Adam step on (x, labels); returns the loss. */
static double small_step(tg_tape *T, small_cnn *m, tg_params *ps, tg_adam *opt,
                         tg_tensor *x, tg_tensor *labels)
{
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    tg_tensor *loss = tg_loss_cross_entropy(T, small_forward(T, m, x), labels);
    ck_assert_msg(loss != NULL, "%s", tg_last_message());
    double v;
    ck_assert_int_eq(tg_item(loss, &v), TG_OK);
    ck_assert_int_eq(tg_params_zero_grad(ps), TG_OK);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    ck_assert_int_eq(tg_adam_step(opt), TG_OK);
    return v;
}

static tg_tensor *small_labels(int64_t n)
{
    tg_tensor *y = tg_empty(TG_INT32, TG_SHAPE(n));
    for (int64_t i = 0; i < n; i++)
        ((int32_t *)tg_data(y))[i] = (int32_t)(i % 3);
    return y;
}

/* PyTorch's state_dict names; the running statistics are buffers, which
 * zero-grad and Adam leave alone (only a training forward moves them). */
START_TEST(test_params_and_buffers)
{
    small_cnn m;
    tg_rng rng;
    tg_params ps;
    small_init(&m, 1, &rng, &ps);
    static const char *const names[] = {"conv.weight", "conv.bias", "bn.weight",
                                        "bn.bias", "bn.running_mean", "bn.running_var",
                                        "fc.weight", "fc.bias"};
    ck_assert_int_eq(ps.count, 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_str_eq(ps.names[i], names[i]);
        ck_assert_int_eq(ps.buffer[i], i == 4 || i == 5);
        ck_assert_int_eq(tg_requires_grad_of(ps.tensors[i]), !(i == 4 || i == 5));
    }
    ck_assert_ptr_eq(ps.tensors[4], m.bn.running_mean);

    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 0.1, 0.9, 0.999, 1e-8, 0.0, false), TG_OK);
    ck_assert_ptr_null(opt.m[4]); /* no state for a buffer */
    ck_assert_ptr_nonnull(opt.m[3]);
    tg_tensor *x = tg_randn(&rng, F64, TG_SHAPE(4, 2, 6, 6));
    tg_tensor *y = small_labels(4);
    tg_tape *T = tg_tape_new();
    small_step(T, &m, &ps, &opt, x, y);
    /* The step moved the running mean (the forward did), Adam did not:
     * the running mean is 0.1 of the batch mean of conv's output. */
    tg_tensor *rm = tg_clone(m.bn.running_mean);
    small_training(&m, false);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert_ptr_nonnull(small_forward(T, &m, x)); /* eval: moves nothing */
    ck_assert(same_bits(rm, m.bn.running_mean));
    ck_assert_int_eq(tg_adam_step(&opt), TG_OK); /* grads still there: only params move */
    ck_assert(same_bits(rm, m.bn.running_mean));
    ck_assert_int_eq(tg_params_zero_grad(&ps), TG_OK);
    ck_assert_int_eq(opt.t[4], 0);
    ck_assert_int_eq(opt.t[0], 2);

    /* SGD with momentum keeps no state for buffers either. */
    tg_sgd sgd;
    ck_assert_int_eq(tg_sgd_init(&sgd, &ps, 0.1, 0.9, 0.0, false), TG_OK);
    ck_assert_ptr_null(sgd.buf[5]);
    ck_assert_int_eq(tg_sgd_step(&sgd), TG_OK);
    ck_assert(same_bits(rm, m.bn.running_mean));
    tg_sgd_free(&sgd);

    tg_free(rm);
    tg_adam_free(&opt);
    tg_tape_free(T);
    tg_free(x);
    tg_free(y);
    small_free(&m);
}
END_TEST

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ck_assert_int_eq(unlink(path), 0);
    }
    closedir(d);
    ck_assert_int_eq(rmdir(dir), 0);
}

/* Trained a few steps, saved, loaded into a network made from another
 * seed: the same parameters and running statistics bit for bit, so the
 * same logits in eval mode. */
START_TEST(test_save_load_round_trip)
{
    small_cnn a, b;
    tg_rng ra, rb;
    tg_params pa, pb;
    small_init(&a, 1, &ra, &pa);
    small_init(&b, 2, &rb, &pb);
    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &pa, 0.01, 0.9, 0.999, 1e-8, 0.0, false), TG_OK);
    tg_tensor *x = tg_randn(&ra, F64, TG_SHAPE(6, 2, 6, 6));
    tg_tensor *y = small_labels(6);
    tg_tape *T = tg_tape_new();
    for (int i = 0; i < 3; i++)
        small_step(T, &a, &pa, &opt, x, y);

    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/tg_cnn_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(tg_params_save(&pa, dir), TG_OK);
    ck_assert_int_eq(tg_params_load(&pb, dir), TG_OK);
    for (int i = 0; i < pa.count; i++)
        ck_assert_msg(same_bits(pa.tensors[i], pb.tensors[i]), "%s differs", pa.names[i]);
    ck_assert_double_ne(tgt_at(b.bn.running_var, 0), 1.0); /* really trained */

    small_training(&a, false);
    small_training(&b, false);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    tg_tensor *la = small_forward(T, &a, x), *lb = small_forward(T, &b, x);
    ck_assert(same_bits(la, lb));
    ck_assert_double_eq(tg_accuracy(la, y), tg_accuracy(lb, y));

    /* A missing running_var file: refused, nothing loaded. */
    char path[256];
    snprintf(path, sizeof path, "%s/bn.running_var.npy", dir);
    ck_assert_int_eq(unlink(path), 0);
    small_free(&b);
    small_init(&b, 2, &rb, &pb);
    ck_assert_int_eq(tg_params_load(&pb, dir), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "parameter \"bn.running_var\"");
    ck_assert_double_eq(tgt_at(b.bn.running_mean, 0), 0.0);

    remove_dir(dir);
    tg_adam_free(&opt);
    tg_tape_free(T);
    tg_free(x);
    tg_free(y);
    small_free(&a);
    small_free(&b);
}
END_TEST

/* After the first step, a training step (forward with batch norm and
 * dropout, loss, zero-grad, backward, Adam) allocates nothing: the tape's
 * arena is reused and every buffer exists. */
START_TEST(test_no_allocation_per_step)
{
    small_cnn m;
    tg_rng rng;
    tg_params ps;
    small_init(&m, 3, &rng, &ps);
    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 1e-3, 0.9, 0.999, 1e-8, 0.0, false), TG_OK);
    tg_tensor *x = tg_randn(&rng, F64, TG_SHAPE(8, 2, 6, 6));
    tg_tensor *y = small_labels(8);
    tg_tape *T = tg_tape_new();
    small_step(T, &m, &ps, &opt, x, y);
    long allocs = tgt_stats.allocs, reallocs = tgt_stats.reallocs;
    ck_assert_int_gt(allocs, 0); /* the counting allocator sees tapegrad's */
    double first = 0.0, last = 0.0;
    for (int i = 0; i < 5; i++) {
        double v = small_step(T, &m, &ps, &opt, x, y);
        first = i == 0 ? v : first;
        last = v;
        ck_assert_msg(tgt_stats.allocs == allocs && tgt_stats.reallocs == reallocs,
                      "step %d allocated %ld blocks and reallocated %ld", i + 2,
                      tgt_stats.allocs - allocs, tgt_stats.reallocs - reallocs);
    }
    ck_assert(isfinite(first) && isfinite(last));
    tg_adam_free(&opt);
    tg_tape_free(T);
    tg_free(x);
    tg_free(y);
    small_free(&m);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------------ */

START_TEST(test_init_errors)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_conv2d c;
    const int64_t k3[2] = {3, 3};
    tg_conv_args a = TG_CONV_ARGS;
    ck_assert_int_eq(tg_conv2d_init(NULL, 1, 1, k3, NULL, true, F32, &rng), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_conv2d_init: layer is NULL");
    ck_assert_int_eq(tg_conv2d_init(&c, 1, 1, NULL, NULL, true, F32, &rng), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "kernel is NULL");
    ck_assert_int_eq(tg_conv2d_init(&c, 1, 1, k3, NULL, true, F32, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "rng is NULL");
    ck_assert_int_eq(tg_conv2d_init(&c, 0, 1, k3, NULL, true, F32, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "channels in = 0 and out = 1 must be positive");
    ck_assert_int_eq(tg_conv2d_init(&c, 1, 1, (const int64_t[]){3, 0}, NULL, true, F32, &rng),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "kernel 3x0; both sizes must be positive");
    a.stride[1] = 0;
    ck_assert_int_eq(tg_conv2d_init(&c, 1, 1, k3, &a, true, F32, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "stride 0 on the width axis; it must be >= 1");
    a = (tg_conv_args)TG_CONV_ARGS;
    a.padding[0] = -1;
    ck_assert_int_eq(tg_conv2d_init(&c, 1, 1, k3, &a, true, F32, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "padding -1 on the height axis");
    a = (tg_conv_args)TG_CONV_ARGS;
    a.dilation[0] = 0;
    ck_assert_int_eq(tg_conv2d_init(&c, 1, 1, k3, &a, true, F32, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "dilation 0 on the height axis");
    a = (tg_conv_args)TG_CONV_ARGS;
    a.groups = 3;
    ck_assert_int_eq(tg_conv2d_init(&c, 4, 6, k3, &a, true, F32, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "groups = 3 must divide both in = 4 and out = 6");
    a.groups = 0;
    ck_assert_int_eq(tg_conv2d_init(&c, 4, 6, k3, &a, true, F32, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "groups is 0; it must be >= 1");
    a = (tg_conv_args)TG_CONV_ARGS;
    a.same = true;
    a.stride[0] = 2;
    ck_assert_int_eq(tg_conv2d_init(&c, 1, 1, k3, &a, true, F32, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "padding 'same' needs stride 1");
    ck_assert_int_eq(tg_conv2d_init(&c, 1, 1, k3, NULL, true, TG_INT32, &rng), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_conv2d_init");
    ck_assert_ptr_null(c.weight); /* a refused layer holds nothing */

    tg_pool2d p;
    ck_assert_int_eq(tg_pool2d_init(&p, (const int64_t[]){0, 2}, NULL, NULL), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_pool2d_init: kernel 0 on the height axis");
    ck_assert_int_eq(tg_pool2d_init(&p, k3, (const int64_t[]){1, 0}, NULL), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "stride 0 on the width axis");
    ck_assert_int_eq(tg_pool2d_init(&p, k3, NULL, (const int64_t[]){2, 1}), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "padding 2 on the height axis; it must be in [0, 1]");
    ck_assert_int_eq(tg_pool2d_init(&p, NULL, NULL, NULL), TG_ERR_NULL);

    tg_batch_norm bn;
    ck_assert_int_eq(tg_batch_norm2d_init(&bn, 0, F32), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_batch_norm2d_init: features = 0 must be positive");
    ck_assert_int_eq(tg_batch_norm1d_init(&bn, 3, TG_BOOL), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_batch_norm1d_init");
    ck_assert_ptr_null(bn.weight);

    tg_layer_norm ln;
    ck_assert_int_eq(tg_layer_norm_init(&ln, 0, k3, F32), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "ndims = 0; it must be in [1, 8]");
    ck_assert_int_eq(tg_layer_norm_init(&ln, 2, (const int64_t[]){3, 0}, F32), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "shape[1] is 0; sizes must be positive");

    tg_dropout d;
    ck_assert_int_eq(tg_dropout_init(&d, 1.5, &rng), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_dropout_init: p = 1.5 is outside [0, 1]");
    ck_assert_int_eq(tg_dropout_init(&d, (double)NAN, &rng), TG_ERR_VALUE);
    ck_assert_int_eq(tg_dropout_init(&d, -0.1, &rng), TG_ERR_VALUE);
    ck_assert_int_eq(tg_dropout_init(&d, 0.5, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "rng is NULL");
}
END_TEST

START_TEST(test_forward_errors)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_conv2d c;
    ck_assert_int_eq(tg_conv2d_init(&c, 2, 4, (const int64_t[]){3, 3}, NULL, true, F64, &rng),
                     TG_OK);
    tg_tape *T = tg_tape_new();
    tg_tensor *x3 = tg_zeros(F64, TG_SHAPE(1, 3, 5, 5));
    ck_assert_ptr_null(tg_conv2d_forward(T, &c, x3));
    TGT_ASSERT_ERR(TG_ERR_SHAPE,
                   "tg_conv2d_forward: x has shape (1,3,5,5); expected (N, 2, H, W)");
    tg_tensor *r3 = tg_zeros(F64, TG_SHAPE(2, 5, 5));
    ck_assert_ptr_null(tg_conv2d_forward(T, &c, r3));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "x has shape (2,5,5)");
    tg_tensor *f32 = tg_zeros(F32, TG_SHAPE(1, 2, 5, 5));
    ck_assert_ptr_null(tg_conv2d_forward(T, &c, f32));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "x is float32 but the layer is float64");
    /* A kernel larger than the input: the op's error. */
    tg_tensor *tiny = tg_zeros(F64, TG_SHAPE(1, 2, 2, 2));
    ck_assert_ptr_null(tg_conv2d_forward(T, &c, tiny));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_ad_conv2d");
    /* NULL in, NULL out, the earlier error kept. */
    tg_clear_error();
    ck_assert_ptr_null(tg_conv2d_forward(T, &c, NULL));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    tg_conv2d blank = {0};
    ck_assert_ptr_null(tg_conv2d_forward(T, &blank, x3));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_conv2d_forward: layer is not initialised");
    ck_assert_ptr_null(tg_conv2d_forward(T, NULL, x3));
    TGT_ASSERT_ERR(TG_ERR_NULL, "layer is NULL");

    tg_pool2d p;
    memset(&p, 0, sizeof p);
    ck_assert_ptr_null(tg_max_pool2d_forward(T, &p, x3));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_max_pool2d_forward: layer is not initialised");
    ck_assert_ptr_null(tg_avg_pool2d_forward(T, NULL, x3));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_avg_pool2d_forward: layer is NULL");

    tg_batch_norm bn;
    ck_assert_int_eq(tg_batch_norm2d_init(&bn, 2, F64), TG_OK);
    ck_assert_ptr_null(tg_batch_norm_forward(T, &bn, x3));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "x has shape (1,3,5,5); BatchNorm2d(2) expects (N, 2, H, W)");
    ck_assert_ptr_null(tg_batch_norm_forward(T, &bn, r3));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "BatchNorm2d(2)");
    tg_batch_norm_free(&bn);
    ck_assert_int_eq(tg_batch_norm1d_init(&bn, 5, F64), TG_OK);
    ck_assert_ptr_null(tg_batch_norm_forward(T, &bn, x3));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "BatchNorm1d(5) expects (N, 5) or (N, 5, L)");
    tg_batch_norm_free(&bn);
    ck_assert_ptr_null(tg_batch_norm_forward(T, &bn, r3)); /* freed: not initialised */
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_batch_norm_forward: layer is not initialised");

    tg_layer_norm ln;
    ck_assert_int_eq(tg_layer_norm_init(&ln, 2, (const int64_t[]){5, 4}, F64), TG_OK);
    ck_assert_ptr_null(tg_layer_norm_forward(T, &ln, x3));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "x has shape (1,3,5,5); its last axes must be (5,4)");
    tg_layer_norm_free(&ln);

    tg_dropout d = {0};
    ck_assert_ptr_null(tg_dropout_forward(T, &d, x3));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_dropout_forward: layer is not initialised");

    tg_tensor *v = tg_zeros(F64, TG_SHAPE(4));
    ck_assert_ptr_null(tg_flatten(T, v));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_flatten: x has shape (4,); it needs a batch axis");

    tg_tape_free(T);
    tg_free(x3);
    tg_free(r3);
    tg_free(f32);
    tg_free(tiny);
    tg_free(v);
    tg_conv2d_free(&c);
}
END_TEST

START_TEST(test_params_errors)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_batch_norm bn;
    ck_assert_int_eq(tg_batch_norm2d_init(&bn, 2, F32), TG_OK);
    tg_params ps = {0};
    char longp[TG_PARAM_NAME_MAX];
    memset(longp, 'p', sizeof longp - 8);
    longp[sizeof longp - 8] = '\0'; /* 40 characters: ".running_mean" does not fit */
    ck_assert_int_eq(tg_batch_norm_params(&bn, longp, &ps), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_batch_norm_params: prefix \"pppp");
    TGT_ASSERT_ERR(TG_ERR_VALUE, "at most 47 are allowed");
    ck_assert_int_eq(ps.count, 0);
    ck_assert_int_eq(tg_batch_norm_params(&bn, NULL, &ps), TG_ERR_NULL);
    ck_assert_int_eq(tg_batch_norm_params(&bn, "bn", NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_batch_norm_params(NULL, "bn", &ps), TG_ERR_NULL);
    /* All four or none: a name already taken by the third. */
    tg_tensor *other = tg_zeros(F32, TG_SHAPE(1));
    ck_assert_int_eq(tg_params_add_buffer(&ps, "bn.running_mean", other), TG_OK);
    ck_assert_int_eq(tg_batch_norm_params(&bn, "bn", &ps), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "name \"bn.running_mean\" is already in the list");
    ck_assert_int_eq(ps.count, 1);
    ck_assert(!tg_requires_grad_of(other));

    /* A buffer must not require a gradient. */
    tg_tensor *g = tg_zeros(F32, TG_SHAPE(1));
    tg_requires_grad(g, true);
    ck_assert_int_eq(tg_params_add_buffer(&ps, "g", g), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_params_add_buffer: \"g\" requires a gradient");

    /* A full list says how to make room; a layer that does not fit adds
     * nothing. */
    tg_params full = {0};
    tg_tensor *ts[TG_MAX_PARAMS];
    char name[16];
    for (int i = 0; i < TG_MAX_PARAMS - 3; i++) {
        ts[i] = tg_zeros(F32, TG_SHAPE(1));
        snprintf(name, sizeof name, "p%d", i);
        ck_assert_int_eq(tg_params_add(&full, name, ts[i]), TG_OK);
    }
    ck_assert_int_eq(tg_batch_norm_params(&bn, "bn", &full), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "4 more entries do not fit in a list holding 61 of 64 "
                                 "(raise TG_MAX_PARAMS in models/nn.h and rebuild)");
    ck_assert_int_eq(full.count, TG_MAX_PARAMS - 3);
    for (int i = TG_MAX_PARAMS - 3; i < TG_MAX_PARAMS; i++) {
        ts[i] = tg_zeros(F32, TG_SHAPE(1));
        snprintf(name, sizeof name, "p%d", i);
        ck_assert_int_eq(tg_params_add_buffer(&full, name, ts[i]), TG_OK);
    }
    ck_assert_int_eq(tg_params_add_buffer(&full, "one_more", g), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "the list is full (64 parameters); raise TG_MAX_PARAMS "
                                 "in models/nn.h");
    for (int i = 0; i < TG_MAX_PARAMS; i++)
        tg_free(ts[i]);

    tg_conv2d blank = {0};
    ck_assert_int_eq(tg_conv2d_params(&blank, "c", &ps), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_conv2d_params: layer is not initialised");
    tg_layer_norm lblank = {0};
    ck_assert_int_eq(tg_layer_norm_params(&lblank, "l", &ps), TG_ERR_VALUE);

    tg_free(other);
    tg_free(g);
    tg_batch_norm_free(&bn);
}
END_TEST

Suite *test_cnn_suite(void); /* called by the generated runner */

Suite *test_cnn_suite(void)
{
    Suite *s = suite_create("cnn");
    TCase *tc = tgt_tcase("layers");
    tcase_add_test(tc, test_conv2d_init_shapes);
    tcase_add_test(tc, test_conv2d_init_statistics);
    tcase_add_test(tc, test_conv2d_forward);
    tcase_add_test(tc, test_pool_and_flatten);
    tcase_add_test(tc, test_batch_norm_train_eval);
    tcase_add_test(tc, test_batch_norm1d);
    tcase_add_test(tc, test_layer_norm);
    tcase_add_test(tc, test_dropout_train_eval);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("model");
    tcase_add_test(tc, test_params_and_buffers);
    tcase_add_test(tc, test_save_load_round_trip);
    tcase_add_test(tc, test_no_allocation_per_step);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("bad input");
    tcase_add_test(tc, test_init_errors);
    tcase_add_test(tc, test_forward_errors);
    tcase_add_test(tc, test_params_errors);
    suite_add_tcase(s, tc);
    return s;
}
