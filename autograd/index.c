/* index.c - ops that pick elements by index. pick takes one element per
 * row (the losses' label lookup); its adjoint scatters a gradient back
 * into zeros, and the adjoint of that is the pick again, so second order
 * works through both. */
#include <string.h>

#include "internal.h"

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
                          const int32_t *cols, int64_t ncols);

/* d pick(x) = g scattered into zeros of x's shape */
static void pick_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = pick_op(T, "tga__pick (backward)", true, g, n->idx, n->in[0]->shape[1]);
}

/* d scatter(g) = the pick of its gradient */
static void pick_scatter_rule(tg_tape *T, const tg__node *n, tg_tensor *g,
                              tga_grads *r)
{
    r->a = pick_op(T, "tga__pick (backward)", false, g, n->idx, 0);
}

static const tga_op op_pick = {"pick", pick_rule, NULL};
static const tga_op op_pick_scatter = {"pick (backward)", pick_scatter_rule, NULL};

static tg_tensor *pick_op(tg_tape *T, const char *fn, bool scatter, tg_tensor *x,
                          const int32_t *cols, int64_t ncols)
{
    if (!x || tga__check_input(T, fn, x))
        return NULL;
    int64_t rows = x->shape[0];
    int64_t shape[2] = {rows, ncols};
    tg_tensor *out = tga__new_like(T, fn, x->dtype, scatter ? 2 : 1, shape);
    if (!out || (scatter && tg_fill(out, 0.0)))
        return tga__discard(T, out);
    pick_kernel(scatter, out, x, cols);
    tg__node *n;
    out = tga__finish(T, fn, scatter ? &op_pick_scatter : &op_pick, out, x, NULL, &n);
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
