/* select.c - ops that choose between values by a boolean mask: where (a
 * or b elementwise), clamp (the value or a bound) and masked_fill (the
 * value or a constant). The gradient goes to whichever input was chosen,
 * and zero elsewhere, by a where on the gradient itself, never by a
 * multiplication with the mask, so that an infinite or NaN value that was
 * not chosen cannot leak into the gradient (inf * 0 is NaN). */
#include "internal.h"

/* ---- where ----------------------------------------------------------------------- */

/* d where(m, a, b) = where(m, g, 0) for a, where(m, 0, g) for b */
static void where_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    const char *fn = "tg_ad_where (backward)";
    tg_tensor *z = tga__zero(T, fn, g->dtype);
    if (r->da)
        r->a = tg_ad_where(T, n->aux, g, z);
    if (r->db)
        r->b = tg_ad_where(T, n->aux, z, g);
}

static const tga_op op_where = {"where", where_rule, NULL};

tg_tensor *tg_ad_where(tg_tape *T, tg_tensor *mask, tg_tensor *a, tg_tensor *b)
{
    const char *fn = "tg_ad_where";
    if (!mask || !a || !b || tga__check_input(T, fn, mask) ||
        tga__check_input(T, fn, a) || tga__check_input(T, fn, b))
        return NULL;
    if (a->dtype != b->dtype) { /* promote through recorded casts */
        tg_dtype dt = tg_result_type(a->dtype, b->dtype);
        tg_tensor *a2 = a->dtype == dt ? a : tg_ad_cast(T, a, dt);
        tg_tensor *b2 = b->dtype == dt ? b : tg_ad_cast(T, b, dt);
        tg_tensor *out = a2 && b2 ? tg_ad_where(T, mask, a2, b2) : NULL;
        if (!T) {
            if (a2 != a)
                tg_free(a2);
            if (b2 != b)
                tg_free(b2);
        }
        return out;
    }
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__check_mask(fn, mask) || tg__broadcast3(fn, mask, a, b, &nd, shape))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, a->dtype, nd, shape);
    if (!out)
        return NULL;
    tg__where(out, mask, a, b);
    tg__node *n;
    out = tga__finish(T, fn, tg__is_float(a->dtype) ? &op_where : NULL, out, a, b, &n);
    if (n)
        n->aux = mask;
    return out;
}

/* ---- masked_fill ----------------------------------------------------------------------- */

/* d masked_fill(a, m, v) = where(m, 0, g) */
static void masked_fill_rule(tg_tape *T, const tg__node *n, tg_tensor *g,
                             tga_grads *r)
{
    tg_tensor *z = tga__zero(T, "tg_ad_masked_fill (backward)", g->dtype);
    r->a = tg_ad_where(T, n->aux, z, g);
}

static const tga_op op_masked_fill = {"masked_fill", masked_fill_rule, NULL};

tg_tensor *tg_ad_masked_fill(tg_tape *T, tg_tensor *a, tg_tensor *mask, double value)
{
    const char *fn = "tg_ad_masked_fill";
    if (!a || !mask || tga__check_input(T, fn, a) || tga__check_input(T, fn, mask))
        return NULL;
    if (tg__check_mask(fn, mask))
        return NULL;
    tg_tensor v;
    if (tg__make_expand(fn, mask, a->ndim, a->shape, &v))
        return NULL;
    if (!tg__is_float(a->dtype) && !tg__int_fits(a->dtype, value)) {
        tg__fail(TG_ERR_VALUE, fn, "value %.17g is not a %s value", value,
                 tg_dtype_name(a->dtype));
        return NULL;
    }
    tg_tensor *fill = tga__new_like(T, fn, a->dtype, 0, NULL);
    if (!fill || tg_fill(fill, value))
        return tga__discard(T, fill);
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (out)
        tg__where(out, &v, fill, a);
    if (!T)
        tg_free(fill);
    if (!out)
        return NULL;
    tg__node *n;
    out = tga__finish(T, fn, tg__is_float(a->dtype) ? &op_masked_fill : NULL, out, a,
                      NULL, &n);
    if (n)
        n->aux = mask;
    return out;
}

/* ---- clamp ---------------------------------------------------------------------------------- */

/* d clamp(a) = where(lo <= a <= hi, g, 0) (PyTorch's: the bounds pass the
 * gradient; a NaN does not) */
static void clamp_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg_tensor *z = tga__zero(T, "tg_ad_clamp (backward)", g->dtype);
    r->a = tg_ad_where(T, n->aux, g, z);
}

static const tga_op op_clamp = {"clamp", clamp_rule, NULL};

tg_tensor *tg_ad_clamp(tg_tape *T, tg_tensor *a, double lo, double hi)
{
    const char *fn = "tg_ad_clamp";
    if (!a || tga__check_input(T, fn, a) || tg__check_clamp(fn, lo, hi))
        return NULL;
    if (!tg__is_float(a->dtype)) /* integers: tensor.h's, never recorded */
        return tga__adopt(T, fn, tg_clamp(a, lo, hi));
    tg_tensor *out = tga__new_like(T, fn, a->dtype, a->ndim, a->shape);
    if (!out)
        return NULL;
    tg__clamp_into(out, a, lo, hi);
    if (!tga__wants_record(T, a, NULL)) /* nothing to differentiate */
        return out;
    tg_tensor *mask = tga__new_like(T, fn, TG_BOOL, a->ndim, a->shape);
    if (!mask)
        return NULL;
    tg__clamp_mask(mask, a, lo, hi);
    tg__node *n;
    out = tga__finish(T, fn, &op_clamp, out, a, NULL, &n);
    if (n)
        n->aux = mask;
    return out;
}
