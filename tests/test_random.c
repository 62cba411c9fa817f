/* test_random.c - tg_rng against NumPy's legacy RandomState, bit for bit,
 * and tg_linspace / tg_arange against NumPy's values. The references come
 * from tests/data/make_random_ref.py (hex-float literals). */
#include "helpers.h"

#include <math.h>

#include "tensor/internal.h"

#include "data/numpy_random_ref.inc"

/* Bitwise equality of doubles (also tells -0.0 from 0.0). */
static void assert_same_double(double got, double want, const char *what,
                               int64_t i)
{
    uint64_t g, w;
    memcpy(&g, &got, sizeof g);
    memcpy(&w, &want, sizeof w);
    ck_assert_msg(g == w, "%s[%lld]: got %a, want %a", what, (long long)i, got,
                  want);
}

/* t (any layout, C order) equals want[0..n) exactly. */
static void assert_tensor_eq(const tg_tensor *t, const double *want, int64_t n,
                             const char *what)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_numel(t), n);
    for (int64_t i = 0; i < n; i++)
        assert_same_double(tgt_at(t, i), want[i], what, i);
}

/* ---- the generator itself ---- */

START_TEST(test_seed_state)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    ck_assert_int_eq(rng.pos, 624);
    ck_assert_int_eq(rng.has_gauss, 0);
    ck_assert_int_eq(ref_state_seed100_len, 624);
    for (int i = 0; i < 624; i++)
        ck_assert_msg(rng.mt[i] == ref_state_seed100[i], "mt[%d]: %u vs %u", i,
                      rng.mt[i], ref_state_seed100[i]);
}
END_TEST

START_TEST(test_uint32_reference)
{
    tg_rng rng;
    tg_rng_seed(&rng, 5489);
    for (int i = 0; i < ref_raw_seed5489_len; i++)
        ck_assert_uint_eq(tg_rng_uint32(&rng), ref_raw_seed5489[i]);
    /* The 10000th output of MT19937 seeded 5489 (the reference check). */
    tg_rng_seed(&rng, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++)
        v = tg_rng_uint32(&rng);
    ck_assert_uint_eq(v, ref_raw_seed5489_10000th[0]);
    ck_assert_uint_eq(v, 4123659995u);
}
END_TEST

START_TEST(test_random_seed100)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    for (int i = 0; i < ref_rand_seed100_len; i++) {
        double u = tg_rng_random(&rng);
        assert_same_double(u, ref_rand_seed100[i], "rand", i);
        ck_assert(u >= 0.0 && u < 1.0);
    }
}
END_TEST

START_TEST(test_random_far_stream)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    for (int i = 0; i < 1000; i++)
        (void)tg_rng_random(&rng);
    for (int i = 0; i < ref_rand_seed100_tail_len; i++)
        assert_same_double(tg_rng_random(&rng), ref_rand_seed100_tail[i],
                           "rand tail", i);
}
END_TEST

START_TEST(test_reseed_restarts)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    for (int i = 0; i < 700; i++)
        (void)tg_rng_uint32(&rng);
    (void)tg_rng_normal(&rng); /* leaves a cached value */
    tg_rng_seed(&rng, 100);
    ck_assert_int_eq(rng.has_gauss, 0);
    assert_same_double(tg_rng_random(&rng), ref_rand_seed100[0], "reseed", 0);

    /* A copied struct is an independent fork of the stream. */
    tg_rng fork = rng;
    assert_same_double(tg_rng_random(&rng), ref_rand_seed100[1], "orig", 1);
    assert_same_double(tg_rng_random(&fork), ref_rand_seed100[1], "fork", 1);
}
END_TEST

START_TEST(test_normal_seed7)
{
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    for (int i = 0; i < ref_randn_seed7_len; i++)
        assert_same_double(tg_rng_normal(&rng), ref_randn_seed7[i], "randn", i);
    /* 101 values: the 102nd (the pair's other half) is cached. */
    ck_assert_int_eq(rng.has_gauss, 1);
}
END_TEST

START_TEST(test_normal_interleaved)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    ck_assert_int_eq((int)strlen(ref_mixed_seed3_kinds), ref_mixed_seed3_len);
    for (int i = 0; i < ref_mixed_seed3_len; i++) {
        double v = ref_mixed_seed3_kinds[i] == 'n' ? tg_rng_normal(&rng)
                                                   : tg_rng_random(&rng);
        assert_same_double(v, ref_mixed_seed3[i], "mixed", i);
    }
}
END_TEST

START_TEST(test_randn_uses_cache)
{
    /* randn() then randn(3): the tensor's first value is the cached one. */
    tg_rng rng;
    tg_rng_seed(&rng, 9);
    assert_same_double(tg_rng_normal(&rng), ref_randn_seed9[0], "randn", 0);
    tg_tensor *t = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(3));
    assert_tensor_eq(t, ref_randn_seed9 + 1, 3, "randn(3)");
    tg_free(t);
}
END_TEST

START_TEST(test_uniform_seed11)
{
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    for (int i = 0; i < ref_uniform_seed11_len; i++) {
        double v = tg_rng_uniform(&rng, -2.0, 3.0);
        assert_same_double(v, ref_uniform_seed11[i], "uniform", i);
        ck_assert(v >= -2.0 && v < 3.0);
    }
}
END_TEST

/* ---- tensors ---- */

START_TEST(test_chapter_sequence)
{
    /* np.random.seed(100); x = rand(100); w = rand(); b = rand() */
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *x = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(100));
    tgt_assert_shape(x, 1, (const int64_t[]){100});
    ck_assert_int_eq(tg_dtype_of(x), TG_FLOAT64);
    assert_tensor_eq(x, ref_rand_seed100, 100, "x");
    double w = tg_rng_random(&rng);
    double b = tg_rng_random(&rng);
    assert_same_double(w, ref_chapter_wb[0], "w", 0);
    assert_same_double(b, ref_chapter_wb[1], "b", 0);
    tg_free(x);
}
END_TEST

START_TEST(test_rand_2d_c_order)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *t = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(10, 10));
    tgt_assert_shape(t, 2, (const int64_t[]){10, 10});
    ck_assert(tg_is_contiguous(t));
    assert_tensor_eq(t, ref_rand_seed100, 100, "rand(10,10)");
    tg_free(t);
}
END_TEST

START_TEST(test_randn_tensor_seed7)
{
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_tensor *t = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(101));
    assert_tensor_eq(t, ref_randn_seed7, 101, "randn(101)");
    tg_free(t);
}
END_TEST

START_TEST(test_uniform_tensor_seed11)
{
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    tg_tensor *t = tg_uniform(&rng, TG_FLOAT64, -2.0, 3.0, TG_SHAPE(5, 10));
    tgt_assert_shape(t, 2, (const int64_t[]){5, 10});
    assert_tensor_eq(t, ref_uniform_seed11, 50, "uniform(5,10)");
    tg_free(t);
}
END_TEST

START_TEST(test_float32_tensors)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *r = tg_rand(&rng, TG_FLOAT32, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_dtype_of(r), TG_FLOAT32);
    assert_tensor_eq(r, ref_rand_f32_seed100, 12, "rand f32");
    /* The float32 values are the float64 draws rounded, not re-drawn. */
    for (int i = 0; i < 12; i++)
        ck_assert(((const float *)tg_data(r))[i] == (float)ref_rand_seed100[i]);

    tg_rng_seed(&rng, 7);
    tg_tensor *n = tg_randn(&rng, TG_FLOAT32, TG_SHAPE(2, 3, 5));
    assert_tensor_eq(n, ref_randn_f32_seed7, 30, "randn f32");

    tg_rng_seed(&rng, 11);
    tg_tensor *u = tg_uniform(&rng, TG_FLOAT32, -2.0, 3.0, TG_SHAPE(4, 2));
    assert_tensor_eq(u, ref_uniform_f32_seed11, 8, "uniform f32");
    tg_free(r);
    tg_free(n);
    tg_free(u);
}
END_TEST

START_TEST(test_scalar_and_empty)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    /* A shape with a zero draws nothing. */
    tg_tensor *e = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(0, 3));
    tgt_assert_shape(e, 2, (const int64_t[]){0, 3});
    ck_assert_int_eq(tg_numel(e), 0);
    /* A 0-d tensor draws exactly one. */
    tg_tensor *s = tg_rand(&rng, TG_FLOAT64, 0, NULL);
    ck_assert_int_eq(tg_ndim(s), 0);
    double v = 0;
    ck_assert_int_eq(tg_item(s, &v), TG_OK);
    assert_same_double(v, ref_rand_seed100[0], "0-d", 0);
    assert_same_double(tg_rng_random(&rng), ref_rand_seed100[1], "after", 1);
    tg_free(e);
    tg_free(s);
}
END_TEST

START_TEST(test_fill_contiguous)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *t = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 25));
    uint64_t before = t->storage->version;
    ck_assert_int_eq(tg_rand_fill(&rng, t), TG_OK);
    ck_assert(t->storage->version > before);
    assert_tensor_eq(t, ref_rand_seed100, 100, "rand_fill");

    tg_rng_seed(&rng, 7);
    before = t->storage->version;
    ck_assert_int_eq(tg_randn_fill(&rng, t), TG_OK);
    ck_assert(t->storage->version > before);
    assert_tensor_eq(t, ref_randn_seed7, 100, "randn_fill");

    tg_tensor *u = tg_zeros(TG_FLOAT32, TG_SHAPE(4, 2));
    tg_rng_seed(&rng, 11);
    before = u->storage->version;
    ck_assert_int_eq(tg_uniform_fill(&rng, u, -2.0, 3.0), TG_OK);
    ck_assert(u->storage->version > before);
    assert_tensor_eq(u, ref_uniform_f32_seed11, 8, "uniform_fill f32");
    tg_free(t);
    tg_free(u);
}
END_TEST

START_TEST(test_fill_transposed_view)
{
    /* A (5,4) transpose of a (4,5) base: the view is filled in its own C
     * order, so it reads back as rand(5,4), and the base holds its transpose. */
    tg_rng rng;
    tg_rng_seed(&rng, 21);
    tg_tensor *base = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 5));
    tg_tensor *view = tg_transpose(base, 0, 1);
    ck_assert_ptr_nonnull(view);
    ck_assert(!tg_is_contiguous(view));
    ck_assert_int_eq(tg_rand_fill(&rng, view), TG_OK);
    assert_tensor_eq(view, ref_rand_seed21_5x4, 20, "view");
    for (int64_t r = 0; r < 4; r++)
        for (int64_t c = 0; c < 5; c++)
            assert_same_double(tgt_at(base, r * 5 + c),
                               ref_rand_seed21_5x4[c * 4 + r], "base", r * 5 + c);
    tg_free(view);
    tg_free(base);
}
END_TEST

START_TEST(test_fill_strided_slice)
{
    /* Elements 1, 3, 5, 7 of a zeroed 10-vector; the rest stay zero. */
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *base = tg_zeros(TG_FLOAT32, TG_SHAPE(10));
    tg_tensor *odd = tg_slice(base, 0, 1, 8, 2);
    ck_assert_ptr_nonnull(odd);
    ck_assert_int_eq(tg_numel(odd), 4);
    ck_assert_int_eq(tg_rand_fill(&rng, odd), TG_OK);
    for (int64_t i = 0; i < 10; i++) {
        double want = (i % 2 == 1 && i < 8)
                          ? (double)(float)ref_rand_seed100[(i - 1) / 2]
                          : 0.0;
        assert_same_double(tgt_at(base, i), want, "base", i);
    }
    tg_free(odd);
    tg_free(base);
}
END_TEST

START_TEST(test_fill_reversed_3d)
{
    /* A 3-d view whose last axis runs backwards: C order of the view. */
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *base = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3, 4));
    tg_tensor *rev = tg_slice(base, 2, 3, TG_NONE, -1);
    ck_assert_ptr_nonnull(rev);
    tgt_assert_shape(rev, 3, (const int64_t[]){2, 3, 4});
    ck_assert_int_eq(tg_rand_fill(&rng, rev), TG_OK);
    assert_tensor_eq(rev, ref_rand_seed100, 24, "reversed view");
    /* base[i][j][3-k] == rev[i][j][k] */
    for (int64_t i = 0; i < 24; i++) {
        int64_t k = i % 4, row = i / 4;
        assert_same_double(tgt_at(base, row * 4 + (3 - k)), ref_rand_seed100[i],
                           "base", i);
    }
    tg_free(rev);
    tg_free(base);
}
END_TEST

/* ---- permutation ---- */

START_TEST(test_permutation_10)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    int64_t p[10];
    ck_assert_int_eq(tg_rng_permutation(&rng, p, 10), TG_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(p[i], ref_perm10_seed0[i]);
}
END_TEST

START_TEST(test_permutation_1000)
{
    tg_rng rng;
    tg_rng_seed(&rng, 42);
    int64_t p[1000];
    bool seen[1000] = {false};
    ck_assert_int_eq(tg_rng_permutation(&rng, p, 1000), TG_OK);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(p[i], ref_perm1000_seed42[i]);
        ck_assert(p[i] >= 0 && p[i] < 1000 && !seen[p[i]]);
        seen[p[i]] = true;
    }
}
END_TEST

START_TEST(test_permutation_draw_count)
{
    /* permutation(2) draws 32-bit words until one masked to 1 bit is <= 1,
     * i.e. exactly one; the next rand() then matches NumPy's. */
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    int64_t p[2];
    ck_assert_int_eq(tg_rng_permutation(&rng, p, 2), TG_OK);
    ck_assert_int_eq(p[0], ref_perm2_seed1[0]);
    ck_assert_int_eq(p[1], ref_perm2_seed1[1]);
    assert_same_double(tg_rng_random(&rng), ref_perm2_seed1_then_rand[0],
                       "rand after permutation", 0);
}
END_TEST

START_TEST(test_permutation_small)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    int64_t p[1] = {-7};
    ck_assert_int_eq(tg_rng_permutation(&rng, p, 1), TG_OK);
    ck_assert_int_eq(p[0], 0);
    ck_assert_int_eq(tg_rng_permutation(&rng, NULL, 0), TG_OK);
    /* Neither drew anything. */
    assert_same_double(tg_rng_random(&rng), ref_rand_seed100[0], "rand", 0);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_null_rng)
{
    int64_t p[3];
    tg_tensor *t = tg_zeros(TG_FLOAT64, TG_SHAPE(3));

    ck_assert_ptr_null(tg_rand(NULL, TG_FLOAT64, TG_SHAPE(3)));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rand: rng is NULL");
    ck_assert_ptr_null(tg_randn(NULL, TG_FLOAT64, TG_SHAPE(3)));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_randn: rng is NULL");
    ck_assert_ptr_null(tg_uniform(NULL, TG_FLOAT64, 0.0, 1.0, TG_SHAPE(3)));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_uniform: rng is NULL");

    ck_assert_int_eq(tg_rand_fill(NULL, t), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rand_fill: rng is NULL");
    ck_assert_int_eq(tg_randn_fill(NULL, t), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_randn_fill: rng is NULL");
    ck_assert_int_eq(tg_uniform_fill(NULL, t, 0.0, 1.0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_uniform_fill: rng is NULL");
    ck_assert_int_eq(tg_rng_permutation(NULL, p, 3), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rng_permutation: rng is NULL");

    tg_rng_seed(NULL, 1);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rng_seed: rng is NULL");
    ck_assert_uint_eq(tg_rng_uint32(NULL), 0);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rng_uint32: rng is NULL");
    ck_assert(isnan(tg_rng_random(NULL)));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rng_random: rng is NULL");
    ck_assert(isnan(tg_rng_normal(NULL)));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rng_normal: rng is NULL");
    ck_assert(isnan(tg_rng_uniform(NULL, 0.0, 1.0)));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rng_uniform: rng is NULL");
    tg_free(t);
}
END_TEST

START_TEST(test_null_tensor_and_perm)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    ck_assert_int_eq(tg_rand_fill(&rng, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rand_fill: tensor is NULL");
    ck_assert_int_eq(tg_randn_fill(&rng, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_randn_fill: tensor is NULL");
    ck_assert_int_eq(tg_uniform_fill(&rng, NULL, 0.0, 1.0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_uniform_fill: tensor is NULL");
    ck_assert_int_eq(tg_rng_permutation(&rng, NULL, 4), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_rng_permutation: perm is NULL");
    int64_t p[1];
    ck_assert_int_eq(tg_rng_permutation(&rng, p, -1), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_rng_permutation: n is -1, must be >= 0");
    /* Failed calls drew nothing. */
    assert_same_double(tg_rng_random(&rng), ref_rand_seed100[0], "rand", 0);
}
END_TEST

START_TEST(test_bad_shapes)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    ck_assert_ptr_null(tg_rand(&rng, TG_FLOAT64, TG_SHAPE(2, -1)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_rand: negative size -1 in axis 1");
    ck_assert_ptr_null(tg_randn(&rng, TG_FLOAT32, TG_SHAPE(-3)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_randn: negative size -3 in axis 0");
    ck_assert_ptr_null(
        tg_uniform(&rng, TG_FLOAT64, 0.0, 1.0, TG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_uniform: 9 dimensions (at most 8 allowed)");
    ck_assert_ptr_null(tg_rand(&rng, TG_FLOAT64, -1, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_rand: -1 dimensions");
    ck_assert_ptr_null(tg_rand(&rng, (tg_dtype)50, TG_SHAPE(2)));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_rand: unknown dtype 50");
    ck_assert_ptr_null(tg_randn(&rng, TG_FLOAT64, 2, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_randn: shape is NULL");
    ck_assert_ptr_null(
        tg_rand(&rng, TG_FLOAT64, TG_SHAPE(INT64_MAX / 2, 4)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_rand: shape (4611686018427387903,4)");
    /* Failed calls drew nothing. */
    assert_same_double(tg_rng_random(&rng), ref_rand_seed100[0], "rand", 0);
}
END_TEST

START_TEST(test_alloc_failure)
{
    /* Fail each of tg__new's allocations in turn: NULL, an error, nothing
     * leaked (the fixture checks) and no draw consumed. */
    for (long k = 1; k <= 3; k++) {
        tg_rng rng;
        tg_rng_seed(&rng, 100);
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        tg_tensor *t = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(4));
        tgt_stats.fail_at = 0;
        ck_assert_ptr_null(t);
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_randn: out of memory");
        assert_same_double(tg_rng_random(&rng), ref_rand_seed100[0], "rand", 0);
    }
}
END_TEST

/* ---- linspace / arange against NumPy ---- */

static void check_linspace(tg_dtype dt, double start, double stop, int64_t num,
                           const double *want, int64_t n, const char *what)
{
    tg_tensor *t = tg_linspace(dt, start, stop, num);
    ck_assert_msg(t != NULL, "%s: %s", what, tg_last_message());
    tgt_assert_shape(t, 1, (const int64_t[]){n});
    ck_assert_int_eq(tg_dtype_of(t), dt);
    assert_tensor_eq(t, want, n, what);
    tg_free(t);
}

static void check_arange(double start, double stop, double step,
                         const double *want, int64_t n, const char *what)
{
    tg_tensor *t = tg_arange(TG_FLOAT64, start, stop, step);
    ck_assert_msg(t != NULL, "%s: %s", what, tg_last_message());
    tgt_assert_shape(t, 1, (const int64_t[]){n});
    assert_tensor_eq(t, want, n, what);
    tg_free(t);
}

START_TEST(test_linspace_numpy)
{
    check_linspace(TG_FLOAT64, -1.0, 1.0, 100, ref_linspace_m1_1_100,
                   ref_linspace_m1_1_100_len, "linspace(-1,1,100)");
    check_linspace(TG_FLOAT64, 0.0, 1.0, 7, ref_linspace_0_1_7,
                   ref_linspace_0_1_7_len, "linspace(0,1,7)");
    check_linspace(TG_FLOAT64, 2.5, -3.0, 11, ref_linspace_2p5_m3_11,
                   ref_linspace_2p5_m3_11_len, "linspace(2.5,-3,11)");
    check_linspace(TG_FLOAT64, 0.0, 1.0, 1, ref_linspace_0_1_1,
                   ref_linspace_0_1_1_len, "linspace(0,1,1)");
    check_linspace(TG_FLOAT64, 0.0, 1.0, 0, ref_linspace_0_1_0,
                   ref_linspace_0_1_0_len, "linspace(0,1,0)");
    /* float32: NumPy computes in float64 and rounds. */
    check_linspace(TG_FLOAT32, 0.0, 1.0, 7, ref_linspace_f32_0_1_7,
                   ref_linspace_f32_0_1_7_len, "linspace f32(0,1,7)");
}
END_TEST

START_TEST(test_arange_numpy)
{
    check_arange(0.0, 1.0, 0.1, ref_arange_0_1_0p1, ref_arange_0_1_0p1_len,
                 "arange(0,1,0.1)");
    /* NumPy steps by (start + step) - start, which differs from 0.7 here. */
    check_arange(-3.0, 3.0, 0.7, ref_arange_m3_3_0p7, ref_arange_m3_3_0p7_len,
                 "arange(-3,3,0.7)");
    ck_assert_int_eq(ref_arange_m3_3_0p7_len, 9);
}
END_TEST

Suite *test_random_suite(void); /* called by the generated runner */

Suite *test_random_suite(void)
{
    Suite *s = suite_create("random");

    TCase *tc = tgt_tcase("generator");
    tcase_add_test(tc, test_seed_state);
    tcase_add_test(tc, test_uint32_reference);
    tcase_add_test(tc, test_random_seed100);
    tcase_add_test(tc, test_random_far_stream);
    tcase_add_test(tc, test_reseed_restarts);
    tcase_add_test(tc, test_normal_seed7);
    tcase_add_test(tc, test_normal_interleaved);
    tcase_add_test(tc, test_randn_uses_cache);
    tcase_add_test(tc, test_uniform_seed11);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("tensors");
    tcase_add_test(tc, test_chapter_sequence);
    tcase_add_test(tc, test_rand_2d_c_order);
    tcase_add_test(tc, test_randn_tensor_seed7);
    tcase_add_test(tc, test_uniform_tensor_seed11);
    tcase_add_test(tc, test_float32_tensors);
    tcase_add_test(tc, test_scalar_and_empty);
    tcase_add_test(tc, test_fill_contiguous);
    tcase_add_test(tc, test_fill_transposed_view);
    tcase_add_test(tc, test_fill_strided_slice);
    tcase_add_test(tc, test_fill_reversed_3d);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("permutation");
    tcase_add_test(tc, test_permutation_10);
    tcase_add_test(tc, test_permutation_1000);
    tcase_add_test(tc, test_permutation_draw_count);
    tcase_add_test(tc, test_permutation_small);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_null_rng);
    tcase_add_test(tc, test_null_tensor_and_perm);
    tcase_add_test(tc, test_bad_shapes);
    tcase_add_test(tc, test_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("linspace_arange");
    tcase_add_test(tc, test_linspace_numpy);
    tcase_add_test(tc, test_arange_numpy);
    suite_add_tcase(s, tc);
    return s;
}
