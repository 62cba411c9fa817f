/* clip.h - gradient clipping over a parameter list (nn.h), as
 * torch.nn.utils.clip_grad_norm_ and clip_grad_value_, between backward and
 * the optimiser's step:
 *
 *     tg_backward(T, loss);
 *     double norm;
 *     tg_clip_grad_norm(&params, 1.0, 2.0, &norm);   // norm: before clipping
 *     tg_adam_step(&opt);
 *
 * Only parameters with a gradient take part; buffers never do. Gradients
 * are scaled in place (their version bumped), nothing is allocated, and a
 * refused call changes no gradient.
 */
#ifndef TG_CLIP_H
#define TG_CLIP_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The norm_type-norm of all gradients together (the norm of the
 * per-parameter norms; norm_type finite and > 0, or INFINITY for the
 * largest |g|), computed in double and stored in *total_norm (may be NULL;
 * 0 when no parameter has a gradient). When max_norm / (total + 1e-6) < 1,
 * every gradient is multiplied by that coefficient, so the clipped norm is
 * just under max_norm (finite, >= 0). As in PyTorch, a NaN or infinite
 * total is returned and multiplies the gradients through, without error. */
int tg_clip_grad_norm(tg_params *params, double max_norm, double norm_type,
                      double *total_norm);
/* Clamps every gradient element into [-clip_value, clip_value]
 * (clip_value >= 0, INFINITY allowed; NaN elements stay NaN). */
int tg_clip_grad_value(tg_params *params, double clip_value);

#ifdef __cplusplus
}
#endif
#endif /* TG_CLIP_H */
