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
 * fashion_mnist. The layers are models/cnn.h's; the program around the
 * network (flags, data, the loop that allocates nothing after its first
 * step, evaluation with the tape paused and dropout off, save and --eval)
 * is examples/common/fashion.c, shared with fashion_mnist. After training
 * it draws the loss and the test accuracy per epoch (--plot, SVG).
 * docs/cnn.md walks through it. Run with --help for the flags.
 */
#include "../tapegrad.h"
#include "common/fashion.h"

typedef struct cnn {
    tg_conv2d conv1;   /* 1 -> 32, 3x3, padding 1 */
    tg_conv2d conv2;   /* 32 -> 64, 3x3, padding 1 */
    tg_pool2d pool;    /* 2x2, stride 2 (both poolings) */
    tg_linear fc1;     /* 3136 -> 128 */
    tg_dropout drop;   /* p = 0.25 */
    tg_linear fc2;     /* 128 -> 10 */
} cnn;

/* The layers in PyTorch's order of construction, which is also the order
 * of the draws from rng; dropout keeps rng for its masks. */
static int cnn_init(void *net, tg_params *ps, tg_rng *rng)
{
    cnn *m = net;
    tg_conv_args pad1 = TG_CONV_ARGS;
    pad1.padding[0] = pad1.padding[1] = 1;
    const int64_t k3[2] = {3, 3}, k2[2] = {2, 2};
    int rc;
    if ((rc = tg_conv2d_init(&m->conv1, 1, 32, k3, &pad1, true, TG_FLOAT32, rng)) ||
        (rc = tg_conv2d_init(&m->conv2, 32, 64, k3, &pad1, true, TG_FLOAT32, rng)) ||
        (rc = tg_pool2d_init(&m->pool, k2, NULL, NULL)) ||
        (rc = tg_linear_init(&m->fc1, 64 * 7 * 7, 128, TG_FLOAT32, rng)) ||
        (rc = tg_dropout_init(&m->drop, 0.25, rng)) ||
        (rc = tg_linear_init(&m->fc2, 128, EX_FASHION_CLASSES, TG_FLOAT32, rng)))
        return rc;
    if ((rc = tg_conv2d_params(&m->conv1, "conv1", ps)) ||
        (rc = tg_conv2d_params(&m->conv2, "conv2", ps)) ||
        (rc = tg_linear_params(&m->fc1, "fc1", ps)) ||
        (rc = tg_linear_params(&m->fc2, "fc2", ps)))
        return rc;
    return TG_OK;
}

/* x (b, 1, 28, 28) -> logits (b, 10). A NULL anywhere (an error) flows
 * through the rest as NULL, and the caller reports tg_last_message(). */
static tg_tensor *cnn_forward(tg_tape *T, void *net, tg_tensor *x)
{
    cnn *m = net;
    tg_tensor *h = tg_conv2d_forward(T, &m->conv1, x);                 /* (b, 32, 28, 28) */
    h = tg_max_pool2d_forward(T, &m->pool, tg_ad_relu(T, h));          /* (b, 32, 14, 14) */
    h = tg_conv2d_forward(T, &m->conv2, h);                            /* (b, 64, 14, 14) */
    h = tg_max_pool2d_forward(T, &m->pool, tg_ad_relu(T, h));          /* (b, 64, 7, 7) */
    h = tg_flatten(T, h);                                              /* (b, 3136) */
    h = tg_dropout_forward(T, &m->drop, tg_ad_relu(T, tg_linear_forward(T, &m->fc1, h)));
    return tg_linear_forward(T, &m->fc2, h);                           /* (b, 10) */
}

static void cnn_set_training(void *net, bool training)
{
    ((cnn *)net)->drop.training = training;
}

static void cnn_free(void *net)
{
    cnn *m = net;
    tg_conv2d_free(&m->conv1);
    tg_conv2d_free(&m->conv2);
    tg_linear_free(&m->fc1);
    tg_linear_free(&m->fc2);
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
    .init = cnn_init,
    .forward = cnn_forward,
    .set_training = cnn_set_training,
    .free = cnn_free,
};

int main(int argc, char **argv)
{
    cnn net = {0};
    return ex_fashion_main(&cnn_program, &net, argc, argv);
}
