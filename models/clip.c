/* clip.c - clip_grad_norm_ and clip_grad_value_ of torch.nn.utils over the
 * gradients of a parameter list: every gradient is checked before the
 * first is written, the norms are summed in double. */
#include <math.h>

#include "internal.h"
#include "clip.h"

/* The list is valid and every parameter's gradient (if any) is contiguous
 * with the parameter's shape and a float dtype. */
static int check_grads(const char *fn, const tg_params *ps)
{
    int rc = tgm__check_params(fn, ps, false);
    if (rc)
        return rc;
    for (int i = 0; i < ps->count; i++) {
        const tg_tensor *p = ps->tensors[i], *g = p->grad;
        if (ps->buffer[i] || !g)
            continue;
        if (!tg_is_contiguous(g) || !tg__same_shape(g, p) ||
            (g->dtype != TG_FLOAT32 && g->dtype != TG_FLOAT64))
            return tg__fail(TG_ERR_VALUE, fn,
                            "the gradient of \"%s\" does not match the parameter",
                            ps->names[i]);
    }
    return TG_OK;
}

/* |x|^p summed (p finite) or the largest |x| (p infinite) over g. */
static double grad_norm(const tg_tensor *g, double p)
{
    int64_t n = g->numel;
    bool f64 = g->dtype == TG_FLOAT64;
    const double *d = f64 ? tg_data(g) : NULL;
    const float *f = f64 ? NULL : tg_data(g);
    double acc = 0.0;
    for (int64_t k = 0; k < n; k++) {
        double a = fabs(f64 ? d[k] : (double)f[k]);
        if (isinf(p))
            acc = a > acc || isnan(a) ? a : acc; /* NaN wins, as torch's max */
        else if (p == 2.0)
            acc += a * a;
        else if (p == 1.0)
            acc += a;
        else
            acc += pow(a, p);
    }
    if (isinf(p) || p == 1.0)
        return acc;
    return p == 2.0 ? sqrt(acc) : pow(acc, 1.0 / p);
}

int tg_clip_grad_norm(tg_params *ps, double max_norm, double norm_type,
                      double *total_norm)
{
    const char *fn = "tg_clip_grad_norm";
    tg__trace_refuse(fn, "clipping decides on the host, from the gradients' "
                     "values, how much to scale; a replay would repeat the "
                     "captured decision");
    if (total_norm)
        *total_norm = (double)NAN;
    int rc = check_grads(fn, ps);
    if (rc)
        return rc;
    if (!(max_norm >= 0.0 && isfinite(max_norm)))
        return tg__fail(TG_ERR_VALUE, fn, "max_norm = %g must be finite and >= 0",
                        max_norm);
    if (!(norm_type > 0.0))
        return tg__fail(TG_ERR_VALUE, fn,
                        "norm_type = %g must be > 0 (2 for the Euclidean norm, "
                        "INFINITY for the largest element)", norm_type);
    /* torch: the norm of the per-parameter norms. */
    double total = 0.0;
    bool inf = isinf(norm_type);
    for (int i = 0; i < ps->count; i++) {
        const tg_tensor *g = ps->tensors[i]->grad;
        if (ps->buffer[i] || !g)
            continue;
        double n = grad_norm(g, norm_type);
        if (inf)
            total = n > total || isnan(n) ? n : total;
        else
            total += norm_type == 2.0 ? n * n : pow(n, norm_type);
    }
    if (!inf)
        total = norm_type == 2.0 ? sqrt(total) : pow(total, 1.0 / norm_type);
    if (total_norm)
        *total_norm = total;
    double coef = max_norm / (total + 1e-6);
    if (coef > 1.0) /* clamp(max=1); a NaN coefficient passes through */
        coef = 1.0;
    if (coef == 1.0)
        return TG_OK; /* multiplying by 1 changes nothing */
    for (int i = 0; i < ps->count; i++) {
        tg_tensor *g = ps->tensors[i]->grad;
        if (ps->buffer[i] || !g)
            continue;
        int64_t n = g->numel;
        if (g->dtype == TG_FLOAT64) {
            double *d = tg_data(g);
            for (int64_t k = 0; k < n; k++)
                d[k] *= coef;
        } else {
            float *f = tg_data(g), c = (float)coef;
            for (int64_t k = 0; k < n; k++)
                f[k] *= c;
        }
        tg__touch(g);
    }
    return TG_OK;
}

int tg_clip_grad_value(tg_params *ps, double clip_value)
{
    const char *fn = "tg_clip_grad_value";
    tg__trace_refuse(fn, "clipping decides on the host, from the gradients' "
                     "values, how much to scale; a replay would repeat the "
                     "captured decision");
    int rc = check_grads(fn, ps);
    if (rc)
        return rc;
    if (!(clip_value >= 0.0))
        return tg__fail(TG_ERR_VALUE, fn, "clip_value = %g must be >= 0", clip_value);
    for (int i = 0; i < ps->count; i++) {
        tg_tensor *g = ps->tensors[i]->grad;
        if (ps->buffer[i] || !g)
            continue;
        int64_t n = g->numel;
        if (g->dtype == TG_FLOAT64) {
            double *d = tg_data(g), v = clip_value;
            for (int64_t k = 0; k < n; k++)
                d[k] = d[k] < -v ? -v : d[k] > v ? v : d[k];
        } else {
            float *f = tg_data(g), v = (float)clip_value;
            for (int64_t k = 0; k < n; k++)
                f[k] = f[k] < -v ? -v : f[k] > v ? v : f[k];
        }
        tg__touch(g);
    }
    return TG_OK;
}
