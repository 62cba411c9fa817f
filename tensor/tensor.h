/* tensor.h - tapegrad's n-d tensor: storage, shapes, views and kernels.
 *
 * A tensor is a dtype (float32 or float64), up to TG_MAX_DIMS sizes, strides
 * counted in elements and an offset into a reference-counted storage that
 * views share. Every function that returns a tensor returns a new object that
 * the caller owns and releases with tg_free(); views share their base's
 * storage, so writing through a view changes the base.
 *
 *     // f(x) = a*x^2 + b on five points, the chapter's model in miniature
 *     tg_tensor *x  = tg_linspace(TG_FLOAT64, -1.0, 1.0, 5);
 *     tg_tensor *x2 = tg_pow_scalar(x, 2.0);
 *     tg_tensor *ax = tg_mul_scalar(x2, 3.0);
 *     tg_tensor *y  = tg_add_scalar(ax, 2.0);
 *     if (!y) fprintf(stderr, "%s\n", tg_last_message());
 *     tg_print(y, stdout);      // array([5.  , 2.75, 2.  , 2.75, 5.  ])
 *     tg_free(x); tg_free(x2); tg_free(ax); tg_free(y);
 *
 * Errors: functions returning int return 0 (TG_OK) or a TG_ERR_* code;
 * functions returning a tensor return NULL. Either way the thread's last
 * error (tg_last_error / tg_last_message) says which function failed and why.
 * An op given a NULL tensor returns NULL without replacing the last error,
 * so a chain of ops can be checked once at the end. Nothing here aborts.
 */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_MAX_DIMS 8

/* TG_SHAPE(3, 4) expands to the two arguments `2, (const int64_t[]){3, 4}`. */
#define TG_SHAPE(...)                                                        \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),        \
        (const int64_t[]){__VA_ARGS__}

/* Element types. The float types carry gradients; the integer and boolean
 * ones hold labels, indices, masks and raw bytes (TG_BOOL stores 0 or 1 in
 * one byte). Mixed operands promote as NumPy does (see tg_result_type). */
typedef enum tg_dtype {
    TG_FLOAT32 = 0,
    TG_FLOAT64 = 1,
    TG_INT32 = 2,
    TG_INT64 = 3,
    TG_UINT8 = 4,
    TG_BOOL = 5,
    TG_DTYPE_COUNT_
} tg_dtype;

typedef struct tg_tensor tg_tensor;

/* ---- Errors ------------------------------------------------------------ */

enum {
    TG_OK = 0,
    TG_ERR_NULL,     /* a required argument was NULL */
    TG_ERR_NOMEM,    /* the allocator returned NULL */
    TG_ERR_DTYPE,    /* mixed or unsupported dtypes */
    TG_ERR_SHAPE,    /* shapes that cannot broadcast, multiply or reshape */
    TG_ERR_AXIS,     /* an axis outside [-ndim, ndim) */
    TG_ERR_INDEX,    /* an index out of range (slice bounds are clamped) */
    TG_ERR_VALUE,    /* a bad argument value: negative size, zero step, ... */
    TG_ERR_OVERFLOW, /* an element count or byte size that overflows */
    TG_ERR_IO,       /* a file could not be opened, read or written */
    TG_ERR_FORMAT,   /* a file is malformed, truncated or unsupported */
    TG_ERR_TAPE,     /* autograd misuse: see autograd/tape.h */
    TG_ERR_COUNT_
};

/* A fixed description of an error code ("shape mismatch"); never NULL. */
const char *tg_strerror(int code);
/* The code of the last failure in this thread, TG_OK if none. */
int tg_last_error(void);
/* The last failure's message, naming the function: "tg_add: shapes (3,4)
 * and (5,) cannot be broadcast". "" when there was none. */
const char *tg_last_message(void);
/* Forget the last error. */
void tg_clear_error(void);

/* ---- Allocator --------------------------------------------------------- */

/* Lua-style allocator: nsize == 0 frees ptr (osize bytes) and returns NULL;
 * otherwise returns a block of nsize bytes (ptr may be NULL) or NULL on
 * failure, leaving ptr untouched. Blocks must be aligned for double. */
typedef void *(*tg_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);
/* Install an allocator for all later allocations; NULL restores malloc.
 * Change it only while no tapegrad object is alive. */
void tg_set_allocator(tg_alloc_fn fn, void *ud);
void tg_get_allocator(tg_alloc_fn *fn, void **ud);

/* ---- Inspection -------------------------------------------------------- */

tg_dtype tg_dtype_of(const tg_tensor *t);
size_t tg_dtype_size(tg_dtype dt);          /* 4, 8, 4, 8, 1, 1 */
const char *tg_dtype_name(tg_dtype dt);     /* "float32", ..., "uint8", "bool" */
bool tg_dtype_is_float(tg_dtype dt);        /* float32 or float64 */
/* The dtype NumPy gives a binary op on a and b (np.result_type of two
 * arrays): bool < uint8 < int32 < int64 among the integers, any integer
 * with float32 gives float64 except bool and uint8 (float32), and float32
 * with float64 gives float64. */
tg_dtype tg_result_type(tg_dtype a, tg_dtype b);
int tg_ndim(const tg_tensor *t);
const int64_t *tg_shape(const tg_tensor *t);   /* ndim sizes */
const int64_t *tg_strides(const tg_tensor *t); /* ndim strides, in elements */
int64_t tg_offset(const tg_tensor *t);         /* first element, in elements */
int64_t tg_size(const tg_tensor *t, int axis); /* negative axis counts back */
int64_t tg_numel(const tg_tensor *t);
bool tg_is_contiguous(const tg_tensor *t);     /* C order, offset free */
/* Address of element (0,...,0); elements are at data + sum(i_k*stride_k).
 * Cast to float * or double * according to the dtype. */
void *tg_data(const tg_tensor *t);
/* True when a and b view the same storage. */
bool tg_shares_storage(const tg_tensor *a, const tg_tensor *b);
/* Writes "(3,4)" into buf (always NUL-terminated); returns buf. */
char *tg_shape_str(const tg_tensor *t, char *buf, size_t n);
/* A label for pictures and listings of the tape (tg_tape_write_dot):
 * copied into t, at most TG_NAME_MAX - 1 bytes (longer: TG_ERR_VALUE, the
 * old name kept); NULL or "" removes it. Any tensor can be named, a tape's
 * results too (until the tape's next reset); views and copies start
 * unnamed. tg_name returns "" for an unnamed tensor or NULL. */
#define TG_NAME_MAX 32
int tg_set_name(tg_tensor *t, const char *name);
const char *tg_name(const tg_tensor *t);

/* ---- Creation (caller owns the result; release with tg_free) ----------- */

/* Uninitialised contents. ndim 0 with shape NULL makes a 0-d scalar. */
tg_tensor *tg_empty(tg_dtype dt, int ndim, const int64_t *shape);
tg_tensor *tg_zeros(tg_dtype dt, int ndim, const int64_t *shape);
tg_tensor *tg_ones(tg_dtype dt, int ndim, const int64_t *shape);
tg_tensor *tg_full(tg_dtype dt, int ndim, const int64_t *shape, double value);
/* Copies numel elements of type dt (float or double) laid out in C order. */
tg_tensor *tg_from_array(tg_dtype dt, int ndim, const int64_t *shape,
                         const void *data);
/* A 0-d tensor holding v. */
tg_tensor *tg_scalar(tg_dtype dt, double v);
/* NumPy's arange: ceil((stop-start)/step) values start + i*step. */
tg_tensor *tg_arange(tg_dtype dt, double start, double stop, double step);
/* NumPy's linspace with endpoint: start + i*step, the last one exactly stop. */
tg_tensor *tg_linspace(tg_dtype dt, double start, double stop, int64_t num);
/* rows x cols with ones on the main diagonal. */
tg_tensor *tg_eye(tg_dtype dt, int64_t rows, int64_t cols);
/* Releases the tensor header and, with its last view, the storage. NULL ok. */
void tg_free(tg_tensor *t);

/* ---- Views (share storage with t) ------------------------------------- */

/* The same elements in C order with a new shape; one size may be -1
 * (inferred). A view whenever t's strides can walk the new shape (always
 * for a contiguous t; NumPy's rule otherwise), else a copy. */
tg_tensor *tg_reshape(const tg_tensor *t, int ndim, const int64_t *shape);
tg_tensor *tg_transpose(const tg_tensor *t, int axis0, int axis1);
/* axes is a permutation of 0..ndim-1 (negative values count back). */
tg_tensor *tg_permute(const tg_tensor *t, const int *axes);
/* An omitted slice bound, Python's None: tg_slice(t, 0, TG_NONE, TG_NONE, -1)
 * is t[::-1], tg_slice(t, 0, 2, TG_NONE, 1) is t[2:]. */
#define TG_NONE INT64_MIN
/* t[start:stop:step] along one axis, as Python and NumPy slice: negative
 * bounds count from the end, bounds past either end are clamped (never an
 * error), TG_NONE is an omitted bound (the first or last element, as the
 * step's sign says), and step < 0 walks down. Only step 0 is refused. */
tg_tensor *tg_slice(const tg_tensor *t, int axis, int64_t start, int64_t stop,
                    int64_t step);
/* Drops axis by fixing it at index (negative index counts back). */
tg_tensor *tg_select(const tg_tensor *t, int axis, int64_t index);
tg_tensor *tg_unsqueeze(const tg_tensor *t, int axis); /* axis in [-ndim-1, ndim] */
tg_tensor *tg_squeeze(const tg_tensor *t, int axis);   /* that axis must be 1 */
/* NumPy's broadcast_to: sizes-1 axes (and new leading axes) get stride 0. */
tg_tensor *tg_expand(const tg_tensor *t, int ndim, const int64_t *shape);
/* A contiguous tensor equal to t: a view when t already is one, else a copy. */
tg_tensor *tg_contiguous(const tg_tensor *t);
/* A fresh contiguous copy. */
tg_tensor *tg_clone(const tg_tensor *t);
/* A fresh contiguous copy converted to dt (round to nearest). */
tg_tensor *tg_cast(const tg_tensor *t, tg_dtype dt);

/* ---- Joining and reordering (tensor/join.c) ----------------------------- */
/* Any dtype. Arrays of tensors hold n entries; an entry that is NULL (an
 * earlier op failed) gives NULL without a new message, like a NULL input.
 * A fresh result is caller-owned (tg_free); split, chunk and flip give
 * views, one tg_free each.
 *
 *     const tg_tensor *parts[] = {a, b};        // (2,3) and (1,3)
 *     tg_tensor *ab = tg_concat(2, parts, 0);    // (3,3): rows of a, then b
 */

/* np.concatenate / torch.cat: n >= 1 tensors of one dtype (convert with
 * tg_cast) and one shape except on axis, joined along it. */
tg_tensor *tg_concat(int n, const tg_tensor *const *ts, int axis);
/* np.stack / torch.stack: n >= 1 tensors of one shape and dtype along a
 * new axis in [-ndim-1, ndim]. */
tg_tensor *tg_stack(int n, const tg_tensor *const *ts, int axis);
/* Views of t cut along axis into n pieces of sizes[0..n), which must be
 * >= 0 and add up to the axis's size (torch.split with a list); written to
 * out[0..n). Returns TG_OK or an error code, with every out[i] NULL; a NULL
 * t gives TG_ERR_NULL, all NULL and no new message. */
int tg_split(const tg_tensor *t, int axis, int n, const int64_t *sizes,
             tg_tensor **out);
/* The same cut into exactly n >= 1 near-equal pieces, np.array_split's
 * sizes: the first (size % n) pieces one element longer (trailing pieces
 * are empty when n exceeds the size). */
int tg_chunk(const tg_tensor *t, int axis, int n, tg_tensor **out);
/* t surrounded by value: widths holds (before, after) for axis 0, then
 * axis 1, ... (NumPy's pad_width order; 2 * ndim entries, each >= 0; NULL
 * only for a 0-d t). value must be one of t's dtype. */
tg_tensor *tg_pad(const tg_tensor *t, const int64_t *widths, double value);
/* np.flip(t, axis): a view with a negative stride on that axis. */
tg_tensor *tg_flip(const tg_tensor *t, int axis);
/* np.tile: t repeated reps[i] times along each axis; the shorter of reps
 * (n entries, 0 to 8, each >= 0) and t's shape gets leading ones. */
tg_tensor *tg_tile(const tg_tensor *t, int n, const int64_t *reps);
/* np.repeat(t, repeats, axis) / torch.repeat_interleave: each element
 * repeated repeats >= 0 times in place along axis. */
tg_tensor *tg_repeat(const tg_tensor *t, int axis, int64_t repeats);

/* ---- Element access and in-place writes -------------------------------- */

/* index has ndim entries (negative values count back). */
int tg_get(const tg_tensor *t, const int64_t *index, double *out);
/* Every function that writes into a caller's tensor (tg_set, tg_fill,
 * tg_copy, the *_into forms, the random fills) refuses a broadcast view,
 * one with stride 0 on an axis longer than 1, with TG_ERR_VALUE: a write
 * there would land on one element many times. */
int tg_set(tg_tensor *t, const int64_t *index, double value);
/* The value of a one-element tensor of any shape. */
int tg_item(const tg_tensor *t, double *out);
int tg_fill(tg_tensor *t, double value);
/* dst = src, src broadcast to dst's shape; dtypes must match. dst and src
 * may be the same tensor, not otherwise overlapping views. */
int tg_copy(tg_tensor *dst, const tg_tensor *src);

/* ---- Elementwise ops (NumPy broadcasting) ------------------------------- */

typedef enum tg_binop {
    TG_ADD, TG_SUB, TG_MUL, TG_DIV, TG_POW, TG_MAXIMUM, TG_MINIMUM,
    TG_GE, /* 1 where a >= b else 0 */
    TG_BINOP_COUNT_
} tg_binop;

typedef enum tg_unop {
    TG_NEG, TG_EXP, TG_LOG, TG_SQRT, TG_ABS, TG_TANH, TG_SIGMOID, TG_RELU,
    TG_SIGN, /* -1, 0 or 1 (NaN stays NaN) */
    TG_STEP, /* 1 where x > 0 else 0: the derivative of relu */
    TG_UNOP_COUNT_
} tg_unop;

/* Result has the broadcast shape of a and b. maximum/minimum propagate NaN. */
tg_tensor *tg_binary(tg_binop op, const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_add(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_sub(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_mul(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_div(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_pow(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_maximum(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_minimum(const tg_tensor *a, const tg_tensor *b);

/* a op s, or s op a when scalar_first; s is rounded to a's dtype first. */
tg_tensor *tg_binary_scalar(tg_binop op, const tg_tensor *a, double s,
                            bool scalar_first);
tg_tensor *tg_add_scalar(const tg_tensor *a, double s);
tg_tensor *tg_sub_scalar(const tg_tensor *a, double s);
tg_tensor *tg_mul_scalar(const tg_tensor *a, double s);
tg_tensor *tg_div_scalar(const tg_tensor *a, double s);
tg_tensor *tg_pow_scalar(const tg_tensor *a, double s);

tg_tensor *tg_unary(tg_unop op, const tg_tensor *a);
tg_tensor *tg_neg(const tg_tensor *a);
tg_tensor *tg_exp(const tg_tensor *a);
tg_tensor *tg_log(const tg_tensor *a);
tg_tensor *tg_sqrt(const tg_tensor *a);
tg_tensor *tg_abs(const tg_tensor *a);
tg_tensor *tg_tanh(const tg_tensor *a);
tg_tensor *tg_sigmoid(const tg_tensor *a);
tg_tensor *tg_relu(const tg_tensor *a);

/* More elementwise functions (tensor/functions.c), each a new tensor of
 * a's shape and dtype, which must be float32 or float64 (else
 * TG_ERR_DTYPE). They compute PyTorch's formulas and saturate where it
 * does: softplus, log_sigmoid, silu and gelu are finite at +-1e4. */
tg_tensor *tg_sin(const tg_tensor *a);
tg_tensor *tg_cos(const tg_tensor *a);
tg_tensor *tg_log1p(const tg_tensor *a);      /* log(1 + a), exact near 0 */
tg_tensor *tg_expm1(const tg_tensor *a);      /* e^a - 1, exact near 0 */
/* log(1 + e^a), and a itself where a > 20 (torch's beta 1, threshold 20). */
tg_tensor *tg_softplus(const tg_tensor *a);
/* a where a > 0, else slope * a; slope must be finite (TG_ERR_VALUE). */
tg_tensor *tg_leaky_relu(const tg_tensor *a, double slope);
/* a where a > 0, else alpha * (e^a - 1); alpha must be finite. */
tg_tensor *tg_elu(const tg_tensor *a, double alpha);
tg_tensor *tg_gelu(const tg_tensor *a);       /* a * Phi(a), with erf */
/* 0.5 a (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3))): torch's "tanh" form. */
tg_tensor *tg_gelu_tanh(const tg_tensor *a);
tg_tensor *tg_silu(const tg_tensor *a);       /* a * sigmoid(a) */
tg_tensor *tg_log_sigmoid(const tg_tensor *a); /* min(a, 0) - log1p(e^-|a|) */
tg_tensor *tg_square(const tg_tensor *a);
tg_tensor *tg_reciprocal(const tg_tensor *a); /* 1 / a */
tg_tensor *tg_floor(const tg_tensor *a);
tg_tensor *tg_ceil(const tg_tensor *a);
tg_tensor *tg_round(const tg_tensor *a);      /* halves to even: 2.5 -> 2 */

/* In-place forms: out must already have the broadcast shape and the same
 * dtype. out may be a or b itself (same view), not a partial overlap. */
int tg_binary_into(tg_binop op, tg_tensor *out, const tg_tensor *a,
                   const tg_tensor *b);
int tg_binary_scalar_into(tg_binop op, tg_tensor *out, const tg_tensor *a,
                          double s, bool scalar_first);
int tg_unary_into(tg_unop op, tg_tensor *out, const tg_tensor *a);
/* out += alpha * a, a broadcast to out's shape (the optimiser's axpy). */
int tg_axpy_into(tg_tensor *out, double alpha, const tg_tensor *a);

/* ---- Comparisons and selection (any dtypes, NumPy broadcasting) -------- */

typedef enum tg_cmpop {
    TG_CMP_EQ, TG_CMP_NE, TG_CMP_LT, TG_CMP_LE, TG_CMP_GT, TG_CMP_GE,
    TG_CMPOP_COUNT_
} tg_cmpop;

/* A TG_BOOL mask of a op b. Integers compare exactly; with a float operand
 * the values compare as doubles, and NaN compares unequal to everything
 * (so ne is true, the others false), as in NumPy. */
tg_tensor *tg_compare(tg_cmpop op, const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_eq(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_ne(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_lt(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_le(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_gt(const tg_tensor *a, const tg_tensor *b);
tg_tensor *tg_ge(const tg_tensor *a, const tg_tensor *b);
/* The same against a scalar: a op s. */
tg_tensor *tg_compare_scalar(tg_cmpop op, const tg_tensor *a, double s);
/* np.where: a where mask is true, else b. mask must be TG_BOOL; the three
 * broadcast together, and a and b promote (tg_result_type). */
tg_tensor *tg_where(const tg_tensor *mask, const tg_tensor *a, const tg_tensor *b);
/* np.clip: min(max(a, lo), hi), NaN kept; lo > hi gives hi, as NumPy. */
tg_tensor *tg_clamp(const tg_tensor *a, double lo, double hi);
/* a with value where mask is true (torch.masked_fill); mask broadcasts to
 * a's shape, and value must be one of a's dtype. */
tg_tensor *tg_masked_fill(const tg_tensor *a, const tg_tensor *mask, double value);

/* ---- Indexing by integer tensors ------------------------------------------ */
/* Indices are int32 or int64 tensors; negative ones count from the end (as
 * NumPy), anything outside [-n, n) is TG_ERR_INDEX. */

/* np.take(t, index, axis): the slices of t at index along axis; the result
 * has t's shape with that axis replaced by index's shape (an embedding
 * lookup is tg_index_select(weight, 0, ids)). */
tg_tensor *tg_index_select(const tg_tensor *t, int axis, const tg_tensor *index);
/* torch.gather / np.take_along_axis: out[..i..] = t[..index[..i..]..] with
 * the index replacing the coordinate of axis; index has t's rank and is
 * no larger off the axis; the result has index's shape. */
tg_tensor *tg_gather(const tg_tensor *t, int axis, const tg_tensor *index);
/* torch.scatter_add (out of place): t with src[..i..] added at the places
 * gather would read; repeated indices accumulate. */
tg_tensor *tg_scatter_add(const tg_tensor *t, int axis, const tg_tensor *index,
                          const tg_tensor *src);
/* torch.nn.functional.one_hot: index's shape plus an axis of classes, 1 at
 * each index (which must be in [0, classes)), of dtype dt. */
tg_tensor *tg_one_hot(const tg_tensor *index, int64_t classes, tg_dtype dt);

/* ---- Reductions --------------------------------------------------------- */
/* Whole-tensor forms return a 0-d tensor. Axis forms take axis in
 * [-ndim, ndim); keepdims keeps it as size 1. Float sums are pairwise.
 * sum of nothing is 0, mean of nothing NaN; max/argmax of nothing is an
 * error. NaN wins in max/argmax, as in NumPy. argmax returns int64
 * positions whatever the input's dtype, as np.argmax. Of integer and bool
 * tensors: sum is int64 (exact), mean float64, max keeps the dtype. */
tg_tensor *tg_sum(const tg_tensor *t);
tg_tensor *tg_mean(const tg_tensor *t);
tg_tensor *tg_max(const tg_tensor *t);
tg_tensor *tg_argmax(const tg_tensor *t); /* flat C-order index */
tg_tensor *tg_sum_axis(const tg_tensor *t, int axis, bool keepdims);
tg_tensor *tg_mean_axis(const tg_tensor *t, int axis, bool keepdims);
tg_tensor *tg_max_axis(const tg_tensor *t, int axis, bool keepdims);
tg_tensor *tg_argmax_axis(const tg_tensor *t, int axis, bool keepdims);
/* Sums t down to shape (the inverse of broadcasting t from shape). */
tg_tensor *tg_sum_to(const tg_tensor *t, int ndim, const int64_t *shape);
/* In-place forms: out must have the reduced shape and t's dtype. */
int tg_sum_to_into(tg_tensor *out, const tg_tensor *t);
int tg_sum_into(tg_tensor *out, const tg_tensor *t);

/* More reductions (float32 and float64; other dtypes are TG_ERR_DTYPE),
 * each of everything (0-d result), along one axis, or over a set of axes
 * at once: naxes entries of axes, each in [-ndim, ndim) and none twice
 * (TG_ERR_AXIS), as NumPy's axis tuples; the result keeps the other axes
 * in order. naxes 0 reduces nothing, as NumPy's axis=(). Sums and means
 * over several axes equal np.sum / np.mean bit for bit.
 * min/argmin follow np.min/np.argmin (NaN wins; the first minimum); of
 * nothing they are an error. argmin's positions are stored as argmax's
 * are. prod follows np.prod (one product after another in memory order;
 * 1 for nothing). var and std divide by max(count - ddof, 0) as np.var:
 * ddof >= count gives inf or NaN, not an error; ddof must be finite.
 * norm is the vector norm of the values, ord 1 (sum of |x|) or 2 (sqrt of
 * the sum of squares), as torch.linalg.vector_norm; other ords are
 * TG_ERR_VALUE. */
tg_tensor *tg_min(const tg_tensor *t);
tg_tensor *tg_argmin(const tg_tensor *t); /* flat C-order index */
tg_tensor *tg_prod(const tg_tensor *t);
tg_tensor *tg_var(const tg_tensor *t, double ddof);
tg_tensor *tg_std(const tg_tensor *t, double ddof);
tg_tensor *tg_norm(const tg_tensor *t, double ord);
tg_tensor *tg_min_axis(const tg_tensor *t, int axis, bool keepdims);
tg_tensor *tg_argmin_axis(const tg_tensor *t, int axis, bool keepdims);
tg_tensor *tg_prod_axis(const tg_tensor *t, int axis, bool keepdims);
tg_tensor *tg_var_axis(const tg_tensor *t, int axis, double ddof, bool keepdims);
tg_tensor *tg_std_axis(const tg_tensor *t, int axis, double ddof, bool keepdims);
tg_tensor *tg_norm_axis(const tg_tensor *t, int axis, double ord, bool keepdims);
tg_tensor *tg_sum_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims);
tg_tensor *tg_mean_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims);
tg_tensor *tg_max_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims);
tg_tensor *tg_min_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims);
tg_tensor *tg_prod_axes(const tg_tensor *t, int naxes, const int *axes, bool keepdims);
tg_tensor *tg_var_axes(const tg_tensor *t, int naxes, const int *axes, double ddof,
                       bool keepdims);
tg_tensor *tg_std_axes(const tg_tensor *t, int naxes, const int *axes, double ddof,
                       bool keepdims);
tg_tensor *tg_norm_axes(const tg_tensor *t, int naxes, const int *axes, double ord,
                        bool keepdims);
/* np.cumsum along axis (t's shape; one addition after another, in t's
 * dtype). A 0-d tensor has no axis (TG_ERR_AXIS). */
tg_tensor *tg_cumsum(const tg_tensor *t, int axis);

/* ---- Matrix product ----------------------------------------------------- */
/* NumPy's matmul: 2-D x 2-D, 1-D operands promoted (and the added axis
 * dropped), batch axes broadcast. Uses CBLAS when built with it. */
tg_tensor *tg_matmul(const tg_tensor *a, const tg_tensor *b);
int tg_matmul_into(tg_tensor *out, const tg_tensor *a, const tg_tensor *b);
/* Whether this build has CBLAS, and a switch to force the portable kernel
 * (on = false) for comparisons: it turns off CBLAS and the AVX-512 float32
 * kernel (tensor/sgemm_avx512.c) alike. */
bool tg_blas_available(void);
void tg_use_blas(bool on);

/* ---- Threads ------------------------------------------------------------- */
/* The intra-op thread count: large elementwise ops, sums, optimiser
 * updates and products on tapegrad's own kernels (docs/tensor.md,
 * Threads) are split over this many threads (the caller and n - 1 pool
 * threads, made at the first large op; between ops they poll for about
 * 50 microseconds, then sleep). Results
 * do not depend on it: each value is computed by the same operations in
 * any thread, and sums add NumPy's blocks in order. 1 (the default)
 * makes no thread. TG_NUM_THREADS in the environment sets the count
 * before the first call (a value outside [1, 64] is ignored). n outside
 * [1, 64] is TG_ERR_VALUE. OpenBLAS keeps its own count
 * (OPENBLAS_NUM_THREADS) and its products are not split. */
int tg_set_num_threads(int n);
int tg_get_num_threads(void);

/* ---- Printing ------------------------------------------------------------ */
/* Writes t like print(repr(a)) in NumPy, e.g. "array([[1., 2.],\n       [3., 4.]])"
 * followed by a newline. */
int tg_print(const tg_tensor *t, FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* TG_TENSOR_H */
