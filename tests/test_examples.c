/* test_examples.c - runs the five chapter examples (and chapter_replay,
 * stage 5's step captured and replayed) as programs and checks
 * what they print against NumPy (tests/data/chapter_reference.txt), against
 * each other, the figures they write and how they refuse bad flags; then
 * fashion_mnist on small IDX data sets written here, and every way such a
 * data set or its command line can be wrong; then fashion_cnn, the same
 * program around a convolutional net, on the same small data. The figures
 * of both are read back: well-formed XML, their labels, and a point per
 * epoch where the printed numbers put it. Last logistic, the tutorial's
 * step past the chapter: its output (the one docs/tutorial.md shows), its
 * flags, its tape, and the tutorial's code blocks found in the examples.
 *
 * The binaries are in $TG_BUILD/examples (make check sets TG_BUILD and
 * builds them first). Each run gets its stdout and stderr in temporary
 * files (or stdout on /dev/full, to see a lost output reported) and the
 * figures in a fresh directory under /tmp. */
#include "helpers.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef TG_HAVE_ZLIB
#include <zlib.h>
#endif

static const char *const examples[] = {
    "chapter_arrays", "chapter_tensor", "chapter_autograd", "chapter_nn",
    "chapter_optim", "chapter_replay",
};
enum { NEXAMPLES = sizeof examples / sizeof examples[0] };

#define REL_TOL 1e-12

/* Asserts |got - want| <= REL_TOL * |want|. */
#define ASSERT_REL(got, want, what)                                           \
    do {                                                                      \
        double g_ = (got), w_ = (want);                                       \
        ck_assert_msg(fabs(g_ - w_) <= REL_TOL * fabs(w_),                    \
                      "%s: got %.17g, want %.17g (relative diff %.3g)",       \
                      (what), g_, w_, fabs(g_ - w_) / fabs(w_));              \
    } while (0)

/* Asserts |got - want| <= tol * |want|. */
#define ASSERT_REL_TOL(got, want, tol)                                        \
    do {                                                                      \
        double g_ = (got), w_ = (want);                                       \
        ck_assert_msg(fabs(g_ - w_) <= (tol) * fabs(w_),                      \
                      "%s: got %.17g, want %.17g", #got, g_, w_);             \
    } while (0)

/* ---- parsing the output -------------------------------------------------------- */

typedef struct chapter_result {
    double w0, b0;      /* the init line */
    double w, b, loss;  /* the final line */
} chapter_result;

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The first line must be "init w=.. b=.." and the last "w=.. b=.. loss=..". */
static void parse_output(const char *out, chapter_result *c)
{
    int used = 0;
    ck_assert_msg(sscanf(out, "init w=%lf b=%lf\n%n", &c->w0, &c->b0, &used) == 2 &&
                      used > 0,
                  "first line is not \"init w=.. b=..\": %s", out);
    size_t len = strlen(out);
    ck_assert_msg(len > 0 && out[len - 1] == '\n', "output does not end a line: %s", out);
    const char *last = out + len - 1;
    while (last > out && last[-1] != '\n')
        last--;
    int n = sscanf(last, "w=%lf b=%lf loss=%lf\n", &c->w, &c->b, &c->loss);
    ck_assert_msg(n == 3, "last line is not \"w=.. b=.. loss=..\": %s", last);
}

/* Reads tests/data/chapter_reference.txt, the NumPy listing's two lines. */
static void read_reference(chapter_result *ref)
{
    FILE *f = fopen(tgt_data("chapter_reference.txt"), "r");
    ck_assert_msg(f != NULL, "cannot open %s", tgt_data("chapter_reference.txt"));
    char text[512];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    parse_output(text, ref);
}

/* ---- temporary directories ------------------------------------------------------ */

static void make_tmpdir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/tg_examples_XXXXXX");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp failed");
}

static void remove_in(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    remove(path);
}

/* Removes the figures the examples wrote into dir, then dir. */
static void remove_tmpdir(const char *dir)
{
    for (int i = 0; i < NEXAMPLES; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s.svg", examples[i]);
        remove_in(dir, name);
        snprintf(name, sizeof name, "%s_loss.svg", examples[i]);
        remove_in(dir, name);
    }
    remove_in(dir, "fig");
    remove_in(dir, "fig_loss.svg");
    ck_assert_msg(rmdir(dir) == 0, "%s is not empty", dir);
}

/* The whole of a small file as a string (caller frees). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s was not written", path);
    char *buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- the chapter's run ------------------------------------------------------------- */

/* --quiet prints exactly the two lines, and they are NumPy's. */
START_TEST(test_quiet_matches_numpy)
{
    chapter_result ref, c;
    read_reference(&ref);
    char dir[64], plot[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(plot, sizeof plot, "%s/%s.svg", dir, examples[_i]);
    tgt_run *r = tgt_new_run();
    tgt_run_example(examples[_i], (const char *const[]){"--quiet", "--plot", plot, NULL}, NULL, r);
    ck_assert_msg(r->status == 0, "%s exited with %d: %s", examples[_i], r->status,
                  r->err);
    ck_assert_str_eq(r->err, "");
    ck_assert_int_eq(count_lines(r->out), 2);
    parse_output(r->out, &c);
    ASSERT_REL(c.w0, ref.w0, "init w");
    ASSERT_REL(c.b0, ref.b0, "init b");
    ASSERT_REL(c.w, ref.w, "final w");
    ASSERT_REL(c.b, ref.b, "final b");
    ASSERT_REL(c.loss, ref.loss, "final loss");
    free(r);
    remove_tmpdir(dir);
}
END_TEST

/* With the default flags (only the figure moved to /tmp) the stages
 * print the same numbers; the chatty lines sit between init and final, and
 * the figures are where the output says. */
START_TEST(test_default_run_all_agree)
{
    chapter_result ref, c[NEXAMPLES];
    read_reference(&ref);
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    tgt_run *r = tgt_new_run();
    for (int i = 0; i < NEXAMPLES; i++) {
        char plot[128], line[160];
        snprintf(plot, sizeof plot, "%s/%s.svg", dir, examples[i]);
        tgt_run_example(examples[i], (const char *const[]){"--plot", plot, NULL}, NULL, r);
        ck_assert_msg(r->status == 0, "%s exited with %d: %s", examples[i],
                      r->status, r->err);
        ck_assert_int_gt(count_lines(r->out), 2);
        parse_output(r->out, &c[i]);
        snprintf(line, sizeof line, "\nfigure: %s\n", plot);
        ck_assert_msg(strstr(r->out, line) != NULL, "%s: no \"%s\" in %s",
                      examples[i], line + 1, r->out);
        ck_assert_msg(strstr(r->out, "\nstep  100  loss ") != NULL,
                      "%s: no progress line in %s", examples[i], r->out);
    }
    for (int i = 0; i < NEXAMPLES; i++) {
        ASSERT_REL(c[i].w, c[0].w, examples[i]);
        ASSERT_REL(c[i].b, c[0].b, examples[i]);
        ASSERT_REL(c[i].loss, c[0].loss, examples[i]);
        ASSERT_REL(c[i].w, ref.w, examples[i]);
        ASSERT_REL(c[i].loss, ref.loss, examples[i]);
    }
    free(r);
    remove_tmpdir(dir);
}
END_TEST

/* ---- the flags --------------------------------------------------------------------- */

/* Other data and step size, checked against NumPy: the listing rerun with
 *   seed 7, n 10, lr 0.05, 50 steps (and 0 steps)
 * prints these lines (numpy 1.24, /usr/bin/python3). */
START_TEST(test_flags_change_the_run)
{
    const chapter_result want = {0.67922999612094048, 0.80373903610437547,
                                 2.8444368237278428, 2.1650424208716483,
                                 0.017310791066788879};
    char dir[64], plot[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(plot, sizeof plot, "%s/%s.svg", dir, examples[_i]);
    tgt_run *r = tgt_new_run();
    chapter_result c;

    tgt_run_example(examples[_i],
                    (const char *const[]){"--seed", "7", "--n=10", "--lr", "0.05",
                                          "--iters", "50", "--quiet", "--plot", plot, NULL},
                    NULL, r);
    ck_assert_msg(r->status == 0, "%s: %s", examples[_i], r->err);
    parse_output(r->out, &c);
    ASSERT_REL(c.w0, want.w0, "init w");
    ASSERT_REL(c.b0, want.b0, "init b");
    ASSERT_REL(c.w, want.w, "final w");
    ASSERT_REL(c.b, want.b, "final b");
    ASSERT_REL(c.loss, want.loss, "final loss");

    /* No steps: the parameters stay, and no forward pass gives loss nan. */
    tgt_run_example(examples[_i],
                    (const char *const[]){"--seed", "7", "--n", "10", "--iters", "0",
                                          "--quiet", "--plot", plot, NULL},
                    NULL, r);
    ck_assert_msg(r->status == 0, "%s: %s", examples[_i], r->err);
    ck_assert_int_eq(count_lines(r->out), 2);
    parse_output(r->out, &c);
    ck_assert_double_eq(c.w, want.w0);
    ck_assert_double_eq(c.b, want.b0);
    ck_assert_msg(isnan(c.loss), "loss %g after no steps", c.loss);
    free(r);
    remove_tmpdir(dir);
}
END_TEST

/* Every malformed command line: exit status 2, the usage text on stderr,
 * nothing on stdout. */
START_TEST(test_bad_flags)
{
    static const char *const bad[][4] = {
        {"--bogus", NULL},          {"--iters", NULL},
        {"--iters", "abc", NULL},   {"--iters", "-1", NULL},
        {"--iters", "5x", NULL},    {"--iters", "", NULL},
        {"--iters", " 5", NULL},    {"--iters", "99999999999999999999", NULL},
        {"--n", "1", NULL},         {"--n", "0", NULL},
        {"--n", "1.5", NULL},       {"--lr", "abc", NULL},
        {"--lr", "0", NULL},        {"--lr", "-0.1", NULL},
        {"--lr", "nan", NULL},      {"--lr", "inf", NULL},
        {"--lr", "1e999", NULL},    {"--lr", "0.1x", NULL},
        {"--seed", "-1", NULL},     {"--seed", "4294967296", NULL},
        {"--plot", NULL},           {"--plot=", NULL},
        {"--iters", "--quiet", NULL}, {"stray", NULL},
        {"-x", NULL},
        /* A value that is a flag, in either form: the value was forgotten. */
        {"--plot", "--quiet", NULL}, {"--plot=--quiet", NULL},
        {"--plot=--fig.svg", NULL},  {"--lr=--1", NULL},
        {"--seed=--5", NULL},
    };
    tgt_run *r = tgt_new_run();
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tgt_run_example(examples[_i], bad[k], NULL, r);
        ck_assert_msg(r->status == 2, "%s %s %s: exit %d, want 2", examples[_i],
                      bad[k][0], bad[k][1] ? bad[k][1] : "", r->status);
        ck_assert_msg(strstr(r->err, "usage") != NULL, "%s %s: stderr \"%s\"",
                      examples[_i], bad[k][0], r->err);
        /* The message names the flag (without any "=value"). */
        char flag[32];
        snprintf(flag, sizeof flag, "%.*s: ", (int)strcspn(bad[k][0], "="), bad[k][0]);
        ck_assert_msg(strstr(r->err, flag) != NULL,
                      "%s: the message does not name %s: %s", examples[_i], flag,
                      r->err);
        ck_assert_str_eq(r->out, "");
    }
    free(r);
}
END_TEST

START_TEST(test_help)
{
    tgt_run *r = tgt_new_run();
    tgt_run_example(examples[_i], (const char *const[]){"--help", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strncmp(r->out, "usage: ", 7) == 0, "help: %s", r->out);
    ck_assert_ptr_nonnull(strstr(r->out, "--iters"));
    ck_assert_ptr_nonnull(strstr(r->out, "--quiet"));
    ck_assert_str_eq(r->err, "");
    free(r);
}
END_TEST

/* An unwritable figure is a runtime error: exit 1 and a message naming it,
 * found before any work (nothing on stdout, not even the init line). */
START_TEST(test_unwritable_plot)
{
    tgt_run *r = tgt_new_run();
    tgt_run_example(examples[_i],
                    (const char *const[]){"--iters", "3", "--quiet", "--plot",
                                          "/nonexistent-dir/fig.svg", NULL},
                    NULL, r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "cannot write /nonexistent-dir/fig.svg: "
                                         "No such file or directory"));
    ck_assert_str_eq(r->out, "");

    /* The loss curve's path is checked as well: a directory is in the way.
     * The check leaves an existing figure alone and no new file behind. */
    char dir[64], plot[128], loss[128], fresh[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(plot, sizeof plot, "%s/fig", dir);
    snprintf(loss, sizeof loss, "%s/fig_loss.svg", dir);
    ck_assert_int_eq(mkdir(loss, 0755), 0);
    FILE *f = fopen(plot, "w");
    ck_assert_ptr_nonnull(f);
    fputs("an older figure", f);
    ck_assert_int_eq(fclose(f), 0);
    tgt_run_example(examples[_i],
                    (const char *const[]){"--quiet", "--plot", plot, NULL}, NULL, r);
    ck_assert_int_eq(r->status, 1);
    char want[256];
    snprintf(want, sizeof want, "cannot write %s: Is a directory", loss);
    ck_assert_msg(strstr(r->err, want) != NULL, "stderr: %s", r->err);
    ck_assert_str_eq(r->out, "");
    char *old = read_file(plot);
    ck_assert_str_eq(old, "an older figure");
    free(old);
    snprintf(fresh, sizeof fresh, "%s/new.svg", dir);
    snprintf(loss, sizeof loss, "%s/new_loss.svg", dir);
    ck_assert_int_eq(mkdir(loss, 0755), 0);
    tgt_run_example(examples[_i],
                    (const char *const[]){"--quiet", "--plot", fresh, NULL}, NULL, r);
    ck_assert_int_eq(r->status, 1);
    struct stat sb;
    ck_assert_msg(stat(fresh, &sb) != 0, "the check left %s behind", fresh);
    rmdir(loss);
    snprintf(loss, sizeof loss, "%s/fig_loss.svg", dir);
    rmdir(loss);
    free(r);
    remove_tmpdir(dir);
}
END_TEST

/* A full disk while writing a figure (a link to /dev/full, which passes the
 * check before training and then refuses every byte) is reported with its
 * real cause, for the fit and for the loss curve. */
START_TEST(test_plot_disk_full)
{
    char dir[64], plot[128], link[128];
    make_tmpdir(dir, sizeof dir);
    tgt_run *r = tgt_new_run();
    for (int which = 0; which < 2; which++) {
        snprintf(plot, sizeof plot, "%s/fig", dir);
        snprintf(link, sizeof link, which ? "%s/fig_loss.svg" : "%s/fig", dir);
        ck_assert_int_eq(symlink("/dev/full", link), 0);
        tgt_run_example(examples[_i],
                        (const char *const[]){"--iters", "5", "--quiet", "--plot",
                                              plot, NULL},
                        NULL, r);
        char want[256];
        snprintf(want, sizeof want, "cannot write %s: No space left on device",
                 link);
        ck_assert_int_eq(r->status, 1);
        ck_assert_msg(strstr(r->err, want) != NULL, "stderr: %s", r->err);
        ck_assert_int_eq(count_lines(r->out), 1); /* init, but no final line */
        ck_assert_int_eq(unlink(link), 0);
    }
    free(r);
    remove_tmpdir(dir);
}
END_TEST

/* Output that cannot be written (stdout on a full disk) is not success:
 * exit 1 and the cause on stderr, for a run and for --help. */
START_TEST(test_stdout_disk_full)
{
    char dir[64], plot[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(plot, sizeof plot, "%s/%s.svg", dir, examples[_i]);
    tgt_run *r = tgt_new_run();
    const char *const *runs[] = {
        (const char *const[]){"--quiet", "--plot", plot, NULL},
        (const char *const[]){"--plot", plot, NULL},
        (const char *const[]){"--help", NULL},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        tgt_run_example(examples[_i], runs[k], "/dev/full", r);
        ck_assert_msg(r->status == 1, "%s %s: exit %d, want 1", examples[_i],
                      runs[k][0], r->status);
        ck_assert_msg(strstr(r->err, "writing the output failed: No space left "
                                     "on device") != NULL,
                      "%s %s: stderr: %s", examples[_i], runs[k][0], r->err);
    }
    free(r);
    remove_tmpdir(dir);
}
END_TEST

/* The README's program: --help alone prints its usage and exits 0; any
 * other argument is named on stderr with the usage, exit 2. */
START_TEST(test_readme_args)
{
    static const char *const bad[][3] = {
        {"-h", NULL}, {"--bogus", NULL}, {"--help", "x", NULL}, {"x", "--help", NULL},
    };
    tgt_run *r = tgt_new_run();
    tgt_run_example("readme", (const char *const[]){"--help", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strncmp(r->out, "usage: readme", 13) == 0, "help: %s", r->out);
    ck_assert_str_eq(r->err, "");
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tgt_run_example("readme", bad[k], NULL, r);
        const char *named = strcmp(bad[k][0], "--help") == 0 ? bad[k][1] : bad[k][0];
        char want[64];
        snprintf(want, sizeof want, "readme: %s: unexpected argument\n", named);
        ck_assert_msg(r->status == 2, "readme %s: exit %d, want 2", bad[k][0], r->status);
        ck_assert_msg(strncmp(r->err, want, strlen(want)) == 0, "stderr: %s", r->err);
        ck_assert_ptr_nonnull(strstr(r->err, "usage: readme"));
        ck_assert_str_eq(r->out, "");
    }
    /* No argument: the gradient, as NumPy prints
     * np.array([np.sum((0.5*x**2 - y) * x**2)]) for the README's x and y. */
    tgt_run_example("readme", (const char *const[]){NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, "array([-5.25657241])\n");
    free(r);
}
END_TEST

/* ---- well-formed SVG ------------------------------------------------------------------- */

/* Whether s starts an XML entity (&amp; &lt; &gt; &quot; &apos; &#NN; &#xNN;). */
static bool xml_entity(const char *s)
{
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strncmp(s, named[i], strlen(named[i])) == 0)
            return true;
    if (s[1] != '#')
        return false;
    const char *p = s + 2;
    bool hex = *p == 'x';
    p += hex;
    const char *digits = p;
    while (hex ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p))
        p++;
    return p > digits && *p == ';';
}

/* An attribute value that holds coordinates: every number in it finite,
 * no "nan" or "inf" spelled out. */
static void check_numbers(const char *name, const char *v, size_t len)
{
    static const char *const coords[] = {"x", "y", "cx", "cy", "x1", "y1", "x2", "y2",
                                         "r", "width", "height", "points", "d",
                                         "viewBox", "transform"};
    bool numeric = false;
    for (size_t i = 0; i < sizeof coords / sizeof coords[0]; i++)
        numeric |= strcmp(name, coords[i]) == 0;
    if (!numeric)
        return;
    char buf[1 << 14];
    ck_assert_uint_lt(len, sizeof buf);
    memcpy(buf, v, len);
    buf[len] = '\0';
    for (char *p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    ck_assert_msg(!strstr(buf, "nan") && !strstr(buf, "inf"), "%s=\"%s\"", name, buf);
    for (char *p = buf; *p;) {
        if (isdigit((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.') {
            char *end;
            double d = strtod(p, &end);
            ck_assert_msg(end > p || *p == '-' || *p == '+' || *p == '.',
                          "%s=\"%s\"", name, buf);
            ck_assert_msg(isfinite(d), "%s=\"%s\": not finite", name, buf);
            p = end > p ? end : p + 1;
        } else {
            p++;
        }
    }
}

/* Checks that s is one well-formed XML element (tags nested and closed,
 * attributes quoted, '&' only as an entity, no stray '<') whose
 * coordinates are finite; returns how many elements it holds. The
 * prolog may hold <?xml ...?>, comments and a DOCTYPE. */
static int check_xml(const char *s)
{
    enum { DEPTH = 64 };
    const char *stack[DEPTH];
    size_t stack_len[DEPTH];
    int depth = 0, elements = 0, roots = 0;
    const char *p = s;
    while (*p) {
        if (strncmp(p, "<?", 2) == 0 || strncmp(p, "<!--", 4) == 0) {
            const char *end = strstr(p, *(p + 1) == '?' ? "?>" : "-->");
            ck_assert_msg(end != NULL, "unclosed <? or <!--");
            p = end + (*(p + 1) == '?' ? 2 : 3);
            continue;
        }
        if (strncmp(p, "<!DOCTYPE", 9) == 0) {
            ck_assert_int_eq(depth, 0);
            p = strchr(p, '>');
            ck_assert_ptr_nonnull(p);
            p++;
            continue;
        }
        if (*p == '&') {
            ck_assert_msg(xml_entity(p), "a bare '&': %.30s", p);
            p++;
            continue;
        }
        if (*p == '>') {
            ck_assert_msg(false, "a stray '>': %.30s", p);
        }
        if (*p != '<') {
            ck_assert_msg(depth > 0 || isspace((unsigned char)*p), "text outside the root");
            p++;
            continue;
        }
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        const char *q = name;
        ck_assert_msg(isalpha((unsigned char)*q) || *q == '_', "bad tag: %.30s", p);
        while (isalnum((unsigned char)*q) || strchr("_-:.", *q))
            q++;
        size_t nlen = (size_t)(q - name);
        if (closing) {
            while (isspace((unsigned char)*q))
                q++;
            ck_assert_msg(*q == '>', "bad end tag: %.30s", p);
            ck_assert_msg(depth > 0 && stack_len[depth - 1] == nlen &&
                              strncmp(stack[depth - 1], name, nlen) == 0,
                          "</%.*s> closes nothing open", (int)nlen, name);
            depth--;
            p = q + 1;
            continue;
        }
        elements++;
        roots += depth == 0;
        for (;;) { /* attributes */
            bool space = isspace((unsigned char)*q);
            while (isspace((unsigned char)*q))
                q++;
            if (*q == '>' || strncmp(q, "/>", 2) == 0)
                break;
            ck_assert_msg(space, "attributes run together: %.30s", q);
            const char *an = q;
            while (isalnum((unsigned char)*q) || strchr("_-:.", *q))
                q++;
            ck_assert_msg(q > an && *q == '=', "bad attribute: %.30s", an);
            char aname[64];
            snprintf(aname, sizeof aname, "%.*s", (int)(q - an), an);
            q++;
            char quote = *q;
            ck_assert_msg(quote == '"' || quote == '\'', "unquoted attribute %s", aname);
            const char *v = ++q;
            while (*q && *q != quote) {
                ck_assert_msg(*q != '<', "'<' in attribute %s", aname);
                ck_assert_msg(*q != '&' || xml_entity(q), "a bare '&' in %s", aname);
                q++;
            }
            ck_assert_msg(*q == quote, "unclosed attribute %s", aname);
            check_numbers(aname, v, (size_t)(q - v));
            q++;
        }
        if (*q == '/') {
            p = q + 2;
            continue;
        }
        ck_assert_int_lt(depth, DEPTH);
        stack[depth] = name;
        stack_len[depth++] = nlen;
        p = q + 1;
    }
    ck_assert_msg(depth == 0, "%d elements left open", depth);
    ck_assert_int_eq(roots, 1);
    return elements;
}

/* How many times tag (e.g. "<circle") starts an element of s. */
static int count_tags(const char *s, const char *tag)
{
    int n = 0;
    size_t len = strlen(tag);
    for (const char *p = s; (p = strstr(p, tag)) != NULL; p += len)
        n += p[len] == ' ' || p[len] == '>' || p[len] == '/';
    return n;
}

/* ---- the figures -------------------------------------------------------------------- */

START_TEST(test_figures)
{
    char dir[64], plot[128], loss[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(plot, sizeof plot, "%s/%s.svg", dir, examples[_i]);
    snprintf(loss, sizeof loss, "%s/%s_loss.svg", dir, examples[_i]);
    tgt_run *r = tgt_new_run();
    tgt_run_example(examples[_i], (const char *const[]){"--plot", plot, NULL}, NULL, r);
    ck_assert_msg(r->status == 0, "%s: %s", examples[_i], r->err);

    char *svg = read_file(plot);
    ck_assert_int_gt(check_xml(svg), 100);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    ck_assert_ptr_nonnull(strstr(svg, "</svg>"));
    ck_assert_ptr_nonnull(strstr(svg, ">true</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">predict</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "<polyline")); /* the fitted curve */
    /* 100 data points plus one legend marker. */
    int circles = 0;
    for (const char *p = svg; (p = strstr(p, "<circle")) != NULL; p++)
        circles++;
    ck_assert_int_eq(circles, 101);
    /* Axes from the data with margins: x past -1 and 1, y past 2.05 and
     * 5.13 (the data's extremes), so no point is cut in half; no note. */
    ck_assert_ptr_nonnull(strstr(svg, ">-1</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">1</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">2</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">5</text>"));
    ck_assert_ptr_null(strstr(svg, ">6</text>"));
    ck_assert_ptr_null(strstr(svg, "class=\"note\""));
    free(svg);

    svg = read_file(loss);
    ck_assert_int_gt(check_xml(svg), 10);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    ck_assert_ptr_nonnull(strstr(svg, "</svg>"));
    ck_assert_ptr_nonnull(strstr(svg, ">loss</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "<polyline"));
    free(svg);

    /* A name without .svg gets _loss.svg appended for the loss curve. */
    snprintf(plot, sizeof plot, "%s/fig", dir);
    snprintf(loss, sizeof loss, "%s/fig_loss.svg", dir);
    tgt_run_example(examples[_i],
                    (const char *const[]){"--iters", "2", "--quiet", "--plot", plot, NULL},
                    NULL, r);
    ck_assert_int_eq(r->status, 0);
    struct stat sb;
    ck_assert_int_eq(stat(plot, &sb), 0);
    ck_assert_int_eq(stat(loss, &sb), 0);
    free(r);
    remove_tmpdir(dir);
}
END_TEST

/* The checker refuses what it should. */
START_TEST(test_xml_checker)
{
    ck_assert_int_eq(check_xml("<?xml version=\"1.0\"?>\n<!-- c -->\n<svg a=\"1\">"
                               "<g><text x='2'>a &amp; b</text></g><rect y=\"-3.5\"/></svg>\n"),
                     4);
}
END_TEST

/* ---- chapter_autograd --graph ---------------------------------------------------------- */

/* The number after "grad [" that follows anchor in doc (DOT text, or SVG
 * where dot writes '-' as &#45;). */
static double grad_after(const char *doc, const char *anchor)
{
    const char *p = strstr(doc, anchor);
    ck_assert_msg(p != NULL, "no %s in the graph", anchor);
    p = strstr(p, "grad [");
    ck_assert_msg(p != NULL, "no gradient after %s", anchor);
    p += strlen("grad [");
    double sign = 1.0;
    if (strncmp(p, "&#45;", 5) == 0) {
        sign = -1.0;
        p += 5;
    }
    char *end;
    double v = strtod(p, &end);
    ck_assert_msg(end > p, "no number after %s", anchor);
    return sign * v;
}

/* dL/dw = sum((w x^2 + b - y) x^2) and dL/db = sum(w x^2 + b - y) at the
 * chapter's initial w and b, as chapter_arrays derives them. */
static void chapter_gradients(double *gw, double *gb)
{
    tg_rng rng;
    tg_rng_seed(&rng, 100);
    tg_tensor *r = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(100));
    ck_assert_ptr_nonnull(r);
    double w = tg_rng_random(&rng), b = tg_rng_random(&rng);
    *gw = *gb = 0.0;
    for (int i = 0; i < 100; i++) {
        double x = -1.0 + 2.0 * i / 99.0, x2 = x * x;
        double y = 3.0 * x2 + 2.0 + 0.2 * tgt_at(r, i);
        double e = w * x2 + b - y;
        *gw += e * x2;
        *gb += e;
    }
    tg_free(r);
}

/* --graph FILE: an SVG when dot is on PATH, the DOT text when it is not;
 * both well-formed, with the leaves and the analytic gradients of w and b
 * (to the 6 digits drawn). The printed lines are the chapter's. */
START_TEST(test_graph_flag)
{
    char dir[64], plot[128], graph[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(plot, sizeof plot, "%s/chapter_autograd.svg", dir);
    snprintf(graph, sizeof graph, "%s/g", dir);
    tgt_run *r = tgt_new_run();
    double gw, gb;
    chapter_gradients(&gw, &gb);
    chapter_result ref, got;
    read_reference(&ref);

    const char *saved = getenv("PATH");
    char *path = saved ? strdup(saved) : NULL;
    bool have_dot = access("/usr/bin/dot", X_OK) == 0;
    for (int svg = 0; svg < 2; svg++) {
        if (svg && !have_dot)
            break;
        if (!svg) /* no dot anywhere: the DOT text */
            ck_assert_int_eq(setenv("PATH", "/nonexistent", 1), 0);
        tgt_run_example("chapter_autograd",
                        (const char *const[]){"--graph", graph, "--plot", plot, NULL}, NULL, r);
        if (path)
            setenv("PATH", path, 1);
        ck_assert_msg(r->status == 0, "--graph: %s", r->err);
        parse_output(r->out, &got);
        ASSERT_REL(got.w, ref.w, "w");
        ck_assert_ptr_nonnull(strstr(r->out, svg ? " (SVG, drawn by " : " (Graphviz DOT: dot is not on PATH"));
        char *doc = read_file(graph);
        if (svg) {
            ck_assert_int_gt(check_xml(doc), 50);
            ck_assert_int_eq(count_tags(doc, "<g"), 1 + 10 + 9); /* graph, nodes, edges */
            ck_assert_ptr_nonnull(strstr(doc, ">loss = sum</text>"));
            ck_assert_ptr_nonnull(strstr(doc, ">x2</text>"));
            ck_assert_ptr_nonnull(strstr(doc, ">y</text>"));
            ASSERT_REL_TOL(grad_after(doc, ">w</text>"), gw, 1e-5);
            ASSERT_REL_TOL(grad_after(doc, ">b</text>"), gb, 1e-5);
        } else {
            ck_assert_msg(strncmp(doc, "digraph tape {\n", 15) == 0, "%.40s", doc);
            ck_assert_ptr_nonnull(strstr(doc, "label=\"loss = sum\\n() float64"));
            ASSERT_REL_TOL(grad_after(doc, "label=\"w\\n"), gw, 1e-5);
            ASSERT_REL_TOL(grad_after(doc, "label=\"b\\n"), gb, 1e-5);
        }
        free(doc);
        remove(graph);
    }
    free(path);

    /* Only chapter_autograd draws its tape; a bad path stops it before any work. */
    tgt_run_example("chapter_tensor", (const char *const[]){"--graph", graph, NULL}, NULL, r);
    ck_assert_int_eq(r->status, 2);
    ck_assert_ptr_nonnull(strstr(r->err, "chapter_tensor: --graph: unknown flag"));
    tgt_run_example("chapter_autograd",
                    (const char *const[]){"--graph", "/nonexistent-dir/g.svg", "--plot", plot,
                                          NULL},
                    NULL, r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "cannot write /nonexistent-dir/g.svg"));
    ck_assert_str_eq(r->out, "");
    tgt_run_example("chapter_autograd", (const char *const[]){"--graph=", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 2);
    free(r);
    remove_tmpdir(dir);
}
END_TEST

/* A diverged run (lr 0.02): the curve is on the fit figure, far from the
 * data, with short tick labels under a common factor, and the loss axis
 * has ticks every 20 decades from 10^0; run long enough to overflow, both
 * figures say that values are not finite. Every figure well-formed, with
 * finite coordinates. */
START_TEST(test_figures_diverged)
{
    char dir[64], plot[128], loss[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(plot, sizeof plot, "%s/fig", dir);
    snprintf(loss, sizeof loss, "%s/fig_loss.svg", dir);
    tgt_run *r = tgt_new_run();
    tgt_run_example("chapter_autograd",
                    (const char *const[]){"--lr", "0.02", "--quiet", "--plot", plot, NULL},
                    NULL, r);
    ck_assert_msg(r->status == 0, "%s", r->err);
    char *svg = read_file(plot);
    check_xml(svg);
    ck_assert_int_eq(count_tags(svg, "<polyline"), 1);
    ck_assert_int_eq(count_tags(svg, "<circle"), 101);
    ck_assert_ptr_nonnull(strstr(svg, "\xc3\x97" "10<tspan dy=\"-7\" font-size=\"9\">78</tspan>"));
    ck_assert_ptr_nonnull(strstr(svg, ">-1.5</text>"));
    ck_assert_ptr_null(strstr(svg, "text-anchor=\"end\">-1.5e"));
    free(svg);
    svg = read_file(loss);
    check_xml(svg);
    for (int d = 20; d <= 140; d += 20) {
        char tick[64];
        snprintf(tick, sizeof tick, ">10<tspan dy=\"-7\" font-size=\"9\">%d</tspan>", d);
        ck_assert_msg(strstr(svg, tick) != NULL, "no tick 10^%d", d);
    }
    ck_assert_ptr_null(strstr(svg, "font-size=\"9\">22</tspan>"));
    free(svg);

    tgt_run_example("chapter_autograd",
                    (const char *const[]){"--lr", "0.02", "--iters", "5000", "--quiet",
                                          "--plot", plot, NULL}, NULL, r);
    ck_assert_msg(r->status == 0, "%s", r->err);
    svg = read_file(plot);
    check_xml(svg);
    ck_assert_int_eq(count_tags(svg, "<polyline"), 0);
    ck_assert_ptr_nonnull(strstr(svg, ">predict (not finite)</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "is not finite (w = "));
    ck_assert_ptr_nonnull(strstr(svg, "): no curve</text>"));
    free(svg);
    svg = read_file(loss);
    check_xml(svg);
    ck_assert_ptr_nonnull(strstr(svg, ">the loss is not a finite number &gt; 0 from step "));
    free(svg);
    free(r);
    remove_tmpdir(dir);
}
END_TEST

/* ---- fashion_mnist on small data sets ------------------------------------------------ */

/* Removes path and, for a directory, everything in it (links are removed,
 * not followed). */
static void remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        ck_assert_msg(d != NULL, "cannot list %s", path);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        closedir(d);
        ck_assert_msg(rmdir(path) == 0, "cannot remove %s", path);
    } else {
        ck_assert_msg(unlink(path) == 0, "cannot remove %s", path);
    }
}

/* The IDX header for ndim big-endian sizes. */
static size_t idx_header(unsigned char *h, int ndim, const uint32_t *dims)
{
    h[0] = h[1] = 0;
    h[2] = 0x08;
    h[3] = (unsigned char)ndim;
    for (int k = 0; k < ndim; k++) {
        h[4 + 4 * k] = (unsigned char)(dims[k] >> 24);
        h[5 + 4 * k] = (unsigned char)(dims[k] >> 16);
        h[6 + 4 * k] = (unsigned char)(dims[k] >> 8);
        h[7 + 4 * k] = (unsigned char)dims[k];
    }
    return 4 + 4 * (size_t)ndim;
}

/* DIR/NAME: an IDX file with these sizes and n bytes of data, byte i
 * being value(i) (labels: i % 10; pixels: a pattern per label). */
static void write_idx(const char *dir, const char *name, int ndim,
                      const uint32_t *dims, size_t n, bool labels)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    unsigned char h[4 + 4 * 8];
    size_t hl = idx_header(h, ndim, dims);
    ck_assert_uint_eq(fwrite(h, 1, hl, f), hl);
    for (size_t i = 0; i < n; i++) {
        /* Image k (784 bytes) has label k % 10: bright in row band k % 10. */
        size_t k = i / 784, row = (i % 784) / 28;
        int v = labels ? (int)(i % 10) : (row / 3 == k % 10 ? 230 : (int)(i * 7 % 40));
        ck_assert_int_ne(fputc(v, f), EOF);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* A data set in dir: ntrain and ntest images of 28x28 with their labels. */
static void write_dataset(const char *dir, uint32_t ntrain, uint32_t ntest)
{
    write_idx(dir, "train-images-idx3-ubyte", 3, (const uint32_t[]){ntrain, 28, 28},
              (size_t)ntrain * 784, false);
    write_idx(dir, "train-labels-idx1-ubyte", 1, (const uint32_t[]){ntrain},
              ntrain, true);
    write_idx(dir, "t10k-images-idx3-ubyte", 3, (const uint32_t[]){ntest, 28, 28},
              (size_t)ntest * 784, false);
    write_idx(dir, "t10k-labels-idx1-ubyte", 1, (const uint32_t[]){ntest}, ntest,
              true);
}

/* Runs fashion_mnist with --data dir and the NULL-terminated args. The
 * figure goes to dir/fashion_mnist.svg unless args say --plot, never to
 * the default in the current directory (the source tree's tests/). */
static void run_fm(const char *dir, const char *const *args, tgt_run *r)
{
    char fig[192];
    snprintf(fig, sizeof fig, "%s/fashion_mnist.svg", dir);
    const char *argv[24] = {"--data", dir};
    int n = 2;
    bool has_plot = false;
    for (; *args; args++) {
        ck_assert_int_lt(n, 21);
        has_plot |= strncmp(*args, "--plot", 6) == 0;
        argv[n++] = *args;
    }
    if (!has_plot) {
        argv[n++] = "--plot";
        argv[n++] = fig;
    }
    argv[n] = NULL;
    tgt_run_example("fashion_mnist", argv, NULL, r);
}

/* fashion_mnist exited with 1 (not a signal, not 0) and said want. */
static void assert_fm_error(const tgt_run *r, const char *want)
{
    ck_assert_msg(r->status == 1, "exit %d, want 1; stderr: %s", r->status, r->err);
    ck_assert_msg(strstr(r->err, want) != NULL, "stderr lacks \"%s\": %s", want,
                  r->err);
    ck_assert_msg(strstr(r->out, "test_acc") == NULL, "stdout: %s", r->out);
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* ---- the Fashion-MNIST figure ------------------------------------------------------- */

enum { MAX_EPOCHS = 16 };

/* The "epoch E/N loss=L test_acc=A" lines of out, in order: the losses and
 * accuracies as printed (4 decimals); returns how many there are. */
static int epoch_lines(const char *out, double *loss, double *acc)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, "epoch ")) != NULL; p++) {
        if (p != out && p[-1] != '\n')
            continue;
        int e, of;
        ck_assert_int_lt(n, MAX_EPOCHS);
        ck_assert_msg(sscanf(p, "epoch %d/%d loss=%lf test_acc=%lf", &e, &of, &loss[n],
                             &acc[n]) == 4 && e == n + 1,
                      "a bad epoch line: %.60s", p);
        n++;
    }
    return n;
}

/* The number in attribute name="..." of the element that starts at tag. */
static double attr_number(const char *tag, const char *name)
{
    char key[32];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *end = strchr(tag, '>'), *p = strstr(tag, key);
    ck_assert_msg(p != NULL && p < end, "no %s in %.60s", name, tag);
    return strtod(p + strlen(key), NULL);
}

/* The figure of loss and accuracy per epoch that fashion_mnist and
 * fashion_cnn draw, checked against the epoch lines they printed: well-
 * formed, finite coordinates (check_xml), the title and the axes' labels,
 * and per series (loss on the left axis in blue, accuracy on the right in
 * red) one polyline with a vertex per epoch and a marker on each vertex,
 * inside the plotting area and not under the legend, evenly spaced left
 * to right with the epoch's number under it, higher on the page for a
 * higher printed value. */
static void check_fashion_figure(const char *path, const char *title, const char *out)
{
    double values[2][MAX_EPOCHS];
    int epochs = epoch_lines(out, values[0], values[1]);
    ck_assert_int_gt(epochs, 0);
    char *svg = read_file(path), want[256];
    ck_assert_int_gt(check_xml(svg), 20 + 2 * epochs);
    snprintf(want, sizeof want, " font-size=\"15\">%s</text>", title);
    ck_assert_msg(strstr(svg, want) != NULL, "no title \"%s\"", title);
    ck_assert_ptr_nonnull(strstr(svg, ">epoch</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">training loss (mean cross-entropy)</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">training loss</text>")); /* the legend */
    const char *acc_label = strstr(svg, ">test accuracy</text>"); /* the legend... */
    ck_assert_ptr_nonnull(acc_label);
    ck_assert_ptr_nonnull(strstr(acc_label + 1, ">test accuracy</text>")); /* ...the axis */
    ck_assert_ptr_null(strstr(svg, "class=\"note\"")); /* every value finite */

    double ax, ay, aw, ah; /* the plotting area */
    const char *clip = strstr(svg, "<clipPath id=\"area\"><rect ");
    ck_assert_ptr_nonnull(clip);
    ck_assert_int_eq(sscanf(clip, "<clipPath id=\"area\"><rect x=\"%lf\" y=\"%lf\" "
                                  "width=\"%lf\" height=\"%lf\"", &ax, &ay, &aw, &ah),
                     4);

    double lx, ly, lw, lh; /* the legend's box */
    const char *legend = strstr(svg, "<g class=\"legend\">\n<rect ");
    ck_assert_ptr_nonnull(legend);
    ck_assert_int_eq(sscanf(legend, "<g class=\"legend\">\n<rect x=\"%lf\" y=\"%lf\" "
                                    "width=\"%lf\" height=\"%lf\"", &lx, &ly, &lw, &lh),
                     4);

    ck_assert_int_eq(count_tags(svg, "<polyline"), 2);
    ck_assert_int_eq(count_tags(svg, "<circle"), 2 * epochs);
    static const char *const colour[2] = {"#1f77b4", "#d62728"};
    const char *p = svg;
    for (int s = 0; s < 2; s++) {
        double X[MAX_EPOCHS], Y[MAX_EPOCHS];
        int n = 0;
        p = strstr(p, "<polyline ");
        ck_assert_ptr_nonnull(p);
        snprintf(want, sizeof want, "stroke=\"%s\"", colour[s]);
        const char *end = strchr(p, '>');
        const char *stroke = strstr(p, want);
        ck_assert_msg(stroke && stroke < end, "polyline %d is not %s", s, colour[s]);
        const char *q = strstr(p, " points=\"");
        ck_assert_msg(q && q < end, "polyline %d has no points", s);
        for (q += 9; *q != '"';) {
            char *e;
            ck_assert_int_lt(n, MAX_EPOCHS);
            X[n] = strtod(q, &e);
            ck_assert_msg(e > q && *e == ',', "points: %.40s", q);
            Y[n] = strtod(e + 1, &e);
            ck_assert_msg(*e == ' ' || *e == '"', "points: %.40s", q);
            q = e + (*e == ' ');
            n++;
        }
        ck_assert_msg(n == epochs, "polyline %d: %d points for %d epochs", s, n, epochs);
        for (int i = 0; i < n; i++) {
            ck_assert_msg(X[i] >= ax && X[i] <= ax + aw && Y[i] >= ay && Y[i] <= ay + ah,
                          "point %d (%g, %g) outside the area", i, X[i], Y[i]);
            if (i > 0)
                ck_assert_msg(X[i] > X[i - 1] &&
                                  fabs((X[i] - X[i - 1]) - (X[1] - X[0])) < 0.02,
                              "epochs not evenly spaced at %d", i);
            for (int j = 0; j < n; j++)
                if (values[s][i] > values[s][j] + 1e-4)
                    ck_assert_msg(Y[i] < Y[j], "series %d: %g above %g on the page", s,
                                  values[s][j], values[s][i]);
            /* The epoch's number under it, below the area (every epoch is
             * labelled when there are few). */
            char at[64], label[32];
            snprintf(at, sizeof at, "<text x=\"%.2f\" y=\"", X[i]);
            snprintf(label, sizeof label, " text-anchor=\"middle\">%d</text>", i + 1);
            bool labelled = false;
            for (const char *t = svg; !labelled && (t = strstr(t, at)) != NULL; t++) {
                char *e;
                double ty = strtod(t + strlen(at), &e);
                labelled = ty > ay + ah && strncmp(e + 1, label, strlen(label)) == 0;
            }
            ck_assert_msg(labelled, "no tick label %d under x=%.2f", i + 1, X[i]);
        }
        /* The markers: a group of this colour, a circle on each vertex. */
        snprintf(want, sizeof want, "<g fill=\"%s\"", colour[s]);
        const char *g = strstr(p, want);
        ck_assert_ptr_nonnull(g);
        const char *gend = strstr(g, "</g>");
        int k = 0;
        for (const char *c = g; (c = strstr(c, "<circle ")) != NULL && c < gend; c++, k++) {
            ck_assert_int_lt(k, n);
            ck_assert_double_eq_tol(attr_number(c, "cx"), X[k], 0.006);
            ck_assert_double_eq_tol(attr_number(c, "cy"), Y[k], 0.006);
            /* Not hidden under the legend (r = 3). */
            ck_assert_msg(X[k] + 3.0 < lx || X[k] - 3.0 > lx + lw || Y[k] + 3.0 < ly ||
                              Y[k] - 3.0 > ly + lh,
                          "series %d: the legend covers epoch %d's marker", s, k + 1);
        }
        ck_assert_int_eq(k, n);
        p = gend;
    }
    free(svg);
}

/* A small run: its lines, the parameters it saves, the figure, --eval of
 * them agreeing with the last epoch, and the same output and figure again
 * for the same seed. */
START_TEST(test_fm_small_run)
{
    char dir[64], save[128], fig[128];
    make_tmpdir(dir, sizeof dir);
    write_dataset(dir, 100, 20);
    snprintf(save, sizeof save, "%s/w", dir);
    snprintf(fig, sizeof fig, "%s/fm.svg", dir);
    tgt_run *r = tgt_new_run();
    run_fm(dir, (const char *const[]){"--epochs", "3", "--seed", "1", "--save", save,
                                      "--plot", fig, NULL},
           r);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    char want[512];
    snprintf(want, sizeof want, "loaded 100 training images and 20 test images from %s\n",
             dir);
    ck_assert_msg(strncmp(r->out, want, strlen(want)) == 0, "%s", r->out);
    ck_assert_ptr_nonnull(strstr(r->out, "batch 64, 3 epochs, seed 1, "));
    snprintf(want, sizeof want, "saved the parameters to %s/\nfigure: %s\n", save, fig);
    ck_assert_ptr_nonnull(strstr(r->out, want));
    const char *last = strstr(r->out, "epoch 3/3 loss=");
    ck_assert_ptr_nonnull(last);
    double loss, acc;
    ck_assert_int_eq(sscanf(last, "epoch 3/3 loss=%lf test_acc=%lf", &loss, &acc), 2);
    ck_assert(isfinite(loss) && loss > 0.0);
    ck_assert(acc >= 0.0 && acc <= 1.0);
    ck_assert_int_eq(count_lines(r->out), 7);
    check_fashion_figure(fig, "fashion_mnist: 100 training images, seed 1", r->out);
    /* The same seed trains the same network (the time aside) and draws
     * the same figure. */
    char *first = strdup(r->out);
    ck_assert_ptr_nonnull(first);
    char *first_svg = read_file(fig);
    run_fm(dir, (const char *const[]){"--epochs", "3", "--seed", "1", "--save", save,
                                      "--plot", fig, NULL},
           r);
    ck_assert_int_eq(r->status, 0);
    for (const char *a = first, *b = r->out; (a = strstr(a, " loss=")) &&
                                            (b = strstr(b, " loss="));
         a++, b++)
        ck_assert_int_eq(strncmp(a, b, 30), 0);
    char *svg = read_file(fig);
    ck_assert_str_eq(svg, first_svg);
    free(svg);
    free(first_svg);
    free(first);

    /* --eval neither checks nor draws the figure. */
    ck_assert_int_eq(unlink(fig), 0);
    run_fm(dir, (const char *const[]){"--eval", "--save", save, "--plot", fig, NULL}, r);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    snprintf(want, sizeof want, "loaded 20 test images from %s\ntest_acc=%.4f\n", dir,
             acc);
    ck_assert_str_eq(r->out, want);
    ck_assert_msg(!exists(fig), "--eval drew %s", fig);
    run_fm(dir, (const char *const[]){"--eval", "--quiet", "--save", save, "--plot",
                                      "/nonexistent-dir/f.svg", NULL},
           r);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    free(r);
    remove_tree(dir);
}
END_TEST

/* One of each: the singular, and the batch as it is really used. */
START_TEST(test_fm_plurals)
{
    char dir[64], save[128];
    make_tmpdir(dir, sizeof dir);
    write_dataset(dir, 30, 20);
    snprintf(save, sizeof save, "%s/w", dir);
    tgt_run *r = tgt_new_run();
    run_fm(dir, (const char *const[]){"--epochs", "1", "--limit", "1", "--test-limit", "1",
                                      "--save", save, NULL},
           r);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    ck_assert_ptr_nonnull(strstr(r->out, "loaded 1 training image and 1 test image from "));
    ck_assert_ptr_nonnull(strstr(r->out, ", batch 1, 1 epoch, seed 0, "));
    ck_assert_ptr_nonnull(strstr(r->out, "epoch 1/1 loss="));
    ck_assert_ptr_null(strstr(r->out, "epochs"));
    ck_assert_ptr_null(strstr(r->out, "images"));
    run_fm(dir, (const char *const[]){"--epochs", "2", "--save", save, NULL}, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_ptr_nonnull(strstr(r->out, ", batch 30, 2 epochs, "));
    free(r);
    remove_tree(dir);
}
END_TEST

/* No training or no test images: a clear error, not a division by zero
 * (SIGFPE) or test_acc=nan. A failed run leaves no save directory. */
START_TEST(test_fm_empty_sets)
{
    char dir[64], save[128], want[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(save, sizeof save, "%s/new/w", dir);
    tgt_run *r = tgt_new_run();

    write_dataset(dir, 0, 20);
    run_fm(dir, (const char *const[]){"--epochs", "1", "--save", save, NULL}, r);
    snprintf(want, sizeof want, "%s/train-images-idx3-ubyte: the file holds no images",
             dir);
    assert_fm_error(r, want);
    snprintf(want, sizeof want, "%s/new", dir);
    ck_assert_msg(!exists(want), "the failed run left %s", want);

    write_dataset(dir, 20, 0);
    run_fm(dir, (const char *const[]){"--epochs", "1", "--save", save, NULL}, r);
    snprintf(want, sizeof want, "%s/t10k-images-idx3-ubyte: the file holds no images",
             dir);
    assert_fm_error(r, want);
    run_fm(dir, (const char *const[]){"--eval", "--save", save, NULL}, r);
    assert_fm_error(r, want);
    free(r);
    remove_tree(dir);
}
END_TEST

/* Images of any other geometry, even with 784 pixels each, and sizes that
 * would overflow a product: refused, exit 1. */
START_TEST(test_fm_bad_geometry)
{
    static const struct {
        int ndim;
        uint32_t dims[4];
        const char *want;
    } cases[] = {
        {3, {10, 14, 56}, "the file has dimensions 10x14x56"},
        {3, {10, 56, 14}, "the file has dimensions 10x56x14"},
        {3, {10, 28, 27}, "the file has dimensions 10x28x27"},
        {2, {10, 784}, "the file has dimensions 10x784"},
        {4, {10, 1, 28, 28}, "the file has dimensions 10x1x28x28"},
        {1, {7840}, "the file has dimensions 7840"},
        /* No data at all, but dims[1] * dims[2] overflows int64_t. */
        {3, {0, 0xFFFFFFFFu, 0xFFFFFFFFu}, "overflow"},
        {3, {0, 0xFFFFFFFFu, 28}, "the file has dimensions 0x4294967295x28"},
        {3, {0, 28, 0xFFFFFFFFu}, "the file has dimensions 0x28x4294967295"},
    };
    char dir[64], save[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(save, sizeof save, "%s/w", dir);
    tgt_run *r = tgt_new_run();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t n = 1;
        for (int d = 0; d < cases[k].ndim; d++)
            n *= cases[k].dims[d];
        for (int split = 0; split < 2; split++) {
            write_dataset(dir, 10, 10);
            write_idx(dir, split ? "t10k-images-idx3-ubyte" : "train-images-idx3-ubyte",
                      cases[k].ndim, cases[k].dims, n, false);
            run_fm(dir, (const char *const[]){"--epochs", "1", "--save", save, NULL}, r);
            assert_fm_error(r, cases[k].want);
            if (strcmp(cases[k].want, "overflow"))
                ck_assert_ptr_nonnull(strstr(r->err, "expected N images of 28x28 pixels"));
        }
    }
    free(r);
    remove_tree(dir);
}
END_TEST

START_TEST(test_fm_bad_labels)
{
    char dir[64], save[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(save, sizeof save, "%s/w", dir);
    tgt_run *r = tgt_new_run();
    /* Too few, too many, two dimensions, a label that is not a class. */
    write_dataset(dir, 10, 10);
    write_idx(dir, "train-labels-idx1-ubyte", 1, (const uint32_t[]){9}, 9, true);
    run_fm(dir, (const char *const[]){"--save", save, NULL}, r);
    assert_fm_error(r, "expected 10 labels, one per image");
    write_idx(dir, "train-labels-idx1-ubyte", 1, (const uint32_t[]){11}, 11, true);
    run_fm(dir, (const char *const[]){"--save", save, NULL}, r);
    assert_fm_error(r, "expected 10 labels, one per image");
    write_idx(dir, "train-labels-idx1-ubyte", 2, (const uint32_t[]){10, 1}, 10, true);
    run_fm(dir, (const char *const[]){"--save", save, NULL}, r);
    assert_fm_error(r, "expected 10 labels, one per image");
    write_dataset(dir, 1, 1);
    write_idx(dir, "t10k-labels-idx1-ubyte", 1, (const uint32_t[]){2}, 2, true);
    run_fm(dir, (const char *const[]){"--eval", "--save", save, NULL}, r);
    assert_fm_error(r, "expected 1 label, one per image");
    write_dataset(dir, 10, 10);
    char path[256];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 8 + 3, SEEK_SET), 0);
    ck_assert_int_ne(fputc(10, f), EOF);
    ck_assert_int_eq(fclose(f), 0);
    run_fm(dir, (const char *const[]){"--save", save, NULL}, r);
    assert_fm_error(r, "label 10 of image 3 is not a class");
    free(r);
    remove_tree(dir);
}
END_TEST

/* The loader's refusals reach the user: a missing set, a truncated file,
 * gzip data with garbage after it. */
START_TEST(test_fm_bad_files)
{
    char dir[64], save[128], path[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(save, sizeof save, "%s/w", dir);
    tgt_run *r = tgt_new_run();
    run_fm(dir, (const char *const[]){"--save", save, NULL}, r);
    assert_fm_error(r, "Fashion-MNIST not found");

    write_dataset(dir, 10, 10);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    ck_assert_int_eq(truncate(path, 16 + 784 * 10 - 1), 0);
    run_fm(dir, (const char *const[]){"--save", save, NULL}, r);
    assert_fm_error(r, "truncated: dimensions (10,28,28) need 7840 bytes of data, the "
                       "file has 7839");
#ifdef TG_HAVE_ZLIB
    /* The training images as .gz (found before the plain file) plus one byte. */
    write_dataset(dir, 10, 10);
    char gzpath[300];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    snprintf(gzpath, sizeof gzpath, "%s.gz", path);
    char *raw = malloc(16 + 7840);
    ck_assert_ptr_nonnull(raw);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(raw, 1, 16 + 7840, f), 16 + 7840);
    fclose(f);
    gzFile gz = gzopen(gzpath, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, raw, 16 + 7840), 16 + 7840);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    free(raw);
    run_fm(dir, (const char *const[]){"--epochs", "1", "--quiet", "--save", save, NULL}, r);
    ck_assert_msg(r->status == 0, "the clean .gz: %s", r->err);
    f = fopen(gzpath, "ab");
    ck_assert_ptr_nonnull(f);
    fputc('x', f);
    ck_assert_int_eq(fclose(f), 0);
    run_fm(dir, (const char *const[]){"--epochs", "1", "--quiet", "--save", save, NULL}, r);
    assert_fm_error(r, "trailing garbage after the gzip data");
    ck_assert_ptr_nonnull(strstr(r->err, gzpath));
    ck_assert_ptr_null(strstr(r->err, "<fd:"));
#endif
    free(r);
    remove_tree(dir);
}
END_TEST

/* A flag where a value belongs ("--save --quiet" forgot the directory):
 * exit 2, the usage, and no directory named after the flag. */
START_TEST(test_fm_flag_as_value)
{
    static const char *const valued[] = {"--data", "--save", "--epochs", "--batch",
                                         "--limit", "--test-limit", "--seed", "--lr",
                                         "--plot", "--graph"};
    static const char *const flags[] = {"--quiet", "--eval", "--help", "--x"};
    tgt_run *r = tgt_new_run();
    for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++) {
        for (size_t j = 0; j < sizeof flags / sizeof flags[0]; j++) {
            char joined[64];
            snprintf(joined, sizeof joined, "%s=%s", valued[i], flags[j]);
            for (int form = 0; form < 2; form++) {
                bool was_there = exists(flags[j]); /* left by something else */
                if (form)
                    tgt_run_example("fashion_mnist",
                                    (const char *const[]){joined, NULL}, NULL, r);
                else
                    tgt_run_example("fashion_mnist",
                                    (const char *const[]){valued[i], flags[j], NULL}, NULL, r);
                ck_assert_msg(r->status == 2, "%s %s: exit %d, want 2", valued[i],
                              flags[j], r->status);
                char want[64];
                snprintf(want, sizeof want, "fashion_mnist: %s: '%s' is a flag",
                         valued[i], flags[j]);
                ck_assert_msg(strstr(r->err, want) != NULL, "stderr: %s", r->err);
                ck_assert_ptr_nonnull(strstr(r->err, "usage: "));
                ck_assert_str_eq(r->out, "");
                ck_assert_msg(was_there || !exists(flags[j]), "a directory %s was made",
                              flags[j]);
            }
        }
    }
    free(r);
}
END_TEST

/* --save is checked before the data are even loaded: a path under a file,
 * a file; exit 1 and nothing trained. */
START_TEST(test_fm_unwritable_save)
{
    char dir[64], file[128], save[160], want[256];
    make_tmpdir(dir, sizeof dir);
    write_dataset(dir, 10, 10);
    snprintf(file, sizeof file, "%s/plain", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fclose(f), 0);
    tgt_run *r = tgt_new_run();
    const char *saves[] = {file, save};
    snprintf(save, sizeof save, "%s/sub", file);
    for (int k = 0; k < 2; k++) {
        run_fm(dir, (const char *const[]){"--epochs", "1", "--save", saves[k], NULL}, r);
        snprintf(want, sizeof want, "cannot save the parameters to %s: Not a directory",
                 saves[k]);
        assert_fm_error(r, want);
        ck_assert_str_eq(r->out, ""); /* not even "loaded" */
    }
    free(r);
    remove_tree(dir);
}
END_TEST

/* --plot: in the usage with its default, refused without a usable value
 * (exit 2), and an unwritable figure found before the data are loaded
 * (exit 1, nothing on stdout, no save directory left). */
START_TEST(test_fm_plot_flag)
{
    tgt_run *r = tgt_new_run();
    tgt_run_example("fashion_mnist", (const char *const[]){"--help", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strncmp(r->out, "usage: fashion_mnist", 20) == 0, "%s", r->out);
    ck_assert_ptr_nonnull(strstr(r->out, " [--plot FILE] "));
    ck_assert_ptr_nonnull(strstr(r->out, "  --plot FILE  "));
    ck_assert_ptr_nonnull(strstr(r->out, "(default fashion_mnist.svg)"));
    ck_assert_ptr_nonnull(strstr(r->out, "(default 10)"));
    ck_assert_str_eq(r->err, "");
    static const char *const bad[][3] = {
        {"--plot", NULL}, {"--plot=", NULL}, {"--plot", "", NULL}, {"--plot", "--eval", NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tgt_run_example("fashion_mnist", bad[k], NULL, r);
        ck_assert_msg(r->status == 2, "%s: exit %d, want 2", bad[k][0], r->status);
        ck_assert_msg(strstr(r->err, "fashion_mnist: --plot: ") != NULL, "stderr: %s", r->err);
        ck_assert_ptr_nonnull(strstr(r->err, "usage: fashion_mnist"));
        ck_assert_str_eq(r->out, "");
    }

    char dir[64], save[128], want[256];
    make_tmpdir(dir, sizeof dir);
    write_dataset(dir, 10, 10);
    snprintf(save, sizeof save, "%s/new/w", dir);
    run_fm(dir, (const char *const[]){"--save", save, "--plot", "/nonexistent-dir/f.svg",
                                      NULL},
           r);
    assert_fm_error(r, "fashion_mnist: cannot write /nonexistent-dir/f.svg: No such file or "
                       "directory");
    ck_assert_str_eq(r->out, "");
    snprintf(want, sizeof want, "%s/new", dir);
    ck_assert_msg(!exists(want), "the failed run left %s", want);
    free(r);
    remove_tree(dir);
}
END_TEST

/* A full disk: while saving (one parameter's file is a link to /dev/full),
 * while drawing the figure (a link to /dev/full passes the check before
 * training, then refuses every byte) and on stdout. The real cause is
 * reported, exit 1. */
START_TEST(test_fm_disk_full)
{
    char dir[64], save[128], link[192], fig[128];
    make_tmpdir(dir, sizeof dir);
    write_dataset(dir, 10, 10);
    snprintf(save, sizeof save, "%s/w", dir);
    ck_assert_int_eq(mkdir(save, 0755), 0);
    snprintf(link, sizeof link, "%s/fc2.weight.npy", save);
    ck_assert_int_eq(symlink("/dev/full", link), 0);
    tgt_run *r = tgt_new_run();
    run_fm(dir, (const char *const[]){"--epochs", "1", "--save", save, NULL}, r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_msg(strstr(r->err, "saving the parameters: ") &&
                      strstr(r->err, "No space left on device"),
                  "stderr: %s", r->err);
    ck_assert_ptr_null(strstr(r->out, "saved the parameters"));
    ck_assert_int_eq(unlink(link), 0);
    snprintf(fig, sizeof fig, "%s/full.svg", dir);
    ck_assert_int_eq(symlink("/dev/full", fig), 0);
    run_fm(dir, (const char *const[]){"--epochs", "1", "--save", save, "--plot", fig, NULL},
           r);
    ck_assert_int_eq(r->status, 1);
    char want[256];
    snprintf(want, sizeof want, "fashion_mnist: cannot write %s: No space left on device\n",
             fig);
    ck_assert_msg(strstr(r->err, want) != NULL, "stderr: %s", r->err);
    ck_assert_ptr_null(strstr(r->out, "figure: "));
    ck_assert_int_eq(unlink(fig), 0);
    run_fm(dir, (const char *const[]){"--epochs", "1", "--save", save, "--plot", fig, NULL},
           r);
    ck_assert_msg(r->status == 0, "%s", r->err); /* for --eval below */

    const char *const *runs[] = {
        (const char *const[]){"--data", dir, "--epochs", "1", "--save", save, "--plot", fig,
                              NULL},
        (const char *const[]){"--data", dir, "--epochs", "1", "--quiet", "--save", save,
                              "--plot", fig, NULL},
        (const char *const[]){"--data", dir, "--eval", "--quiet", "--save", save, NULL},
        (const char *const[]){"--help", NULL},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        tgt_run_example("fashion_mnist", runs[k], "/dev/full", r);
        ck_assert_msg(r->status == 1, "run %zu: exit %d, want 1: %s", k, r->status, r->err);
        ck_assert_msg(strstr(r->err, "fashion_mnist: writing the output failed: No space "
                                     "left on device\n") != NULL,
                      "run %zu: stderr: %s", k, r->err);
    }
    free(r);
    remove_tree(dir);
}
END_TEST

/* ---- fashion_cnn: the same program around a convolutional net ------------------------ */

/* Runs fashion_cnn with --data dir and the NULL-terminated args. */
static void run_cnn(const char *dir, const char *const *args, tgt_run *r)
{
    const char *argv[24] = {"--data", dir};
    int n = 2;
    for (; *args; args++) {
        ck_assert_int_lt(n, 23);
        argv[n++] = *args;
    }
    argv[n] = NULL;
    tgt_run_example("fashion_cnn", argv, NULL, r);
}

/* A small run: the lines, the figure, the saved parameters, and --eval of
 * them reproducing the last epoch's accuracy exactly. */
START_TEST(test_cnn_small_run)
{
    char dir[64], save[128], fig[128], want[512];
    make_tmpdir(dir, sizeof dir);
    write_dataset(dir, 100, 20);
    snprintf(save, sizeof save, "%s/w", dir);
    snprintf(fig, sizeof fig, "%s/cnn.svg", dir);
    tgt_run *r = tgt_new_run();
    run_cnn(dir, (const char *const[]){"--epochs", "2", "--batch", "32", "--seed", "1",
                                       "--save", save, "--plot", fig, NULL},
            r);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    ck_assert_str_eq(r->err, "");
    snprintf(want, sizeof want, "loaded 100 training images and 20 test images from %s\n",
             dir);
    ck_assert_msg(strncmp(r->out, want, strlen(want)) == 0, "%s", r->out);
    ck_assert_ptr_nonnull(strstr(r->out, "\nCNN conv32-pool-conv64-pool-fc128-dropout0.25-"
                                         "fc10, Adam lr=0.001, batch 32, 2 epochs, seed 1, "));
    ck_assert_ptr_nonnull(strstr(r->out, "\nepoch 1/2 loss="));
    const char *last = strstr(r->out, "\nepoch 2/2 loss=");
    ck_assert_ptr_nonnull(last);
    double loss, acc, secs;
    ck_assert_int_eq(sscanf(last, "\nepoch 2/2 loss=%lf test_acc=%lf time=%lfs", &loss, &acc,
                            &secs),
                     3);
    ck_assert(isfinite(loss) && loss > 0.0);
    ck_assert(acc >= 0.0 && acc <= 1.0 && secs >= 0.0);
    snprintf(want, sizeof want, "saved the parameters to %s/\nfigure: %s\n", save, fig);
    ck_assert_ptr_nonnull(strstr(r->out, want));
    ck_assert_int_eq(count_lines(r->out), 6);

    /* The parameters under PyTorch's names; the figure, a point per epoch. */
    static const char *const files[] = {"conv1.weight", "conv1.bias", "conv2.weight",
                                        "conv2.bias", "fc1.weight", "fc2.bias"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.npy", save, files[k]);
        ck_assert_msg(exists(path), "%s was not saved", path);
    }
    check_fashion_figure(fig, "fashion_cnn: 100 training images, seed 1", r->out);

    run_cnn(dir, (const char *const[]){"--eval", "--save", save, NULL}, r);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    snprintf(want, sizeof want, "loaded 20 test images from %s\ntest_acc=%.4f\n", dir, acc);
    ck_assert_str_eq(r->out, want);

    /* --quiet: the epoch line alone (the figure still drawn). */
    ck_assert_int_eq(unlink(fig), 0);
    run_cnn(dir, (const char *const[]){"--epochs", "1", "--limit", "10", "--quiet", "--save",
                                       save, "--plot", fig, NULL},
            r);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    ck_assert_int_eq(count_lines(r->out), 1);
    ck_assert_msg(strncmp(r->out, "epoch 1/1 loss=", 15) == 0, "%s", r->out);
    check_fashion_figure(fig, "fashion_cnn: 10 training images, seed 0", r->out);
    free(r);
    remove_tree(dir);
}
END_TEST

/* Bad flags: exit 2, the flag named, the usage; nothing on stdout. */
START_TEST(test_cnn_bad_flags)
{
    static const char *const bad[][3] = {
        {"--bogus", NULL},        {"--epochs", "0", NULL},   {"--epochs", "x", NULL},
        {"--batch", "0", NULL},   {"--lr", "-1", NULL},      {"--lr", "nan", NULL},
        {"--seed", "-1", NULL},   {"--limit", "60001", NULL}, {"--plot", NULL},
        {"--plot=", NULL},        {"--plot", "--quiet", NULL}, {"--quiet=1", NULL},
        {"stray", NULL},
    };
    tgt_run *r = tgt_new_run();
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tgt_run_example("fashion_cnn", bad[k], NULL, r);
        ck_assert_msg(r->status == 2, "%s %s: exit %d, want 2", bad[k][0],
                      bad[k][1] ? bad[k][1] : "", r->status);
        char flag[48];
        snprintf(flag, sizeof flag, "fashion_cnn: %.*s: ", (int)strcspn(bad[k][0], "="),
                 bad[k][0]);
        ck_assert_msg(strstr(r->err, flag) != NULL, "stderr lacks \"%s\": %s", flag, r->err);
        ck_assert_ptr_nonnull(strstr(r->err, "usage: fashion_cnn"));
        ck_assert_str_eq(r->out, "");
    }
    tgt_run_example("fashion_cnn", (const char *const[]){"--help", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strncmp(r->out, "usage: fashion_cnn", 18) == 0, "%s", r->out);
    ck_assert_ptr_nonnull(strstr(r->out, "--plot FILE"));
    ck_assert_ptr_nonnull(strstr(r->out, "(default 3)"));
    ck_assert_str_eq(r->err, "");
    free(r);
}
END_TEST

/* Missing data, an unwritable figure: exit 1 before any training, and no
 * save directory left behind. */
START_TEST(test_cnn_runtime_errors)
{
    char dir[64], save[128], want[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(save, sizeof save, "%s/new/w", dir);
    tgt_run *r = tgt_new_run();
    run_cnn(dir, (const char *const[]){"--save", save, NULL}, r);
    ck_assert_msg(r->status == 1, "exit %d: %s", r->status, r->err);
    ck_assert_ptr_nonnull(strstr(r->err, "fashion_cnn: Fashion-MNIST not found"));
    ck_assert_str_eq(r->out, "");
    snprintf(want, sizeof want, "%s/new", dir);
    ck_assert_msg(!exists(want), "the failed run left %s", want);

    write_dataset(dir, 10, 10);
    run_cnn(dir, (const char *const[]){"--save", save, "--plot", "/nonexistent-dir/f.svg",
                                       NULL},
            r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "fashion_cnn: cannot write /nonexistent-dir/f.svg: "
                                         "No such file or directory"));
    ck_assert_str_eq(r->out, "");
    ck_assert_msg(!exists(want), "the failed run left %s", want);

    run_cnn(dir, (const char *const[]){"--eval", "--save", save, NULL}, r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "(train first, or pass --save DIR)"));
    free(r);
    remove_tree(dir);
}
END_TEST

/* ---- --graph: the tape of the first training step ----------------------------------- */

/* What the tape of one program's first step holds (a batch of 64). */
typedef struct fashion_graph {
    const char *name;       /* the program */
    int records, leaves;    /* nodes of the DOT graph */
    const char *images;     /* the batch's label, "images\n(64,784) float32" */
    const char *first;      /* the first layer's record that reads the images, */
    const char *first_id;   /* its id: the first record, or the second after the
                               weight's transpose */
    const char *weight;     /* the first layer's parameters */
    const char *bias;
    const char *params[12]; /* every parameter's name, NULL-terminated */
} fashion_graph;

static const fashion_graph mlp_graph = {
    .name = "fashion_mnist", .records = 16, .leaves = 7,
    .images = "images\\n(64,784) float32", .first = "matmul\\n(64,256) float32",
    .first_id = "r1",
    .weight = "fc1.weight\\n(256,784) float32", .bias = "fc1.bias\\n(256,) float32",
    .params = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight",
               "fc3.bias", NULL},
};

static const fashion_graph cnn_graph = {
    .name = "fashion_cnn", .records = 20, .leaves = 10,
    .images = "images\\n(64,1,28,28) float32", .first = "conv2d\\n(64,32,28,28) float32",
    .first_id = "r0",
    .weight = "conv1.weight\\n(32,1,3,3) float32", .bias = "conv1.bias\\n(32,) float32",
    .params = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
               "fc1.bias", "fc2.weight", "fc2.bias", NULL},
};

/* Runs program name with --data dir and the NULL-terminated args. */
static void run_fashion(const char *name, const char *dir, const char *const *args,
                        tgt_run *r)
{
    const char *argv[24] = {"--data", dir};
    int n = 2;
    for (; *args; args++) {
        ck_assert_int_lt(n, 23);
        argv[n++] = *args;
    }
    argv[n] = NULL;
    tgt_run_example(name, argv, NULL, r);
}

/* How many lines of the DOT text start a node with id prefix ('r' for a
 * record, 'l' for a leaf): "  r12 [label=..." or "  l3 [shape=ellipse...". */
static int dot_nodes(const char *doc, char prefix)
{
    int n = 0;
    for (const char *p = doc; (p = strstr(p, "\n  ")) != NULL; p++) {
        const char *q = p + 3;
        if (*q++ != prefix || !isdigit((unsigned char)*q))
            continue;
        while (isdigit((unsigned char)*q))
            q++;
        n += strncmp(q, prefix == 'r' ? " [label=\"" : " [shape=ellipse", 8) == 0;
    }
    return n;
}

/* The id ("l3", "r0") of the node whose label is label, into id. */
static void dot_id(const char *doc, const char *label, char *id, size_t cap)
{
    char key[160];
    snprintf(key, sizeof key, "label=\"%s\"", label);
    const char *p = strstr(doc, key);
    ck_assert_msg(p != NULL, "no node %s in the graph", label);
    while (p > doc && p[-1] != '\n')
        p--;
    p += strspn(p, " ");
    size_t n = strcspn(p, " [");
    ck_assert_uint_lt(n, cap);
    snprintf(id, cap, "%.*s", (int)n, p);
}

/* The first record an edge from id leads to, into to. */
static void dot_first_reader(const char *doc, const char *id, char *to, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "\n  %s -> ", id);
    const char *p = strstr(doc, key);
    ck_assert_msg(p != NULL, "nothing reads %s", id);
    p += strlen(key);
    size_t n = strcspn(p, " ;");
    ck_assert_uint_lt(n, cap);
    snprintf(to, cap, "%.*s", (int)n, p);
}

static bool dot_edge(const char *doc, const char *from, const char *to)
{
    char key[64];
    snprintf(key, sizeof key, "\n  %s -> %s", from, to);
    for (const char *p = doc; (p = strstr(p, key)) != NULL; p++)
        if (p[strlen(key)] == ' ' || p[strlen(key)] == ';')
            return true;
    return false;
}

/* The DOT text of the first step: the numbers of records and leaves, every
 * parameter under its name, the images read by the first layer's record,
 * which reads the layer's weight (directly or through its transpose) and
 * adds its bias (in the record or the next), the logits, and the loss of an
 * untrained network, near log 10. */
static void check_fashion_dot(const fashion_graph *g, const char *doc)
{
    ck_assert_msg(strncmp(doc, "digraph tape {\n", 15) == 0, "%.40s", doc);
    ck_assert_int_eq(dot_nodes(doc, 'r'), g->records);
    ck_assert_int_eq(dot_nodes(doc, 'l'), g->leaves);
    for (int i = 0; g->params[i]; i++) {
        char key[64];
        snprintf(key, sizeof key, "fillcolor=\"#dbe9f6\", label=\"%s\\n", g->params[i]);
        ck_assert_msg(strstr(doc, key) != NULL, "no parameter %s", g->params[i]);
    }
    char images[16], first[16], weight[16], wreader[16], bias[16], breader[16], id[16];
    dot_id(doc, g->images, images, sizeof images);
    dot_first_reader(doc, images, first, sizeof first);
    dot_id(doc, g->first, id, sizeof id);
    ck_assert_str_eq(first, id);
    ck_assert_str_eq(first, g->first_id);
    dot_id(doc, g->weight, weight, sizeof weight);
    dot_first_reader(doc, weight, wreader, sizeof wreader);
    ck_assert_msg(!strcmp(wreader, first) || dot_edge(doc, wreader, first),
                  "%s does not reach %s", g->weight, g->first);
    dot_id(doc, g->bias, bias, sizeof bias);
    dot_first_reader(doc, bias, breader, sizeof breader);
    ck_assert_msg(!strcmp(breader, first) || dot_edge(doc, first, breader),
                  "%s is not added to %s", g->bias, g->first);
    ck_assert_ptr_nonnull(strstr(doc, "label=\"logits = add\\n(64,10) float32\"];"));
    const char *loss = strstr(doc, "label=\"loss = div_scalar 64\\n() float32\\nvalue ");
    ck_assert_ptr_nonnull(loss);
    double v = strtod(loss + strlen("label=\"loss = div_scalar 64\\n() float32\\nvalue "),
                      NULL);
    ck_assert_msg(fabs(v - log(10.0)) < 0.5, "loss %g", v);
    ck_assert_ptr_nonnull(strstr(loss, "grad 1\"];"));
}

/* --graph FILE on the small data set: the DOT text without dot on PATH,
 * with --epochs 0 (drawn, nothing trained, saved or plotted); the same
 * picture, byte for byte, drawn while training; the SVG when dot is
 * installed; --quiet; the usage; and every bad use refused before any work. */
static void check_fashion_graph(const fashion_graph *g)
{
    char dir[64], graph[128], graph2[128], save[128], fig[128], want[512];
    make_tmpdir(dir, sizeof dir);
    write_dataset(dir, 100, 20);
    snprintf(graph, sizeof graph, "%s/tape", dir);
    snprintf(graph2, sizeof graph2, "%s/tape2", dir);
    snprintf(save, sizeof save, "%s/w", dir);
    snprintf(fig, sizeof fig, "%s/fig.svg", dir);
    tgt_run *r = tgt_new_run();

    tgt_run_example(g->name, (const char *const[]){"--help", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_ptr_nonnull(strstr(r->out, " [--graph FILE] "));
    ck_assert_ptr_nonnull(strstr(r->out, "\n  --graph FILE the tape of the first training step"));
    ck_assert_ptr_nonnull(strstr(r->out, "0 with --graph: draw the tape, do not train"));

    const char *saved = getenv("PATH");
    char *path = saved ? strdup(saved) : NULL;
    ck_assert_int_eq(setenv("PATH", "/nonexistent", 1), 0);
    run_fashion(g->name, dir, (const char *const[]){"--epochs", "0", "--graph", graph, "--save",
                                                    save, "--plot", fig, NULL}, r);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    ck_assert_str_eq(r->err, "");
    ck_assert_int_eq(count_lines(r->out), 3);
    ck_assert_ptr_nonnull(strstr(r->out, ", batch 64, 0 epochs, seed 0, "));
    snprintf(want, sizeof want,
             "\ngraph: %s (Graphviz DOT: dot is not on PATH; draw it with dot -Tsvg)\n", graph);
    ck_assert_msg(strstr(r->out, want) != NULL, "%s", r->out);
    ck_assert_msg(!exists(save) && !exists(fig), "--epochs 0 saved or plotted");
    char *doc = read_file(graph);
    check_fashion_dot(g, doc);

    /* Training draws the same step (the same batch and dropout mask) and goes
     * on; --quiet leaves the epoch line alone. */
    run_fashion(g->name, dir, (const char *const[]){"--epochs", "1", "--quiet", "--graph",
                                                    graph2, "--save", save, "--plot", fig,
                                                    NULL}, r);
    if (path)
        setenv("PATH", path, 1);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
    ck_assert_int_eq(count_lines(r->out), 1);
    ck_assert_msg(strncmp(r->out, "epoch 1/1 loss=", 15) == 0, "%s", r->out);
    ck_assert(exists(save) && exists(fig));
    char *doc2 = read_file(graph2);
    ck_assert_msg(strcmp(doc, doc2) == 0, "the training run drew another step");
    free(doc2);
    free(doc);

    if (access("/usr/bin/dot", X_OK) == 0) {
        run_fashion(g->name, dir, (const char *const[]){"--epochs", "0", "--quiet", "--graph",
                                                        graph, NULL}, r);
        ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
        ck_assert_str_eq(r->out, "");
        doc = read_file(graph);
        ck_assert_int_gt(check_xml(doc), 100);
        int nodes = g->records + g->leaves;
        ck_assert_int_eq(count_tags(doc, "<g"), 1 + nodes + nodes - 1); /* a tree */
        for (int i = 0; g->params[i]; i++) {
            char key[64];
            snprintf(key, sizeof key, ">%s</text>", g->params[i]);
            ck_assert_msg(strstr(doc, key) != NULL, "no %s in the SVG", g->params[i]);
        }
        ck_assert_ptr_nonnull(strstr(doc, ">images</text>"));
        ck_assert_ptr_nonnull(strstr(doc, ">logits = add</text>"));
        ck_assert_ptr_nonnull(strstr(doc, ">loss = div_scalar 64</text>"));
        free(doc);
    } else {
        fprintf(stderr, "test_examples: %s --graph as SVG not checked: no /usr/bin/dot\n",
                g->name);
    }

    /* Refused: with --eval, --epochs 0 alone, no file name (exit 2); a
     * path that cannot be written, before anything is loaded or made
     * (exit 1). */
    static const char *const bad[][4] = {
        {"--graph", "g.svg", "--eval", NULL}, {"--epochs", "0", NULL, NULL},
        {"--graph=", NULL, NULL, NULL},       {"--graph", NULL, NULL, NULL},
        {"--graph", "--quiet", NULL, NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        run_fashion(g->name, dir, bad[k], r);
        ck_assert_msg(r->status == 2, "%s %s: exit %d, want 2", bad[k][0],
                      bad[k][1] ? bad[k][1] : "", r->status);
        snprintf(want, sizeof want, "%s: %s: ", g->name, k == 1 ? "--epochs" : "--graph");
        ck_assert_msg(strstr(r->err, want) != NULL, "stderr lacks \"%s\": %s", want, r->err);
        ck_assert_ptr_nonnull(strstr(r->err, "usage: "));
        ck_assert_str_eq(r->out, "");
    }
    ck_assert_ptr_nonnull(strstr(r->err, "is a flag, not a value"));
    snprintf(save, sizeof save, "%s/new/w", dir);
    const char *unwritable[] = {"/nonexistent-dir/g.svg", dir};
    const char *why[] = {"No such file or directory", "Is a directory"};
    for (int k = 0; k < 2; k++) {
        run_fashion(g->name, dir, (const char *const[]){"--graph", unwritable[k], "--save",
                                                        save, "--plot", fig, NULL}, r);
        ck_assert_int_eq(r->status, 1);
        snprintf(want, sizeof want, "%s: cannot write %s: %s\n", g->name, unwritable[k],
                 why[k]);
        ck_assert_str_eq(r->err, want);
        ck_assert_str_eq(r->out, "");
    }
    snprintf(want, sizeof want, "%s/new", dir);
    ck_assert_msg(!exists(want), "a failed run left %s", want);
    free(path);
    free(r);
    remove_tree(dir);
}

START_TEST(test_fm_graph)
{
    check_fashion_graph(&mlp_graph);
}
END_TEST

START_TEST(test_cnn_graph)
{
    check_fashion_graph(&cnn_graph);
}
END_TEST

/* ---- logistic: the tutorial's first step past the chapter ----------------------------- */

/* The result lines of logistic: "w=W0,W1 b=B loss=L" then "accuracy A (C of 200)",
 * the last two lines of out. */
typedef struct logistic_result {
    double w0, w1, b, loss, acc;
    int correct;
} logistic_result;

static void parse_logistic(const char *out, logistic_result *lr)
{
    size_t len = strlen(out);
    ck_assert_msg(len > 0 && out[len - 1] == '\n', "output does not end a line: %s", out);
    const char *last = out + len - 1, *prev;
    while (last > out && last[-1] != '\n')
        last--;
    ck_assert_msg(last > out, "fewer than two lines: %s", out);
    prev = last - 1;
    while (prev > out && prev[-1] != '\n')
        prev--;
    ck_assert_msg(sscanf(prev, "w=%lf,%lf b=%lf loss=%lf\n", &lr->w0, &lr->w1, &lr->b,
                         &lr->loss) == 4,
                  "not \"w=.. b=.. loss=..\": %s", prev);
    int total = 0;
    ck_assert_msg(sscanf(last, "accuracy %lf (%d of %d)\n", &lr->acc, &lr->correct,
                         &total) == 3 && total == 200,
                  "not \"accuracy A (C of 200)\": %s", last);
    ck_assert_double_eq_tol(lr->acc, lr->correct / 200.0, 5e-4);
}

/* The whole text of a file under the repository root (tests run from tests/). */
static char *read_repo_file(const char *path)
{
    char full[256];
    snprintf(full, sizeof full, "../%s", path);
    return read_file(full);
}

/* The default run: the data line, the loss every 50 steps falling from
 * log 2, the result lines, above 88% accuracy; the same run as
 * docs/tutorial.md shows; --quiet prints the two result lines alone. */
START_TEST(test_logistic_run)
{
    tgt_run *r = tgt_new_run();
    tgt_run_example("logistic", (const char *const[]){NULL}, NULL, r);
    ck_assert_msg(r->status == 0, "logistic: exit %d: %s", r->status, r->err);
    ck_assert_str_eq(r->err, "");
    ck_assert_int_eq(count_lines(r->out), 1 + 7 + 2);
    ck_assert_msg(strncmp(r->out, "data: 200 points in two Gaussian blobs, seed 0\n"
                                  "step    0  loss 0.693147\n", 72) == 0, "%s", r->out);
    double prev = (double)INFINITY;
    int steps = 0;
    for (const char *p = strstr(r->out, "step "); p; p = strstr(p + 1, "\nstep ")) {
        long step;
        double loss;
        ck_assert_int_eq(sscanf(*p == '\n' ? p + 1 : p, "step %ld loss %lf", &step, &loss), 2);
        ck_assert_int_eq(step, steps < 6 ? 50 * steps : 299);
        ck_assert_msg(loss < prev, "the loss rose at step %ld", step);
        prev = loss;
        steps++;
    }
    ck_assert_int_eq(steps, 7);
    logistic_result got;
    parse_logistic(r->out, &got);
    ck_assert_msg(got.acc > 0.88, "accuracy %g", got.acc);
    ck_assert_double_eq_tol(got.loss, prev, 5e-7);
    ck_assert_msg(got.w0 > 1.0 && got.w1 > 1.0 && fabs(got.b) < 0.2, "%s", r->out);

    /* docs/tutorial.md shows this output, indented as a block */
    char *doc = read_repo_file("docs/tutorial.md");
    char block[4096] = "";
    size_t used = 0;
    for (const char *line = r->out; *line;) {
        const char *nl = strchr(line, '\n');
        used += (size_t)snprintf(block + used, sizeof block - used, "    %.*s\n",
                                 (int)(nl - line), line);
        ck_assert_uint_lt(used, sizeof block);
        line = nl + 1;
    }
    ck_assert_msg(strstr(doc, block) != NULL,
                  "docs/tutorial.md does not show logistic's output:\n%s", block);
    free(doc);

    char want[256];
    const char *tail = strstr(r->out, "\nw=");
    ck_assert_ptr_nonnull(tail);
    snprintf(want, sizeof want, "%s", tail + 1);
    tgt_run_example("logistic", (const char *const[]){"--quiet", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, want);

    /* --steps 0: no forward pass, w = 0 and b = 0 put every point in class 0 */
    tgt_run_example("logistic", (const char *const[]){"--steps", "0", "--quiet", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, "w=0,0 b=0 loss=nan\naccuracy 0.500 (100 of 200)\n");

    /* the flags change the run: fewer steps at a smaller learning rate stop
     * short of the minimum; another seed draws other blobs */
    tgt_run_example("logistic",
                    (const char *const[]){"--steps", "100", "--lr=0.1", "--quiet", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    logistic_result other;
    parse_logistic(r->out, &other);
    ck_assert_msg(other.loss > got.loss + 1e-3 && other.w0 < got.w0 && other.acc > 0.85, "%s",
                  r->out);
    tgt_run_example("logistic", (const char *const[]){"--seed", "1", "--quiet", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    parse_logistic(r->out, &other);
    ck_assert_msg(fabs(other.loss - got.loss) > 1e-3 && other.acc > 0.88, "%s", r->out);
    free(r);
}
END_TEST

/* --help; every kind of bad flag exits 2 with a message and the usage. */
START_TEST(test_logistic_flags)
{
    static const char *const bad[][4] = {
        {"--bogus", NULL}, {"x", NULL}, {"--iters", "5", NULL}, {"--steps", NULL},
        {"--steps", "-1", NULL}, {"--steps", "5x", NULL}, {"--steps", "1000001", NULL},
        {"--lr", "0", NULL}, {"--lr", "nan", NULL}, {"--lr=1e999", NULL},
        {"--seed", "4294967296", NULL}, {"--graph=", NULL}, {"--graph", "--quiet", NULL},
        {"--plot", "f.svg", NULL},
    };
    tgt_run *r = tgt_new_run();
    tgt_run_example("logistic", (const char *const[]){"--help", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strncmp(r->out, "usage: logistic", 15) == 0, "%s", r->out);
    ck_assert_ptr_nonnull(strstr(r->out, "--graph FILE"));
    ck_assert_str_eq(r->err, "");
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tgt_run_example("logistic", bad[k], NULL, r);
        ck_assert_msg(r->status == 2, "%s: exit %d, want 2", bad[k][0], r->status);
        ck_assert_msg(strncmp(r->err, "logistic: ", 10) == 0, "%s", r->err);
        ck_assert_ptr_nonnull(strstr(r->err, "usage: logistic"));
        ck_assert_str_eq(r->out, "");
    }
    tgt_run_example("logistic", (const char *const[]){"--graph", "/nonexistent-dir/g.svg", NULL},
                    NULL, r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "logistic: cannot write /nonexistent-dir/g.svg"));
    ck_assert_str_eq(r->out, "");
    tgt_run_example("logistic", (const char *const[]){"--steps", "3", NULL}, "/dev/full", r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "logistic: writing the output failed"));
    free(r);
}
END_TEST

/* The gradients of the first step at w = 0, b = 0, where sigmoid(z) = 1/2:
 * dL/dw = mean((1/2 - y) x), dL/db = mean(1/2 - y) = 0, from the data as
 * logistic draws them (seed 0). */
static void logistic_gradients(double gw[2], double *gb)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_tensor *X = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(200, 2));
    ck_assert_ptr_nonnull(X);
    gw[0] = gw[1] = *gb = 0.0;
    for (int i = 0; i < 200; i++) {
        double y = i < 100 ? 0.0 : 1.0, c = i < 100 ? -1.0 : 1.0;
        gw[0] += (0.5 - y) * (tgt_at(X, 2 * i) + c) / 200.0;
        gw[1] += (0.5 - y) * (tgt_at(X, 2 * i + 1) + c) / 200.0;
        *gb += (0.5 - y) / 200.0;
    }
    tg_free(X);
}

/* --graph FILE: the tape of the first step, an SVG when dot is on PATH and
 * DOT text when not; well-formed, 10 records and 5 leaves, the gradients
 * of w and b as derived by hand (to the 6 digits drawn). */
START_TEST(test_logistic_graph)
{
    char dir[64], graph[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(graph, sizeof graph, "%s/tape", dir);
    tgt_run *r = tgt_new_run();
    double gw[2], gb;
    logistic_gradients(gw, &gb);
    ck_assert_double_eq_tol(gb, 0.0, 1e-15);

    const char *saved = getenv("PATH");
    char *path = saved ? strdup(saved) : NULL;
    bool have_dot = access("/usr/bin/dot", X_OK) == 0;
    for (int svg = 0; svg < 2; svg++) {
        if (svg && !have_dot)
            break;
        if (!svg)
            ck_assert_int_eq(setenv("PATH", "/nonexistent", 1), 0);
        tgt_run_example("logistic", (const char *const[]){"--graph", graph, "--steps", "2", NULL},
                        NULL, r);
        if (path)
            setenv("PATH", path, 1);
        ck_assert_msg(r->status == 0, "--graph: %s", r->err);
        ck_assert_ptr_nonnull(strstr(r->out, svg ? "graph: " : "graph: "));
        ck_assert_ptr_nonnull(strstr(r->out, svg ? " (SVG, drawn by "
                                                 : " (Graphviz DOT: dot is not on PATH"));
        char *doc = read_file(graph);
        if (svg) {
            ck_assert_int_gt(check_xml(doc), 50);
            ck_assert_int_eq(count_tags(doc, "<g"), 1 + 15 + 15); /* graph, nodes, edges */
            ck_assert_ptr_nonnull(strstr(doc, ">loss = mean</text>"));
            ck_assert_ptr_nonnull(strstr(doc, ">z = add</text>"));
            ck_assert_ptr_nonnull(strstr(doc, ">X</text>"));
            ck_assert_ptr_nonnull(strstr(doc, ">y</text>"));
            ASSERT_REL_TOL(grad_after(doc, ">w</text>"), gw[0], 1e-5);
            ck_assert_ptr_nonnull(strstr(doc, ">grad [0]</text>")); /* b's */
        } else {
            ck_assert_msg(strncmp(doc, "digraph tape {\n", 15) == 0, "%.40s", doc);
            ck_assert_ptr_nonnull(strstr(doc, "label=\"loss = mean\\n() float64\\nvalue 0.693147"));
            ASSERT_REL_TOL(grad_after(doc, "label=\"w\\n"), gw[0], 1e-5);
            const char *second = strstr(strstr(strstr(doc, "label=\"w\\n"), "grad ["), ", ");
            ck_assert_ptr_nonnull(second);
            ASSERT_REL_TOL(strtod(second + 2, NULL), gw[1], 1e-5);
            ck_assert_double_eq(grad_after(doc, "label=\"b\\n"), 0.0);
        }
        free(doc);
        ck_assert_int_eq(remove(graph), 0);
    }
    free(path);
    free(r);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Whether the code block (lines ending in '\n') is in src, each non-empty
 * line indented by indent more spaces than in the block, starting at a
 * line's start. A line "..." (at any indentation) stands for lines left
 * out: the pieces between such lines must appear in src in that order. */
static bool block_in(const char *code, const char *src, int indent)
{
    size_t cap = strlen(code) + (size_t)(count_lines(code) + 1) * (size_t)indent + 1;
    char *piece = malloc(cap);
    ck_assert_ptr_nonnull(piece);
    const char *from = src, *line = code;
    bool found = true;
    while (*line && found) {
        size_t len = 0;
        while (*line) { /* one piece: up to a "..." line or the end */
            const char *nl = strchr(line, '\n');
            ck_assert_ptr_nonnull(nl);
            const char *t = line;
            while (t < nl && *t == ' ')
                t++;
            if (nl - t == 3 && strncmp(t, "...", 3) == 0) {
                line = nl + 1;
                break;
            }
            size_t n = (size_t)(nl - line);
            if (n > 0) {
                memset(piece + len, ' ', (size_t)indent);
                len += (size_t)indent;
            }
            memcpy(piece + len, line, n);
            len += n;
            piece[len++] = '\n';
            line = nl + 1;
        }
        piece[len] = '\0';
        if (len == 0)
            continue;
        const char *hit = from;
        while ((hit = strstr(hit, piece)) != NULL && hit != src && hit[-1] != '\n')
            hit++;
        found = hit != NULL;
        if (found)
            from = hit + len;
    }
    free(piece);
    return found;
}

/* The code the tutorial shows is the examples' own: each ```c block of
 * docs/tutorial.md (the chapter's five stages and the steps after it) and
 * of docs/cnn.md and docs/transformer.md appears in one of the example programs, as it is up to
 * its indentation (the chapter's blocks drop a function body's) and its
 * "..." lines, so it compiles with them and cannot drift from them. Also
 * checks the checker. */
START_TEST(test_tutorial_snippets)
{
    static const char *const sources[] = {
        "examples/chapter_arrays.c", "examples/chapter_tensor.c",
        "examples/chapter_autograd.c", "examples/chapter_nn.c",
        "examples/chapter_optim.c", "examples/chapter_replay.c",
        "examples/common/chapter.c",
        "examples/logistic.c", "examples/fashion_mnist.c", "examples/fashion_cnn.c",
        "examples/common/fashion.c", "examples/words_gpt.c", "models/gpt.c",
    };
    enum { NSOURCES = sizeof sources / sizeof sources[0] };
    static const struct {
        const char *path;
        int min_blocks;
    } docs[] = {{"docs/tutorial.md", 16}, {"docs/cnn.md", 1}, {"docs/transformer.md", 1}};

    const char *src = "int f(void)\n{\n    int a = 1;\n    a++;\n    return a;\n}\n";
    ck_assert(block_in("int a = 1;\na++;\n", src, 4));
    ck_assert(block_in("int f(void)\n{\n    ...\n    return a;\n}\n", src, 0));
    ck_assert(!block_in("int a = 1;\na++;\n", src, 0));      /* the indentation */
    ck_assert(!block_in("a = 1;\n", src, 0));               /* a line's start */
    ck_assert(!block_in("return a;\n...\nint a = 1;\n", src, 4)); /* the order */
    ck_assert(!block_in("int a = 1;\nreturn a;\n", src, 4));    /* a gap without ... */

    char *text[NSOURCES];
    for (int i = 0; i < NSOURCES; i++)
        text[i] = read_repo_file(sources[i]);
    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        char *doc = read_repo_file(docs[d].path);
        ck_assert_msg(d > 0 || strstr(doc, "\n## After the chapter") != NULL,
                      "docs/tutorial.md has no \"After the chapter\" part");
        int blocks = 0;
        for (const char *p = doc; (p = strstr(p, "\n```c\n")) != NULL;) {
            p += 6;
            const char *end = strstr(p, "\n```\n");
            ck_assert_ptr_nonnull(end);
            char *code = strndup(p, (size_t)(end - p) + 1);
            ck_assert_ptr_nonnull(code);
            bool found = false;
            for (int i = 0; i < NSOURCES && !found; i++)
                for (int indent = 0; indent <= 12 && !found; indent += 4)
                    found = block_in(code, text[i], indent);
            ck_assert_msg(found, "%s shows code no example has:\n%s", docs[d].path, code);
            free(code);
            blocks++;
            p = end + 4;
        }
        ck_assert_msg(blocks >= docs[d].min_blocks, "%s: %d code blocks", docs[d].path,
                      blocks);
        free(doc);
    }
    for (int i = 0; i < NSOURCES; i++)
        free(text[i]);
}
END_TEST

Suite *test_examples_suite(void); /* called by the generated runner */

Suite *test_examples_suite(void)
{
    Suite *s = suite_create("examples");
    TCase *tc = tgt_tcase("chapter");
    tcase_add_loop_test(tc, test_quiet_matches_numpy, 0, NEXAMPLES);
    tcase_add_test(tc, test_default_run_all_agree);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("flags");
    tcase_add_loop_test(tc, test_flags_change_the_run, 0, NEXAMPLES);
    tcase_add_loop_test(tc, test_bad_flags, 0, NEXAMPLES);
    tcase_add_loop_test(tc, test_help, 0, NEXAMPLES);
    tcase_add_loop_test(tc, test_unwritable_plot, 0, NEXAMPLES);
    tcase_add_loop_test(tc, test_plot_disk_full, 0, NEXAMPLES);
    tcase_add_loop_test(tc, test_stdout_disk_full, 0, NEXAMPLES);
    tcase_add_test(tc, test_readme_args);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("figures");
    tcase_add_loop_test(tc, test_figures, 0, NEXAMPLES);
    tcase_add_test(tc, test_xml_checker);
    tcase_add_test(tc, test_figures_diverged);
    tcase_add_test(tc, test_graph_flag);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("fashion_mnist");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fm_small_run);
    tcase_add_test(tc, test_fm_plurals);
    tcase_add_test(tc, test_fm_empty_sets);
    tcase_add_test(tc, test_fm_bad_geometry);
    tcase_add_test(tc, test_fm_bad_labels);
    tcase_add_test(tc, test_fm_bad_files);
    tcase_add_test(tc, test_fm_flag_as_value);
    tcase_add_test(tc, test_fm_unwritable_save);
    tcase_add_test(tc, test_fm_plot_flag);
    tcase_add_test(tc, test_fm_disk_full);
    tcase_add_test(tc, test_fm_graph);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("fashion_cnn");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cnn_small_run);
    tcase_add_test(tc, test_cnn_bad_flags);
    tcase_add_test(tc, test_cnn_runtime_errors);
    tcase_add_test(tc, test_cnn_graph);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("logistic");
    tcase_add_test(tc, test_logistic_run);
    tcase_add_test(tc, test_logistic_flags);
    tcase_add_test(tc, test_logistic_graph);
    tcase_add_test(tc, test_tutorial_snippets);
    suite_add_tcase(s, tc);
    return s;
}
