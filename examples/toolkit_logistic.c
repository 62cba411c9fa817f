/* toolkit_logistic.c - logistic regression with binary cross-entropy and
 * SGD: NumPy's two Gaussian blobs (np.random.seed(0); randn(200, 2); label
 * 0 around (-1, -1), label 1 around (1, 1)), a logit X w + b from zero,
 * tg_binary_cross_entropy_with_logits and tg_sgd at lr 0.5 for 300 steps.
 * Its twin is examples/pytorch/toolkit_logistic.py; both print the same
 * numbers (tests/test_toolkit.c compares them). No flags. */
#include <stdio.h>

#include "tapegrad.h"

int main(void)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tensor *X = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(200, 2));
    tg_tensor *y = tg_zeros(TG_FLOAT64, TG_SHAPE(200));
    tg_tensor *w = tg_zeros(TG_FLOAT64, TG_SHAPE(2));
    tg_tensor *b = tg_zeros(TG_FLOAT64, TG_SHAPE(1));
    tg_params ps = {0};
    tg_sgd opt = {0};
    tg_tape *T = tg_tape_new();
    int status = 1;
    if (!X || !y || !w || !b || !T || tg_params_add(&ps, "w", w) ||
        tg_params_add(&ps, "b", b) || tg_sgd_init(&opt, &ps, 0.5, 0.0, 0.0, false))
        goto fail;
    double *xs = tg_data(X), *ys = tg_data(y);
    for (int i = 0; i < 200; i++) {               /* the blobs and their labels */
        xs[2 * i] += i < 100 ? -1.0 : 1.0;
        xs[2 * i + 1] += i < 100 ? -1.0 : 1.0;
        ys[i] = i < 100 ? 0.0 : 1.0;
    }

    for (int step = 0; step < 300; step++) {
        double loss;
        if (tg_tape_reset(T))
            goto fail;
        tg_tensor *z = tg_ad_add(T, tg_ad_matmul(T, X, w), b);           /* (200,) */
        tg_tensor *l = tg_binary_cross_entropy_with_logits(T, z, y, NULL, NULL,
                                                           TG_REDUCE_MEAN);
        if (!l || tg_item(l, &loss) || tg_params_zero_grad(&ps) || tg_backward(T, l) ||
            tg_sgd_step(&opt))
            goto fail;
        if (step % 50 == 0 || step == 299)
            printf("step %d loss %.17g\n", step, loss);
    }

    bool was_paused = tg_tape_pause(T, true);    /* torch.no_grad() */
    tg_tensor *z = tg_ad_add(T, tg_ad_matmul(T, X, w), b);
    tg_tape_pause(T, was_paused);
    if (!z)
        goto fail;
    const double *zs = tg_data(z), *ws = tg_data(w);
    int correct = 0;
    for (int i = 0; i < 200; i++)
        correct += (zs[i] > 0.0) == (ys[i] > 0.5);
    printf("w=%.17g,%.17g b=%.17g\n", ws[0], ws[1], *(double *)tg_data(b));
    printf("accuracy %.3f (%d of 200)\n", correct / 200.0, correct);
    status = fflush(stdout) != 0;
    goto done;
fail:
    fprintf(stderr, "toolkit_logistic: %s\n", tg_last_message());
done:
    tg_sgd_free(&opt);
    tg_tape_free(T);
    tg_free(X);
    tg_free(y);
    tg_free(w);
    tg_free(b);
    return status;
}
