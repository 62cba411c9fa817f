/* optim.h - optimisers with PyTorch's update formulas, applied in place to
 * the parameters of a tg_params list (see nn.h).
 *
 *     tg_adam opt;
 *     tg_adam_init(&opt, &params, 1e-3, 0.9, 0.999, 1e-8, 0.0, false);
 *     for (...) { tg_tape_reset(T); ...; tg_params_zero_grad(&params);
 *                 tg_backward(T, loss); tg_adam_step(&opt); }
 *     tg_adam_free(&opt);
 *
 * State (momentum buffers, moments) is allocated at init, so steps never
 * allocate. A parameter whose gradient is NULL (never reached) is skipped,
 * and so is a buffer (tg_params_add_buffer): it has no state and is never
 * written.
 */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SGD: g = grad + wd*p; buf = momentum*buf + g (buf = g on the first step);
 * g = nesterov ? g + momentum*buf : buf; p -= lr*g. */
typedef struct tg_sgd {
    tg_params *params;
    double lr, momentum, weight_decay;
    bool nesterov;
    int64_t steps;
    tg_tensor *buf[TG_MAX_PARAMS];
} tg_sgd;

int tg_sgd_init(tg_sgd *o, tg_params *params, double lr, double momentum,
                double weight_decay, bool nesterov);
int tg_sgd_step(tg_sgd *o);
void tg_sgd_free(tg_sgd *o);

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
} tg_adam;

int tg_adam_init(tg_adam *o, tg_params *params, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool adamw);
int tg_adam_step(tg_adam *o);
void tg_adam_free(tg_adam *o);

#ifdef __cplusplus
}
#endif
#endif /* TG_OPTIM_H */
