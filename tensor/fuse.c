/* fuse.c - fusion of a captured step (plan.h's tg_plan_fuse). A run of
 * element-wise steps over the same n contiguous elements becomes one
 * group, replayed tile by tile: every step of the group runs on elements
 * [i, i + TILE) before any step moves on to the next tile, so what one
 * step writes is still in cache when the next reads it. Three things make
 * the group cheaper than its steps one after another:
 *
 * - an intermediate that only the group reads (and that is not kept) lives
 *   in a scratch of one tile and never reaches memory;
 * - a whole sum of such an array takes its producer's tile as it is made
 *   (the sum is added tile by tile, so in another order than the eager
 *   pairwise sum: equal to rounding, not bit for bit);
 * - a small step that does not touch the group's data (a .grad zeroed, the
 *   backward's seed) is moved before it rather than ending it.
 *
 * Element-wise results are the same loops on the same elements, so equal
 * bit for bit. Anything else (a product, an optimiser) stays a step of its
 * own, run as the plan recorded it. */
#include <string.h>

#include "internal.h"

#define TILE 256 /* elements: 2 KiB of float64 per buffer, a group's in L1 */

enum { REF_NONE, REF_ARRAY, REF_SCALAR, REF_SCRATCH };

/* Where a member reads or writes: n contiguous elements (ARRAY), one
 * element read at stride 0 (SCALAR), or a scratch tile. */
typedef struct ref {
    int mode;
    const tg__storage *storage;
    char *ptr; /* the element for index 0 */
    size_t slot;
    bool uniform; /* a scratch holding one value (read at stride 0) */
    /* Set when the program is complete: the tile's first element is at
     * base + i0 * step, and consecutive elements stride apart (0 or 1). */
    char *base;
    size_t step;
    int64_t stride;
} ref;

/* Member kinds beyond the steps' own (TG__STEP_*): a sum that took in the
 * product feeding it, and a member whose work moved into such a sum. */
enum { M_DOT = 100, M_NONE };

typedef struct member {
    tg__step *step;
    int kind, op;
    bool uniform; /* every operand a scalar: one element, once per replay */
    double s;
    bool scalar_first;
    double sd; /* a SCALAR step's operand, as the kernel reads it */
    float sf;
    ref out, a, b;
    double acc; /* a SUM's total so far */
} member;

typedef struct group {
    int64_t n;
    tg_dtype dt;
    size_t first, count; /* members */
} group;

typedef struct item {
    tg__step *step; /* a step run alone, or NULL */
    size_t group;
} item;

struct tg__fused {
    item *items;
    size_t nitems, nsteps;
    group *groups;
    size_t ngroups;
    member *members;
    size_t nmembers;
    char *scratch;
    size_t nslots;
};

/* ---- building ---------------------------------------------------------------- */

static bool scalar_like(const tg_tensor *h)
{
    for (int k = 0; k < h->ndim; k++)
        if (h->strides[k] != 0 && h->shape[k] != 1)
            return false;
    return true;
}

/* How a member would use header h in a group of n elements of dt. */
static bool classify(const tg_tensor *h, int64_t n, tg_dtype dt, ref *r)
{
    memset(r, 0, sizeof *r);
    if (!h->storage || h->dtype != dt || h->numel == 0)
        return false;
    r->storage = h->storage;
    r->ptr = tg__data(h);
    if (h->numel == n && tg__contiguous(h))
        r->mode = REF_ARRAY;
    else if (scalar_like(h))
        r->mode = REF_SCALAR;
    return r->mode != REF_NONE;
}

/* Whether step e can start a group: an element-wise step or a whole sum
 * over contiguous elements (one element too: a run of the optimiser's
 * small updates is cheaper as a group than as steps). */
static bool seed(const tg__step *e, int64_t *n, tg_dtype *dt)
{
    const tg_tensor *x = e->kind == TG__STEP_SUM ? &e->a : &e->out;
    if (e->kind < TG__STEP_BINARY || e->kind > TG__STEP_SUM || !x->storage ||
        x->numel < 1 || !tg__contiguous(x) || !tg__is_float(x->dtype))
        return false;
    *n = x->numel;
    *dt = x->dtype;
    return true;
}

/* What the members of the group being built read and write. */
typedef struct use {
    const tg__storage *storage;
    const char *ptr;
    int how; /* REF_ARRAY or REF_SCALAR read, or W_ARRAY, W_SUM */
} use;
enum { W_ARRAY = 10, W_SUM };

typedef struct builder {
    int64_t n;
    tg_dtype dt;
    use *uses;
    size_t nuses;
} builder;

static bool written(const builder *B, const tg__storage *s)
{
    for (size_t k = 0; k < B->nuses; k++)
        if (B->uses[k].storage == s && B->uses[k].how >= W_ARRAY)
            return true;
    return false;
}

static bool used(const builder *B, const tg__storage *s)
{
    for (size_t k = 0; k < B->nuses; k++)
        if (B->uses[k].storage == s)
            return true;
    return false;
}

/* A read of r is safe in the group: a scalar nobody in it writes, or an
 * array no member writes elsewhere in the same storage (nor sums into). */
static bool read_ok(const builder *B, const ref *r)
{
    for (size_t k = 0; k < B->nuses; k++) {
        const use *u = &B->uses[k];
        if (u->storage != r->storage || u->how < W_ARRAY)
            continue;
        if (r->mode == REF_SCALAR || u->how == W_SUM || u->ptr != r->ptr)
            return false;
    }
    return true;
}

/* A write of r is safe: nobody in the group reads its storage as a
 * scalar or at another place; a sum's one element is not used at all. */
static bool write_ok(const builder *B, const ref *r, bool sum)
{
    for (size_t k = 0; k < B->nuses; k++) {
        const use *u = &B->uses[k];
        if (u->storage != r->storage)
            continue;
        if (sum || u->how == REF_SCALAR || u->how == W_SUM || u->ptr != r->ptr)
            return false;
    }
    return true;
}

static void note(builder *B, const ref *r, int how)
{
    B->uses[B->nuses++] = (use){r->storage, r->ptr, how};
}

/* Makes m from e if e can join the group; records its uses. */
static bool try_member(builder *B, tg__step *e, member *m)
{
    memset(m, 0, sizeof *m);
    m->step = e;
    m->kind = e->kind;
    m->op = e->op;
    m->s = e->s;
    m->scalar_first = e->flag;
    m->sd = e->s;
    m->sf = (float)e->s;
    bool sum = e->kind == TG__STEP_SUM;
    switch (e->kind) {
    case TG__STEP_BINARY:
    case TG__STEP_UNARY:
    case TG__STEP_SCALAR:
        if (!classify(&e->out, B->n, B->dt, &m->out) || m->out.mode != REF_ARRAY ||
            !classify(&e->a, B->n, B->dt, &m->a) ||
            (e->kind == TG__STEP_BINARY && !classify(&e->b, B->n, B->dt, &m->b)))
            return false;
        break;
    case TG__STEP_SUM:
        if (e->out.numel != 1 || e->out.dtype != B->dt || !e->out.storage ||
            !classify(&e->a, B->n, B->dt, &m->a) || m->a.mode != REF_ARRAY)
            return false;
        m->out = (ref){REF_SCALAR, e->out.storage, tg__data(&e->out), 0, false, NULL, 0, 0};
        break;
    default:
        return false;
    }
    if (!read_ok(B, &m->a) || (m->b.mode && !read_ok(B, &m->b)) ||
        !write_ok(B, &m->out, sum))
        return false;
    /* an in-place step reads what it writes: the same element */
    if ((m->a.storage == m->out.storage && m->a.ptr != m->out.ptr) ||
        (m->b.mode && m->b.storage == m->out.storage && m->b.ptr != m->out.ptr))
        return false;
    note(B, &m->a, m->a.mode);
    if (m->b.mode)
        note(B, &m->b, m->b.mode);
    note(B, &m->out, sum ? W_SUM : W_ARRAY);
    return true;
}

/* Whether e, a step outside the group, may run before all of it: it
 * writes nothing the group uses and reads nothing the group writes. */
static bool hoistable(const builder *B, const tg__step *e)
{
    if (e->kind == TG__STEP_OTHER)
        return false;
    if (e->out.storage && used(B, e->out.storage))
        return false;
    const tg_tensor *in[3] = {&e->a, &e->b, &e->c};
    for (int k = 0; k < 3; k++)
        if (in[k]->storage && written(B, in[k]->storage))
            return false;
    return true;
}

/* Whether a step other than the group g's members touches storage s. */
static bool used_outside(const tg__fused *f, tg__step *steps, size_t n, const group *g,
                         const tg__storage *s)
{
    for (size_t k = 0; k < n; k++) {
        const tg__step *e = &steps[k];
        bool inside = false;
        for (size_t j = g->first; j < g->first + g->count && !inside; j++)
            inside = f->members[j].step == e;
        if (!inside && (e->out.storage == s || e->a.storage == s ||
                        e->b.storage == s || e->c.storage == s))
            return true;
    }
    return false;
}

/* Gives a scratch tile to every array of group g that only g uses, is
 * made on the tape, is not kept, is written before it is read, and is
 * read by a later member (a value no step reads is a result). */
static void assign_scratch(tg__fused *f, tg__step *steps, size_t n, const group *g,
                           const tg__storage *const *keep, size_t nkeep)
{
    member *ms = f->members + g->first;
    for (size_t k = 0; k < g->count; k++) {
        ref *o = &ms[k].out;
        if (o->mode != REF_ARRAY || !(ms[k].step->out.flags & TG__ARENA))
            continue;
        const tg__storage *s = o->storage;
        bool keep_it = false;
        for (size_t j = 0; j < nkeep; j++)
            keep_it |= keep[j] == s;
        for (size_t j = 0; j < k && !keep_it; j++) /* read before this write */
            keep_it = ms[j].a.storage == s || ms[j].b.storage == s ||
                      ms[j].out.storage == s;
        /* a result no step reads (the loss, a prediction) is the step's
         * output: it stays */
        bool read_later = false;
        for (size_t j = k + 1; j < g->count && !read_later; j++)
            read_later = ms[j].a.storage == s || ms[j].b.storage == s;
        if (keep_it || !read_later || used_outside(f, steps, n, g, s))
            continue;
        /* A member whose operands are all scalars writes one value n
         * times: it computes it once, and its readers read it as a scalar. */
        bool uniform = ms[k].kind != TG__STEP_SUM && ms[k].a.mode == REF_SCALAR &&
                       (!ms[k].b.mode || ms[k].b.mode == REF_SCALAR);
        size_t slot = f->nslots++;
        for (size_t j = k; j < g->count; j++) {
            ref *r[3] = {&ms[j].out, &ms[j].a, &ms[j].b};
            for (int q = 0; q < 3; q++)
                if (r[q]->mode == REF_ARRAY && r[q]->storage == s) {
                    r[q]->mode = REF_SCRATCH;
                    r[q]->slot = slot;
                    r[q]->uniform = uniform;
                }
        }
        ms[k].uniform = uniform;
    }
}

/* Whether a member other than skip reads scratch slot of ref r. */
static bool slot_read_elsewhere(const member *ms, size_t count, size_t skip, const ref *r)
{
    for (size_t j = 0; j < count; j++) {
        if (j == skip || ms[j].kind == M_NONE)
            continue;
        const ref *in[2] = {&ms[j].a, &ms[j].b};
        for (int q = 0; q < 2; q++)
            if (in[q]->mode == REF_SCRATCH && in[q]->slot == r->slot)
                return true;
    }
    return false;
}

/* A whole sum of a product that nothing else reads, sum(x * y) or
 * sum(x * c), becomes one loop over x and y that never stores the
 * product (each product is rounded as before; only the sum's order
 * differs, as for every fused sum). */
static void absorb_products(tg__fused *f, const group *g)
{
    member *ms = f->members + g->first;
    for (size_t k = 1; k < g->count; k++) {
        member *sum = &ms[k], *prod = &ms[k - 1];
        if (sum->kind != TG__STEP_SUM || sum->a.mode != REF_SCRATCH ||
            prod->out.mode != REF_SCRATCH || prod->out.slot != sum->a.slot ||
            prod->uniform || slot_read_elsewhere(ms, g->count, k, &sum->a))
            continue;
        if (prod->kind == TG__STEP_BINARY && prod->op == TG_MUL) {
            sum->a = prod->a;
            sum->b = prod->b;
        } else if (prod->kind == TG__STEP_SCALAR && prod->op == TG_MUL) {
            sum->a = prod->a; /* c x and x c are the same product */
            sum->b = (ref){REF_SCALAR, NULL, NULL, 0, false, NULL, 0, 0};
            sum->sd = prod->sd;
            sum->sf = prod->sf;
            sum->scalar_first = true; /* b is the member's own scalar */
        } else {
            continue;
        }
        sum->kind = M_DOT;
        prod->kind = M_NONE;
    }
}

/* Fills in where each reference of m is, tile by tile. */
static void resolve(const tg__fused *f, member *m)
{
    size_t es = tg__dsize(m->step->kind == TG__STEP_SUM ? m->step->a.dtype
                                                        : m->step->out.dtype);
    ref *r[3] = {&m->out, &m->a, &m->b};
    if (m->kind == M_DOT && m->scalar_first) /* the scalar of sum(x * c) */
        m->b.ptr = m->step->a.dtype == TG_FLOAT64 ? (char *)&m->sd : (char *)&m->sf;
    for (int q = 0; q < 3; q++) {
        switch (r[q]->mode) {
        case REF_ARRAY:
            r[q]->base = r[q]->ptr;
            r[q]->step = es;
            r[q]->stride = 1;
            break;
        case REF_SCRATCH:
            r[q]->base = f->scratch + r[q]->slot * TILE * sizeof(double);
            r[q]->step = 0;
            r[q]->stride = r[q]->uniform ? 0 : 1;
            break;
        default: /* a scalar, or none */
            r[q]->base = r[q]->ptr;
            r[q]->step = 0;
            r[q]->stride = 0;
        }
    }
}

void tg__fused_free(tg__fused *f)
{
    if (!f)
        return;
    tg__dealloc(f->items, f->nsteps * sizeof *f->items);
    tg__dealloc(f->groups, f->nsteps * sizeof *f->groups);
    tg__dealloc(f->members, f->nsteps * sizeof *f->members);
    tg__dealloc(f->scratch, f->nslots * TILE * sizeof(double));
    tg__dealloc(f, sizeof *f);
}

tg__fused *tg__fuse(const char *fn, tg__step *steps, size_t n,
                    const tg__storage *const *keep, size_t nkeep)
{
    tg__fused *f = tg__alloc(sizeof *f);
    size_t *hoisted = tg__alloc(n * sizeof *hoisted);
    builder B = {0, TG_FLOAT64, tg__alloc(3 * n * sizeof *B.uses), 0};
    if (f) {
        memset(f, 0, sizeof *f);
        f->nsteps = n;
        f->items = tg__alloc(n * sizeof *f->items);
        f->groups = tg__alloc(n * sizeof *f->groups);
        f->members = tg__alloc(n * sizeof *f->members);
    }
    bool ok = f && hoisted && B.uses && f->items && f->groups && f->members;
    for (size_t i = 0; ok && i < n;) {
        size_t j = i, nh = 0, first = f->nmembers, count = 0;
        B.nuses = 0;
        if (seed(&steps[i], &B.n, &B.dt)) {
            for (; j < n; j++) {
                if (try_member(&B, &steps[j], &f->members[first + count]))
                    count++;
                else if (count && hoistable(&B, &steps[j]))
                    hoisted[nh++] = j;
                else
                    break;
            }
        }
        if (count < 2) { /* nothing to gain: the step alone */
            f->items[f->nitems++] = (item){&steps[i], 0};
            i++;
            continue;
        }
        for (size_t k = 0; k < nh; k++)
            f->items[f->nitems++] = (item){&steps[hoisted[k]], 0};
        f->groups[f->ngroups] = (group){B.n, B.dt, first, count};
        f->items[f->nitems++] = (item){NULL, f->ngroups++};
        f->nmembers += count;
        i = j;
    }
    tg__dealloc(hoisted, n * sizeof *hoisted);
    tg__dealloc(B.uses, 3 * n * sizeof *B.uses);
    if (ok) {
        for (size_t g = 0; g < f->ngroups; g++) {
            assign_scratch(f, steps, n, &f->groups[g], keep, nkeep);
            absorb_products(f, &f->groups[g]);
        }
        if (f->nslots && !(f->scratch = tg__alloc(f->nslots * TILE * sizeof(double))))
            ok = false;
    }
    for (size_t k = 0; ok && k < f->nmembers; k++)
        resolve(f, &f->members[k]);
    if (!ok) {
        if (f)
            f->nslots = 0; /* no scratch was made */
        tg__fused_free(f);
        tg__oom(fn);
        return NULL;
    }
    return f;
}

/* ---- running ------------------------------------------------------------------ */

static inline char *at(const ref *r, int64_t i0) { return r->base + (size_t)i0 * r->step; }

/* A tile's sum in eight running sums, which vectorise (the tile is short:
 * the pairwise sum's blocking would cost more than it saves); float adds
 * up in double. The products x[i] y[i] (y at stride 0: one scalar) are
 * each rounded to the dtype first, as the product kernel rounds them. */
#define SUM_LOOP(T, TERM)                                                      \
    double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};                  \
    int64_t i = 0;                                                             \
    for (; i + 8 <= n; i += 8)                                                 \
        for (int j = 0; j < 8; j++) {                                          \
            int64_t q = i + j;                                                 \
            acc[j] += (double)(TERM);                                          \
        }                                                                      \
    for (; i < n; i++) {                                                       \
        int64_t q = i;                                                         \
        acc[0] += (double)(TERM);                                              \
    }                                                                          \
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +                           \
           ((acc[4] + acc[5]) + (acc[6] + acc[7]))

TG_CLONES static double sum_f64(const double *x, int64_t n) { SUM_LOOP(double, x[q]); }
TG_CLONES static double sum_f32(const float *x, int64_t n) { SUM_LOOP(float, x[q]); }
TG_CLONES static double dot_f64(const double *x, const double *y, int64_t n)
{
    SUM_LOOP(double, x[q] * y[q]);
}
TG_CLONES static double dot_f32(const float *x, const float *y, int64_t n)
{
    SUM_LOOP(float, (float)(x[q] * y[q]));
}
TG_CLONES static double scaled_f64(const double *x, double c, int64_t n)
{
    SUM_LOOP(double, x[q] * c);
}
TG_CLONES static double scaled_f32(const float *x, float c, int64_t n)
{
    SUM_LOOP(float, (float)(x[q] * c));
}

/* A tile of member m's sum (TG__STEP_SUM or M_DOT). */
static double tile_sum(const member *m, tg_dtype dt, const char *pa, const char *pb,
                       int64_t n)
{
    const void *a = pa, *b = pb;
    if (m->kind == TG__STEP_SUM && m->a.stride == 0) /* a value made once */
        return dt == TG_FLOAT64 ? (double)n * *(const double *)a
                                : (double)n * (double)*(const float *)a;
    if (m->kind == TG__STEP_SUM)
        return dt == TG_FLOAT64 ? sum_f64(a, n) : sum_f32(a, n);
    if (m->a.stride == 0 && m->b.stride == 0) /* both scalars: n equal products */
        return dt == TG_FLOAT64 ? (double)n * (*(const double *)a * *(const double *)b)
                                : (double)n * (double)(*(const float *)a * *(const float *)b);
    if (m->a.stride == 0 || m->b.stride == 0) { /* one scalar */
        const void *x = m->a.stride ? a : b, *c = m->a.stride ? b : a;
        return dt == TG_FLOAT64 ? scaled_f64(x, *(const double *)c, n)
                                : scaled_f32(x, *(const float *)c, n);
    }
    return dt == TG_FLOAT64 ? dot_f64(a, b, n) : dot_f32(a, b, n);
}

static void run_group(const tg__fused *f, const group *g)
{
    member *ms = f->members + g->first;
    for (size_t k = 0; k < g->count; k++)
        ms[k].acc = 0.0;
    for (int64_t i0 = 0; i0 < g->n; i0 += TILE) {
        int64_t len = g->n - i0 < TILE ? g->n - i0 : TILE;
        for (size_t k = 0; k < g->count; k++) {
            member *m = &ms[k];
            const char *pa = at(&m->a, i0);
            int64_t n = len;
            if (m->uniform) { /* one value, made on the first tile */
                if (i0)
                    continue;
                n = 1;
            }
            switch (m->kind) {
            case TG__STEP_BINARY:
                tg__span_binary(m->op, m->s, g->dt, n, pa, m->a.stride,
                                at(&m->b, i0), m->b.stride, at(&m->out, i0));
                break;
            case TG__STEP_SCALAR: {
                const void *sc = g->dt == TG_FLOAT64 ? (const void *)&m->sd
                                                     : (const void *)&m->sf;
                if (m->scalar_first)
                    tg__span_binary(m->op, 0.0, g->dt, n, sc, 0, pa, m->a.stride,
                                    at(&m->out, i0));
                else
                    tg__span_binary(m->op, 0.0, g->dt, n, pa, m->a.stride, sc, 0,
                                    at(&m->out, i0));
                break;
            }
            case TG__STEP_UNARY:
                tg__span_unary(m->op, g->dt, n, pa, m->a.stride, at(&m->out, i0));
                break;
            case TG__STEP_SUM:
            case M_DOT:
                m->acc += tile_sum(m, g->dt, pa, at(&m->b, i0), len);
                break;
            default: /* M_NONE: its work moved into a sum */
                break;
            }
        }
    }
    for (size_t k = 0; k < g->count; k++) {
        member *m = &ms[k];
        if (m->kind == TG__STEP_SUM || m->kind == M_DOT) {
            if (g->dt == TG_FLOAT64)
                *(double *)(void *)m->out.ptr = m->acc;
            else
                *(float *)(void *)m->out.ptr = (float)m->acc;
        }
        if (m->out.mode != REF_SCRATCH && m->kind != M_NONE)
            m->step->out.storage->version++;
    }
}

int tg__fused_run(tg__fused *f)
{
    for (size_t k = 0; k < f->nitems; k++) {
        item *it = &f->items[k];
        if (!it->step) {
            run_group(f, &f->groups[it->group]);
            continue;
        }
        int rc = it->step->run(it->step);
        if (rc)
            return rc;
        if (it->step->out.storage)
            it->step->out.storage->version++;
    }
    return TG_OK;
}

void tg__fused_get_stats(const tg__fused *f, tg__fused_stats *st)
{
    st->groups = f->ngroups;
    st->members = f->nmembers;
    st->scratch_bytes = f->nslots * TILE * sizeof(double);
    st->bytes = sizeof *f + f->nsteps * (sizeof *f->items + sizeof *f->groups +
                                         sizeof *f->members) + st->scratch_bytes;
}
