/* test_matmul.c - tg_matmul against a naive triple loop in double: odd
 * sizes, both dtypes, both backends (CBLAS and the portable kernel),
 * strided views, 1-D promotion, broadcast batch axes, empty sizes, the
 * raw gemm with every trans/alpha/beta case, errors and allocation
 * failures. Inputs come from a local LCG so that nothing here depends on
 * tensor/random.c. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>

#include "tensor/internal.h"

/* NAN is a float; spelled as a double so -Wdouble-promotion stays quiet. */
#define DNAN ((double)NAN)

/* ---- helpers ------------------------------------------------------------ */

/* Uniform values in [-1, 1) from a 64-bit LCG (Knuth's MMIX constants). */
typedef struct lcg {
    uint64_t s;
} lcg;

static double lcg_next(lcg *g)
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g->s >> 11) * 0x1p-53 * 2.0 - 1.0;
}

/* A contiguous tensor of random values. */
static tg_tensor *rand_tensor(tg_dtype dt, int ndim, const int64_t *shape,
                              uint64_t seed)
{
    tg_tensor *t = tg_empty(dt, ndim, shape);
    ck_assert_ptr_nonnull(t);
    lcg g = {seed};
    int64_t n = tg_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = lcg_next(&g);
        if (dt == TG_FLOAT32)
            ((float *)tg_data(t))[i] = (float)v;
        else
            ((double *)tg_data(t))[i] = v;
    }
    return t;
}

/* Element (i, j) of a 2-D tensor of any strides. */
static double at2(const tg_tensor *t, int64_t i, int64_t j)
{
    int64_t idx[2] = {i, j};
    double v = 0;
    /* ck_abort only on failure: a passing ck_assert costs a syscall */
    if (tg_get(t, idx, &v) != TG_OK)
        ck_abort_msg("tg_get(%lld, %lld): %s", (long long)i, (long long)j,
                     tg_last_message());
    return v;
}

/* Unit roundoff bound for a sum of k products: a float or double result
 * must lie within (k + 4) * 2 eps * sum |a||b| of the exact value. */
static double tol_for(tg_dtype dt, int64_t k)
{
    double eps = dt == TG_FLOAT32 ? 0x1p-23 : 0x1p-52;
    return (double)(k + 4) * 2.0 * eps;
}

/* c (m, n) equals a (m, k) @ b (k, n), all 2-D views of any strides,
 * within the rounding bound. */
static void check_2d(const tg_tensor *c, const tg_tensor *a,
                     const tg_tensor *b)
{
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tg_ndim(a), 2);
    ck_assert_int_eq(tg_ndim(b), 2);
    int64_t m = tg_shape(a)[0], k = tg_shape(a)[1], n = tg_shape(b)[1];
    ck_assert_int_eq(tg_shape(b)[0], k);
    tgt_assert_shape(c, 2, (const int64_t[]){m, n});
    double tol = tol_for(tg_dtype_of(c), k);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int64_t p = 0; p < k; p++) {
                double x = at2(a, i, p) * at2(b, p, j);
                s += x;
                mag += fabs(x);
            }
            double got = at2(c, i, j);
            if (!(fabs(got - s) <= tol * mag + 1e-300))
                ck_abort_msg("c[%lld,%lld] = %.17g, want %.17g", (long long)i,
                             (long long)j, got, s);
        }
}

/* Runs body once per backend: portable, then CBLAS when the build has it. */
static int backend_count(void) { return tg_blas_available() ? 2 : 1; }
static void use_backend(int i) { tg_use_blas(i == 1); }

static const int64_t odd_sizes[][3] = {/* m, k, n */
                                       {1, 1, 1},
                                       {3, 5, 7},
                                       {17, 33, 9},
                                       {64, 65, 63},
                                       {130, 1, 257}};
enum { N_ODD = sizeof odd_sizes / sizeof odd_sizes[0] };

/* ---- the raw gemm ------------------------------------------------------- */

/* A rows x cols matrix with leading dimension ld (> cols) in a malloc'd
 * buffer; the padding holds NaN so that reading it would show. */
static void *rand_matrix(tg_dtype dt, int64_t rows, int64_t cols, int64_t ld,
                         uint64_t seed)
{
    size_t es = tg_dtype_size(dt);
    size_t n = (size_t)(rows > 0 ? rows : 1) * (size_t)ld;
    void *p = malloc(n * es);
    ck_assert_ptr_nonnull(p);
    lcg g = {seed};
    for (size_t i = 0; i < n; i++) {
        double v =
            (int64_t)(i % (size_t)ld) < cols ? lcg_next(&g) : DNAN;
        if (dt == TG_FLOAT32)
            ((float *)p)[i] = (float)v;
        else
            ((double *)p)[i] = v;
    }
    return p;
}

static double raw_at(tg_dtype dt, const void *p, int64_t i)
{
    return dt == TG_FLOAT32 ? (double)((const float *)p)[i]
                            : ((const double *)p)[i];
}

typedef void (*gemm_fn)(tg_dtype, bool, bool, int64_t, int64_t, int64_t,
                        double, const void *, int64_t, const void *, int64_t,
                        double, void *, int64_t);

/* One gemm call against the reference, C starting from c0 (NaN when
 * c0_nan, to show that beta == 0 overwrites). */
static void check_gemm(gemm_fn gemm, tg_dtype dt, bool ta, bool tb, int64_t m,
                       int64_t n, int64_t k, double alpha, double beta,
                       bool c0_nan)
{
    int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
    void *a = rand_matrix(dt, ta ? k : m, ta ? m : k, lda, 11);
    void *b = rand_matrix(dt, tb ? n : k, tb ? k : n, ldb, 22);
    void *c = rand_matrix(dt, m, n, ldc, 33);
    void *c0 = rand_matrix(dt, m, n, ldc, 33);
    if (c0_nan)
        for (int64_t i = 0; i < m * ldc; i++) {
            if (dt == TG_FLOAT32)
                ((float *)c)[i] = ((float *)c0)[i] = NAN;
            else
                ((double *)c)[i] = ((double *)c0)[i] = DNAN;
        }
    gemm(dt, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    double tol = tol_for(dt, k);
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int64_t p = 0; p < k; p++) {
                double x = raw_at(dt, a, ta ? p * lda + i : i * lda + p) *
                           raw_at(dt, b, tb ? j * ldb + p : p * ldb + j);
                s += x;
                mag += fabs(x);
            }
            double old = raw_at(dt, c0, i * ldc + j);
            double want = alpha * s + (beta == 0.0 ? 0.0 : beta * old);
            mag = fabs(alpha) * mag + (beta == 0.0 ? 0.0 : fabs(beta * old));
            double got = raw_at(dt, c, i * ldc + j);
            if (!(fabs(got - want) <= tol * mag + 1e-300))
                ck_abort_msg("%s ta=%d tb=%d %lldx%lldx%lld a=%g b=%g: "
                             "c[%lld,%lld] = %.17g, want %.17g",
                             tg_dtype_name(dt), ta, tb, (long long)m,
                             (long long)k, (long long)n, alpha, beta,
                             (long long)i, (long long)j, got, want);
        }
        /* The padding past column n is not C's: it must stay NaN. */
        for (int64_t j = n; j < ldc; j++)
            if (!isnan(raw_at(dt, c, i * ldc + j)))
                ck_abort_msg("gemm wrote c[%lld,%lld] past n = %lld",
                             (long long)i, (long long)j, (long long)n);
    }
    free(a);
    free(b);
    free(c);
    free(c0);
}

START_TEST(test_gemm_odd_sizes)
{
    static const double ab[][2] = {{1.0, 0.0}, {0.75, -0.5}, {-2.0, 1.0}};
    gemm_fn fns[2] = {tg__gemm_portable, tg__gemm};
    for (int f = 0; f < 2; f++)
        for (int d = 0; d < 2; d++)
            for (int s = 0; s < N_ODD; s++)
                for (int t = 0; t < 4; t++)
                    for (int v = 0; v < 3; v++)
                        check_gemm(fns[f], (tg_dtype)d, t & 1, t >> 1,
                                   odd_sizes[s][0], odd_sizes[s][2],
                                   odd_sizes[s][1], ab[v][0], ab[v][1],
                                   v == 0);
}
END_TEST

/* Sizes that cross the block edges of the portable kernel, both in its
 * stack-buffer plan (few columns: shallow panels) and in its heap-buffer
 * plan (many columns: KC, MC and, with thousands of columns, NC). */
START_TEST(test_gemm_block_edges)
{
    for (int d = 0; d < 2; d++) {
        for (int t = 0; t < 4; t++) {
            check_gemm(tg__gemm_portable, (tg_dtype)d, t & 1, t >> 1, 197,
                       101, 389, 1.0, 0.5, false);
            check_gemm(tg__gemm_portable, (tg_dtype)d, t & 1, t >> 1, 197,
                       301, 389, -1.0, 0.0, false);
        }
        check_gemm(tg__gemm_portable, (tg_dtype)d, false, true, 3, 4201, 5,
                   1.0, 1.0, false);
    }
}
END_TEST

START_TEST(test_gemm_beta_zero_overwrites_nan)
{
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        for (int d = 0; d < 2; d++) {
            check_gemm(tg__gemm, (tg_dtype)d, false, false, 9, 10, 11, 1.0,
                       0.0, true);
            check_gemm(tg__gemm, (tg_dtype)d, true, true, 9, 10, 11, -1.5,
                       0.0, true);
        }
    }
    tg_use_blas(true);
}
END_TEST

/* k == 0 and alpha == 0 leave C = beta * C without reading A or B. */
START_TEST(test_gemm_empty_sum)
{
    double c[6] = {1, 2, 3, 4, 5, DNAN};
    double a[1] = {DNAN}, b[1] = {DNAN};
    tg__gemm_portable(TG_FLOAT64, false, false, 2, 3, 0, 1.0, a, 1, b, 3, 2.0,
                      c, 3);
    ck_assert_double_eq(c[0], 2.0);
    ck_assert_double_eq(c[4], 10.0);
    ck_assert(isnan(c[5]));
    tg__gemm_portable(TG_FLOAT64, false, false, 2, 3, 0, 1.0, a, 1, b, 3, 0.0,
                      c, 3);
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq(c[i], 0.0);
    double a2[2] = {DNAN, DNAN}, b2[3] = {DNAN, DNAN, DNAN};
    double c2[6] = {1, 2, 3, 4, 5, 6};
    tg__gemm_portable(TG_FLOAT64, false, false, 2, 3, 1, 0.0, a2, 1, b2, 3,
                      -1.0, c2, 3);
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq(c2[i], -(double)(i + 1));
    /* m == 0 or n == 0: nothing is touched. */
    float cf[2] = {7.0f, 8.0f}, af[2] = {1, 2}, bf[2] = {3, 4};
    tg__gemm(TG_FLOAT32, false, false, 0, 2, 1, 1.0, af, 1, bf, 2, 0.0, cf, 2);
    tg__gemm(TG_FLOAT32, false, false, 1, 0, 2, 1.0, af, 2, bf, 1, 0.0, cf, 1);
    ck_assert_double_eq((double)cf[0], 7.0);
    ck_assert_double_eq((double)cf[1], 8.0);
}
END_TEST

/* Leading dimensions BLAS would reject: a single stored row may carry any
 * ld, and a 0 row stride (an expanded matrix) repeats one row. */
START_TEST(test_gemm_unusual_ld)
{
    const double a[5] = {1, 2, 3, 4, 5};
    const double b[15] = {1, 0, 2, 0, 1, 1, 3, 1, 0, 1, 1, 1, -1, 2, 0};
    /* a @ b = (1*1+2*0+3*3+4*1-5*1, 0+2+3+4+10, 2+2+0+4+0) = (9, 19, 8) */
    const double want[3] = {9, 19, 8};
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        double c[3] = {0, 0, 0};
        tg__gemm(TG_FLOAT64, false, false, 1, 3, 5, 1.0, a, 1, b, 3, 0.0, c, 1);
        for (int j = 0; j < 3; j++)
            ck_assert_double_eq(c[j], want[j]);
        double c3[9];
        for (int i = 0; i < 9; i++)
            c3[i] = DNAN;
        tg__gemm(TG_FLOAT64, false, false, 3, 3, 5, 1.0, a, 0, b, 3, 0.0, c3,
                 3);
        for (int i = 0; i < 9; i++)
            ck_assert_double_eq(c3[i], want[i % 3]);
    }
    tg_use_blas(true);
}
END_TEST

/* The two backends agree on float64 to 1e-12 relative to sum |a||b|. */
START_TEST(test_gemm_backends_agree)
{
    if (!tg_blas_available()) {
        tg_use_blas(true); /* ignored without CBLAS */
        check_gemm(tg__gemm, TG_FLOAT64, false, true, 20, 21, 22, 1.0, 0.0,
                   false);
        return;
    }
    int64_t m = 64, k = 65, n = 63;
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t >> 1;
        int64_t lda = ta ? m : k, ldb = tb ? k : n;
        double *a = rand_matrix(TG_FLOAT64, ta ? k : m, lda, lda, 5);
        double *b = rand_matrix(TG_FLOAT64, tb ? n : k, ldb, ldb, 6);
        double *c1 = calloc((size_t)(m * n), sizeof(double));
        double *c2 = calloc((size_t)(m * n), sizeof(double));
        ck_assert(c1 && c2);
        tg_use_blas(true);
        tg__gemm(TG_FLOAT64, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c1, n);
        tg__gemm_portable(TG_FLOAT64, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0,
                          c2, n);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double mag = 0;
                for (int64_t p = 0; p < k; p++)
                    mag += fabs(a[ta ? p * lda + i : i * lda + p] *
                                b[tb ? j * ldb + p : p * ldb + j]);
                if (!(fabs(c1[i * n + j] - c2[i * n + j]) <= 1e-12 * mag))
                    ck_abort_msg("t=%d [%lld,%lld]: %.17g vs %.17g", t,
                                 (long long)i, (long long)j, c1[i * n + j],
                                 c2[i * n + j]);
            }
        free(a);
        free(b);
        free(c1);
        free(c2);
    }
}
END_TEST

/* Products with few columns pack on the stack and allocate nothing; wide
 * ones take two packing buffers and give them back. */
START_TEST(test_gemm_allocations)
{
    long calls = tgt_stats.calls;
    check_gemm(tg__gemm_portable, TG_FLOAT32, false, false, 8, 16, 20, 1.0,
               0.0, false);
    check_gemm(tg__gemm_portable, TG_FLOAT64, true, true, 128, 64, 128, 1.0,
               0.0, false);
    ck_assert_int_eq(tgt_stats.calls, calls);
    check_gemm(tg__gemm_portable, TG_FLOAT64, false, false, 20, 300, 40, 1.0,
               0.0, false);
    ck_assert_int_eq(tgt_stats.calls, calls + 2);
    ck_assert_int_eq(tgt_stats.live_blocks, 0);
}
END_TEST

/* Without its packing buffers the kernel falls back to a simple loop. */
START_TEST(test_gemm_alloc_failure_falls_back)
{
    for (long fail = 1; fail <= 2; fail++) {
        tgt_stats.fail_at = tgt_stats.calls + fail;
        check_gemm(tg__gemm_portable, TG_FLOAT32, fail == 2, true, 20, 300, 40,
                   0.5, 2.0, false);
        ck_assert_int_ge(tgt_stats.calls, tgt_stats.fail_at); /* it was hit */
        tgt_stats.fail_at = 0;
    }
}
END_TEST

/* ---- tg_matmul: values -------------------------------------------------- */

START_TEST(test_matmul_small_exact)
{
    tg_tensor *a = tg_from_array(TG_FLOAT64, TG_SHAPE(2, 3),
                                 (const double[]){1, 2, 3, 4, 5, 6});
    tg_tensor *b = tg_from_array(TG_FLOAT64, TG_SHAPE(3, 2),
                                 (const double[]){7, 8, 9, 10, 11, 12});
    tg_tensor *c = tg_matmul(a, b);
    tgt_assert_shape(c, 2, (const int64_t[]){2, 2});
    ck_assert(tg_is_contiguous(c));
    ck_assert_double_eq(tgt_at(c, 0), 58.0);
    ck_assert_double_eq(tgt_at(c, 1), 64.0);
    ck_assert_double_eq(tgt_at(c, 2), 139.0);
    ck_assert_double_eq(tgt_at(c, 3), 154.0);
    tg_free(a);
    tg_free(b);
    tg_free(c);
}
END_TEST

START_TEST(test_matmul_odd_sizes)
{
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        for (int d = 0; d < 2; d++)
            for (int s = 0; s < N_ODD; s++) {
                int64_t m = odd_sizes[s][0], k = odd_sizes[s][1];
                int64_t n = odd_sizes[s][2];
                tg_tensor *a = rand_tensor((tg_dtype)d, TG_SHAPE(m, k), 100);
                tg_tensor *b = rand_tensor((tg_dtype)d, TG_SHAPE(k, n), 200);
                tg_tensor *c = tg_matmul(a, b);
                ck_assert_int_eq(tg_dtype_of(c), d);
                check_2d(c, a, b);
                tg_free(a);
                tg_free(b);
                tg_free(c);
            }
    }
    tg_use_blas(true);
}
END_TEST

/* Both backends give the same float64 tensor result to 1e-12, and with
 * CBLAS switched off tg_matmul is exactly the portable kernel. */
START_TEST(test_matmul_backends_agree)
{
    tg_tensor *a32 = rand_tensor(TG_FLOAT32, TG_SHAPE(64, 65), 3);
    tg_tensor *b32 = rand_tensor(TG_FLOAT32, TG_SHAPE(65, 63), 4);
    float *c32 = calloc(64 * 63, sizeof(float));
    ck_assert_ptr_nonnull(c32);
    tg__gemm_portable(TG_FLOAT32, false, false, 64, 63, 65, 1.0, tg_data(a32),
                      65, tg_data(b32), 63, 0.0, c32, 63);
    tg_use_blas(false);
    tg_tensor *p32 = tg_matmul(a32, b32);
    tg_use_blas(true);
    ck_assert_ptr_nonnull(p32);
    ck_assert(memcmp(tg_data(p32), c32, 64 * 63 * sizeof(float)) == 0);
    free(c32);
    tg_free(a32);
    tg_free(b32);
    tg_free(p32);

    tg_tensor *a = rand_tensor(TG_FLOAT64, TG_SHAPE(3, 40, 70), 1);
    tg_tensor *b = rand_tensor(TG_FLOAT64, TG_SHAPE(70, 50), 2);
    tg_use_blas(true);
    tg_tensor *c1 = tg_matmul(a, b);
    tg_use_blas(false);
    tg_tensor *c2 = tg_matmul(a, b);
    tg_use_blas(true);
    ck_assert_ptr_nonnull(c1);
    ck_assert_ptr_nonnull(c2);
    for (int64_t i = 0; i < tg_numel(c1); i++) {
        double x = tgt_at(c1, i), y = tgt_at(c2, i);
        ck_assert_msg(fabs(x - y) <= 1e-12 * (fabs(x) + 1.0), "[%lld] %g vs %g",
                      (long long)i, x, y);
    }
    tg_free(a);
    tg_free(b);
    tg_free(c1);
    tg_free(c2);
}
END_TEST

/* Transposed, step-2 sliced, reversed and expanded (stride 0) operands. */
START_TEST(test_matmul_strided_views)
{
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        for (int d = 0; d < 2; d++) {
            tg_dtype dt = (tg_dtype)d;
            tg_tensor *at = rand_tensor(dt, TG_SHAPE(9, 7), 3);  /* (k, m) */
            tg_tensor *bt = rand_tensor(dt, TG_SHAPE(5, 9), 4);  /* (n, k) */
            tg_tensor *wide = rand_tensor(dt, TG_SHAPE(14, 18), 5);
            tg_tensor *row = rand_tensor(dt, TG_SHAPE(1, 9), 6);
            tg_tensor *col = rand_tensor(dt, TG_SHAPE(9, 1), 7);

            tg_tensor *a_t = tg_transpose(at, 0, 1);          /* (7, 9) */
            tg_tensor *b_t = tg_transpose(bt, 0, 1);          /* (9, 5) */
            /* rows 0,2,..,12 and columns 0,2,..,16 of wide: (7, 9) */
            tg_tensor *rows2 = tg_slice(wide, 0, 0, 14, 2);
            tg_tensor *a_s = tg_slice(rows2, 1, 0, 18, 2);
            /* rows 1,3,..,17 of wide^T's first 5 columns: (9, 5) */
            tg_tensor *wt = tg_transpose(wide, 0, 1);
            tg_tensor *wt5 = tg_slice(wt, 1, 0, 5, 1);
            tg_tensor *b_s = tg_slice(wt5, 0, 1, 18, 2);
            tg_tensor *a_rev = tg_slice(a_t, 1, 8, TG_NONE, -1); /* (7, 9) */
            tg_tensor *a_e = tg_expand(row, TG_SHAPE(7, 9)); /* row stride 0 */
            tg_tensor *b_e = tg_expand(col, TG_SHAPE(9, 5)); /* col stride 0 */
            /* row-major with a row stride past the row: (7, 9), ld 18 */
            tg_tensor *top = tg_slice(wide, 0, 0, 7, 1);
            tg_tensor *a_p = tg_slice(top, 1, 0, 9, 1);
            /* transposed with a padded leading dimension: (9, 5), ld 18 */
            tg_tensor *left = tg_slice(wide, 1, 0, 9, 1);
            tg_tensor *left5 = tg_slice(left, 0, 0, 5, 1);
            tg_tensor *b_tp = tg_transpose(left5, 0, 1);
            tg_tensor *b_c = tg_contiguous(b_t);
            ck_assert(a_t && b_t && a_s && b_s && a_rev && a_e && b_e);
            ck_assert(a_p && b_tp && b_c && tg_is_contiguous(b_c));
            ck_assert(!tg_is_contiguous(a_s) && !tg_is_contiguous(b_s));

            const tg_tensor *as[] = {a_t, a_s, a_rev, a_e, a_p};
            const tg_tensor *bs[] = {b_t, b_s, b_e, b_tp, b_c};
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 5; j++) {
                    tg_tensor *c = tg_matmul(as[i], bs[j]);
                    check_2d(c, as[i], bs[j]);
                    tg_free(c);
                }
            tg_tensor *views[] = {a_t,  b_t, rows2, a_s,   wt,   wt5,
                                  b_s,  a_rev, a_e, b_e,   top,  a_p,
                                  left, left5, b_tp, b_c,  at,   bt,
                                  wide, row,   col};
            for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
                tg_free(views[i]);
        }
    }
    tg_use_blas(true);
}
END_TEST

/* 1-D operands: (k,) @ (k, n) -> (n,), (m, k) @ (k,) -> (m,), (k,) @ (k,)
 * -> 0-d, and with batch axes. */
START_TEST(test_matmul_vector_promotion)
{
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        for (int d = 0; d < 2; d++) {
            tg_dtype dt = (tg_dtype)d;
            tg_tensor *v = rand_tensor(dt, TG_SHAPE(6), 8);
            tg_tensor *m = rand_tensor(dt, TG_SHAPE(6, 4), 9);
            tg_tensor *mt = rand_tensor(dt, TG_SHAPE(5, 6), 10);
            tg_tensor *v2 = tg_reshape(v, TG_SHAPE(1, 6));
            tg_tensor *v2t = tg_reshape(v, TG_SHAPE(6, 1));

            tg_tensor *vm = tg_matmul(v, m);
            tgt_assert_shape(vm, 1, (const int64_t[]){4});
            tg_tensor *vm2 = tg_reshape(vm, TG_SHAPE(1, 4));
            check_2d(vm2, v2, m);

            tg_tensor *mv = tg_matmul(mt, v);
            tgt_assert_shape(mv, 1, (const int64_t[]){5});
            tg_tensor *mv2 = tg_reshape(mv, TG_SHAPE(5, 1));
            check_2d(mv2, mt, v2t);

            tg_tensor *vv = tg_matmul(v, v);
            ck_assert_ptr_nonnull(vv);
            ck_assert_int_eq(tg_ndim(vv), 0);
            double dot = 0, got = 0;
            for (int64_t i = 0; i < 6; i++)
                dot += tgt_at(v, i) * tgt_at(v, i);
            ck_assert_int_eq(tg_item(vv, &got), TG_OK);
            ck_assert_double_eq_tol(got, dot, tol_for(dt, 6) * dot);

            /* strided vector: every other element of a (12,) */
            tg_tensor *long_v = rand_tensor(dt, TG_SHAPE(12), 11);
            tg_tensor *sv = tg_slice(long_v, 0, 1, 12, 2);
            tg_tensor *svm = tg_matmul(sv, m);
            tgt_assert_shape(svm, 1, (const int64_t[]){4});
            for (int64_t j = 0; j < 4; j++) {
                double s = 0;
                for (int64_t p = 0; p < 6; p++)
                    s += tgt_at(sv, p) * at2(m, p, j);
                ck_assert_double_eq_tol(tgt_at(svm, j), s,
                                        tol_for(dt, 6) * 6.0);
            }

            /* batched: (2,5,6) @ (6,) -> (2,5); (6,) @ (3,6,4) -> (3,4) */
            tg_tensor *ab = rand_tensor(dt, TG_SHAPE(2, 5, 6), 12);
            tg_tensor *bb = rand_tensor(dt, TG_SHAPE(3, 6, 4), 13);
            tg_tensor *abv = tg_matmul(ab, v);
            tg_tensor *vbb = tg_matmul(v, bb);
            tgt_assert_shape(abv, 2, (const int64_t[]){2, 5});
            tgt_assert_shape(vbb, 2, (const int64_t[]){3, 4});
            for (int64_t i = 0; i < 2; i++) {
                tg_tensor *ai = tg_select(ab, 0, i);
                tg_tensor *ci = tg_select(abv, 0, i);
                tg_tensor *ci2 = tg_reshape(ci, TG_SHAPE(5, 1));
                check_2d(ci2, ai, v2t);
                tg_free(ai);
                tg_free(ci);
                tg_free(ci2);
            }
            for (int64_t i = 0; i < 3; i++) {
                tg_tensor *bi = tg_select(bb, 0, i);
                tg_tensor *ci = tg_select(vbb, 0, i);
                tg_tensor *ci2 = tg_reshape(ci, TG_SHAPE(1, 4));
                check_2d(ci2, v2, bi);
                tg_free(bi);
                tg_free(ci);
                tg_free(ci2);
            }
            tg_tensor *all[] = {v,  m,  mt, v2, v2t, vm,  vm2, mv,  mv2, vv,
                                long_v, sv, svm, ab, bb, abv, vbb};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
                tg_free(all[i]);
        }
    }
    tg_use_blas(true);
}
END_TEST

/* (2,1,3,4) @ (5,4,2) -> (2,5,3,2): out[i,j] = a[i,0] @ b[j]. */
START_TEST(test_matmul_batch_broadcast)
{
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        for (int d = 0; d < 2; d++) {
            tg_dtype dt = (tg_dtype)d;
            tg_tensor *a = rand_tensor(dt, TG_SHAPE(2, 1, 3, 4), 14);
            tg_tensor *b = rand_tensor(dt, TG_SHAPE(5, 4, 2), 15);
            tg_tensor *c = tg_matmul(a, b);
            tgt_assert_shape(c, 4, (const int64_t[]){2, 5, 3, 2});
            ck_assert(tg_is_contiguous(c));
            for (int64_t i = 0; i < 2; i++)
                for (int64_t j = 0; j < 5; j++) {
                    tg_tensor *ai0 = tg_select(a, 0, i);
                    tg_tensor *ai = tg_select(ai0, 0, 0);
                    tg_tensor *bj = tg_select(b, 0, j);
                    tg_tensor *ci0 = tg_select(c, 0, i);
                    tg_tensor *cij = tg_select(ci0, 0, j);
                    check_2d(cij, ai, bj);
                    tg_free(ai0);
                    tg_free(ai);
                    tg_free(bj);
                    tg_free(ci0);
                    tg_free(cij);
                }
            tg_free(a);
            tg_free(b);
            tg_free(c);
        }
    }
    tg_use_blas(true);
}
END_TEST

/* Batched operands that are views: a batch of transposed matrices, and a
 * matrix expanded over a batch axis that it does not have. */
START_TEST(test_matmul_batch_views)
{
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        tg_tensor *base = rand_tensor(TG_FLOAT64, TG_SHAPE(3, 6, 4), 16);
        tg_tensor *a = tg_transpose(base, 1, 2); /* (3, 4, 6) */
        tg_tensor *m = rand_tensor(TG_FLOAT64, TG_SHAPE(1, 6, 5), 17);
        tg_tensor *b = tg_expand(m, TG_SHAPE(3, 6, 5)); /* batch stride 0 */
        tg_tensor *bs = tg_slice(b, 2, 0, 5, 2);          /* (3, 6, 3) */
        /* every other column of each (6, 4) matrix: gathered per entry */
        tg_tensor *as = tg_slice(base, 2, 0, 4, 2); /* (3, 6, 2) */
        tg_tensor *r = rand_tensor(TG_FLOAT64, TG_SHAPE(2, 3), 18);
        tg_tensor *c = tg_matmul(a, b);
        tg_tensor *cs = tg_matmul(a, bs);
        tg_tensor *cr = tg_matmul(as, r);
        tgt_assert_shape(c, 3, (const int64_t[]){3, 4, 5});
        tgt_assert_shape(cs, 3, (const int64_t[]){3, 4, 3});
        tgt_assert_shape(cr, 3, (const int64_t[]){3, 6, 3});
        for (int64_t i = 0; i < 3; i++) {
            tg_tensor *ai = tg_select(a, 0, i);
            tg_tensor *asi = tg_select(as, 0, i);
            tg_tensor *bi = tg_select(b, 0, i);
            tg_tensor *bsi = tg_select(bs, 0, i);
            tg_tensor *ci = tg_select(c, 0, i);
            tg_tensor *csi = tg_select(cs, 0, i);
            tg_tensor *cri = tg_select(cr, 0, i);
            check_2d(ci, ai, bi);
            check_2d(csi, ai, bsi);
            check_2d(cri, asi, r);
            tg_tensor *each[] = {ai, asi, bi, bsi, ci, csi, cri};
            for (size_t j = 0; j < sizeof each / sizeof each[0]; j++)
                tg_free(each[j]);
        }
        tg_tensor *all[] = {base, a, m, b, bs, as, r, c, cs, cr};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            tg_free(all[i]);
    }
    tg_use_blas(true);
}
END_TEST

/* A stack times one matrix, (B, M, K) @ (K, N), is done as one product
 * when the stack's rows are evenly spaced; check it with and without, and
 * a stack times a stack that must not be folded. */
START_TEST(test_matmul_stack_times_matrix)
{
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        tg_tensor *a = rand_tensor(TG_FLOAT64, TG_SHAPE(4, 3, 5), 24);
        tg_tensor *big = rand_tensor(TG_FLOAT64, TG_SHAPE(8, 3, 5), 25);
        tg_tensor *a_skip = tg_slice(big, 0, 0, 8, 2);   /* batch stride 30 */
        tg_tensor *wide = rand_tensor(TG_FLOAT64, TG_SHAPE(4, 3, 7), 26);
        tg_tensor *a_pad = tg_slice(wide, 2, 0, 5, 1);   /* row stride 7 */
        tg_tensor *b = rand_tensor(TG_FLOAT64, TG_SHAPE(5, 2), 27);
        tg_tensor *bt0 = rand_tensor(TG_FLOAT64, TG_SHAPE(2, 5), 28);
        tg_tensor *b_t = tg_transpose(bt0, 0, 1);
        tg_tensor *b1 = rand_tensor(TG_FLOAT64, TG_SHAPE(1, 5, 2), 29);
        tg_tensor *b_e = tg_expand(b1, TG_SHAPE(4, 5, 2)); /* batch stride 0 */
        tg_tensor *b_b = rand_tensor(TG_FLOAT64, TG_SHAPE(4, 5, 2), 30);
        tg_tensor *outs = tg_full(TG_FLOAT64, TG_SHAPE(4, 4, 2), 7.0);
        tg_tensor *out = tg_slice(outs, 1, 0, 3, 1);     /* batch stride 8 */
        const tg_tensor *as[] = {a, a_skip, a_pad};
        const tg_tensor *bs[] = {b, b_t, b_e, b_b}; /* b_b: not one matrix */
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                for (int into = 0; into < 2; into++) {
                    tg_tensor *c = NULL;
                    if (into)
                        ck_assert_int_eq(tg_matmul_into(out, as[i], bs[j]),
                                         TG_OK);
                    else
                        c = tg_matmul(as[i], bs[j]);
                    const tg_tensor *r = into ? out : c;
                    tgt_assert_shape(r, 3, (const int64_t[]){4, 3, 2});
                    for (int64_t e = 0; e < 4; e++) {
                        tg_tensor *ae = tg_select(as[i], 0, e);
                        tg_tensor *be_ = tg_ndim(bs[j]) == 3
                                             ? tg_select(bs[j], 0, e)
                                             : tg_clone(bs[j]);
                        tg_tensor *re = tg_select(r, 0, e);
                        check_2d(re, ae, be_);
                        tg_free(ae);
                        tg_free(be_);
                        tg_free(re);
                    }
                    tg_free(c);
                }
        for (int64_t e = 0; e < 4; e++) /* row 3 of each entry untouched */
            for (int64_t j = 0; j < 2; j++) {
                double v = 0;
                ck_assert_int_eq(tg_get(outs, (const int64_t[]){e, 3, j}, &v),
                                 TG_OK);
                ck_assert_double_eq(v, 7.0);
            }
        tg_tensor *all[] = {a,   big, a_skip, wide, a_pad, b,   bt0,
                            b_t, b1,  b_e,    b_b,  outs,  out};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            tg_free(all[i]);
    }
    tg_use_blas(true);
}
END_TEST

/* K == 0 gives zeros; M, N or a batch size of 0 gives an empty result. */
START_TEST(test_matmul_zero_sizes)
{
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        tg_tensor *a = tg_ones(TG_FLOAT32, TG_SHAPE(3, 0));
        tg_tensor *b = tg_ones(TG_FLOAT32, TG_SHAPE(0, 4));
        tg_tensor *c = tg_matmul(a, b);
        tgt_assert_shape(c, 2, (const int64_t[]){3, 4});
        for (int64_t i = 0; i < 12; i++)
            ck_assert_double_eq(tgt_at(c, i), 0.0);
        /* also over NaN, through _into */
        tg_tensor *out = tg_full(TG_FLOAT32, TG_SHAPE(3, 4), DNAN);
        ck_assert_int_eq(tg_matmul_into(out, a, b), TG_OK);
        for (int64_t i = 0; i < 12; i++)
            ck_assert_double_eq(tgt_at(out, i), 0.0);
        /* (0,) @ (0,) is a 0-d zero */
        tg_tensor *e = tg_ones(TG_FLOAT64, TG_SHAPE(0));
        tg_tensor *ee = tg_matmul(e, e);
        double v = 1.0;
        ck_assert_ptr_nonnull(ee);
        ck_assert_int_eq(tg_ndim(ee), 0);
        ck_assert_int_eq(tg_item(ee, &v), TG_OK);
        ck_assert_double_eq(v, 0.0);

        tg_tensor *m0 = tg_ones(TG_FLOAT64, TG_SHAPE(0, 3));
        tg_tensor *k3 = tg_ones(TG_FLOAT64, TG_SHAPE(3, 4));
        tg_tensor *n0 = tg_ones(TG_FLOAT64, TG_SHAPE(3, 0));
        tg_tensor *b0 = tg_ones(TG_FLOAT64, TG_SHAPE(0, 2, 3));
        tg_tensor *r1 = tg_matmul(m0, k3);
        tg_tensor *r2 = tg_matmul(m0, n0);
        tg_tensor *r3 = tg_matmul(b0, k3);
        tgt_assert_shape(r1, 2, (const int64_t[]){0, 4});
        tgt_assert_shape(r2, 2, (const int64_t[]){0, 0});
        tgt_assert_shape(r3, 3, (const int64_t[]){0, 2, 4});
        ck_assert_int_eq(tg_numel(r1), 0);
        ck_assert_int_eq(tg_numel(r3), 0);
        tg_tensor *all[] = {a, b, c, out, e, ee, m0, k3, n0, b0, r1, r2, r3};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            tg_free(all[i]);
    }
    tg_use_blas(true);
}
END_TEST

/* ---- tg_matmul_into ----------------------------------------------------- */

START_TEST(test_matmul_into_layouts)
{
    for (int be = 0; be < backend_count(); be++) {
        use_backend(be);
        tg_tensor *a = rand_tensor(TG_FLOAT64, TG_SHAPE(4, 6), 18);
        tg_tensor *b = rand_tensor(TG_FLOAT64, TG_SHAPE(6, 5), 19);

        /* contiguous out; its storage version moves */
        tg_tensor *out = tg_full(TG_FLOAT64, TG_SHAPE(4, 5), DNAN);
        uint64_t v0 = out->storage->version;
        ck_assert_int_eq(tg_matmul_into(out, a, b), TG_OK);
        ck_assert(out->storage->version > v0);
        check_2d(out, a, b);

        /* every other row of a (8, 5): the rows between stay 7 */
        tg_tensor *big = tg_full(TG_FLOAT64, TG_SHAPE(8, 5), 7.0);
        tg_tensor *rows = tg_slice(big, 0, 0, 8, 2);
        ck_assert_int_eq(tg_matmul_into(rows, a, b), TG_OK);
        check_2d(rows, a, b);
        for (int64_t i = 1; i < 8; i += 2)
            for (int64_t j = 0; j < 5; j++)
                ck_assert_double_eq(at2(big, i, j), 7.0);

        /* a transposed out (column-major storage) */
        tg_tensor *tbase = tg_zeros(TG_FLOAT64, TG_SHAPE(5, 4));
        tg_tensor *tout = tg_transpose(tbase, 0, 1);
        ck_assert_int_eq(tg_matmul_into(tout, a, b), TG_OK);
        check_2d(tout, a, b);
        ck_assert_double_eq(at2(tbase, 2, 1), at2(out, 1, 2));
        tg_tensor *all[] = {a, b, out, big, rows, tbase, tout};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            tg_free(all[i]);
    }
    tg_use_blas(true);
}
END_TEST

/* out may be an input: the result is as if computed into a fresh tensor. */
START_TEST(test_matmul_into_aliased)
{
    tg_tensor *a = rand_tensor(TG_FLOAT32, TG_SHAPE(2, 5, 5), 20);
    tg_tensor *b = rand_tensor(TG_FLOAT32, TG_SHAPE(5, 5), 21);
    tg_tensor *want = tg_matmul(a, b);
    ck_assert_ptr_nonnull(want);
    ck_assert_int_eq(tg_matmul_into(a, a, b), TG_OK);
    for (int64_t i = 0; i < 50; i++)
        ck_assert_double_eq_tol(tgt_at(a, i), tgt_at(want, i), 1e-5);
    /* b's transpose is b's storage too */
    tg_tensor *bt = tg_transpose(b, 0, 1);
    tg_tensor *want3 = tg_matmul(bt, b);
    ck_assert_int_eq(tg_matmul_into(b, bt, b), TG_OK);
    for (int64_t i = 0; i < 25; i++)
        ck_assert_double_eq_tol(tgt_at(b, i), tgt_at(want3, i), 1e-5);
    tg_free(a);
    tg_free(b);
    tg_free(bt);
    tg_free(want);
    tg_free(want3);
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

START_TEST(test_matmul_errors)
{
    tg_tensor *a = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
    tg_tensor *b = tg_ones(TG_FLOAT32, TG_SHAPE(4, 5));
    tg_tensor *s = tg_scalar(TG_FLOAT32, 2.0);
    tg_tensor *v = tg_ones(TG_FLOAT32, TG_SHAPE(3));
    tg_tensor *d = tg_ones(TG_FLOAT64, TG_SHAPE(3, 5));
    tg_tensor *b3 = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3, 4));
    tg_tensor *c3 = tg_ones(TG_FLOAT32, TG_SHAPE(3, 4, 5));

    ck_assert_ptr_null(tg_matmul(a, b));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_matmul: inner sizes 3 and 4 differ "
                                 "(shapes (2,3) and (4,5))");
    ck_assert_ptr_null(tg_matmul(v, b));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_matmul: inner sizes 3 and 4 differ "
                                 "(shapes (3,) and (4,5))");
    ck_assert_ptr_null(tg_matmul(s, v));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_matmul: 0-d operand");
    ck_assert_ptr_null(tg_matmul(v, s));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_matmul: 0-d operand");
    tg_tensor *mixed = tg_matmul(a, d); /* float32 @ float64: float64 */
    ck_assert_int_eq(tg_dtype_of(mixed), TG_FLOAT64);
    tg_free(mixed);
    ck_assert_ptr_null(tg_matmul(b3, c3));
    TGT_ASSERT_ERR(TG_ERR_SHAPE,
                   "tg_matmul: batch sizes 2 and 3 cannot be broadcast "
                   "(shapes (2,3,4) and (3,4,5))");

    /* NULL inputs return NULL and keep the previous error */
    tg_clear_error();
    ck_assert_ptr_null(tg_matmul(NULL, b));
    ck_assert_ptr_null(tg_matmul(a, NULL));
    ck_assert_int_eq(tg_last_error(), TG_OK);
    ck_assert_ptr_null(tg_matmul(a, b));
    ck_assert_ptr_null(tg_matmul(NULL, NULL));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "inner sizes 3 and 4");

    tg_tensor *out = tg_full(TG_FLOAT32, TG_SHAPE(2, 2), 9.0);
    tg_tensor *out64 = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 5));
    tg_tensor *row = tg_zeros(TG_FLOAT32, TG_SHAPE(1, 5));
    tg_tensor *bcast = tg_expand(row, TG_SHAPE(2, 5));
    tg_tensor *a5 = tg_ones(TG_FLOAT32, TG_SHAPE(2, 4));
    ck_assert_int_eq(tg_matmul_into(out, a5, b), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE,
                   "tg_matmul_into: out has shape (2,2), expected (2,5)");
    ck_assert_double_eq(tgt_at(out, 0), 9.0);
    ck_assert_int_eq(tg_matmul_into(out64, a5, b), TG_ERR_DTYPE);
    TGT_ASSERT_ERR(TG_ERR_DTYPE,
                   "tg_matmul_into: out has dtype float64, expected float32");
    ck_assert_int_eq(tg_matmul_into(bcast, a5, b), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_matmul_into: out is a broadcast view");
    ck_assert_int_eq(tg_matmul_into(out, a, b), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "tg_matmul_into: inner sizes 3 and 4 differ");
    ck_assert_int_eq(tg_matmul_into(NULL, a5, b), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_matmul_into: out is NULL");
    ck_assert_int_eq(tg_matmul_into(out, NULL, b), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_matmul_into: a is NULL");
    ck_assert_int_eq(tg_matmul_into(out, a5, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_matmul_into: b is NULL");

    tg_tensor *all[] = {a, b, s, v, d, b3, c3, out, out64, row, bcast, a5};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

/* Every allocation in turn fails: the result is either right or NULL with
 * TG_ERR_NOMEM, and nothing leaks (the fixture checks). Strided inputs and
 * a transposed out make matmul take scratch buffers. */
START_TEST(test_matmul_alloc_failures)
{
    tg_tensor *base = rand_tensor(TG_FLOAT64, TG_SHAPE(2, 6, 8), 22);
    tg_tensor *a = tg_slice(base, 2, 0, 8, 2); /* (2, 6, 4), column step 2 */
    tg_tensor *bb = rand_tensor(TG_FLOAT64, TG_SHAPE(4, 10), 23);
    tg_tensor *b = tg_slice(bb, 1, 0, 10, 2); /* (4, 5) */
    tg_tensor *tbase = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 5, 6));
    tg_tensor *tout = tg_transpose(tbase, 1, 2); /* (2, 6, 5) */
    tg_tensor *want = tg_matmul(a, b);
    ck_assert_ptr_nonnull(want);
    int saw_nomem = 0, saw_ok = 0;
    for (long fail = 1; fail <= 12; fail++) {
        tg_clear_error();
        tgt_stats.fail_at = tgt_stats.calls + fail;
        tg_tensor *c = tg_matmul(a, b);
        if (c) {
            saw_ok++;
            for (int64_t i = 0; i < 60; i++)
                ck_assert_double_eq(tgt_at(c, i), tgt_at(want, i));
            tg_free(c);
        } else {
            saw_nomem++;
            TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_matmul: out of memory");
        }
        int rc = tg_matmul_into(tout, a, b);
        tgt_stats.fail_at = 0;
        if (rc == TG_OK) {
            for (int64_t i = 0; i < 60; i++)
                ck_assert_double_eq(tgt_at(tout, i), tgt_at(want, i));
        } else {
            ck_assert_int_eq(rc, TG_ERR_NOMEM);
            TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_matmul_into: out of memory");
        }
    }
    ck_assert_int_gt(saw_nomem, 0);
    ck_assert_int_gt(saw_ok, 0);
    tg_tensor *all[] = {base, a, bb, b, tbase, tout, want};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tg_free(all[i]);
}
END_TEST

Suite *test_matmul_suite(void); /* called by the generated runner */

Suite *test_matmul_suite(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tgt_tcase("gemm");
    tcase_add_test(tc, test_gemm_odd_sizes);
    tcase_add_test(tc, test_gemm_block_edges);
    tcase_add_test(tc, test_gemm_beta_zero_overwrites_nan);
    tcase_add_test(tc, test_gemm_empty_sum);
    tcase_add_test(tc, test_gemm_unusual_ld);
    tcase_add_test(tc, test_gemm_backends_agree);
    tcase_add_test(tc, test_gemm_allocations);
    tcase_add_test(tc, test_gemm_alloc_failure_falls_back);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("values");
    tcase_add_test(tc, test_matmul_small_exact);
    tcase_add_test(tc, test_matmul_odd_sizes);
    tcase_add_test(tc, test_matmul_backends_agree);
    tcase_add_test(tc, test_matmul_strided_views);
    tcase_add_test(tc, test_matmul_vector_promotion);
    tcase_add_test(tc, test_matmul_batch_broadcast);
    tcase_add_test(tc, test_matmul_batch_views);
    tcase_add_test(tc, test_matmul_stack_times_matrix);
    tcase_add_test(tc, test_matmul_zero_sizes);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("into");
    tcase_add_test(tc, test_matmul_into_layouts);
    tcase_add_test(tc, test_matmul_into_aliased);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_matmul_errors);
    tcase_add_test(tc, test_matmul_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}
