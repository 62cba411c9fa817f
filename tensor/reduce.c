/* reduce.c - sums, means, maxima and arg-maxima over a whole tensor or one
 * axis, and sum_to (summing a broadcast result back to the operand's shape,
 * the adjoint of broadcasting).
 *
 * Float sums add in NumPy's order, so that they equal np.sum bit for bit:
 *
 * - A run of n values is summed pairwise (NumPy's pairwise_sum): fewer than
 *   8 values one by one from 0; up to 128 values in eight interleaved partial
 *   sums r0..r7, combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the
 *   n % 8 left over; above 128 the run is split at n/2 rounded down to a
 *   multiple of 8 and the halves are summed recursively. The error grows
 *   like O(log n) instead of O(n).
 * - NumPy hands a reduction to that kernel through its 8192-element buffers,
 *   so a longer run is 0 + pw(first 8192) + pw(next 8192) + ... .
 * - Which values form a run: NumPy's iterator sorts the axes by the input's
 *   strides (memory order; a stride-0 axis keeps its place), drops size-1
 *   axes and merges neighbours whose strides chain. If the innermost axes so
 *   found are reduced ones, each result is the buffered pairwise sum of the
 *   values they cover, and outer reduced axes add such sums one after
 *   another. If the innermost axis is kept (e.g. a sum over axis 0 of a
 *   C-ordered matrix), each result is a plain running sum, row after row.
 *   Strides are never negated, so a reversed view is summed from its first
 *   logical element, as NumPy does.
 *
 * The Python model of these rules was checked against NumPy on transposed,
 * sliced, reversed and broadcast views of 1-D to 4-D arrays; the test suite
 * compares against NumPy's values (tests/data/make_reduce_ref.py).
 * float32 tensors are summed in float, like NumPy's float32 sums.
 *
 * max follows np.max (any NaN makes the result NaN); argmax follows
 * np.argmax (the first maximum, or the first NaN, in logical order). */
#include <math.h>
#include <string.h>

#include "internal.h"

enum { SUM = 0, MEAN = 1, MAX = 2, ARGMAX = 3 };

/* NumPy's PW_BLOCKSIZE (runs up to this length are summed in one block) and
 * its default ufunc buffer size in elements (NPY_BUFSIZE). */
enum { PW_BLOCK = 128, NP_BUFSIZE = 8192 };

/* Blocks of a long sum the thread pool sums per round (their partial
 * sums on the stack). */
#define PW_PARTS 256
/* Values an arg-max scans per block (fits in L1). */
enum { ARGMAX_BLOCK = 1024 };

/* ---- the loop nest of a reduction -------------------------------------- */

/* Axes of the input, innermost (smallest stride) first, after size-1 axes
 * were dropped and chaining neighbours merged. Along a reduced axis the
 * result stride is 0. */
typedef struct plan {
    int ndim;
    int nred;                    /* how many innermost axes are reduced */
    int64_t size[TG_MAX_DIMS];
    int64_t xs[TG_MAX_DIMS];     /* input strides, in elements */
    int64_t rs[TG_MAX_DIMS];     /* result strides, 0 on reduced axes */
    int64_t x0;                  /* storage position of the first input value */
} plan;

/* Builds the plan of t with result strides rs (one per axis of t). With
 * sort, the axes are put in memory order by NumPy's rule (a stable
 * insertion sort on |stride| in which a 0 stride compares with nothing);
 * without, they stay in C order, as the logical index order needs. */
static void plan_build(plan *p, const tg_tensor *t, const int64_t *rs, bool sort)
{
    int64_t size[TG_MAX_DIMS], xs[TG_MAX_DIMS], r[TG_MAX_DIMS];
    int m = 0;
    for (int k = t->ndim - 1; k >= 0; k--) {
        if (t->shape[k] == 1)
            continue;
        size[m] = t->shape[k];
        xs[m] = t->strides[k];
        r[m] = rs[k];
        m++;
    }
    if (sort) {
        for (int i0 = 1; i0 < m; i0++) {
            int64_t s0 = xs[i0];
            int ipos = i0;
            for (int i1 = i0 - 1; i1 >= 0; i1--) {
                int64_t s1 = xs[i1];
                if (s0 == 0 || s1 == 0)
                    continue; /* ambiguous: look further in */
                if ((s1 < 0 ? -s1 : s1) > (s0 < 0 ? -s0 : s0))
                    ipos = i1;
                else
                    break;
            }
            if (ipos != i0) {
                int64_t sz = size[i0], x = xs[i0], rr = r[i0];
                for (int i = i0; i > ipos; i--) {
                    size[i] = size[i - 1];
                    xs[i] = xs[i - 1];
                    r[i] = r[i - 1];
                }
                size[ipos] = sz;
                xs[ipos] = x;
                r[ipos] = rr;
            }
        }
    }
    p->ndim = 0;
    for (int i = 0; i < m; i++) {
        int j = p->ndim - 1;
        if (j >= 0 && p->xs[j] * p->size[j] == xs[i] &&
            p->rs[j] * p->size[j] == r[i]) {
            p->size[j] *= size[i];
            continue;
        }
        p->size[j + 1] = size[i];
        p->xs[j + 1] = xs[i];
        p->rs[j + 1] = r[i];
        p->ndim++;
    }
    if (p->ndim == 0) { /* a single element */
        p->size[0] = 1;
        p->xs[0] = 0;
        p->rs[0] = 0;
        p->ndim = 1;
    }
    p->nred = 0;
    while (p->nred < p->ndim && p->rs[p->nred] == 0)
        p->nred++;
    p->x0 = t->offset;
}

/* An odometer over axes [first, end) of a plan, tracking the input and
 * result positions of the current index:
 *     walk w; walk_start(&w, p, 1, p->ndim, p->x0, 0);
 *     do { ...w.x, w.r... } while (walk_next(&w)); */
typedef struct walk {
    const plan *p;
    int first, end;
    int64_t idx[TG_MAX_DIMS];
    int64_t x, r;
} walk;

static void walk_start(walk *w, const plan *p, int first, int end, int64_t x,
                       int64_t r)
{
    w->p = p;
    w->first = first;
    w->end = end;
    for (int k = 0; k < TG_MAX_DIMS; k++)
        w->idx[k] = 0;
    w->x = x;
    w->r = r;
}

static inline bool walk_next(walk *w)
{
    const plan *p = w->p;
    for (int k = w->first; k < w->end; k++) {
        if (++w->idx[k] < p->size[k]) {
            w->x += p->xs[k];
            w->r += p->rs[k];
            return true;
        }
        w->idx[k] = 0;
        w->x -= (p->size[k] - 1) * p->xs[k];
        w->r -= (p->size[k] - 1) * p->rs[k];
    }
    return false;
}

/* ---- typed kernels, instantiated for float (_f) and double (_d) -------- */

/* np.maximum's rule: a when a >= b or a is NaN, else b; so NaN wins. */
#define NP_MAX(a, b) (((a) >= (b) || (a) != (a)) ? (a) : (b))

#define DEFINE_KERNELS(T, S)                                                   \
    /* NumPy's pairwise_sum for a block of n <= PW_BLOCK values. Inline so */ \
    /* that the stride-1 call becomes a loop the compiler can vectorise: */    \
    /* the eight partial sums stay independent, so the order is exact. */      \
    static inline T pw_block_##S(const T *x, int64_t n, int64_t s)             \
    {                                                                          \
        if (n < 8) {                                                           \
            T res = 0;                                                         \
            for (int64_t i = 0; i < n; i++)                                    \
                res += x[i * s];                                               \
            return res;                                                        \
        }                                                                      \
        /* r[j] = x[j] as NumPy starts them, written as -0.0 + x[j] (the */  \
        /* same value for every x, -0.0 and NaN included) so that the */       \
        /* first block is one more pass of the loop: loaded and stored */     \
        /* apart, gcc's vector r[] stalled on a store forward. */             \
        T r[8];                                                                \
        for (int j = 0; j < 8; j++)                                            \
            r[j] = (T)-0.0;                                                    \
        int64_t i = 0;                                                         \
        for (; i < n - n % 8; i += 8)                                          \
            for (int j = 0; j < 8; j++)                                        \
                r[j] += x[(i + j) * s];                                        \
        T res = ((r[0] + r[1]) + (r[2] + r[3])) +                              \
                ((r[4] + r[5]) + (r[6] + r[7]));                               \
        for (; i < n; i++)                                                     \
            res += x[i * s];                                                   \
        return res;                                                            \
    }                                                                          \
                                                                               \
    /* A run longer than a block: its halves (pairwise_sum's split). Apart */ \
    /* from pw_, which then saves no registers for a short run. */             \
    TG_NOINLINE static T pw_split_##S(const T *x, int64_t n, int64_t s);       \
    TG_CLONES static T pw_##S(const T *x, int64_t n, int64_t s)                \
    {                                                                          \
        if (n <= PW_BLOCK)                                                     \
            return s == 1 ? pw_block_##S(x, n, 1) : pw_block_##S(x, n, s);     \
        return pw_split_##S(x, n, s);                                          \
    }                                                                          \
    TG_NOINLINE static T pw_split_##S(const T *x, int64_t n, int64_t s)        \
    {                                                                          \
        int64_t n2 = n / 2;                                                    \
        n2 -= n2 % 8;                                                          \
        return pw_##S(x, n2, s) + pw_##S(x + n2 * s, n - n2, s);               \
    }                                                                          \
                                                                               \
    /* Blocks b .. e-1 of a run summed into part[] (a pool's part). */         \
    typedef struct pw_job_##S {                                                \
        const T *x;                                                            \
        int64_t n, s;                                                          \
        T *part;                                                               \
    } pw_job_##S;                                                              \
    static void pw_parts_##S(void *ctx, int64_t b, int64_t e)                  \
    {                                                                          \
        const pw_job_##S *j = ctx;                                             \
        for (int64_t c = b; c < e; c++) {                                      \
            int64_t i = c * NP_BUFSIZE;                                        \
            int64_t len = j->n - i < NP_BUFSIZE ? j->n - i : NP_BUFSIZE;       \
            j->part[c] = pw_##S(j->x + i * j->s, len, j->s);                  \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* acc + the buffered pairwise sum of a run, as NumPy's reduce adds it. */ \
    /* A long run's blocks are summed by the thread pool, PW_PARTS at a */     \
    /* time, and added to acc in order: the same sum on any thread count. */  \
    static T run_sum_##S(T acc, const T *x, int64_t n, int64_t s)              \
    {                                                                          \
        if (n >= TG__PAR_MIN) {                                                \
            T part[PW_PARTS];                                                  \
            for (int64_t i = 0; i < n; i += PW_PARTS * NP_BUFSIZE) {           \
                int64_t m = n - i < PW_PARTS * NP_BUFSIZE ? n - i                \
                                                          : PW_PARTS * NP_BUFSIZE; \
                int64_t c = (m + NP_BUFSIZE - 1) / NP_BUFSIZE;                 \
                pw_job_##S j = {x + i * s, m, s, part};                        \
                tg__parallel_for(c, 1, pw_parts_##S, &j);                      \
                for (int64_t k = 0; k < c; k++)                                \
                    acc += part[k];                                            \
            }                                                                  \
            return acc;                                                        \
        }                                                                      \
        for (int64_t i = 0; i < n; i += NP_BUFSIZE) {                          \
            int64_t c = n - i < NP_BUFSIZE ? n - i : NP_BUFSIZE;               \
            acc += pw_##S(x + i * s, c, s);                                    \
        }                                                                      \
        return acc;                                                            \
    }                                                                          \
                                                                               \
    /* r[j] += x[j] and r[j] = max(r[j], x[j]) on unit strides: in blocks */ \
    /* of 8, through restrict parameters, so that -O2 vectorises them. */      \
    TG_CLONES static void add_row_##S(T *restrict r, const T *restrict x,      \
                                      int64_t n)                               \
    {                                                                          \
        int64_t j = 0;                                                         \
        for (; j + 8 <= n; j += 8)                                             \
            for (int u = 0; u < 8; u++)                                        \
                r[j + u] += x[j + u];                                          \
        for (; j < n; j++)                                                     \
            r[j] += x[j];                                                      \
    }                                                                          \
                                                                               \
    TG_CLONES static void max_row_##S(T *restrict r, const T *restrict x,      \
                                      int64_t n)                               \
    {                                                                          \
        int64_t j = 0;                                                         \
        for (; j + 8 <= n; j += 8)                                             \
            for (int u = 0; u < 8; u++) {                                      \
                T a = r[j + u], b = x[j + u];                                  \
                r[j + u] = NP_MAX(a, b);                                       \
            }                                                                  \
        for (; j < n; j++) {                                                   \
            T a = r[j], b = x[j];                                              \
            r[j] = NP_MAX(a, b);                                               \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* The maximum of n >= 1 values, NaN if any is NaN. Four lanes in */     \
    /* registers keep the comparisons independent; NaN is noted on the */      \
    /* side, so that every step is a branch-free max instruction. */           \
    static T run_max_##S(const T *x, int64_t n, int64_t s)                     \
    {                                                                          \
        T m0 = (T)-INFINITY, m1 = m0, m2 = m0, m3 = m0;                        \
        unsigned nan = 0;                                                      \
        int64_t i = 0;                                                         \
        for (; i + 4 <= n; i += 4) {                                           \
            T v0 = x[i * s], v1 = x[(i + 1) * s];                              \
            T v2 = x[(i + 2) * s], v3 = x[(i + 3) * s];                        \
            m0 = v0 > m0 ? v0 : m0;                                            \
            m1 = v1 > m1 ? v1 : m1;                                            \
            m2 = v2 > m2 ? v2 : m2;                                            \
            m3 = v3 > m3 ? v3 : m3;                                            \
            nan |= (unsigned)(v0 != v0) | (unsigned)(v1 != v1) |               \
                   (unsigned)(v2 != v2) | (unsigned)(v3 != v3);                \
        }                                                                      \
        m0 = m1 > m0 ? m1 : m0;                                                \
        m2 = m3 > m2 ? m3 : m2;                                                \
        T m = m2 > m0 ? m2 : m0;                                               \
        for (; i < n; i++) {                                                   \
            T v = x[i * s];                                                    \
            m = v > m ? v : m;                                                 \
            nan |= (unsigned)(v != v);                                         \
        }                                                                      \
        if (nan)                                                               \
            for (i = 0;; i++)                                                  \
                if (x[i * s] != x[i * s])                                      \
                    return x[i * s];                                           \
        return m;                                                              \
    }                                                                          \
                                                                               \
    /* The index of the first maximum of n >= 1 values, or of the first */    \
    /* NaN. Block by block: the block's maximum (vectorised), and only when */ \
    /* it beats the best so far a second look, still in cache, for where. */   \
    static int64_t run_argmax_##S(const T *x, int64_t n, int64_t s)            \
    {                                                                          \
        T best = x[0];                                                         \
        int64_t at = 0;                                                        \
        for (int64_t i = 0; i < n && best == best; i += ARGMAX_BLOCK) {        \
            const T *b = x + i * s;                                            \
            int64_t c = n - i < ARGMAX_BLOCK ? n - i : ARGMAX_BLOCK, j = 0;    \
            T m = run_max_##S(b, c, s);                                        \
            if (m != m) {                                                      \
                while (b[j * s] == b[j * s])                                   \
                    j++;                                                       \
            } else if (m > best) {                                             \
                while (b[j * s] != m)                                          \
                    j++;                                                       \
            } else {                                                           \
                continue;                                                      \
            }                                                                  \
            best = m;                                                          \
            at = i + j;                                                        \
        }                                                                      \
        return at;                                                             \
    }                                                                          \
                                                                               \
    /* res (zeroed) += the sums the plan describes. buf holds NP_BUFSIZE */    \
    /* values; it is needed only when nred > 1. */                             \
    static void plan_sum_##S(const plan *p, const T *x, T *res, T *buf)        \
    {                                                                          \
        int64_t n0 = p->size[0], xs0 = p->xs[0], rs0 = p->rs[0];               \
        walk w;                                                                \
        if (p->nred == 0) { /* kept innermost: running sums, row by row */     \
            walk_start(&w, p, 1, p->ndim, p->x0, 0);                           \
            do {                                                               \
                if (xs0 == 1 && rs0 == 1) {                                    \
                    add_row_##S(res + w.r, x + w.x, n0);                       \
                } else {                                                       \
                    for (int64_t j = 0; j < n0; j++)                           \
                        res[w.r + j * rs0] += x[w.x + j * xs0];                \
                }                                                              \
            } while (walk_next(&w));                                           \
        } else if (p->nred == 1) { /* one reduced run per outer index */       \
            walk_start(&w, p, 1, p->ndim, p->x0, 0);                           \
            do {                                                               \
                res[w.r] = run_sum_##S(res[w.r], x + w.x, n0, xs0);            \
            } while (walk_next(&w));                                           \
        } else { /* a run over several axes: gather it as NumPy buffers it */  \
            walk_start(&w, p, p->nred, p->ndim, p->x0, 0);                     \
            do {                                                               \
                T acc = res[w.r];                                              \
                int64_t k = 0;                                                 \
                walk in;                                                       \
                walk_start(&in, p, 1, p->nred, w.x, 0);                        \
                do {                                                           \
                    for (int64_t j = 0; j < n0; j++) {                         \
                        buf[k++] = x[in.x + j * xs0];                          \
                        if (k == NP_BUFSIZE) {                                 \
                            acc += pw_##S(buf, k, 1);                          \
                            k = 0;                                             \
                        }                                                      \
                    }                                                          \
                } while (walk_next(&in));                                      \
                if (k > 0)                                                     \
                    acc += pw_##S(buf, k, 1);                                  \
                res[w.r] = acc;                                                \
            } while (walk_next(&w));                                           \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* res (all -inf) = max(res, the values the plan maps to each result). */  \
    static void plan_max_##S(const plan *p, const T *x, T *res)                \
    {                                                                          \
        int64_t n0 = p->size[0], xs0 = p->xs[0], rs0 = p->rs[0];               \
        walk w;                                                                \
        walk_start(&w, p, 1, p->ndim, p->x0, 0);                               \
        do {                                                                   \
            if (p->nred > 0) {                                                 \
                T b = run_max_##S(x + w.x, n0, xs0);                           \
                res[w.r] = NP_MAX(res[w.r], b);                                \
                continue;                                                      \
            }                                                                  \
            if (xs0 == 1 && rs0 == 1) {                                        \
                max_row_##S(res + w.r, x + w.x, n0);                           \
                continue;                                                      \
            }                                                                  \
            for (int64_t j = 0; j < n0; j++) {                                 \
                T a = res[w.r + j * rs0], b = x[w.x + j * xs0];                \
                res[w.r + j * rs0] = NP_MAX(a, b);                             \
            }                                                                  \
        } while (walk_next(&w));                                               \
    }                                                                          \
                                                                               \
    /* The flat C-order index of the first maximum of all of t, whose plan */  \
    /* is unsorted (C order) with every axis reduced. */                       \
    static int64_t plan_argmax_all_##S(const plan *p, const T *x)              \
    {                                                                          \
        int64_t n0 = p->size[0], at = 0, base = 0;                             \
        T best = 0;                                                            \
        walk w;                                                                \
        walk_start(&w, p, 1, p->ndim, p->x0, 0);                               \
        do {                                                                   \
            int64_t j = run_argmax_##S(x + w.x, n0, p->xs[0]);                 \
            T v = x[w.x + j * p->xs[0]];                                       \
            if (base == 0 || v > best || v != v) {                             \
                best = v;                                                      \
                at = base + j;                                                 \
                if (v != v)                                                    \
                    break;                                                     \
            }                                                                  \
            base += n0;                                                        \
        } while (walk_next(&w));                                               \
        return at;                                                             \
    }                                                                          \
                                                                               \
    /* Arg-max along the one reduced axis, plan axis red (sorted plan). */     \
    /* When red is not innermost, best (one slot per result) holds the */      \
    /* maxima so far while rows of the kept axes stream past. */               \
    static void plan_argmax_axis_##S(const plan *p, int red, const T *x,       \
                                     int64_t *res, T *best)                    \
    {                                                                          \
        int64_t n0 = p->size[0], xs0 = p->xs[0], rs0 = p->rs[0];               \
        walk w;                                                                \
        walk_start(&w, p, 1, p->ndim, p->x0, 0);                               \
        if (red == 0) {                                                        \
            do {                                                               \
                res[w.r] = run_argmax_##S(x + w.x, n0, xs0);                   \
            } while (walk_next(&w));                                           \
            return;                                                            \
        }                                                                      \
        do {                                                                   \
            int64_t k = w.idx[red];                                            \
            for (int64_t j = 0; j < n0; j++) {                                 \
                int64_t q = w.r + j * rs0;                                     \
                T v = x[w.x + j * xs0], b = best[q];                           \
                if (k == 0 || v > b || (v != v && b == b)) {                   \
                    best[q] = v;                                               \
                    res[q] = k;                                                \
                }                                                              \
            }                                                                  \
        } while (walk_next(&w));                                               \
    }                                                                          \
                                                                               \
    /* Writes n results from res (C order) into out, any strides. */           \
    static void scatter_##S(tg_tensor *out, const T *res)                      \
    {                                                                          \
        T *o = (T *)out->storage->data;                                        \
        int64_t idx[TG_MAX_DIMS] = {0}, pos = out->offset;                     \
        for (int64_t i = 0; i < out->numel; i++) {                             \
            o[pos] = res[i];                                                   \
            for (int k = out->ndim - 1; k >= 0; k--) {                         \
                if (++idx[k] < out->shape[k]) {                                \
                    pos += out->strides[k];                                    \
                    break;                                                     \
                }                                                              \
                idx[k] = 0;                                                    \
                pos -= (out->shape[k] - 1) * out->strides[k];                  \
            }                                                                  \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* Runs one reduction into res (n results in C order). */                  \
    static void reduce_into_##S(int kind, const plan *p, const tg_tensor *t,   \
                                int64_t count, T *res, int64_t n, T *scratch)  \
    {                                                                          \
        const T *x = (const T *)t->storage->data;                              \
        if (kind == SUM || kind == MEAN) {                                     \
            for (int64_t i = 0; i < n; i++)                                    \
                res[i] = 0;                                                    \
            if (t->numel > 0)                                                  \
                plan_sum_##S(p, x, res, scratch);                              \
            if (kind == MEAN)                                                  \
                for (int64_t i = 0; i < n; i++)                                \
                    res[i] /= (T)count;                                        \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++)                                    \
                res[i] = (T)-INFINITY;                                         \
            plan_max_##S(p, x, res);                                           \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* Runs an arg-max into pos (n positions in C order): red is the */        \
    /* reduced axis of the plan, < 0 for all, >= ndim when it has size 1. */   \
    static void argmax_into_##S(const plan *p, int red, const tg_tensor *t,    \
                                int64_t *pos, int64_t n, T *scratch)           \
    {                                                                          \
        const T *x = (const T *)t->storage->data;                              \
        if (red < 0) {                                                         \
            pos[0] = plan_argmax_all_##S(p, x);                                \
        } else if (red >= p->ndim) {                                           \
            for (int64_t i = 0; i < n; i++)                                    \
                pos[i] = 0;                                                    \
        } else {                                                               \
            plan_argmax_axis_##S(p, red, x, pos, scratch);                     \
        }                                                                      \
    }

DEFINE_KERNELS(float, f)
DEFINE_KERNELS(double, d)

/* ---- pairwise sums (internal.h) ---------------------------------------- */

/* These return what np.sum returns for the 1-D view x[0], x[s], ...:
 * pairwise blocks fed through NumPy's 8192-element buffer. */
double tg__pairwise_sum_f64(const double *x, int64_t n, int64_t s)
{
    return run_sum_d(0.0, x, n, s);
}

/* Accumulated in float; the float result is returned widened. */
double tg__pairwise_sum_f32(const float *x, int64_t n, int64_t s)
{
    return (double)run_sum_f(0.0f, x, n, s);
}

/* ---- shapes and checks -------------------------------------------------- */

void tg__reduced_shape(const tg_tensor *t, int axis, bool keepdims, int *ndim,
                       int64_t *shape)
{
    int n = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (axis < 0 || k == axis) {
            if (keepdims)
                shape[n++] = 1;
        } else {
            shape[n++] = t->shape[k];
        }
    }
    *ndim = n;
}

/* C order with offset allowed: the result can be written straight in. */
static bool dense(const tg_tensor *t)
{
    int64_t s = 1;
    for (int k = t->ndim - 1; k >= 0; k--) {
        if (t->shape[k] != 1 && t->strides[k] != s)
            return false;
        s *= t->shape[k];
    }
    return true;
}

static bool shape_is(const tg_tensor *t, int ndim, const int64_t *shape)
{
    if (t->ndim != ndim)
        return false;
    for (int k = 0; k < ndim; k++)
        if (t->shape[k] != shape[k])
            return false;
    return true;
}

static int check_pair(const char *fn, const tg_tensor *out, const tg_tensor *t)
{
    if (!out)
        return tg__fail(TG_ERR_NULL, fn, "out is NULL");
    if (!t)
        return tg__fail(TG_ERR_NULL, fn, "input tensor is NULL");
    if (!tg__is_float(t->dtype)) /* the integer forms are tg_sum and co. */
        return tg__need_float(fn, "the input", t->dtype);
    if (out->dtype != t->dtype)
        return tg__fail(TG_ERR_DTYPE, fn, "out is %s but the input is %s",
                        tg_dtype_name(out->dtype), tg_dtype_name(t->dtype));
    return TG_OK;
}

/* The common case of a loss: a contiguous input summed to one value is one
 * buffered pairwise run over its memory, which is what the plan in run()
 * would come to, without building it. False if t is not such a case. */
static bool sum_all(int kind, tg_tensor *out, const tg_tensor *t, int64_t count)
{
    if ((kind != SUM && kind != MEAN) || out->numel != 1 || t->numel == 0 ||
        !tg__contiguous(t))
        return false;
    if (t->dtype == TG_FLOAT64) {
        double v = run_sum_d(0.0, tg__data(t), t->numel, 1);
        *(double *)tg__data(out) = kind == MEAN ? v / (double)count : v;
    } else {
        float v = run_sum_f(0.0f, tg__data(t), t->numel, 1);
        *(float *)tg__data(out) = kind == MEAN ? v / (float)count : v;
    }
    return true;
}

/* Runs a sum, mean or max whose plan is built from result strides rs; the
 * results go straight into out when it is dense and cannot overlap t, else
 * through a scratch copy. */
static int run(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
               const int64_t *rs, int64_t count)
{
    if (out->numel == 0)
        return TG_OK;
    if (sum_all(kind, out, t, count))
        return TG_OK;
    plan p;
    plan_build(&p, t, rs, true);
    size_t es = tg__dsize(t->dtype);
    size_t nres = (size_t)out->numel;
    /* scratch: the gather buffer of a multi-axis sum run */
    size_t nscratch = 0;
    if ((kind == SUM || kind == MEAN) && p.nred > 1) {
        int64_t run_len = 1;
        for (int k = 0; k < p.nred; k++)
            run_len *= p.size[k];
        nscratch = (size_t)(run_len < NP_BUFSIZE ? run_len : NP_BUFSIZE);
    }
    bool direct = dense(out) && out->storage != t->storage;
    size_t nbytes = (nscratch + (direct ? 0 : nres)) * es;
    void *block = nbytes ? tg__alloc(nbytes) : NULL;
    if (nbytes && !block)
        return tg__oom(fn);
    char *res = direct ? (char *)out->storage->data + (size_t)out->offset * es
                       : (char *)block + nscratch * es;
    if (t->dtype == TG_FLOAT64) {
        reduce_into_d(kind, &p, t, count, (double *)(void *)res, out->numel,
                      (double *)block);
        if (!direct)
            scatter_d(out, (const double *)(const void *)res);
    } else {
        reduce_into_f(kind, &p, t, count, (float *)(void *)res, out->numel,
                      (float *)block);
        if (!direct)
            scatter_f(out, (const float *)(const void *)res);
    }
    tg__dealloc(block, nbytes);
    return TG_OK;
}

/* The arg-max positions of t (along axis, or of everything when axis < 0)
 * into pos, nres of them in C order of the result: integers, so that no
 * index is ever rounded. t is not empty along the reduced axes. */
static int run_argmax(const char *fn, const tg_tensor *t, const int64_t *rs,
                      int axis, int64_t nres, int64_t *pos)
{
    if (nres == 0)
        return TG_OK;
    plan p;
    plan_build(&p, t, rs, axis >= 0);
    int red = -1;
    if (axis >= 0) {
        red = p.ndim;
        for (int k = 0; k < p.ndim; k++)
            if (p.rs[k] == 0 && p.size[k] > 1)
                red = k;
    }
    /* the running maxima of an arg-max whose axis is not innermost */
    size_t es = tg__dsize(t->dtype);
    size_t nbytes = red > 0 && red < p.ndim ? (size_t)nres * es : 0;
    void *scratch = nbytes ? tg__alloc(nbytes) : NULL;
    if (nbytes && !scratch)
        return tg__oom(fn);
    if (t->dtype == TG_FLOAT64)
        argmax_into_d(&p, red, t, pos, nres, (double *)scratch);
    else
        argmax_into_f(&p, red, t, pos, nres, (float *)scratch);
    tg__dealloc(scratch, nbytes);
    return TG_OK;
}

/* Result strides of a reduction of t: C order over the kept axes, 0 along
 * the reduced one (every axis when axis < 0). */
static void reduction_strides(const tg_tensor *t, int axis, int64_t *rs)
{
    int64_t s = 1;
    for (int k = t->ndim - 1; k >= 0; k--) {
        if (axis < 0 || k == axis) {
            rs[k] = 0;
        } else {
            rs[k] = s;
            s *= t->shape[k];
        }
    }
}

static int no_maximum(const char *fn, int axis)
{
    if (axis < 0)
        return tg__fail(TG_ERR_VALUE, fn, "zero-size tensor has no maximum");
    return tg__fail(TG_ERR_VALUE, fn, "axis %d has size 0, so there is no maximum",
                    axis);
}

int tg__argmax_positions(const char *fn, const tg_tensor *t, int axis,
                         int64_t *pos)
{
    int64_t count = axis < 0 ? t->numel : t->shape[axis];
    if (count == 0)
        return no_maximum(fn, axis);
    int64_t rs[TG_MAX_DIMS], nres = 1;
    reduction_strides(t, axis, rs);
    for (int k = 0; axis >= 0 && k < t->ndim; k++)
        if (k != axis)
            nres *= t->shape[k];
    return run_argmax(fn, t, rs, axis, nres, pos);
}

/* ---- internal entry points ---------------------------------------------- */

static int reduce_checked(const char *fn, int kind, tg_tensor *out,
                          const tg_tensor *t, int axis);
static int sum_to_checked(const char *fn, tg_tensor *out, const tg_tensor *t);

/* The traced forms: what a plan runs (trace.c). */
static int run_reduce(tg__step *e)
{
    return reduce_checked(e->fn, e->op, &e->out, &e->a, (int)e->i[0]);
}

static int run_sum_to(tg__step *e) { return sum_to_checked(e->fn, &e->out, &e->a); }

int tg__reduce(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
               int axis)
{
    int rc;
    TG__TRACED_RC(rc, reduce_checked(fn, kind, out, t, axis), .run = run_reduce,
                  .kind = kind == SUM ? TG__STEP_SUM : TG__STEP_OTHER,
                  .fn = fn, .op = kind, .out = *out, .a = *t, .i = {axis});
    return rc;
}

int tg__sum_to(const char *fn, tg_tensor *out, const tg_tensor *t)
{
    int rc;
    TG__TRACED_RC(rc, sum_to_checked(fn, out, t), .run = run_sum_to,
                  .kind = TG__STEP_SUM, .fn = fn,
                  .out = *out, .a = *t);
    return rc;
}

static int reduce_checked(const char *fn, int kind, tg_tensor *out,
                          const tg_tensor *t, int axis)
{
    int rc = check_pair(fn, out, t);
    if (rc)
        return rc;
    if (kind < SUM || kind > MAX)
        return tg__fail(TG_ERR_VALUE, fn, "unknown reduction %d", kind);
    if (axis >= t->ndim)
        return tg__fail(TG_ERR_AXIS, fn, "axis %d out of range for %d dimensions",
                        axis, t->ndim);
    int nd_keep, nd_drop;
    int64_t keep[TG_MAX_DIMS], drop[TG_MAX_DIMS];
    tg__reduced_shape(t, axis, true, &nd_keep, keep);
    tg__reduced_shape(t, axis, false, &nd_drop, drop);
    if (!shape_is(out, nd_keep, keep) && !shape_is(out, nd_drop, drop)) {
        char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
        return tg__fail(TG_ERR_SHAPE, fn, "out has shape %s but the result has shape %s",
                        tg__shape_fmt(out->ndim, out->shape, b1, sizeof b1),
                        tg__shape_fmt(nd_drop, drop, b2, sizeof b2));
    }
    int64_t count = axis < 0 ? t->numel : t->shape[axis];
    if (kind == MAX && count == 0)
        return no_maximum(fn, axis);
    int64_t rs[TG_MAX_DIMS];
    reduction_strides(t, axis, rs);
    return run(fn, kind, out, t, rs, count);
}

/* out's shape must broadcast to t's: same or 1 in each trailing axis. */
static int check_sum_to(const char *fn, const tg_tensor *t, int ndim,
                        const int64_t *shape)
{
    bool ok = ndim <= t->ndim;
    for (int i = 0; ok && i < ndim; i++) {
        int64_t ts = t->shape[t->ndim - ndim + i];
        ok = shape[i] == ts || shape[i] == 1;
    }
    if (ok)
        return TG_OK;
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    return tg__fail(TG_ERR_SHAPE, fn, "cannot sum shape %s to %s",
                    tg__shape_fmt(t->ndim, t->shape, b1, sizeof b1),
                    tg__shape_fmt(ndim, shape, b2, sizeof b2));
}

static int sum_to_checked(const char *fn, tg_tensor *out, const tg_tensor *t)
{
    int rc = check_pair(fn, out, t);
    if (rc)
        return rc;
    rc = check_sum_to(fn, t, out->ndim, out->shape);
    if (rc)
        return rc;
    /* t's leading extra axes and the axes where out has size 1 are reduced */
    int lead = t->ndim - out->ndim;
    int64_t rs[TG_MAX_DIMS], s = 1;
    for (int i = out->ndim - 1; i >= 0; i--) {
        rs[lead + i] = out->shape[i] == 1 ? 0 : s;
        s *= out->shape[i];
    }
    for (int k = 0; k < lead; k++)
        rs[k] = 0;
    return run(fn, SUM, out, t, rs, 0);
}

/* ---- for reduce_more.c: several axes, and NumPy's order for other kernels ---- */

int tg__reduce_strided(const char *fn, int kind, tg_tensor *out, const tg_tensor *t,
                       const int64_t *rs, int64_t count)
{
    return run(fn, kind, out, t, rs, count);
}

void tg__reduce_rows(const tg_tensor *t, const int64_t *rs, tg__row_fn row, void *ctx)
{
    plan p;
    plan_build(&p, t, rs, true);
    walk w;
    walk_start(&w, &p, 1, p.ndim, p.x0, 0);
    do
        row(ctx, w.x, w.r, p.size[0], p.xs[0], p.rs[0]);
    while (walk_next(&w));
}

/* ---- public API ---------------------------------------------------------- */

/* The reductions whose result is not t's float dtype: arg-max of anything
 * (int64 positions, as NumPy), and the sum (int64, NumPy's platform
 * integer), mean (float64) and max (t's dtype) of integers and bools. */
static tg_tensor *reduce_any(const char *fn, int kind, const tg_tensor *t, int ax,
                             int nd, const int64_t *shape)
{
    int64_t count = ax < 0 ? t->numel : t->shape[ax];
    if ((kind == MAX || kind == ARGMAX) && count == 0) {
        no_maximum(fn, ax);
        return NULL;
    }
    if (kind == MEAN) { /* NumPy's mean of integers: in float64 */
        tg_tensor *f = tg_cast(t, TG_FLOAT64);
        tg_tensor *out = f ? tg__new(fn, TG_FLOAT64, nd, shape) : NULL;
        if (out && tg__reduce(fn, MEAN, out, f, ax)) {
            tg_free(out);
            out = NULL;
        }
        tg_free(f);
        return out;
    }
    tg_dtype dt = kind == MAX ? t->dtype : TG_INT64;
    tg_tensor *out = tg__new(fn, dt, nd, shape);
    if (!out)
        return NULL;
    int rc;
    if (!tg__is_float(t->dtype))
        rc = tg__int_reduce(fn, kind, out, t, ax);
    else if (out->numel == 0)
        rc = TG_OK;
    else
        rc = tg__argmax_positions(fn, t, ax, tg__data(out));
    if (rc) {
        tg_free(out);
        return NULL;
    }
    tg__touch(out);
    return out;
}

static tg_tensor *reduce_new(const char *fn, int kind, const tg_tensor *t,
                             bool all, int axis, bool keepdims)
{
    if (!t)
        return NULL;
    int ax = -1, nd;
    int64_t shape[TG_MAX_DIMS];
    if (!all && tg__axis(fn, axis, t->ndim, &ax))
        return NULL;
    tg__reduced_shape(t, ax, keepdims && !all, &nd, shape);
    if (kind == ARGMAX || !tg__is_float(t->dtype))
        return reduce_any(fn, kind, t, ax, nd, shape);
    tg_tensor *out = tg__new(fn, t->dtype, nd, shape);
    if (!out)
        return NULL;
    if (tg__reduce(fn, kind, out, t, ax)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

tg_tensor *tg_sum(const tg_tensor *t) { return reduce_new("tg_sum", SUM, t, true, 0, false); }
tg_tensor *tg_mean(const tg_tensor *t) { return reduce_new("tg_mean", MEAN, t, true, 0, false); }
tg_tensor *tg_max(const tg_tensor *t) { return reduce_new("tg_max", MAX, t, true, 0, false); }
tg_tensor *tg_argmax(const tg_tensor *t) { return reduce_new("tg_argmax", ARGMAX, t, true, 0, false); }

tg_tensor *tg_sum_axis(const tg_tensor *t, int axis, bool keepdims)
{
    return reduce_new("tg_sum_axis", SUM, t, false, axis, keepdims);
}

tg_tensor *tg_mean_axis(const tg_tensor *t, int axis, bool keepdims)
{
    return reduce_new("tg_mean_axis", MEAN, t, false, axis, keepdims);
}

tg_tensor *tg_max_axis(const tg_tensor *t, int axis, bool keepdims)
{
    return reduce_new("tg_max_axis", MAX, t, false, axis, keepdims);
}

tg_tensor *tg_argmax_axis(const tg_tensor *t, int axis, bool keepdims)
{
    return reduce_new("tg_argmax_axis", ARGMAX, t, false, axis, keepdims);
}

/* tg_argmin's arg-max of -t: the same result dtype and checks as tg_argmax. */
tg_tensor *tg__argmax_new(const char *fn, const tg_tensor *t, bool all, int axis,
                          bool keepdims)
{
    return reduce_new(fn, ARGMAX, t, all, axis, keepdims);
}

tg_tensor *tg_sum_to(const tg_tensor *t, int ndim, const int64_t *shape)
{
    const char *fn = "tg_sum_to";
    if (!t)
        return NULL;
    int64_t numel;
    if (tg__check_shape(fn, ndim, shape, t->dtype, &numel) ||
        check_sum_to(fn, t, ndim, shape))
        return NULL;
    tg_tensor *out = tg__new(fn, t->dtype, ndim, shape);
    if (!out)
        return NULL;
    if (tg__sum_to(fn, out, t)) {
        tg_free(out);
        return NULL;
    }
    return out;
}

int tg_sum_to_into(tg_tensor *out, const tg_tensor *t)
{
    int rc = out ? tg__check_writable("tg_sum_to_into", "out", out) : TG_OK;
    if (rc == TG_OK)
        rc = tg__sum_to("tg_sum_to_into", out, t);
    if (rc == TG_OK)
        tg__touch(out);
    return rc;
}

int tg_sum_into(tg_tensor *out, const tg_tensor *t)
{
    int rc = out ? tg__check_writable("tg_sum_into", "out", out) : TG_OK;
    if (rc == TG_OK)
        rc = tg__reduce("tg_sum_into", SUM, out, t, -1);
    if (rc == TG_OK)
        tg__touch(out);
    return rc;
}
