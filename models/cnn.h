/* cnn.h - the layers of convolutional nets, in the style of tg_linear:
 * Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d/2d, LayerNorm, Dropout and
 * Flatten, with PyTorch's defaults and initialisation. Tensors are NCHW.
 * A layer is a plain struct: init fills it (parameters caller-owned,
 * freed by the layer's free), forward records one op or a few on the
 * tape, and params adds its tensors to a tg_params list under PyTorch's
 * state_dict names ("conv1.weight", "bn1.running_mean").
 *
 *     tg_rng rng; tg_rng_seed(&rng, 0);
 *     tg_conv2d conv;   // 1 -> 32 channels, 3x3, padding 1
 *     tg_conv_args a = TG_CONV_ARGS;
 *     a.padding[0] = a.padding[1] = 1;
 *     tg_conv2d_init(&conv, 1, 32, (const int64_t[]){3, 3}, &a, true,
 *                    TG_FLOAT32, &rng);
 *     tg_pool2d pool;   // 2x2 windows, stride 2
 *     tg_pool2d_init(&pool, (const int64_t[]){2, 2}, NULL, NULL);
 *     tg_params ps = {0};
 *     tg_conv2d_params(&conv, "conv1", &ps);
 *     tg_tensor *h = tg_conv2d_forward(T, &conv, x);      // (N, 32, 28, 28)
 *     h = tg_max_pool2d_forward(T, &pool, tg_ad_relu(T, h)); // (N, 32, 14, 14)
 *     h = tg_flatten(T, h);                                // (N, 6272)
 *     ...
 *     tg_conv2d_free(&conv);
 *
 * Train and eval: BatchNorm and Dropout read their `training` field
 * (true after init, as PyTorch's modules start) on every forward. Set it
 * to false to evaluate: batch norm then normalises with its running
 * statistics and dropout passes its input through.
 *
 * Layers without tensors (pooling, dropout, flatten) have no params or
 * free function: there is nothing to register or release.
 *
 * Every function reports errors as the rest of tapegrad: init and params
 * return TG_OK or a code, forward returns NULL, with tg_last_message()
 * naming the function and the problem; a NULL input gives NULL without a
 * new message. init leaves the layer safe to free whatever happens. */
#ifndef TG_CNN_H
#define TG_CNN_H

#include "../autograd/nn_ops.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Conv2d ------------------------------------------------------------------ */

typedef struct tg_conv2d {
    int64_t in, out;     /* channels */
    int64_t kernel[2];   /* KH, KW */
    tg_conv_args args;   /* stride, padding, dilation, groups, same */
    tg_tensor *weight;   /* (out, in/groups, KH, KW) */
    tg_tensor *bias;     /* (out,), or NULL without bias */
} tg_conv2d;

/* torch.nn.Conv2d(in, out, kernel, ...): args NULL is TG_CONV_ARGS
 * (stride 1, no padding). PyTorch's initialisation: kaiming_uniform with
 * a = sqrt(5), which makes the weight uniform in [-1/sqrt(fan_in),
 * 1/sqrt(fan_in)], fan_in = in/groups * KH * KW, and the bias uniform in
 * the same range; drawn from rng, the weight in C order, then the bias.
 * groups must divide in and out; dt float32 or float64. */
int tg_conv2d_init(tg_conv2d *l, int64_t in, int64_t out, const int64_t *kernel,
                   const tg_conv_args *args, bool bias, tg_dtype dt, tg_rng *rng);
/* x (N, in, H, W) -> (N, out, OH, OW). */
tg_tensor *tg_conv2d_forward(tg_tape *T, tg_conv2d *l, tg_tensor *x);
/* Adds "<prefix>.weight" and, with a bias, "<prefix>.bias". */
int tg_conv2d_params(tg_conv2d *l, const char *prefix, tg_params *p);
void tg_conv2d_free(tg_conv2d *l);

/* ---- MaxPool2d and AvgPool2d --------------------------------------------------- */

/* A pooling window: kernel {KH, KW}, stride (the kernel unless given),
 * padding (0 unless given). The same struct serves both poolings. */
typedef struct tg_pool2d {
    int64_t kernel[2];
    int64_t stride[2];
    int64_t padding[2];
} tg_pool2d;

/* torch.nn.MaxPool2d / AvgPool2d(kernel, stride, padding): stride NULL is
 * the kernel, padding NULL is 0. kernel and stride >= 1, padding at most
 * half the kernel (as PyTorch). */
int tg_pool2d_init(tg_pool2d *l, const int64_t *kernel, const int64_t *stride,
                   const int64_t *padding);
/* x (N, C, H, W) -> (N, C, OH, OW): the window's maximum (its gradient
 * going to the first maximum) or mean (padding zeros counted). */
tg_tensor *tg_max_pool2d_forward(tg_tape *T, const tg_pool2d *l, tg_tensor *x);
tg_tensor *tg_avg_pool2d_forward(tg_tape *T, const tg_pool2d *l, tg_tensor *x);

/* ---- BatchNorm1d and BatchNorm2d ------------------------------------------------ */

typedef struct tg_batch_norm {
    int64_t features;        /* C */
    int rank;                /* 2 for BatchNorm1d ((N, C) or (N, C, L)), 4 for 2d */
    double eps;              /* 1e-5 */
    double momentum;         /* 0.1: running = 0.9 running + 0.1 batch */
    bool training;           /* batch statistics (true) or running ones */
    tg_tensor *weight;       /* (C,) parameter, 1 at init */
    tg_tensor *bias;         /* (C,) parameter, 0 at init */
    tg_tensor *running_mean; /* (C,) buffer, 0 at init */
    tg_tensor *running_var;  /* (C,) buffer, 1 at init */
} tg_batch_norm;

/* torch.nn.BatchNorm1d(features) and BatchNorm2d(features) with their
 * defaults (eps 1e-5, momentum 0.1, affine, tracking running statistics);
 * training is true. Change eps and momentum in the struct if needed. */
int tg_batch_norm1d_init(tg_batch_norm *l, int64_t features, tg_dtype dt);
int tg_batch_norm2d_init(tg_batch_norm *l, int64_t features, tg_dtype dt);
/* x (N, C) or (N, C, L) for 1d, (N, C, H, W) for 2d -> the same shape.
 * Training, the running statistics are updated in place (PyTorch's rule,
 * the variance unbiased); a training forward therefore changes the layer
 * even when its result is never used. */
tg_tensor *tg_batch_norm_forward(tg_tape *T, tg_batch_norm *l, tg_tensor *x);
/* Adds "<prefix>.weight", "<prefix>.bias" as parameters and
 * "<prefix>.running_mean", "<prefix>.running_var" as buffers. */
int tg_batch_norm_params(tg_batch_norm *l, const char *prefix, tg_params *p);
void tg_batch_norm_free(tg_batch_norm *l);

/* ---- LayerNorm ------------------------------------------------------------------ */

typedef struct tg_layer_norm {
    int ndims;                  /* how many trailing axes are normalised */
    int64_t shape[TG_MAX_DIMS]; /* their sizes */
    double eps;                 /* 1e-5 */
    tg_tensor *weight;          /* shape[0..ndims), 1 at init */
    tg_tensor *bias;            /* shape[0..ndims), 0 at init */
} tg_layer_norm;

/* torch.nn.LayerNorm(normalized_shape) with eps 1e-5 and an elementwise
 * affine weight and bias: ndims sizes in shape, each >= 1. */
int tg_layer_norm_init(tg_layer_norm *l, int ndims, const int64_t *shape, tg_dtype dt);
/* x (..., shape) -> the same shape, each trailing block normalised. */
tg_tensor *tg_layer_norm_forward(tg_tape *T, tg_layer_norm *l, tg_tensor *x);
/* Adds "<prefix>.weight" and "<prefix>.bias". */
int tg_layer_norm_params(tg_layer_norm *l, const char *prefix, tg_params *p);
void tg_layer_norm_free(tg_layer_norm *l);

/* ---- Dropout --------------------------------------------------------------------- */

typedef struct tg_dropout {
    double p;       /* probability of zeroing an element, in [0, 1] */
    bool training;  /* true: drop and scale by 1/(1-p); false: identity */
    tg_rng *rng;    /* borrowed: the masks' draws; must outlive the layer */
} tg_dropout;

/* torch.nn.Dropout(p); training is true. */
int tg_dropout_init(tg_dropout *l, double p, tg_rng *rng);
/* x of any shape -> the same shape. */
tg_tensor *tg_dropout_forward(tg_tape *T, tg_dropout *l, tg_tensor *x);

/* ---- Flatten ---------------------------------------------------------------------- */

/* torch.nn.Flatten(): x (N, d1, d2, ...) -> (N, d1*d2*...), a view when x
 * is contiguous (a reshape, so it copies otherwise). x needs at least two
 * axes, as PyTorch's. */
tg_tensor *tg_flatten(tg_tape *T, tg_tensor *x);

#ifdef __cplusplus
}
#endif
#endif /* TG_CNN_H */
