/* bench_gpt.c - workload W7: training steps of the small GPT of
 * models/gpt.h with its defaults (TG_GPT_CONFIG: vocab 27, context 16,
 * 4 layers of 4 heads, width 64, no dropout, float32), on batches of 32
 * sequences of 16 tokens.
 *
 * A step is: copy the batch's tokens in, reset the tape, forward, loss
 * (tg_gpt_loss), tg_item, zero grad, backward, tg_clip_grad_norm to 1.0,
 * AdamW step (lr 5e-4, betas 0.9 and 0.99, eps 1e-8, weight decay 0.01,
 * TG_GPT_NO_DECAY's parameters in a group without decay).
 *
 * The data are --batches fixed batches used in turn: every token is
 * floor(27 * u) for u the next random_sample() of a generator seeded with
 * --data-seed (NumPy's legacy stream, tg_rng), drawn as (batches, 32, 17)
 * sequences; x is the first 16 tokens, y the last 16. The weights are
 * GPT-2's initialisation from --seed (tg_gpt_new). peers.py gpt-torch
 * builds the same weights and batches from the same streams, so the first
 * step's loss agrees on both sides to float32 rounding.
 *
 * After --warmup steps the program times --samples samples of --iters
 * steps each; sec is the median over the samples of sample time / iters.
 * Flags (defaults): --seed 1337 --data-seed 2026 --batches 8 --warmup 5
 * --iters 20 --samples 5. Prints a RESULT line (harness.h) with
 * tokens_per_sec= (32 * 16 / sec), cpu= the median processor time per step
 * (all threads), loss0= the first step's loss, loss= the last step's,
 * maxrss_kb= the peak resident set, and allocs= tapegrad's allocations
 * during steps 2..N (each step's allocations are counted from copying the
 * batch to the optimiser's step).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../tapegrad.h"
#include "harness.h"

#define PROG "bench_gpt"
#define BATCH 32
#define MAX_SAMPLES 100
#define MAX_BATCHES 1000

/* Seconds of processor time used by this process (all its threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* nb batches of BATCH sequences of len + 1 tokens, each floor(vocab * u)
 * in C order: np.floor(RandomState(seed).random_sample((nb, 32, len + 1))
 * * vocab). Returns a malloc'd array or NULL. */
static int64_t *make_tokens(uint32_t seed, long nb, int64_t len, int64_t vocab)
{
    size_t n = (size_t)nb * BATCH * (size_t)(len + 1);
    int64_t *tok = malloc(n * sizeof *tok);
    if (!tok)
        return NULL;
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        tok[i] = (int64_t)floor(tg_rng_random(&rng) * (double)vocab);
    return tok;
}

/* Copies batch k of tok into x and y, (32, len) int64 each: x the first
 * len tokens of each sequence, y the last len. */
static void copy_batch(const int64_t *tok, long k, int64_t len, tg_tensor *x,
                       tg_tensor *y)
{
    int64_t *xd = tg_data(x), *yd = tg_data(y);
    const int64_t *seq = tok + (size_t)k * BATCH * (size_t)(len + 1);
    for (int64_t r = 0; r < BATCH; r++) {
        memcpy(xd + r * len, seq + r * (len + 1), (size_t)len * sizeof *xd);
        memcpy(yd + r * len, seq + r * (len + 1) + 1, (size_t)len * sizeof *yd);
    }
}

static int train_step(tg_tape *T, tg_module *gpt, tg_params *ps, tg_adam *opt,
                      tg_tensor *x, tg_tensor *y, double *loss)
{
    if (tg_tape_reset(T))
        return 1;
    tg_tensor *logits = tg_module_forward(T, gpt, x); /* (32, 16, 27) */
    tg_tensor *mean = tg_gpt_loss(T, logits, y);      /* () */
    if (!mean || tg_item(mean, loss))
        return 1;
    return tg_params_zero_grad(ps) || tg_backward(T, mean) ||
           tg_clip_grad_norm(ps, 1.0, 2.0, NULL) || tg_adam_step(opt);
}

int main(int argc, char **argv)
{
    long seed = bench_arg_long(argc, argv, "seed", 1337);
    long data_seed = bench_arg_long(argc, argv, "data-seed", 2026);
    long batches = bench_arg_long(argc, argv, "batches", 8);
    long warmup = bench_arg_long(argc, argv, "warmup", 5);
    long iters = bench_arg_long(argc, argv, "iters", 20);
    long samples = bench_arg_long(argc, argv, "samples", 5);
    if (seed < 0 || seed > (long)UINT32_MAX || data_seed < 0 ||
        data_seed > (long)UINT32_MAX || batches < 1 || batches > MAX_BATCHES ||
        warmup < 0 || iters < 1 || samples < 1 || samples > MAX_SAMPLES) {
        fprintf(stderr, PROG ": bad arguments (--seed, --data-seed 0..2^32-1, "
                        "--batches 1..%d, --warmup >= 0, --iters >= 1, --samples 1..%d)\n",
                MAX_BATCHES, MAX_SAMPLES);
        return 2;
    }

    bench_count_allocations();
    const tg_gpt_config cfg = TG_GPT_CONFIG;
    const int64_t len = cfg.context; /* 16 tokens a sequence */
    int64_t *tok = make_tokens((uint32_t)data_seed, batches, len, cfg.vocab_size);
    tg_rng rng;
    tg_rng_seed(&rng, (uint32_t)seed);
    tg_module *gpt = NULL;
    tg_params ps = {0};
    tg_adam opt;
    bool have_opt = false;
    tg_tape *T = NULL;
    tg_tensor *x = NULL, *y = NULL; /* (32, 16) int64 each */
    double per_step[MAX_SAMPLES], cpu_step[MAX_SAMPLES];
    double loss = 0.0, loss0 = 0.0;
    long allocs = 0, total_steps = 0;
    int rc = 1;
    if (!tok) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    if (!(gpt = tg_gpt_new(&cfg, &rng)) || tg_module_params(gpt, &ps) ||
        !(T = tg_tape_new()) ||
        tg_adam_init(&opt, &ps, 5e-4, 0.9, 0.99, 1e-8, 0.01, true)) {
        bench_fail(PROG, "setting up the model");
        goto done;
    }
    have_opt = true;
    if (tg_param_groups_add(&opt.groups, TG_GPT_NO_DECAY, 5e-4, 0.0)) {
        bench_fail(PROG, "tg_param_groups_add");
        goto done;
    }
    x = tg_empty(TG_INT64, TG_SHAPE(BATCH, len));
    y = tg_empty(TG_INT64, TG_SHAPE(BATCH, len));
    if (!x || !y) {
        bench_fail(PROG, "allocating the batches");
        goto done;
    }

    /* s = -1 is the warm-up (warmup steps), then samples of iters steps. */
    for (long s = -1; s < samples; s++) {
        long n = s < 0 ? warmup : iters;
        double t0 = bench_now(), c0 = cpu_now();
        for (long i = 0; i < n; i++) {
            long before = bench_allocations();
            copy_batch(tok, total_steps % batches, len, x, y);
            if (train_step(T, gpt, &ps, &opt, x, y, &loss)) {
                bench_fail(PROG, "training step");
                goto done;
            }
            if (total_steps == 0)
                loss0 = loss;
            if (total_steps++ > 0)
                allocs += bench_allocations() - before;
        }
        if (s >= 0) {
            per_step[s] = (bench_now() - t0) / (double)iters;
            cpu_step[s] = (cpu_now() - c0) / (double)iters;
        }
    }

    double cpu = bench_median(cpu_step, (int)samples);
    double sec = bench_median(per_step, (int)samples); /* per_step is sorted now */
    char extra[320];
    snprintf(extra, sizeof extra,
             "tokens_per_sec=%.0f cpu=%.4g loss0=%.7f loss=%.7f maxrss_kb=%ld allocs=%ld "
             "steps=%ld batch=%d seq=%lld blas=%d",
             (double)(BATCH * len) / sec, cpu, loss0, loss, bench_peak_rss_kb(), allocs,
             total_steps, BATCH, (long long)len, tg_blas_available());
    bench_result("w7", "tapegrad", per_step, (int)samples, iters, extra);
    rc = 0;
done:
    if (have_opt)
        tg_adam_free(&opt);
    tg_module_free(gpt);
    tg_tape_free(T);
    tg_free(x);
    tg_free(y);
    free(tok);
    return rc;
}
