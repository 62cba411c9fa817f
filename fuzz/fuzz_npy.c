/* fuzz_npy.c - libFuzzer target for the .npy reader (tensor/npy.c): the
 * input is a .npy image handed to tg_load_npy_buffer.
 *
 * Beyond "no crash, no leak, no free of the wrong size" it checks that a
 * failure sets a proper error and never claims out of memory; that a tensor
 * read is consistent and holds exactly the bytes of the image's data
 * section; that tg_load_npy on a file with the same bytes agrees (same
 * tensor, or the same error code); that saving and reloading gives the same
 * tensor back; and that printing it works. */
#include "common.h"

static FILE *devnull;

/* Where the data starts, for an image the reader accepted. */
static size_t data_offset(const uint8_t *d)
{
    if (d[6] == 1)
        return 10 + ((size_t)d[8] | (size_t)d[9] << 8);
    return 12 + ((size_t)d[8] | (size_t)d[9] << 8 | (size_t)d[10] << 16 |
                 (size_t)d[11] << 24);
}

static size_t nbytes_of(const tg_tensor *t)
{
    return (size_t)tg_numel(t) * tg_dtype_size(tg_dtype_of(t));
}

static void check_tensor(const tg_tensor *t, const uint8_t *data, size_t size)
{
    int nd = tg_ndim(t);
    FZ_CHECK(nd >= 0 && nd <= TG_MAX_DIMS, "ndim %d", nd);
    int64_t n = 1;
    for (int k = 0; k < nd; k++) {
        FZ_CHECK(tg_shape(t)[k] >= 0, "negative size");
        n *= tg_shape(t)[k];
    }
    FZ_CHECK(n == tg_numel(t), "numel %lld, shape product %lld",
             (long long)tg_numel(t), (long long)n);
    FZ_CHECK(tg_is_contiguous(t), "a loaded tensor is not contiguous");
    size_t off = data_offset(data), nb = nbytes_of(t);
    FZ_CHECK(off <= size && nb <= size - off,
             "tensor of %zu bytes from an image of %zu bytes (data at %zu)", nb,
             size, off);
    if (tg_dtype_of(t) == TG_BOOL) { /* a bool is 0 or 1: other bytes are true */
        const uint8_t *p = tg_data(t);
        for (size_t i = 0; i < nb; i++)
            FZ_CHECK(p[i] == (data[off + i] != 0), "bool %zu is %u for the byte %u", i,
                     p[i], data[off + i]);
    } else {
        FZ_CHECK(nb == 0 || memcmp(tg_data(t), data + off, nb) == 0,
                 "the tensor's bytes differ from the image's data section");
    }
}

static void check_same(const tg_tensor *a, const tg_tensor *b, const char *what)
{
    FZ_CHECK(tg_dtype_of(a) == tg_dtype_of(b), "%s: dtype differs", what);
    FZ_CHECK(tg_ndim(a) == tg_ndim(b), "%s: ndim differs", what);
    for (int k = 0; k < tg_ndim(a); k++)
        FZ_CHECK(tg_shape(a)[k] == tg_shape(b)[k], "%s: shape differs", what);
    size_t nb = nbytes_of(a);
    FZ_CHECK(nb == 0 || memcmp(tg_data(a), tg_data(b), nb) == 0,
             "%s: data differs", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    if (size == 0)
        data = empty;

    fz_begin(0);
    tg_tensor *t = tg_load_npy_buffer(data, size);
    int code = tg_last_error();
    if (t)
        check_tensor(t, data, size);
    else
        fz_check_error("tg_load_npy_buffer");

    /* The file reader parses the same bytes by another route. */
    const char *in = fz_path("in.npy");
    fz_write_file(in, data, size);
    tg_clear_error();
    tg_tensor *u = tg_load_npy(in);
    if (!u)
        fz_check_error("tg_load_npy");
    FZ_CHECK(!t == !u, "the buffer reader %s, the file reader %s",
             t ? "succeeded" : "failed", u ? "succeeded" : "failed");
    if (t) {
        check_same(t, u, "file against buffer");
    } else {
        FZ_CHECK(tg_last_error() == code,
                 "the buffer reader failed with %d, the file reader with %d",
                 code, tg_last_error());
    }

    if (t) {
        const char *out = fz_path("out.npy");
        FZ_CHECK(tg_save_npy(t, out) == TG_OK, "saving a loaded tensor failed");
        tg_tensor *v = tg_load_npy(out);
        FZ_CHECK(v != NULL, "reloading a saved tensor failed");
        check_same(t, v, "save and reload");
        tg_free(v);
        if (devnull)
            FZ_CHECK(tg_print(t, devnull) == TG_OK, "printing failed");
    }
    tg_free(t);
    tg_free(u);
    fz_end();
    return 0;
}
