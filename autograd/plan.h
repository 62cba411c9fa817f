/* plan.h - capture one training step and replay it.
 *
 * A step of a training loop does the same work every time: the same ops on
 * the same shapes, into the same buffers. The tape still checks every
 * operand, resolves broadcasting, makes result headers and records the op
 * each time. A plan does that work once. tg_capture_begin starts recording
 * the kernels the next step runs (forward, backward, the optimiser's
 * update: every kernel with its resolved shapes, strides and buffers);
 * tg_capture_end turns them into a plan; tg_plan_replay runs only those
 * kernels again, with the values the inputs hold now:
 *
 *     train_step(T, ...);                // one eager step first (it makes
 *                                        // the .grads and optimiser state)
 *     tg_capture_begin(T);
 *     train_step(T, ...);                // runs for real while captured
 *     tg_plan *P = tg_capture_end(T);    // NULL: the step cannot replay
 *     for (int step = 2; step < 800; step++) {
 *         copy_next_batch_into(x, y);    // inputs change in place
 *         if (tg_plan_replay(P)) { puts(tg_last_message()); break; }
 *     }
 *     tg_plan_free(P);                   // before tg_tape_free(T)
 *
 * Replay gives the values the eager step would, bit for bit: it runs the
 * same kernels on the same buffers in the same order. Tensors the step made
 * on the tape (the loss, say) hold the new values after each replay.
 *
 * What may change between replays: the values of the caller's tensors the
 * step reads (a new batch written into the captured input, the updated
 * parameters) and the optimiser's settings (learning rate, schedules: the
 * optimiser's own update runs on each replay, so Adam's step count and
 * bias corrections advance). What may not: an input's shape, dtype,
 * strides or storage, a parameter's .grad, or the tape (a tg_tape_reset
 * frees the plan's buffers). A replay checks these first and refuses with
 * TG_ERR_VALUE (or TG_ERR_TAPE) naming the input, never running on stale
 * assumptions. A tensor freed and another made at the same address is
 * beyond what C lets a check see (as for the tape: docs/autograd.md).
 *
 * What a step may hold: the ops of tape.h, nn_ops.h and models/ whose
 * kernels are traced (docs/performance.md lists them; normalisation, joins
 * and the random fills are not yet), tg_item reads, and the optimisers'
 * steps. Dropout draws a new mask on each replay from the generator it was
 * given, which must outlive the plan, as must every tensor the step reads.
 * A step with a convolution replays only at the thread count it was
 * captured at (its work buffer depends on it; another count is refused).
 * tg_capture_end refuses a step that did work a replay
 * would not repeat: a caller-owned tensor made during it (an op with a NULL
 * tape, tg_clone), an op on another tape, a tg_tape_reset after its first
 * op, an in-place write by a function that is not captured, a value
 * decided on the host from the data (gradient clipping's scale), or a
 * failed op. The C code around the ops does not replay: a branch or a
 * printf in the step ran once, during the capture.
 *
 * Memory: a replay makes no allocation of its own and does not grow the
 * tape's arena. It allocates only where a kernel itself does in the eager
 * step too: a large product on the portable kernels (no OpenBLAS) packs
 * its operands in heap buffers, and a reduction over a strided view uses
 * a scratch. Should such an allocation fail, the replay stops there with
 * TG_ERR_NOMEM and the step is left half done (the parameters may be
 * updated or not): replay it again or restart from a checkpoint. The plan
 * holds one record per kernel (its arguments and tensor headers) and keeps
 * the step's intermediates alive on the tape: tg_plan_get_stats reports
 * both. */
#ifndef TG_PLAN_H
#define TG_PLAN_H

#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_plan tg_plan;

/* Resets T and starts capturing the step that follows (this thread's ops).
 * TG_ERR_TAPE if T is not live or already capturing. */
int tg_capture_begin(tg_tape *T);
/* Ends the capture: the plan, or NULL with the error set (the reason a
 * replay could not repeat the step); either way T is no longer capturing. */
tg_plan *tg_capture_end(tg_tape *T);
/* Whether T is between tg_capture_begin and tg_capture_end. */
bool tg_tape_is_capturing(const tg_tape *T);
/* Runs the captured kernels again. Refused, with nothing run, if the tape
 * was reset or an input changed shape, dtype, strides, storage or .grad. */
int tg_plan_replay(tg_plan *P);

/* Fusion (off until this is called): runs of element-wise kernels over
 * the same contiguous elements, in the forward and the backward pass, and
 * the whole sums they feed, replay as one pass over the data in tiles of a
 * few hundred elements. Small independent kernels (a .grad zeroed, the
 * backward's seed) move ahead of a run rather than ending it. Two things
 * change:
 * - a sum inside a run is added tile by tile, so a fused replay's sums
 *   (the loss, a bias's gradient) equal the eager ones to rounding (1e-12
 *   relative in float64, not bit for bit); element-wise results stay
 *   bit for bit;
 * - an intermediate that its run reads again, and nothing else reads, is
 *   kept in a tile-sized scratch and no longer written to its tensor. A
 *   value that no kernel of the step reads (the loss, a prediction that
 *   is the step's result), sums, and everything outside the runs are
 *   always written. List in keep any other tensor of the step whose
 *   values you read after a replay.
 * Calling it again rebuilds the program with the new keep list. */
int tg_plan_fuse(tg_plan *P, int nkeep, const tg_tensor *const *keep);
/* Back to the unfused replay, bit for bit the eager step. */
int tg_plan_unfuse(tg_plan *P);

typedef struct tg_plan_stats {
    size_t kernels;       /* records replayed, one per kernel call */
    size_t inputs;        /* caller-owned tensors checked before each replay */
    size_t plan_bytes;    /* heap memory of the plan itself, fusion included */
    size_t tape_bytes;    /* the tape's arena bytes the plan keeps in use */
    size_t fused_groups;  /* tg_plan_fuse's runs (0 unfused) */
    size_t fused_kernels; /* kernels inside them */
    size_t scratch_bytes; /* their tile buffers */
} tg_plan_stats;
int tg_plan_get_stats(const tg_plan *P, tg_plan_stats *stats);
/* Frees the plan (NULL is fine); the tape and its tensors are untouched. */
void tg_plan_free(tg_plan *P);

#ifdef __cplusplus
}
#endif

#endif
