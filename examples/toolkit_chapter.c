/* toolkit_chapter.c - the chapter's fit of y = w*x^2 + b written as a
 * PyTorch user would write it: NumPy's data and start (np.random.seed(100),
 * x = linspace(-1, 1, 100), y = 3x^2 + 2 + 0.2 rand), the loss
 * 0.5 sum((w x^2 + b - y)^2) on the tape, and SGD at lr 0.001 for 800
 * steps. Its twin is examples/pytorch/toolkit_chapter.py; both print the
 * chapter's numbers (tests/test_toolkit.c compares them). No flags. */
#include <stdio.h>

#include "tapegrad.h"

int main(void)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *x = tg_linspace(TG_FLOAT64, -1.0, 1.0, 100);
    tg_tensor *y = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(100));
    double w0 = tg_rng_random(&rng), b0 = tg_rng_random(&rng);
    tg_quadratic model = {0};
    tg_params ps = {0};
    tg_sgd opt = {0};
    tg_tape *T = tg_tape_new();
    int status = 1;
    if (!x || !y || !T || tg_quadratic_init(&model, TG_FLOAT64, w0, b0) ||
        tg_quadratic_params(&model, &ps) || tg_sgd_init(&opt, &ps, 0.001, 0.0, 0.0, false))
        goto fail;
    double *xs = tg_data(x), *ys = tg_data(y);
    for (int i = 0; i < 100; i++)                 /* y = 3 x^2 + 2 + 0.2 rand */
        ys[i] = 3.0 * (xs[i] * xs[i]) + 2.0 + 0.2 * ys[i];
    printf("init w=%.17g b=%.17g\n", w0, b0);

    double loss = 0.0;
    for (int step = 0; step < 800; step++) {
        if (tg_tape_reset(T))
            goto fail;
        tg_tensor *l = tg_loss_half_sse(T, tg_quadratic_forward(T, &model, x), y);
        if (!l || tg_item(l, &loss) || tg_params_zero_grad(&ps) || tg_backward(T, l) ||
            tg_sgd_step(&opt))
            goto fail;
    }
    printf("w=%.17g b=%.17g loss=%.17g\n", *(double *)tg_data(model.w),
           *(double *)tg_data(model.b), loss);
    status = fflush(stdout) != 0;
    goto done;
fail:
    fprintf(stderr, "toolkit_chapter: %s\n", tg_last_message());
done:
    tg_sgd_free(&opt);
    tg_tape_free(T);
    tg_quadratic_free(&model);
    tg_free(x);
    tg_free(y);
    return status;
}
