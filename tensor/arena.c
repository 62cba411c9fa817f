/* arena.c - bump allocation in growable chunks. The tape keeps every
 * intermediate of a forward and backward pass here. Reset forgets them all
 * at once but keeps the chunks, and the next pass bumps through the same
 * chunks in the same order, so a training loop that repeats the same work
 * makes no allocator call after its first step. */
#include <string.h>

#include "internal.h"

#define ALIGN TG__ARENA_ALIGN
#define MIN_CHUNK ((size_t)64 * 1024)

struct tg__chunk {
    tg__chunk *next; /* the next newer chunk */
    size_t size;     /* usable bytes after the header */
    size_t block_size;
};

static size_t align_up(size_t n) { return (n + (ALIGN - 1)) & ~(size_t)(ALIGN - 1); }

void tg__arena_init(tg__arena *a) { memset(a, 0, sizeof *a); }

static char *chunk_base(tg__chunk *c)
{
    uintptr_t p = (uintptr_t)(c + 1);
    p = (p + (ALIGN - 1)) & ~(uintptr_t)(ALIGN - 1);
    return (char *)p;
}

static tg__chunk *chunk_new(size_t size)
{
    size_t block_size = sizeof(tg__chunk) + ALIGN + size;
    if (block_size < size)
        return NULL;
    tg__chunk *c = tg__alloc(block_size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->block_size = block_size;
    return c;
}

static char *chunk_end(tg__chunk *c) { return chunk_base(c) + c->size; }

/* What the inline bump may use: the chunk's free bytes, but never past the
 * limit, so that crossing it takes the slow path. */
static size_t usable(const tg__arena *a, size_t chunk_left)
{
    if (!a->limit)
        return chunk_left;
    size_t room = a->total < a->limit ? a->limit - a->total : 0;
    return chunk_left < room ? chunk_left : room;
}

void *tg__arena_alloc_slow(tg__arena *a, size_t n)
{
    a->over_limit = false;
    if (a->limit && (a->total > a->limit || n > a->limit - a->total)) {
        a->over_limit = true;
        return NULL;
    }
    char *p;
    tg__chunk *c = a->cur;
    if (c && a->ptr && (size_t)(chunk_end(c) - a->ptr) >= n) {
        p = a->ptr; /* it fits: only the limit had sent it here */
    } else {
        /* The next kept chunk that fits, else a new one at the end. */
        tg__chunk *last = c, *next = c ? c->next : a->chunks;
        while (next && next->size < n) {
            last = next;
            next = next->next;
        }
        if (!next) {
            while (last && last->next)
                last = last->next;
            size_t want = last ? last->size * 2 : MIN_CHUNK;
            if (want < n)
                want = n;
            next = chunk_new(want);
            if (!next)
                return NULL;
            if (last)
                last->next = next;
            else
                a->chunks = next;
        }
        a->cur = c = next;
        p = chunk_base(next);
    }
    a->ptr = p + n;
    a->total += n;
    a->left = usable(a, (size_t)(chunk_end(c) - a->ptr));
    a->high_water = tg__arena_high_water(a);
    return p;
}

int tg__arena_reset(tg__arena *a)
{
    a->high_water = tg__arena_high_water(a);
    a->cur = a->chunks;
    a->ptr = a->cur ? chunk_base(a->cur) : NULL;
    a->total = 0;
    a->left = usable(a, a->cur ? a->cur->size : 0);
    return TG_OK;
}

void tg__arena_set_limit(tg__arena *a, size_t limit)
{
    a->limit = limit;
    a->left = usable(a, a->cur && a->ptr ? (size_t)(chunk_end(a->cur) - a->ptr) : 0);
}

size_t tg__arena_reserved(const tg__arena *a)
{
    size_t n = 0;
    for (const tg__chunk *c = a->chunks; c; c = c->next)
        n += c->size;
    return n;
}

int tg__arena_fail(const tg__arena *a, const char *fn)
{
    if (!a->over_limit)
        return tg__oom(fn);
    return tg__fail(TG_ERR_NOMEM, fn,
                    "the tape's memory limit of %zu bytes is reached (%zu in "
                    "use): call tg_tape_reset once per step, or raise the "
                    "limit with tg_tape_set_limit", a->limit, a->total);
}

void tg__arena_free(tg__arena *a)
{
    tg__chunk *c = a->chunks;
    while (c) {
        tg__chunk *next = c->next;
        tg__dealloc(c, c->block_size);
        c = next;
    }
    tg__arena_init(a);
}

tg_tensor *tg__arena_tensor(tg__arena *a, const char *fn, tg_dtype dt, int ndim,
                            const int64_t *shape)
{
    int64_t n;
    if (tg__check_shape(fn, ndim, shape, dt, &n))
        return NULL;
    return tg__arena_tensor_trusted(a, fn, dt, ndim, shape);
}

/* Header, storage and data of a tensor in one bump: the tensor at p. */
#define TENSOR_HDR (align_up(sizeof(tg_tensor)) + align_up(sizeof(tg__storage)))

static inline tg_tensor *place_tensor(char *p, size_t nbytes, tg_dtype dt, int ndim,
                                      const int64_t *shape)
{
    tg_tensor *t = (tg_tensor *)p;
    tg__storage *s = (tg__storage *)(p + align_up(sizeof(tg_tensor)));
    s->data = nbytes ? p + TENSOR_HDR : NULL;
    s->nbytes = nbytes;
    s->refs = 0;
    s->version = 0;
    tg__init_header(t, dt, ndim, shape);
    t->storage = s;
    t->flags = TG__ARENA;
    return t;
}

/* tg__arena_tensor_trusted's rare cases: an empty or huge shape, which gets
 * tg__check_shape's full check (an empty one has zero elements, but its
 * strides must still hold the other sizes; the error says which limit);
 * a chunk that is full; a capture in progress. Out of line, so that the
 * common case makes no call and saves no registers. */
static TG_NOINLINE tg_tensor *arena_tensor_slow(tg__arena *a, const char *fn, tg_dtype dt,
                                                int ndim, const int64_t *shape)
{
    int64_t n;
    if (tg__check_shape(fn, ndim, shape, dt, &n))
        return NULL;
    size_t nbytes = (size_t)n * tg__dsize(dt);
    char *p = tg__arena_alloc(a, TENSOR_HDR + nbytes);
    if (!p) {
        tg__arena_fail(a, fn);
        return NULL;
    }
    tg_tensor *t = place_tensor(p, nbytes, dt, ndim, shape);
    if (tg__tracing)
        tg__trace_made(fn, t, true);
    return t;
}

tg_tensor *tg__arena_tensor_trusted(tg__arena *a, const char *fn, tg_dtype dt,
                                    int ndim, const int64_t *shape)
{
    /* Every size comes from a tensor that exists, but a broadcast or a
     * matrix product of two of them can still need more elements or bytes
     * than fit. The common case costs one checked product. */
    int64_t n = ndim ? shape[0] : 1; /* one size of an existing tensor fits */
    bool over = false;
    for (int k = 1; k < ndim; k++)
        over |= tg__mul_overflows(n, shape[k], &n);
    size_t es = tg__dsize(dt);
    if (over || n == 0 || (uint64_t)n > (uint64_t)SIZE_MAX / 2 / es || tg__tracing)
        return arena_tensor_slow(a, fn, dt, ndim, shape);
    size_t nbytes = (size_t)n * es;
    /* no wrap: nbytes <= SIZE_MAX / 2 */
    char *p = tg__arena_bump(a, align_up(TENSOR_HDR + nbytes));
    if (!p)
        return arena_tensor_slow(a, fn, dt, ndim, shape);
    return place_tensor(p, nbytes, dt, ndim, shape);
}

tg_tensor *tg__arena_view(tg__arena *a, const char *fn, const tg_tensor *view)
{
    tg_tensor *t = tg__arena_alloc(a, sizeof *t);
    if (!t) {
        tg__arena_fail(a, fn);
        return NULL;
    }
    *t = *view;
    t->flags = TG__ARENA;
    t->requires_grad = false;
    t->grad = NULL;
    t->node = NULL;
    t->tape_id = 0;
    t->name[0] = '\0';
    return t;
}
