/* dist.h - data-parallel training over MPI (Open MPI): every rank holds a
 * copy of the model, trains on its own share of each batch and averages
 * the gradients with the other ranks before the optimiser's step, as
 * PyTorch's DistributedDataParallel and Horovod do.
 *
 *     tg_dist_init(&argc, &argv);               // mpirun's environment, or one process
 *     ... build the network from the same seed on every rank ...
 *     tg_dist_broadcast(&ps);                   // rank 0's parameters and buffers everywhere
 *     tg_ddp *D = tg_ddp_new(&ps, 0);           // gradient buckets, made once
 *     tg_batches_shard(B, tg_dist_rank(), tg_dist_world(), true);
 *     while (tg_batches_next(B, xy) > 0) {      // this rank's part of each batch
 *         tg_tape_reset(T);
 *         tg_tensor *loss = tg_loss_cross_entropy(T, tg_module_forward(T, net, xy[0]), xy[1]);
 *         tg_params_zero_grad(&ps);
 *         tg_ddp_backward(D, T, loss);          // backward + averaged gradients
 *         tg_adam_step(&opt);                   // the same step on every rank
 *     }
 *     tg_ddp_free(D);
 *     tg_dist_finalize();
 *
 * The library has MPI when the build found it (pkg-config's ompi-c, as
 * OpenBLAS is found); tg_dist_available() says so. Without MPI, or when the
 * program was not started by mpirun, everything here works for a world of
 * one process: rank 0, world 1, broadcasts and reductions change nothing,
 * and MPI is never initialised (so such runs stay clean under valgrind).
 * A program started by mpirun (OMPI_COMM_WORLD_SIZE in the environment)
 * from a build without MPI is refused by tg_dist_init: its copies would
 * each train alone and overwrite each other's files.
 *
 * Determinism: every collective runs in the same order on every rank (the
 * buckets in index order), and Open MPI's reductions of a given size over
 * a given number of ranks add in a fixed order, so results do not depend
 * on timing. The average of the ranks' mean gradients equals the whole
 * batch's mean gradient up to rounding (tests/test_dist.c: float64
 * training with 2 and 4 ranks equals one process to 1e-12 after 100 steps).
 *
 * Errors: the functions return 0 or a tapegrad error code with a message,
 * like the rest of the library. A rank that cannot go on must not simply
 * return while the others wait in a collective: tg_dist_abort prints its
 * message with the rank and stops every rank (MPI_Abort). It is the one
 * function in tapegrad that ends the process, and only when called.
 */
#ifndef TG_DIST_H
#define TG_DIST_H

#include "../autograd/tape.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The process group ---------------------------------------------------- */

/* True when tapegrad was built with MPI. */
bool tg_dist_available(void);
/* Joins the ranks mpirun started (MPI_Init; argc and argv may be NULL) or,
 * when the program was not started by mpirun, sets up a world of one
 * process without MPI. Call it once, before any other tg_dist_ or tg_ddp_
 * function; a second call changes nothing. Errors: TG_ERR_VALUE (started
 * by mpirun but built without MPI, or MPI failed to start). */
int tg_dist_init(int *argc, char ***argv);
/* This process's rank in [0, world) and the number of ranks (0 and 1 before
 * tg_dist_init and without mpirun). */
int tg_dist_rank(void);
int tg_dist_world(void);
/* Leaves MPI (MPI_Finalize) after a barrier; nothing without MPI. Later
 * tg_dist_ calls see a world of one. */
int tg_dist_finalize(void);
/* Prints "PROGRAM: rank R of W: MESSAGE" on stderr (MESSAGE is what, or the
 * last tapegrad error when what is NULL) and, with more than one rank,
 * stops every rank with MPI_Abort(code). With one rank it returns code, so
 * that the caller can return it from main as usual. */
int tg_dist_abort(const char *program, const char *what, int code);

/* ---- Collectives ------------------------------------------------------------ */

/* Copies rank 0's parameters and buffers (every tensor of ps, in order)
 * into the other ranks' tensors, which must have the same names, shapes
 * and dtypes (checked: a mismatch is a TG_ERR_SHAPE naming the entry on
 * every rank). */
int tg_dist_broadcast(tg_params *ps);
/* Replaces values[0..n) with their sum over all ranks (float64, for loss
 * sums and counts of correct answers). */
int tg_dist_allreduce_sum(double *values, int n);

/* ---- Gradient averaging (DistributedDataParallel) ------------------------ */

typedef struct tg_ddp tg_ddp;

/* The default size of a gradient bucket, in bytes. */
#define TG_DDP_BUCKET_BYTES (256 * 1024)

/* Plans the averaging of the gradients of ps's parameters (buffers are
 * not averaged: broadcast them when they must agree). The parameters are
 * packed, in reverse order (the order backward finishes them), into flat
 * buckets of at most bucket_bytes (0: TG_DDP_BUCKET_BYTES; a bigger
 * parameter has a bucket of its own) and of one dtype; the buckets'
 * memory is allocated here, once. ps is borrowed: it must outlive the
 * plan and keep its entries. NULL on error (NULL ps, TG_ERR_NOMEM). */
tg_ddp *tg_ddp_new(tg_params *ps, size_t bucket_bytes);
/* tg_backward(T, loss) that averages the gradients over the ranks as it
 * goes: as soon as backward has finished every gradient of a bucket, the
 * bucket is packed and its all-reduce starts (MPI_Iallreduce), while the
 * rest of the backward pass runs; at the end the sums are divided by the
 * world size and written back to each parameter's .grad. With one rank
 * it is tg_backward. The gradients are added to .grad as tg_backward adds
 * them, so zero them first. Parameters the loss does not reach get a
 * gradient of zeros (another rank's may not be). On an error in the
 * backward pass the other ranks are left waiting: call tg_dist_abort. */
int tg_ddp_backward(tg_ddp *D, tg_tape *T, tg_tensor *loss);
/* The same averaging after a plain tg_backward: every bucket packed and
 * reduced at once, nothing overlapped (for comparison, and for gradients
 * made some other way). */
int tg_ddp_sync(tg_ddp *D);
/* The plan's shape: the number of buckets and the bytes they hold. */
int tg_ddp_buckets(const tg_ddp *D, size_t *bytes);
/* Frees the plan (never the parameters). NULL ok. */
void tg_ddp_free(tg_ddp *D);

#ifdef __cplusplus
}
#endif

#endif /* TG_DIST_H */
