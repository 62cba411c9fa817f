/* toolkit_logistic.c - logistic regression with binary cross-entropy and
 * SGD: NumPy's two Gaussian blobs (np.random.seed(0); randn(200, 2); label
 * 0 around (-1, -1), label 1 around (1, 1)), a logit X w + b from zero,
 * tg_binary_cross_entropy_with_logits and SGD at lr 0.5 for 300 steps.
 * Its twin is examples/pytorch/toolkit_logistic.py; both print the same
 * numbers (tests/test_toolkit.c compares them). No flags. The scope and
 * the step are explained in toolkit_chapter.c. */
#include <stdio.h>

#include "tapegrad.h"

int main(void)
{
    tg_rng rng = tg_rng_seeded(0);
    tg_scope *S = tg_scope_new("toolkit_logistic");
    tg_tape *T = tg_keep(S, tg_tape_new());
    tg_tensor *X = tg_keep(S, tg_randn(&rng, TG_FLOAT64, TG_SHAPE(200, 2)));
    tg_tensor *y = tg_keep(S, tg_zeros(TG_FLOAT64, TG_SHAPE(200)));
    tg_tensor *w = tg_keep(S, tg_zeros(TG_FLOAT64, TG_SHAPE(2)));
    tg_tensor *b = tg_keep(S, tg_zeros(TG_FLOAT64, TG_SHAPE(1)));
    tg_params ps = {0};
    tg_check(S, tg_params_add(&ps, "w", w) || tg_params_add(&ps, "b", b));
    tg_optim *opt = tg_keep(S, tg_optim_sgd(&ps, 0.5, 0.0, 0.0, false));
    if (tg_failed(S))
        return tg_scope_end(S);
    double *xs = tg_data(X), *ys = tg_data(y), *ws = tg_data(w), loss;
    for (int i = 0; i < 400; i++)                 /* the blobs and their labels */
        xs[i] += i < 200 ? -1.0 : 1.0;
    for (int i = 100; i < 200; i++)
        ys[i] = 1.0;

    for (int step = 0; step < 300; step++) {
        tg_tensor *z = tg_ad_add(T, tg_ad_matmul(T, X, w), b);           /* (200,) */
        if (!tg_check(S, tg_step(T, tg_binary_cross_entropy_with_logits(
                                        T, z, y, NULL, NULL, TG_REDUCE_MEAN), opt, &loss)))
            return tg_scope_end(S);
        if (step % 50 == 0 || step == 299)
            printf("step %d loss %.17g\n", step, loss);
    }

    double accuracy = tg_binary_accuracy(tg_ad_add(T, tg_ad_matmul(T, X, w), b), y);
    if (!tg_check(S, accuracy < 0))
        return tg_scope_end(S);
    printf("w=%.17g,%.17g b=%.17g\n", ws[0], ws[1], *(double *)tg_data(b));
    printf("accuracy %.3f (%d of 200)\n", accuracy, (int)(accuracy * 200 + 0.5));
    return tg_scope_end(S);
}
