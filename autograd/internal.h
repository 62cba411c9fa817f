/* internal.h - the tape's records, shared by tape.c (the tape and the
 * backward walk) and ops.c (each op's forward and backward rule). */
#ifndef TG_AUTOGRAD_INTERNAL_H
#define TG_AUTOGRAD_INTERNAL_H

#include "../tensor/internal.h"
#include "tape.h"

/* Op codes of the records. */
enum {
    TGA_ADD, TGA_SUB, TGA_MUL, TGA_DIV, TGA_POW, TGA_MAXIMUM, TGA_MINIMUM,
    TGA_ADDS, TGA_SUBS, TGA_RSUBS, TGA_MULS, TGA_DIVS, TGA_RDIVS, TGA_POWS,
    TGA_NEG, TGA_EXP, TGA_LOG, TGA_SQRT, TGA_ABS, TGA_TANH, TGA_SIGMOID,
    TGA_RELU,
    TGA_SUM, TGA_MEAN, TGA_MAX, TGA_SUM_AXIS, TGA_MEAN_AXIS, TGA_MAX_AXIS,
    TGA_SUM_TO, TGA_MATMUL,
    TGA_RESHAPE, TGA_PERMUTE, TGA_SLICE, TGA_SLICE_SCATTER, TGA_EXPAND,
    TGA_CAST,
    TGA_OP_COUNT
};

/* One record of the Wengert list. Records live in the arena and are linked
 * newest to oldest, so backward walks prev from the root's record. */
typedef struct tg__node {
    struct tg__node *prev;
    int op;
    int nin;
    tg_tensor *in[2];
    tg_tensor *out;
    uint64_t version[3]; /* storage versions of in[0], in[1], out when recorded */
    double s;            /* scalar operand or exponent */
    int axis;
    bool keepdims;
    int64_t p[3];        /* slice start, stop, step */
    int perm[TG_MAX_DIMS];
    tg_tensor *gout;     /* gradient of out accumulated during a walk */
    uint64_t walk;       /* which backward walk gout belongs to */
} tg__node;

struct tg_tape {
    tg__arena arena;
    tg__node *last;      /* newest record */
    size_t length;
    uint64_t id;         /* unique per tape and generation (changes on reset) */
    uint64_t walks;      /* backward walks so far */
    bool recording;
};

/* Output tensor for an op: on the tape's arena, or on the heap if T is NULL. */
tg_tensor *tga__new(tg_tape *T, const char *fn, tg_dtype dt, int ndim,
                    const int64_t *shape);
/* The same for a shape known to be valid (made from checked inputs). */
static inline tg_tensor *tga__new_like(tg_tape *T, const char *fn, tg_dtype dt,
                                       int ndim, const int64_t *shape)
{
    if (!T)
        return tg__new(fn, dt, ndim, shape);
    tg_tensor *t = tg__arena_tensor_trusted(&T->arena, fn, dt, ndim, shape);
    if (t)
        t->tape_id = T->id;
    return t;
}
/* A tensor holding a view's geometry: arena header, or heap view if T NULL. */
tg_tensor *tga__view(tg_tape *T, const char *fn, const tg_tensor *view);
/* Checks that an input may be used on T (not from another tape/generation). */
static inline int tga__check_input(tg_tape *T, const char *fn, const tg_tensor *t)
{
    if (!(t->flags & TG__ARENA) || (T && t->tape_id == T->id))
        return TG_OK;
    return tg__fail(TG_ERR_TAPE, fn,
                    "input was made by another tape or before the last reset");
}
/* Whether an op with these inputs must be recorded. */
static inline bool tga__wants_record(const tg_tape *T, const tg_tensor *a,
                                     const tg_tensor *b)
{
    return T && T->recording && (a->requires_grad || (b && b->requires_grad));
}
/* Appends a record for out = op(a, b); returns it (NULL: out of memory, with
 * the error set). Sets out->requires_grad. */
tg__node *tga__record(tg_tape *T, const char *fn, int op, tg_tensor *out,
                      tg_tensor *a, tg_tensor *b);
/* The backward rule of a record: writes the gradients of its inputs (NULL
 * where an input needs none) given g = d root / d out. Runs ops on T; when
 * T is not recording, the common rules run as fused kernels and report
 * running out of memory under fn. */
int tga__backward_rule(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tg_tensor **ga, tg_tensor **gb);

#endif
