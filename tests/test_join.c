/* test_join.c - joining and reordering (tensor/join.c, autograd/join.c):
 * concat, stack, split, chunk, pad, flip, tile, repeat. Forward values and
 * gradients against NumPy and PyTorch (data/join_ref.inc, written by
 * data/make_join_ref.py) on contiguous, transposed, reversed and broadcast
 * inputs; the gradient checker in float64 on every op, first and second
 * order; a Hessian-vector product against finite differences; the chain of
 * records behind an op of many inputs; slices with Python's rules on the
 * tape; integer and bool tensors; bad input with its messages; allocation
 * failures; empty tensors. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>

#include "data/join_ref.inc"

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32
#define SH TG_SHAPE

/* ---- inputs, as make_join_ref.py's inp() ------------------------------------ */

static int64_t count(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= shape[k];
    return n;
}

/* (arange(numel) + 100 k) / 4 - 2 in C order, shape (ndim, shape). */
static tg_tensor *values(int k, int ndim, const int64_t *shape)
{
    static double v[4096];
    int64_t n = count(ndim, shape);
    ck_assert_int_le(n, 4096);
    for (int64_t i = 0; i < n; i++)
        v[i] = ((double)i + 100.0 * k) / 4 - 2;
    tg_tensor *t = tg_from_array(F64, ndim, shape, v);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Input k in a layout: 'c' contiguous, 't' the transpose of the reversed
 * shape's values, 'r' axis 0 reversed (negative stride), 'b' row 0
 * broadcast along axis 0 (stride 0). Caller-owned. */
static tg_tensor *join_input(int k, char layout, int ndim, const int64_t *shape)
{
    int64_t sh[TG_MAX_DIMS];
    int perm[TG_MAX_DIMS];
    tg_tensor *base, *t;
    switch (layout) {
    case 't':
        for (int j = 0; j < ndim; j++) {
            sh[j] = shape[ndim - 1 - j];
            perm[j] = ndim - 1 - j;
        }
        base = values(k, ndim, sh);
        t = tg_permute(base, perm);
        break;
    case 'r':
        base = values(k, ndim, shape);
        t = tg_slice(base, 0, TG_NONE, TG_NONE, -1);
        break;
    case 'b':
        memcpy(sh, shape, sizeof(int64_t) * (size_t)ndim);
        sh[0] = 1;
        base = values(k, ndim, sh);
        t = tg_expand(base, ndim, shape);
        break;
    default:
        return values(k, ndim, shape);
    }
    tg_free(base);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* make_join_ref.py's weights(): ((7 i) % 11 - 5) / 2 in C order. */
static tg_tensor *weights(const tg_tensor *like)
{
    tg_tensor *w = tg_empty(F64, tg_ndim(like), tg_shape(like));
    ck_assert_ptr_nonnull(w);
    for (int64_t i = 0; i < tg_numel(w); i++)
        ((double *)tg_data(w))[i] = (double)((i * 7) % 11 - 5) * 0.5;
    return w;
}

/* t equals the reference exactly: the ops only move elements. */
static void assert_ref(const tg_tensor *t, const join_ref *want, const char *what)
{
    ck_assert_msg(t != NULL, "%s: NULL (%s)", what, tg_last_message());
    ck_assert_msg(tg_ndim(t) == want->ndim, "%s: %d dimensions, want %d", what,
                  tg_ndim(t), want->ndim);
    for (int k = 0; k < want->ndim; k++)
        ck_assert_msg(tg_shape(t)[k] == want->shape[k],
                      "%s: size %lld on axis %d, want %lld", what,
                      (long long)tg_shape(t)[k], k, (long long)want->shape[k]);
    for (int64_t i = 0; i < tg_numel(t); i++)
        ck_assert_msg(tgt_at(t, i) == want->v[i], "%s: element %lld is %.17g, want %.17g",
                      what, (long long)i, tgt_at(t, i), want->v[i]);
}

/* ---- the cases of make_join_ref.py, as C ------------------------------------ */

typedef enum { J_CONCAT, J_STACK, J_PAD, J_FLIP, J_TILE, J_REPEAT } jop;

typedef struct jin {
    int k;
    char layout;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} jin;

typedef struct jcase {
    const char *name;
    jop op;
    int nin;
    jin in[3];
    int axis;          /* concat, stack, flip, repeat */
    int n;             /* tile: how many repetitions */
    int64_t ints[16];  /* pad: widths; tile: repetitions */
    int64_t repeats;   /* repeat */
    double value;      /* pad */
    const join_ref *want;
    const join_ref *grad[3];
} jcase;

#define G1(name) {&ref_##name##_grad0}
#define G2(name) {&ref_##name##_grad0, &ref_##name##_grad1}
#define G3(name) {&ref_##name##_grad0, &ref_##name##_grad1, &ref_##name##_grad2}

static const jcase cases[] = {
    {"concat_axis1", J_CONCAT, 3, {{0, 't', 2, {2, 3}}, {1, 'c', 2, {2, 2}}, {2, 'c', 2, {2, 0}}},
     .axis = 1, .want = &ref_concat_axis1, .grad = G3(concat_axis1)},
    {"concat_axis0_bcast", J_CONCAT, 3,
     {{0, 'c', 2, {1, 3}}, {1, 'b', 2, {3, 3}}, {2, 'r', 2, {2, 3}}}, .axis = -2,
     .want = &ref_concat_axis0_bcast, .grad = G3(concat_axis0_bcast)},
    {"concat_one", J_CONCAT, 1, {{3, 't', 3, {2, 2, 2}}}, .axis = 2,
     .want = &ref_concat_one, .grad = G1(concat_one)},
    {"stack_axis0", J_STACK, 3, {{0, 'c', 2, {2, 3}}, {1, 't', 2, {2, 3}}, {2, 'b', 2, {2, 3}}},
     .axis = 0, .want = &ref_stack_axis0, .grad = G3(stack_axis0)},
    {"stack_axis1", J_STACK, 2, {{0, 'c', 2, {2, 3}}, {1, 'r', 2, {2, 3}}}, .axis = 1,
     .want = &ref_stack_axis1, .grad = G2(stack_axis1)},
    {"stack_last", J_STACK, 2, {{0, 't', 2, {2, 3}}, {1, 'c', 2, {2, 3}}}, .axis = -1,
     .want = &ref_stack_last, .grad = G2(stack_last)},
    {"stack_scalars", J_STACK, 3, {{0, 'c', 0, {0}}, {1, 'c', 0, {0}}, {2, 'c', 0, {0}}},
     .axis = 0, .want = &ref_stack_scalars, .grad = G3(stack_scalars)},
    {"pad_2d", J_PAD, 1, {{0, 't', 2, {2, 3}}}, .ints = {1, 2, 0, 3}, .value = -1.5,
     .want = &ref_pad_2d, .grad = G1(pad_2d)},
    {"pad_3d", J_PAD, 1, {{1, 'r', 3, {2, 1, 2}}}, .ints = {0, 0, 2, 1, 1, 0},
     .want = &ref_pad_3d, .grad = G1(pad_3d)},
    {"pad_1d_bcast", J_PAD, 1, {{2, 'b', 1, {3}}}, .ints = {2, 2}, .value = 7.0,
     .want = &ref_pad_1d_bcast, .grad = G1(pad_1d_bcast)},
    {"flip_0", J_FLIP, 1, {{0, 'c', 3, {2, 3, 4}}}, .axis = 0, .want = &ref_flip_0,
     .grad = G1(flip_0)},
    {"flip_1", J_FLIP, 1, {{0, 't', 3, {2, 3, 4}}}, .axis = 1, .want = &ref_flip_1,
     .grad = G1(flip_1)},
    {"flip_last", J_FLIP, 1, {{0, 'r', 3, {2, 3, 4}}}, .axis = -1, .want = &ref_flip_last,
     .grad = G1(flip_last)},
    {"tile_short_reps", J_TILE, 1, {{0, 't', 2, {2, 3}}}, .n = 1, .ints = {2},
     .want = &ref_tile_short_reps, .grad = G1(tile_short_reps)},
    {"tile_long_reps", J_TILE, 1, {{1, 'c', 2, {2, 3}}}, .n = 3, .ints = {2, 1, 3},
     .want = &ref_tile_long_reps, .grad = G1(tile_long_reps)},
    {"tile_zero", J_TILE, 1, {{0, 'c', 2, {2, 3}}}, .n = 2, .ints = {0, 2},
     .want = &ref_tile_zero, .grad = G1(tile_zero)},
    {"tile_1d_bcast", J_TILE, 1, {{2, 'b', 1, {3}}}, .n = 2, .ints = {2, 3},
     .want = &ref_tile_1d_bcast, .grad = G1(tile_1d_bcast)},
    {"tile_8d", J_TILE, 1, {{0, 't', 8, {2, 1, 1, 1, 1, 1, 1, 2}}}, .n = 8,
     .ints = {1, 2, 1, 1, 1, 1, 3, 1}, .want = &ref_tile_8d, .grad = G1(tile_8d)},
    {"repeat_axis0", J_REPEAT, 1, {{0, 'c', 2, {2, 3}}}, .axis = 0, .repeats = 2,
     .want = &ref_repeat_axis0, .grad = G1(repeat_axis0)},
    {"repeat_axis1", J_REPEAT, 1, {{1, 't', 2, {2, 3}}}, .axis = 1, .repeats = 3,
     .want = &ref_repeat_axis1, .grad = G1(repeat_axis1)},
    {"repeat_zero", J_REPEAT, 1, {{0, 'c', 2, {2, 3}}}, .axis = -1, .repeats = 0,
     .want = &ref_repeat_zero, .grad = G1(repeat_zero)},
    {"repeat_1d_rev", J_REPEAT, 1, {{2, 'r', 1, {4}}}, .axis = 0, .repeats = 3,
     .want = &ref_repeat_1d_rev, .grad = G1(repeat_1d_rev)},
    {"repeat_8d", J_REPEAT, 1, {{0, 't', 8, {1, 2, 1, 2, 1, 1, 2, 1}}}, .axis = 3,
     .repeats = 2, .want = &ref_repeat_8d, .grad = G1(repeat_8d)},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static tg_tensor **make_inputs(const jcase *c, tg_tensor **in)
{
    for (int i = 0; i < c->nin; i++)
        in[i] = join_input(c->in[i].k, c->in[i].layout, c->in[i].ndim, c->in[i].shape);
    return in;
}

static void free_inputs(const jcase *c, tg_tensor **in)
{
    for (int i = 0; i < c->nin; i++)
        tg_free(in[i]);
}

/* The case with tensor.h's functions. */
static tg_tensor *run_plain(const jcase *c, tg_tensor *const *in)
{
    const tg_tensor *cin[3] = {in[0], c->nin > 1 ? in[1] : NULL, c->nin > 2 ? in[2] : NULL};
    switch (c->op) {
    case J_CONCAT: return tg_concat(c->nin, cin, c->axis);
    case J_STACK: return tg_stack(c->nin, cin, c->axis);
    case J_PAD: return tg_pad(in[0], c->ints, c->value);
    case J_FLIP: return tg_flip(in[0], c->axis);
    case J_TILE: return tg_tile(in[0], c->n, c->ints);
    default: return tg_repeat(in[0], c->axis, c->repeats);
    }
}

/* The case on the tape (T may be NULL). */
static tg_tensor *run_tape(tg_tape *T, const jcase *c, tg_tensor *const *in)
{
    switch (c->op) {
    case J_CONCAT: return tg_ad_concat(T, c->nin, in, c->axis);
    case J_STACK: return tg_ad_stack(T, c->nin, in, c->axis);
    case J_PAD: return tg_ad_pad(T, in[0], c->ints, c->value);
    case J_FLIP: return tg_ad_flip(T, in[0], c->axis);
    case J_TILE: return tg_ad_tile(T, in[0], c->n, c->ints);
    default: return tg_ad_repeat(T, in[0], c->axis, c->repeats);
    }
}

/* Forward three ways (tensor.h, the tape's op with T NULL, on a tape) and
 * the gradients of sum(w * y) against PyTorch's. */
START_TEST(test_against_numpy_and_torch)
{
    const jcase *c = &cases[_i];
    tg_tensor *in[3] = {NULL, NULL, NULL};
    make_inputs(c, in);
    tg_tensor *y = run_plain(c, in);
    assert_ref(y, c->want, c->name);
    tg_free(y);
    y = run_tape(NULL, c, in);
    assert_ref(y, c->want, c->name);
    tg_free(y);

    for (int i = 0; i < c->nin; i++)
        ck_assert_int_eq(tg_requires_grad(in[i], true), TG_OK);
    tg_tape *T = tg_tape_new();
    y = run_tape(T, c, in);
    assert_ref(y, c->want, c->name);
    tg_tensor *w = weights(y);
    tg_tensor *loss = tg_ad_sum(T, tg_ad_mul(T, y, w));
    ck_assert_msg(tg_backward(T, loss) == TG_OK, "%s: %s", c->name, tg_last_message());
    for (int i = 0; i < c->nin; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s: gradient %d", c->name, i);
        /* the same input twice would get both gradients: none of the cases has one */
        assert_ref(tg_grad(in[i]), c->grad[i], what);
    }
    tg_tape_free(T);
    tg_free(w);
    free_inputs(c, in);
}
END_TEST

/* ---- split and chunk ------------------------------------------------------------- */

typedef struct jsplit {
    const char *name;
    jin in;
    int axis, n;
    int64_t sizes[4]; /* split; none for a chunk */
    bool chunk;
    const join_ref *want[4];
    const join_ref *grad;
} jsplit;

static const jsplit splits[] = {
    {"split_rows", {0, 't', 2, {5, 4}}, 0, 3, {2, 0, 3}, false,
     {&ref_split_rows_0, &ref_split_rows_1, &ref_split_rows_2}, &ref_split_rows_grad},
    {"split_cols", {1, 'r', 2, {3, 5}}, -1, 2, {1, 4}, false,
     {&ref_split_cols_0, &ref_split_cols_1}, &ref_split_cols_grad},
    {"split_one", {2, 'c', 1, {3}}, 0, 1, {3}, false, {&ref_split_one_0},
     &ref_split_one_grad},
    {"chunk_7_by_3", {0, 'c', 2, {7, 3}}, 0, 3, {0}, true,
     {&ref_chunk_7_by_3_0, &ref_chunk_7_by_3_1, &ref_chunk_7_by_3_2}, &ref_chunk_7_by_3_grad},
    {"chunk_2_by_4", {1, 'c', 1, {2}}, 0, 4, {0}, true,
     {&ref_chunk_2_by_4_0, &ref_chunk_2_by_4_1, &ref_chunk_2_by_4_2, &ref_chunk_2_by_4_3},
     &ref_chunk_2_by_4_grad},
    {"chunk_cols", {2, 't', 2, {3, 5}}, 1, 2, {0}, true,
     {&ref_chunk_cols_0, &ref_chunk_cols_1}, &ref_chunk_cols_grad},
};
#define NSPLITS ((int)(sizeof splits / sizeof splits[0]))

static int split_plain(const jsplit *s, const tg_tensor *x, tg_tensor **out)
{
    return s->chunk ? tg_chunk(x, s->axis, s->n, out)
                    : tg_split(x, s->axis, s->n, s->sizes, out);
}

static int split_tape(tg_tape *T, const jsplit *s, tg_tensor *x, tg_tensor **out)
{
    return s->chunk ? tg_ad_chunk(T, x, s->axis, s->n, out)
                    : tg_ad_split(T, x, s->axis, s->n, s->sizes, out);
}

/* Pieces against np.split / np.array_split, as views of the input; the
 * gradient of sum_i sum(w_i * piece_i) against PyTorch's. */
START_TEST(test_split_against_numpy_and_torch)
{
    const jsplit *s = &splits[_i];
    tg_tensor *x = join_input(s->in.k, s->in.layout, s->in.ndim, s->in.shape);
    tg_tensor *p[4];
    for (int pass = 0; pass < 2; pass++) { /* tensor.h's, then the tape's with T NULL */
        ck_assert_int_eq(pass ? split_tape(NULL, s, x, p) : split_plain(s, x, p), TG_OK);
        for (int i = 0; i < s->n; i++) {
            assert_ref(p[i], s->want[i], s->name);
            ck_assert(tg_shares_storage(p[i], x));
            tg_free(p[i]);
        }
    }
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(split_tape(T, s, x, p), TG_OK);
    ck_assert_uint_eq(tg_tape_length(T), (size_t)s->n); /* one record per piece */
    tg_tensor *loss = NULL, *w[4];
    for (int i = 0; i < s->n; i++) {
        assert_ref(p[i], s->want[i], s->name);
        ck_assert(tg_shares_storage(p[i], x));
        w[i] = weights(p[i]);
        tg_tensor *term = tg_ad_sum(T, tg_ad_mul(T, p[i], w[i]));
        loss = loss ? tg_ad_add(T, loss, term) : term;
    }
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    assert_ref(tg_grad(x), s->grad, s->name);
    tg_tape_free(T);
    for (int i = 0; i < s->n; i++)
        tg_free(w[i]);
    tg_free(x);
}
END_TEST

/* split's plain rule writes the pieces' gradients into one gradient of
 * an input that is itself on the tape: with every piece used, one unused,
 * and the input also used directly (its gradient arriving before or after
 * the pieces'). The result must equal the recorded rule's (padded pieces
 * added up) and the sum written out by hand, exactly. */
START_TEST(test_split_gradient_paths)
{
    static const int64_t shape[2] = {4, 6}, sizes[3] = {1, 2, 3};
    tg_tensor *x = values(1, 2, shape);
    ck_assert_int_eq(tg_requires_grad(x, true), TG_OK);
    tg_tensor *w[3], *wy = weights(x);
    for (int variant = 0; variant < 4; variant++) {
        tg_tensor *got[2];
        for (int recorded = 0; recorded < 2; recorded++) {
            tg_tape *T = tg_tape_new();
            tg_tensor *y = tg_ad_mul_scalar(T, x, 2.0), *p[3], *loss = NULL;
            if (variant == 2) /* the direct use first: its gradient arrives last */
                loss = tg_ad_sum(T, tg_ad_mul(T, y, wy));
            ck_assert_int_eq(tg_ad_split(T, y, 1, 3, sizes, p), TG_OK);
            for (int i = 0; i < 3; i++) {
                if (recorded == 0 && variant == 0)
                    w[i] = weights(p[i]);
                if (variant == 1 && i == 1)
                    continue; /* a piece nothing reads */
                tg_tensor *term = tg_ad_sum(T, tg_ad_mul(T, p[i], w[i]));
                loss = loss ? tg_ad_add(T, loss, term) : term;
            }
            if (variant == 3)
                loss = tg_ad_add(T, loss, tg_ad_sum(T, tg_ad_mul(T, y, wy)));
            if (recorded) {
                tg_tensor *g;
                ck_assert_int_eq(tg_ad_grad(T, loss, NULL, 1, &x, &g, true), TG_OK);
                got[1] = tg_clone(g);
            } else {
                ck_assert_int_eq(tg_backward(T, loss), TG_OK);
                got[0] = tg_clone(tg_grad(x));
                ck_assert_int_eq(tg_zero_grad(x), TG_OK);
            }
            ck_assert_ptr_nonnull(got[recorded]);
            tg_tape_free(T);
        }
        for (int64_t r = 0; r < 4; r++)
            for (int64_t c = 0; c < 6; c++) {
                int piece = c < 1 ? 0 : c < 3 ? 1 : 2;
                int64_t col = c - (piece == 0 ? 0 : piece == 1 ? 1 : 3);
                double want = variant == 1 && piece == 1
                                  ? 0.0
                                  : tgt_at(w[piece], r * sizes[piece] + col);
                if (variant >= 2)
                    want += tgt_at(wy, r * 6 + c);
                want *= 2.0;
                TGT_ASSERT_SAME(tgt_at(got[0], r * 6 + c), want);
                TGT_ASSERT_SAME(tgt_at(got[1], r * 6 + c), want);
            }
        tg_free(got[0]);
        tg_free(got[1]);
    }
    for (int i = 0; i < 3; i++)
        tg_free(w[i]);
    tg_free(wy);
    tg_free(x);
}
END_TEST

/* ---- the gradient checker, first and second order ------------------------------------ */

/* The gradcheck's leaves: float64 and caller-owned, in the case's layout;
 * a broadcast input ('b') is its row, expanded on the tape inside f, so
 * the checker sees the broadcast's gradient summed back. */
typedef struct gc_ctx {
    const jcase *c;
    const jsplit *s;
    bool second; /* f returns the gradient of sum(w * y^3), recorded */
} gc_ctx;

static tg_tensor *gc_leaf(const jin *in)
{
    if (in->layout != 'b')
        return join_input(in->k, in->layout, in->ndim, in->shape);
    int64_t row[TG_MAX_DIMS];
    memcpy(row, in->shape, sizeof row);
    row[0] = 1;
    return values(in->k, in->ndim, row);
}

/* Fixed weights on the tape shaped like y (constants to the checker). */
static tg_tensor *tape_weights(tg_tape *T, tg_tensor *y)
{
    tg_tensor *u = tg_ad_detach(T, y);
    if (!u)
        return NULL;
    for (int64_t i = 0; i < tg_numel(u); i++)
        ((double *)tg_data(u))[i] = 0.5 + 0.25 * (double)(i % 5) - 0.1 * (double)(i % 3);
    return u;
}

/* y = op(inputs) for a case, or the pieces of a split flattened, scaled by
 * their index + 1 and joined (so that each piece counts differently). */
static tg_tensor *gc_forward(tg_tape *T, tg_tensor *const *leaves, const gc_ctx *g)
{
    if (g->s) {
        tg_tensor *p[4], *flat[4];
        if (split_tape(T, g->s, leaves[0], p))
            return NULL;
        for (int i = 0; i < g->s->n; i++)
            flat[i] = tg_ad_reshape(T, tg_ad_mul_scalar(T, p[i], 1.0 + i), 1,
                                    (const int64_t[]){-1});
        return tg_ad_concat(T, g->s->n, flat, 0);
    }
    const jcase *c = g->c;
    tg_tensor *in[3] = {NULL, NULL, NULL};
    for (int i = 0; i < c->nin; i++)
        in[i] = c->in[i].layout == 'b'
                    ? tg_ad_expand(T, leaves[i], c->in[i].ndim, c->in[i].shape)
                    : leaves[i];
    return run_tape(T, c, in);
}

static tg_tensor *gc_fn(tg_tape *T, tg_tensor *const *leaves, void *ctx)
{
    const gc_ctx *g = ctx;
    tg_tensor *y = gc_forward(T, leaves, g);
    if (!g->second || !y)
        return y;
    /* d sum(w y^3) / d leaves: linear in nothing, so the checker's finite
     * differences of it test the rules' own rules. All gradients joined. */
    int n = g->s ? 1 : g->c->nin;
    tg_tensor *root = tg_ad_sum(T, tg_ad_mul(T, tg_ad_pow_scalar(T, y, 3.0),
                                             tape_weights(T, y)));
    tg_tensor *d[3], *flat[3];
    if (!root || tg_ad_grad(T, root, NULL, n, leaves, d, true))
        return NULL;
    for (int i = 0; i < n; i++)
        flat[i] = tg_ad_reshape(T, d[i], 1, (const int64_t[]){-1});
    return tg_ad_concat(T, n, flat, 0);
}

static void run_gradcheck(gc_ctx *g, int n, tg_tensor *const *leaves, const char *name)
{
    int64_t want = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(tg_requires_grad(leaves[i], true), TG_OK);
        want += tg_numel(leaves[i]);
    }
    for (int second = 0; second < 2; second++) {
        g->second = second;
        tg_gradcheck_report rep;
        int rc = tg_gradcheck(gc_fn, g, n, leaves, 1e-6, 1e-7, 1e-6, &rep);
        ck_assert_msg(rc == TG_OK, "%s: gradcheck did not run: %s", name,
                      tg_last_message());
        ck_assert_msg(rep.checked == want, "%s: checked %lld of %lld", name,
                      (long long)rep.checked, (long long)want);
        ck_assert_msg(rep.ok,
                      "%s (%s order): input %d element %lld: analytic %.17g numeric "
                      "%.17g", name, second ? "second" : "first", rep.input,
                      (long long)rep.index, rep.analytic, rep.numeric);
    }
}

START_TEST(test_gradcheck_ops)
{
    const jcase *c = &cases[_i];
    tg_tensor *leaves[3] = {NULL, NULL, NULL};
    for (int i = 0; i < c->nin; i++)
        leaves[i] = gc_leaf(&c->in[i]);
    gc_ctx g = {c, NULL, false};
    run_gradcheck(&g, c->nin, leaves, c->name);
    for (int i = 0; i < c->nin; i++)
        tg_free(leaves[i]);
}
END_TEST

START_TEST(test_gradcheck_splits)
{
    const jsplit *s = &splits[_i];
    tg_tensor *x = gc_leaf(&s->in);
    gc_ctx g = {NULL, s, false};
    run_gradcheck(&g, 1, &x, s->name);
    tg_free(x);
}
END_TEST

/* ---- second order: a Hessian-vector product ---------------------------------------- */

/* f(x, z) = sum(c p^3) + sum(c t^3) + sum(c r^3) for p, t, r built from x
 * and z (both (3,4)) by every op of the family: concat with a flip, stack,
 * split, chunk, pad, tile, repeat. */
static tg_tensor *every_op(tg_tape *T, tg_tensor *x, tg_tensor *z)
{
    tg_tensor *a = tg_ad_concat(T, 2, (tg_tensor *[]){x, tg_ad_flip(T, z, 1)}, 0); /* (6,4) */
    tg_tensor *b = tg_ad_stack(T, 2, (tg_tensor *[]){x, z}, 1);                    /* (3,2,4) */
    tg_tensor *pa[2], *pb[3];
    if (tg_ad_split(T, a, 0, 2, (const int64_t[]){2, 4}, pa) ||
        tg_ad_chunk(T, b, 2, 3, pb))
        return NULL;
    tg_tensor *p = tg_ad_pad(T, pa[1], (const int64_t[]){1, 0, 0, 2}, 0.5); /* (5,6) */
    tg_tensor *t = tg_ad_tile(T, pb[0], 3, (const int64_t[]){2, 1, 1});     /* (6,2,2) */
    tg_tensor *r = tg_ad_repeat(T, pa[0], 1, 2);                            /* (2,8) */
    tg_tensor *parts[3] = {p, t, r}, *f = NULL;
    for (int i = 0; i < 3; i++) {
        tg_tensor *cube = tg_ad_pow_scalar(T, parts[i], 3.0);
        tg_tensor *term = tg_ad_sum(T, tg_ad_mul(T, cube, tape_weights(T, cube)));
        f = f ? tg_ad_add(T, f, term) : term;
    }
    return f;
}

/* The gradient of every_op at (x + h v_x, z + h v_z), into gx, gz (3,4). */
static void gradient_at(const tg_tensor *x, const tg_tensor *z, const tg_tensor *vx,
                        const tg_tensor *vz, double h, double *gx, double *gz)
{
    tg_tensor *xs = tg_clone(x), *zs = tg_clone(z);
    ck_assert_int_eq(tg_axpy_into(xs, h, vx), TG_OK);
    ck_assert_int_eq(tg_axpy_into(zs, h, vz), TG_OK);
    tg_requires_grad(xs, true);
    tg_requires_grad(zs, true);
    tg_tape *T = tg_tape_new();
    ck_assert_int_eq(tg_backward(T, every_op(T, xs, zs)), TG_OK);
    for (int64_t i = 0; i < 12; i++) {
        gx[i] = tgt_at(tg_grad(xs), i);
        gz[i] = tgt_at(tg_grad(zs), i);
    }
    tg_tape_free(T);
    tg_free(xs);
    tg_free(zs);
}

/* H v from two recorded walks (grad, then the grad of sum(g . v)) against
 * the central difference of the gradient along v. f is a cubic, so its
 * gradient is quadratic and the central difference is exact but for
 * rounding. */
START_TEST(test_hessian_vector_product)
{
    tg_tensor *x = join_input(0, 't', SH(3, 4)), *z = join_input(1, 'r', SH(3, 4));
    tg_tensor *vx = join_input(2, 'c', SH(3, 4)), *vz = join_input(3, 'c', SH(3, 4));
    tg_requires_grad(x, true);
    tg_requires_grad(z, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *in[2] = {x, z}, *g[2], *h[2];
    tg_tensor *f = every_op(T, x, z);
    ck_assert_int_eq(tg_ad_grad(T, f, NULL, 2, in, g, true), TG_OK);
    tg_tensor *gv = tg_ad_add(T, tg_ad_sum(T, tg_ad_mul(T, g[0], vx)),
                              tg_ad_sum(T, tg_ad_mul(T, g[1], vz)));
    ck_assert_int_eq(tg_ad_grad(T, gv, NULL, 2, in, h, false), TG_OK);
    double gpx[12], gpz[12], gmx[12], gmz[12], eps = 1e-3, worst = 0;
    gradient_at(x, z, vx, vz, eps, gpx, gpz);
    gradient_at(x, z, vx, vz, -eps, gmx, gmz);
    for (int64_t i = 0; i < 12; i++) {
        double fdx = (gpx[i] - gmx[i]) / (2 * eps), fdz = (gpz[i] - gmz[i]) / (2 * eps);
        double ex = fabs(tgt_at(h[0], i) - fdx), ez = fabs(tgt_at(h[1], i) - fdz);
        ck_assert_msg(ex <= 1e-7 * (1 + fabs(fdx)), "(Hv)_x[%lld] = %.17g, finite differences %.17g",
                      (long long)i, tgt_at(h[0], i), fdx);
        ck_assert_msg(ez <= 1e-7 * (1 + fabs(fdz)), "(Hv)_z[%lld] = %.17g, finite differences %.17g",
                      (long long)i, tgt_at(h[1], i), fdz);
        worst = fmax(worst, fabs(fdx) + fabs(fdz));
    }
    ck_assert(worst > 1.0); /* the product is not trivially zero */
    tg_tape_free(T);
    tg_free(x);
    tg_free(z);
    tg_free(vx);
    tg_free(vz);
}
END_TEST

/* ---- the chain of records behind an op of many inputs ------------------------------ */

START_TEST(test_chain_records)
{
    tg_tensor *x = join_input(0, 'c', SH(2, 3)), *c = join_input(1, 'c', SH(1, 3));
    tg_tensor *z = join_input(2, 't', SH(2, 3));
    tg_tape *T = tg_tape_new();
    /* Nothing requires a gradient: no record. */
    tg_tensor *y = tg_ad_concat(T, 3, (tg_tensor *[]){x, c, z}, 0);
    tgt_assert_shape(y, SH(5, 3));
    ck_assert_uint_eq(tg_tape_length(T), 0);
    ck_assert(!tg_requires_grad_of(y));
    /* One record per input that requires a gradient. */
    tg_requires_grad(x, true);
    tg_requires_grad(z, true);
    y = tg_ad_concat(T, 3, (tg_tensor *[]){x, c, z}, 0);
    ck_assert_uint_eq(tg_tape_length(T), 2);
    ck_assert(tg_requires_grad_of(y));
    /* A paused tape records nothing. */
    tg_tape_pause(T, true);
    ck_assert_ptr_nonnull(tg_ad_stack(T, 2, (tg_tensor *[]){x, z}, 0));
    tg_tape_pause(T, false);
    ck_assert_uint_eq(tg_tape_length(T), 2);
    /* The same input twice gets both slices of the gradient. */
    tg_tape_reset(T);
    y = tg_ad_concat(T, 2, (tg_tensor *[]){x, x}, 1); /* (2,6) */
    tg_tensor *w = weights(y);
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, tg_ad_mul(T, y, w))), TG_OK);
    for (int64_t i = 0; i < 6; i++) {
        int64_t r = i / 3, col = i % 3;
        double want = tgt_at(w, r * 6 + col) + tgt_at(w, r * 6 + 3 + col);
        ck_assert_double_eq(tgt_at(tg_grad(x), i), want);
    }
    tg_tape_free(T);
    tg_free(w);
    tg_free(x);
    tg_free(c);
    tg_free(z);
}
END_TEST

/* An input or the result written in place after the record: the walk
 * refuses, naming the op. */
START_TEST(test_chain_modified_in_place)
{
    tg_tensor *x = join_input(0, 'c', SH(2, 3)), *z = join_input(1, 'c', SH(2, 3));
    tg_requires_grad(x, true);
    tg_requires_grad(z, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_concat(T, 2, (tg_tensor *[]){x, z}, 0);
    tg_tensor *loss = tg_ad_sum(T, y);
    ck_assert_int_eq(tg_fill(x, 1.0), TG_OK);
    ck_assert_int_eq(tg_backward(T, loss), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_backward: input 1 of tg_ad_concat was modified in place");
    ck_assert_ptr_null(tg_grad(z)); /* a failed backward changes no gradient */
    tg_tape_reset(T);
    y = tg_ad_stack(T, 2, (tg_tensor *[]){x, z}, 0);
    tg_tensor *seed = tg_ones(F64, SH(2, 2, 3));
    ck_assert_int_eq(tg_fill(y, 2.0), TG_OK);
    ck_assert_int_eq(tg_backward_seed(T, y, seed), TG_ERR_TAPE);
    tg_free(seed);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "the result of tg_ad_stack was modified in place");
    tg_tape_free(T);
    tg_free(x);
    tg_free(z);
}
END_TEST

/* Under every tape limit up to what the op needs, a join either succeeds
 * with all its records or fails with none (the chain is rolled back). */
START_TEST(test_chain_fails_whole)
{
    tg_tensor *x = join_input(0, 'c', SH(2, 3)), *c = join_input(1, 'c', SH(1, 3));
    tg_tensor *z = join_input(2, 'c', SH(2, 3));
    tg_requires_grad(x, true);
    tg_requires_grad(z, true);
    tg_tape *T = tg_tape_new();
    for (int op = 0; op < 3; op++) {
        tg_tensor *p[3];
        size_t need = 0, want_records = op == 2 ? 3 : 2;
        bool done = false;
        for (size_t limit = 64; !done; limit += 64) {
            tg_tape_reset(T);
            tg_tape_set_limit(T, limit);
            tg_clear_error();
            int rc = TG_OK;
            if (op == 0)
                rc = tg_ad_concat(T, 3, (tg_tensor *[]){x, c, z}, 0) ? TG_OK : tg_last_error();
            else if (op == 1)
                rc = tg_ad_stack(T, 2, (tg_tensor *[]){x, z}, 2) ? TG_OK : tg_last_error();
            else
                rc = tg_ad_split(T, x, 1, 3, (const int64_t[]){1, 1, 1}, p);
            if (rc == TG_OK) {
                ck_assert_uint_eq(tg_tape_length(T), want_records);
                done = true;
                need = limit;
            } else {
                TGT_ASSERT_ERR(TG_ERR_NOMEM, "the tape's memory limit");
                ck_assert_uint_eq(tg_tape_length(T), 0);
                if (op == 2)
                    for (int i = 0; i < 3; i++)
                        ck_assert_ptr_null(p[i]);
            }
            ck_assert_uint_lt(limit, 1 << 20);
        }
        ck_assert_uint_gt(need, 64);
    }
    tg_tape_set_limit(T, 0);
    tg_tape_free(T);
    tg_free(x);
    tg_free(c);
    tg_free(z);
}
END_TEST

/* ---- views ------------------------------------------------------------------------------- */

START_TEST(test_views)
{
    tg_tensor *a = join_input(0, 'c', SH(3, 4));
    tg_tensor *f = tg_flip(a, 1);
    ck_assert(tg_shares_storage(f, a));
    ck_assert_int_eq(tg_strides(f)[1], -1);
    ck_assert_int_eq(tg_offset(f), 3);
    ck_assert_double_eq(tgt_at(f, 0), tgt_at(a, 3));
    tg_tensor *ff = tg_flip(f, -1); /* flipped back: a's layout again */
    ck_assert_int_eq(tg_strides(ff)[1], 1);
    ck_assert_int_eq(tg_offset(ff), 0);
    ck_assert_int_eq(tg_set(f, (const int64_t[]){0, 0}, 42.0), TG_OK); /* writes go through */
    ck_assert_double_eq(tgt_at(a, 3), 42.0);
    tg_tensor *p[2];
    ck_assert_int_eq(tg_chunk(a, 0, 2, p), TG_OK); /* rows 0-1 and row 2 */
    ck_assert_int_eq(tg_offset(p[1]), 8);
    ck_assert_int_eq(tg_ndim(p[1]), 2);
    ck_assert_int_eq(tg_shape(p[1])[0], 1);
    tg_tape *T = tg_tape_new();
    tg_tensor *tf = tg_ad_flip(T, a, 0);
    ck_assert(tg_shares_storage(tf, a));
    ck_assert_int_eq(tg_strides(tf)[0], -4);
    tg_tensor *tp[3];
    ck_assert_int_eq(tg_ad_split(T, a, 1, 3, (const int64_t[]){1, 2, 1}, tp), TG_OK);
    ck_assert(tg_shares_storage(tp[2], a));
    ck_assert_int_eq(tg_offset(tp[2]), 3);
    tg_tape_free(T);
    tg_free(p[0]);
    tg_free(p[1]);
    tg_free(f);
    tg_free(ff);
    tg_free(a);
}
END_TEST

/* ---- empty tensors -------------------------------------------------------------------- */

START_TEST(test_zero_size)
{
    tg_tensor *e = tg_zeros(F64, SH(0, 3)), *x = join_input(0, 'c', SH(2, 3));
    tg_tensor *r;
    r = tg_concat(2, (const tg_tensor *[]){e, x}, 0);
    tgt_assert_shape(r, SH(2, 3));
    ck_assert_double_eq(tgt_at(r, 5), tgt_at(x, 5));
    tg_free(r);
    r = tg_concat(2, (const tg_tensor *[]){e, e}, 0);
    tgt_assert_shape(r, SH(0, 3));
    tg_free(r);
    r = tg_stack(2, (const tg_tensor *[]){e, e}, 1);
    tgt_assert_shape(r, SH(0, 2, 3));
    tg_free(r);
    r = tg_pad(e, (const int64_t[]){1, 1, 0, 0}, 2.0);
    tgt_assert_shape(r, SH(2, 3));
    for (int64_t i = 0; i < 6; i++)
        ck_assert_double_eq(tgt_at(r, i), 2.0);
    tg_free(r);
    r = tg_flip(e, 0);
    tgt_assert_shape(r, SH(0, 3));
    tg_free(r);
    r = tg_tile(e, 2, (const int64_t[]){2, 2});
    tgt_assert_shape(r, SH(0, 6));
    tg_free(r);
    r = tg_repeat(e, 1, 2);
    tgt_assert_shape(r, SH(0, 6));
    tg_free(r);
    tg_tensor *p[3];
    ck_assert_int_eq(tg_split(e, 0, 2, (const int64_t[]){0, 0}, p), TG_OK);
    tgt_assert_shape(p[1], SH(0, 3));
    tg_free(p[0]);
    tg_free(p[1]);
    tg_tensor *p2[3];
    ck_assert_int_eq(tg_chunk(x, 1, 3, p), TG_OK); /* (2,1) each */
    ck_assert_int_eq(tg_chunk(p[0], 1, 3, p2), TG_OK); /* (2,1) into (2,1), (2,0), (2,0) */
    tgt_assert_shape(p2[2], SH(2, 0));
    for (int i = 0; i < 3; i++) {
        tg_free(p[i]);
        tg_free(p2[i]);
    }

    /* Gradients reach an empty leaf through every op: empty, shaped like it. */
    tg_requires_grad(e, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *q[2];
    ck_assert_int_eq(tg_ad_split(T, e, 1, 2, (const int64_t[]){1, 2}, q), TG_OK);
    tg_tensor *parts[] = {
        tg_ad_pad(T, e, (const int64_t[]){1, 1, 0, 0}, 2.0),
        tg_ad_reshape(T, tg_ad_concat(T, 2, (tg_tensor *[]){e, x}, 0), 2, (const int64_t[]){3, 2}),
        tg_ad_reshape(T, tg_ad_stack(T, 2, (tg_tensor *[]){e, e}, 0), 2, (const int64_t[]){0, 3}),
        tg_ad_flip(T, e, 1),
        tg_ad_tile(T, e, 2, (const int64_t[]){3, 1}),
        tg_ad_repeat(T, e, 0, 4),
        q[1],
    };
    tg_tensor *loss = NULL;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        tg_tensor *s = tg_ad_sum(T, parts[i]);
        loss = loss ? tg_ad_add(T, loss, s) : s;
    }
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    tgt_assert_shape(tg_grad(e), SH(0, 3));
    tg_tape_free(T);
    tg_free(e);
    tg_free(x);
}
END_TEST

/* ---- slices with Python's rules on the tape ----------------------------------------------- */

typedef struct slice_case {
    int axis;
    int64_t start, stop, step;
} slice_case;

static const slice_case slice_cases[] = {
    {0, -3, TG_NONE, 1},       /* x[-3:] */
    {0, TG_NONE, TG_NONE, -1}, /* x[::-1] */
    {1, 10, -10, -1},          /* clamped both ways: x[:, ::-1] */
    {1, -100, 100, 3},         /* clamped: x[:, ::3] */
    {0, -2, -5, -1},           /* x[-2:-5:-1] */
    {-1, TG_NONE, 1, -2},      /* x[:, :1:-2] */
    {0, 4, 2, 1},              /* empty */
};

static tg_tensor *slice_fn(tg_tape *T, tg_tensor *const *in, void *ctx)
{
    const slice_case *c = ctx;
    tg_tensor *y = tg_ad_slice(T, in[0], c->axis, c->start, c->stop, c->step);
    /* squared, so the checker's differences also see the rule's own rule */
    tg_tensor *root = tg_ad_sum(T, tg_ad_pow_scalar(T, y, 3.0));
    tg_tensor *g;
    if (!root || tg_ad_grad(T, root, NULL, 1, in, &g, true))
        return NULL;
    return tg_ad_add(T, tg_ad_mul_scalar(T, g, 0.5), tg_ad_mul(T, in[0], in[0]));
}

/* tg_ad_slice and its adjoint (slice_scatter in shape.c) follow Python's
 * rules: values as tg_slice gives them, gradients first and second order. */
START_TEST(test_slice_python_rules_on_tape)
{
    const slice_case *c = &slice_cases[_i];
    tg_tensor *x = join_input(0, 't', SH(6, 5));
    tg_tensor *plain = tg_slice(x, c->axis, c->start, c->stop, c->step);
    tg_tensor *taped = tg_ad_slice(NULL, x, c->axis, c->start, c->stop, c->step);
    ck_assert_ptr_nonnull(plain);
    ck_assert_int_eq(tg_numel(plain), tg_numel(taped));
    for (int64_t i = 0; i < tg_numel(plain); i++)
        ck_assert_double_eq(tgt_at(plain, i), tgt_at(taped, i));
    tg_requires_grad(x, true);
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(slice_fn, (void *)(uintptr_t)c, 1, &x, 1e-6, 1e-7, 1e-6,
                                  &rep), TG_OK);
    ck_assert_msg(rep.ok, "slice %d: element %lld: analytic %.17g numeric %.17g", _i,
                  (long long)rep.index, rep.analytic, rep.numeric);
    tg_free(plain);
    tg_free(taped);
    tg_free(x);
}
END_TEST

/* ---- bad input ----------------------------------------------------------------------------- */

/* expr gives NULL with code and a message containing msg. */
#define ASSERT_FAILS(expr, code, msg)                                          \
    do {                                                                       \
        tg_clear_error();                                                      \
        ck_assert_msg((expr) == NULL, "%s made a result", #expr);              \
        TGT_ASSERT_ERR(code, msg);                                             \
    } while (0)

/* An int-returning split: the code, the message, every piece NULL. */
#define ASSERT_SPLIT_FAILS(expr, p, n, code, msg)                              \
    do {                                                                       \
        for (int i_ = 0; i_ < (n); i_++)                                       \
            (p)[i_] = (tg_tensor *)&(p);                                       \
        tg_clear_error();                                                      \
        ck_assert_int_eq((expr), (code));                                      \
        TGT_ASSERT_ERR(code, msg);                                             \
        for (int i_ = 0; i_ < (n); i_++)                                       \
            ck_assert_ptr_null((p)[i_]);                                       \
    } while (0)

START_TEST(test_bad_join_arguments)
{
    tg_tensor *a = join_input(0, 'c', SH(2, 3)), *b = join_input(1, 'c', SH(2, 4));
    tg_tensor *v = join_input(2, 'c', SH(3)), *s = values(3, 0, NULL);
    tg_tensor *h = tg_cast(a, F32), *d8 = tg_ones(F64, 8, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1});
    const tg_tensor *ab[] = {a, b}, *ah[] = {a, h}, *av[] = {a, v}, *ss[] = {s, s};
    tg_tape *T = tg_tape_new();
    tg_requires_grad(a, true);
    tg_tensor *tab[] = {a, b}, *tah[] = {a, h};

    ASSERT_FAILS(tg_concat(0, ab, 0), TG_ERR_VALUE, "tg_concat: needs at least one tensor (n is 0)");
    ASSERT_FAILS(tg_stack(-2, ab, 0), TG_ERR_VALUE, "tg_stack: needs at least one tensor (n is -2)");
    ASSERT_FAILS(tg_concat(2, NULL, 0), TG_ERR_NULL, "tg_concat: tensors is NULL");
    ASSERT_FAILS(tg_ad_stack(T, 2, NULL, 0), TG_ERR_NULL, "tg_ad_stack: tensors is NULL");
    ASSERT_FAILS(tg_concat(2, ah, 0), TG_ERR_DTYPE,
                 "tg_concat: tensor 1 is float32 and tensor 0 float64; convert one with tg_cast");
    ASSERT_FAILS(tg_ad_concat(T, 2, tah, 0), TG_ERR_DTYPE,
                 "tg_ad_concat: tensor 1 is float32 and tensor 0 float64; convert one with tg_ad_cast");
    ASSERT_FAILS(tg_concat(2, ab, 0), TG_ERR_SHAPE,
                 "tg_concat: tensor 1 has shape (2,4) and tensor 0 (2,3): they must match except on the axis");
    ASSERT_FAILS(tg_concat(2, av, 0), TG_ERR_SHAPE, "tg_concat: tensor 1 has shape (3,) and tensor 0 (2,3)");
    ASSERT_FAILS(tg_stack(2, ab, 0), TG_ERR_SHAPE,
                 "tg_stack: tensor 1 has shape (2,4) and tensor 0 (2,3): stacked tensors must have one shape");
    ASSERT_FAILS(tg_ad_stack(T, 2, tab, 1), TG_ERR_SHAPE, "tg_ad_stack: tensor 1 has shape (2,4)");
    ASSERT_FAILS(tg_concat(2, ab, 2), TG_ERR_AXIS, "tg_concat: axis 2 out of range for 2 dimensions");
    ASSERT_FAILS(tg_concat(2, ss, 0), TG_ERR_AXIS, "tg_concat: axis 0 out of range for 0 dimensions");
    ASSERT_FAILS(tg_stack(1, ab, -4), TG_ERR_AXIS, "tg_stack: axis -4 out of range for 3 dimensions");
    ASSERT_FAILS(tg_stack(1, (const tg_tensor *[]){d8}, 0), TG_ERR_VALUE,
                 "tg_stack: the result would have 9 dimensions (at most 8 allowed)");
    ASSERT_FAILS(tg_ad_concat(T, 2, tab, 3), TG_ERR_AXIS, "tg_ad_concat: axis 3 out of range");

    /* A NULL entry: NULL, and the error that made it stays readable. */
    ck_assert_ptr_null(tg_reshape(a, SH(7)));
    const char *why = "tg_reshape: cannot reshape (2,3) into (7,)";
    TGT_ASSERT_ERR(TG_ERR_SHAPE, why);
    ck_assert_ptr_null(tg_concat(2, (const tg_tensor *[]){a, NULL}, 0));
    ck_assert_ptr_null(tg_stack(2, (const tg_tensor *[]){NULL, a}, 0));
    ck_assert_ptr_null(tg_ad_concat(T, 2, (tg_tensor *[]){a, NULL}, 0));
    ck_assert_ptr_null(tg_ad_stack(T, 1, (tg_tensor *[]){NULL}, 0));
    ck_assert_ptr_null(tg_pad(NULL, NULL, 0));
    ck_assert_ptr_null(tg_ad_pad(T, NULL, NULL, 0));
    ck_assert_ptr_null(tg_flip(NULL, 0));
    ck_assert_ptr_null(tg_ad_flip(T, NULL, 0));
    ck_assert_ptr_null(tg_tile(NULL, 0, NULL));
    ck_assert_ptr_null(tg_ad_tile(T, NULL, 0, NULL));
    ck_assert_ptr_null(tg_repeat(NULL, 0, 2));
    ck_assert_ptr_null(tg_ad_repeat(T, NULL, 0, 2));
    tg_tensor *p[3];
    ck_assert_int_eq(tg_split(NULL, 0, 2, (const int64_t[]){1, 1}, p), TG_ERR_NULL);
    ck_assert_int_eq(tg_ad_chunk(T, NULL, 0, 3, p), TG_ERR_NULL);
    ck_assert_ptr_null(p[0]);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, why);
    ck_assert_uint_eq(tg_tape_length(T), 0);

    /* pad, flip, tile, repeat */
    ASSERT_FAILS(tg_pad(a, NULL, 0), TG_ERR_NULL, "tg_pad: widths is NULL");
    ASSERT_FAILS(tg_pad(a, (const int64_t[]){0, 0, 1, -1}, 0), TG_ERR_VALUE,
                 "tg_pad: negative width -1 after axis 1");
    ASSERT_FAILS(tg_ad_pad(T, a, (const int64_t[]){-2, 0, 0, 0}, 0), TG_ERR_VALUE,
                 "tg_ad_pad: negative width -2 before axis 0");
    ASSERT_FAILS(tg_pad(v, (const int64_t[]){INT64_MAX, 0}, 0), TG_ERR_OVERFLOW,
                 "tg_pad: axis 0 padded to 9223372036854775807 + 3 + 0 elements overflows");
    ASSERT_FAILS(tg_flip(a, 2), TG_ERR_AXIS, "tg_flip: axis 2 out of range for 2 dimensions");
    ASSERT_FAILS(tg_ad_flip(T, s, 0), TG_ERR_AXIS, "tg_ad_flip: axis 0 out of range for 0 dimensions");
    ASSERT_FAILS(tg_tile(a, -1, NULL), TG_ERR_VALUE, "tg_tile: negative repetition count -1");
    ASSERT_FAILS(tg_tile(a, 9, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}), TG_ERR_VALUE,
                 "tg_tile: 9 repetitions (at most 8, one per dimension)");
    ASSERT_FAILS(tg_tile(a, 2, NULL), TG_ERR_NULL, "tg_tile: reps is NULL");
    ASSERT_FAILS(tg_ad_tile(T, a, 2, (const int64_t[]){1, -2}), TG_ERR_VALUE,
                 "tg_ad_tile: negative repetition -2 (reps[1])");
    ASSERT_FAILS(tg_repeat(a, 1, -1), TG_ERR_VALUE, "tg_repeat: negative repeat count -1");
    ASSERT_FAILS(tg_repeat(a, -3, 2), TG_ERR_AXIS, "tg_repeat: axis -3 out of range for 2 dimensions");
    ASSERT_FAILS(tg_ad_repeat(T, s, 0, 2), TG_ERR_AXIS, "tg_ad_repeat: axis 0 out of range");

    /* split and chunk */
    ASSERT_SPLIT_FAILS(tg_split(a, 0, 0, (const int64_t[]){2}, p), p, 0, TG_ERR_VALUE,
                       "tg_split: needs at least one piece (n is 0)");
    ck_assert_int_eq(tg_split(a, 0, 1, (const int64_t[]){2}, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_split: out is NULL");
    ASSERT_SPLIT_FAILS(tg_split(a, 0, 2, NULL, p), p, 2, TG_ERR_NULL, "tg_split: sizes is NULL");
    ASSERT_SPLIT_FAILS(tg_split(a, 1, 2, (const int64_t[]){1, -1}, p), p, 2, TG_ERR_VALUE,
                       "tg_split: size -1 of piece 1 is negative");
    ASSERT_SPLIT_FAILS(tg_split(a, 1, 2, (const int64_t[]){2, 2}, p), p, 2, TG_ERR_SHAPE,
                       "tg_split: the sizes add up to more than 3, the size of axis 1");
    ASSERT_SPLIT_FAILS(tg_split(a, 1, 3, (const int64_t[]){INT64_MAX, INT64_MAX, 1}, p), p, 3,
                       TG_ERR_SHAPE, "tg_split: the sizes add up to more than 3");
    ASSERT_SPLIT_FAILS(tg_ad_split(T, a, 0, 2, (const int64_t[]){1, 0}, p), p, 2, TG_ERR_SHAPE,
                       "tg_ad_split: the sizes add up to 1, not 2, the size of axis 0");
    ASSERT_SPLIT_FAILS(tg_split(a, 2, 1, (const int64_t[]){2}, p), p, 1, TG_ERR_AXIS,
                       "tg_split: axis 2 out of range for 2 dimensions");
    ASSERT_SPLIT_FAILS(tg_chunk(a, 0, -1, p), p, 0, TG_ERR_VALUE,
                       "tg_chunk: needs at least one piece (n is -1)");
    ASSERT_SPLIT_FAILS(tg_ad_chunk(T, s, 0, 2, p), p, 2, TG_ERR_AXIS,
                       "tg_ad_chunk: axis 0 out of range for 0 dimensions");
    ck_assert_uint_eq(tg_tape_length(T), 0);

    /* A result of another tape, or of a tape with T NULL. */
    tg_tape *U = tg_tape_new();
    tg_tensor *u = tg_ad_mul_scalar(U, a, 2.0);
    ASSERT_FAILS(tg_ad_concat(T, 2, (tg_tensor *[]){a, u}, 0), TG_ERR_TAPE,
                 "tg_ad_concat: an input was made by another tape");
    ASSERT_FAILS(tg_ad_pad(NULL, u, (const int64_t[]){0, 0, 0, 0}, 0), TG_ERR_TAPE,
                 "tg_ad_pad: the tape is NULL but an input belongs to a tape");
    ASSERT_SPLIT_FAILS(tg_ad_split(T, u, 0, 1, (const int64_t[]){2}, p), p, 1, TG_ERR_TAPE,
                       "tg_ad_split: an input was made by another tape");
    tg_tape_free(U);

    tg_tape_free(T);
    tg_free(a);
    tg_free(b);
    tg_free(v);
    tg_free(s);
    tg_free(h);
    tg_free(d8);
}
END_TEST

/* Results past 2^63 elements, or past the bytes memory can address, are
 * refused before anything is allocated, on the tape too. */
START_TEST(test_overflow)
{
    /* 2^59 elements is as long as a float64 view may be (2^62 bytes) */
    tg_tensor *one = tg_ones(F64, SH(1)), *e59 = tg_expand(one, SH(1LL << 59));
    ck_assert_ptr_nonnull(e59);
    const tg_tensor *many[16], *two[2] = {e59, e59}, *four[4] = {e59, e59, e59, e59};
    tg_tensor *tmany[16];
    for (int i = 0; i < 16; i++)
        many[i] = tmany[i] = e59;
    tg_tape *T = tg_tape_new();
    ASSERT_FAILS(tg_concat(16, many, 0), TG_ERR_OVERFLOW,
                 "tg_concat: the sizes on axis 0 add up past 2^63 - 1");
    ASSERT_FAILS(tg_ad_concat(T, 16, tmany, 0), TG_ERR_OVERFLOW,
                 "tg_ad_concat: the sizes on axis 0 add up past 2^63 - 1");
    ASSERT_FAILS(tg_concat(2, two, 0), TG_ERR_OVERFLOW,
                 "tg_concat: shape (1152921504606846976,) needs too many bytes");
    ASSERT_FAILS(tg_ad_concat(T, 2, tmany, 0), TG_ERR_OVERFLOW,
                 "tg_ad_concat: shape (1152921504606846976,) needs too many bytes");
    ASSERT_FAILS(tg_stack(4, four, 0), TG_ERR_OVERFLOW,
                 "tg_stack: shape (4,576460752303423488) needs too many bytes");
    ASSERT_FAILS(tg_tile(e59, 1, (const int64_t[]){16}), TG_ERR_OVERFLOW,
                 "tg_tile: 576460752303423488 elements repeated 16 times on axis 0 overflows");
    ASSERT_FAILS(tg_ad_tile(T, e59, 2, (const int64_t[]){2, 1}), TG_ERR_OVERFLOW,
                 "tg_ad_tile: shape (2,576460752303423488) needs too many bytes");
    ASSERT_FAILS(tg_repeat(e59, 0, 16), TG_ERR_OVERFLOW,
                 "tg_repeat: 576460752303423488 elements repeated 16 times on axis 0 overflows");
    ASSERT_FAILS(tg_ad_repeat(T, e59, 0, 3), TG_ERR_OVERFLOW,
                 "tg_ad_repeat: shape (1729382256910270464,) needs too many bytes");
    ASSERT_FAILS(tg_pad(e59, (const int64_t[]){1LL << 59, 0}, 0), TG_ERR_OVERFLOW,
                 "tg_pad: shape (1152921504606846976,) needs too many bytes");
    ASSERT_FAILS(tg_ad_pad(T, e59, (const int64_t[]){0, INT64_MAX - 5}, 0), TG_ERR_OVERFLOW,
                 "tg_ad_pad: axis 0 padded to 0 + 576460752303423488 + 9223372036854775802 "
                 "elements overflows");
    ck_assert_uint_eq(tg_tape_length(T), 0);
    tg_tape_free(T);
    tg_free(e59);
    tg_free(one);
}
END_TEST

/* ---- integer and bool tensors -------------------------------------------------------- */

/* Every op on each integer dtype and on bool equals the float64 op cast
 * to that dtype (elements only move); on the tape they record nothing. */
START_TEST(test_integer_dtypes)
{
    static const tg_dtype dts[] = {TG_INT32, TG_INT64, TG_UINT8, TG_BOOL};
    tg_tensor *f = values(0, SH(3, 4));
    for (int64_t i = 0; i < 12; i++)
        ((double *)tg_data(f))[i] = (double)(i % 3); /* 0, 1, 2: every dtype holds them */
    tg_tensor *ft = tg_transpose(f, 0, 1);          /* (4,3), strided */
    tg_tape *T = tg_tape_new();
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        tg_dtype dt = dts[d];
        tg_tensor *x = tg_cast(ft, dt), *xt = tg_transpose(x, 0, 1); /* (3,4) again */
        ck_assert_ptr_nonnull(xt);
        const tg_tensor *xs[] = {xt, xt}, *fs[] = {f, f};
        tg_tensor *pf[2], *px[2];
        ck_assert_int_eq(tg_split(f, 1, 2, (const int64_t[]){3, 1}, pf), TG_OK);
        ck_assert_int_eq(tg_ad_split(T, xt, 1, 2, (const int64_t[]){3, 1}, px), TG_OK);
        tg_tensor *got[] = {
            tg_concat(2, xs, 1), tg_stack(2, xs, 0),
            tg_pad(xt, (const int64_t[]){1, 0, 2, 1}, 1.0), tg_flip(xt, 0),
            tg_tile(xt, 2, (const int64_t[]){2, 1}), tg_repeat(xt, -1, 3),
            tg_ad_concat(T, 2, (tg_tensor *[]){xt, xt}, 0), px[0],
        };
        tg_tensor *want[] = {
            tg_concat(2, fs, 1), tg_stack(2, fs, 0),
            tg_pad(f, (const int64_t[]){1, 0, 2, 1}, 1.0), tg_flip(f, 0),
            tg_tile(f, 2, (const int64_t[]){2, 1}), tg_repeat(f, -1, 3),
            tg_concat(2, fs, 0), pf[0],
        };
        for (size_t i = 0; i < sizeof got / sizeof got[0]; i++) {
            tg_tensor *w = tg_cast(want[i], dt);
            ck_assert_msg(got[i] && tg_dtype_of(got[i]) == dt, "%s op %zu: %s",
                          tg_dtype_name(dt), i, tg_last_message());
            ck_assert_int_eq(tg_numel(got[i]), tg_numel(w));
            for (int64_t j = 0; j < tg_numel(w); j++)
                ck_assert_double_eq(tgt_at(got[i], j), tgt_at(w, j));
            tg_free(w);
            if (i < 6)
                tg_free(got[i]);
            if (i < 7)
                tg_free(want[i]);
        }
        ck_assert_uint_eq(tg_tape_length(T), 0);
        /* pad's value must be one of the dtype's */
        ASSERT_FAILS(tg_pad(xt, (const int64_t[]){0, 1, 0, 0}, dt == TG_BOOL ? 2.0 : 0.5),
                     TG_ERR_VALUE, "tg_pad: value");
        ASSERT_FAILS(tg_ad_pad(T, xt, (const int64_t[]){0, 1, 0, 0}, -1.5), TG_ERR_VALUE,
                     "tg_ad_pad: value -1.5 is not a");
        tg_free(pf[0]);
        tg_free(pf[1]);
        tg_free(x);
        tg_free(xt);
        tg_tape_reset(T);
    }
    /* Mixed dtypes are refused, as for floats: cast first. */
    tg_tensor *i32 = tg_cast(f, TG_INT32);
    ASSERT_FAILS(tg_concat(2, (const tg_tensor *[]){f, i32}, 0), TG_ERR_DTYPE,
                 "tg_concat: tensor 1 is int32 and tensor 0 float64; convert one with tg_cast");
    tg_free(i32);
    tg_tape_free(T);
    tg_free(ft);
    tg_free(f);
}
END_TEST

/* ---- allocation failures ------------------------------------------------------------------- */

static tg_tensor *oom_concat(const tg_tensor *x)
{
    return tg_concat(3, (const tg_tensor *[]){x, x, x}, 1);
}
static tg_tensor *oom_stack(const tg_tensor *x)
{
    return tg_stack(2, (const tg_tensor *[]){x, x}, -1);
}
static tg_tensor *oom_pad(const tg_tensor *x)
{
    return tg_pad(x, (const int64_t[]){1, 0, 2, 3}, 1.0);
}
static tg_tensor *oom_flip(const tg_tensor *x) { return tg_flip(x, 1); }
static tg_tensor *oom_tile(const tg_tensor *x)
{
    return tg_tile(x, 3, (const int64_t[]){2, 3, 2});
}
static tg_tensor *oom_repeat(const tg_tensor *x) { return tg_repeat(x, 0, 3); }

START_TEST(test_oom_tensor_ops)
{
    tg_tensor *x = join_input(0, 't', SH(3, 4));
    ck_assert_int_ge(tgt_sweep_failures(oom_concat, x, "tg_concat: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_stack, x, "tg_stack: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_pad, x, "tg_pad: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_flip, x, "tg_flip: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_tile, x, "tg_tile: out of memory"), 1);
    ck_assert_int_ge(tgt_sweep_failures(oom_repeat, x, "tg_repeat: out of memory"), 1);
    /* split and chunk make one view per piece: any may fail, none is left. */
    for (int chunk = 0; chunk < 2; chunk++) {
        const char *name = chunk ? "tg_chunk: out of memory" : "tg_split: out of memory";
        long made = 0;
        for (long k = 1; !made; k++) {
            tg_tensor *p[3];
            long live = tgt_stats.live_blocks;
            tgt_stats.calls = 0;
            tgt_stats.fail_at = k;
            int rc = chunk ? tg_chunk(x, 1, 3, p)
                           : tg_split(x, 0, 3, (const int64_t[]){1, 0, 2}, p);
            tgt_stats.fail_at = 0;
            if (rc == TG_OK) {
                made = k - 1;
                for (int i = 0; i < 3; i++)
                    tg_free(p[i]);
            } else {
                TGT_ASSERT_ERR(TG_ERR_NOMEM, name);
                for (int i = 0; i < 3; i++)
                    ck_assert_ptr_null(p[i]);
            }
            ck_assert_int_eq(tgt_stats.live_blocks, live);
        }
        ck_assert_int_eq(made, 3);
    }
    tg_free(x);
}
END_TEST

/* every_op forward and backward with each allocation refused in turn:
 * out of memory under a tg_ name or success, no leak, no gradient from a
 * failed run, and then the same gradients as a clean run. */
START_TEST(test_oom_tape)
{
    double clean[24];
    bool done = false;
    long base = tgt_stats.live_blocks;
    for (long k = 0; !done; k++) { /* k = 0: the clean run */
        tg_tensor *x = join_input(0, 'c', SH(3, 4)), *z = join_input(1, 't', SH(3, 4));
        tg_requires_grad(x, true);
        tg_requires_grad(z, true);
        tg_tape *T = tg_tape_new();
        ck_assert_ptr_nonnull(T);
        tgt_stats.fail_at = k ? tgt_stats.calls + k : 0;
        tg_clear_error();
        tg_tensor *f = every_op(T, x, z);
        int rc = f ? tg_backward(T, f) : tg_last_error();
        bool refused = k && tgt_stats.calls >= tgt_stats.fail_at;
        tgt_stats.fail_at = 0;
        if (rc == TG_OK) {
            for (int64_t i = 0; i < 12; i++) {
                double gx = tgt_at(tg_grad(x), i), gz = tgt_at(tg_grad(z), i);
                if (k == 0) {
                    clean[i] = gx;
                    clean[12 + i] = gz;
                } else { /* bit for bit */
                    ck_assert(memcmp(&gx, &clean[i], sizeof gx) == 0);
                    ck_assert(memcmp(&gz, &clean[12 + i], sizeof gz) == 0);
                }
            }
            done = k > 0 && !refused;
        } else {
            ck_assert_msg(rc == TG_ERR_NOMEM, "allocation %ld: code %d (%s)", k, rc,
                          tg_last_message());
            ck_assert_msg(strncmp(tg_last_message(), "tg_", 3) == 0 &&
                              strstr(tg_last_message(), "out of memory"),
                          "allocation %ld: \"%s\"", k, tg_last_message());
            ck_assert_ptr_null(tg_grad(x)); /* a failed run changes no gradient */
            ck_assert_ptr_null(tg_grad(z));
        }
        tg_tape_free(T);
        tg_free(x);
        tg_free(z);
        ck_assert_msg(tgt_stats.live_blocks == base, "allocation %ld refused: %ld blocks leaked",
                      k, tgt_stats.live_blocks - base);
        ck_assert_int_lt(k, 200);
    }
}
END_TEST

/* A loop that redoes the same work after tg_tape_reset makes no allocator
 * call from its second step: records, links and kept widths live in the
 * arena. */
START_TEST(test_steady_state)
{
    tg_tensor *x = join_input(0, 'c', SH(3, 4)), *z = join_input(1, 't', SH(3, 4));
    tg_requires_grad(x, true);
    tg_requires_grad(z, true);
    tg_tape *T = tg_tape_new();
    long before = 0;
    for (int step = 0; step < 3; step++) {
        if (step == 2)
            before = tgt_stats.calls;
        tg_tape_reset(T);
        tg_zero_grad(x);
        tg_zero_grad(z);
        ck_assert_int_eq(tg_backward(T, every_op(T, x, z)), TG_OK);
    }
    ck_assert_int_eq(tgt_stats.calls, before);
    tg_tape_free(T);
    tg_free(x);
    tg_free(z);
}
END_TEST

Suite *test_join_suite(void); /* called by the generated runner */

Suite *test_join_suite(void)
{
    Suite *s = suite_create("join");
    TCase *tc = tgt_tcase("reference");
    tcase_add_loop_test(tc, test_against_numpy_and_torch, 0, NCASES);
    tcase_add_loop_test(tc, test_split_against_numpy_and_torch, 0, NSPLITS);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("gradients");
    tcase_add_loop_test(tc, test_gradcheck_ops, 0, NCASES);
    tcase_add_loop_test(tc, test_gradcheck_splits, 0, NSPLITS);
    tcase_add_test(tc, test_hessian_vector_product);
    tcase_add_test(tc, test_split_gradient_paths);
    tcase_add_loop_test(tc, test_slice_python_rules_on_tape, 0,
                        (int)(sizeof slice_cases / sizeof slice_cases[0]));
    suite_add_tcase(s, tc);
    tc = tgt_tcase("tape");
    tcase_add_test(tc, test_chain_records);
    tcase_add_test(tc, test_chain_modified_in_place);
    tcase_add_test(tc, test_chain_fails_whole);
    tcase_add_test(tc, test_views);
    tcase_add_test(tc, test_zero_size);
    tcase_add_test(tc, test_steady_state);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("errors");
    tcase_add_test(tc, test_bad_join_arguments);
    tcase_add_test(tc, test_overflow);
    tcase_add_test(tc, test_integer_dtypes);
    tcase_add_test(tc, test_oom_tensor_ops);
    tcase_add_test(tc, test_oom_tape);
    suite_add_tcase(s, tc);
    return s;
}
