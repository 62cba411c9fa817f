/* cli.h - the command line shared by the chapter examples.
 *
 *     ex_options o;
 *     int rc = ex_parse_args(&o, "chapter_tensor", argc, argv);
 *     if (rc >= 0)
 *         return rc;          // 0 after --help, 2 after a usage error
 *     // o.iters, o.lr, o.n, o.seed, o.plot, o.loss_plot, o.quiet
 *
 * Every flag takes its value as the next argument or after '=':
 * "--iters 5" and "--iters=5" are the same. Numbers are parsed with
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
} ex_options;

/* Fills o from the command line. Returns -1 when the program should run,
 * otherwise the exit status it should return at once: 0 after --help
 * (usage on stdout), 2 after a bad flag (message and usage on stderr). */
int ex_parse_args(ex_options *o, const char *stage, int argc, char **argv);

/* Writes the usage text for stage to f. */
void ex_usage(const char *stage, FILE *f);

#endif /* EX_CLI_H */
