/* scope.c - tg_scope: a growing list of (object, release) pairs and the
 * first failure's message, copied when it happens (later calls overwrite
 * the thread's last message). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "scope.h"

#define PROGRAM_MAX 64
#define MESSAGE_MAX 512

typedef struct owned {
    void *obj;
    void (*release)(void *);
} owned;

struct tg_scope {
    char program[PROGRAM_MAX];
    bool failed;
    char message[MESSAGE_MAX];
    int count, capacity;
    owned *items;
};

tg_scope *tg_scope_new(const char *program)
{
    tg_scope *S = tg__alloc(sizeof *S);
    if (!S) {
        tg__oom("tg_scope_new");
        return NULL;
    }
    memset(S, 0, sizeof *S);
    snprintf(S->program, sizeof S->program, "%s", program ? program : "tapegrad");
    return S;
}

/* Fails S (if not already), keeping the thread's last message. */
static void fail(tg_scope *S)
{
    if (!S || S->failed)
        return;
    S->failed = true;
    const char *msg = tg_last_message();
    if (!*msg)
        msg = tg_strerror(tg_last_error() ? tg_last_error() : TG_ERR_VALUE);
    snprintf(S->message, sizeof S->message, "%s", msg);
}

void *tg_keep_object(tg_scope *S, void *obj, void (*release)(void *))
{
    if (!obj) {
        fail(S);
        return NULL;
    }
    if (!S || !release) {
        if (release)
            release(obj);
        if (S)
            tg__fail(TG_ERR_NULL, "tg_keep", "release function is NULL");
        fail(S);
        return NULL;
    }
    if (S->count == S->capacity) {
        int cap = S->capacity ? 2 * S->capacity : 16;
        owned *items = tg__alloc((size_t)cap * sizeof *items);
        if (!items) {
            release(obj);
            tg__oom("tg_keep");
            fail(S);
            return NULL;
        }
        if (S->count)
            memcpy(items, S->items, (size_t)S->count * sizeof *items);
        tg__dealloc(S->items, (size_t)S->capacity * sizeof *items);
        S->items = items;
        S->capacity = cap;
    }
    S->items[S->count++] = (owned){obj, release};
    return obj;
}

static void release_tensor(void *p) { tg_free(p); }
static void release_tape(void *p) { tg_tape_free(p); }
static void release_module(void *p) { tg_module_free(p); }
static void release_optim(void *p) { tg_optim_free(p); }
static void release_batches(void *p) { tg_batches_free(p); }

tg_tensor *tg_keep_tensor(tg_scope *S, tg_tensor *t)
{
    return tg_keep_object(S, t, release_tensor);
}

tg_tape *tg_keep_tape(tg_scope *S, tg_tape *T) { return tg_keep_object(S, T, release_tape); }

tg_module *tg_keep_module(tg_scope *S, tg_module *m)
{
    return tg_keep_object(S, m, release_module);
}

tg_optim *tg_keep_optim(tg_scope *S, tg_optim *o)
{
    return tg_keep_object(S, o, release_optim);
}

tg_batches *tg_keep_batches(tg_scope *S, tg_batches *B)
{
    return tg_keep_object(S, B, release_batches);
}

bool tg_check(tg_scope *S, int rc)
{
    if (rc)
        fail(S);
    return S && !S->failed;
}

bool tg_failed(const tg_scope *S) { return !S || S->failed; }

const char *tg_scope_message(const tg_scope *S)
{
    return S ? S->message : "tg_scope_new: out of memory";
}

int tg_scope_end(tg_scope *S)
{
    if (fflush(stdout) != 0 && S && !S->failed) {
        tg__fail(TG_ERR_IO, "tg_scope_end", "cannot write the standard output");
        fail(S);
    }
    if (!S) {
        fprintf(stderr, "%s\n", tg_scope_message(NULL));
        return 1;
    }
    if (S->failed)
        fprintf(stderr, "%s: %s\n", S->program, S->message);
    int status = S->failed ? 1 : 0;
    for (int i = S->count - 1; i >= 0; i--)
        S->items[i].release(S->items[i].obj);
    tg__dealloc(S->items, (size_t)S->capacity * sizeof *S->items);
    tg__dealloc(S, sizeof *S);
    return status;
}
