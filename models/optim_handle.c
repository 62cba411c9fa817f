/* optim_handle.c - tg_optim, one heap handle for the four optimisers of
 * optim.c (each made by its init function into the handle, beside a copy
 * of the parameter list it updates), and tg_step, the one-call training
 * step built on it: item, zero-grad, backward, update, tape reset. */
#include <string.h>

#include "internal.h"
#include "optim.h"
#include "../autograd/plan.h"

typedef enum { OPT_SGD, OPT_ADAM, OPT_RMSPROP, OPT_ADAGRAD } opt_kind;

struct tg_optim {
    opt_kind kind;
    tg_params params; /* the copy every state pointer below refers to */
    union {
        tg_sgd sgd;
        tg_adam adam;
        tg_rmsprop rmsprop;
        tg_adagrad adagrad;
    } u;
};

/* A handle holding a copy of params, its optimiser not yet made; NULL
 * (keeping the message of whatever made a NULL list) on failure. */
static tg_optim *new_handle(const char *fn, const tg_params *params, opt_kind kind)
{
    if (!params) {
        if (tg_last_error() == TG_OK)
            tg__fail(TG_ERR_NULL, fn, "parameter list is NULL");
        return NULL;
    }
    tg_optim *o = tg__alloc(sizeof *o);
    if (!o) {
        tg__oom(fn);
        return NULL;
    }
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->params = *params;
    return o;
}

/* The handle when init succeeded; else frees it (init left nothing to
 * free) and returns NULL with init's error. */
static tg_optim *finish(tg_optim *o, int rc)
{
    if (!rc)
        return o;
    tg__dealloc(o, sizeof *o);
    return NULL;
}

tg_optim *tg_optim_sgd(const tg_params *params, double lr, double momentum,
                       double weight_decay, bool nesterov)
{
    tg_optim *o = new_handle("tg_optim_sgd", params, OPT_SGD);
    return o ? finish(o, tg_sgd_init(&o->u.sgd, &o->params, lr, momentum, weight_decay,
                                     nesterov))
             : NULL;
}

tg_optim *tg_optim_adam(const tg_params *params, double lr, double beta1, double beta2,
                        double eps, double weight_decay, bool adamw)
{
    tg_optim *o = new_handle("tg_optim_adam", params, OPT_ADAM);
    return o ? finish(o, tg_adam_init(&o->u.adam, &o->params, lr, beta1, beta2, eps,
                                      weight_decay, adamw))
             : NULL;
}

tg_optim *tg_optim_rmsprop(const tg_params *params, double lr, double alpha, double eps,
                           double weight_decay, double momentum, bool centered)
{
    tg_optim *o = new_handle("tg_optim_rmsprop", params, OPT_RMSPROP);
    return o ? finish(o, tg_rmsprop_init(&o->u.rmsprop, &o->params, lr, alpha, eps,
                                         weight_decay, momentum, centered))
             : NULL;
}

tg_optim *tg_optim_adagrad(const tg_params *params, double lr, double lr_decay,
                           double weight_decay, double initial_accumulator_value,
                           double eps)
{
    tg_optim *o = new_handle("tg_optim_adagrad", params, OPT_ADAGRAD);
    return o ? finish(o, tg_adagrad_init(&o->u.adagrad, &o->params, lr, lr_decay,
                                         weight_decay, initial_accumulator_value, eps))
             : NULL;
}

static int null_optim(const char *fn)
{
    return tg__fail(TG_ERR_NULL, fn, "optimiser is NULL");
}

int tg_optim_step(tg_optim *o)
{
    if (!o)
        return null_optim("tg_optim_step");
    switch (o->kind) {
    case OPT_SGD:
        return tg_sgd_step(&o->u.sgd);
    case OPT_ADAM:
        return tg_adam_step(&o->u.adam);
    case OPT_RMSPROP:
        return tg_rmsprop_step(&o->u.rmsprop);
    case OPT_ADAGRAD:
        return tg_adagrad_step(&o->u.adagrad);
    }
    return tg__fail(TG_ERR_VALUE, "tg_optim_step", "not an optimiser");
}

int tg_optim_zero_grad(tg_optim *o)
{
    return o ? tg_params_zero_grad(&o->params) : null_optim("tg_optim_zero_grad");
}

tg_param_groups *tg_optim_groups(tg_optim *o)
{
    if (!o)
        return NULL;
    switch (o->kind) {
    case OPT_SGD:
        return &o->u.sgd.groups;
    case OPT_ADAM:
        return &o->u.adam.groups;
    case OPT_RMSPROP:
        return &o->u.rmsprop.groups;
    case OPT_ADAGRAD:
        return &o->u.adagrad.groups;
    }
    return NULL;
}

const tg_params *tg_optim_params(const tg_optim *o) { return o ? &o->params : NULL; }

int64_t tg_optim_steps(const tg_optim *o)
{
    if (!o)
        return -1;
    switch (o->kind) {
    case OPT_SGD:
        return o->u.sgd.steps;
    case OPT_ADAM:
        return o->u.adam.steps;
    case OPT_RMSPROP:
        return o->u.rmsprop.steps;
    case OPT_ADAGRAD:
        return o->u.adagrad.steps;
    }
    return -1;
}

void tg_optim_free(tg_optim *o)
{
    if (!o)
        return;
    switch (o->kind) {
    case OPT_SGD:
        tg_sgd_free(&o->u.sgd);
        break;
    case OPT_ADAM:
        tg_adam_free(&o->u.adam);
        break;
    case OPT_RMSPROP:
        tg_rmsprop_free(&o->u.rmsprop);
        break;
    case OPT_ADAGRAD:
        tg_adagrad_free(&o->u.adagrad);
        break;
    }
    tg__dealloc(o, sizeof *o);
}

int tg_step(tg_tape *T, tg_tensor *loss, tg_optim *o, double *value)
{
    const char *fn = "tg_step";
    if (!T)
        return tg__fail(TG_ERR_NULL, fn, "tape is NULL");
    int rc;
    if (!loss)
        rc = TG_ERR_NULL; /* the forward pass's own message stands */
    else if (!o)
        rc = null_optim(fn);
    else if (loss->numel != 1)
        rc = tg__fail(TG_ERR_SHAPE, fn, "the loss has %lld elements, not one",
                      (long long)loss->numel);
    else if (!(rc = value ? tg_item(loss, value) : TG_OK) &&
             !(rc = tg_optim_zero_grad(o)) && !(rc = tg_backward(T, loss)))
        rc = tg_optim_step(o);
    /* Captured (plan.h), the step's tensors must live on for the plan. */
    int reset = tg_tape_is_capturing(T) ? TG_OK : tg_tape_reset(T);
    return rc ? rc : reset;
}
