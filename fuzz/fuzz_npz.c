/* fuzz_npz.c - libFuzzer target for the .npz reader (tensor/npz.c): the
 * input is a zip archive handed to tg_npz_open_buffer.
 *
 * Beyond "no crash, no leak, no free of the wrong size" it checks that
 * every failure sets a proper error and never claims out of memory; that
 * tg_npz_open on a file with the same bytes agrees, member by member
 * (same tensor or same error code); and that every name listed is found. */
#include "common.h"

#include "tensor/npz.h"

static void check_same(const tg_tensor *a, const tg_tensor *b)
{
    FZ_CHECK(tg_dtype_of(a) == tg_dtype_of(b) && tg_ndim(a) == tg_ndim(b), "differ");
    for (int k = 0; k < tg_ndim(a); k++)
        FZ_CHECK(tg_shape(a)[k] == tg_shape(b)[k], "shape differs");
    size_t nb = (size_t)tg_numel(a) * tg_dtype_size(tg_dtype_of(a));
    FZ_CHECK(nb == 0 || memcmp(tg_data(a), tg_data(b), nb) == 0, "data differs");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    if (size == 0)
        data = empty;
    fz_begin(0);
    tg_npz *z = tg_npz_open_buffer(data, size);
    int code = tg_last_error();
    if (!z)
        fz_check_error("tg_npz_open_buffer");
    const char *in = fz_path("in.npz");
    fz_write_file(in, data, size);
    tg_clear_error();
    tg_npz *zf = tg_npz_open(in);
    if (!zf)
        fz_check_error("tg_npz_open");
    FZ_CHECK(!z == !zf, "buffer %s, file %s", z ? "opened" : "failed",
             zf ? "opened" : "failed");
    if (!z) {
        FZ_CHECK(tg_last_error() == code, "buffer failed with %d, file with %d", code,
                 tg_last_error());
        fz_end();
        return 0;
    }
    FZ_CHECK(tg_npz_count(z) == tg_npz_count(zf), "counts differ");
    for (int i = 0; i < tg_npz_count(z) && i < 32; i++) {
        const char *name = tg_npz_name(z, i);
        FZ_CHECK(name != NULL && !strcmp(name, tg_npz_name(zf, i)), "names differ");
        tg_clear_error();
        tg_tensor *t = tg_npz_get(z, name);
        int c1 = tg_last_error();
        if (!t)
            fz_check_error("tg_npz_get");
        tg_clear_error();
        tg_tensor *u = tg_npz_get(zf, name);
        if (!u)
            fz_check_error("tg_npz_get");
        FZ_CHECK(!t == !u, "buffer and file disagree on \"%s\"", name);
        if (t)
            check_same(t, u);
        else
            FZ_CHECK(c1 == tg_last_error(), "error codes differ");
        tg_free(t);
        tg_free(u);
    }
    tg_npz_close(z);
    tg_npz_close(zf);
    fz_end();
    return 0;
}
