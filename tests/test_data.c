/* test_data.c - the IDX loader: images built here byte by byte, loaded from
 * memory, from plain files and (with zlib) from gzip files under /tmp, then
 * every way a hostile file can be wrong, and allocation failures. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef TG_HAVE_ZLIB
#include <zlib.h>
#endif

#include "helpers.h"

/* ---- building images ---------------------------------------------------- */

/* An IDX image of unsigned bytes: magic, big-endian sizes, then count bytes
 * with value (i * 7 + 3) mod 256, followed by extra bytes of 0xAB. The
 * caller frees *len bytes with free(). */
static unsigned char *make_image(int ndim, const uint32_t *dims, size_t count,
                                 size_t extra, size_t *len)
{
    size_t hlen = 4 + 4 * (size_t)ndim;
    *len = hlen + count + extra;
    unsigned char *b = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(b);
    b[0] = 0;
    b[1] = 0;
    b[2] = 0x08;
    b[3] = (unsigned char)ndim;
    for (int k = 0; k < ndim; k++) {
        b[4 + 4 * k] = (unsigned char)(dims[k] >> 24);
        b[5 + 4 * k] = (unsigned char)(dims[k] >> 16);
        b[6 + 4 * k] = (unsigned char)(dims[k] >> 8);
        b[7 + 4 * k] = (unsigned char)dims[k];
    }
    for (size_t i = 0; i < count; i++)
        b[hlen + i] = (unsigned char)((i * 7 + 3) % 256);
    memset(b + hlen + count, 0xAB, extra);
    return b;
}

static void assert_values(const tg_idx *idx, size_t count)
{
    ck_assert_int_eq(idx->count, (int64_t)count);
    for (size_t i = 0; i < count; i++)
        if (idx->data[i] != (uint8_t)((i * 7 + 3) % 256))
            ck_abort_msg("byte %zu is %u, expected %u", i, idx->data[i],
                         (unsigned)((i * 7 + 3) % 256));
}

/* A path under /tmp private to this process and test. */
static const char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "/tmp/tg_test_data_%ld_%s", (long)getpid(),
             name);
    return p;
}

static void write_file(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

#ifdef TG_HAVE_ZLIB
static void append_file(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "ab");
    ck_assert_msg(f != NULL, "cannot append to %s", path);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static unsigned char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_gz(const char *path, const void *b, size_t len)
{
    gzFile gz = gzopen(path, "wb");
    ck_assert_msg(gz != NULL, "cannot create %s", path);
    ck_assert_int_eq(gzwrite(gz, b, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(gz), Z_OK);
}
#endif

/* A tg_idx filled with a pattern, to check that failures leave it alone. */
static void poison(tg_idx *idx) { memset(idx, 0x5A, sizeof *idx); }

static void assert_poisoned(const tg_idx *idx)
{
    tg_idx p;
    poison(&p);
    ck_assert_msg(memcmp(&p, idx, sizeof p) == 0, "*out was modified");
}

/* Loads b from memory expecting failure (code, message part), with *out left
 * as it was and nothing allocated. */
static void expect_buffer_error(const void *b, size_t len, int code,
                                const char *msg)
{
    tg_idx idx;
    poison(&idx);
    long allocs = tgt_stats.calls;
    ck_assert_int_eq(tg_idx_load_buffer(b, len, &idx), code);
    TGT_ASSERT_ERR(code, msg);
    ck_assert_msg(strstr(tg_last_message(), "tg_idx_load_buffer: ") ==
                      tg_last_message(),
                  "message \"%s\" does not name tg_idx_load_buffer",
                  tg_last_message());
    assert_poisoned(&idx);
    ck_assert_int_eq(tgt_stats.calls, allocs);
}

/* The same for a file; the message must also name the path. */
static void expect_file_error(const char *path, int code, const char *msg)
{
    tg_idx idx;
    poison(&idx);
    ck_assert_int_eq(tg_idx_load(path, &idx), code);
    TGT_ASSERT_ERR(code, msg);
    char want[300];
    snprintf(want, sizeof want, "tg_idx_load: %s: ", path);
    ck_assert_msg(strstr(tg_last_message(), want) == tg_last_message(),
                  "message \"%s\" does not start with \"%s\"",
                  tg_last_message(), want);
    /* The user's path, never zlib's name for the descriptor ("<fd:3>"). */
    ck_assert_msg(strstr(tg_last_message(), "<fd:") == NULL,
                  "message \"%s\" shows zlib's internals", tg_last_message());
    assert_poisoned(&idx);
    ck_assert_int_eq(tgt_stats.live_blocks, 0);
}

/* Writes b (plain, and gzip-compressed with zlib) and expects the same error
 * from both files and from memory. */
static void expect_error_everywhere(const void *b, size_t len, int code,
                                    const char *msg)
{
    expect_buffer_error(b, len, code, msg);
    const char *plain = tmp_path("bad.idx");
    write_file(plain, b, len);
    expect_file_error(plain, code, msg);
    unlink(plain);
#ifdef TG_HAVE_ZLIB
    const char *gz = tmp_path("bad.idx.gz");
    write_gz(gz, b, len);
    expect_file_error(gz, code, msg);
    unlink(gz);
#endif
}

/* ---- loading ------------------------------------------------------------- */

START_TEST(test_buffer_images_and_labels)
{
    size_t len;
    unsigned char *b = make_image(3, (const uint32_t[]){2, 3, 4}, 24, 0, &len);
    ck_assert_uint_eq(len, 16 + 24);
    tg_idx idx;
    ck_assert_int_eq(tg_idx_load_buffer(b, len, &idx), TG_OK);
    ck_assert_int_eq(idx.ndim, 3);
    ck_assert_int_eq(idx.dims[0], 2);
    ck_assert_int_eq(idx.dims[1], 3);
    ck_assert_int_eq(idx.dims[2], 4);
    assert_values(&idx, 24);
    ck_assert_uint_eq(idx.data[23], (23 * 7 + 3) % 256);
    ck_assert_int_eq(tgt_stats.live_blocks, 1);
    ck_assert_int_eq(tgt_stats.live_bytes, 24);
    tg_idx_free(&idx);
    ck_assert_ptr_null(idx.data);
    ck_assert_int_eq(idx.count, 0);
    free(b);

    /* Labels: one dimension, values past 127 stay unsigned. */
    b = make_image(1, (const uint32_t[]){300}, 300, 0, &len);
    ck_assert_int_eq(tg_idx_load_buffer(b, len, &idx), TG_OK);
    ck_assert_int_eq(idx.ndim, 1);
    ck_assert_int_eq(idx.dims[0], 300);
    assert_values(&idx, 300);
    ck_assert_uint_eq(idx.data[36], 255); /* 36*7+3 = 255 */
    tg_idx_free(&idx);
    free(b);
}
END_TEST

START_TEST(test_buffer_big_endian_dims)
{
    /* 60000 = 0x0000EA60 and 28 = 0x1C: the sizes are big-endian. */
    const unsigned char head[] = {0, 0, 8, 3, 0, 0, 0xEA, 0x60, 0, 0, 0, 0x1C,
                                  0, 0, 0, 0x1C};
    size_t len;
    unsigned char *b = make_image(3, (const uint32_t[]){60000, 28, 28},
                                  60000 * 28 * 28, 0, &len);
    ck_assert_int_eq(memcmp(b, head, sizeof head), 0);
    tg_idx idx;
    ck_assert_int_eq(tg_idx_load_buffer(b, len, &idx), TG_OK);
    ck_assert_int_eq(idx.dims[0], 60000);
    ck_assert_int_eq(idx.count, 47040000);
    ck_assert_uint_eq(idx.data[47039999], (47039999ull * 7 + 3) % 256);
    tg_idx_free(&idx);
    free(b);
}
END_TEST

START_TEST(test_buffer_eight_dims_and_empty)
{
    size_t len;
    unsigned char *b = make_image(
        8, (const uint32_t[]){1, 2, 1, 3, 1, 2, 1, 2}, 24, 0, &len);
    tg_idx idx;
    ck_assert_int_eq(tg_idx_load_buffer(b, len, &idx), TG_OK);
    ck_assert_int_eq(idx.ndim, 8);
    ck_assert_int_eq(idx.dims[7], 2);
    assert_values(&idx, 24);
    tg_idx_free(&idx);
    free(b);

    /* A zero size makes an empty image; the other sizes may be large as
     * long as their product fits (test_empty_with_overflowing_dims). Here
     * (2^32 - 1) * (2^31 - 1) = 2^63 - 2^32 - 2^31 + 1, just inside. */
    b = make_image(3, (const uint32_t[]){0xFFFFFFFFu, 0, 0x7FFFFFFFu}, 0, 0,
                   &len);
    poison(&idx);
    tgt_stats.calls = 0;
    ck_assert_int_eq(tg_idx_load_buffer(b, len, &idx), TG_OK);
    ck_assert_int_eq(idx.ndim, 3);
    ck_assert_int_eq(idx.dims[0], 0xFFFFFFFFll);
    ck_assert_int_eq(idx.dims[1], 0);
    ck_assert_int_eq(idx.dims[2], 0x7FFFFFFFll);
    ck_assert_int_eq(idx.count, 0);
    ck_assert_ptr_null(idx.data);
    ck_assert_int_eq(tgt_stats.calls, 0);
    tg_idx_free(&idx);
    tg_idx_free(&idx); /* a freed tg_idx is empty: freeing again is harmless */
    tg_idx_free(NULL);
    free(b);
}
END_TEST

START_TEST(test_plain_file)
{
    size_t len;
    unsigned char *b = make_image(3, (const uint32_t[]){5, 7, 9}, 315, 0, &len);
    const char *path = tmp_path("plain.idx");
    write_file(path, b, len);
    tg_idx idx;
    ck_assert_int_eq(tg_idx_load(path, &idx), TG_OK);
    ck_assert_int_eq(idx.ndim, 3);
    ck_assert_int_eq(idx.dims[0], 5);
    ck_assert_int_eq(idx.dims[1], 7);
    ck_assert_int_eq(idx.dims[2], 9);
    assert_values(&idx, 315);
    /* The size on disk was checked first: one exact allocation. */
    ck_assert_int_eq(tgt_stats.allocs, 1);
    ck_assert_int_eq(tgt_stats.reallocs, 0);
    tg_idx_free(&idx);
    unlink(path);
    free(b);

    /* An empty image from a file. */
    b = make_image(2, (const uint32_t[]){0, 28}, 0, 0, &len);
    write_file(path, b, len);
    poison(&idx);
    ck_assert_int_eq(tg_idx_load(path, &idx), TG_OK);
    ck_assert_int_eq(idx.count, 0);
    ck_assert_int_eq(idx.dims[1], 28);
    ck_assert_ptr_null(idx.data);
    tg_idx_free(&idx);
    unlink(path);
    free(b);
}
END_TEST

#ifdef TG_HAVE_ZLIB
START_TEST(test_gzip_file)
{
    /* 196608 bytes: more than the first 64 KiB chunk, so the buffer grows. */
    size_t len;
    unsigned char *b =
        make_image(3, (const uint32_t[]){3, 256, 256}, 196608, 0, &len);
    const char *path = tmp_path("images.idx3.gz");
    write_gz(path, b, len);
    size_t zlen;
    unsigned char *z = read_whole(path, &zlen);
    ck_assert_uint_eq(z[0], 0x1f); /* really compressed */
    ck_assert_uint_eq(z[1], 0x8b);
    ck_assert_uint_lt(zlen, len / 4);
    free(z);

    tg_idx idx;
    ck_assert_int_eq(tg_idx_load(path, &idx), TG_OK);
    ck_assert_int_eq(idx.ndim, 3);
    ck_assert_int_eq(idx.dims[0], 3);
    ck_assert_int_eq(idx.dims[1], 256);
    ck_assert_int_eq(idx.dims[2], 256);
    assert_values(&idx, 196608);
    /* The data grown 64 KiB -> 128 KiB -> exactly the count, never past
     * it; the other allocations are the 64 KiB of compressed input and
     * zlib's state and window (zlib allocates through tapegrad), all freed
     * by the end. */
    ck_assert_int_eq(tgt_stats.allocs, 4);
    ck_assert_int_eq(tgt_stats.reallocs, 2);
    ck_assert_int_eq(tgt_stats.live_blocks, 1);
    ck_assert_int_eq(tgt_stats.live_bytes, 196608);
    tg_idx_free(&idx);
    unlink(path);
    free(b);
}
END_TEST

START_TEST(test_gzip_small_and_multi_member)
{
    /* Labels compressed in two gzip members (as `cat a.gz b.gz` makes):
     * zlib reads them as one stream. */
    size_t len;
    unsigned char *b = make_image(1, (const uint32_t[]){1000}, 1000, 0, &len);
    const char *p1 = tmp_path("part1.gz"), *p2 = tmp_path("part2.gz");
    write_gz(p1, b, 500);
    write_gz(p2, b + 500, len - 500);
    size_t n1, n2;
    unsigned char *z1 = read_whole(p1, &n1), *z2 = read_whole(p2, &n2);
    unsigned char *cat = malloc(n1 + n2);
    ck_assert_ptr_nonnull(cat);
    memcpy(cat, z1, n1);
    memcpy(cat + n1, z2, n2);
    const char *path = tmp_path("labels.gz");
    write_file(path, cat, n1 + n2);
    tg_idx idx;
    ck_assert_int_eq(tg_idx_load(path, &idx), TG_OK);
    ck_assert_int_eq(idx.ndim, 1);
    ck_assert_int_eq(idx.dims[0], 1000);
    assert_values(&idx, 1000);
    tg_idx_free(&idx);
    unlink(p1);
    unlink(p2);
    unlink(path);
    free(z1);
    free(z2);
    free(cat);
    free(b);
}
END_TEST

/* gzip members written one after the other into one file: b[cut[k]..cut[k+1]). */
static void write_members(const char *path, const unsigned char *b,
                          const size_t *cut, int members)
{
    const char *part = tmp_path("member.gz");
    write_file(path, "", 0);
    for (int k = 0; k < members; k++) {
        write_gz(part, b + cut[k], cut[k + 1] - cut[k]);
        size_t n;
        unsigned char *z = read_whole(part, &n);
        append_file(path, z, n);
        free(z);
    }
    unlink(part);
}

START_TEST(test_gzip_empty_members)
{
    /* Empty members before, between and after: still the concatenation. */
    size_t len;
    unsigned char *b = make_image(2, (const uint32_t[]){10, 10}, 100, 0, &len);
    const char *path = tmp_path("empties.gz");
    write_members(path, b, (const size_t[]){0, 0, 50, 50, len, len}, 5);
    tg_idx idx;
    ck_assert_int_eq(tg_idx_load(path, &idx), TG_OK);
    ck_assert_int_eq(idx.dims[0], 10);
    assert_values(&idx, 100);
    tg_idx_free(&idx);
    unlink(path);
    free(b);
}
END_TEST

START_TEST(test_gzip_trailing_garbage)
{
    /* zlib's gzread skips bytes after the last member that do not start
     * another one; a stored file with one byte too many is refused, so a
     * compressed one with garbage after its data must be too. */
    static const struct {
        unsigned char bytes[4];
        size_t n;
    } tails[] = {
        {{'x'}, 1},          {{0}, 1},  /* one byte, a zero byte */
        {{0x1f}, 1},                    /* half a gzip magic */
        {{0, 0, 0, 0}, 4},              /* zero padding */
        {{'a', 'b', 'c', '\n'}, 4},
    };
    size_t len;
    unsigned char *b = make_image(2, (const uint32_t[]){3, 4}, 12, 0, &len);
    const char *path = tmp_path("garbage.gz");
    for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
        write_gz(path, b, len);
        append_file(path, tails[k].bytes, tails[k].n);
        expect_file_error(path, TG_ERR_FORMAT,
                          "trailing garbage after the gzip data");
    }
    /* After the second of two members. */
    write_members(path, b, (const size_t[]){0, 7, len}, 2);
    append_file(path, "junk", 4);
    expect_file_error(path, TG_ERR_FORMAT, "trailing garbage after the gzip data");
    /* More garbage than one block of input (64 KiB). */
    unsigned char *zeros = calloc(1, 200000);
    ck_assert_ptr_nonnull(zeros);
    write_gz(path, b, len);
    append_file(path, zeros, 200000);
    expect_file_error(path, TG_ERR_FORMAT, "trailing garbage after the gzip data");
    free(zeros);
    /* Garbage after a member that ends the image early: refused either way. */
    write_gz(path, b, len - 1);
    append_file(path, "x", 1);
    expect_file_error(path, TG_ERR_FORMAT, "trailing garbage after the gzip data");
    /* Bytes that start like another member but are not one. */
    write_gz(path, b, len);
    append_file(path, (const unsigned char[]){0x1f, 0x8b, 0x08, 0x00}, 4);
    expect_file_error(path, TG_ERR_FORMAT, "truncated gzip stream");
    write_gz(path, b, len);
    append_file(path, (const unsigned char[]){0x1f, 0x8b, 0x07, 0x00, 0, 0, 0, 0, 0, 3}, 10);
    expect_file_error(path, TG_ERR_FORMAT, "corrupt gzip data (unknown compression method)");
    /* The same file without the garbage loads. */
    write_gz(path, b, len);
    tg_idx idx;
    ck_assert_int_eq(tg_idx_load(path, &idx), TG_OK);
    assert_values(&idx, 12);
    tg_idx_free(&idx);
    unlink(path);
    free(b);
}
END_TEST

START_TEST(test_gzip_errors)
{
    size_t len;
    unsigned char *b = make_image(2, (const uint32_t[]){100, 100}, 10000, 0,
                                  &len);
    const char *good = tmp_path("good.gz");
    write_gz(good, b, len);
    size_t zlen;
    unsigned char *z = read_whole(good, &zlen);
    const char *bad = tmp_path("broken.gz");

    /* The compressed stream cut short, inside the data and in the trailer. */
    write_file(bad, z, zlen / 2);
    expect_file_error(bad, TG_ERR_FORMAT, "truncated gzip stream");
    write_file(bad, z, zlen - 4);
    expect_file_error(bad, TG_ERR_FORMAT, "truncated gzip stream");
    /* A wrong CRC-32 in the trailer. */
    z[zlen - 6] ^= 0xFF;
    write_file(bad, z, zlen);
    expect_file_error(bad, TG_ERR_FORMAT, "corrupt gzip data");
    z[zlen - 6] ^= 0xFF;
    /* Garbage in the deflate stream itself. */
    memset(z + 12, 0xFF, 16);
    write_file(bad, z, zlen);
    expect_file_error(bad, TG_ERR_FORMAT, "corrupt gzip data");
    /* Compressed twice: what comes out is still gzip. */
    size_t glen;
    free(z);
    z = read_whole(good, &glen);
    write_gz(bad, z, glen);
    expect_file_error(bad, TG_ERR_FORMAT, "gzip-compressed twice");

    unlink(good);
    unlink(bad);
    free(z);
    free(b);
}
END_TEST

START_TEST(test_gzip_lying_header_bounded)
{
    /* A 2^31 x 2^30 header over 100 bytes of data, compressed: the size
     * cannot be known before decompressing, so the loader reads into a
     * buffer that grows with the data: one 64 KiB block, then the error.
     * The other three allocations are the compressed input's buffer and
     * zlib's state and window. */
    size_t len;
    unsigned char *b =
        make_image(2, (const uint32_t[]){0x80000000u, 0x40000000u}, 100, 0,
                   &len);
    const char *path = tmp_path("liar.gz");
    write_gz(path, b, len);
    expect_file_error(path, TG_ERR_FORMAT,
                      "truncated: dimensions (2147483648,1073741824) need "
                      "2305843009213693952 bytes of data, the file has 100");
    ck_assert_int_eq(tgt_stats.calls, 4);
    unlink(path);
    free(b);
}
END_TEST

START_TEST(test_gz_name_but_plain_content)
{
    /* gzread passes an uncompressed file through, whatever its name. */
    size_t len;
    unsigned char *b = make_image(2, (const uint32_t[]){4, 4}, 16, 0, &len);
    const char *path = tmp_path("not_really.gz");
    write_file(path, b, len);
    tg_idx idx;
    ck_assert_int_eq(tg_idx_load(path, &idx), TG_OK);
    ck_assert_int_eq(idx.dims[0], 4);
    assert_values(&idx, 16);
    tg_idx_free(&idx);
    unlink(path);
    free(b);
}
END_TEST
#else
START_TEST(test_gzip_without_zlib)
{
    /* The start of a real gzip file: magic, deflate, flags, mtime, ... */
    const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03};
    const char *path = tmp_path("nozlib.gz");
    write_file(path, gz, sizeof gz);
    expect_file_error(path, TG_ERR_FORMAT, "built without zlib");
    unlink(path);
}
END_TEST
#endif

/* ---- malformed input ------------------------------------------------------ */

START_TEST(test_empty_and_short_magic)
{
    const unsigned char z[4] = {0, 0, 8, 1};
    expect_error_everywhere(z, 0, TG_ERR_FORMAT, "empty file, not an IDX file");
    expect_error_everywhere(z, 1, TG_ERR_FORMAT,
                            "truncated: only 1 of the 4 magic bytes");
    expect_error_everywhere(z, 3, TG_ERR_FORMAT,
                            "truncated: only 3 of the 4 magic bytes");
    /* The magic is complete, but no sizes follow. */
    expect_error_everywhere(z, 4, TG_ERR_FORMAT,
                            "truncated header: 1 dimensions need 8 bytes, "
                            "the file has 4");
}
END_TEST

START_TEST(test_wrong_magic)
{
    const unsigned char a[] = {1, 0, 8, 1, 0, 0, 0, 1, 7};
    expect_error_everywhere(a, sizeof a, TG_ERR_FORMAT,
                            "not an IDX file (bad magic");
    const unsigned char b[] = {0, 0x20, 8, 1, 0, 0, 0, 1, 7};
    expect_error_everywhere(b, sizeof b, TG_ERR_FORMAT,
                            "not an IDX file (bad magic");
    const unsigned char text[] = "hello, world\n";
    expect_error_everywhere(text, sizeof text - 1, TG_ERR_FORMAT,
                            "not an IDX file (bad magic");
    const unsigned char one[] = {'P'};
    expect_error_everywhere(one, 1, TG_ERR_FORMAT, "not an IDX file (bad magic");
    /* Compressed bytes given to the in-memory loader. */
    const unsigned char gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    expect_buffer_error(gz, sizeof gz, TG_ERR_FORMAT,
                        "gzip-compressed data; the buffer must hold an "
                        "uncompressed IDX image");
}
END_TEST

START_TEST(test_unsupported_type)
{
    const unsigned char f32[] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0x80, 0x3f};
    expect_error_everywhere(f32, sizeof f32, TG_ERR_FORMAT,
                            "unsupported element type 0x0d (float32); only "
                            "0x08 (unsigned byte) is supported");
    const unsigned char s8[] = {0, 0, 0x09, 1, 0, 0, 0, 1, 0xFF};
    expect_error_everywhere(s8, sizeof s8, TG_ERR_FORMAT,
                            "unsupported element type 0x09 (signed byte)");
    const unsigned char odd[] = {0, 0, 0x42, 1, 0, 0, 0, 1, 0xFF};
    expect_error_everywhere(odd, sizeof odd, TG_ERR_FORMAT,
                            "unsupported element type 0x42 (not an IDX type)");
}
END_TEST

START_TEST(test_bad_dimension_count)
{
    const unsigned char none[] = {0, 0, 8, 0, 42};
    expect_error_everywhere(none, sizeof none, TG_ERR_FORMAT,
                            "unsupported number of dimensions 0 (1 to 8 are "
                            "supported)");
    size_t len;
    unsigned char *b = make_image(8, (const uint32_t[]){1, 1, 1, 1, 1, 1, 1, 1},
                                  1, 0, &len);
    b[3] = 9; /* nine sizes of 1 with the datum as the first byte of the 9th */
    expect_error_everywhere(b, len, TG_ERR_FORMAT,
                            "unsupported number of dimensions 9");
    b[3] = 255;
    expect_error_everywhere(b, len, TG_ERR_FORMAT,
                            "unsupported number of dimensions 255");
    free(b);
}
END_TEST

START_TEST(test_truncated_header)
{
    size_t len;
    unsigned char *b = make_image(3, (const uint32_t[]){2, 3, 4}, 24, 0, &len);
    expect_error_everywhere(b, 10, TG_ERR_FORMAT,
                            "truncated header: 3 dimensions need 16 bytes, "
                            "the file has 10");
    expect_error_everywhere(b, 15, TG_ERR_FORMAT,
                            "truncated header: 3 dimensions need 16 bytes, "
                            "the file has 15");
    free(b);
}
END_TEST

START_TEST(test_truncated_body)
{
    size_t len;
    unsigned char *b = make_image(3, (const uint32_t[]){2, 3, 4}, 24, 0, &len);
    expect_error_everywhere(b, 16, TG_ERR_FORMAT,
                            "truncated: dimensions (2,3,4) need 24 bytes of "
                            "data, the file has 0");
    expect_error_everywhere(b, len - 1, TG_ERR_FORMAT,
                            "truncated: dimensions (2,3,4) need 24 bytes of "
                            "data, the file has 23");
    free(b);
}
END_TEST

START_TEST(test_lying_header_checked_before_allocating)
{
    /* Fashion-MNIST's header over ten bytes of data. */
    size_t len;
    unsigned char *b = make_image(3, (const uint32_t[]){60000, 28, 28}, 10, 0,
                                  &len);
    expect_buffer_error(b, len, TG_ERR_FORMAT,
                        "truncated: dimensions (60000,28,28) need 47040000 "
                        "bytes of data, the file has 10");
    const char *path = tmp_path("liar.idx");
    write_file(path, b, len);
    expect_file_error(path, TG_ERR_FORMAT,
                      "truncated: dimensions (60000,28,28) need 47040000 "
                      "bytes of data, the file has 10");
    ck_assert_int_eq(tgt_stats.calls, 0); /* plain file: sized from disk */
    free(b);

    /* Sizes near the top of what fits still fail on the size, not in malloc. */
    b = make_image(2, (const uint32_t[]){0xFFFFFFFFu, 0x7FFFFFFFu}, 3, 0, &len);
    expect_buffer_error(b, len, TG_ERR_FORMAT,
                        "need 9223372030412324865 bytes of data, the file "
                        "has 3");
    write_file(path, b, len);
    expect_file_error(path, TG_ERR_FORMAT,
                      "need 9223372030412324865 bytes of data, the file has 3");
    ck_assert_int_eq(tgt_stats.calls, 0);
    unlink(path);
    free(b);
}
END_TEST

START_TEST(test_trailing_garbage)
{
    size_t len;
    unsigned char *b = make_image(2, (const uint32_t[]){3, 4}, 12, 5, &len);
    expect_buffer_error(b, len, TG_ERR_FORMAT,
                        "longer than its header says: dimensions (3,4) need "
                        "12 bytes of data, the file has 17");
    const char *path = tmp_path("long.idx");
    write_file(path, b, len);
    expect_file_error(path, TG_ERR_FORMAT,
                      "longer than its header says: dimensions (3,4) need 12 "
                      "bytes of data, the file has 17");
    unlink(path);
#ifdef TG_HAVE_ZLIB
    /* Compressed, the total is unknown until the extra byte turns up. */
    path = tmp_path("long.idx.gz");
    write_gz(path, b, len);
    expect_file_error(path, TG_ERR_FORMAT,
                      "longer than its header says: dimensions (3,4) need 12 "
                      "bytes of data, more follow");
    unlink(path);
#endif
    free(b);
    /* One byte too many after an empty image. */
    b = make_image(1, (const uint32_t[]){0}, 0, 1, &len);
    expect_error_everywhere(b, len, TG_ERR_FORMAT, "longer than its header says");
    free(b);
}
END_TEST

START_TEST(test_overflowing_dims)
{
    size_t len;
    unsigned char *b = make_image(
        4, (const uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 2}, 0, 0,
        &len);
    expect_error_everywhere(b, len, TG_ERR_OVERFLOW,
                            "dimensions (4294967295,4294967295,4294967295,2) "
                            "hold too many elements");
    free(b);
    /* 2^32 * 2^31 = 2^63: one past INT64_MAX. */
    b = make_image(3, (const uint32_t[]){65536, 65536, 0x80000000u}, 0, 0, &len);
    expect_error_everywhere(b, len, TG_ERR_OVERFLOW, "hold too many elements");
    free(b);
    /* Eight large sizes. */
    b = make_image(8,
                   (const uint32_t[]){1000, 1000, 1000, 1000, 1000, 1000, 1000,
                                      1000},
                   0, 0, &len);
    expect_error_everywhere(b, len, TG_ERR_OVERFLOW, "hold too many elements");
    free(b);
}
END_TEST

START_TEST(test_empty_with_overflowing_dims)
{
    /* No elements, but dims[1] * dims[2] would overflow int64_t in any
     * caller that sizes a row: refused like tg_zeros refuses (0, 2^62). */
    static const uint32_t cases[][3] = {
        {0, 0xFFFFFFFFu, 0xFFFFFFFFu},
        {0xFFFFFFFFu, 0, 0xFFFFFFFFu},
        {0xFFFFFFFFu, 0xFFFFFFFFu, 0},
        {0, 0xFFFFFFFFu, 0x80000001u}, /* 2^63 + 2^31 - 1: one step too far */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t len;
        unsigned char *b = make_image(3, cases[k], 0, 0, &len);
        expect_error_everywhere(b, len, TG_ERR_OVERFLOW,
                                "overflow: the sizes besides the 0 multiply to "
                                "too many elements");
        free(b);
    }
    size_t len;
    unsigned char *b = make_image(3, cases[0], 0, 0, &len);
    expect_buffer_error(b, len, TG_ERR_OVERFLOW,
                        "tg_idx_load_buffer: dimensions "
                        "(0,4294967295,4294967295) overflow");
    free(b);
    /* Several zeros do not help. */
    b = make_image(4, (const uint32_t[]){0, 0xFFFFFFFFu, 0, 0xFFFFFFFFu}, 0, 0,
                   &len);
    expect_error_everywhere(b, len, TG_ERR_OVERFLOW, "overflow");
    free(b);
}
END_TEST

START_TEST(test_io_and_null_errors)
{
    tg_idx idx;
    poison(&idx);
    const char *missing = tmp_path("does_not_exist.gz");
    ck_assert_int_eq(tg_idx_load(missing, &idx), TG_ERR_IO);
    char want[300];
    snprintf(want, sizeof want, "tg_idx_load: %s: cannot open: No such file "
             "or directory", missing);
    TGT_ASSERT_ERR(TG_ERR_IO, want);
    assert_poisoned(&idx);

    /* A directory opens but cannot be read. */
    ck_assert_int_eq(tg_idx_load("/tmp", &idx), TG_ERR_IO);
    TGT_ASSERT_ERR(TG_ERR_IO, "tg_idx_load: /tmp: read failed: Is a directory");
    assert_poisoned(&idx);

    ck_assert_int_eq(tg_idx_load(NULL, &idx), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_idx_load: path is NULL");
    ck_assert_int_eq(tg_idx_load(missing, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_idx_load: out is NULL");
    ck_assert_int_eq(tg_idx_load_buffer(NULL, 4, &idx), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_idx_load_buffer: buffer is NULL");
    const unsigned char b[] = {0, 0, 8, 1, 0, 0, 0, 0};
    ck_assert_int_eq(tg_idx_load_buffer(b, sizeof b, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_idx_load_buffer: out is NULL");
    assert_poisoned(&idx);
}
END_TEST

/* ---- allocation failures ---------------------------------------------------- */

typedef int (*load_fn)(const void *ctx, tg_idx *out);

static int load_from_buffer(const void *ctx, tg_idx *out)
{
    const unsigned char *b = ctx;
    return tg_idx_load_buffer(b, 16 + 24, out);
}

static int load_from_path(const void *ctx, tg_idx *out)
{
    return tg_idx_load(ctx, out);
}

/* Fails the k-th allocation for k = 1, 2, ... until the load succeeds:
 * each failure must be TG_ERR_NOMEM, leave *out alone and free everything.
 * Returns how many allocations a successful load needed. */
static long fail_every_allocation(load_fn load, const void *ctx,
                                  const char *fn, size_t count)
{
    for (long k = 1; k < 100; k++) {
        tg_idx idx;
        poison(&idx);
        tg_clear_error();
        tgt_stats.calls = 0;
        tgt_stats.fail_at = k;
        int rc = load(ctx, &idx);
        tgt_stats.fail_at = 0;
        if (rc == TG_OK) {
            ck_assert_int_eq(tgt_stats.calls, k - 1);
            assert_values(&idx, count);
            tg_idx_free(&idx);
            ck_assert_int_eq(tgt_stats.live_blocks, 0);
            return k - 1;
        }
        ck_assert_int_eq(rc, TG_ERR_NOMEM);
        char want[80];
        snprintf(want, sizeof want, "%s: out of memory", fn);
        TGT_ASSERT_ERR(TG_ERR_NOMEM, want);
        assert_poisoned(&idx);
        ck_assert_int_eq(tgt_stats.live_blocks, 0);
    }
    ck_abort_msg("the load never succeeded");
    return -1;
}

START_TEST(test_allocation_failures)
{
    size_t len;
    unsigned char *b = make_image(3, (const uint32_t[]){2, 3, 4}, 24, 0, &len);
    ck_assert_int_eq(
        fail_every_allocation(load_from_buffer, b, "tg_idx_load_buffer", 24), 1);
    const char *path = tmp_path("alloc.idx");
    write_file(path, b, len);
    ck_assert_int_eq(fail_every_allocation(load_from_path, path, "tg_idx_load",
                                           24),
                     1);
    unlink(path);
    free(b);
#ifdef TG_HAVE_ZLIB
    /* Compressed: the input buffer, zlib's state and window (zlib
     * allocates through tapegrad), then the data at 64 KiB, grown twice:
     * six allocations, each of which can fail. */
    b = make_image(3, (const uint32_t[]){3, 256, 256}, 196608, 0, &len);
    path = tmp_path("alloc.idx.gz");
    write_gz(path, b, len);
    ck_assert_int_eq(fail_every_allocation(load_from_path, path, "tg_idx_load",
                                           196608),
                     6);
    unlink(path);
    free(b);
#endif
}
END_TEST

Suite *test_data_suite(void); /* called by the generated runner */

Suite *test_data_suite(void)
{
    Suite *s = suite_create("data");

    TCase *tc = tgt_tcase("load");
    tcase_add_test(tc, test_buffer_images_and_labels);
    tcase_add_test(tc, test_buffer_big_endian_dims);
    tcase_add_test(tc, test_buffer_eight_dims_and_empty);
    tcase_add_test(tc, test_plain_file);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("gzip");
#ifdef TG_HAVE_ZLIB
    tcase_add_test(tc, test_gzip_file);
    tcase_add_test(tc, test_gzip_small_and_multi_member);
    tcase_add_test(tc, test_gzip_empty_members);
    tcase_add_test(tc, test_gzip_trailing_garbage);
    tcase_add_test(tc, test_gzip_errors);
    tcase_add_test(tc, test_gzip_lying_header_bounded);
    tcase_add_test(tc, test_gz_name_but_plain_content);
#else
    tcase_add_test(tc, test_gzip_without_zlib);
#endif
    suite_add_tcase(s, tc);

    tc = tgt_tcase("malformed");
    tcase_add_test(tc, test_empty_and_short_magic);
    tcase_add_test(tc, test_wrong_magic);
    tcase_add_test(tc, test_unsupported_type);
    tcase_add_test(tc, test_bad_dimension_count);
    tcase_add_test(tc, test_truncated_header);
    tcase_add_test(tc, test_truncated_body);
    tcase_add_test(tc, test_lying_header_checked_before_allocating);
    tcase_add_test(tc, test_trailing_garbage);
    tcase_add_test(tc, test_overflowing_dims);
    tcase_add_test(tc, test_empty_with_overflowing_dims);
    tcase_add_test(tc, test_io_and_null_errors);
    suite_add_tcase(s, tc);

    tc = tgt_tcase("allocation");
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
