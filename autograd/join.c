/* join.c - joining and reordering on the tape: concat, stack, split and
 * chunk, pad, flip, tile, repeat (tensor/join.c fills the results). Each
 * rule moves the gradient back: concat and stack hand each input its slice
 * of g, a piece of a split gets g padded with zeros to the input's shape,
 * pad takes the slice of g under the input, flip flips g, and tile and
 * repeat sum g over the repeated blocks.
 *
 * Ops of many inputs. A record holds a fixed, small number of inputs, so
 * a join of any number of tensors is recorded as a chain of records, one
 * per input that requires a gradient, oldest first: record j says "link j
 * is link j-1 with input x_j placed in", its inputs x_j and link j-1 (none
 * for the first). The links are headers over the result's data (with a
 * storage record of their own that nothing writes); the newest link is the
 * result itself. The walk reaches the newest record with g = d root /
 * d result; its rule gives x_j its slice of g and passes g on, unchanged,
 * to link j-1, whose record does the same for the input before. The tape
 * and its walk know nothing of this, and the other ops pay nothing. */
#include <string.h>

#include "internal.h"

/* Forgets records appended since (last, length): a failing op of several
 * records records nothing. Their arena memory is reclaimed at the reset. */
static void rollback(tg_tape *T, tg__node *last, size_t length)
{
    if (T) {
        T->last = last;
        T->length = length;
    }
}

/* A copy of v[0..n) on the tape, for a rule to read at backward time. */
static const int64_t *keep_on_tape(tg_tape *T, const char *fn, int n,
                                   const int64_t *v)
{
    int64_t *p = tg__arena_alloc(&T->arena, sizeof(int64_t) * (size_t)n);
    if (!p) {
        tg__arena_fail(&T->arena, fn);
        return NULL;
    }
    if (n > 0)
        memcpy(p, v, sizeof(int64_t) * (size_t)n);
    return p;
}

/* ---- concat and stack: a chain of records ----------------------------------------- */

/* d concat = the slice of g at x_j's place; g itself goes on to link j-1. */
static void concat_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    if (r->da)
        r->a = tg_ad_slice(T, g, n->axis, n->p[0], n->p[1], 1);
    if (r->db)
        r->b = g;
}

/* d stack = index p[0] of g along the stacked axis. */
static void stack_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    if (r->da) {
        tg_tensor *x = n->in[0];
        tg_tensor *s = tg_ad_slice(T, g, n->axis, n->p[0], n->p[0] + 1, 1);
        r->a = tg_ad_reshape(T, s, x->ndim, x->shape);
    }
    if (r->db)
        r->b = g;
}

static const tga_op op_concat = {"concat", concat_rule, NULL};
static const tga_op op_stack = {"stack", stack_rule, NULL};

/* A link of the chain: out's header over a storage record of its own (the
 * same data, a version nothing bumps), so that the walk's checks of
 * in-place writes see only the real inputs and the result. */
static tg_tensor *chain_link(tg_tape *T, const char *fn, tg_tensor *out)
{
    tg__storage *st = tg__arena_alloc(&T->arena, sizeof *st);
    if (!st) {
        tg__arena_fail(&T->arena, fn);
        return NULL;
    }
    *st = *out->storage;
    st->version = 0;
    tg_tensor *link = tga__view(T, fn, out);
    if (link)
        link->storage = st;
    return link;
}

/* Records out = join(ts) as a chain (nothing when no input requires a
 * gradient or T does not record); NULL on failure, recording nothing. */
static tg_tensor *record_chain(tg_tape *T, const char *fn, const tga_op *op,
                               tg_tensor *out, int n, tg_tensor *const *ts,
                               int k, bool stack)
{
    if (!T || !T->recording)
        return out;
    int last = -1;
    for (int i = 0; i < n; i++)
        if (ts[i]->requires_grad)
            last = i;
    if (last < 0)
        return out;
    tg__node *was = T->last;
    size_t length = T->length;
    tg_tensor *prev = NULL;
    int64_t off = 0;
    for (int i = 0; i <= last; i++) {
        int64_t len = stack ? 1 : ts[i]->shape[k];
        if (ts[i]->requires_grad) {
            tg_tensor *link = i == last ? out : chain_link(T, fn, out);
            tg__node *rec = link ? tga__record(T, fn, op, link, ts[i], prev) : NULL;
            if (!rec) {
                rollback(T, was, length);
                return NULL;
            }
            rec->axis = k;
            rec->p[0] = off;
            rec->p[1] = off + len;
            prev = link;
        }
        off += len;
    }
    return out;
}

static tg_tensor *join(tg_tape *T, const char *fn, const tga_op *op, int n,
                       tg_tensor *const *ts, int axis, bool stack)
{
    int k, nd;
    int64_t shape[TG_MAX_DIMS];
    if (tga__check_tape(T, fn))
        return NULL;
    /* The tensors are only read: the const view of the same array. */
    const tg_tensor *const *in = (const tg_tensor *const *)ts;
    if (tg__join_shape(fn, n, in, axis, stack, &k, &nd, shape))
        return NULL;
    for (int i = 0; i < n; i++)
        if (tga__check_input(T, fn, ts[i]))
            return NULL;
    tg_tensor *out = tga__new(T, fn, ts[0]->dtype, nd, shape);
    if (!out)
        return NULL;
    if (tg__join_into(fn, out, n, in, k, stack))
        return tga__discard(T, out);
    return record_chain(T, fn, op, out, n, ts, k, stack);
}

tg_tensor *tg_ad_concat(tg_tape *T, int n, tg_tensor *const *ts, int axis)
{
    return join(T, "tg_ad_concat", &op_concat, n, ts, axis, false);
}

tg_tensor *tg_ad_stack(tg_tape *T, int n, tg_tensor *const *ts, int axis)
{
    return join(T, "tg_ad_stack", &op_stack, n, ts, axis, true);
}

/* ---- split and chunk: one record per piece -------------------------------------------- */

/* d piece = g padded with zeros to the input's shape: the slice's adjoint
 * (p[0] elements before it on the axis, p[1] after). The walk adds the
 * pieces' gradients up. */
static void split_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    int64_t w[2 * TG_MAX_DIMS] = {0};
    w[2 * n->axis] = n->p[0];
    w[2 * n->axis + 1] = n->p[1];
    r->a = tg_ad_pad(T, g, w, 0.0);
}

/* The plain rule writes each piece's gradient into its place in one
 * zeroed gradient of the input, made by the first piece the walk reaches
 * (the newest) and delivered then; the later pieces find it as the input's
 * pending gradient and deliver nothing themselves. The same sum as the
 * rule's padded pieces added up (the pieces do not overlap: each element
 * is one piece's or 0), without a zeroed tensor and an addition per
 * piece: attention's q, k, v. When another gradient reached the input
 * first, the pending gradient is a sum the walk made, and the piece starts
 * a zeroed gradient of its own. */
static bool split_plain(tg_tape *T, const char *fn, const tg__node *n, tg_tensor *g,
                        tga_grads *r)
{
    tg_tensor *a = n->in[0];
    if (!r->da)
        return true;
    tg__node *an = a->flags & TG__ARENA ? a->node : NULL;
    tg_tensor *sum = an && an->walk == T->walks ? an->gout : NULL;
    bool fresh = !sum || !(sum->flags & TG__SPLIT_GRAD);
    if (fresh) {
        sum = tga__plain_new(T, fn, a);
        if (!sum || tg_fill(sum, 0.0)) {
            r->a = NULL; /* the walk reports the error */
            return true;
        }
        sum->flags |= TG__SPLIT_GRAD;
    }
    tg_tensor place;
    int64_t len = a->shape[n->axis] - n->p[0] - n->p[1];
    if (tg__make_slice(fn, sum, n->axis, n->p[0], n->p[0] + len, 1, &place) ||
        tg__copy(fn, &place, g)) {
        r->a = NULL;
        return true;
    }
    if (fresh)
        r->a = sum;
    else
        r->da = false; /* already in the input's pending gradient */
    return true;
}

static const tga_op op_split = {"split", split_rule, split_plain};

static int split(tg_tape *T, const char *fn, tg_tensor *a, int axis, int n,
                 const int64_t *sizes, bool chunk, tg_tensor **out)
{
    int k, rc = tg__split_start(fn, a, n, out);
    if (rc)
        return rc;
    if (tga__check_input(T, fn, a) || tg__split_check(fn, a, axis, n, sizes, chunk, &k))
        return tg_last_error();
    tg__node *was = T ? T->last : NULL;
    size_t length = T ? T->length : 0;
    bool record = tga__wants_record(T, a, NULL);
    int64_t total = a->shape[k], off = 0;
    for (int i = 0; i < n; i++) {
        int64_t len = tg__piece_size(total, n, sizes, i);
        tg_tensor v;
        tg__node *rec = NULL;
        if (tg__make_slice(fn, a, k, off, off + len, 1, &v) == TG_OK)
            out[i] = tga__view(T, fn, &v);
        if (out[i] && record)
            rec = tga__record(T, fn, &op_split, out[i], a, NULL);
        if (!out[i] || (record && !rec)) {
            rollback(T, was, length);
            for (int j = 0; j <= i; j++) {
                if (!T)
                    tg_free(out[j]);
                out[j] = NULL;
            }
            return tg_last_error();
        }
        if (rec) {
            rec->axis = k;
            rec->p[0] = off;
            rec->p[1] = total - off - len;
        }
        off += len;
    }
    return TG_OK;
}

int tg_ad_split(tg_tape *T, tg_tensor *a, int axis, int n, const int64_t *sizes,
                tg_tensor **out)
{
    return split(T, "tg_ad_split", a, axis, n, sizes, false, out);
}

int tg_ad_chunk(tg_tape *T, tg_tensor *a, int axis, int n, tg_tensor **out)
{
    return split(T, "tg_ad_chunk", a, axis, n, NULL, true, out);
}

/* ---- pad ------------------------------------------------------------------------------- */

/* d pad = the slice of g under the input. */
static void pad_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    const tg_tensor *a = n->in[0];
    for (int k = 0; k < a->ndim && g; k++) {
        int64_t before = n->sizes[2 * k];
        if (before || n->sizes[2 * k + 1])
            g = tg_ad_slice(T, g, k, before, before + a->shape[k], 1);
    }
    r->a = g;
}

static const tga_op op_pad = {"pad", pad_rule, NULL};

tg_tensor *tg_ad_pad(tg_tape *T, tg_tensor *a, const int64_t *widths, double value)
{
    const char *fn = "tg_ad_pad";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    int64_t shape[TG_MAX_DIMS];
    if (tg__pad_shape(fn, a, widths, value, shape))
        return NULL;
    tg_tensor *out = tga__new(T, fn, a->dtype, a->ndim, shape);
    if (!out)
        return NULL;
    if (tg__pad_into(fn, out, a, widths, value))
        return tga__discard(T, out);
    if (!tga__wants_record(T, a, NULL))
        return out;
    const int64_t *w = keep_on_tape(T, fn, 2 * a->ndim, widths);
    tg__node *rec = w ? tga__record(T, fn, &op_pad, out, a, NULL) : NULL;
    if (!rec)
        return NULL;
    rec->sizes = w;
    return out;
}

/* ---- flip ------------------------------------------------------------------------------ */

/* d flip = the flip of g. */
static void flip_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = tg_ad_flip(T, g, n->axis);
}

static const tga_op op_flip = {"flip", flip_rule, NULL};

tg_tensor *tg_ad_flip(tg_tape *T, tg_tensor *a, int axis)
{
    const char *fn = "tg_ad_flip";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    tg_tensor v;
    if (tg__make_slice(fn, a, axis, TG_NONE, TG_NONE, -1, &v))
        return NULL;
    tg_tensor *out = tga__view(T, fn, &v);
    if (!out)
        return NULL;
    tg__node *rec;
    out = tga__finish(T, fn, &op_flip, out, a, NULL, &rec);
    if (rec)
        rec->axis = axis < 0 ? axis + a->ndim : axis;
    return out;
}

/* ---- tile and repeat: sums over the repeated blocks ----------------------------------- */

/* g of shape (lead, r*s, trail) seen as (lead, r, s, trail) (r first:
 * tile) or (lead, s, r, trail) (r last: repeat) and summed over r: the
 * blocks a tile or a repeat made along axis k, added back into one. */
static tg_tensor *sum_blocks(tg_tape *T, tg_tensor *g, int k, int64_t r, int64_t s,
                             bool r_first)
{
    int64_t lead = 1, trail = 1;
    for (int j = 0; j < k; j++)
        lead *= g->shape[j];
    for (int j = k + 1; j < g->ndim; j++)
        trail *= g->shape[j];
    int64_t four[4] = {lead, r_first ? r : s, r_first ? s : r, trail};
    int64_t back[TG_MAX_DIMS];
    memcpy(back, g->shape, sizeof(int64_t) * (size_t)g->ndim);
    back[k] = s;
    tg_tensor *g4 = tg_ad_reshape(T, g, 4, four);
    tg_tensor *summed = tg_ad_sum_axis(T, g4, r_first ? 1 : 2, false);
    return tg_ad_reshape(T, summed, g->ndim, back);
}

/* d tile = g summed over the tiles, axis by axis, then the leading axes
 * that tile added (sizes 1 once summed) dropped. */
static void tile_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    const tg_tensor *a = n->in[0];
    int d = n->axis, lead = d - a->ndim;
    for (int j = 0; j < d && g; j++) {
        int64_t s = j < lead ? 1 : a->shape[j - lead];
        if (n->sizes[j] != 1)
            g = sum_blocks(T, g, j, n->sizes[j], s, true);
    }
    r->a = g ? tg_ad_reshape(T, g, a->ndim, a->shape) : NULL;
}

static const tga_op op_tile = {"tile", tile_rule, NULL};

tg_tensor *tg_ad_tile(tg_tape *T, tg_tensor *a, int n, const int64_t *reps)
{
    const char *fn = "tg_ad_tile";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__tile_shape(fn, a, n, reps, &nd, shape))
        return NULL;
    tg_tensor *out = tga__new(T, fn, a->dtype, nd, shape);
    if (!out)
        return NULL;
    if (tg__tile_into(fn, out, a))
        return tga__discard(T, out);
    if (!tga__wants_record(T, a, NULL))
        return out;
    int64_t r[TG_MAX_DIMS]; /* the repetitions per axis of the result */
    for (int j = 0; j < nd; j++)
        r[j] = j < nd - n ? 1 : reps[j - (nd - n)];
    const int64_t *kept = keep_on_tape(T, fn, nd, r);
    tg__node *rec = kept ? tga__record(T, fn, &op_tile, out, a, NULL) : NULL;
    if (!rec)
        return NULL;
    rec->axis = nd;
    rec->sizes = kept;
    return out;
}

/* d repeat = g summed over each element's copies. */
static void repeat_rule(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r)
{
    r->a = sum_blocks(T, g, n->axis, n->p[0], n->in[0]->shape[n->axis], false);
}

static const tga_op op_repeat = {"repeat", repeat_rule, NULL};

tg_tensor *tg_ad_repeat(tg_tape *T, tg_tensor *a, int axis, int64_t repeats)
{
    const char *fn = "tg_ad_repeat";
    if (!a || tga__check_input(T, fn, a))
        return NULL;
    int k;
    int64_t shape[TG_MAX_DIMS];
    if (tg__repeat_shape(fn, a, axis, repeats, &k, shape))
        return NULL;
    tg_tensor *out = tga__new(T, fn, a->dtype, a->ndim, shape);
    if (!out)
        return NULL;
    if (tg__repeat_into(fn, out, a, k, repeats))
        return tga__discard(T, out);
    tg__node *rec;
    out = tga__finish(T, fn, &op_repeat, out, a, NULL, &rec);
    if (rec) {
        rec->axis = k;
        rec->p[0] = repeats;
    }
    return out;
}
