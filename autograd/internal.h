/* internal.h - what the tape (tape.c: records, the backward walk) shares
 * with the op families. Each family is one file holding, side by side, each
 * op's forward (a tensor/ kernel writing into a tape-owned result, plus a
 * record) and its backward rule, gathered in a descriptor:
 *
 *   arith.c   add sub mul div pow maximum minimum, the scalar forms
 *   unary.c   neg exp log sqrt abs tanh sigmoid relu; sign step detach
 *   functions.c  sin cos log1p expm1 softplus leaky_relu elu gelu(_tanh)
 *             silu log_sigmoid square reciprocal; floor ceil round
 *   softmax.c softmax log_softmax logsumexp along an axis
 *   reduce.c  sum mean max (all and per axis), sum_to
 *   reduce_more.c  min prod var std norm (all, per axis, over a set of
 *             axes), sum mean max over a set of axes, cumsum
 *   matmul.c  matmul
 *   shape.c   reshape permute transpose slice expand cast
 *   index.c   index_select gather scatter_add
 *   select.c  where clamp masked_fill
 *   join.c    concat stack split chunk pad flip tile repeat
 *   conv.c    conv2d conv1d conv_transpose2d (nn_ops.h)
 *   pool.c    max_pool2d avg_pool2d adaptive_avg_pool2d (nn_ops.h)
 *   norm.c    batch_norm layer_norm dropout (nn_ops.h)
 *   custom.c  tg_ad_custom: ops whose forward and backward the user wrote
 *
 * gradcheck.c holds the finite-difference checker; graph.c draws the
 * tape (DOT and a text listing); plan.c captures a step's kernels and
 * replays them (plan.h, over tensor/trace.c). */
#ifndef TG_AUTOGRAD_INTERNAL_H
#define TG_AUTOGRAD_INTERNAL_H

#include "../tensor/internal.h"
#include "tape.h"

typedef struct tg__node tg__node;

/* Most inputs of one record: the built-in ops take one or two, kept in the
 * record itself; a custom op takes up to four, the ones past the second
 * kept beside the record (tga_more). */
#define TGA_MAX_INPUTS TG_CUSTOM_MAX_INPUTS
typedef struct tga_more {
    tg_tensor *in[TGA_MAX_INPUTS - 2];
    uint64_t version[TGA_MAX_INPUTS - 2]; /* their storage versions when recorded */
} tga_more;

/* The gradients a rule produces for the inputs of a record, before they
 * are summed back to the inputs' shapes (the walk does that). A rule may
 * clear db when it has delivered b's share through a (d(a*a)). */
typedef struct tga_grads {
    bool da, db;   /* which inputs want a gradient */
    tg_tensor *a;  /* d root / d a (NULL where not wanted) */
    tg_tensor *b;
    /* The same for inputs 3 and 4 of a record of more inputs (nin > 2:
     * custom ops); false and NULL for the others. */
    bool dmore[TGA_MAX_INPUTS - 2];
    tg_tensor *more[TGA_MAX_INPUTS - 2];
} tga_grads;

/* An op as the tape knows it: its name (tg_ad_NAME in messages), its
 * backward rule written with tg_ad_* ops (so a recorded backward can be
 * differentiated again), and optionally a plain rule: the same values, bit
 * for bit, computed with kernels called directly and fused loops, used
 * when the walk is not recorded. plain returns false where it has no form
 * for this record (then the rule runs). */
typedef struct tga_op {
    const char *name;
    void (*rule)(tg_tape *T, const tg__node *n, tg_tensor *g, tga_grads *r);
    bool (*plain)(tg_tape *T, const char *fn, const tg__node *n, tg_tensor *g,
                  tga_grads *r);
} tga_op;

/* One record of the Wengert list. Records live in the arena and are linked
 * newest to oldest, so backward walks prev from the root's record. */
struct tg__node {
    struct tg__node *prev;
    const tga_op *op;
    int nin;
    tg_tensor *in[2];
    tg_tensor *out;
    uint64_t version[3]; /* storage versions of in[0], in[1], out when recorded */
    tga_more *more;      /* inputs 3.. when nin > 2 (custom ops); unset otherwise */
    double s;            /* scalar operand or exponent */
    int axis;
    bool keepdims;
    unsigned axes;       /* reduce_more.c: the reduced axes, bit k for axis k */
    int64_t p[3];        /* slice start, stop, step */
    int perm[TG_MAX_DIMS];
    tg_tensor *aux;      /* index.c: the index; select.c: the mask;
                            pool.c: the arg-max positions; norm.c: the
                            saved 1/std (never differentiated; set only by
                            those ops) */
    const int64_t *sizes; /* join.c: pad's widths, tile's repetitions;
                             conv.c and pool.c: the geometry; kept on the
                             tape (set only by those ops) */
    tg_tensor *gout;     /* gradient of out accumulated during a walk */
    uint64_t walk;       /* which backward walk gout belongs to */
    uint64_t consumed;   /* the tg_backward walk that went through it, 0 if
                            none (tg_tape_retain_graph) */
};

/* tg_tape.magic of a live tape; tg_tape_free overwrites it, so a freed
 * tape (while its memory is not reused) or a pointer to something else is
 * caught by the check every entry point makes. */
#define TGA_LIVE 0x74617065u /* "tape" */

struct tg_tape {
    uint32_t magic;
    bool retain_graph;   /* records may be walked by more than one tg_backward */
    tg__arena arena;
    tg__node *last;      /* newest record */
    size_t length;
    uint64_t id;         /* unique per tape and generation (changes on reset) */
    uint64_t walks;      /* backward walks so far */
    bool recording;
    tg__trace *capture;  /* the trace of tg_capture_begin, until its end */
};

/* Stops a capture in progress on T and frees its trace (plan.c). */
void tga__capture_abandon(tg_tape *T);

/* Output tensor for an op: on the tape's arena, or on the heap if T is NULL. */
tg_tensor *tga__new(tg_tape *T, const char *fn, tg_dtype dt, int ndim,
                    const int64_t *shape);
/* The same for a shape known to be valid (made from checked inputs). */
static inline tg_tensor *tga__new_like(tg_tape *T, const char *fn, tg_dtype dt,
                                       int ndim, const int64_t *shape)
{
    if (!T)
        return tg__new(fn, dt, ndim, shape);
    if (tg__tracing && !T->capture)
        tg__trace_refuse(fn, "an op on a tape other than the capturing one");
    tg_tensor *t = tg__arena_tensor_trusted(&T->arena, fn, dt, ndim, shape);
    if (t)
        t->tape_id = T->id;
    return t;
}
/* A tensor holding a view's geometry: arena header, or heap view if T NULL. */
tg_tensor *tga__view(tg_tape *T, const char *fn, const tg_tensor *view);
/* The error for an input that tga__check_input refuses, saying why. */
int tga__foreign_input(const tg_tape *T, const char *fn, const tg_tensor *t);
/* The error for a tensor.h view of a tensor that requires a gradient. */
int tga__grad_view(const char *fn);
/* The error for a tape that is not live (freed, or not a tape at all). */
int tga__dead_tape(const char *fn);
/* Checks that T is NULL or a live tape. */
static inline int tga__check_tape(const tg_tape *T, const char *fn)
{
    return !T || T->magic == TGA_LIVE ? TG_OK : tga__dead_tape(fn);
}
/* Checks that an input may be used on T: T is live, and t was not made by
 * another tape or generation. */
static inline int tga__check_input(tg_tape *T, const char *fn, const tg_tensor *t)
{
    if (T && T->magic != TGA_LIVE)
        return tga__dead_tape(fn);
    if (!(t->flags & TG__ARENA)) {
        if (tg__tracing) /* a caller-owned input of a captured step */
            tg__trace_input(t);
        return !(t->flags & TG__GRAD_VIEW) || !T || !T->recording
                   ? TG_OK
                   : tga__grad_view(fn);
    }
    if (T && t->tape_id == T->id)
        return TG_OK;
    return tga__foreign_input(T, fn, t);
}
/* Whether an op with these inputs must be recorded. */
static inline bool tga__wants_record(const tg_tape *T, const tg_tensor *a,
                                     const tg_tensor *b)
{
    return T && T->recording && (a->requires_grad || (b && b->requires_grad));
}
/* Appends a record for out = op(a, b); returns it (NULL: out of memory, with
 * the error set). Sets out->requires_grad. */
tg__node *tga__record(tg_tape *T, const char *fn, const tga_op *op,
                      tg_tensor *out, tg_tensor *a, tg_tensor *b);
/* Releases a result that will not be returned (heap results only: the
 * tape's die at reset); returns NULL. */
static inline tg_tensor *tga__discard(tg_tape *T, tg_tensor *out)
{
    if (!T)
        tg_free(out);
    return NULL;
}
/* A 0-d zero of dt on T: the constant branch of a gradient's where
 * (select.c, maximum/minimum); NULL with the error set on failure. */
static inline tg_tensor *tga__zero(tg_tape *T, const char *fn, tg_dtype dt)
{
    tg_tensor *z = tga__new_like(T, fn, dt, 0, NULL);
    if (z && tg_fill(z, 0.0))
        return tga__discard(T, z);
    return z;
}
/* Records out = op(a, b) if an input requires a gradient (op NULL: never,
 * the op is not differentiable), storing the record in *node when node is
 * not NULL (else NULL). On failure releases a heap result and returns NULL.
 * Inline: every op ends here. */
static inline tg_tensor *tga__finish(tg_tape *T, const char *fn,
                                     const tga_op *op, tg_tensor *out,
                                     tg_tensor *a, tg_tensor *b, tg__node **node)
{
    if (node)
        *node = NULL;
    if (!op || !tga__wants_record(T, a, b))
        return out;
    tg__node *n = tga__record(T, fn, op, out, a, b);
    if (!n)
        return tga__discard(T, out);
    if (node)
        *node = n;
    return out;
}
/* A caller-owned result of a tensor/ function as the op's result: itself
 * when T is NULL, else a copy on T (heap is freed either way on T).
 * For the integer and bool forms, which are never recorded. */
tg_tensor *tga__adopt(tg_tape *T, const char *fn, tg_tensor *heap);
/* Sums a gradient of a broadcast result back to the input's shape, on the
 * tape (recorded when the walk is). */
tg_tensor *tga__unbroadcast(tg_tape *T, tg_tensor *g, const tg_tensor *x);

/* Helpers of the plain rules: kernels called directly into new tensors on
 * T, with the checks the recorded op made when it was recorded. */
/* A new tensor with like's shape and dtype. */
static inline tg_tensor *tga__plain_new(tg_tape *T, const char *fn,
                                        const tg_tensor *like)
{
    return tga__new_like(T, fn, like->dtype, like->ndim, like->shape);
}
/* op(g, x) (TG_* or TG__OP_* with scalar s) into a new tensor of g's shape,
 * the shape of the record's result, to which x broadcasts. */
static inline tg_tensor *tga__plain_op(tg_tape *T, const char *fn, int op,
                                       double s, tg_tensor *g, const tg_tensor *x)
{
    tg_tensor *r = tga__plain_new(T, fn, g);
    if (r)
        tg__binary_kernel(op, s, r, g, x);
    return r;
}
/* g op s into a new tensor. */
static inline tg_tensor *tga__plain_scalar(tg_tape *T, const char *fn,
                                           tg_binop op, tg_tensor *g, double s)
{
    tg_tensor *r = tga__plain_new(T, fn, g);
    if (r)
        tg__scalar_kernel(op, r, g, s, false);
    return r;
}
/* -g into a new tensor. */
static inline tg_tensor *tga__plain_neg(tg_tape *T, const char *fn, tg_tensor *g)
{
    tg_tensor *r = tga__plain_new(T, fn, g);
    if (r)
        tg__unary_kernel(TG_NEG, r, g);
    return r;
}


/* The gradient of a max (is_min false) or min of n->in[0] over the axes in
 * mask, its result n->out (keepdims as n->keepdims), given g: g spread
 * evenly over the elements equal to the result (torch.amax's rule), so a
 * NaN result gives NaN to its whole group. reduce_more.c. */
tg_tensor *tga__tie_grad(tg_tape *T, const tg__node *n, tg_tensor *g,
                         unsigned mask, bool is_min);

#endif
