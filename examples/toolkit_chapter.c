/* toolkit_chapter.c - the chapter's fit of y = w*x^2 + b written as a
 * PyTorch user would write it: NumPy's data and start (np.random.seed(100),
 * x = linspace(-1, 1, 100), y = 3x^2 + 2 + 0.2 rand), the loss
 * 0.5 sum((w x^2 + b - y)^2) on the tape, and SGD at lr 0.001 for 800
 * steps. Its twin is examples/pytorch/toolkit_chapter.py; both print the
 * chapter's numbers (tests/test_toolkit.c compares them). No flags.
 *
 * The scope S owns everything made here and keeps the first error: one
 * check after the setup, one per step, and tg_scope_end reports, frees and
 * gives the exit status. tg_step is loss.item(), zero_grad(), backward()
 * and step() in one call. */
#include <stdio.h>

#include "tapegrad.h"

int main(void)
{
    tg_rng rng = tg_rng_seeded(100);
    tg_scope *S = tg_scope_new("toolkit_chapter");
    tg_tape *T = tg_keep(S, tg_tape_new());
    tg_tensor *x = tg_keep(S, tg_linspace(TG_FLOAT64, -1.0, 1.0, 100));
    tg_tensor *y = tg_keep(S, tg_rand(&rng, TG_FLOAT64, TG_SHAPE(100)));
    double w0 = tg_rng_random(&rng), b0 = tg_rng_random(&rng), loss = 0.0;
    tg_module *model = tg_keep(S, tg_nn_quadratic(TG_FLOAT64, w0, b0));
    tg_optim *opt = tg_keep(S, tg_optim_sgd(tg_module_parameters(model), 0.001, 0, 0, false));
    if (tg_failed(S))
        return tg_scope_end(S);
    double *xs = tg_data(x), *ys = tg_data(y);
    for (int i = 0; i < 100; i++)                 /* y = 3 x^2 + 2 + 0.2 rand */
        ys[i] = 3.0 * (xs[i] * xs[i]) + 2.0 + 0.2 * ys[i];
    printf("init w=%.17g b=%.17g\n", w0, b0);

    for (int step = 0; step < 800; step++)
        if (!tg_check(S, tg_step(T, tg_loss_half_sse(T, tg_module_forward(T, model, x), y),
                                 opt, &loss)))
            return tg_scope_end(S);
    const tg_quadratic *q = tg_module_layer(model, "Quadratic");
    printf("w=%.17g b=%.17g loss=%.17g\n", *(double *)tg_data(q->w),
           *(double *)tg_data(q->b), loss);
    return tg_scope_end(S);
}
