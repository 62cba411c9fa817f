/* optim.c - SGD (momentum, Nesterov, weight decay) and Adam / AdamW with
 * torch.optim's update formulas, written straight into the parameters'
 * data. State is allocated at init; a step allocates nothing, updates every
 * parameter or none, and bumps each written parameter's version so a tape
 * that recorded the old value notices. Arithmetic is in double; float32
 * parameters and state are rounded once per element per step. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "optim.h"

/* ---- shared checks ---------------------------------------------------------- */

static bool nonneg(double x) { return x >= 0.0 && isfinite(x); }

/* The list is usable by an optimiser: the common checks, and contiguous
 * parameters (the steps walk their data as flat arrays). */
static int check_params(const char *fn, const tg_params *ps)
{
    return tgm__check_params(fn, ps, true);
}

/* state[i] = zeros like parameter i, for every parameter (a buffer, never
 * trained, gets none); errors under fn. */
static int alloc_state(const char *fn, const tg_params *ps, tg_tensor **state)
{
    for (int i = 0; i < ps->count; i++) {
        if (ps->buffer[i])
            continue;
        const tg_tensor *p = ps->tensors[i];
        state[i] = tg__new(fn, p->dtype, p->ndim, p->shape);
        if (!state[i])
            return tg_last_error();
        tg_fill(state[i], 0.0);
    }
    return TG_OK;
}

/* Before a step writes anything: parameter i is still contiguous, its
 * nstate state tensors were made for it at init, and its gradient (if any)
 * has its layout. */
static int check_step(const char *fn, const tg_params *ps, int i,
                      const tg_tensor *s1, const tg_tensor *s2, int nstate)
{
    const tg_tensor *p = ps->tensors[i];
    const char *name = ps->names[i];
    if ((nstate >= 1 && !s1) || (nstate >= 2 && !s2))
        return tg__fail(TG_ERR_VALUE, fn,
                        "parameter \"%s\" was added to the list after init", name);
    if (!tg_is_contiguous(p))
        return tg__fail(TG_ERR_VALUE, fn, "parameter \"%s\" is not contiguous", name);
    const tg_tensor *ss[2] = {s1, s2};
    for (int k = 0; k < 2; k++)
        if (ss[k] && (ss[k]->dtype != p->dtype || !tg__same_shape(ss[k], p)))
            return tg__fail(TG_ERR_VALUE, fn,
                            "parameter \"%s\" no longer matches its optimiser state",
                            name);
    const tg_tensor *g = p->grad;
    if (g && (g->dtype != p->dtype || !tg__same_shape(g, p) || !tg_is_contiguous(g)))
        return tg__fail(TG_ERR_VALUE, fn,
                        "the gradient of \"%s\" does not match the parameter", name);
    return TG_OK;
}

static int check_optimiser(const char *fn, const void *o, const tg_params *ps)
{
    if (!o)
        return tg__fail(TG_ERR_NULL, fn, "optimiser is NULL");
    if (!ps)
        return tg__fail(TG_ERR_VALUE, fn, "optimiser is not initialised");
    return check_params(fn, ps);
}

/* ---- SGD -------------------------------------------------------------------------- */

void tg_sgd_free(tg_sgd *o)
{
    if (!o)
        return;
    for (int i = 0; i < TG_MAX_PARAMS; i++)
        tg_free(o->buf[i]);
    memset(o, 0, sizeof *o);
}

int tg_sgd_init(tg_sgd *o, tg_params *params, double lr, double momentum,
                double weight_decay, bool nesterov)
{
    const char *fn = "tg_sgd_init";
    if (!o)
        return tg__fail(TG_ERR_NULL, fn, "optimiser is NULL");
    memset(o, 0, sizeof *o); /* so tg_sgd_free is safe whatever happens */
    if (!params)
        return tg__fail(TG_ERR_NULL, fn, "parameter list is NULL");
    if (!nonneg(lr))
        return tg__fail(TG_ERR_VALUE, fn, "lr = %g must be finite and >= 0", lr);
    if (!nonneg(momentum))
        return tg__fail(TG_ERR_VALUE, fn, "momentum = %g must be finite and >= 0",
                        momentum);
    if (!nonneg(weight_decay))
        return tg__fail(TG_ERR_VALUE, fn, "weight_decay = %g must be finite and >= 0",
                        weight_decay);
    if (nesterov && momentum <= 0.0)
        return tg__fail(TG_ERR_VALUE, fn, "Nesterov momentum needs momentum > 0");
    int rc = check_params(fn, params);
    if (rc == TG_OK && momentum > 0.0) /* plain SGD keeps no state */
        rc = alloc_state(fn, params, o->buf);
    if (rc) {
        tg_sgd_free(o);
        return rc;
    }
    o->params = params;
    o->lr = lr;
    o->momentum = momentum;
    o->weight_decay = weight_decay;
    o->nesterov = nesterov;
    return TG_OK;
}

/* One element of torch.optim.SGD (dampening 0). The buffer starts at zero,
 * so the first step's momentum*0 + g is exactly PyTorch's buf = g. */
static inline double sgd_one(const tg_sgd *o, double p, double g, double *buf)
{
    if (o->weight_decay != 0.0)
        g += o->weight_decay * p;
    if (o->momentum != 0.0) {
        *buf = o->momentum * *buf + g;
        g = o->nesterov ? g + o->momentum * *buf : *buf;
    }
    return p - o->lr * g;
}

static void sgd_update(const tg_sgd *o, tg_tensor *p, const tg_tensor *gt,
                       tg_tensor *bt)
{
    int64_t n = p->numel;
    double b = 0.0;
    if (p->dtype == TG_FLOAT64) {
        double *x = tg_data(p);
        const double *g = tg_data(gt);
        double *buf = bt ? tg_data(bt) : NULL;
        for (int64_t i = 0; i < n; i++) {
            b = buf ? buf[i] : 0.0;
            x[i] = sgd_one(o, x[i], g[i], &b);
            if (buf)
                buf[i] = b;
        }
    } else {
        float *x = tg_data(p);
        const float *g = tg_data(gt);
        float *buf = bt ? tg_data(bt) : NULL;
        for (int64_t i = 0; i < n; i++) {
            b = buf ? (double)buf[i] : 0.0;
            x[i] = (float)sgd_one(o, (double)x[i], (double)g[i], &b);
            if (buf)
                buf[i] = (float)b;
        }
    }
    tg__touch(p);
}

int tg_sgd_step(tg_sgd *o)
{
    const char *fn = "tg_sgd_step";
    int rc = check_optimiser(fn, o, o ? o->params : NULL);
    if (rc)
        return rc;
    tg_params *ps = o->params;
    int nstate = o->momentum != 0.0 ? 1 : 0;
    for (int i = 0; i < ps->count && rc == TG_OK; i++)
        if (!ps->buffer[i])
            rc = check_step(fn, ps, i, o->buf[i], NULL, nstate);
    if (rc)
        return rc;
    for (int i = 0; i < ps->count; i++)
        /* A buffer is not trained; a parameter never reached by backward
         * has no gradient: both skipped. */
        if (!ps->buffer[i] && ps->tensors[i]->grad)
            sgd_update(o, ps->tensors[i], ps->tensors[i]->grad, o->buf[i]);
    o->steps++;
    return TG_OK;
}

/* ---- Adam and AdamW ----------------------------------------------------------------- */

void tg_adam_free(tg_adam *o)
{
    if (!o)
        return;
    for (int i = 0; i < TG_MAX_PARAMS; i++) {
        tg_free(o->m[i]);
        tg_free(o->v[i]);
    }
    memset(o, 0, sizeof *o);
}

int tg_adam_init(tg_adam *o, tg_params *params, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool adamw)
{
    const char *fn = "tg_adam_init";
    if (!o)
        return tg__fail(TG_ERR_NULL, fn, "optimiser is NULL");
    memset(o, 0, sizeof *o);
    if (!params)
        return tg__fail(TG_ERR_NULL, fn, "parameter list is NULL");
    if (!nonneg(lr))
        return tg__fail(TG_ERR_VALUE, fn, "lr = %g must be finite and >= 0", lr);
    if (!(beta1 >= 0.0 && beta1 < 1.0))
        return tg__fail(TG_ERR_VALUE, fn, "beta1 = %g is outside [0, 1)", beta1);
    if (!(beta2 >= 0.0 && beta2 < 1.0))
        return tg__fail(TG_ERR_VALUE, fn, "beta2 = %g is outside [0, 1)", beta2);
    if (!nonneg(eps))
        return tg__fail(TG_ERR_VALUE, fn, "eps = %g must be finite and >= 0", eps);
    if (!nonneg(weight_decay))
        return tg__fail(TG_ERR_VALUE, fn, "weight_decay = %g must be finite and >= 0",
                        weight_decay);
    int rc = check_params(fn, params);
    if (rc == TG_OK)
        rc = alloc_state(fn, params, o->m);
    if (rc == TG_OK)
        rc = alloc_state(fn, params, o->v);
    if (rc) {
        tg_adam_free(o);
        return rc;
    }
    o->params = params;
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->adamw = adamw;
    return TG_OK;
}

/* The per-step constants of torch.optim.Adam's update at step t. */
typedef struct adam_coef {
    double lr, b1, b2, eps, wd;
    bool adamw;
    double step_size;  /* lr / (1 - b1^t) */
    double bc2_sqrt;   /* sqrt(1 - b2^t) */
} adam_coef;

/* One element: decay (L2 into g, or decoupled on p), the two moments, then
 * p -= step_size * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
static inline double adam_one(const adam_coef *c, double p, double g, double *m,
                              double *v)
{
    if (c->wd != 0.0) {
        if (c->adamw)
            p *= 1.0 - c->lr * c->wd;
        else
            g += c->wd * p;
    }
    *m = c->b1 * *m + (1.0 - c->b1) * g;
    *v = c->b2 * *v + (1.0 - c->b2) * (g * g);
    double denom = sqrt(*v) / c->bc2_sqrt + c->eps;
    return p - c->step_size * (*m / denom);
}

/* The float32 update in float arithmetic, as PyTorch does it for float32
 * parameters, in a loop the compiler vectorises (sqrt included). l2 is
 * Adam's weight decay folded into g, decay AdamW's factor on p. */
TG_CLONES static void adam_f32(int64_t n, float *restrict x, const float *restrict g,
                               float *restrict m, float *restrict v, float b1,
                               float b2, float bc2_sqrt, float eps, float step,
                               float l2, float decay)
{
    float omb1 = 1.0f - b1, omb2 = 1.0f - b2;
    if (l2 == 0.0f && decay == 1.0f) {
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i];
            float mi = b1 * m[i] + omb1 * gi;
            float vi = b2 * v[i] + omb2 * (gi * gi);
            m[i] = mi;
            v[i] = vi;
            x[i] -= step * (mi / (sqrtf(vi) / bc2_sqrt + eps));
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float xi = x[i] * decay, gi = g[i] + l2 * x[i];
        float mi = b1 * m[i] + omb1 * gi;
        float vi = b2 * v[i] + omb2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        x[i] = xi - step * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

static void adam_update(const adam_coef *c, tg_tensor *p, const tg_tensor *gt,
                        tg_tensor *mt, tg_tensor *vt)
{
    int64_t n = p->numel;
    if (p->dtype == TG_FLOAT64) {
        double *x = tg_data(p), *m = tg_data(mt), *v = tg_data(vt);
        const double *g = tg_data(gt);
        for (int64_t i = 0; i < n; i++)
            x[i] = adam_one(c, x[i], g[i], &m[i], &v[i]);
    } else {
        bool decay = c->wd != 0.0;
        adam_f32(n, tg_data(p), tg_data(gt), tg_data(mt), tg_data(vt),
                 (float)c->b1, (float)c->b2, (float)c->bc2_sqrt, (float)c->eps,
                 (float)c->step_size, decay && !c->adamw ? (float)c->wd : 0.0f,
                 decay && c->adamw ? (float)(1.0 - c->lr * c->wd) : 1.0f);
    }
    tg__touch(p);
}

int tg_adam_step(tg_adam *o)
{
    const char *fn = "tg_adam_step";
    int rc = check_optimiser(fn, o, o ? o->params : NULL);
    if (rc)
        return rc;
    tg_params *ps = o->params;
    for (int i = 0; i < ps->count && rc == TG_OK; i++)
        if (!ps->buffer[i])
            rc = check_step(fn, ps, i, o->m[i], o->v[i], 2);
    if (rc)
        return rc;
    /* As PyTorch's state['step'], t counts the updates of each parameter:
     * a parameter without a gradient (never reached by backward) is
     * skipped and keeps its count, so its bias corrections start at 1
     * whenever its first gradient comes. */
    for (int i = 0; i < ps->count; i++) {
        if (ps->buffer[i] || !ps->tensors[i]->grad) /* a buffer is not trained */
            continue;
        double t = (double)(o->t[i] + 1);
        adam_coef c = {
            .lr = o->lr, .b1 = o->beta1, .b2 = o->beta2, .eps = o->eps,
            .wd = o->weight_decay, .adamw = o->adamw,
            .step_size = o->lr / (1.0 - pow(o->beta1, t)),
            .bc2_sqrt = sqrt(1.0 - pow(o->beta2, t)),
        };
        adam_update(&c, ps->tensors[i], ps->tensors[i]->grad, o->m[i], o->v[i]);
        o->t[i]++;
    }
    o->steps++;
    return TG_OK;
}
