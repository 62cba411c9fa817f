/* test_words.c - examples/words_gpt.c, the character-level GPT (issue 14).
 *
 * On small word lists written here: a run's output lines, samples that are
 * words of the vocabulary, a run that repeats itself exactly, the figure,
 * the checkpoint and --load (the model's size read from the file), every
 * refusal of malformed data and bad flags, with its exit status and
 * message. On Debian's word list: the default run's validation loss within
 * 1% of PyTorch's (tests/data/words_ref.txt, written by
 * tests/data/make_words_ref.py, the same program in PyTorch).
 *
 * The binary is $TG_BUILD/examples/words_gpt (make check builds it). */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "words_gpt"
#define WORD_LIST "/usr/share/dict/american-english"

/* ---- scratch files ------------------------------------------------------- */

typedef struct scratch {
    char dir[64];
    char path[12][128]; /* files made in dir, removed by scratch_free */
    int n;
} scratch;

static void scratch_new(scratch *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/tg_words_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
}

/* The path of a file NAME in s's directory (remembered for removal). */
static const char *scratch_file(scratch *s, const char *name)
{
    ck_assert_int_lt(s->n, 12);
    char buf[sizeof s->path[0]]; /* (gcc sees s->dir and s->path overlap) */
    snprintf(buf, sizeof buf, "%s/%s", s->dir, name);
    return memcpy(s->path[s->n++], buf, sizeof buf);
}

static const char *scratch_write(scratch *s, const char *name, const char *text, size_t len)
{
    const char *p = scratch_file(s, name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

static void scratch_free(scratch *s)
{
    for (int i = 0; i < s->n; i++)
        unlink(s->path[i]);
    rmdir(s->dir);
}

/* A list of 400 made-up words of 2 to 9 letters (a fixed linear
 * congruential stream, so every run of the test writes the same file),
 * with the lines words_gpt must leave out mixed in: capitals, an
 * apostrophe, a word longer than the context, an empty line, a DOS line
 * end on a kept word. */
static const char *write_list(scratch *s)
{
    static char text[8192];
    size_t n = 0;
    uint32_t x = 12345;
    for (int w = 0; w < 400; w++) {
        x = x * 1103515245u + 12345u;
        int len = 2 + (int)((x >> 16) % 8);
        for (int k = 0; k < len; k++) {
            x = x * 1103515245u + 12345u;
            /* letters of a small alphabet, so that there is something to learn */
            text[n++] = "aeioulnrst"[(x >> 16) % 10];
        }
        text[n++] = '\n';
    }
    const char *extra = "Boston\nisn't\nabcdefghijklmnopqrstuvwxyz\n\nmellow\r\n";
    memcpy(text + n, extra, strlen(extra));
    n += strlen(extra);
    return scratch_write(s, "words.txt", text, n);
}

/* ---- reading the output --------------------------------------------------- */

/* The lines "step K/N train=L val=V ..." of out: how many, and the last's
 * numbers. */
static int step_lines(const char *out, double *train, double *val)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, "step ")) != NULL; p++) {
        if (p != out && p[-1] != '\n')
            continue;
        long k, steps;
        ck_assert_int_eq(sscanf(p, "step %ld/%ld train=%lf val=%lf", &k, &steps, train, val), 4);
        ck_assert(isfinite(*train) && isfinite(*val));
        n++;
    }
    return n;
}

/* The sample lines after "N samples (...):": each a word of a-z (possibly
 * empty) and at most max_len letters, optionally followed by " *". Returns
 * how many there are. */
static int check_samples(const char *out, int max_len)
{
    const char *p = strstr(out, "samples (temperature");
    ck_assert_msg(p != NULL, "no samples header in:\n%s", out);
    p = strchr(p, '\n') + 1;
    int n = 0;
    for (const char *e; *p && (e = strchr(p, '\n')) != NULL; p = e + 1) {
        if (strstr(p, " are in the list") && strstr(p, " are in the list") < e)
            break; /* the summary line */
        int len = 0;
        while (p + len < e && p[len] >= 'a' && p[len] <= 'z')
            len++;
        ck_assert_msg(p + len == e || (e - (p + len) == 2 && !strncmp(p + len, " *", 2)),
                      "sample line '%.*s' is not a word", (int)(e - p), p);
        ck_assert_int_le(len, max_len);
        n++;
    }
    return n;
}

/* ---- a run on a small list -------------------------------------------------- */

START_TEST(test_small_run)
{
    scratch s;
    scratch_new(&s);
    const char *list = write_list(&s), *ck = scratch_file(&s, "ck.safetensors"),
               *svg = scratch_file(&s, "loss.svg");
    const char *args[] = {"--data", list, "--steps", "30", "--eval-every", "10",
                          "--layers", "1", "--heads", "2", "--embd", "16",
                          "--context", "12", "--batch", "16", "--seed", "7",
                          "--save", ck, "--plot", svg, "--sample", "6", NULL};
    tgt_run *r = tgt_new_run(), *again = tgt_new_run();
    tgt_run_example(PROG, args, NULL, r);
    ck_assert_msg(r->status == 0, "status %d, stderr:\n%s", r->status, r->err);
    /* The words kept and left out: "Boston" and "isn't" are not a-z, the
     * alphabet does not fit a context of 12, the empty line is nothing. */
    ck_assert_msg(strstr(r->out, "401 words from ") &&
                      strstr(r->out, "(1 longer than 11 letters and 2 other lines left out)"),
                  "%s", r->out);
    ck_assert_msg(strstr(r->out, "361 training and 40 validation words"), "%s", r->out);
    double train, val;
    ck_assert_int_eq(step_lines(r->out, &train, &val), 3);
    ck_assert(strstr(r->out, "step 30/30 "));
    char final[64];
    snprintf(final, sizeof final, "final val=%.4f\n", val);
    ck_assert_msg(strstr(r->out, final), "no '%s' in:\n%s", final, r->out);
    ck_assert_msg(strstr(r->out, "saved "), "%s", r->out);
    ck_assert_int_eq(check_samples(r->out, 11), 6);
    ck_assert_msg(strstr(r->out, " of 6 are in the list (*); the others are new words\n"),
                  "%s", r->out);
    /* The loss fell from log(27) = 3.30, the uniform guess. */
    ck_assert_msg(val < 3.2, "val %g", val);

    /* The same flags again: the same output, to the last digit. */
    tgt_run_example(PROG, args, NULL, again);
    ck_assert_int_eq(again->status, 0);
    const char *t1 = strstr(r->out, "step 10/"), *t2 = strstr(again->out, "step 10/");
    /* The time= fields differ; compare the losses and the samples. */
    for (const char *p = t1, *q = t2; p && q; p = strstr(p + 1, "train="),
                    q = strstr(q + 1, "train="))
        ck_assert_int_eq(strncmp(p, q, 24), 0);
    ck_assert_str_eq(strstr(r->out, "final val="), strstr(again->out, "final val="));

    /* The figure: an SVG with the two curves and finite coordinates. */
    FILE *f = fopen(svg, "r");
    ck_assert_ptr_nonnull(f);
    static char doc[65536];
    size_t len = fread(doc, 1, sizeof doc - 1, f);
    doc[len] = '\0';
    fclose(f);
    ck_assert(strstr(doc, "<svg") && strstr(doc, "</svg>"));
    ck_assert(strstr(doc, "validation") && strstr(doc, "training"));
    ck_assert(!strstr(doc, "nan") && !strstr(doc, "inf"));

    /* --load: the size comes from the file; the samples are the trained
     * model's (the same generator state as after a run of 0 steps). */
    const char *load[] = {"--data", list, "--load", ck, "--sample", "4", "--seed", "7",
                          "--temperature", "0", NULL};
    tgt_run_example(PROG, load, NULL, again);
    ck_assert_msg(again->status == 0, "%s", again->err);
    ck_assert_msg(strstr(again->out, "(step 30): 1 layer, 2 heads, width 16, context 12"),
                  "%s", again->out);
    ck_assert_int_eq(check_samples(again->out, 11), 4);
    /* Temperature 0 is the arg-max: the four samples are the same word. */
    const char *first = strstr(again->out, "top-k all):\n") + 12;
    size_t wl = strcspn(first, "\n");
    ck_assert_int_eq(strncmp(first, first + wl + 1, wl + 1), 0);
    free(r);
    free(again);
    scratch_free(&s);
}
END_TEST

/* ---- refusals ---------------------------------------------------------------- */

static void expect(const char *const *args, int status, const char *msg)
{
    tgt_run *r = tgt_new_run();
    tgt_run_example(PROG, args, NULL, r);
    ck_assert_msg(r->status == status, "%s: status %d (want %d), stderr: %s", args[0],
                  r->status, status, r->err);
    ck_assert_msg(strstr(r->err, msg), "stderr lacks '%s': %s", msg, r->err);
    ck_assert_msg(!strstr(r->err, "AddressSanitizer") && !strstr(r->err, "runtime error: "),
                  "%s", r->err);
    free(r);
}

START_TEST(test_bad_data)
{
    scratch s;
    scratch_new(&s);
    const char *bad = scratch_write(&s, "bad.txt", "abc\nab\xff\n", 7);
    const char *overlong = scratch_write(&s, "overlong.txt", "abc\n\xc0\xaf\n", 6);
    const char *surrogate = scratch_write(&s, "surr.txt", "abc\nok\n\xed\xa0\x80\n", 10);
    const char *empty = scratch_write(&s, "empty.txt", "", 0);
    const char *none = scratch_write(&s, "none.txt", "Abc\nDEF\nx-y\n", 12);
    const char *few = scratch_write(&s, "few.txt", "abc\nabd\n", 8);
    const char *nul = scratch_write(&s, "nul.txt", "abc\n\0de\n", 8);
    /* A line of 64 letters: no context holds it (63 letters do). */
    const char *longline = scratch_write(&s, "long.txt",
                                         "abc\nabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqr"
                                         "stuvwxyzabcdefghijkl\nxyz\n", 73);
    struct {
        const char *file, *msg;
    } cases[] = {
        {bad, "line 2 is not UTF-8 text (byte 0xff)"},
        {overlong, "line 2 is not UTF-8 text (byte 0xc0)"},
        {surrogate, "line 3 is not UTF-8 text (byte 0xed)"},
        {empty, "is empty"},
        {none, "has no word of 1 to 15 letters a-z"},
        {few, "2 words are too few to split 9 to 1"},
        {nul, "line 2 is not UTF-8 text (byte 0x00)"},
        {longline, "line 2 is 64 bytes long; a word list has one word a line, of at most 63"},
        {"/nonexistent/words", "cannot open /nonexistent/words"},
    };
    const char *save = scratch_file(&s, "x.st");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect((const char *[]){"--data", cases[i].file, "--steps", "1", "--save", save, NULL},
               1, cases[i].msg);
    scratch_free(&s);
}
END_TEST

START_TEST(test_bad_flags)
{
    static const struct {
        const char *args[5]; /* NULL-terminated */
        const char *msg;
    } cases[] = {
        {{"--heads", "3"}, "--heads: must divide --embd"},
        {{"--top-k", "28"}, "'28' is not an integer in 0..27"},
        {{"--layers", "5"}, "'5' is not an integer in 0..4"},
        {{"--context", "1"}, "'1' is not an integer in 2..64"},
        {{"--steps", "-1"}, "'-1' is not an integer"},
        {{"--temperature", "-1"}, "is not a finite number >= 0"},
        {{"--temperature", "nan"}, "is not a finite number >= 0"},
        {{"--lr", "0"}, "is not a finite number > 0"},
        {{"--seed", "4294967296"}, "0..4294967295"},
        {{"--steps"}, "--steps: needs a value"},
        {{"--save", "--quiet"}, "is a flag, not a value"},
        {{"--wat"}, "--wat: unknown flag"},
        {{"stray"}, "stray: unexpected argument"},
        {{"--load", "x", "--graph", "y"}, "--load does not train"},
        {{"--steps", "0", "--graph", "y"}, "give --steps >= 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect(cases[i].args, 2, cases[i].msg);
}
END_TEST

START_TEST(test_bad_checkpoint)
{
    scratch s;
    scratch_new(&s);
    const char *list = write_list(&s);
    const char *junk = scratch_write(&s, "junk.st", "not a safetensors file at all", 29);
    expect((const char *[]){"--data", list, "--load", junk, NULL}, 1, "--load ");
    expect((const char *[]){"--data", list, "--load", "/nonexistent.st", NULL}, 1,
           "cannot open");
    /* A file that is not where --save may write. */
    expect((const char *[]){"--data", list, "--save", "/nonexistent/dir/ck.st", NULL}, 1,
           "cannot write /nonexistent/dir/ck.st");
    scratch_free(&s);
}
END_TEST

/* ---- the contract with PyTorch ---------------------------------------------------- */

/* The loss lines of a run: step k, its train and val losses. */
typedef struct loss_line {
    long step;
    double train, val;
} loss_line;

enum { MAX_LINES = 16 };

/* Where loss lines come from, each in its own format. */
typedef enum { FROM_RUN, FROM_REFERENCE, FROM_DOCS } line_source;

static bool scan_line(const char *p, line_source from, loss_line *l)
{
    switch (from) {
    case FROM_RUN:
        return sscanf(p, "step %ld/2000 train=%lf val=%lf", &l->step, &l->train, &l->val) == 3;
    case FROM_REFERENCE:
        return sscanf(p, "step %ld train %lf val %lf", &l->step, &l->train, &l->val) == 3;
    default:
        return sscanf(p, "    step %ld/2000 train=%lf val=%lf", &l->step, &l->train,
                      &l->val) == 3;
    }
}

/* The loss lines of text (up to end, or its end); returns how many. */
static int read_lines(const char *text, const char *end, line_source from, loss_line *out)
{
    int n = 0;
    for (const char *p = text; p && *p && (!end || p < end); p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        loss_line l;
        if (scan_line(p, from, &l)) {
            ck_assert_int_lt(n, MAX_LINES);
            out[n++] = l;
        }
    }
    return n;
}

/* PyTorch's lines (tests/data/words_ref.txt) and its final_val. */
static int reference_lines(loss_line *ref, double *final_val)
{
    FILE *f = fopen(tgt_data("words_ref.txt"), "r");
    ck_assert_msg(f != NULL, "tests/data/words_ref.txt is missing");
    static char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    const char *fv = strstr(text, "\nfinal_val ");
    ck_assert_msg(fv != NULL, "words_ref.txt has no final_val line");
    *final_val = strtod(fv + 11, NULL);
    return read_lines(text, NULL, FROM_REFERENCE, ref);
}

/* The default run as docs/transformer.md shows it: the indented lines of
 * its first output block. */
static int documented_lines(loss_line *doc)
{
    FILE *f = fopen("../docs/transformer.md", "r");
    ck_assert_msg(f != NULL, "docs/transformer.md is missing");
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    const char *start = strstr(text, "\n    step 250/2000 ");
    ck_assert_msg(start != NULL, "docs/transformer.md shows no default run");
    return read_lines(start, strstr(start, "final val="), FROM_DOCS, doc);
}

/* The contract, and the docs' figures: the default run (2000
 * steps, a loss line every 250) has the validation loss of PyTorch's
 * twin within 1% at its end, and every line's losses within 1% of
 * PyTorch's (measured: equal to the 4 decimals printed). The losses that
 * docs/transformer.md quotes are the run's, to their last printed decimal
 * (2e-4 allows for the last bits of a float32 run on another machine). */
START_TEST(test_pytorch_parity)
{
    ck_assert_msg(access(WORD_LIST, R_OK) == 0,
                  WORD_LIST " is missing: apt-get install wamerican (the test needs it)");
    loss_line ref[MAX_LINES], doc[MAX_LINES], got[MAX_LINES];
    double want;
    int nref = reference_lines(ref, &want), ndoc = documented_lines(doc);
    ck_assert_int_eq(nref, 8);
    ck_assert_int_eq(ndoc, 8);
    scratch s;
    scratch_new(&s);
    const char *args[] = {"--quiet", "--sample", "0", "--save", scratch_file(&s, "ck.st"),
                          "--plot", scratch_file(&s, "p.svg"), NULL};
    tgt_run *r = tgt_new_run();
    tgt_run_example(PROG, args, NULL, r);
    ck_assert_msg(r->status == 0, "status %d:\n%s", r->status, r->err);
    int n = read_lines(r->out, NULL, FROM_RUN, got);
    ck_assert_int_eq(n, 8);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(got[i].step, ref[i].step);
        ck_assert_int_eq(got[i].step, doc[i].step);
        ck_assert_msg(fabs(got[i].val - ref[i].val) <= 0.01 * ref[i].val &&
                          fabs(got[i].train - ref[i].train) <= 0.01 * ref[i].train,
                      "step %ld: train %.4f val %.4f, PyTorch's %.4f and %.4f", got[i].step,
                      got[i].train, got[i].val, ref[i].train, ref[i].val);
        ck_assert_msg(fabs(got[i].val - doc[i].val) <= 2e-4 &&
                          fabs(got[i].train - doc[i].train) <= 2e-4,
                      "step %ld: train %.4f val %.4f; docs/transformer.md shows %.4f and "
                      "%.4f", got[i].step, got[i].train, got[i].val, doc[i].train, doc[i].val);
    }
    double val = got[n - 1].val;
    ck_assert_msg(fabs(val - want) <= 0.01 * want,
                  "validation loss %.4f, PyTorch's %.4f: %.2f%% apart (at most 1%%)", val,
                  want, 100.0 * fabs(val - want) / want);
    free(r);
    scratch_free(&s);
}
END_TEST

Suite *test_words_suite(void); /* called by the generated runner */

Suite *test_words_suite(void)
{
    Suite *s = suite_create("words_gpt");
    TCase *tc = tcase_create("small");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_small_run);
    tcase_add_test(tc, test_bad_data);
    tcase_add_test(tc, test_bad_flags);
    tcase_add_test(tc, test_bad_checkpoint);
    suite_add_tcase(s, tc);
    tc = tcase_create("parity");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_pytorch_parity);
    suite_add_tcase(s, tc);
    return s;
}
