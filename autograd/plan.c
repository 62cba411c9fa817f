/* plan.c - capture and replay (plan.h). The capture is tensor/trace.c's
 * kernel trace over one step; the plan is that trace's steps, checked, and
 * a snapshot of every caller-owned tensor they use, which each replay
 * compares before running anything. */
#include <string.h>

#include "internal.h"
#include "plan.h"

#define PLAN_LIVE 0x706c616eu /* "plan" */

/* What a caller-owned tensor was when the step was captured. */
typedef struct snapshot {
    const tg_tensor *t;
    tg_dtype dtype;
    int ndim;
    int64_t shape[TG_MAX_DIMS], strides[TG_MAX_DIMS], offset;
    const tg__storage *storage;
    const void *data;
    const tg_tensor *grad;
} snapshot;

struct tg_plan {
    uint32_t magic;
    tg_tape *T;
    uint64_t tape_id; /* the tape's generation when captured */
    tg__step *steps;
    size_t n;
    snapshot *inputs;
    size_t ninputs;
    size_t tape_bytes;
    tg__fused *fused; /* tg_plan_fuse's program, or NULL */
};

bool tg_tape_is_capturing(const tg_tape *T)
{
    return T && T->magic == TGA_LIVE && T->capture;
}

int tg_capture_begin(tg_tape *T)
{
    const char *fn = "tg_capture_begin";
    if (!T)
        return tg__fail(TG_ERR_NULL, fn, "tape is NULL");
    if (tga__check_tape(T, fn))
        return TG_ERR_TAPE;
    if (T->capture)
        return tg__fail(TG_ERR_TAPE, fn, "the tape is already capturing a step");
    if (tg__tracing)
        return tg__fail(TG_ERR_TAPE, fn, "another tape is capturing on this thread");
    tg__trace *tr = tg__alloc(sizeof *tr);
    if (!tr)
        return tg__oom(fn);
    memset(tr, 0, sizeof *tr);
    int rc = tg_tape_reset(T);
    if (rc) {
        tg__dealloc(tr, sizeof *tr);
        return rc;
    }
    T->capture = tr;
    tg__trace_start(tr);
    return TG_OK;
}

void tga__capture_abandon(tg_tape *T)
{
    if (!T->capture)
        return;
    if (tg__tracing == T->capture)
        tg__trace_stop();
    tg__trace_release(T->capture);
    tg__dealloc(T->capture, sizeof *T->capture);
    T->capture = NULL;
}

static void snap(snapshot *s, const tg_tensor *t)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->dtype = t->dtype;
    s->ndim = t->ndim;
    memcpy(s->shape, t->shape, (size_t)t->ndim * sizeof *s->shape);
    memcpy(s->strides, t->strides, (size_t)t->ndim * sizeof *s->strides);
    s->offset = t->offset;
    s->storage = t->storage;
    s->data = t->storage->data;
    s->grad = t->grad;
}

tg_plan *tg_capture_end(tg_tape *T)
{
    const char *fn = "tg_capture_end";
    if (!T) {
        tg__fail(TG_ERR_NULL, fn, "tape is NULL");
        return NULL;
    }
    if (tga__check_tape(T, fn))
        return NULL;
    if (!T->capture) {
        tg__fail(TG_ERR_TAPE, fn, "the tape is not capturing (call tg_capture_begin)");
        return NULL;
    }
    tg__trace *tr = T->capture;
    tg__trace_stop();
    int rc = tg__trace_check(tr, fn);
    if (rc == TG_OK && tr->n == 0)
        rc = tg__fail(TG_ERR_VALUE, fn, "the step ran no kernel: nothing to replay");
    tg_plan *P = NULL;
    if (rc == TG_OK) {
        P = tg__alloc(sizeof *P);
        tg__step *steps = tg__alloc(tr->n * sizeof *steps);
        snapshot *in = tr->ninputs ? tg__alloc(tr->ninputs * sizeof *in) : NULL;
        if (!P || !steps || (tr->ninputs && !in)) {
            tg__dealloc(P, sizeof *P);
            tg__dealloc(steps, tr->n * sizeof *steps);
            tg__dealloc(in, tr->ninputs * sizeof *in);
            P = NULL;
            tg__oom(fn);
        } else {
            memcpy(steps, tr->steps, tr->n * sizeof *steps);
            for (size_t k = 0; k < tr->ninputs; k++)
                snap(&in[k], tr->inputs[k]);
            *P = (tg_plan){PLAN_LIVE, T, T->id, steps, tr->n, in, tr->ninputs,
                           T->arena.total, NULL};
        }
    }
    tga__capture_abandon(T);
    return P;
}

/* The message for an input that no longer matches its snapshot. */
static int changed(size_t k, const snapshot *s, const char *what)
{
    const char *name = s->t->name[0] ? s->t->name : "unnamed";
    return tg__fail(TG_ERR_VALUE, "tg_plan_replay",
                    "input %zu (%s) changed its %s since the capture; a plan "
                    "replays fixed shapes and buffers: write new values into "
                    "the captured tensors, or capture again", k, name, what);
}

static inline int check_input(size_t k, const snapshot *s)
{
    const tg_tensor *t = s->t;
    if (t->dtype != s->dtype)
        return changed(k, s, "dtype");
    if (t->ndim != s->ndim)
        return changed(k, s, "shape");
    for (int d = 0; d < s->ndim; d++) /* a loop: most inputs have 1 or 2 axes */
        if (t->shape[d] != s->shape[d])
            return changed(k, s, "shape");
    for (int d = 0; d < s->ndim; d++)
        if (t->strides[d] != s->strides[d])
            return changed(k, s, "strides");
    if (t->offset != s->offset)
        return changed(k, s, "strides");
    if (t->storage != s->storage || t->storage->data != s->data)
        return changed(k, s, "storage");
    if (t->grad != s->grad)
        return changed(k, s, ".grad");
    return TG_OK;
}

static int live_plan(const char *fn, const tg_plan *P)
{
    if (!P)
        return tg__fail(TG_ERR_NULL, fn, "plan is NULL");
    if (P->magic != PLAN_LIVE)
        return tg__fail(TG_ERR_VALUE, fn, "not a live plan (freed, or not a plan)");
    return TG_OK;
}

int tg_plan_replay(tg_plan *P)
{
    const char *fn = "tg_plan_replay";
    int rc = live_plan(fn, P);
    if (rc)
        return rc;
    if (tga__check_tape(P->T, fn))
        return TG_ERR_TAPE;
    if (P->T->id != P->tape_id)
        return tg__fail(TG_ERR_TAPE, fn,
                        "the tape was reset after the capture, so the plan's "
                        "buffers are gone; capture the step again");
    if (P->T->capture)
        return tg__fail(TG_ERR_TAPE, fn, "the tape is capturing a step");
    for (size_t k = 0; k < P->ninputs; k++) {
        rc = check_input(k, &P->inputs[k]);
        if (rc)
            return rc;
    }
    if (P->fused)
        return tg__fused_run(P->fused);
    for (size_t k = 0; k < P->n; k++) {
        tg__step *e = &P->steps[k];
        rc = e->run(e);
        if (rc)
            return rc; /* the kernel's own message (an allocation failed) */
        if (e->out.storage)
            e->out.storage->version++; /* as the eager in-place write did */
    }
    return TG_OK;
}

int tg_plan_fuse(tg_plan *P, int nkeep, const tg_tensor *const *keep)
{
    const char *fn = "tg_plan_fuse";
    int rc = live_plan(fn, P);
    if (rc)
        return rc;
    if (nkeep < 0 || (nkeep > 0 && !keep))
        return tg__fail(nkeep < 0 ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                        nkeep < 0 ? "nkeep is negative" : "keep is NULL");
    const tg__storage **ks = nkeep ? tg__alloc((size_t)nkeep * sizeof *ks) : NULL;
    if (nkeep && !ks)
        return tg__oom(fn);
    for (int k = 0; k < nkeep && rc == TG_OK; k++) {
        if (!keep[k])
            rc = tg__fail(TG_ERR_NULL, fn, "keep[%d] is NULL", k);
        else
            ks[k] = keep[k]->storage;
    }
    tg__fused *f = rc ? NULL : tg__fuse(fn, P->steps, P->n, ks, (size_t)nkeep);
    tg__dealloc(ks, (size_t)nkeep * sizeof *ks);
    if (!f)
        return rc ? rc : TG_ERR_NOMEM;
    tg__fused_free(P->fused);
    P->fused = f;
    return TG_OK;
}

int tg_plan_unfuse(tg_plan *P)
{
    int rc = live_plan("tg_plan_unfuse", P);
    if (rc)
        return rc;
    tg__fused_free(P->fused);
    P->fused = NULL;
    return TG_OK;
}

int tg_plan_get_stats(const tg_plan *P, tg_plan_stats *stats)
{
    const char *fn = "tg_plan_get_stats";
    int rc = live_plan(fn, P);
    if (rc)
        return rc;
    if (!stats)
        return tg__fail(TG_ERR_NULL, fn, "stats is NULL");
    stats->kernels = P->n;
    stats->inputs = P->ninputs;
    stats->plan_bytes = sizeof *P + P->n * sizeof *P->steps +
                        P->ninputs * sizeof *P->inputs;
    stats->tape_bytes = P->tape_bytes;
    tg__fused_stats fs = {0, 0, 0, 0};
    if (P->fused)
        tg__fused_get_stats(P->fused, &fs);
    stats->fused_groups = fs.groups;
    stats->fused_kernels = fs.members;
    stats->scratch_bytes = fs.scratch_bytes;
    stats->plan_bytes += fs.bytes;
    return TG_OK;
}

void tg_plan_free(tg_plan *P)
{
    if (!P || P->magic != PLAN_LIVE)
        return;
    P->magic = 0;
    tg__fused_free(P->fused);
    tg__dealloc(P->steps, P->n * sizeof *P->steps);
    tg__dealloc(P->inputs, P->ninputs * sizeof *P->inputs);
    tg__dealloc(P, sizeof *P);
}
