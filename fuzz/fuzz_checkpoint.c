/* fuzz_checkpoint.c - libFuzzer target for the checkpoint reader
 * (models/checkpoint.c): the input is a selector byte and a safetensors
 * file that tg_checkpoint_load reads into a small fixed model and
 * optimiser.
 *
 * Input layout:
 *   byte 0     bits 0-3  the loading optimiser, (value % 11): none, Adam,
 *                        AdamW, SGD, SGD with momentum, SGD Nesterov,
 *                        RMSprop, RMSprop centered, RMSprop with momentum,
 *                        RMSprop centered with momentum, Adagrad
 *              bits 4-5  the model: 0 "w" f32 (2,3), "b" f64 (3,), "s" f64
 *                        0-d, buffers "stats" f32 (2,) and "n" i64 0-d;
 *                        1 the MLP of tests/data/st_tapegrad_ckpt.safetensors
 *                        (fc1.weight f32 (8,4), fc1.bias (8,), fc2.weight
 *                        (3,8), fc2.bias (3,)); 2 that MLP with the buffer
 *                        "stats" f32 (3,) (st_tapegrad_ckpt_v2); 3 model 0
 *                        with an empty parameter "e" f32 (3,0), and its
 *                        "stats" a reversed view when there is no optimiser
 *                        (optimisers need contiguous entries)
 *              bit 6     the loader has a second parameter group
 *              bit 7     fail one allocation inside tg_checkpoint_load:
 *                        byte 1 says which (0 the first); the file starts
 *                        after it
 *   the rest   the checkpoint file, written to a per-process scratch file
 *
 * Beyond "no crash, no leak, no free of the wrong size" it checks that:
 * - a failure sets a proper error (code, "tg_...: " message, out of memory
 *   only when an allocation was refused) and changes nothing: every
 *   parameter, buffer and state tensor, the optimiser's fields, groups and
 *   counts and ck->step are bit for bit as before;
 * - a success put exactly the file's bytes into every entry and state
 *   tensor and the file's numbers into the step, the optimiser's
 *   hyper-parameters, counts and groups (version 1: the loader's groups
 *   stay but for group 0's lr and weight decay), and that every "model.*"
 *   (and, with an optimiser, "optim.*") tensor of the file had a place;
 * - what was loaded saves (load accepts nothing save refuses), the saved
 *   file loads into a fresh model and optimiser with the same state, and
 *   saving that gives the same bytes;
 * - an optimiser step then succeeds.
 *
 * FUZZ_TRACE=1 prints the configuration and the load's result.
 *
 * The seeds in corpus/fuzz_checkpoint/ are tg_checkpoint_save's files for
 * this harness's models (each named after the loader it is meant for,
 * with its selector byte in front): one per optimiser, AdamW and Nesterov
 * SGD with two groups, SGD with an empty second group, model 3 without an
 * optimiser and with Adam, Adam rewritten as version 1 for a loader with
 * two groups, files with metadata keys and tensors one byte away from the
 * loader's (and two with that byte changed: errors), one with an
 * allocation refused; and the two tests/data/st_tapegrad_ckpt* fixtures
 * for models 1 and 2. */
#include <float.h>
#include <inttypes.h>

#include "common.h"

enum {
    OPT_NONE, OPT_ADAM, OPT_ADAMW, OPT_SGD, OPT_SGD_MOM, OPT_SGD_NESTEROV, OPT_RMS,
    OPT_RMS_CENTERED, OPT_RMS_MOM, OPT_RMS_CENTERED_MOM, OPT_ADAGRAD, OPT_COUNT
};
enum { MODEL_SMALL, MODEL_MLP, MODEL_MLP_STATS, MODEL_SMALL_VIEW };

typedef struct fc_cfg {
    int opt, model;
    bool groups;
} fc_cfg;

/* A model, its optimiser and the checkpoint that names them. */
typedef struct fc_inst {
    fc_cfg c;
    int nown;
    tg_tensor *own[12]; /* every tensor made for the model (views first) */
    tg_params ps;
    tg_adam adam;
    tg_sgd sgd;
    tg_rmsprop rms;
    tg_adagrad ada;
    tg_checkpoint ck;
} fc_inst;

/* The optimiser of an instance seen through its fields (none: kind NULL). */
typedef struct fc_view {
    const char *kind;
    int nhp;
    const char *hkey[5];
    double *hp[5];
    const char *fkey;
    bool *flag;
    int64_t *steps;
    int64_t *t; /* Adam and Adagrad */
    tg_param_groups *g;
    int ns;
    const char *sname[3];
    tg_tensor **st[3];
} fc_view;

static bool trace;

static void view_of(fc_inst *x, fc_view *v)
{
    memset(v, 0, sizeof *v);
#define HP(k, f) (v->hkey[v->nhp] = (k), v->hp[v->nhp++] = &o->f)
#define ST(k, a) (v->sname[v->ns] = (k), v->st[v->ns++] = o->a)
    if (x->ck.adam) {
        tg_adam *o = x->ck.adam;
        v->kind = "adam";
        HP("optim.lr", lr);
        HP("optim.weight_decay", weight_decay);
        HP("optim.beta1", beta1);
        HP("optim.beta2", beta2);
        HP("optim.eps", eps);
        v->fkey = "optim.adamw";
        v->flag = &o->adamw;
        v->steps = &o->steps;
        v->t = o->t;
        v->g = &o->groups;
        ST("m", m);
        ST("v", v);
    } else if (x->ck.sgd) {
        tg_sgd *o = x->ck.sgd;
        v->kind = "sgd";
        HP("optim.lr", lr);
        HP("optim.weight_decay", weight_decay);
        HP("optim.momentum", momentum);
        v->fkey = "optim.nesterov";
        v->flag = &o->nesterov;
        v->steps = &o->steps;
        v->g = &o->groups;
        ST("buf", buf);
    } else if (x->ck.rmsprop) {
        tg_rmsprop *o = x->ck.rmsprop;
        v->kind = "rmsprop";
        HP("optim.lr", lr);
        HP("optim.weight_decay", weight_decay);
        HP("optim.alpha", alpha);
        HP("optim.eps", eps);
        HP("optim.momentum", momentum);
        v->fkey = "optim.centered";
        v->flag = &o->centered;
        v->steps = &o->steps;
        v->g = &o->groups;
        ST("square_avg", square_avg);
        ST("grad_avg", grad_avg);
        ST("buf", buf);
    } else if (x->ck.adagrad) {
        tg_adagrad *o = x->ck.adagrad;
        v->kind = "adagrad";
        HP("optim.lr", lr);
        HP("optim.weight_decay", weight_decay);
        HP("optim.lr_decay", lr_decay);
        HP("optim.initial_accumulator_value", initial_accumulator_value);
        HP("optim.eps", eps);
        v->steps = &o->steps;
        v->t = o->t;
        v->g = &o->groups;
        ST("sum", sum);
    }
#undef HP
#undef ST
}

/* ---- tensors as bytes ------------------------------------------------------ */

/* The logical elements of t in C order, whatever its strides; returns the
 * byte count. */
static size_t tensor_bytes(const tg_tensor *t, unsigned char *out, size_t cap)
{
    size_t es = tg_dtype_size(tg_dtype_of(t));
    size_t nb = (size_t)tg_numel(t) * es;
    FZ_CHECK(nb <= cap, "tensor of %zu bytes, room for %zu", nb, cap);
    if (tg_is_contiguous(t)) {
        if (nb)
            memcpy(out, tg_data(t), nb);
        return nb;
    }
    int nd = tg_ndim(t);
    const int64_t *sh = tg_shape(t), *sd = tg_strides(t);
    int64_t idx[TG_MAX_DIMS] = {0};
    const unsigned char *base = tg_data(t);
    for (int64_t e = 0; e < tg_numel(t); e++) {
        int64_t pos = 0;
        for (int k = 0; k < nd; k++)
            pos += idx[k] * sd[k];
        memcpy(out + (size_t)e * es, base + pos * (int64_t)es, es);
        for (int k = nd - 1; k >= 0 && ++idx[k] == sh[k]; k--)
            idx[k] = 0;
    }
    return nb;
}

/* Writes start + step*i into element i (C order) of t, any strides. */
static void fill_pattern(tg_tensor *t, double start, double step)
{
    int nd = tg_ndim(t);
    const int64_t *sh = tg_shape(t), *sd = tg_strides(t);
    int64_t idx[TG_MAX_DIMS] = {0};
    for (int64_t e = 0; e < tg_numel(t); e++) {
        int64_t pos = 0;
        for (int k = 0; k < nd; k++)
            pos += idx[k] * sd[k];
        double val = start + step * (double)e;
        switch (tg_dtype_of(t)) {
        case TG_FLOAT32: ((float *)tg_data(t))[pos] = (float)val; break;
        case TG_FLOAT64: ((double *)tg_data(t))[pos] = val; break;
        case TG_INT64: ((int64_t *)tg_data(t))[pos] = (int64_t)val; break;
        default: FZ_FAIL("dtype %d in the model", (int)tg_dtype_of(t));
        }
        for (int k = nd - 1; k >= 0 && ++idx[k] == sh[k]; k--)
            idx[k] = 0;
    }
}

/* ---- building and freeing an instance ------------------------------------------- */

static tg_tensor *mk(fc_inst *x, tg_dtype dt, int nd, const int64_t *shape)
{
    tg_tensor *t = tg_zeros(dt, nd, shape);
    FZ_CHECK(t != NULL, "tg_zeros");
    FZ_CHECK(x->nown < 12, "too many tensors");
    x->own[x->nown++] = t;
    return t;
}

static void add(fc_inst *x, const char *name, tg_tensor *t, bool buffer)
{
    int rc = buffer ? tg_params_add_buffer(&x->ps, name, t) : tg_params_add(&x->ps, name, t);
    FZ_CHECK(rc == TG_OK, "adding \"%s\"", name);
}

/* The model and optimiser of c, their contents set from alt (so that two
 * instances differ everywhere before a load). */
static void inst_init(fc_inst *x, fc_cfg c, int alt)
{
    memset(x, 0, sizeof *x);
    x->c = c;
    double a = alt ? 3.0 : 1.0;
    if (c.model == MODEL_MLP || c.model == MODEL_MLP_STATS) {
        add(x, "fc1.weight", mk(x, TG_FLOAT32, 2, (const int64_t[]){8, 4}), false);
        add(x, "fc1.bias", mk(x, TG_FLOAT32, 1, (const int64_t[]){8}), false);
        add(x, "fc2.weight", mk(x, TG_FLOAT32, 2, (const int64_t[]){3, 8}), false);
        add(x, "fc2.bias", mk(x, TG_FLOAT32, 1, (const int64_t[]){3}), false);
        if (c.model == MODEL_MLP_STATS)
            add(x, "stats", mk(x, TG_FLOAT32, 1, (const int64_t[]){3}), true);
    } else {
        add(x, "w", mk(x, TG_FLOAT32, 2, (const int64_t[]){2, 3}), false);
        add(x, "b", mk(x, TG_FLOAT64, 1, (const int64_t[]){3}), false);
        add(x, "s", mk(x, TG_FLOAT64, 0, NULL), false);
        if (c.model == MODEL_SMALL_VIEW)
            add(x, "e", mk(x, TG_FLOAT32, 2, (const int64_t[]){3, 0}), false);
        tg_tensor *stats = mk(x, TG_FLOAT32, 1, (const int64_t[]){2});
        if (c.model == MODEL_SMALL_VIEW && c.opt == OPT_NONE) {
            tg_tensor *f = tg_flip(stats, 0);
            FZ_CHECK(f != NULL && !tg_is_contiguous(f), "tg_flip");
            x->own[x->nown++] = f;
            stats = f;
        }
        add(x, "stats", stats, true);
        add(x, "n", mk(x, TG_INT64, 0, NULL), true);
    }
    for (int i = 0; i < x->ps.count; i++)
        fill_pattern(x->ps.tensors[i], a * (i + 1), 0.25 * a);

    double lr = 0.01 * a;
    int rc = TG_OK;
    switch (c.opt) {
    case OPT_NONE:
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        rc = tg_adam_init(&x->adam, &x->ps, lr, alt ? 0.8 : 0.9, 0.999, 1e-8, 0.01 * a,
                          c.opt == OPT_ADAMW);
        x->ck.adam = &x->adam;
        break;
    case OPT_SGD:
    case OPT_SGD_MOM:
    case OPT_SGD_NESTEROV:
        rc = tg_sgd_init(&x->sgd, &x->ps, lr, c.opt == OPT_SGD ? 0.0 : 0.5 * a, 1e-3 * a,
                         c.opt == OPT_SGD_NESTEROV);
        x->ck.sgd = &x->sgd;
        break;
    case OPT_RMS:
    case OPT_RMS_CENTERED:
    case OPT_RMS_MOM:
    case OPT_RMS_CENTERED_MOM:
        rc = tg_rmsprop_init(&x->rms, &x->ps, lr, alt ? 0.9 : 0.99, 1e-8 * a, 1e-4 * a,
                             c.opt >= OPT_RMS_MOM ? 0.25 * a : 0.0,
                             c.opt == OPT_RMS_CENTERED || c.opt == OPT_RMS_CENTERED_MOM);
        x->ck.rmsprop = &x->rms;
        break;
    case OPT_ADAGRAD:
        rc = tg_adagrad_init(&x->ada, &x->ps, lr, 0.001 * a, 1e-4 * a, 0.1 * a, 1e-10 * a);
        x->ck.adagrad = &x->ada;
        break;
    default:
        FZ_FAIL("optimiser %d", c.opt);
    }
    FZ_CHECK(rc == TG_OK, "initialising optimiser %d", c.opt);
    x->ck.model = &x->ps;
    x->ck.step = alt ? -7 : 42;
    fc_view v;
    view_of(x, &v);
    if (!v.kind)
        return;
    for (int s = 0; s < v.ns; s++)
        for (int i = 0; i < x->ps.count; i++)
            if (v.st[s][i])
                fill_pattern(v.st[s][i], a * (0.5 + s) + i, 0.125);
    for (int i = 0; v.t && i < x->ps.count; i++)
        v.t[i] = 3 + i + alt;
    *v.steps = 5 + alt;
    if (c.groups) {
        const char *pat = c.model == MODEL_MLP || c.model == MODEL_MLP_STATS ? "*.bias" : "b s";
        FZ_CHECK(tg_param_groups_add(v.g, pat, 0.125 * a, 0.0) == TG_OK, "groups_add");
        v.g->lr[1] = 0.0625 * a; /* as a schedule would have set it */
    }
}

static void inst_free(fc_inst *x)
{
    tg_adam_free(&x->adam);
    tg_sgd_free(&x->sgd);
    tg_rmsprop_free(&x->rms);
    tg_adagrad_free(&x->ada);
    for (int i = x->nown - 1; i >= 0; i--)
        tg_free(x->own[i]);
    x->nown = 0;
}

/* ---- snapshots --------------------------------------------------------------------- */

#define SNAP_BYTES 16384

/* Everything a load may write: the optimisers' structs (fields, counts,
 * groups, the state tensors' pointers), ck, and every tensor's elements. */
typedef struct fc_snap {
    tg_adam adam;
    tg_sgd sgd;
    tg_rmsprop rms;
    tg_adagrad ada;
    tg_checkpoint ck;
    tg_params ps;
    size_t n;
    unsigned char bytes[SNAP_BYTES];
} fc_snap;

static size_t all_bytes(fc_inst *x, unsigned char *out)
{
    size_t n = 0;
    for (int i = 0; i < x->ps.count; i++)
        n += tensor_bytes(x->ps.tensors[i], out + n, SNAP_BYTES - n);
    fc_view v;
    view_of(x, &v);
    for (int s = 0; s < v.ns; s++)
        for (int i = 0; i < x->ps.count; i++)
            if (v.st[s][i])
                n += tensor_bytes(v.st[s][i], out + n, SNAP_BYTES - n);
    return n;
}

static void snap_take(fc_inst *x, fc_snap *s)
{
    s->adam = x->adam;
    s->sgd = x->sgd;
    s->rms = x->rms;
    s->ada = x->ada;
    s->ck = x->ck;
    s->ps = x->ps;
    s->n = all_bytes(x, s->bytes);
}

static void snap_same(fc_inst *x, const fc_snap *s)
{
    static unsigned char now[SNAP_BYTES];
    FZ_CHECK(memcmp(&s->ck, &x->ck, sizeof s->ck) == 0,
             "a failed load changed the checkpoint (step %" PRId64 " -> %" PRId64 ")",
             s->ck.step, x->ck.step);
    FZ_CHECK(memcmp(&s->ps, &x->ps, sizeof s->ps) == 0, "a failed load changed the list");
    FZ_CHECK(memcmp(&s->adam, &x->adam, sizeof s->adam) == 0,
             "a failed load changed the Adam optimiser");
    FZ_CHECK(memcmp(&s->sgd, &x->sgd, sizeof s->sgd) == 0,
             "a failed load changed the SGD optimiser");
    FZ_CHECK(memcmp(&s->rms, &x->rms, sizeof s->rms) == 0,
             "a failed load changed the RMSprop optimiser");
    FZ_CHECK(memcmp(&s->ada, &x->ada, sizeof s->ada) == 0,
             "a failed load changed the Adagrad optimiser");
    size_t n = all_bytes(x, now);
    FZ_CHECK(n == s->n && memcmp(now, s->bytes, n) == 0,
             "a failed load changed a tensor's elements");
}

/* ---- what a successful load must have done ------------------------------------------ */

static long long meta_ll(const tg_safetensors *st, const char *key)
{
    const char *s = tg_safetensors_meta(st, key);
    FZ_CHECK(s != NULL, "loaded, but the file has no \"%s\"", key);
    return strtoll(s, NULL, 10);
}

static double meta_dbl(const tg_safetensors *st, const char *key)
{
    const char *s = tg_safetensors_meta(st, key);
    FZ_CHECK(s != NULL, "loaded, but the file has no \"%s\"", key);
    return strtod(s, NULL);
}

/* The file's tensor name has dst's dtype and shape and exactly its
 * elements' bytes. */
static void same_as_file(tg_safetensors *st, const char *name, const tg_tensor *dst)
{
    static unsigned char a[SNAP_BYTES];
    tg_tensor *f = tg_safetensors_get(st, name);
    FZ_CHECK(f != NULL, "loaded, but \"%s\" cannot be read from the image", name);
    FZ_CHECK(tg_dtype_of(f) == tg_dtype_of(dst) && tg_ndim(f) == tg_ndim(dst),
             "\"%s\": dtype or ndim differs from the destination's", name);
    for (int k = 0; k < tg_ndim(f); k++)
        FZ_CHECK(tg_shape(f)[k] == tg_shape(dst)[k], "\"%s\": shape differs", name);
    size_t n = tensor_bytes(dst, a, sizeof a);
    FZ_CHECK(n == 0 || memcmp(a, tg_data(f), n) == 0,
             "\"%s\": the loaded elements are not the file's bytes", name);
    tg_free(f);
}

static void check_loaded(fc_inst *x, const fc_snap *before, const uint8_t *file,
                         size_t size)
{
    static const uint8_t empty[1];
    tg_safetensors *st = tg_safetensors_open_buffer(size ? file : empty, size);
    FZ_CHECK(st != NULL, "tg_checkpoint_load read a file the buffer reader refuses");
    const char *fmt = tg_safetensors_meta(st, "format");
    FZ_CHECK(fmt && !strcmp(fmt, "tapegrad-checkpoint"), "loaded a file of format %s",
             fmt ? fmt : "(none)");
    const char *ver = tg_safetensors_meta(st, "version");
    FZ_CHECK(ver && (!strcmp(ver, "1") || !strcmp(ver, "2")), "loaded version %s",
             ver ? ver : "(none)");
    FZ_CHECK(x->ck.step == meta_ll(st, "step"), "step %" PRId64 " is not the file's",
             x->ck.step);
    fc_view v;
    view_of(x, &v);
    const tg_params *p = &x->ps;
    char name[160];
    int expect = 0;
    for (int i = 0; i < p->count; i++, expect++) {
        snprintf(name, sizeof name, "model.%s", p->names[i]);
        same_as_file(st, name, p->tensors[i]);
    }
    if (v.kind) {
        const char *kind = tg_safetensors_meta(st, "optim");
        FZ_CHECK(kind && !strcmp(kind, v.kind), "loaded optim = %s into %s",
                 kind ? kind : "(none)", v.kind);
        for (int s = 0; s < v.ns; s++)
            for (int i = 0; i < p->count; i++) {
                if (!v.st[s][i])
                    continue;
                snprintf(name, sizeof name, "optim.%s.%s.%s", v.kind, v.sname[s], p->names[i]);
                same_as_file(st, name, v.st[s][i]);
                expect++;
            }
        if (v.t) {
            snprintf(name, sizeof name, "optim.%s.t", v.kind);
            tg_tensor *f = tg_safetensors_get(st, name);
            FZ_CHECK(f && tg_dtype_of(f) == TG_INT64 && tg_ndim(f) == 1 &&
                     tg_shape(f)[0] == p->count, "\"%s\" loaded but not as int64 (count)",
                     name);
            FZ_CHECK(memcmp(tg_data(f), v.t, (size_t)p->count * sizeof(int64_t)) == 0,
                     "the update counts are not the file's");
            for (int i = 0; i < p->count; i++)
                FZ_CHECK(v.t[i] >= 0, "loaded a negative update count");
            tg_free(f);
            expect++;
        }
        FZ_CHECK(*v.steps == meta_ll(st, "optim.steps") && *v.steps >= 0,
                 "steps %" PRId64 " is not the file's", *v.steps);
        for (int j = 0; j < v.nhp; j++) {
            double want = meta_dbl(st, v.hkey[j]);
            FZ_CHECK(*v.hp[j] == want && *v.hp[j] >= 0.0 && *v.hp[j] <= DBL_MAX,
                     "%s = %.17g, the file says %.17g", v.hkey[j], *v.hp[j], want);
        }
        if (v.fkey)
            FZ_CHECK(*v.flag == (meta_ll(st, v.fkey) != 0), "%s is not the file's", v.fkey);
        const tg_param_groups *g = v.g, *g0 = NULL;
        fc_view bv;
        fc_inst old; /* the loader's groups, before the load */
        old.adam = before->adam;
        old.sgd = before->sgd;
        old.rms = before->rms;
        old.ada = before->ada;
        old.ck = before->ck;
        old.ck.adam = old.ck.adam ? &old.adam : NULL;
        old.ck.sgd = old.ck.sgd ? &old.sgd : NULL;
        old.ck.rmsprop = old.ck.rmsprop ? &old.rms : NULL;
        old.ck.adagrad = old.ck.adagrad ? &old.ada : NULL;
        view_of(&old, &bv);
        g0 = bv.g;
        FZ_CHECK(g->params == p, "the groups' list changed");
        if (!strcmp(ver, "2")) {
            FZ_CHECK(g->count == meta_ll(st, "optim.groups"), "group count %d", g->count);
            for (int k = 0; k < g->count; k++) {
                static const char *const f[3] = {"lr", "initial_lr", "weight_decay"};
                const double *at[3] = {g->lr, g->initial_lr, g->weight_decay};
                for (int q = 0; q < 3; q++) {
                    snprintf(name, sizeof name, "optim.group.%d.%s", k, f[q]);
                    FZ_CHECK(at[q][k] == meta_dbl(st, name), "%s is not the file's", name);
                }
            }
            for (int i = 0; i < p->count; i++) {
                snprintf(name, sizeof name, "optim.group_of.%s", p->names[i]);
                FZ_CHECK(g->of[i] == (p->buffer[i] ? 0 : meta_ll(st, name)),
                         "%s: group %d is not the file's", name, g->of[i]);
            }
        } else {
            FZ_CHECK(g->count == g0->count, "a version-1 load changed the group count");
            for (int k = 1; k < g->count; k++)
                FZ_CHECK(g->lr[k] == g0->lr[k] && g->initial_lr[k] == g0->initial_lr[k] &&
                         g->weight_decay[k] == g0->weight_decay[k],
                         "a version-1 load changed group %d", k);
            FZ_CHECK(g->initial_lr[0] == g0->initial_lr[0], "version 1 changed initial_lr");
            FZ_CHECK(memcmp(g->of, g0->of, sizeof g->of) == 0,
                     "a version-1 load moved a parameter to another group");
        }
        FZ_CHECK(g->lr[0] == *v.hp[0] && g->weight_decay[0] == *v.hp[1] &&
                 g->seen_lr == g->lr[0] && g->seen_wd == g->weight_decay[0],
                 "group 0 and the optimiser's lr / weight decay disagree");
    }
    /* Every tensor the loader answers for has a place (names are unique in
     * a file, so counting them is enough). */
    int answer = 0;
    for (int i = 0; i < tg_safetensors_count(st); i++) {
        const char *nm = tg_safetensors_name(st, i);
        answer += !strncmp(nm, "model.", 6) || (v.kind && !strncmp(nm, "optim.", 6));
    }
    FZ_CHECK(answer == expect, "the file has %d tensors for the loader, it has %d places",
             answer, expect);
    tg_safetensors_close(st);
}

/* ---- the round trip ---------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    FZ_CHECK(f != NULL, "cannot open %s", path);
    FZ_CHECK(fseek(f, 0, SEEK_END) == 0, "seek");
    long len = ftell(f);
    FZ_CHECK(len >= 0 && fseek(f, 0, SEEK_SET) == 0, "tell");
    unsigned char *b = malloc((size_t)len + 1);
    FZ_CHECK(b != NULL, "malloc");
    FZ_CHECK(fread(b, 1, (size_t)len, f) == (size_t)len, "read %s", path);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* a and b hold the same state; numbers compared as numbers (a saved -0
 * may come back as 0 where group 0 and the optimiser's field disagree in
 * sign only). */
static void same_state(fc_inst *a, fc_inst *b)
{
    static unsigned char x[SNAP_BYTES], y[SNAP_BYTES];
    size_t nx = all_bytes(a, x), ny = all_bytes(b, y);
    FZ_CHECK(nx == ny && memcmp(x, y, nx) == 0, "round trip: tensors differ");
    FZ_CHECK(a->ck.step == b->ck.step, "round trip: step differs");
    fc_view u, v;
    view_of(a, &u);
    view_of(b, &v);
    if (!u.kind)
        return;
    for (int j = 0; j < u.nhp; j++)
        FZ_CHECK(*u.hp[j] == *v.hp[j], "round trip: %s %.17g became %.17g", u.hkey[j],
                 *u.hp[j], *v.hp[j]);
    FZ_CHECK(!u.flag || *u.flag == *v.flag, "round trip: %s differs", u.fkey);
    FZ_CHECK(*u.steps == *v.steps, "round trip: steps differ");
    for (int i = 0; u.t && i < a->ps.count; i++)
        FZ_CHECK(u.t[i] == v.t[i], "round trip: update count %d differs", i);
    const tg_param_groups *g = u.g, *h = v.g;
    FZ_CHECK(g->count == h->count, "round trip: group count %d became %d", g->count,
             h->count);
    for (int k = 0; k < g->count; k++)
        FZ_CHECK(g->lr[k] == h->lr[k] && g->initial_lr[k] == h->initial_lr[k] &&
                 g->weight_decay[k] == h->weight_decay[k],
                 "round trip: group %d differs", k);
    for (int i = 0; i < a->ps.count; i++)
        FZ_CHECK(g->of[i] == h->of[i], "round trip: the group of entry %d differs", i);
    FZ_CHECK(g->seen_lr == h->seen_lr && g->seen_wd == h->seen_wd,
             "round trip: group 0's synchronised lr / weight decay differ");
}

/* Gradients of ones for every parameter, then one step of a's optimiser. */
static void step_once(fc_inst *a)
{
    fc_view v;
    view_of(a, &v);
    if (!v.kind)
        return;
    tg_tape *T = tg_tape_new();
    FZ_CHECK(T != NULL, "tg_tape_new");
    for (int i = 0; i < a->ps.count; i++) {
        if (a->ps.buffer[i])
            continue;
        FZ_CHECK(tg_tape_reset(T) == TG_OK, "tg_tape_reset");
        tg_tensor *s = tg_ad_sum(T, a->ps.tensors[i]);
        FZ_CHECK(s != NULL && tg_backward(T, s) == TG_OK, "backward");
    }
    tg_tape_free(T);
    int rc = a->ck.adam      ? tg_adam_step(a->ck.adam)
             : a->ck.sgd     ? tg_sgd_step(a->ck.sgd)
             : a->ck.rmsprop ? tg_rmsprop_step(a->ck.rmsprop)
                             : tg_adagrad_step(a->ck.adagrad);
    FZ_CHECK(rc == TG_OK, "a step after a successful load failed");
}

static fc_inst inst_a, inst_b;
static fc_snap snap_a;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        once = 1;
        const char *e = getenv("FUZZ_TRACE");
        trace = e && *e == '1';
    }
    if (size == 0)
        return 0;
    uint8_t sel = data[0];
    fc_cfg c = {(sel & 15) % OPT_COUNT, (sel >> 4) & 3, (sel & 64) != 0};
    long fail_at = 0;
    size_t hdr = 1;
    if (sel & 128) {
        fail_at = (size > 1 ? data[1] : 0) + 1;
        hdr = 2;
    }
    const uint8_t *file = data + (size < hdr ? size : hdr);
    size_t fsize = size < hdr ? 0 : size - hdr;

    fz_begin(0);
    const char *in = fz_path("in.safetensors");
    fz_write_file(in, file, fsize);
    fc_inst *a = &inst_a, *b = &inst_b;
    inst_init(a, c, 0);
    snap_take(a, &snap_a);

    tg_clear_error();
    fz_calls = 0;
    fz_fail_at = fail_at;
    int rc = tg_checkpoint_load(in, &a->ck);
    fz_fail_at = 0;
    if (trace)
        fprintf(stderr, "opt %d model %d groups %d fail_at %ld (%ld allocations): %s\n",
                c.opt, c.model, c.groups, fail_at, fz_calls,
                rc ? tg_last_message() : "loaded");
    if (rc) {
        FZ_CHECK(rc == tg_last_error(), "returned %d, last error %d", rc, tg_last_error());
        fz_check_error("tg_checkpoint_load");
        snap_same(a, &snap_a);
        inst_free(a);
        fz_end();
        return 0;
    }
    FZ_CHECK(!fz_failed, "an allocation was refused, yet the load succeeded");
    check_loaded(a, &snap_a, file, fsize);

    /* What loaded saves; the saved file loads into a fresh instance with
     * the same state; that saves to the same bytes. */
    const char *pa = fz_path("a.safetensors"), *pb = fz_path("b.safetensors");
    FZ_CHECK(tg_checkpoint_save(pa, &a->ck) == TG_OK, "saving what was loaded failed");
    inst_init(b, c, 1);
    FZ_CHECK(tg_checkpoint_load(pa, &b->ck) == TG_OK, "reloading what was saved failed");
    same_state(a, b);
    FZ_CHECK(tg_checkpoint_save(pb, &b->ck) == TG_OK, "saving the reloaded state failed");
    size_t na, nb;
    unsigned char *ba = slurp(pa, &na), *bb = slurp(pb, &nb);
    FZ_CHECK(na == nb && memcmp(ba, bb, na) == 0,
             "the round trip's second save differs from the first (%zu / %zu bytes)", na,
             nb);
    free(ba);
    free(bb);
    inst_free(b);

    step_once(a);
    inst_free(a);
    fz_end();
    return 0;
}
