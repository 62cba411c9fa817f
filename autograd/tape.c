/* tape.c - the tape: records in an arena, linked newest to oldest; the
 * backward walk over them; leaf gradients; the plumbing the op families
 * (arith.c, unary.c, reduce.c, matmul.c, shape.c, index.c, custom.c)
 * share. */
#include <math.h>
#include <string.h>

#include "../tensor/random.h"
#include "internal.h"

/* A tape's id is its serial number (high 32 bits, from 1) and its
 * generation (low 32 bits, counted by tg_tape_reset): every tensor it makes
 * carries the id of the generation that made it, so a tensor from before
 * the last reset, or from another tape, is told apart without visiting the
 * tensors on reset. */
static _Atomic uint64_t next_tape_serial = 1;
#define GEN_MASK UINT64_C(0xffffffff)

static uint64_t next_generation(uint64_t id)
{
    return (id & ~GEN_MASK) | ((id + 1) & GEN_MASK);
}

/* ---- the tape ---------------------------------------------------------------- */

tg_tape *tg_tape_new(void)
{
    tg_tape *T = tg__alloc(sizeof *T);
    if (!T) {
        tg__oom("tg_tape_new");
        return NULL;
    }
    T->magic = TGA_LIVE;
    T->retain_graph = false;
    tg__arena_init(&T->arena);
    T->last = NULL;
    T->length = 0;
    T->id = next_tape_serial++ << 32;
    T->walks = 0;
    T->recording = true;
    T->capture = NULL;
    return T;
}

void tg_tape_free(tg_tape *T)
{
    if (!T || tga__check_tape(T, "tg_tape_free")) /* a second free is reported */
        return;
    tga__capture_abandon(T);
    tg_tape_reset(T);
    tg__arena_free(&T->arena);
    T->magic = 0;
    tg__dealloc(T, sizeof *T);
}

int tga__grad_view(const char *fn)
{
    return tg__fail(TG_ERR_TAPE, fn,
                    "an input is a tensor.h view (tg_reshape, tg_slice, "
                    "tg_transpose, ...) of a tensor that requires a gradient; "
                    "no gradient could reach that tensor through it. Take the "
                    "view on the tape (tg_ad_reshape, tg_ad_slice, ...)");
}

int tga__dead_tape(const char *fn)
{
    return tg__fail(TG_ERR_TAPE, fn,
                    "tape is not a live tape (freed with tg_tape_free, or not "
                    "made by tg_tape_new)");
}

int tg_tape_reset(tg_tape *T)
{
    if (!T)
        return tg__fail(TG_ERR_NULL, "tg_tape_reset", "tape is NULL");
    if (tga__check_tape(T, "tg_tape_reset"))
        return TG_ERR_TAPE;
    if (T->capture && T->capture->n)
        tg__trace_refuse("tg_tape_reset", "the tape was reset in the middle of the "
                         "captured step, so its buffers would be reused");
    /* A new generation: what the tape made so far no longer passes as an
     * input, and a stale pointer is caught while its memory has not been
     * reused (tga__foreign_input). */
    T->last = NULL;
    T->length = 0;
    T->id = next_generation(T->id);
    tg__arena_reset(&T->arena);
    return TG_OK;
}

bool tg_tape_pause(tg_tape *T, bool paused)
{
    if (!T || tga__check_tape(T, "tg_tape_pause"))
        return true;
    bool was = !T->recording;
    T->recording = !paused;
    return was;
}

bool tg_tape_retain_graph(tg_tape *T, bool retain)
{
    if (!T || tga__check_tape(T, "tg_tape_retain_graph"))
        return false;
    bool was = T->retain_graph;
    T->retain_graph = retain;
    return was;
}

static bool live(const tg_tape *T, const char *fn)
{
    return T && tga__check_tape(T, fn) == TG_OK;
}

bool tg_tape_is_recording(const tg_tape *T)
{
    return live(T, "tg_tape_is_recording") && T->recording;
}
size_t tg_tape_length(const tg_tape *T) { return live(T, "tg_tape_length") ? T->length : 0; }
size_t tg_tape_bytes(const tg_tape *T) { return live(T, "tg_tape_bytes") ? T->arena.total : 0; }

int tg_tape_get_stats(const tg_tape *T, tg_tape_stats *st)
{
    const char *fn = "tg_tape_get_stats";
    if (!T || !st)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", T ? "stats" : "tape");
    if (tga__check_tape(T, fn))
        return TG_ERR_TAPE;
    st->records = T->length;
    st->bytes_in_use = T->arena.total;
    st->high_water = tg__arena_high_water(&T->arena);
    st->reserved = tg__arena_reserved(&T->arena);
    st->limit = T->arena.limit;
    return TG_OK;
}

int tg_tape_set_limit(tg_tape *T, size_t max_bytes)
{
    const char *fn = "tg_tape_set_limit";
    if (!T)
        return tg__fail(TG_ERR_NULL, fn, "tape is NULL");
    if (tga__check_tape(T, fn))
        return TG_ERR_TAPE;
    tg__arena_set_limit(&T->arena, max_bytes);
    return TG_OK;
}

/* ---- plumbing for the op families ------------------------------------------ */

tg_tensor *tga__new(tg_tape *T, const char *fn, tg_dtype dt, int ndim,
                    const int64_t *shape)
{
    int64_t n;
    if (T && tg__check_shape(fn, ndim, shape, dt, &n)) /* tg__new checks its own */
        return NULL;
    return tga__new_like(T, fn, dt, ndim, shape);
}

int tga__foreign_input(const tg_tape *T, const char *fn, const tg_tensor *t)
{
    if (!T)
        return tg__fail(TG_ERR_TAPE, fn,
                        "the tape is NULL but an input belongs to a tape; pass "
                        "that tape (T == NULL only computes on caller-owned "
                        "tensors)");
    if ((t->tape_id & ~GEN_MASK) == (T->id & ~GEN_MASK))
        return tg__fail(TG_ERR_TAPE, fn,
                        "an input was made before the last tg_tape_reset of "
                        "its tape and is no longer valid");
    return tg__fail(TG_ERR_TAPE, fn, "an input was made by another tape");
}

tg_tensor *tga__view(tg_tape *T, const char *fn, const tg_tensor *view)
{
    if (!T)
        return tg__heap_view(fn, view);
    tg_tensor *t = tg__arena_view(&T->arena, fn, view);
    if (t)
        t->tape_id = T->id;
    return t;
}

tg__node *tga__record(tg_tape *T, const char *fn, const tga_op *op,
                      tg_tensor *out, tg_tensor *a, tg_tensor *b)
{
    tg__node *n = tg__arena_alloc(&T->arena, sizeof *n);
    if (!n) {
        tg__arena_fail(&T->arena, fn);
        return NULL;
    }
    /* Fields are set one by one: the record is large and this is hot. */
    n->walk = 0;
    n->gout = NULL;
    n->s = 0;
    n->axis = 0;
    n->keepdims = false;
    n->aux = NULL;
    n->consumed = 0;
    n->prev = T->last;
    n->op = op;
    n->nin = b ? 2 : 1;
    n->in[0] = a;
    n->in[1] = b;
    n->out = out;
    n->version[0] = a->storage->version;
    n->version[1] = b ? b->storage->version : 0;
    n->version[2] = out->storage->version;
    out->node = n;
    out->requires_grad = true;
    T->last = n;
    T->length++;
    return n;
}

tg_tensor *tga__adopt(tg_tape *T, const char *fn, tg_tensor *heap)
{
    if (!T || !heap)
        return heap;
    tg_tensor *t = tga__new_like(T, fn, heap->dtype, heap->ndim, heap->shape);
    if (t && tg__copy(fn, t, heap))
        t = NULL;
    tg_free(heap);
    return t;
}

tg_tensor *tga__unbroadcast(tg_tape *T, tg_tensor *g, const tg_tensor *x)
{
    if (!g || tg__same_shape(g, x))
        return g;
    return tg_ad_sum_to(T, g, x->ndim, x->shape);
}

/* g summed back to x's shape with the kernel alone: the adjoint of
 * broadcasting x, as the plain rules need it. */
static tg_tensor *plain_unbroadcast(tg_tape *T, const char *fn, tg_tensor *g,
                                    const tg_tensor *x)
{
    if (!g || tg__same_shape(g, x))
        return g;
    tg_tensor *r = tga__plain_new(T, fn, x);
    if (r && tg__sum_to(fn, r, g))
        return NULL;
    return r;
}

/* The backward step of one record: the gradients of its inputs (NULL where
 * an input needs none), summed back to their shapes, given g = d root /
 * d out. Runs the op's rule on T; when T is not recording, its plain rule
 * instead, and reports running out of memory under fn. */
static inline int backward_step(tg_tape *T, const char *fn, const tg__node *n,
                                tg_tensor *g, tg_tensor **ga, tg_tensor **gb)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    tga_grads r = {.da = a->requires_grad, .db = n->nin > 1 && b->requires_grad};
    *ga = *gb = NULL;
    if (!T->recording && n->op->plain && n->op->plain(T, fn, n, g, &r)) {
        if (r.da)
            *ga = plain_unbroadcast(T, fn, r.a, a);
        if (r.db)
            *gb = plain_unbroadcast(T, fn, r.b, b);
    } else {
        n->op->rule(T, n, g, &r);
        if (r.da)
            *ga = tga__unbroadcast(T, r.a, a);
        if (r.db)
            *gb = tga__unbroadcast(T, r.b, b);
    }
    if ((r.da && !*ga) || (r.db && !*gb))
        return tg_last_error() ? tg_last_error() : TG_ERR_NOMEM;
    return TG_OK;
}

/* ---- leaves --------------------------------------------------------------------- */

int tg_requires_grad(tg_tensor *t, bool on)
{
    if (!t)
        return tg__fail(TG_ERR_NULL, "tg_requires_grad", "tensor is NULL");
    if (t->flags & TG__ARENA)
        return tg__fail(TG_ERR_TAPE, "tg_requires_grad",
                        "only caller-owned tensors can be leaves");
    if (on && !tg__is_float(t->dtype)) /* no gradient through integers */
        return tg__fail(TG_ERR_DTYPE, "tg_requires_grad",
                        "a %s tensor cannot require a gradient; only float32 "
                        "and float64 ones can", tg_dtype_name(t->dtype));
    t->requires_grad = on;
    if (on) /* a view made a leaf of its own is no longer refused */
        t->flags &= ~(unsigned)TG__GRAD_VIEW;
    return TG_OK;
}

bool tg_requires_grad_of(const tg_tensor *t) { return t && t->requires_grad; }
tg_tensor *tg_grad(const tg_tensor *t) { return t ? t->grad : NULL; }

int tg_zero_grad(tg_tensor *t)
{
    if (!t)
        return tg__fail(TG_ERR_NULL, "tg_zero_grad", "tensor is NULL");
    return t->grad ? tg_fill(t->grad, 0.0) : TG_OK;
}

/* ---- the backward walk ------------------------------------------------------------- */

/* Where leaf gradients go. For tg_backward (inputs NULL) they are queued
 * and added to each leaf's .grad only once the whole walk has succeeded, so
 * a failing backward changes no gradient. For tg_ad_grad they go to the
 * caller's slots. */
typedef struct pending {
    struct pending *next;
    tg_tensor *leaf, *g;
} pending;

typedef struct sink {
    int n;
    tg_tensor *const *inputs;
    tg_tensor **grads;
    pending *queue;
    /* tg_backward_hooked: the leaves reported on, the uses of each still
     * to come in the walk (-1 once reported), and whom to tell */
    int nhooks;
    tg_tensor *const *hooks;
    int *uses;
    tg_grad_ready_fn ready;
    void *ctx;
} sink;

/* The index of a hooked leaf in s->hooks, or -1. */
static int hook_of(const sink *s, const tg_tensor *x)
{
    if (!(x->flags & TG__HOOKED))
        return -1;
    for (int i = 0; i < s->nhooks; i++)
        if (s->hooks[i] == x)
            return i;
    return -1;
}

/* Input i of record n (the first two in the record, the rest beside it). */
static tg_tensor *node_input(const tg__node *n, int i)
{
    return i < 2 ? n->in[i] : n->more->in[i - 2];
}

/* A hooked leaf's gradient goes into .grad at once (made as zeros the
 * first time), so that it is there when the leaf is reported. */
static int add_now(const char *fn, tg_tensor *x, tg_tensor *gx)
{
    if (!x->grad) {
        x->grad = tg__new(fn, x->dtype, x->ndim, x->shape);
        if (!x->grad || tg_fill(x->grad, 0.0)) {
            tg_free(x->grad);
            x->grad = NULL;
            return TG_ERR_NOMEM;
        }
    }
    tg__binary_kernel(TG__OP_AXPY, 1.0, x->grad, x->grad, gx);
    return TG_OK;
}

/* Counts one use of each hooked input of record n as done; a leaf with
 * no use left is finished and reported. */
static void release_inputs(sink *s, const tg__node *n)
{
    for (int i = 0; i < n->nin; i++) {
        int h = hook_of(s, node_input(n, i));
        if (h >= 0 && s->uses[h] > 0 && --s->uses[h] == 0) {
            s->uses[h] = -1;
            s->ready(s->ctx, h);
        }
    }
}

static int deliver_leaf(tg_tape *T, const char *fn, sink *s, tg_tensor *x,
                        tg_tensor *gx)
{
    if (s->ready && (x->flags & TG__HOOKED))
        return add_now(fn, x, gx);
    if (!s->inputs) {
        pending *p = tg__arena_alloc(&T->arena, sizeof *p);
        if (!p)
            return tg__arena_fail(&T->arena, fn);
        p->leaf = x;
        p->g = gx;
        p->next = s->queue;
        s->queue = p;
        return TG_OK;
    }
    for (int i = 0; i < s->n; i++) {
        if (s->inputs[i] != x)
            continue;
        s->grads[i] = s->grads[i] ? tg_ad_add(T, s->grads[i], gx) : gx;
        if (!s->grads[i])
            return tg_last_error();
    }
    return TG_OK;
}

/* Adds the queued gradients into .grad: first every missing .grad is
 * allocated (and all of those freed again if one fails), then the
 * additions, which cannot fail. */
static int flush_queue(const char *fn, pending *queue)
{
    int rc = TG_OK;
    /* A .grad made here is made once: a captured step (plan.h) must not
     * zero it again on each replay. */
    tg__trace *tr = tg__trace_pause();
    for (pending *p = queue; p && rc == TG_OK; p = p->next) {
        if (p->leaf->grad)
            continue;
        p->leaf->grad = tg__new(fn, p->leaf->dtype, p->leaf->ndim, p->leaf->shape);
        if (!p->leaf->grad || tg_fill(p->leaf->grad, 0.0))
            rc = TG_ERR_NOMEM;
        else
            p->leaf->flags |= TG__NEW_GRAD;
    }
    for (pending *p = queue; p; p = p->next) {
        if (rc != TG_OK && (p->leaf->flags & TG__NEW_GRAD)) {
            tg_free(p->leaf->grad);
            p->leaf->grad = NULL;
        }
        p->leaf->flags &= ~(unsigned)TG__NEW_GRAD;
    }
    tg__trace_resume(tr);
    if (rc == TG_OK) /* each g has its leaf's shape and dtype */
        for (pending *p = queue; p; p = p->next)
            tg__binary_kernel(TG__OP_AXPY, 1.0, p->leaf->grad, p->leaf->grad,
                              p->g);
    return rc;
}

static int accumulate(tg_tape *T, const char *fn, sink *s, uint64_t walk,
                      tg_tensor *x, tg_tensor *gx)
{
    tg__node *n = x->node;
    if (n && (x->flags & TG__ARENA)) {
        if (n->walk != walk) {
            n->walk = walk;
            n->gout = gx;
        } else {
            n->gout = tg_ad_add(T, n->gout, gx);
            if (!n->gout)
                return tg_last_error();
        }
        return TG_OK;
    }
    return x->requires_grad ? deliver_leaf(T, fn, s, x, gx) : TG_OK;
}


static int check_versions(const char *fn, const tg__node *n)
{
    for (int i = 0; i < n->nin; i++) {
        const tg_tensor *x = i < 2 ? n->in[i] : n->more->in[i - 2];
        if (x->storage->version != (i < 2 ? n->version[i] : n->more->version[i - 2]))
            return tg__fail(TG_ERR_TAPE, fn,
                            "input %d of tg_ad_%s was modified in place after it "
                            "was recorded", i + 1, n->op->name);
    }
    if (n->out->storage->version != n->version[2])
        return tg__fail(TG_ERR_TAPE, fn,
                        "the result of tg_ad_%s was modified in place after it "
                        "was recorded", n->op->name);
    return TG_OK;
}

/* Checks the root and builds the seed (ones for a one-element root). */
static int start_walk(tg_tape *T, const char *fn, tg_tensor *root,
                      const tg_tensor *seed, tg_tensor **g0)
{
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (!T || !root)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", T ? "root" : "tape");
    if (tga__check_tape(T, fn))
        return TG_ERR_TAPE;
    /* a leaf is its own root (its gradient is the seed), as in PyTorch */
    bool leaf = !(root->flags & TG__ARENA) && root->requires_grad;
    if (!leaf && (!(root->flags & TG__ARENA) || root->tape_id != T->id))
        return tg__fail(TG_ERR_TAPE, fn,
                        root->flags & TG__ARENA
                            ? "root was made before the last reset or by another tape"
                            : "root was not produced by this tape and does not "
                              "require a gradient");
    if (seed) {
        if (seed->dtype != root->dtype || !tg__same_shape(seed, root))
            return tg__fail(seed->dtype != root->dtype ? TG_ERR_DTYPE : TG_ERR_SHAPE,
                            fn, "seed %s %s does not match root %s %s",
                            tg_dtype_name(seed->dtype),
                            tg__shape_fmt(seed->ndim, seed->shape, b1, sizeof b1),
                            tg_dtype_name(root->dtype),
                            tg__shape_fmt(root->ndim, root->shape, b2, sizeof b2));
        /* A tape copy, so that gradients handed back are always tape-owned. */
        *g0 = tga__new_like(T, fn, seed->dtype, seed->ndim, seed->shape);
        if (!*g0 || tg__copy(fn, *g0, seed))
            return tg_last_error();
        return TG_OK;
    }
    if (root->numel != 1)
        return tg__fail(TG_ERR_TAPE, fn,
                        "root has shape %s; backward without a seed needs one element",
                        tg__shape_fmt(root->ndim, root->shape, b1, sizeof b1));
    *g0 = tga__new_like(T, fn, root->dtype, root->ndim, root->shape);
    if (!*g0 || tg_fill(*g0, 1.0))
        return tg_last_error();
    return TG_OK;
}

/* A second tg_backward through records that one already went through. */
static int walk_refused(const char *fn, const tg__node *n)
{
    return tg__fail(TG_ERR_TAPE, fn,
                    "the graph through tg_ad_%s was already used by a backward, "
                    "which added its gradients; a second backward would add "
                    "them again. Record the forward pass again (after "
                    "tg_tape_reset), or call tg_tape_retain_graph(T, true) "
                    "before the first backward", n->op->name);
}

/* The backward step of a record of more than two inputs (a custom op's,
 * custom.c; no plain rule): its rule, then each wanted gradient summed
 * back to its input's shape and accumulated. */
static int backward_many(tg_tape *T, const char *fn, sink *s, uint64_t walk,
                         const tg__node *n)
{
    tg_tensor *x[TGA_MAX_INPUTS] = {n->in[0], n->in[1], n->more->in[0], n->more->in[1]};
    tga_grads r = {.da = x[0]->requires_grad, .db = x[1]->requires_grad};
    for (int i = 2; i < n->nin; i++)
        r.dmore[i - 2] = x[i]->requires_grad;
    n->op->rule(T, n, n->gout, &r);
    bool want[TGA_MAX_INPUTS] = {r.da, r.db, r.dmore[0], r.dmore[1]};
    tg_tensor *gx[TGA_MAX_INPUTS] = {r.a, r.b, r.more[0], r.more[1]};
    for (int i = 0; i < n->nin; i++) {
        if (!want[i])
            continue;
        tg_tensor *g = tga__unbroadcast(T, gx[i], x[i]);
        if (!g)
            return tg_last_error() ? tg_last_error() : TG_ERR_NOMEM;
        int rc = accumulate(T, fn, s, walk, x[i], g);
        if (rc)
            return rc;
    }
    return TG_OK;
}

static int walk_back(tg_tape *T, const char *fn, tg_tensor *root, tg_tensor *g0,
                     sink *s, bool create_graph)
{
    uint64_t walk = ++T->walks;
    bool was_recording = T->recording; /* T was checked live by the caller */
    T->recording = create_graph;
    /* A tg_backward adds its gradients to .grad: a second one through the
     * same records would add them again, so each record it goes through is
     * marked with its walk (undone below if the walk fails). */
    bool consumes = !s->inputs && !T->retain_graph;
    int rc = accumulate(T, fn, s, walk, root, g0);
    for (tg__node *n = root->node; n && rc == TG_OK; n = n->prev) {
        if (n->walk != walk) { /* the root does not depend on this record */
            if (s->ready)
                release_inputs(s, n);
            continue;
        }
        tg_tensor *ga = NULL, *gb = NULL;
        if (n->consumed && !s->inputs) {
            rc = walk_refused(fn, n);
            break;
        }
        if (consumes)
            n->consumed = walk;
        rc = check_versions(fn, n);
        if (rc == TG_OK && n->nin > 2) {
            rc = backward_many(T, fn, s, walk, n);
        } else {
            if (rc == TG_OK)
                rc = backward_step(T, fn, n, n->gout, &ga, &gb);
            if (rc == TG_OK && ga)
                rc = accumulate(T, fn, s, walk, n->in[0], ga);
            if (rc == TG_OK && gb)
                rc = accumulate(T, fn, s, walk, n->in[1], gb);
        }
        if (rc == TG_OK && s->ready)
            release_inputs(s, n);
    }
    T->recording = was_recording;
    if (rc == TG_OK && !s->inputs)
        rc = flush_queue(fn, s->queue);
    if (rc != TG_OK && consumes) /* nothing was added: nothing is used up */
        for (tg__node *n = root->node; n; n = n->prev)
            if (n->consumed == walk)
                n->consumed = 0;
    return rc;
}

static int backward_from(tg_tape *T, const char *fn, tg_tensor *root,
                         const tg_tensor *seed)
{
    tg_tensor *g0 = NULL;
    int rc = start_walk(T, fn, root, seed, &g0);
    if (rc)
        return rc;
    if (!root->node && !root->requires_grad)
        return tg__fail(TG_ERR_TAPE, fn,
                        "root does not depend on any tensor that requires a gradient");
    sink s = {.n = 0};
    return walk_back(T, fn, root, g0, &s, false);
}

int tg_backward_seed(tg_tape *T, tg_tensor *root, const tg_tensor *seed)
{
    return backward_from(T, "tg_backward_seed", root, seed);
}

int tg_backward(tg_tape *T, tg_tensor *root)
{
    return backward_from(T, "tg_backward", root, NULL);
}

int tg_backward_hooked(tg_tape *T, tg_tensor *root, int n, tg_tensor *const *leaves,
                       tg_grad_ready_fn ready, void *ctx)
{
    const char *fn = "tg_backward_hooked";
    if (n < 0 || (n > 0 && (!leaves || !ready)))
        return tg__fail(n < 0 ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                        n < 0 ? "negative leaf count" : "leaves or ready is NULL");
    for (int i = 0; i < n; i++) {
        if (!leaves[i])
            return tg__fail(TG_ERR_NULL, fn, "leaf %d is NULL", i);
        if (!leaves[i]->requires_grad || (leaves[i]->flags & TG__ARENA))
            return tg__fail(TG_ERR_TAPE, fn,
                            "leaf %d is not a tensor that requires a gradient", i);
        for (int j = 0; j < i; j++)
            if (leaves[j] == leaves[i])
                return tg__fail(TG_ERR_VALUE, fn, "leaves %d and %d are the same tensor",
                                j, i);
    }
    tg_tensor *g0 = NULL;
    int rc = start_walk(T, fn, root, NULL, &g0);
    if (rc)
        return rc;
    if (!root->node && !root->requires_grad)
        return tg__fail(TG_ERR_TAPE, fn,
                        "root does not depend on any tensor that requires a gradient");
    int *uses = tg__arena_alloc(&T->arena, (size_t)(n > 0 ? n : 1) * sizeof *uses);
    if (!uses)
        return tg__arena_fail(&T->arena, fn);
    for (int i = 0; i < n; i++) {
        uses[i] = 0;
        leaves[i]->flags |= TG__HOOKED;
    }
    sink s = {.nhooks = n, .hooks = leaves, .uses = uses, .ready = ready, .ctx = ctx};
    for (tg__node *r = root->node; r; r = r->prev)
        for (int i = 0; i < r->nin; i++) {
            int h = hook_of(&s, node_input(r, i));
            if (h >= 0)
                uses[h]++;
        }
    rc = walk_back(T, fn, root, g0, &s, false);
    for (int i = 0; i < n; i++) {
        leaves[i]->flags &= ~(unsigned)TG__HOOKED;
        if (rc == TG_OK && uses[i] >= 0) /* not used, or the root itself */
            ready(ctx, i);
    }
    return rc;
}

int tg_ad_grad(tg_tape *T, tg_tensor *root, const tg_tensor *seed, int n,
               tg_tensor *const *inputs, tg_tensor **grads, bool create_graph)
{
    const char *fn = "tg_ad_grad";
    if (n < 0 || (n > 0 && (!inputs || !grads)))
        return tg__fail(n < 0 ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                        n < 0 ? "negative input count" : "inputs or grads is NULL");
    /* grads is written while inputs is still read: they must not share
     * slots (compared as addresses, since they may be unrelated arrays). */
    uintptr_t at_in = (uintptr_t)inputs, at_g = (uintptr_t)grads;
    size_t span = (size_t)n * sizeof(tg_tensor *);
    if (n > 0 && at_in < at_g + span && at_g < at_in + span)
        return tg__fail(TG_ERR_VALUE, fn,
                        "inputs and grads overlap; pass two separate arrays");
    for (int i = 0; i < n; i++) {
        if (!inputs[i])
            return tg__fail(TG_ERR_NULL, fn, "input %d is NULL", i);
        if (!inputs[i]->requires_grad)
            return tg__fail(TG_ERR_TAPE, fn, "input %d does not require a gradient", i);
        if (tga__check_input(T, fn, inputs[i]))
            return TG_ERR_TAPE;
        grads[i] = NULL;
    }
    tg_tensor *g0 = NULL;
    int rc = start_walk(T, fn, root, seed, &g0);
    if (rc)
        return rc;
    sink s = {.n = n, .inputs = inputs, .grads = grads};
    uint64_t walk = T->walks + 1;
    if (root->node || root->requires_grad) /* a leaf root: its own gradient */
        rc = walk_back(T, fn, root, g0, &s, create_graph);
    for (int i = 0; i < n && rc == TG_OK; i++) {
        tg__node *in = inputs[i]->node;
        if ((inputs[i]->flags & TG__ARENA) && in)
            grads[i] = in->walk == walk ? in->gout : NULL;
        if (!grads[i]) { /* the root does not depend on this input */
            grads[i] = tga__new(T, fn, inputs[i]->dtype, inputs[i]->ndim,
                                inputs[i]->shape);
            rc = grads[i] ? tg_fill(grads[i], 0.0) : tg_last_error();
        }
    }
    if (rc)
        for (int i = 0; i < n; i++)
            grads[i] = NULL;
    return rc;
}
