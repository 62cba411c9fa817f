/* test_tensor.c - the tensor object (tensor/tensor.c), its errors
 * (error.c), the pluggable allocator (alloc.c) and the arena (arena.c):
 * creation, inspection, views that alias their base, copies and casts,
 * element access, every argument check, allocation-failure injection. */
#include "helpers.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "tensor/internal.h"

#include "data/slice_ref.inc"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32

/* ---- local helpers ---------------------------------------------------- */


/* t read in C order equals want[0..n) exactly. */
static void assert_values(const tg_tensor *t, int64_t n, const double *want)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_numel(t), n);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(tgt_same_value(tgt_at(t, i), want[i]),
                      "element %lld: got %.17g, want %.17g", (long long)i,
                      tgt_at(t, i), want[i]);
}

static void assert_strides(const tg_tensor *t, int ndim, const int64_t *st)
{
    ck_assert_int_eq(tg_ndim(t), ndim);
    for (int k = 0; k < ndim; k++)
        ck_assert_msg(tg_strides(t)[k] == st[k], "stride %d: got %lld, want %lld",
                      k, (long long)tg_strides(t)[k], (long long)st[k]);
}

static double get2(const tg_tensor *t, int64_t i, int64_t j)
{
    double v = 0;
    ck_assert_int_eq(tg_get(t, (const int64_t[]){i, j}, &v), TG_OK);
    return v;
}

static double get3(const tg_tensor *t, int64_t i, int64_t j, int64_t k)
{
    double v = 0;
    ck_assert_int_eq(tg_get(t, (const int64_t[]){i, j, k}, &v), TG_OK);
    return v;
}

/* 0, 1, ..., n-1 reshaped; the caller frees. */
static tg_tensor *iota(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= shape[k];
    tg_tensor *a = tg_arange(F64, 0, (double)n, 1);
    tg_tensor *r = tg_reshape(a, ndim, shape);
    tg_free(a);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* A known error that a NULL-propagating op must leave alone. */
static void set_marker_error(void)
{
    tg__fail(TG_ERR_IO, "marker", "known error %d", 42);
}

static void assert_marker_error(void)
{
    ck_assert_int_eq(tg_last_error(), TG_ERR_IO);
    ck_assert_str_eq(tg_last_message(), "marker: known error 42");
}


/* ======================================================================== */
/* errors                                                                    */
/* ======================================================================== */

START_TEST(test_strerror_every_code)
{
    ck_assert_str_eq(tg_strerror(TG_OK), "no error");
    ck_assert_str_eq(tg_strerror(TG_ERR_SHAPE), "shape mismatch");
    for (int c = 0; c < TG_ERR_COUNT_; c++) {
        const char *s = tg_strerror(c);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strlen(s) > 0, "code %d has an empty description", c);
        for (int d = 0; d < c; d++)
            ck_assert_msg(strcmp(s, tg_strerror(d)) != 0,
                          "codes %d and %d share \"%s\"", c, d, s);
    }
    const int unknown[] = {-1, TG_ERR_COUNT_, 1000, INT32_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = tg_strerror(unknown[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strlen(s) > 0, "unknown code %d: empty", unknown[i]);
        for (int c = 0; c < TG_ERR_COUNT_; c++)
            ck_assert_str_ne(s, tg_strerror(c));
    }
}
END_TEST

START_TEST(test_last_error_and_clear)
{
    ck_assert_int_eq(tg_last_error(), TG_OK);
    ck_assert_str_eq(tg_last_message(), "");
    ck_assert_ptr_null(tg_zeros(F64, TG_SHAPE(2, -3)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_zeros: negative size -3 in axis 1");
    /* A later success does not clear it... */
    tg_tensor *t = tg_zeros(F64, TG_SHAPE(2));
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_last_error(), TG_ERR_VALUE);
    tg_free(t);
    /* ...tg_clear_error does. */
    tg_clear_error();
    ck_assert_int_eq(tg_last_error(), TG_OK);
    ck_assert_str_eq(tg_last_message(), "");
    /* A new failure replaces the old one. */
    ck_assert_ptr_null(tg_zeros(F64, TG_SHAPE(-1)));
    ck_assert_ptr_null(tg_ones(F64, 9, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ones: 9 dimensions (at most 8 allowed)");
}
END_TEST

START_TEST(test_fail_long_message_truncated)
{
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(tg__fail(TG_ERR_FORMAT, "tg_load", "%s", big), TG_ERR_FORMAT);
    ck_assert_int_eq(tg_last_error(), TG_ERR_FORMAT);
    const char *m = tg_last_message();
    ck_assert(strncmp(m, "tg_load: xxx", 12) == 0);
    ck_assert(strlen(m) < sizeof big - 1);
    ck_assert_int_eq(tg__oom("tg_thing"), TG_ERR_NOMEM);
    TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_thing: out of memory");
}
END_TEST

static void *other_thread(void *arg)
{
    int *code = arg;
    /* No allocation here: the counting allocator is not thread-safe. */
    code[0] = tg_last_error();
    ck_assert_ptr_null(tg_zeros(F64, TG_SHAPE(-7)));
    code[1] = tg_last_error();
    return NULL;
}

START_TEST(test_last_error_is_per_thread)
{
    ck_assert_ptr_null(tg_zeros(F64, 9, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_zeros: 9 dimensions");
    int codes[2] = {-1, -1};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, other_thread, codes), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(codes[0], TG_OK);         /* fresh thread: no error */
    ck_assert_int_eq(codes[1], TG_ERR_VALUE);  /* its own failure */
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_zeros: 9 dimensions"); /* ours intact */
}
END_TEST

/* ======================================================================== */
/* allocator                                                                 */
/* ======================================================================== */

typedef struct my_alloc_state {
    long calls, frees, live;
    long long bytes;
    bool size_mismatch;
} my_alloc_state;

static void *my_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    my_alloc_state *st = ud;
    if (nsize == 0) {
        if (ptr) {
            /* The stored size sits in front of the block: dealloc must pass
             * the same size that was allocated. */
            size_t *hdr = (size_t *)ptr - 2;
            if (hdr[0] != osize)
                st->size_mismatch = true;
            st->frees++;
            st->live--;
            st->bytes -= (long long)osize;
            free(hdr);
        }
        return NULL;
    }
    st->calls++;
    size_t *hdr;
    if (ptr) {
        size_t *old = (size_t *)ptr - 2;
        if (old[0] != osize)
            st->size_mismatch = true;
        hdr = realloc(old, nsize + 2 * sizeof(size_t));
        if (!hdr)
            return NULL;
        st->bytes += (long long)nsize - (long long)osize;
    } else {
        hdr = malloc(nsize + 2 * sizeof(size_t));
        if (!hdr)
            return NULL;
        st->live++;
        st->bytes += (long long)nsize;
    }
    hdr[0] = nsize;
    return hdr + 2;
}

START_TEST(test_custom_allocator_sees_everything)
{
    tg_alloc_fn saved_fn;
    void *saved_ud;
    tg_get_allocator(&saved_fn, &saved_ud);
    ck_assert_ptr_nonnull((void *)saved_fn);

    my_alloc_state st = {0};
    long counted_before = tgt_stats.calls;
    tg_set_allocator(my_alloc, &st);
    tg_alloc_fn fn;
    void *ud;
    tg_get_allocator(&fn, &ud);
    ck_assert(fn == my_alloc);
    ck_assert_ptr_eq(ud, &st);

    tg_tensor *a = tg_ones(F64, TG_SHAPE(3, 4));
    tg_tensor *b = tg_transpose(a, 0, 1);
    tg_tensor *c = tg_reshape(b, TG_SHAPE(12)); /* the copy path */
    tg_tensor *d = tg_cast(c, F32);
    tg_tensor *e = tg_add(a, a);
    ck_assert_ptr_nonnull(e);
    ck_assert(st.calls >= 10);
    ck_assert(st.live >= 5);
    ck_assert(st.bytes >= 12 * 8 * 3 + 12 * 4);
    tg_free(e);
    tg_free(d);
    tg_free(a); /* the view b keeps the storage alive */
    TGT_ASSERT_SAME(get2(b, 3, 2), 1.0);
    tg_free(c);
    tg_free(b);
    ck_assert_int_eq(st.live, 0);
    ck_assert_int_eq(st.bytes, 0);
    ck_assert(!st.size_mismatch);
    ck_assert_int_eq(st.frees, st.calls); /* no reallocs here */
    /* The counting allocator was not called meanwhile. */
    ck_assert_int_eq(tgt_stats.calls, counted_before);

    /* NULL restores the default (malloc-based) allocator. */
    tg_set_allocator(NULL, &st);
    tg_get_allocator(&fn, &ud);
    ck_assert(fn != my_alloc);
    ck_assert_ptr_nonnull((void *)fn);
    ck_assert_ptr_null(ud);
    tg_tensor *z = tg_zeros(F32, TG_SHAPE(5));
    TGT_ASSERT_SAME(tgt_at(z, 4), 0.0);
    tg_free(z);
    ck_assert_int_eq(st.calls, st.frees);

    tg_set_allocator(saved_fn, saved_ud);
    tg_get_allocator(NULL, NULL); /* NULL out-pointers are allowed */
}
END_TEST

START_TEST(test_internal_alloc_contract)
{
    long live = tgt_stats.live_blocks;
    ck_assert_ptr_null(tg__alloc(0));
    double *p = tg__alloc(4 * sizeof(double));
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq((uintptr_t)p % _Alignof(double), 0);
    for (int i = 0; i < 4; i++)
        p[i] = i;
    p = tg__realloc(p, 4 * sizeof(double), 8 * sizeof(double));
    ck_assert_ptr_nonnull(p);
    TGT_ASSERT_SAME(p[3], 3.0);
    ck_assert_int_eq(tgt_stats.live_bytes, 8 * (long long)sizeof(double));
    ck_assert_ptr_null(tg__realloc(p, 8 * sizeof(double), 0)); /* frees */
    ck_assert_int_eq(tgt_stats.live_blocks, live);
    tg__dealloc(NULL, 10); /* fine */
    tg_free(NULL);         /* fine */
    ck_assert_int_eq(tgt_stats.live_blocks, live);
}
END_TEST

static tg_tensor *mk_zeros(const tg_tensor *x)
{
    (void)x;
    return tg_zeros(F64, TG_SHAPE(3, 4));
}
static tg_tensor *mk_zeros_empty(const tg_tensor *x)
{
    (void)x;
    return tg_zeros(F32, TG_SHAPE(0, 4));
}
static tg_tensor *mk_from_array(const tg_tensor *x)
{
    (void)x;
    return tg_from_array(F64, TG_SHAPE(2), (const double[]){1, 2});
}
static tg_tensor *mk_scalar(const tg_tensor *x)
{
    (void)x;
    return tg_scalar(F32, 2.5);
}
static tg_tensor *mk_arange(const tg_tensor *x)
{
    (void)x;
    return tg_arange(F64, 0, 10, 1);
}
static tg_tensor *mk_linspace(const tg_tensor *x)
{
    (void)x;
    return tg_linspace(F64, 0, 1, 5);
}
static tg_tensor *mk_eye(const tg_tensor *x)
{
    (void)x;
    return tg_eye(F64, 3, 3);
}
static tg_tensor *op_flatten(const tg_tensor *x) { return tg_reshape(x, TG_SHAPE(-1)); }
static tg_tensor *op_clone(const tg_tensor *x) { return tg_clone(x); }
static tg_tensor *op_cast32(const tg_tensor *x) { return tg_cast(x, F32); }
static tg_tensor *op_contig(const tg_tensor *x) { return tg_contiguous(x); }
static tg_tensor *op_transpose(const tg_tensor *x) { return tg_transpose(x, 0, 1); }
static tg_tensor *op_slice(const tg_tensor *x) { return tg_slice(x, 1, 0, 3, 2); }
static tg_tensor *op_expand(const tg_tensor *x) { return tg_expand(x, TG_SHAPE(2, 4, 3)); }

START_TEST(test_alloc_failure_creation)
{
    ck_assert_int_ge(tgt_sweep_failures(mk_zeros, NULL, "tg_zeros: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(mk_zeros_empty, NULL, "tg_zeros: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(mk_from_array, NULL, "tg_from_array: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(mk_scalar, NULL, "tg_scalar: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(mk_arange, NULL, "tg_arange: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(mk_linspace, NULL, "tg_linspace: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(mk_eye, NULL, "tg_eye: out of memory"), 2);
}
END_TEST

START_TEST(test_alloc_failure_copies_and_views)
{
    tg_tensor *base = iota(TG_SHAPE(4, 3));
    tg_tensor *t = tg_transpose(base, 0, 1); /* (3,4), not contiguous */
    ck_assert_ptr_nonnull(t);
    ck_assert_int_ge(tgt_sweep_failures(op_flatten, t, "tg_reshape: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(op_clone, t, "tg_clone: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(op_cast32, t, "tg_cast: out of memory"), 2);
    ck_assert_int_ge(tgt_sweep_failures(op_contig, t, "tg_contiguous: out of memory"), 2);
    /* Views allocate a header only. */
    ck_assert_int_ge(tgt_sweep_failures(op_flatten, base, "tg_reshape: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(op_transpose, base, "tg_transpose: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(op_slice, t, "tg_slice: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(op_contig, base, "tg_contiguous: out of memory"), 1);
    tg_tensor *row = tg_reshape(base, TG_SHAPE(1, 4, 3));
    ck_assert_int_ge(tgt_sweep_failures(op_expand, row, "tg_expand: out of memory"), 1);
    /* The inputs are intact after all those failures. */
    TGT_ASSERT_SAME(get2(t, 2, 3), 11.0);
    tg_free(row);
    tg_free(t);
    tg_free(base);
}
END_TEST

/* ======================================================================== */
/* creation                                                                  */
/* ======================================================================== */

START_TEST(test_empty_zeros_ones_full)
{
    tg_tensor *e = tg_empty(F64, TG_SHAPE(2, 3));
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(tg_dtype_of(e), F64);
    tgt_assert_shape(e, TG_SHAPE(2, 3));
    assert_strides(e, TG_SHAPE(3, 1));
    ck_assert_int_eq(tg_offset(e), 0);
    ck_assert_int_eq(tg_numel(e), 6);
    ck_assert(tg_is_contiguous(e));
    ck_assert_ptr_nonnull(tg_data(e));

    tg_tensor *z = tg_zeros(F32, TG_SHAPE(2, 3, 4));
    ck_assert_int_eq(tg_dtype_of(z), F32);
    assert_strides(z, TG_SHAPE(12, 4, 1));
    ck_assert_int_eq(tg_numel(z), 24);
    const float *zf = tg_data(z);
    for (int i = 0; i < 24; i++)
        ck_assert(zf[i] == 0.0f);

    tg_tensor *o = tg_ones(F64, TG_SHAPE(5));
    assert_values(o, 5, (const double[]){1, 1, 1, 1, 1});

    tg_tensor *f = tg_full(F32, TG_SHAPE(2, 2), 0.1);
    for (int i = 0; i < 4; i++)
        TGT_ASSERT_SAME(tgt_at(f, i), (double)0.1f); /* rounded to float */
    tg_tensor *fn = tg_full(F64, TG_SHAPE(3), (double)NAN);
    ck_assert(isnan(tgt_at(fn, 2)));
    tg_tensor *fi = tg_full(F64, TG_SHAPE(1), -(double)INFINITY);
    TGT_ASSERT_SAME(tgt_at(fi, 0), -(double)INFINITY);

    /* Eight dimensions are allowed. */
    tg_tensor *m = tg_zeros(F64, TG_SHAPE(1, 2, 1, 2, 1, 2, 1, 2));
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(tg_ndim(m), 8);
    ck_assert_int_eq(tg_numel(m), 16);
    assert_strides(m, TG_SHAPE(16, 8, 8, 4, 4, 2, 2, 1));

    tg_free(e);
    tg_free(z);
    tg_free(o);
    tg_free(f);
    tg_free(fn);
    tg_free(fi);
    tg_free(m);
}
END_TEST

START_TEST(test_from_array_and_scalar)
{
    const double d[6] = {1.5, -2, 3, 4e300, -0.0, 6};
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(2, 3), d);
    TGT_ASSERT_SAME(get2(a, 0, 0), 1.5);
    TGT_ASSERT_SAME(get2(a, 0, 2), 3.0);
    TGT_ASSERT_SAME(get2(a, 1, 0), 4e300);
    TGT_ASSERT_SAME(get2(a, 1, 2), 6.0);
    ck_assert(memcmp(tg_data(a), d, sizeof d) == 0); /* bytes, incl. -0.0 */

    const float f[3] = {0.1f, -1e30f, 7.0f};
    tg_tensor *b = tg_from_array(F32, TG_SHAPE(3), f);
    assert_values(b, 3, (const double[]){(double)0.1f, (double)-1e30f, 7.0});

    tg_tensor *s = tg_scalar(F64, 3.25);
    ck_assert_int_eq(tg_ndim(s), 0);
    ck_assert_int_eq(tg_numel(s), 1);
    ck_assert(tg_is_contiguous(s));
    double v = 0;
    ck_assert_int_eq(tg_item(s, &v), TG_OK);
    TGT_ASSERT_SAME(v, 3.25);
    ck_assert_int_eq(tg_get(s, NULL, &v), TG_OK);
    TGT_ASSERT_SAME(v, 3.25);

    tg_tensor *s32 = tg_scalar(F32, 1.0 / 3.0);
    ck_assert_int_eq(tg_item(s32, &v), TG_OK);
    TGT_ASSERT_SAME(v, (double)(float)(1.0 / 3.0));

    /* 0-d through tg_empty / tg_zeros with ndim 0 and a NULL shape. */
    tg_tensor *e0 = tg_zeros(F64, 0, NULL);
    ck_assert_ptr_nonnull(e0);
    ck_assert_int_eq(tg_ndim(e0), 0);
    ck_assert_int_eq(tg_numel(e0), 1);
    ck_assert_int_eq(tg_item(e0, &v), TG_OK);
    TGT_ASSERT_SAME(v, 0.0);
    tg_tensor *e1 = tg_empty(F32, 0, NULL);
    ck_assert_int_eq(tg_numel(e1), 1);

    /* from_array copies: changing the source later does not matter. */
    double src[2] = {1, 2};
    tg_tensor *c = tg_from_array(F64, TG_SHAPE(2), src);
    src[0] = 100;
    TGT_ASSERT_SAME(tgt_at(c, 0), 1.0);

    tg_free(a);
    tg_free(b);
    tg_free(s);
    tg_free(s32);
    tg_free(e0);
    tg_free(e1);
    tg_free(c);
}
END_TEST

START_TEST(test_zero_size_dims)
{
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(0, 3));
    ck_assert_ptr_nonnull(a);
    tgt_assert_shape(a, TG_SHAPE(0, 3));
    ck_assert_int_eq(tg_numel(a), 0);
    ck_assert(tg_is_contiguous(a));
    tg_tensor *b = tg_ones(F32, TG_SHAPE(3, 0, 2));
    ck_assert_int_eq(tg_numel(b), 0);
    ck_assert_int_eq(tg_size(b, 1), 0);
    /* No data needed when there are no elements. */
    tg_tensor *c = tg_from_array(F64, TG_SHAPE(2, 0), NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tg_numel(c), 0);
    /* Large sizes next to a zero are fine while their strides fit. */
    tg_tensor *d = tg_empty(F64, TG_SHAPE(0, (int64_t)1 << 20, (int64_t)1 << 20));
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(tg_numel(d), 0);
    ck_assert_int_eq(tg_size(d, 2), (int64_t)1 << 20);
    /* Views and copies of empty tensors work. */
    tg_tensor *t = tg_transpose(a, 0, 1);
    tgt_assert_shape(t, TG_SHAPE(3, 0));
    tg_tensor *r = tg_reshape(a, TG_SHAPE(3, -1));
    tgt_assert_shape(r, TG_SHAPE(3, 0));
    tg_tensor *cl = tg_clone(t);
    tgt_assert_shape(cl, TG_SHAPE(3, 0));
    tg_tensor *ca = tg_cast(b, F64);
    tgt_assert_shape(ca, TG_SHAPE(3, 0, 2));
    ck_assert_int_eq(tg_fill(a, 5.0), TG_OK);
    ck_assert_int_eq(tg_copy(t, cl), TG_OK);
    char buf[32];
    ck_assert_str_eq(tg_shape_str(b, buf, sizeof buf), "(3,0,2)");
    tg_free(a);
    tg_free(b);
    tg_free(c);
    tg_free(d);
    tg_free(t);
    tg_free(r);
    tg_free(cl);
    tg_free(ca);
}
END_TEST

START_TEST(test_zero_size_huge_dims_rejected)
{
    /* NumPy refuses np.empty((0, 2**62, 2**62)): the sizes other than the
     * zero would need strides beyond int64. The count is 0, but the C-order
     * strides (2^62 * 2^62 elements) overflow, so this must be an error. */
    const int64_t h = (int64_t)1 << 62;
    ck_assert_ptr_null(tg_empty(F64, TG_SHAPE(0, h, h)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_empty: ");
    ck_assert_ptr_null(tg_zeros(F32, TG_SHAPE(h, h, 0)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_zeros: ");
    tg_tensor *e = tg_zeros(F64, TG_SHAPE(0));
    ck_assert_ptr_null(tg_reshape(e, TG_SHAPE(0, h, h)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_reshape: ");
    tg_free(e);
}
END_TEST

START_TEST(test_error_message_shows_whole_shape)
{
    /* The longest shape there is: eight 19-digit sizes. The message must
     * still show it whole, closing parenthesis included. */
    const int64_t q = 1000000000000000000; /* 10^18, 19 digits */
    ck_assert_ptr_null(tg_zeros(F64, TG_SHAPE(q, q, q, q, q, q, q, q)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW,
                   "tg_zeros: shape (1000000000000000000,1000000000000000000,"
                   "1000000000000000000,1000000000000000000,1000000000000000000,"
                   "1000000000000000000,1000000000000000000,1000000000000000000) "
                   "has too many elements");
}
END_TEST

START_TEST(test_arange_linspace_eye)
{
    tg_tensor *a = tg_arange(F64, 0, 5, 1);
    tgt_assert_shape(a, TG_SHAPE(5));
    assert_values(a, 5, (const double[]){0, 1, 2, 3, 4});
    tg_tensor *b = tg_arange(F64, 5, 0, -2);
    assert_values(b, 3, (const double[]){5, 3, 1});
    /* np.arange(0, 1, 0.1).tolist() */
    tg_tensor *c = tg_arange(F64, 0, 1, 0.1);
    assert_values(c, 10,
                  (const double[]){0.0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5,
                                   0.6000000000000001, 0.7000000000000001, 0.8, 0.9});
    tg_tensor *d = tg_arange(F64, 1, 2, 0.3);
    assert_values(d, 4, (const double[]){1.0, 1.3, 1.6, 1.9000000000000001});
    tg_tensor *e = tg_arange(F32, 3, 0, 1); /* empty, not an error */
    tgt_assert_shape(e, TG_SHAPE(0));
    tg_tensor *e2 = tg_arange(F64, 2, 2, 1);
    ck_assert_int_eq(tg_numel(e2), 0);

    tg_tensor *l = tg_linspace(F64, -1, 1, 5);
    assert_values(l, 5, (const double[]){-1, -0.5, 0, 0.5, 1});
    tg_tensor *l7 = tg_linspace(F64, 0, 1, 7); /* np.linspace(0, 1, 7) */
    assert_values(l7, 7,
                  (const double[]){0.0, 0.16666666666666666, 0.3333333333333333, 0.5,
                                   0.6666666666666666, 0.8333333333333333, 1.0});
    tg_tensor *l1 = tg_linspace(F64, 2, 3, 1);
    assert_values(l1, 1, (const double[]){2});
    tg_tensor *l0 = tg_linspace(F32, 2, 3, 0);
    tgt_assert_shape(l0, TG_SHAPE(0));
    tg_tensor *ld = tg_linspace(F64, 3, -3, 4);
    assert_values(ld, 4, (const double[]){3, 1, -1, -3});

    tg_tensor *i3 = tg_eye(F64, 3, 3);
    assert_values(i3, 9, (const double[]){1, 0, 0, 0, 1, 0, 0, 0, 1});
    tg_tensor *i23 = tg_eye(F32, 2, 3);
    tgt_assert_shape(i23, TG_SHAPE(2, 3));
    assert_values(i23, 6, (const double[]){1, 0, 0, 0, 1, 0});
    tg_tensor *i32 = tg_eye(F64, 3, 2);
    assert_values(i32, 6, (const double[]){1, 0, 0, 1, 0, 0});
    tg_tensor *i0 = tg_eye(F64, 0, 4);
    tgt_assert_shape(i0, TG_SHAPE(0, 4));

    tg_free(a);
    tg_free(b);
    tg_free(c);
    tg_free(d);
    tg_free(e);
    tg_free(e2);
    tg_free(l);
    tg_free(l7);
    tg_free(l1);
    tg_free(l0);
    tg_free(ld);
    tg_free(i3);
    tg_free(i23);
    tg_free(i32);
    tg_free(i0);
}
END_TEST

START_TEST(test_creation_errors)
{
    /* too many dimensions, negative ndim */
    ck_assert_ptr_null(tg_zeros(F64, 9, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_zeros: 9 dimensions (at most 8 allowed)");
    ck_assert_ptr_null(tg_empty(F64, -1, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_empty: -1 dimensions");
    /* negative sizes */
    ck_assert_ptr_null(tg_ones(F32, TG_SHAPE(3, -2)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_ones: negative size -2 in axis 1");
    ck_assert_ptr_null(tg_full(F64, TG_SHAPE(-1), 1.0));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_full: negative size -1 in axis 0");
    ck_assert_ptr_null(tg_eye(F64, -1, 2));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_eye: negative size -1");
    /* a NULL shape with ndim > 0 */
    ck_assert_ptr_null(tg_zeros(F64, 2, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_zeros: shape is NULL");
    /* from_array needs data when there are elements */
    ck_assert_ptr_null(tg_from_array(F64, TG_SHAPE(2), NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_from_array: data is NULL");
    /* an unknown dtype */
    ck_assert_ptr_null(tg_zeros((tg_dtype)7, TG_SHAPE(2)));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_zeros: unknown dtype 7");
    ck_assert_ptr_null(tg_scalar((tg_dtype)-1, 1.0));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_scalar: unknown dtype -1");
    /* arange's arguments */
    ck_assert_ptr_null(tg_arange(F64, 0, 1, 0));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_arange: ");
    ck_assert_ptr_null(tg_arange(F64, (double)NAN, 1, 1));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_arange: ");
    ck_assert_ptr_null(tg_arange(F64, 0, (double)INFINITY, 1));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_arange: ");
    ck_assert_ptr_null(tg_arange(F64, 0, 1e300, 1e-300));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_arange: ");
    ck_assert_ptr_null(tg_linspace(F64, 0, 1, -1));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_linspace: number of samples -1 is negative");
}
END_TEST

START_TEST(test_size_overflow)
{
    const int64_t big = (int64_t)1 << 40;
    /* The element count overflows int64. */
    ck_assert_ptr_null(tg_zeros(F64, TG_SHAPE(big, big)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW,
                   "tg_zeros: shape (1099511627776,1099511627776) has too many elements");
    ck_assert_ptr_null(tg_empty(F32, TG_SHAPE(2, big, big, 2)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_empty: shape (2,1099511627776,");
    ck_assert_ptr_null(tg_from_array(F64, TG_SHAPE(INT64_MAX, 2), NULL));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_from_array: ");
    /* The count fits but the byte size does not. */
    ck_assert_ptr_null(tg_empty(F64, TG_SHAPE((int64_t)1 << 61)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_empty: shape (2305843009213693952,) needs too many bytes");
    ck_assert_ptr_null(tg_full(F32, TG_SHAPE((int64_t)1 << 61), 0.0));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "needs too many bytes");
    ck_assert_ptr_null(tg_ones(F64, TG_SHAPE(INT64_MAX)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_ones: ");
    ck_assert_ptr_null(tg_eye(F64, big, big));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_eye: ");
    ck_assert_ptr_null(tg_linspace(F64, 0, 1, INT64_MAX));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_linspace: ");
    /* The helper itself. */
    int64_t out = -1;
    ck_assert(tg__mul_overflows(INT64_MAX, 2, &out));
    ck_assert(!tg__mul_overflows((int64_t)1 << 31, (int64_t)1 << 31, &out));
    ck_assert_int_eq(out, (int64_t)1 << 62);
    ck_assert(!tg__mul_overflows(0, INT64_MAX, &out));
    ck_assert_int_eq(out, 0);
}
END_TEST

/* ======================================================================== */
/* inspection                                                                */
/* ======================================================================== */

START_TEST(test_inspection)
{
    ck_assert_uint_eq(tg_dtype_size(F32), 4);
    ck_assert_uint_eq(tg_dtype_size(F64), 8);
    ck_assert_str_eq(tg_dtype_name(F32), "float32");
    ck_assert_str_eq(tg_dtype_name(F64), "float64");

    tg_tensor *t = tg_zeros(F32, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_dtype_of(t), F32);
    ck_assert_int_eq(tg_size(t, 0), 3);
    ck_assert_int_eq(tg_size(t, 1), 4);
    ck_assert_int_eq(tg_size(t, -1), 4);
    ck_assert_int_eq(tg_size(t, -2), 3);
    ck_assert_int_eq(tg_last_error(), TG_OK);
    ck_assert_int_lt(tg_size(t, 2), 0);
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_size: axis 2 out of range for 2 dimensions");
    ck_assert_int_lt(tg_size(t, -3), 0);
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_size: axis -3 out of range");

    char buf[32];
    ck_assert_str_eq(tg_shape_str(t, buf, sizeof buf), "(3,4)");
    tg_tensor *v = tg_zeros(F64, TG_SHAPE(5));
    ck_assert_str_eq(tg_shape_str(v, buf, sizeof buf), "(5,)");
    tg_tensor *s = tg_scalar(F64, 1);
    ck_assert_ptr_eq(tg_shape_str(s, buf, sizeof buf), buf);
    ck_assert_str_eq(buf, "()");
    ck_assert_int_lt(tg_size(s, 0), 0);
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_size: axis 0 out of range for 0 dimensions");
    /* Truncated but always terminated. */
    char small[4];
    memset(small, 'z', sizeof small);
    tg_shape_str(t, small, sizeof small);
    ck_assert_str_eq(small, "(3,");
    char one[1] = {'z'};
    tg_shape_str(t, one, 1);
    ck_assert_int_eq(one[0], '\0');

    /* tg_data points at element (0,...,0) of the view. */
    tg_tensor *r = tg_slice(t, 0, 1, 3, 1);
    ck_assert_int_eq(tg_offset(r), 4);
    ck_assert_ptr_eq(tg_data(r), (char *)tg_data(t) + 4 * sizeof(float));
    ck_assert(tg_is_contiguous(r)); /* rows of a C-order matrix */
    ck_assert(tg_shares_storage(t, r));
    ck_assert(tg_shares_storage(r, t));
    ck_assert(!tg_shares_storage(t, v));
    ck_assert(!tg_shares_storage(t, NULL));
    ck_assert(!tg_shares_storage(NULL, NULL));
    ck_assert(!tg_is_contiguous(NULL));

    tg_free(t);
    tg_free(v);
    tg_free(s);
    tg_free(r);
}
END_TEST

START_TEST(test_is_contiguous_cases)
{
    tg_tensor *a = iota(TG_SHAPE(3, 4));
    tg_tensor *t = tg_transpose(a, 0, 1);
    tg_tensor *s2 = tg_slice(a, 1, 0, 4, 2);
    tg_tensor *neg = tg_slice(a, 0, 2, TG_NONE, -1);
    tg_tensor *col = tg_slice(a, 1, 1, 2, 1);   /* (3,1), stride 4 on axis 0 */
    tg_tensor *row = tg_select(a, 0, 2);        /* (4,) */
    tg_tensor *colv = tg_select(a, 1, 2);       /* (3,), stride 4 */
    tg_tensor *one = tg_reshape(a, TG_SHAPE(12, 1));
    tg_tensor *r1 = tg_slice(a, 0, 1, 2, 1);
    tg_tensor *ex = tg_expand(r1, TG_SHAPE(3, 4));
    tg_tensor *u = tg_unsqueeze(a, 1);          /* (3,1,4): size-1 axis */
    ck_assert(tg_is_contiguous(a));
    ck_assert(!tg_is_contiguous(t));
    ck_assert(!tg_is_contiguous(s2));
    ck_assert(!tg_is_contiguous(neg));
    ck_assert(!tg_is_contiguous(col));
    ck_assert(tg_is_contiguous(row));
    ck_assert(!tg_is_contiguous(colv));
    ck_assert(tg_is_contiguous(one));
    ck_assert(tg_is_contiguous(r1));
    ck_assert(!tg_is_contiguous(ex));
    ck_assert(tg_is_contiguous(u));
    tg_free(a);
    tg_free(t);
    tg_free(s2);
    tg_free(neg);
    tg_free(col);
    tg_free(row);
    tg_free(colv);
    tg_free(one);
    tg_free(r1);
    tg_free(ex);
    tg_free(u);
}
END_TEST

/* ======================================================================== */
/* views                                                                     */
/* ======================================================================== */

START_TEST(test_reshape_view)
{
    tg_tensor *a = iota(TG_SHAPE(12));
    tg_tensor *r = tg_reshape(a, TG_SHAPE(3, -1));
    tgt_assert_shape(r, TG_SHAPE(3, 4));
    assert_strides(r, TG_SHAPE(4, 1));
    ck_assert(tg_shares_storage(a, r));
    TGT_ASSERT_SAME(get2(r, 2, 1), 9.0);
    tg_tensor *r3 = tg_reshape(r, TG_SHAPE(2, -1, 3));
    tgt_assert_shape(r3, TG_SHAPE(2, 2, 3));
    TGT_ASSERT_SAME(get3(r3, 1, 0, 2), 8.0);
    tg_tensor *flat = tg_reshape(r3, TG_SHAPE(-1));
    tgt_assert_shape(flat, TG_SHAPE(12));
    ck_assert(tg_shares_storage(flat, a));
    /* Writing through the view changes the base and vice versa. */
    ck_assert_int_eq(tg_set(r, (const int64_t[]){1, 2}, -6.0), TG_OK);
    TGT_ASSERT_SAME(tgt_at(a, 6), -6.0);
    ck_assert_int_eq(tg_set(a, (const int64_t[]){11}, 111.0), TG_OK);
    TGT_ASSERT_SAME(get3(r3, 1, 1, 2), 111.0);
    /* A one-element tensor reshapes to 0-d and back. */
    tg_tensor *one = tg_slice(a, 0, 5, 6, 1);
    tg_tensor *z = tg_reshape(one, 0, NULL);
    ck_assert_int_eq(tg_ndim(z), 0);
    double v;
    ck_assert_int_eq(tg_item(z, &v), TG_OK);
    TGT_ASSERT_SAME(v, 5.0);
    tg_tensor *z3 = tg_reshape(z, TG_SHAPE(1, 1, -1));
    tgt_assert_shape(z3, TG_SHAPE(1, 1, 1));
    ck_assert(tg_shares_storage(z3, a));
    /* A contiguous row block with an offset stays a view. */
    tg_tensor *rows = tg_slice(r, 0, 1, 3, 1);
    tg_tensor *rf = tg_reshape(rows, TG_SHAPE(8));
    ck_assert(tg_shares_storage(rf, a));
    ck_assert_int_eq(tg_offset(rf), 4);
    TGT_ASSERT_SAME(tgt_at(rf, 0), 4.0);
    TGT_ASSERT_SAME(tgt_at(rf, 7), 111.0);
    tg_free(a);
    tg_free(r);
    tg_free(r3);
    tg_free(flat);
    tg_free(one);
    tg_free(z);
    tg_free(z3);
    tg_free(rows);
    tg_free(rf);
}
END_TEST

START_TEST(test_reshape_noncontiguous_copies)
{
    tg_tensor *a = iota(TG_SHAPE(3, 4));
    tg_tensor *t = tg_transpose(a, 0, 1); /* (4,3): t[i][j] = 4j + i */
    tg_tensor *f = tg_reshape(t, TG_SHAPE(-1));
    tgt_assert_shape(f, TG_SHAPE(12));
    ck_assert(!tg_shares_storage(f, a));
    ck_assert(tg_is_contiguous(f));
    assert_values(f, 12, (const double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    /* The copy is independent of the base. */
    ck_assert_int_eq(tg_set(f, (const int64_t[]){0}, 99.0), TG_OK);
    TGT_ASSERT_SAME(get2(a, 0, 0), 0.0);
    ck_assert_int_eq(tg_fill(a, 1.0), TG_OK);
    TGT_ASSERT_SAME(tgt_at(f, 1), 4.0);
    /* Stepped and expanded inputs copy too. */
    tg_tensor *b = iota(TG_SHAPE(2, 6));
    tg_tensor *s = tg_slice(b, 1, 5, TG_NONE, -2); /* columns 5, 3, 1 */
    tg_tensor *sf = tg_reshape(s, TG_SHAPE(3, 2));
    ck_assert(!tg_shares_storage(sf, b));
    assert_values(sf, 6, (const double[]){5, 3, 1, 11, 9, 7});
    tg_tensor *row = tg_select(b, 0, 1);
    tg_tensor *ex = tg_expand(row, TG_SHAPE(2, 6));
    tg_tensor *exf = tg_reshape(ex, TG_SHAPE(4, 3));
    ck_assert(!tg_shares_storage(exf, b));
    assert_values(exf, 12, (const double[]){6, 7, 8, 9, 10, 11, 6, 7, 8, 9, 10, 11});
    tg_free(a);
    tg_free(t);
    tg_free(f);
    tg_free(b);
    tg_free(s);
    tg_free(sf);
    tg_free(row);
    tg_free(ex);
    tg_free(exf);
}
END_TEST

/* Non-contiguous inputs whose strides can walk the new shape give views,
 * exactly where NumPy 1.24 gives views (np.shares_memory of a.reshape(...)
 * and a), with NumPy's strides on every axis longer than 1. */
START_TEST(test_reshape_views_like_numpy)
{
    tg_tensor *a23 = iota(TG_SHAPE(2, 3)), *a43 = iota(TG_SHAPE(4, 3));
    tg_tensor *a12 = iota(TG_SHAPE(12)), *a46 = iota(TG_SHAPE(4, 6));
    tg_tensor *a234 = iota(TG_SHAPE(2, 3, 4)), *a6 = iota(TG_SHAPE(6));
    tg_tensor *a3 = iota(TG_SHAPE(3));
    tg_tensor *src[8] = {
        tg_transpose(a23, 0, 1),                      /* (3,2) */
        tg_slice(a43, 1, 1, 2, 1),                    /* column 1, (4,1) */
        tg_slice(a12, 0, 0, 12, 2),                   /* every other, (6,) */
        tg_slice(a46, 1, 0, 6, 2),                    /* even columns, (4,3) */
        tg_permute(a234, (const int[]){1, 0, 2}),     /* (3,2,4) */
        tg_slice(a234, 2, 1, 3, 1),                   /* (2,3,2) */
        tg_slice(a6, 0, 5, TG_NONE, -1),              /* reversed, (6,) */
        tg_expand(a3, TG_SHAPE(4, 3)),                /* (4,3), stride 0 */
    };
    static const struct {
        int src;
        int ndim;
        int64_t shape[3];
        bool view;
        int64_t strides[3]; /* 0 where the axis has size 1 (any stride) */
        double first, last;
    } cases[] = {
        {0, 2, {3, 2}, true, {1, 3}, 0, 5},
        {1, 1, {4}, true, {3}, 1, 10},
        {1, 3, {1, 4, 1}, true, {0, 3, 0}, 1, 10},
        {2, 2, {2, 3}, true, {6, 2}, 0, 10},
        {3, 3, {2, 2, 3}, true, {12, 6, 2}, 0, 22},
        {3, 1, {12}, true, {2}, 0, 22},
        {4, 2, {3, 8}, false, {0}, 0, 23},
        {4, 2, {6, 4}, false, {0}, 0, 23},
        {5, 2, {6, 2}, true, {4, 1}, 1, 22},
        {6, 2, {2, 3}, true, {-3, -1}, 5, 0},
        {7, 3, {4, 3, 1}, true, {0, 1, 0}, 0, 2},
        {7, 1, {12}, false, {0}, 0, 2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_tensor *in = src[cases[c].src];
        ck_assert_ptr_nonnull(in);
        ck_assert(!tg_is_contiguous(in));
        tg_tensor *r = tg_reshape(in, cases[c].ndim, cases[c].shape);
        tgt_assert_shape(r, cases[c].ndim, cases[c].shape);
        ck_assert_msg(tg_shares_storage(r, in) == cases[c].view,
                      "case %zu: view %d, NumPy %d", c, tg_shares_storage(r, in),
                      cases[c].view);
        for (int k = 0; cases[c].view && k < cases[c].ndim; k++)
            if (cases[c].shape[k] > 1)
                ck_assert_msg(tg_strides(r)[k] == cases[c].strides[k],
                              "case %zu axis %d: stride %lld, NumPy %lld", c, k,
                              (long long)tg_strides(r)[k],
                              (long long)cases[c].strides[k]);
        /* The values, in C order, are those of the contiguous copy. */
        tg_tensor *cc = tg_contiguous(in);
        for (int64_t i = 0; i < tg_numel(in); i++)
            TGT_ASSERT_SAME(tgt_at(r, i), tgt_at(cc, i));
        TGT_ASSERT_SAME(tgt_at(r, 0), cases[c].first);
        TGT_ASSERT_SAME(tgt_at(r, tg_numel(r) - 1), cases[c].last);
        tg_free(cc);
        tg_free(r);
    }
    /* A view writes through to its base. */
    tg_tensor *v = tg_reshape(src[2], TG_SHAPE(2, 3));
    ck_assert_int_eq(tg_set(v, (const int64_t[]){1, 2}, -1.0), TG_OK);
    TGT_ASSERT_SAME(tgt_at(a12, 10), -1.0);
    tg_free(v);
    for (int i = 0; i < 8; i++)
        tg_free(src[i]);
    tg_free(a23);
    tg_free(a43);
    tg_free(a12);
    tg_free(a46);
    tg_free(a234);
    tg_free(a6);
    tg_free(a3);
}
END_TEST

START_TEST(test_reshape_errors)
{
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(3, 4));
    ck_assert_ptr_null(tg_reshape(a, TG_SHAPE(5)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_reshape: cannot reshape (3,4) into (5,)");
    ck_assert_ptr_null(tg_reshape(a, TG_SHAPE(2, 2, 2)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_reshape: cannot reshape (3,4) into (2,2,2)");
    ck_assert_ptr_null(tg_reshape(a, TG_SHAPE(-1, 2, -1)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_reshape: more than one size is -1");
    ck_assert_ptr_null(tg_reshape(a, TG_SHAPE(5, -1)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_reshape: cannot infer -1 reshaping (3,4)");
    ck_assert_ptr_null(tg_reshape(a, TG_SHAPE(0, -1)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_reshape: cannot infer -1");
    ck_assert_ptr_null(tg_reshape(a, TG_SHAPE(-2, -6)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_reshape: negative size -2 in axis 0");
    ck_assert_ptr_null(tg_reshape(a, 9, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 3, 4}));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_reshape: 9 dimensions");
    ck_assert_ptr_null(tg_reshape(a, 2, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_reshape: shape is NULL");
    ck_assert_ptr_null(tg_reshape(a, 0, NULL));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_reshape: cannot reshape (3,4) into ()");
    const int64_t big = (int64_t)1 << 40;
    ck_assert_ptr_null(tg_reshape(a, TG_SHAPE(big, big, 0)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_reshape: ");
    tg_free(a);
}
END_TEST

START_TEST(test_transpose_permute)
{
    tg_tensor *a = iota(TG_SHAPE(3, 4));
    tg_tensor *t = tg_transpose(a, 0, 1);
    tgt_assert_shape(t, TG_SHAPE(4, 3));
    assert_strides(t, TG_SHAPE(1, 4));
    ck_assert(tg_shares_storage(a, t));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            TGT_ASSERT_SAME(get2(t, j, i), get2(a, i, j));
    tg_tensor *t2 = tg_transpose(a, -1, -2);
    assert_strides(t2, TG_SHAPE(1, 4));
    tg_tensor *tt = tg_transpose(a, 1, 1); /* the identity */
    assert_strides(tt, TG_SHAPE(4, 1));
    ck_assert_int_eq(tg_set(t, (const int64_t[]){3, 2}, -1.0), TG_OK);
    TGT_ASSERT_SAME(get2(a, 2, 3), -1.0);
    ck_assert_int_eq(tg_set(a, (const int64_t[]){0, 1}, 50.0), TG_OK);
    TGT_ASSERT_SAME(get2(t2, 1, 0), 50.0);

    tg_tensor *b = iota(TG_SHAPE(2, 3, 4));
    tg_tensor *p = tg_permute(b, (const int[]){2, 0, 1});
    tgt_assert_shape(p, TG_SHAPE(4, 2, 3));
    assert_strides(p, TG_SHAPE(1, 12, 4));
    ck_assert(tg_shares_storage(p, b));
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                TGT_ASSERT_SAME(get3(p, k, i, j), get3(b, i, j, k));
    tg_tensor *pn = tg_permute(b, (const int[]){-1, 0, -2});
    tgt_assert_shape(pn, TG_SHAPE(4, 2, 3));
    assert_strides(pn, TG_SHAPE(1, 12, 4));
    ck_assert_int_eq(tg_set(p, (const int64_t[]){3, 1, 2}, 7.5), TG_OK);
    TGT_ASSERT_SAME(get3(b, 1, 2, 3), 7.5);
    /* A permutation of a 0-d tensor needs no axes. */
    tg_tensor *s = tg_scalar(F64, 2);
    tg_tensor *ps = tg_permute(s, NULL);
    ck_assert_ptr_nonnull(ps);
    ck_assert_int_eq(tg_ndim(ps), 0);

    tg_free(a);
    tg_free(t);
    tg_free(t2);
    tg_free(tt);
    tg_free(b);
    tg_free(p);
    tg_free(pn);
    tg_free(s);
    tg_free(ps);
}
END_TEST

START_TEST(test_transpose_permute_errors)
{
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(3, 4));
    ck_assert_ptr_null(tg_transpose(a, 0, 2));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_transpose: axis 2 out of range for 2 dimensions");
    ck_assert_ptr_null(tg_transpose(a, -3, 0));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_transpose: axis -3 out of range");
    tg_tensor *s = tg_scalar(F64, 1);
    ck_assert_ptr_null(tg_transpose(s, 0, 0));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_transpose: axis 0 out of range for 0 dimensions");
    tg_tensor *b = tg_zeros(F64, TG_SHAPE(2, 3, 4));
    ck_assert_ptr_null(tg_permute(b, (const int[]){0, 0, 1}));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_permute: axis 0 repeated in permutation");
    ck_assert_ptr_null(tg_permute(b, (const int[]){2, 1, -1}));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_permute: axis -1 repeated");
    ck_assert_ptr_null(tg_permute(b, (const int[]){0, 1, 3}));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_permute: axis 3 out of range for 3 dimensions");
    ck_assert_ptr_null(tg_permute(b, (const int[]){-4, 1, 2}));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_permute: axis -4 out of range");
    ck_assert_ptr_null(tg_permute(b, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_permute: axes is NULL");
    tg_free(a);
    tg_free(s);
    tg_free(b);
}
END_TEST

START_TEST(test_slice_positive_and_negative_steps)
{
    tg_tensor *a = iota(TG_SHAPE(10));
    tg_tensor *s = tg_slice(a, 0, 2, 8, 2);
    tgt_assert_shape(s, TG_SHAPE(3));
    assert_strides(s, TG_SHAPE(2));
    ck_assert_int_eq(tg_offset(s), 2);
    assert_values(s, 3, (const double[]){2, 4, 6});
    tg_tensor *s3 = tg_slice(a, -1, 2, 9, 3);
    assert_values(s3, 3, (const double[]){2, 5, 8});
    tg_tensor *n = tg_slice(a, 0, 8, 1, -3);
    tgt_assert_shape(n, TG_SHAPE(3));
    assert_strides(n, TG_SHAPE(-3));
    ck_assert_int_eq(tg_offset(n), 8);
    assert_values(n, 3, (const double[]){8, 5, 2});
    tg_tensor *rev = tg_slice(a, 0, 9, TG_NONE, -1); /* a[9::-1] */
    assert_values(rev, 10, (const double[]){9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
    tg_tensor *all = tg_slice(a, 0, 0, 10, 1);
    assert_values(all, 10, (const double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    tg_tensor *e = tg_slice(a, 0, 3, 3, 1);
    tgt_assert_shape(e, TG_SHAPE(0));
    tg_tensor *e2 = tg_slice(a, 0, 10, 10, 1); /* start == size is allowed */
    tgt_assert_shape(e2, TG_SHAPE(0));
    tg_tensor *e3 = tg_slice(a, 0, 4, 4, -1);
    tgt_assert_shape(e3, TG_SHAPE(0));
    tg_tensor *big = tg_slice(a, 0, 1, 10, 100); /* steps past the end */
    assert_values(big, 1, (const double[]){1});
    /* Slicing a slice composes the steps. */
    tg_tensor *ss = tg_slice(rev, 0, 1, 10, 4); /* 8, 4, 0 */
    assert_values(ss, 3, (const double[]){8, 4, 0});
    assert_strides(ss, TG_SHAPE(-4));
    /* 2-D: every other column, counted from the end. */
    tg_tensor *m = iota(TG_SHAPE(3, 4));
    tg_tensor *c = tg_slice(m, 1, 3, TG_NONE, -2); /* columns 3, 1 */
    tgt_assert_shape(c, TG_SHAPE(3, 2));
    assert_values(c, 6, (const double[]){3, 1, 7, 5, 11, 9});
    /* Writes go both ways. */
    ck_assert_int_eq(tg_set(n, (const int64_t[]){1}, -5.0), TG_OK);
    TGT_ASSERT_SAME(tgt_at(a, 5), -5.0);
    ck_assert_int_eq(tg_set(a, (const int64_t[]){4}, -4.0), TG_OK);
    TGT_ASSERT_SAME(tgt_at(s, 1), -4.0);
    TGT_ASSERT_SAME(tgt_at(rev, 5), -4.0);
    ck_assert_int_eq(tg_fill(c, 0.5), TG_OK);
    assert_values(m, 12, (const double[]){0, 0.5, 2, 0.5, 4, 0.5, 6, 0.5, 8, 0.5, 10, 0.5});
    tg_free(a);
    tg_free(s);
    tg_free(s3);
    tg_free(n);
    tg_free(rev);
    tg_free(all);
    tg_free(e);
    tg_free(e2);
    tg_free(e3);
    tg_free(big);
    tg_free(ss);
    tg_free(m);
    tg_free(c);
}
END_TEST

START_TEST(test_slice_huge_step)
{
    /* Any positive step is valid; one larger than the axis takes one
     * element. (stop - start + step - 1) must not overflow. */
    tg_tensor *a = iota(TG_SHAPE(10));
    tg_tensor *s = tg_slice(a, 0, 3, 10, INT64_MAX);
    ck_assert_ptr_nonnull(s);
    tgt_assert_shape(s, TG_SHAPE(1));
    TGT_ASSERT_SAME(tgt_at(s, 0), 3.0);
    tg_tensor *n = tg_slice(a, 0, 9, TG_NONE, -INT64_MAX);
    ck_assert_ptr_nonnull(n);
    tgt_assert_shape(n, TG_SHAPE(1));
    TGT_ASSERT_SAME(tgt_at(n, 0), 9.0);
    tg_free(a);
    tg_free(s);
    tg_free(n);
}
END_TEST

/* Python's slicing rules (negative bounds from the end, clamping, None)
 * against NumPy: np.arange(n)[start:stop:step] for every row of
 * data/slice_ref.inc (make_slice_ref.py), among them the bounds that
 * tg_slice used to refuse (-1:5:1, 0:11:1, 5:4:1, 10:0:-1, 5:-2:-1 on 10
 * elements). Only step 0 and a bad axis are errors. */
START_TEST(test_slice_numpy_rules)
{
    for (size_t r = 0; r < sizeof slice_ref / sizeof slice_ref[0]; r++) {
        const struct slice_ref *c = &slice_ref[r];
        tg_tensor *a = tg_arange(F64, 0, (double)c->n, 1);
        tg_clear_error();
        tg_tensor *s = tg_slice(a, 0, c->start, c->stop, c->step);
        ck_assert_msg(s != NULL, "row %zu: %s", r, tg_last_message());
        ck_assert_msg(tg_numel(s) == c->len,
                      "row %zu: arange(%lld)[%lld:%lld:%lld] has %lld elements, "
                      "NumPy %lld", r, (long long)c->n, (long long)c->start,
                      (long long)c->stop, (long long)c->step,
                      (long long)tg_numel(s), (long long)c->len);
        for (int64_t i = 0; i < c->len; i++) /* first + i step, as NumPy's */
            ck_assert_msg(tgt_at(s, i) == (double)(c->first + i * c->step),
                          "row %zu: element %lld is %g", r, (long long)i,
                          tgt_at(s, i));
        tg_free(s);
        tg_free(a);
    }
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(10));
    ck_assert_ptr_null(tg_slice(a, 0, 0, 5, 0));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_slice: slice step is 0");
    ck_assert_ptr_null(tg_slice(a, 0, TG_NONE, TG_NONE, 0));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_slice: slice step is 0");
    ck_assert_ptr_null(tg_slice(a, 1, 0, 1, 1));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_slice: axis 1 out of range for 1 dimensions");
    ck_assert_ptr_null(tg_slice(a, -2, 0, 1, 1));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_slice: axis -2 out of range");
    tg_free(a);
}
END_TEST

START_TEST(test_select)
{
    tg_tensor *a = iota(TG_SHAPE(3, 4));
    tg_tensor *r = tg_select(a, 0, 1);
    tgt_assert_shape(r, TG_SHAPE(4));
    ck_assert_int_eq(tg_offset(r), 4);
    assert_values(r, 4, (const double[]){4, 5, 6, 7});
    tg_tensor *c = tg_select(a, 1, -1);
    tgt_assert_shape(c, TG_SHAPE(3));
    assert_strides(c, TG_SHAPE(4));
    assert_values(c, 3, (const double[]){3, 7, 11});
    tg_tensor *c2 = tg_select(a, -1, 0);
    assert_values(c2, 3, (const double[]){0, 4, 8});
    tg_tensor *e = tg_select(c, 0, -3); /* 0-d */
    ck_assert_int_eq(tg_ndim(e), 0);
    double v;
    ck_assert_int_eq(tg_item(e, &v), TG_OK);
    TGT_ASSERT_SAME(v, 3.0);
    /* Writes go both ways. */
    ck_assert_int_eq(tg_set(r, (const int64_t[]){2}, -6.0), TG_OK);
    TGT_ASSERT_SAME(get2(a, 1, 2), -6.0);
    ck_assert_int_eq(tg_set(e, NULL, 33.0), TG_OK);
    TGT_ASSERT_SAME(get2(a, 0, 3), 33.0);
    ck_assert_int_eq(tg_set(a, (const int64_t[]){2, 3}, 44.0), TG_OK);
    TGT_ASSERT_SAME(tgt_at(c, 2), 44.0);
    /* Errors. */
    ck_assert_ptr_null(tg_select(a, 0, 3));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_select: index 3 out of range for axis 0 of size 3");
    ck_assert_ptr_null(tg_select(a, 1, -5));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_select: index -5 out of range for axis 1 of size 4");
    ck_assert_ptr_null(tg_select(a, 2, 0));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_select: axis 2 out of range for 2 dimensions");
    ck_assert_ptr_null(tg_select(e, 0, 0));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_select: axis 0 out of range for 0 dimensions");
    tg_tensor *z = tg_zeros(F64, TG_SHAPE(0, 2));
    ck_assert_ptr_null(tg_select(z, 0, 0));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_select: index 0 out of range for axis 0 of size 0");
    tg_free(a);
    tg_free(r);
    tg_free(c);
    tg_free(c2);
    tg_free(e);
    tg_free(z);
}
END_TEST

START_TEST(test_unsqueeze_squeeze)
{
    tg_tensor *a = iota(TG_SHAPE(3, 4));
    tg_tensor *u0 = tg_unsqueeze(a, 0);
    tgt_assert_shape(u0, TG_SHAPE(1, 3, 4));
    tg_tensor *u1 = tg_unsqueeze(a, 1);
    tgt_assert_shape(u1, TG_SHAPE(3, 1, 4));
    tg_tensor *u2 = tg_unsqueeze(a, 2);
    tgt_assert_shape(u2, TG_SHAPE(3, 4, 1));
    tg_tensor *um1 = tg_unsqueeze(a, -1);
    tgt_assert_shape(um1, TG_SHAPE(3, 4, 1));
    tg_tensor *um3 = tg_unsqueeze(a, -3);
    tgt_assert_shape(um3, TG_SHAPE(1, 3, 4));
    ck_assert(tg_shares_storage(u1, a));
    TGT_ASSERT_SAME(get3(u1, 2, 0, 3), 11.0);
    TGT_ASSERT_SAME(get3(u2, 1, 2, 0), 6.0);
    ck_assert_int_eq(tg_set(u1, (const int64_t[]){1, 0, 1}, -5.0), TG_OK);
    TGT_ASSERT_SAME(get2(a, 1, 1), -5.0);
    /* Unsqueezing a transposed view keeps its strides. */
    tg_tensor *t = tg_transpose(a, 0, 1);
    tg_tensor *tu = tg_unsqueeze(t, 1);
    tgt_assert_shape(tu, TG_SHAPE(4, 1, 3));
    ck_assert_int_eq(tg_strides(tu)[0], 1);
    ck_assert_int_eq(tg_strides(tu)[2], 4);
    TGT_ASSERT_SAME(get3(tu, 3, 0, 2), 11.0);
    tg_tensor *s = tg_scalar(F64, 7);
    tg_tensor *s1 = tg_unsqueeze(s, 0);
    tgt_assert_shape(s1, TG_SHAPE(1));
    TGT_ASSERT_SAME(tgt_at(s1, 0), 7.0);
    tg_tensor *sm = tg_unsqueeze(s, -1);
    tgt_assert_shape(sm, TG_SHAPE(1));

    tg_tensor *q0 = tg_squeeze(u0, 0);
    tgt_assert_shape(q0, TG_SHAPE(3, 4));
    ck_assert(tg_shares_storage(q0, a));
    tg_tensor *q1 = tg_squeeze(u1, -2);
    tgt_assert_shape(q1, TG_SHAPE(3, 4));
    assert_strides(q1, TG_SHAPE(4, 1));
    tg_tensor *q2 = tg_squeeze(um1, -1);
    tgt_assert_shape(q2, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_set(q2, (const int64_t[]){2, 2}, 123.0), TG_OK);
    TGT_ASSERT_SAME(get2(a, 2, 2), 123.0);
    TGT_ASSERT_SAME(get3(u0, 0, 2, 2), 123.0);
    tg_tensor *s0 = tg_squeeze(s1, 0);
    ck_assert_int_eq(tg_ndim(s0), 0);

    /* Errors. */
    ck_assert_ptr_null(tg_unsqueeze(a, 3));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_unsqueeze: axis 3 out of range");
    ck_assert_ptr_null(tg_unsqueeze(a, -4));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_unsqueeze: axis -4 out of range");
    tg_tensor *m8 = tg_zeros(F64, TG_SHAPE(1, 1, 1, 1, 1, 1, 1, 2));
    ck_assert_ptr_null(tg_unsqueeze(m8, 0));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_unsqueeze: tensor already has 8 dimensions");
    ck_assert_ptr_null(tg_squeeze(a, 1));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_squeeze: axis 1 has size 4, not 1");
    ck_assert_ptr_null(tg_squeeze(a, 2));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_squeeze: axis 2 out of range for 2 dimensions");
    ck_assert_ptr_null(tg_squeeze(s, 0));
    TGT_ASSERT_ERR(TG_ERR_AXIS, "tg_squeeze: axis 0 out of range for 0 dimensions");

    tg_free(a);
    tg_free(u0);
    tg_free(u1);
    tg_free(u2);
    tg_free(um1);
    tg_free(um3);
    tg_free(t);
    tg_free(tu);
    tg_free(s);
    tg_free(s1);
    tg_free(sm);
    tg_free(q0);
    tg_free(q1);
    tg_free(q2);
    tg_free(s0);
    tg_free(m8);
}
END_TEST

START_TEST(test_expand)
{
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(3, 1), (const double[]){1, 2, 3});
    tg_tensor *e = tg_expand(a, TG_SHAPE(2, 3, 4));
    tgt_assert_shape(e, TG_SHAPE(2, 3, 4));
    assert_strides(e, TG_SHAPE(0, 1, 0));
    ck_assert(tg_shares_storage(e, a));
    ck_assert_int_eq(tg_numel(e), 24);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                TGT_ASSERT_SAME(get3(e, i, j, k), (double)(j + 1));
    /* A write to the base shows in every broadcast copy; a write through
     * the expanded view is refused (it would land on one shared element). */
    ck_assert_int_eq(tg_set(a, (const int64_t[]){1, 0}, 20.0), TG_OK);
    TGT_ASSERT_SAME(get3(e, 1, 1, 3), 20.0);
    TGT_ASSERT_SAME(get3(e, 0, 1, 0), 20.0);
    ck_assert_int_eq(tg_set(e, (const int64_t[]){1, 2, 3}, 30.0), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_set: tensor is a broadcast view (stride 0 on axis 0)");
    TGT_ASSERT_SAME(get2(a, 2, 0), 3.0);

    tg_tensor *v = tg_from_array(F64, TG_SHAPE(4), (const double[]){1, 2, 3, 4});
    tg_tensor *ev = tg_expand(v, TG_SHAPE(2, 4));
    assert_strides(ev, TG_SHAPE(0, 1));
    assert_values(ev, 8, (const double[]){1, 2, 3, 4, 1, 2, 3, 4});
    tg_tensor *same = tg_expand(v, TG_SHAPE(4));
    assert_strides(same, TG_SHAPE(1));
    tg_tensor *s = tg_scalar(F64, 5);
    tg_tensor *es = tg_expand(s, TG_SHAPE(2, 2));
    assert_strides(es, TG_SHAPE(0, 0));
    assert_values(es, 4, (const double[]){5, 5, 5, 5});
    tg_tensor *ez = tg_expand(a, TG_SHAPE(3, 0)); /* 1 -> 0 is allowed */
    tgt_assert_shape(ez, TG_SHAPE(3, 0));
    ck_assert_int_eq(tg_numel(ez), 0);

    /* Errors. */
    ck_assert_ptr_null(tg_expand(v, TG_SHAPE(5)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_expand: cannot broadcast (4,) to (5,)");
    ck_assert_ptr_null(tg_expand(a, TG_SHAPE(3)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_expand: cannot broadcast (3,1) to (3,)");
    ck_assert_ptr_null(tg_expand(a, TG_SHAPE(2, 3)));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_expand: cannot broadcast (3,1) to (2,3)");
    ck_assert_ptr_null(tg_expand(a, TG_SHAPE(3, -1)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_expand: negative size -1 in axis 1");
    ck_assert_ptr_null(tg_expand(v, 9, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 4}));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_expand: 9 dimensions");
    const int64_t big = (int64_t)1 << 40;
    ck_assert_ptr_null(tg_expand(v, TG_SHAPE(big, big, 4)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "tg_expand: ");

    tg_free(a);
    tg_free(e);
    tg_free(v);
    tg_free(ev);
    tg_free(same);
    tg_free(s);
    tg_free(es);
    tg_free(ez);
}
END_TEST

START_TEST(test_views_outlive_base)
{
    long live0 = tgt_stats.live_blocks;
    tg_tensor *a = iota(TG_SHAPE(3, 4));
    tg_tensor *t = tg_transpose(a, 0, 1);
    tg_tensor *s = tg_slice(t, 0, 3, TG_NONE, -1);
    tg_free(a);
    tg_free(t);
    /* The storage lives as long as its last view. */
    TGT_ASSERT_SAME(get2(s, 0, 2), 11.0);
    TGT_ASSERT_SAME(get2(s, 3, 0), 0.0);
    ck_assert_int_gt(tgt_stats.live_blocks, live0);
    tg_free(s);
    ck_assert_int_eq(tgt_stats.live_blocks, live0);
}
END_TEST

/* ======================================================================== */
/* contiguous, clone, cast                                                   */
/* ======================================================================== */

START_TEST(test_contiguous_clone)
{
    tg_tensor *a = iota(TG_SHAPE(3, 4));
    tg_tensor *c = tg_contiguous(a);
    ck_assert(tg_shares_storage(c, a)); /* already contiguous: a view */
    tg_tensor *t = tg_transpose(a, 0, 1);
    tg_tensor *ct = tg_contiguous(t);
    ck_assert(!tg_shares_storage(ct, a));
    ck_assert(tg_is_contiguous(ct));
    tgt_assert_shape(ct, TG_SHAPE(4, 3));
    assert_strides(ct, TG_SHAPE(3, 1));
    assert_values(ct, 12, (const double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    tg_tensor *n = tg_slice(a, 1, 3, TG_NONE, -1);
    tg_tensor *cn = tg_contiguous(n);
    ck_assert(!tg_shares_storage(cn, a));
    assert_values(cn, 12, (const double[]){3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8});

    tg_tensor *k = tg_clone(a); /* always a copy */
    ck_assert(!tg_shares_storage(k, a));
    ck_assert_int_eq(tg_dtype_of(k), F64);
    assert_values(k, 12, (const double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    ck_assert_int_eq(tg_set(k, (const int64_t[]){0, 0}, -1.0), TG_OK);
    TGT_ASSERT_SAME(get2(a, 0, 0), 0.0);
    ck_assert_int_eq(tg_set(a, (const int64_t[]){2, 3}, -2.0), TG_OK);
    TGT_ASSERT_SAME(get2(k, 2, 3), 11.0);
    TGT_ASSERT_SAME(get2(c, 2, 3), -2.0); /* c is a view */
    /* Cloning an expanded view materialises the broadcast. */
    tg_tensor *r0 = tg_select(a, 0, 0);
    tg_tensor *e2 = tg_expand(r0, TG_SHAPE(2, 4));
    tg_tensor *ke = tg_clone(e2);
    assert_strides(ke, TG_SHAPE(4, 1));
    assert_values(ke, 8, (const double[]){0, 1, 2, 3, 0, 1, 2, 3});
    ck_assert_int_eq(tg_set(ke, (const int64_t[]){1, 0}, 9.0), TG_OK);
    TGT_ASSERT_SAME(tgt_at(ke, 0), 0.0);
    tg_tensor *s = tg_scalar(F32, 2.5);
    tg_tensor *ks = tg_clone(s);
    ck_assert_int_eq(tg_ndim(ks), 0);
    ck_assert_int_eq(tg_dtype_of(ks), F32);
    TGT_ASSERT_SAME(tgt_at(ks, 0), 2.5);
    tg_free(a);
    tg_free(c);
    tg_free(t);
    tg_free(ct);
    tg_free(n);
    tg_free(cn);
    tg_free(k);
    tg_free(r0);
    tg_free(e2);
    tg_free(ke);
    tg_free(s);
    tg_free(ks);
}
END_TEST

START_TEST(test_cast)
{
    const double d[6] = {0.1, 1.0 / 3.0, 16777217.0, 1e40, -1e-50, (double)NAN};
    tg_tensor *a = tg_from_array(F64, TG_SHAPE(2, 3), d);
    tg_tensor *f = tg_cast(a, F32);
    ck_assert_int_eq(tg_dtype_of(f), F32);
    tgt_assert_shape(f, TG_SHAPE(2, 3));
    ck_assert(!tg_shares_storage(f, a));
    const float *fp = tg_data(f);
    ck_assert(fp[0] == 0.1f);
    ck_assert(fp[1] == (float)(1.0 / 3.0));
    ck_assert(fp[2] == 16777216.0f); /* ties to even */
    ck_assert(isinf(fp[3]) && fp[3] > 0);
    ck_assert(fp[4] == 0.0f && signbit(fp[4]));
    ck_assert(isnan(fp[5]));
    /* Back to float64 is exact. */
    tg_tensor *b = tg_cast(f, F64);
    assert_values(b, 6,
                  (const double[]){(double)0.1f, (double)(float)(1.0 / 3.0),
                                   16777216.0, (double)INFINITY, -0.0, (double)NAN});
    /* 1 + 2^-24 is exactly half-way between two floats: rounds to even. */
    tg_tensor *h = tg_from_array(F64, TG_SHAPE(2),
                                 (const double[]){1.0 + 0x1p-24, 1.0 + 0x1.8p-23});
    tg_tensor *hf = tg_cast(h, F32);
    assert_values(hf, 2, (const double[]){1.0, 1.0 + 0x1p-22});
    /* Casting a view reads it in C order. */
    tg_tensor *t = tg_transpose(a, 0, 1);
    tg_tensor *tf = tg_cast(t, F32);
    tgt_assert_shape(tf, TG_SHAPE(3, 2));
    ck_assert(tg_is_contiguous(tf));
    TGT_ASSERT_SAME(tgt_at(tf, 1), (double)(float)1e40);
    TGT_ASSERT_SAME(tgt_at(tf, 2), (double)(float)(1.0 / 3.0));
    /* Same dtype: still a fresh copy. */
    tg_tensor *same = tg_cast(a, F64);
    ck_assert(!tg_shares_storage(same, a));
    TGT_ASSERT_SAME(tgt_at(same, 1), 1.0 / 3.0);
    ck_assert_ptr_null(tg_cast(a, (tg_dtype)13));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_cast: unknown dtype 13");
    tg_free(a);
    tg_free(f);
    tg_free(b);
    tg_free(h);
    tg_free(hf);
    tg_free(t);
    tg_free(tf);
    tg_free(same);
}
END_TEST

/* ======================================================================== */
/* element access                                                            */
/* ======================================================================== */

START_TEST(test_get_set_item)
{
    tg_tensor *a = iota(TG_SHAPE(2, 3));
    double v = 0;
    ck_assert_int_eq(tg_get(a, (const int64_t[]){-1, -1}, &v), TG_OK);
    TGT_ASSERT_SAME(v, 5.0);
    ck_assert_int_eq(tg_get(a, (const int64_t[]){-2, 1}, &v), TG_OK);
    TGT_ASSERT_SAME(v, 1.0);
    ck_assert_int_eq(tg_set(a, (const int64_t[]){-1, 0}, 0.25), TG_OK);
    TGT_ASSERT_SAME(tgt_at(a, 3), 0.25);
    /* float32 rounds the stored value. */
    tg_tensor *f = tg_zeros(F32, TG_SHAPE(2));
    ck_assert_int_eq(tg_set(f, (const int64_t[]){1}, 0.1), TG_OK);
    ck_assert_int_eq(tg_get(f, (const int64_t[]){1}, &v), TG_OK);
    TGT_ASSERT_SAME(v, (double)0.1f);
    ck_assert(((const float *)tg_data(f))[1] == 0.1f);
    /* tg_set bumps the storage version (the tape relies on it). */
    uint64_t ver = a->storage->version;
    ck_assert_int_eq(tg_set(a, (const int64_t[]){0, 0}, 1.0), TG_OK);
    ck_assert(a->storage->version > ver);

    ck_assert_int_eq(tg_get(a, (const int64_t[]){2, 0}, &v), TG_ERR_INDEX);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_get: index 2 out of range for axis 0 of size 2");
    ck_assert_int_eq(tg_get(a, (const int64_t[]){0, -4}, &v), TG_ERR_INDEX);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_get: index -4 out of range for axis 1 of size 3");
    ck_assert_int_eq(tg_set(a, (const int64_t[]){0, 3}, 1.0), TG_ERR_INDEX);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_set: index 3 out of range for axis 1 of size 3");
    ck_assert_int_eq(tg_set(a, (const int64_t[]){-3, 0}, 1.0), TG_ERR_INDEX);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_set: index -3 out of range for axis 0");
    TGT_ASSERT_SAME(tgt_at(a, 2), 2.0); /* untouched by the failed set */

    ck_assert_int_eq(tg_item(a, &v), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_item: tensor of shape (2,3) has 6 elements, not 1");
    tg_tensor *e = tg_zeros(F64, TG_SHAPE(0));
    ck_assert_int_eq(tg_item(e, &v), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_item: tensor of shape (0,) has 0 elements, not 1");
    /* item of a one-element view with an offset */
    tg_tensor *one = tg_slice(a, 1, 2, 3, 1);
    tg_tensor *one1 = tg_slice(one, 0, 1, 2, 1); /* (1,1): element (1,2) */
    ck_assert_int_eq(tg_item(one1, &v), TG_OK);
    TGT_ASSERT_SAME(v, 5.0);

    tg_free(a);
    tg_free(f);
    tg_free(e);
    tg_free(one);
    tg_free(one1);
}
END_TEST

START_TEST(test_fill_copy)
{
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_fill(a, 2.5), TG_OK);
    for (int i = 0; i < 12; i++)
        TGT_ASSERT_SAME(tgt_at(a, i), 2.5);
    tg_tensor *col = tg_slice(a, 1, 1, 4, 2); /* columns 1 and 3 */
    ck_assert_int_eq(tg_fill(col, -1.0), TG_OK);
    assert_values(a, 12, (const double[]){2.5, -1, 2.5, -1, 2.5, -1, 2.5, -1, 2.5, -1, 2.5, -1});
    tg_tensor *f = tg_zeros(F32, TG_SHAPE(2));
    ck_assert_int_eq(tg_fill(f, 1.0 / 3.0), TG_OK);
    TGT_ASSERT_SAME(tgt_at(f, 1), (double)(float)(1.0 / 3.0));

    /* copy: same shape, then broadcasts of several kinds */
    tg_tensor *src = iota(TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_copy(a, src), TG_OK);
    assert_values(a, 12, (const double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    ck_assert(!tg_shares_storage(a, src));
    tg_tensor *row = tg_from_array(F64, TG_SHAPE(4), (const double[]){9, 8, 7, 6});
    ck_assert_int_eq(tg_copy(a, row), TG_OK);
    assert_values(a, 12, (const double[]){9, 8, 7, 6, 9, 8, 7, 6, 9, 8, 7, 6});
    tg_tensor *colv = tg_from_array(F64, TG_SHAPE(3, 1), (const double[]){1, 2, 3});
    ck_assert_int_eq(tg_copy(a, colv), TG_OK);
    assert_values(a, 12, (const double[]){1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
    tg_tensor *s = tg_scalar(F64, -7);
    ck_assert_int_eq(tg_copy(a, s), TG_OK);
    for (int i = 0; i < 12; i++)
        TGT_ASSERT_SAME(tgt_at(a, i), -7.0);
    /* into a transposed view, from a transposed view */
    tg_tensor *b = tg_zeros(F64, TG_SHAPE(4, 3));
    tg_tensor *bt = tg_transpose(b, 0, 1); /* (3,4) */
    ck_assert_int_eq(tg_copy(bt, src), TG_OK);
    assert_values(b, 12, (const double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    tg_tensor *srct = tg_transpose(src, 0, 1);
    ck_assert_int_eq(tg_copy(b, srct), TG_OK);
    assert_values(b, 12, (const double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    /* into a reversed slice */
    tg_tensor *rev = tg_slice(a, 0, 2, TG_NONE, -1);
    ck_assert_int_eq(tg_copy(rev, src), TG_OK);
    assert_values(a, 12, (const double[]){8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3});
    ck_assert_int_eq(tg_copy(a, a), TG_OK); /* itself: a no-op */
    TGT_ASSERT_SAME(tgt_at(a, 0), 8.0);
    uint64_t ver = a->storage->version;
    ck_assert_int_eq(tg_copy(a, src), TG_OK);
    ck_assert(a->storage->version > ver);

    /* Errors. */
    tg_tensor *a32 = tg_zeros(F32, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_copy(a32, src), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "tg_copy: dtypes float32 and float64 differ");
    ck_assert_int_eq(tg_copy(b, src), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_copy: shapes (4,3) and (3,4) cannot be broadcast");
    ck_assert_int_eq(tg_copy(row, src), TG_ERR_SHAPE); /* src bigger than dst */
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_copy: ");
    tg_tensor *ex = tg_expand(row, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_copy(ex, src), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_copy: out is a broadcast view (stride 0 on axis 0)");
    ck_assert_int_eq(tg_copy(NULL, src), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_copy: dst is NULL");
    ck_assert_int_eq(tg_copy(a, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_copy: src is NULL");
    ck_assert_int_eq(tg_fill(NULL, 1.0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_fill: tensor is NULL");
    assert_values(row, 4, (const double[]){9, 8, 7, 6}); /* untouched */

    tg_free(a);
    tg_free(col);
    tg_free(f);
    tg_free(src);
    tg_free(row);
    tg_free(colv);
    tg_free(s);
    tg_free(b);
    tg_free(bt);
    tg_free(srct);
    tg_free(rev);
    tg_free(a32);
    tg_free(ex);
}
END_TEST

START_TEST(test_access_null_arguments)
{
    tg_tensor *a = tg_zeros(F64, TG_SHAPE(2));
    double v = 0;
    ck_assert_int_eq(tg_get(NULL, (const int64_t[]){0}, &v), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_get: tensor is NULL");
    ck_assert_int_eq(tg_get(a, (const int64_t[]){0}, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_get: out is NULL");
    ck_assert_int_eq(tg_get(a, NULL, &v), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_get: index is NULL");
    ck_assert_int_eq(tg_set(NULL, (const int64_t[]){0}, 1.0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_set: tensor is NULL");
    ck_assert_int_eq(tg_set(a, NULL, 1.0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_set: index is NULL");
    ck_assert_int_eq(tg_item(NULL, &v), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_item: tensor is NULL");
    tg_tensor *s = tg_scalar(F64, 1);
    ck_assert_int_eq(tg_item(s, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_item: out is NULL");
    tg_free(a);
    tg_free(s);
}
END_TEST

START_TEST(test_null_propagates_without_new_error)
{
    set_marker_error();
    ck_assert_ptr_null(tg_reshape(NULL, TG_SHAPE(2)));
    ck_assert_ptr_null(tg_transpose(NULL, 0, 1));
    ck_assert_ptr_null(tg_permute(NULL, (const int[]){0}));
    ck_assert_ptr_null(tg_slice(NULL, 0, 0, 1, 1));
    ck_assert_ptr_null(tg_select(NULL, 0, 0));
    ck_assert_ptr_null(tg_unsqueeze(NULL, 0));
    ck_assert_ptr_null(tg_squeeze(NULL, 0));
    ck_assert_ptr_null(tg_expand(NULL, TG_SHAPE(2)));
    ck_assert_ptr_null(tg_contiguous(NULL));
    ck_assert_ptr_null(tg_clone(NULL));
    ck_assert_ptr_null(tg_cast(NULL, F32));
    assert_marker_error();
    /* A whole chain checked once at the end. */
    tg_tensor *r = tg_clone(tg_transpose(tg_reshape(NULL, TG_SHAPE(2, 2)), 0, 1));
    ck_assert_ptr_null(r);
    assert_marker_error();
}
END_TEST

/* ======================================================================== */
/* arena                                                                     */
/* ======================================================================== */

START_TEST(test_arena_alignment)
{
    tg__arena a;
    tg__arena_init(&a);
    const size_t sizes[] = {1, 3, 64, 65, 100, 1000, 7, 8, 4096, 63};
    enum { N = sizeof sizes / sizeof sizes[0] };
    unsigned char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = tg__arena_alloc(&a, sizes[i]);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_msg((uintptr_t)p[i] % 64 == 0, "block %d misaligned", i);
        memset(p[i], i + 1, sizes[i]);
    }
    /* Blocks do not overlap: each still holds its own pattern. */
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            ck_assert_int_eq(p[i][j], i + 1);
    ck_assert_int_eq(tgt_stats.allocs, 1); /* all in the first chunk */
    tg__arena_free(&a);
    ck_assert_int_eq(tgt_stats.live_blocks, 0);
    ck_assert_ptr_null(a.chunks);
    tg__arena_free(&a); /* twice is harmless */
}
END_TEST

START_TEST(test_arena_growth)
{
    tg__arena a;
    tg__arena_init(&a);
    enum { N = 100, SZ = 5000 };
    unsigned char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = tg__arena_alloc(&a, SZ);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_int_eq((uintptr_t)p[i] % 64, 0);
        memset(p[i], i, SZ);
    }
    ck_assert_int_gt(tgt_stats.allocs, 1); /* 500 kB took several chunks */
    for (int i = 0; i < N; i++)
        ck_assert_msg(p[i][0] == i && p[i][SZ - 1] == i, "block %d overwritten", i);
    /* One request larger than any chunk so far. */
    long before = tgt_stats.allocs;
    unsigned char *huge = tg__arena_alloc(&a, (size_t)4 << 20);
    ck_assert_ptr_nonnull(huge);
    ck_assert_int_eq((uintptr_t)huge % 64, 0);
    memset(huge, 0xab, (size_t)4 << 20);
    ck_assert_int_eq(tgt_stats.allocs, before + 1);
    ck_assert_int_eq(p[N - 1][0], N - 1);
    ck_assert(tg__arena_high_water(&a) >= (size_t)N * SZ + ((size_t)4 << 20));
    tg__arena_free(&a);
    ck_assert_int_eq(tgt_stats.live_blocks, 0);
}
END_TEST

/* One "training step": a fixed pattern of allocations and arena tensors. */
static void arena_pass(tg__arena *a)
{
    const size_t sizes[] = {3000, 70000, 12345, 200000, 64, 9999, 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = tg__arena_alloc(a, sizes[i]);
        ck_assert_ptr_nonnull(p);
        memset(p, (int)i, sizes[i]);
    }
    tg_tensor *t = tg__arena_tensor(a, "pass", F64, TG_SHAPE(50, 40));
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tg_fill(t, 1.5), TG_OK);
    TGT_ASSERT_SAME(tgt_at(t, 1999), 1.5);
}

START_TEST(test_arena_reset_reuses_chunks)
{
    tg__arena a;
    tg__arena_init(&a);
    arena_pass(&a);
    long blocks = tgt_stats.live_blocks;
    ck_assert_int_gt(blocks, 1); /* several chunks */
    size_t hw = tg__arena_high_water(&a);
    ck_assert(hw >= 3000 + 70000 + 12345 + 200000 + 64 + 9999 + 1 + 50 * 40 * 8);
    /* A reset never calls the allocator and keeps every chunk. */
    tgt_stats.fail_at = tgt_stats.calls + 1;
    ck_assert_int_eq(tg__arena_reset(&a), TG_OK);
    tgt_stats.fail_at = 0;
    ck_assert_int_eq(tgt_stats.live_blocks, blocks);
    ck_assert_uint_eq(a.total, 0);
    ck_assert(tg__arena_high_water(&a) == hw);
    /* The second identical pass makes no allocator call at all. */
    long calls = tgt_stats.calls;
    arena_pass(&a);
    ck_assert_int_eq(tgt_stats.calls, calls);
    ck_assert(tg__arena_high_water(&a) == hw);
    ck_assert_int_eq(tg__arena_reset(&a), TG_OK);
    arena_pass(&a);
    ck_assert_int_eq(tg__arena_reset(&a), TG_OK);
    arena_pass(&a);
    ck_assert_int_eq(tgt_stats.calls, calls);
    ck_assert_int_eq(tgt_stats.live_blocks, blocks);
    /* A reset of an empty arena is fine too. */
    tg__arena_free(&a);
    ck_assert_int_eq(tg__arena_reset(&a), TG_OK);
    ck_assert_int_eq(tgt_stats.live_blocks, 0);
}
END_TEST

START_TEST(test_arena_tensors)
{
    tg__arena a;
    tg__arena_init(&a);
    tg_tensor *t = tg__arena_tensor(&a, "test_fn", F32, TG_SHAPE(3, 4));
    ck_assert_ptr_nonnull(t);
    tgt_assert_shape(t, TG_SHAPE(3, 4));
    assert_strides(t, TG_SHAPE(4, 1));
    ck_assert_int_eq(tg_dtype_of(t), F32);
    ck_assert(tg_is_contiguous(t));
    ck_assert_int_eq((uintptr_t)tg_data(t) % 64, 0);
    float *d = tg_data(t);
    for (int i = 0; i < 12; i++)
        d[i] = (float)i;
    /* tg_free is a no-op on arena tensors: nothing is released and the
     * data stays readable. */
    long live = tgt_stats.live_blocks, frees = tgt_stats.frees;
    tg_free(t);
    tg_free(t);
    ck_assert_int_eq(tgt_stats.live_blocks, live);
    ck_assert_int_eq(tgt_stats.frees, frees);
    TGT_ASSERT_SAME(get2(t, 2, 3), 11.0);
    /* Ops on arena tensors return heap tensors. */
    tg_tensor *c = tg_clone(t);
    ck_assert(!tg_shares_storage(c, t));
    /* An arena view shares the arena storage. */
    tg_tensor hv;
    ck_assert_int_eq(tg__make_transpose("test_fn", t, 0, 1, &hv), TG_OK);
    tg_tensor *av = tg__arena_view(&a, "test_fn", &hv);
    ck_assert_ptr_nonnull(av);
    ck_assert(tg_shares_storage(av, t));
    tgt_assert_shape(av, TG_SHAPE(4, 3));
    TGT_ASSERT_SAME(get2(av, 3, 2), 11.0);
    tg_free(av); /* no-op */
    /* A heap view of arena data must not outlive the arena: it may copy,
     * but either way its values are right after the arena is gone. */
    tg_tensor *ht = tg_transpose(t, 0, 1);
    tg_tensor *hr = tg_reshape(t, TG_SHAPE(12));
    tg_tensor *hc = tg_contiguous(t);
    ck_assert_ptr_nonnull(ht);
    ck_assert_ptr_nonnull(hr);
    ck_assert_ptr_nonnull(hc);
    /* A zero-size arena tensor. */
    tg_tensor *z = tg__arena_tensor(&a, "test_fn", F64, TG_SHAPE(0, 3));
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(tg_numel(z), 0);
    tg_tensor *s = tg__arena_tensor(&a, "test_fn", F64, 0, NULL);
    ck_assert_int_eq(tg_numel(s), 1);
    /* Shape errors are reported under the caller's name. */
    ck_assert_ptr_null(tg__arena_tensor(&a, "test_fn", F64, TG_SHAPE(2, -2)));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "test_fn: negative size -2 in axis 1");
    const int64_t big = (int64_t)1 << 40;
    ck_assert_ptr_null(tg__arena_tensor(&a, "test_fn", F64, TG_SHAPE(big, big)));
    TGT_ASSERT_ERR(TG_ERR_OVERFLOW, "test_fn: shape");
    tg__arena_free(&a);
    TGT_ASSERT_SAME(get2(ht, 3, 2), 11.0);
    TGT_ASSERT_SAME(tgt_at(hr, 7), 7.0);
    TGT_ASSERT_SAME(get2(hc, 1, 1), 5.0);
    TGT_ASSERT_SAME(get2(c, 0, 1), 1.0);
    tg_free(ht);
    tg_free(hr);
    tg_free(hc);
    tg_free(c);
}
END_TEST

START_TEST(test_arena_failure_injection)
{
    tg__arena a;
    tg__arena_init(&a);
    /* The very first chunk fails: NULL, and the arena is still empty. */
    tgt_stats.calls = 0;
    tgt_stats.fail_at = 1;
    ck_assert_ptr_null(tg__arena_alloc(&a, 100));
    tgt_stats.fail_at = 0;
    ck_assert_ptr_null(a.chunks);
    unsigned char *p = tg__arena_alloc(&a, 1000);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x5a, 1000);
    /* A growth that fails loses nothing already there. */
    tg__chunk *chunks = a.chunks;
    char *ptr = a.ptr;
    size_t left = a.left, total = a.total;
    tgt_stats.calls = 0;
    tgt_stats.fail_at = 1;
    ck_assert_ptr_null(tg__arena_alloc(&a, 1 << 20));
    tgt_stats.calls = 0;
    ck_assert_ptr_null(tg__arena_tensor(&a, "test_fn", F64, TG_SHAPE(512, 512)));
    TGT_ASSERT_ERR(TG_ERR_NOMEM, "test_fn: out of memory");
    tgt_stats.fail_at = 0;
    ck_assert_ptr_eq(a.chunks, chunks);
    ck_assert_ptr_eq(a.ptr, ptr);
    ck_assert_uint_eq(a.left, left);
    ck_assert_uint_eq(a.total, total);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(p[i], 0x5a);
    /* Small requests still fit the existing chunk, big ones now succeed. */
    long calls = tgt_stats.calls;
    ck_assert_ptr_nonnull(tg__arena_alloc(&a, 100));
    ck_assert_int_eq(tgt_stats.calls, calls);
    unsigned char *q = tg__arena_alloc(&a, 1 << 20);
    ck_assert_ptr_nonnull(q);
    q[(1 << 20) - 1] = 1;
    ck_assert_int_eq(p[999], 0x5a);
    /* A reset needs no memory: it succeeds even when every allocation
     * fails, and the arena stays usable. */
    tgt_stats.calls = 0;
    tgt_stats.fail_at = 1;
    ck_assert_int_eq(tg__arena_reset(&a), TG_OK);
    tgt_stats.fail_at = 0;
    ck_assert_ptr_nonnull(a.chunks);
    ck_assert_uint_eq(a.total, 0);
    unsigned char *r = tg__arena_alloc(&a, 5000);
    ck_assert_ptr_nonnull(r);
    memset(r, 1, 5000);
    tg__arena_free(&a);
    ck_assert_int_eq(tgt_stats.live_blocks, 0);
}
END_TEST

/* ======================================================================== */

Suite *test_tensor_suite(void); /* called by the generated runner */

Suite *test_tensor_suite(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc;

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_strerror_every_code);
    tcase_add_test(tc, test_last_error_and_clear);
    tcase_add_test(tc, test_fail_long_message_truncated);
    tcase_add_test(tc, test_last_error_is_per_thread);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("allocator");
    tcase_add_test(tc, test_custom_allocator_sees_everything);
    tcase_add_test(tc, test_internal_alloc_contract);
    tcase_add_test(tc, test_alloc_failure_creation);
    tcase_add_test(tc, test_alloc_failure_copies_and_views);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("creation");
    tcase_add_test(tc, test_empty_zeros_ones_full);
    tcase_add_test(tc, test_from_array_and_scalar);
    tcase_add_test(tc, test_zero_size_dims);
    tcase_add_test(tc, test_zero_size_huge_dims_rejected);
    tcase_add_test(tc, test_error_message_shows_whole_shape);
    tcase_add_test(tc, test_arange_linspace_eye);
    tcase_add_test(tc, test_creation_errors);
    tcase_add_test(tc, test_size_overflow);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("inspection");
    tcase_add_test(tc, test_inspection);
    tcase_add_test(tc, test_is_contiguous_cases);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("views");
    tcase_add_test(tc, test_reshape_view);
    tcase_add_test(tc, test_reshape_noncontiguous_copies);
    tcase_add_test(tc, test_reshape_views_like_numpy);
    tcase_add_test(tc, test_reshape_errors);
    tcase_add_test(tc, test_transpose_permute);
    tcase_add_test(tc, test_transpose_permute_errors);
    tcase_add_test(tc, test_slice_positive_and_negative_steps);
    tcase_add_test(tc, test_slice_huge_step);
    tcase_add_test(tc, test_slice_numpy_rules);
    tcase_add_test(tc, test_select);
    tcase_add_test(tc, test_unsqueeze_squeeze);
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_views_outlive_base);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("copies");
    tcase_add_test(tc, test_contiguous_clone);
    tcase_add_test(tc, test_cast);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("access");
    tcase_add_test(tc, test_get_set_item);
    tcase_add_test(tc, test_fill_copy);
    tcase_add_test(tc, test_access_null_arguments);
    tcase_add_test(tc, test_null_propagates_without_new_error);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("arena");
    tcase_add_test(tc, test_arena_alignment);
    tcase_add_test(tc, test_arena_growth);
    tcase_add_test(tc, test_arena_reset_reuses_chunks);
    tcase_add_test(tc, test_arena_tensors);
    tcase_add_test(tc, test_arena_failure_injection);
    suite_add_tcase(s, tc);

    return s;
}
