/* graph.c - what a tape recorded, for people to look at: Graphviz DOT
 * (tg_tape_write_dot, tg_tape_save_dot) and a text listing (tg_tape_print).
 *
 * The records are linked newest to oldest; both writers want them oldest
 * first (data-flow order), and want to name an input by the record that
 * made it. So the chain is copied once into an array (its index is the
 * record's number) and a hash table maps each record, and each leaf once
 * it has been seen, to its number: linear time and memory in the number of
 * records, whatever the graph's shape. Leaves are declared just before the
 * first record that uses them, so every edge joins declared nodes. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Values (and gradients) of tensors of at most this many elements are
 * written with TG_GRAPH_VALUES (TG_GRAPH_GRADS). */
#define SMALL TG_GRAPH_MAX_VALUES

/* ---- the map from records and leaves to their numbers ---------------------- */

enum { LEAF = 1 }; /* slot.kind: a leaf tensor (else a record) */

typedef struct slot {
    const void *key; /* a tg__node (record) or a tg_tensor (leaf); NULL: free */
    size_t id;
    int kind;
} slot;

typedef struct graph {
    const tg_tape *T;
    const char *fn;
    const tg__node **rec; /* (m,) oldest first */
    size_t m;
    unsigned char *keep;  /* (m,) the records root depends on; NULL: all */
    slot *tab;            /* (cap,) open addressing, cap a power of two */
    size_t cap, used;
    size_t leaves;        /* leaves numbered so far */
    size_t bytes_rec, bytes_keep;
} graph;

static size_t hash_ptr(const void *p, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)p * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 17) & (cap - 1);
}

static slot *find(const graph *g, const void *key)
{
    size_t i = hash_ptr(key, g->cap);
    while (g->tab[i].key && g->tab[i].key != key)
        i = (i + 1) & (g->cap - 1);
    return &g->tab[i];
}

/* Doubles the table when it is half full. */
static int grow(graph *g)
{
    if (2 * (g->used + 1) <= g->cap)
        return TG_OK;
    if (g->cap > SIZE_MAX / 2 / sizeof(slot))
        return tg__fail(TG_ERR_OVERFLOW, g->fn, "too many records to number");
    slot *old = g->tab;
    size_t ocap = g->cap;
    slot *tab = tg__alloc(2 * ocap * sizeof *tab);
    if (!tab)
        return tg__oom(g->fn);
    memset(tab, 0, 2 * ocap * sizeof *tab);
    g->tab = tab;
    g->cap = 2 * ocap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key)
            *find(g, old[i].key) = old[i];
    tg__dealloc(old, ocap * sizeof *old);
    return TG_OK;
}

static int insert(graph *g, const void *key, int kind, size_t id)
{
    int rc = grow(g);
    if (rc)
        return rc;
    slot *s = find(g, key);
    *s = (slot){key, id, kind};
    g->used++;
    return TG_OK;
}

/* The record that made x on this tape, as its number; false for a leaf
 * (caller-owned, or a tape result that was not recorded). */
static bool record_of(const graph *g, const tg_tensor *x, size_t *id)
{
    if (!(x->flags & TG__ARENA) || !x->node || x->tape_id != g->T->id)
        return false;
    const slot *s = find(g, x->node);
    if (!s->key || s->kind == LEAF)
        return false;
    *id = s->id;
    return true;
}

static int nin_of(const tg__node *n) { return n->nin; }

static tg_tensor *input(const tg__node *n, int i)
{
    return i < 2 ? n->in[i] : n->more->in[i - 2];
}

static void graph_free(graph *g)
{
    tg__dealloc(g->rec, g->bytes_rec);
    tg__dealloc(g->keep, g->bytes_keep);
    tg__dealloc(g->tab, g->cap * sizeof *g->tab);
}

/* Numbers T's records oldest first and, with root, marks those it depends
 * on. Returns TG_OK or an error (named after fn, everything freed). */
static int graph_build(graph *g, const tg_tape *T, const tg_tensor *root,
                       const char *fn)
{
    memset(g, 0, sizeof *g);
    g->T = T;
    g->fn = fn;
    for (const tg__node *n = T->last; n; n = n->prev)
        g->m++;
    if (g->m > SIZE_MAX / 4 / sizeof(slot))
        return tg__fail(TG_ERR_OVERFLOW, fn, "too many records to number");
    g->cap = 16;
    while (g->cap < 2 * (g->m + 8))
        g->cap *= 2;
    g->bytes_rec = (g->m ? g->m : 1) * sizeof *g->rec;
    g->rec = tg__alloc(g->bytes_rec);
    g->tab = g->rec ? tg__alloc(g->cap * sizeof *g->tab) : NULL;
    if (!g->tab) {
        tg__dealloc(g->rec, g->bytes_rec);
        return tg__oom(fn);
    }
    memset(g->tab, 0, g->cap * sizeof *g->tab);
    size_t i = g->m;
    for (const tg__node *n = T->last; n; n = n->prev) {
        g->rec[--i] = n;
        *find(g, n) = (slot){n, i, 0}; /* no growth: cap > 2 m */
        g->used++;
    }
    if (!root)
        return TG_OK;

    /* Only what root depends on: marked from root back to the oldest
     * record (inputs are always older than the record that reads them). */
    g->bytes_keep = g->m ? g->m : 1;
    g->keep = tg__alloc(g->bytes_keep);
    if (!g->keep) {
        graph_free(g);
        return tg__oom(fn);
    }
    memset(g->keep, 0, g->bytes_keep);
    size_t r;
    if (record_of(g, root, &r))
        g->keep[r] = 1;
    for (size_t k = g->m; k-- > 0;) {
        if (!g->keep[k])
            continue;
        for (int j = 0; j < nin_of(g->rec[k]); j++)
            if (record_of(g, input(g->rec[k], j), &r))
                g->keep[r] = 1;
    }
    return TG_OK;
}

/* ---- writing ------------------------------------------------------------------ */

typedef struct out {
    FILE *f;
    bool dot;       /* DOT (else the text listing) */
    unsigned flags;
} out;

/* A byte string as the inside of a DOT string ("..."): quotes and
 * backslashes escaped, '&' as an entity (Graphviz reads entities in
 * labels), line breaks as \n, other control bytes and bytes that are not
 * UTF-8 as '?'. For the terminal, control bytes as \xNN. */
static void put_escaped(const out *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c >= 0x80) { /* a whole UTF-8 sequence, or '?' */
            int len = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
            int k = 1;
            while (len && k < len && (p[k] & 0xC0) == 0x80)
                k++;
            if (len && k == len) {
                fwrite(p, 1, (size_t)len, o->f);
                p += len;
            } else {
                fputc('?', o->f);
                p++;
            }
            continue;
        }
        p++;
        if (!o->dot) {
            if (c < 0x20 || c == 0x7F)
                fprintf(o->f, "\\x%02x", c);
            else
                fputc((int)c, o->f);
        } else if (c == '"' || c == '\\') {
            fputc('\\', o->f);
            fputc((int)c, o->f);
        } else if (c == '&') {
            fputs("&amp;", o->f);
        } else if (c == '\n') {
            fputs("\\n", o->f);
        } else if (c < 0x20 || c == 0x7F) {
            fputc('?', o->f);
        } else {
            fputc((int)c, o->f);
        }
    }
}

/* Element k (C order) of t. */
static double element(const tg_tensor *t, int64_t k)
{
    int64_t pos = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        pos += (k % t->shape[d]) * t->strides[d];
        k /= t->shape[d];
    }
    return tg__load(t, pos);
}

/* " [1, 2.5, -3]" (a 0-d tensor: " 1.5"), %.6g; nothing past SMALL. */
static void put_values(const out *o, const char *what, const tg_tensor *t)
{
    if (t->numel > SMALL)
        return;
    fprintf(o->f, "%s%s ", o->dot ? "\\n" : "  ", what);
    if (t->ndim == 0) {
        fprintf(o->f, "%.6g", element(t, 0));
        return;
    }
    fputc('[', o->f);
    for (int64_t k = 0; k < t->numel; k++)
        fprintf(o->f, "%s%.6g", k ? ", " : "", element(t, k));
    fputc(']', o->f);
}

static void put_shape(const out *o, const tg_tensor *t)
{
    char buf[TG__SHAPE_BUF];
    fprintf(o->f, "%s %s", tg__shape_fmt(t->ndim, t->shape, buf, sizeof buf),
            tg_dtype_name(t->dtype));
}

/* How an input is named: "l3"/"r7" in DOT, "L3"/"#7" in the listing. */
static void put_ref(const out *o, int kind, size_t id)
{
    if (o->dot)
        fprintf(o->f, "%c%zu", kind == LEAF ? 'l' : 'r', id);
    else
        fprintf(o->f, kind == LEAF ? "L%zu" : "#%zu", id);
}

static void put_leaf(const out *o, const tg_tensor *t, size_t id)
{
    bool grad = t->requires_grad && !(t->flags & TG__ARENA);
    if (o->dot) {
        fprintf(o->f, "  l%zu [shape=ellipse, fillcolor=\"%s\", label=\"", id,
                grad ? "#dbe9f6" : "#eeeeee");
    } else {
        fprintf(o->f, "  L%zu  ", id);
    }
    if (t->name[0]) {
        put_escaped(o, t->name);
        fputs(o->dot ? "\\n" : "  ", o->f);
    }
    put_shape(o, t);
    if (!o->dot)
        fputs(grad ? "  leaf, requires grad"
                   : t->flags & TG__ARENA ? "  not recorded" : "  constant",
              o->f);
    else if (t->flags & TG__ARENA) /* a result of an op that did not record */
        fputs("\\nnot recorded", o->f);
    if (o->flags & TG_GRAPH_VALUES)
        put_values(o, "value", t);
    if ((o->flags & TG_GRAPH_GRADS) && t->grad)
        put_values(o, "grad", t->grad);
    fputs(o->dot ? "\"];\n" : "\n", o->f);
}

/* Whether the op takes a scalar operand (n->s): "mul_scalar". */
static bool has_scalar(const tg__node *n)
{
    size_t len = strlen(n->op->name);
    return len > 7 && strcmp(n->op->name + len - 7, "_scalar") == 0;
}

static void put_record(const graph *g, const out *o, size_t id,
                       const size_t *ids, const int *kinds)
{
    const tg__node *n = g->rec[id];
    const tg_tensor *t = n->out;
    if (o->dot) {
        fprintf(o->f, "  r%zu [label=\"", id);
        if (t->name[0]) {
            put_escaped(o, t->name);
            fputs(" = ", o->f);
        }
        put_escaped(o, n->op->name);
        if (has_scalar(n))
            fprintf(o->f, " %.6g", n->s);
        fputs("\\n", o->f);
        put_shape(o, t);
    } else {
        fprintf(o->f, "  #%zu  ", id);
        if (t->name[0]) {
            put_escaped(o, t->name);
            fputs(" = ", o->f);
        }
        put_escaped(o, n->op->name);
        fputc('(', o->f);
        for (int j = 0; j < nin_of(n); j++) {
            if (j)
                fputs(", ", o->f);
            put_ref(o, kinds[j], ids[j]);
        }
        if (has_scalar(n))
            fprintf(o->f, ", %.6g", n->s);
        fputs(")  ", o->f);
        put_shape(o, t);
    }
    if (o->flags & TG_GRAPH_VALUES)
        put_values(o, "value", t);
    /* the gradient the tape's last walk gave this result */
    if ((o->flags & TG_GRAPH_GRADS) && n->gout && n->walk == g->T->walks &&
        n->walk != 0)
        put_values(o, "grad", n->gout);
    if (!o->dot) {
        fputc('\n', o->f);
        return;
    }
    fputs("\"];\n", o->f);
    for (int j = 0; j < nin_of(n); j++) {
        fputs("  ", o->f);
        put_ref(o, kinds[j], ids[j]);
        fprintf(o->f, " -> r%zu", id);
        if (nin_of(n) > 1)
            fprintf(o->f, " [label=\"%d\"]", j + 1);
        fputs(";\n", o->f);
    }
}

/* Writes the records (all, or those root depends on) oldest first, each
 * preceded by the leaves it is the first to use. Stops at the first write
 * error (ferror), which the caller reports. */
static int emit(graph *g, const out *o, const tg_tensor *root)
{
    if (root && !root->node) { /* a leaf as its own graph */
        int rc = insert(g, root, LEAF, g->leaves++);
        if (rc == TG_OK)
            put_leaf(o, root, 0);
        return rc;
    }
    for (size_t i = 0; i < g->m && !ferror(o->f); i++) {
        if (g->keep && !g->keep[i])
            continue;
        const tg__node *n = g->rec[i];
        size_t ids[TGA_MAX_INPUTS];
        int kinds[TGA_MAX_INPUTS];
        for (int j = 0; j < nin_of(n); j++) {
            const tg_tensor *x = input(n, j);
            if (record_of(g, x, &ids[j])) {
                kinds[j] = 0;
                continue;
            }
            kinds[j] = LEAF;
            const slot *s = find(g, x);
            if (s->key) {
                ids[j] = s->id;
                continue;
            }
            ids[j] = g->leaves++;
            int rc = insert(g, x, LEAF, ids[j]);
            if (rc)
                return rc;
            put_leaf(o, x, ids[j]);
        }
        put_record(g, o, i, ids, kinds);
    }
    return TG_OK;
}

/* ---- the entry points ---------------------------------------------------------- */

static int check_args(const tg_tape *T, const tg_tensor *root, const void *f,
                      unsigned flags, const char *fn, const char *fname)
{
    if (!T || !f)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", T ? fname : "tape");
    if (tga__check_tape(T, fn))
        return TG_ERR_TAPE;
    if (flags & ~(unsigned)(TG_GRAPH_VALUES | TG_GRAPH_GRADS))
        return tg__fail(TG_ERR_VALUE, fn,
                        "unknown flags 0x%x (TG_GRAPH_VALUES and TG_GRAPH_GRADS "
                        "are the flags)", flags);
    if (root && (root->flags & TG__ARENA) && root->tape_id != T->id)
        return tg__fail(TG_ERR_TAPE, fn,
                        "root was made before the last reset or by another tape");
    return TG_OK;
}

/* The error for a stream that failed, errno as it was then. */
static int write_failed(const char *fn, int err)
{
    return tg__fail(TG_ERR_IO, fn, "writing the graph failed: %s",
                    err ? strerror(err) : "short write");
}

/* Flushes f and reports a write error seen on it; errno was cleared
 * before the writing began, so it holds the reason of a failed write. */
static int finish_stream(const char *fn, FILE *f)
{
    int err = errno;
    if (fflush(f) != 0)
        err = errno;
    return ferror(f) ? write_failed(fn, err) : TG_OK;
}

static int write_dot(const tg_tape *T, const tg_tensor *root, FILE *f,
                     unsigned flags, const char *fn)
{
    graph g;
    int rc = graph_build(&g, T, root, fn);
    if (rc)
        return rc;
    out o = {f, true, flags};
    errno = 0;
    fputs("digraph tape {\n"
          "  graph [rankdir=TB, fontname=\"Helvetica\", nodesep=0.3, ranksep=0.35];\n"
          "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", "
          "fontname=\"Helvetica\", fontsize=11];\n"
          "  edge [color=\"#555555\", fontname=\"Helvetica\", fontsize=9];\n",
          f);
    rc = emit(&g, &o, root);
    if (rc == TG_OK && root && root->node && !ferror(f)) { /* mark the root */
        size_t id;
        if (record_of(&g, root, &id))
            fprintf(f, "  r%zu [fillcolor=\"#fde4c8\", penwidth=2];\n", id);
    }
    fputs("}\n", f);
    graph_free(&g);
    return rc ? rc : finish_stream(fn, f);
}

int tg_tape_write_dot(const tg_tape *T, const tg_tensor *root, FILE *f,
                      unsigned flags)
{
    const char *fn = "tg_tape_write_dot";
    int rc = check_args(T, root, f, flags, fn, "FILE");
    return rc ? rc : write_dot(T, root, f, flags, fn);
}

int tg_tape_save_dot(const tg_tape *T, const tg_tensor *root, const char *path,
                     unsigned flags)
{
    const char *fn = "tg_tape_save_dot";
    int rc = check_args(T, root, path, flags, fn, "path");
    if (rc)
        return rc;
    FILE *f = fopen(path, "w");
    if (!f)
        return tg__fail(TG_ERR_IO, fn, "cannot open '%s' for writing: %s", path,
                        strerror(errno));
    rc = write_dot(T, root, f, flags, fn);
    errno = 0;
    if (fclose(f) != 0 && rc == TG_OK)
        rc = write_failed(fn, errno);
    return rc;
}

int tg_tape_print(const tg_tape *T, FILE *f)
{
    const char *fn = "tg_tape_print";
    int rc = check_args(T, NULL, f, 0, fn, "FILE");
    if (rc)
        return rc;
    graph g;
    rc = graph_build(&g, T, NULL, fn);
    if (rc)
        return rc;
    out o = {f, false, TG_GRAPH_VALUES | TG_GRAPH_GRADS};
    errno = 0;
    fprintf(f, "tape: %zu record%s, oldest first\n", g.m, g.m == 1 ? "" : "s");
    rc = emit(&g, &o, NULL);
    graph_free(&g);
    return rc ? rc : finish_stream(fn, f);
}
