/* test_conv.c - convolution on the tape (autograd/conv.c, tensor/conv.c):
 * tg_ad_conv2d, tg_ad_conv1d and tg_ad_conv_transpose2d. Forward values,
 * gradients and Hessian-vector products against PyTorch's
 * (data/conv_ref.inc, written by data/make_conv_ref.py) in float64 and
 * float32; the gradient checker in float64, first and second order;
 * strided, permuted and reversed inputs; T == NULL; bad input with its
 * messages; allocation failures forward and backward; and a training loop
 * that stops allocating after its first step. */
#include "helpers.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/conv_ref.inc"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE

/* ---- inputs, as make_conv_ref.py's values(), weights(), direction() ---------- */

/* A caller-owned tensor of dtype dt whose element i (C order) is f(i, k). */
static tg_tensor *formula(int kind, int k, tg_dtype dt, int ndim, const int64_t *shape)
{
    tg_tensor *t = tg_empty(F64, ndim, shape);
    ck_assert_ptr_nonnull(t);
    double *v = tg_data(t);
    for (int64_t i = 0; i < tg_numel(t); i++) {
        switch (kind) {
        case 0: /* values: ((37 i + 11 k) % 23 - 11) / 8 */
            v[i] = (double)((i * 37 + 11 * k) % 23 - 11) / 8.0;
            break;
        case 1: /* weights: ((7 i) % 11 - 5) / 2 */
            v[i] = (double)((i * 7) % 11 - 5) * 0.5;
            break;
        default: /* direction: ((13 i + 5 k) % 17 - 8) / 16 */
            v[i] = (double)((i * 13 + 5 * k) % 17 - 8) / 16.0;
            break;
        }
    }
    if (dt == F64)
        return t;
    tg_tensor *c = tg_cast(t, dt);
    tg_free(t);
    ck_assert_ptr_nonnull(c);
    return c;
}

static tg_tensor *conv_values(int k, tg_dtype dt, int ndim, const int64_t *shape)
{
    return formula(0, k, dt, ndim, shape);
}

/* The loss weights, of y's shape and dtype. */
static tg_tensor *conv_weights(const tg_tensor *y)
{
    return formula(1, 0, tg_dtype_of(y), tg_ndim(y), tg_shape(y));
}

static tg_tensor *conv_direction(int k, const tg_tensor *like)
{
    return formula(2, k, tg_dtype_of(like), tg_ndim(like), tg_shape(like));
}

/* ---- running a case ---------------------------------------------------------- */

static tg_conv_args args_of(const conv_ref *c)
{
    tg_conv_args a = TG_CONV_ARGS;
    for (int i = 0; i < 2; i++) {
        a.stride[i] = c->stride[i];
        a.padding[i] = c->padding[i];
        a.dilation[i] = c->dilation[i];
    }
    a.groups = c->groups;
    a.same = c->same;
    return a;
}

static tg_tensor *conv_run(tg_tape *T, const conv_ref *c, tg_tensor *x, tg_tensor *w,
                           tg_tensor *b)
{
    tg_conv_args a = args_of(c);
    switch (c->kind) {
    case CONV_1D:
        return tg_ad_conv1d(T, x, w, b, &a);
    case CONV_T2D:
        return tg_ad_conv_transpose2d(T, x, w, b, &a, c->output_padding);
    default:
        return tg_ad_conv2d(T, x, w, b, &a);
    }
}

/* The case's inputs x, w and (when the case has one) bias, caller-owned. */
static int make_inputs(const conv_ref *c, tg_dtype dt, tg_tensor **in)
{
    in[0] = conv_values(0, dt, c->ndim, c->x);
    in[1] = conv_values(1, dt, c->ndim, c->w);
    in[2] = c->bias ? conv_values(2, dt, 1, (const int64_t[]){c->y[1]}) : NULL;
    return c->bias ? 3 : 2;
}

static void free_all(int n, tg_tensor **t)
{
    for (int i = 0; i < n; i++)
        tg_free(t[i]);
}

/* t has the shape (ndim, shape) and element i within rtol (|want_i| + 1)
 * of want[i]. */
static void assert_close(const tg_tensor *t, int ndim, const int64_t *shape,
                         const double *want, double rtol, const char *case_name,
                         const char *what)
{
    ck_assert_msg(t != NULL, "%s %s: NULL (%s)", case_name, what, tg_last_message());
    ck_assert_msg(tg_ndim(t) == ndim, "%s %s: %d dimensions, want %d", case_name, what,
                  tg_ndim(t), ndim);
    for (int k = 0; k < ndim; k++)
        ck_assert_msg(tg_shape(t)[k] == shape[k], "%s %s: size %lld on axis %d, want %lld",
                      case_name, what, (long long)tg_shape(t)[k], k, (long long)shape[k]);
    for (int64_t i = 0; i < tg_numel(t); i++) {
        double g = tgt_at(t, i);
        ck_assert_msg(fabs(g - want[i]) <= rtol * (fabs(want[i]) + 1.0),
                      "%s %s: element %lld is %.17g, want %.17g", case_name, what,
                      (long long)i, g, want[i]);
    }
}

/* Two tensors of one shape with the same values, bit for bit. */
static void assert_same(const tg_tensor *a, const tg_tensor *b, const char *case_name,
                        const char *what)
{
    ck_assert_msg(a && b, "%s %s: NULL (%s)", case_name, what, tg_last_message());
    ck_assert_int_eq(tg_ndim(a), tg_ndim(b));
    for (int k = 0; k < tg_ndim(a); k++)
        ck_assert_int_eq(tg_shape(a)[k], tg_shape(b)[k]);
    for (int64_t i = 0; i < tg_numel(a); i++)
        ck_assert_msg(tgt_same_value(tgt_at(a, i), tgt_at(b, i)),
                      "%s %s: element %lld is %.17g and %.17g", case_name, what,
                      (long long)i, tgt_at(a, i), tgt_at(b, i));
}

/* sum(wts * y), or sum(wts * y * y) for a second-order case. */
static tg_tensor *conv_loss(tg_tape *T, const conv_ref *c, tg_tensor *y, tg_tensor **wts)
{
    *wts = conv_weights(y);
    tg_tensor *p = tg_ad_mul(T, y, *wts);
    if (c->hvp)
        p = tg_ad_mul(T, p, y);
    return tg_ad_sum(T, p);
}

static const double *grad_ref(const conv_ref *c, int i)
{
    return i == 0 ? c->gx : i == 1 ? c->gw : c->gb;
}

static const double *hvp_ref(const conv_ref *c, int i)
{
    return i == 0 ? c->hx : i == 1 ? c->hw : c->hb;
}

static const char *const in_names[3] = {"grad x", "grad w", "grad bias"};
static const char *const hv_names[3] = {"Hv x", "Hv w", "Hv bias"};

/* ---- against PyTorch ---------------------------------------------------------- */

/* Forward, gradients by tg_backward (first order) or by a recorded
 * tg_ad_grad and then the Hessian-vector product (second order). */
static void check_case(const conv_ref *c, tg_dtype dt, double rtol)
{
    tg_tensor *in[3];
    int n = make_inputs(c, dt, in);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(tg_requires_grad(in[i], true), TG_OK);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = conv_run(T, c, in[0], in[1], n > 2 ? in[2] : NULL);
    assert_close(y, c->ndim, c->y, c->yv, rtol, c->name, "forward");
    ck_assert_int_eq(tg_dtype_of(y), dt);
    tg_tensor *wts;
    tg_tensor *loss = conv_loss(T, c, y, &wts);
    ck_assert_ptr_nonnull(loss);
    if (!c->hvp) {
        ck_assert_msg(tg_backward(T, loss) == TG_OK, "%s: %s", c->name, tg_last_message());
        for (int i = 0; i < n; i++) {
            ck_assert_int_eq(tg_dtype_of(tg_grad(in[i])), dt);
            assert_close(tg_grad(in[i]), tg_ndim(in[i]), tg_shape(in[i]), grad_ref(c, i),
                         rtol, c->name, in_names[i]);
        }
    } else {
        tg_tensor *g[3], *hv[3], *v[3];
        ck_assert_msg(tg_ad_grad(T, loss, NULL, n, in, g, true) == TG_OK, "%s: %s",
                      c->name, tg_last_message());
        tg_tensor *dot = NULL;
        for (int i = 0; i < n; i++) {
            assert_close(g[i], tg_ndim(in[i]), tg_shape(in[i]), grad_ref(c, i), rtol,
                         c->name, in_names[i]);
            v[i] = conv_direction(i, in[i]);
            tg_tensor *term = tg_ad_sum(T, tg_ad_mul(T, g[i], v[i]));
            dot = dot ? tg_ad_add(T, dot, term) : term;
        }
        ck_assert_ptr_nonnull(dot);
        ck_assert_msg(tg_ad_grad(T, dot, NULL, n, in, hv, false) == TG_OK, "%s: %s",
                      c->name, tg_last_message());
        for (int i = 0; i < n; i++)
            assert_close(hv[i], tg_ndim(in[i]), tg_shape(in[i]), hvp_ref(c, i), rtol,
                         c->name, hv_names[i]);
        free_all(n, v);
    }
    tg_free(wts);
    tg_tape_free(T);
    free_all(n, in);
}

START_TEST(test_vs_pytorch_f64)
{
    check_case(&conv_refs[_i], F64, 1e-12);
}
END_TEST

START_TEST(test_vs_pytorch_f32)
{
    check_case(&conv_refs[_i], F32, 1e-5);
}
END_TEST

/* Only one input wants a gradient: it gets the same gradient, the others
 * none; with none wanting one nothing is recorded. */
START_TEST(test_partial_grads)
{
    const conv_ref *c = &conv_refs[_i];
    if (c->hvp)
        return;
    for (int want = -1; want < 2; want++) {
        tg_tensor *in[3];
        int n = make_inputs(c, F64, in);
        if (want >= 0)
            tg_requires_grad(in[want], true);
        tg_tape *T = tg_tape_new();
        tg_tensor *y = conv_run(T, c, in[0], in[1], n > 2 ? in[2] : NULL);
        assert_close(y, c->ndim, c->y, c->yv, 1e-12, c->name, "forward");
        tg_tensor *wts;
        tg_tensor *loss = conv_loss(T, c, y, &wts);
        if (want < 0) {
            ck_assert_uint_eq(tg_tape_length(T), 0);
        } else {
            ck_assert_msg(tg_backward(T, loss) == TG_OK, "%s: %s", c->name,
                          tg_last_message());
            for (int i = 0; i < n; i++) {
                if (i == want)
                    assert_close(tg_grad(in[i]), tg_ndim(in[i]), tg_shape(in[i]),
                                 grad_ref(c, i), 1e-12, c->name, in_names[i]);
                else
                    ck_assert_ptr_null(tg_grad(in[i]));
            }
        }
        tg_free(wts);
        tg_tape_free(T);
        free_all(n, in);
    }
}
END_TEST

/* With T == NULL the op just computes: a caller-owned result equal to the
 * tape's, bit for bit. */
START_TEST(test_no_tape)
{
    const conv_ref *c = &conv_refs[_i];
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? F32 : F64;
        tg_tensor *in[3];
        int n = make_inputs(c, dt, in);
        for (int i = 0; i < n; i++)
            tg_requires_grad(in[i], true);
        tg_tape *T = tg_tape_new();
        tg_tensor *on_tape = conv_run(T, c, in[0], in[1], n > 2 ? in[2] : NULL);
        tg_tensor *plain = conv_run(NULL, c, in[0], in[1], n > 2 ? in[2] : NULL);
        assert_close(plain, c->ndim, c->y, c->yv, d ? 1e-5 : 1e-12, c->name, "T == NULL");
        assert_same(plain, on_tape, c->name, "T == NULL against the tape");
        tg_free(plain);
        tg_tape_free(T);
        free_all(n, in);
    }
}
END_TEST

/* NULL args are TG_CONV_ARGS; a NULL output_padding is zeros. */
START_TEST(test_default_args)
{
    tg_tensor *x = conv_values(0, F64, SH(2, 3, 5, 6));
    tg_tensor *w = conv_values(1, F64, SH(4, 3, 3, 3));
    tg_tensor *b = conv_values(2, F64, SH(4));
    const conv_ref *basic = &conv_refs[0];
    ck_assert_str_eq(basic->name, "c2_basic");
    tg_tensor *y = tg_ad_conv2d(NULL, x, w, b, NULL);
    assert_close(y, 4, basic->y, basic->yv, 1e-12, basic->name, "NULL args");
    tg_free(y);

    const conv_ref *ct = NULL;
    for (int i = 0; i < NCONV_REFS; i++)
        if (strcmp(conv_refs[i].name, "ct_basic") == 0)
            ct = &conv_refs[i];
    ck_assert_ptr_nonnull(ct);
    tg_tensor *xt = conv_values(0, F64, 4, ct->x);
    tg_tensor *wt = conv_values(1, F64, 4, ct->w);
    tg_tensor *bt = conv_values(2, F64, 1, (const int64_t[]){ct->y[1]});
    y = tg_ad_conv_transpose2d(NULL, xt, wt, bt, NULL, NULL);
    assert_close(y, 4, ct->y, ct->yv, 1e-12, ct->name, "NULL args and output_padding");
    tg_free(y);

    const conv_ref *c1 = NULL;
    for (int i = 0; i < NCONV_REFS; i++)
        if (strcmp(conv_refs[i].name, "c1_basic") == 0)
            c1 = &conv_refs[i];
    ck_assert_ptr_nonnull(c1);
    tg_tensor *x1 = conv_values(0, F64, 3, c1->x);
    tg_tensor *w1 = conv_values(1, F64, 3, c1->w);
    tg_tensor *b1 = conv_values(2, F64, 1, (const int64_t[]){c1->y[1]});
    y = tg_ad_conv1d(NULL, x1, w1, b1, NULL);
    assert_close(y, 3, c1->y, c1->yv, 1e-12, c1->name, "NULL args");
    tg_free(y);
    /* conv1d reads entry 0 of each pair only: entry 1 may hold anything. */
    tg_conv_args a = TG_CONV_ARGS;
    a.stride[1] = 0;
    a.padding[1] = -3;
    a.dilation[1] = 0;
    y = tg_ad_conv1d(NULL, x1, w1, b1, &a);
    assert_close(y, 3, c1->y, c1->yv, 1e-12, c1->name, "entry 1 ignored");
    tg_free(y);

    tg_tensor *all[] = {x, w, b, xt, wt, bt, x1, w1, b1};
    free_all((int)(sizeof all / sizeof all[0]), all);
}
END_TEST

/* ---- non-contiguous inputs ----------------------------------------------------- */

/* The same values as t in a view that is not contiguous:
 * 'p' channels last in memory (a permuted view),
 * 'r' the last axis reversed in memory (a negative stride),
 * 's' every other element of a larger tensor along axis 0 (stride 2);
 * the next of these when size-1 axes make one contiguous after all. */
static tg_tensor *strided(const tg_tensor *t, char how)
{
    int nd = tg_ndim(t);
    tg_tensor *mem = NULL, *v = NULL;
    if (how != 'p' && how != 'r' && how != 's')
        return NULL;
    if (how == 'p') {
        int to[4] = {0, 2, 3, 1}, back[4] = {0, 3, 1, 2};
        if (nd == 3) {
            to[1] = back[1] = 2;
            to[2] = back[2] = 1;
        }
        tg_tensor *p = tg_permute(t, to);
        mem = tg_contiguous(p);
        tg_free(p);
        v = tg_permute(mem, back);
    } else if (how == 'r') {
        tg_tensor *f = tg_flip(t, nd - 1); /* may itself be a view */
        mem = tg_contiguous(f);
        tg_free(f);
        v = tg_slice(mem, nd - 1, TG_NONE, TG_NONE, -1);
    } else {
        mem = tg_repeat(t, 0, 2);
        v = tg_slice(mem, 0, 0, TG_NONE, 2);
    }
    tg_free(mem);
    ck_assert_ptr_nonnull(v);
    if (tg_is_contiguous(v)) { /* size-1 axes: the next layout instead */
        tg_free(v);
        v = strided(t, how == 'p' ? 'r' : how == 'r' ? 's' : '-');
        ck_assert_msg(v != NULL, "no strided layout of this shape");
    }
    return v;
}

START_TEST(test_noncontiguous)
{
    const conv_ref *c = &conv_refs[_i];
    tg_tensor *in[3], *view[3] = {NULL, NULL, NULL};
    int n = make_inputs(c, F64, in);
    view[0] = strided(in[0], 'p');
    view[1] = strided(in[1], _i % 2 ? 'r' : 'p');
    if (n > 2)
        view[2] = strided(in[2], 's');
    tg_tensor *want = conv_run(NULL, c, in[0], in[1], in[2]);
    tg_tensor *got = conv_run(NULL, c, view[0], view[1], view[2]);
    assert_same(got, want, c->name, "strided inputs");
    tg_free(got);
    got = conv_run(NULL, c, view[0], in[1], in[2]);
    assert_same(got, want, c->name, "strided x");
    tg_free(got);
    tg_free(want);

    /* Gradients through a view: x is a leaf stored channels last, viewed
     * as NCHW on the tape; w a reversed view of a leaf. */
    int to4[4] = {0, 2, 3, 1}, back4[4] = {0, 3, 1, 2}, sw3[3] = {0, 2, 1};
    const int *to = c->ndim == 4 ? to4 : sw3, *back = c->ndim == 4 ? back4 : sw3;
    tg_tensor *p = tg_permute(in[0], to);
    tg_tensor *xl = tg_contiguous(p);
    tg_free(p);
    tg_tensor *wl = tg_flip(in[1], c->ndim - 1);
    tg_requires_grad(xl, true);
    tg_requires_grad(wl, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *xv = tg_ad_permute(T, xl, back);
    tg_tensor *wv = tg_ad_flip(T, wl, c->ndim - 1);
    tg_tensor *y = conv_run(T, c, xv, wv, in[2]);
    assert_close(y, c->ndim, c->y, c->yv, 1e-12, c->name, "forward of views");
    tg_tensor *wts;
    tg_tensor *loss = conv_loss(T, c, y, &wts);
    ck_assert_msg(tg_backward(T, loss) == TG_OK, "%s: %s", c->name, tg_last_message());
    tg_tensor *gx = tg_permute(tg_grad(xl), back);
    tg_tensor *gw = tg_flip(tg_grad(wl), c->ndim - 1);
    assert_close(gx, tg_ndim(in[0]), tg_shape(in[0]), c->gx, 1e-12, c->name,
                 "grad x through a permuted view");
    assert_close(gw, tg_ndim(in[1]), tg_shape(in[1]), c->gw, 1e-12, c->name,
                 "grad w through a flip");
    tg_free(gx);
    tg_free(gw);
    tg_free(wts);
    tg_tape_free(T);
    tg_free(xl);
    tg_free(wl);
    free_all(n, view);
    free_all(n, in);
}
END_TEST

/* ---- the gradient checker ---------------------------------------------------- */

typedef struct gc_ctx {
    const conv_ref *c;
    bool second;
} gc_ctx;

static tg_tensor *gc_fn(tg_tape *T, tg_tensor *const *leaves, void *ctx)
{
    const gc_ctx *g = ctx;
    int n = g->c->bias ? 3 : 2;
    tg_tensor *y = conv_run(T, g->c, leaves[0], leaves[1], n > 2 ? leaves[2] : NULL);
    if (!g->second || !y)
        return y;
    /* d sum(u y^2) / d (x, w, bias), all joined: the checker's differences
     * of it test the backward rules' own derivatives. u is a constant. It is
     * at most quadratic in any one input element, so central differences
     * have no truncation error (y^3 left the float64 roundoff of the
     * differences, ~2e-7 relative here, above the tolerance). */
    tg_tensor *u = tg_ad_detach(T, y);
    if (!u)
        return NULL;
    for (int64_t i = 0; i < tg_numel(u); i++)
        ((double *)tg_data(u))[i] = 0.5 + 0.25 * (double)(i % 5) - 0.1 * (double)(i % 3);
    tg_tensor *root = tg_ad_sum(T, tg_ad_mul(T, tg_ad_mul(T, y, y), u));
    tg_tensor *d[3], *flat[3];
    if (!root || tg_ad_grad(T, root, NULL, n, leaves, d, true))
        return NULL;
    for (int i = 0; i < n; i++)
        flat[i] = tg_ad_reshape(T, d[i], 1, (const int64_t[]){-1});
    return tg_ad_concat(T, n, flat, 0);
}

/* Small configurations: groups with dilation and stride (conv2d, conv1d),
 * an even 'same', depthwise, the transpose with groups and dilation. */
static const char *const gc_cases[] = {
    "hvp_c2", "c1_dil2_groups2", "c2_same_even_dilated", "c2_depthwise_nobias",
    "ct_groups2_nobias", "hvp_ct", "ct_dilation2",
};
#define NGC ((int)(sizeof gc_cases / sizeof gc_cases[0]))

static const conv_ref *find_ref(const char *name)
{
    for (int i = 0; i < NCONV_REFS; i++)
        if (strcmp(conv_refs[i].name, name) == 0)
            return &conv_refs[i];
    ck_abort_msg("no reference case %s", name);
    return NULL;
}

START_TEST(test_gradcheck)
{
    const conv_ref *c = find_ref(gc_cases[_i]);
    tg_tensor *in[3];
    int n = make_inputs(c, F64, in);
    int64_t want = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(tg_requires_grad(in[i], true), TG_OK);
        want += tg_numel(in[i]);
    }
    for (int second = 0; second < 2; second++) {
        gc_ctx g = {c, second != 0};
        tg_gradcheck_report rep;
        int rc = tg_gradcheck(gc_fn, &g, n, in, 1e-4, 1e-7, 1e-6, &rep);
        ck_assert_msg(rc == TG_OK, "%s: gradcheck did not run: %s", c->name,
                      tg_last_message());
        ck_assert_msg(rep.checked == want, "%s: checked %lld of %lld", c->name,
                      (long long)rep.checked, (long long)want);
        ck_assert_msg(rep.ok,
                      "%s (%s order): input %d element %lld: analytic %.17g numeric %.17g",
                      c->name, second ? "second" : "first", rep.input, (long long)rep.index,
                      rep.analytic, rep.numeric);
    }
    free_all(n, in);
}
END_TEST

/* A recorded backward (create_graph) and a plain one give the same
 * gradients, bit for bit (tape.h's promise). */
START_TEST(test_recorded_equals_plain)
{
    const conv_ref *c = &conv_refs[_i];
    tg_tensor *in[3];
    int n = make_inputs(c, F64, in);
    for (int i = 0; i < n; i++)
        tg_requires_grad(in[i], true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = conv_run(T, c, in[0], in[1], n > 2 ? in[2] : NULL);
    tg_tensor *wts;
    tg_tensor *loss = conv_loss(T, c, y, &wts);
    tg_tensor *plain[3], *rec[3];
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, n, in, plain, false), TG_OK);
    ck_assert_int_eq(tg_ad_grad(T, loss, NULL, n, in, rec, true), TG_OK);
    for (int i = 0; i < n; i++)
        assert_same(plain[i], rec[i], c->name, in_names[i]);
    tg_free(wts);
    tg_tape_free(T);
    free_all(n, in);
}
END_TEST

/* ---- bad input ----------------------------------------------------------------------- */

#define ASSERT_FAILS(expr, code, msg)                                          \
    do {                                                                       \
        tg_clear_error();                                                      \
        ck_assert_msg((expr) == NULL, "%s made a result", #expr);              \
        TGT_ASSERT_ERR(code, msg);                                             \
    } while (0)

START_TEST(test_bad_input)
{
    tg_tape *T = tg_tape_new();
    tg_tensor *x = conv_values(0, F64, SH(2, 4, 5, 5));
    tg_tensor *w = conv_values(1, F64, SH(6, 2, 3, 3));
    tg_tensor *b = conv_values(2, F64, SH(6));
    tg_requires_grad(x, true);
    tg_requires_grad(w, true);
    tg_requires_grad(b, true);
    tg_conv_args g2 = TG_CONV_ARGS;
    g2.groups = 2;
    /* the setting works */
    tg_tensor *ok = tg_ad_conv2d(NULL, x, w, b, &g2);
    tgt_assert_shape(ok, SH(2, 6, 3, 3));
    tg_free(ok);

    /* NULL inputs give NULL and keep the earlier error (no new message). */
    tg_clear_error();
    ck_assert_ptr_null(tg_reshape(x, SH(7)));
    int earlier = tg_last_error();
    char msg[256];
    snprintf(msg, sizeof msg, "%s", tg_last_message());
    ck_assert_int_ne(earlier, TG_OK);
    ck_assert_ptr_null(tg_ad_conv2d(T, NULL, w, b, &g2));
    TGT_ASSERT_ERR(earlier, msg);
    ck_assert_ptr_null(tg_ad_conv2d(T, x, NULL, b, &g2));
    TGT_ASSERT_ERR(earlier, msg);
    ck_assert_ptr_null(tg_ad_conv1d(T, NULL, w, NULL, NULL));
    TGT_ASSERT_ERR(earlier, msg);
    ck_assert_ptr_null(tg_ad_conv_transpose2d(T, x, NULL, NULL, NULL, NULL));
    TGT_ASSERT_ERR(earlier, msg);
    ck_assert_ptr_null(tg_ad_conv_transpose2d(NULL, NULL, w, NULL, NULL, NULL));
    TGT_ASSERT_ERR(earlier, msg);

    /* rank */
    tg_tensor *x3 = conv_values(0, F64, SH(2, 4, 5));
    tg_tensor *w3 = conv_values(1, F64, SH(6, 2, 3));
    tg_tensor *x5 = conv_values(0, F64, SH(1, 2, 4, 5, 5));
    ASSERT_FAILS(tg_ad_conv2d(T, x3, w, b, &g2), TG_ERR_SHAPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv2d(T, x5, w, b, &g2), TG_ERR_SHAPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv2d(T, x, w3, b, &g2), TG_ERR_SHAPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv1d(T, x, w3, b, &g2), TG_ERR_SHAPE, "tg_ad_conv1d");
    ASSERT_FAILS(tg_ad_conv1d(T, x3, w, b, &g2), TG_ERR_SHAPE, "tg_ad_conv1d");
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x3, w, NULL, NULL, NULL), TG_ERR_SHAPE,
                 "tg_ad_conv_transpose2d");

    /* dtypes: mixed, integer */
    tg_tensor *x32 = tg_cast(x, F32);
    tg_tensor *b32 = tg_cast(b, F32);
    tg_tensor *xi = tg_cast(x, TG_INT32);
    tg_tensor *wi = tg_cast(w, TG_INT32);
    tg_tensor *xl = tg_cast(x, TG_INT64);
    tg_tensor *wl = tg_cast(w, TG_INT64);
    ASSERT_FAILS(tg_ad_conv2d(T, x32, w, b, &g2), TG_ERR_DTYPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv2d(T, x, w, b32, &g2), TG_ERR_DTYPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv2d(T, xi, wi, NULL, &g2), TG_ERR_DTYPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv2d(NULL, xl, wl, NULL, &g2), TG_ERR_DTYPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x32, w, NULL, NULL, NULL), TG_ERR_DTYPE,
                 "tg_ad_conv_transpose2d");

    /* channels: C != groups * w.shape[1] */
    tg_conv_args a = TG_CONV_ARGS; /* groups 1: w wants 2 channels, x has 4 */
    ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_SHAPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv1d(T, x3, w3, b, &a), TG_ERR_SHAPE, "tg_ad_conv1d");
    /* groups that do not divide C (4) or O (5): a matter of the channel
     * counts, so TG_ERR_SHAPE */
    a = g2;
    a.groups = 3;
    tg_tensor *w_o5 = conv_values(1, F64, SH(5, 2, 3, 3));
    tg_tensor *b5 = conv_values(2, F64, SH(5));
    ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_SHAPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv2d(T, x, w_o5, b5, &g2), TG_ERR_SHAPE, "tg_ad_conv2d");
    a.groups = 0;
    ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_VALUE, "tg_ad_conv2d");
    a.groups = -2;
    ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_VALUE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv1d(T, x3, w3, b, &a), TG_ERR_VALUE, "tg_ad_conv1d");
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, w, NULL, &a, NULL), TG_ERR_VALUE,
                 "tg_ad_conv_transpose2d");

    /* stride, padding, dilation */
    for (int axis = 0; axis < 2; axis++) {
        a = g2;
        a.stride[axis] = 0;
        ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_VALUE, "tg_ad_conv2d");
        a.stride[axis] = -1;
        ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_VALUE, "tg_ad_conv2d");
        ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, w, NULL, &a, NULL), TG_ERR_VALUE,
                     "tg_ad_conv_transpose2d");
        a = g2;
        a.padding[axis] = -1;
        ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_VALUE, "tg_ad_conv2d");
        ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, w, NULL, &a, NULL), TG_ERR_VALUE,
                     "tg_ad_conv_transpose2d");
        a = g2;
        a.dilation[axis] = 0;
        ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_VALUE, "tg_ad_conv2d");
        a.dilation[axis] = -1;
        ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, w, NULL, &a, NULL), TG_ERR_VALUE,
                     "tg_ad_conv_transpose2d");
    }
    a = g2;
    a.stride[0] = 0;
    ASSERT_FAILS(tg_ad_conv1d(T, x3, w3, b, &a), TG_ERR_VALUE, "tg_ad_conv1d");
    a = g2;
    a.padding[0] = -2;
    ASSERT_FAILS(tg_ad_conv1d(T, x3, w3, b, &a), TG_ERR_VALUE, "tg_ad_conv1d");
    a = g2;
    a.dilation[0] = 0;
    ASSERT_FAILS(tg_ad_conv1d(T, x3, w3, b, &a), TG_ERR_VALUE, "tg_ad_conv1d");

    /* 'same' needs stride 1; the transpose refuses it */
    a = g2;
    a.same = true;
    ok = tg_ad_conv2d(NULL, x, w, b, &a);
    tgt_assert_shape(ok, SH(2, 6, 5, 5));
    tg_free(ok);
    a.stride[1] = 2;
    ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_VALUE, "tg_ad_conv2d");
    a.stride[1] = 1;
    a.stride[0] = 2;
    ASSERT_FAILS(tg_ad_conv1d(T, x3, w3, b, &a), TG_ERR_VALUE, "tg_ad_conv1d");
    a.stride[0] = 1;
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, w, NULL, &a, NULL), TG_ERR_VALUE,
                 "tg_ad_conv_transpose2d");

    /* a kernel larger than the padded input: 5 + 0 < 6; 5 < 2 (3 - 1) + 1
     * with dilation 2 on a 4-long input; padding 1 makes it fit */
    tg_tensor *wbig = conv_values(1, F64, SH(6, 2, 6, 3));
    ASSERT_FAILS(tg_ad_conv2d(T, x, wbig, b, &g2), TG_ERR_SHAPE, "tg_ad_conv2d");
    a = g2;
    a.padding[0] = 1;
    ok = tg_ad_conv2d(NULL, x, wbig, b, &a);
    tgt_assert_shape(ok, SH(2, 6, 2, 3));
    tg_free(ok);
    tg_tensor *x4 = conv_values(0, F64, SH(2, 4, 4));
    a = g2;
    a.dilation[0] = 2;
    ASSERT_FAILS(tg_ad_conv1d(T, x4, w3, b, &a), TG_ERR_SHAPE, "tg_ad_conv1d");
    a.dilation[0] = 1;
    a.dilation[1] = 3; /* 5 < 3 (3 - 1) + 1 = 7 in width */
    ASSERT_FAILS(tg_ad_conv2d(T, x, w, b, &a), TG_ERR_SHAPE, "tg_ad_conv2d");

    /* bias of the wrong shape */
    tg_tensor *b2d = conv_values(2, F64, SH(6, 1));
    ASSERT_FAILS(tg_ad_conv2d(T, x, w, b5, &g2), TG_ERR_SHAPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv2d(T, x, w, b2d, &g2), TG_ERR_SHAPE, "tg_ad_conv2d");
    ASSERT_FAILS(tg_ad_conv1d(T, x3, w3, b5, &g2), TG_ERR_SHAPE, "tg_ad_conv1d");

    /* conv_transpose2d: x (2, 4, 5, 5), w (4, 3, 2, 2), groups 2 -> O = 6 */
    tg_tensor *wt = conv_values(1, F64, SH(4, 3, 2, 2));
    a = g2;
    ok = tg_ad_conv_transpose2d(NULL, x, wt, b, &a, NULL);
    tgt_assert_shape(ok, SH(2, 6, 6, 6));
    tg_free(ok);
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, wt, b5, &a, NULL), TG_ERR_SHAPE,
                 "tg_ad_conv_transpose2d");
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, w, NULL, &a, NULL), TG_ERR_SHAPE,
                 "tg_ad_conv_transpose2d"); /* w.shape[0] 6 != C 4 */
    /* output_padding must be smaller than the stride or the dilation */
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, wt, b, &a, (const int64_t[]){1, 0}),
                 TG_ERR_VALUE, "tg_ad_conv_transpose2d");
    a.stride[0] = a.stride[1] = 2;
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, wt, b, &a, (const int64_t[]){0, 2}),
                 TG_ERR_VALUE, "tg_ad_conv_transpose2d");
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, wt, b, &a, (const int64_t[]){-1, 0}),
                 TG_ERR_VALUE, "tg_ad_conv_transpose2d");
    ok = tg_ad_conv_transpose2d(NULL, x, wt, b, &a, (const int64_t[]){1, 1});
    tgt_assert_shape(ok, SH(2, 6, 11, 11));
    tg_free(ok);
    a = g2;
    a.dilation[1] = 3; /* stride 1, dilation 3: up to 2 allowed in width */
    ok = tg_ad_conv_transpose2d(NULL, x, wt, b, &a, (const int64_t[]){0, 2});
    tgt_assert_shape(ok, SH(2, 6, 6, 10));
    tg_free(ok);
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, wt, b, &a, (const int64_t[]){0, 3}),
                 TG_ERR_VALUE, "tg_ad_conv_transpose2d");
    /* a padding that leaves nothing: (5 - 1) - 2 * 3 + (2 - 1) + 1 = 0 */
    a = g2;
    a.padding[0] = 3;
    ASSERT_FAILS(tg_ad_conv_transpose2d(T, x, wt, b, &a, NULL), TG_ERR_SHAPE,
                 "tg_ad_conv_transpose2d");

    /* a failing call records nothing */
    ck_assert_uint_eq(tg_tape_length(T), 0);
    tg_tape_free(T);
    tg_tensor *all[] = {x, w, b, x3, w3, x5, x32, b32, xi, wi, xl, wl, w_o5, b5, wbig, x4,
                        b2d, wt};
    free_all((int)(sizeof all / sizeof all[0]), all);
}
END_TEST

/* ---- allocation failures -------------------------------------------------------- */

/* The caller-owned forms (T == NULL), swept by tgt_sweep_failures. */
static tg_tensor *sw_w, *sw_b, *sw_wt, *sw_w1, *sw_b1;
static tg_conv_args sw_args;

static tg_tensor *sw_conv2d(const tg_tensor *x)
{
    return tg_ad_conv2d(NULL, (tg_tensor *)(uintptr_t)x, sw_w, sw_b, &sw_args);
}

static tg_tensor *sw_conv_transpose2d(const tg_tensor *x)
{
    return tg_ad_conv_transpose2d(NULL, (tg_tensor *)(uintptr_t)x, sw_wt, sw_b, &sw_args,
                                  (const int64_t[]){1, 0});
}

/* x (N, C, L): made before the sweep, so every allocation the sweep fails
 * is the op's own. */
static tg_tensor *sw_conv1d(const tg_tensor *x)
{
    return tg_ad_conv1d(NULL, (tg_tensor *)(uintptr_t)x, sw_w1, sw_b1, &sw_args);
}

START_TEST(test_plain_allocation_failures)
{
    tg_tensor *x = conv_values(0, F64, SH(2, 4, 6, 5));
    tg_tensor *xv = strided(x, 'p');
    sw_w = conv_values(1, F64, SH(6, 2, 3, 2));
    sw_b = conv_values(2, F64, SH(6));
    sw_wt = conv_values(1, F64, SH(4, 3, 2, 3));
    sw_w1 = conv_values(1, F64, SH(6, 2, 3));
    sw_b1 = sw_b;
    tg_conv_args a = {{2, 1}, {1, 1}, {1, 2}, 2, false};
    sw_args = a;
    tg_tensor *bias = sw_b;
    sw_b = NULL; /* without a bias first */
    ck_assert_int_gt(tgt_sweep_failures(sw_conv2d, x, "tg_ad_conv2d"), 0);
    ck_assert_int_gt(tgt_sweep_failures(sw_conv_transpose2d, xv, "tg_ad_conv_transpose2d"), 0);
    sw_b = bias;
    ck_assert_int_gt(tgt_sweep_failures(sw_conv2d, x, "tg_ad_conv2d"), 0);
    ck_assert_int_gt(tgt_sweep_failures(sw_conv2d, xv, "tg_ad_conv2d"), 0);
    ck_assert_int_gt(tgt_sweep_failures(sw_conv_transpose2d, x, "tg_ad_conv_transpose2d"), 0);
    tg_tensor *x1 = tg_select(x, 3, 1), *xv1 = tg_select(xv, 3, 1); /* (N, C, H) */
    ck_assert_ptr_nonnull(x1);
    ck_assert_ptr_nonnull(xv1);
    ck_assert_int_gt(tgt_sweep_failures(sw_conv1d, xv1, "tg_ad_conv1d"), 0);
    sw_b1 = NULL;
    ck_assert_int_gt(tgt_sweep_failures(sw_conv1d, x1, "tg_ad_conv1d"), 0);
    tg_free(x1);
    tg_free(xv1);
    sw_args.same = true;
    sw_args.stride[0] = 1;
    ck_assert_int_gt(tgt_sweep_failures(sw_conv2d, x, "tg_ad_conv2d"), 0);
    tg_tensor *all[] = {x, xv, sw_w, sw_b, sw_wt, sw_w1};
    free_all((int)(sizeof all / sizeof all[0]), all);
}
END_TEST

/* One step on a new tape (with a byte limit, 0 for none): the three convs,
 * a loss, backward (or, second, a recorded gradient and the gradient of its
 * norm). Returns the code. */
static int tape_step(tg_tensor *x, tg_tensor *w, tg_tensor *b, tg_tensor *wt,
                     tg_tensor *w1, bool second, size_t limit)
{
    tg_tape *T = tg_tape_new();
    if (!T)
        return tg_last_error();
    tg_tape_set_limit(T, limit);
    tg_conv_args a = {{2, 1}, {1, 1}, {1, 2}, 2, false};
    tg_tensor *y = tg_ad_conv2d(T, x, w, b, &a);                        /* (2,6,3,5) */
    tg_tensor *z = tg_ad_conv_transpose2d(T, y, wt, NULL, &a,
                                          (const int64_t[]){1, 0});     /* (2,6,5,7) */
    tg_tensor *u = tg_ad_conv1d(T, tg_ad_reshape(T, z, SH(2, 6, 35)), w1, b, &a);
    tg_tensor *loss = tg_ad_sum(T, tg_ad_mul(T, u, u));
    int rc;
    if (!loss) {
        rc = tg_last_error();
    } else if (!second) {
        rc = tg_backward(T, loss);
    } else {
        tg_tensor *in[2] = {x, w}, *g[2], *h[2];
        rc = tg_ad_grad(T, loss, NULL, 2, in, g, true);
        if (!rc) {
            tg_tensor *s = tg_ad_add(T, tg_ad_sum(T, tg_ad_mul(T, g[0], g[0])),
                                     tg_ad_sum(T, tg_ad_mul(T, g[1], g[1])));
            rc = s ? tg_ad_grad(T, s, NULL, 2, in, h, false) : tg_last_error();
        }
    }
    tg_tape_free(T);
    return rc;
}

START_TEST(test_tape_allocation_failures)
{
    tg_tensor *x = conv_values(0, F64, SH(2, 4, 6, 5));
    tg_tensor *w = conv_values(1, F64, SH(6, 2, 3, 2));
    tg_tensor *b = conv_values(2, F64, SH(6));
    tg_tensor *wt = conv_values(1, F64, SH(6, 3, 2, 3));
    tg_tensor *w1 = conv_values(1, F64, SH(6, 3, 3));
    tg_tensor *params[] = {x, w, b, wt, w1};
    for (int i = 0; i < 5; i++)
        tg_requires_grad(params[i], true);
    /* one step first, so that every leaf has its .grad */
    ck_assert_int_eq(tape_step(x, w, b, wt, w1, false, 0), TG_OK);
    long base = tgt_stats.live_blocks;
    for (int second = 0; second < 2; second++) {
        int failures = 0;
        bool done = false;
        for (long k = 1; k < 5000 && !done; k++) {
            for (int i = 0; i < 5; i++)
                tg_zero_grad(params[i]);
            tg_clear_error();
            tgt_stats.fail_at = tgt_stats.calls + k;
            int rc = tape_step(x, w, b, wt, w1, second != 0, 0);
            bool hit = tgt_stats.calls >= tgt_stats.fail_at;
            tgt_stats.fail_at = 0;
            if (rc != TG_OK) {
                ck_assert_msg(rc == TG_ERR_NOMEM, "%s, allocation %ld: code %d (%s)",
                              second ? "second order" : "first order", k, rc,
                              tg_last_message());
                failures++;
            } else {
                ck_assert_msg(!hit, "allocation %ld failed but the step succeeded", k);
            }
            ck_assert_msg(tgt_stats.live_blocks == base,
                          "%s, allocation %ld: %ld blocks more than before",
                          second ? "second order" : "first order", k,
                          tgt_stats.live_blocks - base);
            done = !hit;
        }
        ck_assert(done);
        ck_assert_int_ge(failures, 2); /* the tape, its arena's chunks */
    }
    /* Within the arena: a byte limit that grows by 64 makes each op of the
     * step, forward and backward, fail in turn with TG_ERR_NOMEM. */
    for (int second = 0; second < 2; second++) {
        int failures = 0, rc = TG_ERR_NOMEM;
        for (size_t limit = 64; rc != TG_OK && limit < ((size_t)1 << 24); limit += 64) {
            tg_clear_error();
            rc = tape_step(x, w, b, wt, w1, second != 0, limit);
            if (rc != TG_OK) {
                ck_assert_msg(rc == TG_ERR_NOMEM, "%s, limit %zu: code %d (%s)",
                              second ? "second order" : "first order", limit, rc,
                              tg_last_message());
                failures++;
            }
            ck_assert_int_eq(tgt_stats.live_blocks, base);
        }
        ck_assert_int_eq(rc, TG_OK);
        ck_assert_int_ge(failures, 10);
    }
    free_all(5, params);
}
END_TEST

/* ---- steady state --------------------------------------------------------------------- */

/* Ten training-like steps (reset, the convs, a loss, backward, SGD):
 * after the first, no allocation at all. */
START_TEST(test_steps_stop_allocating)
{
    tg_tensor *x = conv_values(0, F32, SH(4, 4, 12, 10));
    tg_tensor *w = conv_values(1, F32, SH(8, 2, 3, 3));
    tg_tensor *b = conv_values(2, F32, SH(8));
    tg_tensor *wt = conv_values(1, F32, SH(8, 2, 2, 2));
    tg_tensor *w1 = conv_values(1, F32, SH(4, 4, 3));
    tg_tensor *params[] = {w, b, wt, w1};
    for (int i = 0; i < 4; i++)
        tg_requires_grad(params[i], true);
    tg_tape *T = tg_tape_new();
    tg_conv_args a = {{1, 1}, {1, 1}, {1, 1}, 2, false};
    tg_conv_args same = {{1, 1}, {0, 0}, {2, 2}, 1, true};
    long allocs = 0, reallocs = 0, calls = 0;
    for (int step = 0; step < 10; step++) {
        if (step == 1) {
            allocs = tgt_stats.allocs;
            reallocs = tgt_stats.reallocs;
            calls = tgt_stats.calls;
        }
        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        tg_tensor *h = tg_ad_relu(T, tg_ad_conv2d(T, x, w, b, &a));          /* (4,8,12,10) */
        h = tg_ad_conv_transpose2d(T, h, wt, NULL, &a, NULL);                /* (4,4,11,9) */
        tg_tensor *r = tg_ad_reshape(T, h, SH(4, 4, 99));
        h = tg_ad_conv1d(T, r, w1, NULL, &same);                             /* (4,4,99) */
        tg_tensor *loss = tg_ad_mean(T, tg_ad_mul(T, h, h));
        ck_assert_msg(loss != NULL, "%s", tg_last_message());
        for (int i = 0; i < 4; i++)
            tg_zero_grad(params[i]);
        ck_assert_msg(tg_backward(T, loss) == TG_OK, "%s", tg_last_message());
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(tg_axpy_into(params[i], -1e-4, tg_grad(params[i])), TG_OK);
        if (step >= 1)
            ck_assert_msg(tgt_stats.allocs == allocs && tgt_stats.reallocs == reallocs &&
                              tgt_stats.calls == calls,
                          "step %d allocated: %ld allocations, %ld reallocations since "
                          "step 1",
                          step + 1, tgt_stats.allocs - allocs, tgt_stats.reallocs - reallocs);
    }
    tg_tape_free(T);
    tg_free(x);
    free_all(4, params);
}
END_TEST

Suite *test_conv_suite(void); /* called by the generated runner */

Suite *test_conv_suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tgt_tcase("vs pytorch");
    tcase_add_loop_test(tc, test_vs_pytorch_f64, 0, NCONV_REFS);
    tcase_add_loop_test(tc, test_vs_pytorch_f32, 0, NCONV_REFS);
    tcase_add_loop_test(tc, test_partial_grads, 0, NCONV_REFS);
    tcase_add_loop_test(tc, test_recorded_equals_plain, 0, NCONV_REFS);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("layouts");
    tcase_add_loop_test(tc, test_no_tape, 0, NCONV_REFS);
    tcase_add_loop_test(tc, test_noncontiguous, 0, NCONV_REFS);
    tcase_add_test(tc, test_default_args);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("gradcheck");
    tcase_add_loop_test(tc, test_gradcheck, 0, NGC);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_plain_allocation_failures);
    tcase_add_test(tc, test_tape_allocation_failures);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("memory");
    tcase_add_test(tc, test_steps_stop_allocating);
    suite_add_tcase(s, tc);
    return s;
}
