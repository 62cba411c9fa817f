/* fashion_mnist.c - a real training run: an MLP 784-256-128-10 with ReLU on
 * Fashion-MNIST (Debian's dataset-fashion-mnist), cross-entropy from the
 * logits, Adam at lr 1e-3, mini-batches of 64 reshuffled every epoch, as the
 * usual PyTorch script does it. Pixels are scaled to [0, 1] and then
 * standardised with the training set's mean and standard deviation
 * (0.2860, 0.3530), which makes the accuracy steadier from epoch to epoch.
 *
 * This file is the network, a sequential module (models/module.h); the
 * program around it (flags, data through the batch iterator, the training
 * loop that allocates nothing after its first step, evaluation in no-grad
 * mode in batches of 1000, save and --eval) is shared with fashion_cnn in
 * examples/common/fashion.c. After training it draws the
 * loss and the test accuracy per epoch (--plot, SVG), the figure
 * fashion_cnn draws. Run with --help for the flags.
 */
#include "../tapegrad.h"
#include "common/fashion.h"

/* x (b, 784) -> logits (b, 10); parameters fc1.weight, fc1.bias, ...,
 * fc3.bias. */
static tg_module *mlp(tg_rng *rng)
{
    (void)rng; /* no dropout: the driver draws the parameters */
    return tg_nn_sequential_named(
        5, (const char *[]){"fc1", "relu1", "fc2", "relu2", "fc3"},
        (tg_module *[]){tg_nn_linear(EX_FASHION_PIXELS, 256, TG_FLOAT32, NULL), tg_nn_relu(),
                        tg_nn_linear(256, 128, TG_FLOAT32, NULL), tg_nn_relu(),
                        tg_nn_linear(128, EX_FASHION_CLASSES, TG_FLOAT32, NULL)});
}

static const ex_fashion_program mlp_program = {
    .name = "fashion_mnist",
    .about = "Trains an MLP 784-256-128-10 (ReLU) on Fashion-MNIST with Adam and\n"
             "cross-entropy, reports the test accuracy after every epoch, saves the\n"
             "parameters (one .npy file each, np.load reads them) and draws the loss\n"
             "and accuracy per epoch.\n",
    .summary = "MLP 784-256-128-10 (ReLU)",
    .default_epochs = 10,
    .plot = true,
    .image_ndim = 1,
    .image_shape = {EX_FASHION_PIXELS},
    .eval_batch = 1000,
    .build = mlp,
};

int main(int argc, char **argv)
{
    return ex_fashion_main(&mlp_program, argc, argv);
}
