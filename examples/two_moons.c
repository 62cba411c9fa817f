/* two_moons.c - a binary classifier with the training toolkit of models/:
 * a 2-16-16-1 tanh MLP separating scikit-learn's two moons, one logit per
 * point, trained with
 *   - tg_binary_cross_entropy_with_logits (the loss on logits, stable),
 *   - the batch iterator (batches of 32, reshuffled every epoch),
 *   - a learning-rate schedule (StepLR: the lr halved every 25 epochs),
 *   - Adam,
 *   - a checkpoint: --save FILE writes the model, Adam's state and the epoch
 *     at the end; --resume FILE continues such a run, bit for bit as if it
 *     had never stopped (the same --seed and --lr must be given).
 *
 * The data are scikit-learn's make_moons(200, noise=0.1, shuffle=False)
 * with NumPy's legacy generator after np.random.seed(seed): the upper moon
 * (label 0) at (cos a, sin a), the lower one (label 1) at
 * (1 - cos a, 1 - sin a - 0.5), a = linspace(0, pi, 100), plus
 * normal(0, 0.1) noise in C order, drawn from tg_rng as NumPy draws it (the
 * points agree with NumPy's to the last bit of libm's sin and cos). A test
 * set of 200 more points follows from the same generator, then the
 * network's initial weights, then one permutation per epoch for the
 * batches. Run with --help for the flags.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/chapter.h"

#define NPOINTS 200       /* per set, 100 per moon */
#define NOISE 0.1
#define BATCH 32
#define MAX_EPOCHS 100000L
#define STAGE "two_moons"

typedef struct options {
    long epochs;
    double lr;
    uint32_t seed;
    bool quiet;
    const char *save;   /* NULL: no checkpoint written */
    const char *resume; /* NULL: a fresh run */
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: two_moons [--epochs N] [--lr F] [--seed S] [--save FILE]\n"
            "                 [--resume FILE] [--quiet] [--help]\n"
            "\n"
            "A 2-16-16-1 tanh MLP on scikit-learn's two moons (200 training and\n"
            "200 test points, noise 0.1, NumPy's seed(S)): binary cross-entropy on\n"
            "the logits, Adam on shuffled batches of %d, the lr halved every 25\n"
            "epochs, a checkpoint to stop and resume the run.\n"
            "\n"
            "  --epochs N     train until N epochs are done, 0..%ld (default 60)\n"
            "  --lr F         Adam's base learning rate, finite and > 0 (default 0.01)\n"
            "  --seed S       NumPy seed of the data, the weights and the shuffles,\n"
            "                 0..4294967295 (default 0)\n"
            "  --save FILE    write a checkpoint (safetensors: model, Adam, epoch)\n"
            "                 at the end; checked to be writable before training\n"
            "  --resume FILE  start from a checkpoint written by --save and train\n"
            "                 on to --epochs; give the run's --seed and --lr again\n"
            "  --quiet        print only the result lines\n"
            "  --help         print this text and exit\n"
            "\n"
            "Output: unless --quiet, 'resumed from FILE at epoch E' with --resume and\n"
            "'epoch E  lr R  loss L  accuracy A' per epoch (the mean loss and the\n"
            "accuracy of the epoch's batches, before their updates); then 'loss=L'\n"
            "(the training set's mean loss, %%.17g, so two runs can be compared bit\n"
            "for bit), 'train accuracy A (C of 200)', 'test accuracy A (C of 200)'\n"
            "and, with --save and unless --quiet, 'checkpoint: FILE (epoch N)'.\n"
            "Exit status: 0 ok, 1 runtime error (a checkpoint that cannot be read\n"
            "or written, lost output), 2 bad flags.\n",
            BATCH, MAX_EPOCHS);
}

static int usage_error(const char *flag, const char *what, const char *value)
{
    if (value)
        fprintf(stderr, STAGE ": %s: '%s' %s\n", flag, value, what);
    else
        fprintf(stderr, STAGE ": %s: %s\n", flag, what);
    usage(stderr);
    return 2;
}

/* logistic.c's rules (cli.h): a value after '=' or in the next argument,
 * never one starting with "--"; whole, in-range numbers. Returns -1 to run,
 * else the exit status. */
static int parse_args(options *o, int argc, char **argv)
{
    *o = (options){.epochs = 60, .lr = 0.01};
    ex_set_stage(STAGE);
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
        if (strcmp(name, "--epochs") != 0 && strcmp(name, "--lr") != 0 &&
            strcmp(name, "--seed") != 0 && strcmp(name, "--save") != 0 &&
            strcmp(name, "--resume") != 0)
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
        if (strcmp(name, "--epochs") == 0) {
            if (!ex_parse_int(val, 0, MAX_EPOCHS, &v))
                return usage_error(name, "is not an integer in 0..100000", val);
            o->epochs = (long)v;
        } else if (strcmp(name, "--seed") == 0) {
            if (!ex_parse_int(val, 0, 4294967295LL, &v))
                return usage_error(name, "is not an integer in 0..4294967295", val);
            o->seed = (uint32_t)v;
        } else if (strcmp(name, "--lr") == 0) {
            if (!ex_parse_positive(val, &o->lr))
                return usage_error(name, "is not a finite number > 0", val);
        } else { /* --save, --resume */
            if (*val == '\0')
                return usage_error(name, "empty file name", NULL);
            if (strcmp(name, "--save") == 0)
                o->save = val;
            else
                o->resume = val;
        }
    }
    if (o->save && ex_check_writable(STAGE, o->save))
        return 1;
    return -1;
}

/* make_moons(NPOINTS, noise=NOISE, shuffle=False) into X (NPOINTS, 2) and
 * the labels y (NPOINTS, 1) as 0.0 and 1.0, both float64; a is
 * linspace(0, pi, NPOINTS / 2). */
static void make_moons(tg_rng *rng, const double *a, tg_tensor *X, tg_tensor *y)
{
    double *xs = tg_data(X), *ys = tg_data(y);
    for (int i = 0; i < NPOINTS; i++) {
        int k = i % (NPOINTS / 2);
        bool lower = i >= NPOINTS / 2;
        xs[2 * i] = lower ? 1.0 - cos(a[k]) : cos(a[k]);
        xs[2 * i + 1] = lower ? 1.0 - sin(a[k]) - 0.5 : sin(a[k]);
        ys[i] = lower ? 1.0 : 0.0;
    }
    for (int i = 0; i < 2 * NPOINTS; i++)       /* X += normal(scale=NOISE, X.shape) */
        xs[i] += NOISE * tg_rng_normal(rng);
}

/* How many of the logits z (n, 1) have the sign of their labels y (n, 1). */
static int count_correct(const tg_tensor *z, const tg_tensor *y)
{
    const double *zs = tg_data(z), *ys = tg_data(y);
    int correct = 0;
    for (int64_t i = 0; i < tg_size(z, 0); i++)
        correct += (zs[i] > 0.0) == (ys[i] > 0.5);
    return correct;
}

/* The mean loss and the number of right answers on a whole set, with the
 * tape paused (torch.no_grad()); -1 after a tapegrad error. */
static int evaluate(tg_tape *T, tg_mlp *net, tg_tensor *X, tg_tensor *y, double *loss)
{
    if (tg_tape_reset(T))
        return -1;
    bool was_paused = tg_tape_pause(T, true);
    tg_tensor *z = tg_mlp_forward(T, net, X);
    tg_tensor *l = tg_binary_cross_entropy_with_logits(T, z, y, NULL, NULL, TG_REDUCE_MEAN);
    tg_tape_pause(T, was_paused);
    if (!l || tg_item(l, loss))
        return -1;
    return count_correct(z, y);
}

/* One epoch over the batches of B at the schedule's lr for this epoch:
 * forward, loss, zero grad, backward, Adam. Stores the mean loss and the
 * right answers of the batches (before their updates); false after a
 * tapegrad error. */
static bool train_epoch(tg_tape *T, tg_mlp *net, tg_params *ps, tg_adam *opt,
                        const tg_lr_schedule *sched, long epoch, tg_batches *B,
                        double *mean_loss, int *correct)
{
    /* The schedule writes every group's lr; a step takes group 0's from
     * groups.lr[0], the copy written last (optim.h): opt->lr stays as the
     * last step, or tg_checkpoint_load, left the two copies, equal. */
    if (tg_lr_apply(sched, epoch, &opt->groups))
        return false;
    tg_tensor *xy[2]; /* (b, 2) points, (b, 1) labels; the iterator's */
    double total = 0.0;
    int more;
    *correct = 0;
    while ((more = tg_batches_next(B, xy)) > 0) {
        double loss;
        if (tg_tape_reset(T))
            return false;
        tg_tensor *z = tg_mlp_forward(T, net, xy[0]); /* (b, 1) logits */
        tg_tensor *l = tg_binary_cross_entropy_with_logits(T, z, xy[1], NULL, NULL,
                                                           TG_REDUCE_MEAN);
        if (!l || tg_item(l, &loss) || tg_params_zero_grad(ps) || tg_backward(T, l) ||
            tg_adam_step(opt))
            return false;
        total += loss * (double)tg_size(z, 0);
        *correct += count_correct(z, xy[1]);
    }
    *mean_loss = total / (double)tg_batches_rows(B);
    return more == 0;
}

/* Reads the checkpoint into the model and Adam, and brings the shuffles to
 * the epoch it holds: each epoch drew one permutation from rng, which the
 * file does not hold, so they are drawn again by walking the epochs'
 * batches without training. Returns the epoch, or -1 after an error. */
static long resume(const char *path, tg_params *ps, tg_adam *opt, tg_batches *B)
{
    tg_checkpoint ck = {.model = ps, .adam = opt};
    if (tg_checkpoint_load(path, &ck)) {
        fprintf(stderr, STAGE ": cannot resume from %s: %s\n", path, tg_last_message());
        return -1;
    }
    if (ck.step < 0 || ck.step > MAX_EPOCHS) {
        fprintf(stderr, STAGE ": %s: epoch %lld is out of range\n", path, (long long)ck.step);
        return -1;
    }
    tg_tensor *xy[2];
    for (long e = 0; e < ck.step; e++) {
        int more;
        while ((more = tg_batches_next(B, xy)) > 0)
            continue;
        if (more < 0) {
            fprintf(stderr, STAGE ": replaying the shuffles: %s\n", tg_last_message());
            return -1;
        }
    }
    return (long)ck.step;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(&o, argc, argv);
    if (rc >= 0)
        return rc;

    tg_rng rng;
    tg_rng_seed(&rng, o.seed);
    tg_tensor *a = tg_linspace(TG_FLOAT64, 0.0, acos(-1.0), NPOINTS / 2);
    tg_tensor *X = tg_empty(TG_FLOAT64, TG_SHAPE(NPOINTS, 2));
    tg_tensor *y = tg_empty(TG_FLOAT64, TG_SHAPE(NPOINTS, 1));
    tg_tensor *Xt = tg_empty(TG_FLOAT64, TG_SHAPE(NPOINTS, 2));
    tg_tensor *yt = tg_empty(TG_FLOAT64, TG_SHAPE(NPOINTS, 1));
    tg_mlp net = {0};
    tg_params ps = {0};
    tg_adam opt = {0};
    tg_lr_schedule sched;
    tg_batches *B = tg_batches_new(BATCH, &rng, false);
    tg_tape *T = tg_tape_new();
    int status = 1;
    if (!a || !X || !y || !Xt || !yt || !B || !T) {
        fprintf(stderr, STAGE ": setting up: %s\n", tg_last_message());
        goto done;
    }
    make_moons(&rng, tg_data(a), X, y);          /* the training set */
    make_moons(&rng, tg_data(a), Xt, yt);        /* the test set */
    if (tg_mlp_init(&net, 4, (const int64_t[]){2, 16, 16, 1}, TG_ACT_TANH, TG_FLOAT64,
                    &rng) ||
        tg_mlp_params(&net, &ps) ||
        tg_adam_init(&opt, &ps, o.lr, 0.9, 0.999, 1e-8, 0.0, false) ||
        tg_lr_step(&sched, 25, 0.5) || tg_batches_add(B, X) < 0 || tg_batches_add(B, y) < 0) {
        fprintf(stderr, STAGE ": setting up: %s\n", tg_last_message());
        goto done;
    }

    long start = 0;
    if (o.resume && (start = resume(o.resume, &ps, &opt, B)) < 0)
        goto done;
    if (!o.quiet && o.resume)
        ex_printf("resumed from %s at epoch %ld\n", o.resume, start);
    for (long epoch = start; epoch < o.epochs; epoch++) {
        double loss;
        int correct;
        if (!train_epoch(T, &net, &ps, &opt, &sched, epoch, B, &loss, &correct)) {
            fprintf(stderr, STAGE ": training: %s\n", tg_last_message());
            goto done;
        }
        if (!o.quiet)
            ex_printf("epoch %3ld  lr %.4g  loss %.6f  accuracy %.3f\n", epoch,
                      opt.groups.lr[0], loss, (double)correct / NPOINTS);
    }

    double loss, test_loss;
    int correct = evaluate(T, &net, X, y, &loss);
    int test_correct = evaluate(T, &net, Xt, yt, &test_loss);
    if (correct < 0 || test_correct < 0) {
        fprintf(stderr, STAGE ": evaluating: %s\n", tg_last_message());
        goto done;
    }
    ex_printf("loss=%.17g\n", loss);
    ex_printf("train accuracy %.3f (%d of %d)\n", (double)correct / NPOINTS, correct, NPOINTS);
    ex_printf("test accuracy %.3f (%d of %d)\n", (double)test_correct / NPOINTS, test_correct,
              NPOINTS);
    if (o.save) {
        long done_epochs = o.epochs > start ? o.epochs : start;
        tg_checkpoint ck = {.model = &ps, .adam = &opt, .step = done_epochs};
        if (tg_checkpoint_save(o.save, &ck)) {
            fprintf(stderr, STAGE ": cannot save %s: %s\n", o.save, tg_last_message());
            goto done;
        }
        if (!o.quiet)
            ex_printf("checkpoint: %s (epoch %ld)\n", o.save, done_epochs);
    }
    status = ex_flush_stdout();

done:
    tg_tape_free(T);
    tg_batches_free(B);
    tg_adam_free(&opt);
    tg_mlp_free(&net);
    tg_free(a);
    tg_free(X);
    tg_free(y);
    tg_free(Xt);
    tg_free(yt);
    return status;
}
