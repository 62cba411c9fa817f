/* loss.h - PyTorch's loss functions (torch.nn.functional's), on the tape.
 *
 * Each takes the tape first, an input (predictions, probabilities, logits
 * or log-probabilities), a target and a reduction, and returns the loss
 * owned by T (or by the caller when T is NULL). Every loss is a
 * composition of tape ops, so its gradient, and the gradient of that
 * gradient, come from autograd; BCE on probabilities alone has a backward
 * of its own, PyTorch's. float32 and float64; the values and gradients
 * match PyTorch 1.13's (tests/data/make_loss_ref.py).
 *
 *     // a classifier: logits (64, 10), labels (64,) int64, -100 = unlabelled
 *     tg_class_loss_args a = TG_CLASS_LOSS_ARGS;   // mean, ignore_index -100
 *     a.label_smoothing = 0.1;
 *     tg_tensor *loss = tg_cross_entropy(T, logits, labels, &a);
 *     // a binary classifier: one logit per example, targets 0 or 1
 *     tg_tensor *bce = tg_binary_cross_entropy_with_logits(T, z, y, NULL, NULL,
 *                                                          TG_REDUCE_MEAN);
 *     if (!loss || !bce || tg_backward(T, loss)) puts(tg_last_message());
 *
 * Rules shared by every function here:
 * - input and a float target have the same shape (no broadcasting: (64, 1)
 *   against (64,) is an error, not a (64, 64) loss) and the same dtype,
 *   float32 or float64. Weights have that dtype too.
 * - NULL input or float target gives NULL without a new message (the
 *   chain rule of tensor.h); NULL class targets are TG_ERR_NULL.
 * - Bad values (a reduction, delta, beta, label smoothing, a class target
 *   outside [0, classes) that is not ignore_index, a probability outside
 *   [0, 1]) are errors naming the function; nothing is allocated then.
 * - When an op inside fails (out of memory, say) the loss returns NULL and
 *   its message is the op's, prefixed by the loss's name.
 */
#ifndef TG_LOSS_H
#define TG_LOSS_H

#include "../autograd/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the per-element losses become the result (PyTorch's reduction=). */
typedef enum tg_reduction {
    TG_REDUCE_MEAN,      /* their mean, a 0-d tensor (class losses with weights:
                            the weighted mean, see tg_nll_loss) */
    TG_REDUCE_SUM,       /* their sum, 0-d */
    TG_REDUCE_NONE,      /* the per-element losses, the target's shape */
    TG_REDUCE_BATCHMEAN, /* tg_kl_div only: the sum over the size of axis 0 */
} tg_reduction;

/* ---- Regression ---------------------------------------------------------- */

/* F.l1_loss: |input - target|; the gradient of |0| is 0. */
tg_tensor *tg_l1_loss(tg_tape *T, tg_tensor *input, tg_tensor *target,
                      tg_reduction reduction);
/* F.mse_loss: (input - target)^2. (tg_loss_mse of nn.h is its mean form.) */
tg_tensor *tg_mse_loss(tg_tape *T, tg_tensor *input, tg_tensor *target,
                       tg_reduction reduction);
/* F.huber_loss: 0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta),
 * d = input - target; delta > 0 and finite (else TG_ERR_VALUE). */
tg_tensor *tg_huber_loss(tg_tape *T, tg_tensor *input, tg_tensor *target,
                         tg_reduction reduction, double delta);
/* F.smooth_l1_loss: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta;
 * beta >= 0 and finite. beta = 0 is the L1 loss, gradient 0 at d = 0 as
 * tg_l1_loss's (PyTorch 1.13's smooth_l1_loss says -1 there). */
tg_tensor *tg_smooth_l1_loss(tg_tape *T, tg_tensor *input, tg_tensor *target,
                             tg_reduction reduction, double beta);

/* ---- Binary classification --------------------------------------------------- */

/* F.binary_cross_entropy: -(t log(x) + (1 - t) log(1 - x)) on
 * probabilities x in [0, 1] (else TG_ERR_VALUE), each log clamped at -100
 * as PyTorch does, so x = 0 or 1 gives 100, not inf. The gradient is
 * PyTorch's, (x - t) / max(x (1 - x), 1e-12f), finite at 0 and 1; target's
 * is log(1 - x) - log(x). weight (NULL: none) multiplies each element and
 * broadcasts to input's shape. Prefer the logits form below: it is exact
 * where a sigmoid followed by this one rounds to 0 or 1. */
tg_tensor *tg_binary_cross_entropy(tg_tape *T, tg_tensor *input, tg_tensor *target,
                                   tg_tensor *weight, tg_reduction reduction);
/* F.binary_cross_entropy_with_logits: the same on logits x, computed as
 * -(p t log s(x) + (1 - t) log s(-x)) with log s(x) = min(x, 0) -
 * log1p(exp(-|x|)), so any finite logit (1e4, -1e4) gives a finite loss
 * and gradient s(x) - t (p t (s(x) - 1) + (1 - t) s(x) with pos_weight
 * p), right at x = 0 too. weight broadcasts to input's shape; pos_weight
 * (NULL: 1), usually (classes,), broadcasts to it as well. */
tg_tensor *tg_binary_cross_entropy_with_logits(tg_tape *T, tg_tensor *input,
                                               tg_tensor *target, tg_tensor *weight,
                                               tg_tensor *pos_weight,
                                               tg_reduction reduction);

/* ---- Classes ------------------------------------------------------------------ */

/* The options of the class losses; TG_CLASS_LOSS_ARGS (or NULL) gives
 * PyTorch's defaults. */
typedef struct tg_class_loss_args {
    tg_reduction reduction;   /* MEAN, SUM or NONE */
    int64_t ignore_index;     /* targets equal to it add nothing (PyTorch: -100) */
    const tg_tensor *weight;  /* (classes,) of input's dtype, or NULL: each
                                 class's weight, read when the loss is made
                                 (a constant: it gets no gradient) */
    double label_smoothing;   /* cross-entropy only: in [0, 1] */
} tg_class_loss_args;

#define TG_CLASS_LOSS_ARGS {TG_REDUCE_MEAN, -100, NULL, 0.0}

/* F.nll_loss: -w[t] input[t] per element, input holding log-probabilities
 * (classes,), (batch, classes) or (batch, classes, d1, ..., dk); target an
 * int32 or int64 tensor of classes of shape (), (batch,) or (batch, d1,
 * ..., dk), each in [0, classes) or equal to ignore_index (else
 * TG_ERR_INDEX); it must live until the backward. Ignored elements give 0.
 * MEAN divides the sum by the sum of w[t] over the elements not ignored
 * (their count without weights): NaN when every element is ignored, as in
 * PyTorch, with zero gradients. */
tg_tensor *tg_nll_loss(tg_tape *T, tg_tensor *input, const tg_tensor *target,
                       const tg_class_loss_args *args);
/* F.cross_entropy with class targets: tg_nll_loss of log_softmax(input)
 * along the class axis, and with label smoothing e PyTorch's exact mix:
 * (1 - e) nll + e / classes * smooth, smooth = -sum_c w[c] log p[c] per
 * element (0 where ignored), reduced as nll is (MEAN: divided by the same
 * sum of w[t]). Logits of -inf (masked classes) are fine without label
 * smoothing. */
tg_tensor *tg_cross_entropy(tg_tape *T, tg_tensor *input, const tg_tensor *target,
                            const tg_class_loss_args *args);

/* ---- Distributions ------------------------------------------------------------- */

/* F.kl_div: input holds log-probabilities; target probabilities, t (log t -
 * input) with 0 log 0 = 0, or with log_target log-probabilities, exp(t) (t
 * - input). MEAN averages over every element, as PyTorch's 'mean' does;
 * BATCHMEAN (the KL divergence proper) divides the sum by the size of axis
 * 0 (a 0-d input: by 1). */
tg_tensor *tg_kl_div(tg_tape *T, tg_tensor *input, tg_tensor *target,
                     tg_reduction reduction, bool log_target);

#ifdef __cplusplus
}
#endif
#endif /* TG_LOSS_H */
