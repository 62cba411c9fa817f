/* common.h - what the libFuzzer targets in fuzz/ share: a checking
 * allocator (counts calls, fails the k-th on request, and traps when the
 * library frees a block with a size other than the one it allocated), a
 * byte reader, scratch files, and the invariants every error must meet. */
#ifndef TG_FUZZ_COMMON_H
#define TG_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tapegrad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints why and stops: libFuzzer reports the trap with the input. */
#define FZ_FAIL(...)                                                          \
    do {                                                                      \
        fprintf(stderr, "fuzz invariant broken at %s:%d: ", __FILE__,         \
                __LINE__);                                                    \
        fprintf(stderr, __VA_ARGS__);                                         \
        fprintf(stderr, "\n  last error %d: %s\n", tg_last_error(),           \
                tg_last_message());                                           \
        __builtin_trap();                                                     \
    } while (0)

#define FZ_CHECK(cond, ...)                                                   \
    do {                                                                      \
        if (!(cond))                                                          \
            FZ_FAIL(__VA_ARGS__);                                             \
    } while (0)

/* ---- the checking allocator ------------------------------------------- */

/* Each block carries its size in a 16-byte header (keeping the 16-byte
 * alignment malloc gives), so a free with the wrong size is caught. */
typedef struct fz_header {
    size_t size;
    size_t pad;
} fz_header;

static long fz_calls;   /* allocation calls (incl. reallocs) this run */
static long fz_fail_at; /* fail this call (1-based); 0 never */
static int fz_failed;   /* an allocation was refused this run */
static long fz_live;    /* blocks currently allocated */

static inline void *fz_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    fz_header *h = ptr ? (fz_header *)ptr - 1 : NULL;
    if (h && h->size != osize)
        FZ_FAIL("block of %zu bytes released or resized as %zu bytes", h->size,
                osize);
    if (nsize == 0) {
        if (h) {
            fz_live--;
            free(h);
        }
        return NULL;
    }
    fz_calls++;
    if (fz_fail_at > 0 && fz_calls == fz_fail_at) {
        fz_failed = 1;
        return NULL;
    }
    fz_header *n = realloc(h, sizeof *n + nsize);
    if (!n)
        return NULL;
    if (!h)
        fz_live++;
    n->size = nsize;
    return n + 1;
}

/* Starts a run: installs the allocator, clears counters and the error. */
static inline void fz_begin(long fail_at)
{
    fz_calls = 0;
    fz_fail_at = fail_at;
    fz_failed = 0;
    fz_live = 0;
    tg_set_allocator(fz_alloc, NULL);
    tg_clear_error();
}

/* Ends a run: every block the library took must be back. */
static inline void fz_end(void)
{
    FZ_CHECK(fz_live == 0, "%ld blocks still allocated at the end of the run",
             fz_live);
    tg_set_allocator(NULL, NULL);
}

/* ---- errors --------------------------------------------------------------- */

/* A failure must set a real code and a message naming a tapegrad function;
 * out of memory only when an allocation was really refused. */
static inline void fz_check_error(const char *what)
{
    int code = tg_last_error();
    const char *msg = tg_last_message();
    FZ_CHECK(code > TG_OK && code < TG_ERR_COUNT_, "%s failed with code %d",
             what, code);
    FZ_CHECK(strncmp(msg, "tg_", 3) == 0,
             "%s failed with a message not naming a function: \"%s\"", what, msg);
    FZ_CHECK(strstr(msg, ": ") != NULL, "%s: message \"%s\" has no ': '", what,
             msg);
    FZ_CHECK(code != TG_ERR_NOMEM || fz_failed,
             "%s reported out of memory with no allocation refused", what);
}

/* ---- input bytes ------------------------------------------------------------ */

typedef struct fz_reader {
    const uint8_t *p;
    size_t n;
} fz_reader;

/* The next byte; 0 once the input is used up. */
static inline uint8_t fz_byte(fz_reader *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

/* ---- scratch files ------------------------------------------------------------ */

/* The scratch paths handed out so far, removed when the process exits. */
static char fz_paths[8][128];
static int fz_npaths;

static void fz_remove_paths(void)
{
    for (int i = 0; i < fz_npaths; i++)
        unlink(fz_paths[i]);
}

/* A per-process path in a RAM-backed directory when there is one; the same
 * tag gives the same path. */
static inline const char *fz_path(const char *tag)
{
    char p[128];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(p, sizeof p, "%s/tapegrad-fuzz-%ld-%s", dir, (long)getpid(), tag);
    for (int i = 0; i < fz_npaths; i++)
        if (strcmp(fz_paths[i], p) == 0)
            return fz_paths[i];
    FZ_CHECK(fz_npaths < 8, "too many scratch paths");
    if (fz_npaths == 0)
        atexit(fz_remove_paths);
    memcpy(fz_paths[fz_npaths], p, sizeof p);
    return fz_paths[fz_npaths++];
}

static inline void fz_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    FZ_CHECK(f != NULL, "cannot create %s", path);
    FZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size, "cannot write %s",
             path);
    FZ_CHECK(fclose(f) == 0, "cannot close %s", path);
}

#endif
