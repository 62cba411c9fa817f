/* bench_mlp.c - workload W3: epochs of the Fashion-MNIST MLP of
 * examples/fashion_mnist.c (784-256-128-10, ReLU, cross-entropy, Adam lr
 * 1e-3, batches of 64 reshuffled each epoch, float32, pixels / 255 then
 * standardised with mean 0.2860 and deviation 0.3530; the
 * pixels are kept as bytes and scaled as each batch is copied), timed
 * the same way: an epoch is the shuffled batches copied in and trained on
 * (reset, forward, loss, item, zero grad, backward, Adam step); loading the
 * data and the test evaluation are outside the timing.
 *
 * Flags (defaults): --data DIR (/usr/share/datasets/fashion-mnist)
 * --epochs 1 --seed 0 --threads-note N (only echoed; OpenBLAS takes its
 * thread count from OPENBLAS_NUM_THREADS) --replay 0|1|2 (1: the
 * full-batch step is captured once, on a tape of its own, and replayed,
 * plan.h; 2: the same fused; the short last batch stays eager). Prints a RESULT line (harness.h)
 * whose sec is the median epoch time, with acc= the test accuracy after the
 * last epoch, loss= its mean training loss, maxrss_kb= the peak resident
 * set of the process and allocs= tapegrad's allocations during training
 * steps 2..N. Exit status 3 when the data set is missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../tapegrad.h"
#include "harness.h"

#define PROG "bench_mlp"
#define PIXELS 784
#define CLASSES 10
#define BATCH 64
#define EVAL_BATCH 1000
#define MAX_EPOCHS 100

typedef struct split {
    int64_t n;
    uint8_t *x;   /* (n, 784) raw pixels; each batch is scaled as it is copied */
    int32_t *y;   /* n labels */
} split;

static void free_split(split *s)
{
    free(s->x);
    free(s->y);
    *s = (split){0};
}

/* Row src of the pixels into row r of the float batch, scaled to [0, 1] and
 * standardised as examples/fashion_mnist.c does. */
static void copy_row(float *dst, int64_t r, const uint8_t *x, int64_t src)
{
    const uint8_t *p = x + src * PIXELS;
    for (int j = 0; j < PIXELS; j++)
        dst[r * PIXELS + j] = ((float)p[j] / 255.0f - 0.2860f) / 0.3530f;
}

/* DIR/NAME.gz or DIR/NAME into path; false when neither exists. */
static bool find_file(const char *dir, const char *name, char *path, size_t cap)
{
    struct stat st;
    snprintf(path, cap, "%s/%s.gz", dir, name);
    if (stat(path, &st) == 0)
        return true;
    snprintf(path, cap, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Loads "train" or "t10k"; returns 0, 3 when the files are missing, else 1. */
static int load_split(const char *dir, const char *prefix, split *s)
{
    char ipath[4096], lpath[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    bool have = find_file(dir, name, ipath, sizeof ipath);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    have = find_file(dir, name, lpath, sizeof lpath) && have;
    if (!have) {
        fprintf(stderr, PROG ": Fashion-MNIST not found in %s "
                        "(apt-get install dataset-fashion-mnist)\n", dir);
        return 3;
    }
    tg_idx images = {0}, labels = {0};
    int rc = 1;
    if (tg_idx_load(ipath, &images) || tg_idx_load(lpath, &labels)) {
        bench_fail(PROG, "loading the data");
        goto done;
    }
    if (images.ndim != 3 || images.dims[1] * images.dims[2] != PIXELS ||
        labels.ndim != 1 || labels.dims[0] != images.dims[0]) {
        fprintf(stderr, PROG ": %s: unexpected IDX shapes\n", dir);
        goto done;
    }
    s->n = images.dims[0];
    s->x = malloc((size_t)(s->n * PIXELS));
    s->y = malloc((size_t)s->n * sizeof *s->y);
    if (!s->x || !s->y) {
        fprintf(stderr, PROG ": out of memory\n");
        free_split(s);
        goto done;
    }
    memcpy(s->x, images.data, (size_t)(s->n * PIXELS));
    for (int64_t i = 0; i < s->n; i++)
        s->y[i] = labels.data[i] < CLASSES ? labels.data[i] : 0;
    rc = 0;
done:
    tg_idx_free(&images);
    tg_idx_free(&labels);
    return rc;
}

/* Test accuracy with the tape paused, in batches of EVAL_BATCH. */
static int evaluate(tg_tape *T, tg_mlp *net, const split *s, double *acc)
{
    bool was_paused = tg_tape_pause(T, true);
    double hits = 0.0;
    int rc = 0;
    tg_tensor *buf = tg_empty(TG_FLOAT32, TG_SHAPE(EVAL_BATCH, PIXELS));
    tg_tensor *labels = tg_from_array(TG_INT32, TG_SHAPE(s->n), s->y);
    if (!buf || !labels)
        rc = 1;
    for (int64_t start = 0; start < s->n && !rc; start += EVAL_BATCH) {
        int64_t stop = start + EVAL_BATCH < s->n ? start + EVAL_BATCH : s->n;
        if ((rc = tg_tape_reset(T)))
            break;
        for (int64_t r = 0; r < stop - start; r++)
            copy_row(tg_data(buf), r, s->x, start + r);
        tg_tensor *xb = tg_ad_slice(T, buf, 0, 0, stop - start, 1); /* (b, 784) */
        tg_tensor *logits = tg_mlp_forward(T, net, xb);          /* (b, 10) */
        tg_tensor *yb = tg_ad_slice(T, labels, 0, start, stop, 1);  /* (b,) */
        double a = logits && yb ? tg_accuracy(logits, yb) : -1.0;
        if (a < 0.0)
            rc = 1;
        else
            hits += a * (double)(stop - start);
    }
    tg_tape_pause(T, was_paused);
    tg_free(labels);
    tg_free(buf);
    *acc = hits / (double)s->n;
    return rc;
}

/* What a training step works on (bench_step_fn's ctx). */
typedef struct step_ctx {
    tg_mlp *net;
    tg_params *ps;
    tg_adam *opt;
    tg_tensor *xb, *yb;
} step_ctx;

static int mlp_step(tg_tape *T, void *ctx, double *loss, tg_tensor **loss_t)
{
    step_ctx *c = ctx;
    if (tg_tape_reset(T))
        return 1;
    tg_tensor *logits = tg_mlp_forward(T, c->net, c->xb);      /* (b, 10) */
    tg_tensor *mean = tg_loss_cross_entropy(T, logits, c->yb); /* () */
    if (!mean || tg_item(mean, loss))
        return 1;
    *loss_t = mean;
    return tg_params_zero_grad(c->ps) || tg_backward(T, mean) || tg_adam_step(c->opt);
}

int main(int argc, char **argv)
{
    const char *dir = bench_arg_str(argc, argv, "data",
                                    "/usr/share/datasets/fashion-mnist");
    long epochs = bench_arg_long(argc, argv, "epochs", 1);
    long seed = bench_arg_long(argc, argv, "seed", 0);
    long threads = bench_arg_long(argc, argv, "threads-note", 1);
    long replay = bench_arg_long(argc, argv, "replay", 0);
    if (epochs < 1 || epochs > MAX_EPOCHS || seed < 0 || seed > (long)UINT32_MAX ||
        replay < 0 || replay > 2) {
        fprintf(stderr, PROG ": bad arguments (--epochs 1..%d, --seed)\n",
                MAX_EPOCHS);
        return 2;
    }

    bench_count_allocations();
    split train = {0}, test = {0};
    int rc = load_split(dir, "train", &train);
    if (!rc)
        rc = load_split(dir, "t10k", &test);
    if (rc) {
        free_split(&train);
        return rc;
    }

    tg_rng rng;
    tg_rng_seed(&rng, (uint32_t)seed);
    tg_mlp net;
    tg_params ps = {0};
    tg_adam opt;
    bool have_net = false, have_opt = false;
    tg_tape *T = NULL;
    bench_replay R = {.mode = replay};
    tg_tensor *xfull = NULL, *xtail = NULL; /* (64, 784), (n % 64, 784) */
    tg_tensor *yfull = tg_empty(TG_INT32, TG_SHAPE(BATCH)), *ytail = NULL;
    int64_t *perm = malloc((size_t)train.n * sizeof *perm);
    int64_t tail = train.n % BATCH, steps = (train.n + BATCH - 1) / BATCH;
    double epoch_sec[MAX_EPOCHS], acc = 0.0, mean_loss = 0.0;
    long allocs = 0;
    rc = 1;
    if (!yfull || !perm) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    if (tg_mlp_init(&net, 4, (const int64_t[]){PIXELS, 256, 128, CLASSES},
                    TG_ACT_RELU, TG_FLOAT32, &rng)) {
        bench_fail(PROG, "tg_mlp_init");
        goto done;
    }
    have_net = true;
    if (tg_mlp_params(&net, &ps) || !(T = R.T = tg_tape_new()) ||
        tg_adam_init(&opt, &ps, 1e-3, 0.9, 0.999, 1e-8, 0.0, false)) {
        bench_fail(PROG, "setting up");
        goto done;
    }
    have_opt = true;
    xfull = tg_empty(TG_FLOAT32, TG_SHAPE(BATCH, PIXELS));
    xtail = tail ? tg_empty(TG_FLOAT32, TG_SHAPE(tail, PIXELS)) : NULL;
    ytail = tail ? tg_empty(TG_INT32, TG_SHAPE(tail)) : NULL;
    if (!xfull || (tail && (!xtail || !ytail))) {
        bench_fail(PROG, "allocating the batches");
        goto done;
    }

    for (long e = 0; e < epochs; e++) {
        if (tg_rng_permutation(&rng, perm, train.n)) {
            bench_fail(PROG, "tg_rng_permutation");
            goto done;
        }
        double t0 = bench_now(), sum = 0.0, loss = 0.0;
        for (int64_t step = 0; step < steps; step++) {
            int64_t start = step * BATCH;
            int64_t b = train.n - start < BATCH ? train.n - start : BATCH;
            tg_tensor *xb = b == BATCH ? xfull : xtail; /* (b, 784) */
            tg_tensor *yb = b == BATCH ? yfull : ytail; /* (b,) */
            float *dst = tg_data(xb);
            int32_t *ydst = tg_data(yb);
            for (int64_t r = 0; r < b; r++) {
                copy_row(dst, r, train.x, perm[start + r]);
                ydst[r] = train.y[perm[start + r]];
            }
            long before = bench_allocations();
            step_ctx c = {&net, &ps, &opt, xb, yb};
            bool first_on_tape;
            if (bench_replay_step(&R, PROG, b == BATCH, mlp_step, &c, &loss, &first_on_tape))
                goto done;
            if ((e > 0 || step > 0) && !first_on_tape)
                allocs += bench_allocations() - before;
            sum += loss * (double)b;
        }
        epoch_sec[e] = bench_now() - t0;
        mean_loss = sum / (double)train.n;
    }
    if (evaluate(T, &net, &test, &acc)) {
        bench_fail(PROG, "evaluation");
        goto done;
    }

    char extra[200];
    snprintf(extra, sizeof extra,
             "acc=%.4f loss=%.4f maxrss_kb=%ld allocs=%ld threads=%ld blas=%d",
             acc, mean_loss, bench_peak_rss_kb(), allocs, threads,
             tg_blas_available());
    bench_result("w3", bench_replay_impl(&R), epoch_sec, (int)epochs, 1, extra);
    rc = 0;
done:
    if (have_opt)
        tg_adam_free(&opt);
    if (have_net)
        tg_mlp_free(&net);
    bench_replay_free(&R);
    tg_tape_free(T);
    tg_free(xfull);
    tg_free(xtail);
    tg_free(yfull);
    tg_free(ytail);
    free(perm);
    free_split(&train);
    free_split(&test);
    return rc;
}
