/* cli.h - the command line shared by the chapter examples.
 *
 *     ex_options o;
 *     int rc = ex_parse_args(&o, "chapter_tensor", argc, argv);
 *     if (rc >= 0)
 *         return rc;          // 0 after --help, 2 after a usage error
 *     // o.iters, o.lr, o.n, o.seed, o.plot, o.loss_plot, o.quiet
 *
 * Every flag takes its value as the next argument or after '=':
 * "--iters 5" and "--iters=5" are the same; a value may not start with
 * "--" (a forgotten value: "--plot --quiet"). Numbers are parsed with
 * strtol/strtod and must be complete, finite and in range; anything else
 * prints a message and the usage text on stderr.
 */
#ifndef EX_CLI_H
#define EX_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define EX_PATH_MAX 1024

/* Limits that keep the loss history and the data arrays a sane size. */
#define EX_MAX_ITERS 10000000L
#define EX_MAX_POINTS 10000000L

typedef struct ex_options {
    const char *stage;           /* program name: "chapter_autograd" */
    long iters;                  /* gradient-descent steps; default 800 */
    double lr;                   /* learning rate; default 0.001 */
    long n;                      /* points in [-1, 1]; default 100 */
    uint32_t seed;               /* np.random.seed; default 100 */
    bool quiet;                  /* print only the init and final lines */
    char plot[EX_PATH_MAX];      /* fit figure; default "<stage>.svg" */
    char loss_plot[EX_PATH_MAX]; /* loss curve: plot's stem + "_loss.svg" */
    char graph[EX_PATH_MAX];     /* --graph: the tape of one step; "" none
                                    (a flag of chapter_autograd only) */
} ex_options;

/* Fills o from the command line. Returns -1 when the program should run,
 * otherwise the exit status it should return at once: 0 after --help
 * (usage on stdout), 2 after a bad flag (message and usage on stderr), 1
 * when a figure's path cannot be written (checked here, before any work:
 * an existing file is left as it is, a missing one created and removed).
 * 1 also when --help's text could not be written. It registers an exit
 * handler that flushes stdout and, when output written after the last
 * ex_flush_stdout was lost, says why on stderr and makes the exit status 1
 * (a backstop: ex_write_figures and ex_finish check stdout themselves). */
int ex_parse_args(ex_options *o, const char *stage, int argc, char **argv);

/* Flushes stdout. Returns 0, or 1 after saying on stderr (once) why output
 * was lost: a full disk, a closed pipe. */
int ex_flush_stdout(void);
/* The program name ex_flush_stdout's message starts with, for a program
 * that parses its own flags (ex_parse_args sets it). */
void ex_set_stage(const char *stage);

/* For programs that parse their own flags (logistic.c), the rules above:
 * a whole-string integer in [lo, hi]; a whole-string finite double > 0;
 * whether path can be written without changing it (an existing file is
 * opened for writing, not truncated; a missing one created and removed),
 * 0 or 1 after saying why not on stderr as "STAGE: cannot write PATH: ...". */
bool ex_parse_int(const char *s, long long lo, long long hi, long long *out);
bool ex_parse_positive(const char *s, double *out);
int ex_check_writable(const char *stage, const char *path);

/* Writes the usage text for stage to f. */
void ex_usage(const char *stage, FILE *f);

/* With mute, ex_printf prints nothing (the ranks other than 0 of a
 * data-parallel run, which would repeat rank 0's lines). */
void ex_mute_stdout(bool mute);

/* printf, remembering the cause of the first failed write for the exit
 * handler's message. The examples print through it. */
int ex_printf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif /* EX_CLI_H */
