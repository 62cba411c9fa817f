/* checkpoint.c - a model, its optimiser's state and parameter groups and
 * the step in one safetensors file (format in checkpoint.h). Loading reads
 * every tensor and number into a temporary and checks it before any
 * destination is written, so a bad file changes nothing. */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/internal.h"
#include "../tensor/npz.h"
#include "../tensor/safetensors.h"
#include "checkpoint.h"

#define CK_NAME_MAX (TG_PARAM_NAME_MAX + 32) /* "optim.rmsprop.square_avg." + name */
#define CK_MAX_ENTRIES (4 * TG_MAX_PARAMS + 1) /* model + RMSprop's three states */
#define CK_MAX_META (16 + 3 * TG_MAX_GROUPS + TG_MAX_PARAMS)
#define CK_VALUE_MAX 32 /* "%.17g" of any double, or an int64 */
#define CK_MAX_HP 5
#define CK_VERSION "2"

/* The tensors of a checkpoint, the places they go and its metadata. */
typedef struct ck_list {
    int n;
    char names[CK_MAX_ENTRIES][CK_NAME_MAX];
    tg_tensor *dst[CK_MAX_ENTRIES]; /* where each goes (NULL: the update counts t) */
    int nmeta;
    char keys[CK_MAX_META][CK_NAME_MAX];
    char values[CK_MAX_META][CK_VALUE_MAX];
} ck_list;

/* A hyper-parameter: its metadata key, where it lives and its range,
 * [0, max) when below is set, else [0, max]. */
typedef struct ck_hp {
    const char *key;
    double *at;
    double max;
    bool below;
} ck_hp;

/* The checkpoint's optimiser, whichever kind, seen through its fields. */
typedef struct ck_opt {
    const char *kind;        /* "adam", "sgd", "rmsprop", "adagrad"; NULL: none */
    const tg_params *params; /* the list it was initialised on */
    tg_param_groups *groups;
    int64_t *steps;
    int64_t *t;              /* per-entry update counts (Adam, Adagrad) or NULL */
    int nhp;
    ck_hp hp[CK_MAX_HP];     /* hp[0] is lr, hp[1] weight_decay: group 0's */
    const char *flag_key;    /* its bool setting, or NULL */
    bool *flag;
    int nstate;
    const char *state[3];    /* the state tensors' names: "m", "v", ... */
    tg_tensor **st[3];       /* each an array of TG_MAX_PARAMS (NULL: none) */
} ck_opt;

static void add(ck_list *l, tg_tensor *dst, const char *a, const char *b)
{
    snprintf(l->names[l->n], CK_NAME_MAX, "%s%s", a, b);
    l->dst[l->n++] = dst;
}

static void meta_d(ck_list *l, const char *key, double v)
{
    snprintf(l->keys[l->nmeta], CK_NAME_MAX, "%s", key);
    snprintf(l->values[l->nmeta++], CK_VALUE_MAX, "%.17g", v);
}

static void meta_i(ck_list *l, const char *key, int64_t v)
{
    snprintf(l->keys[l->nmeta], CK_NAME_MAX, "%s", key);
    snprintf(l->values[l->nmeta++], CK_VALUE_MAX, "%" PRId64, v);
}

static void meta_s(ck_list *l, const char *key, const char *v)
{
    snprintf(l->keys[l->nmeta], CK_NAME_MAX, "%s", key);
    snprintf(l->values[l->nmeta++], CK_VALUE_MAX, "%s", v);
}

static bool in_range(const ck_hp *h, double x)
{
    return x >= 0.0 && (h->below ? x < h->max : x <= h->max);
}

static bool nonneg(double x)
{
    return x >= 0.0 && x <= DBL_MAX;
}

/* Fills v from whichever optimiser ck holds (at most one). */
static int opt_view(const char *fn, const tg_checkpoint *ck, ck_opt *v)
{
    memset(v, 0, sizeof *v);
    const char *given[4];
    int n = 0;
    if (ck->adam)
        given[n++] = "adam";
    if (ck->sgd)
        given[n++] = "sgd";
    if (ck->rmsprop)
        given[n++] = "rmsprop";
    if (ck->adagrad)
        given[n++] = "adagrad";
    if (n > 1)
        return tg__fail(TG_ERR_VALUE, fn,
                        "checkpoint has %d optimisers (%s and %s%s); give at most one", n,
                        given[0], given[1], n > 2 ? ", ..." : "");
#define CK_HP(k, field, mx, lt) (v->hp[v->nhp++] = (ck_hp){(k), &o->field, (mx), (lt)})
#define CK_STATE(name, arr) (v->state[v->nstate] = (name), v->st[v->nstate++] = o->arr)
    if (ck->adam) {
        tg_adam *o = ck->adam;
        v->kind = "adam";
        v->params = o->params;
        v->groups = &o->groups;
        v->steps = &o->steps;
        v->t = o->t;
        CK_HP("optim.lr", lr, DBL_MAX, false);
        CK_HP("optim.weight_decay", weight_decay, DBL_MAX, false);
        CK_HP("optim.beta1", beta1, 1.0, true);
        CK_HP("optim.beta2", beta2, 1.0, true);
        CK_HP("optim.eps", eps, DBL_MAX, false);
        v->flag_key = "optim.adamw";
        v->flag = &o->adamw;
        CK_STATE("m", m);
        CK_STATE("v", v);
    } else if (ck->sgd) {
        tg_sgd *o = ck->sgd;
        v->kind = "sgd";
        v->params = o->params;
        v->groups = &o->groups;
        v->steps = &o->steps;
        CK_HP("optim.lr", lr, DBL_MAX, false);
        CK_HP("optim.weight_decay", weight_decay, DBL_MAX, false);
        CK_HP("optim.momentum", momentum, DBL_MAX, false);
        v->flag_key = "optim.nesterov";
        v->flag = &o->nesterov;
        CK_STATE("buf", buf);
    } else if (ck->rmsprop) {
        tg_rmsprop *o = ck->rmsprop;
        v->kind = "rmsprop";
        v->params = o->params;
        v->groups = &o->groups;
        v->steps = &o->steps;
        CK_HP("optim.lr", lr, DBL_MAX, false);
        CK_HP("optim.weight_decay", weight_decay, DBL_MAX, false);
        CK_HP("optim.alpha", alpha, 1.0, false);
        CK_HP("optim.eps", eps, DBL_MAX, false);
        CK_HP("optim.momentum", momentum, DBL_MAX, false);
        v->flag_key = "optim.centered";
        v->flag = &o->centered;
        CK_STATE("square_avg", square_avg);
        CK_STATE("grad_avg", grad_avg);
        CK_STATE("buf", buf);
    } else if (ck->adagrad) {
        tg_adagrad *o = ck->adagrad;
        v->kind = "adagrad";
        v->params = o->params;
        v->groups = &o->groups;
        v->steps = &o->steps;
        v->t = o->t;
        CK_HP("optim.lr", lr, DBL_MAX, false);
        CK_HP("optim.weight_decay", weight_decay, DBL_MAX, false);
        CK_HP("optim.lr_decay", lr_decay, DBL_MAX, false);
        CK_HP("optim.initial_accumulator_value", initial_accumulator_value, DBL_MAX, false);
        CK_HP("optim.eps", eps, DBL_MAX, false);
        CK_STATE("sum", sum);
    }
#undef CK_HP
#undef CK_STATE
    if (v->kind && v->params != ck->model)
        return tg__fail(TG_ERR_VALUE, fn,
                        "the optimiser was initialised on another parameter list");
    return TG_OK;
}

/* Checks ck, fills v and lists the tensors ck holds (optimiser state in
 * the list's order, then the update counts). */
static int describe(const char *fn, const tg_checkpoint *ck, ck_opt *v, ck_list *l)
{
    if (!ck)
        return tg__fail(TG_ERR_NULL, fn, "checkpoint is NULL");
    const tg_params *p = ck->model;
    if (!p)
        return tg__fail(TG_ERR_NULL, fn, "checkpoint has no model");
    if (p->count < 0 || p->count > TG_MAX_PARAMS)
        return tg__fail(TG_ERR_VALUE, fn, "model list has count %d", p->count);
    int rc = opt_view(fn, ck, v);
    if (rc)
        return rc;
    l->n = l->nmeta = 0;
    for (int i = 0; i < p->count; i++) {
        if (!memchr(p->names[i], '\0', TG_PARAM_NAME_MAX) || !p->tensors[i])
            return tg__fail(TG_ERR_VALUE, fn, "model entry %d is not valid", i);
        add(l, p->tensors[i], "model.", p->names[i]);
    }
    if (!v->kind)
        return TG_OK;
    char pre[40];
    for (int s = 0; s < v->nstate; s++) {
        snprintf(pre, sizeof pre, "optim.%s.%s.", v->kind, v->state[s]);
        for (int i = 0; i < p->count; i++)
            if (v->st[s][i])
                add(l, v->st[s][i], pre, p->names[i]);
    }
    if (v->t) {
        snprintf(pre, sizeof pre, "optim.%s.t", v->kind);
        add(l, NULL, pre, "");
    }
    return TG_OK;
}

/* The metadata of a save: the optimiser's numbers and groups, each checked
 * as load will check it, so that save never writes a file load refuses. */
static int save_meta(const char *fn, const tg_checkpoint *ck, const ck_opt *v, ck_list *l)
{
    const tg_params *p = ck->model;
    meta_s(l, "format", "tapegrad-checkpoint");
    meta_s(l, "version", CK_VERSION);
    meta_i(l, "step", ck->step);
    if (!v->kind) {
        meta_s(l, "optim", "none");
        return TG_OK;
    }
    const tg_param_groups *g = v->groups;
    if (g->count < 1 || g->count > TG_MAX_GROUPS || g->params != p)
        return tg__fail(TG_ERR_VALUE, fn,
                        "the optimiser's parameter groups are corrupt (count %d)", g->count);
    if (*v->steps < 0)
        return tg__fail(TG_ERR_VALUE, fn, "the optimiser's step count %" PRId64
                        " is negative", *v->steps);
    for (int i = 0; v->t && i < p->count; i++)
        if (v->t[i] < 0)
            return tg__fail(TG_ERR_VALUE, fn, "parameter \"%s\" has a negative update "
                            "count %" PRId64, p->names[i], v->t[i]);
    /* Group 0's lr and weight decay have two copies, the optimiser's field
     * and the group's; the next step takes the one written last (optim.h),
     * and so does the file. */
    double val[CK_MAX_HP];
    for (int j = 0; j < v->nhp; j++)
        val[j] = *v->hp[j].at;
    if (val[0] == g->seen_lr)
        val[0] = g->lr[0];
    if (val[1] == g->seen_wd)
        val[1] = g->weight_decay[0];
    meta_s(l, "optim", v->kind);
    meta_i(l, "optim.steps", *v->steps);
    for (int j = 0; j < v->nhp; j++) {
        if (!in_range(&v->hp[j], val[j]))
            return tg__fail(TG_ERR_VALUE, fn, "the optimiser's %s = %g is out of range",
                            v->hp[j].key + 6, val[j]);
        meta_d(l, v->hp[j].key, val[j]);
    }
    if (v->flag_key)
        meta_i(l, v->flag_key, *v->flag ? 1 : 0);
    meta_i(l, "optim.groups", g->count);
    char key[CK_NAME_MAX];
    for (int k = 0; k < g->count; k++) {
        double lr = k ? g->lr[k] : val[0], wd = k ? g->weight_decay[k] : val[1];
        if (!nonneg(lr) || !nonneg(g->initial_lr[k]) || !nonneg(wd))
            return tg__fail(TG_ERR_VALUE, fn,
                            "group %d has lr = %g, initial_lr = %g, weight_decay = %g; "
                            "each must be finite and >= 0", k, lr, g->initial_lr[k], wd);
        snprintf(key, sizeof key, "optim.group.%d.lr", k);
        meta_d(l, key, lr);
        snprintf(key, sizeof key, "optim.group.%d.initial_lr", k);
        meta_d(l, key, g->initial_lr[k]);
        snprintf(key, sizeof key, "optim.group.%d.weight_decay", k);
        meta_d(l, key, wd);
    }
    for (int i = 0; i < p->count; i++) {
        if (p->buffer[i]) /* never trained: always in group 0, not recorded */
            continue;
        if (g->of[i] >= g->count)
            return tg__fail(TG_ERR_VALUE, fn, "parameter \"%s\" is in group %d of %d",
                            p->names[i], g->of[i], g->count);
        snprintf(key, sizeof key, "optim.group_of.%s", p->names[i]);
        meta_i(l, key, g->of[i]);
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
    ck_opt v;
    int rc = describe(fn, ck, &v, l);
    if (!rc)
        rc = save_meta(fn, ck, &v, l);
    tg_tensor *t = NULL;
    if (!rc && v.t) { /* per-entry update counts, as int64 */
        int64_t cnt = ck->model->count;
        t = tg__new(fn, TG_INT64, 1, &cnt);
        if (!t)
            rc = tg_last_error();
        else
            memcpy(tg_data(t), v.t, (size_t)cnt * sizeof(int64_t));
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

/* Metadata key as an integer in [lo, hi]. */
static int meta_int(const char *fn, const char *path, const tg_safetensors *st,
                    const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const char *s = tg_safetensors_meta(st, key);
    if (!s)
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata lacks \"%s\"", path, key);
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || x < lo || x > hi) {
        if (hi == INT64_MAX)
            return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata \"%s\" = \"%.40s\" is not "
                            "an integer >= %lld", path, key, s, (long long)lo);
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata \"%s\" = \"%.40s\" is not an "
                        "integer in [%lld, %lld]", path, key, s, (long long)lo,
                        (long long)hi);
    }
    *out = x;
    return TG_OK;
}

/* Metadata key as a number in h's range (key and range from h). */
static int meta_num(const char *fn, const char *path, const tg_safetensors *st,
                    const ck_hp *h, double *out)
{
    const char *s = tg_safetensors_meta(st, h->key);
    if (!s)
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata lacks \"%s\"", path, h->key);
    char *end;
    double x = strtod(s, &end);
    if (!*s || *end || !in_range(h, x)) {
        if (h->max == DBL_MAX)
            return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata \"%s\" = \"%.40s\" is not "
                            "a finite number >= 0", path, h->key, s);
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata \"%s\" = \"%.40s\" is not a "
                        "number in [0, %g%c", path, h->key, s, h->max, h->below ? ')' : ']');
    }
    *out = x;
    return TG_OK;
}

static bool has_prefix(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

/* The optimiser in the file must have the loading one's shape: the same
 * state tensors (momentum on or off, centered or not), as its state
 * decides the update formula. */
static int check_structure(const char *fn, const char *path, const tg_checkpoint *ck,
                           const double *val, bool flag)
{
    const char *what = NULL;
    double mom = 0.0, have = 0.0;
    if (ck->sgd) {
        if (flag && val[2] == 0.0)
            return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata \"optim.nesterov\" = 1 "
                            "needs \"optim.momentum\" > 0", path);
        mom = val[2];
        have = ck->sgd->momentum;
        what = "SGD";
    } else if (ck->rmsprop) {
        if (flag != ck->rmsprop->centered)
            return tg__fail(TG_ERR_VALUE, fn, "%s: the checkpoint's RMSprop is %scentered, "
                            "this optimiser is %scentered; initialise it with centered = "
                            "%s", path, flag ? "" : "not ", ck->rmsprop->centered ? "" : "not ",
                            flag ? "true" : "false");
        mom = val[4];
        have = ck->rmsprop->momentum;
        what = "RMSprop";
    }
    if (what && (mom > 0.0) != (have > 0.0))
        return tg__fail(TG_ERR_VALUE, fn, "%s: the checkpoint's %s has momentum %g, this "
                        "optimiser %g; initialise it with momentum %s 0 (the momentum "
                        "buffers exist only then)", path, what, mom, have,
                        mom > 0.0 ? ">" : "=");
    return TG_OK;
}

/* The file's parameter groups (version 2) into ng: the count, each group's
 * numbers and the group of each parameter, by name. Every "optim.group*"
 * key must be one of them. */
static int load_groups(const char *fn, const char *path, const tg_safetensors *st,
                       const tg_params *p, const double *val, tg_param_groups *ng)
{
    int64_t count;
    int rc = meta_int(fn, path, st, "optim.groups", 0, INT64_MAX, &count);
    if (rc)
        return rc;
    if (count < 1 || count > TG_MAX_GROUPS)
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata \"optim.groups\" = %" PRId64
                        ": a checkpoint holds 1 to %d parameter groups%s", path, count,
                        TG_MAX_GROUPS, count > TG_MAX_GROUPS ? " (TG_MAX_GROUPS in models/optim.h)" : "");
    ng->count = (int)count;
    static const char *const field[3] = {"lr", "initial_lr", "weight_decay"};
    const ck_hp any = {NULL, NULL, DBL_MAX, false};
    char key[CK_NAME_MAX];
    for (int k = 0; k < TG_MAX_GROUPS; k++) {
        double *dst[3] = {&ng->lr[k], &ng->initial_lr[k], &ng->weight_decay[k]};
        for (int f = 0; f < 3; f++) {
            *dst[f] = 0.0;
            if (k >= count)
                continue;
            ck_hp h = any;
            snprintf(key, sizeof key, "optim.group.%d.%s", k, field[f]);
            h.key = key;
            if ((rc = meta_num(fn, path, st, &h, dst[f])))
                return rc;
        }
    }
    if (ng->lr[0] != val[0] || ng->weight_decay[0] != val[1])
        return tg__fail(TG_ERR_FORMAT, fn, "%s: group 0 (lr %.17g, weight_decay %.17g) "
                        "disagrees with \"optim.lr\" %.17g, \"optim.weight_decay\" %.17g",
                        path, ng->lr[0], ng->weight_decay[0], val[0], val[1]);
    for (int i = 0; i < p->count; i++) {
        ng->of[i] = 0;
        if (p->buffer[i])
            continue;
        int64_t g;
        snprintf(key, sizeof key, "optim.group_of.%s", p->names[i]);
        if ((rc = meta_int(fn, path, st, key, 0, INT64_MAX, &g)))
            return rc;
        if (g >= count)
            return tg__fail(TG_ERR_FORMAT, fn, "%s: parameter \"%s\" is in group %" PRId64
                            ", out of range: the file has %" PRId64 " groups (metadata "
                            "\"%s\")", path, p->names[i], g, count, key);
        ng->of[i] = (unsigned char)g;
    }
    for (int j = 0; j < tg_safetensors_meta_count(st); j++) {
        const char *mk = NULL;
        tg_safetensors_meta_at(st, j, &mk, NULL);
        if (!mk || !has_prefix(mk, "optim.group") || !strcmp(mk, "optim.groups"))
            continue;
        bool ok = false;
        if (has_prefix(mk, "optim.group_of.")) {
            for (int i = 0; i < p->count && !ok; i++)
                ok = !p->buffer[i] && !strcmp(mk + strlen("optim.group_of."), p->names[i]);
            if (!ok)
                return tg__fail(TG_ERR_VALUE, fn, "%s: metadata \"%.80s\" names no "
                                "parameter of the model", path, mk);
        }
        for (int k = 0; k < count && !ok; k++)
            for (int f = 0; f < 3 && !ok; f++) {
                snprintf(key, sizeof key, "optim.group.%d.%s", k, field[f]);
                ok = !strcmp(mk, key);
            }
        if (!ok)
            return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata \"%.80s\" is not a key of the "
                            "file's %" PRId64 " parameter groups", path, mk, count);
    }
    return TG_OK;
}

static int load_from(const char *fn, const char *path, tg_safetensors *st,
                     tg_checkpoint *ck, const ck_opt *v, ck_list *l, tg_tensor **tmp)
{
    const tg_params *p = ck->model;
    const char *fmt = tg_safetensors_meta(st, "format");
    const char *ver = tg_safetensors_meta(st, "version");
    if (!fmt || strcmp(fmt, "tapegrad-checkpoint"))
        return tg__fail(TG_ERR_FORMAT, fn,
                        "%s: not a tapegrad checkpoint (metadata \"format\" is not "
                        "\"tapegrad-checkpoint\")", path);
    int version = ver && !strcmp(ver, "1") ? 1 : ver && !strcmp(ver, "2") ? 2 : 0;
    if (!version)
        return tg__fail(TG_ERR_FORMAT, fn, "%s: checkpoint version %s%.20s%s is not one "
                        "this build reads (\"1\" or \"2\")", path, ver ? "\"" : "",
                        ver ? ver : "(none)", ver ? "\"" : "");
    const char *kind = tg_safetensors_meta(st, "optim");
    const char *want = v->kind;
    if (!kind)
        return tg__fail(TG_ERR_FORMAT, fn, "%s: metadata lacks \"optim\"", path);
    if (want && strcmp(kind, want))
        return tg__fail(TG_ERR_VALUE, fn,
                        "%s: the checkpoint holds %.40s optimiser state, not %s", path,
                        kind, want);
    int64_t step, steps = 0, flag = 0;
    double val[CK_MAX_HP] = {0};
    tg_param_groups ng;
    int rc = meta_int(fn, path, st, "step", INT64_MIN, INT64_MAX, &step);
    if (want) {
        for (int j = 0; j < v->nhp && !rc; j++)
            rc = meta_num(fn, path, st, &v->hp[j], &val[j]);
        if (!rc && v->flag_key)
            rc = meta_int(fn, path, st, v->flag_key, 0, 1, &flag);
        if (!rc)
            /* below INT64_MAX: the next step adds 1 to it */
            rc = meta_int(fn, path, st, "optim.steps", 0, INT64_MAX - 1, &steps);
        if (!rc)
            rc = check_structure(fn, path, ck, val, flag != 0);
        ng = *v->groups;
        if (!rc && version >= 2) {
            rc = load_groups(fn, path, st, p, val, &ng);
        } else if (!rc) { /* version 1 has no groups: the loader's stay */
            ng.lr[0] = val[0];
            ng.weight_decay[0] = val[1];
        }
    }
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
                if (tv[i] < 0 || tv[i] == INT64_MAX) /* the next step adds 1 */
                    return tg__fail(TG_ERR_FORMAT, fn, "%s: %s holds %s count", path,
                                    l->names[k], tv[i] < 0 ? "a negative" : "too large a");
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
            memcpy(v->t, tg_data(tmp[k]), (size_t)p->count * sizeof(int64_t));
        }
    }
    if (want) {
        for (int j = 0; j < v->nhp; j++)
            *v->hp[j].at = val[j];
        if (v->flag)
            *v->flag = flag != 0;
        *v->steps = steps;
        /* Both copies of group 0's numbers agree, as after a step. */
        ng.seen_lr = ng.lr[0];
        ng.seen_wd = ng.weight_decay[0];
        *v->groups = ng;
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
    ck_opt v;
    int rc = describe(fn, ck, &v, l);
    tg_safetensors *st = NULL;
    tg_tensor *tmp[CK_MAX_ENTRIES] = {0};
    if (!rc && !(st = tg_safetensors_open(path)))
        rc = rewrap(fn);
    if (!rc)
        rc = load_from(fn, path, st, ck, &v, l, tmp);
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
