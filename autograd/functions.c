/* functions.c - the elementwise functions beyond unary.c's: sin cos log1p
 * expm1; the activations softplus leaky_relu elu gelu (erf and tanh forms)
 * silu log_sigmoid; square reciprocal; and floor ceil round, which are not
 * differentiable (never recorded, like sign). Kernels in tensor/functions.c.
 *
 * Each forward is followed by its rule, written with tg_ad_* ops so that a
 * recorded walk can be differentiated again, and by its plain rule: the
 * same operations fused into one loop (tg__fn_grad_kernel). A derivative
 * that no public op computes is an op of its own here, with a rule of its
 * own: softplus' (a sigmoid that is exactly 1 past the threshold), elu'
 * and elu'' (whose derivative is itself), and gelu's normal cdf and
 * density. So any order of derivative works, as in PyTorch. The parameter
 * of leaky_relu (slope) and elu (alpha) is kept in the record's s. */
#include "internal.h"

/* out = f(a) for a TG__FN_* code with parameter s, recorded with op (NULL:
 * never recorded). */
static tg_tensor *fn_op(tg_tape *T, const char *fn, const tga_op *op, int code,
                        double s, tg_tensor *a)
{
    if (!a || tga__check_input(T, fn, a) || tg__fn_check(fn, a, code, s))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (!out)
        return NULL;
    tg__fn_kernel(code, s, out, a);
    tg__node *n;
    out = tga__finish(T, fn, op, out, a, NULL, &n);
    if (n)
        n->s = s;
    return out;
}

/* The plain rule of code: g f'(y) in one loop, y the record's input or
 * (of_result) its result. */
static bool plain_fn(tg_tape *T, const char *fn, const tg__node *n, tg_tensor *g,
                     tga_grads *r, int code, bool of_result)
{
    r->a = tga__plain_new(T, fn, g);
    if (r->a)
        tg__fn_grad_kernel(code, n->s, r->a, g, of_result ? n->out : n->in[0]);
    return true;
}

/* ---- sin cos log1p expm1 ------------------------------------------------------ */

/* d sin a = cos a da */
static void sin_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, tg_ad_cos(T, n->in[0]));
}

static bool sin_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_SIN, false);
}

static const tga_op op_sin = {"sin", sin_rule, sin_plain};
tg_tensor *tg_ad_sin(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_sin", &op_sin, TG__FN_SIN, 0, a); }

/* d cos a = -sin a da */
static void cos_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, tg_ad_neg(T, tg_ad_sin(T, n->in[0])));
}

static bool cos_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_COS, false);
}

static const tga_op op_cos = {"cos", cos_rule, cos_plain};
tg_tensor *tg_ad_cos(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_cos", &op_cos, TG__FN_COS, 0, a); }

/* d log(1 + a) = da / (1 + a) */
static void log1p_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_div(T, g, tg_ad_add_scalar(T, n->in[0], 1.0));
}

static bool log1p_plain(tg_tape *T, const char *fn, const tg__node *n,
                        tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_LOG1P, false);
}

static const tga_op op_log1p = {"log1p", log1p_rule, log1p_plain};
tg_tensor *tg_ad_log1p(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_log1p", &op_log1p, TG__FN_LOG1P, 0, a); }

/* d (e^a - 1) = e^a da = (y + 1) da */
static void expm1_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, tg_ad_add_scalar(T, n->out, 1.0));
}

static bool expm1_plain(tg_tape *T, const char *fn, const tg__node *n,
                        tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_EXPM1, true);
}

static const tga_op op_expm1 = {"expm1", expm1_rule, expm1_plain};
tg_tensor *tg_ad_expm1(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_expm1", &op_expm1, TG__FN_EXPM1, 0, a); }

/* ---- softplus ------------------------------------------------------------------ */

/* softplus'(a) = sigmoid(a), and exactly 1 where a > 20 (the forward is a
 * itself there). Its own derivative is y (1 - y) of its result y, which
 * is 0 past the threshold, as PyTorch's double backward. */
static void softplus_d_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *y = n->out;
    r->a = tg_ad_mul(T, g, tg_ad_mul(T, y, tg_ad_rsub_scalar(T, y, 1.0)));
}

static bool softplus_d_plain(tg_tape *T, const char *fn, const tg__node *n,
                             tg_tensor *g, tga_grads *r)
{
    r->a = tga__plain_op(T, fn, TG__OP_SIGMOID_GRAD, 0.0, g, n->out);
    return true;
}

static const tga_op op_softplus_d = {"softplus (backward)", softplus_d_rule,
                                     softplus_d_plain};

static tg_tensor *softplus_d(tg_tape *T, tg_tensor *a)
{
    return fn_op(T, "tg_ad_softplus (backward)", &op_softplus_d, TG__FN_SOFTPLUS_D,
                 0, a);
}

/* d softplus(a) = softplus'(a) da */
static void softplus_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, softplus_d(T, n->in[0]));
}

static bool softplus_plain(tg_tape *T, const char *fn, const tg__node *n,
                           tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_SOFTPLUS, false);
}

static const tga_op op_softplus = {"softplus", softplus_rule, softplus_plain};
tg_tensor *tg_ad_softplus(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_softplus", &op_softplus, TG__FN_SOFTPLUS, 0, a); }

/* ---- leaky_relu and elu -------------------------------------------------------- */

/* d leaky_relu(a) = (a > 0 ? 1 : slope) da: a constant factor (never
 * recorded), so the second derivative is 0, as PyTorch's. */
static void leaky_relu_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, fn_op(T, "tg_ad_leaky_relu (backward)", NULL,
                                 TG__FN_LEAKY_D, n->s, n->in[0]));
}

static bool leaky_relu_plain(tg_tape *T, const char *fn, const tg__node *n,
                             tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_LEAKY_RELU, false);
}

static const tga_op op_leaky_relu = {"leaky_relu", leaky_relu_rule, leaky_relu_plain};

tg_tensor *tg_ad_leaky_relu(tg_tape *T, tg_tensor *a, double slope)
{
    return fn_op(T, "tg_ad_leaky_relu", &op_leaky_relu, TG__FN_LEAKY_RELU, slope, a);
}

/* elu''(a) = alpha e^a where a <= 0, else 0: its own derivative. */
static tg_tensor *elu_dd(tg_tape *T, tg_tensor *a, double alpha);

static void elu_dd_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, elu_dd(T, n->in[0], n->s));
}

static bool elu_dd_plain(tg_tape *T, const char *fn, const tg__node *n,
                         tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_ELU_DD, false);
}

static const tga_op op_elu_dd = {"elu (second derivative)", elu_dd_rule, elu_dd_plain};

static tg_tensor *elu_dd(tg_tape *T, tg_tensor *a, double alpha)
{
    return fn_op(T, "tg_ad_elu (backward)", &op_elu_dd, TG__FN_ELU_DD, alpha, a);
}

/* elu'(a) = alpha e^a where a <= 0, else 1; d elu' = elu'' da */
static void elu_d_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, elu_dd(T, n->in[0], n->s));
}

static bool elu_d_plain(tg_tape *T, const char *fn, const tg__node *n,
                        tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_ELU_D, false);
}

static const tga_op op_elu_d = {"elu (backward)", elu_d_rule, elu_d_plain};

/* d elu(a) = elu'(a) da */
static void elu_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, fn_op(T, "tg_ad_elu (backward)", &op_elu_d, TG__FN_ELU_D,
                                 n->s, n->in[0]));
}

static bool elu_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_ELU, false);
}

static const tga_op op_elu = {"elu", elu_rule, elu_plain};

tg_tensor *tg_ad_elu(tg_tape *T, tg_tensor *a, double alpha)
{
    return fn_op(T, "tg_ad_elu", &op_elu, TG__FN_ELU, alpha, a);
}

/* ---- gelu ------------------------------------------------------------------------ */

/* d pdf(a) = -a pdf(a) da, pdf(a) the record's result */
static void normal_pdf_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, tg_ad_mul(T, tg_ad_neg(T, n->in[0]), n->out));
}

static bool normal_pdf_plain(tg_tape *T, const char *fn, const tg__node *n,
                             tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_NORMAL_PDF, false);
}

static const tga_op op_normal_pdf = {"gelu pdf (backward)", normal_pdf_rule,
                                     normal_pdf_plain};

/* The normal density c e^(a a (-1/2)), c = 1/sqrt(2 pi), as one op: its
 * kernel vectorises in float32 (tensor/functions.c), where e^x, x <= 0, is
 * a polynomial rather than libm's expf. */
static tg_tensor *normal_pdf(tg_tape *T, tg_tensor *a)
{
    return fn_op(T, "tg_ad_gelu (backward)", &op_normal_pdf, TG__FN_NORMAL_PDF, 0, a);
}

/* d Phi(a) = pdf(a) da */
static void gelu_cdf_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, normal_pdf(T, n->in[0]));
}

static bool gelu_cdf_plain(tg_tape *T, const char *fn, const tg__node *n,
                           tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_GELU_CDF, false);
}

static const tga_op op_gelu_cdf = {"gelu (backward)", gelu_cdf_rule, gelu_cdf_plain};

/* d a Phi(a) = (Phi(a) + a pdf(a)) da, PyTorch's cdf + x pdf */
static void gelu_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    tg_tensor *cdf = fn_op(T, "tg_ad_gelu (backward)", &op_gelu_cdf,
                           TG__FN_GELU_CDF, 0, a);
    r->a = tg_ad_mul(T, g, tg_ad_add(T, cdf, tg_ad_mul(T, a, normal_pdf(T, a))));
}

static bool gelu_plain(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_GELU, false);
}

static const tga_op op_gelu = {"gelu", gelu_rule, gelu_plain};
tg_tensor *tg_ad_gelu(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_gelu", &op_gelu, TG__FN_GELU, 0, a); }

/* gelu_tanh(a) = (a/2)(1 + t), t = tanh(u), u = beta (a + kappa a^3):
 * d = (1 + t)/2 + (a/2)(1 - t t) beta (1 + 3 kappa a a), PyTorch's
 * backward formula, every step an op. */
static void gelu_tanh_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    tg_tensor *sq = tg_ad_mul(T, a, a);
    tg_tensor *cube = tg_ad_mul(T, sq, a);
    tg_tensor *u = tg_ad_add(T, a, tg_ad_mul_scalar(T, cube, TG__GELU_TANH_KAPPA));
    tg_tensor *t = tg_ad_tanh(T, tg_ad_mul_scalar(T, u, TG__GELU_TANH_BETA));
    tg_tensor *left = tg_ad_mul_scalar(T, a, 0.5);
    tg_tensor *dleft = tg_ad_mul_scalar(T, tg_ad_add_scalar(T, t, 1.0), 0.5);
    tg_tensor *dt = tg_ad_rsub_scalar(T, tg_ad_mul(T, t, t), 1.0);
    tg_tensor *din = tg_ad_mul_scalar(T, sq, 3 * TG__GELU_TANH_KAPPA);
    din = tg_ad_mul_scalar(T, tg_ad_add_scalar(T, din, 1.0), TG__GELU_TANH_BETA);
    tg_tensor *dright = tg_ad_mul(T, tg_ad_mul(T, left, dt), din);
    r->a = tg_ad_mul(T, g, tg_ad_add(T, dleft, dright));
}

static bool gelu_tanh_plain(tg_tape *T, const char *fn, const tg__node *n,
                            tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_GELU_TANH, false);
}

static const tga_op op_gelu_tanh = {"gelu_tanh", gelu_tanh_rule, gelu_tanh_plain};
tg_tensor *tg_ad_gelu_tanh(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_gelu_tanh", &op_gelu_tanh, TG__FN_GELU_TANH, 0, a); }

/* ---- silu and log_sigmoid --------------------------------------------------------- */

/* d a s(a) = (s + a s (1 - s)) da, as PyTorch: (g s)(1 + a (1 - s)) */
static void silu_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0], *s = tg_ad_sigmoid(T, a);
    tg_tensor *q = tg_ad_add_scalar(T, tg_ad_mul(T, a, tg_ad_rsub_scalar(T, s, 1.0)), 1.0);
    r->a = tg_ad_mul(T, tg_ad_mul(T, g, s), q);
}

static bool silu_plain(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_SILU, false);
}

static const tga_op op_silu = {"silu", silu_rule, silu_plain};
tg_tensor *tg_ad_silu(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_silu", &op_silu, TG__FN_SILU, 0, a); }

/* d log s(a) = (1 - s(a)) da = s(-a) da */
static void log_sigmoid_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, tg_ad_sigmoid(T, tg_ad_neg(T, n->in[0])));
}

static bool log_sigmoid_plain(tg_tape *T, const char *fn, const tg__node *n,
                              tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_LOG_SIGMOID, false);
}

static const tga_op op_log_sigmoid = {"log_sigmoid", log_sigmoid_rule, log_sigmoid_plain};
tg_tensor *tg_ad_log_sigmoid(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_log_sigmoid", &op_log_sigmoid, TG__FN_LOG_SIGMOID, 0, a); }

/* ---- square and reciprocal --------------------------------------------------------- */

/* d a^2 = 2 a da */
static void square_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul(T, g, tg_ad_mul_scalar(T, n->in[0], 2.0));
}

static bool square_plain(tg_tape *T, const char *fn, const tg__node *n,
                         tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_SQUARE, false);
}

static const tga_op op_square = {"square", square_rule, square_plain};
tg_tensor *tg_ad_square(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_square", &op_square, TG__FN_SQUARE, 0, a); }

/* d (1/a) = -da / a^2 = -y^2 da, as PyTorch: (-g)(y y) */
static void reciprocal_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *y = n->out;
    r->a = tg_ad_mul(T, tg_ad_neg(T, g), tg_ad_mul(T, y, y));
}

static bool reciprocal_plain(tg_tape *T, const char *fn, const tg__node *n,
                             tg_tensor *g, tga_grads *r)
{
    return plain_fn(T, fn, n, g, r, TG__FN_RECIPROCAL, true);
}

static const tga_op op_reciprocal = {"reciprocal", reciprocal_rule, reciprocal_plain};
tg_tensor *tg_ad_reciprocal(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_reciprocal", &op_reciprocal, TG__FN_RECIPROCAL, 0, a); }

/* ---- not differentiable: never recorded ------------------------------------------- */

tg_tensor *tg_ad_floor(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_floor", NULL, TG__FN_FLOOR, 0, a); }
tg_tensor *tg_ad_ceil(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_ceil", NULL, TG__FN_CEIL, 0, a); }
tg_tensor *tg_ad_round(tg_tape *T, tg_tensor *a) { return fn_op(T, "tg_ad_round", NULL, TG__FN_ROUND, 0, a); }
