/* schedule.c - learning-rate schedules as closed forms of the step, each
 * the formula torch.optim.lr_scheduler uses (its _get_closed_form_lr, or
 * OneCycleLR's phases), and their application to parameter groups. One
 * validation (check_schedule) serves the constructors, tg_lr_at and
 * tg_lr_apply, so a schedule filled in by hand is checked too. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "schedule.h"

static const double pi = 3.14159265358979323846;

static bool nonneg(double x) { return x >= 0.0 && isfinite(x); }

static int check_linear(const char *fn, const tg_lr_schedule *s)
{
    if (!(s->start_factor >= 0.0 && s->start_factor <= 1.0))
        return tg__fail(TG_ERR_VALUE, fn, "start_factor = %g is outside [0, 1]",
                        s->start_factor);
    if (!(s->end_factor >= 0.0 && s->end_factor <= 1.0))
        return tg__fail(TG_ERR_VALUE, fn, "end_factor = %g is outside [0, 1]",
                        s->end_factor);
    if (s->total_iters < 1)
        return tg__fail(TG_ERR_VALUE, fn, "%s = %lld must be >= 1",
                        s->kind == TG_LR_LINEAR ? "total_iters" : "warmup_iters",
                        (long long)s->total_iters);
    return TG_OK;
}

static int check_cosine(const char *fn, const tg_lr_schedule *s)
{
    if (s->t_max < 1)
        return tg__fail(TG_ERR_VALUE, fn, "t_max = %lld must be >= 1",
                        (long long)s->t_max);
    if (!nonneg(s->eta_min))
        return tg__fail(TG_ERR_VALUE, fn, "eta_min = %g must be finite and >= 0",
                        s->eta_min);
    return TG_OK;
}

static int check_schedule(const char *fn, const tg_lr_schedule *s)
{
    int rc;
    if (!s)
        return tg__fail(TG_ERR_NULL, fn, "schedule is NULL");
    switch (s->kind) {
    case TG_LR_CONSTANT:
        return TG_OK;
    case TG_LR_STEP:
        if (s->step_size < 1)
            return tg__fail(TG_ERR_VALUE, fn, "step_size = %lld must be >= 1",
                            (long long)s->step_size);
        break;
    case TG_LR_MULTI_STEP:
        if (s->nmilestones < 1 || s->nmilestones > TG_LR_MAX_MILESTONES)
            return tg__fail(TG_ERR_VALUE, fn,
                            "%d milestones; between 1 and %d are allowed",
                            s->nmilestones, TG_LR_MAX_MILESTONES);
        for (int i = 0; i < s->nmilestones; i++)
            if (s->milestones[i] < 0)
                return tg__fail(TG_ERR_VALUE, fn, "milestone %d is %lld; it must be >= 0",
                                i, (long long)s->milestones[i]);
        break;
    case TG_LR_EXPONENTIAL:
        break;
    case TG_LR_LINEAR:
        return check_linear(fn, s);
    case TG_LR_COSINE:
        return check_cosine(fn, s);
    case TG_LR_WARMUP_COSINE:
        /* a linear warm-up that ends at factor 1, then a cosine */
        if (s->end_factor != 1.0)
            return tg__fail(TG_ERR_VALUE, fn,
                            "end_factor = %g; a warm-up ends at factor 1", s->end_factor);
        rc = check_linear(fn, s);
        return rc ? rc : check_cosine(fn, s);
    case TG_LR_ONE_CYCLE:
        if (s->total_steps < 1)
            return tg__fail(TG_ERR_VALUE, fn, "total_steps = %lld must be >= 1",
                            (long long)s->total_steps);
        if (!(s->pct_start > 0.0 && s->pct_start < 1.0))
            return tg__fail(TG_ERR_VALUE, fn, "pct_start = %g is outside (0, 1)",
                            s->pct_start);
        if (!(s->pct_start * (double)s->total_steps > 1.0))
            return tg__fail(TG_ERR_VALUE, fn,
                            "pct_start * total_steps = %g leaves the warm-up phase no "
                            "step (it must be > 1)",
                            s->pct_start * (double)s->total_steps);
        if (!(s->div_factor > 0.0 && isfinite(s->div_factor)))
            return tg__fail(TG_ERR_VALUE, fn, "div_factor = %g must be finite and > 0",
                            s->div_factor);
        if (!(s->final_div_factor > 0.0 && isfinite(s->final_div_factor)))
            return tg__fail(TG_ERR_VALUE, fn,
                            "final_div_factor = %g must be finite and > 0",
                            s->final_div_factor);
        return TG_OK;
    default:
        return tg__fail(TG_ERR_VALUE, fn, "unknown schedule kind %d", (int)s->kind);
    }
    /* step, multi-step and exponential share gamma */
    if (!nonneg(s->gamma))
        return tg__fail(TG_ERR_VALUE, fn, "gamma = %g must be finite and >= 0", s->gamma);
    return TG_OK;
}

/* Validates the filled schedule; on error leaves a constant one. */
static int finish(const char *fn, tg_lr_schedule *s)
{
    int rc = check_schedule(fn, s);
    if (rc) {
        memset(s, 0, sizeof *s);
        s->kind = TG_LR_CONSTANT;
    }
    return rc;
}

/* Starts a schedule of the given kind, every other field zero. */
static int start(const char *fn, tg_lr_schedule *s, tg_lr_kind kind)
{
    if (!s)
        return tg__fail(TG_ERR_NULL, fn, "schedule is NULL");
    memset(s, 0, sizeof *s);
    s->kind = kind;
    return TG_OK;
}

int tg_lr_constant(tg_lr_schedule *s)
{
    return start("tg_lr_constant", s, TG_LR_CONSTANT);
}

int tg_lr_step(tg_lr_schedule *s, int64_t step_size, double gamma)
{
    const char *fn = "tg_lr_step";
    int rc = start(fn, s, TG_LR_STEP);
    if (rc)
        return rc;
    s->step_size = step_size;
    s->gamma = gamma;
    return finish(fn, s);
}

int tg_lr_multi_step(tg_lr_schedule *s, int n, const int64_t *milestones, double gamma)
{
    const char *fn = "tg_lr_multi_step";
    int rc = start(fn, s, TG_LR_MULTI_STEP);
    if (rc)
        return rc;
    if (!milestones && n > 0) {
        s->kind = TG_LR_CONSTANT;
        return tg__fail(TG_ERR_NULL, fn, "milestones is NULL");
    }
    s->nmilestones = n;
    if (n >= 1 && n <= TG_LR_MAX_MILESTONES)
        memcpy(s->milestones, milestones, (size_t)n * sizeof *milestones);
    s->gamma = gamma;
    return finish(fn, s);
}

int tg_lr_exponential(tg_lr_schedule *s, double gamma)
{
    const char *fn = "tg_lr_exponential";
    int rc = start(fn, s, TG_LR_EXPONENTIAL);
    if (rc)
        return rc;
    s->gamma = gamma;
    return finish(fn, s);
}

int tg_lr_cosine(tg_lr_schedule *s, int64_t t_max, double eta_min)
{
    const char *fn = "tg_lr_cosine";
    int rc = start(fn, s, TG_LR_COSINE);
    if (rc)
        return rc;
    s->t_max = t_max;
    s->eta_min = eta_min;
    return finish(fn, s);
}

int tg_lr_linear(tg_lr_schedule *s, double start_factor, double end_factor,
                 int64_t total_iters)
{
    const char *fn = "tg_lr_linear";
    int rc = start(fn, s, TG_LR_LINEAR);
    if (rc)
        return rc;
    s->start_factor = start_factor;
    s->end_factor = end_factor;
    s->total_iters = total_iters;
    return finish(fn, s);
}

int tg_lr_warmup_cosine(tg_lr_schedule *s, double start_factor, int64_t warmup_iters,
                        int64_t t_max, double eta_min)
{
    const char *fn = "tg_lr_warmup_cosine";
    int rc = start(fn, s, TG_LR_WARMUP_COSINE);
    if (rc)
        return rc;
    s->start_factor = start_factor;
    s->end_factor = 1.0;
    s->total_iters = warmup_iters;
    s->t_max = t_max;
    s->eta_min = eta_min;
    return finish(fn, s);
}

int tg_lr_one_cycle_ex(tg_lr_schedule *s, int64_t total_steps, double pct_start,
                       double div_factor, double final_div_factor)
{
    const char *fn = "tg_lr_one_cycle";
    int rc = start(fn, s, TG_LR_ONE_CYCLE);
    if (rc)
        return rc;
    s->total_steps = total_steps;
    s->pct_start = pct_start;
    s->div_factor = div_factor;
    s->final_div_factor = final_div_factor;
    return finish(fn, s);
}

int tg_lr_one_cycle(tg_lr_schedule *s, int64_t total_steps)
{
    return tg_lr_one_cycle_ex(s, total_steps, 0.3, 25.0, 1e4);
}

/* ---- the values ------------------------------------------------------------------ */

/* CosineAnnealingLR's closed form at step t. */
static double cosine(double base, double eta_min, int64_t t, int64_t t_max)
{
    return eta_min +
           (base - eta_min) * (1.0 + cos(pi * (double)t / (double)t_max)) / 2.0;
}

/* OneCycleLR's _annealing_cos: from start at pct 0 to end at pct 1. */
static double anneal_cos(double start_lr, double end_lr, double pct)
{
    return end_lr + (start_lr - end_lr) / 2.0 * (cos(pi * pct) + 1.0);
}

/* The value, for a schedule, base and step already checked. */
static double lr_value(const tg_lr_schedule *s, double base, int64_t t)
{
    switch (s->kind) {
    case TG_LR_STEP:
        return base * pow(s->gamma, (double)(t / s->step_size));
    case TG_LR_MULTI_STEP: {
        int passed = 0;
        for (int i = 0; i < s->nmilestones; i++)
            passed += s->milestones[i] <= t;
        return base * pow(s->gamma, (double)passed);
    }
    case TG_LR_EXPONENTIAL:
        return base * pow(s->gamma, (double)t);
    case TG_LR_COSINE:
        return cosine(base, s->eta_min, t, s->t_max);
    case TG_LR_LINEAR: {
        int64_t k = t < s->total_iters ? t : s->total_iters;
        return base * (s->start_factor + (s->end_factor - s->start_factor) * (double)k /
                                             (double)s->total_iters);
    }
    case TG_LR_WARMUP_COSINE:
        if (t < s->total_iters)
            return base * (s->start_factor +
                           (1.0 - s->start_factor) * (double)t / (double)s->total_iters);
        return cosine(base, s->eta_min, t - s->total_iters, s->t_max);
    case TG_LR_ONE_CYCLE: {
        double initial = base / s->div_factor, min_lr = initial / s->final_div_factor;
        double end1 = s->pct_start * (double)s->total_steps - 1.0;
        double end2 = (double)s->total_steps - 1.0, x = (double)t;
        if (x <= end1)
            return anneal_cos(initial, base, x / end1);
        return anneal_cos(base, min_lr, (x - end1) / (end2 - end1));
    }
    case TG_LR_CONSTANT:
    default:
        return base;
    }
}

static int check_at(const char *fn, const tg_lr_schedule *s, int64_t step)
{
    int rc = check_schedule(fn, s);
    if (rc)
        return rc;
    if (step < 0)
        return tg__fail(TG_ERR_VALUE, fn, "step %lld is negative", (long long)step);
    if (s->kind == TG_LR_ONE_CYCLE && step > s->total_steps)
        return tg__fail(TG_ERR_VALUE, fn,
                        "step %lld is past the one-cycle schedule's total_steps %lld",
                        (long long)step, (long long)s->total_steps);
    return TG_OK;
}

double tg_lr_at(const tg_lr_schedule *s, double base_lr, int64_t step)
{
    const char *fn = "tg_lr_at";
    if (check_at(fn, s, step))
        return (double)NAN;
    if (!nonneg(base_lr)) {
        tg__fail(TG_ERR_VALUE, fn, "base_lr = %g must be finite and >= 0", base_lr);
        return (double)NAN;
    }
    return lr_value(s, base_lr, step);
}

int tg_lr_apply(const tg_lr_schedule *s, int64_t step, tg_param_groups *g)
{
    const char *fn = "tg_lr_apply";
    int rc = check_at(fn, s, step);
    if (rc)
        return rc;
    if (!g)
        return tg__fail(TG_ERR_NULL, fn, "parameter groups are NULL");
    if (g->count < 1 || g->count > TG_MAX_GROUPS)
        return tg__fail(TG_ERR_VALUE, fn,
                        "parameter groups are not initialised (initialise the optimiser)");
    for (int k = 0; k < g->count; k++)
        if (!nonneg(g->initial_lr[k]))
            return tg__fail(TG_ERR_VALUE, fn,
                            "group %d has initial_lr = %g; it must be finite and >= 0", k,
                            g->initial_lr[k]);
    for (int k = 0; k < g->count; k++)
        g->lr[k] = lr_value(s, g->initial_lr[k], step);
    return TG_OK;
}
