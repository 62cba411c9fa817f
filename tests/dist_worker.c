/* dist_worker.c - the program tests/test_dist.c starts under mpirun (and
 * alone): a 10-32-3 tanh MLP trained with Adam on 512 points of three
 * classes, a global batch split evenly over the ranks (models/dist.h).
 * Rank 0 prints the global mean loss of every step and a checksum of the
 * final parameters with %.17g, so that runs with 1, 2 and 4 ranks can be
 * compared to the last bit; every rank checks that its parameters are the
 * others'.
 *
 *   dist_worker [--dtype f32|f64] [--steps N] [--batch B] [--sync]
 *               [--bucket BYTES] [--fail-rank R] [--oom-rank R]
 *
 * --sync averages after a plain backward (tg_ddp_sync) instead of during
 * it; --fail-rank R makes rank R fail as if its data were missing, and
 * --oom-rank R makes every allocation of rank R fail: either stops every
 * rank through tg_dist_abort. Exit 0, 1 on an error, 2 on bad flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

#define N 512
#define FEATURES 10
#define CLASSES 3

static void *failing_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0)
        free(ptr);
    return NULL;
}

static tg_module *build(tg_dtype dt, tg_rng *rng)
{
    return tg_nn_sequential(3, (tg_module *[]){tg_nn_linear(FEATURES, 32, dt, rng),
                                               tg_nn_tanh(), tg_nn_linear(32, CLASSES, dt, rng)});
}

/* X (N, 10) normal, y the arg-max of X W for a fixed normal W (10, 3). */
static int make_data(tg_dtype dt, tg_tensor **X, tg_tensor **y)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_tensor *x64 = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(N, FEATURES));
    tg_tensor *w = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(FEATURES, CLASSES));
    *y = tg_empty(TG_INT64, TG_SHAPE(N));
    *X = x64 ? tg_cast(x64, dt) : NULL;
    int rc = !x64 || !w || !*y || !*X;
    for (int i = 0; !rc && i < N; i++) {
        const double *xs = (const double *)tg_data(x64) + i * FEATURES, *ws = tg_data(w);
        double best = 0.0;
        int64_t arg = 0;
        for (int c = 0; c < CLASSES; c++) {
            double z = 0.0;
            for (int k = 0; k < FEATURES; k++)
                z += xs[k] * ws[k * CLASSES + c];
            if (c == 0 || z > best) {
                best = z;
                arg = c;
            }
        }
        ((int64_t *)tg_data(*y))[i] = arg;
    }
    tg_free(x64);
    tg_free(w);
    return rc;
}

static double checksum(const tg_params *ps)
{
    double s = 0.0;
    for (int i = 0; i < ps->count; i++) {
        const tg_tensor *t = ps->tensors[i];
        for (int64_t j = 0; j < tg_numel(t); j++)
            s += tg_dtype_of(t) == TG_FLOAT32 ? (double)((const float *)tg_data(t))[j]
                                              : ((const double *)tg_data(t))[j];
    }
    return s;
}

int main(int argc, char **argv)
{
    tg_dtype dt = TG_FLOAT64;
    long steps = 100, batch = 64, fail_rank = -1, oom_rank = -1;
    size_t bucket = 0;
    bool sync = false;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--sync")) {
            sync = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "dist_worker: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--dtype"))
            dt = !strcmp(v, "f32") ? TG_FLOAT32 : TG_FLOAT64;
        else if (!strcmp(argv[i], "--steps"))
            steps = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--batch"))
            batch = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--bucket"))
            bucket = (size_t)strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--fail-rank"))
            fail_rank = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--oom-rank"))
            oom_rank = strtol(v, NULL, 10);
        else {
            fprintf(stderr, "dist_worker: unknown flag %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (tg_dist_init(&argc, &argv)) {
        fprintf(stderr, "dist_worker: %s\n", tg_last_message());
        return 1;
    }
    int rank = tg_dist_rank(), world = tg_dist_world();
    if (batch % world) {
        fprintf(stderr, "dist_worker: --batch %ld is not a multiple of %d ranks\n", batch, world);
        return tg_dist_abort("dist_worker", "bad --batch", 2);
    }
    if (rank == fail_rank)
        return tg_dist_abort("dist_worker", "cannot open /nonexistent/points.npy", 1);
    if (rank == oom_rank)
        tg_set_allocator(failing_alloc, NULL);

    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tensor *X = NULL, *y = NULL;
    tg_module *net = build(dt, &rng);
    tg_params ps = {0};
    tg_adam opt = {0};
    tg_ddp *D = NULL;
    tg_tape *T = tg_tape_new();
    tg_batches *B = tg_batches_new(batch / world, &rng, false);
    int rc = 1;
    if (make_data(dt, &X, &y) || !net || !T || !B || tg_module_params(net, &ps) ||
        tg_dist_broadcast(&ps) || !(D = tg_ddp_new(&ps, bucket)) ||
        tg_adam_init(&opt, &ps, 0.01, 0.9, 0.999, 1e-8, 0.0, false) ||
        tg_batches_shard(B, rank, world, true) || tg_batches_add(B, X) < 0 ||
        tg_batches_add(B, y) < 0)
        goto fail;
    if (rank == 0)
        printf("ranks=%d buckets=%d\n", world, tg_ddp_buckets(D, NULL));
    for (long step = 0; step < steps; step++) {
        tg_tensor *xy[2];
        int more = tg_batches_next(B, xy);
        if (more == 0) /* the epoch ended: the next one */
            more = tg_batches_next(B, xy);
        if (more < 0 || tg_tape_reset(T))
            goto fail;
        tg_tensor *loss = tg_loss_cross_entropy(T, tg_module_forward(T, net, xy[0]), xy[1]);
        double l;
        if (!loss || tg_item(loss, &l) || tg_params_zero_grad(&ps))
            goto fail;
        if (sync ? tg_backward(T, loss) || tg_ddp_sync(D) : tg_ddp_backward(D, T, loss))
            goto fail;
        if (tg_adam_step(&opt) || tg_dist_allreduce_sum(&l, 1))
            goto fail;
        if (rank == 0)
            printf("step %ld loss %.17g\n", step, l / world);
    }
    double mine = checksum(&ps), all = mine;
    if (tg_dist_allreduce_sum(&all, 1))
        goto fail;
    if (all != mine * world) { /* exact when every rank has the same sum */
        fprintf(stderr, "dist_worker: rank %d: parameters differ from the others'\n", rank);
        goto fail;
    }
    if (rank == 0)
        printf("params %.17g\n", mine);
    rc = 0;
    goto done;
fail:
    rc = tg_dist_abort("dist_worker", NULL, 1);
done:
    tg_batches_free(B);
    tg_ddp_free(D);
    tg_adam_free(&opt);
    tg_tape_free(T);
    tg_module_free(net);
    tg_free(X);
    tg_free(y);
    tg_set_allocator(NULL, NULL);
    if (tg_dist_finalize() && rc == 0) {
        fprintf(stderr, "dist_worker: %s\n", tg_last_message());
        rc = 1;
    }
    return rc;
}
