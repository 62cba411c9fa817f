/* pool.c - 2-d pooling on the tape: max_pool2d, avg_pool2d and
 * adaptive_avg_pool2d over NCHW tensors (tensor/pool.c's kernels). Every
 * backward is linear in g, so each is an op of its own whose rule is the
 * forward's linear map again, and any order of derivative works:
 *
 *     max_pool2d   g added at the recorded arg-max positions into zeros of
 *                  x's shape; that scatter's adjoint is the gather of its
 *                  gradient at the same positions, whose adjoint is the
 *                  scatter again
 *     avg_pool2d   g / (kh kw) spread over each window (count_include_pad);
 *                  that spread's adjoint is avg_pool2d itself
 *     adaptive     g / (window size) spread over each window; its adjoint
 *                  is adaptive_avg_pool2d itself
 *
 * The positions (h*W + w within each (n, c) plane, PyTorch's indices;
 * int32, or int64 for planes of 2^31 elements or more) are kept on the
 * tape with the record (aux); avg_pool2d's
 * kernel, stride and padding likewise (sizes). */
#include "internal.h"
#include "nn_ops.h"

/* kernel, stride, padding (two each) copied onto the tape for the rules. */
static const int64_t *keep_geometry(tg_tape *T, const char *fn, const tg__pool2d *p)
{
    int64_t *k = tg__arena_alloc(&T->arena, 6 * sizeof(int64_t));
    if (!k) {
        tg__arena_fail(&T->arena, fn);
        return NULL;
    }
    for (int j = 0; j < 2; j++) {
        k[j] = p->kernel[j];
        k[2 + j] = p->stride[j];
        k[4 + j] = p->padding[j];
    }
    return k;
}

static tg__pool2d geometry(const int64_t *k)
{
    tg__pool2d p;
    for (int j = 0; j < 2; j++) {
        p.kernel[j] = k[j];
        p.stride[j] = k[2 + j];
        p.padding[j] = k[4 + j];
    }
    return p;
}

/* ---- max_pool2d, its scatter and the scatter's gather ------------------------------ */

static tg_tensor *max_scatter(tg_tape *T, tg_tensor *g, tg_tensor *pos,
                              const tg_tensor *like);
static tg_tensor *max_gather(tg_tape *T, tg_tensor *t, tg_tensor *pos);

/* d max_pool2d = g added into zeros of x's shape at the arg-max positions */
static void max_pool_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = max_scatter(T, g, n->aux, n->in[0]);
}

static const tga_op op_max_pool = {"max_pool2d", max_pool_rule, NULL};

tg_tensor *tg_ad_max_pool2d(tg_tape *T, tg_tensor *x, const int64_t *kernel,
                            const int64_t *stride, const int64_t *padding)
{
    const char *fn = "tg_ad_max_pool2d";
    if (!x || tga__check_input(T, fn, x))
        return NULL;
    tg__pool2d p;
    int64_t shape[4];
    if (tg__pool2d_shape(fn, x, kernel, stride, padding, &p, shape))
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, x->dtype, 4, shape);
    if (!out)
        return NULL;
    /* the positions only when a backward will need them (T is then set);
     * int32 when a plane's positions fit (half the memory traffic of
     * int64), else int64 */
    tg_tensor *pos = NULL;
    tg_dtype pt = x->shape[2] * x->shape[3] <= INT32_MAX ? TG_INT32 : TG_INT64;
    if (tga__wants_record(T, x, NULL) && !(pos = tga__new_like(T, fn, pt, 4, shape)))
        return NULL;
    tg__max_pool2d_kernel(out, pos, x, &p);
    tg__node *n;
    out = tga__finish(T, fn, &op_max_pool, out, x, NULL, &n);
    if (n)
        n->aux = pos;
    return out;
}

/* The scatter is linear in g: its adjoint gathers at the same positions. */
static void max_scatter_rule(tg_tape *T, const tg__node *n, tg_tensor *g,
                             tga_grads *r)
{
    r->a = max_gather(T, g, n->aux);
}

static const tga_op op_max_scatter = {"max_pool2d (backward)", max_scatter_rule, NULL};

static tg_tensor *max_scatter(tg_tape *T, tg_tensor *g, tg_tensor *pos,
                              const tg_tensor *like)
{
    const char *fn = "tg_ad_max_pool2d (backward)";
    if (!g)
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, g->dtype, 4, like->shape);
    if (!out)
        return NULL;
    tg__max_pool2d_scatter(out, g, pos);
    tg__node *n;
    out = tga__finish(T, fn, &op_max_scatter, out, g, NULL, &n);
    if (n)
        n->aux = pos;
    return out;
}

/* The gather's adjoint is the scatter, into zeros of t's shape. */
static void max_gather_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = max_scatter(T, g, n->aux, n->in[0]);
}

static const tga_op op_max_gather = {"max_pool2d (gather)", max_gather_rule, NULL};

static tg_tensor *max_gather(tg_tape *T, tg_tensor *t, tg_tensor *pos)
{
    const char *fn = "tg_ad_max_pool2d (gather)";
    if (!t)
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, t->dtype, 4, pos->shape);
    if (!out)
        return NULL;
    tg__max_pool2d_gather(out, t, pos);
    tg__node *n;
    out = tga__finish(T, fn, &op_max_gather, out, t, NULL, &n);
    if (n)
        n->aux = pos;
    return out;
}

/* ---- avg_pool2d and its adjoint -------------------------------------------------- */

static tg_tensor *avg_spread(tg_tape *T, tg_tensor *g, const int64_t *kept,
                             const tg_tensor *like);

/* d avg_pool2d = g / (kh kw) spread over each window */
static void avg_pool_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = avg_spread(T, g, n->sizes, n->in[0]);
}

static const tga_op op_avg_pool = {"avg_pool2d", avg_pool_rule, NULL};

/* avg_pool2d of x with the geometry p (kept: p already on the tape). */
static tg_tensor *avg_pool(tg_tape *T, const char *fn, tg_tensor *x, const tg__pool2d *p,
                           const int64_t *shape, const int64_t *kept)
{
    tg_tensor *out = tga__new_like(T, fn, x->dtype, 4, shape);
    if (!out)
        return NULL;
    if (tga__wants_record(T, x, NULL) && !kept && !(kept = keep_geometry(T, fn, p)))
        return NULL;
    tg__avg_pool2d_kernel(out, x, p, false);
    tg__node *n;
    out = tga__finish(T, fn, &op_avg_pool, out, x, NULL, &n);
    if (n)
        n->sizes = kept;
    return out;
}

tg_tensor *tg_ad_avg_pool2d(tg_tape *T, tg_tensor *x, const int64_t *kernel,
                            const int64_t *stride, const int64_t *padding)
{
    const char *fn = "tg_ad_avg_pool2d";
    if (!x || tga__check_input(T, fn, x))
        return NULL;
    tg__pool2d p;
    int64_t shape[4];
    if (tg__pool2d_shape(fn, x, kernel, stride, padding, &p, shape))
        return NULL;
    return avg_pool(T, fn, x, &p, shape, NULL);
}

/* The spread's adjoint is avg_pool2d with the same geometry. */
static void avg_spread_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    tg__pool2d p = geometry(n->sizes);
    r->a = g ? avg_pool(T, "tg_ad_avg_pool2d", g, &p, n->in[0]->shape, n->sizes) : NULL;
}

static const tga_op op_avg_spread = {"avg_pool2d (backward)", avg_spread_rule, NULL};

static tg_tensor *avg_spread(tg_tape *T, tg_tensor *g, const int64_t *kept,
                             const tg_tensor *like)
{
    const char *fn = "tg_ad_avg_pool2d (backward)";
    if (!g)
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, g->dtype, 4, like->shape);
    if (!out)
        return NULL;
    tg__pool2d p = geometry(kept);
    tg__avg_pool2d_kernel(out, g, &p, true);
    tg__node *n;
    out = tga__finish(T, fn, &op_avg_spread, out, g, NULL, &n);
    if (n)
        n->sizes = kept;
    return out;
}

/* ---- adaptive_avg_pool2d and its adjoint -------------------------------------------- */

static tg_tensor *adaptive_spread(tg_tape *T, tg_tensor *g, const tg_tensor *like);

/* d adaptive_avg_pool2d = g / (window size) spread over each window */
static void adaptive_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = adaptive_spread(T, g, n->in[0]);
}

static const tga_op op_adaptive = {"adaptive_avg_pool2d", adaptive_rule, NULL};

static tg_tensor *adaptive_pool(tg_tape *T, const char *fn, tg_tensor *x,
                                const int64_t *shape)
{
    tg_tensor *out = tga__new_like(T, fn, x->dtype, 4, shape);
    if (!out)
        return NULL;
    tg__avg_pool2d_kernel(out, x, NULL, false);
    return tga__finish(T, fn, &op_adaptive, out, x, NULL, NULL);
}

tg_tensor *tg_ad_adaptive_avg_pool2d(tg_tape *T, tg_tensor *x, int64_t oh, int64_t ow)
{
    const char *fn = "tg_ad_adaptive_avg_pool2d";
    if (!x || tga__check_input(T, fn, x))
        return NULL;
    int64_t shape[4];
    if (tg__adaptive_pool2d_shape(fn, x, oh, ow, shape))
        return NULL;
    return adaptive_pool(T, fn, x, shape);
}

/* The spread's adjoint is the adaptive pool back to g's size. */
static void adaptive_spread_rule(tg_tape *T, const tg__node *n, tg_tensor *g,
                                 tga_grads *r)
{
    r->a = g ? adaptive_pool(T, "tg_ad_adaptive_avg_pool2d", g, n->in[0]->shape) : NULL;
}

static const tga_op op_adaptive_spread = {"adaptive_avg_pool2d (backward)",
                                          adaptive_spread_rule, NULL};

static tg_tensor *adaptive_spread(tg_tape *T, tg_tensor *g, const tg_tensor *like)
{
    const char *fn = "tg_ad_adaptive_avg_pool2d (backward)";
    if (!g)
        return NULL;
    tg_tensor *out = tga__new_like(T, fn, g->dtype, 4, like->shape);
    if (!out)
        return NULL;
    tg__avg_pool2d_kernel(out, g, NULL, true);
    return tga__finish(T, fn, &op_adaptive_spread, out, g, NULL, NULL);
}
