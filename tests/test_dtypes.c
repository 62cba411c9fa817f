/* test_dtypes.c - the integer and bool dtypes against NumPy: promotion,
 * binary ops and comparisons on every pair of dtypes, array-scalar ops,
 * reductions, casts and printing (the expected values are NumPy's, made by
 * tests/data/make_dtypes_ref.py), then creation, element access, where,
 * clamp and masked_fill, and their errors. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>

#define DNAN ((double)NAN)
#define DINF ((double)INFINITY)
#define SH TG_SHAPE

typedef struct ref_vals {
    tg_dtype dtype;
    int64_t i[6];
    double d[6];
} ref_vals;

typedef struct binary_ref {
    int a, b;   /* indices into the dtypes: ref_inputs_a[a], ref_inputs_b[b] */
    int op;     /* a tg_binop, or a tg_cmpop when cmp */
    int cmp;
    ref_vals r; /* NumPy's result: dtype and values */
} binary_ref;

typedef struct scalar_ref {
    int a;
    double s;
    int op;
    ref_vals r;
} scalar_ref;

typedef struct reduce_ref {
    int a, kind, axis; /* kind: 0 sum, 1 mean, 2 max, 3 argmax */
    ref_vals r;
} reduce_ref;

typedef struct cast_ref {
    int from, to;
    ref_vals in, r;
} cast_ref;

typedef struct repr_ref {
    tg_dtype dtype;
    int ndim;
    int64_t shape[2];
    int64_t n;
    const int64_t *values;
    const char *text;
} repr_ref;

#include "data/dtypes_ref.inc"

static const tg_dtype dtypes[6] = {TG_FLOAT32, TG_FLOAT64, TG_INT32,
                                   TG_INT64,   TG_UINT8,   TG_BOOL};

/* A tensor of the given shape holding v's values in its dtype. */
static tg_tensor *make(const ref_vals *v, int ndim, const int64_t *shape)
{
    tg_tensor *t = tg_empty(v->dtype, ndim, shape);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < tg_numel(t); i++) {
        unsigned char *p = (unsigned char *)tg_data(t) + (size_t)i * tg_dtype_size(v->dtype);
        switch (v->dtype) {
        case TG_FLOAT32: {
            float f = (float)v->d[i];
            memcpy(p, &f, 4);
            break;
        }
        case TG_FLOAT64:
            memcpy(p, &v->d[i], 8);
            break;
        case TG_INT32: {
            int32_t x = (int32_t)v->i[i];
            memcpy(p, &x, 4);
            break;
        }
        case TG_INT64:
            memcpy(p, &v->i[i], 8);
            break;
        default:
            p[0] = (unsigned char)v->i[i];
            break;
        }
    }
    return t;
}

/* Element i of t, exactly: as an integer for the integer dtypes. */
static int64_t int_at(const tg_tensor *t, int64_t i)
{
    int64_t idx[TG_MAX_DIMS], r = i;
    for (int k = tg_ndim(t) - 1; k >= 0; k--) {
        idx[k] = r % tg_shape(t)[k];
        r /= tg_shape(t)[k];
    }
    const unsigned char *p = (const unsigned char *)tg_data(t);
    int64_t pos = 0;
    for (int k = 0; k < tg_ndim(t); k++)
        pos += idx[k] * tg_strides(t)[k];
    p += (size_t)pos * tg_dtype_size(tg_dtype_of(t));
    switch (tg_dtype_of(t)) {
    case TG_INT32: {
        int32_t x;
        memcpy(&x, p, 4);
        return x;
    }
    case TG_INT64: {
        int64_t x;
        memcpy(&x, p, 8);
        return x;
    }
    default:
        return p[0];
    }
}

/* got equals NumPy's result: dtype, shape and every value, bit for bit
 * for floats (NaN included), exactly for integers. */
static void assert_ref(const tg_tensor *got, const ref_vals *want, int64_t n,
                       const char *what)
{
    ck_assert_msg(got != NULL, "%s: %s", what, tg_last_message());
    ck_assert_msg(tg_dtype_of(got) == want->dtype, "%s: dtype %s, NumPy gives %s", what,
                  tg_dtype_name(tg_dtype_of(got)), tg_dtype_name(want->dtype));
    ck_assert_int_eq(tg_numel(got), n);
    for (int64_t i = 0; i < n; i++) {
        if (tg_dtype_is_float(want->dtype)) {
            double g = tgt_at(got, i), w = want->d[i];
            if (want->dtype == TG_FLOAT32)
                w = (double)(float)w;
            ck_assert_msg(tgt_same_value(g, w), "%s[%lld]: %.17g, NumPy %.17g", what,
                          (long long)i, g, w);
        } else {
            ck_assert_msg(int_at(got, i) == want->i[i], "%s[%lld]: %lld, NumPy %lld",
                          what, (long long)i, (long long)int_at(got, i),
                          (long long)want->i[i]);
        }
    }
}

START_TEST(test_result_type)
{
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++)
            ck_assert_msg(tg_result_type(dtypes[a], dtypes[b]) == ref_result_type[a][b],
                          "result_type(%s, %s)", tg_dtype_name(dtypes[a]),
                          tg_dtype_name(dtypes[b]));
}
END_TEST

START_TEST(test_binary_vs_numpy)
{
    const binary_ref *c = &ref_binary[_i];
    tg_tensor *a = make(&ref_inputs_a[c->a], 2, (const int64_t[]){2, 3});
    tg_tensor *b = make(&ref_inputs_b[c->b], 1, (const int64_t[]){3});
    tg_tensor *r = c->cmp ? tg_compare((tg_cmpop)c->op, a, b)
                          : tg_binary((tg_binop)c->op, a, b);
    char what[96];
    snprintf(what, sizeof what, "%s %s op %d (%s)", tg_dtype_name(dtypes[c->a]),
             tg_dtype_name(dtypes[c->b]), c->op, c->cmp ? "cmp" : "binary");
    assert_ref(r, &c->r, 6, what);
    /* The tape computes the same (no gradient involved). */
    if (!c->cmp) {
        tg_tape *T = tg_tape_new();
        tg_tensor *rt = c->op == TG_ADD   ? tg_ad_add(T, a, b)
                        : c->op == TG_SUB ? tg_ad_sub(T, a, b)
                        : c->op == TG_MUL ? tg_ad_mul(T, a, b)
                        : c->op == TG_DIV ? tg_ad_div(T, a, b)
                        : c->op == TG_MAXIMUM ? tg_ad_maximum(T, a, b)
                                              : tg_ad_minimum(T, a, b);
        assert_ref(rt, &c->r, 6, what);
        tg_tape_free(T);
    }
    tg_free(r);
    tg_free(a);
    tg_free(b);
}
END_TEST

START_TEST(test_scalar_vs_numpy)
{
    const scalar_ref *c = &ref_scalar[_i];
    tg_tensor *a = make(&ref_inputs_a[c->a], 2, (const int64_t[]){2, 3});
    tg_tensor *r = tg_binary_scalar((tg_binop)c->op, a, c->s, false);
    char what[96];
    snprintf(what, sizeof what, "%s op %d %g", tg_dtype_name(dtypes[c->a]), c->op, c->s);
    assert_ref(r, &c->r, 6, what);
    tg_free(r);
    tg_free(a);
}
END_TEST

START_TEST(test_reduce_vs_numpy)
{
    const reduce_ref *c = &ref_reduce[_i];
    tg_tensor *a = make(&ref_inputs_a[c->a], 2, (const int64_t[]){2, 3});
    tg_tensor *r;
    if (c->axis < 0) {
        tg_tensor *(*const f[4])(const tg_tensor *) = {tg_sum, tg_mean, tg_max, tg_argmax};
        r = f[c->kind](a);
    } else {
        tg_tensor *(*const f[4])(const tg_tensor *, int, bool) = {
            tg_sum_axis, tg_mean_axis, tg_max_axis, tg_argmax_axis};
        r = f[c->kind](a, c->axis, false);
    }
    char what[96];
    snprintf(what, sizeof what, "%s reduction %d axis %d", tg_dtype_name(dtypes[c->a]),
             c->kind, c->axis);
    assert_ref(r, &c->r, c->axis < 0 ? 1 : c->axis == 0 ? 3 : 2, what);
    tg_free(r);
    tg_free(a);
}
END_TEST

START_TEST(test_cast_vs_numpy)
{
    const cast_ref *c = &ref_cast[_i];
    tg_tensor *a = make(&c->in, 2, (const int64_t[]){2, 3});
    tg_tensor *r = tg_cast(a, dtypes[c->to]);
    char what[96];
    snprintf(what, sizeof what, "cast %s to %s", tg_dtype_name(dtypes[c->from]),
             tg_dtype_name(dtypes[c->to]));
    assert_ref(r, &c->r, 6, what);
    tg_free(r);
    tg_free(a);
}
END_TEST

START_TEST(test_repr_vs_numpy)
{
    const repr_ref *c = &ref_repr[_i];
    int64_t shape[2] = {c->shape[0], c->shape[1]};
    tg_tensor *t = tg_empty(c->dtype, c->ndim, shape);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < c->n; i++) {
        unsigned char *p = (unsigned char *)tg_data(t) + (size_t)i * tg_dtype_size(c->dtype);
        if (c->dtype == TG_INT64)
            memcpy(p, &c->values[i], 8);
        else if (c->dtype == TG_INT32) {
            int32_t x = (int32_t)c->values[i];
            memcpy(p, &x, 4);
        } else
            p[0] = (unsigned char)c->values[i];
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(tg_print(t, f), TG_OK);
    fclose(f);
    ck_assert_msg(strcmp(buf, c->text) == 0, "got:\n%s\nNumPy:\n%s", buf, c->text);
    free(buf);
    tg_free(t);
}
END_TEST

START_TEST(test_creation_and_access)
{
    tg_tensor *z = tg_zeros(TG_INT64, SH(2, 2));
    tg_tensor *o = tg_ones(TG_BOOL, SH(3));
    tg_tensor *f = tg_full(TG_UINT8, SH(2), 255.0);
    tg_tensor *r = tg_arange(TG_INT32, -2, 5, 3); /* -2, 1, 4 */
    tg_tensor *e = tg_eye(TG_INT32, 2, 3);
    ck_assert_int_eq(int_at(z, 3), 0);
    ck_assert_int_eq(int_at(o, 2), 1);
    ck_assert_int_eq(int_at(f, 1), 255);
    ck_assert_int_eq(tg_numel(r), 3);
    ck_assert_int_eq(int_at(r, 0), -2);
    ck_assert_int_eq(int_at(r, 2), 4);
    ck_assert_int_eq(int_at(e, 4), 1);
    ck_assert_int_eq(int_at(e, 5), 0);
    /* element access through doubles */
    ck_assert_int_eq(tg_set(z, (const int64_t[]){1, 0}, -9.0), TG_OK);
    double v;
    ck_assert_int_eq(tg_get(z, (const int64_t[]){1, 0}, &v), TG_OK);
    ck_assert_double_eq(v, -9.0);
    ck_assert_int_eq(tg_fill(f, 7.0), TG_OK);
    ck_assert_int_eq(int_at(f, 0), 7);
    /* bool data: any non-zero byte is true */
    const unsigned char bytes[3] = {0, 5, 1};
    tg_tensor *b = tg_from_array(TG_BOOL, SH(3), bytes);
    ck_assert_int_eq(int_at(b, 1), 1);
    /* views and copies keep the dtype */
    tg_tensor *t = tg_transpose(e, 0, 1);
    tg_tensor *c = tg_clone(t);
    ck_assert_int_eq(tg_dtype_of(c), TG_INT32);
    ck_assert_int_eq(int_at(c, 0), 1);
    ck_assert_int_eq(int_at(c, 1), 0);
    ck_assert_int_eq(int_at(c, 3), 1);
    /* int64 past 2^53 survives a copy exactly */
    int64_t big = (INT64_C(1) << 62) + 1;
    tg_tensor *bg = tg_from_array(TG_INT64, SH(1), &big);
    tg_tensor *bc = tg_clone(bg);
    ck_assert_int_eq(int_at(bc, 0), big);
    tg_tensor *all[] = {z, o, f, r, e, b, t, c, bg, bc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

START_TEST(test_where_clamp_masked_fill)
{
    tg_tensor *a = tg_from_array(TG_FLOAT64, SH(2, 3),
                                 (const double[]){1, -2, 3, DNAN, 5, -6});
    tg_tensor *z = tg_zeros(TG_INT32, SH(3));
    tg_tensor *m = tg_gt(a, z); /* NaN > 0 is false */
    ck_assert_int_eq(tg_dtype_of(m), TG_BOOL);
    const int64_t want_m[6] = {1, 0, 1, 0, 1, 0};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(int_at(m, i), want_m[i]);
    tg_tensor *w = tg_where(m, a, z); /* float64 and int32: float64 */
    ck_assert_int_eq(tg_dtype_of(w), TG_FLOAT64);
    ck_assert_double_eq(tgt_at(w, 0), 1.0);
    ck_assert_double_eq(tgt_at(w, 1), 0.0);
    ck_assert_double_eq(tgt_at(w, 3), 0.0);
    tg_tensor *c = tg_clamp(a, -1.5, 4.0);
    ck_assert_double_eq(tgt_at(c, 1), -1.5);
    ck_assert_double_eq(tgt_at(c, 4), 4.0);
    ck_assert(isnan(tgt_at(c, 3)));
    tg_tensor *k = tg_from_array(TG_INT32, SH(3), (const int32_t[]){-5, 2, 9});
    tg_tensor *kc = tg_clamp(k, -1.0, 4.0); /* integer bounds: int32 stays */
    ck_assert_int_eq(tg_dtype_of(kc), TG_INT32);
    ck_assert_int_eq(int_at(kc, 0), -1);
    ck_assert_int_eq(int_at(kc, 2), 4);
    tg_tensor *kf = tg_clamp(k, -1.5, 4.5); /* fractional: float64, as np.clip */
    ck_assert_int_eq(tg_dtype_of(kf), TG_FLOAT64);
    ck_assert_double_eq(tgt_at(kf, 0), -1.5);
    ck_assert_double_eq(tgt_at(kf, 2), 4.5);
    tg_free(kf);
    tg_tensor *row = tg_from_array(TG_BOOL, SH(3), (const bool[]){false, true, false});
    tg_tensor *mf = tg_masked_fill(a, row, (double)-INFINITY);
    ck_assert(isinf(tgt_at(mf, 1)) && isinf(tgt_at(mf, 4)));
    ck_assert_double_eq(tgt_at(mf, 0), 1.0);
    tg_tensor *s = tg_compare_scalar(TG_CMP_EQ, k, 2.0);
    ck_assert_int_eq(int_at(s, 1), 1);
    ck_assert_int_eq(int_at(s, 0), 0);
    tg_tensor *all[] = {a, z, m, w, c, k, kc, row, mf, s};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

/* Integer arithmetic wraps around as NumPy's does, without C's undefined
 * signed overflow (the sanitizer build checks that). */
START_TEST(test_int_wraps)
{
    tg_tensor *a = tg_from_array(TG_INT32, SH(2), (const int32_t[]){2147483647, -2147483647 - 1});
    tg_tensor *one = tg_ones(TG_INT32, SH(1));
    tg_tensor *s = tg_add(a, one), *d = tg_sub(a, one), *p = tg_mul(a, a);
    ck_assert_int_eq(int_at(s, 0), -2147483647 - 1);
    ck_assert_int_eq(int_at(d, 1), 2147483647);
    ck_assert_int_eq(int_at(p, 0), 1);
    tg_tensor *n = tg_neg(a);
    ck_assert_int_eq(int_at(n, 1), -2147483647 - 1);
    tg_tensor *q = tg_pow_scalar(one, 40.0);
    ck_assert_int_eq(int_at(q, 0), 1);
    tg_tensor *all[] = {a, one, s, d, p, n, q};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

/* Casts from floats refuse what the integer cannot hold (C would be
 * undefined there; NumPy gives an arbitrary value). */
START_TEST(test_cast_refusals)
{
    tg_tensor *a = tg_from_array(TG_FLOAT64, SH(3), (const double[]){1, -2.5, 300});
    tg_tensor *u = tg_cast(a, TG_UINT8);
    ck_assert_ptr_null(u);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_cast: element 1 is -2.5, which uint8 cannot hold");
    tg_tensor *i = tg_cast(a, TG_INT32);
    ck_assert_int_eq(int_at(i, 1), -2);
    tg_tensor *inf = tg_full(TG_FLOAT32, SH(1), DINF);
    ck_assert_ptr_null(tg_cast(inf, TG_INT64));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "which int64 cannot hold");
    tg_tensor *bl = tg_cast(inf, TG_BOOL); /* any non-zero value is true */
    ck_assert_int_eq(int_at(bl, 0), 1);
    tg_free(a);
    tg_free(i);
    tg_free(inf);
    tg_free(bl);
}
END_TEST

Suite *test_dtypes_suite(void); /* called by the generated runner */

Suite *test_dtypes_suite(void)
{
    Suite *s = suite_create("dtypes");
    TCase *tc = tgt_tcase("numpy");
    tcase_add_test(tc, test_result_type);
    tcase_add_loop_test(tc, test_binary_vs_numpy, 0,
                        (int)(sizeof ref_binary / sizeof ref_binary[0]));
    tcase_add_loop_test(tc, test_scalar_vs_numpy, 0,
                        (int)(sizeof ref_scalar / sizeof ref_scalar[0]));
    tcase_add_loop_test(tc, test_reduce_vs_numpy, 0,
                        (int)(sizeof ref_reduce / sizeof ref_reduce[0]));
    tcase_add_loop_test(tc, test_cast_vs_numpy, 0,
                        (int)(sizeof ref_cast / sizeof ref_cast[0]));
    tcase_add_loop_test(tc, test_repr_vs_numpy, 0,
                        (int)(sizeof ref_repr / sizeof ref_repr[0]));
    suite_add_tcase(s, tc);
    tc = tgt_tcase("ops");
    tcase_add_test(tc, test_creation_and_access);
    tcase_add_test(tc, test_where_clamp_masked_fill);
    tcase_add_test(tc, test_int_wraps);
    tcase_add_test(tc, test_cast_refusals);
    suite_add_tcase(s, tc);
    return s;
}
