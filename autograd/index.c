/* index.c - ops that pick elements by integer indices: index_select (the
 * embedding lookup), gather (the losses' label lookup) and scatter_add.
 * The adjoint of each selection is an addition into zeros at the indices
 * (repeated ones accumulate), itself an op whose adjoint is the selection
 * again, so second order works through both. The index tensor is kept in
 * the record (aux): it must live until the backward. */
#include <string.h>

#include "internal.h"

/* ---- index_select and its adjoint ------------------------------------------------- */

static tg_tensor *index_add_zeros(tg_tape *T, tg_tensor *g, int axis,
                                  tg_tensor *index, const tg_tensor *like);

/* d index_select(t) = g added into zeros of t's shape at the indices
 * (repeated ones accumulate) */
static void index_select_rule(tg_tape *T, const tg__node *n, tg_tensor *g,
                              tga_grads *r)
{
    r->a = index_add_zeros(T, g, n->axis, n->aux, n->in[0]);
}

static const tga_op op_index_select = {"index_select", index_select_rule, NULL};

tg_tensor *tg_ad_index_select(tg_tape *T, tg_tensor *t, int axis, tg_tensor *index)
{
    const char *fn = "tg_ad_index_select";
    if (!t || !index || tga__check_input(T, fn, t) || tga__check_input(T, fn, index))
        return NULL;
    int ax, nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__axis(fn, axis, t->ndim, &ax) || tg__check_index(fn, index, t->shape[ax]) ||
        tg__index_select_shape(fn, t, ax, index, &nd, shape))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, t->dtype, nd, shape);
    if (!out)
        return NULL;
    tg__index_move(t, ax, index, out, true, false);
    tg__node *n;
    out = tga__finish(T, fn, &op_index_select, out, t, NULL, &n);
    if (n) {
        n->axis = ax;
        n->aux = index;
    }
    return out;
}

/* The adjoint's adjoint is the selection again. */
static void index_add_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_index_select(T, g, n->axis, n->aux);
}

static const tga_op op_index_add = {"index_select (backward)", index_add_rule, NULL};

static tg_tensor *index_add_zeros(tg_tape *T, tg_tensor *g, int axis,
                                  tg_tensor *index, const tg_tensor *like)
{
    const char *fn = "tg_ad_index_select (backward)";
    if (!g)
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, g->dtype, like->ndim, like->shape);
    if (!out || tg_fill(out, 0.0))
        return tga__discard(T, out);
    tg__index_move(out, axis, index, g, false, true);
    tg__node *n;
    out = tga__finish(T, fn, &op_index_add, out, g, NULL, &n);
    if (n) {
        n->axis = axis;
        n->aux = index;
    }
    return out;
}

/* ---- gather and scatter_add ---------------------------------------------------------- */

static tg_tensor *scatter_zeros(tg_tape *T, tg_tensor *g, int axis,
                                tg_tensor *index, const tg_tensor *like);

/* d gather(t) = g scattered (added) into zeros of t's shape */
static void gather_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = scatter_zeros(T, g, n->axis, n->aux, n->in[0]);
}

static const tga_op op_gather = {"gather", gather_rule, NULL};

tg_tensor *tg_ad_gather(tg_tape *T, tg_tensor *t, int axis, tg_tensor *index)
{
    const char *fn = "tg_ad_gather";
    if (!t || !index || tga__check_input(T, fn, t) || tga__check_input(T, fn, index))
        return NULL;
    int ax;
    if (tg__axis(fn, axis, t->ndim, &ax) || tg__check_gather(fn, t, ax, index))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, t->dtype, index->ndim, index->shape);
    if (!out)
        return NULL;
    tg__gather_move(t, ax, index, out, true, false);
    tg__node *n;
    out = tga__finish(T, fn, &op_gather, out, t, NULL, &n);
    if (n) {
        n->axis = ax;
        n->aux = index;
    }
    return out;
}

static void scatter_zeros_rule(tg_tape *T, const tg__node *n, tg_tensor *g,
                               tga_grads *r)
{
    r->a = tg_ad_gather(T, g, n->axis, n->aux);
}

static const tga_op op_scatter_zeros = {"gather (backward)", scatter_zeros_rule, NULL};

static tg_tensor *scatter_zeros(tg_tape *T, tg_tensor *g, int axis,
                                tg_tensor *index, const tg_tensor *like)
{
    const char *fn = "tg_ad_gather (backward)";
    if (!g)
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, g->dtype, like->ndim, like->shape);
    if (!out || tg_fill(out, 0.0))
        return tga__discard(T, out);
    tg__gather_move(out, axis, index, g, false, true);
    tg__node *n;
    out = tga__finish(T, fn, &op_scatter_zeros, out, g, NULL, &n);
    if (n) {
        n->axis = axis;
        n->aux = index;
    }
    return out;
}

/* d scatter_add(t, src) = g for t, and for src the gradient at the places
 * it was added to: a gather of g */
static void scatter_add_rule(tg_tape *T, const tg__node *n, tg_tensor *g,
                             tga_grads *r)
{
    r->a = g;
    if (r->db)
        r->b = tg_ad_gather(T, g, n->axis, n->aux);
}

static const tga_op op_scatter_add = {"scatter_add", scatter_add_rule, NULL};

tg_tensor *tg_ad_scatter_add(tg_tape *T, tg_tensor *t, int axis, tg_tensor *index,
                             tg_tensor *src)
{
    const char *fn = "tg_ad_scatter_add";
    if (!t || !index || !src || tga__check_input(T, fn, t) ||
        tga__check_input(T, fn, index) || tga__check_input(T, fn, src))
        return NULL;
    int ax;
    if (tg__axis(fn, axis, t->ndim, &ax) || tg__check_gather(fn, t, ax, index))
        return NULL;
    if (src->dtype != t->dtype || !tg__is_float(t->dtype)) {
        tg__fail(TG_ERR_DTYPE, fn, "t is %s and src %s; both must be the same float "
                 "dtype (tg_ad_cast)", tg_dtype_name(t->dtype), tg_dtype_name(src->dtype));
        return NULL;
    }
    if (!tg__same_shape(src, index)) { /* its gradient is a gather of that shape */
        char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
        tg__fail(TG_ERR_SHAPE, fn, "src %s must have index's shape %s",
                 tg__shape_fmt(src->ndim, src->shape, b1, sizeof b1),
                 tg__shape_fmt(index->ndim, index->shape, b2, sizeof b2));
        return NULL;
    }
    tg_tensor *out = tga__new_like(T, fn, t->dtype, t->ndim, t->shape);
    if (!out || tg__copy(fn, out, t))
        return tga__discard(T, out);
    tg__gather_move(out, ax, index, src, false, true);
    tg__node *n;
    out = tga__finish(T, fn, &op_scatter_add, out, t, src, &n);
    if (n) {
        n->axis = ax;
        n->aux = index;
    }
    return out;
}
