/* nn_ops.h - the differentiable ops of convolutional nets, on the tape:
 * convolution (conv.c), pooling (pool.c), normalisation and dropout
 * (norm.c). Tensors are NCHW as in PyTorch: x (batch, channels, height,
 * width); conv1d's are (batch, channels, length). float32 and float64;
 * every input of one call has the same dtype. Results are owned by T (or
 * by the caller when T is NULL), as for the ops of tape.h, and NULL
 * inputs give NULL.
 *
 *     tg_conv_args a = TG_CONV_ARGS;          // stride 1, no padding
 *     a.padding[0] = a.padding[1] = 1;
 *     tg_tensor *y = tg_ad_conv2d(T, x, w, b, &a);        // (N, 32, 28, 28)
 *     y = tg_ad_max_pool2d(T, tg_ad_relu(T, y), (const int64_t[]){2, 2},
 *                          NULL, NULL);                   // (N, 32, 14, 14)
 *
 * Every op's gradients are themselves made of ops on the tape, so second
 * order works (a Hessian-vector product through a convolution, say). */
#ifndef TG_NN_OPS_H
#define TG_NN_OPS_H

#include "../tensor/random.h"
#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Convolution (conv.c) --------------------------------------------------- */

/* How a convolution slides: per spatial axis (height, width; conv1d reads
 * entry 0 of each pair) the stride (>= 1), the zeros added on both sides
 * (>= 0) and the dilation (>= 1), and the groups (>= 1, dividing both
 * channel counts: groups = channels is a depthwise convolution). same:
 * PyTorch's padding='same' (stride 1 only; padding is then ignored): the
 * result has the input's size, the odd zero of an even total going after,
 * as PyTorch does. */
typedef struct tg_conv_args {
    int64_t stride[2];
    int64_t padding[2];
    int64_t dilation[2];
    int64_t groups;
    bool same;
} tg_conv_args;

/* stride 1, padding 0, dilation 1, groups 1: what NULL args mean. */
#define TG_CONV_ARGS {{1, 1}, {0, 0}, {1, 1}, 1, false}

/* torch.nn.functional.conv2d: x (N, C, H, W), w (O, C/groups, KH, KW),
 * bias (O,) or NULL -> (N, O, OH, OW), OH = (H + 2 pad - dil (KH-1) - 1)
 * / stride + 1 (floor). A kernel larger than the padded input is an
 * error. */
tg_tensor *tg_ad_conv2d(tg_tape *T, tg_tensor *x, tg_tensor *w, tg_tensor *bias,
                        const tg_conv_args *args);
/* torch.nn.functional.conv1d: x (N, C, L), w (O, C/groups, K), bias (O,)
 * or NULL -> (N, O, OL). */
tg_tensor *tg_ad_conv1d(tg_tape *T, tg_tensor *x, tg_tensor *w, tg_tensor *bias,
                        const tg_conv_args *args);
/* torch.nn.functional.conv_transpose2d: the adjoint of conv2d in x (the
 * gradient conv2d sends back to its input). x (N, C, H, W), w (C,
 * O/groups, KH, KW), bias (O,) or NULL -> (N, O, OH, OW), OH = (H-1)
 * stride - 2 pad + dil (KH-1) + output_padding + 1. output_padding (NULL:
 * 0, 0) must be smaller than the stride or the dilation; args->same is
 * not allowed. */
tg_tensor *tg_ad_conv_transpose2d(tg_tape *T, tg_tensor *x, tg_tensor *w,
                                  tg_tensor *bias, const tg_conv_args *args,
                                  const int64_t *output_padding);

/* ---- Pooling (pool.c) ----------------------------------------------------------- */

/* torch.nn.functional.max_pool2d: x (N, C, H, W), kernel {KH, KW}, stride
 * (NULL: the kernel), padding (NULL: 0; at most half the kernel, padded
 * with -inf) -> (N, C, OH, OW), floor mode. The gradient goes to the first
 * maximum of each window in row-major order (a NaN counts as the maximum;
 * of several NaNs, the last), as PyTorch's. */
tg_tensor *tg_ad_max_pool2d(tg_tape *T, tg_tensor *x, const int64_t *kernel,
                            const int64_t *stride, const int64_t *padding);
/* torch.nn.functional.avg_pool2d with count_include_pad=True, floor mode:
 * the mean of each window, padding zeros counted. */
tg_tensor *tg_ad_avg_pool2d(tg_tape *T, tg_tensor *x, const int64_t *kernel,
                            const int64_t *stride, const int64_t *padding);
/* torch.nn.functional.adaptive_avg_pool2d: x (N, C, H, W) -> (N, C, OH,
 * OW), window i of an axis covering [floor(i H / OH), ceil((i+1) H / OH)).
 * OH = OW = 1 is global average pooling. */
tg_tensor *tg_ad_adaptive_avg_pool2d(tg_tape *T, tg_tensor *x, int64_t oh,
                                     int64_t ow);

/* ---- Normalisation and dropout (norm.c) ---------------------------------------- */

/* torch.nn.functional.batch_norm over x (N, C) or (N, C, H, W), per
 * channel. training: normalises by the batch's mean and biased variance,
 * and updates running_mean and running_var (C,) in place (if not NULL;
 * they are buffers, never differentiated) with PyTorch's rule: running =
 * (1 - momentum) running + momentum stat, the variance unbiased (n/(n-1)).
 * Not training: normalises by the running statistics (required then).
 * weight and bias (C,) may be NULL (1 and 0). eps > 0 (PyTorch: 1e-5). */
tg_tensor *tg_ad_batch_norm(tg_tape *T, tg_tensor *x, tg_tensor *running_mean,
                            tg_tensor *running_var, tg_tensor *weight,
                            tg_tensor *bias, bool training, double momentum,
                            double eps);
/* torch.nn.functional.layer_norm over the last ndims axes of x (1 <= ndims
 * <= x's rank): (x - mean) / sqrt(var + eps) * weight + bias, the variance
 * biased; weight and bias have the shape of those axes, or are NULL. */
tg_tensor *tg_ad_layer_norm(tg_tape *T, tg_tensor *x, int ndims, tg_tensor *weight,
                            tg_tensor *bias, double eps);
/* Inverted dropout: training, each element is kept with probability 1 - p
 * (a draw u = tg_rng_random(rng) per element in C order, kept when u >= p)
 * and scaled by 1 / (1 - p); p in [0, 1], p = 1 giving zeros (as PyTorch).
 * Not training, or p = 0: a result equal to x, no draw made. */
tg_tensor *tg_ad_dropout(tg_tape *T, tg_tensor *x, double p, bool training,
                         tg_rng *rng);

#ifdef __cplusplus
}
#endif
#endif /* TG_NN_OPS_H */
