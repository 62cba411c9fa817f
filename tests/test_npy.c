/* test_npy.c - the .npy reader and writer: files NumPy wrote (made by
 * tests/data/make_npy_fixtures.py), malformed and hostile headers built in
 * memory, round trips through temporary files, and the writer's bytes
 * compared with NumPy's own for the same arrays. */
#include "helpers.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tensor/internal.h"

/* ---- helpers ---- */

/* A fresh path under /tmp, unique to this process and call. */
static const char *temp_path(void)
{
    static char buf[128];
    static int counter;
    snprintf(buf, sizeof buf, "/tmp/tg_test_npy_%ld_%d.npy", (long)getpid(),
             counter++);
    return buf;
}

/* The whole of a small file; *len gets its size. Caller frees. */
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

static void assert_same_bits(double got, double want, int64_t i)
{
    uint64_t g, w;
    memcpy(&g, &got, sizeof g);
    memcpy(&w, &want, sizeof w);
    ck_assert_msg(g == w, "element %lld: got %a, want %a", (long long)i, got,
                  want);
}

/* a and b have the same dtype, shape and bitwise-equal elements. */
static void assert_same_tensor(const tg_tensor *a, const tg_tensor *b)
{
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(tg_dtype_of(a), tg_dtype_of(b));
    tgt_assert_shape(a, tg_ndim(b), tg_shape(b));
    for (int64_t i = 0; i < tg_numel(b); i++)
        assert_same_bits(tgt_at(a, i), tgt_at(b, i), i);
}

/* Saves t to a temporary file, loads it back and removes the file. */
static tg_tensor *round_trip(const tg_tensor *t)
{
    const char *path = temp_path();
    ck_assert_msg(tg_save_npy(t, path) == TG_OK, "%s", tg_last_message());
    tg_tensor *u = tg_load_npy(path);
    ck_assert_msg(u != NULL, "%s", tg_last_message());
    remove(path);
    return u;
}

/* A .npy image in buf: the given version's prefix, header text verbatim,
 * then ndata bytes of data (the bytes 0, 1, 2, ...). Returns its length. */
static size_t make_image(unsigned char *buf, int major, const char *header,
                         size_t ndata)
{
    size_t hlen = strlen(header), n = 0;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    n = 8;
    buf[n++] = (unsigned char)(hlen & 0xff);
    buf[n++] = (unsigned char)(hlen >> 8 & 0xff);
    if (major != 1) {
        buf[n++] = (unsigned char)(hlen >> 16 & 0xff);
        buf[n++] = (unsigned char)(hlen >> 24 & 0xff);
    }
    memcpy(buf + n, header, hlen);
    n += hlen;
    for (size_t i = 0; i < ndata; i++)
        buf[n++] = (unsigned char)i;
    return n;
}

/* ---- files written by NumPy ---- */

START_TEST(test_load_arange_f8)
{
    tg_tensor *t = tg_load_npy(tgt_data("npy_arange_3x4_f8.npy"));
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    tgt_assert_shape(t, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_dtype_of(t), TG_FLOAT64);
    ck_assert(tg_is_contiguous(t));
    for (int64_t i = 0; i < 12; i++)
        ck_assert_double_eq(tgt_at(t, i), (double)i);
    tg_free(t);
}
END_TEST

START_TEST(test_load_f4_3d)
{
    tg_tensor *t = tg_load_npy(tgt_data("npy_f4_2x3x2.npy"));
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    tgt_assert_shape(t, TG_SHAPE(2, 3, 2));
    ck_assert_int_eq(tg_dtype_of(t), TG_FLOAT32);
    const float *p = tg_data(t);
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq((double)p[i], (double)i * 0.5 - 2.0);
    tg_free(t);
}
END_TEST

START_TEST(test_load_scalar)
{
    tg_tensor *t = tg_load_npy(tgt_data("npy_scalar_f8.npy"));
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    ck_assert_int_eq(tg_ndim(t), 0);
    ck_assert_int_eq(tg_numel(t), 1);
    double v = 0;
    ck_assert_int_eq(tg_item(t, &v), TG_OK);
    ck_assert_double_eq(v, 3.5);
    tg_free(t);
}
END_TEST

START_TEST(test_load_vector_f4)
{
    tg_tensor *t = tg_load_npy(tgt_data("npy_vector_f4.npy"));
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    tgt_assert_shape(t, TG_SHAPE(4));
    const float *p = tg_data(t);
    ck_assert_double_eq((double)p[0], 1.5);
    ck_assert_double_eq((double)p[1], -2.25);
    ck_assert_double_eq((double)p[2], (double)1e-3f);
    ck_assert_double_eq((double)p[3], 7.0);
    tg_free(t);
}
END_TEST

START_TEST(test_load_empty_array)
{
    tg_tensor *t = tg_load_npy(tgt_data("npy_empty_0x3_f8.npy"));
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    tgt_assert_shape(t, TG_SHAPE(0, 3));
    ck_assert_int_eq(tg_numel(t), 0);
    tg_free(t);
}
END_TEST

START_TEST(test_load_versions_2_and_3)
{
    tg_tensor *t = tg_load_npy(tgt_data("npy_v2_f8.npy"));
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    tgt_assert_shape(t, TG_SHAPE(2, 2));
    const double want[] = {1.0, -2.0, 0.5, 4.0};
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq(tgt_at(t, i), want[i]);
    tg_free(t);

    t = tg_load_npy(tgt_data("npy_v3_f4.npy"));
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    tgt_assert_shape(t, TG_SHAPE(2));
    ck_assert_int_eq(tg_dtype_of(t), TG_FLOAT32);
    ck_assert_double_eq(tgt_at(t, 0), 0.25);
    ck_assert_double_eq(tgt_at(t, 1), 8.0);
    tg_free(t);
}
END_TEST

/* Unsupported and broken files: a NULL result, the code and the reason. */
static const struct bad_file {
    const char *name;
    int code;
    const char *msg;
} bad_files[] = {
    {"npy_fortran_f8.npy", TG_ERR_FORMAT, "Fortran order is not supported"},
    {"npy_c16.npy", TG_ERR_FORMAT, "unsupported dtype '<c16'"},
    {"npy_bigendian_f8.npy", TG_ERR_FORMAT, "unsupported dtype '>f8' (big-endian"},
    {"npy_f2.npy", TG_ERR_FORMAT, "unsupported dtype '<f2'"},
    {"npy_truncated.npy", TG_ERR_FORMAT,
     "truncated: shape (3,4) needs 96 bytes of data, the file has 88"},
    {"npy_empty.npy", TG_ERR_FORMAT, "empty file"},
    {"npy_bad_magic.npy", TG_ERR_FORMAT, "not a .npy file (bad magic)"},
    {"npy_lying_header.npy", TG_ERR_FORMAT,
     "truncated: shape (100000000,100000000) needs 80000000000000000 bytes"},
};

START_TEST(test_load_bad_file)
{
    const struct bad_file *b = &bad_files[_i];
    char path[256];
    snprintf(path, sizeof path, "%s", tgt_data(b->name));
    ck_assert_ptr_null(tg_load_npy(path));
    TGT_ASSERT_ERR(b->code, b->msg);
    /* the message names the function and the file */
    char prefix[300];
    snprintf(prefix, sizeof prefix, "tg_load_npy: %s: ", path);
    ck_assert_msg(strncmp(tg_last_message(), prefix, strlen(prefix)) == 0,
                  "message \"%s\"", tg_last_message());
    /* nothing was allocated for the data a lying header promises */
    ck_assert_int_le(tgt_stats.allocs, 1);
}
END_TEST

START_TEST(test_load_missing_file)
{
    ck_assert_ptr_null(tg_load_npy("data/no_such_file.npy"));
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_load_npy: cannot open 'data/no_such_file.npy'");
    TGT_ASSERT_ERR(TG_ERR_IO, strerror(ENOENT));
    ck_assert_ptr_null(tg_load_npy(NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_load_npy: path is NULL");
}
END_TEST

/* A directory opens but cannot be read. */
START_TEST(test_load_directory)
{
    ck_assert_ptr_null(tg_load_npy("data"));
    ck_assert_msg(tg_last_error() == TG_ERR_IO ||
                      tg_last_error() == TG_ERR_FORMAT,
                  "code %d: %s", tg_last_error(), tg_last_message());
    TGT_ASSERT_ERR(tg_last_error(), "tg_load_npy: data: ");
}
END_TEST

/* The file loader and the buffer parser agree on every fixture: the same
 * tensor, or the same error after their different message prefixes. */
static const char *const all_fixtures[] = {
    "npy_arange_3x4_f8.npy", "npy_f4_2x3x2.npy",   "npy_scalar_f8.npy",
    "npy_vector_f4.npy",     "npy_empty_0x3_f8.npy", "npy_v2_f8.npy",
    "npy_v3_f4.npy",         "npy_fortran_f8.npy", "npy_int64.npy",
    "npy_i4_2x3.npy",        "npy_u1.npy",         "npy_b1_2x2.npy",
    "npy_i8_big.npy",        "npy_c16.npy",
    "npy_bigendian_f8.npy",  "npy_f2.npy",         "npy_truncated.npy",
    "npy_empty.npy",         "npy_bad_magic.npy",  "npy_lying_header.npy",
};

START_TEST(test_buffer_matches_file)
{
    char path[256], file_msg[512];
    snprintf(path, sizeof path, "%s", tgt_data(all_fixtures[_i]));
    size_t len;
    unsigned char *img = slurp(path, &len);
    tg_tensor *a = tg_load_npy(path);
    int file_code = tg_last_error();
    snprintf(file_msg, sizeof file_msg, "%s", tg_last_message());
    tg_clear_error();
    long allocs = tgt_stats.allocs;
    tg_tensor *b = tg_load_npy_buffer(img, len);
    if (a) {
        assert_same_tensor(b, a);
    } else {
        ck_assert_ptr_null(b);
        ck_assert_int_eq(tg_last_error(), file_code);
        /* "tg_load_npy: data/x.npy: why" and "tg_load_npy_buffer: why" */
        const char *why = tg_last_message() + strlen("tg_load_npy_buffer: ");
        ck_assert_str_eq(file_msg + strlen("tg_load_npy: ") + strlen(path) + 2,
                         why);
        ck_assert_int_eq(tgt_stats.allocs, allocs); /* nothing allocated */
    }
    tg_free(a);
    tg_free(b);
    free(img);
}
END_TEST

START_TEST(test_buffer_null)
{
    ck_assert_ptr_null(tg_load_npy_buffer(NULL, 10));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_load_npy_buffer: buffer is NULL");
}
END_TEST

/* ---- headers built in memory: what the parser accepts ---- */

static const struct good_header {
    int major;
    const char *header;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    tg_dtype dtype;
} good_headers[] = {
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", 1, {2},
     TG_FLOAT64},
    /* double quotes, no trailing comma, another key order, no padding */
    {1, "{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<f4\"}", 2,
     {1, 2}, TG_FLOAT32},
    /* blanks everywhere NumPy's literal parser allows them */
    {2, " {  'descr' :'<f4' ,'fortran_order':False,'shape':( 2 , 1 , ) }  \n",
     2, {2, 1}, TG_FLOAT32},
    {3, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 0, {0},
     TG_FLOAT64},
    /* Python 2's long suffix, which NumPy still reads */
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }", 1, {3},
     TG_FLOAT32},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,2), }",
     8, {1, 1, 1, 1, 1, 1, 1, 2}, TG_FLOAT64},
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 5), }", 2,
     {0, 5}, TG_FLOAT64},
};

START_TEST(test_good_header)
{
    const struct good_header *g = &good_headers[_i];
    unsigned char buf[512];
    /* 16 data bytes cover every shape above; extra data is ignored */
    size_t len = make_image(buf, g->major, g->header, 16);
    tg_tensor *t = tg_load_npy_buffer(buf, len);
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    tgt_assert_shape(t, g->ndim, g->shape);
    ck_assert_int_eq(tg_dtype_of(t), g->dtype);
    /* the data bytes 0, 1, 2, ... landed in order */
    if (tg_numel(t) > 0) {
        unsigned char first[8];
        memcpy(first, tg_data(t), tg_dtype_size(g->dtype));
        for (size_t i = 0; i < tg_dtype_size(g->dtype); i++)
            ck_assert_uint_eq(first[i], i);
    }
    tg_free(t);
}
END_TEST

/* ---- headers built in memory: what it refuses, and why ---- */

#define PRE "{'descr': '<f8', 'fortran_order': False, 'shape': "

static const struct bad_header {
    const char *header;
    int code;
    const char *msg;
} bad_headers[] = {
    {PRE "(3), }", TG_ERR_FORMAT, "'shape' is not a tuple"},
    {PRE "3, }", TG_ERR_FORMAT, "'shape' is not a tuple"},
    {PRE "(1,1,1,1,1,1,1,1,1), }", TG_ERR_FORMAT,
     "shape has more than 8 dimensions"},
    {PRE "(-1,), }", TG_ERR_FORMAT, "'shape' holds a non-integer"},
    {PRE "(2.0,), }", TG_ERR_FORMAT, "malformed 'shape' tuple"},
    {PRE "(03,), }", TG_ERR_FORMAT, "'shape' holds a non-integer"},
    {PRE "(2,,), }", TG_ERR_FORMAT, "'shape' holds a non-integer"},
    {PRE "(2, 3, }", TG_ERR_FORMAT, "'shape' holds a non-integer"},
    {PRE "(99999999999999999999,), }", TG_ERR_OVERFLOW,
     "size of axis 0 overflows 64 bits"},
    {PRE "(4294967296, 4294967296), }", TG_ERR_OVERFLOW,
     "shape (4294967296,4294967296) has too many elements"},
    {PRE "(2305843009213693952,), }", TG_ERR_OVERFLOW,
     "shape (2305843009213693952,) needs too many bytes"},
    /* no data, but C-order strides beyond int64 (NumPy refuses it too) */
    {PRE "(0, 4611686018427387904, 4611686018427387904), }", TG_ERR_OVERFLOW,
     "tg_load_npy_buffer: "},
    {PRE "(1000000000,), }", TG_ERR_FORMAT,
     "truncated: shape (1000000000,) needs 8000000000 bytes of data, the "
     "file has 16"},
    {"{'descr': '<f8', 'fortran_order': False}", TG_ERR_FORMAT,
     "missing key 'shape'"},
    {"{'fortran_order': False, 'shape': (2,)}", TG_ERR_FORMAT,
     "missing key 'descr'"},
    {"{'descr': '<f8', 'shape': (2,)}", TG_ERR_FORMAT,
     "missing key 'fortran_order'"},
    {"{}", TG_ERR_FORMAT, "missing key 'descr'"},
    {PRE "(2,), 'extra': 1}", TG_ERR_FORMAT, "unexpected key 'extra'"},
    {PRE "(2,), 'shape': (2,)}", TG_ERR_FORMAT, "duplicate key 'shape'"},
    {"{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }", TG_ERR_FORMAT,
     "Fortran order is not supported"},
    {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }", TG_ERR_FORMAT,
     "'fortran_order' is not True or False"},
    {"{'descr': '<f8', 'fortran_order': Falsey, 'shape': (2,), }",
     TG_ERR_FORMAT, "'fortran_order' is not True or False"},
    {"{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", TG_ERR_FORMAT,
     "unsupported dtype '<i2' (tapegrad reads '<f4', '<f8', '<i4', '<i8', '|u1' and '|b1')"},
    {"{'descr': '<b1', 'fortran_order': False, 'shape': (2,), }", TG_ERR_FORMAT,
     "unsupported dtype '<b1'"},
    {"{'descr': '=f8', 'fortran_order': False, 'shape': (2,), }", TG_ERR_FORMAT,
     "unsupported dtype '=f8'"},
    {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", TG_ERR_FORMAT,
     "unsupported dtype '>f4' (big-endian"},
    {"{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (2,), }",
     TG_ERR_FORMAT, "structured dtypes are not supported"},
    {"{'descr': '<f8\\n', 'fortran_order': False, 'shape': (2,), }",
     TG_ERR_FORMAT, "structured dtypes are not supported"},
    {"{'descr': '<f8, 'fortran_order': False, 'shape': (2,), }", TG_ERR_FORMAT,
     "expected ',' or '}' after 'descr'"},
    {"{'descr: '<f8'}", TG_ERR_FORMAT, "expected ':' after 'descr: '"},
    {"{descr: '<f8'}", TG_ERR_FORMAT, "expected a quoted key"},
    {"{'descr' '<f8'}", TG_ERR_FORMAT, "expected ':' after 'descr'"},
    {PRE "(2,) 'x'}", TG_ERR_FORMAT, "expected ',' or '}' after 'shape'"},
    {PRE "(2,), } junk", TG_ERR_FORMAT, "unexpected text after the dictionary"},
    {PRE "(2,), }}", TG_ERR_FORMAT, "unexpected text after the dictionary"},
    {PRE "(2,), ", TG_ERR_FORMAT, "expected a quoted key"},
    {"[1, 2]", TG_ERR_FORMAT, "not a dictionary"},
    {"     ", TG_ERR_FORMAT, "not a dictionary"},
    {"{'\xc3\xa9': 1}", TG_ERR_FORMAT, "expected a quoted key"},
    {PRE "(2,), 'x': 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy'}",
     TG_ERR_FORMAT, "unexpected key 'x'"},
    {"{'descriptor_that_is_far_too_long': 1}", TG_ERR_FORMAT,
     "expected a quoted key"},
};

START_TEST(test_bad_header)
{
    const struct bad_header *b = &bad_headers[_i];
    unsigned char buf[512];
    size_t len = make_image(buf, 1, b->header, 16);
    ck_assert_ptr_null(tg_load_npy_buffer(buf, len));
    TGT_ASSERT_ERR(b->code, b->msg);
    ck_assert_msg(strncmp(tg_last_message(), "tg_load_npy_buffer: ", 20) == 0,
                  "message \"%s\"", tg_last_message());
    ck_assert_int_eq(tgt_stats.allocs, 0);
}
END_TEST

/* The fixed prefix: magic, version and header length. */
START_TEST(test_bad_prefix)
{
    unsigned char buf[512];
    const char *hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
    size_t len = make_image(buf, 1, hdr, 16);

    ck_assert_ptr_null(tg_load_npy_buffer(buf, 0));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "tg_load_npy_buffer: empty file");
    ck_assert_ptr_null(tg_load_npy_buffer(buf, 4));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "truncated: 4 bytes, too short for a .npy prefix");
    ck_assert_ptr_null(tg_load_npy_buffer("\x93NUMPX", 6));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "not a .npy file (bad magic)");
    ck_assert_ptr_null(tg_load_npy_buffer("PK\x03\x04", 4));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "not a .npy file (bad magic)");

    /* a header that runs past the end of the image */
    ck_assert_ptr_null(tg_load_npy_buffer(buf, 30));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "truncated header: length 57 but 20 bytes follow");

    /* versions other than 1.0, 2.0 and 3.0 */
    buf[6] = 4;
    ck_assert_ptr_null(tg_load_npy_buffer(buf, len));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "unsupported .npy version 4.0");
    buf[6] = 1;
    buf[7] = 1;
    ck_assert_ptr_null(tg_load_npy_buffer(buf, len));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "unsupported .npy version 1.1");
    buf[7] = 0;

    /* header lengths of zero and beyond the limit */
    buf[8] = buf[9] = 0;
    ck_assert_ptr_null(tg_load_npy_buffer(buf, len));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "bad header length 0");
    len = make_image(buf, 2, hdr, 16);
    ck_assert_ptr_null(tg_load_npy_buffer(buf, 11));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "truncated: 11 bytes, too short");
    buf[10] = 0x10; /* 0x100039 bytes */
    ck_assert_ptr_null(tg_load_npy_buffer(buf, len));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "bad header length 1048633 (more than 65536)");
    buf[10] = 0;
    tg_tensor *t = tg_load_npy_buffer(buf, len); /* and the repaired image */
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    tgt_assert_shape(t, TG_SHAPE(2));
    tg_free(t);
    ck_assert_int_eq(tgt_stats.live_blocks, 0);
}
END_TEST

/* Every prefix of a valid image is refused without a crash or a leak. */
START_TEST(test_every_truncation)
{
    size_t len;
    unsigned char *img = slurp(tgt_data("npy_arange_3x4_f8.npy"), &len);
    ck_assert_uint_eq(len, 128 + 96);
    for (size_t n = 0; n < len; n++) {
        tg_tensor *t = tg_load_npy_buffer(img, n);
        ck_assert_msg(t == NULL, "prefix of %zu bytes accepted", n);
        ck_assert_int_eq(tg_last_error(), TG_ERR_FORMAT);
    }
    tg_tensor *t = tg_load_npy_buffer(img, len);
    ck_assert_ptr_nonnull(t);
    tg_free(t);
    free(img);
}
END_TEST

/* Each allocation the loader makes may fail: a clean NOMEM, no leak. */
START_TEST(test_load_out_of_memory)
{
    const char *path = tgt_data("npy_arange_3x4_f8.npy");
    for (long k = 1; k < 10; k++) {
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        tg_tensor *t = tg_load_npy(path);
        tgt_stats.fail_at = 0;
        if (t) { /* k is past the last allocation: all done */
            ck_assert_int_ge(k, 2);
            tg_free(t);
            return;
        }
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_load_npy: out of memory");
        ck_assert_int_eq(tgt_stats.live_blocks, 0);
    }
    ck_abort_msg("tg_load_npy kept failing");
}
END_TEST

/* ---- writing ---- */

/* tg_save_npy writes NumPy's bytes exactly: same header text and padding,
 * so np.load reads our files and diff sees no change. */
static const struct same_bytes {
    const char *fixture;
    tg_dtype dtype;
    int ndim;
    int64_t shape[3];
    double scale, shift; /* element i is i * scale + shift */
} same_bytes[] = {
    {"npy_arange_3x4_f8.npy", TG_FLOAT64, 2, {3, 4}, 1, 0},
    {"npy_f4_2x3x2.npy", TG_FLOAT32, 3, {2, 3, 2}, 0.5, -2},
    {"npy_scalar_f8.npy", TG_FLOAT64, 0, {0}, 0, 3.5},
    {"npy_empty_0x3_f8.npy", TG_FLOAT64, 2, {0, 3}, 0, 0},
};

/* The integer and bool files np.save wrote: their dtype, exact values
 * (int64 past 2^53 too), and tg_save_npy writes them back byte for byte. */
static const struct int_file {
    const char *name;
    tg_dtype dtype;
    int ndim;
    int64_t shape[2];
    int64_t values[6];
} int_files[] = {
    {"npy_int64.npy", TG_INT64, 1, {5}, {0, 1, 2, 3, 4}},
    {"npy_i4_2x3.npy", TG_INT32, 2, {2, 3}, {-3, 0, 7, 2147483647, -2147483647 - 1, 1}},
    {"npy_u1.npy", TG_UINT8, 1, {4}, {0, 1, 128, 255}},
    {"npy_b1_2x2.npy", TG_BOOL, 2, {2, 2}, {1, 0, 0, 1}},
    {"npy_i8_big.npy", TG_INT64, 1, {2}, {(INT64_C(1) << 62) + 1, INT64_MIN}},
};

START_TEST(test_int_files)
{
    const struct int_file *c = &int_files[_i];
    tg_tensor *t = tg_load_npy(tgt_data(c->name));
    ck_assert_msg(t != NULL, "%s", tg_last_message());
    ck_assert_int_eq(tg_dtype_of(t), c->dtype);
    tgt_assert_shape(t, c->ndim, c->shape);
    size_t es = tg_dtype_size(c->dtype);
    for (int64_t i = 0; i < tg_numel(t); i++) {
        int64_t v = 0;
        const unsigned char *p = (const unsigned char *)tg_data(t) + (size_t)i * es;
        if (c->dtype == TG_INT64)
            memcpy(&v, p, 8);
        else if (c->dtype == TG_INT32) {
            int32_t w;
            memcpy(&w, p, 4);
            v = w;
        } else
            v = p[0];
        ck_assert_msg(v == c->values[i], "%s element %lld: %lld, want %lld", c->name,
                      (long long)i, (long long)v, (long long)c->values[i]);
    }
    const char *path = temp_path();
    ck_assert_int_eq(tg_save_npy(t, path), TG_OK);
    size_t got_len, want_len;
    unsigned char *got = slurp(path, &got_len);
    unsigned char *want = slurp(tgt_data(c->name), &want_len);
    remove(path);
    ck_assert_uint_eq(got_len, want_len);
    ck_assert_msg(memcmp(got, want, want_len) == 0, "%s: bytes differ", c->name);
    free(got);
    free(want);
    tg_free(t);
}
END_TEST

/* The in-memory writer gives the file's bytes: for every fixture np.save
 * wrote, and for a transposed view; too small a buffer is left alone. */
START_TEST(test_save_buffer)
{
    const char *names[] = {"npy_arange_3x4_f8.npy", "npy_f4_2x3x2.npy", "npy_scalar_f8.npy",
                           "npy_empty_0x3_f8.npy", "npy_i4_2x3.npy", "npy_b1_2x2.npy"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        tg_tensor *t = tg_load_npy(tgt_data(names[k]));
        ck_assert_ptr_nonnull(t);
        size_t want_len;
        unsigned char *want = slurp(tgt_data(names[k]), &want_len);
        size_t need = tg_save_npy_buffer(t, NULL, 0);
        ck_assert_uint_eq(need, want_len);
        unsigned char *buf = malloc(need);
        memset(buf, 0xee, need);
        ck_assert_uint_eq(tg_save_npy_buffer(t, buf, need - 1), need); /* too small */
        ck_assert_int_eq(buf[0], 0xee);
        ck_assert_uint_eq(tg_save_npy_buffer(t, buf, need), need);
        ck_assert_msg(memcmp(buf, want, need) == 0, "%s", names[k]);
        tg_tensor *back = tg_load_npy_buffer(buf, need);
        assert_same_tensor(back, t);
        tg_free(back);
        free(buf);
        free(want);
        tg_free(t);
    }
    tg_tensor *m = tg_arange(TG_FLOAT64, 0, 6, 1), *m2 = tg_reshape(m, TG_SHAPE(2, 3));
    tg_tensor *mt = tg_transpose(m2, 0, 1);
    unsigned char img[256];
    size_t len = tg_save_npy_buffer(mt, img, sizeof img);
    tg_tensor *back = tg_load_npy_buffer(img, len);
    assert_same_tensor(back, mt);
    ck_assert_uint_eq(tg_save_npy_buffer(NULL, img, sizeof img), 0);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_save_npy_buffer: tensor is NULL");
    ck_assert_uint_eq(tg_save_npy_buffer(mt, NULL, 10), 0);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_save_npy_buffer: buf is NULL but cap is 10");
    tg_free(back);
    tg_free(mt);
    tg_free(m2);
    tg_free(m);
}
END_TEST

/* Bytes other than 0 and 1 in a bool file read as true (a bool is 0/1). */
START_TEST(test_bool_bytes_normalised)
{
    unsigned char buf[512];
    size_t len = make_image(buf, 1,
                            "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }",
                            4); /* data bytes 0, 1, 2, 3 */
    tg_tensor *t = tg_load_npy_buffer(buf, len);
    ck_assert_ptr_nonnull(t);
    const unsigned char *p = tg_data(t);
    ck_assert(p[0] == 0 && p[1] == 1 && p[2] == 1 && p[3] == 1);
    tg_free(t);
}
END_TEST

START_TEST(test_save_matches_numpy_bytes)
{
    const struct same_bytes *c = &same_bytes[_i];
    tg_tensor *t = tg_empty(c->dtype, c->ndim, c->shape);
    ck_assert_ptr_nonnull(t);
    for (int64_t i = 0; i < tg_numel(t); i++) {
        int64_t idx[TG_MAX_DIMS];
        int64_t r = i;
        for (int k = c->ndim - 1; k >= 0; k--) {
            idx[k] = r % c->shape[k];
            r /= c->shape[k];
        }
        ck_assert_int_eq(tg_set(t, idx, (double)i * c->scale + c->shift), TG_OK);
    }
    const char *path = temp_path();
    ck_assert_int_eq(tg_save_npy(t, path), TG_OK);
    size_t got_len, want_len;
    unsigned char *got = slurp(path, &got_len);
    unsigned char *want = slurp(tgt_data(c->fixture), &want_len);
    remove(path);
    ck_assert_uint_eq(got_len, want_len);
    for (size_t i = 0; i < want_len; i++)
        ck_assert_msg(got[i] == want[i], "%s: byte %zu is 0x%02x, NumPy wrote 0x%02x",
                      c->fixture, i, got[i], want[i]);
    free(got);
    free(want);
    tg_free(t);
}
END_TEST

/* Headers of shapes NumPy pads differently: a first axis of many digits
 * leaves less growth room, 8 axes fill the first 64 bytes. The texts are
 * what np.save wrote (NumPy 1.24); both need 118 header bytes. */
static const struct header_case {
    tg_dtype dtype;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    const char *dict;
    size_t file_len;
} header_cases[] = {
    {TG_FLOAT32, 2, {1234567, 0},
     "{'descr': '<f4', 'fortran_order': False, 'shape': (1234567, 0), }", 128},
    {TG_FLOAT64, 8, {1, 1, 1, 1, 1, 1, 1, 1},
     "{'descr': '<f8', 'fortran_order': False, "
     "'shape': (1, 1, 1, 1, 1, 1, 1, 1), }",
     136},
};

START_TEST(test_save_header_padding)
{
    const struct header_case *c = &header_cases[_i];
    tg_tensor *t = tg_zeros(c->dtype, c->ndim, c->shape);
    const char *path = temp_path();
    ck_assert_int_eq(tg_save_npy(t, path), TG_OK);
    size_t len;
    unsigned char *got = slurp(path, &len);
    remove(path);
    ck_assert_uint_eq(len, c->file_len);
    ck_assert_int_eq(memcmp(got, "\x93NUMPY\x01\x00", 8), 0);
    ck_assert_int_eq(got[8] | got[9] << 8, 118);
    ck_assert_int_eq(memcmp(got + 10, c->dict, strlen(c->dict)), 0);
    for (size_t i = 10 + strlen(c->dict); i < 127; i++)
        ck_assert_int_eq(got[i], ' ');
    ck_assert_int_eq(got[127], '\n');
    for (size_t i = 128; i < len; i++)
        ck_assert_int_eq(got[i], 0); /* the zeros */
    free(got);
    tg_free(t);
}
END_TEST

START_TEST(test_round_trip_dtypes_and_ranks)
{
    const double special[] = {0.0, -0.0, 1.5, -1e-300, 1e300, (double)NAN, (double)INFINITY,
                              -(double)INFINITY, 0.1, 4.9e-324, 3.0, -7.25};
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_FLOAT64 : TG_FLOAT32;
        tg_tensor *cases[5];
        cases[0] = tg_scalar(dtype, -2.5);
        tg_tensor *s64 = tg_from_array(TG_FLOAT64, TG_SHAPE(12), special);
        cases[1] = tg_cast(s64, dtype);
        tg_free(s64);
        cases[2] = tg_arange(dtype, 0, 24, 1);
        tg_tensor *r = tg_reshape(cases[2], TG_SHAPE(2, 3, 4));
        tg_free(cases[2]);
        cases[2] = r;
        cases[3] = tg_zeros(dtype, TG_SHAPE(0));
        cases[4] = tg_zeros(dtype, TG_SHAPE(2, 0, 5));
        for (int i = 0; i < 5; i++) {
            tg_tensor *u = round_trip(cases[i]);
            assert_same_tensor(u, cases[i]);
            tg_free(u);
            tg_free(cases[i]);
        }
    }
}
END_TEST

/* Views are written in C order of their own indices. */
START_TEST(test_round_trip_views)
{
    tg_tensor *base = tg_arange(TG_FLOAT64, 0, 60, 1);
    tg_tensor *cube = tg_reshape(base, TG_SHAPE(3, 4, 5));
    tg_tensor *views[5];
    views[0] = tg_transpose(cube, 0, 2);                 /* (5,4,3) */
    views[1] = tg_slice(cube, 2, 4, 0, -2);               /* (3,4,2) reversed */
    views[2] = tg_select(cube, 1, 2);                     /* (3,5) */
    tg_tensor *row = tg_slice(base, 0, 10, 13, 1);        /* offset 10 */
    views[3] = tg_expand(row, TG_SHAPE(2, 3));            /* stride 0 */
    views[4] = tg_permute(cube, (const int[]){1, 2, 0});  /* (4,5,3) */
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(views[i] != NULL, "view %d: %s", i, tg_last_message());
        ck_assert(!tg_is_contiguous(views[i]) || i == 2);
        tg_tensor *u = round_trip(views[i]);
        assert_same_tensor(u, views[i]);
        ck_assert(tg_is_contiguous(u));
        tg_free(u);
        tg_free(views[i]);
    }
    /* a float32 transpose too */
    tg_tensor *f = tg_cast(cube, TG_FLOAT32);
    tg_tensor *ft = tg_transpose(f, 0, 1);
    tg_tensor *u = round_trip(ft);
    assert_same_tensor(u, ft);
    ck_assert_double_eq(tgt_at(u, 5), 20.0); /* ft[0][1][0] = cube[1][0][0] */
    tg_free(u);
    tg_free(ft);
    tg_free(f);
    tg_free(row);
    tg_free(cube);
    tg_free(base);
}
END_TEST

/* A view longer than the writer's chunk buffer. */
START_TEST(test_round_trip_large_view)
{
    tg_tensor *a = tg_arange(TG_FLOAT32, 0, 6000, 1);
    tg_tensor *m = tg_reshape(a, TG_SHAPE(60, 100));
    tg_tensor *t = tg_transpose(m, 0, 1);
    tg_tensor *u = round_trip(t);
    assert_same_tensor(u, t);
    ck_assert_double_eq(tgt_at(u, 5999), 5999.0);
    ck_assert_double_eq(tgt_at(u, 60), 1.0);
    tg_free(u);
    tg_free(t);
    tg_free(m);
    tg_free(a);
}
END_TEST

START_TEST(test_save_errors)
{
    tg_tensor *t = tg_arange(TG_FLOAT64, 0, 4, 1);
    ck_assert_int_eq(tg_save_npy(NULL, "/tmp/x.npy"), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_save_npy: tensor is NULL");
    ck_assert_int_eq(tg_save_npy(t, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_save_npy: path is NULL");

    const char *bad = "/tmp/tg_no_such_dir_for_npy/x.npy";
    ck_assert_int_eq(tg_save_npy(t, bad), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_save_npy: cannot open "
                              "'/tmp/tg_no_such_dir_for_npy/x.npy' for writing");
    TGT_ASSERT_ERR(TG_ERR_IO, strerror(ENOENT));

    /* /dev/full accepts the open and fails the write (Linux) */
    FILE *probe = fopen("/dev/full", "wb");
    if (probe) {
        fclose(probe);
        ck_assert_int_eq(tg_save_npy(t, "/dev/full"), TG_ERR_IO);
        TGT_ASSERT_ERR(TG_ERR_IO, "tg_save_npy: writing '/dev/full' failed: ");
        TGT_ASSERT_ERR(TG_ERR_IO, strerror(ENOSPC));
    }
    tg_free(t);
}
END_TEST

Suite *test_npy_suite(void); /* called by the generated runner */

Suite *test_npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tgt_tcase("load_numpy_files");
    tcase_add_test(tc, test_load_arange_f8);
    tcase_add_test(tc, test_load_f4_3d);
    tcase_add_test(tc, test_load_scalar);
    tcase_add_test(tc, test_load_vector_f4);
    tcase_add_test(tc, test_load_empty_array);
    tcase_add_test(tc, test_load_versions_2_and_3);
    tcase_add_loop_test(tc, test_buffer_matches_file, 0,
                        (int)(sizeof all_fixtures / sizeof all_fixtures[0]));
    tcase_add_test(tc, test_buffer_null);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("load_errors");
    tcase_add_loop_test(tc, test_load_bad_file, 0,
                        (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_test(tc, test_load_missing_file);
    tcase_add_test(tc, test_load_directory);
    tcase_add_test(tc, test_load_out_of_memory);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("header_parser");
    tcase_add_loop_test(tc, test_good_header, 0,
                        (int)(sizeof good_headers / sizeof good_headers[0]));
    tcase_add_loop_test(tc, test_bad_header, 0,
                        (int)(sizeof bad_headers / sizeof bad_headers[0]));
    tcase_add_test(tc, test_bad_prefix);
    tcase_add_test(tc, test_every_truncation);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("save");
    tcase_add_loop_test(tc, test_int_files, 0,
                        (int)(sizeof int_files / sizeof int_files[0]));
    tcase_add_test(tc, test_bool_bytes_normalised);
    tcase_add_test(tc, test_save_buffer);
    tcase_add_loop_test(tc, test_save_matches_numpy_bytes, 0,
                        (int)(sizeof same_bytes / sizeof same_bytes[0]));
    tcase_add_loop_test(tc, test_save_header_padding, 0,
                        (int)(sizeof header_cases / sizeof header_cases[0]));
    tcase_add_test(tc, test_round_trip_dtypes_and_ranks);
    tcase_add_test(tc, test_round_trip_views);
    tcase_add_test(tc, test_round_trip_large_view);
    tcase_add_test(tc, test_save_errors);
    suite_add_tcase(s, tc);
    return s;
}
