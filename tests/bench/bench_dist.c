/* bench_dist.c - workload W8b: data-parallel training steps of the
 * Fashion-MNIST CNN (examples/fashion_cnn.c's model, built the same way
 * from tg_nn_ modules):
 *
 *     conv(1->32, 3x3, pad 1) relu maxpool(2) conv(32->64, 3x3, pad 1) relu
 *     maxpool(2) flatten linear(3136->128) relu dropout(0.25) linear(128->10)
 *
 * cross-entropy, Adam lr 1e-3, float32, a global batch of --batch (64)
 * split evenly over the ranks (models/dist.h), in two modes:
 *
 *     overlap  tg_ddp_backward: each gradient bucket's all-reduce starts as
 *              soon as backward has finished it, while backward goes on
 *     sync     tg_backward, then tg_ddp_sync: every bucket reduced after
 *              the backward pass, nothing overlapped
 *
 * Run it alone (a world of one, where both modes are tg_backward) or under
 * mpirun, e.g.
 *
 *     mpirun --allow-run-as-root --bind-to none -np 2 \
 *         -x OPENBLAS_NUM_THREADS=1 -x OMP_NUM_THREADS=1 build/bench/bench_dist
 *
 * A step is: reset the tape, forward, loss, tg_item, zero grad, backward
 * with the mode's averaging, Adam step. The data are --batches fixed
 * batches per rank used in turn: standard normal float32 images
 * (b, 1, 28, 28) and labels uniform in 0..9, drawn from --data-seed + rank
 * (every rank has its own share, as under tg_batches_shard). The weights
 * are drawn from --seed and broadcast from rank 0 (as the examples do);
 * every rank trains one model through both modes.
 *
 * After --warmup steps of each mode, the program runs --rounds rounds;
 * each round times one sample of --steps steps of each mode, overlap first
 * on even rounds and sync first on odd ones, so that drift and a busy
 * neighbour hit both modes alike. Every sample starts after a one-double
 * all-reduce, so that the ranks start it together. sec is the median over
 * the rounds of sample time / steps, on rank 0, which alone prints: a
 * RESULT line (harness.h) for each mode, workload w8_overlap and w8_sync,
 * with ms= (sec in milliseconds), cpu= the median processor time per step
 * (all threads), world=, batch= (per rank), global_batch=, buckets= and
 * bucket_kb= (the plan's), loss= the last step's loss on rank 0, allocs=
 * tapegrad's allocations in the mode's timed steps (after the warm-up; 0
 * when the steps allocate nothing), agree=1 when the ranks' parameters are equal at
 * the end (0: they drifted apart, a bug); then one line comparing the two.
 *
 * Flags (defaults): --seed 0 --data-seed 2026 --batch 64 --batches 4
 * --warmup 3 --steps 20 --rounds 7. Exit 0, 1 on an error (every rank is
 * stopped), 2 on bad flags.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../tapegrad.h"
#include "harness.h"

#define PROG "bench_dist"
#define SIDE 28
#define CLASSES 10
#define MAX_ROUNDS 100
#define MAX_BATCHES 64

enum { OVERLAP, SYNC, MODES };
static const char *const mode_name[MODES] = {"overlap", "sync"};

/* Seconds of processor time used by this process (all its threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* examples/fashion_cnn.c's network; dropout keeps rng for its masks. The
 * layers are made with rng NULL and drawn afterwards in the tree's order
 * (tg_module_reset_parameters), as the example does. */
static tg_module *cnn(tg_rng *rng)
{
    tg_conv_args pad1 = TG_CONV_ARGS;
    pad1.padding[0] = pad1.padding[1] = 1;
    const int64_t k3[2] = {3, 3}, k2[2] = {2, 2};
    return tg_nn_sequential_named(
        11,
        (const char *[]){"conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten",
                         "fc1", "relu3", "dropout", "fc2"},
        (tg_module *[]){
            tg_nn_conv2d(1, 32, k3, &pad1, true, TG_FLOAT32, NULL),  /* (b, 32, 28, 28) */
            tg_nn_relu(),
            tg_nn_max_pool2d(k2, NULL, NULL),                        /* (b, 32, 14, 14) */
            tg_nn_conv2d(32, 64, k3, &pad1, true, TG_FLOAT32, NULL), /* (b, 64, 14, 14) */
            tg_nn_relu(),
            tg_nn_max_pool2d(k2, NULL, NULL),                        /* (b, 64, 7, 7) */
            tg_nn_flatten(),                                         /* (b, 3136) */
            tg_nn_linear(64 * 7 * 7, 128, TG_FLOAT32, NULL),         /* (b, 128) */
            tg_nn_relu(),
            tg_nn_dropout(0.25, rng),
            tg_nn_linear(128, CLASSES, TG_FLOAT32, NULL),            /* (b, 10) */
        });
}

/* The sum of every parameter and buffer, in float64. */
static double checksum(const tg_params *ps)
{
    double s = 0.0;
    for (int i = 0; i < ps->count; i++) {
        const tg_tensor *t = ps->tensors[i];
        if (tg_dtype_of(t) != TG_FLOAT32)
            continue;
        const float *d = tg_data(t);
        for (int64_t j = 0; j < tg_numel(t); j++)
            s += (double)d[j];
    }
    return s;
}

typedef struct bench {
    tg_module *net;
    tg_params ps;
    tg_adam opt;
    tg_ddp *D;
    tg_tape *T;
} bench;

static int train_step(bench *b, int mode, tg_tensor *x, tg_tensor *y, double *loss)
{
    if (tg_tape_reset(b->T))
        return 1;
    tg_tensor *logits = tg_module_forward(b->T, b->net, x);  /* (b, 10) */
    tg_tensor *mean = tg_loss_cross_entropy(b->T, logits, y); /* () */
    if (!mean || tg_item(mean, loss) || tg_params_zero_grad(&b->ps))
        return 1;
    if (mode == OVERLAP ? tg_ddp_backward(b->D, b->T, mean)
                        : tg_backward(b->T, mean) || tg_ddp_sync(b->D))
        return 1;
    return tg_adam_step(&b->opt);
}

int main(int argc, char **argv)
{
    long seed = bench_arg_long(argc, argv, "seed", 0);
    long data_seed = bench_arg_long(argc, argv, "data-seed", 2026);
    long global = bench_arg_long(argc, argv, "batch", 64);
    long batches = bench_arg_long(argc, argv, "batches", 4);
    long warmup = bench_arg_long(argc, argv, "warmup", 3);
    long steps = bench_arg_long(argc, argv, "steps", 20);
    long rounds = bench_arg_long(argc, argv, "rounds", 7);
    if (seed < 0 || seed > (long)UINT32_MAX || data_seed < 0 ||
        data_seed > (long)UINT32_MAX - 1024 || global < 1 || global > 4096 ||
        batches < 1 || batches > MAX_BATCHES || warmup < 0 || steps < 1 || rounds < 1 ||
        rounds > MAX_ROUNDS) {
        fprintf(stderr, PROG ": bad arguments (--seed 0..2^32-1, --data-seed "
                        "0..2^32-1025, --batch 1..4096, --batches 1..%d, --warmup >= 0, "
                        "--steps >= 1, --rounds 1..%d)\n", MAX_BATCHES, MAX_ROUNDS);
        return 2;
    }
    if (tg_dist_init(&argc, &argv)) {
        fprintf(stderr, PROG ": %s\n", tg_last_message());
        return 1;
    }
    int rank = tg_dist_rank(), world = tg_dist_world();
    if (global % world) {
        fprintf(stderr, PROG ": --batch %ld is not a multiple of %d ranks\n", global, world);
        return tg_dist_abort(PROG, "bad --batch", 2);
    }
    int64_t per = global / world; /* this rank's rows per step */

    bench_count_allocations();
    tg_rng rng, data_rng;
    tg_rng_seed(&rng, (uint32_t)seed);
    tg_rng_seed(&data_rng, (uint32_t)(data_seed + rank));
    bench b = {0};
    bool have_opt = false;
    tg_tensor *x[MAX_BATCHES] = {0}, *y[MAX_BATCHES] = {0};
    double per_step[MODES][MAX_ROUNDS], cpu_step[MODES][MAX_ROUNDS];
    double loss = 0.0;
    long allocs[MODES] = {0}, total_steps = 0;
    int rc = 1;
    const char *what = "setting up the model";

    if (!(b.net = cnn(&rng)) || tg_module_reset_parameters(b.net, &rng) ||
        tg_module_params(b.net, &b.ps) || tg_dist_broadcast(&b.ps) ||
        !(b.D = tg_ddp_new(&b.ps, 0)) || !(b.T = tg_tape_new()) ||
        tg_adam_init(&b.opt, &b.ps, 1e-3, 0.9, 0.999, 1e-8, 0.0, false))
        goto fail;
    have_opt = true;
    what = "making the data";
    for (long k = 0; k < batches; k++) {
        x[k] = tg_randn(&data_rng, TG_FLOAT32, TG_SHAPE(per, 1, SIDE, SIDE));
        y[k] = tg_empty(TG_INT32, TG_SHAPE(per));
        if (!x[k] || !y[k])
            goto fail;
        int32_t *yd = tg_data(y[k]);
        for (int64_t i = 0; i < per; i++)
            yd[i] = (int32_t)(tg_rng_uint32(&data_rng) % CLASSES);
    }

    /* Round -1 is the warm-up (warmup steps of each mode), then rounds
     * of one timed sample of steps steps per mode, the order alternating. */
    what = "training step";
    for (long r = -1; r < rounds; r++) {
        for (int m = 0; m < MODES; m++) {
            int mode = (r % 2 == 0) ? m : MODES - 1 - m; /* r = -1: sync first */
            long n = r < 0 ? warmup : steps;
            double sync_point = 0.0; /* every rank leaves it together */
            if (tg_dist_allreduce_sum(&sync_point, 1)) {
                what = "the all-reduce before a sample";
                goto fail;
            }
            double t0 = bench_now(), c0 = cpu_now();
            for (long i = 0; i < n; i++) {
                long k = total_steps % batches, before = bench_allocations();
                if (train_step(&b, mode, x[k], y[k], &loss))
                    goto fail;
                if (r >= 0)
                    allocs[mode] += bench_allocations() - before;
                total_steps++;
            }
            if (r >= 0) {
                per_step[mode][r] = (bench_now() - t0) / (double)n;
                cpu_step[mode][r] = (cpu_now() - c0) / (double)n;
            }
        }
    }

    /* The ranks' parameters must be equal: every rank applied the same
     * averaged gradients. */
    what = "comparing the ranks' parameters";
    double mine = checksum(&b.ps), all = mine;
    if (tg_dist_allreduce_sum(&all, 1))
        goto fail;
    bool agree = fabs(all - mine * world) <= 1e-12 * fabs(mine) * world;
    if (!agree)
        fprintf(stderr, PROG ": rank %d: parameters differ from the others'\n", rank);

    size_t bucket_bytes = 0;
    int nbuckets = tg_ddp_buckets(b.D, &bucket_bytes);
    double med[MODES] = {0.0, 0.0};
    for (int m = 0; m < MODES && rank == 0; m++) {
        double cpu = bench_median(cpu_step[m], (int)rounds);
        med[m] = bench_median(per_step[m], (int)rounds); /* sorts; bench_result again */
        char extra[320];
        snprintf(extra, sizeof extra,
                 "ms=%.3f cpu=%.4g world=%d batch=%lld global_batch=%ld buckets=%d "
                 "bucket_kb=%.0f loss=%.4f allocs=%ld agree=%d maxrss_kb=%ld blas=%d",
                 med[m] * 1e3, cpu, world, (long long)per, global, nbuckets,
                 (double)bucket_bytes / 1024.0, loss, allocs[m], agree ? 1 : 0,
                 bench_peak_rss_kb(), tg_blas_available());
        char workload[32];
        snprintf(workload, sizeof workload, "w8_%s", mode_name[m]);
        bench_result(workload, "tapegrad", per_step[m], (int)rounds, steps, extra);
    }
    if (rank == 0) {
        printf("%d rank%s, %lld images a rank a step: overlap %.2f ms/step, sync %.2f "
               "ms/step, sync / overlap %.3f (medians of %ld rounds of %ld steps)\n",
               world, world == 1 ? "" : "s", (long long)per, med[OVERLAP] * 1e3,
               med[SYNC] * 1e3, med[SYNC] / med[OVERLAP], rounds, steps);
        fflush(stdout);
    }
    rc = agree ? 0 : 1;
    goto done;
fail:
    bench_fail(PROG, what);
    rc = tg_dist_abort(PROG, "stopping every rank (the error is above)", 1);
done:
    for (long k = 0; k < batches; k++) {
        tg_free(x[k]);
        tg_free(y[k]);
    }
    if (have_opt)
        tg_adam_free(&b.opt);
    tg_ddp_free(b.D);
    tg_tape_free(b.T);
    tg_module_free(b.net);
    tg_set_allocator(NULL, NULL);
    if (tg_dist_finalize() && rc == 0) {
        fprintf(stderr, PROG ": %s\n", tg_last_message());
        rc = 1;
    }
    return rc;
}
