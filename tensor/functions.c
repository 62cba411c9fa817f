/* functions.c - elementwise functions beyond elementwise.c's, float32 and
 * float64: sin cos log1p expm1; the activations softplus leaky_relu elu
 * gelu (erf and tanh forms) silu log_sigmoid; square reciprocal; floor
 * ceil round. The formulas are PyTorch's CPU kernels' (elu uses expm1
 * where PyTorch 1.13 writes exp(x) - 1), so results agree with it to
 * rounding, saturating the same way at +-1e4. One exception: float32 gelu
 * computes erf and e^x by branch-free polynomials (below) that vectorise,
 * within 2 float32 steps of libm's; float64 calls libm.
 *
 * Also the kernels of the tape (autograd/functions.c): derivatives that
 * have no public function (softplus', elu', the normal cdf and density of
 * gelu'), and
 * the fused plain rules, each g f'(y) in one loop doing the operations of
 * the op's rule in the rule's order, so that the two agree bit for bit. */
#include <string.h>
#include <tgmath.h>

#include "internal.h"

/* ---- float32 erf, vectorisable ------------------------------------------------- */

/* 1 + erf(x) in float32. erfc(z) for z = |x| by the Chebyshev fit of
 * Numerical Recipes' erfcc (relative error below 1.2e-7 for every z >= 0):
 *     erfc(z) = t e^(-z^2 + P(t)),   t = 1 / (1 + z/2),
 * P a polynomial of degree 9, and 1 + erf(x) = erfc(-x) is that for
 * x < 0, 2 - that for x >= 0: the tail that gelu multiplies by x keeps its
 * relative accuracy (1 - erf(|x|) would cancel). Branch-free, so the
 * activation loops vectorise (libm's erff is a call per element); float64
 * keeps libm's erf, the reference. NaN gives NaN; -inf 0, +inf 2. */
static inline float one_plus_erf_f(float x)
{
    float z = fabsf(x);
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float tail = t * tg__exp_nonpos_f(p - z * z);
    return tg__choose_f(-(int32_t)(x >= 0.0f), 2.0f - tail, tail);
}

static inline double one_plus_erf_d(double x) { return 1 + erf(x); }

/* e^x for the normal density, whose x is <= 0: libm's in float64, the
 * reference; tg__exp_nonpos_f in float32. */
static inline double exp_pdf_d(double x) { return exp(x); }
static inline float exp_pdf_f(float x) { return tg__exp_nonpos_f(x); }

/* ---- one element ------------------------------------------------------------- */

/* Each function once for double (suffix d) and once for float (f);
 * <tgmath.h> picks the float forms of libm for float arguments. */
#define ELEMENT_FUNCTIONS(T, S)                                                \
    /* The same operations as elementwise.c's sigmoid (a plain rule of       \
     * log_sigmoid and silu must match tg_ad_sigmoid bit for bit). */        \
    static inline T sigmoid_##S(T x)                                          \
    {                                                                          \
        if (x >= 0)                                                            \
            return (T)1 / ((T)1 + exp(-x));                                    \
        T e = exp(x);                                                          \
        return e / ((T)1 + e);                                                 \
    }                                                                          \
    /* log(1 + e^x), x itself past the threshold 20 (PyTorch's beta 1) */    \
    static inline T softplus_##S(T x) { return x > 20 ? x : log1p(exp(x)); }  \
    static inline T softplus_d_##S(T x)                                       \
    {                                                                          \
        if (x > 20)                                                            \
            return 1;                                                          \
        T z = exp(x);                                                          \
        return z / (z + (T)1);                                                 \
    }                                                                          \
    /* elu and its derivatives: the branch for x > 0 tested first, so NaN  \
     * takes the exponential one and stays NaN (as PyTorch's vector code) */\
    static inline T elu_##S(T x, T s) { return x > 0 ? x : expm1(x) * s; }    \
    static inline T elu_d_##S(T x, T s) { return x > 0 ? (T)1 : s * exp(x); } \
    static inline T elu_dd_##S(T x, T s) { return x > 0 ? (T)0 : s * exp(x); }\
    static inline T gelu_cdf_##S(T x)                                         \
    {                                                                          \
        return (T)0.5 * one_plus_erf_##S(x * (T)TG__GELU_ALPHA);               \
    }                                                                          \
    static inline T gelu_##S(T x)                                             \
    {                                                                          \
        return x * (T)0.5 * one_plus_erf_##S(x * (T)TG__GELU_ALPHA);           \
    }                                                                          \
    static inline T gelu_tanh_##S(T x)                                        \
    {                                                                          \
        T cube = x * x * x;                                                    \
        T inner = (T)TG__GELU_TANH_BETA * (x + (T)TG__GELU_TANH_KAPPA * cube); \
        return (T)0.5 * x * ((T)1 + tanh(inner));                              \
    }                                                                          \
    static inline T log_sigmoid_##S(T x)                                      \
    {                                                                          \
        return (x < 0 ? x : (T)0) - log1p(exp(-fabs(x)));                      \
    }                                                                          \
    /* The normal density c e^(a a (-1/2)), c = 1/sqrt(2 pi), gelu's pdf. */ \
    static inline T normal_pdf_##S(T a)                                       \
    {                                                                          \
        T q = a * a;                                                           \
        q = q * (T)-0.5;                                                       \
        q = exp_pdf_##S(q);                                                    \
        return q * (T)TG__GELU_PDF;                                            \
    }                                                                          \
    /* The plain rules. gelu: g (cdf + a pdf). */                            \
    static inline T gelu_grad_##S(T g, T a)                                   \
    {                                                                          \
        T q = normal_pdf_##S(a);                                               \
        q = a * q;                                                             \
        q = gelu_cdf_##S(a) + q;                                               \
        return g * q;                                                          \
    }                                                                          \
    /* pdf' = -a pdf: g ((-a) pdf) */                                         \
    static inline T normal_pdf_d_grad_##S(T g, T a)                           \
    {                                                                          \
        T q = -a * normal_pdf_##S(a);                                          \
        return g * q;                                                          \
    }                                                                          \
    /* gelu_tanh: g (0.5 (1 + t) + (0.5 a)(1 - t t)(beta (1 + 3 kappa a a)))  \
     * with t = tanh(beta (a + kappa a^3)), PyTorch's backward formula. */   \
    static inline T gelu_tanh_grad_##S(T g, T a)                              \
    {                                                                          \
        T sq = a * a;                                                          \
        T cube = sq * a;                                                       \
        T u = cube * (T)TG__GELU_TANH_KAPPA;                                   \
        u = a + u;                                                             \
        u = u * (T)TG__GELU_TANH_BETA;                                         \
        T t = tanh(u);                                                         \
        T left = a * (T)0.5;                                                   \
        T right = t + (T)1;                                                    \
        T dleft = right * (T)0.5;                                              \
        T dt = t * t;                                                          \
        dt = (T)1 - dt;                                                        \
        T din = sq * (T)(3 * TG__GELU_TANH_KAPPA);                             \
        din = din + (T)1;                                                      \
        din = din * (T)TG__GELU_TANH_BETA;                                     \
        T dright = left * dt;                                                  \
        dright = dright * din;                                                 \
        return g * (dleft + dright);                                           \
    }                                                                          \
    /* silu: (g s)(1 + a (1 - s)), s = sigmoid(a) */                          \
    static inline T silu_grad_##S(T g, T a)                                   \
    {                                                                          \
        T s = sigmoid_##S(a);                                                  \
        T q = (T)1 - s;                                                        \
        q = a * q;                                                             \
        q = q + (T)1;                                                          \
        T r = g * s;                                                           \
        return r * q;                                                          \
    }

ELEMENT_FUNCTIONS(double, d)
ELEMENT_FUNCTIONS(float, f)

/* ---- loops ------------------------------------------------------------------- */

/* o[i*so] = EXPR of x = a[i*sa] (the incoming gradient) and y = b[i*sb]. */
#define LOOP2(T, EXPR)                                                         \
    do {                                                                       \
        if (sa == 1 && sb == 1 && so == 1) {                                   \
            for (int64_t i = 0; i < n; i++) {                                  \
                T x = a[i], y = b[i];                                          \
                o[i] = (T)(EXPR);                                              \
            }                                                                  \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++) {                                  \
                T x = a[i * sa], y = b[i * sb];                                \
                o[i * so] = (T)(EXPR);                                         \
            }                                                                  \
        }                                                                      \
    } while (0)

/* f(x) for every code, in type T (suffix S), parameter s of type T. */
#define FORWARD_CASES(T, S)                                                    \
    case TG__FN_SIN: TG__LOOP1(T, sin(x)); break;                                  \
    case TG__FN_COS: TG__LOOP1(T, cos(x)); break;                                  \
    case TG__FN_LOG1P: TG__LOOP1(T, log1p(x)); break;                              \
    case TG__FN_EXPM1: TG__LOOP1(T, expm1(x)); break;                              \
    case TG__FN_SOFTPLUS: TG__LOOP1(T, softplus_##S(x)); break;                    \
    case TG__FN_LEAKY_RELU: TG__LOOP1(T, x > 0 ? x : x * s); break;                \
    case TG__FN_ELU: TG__LOOP1(T, elu_##S(x, s)); break;                           \
    case TG__FN_GELU: TG__LOOP1(T, gelu_##S(x)); break;                            \
    case TG__FN_GELU_TANH: TG__LOOP1(T, gelu_tanh_##S(x)); break;                  \
    case TG__FN_SILU: TG__LOOP1(T, x / ((T)1 + exp(-x))); break;                   \
    case TG__FN_LOG_SIGMOID: TG__LOOP1(T, log_sigmoid_##S(x)); break;              \
    case TG__FN_SQUARE: TG__LOOP1(T, x * x); break;                                \
    case TG__FN_RECIPROCAL: TG__LOOP1(T, (T)1 / x); break;                         \
    case TG__FN_FLOOR: TG__LOOP1(T, floor(x)); break;                              \
    case TG__FN_CEIL: TG__LOOP1(T, ceil(x)); break;                                \
    case TG__FN_ROUND: TG__LOOP1(T, nearbyint(x)); break; /* ties to even */       \
    case TG__FN_SOFTPLUS_D: TG__LOOP1(T, softplus_d_##S(x)); break;                \
    case TG__FN_LEAKY_D: TG__LOOP1(T, x > 0 ? (T)1 : s); break;                    \
    case TG__FN_ELU_D: TG__LOOP1(T, elu_d_##S(x, s)); break;                       \
    case TG__FN_ELU_DD: TG__LOOP1(T, elu_dd_##S(x, s)); break;                     \
    case TG__FN_GELU_CDF: TG__LOOP1(T, gelu_cdf_##S(x)); break;                    \
    case TG__FN_NORMAL_PDF: TG__LOOP1(T, normal_pdf_##S(x)); break;                \
    default: break

/* The plain rule of each differentiable code: x the incoming gradient, y
 * the input (the result for expm1, reciprocal and softplus'), written as
 * the rule in autograd/functions.c is. */
#define GRAD_CASES(T, S)                                                       \
    case TG__FN_SIN: LOOP2(T, x * cos(y)); break;                              \
    case TG__FN_COS: LOOP2(T, x * -sin(y)); break;                             \
    case TG__FN_LOG1P: LOOP2(T, x / (y + (T)1)); break;                        \
    case TG__FN_EXPM1: LOOP2(T, x * (y + (T)1)); break;                        \
    case TG__FN_SOFTPLUS: LOOP2(T, x * softplus_d_##S(y)); break;              \
    case TG__FN_LEAKY_RELU: LOOP2(T, x * (y > 0 ? (T)1 : s)); break;           \
    case TG__FN_ELU: LOOP2(T, x * elu_d_##S(y, s)); break;                     \
    case TG__FN_GELU: LOOP2(T, gelu_grad_##S(x, y)); break;                    \
    case TG__FN_GELU_TANH: LOOP2(T, gelu_tanh_grad_##S(x, y)); break;          \
    case TG__FN_SILU: LOOP2(T, silu_grad_##S(x, y)); break;                    \
    case TG__FN_LOG_SIGMOID: LOOP2(T, x * sigmoid_##S(-y)); break;             \
    case TG__FN_SQUARE: LOOP2(T, x * (y * (T)2)); break;                       \
    case TG__FN_RECIPROCAL: LOOP2(T, -x * (y * y)); break;                     \
    case TG__FN_SOFTPLUS_D: LOOP2(T, x * (y * ((T)1 - y))); break;             \
    case TG__FN_ELU_D: LOOP2(T, x * elu_dd_##S(y, s)); break;                  \
    case TG__FN_ELU_DD: LOOP2(T, x * elu_dd_##S(y, s)); break;                 \
    case TG__FN_GELU_CDF: LOOP2(T, x * normal_pdf_##S(y)); break;              \
    case TG__FN_NORMAL_PDF: LOOP2(T, normal_pdf_d_grad_##S(x, y)); break;      \
    default: break

TG_CLONES static void forward_f64(int op, double s, int64_t n, const double *a,
                                  int64_t sa, double *o, int64_t so)
{
    switch (op) { FORWARD_CASES(double, d); }
}

TG_CLONES_512 static void forward_f32(int op, float s, int64_t n, const float *a,
                                  int64_t sa, float *o, int64_t so)
{
    switch (op) { FORWARD_CASES(float, f); }
}

TG_CLONES static void grad_f64(int op, double s, int64_t n, const double *a,
                               int64_t sa, const double *b, int64_t sb, double *o,
                               int64_t so)
{
    switch (op) { GRAD_CASES(double, d); }
}

TG_CLONES_512 static void grad_f32(int op, float s, int64_t n, const float *a,
                               int64_t sa, const float *b, int64_t sb, float *o,
                               int64_t so)
{
    switch (op) { GRAD_CASES(float, f); }
}

/* The inner loops as tg__map calls them. */
static void forward_run(int op, double s, tg_dtype dt, int64_t n, const char *a,
                        int64_t sa, const char *b, int64_t sb, char *o, int64_t so)
{
    (void)b;
    (void)sb;
    if (dt == TG_FLOAT64)
        forward_f64(op, s, n, (const double *)a, sa, (double *)o, so);
    else
        forward_f32(op, (float)s, n, (const float *)a, sa, (float *)o, so);
}

static void grad_run(int op, double s, tg_dtype dt, int64_t n, const char *a,
                     int64_t sa, const char *b, int64_t sb, char *o, int64_t so)
{
    if (dt == TG_FLOAT64)
        grad_f64(op, s, n, (const double *)a, sa, (const double *)b, sb,
                 (double *)o, so);
    else
        grad_f32(op, (float)s, n, (const float *)a, sa, (const float *)b, sb,
                 (float *)o, so);
}

static int run_fn(tg__step *e)
{
    tg__map(forward_run, e->op, e->s, &e->out, &e->a, NULL);
    return TG_OK;
}

static int run_fn_grad(tg__step *e)
{
    tg__map(grad_run, e->op, e->s, &e->out, &e->a, &e->b);
    return TG_OK;
}

void tg__fn_kernel(int code, double s, tg_tensor *out, const tg_tensor *a)
{
    TG__TRACED(tg__map(forward_run, code, s, out, a, NULL), .run = run_fn, .op = code,
               .s = s, .out = *out, .a = *a);
}

void tg__fn_grad_kernel(int code, double s, tg_tensor *out, const tg_tensor *g,
                        const tg_tensor *y)
{
    TG__TRACED(tg__map(grad_run, code, s, out, g, y), .run = run_fn_grad, .op = code,
               .s = s, .out = *out, .a = *g, .b = *y);
}

/* ---- checks and the public functions --------------------------------------- */

int tg__fn_check(const char *fn, const tg_tensor *a, int code, double s)
{
    if (a->dtype != TG_FLOAT32 && a->dtype != TG_FLOAT64)
        return tg__fail(TG_ERR_DTYPE, fn,
                        "a is %s; this op needs a float dtype (%s to float32 or "
                        "float64 first)", tg_dtype_name(a->dtype), tg__cast_hint(fn));
    if ((code == TG__FN_LEAKY_RELU || code == TG__FN_ELU) && !isfinite(s))
        return tg__fail(TG_ERR_VALUE, fn, "%s is %g; it must be finite",
                        code == TG__FN_ELU ? "alpha" : "slope", s);
    return TG_OK;
}

static tg_tensor *function_new(const char *fn, int code, double s,
                               const tg_tensor *a)
{
    if (!a || tg__fn_check(fn, a, code, s))
        return NULL;
    tg_tensor *out = tg__new(fn, a->dtype, a->ndim, a->shape);
    if (out)
        tg__fn_kernel(code, s, out, a);
    return out;
}

tg_tensor *tg_sin(const tg_tensor *a) { return function_new("tg_sin", TG__FN_SIN, 0, a); }
tg_tensor *tg_cos(const tg_tensor *a) { return function_new("tg_cos", TG__FN_COS, 0, a); }
tg_tensor *tg_log1p(const tg_tensor *a) { return function_new("tg_log1p", TG__FN_LOG1P, 0, a); }
tg_tensor *tg_expm1(const tg_tensor *a) { return function_new("tg_expm1", TG__FN_EXPM1, 0, a); }
tg_tensor *tg_softplus(const tg_tensor *a) { return function_new("tg_softplus", TG__FN_SOFTPLUS, 0, a); }
tg_tensor *tg_leaky_relu(const tg_tensor *a, double slope) { return function_new("tg_leaky_relu", TG__FN_LEAKY_RELU, slope, a); }
tg_tensor *tg_elu(const tg_tensor *a, double alpha) { return function_new("tg_elu", TG__FN_ELU, alpha, a); }
tg_tensor *tg_gelu(const tg_tensor *a) { return function_new("tg_gelu", TG__FN_GELU, 0, a); }
tg_tensor *tg_gelu_tanh(const tg_tensor *a) { return function_new("tg_gelu_tanh", TG__FN_GELU_TANH, 0, a); }
tg_tensor *tg_silu(const tg_tensor *a) { return function_new("tg_silu", TG__FN_SILU, 0, a); }
tg_tensor *tg_log_sigmoid(const tg_tensor *a) { return function_new("tg_log_sigmoid", TG__FN_LOG_SIGMOID, 0, a); }
tg_tensor *tg_square(const tg_tensor *a) { return function_new("tg_square", TG__FN_SQUARE, 0, a); }
tg_tensor *tg_reciprocal(const tg_tensor *a) { return function_new("tg_reciprocal", TG__FN_RECIPROCAL, 0, a); }
tg_tensor *tg_floor(const tg_tensor *a) { return function_new("tg_floor", TG__FN_FLOOR, 0, a); }
tg_tensor *tg_ceil(const tg_tensor *a) { return function_new("tg_ceil", TG__FN_CEIL, 0, a); }
tg_tensor *tg_round(const tg_tensor *a) { return function_new("tg_round", TG__FN_ROUND, 0, a); }
