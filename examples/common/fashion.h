/* fashion.h - what the Fashion-MNIST examples share: the command line,
 * the data set (Debian's dataset-fashion-mnist), the training loop with
 * its per-epoch line and progress bar, evaluation, saving and loading,
 * and the figure of loss and accuracy per epoch. An example describes its
 * network and hands over:
 *
 *     static tg_module *build(tg_rng *rng) { return tg_nn_sequential(...); }
 *     static const ex_fashion_program mlp = {
 *         .name = "fashion_mnist", .summary = "MLP 784-256-128-10 (ReLU)",
 *         .image_ndim = 1, .image_shape = {784}, ..., .build = build,
 *     };
 *     int main(int argc, char **argv)
 *     {
 *         return ex_fashion_main(&mlp, argc, argv);
 *     }
 *
 * The loop: each epoch the training images are reshuffled (tg_rng, the
 * seed's generator, which also drew the network's parameters) by the
 * batch iterator (models/batch.h), which scales each mini-batch to [0, 1],
 * standardises it with the training set's mean and standard deviation
 * (0.2860, 0.3530) and copies it into batch tensors made once; the step is
 * reset tape, forward, cross-entropy, zero grad, backward, Adam step. After the first step nothing is allocated. Test
 * accuracy is measured with the tape paused and the network in eval mode.
 *
 * --graph FILE draws the tape of the first step after its backward, before
 * the update (examples/common/graphviz.c: SVG, or DOT without Graphviz),
 * each parameter labelled with its name in ps ("fc1.weight"), the batch
 * "images", the step's "logits" and "loss"; with --epochs 0 that step is
 * all that runs. The networks need nothing for it.
 */
#ifndef EX_FASHION_H
#define EX_FASHION_H

#include <stdbool.h>
#include <stdint.h>

#include "../../tapegrad.h"

#define EX_FASHION_SIDE 28
#define EX_FASHION_PIXELS (EX_FASHION_SIDE * EX_FASHION_SIDE)
#define EX_FASHION_CLASSES 10
#define EX_FASHION_DATA "/usr/share/datasets/fashion-mnist"

typedef struct ex_fashion_program {
    const char *name;      /* "fashion_cnn": messages, usage, default paths */
    const char *about;     /* the usage's paragraph on what it trains */
    const char *summary;   /* the header line's start: "MLP 784-256-128-10 (ReLU)" */
    long default_epochs;
    bool plot;             /* takes --plot FILE and draws the figure */
    int image_ndim;        /* the network's input is (batch, image_shape...) */
    int64_t image_shape[3];  /* (784,) or (1, 28, 28): 784 values either way */
    int64_t eval_batch;    /* test images per forward pass when evaluating */
    /* The network as a module (models/module.h): logits (b, 10) of images
     * (b, image_shape...). Its layers are made with rng NULL: the driver
     * draws their parameters from rng in the network's order
     * (tg_module_reset_parameters); rng is for dropout's masks. NULL after
     * a tapegrad error. */
    tg_module *(*build)(tg_rng *rng);
} ex_fashion_program;

/* Parses the flags, trains (or with --eval loads and evaluates) and
 * returns the exit status: 0 ok, 1 runtime error or missing data, 2 bad
 * flags. */
int ex_fashion_main(const ex_fashion_program *pg, int argc, char **argv);

/* The figure of a run: training loss per epoch on the left axis, test
 * accuracy on the right, epochs 1..n. Returns 0, or -1 with errno set. */
int ex_fashion_figure(const char *path, const char *title, long n, const double *loss,
                      const double *acc);

#endif /* EX_FASHION_H */
