/* npy.c - NumPy's .npy format: a magic string, a version, a Python dict
 * literal describing dtype, order and shape, then the raw C-order data.
 * The header is untrusted input: it is parsed by a small strict grammar and
 * checked against the bytes actually present before anything is allocated. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "internal.h"
#include "npy.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* Float headers are 118 bytes; NumPy refuses more than 10000 by default.
 * The cap keeps a hostile length field from costing a large allocation. */
#define NPY_MAX_HEADER 65536
#define NPY_ALIGN 64
/* NumPy leaves room to grow the first axis in place up to this many digits. */
#define NPY_GROWTH_DIGITS 21

/* Where an image came from, for messages: "tg_load_npy: w.npy: ...". */
typedef struct npy_src {
    const char *fn;
    const char *path; /* NULL for an in-memory image */
} npy_src;

/* What a header describes. */
typedef struct npy_info {
    tg_dtype dtype;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    size_t nbytes; /* bytes of data the shape needs */
} npy_info;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int npy_fail(const npy_src *src, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tg__vfail_at(code, src->fn, src->path, fmt, ap);
    va_end(ap);
    return rc;
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* Reverses each width-byte element in place (files are little-endian). */
static void swap_elements(unsigned char *p, size_t count, size_t width)
{
    for (size_t i = 0; i < count; i++, p += width)
        for (size_t a = 0, b = width - 1; a < b; a++, b--) {
            unsigned char tmp = p[a];
            p[a] = p[b];
            p[b] = tmp;
        }
}

/* ---- the prefix: magic, version, header length ------------------------- */

/* buf holds the first avail bytes of an image of total bytes. On success
 * *start and *hlen locate the header text. */
static int parse_prefix(const npy_src *src, const unsigned char *buf,
                        size_t avail, size_t total, size_t *start, size_t *hlen)
{
    if (total == 0)
        return npy_fail(src, TG_ERR_FORMAT, "empty file, not a .npy file");
    size_t m = avail < NPY_MAGIC_LEN ? avail : NPY_MAGIC_LEN;
    if (memcmp(buf, NPY_MAGIC, m) != 0)
        return npy_fail(src, TG_ERR_FORMAT, "not a .npy file (bad magic)");
    if (avail < 10)
        return npy_fail(src, TG_ERR_FORMAT,
                        "truncated: %zu bytes, too short for a .npy prefix",
                        avail);
    unsigned major = buf[6], minor = buf[7];
    uint32_t n;
    if (major == 1 && minor == 0) {
        n = (uint32_t)buf[8] | (uint32_t)buf[9] << 8;
        *start = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (avail < 12)
            return npy_fail(src, TG_ERR_FORMAT,
                            "truncated: %zu bytes, too short for a .npy prefix",
                            avail);
        n = (uint32_t)buf[8] | (uint32_t)buf[9] << 8 |
            (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 24;
        *start = 12;
    } else {
        return npy_fail(src, TG_ERR_FORMAT, "unsupported .npy version %u.%u",
                        major, minor);
    }
    if (n == 0)
        return npy_fail(src, TG_ERR_FORMAT, "bad header length 0");
    if (n > NPY_MAX_HEADER)
        return npy_fail(src, TG_ERR_FORMAT,
                        "bad header length %lu (more than %d)",
                        (unsigned long)n, NPY_MAX_HEADER);
    if (n > total - *start)
        return npy_fail(src, TG_ERR_FORMAT,
                        "truncated header: length %lu but %zu bytes follow",
                        (unsigned long)n, total - *start);
    *hlen = n;
    return TG_OK;
}

/* ---- the header: {'descr': '<f8', 'fortran_order': False, 'shape': (3,), }
 * The grammar is the subset of Python literals NumPy writes: a dict with
 * exactly these three keys, string values in single or double quotes,
 * True/False, and a tuple of non-negative decimal integers. */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Consumes ch (after blanks) when it is next. */
static bool take(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool is_ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '_';
}

/* Consumes the keyword w (True, False) when it is next. */
static bool take_word(cursor *c, const char *w)
{
    skip_space(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return false;
    if ((size_t)(c->end - c->p) > n && is_ident_char(c->p[n]))
        return false;
    c->p += n;
    return true;
}

/* A quoted string of printable ASCII without escapes, shorter than cap.
 * Returns false when the next token is not such a string. */
static bool take_string(cursor *c, char *out, size_t cap)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    char quote = *c->p;
    const char *q = c->p + 1;
    size_t n = 0;
    while (q < c->end && *q != quote) {
        if (*q < 0x20 || *q > 0x7e || *q == '\\' || n + 1 >= cap)
            return false;
        out[n++] = *q++;
    }
    if (q >= c->end)
        return false;
    out[n] = '\0';
    c->p = q + 1;
    return true;
}

enum { INT_OK, INT_NONE, INT_TOO_BIG };

/* A decimal integer literal (Python 2's 'L' suffix tolerated, as NumPy
 * does for old files). */
static int take_int(cursor *c, int64_t *out)
{
    skip_space(c);
    const char *q = c->p;
    if (q >= c->end || *q < '0' || *q > '9')
        return INT_NONE;
    if (*q == '0' && q + 1 < c->end && q[1] >= '0' && q[1] <= '9')
        return INT_NONE; /* 03 is not a Python 3 literal */
    int64_t v = 0;
    bool big = false;
    for (; q < c->end && *q >= '0' && *q <= '9'; q++) {
        int d = *q - '0';
        if (v > (INT64_MAX - d) / 10)
            big = true;
        else
            v = v * 10 + d;
    }
    if (q < c->end && *q == 'L')
        q++;
    if (q < c->end && is_ident_char(*q))
        return INT_NONE;
    c->p = q;
    *out = v;
    return big ? INT_TOO_BIG : INT_OK;
}

static int parse_shape(const npy_src *src, cursor *c, npy_info *info)
{
    if (!take(c, '('))
        return npy_fail(src, TG_ERR_FORMAT,
                        "bad header: 'shape' is not a tuple");
    info->ndim = 0;
    if (take(c, ')'))
        return TG_OK;
    for (;;) {
        int64_t v;
        int r = take_int(c, &v);
        if (r == INT_NONE)
            return npy_fail(src, TG_ERR_FORMAT,
                            "bad header: 'shape' holds a non-integer");
        if (info->ndim == TG_MAX_DIMS)
            return npy_fail(src, TG_ERR_FORMAT,
                            "shape has more than %d dimensions", TG_MAX_DIMS);
        if (r == INT_TOO_BIG)
            return npy_fail(src, TG_ERR_OVERFLOW,
                            "size of axis %d overflows 64 bits", info->ndim);
        info->shape[info->ndim++] = v;
        if (take(c, ',')) {
            if (take(c, ')'))
                return TG_OK;
        } else if (take(c, ')')) {
            if (info->ndim == 1) /* (3) is an int in Python, not a tuple */
                return npy_fail(src, TG_ERR_FORMAT,
                                "bad header: 'shape' is not a tuple");
            return TG_OK;
        } else {
            return npy_fail(src, TG_ERR_FORMAT,
                            "bad header: malformed 'shape' tuple");
        }
    }
}

/* The descr np.save writes for each dtype (little-endian, C order). */
static const char *const descrs[TG_DTYPE_COUNT_] = {"<f4", "<f8", "<i4", "<i8",
                                                    "|u1", "|b1"};

static int parse_dtype(const npy_src *src, const char *descr, tg_dtype *dt)
{
    for (int d = 0; d < TG_DTYPE_COUNT_; d++)
        if (strcmp(descr, descrs[d]) == 0) {
            *dt = (tg_dtype)d;
            return TG_OK;
        }
    if (descr[0] == '>')
        return npy_fail(src, TG_ERR_FORMAT,
                        "unsupported dtype '%s' (big-endian; tapegrad reads "
                        "'<f4', '<f8', '<i4', '<i8', '|u1' and '|b1')",
                        descr);
    return npy_fail(src, TG_ERR_FORMAT,
                    "unsupported dtype '%s' (tapegrad reads '<f4', '<f8', "
                    "'<i4', '<i8', '|u1' and '|b1')",
                    descr);
}

/* A bool array holds 0 or 1 per byte; a file may hold other bytes, which
 * are read as true (NumPy's view of them is undefined). */
static void normalise_bools(tg_tensor *t)
{
    if (t->dtype != TG_BOOL)
        return;
    uint8_t *p = t->storage->data;
    for (int64_t i = 0; i < t->numel; i++)
        p[i] = p[i] != 0;
}

/* Parses the n header bytes at h; data_avail bytes follow them. */
static int parse_header(const npy_src *src, const char *h, size_t n,
                        size_t data_avail, npy_info *info)
{
    cursor c = {h, h + n};
    char descr[40] = "";
    bool fortran = false;
    bool seen_descr = false, seen_fortran = false, seen_shape = false;

    if (!take(&c, '{'))
        return npy_fail(src, TG_ERR_FORMAT, "bad header: not a dictionary");
    while (!take(&c, '}')) {
        char key[24];
        if (!take_string(&c, key, sizeof key))
            return npy_fail(src, TG_ERR_FORMAT,
                            "bad header: expected a quoted key");
        if (!take(&c, ':'))
            return npy_fail(src, TG_ERR_FORMAT,
                            "bad header: expected ':' after '%s'", key);
        bool *seen;
        if (strcmp(key, "descr") == 0) {
            seen = &seen_descr;
            if (!take_string(&c, descr, sizeof descr))
                return npy_fail(src, TG_ERR_FORMAT,
                                "unsupported dtype: 'descr' is not a simple "
                                "type string (structured dtypes are not "
                                "supported)");
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &seen_fortran;
            if (take_word(&c, "True"))
                fortran = true;
            else if (take_word(&c, "False"))
                fortran = false;
            else
                return npy_fail(src, TG_ERR_FORMAT,
                                "bad header: 'fortran_order' is not True or "
                                "False");
        } else if (strcmp(key, "shape") == 0) {
            seen = &seen_shape;
            int rc = parse_shape(src, &c, info);
            if (rc)
                return rc;
        } else {
            return npy_fail(src, TG_ERR_FORMAT,
                            "bad header: unexpected key '%s'", key);
        }
        if (*seen)
            return npy_fail(src, TG_ERR_FORMAT,
                            "bad header: duplicate key '%s'", key);
        *seen = true;
        if (!take(&c, ',')) {
            if (!take(&c, '}'))
                return npy_fail(src, TG_ERR_FORMAT,
                                "bad header: expected ',' or '}' after '%s'",
                                key);
            break;
        }
    }
    skip_space(&c);
    if (c.p != c.end)
        return npy_fail(src, TG_ERR_FORMAT,
                        "bad header: unexpected text after the dictionary");
    if (!seen_descr || !seen_fortran || !seen_shape)
        return npy_fail(src, TG_ERR_FORMAT, "bad header: missing key '%s'",
                        !seen_descr ? "descr"
                        : !seen_fortran ? "fortran_order"
                                        : "shape");

    int rc = parse_dtype(src, descr, &info->dtype);
    if (rc)
        return rc;
    if (fortran)
        return npy_fail(src, TG_ERR_FORMAT, "Fortran order is not supported");
    int64_t numel;
    if (tg__check_shape(src->fn, info->ndim, info->shape, info->dtype, &numel)) {
        /* The same message with the file's path: "fn: path: shape ...". */
        char why[256];
        size_t skip = strlen(src->fn) + 2;
        const char *msg = tg_last_message();
        snprintf(why, sizeof why, "%s", strlen(msg) > skip ? msg + skip : msg);
        return npy_fail(src, tg_last_error(), "%s", why);
    }
    info->nbytes = (size_t)numel * tg_dtype_size(info->dtype);
    if (info->nbytes > data_avail) {
        char b[200];
        return npy_fail(src, TG_ERR_FORMAT,
                        "truncated: shape %s needs %zu bytes of data, the file "
                        "has %zu",
                        tg__shape_fmt(info->ndim, info->shape, b, sizeof b),
                        info->nbytes, data_avail);
    }
    return TG_OK;
}

/* ---- loading ------------------------------------------------------------- */

static tg_tensor *load_image(const npy_src *src, const unsigned char *buf,
                             size_t len)
{
    size_t start = 0, hlen = 0;
    npy_info info;
    if (parse_prefix(src, buf, len, len, &start, &hlen) ||
        parse_header(src, (const char *)buf + start, hlen,
                     len - start - hlen, &info))
        return NULL;
    tg_tensor *t = tg__new(src->fn, info.dtype, info.ndim, info.shape);
    if (!t)
        return NULL;
    if (info.nbytes) {
        memcpy(t->storage->data, buf + start + hlen, info.nbytes);
        if (!host_is_little_endian())
            swap_elements(t->storage->data, (size_t)t->numel,
                          tg_dtype_size(t->dtype));
        normalise_bools(t);
    }
    return t;
}

tg_tensor *tg_load_npy_buffer(const void *buf, size_t len)
{
    npy_src src = {"tg_load_npy_buffer", NULL};
    if (!buf) {
        tg__fail(TG_ERR_NULL, src.fn, "buffer is NULL");
        return NULL;
    }
    return load_image(&src, buf, len);
}

/* Reads exactly n bytes; a short read is an I/O error or a truncated file. */
static int read_exact(const npy_src *src, FILE *f, void *dst, size_t n)
{
    if (n == 0 || fread(dst, 1, n, f) == n)
        return TG_OK;
    if (ferror(f))
        return npy_fail(src, TG_ERR_IO, "read failed: %s", strerror(errno));
    return npy_fail(src, TG_ERR_FORMAT, "truncated: the file ended early");
}

/* Reads the header first and the data straight into the new tensor, so a
 * file is never held twice in memory; the sizes are checked against the
 * file's length before the tensor is allocated. */
static tg_tensor *load_file(const npy_src *src, FILE *f)
{
    if (fseeko(f, 0, SEEK_END) != 0)
        goto io_error;
    off_t end = ftello(f);
    if (end < 0 || fseeko(f, 0, SEEK_SET) != 0)
        goto io_error;
    size_t total = (uint64_t)end > SIZE_MAX ? SIZE_MAX : (size_t)end;

    unsigned char prefix[12];
    size_t avail = total < sizeof prefix ? total : sizeof prefix;
    size_t start = 0, hlen = 0;
    if (read_exact(src, f, prefix, avail) ||
        parse_prefix(src, prefix, avail, total, &start, &hlen))
        return NULL;
    /* The v1 prefix is 10 bytes: give back what belongs to the header. */
    if (fseeko(f, (off_t)start, SEEK_SET) != 0)
        goto io_error;
    char *h = tg__alloc(hlen);
    if (!h) {
        tg__oom(src->fn);
        return NULL;
    }
    npy_info info;
    int rc = read_exact(src, f, h, hlen);
    if (!rc)
        rc = parse_header(src, h, hlen, total - start - hlen, &info);
    tg__dealloc(h, hlen);
    if (rc)
        return NULL;

    tg_tensor *t = tg__new(src->fn, info.dtype, info.ndim, info.shape);
    if (!t)
        return NULL;
    if (read_exact(src, f, t->storage->data, info.nbytes)) {
        tg_free(t);
        return NULL;
    }
    if (info.nbytes && !host_is_little_endian())
        swap_elements(t->storage->data, (size_t)t->numel,
                      tg_dtype_size(t->dtype));
    normalise_bools(t);
    return t;

io_error:
    npy_fail(src, TG_ERR_IO, "cannot read: %s", strerror(errno));
    return NULL;
}

tg_tensor *tg_load_npy(const char *path)
{
    npy_src src = {"tg_load_npy", path};
    if (!path) {
        tg__fail(TG_ERR_NULL, src.fn, "path is NULL");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        tg__fail(TG_ERR_IO, src.fn, "cannot open '%s': %s", path,
                 strerror(errno));
        return NULL;
    }
    tg_tensor *t = load_file(&src, f);
    fclose(f); /* read-only: nothing to lose if closing fails */
    return t;
}

/* ---- saving -------------------------------------------------------------- */

/* Writes the prefix and header NumPy would write for t into buf (512 bytes
 * suffice: the data then starts at byte 64, 128 or 192); returns its length. */
static size_t make_header(const tg_tensor *t, char *buf)
{
    char dict[320];
    size_t n = (size_t)snprintf(dict, sizeof dict,
                                "{'descr': '%s', 'fortran_order': False, "
                                "'shape': (",
                                descrs[t->dtype]);
    for (int k = 0; k < t->ndim; k++)
        n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%lld",
                              k ? ", " : "", (long long)t->shape[k]);
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }",
                          t->ndim == 1 ? "," : "");
    if (t->ndim > 0) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%lld",
                              (long long)t->shape[0]);
        for (int i = digits; i < NPY_GROWTH_DIGITS; i++)
            dict[n++] = ' ';
    }
    /* NumPy pads with 1..64 spaces (never 0) before the final newline. */
    size_t pad = NPY_ALIGN - (10 + n + 1) % NPY_ALIGN;
    size_t hlen = n + pad + 1;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, n);
    memset(buf + 10 + n, ' ', pad);
    buf[10 + hlen - 1] = '\n';
    return 10 + hlen;
}

/* The next count elements of t in C order, whatever its strides, into dst
 * as the file holds them (little-endian); *pos and idx carry the walk's
 * place from one call to the next (start: t->offset and zeros). */
static void gather_elements(const tg_tensor *t, int64_t *pos, int64_t *idx,
                            unsigned char *dst, int64_t count)
{
    size_t width = tg_dtype_size(t->dtype);
    bool swap = !host_is_little_endian();
    const unsigned char *base = t->storage->data;
    for (int64_t i = 0; i < count; i++, dst += width) {
        memcpy(dst, base + (size_t)*pos * width, width);
        if (swap)
            swap_elements(dst, 1, width);
        for (int k = t->ndim - 1; k >= 0; k--) {
            *pos += t->strides[k];
            if (++idx[k] < t->shape[k])
                break;
            *pos -= t->strides[k] * t->shape[k];
            idx[k] = 0;
        }
    }
}

/* Writes t's elements in C order, whatever its strides. */
static bool write_data(const tg_tensor *t, FILE *f)
{
    size_t width = tg_dtype_size(t->dtype);
    if (t->numel == 0)
        return true;
    if (tg_is_contiguous(t) && host_is_little_endian())
        return fwrite(tg_data(t), width, (size_t)t->numel, f) ==
               (size_t)t->numel;

    unsigned char chunk[4096];
    int64_t per = (int64_t)(sizeof chunk / width), idx[TG_MAX_DIMS] = {0};
    int64_t pos = t->offset;
    for (int64_t done = 0; done < t->numel; done += per) {
        int64_t n = t->numel - done < per ? t->numel - done : per;
        gather_elements(t, &pos, idx, chunk, n);
        if (fwrite(chunk, width, (size_t)n, f) != (size_t)n)
            return false;
    }
    return true;
}

int tg_save_npy(const tg_tensor *t, const char *path)
{
    const char *fn = "tg_save_npy";
    if (!t)
        return tg__fail(TG_ERR_NULL, fn, "tensor is NULL");
    if (!path)
        return tg__fail(TG_ERR_NULL, fn, "path is NULL");
    char header[512];
    size_t n = make_header(t, header);

    FILE *f = fopen(path, "wb");
    if (!f)
        return tg__fail(TG_ERR_IO, fn, "cannot open '%s' for writing: %s", path,
                        strerror(errno));
    /* A failed save may leave a partial file, which tg_load_npy refuses as
     * truncated. */
    bool ok = fwrite(header, 1, n, f) == n && write_data(t, f);
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok)
        return tg__fail(TG_ERR_IO, fn, "writing '%s' failed: %s", path,
                        strerror(saved));
    return TG_OK;
}

size_t tg_save_npy_buffer(const tg_tensor *t, void *buf, size_t cap)
{
    const char *fn = "tg_save_npy_buffer";
    if (!t) {
        tg__fail(TG_ERR_NULL, fn, "tensor is NULL");
        return 0;
    }
    if (cap && !buf) {
        tg__fail(TG_ERR_NULL, fn, "buf is NULL but cap is %zu", cap);
        return 0;
    }
    char header[512];
    size_t n = make_header(t, header);
    size_t width = tg_dtype_size(t->dtype);
    size_t total = n + (size_t)t->numel * width; /* fits: the tensor exists */
    if (cap < total)
        return total;
    unsigned char *out = buf;
    memcpy(out, header, n);
    int64_t idx[TG_MAX_DIMS] = {0}, pos = t->offset;
    gather_elements(t, &pos, idx, out + n, t->numel);
    return total;
}
