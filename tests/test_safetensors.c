/* test_safetensors.c - the safetensors reader and writer
 * (tensor/safetensors.h) and one-file checkpoints (models/checkpoint.h):
 * the reference file made by tests/data/make_safetensors_ref.py by the
 * format's specification, the writer's bytes against it, round trips,
 * hostile headers built in memory, allocation failures, and a training run
 * stopped, checkpointed and resumed that must match an uninterrupted run
 * bit for bit. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "models/checkpoint.h"
#include "tensor/safetensors.h"

/* ---- helpers ---- */

static const char *temp_path(const char *tag)
{
    static char buf[4][128];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 128, "/tmp/tg_test_st_%ld_%s.safetensors", (long)getpid(), tag);
    return b;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    unsigned char *buf = malloc(1 << 16);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static void assert_bits_equal(const tg_tensor *a, const tg_tensor *b)
{
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(tg_dtype_of(a), tg_dtype_of(b));
    tgt_assert_shape(a, tg_ndim(b), tg_shape(b));
    tg_tensor *ca = tg_contiguous(a), *cb = tg_contiguous(b);
    size_t nb = (size_t)tg_numel(a) * tg_dtype_size(tg_dtype_of(a));
    ck_assert(nb == 0 || memcmp(tg_data(ca), tg_data(cb), nb) == 0);
    tg_free(ca);
    tg_free(cb);
}

/* An image: the 8-byte length of header, the header, then ndata bytes. */
static size_t image(unsigned char *buf, const char *header, size_t ndata)
{
    size_t n = strlen(header);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    for (size_t i = 0; i < ndata; i++)
        buf[8 + n + i] = (unsigned char)i;
    return 8 + n + ndata;
}

/* Opening the image of header + ndata bytes fails with code and msg. */
static void refuse(const char *header, size_t ndata, int code, const char *msg)
{
    static unsigned char buf[4096];
    size_t n = image(buf, header, ndata);
    tg_clear_error();
    tg_safetensors *st = tg_safetensors_open_buffer(buf, n);
    ck_assert_msg(st == NULL, "accepted: %s", header);
    TGT_ASSERT_ERR(code, msg);
    ck_assert(strncmp(tg_last_message(), "tg_safetensors_open_buffer: ", 28) == 0);
}

/* ---- the reference file ---- */

START_TEST(test_read_reference)
{
    tg_safetensors *st = tg_safetensors_open(tgt_data("st_ref.safetensors"));
    ck_assert_msg(st != NULL, "%s", tg_last_message());
    ck_assert_int_eq(tg_safetensors_count(st), 8);
    ck_assert_str_eq(tg_safetensors_meta(st, "format"), "pt");
    ck_assert_str_eq(tg_safetensors_meta(st, "note"), "caf\xc3\xa9 \"quoted\" \\ tab\t");
    ck_assert_ptr_null(tg_safetensors_meta(st, "absent"));
    ck_assert_int_eq(tg_safetensors_meta_count(st), 2);

    tg_tensor *w = tg_safetensors_get(st, "weight");
    ck_assert_int_eq(tg_dtype_of(w), TG_FLOAT32);
    tgt_assert_shape(w, 2, (const int64_t[]){2, 3});
    for (int i = 0; i < 6; i++)
        TGT_ASSERT_SAME(tgt_at(w, i), i / 4.0);
    tg_tensor *b = tg_safetensors_get(st, "bias");
    ck_assert_int_eq(tg_dtype_of(b), TG_FLOAT64);
    TGT_ASSERT_SAME(tgt_at(b, 0), -1.5);
    TGT_ASSERT_SAME(tgt_at(b, 2), 2.25);
    tg_tensor *idx = tg_safetensors_get(st, "idx");
    ck_assert_int_eq(tg_dtype_of(idx), TG_INT32);
    TGT_ASSERT_SAME(tgt_at(idx, 1), -2);
    TGT_ASSERT_SAME(tgt_at(idx, 3), 2147483647);
    tg_tensor *c = tg_safetensors_get(st, "count");
    ck_assert_int_eq(tg_dtype_of(c), TG_INT64);
    ck_assert_int_eq(tg_ndim(c), 0);
    ck_assert(*(const int64_t *)tg_data(c) == (1LL << 40) + 7);
    tg_tensor *u = tg_safetensors_get(st, "bytes");
    TGT_ASSERT_SAME(tgt_at(u, 3), 255);
    tg_tensor *m = tg_safetensors_get(st, "mask");
    ck_assert_int_eq(tg_dtype_of(m), TG_BOOL);
    TGT_ASSERT_SAME(tgt_at(m, 0), 1);
    TGT_ASSERT_SAME(tgt_at(m, 1), 0);
    tg_tensor *e = tg_safetensors_get(st, "empty");
    tgt_assert_shape(e, 2, (const int64_t[]){0, 3});

    int dt, nd;
    int64_t shape[TG_MAX_DIMS];
    const char *name;
    int i = tg_safetensors_find(st, "half");
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(tg_safetensors_info(st, i, &dt, &nd, shape, &name), TG_OK);
    ck_assert_int_eq(dt, -1);
    ck_assert_str_eq(name, "F16");
    ck_assert_ptr_null(tg_safetensors_get(st, "half"));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "dtype F16, which tapegrad does not have");
    ck_assert_ptr_null(tg_safetensors_get(st, "nope"));
    TGT_ASSERT_ERR(TG_ERR_INDEX, "st_ref.safetensors: no tensor named \"nope\"");
    ck_assert_int_eq(tg_safetensors_find(st, "nope"), -1);

    tg_free(w); tg_free(b); tg_free(idx); tg_free(c); tg_free(u); tg_free(m); tg_free(e);
    tg_safetensors_close(st);
}
END_TEST

/* The reference tensors, as make_safetensors_ref.py makes them (no F16). */
static int ref_tensors(tg_tensor **t, const char **names)
{
    static const char *const n[] = {"weight", "bias", "idx", "count", "bytes", "mask", "empty"};
    float wv[6];
    for (int i = 0; i < 6; i++)
        wv[i] = (float)i / 4.0f;
    t[0] = tg_from_array(TG_FLOAT32, TG_SHAPE(2, 3), wv);
    t[1] = tg_from_array(TG_FLOAT64, TG_SHAPE(3), (const double[]){-1.5, 0.0, 2.25});
    t[2] = tg_zeros(TG_INT32, TG_SHAPE(2, 2));
    int32_t *iv = tg_data(t[2]);
    iv[0] = 1; iv[1] = -2; iv[2] = 3; iv[3] = 2147483647;
    t[3] = tg_zeros(TG_INT64, 0, NULL);
    *(int64_t *)tg_data(t[3]) = (1LL << 40) + 7;
    t[4] = tg_zeros(TG_UINT8, TG_SHAPE(4));
    uint8_t *uv = tg_data(t[4]);
    uv[1] = 1; uv[2] = 128; uv[3] = 255;
    t[5] = tg_zeros(TG_BOOL, TG_SHAPE(2));
    ((uint8_t *)tg_data(t[5]))[0] = 1;
    t[6] = tg_zeros(TG_FLOAT32, TG_SHAPE(0, 3));
    for (int i = 0; i < 7; i++)
        names[i] = n[i];
    return 7;
}

START_TEST(test_writer_matches_reference)
{
    tg_tensor *t[7];
    const char *names[7];
    int n = ref_tensors(t, names);
    /* The reference's metadata is a JSON object with sorted keys. */
    const char *meta[] = {"format", "pt", "note", "caf\xc3\xa9 \"quoted\" \\ tab\t", NULL};
    const char *path = temp_path("ref");
    ck_assert_msg(tg_save_safetensors(path, n, names, (const tg_tensor *const *)t, meta) ==
                      TG_OK, "%s", tg_last_message());
    size_t la, lb;
    unsigned char *a = slurp(path, &la), *b = slurp(tgt_data("st_ref_writer.safetensors"), &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(a, b, la) == 0);
    free(a);
    free(b);
    ck_assert_int_eq(access(path, F_OK), 0);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0); /* renamed away */
    remove(path);
    for (int i = 0; i < n; i++)
        tg_free(t[i]);
}
END_TEST

START_TEST(test_round_trip)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_tensor *base = tg_randn(&rng, TG_FLOAT64, TG_SHAPE(3, 4));
    tg_tensor *t[4] = {tg_transpose(base, 0, 1), tg_randn(&rng, TG_FLOAT32, TG_SHAPE(2, 1, 2)),
                       tg_scalar(TG_FLOAT32, -0.0), tg_zeros(TG_INT64, TG_SHAPE(5, 0))};
    const char *names[4] = {"a/b.weight", "z \"odd\" name\n", "s", "\xe2\x82\xac"};
    const char *path = temp_path("rt");
    ck_assert_int_eq(tg_save_safetensors(path, 4, names, (const tg_tensor *const *)t, NULL),
                     TG_OK);
    tg_safetensors *st = tg_safetensors_open(path);
    ck_assert_msg(st != NULL, "%s", tg_last_message());
    ck_assert_int_eq(tg_safetensors_meta_count(st), 0);
    for (int i = 0; i < 4; i++) {
        tg_tensor *u = tg_safetensors_get(st, names[i]);
        assert_bits_equal(u, t[i]);
        tg_free(u);
    }
    tg_safetensors_close(st);
    /* Nothing at all is a valid file too. */
    ck_assert_int_eq(tg_save_safetensors(path, 0, NULL, NULL, NULL), TG_OK);
    st = tg_safetensors_open(path);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(tg_safetensors_count(st), 0);
    tg_safetensors_close(st);
    remove(path);
    for (int i = 0; i < 4; i++)
        tg_free(t[i]);
    tg_free(base);
}
END_TEST

START_TEST(test_writer_bad_args)
{
    tg_tensor *a = tg_zeros(TG_FLOAT32, TG_SHAPE(2));
    const tg_tensor *ts[2] = {a, a};
    const char *path = temp_path("bad");
    ck_assert_int_eq(tg_save_safetensors(NULL, 1, (const char *[]){"a"}, ts, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_save_safetensors(path, -1, NULL, NULL, NULL), TG_ERR_VALUE);
    ck_assert_int_eq(tg_save_safetensors(path, 2, (const char *[]){"a", "a"}, ts, NULL),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_save_safetensors: duplicate name \"a\"");
    ck_assert_int_eq(tg_save_safetensors(path, 1, (const char *[]){"__metadata__"}, ts, NULL),
                     TG_ERR_VALUE);
    ck_assert_int_eq(tg_save_safetensors(path, 1, (const char *[]){""}, ts, NULL), TG_ERR_VALUE);
    ck_assert_int_eq(tg_save_safetensors(path, 1, (const char *[]){"\xff"}, ts, NULL),
                     TG_ERR_VALUE);
    ck_assert_int_eq(tg_save_safetensors(path, 1, (const char *[]){"a"}, ts,
                                         (const char *[]){"k", NULL, NULL}),
                     TG_ERR_NULL);
    ck_assert_int_eq(tg_save_safetensors(path, 1, (const char *[]){"a"}, ts,
                                         (const char *[]){"k", "1", "k", "2", NULL}),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "duplicate metadata key \"k\"");
    ck_assert_int_eq(tg_save_safetensors("/nonexistent-dir/x.safetensors", 1,
                                         (const char *[]){"a"}, ts, NULL), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "cannot create '/nonexistent-dir/x.safetensors.tmp'");
    ck_assert_int_ne(access(path, F_OK), 0);
    tg_free(a);
}
END_TEST

/* ---- hostile headers ---- */

#define T1 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

START_TEST(test_bad_headers)
{
    unsigned char buf[64] = {0};
    ck_assert_ptr_null(tg_safetensors_open_buffer(buf, 5));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "truncated: 5 bytes");
    memset(buf, 0xff, 16);
    ck_assert_ptr_null(tg_safetensors_open_buffer(buf, 16));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "bad header length 18446744073709551615");
    memset(buf, 0, 16);
    buf[0] = 100;
    ck_assert_ptr_null(tg_safetensors_open_buffer(buf, 16));
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "truncated: header length 100 but 8 bytes follow");
    ck_assert_ptr_null(tg_safetensors_open_buffer(NULL, 16));
    TGT_ASSERT_ERR(TG_ERR_NULL, "buffer is NULL");

    refuse("[]", 0, TG_ERR_FORMAT, "does not start with '{'");
    refuse(" {}", 0, TG_ERR_FORMAT, "does not start with '{'");
    refuse("{" T1 "}x", 8, TG_ERR_FORMAT, "unexpected text after the JSON object");
    refuse("{" T1 ",}", 8, TG_ERR_FORMAT, "expected a string");
    refuse("{" T1 "", 8, TG_ERR_FORMAT, "expected ',' or '}'");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, TG_ERR_FORMAT, "lacks \"data_offsets\"");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8,
           TG_ERR_FORMAT, "unknown field \"x\"");
    refuse("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
           8, TG_ERR_FORMAT, "repeats \"dtype\"");
    refuse("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           TG_ERR_FORMAT, "unknown dtype \"F33\"");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
           TG_ERR_FORMAT, "expected a non-negative integer");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
           TG_ERR_FORMAT, "fraction or exponent");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8,
           TG_ERR_FORMAT, "leading zero");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}",
           8, TG_ERR_FORMAT, "integer too large");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}",
           8, TG_ERR_FORMAT, "more than 8 dimensions");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
           TG_ERR_FORMAT, "F32 (3,) needs 12 bytes, data_offsets [0, 8] hold 8");
    refuse("{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}",
           8, TG_ERR_FORMAT, "overflows");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
           TG_ERR_FORMAT, "end before they begin");
    refuse("{" T1 "}", 4, TG_ERR_FORMAT, "truncated: the tensors need 8 bytes of data, the file has 4");
    refuse("{" T1 "}", 12, TG_ERR_FORMAT, "(trailing bytes)");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
           TG_ERR_FORMAT, "leave a gap");
    refuse("{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
           TG_ERR_FORMAT, "overlap");
    refuse("{" T1 "," T1 "}", 8, TG_ERR_FORMAT, "duplicate tensor \"a\"");
    refuse("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}," T1 "}", 8, TG_ERR_FORMAT,
           "duplicate metadata key \"k\"");
    refuse("{\"__metadata__\":{},\"__metadata__\":{}}", 0, TG_ERR_FORMAT,
           "duplicate \"__metadata__\"");
    refuse("{\"__metadata__\":{\"k\":1}}", 0, TG_ERR_FORMAT, "is not a string");
    refuse("{\"__metadata__\":[]}", 0, TG_ERR_FORMAT, "not an object");
    refuse("{\"a\\q\":{}}", 0, TG_ERR_FORMAT, "bad escape");
    refuse("{\"a\\ud800\":{}}", 0, TG_ERR_FORMAT, "unpaired surrogate");
    refuse("{\"a\\u0000\":{}}", 0, TG_ERR_FORMAT, "NUL character");
    refuse("{\"a\xc0\x80\":{}}", 0, TG_ERR_FORMAT, "invalid UTF-8");
    refuse("{\"a\xed\xa0\x80\":{}}", 0, TG_ERR_FORMAT, "invalid UTF-8");
    refuse("{\"a\tb\":{}}", 0, TG_ERR_FORMAT, "control character");
    refuse("{\"abc", 0, TG_ERR_FORMAT, "unterminated string");
    refuse("{\"a\":{}}", 0, TG_ERR_FORMAT, "has no fields");
    refuse("{\"a\":[]}", 0, TG_ERR_FORMAT, "is not an object");
}
END_TEST

START_TEST(test_good_headers)
{
    static unsigned char buf[512];
    /* Offsets need not follow the header's order; whitespace and escapes
     * are JSON's; trailing spaces pad the header. */
    size_t n = image(buf,
                     "{ \"b\" : {\"shape\":[1], \"data_offsets\":[0,4],\"dtype\":\"I32\"},\n"
                     "\"\\u00e9\\ud83d\\ude00\\/\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[4,5]},"
                     "\"z\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[5,5]},"
                     "\"__metadata__\":{}}   ",
                     5);
    tg_safetensors *st = tg_safetensors_open_buffer(buf, n);
    ck_assert_msg(st != NULL, "%s", tg_last_message());
    ck_assert_int_eq(tg_safetensors_count(st), 3);
    ck_assert_str_eq(tg_safetensors_name(st, 1), "\xc3\xa9\xf0\x9f\x98\x80/");
    ck_assert_ptr_null(tg_safetensors_name(st, 3));
    tg_tensor *u = tg_safetensors_get(st, "\xc3\xa9\xf0\x9f\x98\x80/");
    TGT_ASSERT_SAME(tgt_at(u, 0), 4);
    tg_free(u);
    ck_assert_int_eq(tg_safetensors_info(st, 7, NULL, NULL, NULL, NULL), TG_ERR_INDEX);
    tg_safetensors_close(st);
    tg_safetensors_close(NULL);
}
END_TEST

START_TEST(test_file_errors)
{
    ck_assert_ptr_null(tg_safetensors_open("/nonexistent/x.safetensors"));
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_safetensors_open: cannot open '/nonexistent/x.safetensors'");
    ck_assert_ptr_null(tg_safetensors_open(NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "path is NULL");
    /* A truncated copy of the reference names its path. */
    size_t len;
    unsigned char *b = slurp(tgt_data("st_ref.safetensors"), &len);
    const char *path = temp_path("trunc");
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, len - 3, f);
    fclose(f);
    ck_assert_ptr_null(tg_safetensors_open(path));
    ck_assert_int_eq(tg_last_error(), TG_ERR_FORMAT);
    ck_assert(strstr(tg_last_message(), path) != NULL);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "truncated");
    /* Every proper prefix of the file is refused, without a leak. */
    for (size_t k = 0; k < len; k++) {
        tg_clear_error();
        ck_assert_ptr_null(tg_safetensors_open_buffer(b, k));
        ck_assert_int_eq(tg_last_error(), TG_ERR_FORMAT);
    }
    remove(path);
    free(b);
}
END_TEST

START_TEST(test_alloc_failures)
{
    const char *path = tgt_data("st_ref.safetensors");
    long k;
    for (k = 1;; k++) {
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        tg_safetensors *st = tg_safetensors_open(path);
        tg_tensor *t = st ? tg_safetensors_get(st, "weight") : NULL;
        tgt_stats.fail_at = 0;
        if (t) {
            tg_free(t);
            tg_safetensors_close(st);
            break;
        }
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_safetensors_");
        tg_safetensors_close(st);
        ck_assert_int_eq(tgt_stats.live_blocks, 0);
    }
    ck_assert_int_gt(k, 3);
    tg_tensor *t[7];
    const char *names[7];
    int n = ref_tensors(t, names);
    const char *out = temp_path("oom");
    long base = tgt_stats.live_blocks;
    for (k = 1;; k++) {
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        int rc = tg_save_safetensors(out, n, names, (const tg_tensor *const *)t,
                                     (const char *[]){"a", "b", NULL});
        tgt_stats.fail_at = 0;
        if (rc == TG_OK)
            break;
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_save_safetensors");
        ck_assert_int_eq(tgt_stats.live_blocks, base);
        ck_assert_int_ne(access(out, F_OK), 0);
    }
    remove(out);
    for (int i = 0; i < n; i++)
        tg_free(t[i]);
}
END_TEST

/* ---- checkpoints ---- */

/* A 4-8-3 MLP trained with Adam (or SGD with momentum) on fixed data. */
typedef struct run {
    tg_mlp net;
    tg_params ps;
    tg_adam adam;
    tg_sgd sgd;
    bool use_sgd;
} run;

static void run_init(run *r, uint32_t seed, bool use_sgd)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    memset(r, 0, sizeof *r);
    r->use_sgd = use_sgd;
    ck_assert_int_eq(tg_mlp_init(&r->net, 3, (const int64_t[]){4, 8, 3}, TG_ACT_TANH,
                                 TG_FLOAT32, &rng), TG_OK);
    ck_assert_int_eq(tg_mlp_params(&r->net, &r->ps), TG_OK);
    if (use_sgd)
        ck_assert_int_eq(tg_sgd_init(&r->sgd, &r->ps, 0.05, 0.9, 1e-3, true), TG_OK);
    else
        ck_assert_int_eq(tg_adam_init(&r->adam, &r->ps, 0.01, 0.9, 0.999, 1e-8, 1e-2, true),
                         TG_OK);
}

static void run_free(run *r)
{
    tg_adam_free(&r->adam);
    tg_sgd_free(&r->sgd);
    tg_mlp_free(&r->net);
}

static void run_steps(run *r, int from, int n)
{
    tg_tape *T = tg_tape_new();
    for (int s = from; s < from + n; s++) {
        tg_rng rng; /* the batch of step s, whoever runs it */
        tg_rng_seed(&rng, 1000u + (uint32_t)s);
        tg_tensor *x = tg_randn(&rng, TG_FLOAT32, TG_SHAPE(6, 4));
        tg_tensor *y = tg_zeros(TG_INT64, TG_SHAPE(6));
        for (int i = 0; i < 6; i++)
            ((int64_t *)tg_data(y))[i] = (s + i) % 3;
        tg_tape_reset(T);
        tg_tensor *loss = tg_loss_cross_entropy(T, tg_mlp_forward(T, &r->net, x), y);
        ck_assert_ptr_nonnull(loss);
        ck_assert_int_eq(tg_params_zero_grad(&r->ps), TG_OK);
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        ck_assert_int_eq(r->use_sgd ? tg_sgd_step(&r->sgd) : tg_adam_step(&r->adam), TG_OK);
        tg_free(x);
        tg_free(y);
    }
    tg_tape_free(T);
}

static void resume_matches(bool use_sgd)
{
    const int k = 4, n = 5;
    run a, b, c;
    run_init(&a, 7, use_sgd);
    run_steps(&a, 0, k + n);

    run_init(&b, 7, use_sgd);
    run_steps(&b, 0, k);
    tg_checkpoint ck = {.model = &b.ps, .step = k};
    if (use_sgd)
        ck.sgd = &b.sgd;
    else
        ck.adam = &b.adam;
    const char *path = temp_path("resume");
    ck_assert_msg(tg_checkpoint_save(path, &ck) == TG_OK, "%s", tg_last_message());
    run_free(&b);

    run_init(&c, 99, use_sgd); /* another initialisation: all of it is overwritten */
    if (!use_sgd)
        c.adam.lr = 0.5; /* and the hyper-parameters come back */
    tg_checkpoint ck2 = {.model = &c.ps};
    if (use_sgd)
        ck2.sgd = &c.sgd;
    else
        ck2.adam = &c.adam;
    ck_assert_msg(tg_checkpoint_load(path, &ck2) == TG_OK, "%s", tg_last_message());
    ck_assert_int_eq(ck2.step, k);
    run_steps(&c, (int)ck2.step, n);
    for (int i = 0; i < a.ps.count; i++)
        assert_bits_equal(c.ps.tensors[i], a.ps.tensors[i]);
    if (!use_sgd) {
        ck_assert_int_eq(c.adam.steps, a.adam.steps);
        for (int i = 0; i < a.ps.count; i++) {
            assert_bits_equal(c.adam.m[i], a.adam.m[i]);
            assert_bits_equal(c.adam.v[i], a.adam.v[i]);
        }
    }
    remove(path);
    run_free(&a);
    run_free(&c);
}

START_TEST(test_checkpoint_resume_adam)
{
    resume_matches(false);
}
END_TEST

START_TEST(test_checkpoint_resume_sgd)
{
    resume_matches(true);
}
END_TEST

/* Copies of every parameter, to see that a failed load changed nothing. */
static void snapshot(const tg_params *ps, tg_tensor **out)
{
    for (int i = 0; i < ps->count; i++)
        out[i] = tg_clone(ps->tensors[i]);
}

START_TEST(test_checkpoint_errors)
{
    run a, other;
    run_init(&a, 1, false);
    run_steps(&a, 0, 2);
    const char *path = temp_path("ckerr");
    tg_checkpoint ck = {.model = &a.ps, .adam = &a.adam, .step = 2};
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_OK);

    /* A model of another shape: refused, nothing changes. */
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_mlp wide;
    tg_params wps = {0};
    tg_mlp_init(&wide, 3, (const int64_t[]){4, 9, 3}, TG_ACT_TANH, TG_FLOAT32, &rng);
    tg_mlp_params(&wide, &wps);
    tg_adam wadam;
    tg_adam_init(&wadam, &wps, 0.01, 0.9, 0.999, 1e-8, 0, false);
    tg_tensor *before[TG_MAX_PARAMS];
    snapshot(&wps, before);
    tg_checkpoint wck = {.model = &wps, .adam = &wadam, .step = 77};
    ck_assert_int_eq(tg_checkpoint_load(path, &wck), TG_ERR_SHAPE);
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "\"model.fc1.weight\" is float32 (8,4) in the file, "
                                 "float32 (9,4) here");
    ck_assert_int_eq(wck.step, 77);
    ck_assert_int_eq(wadam.steps, 0);
    TGT_ASSERT_SAME(wadam.lr, 0.01);
    for (int i = 0; i < wps.count; i++) {
        assert_bits_equal(wps.tensors[i], before[i]);
        tg_free(before[i]);
    }
    tg_adam_free(&wadam);
    tg_mlp_free(&wide);

    /* The wrong optimiser; weights only; a model lacking an entry. */
    run_init(&other, 2, true);
    tg_checkpoint sck = {.model = &other.ps, .sgd = &other.sgd};
    ck_assert_int_eq(tg_checkpoint_load(path, &sck), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "holds adam optimiser state, not sgd");
    tg_checkpoint wonly = {.model = &other.ps};
    ck_assert_int_eq(tg_checkpoint_load(path, &wonly), TG_OK);
    ck_assert_int_eq(wonly.step, 2);
    for (int i = 0; i < a.ps.count; i++)
        assert_bits_equal(other.ps.tensors[i], a.ps.tensors[i]);
    tg_params fewer = other.ps;
    fewer.count = 2;
    tg_checkpoint fck = {.model = &fewer};
    ck_assert_int_eq(tg_checkpoint_load(path, &fck), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "\" has no place in the model");
    run_free(&other);

    /* Misuse and files that are not checkpoints. */
    tg_checkpoint both = {.model = &a.ps, .adam = &a.adam, .sgd = &a.sgd};
    ck_assert_int_eq(tg_checkpoint_save(path, &both), TG_ERR_VALUE);
    ck_assert_int_eq(tg_checkpoint_save(path, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_checkpoint_load(NULL, &ck), TG_ERR_NULL);
    ck_assert_int_eq(tg_checkpoint_load(tgt_data("st_ref.safetensors"), &ck), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "tg_checkpoint_load: ");
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "not a tapegrad checkpoint");
    ck_assert_int_eq(tg_checkpoint_load("/nonexistent.safetensors", &ck), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_checkpoint_load: tg_safetensors_open: cannot open");
    remove(path);
    run_free(&a);
}
END_TEST

/* Checkpoints written by hand with bad metadata or state: refused. */
START_TEST(test_checkpoint_bad_contents)
{
    run a;
    run_init(&a, 1, false);
    const char *path = temp_path("ckbad");
    tg_checkpoint ck = {.model = &a.ps, .adam = &a.adam, .step = 5};
    const char *names[TG_MAX_PARAMS];
    const tg_tensor *ts[TG_MAX_PARAMS];
    char buf[TG_MAX_PARAMS][64];
    for (int i = 0; i < a.ps.count; i++) {
        snprintf(buf[i], sizeof buf[i], "model.%s", a.ps.names[i]);
        names[i] = buf[i];
        ts[i] = a.ps.tensors[i];
    }
    static const char *const bad[][2] = {
        {"step", "12x"}, {"step", ""}, {"optim", "lbfgs"}, {"optim.lr", "nan"},
        {"optim.lr", "-1"}, {"optim.steps", "-3"}, {"version", "2"},
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        const char *meta[] = {"format", "tapegrad-checkpoint", "version", "1", "step", "1",
                              "optim", "adam", "optim.steps", "1", "optim.lr", "0.1",
                              "optim.beta1", "0.9", "optim.beta2", "0.99", "optim.eps", "1e-8",
                              "optim.weight_decay", "0", "optim.adamw", "0", NULL};
        for (int j = 0; meta[j]; j += 2)
            if (!strcmp(meta[j], bad[b][0]))
                meta[j + 1] = bad[b][1];
        ck_assert_int_eq(tg_save_safetensors(path, a.ps.count, names, ts, meta), TG_OK);
        int rc = tg_checkpoint_load(path, &ck);
        ck_assert_msg(rc == TG_ERR_FORMAT || rc == TG_ERR_VALUE, "%s = %s accepted (%d)",
                      bad[b][0], bad[b][1], rc);
        ck_assert_msg(strstr(tg_last_message(), bad[b][0]) != NULL, "%s", tg_last_message());
        ck_assert_int_eq(ck.step, 5);
    }
    /* Adam's state is missing from a file that says "adam". */
    const char *meta[] = {"format", "tapegrad-checkpoint", "version", "1", "step", "1",
                          "optim", "adam", "optim.steps", "1", "optim.lr", "0.1",
                          "optim.beta1", "0.9", "optim.beta2", "0.99", "optim.eps", "1e-8",
                          "optim.weight_decay", "0", "optim.adamw", "0", NULL};
    ck_assert_int_eq(tg_save_safetensors(path, a.ps.count, names, ts, meta), TG_OK);
    ck_assert_int_eq(tg_checkpoint_load(path, &ck), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "the checkpoint lacks \"optim.adam.m.fc1.weight\"");
    /* A negative update count. */
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_OK);
    tg_safetensors *st = tg_safetensors_open(path);
    int n = tg_safetensors_count(st);
    const char *all[3 * TG_MAX_PARAMS + 1];
    tg_tensor *got[3 * TG_MAX_PARAMS + 1];
    for (int i = 0; i < n; i++) {
        all[i] = tg_safetensors_name(st, i);
        got[i] = tg_safetensors_get(st, all[i]);
        if (!strcmp(all[i], "optim.adam.t"))
            ((int64_t *)tg_data(got[i]))[1] = -1;
    }
    const char *path2 = temp_path("ckbad2");
    ck_assert_int_eq(tg_save_safetensors(path2, n, all, (const tg_tensor *const *)got, meta),
                     TG_OK);
    ck_assert_int_eq(tg_checkpoint_load(path2, &ck), TG_ERR_FORMAT);
    TGT_ASSERT_ERR(TG_ERR_FORMAT, "optim.adam.t holds a negative count");
    ck_assert_int_eq(ck.step, 5);
    for (int i = 0; i < n; i++)
        tg_free(got[i]);
    tg_safetensors_close(st);
    remove(path);
    remove(path2);
    run_free(&a);
}
END_TEST

START_TEST(test_checkpoint_alloc_failures)
{
    run a, b;
    run_init(&a, 1, false);
    run_init(&b, 2, false);
    const char *path = temp_path("ckoom");
    tg_checkpoint ck = {.model = &a.ps, .adam = &a.adam, .step = 3};
    long base = tgt_stats.live_blocks, k;
    for (k = 1;; k++) {
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        int rc = tg_checkpoint_save(path, &ck);
        tgt_stats.fail_at = 0;
        if (rc == TG_OK)
            break;
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_checkpoint_save");
        ck_assert_int_eq(tgt_stats.live_blocks, base);
    }
    tg_tensor *before[TG_MAX_PARAMS];
    snapshot(&b.ps, before);
    tg_checkpoint ck2 = {.model = &b.ps, .adam = &b.adam};
    for (k = 1;; k++) {
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        int rc = tg_checkpoint_load(path, &ck2);
        tgt_stats.fail_at = 0;
        if (rc == TG_OK)
            break;
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_checkpoint_load");
        ck_assert_int_eq(ck2.step, 0);
        for (int i = 0; i < b.ps.count; i++)
            assert_bits_equal(b.ps.tensors[i], before[i]);
    }
    ck_assert_int_eq(ck2.step, 3);
    for (int i = 0; i < b.ps.count; i++)
        tg_free(before[i]);
    remove(path);
    run_free(&a);
    run_free(&b);
}
END_TEST

/* A checkpoint with fixed contents, written byte for byte as the committed
 * tests/data/st_tapegrad_ckpt.safetensors that make_safetensors_ref.py
 * checks by the specification (TG_WRITE_FIXTURES=1 rewrites it). */
START_TEST(test_checkpoint_fixture)
{
    run a;
    run_init(&a, 11, false);
    for (int i = 0; i < a.ps.count; i++) {
        tg_fill(a.adam.m[i], 0.25);
        tg_fill(a.adam.v[i], 0.5);
        a.adam.t[i] = 3;
    }
    a.adam.steps = 3;
    tg_checkpoint ck = {.model = &a.ps, .adam = &a.adam, .step = 3};
    const char *fixture = tgt_data("st_tapegrad_ckpt.safetensors");
    const char *w = getenv("TG_WRITE_FIXTURES");
    const char *path = w && *w == '1' ? fixture : temp_path("fixture");
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_OK);
    size_t la, lb;
    unsigned char *x = slurp(path, &la), *y = slurp(fixture, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(x, y, la) == 0);
    free(x);
    free(y);
    if (path != fixture)
        remove(path);
    run_free(&a);
}
END_TEST

Suite *test_safetensors_suite(void);
Suite *test_safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tgt_tcase("format");
    tcase_add_test(tc, test_read_reference);
    tcase_add_test(tc, test_writer_matches_reference);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_writer_bad_args);
    tcase_add_test(tc, test_good_headers);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("bad input");
    tcase_add_test(tc, test_bad_headers);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("checkpoint");
    tcase_add_test(tc, test_checkpoint_resume_adam);
    tcase_add_test(tc, test_checkpoint_resume_sgd);
    tcase_add_test(tc, test_checkpoint_errors);
    tcase_add_test(tc, test_checkpoint_bad_contents);
    tcase_add_test(tc, test_checkpoint_alloc_failures);
    tcase_add_test(tc, test_checkpoint_fixture);
    suite_add_tcase(s, tc);
    return s;
}
