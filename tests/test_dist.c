/* test_dist.c - data-parallel training (models/dist.h): tg_backward_hooked
 * (each gradient reported once, when finished, equal to tg_backward's),
 * sharded batches (a rank's batch is its part of the global batch), the
 * gradient buckets, a world of one, bad input and allocation failures;
 * then, when the build has MPI and mpirun is on PATH, tests/dist_worker
 * and fashion_mnist under `mpirun -np 2` and `-np 4 --oversubscribe`
 * against the same programs run alone: float64 to 1e-12, float32 to 1e-5,
 * a failing rank stopping every rank with its rank in the message. Without
 * MPI those are skipped with a message on stderr. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

/* ---- tg_backward_hooked ----------------------------------------------------------- */

typedef struct reports {
    int n;
    int order[8];
    int count[8];
    double grad0_seen; /* leaf 0's .grad[0] when it was reported */
    tg_tensor *const *leaves;
} reports;

static void record(void *ctx, int i)
{
    reports *r = ctx;
    r->order[r->n++] = i;
    r->count[i]++;
    if (i == 0 && tg_grad(r->leaves[0]))
        r->grad0_seen = tgt_at(tg_grad(r->leaves[0]), 0);
}

/* loss = sum(tanh(a * x) * b + a * a) with c unused: b is finished first,
 * then a (used by the first and the last record), c at the end. */
static tg_tensor *hooked_loss(tg_tape *T, tg_tensor *a, tg_tensor *b, tg_tensor *x)
{
    tg_tensor *h = tg_ad_tanh(T, tg_ad_mul(T, a, x));
    return tg_ad_sum(T, tg_ad_add(T, tg_ad_mul(T, h, b), tg_ad_mul(T, a, a)));
}

START_TEST(test_hooked_reports_each_leaf_once)
{
    tg_tensor *a = tg_full(TG_FLOAT64, TG_SHAPE(3), 0.5);
    tg_tensor *b = tg_full(TG_FLOAT64, TG_SHAPE(3), -1.5);
    tg_tensor *c = tg_full(TG_FLOAT64, TG_SHAPE(2), 2.0);
    tg_tensor *x = tg_linspace(TG_FLOAT64, -1.0, 1.0, 3);
    tg_tensor *leaves[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tg_requires_grad(leaves[i], true), 0);
    tg_tape *T = tg_tape_new();

    /* tg_backward's gradients, for reference */
    ck_assert_int_eq(tg_backward(T, hooked_loss(T, a, b, x)), 0);
    double ga[3], gb[3];
    for (int j = 0; j < 3; j++) {
        ga[j] = tgt_at(tg_grad(a), j);
        gb[j] = tgt_at(tg_grad(b), j);
    }
    ck_assert_int_eq(tg_zero_grad(a), 0);
    ck_assert_int_eq(tg_zero_grad(b), 0);

    ck_assert_int_eq(tg_tape_reset(T), 0);
    reports r = {.leaves = leaves};
    ck_assert_int_eq(tg_backward_hooked(T, hooked_loss(T, a, b, x), 3, leaves, record, &r), 0);
    ck_assert_int_eq(r.n, 3);
    ck_assert_int_eq(r.order[0], 1); /* b */
    ck_assert_int_eq(r.order[1], 0); /* a, after its first use was walked */
    ck_assert_int_eq(r.order[2], 2); /* c, not reached: at the end */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(r.count[i], 1);
    ck_assert(r.grad0_seen == ga[0]); /* finished when reported */
    for (int j = 0; j < 3; j++) {
        ck_assert(tgt_at(tg_grad(a), j) == ga[j]);
        ck_assert(tgt_at(tg_grad(b), j) == gb[j]);
    }
    ck_assert_ptr_null(tg_grad(c)); /* untouched */

    /* a leaf root: its own gradient, reported at the end */
    ck_assert_int_eq(tg_tape_reset(T), 0);
    tg_tensor *s = tg_full(TG_FLOAT64, TG_SHAPE(1), 3.0);
    ck_assert_int_eq(tg_requires_grad(s, true), 0);
    reports r2 = {.leaves = (tg_tensor *const[]){s}};
    ck_assert_int_eq(tg_backward_hooked(T, s, 1, (tg_tensor *const[]){s}, record, &r2), 0);
    ck_assert_int_eq(r2.n, 1);
    ck_assert(tgt_at(tg_grad(s), 0) == 1.0);

    /* bad input: nothing reported, nothing added */
    ck_assert_int_eq(tg_tape_reset(T), 0);
    tg_tensor *l = hooked_loss(T, a, b, x);
    reports r3 = {.leaves = leaves};
    ck_assert_int_eq(tg_backward_hooked(T, l, 2, (tg_tensor *const[]){a, a}, record, &r3),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "leaves 0 and 1 are the same tensor");
    ck_assert_int_eq(tg_backward_hooked(T, l, 1, (tg_tensor *const[]){l}, record, &r3),
                     TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_backward_hooked: leaf 0 is not a tensor");
    ck_assert_int_eq(tg_backward_hooked(T, l, 1, NULL, record, &r3), TG_ERR_NULL);
    ck_assert_int_eq(tg_backward_hooked(T, l, 1, leaves, NULL, &r3), TG_ERR_NULL);
    ck_assert_int_eq(tg_backward_hooked(T, l, -1, leaves, record, &r3), TG_ERR_VALUE);
    ck_assert_int_eq(tg_backward_hooked(NULL, l, 1, leaves, record, &r3), TG_ERR_NULL);
    ck_assert_int_eq(r3.n, 0);
    ck_assert(tgt_at(tg_grad(a), 0) == ga[0]);

    tg_tape_free(T);
    for (int i = 0; i < 3; i++)
        tg_free(leaves[i]);
    tg_free(s);
    tg_free(x);
}
END_TEST

START_TEST(test_hooked_allocation_failures)
{
    tg_tensor *a = tg_full(TG_FLOAT64, TG_SHAPE(3), 0.5);
    tg_tensor *b = tg_full(TG_FLOAT64, TG_SHAPE(3), -1.5);
    tg_tensor *x = tg_linspace(TG_FLOAT64, -1.0, 1.0, 3);
    tg_tensor *leaves[2] = {a, b};
    tg_requires_grad(a, true);
    tg_requires_grad(b, true);
    bool passed = false;
    for (long k = 1; k < 200 && !passed; k++) {
        tg_tape *T = tg_tape_new();
        tg_tensor *l = hooked_loss(T, a, b, x);
        ck_assert_ptr_nonnull(l);
        tgt_stats.fail_at = tgt_stats.calls + k;
        reports r = {.leaves = leaves};
        int rc = tg_backward_hooked(T, l, 2, leaves, record, &r);
        tgt_stats.fail_at = 0;
        if (rc == TG_OK) {
            passed = true;
            ck_assert_int_eq(r.n, 2);
        } else {
            ck_assert_int_eq(rc, TG_ERR_NOMEM);
        }
        tg_tape_free(T);
        tg_zero_grad(a);
        tg_zero_grad(b);
    }
    ck_assert(passed);
    tg_free(a);
    tg_free(b);
    tg_free(x);
}
END_TEST

/* ---- sharded batches ----------------------------------------------------------------- */

/* An iterator over rows 0..n-1 (a (n,) int64 source of row numbers). */
static tg_batches *rows_iterator(tg_tensor *rows, int64_t b, tg_rng *rng, int rank, int world,
                                 bool pad)
{
    tg_batches *B = tg_batches_new(b, rng, false);
    ck_assert_int_eq(tg_batches_shard(B, rank, world, pad), 0);
    ck_assert_int_eq(tg_batches_add(B, rows), 0);
    return B;
}

START_TEST(test_shard_is_part_of_global_batch)
{
    enum { N = 10, WORLD = 3, B = 2 };
    tg_tensor *rows = tg_arange(TG_INT64, 0.0, (double)N, 1.0);
    /* the global order of two epochs, from an unsharded iterator */
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_batches *G = rows_iterator(rows, WORLD * B, &rng, 0, 1, false);
    int64_t global[2][N + 2];
    for (int e = 0; e < 2; e++) {
        tg_tensor *xy[1];
        int64_t k = 0;
        while (tg_batches_next(G, xy) > 0)
            for (int64_t j = 0; j < tg_size(xy[0], 0); j++)
                global[e][k++] = (int64_t)tgt_at(xy[0], j);
        ck_assert_int_eq(k, N);
        global[e][N] = global[e][0]; /* padded as DistributedSampler does */
        global[e][N + 1] = global[e][1];
    }
    tg_batches_free(G);
    for (int rank = 0; rank < WORLD; rank++) {
        tg_rng_seed(&rng, 5);
        tg_batches *S = rows_iterator(rows, B, &rng, rank, WORLD, true);
        ck_assert_int_eq(tg_batches_rows(S), 4);  /* ceil(10 / 3) */
        ck_assert_int_eq(tg_batches_count(S), 2); /* as many steps on every rank */
        for (int e = 0; e < 2; e++) {
            tg_tensor *xy[1];
            int64_t k = 0;
            while (tg_batches_next(S, xy) > 0) {
                int64_t n;
                const int64_t *idx = tg_batches_indices(S, &n);
                for (int64_t j = 0; j < n; j++, k++) {
                    /* its j-th row of batch k/B is the global batch's row rank + WORLD j */
                    int64_t want = global[e][(k / B) * WORLD * B + rank + WORLD * (k % B)];
                    ck_assert_int_eq((int64_t)tgt_at(xy[0], j), want);
                    ck_assert_int_eq(idx[j], want);
                }
            }
            ck_assert_int_eq(k, 4);
        }
        tg_batches_free(S);
        /* without pad: each row once over the ranks */
        tg_batches *U = rows_iterator(rows, B, NULL, rank, WORLD, false);
        ck_assert_int_eq(tg_batches_rows(U), rank == 0 ? 4 : 3);
        tg_tensor *xy[1];
        int64_t k = 0;
        while (tg_batches_next(U, xy) > 0)
            for (int64_t j = 0; j < tg_size(xy[0], 0); j++, k++)
                ck_assert_int_eq((int64_t)tgt_at(xy[0], j), rank + WORLD * k);
        tg_batches_free(U);
    }
    tg_free(rows);
}
END_TEST

START_TEST(test_shard_bad_input)
{
    tg_tensor *rows = tg_arange(TG_INT64, 0.0, 4.0, 1.0);
    tg_batches *B = tg_batches_new(2, NULL, false);
    ck_assert_int_eq(tg_batches_shard(B, 2, 2, true), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_batches_shard: rank 2 of world 2");
    ck_assert_int_eq(tg_batches_shard(B, -1, 2, true), TG_ERR_VALUE);
    ck_assert_int_eq(tg_batches_shard(B, 0, 0, true), TG_ERR_VALUE);
    ck_assert_int_eq(tg_batches_shard(NULL, 0, 1, true), TG_ERR_NULL);
    ck_assert_int_eq(tg_batches_add(B, rows), 0);
    ck_assert_int_eq(tg_batches_shard(B, 0, 2, true), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "before the first tg_batches_add");
    tg_batches_free(B);
    /* a rank with no rows (world larger than the data) */
    B = tg_batches_new(2, NULL, false);
    ck_assert_int_eq(tg_batches_shard(B, 5, 6, false), 0);
    ck_assert_int_eq(tg_batches_add(B, rows), 0);
    ck_assert_int_eq(tg_batches_rows(B), 0);
    tg_tensor *xy[1];
    ck_assert_int_eq(tg_batches_next(B, xy), 0);
    tg_batches_free(B);
    /* allocation failures while adding the sharded source */
    bool passed = false;
    for (long k = 1; k < 50 && !passed; k++) {
        B = tg_batches_new(2, NULL, false);
        ck_assert_int_eq(tg_batches_shard(B, 1, 2, true), 0);
        tgt_stats.fail_at = tgt_stats.calls + k;
        int rc = tg_batches_add(B, rows);
        tgt_stats.fail_at = 0;
        passed = rc == 0;
        if (!passed)
            ck_assert_int_eq(rc, -TG_ERR_NOMEM);
        tg_batches_free(B);
    }
    ck_assert(passed);
    tg_free(rows);
}
END_TEST

/* ---- the gradient buckets, and a world of one ------------------------------------------- */

START_TEST(test_ddp_plan_and_world_of_one)
{
    ck_assert_int_eq(tg_dist_init(NULL, NULL), 0); /* not under mpirun: one process */
    ck_assert_int_eq(tg_dist_rank(), 0);
    ck_assert_int_eq(tg_dist_world(), 1);
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_module *net = tg_nn_sequential(
        3, (tg_module *[]){tg_nn_linear(4, 8, TG_FLOAT64, &rng), tg_nn_tanh(),
                           tg_nn_linear(8, 2, TG_FLOAT64, &rng)});
    tg_params ps = {0};
    ck_assert_int_eq(tg_module_params(net, &ps), 0);
    ck_assert_int_eq(ps.count, 4); /* 32 + 8 + 16 + 2 elements */
    tg_ddp *D = tg_ddp_new(&ps, 0);
    size_t bytes;
    ck_assert_int_eq(tg_ddp_buckets(D, &bytes), 1);
    ck_assert_uint_eq(bytes, 58 * sizeof(double));
    tg_ddp_free(D);
    /* 128-byte buckets: 2.bias + 2.weight (18 doubles > 16) do not fit one */
    D = tg_ddp_new(&ps, 128);
    ck_assert_int_eq(tg_ddp_buckets(D, &bytes), 4);
    ck_assert_uint_eq(bytes, 58 * sizeof(double));
    ck_assert_int_eq(tg_ddp_buckets(NULL, NULL), -TG_ERR_NULL);

    /* one process: tg_ddp_backward is tg_backward, broadcast and sums change nothing */
    double before = tgt_at(ps.tensors[0], 0), v[2] = {1.5, -2.0};
    ck_assert_int_eq(tg_dist_broadcast(&ps), 0);
    ck_assert(tgt_at(ps.tensors[0], 0) == before);
    ck_assert_int_eq(tg_dist_allreduce_sum(v, 2), 0);
    ck_assert(v[0] == 1.5 && v[1] == -2.0);
    tg_tensor *x = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(5, 4));
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_module_forward(T, net, x))), 0);
    double g = tgt_at(tg_grad(ps.tensors[0]), 3);
    ck_assert_int_eq(tg_params_zero_grad(&ps), 0);
    ck_assert_int_eq(tg_tape_reset(T), 0);
    ck_assert_int_eq(tg_ddp_backward(D, T, tg_ad_sum(T, tg_module_forward(T, net, x))), 0);
    ck_assert(tgt_at(tg_grad(ps.tensors[0]), 3) == g);
    ck_assert_int_eq(tg_ddp_sync(D), 0);
    ck_assert(tgt_at(tg_grad(ps.tensors[0]), 3) == g);

    /* bad input */
    ck_assert_ptr_null(tg_ddp_new(NULL, 0));
    ck_assert_int_eq(tg_last_error(), TG_ERR_NULL);
    ck_assert_int_eq(tg_ddp_backward(NULL, T, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_ddp_backward: plan is NULL");
    ck_assert_int_eq(tg_ddp_sync(NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_dist_allreduce_sum(NULL, 1), TG_ERR_NULL);
    ck_assert_int_eq(tg_dist_allreduce_sum(v, -1), TG_ERR_VALUE);
    ck_assert_int_eq(tg_dist_broadcast(NULL), TG_ERR_NULL);
    /* with one rank, tg_dist_abort says so on stderr and returns the code */
    ck_assert_int_eq(tg_dist_abort("test_dist", "a message for stderr", 3), 3);
    ck_assert_int_eq(tg_dist_abort(NULL, NULL, 0), 0);
    tg_params fewer = ps;
    fewer.count = 3;
    tg_ddp *E = tg_ddp_new(&fewer, 0);
    fewer.count = 4; /* the list changed under the plan */
    ck_assert_int_eq(tg_ddp_sync(E), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "the parameter list changed since tg_ddp_new");
    tg_ddp_free(E);
    tg_ddp_free(NULL);

    /* allocation failures in the plan */
    bool passed = false;
    for (long k = 1; k < 50 && !passed; k++) {
        tgt_stats.fail_at = tgt_stats.calls + k;
        tg_ddp *P = tg_ddp_new(&ps, 128);
        tgt_stats.fail_at = 0;
        passed = P != NULL;
        if (!passed)
            ck_assert_int_eq(tg_last_error(), TG_ERR_NOMEM);
        tg_ddp_free(P);
    }
    ck_assert(passed);
    ck_assert_int_eq(tg_dist_finalize(), 0);
    tg_tape_free(T);
    tg_ddp_free(D);
    tg_module_free(net);
    tg_free(x);
}
END_TEST

/* ---- under mpirun ------------------------------------------------------------------------- */

static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `timeout 300 sh -c 'CMD'` (no ' in CMD; Open MPI's run-as-root
 * switches set, since CI runs as root) into helpers.h's tgt_run: the
 * shell's exit status (124 when timeout stopped it), stdout and stderr. */
static tgt_run *run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static tgt_run *run_cmd(const char *fmt, ...)
{
    tgt_run *p = tgt_new_run();
    char cmd[2048], dir[] = "/tmp/tg_dist_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* Under AddressSanitizer the ranks' leak report would list Open MPI's
     * own allocations, unsymbolised; leaks of tapegrad's code are checked
     * in this process (the tests above) and in the run without mpirun. */
    bool mpi = strncmp(fmt, "mpirun", 6) == 0;
    int n = snprintf(cmd, sizeof cmd,
                     "cd %s && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                     "OPENBLAS_NUM_THREADS=1 %s timeout 300 sh -c '",
                     dir, mpi ? "ASAN_OPTIONS=detect_leaks=0" : "");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    snprintf(cmd + n, sizeof cmd - (size_t)n, "' >%s/out 2>%s/err", dir, dir);
    int st = system(cmd);
    p->status = st == -1 ? -1 : WEXITSTATUS(st);
    char path[64];
    snprintf(path, sizeof path, "%s/out", dir);
    slurp(path, p->out, sizeof p->out);
    snprintf(path, sizeof path, "%s/err", dir);
    slurp(path, p->err, sizeof p->err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    return p;
}

static char worker[1024];

/* The numbers dist_worker prints: the loss of every step and the checksum. */
static int numbers(const char *out, double *v, int cap)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, " loss ")) && n < cap; p++)
        v[n++] = strtod(p + 6, NULL);
    const char *q = strstr(out, "params ");
    if (q && n < cap)
        v[n++] = strtod(q + 7, NULL);
    return n;
}

static void assert_close_runs(const tgt_run *a, const tgt_run *b, double rtol, const char *what)
{
    double va[128], vb[128];
    int na = numbers(a->out, va, 128), nb = numbers(b->out, vb, 128);
    ck_assert_msg(na == 101 && nb == 101, "%s: %d and %d numbers\n%s\n%s", what, na, nb,
                  a->err, b->err);
    for (int i = 0; i < na; i++)
        ck_assert_msg(fabs(va[i] - vb[i]) <= rtol * fabs(va[i]), "%s: number %d: %.17g vs %.17g",
                      what, i, va[i], vb[i]);
}

START_TEST(test_mpirun_equals_one_process)
{
    const char *dt[2] = {"f64", "f32"};
    for (int d = 0; d < 2; d++) {
        double rtol = d == 0 ? 1e-12 : 1e-5;
        tgt_run *one = run_cmd("%s --dtype %s", worker, dt[d]);
        ck_assert_msg(one->status == 0, "alone: %s", one->err);
        ck_assert(strstr(one->out, "ranks=1 ") != NULL);
        tgt_run *two = run_cmd("mpirun -np 2 --bind-to none %s --dtype %s", worker, dt[d]);
        ck_assert_msg(two->status == 0, "-np 2: %s", two->err);
        ck_assert(strstr(two->out, "ranks=2 ") != NULL);
        assert_close_runs(one, two, rtol, "2 ranks");
        /* several buckets, averaged after the backward: the same sums */
        tgt_run *sync = run_cmd("mpirun -np 2 --bind-to none %s --sync --bucket 512 --dtype %s",
                             worker, dt[d]);
        ck_assert_msg(sync->status == 0, "--sync: %s", sync->err);
        const char *nb = strstr(sync->out, "ranks=2 buckets=");
        ck_assert(nb && atoi(nb + strlen("ranks=2 buckets=")) >= 3);
        ck_assert_str_eq(strchr(sync->out, '\n'), strchr(two->out, '\n'));
        tgt_run *four = run_cmd("mpirun -np 4 --oversubscribe --bind-to none %s --bucket 512 "
                             "--dtype %s", worker, dt[d]);
        ck_assert_msg(four->status == 0, "-np 4: %s", four->err);
        ck_assert(strstr(four->out, "ranks=4 ") != NULL);
        assert_close_runs(one, four, rtol, "4 ranks");
        free(one);
        free(two);
        free(sync);
        free(four);
    }
}
END_TEST

START_TEST(test_mpirun_failing_rank_stops_all)
{
    tgt_run *p = run_cmd("mpirun -np 2 --bind-to none %s --fail-rank %s", worker, "1");
    ck_assert_msg(p->status != 0 && p->status != 124, "exit %d (124: it hung)", p->status);
    ck_assert_msg(strstr(p->err, "dist_worker: rank 1 of 2: cannot open") != NULL, "%s",
                  p->err);
    free(p);
    p = run_cmd("mpirun -np 2 --bind-to none %s --oom-rank %s", worker, "0");
    ck_assert_msg(p->status != 0 && p->status != 124, "exit %d (124: it hung)", p->status);
    ck_assert_msg(strstr(p->err, "dist_worker: rank 0 of 2:") != NULL &&
                      strstr(p->err, "out of memory") != NULL,
                  "%s", p->err);
    free(p);
}
END_TEST

START_TEST(test_mpirun_fashion_mnist)
{
    if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) != 0) {
        fprintf(stderr, "test_dist: fashion_mnist under mpirun skipped: "
                        "dataset-fashion-mnist is not installed\n");
        return;
    }
    const char *build = getenv("TG_BUILD");
    ck_assert_ptr_nonnull(build);
    char ex[1024];
    char *cwd = getcwd(NULL, 0);
    snprintf(ex, sizeof ex, "%s/%s/examples/fashion_mnist", cwd, build);
    free(cwd);
    const char *flags = "--epochs 1 --limit 640 --test-limit 300 --save w --plot f.svg "
                        "&& ls w f.svg";
    tgt_run *one = run_cmd("%s %s", ex, flags);
    tgt_run *two = run_cmd("mpirun -np 2 --bind-to none %s %s", ex, flags);
    ck_assert_msg(one->status == 0 && two->status == 0, "%s\n%s", one->err, two->err);
    ck_assert(strstr(one->out, "ranks=") == NULL);
    ck_assert_msg(strstr(two->out, "seed 0, BLAS, ranks=2\n") ||
                      strstr(two->out, "seed 0, portable matmul, ranks=2\n"),
                  "%s", two->out);
    /* one epoch line (rank 0 alone prints), the same numbers as one process */
    const char *e1 = strstr(one->out, "epoch 1/1 "), *e2 = strstr(two->out, "epoch 1/1 ");
    ck_assert(e1 && e2 && !strstr(e2 + 1, "epoch 1/1 "));
    ck_assert_int_eq(strncmp(e1, e2, strlen("epoch 1/1 loss=0.0000 test_acc=0.0000")), 0);
    ck_assert(strstr(two->out, "saved the parameters to w/") != NULL);
    ck_assert(strstr(two->out, "fc1.weight") != NULL); /* ls w: the files are there */
    /* a rank that cannot read the data stops every rank */
    tgt_run *bad = run_cmd("mpirun -np 2 --bind-to none %s --data %s", ex, "/nonexistent");
    ck_assert_msg(bad->status != 0 && bad->status != 124, "exit %d", bad->status);
    ck_assert(strstr(bad->err, "fashion_mnist: rank ") != NULL);
    ck_assert(strstr(bad->err, "stopping every rank") != NULL);
    free(one);
    free(two);
    free(bad);
}
END_TEST

START_TEST(test_without_mpi_refuses_mpirun)
{
    /* A build without MPI started as one of 2 processes says so and stops. */
    tgt_run *p = run_cmd("OMPI_COMM_WORLD_SIZE=2 %s%s", worker, "");
    ck_assert_int_eq(p->status, 1);
    ck_assert_msg(strstr(p->err, "built without MPI") != NULL, "%s", p->err);
    free(p);
}
END_TEST

Suite *test_dist_suite(void);
Suite *test_dist_suite(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = tgt_tcase("hooked");
    tcase_add_test(tc, test_hooked_reports_each_leaf_once);
    tcase_add_test(tc, test_hooked_allocation_failures);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("shard");
    tcase_add_test(tc, test_shard_is_part_of_global_batch);
    tcase_add_test(tc, test_shard_bad_input);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("ddp");
    tcase_add_test(tc, test_ddp_plan_and_world_of_one);
    suite_add_tcase(s, tc);

    const char *build = getenv("TG_BUILD");
    char *cwd = getcwd(NULL, 0);
    snprintf(worker, sizeof worker, "%s/%s/tests/dist_worker", cwd ? cwd : ".",
             build ? build : "../build");
    free(cwd);
    tc = tcase_create("mpirun");
    tcase_set_timeout(tc, 900);
    if (!tg_dist_available()) {
        fprintf(stderr, "test_dist: SKIPPED the mpirun tests: tapegrad was built without MPI "
                        "(apt-get install openmpi-bin libopenmpi-dev, then rebuild)\n");
        tcase_add_test(tc, test_without_mpi_refuses_mpirun);
    } else if (system("command -v mpirun >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_dist: SKIPPED the mpirun tests: mpirun is not on PATH "
                        "(apt-get install openmpi-bin)\n");
    } else {
        tcase_add_test(tc, test_mpirun_equals_one_process);
        tcase_add_test(tc, test_mpirun_failing_rank_stops_all);
        tcase_add_test(tc, test_mpirun_fashion_mnist);
    }
    suite_add_tcase(s, tc);
    return s;
}
