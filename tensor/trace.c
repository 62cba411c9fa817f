/* trace.c - the kernel trace behind tg_capture (autograd/plan.c): while a
 * step is captured, each traced entry point appends the function that runs
 * its kernel and a copy of its arguments. The trace also notes what the
 * plan must be able to trust: every tensor made during the step, every
 * in-place write, and every caller-owned tensor the step uses. A step
 * whose work the trace cannot see completely is refused when the capture
 * ends (tg__trace_check), never replayed on a guess. */
#include <string.h>

#include "internal.h"

_Thread_local tg__trace *tg__tracing TG__TLS_MODEL;

/* Grows a list of elements of size sz to hold one more; false when out of
 * memory (the trace is then marked and the list left as it was). */
static bool grow(tg__trace *tr, void **list, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? 2 * *cap : 16;
    void *p = tg__realloc(*list, *cap * sz, ncap * sz);
    if (!p) {
        tr->nomem = true;
        return false;
    }
    *list = p;
    *cap = ncap;
    return true;
}

tg__trace *tg__trace_enter(tg__step *e)
{
    tg__trace *tr = tg__tracing;
    tg__tracing = NULL;
    if (grow(tr, (void **)&tr->steps, &tr->cap, tr->n, sizeof *tr->steps))
        tr->steps[tr->n++] = *e;
    return tr;
}

void tg__trace_refuse(const char *fn, const char *why)
{
    tg__trace *tr = tg__tracing;
    if (!tr || tr->refused)
        return;
    tr->refused = fn;
    snprintf(tr->why, sizeof tr->why, "%s", why);
}

static void mark(tg__trace *tr, tg__trace_mark **list, size_t *n, size_t *cap,
                 const tg__storage *s, const char *fn)
{
    if (grow(tr, (void **)list, cap, *n, sizeof **list))
        (*list)[(*n)++] = (tg__trace_mark){s, tr->n, fn};
}

void tg__trace_made(const char *fn, const tg_tensor *t, bool arena)
{
    tg__trace *tr = tg__tracing;
    if (!arena) {
        tg__trace_refuse(fn, "the step made a caller-owned (heap) "
                         "tensor, which a replay would not make again; make it "
                         "before the capture, or use the tape's ops");
        return;
    }
    mark(tr, &tr->made, &tr->nmade, &tr->capmade, t->storage, fn);
}

void tg__trace_touch(const tg_tensor *t)
{
    tg__trace *tr = tg__tracing;
    mark(tr, &tr->touched, &tr->ntouched, &tr->captouched, t->storage, NULL);
}

void tg__trace_input(const tg_tensor *t)
{
    tg__trace *tr = tg__tracing;
    if (!tr || (t->flags & TG__ARENA))
        return;
    for (size_t k = 0; k < tr->ninputs; k++)
        if (tr->inputs[k] == t)
            return;
    if (grow(tr, (void **)&tr->inputs, &tr->capinputs, tr->ninputs, sizeof *tr->inputs))
        tr->inputs[tr->ninputs++] = t;
}

void tg__trace_start(tg__trace *tr) { tg__tracing = tr; }
void tg__trace_stop(void) { tg__tracing = NULL; }

/* Whether a step in [lo, hi) writes storage s. */
static bool written(const tg__trace *tr, const tg__storage *s, size_t lo, size_t hi)
{
    if (hi > tr->n)
        hi = tr->n;
    for (size_t j = lo; j < hi; j++)
        if (tr->steps[j].out.storage == s ||
            (tr->steps[j].c_written && tr->steps[j].c.storage == s))
            return true;
    return false;
}

/* How far from an in-place write the step that repeats it may be: the
 * entry points note the write just before or after their kernel. */
#define NEAR 4u

int tg__trace_check(const tg__trace *tr, const char *fn)
{
    if (tr->nomem)
        return tg__oom(fn);
    if (tr->refused)
        return tg__fail(TG_ERR_VALUE, fn, "the step cannot be captured: %s: %s",
                        tr->refused, tr->why);
    for (size_t k = 0; k < tr->nmade; k++)
        if (!written(tr, tr->made[k].storage, tr->made[k].at, tr->n))
            return tg__fail(TG_ERR_VALUE, fn,
                            "the step cannot be captured: %s's result (tensor %zu "
                            "of the step) is computed by a kernel that capture does "
                            "not cover (docs/performance.md lists the ops that "
                            "replay)", tr->made[k].fn, k);
    for (size_t k = 0; k < tr->ntouched; k++) {
        size_t at = tr->touched[k].at;
        if (!written(tr, tr->touched[k].storage, at > NEAR ? at - NEAR : 0, at + NEAR))
            return tg__fail(TG_ERR_VALUE, fn,
                            "the step cannot be captured: an in-place write (%zu of "
                            "the step's) is made by a function that capture does not "
                            "cover (docs/performance.md lists them)", k);
    }
    return TG_OK;
}

void tg__trace_release(tg__trace *tr)
{
    tg__dealloc(tr->steps, tr->cap * sizeof *tr->steps);
    tg__dealloc(tr->made, tr->capmade * sizeof *tr->made);
    tg__dealloc(tr->touched, tr->captouched * sizeof *tr->touched);
    tg__dealloc(tr->inputs, tr->capinputs * sizeof *tr->inputs);
    memset(tr, 0, sizeof *tr);
}
