/* test_npz.c - the .npz reader (tensor/npz.h) and tg_params_load_npz
 * (models/checkpoint.h): archives np.savez and np.savez_compressed wrote
 * (tests/data/make_npz_ref.py), a PyTorch MLP whose logits tapegrad must
 * reproduce, and malformed archives built from them in memory (truncated,
 * bad offsets, bad CRC, zip-bomb sizes) that must give errors, not crashes. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "models/checkpoint.h"
#include "tensor/npz.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    unsigned char *buf = malloc(1 << 16);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, 1 << 16, f);
    ck_assert(feof(f));
    fclose(f);
    return buf;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Offset of the end record (the archives have no comment). */
static size_t end_record(const unsigned char *b, size_t len)
{
    ck_assert(len >= 22 && rd32(b + len - 22) == 0x06054b50u);
    return len - 22;
}

/* Offset of the central directory entry whose name starts with name. */
static size_t central_entry(const unsigned char *b, size_t len, const char *name)
{
    size_t at = rd32(b + end_record(b, len) + 16);
    while (rd32(b + at) == 0x02014b50u) {
        size_t nlen = b[at + 28] | (size_t)b[at + 29] << 8;
        if (nlen >= strlen(name) && !memcmp(b + at + 46, name, strlen(name)))
            return at;
        at += 46 + nlen + (b[at + 30] | (size_t)b[at + 31] << 8) +
              (b[at + 32] | (size_t)b[at + 33] << 8);
    }
    ck_abort_msg("no entry %s", name);
    return 0;
}

static void check_arrays(tg_npz *z)
{
    ck_assert_int_eq(tg_npz_count(z), 9);
    ck_assert_str_eq(tg_npz_name(z, 0), "f4");
    ck_assert_ptr_null(tg_npz_name(z, 9));
    tg_tensor *t = tg_npz_get(z, "f4");
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    ck_assert_int_eq(tg_dtype_of(t), TG_FLOAT32);
    tgt_assert_shape(t, 2, (const int64_t[]){3, 4});
    for (int i = 0; i < 12; i++)
        TGT_ASSERT_SAME(tgt_at(t, i), (i - 5) / 8.0);
    tg_free(t);
    t = tg_npz_get(z, "f8.npy"); /* the member's own name works too */
    ck_assert_int_eq(tg_dtype_of(t), TG_FLOAT64);
    TGT_ASSERT_SAME(tgt_at(t, 0), -1.0);
    TGT_ASSERT_SAME(tgt_at(t, 6), 1.0);
    tg_free(t);
    t = tg_npz_get(z, "i4");
    ck_assert_int_eq(tg_dtype_of(t), TG_INT32);
    TGT_ASSERT_SAME(tgt_at(t, 0), -3);
    tg_free(t);
    t = tg_npz_get(z, "i8");
    ck_assert(((const int64_t *)tg_data(t))[0] == 1LL << 40);
    tg_free(t);
    t = tg_npz_get(z, "u1");
    TGT_ASSERT_SAME(tgt_at(t, 5), 255);
    tg_free(t);
    t = tg_npz_get(z, "b1");
    ck_assert_int_eq(tg_dtype_of(t), TG_BOOL);
    TGT_ASSERT_SAME(tgt_at(t, 3), 1);
    tg_free(t);
    t = tg_npz_get(z, "scalar");
    ck_assert_int_eq(tg_ndim(t), 0);
    TGT_ASSERT_SAME(tgt_at(t, 0), 3.5);
    tg_free(t);
    t = tg_npz_get(z, "empty");
    tgt_assert_shape(t, 2, (const int64_t[]){0, 2});
    tg_free(t);
    t = tg_npz_get(z, "big");
    ck_assert_int_eq(tg_numel(t), 300);
    for (int i = 0; i < 300; i++)
        ck_assert(tgt_at(t, i) == (double)(i % 100));
    tg_free(t);
    ck_assert_ptr_null(tg_npz_get(z, "nope"));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_npz_get: ");
    TGT_ASSERT_ERR(TG_ERR_INDEX, "no array named \"nope\"");
}

START_TEST(test_savez_stored)
{
    tg_npz *z = tg_npz_open(tgt_data("npz_stored.npz"));
    ck_assert_msg(z != NULL, "%s", tg_last_message());
    check_arrays(z);
    tg_npz_close(z);
}
END_TEST

START_TEST(test_savez_compressed)
{
    tg_npz *z = tg_npz_open(tgt_data("npz_deflated.npz"));
    ck_assert_msg(z != NULL, "%s", tg_last_message());
#ifdef TG_HAVE_ZLIB
    check_arrays(z);
#else
    ck_assert_ptr_null(tg_npz_get(z, "f4"));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "built without zlib");
#endif
    tg_npz_close(z);
    tg_npz_close(NULL);
}
END_TEST

START_TEST(test_load_npz_and_buffer)
{
    tg_tensor *t = tg_load_npz(tgt_data("npz_stored.npz"), "i4");
    ck_assert_ptr_nonnull(t);
    TGT_ASSERT_SAME(tgt_at(t, 5), 2);
    tg_free(t);
    ck_assert_ptr_null(tg_load_npz(tgt_data("npz_stored.npz"), "zz"));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_load_npz: ");
    TGT_ASSERT_ERR(TG_ERR_INDEX, "npz_stored.npz: no array named \"zz\"");
    ck_assert_ptr_null(tg_load_npz("/nonexistent.npz", "a"));
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_load_npz: cannot open '/nonexistent.npz'");
    ck_assert_ptr_null(tg_load_npz(tgt_data("st_ref.safetensors"), "a"));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "no zip end record");
    ck_assert_ptr_null(tg_load_npz(NULL, "a"));
    TGT_ASSERT_ERR(TG_ERR_NULL, "path is NULL");
    ck_assert_ptr_null(tg_npz_open_buffer(NULL, 3));
    TGT_ASSERT_ERR(TG_ERR_NULL, "buffer is NULL");

    size_t len;
    unsigned char *b = slurp(tgt_data("npz_deflated.npz"), &len);
    tg_npz *z = tg_npz_open_buffer(b, len);
    ck_assert_ptr_nonnull(z);
#ifdef TG_HAVE_ZLIB
    check_arrays(z);
#endif
    tg_npz_close(z);
    free(b);
}
END_TEST

/* ---- PyTorch interop: the same logits ---- */

START_TEST(test_torch_mlp_logits)
{
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_mlp net;
    tg_params ps = {0};
    ck_assert_int_eq(tg_mlp_init(&net, 3, (const int64_t[]){4, 8, 3}, TG_ACT_RELU, TG_FLOAT32,
                                 &rng), TG_OK);
    ck_assert_int_eq(tg_mlp_params(&net, &ps), TG_OK);
    const char *path = tgt_data("npz_torch_mlp.npz");
    ck_assert_msg(tg_params_load_npz(&ps, path) == TG_OK, "%s", tg_last_message());
    tg_tensor *x = tg_load_npz(path, "x");
    tg_tensor *want = tg_load_npz(path, "logits");
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(want);
    tg_tape *T = tg_tape_new();
    tg_tensor *got = tg_mlp_forward(T, &net, x);
    ck_assert_ptr_nonnull(got);
    tgt_assert_shape(got, 2, (const int64_t[]){5, 3});
    for (int64_t i = 0; i < 15; i++)
        ck_assert_double_eq_tol(tgt_at(got, i), tgt_at(want, i), 1e-6);
    tg_tape_free(T);
    tg_free(x);
    tg_free(want);

    /* A list with a missing or mis-shaped entry changes nothing. */
    tg_tensor *before = tg_clone(ps.tensors[0]);
    tg_tensor *extra = tg_zeros(TG_FLOAT32, TG_SHAPE(2));
    tg_params more = ps;
    ck_assert_int_eq(tg_params_add(&more, "fc9.bias", extra), TG_OK);
    tg_fill(ps.tensors[0], 7.0);
    tg_tensor *seven = tg_clone(ps.tensors[0]);
    ck_assert_int_eq(tg_params_load_npz(&more, path), TG_ERR_INDEX);
    TGT_ASSERT_ERR(TG_ERR_INDEX, "tg_params_load_npz: ");
    TGT_ASSERT_ERR(TG_ERR_INDEX, "no array named \"fc9.bias\"");
    ck_assert(tgt_at(ps.tensors[0], 0) == 7.0);
    tg_params wrong = {0};
    tg_tensor *w = tg_zeros(TG_FLOAT32, TG_SHAPE(4, 8));
    tg_params_add(&wrong, "fc1.weight", w);
    ck_assert_int_eq(tg_params_load_npz(&wrong, path), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "\"fc1.weight\" is float32 (8,4) in the file, float32 (4,8) here");
    ck_assert_int_eq(tg_params_load_npz(NULL, path), TG_ERR_NULL);
    tg_free(w);
    tg_free(extra);
    tg_free(seven);
    tg_free(before);
    tg_mlp_free(&net);
}
END_TEST

/* ---- malformed archives ---- */

/* Opening b (len bytes) and reading every member: each step either works
 * or fails with a proper error naming the function; never a crash. Returns
 * the first error code (0 if all worked). */
static int try_all(const unsigned char *b, size_t len)
{
    tg_clear_error();
    tg_npz *z = tg_npz_open_buffer(b, len);
    if (!z) {
        ck_assert_int_gt(tg_last_error(), 0);
        ck_assert(strncmp(tg_last_message(), "tg_npz_open_buffer: ", 20) == 0);
        return tg_last_error();
    }
    int first = 0;
    for (int i = 0; i < tg_npz_count(z); i++) {
        tg_tensor *t = tg_npz_get(z, tg_npz_name(z, i));
        if (!t) {
            ck_assert_int_gt(tg_last_error(), 0);
            ck_assert(strncmp(tg_last_message(), "tg_npz_get: ", 12) == 0);
            if (!first)
                first = tg_last_error();
        }
        tg_free(t);
    }
    tg_npz_close(z);
    return first;
}

START_TEST(test_malformed)
{
    size_t len;
    unsigned char *orig = slurp(tgt_data("npz_stored.npz"), &len);
    unsigned char *b = malloc(len);
    ck_assert_int_eq(try_all(orig, len), 0);

    /* Every truncation is an error (the end record is gone or points past the end). */
    for (size_t k = 0; k < len; k += 7)
        ck_assert_int_eq(try_all(orig, k), TG_ERR_FORMAT);

    size_t end = end_record(orig, len), ce = central_entry(orig, len, "f4");
    /* A flipped data byte: CRC mismatch. */
    memcpy(b, orig, len);
    size_t local = rd32(b + ce + 42);
    b[local + 30 + 6 + 20 + 100] ^= 1; /* inside f4.npy's data (name 6 bytes, zip64 extra 20) */
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "member \"f4\": CRC-32 mismatch");
    /* The directory's offset past the end of the file. */
    memcpy(b, orig, len);
    wr32(b + end + 16, (uint32_t)len + 5);
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "central directory");
    /* More entries than the directory can hold. */
    memcpy(b, orig, len);
    b[end + 8] = b[end + 10] = 0xfe;
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "entries cannot fit");
    /* A local header offset pointing at garbage, or outside the file. */
    memcpy(b, orig, len);
    wr32(b + ce + 42, 3);
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "bad local header signature");
    wr32(b + ce + 42, 0xfffffff0u);
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "lies outside");
    /* Sizes: a stored member whose sizes differ, a compressed size past the end. */
    memcpy(b, orig, len);
    wr32(b + ce + 24, rd32(b + ce + 24) + 1);
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "cannot be stored as");
    memcpy(b, orig, len);
    wr32(b + ce + 20, 0x7ffffff0u);
    wr32(b + ce + 24, 0x7ffffff0u);
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "lie outside the");
    /* Unknown method, encryption, zip64 sizes without their extra field. */
    memcpy(b, orig, len);
    b[ce + 10] = 12;
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "compression method 12");
    memcpy(b, orig, len);
    b[ce + 8] |= 1;
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "encrypted");
    memcpy(b, orig, len);
    wr32(b + ce + 24, 0xffffffffu);
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "zip64 sizes without a zip64 extra field");
    /* Multi-disk, and a duplicate name. */
    memcpy(b, orig, len);
    b[end + 4] = 1;
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "multi-disk");
    memcpy(b, orig, len);
    size_t ce2 = central_entry(orig, len, "f8");
    b[ce2 + 46 + 1] = '4';
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "duplicate member \"f4\"");
    /* A member that is not a .npy image. */
    memcpy(b, orig, len);
    b[local + 30 + 6 + 20] = 'X';
    wr32(b + ce + 16, 0); /* the CRC check comes first: make it the npy check */
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    free(b);
    free(orig);
}
END_TEST

#ifdef TG_HAVE_ZLIB
START_TEST(test_malformed_deflate)
{
    size_t len;
    unsigned char *orig = slurp(tgt_data("npz_deflated.npz"), &len);
    unsigned char *b = malloc(len);
    size_t ce = central_entry(orig, len, "big");
    /* A zip bomb's claim: 4 GB from a few hundred bytes. */
    memcpy(b, orig, len);
    wr32(b + ce + 24, 0xfffffff0u);
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "cannot inflate to");
    /* Declared smaller or larger than what inflates. */
    memcpy(b, orig, len);
    wr32(b + ce + 24, rd32(b + ce + 24) - 1);
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "inflates to more than its declared");
    memcpy(b, orig, len);
    wr32(b + ce + 24, rd32(b + ce + 24) + 1);
    ck_assert_int_eq(try_all(b, len), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "inflates to");
    /* Corrupt deflate data, and every byte of the data flipped in turn. */
    size_t local = rd32(orig + ce + 42);
    size_t data = local + 30 + (orig[local + 26] | (size_t)orig[local + 27] << 8) +
                  (orig[local + 28] | (size_t)orig[local + 29] << 8);
    size_t cs = rd32(orig + ce + 20);
    for (size_t i = 0; i < cs; i++) {
        memcpy(b, orig, len);
        b[data + i] ^= 0x5a;
        ck_assert_int_ne(try_all(b, len), 0);
    }
    free(b);
    free(orig);
}
END_TEST
#endif

START_TEST(test_alloc_failures)
{
    const char *files[2] = {"npz_stored.npz", "npz_deflated.npz"};
#ifdef TG_HAVE_ZLIB
    const int npaths = 2;
#else
    const int npaths = 1; /* deflated members are refused without zlib */
#endif
    for (int p = 0; p < npaths; p++) {
        long k;
        for (k = 1;; k++) {
            tgt_stats.calls = 0;
            tgt_stats.fail_at = k;
            tg_tensor *t = tg_load_npz(tgt_data(files[p]), "big"); /* a static buffer */
            tgt_stats.fail_at = 0;
            if (t) {
                tg_free(t);
                break;
            }
            TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_load_npz");
            ck_assert_int_eq(tgt_stats.live_blocks, 0);
        }
        ck_assert_int_gt(k, 3);
    }
}
END_TEST

Suite *test_npz_suite(void); /* called by the generated runner */
Suite *test_npz_suite(void)
{
    Suite *s = suite_create("npz");
    TCase *tc = tgt_tcase("archives");
    tcase_add_test(tc, test_savez_stored);
    tcase_add_test(tc, test_savez_compressed);
    tcase_add_test(tc, test_load_npz_and_buffer);
    tcase_add_test(tc, test_torch_mlp_logits);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("bad input");
    tcase_add_test(tc, test_malformed);
#ifdef TG_HAVE_ZLIB
    tcase_add_test(tc, test_malformed_deflate);
#endif
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}
