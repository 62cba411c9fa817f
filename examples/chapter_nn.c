/* chapter_nn.c - stage 4 of the chapter: the model becomes a layer.
 *
 * tg_quadratic (models/nn.h) owns the parameters w and b and knows its
 * forward pass, w*x^2 + b; tg_loss_half_sse is the chapter's loss,
 * 0.5*sum((pred - y)^2). The training loop no longer names w or b: it
 * walks the tg_params list the layer fills, which is how a network with
 * hundreds of parameter tensors is trained. The update is still written
 * by hand. Run with --help for the flags.
 */
#include <math.h>
#include <stdlib.h>

#include "common/chapter.h"

/* One gradient-descent step on every parameter in ps; stores the loss of
 * the forward pass. Returns false after a tapegrad failure. */
static bool train_step(tg_tape *T, tg_quadratic *model, tg_params *ps,
                       tg_tensor *x, tg_tensor *y, double lr, double *loss)
{
    if (tg_tape_reset(T))
        return false;

    /* forward: the layer, then the loss */
    tg_tensor *pred = tg_quadratic_forward(T, model, x);   /* (n,) */
    tg_tensor *total = tg_loss_half_sse(T, pred, y);       /* () */
    if (!total || tg_item(total, loss))
        return false;

    /* backward, after clearing every parameter's gradient */
    for (int i = 0; i < ps->count; i++)
        if (tg_zero_grad(ps->tensors[i]))
            return false;
    if (tg_backward(T, total))
        return false;

    /* update, by hand, over the list: p -= lr * p.grad */
    for (int i = 0; i < ps->count; i++) {
        tg_tensor *g = tg_grad(ps->tensors[i]);
        if (g && tg_axpy_into(ps->tensors[i], -lr, g))
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    ex_options o;
    int rc = ex_parse_args(&o, "chapter_nn", argc, argv);
    if (rc >= 0)
        return rc;

    tg_tensor *x, *y; /* (n,) each */
    double w0, b0;
    if (ex_chapter_data(&o, &x, &y, &w0, &b0))
        return 1;
    ex_print_init(w0, b0);

    tg_quadratic model = {0};
    tg_params ps = {0}; /* borrowed pointers to model.w and model.b */
    tg_tape *T = tg_tape_new();
    double *losses = malloc((size_t)(o.iters + 1) * sizeof *losses);
    double loss = (double)NAN;
    int status = 1;
    if (!T || tg_quadratic_init(&model, TG_FLOAT64, w0, b0) ||
        tg_quadratic_params(&model, &ps)) {
        ex_fail(&o, "creating the tape and the model");
        goto done;
    }
    if (!losses) {
        fprintf(stderr, "chapter_nn: out of memory\n");
        goto done;
    }

    for (long it = 0; it < o.iters; it++) {
        if (!train_step(T, &model, &ps, x, y, o.lr, &loss)) {
            ex_fail(&o, "training");
            goto done;
        }
        losses[it] = loss;
        ex_print_progress(&o, it, loss);
    }

    if (ex_finish(&o, x, y, model.w, model.b, losses, loss) == 0)
        status = 0;

done:
    free(losses);
    tg_tape_free(T);
    tg_quadratic_free(&model);
    tg_free(x);
    tg_free(y);
    return status;
}
