/* data.c - the IDX format of MNIST and Fashion-MNIST: two zero bytes, an
 * element type, a dimension count, that many big-endian u32 sizes, then the
 * elements in C order. Files are read through zlib when built with it (gzread
 * passes uncompressed files through unchanged). The input is untrusted: the
 * header is checked against the bytes actually present before the data is
 * allocated, and a compressed body is read into a buffer that grows with what
 * really arrives, never past what the header promises. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#ifdef TG_HAVE_ZLIB
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#endif

#include "../tensor/internal.h"
#include "data.h"

#define IDX_UBYTE 0x08
#define IDX_MAX_HEADER (4 + 4 * TG_MAX_DIMS)
/* A compressed body of unknown length is read into a buffer that starts this
 * big and doubles, so a lying header costs at most twice what the file holds. */
#define IDX_FIRST_CHUNK ((size_t)1 << 16)
/* gzread takes an unsigned int length. */
#define IDX_MAX_READ ((size_t)1 << 30)

/* Where an image came from, for messages: "tg_idx_load: x.gz: ...". */
typedef struct idx_src {
    const char *fn;
    const char *path; /* NULL for an in-memory image */
} idx_src;

/* What a header describes. */
typedef struct idx_header {
    int ndim;
    int64_t dims[TG_MAX_DIMS];
    int64_t count;
    size_t len; /* header bytes: 4 + 4 * ndim */
} idx_header;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int idx_fail(const idx_src *src, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tg__vfail_at(code, src->fn, src->path, fmt, ap);
    va_end(ap);
    return rc;
}

static const char *type_name(unsigned type)
{
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
    }
}

static bool is_gzip_magic(const unsigned char *b, size_t avail)
{
    return avail >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* ---- the header --------------------------------------------------------- */

/* The 4-byte magic: b holds the first avail bytes of the image (avail may be
 * less than 4). Sets h->ndim and h->len. */
static int parse_magic(const idx_src *src, const unsigned char *b, size_t avail,
                       idx_header *h)
{
    if (avail == 0)
        return idx_fail(src, TG_ERR_FORMAT, "empty file, not an IDX file");
    if (is_gzip_magic(b, avail)) {
        if (!src->path)
            return idx_fail(src, TG_ERR_FORMAT,
                            "gzip-compressed data; the buffer must hold an "
                            "uncompressed IDX image (tg_idx_load reads .gz "
                            "files)");
#ifdef TG_HAVE_ZLIB
        return idx_fail(src, TG_ERR_FORMAT,
                        "gzip-compressed twice; decompress the outer layer "
                        "first");
#else
        return idx_fail(src, TG_ERR_FORMAT,
                        "gzip-compressed, but tapegrad was built without "
                        "zlib; decompress it first (gunzip)");
#endif
    }
    if (b[0] != 0 || (avail > 1 && b[1] != 0))
        return idx_fail(src, TG_ERR_FORMAT,
                        "not an IDX file (bad magic: the first two bytes "
                        "must be zero)");
    if (avail < 4)
        return idx_fail(src, TG_ERR_FORMAT,
                        "truncated: only %zu of the 4 magic bytes", avail);
    if (b[2] != IDX_UBYTE)
        return idx_fail(src, TG_ERR_FORMAT,
                        "unsupported element type 0x%02x (%s); only 0x08 "
                        "(unsigned byte) is supported",
                        (unsigned)b[2], type_name(b[2]));
    if (b[3] == 0 || b[3] > TG_MAX_DIMS)
        return idx_fail(src, TG_ERR_FORMAT,
                        "unsupported number of dimensions %u (1 to %d are "
                        "supported)",
                        (unsigned)b[3], TG_MAX_DIMS);
    h->ndim = b[3];
    h->len = 4 + 4 * (size_t)h->ndim;
    return TG_OK;
}

/* The sizes after a valid magic: b holds avail bytes from the image's start. */
static int parse_dims(const idx_src *src, const unsigned char *b, size_t avail,
                      idx_header *h)
{
    if (avail < h->len)
        return idx_fail(src, TG_ERR_FORMAT,
                        "truncated header: %d dimensions need %zu bytes, the "
                        "file has %zu",
                        h->ndim, h->len, avail);
    bool empty = false;
    for (int k = 0; k < h->ndim; k++) {
        const unsigned char *p = b + 4 + 4 * k;
        uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                     (uint32_t)p[2] << 8 | (uint32_t)p[3];
        h->dims[k] = (int64_t)v;
        empty = empty || v == 0;
    }
    /* With a zero size there is nothing to overflow, whatever the others. */
    int64_t count = 1;
    bool big = false;
    for (int k = 0; k < h->ndim && !empty && !big; k++)
        big = tg__mul_overflows(count, h->dims[k], &count);
    if (empty)
        count = 0;
    if (big || (uint64_t)count > (uint64_t)SIZE_MAX / 2) {
        char s[120];
        return idx_fail(src, TG_ERR_OVERFLOW,
                        "dimensions %s hold too many elements",
                        tg__shape_fmt(h->ndim, h->dims, s, sizeof s));
    }
    h->count = count;
    return TG_OK;
}

/* The data must be exactly count bytes. body is how many follow the
 * header, or -1 for "more than count" when the total is unknown. */
static int check_body(const idx_src *src, const idx_header *h, int64_t body)
{
    if (body == h->count)
        return TG_OK;
    char s[120];
    tg__shape_fmt(h->ndim, h->dims, s, sizeof s);
    if (body >= 0 && body < h->count)
        return idx_fail(src, TG_ERR_FORMAT,
                        "truncated: dimensions %s need %lld bytes of data, "
                        "the file has %lld",
                        s, (long long)h->count, (long long)body);
    if (body < 0)
        return idx_fail(src, TG_ERR_FORMAT,
                        "longer than its header says: dimensions %s need "
                        "%lld bytes of data, more follow",
                        s, (long long)h->count);
    return idx_fail(src, TG_ERR_FORMAT,
                    "longer than its header says: dimensions %s need %lld "
                    "bytes of data, the file has %lld",
                    s, (long long)h->count, (long long)body);
}

static void fill_out(tg_idx *out, const idx_header *h, uint8_t *data)
{
    memset(out, 0, sizeof *out);
    out->ndim = h->ndim;
    memcpy(out->dims, h->dims, (size_t)h->ndim * sizeof h->dims[0]);
    out->count = h->count;
    out->data = data;
}

/* ---- an image in memory --------------------------------------------------- */

int tg_idx_load_buffer(const void *buf, size_t len, tg_idx *out)
{
    idx_src src = {"tg_idx_load_buffer", NULL};
    if (!buf)
        return idx_fail(&src, TG_ERR_NULL, "buffer is NULL");
    if (!out)
        return idx_fail(&src, TG_ERR_NULL, "out is NULL");
    const unsigned char *b = buf;
    idx_header h;
    int rc = parse_magic(&src, b, len, &h);
    if (!rc)
        rc = parse_dims(&src, b, len, &h);
    if (!rc)
        rc = check_body(&src, &h, (int64_t)(len - h.len));
    if (rc)
        return rc;
    uint8_t *data = tg__alloc((size_t)h.count);
    if (h.count && !data)
        return tg__oom(src.fn);
    if (h.count)
        memcpy(data, b + h.len, (size_t)h.count);
    fill_out(out, &h, data);
    return TG_OK;
}

void tg_idx_free(tg_idx *idx)
{
    if (!idx)
        return;
    tg__dealloc(idx->data, (size_t)idx->count);
    memset(idx, 0, sizeof *idx);
}

/* ---- a file, plain or (with zlib) gzip-compressed ----------------------------
 * A reader hides which: read_some fills up to n bytes and stops short only at
 * the end of the data. */

typedef struct idx_reader {
    const idx_src *src;
#ifdef TG_HAVE_ZLIB
    gzFile gz;
#else
    FILE *f;
#endif
    int64_t raw_size; /* bytes in the file when it is regular, else -1 */
} idx_reader;

static int open_reader(idx_reader *r, const idx_src *src)
{
    r->src = src;
    r->raw_size = -1;
    struct stat st;
#ifdef TG_HAVE_ZLIB
    int fd = open(src->path, O_RDONLY);
    if (fd < 0)
        return idx_fail(src, TG_ERR_IO, "cannot open: %s", strerror(errno));
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        r->raw_size = (int64_t)st.st_size;
    errno = 0;
    r->gz = gzdopen(fd, "rb"); /* owns fd from here on */
    if (!r->gz) {
        int saved = errno;
        close(fd);
        return idx_fail(src, TG_ERR_NOMEM, "cannot open: %s",
                        saved ? strerror(saved) : "zlib is out of memory");
    }
    gzbuffer(r->gz, 1u << 17);
#else
    r->f = fopen(src->path, "rb");
    if (!r->f)
        return idx_fail(src, TG_ERR_IO, "cannot open: %s", strerror(errno));
    if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode))
        r->raw_size = (int64_t)st.st_size;
#endif
    return TG_OK;
}

static void close_reader(idx_reader *r)
{
    /* Read-only: closing cannot lose anything. */
#ifdef TG_HAVE_ZLIB
    gzclose(r->gz);
#else
    fclose(r->f);
#endif
}

/* Whether the data reaches us as stored (no decompression in between), so
 * that the file's size is the image's size. Valid after the first read. */
static bool reader_direct(idx_reader *r)
{
#ifdef TG_HAVE_ZLIB
    return gzdirect(r->gz) != 0;
#else
    (void)r;
    return true;
#endif
}

static int read_some(idx_reader *r, void *dst, size_t n, size_t *got)
{
    unsigned char *p = dst;
    *got = 0;
#ifdef TG_HAVE_ZLIB
    while (*got < n) {
        size_t want = n - *got < IDX_MAX_READ ? n - *got : IDX_MAX_READ;
        int k = gzread(r->gz, p + *got, (unsigned)want);
        if (k <= 0)
            break;
        *got += (size_t)k;
    }
    if (*got == n)
        return TG_OK;
    /* Short: the end of the data, or an error gzerror explains. */
    int saved = errno;
    int err;
    const char *what = gzerror(r->gz, &err);
    switch (err) {
    case Z_OK:
    case Z_STREAM_END:
        return TG_OK;
    case Z_ERRNO:
        return idx_fail(r->src, TG_ERR_IO, "read failed: %s", strerror(saved));
    case Z_MEM_ERROR:
        return idx_fail(r->src, TG_ERR_NOMEM, "zlib is out of memory");
    case Z_BUF_ERROR:
        return idx_fail(r->src, TG_ERR_FORMAT,
                        "truncated gzip stream (%s)", what);
    default:
        return idx_fail(r->src, TG_ERR_FORMAT, "corrupt gzip data (%s)", what);
    }
#else
    *got = fread(p, 1, n, r->f);
    if (*got < n && ferror(r->f))
        return idx_fail(r->src, TG_ERR_IO, "read failed: %s", strerror(errno));
    return TG_OK;
#endif
}

/* Reads the body of h->count bytes into a buffer that grows with the data
 * actually read, then checks that nothing follows. On success *data holds
 * exactly h->count bytes. */
static int read_body(idx_reader *r, const idx_header *h, bool size_checked,
                     uint8_t **data)
{
    const idx_src *src = r->src;
    size_t count = (size_t)h->count;
    size_t cap = 0, have = 0;
    uint8_t *buf = NULL;
    int rc = TG_OK;
    while (have < count) {
        if (have == cap) {
            size_t next = size_checked ? count
                          : cap == 0   ? IDX_FIRST_CHUNK
                          : cap > count / 2 ? count
                                            : cap * 2;
            if (next > count)
                next = count;
            uint8_t *grown = tg__realloc(buf, cap, next);
            if (!grown) {
                rc = tg__oom(src->fn);
                break;
            }
            buf = grown;
            cap = next;
        }
        size_t got;
        rc = read_some(r, buf + have, cap - have, &got);
        if (rc)
            break;
        have += got;
        if (have < cap)
            break; /* the data ended */
    }
    if (!rc)
        rc = check_body(src, h, (int64_t)have);
    if (!rc) {
        /* One more byte tells trailing garbage from the end (and lets zlib
         * check the stream's CRC and length). */
        unsigned char extra;
        size_t got;
        rc = read_some(r, &extra, 1, &got);
        if (!rc && got)
            rc = check_body(src, h, -1);
    }
    if (rc) {
        tg__dealloc(buf, cap);
        return rc;
    }
    *data = buf;
    return TG_OK;
}

static int load_file(const idx_src *src, tg_idx *out)
{
    idx_reader r;
    int rc = open_reader(&r, src);
    if (rc)
        return rc;
    unsigned char head[IDX_MAX_HEADER];
    idx_header h;
    size_t got = 0, more = 0;
    rc = read_some(&r, head, 4, &got);
    if (!rc)
        rc = parse_magic(src, head, got, &h);
    if (!rc)
        rc = read_some(&r, head + 4, h.len - 4, &more);
    if (!rc)
        rc = parse_dims(src, head, 4 + more, &h);
    /* Stored files: the size on disk must match before anything is
     * allocated. Compressed ones are checked as they are read. */
    bool size_checked = false;
    if (!rc && r.raw_size >= 0 && reader_direct(&r)) {
        int64_t len = (int64_t)h.len;
        rc = check_body(src, &h, r.raw_size > len ? r.raw_size - len : 0);
        size_checked = true;
    }
    uint8_t *data = NULL;
    if (!rc)
        rc = read_body(&r, &h, size_checked, &data);
    close_reader(&r);
    if (rc)
        return rc;
    fill_out(out, &h, data);
    return TG_OK;
}

int tg_idx_load(const char *path, tg_idx *out)
{
    idx_src src = {"tg_idx_load", path};
    if (!path)
        return tg__fail(TG_ERR_NULL, src.fn, "path is NULL");
    if (!out)
        return tg__fail(TG_ERR_NULL, src.fn, "out is NULL");
    return load_file(&src, out);
}
