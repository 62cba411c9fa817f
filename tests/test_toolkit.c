/* test_toolkit.c - the training toolkit's example programs (issue #13).
 *
 * The three line-count programs, examples/toolkit_logistic.c,
 * toolkit_spiral.c and toolkit_chapter.c, must print what their PyTorch
 * twins in examples/pytorch/ print (tests/data/toolkit_ref.inc, written by
 * tests/data/make_toolkit_ref.py): the same text, and every number within
 * 1e-9 relative (all of them are float64 runs; measured, they agree to
 * about 1e-15). Their line counts are taken with the rule the script
 * states, and the fixture's Python counts must still be the twins' own.
 *
 * Then two_moons, the binary classifier: its default run (falling loss,
 * every point of both sets right), --quiet, its flags and bad flags, the
 * errors of --save and --resume, a lost stdout, and the checkpoint: a run
 * stopped after k epochs and resumed prints the same lines and saves the
 * same bytes as the run that never stopped, for k on either side of a
 * change of the learning rate.
 *
 * The binaries are in $TG_BUILD/examples (make check sets TG_BUILD and
 * builds them first); the sources are read from the repository root
 * (the tests run from tests/). */
#include "helpers.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/toolkit_ref.inc"

enum { NREFS = sizeof toolkit_refs / sizeof toolkit_refs[0] };

/* Relative tolerance of every number the twins print. */
#define TWIN_REL_TOL 1e-9

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The whole of a small file as a string (caller frees); path relative to
 * the repository root. */
static char *read_repo_file(const char *path)
{
    char full[512];
    snprintf(full, sizeof full, "../%s", path);
    FILE *f = fopen(full, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", full);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Whether two files hold the same bytes. */
static bool same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    ck_assert_msg(fa && fb, "cannot open %s or %s", a, b);
    int ca, cb;
    long n = 0;
    do {
        ca = getc(fa);
        cb = getc(fb);
        n++;
    } while (ca == cb && ca != EOF);
    fclose(fa);
    fclose(fb);
    ck_assert_int_gt(n, 100); /* a real checkpoint, not two empty files */
    return ca == cb;
}

/* The line (from 0) where a and b first differ. */
static int first_difference(const char *a, const char *b)
{
    int line = 0;
    for (; *a && *a == *b; a++, b++)
        line += *a == '\n';
    return line;
}

/* ---- comparing with the twins ------------------------------------------------------ */

static bool starts_number(const char *s)
{
    return isdigit((unsigned char)s[0]) ||
           ((s[0] == '-' || s[0] == '+' || s[0] == '.') && isdigit((unsigned char)s[1]));
}

/* Asserts that got is want, text for text, with each number (strtod's
 * reading) within tol relative of want's (exact where want's is 0). The
 * largest relative difference goes into *worst. */
static void assert_same_output(const char *name, const char *got, const char *want, double tol,
                               double *worst)
{
    const char *g = got, *w = want;
    int line = 1;
    while (*w) {
        if (starts_number(w)) {
            char *gend, *wend;
            double gv = strtod(g, &gend), wv = strtod(w, &wend);
            ck_assert_msg(gend != g, "%s, line %d: got \"%.40s\", want a number (\"%.40s\")",
                          name, line, g, w);
            double diff = fabs(gv - wv);
            ck_assert_msg(diff <= tol * fabs(wv),
                          "%s, line %d: got %.17g, want %.17g (relative difference %.3g)",
                          name, line, gv, wv, wv != 0.0 ? diff / fabs(wv) : diff);
            if (wv != 0.0 && diff / fabs(wv) > *worst)
                *worst = diff / fabs(wv);
            g = gend;
            w = wend;
            continue;
        }
        ck_assert_msg(*g == *w, "%s, line %d: got \"%.40s\", want \"%.40s\"", name, line, g, w);
        line += *w == '\n';
        g++;
        w++;
    }
    ck_assert_msg(*g == '\0', "%s: output goes on after the twin's: \"%.40s\"", name, g);
}

/* Each program prints its twin's lines (numbers within TWIN_REL_TOL), and
 * nothing on stderr. */
START_TEST(test_twin_output)
{
    const struct toolkit_ref *ref = &toolkit_refs[_i];
    tgt_run *r = tgt_new_run();
    tgt_run_example(ref->name, (const char *const[]){NULL}, NULL, r);
    ck_assert_msg(r->status == 0, "%s: exit %d: %s", ref->name, r->status, r->err);
    ck_assert_str_eq(r->err, "");
    ck_assert_int_eq(count_lines(r->out), count_lines(ref->out));
    double worst = 0.0;
    assert_same_output(ref->name, r->out, ref->out, TWIN_REL_TOL, &worst);
    ck_assert(worst < TWIN_REL_TOL);
    free(r);
}
END_TEST

/* The chapter's numbers are NumPy's listing's as well
 * (tests/data/chapter_reference.txt), to the same tolerance. */
START_TEST(test_twin_chapter_is_numpys)
{
    FILE *f = fopen(tgt_data("chapter_reference.txt"), "r");
    ck_assert_ptr_nonnull(f);
    char want[512];
    size_t n = fread(want, 1, sizeof want - 1, f);
    want[n] = '\0';
    fclose(f);
    tgt_run *r = tgt_new_run();
    tgt_run_example("toolkit_chapter", (const char *const[]){NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    double worst = 0.0;
    assert_same_output("toolkit_chapter", r->out, want, TWIN_REL_TOL, &worst);
    free(r);
}
END_TEST

/* Output that cannot be written is an error (exit 1). */
START_TEST(test_twin_stdout_full)
{
    tgt_run *r = tgt_new_run();
    tgt_run_example(toolkit_refs[_i].name, (const char *const[]){NULL}, "/dev/full", r);
    ck_assert_msg(r->status == 1, "%s: exit %d on a full stdout", toolkit_refs[_i].name,
                  r->status);
    free(r);
}
END_TEST

/* ---- line counts ------------------------------------------------------------------ */

/* The lines of C source that are not blank once comments are removed; string
 * and character literals are skipped whole, so a "/ *" inside one is text. */
static int count_c_lines(const char *s)
{
    int lines = 0;
    bool code = false; /* this line has code */
    while (*s) {
        if (s[0] == '/' && s[1] == '*') {
            const char *end = strstr(s + 2, "*/");
            ck_assert_ptr_nonnull(end);
            for (; s < end; s++)
                if (*s == '\n') {
                    lines += code;
                    code = false;
                }
            s = end + 2;
        } else if (s[0] == '/' && s[1] == '/') {
            while (*s && *s != '\n')
                s++;
        } else if (*s == '"' || *s == '\'') {
            char q = *s++;
            while (*s && *s != q && *s != '\n')
                s += s[0] == '\\' && s[1] ? 2 : 1;
            if (*s == q)
                s++;
            code = true;
        } else {
            if (*s == '\n') {
                lines += code;
                code = false;
            } else if (!isspace((unsigned char)*s)) {
                code = true;
            }
            s++;
        }
    }
    return lines + code;
}

/* The lines of Python that are not blank, not '#' comments and not part
 * of the module's docstring (a triple-quoted string before any code). */
static int count_python_lines(const char *s)
{
    int lines = 0;
    bool seen_code = false;
    while (*s) {
        const char *end = strchr(s, '\n');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *p = s;
        while (p < s + len && isspace((unsigned char)*p))
            p++;
        if (!seen_code && strncmp(p, "\"\"\"", 3) == 0) {
            const char *close = strstr(p + 3, "\"\"\"");
            ck_assert_ptr_nonnull(close);
            end = strchr(close, '\n');
            seen_code = true;
        } else if (p < s + len && *p != '#') {
            lines++;
            seen_code = true;
        }
        if (!end)
            break;
        s = end + 1;
    }
    return lines;
}

/* The counting rule on small cases, then on the programs: the fixture's
 * Python counts are the twins' (so it is up to date), and the C programs'
 * counts against them. Issue #13's goal: the three programs together in at
 * most 1.5 times their twins' lines; no one program past twice its twin's. */
#define RATIO_GOAL 1.5
#define RATIO_CEILING 2.0

START_TEST(test_line_counts)
{
    ck_assert_int_eq(count_c_lines("int a; /* x\n y */\n\n  // z\nb();\n"), 2);
    ck_assert_int_eq(count_c_lines("s = \"/* no */\"; // yes\n/* a */ c; /* b\n */\n"), 2);
    ck_assert_int_eq(count_python_lines("\"\"\"doc\nmore\"\"\"\nimport x\n\n# c\ny = 1  # d\n"), 2);
    ck_assert_int_eq(count_python_lines("x = 1\n\"\"\"not a docstring\"\"\"\n"), 2);
    int c_total = 0, py_total = 0;
    for (int i = 0; i < NREFS; i++) {
        char path[128];
        snprintf(path, sizeof path, "examples/%s.c", toolkit_refs[i].name);
        char *c = read_repo_file(path);
        snprintf(path, sizeof path, "examples/pytorch/%s.py", toolkit_refs[i].name);
        char *py = read_repo_file(path);
        int c_lines = count_c_lines(c), py_lines = count_python_lines(py);
        ck_assert_msg(py_lines == toolkit_refs[i].python_lines,
                      "%s: %d lines, the fixture says %d: rerun make_toolkit_ref.py", path,
                      py_lines, toolkit_refs[i].python_lines);
        ck_assert_msg(c_lines <= RATIO_CEILING * py_lines, "%s: %d lines of C for %d of Python",
                      toolkit_refs[i].name, c_lines, py_lines);
        c_total += c_lines;
        py_total += py_lines;
        free(c);
        free(py);
    }
    ck_assert_msg(c_total <= RATIO_GOAL * py_total, "%d lines of C for %d of Python", c_total,
                  py_total);
}
END_TEST

/* ---- two_moons ------------------------------------------------------------------------ */

#define MOONS_EPOCHS 60 /* the default */

typedef struct moons_result {
    double loss;                /* loss=L */
    double train_acc, test_acc; /* the accuracy lines */
    int train_right, test_right;
} moons_result;

/* The three result lines at the end of the output. */
static void parse_moons(const char *out, moons_result *m)
{
    const char *p = strstr(out, "loss=");
    ck_assert_msg(p != NULL && (p == out || p[-1] == '\n'), "no loss= line: %s", out);
    int n = sscanf(p, "loss=%lf\ntrain accuracy %lf (%d of 200)\ntest accuracy %lf (%d of 200)\n",
                   &m->loss, &m->train_acc, &m->train_right, &m->test_acc, &m->test_right);
    ck_assert_msg(n == 5, "the result lines are not as documented: %s", p);
}

static void make_tmpdir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/tg_toolkit_XXXXXX");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp failed");
}

/* The default run: an epoch line per epoch with the lr halved every 25
 * epochs and the loss falling tenfold, then every point of both sets
 * right; --quiet prints the result lines alone. */
START_TEST(test_moons_default)
{
    tgt_run *r = tgt_new_run();
    tgt_run_example("two_moons", (const char *const[]){NULL}, NULL, r);
    ck_assert_msg(r->status == 0, "two_moons: exit %d: %s", r->status, r->err);
    ck_assert_str_eq(r->err, "");
    ck_assert_int_eq(count_lines(r->out), MOONS_EPOCHS + 3);
    const char *p = r->out;
    double first = 0.0, last = 0.0;
    for (int e = 0; e < MOONS_EPOCHS; e++) {
        int epoch;
        double lr, loss, acc;
        ck_assert_int_eq(sscanf(p, "epoch %d lr %lf loss %lf accuracy %lf", &epoch, &lr, &loss,
                                &acc), 4);
        ck_assert_int_eq(epoch, e);
        ck_assert_double_eq(lr, 0.01 * pow(0.5, e / 25));
        ck_assert_msg(loss > 0.0 && acc >= 0.0 && acc <= 1.0, "%.60s", p);
        if (e == 0)
            first = loss;
        last = loss;
        p = strchr(p, '\n') + 1;
    }
    ck_assert_msg(last < first / 10, "the loss went from %g to %g", first, last);
    moons_result m;
    parse_moons(r->out, &m);
    ck_assert_int_eq(m.train_right, 200);
    ck_assert_int_eq(m.test_right, 200);
    ck_assert_msg(m.loss > 0.0 && m.loss < 0.05, "loss %g", m.loss);

    char want[256];
    snprintf(want, sizeof want, "%s", p);
    tgt_run_example("two_moons", (const char *const[]){"--quiet", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, want);
    free(r);
}
END_TEST

/* The flags change the run: --epochs 0 evaluates the initial weights, a
 * smaller --lr stops short, another --seed draws other moons. */
START_TEST(test_moons_flags_change_the_run)
{
    tgt_run *r = tgt_new_run();
    moons_result base, other;
    tgt_run_example("two_moons", (const char *const[]){"--quiet", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    parse_moons(r->out, &base);
    tgt_run_example("two_moons", (const char *const[]){"--epochs", "0", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_int_eq(count_lines(r->out), 3);
    parse_moons(r->out, &other);
    ck_assert_msg(other.loss > 0.3 && other.train_acc < 0.95, "%s", r->out);
    tgt_run_example("two_moons", (const char *const[]){"--lr=0.001", "--quiet", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    parse_moons(r->out, &other);
    ck_assert_msg(other.loss > 2 * base.loss, "%s", r->out);
    tgt_run_example("two_moons",
                    (const char *const[]){"--seed", "7", "--epochs=80", "--quiet", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    parse_moons(r->out, &other);
    ck_assert_msg(other.loss != base.loss && other.train_acc >= 0.99 && other.test_acc >= 0.97,
                  "%s", r->out);
    free(r);
}
END_TEST

/* --help; every kind of bad flag exits 2 with a message and the usage on
 * stderr and nothing on stdout. */
START_TEST(test_moons_bad_flags)
{
    static const char *const bad[][4] = {
        {"--bogus", NULL}, {"x", NULL}, {"--steps", "5", NULL}, {"--epochs", NULL},
        {"--epochs", "-1", NULL}, {"--epochs", "5x", NULL}, {"--epochs", "100001", NULL},
        {"--lr", "0", NULL}, {"--lr", "nan", NULL}, {"--lr=1e999", NULL},
        {"--seed", "4294967296", NULL}, {"--seed", "-1", NULL}, {"--save=", NULL},
        {"--save", "--quiet", NULL}, {"--resume", NULL}, {"--resume=--x", NULL},
    };
    tgt_run *r = tgt_new_run();
    tgt_run_example("two_moons", (const char *const[]){"--help", NULL}, NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strncmp(r->out, "usage: two_moons", 16) == 0, "%s", r->out);
    ck_assert_ptr_nonnull(strstr(r->out, "--resume FILE"));
    ck_assert_str_eq(r->err, "");
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tgt_run_example("two_moons", bad[k], NULL, r);
        ck_assert_msg(r->status == 2, "%s: exit %d, want 2", bad[k][0], r->status);
        ck_assert_msg(strncmp(r->err, "two_moons: ", 11) == 0, "%s", r->err);
        ck_assert_ptr_nonnull(strstr(r->err, "usage: two_moons"));
        ck_assert_str_eq(r->out, "");
    }
    free(r);
}
END_TEST

/* I/O errors exit 1 with the cause: an unwritable --save (before any
 * training), a --resume file that is missing or not a checkpoint, a lost
 * stdout. */
START_TEST(test_moons_io_errors)
{
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    tgt_run *r = tgt_new_run();
    tgt_run_example("two_moons", (const char *const[]){"--save", "/nonexistent-dir/m.st", NULL},
                    NULL, r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "two_moons: cannot write /nonexistent-dir/m.st"));
    ck_assert_str_eq(r->out, "");

    tgt_run_example("two_moons", (const char *const[]){"--resume", "/nonexistent-dir/m.st", NULL},
                    NULL, r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "two_moons: cannot resume from /nonexistent-dir/m.st"));
    ck_assert_str_eq(r->out, "");

    snprintf(path, sizeof path, "%s/not-a-checkpoint", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("hello, this is not a safetensors file\n", f);
    fclose(f);
    tgt_run_example("two_moons", (const char *const[]){"--resume", path, NULL}, NULL, r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "two_moons: cannot resume from"));
    ck_assert_ptr_nonnull(strstr(r->err, "tg_checkpoint_load"));
    ck_assert_int_eq(remove(path), 0);

    tgt_run_example("two_moons", (const char *const[]){"--epochs", "2", NULL}, "/dev/full", r);
    ck_assert_int_eq(r->status, 1);
    ck_assert_ptr_nonnull(strstr(r->err, "two_moons: writing the output failed"));
    free(r);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* The checkpoint: the run of 60 epochs saved in one go, against runs
 * stopped after k epochs, saved, and resumed to 60 (k = 0, 25 and 50,
 * where the lr changes; 30 inside a stretch of equal lrs; 60, nothing left
 * to train): the resumed run prints the uninterrupted run's epoch lines
 * from k on and its result lines, and saves the same bytes. */
START_TEST(test_moons_resume_is_exact)
{
    char dir[64], full[128], part[128], resumed[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(full, sizeof full, "%s/full.safetensors", dir);
    snprintf(part, sizeof part, "%s/part.safetensors", dir);
    snprintf(resumed, sizeof resumed, "%s/resumed.safetensors", dir);
    tgt_run *r = tgt_new_run(), *u = tgt_new_run();
    tgt_run_example("two_moons", (const char *const[]){"--save", full, NULL}, NULL, u);
    ck_assert_msg(u->status == 0, "%s", u->err);
    static const char *const stops[] = {"0", "25", "30", "50", "60"};
    for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
        tgt_run_example("two_moons",
                        (const char *const[]){"--epochs", stops[s], "--save", part, "--quiet",
                                              NULL},
                        NULL, r);
        ck_assert_msg(r->status == 0, "%s", r->err);
        tgt_run_example("two_moons",
                        (const char *const[]){"--resume", part, "--save", resumed, NULL}, NULL, r);
        ck_assert_msg(r->status == 0, "%s", r->err);
        char head[256];
        snprintf(head, sizeof head, "resumed from %s at epoch %s\n", part, stops[s]);
        ck_assert_msg(strncmp(r->out, head, strlen(head)) == 0, "%s", r->out);
        /* the rest is the uninterrupted run's output from epoch k on */
        const char *from = u->out;
        for (int e = atoi(stops[s]); e > 0; e--)
            from = strchr(from, '\n') + 1;
        const char *tail = r->out + strlen(head);
        const char *ck_line = strstr(from, "\ncheckpoint: "); /* "checkpoint: FILE (epoch 60)" */
        ck_assert_ptr_nonnull(ck_line);
        size_t n = (size_t)(ck_line - from) + 1;
        ck_assert_msg(strncmp(tail, from, n) == 0 && strncmp(tail + n, "checkpoint: ", 12) == 0,
                      "resumed at %s: the output differs from line %d on", stops[s],
                      1 + first_difference(tail, from));
        ck_assert_msg(same_bytes(full, resumed), "resumed at %s: the checkpoints differ",
                      stops[s]);
    }
    /* resuming a file into itself works too */
    tgt_run_example("two_moons",
                    (const char *const[]){"--epochs", "50", "--save", part, "--quiet", NULL},
                    NULL, r);
    ck_assert_int_eq(r->status, 0);
    tgt_run_example("two_moons",
                    (const char *const[]){"--resume", part, "--save", part, "--quiet", NULL},
                    NULL, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert(same_bytes(full, part));
    ck_assert_int_eq(remove(full), 0);
    ck_assert_int_eq(remove(part), 0);
    ck_assert_int_eq(remove(resumed), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    free(r);
    free(u);
}
END_TEST

Suite *test_toolkit_suite(void); /* called by the generated runner */

Suite *test_toolkit_suite(void)
{
    Suite *s = suite_create("toolkit");
    TCase *tc = tgt_tcase("twins");
    tcase_add_loop_test(tc, test_twin_output, 0, NREFS);
    tcase_add_test(tc, test_twin_chapter_is_numpys);
    tcase_add_loop_test(tc, test_twin_stdout_full, 0, NREFS);
    tcase_add_test(tc, test_line_counts);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("two_moons");
    tcase_add_test(tc, test_moons_default);
    tcase_add_test(tc, test_moons_flags_change_the_run);
    tcase_add_test(tc, test_moons_bad_flags);
    tcase_add_test(tc, test_moons_io_errors);
    tcase_add_test(tc, test_moons_resume_is_exact);
    suite_add_tcase(s, tc);
    return s;
}
