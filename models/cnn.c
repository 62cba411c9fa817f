/* cnn.c - the convolutional-net layers of cnn.h: each checks its input
 * against its own configuration (so a mistake is reported under the
 * layer's name, in the layer's terms) and hands the work to one op of
 * autograd/nn_ops.h, whose backward the tape runs. Nothing here writes a
 * gradient of its own. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../autograd/internal.h"
#include "cnn.h"
#include "internal.h"

/* ---- shared checks ------------------------------------------------------------ */

/* dt can hold parameters: a known floating dtype. */
static int check_param_dtype(const char *fn, tg_dtype dt)
{
    if (!tg__valid_dtype(dt))
        return tg__fail(TG_ERR_DTYPE, fn, "unknown dtype %d", (int)dt);
    if (!tg__is_float(dt)) /* parameters carry gradients */
        return tg__need_float(fn, "dtype", dt);
    return TG_OK;
}

/* x has the layer's dtype want. */
static bool dtype_ok(const char *fn, const tg_tensor *x, tg_dtype want)
{
    if (x->dtype == want)
        return true;
    tg__fail(TG_ERR_DTYPE, fn, "x is %s but the layer is %s", tg_dtype_name(x->dtype),
             tg_dtype_name(want));
    return false;
}

/* "<prefix><suffix>" into name (TG_PARAM_NAME_MAX bytes). */
static int entry_name(const char *fn, const char *prefix, const char *suffix,
                      char *name)
{
    int n = snprintf(name, TG_PARAM_NAME_MAX, "%s%s", prefix, suffix);
    if (n < 0 || n >= TG_PARAM_NAME_MAX)
        return tg__fail(TG_ERR_VALUE, fn,
                        "prefix \"%s\" is too long: \"%s%s\" has %d characters; at "
                        "most %d are allowed",
                        prefix, prefix, suffix, n, TG_PARAM_NAME_MAX - 1);
    return TG_OK;
}

/* Adds n entries "<prefix>.<suffix[i]>", the first nparams as parameters
 * and the rest as buffers, or none: on failure the list is as it was (a
 * parameter already marked keeps its requires-grad flag, as tg_mlp_params
 * leaves it). Errors under fn. */
static int add_entries(const char *fn, tg_params *p, const char *prefix, int n,
                       int nparams, const char *const *suffix, tg_tensor *const *t)
{
    int rc = tgm__check_params(fn, p, false);
    if (rc)
        return rc;
    if (!prefix)
        return tg__fail(TG_ERR_NULL, fn, "prefix is NULL");
    if (p->count + n > TG_MAX_PARAMS)
        return tg__fail(TG_ERR_VALUE, fn,
                        "%d more entries do not fit in a list holding %d of %d "
                        "(raise TG_MAX_PARAMS in models/nn.h and rebuild)",
                        n, p->count, TG_MAX_PARAMS);
    char names[4][TG_PARAM_NAME_MAX];
    for (int i = 0; i < n; i++)
        if ((rc = entry_name(fn, prefix, suffix[i], names[i])))
            return rc;
    int before = p->count;
    for (int i = 0; i < n && rc == TG_OK; i++)
        rc = i < nparams ? tg_params_add(p, names[i], t[i])
                         : tg_params_add_buffer(p, names[i], t[i]);
    if (rc)
        p->count = before;
    return rc;
}

/* A new tensor of dt and shape filled with value, or NULL (error under fn). */
static tg_tensor *filled(const char *fn, tg_dtype dt, int ndim, const int64_t *shape,
                         double value)
{
    tg_tensor *t = tg__new(fn, dt, ndim, shape);
    if (t && tg_fill(t, value)) {
        tg_free(t);
        return NULL;
    }
    return t;
}

/* ---- Conv2d --------------------------------------------------------------------- */

void tg_conv2d_free(tg_conv2d *l)
{
    if (!l)
        return;
    tg_free(l->weight);
    tg_free(l->bias);
    memset(l, 0, sizeof *l);
}

/* The sliding of a convolution: the same rules as tg_ad_conv2d, checked
 * at init so that a bad layer is refused when it is made. */
static int check_conv_args(const char *fn, const tg_conv_args *a)
{
    for (int k = 0; k < 2; k++) {
        const char *axis = k ? "width" : "height";
        if (a->stride[k] < 1)
            return tg__fail(TG_ERR_VALUE, fn, "stride %lld on the %s axis; it must be >= 1",
                            (long long)a->stride[k], axis);
        if (a->padding[k] < 0)
            return tg__fail(TG_ERR_VALUE, fn,
                            "padding %lld on the %s axis; it must be >= 0",
                            (long long)a->padding[k], axis);
        if (a->dilation[k] < 1)
            return tg__fail(TG_ERR_VALUE, fn,
                            "dilation %lld on the %s axis; it must be >= 1",
                            (long long)a->dilation[k], axis);
        if (a->same && a->stride[k] != 1)
            return tg__fail(TG_ERR_VALUE, fn,
                            "padding 'same' needs stride 1; the %s axis has stride %lld",
                            axis, (long long)a->stride[k]);
    }
    if (a->groups < 1)
        return tg__fail(TG_ERR_VALUE, fn, "groups is %lld; it must be >= 1",
                        (long long)a->groups);
    return TG_OK;
}

int tg_conv2d_init(tg_conv2d *l, int64_t in, int64_t out, const int64_t *kernel,
                   const tg_conv_args *args, bool bias, tg_dtype dt, tg_rng *rng)
{
    const char *fn = "tg_conv2d_init";
    if (!l)
        return tg__fail(TG_ERR_NULL, fn, "layer is NULL");
    memset(l, 0, sizeof *l); /* so tg_conv2d_free is safe whatever happens */
    if (!kernel || !rng)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", kernel ? "rng" : "kernel");
    if (in < 1 || out < 1)
        return tg__fail(TG_ERR_VALUE, fn,
                        "channels in = %lld and out = %lld must be positive",
                        (long long)in, (long long)out);
    if (kernel[0] < 1 || kernel[1] < 1)
        return tg__fail(TG_ERR_VALUE, fn, "kernel %lldx%lld; both sizes must be positive",
                        (long long)kernel[0], (long long)kernel[1]);
    tg_conv_args a = TG_CONV_ARGS;
    if (args)
        a = *args;
    int rc = check_conv_args(fn, &a);
    if (rc)
        return rc;
    if (in % a.groups || out % a.groups)
        return tg__fail(TG_ERR_VALUE, fn,
                        "groups = %lld must divide both in = %lld and out = %lld",
                        (long long)a.groups, (long long)in, (long long)out);
    if ((rc = check_param_dtype(fn, dt)))
        return rc;
    /* fan_in = in/groups * KH * KW can overflow only for absurd sizes, but
     * the weight's element count is the same product times out. */
    int64_t cin = in / a.groups, fan_in = cin;
    if (tg__mul_overflows(fan_in, kernel[0], &fan_in) ||
        tg__mul_overflows(fan_in, kernel[1], &fan_in))
        return tg__fail(TG_ERR_OVERFLOW, fn, "the kernel of %lld x %lld x %lld overflows",
                        (long long)cin, (long long)kernel[0], (long long)kernel[1]);
    /* PyTorch's reset_parameters: kaiming_uniform_(a = sqrt(5)) has bound
     * gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + 5)), which is
     * 1/sqrt(fan_in); the bias is uniform in the same range. As in
     * tg_linear_init the weight is drawn first, in C order. */
    double bound = 1.0 / sqrt((double)fan_in);
    l->weight = tg__new(fn, dt, TG_SHAPE(out, cin, kernel[0], kernel[1]));
    if (!l->weight || tg_uniform_fill(rng, l->weight, -bound, bound))
        goto fail;
    if (bias) {
        l->bias = tg__new(fn, dt, TG_SHAPE(out));
        if (!l->bias || tg_uniform_fill(rng, l->bias, -bound, bound))
            goto fail;
        tg_requires_grad(l->bias, true);
    }
    tg_requires_grad(l->weight, true);
    l->in = in;
    l->out = out;
    l->kernel[0] = kernel[0];
    l->kernel[1] = kernel[1];
    l->args = a;
    return TG_OK;
fail:
    rc = tg_last_error();
    tg_conv2d_free(l);
    return rc;
}

tg_tensor *tg_conv2d_forward(tg_tape *T, tg_conv2d *l, tg_tensor *x)
{
    const char *fn = "tg_conv2d_forward";
    char buf[TG__SHAPE_BUF];
    if (!l || !l->weight) {
        tg__fail(l ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                 l ? "layer is not initialised" : "layer is NULL");
        return NULL;
    }
    if (!x)
        return NULL;
    if (x->ndim != 4 || x->shape[1] != l->in) {
        tg__fail(TG_ERR_SHAPE, fn, "x has shape %s; expected (N, %lld, H, W)",
                 tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf), (long long)l->in);
        return NULL;
    }
    if (!dtype_ok(fn, x, l->weight->dtype))
        return NULL;
    return tg_ad_conv2d(T, x, l->weight, l->bias, &l->args);
}

int tg_conv2d_params(tg_conv2d *l, const char *prefix, tg_params *p)
{
    const char *fn = "tg_conv2d_params";
    if (!l)
        return tg__fail(TG_ERR_NULL, fn, "layer is NULL");
    if (!l->weight)
        return tg__fail(TG_ERR_VALUE, fn, "layer is not initialised");
    return add_entries(fn, p, prefix, l->bias ? 2 : 1, 2,
                       (const char *const[]){".weight", ".bias"},
                       (tg_tensor *const[]){l->weight, l->bias});
}

/* ---- MaxPool2d and AvgPool2d ---------------------------------------------------------- */

int tg_pool2d_init(tg_pool2d *l, const int64_t *kernel, const int64_t *stride,
                   const int64_t *padding)
{
    const char *fn = "tg_pool2d_init";
    if (!l)
        return tg__fail(TG_ERR_NULL, fn, "layer is NULL");
    memset(l, 0, sizeof *l);
    if (!kernel)
        return tg__fail(TG_ERR_NULL, fn, "kernel is NULL");
    tg_pool2d w;
    for (int k = 0; k < 2; k++) {
        const char *axis = k ? "width" : "height";
        w.kernel[k] = kernel[k];
        w.stride[k] = stride ? stride[k] : kernel[k];
        w.padding[k] = padding ? padding[k] : 0;
        if (w.kernel[k] < 1)
            return tg__fail(TG_ERR_VALUE, fn, "kernel %lld on the %s axis; it must be >= 1",
                            (long long)w.kernel[k], axis);
        if (w.stride[k] < 1)
            return tg__fail(TG_ERR_VALUE, fn, "stride %lld on the %s axis; it must be >= 1",
                            (long long)w.stride[k], axis);
        /* PyTorch's rule: a window must always hold one real element. */
        if (w.padding[k] < 0 || w.padding[k] > w.kernel[k] / 2)
            return tg__fail(TG_ERR_VALUE, fn,
                            "padding %lld on the %s axis; it must be in [0, %lld], at "
                            "most half the kernel",
                            (long long)w.padding[k], axis, (long long)(w.kernel[k] / 2));
    }
    *l = w;
    return TG_OK;
}

/* Whether the pooling layer was made by tg_pool2d_init. */
static bool pool_ok(const char *fn, const tg_pool2d *l)
{
    if (l && l->kernel[0] >= 1 && l->kernel[1] >= 1 && l->stride[0] >= 1 &&
        l->stride[1] >= 1)
        return true;
    tg__fail(l ? TG_ERR_VALUE : TG_ERR_NULL, fn,
             l ? "layer is not initialised" : "layer is NULL");
    return false;
}

tg_tensor *tg_max_pool2d_forward(tg_tape *T, const tg_pool2d *l, tg_tensor *x)
{
    if (!pool_ok("tg_max_pool2d_forward", l))
        return NULL;
    return tg_ad_max_pool2d(T, x, l->kernel, l->stride, l->padding);
}

tg_tensor *tg_avg_pool2d_forward(tg_tape *T, const tg_pool2d *l, tg_tensor *x)
{
    if (!pool_ok("tg_avg_pool2d_forward", l))
        return NULL;
    return tg_ad_avg_pool2d(T, x, l->kernel, l->stride, l->padding);
}

/* ---- BatchNorm1d and BatchNorm2d ----------------------------------------------------- */

void tg_batch_norm_free(tg_batch_norm *l)
{
    if (!l)
        return;
    tg_free(l->weight);
    tg_free(l->bias);
    tg_free(l->running_mean);
    tg_free(l->running_var);
    memset(l, 0, sizeof *l);
}

static int batch_norm_init(const char *fn, tg_batch_norm *l, int64_t features,
                           tg_dtype dt, int rank)
{
    if (!l)
        return tg__fail(TG_ERR_NULL, fn, "layer is NULL");
    memset(l, 0, sizeof *l);
    if (features < 1)
        return tg__fail(TG_ERR_VALUE, fn, "features = %lld must be positive",
                        (long long)features);
    int rc = check_param_dtype(fn, dt);
    if (rc)
        return rc;
    const int64_t shape[1] = {features};
    if (!(l->weight = filled(fn, dt, 1, shape, 1.0)) ||
        !(l->bias = filled(fn, dt, 1, shape, 0.0)) ||
        !(l->running_mean = filled(fn, dt, 1, shape, 0.0)) ||
        !(l->running_var = filled(fn, dt, 1, shape, 1.0))) {
        rc = tg_last_error();
        tg_batch_norm_free(l);
        return rc;
    }
    tg_requires_grad(l->weight, true);
    tg_requires_grad(l->bias, true);
    l->features = features;
    l->rank = rank;
    l->eps = 1e-5;
    l->momentum = 0.1;
    l->training = true;
    return TG_OK;
}

int tg_batch_norm1d_init(tg_batch_norm *l, int64_t features, tg_dtype dt)
{
    return batch_norm_init("tg_batch_norm1d_init", l, features, dt, 2);
}

int tg_batch_norm2d_init(tg_batch_norm *l, int64_t features, tg_dtype dt)
{
    return batch_norm_init("tg_batch_norm2d_init", l, features, dt, 4);
}

tg_tensor *tg_batch_norm_forward(tg_tape *T, tg_batch_norm *l, tg_tensor *x)
{
    const char *fn = "tg_batch_norm_forward";
    char buf[TG__SHAPE_BUF];
    if (!l || !l->weight || !l->running_mean || (l->rank != 2 && l->rank != 4)) {
        tg__fail(l ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                 l ? "layer is not initialised" : "layer is NULL");
        return NULL;
    }
    if (!x)
        return NULL;
    /* BatchNorm1d takes (N, C) or (N, C, L), BatchNorm2d (N, C, H, W). */
    bool rank_ok = l->rank == 4 ? x->ndim == 4 : x->ndim == 2 || x->ndim == 3;
    if (!rank_ok || x->shape[1] != l->features) {
        long long c = (long long)l->features;
        if (l->rank == 4)
            tg__fail(TG_ERR_SHAPE, fn, "x has shape %s; BatchNorm2d(%lld) expects (N, %lld, H, W)",
                     tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf), c, c);
        else
            tg__fail(TG_ERR_SHAPE, fn,
                     "x has shape %s; BatchNorm1d(%lld) expects (N, %lld) or (N, %lld, L)",
                     tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf), c, c, c);
        return NULL;
    }
    if (!dtype_ok(fn, x, l->weight->dtype))
        return NULL;
    if (x->ndim != 3)
        return tg_ad_batch_norm(T, x, l->running_mean, l->running_var, l->weight, l->bias,
                                l->training, l->momentum, l->eps);
    /* (N, C, L) is normalised as the image (N, C, L, 1): the statistics of
     * a channel are over N and L either way. */
    tg_tensor *x4 = tg_ad_reshape(T, x, TG_SHAPE(x->shape[0], x->shape[1], x->shape[2], 1));
    tg_tensor *y4 = tg_ad_batch_norm(T, x4, l->running_mean, l->running_var, l->weight,
                                     l->bias, l->training, l->momentum, l->eps);
    tg_tensor *y = tg_ad_reshape(T, y4, 3, x->shape);
    if (!T) { /* the intermediates are the caller's: only y is returned */
        tg_free(x4);
        tg_free(y4);
    }
    return y;
}

int tg_batch_norm_params(tg_batch_norm *l, const char *prefix, tg_params *p)
{
    const char *fn = "tg_batch_norm_params";
    if (!l)
        return tg__fail(TG_ERR_NULL, fn, "layer is NULL");
    if (!l->weight || !l->bias || !l->running_mean || !l->running_var)
        return tg__fail(TG_ERR_VALUE, fn, "layer is not initialised");
    return add_entries(fn, p, prefix, 4, 2,
                       (const char *const[]){".weight", ".bias", ".running_mean",
                                             ".running_var"},
                       (tg_tensor *const[]){l->weight, l->bias, l->running_mean,
                                            l->running_var});
}

/* ---- LayerNorm ------------------------------------------------------------------------ */

void tg_layer_norm_free(tg_layer_norm *l)
{
    if (!l)
        return;
    tg_free(l->weight);
    tg_free(l->bias);
    memset(l, 0, sizeof *l);
}

int tg_layer_norm_init(tg_layer_norm *l, int ndims, const int64_t *shape, tg_dtype dt)
{
    const char *fn = "tg_layer_norm_init";
    if (!l)
        return tg__fail(TG_ERR_NULL, fn, "layer is NULL");
    memset(l, 0, sizeof *l);
    if (!shape)
        return tg__fail(TG_ERR_NULL, fn, "shape is NULL");
    if (ndims < 1 || ndims > TG_MAX_DIMS)
        return tg__fail(TG_ERR_VALUE, fn, "ndims = %d; it must be in [1, %d]", ndims,
                        TG_MAX_DIMS);
    for (int k = 0; k < ndims; k++)
        if (shape[k] < 1)
            return tg__fail(TG_ERR_VALUE, fn, "shape[%d] is %lld; sizes must be positive",
                            k, (long long)shape[k]);
    int rc = check_param_dtype(fn, dt);
    if (rc)
        return rc;
    if (!(l->weight = filled(fn, dt, ndims, shape, 1.0)) ||
        !(l->bias = filled(fn, dt, ndims, shape, 0.0))) {
        rc = tg_last_error();
        tg_layer_norm_free(l);
        return rc;
    }
    tg_requires_grad(l->weight, true);
    tg_requires_grad(l->bias, true);
    l->ndims = ndims;
    memcpy(l->shape, shape, (size_t)ndims * sizeof *shape);
    l->eps = 1e-5;
    return TG_OK;
}

tg_tensor *tg_layer_norm_forward(tg_tape *T, tg_layer_norm *l, tg_tensor *x)
{
    const char *fn = "tg_layer_norm_forward";
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (!l || !l->weight || l->ndims < 1 || l->ndims > TG_MAX_DIMS) {
        tg__fail(l ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                 l ? "layer is not initialised" : "layer is NULL");
        return NULL;
    }
    if (!x)
        return NULL;
    bool match = x->ndim >= l->ndims;
    for (int k = 0; match && k < l->ndims; k++)
        match = x->shape[x->ndim - l->ndims + k] == l->shape[k];
    if (!match) {
        tg__fail(TG_ERR_SHAPE, fn, "x has shape %s; its last axes must be %s",
                 tg__shape_fmt(x->ndim, x->shape, b1, sizeof b1),
                 tg__shape_fmt(l->ndims, l->shape, b2, sizeof b2));
        return NULL;
    }
    if (!dtype_ok(fn, x, l->weight->dtype))
        return NULL;
    return tg_ad_layer_norm(T, x, l->ndims, l->weight, l->bias, l->eps);
}

int tg_layer_norm_params(tg_layer_norm *l, const char *prefix, tg_params *p)
{
    const char *fn = "tg_layer_norm_params";
    if (!l)
        return tg__fail(TG_ERR_NULL, fn, "layer is NULL");
    if (!l->weight || !l->bias)
        return tg__fail(TG_ERR_VALUE, fn, "layer is not initialised");
    return add_entries(fn, p, prefix, 2, 2, (const char *const[]){".weight", ".bias"},
                       (tg_tensor *const[]){l->weight, l->bias});
}

/* ---- Dropout ---------------------------------------------------------------------------- */

int tg_dropout_init(tg_dropout *l, double p, tg_rng *rng)
{
    const char *fn = "tg_dropout_init";
    if (!l)
        return tg__fail(TG_ERR_NULL, fn, "layer is NULL");
    memset(l, 0, sizeof *l);
    if (!rng)
        return tg__fail(TG_ERR_NULL, fn, "rng is NULL");
    if (!(p >= 0.0 && p <= 1.0)) /* NaN fails too */
        return tg__fail(TG_ERR_VALUE, fn, "p = %g is outside [0, 1]", p);
    l->p = p;
    l->rng = rng;
    l->training = true;
    return TG_OK;
}

tg_tensor *tg_dropout_forward(tg_tape *T, tg_dropout *l, tg_tensor *x)
{
    if (!l || !l->rng) {
        tg__fail(l ? TG_ERR_VALUE : TG_ERR_NULL, "tg_dropout_forward",
                 l ? "layer is not initialised" : "layer is NULL");
        return NULL;
    }
    return tg_ad_dropout(T, x, l->p, l->training, l->rng);
}

/* ---- Flatten ------------------------------------------------------------------------------ */

tg_tensor *tg_flatten(tg_tape *T, tg_tensor *x)
{
    char buf[TG__SHAPE_BUF];
    if (!x)
        return NULL;
    if (x->ndim < 2) {
        tg__fail(TG_ERR_SHAPE, "tg_flatten",
                 "x has shape %s; it needs a batch axis and at least one more",
                 tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
        return NULL;
    }
    /* The product of the trailing sizes divides the element count, so it
     * overflows only when the batch axis is 0: (0, 2^40, 2^40). */
    int64_t rest = 1;
    for (int k = 1; k < x->ndim; k++)
        if (tg__mul_overflows(rest, x->shape[k], &rest)) {
            tg__fail(TG_ERR_OVERFLOW, "tg_flatten", "x has shape %s; the size of "
                     "its flattened axes overflows",
                     tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
            return NULL;
        }
    return tg_ad_reshape(T, x, TG_SHAPE(x->shape[0], rest));
}
