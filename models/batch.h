/* batch.h - mini-batches over in-memory data sets: shuffled (NumPy's
 * permutation from a tg_rng) or in order, with or without the last short
 * batch, optionally transformed (bytes to standardised floats) as they are
 * copied. Everything is allocated by tg_batches_new / tg_batches_add; a
 * batch allocates nothing.
 *
 *     tg_batches *B = tg_batches_new(64, &rng, false);  // shuffled, keep the last
 *     tg_batches_add(B, images);                        // (N, 28, 28) uint8
 *     tg_batches_add(B, labels);                        // (N,) int32
 *     tg_batches_transform(B, 0, TG_FLOAT32, 2, (int64_t[]){28, 28},
 *                          tg_batch_standardize_u8, &(tg_standardize){255, 0.2860, 0.3530});
 *     for (int epoch = 0; epoch < 3; epoch++) {          // reshuffled each epoch
 *         tg_tensor *xy[2];
 *         int more;
 *         while ((more = tg_batches_next(B, xy)) > 0)     // (b, 28, 28) float32, (b,)
 *             train_step(T, net, xy[0], xy[1]);
 *         if (more < 0) { fprintf(stderr, "%s\n", tg_last_message()); break; }
 *     }
 *     tg_batches_free(B);
 *
 * Epoch e (counting from 0) of a shuffled iterator visits the rows in the
 * order np.random.permutation(N) gives for its e-th call after
 * np.random.seed(s), when rng was seeded with s and used for nothing else:
 * batch k is rows perm[k*b : (k+1)*b]. Without rng the rows go in order.
 *
 * Evaluating without recording (no_grad): pause the tape around the loop
 * and reset it per batch, so nothing is recorded and the arena holds one
 * batch's activations at a time; tg_tape_pause returns the old state:
 *
 *     bool was_paused = tg_tape_pause(T, true);
 *     while ((more = tg_batches_next(E, xy)) > 0) {
 *         tg_tape_reset(T);
 *         tg_tensor *logits = forward(T, net, xy[0]);   // nothing recorded
 *         ...
 *     }
 *     tg_tape_pause(T, was_paused);
 */
#ifndef TG_BATCH_H
#define TG_BATCH_H

#include "../tensor/random.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_batches tg_batches;

/* A transform of one source's batch: in holds the batch's rows copied from
 * the source, (b, source shape...) in its dtype; out is (b, out shape...) in
 * the dtype given to tg_batches_transform. Both are contiguous; b is the
 * batch's row count (the last batch may be short). Returns 0, or a nonzero
 * tapegrad error code (set with a message of the transform's own) that
 * tg_batches_next passes on. */
typedef int (*tg_batch_transform_fn)(const tg_tensor *in, tg_tensor *out, void *ctx);

/* ---- The iterator -------------------------------------------------------- */

/* An iterator yielding batches of batch_size rows: shuffled from rng when
 * it is not NULL (borrowed: it must outlive the iterator, and each epoch
 * draws one permutation from it), else in order; with drop_last a last
 * batch shorter than batch_size is skipped, else it is yielded with its
 * short row count. NULL on error: batch_size <= 0 (TG_ERR_VALUE), an
 * unseeded rng (TG_ERR_VALUE), TG_ERR_NOMEM. Free with tg_batches_free. */
tg_batches *tg_batches_new(int64_t batch_size, tg_rng *rng, bool drop_last);
/* Frees the iterator and its batch tensors (never the sources). NULL ok. */
void tg_batches_free(tg_batches *B);

/* Adds a source: a contiguous tensor (N, ...) of any dtype, borrowed (it
 * must outlive the iterator; its values may change between batches). Every
 * source has the same N, which the first one fixes; N may be 0 (no
 * batches). Returns the source's index (0, 1, ...) or a negative error
 * code: a NULL argument, a 0-d tensor (TG_ERR_SHAPE), a first axis other
 * than the first source's (TG_ERR_SHAPE), a non-contiguous tensor
 * (TG_ERR_VALUE: tg_contiguous makes a copy), TG_ERR_NOMEM. An iterator
 * holds at most TG_BATCH_MAX_SOURCES sources; a source cannot be added in
 * the middle of an epoch (TG_ERR_VALUE: call tg_batches_restart). */
#define TG_BATCH_MAX_SOURCES 8
int tg_batches_add(tg_batches *B, const tg_tensor *src);
/* The same for a raw C-order array of ndim >= 1 axes (shape[0] rows),
 * borrowed like a tensor. */
int tg_batches_add_array(tg_batches *B, const void *data, tg_dtype dt, int ndim,
                         const int64_t *shape);
/* Makes source i's batches (b, out_shape...) of dtype dt, written by fn
 * from the copied rows (fn NULL removes a transform). out_shape is one row's
 * shape: (28, 28) or (784,). Same rules for adding during an epoch. */
int tg_batches_transform(tg_batches *B, int i, tg_dtype dt, int out_ndim,
                         const int64_t *out_shape, tg_batch_transform_fn fn, void *ctx);

/* The next batch: writes one tensor per source into out (in the order they
 * were added) and returns 1; returns 0 at the end of the epoch (out
 * untouched), after which the next call starts a new epoch (reshuffled);
 * returns a negative error code on error (no sources, a NULL argument, the
 * transform's error). The tensors belong to the iterator: valid and
 * refilled until the next call, never freed by the caller. A short last
 * batch is a view of the first rows of the full-size buffers. Allocates
 * nothing. */
int tg_batches_next(tg_batches *B, tg_tensor **out);
/* Abandons the current epoch: the next tg_batches_next starts a new one. */
int tg_batches_restart(tg_batches *B);

/* Number of batches in an epoch (counting a short last one unless
 * drop_last), the rows N (with tg_batches_shard, this rank's rows per
 * epoch), the number of sources; -1 for NULL. */
int64_t tg_batches_count(const tg_batches *B);
int64_t tg_batches_rows(const tg_batches *B);
int tg_batches_sources(const tg_batches *B);
/* Makes the iterator yield only rank's share of every epoch, for
 * data-parallel training (models/dist.h): each epoch's order is drawn as
 * before (the same on every rank when every rank's rng has the same seed
 * and the same draws), and rank takes its positions rank, rank + world,
 * rank + 2*world, ... With pad the order is first made a multiple of world
 * long by repeating its first rows, as PyTorch's DistributedSampler does,
 * so that every rank has ceil(N/world) rows and as many batches (training:
 * the ranks must make the same number of steps); without pad a rank has
 * the rows below N only and ranks may differ by one row (evaluation: every
 * row counted once). With a global batch of world*b split into per-rank
 * batches of b, rank r's k-th batch holds the rows at r, r + world, ... of
 * the global k-th batch. Call it before the first tg_batches_add; world 1
 * is the unsharded iterator. Errors: TG_ERR_VALUE (rank outside [0, world),
 * world < 1, sources already added), TG_ERR_NULL. */
int tg_batches_shard(tg_batches *B, int rank, int world, bool pad);
/* The source rows of the batch tg_batches_next returned last (n of them,
 * n stored when n is not NULL), owned by the iterator; NULL before the
 * first batch of an epoch. */
const int64_t *tg_batches_indices(const tg_batches *B, int64_t *n);

/* ---- A stock transform -------------------------------------------------- */

/* Bytes to standardised floats: out = ((float)v / scale - mean) / std, the
 * arithmetic done in out's dtype (float32 or float64), for a uint8 source
 * with as many values per row as out. */
typedef struct tg_standardize {
    double scale; /* 255 for pixels */
    double mean;
    double std;
} tg_standardize;
int tg_batch_standardize_u8(const tg_tensor *in, tg_tensor *out, void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* TG_BATCH_H */
