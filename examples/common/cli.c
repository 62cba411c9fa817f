/* cli.c - parses the chapter examples' flags. Every number must be the
 * whole argument (no trailing text, no leading blanks), finite and in range;
 * a bad flag is reported with the usage text and exit status 2. Before any
 * work the figures' paths are checked to be writable, and at exit stdout is
 * checked to have been written. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- standard output ------------------------------------------------------ */

static const char *out_stage = "example"; /* for the message at exit */
static int out_errno; /* of the first failed write to stdout; -1 unknown */

static bool muted; /* ex_mute_stdout */

void ex_mute_stdout(bool mute) { muted = mute; }

int ex_printf(const char *fmt, ...)
{
    if (muted)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    errno = 0;
    int r = vprintf(fmt, ap);
    int err = errno;
    va_end(ap);
    if (r < 0 && out_errno == 0)
        out_errno = err ? err : -1;
    return r;
}

static bool out_reported; /* the loss was reported: say it once */

int ex_flush_stdout(void)
{
    errno = 0;
    if (fflush(stdout) != 0 && out_errno == 0)
        out_errno = errno ? errno : -1;
    if (out_errno == 0 && !ferror(stdout))
        return 0;
    if (!out_reported)
        fprintf(stderr, "%s: writing the output failed: %s\n", out_stage,
                out_errno > 0 ? strerror(out_errno) : "an earlier write failed");
    out_reported = true;
    return 1;
}

void ex_set_stage(const char *stage) { out_stage = stage; }

/* At exit, the backstop for output written after the last ex_flush_stdout
 * (chapter_arrays prints its final line after the figures): when any was
 * lost, say why and make the exit status 1. The normal paths report it
 * through ex_flush_stdout and return 1 themselves. */
static void check_stdout(void)
{
    if (out_reported || !ex_flush_stdout())
        return;
    _exit(1); /* exit() may not be called again from an exit handler */
}

/* The stage that can draw its tape (--graph): the one that has a tape and
 * nothing else in the way of the picture. */
static bool takes_graph(const char *stage)
{
    return strcmp(stage, "chapter_autograd") == 0;
}

void ex_usage(const char *stage, FILE *f)
{
    errno = 0;
    bool graph = takes_graph(stage);
    int r = fprintf(f,
            "usage: %s [--iters N] [--lr F] [--n N] [--seed S] [--plot FILE]\n"
            "       %*s%s [--quiet] [--help]\n"
            "\n"
            "Fits y = w*x^2 + b to the chapter's data, x = linspace(-1, 1, n) and\n"
            "y = 3*x^2 + 2 + 0.2*rand(n), by plain gradient descent on the loss\n"
            "0.5*sum((w*x^2 + b - y)^2).\n"
            "\n"
            "  --iters N    gradient-descent steps, 0..%ld (default 800)\n"
            "  --lr F       learning rate, finite and > 0 (default 0.001)\n"
            "  --n N        number of points, 2..%ld (default 100)\n"
            "  --seed S     NumPy seed, 0..4294967295 (default 100)\n"
            "  --plot FILE  the fit figure, SVG (default %s.svg); the loss curve\n"
            "               goes next to it as STEM_loss.svg; both are checked to\n"
            "               be writable before training\n"
            "%s"
            "  --quiet      print only the two result lines (figures are still written)\n"
            "  --help       print this text and exit\n"
            "\n"
            "Output: 'init w=W b=B' before training; unless --quiet, the loss every\n"
            "100 steps and where the figures went; last 'w=W b=B loss=L', where L\n"
            "is the loss of the last forward pass (before the last update), or nan\n"
            "with --iters 0. A flag's value may not start with -- (write ./--x).\n"
            "Exit status: 0 ok, 1 runtime error (an unwritable figure, lost\n"
            "output), 2 bad flags.\n",
            stage, (int)strlen(stage), "", graph ? " [--graph FILE]" : "",
            EX_MAX_ITERS, EX_MAX_POINTS, stage,
            graph ? "  --graph FILE the tape of the first step with its gradients: SVG\n"
                    "               when Graphviz's dot is on PATH, else DOT (dot -Tsvg)\n"
                  : "");
    if (r < 0 && f == stdout && out_errno == 0)
        out_errno = errno ? errno : -1;
}

bool ex_parse_int(const char *s, long long lo, long long hi, long long *out)
{
    if (*s == '\0' || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* strtod also accepts "inf" and "nan", which isfinite rejects; an
 * underflow to 0 sets ERANGE. */
bool ex_parse_positive(const char *s, double *out)
{
    if (*s == '\0' || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v <= 0.0)
        return false;
    *out = v;
    return true;
}

static int usage_error(const char *stage, const char *flag, const char *what,
                       const char *value)
{
    if (value)
        fprintf(stderr, "%s: %s: '%s' %s\n", stage, flag, value, what);
    else
        fprintf(stderr, "%s: %s: %s\n", stage, flag, what);
    ex_usage(stage, stderr);
    return 2;
}

/* plot minus a trailing ".svg", then "_loss.svg". */
static void loss_path(const char *plot, char *out, size_t cap)
{
    size_t len = strlen(plot);
    const char *ext = ".svg";
    size_t stem = len;
    if (len > 4 && strcmp(plot + len - 4, ext) == 0)
        stem = len - 4;
    snprintf(out, cap, "%.*s_loss.svg", (int)stem, plot);
}

int ex_check_writable(const char *stage, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
        close(fd);
        unlink(path);
        return 0;
    }
    /* O_NONBLOCK: a FIFO without a reader fails here instead of hanging. */
    if (errno == EEXIST && (fd = open(path, O_WRONLY | O_NONBLOCK)) >= 0) {
        close(fd);
        return 0;
    }
    fprintf(stderr, "%s: cannot write %s: %s\n", stage, path, strerror(errno));
    return 1;
}

int ex_parse_args(ex_options *o, const char *stage, int argc, char **argv)
{
    static bool registered;
    out_stage = stage;
    if (!registered && atexit(check_stdout) == 0)
        registered = true;
    memset(o, 0, sizeof *o);
    o->stage = stage;
    o->iters = 800;
    o->lr = 0.001;
    o->n = 100;
    o->seed = 100;
    snprintf(o->plot, sizeof o->plot, "%s.svg", stage);

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            ex_usage(stage, stdout);
            return ex_flush_stdout();
        }
        if (strcmp(arg, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return usage_error(stage, arg, "unexpected argument", NULL);

        /* The flag's name, and its value after '=' or in the next argument. */
        char name[32];
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen >= sizeof name)
            return usage_error(stage, arg, "unknown flag", NULL);
        memcpy(name, arg, nlen);
        name[nlen] = '\0';
        bool known = strcmp(name, "--iters") == 0 || strcmp(name, "--lr") == 0 ||
                     strcmp(name, "--n") == 0 || strcmp(name, "--seed") == 0 ||
                     strcmp(name, "--plot") == 0 ||
                     (strcmp(name, "--graph") == 0 && takes_graph(stage));
        if (!known)
            return usage_error(stage, name, "unknown flag", NULL);
        const char *val;
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
                return usage_error(stage, name, "missing value", NULL);
            val = argv[++i];
        }
        /* "--plot=--quiet" as well as "--plot --quiet": a value is never a
         * flag (./--x names such a file). */
        if (strncmp(val, "--", 2) == 0)
            return usage_error(stage, name, "is a flag, not a value", val);

        long long v;
        if (strcmp(name, "--iters") == 0) {
            if (!ex_parse_int(val, 0, EX_MAX_ITERS, &v))
                return usage_error(stage, name,
                                   "is not an integer in 0..10000000", val);
            o->iters = (long)v;
        } else if (strcmp(name, "--n") == 0) {
            if (!ex_parse_int(val, 2, EX_MAX_POINTS, &v))
                return usage_error(stage, name,
                                   "is not an integer in 2..10000000", val);
            o->n = (long)v;
        } else if (strcmp(name, "--seed") == 0) {
            if (!ex_parse_int(val, 0, 4294967295LL, &v))
                return usage_error(stage, name,
                                   "is not an integer in 0..4294967295", val);
            o->seed = (uint32_t)v;
        } else if (strcmp(name, "--lr") == 0) {
            if (!ex_parse_positive(val, &o->lr))
                return usage_error(stage, name, "is not a finite number > 0",
                                   val);
        } else if (strcmp(name, "--graph") == 0) {
            if (*val == '\0')
                return usage_error(stage, name, "empty file name", NULL);
            if (strlen(val) >= sizeof o->graph)
                return usage_error(stage, name, "file name too long", NULL);
            snprintf(o->graph, sizeof o->graph, "%s", val);
        } else { /* --plot */
            /* Room for the "_loss.svg" that the loss curve's name adds. */
            if (*val == '\0')
                return usage_error(stage, name, "empty file name", NULL);
            if (strlen(val) + 10 > sizeof o->plot)
                return usage_error(stage, name, "file name too long", NULL);
            snprintf(o->plot, sizeof o->plot, "%s", val);
        }
    }
    loss_path(o->plot, o->loss_plot, sizeof o->loss_plot);
    /* Before any work, so that a long run does not end in a bad path. */
    if (ex_check_writable(stage, o->plot) || ex_check_writable(stage, o->loss_plot) ||
        (o->graph[0] && ex_check_writable(stage, o->graph)))
        return 1;
    return -1;
}
