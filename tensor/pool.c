/* pool.c - the kernels of 2-d pooling over NCHW tensors (float32 and
 * float64, inputs of any strides, results fresh and contiguous): max pool
 * with the positions of its maxima, the scatter and gather along those
 * positions, and window means (fixed or adaptive windows) with their
 * adjoint. autograd/pool.c puts them on the tape. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* ---- argument checks and result shapes ------------------------------------------ */

static int check_input(const char *fn, const tg_tensor *x)
{
    char b[TG__SHAPE_BUF];
    if (!tg__is_float(x->dtype))
        return tg__fail(TG_ERR_DTYPE, fn,
                        "x is %s; this op needs a float dtype (%s to float32 or "
                        "float64 first)", tg_dtype_name(x->dtype), tg__cast_hint(fn));
    if (x->ndim != 4)
        return tg__fail(TG_ERR_SHAPE, fn,
                        "x has shape %s; expected (batch, channels, height, width)",
                        tg__shape_fmt(x->ndim, x->shape, b, sizeof b));
    if (x->shape[2] == 0 || x->shape[3] == 0)
        return tg__fail(TG_ERR_SHAPE, fn,
                        "x has shape %s; its height and width must be positive",
                        tg__shape_fmt(x->ndim, x->shape, b, sizeof b));
    return TG_OK;
}

int tg__pool2d_shape(const char *fn, const tg_tensor *x, const int64_t *kernel,
                     const int64_t *stride, const int64_t *padding, tg__pool2d *p,
                     int64_t *shape)
{
    if (!kernel)
        return tg__fail(TG_ERR_NULL, fn, "kernel is NULL");
    int rc = check_input(fn, x);
    if (rc)
        return rc;
    for (int k = 0; k < 2; k++) {
        p->kernel[k] = kernel[k];
        p->stride[k] = stride ? stride[k] : kernel[k];
        p->padding[k] = padding ? padding[k] : 0;
    }
    const int64_t *kk = p->kernel, *s = p->stride, *pd = p->padding;
    if (kk[0] <= 0 || kk[1] <= 0)
        return tg__fail(TG_ERR_VALUE, fn, "kernel (%lld,%lld) must be positive",
                        (long long)kk[0], (long long)kk[1]);
    if (s[0] <= 0 || s[1] <= 0)
        return tg__fail(TG_ERR_VALUE, fn, "stride (%lld,%lld) must be positive",
                        (long long)s[0], (long long)s[1]);
    if (pd[0] < 0 || pd[1] < 0)
        return tg__fail(TG_ERR_VALUE, fn, "padding (%lld,%lld) must not be negative",
                        (long long)pd[0], (long long)pd[1]);
    if (pd[0] > kk[0] / 2 || pd[1] > kk[1] / 2)
        return tg__fail(TG_ERR_VALUE, fn,
                        "padding (%lld,%lld) is more than half the kernel (%lld,%lld)",
                        (long long)pd[0], (long long)pd[1], (long long)kk[0],
                        (long long)kk[1]);
    /* kernel - 2 padding is in [0, kernel]: no overflow, whatever the sizes */
    int64_t span[2] = {kk[0] - 2 * pd[0], kk[1] - 2 * pd[1]};
    if (span[0] > x->shape[2] || span[1] > x->shape[3])
        return tg__fail(TG_ERR_SHAPE, fn,
                        "kernel (%lld,%lld) is larger than the input (%lld,%lld) "
                        "with padding (%lld,%lld)",
                        (long long)kk[0], (long long)kk[1], (long long)x->shape[2],
                        (long long)x->shape[3], (long long)pd[0], (long long)pd[1]);
    shape[0] = x->shape[0];
    shape[1] = x->shape[1];
    shape[2] = (x->shape[2] - span[0]) / s[0] + 1;
    shape[3] = (x->shape[3] - span[1]) / s[1] + 1;
    return TG_OK;
}

int tg__adaptive_pool2d_shape(const char *fn, const tg_tensor *x, int64_t oh,
                              int64_t ow, int64_t *shape)
{
    int rc = check_input(fn, x);
    if (rc)
        return rc;
    if (oh <= 0 || ow <= 0)
        return tg__fail(TG_ERR_VALUE, fn, "output size (%lld,%lld) must be positive",
                        (long long)oh, (long long)ow);
    /* the windows' bounds are computed from i H and i W for i <= oh, ow */
    int64_t prod;
    if (tg__mul_overflows(oh, x->shape[2], &prod) ||
        tg__mul_overflows(ow, x->shape[3], &prod))
        return tg__fail(TG_ERR_OVERFLOW, fn,
                        "output size (%lld,%lld) times the input's (%lld,%lld) overflows",
                        (long long)oh, (long long)ow, (long long)x->shape[2],
                        (long long)x->shape[3]);
    shape[0] = x->shape[0];
    shape[1] = x->shape[1];
    shape[2] = oh;
    shape[3] = ow;
    return TG_OK;
}

/* ---- windows ---------------------------------------------------------------------- */

/* The input rows [*lo, *hi) of output row i along axis ax (0 height, 1
 * width) of an input of n and an output of on: a fixed window clipped to
 * the input (p not NULL), else the adaptive one. Returns the window's
 * element count along the axis for the mean: the kernel for a fixed window
 * (count_include_pad), the clipped length for an adaptive one. */
static inline int64_t window(const tg__pool2d *p, int ax, int64_t i, int64_t n,
                             int64_t on, int64_t *lo, int64_t *hi)
{
    if (p) {
        int64_t start = i * p->stride[ax] - p->padding[ax];
        int64_t end = start + p->kernel[ax]; /* <= n + padding: no overflow */
        *lo = start < 0 ? 0 : start;
        *hi = end > n ? n : end;
        return p->kernel[ax];
    }
    *lo = i * n / on; /* floor; i n <= on n was checked to fit */
    int64_t e = (i + 1) * n;
    *hi = e / on + (e % on != 0); /* ceil */
    return *hi - *lo;
}

/* The offset of element (a, b, c, d) of t, in elements from its data. */
static inline int64_t at4(const tg_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return a * t->strides[0] + b * t->strides[1] + c * t->strides[2] + d * t->strides[3];
}

/* Zeros into a fresh, contiguous tensor (an empty one may have no data). */
static void zero(tg_tensor *out)
{
    if (out->numel > 0)
        memset(tg__data(out), 0, (size_t)out->numel * tg__dsize(out->dtype));
}

/* ---- max pool ---------------------------------------------------------------------- */

#define MAX_POOL(T, PT)                                                        \
    do {                                                                       \
        const T *xd = (const T *)tg__data(x);                                  \
        T *od = (T *)tg__data(out);                                            \
        PT *pd = pos ? (PT *)tg__data(pos) : NULL;                             \
        int64_t s2 = x->strides[2], s3 = x->strides[3], o = 0;                 \
        for (int64_t a = 0; a < N; a++)                                        \
            for (int64_t b = 0; b < C; b++) {                                  \
                const T *plane = xd + a * x->strides[0] + b * x->strides[1];   \
                for (int64_t i = 0; i < OH; i++) {                             \
                    int64_t h0, h1;                                            \
                    window(p, 0, i, H, OH, &h0, &h1);                          \
                    for (int64_t j = 0; j < OW; j++, o++) {                    \
                        int64_t w0, w1;                                        \
                        window(p, 1, j, W, OW, &w0, &w1);                      \
                        T best = (T)-INFINITY;                                 \
                        int64_t arg = h0 * W + w0;                             \
                        for (int64_t h = h0; h < h1; h++) {                    \
                            const T *row = plane + h * s2;                     \
                            for (int64_t w = w0; w < w1; w++) {                \
                                T v = row[w * s3];                             \
                                /* NaN wins; | and selects, not branches: \
                                 * which wins is data, not predictable */  \
                                bool take = (v > best) | (v != v);             \
                                best = take ? v : best;                        \
                                arg = take ? h * W + w : arg;                  \
                            }                                                  \
                        }                                                      \
                        od[o] = best;                                          \
                        if (pd)                                                \
                            pd[o] = (PT)arg;                                   \
                    }                                                          \
                }                                                              \
            }                                                                  \
    } while (0)

/* The common case of CNNs (2x2 windows, stride 2, no padding, rows of
 * unit stride): one output row from input rows r0 and r1 (the two under
 * it; top is r0's position in its plane). The same choice as MAX_POOL (the
 * first maximum in row-major order, a NaN taking over), by candidates in
 * that order, written with selects on restrict rows so that the compiler
 * vectorises it (cloned for AVX2). Positions are int32 here (planes of
 * fewer than 2^31 elements: see tg__max_pool2d_kernel). */
#define MAX_POOL_2X2_ROW(T, sfx)                                               \
    TG_CLONES static void pool2_row_##sfx(const T *restrict r0,                \
                                          const T *restrict r1, int64_t ow,   \
                                          int32_t w, int32_t top,              \
                                          T *restrict od, int32_t *restrict pd) \
    {                                                                          \
        for (int64_t j = 0; j < ow; j++) {                                     \
            T v0 = r0[2 * j], v1 = r0[2 * j + 1];                              \
            T v2 = r1[2 * j], v3 = r1[2 * j + 1];                              \
            T best = v0;                                                       \
            int32_t k = 0;                                                     \
            bool t = (v1 > best) | (v1 != v1);                                 \
            best = t ? v1 : best;                                              \
            k = t ? 1 : k;                                                     \
            t = (v2 > best) | (v2 != v2);                                      \
            best = t ? v2 : best;                                              \
            k = t ? w : k;                                                     \
            t = (v3 > best) | (v3 != v3);                                      \
            best = t ? v3 : best;                                              \
            k = t ? w + 1 : k;                                                 \
            od[j] = best;                                                      \
            pd[j] = top + 2 * (int32_t)j + k;                                  \
        }                                                                      \
    }

MAX_POOL_2X2_ROW(float, f32)
MAX_POOL_2X2_ROW(double, f64)

#define MAX_POOL_2X2(T, sfx)                                                   \
    do {                                                                       \
        const T *xd = (const T *)tg__data(x);                                  \
        T *od = (T *)tg__data(out);                                            \
        int32_t *pd = (int32_t *)tg__data(pos);                                \
        int64_t o = 0;                                                         \
        for (int64_t a = 0; a < N; a++)                                        \
            for (int64_t b = 0; b < C; b++) {                                  \
                const T *plane = xd + a * x->strides[0] + b * x->strides[1];   \
                for (int64_t i = 0; i < OH; i++, o += OW) {                    \
                    const T *r0 = plane + 2 * i * x->strides[2];               \
                    pool2_row_##sfx(r0, r0 + x->strides[2], OW, (int32_t)W,    \
                                    (int32_t)(2 * i * W), od + o, pd + o);     \
                }                                                              \
            }                                                                  \
    } while (0)

static void max_pool2d_kernel(tg_tensor *out, tg_tensor *pos, const tg_tensor *x,
                              const tg__pool2d *p);

/* The traced forms: what a plan runs (trace.c). The geometry is kept in
 * the step's geo: kernel, stride, padding. */
static int run_max_pool(tg__step *e)
{
    tg__pool2d p;
    memcpy(&p, e->geo, sizeof p);
    max_pool2d_kernel(&e->out, e->c.storage ? &e->c : NULL, &e->a, &p);
    return TG_OK;
}

void tg__max_pool2d_kernel(tg_tensor *out, tg_tensor *pos, const tg_tensor *x,
                           const tg__pool2d *p)
{
    tg__trace *tr = NULL;
    if (tg__tracing) {
        tg__step st = {.run = run_max_pool, .out = *out, .a = *x, .c_written = pos != NULL};
        if (pos)
            st.c = *pos;
        memcpy(st.geo, p, sizeof *p);
        tr = tg__trace_enter(&st);
    }
    max_pool2d_kernel(out, pos, x, p);
    tg__trace_resume(tr);
}

static void max_pool2d_kernel(tg_tensor *out, tg_tensor *pos, const tg_tensor *x,
                              const tg__pool2d *p)
{
    int64_t N = out->shape[0], C = out->shape[1], OH = out->shape[2], OW = out->shape[3];
    int64_t H = x->shape[2], W = x->shape[3];
    if (out->numel == 0)
        return;
    bool two = p->kernel[0] == 2 && p->kernel[1] == 2 && p->stride[0] == 2 &&
               p->stride[1] == 2 && p->padding[0] == 0 && p->padding[1] == 0 &&
               x->strides[3] == 1 && pos && pos->dtype == TG_INT32 &&
               tg__contiguous(out);
    bool narrow = pos && pos->dtype == TG_INT32;
    if (two && x->dtype == TG_FLOAT64)
        MAX_POOL_2X2(double, f64);
    else if (two)
        MAX_POOL_2X2(float, f32);
    else if (x->dtype == TG_FLOAT64 && narrow)
        MAX_POOL(double, int32_t);
    else if (x->dtype == TG_FLOAT64)
        MAX_POOL(double, int64_t);
    else if (narrow)
        MAX_POOL(float, int32_t);
    else
        MAX_POOL(float, int64_t);
}

/* big (N,C,H,W) and small (N,C,OH,OW) moved along pos: big[pos] += small
 * (scatter; big holds zeros) or small = big[pos]. */
#define MOVE_AT(T, PT)                                                         \
    do {                                                                       \
        T *bd = (T *)tg__data(big);                                            \
        T *sd = (T *)tg__data(small);                                          \
        const PT *pd = (const PT *)tg__data(pos);                              \
        /* a plane of big laid out as its positions: index it directly */     \
        bool flat = big->strides[3] == 1 && big->strides[2] == W;              \
        int64_t o = 0;                                                         \
        for (int64_t a = 0; a < N; a++)                                        \
            for (int64_t b = 0; b < C; b++) {                                  \
                T *plane = bd + a * big->strides[0] + b * big->strides[1];     \
                for (int64_t i = 0; i < OH; i++)                               \
                    for (int64_t j = 0; j < OW; j++, o++) {                    \
                        int64_t q = (int64_t)pd[o];                            \
                        int64_t bi = flat ? q : (q / W) * big->strides[2] +    \
                                                    (q % W) * big->strides[3]; \
                        int64_t si = at4(small, a, b, i, j);                   \
                        if (scatter)                                           \
                            plane[bi] += sd[si];                               \
                        else                                                   \
                            sd[si] = plane[bi];                                \
                    }                                                          \
            }                                                                  \
    } while (0)

static void move_at(const tg_tensor *big, const tg_tensor *small, const tg_tensor *pos,
                    bool scatter)
{
    int64_t N = pos->shape[0], C = pos->shape[1], OH = pos->shape[2], OW = pos->shape[3];
    int64_t W = big->shape[3];
    if (pos->numel == 0)
        return;
    bool narrow = pos->dtype == TG_INT32;
    if (big->dtype == TG_FLOAT64 && narrow)
        MOVE_AT(double, int32_t);
    else if (big->dtype == TG_FLOAT64)
        MOVE_AT(double, int64_t);
    else if (narrow)
        MOVE_AT(float, int32_t);
    else
        MOVE_AT(float, int64_t);
}

/* The scatter of a pool whose every position lies in its own 2x2 cell
 * (rows 2i, 2i + 1, columns 2j, 2j + 1: what a 2x2 pool of stride 2
 * records) writes each cell whole, g at the position and zeros around it,
 * instead of zeroing the plane and adding: one pass. A row of cells from
 * g's row gr and the positions pr (top: the cell row's position in its
 * plane) into rows b0 and b1; returns false if a position lies outside
 * its cell (the caller then scatters the plain way, over what was
 * written). Positions and offsets are int32 (the caller checks that a
 * plane's positions fit with room to spare). g + 0 is what the addition to zero gives (-0 becomes +0). */
#define SCATTER_2X2_ROW(T, sfx)                                                \
    TG_CLONES static bool scatter2_row_##sfx(T *restrict b0, T *restrict b1,   \
                                             int64_t ow, int32_t w,            \
                                             int32_t top, const T *restrict gr, \
                                             const int32_t *restrict pr)       \
    {                                                                          \
        int32_t bad = 0;                                                       \
        for (int64_t j = 0; j < ow; j++) {                                     \
            int32_t d = pr[j] - top - 2 * (int32_t)j;                          \
            T v = gr[j] + (T)0;                                                \
            bool e0 = d == 0, e1 = d == 1, e2 = d == w, e3 = d == w + 1;       \
            b0[2 * j] = e0 ? v : (T)0;                                         \
            b0[2 * j + 1] = e1 ? v : (T)0;                                     \
            b1[2 * j] = e2 ? v : (T)0;                                         \
            b1[2 * j + 1] = e3 ? v : (T)0;                                     \
            bad |= !(e0 | e1 | e2 | e3);                                       \
        }                                                                      \
        return !bad;                                                           \
    }

SCATTER_2X2_ROW(float, f32)
SCATTER_2X2_ROW(double, f64)

/* The cells of a fresh big (N,C,H,W) from a contiguous small (N,C,H/2,W/2)
 * and pos, the odd last row and column zero; false (big partly written)
 * when a position lies outside its cell. */
#define SCATTER_2X2(T, sfx)                                                    \
    do {                                                                       \
        T *bd = (T *)tg__data(big);                                            \
        const T *sd = (const T *)tg__data(small);                              \
        const int32_t *pd = (const int32_t *)tg__data(pos);                    \
        for (int64_t plane = 0; plane < N * C; plane++) {                      \
            T *bp = bd + plane * H * W;                                        \
            for (int64_t i = 0; i < OH; i++) {                                 \
                int64_t o = (plane * OH + i) * OW;                             \
                T *b0 = bp + 2 * i * W;                                        \
                if (!scatter2_row_##sfx(b0, b0 + W, OW, (int32_t)W,            \
                                        (int32_t)(2 * i * W), sd + o, pd + o)) \
                    return false;                                              \
                for (int64_t r = 0; r < 2 && W % 2; r++)                       \
                    b0[r * W + W - 1] = 0;                                     \
            }                                                                  \
            if (H % 2)                                                         \
                memset(bp + (H - 1) * W, 0, (size_t)W * sizeof(T));            \
        }                                                                      \
    } while (0)

static bool scatter_2x2(tg_tensor *big, const tg_tensor *small, const tg_tensor *pos)
{
    int64_t N = pos->shape[0], C = pos->shape[1], OH = pos->shape[2], OW = pos->shape[3];
    int64_t H = big->shape[2], W = big->shape[3];
    if (pos->dtype != TG_INT32 || OH != H / 2 || OW != W / 2 ||
        H * W > INT32_MAX / 2 || pos->numel == 0 ||
        !tg__contiguous(big) || !tg__contiguous(small) || !tg__contiguous(pos))
        return false;
    if (big->dtype == TG_FLOAT64)
        SCATTER_2X2(double, f64);
    else
        SCATTER_2X2(float, f32);
    return true;
}

static void max_pool2d_scatter(tg_tensor *out, const tg_tensor *g, const tg_tensor *pos);

static int run_max_scatter(tg__step *e)
{
    max_pool2d_scatter(&e->out, &e->a, &e->b);
    return TG_OK;
}

void tg__max_pool2d_scatter(tg_tensor *out, const tg_tensor *g, const tg_tensor *pos)
{
    TG__TRACED(max_pool2d_scatter(out, g, pos), .run = run_max_scatter, .out = *out,
               .a = *g, .b = *pos);
}

static void max_pool2d_scatter(tg_tensor *out, const tg_tensor *g, const tg_tensor *pos)
{
    if (scatter_2x2(out, g, pos))
        return;
    zero(out); /* then the additions */
    move_at(out, g, pos, true);
}

static void max_pool2d_gather(tg_tensor *out, const tg_tensor *t, const tg_tensor *pos);

static int run_max_gather(tg__step *e)
{
    max_pool2d_gather(&e->out, &e->a, &e->b);
    return TG_OK;
}

void tg__max_pool2d_gather(tg_tensor *out, const tg_tensor *t, const tg_tensor *pos)
{
    TG__TRACED(max_pool2d_gather(out, t, pos), .run = run_max_gather, .out = *out,
               .a = *t, .b = *pos);
}

static void max_pool2d_gather(tg_tensor *out, const tg_tensor *t, const tg_tensor *pos)
{
    move_at(t, out, pos, false);
}

/* ---- window means and their adjoint ------------------------------------------------ */

/* small (N,C,OH,OW) the means of big's windows, or (adjoint) big (fresh,
 * zeros) += each small / count over its window. Sums in double. */
#define AVG_POOL(T)                                                            \
    do {                                                                       \
        T *bd = (T *)tg__data(big);                                            \
        T *sd = (T *)tg__data(small);                                          \
        for (int64_t a = 0; a < N; a++)                                        \
            for (int64_t b = 0; b < C; b++)                                    \
                for (int64_t i = 0; i < OH; i++) {                             \
                    int64_t h0, h1;                                            \
                    int64_t kh = window(p, 0, i, H, OH, &h0, &h1);             \
                    for (int64_t j = 0; j < OW; j++) {                         \
                        int64_t w0, w1;                                        \
                        int64_t kw = window(p, 1, j, W, OW, &w0, &w1);         \
                        double count = (double)kh * (double)kw;                \
                        int64_t si = at4(small, a, b, i, j);                   \
                        if (adjoint) {                                         \
                            T share = (T)((double)sd[si] / count);             \
                            for (int64_t h = h0; h < h1; h++)                  \
                                for (int64_t w = w0; w < w1; w++)              \
                                    bd[at4(big, a, b, h, w)] += share;         \
                        } else {                                               \
                            double sum = 0;                                    \
                            for (int64_t h = h0; h < h1; h++)                  \
                                for (int64_t w = w0; w < w1; w++)              \
                                    sum += (double)bd[at4(big, a, b, h, w)];   \
                            sd[si] = (T)(sum / count);                         \
                        }                                                      \
                    }                                                          \
                }                                                              \
    } while (0)

static void avg_pool2d_kernel(tg_tensor *out, const tg_tensor *x, const tg__pool2d *p,
                              bool adjoint);

static int run_avg_pool(tg__step *e)
{
    tg__pool2d p;
    memcpy(&p, e->geo, sizeof p);
    avg_pool2d_kernel(&e->out, &e->a, e->i[0] ? &p : NULL, e->flag);
    return TG_OK;
}

void tg__avg_pool2d_kernel(tg_tensor *out, const tg_tensor *x, const tg__pool2d *p,
                           bool adjoint)
{
    tg__trace *tr = NULL;
    if (tg__tracing) {
        tg__step st = {.run = run_avg_pool, .out = *out, .a = *x, .flag = adjoint,
                       .i = {p != NULL}};
        if (p)
            memcpy(st.geo, p, sizeof *p);
        tr = tg__trace_enter(&st);
    }
    avg_pool2d_kernel(out, x, p, adjoint);
    tg__trace_resume(tr);
}

static void avg_pool2d_kernel(tg_tensor *out, const tg_tensor *x, const tg__pool2d *p,
                              bool adjoint)
{
    const tg_tensor *big = adjoint ? out : x, *small = adjoint ? x : out;
    int64_t N = small->shape[0], C = small->shape[1];
    int64_t OH = small->shape[2], OW = small->shape[3];
    int64_t H = big->shape[2], W = big->shape[3];
    if (adjoint)
        zero(out);
    if (small->numel == 0)
        return;
    if (out->dtype == TG_FLOAT64)
        AVG_POOL(double);
    else
        AVG_POOL(float);
}
