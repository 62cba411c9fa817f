/* checkpoint.h - one-file training checkpoints: a model's parameters and
 * buffers, its optimiser's state and the training step (the schedule's
 * position), in a safetensors file (tensor/safetensors.h) that Python's
 * safetensors package reads too. A run stopped after step k and resumed
 * from the checkpoint continues bit for bit as if it had never stopped.
 *
 *     tg_checkpoint ck = {.model = &params, .adam = &opt, .step = step};
 *     tg_checkpoint_save("run.safetensors", &ck);
 *     ...                                  // later, a fresh model and optimiser
 *     tg_checkpoint ck2 = {.model = &params2, .adam = &opt2};
 *     tg_checkpoint_load("run.safetensors", &ck2);   // ck2.step is the step
 *
 * Tensors are named "model.<name>" (as in the tg_params list),
 * "optim.adam.m.<name>", "optim.adam.v.<name>", "optim.adam.t" (int64, the
 * updates of each list entry), "optim.sgd.buf.<name>"; the metadata holds
 * "format" = "tapegrad-checkpoint", "version" = "1", "step", "optim"
 * ("adam", "sgd" or "none"), "optim.steps" and the hyper-parameters
 * ("optim.lr", "optim.beta1", ... printed with 17 digits, so exact). */
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
} tg_checkpoint;

/* Writes ck to path (atomically: a temporary file renamed over path).
 * TG_ERR_VALUE when both optimisers are given or one was initialised on
 * another list. */
int tg_checkpoint_save(const char *path, const tg_checkpoint *ck);
/* Reads path into ck's model, its optimiser (state, step counts and
 * hyper-parameters) and ck->step. Every tensor's name, dtype and shape is
 * checked, and a file tensor "model.*" (or "optim.*" when an optimiser is
 * given) that ck has no place for is an error, as is an optimiser of
 * another kind; on any error nothing in ck changes. Without an optimiser,
 * only the model and step are read (weights only). */
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
