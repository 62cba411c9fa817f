/* tensor.c - the tensor object: shapes and their checks, creation, views
 * that share storage, element access, copies and casts. Kernels live in
 * elementwise.c, reduce.c and matmul.c. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* ---- size arithmetic ---------------------------------------------------- */

bool tg__valid_dtype(tg_dtype dt) { return (unsigned)dt < TG_DTYPE_COUNT_; }

int tg__need_float(const char *fn, const char *what, tg_dtype dt)
{
    return tg__fail(TG_ERR_DTYPE, fn,
                    "%s is %s; this op needs a float dtype (tg_cast to float32 "
                    "or float64 first)", what, tg_dtype_name(dt));
}

/* The range of each integer dtype, as doubles (exact: powers of two). */
static void int_range(tg_dtype dt, double *lo, double *hi_excl)
{
    switch (dt) {
    case TG_INT32:
        *lo = -2147483648.0, *hi_excl = 2147483648.0;
        break;
    case TG_UINT8:
        *lo = 0.0, *hi_excl = 256.0;
        break;
    case TG_BOOL:
        *lo = 0.0, *hi_excl = 2.0;
        break;
    default:
        *lo = -9223372036854775808.0, *hi_excl = 9223372036854775808.0;
        break;
    }
}

bool tg__int_fits(tg_dtype dt, double v)
{
    double lo, hi;
    int_range(dt, &lo, &hi);
    return v >= lo && v < hi && v == floor(v);
}

int64_t tg__double_to_int(tg_dtype dt, double v)
{
    double lo, hi;
    int_range(dt, &lo, &hi);
    if (isnan(v))
        return 0;
    if (v < lo)
        return (int64_t)lo;
    if (v >= hi)
        return dt == TG_INT64 ? INT64_MAX : (int64_t)hi - 1;
    return (int64_t)v; /* in range: truncation toward zero, as C and NumPy */
}

bool tg_dtype_is_float(tg_dtype dt) { return tg__is_float(dt); }

tg_dtype tg_result_type(tg_dtype a, tg_dtype b)
{
    if (!tg__valid_dtype(a) || !tg__valid_dtype(b))
        return TG_FLOAT64;
    if (a == b)
        return a;
    bool fa = tg__is_float(a), fb = tg__is_float(b);
    if (fa && fb)
        return TG_FLOAT64;
    if (fa || fb) {
        tg_dtype f = fa ? a : b, i = fa ? b : a;
        /* float32 holds every bool and uint8 exactly, not int32 or int64 */
        return f == TG_FLOAT32 && (i == TG_BOOL || i == TG_UINT8) ? TG_FLOAT32
                                                                  : TG_FLOAT64;
    }
    /* integers: the wider one; bool < uint8 < int32 < int64 */
    static const int rank[TG_DTYPE_COUNT_] = {0, 0, 2, 3, 1, 0};
    return rank[a] >= rank[b] ? a : b;
}

char *tg__shape_fmt(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t used = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    int w = snprintf(buf, n, "(");
    used = w > 0 ? (size_t)w : 0;
    for (int k = 0; k < ndim && used < n; k++) {
        w = snprintf(buf + used, n - used, "%s%lld", k ? "," : "",
                     (long long)shape[k]);
        used += w > 0 ? (size_t)w : 0;
    }
    if (used < n)
        snprintf(buf + used, n - used, ndim == 1 ? ",)" : ")");
    return buf;
}

int tg__check_writable(const char *fn, const char *what, const tg_tensor *t)
{
    for (int k = 0; k < t->ndim; k++)
        if (t->strides[k] == 0 && t->shape[k] > 1)
            return tg__fail(TG_ERR_VALUE, fn,
                            "%s is a broadcast view (stride 0 on axis %d); "
                            "write into a contiguous tensor (tg_clone)",
                            what, k);
    return TG_OK;
}

int tg__check_shape(const char *fn, int ndim, const int64_t *shape, tg_dtype dt,
                    int64_t *numel)
{
    if (!tg__valid_dtype(dt))
        return tg__fail(TG_ERR_DTYPE, fn, "unknown dtype %d", (int)dt);
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return tg__fail(TG_ERR_VALUE, fn, "%d dimensions (at most %d allowed)",
                        ndim, TG_MAX_DIMS);
    if (ndim > 0 && !shape)
        return tg__fail(TG_ERR_NULL, fn, "shape is NULL");
    int64_t n = 1, span = 1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0)
            return tg__fail(TG_ERR_VALUE, fn, "negative size %lld in axis %d",
                            (long long)shape[k], k);
        /* span: the count ignoring zero sizes, which the strides must hold
         * even for an empty tensor (NumPy rejects such shapes too). */
        if (tg__mul_overflows(n, shape[k], &n) ||
            tg__mul_overflows(span, shape[k] ? shape[k] : 1, &span)) {
            char b[TG__SHAPE_BUF];
            return tg__fail(TG_ERR_OVERFLOW, fn,
                            "shape %s has too many elements",
                            tg__shape_fmt(ndim, shape, b, sizeof b));
        }
    }
    int64_t bytes;
    if (tg__mul_overflows(span, (int64_t)tg__dsize(dt), &bytes) ||
        (uint64_t)bytes > (uint64_t)SIZE_MAX / 2) {
        char b[TG__SHAPE_BUF];
        return tg__fail(TG_ERR_OVERFLOW, fn, "shape %s needs too many bytes",
                        tg__shape_fmt(ndim, shape, b, sizeof b));
    }
    *numel = n;
    return TG_OK;
}

int tg__axis(const char *fn, int axis, int ndim, int *out)
{
    if (axis < -ndim || axis >= ndim)
        return tg__fail(TG_ERR_AXIS, fn, "axis %d out of range for %d dimensions",
                        axis, ndim);
    *out = axis < 0 ? axis + ndim : axis;
    return TG_OK;
}

/* ---- headers and storage ----------------------------------------------- */

static void storage_release(tg__storage *s)
{
    if (s && --s->refs == 0) {
        tg__dealloc(s->data, s->nbytes);
        tg__dealloc(s, sizeof *s);
    }
}

tg_tensor *tg__new(const char *fn, tg_dtype dt, int ndim, const int64_t *shape)
{
    int64_t n;
    if (tg__check_shape(fn, ndim, shape, dt, &n))
        return NULL;
    tg_tensor *t = tg__alloc(sizeof *t);
    tg__storage *s = tg__alloc(sizeof *s);
    size_t nbytes = (size_t)n * tg__dsize(dt);
    void *data = nbytes ? tg__alloc(nbytes) : NULL;
    if (!t || !s || (nbytes && !data)) {
        tg__dealloc(data, nbytes);
        tg__dealloc(s, sizeof *s);
        tg__dealloc(t, sizeof *t);
        tg__oom(fn);
        return NULL;
    }
    s->data = data;
    s->nbytes = nbytes;
    s->refs = 1;
    s->version = 0;
    tg__init_header(t, dt, ndim, shape);
    t->storage = s;
    t->flags = 0;
    if (tg__tracing)
        tg__trace_made(fn, t, false);
    return t;
}

tg_tensor *tg__heap_view(const char *fn, const tg_tensor *view)
{
    tg_tensor *t = tg__alloc(sizeof *t);
    if (!t) {
        tg__oom(fn);
        return NULL;
    }
    *t = *view;
    t->flags = view->flags & TG__GRAD_VIEW;
    t->requires_grad = false;
    t->grad = NULL;
    t->node = NULL;
    t->tape_id = 0;
    t->name[0] = '\0';
    if (!(view->flags & TG__ARENA)) {
        t->storage->refs++;
    } else {
        /* A heap header over arena storage would outlive it: copy instead. */
        tg__dealloc(t, sizeof *t);
        return tg__clone(fn, view);
    }
    return t;
}

void tg_free(tg_tensor *t)
{
    if (!t || (t->flags & TG__ARENA))
        return;
    tg_free(t->grad); /* a leaf owns its gradient */
    storage_release(t->storage);
    tg__dealloc(t, sizeof *t);
}

/* ---- inspection --------------------------------------------------------- */

size_t tg_dtype_size(tg_dtype dt) { return tg__valid_dtype(dt) ? tg__dsize(dt) : 0; }

const char *tg_dtype_name(tg_dtype dt)
{
    static const char *const names[TG_DTYPE_COUNT_] = {
        "float32", "float64", "int32", "int64", "uint8", "bool"};
    return tg__valid_dtype(dt) ? names[dt] : "unknown";
}

tg_dtype tg_dtype_of(const tg_tensor *t) { return t ? t->dtype : TG_FLOAT64; }
int tg_ndim(const tg_tensor *t) { return t ? t->ndim : 0; }
const int64_t *tg_shape(const tg_tensor *t) { return t ? t->shape : NULL; }
const int64_t *tg_strides(const tg_tensor *t) { return t ? t->strides : NULL; }
int64_t tg_offset(const tg_tensor *t) { return t ? t->offset : 0; }
int64_t tg_numel(const tg_tensor *t) { return t ? t->numel : 0; }

int64_t tg_size(const tg_tensor *t, int axis)
{
    int k;
    if (!t || tg__axis("tg_size", axis, t->ndim, &k))
        return -1;
    return t->shape[k];
}

bool tg_is_contiguous(const tg_tensor *t) { return t && tg__contiguous(t); }

void *tg_data(const tg_tensor *t)
{
    if (!t || !t->storage->data)
        return NULL;
    return (char *)t->storage->data + (size_t)t->offset * tg__dsize(t->dtype);
}

bool tg_shares_storage(const tg_tensor *a, const tg_tensor *b)
{
    return a && b && a->storage == b->storage;
}

char *tg_shape_str(const tg_tensor *t, char *buf, size_t n)
{
    if (!t) {
        if (n)
            snprintf(buf, n, "(null)");
        return buf;
    }
    return tg__shape_fmt(t->ndim, t->shape, buf, n);
}

int tg_set_name(tg_tensor *t, const char *name)
{
    if (!t)
        return tg__fail(TG_ERR_NULL, "tg_set_name", "tensor is NULL");
    size_t len = name ? strlen(name) : 0;
    if (len >= TG_NAME_MAX)
        return tg__fail(TG_ERR_VALUE, "tg_set_name",
                        "name of %zu bytes is too long; at most %d fit",
                        len, TG_NAME_MAX - 1);
    memmove(t->name, name ? name : "", len + 1); /* name may be t->name */
    return TG_OK;
}

const char *tg_name(const tg_tensor *t) { return t ? t->name : ""; }

/* ---- creation ----------------------------------------------------------- */

tg_tensor *tg_empty(tg_dtype dt, int ndim, const int64_t *shape)
{
    return tg__new("tg_empty", dt, ndim, shape);
}

/* The check of a fill value for dt: any value for a float, an exact
 * in-range integer for an integer dtype (bool takes 0 or 1 too: NumPy's
 * bool(v) would take any number, but a mask filled with 7 is a bug). */
static int check_fill_value(const char *fn, tg_dtype dt, double v)
{
    if (tg__is_float(dt) || tg__int_fits(dt, v))
        return TG_OK;
    return tg__fail(TG_ERR_VALUE, fn, "value %.17g is not a %s value", v,
                    tg_dtype_name(dt));
}

/* Every element of the contiguous t set to v (already checked). */
static void fill_dense(tg_tensor *t, double v)
{
    void *p = tg__data(t);
    int64_t n = t->numel;
    switch (t->dtype) {
    case TG_FLOAT64:
        for (int64_t i = 0; i < n; i++)
            ((double *)p)[i] = v;
        break;
    case TG_FLOAT32: {
        float f = (float)v;
        for (int64_t i = 0; i < n; i++)
            ((float *)p)[i] = f;
        break;
    }
    case TG_INT32: {
        int32_t x = (int32_t)tg__double_to_int(TG_INT32, v);
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)p)[i] = x;
        break;
    }
    case TG_INT64: {
        int64_t x = tg__double_to_int(TG_INT64, v);
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)p)[i] = x;
        break;
    }
    default:
        memset(p, (int)tg__double_to_int(t->dtype, v), (size_t)n);
        break;
    }
}

static tg_tensor *new_filled(const char *fn, tg_dtype dt, int ndim,
                             const int64_t *shape, double v)
{
    if (tg__valid_dtype(dt) && check_fill_value(fn, dt, v))
        return NULL;
    tg_tensor *t = tg__new(fn, dt, ndim, shape);
    if (t && t->numel)
        fill_dense(t, v);
    return t;
}

tg_tensor *tg_zeros(tg_dtype dt, int ndim, const int64_t *shape)
{
    return new_filled("tg_zeros", dt, ndim, shape, 0.0);
}

tg_tensor *tg_ones(tg_dtype dt, int ndim, const int64_t *shape)
{
    return new_filled("tg_ones", dt, ndim, shape, 1.0);
}

tg_tensor *tg_full(tg_dtype dt, int ndim, const int64_t *shape, double value)
{
    return new_filled("tg_full", dt, ndim, shape, value);
}

tg_tensor *tg_scalar(tg_dtype dt, double v)
{
    return new_filled("tg_scalar", dt, 0, NULL, v);
}

tg_tensor *tg_from_array(tg_dtype dt, int ndim, const int64_t *shape,
                         const void *data)
{
    tg_tensor *t = tg__new("tg_from_array", dt, ndim, shape);
    if (!t)
        return NULL;
    if (t->numel && !data) {
        tg_free(t);
        tg__fail(TG_ERR_NULL, "tg_from_array", "data is NULL");
        return NULL;
    }
    if (t->storage->nbytes)
        memcpy(t->storage->data, data, t->storage->nbytes);
    if (dt == TG_BOOL) { /* bytes as C's bool: any non-zero one is true */
        uint8_t *p = t->storage->data;
        for (int64_t i = 0; i < t->numel; i++)
            p[i] = p[i] != 0;
    }
    return t;
}

tg_tensor *tg_arange(tg_dtype dt, double start, double stop, double step)
{
    const char *fn = "tg_arange";
    if (step == 0 || isnan(step) || isnan(start) || isnan(stop) ||
        isinf(start) || isinf(stop) || isinf(step)) {
        tg__fail(TG_ERR_VALUE, fn, "needs finite start, stop and a non-zero step");
        return NULL;
    }
    double len = ceil((stop - start) / step);
    if (!(len < 9.0e15)) {
        tg__fail(TG_ERR_OVERFLOW, fn, "too many elements");
        return NULL;
    }
    int64_t n = len > 0 ? (int64_t)len : 0;
    if (dt == TG_BOOL && n > 2) { /* NumPy: no more than two bools */
        tg__fail(TG_ERR_VALUE, fn, "a bool range holds at most 2 values, not %lld",
                 (long long)n);
        return NULL;
    }
    if (tg__valid_dtype(dt) && !tg__is_float(dt) && n > 0 &&
        (check_fill_value(fn, dt, start) ||
         check_fill_value(fn, dt, start + (double)(n - 1) * step)))
        return NULL;
    tg_tensor *t = tg__new(fn, dt, 1, &n);
    if (!t)
        return NULL;
    /* NumPy computes the first two values and extends by their difference. */
    double delta = (start + step) - start;
    for (int64_t i = 0; i < n; i++) {
        double v = i == 0 ? start : i == 1 ? start + step : start + (double)i * delta;
        tg__store(t, i, v);
    }
    return t;
}

tg_tensor *tg_linspace(tg_dtype dt, double start, double stop, int64_t num)
{
    const char *fn = "tg_linspace";
    if (num < 0) {
        tg__fail(TG_ERR_VALUE, fn, "number of samples %lld is negative",
                 (long long)num);
        return NULL;
    }
    if (tg__valid_dtype(dt) && !tg__is_float(dt)) {
        tg__need_float(fn, "dtype", dt);
        return NULL;
    }
    tg_tensor *t = tg__new(fn, dt, 1, &num);
    if (!t)
        return NULL;
    /* NumPy: step = (stop - start) / (num - 1); y[i] = i * step + start; the
     * last sample is set to stop exactly. */
    double div = (double)(num - 1);
    double delta = stop - start;
    double step = num > 1 ? delta / div : 0.0;
    for (int64_t i = 0; i < num; i++) {
        double v;
        if (num > 1 && step == 0)
            v = ((double)i / div) * delta + start;
        else
            v = (double)i * step + start;
        tg__store(t, i, v);
    }
    if (num > 1)
        tg__store(t, num - 1, stop);
    return t;
}

tg_tensor *tg_eye(tg_dtype dt, int64_t rows, int64_t cols)
{
    tg_tensor *t = new_filled("tg_eye", dt, 2, (const int64_t[]){rows, cols}, 0.0);
    if (!t)
        return NULL;
    int64_t n = rows < cols ? rows : cols;
    for (int64_t i = 0; i < n; i++)
        tg__store(t, i * cols + i, 1.0);
    return t;
}

/* ---- views ---------------------------------------------------------------- */

static void copy_geometry(tg_tensor *out, const tg_tensor *t)
{
    *out = *t;
    /* a view of a tensor that requires a gradient is marked, so that the
     * tape can refuse it rather than silently not reach that tensor */
    out->flags = (t->flags & TG__ARENA) |
                 (t->requires_grad || (t->flags & TG__GRAD_VIEW) ? TG__GRAD_VIEW : 0);
    out->requires_grad = false;
    out->grad = NULL;
    out->node = NULL;
    out->tape_id = 0;
    out->name[0] = '\0';
}

/* NumPy's rule for reshaping without a copy: strides for the new shape
 * that step through t's elements in C order, or false when t's layout
 * cannot be described that way. Size-1 axes are dropped; then the old and
 * the new sizes are cut into the shortest groups with equal products. A
 * group of old axes must be contiguous among itself (each stride the next
 * one's stride times its size), and then the new axes of the group get
 * strides from its innermost old stride outwards. */
static bool nocopy_strides(const tg_tensor *t, int ndim, const int64_t *shape,
                           int64_t *strides)
{
    int64_t od[TG_MAX_DIMS], os[TG_MAX_DIMS];
    int on = 0;
    for (int k = 0; k < t->ndim; k++)
        if (t->shape[k] != 1) {
            od[on] = t->shape[k];
            os[on++] = t->strides[k];
        }
    int64_t nd[TG_MAX_DIMS];
    int nidx[TG_MAX_DIMS], nn = 0;
    for (int k = 0; k < ndim; k++)
        if (shape[k] != 1) {
            nd[nn] = shape[k];
            nidx[nn++] = k;
        }
    int oi = 0, ni = 0;
    while (oi < on && ni < nn) {
        int oj = oi + 1, nj = ni + 1;
        int64_t op = od[oi], np = nd[ni];
        while (op != np) {
            if (np < op)
                np *= nd[nj++];
            else
                op *= od[oj++];
        }
        for (int k = oi; k < oj - 1; k++)
            if (os[k] != od[k + 1] * os[k + 1])
                return false;
        int64_t st = os[oj - 1];
        for (int k = nj - 1; k >= ni; k--) {
            strides[nidx[k]] = st;
            st *= nd[k];
        }
        oi = oj;
        ni = nj;
    }
    /* Size-1 axes: any stride walks them; use the one to their right as
     * if contiguous, so that a view stays as regular as it can. */
    int64_t right = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        if (shape[k] == 1)
            strides[k] = right;
        else
            right = strides[k] * shape[k];
    }
    return true;
}

int tg__make_reshape(const char *fn, const tg_tensor *t, int ndim,
                     const int64_t *shape, tg_tensor *out, bool *is_view)
{
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return tg__fail(TG_ERR_VALUE, fn, "%d dimensions (at most %d allowed)",
                        ndim, TG_MAX_DIMS);
    if (ndim > 0 && !shape)
        return tg__fail(TG_ERR_NULL, fn, "shape is NULL");
    int64_t sh[TG_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int k = 0; k < ndim; k++) {
        sh[k] = shape[k];
        if (shape[k] == -1) {
            if (infer >= 0)
                return tg__fail(TG_ERR_VALUE, fn, "more than one size is -1");
            infer = k;
        } else if (shape[k] < 0) {
            return tg__fail(TG_ERR_VALUE, fn, "negative size %lld in axis %d",
                            (long long)shape[k], k);
        } else if (tg__mul_overflows(known, shape[k], &known)) {
            return tg__fail(TG_ERR_OVERFLOW, fn, "new shape has too many elements");
        }
    }
    if (infer >= 0) {
        if (known == 0 || t->numel % known != 0) {
            char b1[TG__SHAPE_BUF];
            return tg__fail(TG_ERR_SHAPE, fn,
                            "cannot infer -1 reshaping %s (%lld elements)",
                            tg__shape_fmt(t->ndim, t->shape, b1, sizeof b1),
                            (long long)t->numel);
        }
        sh[infer] = t->numel / known;
        known = t->numel;
    }
    if (known != t->numel) {
        char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
        return tg__fail(TG_ERR_SHAPE, fn, "cannot reshape %s into %s",
                        tg__shape_fmt(t->ndim, t->shape, b1, sizeof b1),
                        tg__shape_fmt(ndim, sh, b2, sizeof b2));
    }
    int64_t numel;
    if (tg__check_shape(fn, ndim, sh, t->dtype, &numel))
        return tg_last_error();
    copy_geometry(out, t);
    int64_t off = t->offset;
    tg__init_header(out, t->dtype, ndim, sh);
    out->offset = off;
    /* A view when t is contiguous (the C strides just set) or when its
     * strides can walk the new shape; a zero-size tensor has nothing to
     * walk. Otherwise the caller copies into out's C-order layout. */
    int64_t st[TG_MAX_DIMS];
    *is_view = numel == 0 || tg_is_contiguous(t);
    if (!*is_view && nocopy_strides(t, ndim, sh, st)) {
        memcpy(out->strides, st, (size_t)ndim * sizeof *st);
        *is_view = true;
    }
    return TG_OK;
}

tg_tensor *tg_reshape(const tg_tensor *t, int ndim, const int64_t *shape)
{
    if (!t)
        return NULL;
    tg_tensor v;
    bool is_view;
    if (tg__make_reshape("tg_reshape", t, ndim, shape, &v, &is_view))
        return NULL;
    if (is_view)
        return tg__heap_view("tg_reshape", &v);
    tg_tensor *c = tg__new("tg_reshape", t->dtype, ndim, v.shape);
    if (!c)
        return NULL;
    /* Copy in C order: view the copy with t's shape and copy elementwise. */
    tg_tensor cv = *c;
    tg__init_header(&cv, t->dtype, t->ndim, t->shape);
    cv.storage = c->storage;
    if (tg__copy("tg_reshape", &cv, t)) {
        tg_free(c);
        return NULL;
    }
    return c;
}

int tg__make_permute(const char *fn, const tg_tensor *t, const int *axes,
                     tg_tensor *out)
{
    if (t->ndim > 0 && !axes)
        return tg__fail(TG_ERR_NULL, fn, "axes is NULL");
    bool seen[TG_MAX_DIMS] = {false};
    int ax[TG_MAX_DIMS];
    for (int k = 0; k < t->ndim; k++) {
        if (tg__axis(fn, axes[k], t->ndim, &ax[k]))
            return TG_ERR_AXIS;
        if (seen[ax[k]])
            return tg__fail(TG_ERR_AXIS, fn, "axis %d repeated in permutation",
                            axes[k]);
        seen[ax[k]] = true;
    }
    copy_geometry(out, t);
    for (int k = 0; k < t->ndim; k++) {
        out->shape[k] = t->shape[ax[k]];
        out->strides[k] = t->strides[ax[k]];
    }
    return TG_OK;
}

tg_tensor *tg_permute(const tg_tensor *t, const int *axes)
{
    if (!t)
        return NULL;
    tg_tensor v;
    if (tg__make_permute("tg_permute", t, axes, &v))
        return NULL;
    return tg__heap_view("tg_permute", &v);
}

int tg__make_transpose(const char *fn, const tg_tensor *t, int a0, int a1,
                       tg_tensor *out)
{
    int k0, k1;
    if (tg__axis(fn, a0, t->ndim, &k0) || tg__axis(fn, a1, t->ndim, &k1))
        return TG_ERR_AXIS;
    copy_geometry(out, t);
    out->shape[k0] = t->shape[k1];
    out->shape[k1] = t->shape[k0];
    out->strides[k0] = t->strides[k1];
    out->strides[k1] = t->strides[k0];
    return TG_OK;
}

tg_tensor *tg_transpose(const tg_tensor *t, int axis0, int axis1)
{
    if (!t)
        return NULL;
    tg_tensor v;
    if (tg__make_transpose("tg_transpose", t, axis0, axis1, &v))
        return NULL;
    return tg__heap_view("tg_transpose", &v);
}

/* Python's rule for a bound of a[start:stop:step] on an axis of size n
 * (its slice.indices): TG_NONE is the omitted bound, a negative bound
 * counts from the end, and what is still outside the axis is clamped to
 * it: to [0, n] going up, to [-1, n-1] going down (-1: before index 0). */
static int64_t slice_bound(int64_t b, int64_t n, bool down, bool is_start)
{
    if (b == TG_NONE)
        return is_start ? (down ? n - 1 : 0) : (down ? -1 : n);
    if (b < 0) {
        b += n; /* no overflow: b > INT64_MIN and n >= 0 */
        if (b < 0)
            b = down ? -1 : 0;
    } else if (b >= n) {
        b = down ? n - 1 : n;
    }
    return b;
}

int tg__make_slice(const char *fn, const tg_tensor *t, int axis, int64_t start,
                   int64_t stop, int64_t step, tg_tensor *out)
{
    int k;
    if (tg__axis(fn, axis, t->ndim, &k))
        return TG_ERR_AXIS;
    if (step == 0)
        return tg__fail(TG_ERR_VALUE, fn, "slice step is 0");
    int64_t n = t->shape[k];
    bool down = step < 0;
    int64_t first = slice_bound(start, n, down, true);
    int64_t end = slice_bound(stop, n, down, false);
    /* Both in [-1, n]: the differences cannot overflow. -step overflows
     * for INT64_MIN: divide in unsigned arithmetic. */
    int64_t len = 0;
    if (!down && first < end)
        len = (end - first - 1) / step + 1;
    else if (down && end < first)
        len = (int64_t)((uint64_t)(first - end - 1) / ((uint64_t)0 - (uint64_t)step) + 1);
    copy_geometry(out, t);
    if (len > 0)
        out->offset = t->offset + first * t->strides[k];
    out->shape[k] = len;
    out->strides[k] = len > 1 ? t->strides[k] * step : t->strides[k];
    out->numel = 1;
    for (int j = 0; j < t->ndim; j++)
        out->numel *= out->shape[j];
    return TG_OK;
}

tg_tensor *tg_slice(const tg_tensor *t, int axis, int64_t start, int64_t stop,
                    int64_t step)
{
    if (!t)
        return NULL;
    tg_tensor v;
    if (tg__make_slice("tg_slice", t, axis, start, stop, step, &v))
        return NULL;
    return tg__heap_view("tg_slice", &v);
}

tg_tensor *tg_select(const tg_tensor *t, int axis, int64_t index)
{
    const char *fn = "tg_select";
    if (!t)
        return NULL;
    int k;
    if (tg__axis(fn, axis, t->ndim, &k))
        return NULL;
    int64_t n = t->shape[k];
    int64_t i = index < 0 ? index + n : index;
    if (i < 0 || i >= n) {
        tg__fail(TG_ERR_INDEX, fn, "index %lld out of range for axis %d of size %lld",
                 (long long)index, k, (long long)n);
        return NULL;
    }
    tg_tensor v;
    copy_geometry(&v, t);
    v.offset = t->offset + i * t->strides[k];
    for (int j = k; j < t->ndim - 1; j++) {
        v.shape[j] = t->shape[j + 1];
        v.strides[j] = t->strides[j + 1];
    }
    v.ndim = t->ndim - 1;
    v.shape[v.ndim] = 1;
    v.strides[v.ndim] = 0;
    v.numel = t->numel / n;
    return tg__heap_view(fn, &v);
}

tg_tensor *tg_unsqueeze(const tg_tensor *t, int axis)
{
    const char *fn = "tg_unsqueeze";
    if (!t)
        return NULL;
    if (t->ndim >= TG_MAX_DIMS) {
        tg__fail(TG_ERR_VALUE, fn, "tensor already has %d dimensions", TG_MAX_DIMS);
        return NULL;
    }
    int k;
    if (tg__axis(fn, axis, t->ndim + 1, &k))
        return NULL;
    tg_tensor v;
    copy_geometry(&v, t);
    for (int j = t->ndim; j > k; j--) {
        v.shape[j] = t->shape[j - 1];
        v.strides[j] = t->strides[j - 1];
    }
    v.shape[k] = 1;
    v.strides[k] = k + 1 <= t->ndim && k < t->ndim ? t->strides[k] * t->shape[k] : 1;
    v.ndim = t->ndim + 1;
    return tg__heap_view(fn, &v);
}

tg_tensor *tg_squeeze(const tg_tensor *t, int axis)
{
    const char *fn = "tg_squeeze";
    if (!t)
        return NULL;
    int k;
    if (tg__axis(fn, axis, t->ndim, &k))
        return NULL;
    if (t->shape[k] != 1) {
        tg__fail(TG_ERR_SHAPE, fn, "axis %d has size %lld, not 1", k,
                 (long long)t->shape[k]);
        return NULL;
    }
    return tg_select(t, k, 0);
}

int tg__make_expand(const char *fn, const tg_tensor *t, int ndim,
                    const int64_t *shape, tg_tensor *out)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return tg__fail(TG_ERR_VALUE, fn, "%d dimensions (at most %d allowed)",
                        ndim, TG_MAX_DIMS);
    if (ndim > 0 && !shape)
        return tg__fail(TG_ERR_NULL, fn, "shape is NULL");
    if (ndim < t->ndim)
        return tg__fail(TG_ERR_SHAPE, fn, "cannot broadcast %s to %s",
                        tg__shape_fmt(t->ndim, t->shape, b1, sizeof b1),
                        tg__shape_fmt(ndim, shape, b2, sizeof b2));
    int64_t numel;
    if (tg__check_shape(fn, ndim, shape, t->dtype, &numel))
        return tg_last_error();
    copy_geometry(out, t);
    int lead = ndim - t->ndim;
    for (int k = ndim - 1; k >= 0; k--) {
        int j = k - lead;
        if (j >= 0 && t->shape[j] == shape[k]) {
            out->shape[k] = shape[k];
            out->strides[k] = t->strides[j];
        } else if (j < 0 || t->shape[j] == 1) {
            out->shape[k] = shape[k];
            out->strides[k] = 0;
        } else {
            return tg__fail(TG_ERR_SHAPE, fn, "cannot broadcast %s to %s",
                            tg__shape_fmt(t->ndim, t->shape, b1, sizeof b1),
                            tg__shape_fmt(ndim, shape, b2, sizeof b2));
        }
    }
    out->ndim = ndim;
    out->numel = numel;
    return TG_OK;
}

tg_tensor *tg_expand(const tg_tensor *t, int ndim, const int64_t *shape)
{
    if (!t)
        return NULL;
    tg_tensor v;
    if (tg__make_expand("tg_expand", t, ndim, shape, &v))
        return NULL;
    return tg__heap_view("tg_expand", &v);
}

tg_tensor *tg__clone(const char *fn, const tg_tensor *t)
{
    tg_tensor *c = tg__new(fn, t->dtype, t->ndim, t->shape);
    if (c && tg__copy(fn, c, t)) {
        tg_free(c);
        return NULL;
    }
    return c;
}

tg_tensor *tg_clone(const tg_tensor *t)
{
    return t ? tg__clone("tg_clone", t) : NULL;
}

tg_tensor *tg_contiguous(const tg_tensor *t)
{
    if (!t)
        return NULL;
    if (tg_is_contiguous(t) && !(t->flags & TG__ARENA))
        return tg__heap_view("tg_contiguous", t);
    return tg__clone("tg_contiguous", t);
}

/* Calls f(pos) for every element's storage position, in C order. */
#define FOR_EACH_POS(t, pos, body)                                             \
    do {                                                                       \
        int64_t idx_[TG_MAX_DIMS] = {0};                                       \
        int64_t pos = (t)->offset;                                             \
        for (int64_t i_ = 0; i_ < (t)->numel; i_++) {                          \
            body;                                                              \
            for (int k_ = (t)->ndim - 1; k_ >= 0; k_--) {                      \
                pos += (t)->strides[k_];                                       \
                if (++idx_[k_] < (t)->shape[k_])                               \
                    break;                                                     \
                pos -= (t)->strides[k_] * (t)->shape[k_];                      \
                idx_[k_] = 0;                                                  \
            }                                                                  \
        }                                                                      \
    } while (0)

/* One element of t at pos into out at opos, converted: floats round to
 * nearest, integers wrap (as NumPy's astype), a float into an integer
 * truncates toward zero and must fit. false for a float that does not. */
static bool cast_element(tg_tensor *out, int64_t opos, const tg_tensor *t,
                         int64_t pos)
{
    if (tg__is_float(out->dtype)) {
        tg__store(out, opos, tg__load(t, pos));
        return true;
    }
    if (!tg__is_float(t->dtype)) {
        tg__store_int(out, opos, tg__load_int(t, pos));
        return true;
    }
    double v = tg__load(t, pos);
    if (out->dtype == TG_BOOL) {
        tg__store_int(out, opos, v != 0); /* NaN is true, as NumPy */
        return true;
    }
    if (!tg__int_fits(out->dtype, trunc(v)))
        return false;
    tg__store_int(out, opos, (int64_t)v);
    return true;
}

int tg__cast_into(const char *fn, tg_tensor *out, const tg_tensor *t)
{
    if (!tg__same_shape(out, t)) {
        char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
        return tg__fail(TG_ERR_SHAPE, fn, "out has shape %s, expected %s",
                        tg__shape_fmt(out->ndim, out->shape, b1, sizeof b1),
                        tg__shape_fmt(t->ndim, t->shape, b2, sizeof b2));
    }
    if (out->dtype == t->dtype)
        return tg__copy(fn, out, t);
    /* A float into an integer must fit: checked before anything is written,
     * so a refused cast leaves out as it was. */
    if (tg__is_float(t->dtype) && !tg__is_float(out->dtype) && out->dtype != TG_BOOL) {
        int64_t i = 0;
        FOR_EACH_POS(t, pos, {
            double v = tg__load(t, pos);
            if (!tg__int_fits(out->dtype, trunc(v)))
                return tg__fail(TG_ERR_VALUE, fn,
                                "element %lld is %.17g, which %s cannot hold",
                                (long long)i, v, tg_dtype_name(out->dtype));
            i++;
        });
    }
    /* out is written in C order through its own strides. */
    int64_t idx[TG_MAX_DIMS] = {0};
    int64_t opos = out->offset;
    FOR_EACH_POS(t, pos, {
        cast_element(out, opos, t, pos);
        for (int k = out->ndim - 1; k >= 0; k--) {
            opos += out->strides[k];
            if (++idx[k] < out->shape[k])
                break;
            opos -= out->strides[k] * out->shape[k];
            idx[k] = 0;
        }
    });
    tg__touch(out);
    return TG_OK;
}

tg_tensor *tg_cast(const tg_tensor *t, tg_dtype dt)
{
    const char *fn = "tg_cast";
    if (!t)
        return NULL;
    tg_tensor *c = tg__new(fn, dt, t->ndim, t->shape);
    if (c && tg__cast_into(fn, c, t)) {
        tg_free(c);
        return NULL;
    }
    return c;
}

/* ---- element access ------------------------------------------------------- */

static int element_pos(const char *fn, const tg_tensor *t, const int64_t *index,
                       int64_t *pos)
{
    if (!t)
        return tg__fail(TG_ERR_NULL, fn, "tensor is NULL");
    if (t->ndim > 0 && !index)
        return tg__fail(TG_ERR_NULL, fn, "index is NULL");
    int64_t p = t->offset;
    for (int k = 0; k < t->ndim; k++) {
        int64_t i = index[k] < 0 ? index[k] + t->shape[k] : index[k];
        if (i < 0 || i >= t->shape[k])
            return tg__fail(TG_ERR_INDEX, fn,
                            "index %lld out of range for axis %d of size %lld",
                            (long long)index[k], k, (long long)t->shape[k]);
        p += i * t->strides[k];
    }
    *pos = p;
    return TG_OK;
}

int tg_get(const tg_tensor *t, const int64_t *index, double *out)
{
    int64_t pos;
    if (!out)
        return tg__fail(TG_ERR_NULL, "tg_get", "out is NULL");
    int rc = element_pos("tg_get", t, index, &pos);
    if (rc)
        return rc;
    *out = tg__load(t, pos);
    return TG_OK;
}

int tg_set(tg_tensor *t, const int64_t *index, double value)
{
    int64_t pos;
    int rc = element_pos("tg_set", t, index, &pos);
    if (rc == TG_OK)
        rc = tg__check_writable("tg_set", "tensor", t);
    if (rc == TG_OK)
        rc = check_fill_value("tg_set", t->dtype, value);
    if (rc)
        return rc;
    tg__store(t, pos, value);
    tg__touch(t);
    return TG_OK;
}

int tg_item(const tg_tensor *t, double *out)
{
    if (!t || !out)
        return tg__fail(TG_ERR_NULL, "tg_item", "%s is NULL", t ? "out" : "tensor");
    if (t->numel != 1) {
        char b[TG__SHAPE_BUF];
        return tg__fail(TG_ERR_SHAPE, "tg_item",
                        "tensor of shape %s has %lld elements, not 1",
                        tg__shape_fmt(t->ndim, t->shape, b, sizeof b),
                        (long long)t->numel);
    }
    *out = tg__load(t, t->offset);
    return TG_OK;
}

/* The writing part of tg_fill, for a checked t: what a plan repeats. */
static void fill_values(tg_tensor *t, double value)
{
    if (!tg__contiguous(t)) {
        FOR_EACH_POS(t, pos, tg__store(t, pos, value));
    } else if (t->dtype != TG_FLOAT64) {
        fill_dense(t, value);
    } else { /* zero_grad's case, contiguous float64, is short */
        double *p = tg__data(t);
        for (int64_t i = 0; i < t->numel; i++)
            p[i] = value;
    }
}

static int run_fill(tg__step *e)
{
    fill_values(&e->out, e->s);
    return TG_OK;
}

int tg_fill(tg_tensor *t, double value)
{
    if (!t)
        return tg__fail(TG_ERR_NULL, "tg_fill", "tensor is NULL");
    if (t->numel == 0)
        return TG_OK;
    /* A contiguous tensor never repeats an element: only the others can
     * be broadcast views. */
    bool dense = tg__contiguous(t);
    if (!dense || t->dtype != TG_FLOAT64) {
        if (!dense && tg__check_writable("tg_fill", "tensor", t))
            return TG_ERR_VALUE;
        if (check_fill_value("tg_fill", t->dtype, value))
            return TG_ERR_VALUE;
    }
    if (tg__tracing)
        tg__trace_input(t);
    TG__TRACED(fill_values(t, value), .run = run_fill, .kind = TG__STEP_FILL, .s = value, .out = *t);
    tg__touch(t);
    return TG_OK;
}

int tg_copy(tg_tensor *dst, const tg_tensor *src)
{
    if (!dst || !src)
        return tg__fail(TG_ERR_NULL, "tg_copy", "%s is NULL", dst ? "src" : "dst");
    tg__trace_inputs(dst, src, NULL);
    return tg__copy("tg_copy", dst, src);
}
