/* tape.h - reverse-mode automatic differentiation on a tape.
 *
 * A tape records every op applied to tensors while it is active: a Wengert
 * list, already in execution order, so backward is one reverse walk (no
 * recursion: a chain of a million ops is fine). Intermediates live in the
 * tape's arena and die together at tg_tape_reset; parameters and their
 * .grad belong to the caller. The chapter's model, y = w*x^2 + b:
 *
 *     tg_tape *T = tg_tape_new();
 *     tg_requires_grad(w, true); tg_requires_grad(b, true);   // (1,) each
 *     for (int step = 0; step < 800; step++) {
 *         tg_tape_reset(T);                       // forget the last pass
 *         tg_tensor *x2   = tg_ad_pow_scalar(T, x, 2.0);      // (100,)
 *         tg_tensor *pred = tg_ad_add(T, tg_ad_mul(T, x2, w), b);
 *         tg_tensor *err  = tg_ad_sub(T, pred, y);
 *         tg_tensor *loss = tg_ad_mul_scalar(T,
 *                               tg_ad_sum(T, tg_ad_mul(T, err, err)), 0.5);
 *         tg_zero_grad(w); tg_zero_grad(b);
 *         if (tg_backward(T, loss)) { puts(tg_last_message()); break; }
 *         tg_axpy_into(w, -0.001, tg_grad(w));    // w -= lr * dL/dw
 *         tg_axpy_into(b, -0.001, tg_grad(b));
 *     }
 *     tg_tape_free(T);
 *
 * Rules:
 * - Ops take the tape first. Their results belong to the tape (do not
 *   tg_free them) and stay valid until the next tg_tape_reset.
 *   With T == NULL an op just computes: the result is caller-owned.
 * - An op records only when the tape is recording and some input requires
 *   a gradient; tg_tape_pause() stops recording (no-grad mode).
 * - tg_backward ACCUMULATES into each leaf's .grad, as PyTorch does; clear
 *   with tg_zero_grad before the next backward. One recording serves one
 *   tg_backward: a second one through the same records is refused
 *   (TG_ERR_TAPE) rather than silently adding the gradients twice, unless
 *   tg_tape_retain_graph(T, true) was called (PyTorch's retain_graph).
 *   tg_ad_grad, which writes no .grad, may walk a recording any number of
 *   times.
 * - Backward reports TG_ERR_TAPE for a root that is not one element and has
 *   no seed, a tensor that this tape did not produce (or produced before a
 *   reset), and an input or output written in place after it was recorded.
 * - Every entry point checks that the tape is live: a freed tape (while its
 *   memory has not been reused) or a pointer to something else is reported
 *   as TG_ERR_TAPE. C cannot catch everything: a tape whose memory was
 *   reused, or a caller-owned input freed before backward, is undefined
 *   behaviour (see docs/autograd.md).
 * - Second order: every backward rule is written with these same ops, so
 *   tg_ad_grad(..., create_graph = true) returns gradients that are
 *   themselves on the tape and can be differentiated again. A backward
 *   that is not recorded runs the common rules as fused kernels instead,
 *   with the same results bit for bit.
 */
#ifndef TG_TAPE_H
#define TG_TAPE_H

#include "../tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_tape tg_tape;

/* ---- The tape ---------------------------------------------------------- */

/* A new, empty, recording tape; NULL (TG_ERR_NOMEM) if allocation fails. */
tg_tape *tg_tape_new(void);
/* Frees the tape and every intermediate on it. NULL is fine. */
void tg_tape_free(tg_tape *T);
/* Forgets every record and intermediate; the arena is kept for reuse, so a
 * loop that does the same work each step stops allocating after step one.
 * Tensors produced before the reset are invalid afterwards. */
int tg_tape_reset(tg_tape *T);
/* Stops (paused = true) or resumes recording; returns whether the tape was
 * paused before. While paused, ops still allocate their results on T. */
bool tg_tape_pause(tg_tape *T, bool paused);
bool tg_tape_is_recording(const tg_tape *T);
/* Number of records since the last reset, and arena bytes in use. */
size_t tg_tape_length(const tg_tape *T);
size_t tg_tape_bytes(const tg_tape *T);

/* What a tape holds: forgetting tg_tape_reset in a loop shows as records
 * and bytes_in_use that grow every step. */
typedef struct tg_tape_stats {
    size_t records;      /* records since the last reset */
    size_t bytes_in_use; /* arena bytes handed out since the last reset */
    size_t high_water;   /* most bytes in use between two resets so far */
    size_t reserved;     /* bytes of arena memory held (kept across resets) */
    size_t limit;        /* the limit set by tg_tape_set_limit, 0 if none */
} tg_tape_stats;
int tg_tape_get_stats(const tg_tape *T, tg_tape_stats *stats);
/* Caps the bytes a tape may hand out between two resets (0: no cap, the
 * default). The op that would pass the cap fails with TG_ERR_NOMEM and a
 * message that suggests tg_tape_reset; nothing is recorded by it. */
int tg_tape_set_limit(tg_tape *T, size_t max_bytes);
/* Allows (true) or refuses (false, the default) a second tg_backward
 * through records a tg_backward already went through; returns the old
 * setting. With it on, each backward adds its gradients again. */
bool tg_tape_retain_graph(tg_tape *T, bool retain);

/* ---- Leaves and gradients ------------------------------------------------ */

/* Marks a caller-owned tensor as a leaf whose gradient backward computes.
 * Tensors made by the tape cannot be marked (TG_ERR_TAPE). */
int tg_requires_grad(tg_tensor *t, bool on);
bool tg_requires_grad_of(const tg_tensor *t);
/* The leaf's accumulated gradient (same shape and dtype), owned by the leaf
 * and freed by tg_free(leaf); NULL before the first backward reaches it. */
tg_tensor *tg_grad(const tg_tensor *t);
/* Sets the leaf's gradient to zeros (keeping its memory). */
int tg_zero_grad(tg_tensor *t);

/* Backward from a one-element root: accumulates d root / d leaf into the
 * .grad of every leaf that requires a gradient. */
int tg_backward(tg_tape *T, tg_tensor *root);
/* The same from any root, with the vector seed (root's shape) that
 * multiplies the Jacobian: computes seed^T J. */
int tg_backward_seed(tg_tape *T, tg_tensor *root, const tg_tensor *seed);
/* tg_backward that says when each gradient is finished: for each of the n
 * distinct tensors leaves[i] (each requiring a gradient), as soon as the
 * pass has added this backward's whole gradient into leaves[i]'s .grad,
 * ready(ctx, i) is called while the rest of the pass still runs, so that
 * work on the finished gradients can overlap it (DistributedDataParallel
 * starts its all-reduces there: models/dist.h). Leaves the root does not
 * depend on are reported when the pass ends, their .grad unchanged. Unlike
 * tg_backward, which adds every gradient at the end or none, a listed
 * leaf's .grad is written as soon as it is finished: after an error some
 * of the listed gradients may have been added (zero them before retrying).
 * Errors as tg_backward's, and TG_ERR_VALUE for a repeated leaf. */
typedef void (*tg_grad_ready_fn)(void *ctx, int i);
int tg_backward_hooked(tg_tape *T, tg_tensor *root, int n, tg_tensor *const *leaves,
                       tg_grad_ready_fn ready, void *ctx);
/* Like torch.autograd.grad: grads[i] = d root / d inputs[i] (times seed if
 * non-NULL), as tensors on the tape, without touching any .grad. inputs may
 * be leaves or tensors on the tape; an input the root does not depend on
 * gets zeros. With create_graph the gradients are recorded, so they can be
 * differentiated again (Hessians, Hessian-vector products). inputs and
 * grads must be separate arrays (overlapping ones are TG_ERR_VALUE). */
int tg_ad_grad(tg_tape *T, tg_tensor *root, const tg_tensor *seed, int n,
               tg_tensor *const *inputs, tg_tensor **grads, bool create_graph);

/* ---- Differentiable ops (results owned by T; NULL inputs give NULL) ---- */

tg_tensor *tg_ad_add(tg_tape *T, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_ad_sub(tg_tape *T, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_ad_mul(tg_tape *T, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_ad_div(tg_tape *T, tg_tensor *a, tg_tensor *b);
/* a^b elementwise; d/db uses log(a), so a must be positive where it matters. */
tg_tensor *tg_ad_pow(tg_tape *T, tg_tensor *a, tg_tensor *b);
/* maximum/minimum: at ties the whole gradient goes to a. */
tg_tensor *tg_ad_maximum(tg_tape *T, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_ad_minimum(tg_tape *T, tg_tensor *a, tg_tensor *b);

tg_tensor *tg_ad_add_scalar(tg_tape *T, tg_tensor *a, double s);  /* a + s */
tg_tensor *tg_ad_sub_scalar(tg_tape *T, tg_tensor *a, double s);  /* a - s */
tg_tensor *tg_ad_rsub_scalar(tg_tape *T, tg_tensor *a, double s); /* s - a */
tg_tensor *tg_ad_mul_scalar(tg_tape *T, tg_tensor *a, double s);  /* a * s */
tg_tensor *tg_ad_div_scalar(tg_tape *T, tg_tensor *a, double s);  /* a / s */
tg_tensor *tg_ad_rdiv_scalar(tg_tape *T, tg_tensor *a, double s); /* s / a */
tg_tensor *tg_ad_pow_scalar(tg_tape *T, tg_tensor *a, double s);  /* a ^ s */

tg_tensor *tg_ad_neg(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_exp(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_log(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_sqrt(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_abs(tg_tape *T, tg_tensor *a);     /* d/da = sign(a), 0 at 0 */
tg_tensor *tg_ad_tanh(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_sigmoid(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_relu(tg_tape *T, tg_tensor *a);    /* d/da = 1 where a > 0 */

/* The functions of tensor.h's tg_sin ... tg_round on the tape (float32 and
 * float64 only: else TG_ERR_DTYPE). Their derivatives are PyTorch's, and
 * any order of them works. floor, ceil and round are not differentiable:
 * never recorded, like sign. */
tg_tensor *tg_ad_sin(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_cos(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_log1p(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_expm1(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_softplus(tg_tape *T, tg_tensor *a); /* d/da = 1 where a > 20 */
tg_tensor *tg_ad_leaky_relu(tg_tape *T, tg_tensor *a, double slope);
tg_tensor *tg_ad_elu(tg_tape *T, tg_tensor *a, double alpha);
tg_tensor *tg_ad_gelu(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_gelu_tanh(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_silu(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_log_sigmoid(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_square(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_reciprocal(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_floor(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_ceil(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_round(tg_tape *T, tg_tensor *a);   /* halves to even */

/* softmax(a) and log(softmax(a)) along axis (in [-ndim, ndim)), and
 * log(sum(exp(a))) along it (the axis kept as size 1 with keepdims). Shifted
 * by the maximum: finite for any finite input. A -inf entry gets
 * probability 0 (log: -inf) and a finite gradient; a line of nothing but
 * -inf gives NaN (its logsumexp -inf), as PyTorch does. */
tg_tensor *tg_ad_softmax(tg_tape *T, tg_tensor *a, int axis);
tg_tensor *tg_ad_log_softmax(tg_tape *T, tg_tensor *a, int axis);
tg_tensor *tg_ad_logsumexp(tg_tape *T, tg_tensor *a, int axis, bool keepdims);

/* Reductions; the result of the whole-tensor forms is 0-d. max and min
 * spread the gradient evenly over the elements equal to the result
 * (torch.amax's rule: ties share it; a NaN result gives NaN gradients to
 * its group). */
tg_tensor *tg_ad_sum(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_mean(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_max(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_sum_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims);
tg_tensor *tg_ad_mean_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims);
tg_tensor *tg_ad_max_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims);
/* Sums a down to shape (the adjoint of tg_ad_expand). */
tg_tensor *tg_ad_sum_to(tg_tape *T, tg_tensor *a, int ndim, const int64_t *shape);
/* tensor.h's further reductions (float dtypes), the same values, recorded.
 * Gradients as PyTorch's: prod's is the product of the other elements
 * (right with zeros in the input); var's 2 (a - mean) / max(count - ddof,
 * 0); std's var's over 2 std, and 0 where std is 0; norm ord 2's a / norm,
 * 0 where the norm is 0; ord 1's sign(a); cumsum's the running sum of the
 * gradient from the end. Axes sets as tensor.h's *_axes forms. */
tg_tensor *tg_ad_min(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_prod(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_var(tg_tape *T, tg_tensor *a, double ddof);
tg_tensor *tg_ad_std(tg_tape *T, tg_tensor *a, double ddof);
tg_tensor *tg_ad_norm(tg_tape *T, tg_tensor *a, double ord);
tg_tensor *tg_ad_min_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims);
tg_tensor *tg_ad_prod_axis(tg_tape *T, tg_tensor *a, int axis, bool keepdims);
tg_tensor *tg_ad_var_axis(tg_tape *T, tg_tensor *a, int axis, double ddof,
                          bool keepdims);
tg_tensor *tg_ad_std_axis(tg_tape *T, tg_tensor *a, int axis, double ddof,
                          bool keepdims);
tg_tensor *tg_ad_norm_axis(tg_tape *T, tg_tensor *a, int axis, double ord,
                           bool keepdims);
tg_tensor *tg_ad_sum_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          bool keepdims);
tg_tensor *tg_ad_mean_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                           bool keepdims);
tg_tensor *tg_ad_max_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          bool keepdims);
tg_tensor *tg_ad_min_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          bool keepdims);
tg_tensor *tg_ad_prod_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                           bool keepdims);
tg_tensor *tg_ad_var_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          double ddof, bool keepdims);
tg_tensor *tg_ad_std_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                          double ddof, bool keepdims);
tg_tensor *tg_ad_norm_axes(tg_tape *T, tg_tensor *a, int naxes, const int *axes,
                           double ord, bool keepdims);
tg_tensor *tg_ad_cumsum(tg_tape *T, tg_tensor *a, int axis);

tg_tensor *tg_ad_matmul(tg_tape *T, tg_tensor *a, tg_tensor *b);

/* Views and shape ops (views of their input where tensor.h's are). */
tg_tensor *tg_ad_reshape(tg_tape *T, tg_tensor *a, int ndim, const int64_t *shape);
tg_tensor *tg_ad_transpose(tg_tape *T, tg_tensor *a, int axis0, int axis1);
tg_tensor *tg_ad_permute(tg_tape *T, tg_tensor *a, const int *axes);
tg_tensor *tg_ad_slice(tg_tape *T, tg_tensor *a, int axis, int64_t start,
                       int64_t stop, int64_t step);
tg_tensor *tg_ad_expand(tg_tape *T, tg_tensor *a, int ndim, const int64_t *shape);
tg_tensor *tg_ad_cast(tg_tape *T, tg_tensor *a, tg_dtype dt);

/* Joining and reordering (autograd/join.c): tensor.h's tg_concat ... on
 * the tape, with the same arguments and checks (mixed dtypes: tg_ad_cast
 * first). A NULL entry or input gives NULL (split, chunk: TG_ERR_NULL and
 * every out[i] NULL) without a new message. split and chunk write tape
 * views of a into out[0..n), each recorded, so gradients of the pieces
 * flow back to a and add up; with T NULL they are heap views to tg_free. */
tg_tensor *tg_ad_concat(tg_tape *T, int n, tg_tensor *const *ts, int axis);
tg_tensor *tg_ad_stack(tg_tape *T, int n, tg_tensor *const *ts, int axis);
int tg_ad_split(tg_tape *T, tg_tensor *a, int axis, int n, const int64_t *sizes,
                tg_tensor **out);
int tg_ad_chunk(tg_tape *T, tg_tensor *a, int axis, int n, tg_tensor **out);
tg_tensor *tg_ad_pad(tg_tape *T, tg_tensor *a, const int64_t *widths, double value);
tg_tensor *tg_ad_flip(tg_tape *T, tg_tensor *a, int axis);
tg_tensor *tg_ad_tile(tg_tape *T, tg_tensor *a, int n, const int64_t *reps);
tg_tensor *tg_ad_repeat(tg_tape *T, tg_tensor *a, int axis, int64_t repeats);

/* ---- Selection and indexing (tensor.h's semantics; the masks and indices
 * are never differentiated, and must live until the backward) ---- */

/* where(mask, a, b): the gradient goes to the chosen input (a where the
 * mask is true, b elsewhere) and is exactly zero for the other, whatever
 * its value (an -inf that was not chosen gives no NaN). a and b promote. */
tg_tensor *tg_ad_where(tg_tape *T, tg_tensor *mask, tg_tensor *a, tg_tensor *b);
/* clamp: the gradient passes where lo <= a <= hi (bounds included, as
 * PyTorch), zero elsewhere and at NaN. */
tg_tensor *tg_ad_clamp(tg_tape *T, tg_tensor *a, double lo, double hi);
/* masked_fill: zero gradient where the mask is true. */
tg_tensor *tg_ad_masked_fill(tg_tape *T, tg_tensor *a, tg_tensor *mask, double value);
/* index_select (the embedding lookup): the gradient is added back at the
 * indices, repeated ones accumulating. */
tg_tensor *tg_ad_index_select(tg_tape *T, tg_tensor *t, int axis, tg_tensor *index);
/* gather: the gradient is scatter-added back. */
tg_tensor *tg_ad_gather(tg_tape *T, tg_tensor *t, int axis, tg_tensor *index);
/* scatter_add (src of index's shape): t gets g, src the gather of g. */
tg_tensor *tg_ad_scatter_add(tg_tape *T, tg_tensor *t, int axis, tg_tensor *index,
                             tg_tensor *src);

/* Not differentiable (their gradient is zero); results owned by T. */
tg_tensor *tg_ad_sign(tg_tape *T, tg_tensor *a);
tg_tensor *tg_ad_step(tg_tape *T, tg_tensor *a);          /* 1 where a > 0 */
tg_tensor *tg_ad_ge(tg_tape *T, tg_tensor *a, tg_tensor *b); /* 1 where a >= b */
/* A tape-owned copy of a that no gradient flows through. */
tg_tensor *tg_ad_detach(tg_tape *T, tg_tensor *a);

/* ---- Custom ops (autograd/custom.c) ------------------------------------ */

/* An op whose forward and backward you write, recorded on the tape like
 * any other (PyTorch's autograd.Function, ggml's custom ops). Fill a
 * descriptor once, call tg_ad_custom like an op:
 *
 *     static int sp_fwd(tg_tape *T, int n, tg_tensor *const *in,
 *                       tg_tensor *out, void *ctx)   // out = softplus(x)
 *     { ... write out, with tg_*_into or through tg_data(out) ... }
 *     static int sp_bwd(tg_tape *T, int n, tg_tensor *const *in,
 *                       tg_tensor *out, tg_tensor *dout, tg_tensor **din,
 *                       void *ctx)                    // d softplus = sigmoid
 *     {
 *         din[0] = tg_ad_mul(T, dout, tg_ad_sigmoid(T, in[0]));
 *         return din[0] ? TG_OK : tg_last_error();
 *     }
 *     static const tg_custom_op softplus = {"softplus", sp_fwd, sp_bwd, NULL, 0};
 *     tg_tensor *y = tg_ad_custom(T, &softplus, 1, &x, NULL);
 *
 * docs/autograd.md ("Custom ops") has the whole example. */

#define TG_CUSTOM_MAX_INPUTS 4
#define TG_CUSTOM_NAME_MAX 32 /* longest name, in characters */

/* Writes op(in[0], ..., in[n-1]) into out, a fresh contiguous tensor (C
 * order, contents undefined) that the library made with the declared dtype
 * and shape. T is never NULL and is paused: tg_ad_* ops on it make scratch
 * tensors, not recorded, that live until T's next reset (a private tape
 * when tg_ad_custom was called with T NULL). Returns TG_OK or an error
 * code; a failing tg_* call's message is kept. */
typedef int (*tg_custom_forward)(tg_tape *T, int n, tg_tensor *const *in,
                                 tg_tensor *out, void *ctx);
/* Given dout = d root / d out (out's shape and dtype), sets din[i] = d root
 * / d in[i] for each input with tg_requires_grad_of(in[i]); din[i] starts
 * NULL and is ignored for the others. Each must have in[i]'s shape and
 * dtype (sum a broadcast input's back with tg_ad_sum_to) and be computed
 * with tg_ad_* ops on T: T records them when the walk is recorded
 * (tg_ad_grad with create_graph), so second order works through the op,
 * and is paused otherwise. Returns TG_OK or an error code. */
typedef int (*tg_custom_backward)(tg_tape *T, int n, tg_tensor *const *in,
                                  tg_tensor *out, tg_tensor *dout,
                                  tg_tensor **din, void *ctx);
/* Declares the result: *dtype, *ndim and shape[0..*ndim) arrive holding
 * in[0]'s; change what differs. Returns TG_OK or an error code. */
typedef int (*tg_custom_shape)(int n, tg_tensor *const *in, void *ctx,
                               tg_dtype *dtype, int *ndim, int64_t *shape);

typedef struct tg_custom_op {
    const char *name;            /* 1 to TG_CUSTOM_NAME_MAX letters, digits
                                    or _; messages say tg_ad_NAME */
    tg_custom_forward forward;   /* required */
    tg_custom_backward backward; /* required */
    tg_custom_shape shape;       /* NULL: the inputs share one dtype, and the
                                    result has their broadcast shape */
    size_t ctx_size;             /* 0: the callbacks get ctx as passed, which
                                    must then outlive the backward. Else the
                                    ctx_size bytes at ctx (zeros if ctx is
                                    NULL) are copied onto the tape with the
                                    record and the callbacks get the copy;
                                    the forward may write values into it for
                                    the backward (ctx.save_for_backward) */
} tg_custom_op;

/* op(inputs[0], ..., inputs[n-1]) for 1 <= n <= TG_CUSTOM_MAX_INPUTS,
 * recorded when the tape records and an input requires a gradient. The
 * descriptor is read during the call only (the record keeps a copy of its
 * name and backward). Result owned by T, or by the caller when T is NULL.
 * A bad descriptor or n is TG_ERR_NULL or TG_ERR_VALUE under tg_ad_custom;
 * a forward that fails records nothing, and its error is returned (NULL)
 * under tg_ad_NAME. A NULL input gives NULL without a new message. */
tg_tensor *tg_ad_custom(tg_tape *T, const tg_custom_op *op, int n,
                        tg_tensor *const *inputs, void *ctx);

/* ---- Seeing the tape (autograd/graph.c) -------------------------------- */

/* What the tape recorded, as a Graphviz graph (dot -Tsvg) or a text
 * listing, records oldest first (data-flow order):
 *
 *     tg_set_name(w, "w");                       // leaves show their names
 *     tg_backward(T, loss);
 *     tg_tape_save_dot(T, loss, "step.dot", TG_GRAPH_VALUES | TG_GRAPH_GRADS);
 *
 * One node per record (the op's name, "mul_scalar 0.5" for the ops of a
 * scalar; the result's name, shape and dtype), one per leaf (a tensor the
 * records read that no record made: blue when it requires a gradient),
 * edges from inputs to the records that read them (numbered when a record
 * has several inputs), the root drawn in orange. Time and memory are
 * linear in the number of records. */
#define TG_GRAPH_MAX_VALUES 8 /* tensors up to this many elements show values */
enum {
    TG_GRAPH_VALUES = 1u << 0, /* the values of small tensors */
    TG_GRAPH_GRADS = 1u << 1,  /* after a backward, the gradients of small
                                  tensors: a leaf's .grad, a record's result's
                                  from the tape's last walk */
};
/* Writes the DOT graph of the records root depends on (root NULL: every
 * record on T) to f, and flushes it. TG_ERR_NULL (T or f NULL),
 * TG_ERR_TAPE (T not live, root from another tape or before the last
 * reset), TG_ERR_VALUE (unknown flags), TG_ERR_NOMEM, TG_ERR_IO (a write
 * failed, with the system's reason); f is left open. */
int tg_tape_write_dot(const tg_tape *T, const tg_tensor *root, FILE *f,
                      unsigned flags);
/* The same into a new file at path (replaced if it exists). */
int tg_tape_save_dot(const tg_tape *T, const tg_tensor *root, const char *path,
                     unsigned flags);
/* A text listing of every record on T, one line each, for a terminal,
 * with the values and (after a backward) gradients of small tensors:
 *
 *     tape: 2 records, oldest first
 *       L0  x  (3,) float64  constant  value [1, 2, 3]
 *       L1  w  (3,) float64  leaf, requires grad  value [0.5, 1, 1.5]  grad [1, 2, 3]
 *       #0  mul(L0, L1)  (3,) float64  value [0.5, 2, 4.5]  grad [1, 1, 1]
 *       #1  loss = sum(#0)  () float64  value 7  grad 1
 *
 * Errors as tg_tape_write_dot's. */
int tg_tape_print(const tg_tape *T, FILE *f);

/* ---- Gradient checking ---------------------------------------------------- */

/* A function of n inputs recorded on T; returns a tensor on T. */
typedef tg_tensor *(*tg_ad_fn)(tg_tape *T, tg_tensor *const *inputs, void *ctx);

typedef struct tg_gradcheck_report {
    bool ok;            /* every element within atol + rtol*|numeric| */
    double max_abs_err; /* largest |analytic - numeric| */
    double worst_ratio; /* largest |analytic - numeric| / (atol + rtol*|numeric|) */
    int input;          /* where the worst ratio is: which input, */
    int64_t index;      /* which element (C order), */
    double analytic;    /* and both values there */
    double numeric;
    int64_t checked;    /* elements compared */
} tg_gradcheck_report;

/* Compares tape gradients of f with central finite differences (step eps)
 * at every element of every input that requires a gradient. Inputs must be
 * float64 leaves. A non-scalar output is first reduced with fixed
 * pseudo-random weights, so the whole Jacobian is exercised. Returns TG_OK
 * when the comparison ran (see rep->ok) or an error code; the inputs are
 * left as they were. */
int tg_gradcheck(tg_ad_fn f, void *ctx, int n, tg_tensor *const *inputs,
                 double eps, double atol, double rtol, tg_gradcheck_report *rep);

#ifdef __cplusplus
}
#endif
#endif /* TG_TAPE_H */
