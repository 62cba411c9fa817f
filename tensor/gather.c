/* gather.c - indexing by integer tensors: index_select (NumPy's take along
 * one axis: the embedding lookup), gather (take_along_axis), their adjoints
 * index_add and scatter_add (repeated indices accumulate), and one_hot.
 * Index tensors are int32 or int64; negative indices count from the end,
 * as in NumPy, and anything outside [-n, n) is refused before a result is
 * made. Every dtype moves through these (values are copied element by
 * element); the adds need a float or integer dtype of their own. */
#include <string.h>

#include "internal.h"

/* ---- indices -------------------------------------------------------------- */

int tg__check_index(const char *fn, const tg_tensor *index, int64_t n)
{
    if (index->dtype != TG_INT32 && index->dtype != TG_INT64)
        return tg__fail(TG_ERR_DTYPE, fn,
                        "index is %s; indices must be int32 or int64",
                        tg_dtype_name(index->dtype));
    int64_t idx[TG_MAX_DIMS] = {0}, pos = index->offset;
    for (int64_t i = 0; i < index->numel; i++) {
        int64_t v = tg__load_int(index, pos);
        if (v < -n || v >= n)
            return tg__fail(TG_ERR_INDEX, fn,
                            "index %lld at position %lld is out of range for an "
                            "axis of size %lld",
                            (long long)v, (long long)i, (long long)n);
        for (int k = index->ndim - 1; k >= 0; k--) {
            pos += index->strides[k];
            if (++idx[k] < index->shape[k])
                break;
            pos -= index->strides[k] * index->shape[k];
            idx[k] = 0;
        }
    }
    return TG_OK;
}

/* Index i of index (C order), negative ones wrapped; checked already. */
static int64_t index_at(const tg_tensor *index, int64_t i, int64_t n)
{
    int64_t pos = index->offset;
    for (int k = index->ndim - 1; k >= 0; k--) {
        pos += (i % index->shape[k]) * index->strides[k];
        i /= index->shape[k];
    }
    int64_t v = tg__load_int(index, pos);
    return v < 0 ? v + n : v;
}

/* dst[pd] = src[ps] (copy) or += (add), any dtype of their own (the same). */
static void move(tg_tensor *dst, int64_t pd, const tg_tensor *src, int64_t ps,
                 bool add)
{
    if (!add) {
        size_t es = tg__dsize(dst->dtype);
        memcpy((char *)dst->storage->data + (size_t)pd * es,
               (const char *)src->storage->data + (size_t)ps * es, es);
    } else if (tg__is_float(dst->dtype)) {
        tg__store(dst, pd, tg__load(dst, pd) + tg__load(src, ps));
    } else {
        tg__store_int(dst, pd, (int64_t)((uint64_t)tg__load_int(dst, pd) +
                                         (uint64_t)tg__load_int(src, ps)));
    }
}

/* ---- index_select and index_add ------------------------------------------------ */

int tg__index_select_shape(const char *fn, const tg_tensor *t, int axis,
                           const tg_tensor *index, int *nd, int64_t *shape)
{
    int nd_out = t->ndim - 1 + index->ndim;
    if (nd_out > TG_MAX_DIMS)
        return tg__fail(TG_ERR_VALUE, fn, "the result would have %d dimensions "
                        "(at most %d allowed)", nd_out, TG_MAX_DIMS);
    int j = 0;
    for (int k = 0; k < axis; k++)
        shape[j++] = t->shape[k];
    for (int k = 0; k < index->ndim; k++)
        shape[j++] = index->shape[k];
    for (int k = axis + 1; k < t->ndim; k++)
        shape[j++] = t->shape[k];
    *nd = nd_out;
    int64_t ignored;
    return tg__check_shape(fn, nd_out, shape, t->dtype, &ignored);
}

static void index_move(tg_tensor *big, int axis, const tg_tensor *index,
                       tg_tensor *small, bool to_small, bool add);

/* The step keeps the written tensor as out, the other as a. */
static int run_index_move(tg__step *e)
{
    tg_tensor *big = e->flag ? &e->a : &e->out, *small = e->flag ? &e->out : &e->a;
    index_move(big, (int)e->i[0], &e->b, small, e->flag, e->i[1] != 0);
    return TG_OK;
}

void tg__index_move(tg_tensor *big, int axis, const tg_tensor *index,
                    tg_tensor *small, bool to_small, bool add)
{
    TG__TRACED(index_move(big, axis, index, small, to_small, add), .run = run_index_move,
               .flag = to_small, .out = to_small ? *small : *big,
               .a = to_small ? *big : *small, .b = *index, .i = {axis, add});
}

static void index_move(tg_tensor *big, int axis, const tg_tensor *index,
                       tg_tensor *small, bool to_small, bool add)
{
    /* small (the selection) has big's shape with axis replaced by index's
     * shape: walk it in C order as (outer, index element, inner). */
    int64_t n = big->shape[axis], outer = 1, inner = 1;
    for (int k = 0; k < axis; k++)
        outer *= big->shape[k];
    for (int k = axis + 1; k < big->ndim; k++)
        inner *= big->shape[k];
    int64_t m = index->numel, i = 0;
    bool floats = big->dtype == TG_FLOAT32 || big->dtype == TG_FLOAT64;
    if (tg__contiguous(big) && tg__contiguous(small) && (!add || floats)) {
        /* Whole rows of inner elements at a time (an embedding's rows):
         * copied, or added element by element in the dtype itself, which
         * rounds as move's sum in double does. */
        size_t es = tg__dsize(big->dtype);
        char *bd = (char *)big->storage->data + (size_t)big->offset * es;
        char *sd = (char *)small->storage->data + (size_t)small->offset * es;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < m; j++, i += inner) {
                char *pb = bd + (size_t)((o * n + index_at(index, j, n)) * inner) * es;
                char *ps = sd + (size_t)i * es;
                if (!add)
                    memcpy(to_small ? ps : pb, to_small ? pb : ps, (size_t)inner * es);
                else if (big->dtype == TG_FLOAT32)
                    for (int64_t r = 0; r < inner; r++)
                        ((float *)(void *)pb)[r] += ((const float *)(void *)ps)[r];
                else
                    for (int64_t r = 0; r < inner; r++)
                        ((double *)(void *)pb)[r] += ((const double *)(void *)ps)[r];
            }
        tg__touch(to_small ? small : big);
        return;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < m; j++) {
            int64_t at = index_at(index, j, n);
            for (int64_t r = 0; r < inner; r++, i++) {
                int64_t pb = tg__flat_pos(big, (o * n + at) * inner + r);
                int64_t ps = tg__flat_pos(small, i);
                if (to_small)
                    move(small, ps, big, pb, false);
                else
                    move(big, pb, small, ps, add);
            }
        }
    tg__touch(to_small ? small : big);
}

tg_tensor *tg_index_select(const tg_tensor *t, int axis, const tg_tensor *index)
{
    const char *fn = "tg_index_select";
    if (!t || !index)
        return NULL;
    int ax, nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__axis(fn, axis, t->ndim, &ax) || tg__check_index(fn, index, t->shape[ax]) ||
        tg__index_select_shape(fn, t, ax, index, &nd, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, t->dtype, nd, shape);
    if (out)
        tg__index_move((tg_tensor *)(uintptr_t)t, ax, index, out, true, false);
    return out;
}

/* ---- gather (take_along_axis) and scatter_add ---------------------------------- */

int tg__check_gather(const char *fn, const tg_tensor *t, int axis,
                     const tg_tensor *index)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (index->ndim != t->ndim)
        return tg__fail(TG_ERR_SHAPE, fn,
                        "index %s and input %s must have the same number of "
                        "dimensions",
                        tg__shape_fmt(index->ndim, index->shape, b1, sizeof b1),
                        tg__shape_fmt(t->ndim, t->shape, b2, sizeof b2));
    for (int k = 0; k < t->ndim; k++)
        if (k != axis && index->shape[k] > t->shape[k])
            return tg__fail(TG_ERR_SHAPE, fn,
                            "index %s is larger than input %s in axis %d",
                            tg__shape_fmt(index->ndim, index->shape, b1, sizeof b1),
                            tg__shape_fmt(t->ndim, t->shape, b2, sizeof b2), k);
    return tg__check_index(fn, index, t->shape[axis]);
}

static void gather_move(tg_tensor *big, int axis, const tg_tensor *index,
                        tg_tensor *small, bool to_small, bool add);

/* The step keeps the written tensor as out, the other as a. */
static int run_gather_move(tg__step *e)
{
    tg_tensor *big = e->flag ? &e->a : &e->out, *small = e->flag ? &e->out : &e->a;
    gather_move(big, (int)e->i[0], &e->b, small, e->flag, e->i[1] != 0);
    return TG_OK;
}

void tg__gather_move(tg_tensor *big, int axis, const tg_tensor *index,
                    tg_tensor *small, bool to_small, bool add)
{
    TG__TRACED(gather_move(big, axis, index, small, to_small, add), .run = run_gather_move,
               .flag = to_small, .out = to_small ? *small : *big,
               .a = to_small ? *big : *small, .b = *index, .i = {axis, add});
}

static void gather_move(tg_tensor *big, int axis, const tg_tensor *index,
                        tg_tensor *small, bool to_small, bool add)
{
    /* small has index's shape: small[..i..] <-> big[..index[..i..]..] */
    int64_t n = big->shape[axis];
    int64_t idx[TG_MAX_DIMS] = {0};
    for (int64_t i = 0; i < index->numel; i++) {
        int64_t pb = big->offset, ps = small->offset, pi = index->offset;
        for (int k = 0; k < big->ndim; k++) {
            pi += idx[k] * index->strides[k];
            ps += idx[k] * small->strides[k];
        }
        int64_t v = tg__load_int(index, pi);
        for (int k = 0; k < big->ndim; k++)
            pb += (k == axis ? (v < 0 ? v + n : v) : idx[k]) * big->strides[k];
        if (to_small)
            move(small, ps, big, pb, false);
        else
            move(big, pb, small, ps, add);
        for (int k = big->ndim - 1; k >= 0; k--) {
            if (++idx[k] < index->shape[k])
                break;
            idx[k] = 0;
        }
    }
    tg__touch(to_small ? small : big);
}

tg_tensor *tg_gather(const tg_tensor *t, int axis, const tg_tensor *index)
{
    const char *fn = "tg_gather";
    if (!t || !index)
        return NULL;
    int ax;
    if (tg__axis(fn, axis, t->ndim, &ax) || tg__check_gather(fn, t, ax, index))
        return NULL;
    tg_tensor *out = tg__new(fn, t->dtype, index->ndim, index->shape);
    if (out)
        tg__gather_move((tg_tensor *)(uintptr_t)t, ax, index, out, true, false);
    return out;
}

tg_tensor *tg_scatter_add(const tg_tensor *t, int axis, const tg_tensor *index,
                          const tg_tensor *src)
{
    const char *fn = "tg_scatter_add";
    if (!t || !index || !src)
        return NULL;
    int ax;
    if (tg__axis(fn, axis, t->ndim, &ax) || tg__check_gather(fn, t, ax, index))
        return NULL;
    if (src->dtype != t->dtype) {
        tg__fail(TG_ERR_DTYPE, fn, "src is %s but the input is %s (use tg_cast)",
                 tg_dtype_name(src->dtype), tg_dtype_name(t->dtype));
        return NULL;
    }
    if (t->dtype == TG_BOOL) {
        tg__fail(TG_ERR_DTYPE, fn, "adding bools is not defined (cast first)");
        return NULL;
    }
    for (int k = 0; k < src->ndim || k < index->ndim; k++)
        if (src->ndim != index->ndim || src->shape[k] < index->shape[k]) {
            char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
            tg__fail(TG_ERR_SHAPE, fn, "src %s is smaller than index %s",
                     tg__shape_fmt(src->ndim, src->shape, b1, sizeof b1),
                     tg__shape_fmt(index->ndim, index->shape, b2, sizeof b2));
            return NULL;
        }
    tg_tensor *out = tg__clone(fn, t);
    if (out)
        tg__gather_move(out, ax, index, (tg_tensor *)(uintptr_t)src, false, true);
    return out;
}

/* ---- one_hot ------------------------------------------------------------------------ */

tg_tensor *tg_one_hot(const tg_tensor *index, int64_t classes, tg_dtype dt)
{
    const char *fn = "tg_one_hot";
    if (!index)
        return NULL;
    if (classes < 1) {
        tg__fail(TG_ERR_VALUE, fn, "classes = %lld must be positive",
                 (long long)classes);
        return NULL;
    }
    if (index->ndim == TG_MAX_DIMS) {
        tg__fail(TG_ERR_VALUE, fn, "the result would have %d dimensions (at most %d)",
                 TG_MAX_DIMS + 1, TG_MAX_DIMS);
        return NULL;
    }
    /* torch.nn.functional.one_hot: indices in [0, classes), no wrapping */
    if (index->dtype != TG_INT32 && index->dtype != TG_INT64) {
        tg__fail(TG_ERR_DTYPE, fn, "index is %s; indices must be int32 or int64",
                 tg_dtype_name(index->dtype));
        return NULL;
    }
    for (int64_t i = 0; i < index->numel; i++) {
        int64_t v = tg__load_int(index, tg__flat_pos(index, i));
        if (v < 0 || v >= classes) {
            tg__fail(TG_ERR_INDEX, fn, "index %lld at position %lld is outside "
                     "[0, %lld)", (long long)v, (long long)i, (long long)classes);
            return NULL;
        }
    }
    int64_t shape[TG_MAX_DIMS];
    for (int k = 0; k < index->ndim; k++)
        shape[k] = index->shape[k];
    shape[index->ndim] = classes;
    tg_tensor *out = tg__new(fn, dt, index->ndim + 1, shape);
    if (!out)
        return NULL;
    if (out->storage->nbytes) /* all-bits-zero is 0 in every dtype */
        memset(out->storage->data, 0, out->storage->nbytes);
    for (int64_t i = 0; i < index->numel; i++)
        tg__store(out, i * classes + tg__load_int(index, tg__flat_pos(index, i)), 1.0);
    return out;
}
