/* generic.c - elementwise work on any dtype: copies of integer and boolean
 * tensors, integer arithmetic, comparisons, where, and the promotions that
 * mixed operands need. The float kernels in elementwise.c are specialised
 * and vectorised for float32 and float64; the work here is written once
 * for every dtype with one odometer walk over the broadcast operands,
 * exact rather than fast (labels, indices and masks are small next to the
 * float data of a model). Integer arithmetic wraps around as NumPy's does,
 * computed in unsigned 64 bits so that C never sees a signed overflow. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* ---- a walk over out and up to three operands broadcast to it ------------ */

typedef struct walk {
    int ndim, nops;
    int64_t shape[TG_MAX_DIMS];
    int64_t st[4][TG_MAX_DIMS]; /* strides; 0 along broadcast axes */
    int64_t pos[4];             /* current storage positions */
    int64_t idx[TG_MAX_DIMS];
} walk;

/* t[0] is out (its own shape); the others broadcast to it. */
static void walk_init(walk *w, const tg_tensor *const *t, int n)
{
    const tg_tensor *out = t[0];
    w->ndim = out->ndim;
    w->nops = n;
    for (int k = 0; k < out->ndim; k++) {
        w->shape[k] = out->shape[k];
        w->idx[k] = 0;
    }
    for (int j = 0; j < n; j++) {
        int lead = out->ndim - t[j]->ndim;
        for (int k = 0; k < out->ndim; k++) {
            int kj = k - lead;
            w->st[j][k] = kj < 0 || t[j]->shape[kj] != out->shape[k]
                              ? 0
                              : t[j]->strides[kj];
        }
        w->pos[j] = t[j]->offset;
    }
}

static void walk_next(walk *w)
{
    for (int k = w->ndim - 1; k >= 0; k--) {
        for (int j = 0; j < w->nops; j++)
            w->pos[j] += w->st[j][k];
        if (++w->idx[k] < w->shape[k])
            return;
        for (int j = 0; j < w->nops; j++)
            w->pos[j] -= w->st[j][k] * w->shape[k];
        w->idx[k] = 0;
    }
}

/* ---- copies -------------------------------------------------------------- */

void tg__copy_any(tg_tensor *dst, const tg_tensor *src)
{
    const tg_tensor *t[2] = {dst, src};
    size_t es = tg__dsize(dst->dtype);
    char *o = dst->storage->data;
    const char *x = src->storage->data;
    walk w;
    walk_init(&w, t, 2);
    for (int64_t i = 0; i < dst->numel; i++, walk_next(&w))
        memcpy(o + (size_t)w.pos[0] * es, x + (size_t)w.pos[1] * es, es);
}

/* ---- integer arithmetic --------------------------------------------------- */

/* x^y for integers, y >= 0 (checked), by squaring, wrapping in 64 bits. */
static uint64_t ipow(uint64_t x, int64_t y)
{
    uint64_t r = 1;
    while (y > 0) {
        if (y & 1)
            r *= x;
        x *= x;
        y >>= 1;
    }
    return r;
}

static int64_t int_op(int op, int64_t x, int64_t y)
{
    uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
    switch (op) {
    case TG_ADD:
        return (int64_t)(ux + uy);
    case TG_SUB:
        return (int64_t)(ux - uy);
    case TG_MUL:
        return (int64_t)(ux * uy);
    case TG_POW:
        return (int64_t)ipow(ux, y);
    case TG_MAXIMUM:
        return x >= y ? x : y;
    case TG_MINIMUM:
        return x <= y ? x : y;
    case TG_GE:
        return x >= y;
    default:
        return 0;
    }
}

int tg__int_binary(const char *fn, int op, tg_tensor *out, const tg_tensor *a,
                   const tg_tensor *b)
{
    if (op == TG_POW) { /* NumPy refuses negative integer powers */
        const tg_tensor *t[2] = {b, b};
        walk w;
        walk_init(&w, t, 1);
        for (int64_t i = 0; i < b->numel; i++, walk_next(&w))
            if (tg__load_int(b, w.pos[0]) < 0)
                return tg__fail(TG_ERR_VALUE, fn,
                                "integers to negative integer powers are not "
                                "allowed (cast to a float dtype first)");
    }
    if (out->dtype == TG_BOOL && (op == TG_SUB || op == TG_POW))
        return tg__fail(TG_ERR_DTYPE, fn,
                        "%s is not defined for bool operands (NumPy refuses "
                        "it too)", op == TG_SUB ? "subtraction" : "pow");
    const tg_tensor *t[3] = {out, a, b};
    walk w;
    walk_init(&w, t, 3);
    for (int64_t i = 0; i < out->numel; i++, walk_next(&w)) {
        int64_t r = int_op(op, tg__load_int(a, w.pos[1]), tg__load_int(b, w.pos[2]));
        if (out->dtype == TG_BOOL) /* or (add), and (mul), as NumPy */
            r = op == TG_ADD ? (r != 0) : r;
        tg__store_int(out, w.pos[0], r);
    }
    tg__touch(out);
    return TG_OK;
}

int tg__int_unary(const char *fn, tg_unop op, tg_tensor *out, const tg_tensor *a)
{
    if (a->dtype == TG_BOOL && op == TG_NEG)
        return tg__fail(TG_ERR_DTYPE, fn,
                        "negating a bool is not defined (NumPy refuses it too; "
                        "use tg_logical_not)");
    const tg_tensor *t[2] = {out, a};
    walk w;
    walk_init(&w, t, 2);
    for (int64_t i = 0; i < out->numel; i++, walk_next(&w)) {
        int64_t x = tg__load_int(a, w.pos[1]), r;
        switch (op) {
        case TG_NEG:
            r = (int64_t)(0u - (uint64_t)x);
            break;
        case TG_ABS:
            r = x < 0 ? (int64_t)(0u - (uint64_t)x) : x;
            break;
        case TG_SIGN:
            r = (x > 0) - (x < 0);
            break;
        case TG_RELU:
            r = x > 0 ? x : 0;
            break;
        default: /* TG_STEP */
            r = x > 0;
            break;
        }
        tg__store_int(out, w.pos[0], r);
    }
    tg__touch(out);
    return TG_OK;
}

/* ---- comparisons and selection ---------------------------------------------- */

static bool compare(tg_cmpop op, const tg_tensor *a, int64_t pa,
                    const tg_tensor *b, int64_t pb)
{
    int c; /* -1, 0, 1; 2 when unordered (a NaN) */
    if (!tg__is_float(a->dtype) && !tg__is_float(b->dtype)) {
        int64_t x = tg__load_int(a, pa), y = tg__load_int(b, pb);
        c = x < y ? -1 : x > y;
    } else {
        double x = tg__load(a, pa), y = tg__load(b, pb);
        c = x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
    }
    switch (op) {
    case TG_CMP_EQ:
        return c == 0;
    case TG_CMP_NE:
        return c != 0;
    case TG_CMP_LT:
        return c == -1;
    case TG_CMP_LE:
        return c == -1 || c == 0;
    case TG_CMP_GT:
        return c == 1;
    default: /* TG_CMP_GE */
        return c == 1 || c == 0;
    }
}

static void compare_kernel(tg_cmpop op, tg_tensor *out, const tg_tensor *a,
                           const tg_tensor *b);
static int run_compare(tg__step *e)
{
    compare_kernel((tg_cmpop)e->op, &e->out, &e->a, &e->b);
    return TG_OK;
}

void tg__compare(tg_cmpop op, tg_tensor *out, const tg_tensor *a,
                 const tg_tensor *b)
{
    TG__TRACED(compare_kernel(op, out, a, b), .run = run_compare, .op = (int)op, .out = *out,
               .a = *a, .b = *b);
}

static void compare_kernel(tg_cmpop op, tg_tensor *out, const tg_tensor *a,
                 const tg_tensor *b)
{
    const tg_tensor *t[3] = {out, a, b};
    uint8_t *o = out->storage->data;
    walk w;
    walk_init(&w, t, 3);
    for (int64_t i = 0; i < out->numel; i++, walk_next(&w))
        o[w.pos[0]] = compare(op, a, w.pos[1], b, w.pos[2]);
    tg__touch(out);
}

/* How the walk w reads operand j: the period p such that the element at
 * out's flat index i is at pos[j] + i % p (the operand is contiguous in
 * its trailing axes, in out's order, and repeats over the leading ones),
 * 0 for a scalar that every element reads, -1 for any other layout. */
static int64_t period_of(const walk *w, int j)
{
    int k = w->ndim;
    int64_t inner = 1;
    while (k > 0 && (w->st[j][k - 1] == inner || w->shape[k - 1] == 1)) {
        inner *= w->shape[k - 1];
        k--;
    }
    for (int q = 0; q < k; q++)
        if (w->st[j][q] != 0 && w->shape[q] != 1)
            return -1;
    return inner == 1 ? 0 : inner;
}

/* tg__where over operands in memory order or repeating (attention's causal
 * mask (T, T) over (B, H, T, T), masked_fill's scalar): blocks of the
 * shortest period, in which every operand moves by 0 or 1 an element. */
static bool where_periodic(const walk *w, int64_t numel, size_t es, char *o,
                           const uint8_t *m, const char *x, const char *y)
{
    int64_t p[4], block = numel;
    for (int j = 0; j < 4; j++) {
        p[j] = period_of(w, j);
        if (p[j] < 0 || (j == 0 && p[0] != numel && numel > 1))
            return false;
        if (p[j] > 0 && p[j] < block)
            block = p[j];
    }
    if (es != 4 && es != 8)
        return false;
    for (int64_t i = 0; i < numel; i += block) {
        int64_t at[4];
        for (int j = 0; j < 4; j++)
            at[j] = w->pos[j] + (p[j] ? i % p[j] : 0);
        int64_t dm = p[1] != 0, dx = p[2] != 0, dy = p[3] != 0;
        const uint8_t *mb = m + at[1];
        if (es == 4) {
            uint32_t *ob = (uint32_t *)(void *)o + at[0];
            const uint32_t *xb = (const uint32_t *)(const void *)x + at[2];
            const uint32_t *yb = (const uint32_t *)(const void *)y + at[3];
            for (int64_t k = 0; k < block; k++)
                ob[k] = mb[k * dm] ? xb[k * dx] : yb[k * dy];
        } else {
            uint64_t *ob = (uint64_t *)(void *)o + at[0];
            const uint64_t *xb = (const uint64_t *)(const void *)x + at[2];
            const uint64_t *yb = (const uint64_t *)(const void *)y + at[3];
            for (int64_t k = 0; k < block; k++)
                ob[k] = mb[k * dm] ? xb[k * dx] : yb[k * dy];
        }
    }
    return true;
}

static void where(tg_tensor *out, const tg_tensor *mask, const tg_tensor *a,
                  const tg_tensor *b);
static int run_where(tg__step *e)
{
    where(&e->out, &e->a, &e->b, &e->c);
    return TG_OK;
}

void tg__where(tg_tensor *out, const tg_tensor *mask, const tg_tensor *a,
               const tg_tensor *b)
{
    TG__TRACED(where(out, mask, a, b), .run = run_where, .out = *out, .a = *mask,
               .b = *a, .c = *b);
}

static void where(tg_tensor *out, const tg_tensor *mask, const tg_tensor *a,
               const tg_tensor *b)
{
    const tg_tensor *t[4] = {out, mask, a, b};
    size_t es = tg__dsize(out->dtype);
    char *o = out->storage->data;
    const uint8_t *m = mask->storage->data;
    const char *x = a->storage->data, *y = b->storage->data;
    walk w;
    walk_init(&w, t, 4);
    if (where_periodic(&w, out->numel, es, o, m, x, y)) {
        tg__touch(out);
        return;
    }
    for (int64_t i = 0; i < out->numel; i++, walk_next(&w)) {
        const char *src = m[w.pos[1]] ? x + (size_t)w.pos[2] * es
                                      : y + (size_t)w.pos[3] * es;
        memcpy(o + (size_t)w.pos[0] * es, src, es);
    }
    tg__touch(out);
}

/* ---- the front of mixed and integer operands ------------------------------ */

/* t itself when it has dtype dt, else a converted copy kept in *tmp for the
 * caller to free; NULL on failure. */
static const tg_tensor *as_dtype(const char *fn, const tg_tensor *t, tg_dtype dt,
                                 tg_tensor **tmp)
{
    *tmp = NULL;
    if (t->dtype == dt)
        return t;
    *tmp = tg__new(fn, dt, t->ndim, t->shape);
    if (*tmp && tg__cast_into(fn, *tmp, t)) {
        tg_free(*tmp);
        *tmp = NULL;
    }
    return *tmp;
}

/* The dtype op computes in for operands of dtypes a and b: their common
 * type, and float64 for a division of integers (NumPy's true divide). */
tg_dtype tg__op_dtype(tg_binop op, tg_dtype a, tg_dtype b)
{
    tg_dtype r = tg_result_type(a, b);
    return op == TG_DIV && !tg__is_float(r) ? TG_FLOAT64 : r;
}

int tg__binary_any(const char *fn, tg_binop op, tg_tensor *out, const tg_tensor *a,
                   const tg_tensor *b)
{
    tg_dtype dt = out->dtype;
    tg_tensor *ta, *tb;
    const tg_tensor *a2 = as_dtype(fn, a, dt, &ta);
    const tg_tensor *b2 = a2 ? as_dtype(fn, b, dt, &tb) : NULL;
    int rc;
    if (!a2 || !b2)
        rc = tg_last_error();
    else if (tg__is_float(dt))
        rc = tg__binary(fn, op, out, a2, b2);
    else
        rc = tg__int_binary(fn, (int)op, out, a2, b2);
    tg_free(ta);
    if (a2)
        tg_free(tb);
    return rc;
}

tg_tensor *tg__binary_new_any(const char *fn, tg_binop op, const tg_tensor *a,
                              const tg_tensor *b)
{
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__broadcast_shape(fn, a, b, &nd, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, tg__op_dtype(op, a->dtype, b->dtype), nd, shape);
    if (out && tg__binary_any(fn, op, out, a, b)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

/* The dtype of a op s for a non-float a: a's own when s is one of its
 * values (and the op keeps integers), int64 for another integer, float64
 * for a fraction: NumPy's value-based rule (where NumPy would pick a
 * dtype tapegrad lacks, uint16 for uint8 + 1000, int64 stands in). */
static tg_dtype scalar_dtype(tg_binop op, tg_dtype a, double s)
{
    tg_dtype r;
    if (s == floor(s) && fabs(s) < 9.2e18)
        r = a != TG_BOOL && tg__int_fits(a, s) ? a : tg_result_type(a, TG_INT64);
    else
        r = TG_FLOAT64;
    return tg__op_dtype(op, r, r);
}

tg_tensor *tg__scalar_new_any(const char *fn, tg_binop op, const tg_tensor *a,
                              double s, bool scalar_first)
{
    tg_dtype dt = scalar_dtype(op, a->dtype, s);
    tg_tensor *sc = tg__new(fn, tg__is_float(dt) ? dt : TG_INT64, 0, NULL);
    if (!sc)
        return NULL;
    tg__store(sc, 0, s);
    tg_tensor *out = tg__new(fn, dt, a->ndim, a->shape);
    if (out && tg__binary_any(fn, op, out, scalar_first ? sc : a,
                              scalar_first ? a : sc)) {
        tg_free(out);
        out = NULL;
    }
    tg_free(sc);
    return out;
}

tg_tensor *tg__unary_new_any(const char *fn, tg_unop op, const tg_tensor *a)
{
    bool keeps_int = op == TG_NEG || op == TG_ABS || op == TG_SIGN ||
                     op == TG_RELU || op == TG_STEP;
    tg_dtype dt = keeps_int ? a->dtype : tg_result_type(a->dtype, TG_FLOAT32);
    tg_tensor *out = tg__new(fn, dt, a->ndim, a->shape);
    if (!out)
        return NULL;
    int rc;
    if (keeps_int) {
        rc = tg__int_unary(fn, op, out, a);
    } else {
        tg_tensor *tmp;
        const tg_tensor *a2 = as_dtype(fn, a, dt, &tmp);
        rc = a2 ? tg__unary(fn, op, out, a2) : tg_last_error();
        tg_free(tmp);
    }
    if (rc) {
        tg_free(out);
        return NULL;
    }
    return out;
}

/* ---- public: comparisons and selection ------------------------------------------ */

static tg_tensor *compare_new(const char *fn, tg_cmpop op, const tg_tensor *a,
                              const tg_tensor *b)
{
    if (!a || !b)
        return NULL;
    if ((unsigned)op >= TG_CMPOP_COUNT_) {
        tg__fail(TG_ERR_VALUE, fn, "unknown comparison %d", (int)op);
        return NULL;
    }
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__broadcast_shape(fn, a, b, &nd, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, TG_BOOL, nd, shape);
    if (out)
        tg__compare(op, out, a, b);
    return out;
}

tg_tensor *tg_compare(tg_cmpop op, const tg_tensor *a, const tg_tensor *b)
{
    return compare_new("tg_compare", op, a, b);
}

tg_tensor *tg_eq(const tg_tensor *a, const tg_tensor *b) { return compare_new("tg_eq", TG_CMP_EQ, a, b); }
tg_tensor *tg_ne(const tg_tensor *a, const tg_tensor *b) { return compare_new("tg_ne", TG_CMP_NE, a, b); }
tg_tensor *tg_lt(const tg_tensor *a, const tg_tensor *b) { return compare_new("tg_lt", TG_CMP_LT, a, b); }
tg_tensor *tg_le(const tg_tensor *a, const tg_tensor *b) { return compare_new("tg_le", TG_CMP_LE, a, b); }
tg_tensor *tg_gt(const tg_tensor *a, const tg_tensor *b) { return compare_new("tg_gt", TG_CMP_GT, a, b); }
tg_tensor *tg_ge(const tg_tensor *a, const tg_tensor *b) { return compare_new("tg_ge", TG_CMP_GE, a, b); }

tg_tensor *tg_compare_scalar(tg_cmpop op, const tg_tensor *a, double s)
{
    const char *fn = "tg_compare_scalar";
    if (!a)
        return NULL;
    /* an integer operand compares exactly with an integral s */
    bool exact = !tg__is_float(a->dtype) && s == floor(s) && fabs(s) < 9.2e18;
    tg_tensor *sc = tg__new(fn, exact ? TG_INT64 : TG_FLOAT64, 0, NULL);
    if (!sc)
        return NULL;
    tg__store(sc, 0, s);
    tg_tensor *out = compare_new(fn, op, a, sc);
    tg_free(sc);
    return out;
}

int tg__check_mask(const char *fn, const tg_tensor *mask)
{
    if (mask->dtype != TG_BOOL)
        return tg__fail(TG_ERR_DTYPE, fn,
                        "mask is %s; it must be bool (make one with tg_compare, "
                        "or tg_cast a 0/1 tensor to TG_BOOL)",
                        tg_dtype_name(mask->dtype));
    return TG_OK;
}

/* The shape three operands broadcast to. */
int tg__broadcast3(const char *fn, const tg_tensor *a, const tg_tensor *b,
                   const tg_tensor *c, int *nd, int64_t *shape)
{
    int n1;
    int64_t s1[TG_MAX_DIMS];
    if (tg__broadcast_shape(fn, a, b, &n1, s1))
        return tg_last_error();
    tg_tensor h;
    tg__init_header(&h, a->dtype, n1, s1);
    return tg__broadcast_shape(fn, &h, c, nd, shape);
}

tg_tensor *tg_where(const tg_tensor *mask, const tg_tensor *a, const tg_tensor *b)
{
    const char *fn = "tg_where";
    if (!mask || !a || !b)
        return NULL;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__check_mask(fn, mask) || tg__broadcast3(fn, mask, a, b, &nd, shape))
        return NULL;
    tg_dtype dt = tg_result_type(a->dtype, b->dtype);
    tg_tensor *ta = NULL, *tb = NULL, *out = NULL;
    const tg_tensor *a2 = as_dtype(fn, a, dt, &ta);
    const tg_tensor *b2 = a2 ? as_dtype(fn, b, dt, &tb) : NULL;
    if (a2 && b2 && (out = tg__new(fn, dt, nd, shape)))
        tg__where(out, mask, a2, b2);
    tg_free(ta);
    tg_free(tb);
    return out;
}

tg_tensor *tg_masked_fill(const tg_tensor *a, const tg_tensor *mask, double value)
{
    const char *fn = "tg_masked_fill";
    if (!a || !mask)
        return NULL;
    if (tg__check_mask(fn, mask))
        return NULL;
    if (!tg__is_float(a->dtype) && !tg__int_fits(a->dtype, value)) {
        tg__fail(TG_ERR_VALUE, fn, "value %.17g is not a %s value", value,
                 tg_dtype_name(a->dtype));
        return NULL;
    }
    tg_tensor v;
    if (tg__make_expand(fn, mask, a->ndim, a->shape, &v)) {
        char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
        tg__fail(TG_ERR_SHAPE, fn, "mask %s does not broadcast to a's shape %s",
                 tg__shape_fmt(mask->ndim, mask->shape, b1, sizeof b1),
                 tg__shape_fmt(a->ndim, a->shape, b2, sizeof b2));
        return NULL;
    }
    tg_tensor *sc = tg__new(fn, a->dtype, 0, NULL);
    tg_tensor *out = sc ? tg__new(fn, a->dtype, a->ndim, a->shape) : NULL;
    if (out) {
        tg__store(sc, 0, value);
        tg__where(out, &v, sc, a);
    }
    tg_free(sc);
    return out;
}

void tg__clamp_into(tg_tensor *out, const tg_tensor *a, double lo, double hi)
{
    const tg_tensor *t[2] = {out, a};
    walk w;
    walk_init(&w, t, 2);
    for (int64_t i = 0; i < out->numel; i++, walk_next(&w)) {
        if (tg__is_float(a->dtype)) {
            double x = tg__load(a, w.pos[1]);
            /* np.clip is minimum(maximum(x, lo), hi): NaN stays, hi wins */
            x = x < lo ? lo : x;
            tg__store(out, w.pos[0], x > hi ? hi : x);
        } else { /* bounds that are values of the dtype (tg_clamp checked) */
            int64_t x = tg__load_int(a, w.pos[1]);
            if ((double)x < lo)
                x = (int64_t)lo;
            if ((double)x > hi)
                x = (int64_t)hi;
            tg__store_int(out, w.pos[0], x);
        }
    }
    tg__touch(out);
}

int tg__check_clamp(const char *fn, double lo, double hi)
{
    if (isnan(lo) || isnan(hi))
        return tg__fail(TG_ERR_VALUE, fn, "bounds lo = %g and hi = %g must not be NaN",
                        lo, hi);
    return TG_OK;
}

tg_tensor *tg_clamp(const tg_tensor *a, double lo, double hi)
{
    const char *fn = "tg_clamp";
    if (!a || tg__check_clamp(fn, lo, hi))
        return NULL;
    if (!tg__is_float(a->dtype) && (!tg__int_fits(a->dtype, lo) ||
                                    !tg__int_fits(a->dtype, hi))) {
        /* np.clip with a bound that is not one of the integers' values:
         * in float64, as NumPy's value-based promotion */
        tg_tensor *f = tg_cast(a, TG_FLOAT64);
        tg_tensor *out = f ? tg_clamp(f, lo, hi) : NULL;
        tg_free(f);
        return out;
    }
    tg_tensor *out = tg__new(fn, a->dtype, a->ndim, a->shape);
    if (out)
        tg__clamp_into(out, a, lo, hi);
    return out;
}

void tg__clamp_mask(tg_tensor *mask, const tg_tensor *a, double lo, double hi)
{
    const tg_tensor *t[2] = {mask, a};
    uint8_t *m = mask->storage->data;
    walk w;
    walk_init(&w, t, 2);
    for (int64_t i = 0; i < mask->numel; i++, walk_next(&w)) {
        double x = tg__load(a, w.pos[1]);
        m[w.pos[0]] = x >= lo && x <= hi;
    }
    tg__touch(mask);
}

/* ---- reductions of integer and bool tensors ---------------------------------- */

int tg__int_reduce(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
                   int axis)
{
    /* out is fresh and contiguous, in C order of the kept axes; rs maps
     * t's index to out's position (0 along the reduced axes). */
    int64_t rs[TG_MAX_DIMS], s = 1;
    for (int k = t->ndim - 1; k >= 0; k--) {
        rs[k] = axis < 0 || k == axis ? 0 : s;
        s *= axis < 0 || k == axis ? 1 : t->shape[k];
    }
    int64_t nres = out->numel;
    int64_t *best = NULL;
    if (kind == 3 && nres) {
        best = tg__alloc((size_t)nres * sizeof *best);
        if (!best)
            return tg__oom(fn);
    }
    int64_t *o64 = kind != 2 ? (int64_t *)out->storage->data : NULL;
    if (kind == 0)
        for (int64_t i = 0; i < nres; i++)
            o64[i] = 0;
    int64_t idx[TG_MAX_DIMS] = {0}, pos = t->offset, r = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t x = tg__load_int(t, pos);
        int64_t along = axis < 0 ? i : idx[axis]; /* position among candidates */
        switch (kind) {
        case 0:
            o64[r] = (int64_t)((uint64_t)o64[r] + (uint64_t)x);
            break;
        case 2:
            if (along == 0 || x > tg__load_int(out, r))
                tg__store_int(out, r, x);
            break;
        default:
            if (along == 0 || x > best[r]) {
                best[r] = x;
                o64[r] = along;
            }
            break;
        }
        for (int k = t->ndim - 1; k >= 0; k--) {
            pos += t->strides[k];
            r += rs[k];
            if (++idx[k] < t->shape[k])
                break;
            pos -= t->strides[k] * t->shape[k];
            r -= rs[k] * t->shape[k];
            idx[k] = 0;
        }
    }
    tg__dealloc(best, (size_t)nres * sizeof *best);
    tg__touch(out);
    return TG_OK;
}
