/* ops.c - every differentiable op: its forward (a tensor/ kernel writing
 * into a tape-owned result, plus a record) and, in tga__backward_rule, its
 * derivative written with the same ops so that a backward pass can itself
 * be recorded (second order). An unrecorded backward runs the common rules
 * as plain, fused kernels instead (plain_rule), with the same results. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* ---- forward plumbing ----------------------------------------------------- */

static tg_tensor *discard(tg_tape *T, tg_tensor *out)
{
    if (!T)
        tg_free(out);
    return NULL;
}

/* Records out = op(a, b) if needed; on failure releases a heap result. */
static tg_tensor *finish(tg_tape *T, const char *fn, int op, tg_tensor *out,
                         tg_tensor *a, tg_tensor *b, tg__node **node)
{
    if (node)
        *node = NULL;
    if (!tga__wants_record(T, a, b))
        return out;
    tg__node *n = tga__record(T, fn, op, out, a, b);
    if (!n)
        return discard(T, out);
    if (node)
        *node = n;
    return out;
}

static tg_tensor *binary(tg_tape *T, const char *fn, int op, tg_binop kop,
                         tg_tensor *a, tg_tensor *b)
{
    if (!a || !b || tga__check_input(T, fn, a) || tga__check_input(T, fn, b))
        return NULL;
    if (a->dtype != b->dtype) {
        tg__fail(TG_ERR_DTYPE, fn, "dtypes %s and %s differ (use %s)",
                 tg_dtype_name(a->dtype), tg_dtype_name(b->dtype),
                 tg__cast_hint(fn));
        return NULL;
    }
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
    return finish(T, fn, op, out, a, b, NULL);
}

tg_tensor *tg_ad_add(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_add", TGA_ADD, TG_ADD, a, b); }
tg_tensor *tg_ad_sub(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_sub", TGA_SUB, TG_SUB, a, b); }
tg_tensor *tg_ad_mul(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_mul", TGA_MUL, TG_MUL, a, b); }
tg_tensor *tg_ad_div(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_div", TGA_DIV, TG_DIV, a, b); }
tg_tensor *tg_ad_pow(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_pow", TGA_POW, TG_POW, a, b); }
tg_tensor *tg_ad_maximum(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_maximum", TGA_MAXIMUM, TG_MAXIMUM, a, b); }
tg_tensor *tg_ad_minimum(tg_tape *T, tg_tensor *a, tg_tensor *b) { return binary(T, "tg_ad_minimum", TGA_MINIMUM, TG_MINIMUM, a, b); }

/* Not differentiable: never recorded. */
tg_tensor *tg_ad_ge(tg_tape *T, tg_tensor *a, tg_tensor *b)
{
    bool was_paused = T ? tg_tape_pause(T, true) : true;
    tg_tensor *out = binary(T, "tg_ad_ge", TGA_OP_COUNT, TG_GE, a, b);
    if (T)
        tg_tape_pause(T, was_paused);
    return out;
}

static tg_tensor *scalar_op(tg_tape *T, const char *fn, int op, tg_binop kop,
                            bool scalar_first, tg_tensor *a, double s)
{
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (!out)
        return NULL;
    tg__scalar_kernel(kop, out, a, s, scalar_first);
    tg__node *n;
    out = finish(T, fn, op, out, a, NULL, &n);
    if (n)
        n->s = s;
    return out;
}

tg_tensor *tg_ad_add_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_add_scalar", TGA_ADDS, TG_ADD, false, a, s); }
tg_tensor *tg_ad_sub_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_sub_scalar", TGA_SUBS, TG_SUB, false, a, s); }
tg_tensor *tg_ad_rsub_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_rsub_scalar", TGA_RSUBS, TG_SUB, true, a, s); }
tg_tensor *tg_ad_mul_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_mul_scalar", TGA_MULS, TG_MUL, false, a, s); }
tg_tensor *tg_ad_div_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_div_scalar", TGA_DIVS, TG_DIV, false, a, s); }
tg_tensor *tg_ad_rdiv_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_rdiv_scalar", TGA_RDIVS, TG_DIV, true, a, s); }
tg_tensor *tg_ad_pow_scalar(tg_tape *T, tg_tensor *a, double s) { return scalar_op(T, "tg_ad_pow_scalar", TGA_POWS, TG_POW, false, a, s); }

static tg_tensor *unary(tg_tape *T, const char *fn, int op, tg_unop kop,
                        tg_tensor *a)
{
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (!out)
        return NULL;
    tg__unary_kernel(kop, out, a);
    if (op == TGA_OP_COUNT) /* not differentiable */
        return out;
    return finish(T, fn, op, out, a, NULL, NULL);
}

tg_tensor *tg_ad_neg(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_neg", TGA_NEG, TG_NEG, a); }
tg_tensor *tg_ad_exp(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_exp", TGA_EXP, TG_EXP, a); }
tg_tensor *tg_ad_log(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_log", TGA_LOG, TG_LOG, a); }
tg_tensor *tg_ad_sqrt(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_sqrt", TGA_SQRT, TG_SQRT, a); }
tg_tensor *tg_ad_abs(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_abs", TGA_ABS, TG_ABS, a); }
tg_tensor *tg_ad_tanh(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_tanh", TGA_TANH, TG_TANH, a); }
tg_tensor *tg_ad_sigmoid(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_sigmoid", TGA_SIGMOID, TG_SIGMOID, a); }
tg_tensor *tg_ad_relu(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_relu", TGA_RELU, TG_RELU, a); }
tg_tensor *tg_ad_sign(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_sign", TGA_OP_COUNT, TG_SIGN, a); }
tg_tensor *tg_ad_step(tg_tape *T, tg_tensor *a) { return unary(T, "tg_ad_step", TGA_OP_COUNT, TG_STEP, a); }

tg_tensor *tg_ad_detach(tg_tape *T, tg_tensor *a)
{
    const char *fn = "tg_ad_detach";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (out && tg__copy(fn, out, a))
        return discard(T, out);
    return out;
}

/* ---- reductions ------------------------------------------------------------- */

static tg_tensor *reduce(tg_tape *T, const char *fn, int op, int kind,
                         tg_tensor *a, int axis, bool keepdims, bool all)
{
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    int ax = -1, nd = 0;
    int64_t shape[TG_MAX_DIMS];
    if (!all) {
        if (tg__axis(fn, axis, a->ndim, &ax))
            return NULL;
        tg__reduced_shape(a, ax, keepdims, &nd, shape);
    }
    tg_tensor *out = tga__new_like(T, fn, a->dtype, nd, shape);
    if (!out)
        return NULL;
    if (tg__reduce(fn, kind, out, a, ax))
        return discard(T, out);
    tg__node *n;
    out = finish(T, fn, op, out, a, NULL, &n);
    if (n) {
        n->axis = ax;
        n->keepdims = keepdims;
    }
    return out;
}

tg_tensor *tg_ad_sum(tg_tape *T, tg_tensor *a) { return reduce(T, "tg_ad_sum", TGA_SUM, 0, a, 0, false, true); }
tg_tensor *tg_ad_mean(tg_tape *T, tg_tensor *a) { return reduce(T, "tg_ad_mean", TGA_MEAN, 1, a, 0, false, true); }
tg_tensor *tg_ad_max(tg_tape *T, tg_tensor *a) { return reduce(T, "tg_ad_max", TGA_MAX, 2, a, 0, false, true); }
tg_tensor *tg_ad_sum_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims) { return reduce(T, "tg_ad_sum_axis", TGA_SUM_AXIS, 0, a, axis, keepdims, false); }
tg_tensor *tg_ad_mean_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims) { return reduce(T, "tg_ad_mean_axis", TGA_MEAN_AXIS, 1, a, axis, keepdims, false); }
tg_tensor *tg_ad_max_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims) { return reduce(T, "tg_ad_max_axis", TGA_MAX_AXIS, 2, a, axis, keepdims, false); }

tg_tensor *tg_ad_sum_to(tg_tape *T, tg_tensor *a, int ndim, const int64_t *shape)
{
    const char *fn = "tg_ad_sum_to";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor *out = tga__new(T, fn, a->dtype, ndim, shape);
    if (!out)
        return NULL;
    if (tg__sum_to(fn, out, a))
        return discard(T, out);
    return finish(T, fn, TGA_SUM_TO, out, a, NULL, NULL);
}

tg_tensor *tg_ad_matmul(tg_tape *T, tg_tensor *a, tg_tensor *b)
{
    const char *fn = "tg_ad_matmul";
    if (!a || !b || tga__check_input(T, fn, a) || tga__check_input(T, fn, b))
        return NULL;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__matmul_shape(fn, a, b, &nd, shape))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, a->dtype, nd, shape);
    if (!out)
        return NULL;
    if (tg__matmul(fn, out, a, b))
        return discard(T, out);
    return finish(T, fn, TGA_MATMUL, out, a, b, NULL);
}

/* ---- views and shape ops ------------------------------------------------------ */

tg_tensor *tg_ad_reshape(tg_tape *T, tg_tensor *a, int ndim, const int64_t *shape)
{
    const char *fn = "tg_ad_reshape";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor v;
    bool is_view;
    if (tg__make_reshape(fn, a, ndim, shape, &v, &is_view))
        return NULL;
    tg_tensor *out;
    if (is_view) {
        out = tga__view(T, fn, &v);
    } else {
        out = tga__new(T, fn, a->dtype, v.ndim, v.shape);
        if (out) { /* copy in C order through a header with a's shape */
            tg_tensor cv = *out;
            tg__init_header(&cv, a->dtype, a->ndim, a->shape);
            if (tg__copy(fn, &cv, a))
                return discard(T, out);
        }
    }
    if (!out)
        return NULL;
    return finish(T, fn, TGA_RESHAPE, out, a, NULL, NULL);
}

tg_tensor *tg_ad_permute(tg_tape *T, tg_tensor *a, const int *axes)
{
    const char *fn = "tg_ad_permute";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor v;
    if (tg__make_permute(fn, a, axes, &v))
        return NULL;
    tg_tensor *out = tga__view(T, fn, &v);
    if (!out)
        return NULL;
    tg__node *n;
    out = finish(T, fn, TGA_PERMUTE, out, a, NULL, &n);
    if (n)
        for (int k = 0; k < a->ndim; k++)
            n->perm[k] = axes[k] < 0 ? axes[k] + a->ndim : axes[k];
    return out;
}

tg_tensor *tg_ad_transpose(tg_tape *T, tg_tensor *a, int axis0, int axis1)
{
    const char *fn = "tg_ad_transpose";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    int k0, k1, perm[TG_MAX_DIMS];
    if (tg__axis(fn, axis0, a->ndim, &k0) || tg__axis(fn, axis1, a->ndim, &k1))
        return NULL;
    for (int k = 0; k < a->ndim; k++)
        perm[k] = k;
    perm[k0] = k1;
    perm[k1] = k0;
    return tg_ad_permute(T, a, perm);
}

tg_tensor *tg_ad_slice(tg_tape *T, tg_tensor *a, int axis, int64_t start,
                       int64_t stop, int64_t step)
{
    const char *fn = "tg_ad_slice";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor v;
    if (tg__make_slice(fn, a, axis, start, stop, step, &v))
        return NULL;
    tg_tensor *out = tga__view(T, fn, &v);
    if (!out)
        return NULL;
    tg__node *n;
    out = finish(T, fn, TGA_SLICE, out, a, NULL, &n);
    if (n) {
        n->axis = axis < 0 ? axis + a->ndim : axis;
        n->p[0] = start;
        n->p[1] = stop;
        n->p[2] = step;
    }
    return out;
}

/* The adjoint of a slice: zeros of shape with g written into the slice. */
static tg_tensor *slice_scatter(tg_tape *T, tg_tensor *g, int ndim,
                                const int64_t *shape, int axis, const int64_t *p)
{
    const char *fn = "tg_ad_slice (backward)";
    tg_tensor *out = tga__new(T, fn, g->dtype, ndim, shape);
    if (!out)
        return NULL;
    tg_tensor v;
    if (tg_fill(out, 0.0) || tg__make_slice(fn, out, axis, p[0], p[1], p[2], &v) ||
        tg__copy(fn, &v, g))
        return discard(T, out);
    tg__node *n;
    out = finish(T, fn, TGA_SLICE_SCATTER, out, g, NULL, &n);
    if (n) {
        n->axis = axis;
        memcpy(n->p, p, sizeof n->p);
    }
    return out;
}

tg_tensor *tg_ad_expand(tg_tape *T, tg_tensor *a, int ndim, const int64_t *shape)
{
    const char *fn = "tg_ad_expand";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor v;
    if (tg__make_expand(fn, a, ndim, shape, &v))
        return NULL;
    tg_tensor *out = tga__view(T, fn, &v);
    if (!out)
        return NULL;
    return finish(T, fn, TGA_EXPAND, out, a, NULL, NULL);
}

tg_tensor *tg_ad_cast(tg_tape *T, tg_tensor *a, tg_dtype dt)
{
    const char *fn = "tg_ad_cast";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor *out = tga__new(T, fn, dt, a->ndim, a->shape);
    if (!out)
        return NULL;
    if (tg__cast_into(fn, out, a))
        return discard(T, out);
    return finish(T, fn, TGA_CAST, out, a, NULL, NULL);
}

/* ---- picking one element per row (the losses' label lookup) ------------------ */

/* Runs pick (out (rows,) from x) or its adjoint (out (rows, cols) zeros
 * with x (rows,) scattered in), any strides. */
static void pick_kernel(bool scatter, tg_tensor *out, const tg_tensor *x,
                        const int32_t *cols)
{
    const tg_tensor *m = scatter ? out : x; /* the (rows, cols) side */
    const tg_tensor *v = scatter ? x : out; /* the (rows,) side */
    int64_t rows = v->shape[0];
    for (int64_t i = 0; i < rows; i++) {
        int64_t mp = m->offset + i * m->strides[0] + cols[i] * m->strides[1];
        int64_t vp = v->offset + i * v->strides[0];
        if (scatter)
            tg__store(out, mp, tg__load(x, vp));
        else
            tg__store(out, vp, tg__load(x, mp));
    }
}

static tg_tensor *pick_op(tg_tape *T, const char *fn, bool scatter, tg_tensor *x,
                          const int32_t *cols, int64_t ncols)
{
    if (!x || tga__check_input(T, fn, x))
        return NULL;
    int64_t rows = x->shape[0];
    int64_t shape[2] = {rows, ncols};
    tg_tensor *out = tga__new_like(T, fn, x->dtype, scatter ? 2 : 1, shape);
    if (!out || (scatter && tg_fill(out, 0.0)))
        return discard(T, out);
    pick_kernel(scatter, out, x, cols);
    tg__node *n;
    out = finish(T, fn, scatter ? TGA_PICK_SCATTER : TGA_PICK, out, x, NULL, &n);
    if (n)
        n->idx = cols;
    return out;
}

tg_tensor *tga__pick(tg_tape *T, const char *fn, tg_tensor *x,
                     const int32_t *cols)
{
    if (!x)
        return NULL;
    const int32_t *kept = cols;
    size_t nbytes = (size_t)x->shape[0] * sizeof *cols;
    if (T && tga__wants_record(T, x, NULL)) { /* backward reads them later */
        int32_t *copy = tg__arena_alloc(&T->arena, nbytes);
        if (!copy) {
            tg__arena_fail(&T->arena, fn);
            return NULL;
        }
        if (nbytes)
            memcpy(copy, cols, nbytes);
        kept = copy;
    }
    return pick_op(T, fn, false, x, kept, x->shape[1]);
}

/* ---- backward rules ---------------------------------------------------------- */

/* Sums a gradient of a broadcast result back to the input's shape. */
static tg_tensor *unbroadcast(tg_tape *T, tg_tensor *g, const tg_tensor *x)
{
    if (!g || tg__same_shape(g, x))
        return g;
    return tg_ad_sum_to(T, g, x->ndim, x->shape);
}

/* The constant 0/1 mask of the first arg-max of a (all, or along axis).
 * The positions are integers (never a float holding an index). */
static tg_tensor *argmax_mask(tg_tape *T, const tg_tensor *a, int axis)
{
    const char *fn = "tg_ad_max (backward)";
    tg_tensor *mask = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (!mask || tg_fill(mask, 0.0))
        return discard(T, mask);
    if (a->numel == 0)
        return mask;
    int64_t n = axis < 0 ? a->numel : a->shape[axis], inner = 1;
    int64_t npos = a->numel / n;
    size_t nbytes = (size_t)npos * sizeof(int64_t);
    int64_t *pos = T ? tg__arena_alloc(&T->arena, nbytes) : tg__alloc(nbytes);
    if (!pos) {
        T ? tg__arena_fail(&T->arena, fn) : tg__oom(fn);
        return discard(T, mask);
    }
    int rc = tg__argmax_positions(fn, a, axis, pos);
    for (int k = axis + 1; axis >= 0 && k < a->ndim; k++)
        inner *= a->shape[k];
    for (int64_t i = 0; rc == TG_OK && i < npos; i++) {
        int64_t o = i / inner, r = i % inner; /* axis < 0: one position */
        tg__store(mask, axis < 0 ? pos[0] : (o * n + pos[i]) * inner + r, 1.0);
    }
    if (!T)
        tg__dealloc(pos, nbytes);
    return rc ? discard(T, mask) : mask;
}

/* g reshaped to the keepdims shape of a reduction of a along axis. */
static tg_tensor *keepdims_grad(tg_tape *T, tg_tensor *g, const tg_tensor *a,
                                int axis, bool keepdims)
{
    if (keepdims)
        return g;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    tg__reduced_shape(a, axis, true, &nd, shape);
    return tg_ad_reshape(T, g, nd, shape);
}

/* d/da and d/db of matmul: g @ b^T and a^T @ g, with NumPy's 1-D
 * promotions undone and broadcast batch axes summed away. */
static void matmul_rule(tg_tape *T, const tg__node *n, tg_tensor *g, bool da,
                        bool db, tg_tensor **ga, tg_tensor **gb)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    int64_t s[TG_MAX_DIMS];
    tg_tensor *a2 = a, *b2 = b, *g2 = g;
    if (a->ndim == 1)
        a2 = tg_ad_reshape(T, a, 2, (const int64_t[]){1, a->shape[0]});
    if (b->ndim == 1)
        b2 = tg_ad_reshape(T, b, 2, (const int64_t[]){b->shape[0], 1});
    if (a->ndim == 1 || b->ndim == 1) {
        /* g's shape with the dropped row / column axes put back. */
        int rows = a->ndim > 1, cols = b->ndim > 1;
        int nbatch = g->ndim - rows - cols, nd = 0;
        for (int k = 0; k < nbatch; k++)
            s[nd++] = g->shape[k];
        s[nd++] = rows ? g->shape[nbatch] : 1;
        s[nd++] = cols ? g->shape[g->ndim - 1] : 1;
        g2 = tg_ad_reshape(T, g, nd, s);
    }
    if (da) {
        tg_tensor *r = tg_ad_matmul(T, g2, tg_ad_transpose(T, b2, -1, -2));
        r = unbroadcast(T, r, a2);
        *ga = a2 == a ? r : tg_ad_reshape(T, r, a->ndim, a->shape);
    }
    if (db) {
        tg_tensor *r = tg_ad_matmul(T, tg_ad_transpose(T, a2, -1, -2), g2);
        r = unbroadcast(T, r, b2);
        *gb = b2 == b ? r : tg_ad_reshape(T, r, b->ndim, b->shape);
    }
}

/* ---- the plain backward ----------------------------------------------------- */

/* A backward walk that is not itself recorded (tg_backward, or tg_ad_grad
 * without create_graph) runs the rules of the common ops here: kernels
 * called directly, without the checks of the tg_ad_* entry points (every
 * shape and dtype was checked when the op was recorded), and a rule of
 * several ops fused into one loop. Each gives the same values, bit for bit,
 * as the general rule in tga__backward_rule, which runs for every other op
 * and whenever the walk is recorded. */

static tg_tensor *plain_new(tg_tape *T, const char *fn, const tg_tensor *like)
{
    return tga__new_like(T, fn, like->dtype, like->ndim, like->shape);
}

/* op(g, x) (TG_* or TG__OP_* with scalar s) into a new tensor of g's shape,
 * the shape of the record's result, to which x broadcasts. */
static tg_tensor *plain_op(tg_tape *T, const char *fn, int op, double s,
                           tg_tensor *g, const tg_tensor *x)
{
    tg_tensor *r = plain_new(T, fn, g);
    if (r)
        tg__binary_kernel(op, s, r, g, x);
    return r;
}

static tg_tensor *plain_scalar(tg_tape *T, const char *fn, tg_binop op,
                               tg_tensor *g, double s)
{
    tg_tensor *r = plain_new(T, fn, g);
    if (r)
        tg__scalar_kernel(op, r, g, s, false);
    return r;
}

static tg_tensor *plain_neg(tg_tape *T, const char *fn, tg_tensor *g)
{
    tg_tensor *r = plain_new(T, fn, g);
    if (r)
        tg__unary_kernel(TG_NEG, r, g);
    return r;
}

/* g, the one-element gradient of a full reduction, repeated over x's
 * shape: a view with every stride 0, as tg_ad_expand makes. */
static tg_tensor *plain_repeat(tg_tape *T, const char *fn, tg_tensor *g,
                               const tg_tensor *x)
{
    tg_tensor v = *g;
    v.ndim = x->ndim;
    for (int k = 0; k < x->ndim; k++) {
        v.shape[k] = x->shape[k];
        v.strides[k] = 0;
    }
    v.numel = x->numel;
    return tga__view(T, fn, &v);
}

/* g summed back to x's shape: the adjoint of broadcasting x. */
static tg_tensor *plain_unbroadcast(tg_tape *T, const char *fn, tg_tensor *g,
                                    const tg_tensor *x)
{
    if (!g || tg__same_shape(g, x))
        return g;
    tg_tensor *r = plain_new(T, fn, x);
    if (r && tg__sum_to(fn, r, g))
        return NULL;
    return r;
}

/* The rules of the unary functions: g op x, x the input or the result. */
typedef struct plain_unary {
    int kop;        /* TG_* or TG__OP_* */
    double s;       /* its scalar */
    bool of_result; /* x is the result y, else the input a */
} plain_unary;

static const plain_unary plain_unaries[TGA_OP_COUNT] = {
    [TGA_EXP] = {TG_MUL, 0.0, true},                 /* g e^a */
    [TGA_LOG] = {TG_DIV, 0.0, false},                /* g / a */
    [TGA_SQRT] = {TG__OP_DIV_SCALED, 2.0, true},     /* g / (2 sqrt(a)) */
    [TGA_TANH] = {TG__OP_TANH_GRAD, 0.0, true},      /* g (1 - y^2) */
    [TGA_SIGMOID] = {TG__OP_SIGMOID_GRAD, 0.0, true}, /* g y (1 - y) */
    [TGA_RELU] = {TG__OP_MUL_STEP, 0.0, false},      /* g (a > 0) */
};

/* Runs the plain rule of n into *ga, *gb (left NULL where not wanted) and
 * sets *rc; false if n's op has no plain rule. */
static bool plain_rule(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, bool da, bool db, tg_tensor **ga,
                       tg_tensor **gb, int *rc)
{
    tg_tensor *a = n->in[0], *b = n->in[1], *y = n->out, *r = NULL, *rb = NULL;
    switch (n->op) {
    case TGA_ADD:
        r = rb = g;
        break;
    case TGA_SUB:
        r = g;
        if (db)
            rb = plain_neg(T, fn, g);
        break;
    case TGA_MUL:
        if (a == b) {
            r = plain_op(T, fn, TG__OP_MUL_SCALED, 2.0, g, a);
            db = false;
            break;
        }
        if (da)
            r = plain_op(T, fn, TG_MUL, 0.0, g, b);
        if (db)
            rb = plain_op(T, fn, TG_MUL, 0.0, g, a);
        break;
    case TGA_ADDS:
    case TGA_SUBS:
        r = g;
        break;
    case TGA_RSUBS:
    case TGA_NEG:
        r = plain_neg(T, fn, g);
        break;
    case TGA_MULS:
        r = plain_scalar(T, fn, TG_MUL, g, n->s);
        break;
    case TGA_DIVS:
        r = plain_scalar(T, fn, TG_DIV, g, n->s);
        break;
    case TGA_POWS:
        if (n->s == 1)
            r = g;
        else if (n->s == 2)
            r = plain_op(T, fn, TG__OP_MUL_SCALED, 2.0, g, a);
        else
            return false;
        break;
    case TGA_EXP:
    case TGA_LOG:
    case TGA_SQRT:
    case TGA_TANH:
    case TGA_SIGMOID:
    case TGA_RELU: {
        const plain_unary *u = &plain_unaries[n->op];
        r = plain_op(T, fn, u->kop, u->s, g, u->of_result ? y : a);
        break;
    }
    case TGA_SUM:
        r = plain_repeat(T, fn, g, a);
        break;
    default:
        return false;
    }
    if (da)
        *ga = plain_unbroadcast(T, fn, r, a);
    if (db)
        *gb = plain_unbroadcast(T, fn, rb, b);
    *rc = TG_OK;
    if ((da && !*ga) || (db && !*gb))
        *rc = tg_last_error() ? tg_last_error() : TG_ERR_NOMEM;
    return true;
}

int tga__backward_rule(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tg_tensor **ga, tg_tensor **gb)
{
    tg_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    bool da = a->requires_grad, db = n->nin > 1 && b->requires_grad;
    tg_tensor *r = NULL, *m;
    *ga = *gb = NULL;
    int rc;
    if (!T->recording && plain_rule(T, fn, n, g, da, db, ga, gb, &rc))
        return rc;
    switch (n->op) {
    case TGA_ADD: /* d(a+b) = da + db */
        r = g;
        if (db)
            *gb = g;
        break;
    case TGA_SUB:
        r = g;
        if (db)
            *gb = tg_ad_neg(T, g);
        break;
    case TGA_MUL: /* d(ab) = b da + a db; d(aa) = 2a da */
        if (a == b) {
            r = tg_ad_mul(T, g, tg_ad_mul_scalar(T, a, 2.0));
            db = false;
            break;
        }
        if (da)
            r = tg_ad_mul(T, g, b);
        if (db)
            *gb = tg_ad_mul(T, g, a);
        break;
    case TGA_DIV: /* d(a/b) = da / b - (a/b) db / b */
        if (da)
            r = tg_ad_div(T, g, b);
        if (db)
            *gb = tg_ad_neg(T, tg_ad_div(T, tg_ad_mul(T, g, y), b));
        break;
    case TGA_POW: /* d(a^b) = b a^(b-1) da + a^b log(a) db */
        if (da)
            r = tg_ad_mul(T, g, tg_ad_mul(T, b, tg_ad_pow(T, a, tg_ad_sub_scalar(T, b, 1.0))));
        if (db)
            *gb = tg_ad_mul(T, g, tg_ad_mul(T, y, tg_ad_log(T, a)));
        break;
    case TGA_MAXIMUM: /* the gradient goes to the larger input, to a at ties */
    case TGA_MINIMUM:
        m = n->op == TGA_MAXIMUM ? tg_ad_ge(T, a, b) : tg_ad_ge(T, b, a);
        r = tg_ad_mul(T, g, m);
        if (db)
            *gb = tg_ad_sub(T, g, r);
        break;
    case TGA_ADDS:
    case TGA_SUBS:
        r = g;
        break;
    case TGA_RSUBS:
        r = tg_ad_neg(T, g);
        break;
    case TGA_MULS:
        r = tg_ad_mul_scalar(T, g, n->s);
        break;
    case TGA_DIVS:
        r = tg_ad_div_scalar(T, g, n->s);
        break;
    case TGA_RDIVS: /* d(s/a) = -(s/a) / a da */
        r = tg_ad_neg(T, tg_ad_div(T, tg_ad_mul(T, g, y), a));
        break;
    case TGA_POWS: /* d(a^s) = s a^(s-1) da */
        if (n->s == 0)
            r = tg_ad_mul_scalar(T, g, 0.0);
        else if (n->s == 1)
            r = g;
        else if (n->s == 2)
            r = tg_ad_mul(T, g, tg_ad_mul_scalar(T, a, 2.0));
        else
            r = tg_ad_mul(T, g, tg_ad_mul_scalar(T, tg_ad_pow_scalar(T, a, n->s - 1.0), n->s));
        break;
    case TGA_NEG:
        r = tg_ad_neg(T, g);
        break;
    case TGA_EXP: /* d e^a = e^a da */
        r = tg_ad_mul(T, g, y);
        break;
    case TGA_LOG:
        r = tg_ad_div(T, g, a);
        break;
    case TGA_SQRT: /* d sqrt(a) = da / (2 sqrt(a)) */
        r = tg_ad_div(T, g, tg_ad_mul_scalar(T, y, 2.0));
        break;
    case TGA_ABS:
        r = tg_ad_mul(T, g, tg_ad_sign(T, a));
        break;
    case TGA_TANH: /* d tanh(a) = (1 - tanh^2) da */
        r = tg_ad_mul(T, g, tg_ad_rsub_scalar(T, tg_ad_mul(T, y, y), 1.0));
        break;
    case TGA_SIGMOID: /* d s(a) = s (1 - s) da */
        r = tg_ad_mul(T, g, tg_ad_mul(T, y, tg_ad_rsub_scalar(T, y, 1.0)));
        break;
    case TGA_RELU:
        r = tg_ad_mul(T, g, tg_ad_step(T, a));
        break;
    case TGA_SUM:
        r = tg_ad_expand(T, g, a->ndim, a->shape);
        break;
    case TGA_MEAN:
        r = tg_ad_expand(T, tg_ad_div_scalar(T, g, (double)a->numel), a->ndim, a->shape);
        break;
    case TGA_MAX:
        r = tg_ad_mul(T, argmax_mask(T, a, -1), g);
        break;
    case TGA_SUM_AXIS:
        r = tg_ad_expand(T, keepdims_grad(T, g, a, n->axis, n->keepdims), a->ndim, a->shape);
        break;
    case TGA_MEAN_AXIS:
        r = tg_ad_expand(T,
                         tg_ad_div_scalar(T, keepdims_grad(T, g, a, n->axis, n->keepdims),
                                          (double)a->shape[n->axis]),
                         a->ndim, a->shape);
        break;
    case TGA_MAX_AXIS:
        r = tg_ad_mul(T, argmax_mask(T, a, n->axis), keepdims_grad(T, g, a, n->axis, n->keepdims));
        break;
    case TGA_SUM_TO:
        r = tg_ad_expand(T, g, a->ndim, a->shape);
        break;
    case TGA_MATMUL:
        matmul_rule(T, n, g, da, db, &r, gb);
        break;
    case TGA_RESHAPE:
        r = tg_ad_reshape(T, g, a->ndim, a->shape);
        break;
    case TGA_PERMUTE: {
        int inv[TG_MAX_DIMS];
        for (int k = 0; k < a->ndim; k++)
            inv[n->perm[k]] = k;
        r = tg_ad_permute(T, g, inv);
        break;
    }
    case TGA_SLICE:
        r = slice_scatter(T, g, a->ndim, a->shape, n->axis, n->p);
        break;
    case TGA_SLICE_SCATTER:
        r = tg_ad_slice(T, g, n->axis, n->p[0], n->p[1], n->p[2]);
        break;
    case TGA_EXPAND:
        r = tg_ad_sum_to(T, g, a->ndim, a->shape);
        break;
    case TGA_CAST:
        r = tg_ad_cast(T, g, a->dtype);
        break;
    case TGA_PICK: /* each picked element gets its row's gradient */
        r = pick_op(T, "tga__pick (backward)", true, g, n->idx, a->shape[1]);
        break;
    case TGA_PICK_SCATTER:
        r = pick_op(T, "tga__pick (backward)", false, g, n->idx, 0);
        break;
    default:
        return tg__fail(TG_ERR_TAPE, "tg_backward", "unknown record op %d", n->op);
    }
    if (da) {
        *ga = unbroadcast(T, r, a);
        if (!*ga)
            return tg_last_error() ? tg_last_error() : TG_ERR_NOMEM;
    }
    if (db) {
        *gb = unbroadcast(T, *gb, b);
        if (!*gb)
            return tg_last_error() ? tg_last_error() : TG_ERR_NOMEM;
    }
    return TG_OK;
}
