/* schedule.h - learning-rate schedules as pure functions of the step, with
 * torch.optim.lr_scheduler's values, and their application to an
 * optimiser's parameter groups (optim.h).
 *
 *     tg_lr_schedule s;
 *     tg_lr_warmup_cosine(&s, 0.01, 100, 900, 0.0); // 100 warm-up steps, then cosine
 *     for (int64_t step = 0; step < 1000; step++) {
 *         tg_lr_apply(&s, step, &opt.groups);  // every group's lr for this step
 *         ...forward, zero grad, backward...
 *         tg_adam_step(&opt);
 *     }
 *
 * Step 0 is the lr of the first update, as PyTorch's lr before its first
 * scheduler.step(); step n is the lr after n calls of scheduler.step().
 * Because a value depends only on (schedule, base lr, step), resuming a run
 * at step k needs nothing but k. A schedule scales each group from its own
 * initial_lr (PyTorch's base_lrs), so groups keep their ratios; eta_min is
 * shared, as in PyTorch. A schedule is a plain value: no allocation, nothing
 * to free. The constructors check their arguments (TG_ERR_VALUE naming the
 * function) and leave *s as a constant schedule on error.
 */
#ifndef TG_SCHEDULE_H
#define TG_SCHEDULE_H

#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tg_lr_kind {
    TG_LR_CONSTANT,      /* base */
    TG_LR_STEP,          /* StepLR */
    TG_LR_MULTI_STEP,    /* MultiStepLR */
    TG_LR_EXPONENTIAL,   /* ExponentialLR */
    TG_LR_COSINE,        /* CosineAnnealingLR */
    TG_LR_LINEAR,        /* LinearLR (linear warm-up) */
    TG_LR_WARMUP_COSINE, /* SequentialLR([LinearLR, CosineAnnealingLR]) */
    TG_LR_ONE_CYCLE      /* OneCycleLR (cos annealing, two phases) */
} tg_lr_kind;

#define TG_LR_MAX_MILESTONES 16

typedef struct tg_lr_schedule {
    tg_lr_kind kind;
    double gamma;                  /* step, multi-step, exponential */
    int64_t step_size;             /* step */
    int nmilestones;               /* multi-step */
    int64_t milestones[TG_LR_MAX_MILESTONES];
    int64_t t_max;                 /* cosine; warm-up cosine: steps after warm-up */
    double eta_min;                /* cosine, warm-up cosine */
    double start_factor, end_factor; /* linear; warm-up cosine (end 1) */
    int64_t total_iters;           /* linear; warm-up cosine: warm-up steps */
    int64_t total_steps;           /* one-cycle */
    double pct_start, div_factor, final_div_factor; /* one-cycle */
} tg_lr_schedule;

/* The lr at step (>= 0) for a group whose initial lr is base_lr (finite,
 * >= 0; for one-cycle, max_lr). NaN with TG_ERR_VALUE for a bad schedule,
 * base or step (one-cycle: a step past total_steps, as PyTorch). */
double tg_lr_at(const tg_lr_schedule *s, double base_lr, int64_t step);
/* Sets groups->lr[k] = tg_lr_at(s, groups->initial_lr[k], step) for every
 * group; on error no group changes. */
int tg_lr_apply(const tg_lr_schedule *s, int64_t step, tg_param_groups *groups);

/* ---- Constructors (torch.optim.lr_scheduler's closed forms) ---------------- */

/* base, always. */
int tg_lr_constant(tg_lr_schedule *s);
/* StepLR: base * gamma^floor(step / step_size); step_size >= 1, gamma
 * finite and >= 0. */
int tg_lr_step(tg_lr_schedule *s, int64_t step_size, double gamma);
/* MultiStepLR: base * gamma^(number of milestones <= step); n in
 * [1, TG_LR_MAX_MILESTONES] milestones >= 0 in any order (a repeated one
 * counts twice, as PyTorch's Counter). */
int tg_lr_multi_step(tg_lr_schedule *s, int n, const int64_t *milestones, double gamma);
/* ExponentialLR: base * gamma^step. */
int tg_lr_exponential(tg_lr_schedule *s, double gamma);
/* CosineAnnealingLR: eta_min + (base - eta_min)(1 + cos(pi step/t_max))/2;
 * t_max >= 1, eta_min finite and >= 0. Past t_max the cosine goes on (up
 * again), as PyTorch's. */
int tg_lr_cosine(tg_lr_schedule *s, int64_t t_max, double eta_min);
/* LinearLR: base * (start + (end - start) min(step, total_iters)/total_iters);
 * factors in [0, 1] (PyTorch refuses start 0, which is allowed here),
 * total_iters >= 1. */
int tg_lr_linear(tg_lr_schedule *s, double start_factor, double end_factor,
                 int64_t total_iters);
/* Linear warm-up from base*start_factor over warmup_iters steps, then
 * cosine annealing from base to eta_min over t_max steps: PyTorch's
 * SequentialLR of LinearLR(start_factor, 1, warmup_iters) and
 * CosineAnnealingLR(t_max, eta_min) with milestone warmup_iters. */
int tg_lr_warmup_cosine(tg_lr_schedule *s, double start_factor, int64_t warmup_iters,
                        int64_t t_max, double eta_min);
/* OneCycleLR with PyTorch's defaults: pct_start 0.3, div_factor 25,
 * final_div_factor 1e4, cos annealing, two phases: from max/25 up to max
 * at step pct_start*total - 1, then down to max/25/1e4 at total - 1
 * (base_lr is max_lr). Momentum is not cycled. */
int tg_lr_one_cycle(tg_lr_schedule *s, int64_t total_steps);
/* The same with the three numbers given: pct_start in (0, 1) with both
 * phases at least one step long, div_factor and final_div_factor > 0. */
int tg_lr_one_cycle_ex(tg_lr_schedule *s, int64_t total_steps, double pct_start,
                       double div_factor, double final_div_factor);

#ifdef __cplusplus
}
#endif
#endif /* TG_SCHEDULE_H */
