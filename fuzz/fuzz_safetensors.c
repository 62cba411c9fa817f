/* fuzz_safetensors.c - libFuzzer target for the safetensors reader
 * (tensor/safetensors.c): the input is a file image handed to
 * tg_safetensors_open_buffer.
 *
 * Beyond "no crash, no leak, no free of the wrong size" it checks that a
 * failure sets a proper error and never claims out of memory; that every
 * tensor read holds exactly its bytes of the data section (bools as 0/1);
 * that tg_safetensors_open on a file with the same bytes agrees; and that
 * writing what was read and reading it back gives the same names, tensors
 * and metadata. */
#include "common.h"

#include "tensor/safetensors.h"

#define MAX_T 64

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
    tg_safetensors *st = tg_safetensors_open_buffer(data, size);
    int code = tg_last_error();
    if (!st)
        fz_check_error("tg_safetensors_open_buffer");

    const char *in = fz_path("in.safetensors");
    fz_write_file(in, data, size);
    tg_clear_error();
    tg_safetensors *sf = tg_safetensors_open(in);
    if (!sf)
        fz_check_error("tg_safetensors_open");
    FZ_CHECK(!st == !sf, "buffer %s, file %s", st ? "opened" : "failed",
             sf ? "opened" : "failed");
    if (!st) {
        FZ_CHECK(tg_last_error() == code, "buffer failed with %d, file with %d", code,
                 tg_last_error());
        fz_end();
        return 0;
    }

    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | data[i];
    tg_tensor *got[MAX_T];
    const char *names[MAX_T];
    int n = 0;
    for (int i = 0; i < tg_safetensors_count(st); i++) {
        const char *name = tg_safetensors_name(st, i);
        FZ_CHECK(name != NULL && tg_safetensors_find(st, name) == i, "name lookup");
        int dt, nd;
        int64_t shape[TG_MAX_DIMS];
        FZ_CHECK(tg_safetensors_info(st, i, &dt, &nd, shape, NULL) == TG_OK, "info");
        tg_tensor *t = tg_safetensors_get(st, name);
        tg_tensor *u = tg_safetensors_get(sf, name);
        FZ_CHECK(!t == !u, "buffer and file disagree on \"%s\"", name);
        if (!t) {
            fz_check_error("tg_safetensors_get");
            FZ_CHECK(dt < 0 || tg_last_error() == TG_ERR_OVERFLOW ||
                     tg_last_error() == TG_ERR_VALUE,
                     "a tapegrad dtype failed to load");
            continue;
        }
        check_same(t, u);
        tg_free(u);
        FZ_CHECK(tg_ndim(t) == nd, "ndim");
        size_t nb = (size_t)tg_numel(t) * tg_dtype_size(tg_dtype_of(t));
        FZ_CHECK(8 + hlen + nb <= size, "tensor larger than the file");
        if (n < MAX_T) {
            got[n] = t;
            names[n++] = name;
        } else {
            tg_free(t);
        }
    }
    /* Write what was read (and its metadata), read it back. */
    const char *meta[2 * 16 + 1];
    int nm = 0;
    for (int j = 0; j < tg_safetensors_meta_count(st) && nm < 16; j++, nm++)
        tg_safetensors_meta_at(st, j, &meta[2 * nm], &meta[2 * nm + 1]);
    meta[2 * nm] = NULL;
    const char *out = fz_path("out.safetensors");
    FZ_CHECK(tg_save_safetensors(out, n, names, (const tg_tensor *const *)got, meta) == TG_OK,
             "writing what was read failed");
    tg_safetensors *back = tg_safetensors_open(out);
    FZ_CHECK(back != NULL, "reading back failed");
    FZ_CHECK(tg_safetensors_count(back) == n, "count differs");
    for (int i = 0; i < n; i++) {
        tg_tensor *t = tg_safetensors_get(back, names[i]);
        FZ_CHECK(t != NULL, "\"%s\" lost", names[i]);
        check_same(t, got[i]);
        tg_free(t);
    }
    for (int j = 0; j < nm; j++) {
        const char *v = tg_safetensors_meta(back, meta[2 * j]);
        FZ_CHECK(v && !strcmp(v, meta[2 * j + 1]), "metadata lost");
    }
    tg_safetensors_close(back);
    for (int i = 0; i < n; i++)
        tg_free(got[i]);
    tg_safetensors_close(st);
    tg_safetensors_close(sf);
    fz_end();
    return 0;
}
