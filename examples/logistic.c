/* logistic.c - the first step past the chapter: logistic regression, a
 * binary classifier trained with the chapter's loop.
 *
 * The data are two Gaussian blobs in the plane, drawn as NumPy would:
 * np.random.seed(seed); X = np.random.randn(200, 2); the first 100 points
 * (label 0) are moved to centre (-1, -1), the last 100 (label 1) to (1, 1).
 * The model is a logit z = X w + b with w (2,) and b (1,), both starting at
 * 0; the loss is the mean binary cross-entropy of sigmoid(z) against the
 * labels, computed from the logits (tg_binary_cross_entropy_with_logits);
 * tg_sgd does plain gradient descent. --graph FILE draws the tape of the
 * first step. Run with --help for the flags.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/chapter.h"
#include "common/graphviz.h"

#define NPOINTS 200          /* 100 per class */
#define MAX_STEPS 1000000L
#define PRINT_EVERY 50

static void usage(FILE *f)
{
    fprintf(f,
            "usage: logistic [--steps N] [--lr F] [--seed S] [--graph FILE] [--quiet]\n"
            "                [--help]\n"
            "\n"
            "Logistic regression on 200 points in two Gaussian blobs (NumPy's\n"
            "seed(S); randn(200, 2); centres (-1, -1) for label 0 and (1, 1) for\n"
            "label 1): logit z = x.w + b, mean binary cross-entropy on the\n"
            "logits, plain gradient descent (tg_sgd) from w = 0, b = 0.\n"
            "\n"
            "  --steps N    gradient-descent steps, 0..%ld (default 300)\n"
            "  --lr F       learning rate, finite and > 0 (default 0.5)\n"
            "  --seed S     NumPy seed, 0..4294967295 (default 0)\n"
            "  --graph FILE the tape of the first step with its gradients: SVG\n"
            "               when Graphviz's dot is on PATH, else DOT (dot -Tsvg)\n"
            "  --quiet      print only the two result lines\n"
            "  --help       print this text and exit\n"
            "\n"
            "Output: unless --quiet, the data line and the loss every %d steps\n"
            "and at the last one; then 'w=W0,W1 b=B loss=L' (L: the last forward\n"
            "pass's loss, before the last update; nan with --steps 0) and\n"
            "'accuracy A (C of 200)' of the final w and b on the training points.\n"
            "Exit status: 0 ok, 1 runtime error, 2 bad flags.\n",
            MAX_STEPS, PRINT_EVERY);
}

static int usage_error(const char *flag, const char *what, const char *value)
{
    if (value)
        fprintf(stderr, "logistic: %s: '%s' %s\n", flag, value, what);
    else
        fprintf(stderr, "logistic: %s: %s\n", flag, what);
    usage(stderr);
    return 2;
}

/* The chapter examples' rules (cli.h): a value after '=' or in the next
 * argument, never one starting with "--"; whole, in-range numbers.
 * Returns -1 to run, else the exit status. o->iters holds --steps. */
static int parse_args(ex_options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->stage = "logistic";
    o->iters = 300;
    o->lr = 0.5;
    o->n = NPOINTS;
    ex_set_stage(o->stage);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return ex_flush_stdout();
        }
        if (strcmp(arg, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return usage_error(arg, "unexpected argument", NULL);
        char name[32];
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen >= sizeof name)
            return usage_error(arg, "unknown flag", NULL);
        memcpy(name, arg, nlen);
        name[nlen] = '\0';
        if (strcmp(name, "--steps") != 0 && strcmp(name, "--lr") != 0 &&
            strcmp(name, "--seed") != 0 && strcmp(name, "--graph") != 0)
            return usage_error(name, "unknown flag", NULL);
        const char *val;
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
                return usage_error(name, "missing value", NULL);
            val = argv[++i];
        }
        if (strncmp(val, "--", 2) == 0)
            return usage_error(name, "is a flag, not a value", val);

        long long v;
        if (strcmp(name, "--steps") == 0) {
            if (!ex_parse_int(val, 0, MAX_STEPS, &v))
                return usage_error(name, "is not an integer in 0..1000000", val);
            o->iters = (long)v;
        } else if (strcmp(name, "--seed") == 0) {
            if (!ex_parse_int(val, 0, 4294967295LL, &v))
                return usage_error(name, "is not an integer in 0..4294967295", val);
            o->seed = (uint32_t)v;
        } else if (strcmp(name, "--lr") == 0) {
            if (!ex_parse_positive(val, &o->lr))
                return usage_error(name, "is not a finite number > 0", val);
        } else { /* --graph */
            if (*val == '\0')
                return usage_error(name, "empty file name", NULL);
            if (strlen(val) >= sizeof o->graph)
                return usage_error(name, "file name too long", NULL);
            snprintf(o->graph, sizeof o->graph, "%s", val);
        }
    }
    if (o->graph[0] && ex_check_writable(o->stage, o->graph))
        return 1;
    return -1;
}

/* X (NPOINTS, 2) and the labels y (NPOINTS,) as 0.0 and 1.0, new float64
 * tensors the caller frees; NULL X after a tapegrad error. */
static tg_tensor *make_blobs(uint32_t seed, tg_tensor **y)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_tensor *X = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(NPOINTS, 2));
    *y = tg_zeros(TG_FLOAT64, TG_SHAPE(NPOINTS));
    if (!X || !*y) {
        tg_free(X);
        tg_free(*y);
        return NULL;
    }
    double *x = tg_data(X), *label = tg_data(*y);
    for (int i = 0; i < NPOINTS; i++) {
        double centre = i < NPOINTS / 2 ? -1.0 : 1.0;
        x[2 * i] += centre;
        x[2 * i + 1] += centre;
        label[i] = i < NPOINTS / 2 ? 0.0 : 1.0;
    }
    return X;
}

/* The model: one logit per point. */
static tg_tensor *logits_of(tg_tape *T, tg_tensor *X, tg_tensor *w, tg_tensor *b)
{
    return tg_ad_add(T, tg_ad_matmul(T, X, w), b);   /* (n, 2) @ (2,) + (1,): (n,) */
}

/* One step: forward, zero the gradients, backward, SGD. Stores the loss.
 * With draw (--graph), draws the tape before the update; *drawn false
 * means the picture failed and was already reported. */
static bool train_step(tg_tape *T, tg_params *ps, tg_sgd *opt, tg_tensor *X,
                       tg_tensor *y, double *loss, const ex_options *draw, bool *drawn)
{
    if (tg_tape_reset(T))
        return false;
    tg_tensor *z = logits_of(T, X, ps->tensors[0], ps->tensors[1]);    /* (n,) */
    tg_tensor *bce = tg_binary_cross_entropy_with_logits(T, z, y, NULL, NULL,
                                                         TG_REDUCE_MEAN); /* () */
    if (!bce || tg_item(bce, loss))
        return false;
    if (tg_params_zero_grad(ps) || tg_backward(T, bce))
        return false;
    if (draw) {
        *drawn = tg_set_name(z, "z") == TG_OK && tg_set_name(bce, "loss") == TG_OK;
        if (!*drawn)
            return false;
        *drawn = ex_draw_tape(draw, T, bce) == 0;
        if (!*drawn)
            return false;
    }
    return tg_sgd_step(opt) == TG_OK;
}

/* How many points the sign of the logit puts in their class, with the
 * tape paused: evaluation records nothing. -1 after a tapegrad error. */
static int count_correct(tg_tape *T, tg_tensor *X, tg_tensor *y, tg_tensor *w,
                         tg_tensor *b)
{
    if (tg_tape_reset(T))
        return -1;
    bool was = tg_tape_pause(T, true);
    tg_tensor *z = logits_of(T, X, w, b);
    tg_tape_pause(T, was);
    if (!z)
        return -1;
    const double *zs = ex_doubles(z), *label = ex_doubles(y);
    int correct = 0;
    for (int i = 0; i < NPOINTS; i++)
        correct += (zs[i] > 0.0) == (label[i] > 0.5);
    return correct;
}

int main(int argc, char **argv)
{
    ex_options o;
    int rc = parse_args(&o, argc, argv);
    if (rc >= 0)
        return rc;

    tg_tensor *y = NULL;
    tg_tensor *X = make_blobs(o.seed, &y);                  /* (200, 2), (200,) */
    tg_tape *T = tg_tape_new();
    tg_tensor *w = tg_zeros(TG_FLOAT64, TG_SHAPE(2));       /* (2,) leaf */
    tg_tensor *b = tg_zeros(TG_FLOAT64, TG_SHAPE(1));       /* (1,) leaf */
    tg_params ps = {0};
    tg_sgd opt = {0};
    int status = 1;
    if (!X || !T || !w || !b || tg_params_add(&ps, "w", w) ||
        tg_params_add(&ps, "b", b) || tg_sgd_init(&opt, &ps, o.lr, 0.0, 0.0, false) ||
        tg_set_name(w, "w") || tg_set_name(b, "b") || tg_set_name(X, "X") ||
        tg_set_name(y, "y")) {
        ex_fail(&o, "creating the data and the parameters");
        goto done;
    }
    if (!o.quiet)
        ex_printf("data: %d points in two Gaussian blobs, seed %lu\n", NPOINTS,
                  (unsigned long)o.seed);

    double loss = (double)NAN;
    for (long it = 0; it < o.iters; it++) {
        bool drawn = true;
        if (!train_step(T, &ps, &opt, X, y, &loss, it == 0 && o.graph[0] ? &o : NULL,
                        &drawn)) {
            if (drawn)
                ex_fail(&o, "training");
            goto done;
        }
        if (!o.quiet && (it % PRINT_EVERY == 0 || it == o.iters - 1))
            ex_printf("step %4ld  loss %.6f\n", it, loss);
    }

    int correct = count_correct(T, X, y, w, b);
    if (correct < 0) {
        ex_fail(&o, "evaluating");
        goto done;
    }
    const double *wv = ex_doubles(w), *bv = ex_doubles(b);
    ex_printf("w=%.9g,%.9g b=%.9g loss=%.9g\n", wv[0], wv[1], bv[0], loss);
    ex_printf("accuracy %.3f (%d of %d)\n", (double)correct / NPOINTS, correct, NPOINTS);
    status = ex_flush_stdout();

done:
    tg_sgd_free(&opt);
    tg_tape_free(T);
    tg_free(w);
    tg_free(b);
    tg_free(X);
    tg_free(y);
    return status;
}
