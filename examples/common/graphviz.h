/* graphviz.h - draws a tape for the examples' --graph flag: an SVG made by
 * Graphviz's dot when it is on PATH, else the DOT text itself. Graphviz is
 * optional: nothing else needs it, and this file is the only one that
 * looks for it. */
#ifndef EX_GRAPHVIZ_H
#define EX_GRAPHVIZ_H

#include "../../tapegrad.h"
#include "cli.h"

/* Writes the records root depends on, with their values and gradients
 * (TG_GRAPH_VALUES | TG_GRAPH_GRADS), to o->graph, and unless o->quiet says
 * which kind of file it is. Returns 0, or 1 after saying why on stderr
 * (a tapegrad error, dot failing, a file that cannot be written). */
int ex_draw_tape(const ex_options *o, const tg_tape *T, const tg_tensor *root);

#endif /* EX_GRAPHVIZ_H */
