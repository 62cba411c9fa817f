/* batch.c - the mini-batch iterator of batch.h: a permutation per epoch
 * (tg_rng_permutation, NumPy's), rows copied by memcpy into batch buffers
 * made when a source is added, an optional transform into a second buffer,
 * and the short last batch as views made up front, so tg_batches_next
 * allocates nothing. */
#include "batch.h"

#include <string.h>

#include "../tensor/internal.h"

typedef struct source {
    const tg_tensor *tensor;  /* the borrowed tensor, or NULL for an array */
    const uint8_t *array;     /* the borrowed array when tensor is NULL */
    tg_dtype dt;
    int ndim;
    int64_t shape[TG_MAX_DIMS]; /* (N, ...) */
    size_t row_bytes;
    tg_tensor *raw, *raw_short; /* (rows, ...) copied rows; the short view */
    tg_batch_transform_fn fn;
    void *ctx;
    tg_tensor *out, *out_short; /* (rows, out shape...) when fn is set */
} source;

struct tg_batches {
    int64_t batch;     /* batch_size */
    int64_t n;         /* rows of every source; -1 until the first add */
    int64_t buf_rows;  /* min(batch, n): rows of the batch buffers */
    int64_t tail;      /* rows of a short last batch needing a view, else 0 */
    tg_rng *rng;
    bool drop_last;
    bool in_epoch;
    int nsrc;
    source src[TG_BATCH_MAX_SOURCES];
    int64_t *perm;     /* n row indices in this epoch's order */
    int64_t pos;       /* next position in the epoch's rows */
    int64_t last_start, last_b; /* the last batch's rows: rows[last_start..+last_b) */
    /* tg_batches_shard: this rank's share of each epoch, m rows (m = n
     * without a shard), the rows taken from perm into shard[] */
    int rank, world;
    bool pad;
    int64_t m;
    int64_t *shard;
};

/* The rows of the epoch in order: this rank's share, or all of them. */
static const int64_t *epoch_rows(const tg_batches *B)
{
    return B->world > 1 ? B->shard : B->perm;
}

/* Rows a rank gets of n: positions rank, rank + world, ... below n, or
 * with pad below n rounded up to a multiple of world (the rows past n
 * repeat the epoch's first ones, as PyTorch's DistributedSampler). */
static int64_t share_of(int64_t n, int rank, int world, bool pad)
{
    if (pad)
        return n == 0 ? 0 : (n + world - 1) / world;
    return rank < n ? (n - rank + world - 1) / world : 0;
}

/* A tg_batches_new with an unseeded generator is refused by this check. */
static int check_rng(const char *fn, tg_rng *rng)
{
    /* tg_rng_permutation on n = 0 validates the generator without drawing. */
    int64_t none = 0;
    if (tg_rng_permutation(rng, &none, 0) != TG_OK)
        return tg__fail(TG_ERR_VALUE, fn, "rng is not seeded (call tg_rng_seed on it first)");
    return TG_OK;
}

tg_batches *tg_batches_new(int64_t batch_size, tg_rng *rng, bool drop_last)
{
    static const char fn[] = "tg_batches_new";
    if (batch_size <= 0) {
        tg__fail(TG_ERR_VALUE, fn, "batch_size is %lld, must be >= 1", (long long)batch_size);
        return NULL;
    }
    if (rng && check_rng(fn, rng))
        return NULL;
    tg_batches *B = tg__alloc(sizeof *B);
    if (!B) {
        tg__oom(fn);
        return NULL;
    }
    memset(B, 0, sizeof *B);
    B->batch = batch_size;
    B->n = -1;
    B->rng = rng;
    B->drop_last = drop_last;
    B->world = 1;
    return B;
}

static void free_source(source *s)
{
    tg_free(s->raw_short);
    tg_free(s->raw);
    tg_free(s->out_short);
    tg_free(s->out);
}

void tg_batches_free(tg_batches *B)
{
    if (!B)
        return;
    for (int i = 0; i < B->nsrc; i++)
        free_source(&B->src[i]);
    if (B->perm)
        tg__dealloc(B->perm, (size_t)(B->n > 0 ? B->n : 1) * sizeof *B->perm);
    if (B->shard)
        tg__dealloc(B->shard, (size_t)(B->m > 0 ? B->m : 1) * sizeof *B->shard);
    tg__dealloc(B, sizeof *B);
}

/* A (buf_rows, row_shape...) buffer of dt and, when the epoch ends in a
 * short batch, the view of its first tail rows. */
static int make_buffers(const char *fn, const tg_batches *B, tg_dtype dt, int ndim,
                        const int64_t *row_shape, tg_tensor **buf, tg_tensor **view)
{
    int64_t shape[TG_MAX_DIMS];
    shape[0] = B->buf_rows;
    for (int k = 1; k < ndim; k++)
        shape[k] = row_shape[k - 1];
    *buf = tg__new(fn, dt, ndim, shape);
    *view = NULL;
    if (!*buf)
        return tg_last_error();
    if (B->tail) {
        *view = tg_slice(*buf, 0, 0, B->tail, 1);
        if (!*view) {
            tg_free(*buf);
            *buf = NULL;
            return tg__oom(fn);
        }
    }
    return TG_OK;
}

static int check_between_epochs(const char *fn, const tg_batches *B)
{
    if (!B)
        return tg__fail(TG_ERR_NULL, fn, "iterator is NULL");
    if (B->in_epoch)
        return tg__fail(TG_ERR_VALUE, fn,
                        "an epoch is under way (finish it or call tg_batches_restart first)");
    return TG_OK;
}

static int add_source(const char *fn, tg_batches *B, const tg_tensor *t, const void *data,
                      tg_dtype dt, int ndim, const int64_t *shape)
{
    if (B->nsrc == TG_BATCH_MAX_SOURCES)
        return -tg__fail(TG_ERR_VALUE, fn, "already %d sources, the most an iterator holds "
                         "(TG_BATCH_MAX_SOURCES in models/batch.h)", TG_BATCH_MAX_SOURCES);
    if (B->n >= 0 && shape[0] != B->n)
        return -tg__fail(TG_ERR_SHAPE, fn,
                         "source %d has %lld rows (first axis), source 0 has %lld",
                         B->nsrc, (long long)shape[0], (long long)B->n);
    bool first = B->n < 0;
    if (first) {
        int64_t n = shape[0];
        size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(int64_t);
        if ((uint64_t)n > SIZE_MAX / sizeof(int64_t) / 2)
            return -tg__fail(TG_ERR_OVERFLOW, fn, "%lld rows do not fit in memory",
                             (long long)n);
        B->perm = tg__alloc(bytes);
        if (!B->perm)
            return -tg__oom(fn);
        int64_t m = share_of(n, B->rank, B->world, B->pad);
        if (B->world > 1) {
            B->shard = tg__alloc((size_t)(m > 0 ? m : 1) * sizeof *B->shard);
            if (!B->shard) {
                tg__dealloc(B->perm, bytes);
                B->perm = NULL;
                return -tg__oom(fn);
            }
        }
        B->n = n;
        B->m = m;
        B->buf_rows = m < B->batch ? m : B->batch;
        int64_t tail = m % B->batch;
        B->tail = (!B->drop_last && tail && tail != B->buf_rows) ? tail : 0;
    }
    source *s = &B->src[B->nsrc];
    memset(s, 0, sizeof *s);
    s->tensor = t;
    s->array = data;
    s->dt = dt;
    s->ndim = ndim;
    memcpy(s->shape, shape, (size_t)ndim * sizeof *shape);
    s->row_bytes = tg_dtype_size(dt);
    for (int k = 1; k < ndim; k++)
        s->row_bytes *= (size_t)shape[k]; /* fits: the whole array does */
    if (make_buffers(fn, B, dt, ndim, shape + 1, &s->raw, &s->raw_short)) {
        if (first) {
            tg__dealloc(B->perm, (size_t)(B->n > 0 ? B->n : 1) * sizeof *B->perm);
            B->perm = NULL;
            if (B->shard)
                tg__dealloc(B->shard, (size_t)(B->m > 0 ? B->m : 1) * sizeof *B->shard);
            B->shard = NULL;
            B->n = -1;
            B->m = 0;
        }
        return -tg_last_error();
    }
    return B->nsrc++;
}

int tg_batches_add(tg_batches *B, const tg_tensor *src)
{
    static const char fn[] = "tg_batches_add";
    if (check_between_epochs(fn, B))
        return -tg_last_error();
    if (!src)
        return -tg__fail(TG_ERR_NULL, fn, "source tensor is NULL");
    if (src->ndim < 1)
        return -tg__fail(TG_ERR_SHAPE, fn, "source is 0-d, needs a first axis of rows");
    if (!tg_is_contiguous(src))
        return -tg__fail(TG_ERR_VALUE, fn,
                         "source is not contiguous (tg_contiguous makes a contiguous copy)");
    return add_source(fn, B, src, NULL, src->dtype, src->ndim, src->shape);
}

int tg_batches_add_array(tg_batches *B, const void *data, tg_dtype dt, int ndim,
                         const int64_t *shape)
{
    static const char fn[] = "tg_batches_add_array";
    if (check_between_epochs(fn, B))
        return -tg_last_error();
    if (!shape)
        return -tg__fail(TG_ERR_NULL, fn, "shape is NULL");
    if (ndim < 1)
        return -tg__fail(TG_ERR_SHAPE, fn, "ndim is %d, needs a first axis of rows (>= 1)",
                         ndim);
    int64_t numel;
    if (tg__check_shape(fn, ndim, shape, dt, &numel))
        return -tg_last_error();
    if (!data && numel > 0)
        return -tg__fail(TG_ERR_NULL, fn, "data is NULL");
    return add_source(fn, B, NULL, data, dt, ndim, shape);
}

int tg_batches_transform(tg_batches *B, int i, tg_dtype dt, int out_ndim,
                         const int64_t *out_shape, tg_batch_transform_fn f, void *ctx)
{
    static const char fn[] = "tg_batches_transform";
    if (check_between_epochs(fn, B))
        return tg_last_error();
    if (i < 0 || i >= B->nsrc)
        return tg__fail(TG_ERR_INDEX, fn, "source %d does not exist (the iterator has %d)", i,
                        B->nsrc);
    source *s = &B->src[i];
    if (!f) {
        tg_free(s->out_short);
        tg_free(s->out);
        s->out = s->out_short = NULL;
        s->fn = NULL;
        s->ctx = NULL;
        return TG_OK;
    }
    if (out_ndim < 0 || out_ndim > TG_MAX_DIMS - 1)
        return tg__fail(TG_ERR_SHAPE, fn, "out_ndim is %d, must be in [0, %d]", out_ndim,
                        TG_MAX_DIMS - 1);
    if (out_ndim > 0 && !out_shape)
        return tg__fail(TG_ERR_NULL, fn, "out_shape is NULL");
    int64_t shape[TG_MAX_DIMS], numel;
    shape[0] = B->buf_rows;
    for (int k = 0; k < out_ndim; k++)
        shape[k + 1] = out_shape[k];
    if (tg__check_shape(fn, out_ndim + 1, shape, dt, &numel))
        return tg_last_error();
    tg_tensor *out, *out_short;
    if (make_buffers(fn, B, dt, out_ndim + 1, out_shape, &out, &out_short))
        return tg_last_error();
    tg_free(s->out_short);
    tg_free(s->out);
    s->out = out;
    s->out_short = out_short;
    s->fn = f;
    s->ctx = ctx;
    return TG_OK;
}

int tg_batches_restart(tg_batches *B)
{
    if (!B)
        return tg__fail(TG_ERR_NULL, "tg_batches_restart", "iterator is NULL");
    B->in_epoch = false;
    B->last_b = 0;
    return TG_OK;
}

static int start_epoch(tg_batches *B)
{
    if (B->rng) {
        int rc = tg_rng_permutation(B->rng, B->perm, B->n);
        if (rc)
            return rc;
    } else {
        for (int64_t i = 0; i < B->n; i++)
            B->perm[i] = i;
    }
    for (int64_t j = 0; B->world > 1 && j < B->m; j++) /* past n: from the start again */
        B->shard[j] = B->perm[(B->rank + j * B->world) % B->n];
    B->pos = 0;
    B->in_epoch = true;
    return TG_OK;
}

int tg_batches_next(tg_batches *B, tg_tensor **out)
{
    static const char fn[] = "tg_batches_next";
    if (!B)
        return -tg__fail(TG_ERR_NULL, fn, "iterator is NULL");
    if (!out)
        return -tg__fail(TG_ERR_NULL, fn, "out is NULL");
    if (B->nsrc == 0)
        return -tg__fail(TG_ERR_VALUE, fn, "the iterator has no sources (tg_batches_add)");
    if (!B->in_epoch) {
        int rc = start_epoch(B);
        if (rc)
            return -rc;
    }
    int64_t left = B->m - B->pos;
    if (left == 0 || (B->drop_last && left < B->batch)) {
        B->in_epoch = false;
        B->last_b = 0;
        return 0;
    }
    int64_t b = left < B->batch ? left : B->batch;
    bool is_short = b < B->buf_rows;
    const int64_t *rows = epoch_rows(B) + B->pos;
    for (int i = 0; i < B->nsrc; i++) {
        source *s = &B->src[i];
        const uint8_t *base = s->tensor ? tg_data(s->tensor) : s->array;
        uint8_t *dst = tg_data(s->raw);
        for (int64_t r = 0; r < b; r++)
            memcpy(dst + (size_t)r * s->row_bytes, base + (size_t)rows[r] * s->row_bytes,
                   s->row_bytes);
        tg__touch(s->raw);
        tg_tensor *raw = is_short ? s->raw_short : s->raw;
        if (s->fn) {
            tg_tensor *o = is_short ? s->out_short : s->out;
            int rc = s->fn(raw, o, s->ctx);
            if (rc) {
                if (rc < 0 || rc >= TG_ERR_COUNT_ || tg_last_error() != rc)
                    tg__fail(rc > 0 && rc < TG_ERR_COUNT_ ? rc : TG_ERR_VALUE, fn,
                             "the transform of source %d failed (returned %d)", i, rc);
                B->in_epoch = false;
                return -tg_last_error();
            }
            tg__touch(o);
            out[i] = o;
        } else {
            out[i] = raw;
        }
    }
    B->last_start = B->pos;
    B->last_b = b;
    B->pos += b;
    return 1;
}

int64_t tg_batches_count(const tg_batches *B)
{
    if (!B)
        return -1;
    if (B->n <= 0)
        return 0;
    return B->drop_last ? B->m / B->batch : (B->m + B->batch - 1) / B->batch;
}

int64_t tg_batches_rows(const tg_batches *B)
{
    return !B ? -1 : B->n < 0 ? 0 : B->m;
}

int tg_batches_shard(tg_batches *B, int rank, int world, bool pad)
{
    static const char fn[] = "tg_batches_shard";
    if (check_between_epochs(fn, B))
        return tg_last_error();
    if (B->nsrc > 0)
        return tg__fail(TG_ERR_VALUE, fn, "the iterator has sources already; shard it "
                        "before the first tg_batches_add");
    if (world < 1 || rank < 0 || rank >= world)
        return tg__fail(TG_ERR_VALUE, fn, "rank %d of world %d: needs world >= 1 and "
                        "0 <= rank < world", rank, world);
    B->rank = rank;
    B->world = world;
    B->pad = pad;
    return TG_OK;
}

int tg_batches_sources(const tg_batches *B)
{
    return B ? B->nsrc : -1;
}

const int64_t *tg_batches_indices(const tg_batches *B, int64_t *n)
{
    if (n)
        *n = 0;
    if (!B || !B->in_epoch || B->last_b == 0)
        return NULL;
    if (n)
        *n = B->last_b;
    return epoch_rows(B) + B->last_start;
}

/* ---- the stock transform ---- */

int tg_batch_standardize_u8(const tg_tensor *in, tg_tensor *out, void *ctx)
{
    static const char fn[] = "tg_batch_standardize_u8";
    if (!in || !out || !ctx)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", !in ? "in" : !out ? "out" : "ctx");
    if (in->dtype != TG_UINT8)
        return tg__fail(TG_ERR_DTYPE, fn, "in is %s, must be uint8", tg_dtype_name(in->dtype));
    if (!tg__is_float(out->dtype))
        return tg__need_float(fn, "out", out->dtype);
    if (in->numel != out->numel)
        return tg__fail(TG_ERR_SHAPE, fn, "in has %lld values, out %lld",
                        (long long)in->numel, (long long)out->numel);
    if (!tg_is_contiguous(in) || !tg_is_contiguous(out))
        return tg__fail(TG_ERR_VALUE, fn, "in and out must be contiguous");
    const tg_standardize *z = ctx;
    const uint8_t *src = tg_data(in);
    /* One value per byte, computed once: the same arithmetic as per pixel. */
    if (out->dtype == TG_FLOAT32) {
        float table[256], scale = (float)z->scale, mean = (float)z->mean, sd = (float)z->std;
        for (int v = 0; v < 256; v++)
            table[v] = ((float)v / scale - mean) / sd;
        float *dst = tg_data(out);
        for (int64_t i = 0; i < in->numel; i++)
            dst[i] = table[src[i]];
    } else {
        double table[256];
        for (int v = 0; v < 256; v++)
            table[v] = ((double)v / z->scale - z->mean) / z->std;
        double *dst = tg_data(out);
        for (int64_t i = 0; i < in->numel; i++)
            dst[i] = table[src[i]];
    }
    return TG_OK;
}
