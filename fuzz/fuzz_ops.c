/* fuzz_ops.c - libFuzzer target that reads its input as a small tensor
 * program, runs it on a tape, then differentiates it.
 *
 * Input layout (every read past the end gives 0):
 *   flags   bit 0: "wild" leaf values (NaN, +-Inf, huge, subnormal mixed in)
 *           bit 1: also take second-order gradients (tg_ad_grad, create_graph)
 *           bit 2: fail allocation number (next byte + 1) (out-of-memory paths)
 *   nleaves 1 + b % 4, then per leaf: a byte (bit 0 float64, bit 1 no
 *           gradient, bits 2.. ndim = 0..4), ndim sizes (b % 6), a value seed
 *   ops     until the input ends or MAX_OPS: an opcode byte and its operands,
 *           see run_op. Operands are picked from the pool of leaves and
 *           earlier results; every result joins the pool.
 * Then backward from tg_ad_sum(last result).
 *
 * Checks (a failed one traps, so libFuzzer reports the input):
 * - no crash, undefined behaviour, leak, or free of the wrong size;
 * - an op given valid tensors either succeeds or sets a proper error (a
 *   real code, a message naming a tg_ function, out of memory only when an
 *   allocation was refused);
 * - every tensor's elements lie inside its storage;
 * - each result equals a naive reference computed element by element from
 *   its inputs through their strides and broadcasting (exactly for
 *   arithmetic, views, casts and max; within rounding for sums, matmul and
 *   libm functions), whatever the layout: negative and zero strides,
 *   offsets, transposed and sliced operands;
 * - bounds: for each tensor the interpreter tracks a bound on |value| and,
 *   after the program, a bound on |d root / d tensor| (a reverse pass over
 *   its own record of the program: each op's derivative bound times its
 *   fan-out). Ops that can leave the finite range for bounded inputs (log,
 *   sqrt, div, pow with a tensor or a negative or fractional exponent, ...)
 *   make the bound infinite. Where the bounds are finite (below 1e30 when
 *   float32 is involved), every value and every leaf gradient must be finite
 *   and within its bound;
 * - a leaf gets a .grad exactly when a recorded path reaches it, and a
 *   backward that fails leaves every .grad as it was;
 * - a second backward on the same tape gives bit-identical gradients;
 * - batch norm's running statistics change only when a training call
 *   succeeds, and then as PyTorch's rule says; dropout draws exactly one
 *   number per element when it draws, and a failed call leaves the
 *   generator as it was.
 * FUZZ_TRACE=1 in the environment prints the program's tensors. */
#include <float.h>
#include <math.h>

#include "common.h"
#include "tensor/internal.h"

#define MAX_OPS 40
#define POOL_MAX 48
#define MAX_NUMEL 4096      /* no op may make more elements than this */
#define MAX_FLOPS 2000000.0 /* nor a matmul cost more */
#define MAX_LEAVES 4
#define INF ((double)INFINITY)

/* What the interpreter knows about one tensor of the pool. */
typedef struct slot {
    tg_tensor *t;
    bool owned;     /* caller-owned: tg_free at the end */
    int leaf;       /* index among the leaves, or -1 */
    double bound;   /* |every value| <= bound; INF when unknown */
    int nsrc;       /* inputs a gradient flows back to */
    int src[3];     /* (a third only for a norm's bias) */
    double factor[3]; /* |d out / d src| bound times fan-out */
    double g;       /* bound on |d root / d element| (reverse pass) */
} slot;

typedef struct prog {
    fz_reader in;
    tg_tape *T;
    slot pool[POOL_MAX];
    int n;
    int nleaves;
    bool any_f32;
    bool dirty;   /* something was written in place: values are unknown */
    int last;     /* the newest result */
    FILE *devnull;
    tg_tensor *aux[MAX_OPS]; /* masks and indices: caller-owned, kept until
                                the end (the records refer to them) */
    int naux;
} prog;

/* ---- helpers ------------------------------------------------------------------ */

static int64_t shape_numel(int nd, const int64_t *sh)
{
    int64_t n = 1;
    for (int k = 0; k < nd; k++)
        n *= sh[k];
    return n;
}

/* Every element's storage position lies in the storage (the arena keeps
 * many tensors in one block, so ASan alone would not see an overrun). */
static void check_geometry(const tg_tensor *t)
{
    FZ_CHECK(t->ndim >= 0 && t->ndim <= TG_MAX_DIMS, "ndim %d", t->ndim);
    int64_t n = 1, lo = t->offset, hi = t->offset;
    for (int k = 0; k < t->ndim; k++) {
        FZ_CHECK(t->shape[k] >= 0, "negative size on axis %d", k);
        n *= t->shape[k];
    }
    FZ_CHECK(n == t->numel, "numel %lld but the shape holds %lld",
             (long long)t->numel, (long long)n);
    if (n == 0)
        return;
    for (int k = 0; k < t->ndim; k++) {
        int64_t span = (t->shape[k] - 1) * t->strides[k];
        if (span < 0)
            lo += span;
        else
            hi += span;
    }
    int64_t cap = (int64_t)(t->storage->nbytes / tg_dtype_size(t->dtype));
    FZ_CHECK(lo >= 0 && hi < cap,
             "elements at positions %lld..%lld of a storage of %lld",
             (long long)lo, (long long)hi, (long long)cap);
}

/* Largest |value| of t; NaN when one is NaN. */
static double max_abs(const tg_tensor *t)
{
    double m = 0;
    int64_t idx[TG_MAX_DIMS] = {0};
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t pos = t->offset;
        for (int k = 0; k < t->ndim; k++)
            pos += idx[k] * t->strides[k];
        double v = fabs(tg__load(t, pos));
        if (isnan(v))
            return v;
        m = fmax(m, v);
        for (int k = t->ndim - 1; k >= 0 && ++idx[k] == t->shape[k]; k--)
            idx[k] = 0;
    }
    return m;
}

static double limit(const prog *P) { return P->any_f32 ? 1e30 : 1e290; }

/* A result of a failed op: NULL with a proper error. */
static void check_null(const char *what) { fz_check_error(what); }

/* Adds t to the pool: its value bound, and the inputs a gradient reaches
 * with their derivative-times-fan-out factors. An input with no finite
 * bound makes every factor infinite (NaN * 0 and Inf - Inf lurk). */
static int add_slot(prog *P, tg_tensor *t, bool owned, double bound, int nsrc,
                    int s0, double f0, int s1, double f1, const char *what)
{
    if (!t) {
        check_null(what);
        return -1;
    }
    check_geometry(t);
    if (getenv("FUZZ_TRACE")) {
        char b1[TG__SHAPE_BUF];
        fprintf(stderr, "slot %d: %s %s %s bound %g src %d(%g) %d(%g)\n", P->n,
                what, tg_dtype_name(t->dtype),
                tg__shape_fmt(t->ndim, t->shape, b1, sizeof b1), bound,
                nsrc > 0 ? s0 : -1, f0, nsrc > 1 ? s1 : -1, f1);
    }
    if (P->n == POOL_MAX) {
        if (owned)
            tg_free(t);
        return -1;
    }
    if (t->dtype == TG_FLOAT32)
        P->any_f32 = true;
    slot *s = &P->pool[P->n];
    memset(s, 0, sizeof *s);
    s->t = t;
    s->owned = owned;
    s->leaf = -1;
    s->nsrc = nsrc;
    s->src[0] = s0;
    s->src[1] = s1;
    s->factor[0] = f0;
    s->factor[1] = f1;
    bool inputs_bounded = true;
    for (int i = 0; i < nsrc; i++)
        inputs_bounded = inputs_bounded && P->pool[s->src[i]].bound <= limit(P);
    if (!inputs_bounded)
        s->factor[0] = s->factor[1] = INF;
    s->bound = bound <= limit(P) && inputs_bounded ? bound : INF;
    /* A bounded value must be finite and within its bound. */
    if (s->bound <= limit(P) && !P->dirty && !fz_failed) {
        double m = max_abs(t);
        FZ_CHECK(m <= s->bound * (1 + 1e-5) + 1e-30,
                 "%s: a value of magnitude %g exceeds the bound %g", what, m,
                 s->bound);
    }
    P->last = P->n;
    return P->n++;
}

static int pick(prog *P) { return fz_byte(&P->in) % P->n; }

/* An axis in [-5, 5]: mostly valid for up to 8 dimensions, sometimes not. */
static int pick_axis(prog *P) { return (int)(fz_byte(&P->in) % 11) - 5; }

static int norm_axis(int axis, int nd) { return axis < 0 ? axis + nd : axis; }

/* NumPy's broadcast of two shapes; false when they do not broadcast. */
static bool broadcast(const tg_tensor *a, const tg_tensor *b, int *nd,
                      int64_t *sh)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int k = 0; k < n; k++) {
        int ja = k - (n - a->ndim), jb = k - (n - b->ndim);
        int64_t sa = ja >= 0 ? a->shape[ja] : 1, sb = jb >= 0 ? b->shape[jb] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return false;
        sh[k] = sa == 1 ? sb : sa;
    }
    *nd = n;
    return true;
}

/* How many output elements each input element reaches, at most. */
static double fan(int64_t out_numel, int64_t in_numel)
{
    if (in_numel <= 0 || out_numel <= in_numel)
        return 1.0;
    return ceil((double)out_numel / (double)in_numel);
}


/* ---- naive references ------------------------------------------------------------
 * Each op's result is recomputed element by element from its inputs'
 * values, through their strides and broadcasting, and compared: exactly
 * where IEEE arithmetic fixes the answer, within a rounding tolerance for
 * sums, products and transcendental functions. */

static double at(const tg_tensor *t, const int64_t *idx)
{
    int64_t pos = t->offset;
    for (int k = 0; k < t->ndim; k++)
        pos += idx[k] * t->strides[k];
    return tg__load(t, pos);
}

/* The next index of shape in C order; false after the last one. */
static bool next_index(int nd, const int64_t *shape, int64_t *idx)
{
    for (int k = nd - 1; k >= 0; k--) {
        if (++idx[k] < shape[k])
            return true;
        idx[k] = 0;
    }
    return false;
}

/* x's index for index idx of an nd-dimensional broadcast result. */
static void bcast_index(const tg_tensor *x, int nd, const int64_t *idx, int64_t *xi)
{
    int lead = nd - x->ndim;
    for (int k = 0; k < x->ndim; k++)
        xi[k] = x->shape[k] == 1 ? 0 : idx[k + lead];
}

static double round_to(tg_dtype dt, double v) { return dt == TG_FLOAT32 ? (double)(float)v : v; }

static bool same_value(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

/* got agrees with want: NaN with NaN, infinity with the same infinity,
 * else within tol. */
static bool close_value(double got, double want, double tol)
{
    if (isnan(want) || isinf(want))
        return same_value(got, want);
    return fabs(got - want) <= tol;
}

/* The spacing of the subnormals: each rounding of a sum or product may be
 * off by this much, however small the result. */
static double denorm(tg_dtype dt) { return dt == TG_FLOAT32 ? 1.5e-45 : 5e-324; }

/* Sums this large may overflow in one summation order and not another. */
static bool too_big(tg_dtype dt, double sumabs)
{
    return sumabs > (dt == TG_FLOAT32 ? 1e37 : 1e307);
}

/* A libm result against the correctly rounded one: a few units in the last
 * place, any two values past the overflow threshold, subnormals loosely. */
static bool libm_close(tg_dtype dt, double got, double want)
{
    double huge = dt == TG_FLOAT32 ? 3e38 : 1.7e308;
    if (!isnan(got) && !isnan(want) && fabs(got) >= huge && fabs(want) >= huge)
        return (got > 0) == (want > 0);
    double rel = dt == TG_FLOAT32 ? 1e-5 : 1e-13, tiny = dt == TG_FLOAT32 ? 1e-37 : 1e-300;
    return close_value(got, want, rel * fabs(want) + tiny);
}

#define REF_CHECK(cond, what, idx, nd, got, want)                              \
    FZ_CHECK(cond, "%s: element %lld of %d-d result is %.17g, reference %.17g",  \
             what, (long long)flat_of(idx, nd, r->shape), nd, got, want)

static int64_t flat_of(const int64_t *idx, int nd, const int64_t *shape)
{
    int64_t f = 0;
    for (int k = 0; k < nd; k++)
        f = f * shape[k] + idx[k];
    return f;
}

/* x op y as tg_binary computes it in dtype dt (inputs already rounded);
 * NAN_SKIP for pow, whose libm results may differ in the last place. */
#define NAN_SKIP 1e308
static double binary_ref(int kind, tg_dtype dt, double x, double y)
{
    switch (kind) {
    case 0: return round_to(dt, x + y);
    case 1: return round_to(dt, x - y);
    case 2: return round_to(dt, x * y);
    case 3: return round_to(dt, x / y);
    case 5: return isnan(x) || isnan(y) ? (double)NAN : x >= y ? x : y;
    case 6: return isnan(x) || isnan(y) ? (double)NAN : x <= y ? x : y;
    case 7: return x >= y ? 1.0 : 0.0;
    default: return NAN_SKIP;
    }
}

static void verify_binary(int kind, const tg_tensor *r, const tg_tensor *a,
                          const tg_tensor *b, const char *what)
{
    int64_t idx[TG_MAX_DIMS] = {0}, ai[TG_MAX_DIMS], bi[TG_MAX_DIMS];
    if (r->numel == 0 || binary_ref(kind, r->dtype, 1, 1) == NAN_SKIP)
        return;
    do {
        bcast_index(a, r->ndim, idx, ai);
        bcast_index(b, r->ndim, idx, bi);
        double want = binary_ref(kind, r->dtype, at(a, ai), at(b, bi));
        double got = at(r, idx);
        /* Past 2^53 an int64 result and its reference, both read as
         * doubles, may differ by the reads' rounding (a few ulps of the
         * double): there the check is within that rounding, the
         * reference wrapped into int64's range as the sum or product of
         * two int64 values wraps. */
        bool wide = r->dtype == TG_INT64 && fabs(want) > 9007199254740992.0;
        if (wide && fabs(want) < 0x1p64 && (want >= 0x1p63 || want < -0x1p63))
            want += want > 0 ? -0x1p64 : 0x1p64; /* int64 wraps */
        /* a product past 2^64 wraps by bits the doubles no longer hold:
         * nothing to compare then */
        bool ok = wide ? fabs(want) >= 0x1p64 ||
                             fabs(got - want) <= 4 * DBL_EPSILON * fabs(want)
                       : same_value(got, want);
        REF_CHECK(ok, what, idx, r->ndim, got, want);
    } while (next_index(r->ndim, r->shape, idx));
}

/* a op s, s op a (scalar_first); s is rounded to a's dtype first. */
static void verify_scalar(int kind, const tg_tensor *r, const tg_tensor *a,
                          double s, const char *what)
{
    static const int op_of[7] = {0, 1, 1, 2, 3, 3, 4}; /* add sub rsub mul div rdiv pow */
    bool first = kind == 2 || kind == 5;
    int64_t idx[TG_MAX_DIMS] = {0};
    double sv = round_to(a->dtype, s);
    if (r->numel == 0 || op_of[kind] == 4)
        return;
    do {
        double x = at(a, idx);
        double want = first ? binary_ref(op_of[kind], r->dtype, sv, x)
                            : binary_ref(op_of[kind], r->dtype, x, sv);
        double got = at(r, idx);
        REF_CHECK(same_value(got, want), what, idx, r->ndim, got, want);
    } while (next_index(r->ndim, r->shape, idx));
}

static void verify_unary(int kind, const tg_tensor *r, const tg_tensor *a,
                         const char *what)
{
    int64_t idx[TG_MAX_DIMS] = {0};
    if (r->numel == 0)
        return;
    do {
        double x = at(a, idx), got = at(r, idx), want;
        bool exact = true;
        switch (kind) {
        case 0: want = -x; break;
        case 1: want = round_to(r->dtype, exp(x)); exact = false; break;
        case 2: want = round_to(r->dtype, log(x)); exact = false; break;
        case 3: want = round_to(r->dtype, sqrt(x)); break;
        case 4: want = fabs(x); break;
        case 5: want = round_to(r->dtype, tanh(x)); exact = false; break;
        case 6: want = round_to(r->dtype, 1.0 / (1.0 + exp(-x))); exact = false; break;
        case 7: want = x <= 0 ? 0.0 : x; break;
        case 8: want = x > 0 ? 1.0 : x < 0 ? -1.0 : x == 0 ? 0.0 : x; break;
        case 9: want = x > 0 ? 1.0 : 0.0; break;
        default: want = x; break;
        }
        bool ok = exact ? same_value(got, want) : libm_close(r->dtype, got, want);
        REF_CHECK(ok, what, idx, r->ndim, got, want);
    } while (next_index(r->ndim, r->shape, idx));
}

/* Accumulators of a reference reduction, one per result element. */
typedef struct red_acc {
    double sum, sumabs, max;
    int64_t count, argmax;
} red_acc;

/* Reduces a into acc (numel of the keepdims shape out_nd/out_sh), mapping
 * each index of a by map(): kind of reduction decides what is compared. */
static void reduce_ref(const tg_tensor *a, int out_nd, const int64_t *out_sh,
                       int axis, red_acc *acc, int64_t nacc)
{
    for (int64_t i = 0; i < nacc; i++) {
        acc[i].sum = acc[i].sumabs = 0;
        acc[i].max = -INF;
        acc[i].count = 0;
        acc[i].argmax = -1;
    }
    if (a->numel == 0)
        return;
    int64_t idx[TG_MAX_DIMS] = {0}, oi[TG_MAX_DIMS];
    int lead = a->ndim - out_nd;
    do {
        /* sum_to (axis -2): leading axes dropped, size-1 axes reduced;
         * otherwise the axis (or all, -1) is reduced in place. */
        for (int k = 0; k < out_nd; k++) {
            int j = k + lead;
            if (axis == -2)
                oi[k] = out_sh[k] == 1 ? 0 : idx[j];
            else
                oi[k] = axis == -1 || k == axis ? 0 : idx[k];
        }
        int64_t o = flat_of(oi, out_nd, out_sh);
        double v = at(a, idx);
        red_acc *c = &acc[o];
        int64_t pos = axis >= 0 ? idx[axis] : flat_of(idx, a->ndim, a->shape);
        c->sum += v;
        if (isfinite(v))
            c->sumabs += fabs(v);
        if (c->argmax < 0 || (!isnan(c->max) && (v > c->max || isnan(v)))) {
            c->max = v;
            c->argmax = pos;
        }
        c->count++;
    } while (next_index(a->ndim, a->shape, idx));
}

/* kind: 0 sum, 1 mean, 2 max, 3 argmax. r holds the reduction of a along
 * axis (-1 all, -2 sum_to r's shape), keepdims or not (C order agrees). */
static void verify_reduce(int kind, const tg_tensor *r, const tg_tensor *a,
                          int axis, const char *what)
{
    int64_t sh[TG_MAX_DIMS];
    int nd;
    if (axis == -2) {
        nd = r->ndim;
        memcpy(sh, r->shape, sizeof(int64_t) * (size_t)nd);
    } else {
        nd = a->ndim;
        for (int k = 0; k < nd; k++)
            sh[k] = axis == -1 || k == axis ? 1 : a->shape[k];
    }
    int64_t n = shape_numel(nd, sh);
    FZ_CHECK(n == r->numel, "%s: %lld results, reference %lld", what,
             (long long)r->numel, (long long)n);
    red_acc *acc = malloc(sizeof *acc * (size_t)(n ? n : 1));
    FZ_CHECK(acc != NULL, "out of memory in the fuzzer");
    reduce_ref(a, nd, sh, axis, acc, n);
    /* Any summation order is within (count - 1) roundings of the exact sum
     * (NumPy, and so tapegrad, adds across outer axes one by one). */
    double u = r->dtype == TG_FLOAT32 ? 6e-8 : 1.2e-16;
    int64_t ri[TG_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        double got = at(r, ri), want, cnt = (double)(acc[i].count + 1);
        double tol = 2 * u * cnt * acc[i].sumabs + cnt * denorm(r->dtype);
        bool ok;
        switch (kind) {
        case 0:
        case 1:
            want = kind == 0 ? acc[i].sum
                             : acc[i].count ? acc[i].sum / (double)acc[i].count : (double)NAN;
            if (kind == 1 && acc[i].count)
                tol /= (double)acc[i].count;
            /* float32 sums may overflow where double ones do not */
            ok = too_big(r->dtype, acc[i].sumabs) || close_value(got, want, tol);
            break;
        case 2:
            want = acc[i].max;
            ok = same_value(got, want);
            break;
        default:
            want = (double)acc[i].argmax;
            ok = got == want;
            break;
        }
        FZ_CHECK(ok, "%s: element %lld is %.17g, reference %.17g", what,
                 (long long)i, got, want);
        next_index(r->ndim, r->shape, ri);
    }
    free(acc);
}

static void verify_matmul(const tg_tensor *r, const tg_tensor *a,
                          const tg_tensor *b, const char *what)
{
    int na = a->ndim, nb = b->ndim;
    int nbatch = r->ndim - (na >= 2) - (nb >= 2);
    int64_t k = a->shape[na - 1];
    double eps = r->dtype == TG_FLOAT32 ? 1.2e-7 * (double)k + 1e-6
                                        : 2.3e-16 * (double)k + 1e-15;
    int64_t idx[TG_MAX_DIMS] = {0}, ai[TG_MAX_DIMS], bi[TG_MAX_DIMS];
    if (r->numel == 0)
        return;
    do {
        for (int q = 0; q < na - 2; q++)
            ai[q] = a->shape[q] == 1 ? 0 : idx[q + nbatch - (na - 2)];
        for (int q = 0; q < nb - 2; q++)
            bi[q] = b->shape[q] == 1 ? 0 : idx[q + nbatch - (nb - 2)];
        int64_t i = na >= 2 ? idx[nbatch] : 0, j = nb >= 2 ? idx[r->ndim - 1] : 0;
        double sum = 0, sumabs = 0;
        for (int64_t kk = 0; kk < k; kk++) {
            if (na >= 2) {
                ai[na - 2] = i;
                ai[na - 1] = kk;
            } else {
                ai[0] = kk;
            }
            if (nb >= 2) {
                bi[nb - 2] = kk;
                bi[nb - 1] = j;
            } else {
                bi[0] = kk;
            }
            double p = at(a, ai) * at(b, bi);
            sum += p;
            if (isfinite(p))
                sumabs += fabs(p);
        }
        double got = at(r, idx);
        double tol = eps * sumabs + (double)(2 * k + 1) * denorm(r->dtype);
        bool ok = too_big(r->dtype, sumabs) || close_value(got, sum, tol);
        REF_CHECK(ok, what, idx, r->ndim, got, sum);
    } while (next_index(r->ndim, r->shape, idx));
}

/* Views and casts: every element is an input element, exactly. kind: 0
 * reshape (C order), 1 permute by perm, 2 slice, 3 expand, 4 cast. */
static void verify_view(int kind, const tg_tensor *r, const tg_tensor *a,
                        const int *perm, int axis, int64_t start, int64_t step,
                        const char *what)
{
    int64_t idx[TG_MAX_DIMS] = {0}, ai[TG_MAX_DIMS] = {0};
    if (r->numel == 0)
        return;
    do {
        switch (kind) {
        case 0:
            break; /* ai walks a in C order alongside */
        case 1:
            for (int q = 0; q < r->ndim; q++)
                ai[perm[q]] = idx[q];
            break;
        case 2:
            memcpy(ai, idx, sizeof(int64_t) * (size_t)r->ndim);
            ai[axis] = start + idx[axis] * step;
            break;
        case 3:
            bcast_index(a, r->ndim, idx, ai);
            break;
        default:
            memcpy(ai, idx, sizeof(int64_t) * (size_t)r->ndim);
            break;
        }
        double want = round_to(r->dtype, at(a, ai)), got = at(r, idx);
        REF_CHECK(same_value(got, want), what, idx, r->ndim, got, want);
        if (kind == 0)
            next_index(a->ndim, a->shape, ai);
    } while (next_index(r->ndim, r->shape, idx));
}


/* Python's slice.indices and length for a[start:stop:step] of n elements
 * (TG_NONE: omitted), the reference for tg_slice's rules. */
static void py_slice(int64_t n, int64_t start, int64_t stop, int64_t step,
                     int64_t *first, int64_t *len)
{
    int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? n - 1 : n;
    int64_t b[2] = {start, stop};
    for (int i = 0; i < 2; i++) {
        if (b[i] == TG_NONE)
            b[i] = (i == 0) == (step > 0) ? lo : hi;
        else if (b[i] < 0)
            b[i] = b[i] + n < lo ? lo : b[i] + n;
        else if (b[i] > hi)
            b[i] = hi;
    }
    *first = b[0];
    *len = 0;
    for (int64_t x = b[0]; step > 0 ? x < b[1] : x > b[1]; x += step)
        (*len)++;
}

/* Results checked against the references as they are made. */
static tg_tensor *checked_unary(int kind, tg_tensor *r, const tg_tensor *a,
                                const char *what)
{
    if (r)
        verify_unary(kind, r, a, what);
    return r;
}

static tg_tensor *checked_reduce(int kind, tg_tensor *r, const tg_tensor *a,
                                 int axis, const char *what)
{
    if (r)
        verify_reduce(kind, r, a, axis, what);
    return r;
}

static tg_tensor *checked_view(int kind, tg_tensor *r, const tg_tensor *a,
                               const int *perm, int axis, int64_t start,
                               int64_t step, const char *what)
{
    if (r)
        verify_view(kind, r, a, perm, axis, start, step, what);
    return r;
}

/* ---- ops ---------------------------------------------------------------------- */

static const double scalars[16] = {0.0,  1.0,  -1.0, 2.0,   -2.0, 0.5,
                                   -0.5, 0.25, 3.0,  1e-3,  1e3,  -0.75,
                                   4.0,  1.5,  -3.0, 1e300};

static void op_binary(prog *P)
{
    static const char *names[8] = {"add", "sub", "mul", "div", "pow", "maximum",
                                   "minimum", "ge"};
    int kind = fz_byte(&P->in) % 8, ia = pick(P), ib = pick(P);
    tg_tensor *a = P->pool[ia].t, *b = P->pool[ib].t;
    int nd;
    int64_t sh[TG_MAX_DIMS];
    if (broadcast(a, b, &nd, sh) && shape_numel(nd, sh) > MAX_NUMEL)
        return;
    tg_tensor *r;
    switch (kind) {
    case 0: r = tg_ad_add(P->T, a, b); break;
    case 1: r = tg_ad_sub(P->T, a, b); break;
    case 2: r = tg_ad_mul(P->T, a, b); break;
    case 3: r = tg_ad_div(P->T, a, b); break;
    case 4: r = tg_ad_pow(P->T, a, b); break;
    case 5: r = tg_ad_maximum(P->T, a, b); break;
    case 6: r = tg_ad_minimum(P->T, a, b); break;
    default: r = tg_ad_ge(P->T, a, b); break;
    }
    if (r)
        verify_binary(kind, r, a, b, names[kind]);
    double ba = P->pool[ia].bound, bb = P->pool[ib].bound;
    int64_t on = r ? r->numel : 0;
    double fa = fan(on, a->numel), fb = fan(on, b->numel);
    switch (kind) {
    case 0:
    case 1:
        add_slot(P, r, false, ba + bb, 2, ia, fa, ib, fb, names[kind]);
        break;
    case 2:
        add_slot(P, r, false, ba * bb, 2, ia, fa * fmax(bb, 1), ib,
                 fb * fmax(ba, 1), names[kind]);
        break;
    case 5:
    case 6:
        add_slot(P, r, false, fmax(ba, bb), 2, ia, fa, ib, fb, names[kind]);
        break;
    case 7: /* not differentiable */
        add_slot(P, r, false, fmax(ba, bb) <= limit(P) ? 1.0 : INF, 0, 0, 0, 0, 0,
                 names[kind]);
        break;
    default: /* div, pow: unbounded */
        add_slot(P, r, false, INF, 2, ia, INF, ib, INF, names[kind]);
        break;
    }
}

static void op_scalar(prog *P)
{
    int kind = fz_byte(&P->in) % 7, ia = pick(P);
    double s = scalars[fz_byte(&P->in) % 16];
    tg_tensor *a = P->pool[ia].t, *r;
    double b = P->pool[ia].bound, as = fabs(s), bound = INF, d = INF;
    /* s is rounded to a's dtype first: 1e300 is +inf in float32. */
    if (a->dtype == TG_FLOAT32 && !isfinite((double)(float)s))
        b = INF;
    switch (kind) {
    case 0:
        r = tg_ad_add_scalar(P->T, a, s);
        bound = b + as;
        d = 1;
        break;
    case 1:
        r = tg_ad_sub_scalar(P->T, a, s);
        bound = b + as;
        d = 1;
        break;
    case 2:
        r = tg_ad_rsub_scalar(P->T, a, s);
        bound = b + as;
        d = 1;
        break;
    case 3:
        r = tg_ad_mul_scalar(P->T, a, s);
        bound = b * as;
        d = fmax(as, 1);
        break;
    case 4:
        r = tg_ad_div_scalar(P->T, a, s);
        if (as >= 1e-3) {
            bound = b / as;
            d = fmax(1 / as, 1);
        }
        break;
    case 5:
        r = tg_ad_rdiv_scalar(P->T, a, s);
        break;
    default:
        r = tg_ad_pow_scalar(P->T, a, s);
        if (s == 0) {
            bound = 1;
            d = 1;
        } else if (s == 1 || s == 2 || s == 3 || s == 4) {
            bound = pow(b, s);
            d = fmax(s * pow(b, s - 1), 1);
        }
        break;
    }
    if (r)
        verify_scalar(kind, r, a, s, "scalar op");
    add_slot(P, r, false, bound, 1, ia, d, 0, 0, "scalar op");
}

static void op_unary(prog *P)
{
    int kind = fz_byte(&P->in) % 11, ia = pick(P);
    tg_tensor *a = P->pool[ia].t, *r;
    double b = P->pool[ia].bound;
    switch (kind) {
    case 0:
        r = checked_unary(kind, tg_ad_neg(P->T, a), a, "neg");
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "neg");
        return;
    case 1:
        r = checked_unary(kind, tg_ad_exp(P->T, a), a, "exp");
        add_slot(P, r, false, exp(b), 1, ia, fmax(exp(b), 1), 0, 0, "exp");
        return;
    case 2:
        r = checked_unary(kind, tg_ad_log(P->T, a), a, "log");
        add_slot(P, r, false, INF, 1, ia, INF, 0, 0, "log");
        return;
    case 3:
        r = checked_unary(kind, tg_ad_sqrt(P->T, a), a, "sqrt");
        add_slot(P, r, false, INF, 1, ia, INF, 0, 0, "sqrt");
        return;
    case 4:
        r = checked_unary(kind, tg_ad_abs(P->T, a), a, "abs");
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "abs");
        return;
    case 5:
        r = checked_unary(kind, tg_ad_tanh(P->T, a), a, "tanh");
        add_slot(P, r, false, fmin(b, 1), 1, ia, 1, 0, 0, "tanh");
        return;
    case 6:
        r = checked_unary(kind, tg_ad_sigmoid(P->T, a), a, "sigmoid");
        add_slot(P, r, false, 1, 1, ia, 1, 0, 0, "sigmoid");
        return;
    case 7:
        r = checked_unary(kind, tg_ad_relu(P->T, a), a, "relu");
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "relu");
        return;
    case 8:
        r = checked_unary(kind, tg_ad_sign(P->T, a), a, "sign");
        add_slot(P, r, false, b <= limit(P) ? 1 : INF, 0, 0, 0, 0, 0, "sign");
        return;
    case 9:
        r = checked_unary(kind, tg_ad_step(P->T, a), a, "step");
        add_slot(P, r, false, b <= limit(P) ? 1 : INF, 0, 0, 0, 0, 0, "step");
        return;
    default:
        r = checked_unary(kind, tg_ad_detach(P->T, a), a, "detach");
        add_slot(P, r, false, b, 0, 0, 0, 0, 0, "detach");
        return;
    }
}

/* ---- the functions of autograd/functions.c and autograd/softmax.c ------------
 * Each against the same formula in double (rounded to the result's dtype):
 * exactly where IEEE arithmetic fixes the answer, else within a few units
 * in the last place, measured against |x| too where the formula subtracts
 * nearly equal numbers (gelu's 1 + erf, silu...). */

#define GELU_ALPHA 0.70710678118654752440
#define GELU_BETA (1.41421356237309504880 * 1.12837916709551257390 * 0.5)

static const char *const fn_names[19] = {
    "sin", "cos", "log1p", "expm1", "softplus", "leaky_relu", "elu", "gelu",
    "gelu_tanh", "silu", "log_sigmoid", "square", "reciprocal", "floor", "ceil",
    "round", "softmax", "log_softmax", "logsumexp"};

static double fn_ref(int kind, double x, double s)
{
    switch (kind) {
    case 0: return sin(x);
    case 1: return cos(x);
    case 2: return log1p(x);
    case 3: return expm1(x);
    case 4: return x > 20 ? x : log1p(exp(x));
    case 5: return x > 0 ? x : x * s;
    case 6: return x > 0 ? x : expm1(x) * s;
    case 7: return x * 0.5 * (1 + erf(x * GELU_ALPHA));
    case 8: return 0.5 * x * (1 + tanh(GELU_BETA * (x + 0.044715 * (x * x * x))));
    case 9: return x / (1 + exp(-x));
    case 10: return (x < 0 ? x : 0) - log1p(exp(-fabs(x)));
    case 11: return x * x;
    case 12: return 1 / x;
    case 13: return floor(x);
    case 14: return ceil(x);
    default: return nearbyint(x);
    }
}

static void verify_function(int kind, const tg_tensor *r, const tg_tensor *a,
                            double s, const char *what)
{
    int64_t idx[TG_MAX_DIMS] = {0};
    double rel = r->dtype == TG_FLOAT32 ? 1e-5 : 1e-13;
    bool exact = kind == 5 || kind == 11 || kind >= 13;
    bool cancels = kind >= 7 && kind <= 10;
    if (r->numel == 0)
        return;
    do {
        double x = at(a, idx), got = at(r, idx);
        double want = round_to(r->dtype, fn_ref(kind, x, round_to(r->dtype, s)));
        bool ok = exact ? same_value(got, want)
                        : libm_close(r->dtype, got, want) ||
                              (cancels && !isnan(want) &&
                               close_value(got, want, rel * (fabs(want) + fabs(x))));
        REF_CHECK(ok, what, idx, r->ndim, got, want);
    } while (next_index(r->ndim, r->shape, idx));
}

/* kind 0 softmax, 1 log_softmax, 2 logsumexp of a along axis, each line
 * computed directly in double. */
static void verify_softmax(int kind, const tg_tensor *r, const tg_tensor *a,
                           int axis, const char *what)
{
    int64_t len = a->shape[axis], lsh[TG_MAX_DIMS], idx[TG_MAX_DIMS] = {0};
    int64_t ri[TG_MAX_DIMS];
    double rel = r->dtype == TG_FLOAT32 ? 1e-5 : 1e-12;
    for (int k = 0; k < a->ndim; k++)
        lsh[k] = k == axis ? 1 : a->shape[k];
    if (shape_numel(a->ndim, lsh) == 0)
        return;
    do {
        double m = -INF;
        for (int64_t j = 0; j < len; j++) {
            idx[axis] = j;
            double v = at(a, idx);
            if (v > m || isnan(v))
                m = isnan(m) ? m : v;
        }
        if (kind == 2 && isinf(m))
            m = 0;
        double sum = 0;
        for (int64_t j = 0; j < len; j++) {
            idx[axis] = j;
            sum += exp(at(a, idx) - m);
        }
        double tol_base = fabs(m) + log((double)len + 1) + 1;
        for (int64_t j = 0; j < (kind == 2 ? 1 : len); j++) {
            idx[axis] = j;
            double want, got;
            if (kind == 2) {
                int nd = 0;
                for (int k = 0; k < a->ndim; k++)
                    if (k != axis || r->ndim == a->ndim)
                        ri[nd++] = k == axis ? 0 : idx[k];
                want = log(sum) + m;
                got = at(r, ri);
            } else {
                double z = at(a, idx) - m;
                want = kind == 0 ? exp(z) / sum : z - log(sum);
                got = at(r, idx);
            }
            want = round_to(r->dtype, want);
            bool ok = close_value(got, want, rel * (fabs(want) + tol_base));
            FZ_CHECK(ok, "%s: line element %lld is %.17g, reference %.17g", what,
                     (long long)j, got, want);
        }
        idx[axis] = 0;
    } while (next_index(a->ndim, lsh, idx));
}

static void op_function(prog *P)
{
    int kind = fz_byte(&P->in) % 19, ia = pick(P);
    tg_tensor *a = P->pool[ia].t, *r;
    double b = P->pool[ia].bound, s = scalars[fz_byte(&P->in) % 16];
    int axis = pick_axis(P);
    bool keep = fz_byte(&P->in) & 1;
    const char *name = fn_names[kind];
    double as = fabs(a->dtype == TG_FLOAT32 ? (double)(float)s : s);
    double fin = b <= limit(P) ? 1 : INF; /* bounded inputs, finite results */
    switch (kind) {
    case 0: r = tg_ad_sin(P->T, a); break;
    case 1: r = tg_ad_cos(P->T, a); break;
    case 2: r = tg_ad_log1p(P->T, a); break;
    case 3: r = tg_ad_expm1(P->T, a); break;
    case 4: r = tg_ad_softplus(P->T, a); break;
    case 5: r = tg_ad_leaky_relu(P->T, a, s); break;
    case 6: r = tg_ad_elu(P->T, a, s); break;
    case 7: r = tg_ad_gelu(P->T, a); break;
    case 8: r = tg_ad_gelu_tanh(P->T, a); break;
    case 9: r = tg_ad_silu(P->T, a); break;
    case 10: r = tg_ad_log_sigmoid(P->T, a); break;
    case 11: r = tg_ad_square(P->T, a); break;
    case 12: r = tg_ad_reciprocal(P->T, a); break;
    case 13: r = tg_ad_floor(P->T, a); break;
    case 14: r = tg_ad_ceil(P->T, a); break;
    case 15: r = tg_ad_round(P->T, a); break;
    case 16: r = tg_ad_softmax(P->T, a, axis); break;
    case 17: r = tg_ad_log_softmax(P->T, a, axis); break;
    default: r = tg_ad_logsumexp(P->T, a, axis, keep); break;
    }
    int ax = norm_axis(axis, a->ndim);
    if (r && kind < 16)
        verify_function(kind, r, a, s, name);
    else if (r)
        verify_softmax(kind - 16, r, a, ax, name);
    double len = r && kind >= 16 ? (double)a->shape[ax] : 0;
    /* |f| and |f'| for |x| <= b. gelu_tanh's derivative squares x: past
     * 1e15 that overflows (as in PyTorch), so it is bounded below only. */
    switch (kind) {
    case 0: case 1: add_slot(P, r, false, fin, 1, ia, 1, 0, 0, name); return;
    case 2: case 12: add_slot(P, r, false, INF, 1, ia, INF, 0, 0, name); return;
    case 3: add_slot(P, r, false, exp(b), 1, ia, fmax(exp(b), 1), 0, 0, name); return;
    case 4: add_slot(P, r, false, b + 1, 1, ia, 1, 0, 0, name); return;
    case 5: add_slot(P, r, false, b * fmax(as, 1), 1, ia, fmax(as, 1), 0, 0, name); return;
    case 6: add_slot(P, r, false, fmax(b, as), 1, ia, fmax(as, 1), 0, 0, name); return;
    case 7: case 9: add_slot(P, r, false, b, 1, ia, 1.2, 0, 0, name); return;
    case 8: add_slot(P, r, false, b, 1, ia, b < 1e15 ? 1.2 : INF, 0, 0, name); return;
    case 10: add_slot(P, r, false, b + 1, 1, ia, 1, 0, 0, name); return;
    case 11: add_slot(P, r, false, b * b, 1, ia, fmax(2 * b, 1), 0, 0, name); return;
    case 13: case 14: case 15: /* not differentiable */
        add_slot(P, r, false, b + 1, 0, 0, 0, 0, 0, name);
        return;
    case 16: add_slot(P, r, false, fin, 1, ia, 2, 0, 0, name); return;
    case 17:
        add_slot(P, r, false, 2 * b + log(len + 1), 1, ia, len + 1, 0, 0, name);
        return;
    default: /* the logsumexp of nothing is -inf */
        add_slot(P, r, false, len ? b + log(len) : INF, 1, ia, 1, 0, 0, name);
        return;
    }
}

/* A target shape for sum_to: t's trailing axes, each kept or 1; or, now and
 * then, anything. */
static int sum_to_shape(prog *P, const tg_tensor *t, int64_t *sh)
{
    uint8_t m = fz_byte(&P->in);
    if (m % 8 == 0) {
        int nd = fz_byte(&P->in) % 5;
        for (int k = 0; k < nd; k++)
            sh[k] = fz_byte(&P->in) % 6;
        return nd;
    }
    int drop = t->ndim ? (m >> 3) % (t->ndim + 1) : 0;
    int nd = t->ndim - drop;
    for (int k = 0; k < nd; k++)
        sh[k] = fz_byte(&P->in) & 1 ? 1 : t->shape[drop + k];
    return nd;
}

/* ---- reduce_more.c: reductions over a set of axes, and cumsum -------------------- */

enum { RM_SUM, RM_MEAN, RM_MAX, RM_MIN, RM_PROD, RM_VAR, RM_STD, RM_NORM1, RM_NORM2,
       RM_COUNT };

/* Inputs bounded by b whose squares and products stay far from overflow. */
static bool rm_bounded(tg_dtype dt, double b) { return b <= (dt == TG_FLOAT32 ? 1e15 : 1e100); }

/* r against a reference computed in double, group by group (the groups of
 * a reduction of a over mask; r in the keepdims or the dropped shape, C
 * order agrees): min and max exactly, the others within what their
 * roundings allow for inputs bounded by b (checked for finiteness only,
 * by the bounds, when b is not small). */
static void verify_more(int kind, const tg_tensor *r, const tg_tensor *a, unsigned mask,
                        double ddof, double b, const char *what)
{
    int64_t sh[TG_MAX_DIMS];
    for (int k = 0; k < a->ndim; k++)
        sh[k] = (mask >> k) & 1u ? 1 : a->shape[k];
    int64_t n = shape_numel(a->ndim, sh);
    FZ_CHECK(n == r->numel, "%s: %lld results, reference %lld", what,
             (long long)r->numel, (long long)n);
    /* per group: sum, sum |x|, min, max, prod, count, sum (x - mean)^2, sum x^2 */
    double *acc = calloc((size_t)(n ? n : 1) * 8, sizeof(double));
    FZ_CHECK(acc != NULL, "out of memory in the fuzzer");
    for (int64_t i = 0; i < n; i++) {
        acc[8 * i + 2] = INF;
        acc[8 * i + 3] = -INF;
        acc[8 * i + 4] = 1;
    }
    for (int pass = 0; pass < 2 && a->numel > 0; pass++) {
        int64_t idx[TG_MAX_DIMS] = {0}, oi[TG_MAX_DIMS];
        do {
            for (int k = 0; k < a->ndim; k++)
                oi[k] = (mask >> k) & 1u ? 0 : idx[k];
            double v = at(a, idx), *c = &acc[8 * flat_of(oi, a->ndim, sh)];
            if (pass == 1) {
                double d = v - c[0] / c[5];
                c[6] += d * d;
                continue;
            }
            c[0] += v;
            c[1] += fabs(v);
            c[2] = isnan(c[2]) || !(isnan(v) || v < c[2]) ? c[2] : v; /* NaN wins */
            c[3] = isnan(c[3]) || !(isnan(v) || v > c[3]) ? c[3] : v;
            c[4] *= v;
            c[5] += 1;
            c[7] += v * v;
        } while (next_index(a->ndim, a->shape, idx));
    }
    double u = r->dtype == TG_FLOAT32 ? 6e-8 : 1.2e-16, dn = denorm(r->dtype);
    bool bounded = rm_bounded(r->dtype, b);
    int64_t ri[TG_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        const double *c = &acc[8 * i];
        double got = at(r, ri), cnt = c[5], dof = cnt - ddof, want, tol;
        double sumtol = 2 * u * (cnt + 1) * c[1] + (cnt + 1) * dn;
        bool ok;
        switch (kind) {
        case RM_MAX:
        case RM_MIN:
            want = kind == RM_MAX ? c[3] : c[2];
            ok = same_value(got, want);
            break;
        case RM_SUM:
        case RM_NORM1:
            want = kind == RM_SUM ? c[0] : c[1];
            ok = too_big(r->dtype, c[1]) || close_value(got, want, sumtol);
            break;
        case RM_MEAN:
            want = cnt ? c[0] / cnt : (double)NAN;
            ok = too_big(r->dtype, c[1]) || close_value(got, want, cnt ? sumtol / cnt : 0);
            break;
        case RM_PROD: /* partial products may underflow, then grow again */
            want = c[4];
            tol = 2 * u * (cnt + 1) * fabs(want) + (cnt + 1) * dn * pow(fmax(b, 1), cnt);
            ok = !bounded || pow(fmax(b, 1), cnt) > 1e30 || close_value(got, want, tol);
            break;
        case RM_NORM2: /* positive terms; tiny squares underflow */
            want = sqrt(c[7]);
            tol = 2 * u * (cnt + 2) * want + sqrt((cnt + 1) * dn);
            ok = !bounded || close_value(got, want, tol);
            break;
        default: { /* var, std: the deviations' roundings, against the
                    * group's largest |value| (b, unless an in-place write
                    * made the values larger than the bound says) */
            double bm = fmax(b, fmax(fabs(c[2]), fabs(c[3])));
            want = dof > 0 ? c[6] / dof : (double)NAN;
            tol = 64 * u * (cnt + 2) * bm * bm * cnt / dof + 1e-30;
            if (kind == RM_STD) {
                want = sqrt(want);
                tol = sqrt(tol);
            }
            ok = !rm_bounded(r->dtype, bm) || dof <= 0 || close_value(got, want, tol);
            break;
        }
        }
        FZ_CHECK(ok, "%s: element %lld is %.17g, reference %.17g", what, (long long)i,
                 got, want);
        next_index(r->ndim, r->shape, ri);
    }
    free(acc);
}

/* r = cumsum(a) along axis, against running sums in double. */
static void verify_cumsum(const tg_tensor *r, const tg_tensor *a, int axis, const char *what)
{
    if (a->numel == 0)
        return;
    double u = r->dtype == TG_FLOAT32 ? 6e-8 : 1.2e-16, dn = denorm(r->dtype);
    int64_t idx[TG_MAX_DIMS] = {0};
    do {
        if (idx[axis] != 0)
            continue;
        double s = 0, sabs = 0;
        for (int64_t j = 0; j < a->shape[axis]; j++) {
            idx[axis] = j;
            double v = at(a, idx), got = at(r, idx);
            s += v;
            sabs += fabs(v);
            double tol = 2 * u * (double)(j + 2) * sabs + (double)(j + 2) * dn;
            FZ_CHECK(too_big(r->dtype, sabs) || close_value(got, s, tol),
                     "%s: element %lld is %.17g, reference %.17g", what,
                     (long long)flat_of(idx, a->ndim, a->shape), got, s);
        }
        idx[axis] = 0;
    } while (next_index(a->ndim, a->shape, idx));
}

/* One of reduce_more.c's ops on the tape: whole (form 0), along one axis
 * (1) or over a set of axes (2, 3: up to three axes from the bytes, now and
 * then out of range or repeated, which must fail cleanly), or cumsum. */
static void op_reduce_more(prog *P, int ia)
{
    static const char *const names[RM_COUNT] = {
        "sum_axes", "mean_axes", "max_axes", "min_axes", "prod_axes",
        "var_axes", "std_axes", "norm_axes(1)", "norm_axes(2)"};
    tg_tensor *a = P->pool[ia].t, *r = NULL;
    double b = P->pool[ia].bound;
    int kind = fz_byte(&P->in) % (RM_COUNT + 1), form = fz_byte(&P->in) % 4;
    bool keep = fz_byte(&P->in) & 1;
    int axes[3], naxes = form == 0 ? 0 : form == 1 ? 1 : fz_byte(&P->in) % 4;
    for (int i = 0; i < naxes; i++)
        axes[i] = pick_axis(P);
    double ddof = 0.5 * (double)(fz_byte(&P->in) % 4), ord = kind == RM_NORM1 ? 1 : 2;
    if (kind == RM_COUNT) {
        int axis = pick_axis(P), ax = norm_axis(axis, a->ndim);
        r = tg_ad_cumsum(P->T, a, axis);
        if (r)
            verify_cumsum(r, a, ax, "cumsum");
        double len = ax >= 0 && ax < a->ndim ? (double)a->shape[ax] : 0;
        add_slot(P, r, false, b * len, 1, ia, len, 0, 0, "cumsum");
        return;
    }
    /* the mask the call should reduce (whole: every axis) */
    unsigned mask = form == 0 ? (1u << a->ndim) - 1 : 0;
    bool valid = true;
    for (int i = 0; i < naxes; i++) {
        int ax = norm_axis(axes[i], a->ndim);
        valid = valid && ax >= 0 && ax < a->ndim && !((mask >> ax) & 1u);
        if (valid)
            mask |= 1u << ax;
    }
    if (form == 0 && kind <= RM_MAX) { /* their whole forms: all axes listed */
        naxes = a->ndim < 3 ? a->ndim : 0;
        for (int k = 0; k < naxes; k++)
            axes[k] = a->ndim - 1 - k;
        if (a->ndim >= 3) /* more than three: the whole tensor's own forms */
            return;
    }
    tg_tape *T = P->T;
    bool whole = form == 0 && kind > RM_MAX, along = form == 1 && kind > RM_MAX;
    switch (kind) {
    case RM_SUM: r = tg_ad_sum_axes(T, a, naxes, axes, keep); break;
    case RM_MEAN: r = tg_ad_mean_axes(T, a, naxes, axes, keep); break;
    case RM_MAX: r = tg_ad_max_axes(T, a, naxes, axes, keep); break;
    case RM_MIN:
        r = whole ? tg_ad_min(T, a) : along ? tg_ad_min_axis(T, a, axes[0], keep)
                                            : tg_ad_min_axes(T, a, naxes, axes, keep);
        break;
    case RM_PROD:
        r = whole ? tg_ad_prod(T, a) : along ? tg_ad_prod_axis(T, a, axes[0], keep)
                                             : tg_ad_prod_axes(T, a, naxes, axes, keep);
        break;
    case RM_VAR:
        r = whole ? tg_ad_var(T, a, ddof) : along ? tg_ad_var_axis(T, a, axes[0], ddof, keep)
                                                  : tg_ad_var_axes(T, a, naxes, axes, ddof, keep);
        break;
    case RM_STD:
        r = whole ? tg_ad_std(T, a, ddof) : along ? tg_ad_std_axis(T, a, axes[0], ddof, keep)
                                                  : tg_ad_std_axes(T, a, naxes, axes, ddof, keep);
        break;
    default:
        r = whole ? tg_ad_norm(T, a, ord) : along ? tg_ad_norm_axis(T, a, axes[0], ord, keep)
                                                  : tg_ad_norm_axes(T, a, naxes, axes, ord, keep);
        break;
    }
    double cnt = 1;
    for (int k = 0; k < a->ndim; k++)
        if ((mask >> k) & 1u)
            cnt *= (double)a->shape[k];
    if (r) {
        FZ_CHECK(valid, "%s: bad axes were accepted", names[kind]);
        verify_more(kind, r, a, mask, kind == RM_VAR || kind == RM_STD ? ddof : 0, b,
                    names[kind]);
    }
    /* bounds on the values and on |d out / d a| */
    double dof = cnt - ddof, bound = INF, factor = INF;
    bool sq = rm_bounded(a->dtype, b);
    switch (kind) {
    case RM_SUM: bound = b * cnt; factor = 1; break;
    case RM_MEAN: bound = cnt ? b : INF; factor = cnt ? 1 : INF; break;
    case RM_MAX:
    case RM_MIN: bound = b; factor = 1; break;
    case RM_PROD:
        bound = pow(fmax(b, 1), cnt);
        factor = pow(fmax(b, 1), fmax(cnt - 1, 0));
        break;
    case RM_VAR: /* |x - mean| <= 2b; the gradient 2 (x - mean) / dof */
        bound = sq && dof > 0 ? 4 * b * b * cnt / dof : INF;
        factor = sq && dof > 0 ? 4 * b / dof : INF;
        break;
    case RM_STD: /* g / (2 std) over a tiny std overflows in any library */
        bound = sq && dof > 0 ? 2 * b * sqrt(cnt / dof) : INF;
        break;
    case RM_NORM1: bound = b * cnt; factor = 1; break;
    default: bound = sq ? b * sqrt(cnt) : INF; break; /* a / norm: likewise */
    }
    add_slot(P, r, false, bound, 1, ia, factor, 0, 0, names[kind]);
}

static void op_reduce(prog *P)
{
    int kind = fz_byte(&P->in) % 10, ia = pick(P);
    if (kind >= 7) { /* three in ten: reduce_more.c's ops */
        op_reduce_more(P, ia);
        return;
    }
    int axis = pick_axis(P);
    bool keep = fz_byte(&P->in) & 1;
    tg_tensor *a = P->pool[ia].t, *r;
    double b = P->pool[ia].bound;
    int64_t n = a->numel;
    int ax = norm_axis(axis, a->ndim);
    int64_t len = ax >= 0 && ax < a->ndim ? a->shape[ax] : 0;
    int64_t sh[TG_MAX_DIMS];
    int nd;
    switch (kind) {
    case 0:
        r = checked_reduce(0, tg_ad_sum(P->T, a), a, -1, "sum");
        add_slot(P, r, false, b * (double)n, 1, ia, 1, 0, 0, "sum");
        return;
    case 1: /* the mean of nothing is NaN */
        r = checked_reduce(1, tg_ad_mean(P->T, a), a, -1, "mean");
        add_slot(P, r, false, n ? b : INF, 1, ia, n ? 1 : INF, 0, 0,
                 "mean");
        return;
    case 2:
        r = checked_reduce(2, tg_ad_max(P->T, a), a, -1, "max");
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "max");
        return;
    case 3:
        r = checked_reduce(0, tg_ad_sum_axis(P->T, a, axis, keep), a, ax, "sum_axis");
        add_slot(P, r, false, b * (double)len, 1, ia, 1, 0, 0, "sum_axis");
        return;
    case 4:
        r = checked_reduce(1, tg_ad_mean_axis(P->T, a, axis, keep), a, ax, "mean_axis");
        add_slot(P, r, false, len || (r && r->numel == 0) ? b : INF, 1, ia,
                 len ? 1 : INF, 0, 0, "mean_axis");
        return;
    case 5:
        r = checked_reduce(2, tg_ad_max_axis(P->T, a, axis, keep), a, ax, "max_axis");
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "max_axis");
        return;
    default:
        nd = sum_to_shape(P, a, sh);
        r = checked_reduce(0, tg_ad_sum_to(P->T, a, nd, sh), a, -2, "sum_to");
        add_slot(P, r, false, b * (double)n, 1, ia, 1, 0, 0, "sum_to");
        return;
    }
}

/* A shape for reshape: random sizes, a flattening, a split at a divisor,
 * or the same sizes with ones inserted. */
static int reshape_shape(prog *P, const tg_tensor *t, int64_t *sh)
{
    uint8_t m = fz_byte(&P->in);
    int nd = 0;
    switch (m % 4) {
    case 0:
        nd = fz_byte(&P->in) % 6;
        for (int k = 0; k < nd; k++) {
            uint8_t v = fz_byte(&P->in);
            sh[k] = v == 0xff ? -1 : v % 6;
        }
        return nd;
    case 1:
        sh[0] = -1;
        return 1;
    case 2: {
        int64_t d = 1 + fz_byte(&P->in) % 6;
        if (t->numel % d)
            d = 1;
        sh[0] = d;
        sh[1] = -1;
        return 2;
    }
    default:
        for (int k = 0; k < t->ndim && nd < TG_MAX_DIMS; k++) {
            if (nd < TG_MAX_DIMS - 1 && (fz_byte(&P->in) & 1))
                sh[nd++] = 1;
            sh[nd++] = t->shape[k];
        }
        return nd;
    }
}

static void op_view(prog *P)
{
    int kind = fz_byte(&P->in) % 6, ia = pick(P);
    tg_tensor *a = P->pool[ia].t, *r;
    double b = P->pool[ia].bound;
    int64_t sh[TG_MAX_DIMS];
    int nd;
    switch (kind) {
    case 0:
        nd = reshape_shape(P, a, sh);
        r = checked_view(0, tg_ad_reshape(P->T, a, nd, sh), a, NULL, 0, 0, 0, "reshape");
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "reshape");
        return;
    case 1: {
        int a0 = pick_axis(P), a1 = pick_axis(P);
        int perm[TG_MAX_DIMS];
        for (int k = 0; k < a->ndim; k++)
            perm[k] = k;
        if (a0 >= -a->ndim && a0 < a->ndim && a1 >= -a->ndim && a1 < a->ndim) {
            perm[norm_axis(a0, a->ndim)] = norm_axis(a1, a->ndim);
            perm[norm_axis(a1, a->ndim)] = norm_axis(a0, a->ndim);
        }
        r = checked_view(1, tg_ad_transpose(P->T, a, a0, a1), a, perm, 0, 0, 0,
                         "transpose");
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "transpose");
        return;
    }
    case 2: { /* a permutation from the bytes; now and then a broken one */
        int perm[TG_MAX_DIMS];
        for (int k = 0; k < a->ndim; k++)
            perm[k] = k;
        for (int k = a->ndim - 1; k > 0; k--) {
            int j = fz_byte(&P->in) % (k + 1), tmp = perm[k];
            perm[k] = perm[j];
            perm[j] = tmp;
        }
        uint8_t m = fz_byte(&P->in);
        if (a->ndim > 0 && m % 8 == 0)
            perm[m / 8 % a->ndim] = (int)(fz_byte(&P->in) % 17) - 8;
        else if (a->ndim > 0 && m % 8 == 1)
            perm[m / 8 % a->ndim] -= a->ndim; /* the same axis counted back */
        int norm[TG_MAX_DIMS];
        for (int k = 0; k < a->ndim; k++)
            norm[k] = norm_axis(perm[k], a->ndim);
        r = checked_view(1, tg_ad_permute(P->T, a, perm), a, norm, 0, 0, 0,
                         "permute");
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "permute");
        return;
    }
    case 3: { /* a slice: in range, or raw bytes (negative, past the ends),
               * either bound now and then omitted (TG_NONE) */
        int axis = pick_axis(P);
        uint8_t m = fz_byte(&P->in);
        static const int64_t steps[8] = {1, 2, 3, -1, -2, 0, 5, -3};
        int64_t step = steps[m % 8], start, stop;
        int ax = norm_axis(axis, a->ndim);
        int64_t n = ax >= 0 && ax < a->ndim ? a->shape[ax] : 0;
        if (m & 8 || n == 0) {
            start = (int8_t)fz_byte(&P->in) % 8;
            stop = (int8_t)fz_byte(&P->in) % 8;
        } else if (step > 0) {
            start = fz_byte(&P->in) % (n + 1);
            stop = start + fz_byte(&P->in) % (n - start + 1);
        } else {
            start = fz_byte(&P->in) % n;
            stop = start - fz_byte(&P->in) % (start + 2);
            if (stop < 0)
                stop = TG_NONE; /* through index 0 */
        }
        if (m & 16)
            start = TG_NONE;
        if (m & 32)
            stop = TG_NONE;
        int64_t first = 0, len = 0;
        if (step)
            py_slice(n, start, stop, step, &first, &len);
        r = checked_view(2, tg_ad_slice(P->T, a, axis, start, stop, step), a, NULL,
                         ax, first, step, "slice");
        if (r)
            FZ_CHECK(r->shape[ax] == len, "slice: %lld elements, Python takes %lld",
                     (long long)r->shape[ax], (long long)len);
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "slice");
        return;
    }
    case 4: { /* expand: size-1 axes grown, new leading axes; or raw sizes */
        uint8_t m = fz_byte(&P->in);
        int lead = m % 3;
        nd = 0;
        if (m & 8) {
            nd = fz_byte(&P->in) % 9;
            for (int k = 0; k < nd; k++)
                sh[k] = fz_byte(&P->in) % 6;
        } else if (a->ndim + lead <= TG_MAX_DIMS) {
            for (int k = 0; k < lead; k++)
                sh[nd++] = fz_byte(&P->in) % 6;
            for (int k = 0; k < a->ndim; k++)
                sh[nd++] = a->shape[k] == 1 ? fz_byte(&P->in) % 6 : a->shape[k];
        }
        if (shape_numel(nd, sh) > MAX_NUMEL)
            return;
        r = checked_view(3, tg_ad_expand(P->T, a, nd, sh), a, NULL, 0, 0, 0, "expand");
        add_slot(P, r, false, b, 1, ia, fan(r ? r->numel : 0, a->numel), 0, 0,
                 "expand");
        return;
    }
    default: {
        tg_dtype dt = fz_byte(&P->in) & 1 ? TG_FLOAT64 : TG_FLOAT32;
        r = checked_view(4, tg_ad_cast(P->T, a, dt), a, NULL, 0, 0, 0, "cast");
        add_slot(P, r, false, b, 1, ia, 1, 0, 0, "cast");
        return;
    }
    }
}

/* ---- joining and reordering (autograd/join.c, tensor/join.c) -------------------
 * Every element of a result is an element of an input (or pad's value):
 * each is compared exactly with the one the op's definition names. */

/* The element of r at idx, per kind: 0 concat / 1 stack of in[0..n) along
 * k, 3 pad (w: before/after per axis, v the value), 5 tile, 6 repeat (reps
 * along k). */
static double join_ref(int kind, const tg_tensor *const *in, int n, int k,
                       const int64_t *w, double v, int64_t reps,
                       const tg_tensor *r, const int64_t *idx)
{
    int64_t ai[TG_MAX_DIMS];
    const tg_tensor *a = in[0];
    switch (kind) {
    case 0: {
        int64_t off = idx[k];
        int i = 0;
        while (i < n - 1 && off >= in[i]->shape[k])
            off -= in[i++]->shape[k];
        memcpy(ai, idx, sizeof(int64_t) * (size_t)r->ndim);
        ai[k] = off;
        return at(in[i], ai);
    }
    case 1:
        for (int j = 0, q = 0; j < r->ndim; j++)
            if (j != k)
                ai[q++] = idx[j];
        return at(in[idx[k]], ai);
    case 3:
        for (int j = 0; j < a->ndim; j++) {
            ai[j] = idx[j] - w[2 * j];
            if (ai[j] < 0 || ai[j] >= a->shape[j])
                return round_to(r->dtype, v);
        }
        return at(a, ai);
    case 5:
        for (int j = 0; j < a->ndim; j++)
            ai[j] = idx[j + r->ndim - a->ndim] % a->shape[j];
        return at(a, ai);
    default:
        memcpy(ai, idx, sizeof(int64_t) * (size_t)r->ndim);
        ai[k] = idx[k] / reps;
        return at(a, ai);
    }
}

static void verify_join(int kind, const tg_tensor *const *in, int n, int k,
                        const int64_t *w, double v, int64_t reps,
                        const tg_tensor *r, const char *what)
{
    int64_t idx[TG_MAX_DIMS] = {0};
    if (r->numel == 0)
        return;
    do {
        double want = join_ref(kind, in, n, k, w, v, reps, r, idx), got = at(r, idx);
        REF_CHECK(same_value(got, want), what, idx, r->ndim, got, want);
    } while (next_index(r->ndim, r->shape, idx));
}

/* The result's element count if the op can run (else the library must
 * refuse it, which costs nothing), to keep every result small. */
static int64_t join_numel(int kind, const tg_tensor *const *in, int n,
                          const int64_t *w, int nr, const int64_t *reps)
{
    const tg_tensor *a = in[0];
    double total = (double)a->numel;
    switch (kind) {
    case 0:
    case 1:
        total = 0;
        for (int i = 0; i < n; i++)
            total += (double)in[i]->numel;
        return (int64_t)total;
    case 3:
        total = 1;
        for (int j = 0; j < a->ndim; j++)
            total *= (double)(a->shape[j] + w[2 * j] + w[2 * j + 1]);
        return (int64_t)total;
    case 5:
        for (int j = 0; j < nr; j++)
            total *= (double)reps[j];
        /* leading ones on t's side change nothing; on the reps' side the
         * count is the same */
        return total > 1e9 ? INT64_MAX : (int64_t)total;
    case 6:
        return (int64_t)(total * (double)reps[0]);
    default:
        return a->numel;
    }
}

static void op_join(prog *P)
{
    static const char *const names[7] = {"concat", "stack", "split", "pad", "flip",
                                         "tile", "repeat"};
    uint8_t m = fz_byte(&P->in);
    int kind = m % 7, ia = pick(P), ib = pick(P), n = 1 + (m >> 3) % 3;
    bool plain = m & 0x80; /* tensor.h's form: a caller-owned result */
    int axis = pick_axis(P);
    tg_tensor *a = P->pool[ia].t, *b = P->pool[ib].t, *r = NULL;
    /* Up to three inputs: a, b and a again (a twice gets both gradients). */
    tg_tensor *in[3] = {a, b, a};
    const tg_tensor *cin[3] = {a, b, a};
    double ba = P->pool[ia].bound, bb = P->pool[ib].bound;
    int64_t w[2 * TG_MAX_DIMS], reps[TG_MAX_DIMS];
    double v = scalars[fz_byte(&P->in) % 16];
    int nr = 0;
    for (int j = 0; j < 2 * TG_MAX_DIMS; j++)
        w[j] = fz_byte(&P->in) % 3;
    if (kind == 5) {
        nr = fz_byte(&P->in) % 4;
        for (int j = 0; j < nr; j++)
            reps[j] = fz_byte(&P->in) % 4;
    } else {
        reps[0] = fz_byte(&P->in) % 4;
    }
    if (join_numel(kind, cin, kind <= 1 ? n : 1, w, nr, reps) > MAX_NUMEL)
        return;
    const char *what = names[kind];
    int k = norm_axis(axis, kind == 1 ? a->ndim + 1 : a->ndim);
    switch (kind) {
    case 0:
    case 1: {
        if (plain)
            r = kind ? tg_stack(n, cin, axis) : tg_concat(n, cin, axis);
        else
            r = kind ? tg_ad_stack(P->T, n, in, axis) : tg_ad_concat(P->T, n, in, axis);
        if (r)
            verify_join(kind, cin, n, k, w, v, 1, r, what);
        double bound = n > 1 ? fmax(ba, bb) : ba;
        if (plain)
            add_slot(P, r, true, bound, 0, 0, 0, 0, 0, what);
        else if (n == 1)
            add_slot(P, r, false, bound, 1, ia, 1, 0, 0, what);
        else /* a appears twice when n is 3 (and once more if ib is ia) */
            add_slot(P, r, false, bound, 2, ia, n == 3 ? 2 : 1, ib, 1, what);
        return;
    }
    case 2: { /* split into sizes from the bytes (or a chunk), each piece kept */
        tg_tensor *p[3];
        int64_t sizes[3], len = k >= 0 && k < a->ndim ? a->shape[k] : 0, used = 0;
        bool chunk = fz_byte(&P->in) & 1;
        for (int i = 0; i < n; i++) {
            sizes[i] = i == n - 1 ? len - used : fz_byte(&P->in) % (len - used + 1);
            used += sizes[i];
        }
        if (fz_byte(&P->in) % 8 == 0)
            sizes[0] += 1; /* now and then sizes that do not add up */
        int rc = plain ? (chunk ? tg_chunk(a, axis, n, p) : tg_split(a, axis, n, sizes, p))
                       : (chunk ? tg_ad_chunk(P->T, a, axis, n, p)
                                : tg_ad_split(P->T, a, axis, n, sizes, p));
        if (rc) {
            check_null(what);
            for (int i = 0; i < n; i++)
                FZ_CHECK(p[i] == NULL, "a failed split left piece %d", i);
            return;
        }
        int64_t off = 0;
        for (int i = 0; i < n; i++) {
            FZ_CHECK(tg_shares_storage(p[i], a) || (plain && (a->flags & TG__ARENA)),
                     "piece %d is not a view", i); /* a heap view of the tape's is a copy */
            verify_view(2, p[i], a, NULL, k, off, 1, what);
            off += p[i]->shape[k];
            add_slot(P, p[i], plain, ba, plain ? 0 : 1, ia, 1, 0, 0, what);
        }
        FZ_CHECK(off == len, "the pieces hold %lld of %lld elements", (long long)off,
                 (long long)len);
        return;
    }
    case 3:
        r = plain ? tg_pad(a, w, v) : tg_ad_pad(P->T, a, w, v);
        if (r)
            verify_join(3, cin, 1, 0, w, v, 1, r, what);
        add_slot(P, r, plain, fmax(ba, fabs(v)), plain ? 0 : 1, ia, 1, 0, 0, what);
        return;
    case 4:
        r = plain ? tg_flip(a, axis) : tg_ad_flip(P->T, a, axis);
        if (r) {
            FZ_CHECK(tg_shares_storage(r, a) || (plain && (a->flags & TG__ARENA)),
                     "flip is not a view");
            verify_view(2, r, a, NULL, k, a->shape[k] - 1, -1, what);
        }
        add_slot(P, r, plain, ba, plain ? 0 : 1, ia, 1, 0, 0, what);
        return;
    case 5:
        r = plain ? tg_tile(a, nr, reps) : tg_ad_tile(P->T, a, nr, reps);
        if (r)
            verify_join(5, cin, 1, 0, w, v, 1, r, what);
        add_slot(P, r, plain, ba, plain ? 0 : 1, ia, fan(r ? r->numel : 0, a->numel), 0,
                 0, what);
        return;
    default:
        r = plain ? tg_repeat(a, axis, reps[0]) : tg_ad_repeat(P->T, a, axis, reps[0]);
        if (r)
            verify_join(6, cin, 1, k, w, v, reps[0], r, what);
        add_slot(P, r, plain, ba, plain ? 0 : 1, ia, (double)(reps[0] ? reps[0] : 1), 0,
                 0, what);
        return;
    }
}

/* matmul's result shape and cost, when the operands fit (else the library
 * must refuse them, which costs nothing). */
static bool matmul_plan(const tg_tensor *a, const tg_tensor *b, int64_t *numel,
                        double *flops, int64_t *k)
{
    if (a->ndim == 0 || b->ndim == 0) /* mixed floats promote to float64 */
        return false;
    *k = a->shape[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    if (*k != kb)
        return false;
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nb = b->ndim > 2 ? b->ndim - 2 : 0;
    int nbatch = na > nb ? na : nb;
    int64_t n = 1;
    for (int i = 0; i < nbatch; i++) {
        int ia = i - (nbatch - na), ib = i - (nbatch - nb);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return false;
        n *= sa == 1 ? sb : sa;
    }
    if (a->ndim >= 2)
        n *= a->shape[a->ndim - 2];
    if (b->ndim >= 2)
        n *= b->shape[b->ndim - 1];
    *numel = n;
    *flops = (double)n * (double)(*k > 0 ? *k : 1);
    return true;
}

static void op_matmul(prog *P)
{
    int ia = pick(P), ib = pick(P);
    tg_tensor *a = P->pool[ia].t, *b = P->pool[ib].t;
    int64_t numel = 0, k = 0;
    double flops = 0;
    if (matmul_plan(a, b, &numel, &flops, &k) &&
        (numel > MAX_NUMEL || flops > MAX_FLOPS))
        return;
    tg_tensor *r = tg_ad_matmul(P->T, a, b);
    if (r)
        verify_matmul(r, a, b, "matmul");
    double ba = P->pool[ia].bound, bb = P->pool[ib].bound, kk = (double)(k ? k : 1);
    int64_t on = r ? r->numel : 0;
    add_slot(P, r, false, ba * bb * kk, 2, ia, fan(on, a->numel) * kk * fmax(bb, 1),
             ib, fan(on, b->numel) * kk * fmax(ba, 1), "matmul");
}

/* tensor.h's own functions on pool tensors; results are caller-owned and
 * carry no gradient. */
static void op_plain(prog *P)
{
    int kind = fz_byte(&P->in) % 12, ia = pick(P);
    tg_tensor *a = P->pool[ia].t, *r = NULL, *out;
    double b = P->pool[ia].bound;
    int axis = pick_axis(P);
    int64_t sh[TG_MAX_DIMS];
    int nd, rc;
    double v;
    switch (kind) {
    case 0:
        r = tg_select(a, axis, (int8_t)fz_byte(&P->in) % 7);
        add_slot(P, r, true, b, 0, 0, 0, 0, 0, "tg_select");
        return;
    case 1:
        r = tg_squeeze(a, axis);
        add_slot(P, r, true, b, 0, 0, 0, 0, 0, "tg_squeeze");
        return;
    case 2:
        r = tg_unsqueeze(a, axis);
        add_slot(P, r, true, b, 0, 0, 0, 0, 0, "tg_unsqueeze");
        return;
    case 3:
        if (fz_byte(&P->in) & 1)
            r = checked_reduce(3, tg_argmax(a), a, -1, "tg_argmax");
        else
            r = checked_reduce(3, tg_argmax_axis(a, axis, fz_byte(&P->in) & 1), a,
                               norm_axis(axis, a->ndim), "tg_argmax_axis");
        add_slot(P, r, true, (double)a->numel, 0, 0, 0, 0, 0, "tg_argmax");
        if (r && !P->dirty && !fz_failed)
            FZ_CHECK(max_abs(r) < (double)(a->numel ? a->numel : 1),
                     "an arg-max outside the tensor");
        return;
    case 4:
        r = checked_view(4, fz_byte(&P->in) & 1 ? tg_contiguous(a) : tg_clone(a), a,
                         NULL, 0, 0, 0, "tg_clone");
        add_slot(P, r, true, b, 0, 0, 0, 0, 0, "tg_clone");
        if (r)
            FZ_CHECK(tg_is_contiguous(r), "a contiguous copy is not contiguous");
        return;
    case 5:
        if (P->devnull)
            FZ_CHECK(tg_print(a, P->devnull) == TG_OK, "tg_print failed");
        return;
    case 6: { /* tg_get at an index from the bytes, tg_item */
        int64_t idx[TG_MAX_DIMS];
        for (int k = 0; k < a->ndim; k++)
            idx[k] = (int8_t)fz_byte(&P->in) % 7;
        rc = tg_get(a, idx, &v);
        if (rc)
            check_null("tg_get");
        rc = tg_item(a, &v);
        if (rc)
            check_null("tg_item");
        FZ_CHECK(rc != TG_OK || a->numel == 1, "tg_item of %lld elements",
                 (long long)a->numel);
        return;
    }
    case 7: { /* the *_into forms into a fresh caller-owned result */
        int ib = pick(P);
        tg_tensor *c = P->pool[ib].t;
        if (!broadcast(a, c, &nd, sh) || shape_numel(nd, sh) > MAX_NUMEL)
            return;
        out = tg_empty(a->dtype, nd, sh);
        if (!out) {
            check_null("tg_empty");
            return;
        }
        tg_binop op = (tg_binop)(fz_byte(&P->in) % TG_BINOP_COUNT_);
        rc = tg_binary_into(op, out, a, c);
        if (rc) {
            check_null("tg_binary_into");
            tg_free(out);
            return;
        }
        verify_binary((int)op, out, a, c, "tg_binary_into");
        double bc = P->pool[ib].bound;
        double bound = op == TG_ADD || op == TG_SUB ? b + bc
                       : op == TG_MUL               ? b * bc
                       : op == TG_MAXIMUM || op == TG_MINIMUM ? fmax(b, bc)
                       : op == TG_GE ? (fmax(b, bc) <= limit(P) ? 1.0 : INF)
                                                              : INF;
        add_slot(P, out, true, bound, 0, 0, 0, 0, 0, "tg_binary_into");
        return;
    }
    case 8: /* the sum into a fresh 0-d tensor */
        out = tg_empty(a->dtype, 0, NULL);
        if (!out) {
            check_null("tg_empty");
            return;
        }
        if (tg_sum_into(out, a)) {
            check_null("tg_sum_into");
            tg_free(out);
            return;
        }
        verify_reduce(0, out, a, -1, "tg_sum_into");
        add_slot(P, out, true, b * (double)a->numel, 0, 0, 0, 0, 0, "tg_sum_into");
        return;
    case 9:
        nd = sum_to_shape(P, a, sh);
        r = checked_reduce(0, tg_sum_to(a, nd, sh), a, -2, "tg_sum_to");
        add_slot(P, r, true, b * (double)a->numel, 0, 0, 0, 0, 0, "tg_sum_to");
        return;
    case 10: { /* plain matmul against the plain result of the tape's */
        int ib = pick(P);
        tg_tensor *c = P->pool[ib].t;
        int64_t numel = 0, k = 0;
        double flops = 0;
        if (matmul_plan(a, c, &numel, &flops, &k) &&
            (numel > MAX_NUMEL || flops > MAX_FLOPS))
            return;
        r = tg_matmul(a, c);
        if (r)
            verify_matmul(r, a, c, "tg_matmul");
        add_slot(P, r, true, b * P->pool[ib].bound * (double)(k ? k : 1), 0, 0, 0,
                 0, 0, "tg_matmul");
        return;
    }
    default: /* max and mean without a tape */
        if (fz_byte(&P->in) & 1)
            r = checked_reduce(2, tg_max_axis(a, axis, fz_byte(&P->in) & 1), a,
                               norm_axis(axis, a->ndim), "tg_max_axis");
        else
            r = checked_reduce(1, tg_mean(a), a, -1, "tg_mean");
        add_slot(P, r, true, INF, 0, 0, 0, 0, 0, "tg_max_axis/tg_mean");
        return;
    }
}

/* Writes into a pool tensor in place. The tape must notice when a recorded
 * tensor changed; values are unknown from here on. */
/* ---- selection and indexing (autograd/select.c, autograd/index.c) ------------
 * The masks and indices are bool and int64 tensors made from the bytes; the
 * results against element-by-element references. */

static tg_tensor *keep_aux(prog *P, tg_tensor *t)
{
    if (t && P->naux < MAX_OPS)
        P->aux[P->naux++] = t;
    else if (t) {
        tg_free(t);
        t = NULL;
    }
    return t;
}

/* A bool mask of shape (the first nd of a's, or a's own): a byte's bits. */
static tg_tensor *make_mask(prog *P, int nd, const int64_t *shape)
{
    tg_tensor *m = tg_empty(TG_BOOL, nd, shape);
    if (!m) {
        check_null("tg_empty (mask)");
        return NULL;
    }
    uint8_t bits = fz_byte(&P->in);
    for (int64_t i = 0; i < m->numel; i++)
        ((uint8_t *)m->storage->data)[i] = (bits >> (i % 8)) & 1;
    return keep_aux(P, m);
}

/* An int64 index of n values in [-size, size] (so sometimes one past). */
static tg_tensor *make_index(prog *P, int nd, const int64_t *shape, int64_t size)
{
    tg_tensor *ix = tg_empty(TG_INT64, nd, shape);
    if (!ix) {
        check_null("tg_empty (index)");
        return NULL;
    }
    for (int64_t i = 0; i < ix->numel; i++) {
        int64_t v = (int64_t)(fz_byte(&P->in) % (uint8_t)(2 * size + 2)) - size;
        ((int64_t *)ix->storage->data)[i] = v;
    }
    return keep_aux(P, ix);
}

static void op_select(prog *P)
{
    int kind = fz_byte(&P->in) % 5, ia = pick(P), ib = pick(P);
    tg_tensor *a = P->pool[ia].t, *b = P->pool[ib].t, *r = NULL;
    double ba = P->pool[ia].bound, bb = P->pool[ib].bound;
    int64_t idx[TG_MAX_DIMS] = {0}, ai[TG_MAX_DIMS], bi[TG_MAX_DIMS];
    if (kind <= 2) {
        tg_tensor *m = make_mask(P, a->ndim, a->shape);
        if (!m)
            return;
        if (kind == 0) { /* where(m, a, b) */
            int nd;
            int64_t sh[TG_MAX_DIMS];
            r = tg_ad_where(P->T, m, a, b);
            if (!r) {
                check_null("tg_ad_where");
                return;
            }
            FZ_CHECK(broadcast(a, b, &nd, sh) && r->ndim == nd, "where: shape");
            if (r->numel)
                do {
                    bcast_index(a, nd, idx, ai);
                    bcast_index(b, nd, idx, bi);
                    double want = at(m, ai) ? at(a, ai) : at(b, bi);
                    FZ_CHECK(same_value(at(r, idx), round_to(r->dtype, want)), "where: value");
                } while (next_index(nd, sh, idx));
            add_slot(P, r, false, fmax(ba, bb), 2, ia, fan(r->numel, a->numel), ib,
                     fan(r->numel, b->numel), "where");
        } else if (kind == 1) { /* clamp(a, lo, hi) */
            double lo = -0.5, hi = (double)(fz_byte(&P->in) % 5) / 4.0;
            r = tg_ad_clamp(P->T, a, lo, hi);
            if (!r) {
                check_null("tg_ad_clamp");
                return;
            }
            if (r->numel)
                do {
                    double x = at(a, idx), want = x < lo ? lo : x;
                    want = want > hi ? hi : want;
                    FZ_CHECK(same_value(at(r, idx), want), "clamp: %g of %g in [%g, %g]",
                             at(r, idx), x, lo, hi);
                } while (next_index(a->ndim, a->shape, idx));
            add_slot(P, r, false, fmin(ba, 1.0), 1, ia, 1, 0, 0, "clamp");
        } else { /* masked_fill(a, m, v) */
            r = tg_ad_masked_fill(P->T, a, m, 0.25);
            if (!r) {
                check_null("tg_ad_masked_fill");
                return;
            }
            if (r->numel)
                do {
                    double want = at(m, idx) ? 0.25 : at(a, idx);
                    FZ_CHECK(same_value(at(r, idx), want), "masked_fill: value");
                } while (next_index(a->ndim, a->shape, idx));
            add_slot(P, r, false, fmax(ba, 0.25), 1, ia, 1, 0, 0, "masked_fill");
        }
        return;
    }
    /* index_select or gather along an axis of a */
    if (a->ndim == 0)
        return;
    int axis = (int)(fz_byte(&P->in) % (uint8_t)a->ndim);
    int64_t n = a->shape[axis];
    if (kind == 3) {
        int64_t len = fz_byte(&P->in) % 5;
        tg_tensor *ix = make_index(P, 1, &len, n);
        if (!ix)
            return;
        r = tg_ad_index_select(P->T, a, axis, ix);
        if (!r) {
            check_null("tg_ad_index_select");
            return;
        }
        FZ_CHECK(r->ndim == a->ndim && r->shape[axis] == len, "index_select: shape");
        if (r->numel)
            do {
                for (int k = 0; k < a->ndim; k++)
                    ai[k] = idx[k];
                int64_t v = ((const int64_t *)ix->storage->data)[idx[axis]];
                ai[axis] = v < 0 ? v + n : v;
                FZ_CHECK(same_value(at(r, idx), at(a, ai)), "index_select: value");
            } while (next_index(r->ndim, r->shape, idx));
        add_slot(P, r, false, ba, 1, ia, fmax((double)len, 1.0), 0, 0, "index_select");
    } else {
        int64_t sh[TG_MAX_DIMS];
        for (int k = 0; k < a->ndim; k++)
            sh[k] = k == axis ? fz_byte(&P->in) % 4 : a->shape[k];
        tg_tensor *ix = make_index(P, a->ndim, sh, n);
        if (!ix)
            return;
        r = tg_ad_gather(P->T, a, axis, ix);
        if (!r) {
            check_null("tg_ad_gather");
            return;
        }
        if (r->numel)
            do {
                for (int k = 0; k < a->ndim; k++)
                    ai[k] = idx[k];
                int64_t pos = 0, stride = 1; /* ix is contiguous, of shape sh */
                for (int k = a->ndim - 1; k >= 0; k--) {
                    pos += idx[k] * stride;
                    stride *= sh[k];
                }
                int64_t v = ((const int64_t *)ix->storage->data)[pos];
                ai[axis] = v < 0 ? v + n : v;
                FZ_CHECK(same_value(at(r, idx), at(a, ai)), "gather: value");
            } while (next_index(r->ndim, r->shape, idx));
        add_slot(P, r, false, ba, 1, ia, fmax((double)sh[axis], 1.0), 0, 0, "gather");
    }
}

static void op_inplace(prog *P)
{
    int kind = fz_byte(&P->in) % 5, ia = pick(P), ib = pick(P);
    tg_tensor *a = P->pool[ia].t, *c = P->pool[ib].t;
    double s = scalars[fz_byte(&P->in) % 15];
    int rc;
    const char *what;
    P->dirty = true;
    switch (kind) {
    case 0:
        rc = tg_fill(a, s);
        what = "tg_fill";
        break;
    case 1: {
        int64_t idx[TG_MAX_DIMS];
        for (int k = 0; k < a->ndim; k++)
            idx[k] = (int8_t)fz_byte(&P->in) % 6;
        rc = tg_set(a, idx, s);
        what = "tg_set";
        break;
    }
    case 2:
        rc = tg_unary_into((tg_unop)(fz_byte(&P->in) % TG_UNOP_COUNT_), a, a);
        what = "tg_unary_into";
        break;
    case 3:
        rc = tg_axpy_into(a, s, c);
        what = "tg_axpy_into";
        break;
    default:
        rc = tg_copy(a, c);
        what = "tg_copy";
        break;
    }
    if (rc)
        check_null(what);
}

/* ---- convolutions (autograd/conv.c) ---------------------------------------------- */

/* The geometry a conv call asks for, as the reference reads it. */
typedef struct conv_ref {
    int kind;                     /* 0 conv2d, 1 conv1d, 2 conv_transpose2d */
    int64_t s[2], p[2], d[2], g, op[2];
    bool same;
} conv_ref;

/* Element (n, c, i, j) of a 4-d x, or (n, c, j) of a 3-d one (i == 0). */
static double at4(const tg_tensor *t, int64_t n, int64_t c, int64_t i, int64_t j)
{
    int64_t idx[4] = {n, c, i, j};
    if (t->ndim == 3) {
        idx[2] = j;
        return at(t, idx);
    }
    return at(t, idx);
}

/* Checks r against the direct sum over taps of the convolution cr
 * describes (the transposed one summed from its definition as a scatter:
 * output (Y, X) gathers the input pixels (i, j) with Y = i s - p + ki d). */
static void verify_conv(const conv_ref *cr, const tg_tensor *r, const tg_tensor *x,
                        const tg_tensor *w, const char *what)
{
    bool one = x->ndim == 3;
    int64_t N = x->shape[0], H = one ? 1 : x->shape[2], W = x->shape[x->ndim - 1];
    int64_t KH = one ? 1 : w->shape[2], KW = w->shape[w->ndim - 1];
    int64_t O = r->shape[1], OH = one ? 1 : r->shape[2], OW = r->shape[r->ndim - 1];
    int64_t s[2], p[2], d[2];
    for (int k = 0; k < 2; k++) {
        int q = one ? 0 : k; /* conv1d reads entry 0 for its width */
        bool used = !one || k == 1;
        s[k] = used ? cr->s[q] : 1;
        d[k] = used ? cr->d[q] : 1;
        p[k] = used ? cr->p[q] : 0;
        if (used && cr->same)
            p[k] = d[k] * ((k ? KW : KH) - 1) / 2;
    }
    int64_t taps = (cr->kind == 2 ? w->shape[0] / cr->g : w->shape[1]) * KH * KW;
    double eps = r->dtype == TG_FLOAT32 ? 1.2e-7 * (double)taps + 1e-6
                                        : 2.3e-16 * (double)taps + 1e-15;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double sum = 0, sumabs = 0;
                    for (int64_t ki = 0; ki < KH; ki++)
                        for (int64_t kj = 0; kj < KW; kj++) {
                            if (cr->kind != 2) {
                                int64_t cg = w->shape[1], og = O / cr->g;
                                int64_t iy = oy * s[0] - p[0] + ki * d[0];
                                int64_t ix = ox * s[1] - p[1] + kj * d[1];
                                /* a tap in the padding reads a zero, and
                                 * 0 * inf is NaN there as in PyTorch */
                                bool in = iy >= 0 && iy < H && ix >= 0 && ix < W;
                                for (int64_t c = 0; c < cg; c++) {
                                    int64_t wi[4] = {o, c, one ? kj : ki, kj};
                                    double xv = in ? at4(x, n, o / og * cg + c, iy, ix)
                                                   : 0.0;
                                    double v = xv * at(w, wi);
                                    sum += v;
                                    sumabs += isfinite(v) ? fabs(v) : 0;
                                }
                            } else {
                                int64_t cg = w->shape[0] / cr->g, og = w->shape[1];
                                int64_t ty = oy + p[0] - ki * d[0];
                                int64_t tx = ox + p[1] - kj * d[1];
                                if (ty < 0 || tx < 0 || ty % s[0] || tx % s[1] ||
                                    ty / s[0] >= H || tx / s[1] >= W)
                                    continue;
                                for (int64_t c = 0; c < cg; c++) {
                                    int64_t ic = o / og * cg + c;
                                    int64_t wi[4] = {ic, o % og, ki, kj};
                                    double v = at4(x, n, ic, ty / s[0], tx / s[1]) *
                                               at(w, wi);
                                    sum += v;
                                    sumabs += isfinite(v) ? fabs(v) : 0;
                                }
                            }
                        }
                    int64_t idx[4] = {n, o, one ? ox : oy, ox};
                    double got = at(r, idx);
                    double tol = eps * sumabs + (double)(2 * taps + 1) * denorm(r->dtype);
                    bool ok = too_big(r->dtype, sumabs) || close_value(got, sum, tol);
                    REF_CHECK(ok, what, idx, r->ndim, got, sum);
                }
}

static void op_conv(prog *P)
{
    static const char *names[3] = {"conv2d", "conv1d", "conv_transpose2d"};
    uint8_t m = fz_byte(&P->in), q = fz_byte(&P->in);
    int ia = pick(P), ib = pick(P);
    tg_tensor *x = P->pool[ia].t, *w = P->pool[ib].t;
    conv_ref cr = {.kind = m % 3, .g = 1 + (q >> 6) % 3, .same = (m >> 2) & 1};
    for (int k = 0; k < 2; k++) {
        cr.s[k] = 1 + (q >> (2 * k)) % 3;     /* 1..3; 3 is sometimes 0 below */
        cr.p[k] = (m >> (3 + 2 * k)) % 3;
        cr.d[k] = 1 + ((q >> (4 + k)) & 1);
        cr.op[k] = (m >> 7) & (cr.s[k] > 1);
    }
    if ((m & 3) == 3)
        cr.s[1] = 0; /* a bad stride now and then */
    int rank = cr.kind == 1 ? 3 : 4;
    /* skip what would cost too much: the result's size by the same rule */
    if (x->ndim == rank && w->ndim == rank) {
        double flops = (double)x->numel * (double)w->numel;
        if (flops > MAX_FLOPS)
            return;
    }
    tg_conv_args a = {{cr.s[0], cr.s[1]}, {cr.p[0], cr.p[1]}, {cr.d[0], cr.d[1]},
                      cr.g, cr.same};
    tg_tensor *r;
    if (cr.kind == 0)
        r = tg_ad_conv2d(P->T, x, w, NULL, &a);
    else if (cr.kind == 1)
        r = tg_ad_conv1d(P->T, x, w, NULL, &a);
    else
        r = tg_ad_conv_transpose2d(P->T, x, w, NULL, &a, cr.op);
    if (r && r->numel > MAX_NUMEL * 4) {
        FZ_CHECK(false, "%s: a result of %lld elements from small inputs",
                 names[cr.kind], (long long)r->numel);
    }
    if (r)
        verify_conv(&cr, r, x, w, names[cr.kind]);
    double ba = P->pool[ia].bound, bb = P->pool[ib].bound;
    double taps = (double)(w->numel > 0 ? w->numel : 1);
    double reach_x = taps, reach_w = (double)(r && r->numel ? r->numel : 1);
    add_slot(P, r, false, ba * bb * taps, 2, ia, reach_x * fmax(bb, 1), ib,
             reach_w * fmax(ba, 1), names[cr.kind]);
}

/* ---- pooling (autograd/pool.c) ------------------------------------------------------ */

/* max_pool2d, avg_pool2d (count_include_pad) or adaptive_avg_pool2d of a
 * pool tensor with small kernels, strides and paddings from the bytes (a
 * padding past half the kernel, a tensor not 4-d or too small must fail
 * properly); each result element against its window computed here. */
static void op_pool(prog *P)
{
    static const char *const names[3] = {"max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"};
    uint8_t m = fz_byte(&P->in);
    int kind = m % 3, ia = pick(P);
    tg_tensor *a = P->pool[ia].t, *r;
    int64_t k[2], s[2], p[2];
    for (int j = 0; j < 2; j++) {
        k[j] = 1 + fz_byte(&P->in) % 4;
        s[j] = 1 + fz_byte(&P->in) % 3;
        p[j] = fz_byte(&P->in) % 3;
    }
    const int64_t *sp = m & 8 ? NULL : s, *pp = m & 16 ? NULL : p;
    if (kind == 0)
        r = tg_ad_max_pool2d(P->T, a, k, sp, pp);
    else if (kind == 1)
        r = tg_ad_avg_pool2d(P->T, a, k, sp, pp);
    else
        r = tg_ad_adaptive_avg_pool2d(P->T, a, k[0], k[1]);
    if (!r) {
        check_null(names[kind]);
        return;
    }
    FZ_CHECK(a->ndim == 4 && r->ndim == 4, "%s: a result of rank %d", names[kind], r->ndim);
    int64_t H = a->shape[2], W = a->shape[3], OH = r->shape[2], OW = r->shape[3];
    int64_t st[2] = {sp ? s[0] : k[0], sp ? s[1] : k[1]}, pd[2] = {pp ? p[0] : 0, pp ? p[1] : 0};
    int64_t idx[4] = {0, 0, 0, 0}, ai[4];
    if (r->numel)
        do {
            int64_t lo[2], hi[2], count;
            for (int j = 0; j < 2; j++) {
                int64_t i = idx[2 + j], n = j ? W : H, on = j ? OW : OH;
                if (kind == 2) {
                    lo[j] = i * n / on;
                    hi[j] = ((i + 1) * n + on - 1) / on;
                } else {
                    lo[j] = i * st[j] - pd[j];
                    hi[j] = lo[j] + k[j];
                    lo[j] = lo[j] < 0 ? 0 : lo[j];
                    hi[j] = hi[j] > n ? n : hi[j];
                }
                FZ_CHECK(lo[j] < hi[j], "%s: an empty window", names[kind]);
            }
            count = kind == 1 ? k[0] * k[1] : (hi[0] - lo[0]) * (hi[1] - lo[1]);
            double best = -INF, sum = 0, sumabs = 0;
            ai[0] = idx[0];
            ai[1] = idx[1];
            for (ai[2] = lo[0]; ai[2] < hi[0]; ai[2]++)
                for (ai[3] = lo[1]; ai[3] < hi[1]; ai[3]++) {
                    double v = at(a, ai);
                    if (v > best || isnan(v))
                        best = v;
                    sum += v;
                    sumabs += fabs(v);
                }
            double got = at(r, idx);
            if (kind == 0) {
                REF_CHECK(same_value(got, best), names[kind], idx, 4, got, best);
            } else if (!too_big(a->dtype, sumabs)) {
                double want = sum / (double)count;
                double tol = (sumabs / (double)count) * (a->dtype == TG_FLOAT32 ? 1e-6 : 1e-14) +
                             denorm(a->dtype);
                REF_CHECK(close_value(got, round_to(a->dtype, want), tol), names[kind], idx, 4,
                          got, want);
            }
        } while (next_index(4, r->shape, idx));
    /* each input element lies in at most (k/s + 1)^2 windows (adaptive:
     * (OH/H + 2) (OW/W + 2)), each with a derivative of at most 1 */
    double fan = kind == 2 ? (double)(OH / H + 2) * (double)(OW / W + 2)
                           : (double)(k[0] / st[0] + 1) * (double)(k[1] / st[1] + 1);
    add_slot(P, r, false, P->pool[ia].bound, 1, ia, fan, 0, 0, names[kind]);
}

static uint32_t xorshift(uint32_t *s);

/* ---- normalisation and dropout (autograd/norm.c) ------------------------------------
 * batch_norm (training, with running statistics the fuzzer owns and checks
 * after the update, or eval on them), layer_norm over the last 1..ndim
 * axes, each with or without weight and bias (new leaves), and dropout
 * with a generator seeded from the bytes. Each result against a reference
 * from x's values: the mean and biased variance per group in double (two
 * passes), then (x - mean) / sqrt(var + eps) * w + b. */

/* A caller-owned tensor of dt and shape, values on the grid of eighths:
 * in [-1, 1], or in [0, 1] when nonneg (a variance). */
static tg_tensor *grid_tensor(prog *P, tg_dtype dt, int nd, const int64_t *sh, bool nonneg)
{
    tg_tensor *t = tg_empty(dt, nd, sh);
    if (!t) {
        check_null("tg_empty (norm parameter)");
        return NULL;
    }
    uint32_t seed = 0x2545f491u ^ fz_byte(&P->in);
    for (int64_t i = 0; i < t->numel; i++) {
        double v = (double)((int)(xorshift(&seed) % 17) - 8) / 8.0;
        tg__store(t, i, nonneg ? fabs(v) : v);
    }
    return t;
}

/* A weight or bias: a new leaf of the pool (requiring a gradient unless
 * nograd); -1 when it could not be made or the pool is full. */
static int make_param(prog *P, tg_dtype dt, int nd, const int64_t *sh, bool nograd)
{
    tg_tensor *t = grid_tensor(P, dt, nd, sh, false);
    if (!t)
        return -1;
    if (!nograd && tg_requires_grad(t, true))
        FZ_FAIL("tg_requires_grad refused a caller-owned tensor");
    int s = add_slot(P, t, true, 1.0, 0, 0, 0, 0, 0, "norm parameter");
    if (s >= 0)
        P->pool[s].leaf = P->nleaves++;
    return s;
}

/* Per group of x (a group_fn maps an index of x to its group in [0, ng)):
 * the count, mean, biased variance, largest |value| and whether every
 * value is finite. */
typedef struct norm_stats {
    double n, mean, var, maxabs;
    bool finite;
} norm_stats;

typedef int64_t (*group_fn)(const tg_tensor *x, const int64_t *idx, int k0);

static int64_t channel_group(const tg_tensor *x, const int64_t *idx, int k0)
{
    (void)x;
    (void)k0;
    return idx[1];
}

/* layer norm: the leading k0 axes name the group */
static int64_t leading_group(const tg_tensor *x, const int64_t *idx, int k0)
{
    return flat_of(idx, k0, x->shape);
}

/* The index of a parameter element for x's index: the channel (batch
 * norm), or the last axes flattened (layer norm). */
static int64_t param_index(const tg_tensor *x, const int64_t *idx, int k0, bool batch)
{
    return batch ? idx[1] : flat_of(idx + k0, x->ndim - k0, x->shape + k0);
}

static norm_stats *group_stats(const tg_tensor *x, int64_t ng, group_fn group, int k0)
{
    norm_stats *st = calloc((size_t)(ng ? ng : 1), sizeof *st);
    FZ_CHECK(st != NULL, "out of memory in the fuzzer");
    for (int64_t g = 0; g < ng; g++)
        st[g].finite = true;
    for (int pass = 0; pass < 2 && x->numel > 0; pass++) {
        int64_t idx[TG_MAX_DIMS] = {0};
        do {
            norm_stats *s = &st[group(x, idx, k0)];
            double v = at(x, idx);
            if (pass == 0) {
                s->n += 1;
                s->mean += v;
                s->maxabs = fmax(s->maxabs, fabs(v));
                s->finite = s->finite && isfinite(v);
            } else {
                double d = v - s->mean;
                s->var += d * d;
            }
        } while (next_index(x->ndim, x->shape, idx));
        for (int64_t g = 0; pass == 0 && g < ng; g++)
            st[g].mean /= st[g].n;
    }
    for (int64_t g = 0; g < ng; g++)
        st[g].var /= st[g].n;
    return st;
}

/* Values too large for the reference's tolerance argument (squares and
 * float32 differences near overflow): only checked through the bounds. */
static bool norm_huge(tg_dtype dt, double maxabs)
{
    return maxabs > (dt == TG_FLOAT32 ? 1e18 : 1e150);
}

/* The element of w (or b) for x's index, or 1 (0) without one. */
static double param_at(const tg_tensor *w, int64_t i, double none)
{
    if (!w)
        return none;
    int64_t idx[TG_MAX_DIMS] = {0};
    for (int k = w->ndim - 1; k >= 0; k--) {
        idx[k] = i % w->shape[k];
        i /= w->shape[k];
    }
    return at(w, idx);
}

/* r against the training normalisation of x by the stats st (or, with rm
 * and rv given as arrays, eval's x alpha + beta), then * w + b. */
static void verify_norm(const tg_tensor *r, const tg_tensor *x, const norm_stats *st,
                        group_fn group, int k0, bool batch, const double *rm,
                        const double *rv, const tg_tensor *w, const tg_tensor *b,
                        double eps, const char *what)
{
    FZ_CHECK(r->dtype == x->dtype && tg__same_shape(r, x), "%s: dtype or shape", what);
    if (x->numel == 0)
        return;
    double u = r->dtype == TG_FLOAT32 ? 6e-8 : 1.2e-16, dn = denorm(r->dtype);
    int64_t idx[TG_MAX_DIMS] = {0};
    do {
        const norm_stats *s = &st[group(x, idx, k0)];
        int64_t pi = param_index(x, idx, k0, batch);
        double xv = at(x, idx), wv = param_at(w, pi, 1.0), bv = param_at(b, pi, 0.0);
        double got = at(r, idx), want, tol;
        if (rm) { /* eval: (x - rm) / sqrt(rv + eps) * w + b, through alpha */
            double alpha = wv / sqrt(rv[pi] + eps);
            want = (xv - rm[pi]) * alpha + bv;
            tol = 16 * u * (fabs(xv * alpha) + fabs(rm[pi] * alpha) + fabs(bv)) + 4 * dn;
            if (norm_huge(r->dtype, fmax(fabs(xv), fabs(alpha))))
                continue;
        } else {
            double rstd = 1 / sqrt(s->var + eps), xhat = (xv - s->mean) * rstd;
            want = xhat * wv + bv;
            /* the mean's and rstd's roundings to the dtype, the summation
             * order of the library's double sums, then the products */
            double mabs = s->maxabs;
            double exhat = (8 * u + 4 * s->n * 1.2e-16) *
                           (rstd * (fabs(xv) + mabs) + fabs(xhat));
            tol = exhat * fabs(wv) + 8 * u * (fabs(xhat * wv) + fabs(bv)) + 4 * dn;
            if (!s->finite) { /* NaN or infinite mean: the whole group is NaN */
                FZ_CHECK(isnan(got), "%s: element %lld is %.17g, not NaN (a group holds "
                         "a non-finite value)", what, (long long)flat_of(idx, x->ndim, x->shape),
                         got);
                continue;
            }
            if (norm_huge(r->dtype, mabs))
                continue;
        }
        REF_CHECK(close_value(got, want, tol), what, idx, x->ndim, got, want);
    } while (next_index(x->ndim, x->shape, idx));
}

/* The values of a 1-d tensor, into v (n of them). */
static void values_of(const tg_tensor *t, double *v)
{
    for (int64_t i = 0; i < t->numel; i++)
        v[i] = at(t, (int64_t[]){i});
}

static double max_abs_or(const tg_tensor *t, double none) { return t ? max_abs(t) : none; }

/* eps (two of them refused), momentum and p (two refused each) */
static const double norm_eps[16] = {1e-5, 1e-3, 0.1, 1.0, 1e-5, 0.25, 1e-4, 0.5,
                                    1e-5, 2.0, 1e-2, 1e-5, 0.125, 1e-3, 0.0, -1.0};
static const double norm_momentum[16] = {0.1, 0.0, 1.0, 0.5, 0.1, 0.9, 0.01, 0.25,
                                         0.1, 0.75, 0.3, 0.1, 0.6, 0.2, 1.5, -0.25};
static const double dropout_p[16] = {0.5, 0.1, 0.25, 0.9, 0.0, 1.0, 0.5, 0.75,
                                     0.2, 0.5, 0.125, 0.3, 0.99, 0.6, -0.5, 1.5};

/* Adds the result r of a norm on x with weight slot iw and bias slot ib
 * (-1 when absent): the bound, and the factors fx, fw, fb. With T NULL
 * the result is the caller's and no gradient flows. */
static void add_norm_slot(prog *P, tg_tensor *r, bool on_tape, double bound, int ix,
                          double fx, int iw, double fw, int ib, double fb, const char *what)
{
    if (!on_tape) {
        add_slot(P, r, true, bound, 0, 0, 0, 0, 0, what);
        return;
    }
    int src[3] = {ix, 0, 0}, n = 1;
    double f[3] = {fx, 0, 0};
    if (iw >= 0) {
        src[n] = iw;
        f[n++] = fw;
    }
    if (ib >= 0) {
        src[n] = ib;
        f[n++] = fb;
    }
    int s = add_slot(P, r, false, bound, n < 2 ? n : 2, src[0], f[0], src[1], f[1], what);
    if (s < 0 || n < 3)
        return;
    /* the third input (the bias): bounded, as a new leaf */
    slot *t = &P->pool[s];
    bool bounded = true;
    for (int i = 0; i < 3; i++)
        bounded = bounded && P->pool[src[i]].bound <= limit(P);
    t->src[2] = src[2];
    t->factor[2] = bounded ? f[2] : INF;
    t->nsrc = 3;
}

static void op_norm(prog *P)
{
    static const char *const names[3] = {"batch_norm", "layer_norm", "dropout"};
    /* m: the op; fl: weight, bias, their requires_grad, training, running
     * statistics; q: eps, then momentum or p; e: the generator (0: none),
     * a variant (5: running statistics of the other dtype, 6: weight and
     * bias of the other dtype, 7: ndims outside [1, ndim]), the heap form */
    uint8_t m = fz_byte(&P->in), fl = fz_byte(&P->in), q = fz_byte(&P->in),
            e = fz_byte(&P->in);
    int kind = m % 3, ia = pick(P), variant = (e >> 3) % 8;
    tg_tensor *x = P->pool[ia].t, *r;
    double bx = P->pool[ia].bound;
    tg_tape *T = e >> 6 == 3 ? NULL : P->T;
    /* parameters of x's dtype (float64 for an integer x, refused anyway) */
    tg_dtype dt = x->dtype == TG_FLOAT32 ? TG_FLOAT32 : TG_FLOAT64;
    tg_dtype other = dt == TG_FLOAT32 ? TG_FLOAT64 : TG_FLOAT32;
    tg_dtype pdt = variant == 6 ? other : dt, rdt = variant == 5 ? other : dt;
    double eps = norm_eps[q % 16];
    double u = x->dtype == TG_FLOAT32 ? 6e-8 : 1.2e-16, rmax = 1 / sqrt(fmax(eps, 1e-300));
    bool training = fl & 16;
    if (kind == 2) { /* dropout */
        double p = dropout_p[q >> 4];
        bool give_rng = (e & 7) != 0;
        tg_rng rng, before;
        memset(&rng, 0, sizeof rng);
        tg_rng_seed(&rng, fz_byte(&P->in));
        memcpy(&before, &rng, sizeof rng);
        r = tg_ad_dropout(T, x, p, training, give_rng ? &rng : NULL);
        if (!r) {
            check_null(names[kind]);
            FZ_CHECK(memcmp(rng.mt, before.mt, sizeof rng.mt) == 0 && rng.pos == before.pos,
                     "dropout failed but moved the generator");
            return;
        }
        FZ_CHECK(tg__same_shape(r, x) && r->dtype == x->dtype, "dropout: dtype or shape");
        bool draw = training && p > 0 && p < 1;
        double scale = round_to(x->dtype, p < 1 ? 1 / (1 - p) : 0.0);
        int64_t idx[TG_MAX_DIMS] = {0};
        if (x->numel)
            do { /* each element kept (u >= p) or dropped, by the same draws */
                double xv = at(x, idx), got = at(r, idx), want = xv;
                if (draw)
                    want = round_to(x->dtype, xv * (tg_rng_random(&before) >= p ? scale : 0.0));
                else if (training && p == 1)
                    want = xv * 0.0;
                REF_CHECK(same_value(got, want), "dropout", idx, x->ndim, got, want);
            } while (next_index(x->ndim, x->shape, idx));
        FZ_CHECK(memcmp(rng.mt, before.mt, sizeof rng.mt) == 0 && rng.pos == before.pos,
                 "dropout drew other than one number per element");
        double f = training ? scale : 1.0;
        add_norm_slot(P, r, T != NULL, bx * f, ia, f, -1, 0, -1, 0, names[kind]);
        return;
    }
    /* the groups: batch norm's channels, layer norm's leading positions */
    bool batch = kind == 0;
    int k0 = 1, ndims = 0;
    if (!batch) {
        ndims = 1 + (int)(fz_byte(&P->in) % (uint8_t)(x->ndim > 0 ? x->ndim : 1));
        if (variant == 7)
            ndims = e & 1 ? 0 : x->ndim + 1;
        k0 = x->ndim - ndims;
    }
    bool shaped = batch ? x->ndim >= 2 : k0 >= 0 && k0 <= x->ndim;
    int64_t one = 1, pshape_n = 1;
    const int64_t *pshape = &one;
    int pnd = 1;
    if (shaped && batch) {
        pshape = &x->shape[1];
    } else if (shaped) {
        pshape = x->shape + k0;
        pnd = ndims;
    }
    pshape_n = shape_numel(pnd, pshape);
    int iw = fl & 1 ? make_param(P, pdt, pnd, pshape, fl & 4) : -1;
    int ib = fl & 2 ? make_param(P, pdt, pnd, pshape, fl & 8) : -1;
    tg_tensor *w = iw >= 0 ? P->pool[iw].t : NULL, *b = ib >= 0 ? P->pool[ib].t : NULL;
    if (batch) {
        bool with_running = (fl & 32) || (!training && !(fl & 64));
        double momentum = norm_momentum[q >> 4];
        tg_tensor *rm = NULL, *rv = NULL;
        if (with_running) {
            rm = keep_aux(P, grid_tensor(P, rdt, 1, pshape, false));
            rv = keep_aux(P, grid_tensor(P, rdt, 1, pshape, true));
            if (!rm || !rv)
                return;
        }
        double *old = calloc((size_t)(2 * pshape_n + 1), sizeof(double));
        FZ_CHECK(old != NULL, "out of memory in the fuzzer");
        if (rm) {
            values_of(rm, old);
            values_of(rv, old + pshape_n);
        }
        r = tg_ad_batch_norm(T, x, rm, rv, w, b, training, momentum, eps);
        if (!r) {
            check_null(names[kind]);
            for (int64_t c = 0; rm && c < pshape_n; c++)
                FZ_CHECK(same_value(at(rm, (int64_t[]){c}), old[c]) &&
                             same_value(at(rv, (int64_t[]){c}), old[pshape_n + c]),
                         "batch_norm failed but changed the running statistics");
            free(old);
            return;
        }
        int64_t C = pshape_n, per = C ? x->numel / C : 0;
        norm_stats *st = group_stats(x, C, channel_group, 1);
        verify_norm(r, x, st, channel_group, 1, true, training ? NULL : old,
                    training ? NULL : old + C, w, b, eps, "batch_norm");
        /* the running statistics: momentum * stat + (1 - momentum) * old, the
         * variance made unbiased; untouched in eval (or with nothing per channel) */
        for (int64_t c = 0; rm && c < C; c++) {
            double gm = at(rm, (int64_t[]){c}), gv = at(rv, (int64_t[]){c});
            if (!training || per == 0) {
                FZ_CHECK(same_value(gm, old[c]) && same_value(gv, old[C + c]),
                         "batch_norm changed the running statistics %s",
                         training ? "of an empty batch" : "in eval");
                continue;
            }
            const norm_stats *s = &st[c];
            double fac = (double)per / (double)(per - 1);
            double wm = momentum * s->mean + (1 - momentum) * old[c];
            double wv = momentum * (s->var * fac) + (1 - momentum) * old[C + c];
            double n = s->n, ur = 1.2e-16 * n;
            double tm = 4 * u * (fabs(momentum * s->mean) + fabs(old[c])) +
                        momentum * 4 * ur * s->maxabs + 2 * denorm(rm->dtype);
            double tv = 4 * u * (fabs(momentum * s->var * fac) + fabs(old[C + c])) +
                        momentum * fac * 8 * (ur * s->var + ur * ur * s->maxabs * s->maxabs) +
                        2 * denorm(rm->dtype);
            if (s->finite && norm_huge(x->dtype, s->maxabs))
                continue;
            if (!s->finite) /* a NaN or infinite mean, a NaN variance */
                tm = tv = 0;
            FZ_CHECK(close_value(gm, round_to(rm->dtype, wm), tm) &&
                         close_value(gv, round_to(rv->dtype, wv), tv),
                     "batch_norm: running statistics of channel %lld are %.17g, %.17g; "
                     "reference %.17g, %.17g", (long long)c, gm, gv, wm, wv);
        }
        free(st);
        double wmax = max_abs_or(w, 1.0), bmax = max_abs_or(b, 0.0);
        double bound, fx, fw, fb = (double)(per ? per : 1);
        if (training) {
            double yb = (per > 1 ? sqrt((double)per - 1) : 0) +
                        2 * (u + 1.2e-16 * (double)per) * bx * rmax;
            bound = yb * wmax + bmax;
            fx = rmax * (2 + yb) * wmax;
            fw = (double)per * yb;
        } else { /* x alpha + beta */
            double rmmax = 0, rvmin = INF;
            for (int64_t c = 0; c < C; c++) {
                rmmax = fmax(rmmax, fabs(old[c]));
                rvmin = fmin(rvmin, old[C + c]);
            }
            double inv = 1 / sqrt(fmax(rvmin, 0) + eps);
            bound = (bx + rmmax) * wmax * inv + bmax;
            fx = wmax * inv;
            fw = (double)per * (bx + rmmax) * inv;
        }
        free(old);
        add_norm_slot(P, r, T != NULL, bound, ia, fx, iw, fw, ib, fb, names[kind]);
        return;
    }
    r = tg_ad_layer_norm(T, x, ndims, w, b, eps);
    if (!r) {
        check_null(names[kind]);
        return;
    }
    int64_t B = pshape_n, groups = B ? x->numel / B : 0;
    norm_stats *st = group_stats(x, shape_numel(k0, x->shape), leading_group, k0);
    verify_norm(r, x, st, leading_group, k0, false, NULL, NULL, w, b, eps, "layer_norm");
    free(st);
    double wmax = max_abs_or(w, 1.0), bmax = max_abs_or(b, 0.0);
    double yb = (B > 1 ? sqrt((double)B - 1) : 0) + 2 * (u + 1.2e-16 * (double)B) * bx * rmax;
    add_norm_slot(P, r, T != NULL, yb * wmax + bmax, ia, rmax * (2 + yb) * wmax, iw,
                  (double)(groups ? groups : 1) * yb, ib, (double)(groups ? groups : 1),
                  names[kind]);
}

static void run_op(prog *P)
{
    uint8_t op = fz_byte(&P->in);
    tg_clear_error();
    switch (op % 22) { /* 21 was added last: 0..20 keep their meaning */
    case 0: case 1: case 2: op_binary(P); break;
    case 3: case 4: op_scalar(P); break;
    case 5: case 6: op_unary(P); break;
    case 7: case 8: op_reduce(P); break;
    case 9: case 10: case 11: op_view(P); break;
    case 12: op_matmul(P); break;
    case 13: case 14: op_plain(P); break;
    case 16: op_function(P); break;
    case 17: op_join(P); break;
    case 18: op_select(P); break;
    case 19: op_pool(P); break;
    case 15: op_conv(P); break;
    case 21: op_norm(P); break;
    default: op_inplace(P); break;
    }
}

/* ---- leaves ------------------------------------------------------------------- */

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void make_leaf(prog *P, bool wild)
{
    static const double specials[8] = {(double)NAN, INF, -INF, 1e300, -1e300,
                                       4e-320, 3.5e38, -0.0};
    uint8_t m = fz_byte(&P->in);
    tg_dtype dt = m & 1 ? TG_FLOAT64 : TG_FLOAT32;
    bool grad = !(m & 2);
    int nd = (m >> 2) % 5;
    int64_t sh[4];
    for (int k = 0; k < nd; k++)
        sh[k] = fz_byte(&P->in) % 6;
    uint32_t seed = 0x9e3779b9u ^ fz_byte(&P->in);
    tg_tensor *t = tg_empty(dt, nd, sh);
    if (!t) {
        check_null("tg_empty");
        return;
    }
    /* Values on a grid of eighths in [-1, 1]: ties and zeros are common. */
    bool any_special = false;
    for (int64_t i = 0; i < t->numel; i++) {
        uint32_t x = xorshift(&seed);
        double v = (double)((int)(x % 17) - 8) / 8.0;
        if (wild && (x >> 8) % 4 == 0) {
            v = specials[(x >> 12) % 8];
            any_special = true;
        }
        tg__store(t, i, v);
    }
    if (grad && tg_requires_grad(t, true))
        FZ_FAIL("tg_requires_grad refused a caller-owned tensor");
    int s = add_slot(P, t, true, any_special ? INF : 1.0, 0, 0, 0, 0, 0, "leaf");
    if (s >= 0)
        P->pool[s].leaf = P->nleaves++;
}

/* ---- after the program -------------------------------------------------------- */

/* The reverse pass over the interpreter's own record: g of each tensor. */
static void gradient_bounds(prog *P, int result)
{
    for (int i = 0; i < P->n; i++)
        P->pool[i].g = 0;
    P->pool[result].g = 1; /* root = sum(result) */
    for (int i = P->n - 1; i >= 0; i--) {
        slot *s = &P->pool[i];
        if (s->g == 0)
            continue;
        for (int j = 0; j < s->nsrc; j++)
            P->pool[s->src[j]].g += s->g * fmax(s->factor[j], 1.0);
    }
}

/* A copy of each leaf's gradient bytes (NULL where there is none). */
typedef struct grads {
    void *bytes[POOL_MAX];
    size_t size[POOL_MAX];
} grads;

static void save_grads(const prog *P, grads *G)
{
    for (int i = 0; i < P->n; i++) {
        const tg_tensor *g = P->pool[i].leaf >= 0 ? tg_grad(P->pool[i].t) : NULL;
        G->bytes[i] = NULL;
        G->size[i] = 0;
        if (!g)
            continue;
        FZ_CHECK(tg_is_contiguous(g), "a gradient is not contiguous");
        G->size[i] = (size_t)g->numel * tg_dtype_size(g->dtype);
        G->bytes[i] = malloc(G->size[i] ? G->size[i] : 1);
        FZ_CHECK(G->bytes[i] != NULL, "out of memory in the fuzzer");
        if (G->size[i])
            memcpy(G->bytes[i], tg_data(g), G->size[i]);
    }
}

static void free_grads(const prog *P, grads *G)
{
    for (int i = 0; i < P->n; i++)
        free(G->bytes[i]);
}

static void check_leaf_grads(prog *P, int rc)
{
    bool checked = !P->dirty && !fz_failed;
    for (int i = 0; i < P->n; i++) {
        slot *s = &P->pool[i];
        if (s->leaf < 0 || !s->t->requires_grad)
            continue;
        const tg_tensor *g = tg_grad(s->t);
        if (rc != TG_OK) { /* a failed backward changes no gradient */
            FZ_CHECK(g == NULL, "a failed first backward left a gradient");
            continue;
        }
        if (!checked)
            continue;
        FZ_CHECK((g != NULL) == (s->g > 0),
                 "leaf %d: %s gradient, but the program %s it", s->leaf,
                 g ? "a" : "no", s->g > 0 ? "reaches" : "does not reach");
        if (!g)
            continue;
        FZ_CHECK(g->dtype == s->t->dtype && tg__same_shape(g, s->t),
                 "leaf %d: the gradient's dtype or shape differs", s->leaf);
        if (s->g <= limit(P)) {
            double m = max_abs(g);
            FZ_CHECK(m <= s->g * (1 + 1e-4) + 1e-30,
                     "leaf %d: a gradient of magnitude %g exceeds the bound %g",
                     s->leaf, m, s->g);
        }
    }
}

static void second_order(prog *P, tg_tensor *root)
{
    tg_tensor *in[POOL_MAX], *g[POOL_MAX];
    int n = 0;
    for (int i = 0; i < P->n; i++)
        if (P->pool[i].leaf >= 0 && P->pool[i].t->requires_grad)
            in[n++] = P->pool[i].t;
    if (n == 0)
        return;
    tg_clear_error();
    int rc = tg_ad_grad(P->T, root, NULL, n, in, g, true);
    if (rc) {
        check_null("tg_ad_grad");
        return;
    }
    tg_tensor *total = NULL;
    for (int i = 0; i < n; i++) {
        FZ_CHECK(g[i] && tg__same_shape(g[i], in[i]), "tg_ad_grad: gradient %d", i);
        check_geometry(g[i]);
        tg_tensor *s = tg_ad_sum(P->T, g[i]);
        if (s && total && s->dtype != total->dtype)
            s = tg_ad_cast(P->T, s, total->dtype);
        total = total ? tg_ad_add(P->T, total, s) : s;
        if (!total) {
            check_null("second-order sum");
            return;
        }
    }
    tg_clear_error();
    if (tg_backward(P->T, total))
        check_null("second-order tg_backward");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    static prog P;
    memset(&P, 0, sizeof P);
    P.in.p = data;
    P.in.n = size;
    P.devnull = devnull;

    uint8_t flags = fz_byte(&P.in);
    bool wild = flags & 1, second = flags & 2;
    long fail_at = flags & 4 ? 1 + (long)fz_byte(&P.in) : 0;
    fz_begin(fail_at);

    P.T = tg_tape_new();
    if (!P.T) {
        check_null("tg_tape_new");
        fz_end();
        return 0;
    }
    /* The determinism check below walks the recording twice. */
    tg_tape_retain_graph(P.T, true);
    int nleaves = 1 + fz_byte(&P.in) % MAX_LEAVES;
    for (int i = 0; i < nleaves; i++)
        make_leaf(&P, wild);
    if (P.n == 0) {
        tg_tape_free(P.T);
        fz_end();
        return 0;
    }
    for (int i = 0; i < MAX_OPS && P.in.n > 0 && P.n < POOL_MAX; i++)
        run_op(&P);

    int result = P.last;
    tg_clear_error();
    tg_tensor *root = tg_ad_sum(P.T, P.pool[result].t);
    if (!root) {
        check_null("tg_ad_sum (root)");
    } else {
        gradient_bounds(&P, result);
        tg_clear_error();
        int rc = tg_backward(P.T, root);
        if (rc) {
            check_null("tg_backward");
            FZ_CHECK(rc == tg_last_error(), "tg_backward returned %d, last error %d",
                     rc, tg_last_error());
        }
        check_leaf_grads(&P, rc);
        if (rc == TG_OK) {
            /* Again on the same tape: the same bits. */
            grads G1;
            save_grads(&P, &G1);
            for (int i = 0; i < P.n; i++)
                if (P.pool[i].leaf >= 0)
                    tg_zero_grad(P.pool[i].t);
            long failed_before = fz_failed;
            int rc2 = tg_backward(P.T, root);
            if (rc2)
                check_null("tg_backward (again)");
            if (rc2 == TG_OK && fz_failed == failed_before) {
                grads G2;
                save_grads(&P, &G2);
                for (int i = 0; i < P.n; i++)
                    FZ_CHECK(G1.size[i] == G2.size[i] &&
                                 (!G1.size[i] ||
                                  memcmp(G1.bytes[i], G2.bytes[i], G1.size[i]) == 0),
                             "a second backward gave other gradients (slot %d)", i);
                free_grads(&P, &G2);
            }
            free_grads(&P, &G1);
        }
        if (second)
            second_order(&P, root);
    }

    tg_tape_free(P.T);
    for (int i = 0; i < P.n; i++)
        if (P.pool[i].owned)
            tg_free(P.pool[i].t);
    for (int i = 0; i < P.naux; i++)
        tg_free(P.aux[i]);
    fz_end();
    return 0;
}
