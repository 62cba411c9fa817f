/* toolkit_spiral.c - a 2-100-3 ReLU MLP on CS231n's spiral (3 classes, 100
 * points each, np.random.seed(0)) trained with Adam (lr 0.01) on shuffled
 * batches of 32 for 100 epochs, the lr halved every 40 (StepLR), with
 * cross-entropy. The data, PyTorch's default initialisation and the
 * shuffles are NumPy's draws, so its twin, examples/pytorch/toolkit_spiral.py,
 * prints the same numbers (tests/test_toolkit.c compares them). No flags. */
#include <math.h>
#include <stdio.h>

#include "tapegrad.h"

#define N 100 /* points per class */
#define K 3   /* classes */

int main(void)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tensor *X = tg_empty(TG_FLOAT64, TG_SHAPE(N * K, 2));
    tg_tensor *y = tg_empty(TG_INT64, TG_SHAPE(N * K));
    tg_tensor *r = tg_linspace(TG_FLOAT64, 0.0, 1.0, N);
    tg_tensor *t4 = tg_linspace(TG_FLOAT64, 0.0, 4.0, N); /* linspace(4j, 4j + 4) - 4j */
    tg_mlp net = {0};
    tg_params ps = {0};
    tg_adam opt = {0};
    tg_lr_schedule sched;
    tg_batches *B = tg_batches_new(32, &rng, false);
    tg_tape *T = tg_tape_new();
    int status = 1;
    if (!X || !y || !r || !t4 || !B || !T || tg_lr_step(&sched, 40, 0.5))
        goto fail;
    double *xs = tg_data(X), *rs = tg_data(r), *ts = tg_data(t4);
    int64_t *labels = tg_data(y);
    for (int i = 0; i < N * K; i++) {             /* CS231n's spiral */
        double t = ts[i % N] + 4.0 * (i / N) + tg_rng_normal(&rng) * 0.2;
        xs[2 * i] = rs[i % N] * sin(t);
        xs[2 * i + 1] = rs[i % N] * cos(t);
        labels[i] = i / N;
    }
    if (tg_mlp_init(&net, 3, (const int64_t[]){2, 100, K}, TG_ACT_RELU, TG_FLOAT64, &rng) ||
        tg_mlp_params(&net, &ps) || tg_adam_init(&opt, &ps, 0.01, 0.9, 0.999, 1e-8, 0.0, false) ||
        tg_batches_add(B, X) < 0 || tg_batches_add(B, y) < 0)
        goto fail;

    for (int epoch = 0; epoch < 100; epoch++) {
        tg_tensor *xy[2];
        double total = 0.0, loss;
        int more;
        if (tg_lr_apply(&sched, epoch, &opt.groups))
            goto fail;
        while ((more = tg_batches_next(B, xy)) > 0) {
            if (tg_tape_reset(T))
                goto fail;
            tg_tensor *l = tg_cross_entropy(T, tg_mlp_forward(T, &net, xy[0]), xy[1], NULL);
            if (!l || tg_item(l, &loss) || tg_params_zero_grad(&ps) || tg_backward(T, l) ||
                tg_adam_step(&opt))
                goto fail;
            total += loss * (double)tg_size(xy[1], 0);
        }
        if (more < 0)
            goto fail;
        if (epoch % 20 == 0 || epoch == 99)
            printf("epoch %d loss %.17g\n", epoch, total / (N * K));
    }

    double loss;
    bool was_paused = tg_tape_pause(T, true);    /* torch.no_grad() */
    tg_tensor *logits = tg_mlp_forward(T, &net, X);
    tg_tensor *l = tg_cross_entropy(T, logits, y, NULL);
    tg_tape_pause(T, was_paused);
    double accuracy = tg_accuracy(logits, y);
    if (!l || tg_item(l, &loss) || accuracy < 0)
        goto fail;
    printf("loss %.17g accuracy %.4f\n", loss, accuracy);
    status = fflush(stdout) != 0;
    goto done;
fail:
    fprintf(stderr, "toolkit_spiral: %s\n", tg_last_message());
done:
    tg_batches_free(B);
    tg_adam_free(&opt);
    tg_mlp_free(&net);
    tg_tape_free(T);
    tg_free(X);
    tg_free(y);
    tg_free(r);
    tg_free(t4);
    return status;
}
