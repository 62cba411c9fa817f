/* graphviz.c - the --graph flag's picture: the tape as DOT
 * (tg_tape_write_dot), piped into `dot -Tsvg -o FILE` when dot is on PATH,
 * else saved as DOT. dot's exit status is checked: a dot that fails leaves
 * no half-drawn picture behind without a message. */
#include "graphviz.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chapter.h"

extern char **environ;

#define FLAGS (TG_GRAPH_VALUES | TG_GRAPH_GRADS)

/* The first executable "dot" in a directory of PATH, into buf; false if
 * there is none (an empty entry is the current directory, as for execvp). */
static bool find_dot(char *buf, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        return false;
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int n = len ? snprintf(buf, cap, "%.*s/dot", (int)len, p)
                    : snprintf(buf, cap, "./dot");
        if (n > 0 && (size_t)n < cap && access(buf, X_OK) == 0)
            return true;
        if (!end)
            return false;
        p = end + 1;
    }
}

/* Pipes the DOT into dot -Tsvg -o path. Returns 0, or 1 after a message. */
static int draw_svg(const ex_options *o, const char *dot, const tg_tape *T,
                    const tg_tensor *root)
{
    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, "%s: --graph: cannot make a pipe: %s\n", o->stage,
                strerror(errno));
        return 1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char *const argv[] = {(char *)(uintptr_t)"dot", (char *)(uintptr_t)"-Tsvg",
                          (char *)(uintptr_t)"-o", (char *)(uintptr_t)o->graph, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, dot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    if (err != 0) {
        close(fds[1]);
        fprintf(stderr, "%s: --graph: cannot run %s: %s\n", o->stage, dot,
                strerror(err));
        return 1;
    }
    /* A dot that exits early must not kill us with SIGPIPE: the write
     * fails instead, and dot's status says why. */
    struct sigaction ign = {0}, old;
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
    FILE *f = fdopen(fds[1], "w");
    int ferr = errno;
    int rc = f ? tg_tape_write_dot(T, root, f, FLAGS) : TG_OK;
    if (f)
        fclose(f);
    else
        close(fds[1]);
    sigaction(SIGPIPE, &old, NULL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!f) {
        fprintf(stderr, "%s: --graph: cannot write to dot: %s\n", o->stage,
                strerror(ferr));
        return 1;
    }
    if (rc != TG_OK) /* dot's complaint about the cut-off input is secondary */
        return ex_fail(o, "--graph");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFEXITED(st))
            fprintf(stderr, "%s: --graph: dot failed (exit status %d)\n", o->stage,
                    WEXITSTATUS(st));
        else
            fprintf(stderr, "%s: --graph: dot was killed by signal %d\n", o->stage,
                    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        return 1;
    }
    if (!o->quiet)
        ex_printf("graph: %s (SVG, drawn by %s)\n", o->graph, dot);
    return 0;
}

int ex_draw_tape(const ex_options *o, const tg_tape *T, const tg_tensor *root)
{
    char dot[EX_PATH_MAX];
    if (find_dot(dot, sizeof dot))
        return draw_svg(o, dot, T, root);
    if (tg_tape_save_dot(T, root, o->graph, FLAGS))
        return ex_fail(o, "--graph");
    if (!o->quiet)
        ex_printf("graph: %s (Graphviz DOT: dot is not on PATH; "
                  "draw it with dot -Tsvg)\n", o->graph);
    return 0;
}
