/* bench_cnn.c - workload W6a: training the Fashion-MNIST CNN of issue 12
 * (examples/fashion_cnn.c's model), written directly with the tape's ops:
 *
 *     conv(1->32, 3x3, pad 1) relu maxpool(2) conv(32->64, 3x3, pad 1) relu
 *     maxpool(2) flatten linear(3136->128) relu dropout(0.25) linear(128->10)
 *
 * cross-entropy, Adam lr 1e-3, batches of 64 reshuffled each epoch,
 * float32, pixels / 255 then standardised (mean 0.2860, deviation 0.3530)
 * as each batch is copied. The conv weights and biases are leaf tensors
 * initialised as PyTorch's Conv2d (uniform in +-1/sqrt(fan_in), what
 * kaiming-uniform with a = sqrt(5) comes to); the linear layers are
 * tg_linear.
 *
 * A step is: copy the batch in, reset, forward, loss, item, zero grad,
 * backward, Adam step. After --warmup steps the program times --samples
 * samples, each of the next --limit training images (rounded up to whole
 * batches; the shuffled epoch continues across samples and a new
 * permutation starts when it runs out), and scales each sample to one
 * epoch of 60,000 images: sec = sample time * 60000 / images trained.
 * --limit 60000 --samples 1 --warmup 0 times exactly one epoch.
 *
 * Before training it measures the SGEMM rate of this process (a float32
 * 1024x1024 tg_matmul, the fastest of 7) and prints the floor: the
 * epoch's multiply-adds in convolutions and linear layers (forward, weight
 * gradient and input gradient, except the first convolution's input
 * gradient, which is not computed), divided by that rate.
 *
 * Flags (defaults): --data DIR (/usr/share/datasets/fashion-mnist)
 * --seed 0 --warmup 3 --limit 6000 --samples 3 --threads-note N (only
 * echoed; OpenBLAS takes its thread count from OPENBLAS_NUM_THREADS)
 * --replay 0|1|2 (1: the full-batch step is captured once, on a tape of
 * its own, and replayed, plan.h; 2: the same fused; a short batch stays
 * eager; the dropout masks are drawn from the same generator either way,
 * so the losses are the eager ones).
 * Prints a RESULT line (harness.h) with cpu= the median over the samples of
 * the processor time the process used (all threads), scaled to an epoch
 * like sec, loss= the mean training loss of the timed steps, maxrss_kb= the peak resident set, allocs= tapegrad's
 * allocations during steps 2..N, gemm_gflops=, epoch_gflop= and floor_sec=.
 * Exit status 3 when the data set is missing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../tapegrad.h"
#include "harness.h"

#define PROG "bench_cnn"
#define SIDE 28
#define PIXELS (SIDE * SIDE)
#define CLASSES 10
#define BATCH 64
#define EPOCH_IMAGES 60000
#define MAX_SAMPLES 100
#define GEMM_N 1024

typedef struct cnn {
    tg_tensor *w1, *b1; /* (32, 1, 3, 3), (32,) */
    tg_tensor *w2, *b2; /* (64, 32, 3, 3), (64,) */
    tg_linear fc1;      /* 3136 -> 128 */
    tg_linear fc2;      /* 128 -> 10 */
} cnn;

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

/* The training images and labels, kept as the loader's bytes (no copy).
 * Returns 0, 3 when the files are missing, else 1. */
static int load_train(const char *dir, tg_idx *images, tg_idx *labels)
{
    char ipath[4096], lpath[4096];
    bool have = find_file(dir, "train-images-idx3-ubyte", ipath, sizeof ipath);
    have = find_file(dir, "train-labels-idx1-ubyte", lpath, sizeof lpath) && have;
    if (!have) {
        fprintf(stderr, PROG ": Fashion-MNIST not found in %s "
                        "(apt-get install dataset-fashion-mnist)\n", dir);
        return 3;
    }
    if (tg_idx_load(ipath, images) || tg_idx_load(lpath, labels))
        return bench_fail(PROG, "loading the data");
    if (images->ndim != 3 || images->dims[1] != SIDE || images->dims[2] != SIDE ||
        labels->ndim != 1 || labels->dims[0] != images->dims[0]) {
        fprintf(stderr, PROG ": %s: unexpected IDX shapes\n", dir);
        return 1;
    }
    return 0;
}

/* A conv layer's weight (out, in, 3, 3) and bias (out,), uniform in
 * +-1/sqrt(in * 9) as PyTorch's Conv2d initialises both. */
static int conv_init(tg_tensor **w, tg_tensor **b, int64_t in, int64_t out,
                     tg_rng *rng)
{
    double bound = 1.0 / sqrt((double)(in * 9));
    *w = tg_uniform(rng, TG_FLOAT32, -bound, bound, TG_SHAPE(out, in, 3, 3));
    *b = tg_uniform(rng, TG_FLOAT32, -bound, bound, TG_SHAPE(out));
    return *w && *b ? 0 : 1;
}

static int cnn_init(cnn *m, tg_params *ps, tg_rng *rng)
{
    if (conv_init(&m->w1, &m->b1, 1, 32, rng) || conv_init(&m->w2, &m->b2, 32, 64, rng))
        return 1;
    if (tg_linear_init(&m->fc1, 64 * 7 * 7, 128, TG_FLOAT32, rng))
        return 1;
    if (tg_linear_init(&m->fc2, 128, CLASSES, TG_FLOAT32, rng)) {
        tg_linear_free(&m->fc1);
        m->fc1 = (tg_linear){0};
        return 1;
    }
    return tg_params_add(ps, "conv1.weight", m->w1) ||
           tg_params_add(ps, "conv1.bias", m->b1) ||
           tg_params_add(ps, "conv2.weight", m->w2) ||
           tg_params_add(ps, "conv2.bias", m->b2) ||
           tg_linear_params(&m->fc1, "fc1", ps) || tg_linear_params(&m->fc2, "fc2", ps);
}

static void cnn_free(cnn *m)
{
    tg_free(m->w1);
    tg_free(m->b1);
    tg_free(m->w2);
    tg_free(m->b2);
    if (m->fc1.weight)
        tg_linear_free(&m->fc1);
    if (m->fc2.weight)
        tg_linear_free(&m->fc2);
}

/* x (b, 1, 28, 28) -> logits (b, 10), in training mode (dropout on). */
static tg_tensor *cnn_forward(tg_tape *T, cnn *m, tg_tensor *x, tg_rng *rng)
{
    static const int64_t two[2] = {2, 2};
    tg_conv_args pad1 = TG_CONV_ARGS;
    pad1.padding[0] = pad1.padding[1] = 1;
    int64_t b = tg_shape(x)[0];
    tg_tensor *h = tg_ad_conv2d(T, x, m->w1, m->b1, &pad1);       /* (b, 32, 28, 28) */
    h = tg_ad_max_pool2d(T, tg_ad_relu(T, h), two, NULL, NULL);   /* (b, 32, 14, 14) */
    h = tg_ad_conv2d(T, h, m->w2, m->b2, &pad1);                  /* (b, 64, 14, 14) */
    h = tg_ad_max_pool2d(T, tg_ad_relu(T, h), two, NULL, NULL);   /* (b, 64, 7, 7) */
    h = tg_ad_reshape(T, h, TG_SHAPE(b, 64 * 7 * 7));            /* (b, 3136) */
    h = tg_ad_relu(T, tg_linear_forward(T, &m->fc1, h));          /* (b, 128) */
    h = tg_ad_dropout(T, h, 0.25, true, rng);                     /* (b, 128) */
    return tg_linear_forward(T, &m->fc2, h);                      /* (b, 10) */
}

/* The multiply-adds of one training step on a batch of b, times 2: each
 * layer's forward product, its weight gradient (the same count) and its
 * input gradient (the same count again), except conv1's input gradient,
 * which the step never computes (the images do not require a gradient).
 * Convolution: 2 N O OH OW C KH KW; linear: 2 N in out. Biases, ReLU,
 * pooling, dropout, the loss and Adam are left out (a few per cent). */
static double step_flops(int64_t b)
{
    double n = (double)b;
    double conv1 = 2.0 * n * 32 * 28 * 28 * 1 * 9;
    double conv2 = 2.0 * n * 64 * 14 * 14 * 32 * 9;
    double fc1 = 2.0 * n * 3136 * 128, fc2 = 2.0 * n * 128 * 10;
    return 2 * conv1 + 3 * (conv2 + fc1 + fc2);
}

/* The float32 GEMM rate of this process in GFLOP/s: the fastest of 7
 * timed 1024x1024 tg_matmul calls after one warm-up call (W4's product;
 * the fastest, because a call lasts only tens of milliseconds and on a
 * shared machine the slower ones measure the neighbours). */
static double gemm_gflops(tg_rng *rng)
{
    tg_tensor *a = tg_rand(rng, TG_FLOAT32, TG_SHAPE(GEMM_N, GEMM_N));
    tg_tensor *b = tg_rand(rng, TG_FLOAT32, TG_SHAPE(GEMM_N, GEMM_N));
    double best = -1.0;
    tg_tensor *c = a && b ? tg_matmul(a, b) : NULL;
    for (int i = 0; c && i < 7; i++) {
        tg_free(c);
        double t0 = bench_now();
        c = tg_matmul(a, b);
        double dt = bench_now() - t0;
        if (!c)
            best = -1.0; /* and the loop ends */
        else if (best < 0.0 || dt < best)
            best = dt;
    }
    tg_free(c);
    tg_free(a);
    tg_free(b);
    return best > 0.0 ? 2.0 * GEMM_N * GEMM_N * GEMM_N / best * 1e-9 : -1.0;
}

/* Seconds of processor time used by this process (all its threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* What a training step works on (bench_step_fn's ctx). */
typedef struct step_ctx {
    cnn *m;
    tg_params *ps;
    tg_adam *opt;
    tg_tensor *xb, *yb;
    tg_rng *rng;
} step_ctx;

static int cnn_step(tg_tape *T, void *ctx, double *loss, tg_tensor **loss_t)
{
    step_ctx *c = ctx;
    if (tg_tape_reset(T))
        return 1;
    tg_tensor *logits = cnn_forward(T, c->m, c->xb, c->rng);   /* (b, 10) */
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
    long seed = bench_arg_long(argc, argv, "seed", 0);
    long warmup = bench_arg_long(argc, argv, "warmup", 3);
    long limit = bench_arg_long(argc, argv, "limit", 6000);
    long samples = bench_arg_long(argc, argv, "samples", 3);
    long threads = bench_arg_long(argc, argv, "threads-note", 1);
    long replay = bench_arg_long(argc, argv, "replay", 0);
    if (seed < 0 || seed > (long)UINT32_MAX || warmup < 0 || limit < 1 ||
        limit > 100L * EPOCH_IMAGES || samples < 1 || samples > MAX_SAMPLES ||
        replay < 0 || replay > 2) {
        fprintf(stderr, PROG ": bad arguments (--seed, --warmup >= 0, --limit "
                        "1..%d, --samples 1..%d)\n", 100 * EPOCH_IMAGES, MAX_SAMPLES);
        return 2;
    }

    bench_count_allocations();
    tg_idx images = {0}, labels = {0};
    int rc = load_train(dir, &images, &labels);
    if (rc) {
        tg_idx_free(&images);
        tg_idx_free(&labels);
        return rc;
    }
    int64_t n = images.dims[0];

    tg_rng rng;
    tg_rng_seed(&rng, (uint32_t)seed);
    cnn net = {0};
    tg_params ps = {0};
    tg_adam opt;
    bool have_opt = false;
    tg_tape *T = NULL;
    bench_replay R = {.mode = replay};
    tg_tensor *xfull = NULL, *xtail = NULL; /* (64, 1, 28, 28), (n % 64, 1, 28, 28) */
    tg_tensor *yfull = NULL, *ytail = NULL; /* (64,), (n % 64,) */
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    int64_t tail = n % BATCH, pos = n; /* pos: next image of the permutation */
    double per_sample[MAX_SAMPLES], cpu_sample[MAX_SAMPLES], sum_loss = 0.0;
    long allocs = 0, timed_images = 0, total_steps = 0;
    rc = 1;
    double gflops = gemm_gflops(&rng);
    if (gflops <= 0.0) {
        bench_fail(PROG, "timing tg_matmul");
        goto done;
    }
    if (!perm) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    if (cnn_init(&net, &ps, &rng) || !(T = R.T = tg_tape_new()) ||
        tg_adam_init(&opt, &ps, 1e-3, 0.9, 0.999, 1e-8, 0.0, false)) {
        bench_fail(PROG, "setting up the model");
        goto done;
    }
    have_opt = true;
    xfull = tg_empty(TG_FLOAT32, TG_SHAPE(BATCH, 1, SIDE, SIDE));
    yfull = tg_empty(TG_INT32, TG_SHAPE(BATCH));
    xtail = tail ? tg_empty(TG_FLOAT32, TG_SHAPE(tail, 1, SIDE, SIDE)) : NULL;
    ytail = tail ? tg_empty(TG_INT32, TG_SHAPE(tail)) : NULL;
    if (!xfull || !yfull || (tail && (!xtail || !ytail))) {
        bench_fail(PROG, "allocating the batches");
        goto done;
    }

    /* s = -1 is the warm-up (warmup steps), then samples of limit images. */
    for (long s = -1; s < samples; s++) {
        long images_done = 0, steps_done = 0;
        double t0 = bench_now(), c0 = cpu_now();
        while (s < 0 ? steps_done < warmup : images_done < limit) {
            if (pos >= n) { /* a new epoch: reshuffle */
                if (tg_rng_permutation(&rng, perm, n)) {
                    bench_fail(PROG, "tg_rng_permutation");
                    goto done;
                }
                pos = 0;
            }
            int64_t b = n - pos < BATCH ? n - pos : BATCH;
            tg_tensor *xb = b == BATCH ? xfull : xtail; /* (b, 1, 28, 28) */
            tg_tensor *yb = b == BATCH ? yfull : ytail; /* (b,) */
            float *dst = tg_data(xb);
            int32_t *ydst = tg_data(yb);
            for (int64_t r = 0; r < b; r++) {
                const uint8_t *p = images.data + perm[pos + r] * PIXELS;
                for (int j = 0; j < PIXELS; j++)
                    dst[r * PIXELS + j] = ((float)p[j] / 255.0f - 0.2860f) / 0.3530f;
                uint8_t label = labels.data[perm[pos + r]];
                ydst[r] = label < CLASSES ? label : 0;
            }
            pos += b;
            long before = bench_allocations();
            double loss = 0.0;
            step_ctx c = {&net, &ps, &opt, xb, yb, &rng};
            bool first_on_tape;
            if (bench_replay_step(&R, PROG, b == BATCH, cnn_step, &c, &loss, &first_on_tape))
                goto done;
            if (total_steps++ > 0 && !first_on_tape)
                allocs += bench_allocations() - before;
            if (s >= 0) {
                sum_loss += loss * (double)b;
                timed_images += b;
            }
            images_done += b;
            steps_done++;
        }
        if (s >= 0) {
            double scale = EPOCH_IMAGES / (double)images_done;
            per_sample[s] = (bench_now() - t0) * scale;
            cpu_sample[s] = (cpu_now() - c0) * scale;
        }
    }

    double epoch_flops = step_flops(BATCH) * EPOCH_IMAGES / BATCH;
    char extra[320];
    snprintf(extra, sizeof extra,
             "cpu=%.4g loss=%.4f maxrss_kb=%ld allocs=%ld images=%ld gemm_gflops=%.1f "
             "epoch_gflop=%.1f floor_sec=%.3f threads=%ld blas=%d",
             bench_median(cpu_sample, (int)samples), sum_loss / (double)timed_images,
             bench_peak_rss_kb(), allocs,
             timed_images, gflops, epoch_flops * 1e-9,
             epoch_flops * 1e-9 / gflops, threads, tg_blas_available());
    bench_result("w6", bench_replay_impl(&R), per_sample, (int)samples,
                 (timed_images + samples - 1) / samples, extra);
    rc = 0;
done:
    if (have_opt)
        tg_adam_free(&opt);
    cnn_free(&net);
    bench_replay_free(&R);
    tg_tape_free(T);
    tg_free(xfull);
    tg_free(xtail);
    tg_free(yfull);
    tg_free(ytail);
    free(perm);
    tg_idx_free(&images);
    tg_idx_free(&labels);
    return rc;
}
