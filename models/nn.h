/* nn.h - parameters, layers, activations, losses and the model save format.
 *
 * A model is a plain struct of caller-owned leaf tensors; a tg_params list
 * names them so optimisers, zero-grad and save/load can walk them. Forward
 * functions take the tape first and return tape-owned results.
 *
 *     tg_rng rng; tg_rng_seed(&rng, 0);
 *     tg_mlp net;  // 784 -> 256 -> 128 -> 10, ReLU between layers
 *     tg_mlp_init(&net, 4, (const int64_t[]){784, 256, 128, 10}, TG_ACT_RELU,
 *                 TG_FLOAT32, &rng);
 *     tg_params ps = {0};
 *     tg_mlp_params(&net, &ps);
 *     tg_tensor *logits = tg_mlp_forward(T, &net, x);   // (64, 10)
 *     tg_tensor *loss = tg_loss_cross_entropy(T, logits, labels);
 *     ...
 *     tg_mlp_free(&net);
 */
#ifndef TG_NN_H
#define TG_NN_H

#include "../autograd/tape.h"
#include "../tensor/random.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Parameter lists ------------------------------------------------------ */

#define TG_MAX_PARAMS 64
#define TG_PARAM_NAME_MAX 48

/* Borrowed pointers to a model's leaves with their names ("fc1.weight").
 * An entry is a parameter (trained: it requires a gradient) or a buffer
 * (state that is saved and loaded but never trained, as a batch norm's
 * running statistics; PyTorch's register_buffer). TG_MAX_PARAMS entries
 * of both kinds fit; a bigger model needs a bigger TG_MAX_PARAMS above and
 * tapegrad rebuilt with it (the list and the optimisers hold arrays of
 * that size). */
typedef struct tg_params {
    int count;
    tg_tensor *tensors[TG_MAX_PARAMS];
    char names[TG_MAX_PARAMS][TG_PARAM_NAME_MAX];
    bool buffer[TG_MAX_PARAMS]; /* entry i is a buffer, not a parameter */
} tg_params;

/* Appends t under name (letters, digits, '.', '_' and '-'); marks it as
 * requiring a gradient. */
int tg_params_add(tg_params *p, const char *name, tg_tensor *t);
/* Appends t under name as a buffer: saved and loaded with the parameters,
 * never marked as requiring a gradient, skipped by zero-grad and the
 * optimisers. A tensor that requires a gradient is refused. */
int tg_params_add_buffer(tg_params *p, const char *name, tg_tensor *t);
/* Zeroes every parameter's gradient (buffers have none). */
int tg_params_zero_grad(tg_params *p);
/* Writes one NumPy file per entry, parameter or buffer, DIR/NAME.npy
 * (np.load reads each), creating DIR if needed. */
int tg_params_save(const tg_params *p, const char *dir);
/* Reads DIR/NAME.npy into each entry, parameter or buffer, bit for bit; a
 * missing file, a shape or dtype that differs is an error and leaves every
 * entry as it was. */
int tg_params_load(tg_params *p, const char *dir);

/* ---- The chapter's model: y = w * x^2 + b ------------------------------------ */

typedef struct tg_quadratic {
    tg_tensor *w; /* (1,) */
    tg_tensor *b; /* (1,) */
} tg_quadratic;

int tg_quadratic_init(tg_quadratic *m, tg_dtype dt, double w, double b);
/* x of any shape; w*x^2 + b. */
tg_tensor *tg_quadratic_forward(tg_tape *T, tg_quadratic *m, tg_tensor *x);
int tg_quadratic_params(tg_quadratic *m, tg_params *p);
void tg_quadratic_free(tg_quadratic *m);

/* ---- Linear layer: y = x W^T + b -------------------------------------------- */

typedef struct tg_linear {
    int64_t in, out;
    tg_tensor *weight; /* (out, in) */
    tg_tensor *bias;   /* (out,), or NULL without bias */
} tg_linear;

/* PyTorch's default initialisation: weight and bias uniform in
 * [-1/sqrt(in), 1/sqrt(in)], drawn from rng (weight first, row by row). */
int tg_linear_init(tg_linear *l, int64_t in, int64_t out, tg_dtype dt, tg_rng *rng);
/* The same with the bias optional, as torch.nn.Linear(in, out, bias=...):
 * without one (bias false) there is no bias tensor (l->bias is NULL), the
 * forward is x W^T alone, tg_linear_params adds only "<prefix>.weight",
 * and only the weight is drawn: the same out*in draws, giving the same
 * weight, as a biased layer's from the same rng state. tg_linear_init is
 * tg_linear_init_ex with bias true. */
int tg_linear_init_ex(tg_linear *l, int64_t in, int64_t out, bool bias, tg_dtype dt,
                      tg_rng *rng);
/* x (batch, in) or (in,) -> (batch, out) or (out,). */
tg_tensor *tg_linear_forward(tg_tape *T, tg_linear *l, tg_tensor *x);
/* Adds "<prefix>.weight" and, with a bias, "<prefix>.bias". */
int tg_linear_params(tg_linear *l, const char *prefix, tg_params *p);
void tg_linear_free(tg_linear *l);

/* ---- Activations and the MLP --------------------------------------------------- */

typedef enum tg_activation {
    TG_ACT_NONE, TG_ACT_RELU, TG_ACT_TANH, TG_ACT_SIGMOID
} tg_activation;

tg_tensor *tg_activate(tg_tape *T, tg_activation act, tg_tensor *x);

#define TG_MLP_MAX_LAYERS 16

typedef struct tg_mlp {
    int nlayers;
    tg_activation act; /* between layers; none after the last */
    tg_linear layers[TG_MLP_MAX_LAYERS];
} tg_mlp;

/* sizes[0] inputs, sizes[nsizes-1] outputs: nsizes-1 linear layers. */
int tg_mlp_init(tg_mlp *m, int nsizes, const int64_t *sizes, tg_activation act,
                tg_dtype dt, tg_rng *rng);
tg_tensor *tg_mlp_forward(tg_tape *T, tg_mlp *m, tg_tensor *x);
/* Adds "fc1.weight", "fc1.bias", "fc2.weight", ... */
int tg_mlp_params(tg_mlp *m, tg_params *p);
void tg_mlp_free(tg_mlp *m);

/* ---- Losses ----------------------------------------------------------------------- */

/* The chapter's loss: 0.5 * sum((pred - target)^2), a 0-d tensor. */
tg_tensor *tg_loss_half_sse(tg_tape *T, tg_tensor *pred, tg_tensor *target);
/* mean((pred - target)^2). */
tg_tensor *tg_loss_mse(tg_tape *T, tg_tensor *pred, tg_tensor *target);
/* log(softmax(x)) along the last axis, computed stably (x - max - log sum
 * exp(x - max)), so logits of 1e4 stay finite. */
tg_tensor *tg_log_softmax(tg_tape *T, tg_tensor *x);
/* mean over the batch of -log softmax(logits)[i, labels[i]]; logits
 * (batch, classes); labels an int32 or int64 tensor (batch,) of classes in
 * [0, classes), which must live until the backward. A logit of -inf (a
 * masked class) is fine: its probability is 0 and its gradient 0. */
tg_tensor *tg_loss_cross_entropy(tg_tape *T, tg_tensor *logits, tg_tensor *labels);
/* Fraction of rows whose arg-max equals the label (labels as above); -1 on
 * error. */
double tg_accuracy(const tg_tensor *logits, const tg_tensor *labels);
/* A binary classifier's accuracy: the fraction of elements where
 * (logit > 0) == (target > 0.5), PyTorch's ((z > 0) == (y > 0.5)).mean().
 * logits and targets have one shape (any, views too; targets of any
 * dtype). NaN for no elements; -1 on error (a NULL logits, an op's failed
 * result, keeps that op's message). */
double tg_binary_accuracy(const tg_tensor *logits, const tg_tensor *targets);

#ifdef __cplusplus
}
#endif
#endif /* TG_NN_H */
