/* chapter_tensor.c - stage 2 of the chapter: the same fit with tensors.
 *
 * The loops over the points of stage 1 become tensor ops (tg_mul, tg_add,
 * tg_sub, tg_pow_scalar, tg_sum), but the gradients are still derived by
 * hand and written as ops:
 *     grad_w = sum((pred - y) * x^2),  grad_b = sum(pred - y)
 * Every op returns a new tensor that this program owns, so each step frees
 * what it made. Run with --help for the flags.
 */
#include <math.h>
#include <stdlib.h>

#include "common/chapter.h"

/* One gradient-descent step on w and b (each (1,)); stores the loss of the
 * forward pass. Returns false after a tapegrad failure. */
static bool train_step(tg_tensor *w, tg_tensor *b, const tg_tensor *x2,
                       const tg_tensor *y, double lr, double *loss)
{
    /* forward: y_pred = x^2 * w + b; loss = sum(0.5 * (y_pred - y)^2) */
    tg_tensor *wx2 = tg_mul(x2, w);              /* (n,) */
    tg_tensor *pred = tg_add(wx2, b);            /* (n,) */
    tg_tensor *err = tg_sub(pred, y);            /* (n,) y_pred - y */
    tg_tensor *sq = tg_pow_scalar(err, 2.0);     /* (n,) */
    tg_tensor *half = tg_mul_scalar(sq, 0.5);    /* (n,) */
    tg_tensor *total = tg_sum(half);             /* () */

    /* backward, by hand: dLoss/dw = sum(err * x^2), dLoss/db = sum(err) */
    tg_tensor *err_x2 = tg_mul(err, x2);         /* (n,) */
    tg_tensor *grad_w = tg_sum(err_x2);          /* () */
    tg_tensor *grad_b = tg_sum(err);             /* () */

    /* update: w -= lr * grad_w; b -= lr * grad_b (the 0-d gradients
     * broadcast to w's and b's shape (1,)). A NULL anywhere above makes
     * the later ops NULL too, so checking the last results is enough. */
    bool ok = total && grad_w && grad_b && tg_item(total, loss) == TG_OK &&
              tg_axpy_into(w, -lr, grad_w) == TG_OK &&
              tg_axpy_into(b, -lr, grad_b) == TG_OK;

    tg_free(wx2);
    tg_free(pred);
    tg_free(err);
    tg_free(sq);
    tg_free(half);
    tg_free(total);
    tg_free(err_x2);
    tg_free(grad_w);
    tg_free(grad_b);
    return ok;
}

int main(int argc, char **argv)
{
    ex_options o;
    int rc = ex_parse_args(&o, "chapter_tensor", argc, argv);
    if (rc >= 0)
        return rc;

    tg_tensor *x, *y; /* (n,) each */
    double w0, b0;
    if (ex_chapter_data(&o, &x, &y, &w0, &b0))
        return 1;
    ex_print_init(w0, b0);

    tg_tensor *w = tg_full(TG_FLOAT64, TG_SHAPE(1), w0); /* (1,) */
    tg_tensor *b = tg_full(TG_FLOAT64, TG_SHAPE(1), b0); /* (1,) */
    tg_tensor *x2 = tg_pow_scalar(x, 2.0);                /* (n,) */
    double *losses = malloc((size_t)(o.iters + 1) * sizeof *losses);
    double loss = (double)NAN;
    int status = 1;
    if (!w || !b || !x2) {
        ex_fail(&o, "creating the parameters");
        goto done;
    }
    if (!losses) {
        fprintf(stderr, "chapter_tensor: out of memory\n");
        goto done;
    }

    for (long it = 0; it < o.iters; it++) {
        if (!train_step(w, b, x2, y, o.lr, &loss)) {
            ex_fail(&o, "training");
            goto done;
        }
        losses[it] = loss;
        ex_print_progress(&o, it, loss);
    }

    if (ex_finish(&o, x, y, w, b, losses, loss) == 0)
        status = 0;

done:
    free(losses);
    tg_free(x2);
    tg_free(w);
    tg_free(b);
    tg_free(x);
    tg_free(y);
    return status;
}
