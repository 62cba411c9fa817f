/* optim.h - optimisers with PyTorch's update formulas, applied in place to
 * the parameters of a tg_params list (see nn.h).
 *
 *     tg_adam opt;
 *     tg_adam_init(&opt, &params, 1e-3, 0.9, 0.999, 1e-8, 0.0, false);
 *     for (...) { tg_tape_reset(T); ...; tg_params_zero_grad(&params);
 *                 tg_backward(T, loss); tg_adam_step(&opt); }
 *     tg_adam_free(&opt);
 *
 * State (momentum buffers, moments, accumulators) is allocated at init, so
 * steps never allocate. A parameter whose gradient is NULL (never reached)
 * is skipped, and so is a buffer (tg_params_add_buffer): it has no state and
 * is never written.
 *
 * Parameter groups (PyTorch's param_groups) give some parameters their own
 * learning rate and weight decay, e.g. no decay on biases and norms:
 *
 *     tg_adam_init(&opt, &params, 1e-3, 0.9, 0.999, 1e-8, 0.01, true);
 *     tg_param_groups_add(&opt.groups, "*.bias", 1e-3, 0.0);
 *
 * Learning-rate schedules (schedule.h) set every group's lr from the step;
 * gradient clipping is in clip.h.
 */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Parameter groups ---------------------------------------------------- */

#define TG_MAX_GROUPS 8

/* The groups of an optimiser's parameters, each with its learning rate and
 * weight decay; every other setting is shared. init makes group 0 (the
 * default group) with the lr and weight_decay it was given and puts every
 * entry of the list in it. lr[k] and weight_decay[k] may be written
 * directly between steps (a step refuses a negative or non-finite one);
 * tg_lr_apply (schedule.h) writes lr[k] from initial_lr[k]. The
 * optimiser's own lr and weight_decay fields are group 0's as well: a step
 * takes whichever of the two copies was written last. */
typedef struct tg_param_groups {
    int count;                        /* groups in use: 1 after init */
    double lr[TG_MAX_GROUPS];         /* each group's learning rate now */
    double initial_lr[TG_MAX_GROUPS]; /* its lr when made: what schedules scale */
    double weight_decay[TG_MAX_GROUPS];
    unsigned char of[TG_MAX_PARAMS];  /* of[i]: the group of list entry i */
    const tg_params *params;          /* the optimiser's list (names) */
    double seen_lr, seen_wd;          /* internal: group 0 as last synchronised */
} tg_param_groups;

/* Makes a new group (index groups->count - 1 afterwards) with its own lr
 * and weight_decay (finite, >= 0) and moves into it every parameter whose
 * name matches one of the space-separated glob patterns ('*' any run of
 * characters, '?' one character): "*.bias *norm*" or "fc1.weight". A
 * parameter already moved to another group, a pattern matching no
 * parameter (buffers are never matched) or a full table (TG_MAX_GROUPS)
 * is TG_ERR_VALUE, and then nothing changes. */
int tg_param_groups_add(tg_param_groups *groups, const char *patterns, double lr,
                        double weight_decay);
/* Moves list entry index (a parameter, not a buffer) into an existing
 * group. TG_ERR_INDEX for an index or group out of range. */
int tg_param_groups_assign(tg_param_groups *groups, int index, int group);

/* ---- SGD -------------------------------------------------------------------- */

/* SGD: g = grad + wd*p; buf = momentum*buf + g (buf = g on the first step);
 * g = nesterov ? g + momentum*buf : buf; p -= lr*g. */
typedef struct tg_sgd {
    tg_params *params;
    double lr, momentum, weight_decay;
    bool nesterov;
    int64_t steps;
    tg_tensor *buf[TG_MAX_PARAMS];
    tg_param_groups groups;
} tg_sgd;

int tg_sgd_init(tg_sgd *o, tg_params *params, double lr, double momentum,
                double weight_decay, bool nesterov);
int tg_sgd_step(tg_sgd *o);
void tg_sgd_free(tg_sgd *o);

/* ---- Adam and AdamW ------------------------------------------------------------ */

/* Adam (adamw = false: g += wd*p) and AdamW (adamw = true: p *= 1 - lr*wd):
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
typedef struct tg_adam {
    tg_params *params;
    double lr, beta1, beta2, eps, weight_decay;
    bool adamw;
    int64_t steps;              /* calls to tg_adam_step */
    int64_t t[TG_MAX_PARAMS];   /* updates of each parameter (PyTorch's step) */
    tg_tensor *m[TG_MAX_PARAMS];
    tg_tensor *v[TG_MAX_PARAMS];
    tg_param_groups groups;
} tg_adam;

int tg_adam_init(tg_adam *o, tg_params *params, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool adamw);
int tg_adam_step(tg_adam *o);
void tg_adam_free(tg_adam *o);

/* ---- RMSprop ---------------------------------------------------------------------- */

/* torch.optim.RMSprop: g = grad + wd*p; sq = alpha sq + (1-alpha) g^2;
 * centered: ga = alpha ga + (1-alpha) g, avg = sqrt(sq - ga^2) + eps, else
 * avg = sqrt(sq) + eps; momentum > 0: buf = momentum buf + g/avg,
 * p -= lr buf; else p -= lr g/avg. All state starts at zero. */
typedef struct tg_rmsprop {
    tg_params *params;
    double lr, alpha, eps, weight_decay, momentum;
    bool centered;
    int64_t steps;
    tg_tensor *square_avg[TG_MAX_PARAMS];
    tg_tensor *grad_avg[TG_MAX_PARAMS]; /* centered only */
    tg_tensor *buf[TG_MAX_PARAMS];      /* momentum > 0 only */
    tg_param_groups groups;
} tg_rmsprop;

/* PyTorch's defaults: lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0,
 * momentum 0, centered false. Every number finite and >= 0, alpha <= 1. */
int tg_rmsprop_init(tg_rmsprop *o, tg_params *params, double lr, double alpha,
                    double eps, double weight_decay, double momentum, bool centered);
int tg_rmsprop_step(tg_rmsprop *o);
void tg_rmsprop_free(tg_rmsprop *o);

/* ---- Adagrad ------------------------------------------------------------------------ */

/* torch.optim.Adagrad, at a parameter's update t = 1, 2, ...:
 * g = grad + wd*p; clr = lr / (1 + (t-1) lr_decay); sum += g^2;
 * p -= clr g / (sqrt(sum) + eps); sum starts at initial_accumulator_value. */
typedef struct tg_adagrad {
    tg_params *params;
    double lr, lr_decay, weight_decay, initial_accumulator_value, eps;
    int64_t steps;             /* calls to tg_adagrad_step */
    int64_t t[TG_MAX_PARAMS];  /* updates of each parameter (PyTorch's step) */
    tg_tensor *sum[TG_MAX_PARAMS];
    tg_param_groups groups;
} tg_adagrad;

/* PyTorch's defaults: lr 1e-2, lr_decay 0, weight_decay 0,
 * initial_accumulator_value 0, eps 1e-10. Every number finite and >= 0. */
int tg_adagrad_init(tg_adagrad *o, tg_params *params, double lr, double lr_decay,
                    double weight_decay, double initial_accumulator_value, double eps);
int tg_adagrad_step(tg_adagrad *o);
void tg_adagrad_free(tg_adagrad *o);

/* ---- One handle for any optimiser, and the training step ---------------------- */

/* An optimiser on the heap behind one type, so that code which trains does
 * not care which one it is (PyTorch's torch.optim.Optimizer). It keeps its
 * own copy of the parameter list it was given: the list may be a temporary
 * (tg_module_parameters' result, a local). Same formulas, defaults and
 * errors as the init functions above; NULL with an error on failure.
 *
 *     tg_optim *opt = tg_optim_adam(tg_module_parameters(net), 1e-3, 0.9, 0.999,
 *                                   1e-8, 0.0, false);
 *     for (...)
 *         if (tg_step(T, tg_cross_entropy(T, tg_module_forward(T, net, x), y, NULL),
 *                     opt, &loss))
 *             ...;                                  // tg_last_message() says why
 *     tg_optim_free(opt);
 *
 * A NULL list (its maker failed) gives NULL and keeps that error's message. */
typedef struct tg_optim tg_optim;

tg_optim *tg_optim_sgd(const tg_params *params, double lr, double momentum,
                       double weight_decay, bool nesterov);
tg_optim *tg_optim_adam(const tg_params *params, double lr, double beta1, double beta2,
                        double eps, double weight_decay, bool adamw);
tg_optim *tg_optim_rmsprop(const tg_params *params, double lr, double alpha, double eps,
                           double weight_decay, double momentum, bool centered);
tg_optim *tg_optim_adagrad(const tg_params *params, double lr, double lr_decay,
                           double weight_decay, double initial_accumulator_value,
                           double eps);
/* One update of every parameter from its gradient (tg_sgd_step, ...). */
int tg_optim_step(tg_optim *o);
/* Zeroes the gradients of the optimiser's parameters. */
int tg_optim_zero_grad(tg_optim *o);
/* Its parameter groups: for tg_param_groups_add and the schedules
 * (tg_lr_apply(&sched, epoch, tg_optim_groups(opt))). NULL for NULL. */
tg_param_groups *tg_optim_groups(tg_optim *o);
/* Its parameter list (the copy). NULL for NULL. */
const tg_params *tg_optim_params(const tg_optim *o);
/* Calls to tg_optim_step that updated the parameters. -1 for NULL. */
int64_t tg_optim_steps(const tg_optim *o);
/* Frees the optimiser and its state (never the parameters). NULL is fine. */
void tg_optim_free(tg_optim *o);

/* One training step after a forward pass that ended in loss, on tape T:
 * loss's value into *value (unless value is NULL), the optimiser's
 * gradients zeroed, backward from loss, one update, and T reset for the
 * next forward pass (loss and every tensor the step made on T are gone
 * afterwards). It is PyTorch's
 *     loss.item(); opt.zero_grad(); loss.backward(); opt.step()
 * with the graph freed. A NULL loss (an op of the forward pass failed)
 * returns TG_ERR_NULL and keeps that op's message; then, as after any
 * failure, the parameters are unchanged unless the failure was in the
 * update itself, and T is reset all the same. loss must be a one-element
 * tensor on T. */
int tg_step(tg_tape *T, tg_tensor *loss, tg_optim *o, double *value);

#ifdef __cplusplus
}
#endif
#endif /* TG_OPTIM_H */
