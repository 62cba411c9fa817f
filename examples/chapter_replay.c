/* chapter_replay.c - after stage 5: the same training step, captured once
 * and replayed (autograd/plan.h).
 *
 * Stage 5's step does the same work every time: the same ops on the same
 * shapes, into the same buffers. The tape still checks every operand and
 * records every op on each step. Here the first step runs as in stage 5
 * (it makes the gradients), and the second is captured: tg_capture_begin
 * records every kernel the step runs (forward, backward and the
 * optimiser's update) and tg_capture_end turns them into a plan. Every
 * later step is one tg_plan_replay: the kernels alone, with the values the
 * parameters hold by then. tg_plan_fuse makes the element-wise kernels and
 * the loss's sums one pass over the points; its sums add in another order,
 * so the numbers agree with the other stages' to rounding (1e-12), not bit
 * for bit. Run with --help for the flags.
 */
#include <math.h>
#include <stdlib.h>

#include "common/chapter.h"

/* Stage 5's step; stores the loss of the forward pass and, in *root, the
 * loss tensor on the tape (a replay rewrites it). Returns false after a
 * tapegrad failure. */
static bool train_step(tg_tape *T, tg_quadratic *model, tg_params *ps,
                       tg_sgd *opt, tg_tensor *x, tg_tensor *y, double *loss,
                       tg_tensor **root)
{
    if (tg_tape_reset(T))
        return false;
    tg_tensor *total = tg_loss_half_sse(T, tg_quadratic_forward(T, model, x), y);
    if (!total || tg_item(total, loss))
        return false;
    *root = total;
    return tg_params_zero_grad(ps) == TG_OK && tg_backward(T, total) == TG_OK &&
           tg_sgd_step(opt) == TG_OK;
}

/* Step it of the loop: eager for the first, captured for the second (the
 * plan then fused), replayed after that. */
static bool step(tg_tape *T, tg_plan **P, tg_quadratic *model, tg_params *ps,
                 tg_sgd *opt, tg_tensor *x, tg_tensor *y, long it, double *loss,
                 tg_tensor **root)
{
    if (*P) /* the kernels alone; the loss tensor holds the new loss */
        return tg_plan_replay(*P) == TG_OK && tg_item(*root, loss) == TG_OK;
    if (it == 1 && tg_capture_begin(T))
        return false;
    if (!train_step(T, model, ps, opt, x, y, loss, root))
        return false; /* a capture in progress ends with the tape */
    if (it == 1) {
        *P = tg_capture_end(T);
        return *P && tg_plan_fuse(*P, 0, NULL) == TG_OK;
    }
    return true;
}

int main(int argc, char **argv)
{
    ex_options o;
    int rc = ex_parse_args(&o, "chapter_replay", argc, argv);
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
    tg_plan *P = NULL;
    tg_tensor *root = NULL;
    double *losses = malloc((size_t)(o.iters + 1) * sizeof *losses);
    double loss = (double)NAN;
    int status = 1;
    if (!T || tg_quadratic_init(&model, TG_FLOAT64, w0, b0) ||
        tg_quadratic_params(&model, &ps)) {
        ex_fail(&o, "creating the tape and the model");
        goto done;
    }
    if (tg_sgd_init(&opt, &ps, o.lr, 0.0, 0.0, false)) {
        ex_fail(&o, "creating the optimiser");
        goto done;
    }
    if (!losses) {
        fprintf(stderr, "chapter_replay: out of memory\n");
        goto done;
    }

    for (long it = 0; it < o.iters; it++) {
        if (!step(T, &P, &model, &ps, &opt, x, y, it, &loss, &root)) {
            ex_fail(&o, "training");
            goto done;
        }
        losses[it] = loss;
        ex_print_progress(&o, it, loss);
    }

    if (ex_finish(&o, x, y, model.w, model.b, losses, loss) == 0)
        status = 0;

done:
    tg_plan_free(P); /* before the tape it replays on */
    tg_sgd_free(&opt);
    free(losses);
    tg_tape_free(T);
    tg_quadratic_free(&model);
    tg_free(x);
    tg_free(y);
    return status;
}
