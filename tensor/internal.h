/* internal.h - what tensor/ shares with its own files and with autograd/:
 * the tensor layout, error reporting, the allocator and the arena.
 * Not installed; nothing here is part of the public contract. */
#ifndef TG_TENSOR_INTERNAL_H
#define TG_TENSOR_INTERNAL_H

#include <stdarg.h>
#include <string.h>

#include "tensor.h"

/* Storage shared by a tensor and its views. Heap storages are reference
 * counted (refs = number of tensor headers); arena storages have refs 0 and
 * die with their arena. version grows with every in-place write so that the
 * tape can tell that an input changed after it was recorded. */
typedef struct tg__storage {
    void *data;
    size_t nbytes;
    int64_t refs;
    uint64_t version;
} tg__storage;

enum {
    TG__ARENA = 1u,    /* header and storage belong to an arena */
    TG__NEW_GRAD = 2u, /* autograd: .grad made by the backward in progress */
    TG__GRAD_VIEW = 4u, /* a tensor.h view of a tensor that requires a
                           gradient: the tape refuses it as an input, since
                           no gradient could flow back through it */
    TG__SPLIT_GRAD = 8u, /* autograd: a gradient that split's plain rule made
                            and the pieces of one split write into */
    TG__HOOKED = 16u /* autograd: a leaf tg_backward_hooked reports on */
};

struct tg_tensor {
    tg_dtype dtype;
    int ndim;
    int64_t shape[TG_MAX_DIMS];   /* entries past ndim are unspecified */
    int64_t strides[TG_MAX_DIMS]; /* in elements, may be 0 or negative */
    int64_t offset;               /* in elements */
    int64_t numel;
    tg__storage *storage;
    unsigned flags;
    /* Autograd's fields; tensor/ only initialises them. */
    bool requires_grad;
    tg_tensor *grad;  /* same shape and dtype, owned by whoever owns this */
    void *node;       /* the tape record that produced this tensor, or NULL */
    uint64_t tape_id; /* which tape generation produced it (0: none) */
    char name[TG_NAME_MAX]; /* tg_set_name's label, "" when unnamed; views
                               and copies start unnamed */
};

/* The thread pool (parallel.c): fn(ctx, begin, end) over disjoint ranges
 * covering [0, n), each a multiple of grain long but the last, on the
 * pool's threads and the caller; returns when all are done. With one
 * thread (the default), n < 2 grain, or from inside a region, it is
 * fn(ctx, 0, n). Work must not depend on how [0, n) is cut. Kernels call
 * it only for at least TG__PAR_MIN elements, where waking the threads is
 * small against the work. */
typedef void (*tg__range_fn)(void *ctx, int64_t begin, int64_t end);
void tg__parallel_for(int64_t n, int64_t grain, tg__range_fn fn, void *ctx);
#define TG__PAR_MIN ((int64_t)1 << 15)

/* Keeps a rarely taken path out of a hot function. */
#if defined(__GNUC__)
#define TG_NOINLINE __attribute__((noinline))
#else
#define TG_NOINLINE
#endif

/* Hot loops are compiled twice, for the baseline ISA and for AVX2, and the
 * loader picks one at run time: the default build stays portable. Both
 * clones do the same IEEE operations (no FMA contraction under -std=c11),
 * so results do not depend on the machine. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&        \
    !defined(__SANITIZE_ADDRESS__) && !defined(TG_NO_CLONES)
#define TG_CLONES __attribute__((target_clones("avx2", "default")))
/* The same with an AVX-512 clone too, for loops without reductions
 * (elementwise, activations and their gradients, softmax's lines, Adam),
 * where the wider lanes pay: the float32 gelu and its gradient run at nearly
 * twice the AVX2 speed, and the chapter's eager step, whose float64 loops
 * are 100 elements long, 10% faster. No reduction is cloned this way: a
 * sum's order, and so its rounding, would then depend on the machine. */
#define TG_CLONES_512 __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TG_CLONES
#define TG_CLONES_512
#endif

/* o[i*so] = EXPR of x = a[i*sa] for i < n, the unit-stride case apart so
 * that it vectorises (elementwise.c's unary kernels, functions.c's). */
#define TG__LOOP1(T, EXPR)                                                     \
    do {                                                                       \
        if (sa == 1 && so == 1) {                                              \
            for (int64_t i = 0; i < n; i++) {                                  \
                T x = a[i];                                                    \
                o[i] = (T)(EXPR);                                              \
            }                                                                  \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++) {                                  \
                T x = a[i * sa];                                               \
                o[i * so] = (T)(EXPR);                                         \
            }                                                                  \
        }                                                                      \
    } while (0)

/* ---- float32 kernels that vectorise (gelu, softmax) ---- */

/* Bits of floats, for choosing between two of them by a mask: GCC will
 * not turn a choice between computed floats into a vector blend while
 * floating-point exceptions may trap (no -ffast-math here), and the loops
 * around these functions would stay scalar. */
static inline int32_t tg__bits_f(float x)
{
    int32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static inline float tg__from_bits_f(int32_t b)
{
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* m ? a : b for a mask m of all ones or all zeros. */
static inline float tg__choose_f(int32_t m, float a, float b)
{
    return tg__from_bits_f((tg__bits_f(a) & m) | (tg__bits_f(b) & ~m));
}

/* e^x for x <= 0 (or a little above) in float32, without branches so that
 * the loops around it vectorise (libm's expf is a call per element):
 * x = n ln2 + r with |r| <= ln2/2 (n rounded by adding and subtracting
 * 1.5 * 2^23, which rounds to nearest), e^r by its Taylor polynomial to
 * r^6 (relative error below 2e-7), times 2^n built in the exponent bits.
 * Below -87 the result (under 2^-125) is 0, above 88 it is e^88; NaN
 * stays NaN (and never reaches the conversion to an integer). */
static inline float tg__exp_nonpos_f(float x)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    int32_t below = -(int32_t)(x < -87.0f), nan = -(int32_t)(x != x);
    float xc = tg__choose_f(below | nan, -87.0f, x);
    xc = tg__choose_f(-(int32_t)(xc > 88.0f), 88.0f, xc);
    float n = (xc * 1.44269504088896341f + shifter) - shifter;
    float r = xc - n * 0.693145751953125f; /* ln2, high bits: n * this is exact */
    r = r - n * 1.428606765330187045e-06f; /* ln2, low bits */
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    float e = p * tg__from_bits_f(((int32_t)n + 127) * (1 << 23));
    e = tg__from_bits_f(tg__bits_f(e) & ~below);
    return tg__choose_f(nan, x, e);
}

/* ---- errors: each returns code, after formatting "fn: message" ---- */
int tg__fail(int code, const char *fn, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int tg__oom(const char *fn);
/* "fn: path: message" (or "fn: message" when path is NULL): for loaders. */
int tg__vfail_at(int code, const char *fn, const char *path, const char *fmt,
                 va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 0)))
#endif
    ;

/* ---- allocator (every allocation goes through the installed one) ---- */
void *tg__alloc(size_t n);
void tg__dealloc(void *p, size_t n);
void *tg__realloc(void *p, size_t osize, size_t nsize);

/* ---- arithmetic on sizes ---- */
/* Checks the shape (ndim in [0, 8], sizes >= 0) and that its element count
 * and byte size fit; stores the count. Reports errors under fn. */
int tg__check_shape(const char *fn, int ndim, const int64_t *shape,
                    tg_dtype dt, int64_t *numel);
/* a * b into *out, or true when it overflows (sizes are never negative). */
static inline bool tg__mul_overflows(int64_t a, int64_t b, int64_t *out)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_mul_overflow(a, b, out);
#else
    if (a != 0 && b > INT64_MAX / a)
        return true;
    *out = a * b;
    return false;
#endif
}
/* Refuses a destination that repeats elements (a broadcast view: stride 0
 * on an axis of size > 1), where a write would land on one element many
 * times: TG_ERR_VALUE under fn, what naming the argument ("out"). Every
 * public function that writes into a caller's tensor checks this. */
int tg__check_writable(const char *fn, const char *what, const tg_tensor *t);
/* The cast to suggest in a dtype error under fn: tg_ad_cast for the tape's
 * ops (tg_ad_*), where a tg_cast result would leave the tape, else tg_cast. */
static inline const char *tg__cast_hint(const char *fn)
{
    const char *p = "tg_ad_";
    while (*p && *fn == *p) {
        p++;
        fn++;
    }
    return *p ? "tg_cast" : "tg_ad_cast";
}
/* Normalises axis in [-ndim, ndim) into [0, ndim); error under fn. */
int tg__axis(const char *fn, int axis, int ndim, int *out);
bool tg__valid_dtype(tg_dtype dt);
/* "(3,4)" for a shape; TG__SHAPE_BUF holds any shape of 8 int64 sizes. */
#define TG__SHAPE_BUF 200
char *tg__shape_fmt(int ndim, const int64_t *shape, char *buf, size_t n);

/* ---- headers ---- */
/* Sets C-order strides, offset 0, numel, and clears the autograd fields.
 * Does not touch storage or flags. Entries past ndim are left as they are
 * (never read). */
static inline void tg__init_header(tg_tensor *t, tg_dtype dt, int ndim,
                                   const int64_t *shape)
{
    t->dtype = dt;
    t->ndim = ndim;
    int64_t s = 1, n = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        int64_t d = shape[k];
        t->shape[k] = d;
        t->strides[k] = s;
        s *= d ? d : 1;
        n *= d;
    }
    t->numel = n;
    t->offset = 0;
    t->requires_grad = false;
    t->grad = NULL;
    t->node = NULL;
    t->tape_id = 0;
    t->name[0] = '\0';
}
/* A heap tensor with fresh storage of the given shape (contents undefined). */
tg_tensor *tg__new(const char *fn, tg_dtype dt, int ndim, const int64_t *shape);
/* A fresh contiguous copy of t (tg_clone), its errors under fn. */
tg_tensor *tg__clone(const char *fn, const tg_tensor *t);
/* A heap header that views view->storage (refs incremented). */
tg_tensor *tg__heap_view(const char *fn, const tg_tensor *view);
static inline bool tg__same_shape(const tg_tensor *a, const tg_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int k = 0; k < a->ndim; k++)
        if (a->shape[k] != b->shape[k])
            return false;
    return true;
}
/* Inline forms of tg_is_contiguous / tg_data for the kernels' hot paths. */
static inline size_t tg__dsize(tg_dtype dt)
{
    return dt == TG_FLOAT64 || dt == TG_INT64 ? 8 : dt >= TG_UINT8 ? 1 : 4;
}
static inline bool tg__contiguous(const tg_tensor *t)
{
    if (t->ndim == 1) /* the common case, without the loop */
        return t->strides[0] == 1 || t->shape[0] <= 1;
    int64_t s = 1;
    for (int k = t->ndim - 1; k >= 0; k--) {
        if (t->shape[k] != 1 && t->strides[k] != s)
            return t->numel == 0;
        s *= t->shape[k];
    }
    return true;
}
static inline void *tg__data(const tg_tensor *t)
{
    return (char *)t->storage->data +
           (size_t)t->offset * tg__dsize(t->dtype);
}
/* ---- The kernel trace (trace.c) ------------------------------------------
 * While tg_capture (autograd/plan.c) records a step, the traced entry
 * points append one tg__step each: the function that runs the kernel and a
 * copy of its arguments, tensor headers included (a header may be a
 * caller's temporary; the storage it points to must outlive the plan).
 * A traced entry point wraps its body in TG__TRACED, which records the
 * step and switches the trace off while the body runs, so the kernels it
 * calls are not recorded twice. Only the capturing thread traces. */
typedef struct tg__step tg__step;
typedef int (*tg__step_fn)(tg__step *e); /* TG_OK or an error */
/* What a step's kernel is, for the fusion pass (fuse.c): the element-wise
 * kernels and whole sums it can run tile by tile, fills it can move; any
 * other step is opaque to it. */
enum {
    TG__STEP_OTHER = 0,
    TG__STEP_BINARY, /* out = op(a, b), s the scalar of the TG__OP_* codes */
    TG__STEP_UNARY,  /* out = op(a) */
    TG__STEP_SCALAR, /* out = a op s (s op a when flag) */
    TG__STEP_SUM,    /* out = sum of a (a sum along one axis is kept as
                        SUM too; fuse.c takes only out of one element) */
    TG__STEP_FILL    /* out = s */
};
struct tg__step {
    tg__step_fn run;
    int kind; /* TG__STEP_* */
    const char *fn; /* the entry point, for the messages of a replay */
    int op;
    double s;
    bool flag;
    tg_tensor out, a, b, c;     /* copies of the headers (unused: zeroed) */
    void *ptr;                  /* an object the step acts on (an optimiser, a
                                   generator), or a work buffer */
    int64_t i[2];
    bool c_written;             /* c is a second result (max pooling's
                                   positions), not an operand */
    int64_t geo[18];            /* the geometry of a convolution or a pooling */
};
typedef struct tg__trace tg__trace;
/* Read by every kernel and op: the initial-exec model keeps each read one
 * instruction in the shared library too (the general model would call
 * __tls_get_addr every time). */
#if defined(__GNUC__)
#define TG__TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define TG__TLS_MODEL
#endif
extern _Thread_local tg__trace *tg__tracing TG__TLS_MODEL;
/* Appends e to the trace (a failure is kept in the trace and reported when
 * the capture ends) and switches tracing off; returns the trace to give to
 * tg__trace_resume. */
tg__trace *tg__trace_enter(tg__step *e);
static inline void tg__trace_resume(tg__trace *tr)
{
    if (tr)
        tg__tracing = tr;
}
/* Records step { run, fields... } when tracing, then runs body untraced. */
#define TG__TRACED(body, ...)                                                    \
    do {                                                                         \
        tg__trace *tr_ = tg__tracing ? tg__trace_enter(&(tg__step){__VA_ARGS__}) \
                                     : NULL;                                     \
        body;                                                                    \
        tg__trace_resume(tr_);                                                   \
    } while (0)
/* The same for a body that returns a code into rc: a failure fails the
 * capture too (a plan holds only steps that succeeded). */
#define TG__TRACED_RC(rc, body, ...)                                             \
    do {                                                                         \
        tg__trace *tr_ = tg__tracing ? tg__trace_enter(&(tg__step){__VA_ARGS__}) \
                                     : NULL;                                     \
        rc = (body);                                                             \
        tg__trace_resume(tr_);                                                   \
        if (rc != TG_OK && tr_)                                                  \
            tg__trace_refuse("tg_capture_end", "an op of the step failed");      \
    } while (0)
/* Fails the capture in progress, if any: fn did something a plan cannot
 * repeat (why says what). */
void tg__trace_refuse(const char *fn, const char *why);
/* Hooks of the functions that make tensors and write into them in place:
 * a new tensor's storage, and an in-place write, while tracing. */
void tg__trace_made(const char *fn, const tg_tensor *t, bool arena);
void tg__trace_touch(const tg_tensor *t);
/* A caller-owned tensor a traced step reads or writes (an op's input, a
 * tensor given to a public in-place function): the plan checks on each
 * replay that it still has the shape, dtype and storage it had. */
void tg__trace_input(const tg_tensor *t);
/* The same for up to three tensors of a public in-place function (NULL:
 * none); nothing when not tracing. */
static inline void tg__trace_inputs(const tg_tensor *a, const tg_tensor *b,
                                    const tg_tensor *c)
{
    if (!tg__tracing)
        return;
    if (a)
        tg__trace_input(a);
    if (b)
        tg__trace_input(b);
    if (c)
        tg__trace_input(c);
}
/* Switches tracing off for code whose work the plan must not repeat (a
 * .grad allocated and zeroed on the first backward); returns what to give
 * tg__trace_resume. */
static inline tg__trace *tg__trace_pause(void)
{
    tg__trace *tr = tg__tracing;
    tg__tracing = NULL;
    return tr;
}

/* What a trace holds; autograd/plan.c turns it into a plan. */
typedef struct tg__trace_mark {
    const tg__storage *storage;
    size_t at;      /* steps recorded when it happened */
    const char *fn; /* the function that made the tensor (made only) */
} tg__trace_mark;
struct tg__trace {
    tg__step *steps;
    size_t n, cap;
    tg__trace_mark *made; /* storages made while tracing (arena ones) */
    size_t nmade, capmade;
    tg__trace_mark *touched; /* in-place writes seen while tracing */
    size_t ntouched, captouched;
    const tg_tensor **inputs; /* distinct caller-owned tensors */
    size_t ninputs, capinputs;
    bool nomem;
    const char *refused; /* the first function that cannot be captured */
    char why[160];
};
/* Starts tracing into tr (zeroed); tg__trace_stop stops it. */
void tg__trace_start(tg__trace *tr);
void tg__trace_stop(void);
/* Checks what the trace saw: TG_OK, or an error under fn saying what
 * cannot be replayed (an allocation failure, a refused function, a heap
 * tensor made during the step, a tensor written by code no step repeats). */
int tg__trace_check(const tg__trace *tr, const char *fn);
/* Frees the trace's lists (not tr itself). */
void tg__trace_release(tg__trace *tr);

/* ---- Fusion of a trace's steps (fuse.c) ------------------------------------
 * Runs of element-wise steps over the same n contiguous elements (and whole
 * sums of such arrays) become one pass over the data in tiles: each tile
 * goes through every step of the run while it is in cache. Intermediates
 * that only the run reads live in a tile-sized scratch and never reach
 * memory, unless their storage is in keep. Element-wise results are the
 * steps' own bit for bit; a sum is added tile by tile, in another order. */
typedef struct tg__fused tg__fused;
typedef struct tg__fused_stats {
    size_t groups;        /* fused runs */
    size_t members;       /* steps inside them */
    size_t scratch_bytes; /* tile buffers */
    size_t bytes;         /* everything the program holds */
} tg__fused_stats;
/* The program for steps[0..n) (which must outlive it); NULL with the error
 * set (under fn) if out of memory. */
tg__fused *tg__fuse(const char *fn, tg__step *steps, size_t n,
                    const tg__storage *const *keep, size_t nkeep);
/* Runs the program: TG_OK or the first failing step's code. */
int tg__fused_run(tg__fused *f);
void tg__fused_get_stats(const tg__fused *f, tg__fused_stats *st);
void tg__fused_free(tg__fused *f);

/* Marks an in-place write to t's storage. */
static inline void tg__touch(tg_tensor *t)
{
    if (tg__tracing)
        tg__trace_touch(t);
    t->storage->version++;
}

/* View builders: fill *out (a header copy of t with new geometry, same
 * storage, no reference taken). Return TG_OK or an error under fn. */
int tg__make_reshape(const char *fn, const tg_tensor *t, int ndim,
                     const int64_t *shape, tg_tensor *out, bool *is_view);
int tg__make_permute(const char *fn, const tg_tensor *t, const int *axes,
                     tg_tensor *out);
int tg__make_transpose(const char *fn, const tg_tensor *t, int a0, int a1,
                       tg_tensor *out);
int tg__make_slice(const char *fn, const tg_tensor *t, int axis, int64_t start,
                   int64_t stop, int64_t step, tg_tensor *out);
int tg__make_expand(const char *fn, const tg_tensor *t, int ndim,
                    const int64_t *shape, tg_tensor *out);

/* ---- conv.c: 2-d convolution over contiguous NCHW arrays ---- */
/* The geometry of one convolution y = conv(x, w): x (n, c, h, w), w (o,
 * c/groups, kh, kw), y (n, o, oh, ow); ph, pw the zeros before the first
 * row and column (those after are implied by oh, ow). */
typedef struct tg__conv {
    int64_t n, c, h, w;
    int64_t o, kh, kw;
    int64_t oh, ow;
    int64_t sh, sw, ph, pw, dh, dw, groups;
} tg__conv;
/* Elements of one sample's columns buffer (taps x positions; 0 for a 1x1
 * kernel read in place). */
int64_t tg__conv_cols(const tg__conv *g);
/* Elements of the work buffer the kernels below need: a columns buffer per
 * slot of samples, and for the weight gradient a partial sum per slot
 * (conv.c says how samples are cut into slots for the thread pool); -1 if
 * the count overflows. It depends on the number of threads. */
int64_t tg__conv_work(const tg__conv *g, bool weight_grad);
/* y = conv(x, w) + bias (bias (o,) or NULL). */
void tg__conv_forward(tg_dtype dt, const tg__conv *g, void *y, const void *x,
                      const void *w, const void *bias, void *work);
/* dx = the gradient of sum(gy * conv(x, w)) in x (conv_transpose2d). */
void tg__conv_input_grad(tg_dtype dt, const tg__conv *g, void *dx, const void *gy,
                         const void *w, void *work);
/* dw = the gradient of sum(gy * conv(x, w)) in w: the same bits for any
 * number of threads. */
void tg__conv_weight_grad(tg_dtype dt, const tg__conv *g, void *dw, const void *x,
                          const void *gy, void *work);

/* ---- join.c: joining and reordering, shared with autograd/join.c ---- */
/* Each *_shape checks the arguments under fn and gives the result's
 * shape; each *_into fills a fresh result of that shape (any dtype: the
 * elements move with tg__copy). */
/* concat (stack: along a new axis) of ts[0..n): n > 0, one dtype, equal
 * shapes off the axis (stack: equal shapes); *k the axis normalised. A NULL
 * entry returns TG_ERR_NULL without a message (NULL propagates). */
int tg__join_shape(const char *fn, int n, const tg_tensor *const *ts, int axis,
                   bool stack, int *k, int *ndim, int64_t *shape);
int tg__join_into(const char *fn, tg_tensor *out, int n,
                  const tg_tensor *const *ts, int k, bool stack);
/* The start of every split: out and n checked, out[0..n-1] set to NULL,
 * then TG_ERR_NULL without a new message when t is NULL (an earlier
 * failure). */
int tg__split_start(const char *fn, const tg_tensor *t, int n, tg_tensor **out);
/* split of t along axis into n pieces of sizes[i] (chunk: into n
 * near-equal pieces, tg__piece_size, sizes ignored); *k the axis
 * normalised. */
int tg__split_check(const char *fn, const tg_tensor *t, int axis, int n,
                    const int64_t *sizes, bool chunk, int *k);
/* Piece i of a split of total elements: sizes[i], or for a chunk into n
 * (sizes NULL) np.array_split's: the first total % n pieces one longer. */
static inline int64_t tg__piece_size(int64_t total, int n, const int64_t *sizes,
                                     int i)
{
    return sizes ? sizes[i] : total / n + (i < total % n ? 1 : 0);
}
/* pad: widths holds (before, after) for each axis in order (2 * ndim);
 * value must be one of t's dtype. */
int tg__pad_shape(const char *fn, const tg_tensor *t, const int64_t *widths,
                  double value, int64_t *shape);
int tg__pad_into(const char *fn, tg_tensor *out, const tg_tensor *t,
                 const int64_t *widths, double value);
/* np.tile: *ndim is max(t->ndim, n); the repetitions come from the shapes. */
int tg__tile_shape(const char *fn, const tg_tensor *t, int n,
                   const int64_t *reps, int *ndim, int64_t *shape);
int tg__tile_into(const char *fn, tg_tensor *out, const tg_tensor *t);
/* np.repeat(t, repeats, axis); *k the axis normalised. */
int tg__repeat_shape(const char *fn, const tg_tensor *t, int axis,
                     int64_t repeats, int *k, int64_t *shape);
int tg__repeat_into(const char *fn, tg_tensor *out, const tg_tensor *t, int k,
                    int64_t repeats);

/* ---- kernels writing into an existing tensor, errors under fn ---- */
int tg__broadcast_shape(const char *fn, const tg_tensor *a, const tg_tensor *b,
                        int *ndim, int64_t *shape);
int tg__binary(const char *fn, tg_binop op, tg_tensor *out, const tg_tensor *a,
               const tg_tensor *b);
/* Binary ops for internal use only, after the public tg_binop codes. The
 * fused ones are the backward rules of the tape's ops, each the same IEEE
 * operations in the same order as the rule written with separate ops, so
 * the results are equal bit for bit (x is the incoming gradient). */
enum {
    TG__OP_AXPY = TG_BINOP_COUNT_, /* x + s y (x is out) */
    TG__OP_MUL_SCALED,             /* x (y s): pow(a, 2), a * a */
    TG__OP_DIV_SCALED,             /* x / (y s): sqrt, y the result */
    TG__OP_MUL_STEP,               /* x (y > 0 ? 1 : 0): relu */
    TG__OP_TANH_GRAD,              /* x (1 - y y), y the result */
    TG__OP_SIGMOID_GRAD            /* x (y (1 - y)), y the result */
};
/* The element-wise loops on n contiguous elements of out (o), operands
 * at stride sa, sb (0: a scalar, 1: contiguous), dtype dt: what the
 * kernels below run on each stretch, for fuse.c's tiles. */
void tg__span_binary(int op, double s, tg_dtype dt, int64_t n, const void *a, int64_t sa,
                     const void *b, int64_t sb, void *o);
void tg__span_unary(int op, tg_dtype dt, int64_t n, const void *a, int64_t sa, void *o);
/* The kernels alone, for callers that made out themselves with the right
 * shape and dtype and checked the operands (the tape's ops, the backward
 * walk): out = op(a, b) for a tg_binop or one of the codes above, s the
 * scalar of those that take one. */
void tg__binary_kernel(int op, double s, tg_tensor *out, const tg_tensor *a,
                       const tg_tensor *b);
void tg__unary_kernel(tg_unop op, tg_tensor *out, const tg_tensor *a);
/* out = a op s (s op a when scalar_first); out has a's shape and dtype. */
void tg__scalar_kernel(tg_binop op, tg_tensor *out, const tg_tensor *a, double s,
                       bool scalar_first);
int tg__binary_scalar(const char *fn, tg_binop op, tg_tensor *out,
                      const tg_tensor *a, double s, bool scalar_first);
int tg__unary(const char *fn, tg_unop op, tg_tensor *out, const tg_tensor *a);
int tg__copy(const char *fn, tg_tensor *dst, const tg_tensor *src);
/* out = t converted to out's dtype; same shape. */
int tg__cast_into(const char *fn, tg_tensor *out, const tg_tensor *t);
/* out += alpha a (a broadcasts to out); unchecked as
 * tg__binary_kernel(TG__OP_AXPY, alpha, out, out, a). */
int tg__axpy(const char *fn, tg_tensor *out, double alpha, const tg_tensor *a);
/* Reduced shape of t along axis (axis already normalised). */
void tg__reduced_shape(const tg_tensor *t, int axis, bool keepdims, int *ndim,
                       int64_t *shape);
/* kind: 0 sum, 1 mean, 2 max (tg__argmax_positions for the arg-max).
 * axis < 0 reduces everything. */
int tg__reduce(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
               int axis);
/* The positions of the first maximum of t along axis (of everything, as a
 * flat C-order index, when axis < 0; axis already normalised), one per
 * result element in C order; pos holds that many. Integers: no index is
 * ever rounded, whatever t's dtype. Error under fn when t is empty there. */
int tg__argmax_positions(const char *fn, const tg_tensor *t, int axis,
                         int64_t *pos);
int tg__sum_to(const char *fn, tg_tensor *out, const tg_tensor *t);
/* reduce.c's machinery for reduce_more.c. rs holds one result stride per
 * axis of t: C order over the kept axes, 0 along the reduced ones. */
/* A sum (0), mean (1, divided by count) or max (2) of t into out, of the
 * reduced shape, in NumPy's order: the values np.sum gives. */
int tg__reduce_strided(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
                       const int64_t *rs, int64_t count);
/* One innermost run of a reduction: n values of the input from storage
 * position x at stride xs, into results from position r (C order) at
 * stride rs, 0 when the run is reduced. */
typedef void (*tg__row_fn)(void *ctx, int64_t x, int64_t r, int64_t n,
                           int64_t xs, int64_t rs);
/* Calls row for every run of t (not empty) in the order NumPy's reduction
 * visits them (memory order), so a kernel that combines values one after
 * another (a product) combines them in NumPy's order. */
void tg__reduce_rows(const tg_tensor *t, const int64_t *rs, tg__row_fn row, void *ctx);
/* tg_argmax (all) or tg_argmax_axis, errors under fn. */
tg_tensor *tg__argmax_new(const char *fn, const tg_tensor *t, bool all, int axis,
                          bool keepdims);

/* ---- reductions over a set of axes (reduce_more.c) ---- */
/* The kinds; the first three are tg__reduce's. */
enum {
    TG__RED_SUM, TG__RED_MEAN, TG__RED_MAX, TG__RED_MIN, TG__RED_PROD,
    TG__RED_VAR, TG__RED_STD, TG__RED_NORM1, TG__RED_NORM2
};
/* The set of naxes axes (each in [-ndim, ndim), none twice) as a mask: bit
 * k for axis k. Errors under fn. */
int tg__axes_mask(const char *fn, int ndim, int naxes, const int *axes,
                  unsigned *mask);
/* Every axis of t: the whole-tensor reduction. */
static inline unsigned tg__all_axes(const tg_tensor *t)
{
    return (1u << t->ndim) - 1u;
}
/* The shape of a reduction of t over mask: those axes 1 or dropped. */
void tg__mask_shape(const tg_tensor *t, unsigned mask, bool keepdims, int *ndim,
                    int64_t *shape);
/* Checks t's dtype and the parameter p of kind (var/std: ddof, finite;
 * norms: ord 1 or 2, which picks NORM1 or NORM2 in *kind). */
int tg__reduce_check(const char *fn, int *kind, const tg_tensor *t, double p);
/* kind of t over mask into out: fresh, contiguous, t's dtype, the reduced
 * shape. p is var/std's ddof. A min or max of nothing is an error. */
int tg__reduce_mask(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
                    unsigned mask, double p);
/* out = the running sums of t along axis, from its end when reverse (the
 * adjoint); out fresh and contiguous with t's shape and dtype. */
void tg__cumsum(tg_tensor *out, const tg_tensor *t, int axis, bool reverse);
/* The shape of matmul(a, b); error under fn when they do not fit. */
int tg__matmul_shape(const char *fn, const tg_tensor *a, const tg_tensor *b,
                     int *ndim, int64_t *shape);
int tg__matmul(const char *fn, tg_tensor *out, const tg_tensor *a,
               const tg_tensor *b);
/* C = alpha * op(A) op(B) + beta * C on raw row-major matrices. trans_a means
 * A is stored K x M (lda its row stride); likewise trans_b. */
void tg__gemm(tg_dtype dt, bool trans_a, bool trans_b, int64_t m, int64_t n,
              int64_t k, double alpha, const void *a, int64_t lda,
              const void *b, int64_t ldb, double beta, void *c, int64_t ldc);
/* The portable kernel alone, for tests and for builds without BLAS. */
void tg__gemm_portable(tg_dtype dt, bool trans_a, bool trans_b, int64_t m,
                       int64_t n, int64_t k, double alpha, const void *a,
                       int64_t lda, const void *b, int64_t ldb, double beta,
                       void *c, int64_t ldc);

/* ---- any dtype (generic.c): exact, one walk, slower than the float kernels ---- */
/* dst = src for any dtype, src broadcast to dst's shape (checked). */
void tg__copy_any(tg_tensor *dst, const tg_tensor *src);
/* out = a op b for integer or bool operands already of out's dtype. */
int tg__int_binary(const char *fn, int op, tg_tensor *out, const tg_tensor *a,
                   const tg_tensor *b);
/* out = op(a), a and out of the same integer or bool dtype (neg abs sign
 * relu step). */
int tg__int_unary(const char *fn, tg_unop op, tg_tensor *out, const tg_tensor *a);
/* out (bool) = a op b, any dtypes. */
void tg__compare(tg_cmpop op, tg_tensor *out, const tg_tensor *a,
                 const tg_tensor *b);
/* out = mask ? a : b; a, b of out's dtype, mask bool, all broadcast. */
void tg__where(tg_tensor *out, const tg_tensor *mask, const tg_tensor *a,
               const tg_tensor *b);
/* The dtype a op b computes in (tg_result_type; a float one for an integer
 * division). */
tg_dtype tg__op_dtype(tg_binop op, tg_dtype a, tg_dtype b);
/* out = a op b with a and b converted to out's dtype first. */
int tg__binary_any(const char *fn, tg_binop op, tg_tensor *out, const tg_tensor *a,
                   const tg_tensor *b);
/* New results of mixed or integer operands, promoted as NumPy does. */
tg_tensor *tg__binary_new_any(const char *fn, tg_binop op, const tg_tensor *a,
                              const tg_tensor *b);
tg_tensor *tg__scalar_new_any(const char *fn, tg_binop op, const tg_tensor *a,
                              double s, bool scalar_first);
tg_tensor *tg__unary_new_any(const char *fn, tg_unop op, const tg_tensor *a);
/* A sum (kind 0, into int64), max (2, into t's dtype) or arg-max (3, into
 * int64) of an integer or bool t, along axis or of everything (axis < 0);
 * out is fresh and contiguous, and t is not empty along the axis. */
int tg__int_reduce(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
                   int axis);
/* ---- indexing (gather.c) ---- */
/* index is int32/int64 with every value in [-n, n). */
int tg__check_index(const char *fn, const tg_tensor *index, int64_t n);
/* The shape of index_select(t, axis, index) (axis normalised). */
int tg__index_select_shape(const char *fn, const tg_tensor *t, int axis,
                           const tg_tensor *index, int *nd, int64_t *shape);
/* Moves between big and its selection small along axis by index: small =
 * big[index] (to_small), else big[index] = small or += small (add). */
void tg__index_move(tg_tensor *big, int axis, const tg_tensor *index,
                    tg_tensor *small, bool to_small, bool add);
/* index fits a gather from t along axis (same rank, not larger). */
int tg__check_gather(const char *fn, const tg_tensor *t, int axis,
                     const tg_tensor *index);
/* The same for gather / scatter(_add): small has index's shape. */
void tg__gather_move(tg_tensor *big, int axis, const tg_tensor *index,
                     tg_tensor *small, bool to_small, bool add);
/* out = clamp(a, lo, hi) (np.clip), out of a's shape and dtype. */
void tg__clamp_into(tg_tensor *out, const tg_tensor *a, double lo, double hi);
/* TG_ERR_VALUE for a NaN bound. */
int tg__check_clamp(const char *fn, double lo, double hi);
/* mask (bool, a's shape) = lo <= a <= hi, false where a is NaN. */
void tg__clamp_mask(tg_tensor *mask, const tg_tensor *a, double lo, double hi);
/* TG_ERR_DTYPE unless mask is bool. */
int tg__check_mask(const char *fn, const tg_tensor *mask);
/* The shape a, b and c broadcast to. */
int tg__broadcast3(const char *fn, const tg_tensor *a, const tg_tensor *b,
                   const tg_tensor *c, int *nd, int64_t *shape);

/* ---- pooling (pool.c): NCHW, float32/float64, inputs of any strides ---- */
/* A pooling window's geometry: kernel, stride, padding per axis (height,
 * width). An adaptive pool has none (its windows follow from the sizes). */
typedef struct tg__pool2d {
    int64_t kernel[2], stride[2], padding[2];
} tg__pool2d;
/* Checks x (float, 4-d, height and width > 0) and the arguments under fn
 * (kernel not NULL, > 0; stride NULL = kernel, > 0; padding NULL = 0, in
 * [0, kernel/2]; the kernel within the padded input); fills *p and the
 * result's shape (N, C, OH, OW), floor mode. */
int tg__pool2d_shape(const char *fn, const tg_tensor *x, const int64_t *kernel,
                     const int64_t *stride, const int64_t *padding, tg__pool2d *p,
                     int64_t *shape);
/* The same for an adaptive pool to (oh, ow), both > 0. */
int tg__adaptive_pool2d_shape(const char *fn, const tg_tensor *x, int64_t oh,
                              int64_t ow, int64_t *shape);
/* out (fresh, (N,C,OH,OW)) = the maximum of each window of x, pos (int32
 * when a plane has fewer than 2^31 elements, else int64; out's shape, or
 * NULL) its position h*W + w in its plane: PyTorch's
 * choice, the first maximum in row-major order unless NaNs are present,
 * then the last NaN. */
void tg__max_pool2d_kernel(tg_tensor *out, tg_tensor *pos, const tg_tensor *x,
                           const tg__pool2d *p);
/* out (fresh, (N,C,H,W)) = zeros with g (pos's shape) added at pos (the
 * max pool's adjoint); gather: out (pos's shape) = t (N,C,H,W) at pos. */
void tg__max_pool2d_scatter(tg_tensor *out, const tg_tensor *g, const tg_tensor *pos);
void tg__max_pool2d_gather(tg_tensor *out, const tg_tensor *t, const tg_tensor *pos);
/* Window means (p NULL: adaptive windows [floor(i H/OH), ceil((i+1) H/OH)),
 * else count_include_pad windows of kernel[0] * kernel[1]). adjoint: out
 * (fresh, (N,C,H,W)) = each window's g divided by its count and spread
 * over its elements, g of shape (N,C,OH,OW); else out (N,C,OH,OW) = the
 * means of x. */
void tg__avg_pool2d_kernel(tg_tensor *out, const tg_tensor *x, const tg__pool2d *p,
                           bool adjoint);

/* ---- elementwise functions (functions.c) and softmax (softmax.c) ---- */
/* The strided walk of elementwise.c for kernels of other files: calls f on
 * runs of n elements of out, a and b (b NULL: a unary op, and f's b is a)
 * laid over out's shape, strides in elements, until out is written; then
 * marks out written. a and b broadcast to out's shape (checked). */
typedef void (*tg__map_fn)(int op, double s, tg_dtype dt, int64_t n,
                           const char *a, int64_t sa, const char *b, int64_t sb,
                           char *o, int64_t so);
void tg__map(tg__map_fn f, int op, double s, tg_tensor *out, const tg_tensor *a,
             const tg_tensor *b);
/* The functions of functions.c, float32 and float64 (PyTorch's formulas).
 * The ones after TG__FN_ROUND are derivatives that the tape's rules use. */
enum {
    TG__FN_SIN, TG__FN_COS, TG__FN_LOG1P, TG__FN_EXPM1,
    TG__FN_SOFTPLUS,    /* beta 1, threshold 20: x itself where x > 20 */
    TG__FN_LEAKY_RELU,  /* s: the slope for x <= 0 */
    TG__FN_ELU,         /* s: alpha */
    TG__FN_GELU,        /* x Phi(x), with erf */
    TG__FN_GELU_TANH,   /* the tanh approximation */
    TG__FN_SILU, TG__FN_LOG_SIGMOID, TG__FN_SQUARE, TG__FN_RECIPROCAL,
    TG__FN_FLOOR, TG__FN_CEIL, TG__FN_ROUND, /* round: half to even */
    TG__FN_SOFTPLUS_D,  /* softplus': x > 20 ? 1 : e^x / (e^x + 1) */
    TG__FN_LEAKY_D,     /* leaky_relu': x > 0 ? 1 : s */
    TG__FN_ELU_D,       /* elu': x > 0 ? 1 : s e^x */
    TG__FN_ELU_DD,      /* elu'': x > 0 ? 0 : s e^x (its own derivative) */
    TG__FN_GELU_CDF,    /* Phi(x) = 0.5 (1 + erf(x / sqrt 2)) */
    TG__FN_NORMAL_PDF,  /* Phi'(x) = e^(-x x / 2) / sqrt(2 pi) */
    TG__FN_COUNT_
};
/* PyTorch's constants of gelu: 1/sqrt(2); the normal density's factor
 * 1/sqrt(2 pi); sqrt(2/pi) and 0.044715 of the tanh form. Each is the
 * double product PyTorch's source writes. */
#define TG__GELU_ALPHA 0.70710678118654752440
#define TG__GELU_PDF (1.12837916709551257390 * 0.70710678118654752440 * 0.5)
#define TG__GELU_TANH_BETA (1.41421356237309504880 * 1.12837916709551257390 * 0.5)
#define TG__GELU_TANH_KAPPA 0.044715
/* TG_ERR_DTYPE under fn unless a is float32 or float64; TG_ERR_VALUE for
 * a parameter s of code (leaky_relu's slope, elu's alpha) that is not
 * finite. */
int tg__fn_check(const char *fn, const tg_tensor *a, int code, double s);
/* out = f(a) for a TG__FN_* code (s its parameter); out has a's shape and
 * dtype, a float one. */
void tg__fn_kernel(int code, double s, tg_tensor *out, const tg_tensor *a);
/* The fused plain rule of code's tape op: out = g f'(y), the same
 * operations in the same order as the op's rule written with tg_ad_* ops
 * (autograd/functions.c), so equal to it bit for bit. y is the op's input,
 * except for expm1 and reciprocal, whose rules use the result. g, y and
 * out have one shape. */
void tg__fn_grad_kernel(int code, double s, tg_tensor *out, const tg_tensor *g,
                        const tg_tensor *y);
/* Along axis (normalised) of a: kind 0 softmax, 1 log softmax (out has a's
 * shape), 2 logsumexp (out has the reduced shape, with or without the
 * axis). Shifted by the maximum, so any finite values are safe; -inf
 * entries give 0 (log: -inf), a line of nothing but -inf gives NaN (its
 * logsumexp -inf), as in PyTorch. */
void tg__softmax_kernel(int kind, tg_tensor *out, const tg_tensor *a, int axis);
/* ---- normalisation (norm.c): contiguous float tensors seen as (A, C, B),
 * the per-c statistics contiguous with C elements, one dtype ---- */
/* The mean and biased variance of each c, in double (C of each). */
void tg__norm_stats(const tg_tensor *x, int64_t A, int64_t C, int64_t B, double *mean,
                    double *var);
/* y = (x - mean) * rstd, equal bit for bit to a sub then a mul. */
void tg__norm_apply(tg_tensor *y, const tg_tensor *x, const tg_tensor *mean,
                    const tg_tensor *rstd, int64_t A, int64_t C, int64_t B);
/* dx = ((g - gm) - y * gym) * rstd, equal bit for bit to the four ops. */
void tg__norm_grad(tg_tensor *dx, const tg_tensor *g, const tg_tensor *y,
                   const tg_tensor *gm, const tg_tensor *gym, const tg_tensor *rstd,
                   int64_t A, int64_t C, int64_t B);

/* Pairwise (NumPy-style) sums of n values at stride s. */
double tg__pairwise_sum_f64(const double *x, int64_t n, int64_t s);
double tg__pairwise_sum_f32(const float *x, int64_t n, int64_t s); /* float acc */

/* ---- arena: bump allocation in growable chunks, reused after reset ---- */
typedef struct tg__chunk tg__chunk;
typedef struct tg__arena {
    tg__chunk *chunks;   /* oldest first */
    tg__chunk *cur;      /* the chunk being bumped through */
    char *ptr;           /* the next free byte of cur (NULL before the first) */
    size_t left;         /* free bytes from ptr to the end of cur */
    size_t total;        /* bytes handed out since the last reset */
    size_t high_water;   /* most bytes used between resets, as of the last
                            reset or new chunk: see tg__arena_high_water */
    size_t limit;        /* most bytes total may reach; 0: no limit. left
                            never goes past it, so the inline bump needs no
                            test of its own */
    bool over_limit;     /* the last failure was the limit, not the allocator */
} tg__arena;

#define TG__ARENA_ALIGN 64u

void tg__arena_init(tg__arena *a);
/* The slow path of tg__arena_alloc: moves to the next kept chunk that fits
 * n (already rounded up), or allocates a new one. */
void *tg__arena_alloc_slow(tg__arena *a, size_t n);
/* r bytes (a nonzero multiple of TG__ARENA_ALIGN) from the current chunk,
 * or NULL when they do not fit there; never calls out. */
static inline void *tg__arena_bump(tg__arena *a, size_t r)
{
    if (a->left < r)
        return NULL;
    void *p = a->ptr;
    a->ptr += r;
    a->left -= r;
    a->total += r;
    return p;
}
/* 64-byte aligned, or NULL when the allocator fails (nothing is lost).
 * Inline: a training step makes a few dozen of these. */
static inline void *tg__arena_alloc(tg__arena *a, size_t n)
{
    size_t r = (n + (TG__ARENA_ALIGN - 1)) & ~(size_t)(TG__ARENA_ALIGN - 1);
    if (r < n) /* wrapped */
        return NULL;
    if (r == 0)
        r = TG__ARENA_ALIGN;
    void *p = tg__arena_bump(a, r);
    return p ? p : tg__arena_alloc_slow(a, r);
}
/* Most bytes ever handed out between two resets. */
static inline size_t tg__arena_high_water(const tg__arena *a)
{
    return a->total > a->high_water ? a->total : a->high_water;
}
/* Forget everything allocated; the chunks are kept and reused in order, so
 * a pass that repeats the last one allocates nothing. Never fails. */
int tg__arena_reset(tg__arena *a);
/* Caps the bytes handed out between resets (0: no cap). */
void tg__arena_set_limit(tg__arena *a, size_t limit);
/* Bytes of the chunks the arena holds (used or not). */
size_t tg__arena_reserved(const tg__arena *a);
/* The error after tg__arena_alloc returned NULL, under fn: the limit, with
 * what to do about it, or TG_ERR_NOMEM from the allocator. */
int tg__arena_fail(const tg__arena *a, const char *fn);
void tg__arena_free(tg__arena *a);
/* A tensor whose header, storage and data live in the arena. */
tg_tensor *tg__arena_tensor(tg__arena *a, const char *fn, tg_dtype dt, int ndim,
                            const int64_t *shape);
/* The same for a shape derived from tensors that exist (valid dtype and
 * rank, sizes >= 0): checks only what combining them can break, the
 * element count and the byte size (TG_ERR_OVERFLOW, reported under fn). */
tg_tensor *tg__arena_tensor_trusted(tg__arena *a, const char *fn, tg_dtype dt,
                                    int ndim, const int64_t *shape);
/* A header in the arena copying *view (no reference taken on storage). */
tg_tensor *tg__arena_view(tg__arena *a, const char *fn, const tg_tensor *view);

/* ---- elements of any dtype ---- */
static inline bool tg__is_float(tg_dtype dt) { return dt <= TG_FLOAT64; }
/* The error for a non-float operand of an op that needs floats. */
int tg__need_float(const char *fn, const char *what, tg_dtype dt);
/* Whether v is a value of integer dtype dt exactly (integral, in range). */
bool tg__int_fits(tg_dtype dt, double v);
/* v converted to integer dtype dt without undefined behaviour: NaN gives 0,
 * values past the range saturate. Callers that must refuse such values
 * check tg__int_fits first. */
int64_t tg__double_to_int(tg_dtype dt, double v);
/* An integer wrapped into dt's range (two's complement, as NumPy's astype
 * and C's conversion to unsigned); bool is v != 0. */
static inline int64_t tg__wrap_int(tg_dtype dt, int64_t v)
{
    switch (dt) {
    case TG_INT32:
        return (int64_t)(int32_t)(uint32_t)(uint64_t)v;
    case TG_UINT8:
        return (int64_t)(uint8_t)(uint64_t)v;
    case TG_BOOL:
        return v != 0;
    default:
        return v;
    }
}

/* Storage position of element i (C order) of t: for loops over a view of
 * any strides where speed does not matter. */
static inline int64_t tg__flat_pos(const tg_tensor *t, int64_t i)
{
    int64_t pos = t->offset;
    for (int k = t->ndim - 1; k >= 0; k--) {
        pos += (i % t->shape[k]) * t->strides[k];
        i /= t->shape[k];
    }
    return pos;
}

/* Read/write one element at a flat storage position as double (integers
 * past 2^53 are rounded: use tg__load_int for them). */
static inline double tg__load(const tg_tensor *t, int64_t pos)
{
    const void *d = t->storage->data;
    switch (t->dtype) {
    case TG_FLOAT64:
        return ((const double *)d)[pos];
    case TG_FLOAT32:
        return (double)((const float *)d)[pos];
    case TG_INT32:
        return (double)((const int32_t *)d)[pos];
    case TG_INT64:
        return (double)((const int64_t *)d)[pos];
    default: /* TG_UINT8, TG_BOOL */
        return (double)((const uint8_t *)d)[pos];
    }
}
static inline void tg__store(tg_tensor *t, int64_t pos, double v)
{
    void *d = t->storage->data;
    switch (t->dtype) {
    case TG_FLOAT64:
        ((double *)d)[pos] = v;
        break;
    case TG_FLOAT32:
        ((float *)d)[pos] = (float)v;
        break;
    case TG_INT32:
        ((int32_t *)d)[pos] = (int32_t)tg__double_to_int(TG_INT32, v);
        break;
    case TG_INT64:
        ((int64_t *)d)[pos] = tg__double_to_int(TG_INT64, v);
        break;
    case TG_UINT8:
        ((uint8_t *)d)[pos] = (uint8_t)tg__double_to_int(TG_UINT8, v);
        break;
    default: /* TG_BOOL: any non-zero value (NaN too, as NumPy) is true */
        ((uint8_t *)d)[pos] = v != 0;
        break;
    }
}
/* The same for integer dtypes, exactly (floats through a conversion). */
static inline int64_t tg__load_int(const tg_tensor *t, int64_t pos)
{
    const void *d = t->storage->data;
    switch (t->dtype) {
    case TG_INT32:
        return ((const int32_t *)d)[pos];
    case TG_INT64:
        return ((const int64_t *)d)[pos];
    case TG_UINT8:
    case TG_BOOL:
        return ((const uint8_t *)d)[pos];
    default:
        return tg__double_to_int(TG_INT64, tg__load(t, pos));
    }
}
static inline void tg__store_int(tg_tensor *t, int64_t pos, int64_t v)
{
    void *d = t->storage->data;
    switch (t->dtype) {
    case TG_INT32:
        ((int32_t *)d)[pos] = (int32_t)tg__wrap_int(TG_INT32, v);
        break;
    case TG_INT64:
        ((int64_t *)d)[pos] = v;
        break;
    case TG_UINT8:
    case TG_BOOL:
        ((uint8_t *)d)[pos] = (uint8_t)tg__wrap_int(t->dtype, v);
        break;
    default:
        tg__store(t, pos, (double)v);
        break;
    }
}

#endif /* TG_TENSOR_INTERNAL_H */
