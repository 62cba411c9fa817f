/* elementwise.c - NumPy-broadcasting binary ops, scalar ops, unary ops,
 * copy and axpy. Operands are walked by one strided loop after adjacent
 * dimensions are merged; the inner loop is specialised for the contiguous
 * and the scalar cases so that the compiler vectorises them. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* Internal op codes beyond the public unary ones; the binary ones are in
 * internal.h (TG__OP_AXPY and the fused gradient ops). */
enum { OP_COPY = TG_UNOP_COUNT_ };
enum { OP_AXPY = TG__OP_AXPY };

/* ---- typed inner loops -------------------------------------------------- */

static inline double sigmoid_d(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static inline float sigmoid_f(float x)
{
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* max/min that return NaN when either input is NaN, as NumPy does. */
#define MAXIMUM(x, y) (((x) >= (y) || (x) != (x)) ? (x) : (y))
#define MINIMUM(x, y) (((x) <= (y) || (x) != (x)) ? (x) : (y))
#define SIGN(T, x) ((x) > 0 ? (T)1 : (x) < 0 ? (T)-1 : (x) == 0 ? (T)0 : (x))

/* One loop over n elements: o[i*so] = expr(a[i*sa], b[i*sb]). Its shapes:
 * one element (a parameter, without the vector loop's set-up), all unit
 * strides, a or b a broadcast scalar, both scalars (one value filled, as
 * the gradient of a sum is), and general. */
#define BIN_LOOP(T, EXPR)                                                      \
    do {                                                                       \
        if (n == 1) {                                                          \
            T x = a[0], y = b[0];                                              \
            (void)y;                                                           \
            o[0] = (T)(EXPR);                                                  \
        } else if (sa == 1 && sb == 1 && so == 1) {                            \
            for (int64_t i = 0; i < n; i++) {                                  \
                T x = a[i], y = b[i];                                          \
                (void)y;                                                       \
                o[i] = (T)(EXPR);                                              \
            }                                                                  \
        } else if (sa == 1 && sb == 0 && so == 1) {                            \
            T y = b[0];                                                        \
            (void)y;                                                           \
            for (int64_t i = 0; i < n; i++) {                                  \
                T x = a[i];                                                    \
                o[i] = (T)(EXPR);                                              \
            }                                                                  \
        } else if (sa == 0 && sb == 1 && so == 1) {                            \
            T x = a[0];                                                        \
            for (int64_t i = 0; i < n; i++) {                                  \
                T y = b[i];                                                    \
                (void)y;                                                       \
                o[i] = (T)(EXPR);                                              \
            }                                                                  \
        } else if (sa == 0 && sb == 0 && so == 1) {                            \
            T x = a[0], y = b[0];                                              \
            (void)y;                                                           \
            T v = (T)(EXPR);                                                   \
            for (int64_t i = 0; i < n; i++)                                    \
                o[i] = v;                                                      \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++) {                                  \
                T x = a[i * sa], y = b[i * sb];                                \
                (void)y;                                                       \
                o[i * so] = (T)(EXPR);                                         \
            }                                                                  \
        }                                                                      \
    } while (0)

/* One function per op and dtype, each a small leaf: as cases of one big
 * switch, register pressure made every call save registers on a realigned
 * stack, a third of the time of the chapter's 100-element ops. s is the
 * op's scalar (AXPY's alpha, the fused gradients' factor). */
#define BIN_FN(NAME, T, EXPR)                                                  \
    TG_CLONES_512 static void NAME(T s, int64_t n, const T *a, int64_t sa,     \
                                   const T *b, int64_t sb, T *o, int64_t so)   \
    {                                                                          \
        (void)s;                                                               \
        BIN_LOOP(T, EXPR);                                                     \
    }
typedef void bin_fn_f64(double, int64_t, const double *, int64_t, const double *,
                        int64_t, double *, int64_t);
typedef void bin_fn_f32(float, int64_t, const float *, int64_t, const float *,
                        int64_t, float *, int64_t);

/* Every op for dtype T (suffix S); the constants are T's own, as in the
 * scalar code. */
#define BIN_FNS(S, T)                                                          \
    BIN_FN(add_##S, T, x + y)                                                  \
    BIN_FN(sub_##S, T, x - y)                                                  \
    BIN_FN(mul_##S, T, x * y)                                                  \
    BIN_FN(div_##S, T, x / y)                                                  \
    BIN_FN(square_##S, T, x * x) /* pow(x, 2), as NumPy computes it */        \
    BIN_FN(max_##S, T, MAXIMUM(x, y))                                          \
    BIN_FN(min_##S, T, MINIMUM(x, y))                                          \
    BIN_FN(ge_##S, T, x >= y ? (T)1 : (T)0)                                    \
    BIN_FN(axpy_##S, T, x + s * y)                                             \
    BIN_FN(mul_scaled_##S, T, x * (y * s))                                     \
    BIN_FN(div_scaled_##S, T, x / (y * s))                                     \
    BIN_FN(mul_step_##S, T, x * (y > 0 ? (T)1 : (T)0))                         \
    BIN_FN(tanh_grad_##S, T, x * ((T)1 - y * y))                               \
    BIN_FN(sigmoid_grad_##S, T, x * (y * ((T)1 - y)))
BIN_FNS(f64, double)
BIN_FNS(f32, float)

/* pow's libm loops: not vectorised, so not cloned. */
static void pow_f64(double s, int64_t n, const double *a, int64_t sa, const double *b,
                    int64_t sb, double *o, int64_t so)
{
    (void)s;
    BIN_LOOP(double, pow(x, y));
}

static void pow_f32(float s, int64_t n, const float *a, int64_t sa, const float *b,
                    int64_t sb, float *o, int64_t so)
{
    (void)s;
    BIN_LOOP(float, powf(x, y));
}

#define BIN_TABLE(S)                                                           \
    {                                                                          \
        [TG_ADD] = add_##S, [TG_SUB] = sub_##S, [TG_MUL] = mul_##S,            \
        [TG_DIV] = div_##S, [TG_POW] = pow_##S, [TG_MAXIMUM] = max_##S,        \
        [TG_MINIMUM] = min_##S, [TG_GE] = ge_##S, [OP_AXPY] = axpy_##S,        \
        [TG__OP_MUL_SCALED] = mul_scaled_##S,                                  \
        [TG__OP_DIV_SCALED] = div_scaled_##S,                                  \
        [TG__OP_MUL_STEP] = mul_step_##S, [TG__OP_TANH_GRAD] = tanh_grad_##S,  \
        [TG__OP_SIGMOID_GRAD] = sigmoid_grad_##S                               \
    }
#define BIN_OPS (TG__OP_SIGMOID_GRAD + 1)
static bin_fn_f64 *const bin_fns_f64[BIN_OPS] = BIN_TABLE(f64);
static bin_fn_f32 *const bin_fns_f32[BIN_OPS] = BIN_TABLE(f32);

/* o[i*so] = op(a[i*sa], b[i*sb]) for i < n; pow by a scalar 2 squares. */
static void bin_f64(int op, double s, int64_t n, const double *a, int64_t sa,
                    const double *b, int64_t sb, double *o, int64_t so)
{
    bin_fn_f64 *f = op == TG_POW && sb == 0 && b[0] == 2.0 ? square_f64 : bin_fns_f64[op];
    f(s, n, a, sa, b, sb, o, so);
}

static void bin_f32(int op, double s, int64_t n, const float *a, int64_t sa,
                    const float *b, int64_t sb, float *o, int64_t so)
{
    bin_fn_f32 *f = op == TG_POW && sb == 0 && b[0] == 2.0f ? square_f32 : bin_fns_f32[op];
    f((float)s, n, a, sa, b, sb, o, so);
}

TG_CLONES_512 static void un_f64(int op, int64_t n, const double *a, int64_t sa, double *o,
                   int64_t so)
{
    switch (op) {
    case TG_NEG: TG__LOOP1(double, -x); break;
    case TG_EXP: TG__LOOP1(double, exp(x)); break;
    case TG_LOG: TG__LOOP1(double, log(x)); break;
    case TG_SQRT: TG__LOOP1(double, sqrt(x)); break;
    case TG_ABS: TG__LOOP1(double, fabs(x)); break;
    case TG_TANH: TG__LOOP1(double, tanh(x)); break;
    case TG_SIGMOID: TG__LOOP1(double, sigmoid_d(x)); break;
    case TG_RELU: TG__LOOP1(double, x <= 0 ? 0.0 : x); break;
    case TG_SIGN: TG__LOOP1(double, SIGN(double, x)); break;
    case TG_STEP: TG__LOOP1(double, x > 0 ? 1.0 : 0.0); break;
    case OP_COPY: TG__LOOP1(double, x); break;
    default: break;
    }
}

TG_CLONES_512 static void un_f32(int op, int64_t n, const float *a, int64_t sa, float *o,
                   int64_t so)
{
    switch (op) {
    case TG_NEG: TG__LOOP1(float, -x); break;
    case TG_EXP: TG__LOOP1(float, expf(x)); break;
    case TG_LOG: TG__LOOP1(float, logf(x)); break;
    case TG_SQRT: TG__LOOP1(float, sqrtf(x)); break;
    case TG_ABS: TG__LOOP1(float, fabsf(x)); break;
    case TG_TANH: TG__LOOP1(float, tanhf(x)); break;
    case TG_SIGMOID: TG__LOOP1(float, sigmoid_f(x)); break;
    case TG_RELU: TG__LOOP1(float, x <= 0 ? 0.0f : x); break;
    case TG_SIGN: TG__LOOP1(float, SIGN(float, x)); break;
    case TG_STEP: TG__LOOP1(float, x > 0 ? 1.0f : 0.0f); break;
    case OP_COPY: TG__LOOP1(float, x); break;
    default: break;
    }
}

/* ---- the strided walk ---------------------------------------------------- */

/* Up to three operands laid over out's shape: strides are 0 on broadcast
 * axes. Adjacent axes are merged where every operand allows it. */
typedef struct walk {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t st[3][TG_MAX_DIMS]; /* 0: out, 1: a, 2: b */
} walk;

static void operand_strides(const tg_tensor *x, const tg_tensor *out, int64_t *st)
{
    int lead = out->ndim - x->ndim;
    for (int k = 0; k < out->ndim; k++) {
        int j = k - lead;
        st[k] = (j < 0 || x->shape[j] == 1) ? 0 : x->strides[j];
    }
}

static void walk_init(walk *w, const tg_tensor *out, const tg_tensor *a,
                      const tg_tensor *b, int nops)
{
    const tg_tensor *ops[3] = {out, a, b};
    int64_t st[3][TG_MAX_DIMS];
    for (int p = 0; p < nops; p++)
        operand_strides(ops[p], out, st[p]);
    /* Drop size-1 axes, then merge axis k into k+1 when contiguous. */
    int nd = 0;
    for (int k = 0; k < out->ndim; k++) {
        if (out->shape[k] == 1)
            continue;
        if (nd > 0) {
            bool merge = true;
            for (int p = 0; p < nops; p++)
                if (w->st[p][nd - 1] != st[p][k] * out->shape[k])
                    merge = false;
            if (merge) {
                w->shape[nd - 1] *= out->shape[k];
                for (int p = 0; p < nops; p++)
                    w->st[p][nd - 1] = st[p][k];
                continue;
            }
        }
        w->shape[nd] = out->shape[k];
        for (int p = 0; p < nops; p++)
            w->st[p][nd] = st[p][k];
        nd++;
    }
    if (nd == 0) { /* a single element */
        w->shape[0] = 1;
        for (int p = 0; p < 3; p++)
            w->st[p][0] = 1;
        nd = 1;
    }
    for (int p = nops; p < 3; p++)
        for (int k = 0; k < nd; k++)
            w->st[p][k] = 0;
    w->ndim = nd;
}

/* Runs the inner loop over the last merged axis for every outer index. */
/* One elementwise op over a walk, as the thread pool's parts see it. */
typedef struct run_job {
    const walk *w;
    int op;
    double s;
    tg_dtype dt;
    char *po;
    const char *pa, *pb; /* a unary op's pb is only moved along, never read */
    bool unary;
} run_job;

/* n elements along the innermost axis from the given addresses. */
static void run_line(const run_job *j, int64_t n, char *po, const char *pa, const char *pb)
{
    const walk *w = j->w;
    int last = w->ndim - 1;
    if (j->dt == TG_FLOAT64) {
        if (j->unary)
            un_f64(j->op, n, (const double *)pa, w->st[1][last], (double *)po, w->st[0][last]);
        else
            bin_f64(j->op, j->s, n, (const double *)pa, w->st[1][last], (const double *)pb,
                    w->st[2][last], (double *)po, w->st[0][last]);
    } else {
        if (j->unary)
            un_f32(j->op, n, (const float *)pa, w->st[1][last], (float *)po, w->st[0][last]);
        else
            bin_f32(j->op, j->s, n, (const float *)pa, w->st[1][last], (const float *)pb,
                    w->st[2][last], (float *)po, w->st[0][last]);
    }
}

/* Lines it0 .. it1-1 of the walk, its outer axes in C order. */
static void run_lines(void *ctx, int64_t it0, int64_t it1)
{
    const run_job *j = ctx;
    const walk *w = j->w;
    int last = w->ndim - 1;
    int64_t n = w->shape[last], idx[TG_MAX_DIMS] = {0};
    ptrdiff_t es = (ptrdiff_t)tg__dsize(j->dt);
    char *po = j->po;
    const char *pa = j->pa, *pb = j->pb;
    int64_t q = it0;
    for (int k = last - 1; k >= 0; k--) { /* where line it0 starts */
        idx[k] = q % w->shape[k];
        q /= w->shape[k];
        po += (ptrdiff_t)(w->st[0][k] * idx[k]) * es;
        pa += (ptrdiff_t)(w->st[1][k] * idx[k]) * es;
        if (pb)
            pb += (ptrdiff_t)(w->st[2][k] * idx[k]) * es;
    }
    for (int64_t it = it0; it < it1; it++) {
        run_line(j, n, po, pa, pb);
        for (int k = last - 1; k >= 0; k--) {
            po += (ptrdiff_t)w->st[0][k] * es;
            pa += (ptrdiff_t)w->st[1][k] * es;
            if (pb)
                pb += (ptrdiff_t)w->st[2][k] * es;
            if (++idx[k] < w->shape[k])
                break;
            po -= (ptrdiff_t)(w->st[0][k] * w->shape[k]) * es;
            pa -= (ptrdiff_t)(w->st[1][k] * w->shape[k]) * es;
            if (pb)
                pb -= (ptrdiff_t)(w->st[2][k] * w->shape[k]) * es;
            idx[k] = 0;
        }
    }
}

/* Elements b .. e-1 of a walk of one axis. */
static void run_span(void *ctx, int64_t b, int64_t e)
{
    const run_job *j = ctx;
    const walk *w = j->w;
    ptrdiff_t es = (ptrdiff_t)tg__dsize(j->dt);
    run_line(j, e - b, j->po + (ptrdiff_t)(w->st[0][0] * b) * es,
             j->pa + (ptrdiff_t)(w->st[1][0] * b) * es,
             j->pb ? j->pb + (ptrdiff_t)(w->st[2][0] * b) * es : NULL);
}

/* The op over the whole walk: at least TG__PAR_MIN elements are split
 * over the thread pool, by elements (one axis) or by lines. */
static void run(const walk *w, int op, double s, tg_dtype dt, char *po,
                const char *pa, const char *pb, bool unary)
{
    run_job j = {w, op, s, dt, po, pa, pb, unary};
    int last = w->ndim - 1;
    int64_t n = w->shape[last], outer = 1;
    for (int k = 0; k < last; k++)
        outer *= w->shape[k];
    if (outer * n < TG__PAR_MIN)
        run_lines(&j, 0, outer);
    else if (last == 0)
        tg__parallel_for(n, 64, run_span, &j);
    else
        tg__parallel_for(outer, n >= 64 ? 1 : (64 + n - 1) / n, run_lines, &j);
}

static char *base_ptr(const tg_tensor *t)
{
    return (char *)t->storage->data + (size_t)t->offset * tg__dsize(t->dtype);
}

/* ---- checks ------------------------------------------------------------------ */

int tg__broadcast_shape(const char *fn, const tg_tensor *a, const tg_tensor *b,
                        int *ndim, int64_t *shape)
{
    if (tg__same_shape(a, b)) {
        memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
        *ndim = a->ndim;
        return TG_OK;
    }
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int k = 0; k < nd; k++) {
        int ja = k - (nd - a->ndim), jb = k - (nd - b->ndim);
        int64_t sa = ja >= 0 ? a->shape[ja] : 1;
        int64_t sb = jb >= 0 ? b->shape[jb] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
            return tg__fail(TG_ERR_SHAPE, fn, "shapes %s and %s cannot be broadcast",
                            tg__shape_fmt(a->ndim, a->shape, b1, sizeof b1),
                            tg__shape_fmt(b->ndim, b->shape, b2, sizeof b2));
        }
        shape[k] = sa == 1 ? sb : sa;
    }
    *ndim = nd;
    return TG_OK;
}

static int check_dtypes(const char *fn, const tg_tensor *a, const tg_tensor *b)
{
    if (a->dtype != b->dtype)
        return tg__fail(TG_ERR_DTYPE, fn, "dtypes %s and %s differ (use %s)",
                        tg_dtype_name(a->dtype), tg_dtype_name(b->dtype),
                        tg__cast_hint(fn));
    return TG_OK;
}

static int check_out(const char *fn, const tg_tensor *out, int ndim,
                     const int64_t *shape, tg_dtype dt)
{
    if (out->dtype != dt)
        return tg__fail(TG_ERR_DTYPE, fn, "out has dtype %s, expected %s",
                        tg_dtype_name(out->dtype), tg_dtype_name(dt));
    bool same = out->ndim == ndim;
    for (int k = 0; same && k < ndim; k++)
        same = out->shape[k] == shape[k];
    if (!same) {
        char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
        return tg__fail(TG_ERR_SHAPE, fn, "out has shape %s, expected %s",
                        tg__shape_fmt(out->ndim, out->shape, b1, sizeof b1),
                        tg__shape_fmt(ndim, shape, b2, sizeof b2));
    }
    return tg__check_writable(fn, "out", out);
}

static bool flat_same(const tg_tensor *x, const tg_tensor *out)
{
    return tg__same_shape(x, out) && tg__contiguous(x);
}

/* ---- kernels ------------------------------------------------------------------ */

/* How an operand can be walked next to a contiguous out: 1 (the same
 * contiguous layout), 0 (one value repeated: one element, or an expanded
 * scalar whose strides are all 0), -1 (needs the general walk). x is known
 * to broadcast to out's shape, so the same element count means the same
 * shape (up to leading 1s). */
static inline int64_t flat_stride(const tg_tensor *x, const tg_tensor *out)
{
    if (x->numel == 1)
        return 0;
    if (x->numel == out->numel && tg__contiguous(x))
        return 1;
    for (int k = 0; k < x->ndim; k++)
        if (x->strides[k] != 0 && x->shape[k] != 1)
            return -1;
    return 0;
}

/* The general strided walk, out of line so that the fast path of
 * binary_kernel stays small. */
TG_NOINLINE static void binary_walk(int op, double s, tg_tensor *out,
                                     const tg_tensor *a, const tg_tensor *b)
{
    walk w;
    walk_init(&w, out, a, b, 3);
    run(&w, op, s, out->dtype, base_ptr(out), base_ptr(a), base_ptr(b), false);
}

/* A contiguous op over flat operands (stride 1, or 0 for a broadcast
 * scalar), as the thread pool's parts see it; pb unused when unary. */
typedef struct flat_job {
    int op;
    double s;
    tg_dtype dt;
    bool unary;
    const char *pa, *pb;
    int64_t sa, sb;
    char *po;
} flat_job;

static void flat_span(void *ctx, int64_t b, int64_t e)
{
    const flat_job *j = ctx;
    ptrdiff_t es = (ptrdiff_t)tg__dsize(j->dt);
    const char *pa = j->pa + (ptrdiff_t)(j->sa * b) * es;
    char *po = j->po + (ptrdiff_t)b * es;
    if (j->unary) {
        if (j->dt == TG_FLOAT64)
            un_f64(j->op, e - b, (const double *)pa, j->sa, (double *)po, 1);
        else
            un_f32(j->op, e - b, (const float *)pa, j->sa, (float *)po, 1);
        return;
    }
    const char *pb = j->pb + (ptrdiff_t)(j->sb * b) * es;
    if (j->dt == TG_FLOAT64)
        bin_f64(j->op, j->s, e - b, (const double *)pa, j->sa, (const double *)pb, j->sb,
                (double *)po, 1);
    else
        bin_f32(j->op, j->s, e - b, (const float *)pa, j->sa, (const float *)pb, j->sb,
                (float *)po, 1);
}

/* A large flat op split over the thread pool (the caller keeps the small
 * ones inline). */
TG_NOINLINE static void flat_parallel(int op, double s, tg_dtype dt, int64_t n, const void *pa,
                                      int64_t sa, const void *pb, int64_t sb, void *po)
{
    flat_job j = {op, s, dt, pb == NULL, pa, pb, sa, sb, po};
    tg__parallel_for(n, 64, flat_span, &j);
}

static void binary_kernel(int op, double s, tg_tensor *out, const tg_tensor *a,
                          const tg_tensor *b)
{
    if (out->numel == 0)
        return;
    if (tg__contiguous(out)) {
        int64_t sa = flat_stride(a, out), sb = flat_stride(b, out);
        if (sa >= 0 && sb >= 0 && out->numel >= TG__PAR_MIN) {
            flat_parallel(op, s, out->dtype, out->numel, tg__data(a), sa, tg__data(b), sb,
                          tg__data(out));
            return;
        }
        if (sa >= 0 && sb >= 0) {
            if (out->dtype == TG_FLOAT64)
                bin_f64(op, s, out->numel, tg__data(a), sa, tg__data(b), sb,
                        tg__data(out), 1);
            else
                bin_f32(op, s, out->numel, tg__data(a), sa, tg__data(b), sb,
                        tg__data(out), 1);
            return;
        }
    }
    binary_walk(op, s, out, a, b);
}

static void unary_kernel(int op, tg_tensor *out, const tg_tensor *a);

void tg__span_binary(int op, double s, tg_dtype dt, int64_t n, const void *a, int64_t sa,
                     const void *b, int64_t sb, void *o)
{
    if (dt == TG_FLOAT64)
        bin_f64(op, s, n, a, sa, b, sb, o, 1);
    else
        bin_f32(op, s, n, a, sa, b, sb, o, 1);
}

void tg__span_unary(int op, tg_dtype dt, int64_t n, const void *a, int64_t sa, void *o)
{
    if (dt == TG_FLOAT64)
        un_f64(op, n, a, sa, o, 1);
    else
        un_f32(op, n, a, sa, o, 1);
}

/* The traced forms: what a plan runs (trace.c). */
static int run_binary(tg__step *e)
{
    binary_kernel(e->op, e->s, &e->out, &e->a, &e->b);
    return TG_OK;
}

static int run_unary(tg__step *e)
{
    unary_kernel(e->op, &e->out, &e->a);
    return TG_OK;
}

void tg__binary_kernel(int op, double s, tg_tensor *out, const tg_tensor *a,
                       const tg_tensor *b)
{
    TG__TRACED(binary_kernel(op, s, out, a, b), .run = run_binary,
               .kind = TG__STEP_BINARY, .op = op, .s = s, .out = *out, .a = *a, .b = *b);
    tg__touch(out);
}

void tg__unary_kernel(tg_unop op, tg_tensor *out, const tg_tensor *a)
{
    TG__TRACED(unary_kernel((int)op, out, a), .run = run_unary,
               .kind = TG__STEP_UNARY, .op = (int)op, .out = *out, .a = *a);
    tg__touch(out);
}

int tg__binary(const char *fn, tg_binop op, tg_tensor *out, const tg_tensor *a,
               const tg_tensor *b)
{
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if ((unsigned)op >= TG_BINOP_COUNT_)
        return tg__fail(TG_ERR_VALUE, fn, "unknown binary op %d", (int)op);
    if (check_dtypes(fn, a, b) || tg__broadcast_shape(fn, a, b, &nd, shape) ||
        check_out(fn, out, nd, shape, a->dtype))
        return tg_last_error();
    TG__TRACED(binary_kernel((int)op, 0.0, out, a, b), .run = run_binary,
               .kind = TG__STEP_BINARY, .op = (int)op, .out = *out, .a = *a, .b = *b);
    tg__touch(out);
    return TG_OK;
}

int tg__axpy(const char *fn, tg_tensor *out, double alpha, const tg_tensor *a)
{
    /* The optimiser's case, checked cheaply: the same shape and dtype into
     * a contiguous out (which cannot be a broadcast view). */
    if (out->dtype == a->dtype && tg__same_shape(out, a) && tg__contiguous(out)) {
        tg__binary_kernel(OP_AXPY, alpha, out, out, a);
        return TG_OK;
    }
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (check_dtypes(fn, out, a) || tg__broadcast_shape(fn, out, a, &nd, shape) ||
        check_out(fn, out, nd, shape, out->dtype))
        return tg_last_error();
    TG__TRACED(binary_kernel(OP_AXPY, alpha, out, out, a), .run = run_binary,
               .kind = TG__STEP_BINARY, .op = OP_AXPY, .s = alpha, .out = *out, .a = *out,
               .b = *a);
    tg__touch(out);
    return TG_OK;
}

static void scalar_kernel(tg_binop op, tg_tensor *out, const tg_tensor *a, double s,
                          bool scalar_first);
static int run_scalar(tg__step *e)
{
    scalar_kernel((tg_binop)e->op, &e->out, &e->a, e->s, e->flag);
    return TG_OK;
}

void tg__scalar_kernel(tg_binop op, tg_tensor *out, const tg_tensor *a, double s,
                       bool scalar_first)
{
    TG__TRACED(scalar_kernel(op, out, a, s, scalar_first), .run = run_scalar,
               .kind = TG__STEP_SCALAR, .op = (int)op, .s = s, .flag = scalar_first,
               .out = *out, .a = *a);
    tg__touch(out);
}

static void scalar_kernel(tg_binop op, tg_tensor *out, const tg_tensor *a, double s,
                          bool scalar_first)
{
    double d = s;
    float f = (float)s;
    const void *ps = a->dtype == TG_FLOAT64 ? (const void *)&d : (const void *)&f;
    int64_t sa;
    if (out->numel && tg__contiguous(out) && (sa = flat_stride(a, out)) >= 0) {
        const void *x = scalar_first ? ps : tg__data(a);
        const void *y = scalar_first ? tg__data(a) : ps;
        int64_t sx = scalar_first ? 0 : sa, sy = scalar_first ? sa : 0;
        if (out->numel >= TG__PAR_MIN) /* ps lives until the region ends */
            flat_parallel((int)op, 0.0, out->dtype, out->numel, x, sx, y, sy, tg__data(out));
        else if (out->dtype == TG_FLOAT64)
            bin_f64((int)op, 0.0, out->numel, x, sx, y, sy, tg__data(out), 1);
        else
            bin_f32((int)op, 0.0, out->numel, x, sx, y, sy, tg__data(out), 1);
    } else if (out->numel) {
        /* The scalar as a one-element operand with stride 0. */
        tg__storage st = {(void *)(uintptr_t)ps, 0, 1, 0};
        tg_tensor sc;
        tg__init_header(&sc, a->dtype, 0, NULL);
        sc.storage = &st;
        sc.flags = 0;
        if (scalar_first)
            binary_kernel((int)op, 0.0, out, &sc, a);
        else
            binary_kernel((int)op, 0.0, out, a, &sc);
    }
}

int tg__binary_scalar(const char *fn, tg_binop op, tg_tensor *out,
                      const tg_tensor *a, double s, bool scalar_first)
{
    if ((unsigned)op >= TG_BINOP_COUNT_)
        return tg__fail(TG_ERR_VALUE, fn, "unknown binary op %d", (int)op);
    if (check_out(fn, out, a->ndim, a->shape, a->dtype))
        return tg_last_error();
    tg__scalar_kernel(op, out, a, s, scalar_first);
    return TG_OK;
}

static void unary_kernel(int op, tg_tensor *out, const tg_tensor *a)
{
    if (out->numel == 0)
        return;
    if (tg__contiguous(out) && flat_same(a, out)) {
        if (out->numel >= TG__PAR_MIN)
            flat_parallel(op, 0.0, out->dtype, out->numel, tg__data(a), 1, NULL, 0,
                          tg__data(out));
        else if (out->dtype == TG_FLOAT64)
            un_f64(op, out->numel, tg__data(a), 1, tg__data(out), 1);
        else
            un_f32(op, out->numel, tg__data(a), 1, tg__data(out), 1);
        return;
    }
    walk w;
    walk_init(&w, out, a, NULL, 2);
    run(&w, op, 0.0, out->dtype, base_ptr(out), base_ptr(a), base_ptr(a), true);
}

int tg__unary(const char *fn, tg_unop op, tg_tensor *out, const tg_tensor *a)
{
    if ((unsigned)op >= TG_UNOP_COUNT_)
        return tg__fail(TG_ERR_VALUE, fn, "unknown unary op %d", (int)op);
    if (check_out(fn, out, a->ndim, a->shape, a->dtype))
        return tg_last_error();
    TG__TRACED(unary_kernel((int)op, out, a), .run = run_unary,
               .kind = TG__STEP_UNARY, .op = (int)op, .out = *out, .a = *a);
    tg__touch(out);
    return TG_OK;
}

static int run_copy_any(tg__step *e)
{
    tg__copy_any(&e->out, &e->a);
    return TG_OK;
}

int tg__copy(const char *fn, tg_tensor *dst, const tg_tensor *src)
{
    int nd;
    int64_t shape[TG_MAX_DIMS];
    tg_tensor trimmed;
    if (src->ndim > dst->ndim) { /* drop leading size-1 axes, as NumPy's copyto */
        int extra = src->ndim - dst->ndim;
        for (int k = 0; k < extra; k++)
            if (src->shape[k] != 1)
                extra = -1;
        if (extra > 0) {
            trimmed = *src;
            trimmed.ndim = dst->ndim;
            for (int k = 0; k < dst->ndim; k++) {
                trimmed.shape[k] = src->shape[k + extra];
                trimmed.strides[k] = src->strides[k + extra];
            }
            src = &trimmed;
        }
    }
    if (check_dtypes(fn, dst, src) || tg__broadcast_shape(fn, dst, src, &nd, shape) ||
        check_out(fn, dst, nd, shape, dst->dtype))
        return tg_last_error();
    if (dst->numel && dst != src && !tg__is_float(dst->dtype)) {
        /* walks src broadcast to dst's shape */
        TG__TRACED(tg__copy_any(dst, src), .run = run_copy_any, .out = *dst, .a = *src);
    } else if (dst->numel && dst != src) {
        tg_tensor v;
        if (src->ndim != dst->ndim) {
            if (tg__make_expand(fn, src, dst->ndim, dst->shape, &v))
                return tg_last_error();
            src = &v;
        }
        TG__TRACED(unary_kernel(OP_COPY, dst, src), .run = run_unary,
                   .kind = TG__STEP_UNARY, .op = OP_COPY, .out = *dst, .a = *src);
    }
    tg__touch(dst);
    return TG_OK;
}

/* ---- the walk for kernels of other files (functions.c) ------------------- */

void tg__map(tg__map_fn f, int op, double s, tg_tensor *out, const tg_tensor *a,
             const tg_tensor *b)
{
    if (out->numel == 0)
        return;
    const tg_tensor *bb = b ? b : a;
    int64_t sa = -1, sb = -1;
    if (tg__contiguous(out)) {
        sa = flat_stride(a, out);
        sb = b ? flat_stride(b, out) : 0;
    }
    if (sa >= 0 && sb >= 0) {
        f(op, s, out->dtype, out->numel, base_ptr(a), sa, base_ptr(bb), sb,
          base_ptr(out), 1);
        tg__touch(out);
        return;
    }
    walk w; /* as run() does, with f as the inner loop */
    walk_init(&w, out, a, b, b ? 3 : 2);
    int last = w.ndim - 1;
    int64_t n = w.shape[last], outer = 1, idx[TG_MAX_DIMS] = {0};
    int64_t es = (int64_t)tg__dsize(out->dtype);
    char *po = base_ptr(out);
    const char *pa = base_ptr(a), *pb = base_ptr(bb);
    for (int k = 0; k < last; k++)
        outer *= w.shape[k];
    for (int64_t it = 0; it < outer; it++) {
        f(op, s, out->dtype, n, pa, w.st[1][last], pb, w.st[2][last], po,
          w.st[0][last]);
        for (int k = last - 1; k >= 0; k--) {
            po += (ptrdiff_t)(w.st[0][k] * es);
            pa += (ptrdiff_t)(w.st[1][k] * es);
            pb += (ptrdiff_t)(w.st[2][k] * es);
            if (++idx[k] < w.shape[k])
                break;
            po -= (ptrdiff_t)(w.st[0][k] * w.shape[k] * es);
            pa -= (ptrdiff_t)(w.st[1][k] * w.shape[k] * es);
            pb -= (ptrdiff_t)(w.st[2][k] * w.shape[k] * es);
            idx[k] = 0;
        }
    }
    tg__touch(out);
}

/* ---- public wrappers ------------------------------------------------------ */

static const char *const binop_names[TG_BINOP_COUNT_] = {
    "tg_add", "tg_sub", "tg_mul", "tg_div", "tg_pow", "tg_maximum", "tg_minimum",
    "tg_binary"};
static const char *const unop_names[TG_UNOP_COUNT_] = {
    "tg_neg", "tg_exp", "tg_log", "tg_sqrt", "tg_abs", "tg_tanh", "tg_sigmoid",
    "tg_relu", "tg_unary", "tg_unary"};

static tg_tensor *binary_new(const char *fn, tg_binop op, const tg_tensor *a,
                             const tg_tensor *b)
{
    if (!a || !b)
        return NULL;
    if ((unsigned)op >= TG_BINOP_COUNT_) {
        tg__fail(TG_ERR_VALUE, fn, "unknown binary op %d", (int)op);
        return NULL;
    }
    if (a->dtype != b->dtype || !tg__is_float(a->dtype))
        return tg__binary_new_any(fn, op, a, b); /* promoted as NumPy does */
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__broadcast_shape(fn, a, b, &nd, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, a->dtype, nd, shape);
    if (out)
        binary_kernel((int)op, 0.0, out, a, b);
    return out;
}

tg_tensor *tg_binary(tg_binop op, const tg_tensor *a, const tg_tensor *b)
{
    return binary_new((unsigned)op < TG_BINOP_COUNT_ ? binop_names[op] : "tg_binary",
                      op, a, b);
}

tg_tensor *tg_add(const tg_tensor *a, const tg_tensor *b) { return binary_new("tg_add", TG_ADD, a, b); }
tg_tensor *tg_sub(const tg_tensor *a, const tg_tensor *b) { return binary_new("tg_sub", TG_SUB, a, b); }
tg_tensor *tg_mul(const tg_tensor *a, const tg_tensor *b) { return binary_new("tg_mul", TG_MUL, a, b); }
tg_tensor *tg_div(const tg_tensor *a, const tg_tensor *b) { return binary_new("tg_div", TG_DIV, a, b); }
tg_tensor *tg_pow(const tg_tensor *a, const tg_tensor *b) { return binary_new("tg_pow", TG_POW, a, b); }
tg_tensor *tg_maximum(const tg_tensor *a, const tg_tensor *b) { return binary_new("tg_maximum", TG_MAXIMUM, a, b); }
tg_tensor *tg_minimum(const tg_tensor *a, const tg_tensor *b) { return binary_new("tg_minimum", TG_MINIMUM, a, b); }

static tg_tensor *scalar_new(const char *fn, tg_binop op, const tg_tensor *a,
                             double s, bool scalar_first)
{
    if (!a)
        return NULL;
    if (!tg__is_float(a->dtype)) {
        if ((unsigned)op >= TG_BINOP_COUNT_) {
            tg__fail(TG_ERR_VALUE, fn, "unknown binary op %d", (int)op);
            return NULL;
        }
        return tg__scalar_new_any(fn, op, a, s, scalar_first);
    }
    tg_tensor *out = tg__new(fn, a->dtype, a->ndim, a->shape);
    if (out && tg__binary_scalar(fn, op, out, a, s, scalar_first)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

tg_tensor *tg_binary_scalar(tg_binop op, const tg_tensor *a, double s,
                            bool scalar_first)
{
    return scalar_new("tg_binary_scalar", op, a, s, scalar_first);
}

tg_tensor *tg_add_scalar(const tg_tensor *a, double s) { return scalar_new("tg_add_scalar", TG_ADD, a, s, false); }
tg_tensor *tg_sub_scalar(const tg_tensor *a, double s) { return scalar_new("tg_sub_scalar", TG_SUB, a, s, false); }
tg_tensor *tg_mul_scalar(const tg_tensor *a, double s) { return scalar_new("tg_mul_scalar", TG_MUL, a, s, false); }
tg_tensor *tg_div_scalar(const tg_tensor *a, double s) { return scalar_new("tg_div_scalar", TG_DIV, a, s, false); }
tg_tensor *tg_pow_scalar(const tg_tensor *a, double s) { return scalar_new("tg_pow_scalar", TG_POW, a, s, false); }

static tg_tensor *unary_new(const char *fn, tg_unop op, const tg_tensor *a)
{
    if (!a)
        return NULL;
    if (!tg__is_float(a->dtype)) {
        if ((unsigned)op >= TG_UNOP_COUNT_) {
            tg__fail(TG_ERR_VALUE, fn, "unknown unary op %d", (int)op);
            return NULL;
        }
        return tg__unary_new_any(fn, op, a);
    }
    tg_tensor *out = tg__new(fn, a->dtype, a->ndim, a->shape);
    if (out && tg__unary(fn, op, out, a)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

tg_tensor *tg_unary(tg_unop op, const tg_tensor *a)
{
    return unary_new((unsigned)op < TG_UNOP_COUNT_ ? unop_names[op] : "tg_unary", op, a);
}

tg_tensor *tg_neg(const tg_tensor *a) { return unary_new("tg_neg", TG_NEG, a); }
tg_tensor *tg_exp(const tg_tensor *a) { return unary_new("tg_exp", TG_EXP, a); }
tg_tensor *tg_log(const tg_tensor *a) { return unary_new("tg_log", TG_LOG, a); }
tg_tensor *tg_sqrt(const tg_tensor *a) { return unary_new("tg_sqrt", TG_SQRT, a); }
tg_tensor *tg_abs(const tg_tensor *a) { return unary_new("tg_abs", TG_ABS, a); }
tg_tensor *tg_tanh(const tg_tensor *a) { return unary_new("tg_tanh", TG_TANH, a); }
tg_tensor *tg_sigmoid(const tg_tensor *a) { return unary_new("tg_sigmoid", TG_SIGMOID, a); }
tg_tensor *tg_relu(const tg_tensor *a) { return unary_new("tg_relu", TG_RELU, a); }

int tg_binary_into(tg_binop op, tg_tensor *out, const tg_tensor *a,
                   const tg_tensor *b)
{
    if (!out || !a || !b)
        return tg__fail(TG_ERR_NULL, "tg_binary_into", "%s is NULL",
                        !out ? "out" : !a ? "a" : "b");
    const char *fn = "tg_binary_into";
    tg__trace_inputs(out, a, b);
    if (a->dtype != b->dtype || !tg__is_float(a->dtype)) {
        /* mixed or integer operands: out must have the promoted dtype */
        int nd;
        int64_t shape[TG_MAX_DIMS];
        if ((unsigned)op >= TG_BINOP_COUNT_)
            return tg__fail(TG_ERR_VALUE, fn, "unknown binary op %d", (int)op);
        if (tg__broadcast_shape(fn, a, b, &nd, shape) ||
            check_out(fn, out, nd, shape, tg__op_dtype(op, a->dtype, b->dtype)))
            return tg_last_error();
        return tg__binary_any(fn, op, out, a, b);
    }
    return tg__binary(fn, op, out, a, b);
}

int tg_binary_scalar_into(tg_binop op, tg_tensor *out, const tg_tensor *a,
                          double s, bool scalar_first)
{
    if (!out || !a)
        return tg__fail(TG_ERR_NULL, "tg_binary_scalar_into", "%s is NULL",
                        !out ? "out" : "a");
    if (!tg__is_float(a->dtype))
        return tg__need_float("tg_binary_scalar_into", "a", a->dtype);
    tg__trace_inputs(out, a, NULL);
    return tg__binary_scalar("tg_binary_scalar_into", op, out, a, s, scalar_first);
}

int tg_unary_into(tg_unop op, tg_tensor *out, const tg_tensor *a)
{
    if (!out || !a)
        return tg__fail(TG_ERR_NULL, "tg_unary_into", "%s is NULL", !out ? "out" : "a");
    if (!tg__is_float(a->dtype))
        return tg__need_float("tg_unary_into", "a", a->dtype);
    tg__trace_inputs(out, a, NULL);
    return tg__unary("tg_unary_into", op, out, a);
}

int tg_axpy_into(tg_tensor *out, double alpha, const tg_tensor *a)
{
    if (!out || !a)
        return tg__fail(TG_ERR_NULL, "tg_axpy_into", "%s is NULL", !out ? "out" : "a");
    if (!tg__is_float(out->dtype) || !tg__is_float(a->dtype))
        return tg__need_float("tg_axpy_into", tg__is_float(out->dtype) ? "a" : "out",
                              tg__is_float(out->dtype) ? a->dtype : out->dtype);
    tg__trace_inputs(out, a, NULL);
    return tg__axpy("tg_axpy_into", out, alpha, a);
}
