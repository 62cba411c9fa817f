/* nn.c - parameter lists and their save format, the chapter's quadratic
 * model, linear layers, activations, the MLP and the losses. Every forward
 * pass is a composition of tape ops, so its gradient comes from autograd;
 * nothing here writes a backward rule of its own. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../autograd/internal.h"
#include "../tensor/npy.h"
#include "internal.h"

/* Longest DIR/NAME.npy path that save and load build. */
#define NN_PATH_MAX 4096

/* ---- intermediates of composite forwards ------------------------------------ */

/* On a tape the intermediates of a composite forward die at the next reset.
 * With T == NULL every op returns a caller-owned tensor, so the composite
 * keeps them here and frees all but its result before returning (the
 * largest composite, cross-entropy, holds five). */
#define SCRATCH_MAX 12

typedef struct scratch {
    tg_tape *T;
    int n;
    tg_tensor *held[SCRATCH_MAX];
} scratch;

static tg_tensor *hold(scratch *s, tg_tensor *t)
{
    if (!s->T && t && s->n < SCRATCH_MAX)
        s->held[s->n++] = t;
    return t;
}

/* Frees every intermediate except result, which is returned (NULL too). */
static tg_tensor *release(scratch *s, tg_tensor *result)
{
    for (int i = 0; i < s->n; i++)
        if (s->held[i] != result)
            tg_free(s->held[i]);
    s->n = 0;
    return result;
}

/* ---- parameter lists --------------------------------------------------------- */

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Names become file names (DIR/NAME.npy), hence the small alphabet: no
 * separators, no spaces, nothing a shell or another OS would mangle. */
static int check_name(const char *fn, const char *name)
{
    size_t len = strlen(name);
    if (len == 0)
        return tg__fail(TG_ERR_VALUE, fn, "name is empty");
    if (len >= TG_PARAM_NAME_MAX)
        return tg__fail(TG_ERR_VALUE, fn,
                        "name \"%s\" has %zu characters; at most %d are allowed",
                        name, len, TG_PARAM_NAME_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (name_char_ok(name[i]))
            continue;
        if (c >= 0x20 && c < 0x7f)
            return tg__fail(TG_ERR_VALUE, fn,
                            "name \"%s\" has the character '%c' (allowed: "
                            "letters, digits, '.', '_' and '-')", name, name[i]);
        return tg__fail(TG_ERR_VALUE, fn,
                        "name \"%s\" has the byte 0x%02x (allowed: letters, "
                        "digits, '.', '_' and '-')", name, c);
    }
    return TG_OK;
}

/* Whether t can hold a parameter: caller-owned and writable. */
static int check_param_tensor(const char *fn, const char *name, const tg_tensor *t)
{
    if (t->flags & TG__ARENA)
        return tg__fail(TG_ERR_TAPE, fn,
                        "\"%s\" belongs to a tape; parameters must be caller-owned",
                        name);
    for (int k = 0; k < t->ndim; k++)
        if (t->strides[k] == 0 && t->shape[k] > 1)
            return tg__fail(TG_ERR_VALUE, fn,
                            "\"%s\" is a broadcast view (stride 0 on axis %d) and "
                            "cannot be written; use a tg_clone of it", name, k);
    return TG_OK;
}

int tgm__check_params(const char *fn, const tg_params *p, bool contiguous)
{
    if (!p)
        return tg__fail(TG_ERR_NULL, fn, "parameter list is NULL");
    if (p->count < 0 || p->count > TG_MAX_PARAMS)
        return tg__fail(TG_ERR_VALUE, fn,
                        "parameter list has count %d (start from a zeroed tg_params)",
                        p->count);
    for (int i = 0; i < p->count; i++) {
        const char *name = p->names[i];
        if (!memchr(name, '\0', TG_PARAM_NAME_MAX))
            return tg__fail(TG_ERR_VALUE, fn,
                            "parameter %d has no valid name (build the list "
                            "with tg_params_add)", i);
        if (!p->tensors[i])
            return tg__fail(TG_ERR_NULL, fn, "parameter %d (\"%s\") is NULL", i,
                            name);
        int rc = check_param_tensor(fn, name, p->tensors[i]);
        if (rc)
            return rc;
        if (contiguous && !tg_is_contiguous(p->tensors[i]))
            return tg__fail(TG_ERR_VALUE, fn, "parameter \"%s\" is not contiguous",
                            name);
    }
    return TG_OK;
}

int tgm__params_add(const char *fn, tg_params *p, const char *name, tg_tensor *t,
                     bool buffer)
{
    int rc = tgm__check_params(fn, p, false);
    if (rc)
        return rc;
    if (!name || !t)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", name ? "tensor" : "name");
    if ((rc = check_name(fn, name)) || (rc = check_param_tensor(fn, name, t)))
        return rc;
    for (int i = 0; i < p->count; i++) {
        if (strcmp(p->names[i], name) == 0)
            return tg__fail(TG_ERR_VALUE, fn, "name \"%s\" is already in the list",
                            name);
        if (p->tensors[i] == t)
            return tg__fail(TG_ERR_VALUE, fn,
                            "the tensor for \"%s\" is already in the list as \"%s\"",
                            name, p->names[i]);
    }
    if (p->count == TG_MAX_PARAMS)
        return tg__fail(TG_ERR_VALUE, fn,
                        "cannot add \"%s\": the list is full (%d parameters); "
                        "raise TG_MAX_PARAMS in models/nn.h and rebuild tapegrad "
                        "and the program", name, TG_MAX_PARAMS);
    /* A buffer that required a gradient would be differentiated but never
     * trained: almost certainly a parameter added by the wrong call. */
    if (buffer && tg_requires_grad_of(t))
        return tg__fail(TG_ERR_VALUE, fn,
                        "\"%s\" requires a gradient; a buffer must not (add a "
                        "trained tensor with tg_params_add)", name);
    if (!buffer && (rc = tg_requires_grad(t, true)))
        return rc;
    p->tensors[p->count] = t;
    memcpy(p->names[p->count], name, strlen(name) + 1);
    p->buffer[p->count] = buffer;
    p->count++;
    return TG_OK;
}

int tg_params_add(tg_params *p, const char *name, tg_tensor *t)
{
    return tgm__params_add("tg_params_add", p, name, t, false);
}

int tg_params_add_buffer(tg_params *p, const char *name, tg_tensor *t)
{
    return tgm__params_add("tg_params_add_buffer", p, name, t, true);
}

static int zero_grads(tg_params *p);

static int run_zero_grads(tg__step *e) { return zero_grads(e->ptr); }

int tg_params_zero_grad(tg_params *p)
{
    int rc = tgm__check_params("tg_params_zero_grad", p, false);
    if (rc)
        return rc;
    TG__TRACED_RC(rc, zero_grads(p), .run = run_zero_grads, .ptr = p);
    return rc;
}

static int zero_grads(tg_params *p)
{
    int rc = TG_OK;
    /* Called every training step: a gradient made by backward is contiguous,
     * and all-bits-zero is 0.0 in both dtypes, so memset does it. */
    for (int i = 0; i < p->count && rc == TG_OK; i++) {
        if (p->buffer[i])
            continue;
        tg_tensor *g = p->tensors[i]->grad;
        if (g && g->numel == 0)
            continue;
        if (g && tg_is_contiguous(g)) {
            memset(tg_data(g), 0, (size_t)g->numel * tg_dtype_size(g->dtype));
            tg__touch(g);
        } else {
            rc = tg_zero_grad(p->tensors[i]);
        }
    }
    return rc;
}

/* Re-reports the last error (from npy.c) under fn, saying which parameter
 * was being read or written; npy.c's message already names the path. */
static int rewrap(const char *fn, const char *name)
{
    char inner[512];
    snprintf(inner, sizeof inner, "%s", tg_last_message());
    int code = tg_last_error() ? tg_last_error() : TG_ERR_IO;
    return tg__fail(code, fn, "parameter \"%s\": %s", name, inner);
}

/* path = dir/name.npy */
static int param_path(const char *fn, const char *dir, const char *name,
                      char *path)
{
    int n = snprintf(path, NN_PATH_MAX, "%s/%s.npy", dir, name);
    if (n < 0 || n >= NN_PATH_MAX)
        return tg__fail(TG_ERR_VALUE, fn, "path of \"%s\" in '%s' is too long",
                        name, dir);
    return TG_OK;
}

/* mkdir -p dir with mode 0755 (before the umask). */
static int make_dir(const char *fn, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode)
                   ? TG_OK
                   : tg__fail(TG_ERR_IO, fn, "'%s' exists and is not a directory",
                              dir);
    char buf[NN_PATH_MAX];
    size_t len = strlen(dir);
    if (len >= sizeof buf)
        return tg__fail(TG_ERR_VALUE, fn, "directory path is too long");
    memcpy(buf, dir, len + 1);
    /* Each prefix that ends at a '/' (then dir itself) is an ancestor. */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return tg__fail(TG_ERR_IO, fn, "cannot create directory '%s': %s", buf,
                            strerror(errno));
        buf[i] = c;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return tg__fail(TG_ERR_IO, fn, "cannot create directory '%s'", dir);
    return TG_OK;
}

int tg_params_save(const tg_params *p, const char *dir)
{
    const char *fn = "tg_params_save";
    int rc = tgm__check_params(fn, p, false);
    if (rc)
        return rc;
    if (!dir)
        return tg__fail(TG_ERR_NULL, fn, "directory is NULL");
    if (!dir[0])
        return tg__fail(TG_ERR_VALUE, fn, "directory is empty");
    if ((rc = make_dir(fn, dir)))
        return rc;
    char path[NN_PATH_MAX];
    for (int i = 0; i < p->count; i++) {
        if ((rc = param_path(fn, dir, p->names[i], path)))
            return rc;
        if (tg_save_npy(p->tensors[i], path))
            return rewrap(fn, p->names[i]);
    }
    return TG_OK;
}

/* The file's tensor must have the parameter's dtype and shape exactly. */
static int check_loaded(const char *fn, const char *name, const char *path,
                        const tg_tensor *got, const tg_tensor *want)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (got->dtype != want->dtype)
        return tg__fail(TG_ERR_DTYPE, fn,
                        "'%s' holds %s but parameter \"%s\" is %s", path,
                        tg_dtype_name(got->dtype), name, tg_dtype_name(want->dtype));
    if (!tg__same_shape(got, want))
        return tg__fail(TG_ERR_SHAPE, fn,
                        "'%s' has shape %s but parameter \"%s\" has shape %s", path,
                        tg__shape_fmt(got->ndim, got->shape, b1, sizeof b1), name,
                        tg__shape_fmt(want->ndim, want->shape, b2, sizeof b2));
    return TG_OK;
}

int tg_params_load(tg_params *p, const char *dir)
{
    const char *fn = "tg_params_load";
    int rc = tgm__check_params(fn, p, false); /* every destination, before any write */
    if (rc)
        return rc;
    if (!dir)
        return tg__fail(TG_ERR_NULL, fn, "directory is NULL");
    struct stat st;
    if (stat(dir, &st) != 0)
        return tg__fail(TG_ERR_IO, fn, "cannot open directory '%s': %s", dir,
                        strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return tg__fail(TG_ERR_IO, fn, "'%s' is not a directory", dir);

    /* All or nothing: read and check every file before writing any
     * parameter. */
    tg_tensor *loaded[TG_MAX_PARAMS] = {0};
    char path[NN_PATH_MAX];
    for (int i = 0; i < p->count && rc == TG_OK; i++) {
        rc = param_path(fn, dir, p->names[i], path);
        if (rc == TG_OK && !(loaded[i] = tg_load_npy(path)))
            rc = rewrap(fn, p->names[i]);
        if (rc == TG_OK)
            rc = check_loaded(fn, p->names[i], path, loaded[i], p->tensors[i]);
    }
    /* Cannot fail: same dtype and shape, writable destinations. */
    for (int i = 0; i < p->count && rc == TG_OK; i++)
        if (tg_copy(p->tensors[i], loaded[i]))
            rc = rewrap(fn, p->names[i]);
    for (int i = 0; i < p->count; i++)
        tg_free(loaded[i]);
    return rc;
}

/* ---- the chapter's model: y = w x^2 + b ------------------------------------ */

void tg_quadratic_free(tg_quadratic *m)
{
    if (!m)
        return;
    tg_free(m->w);
    tg_free(m->b);
    m->w = m->b = NULL;
}

int tg_quadratic_init(tg_quadratic *m, tg_dtype dt, double w, double b)
{
    const char *fn = "tg_quadratic_init";
    if (!m)
        return tg__fail(TG_ERR_NULL, fn, "model is NULL");
    m->w = m->b = NULL;
    if (!tg__valid_dtype(dt))
        return tg__fail(TG_ERR_DTYPE, fn, "unknown dtype %d", (int)dt);
    if (!tg__is_float(dt)) /* parameters carry gradients */
        return tg__need_float(fn, "dtype", dt);
    m->w = tg__new(fn, dt, TG_SHAPE(1));
    m->b = tg__new(fn, dt, TG_SHAPE(1));
    if (!m->w || !m->b || tg_fill(m->w, w) || tg_fill(m->b, b)) {
        int rc = tg_last_error();
        tg_quadratic_free(m);
        return rc;
    }
    tg_requires_grad(m->w, true);
    tg_requires_grad(m->b, true);
    return TG_OK;
}

tg_tensor *tg_quadratic_forward(tg_tape *T, tg_quadratic *m, tg_tensor *x)
{
    const char *fn = "tg_quadratic_forward";
    if (!m || !m->w || !m->b) {
        tg__fail(m ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                 m ? "model is not initialised" : "model is NULL");
        return NULL;
    }
    if (!x)
        return NULL;
    scratch s = {.T = T};
    tg_tensor *x2 = hold(&s, tg_ad_pow_scalar(T, x, 2.0));
    tg_tensor *wx2 = hold(&s, tg_ad_mul(T, m->w, x2));
    return release(&s, hold(&s, tg_ad_add(T, wx2, m->b)));
}

/* Appends a list of (name, tensor) pairs; on failure the list is as it was. */
static int add_all(tg_params *p, int n, const char *const *names,
                   tg_tensor *const *tensors)
{
    int before = p->count;
    for (int i = 0; i < n; i++) {
        int rc = tg_params_add(p, names[i], tensors[i]);
        if (rc) {
            p->count = before;
            return rc;
        }
    }
    return TG_OK;
}

int tg_quadratic_params(tg_quadratic *m, tg_params *p)
{
    const char *fn = "tg_quadratic_params";
    int rc = tgm__check_params(fn, p, false);
    if (rc)
        return rc;
    if (!m || !m->w || !m->b)
        return tg__fail(m ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                        m ? "model is not initialised" : "model is NULL");
    return add_all(p, 2, (const char *const[]){"w", "b"},
                   (tg_tensor *const[]){m->w, m->b});
}

/* ---- linear layer -------------------------------------------------------------- */

void tg_linear_free(tg_linear *l)
{
    if (!l)
        return;
    tg_free(l->weight);
    tg_free(l->bias);
    l->weight = l->bias = NULL;
    l->in = l->out = 0;
}

int tg_linear_init_ex(tg_linear *l, int64_t in, int64_t out, bool bias, tg_dtype dt,
                      tg_rng *rng)
{
    const char *fn = "tg_linear_init";
    if (!l)
        return tg__fail(TG_ERR_NULL, fn, "layer is NULL");
    l->weight = l->bias = NULL;
    l->in = l->out = 0;
    if (!rng)
        return tg__fail(TG_ERR_NULL, fn, "rng is NULL");
    if (in < 1 || out < 1)
        return tg__fail(TG_ERR_VALUE, fn, "sizes in = %lld and out = %lld must be positive",
                        (long long)in, (long long)out);
    if (!tg__valid_dtype(dt))
        return tg__fail(TG_ERR_DTYPE, fn, "unknown dtype %d", (int)dt);
    if (!tg__is_float(dt)) /* parameters carry gradients */
        return tg__need_float(fn, "dtype", dt);
    /* PyTorch's kaiming_uniform_(a = sqrt(5)) bound, gain * sqrt(3 / in)
     * with gain = sqrt(2 / (1 + 5)), is 1/sqrt(in); the bias uses the same.
     * Draw order: the weight in C order (row by row), then the bias (none
     * without one, as PyTorch's reset_parameters). */
    double bound = 1.0 / sqrt((double)in);
    l->weight = tg__new(fn, dt, TG_SHAPE(out, in));
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
    return TG_OK;
fail:;
    int rc = tg_last_error();
    tg_linear_free(l);
    return rc;
}

int tg_linear_init(tg_linear *l, int64_t in, int64_t out, tg_dtype dt, tg_rng *rng)
{
    return tg_linear_init_ex(l, in, out, true, dt, rng);
}

tg_tensor *tg_linear_forward(tg_tape *T, tg_linear *l, tg_tensor *x)
{
    const char *fn = "tg_linear_forward";
    char buf[TG__SHAPE_BUF];
    if (!l || !l->weight) {
        tg__fail(l ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                 l ? "layer is not initialised" : "layer is NULL");
        return NULL;
    }
    if (!x)
        return NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in) {
        tg__fail(TG_ERR_SHAPE, fn, "x has shape %s; expected (batch, %lld) or (%lld,)",
                 tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf),
                 (long long)l->in, (long long)l->in);
        return NULL;
    }
    if (x->dtype != l->weight->dtype) {
        tg__fail(TG_ERR_DTYPE, fn, "x is %s but the layer is %s",
                 tg_dtype_name(x->dtype), tg_dtype_name(l->weight->dtype));
        return NULL;
    }
    /* y = x W^T + b: the transpose is a view, and the matrix product hands
     * it to gemm as a transposed operand (no copy). */
    scratch s = {.T = T};
    tg_tensor *wt = hold(&s, tg_ad_transpose(T, l->weight, 0, 1)); /* (in, out) */
    tg_tensor *xw = hold(&s, tg_ad_matmul(T, x, wt));               /* (batch, out) */
    return release(&s, l->bias ? hold(&s, tg_ad_add(T, xw, l->bias)) : xw);
}

int tg_linear_params(tg_linear *l, const char *prefix, tg_params *p)
{
    const char *fn = "tg_linear_params";
    int rc = tgm__check_params(fn, p, false);
    if (rc)
        return rc;
    if (!l || !prefix)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", l ? "prefix" : "layer");
    if (!l->weight)
        return tg__fail(TG_ERR_VALUE, fn, "layer is not initialised");
    char wname[TG_PARAM_NAME_MAX], bname[TG_PARAM_NAME_MAX];
    int nw = snprintf(wname, sizeof wname, "%s.weight", prefix);
    int nb = snprintf(bname, sizeof bname, "%s.bias", prefix);
    if (nw < 0 || nw >= TG_PARAM_NAME_MAX || nb < 0)
        return tg__fail(TG_ERR_VALUE, fn, "prefix \"%s\" is too long", prefix);
    return add_all(p, l->bias ? 2 : 1, (const char *const[]){wname, bname},
                   (tg_tensor *const[]){l->weight, l->bias});
}

/* ---- activations and the MLP ------------------------------------------------------ */

tg_tensor *tg_activate(tg_tape *T, tg_activation act, tg_tensor *x)
{
    switch (act) {
    case TG_ACT_NONE: /* the identity: x itself on a tape, else a new header
                         viewing x (the same layout, so the same sums) */
        if (!x)
            return NULL;
        return T ? x : tg__heap_view("tg_activate", x);
    case TG_ACT_RELU:
        return tg_ad_relu(T, x);
    case TG_ACT_TANH:
        return tg_ad_tanh(T, x);
    case TG_ACT_SIGMOID:
        return tg_ad_sigmoid(T, x);
    }
    tg__fail(TG_ERR_VALUE, "tg_activate", "unknown activation %d", (int)act);
    return NULL;
}

static bool activation_ok(tg_activation act)
{
    return act == TG_ACT_NONE || act == TG_ACT_RELU || act == TG_ACT_TANH ||
           act == TG_ACT_SIGMOID;
}

void tg_mlp_free(tg_mlp *m)
{
    if (!m)
        return;
    for (int i = 0; i < TG_MLP_MAX_LAYERS; i++)
        tg_linear_free(&m->layers[i]);
    m->nlayers = 0;
}

int tg_mlp_init(tg_mlp *m, int nsizes, const int64_t *sizes, tg_activation act,
                tg_dtype dt, tg_rng *rng)
{
    const char *fn = "tg_mlp_init";
    if (!m)
        return tg__fail(TG_ERR_NULL, fn, "network is NULL");
    memset(m, 0, sizeof *m); /* so tg_mlp_free is safe whatever happens */
    if (!sizes || !rng)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", sizes ? "rng" : "sizes");
    if (nsizes < 2 || nsizes > TG_MLP_MAX_LAYERS + 1)
        return tg__fail(TG_ERR_VALUE, fn,
                        "%d sizes give %d layers; between 1 and %d are allowed",
                        nsizes, nsizes - 1, TG_MLP_MAX_LAYERS);
    for (int i = 0; i < nsizes; i++)
        if (sizes[i] < 1)
            return tg__fail(TG_ERR_VALUE, fn, "sizes[%d] is %lld; sizes must be positive",
                            i, (long long)sizes[i]);
    if (!activation_ok(act))
        return tg__fail(TG_ERR_VALUE, fn, "unknown activation %d", (int)act);
    for (int i = 0; i + 1 < nsizes; i++) {
        int rc = tg_linear_init(&m->layers[i], sizes[i], sizes[i + 1], dt, rng);
        if (rc) {
            tg_mlp_free(m);
            return rc;
        }
    }
    m->nlayers = nsizes - 1;
    m->act = act;
    return TG_OK;
}

tg_tensor *tg_mlp_forward(tg_tape *T, tg_mlp *m, tg_tensor *x)
{
    if (!m || m->nlayers < 1 || m->nlayers > TG_MLP_MAX_LAYERS) {
        tg__fail(m ? TG_ERR_VALUE : TG_ERR_NULL, "tg_mlp_forward",
                 m ? "network is not initialised" : "network is NULL");
        return NULL;
    }
    tg_tensor *h = x;
    for (int i = 0; i < m->nlayers && h; i++) {
        tg_tensor *next = tg_linear_forward(T, &m->layers[i], h);
        if (next && i + 1 < m->nlayers && m->act != TG_ACT_NONE) {
            tg_tensor *a = tg_activate(T, m->act, next);
            if (!T)
                tg_free(next);
            next = a;
        }
        if (!T && h != x) /* a caller-owned intermediate */
            tg_free(h);
        h = next;
    }
    return h;
}

int tg_mlp_params(tg_mlp *m, tg_params *p)
{
    const char *fn = "tg_mlp_params";
    int rc = tgm__check_params(fn, p, false);
    if (rc)
        return rc;
    if (!m)
        return tg__fail(TG_ERR_NULL, fn, "network is NULL");
    if (m->nlayers < 1 || m->nlayers > TG_MLP_MAX_LAYERS)
        return tg__fail(TG_ERR_VALUE, fn, "network is not initialised");
    if (p->count + 2 * m->nlayers > TG_MAX_PARAMS)
        return tg__fail(TG_ERR_VALUE, fn,
                        "%d more parameters do not fit in a list holding %d of %d "
                        "(raise TG_MAX_PARAMS in models/nn.h and rebuild)",
                        2 * m->nlayers, p->count, TG_MAX_PARAMS);
    int before = p->count;
    char prefix[16];
    for (int i = 0; i < m->nlayers && rc == TG_OK; i++) {
        snprintf(prefix, sizeof prefix, "fc%d", i + 1);
        rc = tg_linear_params(&m->layers[i], prefix, p);
    }
    if (rc)
        p->count = before;
    return rc;
}

/* ---- losses ----------------------------------------------------------------------- */

static tg_tensor *squared_error(tg_tape *T, const char *fn, tg_tensor *pred,
                                tg_tensor *target, bool mean)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (!pred || !target)
        return NULL;
    /* No broadcasting: (64,1) against (64,) would silently give (64,64). */
    if (!tg__same_shape(pred, target)) {
        tg__fail(TG_ERR_SHAPE, fn, "pred %s and target %s differ in shape",
                 tg__shape_fmt(pred->ndim, pred->shape, b1, sizeof b1),
                 tg__shape_fmt(target->ndim, target->shape, b2, sizeof b2));
        return NULL;
    }
    if (pred->dtype != target->dtype) {
        tg__fail(TG_ERR_DTYPE, fn, "pred is %s but target is %s",
                 tg_dtype_name(pred->dtype), tg_dtype_name(target->dtype));
        return NULL;
    }
    scratch s = {.T = T};
    tg_tensor *d = hold(&s, tg_ad_sub(T, pred, target));
    tg_tensor *d2 = hold(&s, tg_ad_mul(T, d, d));
    tg_tensor *r = mean ? hold(&s, tg_ad_mean(T, d2))
                        : hold(&s, tg_ad_mul_scalar(T, hold(&s, tg_ad_sum(T, d2)), 0.5));
    return release(&s, r);
}

tg_tensor *tg_loss_half_sse(tg_tape *T, tg_tensor *pred, tg_tensor *target)
{
    return squared_error(T, "tg_loss_half_sse", pred, target, false);
}

tg_tensor *tg_loss_mse(tg_tape *T, tg_tensor *pred, tg_tensor *target)
{
    return squared_error(T, "tg_loss_mse", pred, target, true);
}

tg_tensor *tg_log_softmax(tg_tape *T, tg_tensor *x)
{
    const char *fn = "tg_log_softmax";
    char buf[TG__SHAPE_BUF];
    if (!x)
        return NULL;
    if (x->ndim == 0 || x->shape[x->ndim - 1] == 0) {
        tg__fail(TG_ERR_SHAPE, fn, "x has shape %s; it needs a non-empty last axis",
                 tg__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
        return NULL;
    }
    /* One op of the tape (autograd/softmax.c): z - log sum exp(z) with z =
     * x - max(x), so exp(z) <= 1 cannot overflow and the sum is >= 1, and
     * its own backward, g - exp(y) sum(g). */
    return tg_ad_log_softmax(T, x, -1);
}

/* Labels must index a class of an existing row. */
/* labels is an int32 or int64 tensor of shape (batch,), each in
 * [0, classes), for logits (batch, classes). */
static int check_logits(const char *fn, const tg_tensor *logits,
                        const tg_tensor *labels)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (!labels)
        return tg__fail(TG_ERR_NULL, fn, "labels is NULL");
    if (logits->ndim != 2)
        return tg__fail(TG_ERR_SHAPE, fn, "logits have shape %s; expected (batch, classes)",
                        tg__shape_fmt(logits->ndim, logits->shape, b1, sizeof b1));
    if (labels->dtype != TG_INT32 && labels->dtype != TG_INT64)
        return tg__fail(TG_ERR_DTYPE, fn, "labels are %s; they must be int32 or int64",
                        tg_dtype_name(labels->dtype));
    if (labels->ndim != 1 || labels->shape[0] != logits->shape[0])
        return tg__fail(TG_ERR_SHAPE, fn,
                        "labels have shape %s; logits %s need (%lld,)",
                        tg__shape_fmt(labels->ndim, labels->shape, b1, sizeof b1),
                        tg__shape_fmt(logits->ndim, logits->shape, b2, sizeof b2),
                        (long long)logits->shape[0]);
    int64_t classes = logits->shape[1];
    for (int64_t i = 0; i < labels->numel; i++) {
        int64_t y = tg__load_int(labels, labels->offset + i * labels->strides[0]);
        if (y < 0 || y >= classes)
            return tg__fail(TG_ERR_INDEX, fn, "row %lld has label %lld, outside [0, %lld)",
                            (long long)i, (long long)y, (long long)classes);
    }
    return TG_OK;
}

tg_tensor *tg_loss_cross_entropy(tg_tape *T, tg_tensor *logits, tg_tensor *labels)
{
    const char *fn = "tg_loss_cross_entropy";
    if (!logits)
        return NULL;
    if (check_logits(fn, logits, labels))
        return NULL;
    int64_t batch = logits->shape[0];
    /* loss = -sum_i log softmax(logits)[i, labels[i]] / batch: the labelled
     * entries are gathered, never multiplied by a one-hot, so a masked logit
     * (-inf, whose log-probability is -inf) adds nothing rather than the
     * NaN of -inf * 0. The gradient is (softmax - onehot) / batch. */
    scratch s = {.T = T};
    tg_tensor *logp = hold(&s, tg_log_softmax(T, logits));
    tg_tensor *col = hold(&s, tg_ad_reshape(T, labels, 2, (const int64_t[]){batch, 1}));
    tg_tensor *picked = hold(&s, tg_ad_gather(T, logp, 1, col));
    tg_tensor *total = hold(&s, tg_ad_neg(T, hold(&s, tg_ad_sum(T, picked))));
    return release(&s, hold(&s, tg_ad_div_scalar(T, total, (double)batch)));
}

double tg_accuracy(const tg_tensor *logits, const tg_tensor *labels)
{
    const char *fn = "tg_accuracy";
    if (!logits) {
        tg__fail(TG_ERR_NULL, fn, "logits is NULL");
        return -1.0;
    }
    if (check_logits(fn, logits, labels))
        return -1.0;
    int64_t batch = logits->shape[0], classes = logits->shape[1];
    if (batch == 0)
        return (double)NAN; /* the mean of nothing, as tg_mean */
    int64_t s0 = logits->strides[0], s1 = logits->strides[1], hits = 0;
    for (int64_t i = 0; i < batch; i++) {
        int64_t row = logits->offset + i * s0, best = 0;
        double bestv = tg__load(logits, row);
        /* NumPy's argmax: the first maximum wins, and a NaN beats anything. */
        for (int64_t j = 1; j < classes && !isnan(bestv); j++) {
            double v = tg__load(logits, row + j * s1);
            if (v > bestv || isnan(v)) {
                best = j;
                bestv = v;
            }
        }
        hits += best == tg__load_int(labels, labels->offset + i * labels->strides[0]);
    }
    return (double)hits / (double)batch;
}

double tg_binary_accuracy(const tg_tensor *logits, const tg_tensor *targets)
{
    const char *fn = "tg_binary_accuracy";
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (!logits) { /* an op before failed: its message stands */
        if (tg_last_error() == TG_OK)
            tg__fail(TG_ERR_NULL, fn, "logits is NULL");
        return -1.0;
    }
    if (!targets) {
        tg__fail(TG_ERR_NULL, fn, "targets is NULL");
        return -1.0;
    }
    if (!tg__is_float(logits->dtype)) {
        tg__need_float(fn, "logits", logits->dtype);
        return -1.0;
    }
    if (logits->ndim != targets->ndim ||
        memcmp(logits->shape, targets->shape, (size_t)logits->ndim * sizeof(int64_t)) != 0) {
        tg__fail(TG_ERR_SHAPE, fn, "logits have shape %s and targets %s; they must be equal",
                 tg__shape_fmt(logits->ndim, logits->shape, b1, sizeof b1),
                 tg__shape_fmt(targets->ndim, targets->shape, b2, sizeof b2));
        return -1.0;
    }
    if (logits->numel == 0)
        return (double)NAN;
    int64_t hits = 0;
    for (int64_t i = 0; i < logits->numel; i++)
        hits += (tg__load(logits, tg__flat_pos(logits, i)) > 0.0) ==
                (tg__load(targets, tg__flat_pos(targets, i)) > 0.5);
    return (double)hits / (double)logits->numel;
}
