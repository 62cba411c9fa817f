/* module.h - modules: one interface for every layer, containers that
 * compose them, and what PyTorch's nn.Module gives a whole model: its
 * parameters and buffers under dotted names ("layers.0.weight", as a
 * state_dict), one train/eval switch, a parameter count and a summary.
 *
 *     tg_module *net = tg_nn_sequential(5, (tg_module *[]){
 *         tg_nn_linear(784, 256, TG_FLOAT32, NULL), tg_nn_relu(),
 *         tg_nn_linear(256, 128, TG_FLOAT32, NULL), tg_nn_relu(),
 *         tg_nn_linear(128, 10, TG_FLOAT32, NULL)});
 *     tg_rng rng; tg_rng_seed(&rng, 0);
 *     if (!net || tg_module_reset_parameters(net, &rng)) {  // drawn in order
 *         fprintf(stderr, "%s\n", tg_last_message());
 *         ...
 *     }
 *     tg_params ps = {0};
 *     tg_module_params(net, &ps);        // "0.weight", "0.bias", "2.weight", ...
 *     tg_module_summary(net, TG_FLOAT32, 2, (int64_t[]){1, 784}, stdout);
 *     tg_tensor *logits = tg_module_forward(T, net, x);  // (64, 10)
 *     ...
 *     tg_module_train(net, false);       // eval: dropout off, batch norm's running stats
 *     tg_module_free(net);               // the whole tree and its tensors
 *
 * Ownership is the one rule to remember: a container owns its children.
 * tg_nn_sequential and tg_module_add take the modules they are given
 * whatever happens (on failure they free them), so a model is built in
 * one expression and checked once: a NULL child (its constructor failed)
 * makes the container fail too, keeping the constructor's message.
 *
 * A module of your own is a struct whose first member is a tg_module,
 * described by a tg_module_kind (its forward, its own tensors, its
 * release); it registers submodules with tg_module_add and calls them with
 * tg_module_forward:
 *
 *     typedef struct net { tg_module base; tg_module *fc1, *fc2; } net;
 *     static tg_tensor *net_forward(tg_tape *T, tg_module *m, tg_tensor *x)
 *     {
 *         net *n = (net *)m;
 *         return tg_module_forward(T, n->fc2, tg_ad_relu(T, tg_module_forward(T, n->fc1, x)));
 *     }
 *     static const tg_module_kind net_kind = {.name = "Net", .forward = net_forward};
 *
 *     net n;                               // memory the module does not free
 *     tg_module_init(&n.base, &net_kind);  // (a kind's release can free it)
 *     n.fc1 = tg_module_add(&n.base, "fc1", tg_nn_linear(4, 8, TG_FLOAT64, &rng));
 *     n.fc2 = tg_module_add(&n.base, "fc2", tg_nn_linear(8, 2, TG_FLOAT64, &rng));
 *     // (two statements: fc1 draws first)
 *     if (!n.fc1 || !n.fc2) ...            // names "fc1.weight", ..., "fc2.bias"
 *     tg_module_free(&n.base);             // frees fc1 and fc2
 *
 * The layer structs of nn.h and cnn.h stay usable on their own; a module
 * wraps one of them, reachable with tg_module_layer (to read a conv's
 * weight or change a batch norm's momentum).
 *
 * Errors are reported as everywhere in tapegrad: NULL or a nonzero code,
 * with tg_last_message() naming the function and the problem. */
#ifndef TG_MODULE_H
#define TG_MODULE_H

#include <stdio.h>

#include "cnn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A child's name: letters, digits, '_' and '-' (the dot joins names). */
#define TG_MODULE_NAME_MAX 32

typedef struct tg_module tg_module;
/* Passed to a kind's tensors function, handed back to tg_module_visit. */
typedef struct tg_module_walk tg_module_walk;

/* What a module is: functions shared by every module of one kind. Only
 * name and forward are required. */
typedef struct tg_module_kind {
    const char *name; /* "Linear", as PyTorch prints it */
    /* x -> the module's output, recorded on T (tape-owned), or NULL with
     * an error. */
    tg_tensor *(*forward)(tg_tape *T, tg_module *m, tg_tensor *x);
    /* Reports the module's own tensors (not its children's) by calling
     * tg_module_visit(w, name, tensor, is_buffer) for each, in a fixed
     * order, and returns its first nonzero result, else 0. NULL: none. */
    int (*tensors)(tg_module *m, tg_module_walk *w);
    /* Writes a one-line description ("Linear(784, 256)") into buf of size
     * bytes. NULL: the kind's name. */
    void (*describe)(const tg_module *m, char *buf, size_t size);
    /* Draws the module's parameters anew from rng, as its constructor
     * does (tg_module_reset_parameters). NULL: nothing is drawn. */
    int (*reset_parameters)(tg_module *m, tg_rng *rng);
    /* Called by tg_module_train after m->training is set, for kinds whose
     * layer keeps its own flag. NULL: nothing more to do. */
    void (*set_training)(tg_module *m, bool training);
    /* Releases what the module owns besides its children (tensors, and
     * the struct itself when it was allocated). NULL: nothing (a module
     * in caller-owned memory whose tensors are freed elsewhere). */
    void (*release)(tg_module *m);
} tg_module_kind;

/* The part every module starts with. Fill it with tg_module_init; the
 * fields are the library's to change. */
struct tg_module {
    const tg_module_kind *kind;
    bool training;                 /* true after init, as PyTorch's */
    int nchildren;
    int capacity;
    tg_module **children;          /* owned */
    char (*names)[TG_MODULE_NAME_MAX];
    void *summary;                 /* set only while tg_module_summary runs */
    tg_params *params;             /* tg_module_parameters' list; owned */
};

/* ---- Building ------------------------------------------------------------ */

/* Makes m an empty module of kind (training, no children). */
int tg_module_init(tg_module *m, const tg_module_kind *kind);
/* Makes child a submodule of parent under name, after the ones it has;
 * returns child, or NULL with an error. parent owns child from this call
 * on, whatever happens: on failure child is freed (a NULL child - a
 * constructor that failed - gives NULL and keeps that error's message). */
tg_module *tg_module_add(tg_module *parent, const char *name, tg_module *child);
/* For a kind's tensors function: reports one of the module's tensors. */
int tg_module_visit(tg_module_walk *w, const char *name, tg_tensor *t, bool buffer);
/* Frees m's children (recursively) and what its kind releases. NULL is
 * fine. */
void tg_module_free(tg_module *m);

/* ---- Using --------------------------------------------------------------- */

/* Runs m on x: NULL with an error when m fails, NULL without a new message
 * when x is NULL (an earlier op failed). */
tg_tensor *tg_module_forward(tg_tape *T, tg_module *m, tg_tensor *x);
/* Adds every parameter and buffer of m's tree to p under dotted names
 * (own tensors first, then each child's under "<child>."), in PyTorch's
 * state_dict order; parameters are marked as requiring a gradient. On
 * failure p keeps the entries it had. */
int tg_module_params(tg_module *m, tg_params *p);
/* The same list made and kept by m (rebuilt at each call, freed with m):
 * what an optimiser handle copies, tg_optim_adam(tg_module_parameters(net),
 * ...). NULL with an error (NULL m keeps its maker's message). */
const tg_params *tg_module_parameters(tg_module *m);
/* Draws every parameter of m's tree anew from rng, as the constructors
 * do, module by module in the tree's order (a module, then its children
 * in order: PyTorch's order of construction for a sequential model).
 * Layers that draw nothing (norms, pooling) keep their state. On an error
 * (out of memory) the modules before the failing one are redrawn. */
int tg_module_reset_parameters(tg_module *m, tg_rng *rng);
/* Sets the training flag of m and of every module below it: dropout drops
 * and batch norm uses (and updates) batch statistics only in training. */
void tg_module_train(tg_module *m, bool training);
/* The number of trained values (elements of parameters, not buffers) in
 * m's tree, or -1 with an error. */
int64_t tg_module_num_params(tg_module *m);
/* The submodule at a dotted path ("features.0"), or NULL with an error. */
tg_module *tg_module_child(tg_module *m, const char *path);
/* The layer struct a built-in module wraps (tg_linear, tg_conv2d,
 * tg_pool2d, tg_batch_norm, tg_layer_norm or tg_dropout; an Embedding's
 * weight tensor), checked against kind_name ("Linear", "Conv2d",
 * "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
 * "Dropout", "Embedding", "Quadratic"); NULL with an error when m is of another kind. */
void *tg_module_layer(tg_module *m, const char *kind_name);
/* Prints a table of m's tree as Keras's summary does: each module's dotted
 * name, description, output shape and trained values (its whole subtree's),
 * then the totals. The shapes come from one forward of a zero input of
 * dtype dt and the given shape (a batch of 1 is enough), run in eval mode
 * without recording; every flag is restored after, nothing else changes. */
int tg_module_summary(tg_module *m, tg_dtype dt, int ndim, const int64_t *input_shape,
                      FILE *out);

/* ---- Built-in modules ------------------------------------------------------ */
/* Each returns a new module (free it with tg_module_free, or give it to a
 * container) or NULL with the layer's error. The arguments are those of the
 * layer's init in nn.h and cnn.h; the parameters are drawn the same way.
 *
 * The order of the draws: C leaves unspecified the order in which the
 * expressions of one initialiser list are evaluated, so constructors
 * called inside one tg_nn_sequential(...) expression may draw from a
 * shared rng in any order. To get PyTorch's numbers from a seed, either
 * construct the layers in separate statements, or give the constructors
 * rng NULL (their parameters are then drawn from a generator seeded with
 * 0) and call tg_module_reset_parameters(model, &rng) once the model is
 * built: it draws in the tree's order. */

/* rng NULL: see above. */
/* x (..., in) -> (..., out), any number of leading axes as PyTorch's. */
tg_module *tg_nn_linear(int64_t in, int64_t out, tg_dtype dt, tg_rng *rng);
/* torch.nn.Linear(in, out, bias=bias): tg_nn_linear is this with bias
 * true. Without a bias the module has the one tensor "weight" (no "bias"
 * in tg_module_params, as PyTorch's state_dict), computes x W^T, draws
 * only the weight (tg_linear_init_ex in nn.h) and describes itself as
 * "Linear(in, out, bias=False)". */
/* The chapter's model y = w * x^2 + b (nn.h's tg_quadratic), w and b
 * 1-element tensors of dt starting at the given values; parameters "w" and
 * "b". Its layer is reached with tg_module_layer(m, "Quadratic"). */
tg_module *tg_nn_quadratic(tg_dtype dt, double w, double b);
tg_module *tg_nn_linear_ex(int64_t in, int64_t out, bool bias, tg_dtype dt, tg_rng *rng);
tg_module *tg_nn_conv2d(int64_t in, int64_t out, const int64_t *kernel,
                        const tg_conv_args *args, bool bias, tg_dtype dt, tg_rng *rng);
tg_module *tg_nn_max_pool2d(const int64_t *kernel, const int64_t *stride,
                            const int64_t *padding);
tg_module *tg_nn_avg_pool2d(const int64_t *kernel, const int64_t *stride,
                            const int64_t *padding);
/* torch.nn.AdaptiveAvgPool2d((oh, ow)); (1, 1) is global average pooling. */
tg_module *tg_nn_adaptive_avg_pool2d(int64_t oh, int64_t ow);
tg_module *tg_nn_batch_norm1d(int64_t features, tg_dtype dt);
tg_module *tg_nn_batch_norm2d(int64_t features, tg_dtype dt);
tg_module *tg_nn_layer_norm(int ndims, const int64_t *shape, tg_dtype dt);
/* torch.nn.Embedding(num, dim): indices (...) of an integer dtype, each in
 * [0, num), -> (..., dim), the weight's rows; the weight (num, dim) is
 * standard normal as PyTorch's (NumPy's randn from rng; rng NULL: see
 * above). */
tg_module *tg_nn_embedding(int64_t num, int64_t dim, tg_dtype dt, tg_rng *rng);
/* rng is borrowed: it must outlive the module. */
tg_module *tg_nn_dropout(double p, tg_rng *rng);
tg_module *tg_nn_flatten(void);
/* Activations: ReLU, Tanh, Sigmoid, GELU (the erf form). */
tg_module *tg_nn_relu(void);
tg_module *tg_nn_tanh(void);
tg_module *tg_nn_sigmoid(void);
tg_module *tg_nn_gelu(void);
/* torch.nn.Sequential: n modules, named "0", "1", ..., run in order (no
 * module: the identity). Takes every module whatever happens (see the top
 * of this file). More may be added after with tg_module_add (named as you
 * like). */
tg_module *tg_nn_sequential(int n, tg_module *const *modules);
/* The same with the children named names[i] (PyTorch's Sequential of an
 * OrderedDict): parameters "conv1.weight" rather than "0.weight". */
tg_module *tg_nn_sequential_named(int n, const char *const *names,
                                  tg_module *const *modules);

#ifdef __cplusplus
}
#endif
#endif /* TG_MODULE_H */
