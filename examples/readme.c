/* readme.c - the example of the README, kept here so that the build
 * compiles it and `make memcheck` runs it. */
#include <stdio.h>
#include <string.h>
#include "tapegrad.h"

int main(int argc, char **argv)
{
    if (argc > 1) {                     /* the one argument understood: --help */
        const char *bad = strcmp(argv[1], "--help") != 0 ? argv[1] : argv[2];
        if (bad)
            fprintf(stderr, "readme: %s: unexpected argument\n", bad);
        fputs("usage: readme [--help]\nprints dL/dw for L = 0.5 sum (w x^2 - y)^2 at w = 0.5\n",
              bad ? stderr : stdout);
        return bad ? 2 : 0;
    }

    tg_rng rng;
    tg_rng_seed(&rng, 100);                                  /* np.random.seed(100) */
    tg_tensor *x = tg_linspace(TG_FLOAT64, -1, 1, 100);      /* (100,) */
    tg_tensor *y = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(100)); /* targets, (100,) */
    tg_tensor *w = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.5);    /* parameter, (1,) */
    tg_requires_grad(w, true);

    tg_tape *T = tg_tape_new();
    tg_tensor *pred = tg_ad_mul(T, tg_ad_pow_scalar(T, x, 2.0), w);   /* w x^2 */
    tg_tensor *loss = tg_loss_half_sse(T, pred, y);          /* 0.5 sum (pred-y)^2 */
    if (!loss || tg_backward(T, loss))
        fprintf(stderr, "%s\n", tg_last_message());
    tg_print(tg_grad(w), stdout);                            /* dL/dw */

    tg_tape_free(T);
    tg_free(x); tg_free(y); tg_free(w);
    return 0;
}
