/* custom.c - ops the user defines (tg_ad_custom): a forward and a backward
 * given as callbacks, recorded on the tape like any other op. Each record
 * points at a descriptor made for it on the tape (custom_rec), which holds
 * the user's name (so that messages say tg_ad_NAME), the backward, the
 * context and the inputs past the second; its rule calls the user's
 * backward and checks what comes back. */
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* "tg_ad_" and the longest name. */
#define CUSTOM_FN_MAX (sizeof "tg_ad_" + TG_CUSTOM_NAME_MAX)

/* What a custom record keeps, on the tape beside it. op comes first: the
 * record points at it, and the rule gets back to the rest from there. */
typedef struct custom_rec {
    tga_op op;                  /* name: fn + 6 */
    tg_custom_backward backward;
    void *ctx;                  /* the caller's pointer, or ctx_copy */
    tga_more more;              /* inputs 3 and 4 */
    char fn[CUSTOM_FN_MAX];     /* "tg_ad_NAME" */
    max_align_t ctx_copy[];     /* the op's ctx_size bytes */
} custom_rec;

/* ---- the caller's last error, kept aside while a callback runs ----------- */

/* A successful call leaves the last error as it was, yet what a callback
 * sets must be told apart from what was there before: the error is put
 * aside and cleared before the callback, and put back when all went well. */
typedef struct saved_error {
    int code;
    char msg[512];
} saved_error;

static void save_error(saved_error *s)
{
    s->code = tg_last_error();
    if (s->code) {
        strncpy(s->msg, tg_last_message(), sizeof s->msg - 1);
        s->msg[sizeof s->msg - 1] = '\0';
        tg_clear_error();
    }
}

static void restore_error(saved_error *s)
{
    if (!s->code) {
        tg_clear_error();
        return;
    }
    /* Every message is "fn: text"; split there to set the same text. */
    char *sep = strstr(s->msg, ": ");
    if (!sep) {
        tg__fail(s->code, NULL, "%s", s->msg);
        return;
    }
    *sep = '\0';
    tg__fail(s->code, s->msg, "%s", sep + 2);
}

/* The error for a callback (what: "forward", "backward", "shape") that
 * returned rc, under fn: its own message kept after ours when it set one,
 * else the code's description. A value that is no error code is
 * TG_ERR_VALUE. */
static int callback_failed(const char *fn, const char *what, int rc)
{
    char inner[512];
    if (rc <= TG_OK || rc >= TG_ERR_COUNT_)
        return tg__fail(TG_ERR_VALUE, fn, "the %s returned %d, which is not a "
                        "tapegrad error code", what, rc);
    if (tg_last_error() == TG_OK)
        return tg__fail(rc, fn, "the %s failed: %s", what, tg_strerror(rc));
    strncpy(inner, tg_last_message(), sizeof inner - 1);
    inner[sizeof inner - 1] = '\0';
    return tg__fail(rc, fn, "the %s failed: %s", what, inner);
}

/* ---- the rule: the user's backward, checked ------------------------------- */

/* Checks the gradient the backward gave input i (1-based in messages). */
static int check_grad(tg_tape *T, const custom_rec *c, int i, const tg_tensor *x,
                      const tg_tensor *g, const tg_tensor *out)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    const char *fn = c->fn;
    if (!g) {
        if (tg_last_error()) /* a tg_ad_* op in it failed */
            return callback_failed(fn, "backward", tg_last_error());
        return tg__fail(TG_ERR_TAPE, fn,
                        "the backward gave no gradient for input %d, which "
                        "requires one", i + 1);
    }
    if (!(g->flags & TG__ARENA) || g->tape_id != T->id)
        return tg__fail(TG_ERR_TAPE, fn,
                        "the backward gave input %d a gradient that is not a "
                        "tensor of this tape (make it with tg_ad_* ops on T)",
                        i + 1);
    if (g->dtype != x->dtype)
        return tg__fail(TG_ERR_DTYPE, fn,
                        "the backward gave input %d a %s gradient; the input "
                        "is %s", i + 1, tg_dtype_name(g->dtype),
                        tg_dtype_name(x->dtype));
    if (!tg__same_shape(g, x))
        return tg__fail(TG_ERR_SHAPE, fn,
                        "the backward gave input %d a gradient of shape %s; "
                        "the input has shape %s%s", i + 1,
                        tg__shape_fmt(g->ndim, g->shape, b1, sizeof b1),
                        tg__shape_fmt(x->ndim, x->shape, b2, sizeof b2),
                        tg__same_shape(g, out)
                            ? " (sum it back with tg_ad_sum_to)" : "");
    return TG_OK;
}

/* Calls the user's backward for the inputs that want a gradient and hands
 * its results to the walk; on any failure, none (the walk then reports the
 * error set here). */
static void custom_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    const custom_rec *c = (const custom_rec *)(const void *)n->op;
    tg_tensor *in[TGA_MAX_INPUTS] = {n->in[0], n->nin > 1 ? n->in[1] : NULL,
                                     NULL, NULL};
    for (int i = 2; i < n->nin; i++)
        in[i] = n->more->in[i - 2];
    bool want[TGA_MAX_INPUTS] = {r->da, r->db, r->dmore[0], r->dmore[1]};
    if (!want[0] && !want[1] && !want[2] && !want[3])
        return; /* every input stopped requiring a gradient since */
    tg_tensor *din[TGA_MAX_INPUTS] = {NULL, NULL, NULL, NULL};
    saved_error saved;
    save_error(&saved);
    uint64_t walks = T->walks, id = T->id;
    bool recording = T->recording;
    int rc = c->backward(T, n->nin, in, n->out, g, din, c->ctx);
    T->recording = recording; /* as the walk wants it, whatever it did */
    if (T->id != id) /* the records being walked are gone */
        rc = tg__fail(TG_ERR_TAPE, c->fn, "the backward reset the tape");
    else if (T->walks != walks) /* which marked records as its own */
        rc = tg__fail(TG_ERR_TAPE, c->fn,
                      "the backward ran a backward walk (tg_backward or "
                      "tg_ad_grad) on the tape being walked; write the "
                      "gradients with tg_ad_* ops");
    else if (rc != TG_OK)
        rc = callback_failed(c->fn, "backward", rc);
    for (int i = 0; i < n->nin && rc == TG_OK; i++)
        if (want[i])
            rc = check_grad(T, c, i, in[i], din[i], n->out);
    if (rc != TG_OK)
        return;
    restore_error(&saved);
    r->a = want[0] ? din[0] : NULL;
    r->b = want[1] ? din[1] : NULL;
    r->more[0] = want[2] ? din[2] : NULL;
    r->more[1] = want[3] ? din[3] : NULL;
}

/* ---- the forward ------------------------------------------------------------- */

/* Checks the descriptor and writes "tg_ad_NAME" into fn (CUSTOM_FN_MAX). */
static int check_op(const tg_custom_op *op, char *fn)
{
    const char *f0 = "tg_ad_custom";
    if (!op)
        return tg__fail(TG_ERR_NULL, f0, "op is NULL");
    if (!op->name)
        return tg__fail(TG_ERR_NULL, f0, "the op has no name");
    size_t len = strnlen(op->name, TG_CUSTOM_NAME_MAX + 1);
    if (len == 0 || len > TG_CUSTOM_NAME_MAX)
        return tg__fail(TG_ERR_VALUE, f0,
                        "op name \"%.*s%s\" must have 1 to %d characters",
                        TG_CUSTOM_NAME_MAX, op->name, len > TG_CUSTOM_NAME_MAX ? "..." : "",
                        TG_CUSTOM_NAME_MAX);
    for (size_t k = 0; k < len; k++) {
        char ch = op->name[k];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_'))
            return tg__fail(TG_ERR_VALUE, f0,
                            "op name \"%s\" may hold only letters, digits and _",
                            op->name);
    }
    if (!op->forward || !op->backward)
        return tg__fail(TG_ERR_NULL, f0, "op \"%s\" has no %s", op->name,
                        op->forward ? "backward" : "forward");
    memcpy(fn, "tg_ad_", 6);
    memcpy(fn + 6, op->name, len + 1);
    return TG_OK;
}

/* The broadcast shape of all the inputs (NumPy's rule, right-aligned). */
static int broadcast_all(const char *fn, int n, tg_tensor *const *in, int *ndim,
                         int64_t *shape)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    *ndim = in[0]->ndim;
    memcpy(shape, in[0]->shape, (size_t)in[0]->ndim * sizeof *shape);
    for (int i = 1; i < n; i++) {
        const tg_tensor *x = in[i];
        int nd = *ndim > x->ndim ? *ndim : x->ndim;
        int64_t s[TG_MAX_DIMS];
        for (int k = 0; k < nd; k++) {
            int ka = k - (nd - *ndim), kx = k - (nd - x->ndim);
            int64_t a = ka >= 0 ? shape[ka] : 1, b = kx >= 0 ? x->shape[kx] : 1;
            if (a != b && a != 1 && b != 1) {
                tg__shape_fmt(x->ndim, x->shape, b1, sizeof b1);
                tg__shape_fmt(*ndim, shape, b2, sizeof b2);
                if (i == 1)
                    return tg__fail(TG_ERR_SHAPE, fn,
                                    "input 2 of shape %s cannot be broadcast "
                                    "with input 1 of shape %s", b1, b2);
                return tg__fail(TG_ERR_SHAPE, fn,
                                "input %d of shape %s cannot be broadcast with "
                                "shape %s of inputs 1 to %d", i + 1, b1, b2, i);
            }
            s[k] = a == 1 ? b : a;
        }
        *ndim = nd;
        memcpy(shape, s, (size_t)nd * sizeof *s);
    }
    return TG_OK;
}

/* The result's dtype and shape: the op's shape callback, or one dtype and
 * the broadcast shape. */
static int result_shape(const tg_custom_op *op, const char *fn, int n,
                        tg_tensor *const *in, void *ctx, tg_dtype *dt,
                        int *ndim, int64_t *shape)
{
    *dt = in[0]->dtype;
    if (op->shape) {
        *ndim = in[0]->ndim;
        memcpy(shape, in[0]->shape, (size_t)in[0]->ndim * sizeof *shape);
        saved_error saved;
        save_error(&saved);
        int rc = op->shape(n, in, ctx, dt, ndim, shape);
        if (rc != TG_OK)
            return callback_failed(fn, "shape callback", rc);
        restore_error(&saved);
        if (!tg__valid_dtype(*dt))
            return tg__fail(TG_ERR_DTYPE, fn,
                            "the shape callback declared dtype %d, which is "
                            "not a tapegrad dtype", (int)*dt);
        if (*ndim < 0 || *ndim > TG_MAX_DIMS)
            return tg__fail(TG_ERR_VALUE, fn,
                            "the shape callback declared %d dimensions; a "
                            "tensor has 0 to %d", *ndim, TG_MAX_DIMS);
        return TG_OK; /* sizes are checked when the result is made */
    }
    for (int i = 1; i < n; i++)
        if (in[i]->dtype != *dt)
            return tg__fail(TG_ERR_DTYPE, fn,
                            "inputs 1 and %d have dtypes %s and %s (use "
                            "tg_ad_cast, or declare the result with a shape "
                            "callback)", i + 1, tg_dtype_name(*dt),
                            tg_dtype_name(in[i]->dtype));
    return broadcast_all(fn, n, in, ndim, shape);
}

/* The record's descriptor with room for the context, or (rec NULL) the
 * context alone, on U's arena; the context copied or zeroed. */
static void *make_room(tg_tape *U, const char *fn, bool rec, size_t ctx_size,
                       const void *ctx, void **ctx_at)
{
    size_t head = rec ? sizeof(custom_rec) : 0;
    if (ctx_size > SIZE_MAX - head) {
        tg__fail(TG_ERR_OVERFLOW, fn, "ctx_size %zu is too large", ctx_size);
        return NULL;
    }
    char *p = tg__arena_alloc(&U->arena, head + ctx_size);
    if (!p) {
        tg__arena_fail(&U->arena, fn);
        return NULL;
    }
    *ctx_at = ctx_size ? p + head : NULL;
    if (ctx_size && ctx)
        memcpy(p + head, ctx, ctx_size);
    else if (ctx_size)
        memset(p + head, 0, ctx_size);
    return p;
}

tg_tensor *tg_ad_custom(tg_tape *T, const tg_custom_op *op, int n,
                        tg_tensor *const *inputs, void *ctx)
{
    char fn[CUSTOM_FN_MAX];
    if (tga__check_tape(T, "tg_ad_custom") || check_op(op, fn))
        return NULL;
    if (n < 1 || n > TG_CUSTOM_MAX_INPUTS) {
        tg__fail(TG_ERR_VALUE, fn, "%d inputs; a custom op takes 1 to %d", n,
                 TG_CUSTOM_MAX_INPUTS);
        return NULL;
    }
    if (!inputs) {
        tg__fail(TG_ERR_NULL, fn, "inputs is NULL");
        return NULL;
    }
    bool wants = false;
    for (int i = 0; i < n; i++) {
        if (!inputs[i] || tga__check_input(T, fn, inputs[i]))
            return NULL;
        wants = wants || inputs[i]->requires_grad;
    }
    tg_dtype dt;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (result_shape(op, fn, n, inputs, ctx, &dt, &nd, shape))
        return NULL;
    /* Only a floating-point result has a gradient. */
    bool rec = T && T->recording && wants && (dt == TG_FLOAT32 || dt == TG_FLOAT64);

    /* The forward always gets a tape: T, or a private one for scratch. */
    tg_tape *U = T ? T : tg_tape_new();
    if (!U) {
        tg__oom(fn);
        return NULL;
    }
    custom_rec *c = NULL;
    void *cctx = ctx;
    tg_tensor *out = NULL;
    if (rec || op->ctx_size) {
        void *p = make_room(U, fn, rec, op->ctx_size, ctx, &cctx);
        if (!p)
            goto fail;
        c = rec ? p : NULL;
        if (!op->ctx_size)
            cctx = ctx;
    }
    out = tga__new(T, fn, dt, nd, shape);
    if (!out)
        goto fail;

    saved_error saved;
    save_error(&saved);
    uint64_t id = U->id;
    bool was_paused = tg_tape_pause(U, true);
    int rc = op->forward(U, n, inputs, out, cctx);
    tg_tape_pause(U, was_paused);
    if (rc != TG_OK) {
        callback_failed(fn, "forward", rc);
        goto fail;
    }
    if (U->id != id) { /* on T, out and the record's room went with it */
        tg__fail(TG_ERR_TAPE, fn, "the forward reset the tape");
        goto fail;
    }
    if (c) {
        memcpy(c->fn, fn, sizeof fn);
        c->op.name = c->fn + 6;
        c->op.rule = custom_rule;
        c->op.plain = NULL;
        c->backward = op->backward;
        c->ctx = cctx;
        for (int i = 0; i < TGA_MAX_INPUTS - 2; i++) {
            tg_tensor *x = i + 2 < n ? inputs[i + 2] : NULL;
            c->more.in[i] = x;
            c->more.version[i] = x ? x->storage->version : 0;
        }
        tg__node *node = tga__record(T, fn, &c->op, out, inputs[0],
                                     n > 1 ? inputs[1] : NULL);
        if (!node)
            return NULL; /* out is on T's arena */
        if (n > 2) {
            node->nin = n;
            node->more = &c->more;
        }
    }
    if (!T)
        tg_tape_free(U);
    restore_error(&saved);
    return out;

fail:
    if (!T) {
        tg_free(out);
        tg_tape_free(U);
    }
    return NULL;
}
