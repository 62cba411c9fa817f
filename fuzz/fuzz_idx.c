/* fuzz_idx.c - libFuzzer target for the IDX reader (models/data.c): the
 * input is an uncompressed IDX image handed to tg_idx_load_buffer.
 *
 * Beyond "no crash, no leak, no free of the wrong size" it checks that a
 * failure sets a proper error and never claims out of memory; that a
 * success describes the image exactly (dimensions, count, the bytes after
 * the header, nothing left over, every product of the sizes other than 0
 * within int64_t); and that tg_idx_load agrees on a file with the same bytes
 * and, when built with zlib, on a gzip-compressed copy (the path that reads
 * a body of unknown length into a growing buffer) and on a copy split into
 * two gzip members, while refusing a compressed copy with one byte of
 * garbage after it, as it refuses a stored file with one byte too many. */
#include "common.h"

#ifdef TG_HAVE_ZLIB
#include <zlib.h>
#endif

static bool is_gzip(const uint8_t *d, size_t n)
{
    return n >= 2 && d[0] == 0x1f && d[1] == 0x8b;
}

static void check_idx(const tg_idx *x, const uint8_t *data, size_t size)
{
    FZ_CHECK(x->ndim >= 1 && x->ndim <= TG_MAX_DIMS, "ndim %d", x->ndim);
    int64_t n = 1;
    bool zero = false;
    for (int k = 0; k < x->ndim; k++) {
        FZ_CHECK(x->dims[k] >= 0 && x->dims[k] <= 0xffffffffLL, "dims[%d] = %lld",
                 k, (long long)x->dims[k]);
        zero = zero || x->dims[k] == 0;
    }
    /* Without the zeros the product still fits: callers may multiply any
     * of the sizes (data.h). */
    for (int k = 0; k < x->ndim; k++)
        FZ_CHECK(x->dims[k] == 0 || !__builtin_mul_overflow(n, x->dims[k], &n),
                 "the dimensions of a loaded image overflow");
    if (zero)
        n = 0;
    FZ_CHECK(n == x->count, "count %lld, dims product %lld", (long long)x->count,
             (long long)n);
    size_t head = 4 + 4 * (size_t)x->ndim;
    FZ_CHECK(head <= size && (size_t)x->count == size - head,
             "%lld elements from an image of %zu bytes", (long long)x->count, size);
    FZ_CHECK(x->count == 0 || memcmp(x->data, data + head, (size_t)x->count) == 0,
             "the data differ from the image's body");
    FZ_CHECK(data[2] == 0x08 && data[3] == x->ndim, "the magic does not match");
}

/* The file reader must agree with the buffer reader: same outcome, same
 * error code, same image. */
static void check_file(const char *path, const tg_idx *want, int want_code,
                       const char *what)
{
    tg_idx y;
    memset(&y, 0xa5, sizeof y); /* untouched on error: stays poisoned */
    tg_clear_error();
    int rc = tg_idx_load(path, &y);
    if (rc) {
        fz_check_error("tg_idx_load");
        FZ_CHECK(rc == tg_last_error(), "%s: returned %d, last error %d", what,
                 rc, tg_last_error());
    }
    FZ_CHECK((rc == TG_OK) == (want != NULL), "%s: the buffer reader %s, the file reader %s",
             what, want ? "succeeded" : "failed", rc ? "failed" : "succeeded");
    if (!want) {
        FZ_CHECK(rc == want_code, "%s: buffer error %d, file error %d", what,
                 want_code, rc);
        return;
    }
    FZ_CHECK(y.ndim == want->ndim && y.count == want->count, "%s: shape differs",
             what);
    for (int k = 0; k < y.ndim; k++)
        FZ_CHECK(y.dims[k] == want->dims[k], "%s: dims differ", what);
    FZ_CHECK(y.count == 0 || memcmp(y.data, want->data, (size_t)y.count) == 0,
             "%s: data differ", what);
    tg_idx_free(&y);
}

#ifdef TG_HAVE_ZLIB
/* Writes (mode "wb1") or appends ("ab1") one gzip member holding data. */
static void write_gz(const char *path, const char *mode, const uint8_t *data,
                     size_t size)
{
    gzFile gz = gzopen(path, mode);
    FZ_CHECK(gz != NULL, "cannot create %s", path);
    FZ_CHECK(size == 0 || gzwrite(gz, data, (unsigned)size) == (int)size,
             "cannot compress");
    FZ_CHECK(gzclose(gz) == Z_OK, "cannot close %s", path);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    if (size == 0)
        data = empty;

    fz_begin(0);
    tg_idx x;
    memset(&x, 0, sizeof x);
    int rc = tg_idx_load_buffer(data, size, &x);
    if (rc) {
        fz_check_error("tg_idx_load_buffer");
        FZ_CHECK(rc == tg_last_error(), "returned %d, last error %d", rc,
                 tg_last_error());
        FZ_CHECK(x.data == NULL && x.ndim == 0, "out was written on failure");
    } else {
        check_idx(&x, data, size);
    }

    const char *path = fz_path("in.idx");
    fz_write_file(path, data, size);
    if (!is_gzip(data, size)) {
        check_file(path, rc ? NULL : &x, rc, "plain file");
    } else { /* the file reader decompresses it: only its own checks */
        tg_idx y;
        if (tg_idx_load(path, &y) == TG_OK)
            tg_idx_free(&y);
        else
            fz_check_error("tg_idx_load");
    }

#ifdef TG_HAVE_ZLIB
    const char *gzpath = fz_path("in.idx.gz");
    write_gz(gzpath, "wb1", data, size);
    /* A gzip image inside gzip is refused by both, with the same code. */
    check_file(gzpath, rc ? NULL : &x, rc, "gzip file");

    /* Two members, split at a point the input picks: the concatenation. */
    size_t cut = size ? data[size - 1] % (size + 1) : 0;
    write_gz(gzpath, "wb1", data, cut);
    write_gz(gzpath, "ab1", data + cut, size - cut);
    check_file(gzpath, rc ? NULL : &x, rc, "two gzip members");

    /* One byte of garbage after the compressed data: refused. */
    FILE *f = fopen(gzpath, "ab");
    FZ_CHECK(f != NULL && fputc('x', f) == 'x' && fclose(f) == 0,
             "cannot append to %s", gzpath);
    tg_idx y;
    tg_clear_error();
    int grc = tg_idx_load(gzpath, &y);
    if (grc == TG_OK)
        tg_idx_free(&y);
    FZ_CHECK(grc == TG_ERR_FORMAT || (grc == TG_ERR_OVERFLOW && rc == grc),
             "gzip data followed by garbage: code %d", grc);
    fz_check_error("tg_idx_load");
#endif

    tg_idx_free(&x);
    fz_end();
    return 0;
}
