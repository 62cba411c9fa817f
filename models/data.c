/* data.c - the IDX format of MNIST and Fashion-MNIST: two zero bytes, an
 * element type, a dimension count, that many big-endian u32 sizes, then the
 * elements in C order. A file that starts with the gzip magic is inflated
 * here with zlib (when built with it); any other file is read as stored. The
 * input is untrusted: the header is checked against the bytes actually
 * present before the data is allocated, a compressed body is read into a
 * buffer that grows with what really arrives, never past what the header
 * promises, and nothing may follow the data, stored or compressed. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifdef TG_HAVE_ZLIB
#include <zlib.h>
#endif

#include "../tensor/internal.h"
#include "data.h"

#define IDX_UBYTE 0x08
#define IDX_MAX_HEADER (4 + 4 * TG_MAX_DIMS)
/* A compressed body of unknown length is read into a buffer that starts this
 * big and doubles, so a lying header costs at most twice what the file holds. */
#define IDX_FIRST_CHUNK ((size_t)1 << 16)
/* inflate takes unsigned int lengths: at most this much per call. */
#define IDX_MAX_READ ((size_t)1 << 30)
/* Compressed input is read in blocks of this size. */
#define IDX_IN_CHUNK ((size_t)1 << 16)

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
    /* The product of the sizes other than 0 must fit too, so that every
     * product of some of the sizes (a row of dims[1] * dims[2] pixels) fits
     * in int64_t for the caller, even in an empty image: tg_zeros refuses
     * (0, 2^62) for the same reason. */
    int64_t prod = 1;
    bool big = false;
    for (int k = 0; k < h->ndim && !big; k++)
        if (h->dims[k] != 0)
            big = tg__mul_overflows(prod, h->dims[k], &prod);
    if (big || (uint64_t)prod > (uint64_t)SIZE_MAX / 2) {
        char s[120];
        tg__shape_fmt(h->ndim, h->dims, s, sizeof s);
        if (empty)
            return idx_fail(src, TG_ERR_OVERFLOW,
                            "dimensions %s overflow: the sizes besides the 0 "
                            "multiply to too many elements",
                            s);
        return idx_fail(src, TG_ERR_OVERFLOW,
                        "dimensions %s hold too many elements", s);
    }
    h->count = empty ? 0 : prod;
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

/* ---- a file, stored or (with zlib) gzip-compressed ---------------------------
 * A reader hides which: read_some fills up to n bytes and stops short only at
 * the end of the data. The first two bytes decide: the gzip magic means a
 * compressed file, anything else is read as stored.
 *
 * A gzip file is a series of members (RFC 1952); like gunzip and zlib's
 * gzread, the reader inflates one member after another and returns their
 * concatenation (`cat a.gz b.gz`). Unlike them it refuses anything after the
 * last member that is not another member: such trailing garbage (gzread skips
 * it silently) would otherwise make a damaged file load as valid, while a
 * stored file with one byte too many is refused. */

typedef struct idx_reader {
    const idx_src *src;
    FILE *f;
    int64_t raw_size;        /* bytes in the file when it is regular, else -1 */
    unsigned char peek[2];   /* the first bytes, read to tell the format */
    size_t npeek, peek_used;
    bool gz;                 /* inflating (only with zlib) */
#ifdef TG_HAVE_ZLIB
    z_stream z;
    bool z_ready;            /* inflateInit2 succeeded: inflateEnd is due */
    bool z_done;             /* the last member ended and nothing follows */
    bool in_eof;             /* the file has no more compressed bytes */
    unsigned char *in;       /* IDX_IN_CHUNK bytes of compressed input */
#endif
} idx_reader;

static int read_error(const idx_reader *r, int err)
{
    return idx_fail(r->src, TG_ERR_IO, "read failed: %s", strerror(err));
}

/* Up to n bytes straight from the file; short only at its end. */
static int read_raw(idx_reader *r, unsigned char *dst, size_t n, size_t *got)
{
    errno = 0;
    *got = fread(dst, 1, n, r->f);
    if (*got < n && ferror(r->f))
        return read_error(r, errno ? errno : EIO);
    return TG_OK;
}

#ifdef TG_HAVE_ZLIB
/* zlib allocates through tapegrad's allocator, so its memory is counted and
 * its failures are injectable like any other. Each block carries its size,
 * which zfree is not told. */
typedef union idx_zblock {
    size_t size;
    max_align_t align;
} idx_zblock;

static voidpf idx_zalloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    size_t n = (size_t)items * size; /* two 32-bit factors: fits in 64 bits */
    if (size != 0 && n / size != items)
        return Z_NULL;
    if (n > SIZE_MAX - sizeof(idx_zblock))
        return Z_NULL;
    idx_zblock *b = tg__alloc(n + sizeof *b);
    if (!b)
        return Z_NULL;
    b->size = n + sizeof *b;
    return b + 1;
}

static void idx_zfree(voidpf opaque, voidpf p)
{
    (void)opaque;
    if (!p)
        return;
    idx_zblock *b = (idx_zblock *)p - 1;
    tg__dealloc(b, b->size);
}

/* Tops up the compressed input, keeping the bytes not yet consumed. */
static int refill(idx_reader *r)
{
    if (r->in_eof)
        return TG_OK;
    size_t keep = r->z.avail_in;
    if (keep && r->z.next_in != r->in)
        memmove(r->in, r->z.next_in, keep);
    size_t got;
    int rc = read_raw(r, r->in + keep, IDX_IN_CHUNK - keep, &got);
    if (rc)
        return rc;
    if (got < IDX_IN_CHUNK - keep)
        r->in_eof = true;
    r->z.next_in = r->in;
    r->z.avail_in = (uInt)(keep + got);
    return TG_OK;
}

static int start_inflate(idx_reader *r)
{
    const idx_src *src = r->src;
    r->in = tg__alloc(IDX_IN_CHUNK);
    if (!r->in)
        return tg__oom(src->fn);
    memset(&r->z, 0, sizeof r->z);
    r->z.zalloc = idx_zalloc;
    r->z.zfree = idx_zfree;
    memcpy(r->in, r->peek, r->npeek);
    r->z.next_in = r->in;
    r->z.avail_in = (uInt)r->npeek;
    r->peek_used = r->npeek;
    /* 16 + MAX_WBITS: a gzip wrapper, whose CRC-32 and length are checked. */
    int zrc = inflateInit2(&r->z, 16 + MAX_WBITS);
    if (zrc == Z_MEM_ERROR)
        return tg__oom(src->fn);
    if (zrc != Z_OK)
        return idx_fail(src, TG_ERR_FORMAT, "cannot start inflating (zlib %s)",
                        zlibVersion());
    r->z_ready = true;
    return TG_OK;
}

/* After a member's end: another member, the end of the file, or garbage. */
static int next_member(idx_reader *r)
{
    if (r->z.avail_in < 2) {
        int rc = refill(r);
        if (rc)
            return rc;
    }
    if (r->z.avail_in == 0) {
        r->z_done = true;
        return TG_OK;
    }
    if (!is_gzip_magic(r->z.next_in, r->z.avail_in))
        return idx_fail(r->src, TG_ERR_FORMAT,
                        "trailing garbage after the gzip data (bytes that "
                        "are not another gzip member)");
    return inflateReset(&r->z) == Z_OK
               ? TG_OK
               : idx_fail(r->src, TG_ERR_FORMAT, "cannot restart inflating");
}

static int inflate_some(idx_reader *r, unsigned char *dst, size_t n,
                        size_t *got)
{
    const idx_src *src = r->src;
    while (*got < n && !r->z_done) {
        if (r->z.avail_in == 0) {
            int rc = refill(r);
            if (rc)
                return rc;
        }
        size_t want = n - *got < IDX_MAX_READ ? n - *got : IDX_MAX_READ;
        r->z.next_out = dst + *got;
        r->z.avail_out = (uInt)want;
        int zrc = inflate(&r->z, Z_NO_FLUSH);
        *got += want - r->z.avail_out;
        switch (zrc) {
        case Z_OK:
            break;
        case Z_STREAM_END: {
            int rc = next_member(r);
            if (rc)
                return rc;
            break;
        }
        case Z_BUF_ERROR: /* no progress: it needs input */
            if (r->z.avail_in != 0)
                return idx_fail(src, TG_ERR_FORMAT,
                                "corrupt gzip data (inflate made no progress)");
            if (r->in_eof)
                return idx_fail(src, TG_ERR_FORMAT,
                                "truncated gzip stream (the file ends inside "
                                "compressed data)");
            break;
        case Z_MEM_ERROR:
            return tg__oom(src->fn);
        case Z_NEED_DICT:
            return idx_fail(src, TG_ERR_FORMAT,
                            "corrupt gzip data (it asks for a preset "
                            "dictionary)");
        default: /* Z_DATA_ERROR, Z_STREAM_ERROR */
            return idx_fail(src, TG_ERR_FORMAT, "corrupt gzip data (%s)",
                            r->z.msg ? r->z.msg : "inflate failed");
        }
    }
    return TG_OK;
}
#endif /* TG_HAVE_ZLIB */

static int open_reader(idx_reader *r, const idx_src *src)
{
    memset(r, 0, sizeof *r);
    r->src = src;
    r->raw_size = -1;
    r->f = fopen(src->path, "rb");
    if (!r->f)
        return idx_fail(src, TG_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode))
        r->raw_size = (int64_t)st.st_size;
    int rc = read_raw(r, r->peek, sizeof r->peek, &r->npeek);
#ifdef TG_HAVE_ZLIB
    /* Without zlib a compressed file is read as stored, and parse_magic
     * says what it is. */
    if (!rc && is_gzip_magic(r->peek, r->npeek)) {
        r->gz = true;
        rc = start_inflate(r);
    }
#endif
    return rc;
}

static void close_reader(idx_reader *r)
{
#ifdef TG_HAVE_ZLIB
    if (r->z_ready)
        inflateEnd(&r->z);
    tg__dealloc(r->in, IDX_IN_CHUNK);
#endif
    if (r->f)
        fclose(r->f); /* read-only: closing cannot lose anything */
}

static int read_some(idx_reader *r, void *dst, size_t n, size_t *got)
{
    unsigned char *p = dst;
    *got = 0;
#ifdef TG_HAVE_ZLIB
    if (r->gz)
        return inflate_some(r, p, n, got);
#endif
    while (*got < n && r->peek_used < r->npeek)
        p[(*got)++] = r->peek[r->peek_used++];
    size_t more = 0;
    int rc = *got < n ? read_raw(r, p + *got, n - *got, &more) : TG_OK;
    *got += more;
    return rc;
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

/* A header that makes no sense may be the first bytes out of a damaged
 * stream (inflate can emit a few bytes of garbage before it notices): look
 * up to IDX_FIRST_CHUNK bytes further, so that the damage is what gets
 * reported when it shows there. Returns the stream's error, or TG_OK. */
static int stream_damage(idx_reader *r)
{
    unsigned char scratch[4096];
    for (size_t seen = 0; seen < IDX_FIRST_CHUNK; seen += sizeof scratch) {
        size_t got;
        int rc = read_some(r, scratch, sizeof scratch, &got);
        if (rc || got < sizeof scratch)
            return rc;
    }
    return TG_OK;
}

static int load_file(const idx_src *src, tg_idx *out)
{
    idx_reader r;
    int rc = open_reader(&r, src);
    if (rc) {
        close_reader(&r);
        return rc;
    }
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
    if (rc == TG_ERR_FORMAT && r.gz) {
        int damage = stream_damage(&r); /* replaces the message when found */
        rc = damage ? damage : rc;
    }
    /* Stored files: the size on disk must match before anything is
     * allocated. Compressed ones are checked as they are read. */
    bool size_checked = false;
    if (!rc && r.raw_size >= 0 && !r.gz) {
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
