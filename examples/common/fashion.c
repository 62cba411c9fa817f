/* fashion.c - the Fashion-MNIST examples' shared program: flags, data,
 * the training loop, evaluation, save/load and the figure (fashion.h).
 *
 * The pixels stay bytes, as the loader returns them (45 MiB for the
 * training set, a quarter of a float32 copy); the batch iterator
 * (models/batch.h) copies each batch's rows and scales and standardises
 * them into float32 batch tensors it made once. The tape's arena is
 * reused after a reset and Adam's moments exist from init, so after the
 * first step the loop allocates nothing. */
#include "fashion.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "graphviz.h"
#include "plot.h"

/* Mean and standard deviation of the training pixels scaled to [0, 1]. */
#define PIXEL_MEAN 0.2860f
#define PIXEL_STD 0.3530f
#define PATH_CAP 4096

typedef struct options {
    const char *data;  /* directory holding the four IDX files */
    const char *save;  /* where the parameters are saved / loaded from */
    const char *plot;  /* the figure (programs that draw one) */
    const char *graph; /* --graph: the tape of the first step; NULL none */
    long epochs;       /* 0 (with --graph only): draw, do not train */
    long batch;        /* default 64 */
    double lr;         /* default 1e-3 */
    uint32_t seed;     /* default 0: initialisation, shuffling, dropout */
    long limit;        /* first N training images; 0 = all */
    long test_limit;   /* first N test images; 0 = all */
    bool eval;         /* load the saved parameters, report test accuracy */
    bool quiet;        /* epoch lines only: no progress bar, no notes */
} options;

/* One split in memory: the first n images of the file, pixels as the
 * loader's bytes, labels as an int32 tensor for the loss. */
typedef struct split {
    int64_t n;
    tg_idx images; /* (N, 28, 28) bytes, N >= n; the rows used are 0..n) */
    tg_tensor *y;  /* (n,) int32 labels in [0, 10) */
} split;

/* The program being run: its name starts every message. */
static const ex_fashion_program *prog;

/* A pixel byte v as the network sees it: ((float)v / 255 - mean) / std. */
static tg_standardize pixels = {255.0, (double)PIXEL_MEAN, (double)PIXEL_STD};

/* ---- command line ----------------------------------------------------------- */

/* "fashion_mnist_weights" and "fashion_cnn.svg". */
static char default_save[256], default_plot[256];

static void usage(FILE *f)
{
    const char *n = prog->name;
    char text[8192], plot[512] = "";
    if (prog->plot)
        snprintf(plot, sizeof plot,
                 "  --plot FILE  the figure of training loss and test accuracy per\n"
                 "               epoch, SVG (default %s); checked to be\n"
                 "               writable before training, not drawn with --eval\n",
                 default_plot);
    snprintf(text, sizeof text,
             "usage: %s [--data DIR] [--epochs N] [--seed S] [--save DIR]\n"
             "       %s [--batch N] [--lr F] [--limit N] [--test-limit N]\n"
             "       %s [--graph FILE] [--eval] [--quiet]%s [--help]\n"
             "\n"
             "%s"
             "\n"
             "  --data DIR   the IDX files, gzip-compressed or not (default\n"
             "               " EX_FASHION_DATA ", from\n"
             "               `apt-get install dataset-fashion-mnist`)\n"
             "  --epochs N   passes over the training set, 1..1000 (default %ld);\n"
             "               0 with --graph: draw the tape, do not train\n"
             "  --seed S     initialisation and shuffling seed, 0..4294967295\n"
             "               (default 0)\n"
             "  --save DIR   where the parameters go (default %s);\n"
             "               created and checked to be writable before training\n"
             "  --eval       load the parameters from the --save directory and\n"
             "               report the test accuracy only\n"
             "  --batch N    mini-batch size, 1..60000 (default 64)\n"
             "  --lr F       Adam's learning rate, finite and > 0 (default 0.001)\n"
             "  --limit N    train on the first N training images only (default all)\n"
             "  --test-limit N  evaluate on the first N test images only (default all)\n"
             "  --quiet      print the epoch lines only\n"
             "%s"
             "  --graph FILE the tape of the first training step (forward, loss\n"
             "               and backward on the first mini-batch, before Adam's\n"
             "               update): SVG when Graphviz's dot is on PATH, else\n"
             "               DOT (dot -Tsvg); checked to be writable before\n"
             "               training, which goes on unless --epochs 0 (then\n"
             "               nothing is trained, saved or plotted); not with --eval\n"
             "  --help       print this text and exit\n"
             "\n"
             "Each epoch prints 'epoch E/N loss=L test_acc=A time=Ts': the mean\n"
             "training loss over the epoch, the test accuracy after it and the\n"
             "epoch's training time. A progress bar goes to stderr when it is a\n"
             "terminal. OpenBLAS takes its thread count from OPENBLAS_NUM_THREADS.\n"
             "A flag's value is the next argument or follows '=' (--epochs=3); it\n"
             "may not start with -- (write ./--x for a directory named --x).\n"
             "Exit status: 0 ok, 1 runtime error, missing or malformed data (an\n"
             "empty set, images other than 28x28), 2 bad flags.\n",
             n, n, n, prog->plot ? " [--plot FILE]" : "", prog->about,
             prog->default_epochs, default_save, plot);
    /* On stdout through ex_printf, which remembers a failed write for the
     * exit status. */
    if (f == stdout)
        ex_printf("%s", text);
    else
        fputs(text, f);
}

static int usage_error(const char *flag, const char *what, const char *value)
{
    if (value)
        fprintf(stderr, "%s: %s: '%s' %s\n", prog->name, flag, value, what);
    else
        fprintf(stderr, "%s: %s: %s\n", prog->name, flag, what);
    usage(stderr);
    return 2;
}

/* A whole-string decimal integer in [lo, hi]. */
static bool parse_int(const char *s, long long lo, long long hi, long long *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool is_one_of(const char *flag, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(flag, *list))
            return true;
    return false;
}

/* Fills o; returns -1 to run, else the exit status (0 after --help). Flags
 * take their value as the next argument or after '=': --epochs=3. */
static int parse_args(options *o, int argc, char **argv)
{
    static const char *const switches[] = {"--eval", "--quiet", "--help", NULL};
    static const char *const valued[] = {"--data",  "--save", "--epochs",
                                         "--batch", "--limit", "--test-limit", "--seed",
                                         "--lr",    "--plot", "--graph", NULL};
    *o = (options){.data = EX_FASHION_DATA, .save = default_save, .plot = default_plot,
                   .epochs = prog->default_epochs, .batch = 64, .lr = 1e-3};
    for (int i = 1; i < argc; i++) {
        char flag[32];
        const char *arg = argv[i], *value = NULL;
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (strncmp(arg, "--", 2) != 0 || len >= sizeof flag)
            return usage_error(arg, "unknown argument", NULL);
        memcpy(flag, arg, len);
        flag[len] = '\0';
        bool is_switch = is_one_of(flag, switches);
        if (!is_switch && (!is_one_of(flag, valued) ||
                           (!prog->plot && !strcmp(flag, "--plot"))))
            return usage_error(flag, "unknown flag", NULL);
        if (!is_switch) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return usage_error(flag, "needs a value", NULL);
            /* "--save --quiet" forgot the directory: never take a flag as
             * one (./--quiet names such a directory). */
            if (!strncmp(value, "--", 2))
                return usage_error(flag, "is a flag, not a value", value);
        } else if (eq) {
            return usage_error(flag, "takes no value", NULL);
        }

        long long v;
        if (!strcmp(flag, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(flag, "--eval")) {
            o->eval = true;
        } else if (!strcmp(flag, "--quiet")) {
            o->quiet = true;
        } else if (!strcmp(flag, "--data") || !strcmp(flag, "--save") ||
                   !strcmp(flag, "--plot") || !strcmp(flag, "--graph")) {
            bool file = !strcmp(flag, "--plot") || !strcmp(flag, "--graph");
            if (!*value)
                return usage_error(flag, file ? "needs a file name" : "needs a directory",
                                   NULL);
            if (!strcmp(flag, "--data"))
                o->data = value;
            else if (!strcmp(flag, "--save"))
                o->save = value;
            else if (!strcmp(flag, "--plot"))
                o->plot = value;
            else if (strlen(value) >= EX_PATH_MAX)
                return usage_error(flag, "file name too long", NULL);
            else
                o->graph = value;
        } else if (!strcmp(flag, "--epochs")) {
            /* 0 is checked against --graph after the loop, which may
             * still have it to come. */
            if (!parse_int(value, 0, 1000, &v))
                return usage_error(flag, "is not an integer in 1..1000", value);
            o->epochs = (long)v;
        } else if (!strcmp(flag, "--batch")) {
            if (!parse_int(value, 1, 60000, &v))
                return usage_error(flag, "is not an integer in 1..60000", value);
            o->batch = (long)v;
        } else if (!strcmp(flag, "--limit")) {
            if (!parse_int(value, 1, 60000, &v))
                return usage_error(flag, "is not an integer in 1..60000", value);
            o->limit = (long)v;
        } else if (!strcmp(flag, "--test-limit")) {
            if (!parse_int(value, 1, 10000, &v))
                return usage_error(flag, "is not an integer in 1..10000", value);
            o->test_limit = (long)v;
        } else if (!strcmp(flag, "--seed")) {
            if (!parse_int(value, 0, UINT32_MAX, &v))
                return usage_error(flag, "is not an integer in 0..4294967295",
                                   value);
            o->seed = (uint32_t)v;
        } else if (!strcmp(flag, "--lr")) {
            char *end;
            errno = 0;
            o->lr = strtod(value, &end);
            if (!*value || *end || errno || !isfinite(o->lr) || o->lr <= 0.0)
                return usage_error(flag, "is not a finite number > 0", value);
        }
    }
    if (o->epochs == 0 && !o->graph)
        return usage_error("--epochs", "is not an integer in 1..1000 (0 only with --graph)",
                           "0");
    /* Evaluation runs with the tape paused: it records nothing to draw. */
    if (o->graph && o->eval)
        return usage_error("--graph", "draws a training step, not --eval's evaluation "
                                      "(which records no tape)", NULL);
    return -1;
}

/* ---- errors and time ------------------------------------------------------------- */

/* Reports a failed tapegrad call and returns the exit status 1. */
static int fail(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog->name, what, tg_last_message());
    return 1;
}

/* "s" unless n is 1: "1 epoch", "2 epochs". */
static const char *plural(int64_t n)
{
    return n == 1 ? "" : "s";
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- where the parameters and the figure go ---------------------------------------- */

/* The directories check_save_dir created (their path lengths in dir), so
 * that a run that fails leaves nothing behind. */
static struct {
    char path[PATH_CAP];
    size_t len[64];
    int count;
} created;

/* mkdir -p dir, as tg_params_save does, remembering what it made. Returns 0
 * or errno. */
static int make_dirs(const char *dir)
{
    size_t len = strlen(dir);
    if (len >= sizeof created.path)
        return ENAMETOOLONG;
    char *buf = created.path;
    memcpy(buf, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) == 0) {
            if (created.count < 64)
                created.len[created.count++] = i;
        } else if (errno != EEXIST) {
            int err = errno;
            buf[i] = c;
            return err;
        }
        buf[i] = c;
    }
    return 0;
}

/* Removes the directories make_dirs created, deepest first (only while they
 * are empty: rmdir refuses anything else). */
static void remove_created_dirs(void)
{
    while (created.count > 0) {
        size_t i = created.len[--created.count];
        char c = created.path[i];
        created.path[i] = '\0';
        rmdir(created.path);
        created.path[i] = c;
    }
}

/* Whether the parameters can be saved to dir, checked before training so
 * that a long run does not end in an unwritable path: dir is created if
 * missing (and removed again if the run fails), must be a directory, and a
 * file can be created in it (a probe, removed at once). Returns 0, or 1
 * after saying why. */
static int check_save_dir(const char *dir)
{
    struct stat st;
    int err = make_dirs(dir);
    if (!err && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        err = ENOTDIR;
    char probe[PATH_CAP + 64];
    if (!err) {
        snprintf(probe, sizeof probe, "%s/.%s_probe_%ld", dir, prog->name,
                 (long)getpid());
        int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0) {
            err = errno;
        } else {
            close(fd);
            unlink(probe);
        }
    }
    if (!err)
        return 0;
    remove_created_dirs();
    fprintf(stderr, "%s: cannot save the parameters to %s: %s\n", prog->name, dir,
            strerror(err));
    return 1;
}

/* Whether the figure can be written, without changing it: an existing file
 * is opened for writing (not truncated), a missing one created and
 * removed. Returns 0, or 1 after saying why not. */
static int check_plot(const char *path)
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
    fprintf(stderr, "%s: cannot write %s: %s\n", prog->name, path, strerror(errno));
    return 1;
}

/* ---- the data set ------------------------------------------------------------------ */

/* DIR/NAME.gz, or DIR/NAME when only the uncompressed file is there. False
 * when neither exists. */
static bool find_file(const char *dir, const char *name, char *path)
{
    struct stat st;
    snprintf(path, PATH_CAP, "%s/%s.gz", dir, name);
    if (stat(path, &st) == 0)
        return true;
    snprintf(path, PATH_CAP, "%s/%s", dir, name);
    if (stat(path, &st) == 0)
        return true;
    snprintf(path, PATH_CAP, "%s/%s.gz", dir, name);
    return false;
}

static void free_split(split *s)
{
    tg_idx_free(&s->images);
    tg_free(s->y);
    *s = (split){0};
}

/* Loads one split (prefix "train" or "t10k"), keeping the first limit
 * images when limit > 0. The images must be (N, 28, 28) with N >= 1 and the
 * labels N values in [0, 10). Returns 0, or 1 after saying why on stderr. */
static int load_split(const options *o, const char *prefix, long limit, split *s)
{
    const char *pn = prog->name;
    char ipath[PATH_CAP], lpath[PATH_CAP], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    bool have_images = find_file(o->data, name, ipath);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    bool have_labels = find_file(o->data, name, lpath);
    if (!have_images || !have_labels) {
        fprintf(stderr,
                "%s: Fashion-MNIST not found: %s does not exist.\n"
                "Install the data set with `apt-get install "
                "dataset-fashion-mnist`\n"
                "(it goes to " EX_FASHION_DATA "), or pass --data DIR for a\n"
                "directory holding train-images-idx3-ubyte.gz,\n"
                "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and\n"
                "t10k-labels-idx1-ubyte.gz.\n",
                pn, have_images ? lpath : ipath);
        return 1;
    }

    tg_idx labels = {0};
    if (tg_idx_load(ipath, &s->images))
        return fail("loading the images");
    if (tg_idx_load(lpath, &labels)) {
        free_split(s);
        return fail("loading the labels");
    }
    const tg_idx *im = &s->images;
    int rc = 1;
    /* Each size on its own: a product of two could overflow (the loader
     * guarantees it does not, but this reads plainly). */
    if (im->ndim != 3 || im->dims[1] != EX_FASHION_SIDE || im->dims[2] != EX_FASHION_SIDE) {
        char shape[128] = "";
        for (int k = 0; k < im->ndim; k++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape),
                     k ? "x%lld" : "%lld", (long long)im->dims[k]);
        fprintf(stderr,
                "%s: %s: expected N images of 28x28 pixels (dimensions "
                "Nx28x28), the file has dimensions %s\n",
                pn, ipath, shape);
        goto done;
    }
    int64_t n = im->dims[0];
    if (n == 0) {
        fprintf(stderr, "%s: %s: the file holds no images\n", pn, ipath);
        goto done;
    }
    if (labels.ndim != 1 || labels.dims[0] != n) {
        fprintf(stderr,
                "%s: %s: expected %lld label%s, one per image (a file of "
                "one dimension)\n",
                pn, lpath, (long long)n, plural(n));
        goto done;
    }
    if (limit > 0 && limit < n)
        n = limit;
    s->n = n;
    s->y = tg_empty(TG_INT32, TG_SHAPE(n));
    if (!s->y) {
        fprintf(stderr, "%s: out of memory for %lld label%s\n", pn, (long long)n,
                plural(n));
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        if (labels.data[i] >= EX_FASHION_CLASSES) {
            fprintf(stderr, "%s: %s: label %u of image %lld is not a class "
                            "(0 to 9)\n",
                    pn, lpath, labels.data[i], (long long)i);
            goto done;
        }
        ((int32_t *)tg_data(s->y))[i] = labels.data[i];
    }
    rc = 0;
done:
    tg_idx_free(&labels);
    if (rc)
        free_split(s);
    return rc;
}

/* ---- training and evaluation ---------------------------------------------------------- */

/* An iterator over the first s->n images of s and their labels, batches
 * of rows images (b, image_shape...) as float32 standardised pixels and
 * (b,) int32 labels; shuffled each epoch from rng, or in order when rng is
 * NULL; a short last batch is kept (as PyTorch's DataLoader). NULL after
 * a tapegrad error. */
static tg_batches *new_batches(const split *s, int64_t rows, tg_rng *rng)
{
    tg_batches *B = tg_batches_new(rows, rng, false);
    int64_t shape[3] = {s->n, EX_FASHION_SIDE, EX_FASHION_SIDE};
    /* Under mpirun each rank takes its share: for training padded so that
     * every rank makes as many steps, for testing each image once. */
    if (!B || tg_batches_shard(B, tg_dist_rank(), tg_dist_world(), rng != NULL) ||
        tg_batches_add_array(B, s->images.data, TG_UINT8, 3, shape) < 0 ||
        tg_batches_add(B, s->y) < 0 ||
        tg_batches_transform(B, 0, TG_FLOAT32, prog->image_ndim, prog->image_shape,
                             tg_batch_standardize_u8, &pixels)) {
        tg_batches_free(B);
        return NULL;
    }
    return B;
}

/* Test accuracy of net on the batches of E (in order), without recording
 * (the tape paused) and in eval mode; under mpirun, of every rank's share. */
static int evaluate(tg_tape *T, tg_module *net, tg_batches *E, double *acc)
{
    bool was_paused = tg_tape_pause(T, true);
    tg_module_train(net, false);
    double hits = 0.0;
    int64_t seen = 0;
    tg_tensor *xy[2];
    int more;
    while ((more = tg_batches_next(E, xy)) > 0) {
        if (tg_tape_reset(T))
            break;
        tg_tensor *logits = tg_module_forward(T, net, xy[0]); /* (b, 10) */
        double a = logits ? tg_accuracy(logits, xy[1]) : -1.0;
        if (a < 0.0)
            break;
        int64_t b = tg_size(xy[1], 0);
        hits += a * (double)b;
        seen += b;
    }
    tg_tape_pause(T, was_paused);
    if (more != 0) { /* stopped early: an error, and the epoch is left */
        tg_batches_restart(E);
        return more < 0 ? more : tg_last_error();
    }
    double counts[2] = {hits, (double)seen};
    if (tg_dist_allreduce_sum(counts, 2))
        return tg_last_error();
    *acc = counts[0] / counts[1]; /* >= 1 image: load_split refuses an empty set */
    return 0;
}

/* --graph: names the step's logits and loss (the parameters and the batch
 * were named before training) and draws what the loss depends on. Returns
 * 0, or 1 after saying why. */
static int draw_step(const ex_options *draw, tg_tape *T, tg_tensor *logits, tg_tensor *mean)
{
    if (tg_set_name(logits, "logits") || tg_set_name(mean, "loss"))
        return fail("--graph");
    return ex_draw_tape(draw, T, mean);
}

/* One optimisation step on a filled batch; stores the batch's mean loss.
 * With draw (--graph) the tape is drawn after the backward, before the
 * update; opt NULL (--epochs 0) makes no update. Returns 0, 1 after a
 * tapegrad error (the caller reports it) or 2 when the picture failed
 * (reported already). */
static int train_step(tg_tape *T, tg_module *net, tg_params *ps, tg_ddp *D, tg_adam *opt,
                      tg_tensor *xb, tg_tensor *yb, double *loss, const ex_options *draw)
{
    if (tg_tape_reset(T))
        return 1;
    tg_tensor *logits = tg_module_forward(T, net, xb);       /* (b, 10) */
    tg_tensor *mean = tg_loss_cross_entropy(T, logits, yb);  /* () */
    if (!mean || tg_item(mean, loss))
        return 1;
    /* Under mpirun the gradients are averaged over the ranks as the
     * backward pass finishes them; alone this is tg_backward. */
    if (tg_params_zero_grad(ps) || tg_ddp_backward(D, T, mean))
        return 1;
    if (draw && draw_step(draw, T, logits, mean))
        return 2;
    return opt && tg_adam_step(opt) ? 1 : 0;
}

static void progress(long epoch, long epochs, int64_t done, int64_t total, double loss)
{
    enum { WIDTH = 30 };
    int filled = (int)(WIDTH * done / total);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\repoch %ld/%ld [%s] %lld/%lld loss=%.4f", epoch, epochs, bar,
            (long long)done, (long long)total, loss);
    fflush(stderr);
}

static void clear_progress(void)
{
    fprintf(stderr, "\r%*s\r", 79, "");
    fflush(stderr);
}

/* Trains for o->epochs epochs on the batches of B, printing a line after
 * each and keeping the epoch's mean loss and test accuracy (on the
 * batches of E) in loss[] and acc[]. With --graph the first step is
 * drawn; with --epochs 0 that step (on the first shuffled batch, without
 * the update) is all that runs. */
static int train(const options *o, tg_tape *T, tg_module *net, tg_params *ps,
                 tg_batches *B, tg_batches *E, double *loss_hist, double *acc_hist)
{
    int64_t n = tg_batches_rows(B), steps = tg_batches_count(B);
    bool bar = !o->quiet && tg_dist_rank() == 0 && isatty(fileno(stderr));

    tg_adam opt;
    if (tg_adam_init(&opt, ps, o->lr, 0.9, 0.999, 1e-8, 0.0, false))
        return fail("tg_adam_init");
    tg_ddp *D = tg_ddp_new(ps, 0);
    if (!D) {
        tg_adam_free(&opt);
        return fail("tg_ddp_new");
    }
    /* The picture's options; the first batch is named for it. */
    ex_options draw;
    memset(&draw, 0, sizeof draw);
    if (o->graph) {
        draw.stage = prog->name;
        draw.quiet = o->quiet;
        snprintf(draw.graph, sizeof draw.graph, "%s", o->graph);
    }
    int rc = 0;
    tg_tensor *xy[2];

    if (o->epochs == 0) { /* --graph alone: the first batch's step, no update */
        double loss;
        tg_module_train(net, true);
        int st = tg_batches_next(B, xy) <= 0 ? 1 : 0;
        if (!st && (tg_set_name(xy[0], "images") || tg_set_name(xy[1], "labels")))
            st = 1;
        if (!st)
            st = train_step(T, net, ps, D, NULL, xy[0], xy[1], &loss, &draw);
        if (st)
            rc = st == 2 ? 1 : fail("drawing the first step");
    }

    for (long epoch = 1; epoch <= o->epochs && !rc; epoch++) {
        tg_module_train(net, true);
        double t0 = now(), shown = t0, sum = 0.0, loss = 0.0;
        int64_t done = 0;
        int more;
        for (int64_t step = 0; (more = tg_batches_next(B, xy)) > 0; step++) {
            int64_t b = tg_size(xy[1], 0);
            const ex_options *d =
                o->graph && epoch == 1 && step == 0 && tg_dist_rank() == 0 ? &draw : NULL;
            int st = d && (tg_set_name(xy[0], "images") || tg_set_name(xy[1], "labels"));
            if (!st)
                st = train_step(T, net, ps, D, &opt, xy[0], xy[1], &loss, d);
            if (st) {
                if (bar)
                    clear_progress();
                rc = st == 2 ? 1 : fail("training step");
                break;
            }
            sum += loss * (double)b;
            done += b;
            /* Redrawn every 20 steps or quarter second, whichever is first. */
            if (bar && (step % 20 == 0 || step + 1 == steps || now() - shown > 0.25)) {
                progress(epoch, o->epochs, step + 1, steps, sum / (double)done);
                shown = now();
            }
        }
        if (!rc && more < 0)
            rc = fail("the next batch");
        if (rc)
            break;
        double seconds = now() - t0;
        if (bar)
            clear_progress();
        double acc, loss_n[2] = {sum, (double)n}; /* every rank's, under mpirun */
        if (tg_dist_allreduce_sum(loss_n, 2)) {
            rc = fail("summing the loss over the ranks");
            break;
        }
        if (evaluate(T, net, E, &acc)) {
            rc = fail("evaluation");
            break;
        }
        loss_hist[epoch - 1] = loss_n[0] / loss_n[1];
        acc_hist[epoch - 1] = acc;
        ex_printf("epoch %ld/%ld loss=%.4f test_acc=%.4f time=%.2fs\n", epoch, o->epochs,
                  loss_n[0] / loss_n[1], acc, seconds);
        rc = ex_flush_stdout();
    }
    tg_ddp_free(D);
    tg_adam_free(&opt);
    return rc;
}

/* ---- the figure ------------------------------------------------------------------------ */

int ex_fashion_figure(const char *path, const char *title, long n, const double *loss,
                      const double *acc)
{
    double *epoch = malloc((size_t)(n > 0 ? n : 1) * sizeof *epoch);
    if (!epoch)
        return -1;
    /* Loss from 0 to a little above its largest value; accuracy from a
     * little below its smallest, on steps of 0.05, to 1. */
    double lmax = 0.0, amin = 1.0;
    for (long i = 0; i < n; i++) {
        epoch[i] = (double)(i + 1);
        if (isfinite(loss[i]) && loss[i] > lmax)
            lmax = loss[i];
        if (isfinite(acc[i]) && acc[i] < amin)
            amin = acc[i];
    }
    double ltop = lmax > 0.0 ? lmax * 1.1 : 1.0;
    double abottom = floor((amin - 0.02) * 20.0) / 20.0;
    if (abottom < 0.0)
        abottom = 0.0;
    ex_plot p = ex_plot_new(title, "epoch", "training loss (mean cross-entropy)", 0.5,
                            (double)n + 0.5, 0.0, ltop);
    p.xinteger = true;
    ex_plot_set_right_axis(&p, "test accuracy", abottom, 1.0);
    /* Where the curves are not: a fixed place hid the first epoch's loss,
     * drawn near the top, in a one-epoch run (top centre) and would hide
     * an accuracy close to 1 (top right). */
    p.legend = EX_LEGEND_AUTO;
    ex_plot_add(&p, "training loss", "#1f77b4", EX_LINE, epoch, loss, n);
    ex_plot_add(&p, NULL, "#1f77b4", EX_POINTS, epoch, loss, n);
    ex_plot_add_right(&p, "test accuracy", "#d62728", EX_LINE, epoch, acc, n);
    ex_plot_add_right(&p, NULL, "#d62728", EX_POINTS, epoch, acc, n);
    int rc = ex_plot_write(&p, path);
    int err = errno;
    free(epoch);
    errno = err;
    return rc;
}

/* ---- the program ------------------------------------------------------------------------- */

/* Gives each tensor of ps its name in the list (fc1.weight, conv1.bias),
 * for the --graph picture: the first layer is the one whose records read
 * "images" and the first layer's parameters. Returns 0 or a tapegrad
 * error. */
static int name_params(tg_params *ps)
{
    for (int i = 0; i < ps->count; i++) {
        char name[TG_NAME_MAX];
        snprintf(name, sizeof name, "%s", ps->names[i]); /* cut to what a name holds */
        int rc = tg_set_name(ps->tensors[i], name);
        if (rc)
            return rc;
    }
    return TG_OK;
}

/* Everything after the flags; returns the exit status. */
static int run(const options *o)
{
    const char *pn = prog->name;
    bool train_it = !o->eval && o->epochs > 0; /* --epochs 0: only --graph */
    /* Under mpirun rank 0 alone draws, saves and plots. */
    int world = tg_dist_world();
    bool lead = tg_dist_rank() == 0;
    if (o->batch % world) {
        fprintf(stderr, "%s: --batch %ld is not a multiple of the %d ranks\n", pn, o->batch,
                world);
        return 2;
    }
    if (lead && o->graph && ex_check_writable(pn, o->graph))
        return 1;
    if (lead && train_it && check_save_dir(o->save))
        return 1;
    if (lead && train_it && prog->plot && check_plot(o->plot)) {
        remove_created_dirs();
        return 1;
    }
    split train_set = {0}, test_set = {0};
    if ((!o->eval && load_split(o, "train", o->limit, &train_set)) ||
        load_split(o, "t10k", o->test_limit, &test_set)) {
        free_split(&train_set);
        remove_created_dirs();
        return 1;
    }
    if (!o->quiet) {
        if (o->eval)
            ex_printf("loaded %lld test image%s from %s\n", (long long)test_set.n,
                      plural(test_set.n), o->data);
        else
            ex_printf("loaded %lld training image%s and %lld test image%s from %s\n",
                      (long long)train_set.n, plural(train_set.n), (long long)test_set.n,
                      plural(test_set.n), o->data);
    }

    tg_rng rng;
    tg_rng_seed(&rng, o->seed);
    tg_params ps = {0}; /* borrowed pointers to net's parameters and buffers */
    tg_tape *T = NULL;
    int64_t erows = test_set.n < prog->eval_batch ? test_set.n : prog->eval_batch;
    int64_t bsize = o->batch < train_set.n ? o->batch : train_set.n;
    tg_batches *B = NULL, *E = NULL; /* training (shuffled) and test batches */
    double *hist = NULL;             /* loss per epoch, then accuracy per epoch */
    int rc = 1;
    /* The layers are made with rng NULL and drawn here in the network's
     * order, which is PyTorch's order of construction (module.h says why). */
    tg_module *net = prog->build(&rng);
    if (!net || tg_module_reset_parameters(net, &rng) || tg_module_params(net, &ps) ||
        tg_dist_broadcast(&ps)) {
        fail("building the network");
        goto out;
    }
    if (o->graph && name_params(&ps)) {
        fail("--graph");
        goto out;
    }
    if (!(T = tg_tape_new()) || !(E = new_batches(&test_set, erows, NULL)) ||
        (!o->eval && !(B = new_batches(&train_set, o->batch / world, &rng)))) {
        fail("setting up");
        goto out;
    }

    if (o->eval) {
        double acc;
        if (tg_params_load(&ps, o->save)) {
            fprintf(stderr, "%s: %s\n(train first, or pass --save DIR)\n", pn,
                    tg_last_message());
            goto out;
        }
        if (evaluate(T, net, E, &acc)) {
            fail("evaluation");
            goto out;
        }
        ex_printf("test_acc=%.4f\n", acc);
        rc = 0;
        goto out;
    }

    if (!(hist = malloc(2 * (size_t)(o->epochs ? o->epochs : 1) * sizeof *hist))) {
        fprintf(stderr, "%s: out of memory\n", pn);
        goto out;
    }
    if (!o->quiet) {
        char ranks[32] = ""; /* ", ranks=2" under mpirun */
        if (world > 1)
            snprintf(ranks, sizeof ranks, ", ranks=%d", world);
        ex_printf("%s, Adam lr=%g, batch %lld, %ld epoch%s, seed %lu, %s%s\n", prog->summary,
                  o->lr, (long long)bsize, o->epochs, plural(o->epochs),
                  (unsigned long)o->seed, tg_blas_available() ? "BLAS" : "portable matmul",
                  ranks);
    }
    if (ex_flush_stdout() || train(o, T, net, &ps, B, E, hist, hist + o->epochs))
        goto out;
    if (!train_it || !lead) {
        rc = 0;
        goto out;
    }
    if (tg_params_save(&ps, o->save)) {
        fail("saving the parameters");
        goto out;
    }
    if (!o->quiet)
        ex_printf("saved the parameters to %s/\n", o->save);
    if (prog->plot) {
        char title[128];
        snprintf(title, sizeof title, "%s: %lld training images, seed %lu", pn,
                 (long long)train_set.n, (unsigned long)o->seed);
        if (ex_fashion_figure(o->plot, title, o->epochs, hist, hist + o->epochs)) {
            fprintf(stderr, "%s: cannot write %s: %s\n", pn, o->plot, strerror(errno));
            goto out;
        }
        if (!o->quiet)
            ex_printf("figure: %s\n", o->plot);
    }
    rc = 0;
out:
    if (rc)
        remove_created_dirs();
    free(hist);
    tg_batches_free(B);
    tg_batches_free(E);
    tg_tape_free(T);
    tg_module_free(net);
    free_split(&train_set);
    free_split(&test_set);
    return rc;
}

int ex_fashion_main(const ex_fashion_program *pg, int argc, char **argv)
{
    prog = pg;
    ex_set_stage(pg->name);
    /* Under mpirun: join the other ranks (models/dist.h); rank 0 prints. */
    if (tg_dist_init(&argc, &argv)) {
        fprintf(stderr, "%s: %s\n", pg->name, tg_last_message());
        return 1;
    }
    ex_mute_stdout(tg_dist_rank() != 0);
    snprintf(default_save, sizeof default_save, "%s_weights", pg->name);
    snprintf(default_plot, sizeof default_plot, "%s.svg", pg->name);
    options o;
    int rc = parse_args(&o, argc, argv);
    if (rc < 0)
        rc = run(&o);
    /* The last lines (or --help) may still be buffered. */
    if (ex_flush_stdout())
        rc = 1;
    /* A rank that failed stops the others, which may be waiting for it. */
    if (rc == 1 && tg_dist_world() > 1)
        return tg_dist_abort(pg->name, "stopping every rank (the error is above)", rc);
    if (tg_dist_finalize() && rc == 0) {
        fprintf(stderr, "%s: %s\n", pg->name, tg_last_message());
        rc = 1;
    }
    return rc;
}
