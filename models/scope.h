/* scope.h - an owning scope for a program that trains: everything it makes
 * (tensors, the tape, the model, the optimiser, the batch iterator) is
 * handed to one tg_scope, which remembers the first failure and, at the
 * end, reports it and frees everything in one call.
 *
 *     int main(void)
 *     {
 *         tg_scope *S = tg_scope_new("fit");
 *         tg_tape *T = tg_keep(S, tg_tape_new());
 *         tg_tensor *x = tg_keep(S, tg_linspace(TG_FLOAT64, -1.0, 1.0, 100));
 *         tg_module *net = tg_keep(S, tg_nn_linear(1, 1, TG_FLOAT64, NULL));
 *         tg_optim *opt = tg_keep(S, tg_optim_sgd(tg_module_parameters(net), 0.1,
 *                                                 0.0, 0.0, false));
 *         if (tg_failed(S))                  // one check for everything above
 *             return tg_scope_end(S);
 *         for (int step = 0; step < 100; step++)
 *             if (!tg_check(S, tg_step(T, loss_of(T, net, x), opt, NULL)))
 *                 return tg_scope_end(S);   // "fit: <what failed>" on stderr, 1
 *         ...
 *         return tg_scope_end(S);           // 0, or 1 if stdout could not be written
 *     }
 *
 * The rules:
 *  - tg_keep(S, x) hands x to S and returns it. S owns x from that call on
 *    whatever happens: if S cannot take it (S is NULL, or out of memory) x
 *    is freed at once and NULL returned. A NULL x (its maker failed) fails
 *    S, which keeps that maker's message.
 *  - tg_check(S, rc) fails S when rc is not 0 (an int-returning call's
 *    result, or a condition that means failure), keeping the message of
 *    the thread's last error; it returns whether S is still free of
 *    failures. Only the first failure's message is kept.
 *  - tg_scope_end flushes stdout, prints "program: message" on stderr if S
 *    failed, frees what S owns, newest first (the optimiser before the
 *    model it updates), frees S and returns the exit status: 0, or 1 on a
 *    failure.
 *  - A tg_scope_new that ran out of memory returns NULL; every call here
 *    accepts that NULL (tg_keep frees what it is given, tg_failed is true,
 *    tg_scope_end reports it), so the one check still catches it.
 *
 * A scope is for a program's top level, single-threaded; a library of
 * your own should report errors as tapegrad does (NULL or a code). */
#ifndef TG_SCOPE_H
#define TG_SCOPE_H

#include "batch.h"
#include "module.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_scope tg_scope;

/* A new, empty scope; program names the messages ("toolkit_spiral: ...").
 * NULL when out of memory (see the rules above). */
tg_scope *tg_scope_new(const char *program);

/* tg_keep for each kind of object; the macro picks by type. */
tg_tensor *tg_keep_tensor(tg_scope *S, tg_tensor *t);
tg_tape *tg_keep_tape(tg_scope *S, tg_tape *T);
tg_module *tg_keep_module(tg_scope *S, tg_module *m);
tg_optim *tg_keep_optim(tg_scope *S, tg_optim *o);
tg_batches *tg_keep_batches(tg_scope *S, tg_batches *B);
/* Anything else: obj is released by release(obj) at the end. A NULL
 * release fails S with TG_ERR_NULL and leaves obj to the caller (the
 * scope cannot know how to free it). */
void *tg_keep_object(tg_scope *S, void *obj, void (*release)(void *));

#ifndef __cplusplus
#define tg_keep(S, x)                                                                  \
    _Generic((x),                                                                      \
        tg_tensor *: tg_keep_tensor,                                                   \
        tg_tape *: tg_keep_tape,                                                       \
        tg_module *: tg_keep_module,                                                   \
        tg_optim *: tg_keep_optim,                                                     \
        tg_batches *: tg_keep_batches)(S, x)
#endif

/* Fails S when rc != 0; returns true while S has not failed. */
bool tg_check(tg_scope *S, int rc);
/* Whether S has failed (true for NULL). */
bool tg_failed(const tg_scope *S);
/* The first failure's message ("" if none). */
const char *tg_scope_message(const tg_scope *S);
/* Ends the program's scope: see the rules above. Returns 0 or 1. */
int tg_scope_end(tg_scope *S);

#ifdef __cplusplus
}
#endif
#endif /* TG_SCOPE_H */
