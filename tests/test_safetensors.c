/* test_safetensors.c - the safetensors reader and writer
 * (tensor/safetensors.h) and one-file checkpoints (models/checkpoint.h):
 * the reference file made by tests/data/make_safetensors_ref.py by the
 * format's specification, the writer's bytes against it, round trips,
 * hostile headers built in memory, allocation failures, and training runs
 * (SGD, Adam, AdamW with parameter groups and a schedule, RMSprop, Adagrad)
 * stopped, checkpointed and resumed that must match an uninterrupted run
 * bit for bit; checkpoints with bad metadata, groups or state refused with
 * nothing changed; a version-1 checkpoint (from before groups were saved)
 * still loading. */
#include "helpers.h"

#include <math.h>
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

/* The optimiser set-ups a checkpoint must resume bit for bit. */
typedef enum ck_kind {
    K_ADAM,        /* AdamW, one group */
    K_SGD,         /* SGD with Nesterov momentum and weight decay */
    K_ADAMW_GROUPS,/* AdamW, two groups, a step schedule, a buffer in the list */
    K_RMSPROP,     /* RMSprop centered with momentum, two groups, a buffer */
    K_ADAGRAD,     /* Adagrad with lr decay, two groups, a buffer */
    K_SGD_GROUPS,  /* SGD with plain momentum, two groups, a buffer */
} ck_kind;

/* A 4-8-3 MLP trained on fixed data by one of the set-ups. */
typedef struct run {
    tg_mlp net;
    tg_params ps;
    tg_tensor *buffer; /* an extra list entry that no optimiser trains, or NULL */
    ck_kind kind;
    tg_adam adam;
    tg_sgd sgd;
    tg_rmsprop rms;
    tg_adagrad ada;
    tg_lr_schedule sched;
} run;

static tg_param_groups *run_groups(run *r)
{
    switch (r->kind) {
    case K_SGD:
    case K_SGD_GROUPS:
        return &r->sgd.groups;
    case K_RMSPROP:
        return &r->rms.groups;
    case K_ADAGRAD:
        return &r->ada.groups;
    default:
        return &r->adam.groups;
    }
}

/* alt: another initialisation and other hyper-parameters and groups of the
 * same shape (momentum, centered), all of which a load must overwrite. */
static void run_init_alt(run *r, uint32_t seed, ck_kind kind, bool alt)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    memset(r, 0, sizeof *r);
    r->kind = kind;
    ck_assert_int_eq(tg_mlp_init(&r->net, 3, (const int64_t[]){4, 8, 3}, TG_ACT_TANH,
                                 TG_FLOAT32, &rng), TG_OK);
    ck_assert_int_eq(tg_mlp_params(&r->net, &r->ps), TG_OK);
    if (kind != K_ADAM && kind != K_SGD) {
        r->buffer = tg_randn(&rng, TG_FLOAT32, TG_SHAPE(3));
        ck_assert_int_eq(tg_params_add_buffer(&r->ps, "stats", r->buffer), TG_OK);
    }
    double f = alt ? 3.0 : 1.0;
    tg_param_groups *g = run_groups(r);
    ck_assert_int_eq(tg_lr_constant(&r->sched), TG_OK);
    switch (kind) {
    case K_ADAM:
        ck_assert_int_eq(tg_adam_init(&r->adam, &r->ps, 0.01 * f, 0.9, 0.999, 1e-8, 1e-2, true),
                         TG_OK);
        break;
    case K_SGD:
        ck_assert_int_eq(tg_sgd_init(&r->sgd, &r->ps, 0.05 * f, 0.9, 1e-3, true), TG_OK);
        break;
    case K_ADAMW_GROUPS:
        ck_assert_int_eq(tg_adam_init(&r->adam, &r->ps, 0.01 * f, alt ? 0.8 : 0.9, 0.999,
                                      1e-8, 1e-2, !alt), TG_OK);
        ck_assert_int_eq(tg_lr_step(&r->sched, 3, 0.5), TG_OK);
        break;
    case K_RMSPROP:
        ck_assert_int_eq(tg_rmsprop_init(&r->rms, &r->ps, 0.01 * f, alt ? 0.9 : 0.95, 1e-6,
                                         1e-3, alt ? 0.5 : 0.8, true), TG_OK);
        break;
    case K_ADAGRAD:
        ck_assert_int_eq(tg_adagrad_init(&r->ada, &r->ps, 0.05 * f, alt ? 0.0 : 0.1, 1e-3,
                                         alt ? 0.0 : 0.25, 1e-10), TG_OK);
        break;
    case K_SGD_GROUPS:
        ck_assert_int_eq(tg_sgd_init(&r->sgd, &r->ps, 0.05 * f, alt ? 0.5 : 0.9, 0.0, false),
                         TG_OK);
        break;
    }
    if (kind == K_ADAM || kind == K_SGD)
        return;
    if (!alt) { /* biases get their own lr and no decay */
        ck_assert_int_eq(tg_param_groups_add(g, "*.bias", 0.02, 0.0), TG_OK);
    } else {    /* the loader's own groups, which the file's replace */
        ck_assert_int_eq(tg_param_groups_add(g, "fc1.*", 0.3, 0.1), TG_OK);
        ck_assert_int_eq(tg_param_groups_add(g, "fc2.bias", 0.7, 0.2), TG_OK);
    }
}

static void run_init(run *r, uint32_t seed, ck_kind kind)
{
    run_init_alt(r, seed, kind, false);
}

static void run_free(run *r)
{
    tg_adam_free(&r->adam);
    tg_sgd_free(&r->sgd);
    tg_rmsprop_free(&r->rms);
    tg_adagrad_free(&r->ada);
    tg_mlp_free(&r->net);
    tg_free(r->buffer);
}

/* The checkpoint of r at step. */
static tg_checkpoint run_ck(run *r, int64_t step)
{
    tg_checkpoint ck = {.model = &r->ps, .step = step};
    switch (r->kind) {
    case K_SGD:
    case K_SGD_GROUPS:
        ck.sgd = &r->sgd;
        break;
    case K_RMSPROP:
        ck.rmsprop = &r->rms;
        break;
    case K_ADAGRAD:
        ck.adagrad = &r->ada;
        break;
    default:
        ck.adam = &r->adam;
    }
    return ck;
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
        ck_assert_int_eq(tg_lr_apply(&r->sched, s, run_groups(r)), TG_OK);
        int rc;
        switch (r->kind) {
        case K_SGD:
        case K_SGD_GROUPS:
            rc = tg_sgd_step(&r->sgd);
            break;
        case K_RMSPROP:
            rc = tg_rmsprop_step(&r->rms);
            break;
        case K_ADAGRAD:
            rc = tg_adagrad_step(&r->ada);
            break;
        default:
            rc = tg_adam_step(&r->adam);
        }
        ck_assert_msg(rc == TG_OK, "%s", tg_last_message());
        tg_free(x);
        tg_free(y);
    }
    tg_tape_free(T);
}

/* Every state tensor of r's optimiser (NULL entries left out). */
static int run_states(run *r, tg_tensor **out)
{
    int n = 0;
    for (int i = 0; i < TG_MAX_PARAMS; i++) {
        tg_tensor *s[3] = {r->adam.m[i], r->adam.v[i], r->sgd.buf[i]};
        tg_tensor *q[4] = {r->rms.square_avg[i], r->rms.grad_avg[i], r->rms.buf[i],
                           r->ada.sum[i]};
        for (int k = 0; k < 3; k++)
            if (s[k])
                out[n++] = s[k];
        for (int k = 0; k < 4; k++)
            if (q[k])
                out[n++] = q[k];
    }
    return n;
}

/* The optimiser struct of r, as bytes. */
static const void *run_opt(run *r, size_t *size)
{
    switch (r->kind) {
    case K_SGD:
    case K_SGD_GROUPS:
        *size = sizeof r->sgd;
        return &r->sgd;
    case K_RMSPROP:
        *size = sizeof r->rms;
        return &r->rms;
    case K_ADAGRAD:
        *size = sizeof r->ada;
        return &r->ada;
    default:
        *size = sizeof r->adam;
        return &r->adam;
    }
}

/* The numbers that decide the next update are the same in x and y: the
 * parameters and buffers, every state tensor, the step counts, the
 * hyper-parameters and the groups. */
static void assert_same_run(run *x, run *y)
{
    ck_assert_int_eq(x->ps.count, y->ps.count);
    for (int i = 0; i < x->ps.count; i++)
        assert_bits_equal(x->ps.tensors[i], y->ps.tensors[i]);
    tg_tensor *sx[4 * TG_MAX_PARAMS], *sy[4 * TG_MAX_PARAMS];
    int n = run_states(x, sx);
    ck_assert_int_eq(run_states(y, sy), n);
    for (int k = 0; k < n; k++)
        assert_bits_equal(sx[k], sy[k]);
    const tg_param_groups *gx = run_groups(x), *gy = run_groups(y);
    ck_assert_int_eq(gx->count, gy->count);
    ck_assert(memcmp(gx->lr, gy->lr, sizeof gx->lr) == 0);
    ck_assert(memcmp(gx->initial_lr, gy->initial_lr, sizeof gx->initial_lr) == 0);
    ck_assert(memcmp(gx->weight_decay, gy->weight_decay, sizeof gx->weight_decay) == 0);
    ck_assert(memcmp(gx->of, gy->of, (size_t)x->ps.count) == 0);
    switch (x->kind) {
    case K_SGD:
    case K_SGD_GROUPS:
        ck_assert_int_eq(x->sgd.steps, y->sgd.steps);
        ck_assert(memcmp(&x->sgd.lr, &y->sgd.lr, 3 * sizeof(double)) == 0);
        ck_assert_int_eq(x->sgd.nesterov, y->sgd.nesterov);
        break;
    case K_RMSPROP:
        ck_assert_int_eq(x->rms.steps, y->rms.steps);
        ck_assert(memcmp(&x->rms.lr, &y->rms.lr, 5 * sizeof(double)) == 0);
        ck_assert_int_eq(x->rms.centered, y->rms.centered);
        break;
    case K_ADAGRAD:
        ck_assert_int_eq(x->ada.steps, y->ada.steps);
        ck_assert(memcmp(&x->ada.lr, &y->ada.lr, 5 * sizeof(double)) == 0);
        ck_assert(memcmp(x->ada.t, y->ada.t, sizeof x->ada.t) == 0);
        break;
    default:
        ck_assert_int_eq(x->adam.steps, y->adam.steps);
        ck_assert(memcmp(&x->adam.lr, &y->adam.lr, 5 * sizeof(double)) == 0);
        ck_assert_int_eq(x->adam.adamw, y->adam.adamw);
        ck_assert(memcmp(x->adam.t, y->adam.t, sizeof x->adam.t) == 0);
    }
}

/* Train k steps, save, load into a model and optimiser built from another
 * seed with other hyper-parameters and groups, train n more: the same bits
 * as k + n uninterrupted steps. */
static void resume_matches(ck_kind kind)
{
    const int k = 4, n = 5;
    run a, b, c;
    run_init(&a, 7, kind);
    run_steps(&a, 0, k + n);

    run_init(&b, 7, kind);
    run_steps(&b, 0, k);
    tg_checkpoint ck = run_ck(&b, k);
    const char *path = temp_path("resume");
    ck_assert_msg(tg_checkpoint_save(path, &ck) == TG_OK, "%s", tg_last_message());
    run_free(&b);

    run_init_alt(&c, 99, kind, true); /* all of it is overwritten */
    tg_checkpoint ck2 = run_ck(&c, -1);
    ck_assert_msg(tg_checkpoint_load(path, &ck2) == TG_OK, "%s", tg_last_message());
    ck_assert_int_eq(ck2.step, k);
    run_steps(&c, (int)ck2.step, n);
    for (int i = 0; i < a.ps.count; i++) { /* the test, spelt out */
        size_t nb = (size_t)tg_numel(a.ps.tensors[i]) * sizeof(float);
        ck_assert(memcmp(tg_data(c.ps.tensors[i]), tg_data(a.ps.tensors[i]), nb) == 0);
    }
    assert_same_run(&a, &c);
    remove(path);
    run_free(&a);
    run_free(&c);
}

START_TEST(test_checkpoint_resume_adam)
{
    resume_matches(K_ADAM);
}
END_TEST

START_TEST(test_checkpoint_resume_sgd)
{
    resume_matches(K_SGD);
}
END_TEST

START_TEST(test_checkpoint_resume_adamw_groups)
{
    resume_matches(K_ADAMW_GROUPS);
}
END_TEST

START_TEST(test_checkpoint_resume_rmsprop)
{
    resume_matches(K_RMSPROP);
}
END_TEST

START_TEST(test_checkpoint_resume_adagrad)
{
    resume_matches(K_ADAGRAD);
}
END_TEST

START_TEST(test_checkpoint_resume_sgd_groups)
{
    resume_matches(K_SGD_GROUPS);
}
END_TEST

/* Everything a failed load must leave alone: the optimiser struct byte for
 * byte, copies of every parameter and state tensor, the step. */
typedef union ck_any_opt {
    tg_adam adam;
    tg_sgd sgd;
    tg_rmsprop rms;
    tg_adagrad ada;
} ck_any_opt;

typedef struct ck_snap {
    unsigned char raw[sizeof(ck_any_opt)];
    size_t size;
    int n;
    tg_tensor *copy[5 * TG_MAX_PARAMS];
} ck_snap;

static void snap_take(run *r, ck_snap *s)
{
    const void *o = run_opt(r, &s->size);
    ck_assert_uint_le(s->size, sizeof s->raw);
    memcpy(s->raw, o, s->size);
    tg_tensor *st[4 * TG_MAX_PARAMS];
    int n = run_states(r, st);
    s->n = 0;
    for (int i = 0; i < r->ps.count; i++)
        s->copy[s->n++] = tg_clone(r->ps.tensors[i]);
    for (int k = 0; k < n; k++)
        s->copy[s->n++] = tg_clone(st[k]);
}

static void snap_check(run *r, const ck_snap *s)
{
    size_t size;
    const void *o = run_opt(r, &size);
    ck_assert(size == s->size && memcmp(o, s->raw, size) == 0);
    tg_tensor *st[4 * TG_MAX_PARAMS];
    int n = run_states(r, st), m = 0;
    ck_assert_int_eq(s->n, r->ps.count + n);
    for (int i = 0; i < r->ps.count; i++)
        assert_bits_equal(r->ps.tensors[i], s->copy[m++]);
    for (int k = 0; k < n; k++)
        assert_bits_equal(st[k], s->copy[m++]);
}

static void snap_free(ck_snap *s)
{
    for (int k = 0; k < s->n; k++)
        tg_free(s->copy[k]);
    s->n = 0;
}

/* Loading path into r must fail with code and a message holding
 * "tg_checkpoint_load: " and substr, and change nothing. */
static void refused(run *r, const char *path, int code, const char *substr)
{
    ck_snap s;
    snap_take(r, &s);
    tg_checkpoint ck = run_ck(r, 123);
    int rc = tg_checkpoint_load(path, &ck);
    ck_assert_msg(rc == code, "got %d (%s), want %d with \"%s\"", rc, tg_last_message(),
                  code, substr);
    TGT_ASSERT_ERR(code, "tg_checkpoint_load: ");
    TGT_ASSERT_ERR(code, substr);
    ck_assert_int_eq(ck.step, 123);
    snap_check(r, &s);
    snap_free(&s);
}

#define CK_MAX_T (4 * TG_MAX_PARAMS + 1)
#define CK_MAX_M 200

/* Copies the file src to dst with metadata key set to value (value NULL:
 * key removed; a key the file lacks is added), tensor drop (or NULL) left
 * out and tensor swap_name (or NULL) replaced by a copy of swap. */
static void mutate(const char *src, const char *dst, const char *key, const char *value,
                   const char *drop, const char *swap_name, const tg_tensor *swap)
{
    tg_safetensors *st = tg_safetensors_open(src);
    ck_assert_msg(st != NULL, "%s", tg_last_message());
    int n = tg_safetensors_count(st), m = 0;
    const char *names[CK_MAX_T];
    tg_tensor *ts[CK_MAX_T];
    bool dropped = !drop, swapped = !swap_name;
    for (int i = 0; i < n; i++) {
        const char *name = tg_safetensors_name(st, i);
        if (drop && !strcmp(name, drop)) {
            dropped = true;
            continue;
        }
        names[m] = name;
        if (swap_name && !strcmp(name, swap_name)) {
            ts[m] = tg_clone(swap);
            swapped = true;
        } else {
            ts[m] = tg_safetensors_get(st, name);
        }
        ck_assert_ptr_nonnull(ts[m]);
        m++;
    }
    ck_assert(dropped && swapped);
    const char *meta[2 * CK_MAX_M + 3];
    int k = 0;
    bool found = false;
    for (int j = 0; j < tg_safetensors_meta_count(st); j++) {
        const char *mk, *mv;
        ck_assert_int_eq(tg_safetensors_meta_at(st, j, &mk, &mv), TG_OK);
        if (key && !strcmp(mk, key)) {
            found = true;
            if (!value)
                continue;
            mv = value;
        }
        meta[k++] = mk;
        meta[k++] = mv;
    }
    ck_assert(found || !key || value);
    if (key && !found) {
        meta[k++] = key;
        meta[k++] = value;
    }
    meta[k] = NULL;
    ck_assert_int_eq(tg_save_safetensors(dst, m, names, (const tg_tensor *const *)ts, meta),
                     TG_OK);
    for (int i = 0; i < m; i++)
        tg_free(ts[i]);
    tg_safetensors_close(st);
}

/* Copies of every parameter, to see that a failed load changed nothing. */
static void snapshot(const tg_params *ps, tg_tensor **out)
{
    for (int i = 0; i < ps->count; i++)
        out[i] = tg_clone(ps->tensors[i]);
}

START_TEST(test_checkpoint_errors)
{
    run a, other;
    run_init(&a, 1, K_ADAM);
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
    run_init(&other, 2, K_SGD);
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
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_checkpoint_save: checkpoint has 2 optimisers");
    tg_rmsprop rms;
    tg_checkpoint two = {.model = &a.ps, .adam = &a.adam, .rmsprop = &rms};
    ck_assert_int_eq(tg_checkpoint_load(path, &two), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_checkpoint_load: checkpoint has 2 optimisers "
                                 "(adam and rmsprop)");
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

/* RMSprop and Adagrad: an optimiser initialised on another list, of
 * another kind or of another shape; weights only. */
START_TEST(test_checkpoint_errors_rmsprop_adagrad)
{
    run a, b;
    run_init(&a, 1, K_RMSPROP);
    run_steps(&a, 0, 2);
    const char *path = temp_path("ckrms");
    tg_checkpoint ck = run_ck(&a, 2);
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_OK);

    run_init(&b, 2, K_ADAGRAD);
    ck_assert_int_eq(tg_checkpoint_save(path, &(tg_checkpoint){.model = &a.ps,
                                                               .adagrad = &b.ada}),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "initialised on another parameter list");
    refused(&b, path, TG_ERR_VALUE, "holds rmsprop optimiser state, not adagrad");
    tg_checkpoint wonly = {.model = &b.ps};
    ck_assert_int_eq(tg_checkpoint_load(path, &wonly), TG_OK);
    for (int i = 0; i < a.ps.count; i++)
        assert_bits_equal(b.ps.tensors[i], a.ps.tensors[i]);
    run_free(&b);

    /* RMSprop of another shape: not centered, or without momentum. */
    tg_rmsprop *o = &b.rms;
    run_init(&b, 3, K_RMSPROP);
    tg_rmsprop_free(o);
    ck_assert_int_eq(tg_rmsprop_init(o, &b.ps, 0.01, 0.9, 1e-8, 0, 0.8, false), TG_OK);
    refused(&b, path, TG_ERR_VALUE, "the checkpoint's RMSprop is centered, this optimiser "
                                    "is not centered");
    tg_rmsprop_free(o);
    ck_assert_int_eq(tg_rmsprop_init(o, &b.ps, 0.01, 0.9, 1e-8, 0, 0.0, true), TG_OK);
    refused(&b, path, TG_ERR_VALUE, "the checkpoint's RMSprop has momentum 0.8, this "
                                    "optimiser 0");
    run_free(&b);

    /* A file whose RMSprop lacks the centered state, or says centered = 2. */
    const char *bad = temp_path("ckrms2");
    run_init(&b, 3, K_RMSPROP);
    mutate(path, bad, NULL, NULL, "optim.rmsprop.grad_avg.fc2.weight", NULL, NULL);
    refused(&b, bad, TG_ERR_VALUE, "the checkpoint lacks \"optim.rmsprop.grad_avg.fc2.weight\"");
    mutate(path, bad, "optim.centered", "2", NULL, NULL, NULL);
    refused(&b, bad, TG_ERR_FORMAT, "\"optim.centered\" = \"2\" is not an integer in [0, 1]");
    mutate(path, bad, "optim.alpha", "1.5", NULL, NULL, NULL);
    refused(&b, bad, TG_ERR_FORMAT, "\"optim.alpha\" = \"1.5\" is not a number in [0, 1]");
    mutate(path, bad, "optim.momentum", "0", NULL, NULL, NULL);
    refused(&b, bad, TG_ERR_VALUE, "has momentum 0, this optimiser 0.8");
    run_free(&b);

    /* Adagrad: a negative update count, a missing lr_decay. */
    run_init(&b, 4, K_ADAGRAD);
    run_steps(&b, 0, 1);
    ck = run_ck(&b, 1);
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_OK);
    tg_tensor *t = tg_zeros(TG_INT64, TG_SHAPE(b.ps.count));
    ((int64_t *)tg_data(t))[2] = -4;
    mutate(path, bad, NULL, NULL, NULL, "optim.adagrad.t", t);
    refused(&b, bad, TG_ERR_FORMAT, "optim.adagrad.t holds a negative count");
    /* A count at INT64_MAX: the next step would overflow adding 1 (found
     * by fuzz_checkpoint's author; UBSan reported it in tg_adagrad_step). */
    ((int64_t *)tg_data(t))[2] = INT64_MAX;
    mutate(path, bad, NULL, NULL, NULL, "optim.adagrad.t", t);
    refused(&b, bad, TG_ERR_FORMAT, "optim.adagrad.t holds too large a count");
    tg_free(t);
    t = tg_zeros(TG_INT64, TG_SHAPE(b.ps.count + 1));
    mutate(path, bad, NULL, NULL, NULL, "optim.adagrad.t", t);
    refused(&b, bad, TG_ERR_SHAPE, "\"optim.adagrad.t\" is int64 (6,) in the file, int64 (5,) here");
    tg_free(t);
    mutate(path, bad, "optim.lr_decay", NULL, NULL, NULL, NULL);
    refused(&b, bad, TG_ERR_FORMAT, "metadata lacks \"optim.lr_decay\"");
    mutate(path, bad, "optim.initial_accumulator_value", "-1", NULL, NULL, NULL);
    refused(&b, bad, TG_ERR_FORMAT, "\"optim.initial_accumulator_value\" = \"-1\"");

    /* SGD: Nesterov without momentum. */
    run free_sgd;
    run_init(&free_sgd, 5, K_SGD);
    ck = run_ck(&free_sgd, 0);
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_OK);
    mutate(path, bad, "optim.momentum", "0", NULL, NULL, NULL);
    refused(&free_sgd, bad, TG_ERR_FORMAT, "\"optim.nesterov\" = 1 needs \"optim.momentum\" > 0");
    run_free(&free_sgd);

    remove(path);
    remove(bad);
    run_free(&a);
    run_free(&b);
}
END_TEST

/* The parameter groups of a file: every bad count, index, number or key is
 * refused and changes nothing. */
START_TEST(test_checkpoint_bad_groups)
{
    run a, b;
    run_init(&a, 1, K_ADAMW_GROUPS);
    run_steps(&a, 0, 2);
    const char *path = temp_path("ckgrp"), *bad = temp_path("ckgrp2");
    tg_checkpoint ck = run_ck(&a, 2);
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_OK);
    run_init_alt(&b, 2, K_ADAMW_GROUPS, true);
    static const struct {
        const char *key, *value;
        int code;
        const char *msg;
    } cases[] = {
        {"optim.groups", "0", TG_ERR_FORMAT, "\"optim.groups\" = 0: a checkpoint holds 1 to 8"},
        {"optim.groups", "9", TG_ERR_FORMAT, "holds 1 to 8 parameter groups (TG_MAX_GROUPS"},
        {"optim.groups", "-1", TG_ERR_FORMAT, "\"optim.groups\" = \"-1\" is not an integer"},
        {"optim.groups", "2x", TG_ERR_FORMAT, "\"optim.groups\" = \"2x\""},
        {"optim.groups", NULL, TG_ERR_FORMAT, "metadata lacks \"optim.groups\""},
        {"optim.groups", "3", TG_ERR_FORMAT, "metadata lacks \"optim.group.2.lr\""},
        {"optim.groups", "1", TG_ERR_FORMAT, "\"fc1.bias\" is in group 1, out of range"},
        {"optim.group.1.lr", "-0.5", TG_ERR_FORMAT, "\"optim.group.1.lr\" = \"-0.5\" is not "
                                                    "a finite number >= 0"},
        {"optim.group.1.lr", "inf", TG_ERR_FORMAT, "\"optim.group.1.lr\" = \"inf\""},
        {"optim.group.1.initial_lr", "nan", TG_ERR_FORMAT, "\"optim.group.1.initial_lr\""},
        {"optim.group.1.weight_decay", NULL, TG_ERR_FORMAT,
         "lacks \"optim.group.1.weight_decay\""},
        {"optim.group.0.lr", "0.125", TG_ERR_FORMAT, "group 0 (lr 0.125, weight_decay 0.01) "
                                                     "disagrees"},
        {"optim.weight_decay", "0.5", TG_ERR_FORMAT, "disagrees with \"optim.lr\""},
        {"optim.group_of.fc1.bias", "2", TG_ERR_FORMAT,
         "parameter \"fc1.bias\" is in group 2, out of range: the file has 2 groups"},
        {"optim.group_of.fc1.bias", "-1", TG_ERR_FORMAT, "\"optim.group_of.fc1.bias\" = \"-1\""},
        {"optim.group_of.fc2.weight", NULL, TG_ERR_FORMAT,
         "metadata lacks \"optim.group_of.fc2.weight\""},
        {"optim.group_of.fc9.weight", "0", TG_ERR_VALUE,
         "metadata \"optim.group_of.fc9.weight\" names no parameter of the model"},
        {"optim.group_of.stats", "0", TG_ERR_VALUE, "\"optim.group_of.stats\" names no parameter"},
        {"optim.group.2.lr", "0.1", TG_ERR_FORMAT,
         "metadata \"optim.group.2.lr\" is not a key of the file's 2 parameter groups"},
        {"optim.group.1.momentum", "0.1", TG_ERR_FORMAT, "\"optim.group.1.momentum\" is not a key"},
        {"optim.groupx", "1", TG_ERR_FORMAT, "\"optim.groupx\" is not a key"},
        {"optim.adamw", "2", TG_ERR_FORMAT, "\"optim.adamw\" = \"2\" is not an integer in [0, 1]"},
        {"optim.beta1", "1", TG_ERR_FORMAT, "\"optim.beta1\" = \"1\" is not a number in [0, 1)"},
        {"optim.lr", "-1", TG_ERR_FORMAT, "\"optim.lr\" = \"-1\" is not a finite number >= 0"},
        {"version", "3", TG_ERR_FORMAT, "checkpoint version \"3\" is not one this build reads"},
        {"version", NULL, TG_ERR_FORMAT, "checkpoint version (none) is not one"},
        {"format", "pt", TG_ERR_FORMAT, "not a tapegrad checkpoint"},
        {"step", "1.5", TG_ERR_FORMAT, "\"step\" = \"1.5\""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mutate(path, bad, cases[c].key, cases[c].value, NULL, NULL, NULL);
        refused(&b, bad, cases[c].code, cases[c].msg);
    }
    /* Missing, mistyped and misshapen state. */
    mutate(path, bad, NULL, NULL, "optim.adam.v.fc2.bias", NULL, NULL);
    refused(&b, bad, TG_ERR_VALUE, "the checkpoint lacks \"optim.adam.v.fc2.bias\"");
    tg_tensor *d = tg_zeros(TG_FLOAT64, TG_SHAPE(8, 4));
    mutate(path, bad, NULL, NULL, NULL, "optim.adam.m.fc1.weight", d);
    refused(&b, bad, TG_ERR_SHAPE, "\"optim.adam.m.fc1.weight\" is float64 (8,4) in the "
                                   "file, float32 (8,4) here");
    tg_free(d);
    d = tg_zeros(TG_FLOAT32, TG_SHAPE(4, 8));
    mutate(path, bad, NULL, NULL, NULL, "optim.adam.m.fc1.weight", d);
    refused(&b, bad, TG_ERR_SHAPE, "is float32 (4,8) in the file, float32 (8,4) here");
    tg_free(d);
    mutate(path, bad, NULL, NULL, "model.stats", NULL, NULL);
    refused(&b, bad, TG_ERR_VALUE, "the checkpoint lacks \"model.stats\"");

    /* The file is fine: it loads, and its groups replace the loader's. */
    tg_checkpoint ck2 = run_ck(&b, 0);
    ck_assert_msg(tg_checkpoint_load(path, &ck2) == TG_OK, "%s", tg_last_message());
    const tg_param_groups *g = &b.adam.groups;
    ck_assert_int_eq(g->count, 2);
    TGT_ASSERT_SAME(g->lr[1], 0.02);
    TGT_ASSERT_SAME(g->initial_lr[1], 0.02);
    TGT_ASSERT_SAME(g->weight_decay[1], 0.0);
    TGT_ASSERT_SAME(g->lr[2], 0.0);
    for (int i = 0; i < b.ps.count; i++)
        ck_assert_int_eq(g->of[i], strstr(b.ps.names[i], ".bias") ? 1 : 0);
    TGT_ASSERT_SAME(b.adam.lr, g->lr[0]);
    ck_assert(b.adam.adamw);
    assert_same_run(&a, &b);
    remove(path);
    remove(bad);
    run_free(&a);
    run_free(&b);
}
END_TEST

/* Save refuses what load would refuse: corrupt groups, numbers out of
 * range. Group 0's two copies: the one written last is saved. */
START_TEST(test_checkpoint_save_checks)
{
    run a, b;
    run_init(&a, 1, K_ADAMW_GROUPS);
    const char *path = temp_path("cksave");
    tg_checkpoint ck = run_ck(&a, 0);
    tg_param_groups *g = &a.adam.groups;
    g->count = 0;
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_checkpoint_save: the optimiser's parameter groups are "
                                 "corrupt (count 0)");
    g->count = TG_MAX_GROUPS + 1;
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_ERR_VALUE);
    g->count = 2;
    g->of[2] = 5;
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "parameter \"fc2.weight\" is in group 5 of 2");
    g->of[2] = 0;
    g->lr[1] = -1.0;
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "group 1 has lr = -1");
    g->lr[1] = 0.02;
    g->initial_lr[1] = (double)NAN;
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_ERR_VALUE);
    g->initial_lr[1] = 0.02;
    a.adam.beta1 = 1.0;
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "the optimiser's beta1 = 1 is out of range");
    a.adam.beta1 = 0.9;
    a.adam.steps = -1;
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_ERR_VALUE);
    a.adam.steps = 0;
    a.adam.t[1] = -2;
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "\"fc1.bias\" has a negative update count -2");
    a.adam.t[1] = 0;
    ck_assert_int_ne(access(path, F_OK), 0); /* nothing was written */

    /* lr written last in the group, weight decay in the field: both saved. */
    g->lr[0] = 0.004;
    a.adam.weight_decay = 0.03;
    ck_assert_int_eq(tg_checkpoint_save(path, &ck), TG_OK);
    tg_safetensors *st = tg_safetensors_open(path);
    ck_assert_str_eq(tg_safetensors_meta(st, "version"), "2");
    ck_assert_str_eq(tg_safetensors_meta(st, "optim.lr"), "0.0040000000000000001");
    ck_assert_str_eq(tg_safetensors_meta(st, "optim.group.0.lr"), "0.0040000000000000001");
    ck_assert_str_eq(tg_safetensors_meta(st, "optim.group.0.initial_lr"), "0.01");
    ck_assert_str_eq(tg_safetensors_meta(st, "optim.weight_decay"), "0.029999999999999999");
    ck_assert_str_eq(tg_safetensors_meta(st, "optim.group.0.weight_decay"),
                     "0.029999999999999999");
    ck_assert_str_eq(tg_safetensors_meta(st, "optim.group_of.fc2.bias"), "1");
    ck_assert_ptr_null(tg_safetensors_meta(st, "optim.group_of.stats"));
    tg_safetensors_close(st);
    run_init_alt(&b, 2, K_ADAMW_GROUPS, true);
    tg_checkpoint ck2 = run_ck(&b, 0);
    ck_assert_int_eq(tg_checkpoint_load(path, &ck2), TG_OK);
    TGT_ASSERT_SAME(b.adam.lr, 0.004);
    TGT_ASSERT_SAME(b.adam.groups.lr[0], 0.004);
    TGT_ASSERT_SAME(b.adam.groups.seen_lr, 0.004);
    TGT_ASSERT_SAME(b.adam.weight_decay, 0.03);
    TGT_ASSERT_SAME(b.adam.groups.weight_decay[0], 0.03);
    /* A schedule's write to the group after the load wins, as after a step. */
    run_steps(&b, 0, 1);
    TGT_ASSERT_SAME(b.adam.lr, 0.01); /* tg_lr_apply: initial_lr at step 0 */
    remove(path);
    run_free(&a);
    run_free(&b);
}
END_TEST

/* Checkpoints written by hand with bad metadata or state: refused. */
START_TEST(test_checkpoint_bad_contents)
{
    run a;
    run_init(&a, 1, K_ADAM);
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
        {"optim.lr", "-1"}, {"optim.steps", "-3"}, {"version", "3"},
        {"optim.steps", "9223372036854775807"}, /* the next step adds 1 */
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

/* Fails each allocation of a save and of a load in turn: each failure is
 * TG_ERR_NOMEM, leaks nothing and changes nothing; then both succeed. */
static void alloc_sweep(ck_kind kind)
{
    run a, b;
    run_init(&a, 1, kind);
    run_steps(&a, 0, 2);
    run_init_alt(&b, 2, kind, true);
    const char *path = temp_path("ckoom");
    tg_checkpoint ck = run_ck(&a, 3);
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
    ck_snap s;
    snap_take(&b, &s);
    tg_checkpoint ck2 = run_ck(&b, 0);
    for (k = 1;; k++) {
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        int rc = tg_checkpoint_load(path, &ck2);
        tgt_stats.fail_at = 0;
        if (rc == TG_OK)
            break;
        TGT_ASSERT_ERR(TG_ERR_NOMEM, "tg_checkpoint_load");
        ck_assert_int_eq(ck2.step, 0);
        snap_check(&b, &s);
    }
    ck_assert_int_gt(k, 2);
    ck_assert_int_eq(ck2.step, 3);
    assert_same_run(&a, &b);
    snap_free(&s);
    remove(path);
    run_free(&a);
    run_free(&b);
}

START_TEST(test_checkpoint_alloc_failures)
{
    alloc_sweep(K_ADAM);
    alloc_sweep(K_ADAMW_GROUPS);
    alloc_sweep(K_RMSPROP);
    alloc_sweep(K_ADAGRAD);
    alloc_sweep(K_SGD_GROUPS);
}
END_TEST

/* tests/data/st_tapegrad_ckpt.safetensors is a version-1 checkpoint,
 * written by tapegrad before parameter groups, RMSprop and Adagrad were
 * saved (make_safetensors_ref.py checks it by the specification): AdamW on
 * the seed-11 MLP, m = 0.25, v = 0.5, t = 3, step 3. It still loads; the
 * loader's groups stay, group 0 takes the file's lr and weight decay. */
START_TEST(test_checkpoint_version1)
{
    run a, b;
    run_init(&a, 11, K_ADAM);
    for (int i = 0; i < a.ps.count; i++) {
        tg_fill(a.adam.m[i], 0.25);
        tg_fill(a.adam.v[i], 0.5);
        a.adam.t[i] = 3;
    }
    a.adam.steps = 3;
    run_init(&b, 5, K_ADAM);
    b.adam.lr = 0.5;
    b.adam.weight_decay = 0.25;
    ck_assert_int_eq(tg_param_groups_add(&b.adam.groups, "*.bias", 0.02, 0.0), TG_OK);
    tg_checkpoint ck = run_ck(&b, 0);
    const char *v1 = tgt_data("st_tapegrad_ckpt.safetensors");
    ck_assert_msg(tg_checkpoint_load(v1, &ck) == TG_OK, "%s", tg_last_message());
    ck_assert_int_eq(ck.step, 3);
    tg_safetensors *st = tg_safetensors_open(v1);
    ck_assert_str_eq(tg_safetensors_meta(st, "version"), "1");
    ck_assert_ptr_null(tg_safetensors_meta(st, "optim.groups"));
    tg_safetensors_close(st);
    const tg_param_groups *g = &b.adam.groups;
    ck_assert_int_eq(g->count, 2); /* the loader's groups */
    TGT_ASSERT_SAME(g->lr[1], 0.02);
    for (int i = 0; i < b.ps.count; i++)
        ck_assert_int_eq(g->of[i], strstr(b.ps.names[i], ".bias") ? 1 : 0);
    TGT_ASSERT_SAME(g->lr[0], 0.01); /* the file's */
    TGT_ASSERT_SAME(g->weight_decay[0], 0.01);
    TGT_ASSERT_SAME(g->seen_lr, 0.01);
    TGT_ASSERT_SAME(g->seen_wd, 0.01);
    /* Everything but the groups as the file holds it. */
    a.adam.groups = b.adam.groups;
    a.adam.groups.params = &a.ps;
    assert_same_run(&a, &b);
    run_steps(&b, 3, 1);
    ck_assert_int_eq(b.adam.steps, 4);
    run_free(&a);
    run_free(&b);
}
END_TEST

/* A version-2 checkpoint with fixed contents (AdamW, two groups, a
 * buffer), written byte for byte as the committed
 * tests/data/st_tapegrad_ckpt_v2.safetensors (TG_WRITE_FIXTURES=1 rewrites
 * it; tests/data/check_ckpt_v2.py checks it by the format in
 * checkpoint.h), and read back from the committed file. */
START_TEST(test_checkpoint_fixture)
{
    run a, c;
    run_init(&a, 11, K_ADAMW_GROUPS);
    for (int i = 0; i < a.ps.count; i++) {
        if (a.adam.m[i]) {
            tg_fill(a.adam.m[i], 0.25);
            tg_fill(a.adam.v[i], 0.5);
            a.adam.t[i] = 3;
        }
    }
    a.adam.steps = 3;
    a.adam.groups.lr[1] = 0.005; /* as a schedule would set it */
    tg_checkpoint ck = run_ck(&a, 3);
    const char *fixture = tgt_data("st_tapegrad_ckpt_v2.safetensors");
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
    run_init_alt(&c, 3, K_ADAMW_GROUPS, true);
    tg_checkpoint ck2 = run_ck(&c, 0);
    ck_assert_msg(tg_checkpoint_load(fixture, &ck2) == TG_OK, "%s", tg_last_message());
    ck_assert_int_eq(ck2.step, 3);
    assert_same_run(&a, &c);
    run_free(&a);
    run_free(&c);
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
    tcase_add_test(tc, test_checkpoint_resume_adamw_groups);
    tcase_add_test(tc, test_checkpoint_resume_rmsprop);
    tcase_add_test(tc, test_checkpoint_resume_adagrad);
    tcase_add_test(tc, test_checkpoint_resume_sgd_groups);
    tcase_add_test(tc, test_checkpoint_errors);
    tcase_add_test(tc, test_checkpoint_errors_rmsprop_adagrad);
    tcase_add_test(tc, test_checkpoint_bad_groups);
    tcase_add_test(tc, test_checkpoint_save_checks);
    tcase_add_test(tc, test_checkpoint_bad_contents);
    tcase_add_test(tc, test_checkpoint_alloc_failures);
    tcase_add_test(tc, test_checkpoint_version1);
    tcase_add_test(tc, test_checkpoint_fixture);
    suite_add_tcase(s, tc);
    return s;
}
