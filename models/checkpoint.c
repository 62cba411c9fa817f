/* checkpoint.c - a model, its optimiser's state and the step in one
 * safetensors file (format in checkpoint.h). Loading reads every tensor
 * into a temporary and checks it before any destination is written, so a
 * bad file changes nothing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/internal.h"
#include "../tensor/npz.h"
#include "../tensor/safetensors.h"
#include "checkpoint.h"

#define CK_NAME_MAX (TG_PARAM_NAME_MAX + 24)
#define CK_MAX_ENTRIES (3 * TG_MAX_PARAMS + 1)
#define CK_MAX_META 16

/* The tensors of a checkpoint, the places they go and its metadata. */
typedef struct ck_list {
    int n;
    char names[CK_MAX_ENTRIES][CK_NAME_MAX];
    tg_tensor *dst[CK_MAX_ENTRIES]; /* where each goes (NULL: Adam's t) */
    int nmeta;
    char keys[CK_MAX_META][24];
    char values[CK_MAX_META][32];
} ck_list;

static void add(ck_list *l, tg_tensor *dst, const char *a, const char *b)
{
    snprintf(l->names[l->n], CK_NAME_MAX, "%s%s", a, b);
    l->dst[l->n++] = dst;
}

static void meta_d(ck_list *l, const char *key, double v)
{
    snprintf(l->keys[l->nmeta], sizeof l->keys[0], "%s", key);
    snprintf(l->values[l->nmeta++], sizeof l->values[0], "%.17g", v);
}

static void meta_i(ck_list *l, const char *key, int64_t v)
{
    snprintf(l->keys[l->nmeta], sizeof l->keys[0], "%s", key);
    snprintf(l->values[l->nmeta++], sizeof l->values[0], "%" PRId64, v);
}

static void meta_s(ck_list *l, const char *key, const char *v)
{
    snprintf(l->keys[l->nmeta], sizeof l->keys[0], "%s", key);
    snprintf(l->values[l->nmeta++], sizeof l->values[0], "%s", v);
}

/* Checks ck and lists what it holds (optimiser state in the list's order). */
static int describe(const char *fn, const tg_checkpoint *ck, ck_list *l)
{
    if (!ck)
        return tg__fail(TG_ERR_NULL, fn, "checkpoint is NULL");
    const tg_params *p = ck->model;
    if (!p)
        return tg__fail(TG_ERR_NULL, fn, "checkpoint has no model");
    if (p->count < 0 || p->count > TG_MAX_PARAMS)
        return tg__fail(TG_ERR_VALUE, fn, "model list has count %d", p->count);
    if (ck->adam && ck->sgd)
        return tg__fail(TG_ERR_VALUE, fn, "checkpoint has two optimisers (adam and sgd)");
    if ((ck->adam && ck->adam->params != p) || (ck->sgd && ck->sgd->params != p))
        return tg__fail(TG_ERR_VALUE, fn,
                        "the optimiser was initialised on another parameter list");
    l->n = l->nmeta = 0;
    for (int i = 0; i < p->count; i++) {
        if (!memchr(p->names[i], '\0', TG_PARAM_NAME_MAX) || !p->tensors[i])
            return tg__fail(TG_ERR_VALUE, fn, "model entry %d is not valid", i);
        add(l, p->tensors[i], "model.", p->names[i]);
    }
    meta_s(l, "format", "tapegrad-checkpoint");
    meta_s(l, "version", "1");
    meta_i(l, "step", ck->step);
    if (ck->adam) {
        const tg_adam *o = ck->adam;
        for (int i = 0; i < p->count; i++)
            if (o->m[i])
                add(l, o->m[i], "optim.adam.m.", p->names[i]);
        for (int i = 0; i < p->count; i++)
            if (o->v[i])
                add(l, o->v[i], "optim.adam.v.", p->names[i]);
        add(l, NULL, "optim.adam.t", "");
        meta_s(l, "optim", "adam");
        meta_i(l, "optim.steps", o->steps);
        meta_d(l, "optim.lr", o->lr);
        meta_d(l, "optim.beta1", o->beta1);
        meta_d(l, "optim.beta2", o->beta2);
        meta_d(l, "optim.eps", o->eps);
        meta_d(l, "optim.weight_decay", o->weight_decay);
        meta_i(l, "optim.adamw", o->adamw);
    } else if (ck->sgd) {
        const tg_sgd *o = ck->sgd;
        for (int i = 0; i < p->count; i++)
            if (o->buf[i])
                add(l, o->buf[i], "optim.sgd.buf.", p->names[i]);
        meta_s(l, "optim", "sgd");
        meta_i(l, "optim.steps", o->steps);
        meta_d(l, "optim.lr", o->lr);
        meta_d(l, "optim.momentum", o->momentum);
        meta_d(l, "optim.weight_decay", o->weight_decay);
        meta_i(l, "optim.nesterov", o->nesterov);
    } else {
        meta_s(l, "optim", "none");
    }
    return TG_OK;
}

/* Re-reports the last error under fn, keeping its code. */
static int rewrap(const char *fn)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s", tg_last_message());
    return tg__fail(tg_last_error(), fn, "%s", msg);
}

int tg_checkpoint_save(const char *path, const tg_checkpoint *ck)
{
    const char *fn = "tg_checkpoint_save";
    if (!path)
        return tg__fail(TG_ERR_NULL, fn, "path is NULL");
    ck_list *l = tg__alloc(sizeof *l);
    if (!l)
        return tg__oom(fn);
    int rc = describe(fn, ck, l);
    tg_tensor *t = NULL;
    if (!rc && ck->adam) { /* Adam's per-entry update counts, as int64 */
        int64_t cnt = ck->model->count;
        t = tg__new(fn, TG_INT64, 1, &cnt);
        if (!t)
            rc = tg_last_error();
        else
            memcpy(tg_data(t), ck->adam->t, (size_t)cnt * sizeof(int64_t));
    }
    if (!rc) {
        const char *names[CK_MAX_ENTRIES];
        const tg_tensor *ts[CK_MAX_ENTRIES];
        const char *meta[2 * CK_MAX_META + 1];
        for (int i = 0; i < l->n; i++) {
            names[i] = l->names[i];
            ts[i] = l->dst[i] ? l->dst[i] : t;
        }
        for (int j = 0; j < l->nmeta; j++) {
            meta[2 * j] = l->keys[j];
            meta[2 * j + 1] = l->values[j];
        }
        meta[2 * l->nmeta] = NULL;
        if (tg_save_safetensors(path, l->n, names, ts, meta))
            rc = rewrap(fn);
    }
    tg_free(t);
    tg__dealloc(l, sizeof *l);
    return rc;
}

/* ---- loading ---------------------------------------------------------------- */

static int meta_int(const char *fn, const char *path, const tg_safetensors *st,
                    const char *key, int64_t lo, int64_t *out)
{
    const char *s = tg_safetensors_meta(st, key);
    if (!s)
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata lacks \"%s\"", path, key);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo)
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata \"%s\" = \"%.40s\" is not "
                        "an integer >= %lld", path, key, s, (long long)lo);
    *out = v;
    return TG_OK;
}

static int meta_num(const char *fn, const char *path, const tg_safetensors *st,
                    const char *key, double *out)
{
    const char *s = tg_safetensors_meta(st, key);
    if (!s)
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata lacks \"%s\"", path, key);
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= 0.0 && v <= 1e300))
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata \"%s\" = \"%.40s\" is not "
                        "a finite number >= 0", path, key, s);
    *out = v;
    return TG_OK;
}

static bool has_prefix(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

static int load_from(const char *fn, const char *path, tg_safetensors *st,
                     tg_checkpoint *ck, ck_list *l, tg_tensor **tmp)
{
    const tg_params *p = ck->model;
    const char *fmt = tg_safetensors_meta(st, "format");
    const char *ver = tg_safetensors_meta(st, "version");
    if (!fmt || strcmp(fmt, "tapegrad-checkpoint") || !ver || strcmp(ver, "1"))
        return tg__fail(TG_ERR_FORMAT, fn,
                        "%s: not a tapegrad checkpoint (metadata \"format\" is not "
                        "\"tapegrad-checkpoint\" version \"1\")", path);
    const char *kind = tg_safetensors_meta(st, "optim");
    const char *want = ck->adam ? "adam" : ck->sgd ? "sgd" : NULL;
    if (!kind)
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata lacks \"optim\"", path);
    if (want && strcmp(kind, want))
        return tg__fail(TG_ERR_VALUE, fn,
                        "%s: the checkpoint holds %s optimiser state, not %s", path,
                        kind, want);
    int64_t step, steps = 0, flag = 0;
    double hp[5] = {0};
    int rc = meta_int(fn, path, st, "step", INT64_MIN, &step);
    if (!rc && ck->adam) {
        static const char *const keys[] = {"optim.lr", "optim.beta1", "optim.beta2",
                                           "optim.eps", "optim.weight_decay"};
        for (int k = 0; k < 5 && !rc; k++)
            rc = meta_num(fn, path, st, keys[k], &hp[k]);
        if (!rc)
            rc = meta_int(fn, path, st, "optim.adamw", 0, &flag);
    } else if (!rc && ck->sgd) {
        static const char *const keys[] = {"optim.lr", "optim.momentum",
                                           "optim.weight_decay"};
        for (int k = 0; k < 3 && !rc; k++)
            rc = meta_num(fn, path, st, keys[k], &hp[k]);
        if (!rc)
            rc = meta_int(fn, path, st, "optim.nesterov", 0, &flag);
    }
    if (!rc && want)
        rc = meta_int(fn, path, st, "optim.steps", 0, &steps);
    if (rc)
        return rc;

    /* Every file tensor we are responsible for must have a place. */
    for (int i = 0; i < tg_safetensors_count(st); i++) {
        const char *name = tg_safetensors_name(st, i);
        if (!has_prefix(name, "model.") && !(want && has_prefix(name, "optim.")))
            continue;
        bool found = false;
        for (int k = 0; k < l->n && !found; k++)
            found = !strcmp(l->names[k], name);
        if (!found)
            return tg__fail(TG_ERR_VALUE, fn,
                            "%s: tensor \"%.80s\" has no place in the model%s", path,
                            name, want ? " or its optimiser" : "");
    }
    /* Read and check each one into a temporary. */
    for (int k = 0; k < l->n; k++) {
        int idx = tg_safetensors_find(st, l->names[k]);
        if (idx < 0)
            return tg__fail(TG_ERR_VALUE, fn, "%s: the checkpoint lacks \"%s\"", path,
                            l->names[k]);
        if (!(tmp[k] = tg_safetensors_get(st, l->names[k])))
            return rewrap(fn);
        const tg_tensor *d = l->dst[k];
        tg_dtype wdt = d ? d->dtype : TG_INT64;
        int wnd = d ? d->ndim : 1;
        const int64_t cnt = p->count;
        const int64_t *wsh = d ? d->shape : &cnt;
        bool same = tmp[k]->dtype == wdt && tmp[k]->ndim == wnd;
        for (int a = 0; same && a < wnd; a++)
            same = tmp[k]->shape[a] == wsh[a];
        if (!same) {
            char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
            return tg__fail(TG_ERR_SHAPE, fn,
                            "%s: \"%s\" is %s %s in the file, %s %s here", path,
                            l->names[k], tg_dtype_name(tmp[k]->dtype),
                            tg__shape_fmt(tmp[k]->ndim, tmp[k]->shape, b1, sizeof b1),
                            tg_dtype_name(wdt), tg__shape_fmt(wnd, wsh, b2, sizeof b2));
        }
        if (!d) {
            const int64_t *tv = tg_data(tmp[k]);
            for (int64_t i = 0; i < cnt; i++)
                if (tv[i] < 0)
                    return tg__fail(TG_ERR_FORMAT, fn,
                                    "%s: optim.adam.t holds a negative count", path);
        }
        if (d && tg__check_writable(fn, l->names[k], d))
            return tg_last_error();
    }
    /* Commit: same dtypes and shapes, writable destinations; cannot fail. */
    for (int k = 0; k < l->n; k++) {
        if (l->dst[k]) {
            if (tg_copy(l->dst[k], tmp[k]))
                return rewrap(fn);
        } else {
            memcpy(ck->adam->t, tg_data(tmp[k]), (size_t)p->count * sizeof(int64_t));
        }
    }
    if (ck->adam) {
        tg_adam *o = ck->adam;
        o->steps = steps;
        o->lr = hp[0];
        o->beta1 = hp[1];
        o->beta2 = hp[2];
        o->eps = hp[3];
        o->weight_decay = hp[4];
        o->adamw = flag != 0;
    } else if (ck->sgd) {
        tg_sgd *o = ck->sgd;
        o->steps = steps;
        o->lr = hp[0];
        o->momentum = hp[1];
        o->weight_decay = hp[2];
        o->nesterov = flag != 0;
    }
    ck->step = step;
    return TG_OK;
}

int tg_checkpoint_load(const char *path, tg_checkpoint *ck)
{
    const char *fn = "tg_checkpoint_load";
    if (!path)
        return tg__fail(TG_ERR_NULL, fn, "path is NULL");
    ck_list *l = tg__alloc(sizeof *l);
    if (!l)
        return tg__oom(fn);
    int rc = describe(fn, ck, l);
    tg_safetensors *st = NULL;
    tg_tensor *tmp[CK_MAX_ENTRIES] = {0};
    if (!rc && !(st = tg_safetensors_open(path)))
        rc = rewrap(fn);
    if (!rc)
        rc = load_from(fn, path, st, ck, l, tmp);
    for (int k = 0; k < CK_MAX_ENTRIES; k++)
        tg_free(tmp[k]);
    tg_safetensors_close(st);
    tg__dealloc(l, sizeof *l);
    return rc;
}

/* ---- weights from an .npz archive ---------------------------------------------- */

int tg_params_load_npz(tg_params *p, const char *path)
{
    const char *fn = "tg_params_load_npz";
    if (!p || !path)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", p ? "path" : "parameter list");
    if (p->count < 0 || p->count > TG_MAX_PARAMS)
        return tg__fail(TG_ERR_VALUE, fn, "parameter list has count %d", p->count);
    for (int i = 0; i < p->count; i++)
        if (!memchr(p->names[i], '\0', TG_PARAM_NAME_MAX) || !p->tensors[i])
            return tg__fail(TG_ERR_VALUE, fn, "parameter entry %d is not valid", i);
    tg_npz *z = tg_npz_open(path);
    if (!z)
        return rewrap(fn);
    tg_tensor *tmp[TG_MAX_PARAMS] = {0};
    int rc = TG_OK;
    for (int i = 0; i < p->count && !rc; i++) {
        const tg_tensor *d = p->tensors[i];
        if (!(tmp[i] = tg_npz_get(z, p->names[i]))) {
            rc = rewrap(fn);
            break;
        }
        bool same = tmp[i]->dtype == d->dtype && tg__same_shape(tmp[i], d);
        if (!same) {
            char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
            rc = tg__fail(TG_ERR_SHAPE, fn, "%s: \"%s\" is %s %s in the file, %s %s here",
                          path, p->names[i], tg_dtype_name(tmp[i]->dtype),
                          tg__shape_fmt(tmp[i]->ndim, tmp[i]->shape, b1, sizeof b1),
                          tg_dtype_name(d->dtype),
                          tg__shape_fmt(d->ndim, d->shape, b2, sizeof b2));
        } else {
            rc = tg__check_writable(fn, p->names[i], d);
        }
    }
    for (int i = 0; i < p->count && !rc; i++) /* cannot fail now */
        if (tg_copy(p->tensors[i], tmp[i]))
            rc = rewrap(fn);
    for (int i = 0; i < p->count; i++)
        tg_free(tmp[i]);
    tg_npz_close(z);
    return rc;
}
