/* test_graph.c - the pictures of a tape (autograd/graph.c): tg_tape_write_dot,
 * tg_tape_save_dot, tg_tape_print, and tg_set_name. Every DOT text written
 * here is read back by a small checker (balanced braces and quotes, only
 * the escapes DOT knows, every edge between declared nodes, one node per
 * record), and, when Graphviz's dot is installed, also given to dot. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- reading DOT back ------------------------------------------------------ */

typedef struct dot_info {
    long records, leaves, edges; /* node declarations r<N>, l<N>; edges */
    long restyled;               /* a second statement about a declared node */
    bool root_marked;            /* a node drawn as the root */
} dot_info;

/* The text of a whole stream (caller frees). */
static char *slurp(FILE *f)
{
    long len;
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    ck_assert_int_ge(len = ftell(f), 0);
    rewind(f);
    char *s = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(fread(s, 1, (size_t)len, f), (size_t)len);
    s[len] = '\0';
    return s;
}

/* An identifier "r12" or "l3" at *p: its kind and number; advances *p. */
static bool parse_id(const char **p, char *kind, long *num)
{
    const char *s = *p;
    if ((*s != 'r' && *s != 'l') || s[1] < '0' || s[1] > '9')
        return false;
    *kind = *s;
    char *end;
    *num = strtol(s + 1, &end, 10);
    *p = end;
    return true;
}

/* Checks a whole DOT text as tg_tape_write_dot writes it and counts what
 * is in it. n_max bounds the node numbers. */
static dot_info check_dot(const char *s, long n_max)
{
    dot_info info = {0};
    unsigned char *rec = calloc((size_t)n_max + 1, 1), *leaf = calloc((size_t)n_max + 1, 1);
    ck_assert(rec && leaf);
    ck_assert_msg(strncmp(s, "digraph tape {\n", 15) == 0, "header: %.40s", s);
    int depth = 0;
    bool in_string = false;
    for (const char *p = s; *p; p++) { /* quotes and braces balance */
        if (in_string) {
            if (*p == '\\') {
                ck_assert_msg(p[1] == '"' || p[1] == '\\' || p[1] == 'n',
                              "unknown escape \\%c", p[1]);
                p++;
            } else if (*p == '"') {
                in_string = false;
            } else {
                ck_assert_msg((unsigned char)*p >= 0x20, "control byte in a string");
            }
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}') {
            depth--;
            ck_assert_int_ge(depth, 0);
        }
    }
    ck_assert(!in_string);
    ck_assert_int_eq(depth, 0);
    size_t len = strlen(s);
    ck_assert_msg(len >= 2 && strcmp(s + len - 2, "}\n") == 0, "the graph is not closed");

    /* Statements, one a line between the header and the closing brace. */
    for (const char *line = strchr(s, '\n') + 1; *line && *line != '}';
         line = strchr(line, '\n') + 1) {
        ck_assert_msg(strncmp(line, "  ", 2) == 0, "line: %.40s", line);
        const char *p = line + 2;
        if (strncmp(p, "graph [", 7) == 0 || strncmp(p, "node [", 6) == 0 ||
            strncmp(p, "edge [", 6) == 0)
            continue;
        char k1, k2;
        long n1, n2;
        ck_assert_msg(parse_id(&p, &k1, &n1), "statement: %.60s", line);
        ck_assert_int_le(n1, n_max);
        unsigned char *seen1 = k1 == 'r' ? rec : leaf;
        if (strncmp(p, " -> ", 4) == 0) {
            p += 4;
            ck_assert_msg(parse_id(&p, &k2, &n2) && k2 == 'r', "edge: %.60s", line);
            ck_assert_int_le(n2, n_max);
            ck_assert_msg(seen1[n1], "edge from undeclared %c%ld", k1, n1);
            ck_assert_msg(rec[n2], "edge into undeclared r%ld", n2);
            ck_assert_msg(k1 == 'l' || n1 < n2, "edge r%ld -> r%ld against the data flow", n1, n2);
            info.edges++;
        } else {
            ck_assert_msg(strncmp(p, " [", 2) == 0, "statement: %.60s", line);
            if (seen1[n1]) {
                info.restyled++;
                info.root_marked |= strstr(p, "penwidth=2") != NULL;
            } else {
                seen1[n1] = 1;
                if (k1 == 'r')
                    info.records++;
                else
                    info.leaves++;
            }
        }
        ck_assert_msg(strstr(line, ";\n") != NULL, "statement without ';': %.60s", line);
    }
    free(rec);
    free(leaf);
    return info;
}

/* The DOT of T from root into memory (caller frees), checked. */
static char *dot_of(const tg_tape *T, const tg_tensor *root, unsigned flags,
                    dot_info *info)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_msg(tg_tape_write_dot(T, root, f, flags) == TG_OK, "%s", tg_last_message());
    char *s = slurp(f);
    fclose(f);
    *info = check_dot(s, (long)tg_tape_length(T) + 64);
    return s;
}

/* When Graphviz is installed, dot must accept the text. */
static void dot_accepts(const char *text)
{
    if (access("/usr/bin/dot", X_OK) != 0)
        return;
    FILE *p = popen("/usr/bin/dot -Tsvg -o /dev/null 2>&1", "w");
    ck_assert_ptr_nonnull(p);
    fputs(text, p);
    ck_assert_int_eq(pclose(p), 0);
}

/* ---- names ------------------------------------------------------------------- */

START_TEST(test_names)
{
    tg_tensor *w = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3));
    ck_assert_str_eq(tg_name(w), "");
    ck_assert_int_eq(tg_set_name(w, "w"), TG_OK);
    ck_assert_str_eq(tg_name(w), "w");
    ck_assert_int_eq(tg_set_name(w, tg_name(w)), TG_OK); /* itself */
    ck_assert_str_eq(tg_name(w), "w");

    char longest[TG_NAME_MAX], too_long[TG_NAME_MAX + 1];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memset(too_long, 'b', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    ck_assert_int_eq(tg_set_name(w, longest), TG_OK);
    ck_assert_str_eq(tg_name(w), longest);
    ck_assert_int_eq(tg_set_name(w, too_long), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_set_name: name of 32 bytes is too long; at most 31 fit");
    ck_assert_str_eq(tg_name(w), longest); /* kept */

    tg_tensor *v = tg_reshape(w, TG_SHAPE(3, 2)); /* views start unnamed */
    ck_assert_str_eq(tg_name(v), "");
    tg_tensor *c = tg_clone(w);
    ck_assert_str_eq(tg_name(c), "");
    ck_assert_int_eq(tg_set_name(w, NULL), TG_OK);
    ck_assert_str_eq(tg_name(w), "");
    ck_assert_int_eq(tg_set_name(NULL, "x"), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_set_name: tensor is NULL");
    ck_assert_str_eq(tg_name(NULL), "");

    /* tape results can be named; a tape view of a named one is not */
    tg_requires_grad(w, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *s = tg_ad_mul_scalar(T, w, 2.0);
    ck_assert_int_eq(tg_set_name(s, "s"), TG_OK);
    ck_assert_str_eq(tg_name(tg_ad_reshape(T, s, TG_SHAPE(6))), "");
    tg_tape_free(T);
    tg_free(v);
    tg_free(c);
    tg_free(w);
}
END_TEST

/* ---- the chapter's step --------------------------------------------------------- */

/* loss = sum(0.5 (w x^2 + b - y)^2) as chapter_autograd records it; an
 * extra record that the loss does not depend on. */
typedef struct chapter {
    tg_tensor *x, *y, *w, *b, *loss, *other;
    tg_tape *T;
} chapter;

static void chapter_make(chapter *c)
{
    c->x = tg_linspace(TG_FLOAT64, -1.0, 1.0, 5);
    c->y = tg_full(TG_FLOAT64, TG_SHAPE(5), 3.0);
    c->w = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.5);
    c->b = tg_full(TG_FLOAT64, TG_SHAPE(1), 0.25);
    tg_requires_grad(c->w, true);
    tg_requires_grad(c->b, true);
    tg_set_name(c->w, "w");
    tg_set_name(c->b, "b");
    tg_set_name(c->y, "y");
    tg_tape *T = c->T = tg_tape_new();
    tg_tensor *x2 = tg_ad_pow_scalar(T, c->x, 2.0); /* not recorded */
    tg_set_name(x2, "x2");
    tg_tensor *err = tg_ad_sub(T, tg_ad_add(T, tg_ad_mul(T, x2, c->w), c->b), c->y);
    c->other = tg_ad_exp(T, c->w); /* not on the loss's path */
    c->loss = tg_ad_sum(T, tg_ad_mul_scalar(T, tg_ad_pow_scalar(T, err, 2.0), 0.5));
    tg_set_name(c->loss, "loss");
    ck_assert_ptr_nonnull(c->loss);
    ck_assert_uint_eq(tg_tape_length(T), 7);
}

static void chapter_free(chapter *c)
{
    tg_tape_free(c->T);
    tg_free(c->x);
    tg_free(c->y);
    tg_free(c->w);
    tg_free(c->b);
}

START_TEST(test_chapter_step)
{
    chapter c;
    chapter_make(&c);
    dot_info info;
    char *s = dot_of(c.T, NULL, 0, &info); /* the whole tape */
    ck_assert_int_eq(info.records, 7);
    ck_assert_int_eq(info.leaves, 4); /* x2 (not recorded), w, b, y */
    ck_assert_int_eq(info.edges, 10);
    ck_assert(!info.root_marked);
    ck_assert_ptr_nonnull(strstr(s, "label=\"mul_scalar 0.5\\n(5,) float64\""));
    ck_assert_ptr_nonnull(strstr(s, "label=\"exp\\n(1,) float64\""));
    ck_assert_ptr_nonnull(strstr(s, "label=\"x2\\n(5,) float64\\nnot recorded\""));
    ck_assert_ptr_null(strstr(s, "value")); /* no flags, no values */
    dot_accepts(s);
    free(s);

    /* From the loss: exp is left out, the root is marked; values of the
     * small tensors, and after backward the gradients. */
    ck_assert_int_eq(tg_backward(c.T, c.loss), TG_OK);
    s = dot_of(c.T, c.loss, TG_GRAPH_VALUES | TG_GRAPH_GRADS, &info);
    ck_assert_int_eq(info.records, 6);
    ck_assert_int_eq(info.leaves, 4);
    ck_assert_int_eq(info.edges, 9);
    ck_assert(info.root_marked);
    ck_assert_ptr_null(strstr(s, "exp"));
    /* the analytic gradients: e = w x^2 + b - y, dL/dw = sum(e x^2), dL/db = sum(e) */
    double gw = 0, gb = 0;
    for (int i = 0; i < 5; i++) {
        double x = -1.0 + 0.5 * i, e = 0.5 * x * x + 0.25 - 3.0;
        gw += e * x * x;
        gb += e;
    }
    char want[128];
    snprintf(want, sizeof want, "w\\n(1,) float64\\nvalue [0.5]\\ngrad [%.6g]\"", gw);
    ck_assert_msg(strstr(s, want) != NULL, "%s not in\n%s", want, s);
    snprintf(want, sizeof want, "b\\n(1,) float64\\nvalue [0.25]\\ngrad [%.6g]\"", gb);
    ck_assert_msg(strstr(s, want) != NULL, "%s not in\n%s", want, s);
    ck_assert_ptr_nonnull(strstr(s, "loss = sum\\n() float64\\nvalue "));
    ck_assert_ptr_nonnull(strstr(s, "\\ngrad 1\""));      /* the seed */
    ck_assert_ptr_nonnull(strstr(s, "label=\"1\"")); /* numbered inputs */
    ck_assert_ptr_nonnull(strstr(s, "label=\"2\""));
    dot_accepts(s);
    free(s);

    /* A leaf as root: the leaf alone. */
    s = dot_of(c.T, c.w, TG_GRAPH_VALUES, &info);
    ck_assert_int_eq(info.records, 0);
    ck_assert_int_eq(info.leaves, 1);
    free(s);
    chapter_free(&c);
}
END_TEST

START_TEST(test_print)
{
    chapter c;
    chapter_make(&c);
    ck_assert_int_eq(tg_backward(c.T, c.loss), TG_OK);
    FILE *f = tmpfile();
    ck_assert_int_eq(tg_tape_print(c.T, f), TG_OK);
    char *s = slurp(f);
    fclose(f);
    const char *want[] = {
        "tape: 7 records, oldest first\n",
        "  L0  x2  (5,) float64  not recorded  value [1, 0.25, 0, 0.25, 1]\n",
        "  L1  w  (1,) float64  leaf, requires grad  value [0.5]  grad [",
        "  #0  mul(L0, L1)  (5,) float64  value [0.5, 0.125, 0, 0.125, 0.5]  grad [",
        "  L2  b  (1,) float64  leaf, requires grad  value [0.25]  grad [",
        "  #1  add(#0, L2)  (5,) float64",
        "  L3  y  (5,) float64  constant  value [3, 3, 3, 3, 3]\n",
        "  #2  sub(#1, L3)  (5,) float64",
        "  #3  exp(L1)  (1,) float64  value [1.64872]\n", /* no walk reached it */
        "  #4  pow_scalar(#2, 2)  (5,) float64",
        "  #5  mul_scalar(#4, 0.5)  (5,) float64",
        "  #6  loss = sum(#5)  () float64  value ",
    };
    const char *at = s;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *hit = strstr(at, want[i]);
        ck_assert_msg(hit != NULL, "\"%s\" not in order in\n%s", want[i], s);
        at = hit + 1;
    }
    free(s);
    chapter_free(&c);
}
END_TEST

/* ---- escaping ------------------------------------------------------------------- */

START_TEST(test_escaping)
{
    tg_tensor *w = tg_ones(TG_FLOAT64, TG_SHAPE(2));
    tg_requires_grad(w, true);
    /* a quote, a backslash, a line break, an entity, a tab, a byte that is
     * not UTF-8, and a real UTF-8 letter */
    ck_assert_int_eq(tg_set_name(w, "a\"b\\c\nd&lt;\t\xff\xc3\xa9}"), TG_OK);
    tg_tape *T = tg_tape_new();
    tg_tensor *s = tg_ad_sum(T, w);
    ck_assert_int_eq(tg_set_name(s, "{\"}"), TG_OK);
    dot_info info;
    char *d = dot_of(T, s, 0, &info);
    ck_assert_int_eq(info.records, 1);
    ck_assert_int_eq(info.leaves, 1);
    ck_assert_ptr_nonnull(strstr(d, "label=\"a\\\"b\\\\c\\nd&amp;lt;??\xc3\xa9}\\n(2,) float64\""));
    ck_assert_ptr_nonnull(strstr(d, "label=\"{\\\"} = sum\\n"));
    dot_accepts(d);
    free(d);

    FILE *f = tmpfile();
    ck_assert_int_eq(tg_tape_print(T, f), TG_OK);
    d = slurp(f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(d, "L0  a\"b\\c\\x0ad&lt;\\x09?\xc3\xa9}  (2,) float64"));
    free(d);
    tg_tape_free(T);
    tg_free(w);
}
END_TEST

/* ---- shapes of tapes ---------------------------------------------------------------- */

START_TEST(test_zero_size)
{
    tg_tensor *a = tg_zeros(TG_FLOAT32, TG_SHAPE(0, 3));
    tg_requires_grad(a, true);
    tg_set_name(a, "empty");
    tg_tape *T = tg_tape_new();
    tg_tensor *e = tg_ad_exp(T, a);
    tg_tensor *s = tg_ad_sum(T, e);
    ck_assert_int_eq(tg_backward(T, s), TG_OK);
    dot_info info;
    char *d = dot_of(T, s, TG_GRAPH_VALUES | TG_GRAPH_GRADS, &info);
    ck_assert_int_eq(info.records, 2);
    ck_assert_ptr_nonnull(strstr(d, "empty\\n(0,3) float32\\nvalue []\\ngrad []\""));
    ck_assert_ptr_nonnull(strstr(d, "exp\\n(0,3) float32\\nvalue []\\ngrad []\""));
    ck_assert_ptr_nonnull(strstr(d, "sum\\n() float32\\nvalue 0\\ngrad 1\""));
    dot_accepts(d);
    free(d);
    tg_tape_free(T);

    T = tg_tape_new(); /* an empty tape */
    d = dot_of(T, NULL, 0, &info);
    ck_assert_int_eq(info.records + info.leaves + info.edges, 0);
    free(d);
    FILE *f = tmpfile();
    ck_assert_int_eq(tg_tape_print(T, f), TG_OK);
    d = slurp(f);
    fclose(f);
    ck_assert_str_eq(d, "tape: 0 records, oldest first\n");
    free(d);
    tg_tape_free(T);
    tg_free(a);
}
END_TEST

/* d/dx of sum(x^3) recorded (create_graph), then differentiated again:
 * the records of the first backward read results of the forward. */
START_TEST(test_second_order)
{
    tg_tensor *x = tg_full(TG_FLOAT64, TG_SHAPE(3), 2.0);
    tg_requires_grad(x, true);
    tg_set_name(x, "x");
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_ad_sum(T, tg_ad_pow_scalar(T, x, 3.0));
    size_t forward = tg_tape_length(T);
    tg_tensor *g = NULL;
    ck_assert_int_eq(tg_ad_grad(T, y, NULL, 1, &x, &g, true), TG_OK);
    ck_assert_uint_gt(tg_tape_length(T), forward); /* the backward recorded */
    tg_tensor *gg = tg_ad_sum(T, g);
    tg_set_name(gg, "sum dy/dx");
    ck_assert_int_eq(tg_backward(T, gg), TG_OK); /* x.grad = 6 x = 12 */
    dot_info info;
    char *d = dot_of(T, NULL, TG_GRAPH_VALUES | TG_GRAPH_GRADS, &info);
    ck_assert_int_eq(info.records, (long)tg_tape_length(T));
    /* x, and the seed of the first backward (ones, made by the walk) */
    ck_assert_int_eq(info.leaves, 2);
    ck_assert_ptr_nonnull(strstr(d, "(3,) float64\\nnot recorded\\nvalue [1, 1, 1]\""));
    ck_assert_ptr_nonnull(strstr(d, "x\\n(3,) float64\\nvalue [2, 2, 2]\\ngrad [12, 12, 12]\""));
    ck_assert_ptr_nonnull(strstr(d, "sum dy/dx = sum\\n() float64\\nvalue 36\\ngrad 1\""));
    dot_accepts(d);
    free(d);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

static int fma_fwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out, void *ctx)
{
    (void)T;
    (void)n;
    (void)ctx;
    int rc = tg_binary_into(TG_MUL, out, in[0], in[1]);
    return rc ? rc : tg_axpy_into(out, 1.0, in[2]);
}

static int fma_bwd(tg_tape *T, int n, tg_tensor *const *in, tg_tensor *out,
                   tg_tensor *dout, tg_tensor **din, void *ctx)
{
    (void)n;
    (void)out;
    (void)ctx;
    for (int i = 0; i < 3; i++) {
        if (!tg_requires_grad_of(in[i]))
            continue;
        din[i] = i == 2 ? dout : tg_ad_mul(T, dout, in[1 - i]);
        if (!din[i])
            return tg_last_error();
    }
    return TG_OK;
}

static const tg_custom_op op_fma = {"fma", fma_fwd, fma_bwd, NULL, 0};

START_TEST(test_custom_op)
{
    tg_tensor *in[3];
    const char *names[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        in[i] = tg_full(TG_FLOAT64, TG_SHAPE(2), i + 1.0);
        tg_requires_grad(in[i], true);
        tg_set_name(in[i], names[i]);
    }
    tg_tape *T = tg_tape_new();
    tg_tensor *r = tg_ad_sum(T, tg_ad_custom(T, &op_fma, 3, in, NULL));
    ck_assert_int_eq(tg_backward(T, r), TG_OK);
    dot_info info;
    char *d = dot_of(T, r, TG_GRAPH_VALUES | TG_GRAPH_GRADS, &info);
    ck_assert_int_eq(info.records, 2);
    ck_assert_int_eq(info.leaves, 3);
    ck_assert_int_eq(info.edges, 4);
    ck_assert_ptr_nonnull(strstr(d, "r0 [label=\"fma\\n(2,) float64\\nvalue [5, 5]\\ngrad [1, 1]\"]"));
    ck_assert_ptr_nonnull(strstr(d, "l2 -> r0 [label=\"3\"]"));
    ck_assert_ptr_nonnull(strstr(d, "a\\n(2,) float64\\nvalue [1, 1]\\ngrad [2, 2]\""));
    dot_accepts(d);
    free(d);
    FILE *f = tmpfile();
    ck_assert_int_eq(tg_tape_print(T, f), TG_OK);
    d = slurp(f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(d, "  #0  fma(L0, L1, L2)  (2,) float64"));
    free(d);
    tg_tape_free(T);
    for (int i = 0; i < 3; i++)
        tg_free(in[i]);
}
END_TEST

/* 100,000 records: written whole, with a fixed number of allocations (the
 * record array, the table and its doublings: none per record). */
START_TEST(test_long_tape)
{
    enum { N = 100000 };
    tg_tensor *x = tg_ones(TG_FLOAT64, TG_SHAPE(1));
    tg_requires_grad(x, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *t = x;
    for (int i = 0; i < N && t; i++)
        t = tg_ad_add_scalar(T, t, 1.0);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(tg_tape_length(T), N);
    FILE *f = tmpfile();
    long before = tgt_stats.calls;
    ck_assert_int_eq(tg_tape_write_dot(T, t, f, TG_GRAPH_VALUES), TG_OK);
    ck_assert_int_le(tgt_stats.calls - before, 4);
    char *d = slurp(f);
    fclose(f);
    dot_info info = check_dot(d, N);
    ck_assert_int_eq(info.records, N);
    ck_assert_int_eq(info.leaves, 1);
    ck_assert_int_eq(info.edges, N);
    ck_assert_ptr_nonnull(strstr(d, "r99999 [label=\"add_scalar 1\\n(1,) float64\\nvalue [100001]\"]"));
    free(d);

    f = tmpfile();
    before = tgt_stats.calls;
    ck_assert_int_eq(tg_tape_print(T, f), TG_OK);
    ck_assert_int_le(tgt_stats.calls - before, 4);
    d = slurp(f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(d, "  #99999  add_scalar(#99998, 1)  (1,) float64  value [100001]\n"));
    free(d);
    tg_tape_free(T);
    tg_free(x);
}
END_TEST

/* ---- failures ------------------------------------------------------------------------ */

START_TEST(test_bad_arguments)
{
    chapter c;
    chapter_make(&c);
    FILE *f = tmpfile();
    ck_assert_int_eq(tg_tape_write_dot(NULL, NULL, f, 0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_tape_write_dot: tape is NULL");
    ck_assert_int_eq(tg_tape_write_dot(c.T, NULL, NULL, 0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_tape_write_dot: FILE is NULL");
    ck_assert_int_eq(tg_tape_save_dot(c.T, NULL, NULL, 0), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_tape_save_dot: path is NULL");
    ck_assert_int_eq(tg_tape_print(NULL, f), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_tape_print: tape is NULL");
    ck_assert_int_eq(tg_tape_print(c.T, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_tape_print: FILE is NULL");
    ck_assert_int_eq(tg_tape_write_dot(c.T, NULL, f, 4), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_tape_write_dot: unknown flags 0x4");

    static uint64_t junk[64]; /* not a live tape */
    const tg_tape *dead = (const tg_tape *)(void *)junk;
    ck_assert_int_eq(tg_tape_write_dot(dead, NULL, f, 0), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_tape_write_dot: tape is not a live tape");
    ck_assert_int_eq(tg_tape_save_dot(dead, NULL, "/dev/null", 0), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_tape_save_dot: tape is not a live tape");
    ck_assert_int_eq(tg_tape_print(dead, f), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_tape_print: tape is not a live tape");

    /* a root of another tape, or from before the reset */
    tg_tape *U = tg_tape_new();
    tg_tensor *u = tg_ad_exp(U, c.w);
    ck_assert_int_eq(tg_tape_write_dot(c.T, u, f, 0), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_tape_write_dot: root was made before the last "
                                "reset or by another tape");
    tg_tape_reset(c.T);
    ck_assert_int_eq(tg_tape_write_dot(c.T, c.loss, f, 0), TG_ERR_TAPE);
    ck_assert_int_eq(tg_tape_save_dot(c.T, c.loss, "/dev/null", 0), TG_ERR_TAPE);
    TGT_ASSERT_ERR(TG_ERR_TAPE, "tg_tape_save_dot: root was made before");
    ck_assert_int_eq(tg_tape_save_dot(c.T, NULL, "/nonexistent-dir/g.dot", 0), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_tape_save_dot: cannot open '/nonexistent-dir/g.dot' "
                              "for writing: No such file or directory");
    tg_tape_free(U);
    fclose(f);
    chapter_free(&c);
}
END_TEST

START_TEST(test_write_failure)
{
    chapter c;
    chapter_make(&c);
    FILE *f = fopen("/dev/full", "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(tg_tape_write_dot(c.T, c.loss, f, TG_GRAPH_VALUES), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_tape_write_dot: writing the graph failed: "
                              "No space left on device");
    fclose(f);
    f = fopen("/dev/full", "w");
    ck_assert_int_eq(tg_tape_print(c.T, f), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_tape_print: writing the graph failed: "
                              "No space left on device");
    fclose(f);
    ck_assert_int_eq(tg_tape_save_dot(c.T, NULL, "/dev/full", 0), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_tape_save_dot: writing the graph failed: "
                              "No space left on device");
    f = tmpfile(); /* a stream open for reading only */
    FILE *r = fopen("/dev/null", "r");
    ck_assert_int_eq(tg_tape_write_dot(c.T, NULL, r, 0), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_tape_write_dot: writing the graph failed");
    fclose(r);
    fclose(f);

    /* a graph saved to a file reads back whole */
    char path[] = "/tmp/tg_graph_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(tg_tape_save_dot(c.T, c.loss, path, 0), TG_OK);
    f = fopen(path, "r");
    char *d = slurp(f);
    fclose(f);
    remove(path);
    ck_assert_int_eq(check_dot(d, 64).records, 6);
    free(d);
    chapter_free(&c);
}
END_TEST

/* Every allocation of the writers fails in turn: TG_ERR_NOMEM under the
 * writer's name, nothing leaked, nothing but the header written. A tape
 * with more leaves than records makes the table grow. */
START_TEST(test_allocation_failures)
{
    enum { K = 40 };
    tg_tensor *w = tg_ones(TG_FLOAT64, TG_SHAPE(1));
    tg_tensor *cs[K];
    tg_requires_grad(w, true);
    tg_tape *T = tg_tape_new();
    tg_tensor *acc = w;
    for (int i = 0; i < K; i++) {
        cs[i] = tg_full(TG_FLOAT64, TG_SHAPE(1), i);
        acc = tg_ad_add(T, acc, cs[i]);
    }
    ck_assert_ptr_nonnull(acc);
    for (int which = 0; which < 2; which++) {
        const char *name = which ? "tg_tape_print" : "tg_tape_write_dot";
        long k = 1;
        for (;; k++) {
            FILE *f = tmpfile();
            long live = tgt_stats.live_blocks;
            tg_clear_error();
            tgt_stats.calls = 0;
            tgt_stats.fail_at = k;
            int rc = which ? tg_tape_print(T, f) : tg_tape_write_dot(T, acc, f, 0);
            tgt_stats.fail_at = 0;
            ck_assert_int_eq(tgt_stats.live_blocks, live);
            fclose(f);
            if (rc == TG_OK)
                break;
            ck_assert_int_eq(rc, TG_ERR_NOMEM);
            TGT_ASSERT_ERR(TG_ERR_NOMEM, name);
            ck_assert_int_lt(k, 32);
        }
        ck_assert_int_ge(k, 4); /* the array, the table, at least one doubling */
    }
    tg_tape_free(T);
    for (int i = 0; i < K; i++)
        tg_free(cs[i]);
    tg_free(w);
}
END_TEST

Suite *test_graph_suite(void); /* called by the generated runner */
Suite *test_graph_suite(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tgt_tcase("names");
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("dot");
    tcase_add_test(tc, test_chapter_step);
    tcase_add_test(tc, test_print);
    tcase_add_test(tc, test_escaping);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("tapes");
    tcase_add_test(tc, test_zero_size);
    tcase_add_test(tc, test_second_order);
    tcase_add_test(tc, test_custom_op);
    tcase_add_test(tc, test_long_tape);
    /* 100,000 records built, written and read back twice: seconds of CPU
     * under the sanitizers, more wall time on a busy machine (it once
     * passed the 120 s default at a load average of 22) */
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("failures");
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_write_failure);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
