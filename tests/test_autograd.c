/* test_autograd.c - the tape: the chapter's model against hand-derived
 * gradients, graph shapes (diamonds, shared leaves, a 100,000-op chain),
 * accumulation and no-grad mode, float32 against float64, second order
 * (Hessians, Hessian-vector products), misuse errors, and memory (a steady
 * training loop that stops allocating, allocation-failure injection). */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>

/* ---- shared helpers ---------------------------------------------------------- */

typedef struct lcg {
    uint64_t s;
} lcg;

static double lcg_range(lcg *g, double lo, double hi)
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(g->s >> 11) * 0x1p-53;
}

/* A contiguous float64 tensor of uniform values in [lo, hi]. */
static tg_tensor *rand_tensor(lcg *g, tg_dtype dt, double lo, double hi, int ndim,
                              const int64_t *shape)
{
    tg_tensor *t = tg_empty(TG_FLOAT64, ndim, shape);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < tg_numel(t); i++)
        ((double *)tg_data(t))[i] = lcg_range(g, lo, hi);
    if (dt == TG_FLOAT64)
        return t;
    tg_tensor *c = tg_cast(t, dt);
    tg_free(t);
    ck_assert_ptr_nonnull(c);
    return c;
}

static tg_tensor *vec(int64_t n, const double *v)
{
    tg_tensor *t = tg_from_array(TG_FLOAT64, 1, (const int64_t[]){n}, v);
    ck_assert_ptr_nonnull(t);
    return t;
}

static tg_tensor *leaf_vec(int64_t n, const double *v)
{
    tg_tensor *t = vec(n, v);
    ck_assert_int_eq(tg_requires_grad(t, true), TG_OK);
    return t;
}

static double item(const tg_tensor *t)
{
    double v = (double)NAN;
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_item(t, &v), TG_OK);
    return v;
}

/* |got - want| <= tol * max(|want|, tiny): a relative comparison. */
#define ASSERT_REL(got, want, tol)                                                   \
    do {                                                                             \
        double g_ = (got), w_ = (want);                                              \
        ck_assert_msg(fabs(g_ - w_) <= (tol) * fmax(fabs(w_), 1e-300),               \
                      "%s = %.17g, want %.17g (rel %.3g)", #got, g_, w_,             \
                      fabs(g_ - w_) / fmax(fabs(w_), 1e-300));                        \
    } while (0)

/* After an error the same tape must still reset, record and differentiate:
 * d sum(x*x + 3x) / dx = 2x + 3. */
static void assert_tape_works(tg_tape *T)
{
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert(tg_tape_is_recording(T));
    tg_tensor *x = leaf_vec(3, (const double[]){1.0, -2.0, 0.5});
    tg_tensor *l = tg_ad_sum(T, tg_ad_add(T, tg_ad_mul(T, x, x), tg_ad_mul_scalar(T, x, 3.0)));
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(tg_backward(T, l), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(x), 0), 5.0);
    ck_assert_double_eq(tgt_at(tg_grad(x), 1), -1.0);
    ck_assert_double_eq(tgt_at(tg_grad(x), 2), 4.0);
    tg_free(x);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
}

/* ---- the chapter's model ------------------------------------------------------- */

#define N_PTS 100

typedef struct chapter {
    tg_tensor *x, *y; /* (100,) data */
    tg_tensor *w, *b; /* (1,) leaves */
    double w0, b0;    /* their initial values */
    double xs[N_PTS], ys[N_PTS];
} chapter;

/* np.random.seed(100); x = linspace(-1, 1, 100);
 * y = 3x^2 + 2 + 0.2 rand(100); w = rand(); b = rand(). */
static void chapter_init(chapter *c)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    c->x = tg_linspace(TG_FLOAT64, -1.0, 1.0, N_PTS);
    tg_tensor *noise = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(N_PTS));
    tg_tensor *x2 = tg_pow_scalar(c->x, 2.0);
    tg_tensor *x23 = tg_mul_scalar(x2, 3.0);
    tg_tensor *base = tg_add_scalar(x23, 2.0);
    tg_tensor *jitter = tg_mul_scalar(noise, 0.2);
    c->y = tg_add(base, jitter);
    ck_assert_ptr_nonnull(c->y);
    tg_free(noise);
    tg_free(x2);
    tg_free(x23);
    tg_free(base);
    tg_free(jitter);
    c->w0 = tg_rng_random(&rng);
    c->b0 = tg_rng_random(&rng);
    c->w = tg_full(TG_FLOAT64, TG_SHAPE(1), c->w0);
    c->b = tg_full(TG_FLOAT64, TG_SHAPE(1), c->b0);
    ck_assert_int_eq(tg_requires_grad(c->w, true), TG_OK);
    ck_assert_int_eq(tg_requires_grad(c->b, true), TG_OK);
    for (int i = 0; i < N_PTS; i++) {
        c->xs[i] = tgt_at(c->x, i);
        c->ys[i] = tgt_at(c->y, i);
    }
}

static void chapter_free(chapter *c)
{
    tg_free(c->x);
    tg_free(c->y);
    tg_free(c->w);
    tg_free(c->b);
}

/* loss = 0.5 * sum((w x^2 + b - y)^2), recorded on T. */
static tg_tensor *chapter_loss(tg_tape *T, const chapter *c)
{
    tg_tensor *x2 = tg_ad_pow_scalar(T, c->x, 2.0);
    tg_tensor *pred = tg_ad_add(T, tg_ad_mul(T, x2, c->w), c->b);
    tg_tensor *err = tg_ad_sub(T, pred, c->y);
    return tg_ad_mul_scalar(T, tg_ad_sum(T, tg_ad_mul(T, err, err)), 0.5);
}

/* The same loss and its gradient in plain C doubles. */
static void chapter_plain(const chapter *c, double w, double b, double *loss,
                          double *gw, double *gb)
{
    double l = 0, sw = 0, sb = 0;
    for (int i = 0; i < N_PTS; i++) {
        double x2 = c->xs[i] * c->xs[i];
        double e = w * x2 + b - c->ys[i];
        l += e * e;
        sw += e * x2;
        sb += e;
    }
    *loss = 0.5 * l;
    *gw = sw;
    *gb = sb;
}

/* One training step: reset, forward, zero_grad, backward, update. */
static double chapter_step(tg_tape *T, chapter *c, double lr)
{
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    tg_tensor *loss = chapter_loss(T, c);
    ck_assert_ptr_nonnull(loss);
    double l = item(loss);
    ck_assert_int_eq(tg_zero_grad(c->w), TG_OK);
    ck_assert_int_eq(tg_zero_grad(c->b), TG_OK);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    ck_assert_int_eq(tg_axpy_into(c->w, -lr, tg_grad(c->w)), TG_OK);
    ck_assert_int_eq(tg_axpy_into(c->b, -lr, tg_grad(c->b)), TG_OK);
    return l;
}

START_TEST(test_chapter_data)
{
    chapter c;
    chapter_init(&c);
    /* The same draws as tests/data/chapter_reference.py. */
    ck_assert_double_eq(c.w0, 0.77828921544984853);
    ck_assert_double_eq(c.b0, 0.77959839861074964);
    ck_assert_double_eq(c.xs[0], -1.0);
    ck_assert_double_eq(c.xs[99], 1.0);
    for (int i = 0; i < N_PTS; i++) {
        double r = c.ys[i] - 3 * c.xs[i] * c.xs[i] - 2;
        ck_assert(r >= -1e-12 && r < 0.2 + 1e-12);
    }
    chapter_free(&c);
}
END_TEST

START_TEST(test_chapter_gradient_initial)
{
    chapter c;
    chapter_init(&c);
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_nonnull(T);
    ck_assert_ptr_null(tg_grad(c.w));
    tg_tensor *loss = chapter_loss(T, &c);
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(tg_ndim(loss), 0);
    ck_assert(tg_requires_grad_of(loss));
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    double l, gw, gb;
    chapter_plain(&c, c.w0, c.b0, &l, &gw, &gb);
    ASSERT_REL(item(loss), l, 1e-12);
    ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
    ASSERT_REL(item(tg_grad(c.b)), gb, 1e-12);
    tgt_assert_shape(tg_grad(c.w), TG_SHAPE(1));
    ck_assert_int_eq(tg_dtype_of(tg_grad(c.w)), TG_FLOAT64);
    /* The data never asked for a gradient. */
    ck_assert_ptr_null(tg_grad(c.x));
    ck_assert_ptr_null(tg_grad(c.y));
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

START_TEST(test_chapter_ten_steps)
{
    chapter c;
    chapter_init(&c);
    tg_tape *T = tg_tape_new();
    double w = c.w0, b = c.b0, l, gw, gb;
    for (int step = 0; step < 10; step++) {
        double tl = chapter_step(T, &c, 0.001);
        chapter_plain(&c, w, b, &l, &gw, &gb);
        ASSERT_REL(tl, l, 1e-12);
        ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
        ASSERT_REL(item(tg_grad(c.b)), gb, 1e-12);
        w -= 0.001 * gw;
        b -= 0.001 * gb;
        ASSERT_REL(item(c.w), w, 1e-12);
        ASSERT_REL(item(c.b), b, 1e-12);
    }
    /* The loss went down. */
    double l0;
    chapter_plain(&c, c.w0, c.b0, &l0, &gw, &gb);
    chapter_plain(&c, w, b, &l, &gw, &gb);
    ck_assert(l < l0);
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

START_TEST(test_chapter_reference_800_steps)
{
    /* tests/data/chapter_reference.txt: NumPy's w, b and last loss. */
    chapter c;
    chapter_init(&c);
    tg_tape *T = tg_tape_new();
    double l = 0;
    for (int step = 0; step < 800; step++)
        l = chapter_step(T, &c, 0.001);
    ASSERT_REL(item(c.w), 2.9892761947317421, 1e-10);
    ASSERT_REL(item(c.b), 2.0981830678832978, 1e-10);
    ASSERT_REL(l, 0.1669796904294869, 1e-9);
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

/* ---- graph shapes ------------------------------------------------------------------ */

START_TEST(test_diamond)
{
    /* y = a*b; z = sum(y + y*c): y feeds two ops. */
    double av[] = {1.5, -2.0, 0.5}, bv[] = {0.25, 3.0, -1.0}, cv[] = {2.0, -0.5, 4.0};
    tg_tensor *a = leaf_vec(3, av), *b = leaf_vec(3, bv), *c = leaf_vec(3, cv);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_mul(T, a, b);
    tg_tensor *z = tg_ad_sum(T, tg_ad_add(T, y, tg_ad_mul(T, y, c)));
    ck_assert_uint_eq(tg_tape_length(T), 4);
    ck_assert_int_eq(tg_backward(T, z), TG_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq_tol(tgt_at(tg_grad(a), i), bv[i] * (1 + cv[i]), 1e-15);
        ck_assert_double_eq_tol(tgt_at(tg_grad(b), i), av[i] * (1 + cv[i]), 1e-15);
        ck_assert_double_eq_tol(tgt_at(tg_grad(c), i), av[i] * bv[i], 1e-15);
    }
    /* dz/dy for the shared intermediate itself. */
    tg_tensor *gy;
    ck_assert_int_eq(tg_ad_grad(T, z, NULL, 1, &y, &gy, false), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(gy, i), 1 + cv[i]);
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
    tg_free(c);
}
END_TEST

START_TEST(test_leaf_used_twice)
{
    double xv[] = {1.5, -2.0, 0.75, 3.0};
    tg_tensor *x1 = leaf_vec(4, xv), *x2 = leaf_vec(4, xv), *x3 = leaf_vec(4, xv);
    tg_tensor *two = tg_full(TG_FLOAT64, TG_SHAPE(4), 2.0);
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, x1, x1))), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_pow(T, x2, two))), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_pow_scalar(T, x3, 2.0))), TG_OK);
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq(tgt_at(tg_grad(x1), i), 2 * xv[i]);
        ck_assert_double_eq_tol(tgt_at(tg_grad(x2), i), 2 * xv[i], 1e-15);
        ck_assert_double_eq(tgt_at(tg_grad(x3), i), 2 * xv[i]);
    }
    /* x + x + x: three uses, gradient 3. */
    ck_assert_int_eq(tg_zero_grad(x1), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_add(T, tg_ad_add(T, x1, x1), x1))),
                     TG_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq(tgt_at(tg_grad(x1), i), 3.0);
    ck_assert_ptr_null(tg_grad(two));
    tg_tape_free(T);
    tg_free(x1);
    tg_free(x2);
    tg_free(x3);
    tg_free(two);
}
END_TEST

START_TEST(test_deep_chain)
{
    /* 100,000 records; backward walks them in a loop, not by recursion. */
    enum { DEPTH = 100000 };
    tg_tensor *x = leaf_vec(1, (const double[]){0.5});
    tg_tape *T = tg_tape_new();
    tg_tensor *y = x;
    double v = 0.5, dv = 1.0;
    for (int i = 0; i < DEPTH; i++) {
        if (i % 2 == 0) {
            y = tg_ad_mul_scalar(T, y, 1.0001);
            v *= 1.0001;
            dv *= 1.0001;
        } else {
            y = tg_ad_add_scalar(T, y, 1e-6);
            v += 1e-6;
        }
    }
    ck_assert_ptr_nonnull(y);
    ck_assert_uint_eq(tg_tape_length(T), DEPTH);
    ck_assert_double_eq(item(y), v);
    ck_assert_int_eq(tg_backward(T, y), TG_OK);
    ASSERT_REL(item(tg_grad(x)), dv, 1e-13);
    ASSERT_REL(item(tg_grad(x)), pow(1.0001, DEPTH / 2), 1e-9);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

START_TEST(test_backward_twice_refused)
{
    chapter c;
    chapter_init(&c);
    tg_tape *T = tg_tape_new();
    tg_tensor *loss = chapter_loss(T, &c);
    double l, gw, gb;
    chapter_plain(&c, c.w0, c.b0, &l, &gw, &gb);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    /* A second backward through the same recording would add the
     * gradients again: refused, and the gradients are left as they were. */
    ck_assert_int_eq(tg_backward(T, loss), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_backward: the graph through tg_ad_");
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_tape_retain_graph(T, true)");
    ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
    ASSERT_REL(item(tg_grad(c.b)), gb, 1e-12);
    /* So is a backward from another root that shares the records. */
    tg_tensor *twice = tg_ad_mul_scalar(T, loss, 2.0);
    ck_assert_int_eq(tg_backward(T, twice), TG_ERR_TAPE);
    ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
    /* tg_ad_grad writes no .grad and may walk it again. */
    tg_tensor *gg;
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 1, &c.w, &gg, false), TG_OK);
    ASSERT_REL(item(gg), gw, 1e-12);
    /* A new recording after a reset is a new graph. */
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    tg_zero_grad(c.w);
    tg_zero_grad(c.b);
    ck_assert_int_eq(tg_backward(T, chapter_loss(T, &c)), TG_OK);
    ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

START_TEST(test_backward_twice_retained_accumulates)
{
    chapter c;
    chapter_init(&c);
    tg_tape *T = tg_tape_new();
    ck_assert(!tg_tape_retain_graph(T, true));
    tg_tensor *loss = chapter_loss(T, &c);
    double l, gw, gb;
    chapter_plain(&c, c.w0, c.b0, &l, &gw, &gb);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    tg_tensor *g = tg_grad(c.w);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    ck_assert_ptr_eq(tg_grad(c.w), g); /* the same buffer, accumulated */
    ASSERT_REL(item(tg_grad(c.w)), 2 * gw, 1e-12);
    ASSERT_REL(item(tg_grad(c.b)), 2 * gb, 1e-12);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    ASSERT_REL(item(tg_grad(c.w)), 3 * gw, 1e-12);
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

START_TEST(test_zero_grad)
{
    chapter c;
    chapter_init(&c);
    /* Before any backward there is nothing to clear. */
    ck_assert_int_eq(tg_zero_grad(c.w), TG_OK);
    ck_assert_ptr_null(tg_grad(c.w));
    tg_tape *T = tg_tape_new();
    tg_tape_retain_graph(T, true); /* two backward passes below */
    tg_tensor *loss = chapter_loss(T, &c);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    tg_tensor *g = tg_grad(c.w);
    ck_assert(item(g) != 0.0);
    ck_assert_int_eq(tg_zero_grad(c.w), TG_OK);
    ck_assert_ptr_eq(tg_grad(c.w), g);
    ck_assert_double_eq(item(g), 0.0);
    ck_assert(item(tg_grad(c.b)) != 0.0); /* only w was cleared */
    ck_assert_int_eq(tg_zero_grad(c.b), TG_OK);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    double l, gw, gb;
    chapter_plain(&c, c.w0, c.b0, &l, &gw, &gb);
    ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
    ASSERT_REL(item(tg_grad(c.b)), gb, 1e-12);
    ck_assert_int_eq(tg_zero_grad(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_zero_grad");
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

START_TEST(test_no_grad_mode)
{
    chapter c;
    chapter_init(&c);
    tg_tape *T = tg_tape_new();
    ck_assert(tg_tape_is_recording(T));
    ck_assert(!tg_tape_pause(T, true)); /* it was recording */
    ck_assert(!tg_tape_is_recording(T));
    ck_assert(tg_tape_pause(T, true));  /* now it was paused */
    tg_tensor *loss = chapter_loss(T, &c);
    ck_assert_ptr_nonnull(loss);
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert(tg_tape_bytes(T) > 0); /* results still live on the tape */
    ck_assert(!tg_requires_grad_of(loss));
    double l, gw, gb;
    chapter_plain(&c, c.w0, c.b0, &l, &gw, &gb);
    ASSERT_REL(item(loss), l, 1e-12);
    ck_assert_int_eq(tg_backward(T, loss), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "does not depend on any tensor that requires a gradient");
    ck_assert_ptr_null(tg_grad(c.w));
    /* Resume: the same forward is recorded again. */
    ck_assert(tg_tape_pause(T, false));
    ck_assert(tg_tape_is_recording(T));
    loss = chapter_loss(T, &c);
    ck_assert_uint_eq(tg_tape_length(T), 6); /* x^2 needs no record: x is data */
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

START_TEST(test_null_tape_ops)
{
    /* With T == NULL ops just compute; results are the caller's. */
    double xv[] = {1.0, -2.0, 3.0, 0.5, 0.25, -1.5};
    tg_tensor *x = tg_from_array(TG_FLOAT64, TG_SHAPE(2, 3), xv);
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
    tg_tensor *y = tg_ad_mul(NULL, x, x);
    ck_assert_ptr_nonnull(y);
    ck_assert(!tg_requires_grad_of(y));
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq(tgt_at(y, i), xv[i] * xv[i]);
    tg_tensor *s = tg_ad_sum(NULL, y);
    ck_assert_double_eq(item(s), 1 + 4 + 9 + 0.25 + 0.0625 + 2.25);
    tg_tensor *t = tg_ad_transpose(NULL, x, 0, 1);
    tgt_assert_shape(t, TG_SHAPE(3, 2));
    ck_assert(tg_shares_storage(t, x));
    ck_assert_double_eq(tgt_at(t, 1), xv[3]);
    tg_tensor *m = tg_ad_matmul(NULL, x, t);
    tgt_assert_shape(m, TG_SHAPE(2, 2));
    ck_assert_double_eq(tgt_at(m, 1), 1 * 0.5 - 2 * 0.25 - 3 * 1.5);
    tg_tensor *sl = tg_ad_slice(NULL, x, 1, 2, TG_NONE, -2);
    tgt_assert_shape(sl, TG_SHAPE(2, 2));
    ck_assert_double_eq(tgt_at(sl, 1), 1.0);
    tg_tensor *d = tg_ad_detach(NULL, x);
    ck_assert(!tg_shares_storage(d, x));
    ck_assert_double_eq(tgt_at(d, 5), -1.5);
    tg_tensor *c32 = tg_ad_cast(NULL, x, TG_FLOAT32);
    ck_assert_int_eq(tg_dtype_of(c32), TG_FLOAT32);
    tg_tensor *mx = tg_ad_max_axis(NULL, x, -1, true);
    tgt_assert_shape(mx, TG_SHAPE(2, 1));
    ck_assert_double_eq(tgt_at(mx, 1), 0.5);
    tg_tensor *st = tg_ad_step(NULL, x);
    ck_assert_double_eq(tgt_at(st, 1), 0.0);
    ck_assert_double_eq(tgt_at(st, 2), 1.0);
    tg_tensor *r = tg_ad_reshape(NULL, t, TG_SHAPE(6)); /* a copy: t is transposed */
    ck_assert_double_eq(tgt_at(r, 1), xv[3]);
    tg_tensor *fr[] = {y, s, t, m, sl, d, c32, mx, st, r};
    for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++)
        tg_free(fr[i]);
    ck_assert_ptr_null(tg_grad(x));
    tg_free(x);
}
END_TEST

START_TEST(test_detach_and_constants)
{
    double xv[] = {1.5, -2.0, 0.5};
    tg_tensor *x = leaf_vec(3, xv);
    tg_tape *T = tg_tape_new();
    tg_tensor *d = tg_ad_detach(T, x);
    ck_assert(!tg_requires_grad_of(d));
    ck_assert(!tg_shares_storage(d, x));
    ck_assert_uint_eq(tg_tape_length(T), 0);
    /* sum(detach(x) * x): the gradient is x, not 2x. */
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, d, x))), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(tg_grad(x), i), xv[i]);
    /* sign, step and ge are constants: sum(x * step(x)) has gradient step(x). */
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert_int_eq(tg_zero_grad(x), TG_OK);
    tg_tensor *st = tg_ad_step(T, x);
    tg_tensor *sg = tg_ad_sign(T, x);
    tg_tensor *ge = tg_ad_ge(T, x, tg_ad_detach(T, x)); /* x >= x everywhere */
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert(!tg_requires_grad_of(st) && !tg_requires_grad_of(sg) && !tg_requires_grad_of(ge));
    ck_assert_double_eq(tgt_at(sg, 1), -1.0);
    ck_assert_double_eq(tgt_at(ge, 1), 1.0);
    tg_tensor *l = tg_ad_sum(T, tg_ad_add(T, tg_ad_mul(T, x, st), tg_ad_mul(T, sg, ge)));
    ck_assert_int_eq(tg_backward(T, l), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(tg_grad(x), i), xv[i] > 0 ? 1.0 : 0.0);
    ck_assert_double_eq(item(l), 1.5 + 0.5 + (1 - 1 + 1));
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

START_TEST(test_ties_and_kinks)
{
    /* maximum/minimum split a tie evenly (PyTorch); max and max_axis share the gradient
     * evenly among tied maxima (torch.amax); abs and relu have derivative
     * 0 at 0. */
    tg_tensor *a = leaf_vec(3, (const double[]){1, 2, 3});
    tg_tensor *b = leaf_vec(3, (const double[]){1, 0, 3});
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_maximum(T, a, b))), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul_scalar(T, tg_ad_minimum(T, a, b), 10))),
                     TG_OK);
    static const double want_a[] = {5.5, 1, 5.5}, want_b[] = {5.5, 10, 5.5};
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq(tgt_at(tg_grad(a), i), want_a[i]);
        ck_assert_double_eq(tgt_at(tg_grad(b), i), want_b[i]);
    }
    tg_tensor *c = leaf_vec(4, (const double[]){3, 1, 3, -2});
    ck_assert_int_eq(tg_backward(T, tg_ad_max(T, c)), TG_OK);
    tg_tensor *m = tg_from_array(TG_FLOAT64, TG_SHAPE(2, 3), (const double[]){1, 5, 5, 7, 7, 0});
    tg_requires_grad(m, true);
    tg_tensor *mt = tg_transpose(m, 0, 1); /* (3,2), non-contiguous */
    tg_requires_grad(mt, true);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_max_axis(T, m, 1, false))), TG_OK);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_max_axis(T, mt, 0, true))), TG_OK);
    static const double want_c[] = {0.5, 0, 0.5, 0}, want_m[] = {0, 0.5, 0.5, 0.5, 0.5, 0},
                        want_mt[] = {0, 0.5, 0.5, 0.5, 0.5, 0};
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq(tgt_at(tg_grad(c), i), want_c[i]);
    for (int i = 0; i < 6; i++) {
        ck_assert_double_eq(tgt_at(tg_grad(m), i), want_m[i]);
        ck_assert_double_eq(tgt_at(tg_grad(mt), i), want_mt[i]);
    }
    tg_tensor *z = leaf_vec(3, (const double[]){0, -1, 2});
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_add(T, tg_ad_abs(T, z),
                                                            tg_ad_relu(T, z)))),
                     TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(z), 0), 0.0);
    ck_assert_double_eq(tgt_at(tg_grad(z), 1), -1.0);
    ck_assert_double_eq(tgt_at(tg_grad(z), 2), 2.0);
    tg_tape_free(T);
    tg_tensor *fr[] = {a, b, c, mt, m, z};
    for (size_t i = 0; i < 6; i++)
        tg_free(fr[i]);
}
END_TEST

START_TEST(test_empty_and_scalar_leaves)
{
    /* A (0,) leaf gets a (0,) gradient; a 0-d leaf a 0-d one. */
    tg_tensor *e = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 0));
    tg_tensor *s = tg_scalar(TG_FLOAT64, -1.5);
    tg_requires_grad(e, true);
    tg_requires_grad(s, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *l = tg_ad_add(T, tg_ad_sum(T, tg_ad_exp(T, e)),
                             tg_ad_mul(T, s, tg_ad_mul(T, s, s)));
    ck_assert_double_eq(item(l), -3.375);
    ck_assert_int_eq(tg_backward(T, l), TG_OK);
    tgt_assert_shape(tg_grad(e), TG_SHAPE(2, 0));
    ck_assert_int_eq(tg_ndim(tg_grad(s)), 0);
    ck_assert_double_eq(item(tg_grad(s)), 3 * 2.25);
    /* mean_axis over the empty axis is NaN; sum_axis 0 with its gradient. */
    tg_tensor *r = tg_ad_sum_axis(T, e, 1, false);
    tgt_assert_shape(r, TG_SHAPE(2));
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, r)), TG_OK);
    tgt_assert_shape(tg_grad(e), TG_SHAPE(2, 0));
    tg_tape_free(T);
    tg_free(e);
    tg_free(s);
}
END_TEST

START_TEST(test_backward_seed)
{
    double xv[] = {1.0, -2.0, 3.0}, sv[] = {0.5, 2.0, -1.0};
    tg_tensor *x = leaf_vec(3, xv), *seed = vec(3, sv);
    tg_tape *T = tg_tape_new();
    tg_tape_retain_graph(T, true); /* y's record is walked twice */
    tg_tensor *y = tg_ad_mul(T, x, x); /* (3,): needs a seed */
    ck_assert_int_eq(tg_backward_seed(T, y, seed), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(tg_grad(x), i), 2 * xv[i] * sv[i]);
    /* A seed on a one-element root scales the gradient. */
    ck_assert_int_eq(tg_zero_grad(x), TG_OK);
    tg_tensor *s = tg_ad_sum(T, y);
    tg_tensor *k = tg_scalar(TG_FLOAT64, -3.0);
    ck_assert_int_eq(tg_backward_seed(T, s, k), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(tgt_at(tg_grad(x), i), -6 * xv[i]);
    tg_tape_free(T);
    tg_free(k);
    tg_free(seed);
    tg_free(x);
}
END_TEST

START_TEST(test_ad_grad)
{
    chapter c;
    chapter_init(&c);
    tg_tensor *unused = tg_ones(TG_FLOAT64, TG_SHAPE(2, 2));
    tg_requires_grad(unused, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *x2 = tg_ad_pow_scalar(T, c.x, 2.0);
    tg_tensor *pred = tg_ad_add(T, tg_ad_mul(T, x2, c.w), c.b);
    tg_tensor *err = tg_ad_sub(T, pred, c.y);
    tg_tensor *loss = tg_ad_mul_scalar(T, tg_ad_sum(T, tg_ad_mul(T, err, err)), 0.5);
    tg_tensor *in[4] = {c.w, c.b, unused, pred}, *g[4];
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 4, in, g, false), TG_OK);
    double l, gw, gb;
    chapter_plain(&c, c.w0, c.b0, &l, &gw, &gb);
    ASSERT_REL(item(g[0]), gw, 1e-12);
    ASSERT_REL(item(g[1]), gb, 1e-12);
    tgt_assert_shape(g[2], TG_SHAPE(2, 2));
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq(tgt_at(g[2], i), 0.0);
    tgt_assert_shape(g[3], TG_SHAPE(N_PTS));
    for (int i = 0; i < N_PTS; i++) /* d loss / d pred = err */
        ck_assert_double_eq_tol(tgt_at(g[3], i), tgt_at(err, i), 1e-15);
    /* Without create_graph the gradients are plain values... */
    ck_assert(!tg_requires_grad_of(g[0]));
    /* ...and no .grad was touched. */
    ck_assert_ptr_null(tg_grad(c.w));
    ck_assert_ptr_null(tg_grad(unused));
    /* A seed multiplies: 2 * gradient. */
    tg_tensor *two = tg_scalar(TG_FLOAT64, 2.0);
    ck_assert_int_eq(tg_ad_grad(T, loss, two, 1, in, g, false), TG_OK);
    ASSERT_REL(item(g[0]), 2 * gw, 1e-12);
    /* n == 0 is a valid no-op walk. */
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 0, NULL, NULL, false), TG_OK);
    tg_tape_free(T);
    tg_free(two);
    tg_free(unused);
    chapter_free(&c);
}
END_TEST

START_TEST(test_view_leaf)
{
    /* A transposed heap view as a leaf gets a gradient of its own shape. */
    double bv[] = {1, 2, 3, 4, 5, 6};
    tg_tensor *base = tg_from_array(TG_FLOAT64, TG_SHAPE(2, 3), bv);
    tg_tensor *v = tg_transpose(base, 0, 1); /* (3,2) */
    ck_assert_int_eq(tg_requires_grad(v, true), TG_OK);
    tg_tensor *coef = tg_arange(TG_FLOAT64, 10, 16, 1);
    tg_tensor *cf = tg_reshape(coef, TG_SHAPE(3, 2));
    tg_tape *T = tg_tape_new();
    /* sum(v^2 * coef): d/dv = 2 v coef. */
    tg_tensor *l = tg_ad_sum(T, tg_ad_mul(T, tg_ad_mul(T, v, v), cf));
    ck_assert_int_eq(tg_backward(T, l), TG_OK);
    tgt_assert_shape(tg_grad(v), TG_SHAPE(3, 2));
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq(tgt_at(tg_grad(v), i), 2 * tgt_at(v, i) * (10 + i));
    ck_assert_ptr_null(tg_grad(base));
    tg_tape_free(T);
    tg_free(cf);
    tg_free(coef);
    tg_free(v);
    tg_free(base);
}
END_TEST

START_TEST(test_tape_bookkeeping)
{
    tg_tape *T = tg_tape_new();
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert_uint_eq(tg_tape_bytes(T), 0);
    tg_tensor *x = leaf_vec(3, (const double[]){1, 2, 3});
    tg_tensor *c = vec(3, (const double[]){4, 5, 6});
    /* Ops on constants only are not recorded but do use the arena. */
    tg_tensor *k = tg_ad_mul(T, c, c);
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert(!tg_requires_grad_of(k));
    size_t before = tg_tape_bytes(T);
    ck_assert(before > 0);
    tg_tensor *y = tg_ad_add(T, x, k);
    ck_assert_uint_eq(tg_tape_length(T), 1);
    ck_assert(tg_requires_grad_of(y));
    ck_assert(tg_tape_bytes(T) > before);
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert_uint_eq(tg_tape_bytes(T), 0);
    ck_assert_int_eq(tg_tape_reset(NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_tape_reset");
    ck_assert_uint_eq(tg_tape_length(NULL), 0);
    ck_assert(!tg_tape_is_recording(NULL));
    tg_tape_free(NULL);
    ck_assert(tg_requires_grad_of(x));
    ck_assert_int_eq(tg_requires_grad(x, false), TG_OK);
    ck_assert(!tg_requires_grad_of(x));
    ck_assert(!tg_requires_grad_of(NULL));
    ck_assert_ptr_null(tg_grad(NULL));
    tg_tape_free(T);
    tg_free(x);
    tg_free(c);
}
END_TEST

/* ---- float32 against float64 ---------------------------------------------------- */

/* loss = sum(tanh(X @ W1 + b1) @ W2) */
static tg_tensor *mlp_loss(tg_tape *T, tg_tensor *const *p)
{
    tg_tensor *h = tg_ad_tanh(T, tg_ad_add(T, tg_ad_matmul(T, p[0], p[1]), p[2]));
    return tg_ad_sum(T, tg_ad_matmul(T, h, p[3]));
}

START_TEST(test_float32_matches_float64)
{
    lcg g = {2024};
    const int64_t shapes[4][2] = {{6, 3}, {3, 5}, {5, 0}, {5, 2}};
    const int nds[4] = {2, 2, 1, 2};
    tg_tensor *p64[4], *p32[4];
    for (int i = 0; i < 4; i++) {
        p64[i] = rand_tensor(&g, TG_FLOAT64, -1.0, 1.0, nds[i], shapes[i]);
        p32[i] = tg_cast(p64[i], TG_FLOAT32);
        /* Start from the same (float32-representable) values. */
        tg_free(p64[i]);
        p64[i] = tg_cast(p32[i], TG_FLOAT64);
        ck_assert_int_eq(tg_requires_grad(p64[i], i > 0), TG_OK);
        ck_assert_int_eq(tg_requires_grad(p32[i], i > 0), TG_OK);
    }
    tg_tape *T = tg_tape_new();
    tg_tensor *l64 = mlp_loss(T, p64);
    tg_tensor *l32 = mlp_loss(T, p32);
    ck_assert_int_eq(tg_dtype_of(l32), TG_FLOAT32);
    ck_assert_int_eq(tg_backward(T, l64), TG_OK);
    ck_assert_int_eq(tg_backward(T, l32), TG_OK);
    ck_assert_double_eq_tol(item(l32), item(l64), 1e-5 * fmax(1.0, fabs(item(l64))));
    ck_assert_ptr_null(tg_grad(p32[0]));
    for (int i = 1; i < 4; i++) {
        tg_tensor *g32 = tg_grad(p32[i]), *g64 = tg_grad(p64[i]);
        ck_assert_int_eq(tg_dtype_of(g32), TG_FLOAT32);
        ck_assert_int_eq(tg_dtype_of(g64), TG_FLOAT64);
        ck_assert_int_eq(tg_numel(g32), tg_numel(g64));
        double scale = 0;
        for (int64_t j = 0; j < tg_numel(g64); j++)
            scale = fmax(scale, fabs(tgt_at(g64, j)));
        ck_assert(scale > 0.1);
        for (int64_t j = 0; j < tg_numel(g64); j++)
            ck_assert_msg(fabs(tgt_at(g32, j) - tgt_at(g64, j)) <= 1e-5 * scale,
                          "param %d elem %lld: f32 %.9g f64 %.17g", i, (long long)j,
                          tgt_at(g32, j), tgt_at(g64, j));
    }
    /* The f32 gradients are rounded, not exact: they differ somewhere. */
    bool differs = false;
    for (int64_t j = 0; j < tg_numel(tg_grad(p64[1])); j++)
        differs |= tgt_at(tg_grad(p32[1]), j) != tgt_at(tg_grad(p64[1]), j);
    ck_assert(differs);
    tg_tape_free(T);
    for (int i = 0; i < 4; i++) {
        tg_free(p32[i]);
        tg_free(p64[i]);
    }
}
END_TEST

/* ---- the plain backward against the recorded one ------------------------------ */

/* An unrecorded walk (tg_backward, tg_ad_grad without create_graph) runs
 * fused rules for the common ops (each op's plain rule in its family's file,
 * autograd/arith.c, unary.c, reduce.c, functions.c); a recorded
 * walk runs the general rules written with tg_ad_* ops. Both must give the
 * same gradients bit for bit, for every op with a plain rule, both dtypes,
 * broadcast and non-contiguous operands and an input used twice. */

typedef tg_tensor *(*pair_fn)(tg_tape *T, tg_tensor *a, tg_tensor *b);

static tg_tensor *pf_add(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_add(T, a, b); }
static tg_tensor *pf_sub(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_sub(T, a, b); }
static tg_tensor *pf_mul(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_mul(T, a, b); }
static tg_tensor *pf_square(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_mul(T, a, a); }
/* a used twice: its gradient is accumulated from two records. */
static tg_tensor *pf_twice(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_mul(T, tg_ad_add(T, a, b), tg_ad_exp(T, a)); }
static tg_tensor *pf_adds(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_add_scalar(T, a, 1.5); }
static tg_tensor *pf_subs(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_sub_scalar(T, a, 1.5); }
static tg_tensor *pf_rsubs(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_rsub_scalar(T, a, 1.5); }
static tg_tensor *pf_muls(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_mul_scalar(T, a, -0.3); }
static tg_tensor *pf_divs(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_div_scalar(T, a, 7.0); }
static tg_tensor *pf_pow1(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_pow_scalar(T, a, 1.0); }
static tg_tensor *pf_pow2(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_pow_scalar(T, a, 2.0); }
static tg_tensor *pf_pow3(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_pow_scalar(T, a, 3.0); }
static tg_tensor *pf_neg(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_neg(T, a); }
static tg_tensor *pf_exp(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_exp(T, a); }
static tg_tensor *pf_log(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_log(T, a); }
static tg_tensor *pf_sqrt(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_sqrt(T, a); }
static tg_tensor *pf_tanh(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_tanh(T, a); }
static tg_tensor *pf_sigmoid(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_sigmoid(T, a); }
static tg_tensor *pf_relu(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_relu(T, tg_ad_sub_scalar(T, a, 1.0)); }
/* autograd/functions.c: inputs across the kinks and softplus's threshold */
static tg_tensor *pf_sin(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_sin(T, tg_ad_mul(T, a, b)); }
static tg_tensor *pf_cos(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_cos(T, tg_ad_add(T, a, b)); }
static tg_tensor *pf_log1p(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_log1p(T, a); }
static tg_tensor *pf_expm1(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_expm1(T, tg_ad_sub(T, a, b)); }
static tg_tensor *pf_softplus(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_softplus(T, tg_ad_add(T, tg_ad_mul_scalar(T, a, 15.0), b)); }
static tg_tensor *pf_leaky(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_leaky_relu(T, tg_ad_sub(T, a, b), 0.1); }
static tg_tensor *pf_elu(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_elu(T, tg_ad_sub(T, a, b), 1.3); }
static tg_tensor *pf_gelu(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_gelu(T, tg_ad_sub(T, a, b)); }
static tg_tensor *pf_gelu_tanh(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_gelu_tanh(T, tg_ad_sub(T, a, b)); }
static tg_tensor *pf_silu(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_silu(T, tg_ad_mul(T, a, b)); }
static tg_tensor *pf_log_sigmoid(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_log_sigmoid(T, tg_ad_mul_scalar(T, tg_ad_mul(T, a, b), 5.0)); }
static tg_tensor *pf_square_fn(tg_tape *T, tg_tensor *a, tg_tensor *b) { return tg_ad_square(T, tg_ad_add(T, a, b)); }
static tg_tensor *pf_reciprocal(tg_tape *T, tg_tensor *a, tg_tensor *b) { (void)b; return tg_ad_reciprocal(T, a); }
/* A gradient recorded with create_graph: the derivative ops of their own
 * (softplus', elu', elu'', gelu's cdf) are then on the tape, and walked. */
static tg_tensor *grad_of(tg_tape *T, tg_tensor *y, tg_tensor *a)
{
    tg_tensor *g;
    return tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, y, y)), NULL, 1, &a, &g, true) ? NULL : g;
}
static tg_tensor *pf_softplus_d(tg_tape *T, tg_tensor *a, tg_tensor *b) { return grad_of(T, pf_softplus(T, a, b), a); }
static tg_tensor *pf_elu_d(tg_tape *T, tg_tensor *a, tg_tensor *b) { return grad_of(T, pf_elu(T, a, b), a); }
static tg_tensor *pf_elu_dd(tg_tape *T, tg_tensor *a, tg_tensor *b) { return grad_of(T, pf_elu_d(T, a, b), a); }
static tg_tensor *pf_gelu_d(tg_tape *T, tg_tensor *a, tg_tensor *b) { return grad_of(T, pf_gelu(T, a, b), a); }

static const struct {
    const char *name;
    pair_fn f;
} plain_ops[] = {
    {"add", pf_add}, {"sub", pf_sub}, {"mul", pf_mul}, {"a*a", pf_square},
    {"twice", pf_twice}, {"add_scalar", pf_adds}, {"sub_scalar", pf_subs},
    {"rsub_scalar", pf_rsubs}, {"mul_scalar", pf_muls}, {"div_scalar", pf_divs},
    {"pow 1", pf_pow1}, {"pow 2", pf_pow2}, {"pow 3", pf_pow3}, {"neg", pf_neg},
    {"exp", pf_exp}, {"log", pf_log}, {"sqrt", pf_sqrt}, {"tanh", pf_tanh},
    {"sigmoid", pf_sigmoid}, {"relu", pf_relu},
    {"sin", pf_sin}, {"cos", pf_cos}, {"log1p", pf_log1p}, {"expm1", pf_expm1},
    {"softplus", pf_softplus}, {"leaky_relu", pf_leaky}, {"elu", pf_elu},
    {"gelu", pf_gelu}, {"gelu_tanh", pf_gelu_tanh}, {"silu", pf_silu},
    {"log_sigmoid", pf_log_sigmoid}, {"square", pf_square_fn},
    {"reciprocal", pf_reciprocal}, {"softplus'", pf_softplus_d}, {"elu'", pf_elu_d},
    {"elu''", pf_elu_dd}, {"gelu'", pf_gelu_d},
};

START_TEST(test_plain_backward_matches_recorded)
{
    static const int64_t a_shape[2] = {3, 4};
    /* b's shapes: the same, a row, one element, a column, and a's
     * transpose made contiguous and then transposed back (strided). */
    static const int64_t b_shapes[4][2] = {{3, 4}, {1, 4}, {1, 1}, {3, 1}};
    lcg g = {20261129};
    int compared = 0;
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_FLOAT32 : TG_FLOAT64;
        for (size_t o = 0; o < sizeof plain_ops / sizeof plain_ops[0]; o++) {
            for (int bs = 0; bs < 5; bs++) {
                tg_tensor *a = rand_tensor(&g, dt, 0.5, 2.0, 2, a_shape);
                tg_tensor *b, *bt = NULL;
                if (bs < 4) {
                    b = rand_tensor(&g, dt, -2.0, 2.0, 2, b_shapes[bs]);
                } else {
                    bt = rand_tensor(&g, dt, -2.0, 2.0, 2, (const int64_t[]){4, 3});
                    b = tg_transpose(bt, 0, 1);
                }
                ck_assert_int_eq(tg_requires_grad(a, true), TG_OK);
                ck_assert_int_eq(tg_requires_grad(b, true), TG_OK);
                tg_tensor *w = rand_tensor(&g, dt, -1.0, 1.0, 2, a_shape);
                tg_tape *T = tg_tape_new();
                tg_tensor *y = plain_ops[o].f(T, a, b);
                tg_tensor *root = tg_ad_sum(T, tg_ad_mul(T, y, w));
                ck_assert_ptr_nonnull(root);
                tg_tensor *in[2] = {a, b}, *plain[2], *recorded[2];
                ck_assert_int_eq(tg_ad_grad(T, root, NULL, 2, in, plain, false), TG_OK);
                ck_assert_int_eq(tg_ad_grad(T, root, NULL, 2, in, recorded, true), TG_OK);
                for (int i = 0; i < 2; i++) {
                    tgt_assert_shape(plain[i], tg_ndim(in[i]), tg_shape(in[i]));
                    tgt_assert_shape(recorded[i], tg_ndim(in[i]), tg_shape(in[i]));
                    for (int64_t k = 0; k < tg_numel(in[i]); k++) {
                        double p = tgt_at(plain[i], k), r = tgt_at(recorded[i], k);
                        ck_assert_msg(tgt_same_value(p, r),
                                      "%s %s, b shape %d, input %d [%lld]: plain "
                                      "%.17g, recorded %.17g", plain_ops[o].name,
                                      tg_dtype_name(dt), bs, i, (long long)k, p, r);
                        compared++;
                    }
                }
                tg_tape_free(T);
                tg_free(a);
                tg_free(b);
                tg_free(bt);
                tg_free(w);
            }
        }
    }
    ck_assert_int_gt(compared, 2 * 20 * 5 * 12);
}
END_TEST

/* ---- second order ---------------------------------------------------------------- */

START_TEST(test_hessian_chapter)
{
    chapter c;
    chapter_init(&c);
    tg_tape *T = tg_tape_new();
    tg_tensor *loss = chapter_loss(T, &c);
    tg_tensor *wb[2] = {c.w, c.b}, *g[2], *h0[2], *h1[2];
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 2, wb, g, true), TG_OK);
    double l, gw, gb;
    chapter_plain(&c, c.w0, c.b0, &l, &gw, &gb);
    ASSERT_REL(item(g[0]), gw, 1e-12);
    ASSERT_REL(item(g[1]), gb, 1e-12);
    ck_assert(tg_requires_grad_of(g[0]) && tg_requires_grad_of(g[1]));
    ck_assert_int_eq(tg_ad_grad(T, g[0], NULL, 2, wb, h0, true), TG_OK);
    ck_assert_int_eq(tg_ad_grad(T, g[1], NULL, 2, wb, h1, true), TG_OK);
    double s2 = 0, s4 = 0;
    for (int i = 0; i < N_PTS; i++) {
        double x2 = c.xs[i] * c.xs[i];
        s2 += x2;
        s4 += x2 * x2;
    }
    ASSERT_REL(item(h0[0]), s4, 1e-12);
    ASSERT_REL(item(h0[1]), s2, 1e-12);
    ASSERT_REL(item(h1[0]), s2, 1e-12);
    ASSERT_REL(item(h1[1]), (double)N_PTS, 1e-12);
    /* The loss is quadratic: the third derivatives are zero. */
    tg_tensor *t3[2];
    ck_assert_int_eq(tg_ad_grad(T, h0[0], NULL, 2, wb, t3, false), TG_OK);
    ck_assert_double_eq(item(t3[0]), 0.0);
    ck_assert_double_eq(item(t3[1]), 0.0);
    /* A recorded gradient can also be the root of an ordinary backward. */
    ck_assert_int_eq(tg_backward(T, g[0]), TG_OK);
    ASSERT_REL(item(tg_grad(c.w)), s4, 1e-12);
    ASSERT_REL(item(tg_grad(c.b)), s2, 1e-12);
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

START_TEST(test_higher_derivatives)
{
    /* d^k/dx^k of x^3 and of exp(x), taken one recorded gradient at a time. */
    double xv[] = {0.5, -1.25, 2.0};
    tg_tensor *x = leaf_vec(3, xv);
    tg_tape *T = tg_tape_new();
    tg_tensor *f = tg_ad_add(T, tg_ad_pow_scalar(T, x, 3.0), tg_ad_exp(T, x));
    tg_tensor *d[4];
    d[0] = f;
    for (int k = 1; k < 4; k++)
        ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, d[k - 1]), NULL, 1, &x, &d[k], true),
                         TG_OK);
    for (int i = 0; i < 3; i++) {
        double e = exp(xv[i]);
        ck_assert_double_eq_tol(tgt_at(d[1], i), 3 * xv[i] * xv[i] + e, 1e-13);
        ck_assert_double_eq_tol(tgt_at(d[2], i), 6 * xv[i] + e, 1e-13);
        ck_assert_double_eq_tol(tgt_at(d[3], i), 6 + e, 1e-13);
    }
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

/* f(W) = sum(tanh(X @ W)); its gradient at W, by an ordinary backward. */
static void tanh_net_grad(const tg_tensor *X, const double *w, double *grad)
{
    tg_tensor *W = tg_from_array(TG_FLOAT64, TG_SHAPE(3, 2), w);
    tg_requires_grad(W, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *f = tg_ad_sum(T, tg_ad_tanh(T, tg_ad_matmul(T, (tg_tensor *)(uintptr_t)X, W)));
    ck_assert_int_eq(tg_backward(T, f), TG_OK);
    for (int i = 0; i < 6; i++)
        grad[i] = tgt_at(tg_grad(W), i);
    tg_tape_free(T);
    tg_free(W);
}

START_TEST(test_hessian_vector_product)
{
    lcg g = {77};
    tg_tensor *X = rand_tensor(&g, TG_FLOAT64, -1.0, 1.0, TG_SHAPE(4, 3));
    tg_tensor *W = rand_tensor(&g, TG_FLOAT64, -1.0, 1.0, TG_SHAPE(3, 2));
    tg_tensor *V = rand_tensor(&g, TG_FLOAT64, -1.0, 1.0, TG_SHAPE(3, 2));
    ck_assert_int_eq(tg_requires_grad(W, true), TG_OK);
    tg_tape *T = tg_tape_new();
    tg_tensor *Z = tg_ad_tanh(T, tg_ad_matmul(T, X, W)); /* (4,2) */
    tg_tensor *f = tg_ad_sum(T, Z);
    tg_tensor *gW, *hv;
    ck_assert_int_eq(tg_ad_grad(T, f, NULL, 1, &W, &gW, true), TG_OK);
    /* The gradient in closed form: X^T (1 - tanh^2(X W)). */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            double want = 0;
            for (int r = 0; r < 4; r++) {
                double z = tgt_at(Z, r * 2 + j);
                want += tgt_at(X, r * 3 + i) * (1 - z * z);
            }
            ck_assert_double_eq_tol(tgt_at(gW, i * 2 + j), want, 1e-14);
        }
    /* H v = d (g . v) / dW. */
    tg_tensor *gv = tg_ad_sum(T, tg_ad_mul(T, gW, V));
    ck_assert_int_eq(tg_ad_grad(T, gv, NULL, 1, &W, &hv, false), TG_OK);
    tgt_assert_shape(hv, TG_SHAPE(3, 2));
    /* Against central differences of gradients along v. */
    double w[6], wp[6], wm[6], gp[6], gm[6], h = 1e-5;
    for (int i = 0; i < 6; i++) {
        w[i] = tgt_at(W, i);
        wp[i] = w[i] + h * tgt_at(V, i);
        wm[i] = w[i] - h * tgt_at(V, i);
    }
    tanh_net_grad(X, wp, gp);
    tanh_net_grad(X, wm, gm);
    double norm = 0;
    for (int i = 0; i < 6; i++) {
        double fd = (gp[i] - gm[i]) / (2 * h);
        norm = fmax(norm, fabs(fd));
        ck_assert_msg(fabs(tgt_at(hv, i) - fd) <= 1e-7 * (1 + fabs(fd)),
                      "Hv[%d] = %.17g, finite differences %.17g", i, tgt_at(hv, i), fd);
    }
    ck_assert(norm > 1e-3); /* not a vacuous zero */
    tg_tape_free(T);
    tg_free(X);
    tg_free(W);
    tg_free(V);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------- */

START_TEST(test_err_nonscalar_root)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = leaf_vec(3, (const double[]){1, 2, 3});
    tg_tensor *y = tg_ad_mul(T, x, x);
    ck_assert_int_eq(tg_backward(T, y), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "needs one element");
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_backward: root has shape (3,)");
    ck_assert_ptr_null(tg_grad(x));
    tg_tensor *g;
    ck_assert_int_eq(tg_ad_grad(T, y, NULL, 1, &x, &g, false), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_grad: root has shape (3,)");
    assert_tape_works(T);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

START_TEST(test_err_seed)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = leaf_vec(3, (const double[]){1, 2, 3});
    tg_tensor *y = tg_ad_mul(T, x, x);
    tg_tensor *s4 = tg_ones(TG_FLOAT64, TG_SHAPE(4));
    tg_tensor *s32 = tg_ones(TG_FLOAT32, TG_SHAPE(3));
    ck_assert_int_eq(tg_backward_seed(T, y, s4), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "seed float64 (4,) does not match root float64 (3,)");
    ck_assert_int_eq(tg_backward_seed(T, y, s32), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "seed float32 (3,) does not match root float64 (3,)");
    ck_assert_ptr_null(tg_grad(x));
    assert_tape_works(T);
    tg_tape_free(T);
    tg_free(x);
    tg_free(s4);
    tg_free(s32);
}
END_TEST

START_TEST(test_err_foreign_root)
{
    tg_tape *T = tg_tape_new(), *T2 = tg_tape_new();
    tg_tensor *x = leaf_vec(3, (const double[]){1, 2, 3});
    /* A leaf is its own root, as in PyTorch: its gradient is the seed. */
    ck_assert_int_eq(tg_backward(T, x), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "root has shape (3,); backward without a seed needs one element");
    tg_tensor *one = leaf_vec(1, (const double[]){4});
    ck_assert_int_eq(tg_backward(T, one), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(one), 0), 1.0);
    tg_tensor *gl;
    ck_assert_int_eq(tg_ad_grad(T, one, NULL, 1, &one, &gl, false), TG_OK);
    ck_assert_double_eq(tgt_at(gl, 0), 1.0);
    tg_free(one);
    /* A T == NULL result is not on the tape and requires nothing. */
    tg_tensor *h = tg_ad_sum(NULL, x);
    ck_assert_int_eq(tg_backward(T, h), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "root was not produced by this tape and does not require a gradient");
    /* A root from another tape. */
    tg_tensor *r2 = tg_ad_sum(T2, tg_ad_mul(T2, x, x));
    ck_assert_int_eq(tg_backward(T, r2), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "another tape");
    ck_assert_ptr_null(tg_grad(x));
    /* The other tape itself is fine with it. */
    ck_assert_int_eq(tg_backward(T2, r2), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(x), 2), 6.0);
    tg_free(h);
    assert_tape_works(T);
    tg_tape_free(T);
    tg_tape_free(T2);
    tg_free(x);
}
END_TEST

START_TEST(test_err_stale_root)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = leaf_vec(3, (const double[]){1, 2, 3});
    tg_tensor *root = tg_ad_sum(T, tg_ad_exp(T, x));
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    /* Used before any new op, so its memory still says what it was. */
    ck_assert_int_eq(tg_backward(T, root), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "before the last reset");
    ck_assert_ptr_null(tg_grad(x));
    assert_tape_works(T);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

START_TEST(test_err_modified_input)
{
    chapter c;
    chapter_init(&c);
    tg_tape *T = tg_tape_new();
    tg_tensor *loss = chapter_loss(T, &c);
    ck_assert_int_eq(tg_fill(c.w, 0.5), TG_OK); /* w changed under the tape */
    ck_assert_int_eq(tg_backward(T, loss), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "modified in place");
    TGT_ASSERT_ERR(TG_ERR_TAPE, "input 2 of tg_ad_mul");
    ck_assert_ptr_null(tg_grad(c.w));
    /* b's record was walked before the error: a failed backward still
     * leaves every gradient untouched. */
    ck_assert_ptr_null(tg_grad(c.b));
    /* tg_set and the optimiser's axpy count as writes too. */
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    loss = chapter_loss(T, &c);
    ck_assert_int_eq(tg_set(c.b, (const int64_t[]){0}, 1.0), TG_OK);
    ck_assert_int_eq(tg_backward(T, loss), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "input 2 of tg_ad_add was modified in place");
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    loss = chapter_loss(T, &c);
    tg_tensor *one = tg_ones(TG_FLOAT64, TG_SHAPE(1));
    ck_assert_int_eq(tg_axpy_into(c.w, 1.0, one), TG_OK);
    ck_assert_int_eq(tg_backward(T, loss), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "modified in place");
    tg_free(one);
    /* After a reset the new values are recorded and backward works. */
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert_int_eq(tg_zero_grad(c.w), TG_OK);
    ck_assert_int_eq(tg_zero_grad(c.b), TG_OK);
    loss = chapter_loss(T, &c);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    double l, gw, gb;
    chapter_plain(&c, 1.5, 1.0, &l, &gw, &gb);
    ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
    ASSERT_REL(item(tg_grad(c.b)), gb, 1e-12);
    assert_tape_works(T);
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

START_TEST(test_err_modified_result)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = leaf_vec(3, (const double[]){1, 2, 3});
    tg_tensor *y = tg_ad_exp(T, x);
    tg_tensor *seed = tg_ones(TG_FLOAT64, TG_SHAPE(3));
    ck_assert_int_eq(tg_fill(y, 1.0), TG_OK);
    ck_assert_int_eq(tg_backward_seed(T, y, seed), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "the result of tg_ad_exp was modified in place");
    /* An intermediate written in place is an input of the next record. */
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    y = tg_ad_tanh(T, x);
    tg_tensor *z = tg_ad_sum(T, y);
    ck_assert_int_eq(tg_set(y, (const int64_t[]){1}, 0.0), TG_OK);
    ck_assert_int_eq(tg_backward(T, z), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "input 1 of tg_ad_sum was modified in place");
    ck_assert_ptr_null(tg_grad(x));
    assert_tape_works(T);
    tg_tape_free(T);
    tg_free(seed);
    tg_free(x);
}
END_TEST

START_TEST(test_err_stale_or_foreign_input)
{
    tg_tape *T = tg_tape_new(), *T2 = tg_tape_new();
    tg_tensor *x = leaf_vec(3, (const double[]){1, 2, 3});
    tg_tensor *y = tg_ad_exp(T, x);
    tg_tensor *k = tg_ad_exp(T, tg_ad_detach(T, x)); /* unrecorded, still T's */
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    ck_assert_ptr_null(tg_ad_add(T, y, x));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_add: an input was made before the last tg_tape_reset");
    tg_clear_error();
    ck_assert_ptr_null(tg_ad_neg(T, k));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_neg: an input was made before the last tg_tape_reset");
    assert_tape_works(T);
    /* A tensor of another live tape. */
    tg_tensor *y2 = tg_ad_exp(T2, x);
    ck_assert_ptr_null(tg_ad_mul(T, x, y2));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_mul: an input was made by another tape");
    ck_assert_ptr_null(tg_ad_matmul(T, y2, x));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_matmul");
    /* A tape's tensor given to a T == NULL op. */
    ck_assert_ptr_null(tg_ad_sum(NULL, y2));
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_sum");
    tg_tensor *g;
    ck_assert_int_eq(tg_ad_grad(T, tg_ad_sum(T, tg_ad_mul(T, x, x)), NULL, 1, &y2, &g, false),
                     TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_grad");
    assert_tape_works(T);
    tg_tape_free(T);
    tg_tape_free(T2);
    tg_free(x);
}
END_TEST

START_TEST(test_err_requires_grad_on_tape_tensor)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *c = vec(2, (const double[]){1, 2});
    tg_tensor *y = tg_ad_exp(T, c);
    ck_assert_int_eq(tg_requires_grad(y, true), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_requires_grad: only caller-owned tensors can be leaves");
    ck_assert(!tg_requires_grad_of(y));
    ck_assert_int_eq(tg_requires_grad(NULL, true), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_requires_grad: tensor is NULL");
    assert_tape_works(T);
    tg_tape_free(T);
    tg_free(c);
}
END_TEST

/* float32 with float64 promotes to float64, as in NumPy and PyTorch, and
 * each gradient comes back in its leaf's own dtype. */
START_TEST(test_mixed_dtypes_promote)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *a = leaf_vec(3, (const double[]){1, 2, 3});
    tg_tensor *b = tg_full(TG_FLOAT32, TG_SHAPE(3), 0.5);
    tg_requires_grad(b, true);
    tg_tensor *s = tg_ad_add(T, a, b);
    ck_assert_int_eq(tg_dtype_of(s), TG_FLOAT64);
    tg_tensor *m = tg_ad_maximum(T, b, a);
    ck_assert_int_eq(tg_dtype_of(m), TG_FLOAT64);
    tg_tensor *d = tg_ad_matmul(T, a, b); /* (3,) @ (3,): 0-d, float64 */
    ck_assert_int_eq(tg_dtype_of(d), TG_FLOAT64);
    ck_assert_double_eq(tgt_at(d, 0), 3.0);
    tg_tensor *total = tg_ad_add(T, tg_ad_add(T, tg_ad_sum(T, s), tg_ad_sum(T, m)), d);
    ck_assert_int_eq(tg_backward(T, total), TG_OK);
    ck_assert_int_eq(tg_dtype_of(tg_grad(a)), TG_FLOAT64);
    ck_assert_int_eq(tg_dtype_of(tg_grad(b)), TG_FLOAT32);
    /* d/da: 1 (add) + 1 (max: a > b everywhere) + b; d/db: 1 + 0 + a */
    ck_assert_double_eq(tgt_at(tg_grad(a), 1), 2.5);
    ck_assert_double_eq(tgt_at(tg_grad(b), 1), 3.0);
    /* An integer operand promotes too and takes no gradient. */
    tg_tensor *k = tg_from_array(TG_INT32, TG_SHAPE(3), (const int32_t[]){1, 2, 3});
    tg_tensor *ak = tg_ad_mul(T, a, k);
    ck_assert_int_eq(tg_dtype_of(ak), TG_FLOAT64);
    tg_tensor *bk = tg_ad_mul(T, b, k); /* float32 with int32: float64 */
    ck_assert_int_eq(tg_dtype_of(bk), TG_FLOAT64);
    tg_zero_grad(a);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, ak)), TG_OK);
    ck_assert_double_eq(tgt_at(tg_grad(a), 2), 3.0);
    ck_assert_ptr_null(tg_grad(k));
    /* Integer-only arithmetic on the tape computes but records nothing. */
    size_t before = tg_tape_length(T);
    tg_tensor *kk = tg_ad_add(T, k, k);
    ck_assert_int_eq(tg_dtype_of(kk), TG_INT32);
    ck_assert_double_eq(tgt_at(kk, 2), 6.0);
    ck_assert_uint_eq(tg_tape_length(T), before);
    tg_free(k);
    ck_assert_ptr_null(tg_ad_cast(T, a, (tg_dtype)7));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_ad_cast: unknown dtype 7");
    /* With an explicit cast too, and the gradient comes back in each dtype. */
    tg_zero_grad(a);
    tg_zero_grad(b);
    tg_tensor *l = tg_ad_sum(T, tg_ad_mul(T, tg_ad_cast(T, a, TG_FLOAT32), b));
    ck_assert_int_eq(tg_backward(T, l), TG_OK);
    ck_assert_int_eq(tg_dtype_of(tg_grad(a)), TG_FLOAT64);
    ck_assert_int_eq(tg_dtype_of(tg_grad(b)), TG_FLOAT32);
    ck_assert_double_eq(tgt_at(tg_grad(a), 2), 0.5);
    ck_assert_double_eq(tgt_at(tg_grad(b), 2), 3.0);
    assert_tape_works(T);
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
}
END_TEST

START_TEST(test_err_null_inputs)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = leaf_vec(3, (const double[]){1, 2, 3});
    int64_t sh[] = {3};
    int perm[] = {0};
    tg_clear_error();
    tg_tensor *r[] = {
        tg_ad_add(T, NULL, x), tg_ad_sub(T, x, NULL), tg_ad_mul(T, NULL, NULL),
        tg_ad_div(T, NULL, x), tg_ad_pow(T, x, NULL), tg_ad_maximum(T, NULL, x),
        tg_ad_minimum(T, x, NULL), tg_ad_add_scalar(T, NULL, 1), tg_ad_sub_scalar(T, NULL, 1),
        tg_ad_rsub_scalar(T, NULL, 1), tg_ad_mul_scalar(T, NULL, 1),
        tg_ad_div_scalar(T, NULL, 1), tg_ad_rdiv_scalar(T, NULL, 1),
        tg_ad_pow_scalar(T, NULL, 2), tg_ad_neg(T, NULL), tg_ad_exp(T, NULL),
        tg_ad_log(T, NULL), tg_ad_sqrt(T, NULL), tg_ad_abs(T, NULL), tg_ad_tanh(T, NULL),
        tg_ad_sigmoid(T, NULL), tg_ad_relu(T, NULL), tg_ad_sum(T, NULL), tg_ad_mean(T, NULL),
        tg_ad_max(T, NULL), tg_ad_sum_axis(T, NULL, 0, false),
        tg_ad_mean_axis(T, NULL, 0, true), tg_ad_max_axis(T, NULL, 0, false),
        tg_ad_sum_to(T, NULL, 1, sh), tg_ad_matmul(T, NULL, x), tg_ad_matmul(T, x, NULL),
        tg_ad_reshape(T, NULL, 1, sh), tg_ad_transpose(T, NULL, 0, 0),
        tg_ad_permute(T, NULL, perm), tg_ad_slice(T, NULL, 0, 0, 1, 1),
        tg_ad_expand(T, NULL, 1, sh), tg_ad_cast(T, NULL, TG_FLOAT32), tg_ad_sign(T, NULL),
        tg_ad_step(T, NULL), tg_ad_ge(T, NULL, x), tg_ad_detach(T, NULL),
        tg_ad_exp(NULL, NULL)};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        ck_assert_msg(r[i] == NULL, "op %zu returned a tensor for a NULL input", i);
    ck_assert_int_eq(tg_last_error(), TG_OK); /* no new error */
    ck_assert_uint_eq(tg_tape_length(T), 0);
    /* A chain keeps the first error. */
    tg_tensor *bad = vec(4, (const double[]){1, 2, 3, 4});
    ck_assert_ptr_null(tg_ad_sum(T, tg_ad_exp(T, tg_ad_add(T, x, bad))));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_ad_add: shapes (3,) and (4,) cannot be broadcast");
    /* Int-returning functions report NULL. */
    ck_assert_int_eq(tg_backward(T, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_backward: root is NULL");
    ck_assert_int_eq(tg_backward(NULL, x), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_backward: tape is NULL");
    tg_tensor *g;
    ck_assert_int_eq(tg_ad_grad(T, NULL, NULL, 1, &x, &g, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_ad_grad: root is NULL");
    ck_assert_int_eq(tg_ad_grad(T, x, NULL, 1, NULL, &g, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_ad_grad: inputs or grads is NULL");
    tg_tensor *nul = NULL;
    ck_assert_int_eq(tg_ad_grad(T, x, NULL, 1, &nul, &g, false), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_ad_grad: input 0 is NULL");
    assert_tape_works(T);
    tg_tape_free(T);
    tg_free(bad);
    tg_free(x);
}
END_TEST

START_TEST(test_err_bad_arguments)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = leaf_vec(3, (const double[]){1, 2, 3});
    tg_tensor *m = tg_ones(TG_FLOAT64, TG_SHAPE(2, 3));
    tg_requires_grad(m, true);
    ck_assert_ptr_null(tg_ad_matmul(T, m, m));
    ck_assert_int_eq(tg_last_error(), TG_ERR_SHAPE);
    ck_assert(strstr(tg_last_message(), "tg_ad_matmul") != NULL);
    ck_assert_ptr_null(tg_ad_sum_axis(T, m, 2, false));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_sum_axis: axis 2 out of range for 2 dimensions");
    ck_assert_ptr_null(tg_ad_max_axis(T, m, -3, true));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_max_axis: axis -3 out of range");
    ck_assert_ptr_null(tg_ad_reshape(T, m, TG_SHAPE(4)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_ad_reshape: cannot reshape (2,3) into (4,)");
    /* Bounds past the end are clamped, as in NumPy: m[:, 0:4] is m. */
    tg_tensor *clamped = tg_ad_slice(T, m, 1, 0, 4, 1);
    ck_assert_ptr_nonnull(clamped);
    tgt_assert_shape(clamped, TG_SHAPE(2, 3));
    ck_assert_ptr_null(tg_ad_slice(T, m, 1, 0, 2, 0));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ad_slice: slice step is 0");
    ck_assert_ptr_null(tg_ad_expand(T, m, TG_SHAPE(2, 4)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_ad_expand: cannot broadcast (2,3) to (2,4)");
    ck_assert_ptr_null(tg_ad_permute(T, m, (const int[]){0, 0}));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_permute");
    ck_assert_ptr_null(tg_ad_transpose(T, m, 0, 2));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_ad_transpose");
    ck_assert_ptr_null(tg_ad_sum_to(T, m, TG_SHAPE(4)));
    ck_assert_int_eq(tg_last_error(), TG_ERR_SHAPE);
    ck_assert(strstr(tg_last_message(), "tg_ad_sum_to") != NULL);
    ck_assert_uint_eq(tg_tape_length(T), 1); /* the clamped slice; no failure recorded */
    /* A root that depends on nothing that wants a gradient. */
    tg_tensor *c = vec(2, (const double[]){1, 2});
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, c)), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "does not depend on any tensor that requires a gradient");
    /* tg_ad_grad: inputs must want a gradient; n must not be negative. */
    tg_tensor *l = tg_ad_sum(T, tg_ad_mul(T, x, x)), *g;
    ck_assert_int_eq(tg_ad_grad(T, l, NULL, 1, &c, &g, false), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_ad_grad: input 0 does not require a gradient");
    ck_assert_int_eq(tg_ad_grad(T, l, NULL, -1, &x, &g, false), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ad_grad: negative input count");
    ck_assert_ptr_null(tg_grad(x));
    assert_tape_works(T);
    tg_tape_free(T);
    tg_free(c);
    tg_free(m);
    tg_free(x);
}
END_TEST

/* ---- memory --------------------------------------------------------------------- */

START_TEST(test_mem_steady_training_loop)
{
    chapter c;
    chapter_init(&c);
    tg_tape *T = tg_tape_new();
    double w = c.w0, b = c.b0, l, gw, gb;
    chapter_step(T, &c, 0.001);
    chapter_plain(&c, w, b, &l, &gw, &gb);
    w -= 0.001 * gw;
    b -= 0.001 * gb;
    long allocs = tgt_stats.allocs, reallocs = tgt_stats.reallocs;
    long calls = tgt_stats.calls, frees = tgt_stats.frees;
    long long bytes = tgt_stats.live_bytes;
    for (int step = 1; step < 1000; step++) {
        chapter_step(T, &c, 0.001);
        chapter_plain(&c, w, b, &l, &gw, &gb);
        w -= 0.001 * gw;
        b -= 0.001 * gb;
        ck_assert_int_eq(tgt_stats.allocs, allocs);
        ck_assert_int_eq(tgt_stats.reallocs, reallocs);
        ck_assert_int_eq(tgt_stats.calls, calls);
        ck_assert_int_eq(tgt_stats.frees, frees);
        ck_assert_int_eq(tgt_stats.live_bytes, bytes);
    }
    /* And the 1000 steps trained the same as plain C. */
    ASSERT_REL(item(c.w), w, 1e-10);
    ASSERT_REL(item(c.b), b, 1e-10);
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

/* A pass large enough to spill over several arena chunks. */
static void big_step(tg_tape *T, tg_tensor *const *p, tg_tensor *X)
{
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    tg_tensor *h = tg_ad_tanh(T, tg_ad_add(T, tg_ad_matmul(T, X, p[0]), p[1]));
    tg_tensor *o = tg_ad_matmul(T, h, p[2]);
    tg_tensor *loss = tg_ad_mean(T, tg_ad_mul(T, o, o));
    ck_assert_ptr_nonnull(loss);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tg_zero_grad(p[i]), TG_OK);
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tg_axpy_into(p[i], -0.01, tg_grad(p[i])), TG_OK);
}

START_TEST(test_mem_steady_multi_chunk)
{
    lcg g = {5};
    tg_tensor *X = rand_tensor(&g, TG_FLOAT64, -1, 1, TG_SHAPE(128, 32));
    tg_tensor *p[3] = {rand_tensor(&g, TG_FLOAT64, -0.3, 0.3, TG_SHAPE(32, 64)),
                       rand_tensor(&g, TG_FLOAT64, -0.3, 0.3, TG_SHAPE(64)),
                       rand_tensor(&g, TG_FLOAT64, -0.3, 0.3, TG_SHAPE(64, 8))};
    for (int i = 0; i < 3; i++)
        tg_requires_grad(p[i], true);
    tg_tape *T = tg_tape_new();
    big_step(T, p, X);
    ck_assert(tg_tape_bytes(T) > 4 * 64 * 1024); /* several chunks' worth */
    long allocs = tgt_stats.allocs, calls = tgt_stats.calls;
    long long bytes = tgt_stats.live_bytes;
    for (int step = 1; step < 20; step++) {
        big_step(T, p, X);
        ck_assert_msg(tgt_stats.allocs == allocs && tgt_stats.calls == calls,
                      "step %d allocated (%ld allocations since step 1)", step + 1,
                      tgt_stats.allocs - allocs);
        ck_assert_msg(tgt_stats.live_bytes <= bytes, "live bytes grew at step %d",
                      step + 1);
    }
    tg_tape_free(T);
    tg_free(X);
    for (int i = 0; i < 3; i++)
        tg_free(p[i]);
}
END_TEST

START_TEST(test_mem_reset_allocation_failure)
{
    /* Reset keeps every chunk for the next pass and needs no memory: with
     * every allocation failing it still succeeds, and the tape goes on. */
    lcg g = {6};
    tg_tensor *X = rand_tensor(&g, TG_FLOAT64, -1, 1, TG_SHAPE(128, 32));
    tg_tensor *p[3] = {rand_tensor(&g, TG_FLOAT64, -0.3, 0.3, TG_SHAPE(32, 64)),
                       rand_tensor(&g, TG_FLOAT64, -0.3, 0.3, TG_SHAPE(64)),
                       rand_tensor(&g, TG_FLOAT64, -0.3, 0.3, TG_SHAPE(64, 8))};
    for (int i = 0; i < 3; i++)
        tg_requires_grad(p[i], true);
    tg_tape *T = tg_tape_new();
    big_step(T, p, X);
    long long bytes = tgt_stats.live_bytes;
    tgt_stats.fail_at = tgt_stats.calls + 1;
    ck_assert_int_eq(tg_tape_reset(T), TG_OK);
    bool hit = tgt_stats.calls >= tgt_stats.fail_at;
    tgt_stats.fail_at = 0;
    ck_assert(!hit);                          /* reset made no allocator call */
    ck_assert(tgt_stats.live_bytes == bytes); /* and kept its chunks */
    ck_assert_uint_eq(tg_tape_length(T), 0);
    long calls = tgt_stats.calls;
    for (int step = 0; step < 3; step++)
        big_step(T, p, X);
    ck_assert_int_eq(tgt_stats.calls, calls); /* the same pass reuses them */
    ck_assert(tg_tape_length(T) > 0);
    tg_tape_free(T);
    tg_free(X);
    for (int i = 0; i < 3; i++)
        tg_free(p[i]);
}
END_TEST

START_TEST(test_mem_failure_injection_training_step)
{
    chapter c;
    chapter_init(&c);
    double l, gw, gb;
    chapter_plain(&c, c.w0, c.b0, &l, &gw, &gb);
    int failures = 0;
    long k;
    for (k = 1; k < 10000; k++) {
        /* Fresh leaves each round, so every round makes the same calls. */
        tg_free(c.w);
        tg_free(c.b);
        c.w = tg_full(TG_FLOAT64, TG_SHAPE(1), c.w0);
        c.b = tg_full(TG_FLOAT64, TG_SHAPE(1), c.b0);
        tg_requires_grad(c.w, true);
        tg_requires_grad(c.b, true);
        tg_clear_error();
        tgt_stats.fail_at = tgt_stats.calls + k;
        int rc;
        tg_tape *T = tg_tape_new();
        if (!T) {
            rc = tg_last_error();
            TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_tape_new");
        } else {
            tg_tensor *loss = chapter_loss(T, &c);
            if (!loss)
                rc = tg_last_error();
            else
                rc = tg_backward(T, loss);
            tg_tape_free(T);
        }
        bool hit = tgt_stats.calls >= tgt_stats.fail_at;
        tgt_stats.fail_at = 0;
        if (rc != TG_OK) {
            ck_assert_msg(rc == TG_ERR_NOMEM, "k=%ld: %s", k, tg_last_message());
            ck_assert_int_eq(tg_last_error(), TG_ERR_NOMEM);
            ck_assert(hit);
            failures++;
        } else {
            ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
            ASSERT_REL(item(tg_grad(c.b)), gb, 1e-12);
        }
        if (!hit)
            break;
    }
    ck_assert_msg(failures >= 3, "only %d of %ld injected failures surfaced", failures, k);
    /* Everything works normally afterwards. */
    tg_tape *T = tg_tape_new();
    chapter_step(T, &c, 0.001);
    ASSERT_REL(item(tg_grad(c.w)), gw, 1e-12);
    tg_tape_free(T);
    chapter_free(&c);
}
END_TEST

/* Every kind of op forward and backward, for failure injection. */
static tg_tensor *all_ops_loss(tg_tape *T, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *ab = tg_ad_matmul(T, a, b);                        /* (3,2) */
    tg_tensor *t = tg_ad_tanh(T, tg_ad_add(T, ab, tg_ad_slice(T, b, 0, 3, 0, -1)));
    tg_tensor *u = tg_ad_div(T, tg_ad_sigmoid(T, t), tg_ad_add_scalar(T, tg_ad_exp(T, t), 1));
    tg_tensor *v = tg_ad_maximum(T, u, tg_ad_relu(T, tg_ad_neg(T, t)));
    tg_tensor *w = tg_ad_mean_axis(T, tg_ad_transpose(T, v, 0, 1), -1, false); /* (2,) */
    tg_tensor *x = tg_ad_max_axis(T, tg_ad_expand(T, w, TG_SHAPE(3, 2)), 0, true);
    tg_tensor *y = tg_ad_reshape(T, tg_ad_pow_scalar(T, tg_ad_abs(T, x), 1.5), TG_SHAPE(2));
    tg_tensor *z = tg_ad_cast(T, tg_ad_cast(T, tg_ad_sqrt(T, tg_ad_add_scalar(T, y, 1)),
                                            TG_FLOAT32), TG_FLOAT64);
    tg_tensor *s = tg_ad_sum_to(T, tg_ad_mul(T, z, tg_ad_log(T, tg_ad_add_scalar(T, z, 1))),
                                TG_SHAPE(1));
    return tg_ad_add(T, tg_ad_sum(T, s), tg_ad_max(T, tg_ad_minimum(T, a, tg_ad_rdiv_scalar(T, tg_ad_add_scalar(T, tg_ad_abs(T, a), 1), 2))));
}

START_TEST(test_mem_failure_injection_all_ops)
{
    lcg g = {9};
    tg_tensor *a = rand_tensor(&g, TG_FLOAT64, -1, 1, TG_SHAPE(3, 4));
    tg_tensor *b = rand_tensor(&g, TG_FLOAT64, -1, 1, TG_SHAPE(4, 2));
    tg_requires_grad(a, true);
    tg_requires_grad(b, true);
    /* Reference gradients. */
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(tg_backward(T, all_ops_loss(T, a, b)), TG_OK);
    double ga[12], gbv[8];
    for (int i = 0; i < 12; i++)
        ga[i] = tgt_at(tg_grad(a), i);
    for (int i = 0; i < 8; i++)
        gbv[i] = tgt_at(tg_grad(b), i);
    tg_tape_free(T);
    /* Second order too: tg_ad_grad with create_graph under failures. */
    int failures = 0;
    long k;
    for (k = 1; k < 100000; k++) {
        tg_zero_grad(a);
        tg_zero_grad(b);
        tg_clear_error();
        tgt_stats.fail_at = tgt_stats.calls + k;
        int rc = TG_OK;
        T = tg_tape_new();
        if (!T) {
            rc = tg_last_error();
        } else {
            tg_tape_retain_graph(T, true); /* two backward passes */
            tg_tensor *l = all_ops_loss(T, a, b), *gg[2];
            tg_tensor *in[2] = {a, b};
            rc = l ? tg_backward(T, l) : tg_last_error();
            if (rc == TG_OK)
                rc = tg_ad_grad(T, l, NULL, 2, in, gg, true);
            if (rc == TG_OK) {
                tg_tensor *r = tg_ad_sum(T, tg_ad_mul(T, gg[0], gg[0]));
                rc = r ? tg_backward(T, r) : tg_last_error();
            }
            tg_tape_free(T);
        }
        bool hit = tgt_stats.calls >= tgt_stats.fail_at;
        tgt_stats.fail_at = 0;
        if (rc != TG_OK) {
            ck_assert_msg(rc == TG_ERR_NOMEM || tg_last_error() == TG_ERR_NOMEM,
                          "k=%ld: rc %d: %s", k, rc, tg_last_message());
            failures++;
        }
        if (!hit)
            break;
    }
    ck_assert(failures >= 3);
    /* The library is fine afterwards: the first-order gradient again. */
    tg_zero_grad(a);
    tg_zero_grad(b);
    T = tg_tape_new();
    ck_assert_int_eq(tg_backward(T, all_ops_loss(T, a, b)), TG_OK);
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq(tgt_at(tg_grad(a), i), ga[i]);
    for (int i = 0; i < 8; i++)
        ck_assert_double_eq(tgt_at(tg_grad(b), i), gbv[i]);
    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
}
END_TEST

START_TEST(test_mem_failure_injection_null_tape)
{
    /* T == NULL ops allocate on the heap: each failure must free what the
     * op took (the fixture checks for leaks). */
    lcg g = {10};
    tg_tensor *a = rand_tensor(&g, TG_FLOAT64, 0.5, 1.5, TG_SHAPE(3, 4));
    tg_tensor *b = rand_tensor(&g, TG_FLOAT64, 0.5, 1.5, TG_SHAPE(4, 2));
    int failures = 0;
    for (long k = 1; k < 1000; k++) {
        tg_clear_error();
        tgt_stats.fail_at = tgt_stats.calls + k;
        tg_tensor *r[8] = {tg_ad_matmul(NULL, a, b), tg_ad_transpose(NULL, a, 0, 1),
                           tg_ad_log(NULL, a), tg_ad_sum_axis(NULL, a, 1, false),
                           tg_ad_max_axis(NULL, b, 0, true), tg_ad_slice(NULL, a, 1, 3, TG_NONE, -1),
                           tg_ad_reshape(NULL, a, TG_SHAPE(12)), tg_ad_cast(NULL, b, TG_FLOAT32)};
        bool hit = tgt_stats.calls >= tgt_stats.fail_at;
        tgt_stats.fail_at = 0;
        int nulls = 0;
        for (int i = 0; i < 8; i++) {
            nulls += r[i] == NULL;
            tg_free(r[i]);
        }
        if (nulls) {
            ck_assert_int_eq(nulls, 1);
            TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_ad_");
            failures++;
        }
        if (!hit)
            break;
    }
    ck_assert(failures >= 8);
    tg_free(a);
    tg_free(b);
}
END_TEST

Suite *test_autograd_suite(void); /* called by the generated runner */

Suite *test_autograd_suite(void)
{
    Suite *s = suite_create("autograd");
    TCase *tc = tgt_tcase("chapter");
    tcase_add_test(tc, test_chapter_data);
    tcase_add_test(tc, test_chapter_gradient_initial);
    tcase_add_test(tc, test_chapter_ten_steps);
    tcase_add_test(tc, test_chapter_reference_800_steps);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("graph");
    tcase_add_test(tc, test_diamond);
    tcase_add_test(tc, test_leaf_used_twice);
    tcase_add_test(tc, test_deep_chain);
    tcase_add_test(tc, test_backward_twice_refused);
    tcase_add_test(tc, test_backward_twice_retained_accumulates);
    tcase_add_test(tc, test_zero_grad);
    tcase_add_test(tc, test_no_grad_mode);
    tcase_add_test(tc, test_null_tape_ops);
    tcase_add_test(tc, test_detach_and_constants);
    tcase_add_test(tc, test_ties_and_kinks);
    tcase_add_test(tc, test_empty_and_scalar_leaves);
    tcase_add_test(tc, test_backward_seed);
    tcase_add_test(tc, test_ad_grad);
    tcase_add_test(tc, test_view_leaf);
    tcase_add_test(tc, test_tape_bookkeeping);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("float32");
    tcase_add_test(tc, test_float32_matches_float64);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("plain_backward");
    tcase_add_test(tc, test_plain_backward_matches_recorded);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("second_order");
    tcase_add_test(tc, test_hessian_chapter);
    tcase_add_test(tc, test_higher_derivatives);
    tcase_add_test(tc, test_hessian_vector_product);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_err_nonscalar_root);
    tcase_add_test(tc, test_err_seed);
    tcase_add_test(tc, test_err_foreign_root);
    tcase_add_test(tc, test_err_stale_root);
    tcase_add_test(tc, test_err_modified_input);
    tcase_add_test(tc, test_err_modified_result);
    tcase_add_test(tc, test_err_stale_or_foreign_input);
    tcase_add_test(tc, test_err_requires_grad_on_tape_tensor);
    tcase_add_test(tc, test_mixed_dtypes_promote);
    tcase_add_test(tc, test_err_null_inputs);
    tcase_add_test(tc, test_err_bad_arguments);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("memory");
    tcase_add_test(tc, test_mem_steady_training_loop);
    tcase_add_test(tc, test_mem_steady_multi_chunk);
    tcase_add_test(tc, test_mem_reset_allocation_failure);
    tcase_add_test(tc, test_mem_failure_injection_training_step);
    tcase_add_test(tc, test_mem_failure_injection_all_ops);
    tcase_add_test(tc, test_mem_failure_injection_null_tape);
    suite_add_tcase(s, tc);
    return s;
}
