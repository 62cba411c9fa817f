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
    TGA_CAST, TGA_PICK, TGA_PICK_SCATTER,
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
    const int32_t *idx;  /* pick: one column per row, kept on the tape */
    tg_tensor *gout;     /* gradient of out accumulated during a walk */
    uint64_t walk;       /* which backward walk gout belongs to */
    uint64_t consumed;   /* the tg_backward walk that went through it, 0 if
                            none (tg_tape_retain_graph) */
} tg__node;

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
/* The error for an input that tga__check_input refuses, saying why. */
int tga__foreign_input(const tg_tape *T, const char *fn, const tg_tensor *t);
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
    if (!(t->flags & TG__ARENA) || (T && t->tape_id == T->id))
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
tg__node *tga__record(tg_tape *T, const char *fn, int op, tg_tensor *out,
                      tg_tensor *a, tg_tensor *b);
/* out[i] = x[i, cols[i]] for x (rows, cols): one element per row, picked
 * on the tape (the gradient is scattered back, so entries not picked get
 * exactly zero whatever their value, -inf included). cols has x's row
 * count of entries in [0, columns), already checked; it is copied onto the
 * tape. Errors under fn. */
tg_tensor *tga__pick(tg_tape *T, const char *fn, tg_tensor *x,
                     const int32_t *cols);
/* The backward rule of a record: writes the gradients of its inputs (NULL
 * where an input needs none) given g = d root / d out. Runs ops on T; when
 * T is not recording, the common rules run as fused kernels and report
 * running out of memory under fn. */
int tga__backward_rule(tg_tape *T, const char *fn, const tg__node *n,
                       tg_tensor *g, tg_tensor **ga, tg_tensor **gb);

#endif
