/* words_gpt.c - a small GPT (models/gpt.h) that learns to make up English
 * words, character by character, trained on Debian's word list:
 *
 *     apt-get install wamerican        # /usr/share/dict/american-english
 *     build/examples/words_gpt         # 2000 steps, then 20 new words
 *
 * The data. Every line of the list that is a word of lowercase a-z and fits
 * the context is one sequence; the tokens are 0, the end of a word, and
 * 1..26 for a..z. A word w of L letters is the input x = [0, w1 .. wL] and
 * the target y = [w1 .. wL, 0]: at each position the model predicts the
 * next letter or the end, and position 0's 0 is the start. Both are padded
 * to the context, x with 0 and y with -100, which the loss skips (PyTorch's
 * ignore_index), so a word of L letters needs a context of L + 1. Longer
 * words and lines with capitals, apostrophes or accents are left out and
 * counted. A seeded permutation puts 1 word in 10 in the validation set.
 *
 * The model and its training are issue 14's: token and position
 * embeddings, 4 pre-norm blocks of 4-head causal self-attention and a 4x
 * GELU MLP, width 64, a final layer norm and a linear head; AdamW (lr 5e-4,
 * betas 0.9 and 0.99, weight decay 0.01 on the matrices only) on shuffled
 * batches of 32 words, a linear warm-up then a cosine schedule down to a
 * tenth of the lr, gradients clipped to norm 1. Every 250 steps it prints
 * the mean training loss since the last line and the loss on the whole
 * validation set; at the end it draws both (SVG), saves a checkpoint and
 * samples new words, marking those that are in the list.
 *
 * One generator, seeded with --seed, is drawn in a fixed order: the split,
 * then GPT-2's initialisation, then a permutation at the start of each
 * epoch of batches, then the samples. tests/data/make_words_ref.py is the
 * same program in PyTorch, draw for draw; docs/transformer.md compares the
 * two. Run with --help for the flags.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tapegrad.h"
#include "common/cli.h"
#include "common/graphviz.h"
#include "common/plot.h"

#define STAGE "words_gpt"
#define WORDS_FILE "/usr/share/dict/american-english"
#define VOCAB 27        /* the end of a word and a..z */
#define IGNORE (-100)   /* targets past a word's end: no loss */
#define MAX_FILE (64L << 20)
#define MAX_STEPS 1000000L
#define EVAL_CHUNK 512  /* validation words per forward */
#define MAX_LINE 63     /* the letters of the longest context's word */

typedef struct options {
    const char *data, *save, *load, *plot, *graph;
    long steps, batch, eval_every, sample;
    long layers, heads, embd, context;
    double lr, temperature;
    long top_k;
    uint32_t seed;
    bool quiet;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: words_gpt [--steps N] [--batch N] [--lr F] [--seed S]\n"
            "                 [--layers N] [--heads N] [--embd N] [--context N]\n"
            "                 [--save FILE] [--load FILE] [--sample N]\n"
            "                 [--temperature F] [--top-k K] [--plot FILE]\n"
            "                 [--graph FILE] [--eval-every N] [--data FILE]\n"
            "                 [--quiet] [--help]\n"
            "\n"
            "Trains a small GPT on the lowercase words of a word list, one\n"
            "character at a time, and makes up new words with it.\n"
            "\n"
            "  --steps N        training steps (batches), 0..%ld (default 2000); 0\n"
            "                   samples from the untrained model, saving nothing\n"
            "  --batch N        words per batch, 1..4096 (default 32)\n"
            "  --lr F           AdamW's peak learning rate, finite and > 0\n"
            "                   (default 0.0005)\n"
            "  --seed S         the generator of the split, the weights, the\n"
            "                   shuffles and the samples, 0..4294967295 (default 1337)\n"
            "  --layers N       transformer blocks, 0..4 (default 4)\n"
            "  --heads N        attention heads per block, dividing --embd (default 4)\n"
            "  --embd N         the width, 1..1024 (default 64)\n"
            "  --context N      the longest sequence: words of up to N-1 letters,\n"
            "                   2..64 (default 16)\n"
            "  --save FILE      the checkpoint written after training (safetensors:\n"
            "                   the model, AdamW's state, the step; default\n"
            "                   words_gpt.safetensors); checked to be writable first\n"
            "  --load FILE      sample from a model saved by --save instead of\n"
            "                   training (its size comes from the file); the words\n"
            "                   differ from the training run's, whose generator had\n"
            "                   also drawn the batches\n"
            "  --sample N       new words to make up at the end, 0..10000 (default 20)\n"
            "  --temperature F  divides the logits before sampling, finite and >= 0;\n"
            "                   0 picks the likeliest letter (default 1)\n"
            "  --top-k K        sample among the K likeliest tokens only, 0..27;\n"
            "                   0 all of them (default 0)\n"
            "  --plot FILE      the training and validation loss curves, SVG\n"
            "                   (default words_gpt.svg)\n"
            "  --graph FILE     the tape of the first training step, SVG when\n"
            "                   Graphviz's dot is on PATH, else DOT (large: try\n"
            "                   --layers 1 --embd 8 --heads 2 --steps 1)\n"
            "  --eval-every N   steps between loss lines, 1..%ld (default 250)\n"
            "  --data FILE      the word list, UTF-8, one word a line (default\n"
            "                   " WORDS_FILE ",\n"
            "                   from `apt-get install wamerican`)\n"
            "  --quiet          print the loss lines and the samples only\n"
            "  --help           print this text and exit\n"
            "\n"
            "Output: 'step K/N train=L val=V lr=R time=Ts' every --eval-every steps\n"
            "and after the last (train: the mean batch loss since the line before;\n"
            "val: the loss over every validation word; time: the training time so\n"
            "far), 'final val=V', then the samples, one a line, '*' after a word\n"
            "that is in the list. A progress bar goes to stderr when it is a\n"
            "terminal. OpenBLAS takes its thread count from OPENBLAS_NUM_THREADS:\n"
            "with 1 a run repeats bit for bit, with more the sums in its matrix\n"
            "products may be split differently from run to run. Exit status: 0 ok,\n"
            "1 runtime error (missing or malformed data, a checkpoint that cannot\n"
            "be read or written), 2 bad flags.\n",
            MAX_STEPS, MAX_STEPS);
}

static int usage_error(const char *flag, const char *what, const char *value)
{
    if (value)
        fprintf(stderr, STAGE ": %s: '%s' %s\n", flag, value, what);
    else
        fprintf(stderr, STAGE ": %s: %s\n", flag, what);
    usage(stderr);
    return 2;
}

/* The flags that take an integer: where it goes and its range. */
typedef struct int_flag {
    const char *name;
    long *dst;
    long lo, hi;
} int_flag;

/* Fills o; returns -1 to run, else the exit status. cli.h's rules: a value
 * after '=' or in the next argument, never one starting with "--". */
static int parse_args(options *o, int argc, char **argv)
{
    *o = (options){.data = WORDS_FILE, .save = STAGE ".safetensors", .plot = STAGE ".svg",
                   .steps = 2000, .batch = 32, .eval_every = 250, .sample = 20,
                   .layers = 4, .heads = 4, .embd = 64, .context = 16,
                   .lr = 5e-4, .temperature = 1.0, .seed = 1337};
    const int_flag ints[] = {
        {"--steps", &o->steps, 0, MAX_STEPS},     {"--batch", &o->batch, 1, 4096},
        {"--layers", &o->layers, 0, 4},           {"--heads", &o->heads, 1, 1024},
        {"--embd", &o->embd, 1, 1024},            {"--context", &o->context, 2, 64},
        {"--sample", &o->sample, 0, 10000},       {"--top-k", &o->top_k, 0, VOCAB},
        {"--eval-every", &o->eval_every, 1, MAX_STEPS},
    };
    struct {
        const char *name;
        const char **dst;
    } paths[] = {{"--data", &o->data}, {"--save", &o->save}, {"--load", &o->load},
                 {"--plot", &o->plot}, {"--graph", &o->graph}};
    ex_set_stage(STAGE);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help")) {
            usage(stdout);
            return ex_flush_stdout();
        }
        if (!strcmp(arg, "--quiet")) {
            o->quiet = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return usage_error(arg, "unexpected argument", NULL);
        char name[32];
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen >= sizeof name)
            return usage_error(arg, "unknown flag", NULL);
        memcpy(name, arg, nlen);
        name[nlen] = '\0';

        long *int_dst = NULL;
        long lo = 0, hi = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
            if (!strcmp(name, ints[k].name)) {
                int_dst = ints[k].dst;
                lo = ints[k].lo;
                hi = ints[k].hi;
            }
        const char **path_dst = NULL;
        for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++)
            if (!strcmp(name, paths[k].name))
                path_dst = paths[k].dst;
        bool is_real = !strcmp(name, "--lr") || !strcmp(name, "--temperature");
        if (!int_dst && !path_dst && !is_real && strcmp(name, "--seed") != 0)
            return usage_error(name, "unknown flag", NULL);

        const char *val;
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return usage_error(name, "needs a value", NULL);
        if (!strncmp(val, "--", 2))
            return usage_error(name, "is a flag, not a value", val);

        long long v;
        if (int_dst) {
            if (!ex_parse_int(val, lo, hi, &v)) {
                char what[64];
                snprintf(what, sizeof what, "is not an integer in %ld..%ld", lo, hi);
                return usage_error(name, what, val);
            }
            *int_dst = (long)v;
        } else if (path_dst) {
            if (!*val)
                return usage_error(name, "needs a file name", NULL);
            *path_dst = val;
        } else if (!strcmp(name, "--seed")) {
            if (!ex_parse_int(val, 0, 4294967295LL, &v))
                return usage_error(name, "is not an integer in 0..4294967295", val);
            o->seed = (uint32_t)v;
        } else if (!strcmp(name, "--lr")) {
            if (!ex_parse_positive(val, &o->lr))
                return usage_error(name, "is not a finite number > 0", val);
        } else { /* --temperature: 0 is allowed */
            double t = 0.0;
            if (strcmp(val, "0") != 0 && !ex_parse_positive(val, &t))
                return usage_error(name, "is not a finite number >= 0", val);
            o->temperature = t;
        }
    }
    if (o->embd % o->heads)
        return usage_error("--heads", "must divide --embd", NULL);
    if (o->load && o->graph)
        return usage_error("--graph", "draws a training step; --load does not train", NULL);
    if (o->graph && o->steps == 0)
        return usage_error("--graph", "draws the first training step: give --steps >= 1",
                           NULL);
    return -1;
}

/* ---- the words ----------------------------------------------------------------- */

typedef struct words {
    char *text;      /* the file, each kept word '\0'-terminated in place */
    char **word;     /* (n,) the kept words, in file order */
    int64_t n, too_long, other; /* kept, a-z but too long, not a-z */
} words;

static void free_words(words *w)
{
    free(w->text);
    free(w->word);
    *w = (words){0};
}

/* The length of the UTF-8 sequence at s[0 .. left), or 0 when it is not
 * one: a stray continuation byte, a truncated or overlong sequence, a
 * surrogate or a code point past U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (!len || len > left || s[0] > 0xf4 || s[0] == 0xc0 || s[0] == 0xc1)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return len;
}

static bool is_word(const char *s, size_t len)
{
    if (!len)
        return false;
    for (size_t k = 0; k < len; k++)
        if (s[k] < 'a' || s[k] > 'z')
            return false;
    return true;
}

/* Reads the list at path and keeps its words of 1 .. max_len letters a-z.
 * Returns 0, or 1 after saying why on stderr: a missing file (with what to
 * install), one that is not UTF-8 (the line), empty, too large, with a
 * line longer than any context's word (the line), or with no word to
 * keep. */
static int read_words(const char *path, int64_t max_len, words *w)
{
    *w = (words){0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, STAGE ": cannot open %s: %s\n", path, strerror(errno));
        if (!strcmp(path, WORDS_FILE))
            fprintf(stderr, STAGE ": the word list comes with Debian's wamerican: "
                            "apt-get install wamerican\n");
        return 1;
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, STAGE ": cannot read %s: %s\n", path, strerror(errno));
        fclose(f);
        return 1;
    }
    if (size > MAX_FILE) {
        fprintf(stderr, STAGE ": %s: %ld bytes; a word list of at most %ld is read\n",
                path, size, MAX_FILE);
        fclose(f);
        return 1;
    }
    w->text = malloc((size_t)size + 1);
    if (!w->text || fread(w->text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, STAGE ": cannot read %s: %s\n", path,
                w->text ? "read error" : "out of memory");
        fclose(f);
        free_words(w);
        return 1;
    }
    fclose(f);
    w->text[size] = '\0';
    if (size == 0) {
        fprintf(stderr, STAGE ": %s is empty\n", path);
        free_words(w);
        return 1;
    }

    /* Check the whole file first: a list that is not text is refused, not
     * half read. */
    const unsigned char *u = (const unsigned char *)w->text;
    int64_t line = 1, lines = 0;
    for (size_t i = 0; i < (size_t)size;) {
        size_t len = u[i] ? utf8_len(u + i, (size_t)size - i) : 0;
        if (!len) {
            fprintf(stderr, STAGE ": %s: line %lld is not UTF-8 text (byte 0x%02x)\n",
                    path, (long long)line, u[i]);
            free_words(w);
            return 1;
        }
        if (u[i] == '\n')
            line++;
        i += len;
    }
    for (long i = 0; i < size; i++)
        lines += w->text[i] == '\n' || (i + 1 == size);
    w->word = malloc((size_t)lines * sizeof *w->word);
    if (!w->word) {
        fprintf(stderr, STAGE ": out of memory\n");
        free_words(w);
        return 1;
    }
    line = 1;
    for (char *s = w->text; *s; line++) {
        char *end = strchr(s, '\n');
        size_t len = end ? (size_t)(end - s) : strlen(s), next = len + (end != NULL);
        if (len && s[len - 1] == '\r') /* a DOS line end */
            len--;
        /* A word longer than this context is left out below; a line longer
         * than any context (64 tokens: 63 letters) is no word at all, and
         * the file is not a word list (a text, a binary file). */
        if (len > MAX_LINE) {
            fprintf(stderr, STAGE ": %s: line %lld is %zu bytes long; a word list has one "
                            "word a line, of at most %d letters\n",
                    path, (long long)line, len, MAX_LINE);
            free_words(w);
            return 1;
        }
        if (is_word(s, len) && (int64_t)len <= max_len) {
            s[len] = '\0';
            w->word[w->n++] = s;
        } else if (is_word(s, len)) {
            w->too_long++;
        } else if (len) {
            w->other++;
        }
        s += next;
    }
    if (w->n == 0) {
        fprintf(stderr, STAGE ": %s has no word of 1 to %lld letters a-z, one a line\n",
                path, (long long)max_len);
        free_words(w);
        return 1;
    }
    return 0;
}

/* The sequences of the words word[idx[0 .. n)]: x (n, context) and y (n,
 * context), int64, as the comment at the top says; NULL with a tapegrad
 * error when out of memory. */
static int make_set(char *const *word, const int64_t *idx, int64_t n, int64_t context,
                    tg_tensor **x, tg_tensor **y)
{
    const int64_t shape[2] = {n, context};
    *x = tg_zeros(TG_INT64, 2, shape);
    *y = tg_zeros(TG_INT64, 2, shape);
    if (!*x || !*y)
        return 1;
    int64_t *xs = tg_data(*x), *ys = tg_data(*y);
    for (int64_t i = 0; i < n; i++) {
        const char *s = word[idx[i]];
        int64_t len = (int64_t)strlen(s), *xi = xs + i * context, *yi = ys + i * context;
        for (int64_t t = 0; t < context; t++) {
            xi[t] = t == 0 || t > len ? 0 : s[t - 1] - 'a' + 1;
            yi[t] = t < len ? s[t] - 'a' + 1 : t == len ? 0 : IGNORE;
        }
    }
    return 0;
}

/* ---- training ------------------------------------------------------------------- */

typedef struct run {
    const options *o;
    tg_tape *T;
    tg_module *gpt;
    tg_tensor *config; /* int64 (5,): vocab, context, layers, heads, embd */
    tg_params ps;
    tg_adam opt;
    bool opt_ready;
    tg_lr_schedule sched;
    tg_batches *train, *val;
    int64_t val_targets; /* positions the validation loss averages over */
} run;

/* "4 layers, 4 heads", "1 layer, 1 head". */
static const char *size_text(const options *o)
{
    static char text[64];
    snprintf(text, sizeof text, "%ld layer%s, %ld head%s", o->layers,
             o->layers == 1 ? "" : "s", o->heads, o->heads == 1 ? "" : "s");
    return text;
}

static int fail(const char *what)
{
    fprintf(stderr, STAGE ": %s: %s\n", what, tg_last_message());
    return 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The positions of targets y that are not IGNORE. */
static int64_t count_targets(const tg_tensor *y)
{
    const int64_t *ys = tg_data(y);
    int64_t n = tg_numel(y), c = 0;
    for (int64_t i = 0; i < n; i++)
        c += ys[i] != IGNORE;
    return c;
}

/* The mean cross-entropy over every target of the validation set, with
 * the tape paused (nothing recorded) and the model in eval mode. */
static int validate(run *r, double *loss)
{
    bool was_paused = tg_tape_pause(r->T, true);
    tg_module_train(r->gpt, false);
    tg_tensor *xy[2];
    double sum = 0.0;
    int more;
    while ((more = tg_batches_next(r->val, xy)) > 0) {
        double mean;
        if (tg_tape_reset(r->T))
            break;
        tg_tensor *logits = tg_module_forward(r->T, r->gpt, xy[0]);
        tg_tensor *l = tg_gpt_loss(r->T, logits, xy[1]);
        if (!l || tg_item(l, &mean))
            break;
        sum += mean * (double)count_targets(xy[1]);
    }
    tg_tape_pause(r->T, was_paused);
    tg_module_train(r->gpt, true);
    if (more != 0) {
        tg_batches_restart(r->val);
        return fail("validation");
    }
    *loss = sum / (double)r->val_targets;
    return 0;
}

/* One step on a batch: the loss, the gradients (drawn with --graph on the
 * first step), clipping, the schedule's lr and AdamW's update. */
static int train_step(run *r, int64_t step, tg_tensor *x, tg_tensor *y, double *loss)
{
    if (tg_tape_reset(r->T))
        return fail("training step");
    tg_tensor *logits = tg_module_forward(r->T, r->gpt, x);
    tg_tensor *l = tg_gpt_loss(r->T, logits, y);
    if (!l || tg_item(l, loss) || tg_params_zero_grad(&r->ps) || tg_backward(r->T, l))
        return fail("training step");
    if (step == 0 && r->o->graph) {
        ex_options draw;
        memset(&draw, 0, sizeof draw);
        draw.stage = STAGE;
        draw.quiet = r->o->quiet;
        snprintf(draw.graph, sizeof draw.graph, "%s", r->o->graph);
        /* The tokens and targets are indices (index_select's, gather's),
         * not inputs the picture draws; the parameters are named. */
        int rc = tg_set_name(logits, "logits") || tg_set_name(l, "loss");
        for (int i = 0; i < r->ps.count && !rc; i++) { /* "h.0.ln_1.weight" */
            char name[TG_NAME_MAX];
            snprintf(name, sizeof name, "%s", r->ps.names[i]); /* cut to what fits */
            rc = tg_set_name(r->ps.tensors[i], name);
        }
        if (rc)
            return fail("--graph");
        if (ex_draw_tape(&draw, r->T, l))
            return 1;
    }
    if (tg_clip_grad_norm(&r->ps, 1.0, 2.0, NULL) ||
        tg_lr_apply(&r->sched, step, &r->opt.groups) || tg_adam_step(&r->opt))
        return fail("training step");
    return 0;
}

static void progress(int64_t step, int64_t steps, double loss)
{
    enum { WIDTH = 30 };
    int filled = (int)(WIDTH * step / steps);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\rstep %lld/%lld [%s] loss=%.4f", (long long)step, (long long)steps,
            bar, loss);
    fflush(stderr);
}

static void clear_progress(void)
{
    fprintf(stderr, "\r%*s\r", 79, "");
    fflush(stderr);
}

/* The loss curves: one point per loss line, training and validation. */
static int draw_losses(const char *path, long n, const double *step, const double *tr,
                       const double *va, const char *title)
{
    double lo = (double)INFINITY, hi = -(double)INFINITY;
    for (long i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            double v = k ? va[i] : tr[i];
            if (isfinite(v)) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        }
    if (!(lo <= hi)) {
        lo = 0.0;
        hi = 1.0;
    }
    double margin = hi > lo ? 0.08 * (hi - lo) : 0.1;
    ex_plot p = ex_plot_new(title, "step", "loss (cross-entropy per character)", 0.0,
                            step[n - 1], fmax(0.0, lo - margin), hi + margin);
    p.legend = EX_LEGEND_AUTO;
    ex_plot_add(&p, "training (mean since the last point)", "#1f77b4", EX_LINE, step, tr, n);
    ex_plot_add(&p, "validation", "#d62728", EX_LINE, step, va, n);
    ex_plot_add(&p, NULL, "#d62728", EX_POINTS, step, va, n);
    if (ex_plot_write(&p, path)) {
        fprintf(stderr, STAGE ": cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* Trains r->o->steps steps, printing the loss lines; the curves go to
 * --plot. */
static int train(run *r)
{
    const options *o = r->o;
    int64_t steps = o->steps;
    long points = (long)((steps + o->eval_every - 1) / o->eval_every);
    double *hist = malloc((size_t)(3 * points) * sizeof *hist);
    if (!hist) {
        fprintf(stderr, STAGE ": out of memory\n");
        return 1;
    }
    double *at = hist, *tr = hist + points, *va = hist + 2 * points;
    bool bar = !o->quiet && isatty(fileno(stderr));
    double sum = 0.0, seconds = 0.0, t0 = now(), shown = t0;
    long since = 0, np = 0;
    int rc = 0;
    tg_module_train(r->gpt, true);
    for (int64_t step = 0; step < steps && !rc; step++) {
        tg_tensor *xy[2];
        int more = tg_batches_next(r->train, xy);
        if (more == 0) /* an epoch is over: the next starts a new permutation */
            more = tg_batches_next(r->train, xy);
        double loss;
        if (more < 0) {
            rc = fail("the next batch");
            break;
        }
        if ((rc = train_step(r, step, xy[0], xy[1], &loss)))
            break;
        sum += loss;
        since++;
        if (bar && (step % 10 == 0 || now() - shown > 0.25)) {
            progress(step + 1, steps, sum / (double)since);
            shown = now();
        }
        if ((step + 1) % o->eval_every == 0 || step + 1 == steps) {
            seconds += now() - t0;
            double val;
            if (bar)
                clear_progress();
            if ((rc = validate(r, &val)))
                break;
            at[np] = (double)(step + 1);
            tr[np] = sum / (double)since;
            va[np] = val;
            ex_printf("step %lld/%lld train=%.4f val=%.4f lr=%.3g time=%.1fs\n",
                      (long long)(step + 1), (long long)steps, tr[np], val,
                      tg_lr_at(&r->sched, o->lr, step), seconds);
            np++;
            sum = 0.0;
            since = 0;
            if ((rc = ex_flush_stdout()))
                break;
            t0 = now();
        }
    }
    if (!rc) {
        ex_printf("final val=%.4f\n", va[np - 1]);
        char title[160];
        snprintf(title, sizeof title, "words_gpt: %s, width %ld, %lld steps", size_text(o),
                 o->embd, (long long)steps);
        rc = draw_losses(o->plot, np, at, tr, va, title);
    }
    free(hist);
    return rc;
}

/* ---- sampling ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints o->sample new words, each from the start token until the first
 * end token (or the context's end), '*' after those in the list. */
static int sample(run *r, tg_rng *rng, words *w)
{
    const options *o = r->o;
    int64_t len = o->context; /* the start token and context - 1 letters */
    int64_t out[64];
    qsort(w->word, (size_t)w->n, sizeof *w->word, cmp_str);
    long known = 0;
    char top_k[24] = "all";
    if (o->top_k)
        snprintf(top_k, sizeof top_k, "%ld", o->top_k);
    if (!o->quiet && o->sample)
        ex_printf("%ld samples (temperature %g, top-k %s):\n", o->sample, o->temperature,
                  top_k);
    for (long i = 0; i < o->sample; i++) {
        if (tg_gpt_generate(r->gpt, (const int64_t[]){0}, 1, len - 1, o->temperature,
                            o->top_k, rng, out))
            return fail("sampling");
        char s[65];
        int64_t k = 0;
        while (k + 1 < len && out[k + 1] != 0) {
            s[k] = (char)('a' + out[k + 1] - 1);
            k++;
        }
        s[k] = '\0';
        const char *key = s;
        bool in_list = bsearch(&key, w->word, (size_t)w->n, sizeof *w->word, cmp_str) != NULL;
        known += in_list;
        ex_printf("%s%s\n", s, in_list ? " *" : "");
    }
    if (!o->quiet && o->sample)
        ex_printf("%ld of %ld are in the list (*); the others are new words\n", known,
                  o->sample);
    return ex_flush_stdout();
}

/* ---- the program ------------------------------------------------------------------------- */

static void free_run(run *r)
{
    if (r->opt_ready)
        tg_adam_free(&r->opt);
    tg_batches_free(r->train);
    tg_batches_free(r->val);
    tg_module_free(r->gpt);
    tg_free(r->config);
    tg_tape_free(r->T);
}

/* --load: the size of the saved model, from its "model.config" tensor,
 * into o. Returns 0, or 1 after saying why. */
static int read_config(options *o)
{
    tg_safetensors *st = tg_safetensors_open(o->load);
    tg_tensor *c = st ? tg_safetensors_get(st, "model.config") : NULL;
    if (!c) {
        fprintf(stderr, STAGE ": --load %s: %s\n", o->load, tg_last_message());
        tg_safetensors_close(st);
        return 1;
    }
    const int64_t *v = tg_data(c);
    bool ok = tg_dtype_of(c) == TG_INT64 && tg_ndim(c) == 1 && tg_numel(c) == 5 &&
              v[0] == VOCAB && v[1] >= 2 && v[1] <= 64 && v[2] >= 0 && v[2] <= 4 &&
              v[3] >= 1 && v[4] >= 1 && v[4] <= 1024 && v[4] % v[3] == 0;
    if (ok) {
        o->context = (long)v[1];
        o->layers = (long)v[2];
        o->heads = (long)v[3];
        o->embd = (long)v[4];
    } else {
        fprintf(stderr, STAGE ": --load %s: model.config is not a words_gpt model's size\n",
                o->load);
    }
    tg_free(c);
    tg_safetensors_close(st);
    return ok ? 0 : 1;
}

/* The split, the sets and their iterators, the model, AdamW and the
 * schedule, in the generator's order. */
static int setup(run *r, const words *w, tg_rng *rng, tg_tensor *sets[4])
{
    const options *o = r->o;
    int64_t n = w->n, n_val = n / 10, *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) {
        fprintf(stderr, STAGE ": out of memory\n");
        return 1;
    }
    int rc = tg_rng_permutation(rng, perm, n) ||
             make_set(w->word, perm, n_val, o->context, &sets[2], &sets[3]) ||
             make_set(w->word, perm + n_val, n - n_val, o->context, &sets[0], &sets[1]);
    free(perm);
    if (rc)
        return fail("the data sets");
    if (n_val == 0 || n - n_val == 0) {
        fprintf(stderr, STAGE ": %lld words are too few to split 9 to 1\n", (long long)n);
        return 1;
    }
    r->val_targets = count_targets(sets[3]);

    tg_gpt_config cfg = TG_GPT_CONFIG;
    cfg.context = o->context;
    cfg.n_layer = (int)o->layers;
    cfg.n_head = (int)o->heads;
    cfg.n_embd = o->embd;
    r->T = tg_tape_new();
    r->gpt = tg_gpt_new(&cfg, rng);
    /* The size, saved with the weights so that --load can rebuild it. */
    r->config = tg_zeros(TG_INT64, 1, (const int64_t[]){5});
    if (!r->T || !r->gpt || !r->config || tg_module_params(r->gpt, &r->ps) ||
        tg_params_add_buffer(&r->ps, "config", r->config))
        return fail("the model");
    int64_t *c = tg_data(r->config);
    c[0] = VOCAB;
    c[1] = o->context;
    c[2] = o->layers;
    c[3] = o->heads;
    c[4] = o->embd;
    if (!o->load && !o->quiet)
        ex_printf("%lld training and %lld validation words; a GPT of %lld parameters: "
                  "%s, width %ld, context %ld\n",
                  (long long)(n - n_val), (long long)n_val,
                  (long long)tg_module_num_params(r->gpt), size_text(o), o->embd,
                  o->context);

    /* A tenth of the steps (at least 1, at most 100) warm up. */
    int64_t warmup = o->steps / 10 < 1 ? 1 : o->steps / 10 > 100 ? 100 : o->steps / 10;
    int64_t t_max = o->steps - warmup > 0 ? o->steps - warmup : 1;
    r->train = tg_batches_new(o->batch, rng, false);
    r->val = tg_batches_new(EVAL_CHUNK, NULL, false);
    /* tg_batches_add returns the source's index (x 0, y 1) or -code. */
    if (!r->train || !r->val || tg_batches_add(r->train, sets[0]) < 0 ||
        tg_batches_add(r->train, sets[1]) < 0 || tg_batches_add(r->val, sets[2]) < 0 ||
        tg_batches_add(r->val, sets[3]) < 0 ||
        tg_adam_init(&r->opt, &r->ps, o->lr, 0.9, 0.99, 1e-8, 0.01, true))
        return fail("the batches and AdamW");
    r->opt_ready = true;
    if (tg_param_groups_add(&r->opt.groups, TG_GPT_NO_DECAY, o->lr, 0.0) ||
        tg_lr_warmup_cosine(&r->sched, 0.01, warmup, t_max, o->lr / 10.0))
        return fail("the optimiser");
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(&o, argc, argv);
    if (rc >= 0)
        return rc;
    if (!o.load && (ex_check_writable(STAGE, o.save) || ex_check_writable(STAGE, o.plot) ||
                    (o.graph && ex_check_writable(STAGE, o.graph))))
        return 1;

    if (o.load && read_config(&o))
        return 1;
    words w;
    if (read_words(o.data, o.context - 1, &w))
        return 1;
    if (!o.quiet)
        ex_printf("%lld words from %s (%lld longer than %ld letters and %lld other lines "
                  "left out)\n",
                  (long long)w.n, o.data, (long long)w.too_long, o.context - 1,
                  (long long)w.other);

    tg_rng rng;
    tg_rng_seed(&rng, o.seed);
    run r = {.o = &o};
    tg_tensor *sets[4] = {NULL, NULL, NULL, NULL};
    rc = setup(&r, &w, &rng, sets);
    if (!rc && o.load) {
        tg_checkpoint ck = {.model = &r.ps};
        if (tg_checkpoint_load(o.load, &ck))
            rc = fail(o.load);
        else if (!o.quiet)
            ex_printf("loaded %s (step %lld): %s, width %ld, context %ld\n", o.load,
                      (long long)ck.step, size_text(&o), o.embd, o.context);
    } else if (!rc && o.steps > 0) {
        rc = train(&r);
        tg_checkpoint ck = {.model = &r.ps, .adam = &r.opt, .step = o.steps};
        if (!rc && tg_checkpoint_save(o.save, &ck))
            rc = fail(o.save);
        else if (!rc && !o.quiet)
            ex_printf("saved %s\n", o.save);
    }
    if (!rc)
        rc = sample(&r, &rng, &w);
    free_run(&r);
    for (int k = 0; k < 4; k++)
        tg_free(sets[k]);
    free_words(&w);
    return rc ? 1 : ex_flush_stdout();
}
