/* module.c - the module tree (children, names, walks, train/eval, the
 * summary) and the built-in modules wrapping the layers of nn.h and cnn.h.
 * The interface is described in module.h. */
#include "module.h"

#include <string.h>

#include "internal.h"

/* ---- building the tree ---------------------------------------------------- */

int tg_module_init(tg_module *m, const tg_module_kind *kind)
{
    const char *fn = "tg_module_init";
    if (!m || !kind)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", m ? "kind" : "module");
    if (!kind->name || !kind->forward)
        return tg__fail(TG_ERR_VALUE, fn, "the kind needs a name and a forward");
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->training = true;
    return TG_OK;
}

/* Whether name can name a child: 1 to TG_MODULE_NAME_MAX-1 characters of
 * letters, digits, '_' and '-'; errors under fn. */
static int check_child_name(const char *fn, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= TG_MODULE_NAME_MAX)
        return tg__fail(TG_ERR_VALUE, fn, "name \"%s\" has %zu characters; 1 to %d "
                        "are allowed", name, len, TG_MODULE_NAME_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return tg__fail(TG_ERR_VALUE, fn, "name \"%s\" has the byte 0x%02x "
                            "(allowed: letters, digits, '_' and '-'; the dot "
                            "joins names)", name, (unsigned)(unsigned char)c);
    }
    return TG_OK;
}

/* Whether child is m or below m (adding it would make a cycle). */
static bool in_tree(const tg_module *m, const tg_module *child)
{
    if (m == child)
        return true;
    for (int i = 0; i < m->nchildren; i++)
        if (in_tree(m->children[i], child))
            return true;
    return false;
}

/* Makes room for one more child. */
static int grow_children(const char *fn, tg_module *m)
{
    if (m->nchildren < m->capacity)
        return TG_OK;
    int cap = m->capacity ? 2 * m->capacity : 4;
    tg_module **c = tg__realloc(m->children, (size_t)m->capacity * sizeof *c,
                                (size_t)cap * sizeof *c);
    if (!c)
        return tg__oom(fn);
    m->children = c;
    char(*n)[TG_MODULE_NAME_MAX] = tg__realloc(m->names,
                                               (size_t)m->capacity * sizeof *n,
                                               (size_t)cap * sizeof *n);
    if (!n) /* children grew and stays so: capacity counts what both hold */
        return tg__oom(fn);
    m->names = n;
    m->capacity = cap;
    return TG_OK;
}

/* tg_module_add under fn: the one way a child joins a tree. The child is
 * freed on failure unless it already belongs to parent's tree (added
 * twice, or an ancestor of parent): freeing it there would free what the
 * tree still holds. */
static tg_module *add_child(const char *fn, tg_module *parent, const char *name,
                            tg_module *child)
{
    if (!child) { /* its constructor failed and said why */
        if (!tg_last_error())
            tg__fail(TG_ERR_NULL, fn, "child \"%s\" is NULL", name ? name : "?");
        return NULL;
    }
    int rc = TG_OK;
    if (!parent || !name)
        rc = tg__fail(TG_ERR_NULL, fn, "%s is NULL", parent ? "name" : "parent");
    else if (!parent->kind || !child->kind)
        rc = tg__fail(TG_ERR_VALUE, fn, "%s is not initialised (tg_module_init)",
                      parent->kind ? "child" : "parent");
    else if (in_tree(child, parent) || in_tree(parent, child)) {
        tg__fail(TG_ERR_VALUE, fn, "\"%s\" is already in this tree (a module has "
                 "one place in one tree)", name);
        return NULL; /* owned by the tree already: not freed */
    } else if (!(rc = check_child_name(fn, name))) {
        for (int i = 0; i < parent->nchildren && !rc; i++)
            if (strcmp(parent->names[i], name) == 0)
                rc = tg__fail(TG_ERR_VALUE, fn, "a child is already named \"%s\"",
                              name);
    }
    if (!rc)
        rc = grow_children(fn, parent);
    if (rc) {
        tg_module_free(child);
        return NULL;
    }
    parent->children[parent->nchildren] = child;
    memcpy(parent->names[parent->nchildren], name, strlen(name) + 1);
    parent->nchildren++;
    return child;
}

tg_module *tg_module_add(tg_module *parent, const char *name, tg_module *child)
{
    return add_child("tg_module_add", parent, name, child);
}

void tg_module_free(tg_module *m)
{
    if (!m || !m->kind)
        return;
    for (int i = 0; i < m->nchildren; i++)
        tg_module_free(m->children[i]);
    tg__dealloc(m->children, (size_t)m->capacity * sizeof *m->children);
    tg__dealloc(m->names, (size_t)m->capacity * sizeof *m->names);
    m->children = NULL;
    m->names = NULL;
    m->nchildren = m->capacity = 0;
    tg__dealloc(m->params, sizeof *m->params);
    m->params = NULL;
    if (m->kind->release)
        m->kind->release(m);
}

/* ---- walking the tensors ---------------------------------------------------- */

/* A walk over the tree's tensors: each is added to a list or counted. */
struct tg_module_walk {
    const char *fn;
    tg_params *list;  /* add to it, or */
    int64_t trained;  /* count the elements of parameters */
    int64_t buffered; /* and those of buffers */
    char prefix[TG_PARAM_NAME_MAX]; /* "features.0." */
    size_t len;       /* strlen(prefix) */
};

int tg_module_visit(tg_module_walk *w, const char *name, tg_tensor *t, bool buffer)
{
    if (!w || !name || !t)
        return tg__fail(TG_ERR_NULL, "tg_module_visit", "%s is NULL",
                        !w ? "walk" : !name ? "name" : "tensor");
    if (!w->list) {
        *(buffer ? &w->buffered : &w->trained) += tg_numel(t);
        return TG_OK;
    }
    size_t len = strlen(name);
    if (w->len + len >= TG_PARAM_NAME_MAX)
        return tg__fail(TG_ERR_VALUE, w->fn, "the name \"%s%s\" is too long (at most "
                        "%d characters)", w->prefix, name, TG_PARAM_NAME_MAX - 1);
    char full[TG_PARAM_NAME_MAX];
    memcpy(full, w->prefix, w->len);
    memcpy(full + w->len, name, len + 1);
    return tgm__params_add(w->fn, w->list, full, t, buffer);
}

/* Visits m's own tensors, then each child's under "<child>.". */
static int walk(tg_module *m, tg_module_walk *w)
{
    int rc = m->kind->tensors ? m->kind->tensors(m, w) : TG_OK;
    for (int i = 0; i < m->nchildren && !rc; i++) {
        size_t keep = w->len, len = strlen(m->names[i]);
        if (keep + len + 1 >= TG_PARAM_NAME_MAX)
            return tg__fail(TG_ERR_VALUE, w->fn, "the prefix \"%s%s.\" is too long "
                            "(names have at most %d characters)", w->prefix,
                            m->names[i], TG_PARAM_NAME_MAX - 1);
        memcpy(w->prefix + keep, m->names[i], len);
        w->prefix[keep + len] = '.';
        w->prefix[keep + len + 1] = '\0';
        w->len = keep + len + 1;
        rc = walk(m->children[i], w);
        w->len = keep;
        w->prefix[keep] = '\0';
    }
    return rc;
}

static int check_module(const char *fn, const tg_module *m)
{
    if (!m)
        return tg__fail(TG_ERR_NULL, fn, "module is NULL");
    if (!m->kind)
        return tg__fail(TG_ERR_VALUE, fn, "module is not initialised (tg_module_init)");
    return TG_OK;
}

int tg_module_params(tg_module *m, tg_params *p)
{
    const char *fn = "tg_module_params";
    int rc = check_module(fn, m);
    if (rc || (rc = tgm__check_params(fn, p, false)))
        return rc;
    tg_module_walk w = {.fn = fn, .list = p};
    int before = p->count;
    rc = walk(m, &w);
    if (rc) /* parameters already marked keep the flag, as tg_mlp_params */
        p->count = before;
    return rc;
}

const tg_params *tg_module_parameters(tg_module *m)
{
    const char *fn = "tg_module_parameters";
    if (!m) /* its constructor failed: that message stands */
        return NULL;
    if (check_module(fn, m))
        return NULL;
    if (!m->params && !(m->params = tg__alloc(sizeof *m->params))) {
        tg__oom(fn);
        return NULL;
    }
    m->params->count = 0;
    tg_module_walk w = {.fn = fn, .list = m->params};
    return walk(m, &w) ? NULL : m->params;
}

int64_t tg_module_num_params(tg_module *m)
{
    const char *fn = "tg_module_num_params";
    if (check_module(fn, m))
        return -1;
    tg_module_walk w = {.fn = fn};
    return walk(m, &w) ? -1 : w.trained;
}

/* Pre-order: a module's own draws, then its children's, in order. */
static int reset_tree(tg_module *m, tg_rng *rng)
{
    int rc = m->kind->reset_parameters ? m->kind->reset_parameters(m, rng) : TG_OK;
    for (int i = 0; i < m->nchildren && !rc; i++)
        rc = reset_tree(m->children[i], rng);
    return rc;
}

int tg_module_reset_parameters(tg_module *m, tg_rng *rng)
{
    const char *fn = "tg_module_reset_parameters";
    int rc = check_module(fn, m);
    if (rc)
        return rc;
    if (!rng)
        return tg__fail(TG_ERR_NULL, fn, "rng is NULL");
    return reset_tree(m, rng);
}

void tg_module_train(tg_module *m, bool training)
{
    if (!m || !m->kind)
        return;
    m->training = training;
    if (m->kind->set_training)
        m->kind->set_training(m, training);
    for (int i = 0; i < m->nchildren; i++)
        tg_module_train(m->children[i], training);
}

tg_module *tg_module_child(tg_module *m, const char *path)
{
    const char *fn = "tg_module_child";
    if (check_module(fn, m))
        return NULL;
    if (!path) {
        tg__fail(TG_ERR_NULL, fn, "path is NULL");
        return NULL;
    }
    const char *p = path;
    while (*p) {
        size_t len = strcspn(p, ".");
        tg_module *next = NULL;
        for (int i = 0; i < m->nchildren && !next; i++)
            if (strlen(m->names[i]) == len && memcmp(m->names[i], p, len) == 0)
                next = m->children[i];
        if (!next) {
            tg__fail(TG_ERR_VALUE, fn, "no submodule \"%.*s\" in \"%s\"",
                     (int)(p - path + (ptrdiff_t)len), path, path);
            return NULL;
        }
        m = next;
        p += len;
        if (*p == '.' && *++p == '\0')
            break; /* a trailing dot: caught below */
    }
    if (p == path || p[-1] == '.') {
        tg__fail(TG_ERR_VALUE, fn, "path \"%s\" names no submodule", path);
        return NULL;
    }
    return m;
}

/* ---- the summary ---------------------------------------------------------------- */

/* One module of the tree, found before the forward. */
typedef struct sum_node {
    tg_module *m;
    char path[TG_PARAM_NAME_MAX];
    bool training; /* its flag before the summary */
} sum_node;

/* One forward call seen during the summary. */
typedef struct sum_row {
    int node;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} sum_row;

typedef struct summary {
    const char *fn;
    sum_node *nodes;
    int nnodes, node_cap;
    sum_row *rows;
    int nrows, row_cap;
    int rc; /* the first failure while collecting */
} summary;

/* Appends one zeroed element to *items (count *n, capacity *cap) of size
 * bytes each; NULL when out of memory. */
static void *push(void *items_, int *n, int *cap, size_t size)
{
    void **items = items_;
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        void *grown = tg__realloc(*items, (size_t)*cap * size, (size_t)c * size);
        if (!grown)
            return NULL;
        *items = grown;
        *cap = c;
    }
    char *at = (char *)*items + (size_t)(*n)++ * size;
    memset(at, 0, size);
    return at;
}

/* Records every module of m's tree (paths as the walk names tensors). */
static int collect(summary *s, tg_module *m, const char *path)
{
    sum_node *n = push(&s->nodes, &s->nnodes, &s->node_cap, sizeof *n);
    if (!n)
        return tg__oom(s->fn);
    n->m = m;
    n->training = m->training;
    int len = snprintf(n->path, sizeof n->path, "%s", path);
    for (int i = 0; i < m->nchildren; i++) {
        char sub[TG_PARAM_NAME_MAX];
        int k = snprintf(sub, sizeof sub, "%s%s%s", path, len ? "." : "", m->names[i]);
        if (k < 0 || (size_t)k >= sizeof sub)
            return tg__fail(TG_ERR_VALUE, s->fn, "the path \"%s.%s\" is too long",
                            path, m->names[i]);
        int rc = collect(s, m->children[i], sub);
        if (rc)
            return rc;
    }
    return TG_OK;
}

/* Called by tg_module_forward for a module under a summary. */
static void summary_saw(summary *s, tg_module *m, const tg_tensor *y)
{
    int node = -1;
    for (int i = 0; i < s->nnodes && node < 0; i++)
        if (s->nodes[i].m == m)
            node = i;
    if (node <= 0 || s->rc) /* the root is the table's total, not a row */
        return;
    sum_row *r = push(&s->rows, &s->nrows, &s->row_cap, sizeof *r);
    if (!r) {
        s->rc = tg__oom(s->fn);
        return;
    }
    r->node = node;
    r->ndim = tg_ndim(y);
    memcpy(r->shape, tg_shape(y), (size_t)r->ndim * sizeof *r->shape);
}

/* "1,234,567" */
static void thousands(int64_t v, char *buf, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 1 < size; i++) {
        buf[o++] = digits[i];
        int left = n - 1 - i;
        if (left > 0 && left % 3 == 0 && digits[i] != '-' && o + 1 < size)
            buf[o++] = ',';
    }
    buf[o] = '\0';
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, size, "(");
    for (int k = 0; k < ndim && o < size; k++)
        o += (size_t)snprintf(buf + o, size - o, "%s%lld", k ? ", " : "",
                              (long long)shape[k]);
    if (o < size)
        snprintf(buf + o, size - o, ")");
}

static void describe(const tg_module *m, char *buf, size_t size)
{
    if (m->kind->describe)
        m->kind->describe(m, buf, size);
    else
        snprintf(buf, size, "%s", m->kind->name);
}

enum { DESC_MAX = 96, SHAPE_MAX = 8 * 22 + 4 };

/* Prints the collected rows and the totals. */
static int print_summary(summary *s, tg_module *root, FILE *out)
{
    int wname = 5, wdesc = 4;
    char desc[DESC_MAX];
    for (int i = 0; i < s->nrows; i++) {
        const sum_node *n = &s->nodes[s->rows[i].node];
        int l = (int)strlen(n->path);
        wname = l > wname ? l : wname;
        describe(n->m, desc, sizeof desc);
        l = (int)strlen(desc);
        wdesc = l > wdesc ? l : wdesc;
    }
    int width = wname + wdesc + 24 + 14 + 6;
    char rule[256];
    int rl = width < (int)sizeof rule - 1 ? width : (int)sizeof rule - 1;
    memset(rule, '=', (size_t)rl);
    rule[rl] = '\0';
    fprintf(out, "%-*s  %-*s  %-24s  %14s\n%s\n", wname, "Layer", wdesc, "Type",
            "Output shape", "Params", rule);
    for (int i = 0; i < s->nrows; i++) {
        const sum_row *r = &s->rows[i];
        const sum_node *n = &s->nodes[r->node];
        char shape[SHAPE_MAX], count[32];
        describe(n->m, desc, sizeof desc);
        shape_text(r->ndim, r->shape, shape, sizeof shape);
        thousands(tg_module_num_params(n->m), count, sizeof count);
        fprintf(out, "%-*s  %-*s  %-24s  %14s\n", wname, n->path, wdesc, desc, shape,
                count);
    }
    tg_module_walk all = {.fn = s->fn};
    int rc = walk(root, &all);
    if (rc)
        return rc;
    char t1[32], t2[32];
    thousands(all.trained, t1, sizeof t1);
    thousands(all.buffered, t2, sizeof t2);
    fprintf(out, "%s\nParameters: %s values   Buffers: %s values\n", rule, t1, t2);
    if (ferror(out))
        return tg__fail(TG_ERR_IO, s->fn, "could not write the summary");
    return TG_OK;
}

int tg_module_summary(tg_module *m, tg_dtype dt, int ndim, const int64_t *input_shape,
                      FILE *out)
{
    const char *fn = "tg_module_summary";
    int rc = check_module(fn, m);
    if (rc)
        return rc;
    if (!out || (!input_shape && ndim > 0))
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", out ? "input shape" : "out");
    summary s = {.fn = fn};
    rc = collect(&s, m, "");
    tg_tape *T = rc ? NULL : tg_tape_new();
    tg_tensor *x = T ? tg_zeros(dt, ndim, input_shape) : NULL;
    if (!rc && !x)
        rc = tg_last_error();
    if (!rc) {
        tg_tape_pause(T, true);
        for (int i = 0; i < s.nnodes; i++)
            s.nodes[i].m->summary = &s;
        tg_module_train(m, false);
        tg_tensor *y = tg_module_forward(T, m, x);
        for (int i = 0; i < s.nnodes; i++) { /* each flag as it was */
            tg_module *n = s.nodes[i].m;
            n->summary = NULL;
            n->training = s.nodes[i].training;
            if (n->kind->set_training)
                n->kind->set_training(n, n->training);
        }
        rc = !y ? tg_last_error() : s.rc;
        if (!rc)
            rc = print_summary(&s, m, out);
    }
    tg_free(x);
    tg_tape_free(T);
    tg__dealloc(s.nodes, (size_t)s.node_cap * sizeof *s.nodes);
    tg__dealloc(s.rows, (size_t)s.row_cap * sizeof *s.rows);
    return rc;
}

/* ---- running ------------------------------------------------------------------ */

tg_tensor *tg_module_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    if (!x)
        return NULL;
    if (check_module("tg_module_forward", m))
        return NULL;
    tg_tensor *y = m->kind->forward(T, m, x);
    if (y && m->summary)
        summary_saw(m->summary, m, y);
    return y;
}

/* ---- built-in modules ------------------------------------------------------------ */

/* A new zeroed module of kind, size bytes (a struct starting with a
 * tg_module), or NULL (errors under fn). */
static void *new_module(const char *fn, const tg_module_kind *kind, size_t size)
{
    tg_module *m = tg__alloc(size);
    if (!m) {
        tg__oom(fn);
        return NULL;
    }
    memset(m, 0, size);
    tg_module_init(m, kind);
    return m;
}

/* Sequential, and the layers without tensors: a bare tg_module. */
static void release_bare(tg_module *m)
{
    tg__dealloc(m, sizeof *m);
}

/* -- Linear -- */

typedef struct linear_module {
    tg_module base;
    tg_linear layer;
} linear_module;

/* x (..., in) -> (..., out), as torch.nn.Linear: more than two axes are
 * flattened into rows for the layer and restored after. */
static tg_tensor *linear_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    tg_linear *l = &((linear_module *)m)->layer;
    int nd = tg_ndim(x);
    if (nd <= 2)
        return tg_linear_forward(T, l, x);
    int64_t shape[TG_MAX_DIMS], rows = 1;
    memcpy(shape, tg_shape(x), (size_t)nd * sizeof *shape);
    for (int k = 0; k < nd - 1; k++)
        rows *= shape[k];
    tg_tensor *y = tg_linear_forward(T, l, tg_ad_reshape(T, x, 2,
                                                        (const int64_t[]){rows, shape[nd - 1]}));
    shape[nd - 1] = l->out;
    return y ? tg_ad_reshape(T, y, nd, shape) : NULL;
}

static int linear_tensors(tg_module *m, tg_module_walk *w)
{
    tg_linear *l = &((linear_module *)m)->layer;
    int rc = tg_module_visit(w, "weight", l->weight, false);
    return rc || !l->bias ? rc : tg_module_visit(w, "bias", l->bias, false);
}

/* "Linear(784, 256)", "Linear(64, 27, bias=False)" */
static void linear_describe(const tg_module *m, char *buf, size_t size)
{
    const tg_linear *l = &((const linear_module *)m)->layer;
    snprintf(buf, size, "Linear(%lld, %lld%s)", (long long)l->in, (long long)l->out,
             l->bias ? "" : ", bias=False");
}

static void linear_release(tg_module *m)
{
    tg_linear_free(&((linear_module *)m)->layer);
    tg__dealloc(m, sizeof(linear_module));
}

/* Draws a new weight and bias (if it has one) as tg_linear_init_ex does. */
static int linear_reset(tg_module *m, tg_rng *rng)
{
    tg_linear *l = &((linear_module *)m)->layer, fresh;
    int rc = tg_linear_init_ex(&fresh, l->in, l->out, l->bias != NULL, tg_dtype_of(l->weight),
                               rng);
    if (!rc && !(rc = tg_copy(l->weight, fresh.weight)) && l->bias)
        rc = tg_copy(l->bias, fresh.bias);
    tg_linear_free(&fresh);
    return rc;
}

static const tg_module_kind linear_kind = {
    .name = "Linear", .forward = linear_forward, .tensors = linear_tensors,
    .describe = linear_describe, .reset_parameters = linear_reset,
    .release = linear_release,
};

/* The generator of a constructor given rng NULL: seed 0, until
 * tg_module_reset_parameters draws from the caller's. */
static tg_rng *placeholder_rng(tg_rng *rng, tg_rng *local)
{
    if (rng)
        return rng;
    tg_rng_seed(local, 0);
    return local;
}

tg_module *tg_nn_linear_ex(int64_t in, int64_t out, bool bias, tg_dtype dt, tg_rng *rng)
{
    linear_module *m = new_module("tg_nn_linear", &linear_kind, sizeof *m);
    tg_rng local;
    if (m && tg_linear_init_ex(&m->layer, in, out, bias, dt, placeholder_rng(rng, &local))) {
        linear_release(&m->base);
        return NULL;
    }
    return m ? &m->base : NULL;
}

tg_module *tg_nn_linear(int64_t in, int64_t out, tg_dtype dt, tg_rng *rng)
{
    return tg_nn_linear_ex(in, out, true, dt, rng);
}

/* -- Quadratic (the chapter's y = w x^2 + b) -- */

typedef struct quadratic_module {
    tg_module base;
    tg_quadratic layer;
} quadratic_module;

static tg_tensor *quadratic_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    return tg_quadratic_forward(T, &((quadratic_module *)m)->layer, x);
}

static int quadratic_tensors(tg_module *m, tg_module_walk *w)
{
    tg_quadratic *q = &((quadratic_module *)m)->layer;
    int rc = tg_module_visit(w, "w", q->w, false);
    return rc ? rc : tg_module_visit(w, "b", q->b, false);
}

static void quadratic_release(tg_module *m)
{
    tg_quadratic_free(&((quadratic_module *)m)->layer);
    tg__dealloc(m, sizeof(quadratic_module));
}

static const tg_module_kind quadratic_kind = {
    .name = "Quadratic", .forward = quadratic_forward, .tensors = quadratic_tensors,
    .release = quadratic_release,
};

tg_module *tg_nn_quadratic(tg_dtype dt, double w, double b)
{
    quadratic_module *m = new_module("tg_nn_quadratic", &quadratic_kind, sizeof *m);
    if (m && tg_quadratic_init(&m->layer, dt, w, b)) {
        quadratic_release(&m->base);
        return NULL;
    }
    return m ? &m->base : NULL;
}

/* -- Conv2d -- */

typedef struct conv_module {
    tg_module base;
    tg_conv2d layer;
} conv_module;

static tg_tensor *conv_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    return tg_conv2d_forward(T, &((conv_module *)m)->layer, x);
}

static int conv_tensors(tg_module *m, tg_module_walk *w)
{
    tg_conv2d *l = &((conv_module *)m)->layer;
    int rc = tg_module_visit(w, "weight", l->weight, false);
    return rc || !l->bias ? rc : tg_module_visit(w, "bias", l->bias, false);
}

/* "Conv2d(1, 32, 3x3, pad 1)": what differs from PyTorch's defaults. */
static void conv_describe(const tg_module *m, char *buf, size_t size)
{
    const tg_conv2d *l = &((const conv_module *)m)->layer;
    const tg_conv_args *a = &l->args;
    int o = snprintf(buf, size, "Conv2d(%lld, %lld, %lldx%lld", (long long)l->in,
                     (long long)l->out, (long long)l->kernel[0], (long long)l->kernel[1]);
    const struct { const char *what; const int64_t *v; int64_t normal; } opt[] = {
        {"stride", a->stride, 1}, {"pad", a->padding, 0}, {"dilation", a->dilation, 1},
    };
    for (size_t i = 0; i < sizeof opt / sizeof *opt; i++) {
        const int64_t *v = opt[i].v;
        if (o < 0 || (size_t)o >= size || (v[0] == opt[i].normal && v[1] == opt[i].normal))
            continue;
        if (v[0] == v[1])
            o += snprintf(buf + o, size - (size_t)o, ", %s %lld", opt[i].what,
                          (long long)v[0]);
        else
            o += snprintf(buf + o, size - (size_t)o, ", %s %lldx%lld", opt[i].what,
                          (long long)v[0], (long long)v[1]);
    }
    if (o >= 0 && (size_t)o < size && a->same)
        o += snprintf(buf + o, size - (size_t)o, ", same");
    if (o >= 0 && (size_t)o < size && a->groups != 1)
        o += snprintf(buf + o, size - (size_t)o, ", groups %lld", (long long)a->groups);
    if (o >= 0 && (size_t)o < size && !l->bias)
        o += snprintf(buf + o, size - (size_t)o, ", no bias");
    if (o >= 0 && (size_t)o < size)
        snprintf(buf + o, size - (size_t)o, ")");
}

static void conv_release(tg_module *m)
{
    tg_conv2d_free(&((conv_module *)m)->layer);
    tg__dealloc(m, sizeof(conv_module));
}

/* Draws a new weight and bias as tg_conv2d_init does. */
static int conv_reset(tg_module *m, tg_rng *rng)
{
    tg_conv2d *l = &((conv_module *)m)->layer, fresh;
    int rc = tg_conv2d_init(&fresh, l->in, l->out, l->kernel, &l->args, l->bias != NULL,
                            tg_dtype_of(l->weight), rng);
    if (!rc && !(rc = tg_copy(l->weight, fresh.weight)) && l->bias)
        rc = tg_copy(l->bias, fresh.bias);
    tg_conv2d_free(&fresh);
    return rc;
}

static const tg_module_kind conv_kind = {
    .name = "Conv2d", .forward = conv_forward, .tensors = conv_tensors,
    .describe = conv_describe, .reset_parameters = conv_reset,
    .release = conv_release,
};

tg_module *tg_nn_conv2d(int64_t in, int64_t out, const int64_t *kernel,
                        const tg_conv_args *args, bool bias, tg_dtype dt, tg_rng *rng)
{
    conv_module *m = new_module("tg_nn_conv2d", &conv_kind, sizeof *m);
    tg_rng local;
    if (m && tg_conv2d_init(&m->layer, in, out, kernel, args, bias, dt,
                            placeholder_rng(rng, &local))) {
        conv_release(&m->base);
        return NULL;
    }
    return m ? &m->base : NULL;
}

/* -- MaxPool2d, AvgPool2d -- */

typedef struct pool_module {
    tg_module base;
    tg_pool2d layer;
} pool_module;

static tg_tensor *max_pool_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    return tg_max_pool2d_forward(T, &((pool_module *)m)->layer, x);
}

static tg_tensor *avg_pool_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    return tg_avg_pool2d_forward(T, &((pool_module *)m)->layer, x);
}

static void pool_describe(const tg_module *m, char *buf, size_t size)
{
    const tg_pool2d *l = &((const pool_module *)m)->layer;
    int o = snprintf(buf, size, "%s(%lldx%lld", m->kind->name, (long long)l->kernel[0],
                     (long long)l->kernel[1]);
    if (o >= 0 && (size_t)o < size &&
        (l->stride[0] != l->kernel[0] || l->stride[1] != l->kernel[1]))
        o += snprintf(buf + o, size - (size_t)o, ", stride %lldx%lld",
                      (long long)l->stride[0], (long long)l->stride[1]);
    if (o >= 0 && (size_t)o < size && (l->padding[0] || l->padding[1]))
        o += snprintf(buf + o, size - (size_t)o, ", pad %lldx%lld",
                      (long long)l->padding[0], (long long)l->padding[1]);
    if (o >= 0 && (size_t)o < size)
        snprintf(buf + o, size - (size_t)o, ")");
}

static void pool_release(tg_module *m)
{
    tg__dealloc(m, sizeof(pool_module));
}

static const tg_module_kind max_pool_kind = {
    .name = "MaxPool2d", .forward = max_pool_forward, .describe = pool_describe,
    .release = pool_release,
};
static const tg_module_kind avg_pool_kind = {
    .name = "AvgPool2d", .forward = avg_pool_forward, .describe = pool_describe,
    .release = pool_release,
};

static tg_module *new_pool(const char *fn, const tg_module_kind *kind,
                           const int64_t *kernel, const int64_t *stride,
                           const int64_t *padding)
{
    pool_module *m = new_module(fn, kind, sizeof *m);
    if (m && tg_pool2d_init(&m->layer, kernel, stride, padding)) {
        pool_release(&m->base);
        return NULL;
    }
    return m ? &m->base : NULL;
}

tg_module *tg_nn_max_pool2d(const int64_t *kernel, const int64_t *stride,
                            const int64_t *padding)
{
    return new_pool("tg_nn_max_pool2d", &max_pool_kind, kernel, stride, padding);
}

tg_module *tg_nn_avg_pool2d(const int64_t *kernel, const int64_t *stride,
                            const int64_t *padding)
{
    return new_pool("tg_nn_avg_pool2d", &avg_pool_kind, kernel, stride, padding);
}

/* -- AdaptiveAvgPool2d -- */

typedef struct adaptive_module {
    tg_module base;
    int64_t oh, ow;
} adaptive_module;

static tg_tensor *adaptive_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    const adaptive_module *a = (const adaptive_module *)m;
    return tg_ad_adaptive_avg_pool2d(T, x, a->oh, a->ow);
}

static void adaptive_describe(const tg_module *m, char *buf, size_t size)
{
    const adaptive_module *a = (const adaptive_module *)m;
    snprintf(buf, size, "AdaptiveAvgPool2d(%lldx%lld)", (long long)a->oh,
             (long long)a->ow);
}

static void adaptive_release(tg_module *m)
{
    tg__dealloc(m, sizeof(adaptive_module));
}

static const tg_module_kind adaptive_kind = {
    .name = "AdaptiveAvgPool2d", .forward = adaptive_forward,
    .describe = adaptive_describe, .release = adaptive_release,
};

tg_module *tg_nn_adaptive_avg_pool2d(int64_t oh, int64_t ow)
{
    const char *fn = "tg_nn_adaptive_avg_pool2d";
    if (oh < 1 || ow < 1) {
        tg__fail(TG_ERR_VALUE, fn, "output size %lldx%lld: both must be >= 1",
                 (long long)oh, (long long)ow);
        return NULL;
    }
    adaptive_module *m = new_module(fn, &adaptive_kind, sizeof *m);
    if (!m)
        return NULL;
    m->oh = oh;
    m->ow = ow;
    return &m->base;
}

/* -- BatchNorm1d, BatchNorm2d -- */

typedef struct bn_module {
    tg_module base;
    tg_batch_norm layer;
} bn_module;

static tg_tensor *bn_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    return tg_batch_norm_forward(T, &((bn_module *)m)->layer, x);
}

static int bn_tensors(tg_module *m, tg_module_walk *w)
{
    tg_batch_norm *l = &((bn_module *)m)->layer;
    int rc = tg_module_visit(w, "weight", l->weight, false);
    if (!rc)
        rc = tg_module_visit(w, "bias", l->bias, false);
    if (!rc)
        rc = tg_module_visit(w, "running_mean", l->running_mean, true);
    return rc ? rc : tg_module_visit(w, "running_var", l->running_var, true);
}

static void bn_describe(const tg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s(%lld)", m->kind->name,
             (long long)((const bn_module *)m)->layer.features);
}

static void bn_set_training(tg_module *m, bool training)
{
    ((bn_module *)m)->layer.training = training;
}

static void bn_release(tg_module *m)
{
    tg_batch_norm_free(&((bn_module *)m)->layer);
    tg__dealloc(m, sizeof(bn_module));
}

static const tg_module_kind bn1_kind = {
    .name = "BatchNorm1d", .forward = bn_forward, .tensors = bn_tensors,
    .describe = bn_describe, .set_training = bn_set_training, .release = bn_release,
};
static const tg_module_kind bn2_kind = {
    .name = "BatchNorm2d", .forward = bn_forward, .tensors = bn_tensors,
    .describe = bn_describe, .set_training = bn_set_training, .release = bn_release,
};

tg_module *tg_nn_batch_norm1d(int64_t features, tg_dtype dt)
{
    bn_module *m = new_module("tg_nn_batch_norm1d", &bn1_kind, sizeof *m);
    if (m && tg_batch_norm1d_init(&m->layer, features, dt)) {
        bn_release(&m->base);
        return NULL;
    }
    return m ? &m->base : NULL;
}

tg_module *tg_nn_batch_norm2d(int64_t features, tg_dtype dt)
{
    bn_module *m = new_module("tg_nn_batch_norm2d", &bn2_kind, sizeof *m);
    if (m && tg_batch_norm2d_init(&m->layer, features, dt)) {
        bn_release(&m->base);
        return NULL;
    }
    return m ? &m->base : NULL;
}

/* -- LayerNorm -- */

typedef struct ln_module {
    tg_module base;
    tg_layer_norm layer;
} ln_module;

static tg_tensor *ln_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    return tg_layer_norm_forward(T, &((ln_module *)m)->layer, x);
}

static int ln_tensors(tg_module *m, tg_module_walk *w)
{
    tg_layer_norm *l = &((ln_module *)m)->layer;
    int rc = tg_module_visit(w, "weight", l->weight, false);
    return rc ? rc : tg_module_visit(w, "bias", l->bias, false);
}

static void ln_describe(const tg_module *m, char *buf, size_t size)
{
    const tg_layer_norm *l = &((const ln_module *)m)->layer;
    char shape[SHAPE_MAX];
    shape_text(l->ndims, l->shape, shape, sizeof shape);
    snprintf(buf, size, "LayerNorm(%s)", shape);
}

static void ln_release(tg_module *m)
{
    tg_layer_norm_free(&((ln_module *)m)->layer);
    tg__dealloc(m, sizeof(ln_module));
}

static const tg_module_kind ln_kind = {
    .name = "LayerNorm", .forward = ln_forward, .tensors = ln_tensors,
    .describe = ln_describe, .release = ln_release,
};

tg_module *tg_nn_layer_norm(int ndims, const int64_t *shape, tg_dtype dt)
{
    ln_module *m = new_module("tg_nn_layer_norm", &ln_kind, sizeof *m);
    if (m && tg_layer_norm_init(&m->layer, ndims, shape, dt)) {
        ln_release(&m->base);
        return NULL;
    }
    return m ? &m->base : NULL;
}

/* -- Dropout -- */

typedef struct dropout_module {
    tg_module base;
    tg_dropout layer;
} dropout_module;

static tg_tensor *dropout_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    return tg_dropout_forward(T, &((dropout_module *)m)->layer, x);
}

static void dropout_describe(const tg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "Dropout(p=%g)", ((const dropout_module *)m)->layer.p);
}

static void dropout_set_training(tg_module *m, bool training)
{
    ((dropout_module *)m)->layer.training = training;
}

static void dropout_release(tg_module *m)
{
    tg__dealloc(m, sizeof(dropout_module));
}

static const tg_module_kind dropout_kind = {
    .name = "Dropout", .forward = dropout_forward, .describe = dropout_describe,
    .set_training = dropout_set_training, .release = dropout_release,
};

tg_module *tg_nn_dropout(double p, tg_rng *rng)
{
    dropout_module *m = new_module("tg_nn_dropout", &dropout_kind, sizeof *m);
    if (m && tg_dropout_init(&m->layer, p, rng)) {
        dropout_release(&m->base);
        return NULL;
    }
    return m ? &m->base : NULL;
}

/* -- Embedding -- */

typedef struct embedding_module {
    tg_module base;
    int64_t num, dim;
    tg_tensor *weight; /* (num, dim) */
} embedding_module;

/* indices (...) of an integer dtype -> (..., dim): rows of the weight. */
static tg_tensor *embedding_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    embedding_module *e = (embedding_module *)m;
    int nd = tg_ndim(x);
    if (nd >= TG_MAX_DIMS) {
        tg__fail(TG_ERR_SHAPE, "Embedding", "indices have %d axes; at most %d are "
                 "allowed", nd, TG_MAX_DIMS - 1);
        return NULL;
    }
    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, tg_shape(x), (size_t)nd * sizeof *shape);
    shape[nd] = e->dim;
    tg_tensor *flat = tg_ad_reshape(T, x, 1, (const int64_t[]){tg_numel(x)});
    tg_tensor *rows = tg_ad_index_select(T, e->weight, 0, flat); /* (n, dim) */
    return rows ? tg_ad_reshape(T, rows, nd + 1, shape) : NULL;
}

static int embedding_tensors(tg_module *m, tg_module_walk *w)
{
    return tg_module_visit(w, "weight", ((embedding_module *)m)->weight, false);
}

static void embedding_describe(const tg_module *m, char *buf, size_t size)
{
    const embedding_module *e = (const embedding_module *)m;
    snprintf(buf, size, "Embedding(%lld, %lld)", (long long)e->num, (long long)e->dim);
}

/* torch.nn.Embedding's init: the weight standard normal (NumPy's
 * randn stream from rng, in C order). */
static int embedding_reset(tg_module *m, tg_rng *rng)
{
    embedding_module *e = (embedding_module *)m;
    tg_tensor *fresh = tg_randn(rng, tg_dtype_of(e->weight), 2,
                                (const int64_t[]){e->num, e->dim});
    int rc = fresh ? tg_copy(e->weight, fresh) : tg_last_error();
    tg_free(fresh);
    return rc;
}

static void embedding_release(tg_module *m)
{
    tg_free(((embedding_module *)m)->weight);
    tg__dealloc(m, sizeof(embedding_module));
}

static const tg_module_kind embedding_kind = {
    .name = "Embedding", .forward = embedding_forward, .tensors = embedding_tensors,
    .describe = embedding_describe, .reset_parameters = embedding_reset,
    .release = embedding_release,
};

tg_module *tg_nn_embedding(int64_t num, int64_t dim, tg_dtype dt, tg_rng *rng)
{
    const char *fn = "tg_nn_embedding";
    if (num < 1 || dim < 1) {
        tg__fail(TG_ERR_VALUE, fn, "%lld embeddings of size %lld: both must be >= 1",
                 (long long)num, (long long)dim);
        return NULL;
    }
    if (dt != TG_FLOAT32 && dt != TG_FLOAT64) {
        tg__fail(TG_ERR_DTYPE, fn, "dtype %s: float32 or float64 only", tg_dtype_name(dt));
        return NULL;
    }
    embedding_module *m = new_module(fn, &embedding_kind, sizeof *m);
    if (!m)
        return NULL;
    tg_rng local;
    m->num = num;
    m->dim = dim;
    m->weight = tg_randn(placeholder_rng(rng, &local), dt, 2, (const int64_t[]){num, dim});
    if (!m->weight || tg_requires_grad(m->weight, true)) {
        tg_module_free(&m->base);
        return NULL;
    }
    return &m->base;
}

/* -- Flatten and the activations: no state, one op each -- */

static tg_tensor *flatten_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    (void)m;
    return tg_flatten(T, x);
}

static tg_tensor *relu_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    (void)m;
    return tg_ad_relu(T, x);
}

static tg_tensor *tanh_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    (void)m;
    return tg_ad_tanh(T, x);
}

static tg_tensor *sigmoid_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    (void)m;
    return tg_ad_sigmoid(T, x);
}

static tg_tensor *gelu_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    (void)m;
    return tg_ad_gelu(T, x);
}

static const tg_module_kind flatten_kind = {
    .name = "Flatten", .forward = flatten_forward, .release = release_bare};
static const tg_module_kind relu_kind = {
    .name = "ReLU", .forward = relu_forward, .release = release_bare};
static const tg_module_kind tanh_kind = {
    .name = "Tanh", .forward = tanh_forward, .release = release_bare};
static const tg_module_kind sigmoid_kind = {
    .name = "Sigmoid", .forward = sigmoid_forward, .release = release_bare};
static const tg_module_kind gelu_kind = {
    .name = "GELU", .forward = gelu_forward, .release = release_bare};

tg_module *tg_nn_flatten(void)
{
    return new_module("tg_nn_flatten", &flatten_kind, sizeof(tg_module));
}

tg_module *tg_nn_relu(void)
{
    return new_module("tg_nn_relu", &relu_kind, sizeof(tg_module));
}

tg_module *tg_nn_tanh(void)
{
    return new_module("tg_nn_tanh", &tanh_kind, sizeof(tg_module));
}

tg_module *tg_nn_sigmoid(void)
{
    return new_module("tg_nn_sigmoid", &sigmoid_kind, sizeof(tg_module));
}

tg_module *tg_nn_gelu(void)
{
    return new_module("tg_nn_gelu", &gelu_kind, sizeof(tg_module));
}

/* -- Sequential -- */

static tg_tensor *sequential_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    for (int i = 0; i < m->nchildren && x; i++)
        x = tg_module_forward(T, m->children[i], x);
    return x; /* no children: the identity, x itself */
}

static const tg_module_kind sequential_kind = {
    .name = "Sequential", .forward = sequential_forward, .release = release_bare};

/* After a failure: frees seq and modules[from..n), each once, but none
 * already in seq's tree (freed with it). */
static void free_given(tg_module *seq, int from, int n, tg_module *const *modules)
{
    for (int j = from; modules && j < n; j++) {
        bool seen = !modules[j] || (seq && in_tree(seq, modules[j]));
        for (int k = from; k < j && !seen; k++)
            seen = modules[k] == modules[j];
        if (!seen)
            tg_module_free(modules[j]);
    }
    tg_module_free(seq);
}

/* tg_nn_sequential and tg_nn_sequential_named under fn: names NULL names
 * the children "0", "1", ... */
static tg_module *sequential(const char *fn, int n, const char *const *names,
                             tg_module *const *modules)
{
    tg_module *seq = NULL;
    if (n < 0 || (n > 0 && !modules))
        tg__fail(n < 0 ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                 n < 0 ? "n is %d; it must be >= 0" : "modules is NULL (n = %d)", n);
    else
        seq = new_module(fn, &sequential_kind, sizeof *seq);
    int i = 0;
    for (; seq && i < n; i++) {
        char index[16];
        snprintf(index, sizeof index, "%d", i);
        if (!add_child(fn, seq, names ? names[i] : index, modules[i])) {
            i++;
            break;
        }
    }
    if (seq && i == n && seq->nchildren == n)
        return seq;
    free_given(seq, seq ? i : 0, n, modules);
    return NULL;
}

tg_module *tg_nn_sequential(int n, tg_module *const *modules)
{
    return sequential("tg_nn_sequential", n, NULL, modules);
}

tg_module *tg_nn_sequential_named(int n, const char *const *names,
                                  tg_module *const *modules)
{
    const char *fn = "tg_nn_sequential_named";
    if (!names && n > 0) {
        tg__fail(TG_ERR_NULL, fn, "names is NULL (n = %d)", n);
        free_given(NULL, 0, n, modules);
        return NULL;
    }
    return sequential(fn, n, names, modules);
}

/* ---- reaching a wrapped layer ------------------------------------------------------ */

void *tg_module_layer(tg_module *m, const char *kind_name)
{
    const char *fn = "tg_module_layer";
    if (check_module(fn, m))
        return NULL;
    if (!kind_name) {
        tg__fail(TG_ERR_NULL, fn, "kind name is NULL");
        return NULL;
    }
    const tg_module_kind *k = m->kind;
    if (strcmp(k->name, kind_name) != 0) {
        tg__fail(TG_ERR_VALUE, fn, "the module is a %s, not a %s", k->name, kind_name);
        return NULL;
    }
    if (k == &linear_kind)
        return &((linear_module *)m)->layer;
    if (k == &conv_kind)
        return &((conv_module *)m)->layer;
    if (k == &max_pool_kind || k == &avg_pool_kind)
        return &((pool_module *)m)->layer;
    if (k == &bn1_kind || k == &bn2_kind)
        return &((bn_module *)m)->layer;
    if (k == &ln_kind)
        return &((ln_module *)m)->layer;
    if (k == &dropout_kind)
        return &((dropout_module *)m)->layer;
    if (k == &embedding_kind)
        return ((embedding_module *)m)->weight;
    if (k == &quadratic_kind)
        return &((quadratic_module *)m)->layer;
    tg__fail(TG_ERR_VALUE, fn, "a %s module wraps no layer struct", k->name);
    return NULL;
}
