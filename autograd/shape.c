/* shape.c - the ops that move elements without computing: reshape,
 * permute and transpose, slice, expand (views of their input where
 * tensor.h's are), and cast. Each rule moves the gradient back: reshape to
 * the input's shape, the inverse permutation, a slice scattered into
 * zeros, a sum over the expanded axes, a cast to the input's dtype. */
#include <string.h>

#include "internal.h"

/* ---- reshape -------------------------------------------------------------------- */

static void reshape_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    r->a = tg_ad_reshape(T, g, a->ndim, a->shape);
}

static const tga_op op_reshape = {"reshape", reshape_rule, NULL};

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
                return tga__discard(T, out);
        }
    }
    if (!out)
        return NULL;
    return tga__finish(T, fn, &op_reshape, out, a, NULL, NULL);
}

/* ---- permute and transpose ---------------------------------------------------------- */

static void permute_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    int inv[TG_MAX_DIMS];
    for (int k = 0; k < n->in[0]->ndim; k++)
        inv[n->perm[k]] = k;
    r->a = tg_ad_permute(T, g, inv);
}

static const tga_op op_permute = {"permute", permute_rule, NULL};

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
    out = tga__finish(T, fn, &op_permute, out, a, NULL, &n);
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

/* ---- slice and its adjoint -------------------------------------------------------------- */

static tg_tensor *slice_scatter(tg_tape *T, tg_tensor *g, int ndim,
                                const int64_t *shape, int axis, const int64_t *p);

/* d slice(a) = g written into zeros of a's shape */
static void slice_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    r->a = slice_scatter(T, g, a->ndim, a->shape, n->axis, n->p);
}

static const tga_op op_slice = {"slice", slice_rule, NULL};

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
    out = tga__finish(T, fn, &op_slice, out, a, NULL, &n);
    if (n) {
        n->axis = axis < 0 ? axis + a->ndim : axis;
        n->p[0] = start;
        n->p[1] = stop;
        n->p[2] = step;
    }
    return out;
}

/* The adjoint's adjoint is the slice again. */
static void slice_scatter_rule(tg_tape *T, const tg__node *n, tg_tensor *g,
                               tga_grads *r)
{
    r->a = tg_ad_slice(T, g, n->axis, n->p[0], n->p[1], n->p[2]);
}

static const tga_op op_slice_scatter = {"slice (backward)", slice_scatter_rule, NULL};

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
        return tga__discard(T, out);
    tg__node *n;
    out = tga__finish(T, fn, &op_slice_scatter, out, g, NULL, &n);
    if (n) {
        n->axis = axis;
        memcpy(n->p, p, sizeof n->p);
    }
    return out;
}

/* ---- expand ------------------------------------------------------------------------------ */

/* d expand(a) = g summed over the expanded axes */
static void expand_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *a = n->in[0];
    r->a = tg_ad_sum_to(T, g, a->ndim, a->shape);
}

static const tga_op op_expand = {"expand", expand_rule, NULL};

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
    return tga__finish(T, fn, &op_expand, out, a, NULL, NULL);
}

/* ---- cast ------------------------------------------------------------------------------------ */

static void cast_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_cast(T, g, n->in[0]->dtype);
}

static const tga_op op_cast = {"cast", cast_rule, NULL};

tg_tensor *tg_ad_cast(tg_tape *T, tg_tensor *a, tg_dtype dt)
{
    const char *fn = "tg_ad_cast";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor *out = tga__new(T, fn, dt, a->ndim, a->shape);
    if (!out)
        return NULL;
    if (tg__cast_into(fn, out, a))
        return tga__discard(T, out);
    /* a cast to an integer or bool dtype ends the gradient's path */
    return tga__finish(T, fn, tg__is_float(dt) ? &op_cast : NULL, out, a, NULL, NULL);
}
