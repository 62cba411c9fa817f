/* fashion_cnn.c - a convolutional net on Fashion-MNIST, the architecture
 * of the usual PyTorch tutorial, layer for layer:
 *
 *     conv(1->32, 3x3, pad 1) relu maxpool(2)      (N,1,28,28) -> (N,32,14,14)
 *     conv(32->64, 3x3, pad 1) relu maxpool(2)     -> (N,64,7,7)
 *     flatten linear(3136->128) relu dropout(0.25) -> (N,128)
 *     linear(128->10)                              -> logits (N,10)
 *
 * trained with cross-entropy and Adam at lr 1e-3 on mini-batches of 64,
 * reshuffled every epoch, pixels scaled to [0, 1] and standardised as in
 * fashion_mnist. The network is a sequential module of models/module.h's
 * layers; the program around it (flags, data through the batch iterator,
 * the loop that allocates nothing after its first step, evaluation with
 * the tape paused and dropout off, save and --eval) is
 * examples/common/fashion.c, shared with fashion_mnist. After training
 * it draws the loss and the test accuracy per epoch (--plot, SVG).
 * docs/cnn.md walks through it. Run with --help for the flags.
 */
#include "../tapegrad.h"
#include "common/fashion.h"

/* The layers in PyTorch's order of construction, which is also the order
 * in which the driver draws their parameters; dropout keeps rng for its
 * masks. x (b, 1, 28, 28) -> logits (b, 10). */
static tg_module *cnn(tg_rng *rng)
{
    tg_conv_args pad1 = TG_CONV_ARGS;
    pad1.padding[0] = pad1.padding[1] = 1;
    const int64_t k3[2] = {3, 3}, k2[2] = {2, 2};
    return tg_nn_sequential_named(
        11,
        (const char *[]){"conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten",
                         "fc1", "relu3", "dropout", "fc2"},
        (tg_module *[]){
            tg_nn_conv2d(1, 32, k3, &pad1, true, TG_FLOAT32, NULL),  /* (b, 32, 28, 28) */
            tg_nn_relu(),
            tg_nn_max_pool2d(k2, NULL, NULL),                        /* (b, 32, 14, 14) */
            tg_nn_conv2d(32, 64, k3, &pad1, true, TG_FLOAT32, NULL), /* (b, 64, 14, 14) */
            tg_nn_relu(),
            tg_nn_max_pool2d(k2, NULL, NULL),                        /* (b, 64, 7, 7) */
            tg_nn_flatten(),                                         /* (b, 3136) */
            tg_nn_linear(64 * 7 * 7, 128, TG_FLOAT32, NULL),         /* (b, 128) */
            tg_nn_relu(),
            tg_nn_dropout(0.25, rng),
            tg_nn_linear(128, EX_FASHION_CLASSES, TG_FLOAT32, NULL), /* (b, 10) */
        });
}

static const ex_fashion_program cnn_program = {
    .name = "fashion_cnn",
    .about = "Trains a convolutional net on Fashion-MNIST with Adam and cross-entropy:\n"
             "conv(1->32, 3x3, pad 1) relu maxpool(2) conv(32->64, 3x3, pad 1) relu\n"
             "maxpool(2) flatten linear(3136->128) relu dropout(0.25) linear(128->10).\n"
             "Reports the test accuracy after every epoch, saves the parameters (one\n"
             ".npy file each, np.load reads them) and draws the loss and accuracy per\n"
             "epoch. Dropout draws from the seed's generator too.\n",
    .summary = "CNN conv32-pool-conv64-pool-fc128-dropout0.25-fc10",
    .default_epochs = 3,
    .plot = true,
    .image_ndim = 3,
    .image_shape = {1, EX_FASHION_SIDE, EX_FASHION_SIDE},
    /* Evaluation keeps every activation of a batch in the tape's arena
     * until the next reset: 250 images need about 40 MiB, 1000 four
     * times as much for no gain in speed. */
    .eval_batch = 250,
    .build = cnn,
};

int main(int argc, char **argv)
{
    return ex_fashion_main(&cnn_program, argc, argv);
}
