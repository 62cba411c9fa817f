/* toolkit_spiral.c - a 2-100-3 ReLU MLP on CS231n's spiral (3 classes, 100
 * points each, np.random.seed(0)) trained with Adam (lr 0.01) on shuffled
 * batches of 32 for 100 epochs, the lr halved every 40 (StepLR), with
 * cross-entropy. The data, PyTorch's default initialisation and the
 * shuffles are NumPy's draws, so its twin, examples/pytorch/toolkit_spiral.py,
 * prints the same numbers (tests/test_toolkit.c compares them). No flags.
 * The scope and the step are explained in toolkit_chapter.c. */
#include <math.h>
#include <stdio.h>

#include "tapegrad.h"

#define N 100 /* points per class */
#define K 3   /* classes */

int main(void)
{
    tg_rng rng = tg_rng_seeded(0);
    tg_scope *S = tg_scope_new("toolkit_spiral");
    tg_tape *T = tg_keep(S, tg_tape_new());
    tg_tensor *X = tg_keep(S, tg_empty(TG_FLOAT64, TG_SHAPE(N * K, 2)));
    tg_tensor *y = tg_keep(S, tg_empty(TG_INT64, TG_SHAPE(N * K)));
    tg_tensor *r = tg_keep(S, tg_linspace(TG_FLOAT64, 0.0, 1.0, N));
    tg_tensor *t4 = tg_keep(S, tg_linspace(TG_FLOAT64, 0.0, 4.0, N)); /* linspace(4j, 4j+4) - 4j */
    if (tg_failed(S))
        return tg_scope_end(S);
    double loss, *xs = tg_data(X), *rs = tg_data(r), *ts = tg_data(t4);
    int64_t *labels = tg_data(y);
    for (int i = 0; i < N * K; i++) {             /* CS231n's spiral */
        double t = ts[i % N] + 4.0 * (i / N) + tg_rng_normal(&rng) * 0.2;
        xs[2 * i] = rs[i % N] * sin(t);
        xs[2 * i + 1] = rs[i % N] * cos(t);
        labels[i] = i / N;
    }
    tg_module *net = tg_keep(S, tg_nn_sequential(3, (tg_module *[]){
        tg_nn_linear(2, 100, TG_FLOAT64, NULL), tg_nn_relu(),
        tg_nn_linear(100, K, TG_FLOAT64, NULL)}));
    tg_check(S, tg_module_reset_parameters(net, &rng)); /* drawn in order, as the twin */
    tg_optim *opt = tg_keep(S, tg_optim_adam(tg_module_parameters(net), 0.01, 0.9, 0.999, 1e-8,
                                             0.0, false));
    tg_batches *B = tg_keep(S, tg_batches_new(32, &rng, false));
    tg_lr_schedule lr;                            /* StepLR(step_size=40, gamma=0.5) */
    tg_check(S, tg_batches_add(B, X) < 0 || tg_batches_add(B, y) < 0 || tg_lr_step(&lr, 40, 0.5));

    for (int epoch = 0; epoch < 100; epoch++) {
        tg_tensor *xy[2];
        double total = 0.0;
        int more = tg_lr_apply(&lr, epoch, tg_optim_groups(opt)) ? -1 : 1;
        while (more > 0 && (more = tg_batches_next(B, xy)) > 0) {
            tg_tensor *logits = tg_module_forward(T, net, xy[0]);
            if (!tg_check(S, tg_step(T, tg_cross_entropy(T, logits, xy[1], NULL), opt, &loss)))
                return tg_scope_end(S);
            total += loss * (double)tg_size(xy[1], 0);
        }
        if (!tg_check(S, more < 0))
            return tg_scope_end(S);
        if (epoch % 20 == 0 || epoch == 99)
            printf("epoch %d loss %.17g\n", epoch, total / (N * K));
    }

    tg_tensor *logits = tg_module_forward(T, net, X);
    double accuracy = tg_accuracy(logits, y);
    if (!tg_check(S, tg_item(tg_cross_entropy(T, logits, y, NULL), &loss) || accuracy < 0))
        return tg_scope_end(S);
    printf("loss %.17g accuracy %.4f\n", loss, accuracy);
    return tg_scope_end(S);
}
