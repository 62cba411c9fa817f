/* checkpoint.h - one-file training checkpoints: a model's parameters and
 * buffers, its optimiser's state, hyper-parameters and parameter groups,
 * and the training step (the schedule's position), in a safetensors file
 * (tensor/safetensors.h) that Python's safetensors package reads too. A run
 * stopped after step k and resumed from the checkpoint continues bit for
 * bit as if it had never stopped.
 *
 *     tg_checkpoint ck = {.model = &params, .adam = &opt, .step = step};
 *     tg_checkpoint_save("run.safetensors", &ck);
 *     ...                                  // later, a fresh model and optimiser
 *     tg_checkpoint ck2 = {.model = &params2, .adam = &opt2};
 *     tg_checkpoint_load("run.safetensors", &ck2);   // ck2.step is the step
 *
 * The format (version 2). Tensors:
 *   "model.<name>"                   every entry of the tg_params list
 *   "optim.adam.m.<name>", "optim.adam.v.<name>", "optim.adam.t"
 *   "optim.sgd.buf.<name>"           (momentum > 0 only)
 *   "optim.rmsprop.square_avg.<name>", "optim.rmsprop.grad_avg.<name>"
 *                                    (centered only), "optim.rmsprop.buf.<name>"
 *                                    (momentum > 0 only)
 *   "optim.adagrad.sum.<name>", "optim.adagrad.t"
 * State tensors exist for parameters, not buffers; "optim.<kind>.t" is an
 * int64 vector with each list entry's update count (PyTorch's step).
 * Metadata (strings; numbers as decimal integers, or "%.17g" so doubles
 * come back exactly):
 *   "format" = "tapegrad-checkpoint", "version" = "2", "step",
 *   "optim" = "adam", "sgd", "rmsprop", "adagrad" or "none"; with an
 *   optimiser also "optim.steps", "optim.lr", "optim.weight_decay" (group
 *   0's, as the next step would take them) and the kind's own:
 *     adam     "optim.beta1", "optim.beta2", "optim.eps", "optim.adamw" (0/1)
 *     sgd      "optim.momentum", "optim.nesterov" (0/1)
 *     rmsprop  "optim.alpha", "optim.eps", "optim.momentum", "optim.centered"
 *     adagrad  "optim.lr_decay", "optim.initial_accumulator_value", "optim.eps"
 *   and the parameter groups: "optim.groups" (the count, 1 to
 *   TG_MAX_GROUPS), "optim.group.<k>.lr", "optim.group.<k>.initial_lr",
 *   "optim.group.<k>.weight_decay" for each group k, and
 *   "optim.group_of.<name>" = k for each parameter (buffers, which no
 *   optimiser trains, are not listed). A group key that names a group or
 *   a parameter the file does not have is an error; other unknown
 *   metadata keys are ignored.
 * Version 1 (written before parameter groups, RMSprop and Adagrad were
 * saved) is version 2 without the "optim.group*" keys; it still loads.
 * Builds older than version 2 refuse version-2 files rather than resume
 * without their groups. */
#ifndef TG_CHECKPOINT_H
#define TG_CHECKPOINT_H

#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a checkpoint holds: the model (required) and at most one optimiser,
 * initialised on the same tg_params list. */
typedef struct tg_checkpoint {
    tg_params *model;
    tg_adam *adam; /* or NULL */
    tg_sgd *sgd;   /* or NULL */
    int64_t step;  /* the training step / schedule position; set by load */
    tg_rmsprop *rmsprop; /* or NULL (after step: the older fields keep */
    tg_adagrad *adagrad; /* or NULL  their places) */
} tg_checkpoint;

/* Writes ck to path (atomically: a temporary file renamed over path).
 * TG_ERR_VALUE when two optimisers are given, one was initialised on
 * another list, or its numbers or groups are out of range (what a step
 * would refuse). Group 0's lr and weight decay are saved as the next step
 * would take them (optim.h: the copy written last). */
int tg_checkpoint_save(const char *path, const tg_checkpoint *ck);
/* Reads path into ck's model, its optimiser (state, step counts,
 * hyper-parameters and parameter groups) and ck->step. Every tensor's
 * name, dtype and shape and every number is checked, and a file tensor
 * "model.*" (or "optim.*" when an optimiser is given) that ck has no place
 * for is an error, as is an optimiser of another kind or of another shape
 * (SGD or RMSprop with momentum where the loader has none or the other
 * way round, RMSprop centered or not): on any error nothing in ck changes.
 * Without an optimiser, only the model and step are read (weights only).
 *
 * Parameter groups: the file's replace the optimiser's. Whatever groups
 * the loading program set up (tg_param_groups_add) are overwritten: the
 * count, each group's lr, initial_lr and weight_decay, and each
 * parameter's group, matched by name. Afterwards the optimiser's lr and
 * weight_decay fields equal group 0's. A version-1 file has no groups:
 * then the optimiser's groups are kept as the program set them up, and
 * only group 0's lr and weight decay are read from the file. */
int tg_checkpoint_load(const char *path, tg_checkpoint *ck);

/* ---- Weights from NumPy and PyTorch -------------------------------------------- */

/* Reads every entry of p (parameter or buffer) from the .npz archive at path
 * (tensor/npz.h), the member named as the entry ("fc1.weight"): what
 * np.savez(path, **{"fc1.weight": ..., ...}) writes from a PyTorch
 * state_dict. Dtypes and shapes must match; other members are ignored; on
 * any error no entry changes. */
int tg_params_load_npz(tg_params *p, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* TG_CHECKPOINT_H */
