/* chapter_autograd.c - stage 3 of the chapter, and tapegrad's main example:
 * the tape derives the gradients.
 *
 * Only the forward pass is written. Each tg_ad_* op computes its result and
 * records itself on the tape T; tg_backward walks the records in reverse
 * and leaves dLoss/dw and dLoss/db in the .grad of w and b, the leaves
 * marked with tg_requires_grad. The results of the ops belong to the tape:
 * nothing is freed inside the loop, and tg_tape_reset reuses their memory
 * for the next step. --graph FILE draws the tape of the first step, with
 * the gradients the backward derived. Run with --help for the flags.
 */
#include <math.h>
#include <stdlib.h>

#include "common/chapter.h"
#include "common/graphviz.h"

/* One gradient-descent step on the leaves w and b (each (1,)); stores the
 * loss of the forward pass. With draw (--graph), draws the tape between the
 * backward and the update. Returns false after a failure (a tapegrad
 * one: *drawn stays true; a picture that could not be made, already
 * reported: *drawn is false). */
static bool train_step(tg_tape *T, tg_tensor *w, tg_tensor *b, tg_tensor *x,
                       tg_tensor *y, double lr, double *loss,
                       const ex_options *draw, bool *drawn)
{
    /* Forget the last step's records and intermediates. */
    if (tg_tape_reset(T))
        return false;

    /* forward: y_pred = x^2 * w + b; loss = sum(0.5 * (y_pred - y)^2).
     * Tape results need no freeing, so the ops can nest; a failure gives
     * NULL, which every later op passes on. */
    tg_tensor *x2 = tg_ad_pow_scalar(T, x, 2.0);                   /* (n,) */
    tg_tensor *pred = tg_ad_add(T, tg_ad_mul(T, x2, w), b);        /* (n,) */
    tg_tensor *err = tg_ad_sub(T, pred, y);                        /* (n,) */
    tg_tensor *half_sq = tg_ad_mul_scalar(T, tg_ad_pow_scalar(T, err, 2.0), 0.5);
    tg_tensor *total = tg_ad_sum(T, half_sq);                      /* () */
    if (!total || tg_item(total, loss))
        return false;

    /* backward: the tape derives dLoss/dw and dLoss/db. Gradients
     * accumulate, so last step's are cleared first. */
    if (tg_zero_grad(w) || tg_zero_grad(b) || tg_backward(T, total))
        return false;

    /* --graph: this step's tape, before the update changes w and b */
    if (draw) {
        *drawn = tg_set_name(x2, "x2") == TG_OK && tg_set_name(total, "loss") == TG_OK;
        if (!*drawn)
            return false;
        *drawn = ex_draw_tape(draw, T, total) == 0;
        if (!*drawn)
            return false;
    }

    /* update: w -= lr * w.grad; b -= lr * b.grad */
    return tg_axpy_into(w, -lr, tg_grad(w)) == TG_OK &&
           tg_axpy_into(b, -lr, tg_grad(b)) == TG_OK;
}

int main(int argc, char **argv)
{
    ex_options o;
    int rc = ex_parse_args(&o, "chapter_autograd", argc, argv);
    if (rc >= 0)
        return rc;

    tg_tensor *x, *y; /* (n,) each */
    double w0, b0;
    if (ex_chapter_data(&o, &x, &y, &w0, &b0))
        return 1;
    ex_print_init(w0, b0);

    tg_tape *T = tg_tape_new();
    tg_tensor *w = tg_full(TG_FLOAT64, TG_SHAPE(1), w0); /* (1,) leaf */
    tg_tensor *b = tg_full(TG_FLOAT64, TG_SHAPE(1), b0); /* (1,) leaf */
    double *losses = malloc((size_t)(o.iters + 1) * sizeof *losses);
    double loss = (double)NAN;
    int status = 1;
    if (!T || !w || !b || tg_requires_grad(w, true) || tg_requires_grad(b, true) ||
        tg_set_name(w, "w") || tg_set_name(b, "b") || tg_set_name(y, "y")) {
        ex_fail(&o, "creating the tape and the parameters");
        goto done;
    }
    if (!losses) {
        fprintf(stderr, "chapter_autograd: out of memory\n");
        goto done;
    }

    for (long it = 0; it < o.iters; it++) {
        bool drawn = true;
        if (!train_step(T, w, b, x, y, o.lr, &loss,
                        it == 0 && o.graph[0] ? &o : NULL, &drawn)) {
            if (drawn) /* else ex_draw_tape said why */
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
    tg_tape_free(T);
    tg_free(w); /* frees w's .grad too */
    tg_free(b);
    tg_free(x);
    tg_free(y);
    return status;
}
