/* print.c - tg_print: a tensor written the way NumPy's repr writes it, with
 * NumPy's default options (precision 8, floatmode 'maxprec', linewidth 75,
 * threshold 1000, edgeitems 3). The numbers follow numpy/core/arrayprint.py:
 * the shortest digits that read back to the same float, padded to a common
 * width, in scientific notation when the values span a large range. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum {
    PRECISION = 8,    /* at most 8 digits after the point */
    LINE_WIDTH = 75,
    THRESHOLD = 1000, /* more elements than this are summarised... */
    EDGE_ITEMS = 3,   /* ...to 3 at each end of every long axis */
    WORD_MAX = 64     /* longest formatted number, with padding */
};

/* ---- decimal digits of a float ------------------------------------------ */

/* |x| = d[0].d[1]d[2]...d[n-1] x 10^e, no trailing zeros; zero is "0", e 0. */
typedef struct decimal {
    char d[24];
    int n;
    int e;
} decimal;

/* Reads the digits and exponent of printf's "%e" output ("-1.25e+03"); any
 * non-digit between the digits is the locale's decimal point. */
static void parse_e(const char *s, decimal *out)
{
    out->n = 0;
    if (*s == '-')
        s++;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && out->n < (int)sizeof out->d)
            out->d[out->n++] = *s;
    out->e = *s == 'e' ? (int)strtol(s + 1, NULL, 10) : 0;
    while (out->n > 1 && out->d[out->n - 1] == '0')
        out->n--;
}

/* |x| rounded to sig significant digits: printf rounds the exact binary
 * value, half to even, as NumPy's Dragon4 does. */
static void round_sig(double x, int sig, decimal *out)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.*e", sig - 1, fabs(x));
    parse_e(buf, out);
}

/* |x| rounded to frac digits after the point. */
static void round_frac(double x, int frac, decimal *out)
{
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", frac, fabs(x));
    const char *s = buf;
    int int_digits = 0, k = -1, seen = 0;
    out->n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            int_digits = seen;
            continue;
        }
        if (k < 0 && *s != '0')
            k = seen;
        if (k >= 0 && out->n < (int)sizeof out->d)
            out->d[out->n++] = *s;
        seen++;
    }
    if (frac == 0)
        int_digits = seen;
    if (k < 0) {
        out->d[0] = '0';
        out->n = 1;
        out->e = 0;
        return;
    }
    out->e = int_digits - 1 - k;
    while (out->n > 1 && out->d[out->n - 1] == '0')
        out->n--;
}

static bool reads_back(const char *s, double x, bool f32)
{
    return f32 ? strtof(s, NULL) == (float)x : strtod(s, NULL) == x;
}

/* Adds one unit in the last mantissa digit of "%e" text in place; false when
 * the carry would need a new leading digit. */
static bool bump_last_digit(char *s)
{
    char *e = strchr(s, 'e');
    if (!e)
        return false;
    for (char *p = e - 1; p >= s; p--) {
        if (*p < '0' || *p > '9')
            continue;
        if (*p != '9') {
            (*p)++;
            return true;
        }
        *p = '0';
    }
    return false;
}

/* The fewest significant digits that read back as x (x finite, nonzero), the
 * nearest such string. When x is a power of two its lower neighbour is half
 * as far as its upper one, and the only short string may be the one above
 * the nearest: try that too, as Dragon4 does. */
static void shortest(double x, bool f32, decimal *out)
{
    char buf[64];
    double a = fabs(x);
    int frexp_exp;
    /* (the smallest normal number has equally close neighbours) */
    bool pow2 = frexp(a, &frexp_exp) == 0.5 &&
                a >= (f32 ? 0x1p-125 : 0x1p-1021);
    int max_sig = f32 ? 9 : 17;
    for (int sig = 1; sig < max_sig; sig++) {
        snprintf(buf, sizeof buf, "%.*e", sig - 1, a);
        if (reads_back(buf, a, f32)) {
            parse_e(buf, out);
            return;
        }
        bool below = f32 ? strtof(buf, NULL) < (float)a : strtod(buf, NULL) < a;
        if (pow2 && below && bump_last_digit(buf) && reads_back(buf, a, f32)) {
            parse_e(buf, out);
            return;
        }
    }
    round_sig(a, max_sig, out);
}

/* ---- NumPy's FloatingFormat ---------------------------------------------- */

typedef struct float_fmt {
    bool f32;
    bool sci;       /* scientific notation for every element */
    int pad_left;   /* characters before the point, sign included */
    int pad_right;  /* characters after the point (positional) */
    int precision;  /* digits after the point (scientific) */
    int exp_digits; /* digits of the exponent (scientific) */
} float_fmt;

/* Positional digits: the shortest ones, but at most PRECISION after the
 * point, and always down to the units digit. */
static void positional_digits(double x, bool f32, decimal *d)
{
    if (x == 0) {
        d->d[0] = '0';
        d->n = 1;
        d->e = 0;
        return;
    }
    shortest(x, f32, d);
    int last = d->e - (d->n - 1); /* power of ten of the last digit */
    if (last < -PRECISION)
        round_frac(x, PRECISION, d);
    else if (last > 0)
        round_frac(x, 0, d);
}

/* Splits d into integer and fraction digit strings. */
static void positional_parts(const decimal *d, char *ip, int *ni, char *fp,
                             int *nf)
{
    *ni = *nf = 0;
    if (d->e < 0) {
        ip[(*ni)++] = '0';
        for (int k = 0; k < -d->e - 1; k++)
            fp[(*nf)++] = '0';
        for (int k = 0; k < d->n; k++)
            fp[(*nf)++] = d->d[k];
        return;
    }
    for (int k = 0; k <= d->e; k++)
        ip[(*ni)++] = k < d->n ? d->d[k] : '0';
    for (int k = d->e + 1; k < d->n; k++)
        fp[(*nf)++] = d->d[k];
}

/* Scientific digits: the shortest ones, at most PRECISION + 1 of them. */
static void scientific_digits(double x, bool f32, decimal *d)
{
    if (x == 0) {
        d->d[0] = '0';
        d->n = 1;
        d->e = 0;
        return;
    }
    shortest(x, f32, d);
    if (d->n > PRECISION + 1)
        round_sig(x, PRECISION + 1, d);
}

static int count_exp_digits(int e)
{
    int n = 0;
    for (e = abs(e); e > 0; e /= 10)
        n++;
    return n < 2 ? 2 : n;
}

/* Writes x per ff into buf (WORD_MAX bytes); returns the length. */
static int format_value(const float_fmt *ff, double x, char *buf)
{
    int n = 0;
    if (isnan(x) || isinf(x)) {
        const char *s = isnan(x) ? "nan" : x < 0 ? "-inf" : "inf";
        int len = (int)strlen(s);
        int width = ff->pad_left + ff->pad_right + 1;
        for (; n < width - len; n++)
            buf[n] = ' ';
        memcpy(buf + n, s, (size_t)len + 1);
        return n + len;
    }
    bool neg = signbit(x) != 0;
    decimal d;
    if (ff->sci) {
        scientific_digits(x, ff->f32, &d);
        if (d.n < ff->precision + 1 && x != 0) /* more digits of x itself */
            round_sig(x, ff->precision + 1, &d);
        for (; n < ff->pad_left - 1 - (int)neg; n++)
            buf[n] = ' ';
        if (neg)
            buf[n++] = '-';
        buf[n++] = d.d[0];
        buf[n++] = '.';
        for (int k = 1; k <= ff->precision; k++)
            buf[n++] = k < d.n ? d.d[k] : '0';
        n += snprintf(buf + n, (size_t)(WORD_MAX - n), "e%c%0*d",
                      d.e < 0 ? '-' : '+', ff->exp_digits, abs(d.e));
        return n;
    }
    char ip[WORD_MAX], fp[WORD_MAX];
    int ni, nf;
    positional_digits(x, ff->f32, &d);
    positional_parts(&d, ip, &ni, fp, &nf);
    for (; n < ff->pad_left - ni - (int)neg; n++)
        buf[n] = ' ';
    if (neg)
        buf[n++] = '-';
    memcpy(buf + n, ip, (size_t)ni);
    n += ni;
    buf[n++] = '.';
    memcpy(buf + n, fp, (size_t)nf);
    n += nf;
    for (; nf < ff->pad_right; nf++)
        buf[n++] = ' ';
    buf[n] = '\0';
    return n;
}

/* ---- walking the printed elements -------------------------------------- */

typedef struct printer {
    const tg_tensor *t;
    bool summarise;
    float_fmt ff;
    /* statistics of the printed elements */
    bool any_finite, any_nonfinite, any_neg_inf, any_nonzero;
    double min_abs, max_abs; /* over finite nonzero values */
    /* output */
    FILE *f;
    int col;     /* characters on the current output line */
    bool failed; /* a write came up short */
    int err;     /* errno of the first failed write */
    /* integer and bool tensors: NumPy's IntegerFormat / BoolFormat */
    bool is_int;
    int int_width; /* of the widest shown value ('False' for bools) */
} printer;

static double element(const tg_tensor *t, const int64_t *idx)
{
    int64_t pos = t->offset;
    for (int k = 0; k < t->ndim; k++)
        pos += idx[k] * t->strides[k];
    return tg__load(t, pos);
}

/* Whether axis of length n shows only its EDGE_ITEMS first and last. */
static bool summarised(const printer *p, int64_t n)
{
    return p->summarise && n > 2 * EDGE_ITEMS;
}

/* Calls fn on every element the repr shows, in C order. */
static void for_each_shown(printer *p, int axis, int64_t *idx,
                           void (*fn)(printer *, double))
{
    if (axis == p->t->ndim) {
        fn(p, element(p->t, idx));
        return;
    }
    int64_t n = p->t->shape[axis];
    bool cut = summarised(p, n);
    for (int64_t i = 0; i < n; i++) {
        if (cut && i == EDGE_ITEMS)
            i = n - EDGE_ITEMS;
        idx[axis] = i;
        for_each_shown(p, axis + 1, idx, fn);
    }
}

static void gather_range(printer *p, double x)
{
    if (isnan(x) || isinf(x)) {
        p->any_nonfinite = true;
        if (isinf(x) && x < 0)
            p->any_neg_inf = true;
        return;
    }
    p->any_finite = true;
    if (x == 0)
        return;
    double a = fabs(x);
    if (!p->any_nonzero || a < p->min_abs)
        p->min_abs = a;
    if (!p->any_nonzero || a > p->max_abs)
        p->max_abs = a;
    p->any_nonzero = true;
}

/* The widths NumPy's first formatting pass measures. */
static void gather_widths(printer *p, double x)
{
    if (isnan(x) || isinf(x))
        return;
    float_fmt *ff = &p->ff;
    decimal d;
    int left = signbit(x) ? 1 : 0;
    if (ff->sci) {
        scientific_digits(x, ff->f32, &d);
        left += 1;
        if (d.n - 1 > ff->precision)
            ff->precision = d.n - 1;
        if (count_exp_digits(d.e) > ff->exp_digits)
            ff->exp_digits = count_exp_digits(d.e);
    } else {
        char ip[WORD_MAX], fp[WORD_MAX];
        int ni, nf;
        positional_digits(x, ff->f32, &d);
        positional_parts(&d, ip, &ni, fp, &nf);
        left += ni;
        if (nf > ff->pad_right)
            ff->pad_right = nf;
    }
    if (left > ff->pad_left)
        ff->pad_left = left;
}

/* FloatingFormat.fillFormat: notation and padding shared by all elements. */
static void choose_format(printer *p)
{
    int64_t idx[TG_MAX_DIMS];
    float_fmt *ff = &p->ff;
    memset(ff, 0, sizeof *ff);
    ff->f32 = p->t->dtype == TG_FLOAT32;
    for_each_shown(p, 0, idx, gather_range);
    if (p->any_nonzero) {
        double mx = p->max_abs, mn = p->min_abs;
        /* NumPy divides float32 values in float32, then compares the
         * quotient (like the extremes) with Python floats, in double. */
        double ratio = ff->f32 ? (double)((float)mx / (float)mn) : mx / mn;
        ff->sci = mx >= 1e8 || mn < 1e-4 || ratio > 1000.0;
    }
    if (p->any_finite) {
        for_each_shown(p, 0, idx, gather_widths);
        if (ff->sci) /* the fraction width nan and inf must match */
            ff->pad_right = ff->exp_digits + 2 + ff->precision;
    }
    if (p->any_nonfinite) {
        int frac = ff->pad_right + 1; /* the point counts as well */
        int inf_len = 3 + (p->any_neg_inf ? 1 : 0);
        if (3 - frac > ff->pad_left)
            ff->pad_left = 3 - frac;
        if (inf_len - frac > ff->pad_left)
            ff->pad_left = inf_len - frac;
    }
}

/* ---- the layout of numpy's _formatArray ---------------------------------- */

static void put(printer *p, const char *s, size_t n)
{
    if (fwrite(s, 1, n, p->f) != n && !p->failed) {
        p->failed = true;
        p->err = errno;
    }
    const char *nl = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n')
            nl = s + i;
    p->col = nl ? (int)(s + n - nl - 1) : p->col + (int)n;
}

static void put_str(printer *p, const char *s) { put(p, s, strlen(s)); }

static void put_spaces(printer *p, int n)
{
    static const char blanks[] = "                ";
    const int chunk = (int)sizeof blanks - 1;
    for (; n > 0; n -= chunk)
        put(p, blanks, (size_t)(n < chunk ? n : chunk));
}

/* One word of a row: after the ", " separator, or on a new line indented by
 * hang when the line would pass width (but never when it holds no word). */
static void put_word(printer *p, const char *w, int len, bool first, int hang,
                     int width)
{
    if (!first) {
        put(p, ",", 1);
        if (p->col + 1 + len > width && p->col + 1 > hang) {
            put(p, "\n", 1);
            put_spaces(p, hang);
        } else {
            put(p, " ", 1);
        }
    }
    put(p, w, (size_t)len);
}

/* ---- integers and bools --------------------------------------------------- */

static int64_t element_int(const tg_tensor *t, const int64_t *idx)
{
    int64_t pos = t->offset;
    for (int k = 0; k < t->ndim; k++)
        pos += idx[k] * t->strides[k];
    return tg__load_int(t, pos);
}

/* IntegerFormat: the width of the longest shown value, exactly (int64s
 * past 2^53 too). BoolFormat: 'False' and ' True', or 'True' for a 0-d. */
static void int_widths(printer *p, int axis, int64_t *idx)
{
    if (axis == p->t->ndim) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%lld", (long long)element_int(p->t, idx));
        if (p->t->dtype == TG_BOOL)
            len = p->t->ndim ? 5 : element_int(p->t, idx) ? 4 : 5;
        if (len > p->int_width)
            p->int_width = len;
        return;
    }
    int64_t n = p->t->shape[axis];
    bool cut = summarised(p, n);
    for (int64_t i = 0; i < n; i++) {
        if (cut && i == EDGE_ITEMS)
            i = n - EDGE_ITEMS;
        idx[axis] = i;
        int_widths(p, axis + 1, idx);
    }
}

/* One element of the repr into buf (WORD_MAX bytes); its length. */
static int format_element(const printer *p, const int64_t *idx, char *buf)
{
    if (!p->is_int)
        return format_value(&p->ff, element(p->t, idx), buf);
    int64_t v = element_int(p->t, idx);
    if (p->t->dtype == TG_BOOL)
        return snprintf(buf, WORD_MAX, "%*s", p->int_width, v ? "True" : "False");
    return snprintf(buf, WORD_MAX, "%*lld", p->int_width, (long long)v);
}

/* Writes the sub-array at idx[0..axis) starting at column hang, its lines
 * at most width long (numpy's recurser; the caller wrote the indentation). */
static void put_array(printer *p, int axis, int64_t *idx, int hang, int width)
{
    char word[WORD_MAX];
    int ndim = p->t->ndim;
    if (axis == ndim) {
        put(p, word, (size_t)format_element(p, idx, word));
        return;
    }
    int64_t n = p->t->shape[axis];
    bool cut = summarised(p, n);
    put(p, "[", 1);
    for (int64_t i = 0; i < n; i++) {
        bool dots = cut && i == EDGE_ITEMS;
        if (axis == ndim - 1) {
            /* a row: words wrap before the ',' or ']' would pass width */
            int len = 3;
            if (dots) {
                memcpy(word, "...", 4);
            } else {
                idx[axis] = i;
                len = format_element(p, idx, word);
            }
            put_word(p, word, len, i == 0, hang, width - 1);
        } else {
            /* rows of rows: one line apart, blocks of them one blank line */
            if (i > 0) {
                put(p, ",", 1);
                for (int k = axis + 1; k < ndim; k++)
                    put(p, "\n", 1);
                put_spaces(p, hang);
            }
            if (dots) {
                put(p, "...", 3);
            } else {
                idx[axis] = i;
                put_array(p, axis + 1, idx, hang + 1, width - 1);
            }
        }
        if (dots)
            i = n - EDGE_ITEMS - 1;
    }
    put(p, "]", 1);
}

int tg_print(const tg_tensor *t, FILE *f)
{
    const char *fn = "tg_print";
    if (!t)
        return tg__fail(TG_ERR_NULL, fn, "tensor is NULL");
    if (!f)
        return tg__fail(TG_ERR_NULL, fn, "FILE is NULL");

    printer p;
    memset(&p, 0, sizeof p);
    p.t = t;
    p.f = f;
    p.summarise = t->numel > THRESHOLD;
    put_str(&p, "array(");
    if (t->numel == 0) {
        /* NumPy shows the shape of an empty array unless it is (0,) */
        put_str(&p, "[]");
        if (t->ndim != 1) {
            put_str(&p, ", shape=(");
            for (int k = 0; k < t->ndim; k++) {
                char num[24];
                snprintf(num, sizeof num, "%s%lld", k ? ", " : "",
                         (long long)t->shape[k]);
                put_str(&p, num);
            }
            put_str(&p, ")");
        }
    } else {
        int64_t idx[TG_MAX_DIMS];
        p.is_int = !tg__is_float(t->dtype);
        if (p.is_int)
            int_widths(&p, 0, idx);
        else
            choose_format(&p);
        /* the line width leaves room for the ')' or ',' that follows */
        put_array(&p, 0, idx, (int)strlen("array(["), LINE_WIDTH - 1);
    }
    /* float64, int64 and bool are implied by the values (NumPy's defaults
     * on a 64-bit Linux), except when there are none */
    bool implied = t->dtype == TG_FLOAT64 || t->dtype == TG_INT64 ||
                   t->dtype == TG_BOOL;
    if (implied && t->numel > 0) {
        put_str(&p, ")\n");
    } else {
        char tail[32];
        int len = snprintf(tail, sizeof tail, "dtype=%s)", tg_dtype_name(t->dtype));
        put_str(&p, ",");
        if (p.col + 1 + len > LINE_WIDTH) { /* a line of its own */
            put_str(&p, "\n");
            put_spaces(&p, (int)strlen("array("));
        } else {
            put_str(&p, " ");
        }
        put_str(&p, tail);
        put_str(&p, "\n");
    }
    /* Flushed, so that a full disk or a closed pipe is reported here and
     * not lost in the stream's buffer. */
    if (!p.failed && fflush(p.f) != 0) {
        p.failed = true;
        p.err = errno;
    }
    if (p.failed)
        return tg__fail(TG_ERR_IO, fn, "writing the tensor failed: %s",
                        p.err ? strerror(p.err) : "short write");
    return TG_OK;
}
