/* chapter_optim.c - stage 5 of the chapter: an optimiser does the update.
 *
 * The layer and the loss are stage 4's; the update loop over the
 * parameter list moves into tg_sgd (models/optim.h), here plain gradient
 * descent (lr 0.001, no momentum, no weight decay). A training step is now
 * the four lines every framework's loop has: forward, zero the gradients,
 * backward, step. Swapping tg_sgd for tg_adam changes the optimiser and
 * nothing else. Run with --help for the flags.
 */
#include <math.h>
#include <stdlib.h>

#include "common/chapter.h"

/* One optimiser step; stores the loss of the forward pass. Returns false
 * after a tapegrad failure. */
static bool train_step(tg_tape *T, tg_quadratic *model, tg_params *ps,
                       tg_sgd *opt, tg_tensor *x, tg_tensor *y, double *loss)
{
    if (tg_tape_reset(T))
        return false;
    tg_tensor *total = tg_loss_half_sse(T, tg_quadratic_forward(T, model, x), y);
    if (!total || tg_item(total, loss))
        return false;
    return tg_params_zero_grad(ps) == TG_OK && tg_backward(T, total) == TG_OK &&
           tg_sgd_step(opt) == TG_OK;
}

int main(int argc, char **argv)
{
    ex_options o;
    int rc = ex_parse_args(&o, "chapter_optim", argc, argv);
    if (rc >= 0)
        return rc;

    tg_tensor *x, *y; /* (n,) each */
    double w0, b0;
    if (ex_chapter_data(&o, &x, &y, &w0, &b0))
        return 1;
    ex_print_init(w0, b0);

    tg_quadratic model = {0};
    tg_params ps = {0};
    tg_sgd opt = {0}; /* tg_sgd_free accepts it zeroed */
    tg_tape *T = tg_tape_new();
    double *losses = malloc((size_t)(o.iters + 1) * sizeof *losses);
    double loss = (double)NAN;
    int status = 1;
    if (!T || tg_quadratic_init(&model, TG_FLOAT64, w0, b0) ||
        tg_quadratic_params(&model, &ps)) {
        ex_fail(&o, "creating the tape and the model");
        goto done;
    }
    /* lr, momentum 0, weight decay 0, no Nesterov: p -= lr * p.grad */
    if (tg_sgd_init(&opt, &ps, o.lr, 0.0, 0.0, false)) {
        ex_fail(&o, "creating the optimiser");
        goto done;
    }
    if (!losses) {
        fprintf(stderr, "chapter_optim: out of memory\n");
        goto done;
    }

    for (long it = 0; it < o.iters; it++) {
        if (!train_step(T, &model, &ps, &opt, x, y, &loss)) {
            ex_fail(&o, "training");
            goto done;
        }
        losses[it] = loss;
        ex_print_progress(&o, it, loss);
    }

    if (ex_finish(&o, x, y, model.w, model.b, losses, loss) == 0)
        status = 0;

done:
    tg_sgd_free(&opt);
    free(losses);
    tg_tape_free(T);
    tg_quadratic_free(&model);
    tg_free(x);
    tg_free(y);
    return status;
}
