/* join.c - joining and reordering: concat, stack, split and chunk, pad,
 * flip, tile and repeat. Split, chunk and flip are views (their elements
 * already lie in the input's storage in order); the others fill one fresh
 * result through the internal copy routine, which moves elements of any
 * dtype. The tape's forms (autograd/join.c) fill their results with the
 * same helpers. */
#include <string.h>

#include "internal.h"

/* ---- helpers ------------------------------------------------------------------ */

/* A header over out's storage with the given shape, keeping out's strides,
 * starting at element offset (in out's storage). */
static tg_tensor box(const tg_tensor *out, const int64_t *shape, int64_t offset)
{
    tg_tensor v = *out;
    v.numel = 1;
    for (int k = 0; k < out->ndim; k++) {
        v.shape[k] = shape[k];
        v.numel *= shape[k];
    }
    v.offset = offset;
    return v;
}

static int shape_mismatch(const char *fn, const tg_tensor *t, int i,
                          const tg_tensor *t0, const char *rule)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    return tg__fail(TG_ERR_SHAPE, fn, "tensor %d has shape %s and tensor 0 %s: %s",
                    i, tg__shape_fmt(t->ndim, t->shape, b1, sizeof b1),
                    tg__shape_fmt(t0->ndim, t0->shape, b2, sizeof b2), rule);
}

/* ---- concat and stack ------------------------------------------------------------ */

int tg__join_shape(const char *fn, int n, const tg_tensor *const *ts, int axis,
                   bool stack, int *k, int *ndim, int64_t *shape)
{
    if (n <= 0)
        return tg__fail(TG_ERR_VALUE, fn, "needs at least one tensor (n is %d)", n);
    if (!ts)
        return tg__fail(TG_ERR_NULL, fn, "tensors is NULL");
    for (int i = 0; i < n; i++)
        if (!ts[i])
            return TG_ERR_NULL; /* an earlier failure: keep its message */
    const tg_tensor *t0 = ts[0];
    int nd = t0->ndim + (stack ? 1 : 0);
    if (nd > TG_MAX_DIMS)
        return tg__fail(TG_ERR_VALUE, fn,
                        "the result would have %d dimensions (at most %d allowed)",
                        nd, TG_MAX_DIMS);
    if (tg__axis(fn, axis, nd, k))
        return TG_ERR_AXIS;
    int64_t along = 0; /* concat: the sizes on the axis, added up */
    for (int i = 0; i < n; i++) {
        const tg_tensor *t = ts[i];
        if (t->dtype != t0->dtype)
            return tg__fail(TG_ERR_DTYPE, fn,
                            "tensor %d is %s and tensor 0 %s; convert one with %s",
                            i, tg_dtype_name(t->dtype), tg_dtype_name(t0->dtype),
                            tg__cast_hint(fn));
        bool same = t->ndim == t0->ndim;
        for (int j = 0; same && j < t->ndim; j++)
            same = t->shape[j] == t0->shape[j] || (!stack && j == *k);
        if (!same)
            return shape_mismatch(fn, t, i, t0,
                                  stack ? "stacked tensors must have one shape"
                                        : "they must match except on the axis");
        if (!stack) {
            if (t->shape[*k] > INT64_MAX - along)
                return tg__fail(TG_ERR_OVERFLOW, fn,
                                "the sizes on axis %d add up past 2^63 - 1", *k);
            along += t->shape[*k];
        }
    }
    *ndim = nd;
    for (int j = 0; j < nd; j++) /* t0's sizes, with the new axis (stack) */
        shape[j] = !stack || j < *k ? t0->shape[j] : j == *k ? n : t0->shape[j - 1];
    if (!stack)
        shape[*k] = along;
    return TG_OK;
}

int tg__join_into(const char *fn, tg_tensor *out, int n,
                  const tg_tensor *const *ts, int k, bool stack)
{
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        int64_t len = stack ? 1 : ts[i]->shape[k];
        tg_tensor v;
        int rc = tg__make_slice(fn, out, k, off, off + len, 1, &v);
        if (rc == TG_OK && stack) { /* drop the new axis: ts[i]'s shape */
            for (int j = k; j < v.ndim - 1; j++) {
                v.shape[j] = v.shape[j + 1];
                v.strides[j] = v.strides[j + 1];
            }
            v.ndim--;
        }
        if (rc == TG_OK)
            rc = tg__copy(fn, &v, ts[i]);
        if (rc)
            return rc;
        off += len;
    }
    return TG_OK;
}

tg_tensor *tg_concat(int n, const tg_tensor *const *ts, int axis)
{
    const char *fn = "tg_concat";
    int k, nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__join_shape(fn, n, ts, axis, false, &k, &nd, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, ts[0]->dtype, nd, shape);
    if (out && tg__join_into(fn, out, n, ts, k, false)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

tg_tensor *tg_stack(int n, const tg_tensor *const *ts, int axis)
{
    const char *fn = "tg_stack";
    int k, nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__join_shape(fn, n, ts, axis, true, &k, &nd, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, ts[0]->dtype, nd, shape);
    if (out && tg__join_into(fn, out, n, ts, k, true)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

/* ---- split and chunk ---------------------------------------------------------------- */

int tg__split_start(const char *fn, const tg_tensor *t, int n, tg_tensor **out)
{
    if (!out)
        return tg__fail(TG_ERR_NULL, fn, "out is NULL");
    if (n <= 0)
        return tg__fail(TG_ERR_VALUE, fn, "needs at least one piece (n is %d)", n);
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    if (!t)
        return TG_ERR_NULL; /* an earlier failure: keep its message */
    return TG_OK;
}

int tg__split_check(const char *fn, const tg_tensor *t, int axis, int n,
                    const int64_t *sizes, bool chunk, int *k)
{
    if (!chunk && !sizes)
        return tg__fail(TG_ERR_NULL, fn, "sizes is NULL");
    if (tg__axis(fn, axis, t->ndim, k))
        return TG_ERR_AXIS;
    if (chunk)
        return TG_OK; /* any n > 0 (tg__split_start checked) */
    int64_t len = t->shape[*k], sum = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0)
            return tg__fail(TG_ERR_VALUE, fn, "size %lld of piece %d is negative",
                            (long long)sizes[i], i);
        if (sizes[i] > len - sum) /* never overflows: 0 <= sum <= len */
            return tg__fail(TG_ERR_SHAPE, fn,
                            "the sizes add up to more than %lld, the size of axis %d",
                            (long long)len, *k);
        sum += sizes[i];
    }
    if (sum != len)
        return tg__fail(TG_ERR_SHAPE, fn,
                        "the sizes add up to %lld, not %lld, the size of axis %d",
                        (long long)sum, (long long)len, *k);
    return TG_OK;
}

/* The pieces as heap views; on failure none is left and every out[i] is
 * NULL. */
static int split_views(const char *fn, const tg_tensor *t, int axis, int n,
                       const int64_t *sizes, bool chunk, tg_tensor **out)
{
    int k, rc = tg__split_start(fn, t, n, out);
    if (rc)
        return rc;
    if (tg__split_check(fn, t, axis, n, sizes, chunk, &k))
        return tg_last_error();
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        int64_t len = tg__piece_size(t->shape[k], n, sizes, i);
        tg_tensor v;
        if (tg__make_slice(fn, t, k, off, off + len, 1, &v) ||
            !(out[i] = tg__heap_view(fn, &v))) {
            for (int j = 0; j < i; j++) {
                tg_free(out[j]);
                out[j] = NULL;
            }
            return tg_last_error();
        }
        off += len;
    }
    return TG_OK;
}

int tg_split(const tg_tensor *t, int axis, int n, const int64_t *sizes,
             tg_tensor **out)
{
    return split_views("tg_split", t, axis, n, sizes, false, out);
}

int tg_chunk(const tg_tensor *t, int axis, int n, tg_tensor **out)
{
    return split_views("tg_chunk", t, axis, n, NULL, true, out);
}

/* ---- pad ---------------------------------------------------------------------------- */

int tg__pad_shape(const char *fn, const tg_tensor *t, const int64_t *widths,
                  double value, int64_t *shape)
{
    if (t->ndim > 0 && !widths)
        return tg__fail(TG_ERR_NULL, fn, "widths is NULL");
    if (!tg__is_float(t->dtype) && !tg__int_fits(t->dtype, value))
        return tg__fail(TG_ERR_VALUE, fn, "value %.17g is not a %s value", value,
                        tg_dtype_name(t->dtype)); /* as tg_fill says it */
    for (int k = 0; k < t->ndim; k++) {
        int64_t before = widths[2 * k], after = widths[2 * k + 1];
        if (before < 0 || after < 0)
            return tg__fail(TG_ERR_VALUE, fn, "negative width %lld %s axis %d",
                            (long long)(before < 0 ? before : after),
                            before < 0 ? "before" : "after", k);
        if (before > INT64_MAX - t->shape[k] || after > INT64_MAX - t->shape[k] - before)
            return tg__fail(TG_ERR_OVERFLOW, fn,
                            "axis %d padded to %lld + %lld + %lld elements "
                            "overflows", k, (long long)before,
                            (long long)t->shape[k], (long long)after);
        shape[k] = before + t->shape[k] + after;
    }
    return TG_OK;
}

int tg__pad_into(const char *fn, tg_tensor *out, const tg_tensor *t,
                 const int64_t *widths, double value)
{
    int rc = tg_fill(out, value); /* checked by tg__pad_shape: cannot fail */
    if (rc)
        return rc;
    tg_tensor v = *out;
    for (int k = 0; k < t->ndim; k++) {
        tg_tensor in = v;
        int64_t before = widths[2 * k];
        if (tg__make_slice(fn, &in, k, before, before + t->shape[k], 1, &v))
            return tg_last_error();
    }
    return tg__copy(fn, &v, t);
}

tg_tensor *tg_pad(const tg_tensor *t, const int64_t *widths, double value)
{
    const char *fn = "tg_pad";
    if (!t)
        return NULL;
    int64_t shape[TG_MAX_DIMS];
    if (tg__pad_shape(fn, t, widths, value, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, t->dtype, t->ndim, shape);
    if (out && tg__pad_into(fn, out, t, widths, value)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

/* ---- flip ---------------------------------------------------------------------------- */

tg_tensor *tg_flip(const tg_tensor *t, int axis)
{
    if (!t)
        return NULL;
    tg_tensor v;
    if (tg__make_slice("tg_flip", t, axis, TG_NONE, TG_NONE, -1, &v))
        return NULL;
    return tg__heap_view("tg_flip", &v);
}

/* ---- tile ---------------------------------------------------------------------------- */

int tg__tile_shape(const char *fn, const tg_tensor *t, int n,
                   const int64_t *reps, int *ndim, int64_t *shape)
{
    if (n < 0)
        return tg__fail(TG_ERR_VALUE, fn, "negative repetition count %d", n);
    if (n > TG_MAX_DIMS)
        return tg__fail(TG_ERR_VALUE, fn,
                        "%d repetitions (at most %d, one per dimension)", n,
                        TG_MAX_DIMS);
    if (n > 0 && !reps)
        return tg__fail(TG_ERR_NULL, fn, "reps is NULL");
    /* NumPy's rule: the shorter of t's shape and reps gets leading ones. */
    int d = t->ndim > n ? t->ndim : n;
    for (int j = 0; j < d; j++) {
        int js = j - (d - t->ndim), jr = j - (d - n);
        int64_t s = js >= 0 ? t->shape[js] : 1, r = jr >= 0 ? reps[jr] : 1;
        if (r < 0)
            return tg__fail(TG_ERR_VALUE, fn, "negative repetition %lld (reps[%d])",
                            (long long)r, jr);
        if (tg__mul_overflows(s, r, &shape[j]))
            return tg__fail(TG_ERR_OVERFLOW, fn,
                            "%lld elements repeated %lld times on axis %d "
                            "overflows", (long long)s, (long long)r, j);
    }
    *ndim = d;
    return TG_OK;
}

/* t is copied into the first block, which is then doubled along each
 * axis in turn, last axis first: a few copies per axis whatever the
 * repetitions, within the rank of the result. */
int tg__tile_into(const char *fn, tg_tensor *out, const tg_tensor *t)
{
    if (out->numel == 0)
        return TG_OK;
    int d = out->ndim, lead = d - t->ndim;
    int64_t s[TG_MAX_DIMS], cur[TG_MAX_DIMS];
    for (int j = 0; j < d; j++)
        cur[j] = s[j] = j < lead ? 1 : t->shape[j - lead];
    tg_tensor corner = box(out, s, out->offset);
    int rc = tg__copy(fn, &corner, t);
    for (int j = d - 1; j >= 0 && rc == TG_OK; j--) {
        /* Filled so far: [0, s_i) on the axes before j, everything after. */
        for (int64_t m = s[j]; m < out->shape[j] && rc == TG_OK;) {
            int64_t c = m < out->shape[j] - m ? m : out->shape[j] - m;
            cur[j] = c;
            tg_tensor src = box(out, cur, out->offset);
            tg_tensor dst = box(out, cur, out->offset + m * out->strides[j]);
            rc = tg__copy(fn, &dst, &src);
            m += c;
        }
        cur[j] = out->shape[j];
    }
    return rc;
}

tg_tensor *tg_tile(const tg_tensor *t, int n, const int64_t *reps)
{
    const char *fn = "tg_tile";
    if (!t)
        return NULL;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__tile_shape(fn, t, n, reps, &nd, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, t->dtype, nd, shape);
    if (out && tg__tile_into(fn, out, t)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

/* ---- repeat ---------------------------------------------------------------------------- */

int tg__repeat_shape(const char *fn, const tg_tensor *t, int axis,
                     int64_t repeats, int *k, int64_t *shape)
{
    if (tg__axis(fn, axis, t->ndim, k))
        return TG_ERR_AXIS;
    if (repeats < 0)
        return tg__fail(TG_ERR_VALUE, fn, "negative repeat count %lld",
                        (long long)repeats);
    memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    if (tg__mul_overflows(t->shape[*k], repeats, &shape[*k]))
        return tg__fail(TG_ERR_OVERFLOW, fn,
                        "%lld elements repeated %lld times on axis %d overflows",
                        (long long)t->shape[*k], (long long)repeats, *k);
    return TG_OK;
}

int tg__repeat_into(const char *fn, tg_tensor *out, const tg_tensor *t, int k,
                    int64_t repeats)
{
    if (out->numel == 0)
        return TG_OK;
    if (t->ndim < TG_MAX_DIMS) {
        /* One copy: out seen as (..., size_k, repeats, ...) in C order,
         * from t with a stride-0 axis of length repeats after axis k. */
        tg_tensor src = *t, dst = *out;
        int64_t sh[TG_MAX_DIMS];
        for (int j = 0, q = 0; j <= t->ndim; j++) {
            if (j == k + 1) {
                sh[j] = repeats;
                src.shape[j] = repeats;
                src.strides[j] = 0;
            } else {
                sh[j] = src.shape[j] = t->shape[q];
                src.strides[j] = t->strides[q];
                q++;
            }
        }
        src.ndim = t->ndim + 1;
        src.numel = out->numel;
        tg__init_header(&dst, out->dtype, t->ndim + 1, sh);
        dst.offset = out->offset;
        return tg__copy(fn, &dst, &src);
    }
    /* No room for the extra axis: one strided copy per repetition. */
    for (int64_t j = 0; j < repeats; j++) {
        tg_tensor dst;
        int rc = tg__make_slice(fn, out, k, j, TG_NONE, repeats, &dst);
        if (rc == TG_OK)
            rc = tg__copy(fn, &dst, t);
        if (rc)
            return rc;
    }
    return TG_OK;
}

tg_tensor *tg_repeat(const tg_tensor *t, int axis, int64_t repeats)
{
    const char *fn = "tg_repeat";
    if (!t)
        return NULL;
    int k;
    int64_t shape[TG_MAX_DIMS];
    if (tg__repeat_shape(fn, t, axis, repeats, &k, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, t->dtype, t->ndim, shape);
    if (out && tg__repeat_into(fn, out, t, k, repeats)) {
        tg_free(out);
        return NULL;
    }
    return out;
}
