/* alloc.c - the pluggable allocator every tapegrad allocation goes through
 * (Lua's lua_Alloc shape), so tests can count blocks and inject failures. */
#include <stdlib.h>

#include "internal.h"

static void *default_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static tg_alloc_fn alloc_fn = default_alloc;
static void *alloc_ud;

void tg_set_allocator(tg_alloc_fn fn, void *ud)
{
    alloc_fn = fn ? fn : default_alloc;
    alloc_ud = fn ? ud : NULL;
}

void tg_get_allocator(tg_alloc_fn *fn, void **ud)
{
    if (fn)
        *fn = alloc_fn;
    if (ud)
        *ud = alloc_ud;
}

void *tg__alloc(size_t n) { return n ? alloc_fn(alloc_ud, NULL, 0, n) : NULL; }

void tg__dealloc(void *p, size_t n)
{
    if (p)
        alloc_fn(alloc_ud, p, n, 0);
}

void *tg__realloc(void *p, size_t osize, size_t nsize)
{
    if (nsize == 0) {
        tg__dealloc(p, osize);
        return NULL;
    }
    return alloc_fn(alloc_ud, p, osize, nsize);
}
