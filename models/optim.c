/* optim.c - SGD (momentum, Nesterov, weight decay), Adam / AdamW, RMSprop
 * and Adagrad with torch.optim's update formulas, written straight into the
 * parameters' data, and the parameter groups that give some parameters
 * their own learning rate and weight decay. State is allocated at init; a step allocates nothing, updates every
 * parameter or none, and bumps each written parameter's version so a tape
 * that recorded the old value notices. Arithmetic is in double; float32
 * parameters and state are rounded once per element per step. */
#include <math.h>
#include <stdint.h>
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
                      const tg_tensor *const *state, int nstate)
{
    const tg_tensor *p = ps->tensors[i];
    const char *name = ps->names[i];
    for (int k = 0; k < nstate; k++)
        if (!state[k])
            return tg__fail(TG_ERR_VALUE, fn,
                            "parameter \"%s\" was added to the list after init", name);
    if (!tg_is_contiguous(p))
        return tg__fail(TG_ERR_VALUE, fn, "parameter \"%s\" is not contiguous", name);
    for (int k = 0; k < nstate; k++)
        if (state[k]->dtype != p->dtype || !tg__same_shape(state[k], p))
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

/* ---- parameter groups --------------------------------------------------------------- */

/* Group 0 with the init's settings, every entry in it. */
static void groups_init(tg_param_groups *g, const tg_params *ps, double lr, double wd)
{
    memset(g, 0, sizeof *g);
    g->count = 1;
    g->lr[0] = g->initial_lr[0] = g->seen_lr = lr;
    g->weight_decay[0] = g->seen_wd = wd;
    g->params = ps;
}

/* Before a step: group 0's lr and weight decay are also the optimiser's own
 * fields *lr and *wd; whichever copy changed since the last step wins, and
 * both are made equal. Every group's numbers and every entry's group are
 * checked first, so a refused step changes nothing. */
static int groups_sync(const char *fn, tg_param_groups *g, const tg_params *ps,
                       double *lr, double *wd)
{
    if (g->count < 1 || g->count > TG_MAX_GROUPS || g->params != ps)
        return tg__fail(TG_ERR_VALUE, fn, "parameter groups are corrupt (count %d)",
                        g->count);
    double lr0 = *lr != g->seen_lr ? *lr : g->lr[0];
    double wd0 = *wd != g->seen_wd ? *wd : g->weight_decay[0];
    for (int k = 0; k < g->count; k++) {
        double l = k ? g->lr[k] : lr0, d = k ? g->weight_decay[k] : wd0;
        if (!nonneg(l))
            return tg__fail(TG_ERR_VALUE, fn,
                            "group %d has lr = %g; it must be finite and >= 0", k, l);
        if (!nonneg(d))
            return tg__fail(TG_ERR_VALUE, fn,
                            "group %d has weight_decay = %g; it must be finite and >= 0",
                            k, d);
    }
    for (int i = 0; i < ps->count; i++)
        if (g->of[i] >= g->count)
            return tg__fail(TG_ERR_VALUE, fn,
                            "parameter \"%s\" is in group %d of %d", ps->names[i],
                            g->of[i], g->count);
    g->lr[0] = *lr = g->seen_lr = lr0;
    g->weight_decay[0] = *wd = g->seen_wd = wd0;
    return TG_OK;
}

/* Glob match of the pattern p[0..n) ('*' any run, '?' one character)
 * against the whole of s. On a mismatch after a '*', that '*' takes one
 * more character and matching resumes (backtracking to the last '*' is
 * enough for globs). */
static bool glob_match(const char *p, size_t n, const char *s)
{
    size_t i = 0, star = SIZE_MAX;
    const char *mark = NULL;
    while (*s) {
        if (i < n && (p[i] == '?' || p[i] == *s)) {
            i++;
            s++;
        } else if (i < n && p[i] == '*') {
            star = i++;
            mark = s;
        } else if (star != SIZE_MAX) {
            i = star + 1;
            s = ++mark;
        } else {
            return false;
        }
    }
    while (i < n && p[i] == '*')
        i++;
    return i == n;
}

static int groups_check(const char *fn, const tg_param_groups *g)
{
    if (!g)
        return tg__fail(TG_ERR_NULL, fn, "parameter groups are NULL");
    if (g->count < 1 || g->count > TG_MAX_GROUPS || !g->params)
        return tg__fail(TG_ERR_VALUE, fn,
                        "parameter groups are not initialised (initialise the optimiser)");
    return tgm__check_params(fn, g->params, false);
}

int tg_param_groups_add(tg_param_groups *g, const char *patterns, double lr,
                        double weight_decay)
{
    const char *fn = "tg_param_groups_add";
    int rc = groups_check(fn, g);
    if (rc)
        return rc;
    if (!patterns)
        return tg__fail(TG_ERR_NULL, fn, "patterns is NULL");
    if (g->count == TG_MAX_GROUPS)
        return tg__fail(TG_ERR_VALUE, fn,
                        "cannot add group %d: at most %d groups (raise TG_MAX_GROUPS "
                        "in models/optim.h and rebuild)", g->count, TG_MAX_GROUPS);
    if (!nonneg(lr))
        return tg__fail(TG_ERR_VALUE, fn, "lr = %g must be finite and >= 0", lr);
    if (!nonneg(weight_decay))
        return tg__fail(TG_ERR_VALUE, fn, "weight_decay = %g must be finite and >= 0",
                        weight_decay);
    const tg_params *ps = g->params;
    bool take[TG_MAX_PARAMS] = {false};
    int npatterns = 0;
    for (const char *p = patterns; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t n = strcspn(p, " ");
        bool matched = false;
        for (int i = 0; i < ps->count; i++) {
            if (ps->buffer[i] || !glob_match(p, n, ps->names[i]))
                continue;
            if (g->of[i] != 0)
                return tg__fail(TG_ERR_VALUE, fn,
                                "parameter \"%s\" (pattern \"%.*s\") is already in group %d",
                                ps->names[i], (int)n, p, g->of[i]);
            take[i] = matched = true;
        }
        if (!matched)
            return tg__fail(TG_ERR_VALUE, fn, "pattern \"%.*s\" matches no parameter",
                            (int)n, p);
        npatterns++;
        p += n;
    }
    if (npatterns == 0)
        return tg__fail(TG_ERR_VALUE, fn,
                        "patterns \"%s\" hold no pattern (separate globs by spaces)",
                        patterns);
    int k = g->count++;
    for (int i = 0; i < ps->count; i++)
        if (take[i])
            g->of[i] = (unsigned char)k;
    g->lr[k] = g->initial_lr[k] = lr;
    g->weight_decay[k] = weight_decay;
    return TG_OK;
}

int tg_param_groups_assign(tg_param_groups *g, int index, int group)
{
    const char *fn = "tg_param_groups_assign";
    int rc = groups_check(fn, g);
    if (rc)
        return rc;
    if (index < 0 || index >= g->params->count)
        return tg__fail(TG_ERR_INDEX, fn, "index %d is outside the list's [0, %d)",
                        index, g->params->count);
    if (group < 0 || group >= g->count)
        return tg__fail(TG_ERR_INDEX, fn, "group %d is outside [0, %d)", group,
                        g->count);
    if (g->params->buffer[index])
        return tg__fail(TG_ERR_VALUE, fn,
                        "entry %d (\"%s\") is a buffer, which no optimiser trains", index,
                        g->params->names[index]);
    g->of[index] = (unsigned char)group;
    return TG_OK;
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
    groups_init(&o->groups, params, lr, weight_decay);
    return TG_OK;
}

/* One element of torch.optim.SGD (dampening 0). The buffer starts at zero,
 * so the first step's momentum*0 + g is exactly PyTorch's buf = g. */
static inline double sgd_one(const tg_sgd *o, double lr, double wd, double p,
                             double g, double *buf)
{
    if (wd != 0.0)
        g += wd * p;
    if (o->momentum != 0.0) {
        *buf = o->momentum * *buf + g;
        g = o->nesterov ? g + o->momentum * *buf : *buf;
    }
    return p - lr * g;
}

/* One parameter with its group's lr and weight decay. */
static void sgd_update(const tg_sgd *o, double lr, double wd, tg_tensor *p,
                       const tg_tensor *gt, tg_tensor *bt)
{
    int64_t n = p->numel;
    double b = 0.0;
    if (p->dtype == TG_FLOAT64) {
        double *x = tg_data(p);
        const double *g = tg_data(gt);
        double *buf = bt ? tg_data(bt) : NULL;
        for (int64_t i = 0; i < n; i++) {
            b = buf ? buf[i] : 0.0;
            x[i] = sgd_one(o, lr, wd, x[i], g[i], &b);
            if (buf)
                buf[i] = b;
        }
    } else {
        float *x = tg_data(p);
        const float *g = tg_data(gt);
        float *buf = bt ? tg_data(bt) : NULL;
        for (int64_t i = 0; i < n; i++) {
            b = buf ? (double)buf[i] : 0.0;
            x[i] = (float)sgd_one(o, lr, wd, (double)x[i], (double)g[i], &b);
            if (buf)
                buf[i] = (float)b;
        }
    }
    tg__touch(p);
}

static int sgd_step(tg_sgd *o);

static int run_sgd(tg__step *e) { return sgd_step(e->ptr); }

/* The update runs whole on each replay of a captured step (plan.h), so the
 * host-side coefficients (step counts, the learning rate) stay current. */
int tg_sgd_step(tg_sgd *o)
{
    int rc;
    TG__TRACED_RC(rc, sgd_step(o), .run = run_sgd, .ptr = o);
    return rc;
}

static int sgd_step(tg_sgd *o)
{
    const char *fn = "tg_sgd_step";
    int rc = check_optimiser(fn, o, o ? o->params : NULL);
    if (rc)
        return rc;
    tg_params *ps = o->params;
    int nstate = o->momentum != 0.0 ? 1 : 0;
    for (int i = 0; i < ps->count && rc == TG_OK; i++)
        if (!ps->buffer[i])
            rc = check_step(fn, ps, i, (const tg_tensor *const[]){o->buf[i]}, nstate);
    if (rc || (rc = groups_sync(fn, &o->groups, ps, &o->lr, &o->weight_decay)))
        return rc;
    const tg_param_groups *gr = &o->groups;
    for (int i = 0; i < ps->count; i++)
        /* A buffer is not trained; a parameter never reached by backward
         * has no gradient: both skipped. */
        if (!ps->buffer[i] && ps->tensors[i]->grad)
            sgd_update(o, gr->lr[gr->of[i]], gr->weight_decay[gr->of[i]], ps->tensors[i],
                       ps->tensors[i]->grad, o->buf[i]);
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
    groups_init(&o->groups, params, lr, weight_decay);
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
TG_CLONES_512 static void adam_f32(int64_t n, float *restrict x, const float *restrict g,
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

/* One parameter's update over elements [b, e), a part of the thread
 * pool's (each element's update is independent of the others'). */
typedef struct adam_job {
    const adam_coef *c;
    tg_dtype dt;
    void *x, *m, *v;
    const void *g;
} adam_job;

static void adam_range(void *ctx, int64_t b, int64_t e)
{
    const adam_job *j = ctx;
    const adam_coef *c = j->c;
    if (j->dt == TG_FLOAT64) {
        double *x = j->x, *m = j->m, *v = j->v;
        const double *g = j->g;
        for (int64_t i = b; i < e; i++)
            x[i] = adam_one(c, x[i], g[i], &m[i], &v[i]);
        return;
    }
    bool decay = c->wd != 0.0;
    adam_f32(e - b, (float *)j->x + b, (const float *)j->g + b, (float *)j->m + b,
             (float *)j->v + b, (float)c->b1, (float)c->b2, (float)c->bc2_sqrt, (float)c->eps,
             (float)c->step_size, decay && !c->adamw ? (float)c->wd : 0.0f,
             decay && c->adamw ? (float)(1.0 - c->lr * c->wd) : 1.0f);
}

static void adam_update(const adam_coef *c, tg_tensor *p, const tg_tensor *gt,
                        tg_tensor *mt, tg_tensor *vt)
{
    adam_job j = {c, p->dtype, tg_data(p), tg_data(mt), tg_data(vt), tg_data(gt)};
    if (p->numel >= TG__PAR_MIN)
        tg__parallel_for(p->numel, 64, adam_range, &j);
    else
        adam_range(&j, 0, p->numel);
    tg__touch(p);
}

static int adam_step(tg_adam *o);

static int run_adam(tg__step *e) { return adam_step(e->ptr); }

/* The update runs whole on each replay of a captured step (plan.h), so the
 * host-side coefficients (step counts, the learning rate) stay current. */
int tg_adam_step(tg_adam *o)
{
    int rc;
    TG__TRACED_RC(rc, adam_step(o), .run = run_adam, .ptr = o);
    return rc;
}

static int adam_step(tg_adam *o)
{
    const char *fn = "tg_adam_step";
    int rc = check_optimiser(fn, o, o ? o->params : NULL);
    if (rc)
        return rc;
    tg_params *ps = o->params;
    for (int i = 0; i < ps->count && rc == TG_OK; i++)
        if (!ps->buffer[i])
            rc = check_step(fn, ps, i, (const tg_tensor *const[]){o->m[i], o->v[i]}, 2);
    if (rc || (rc = groups_sync(fn, &o->groups, ps, &o->lr, &o->weight_decay)))
        return rc;
    /* As PyTorch's state['step'], t counts the updates of each parameter:
     * a parameter without a gradient (never reached by backward) is
     * skipped and keeps its count, so its bias corrections start at 1
     * whenever its first gradient comes. */
    for (int i = 0; i < ps->count; i++) {
        if (ps->buffer[i] || !ps->tensors[i]->grad) /* a buffer is not trained */
            continue;
        double t = (double)(o->t[i] + 1);
        double lr = o->groups.lr[o->groups.of[i]];
        adam_coef c = {
            .lr = lr, .b1 = o->beta1, .b2 = o->beta2, .eps = o->eps,
            .wd = o->groups.weight_decay[o->groups.of[i]], .adamw = o->adamw,
            .step_size = lr / (1.0 - pow(o->beta1, t)),
            .bc2_sqrt = sqrt(1.0 - pow(o->beta2, t)),
        };
        adam_update(&c, ps->tensors[i], ps->tensors[i]->grad, o->m[i], o->v[i]);
        o->t[i]++;
    }
    o->steps++;
    return TG_OK;
}

/* ---- RMSprop ------------------------------------------------------------------------ */

void tg_rmsprop_free(tg_rmsprop *o)
{
    if (!o)
        return;
    for (int i = 0; i < TG_MAX_PARAMS; i++) {
        tg_free(o->square_avg[i]);
        tg_free(o->grad_avg[i]);
        tg_free(o->buf[i]);
    }
    memset(o, 0, sizeof *o);
}

int tg_rmsprop_init(tg_rmsprop *o, tg_params *params, double lr, double alpha,
                    double eps, double weight_decay, double momentum, bool centered)
{
    const char *fn = "tg_rmsprop_init";
    if (!o)
        return tg__fail(TG_ERR_NULL, fn, "optimiser is NULL");
    memset(o, 0, sizeof *o);
    if (!params)
        return tg__fail(TG_ERR_NULL, fn, "parameter list is NULL");
    if (!nonneg(lr))
        return tg__fail(TG_ERR_VALUE, fn, "lr = %g must be finite and >= 0", lr);
    if (!(alpha >= 0.0 && alpha <= 1.0))
        return tg__fail(TG_ERR_VALUE, fn, "alpha = %g is outside [0, 1]", alpha);
    if (!nonneg(eps))
        return tg__fail(TG_ERR_VALUE, fn, "eps = %g must be finite and >= 0", eps);
    if (!nonneg(weight_decay))
        return tg__fail(TG_ERR_VALUE, fn, "weight_decay = %g must be finite and >= 0",
                        weight_decay);
    if (!nonneg(momentum))
        return tg__fail(TG_ERR_VALUE, fn, "momentum = %g must be finite and >= 0",
                        momentum);
    int rc = check_params(fn, params);
    if (rc == TG_OK)
        rc = alloc_state(fn, params, o->square_avg);
    if (rc == TG_OK && centered)
        rc = alloc_state(fn, params, o->grad_avg);
    if (rc == TG_OK && momentum > 0.0)
        rc = alloc_state(fn, params, o->buf);
    if (rc) {
        tg_rmsprop_free(o);
        return rc;
    }
    o->params = params;
    o->lr = lr;
    o->alpha = alpha;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->momentum = momentum;
    o->centered = centered;
    groups_init(&o->groups, params, lr, weight_decay);
    return TG_OK;
}

/* One element of torch.optim.RMSprop, in PyTorch's order of operations:
 * sq = alpha sq + (1-alpha) g g; avg = sqrt(sq [- ga ga]) + eps; then the
 * step through the momentum buffer or straight from g / avg. */
static inline double rmsprop_one(const tg_rmsprop *o, double lr, double wd, double p,
                                 double g, double *sq, double *ga, double *buf)
{
    if (wd != 0.0)
        g += wd * p;
    *sq = o->alpha * *sq + (1.0 - o->alpha) * (g * g);
    double avg;
    if (ga) {
        *ga = o->alpha * *ga + (1.0 - o->alpha) * g;
        avg = sqrt(*sq - *ga * *ga) + o->eps;
    } else {
        avg = sqrt(*sq) + o->eps;
    }
    if (buf) {
        *buf = o->momentum * *buf + g / avg;
        return p - lr * *buf;
    }
    return p - lr * (g / avg);
}

static void rmsprop_update(const tg_rmsprop *o, double lr, double wd, int i)
{
    tg_tensor *p = o->params->tensors[i];
    const tg_tensor *gt = p->grad;
    tg_tensor *qt = o->square_avg[i], *at = o->grad_avg[i], *bt = o->buf[i];
    int64_t n = p->numel;
    double q, a, b;
    if (p->dtype == TG_FLOAT64) {
        double *x = tg_data(p), *sq = tg_data(qt);
        const double *g = tg_data(gt);
        double *ga = at ? tg_data(at) : NULL, *buf = bt ? tg_data(bt) : NULL;
        for (int64_t k = 0; k < n; k++)
            x[k] = rmsprop_one(o, lr, wd, x[k], g[k], &sq[k], ga ? &ga[k] : NULL,
                               buf ? &buf[k] : NULL);
    } else {
        float *x = tg_data(p), *sq = tg_data(qt);
        const float *g = tg_data(gt);
        float *ga = at ? tg_data(at) : NULL, *buf = bt ? tg_data(bt) : NULL;
        for (int64_t k = 0; k < n; k++) {
            q = (double)sq[k];
            a = ga ? (double)ga[k] : 0.0;
            b = buf ? (double)buf[k] : 0.0;
            x[k] = (float)rmsprop_one(o, lr, wd, (double)x[k], (double)g[k], &q,
                                      ga ? &a : NULL, buf ? &b : NULL);
            sq[k] = (float)q;
            if (ga)
                ga[k] = (float)a;
            if (buf)
                buf[k] = (float)b;
        }
    }
    tg__touch(p);
}

static int rmsprop_step(tg_rmsprop *o);

static int run_rmsprop(tg__step *e) { return rmsprop_step(e->ptr); }

/* The update runs whole on each replay of a captured step (plan.h), so the
 * host-side coefficients (step counts, the learning rate) stay current. */
int tg_rmsprop_step(tg_rmsprop *o)
{
    int rc;
    TG__TRACED_RC(rc, rmsprop_step(o), .run = run_rmsprop, .ptr = o);
    return rc;
}

static int rmsprop_step(tg_rmsprop *o)
{
    const char *fn = "tg_rmsprop_step";
    int rc = check_optimiser(fn, o, o ? o->params : NULL);
    if (rc)
        return rc;
    tg_params *ps = o->params;
    for (int i = 0; i < ps->count && rc == TG_OK; i++) {
        if (ps->buffer[i])
            continue;
        const tg_tensor *st[3];
        int nst = 0;
        st[nst++] = o->square_avg[i];
        if (o->centered)
            st[nst++] = o->grad_avg[i];
        if (o->momentum > 0.0)
            st[nst++] = o->buf[i];
        rc = check_step(fn, ps, i, st, nst);
    }
    if (rc || (rc = groups_sync(fn, &o->groups, ps, &o->lr, &o->weight_decay)))
        return rc;
    const tg_param_groups *gr = &o->groups;
    for (int i = 0; i < ps->count; i++)
        if (!ps->buffer[i] && ps->tensors[i]->grad)
            rmsprop_update(o, gr->lr[gr->of[i]], gr->weight_decay[gr->of[i]], i);
    o->steps++;
    return TG_OK;
}

/* ---- Adagrad ------------------------------------------------------------------------ */

void tg_adagrad_free(tg_adagrad *o)
{
    if (!o)
        return;
    for (int i = 0; i < TG_MAX_PARAMS; i++)
        tg_free(o->sum[i]);
    memset(o, 0, sizeof *o);
}

int tg_adagrad_init(tg_adagrad *o, tg_params *params, double lr, double lr_decay,
                    double weight_decay, double initial_accumulator_value, double eps)
{
    const char *fn = "tg_adagrad_init";
    if (!o)
        return tg__fail(TG_ERR_NULL, fn, "optimiser is NULL");
    memset(o, 0, sizeof *o);
    if (!params)
        return tg__fail(TG_ERR_NULL, fn, "parameter list is NULL");
    if (!nonneg(lr))
        return tg__fail(TG_ERR_VALUE, fn, "lr = %g must be finite and >= 0", lr);
    if (!nonneg(lr_decay))
        return tg__fail(TG_ERR_VALUE, fn, "lr_decay = %g must be finite and >= 0",
                        lr_decay);
    if (!nonneg(weight_decay))
        return tg__fail(TG_ERR_VALUE, fn, "weight_decay = %g must be finite and >= 0",
                        weight_decay);
    if (!nonneg(initial_accumulator_value))
        return tg__fail(TG_ERR_VALUE, fn,
                        "initial_accumulator_value = %g must be finite and >= 0",
                        initial_accumulator_value);
    if (!nonneg(eps))
        return tg__fail(TG_ERR_VALUE, fn, "eps = %g must be finite and >= 0", eps);
    int rc = check_params(fn, params);
    if (rc == TG_OK)
        rc = alloc_state(fn, params, o->sum);
    if (rc) {
        tg_adagrad_free(o);
        return rc;
    }
    for (int i = 0; i < params->count; i++)
        if (o->sum[i])
            tg_fill(o->sum[i], initial_accumulator_value);
    o->params = params;
    o->lr = lr;
    o->lr_decay = lr_decay;
    o->weight_decay = weight_decay;
    o->initial_accumulator_value = initial_accumulator_value;
    o->eps = eps;
    groups_init(&o->groups, params, lr, weight_decay);
    return TG_OK;
}

/* One element: sum += g g; p -= clr g / (sqrt(sum) + eps). */
static inline double adagrad_one(double clr, double wd, double eps, double p, double g,
                                 double *sum)
{
    if (wd != 0.0)
        g += wd * p;
    *sum += g * g;
    return p - clr * (g / (sqrt(*sum) + eps));
}

static void adagrad_update(const tg_adagrad *o, double clr, double wd, int i)
{
    tg_tensor *p = o->params->tensors[i];
    const tg_tensor *gt = p->grad;
    int64_t n = p->numel;
    if (p->dtype == TG_FLOAT64) {
        double *x = tg_data(p), *sum = tg_data(o->sum[i]);
        const double *g = tg_data(gt);
        for (int64_t k = 0; k < n; k++)
            x[k] = adagrad_one(clr, wd, o->eps, x[k], g[k], &sum[k]);
    } else {
        float *x = tg_data(p), *sum = tg_data(o->sum[i]);
        const float *g = tg_data(gt);
        for (int64_t k = 0; k < n; k++) {
            double s = (double)sum[k];
            x[k] = (float)adagrad_one(clr, wd, o->eps, (double)x[k], (double)g[k], &s);
            sum[k] = (float)s;
        }
    }
    tg__touch(p);
}

static int adagrad_step(tg_adagrad *o);

static int run_adagrad(tg__step *e) { return adagrad_step(e->ptr); }

/* The update runs whole on each replay of a captured step (plan.h), so the
 * host-side coefficients (step counts, the learning rate) stay current. */
int tg_adagrad_step(tg_adagrad *o)
{
    int rc;
    TG__TRACED_RC(rc, adagrad_step(o), .run = run_adagrad, .ptr = o);
    return rc;
}

static int adagrad_step(tg_adagrad *o)
{
    const char *fn = "tg_adagrad_step";
    int rc = check_optimiser(fn, o, o ? o->params : NULL);
    if (rc)
        return rc;
    tg_params *ps = o->params;
    for (int i = 0; i < ps->count && rc == TG_OK; i++)
        if (!ps->buffer[i])
            rc = check_step(fn, ps, i, (const tg_tensor *const[]){o->sum[i]}, 1);
    if (rc || (rc = groups_sync(fn, &o->groups, ps, &o->lr, &o->weight_decay)))
        return rc;
    /* t counts each parameter's own updates, as PyTorch's state['step']. */
    const tg_param_groups *gr = &o->groups;
    for (int i = 0; i < ps->count; i++) {
        if (ps->buffer[i] || !ps->tensors[i]->grad)
            continue;
        double clr = gr->lr[gr->of[i]] / (1.0 + (double)o->t[i] * o->lr_decay);
        adagrad_update(o, clr, gr->weight_decay[gr->of[i]], i);
        o->t[i]++;
    }
    o->steps++;
    return TG_OK;
}
