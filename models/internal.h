/* internal.h - what models/ shares between its files. Not installed. */
#ifndef TG_MODELS_INTERNAL_H
#define TG_MODELS_INTERNAL_H

#include "../tensor/internal.h"
#include "nn.h"

/* The one validation of a parameter list, used by every function that walks
 * one (zero-grad, save, load, the optimisers): not NULL, a count in
 * [0, TG_MAX_PARAMS], and every entry a named, caller-owned tensor that can
 * be written (not a broadcast view) and, with contiguous, is contiguous.
 * Errors are reported under fn and name the entry. */
int tgm__check_params(const char *fn, const tg_params *p, bool contiguous);

/* Appends t under name, as a parameter (marked as requiring a gradient)
 * or as a buffer (left as it is): tg_params_add and tg_params_add_buffer
 * with their errors reported under fn. */
int tgm__params_add(const char *fn, tg_params *p, const char *name, tg_tensor *t,
                    bool buffer);

#endif
