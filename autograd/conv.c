/* conv.c - 2-d convolution on the tape, and conv1d and conv_transpose2d
 * built on it. The kernels are tensor/conv.c's (im2col and a GEMM).
 *
 * A convolution y = conv(x, w) is linear in x and in w, so its whole
 * calculus needs three ops, each the adjoint of another in one argument:
 *
 *     conv  (x, w)  -> y            the forward
 *     dx    (gy, w) -> x's shape    the input gradient (conv_transpose2d)
 *     dw    (x, gy) -> w's shape    the weight gradient
 *
 * From sum(gy conv(x, w)) = sum(dx(gy, w) x) = sum(dw(x, gy) w), each rule
 * is made of the others (g the incoming gradient):
 *
 *     conv  d x = dx(g, w)      d w = dw(x, g)
 *     dx    d gy = conv(g, w)   d w = dw(g, gy)
 *     dw    d x = dx(gy, g)     d gy = conv(x, g)
 *
 * so the gradients are ops on the tape too, and second order works (a
 * Hessian-vector product through a convolution). The three share one
 * geometry, kept on the tape with each record: strides, the zeros before
 * the first row and column, dilations, groups and the spatial sizes of x,
 * the kernel and y; the batch and channel counts come from the tensors.
 *
 * The forward adds its bias in the kernel (each output row starts as its
 * channel's bias and the GEMM adds to it); the bias is then the record's
 * third input, and its gradient g summed over the batch and the positions.
 * conv_transpose2d's bias is a broadcast add of bias viewed as (1, O, 1, 1). Inputs that are
 * not contiguous are copied first (the kernels read NCHW arrays); the
 * copies and the columns buffer come from the tape's arena, so a training
 * step allocates nothing once the arena has grown. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "nn_ops.h"

enum { CONV, DX, DW };
enum { P_SH, P_SW, P_PH, P_PW, P_DH, P_DW, P_GROUPS, P_H, P_W, P_KH, P_KW,
       P_OH, P_OW, P_COUNT };

static tg_tensor *conv_apply(tg_tape *T, const char *fn, int kind, tg_tensor *a,
                             tg_tensor *b, tg_tensor *bias, const int64_t *p);

/* conv: d x = dx(g, w), d w = dw(x, g), d bias = g summed over the batch
 * and the positions */
static void conv_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    if (r->da)
        r->a = conv_apply(T, "tg_ad_conv2d", DX, g, n->in[1], NULL, n->sizes);
    if (r->db)
        r->b = conv_apply(T, "tg_ad_conv2d", DW, n->in[0], g, NULL, n->sizes);
    if (n->nin > 2 && r->dmore[0])
        r->more[0] = tg_ad_sum_axes(T, g, 3, (const int[]){0, 2, 3}, false);
}

/* dx: d gy = conv(g, w), d w = dw(g, gy) */
static void dx_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    if (r->da)
        r->a = conv_apply(T, "tg_ad_conv_transpose2d", CONV, g, n->in[1], NULL, n->sizes);
    if (r->db)
        r->b = conv_apply(T, "tg_ad_conv_transpose2d", DW, g, n->in[0], NULL, n->sizes);
}

/* dw: d x = dx(gy, g), d gy = conv(x, g) */
static void dw_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    if (r->da)
        r->a = conv_apply(T, "tg_ad_conv2d", DX, n->in[1], g, NULL, n->sizes);
    if (r->db)
        r->b = conv_apply(T, "tg_ad_conv2d", CONV, n->in[0], g, NULL, n->sizes);
}

static const tga_op conv_ops[3] = {
    {"conv2d", conv_rule, NULL},
    {"conv_transpose2d", dx_rule, NULL},
    {"conv2d_weight_grad", dw_rule, NULL},
};

/* The geometry of the convolution behind an op of this kind on a and b. */
static tg__conv geometry(int kind, const tg_tensor *a, const tg_tensor *b,
                         const int64_t *p)
{
    tg__conv g = {
        .h = p[P_H], .w = p[P_W], .kh = p[P_KH], .kw = p[P_KW],
        .oh = p[P_OH], .ow = p[P_OW], .sh = p[P_SH], .sw = p[P_SW],
        .ph = p[P_PH], .pw = p[P_PW], .dh = p[P_DH], .dw = p[P_DW],
        .groups = p[P_GROUPS],
    };
    g.n = a->shape[0];
    if (kind == CONV) {        /* a = x, b = w */
        g.c = a->shape[1];
        g.o = b->shape[0];
    } else if (kind == DX) {   /* a = gy, b = w */
        g.o = a->shape[1];
        g.c = b->shape[1] * g.groups;
    } else {                   /* a = x, b = gy */
        g.c = a->shape[1];
        g.o = b->shape[1];
    }
    return g;
}

/* t itself when contiguous, else a contiguous copy on T (heap if T NULL). */
static tg_tensor *contiguous(tg_tape *T, const char *fn, tg_tensor *t)
{
    if (tg__contiguous(t))
        return t;
    tg_tensor *c = tga__new_like(T, fn, t->dtype, t->ndim, t->shape);
    if (c)
        tg__copy_any(c, t);
    return c;
}

/* t's elements. An empty tensor may have no storage; it gets a stand-in
 * the kernels never touch (they read nothing from an empty input and
 * write nothing to an empty result), so their pointer arithmetic stays
 * defined. */
static void *data_of(const tg_tensor *t)
{
    static max_align_t nothing;
    return t->numel ? tg__data(t) : &nothing;
}

/* Frees the heap temporaries of a call with T NULL. */
static void release(tg_tape *T, tg_tensor *t, const tg_tensor *orig)
{
    if (!T && t != orig)
        tg_free(t);
}

/* The kernel of this kind into out, on the contiguous operands, with the
 * columns buffer cols (bias: NULL or the forward's). */
static void conv_kernel(int kind, const tg__conv *g, tg_tensor *out, const tg_tensor *a,
                        const tg_tensor *b, const tg_tensor *bias, const tg_tensor *cols)
{
    void *o = data_of(out), *cd = data_of(cols);
    const void *da = data_of(a), *db = data_of(b);
    if (kind == CONV)
        tg__conv_forward(a->dtype, g, o, da, db, bias ? data_of(bias) : NULL, cd);
    else if (kind == DX)
        tg__conv_input_grad(a->dtype, g, o, da, db, cd);
    else
        tg__conv_weight_grad(a->dtype, g, o, da, db, cd);
}

/* The traced form, what a plan runs (trace.c). The columns buffer was
 * sized for the thread count of the capture: another count is refused. */
static int run_conv(tg__step *e)
{
    if (tg_get_num_threads() != e->i[0])
        return tg__fail(TG_ERR_VALUE, "tg_plan_replay",
                        "the thread count changed from %lld to %d since the capture, "
                        "and a convolution's work buffer depends on it; capture the "
                        "step again", (long long)e->i[0], tg_get_num_threads());
    const int64_t *v = e->geo;
    tg__conv g = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                  v[11], v[12], v[13], v[14], v[15]};
    conv_kernel(e->op, &g, &e->out, &e->a, &e->b, e->c.storage ? &e->c : NULL, e->ptr);
    return TG_OK;
}

/* The op of this kind on a and b (checked by the caller, or made by a
 * rule), with geometry p, and for the forward an optional bias (O,) added
 * in the kernel (a third input of the record); recorded when an input
 * requires a gradient. */
static tg_tensor *conv_apply(tg_tape *T, const char *fn, int kind, tg_tensor *a,
                             tg_tensor *b, tg_tensor *bias, const int64_t *p)
{
    if (!a || !b)
        return NULL;
    tg__conv g = geometry(kind, a, b, p);
    int64_t shape[4];
    if (kind == CONV)
        memcpy(shape, (int64_t[4]){g.n, g.o, g.oh, g.ow}, sizeof shape);
    else if (kind == DX)
        memcpy(shape, (int64_t[4]){g.n, g.c, g.h, g.w}, sizeof shape);
    else
        memcpy(shape, (int64_t[4]){g.o, g.c / g.groups, g.kh, g.kw}, sizeof shape);
    tg_dtype dt = a->dtype;
    int64_t ncols = tg__conv_work(&g, kind != CONV && kind != DX);
    if (ncols < 0) {
        tg__fail(TG_ERR_OVERFLOW, fn, "the columns buffer's size overflows");
        return NULL;
    }
    tg_tensor *out = tga__new_like(T, fn, dt, 4, shape);
    tg_tensor *ca = out ? contiguous(T, fn, a) : NULL;
    tg_tensor *cb = ca ? contiguous(T, fn, b) : NULL;
    tg_tensor *cbias = cb && bias ? contiguous(T, fn, bias) : NULL;
    /* the columns are work space, whatever their values: a captured step
     * (plan.h) need not see them made */
    tg__trace *paused = tg__trace_pause();
    tg_tensor *cols = cb && (cbias || !bias) ? tga__new_like(T, fn, dt, 1, &ncols)
                                             : NULL;
    tg__trace_resume(paused);
    if (cols)
        TG__TRACED(conv_kernel(kind, &g, out, ca, cb, cbias, cols), .run = run_conv,
                   .op = kind, .out = *out, .a = *ca, .b = *cb,
                   .c = cbias ? *cbias : (tg_tensor){.storage = NULL},
                   .ptr = cols, .i = {tg_get_num_threads()},
                   .geo = {g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw,
                           g.ph, g.pw, g.dh, g.dw, g.groups});
    if (!T) {
        if (ca)
            release(T, ca, a);
        if (cb)
            release(T, cb, b);
        if (cbias)
            release(T, cbias, bias);
        tg_free(cols);
    }
    if (!cols)
        return tga__discard(T, out);
    if (!tga__wants_record(T, a, b) && !(bias && tga__wants_record(T, bias, NULL)))
        return out;
    int64_t *kept = tg__arena_alloc(&T->arena, P_COUNT * sizeof *kept);
    tga_more *more = kept && bias ? tg__arena_alloc(&T->arena, sizeof *more) : NULL;
    if (!kept || (bias && !more)) {
        tg__arena_fail(&T->arena, fn);
        return NULL;
    }
    memcpy(kept, p, P_COUNT * sizeof *kept);
    tg__node *rec = tga__record(T, fn, &conv_ops[kind], out, a, b);
    if (!rec)
        return NULL;
    rec->sizes = kept;
    if (bias) { /* the bias is the record's third input */
        memset(more, 0, sizeof *more);
        more->in[0] = bias;
        more->version[0] = bias->storage->version;
        rec->nin = 3;
        rec->more = more;
    }
    return out;
}

/* ---- the public ops: argument checks, then conv_apply ---------------------- */

static int bad_shape(const char *fn, const char *what, const tg_tensor *t,
                     const char *want)
{
    char buf[TG__SHAPE_BUF];
    return tg__fail(TG_ERR_SHAPE, fn, "%s has shape %s; want %s", what,
                    tg__shape_fmt(t->ndim, t->shape, buf, sizeof buf), want);
}

/* Checks the tensors of one call: live on T, float, one dtype, the ranks. */
static int check_tensors(tg_tape *T, const char *fn, tg_tensor *x, tg_tensor *w,
                         tg_tensor *bias, int rank)
{
    if (tga__check_input(T, fn, x) || tga__check_input(T, fn, w) ||
        (bias && tga__check_input(T, fn, bias)))
        return tg_last_error();
    if (!tg__is_float(x->dtype))
        return tg__fail(TG_ERR_DTYPE, fn, "x is %s; convolutions take float32 or "
                        "float64", tg_dtype_name(x->dtype));
    const tg_tensor *other[2] = {w, bias};
    const char *names[2] = {"w", "bias"};
    for (int k = 0; k < 2; k++)
        if (other[k] && other[k]->dtype != x->dtype)
            return tg__fail(TG_ERR_DTYPE, fn, "x is %s but %s is %s (use %s)",
                            tg_dtype_name(x->dtype), names[k],
                            tg_dtype_name(other[k]->dtype), tg__cast_hint(fn));
    const char *want = rank == 4 ? "4 axes (N, C, H, W)" : "3 axes (N, C, L)";
    if (x->ndim != rank)
        return bad_shape(fn, "x", x, want);
    if (w->ndim != rank)
        return bad_shape(fn, "w", w,
                         rank == 4 ? "4 axes (O, C/groups, KH, KW)"
                                   : "3 axes (O, C/groups, K)");
    return TG_OK;
}

/* Checks the sliding arguments; spatial axes 2 - nsp .. 1 of the pairs are
 * used (conv1d: entry 0 only, stored as the width). */
static int check_args(const char *fn, const tg_conv_args *a, int nsp)
{
    if (a->groups < 1)
        return tg__fail(TG_ERR_VALUE, fn, "groups is %lld; it must be at least 1",
                        (long long)a->groups);
    for (int k = 0; k < nsp; k++) {
        if (a->stride[k] < 1)
            return tg__fail(TG_ERR_VALUE, fn, "stride[%d] is %lld; it must be at "
                            "least 1", k, (long long)a->stride[k]);
        if (a->dilation[k] < 1)
            return tg__fail(TG_ERR_VALUE, fn, "dilation[%d] is %lld; it must be at "
                            "least 1", k, (long long)a->dilation[k]);
        if (!a->same && a->padding[k] < 0)
            return tg__fail(TG_ERR_VALUE, fn, "padding[%d] is %lld; it must not be "
                            "negative", k, (long long)a->padding[k]);
        if (a->same && a->stride[k] != 1)
            return tg__fail(TG_ERR_VALUE, fn, "padding 'same' needs stride 1, "
                            "got stride[%d] %lld", k, (long long)a->stride[k]);
    }
    return TG_OK;
}

/* The 2-d form of args for nsp spatial axes (conv1d's entry 0 becomes the
 * width; its height is 1 with no padding). */
static tg_conv_args args_2d(const tg_conv_args *a, int nsp)
{
    if (nsp == 2)
        return *a;
    tg_conv_args r = {{1, a->stride[0]}, {0, a->padding[0]}, {1, a->dilation[0]},
                      a->groups, a->same};
    return r;
}

/* The extent of a kernel of k taps at dilation d, (k - 1) d + 1, or -1 when
 * it overflows. */
static int64_t extent(int64_t k, int64_t d)
{
    int64_t e;
    if (k < 1 || tg__mul_overflows(k - 1, d, &e) || e == INT64_MAX)
        return -1;
    return e + 1;
}

/* Checks a convolution of x (n, c, h, w) by w (o, cg, kh, kw) with args
 * (already checked) and fills the geometry p. */
static int plan_conv(const char *fn, const int64_t *xs, const int64_t *ws,
                     const tg_conv_args *a, int nsp, int64_t *p)
{
    int64_t c = xs[1], o = ws[0], g = a->groups;
    if (ws[1] > INT64_MAX / g || ws[1] * g != c)
        return tg__fail(TG_ERR_SHAPE, fn, "x has %lld channels but w takes %lld "
                        "per group with groups %lld (want C = groups * w.shape[1])",
                        (long long)c, (long long)ws[1], (long long)g);
    if (o % g)
        return tg__fail(TG_ERR_SHAPE, fn, "w has %lld output channels, not a "
                        "multiple of groups %lld", (long long)o, (long long)g);
    for (int k = 0; k < 2; k++) {
        int64_t in = xs[2 + k], ks = ws[2 + k], pad = a->padding[k];
        int64_t e = extent(ks, a->dilation[k]);
        const char *axis = nsp == 1 ? "length" : k ? "width" : "height";
        if (e < 0)
            return tg__fail(ks < 1 ? TG_ERR_SHAPE : TG_ERR_OVERFLOW, fn,
                            ks < 1 ? "the kernel's %s is 0" :
                                     "the dilated kernel's %s overflows", axis);
        int64_t before = pad, total;
        if (a->same) {
            before = (e - 1) / 2;
            total = e - 1;
        } else if (tg__mul_overflows(pad, 2, &total)) {
            return tg__fail(TG_ERR_OVERFLOW, fn, "padding[%d] %lld overflows",
                            nsp == 1 ? 0 : k, (long long)pad);
        }
        if (total > INT64_MAX - in)
            return tg__fail(TG_ERR_OVERFLOW, fn, "the padded %s overflows", axis);
        int64_t padded = in + total;
        if (e > padded)
            return tg__fail(TG_ERR_SHAPE, fn, "the kernel's %s %lld (dilated) is "
                            "larger than the padded input's %lld", axis,
                            (long long)e, (long long)padded);
        p[k ? P_W : P_H] = in;
        p[k ? P_KW : P_KH] = ks;
        p[k ? P_OW : P_OH] = (padded - e) / a->stride[k] + 1;
        p[k ? P_PW : P_PH] = before;
        p[k ? P_SW : P_SH] = a->stride[k];
        p[k ? P_DW : P_DH] = a->dilation[k];
    }
    p[P_GROUPS] = g;
    return TG_OK;
}

/* After a tape op that this op calls failed (out of memory: the only way
 * they can, given checked arguments), the error under this op's name. */
static tg_tensor *own_failure(const char *fn)
{
    if (tg_last_error() == TG_ERR_NOMEM)
        tg__oom(fn);
    return NULL;
}

/* out + bias viewed as (1, O, 1, 1[, ...]); out itself without a bias. */
static tg_tensor *add_bias(tg_tape *T, const char *fn, tg_tensor *out,
                           tg_tensor *bias)
{
    if (!out || !bias)
        return out;
    if (bias->ndim != 1 || bias->shape[0] != out->shape[1]) {
        char want[64];
        snprintf(want, sizeof want, "(%lld,), one per output channel",
                 (long long)out->shape[1]);
        bad_shape(fn, "bias", bias, want);
        return tga__discard(T, out);
    }
    int64_t shape[TG_MAX_DIMS] = {1, bias->shape[0], 1, 1};
    tg_tensor *b = tg_ad_reshape(T, bias, out->ndim, shape);
    tg_tensor *r = b ? tg_ad_add(T, out, b) : NULL;
    if (!T) {
        tg_free(b);
        tg_free(out);
    }
    return r ? r : own_failure(fn);
}

/* The shape of t as 4 axes: a 3-d (N, C, L) as (N, C, 1, L). */
static void as_4d(const tg_tensor *t, int64_t *s)
{
    if (t->ndim == 4) {
        memcpy(s, t->shape, 4 * sizeof *s);
    } else {
        s[0] = t->shape[0];
        s[1] = t->shape[1];
        s[2] = 1;
        s[3] = t->shape[2];
    }
}

/* conv2d (nsp 2) and conv1d (nsp 1, run as a conv2d of height 1). */
static tg_tensor *conv_nd(tg_tape *T, const char *fn, tg_tensor *x, tg_tensor *w,
                          tg_tensor *bias, const tg_conv_args *args, int nsp)
{
    static const tg_conv_args defaults = TG_CONV_ARGS;
    if (!x || !w)
        return NULL;
    if (!args)
        args = &defaults;
    int64_t p[P_COUNT], xs[4], ws[4];
    if (check_tensors(T, fn, x, w, bias, nsp + 2) || check_args(fn, args, nsp))
        return NULL;
    tg_conv_args a = args_2d(args, nsp);
    as_4d(x, xs);
    as_4d(w, ws);
    if (plan_conv(fn, xs, ws, &a, nsp, p))
        return NULL;
    if (bias && (bias->ndim != 1 || bias->shape[0] != ws[0])) {
        char want[64];
        snprintf(want, sizeof want, "(%lld,), one per output channel",
                 (long long)ws[0]);
        bad_shape(fn, "bias", bias, want);
        return NULL;
    }
    if (nsp == 2)
        return conv_apply(T, fn, CONV, x, w, bias, p);
    /* conv1d: through 4-d views, and back to (N, O, OL) */
    tg_tensor *x4 = tg_ad_reshape(T, x, 4, xs);
    tg_tensor *w4 = x4 ? tg_ad_reshape(T, w, 4, ws) : NULL;
    tg_tensor *y4 = w4 ? conv_apply(T, fn, CONV, x4, w4, bias, p) : NULL;
    tg_tensor *y = y4 ? tg_ad_reshape(T, y4, 3,
                                      (int64_t[3]){xs[0], ws[0], p[P_OW]})
                      : NULL;
    if (!T) {
        tg_free(x4);
        tg_free(w4);
        tg_free(y4);
    }
    return y ? y : own_failure(fn);
}

tg_tensor *tg_ad_conv2d(tg_tape *T, tg_tensor *x, tg_tensor *w, tg_tensor *bias,
                        const tg_conv_args *args)
{
    return conv_nd(T, "tg_ad_conv2d", x, w, bias, args, 2);
}

tg_tensor *tg_ad_conv1d(tg_tape *T, tg_tensor *x, tg_tensor *w, tg_tensor *bias,
                        const tg_conv_args *args)
{
    return conv_nd(T, "tg_ad_conv1d", x, w, bias, args, 1);
}

tg_tensor *tg_ad_conv_transpose2d(tg_tape *T, tg_tensor *x, tg_tensor *w,
                                  tg_tensor *bias, const tg_conv_args *args,
                                  const int64_t *output_padding)
{
    const char *fn = "tg_ad_conv_transpose2d";
    static const tg_conv_args defaults = TG_CONV_ARGS;
    if (!x || !w)
        return NULL;
    if (!args)
        args = &defaults;
    if (check_tensors(T, fn, x, w, bias, 4) || check_args(fn, args, 2))
        return NULL;
    if (args->same) {
        tg__fail(TG_ERR_VALUE, fn, "padding 'same' is not defined for a "
                 "transposed convolution");
        return NULL;
    }
    int64_t g = args->groups, cin = x->shape[1];
    if (w->shape[0] != cin)
        return tg__fail(TG_ERR_SHAPE, fn, "x has %lld channels but w has %lld "
                        "(w is (C, O/groups, KH, KW))", (long long)cin,
                        (long long)w->shape[0]),
               NULL;
    if (cin % g)
        return tg__fail(TG_ERR_SHAPE, fn, "x's %lld channels are not a multiple "
                        "of groups %lld", (long long)cin, (long long)g),
               NULL;
    int64_t o;
    if (tg__mul_overflows(w->shape[1], g, &o))
        return tg__fail(TG_ERR_OVERFLOW, fn, "w.shape[1] * groups overflows"), NULL;
    int64_t p[P_COUNT];
    for (int k = 0; k < 2; k++) {
        int64_t op = output_padding ? output_padding[k] : 0;
        int64_t s = args->stride[k], d = args->dilation[k];
        if (op < 0 || (op >= s && op >= d))
            return tg__fail(TG_ERR_VALUE, fn, "output_padding[%d] is %lld; it must "
                            "be at least 0 and smaller than the stride (%lld) or "
                            "the dilation (%lld)", k, (long long)op, (long long)s,
                            (long long)d),
                   NULL;
        /* the result's size (in - 1) s - 2 pad + (k - 1) d + op + 1 */
        int64_t in = x->shape[2 + k], e = extent(w->shape[2 + k], d), span, out;
        if (e < 0 && w->shape[2 + k] < 1)
            return tg__fail(TG_ERR_SHAPE, fn, "the kernel's %s is 0",
                            k ? "width" : "height"), NULL;
        if (e < 0 || in < 1 || tg__mul_overflows(in - 1, s, &span) ||
            span > INT64_MAX - e - op)
            return tg__fail(in < 1 ? TG_ERR_SHAPE : TG_ERR_OVERFLOW, fn,
                            in < 1 ? "x's %s is 0" : "the result's %s overflows",
                            k ? "width" : "height"), NULL;
        out = span + e + op - 2 * args->padding[k];
        if (args->padding[k] > INT64_MAX / 2 || out < 1)
            return tg__fail(TG_ERR_SHAPE, fn, "the result's %s would be %lld; "
                            "padding[%d] %lld is too large", k ? "width" : "height",
                            (long long)out, k, (long long)args->padding[k]), NULL;
        p[k ? P_W : P_H] = out;
        p[k ? P_KW : P_KH] = w->shape[2 + k];
        p[k ? P_OW : P_OH] = in;
        p[k ? P_PW : P_PH] = args->padding[k];
        p[k ? P_SW : P_SH] = s;
        p[k ? P_DW : P_DH] = d;
    }
    p[P_GROUPS] = g;
    if (bias && (bias->ndim != 1 || bias->shape[0] != o)) {
        char want[64];
        snprintf(want, sizeof want, "(%lld,), one per output channel", (long long)o);
        bad_shape(fn, "bias", bias, want);
        return NULL;
    }
    return add_bias(T, fn, conv_apply(T, fn, DX, x, w, NULL, p), bias);
}
