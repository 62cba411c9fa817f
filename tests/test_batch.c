/* test_batch.c - the batch iterator of models/batch.h: rows in order and
 * shuffled as np.random.permutation per epoch (tests/data/batch_ref.inc,
 * made by make_batch_ref.py), the short last batch as a view, drop_last,
 * several sources, transforms, no allocation per batch, bad input,
 * allocation failures; and evaluation with the tape paused (no_grad). */
#include <math.h>

#include "helpers.h"

#include "data/batch_ref.inc"

/* Row i of the test sources: images (n, 2, 3) float64 with values
 * 10 i + k, labels (n,) int32 with value 1000 + i. */
static tg_tensor *make_images(int64_t n)
{
    tg_tensor *t = tg_empty(TG_FLOAT64, TG_SHAPE(n, 2, 3));
    double *d = tg_data(t);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 6; k++)
            d[i * 6 + k] = 10.0 * (double)i + k;
    return t;
}

static tg_tensor *make_labels(int64_t n)
{
    tg_tensor *t = tg_empty(TG_INT32, TG_SHAPE(n));
    int32_t *d = tg_data(t);
    for (int64_t i = 0; i < n; i++)
        d[i] = (int32_t)(1000 + i);
    return t;
}

/* The batch holds the rows rows[0..b) of the sources above. */
static void assert_rows(tg_tensor *const *xy, const int64_t *rows, int64_t b)
{
    tgt_assert_shape(xy[0], 3, (const int64_t[]){b, 2, 3});
    tgt_assert_shape(xy[1], 1, (const int64_t[]){b});
    for (int64_t r = 0; r < b; r++) {
        ck_assert(tgt_at(xy[1], r) == 1000.0 + (double)rows[r]);
        for (int k = 0; k < 6; k++)
            ck_assert(tgt_at(xy[0], r * 6 + k) == 10.0 * (double)rows[r] + k);
    }
}

/* ---- order, short batch, drop_last ---- */

START_TEST(test_in_order_short_last)
{
    tg_tensor *x = make_images(10), *y = make_labels(10);
    tg_batches *B = tg_batches_new(4, NULL, false);
    ck_assert_int_eq(tg_batches_add(B, x), 0);
    ck_assert_int_eq(tg_batches_add(B, y), 1);
    ck_assert_int_eq(tg_batches_count(B), 3);
    ck_assert_int_eq(tg_batches_rows(B), 10);
    ck_assert_int_eq(tg_batches_sources(B), 2);
    ck_assert_ptr_null(tg_batches_indices(B, NULL));
    for (int epoch = 0; epoch < 2; epoch++) {
        tg_tensor *xy[2], *full = NULL;
        int64_t start = 0, n;
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(tg_batches_next(B, xy), 1);
            int64_t b = k < 2 ? 4 : 2, rows[4];
            for (int64_t r = 0; r < b; r++)
                rows[r] = start + r;
            assert_rows(xy, rows, b);
            const int64_t *idx = tg_batches_indices(B, &n);
            ck_assert_int_eq(n, b);
            ck_assert_int_eq(idx[0], start);
            if (k == 0)
                full = xy[0];
            else if (k == 1)
                ck_assert_ptr_eq(xy[0], full); /* the same buffer, refilled */
            else  /* the short batch views the full buffer */
                ck_assert(xy[0] != full && tg_shares_storage(xy[0], full));
            start += b;
        }
        ck_assert_int_eq(tg_batches_next(B, xy), 0);
        ck_assert_ptr_null(tg_batches_indices(B, &n));
        ck_assert_int_eq(n, 0);
    }
    tg_batches_free(B);
    tg_free(x);
    tg_free(y);
}
END_TEST

START_TEST(test_drop_last)
{
    tg_tensor *x = make_images(10), *y = make_labels(10);
    tg_batches *B = tg_batches_new(4, NULL, true);
    ck_assert_int_eq(tg_batches_add(B, x), 0);
    ck_assert_int_eq(tg_batches_add(B, y), 1);
    ck_assert_int_eq(tg_batches_count(B), 2);
    tg_tensor *xy[2];
    for (int epoch = 0; epoch < 2; epoch++) {
        ck_assert_int_eq(tg_batches_next(B, xy), 1);
        assert_rows(xy, (const int64_t[]){0, 1, 2, 3}, 4);
        ck_assert_int_eq(tg_batches_next(B, xy), 1);
        assert_rows(xy, (const int64_t[]){4, 5, 6, 7}, 4);
        ck_assert_int_eq(tg_batches_next(B, xy), 0);
    }
    tg_batches_free(B);
    /* Exact multiple: no short batch, either way. */
    B = tg_batches_new(5, NULL, false);
    ck_assert_int_eq(tg_batches_add(B, x), 0);
    ck_assert_int_eq(tg_batches_count(B), 2);
    ck_assert_int_eq(tg_batches_next(B, xy), 1);
    ck_assert_int_eq(tg_batches_next(B, xy), 1);
    ck_assert_int_eq(tg_size(xy[0], 0), 5);
    ck_assert_int_eq(tg_batches_next(B, xy), 0);
    tg_batches_free(B);
    tg_free(x);
    tg_free(y);
}
END_TEST

/* Fewer rows than a batch: one batch of all of them (none with drop_last);
 * no rows: no batches. */
START_TEST(test_small_and_empty)
{
    tg_tensor *x = make_images(3), *y = make_labels(3), *xy[2];
    tg_batches *B = tg_batches_new(64, NULL, false);
    ck_assert_int_eq(tg_batches_add(B, x), 0);
    ck_assert_int_eq(tg_batches_add(B, y), 1);
    ck_assert_int_eq(tg_batches_count(B), 1);
    ck_assert_int_eq(tg_batches_next(B, xy), 1);
    assert_rows(xy, (const int64_t[]){0, 1, 2}, 3);
    ck_assert_int_eq(tg_batches_next(B, xy), 0);
    tg_batches_free(B);

    B = tg_batches_new(64, NULL, true);
    ck_assert_int_eq(tg_batches_add(B, x), 0);
    ck_assert_int_eq(tg_batches_count(B), 0);
    ck_assert_int_eq(tg_batches_next(B, xy), 0);
    ck_assert_int_eq(tg_batches_next(B, xy), 0);
    tg_batches_free(B);

    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tensor *e = tg_empty(TG_FLOAT32, TG_SHAPE(0, 5));
    B = tg_batches_new(4, &rng, false);
    ck_assert_int_eq(tg_batches_add(B, e), 0);
    ck_assert_int_eq(tg_batches_count(B), 0);
    ck_assert_int_eq(tg_batches_next(B, xy), 0);
    tg_batches_free(B);
    tg_free(e);
    tg_free(x);
    tg_free(y);
}
END_TEST

/* ---- shuffling: NumPy's permutation, one per epoch ---- */

START_TEST(test_shuffle_numpy_seed7)
{
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_tensor *x = make_images(10), *y = make_labels(10), *xy[2];
    tg_batches *B = tg_batches_new(4, &rng, false);
    ck_assert_int_eq(tg_batches_add(B, x), 0);
    ck_assert_int_eq(tg_batches_add(B, y), 1);
    for (int epoch = 0; epoch < 3; epoch++) {
        const int64_t *perm = ref_epochs_seed7_n10 + 10 * epoch;
        for (int64_t start = 0; start < 10; start += 4) {
            int64_t b = start + 4 <= 10 ? 4 : 10 - start, n;
            ck_assert_int_eq(tg_batches_next(B, xy), 1);
            assert_rows(xy, perm + start, b);
            const int64_t *idx = tg_batches_indices(B, &n);
            ck_assert_int_eq(n, b);
            for (int64_t r = 0; r < b; r++)
                ck_assert_int_eq(idx[r], perm[start + r]);
        }
        ck_assert_int_eq(tg_batches_next(B, xy), 0);
    }
    tg_batches_free(B);
    tg_free(x);
    tg_free(y);
}
END_TEST

/* Raw arrays as sources; restart abandons an epoch (the next one draws the
 * next permutation). */
START_TEST(test_shuffle_numpy_arrays_restart)
{
    enum { N = 1000, BS = 64 };
    static int64_t ids[N];
    static uint8_t bytes[N][3];
    for (int64_t i = 0; i < N; i++) {
        ids[i] = i;
        for (int k = 0; k < 3; k++)
            bytes[i][k] = (uint8_t)(i * 3 + k);
    }
    tg_rng rng;
    tg_rng_seed(&rng, 123);
    tg_batches *B = tg_batches_new(BS, &rng, false);
    ck_assert_int_eq(tg_batches_add_array(B, ids, TG_INT64, 1, (const int64_t[]){N}), 0);
    ck_assert_int_eq(tg_batches_add_array(B, bytes, TG_UINT8, 2, (const int64_t[]){N, 3}), 1);
    tg_tensor *out[2];
    int64_t seen = 0;
    while (tg_batches_next(B, out) > 0) {
        int64_t b = tg_size(out[0], 0);
        for (int64_t r = 0; r < b; r++) {
            int64_t row = ref_epochs_seed123_n1000[seen + r];
            ck_assert(tgt_at(out[0], r) == (double)row);
            for (int k = 0; k < 3; k++)
                ck_assert(tgt_at(out[1], r * 3 + k) == (double)(uint8_t)(row * 3 + k));
        }
        seen += b;
    }
    ck_assert_int_eq(seen, N);
    /* Epoch 2 is abandoned after one batch; epoch 3 is NumPy's third
     * permutation, so its first batch is not the second's. */
    ck_assert_int_eq(tg_batches_next(B, out), 1);
    for (int64_t r = 0; r < BS; r++)
        ck_assert(tgt_at(out[0], r) == (double)ref_epochs_seed123_n1000[N + r]);
    ck_assert_int_eq(tg_batches_restart(B), TG_OK);
    ck_assert_int_eq(tg_batches_next(B, out), 1);
    tg_rng want;
    tg_rng_seed(&want, 123);
    int64_t perm[N];
    for (int e = 0; e < 3; e++)
        ck_assert_int_eq(tg_rng_permutation(&want, perm, N), TG_OK);
    for (int64_t r = 0; r < BS; r++)
        ck_assert(tgt_at(out[0], r) == (double)perm[r]);
    tg_batches_free(B);
}
END_TEST

/* ---- transforms ---- */

START_TEST(test_transform_standardize)
{
    enum { N = 300 };
    tg_tensor *img = tg_empty(TG_UINT8, TG_SHAPE(N, 4));
    uint8_t *p = tg_data(img);
    for (int64_t i = 0; i < N * 4; i++)
        p[i] = (uint8_t)(i * 7 % 256);
    tg_tensor *lab = make_labels(N);
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_batches *B = tg_batches_new(64, &rng, false);
    ck_assert_int_eq(tg_batches_add(B, img), 0);
    ck_assert_int_eq(tg_batches_add(B, lab), 1);
    tg_standardize z = {255, 0.2860, 0.3530};
    ck_assert_int_eq(tg_batches_transform(B, 0, TG_FLOAT32, 2, (const int64_t[]){2, 2},
                                          tg_batch_standardize_u8, &z),
                     TG_OK);
    tg_tensor *xy[2];
    int batches = 0;
    while (tg_batches_next(B, xy) > 0) {
        int64_t b = tg_size(xy[0], 0), n;
        const int64_t *rows = tg_batches_indices(B, &n);
        ck_assert_int_eq(n, b);
        ck_assert_int_eq(tg_dtype_of(xy[0]), TG_FLOAT32);
        tgt_assert_shape(xy[0], 3, (const int64_t[]){b, 2, 2});
        ck_assert_int_eq(b, ++batches < 5 ? 64 : N - 4 * 64);
        for (int64_t r = 0; r < b; r++) {
            ck_assert(tgt_at(xy[1], r) == 1000.0 + (double)rows[r]);
            for (int k = 0; k < 4; k++)
                ck_assert(tgt_at(xy[0], r * 4 + k) ==
                          ref_standardized_f32[p[rows[r] * 4 + k]]);
        }
    }
    ck_assert_int_eq(batches, 5);
    /* float64 output, then no transform: the bytes themselves. */
    ck_assert_int_eq(tg_batches_transform(B, 0, TG_FLOAT64, 1, (const int64_t[]){4},
                                          tg_batch_standardize_u8, &z),
                     TG_OK);
    ck_assert_int_eq(tg_batches_next(B, xy), 1);
    int64_t row = tg_batches_indices(B, NULL)[0];
    ck_assert_double_eq_tol(tgt_at(xy[0], 0), (p[row * 4] / 255.0 - 0.2860) / 0.3530, 1e-15);
    ck_assert_int_eq(tg_batches_restart(B), TG_OK);
    ck_assert_int_eq(tg_batches_transform(B, 0, TG_FLOAT32, 0, NULL, NULL, NULL), TG_OK);
    ck_assert_int_eq(tg_batches_next(B, xy), 1);
    ck_assert_int_eq(tg_dtype_of(xy[0]), TG_UINT8);
    tg_batches_free(B);
    tg_free(img);
    tg_free(lab);
}
END_TEST

/* A transform's error stops the batch and is passed on: its own code and
 * message, or for a code that is not tapegrad's, TG_ERR_VALUE. */
static int failing(const tg_tensor *in, tg_tensor *out, void *ctx)
{
    int *calls = ctx;
    if (++*calls < 2)
        return TG_OK;
    if (*calls == 2)
        return tg_batch_standardize_u8(in, out, NULL); /* TG_ERR_NULL */
    return 77;
}

START_TEST(test_transform_errors)
{
    tg_tensor *img = tg_zeros(TG_UINT8, TG_SHAPE(10, 4)), *xy[1];
    tg_batches *B = tg_batches_new(4, NULL, false);
    int calls = 0;
    ck_assert_int_eq(tg_batches_add(B, img), 0);
    ck_assert_int_eq(tg_batches_transform(B, 0, TG_FLOAT32, 1, (const int64_t[]){4}, failing,
                                          &calls),
                     TG_OK);
    ck_assert_int_eq(tg_batches_next(B, xy), 1);
    ck_assert_int_eq(tg_batches_next(B, xy), -TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_batch_standardize_u8: ctx is NULL");
    /* The epoch ended with the error: the next call starts a new one. */
    ck_assert_int_eq(tg_batches_next(B, xy), -TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_batches_next: the transform of source 0 failed "
                                 "(returned 77)");

    /* The stock transform's own checks. */
    tg_standardize z = {255, 0, 1};
    tg_tensor *f = tg_zeros(TG_FLOAT32, TG_SHAPE(2, 4)), *u = tg_zeros(TG_UINT8, TG_SHAPE(2, 3));
    ck_assert_int_eq(tg_batch_standardize_u8(f, f, &z), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_batch_standardize_u8: in is float32, must be uint8");
    ck_assert_int_eq(tg_batch_standardize_u8(u, u, &z), TG_ERR_DTYPE);
    ck_assert_int_eq(tg_batch_standardize_u8(u, f, &z), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "in has 6 values, out 8");
    tg_free(u);
    tg_free(f);
    tg_batches_free(B);
    tg_free(img);
}
END_TEST

/* ---- no allocation per batch ---- */

START_TEST(test_no_allocation_per_batch)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_tensor *img = tg_zeros(TG_UINT8, TG_SHAPE(1003, 8)), *lab = make_labels(1003);
    tg_batches *B = tg_batches_new(100, &rng, false);
    ck_assert_int_eq(tg_batches_add(B, img), 0);
    ck_assert_int_eq(tg_batches_add(B, lab), 1);
    tg_standardize z = {255, 0.5, 0.25};
    ck_assert_int_eq(tg_batches_transform(B, 0, TG_FLOAT32, 1, (const int64_t[]){8},
                                          tg_batch_standardize_u8, &z),
                     TG_OK);
    long calls = tgt_stats.calls, live = tgt_stats.live_blocks;
    tg_tensor *xy[2];
    int64_t batches = 0;
    for (int epoch = 0; epoch < 3; epoch++)
        while (tg_batches_next(B, xy) > 0)
            batches++;
    ck_assert_int_eq(batches, 3 * 11);
    ck_assert_int_eq(tgt_stats.calls, calls);
    ck_assert_int_eq(tgt_stats.live_blocks, live);
    tg_batches_free(B);
    tg_free(img);
    tg_free(lab);
}
END_TEST

/* ---- bad input ---- */

START_TEST(test_bad_input)
{
    tg_rng rng, unseeded = {0};
    tg_rng_seed(&rng, 0);
    tg_tensor *x = make_images(10), *y = make_labels(9), *xy[2];
    ck_assert_ptr_null(tg_batches_new(0, NULL, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_batches_new: batch_size is 0, must be >= 1");
    ck_assert_ptr_null(tg_batches_new(-3, &rng, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "batch_size is -3");
    ck_assert_ptr_null(tg_batches_new(4, &unseeded, false));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_batches_new: rng is not seeded");

    ck_assert_int_eq(tg_batches_add(NULL, x), -TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_batches_add: iterator is NULL");
    ck_assert_int_eq(tg_batches_next(NULL, xy), -TG_ERR_NULL);
    ck_assert_int_eq(tg_batches_restart(NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_batches_count(NULL), -1);
    ck_assert_int_eq(tg_batches_rows(NULL), -1);
    ck_assert_int_eq(tg_batches_sources(NULL), -1);
    ck_assert_ptr_null(tg_batches_indices(NULL, NULL));
    tg_batches_free(NULL);

    tg_batches *B = tg_batches_new(4, &rng, false);
    ck_assert_int_eq(tg_batches_next(B, xy), -TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_batches_next: the iterator has no sources");
    ck_assert_int_eq(tg_batches_add(B, NULL), -TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_batches_add: source tensor is NULL");
    tg_tensor *s0 = tg_scalar(TG_FLOAT32, 1);
    ck_assert_int_eq(tg_batches_add(B, s0), -TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_batches_add: source is 0-d");
    tg_tensor *tx = tg_transpose(x, 1, 2);
    ck_assert_int_eq(tg_batches_add(B, tx), -TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "source is not contiguous (tg_contiguous");
    ck_assert_int_eq(tg_batches_add_array(B, NULL, TG_FLOAT32, 1, (const int64_t[]){3}),
                     -TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_batches_add_array: data is NULL");
    ck_assert_int_eq(tg_batches_add_array(B, xy, TG_FLOAT32, 0, (const int64_t[]){3}),
                     -TG_ERR_SHAPE);
    ck_assert_int_eq(tg_batches_add_array(B, xy, TG_FLOAT32, 1, NULL), -TG_ERR_NULL);
    ck_assert_int_eq(tg_batches_add_array(B, xy, TG_FLOAT32, 1, (const int64_t[]){-2}),
                     -TG_ERR_VALUE);
    ck_assert_int_eq(tg_batches_sources(B), 0);

    ck_assert_int_eq(tg_batches_add(B, x), 0);
    ck_assert_int_eq(tg_batches_add(B, y), -TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_batches_add: source 1 has 9 rows (first axis), "
                                 "source 0 has 10");
    ck_assert_int_eq(tg_batches_transform(B, 1, TG_FLOAT32, 0, NULL, tg_batch_standardize_u8,
                                          NULL),
                     TG_ERR_INDEX);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_batches_transform: source 1 does not exist");
    ck_assert_int_eq(tg_batches_transform(B, 0, TG_FLOAT32, 1, NULL, tg_batch_standardize_u8,
                                          NULL),
                     TG_ERR_NULL);
    ck_assert_int_eq(tg_batches_transform(B, 0, TG_FLOAT32, 9, (const int64_t[9]){0},
                                          tg_batch_standardize_u8, NULL),
                     TG_ERR_SHAPE);
    ck_assert_int_eq(tg_batches_next(B, NULL), -TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_batches_next: out is NULL");

    /* Nothing is added in the middle of an epoch. */
    ck_assert_int_eq(tg_batches_next(B, xy), 1);
    ck_assert_int_eq(tg_batches_add(B, x), -TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_batches_add: an epoch is under way");
    ck_assert_int_eq(tg_batches_transform(B, 0, TG_FLOAT32, 0, NULL, NULL, NULL),
                     TG_ERR_VALUE);
    ck_assert_int_eq(tg_batches_restart(B), TG_OK);
    for (int k = 1; k < TG_BATCH_MAX_SOURCES; k++)
        ck_assert_int_eq(tg_batches_add(B, x), k);
    ck_assert_int_eq(tg_batches_add(B, x), -TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "TG_BATCH_MAX_SOURCES");
    tg_batches_free(B);
    tg_free(tx);
    tg_free(s0);
    tg_free(x);
    tg_free(y);
}
END_TEST

/* Every allocation of the set-up fails in turn: an error, nothing leaked
 * (the fixture checks), and the iterator still usable afterwards. */
START_TEST(test_allocation_failures)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tensor *img = tg_zeros(TG_UINT8, TG_SHAPE(10, 4)), *lab = make_labels(10);
    tg_standardize z = {255, 0, 1};
    long k;
    for (k = 1; k < 100; k++) {
        long base = tgt_stats.calls;
        tgt_stats.fail_at = base + k;
        tg_batches *B = tg_batches_new(4, &rng, false);
        int rc = B ? TG_OK : tg_last_error();
        if (B) {
            int a = tg_batches_add(B, img);
            int b = a < 0 ? a : tg_batches_add(B, lab);
            int t = b < 0 ? -b
                          : tg_batches_transform(B, 0, TG_FLOAT32, 1, (const int64_t[]){4},
                                                 tg_batch_standardize_u8, &z);
            rc = a < 0 ? -a : t;
        }
        tgt_stats.fail_at = 0;
        if (rc == TG_OK) {
            ck_assert_ptr_nonnull(B);
            tg_batches_free(B);
            break;
        }
        ck_assert_int_eq(rc, TG_ERR_NOMEM);
        ck_assert_msg(strstr(tg_last_message(), "tg_batches_") != NULL, "%s",
                      tg_last_message());
        if (B) { /* what was added works */
            tg_tensor *out[2];
            int n = tg_batches_sources(B), got = 0;
            int more = 0;
            while (n > 0 && (more = tg_batches_next(B, out)) > 0)
                got++;
            ck_assert_msg(got == (n > 0 ? 3 : 0) && more == 0, "k %ld: %d batches, then %d: %s",
                          k, got, more, tg_last_message());
        }
        tg_batches_free(B);
    }
    ck_assert_int_gt(k, 5);
    ck_assert_int_lt(k, 100);
    tg_free(img);
    tg_free(lab);
}
END_TEST

/* ---- no_grad evaluation: the tape paused ---- */

START_TEST(test_no_grad_evaluation)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_linear l;
    ck_assert_int_eq(tg_linear_init(&l, 6, 3, TG_FLOAT64, &rng), TG_OK);
    tg_requires_grad(l.weight, true);
    tg_requires_grad(l.bias, true);
    tg_tensor *x = make_images(50), *xy[1];
    tg_batches *B = tg_batches_new(16, NULL, false);
    ck_assert_int_eq(tg_batches_add(B, x), 0);
    tg_tape *T = tg_tape_new();

    /* Recording: the reference of what one batch's forward holds. */
    ck_assert_int_eq(tg_batches_next(B, xy), 1);
    tg_tensor *flat = tg_ad_reshape(T, xy[0], 2, (const int64_t[]){16, 6});
    ck_assert_ptr_nonnull(tg_ad_relu(T, tg_linear_forward(T, &l, flat)));
    ck_assert_uint_gt(tg_tape_length(T), 0);
    size_t recorded_bytes = tg_tape_bytes(T);
    ck_assert_int_eq(tg_batches_restart(B), TG_OK);

    /* The idiom: pause, reset per batch, restore. */
    ck_assert(tg_tape_pause(T, true) == false);
    ck_assert(!tg_tape_is_recording(T));
    tg_tape_stats first = {0}, now = {0};
    int batches = 0;
    while (tg_batches_next(B, xy) > 0) {
        int64_t b = tg_size(xy[0], 0);
        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        flat = tg_ad_reshape(T, xy[0], 2, (const int64_t[]){b, 6});
        tg_tensor *out = tg_ad_relu(T, tg_linear_forward(T, &l, flat));
        ck_assert_ptr_nonnull(out);
        ck_assert_uint_eq(tg_tape_length(T), 0); /* nothing recorded */
        ck_assert(tg_tape_bytes(T) <= recorded_bytes);
        ck_assert_int_eq(tg_tape_get_stats(T, batches ? &now : &first), TG_OK);
        batches++;
    }
    ck_assert_int_eq(batches, 4);
    /* The arena stopped growing after the first batch. */
    ck_assert_uint_eq(now.reserved, first.reserved);
    ck_assert_uint_le(now.high_water, recorded_bytes);
    ck_assert(tg_tape_pause(T, false) == true);
    ck_assert(tg_tape_is_recording(T));
    ck_assert_ptr_null(tg_grad(l.weight));

    tg_tape_free(T);
    tg_batches_free(B);
    tg_free(x);
    tg_linear_free(&l);
}
END_TEST

Suite *test_batch_suite(void);
Suite *test_batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tgt_tcase("order");
    tcase_add_test(tc, test_in_order_short_last);
    tcase_add_test(tc, test_drop_last);
    tcase_add_test(tc, test_small_and_empty);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("shuffle");
    tcase_add_test(tc, test_shuffle_numpy_seed7);
    tcase_add_test(tc, test_shuffle_numpy_arrays_restart);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("transform");
    tcase_add_test(tc, test_transform_standardize);
    tcase_add_test(tc, test_transform_errors);
    tcase_add_test(tc, test_no_allocation_per_batch);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("no_grad");
    tcase_add_test(tc, test_no_grad_evaluation);
    suite_add_tcase(s, tc);
    return s;
}
