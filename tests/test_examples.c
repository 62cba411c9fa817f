/* test_examples.c - runs the five chapter examples as programs and checks
 * what they print against NumPy (tests/data/chapter_reference.txt), against
 * each other, the figures they write and how they refuse bad flags.
 *
 * The binaries are in $TG_BUILD/examples (make check sets TG_BUILD and
 * builds them first). Each run gets its stdout and stderr in temporary
 * files (or stdout on /dev/full, to see a lost output reported) and the
 * figures in a fresh directory under /tmp. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const examples[] = {
    "chapter_arrays", "chapter_tensor", "chapter_autograd", "chapter_nn",
    "chapter_optim",
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

/* ---- running a program ------------------------------------------------------ */

typedef struct run_result {
    int status; /* exit status, or -1 when killed by a signal */
    char out[8192];
    char err[8192];
} run_result;

static void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    ck_assert_msg(!ferror(f), "reading a child's output failed");
}

/* Runs examples NAME with the NULL-terminated args, collecting its exit
 * status, stdout and stderr; stdout goes to out_path instead when it is not
 * NULL (r->out is then empty). */
static void run_example_to(const char *name, const char *const *args,
                           const char *out_path, run_result *r)
{
    const char *build = getenv("TG_BUILD");
    ck_assert_msg(build != NULL, "TG_BUILD is not set; run the tests with make check");
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/%s", build, name);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not built", path);

    char *argv[32];
    int argc = 0;
    argv[argc++] = path;
    for (; args[argc - 1] != NULL; argc++) {
        ck_assert_int_lt(argc, 31);
        argv[argc] = (char *)(uintptr_t)args[argc - 1]; /* execv's signature */
    }
    argv[argc] = NULL;

    FILE *out = out_path ? fopen(out_path, "w") : tmpfile(), *err = tmpfile();
    ck_assert_msg(out && err, "cannot make the child's output files");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        if (dup2(fileno(out), STDOUT_FILENO) < 0 || dup2(fileno(err), STDERR_FILENO) < 0)
            _exit(126);
        execv(path, argv);
        _exit(127);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (out_path)
        r->out[0] = '\0';
    else
        slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
    fclose(out);
    fclose(err);
}

static void run_example(const char *name, const char *const *args, run_result *r)
{
    run_example_to(name, args, NULL, r);
}

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
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    run_example(examples[_i], (const char *const[]){"--quiet", "--plot", plot, NULL}, r);
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

/* With the default flags (only the figure moved to /tmp) the five stages
 * print the same numbers; the chatty lines sit between init and final, and
 * the figures are where the output says. */
START_TEST(test_default_run_all_agree)
{
    chapter_result ref, c[NEXAMPLES];
    read_reference(&ref);
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    for (int i = 0; i < NEXAMPLES; i++) {
        char plot[128], line[160];
        snprintf(plot, sizeof plot, "%s/%s.svg", dir, examples[i]);
        run_example(examples[i], (const char *const[]){"--plot", plot, NULL}, r);
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
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    chapter_result c;

    run_example(examples[_i],
                (const char *const[]){"--seed", "7", "--n=10", "--lr", "0.05",
                                      "--iters", "50", "--quiet", "--plot", plot, NULL},
                r);
    ck_assert_msg(r->status == 0, "%s: %s", examples[_i], r->err);
    parse_output(r->out, &c);
    ASSERT_REL(c.w0, want.w0, "init w");
    ASSERT_REL(c.b0, want.b0, "init b");
    ASSERT_REL(c.w, want.w, "final w");
    ASSERT_REL(c.b, want.b, "final b");
    ASSERT_REL(c.loss, want.loss, "final loss");

    /* No steps: the parameters stay, and no forward pass gives loss nan. */
    run_example(examples[_i],
                (const char *const[]){"--seed", "7", "--n", "10", "--iters", "0",
                                      "--quiet", "--plot", plot, NULL},
                r);
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
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        run_example(examples[_i], bad[k], r);
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
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    run_example(examples[_i], (const char *const[]){"--help", NULL}, r);
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
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    run_example(examples[_i],
                (const char *const[]){"--iters", "3", "--quiet", "--plot",
                                      "/nonexistent-dir/fig.svg", NULL},
                r);
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
    run_example(examples[_i],
                (const char *const[]){"--quiet", "--plot", plot, NULL}, r);
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
    run_example(examples[_i],
                (const char *const[]){"--quiet", "--plot", fresh, NULL}, r);
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
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    for (int which = 0; which < 2; which++) {
        snprintf(plot, sizeof plot, "%s/fig", dir);
        snprintf(link, sizeof link, which ? "%s/fig_loss.svg" : "%s/fig", dir);
        ck_assert_int_eq(symlink("/dev/full", link), 0);
        run_example(examples[_i],
                    (const char *const[]){"--iters", "5", "--quiet", "--plot",
                                          plot, NULL},
                    r);
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
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    const char *const *runs[] = {
        (const char *const[]){"--quiet", "--plot", plot, NULL},
        (const char *const[]){"--plot", plot, NULL},
        (const char *const[]){"--help", NULL},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        run_example_to(examples[_i], runs[k], "/dev/full", r);
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
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    run_example("readme", (const char *const[]){"--help", NULL}, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strncmp(r->out, "usage: readme", 13) == 0, "help: %s", r->out);
    ck_assert_str_eq(r->err, "");
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        run_example("readme", bad[k], r);
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
    run_example("readme", (const char *const[]){NULL}, r);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, "array([-5.25657241])\n");
    free(r);
}
END_TEST

/* ---- the figures -------------------------------------------------------------------- */

START_TEST(test_figures)
{
    char dir[64], plot[128], loss[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(plot, sizeof plot, "%s/%s.svg", dir, examples[_i]);
    snprintf(loss, sizeof loss, "%s/%s_loss.svg", dir, examples[_i]);
    run_result *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    run_example(examples[_i], (const char *const[]){"--plot", plot, NULL}, r);
    ck_assert_msg(r->status == 0, "%s: %s", examples[_i], r->err);

    char *svg = read_file(plot);
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
    /* The chapter's axes: x from -1 to 1, y from 2 to 6. */
    ck_assert_ptr_nonnull(strstr(svg, ">-1</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">6</text>"));
    free(svg);

    svg = read_file(loss);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    ck_assert_ptr_nonnull(strstr(svg, "</svg>"));
    ck_assert_ptr_nonnull(strstr(svg, ">loss</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "<polyline"));
    free(svg);

    /* A name without .svg gets _loss.svg appended for the loss curve. */
    snprintf(plot, sizeof plot, "%s/fig", dir);
    snprintf(loss, sizeof loss, "%s/fig_loss.svg", dir);
    run_example(examples[_i],
                (const char *const[]){"--iters", "2", "--quiet", "--plot", plot, NULL}, r);
    ck_assert_int_eq(r->status, 0);
    struct stat sb;
    ck_assert_int_eq(stat(plot, &sb), 0);
    ck_assert_int_eq(stat(loss, &sb), 0);
    free(r);
    remove_tmpdir(dir);
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
    suite_add_tcase(s, tc);
    return s;
}
