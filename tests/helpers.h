/* helpers.h - shared by every Check suite: a counting, failure-injecting
 * allocator, a leak-checking fixture and assertions on errors. */
#ifndef TG_TEST_HELPERS_H
#define TG_TEST_HELPERS_H

#include <check.h>
#include <string.h>

#include "tapegrad.h"

/* The counting allocator: installed by tgt_setup, checked by tgt_teardown. */
typedef struct tgt_alloc_stats {
    long allocs;      /* successful allocations (not reallocs) so far */
    long reallocs;
    long frees;
    long live_blocks; /* currently allocated blocks */
    long long live_bytes;
    long fail_at;     /* fail the fail_at-th allocation (1-based); 0 never */
    long calls;       /* allocation calls (incl. reallocs), counting failures */
} tgt_alloc_stats;

extern tgt_alloc_stats tgt_stats;

void tgt_alloc_install(void);
void tgt_alloc_uninstall(void);
/* Checked fixture: installs the counting allocator, clears the error; the
 * teardown fails the test if any block is still live (a leak). */
void tgt_setup(void);
void tgt_teardown(void);
/* A TCase with the leak-checking fixture already added. */
TCase *tgt_tcase(const char *name);

/* Asserts that the last error has the given code and that its message
 * contains the substring. */
#define TGT_ASSERT_ERR(code, substr)                                          \
    do {                                                                      \
        ck_assert_int_eq(tg_last_error(), (code));                            \
        ck_assert_msg(strstr(tg_last_message(), (substr)) != NULL,           \
                      "message \"%s\" lacks \"%s\"", tg_last_message(),       \
                      (substr));                                              \
    } while (0)

/* a == b, or both NaN: exact equality of results that may be NaN. */
bool tgt_same_value(double a, double b);

#define TGT_ASSERT_SAME(got, want)                                            \
    do {                                                                      \
        double g_ = (got), w_ = (want);                                       \
        ck_assert_msg(tgt_same_value(g_, w_), "%s: got %.17g, want %.17g",    \
                      #got, g_, w_);                                          \
    } while (0)

/* Element i (C order) of t as a double. */
double tgt_at(const tg_tensor *t, int64_t i);
/* Asserts shape equality against a literal list. */
void tgt_assert_shape(const tg_tensor *t, int ndim, const int64_t *shape);
/* Fails each allocation of f(x) in turn. Every failure must return NULL
 * with TG_ERR_NOMEM and a message containing `name`, and leave no block
 * behind. Returns how many allocations the successful call made. */
typedef tg_tensor *(*tgt_op1_fn)(const tg_tensor *x);
long tgt_sweep_failures(tgt_op1_fn f, const tg_tensor *x, const char *name);
/* Path of a file under tests/data (the runner's working directory is tests/). */
const char *tgt_data(const char *name);

/* ---- Running an example program ------------------------------------------- */

/* What a program run left: its exit status (-1 when a signal killed it) and
 * the first 64 KiB of its stdout and 16 KiB of its stderr. Large: put it on
 * the heap (tgt_new_run). */
typedef struct tgt_run {
    int status;
    char out[65536];
    char err[16384];
} tgt_run;

/* A zeroed tgt_run from malloc (the test fails when there is no memory). */
tgt_run *tgt_new_run(void);
/* Runs $TG_BUILD/examples/NAME with the NULL-terminated args (at most 30)
 * and fills r; stdout goes to out_path instead when it is not NULL (r->out
 * is then empty). The test fails when TG_BUILD is unset or the program is
 * not built. */
void tgt_run_example(const char *name, const char *const *args, const char *out_path,
                     tgt_run *r);

#endif
