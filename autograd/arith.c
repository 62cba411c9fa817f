/* arith.c - the arithmetic ops: a op b with NumPy broadcasting (add, sub,
 * mul, div, pow, maximum, minimum), a op s with a scalar, and ge (not
 * differentiable). Each op's forward is followed by its rules: the rule
 * written with tg_ad_* ops (recorded when the walk is, so second order
 * works) and, for the common ones, the plain rule with the same values bit
 * for bit. A gradient here has the result's shape; the walk sums it back
 * to each input's shape. */
#include "internal.h"

/* ---- a op b ------------------------------------------------------------------ */

static tg_tensor *binary(tg_tape *T, const char *fn, const tga_op *op,
                         tg_binop kop, tg_tensor *a, tg_tensor *b);

/* Operands of different dtypes, or integer ones, promoted as NumPy does:
 * to a float result through recorded casts (so float32 with float64 gives
 * float64 and the float32 side's gradient is cast back), to an integer or
 * bool result directly (never recorded: integers carry no gradient). */
static TG_NOINLINE tg_tensor *binary_promoted(tg_tape *T, const char *fn,
                                              const tga_op *op, tg_binop kop,
                                              tg_tensor *a, tg_tensor *b)
{
    tg_dtype r = tg__op_dtype(kop, a->dtype, b->dtype);
    if (!tg__is_float(r)) {
        int nd;
        int64_t shape[TG_MAX_DIMS];
        if (tg__broadcast_shape(fn, a, b, &nd, shape))
            return NULL;
        tg_tensor *out = tga__new_like(T, fn, r, nd, shape);
        if (out && tg__binary_any(fn, kop, out, a, b))
            return tga__discard(T, out);
        return out;
    }
    tg_tensor *a2 = a->dtype == r ? a : tg_ad_cast(T, a, r);
    tg_tensor *b2 = b->dtype == r ? b : tg_ad_cast(T, b, r);
    tg_tensor *out = a2 && b2 ? binary(T, fn, op, kop, a2, b2) : NULL;
    if (!T) { /* the casts were the caller's heap tensors */
        if (a2 != a)
            tg_free(a2);
        if (b2 != b)
            tg_free(b2);
    }
    return out;
}

static tg_tensor *binary(tg_tape *T, const char *fn, const tga_op *op,
                         tg_binop kop, tg_tensor *a, tg_tensor *b)
{
    if (!a || !b || tga__check_input(T, fn, a) || tga__check_input(T, fn, b))
        return NULL;
    if (a->dtype != b->dtype || !tg__is_float(a->dtype))
        return binary_promoted(T, fn, op, kop, a, b);
    int nd = a->ndim;
    const int64_t *shape = a->shape;
    int64_t bshape[TG_MAX_DIMS];
    if (!tg__same_shape(a, b)) {
        if (tg__broadcast_shape(fn, a, b, &nd, bshape))
            return NULL;
        shape = bshape;
    }
    tg_tensor *out = tga__new_like(T, fn, a->dtype, nd, shape);
    if (!out)
        return NULL;
    tg__binary_kernel((int)kop, 0.0, out, a, b); /* operands checked above */
    return tga__finish(T, fn, op, out, a, b, NULL);
}

/* d(a+b) = da + db */
static void add_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    (void)T;
    (void)n;
    r->a = g;
    r->b = g;
}

static bool add_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    add_rule(T, n, g, r);
    (void)fn;
    return true;
}

static const tga_op op_add = {"add", add_rule, add_plain};
tg_tensor *tg_ad_add(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_add", &op_add, TG_ADD, a, b); }

/* d(a-b) = da - db */
static void sub_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    (void)n;
    r->a = g;
    if (r->db)
        r->b = tg_ad_neg(T, g);
}

static bool sub_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    (void)n;
    r->a = g;
    if (r->db)
        r->b = tga__plain_neg(T, fn, g);
    return true;
}

static const tga_op op_sub = {"sub", sub_rule, sub_plain};
tg_tensor *tg_ad_sub(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_sub", &op_sub, TG_SUB, a, b); }

/* d(ab) = b da + a db; d(aa) = 2a da, delivered once through a */
static void mul_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    if (a == b) {
        r->a = tg_ad_mul(T, g, tg_ad_mul_scalar(T, a, 2.0));
        r->db = false;
        return;
    }
    if (r->da)
        r->a = tg_ad_mul(T, g, b);
    if (r->db)
        r->b = tg_ad_mul(T, g, a);
}

static bool mul_plain(tg_tape *T, const char *fn, const tg__node *n,
                      tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    if (a == b) { /* g (a 2), one loop */
        r->a = tga__plain_op(T, fn, TG__OP_MUL_SCALED, 2.0, g, a);
        r->db = false;
        return true;
    }
    if (r->da)
        r->a = tga__plain_op(T, fn, TG_MUL, 0.0, g, b);
    if (r->db)
        r->b = tga__plain_op(T, fn, TG_MUL, 0.0, g, a);
    return true;
}

static const tga_op op_mul = {"mul", mul_rule, mul_plain};
tg_tensor *tg_ad_mul(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_mul", &op_mul, TG_MUL, a, b); }

/* d(a/b) = da / b - (a/b) db / b */
static void div_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *b = n->in[1], *y = n->out;
    if (r->da)
        r->a = tg_ad_div(T, g, b);
    if (r->db)
        r->b = tg_ad_neg(T, tg_ad_div(T, tg_ad_mul(T, g, y), b));
}

static const tga_op op_div = {"div", div_rule, NULL};
tg_tensor *tg_ad_div(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_div", &op_div, TG_DIV, a, b); }

/* d(a^b) = b a^(b-1) da + a^b log(a) db */
static void pow_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    if (r->da)
        r->a = tg_ad_mul(T, g, tg_ad_mul(T, b, tg_ad_pow(T, a, tg_ad_sub_scalar(T, b, 1.0))));
    if (r->db)
        r->b = tg_ad_mul(T, g, tg_ad_mul(T, y, tg_ad_log(T, a)));
}

static const tga_op op_pow = {"pow", pow_rule, NULL};
tg_tensor *tg_ad_pow(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_pow", &op_pow, TG_POW, a, b); }

/* A bool mask of x op y on T (never recorded), their broadcast shape. */
static tg_tensor *mask_of(tg_tape *T, tg_cmpop op, const tg_tensor *x,
                          const tg_tensor *y)
{
    const char *fn = "tg_ad_maximum/minimum (backward)";
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__broadcast_shape(fn, x, y, &nd, shape))
        return NULL;
    tg_tensor *m = tga__new_like(T, fn, TG_BOOL, nd, shape);
    if (m)
        tg__compare(op, m, x, y);
    return m;
}

/* The gradient goes to the larger (smaller) input; at a tie each gets half
 * of it, as in PyTorch. Chosen by where, so that what the other input did
 * not get is exactly zero (a NaN operand takes nothing either way). */
static void extremum_rule(tg_tape *T, const tg__node *n, tg_tensor *g,
                          tga_grads *r, bool is_max)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    tg_tensor *z = tga__zero(T, "tg_ad_maximum/minimum (backward)", g->dtype);
    tg_tensor *eq = mask_of(T, TG_CMP_EQ, a, b);
    tg_tensor *half = tg_ad_where(T, eq, tg_ad_mul_scalar(T, g, 0.5), z);
    if (r->da)
        r->a = tg_ad_where(T, mask_of(T, is_max ? TG_CMP_GT : TG_CMP_LT, a, b), g, half);
    if (r->db)
        r->b = tg_ad_where(T, mask_of(T, is_max ? TG_CMP_LT : TG_CMP_GT, a, b), g, half);
}

static void maximum_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    extremum_rule(T, n, g, r, true);
}

static void minimum_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    extremum_rule(T, n, g, r, false);
}

static const tga_op op_maximum = {"maximum", maximum_rule, NULL};
static const tga_op op_minimum = {"minimum", minimum_rule, NULL};
tg_tensor *tg_ad_maximum(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_maximum", &op_maximum, TG_MAXIMUM, a, b); }
tg_tensor *tg_ad_minimum(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_minimum", &op_minimum, TG_MINIMUM, a, b); }

/* Not differentiable: never recorded. */
tg_tensor *tg_ad_ge(tg_tape *T, tg_tensor *a, tg_tensor *b)
{
    return binary(T, "tg_ad_ge", NULL, TG_GE, a, b);
}

/* ---- a op s -------------------------------------------------------------------- */

static tg_tensor *scalar_op(tg_tape *T, const char *fn, const tga_op *op,
                            tg_binop kop, bool scalar_first, tg_tensor *a,
                            double s)
{
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    if (!tg__is_float(a->dtype)) /* never recorded: see binary_promoted */
        return tga__adopt(T, fn, tg__scalar_new_any(fn, kop, a, s, scalar_first));
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (!out)
        return NULL;
    tg__scalar_kernel(kop, out, a, s, scalar_first);
    tg__node *n;
    out = tga__finish(T, fn, op, out, a, NULL, &n);
    if (n)
        n->s = s;
    return out;
}

/* d(a+s) = d(a-s) = da */
static void shift_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    (void)T;
    (void)n;
    r->a = g;
}

static bool shift_plain(tg_tape *T, const char *fn, const tg__node *n,
                        tg_tensor *g, tga_grads *r)
{
    (void)fn;
    shift_rule(T, n, g, r);
    return true;
}

static const tga_op op_add_scalar = {"add_scalar", shift_rule, shift_plain};
static const tga_op op_sub_scalar = {"sub_scalar", shift_rule, shift_plain};
tg_tensor *tg_ad_add_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_add_scalar", &op_add_scalar, TG_ADD, false, a, s); }
tg_tensor *tg_ad_sub_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_sub_scalar", &op_sub_scalar, TG_SUB, false, a, s); }

/* d(s-a) = -da */
static void rsub_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    (void)n;
    r->a = tg_ad_neg(T, g);
}

static bool rsub_plain(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tga_grads *r)
{
    (void)n;
    r->a = tga__plain_neg(T, fn, g);
    return true;
}

static const tga_op op_rsub_scalar = {"rsub_scalar", rsub_rule, rsub_plain};
tg_tensor *tg_ad_rsub_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_rsub_scalar", &op_rsub_scalar, TG_SUB, true, a, s); }

/* d(a s) = s da */
static void muls_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_mul_scalar(T, g, n->s);
}

static bool muls_plain(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tga_grads *r)
{
    r->a = tga__plain_scalar(T, fn, TG_MUL, g, n->s);
    return true;
}

static const tga_op op_mul_scalar = {"mul_scalar", muls_rule, muls_plain};
tg_tensor *tg_ad_mul_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_mul_scalar", &op_mul_scalar, TG_MUL, false, a, s); }

/* d(a/s) = da / s */
static void divs_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_div_scalar(T, g, n->s);
}

static bool divs_plain(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tga_grads *r)
{
    r->a = tga__plain_scalar(T, fn, TG_DIV, g, n->s);
    return true;
}

static const tga_op op_div_scalar = {"div_scalar", divs_rule, divs_plain};
tg_tensor *tg_ad_div_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_div_scalar", &op_div_scalar, TG_DIV, false, a, s); }

/* d(s/a) = -(s/a) / a da */
static void rdivs_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_neg(T, tg_ad_div(T, tg_ad_mul(T, g, n->out), n->in[0]));
}

static const tga_op op_rdiv_scalar = {"rdiv_scalar", rdivs_rule, NULL};
tg_tensor *tg_ad_rdiv_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_rdiv_scalar", &op_rdiv_scalar, TG_DIV, true, a, s); }

/* d(a^s) = s a^(s-1) da */
static void pows_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    if (n->s == 0)
        r->a = tg_ad_mul_scalar(T, g, 0.0);
    else if (n->s == 1)
        r->a = g;
    else if (n->s == 2)
        r->a = tg_ad_mul(T, g, tg_ad_mul_scalar(T, a, 2.0));
    else
        r->a = tg_ad_mul(T, g, tg_ad_mul_scalar(T, tg_ad_pow_scalar(T, a, n->s - 1.0), n->s));
}

static bool pows_plain(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tga_grads *r)
{
    if (n->s == 1)
        r->a = g;
    else if (n->s == 2) /* g (a 2), one loop */
        r->a = tga__plain_op(T, fn, TG__OP_MUL_SCALED, 2.0, g, n->in[0]);
    else
        return false;
    return true;
}

static const tga_op op_pow_scalar = {"pow_scalar", pows_rule, pows_plain};
tg_tensor *tg_ad_pow_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_pow_scalar", &op_pow_scalar, TG_POW, false, a, s); }
