/* matmul.c - the matrix product with NumPy's semantics (1-D operands
 * promoted, batch axes broadcast) and its rule: g @ b^T and a^T @ g. */
#include "internal.h"

/* d/da and d/db of matmul, with NumPy's 1-D promotions undone and
 * broadcast batch axes summed away. */
static void matmul_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
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
    if (r->da) {
        tg_tensor *d = tg_ad_matmul(T, g2, tg_ad_transpose(T, b2, -1, -2));
        d = tga__unbroadcast(T, d, a2);
        r->a = a2 == a ? d : tg_ad_reshape(T, d, a->ndim, a->shape);
    }
    if (r->db) {
        tg_tensor *d = tg_ad_matmul(T, tg_ad_transpose(T, a2, -1, -2), g2);
        d = tga__unbroadcast(T, d, b2);
        r->b = b2 == b ? d : tg_ad_reshape(T, d, b->ndim, b->shape);
    }
}

static const tga_op op_matmul = {"matmul", matmul_rule, NULL};

tg_tensor *tg_ad_matmul(tg_tape *T, tg_tensor *a, tg_tensor *b)
{
    const char *fn = "tg_ad_matmul";
    if (!a || !b || tga__check_input(T, fn, a) || tga__check_input(T, fn, b))
        return NULL;
    if (a->dtype != b->dtype && tg__is_float(a->dtype) && tg__is_float(b->dtype)) {
        /* float32 with float64: in float64 through a recorded cast */
        tg_tensor *wide = tg_ad_cast(T, a->dtype == TG_FLOAT32 ? a : b, TG_FLOAT64);
        tg_tensor *out = wide ? tg_ad_matmul(T, a->dtype == TG_FLOAT32 ? wide : a,
                                             b->dtype == TG_FLOAT32 ? wide : b)
                              : NULL;
        if (!T)
            tg_free(wide);
        return out;
    }
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__matmul_shape(fn, a, b, &nd, shape))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, a->dtype, nd, shape);
    if (!out)
        return NULL;
    if (tg__matmul(fn, out, a, b))
        return tga__discard(T, out);
    return tga__finish(T, fn, &op_matmul, out, a, b, NULL);
}
