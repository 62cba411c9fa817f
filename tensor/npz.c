/* npz.c - reads NumPy's .npz archives: the zip end record, the central
 * directory, then on request one member's local header and data, inflated
 * with zlib when deflated (the only place this file needs zlib) and handed
 * to the .npy reader. Every number the archive gives is untrusted. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef TG_HAVE_ZLIB
#include <zlib.h>
#endif

#include "internal.h"
#include "npy.h"
#include "npz.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define END_LEN 22
#define CENTRAL_LEN 46
#define LOCAL_LEN 30
/* Deflate's best ratio is about 1032:1; a member claiming more is a bomb. */
#define MAX_RATIO 1032u

typedef struct npz_member {
    char *name; /* ".npy" removed */
    size_t name_cap;
    uint16_t method, flags;
    uint32_t crc;
    uint64_t csize, usize, local;
} npz_member;

struct tg_npz {
    FILE *f;
    const unsigned char *buf;
    uint64_t len;
    char *path;
    size_t path_cap;
    int count, cap;
    npz_member *m;
};

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int zfail(const char *fn, const tg_npz *z, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tg__vfail_at(code, fn, z->path, fmt, ap);
    va_end(ap);
    return rc;
}

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t le32(const unsigned char *p)
{
    return le16(p) | le16(p + 2) << 16;
}
static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Reads n bytes at off, checked against the archive's length. */
static int zread(const char *fn, tg_npz *z, uint64_t off, void *dst, size_t n,
                 const char *what)
{
    if (off > z->len || n > z->len - off)
        return zfail(fn, z, TG_ERR_FORMAT,
                     "%s at offset %llu (%zu bytes) lies outside the %llu-byte file",
                     what, (unsigned long long)off, n, (unsigned long long)z->len);
    if (n == 0)
        return TG_OK;
    if (z->buf) {
        memcpy(dst, z->buf + off, n);
        return TG_OK;
    }
    if (fseeko(z->f, (off_t)off, SEEK_SET) != 0 || fread(dst, 1, n, z->f) != n)
        return zfail(fn, z, TG_ERR_IO, "cannot read: %s",
                     ferror(z->f) ? strerror(errno) : "file shrank");
    return TG_OK;
}

void tg_npz_close(tg_npz *z)
{
    if (!z)
        return;
    for (int i = 0; i < z->count; i++)
        tg__dealloc(z->m[i].name, z->m[i].name_cap);
    tg__dealloc(z->m, (size_t)z->cap * sizeof *z->m);
    if (z->f)
        fclose(z->f);
    tg__dealloc(z->path, z->path_cap);
    tg__dealloc(z, sizeof *z);
}

/* ---- CRC-32 (the zip polynomial, reflected 0xEDB88320) ---- */

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    /* The table is built per call (2048 steps, nothing next to reading a
     * member) rather than cached in a static, so threads share nothing. */
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- the directory ---- */

/* Finds the end record in the last 64 KiB + 22 bytes; fills the directory's
 * entry count, size and offset (from the zip64 record when present). */
static int find_directory(const char *fn, tg_npz *z, uint64_t *entries,
                          uint64_t *cd_size, uint64_t *cd_off)
{
    if (z->len < END_LEN)
        return zfail(fn, z, TG_ERR_FORMAT,
                     "%llu bytes, too short for a zip archive (not an .npz file?)",
                     (unsigned long long)z->len);
    size_t tail = z->len < END_LEN + 65535u ? (size_t)z->len : END_LEN + 65535u;
    unsigned char *t = tg__alloc(tail);
    if (!t)
        return tg__oom(fn);
    int rc = zread(fn, z, z->len - tail, t, tail, "the end record");
    size_t at = tail;
    for (size_t i = tail - END_LEN + 1; i-- > 0 && !rc;)
        if (le32(t + i) == SIG_END && i + END_LEN + le16(t + i + 20) == tail) {
            at = i;
            break;
        }
    if (!rc && at == tail)
        rc = zfail(fn, z, TG_ERR_FORMAT,
                   "no zip end record (not an .npz file, or truncated)");
    if (rc) {
        tg__dealloc(t, tail);
        return rc;
    }
    const unsigned char *e = t + at;
    uint64_t end_off = z->len - tail + at;
    if (le16(e + 4) != 0 || le16(e + 6) != 0 || le16(e + 8) != le16(e + 10))
        rc = zfail(fn, z, TG_ERR_FORMAT, "multi-disk zip archives are not supported");
    *entries = le16(e + 10);
    *cd_size = le32(e + 12);
    *cd_off = le32(e + 16);
    bool zip64 = *entries == 0xFFFF || *cd_size == 0xFFFFFFFFu || *cd_off == 0xFFFFFFFFu;
    tg__dealloc(t, tail);
    if (rc || !zip64)
        return rc;
    /* The zip64 locator sits right before the end record. */
    unsigned char loc[20], r[56];
    if (end_off < 20)
        return zfail(fn, z, TG_ERR_FORMAT, "no room for a zip64 locator");
    if ((rc = zread(fn, z, end_off - 20, loc, 20, "the zip64 locator")))
        return rc;
    if (le32(loc) != SIG_LOC64)
        return zfail(fn, z, TG_ERR_FORMAT, "no zip64 locator before the end record");
    if ((rc = zread(fn, z, le64(loc + 8), r, 56, "the zip64 end record")))
        return rc;
    if (le32(r) != SIG_END64)
        return zfail(fn, z, TG_ERR_FORMAT, "bad zip64 end record signature");
    if (le32(r + 16) != 0 || le32(r + 20) != 0 || le64(r + 24) != le64(r + 32))
        return zfail(fn, z, TG_ERR_FORMAT, "multi-disk zip archives are not supported");
    *entries = le64(r + 32);
    *cd_size = le64(r + 40);
    *cd_off = le64(r + 48);
    return TG_OK;
}

/* Reads the zip64 extra field (id 1) for the entry's 0xFFFFFFFF fields. */
static int zip64_extra(const char *fn, tg_npz *z, const unsigned char *x, size_t xlen,
                       npz_member *m, bool need_u, bool need_c, bool need_o)
{
    while (xlen >= 4) {
        uint32_t id = le16(x), n = le16(x + 2);
        if (n > xlen - 4)
            return zfail(fn, z, TG_ERR_FORMAT, "extra field overruns its entry");
        if (id == 1) {
            size_t need = 8u * ((size_t)need_u + need_c + need_o);
            if (n < need)
                return zfail(fn, z, TG_ERR_FORMAT, "zip64 extra field too short");
            const unsigned char *p = x + 4;
            if (need_u)
                m->usize = le64(p), p += 8;
            if (need_c)
                m->csize = le64(p), p += 8;
            if (need_o)
                m->local = le64(p);
            return TG_OK;
        }
        x += 4 + n;
        xlen -= 4 + n;
    }
    if (need_u || need_c || need_o)
        return zfail(fn, z, TG_ERR_FORMAT, "zip64 sizes without a zip64 extra field");
    return TG_OK;
}

static int grow_members(const char *fn, tg_npz *z)
{
    if (z->count < z->cap)
        return TG_OK;
    int ncap = z->cap ? z->cap * 2 : 8;
    void *p = tg__realloc(z->m, (size_t)z->cap * sizeof *z->m,
                          (size_t)ncap * sizeof *z->m);
    if (!p)
        return tg__oom(fn);
    z->m = p;
    z->cap = ncap;
    return TG_OK;
}

static int read_directory(const char *fn, tg_npz *z)
{
    uint64_t entries = 0, cd_size = 0, cd_off = 0;
    int rc = find_directory(fn, z, &entries, &cd_size, &cd_off);
    if (rc)
        return rc;
    if (cd_off > z->len || cd_size > z->len - cd_off)
        return zfail(fn, z, TG_ERR_FORMAT,
                     "central directory [%llu, +%llu) lies outside the %llu-byte file",
                     (unsigned long long)cd_off, (unsigned long long)cd_size,
                     (unsigned long long)z->len);
    if (entries > cd_size / CENTRAL_LEN)
        return zfail(fn, z, TG_ERR_FORMAT,
                     "%llu entries cannot fit a %llu-byte central directory",
                     (unsigned long long)entries, (unsigned long long)cd_size);
    unsigned char *cd = tg__alloc(cd_size ? (size_t)cd_size : 1);
    if (!cd)
        return tg__oom(fn);
    rc = zread(fn, z, cd_off, cd, (size_t)cd_size, "the central directory");
    size_t at = 0;
    for (uint64_t k = 0; k < entries && !rc; k++) {
        const unsigned char *c = cd + at;
        if (cd_size - at < CENTRAL_LEN || le32(c) != SIG_CENTRAL) {
            rc = zfail(fn, z, TG_ERR_FORMAT, "bad central directory entry %llu",
                       (unsigned long long)k);
            break;
        }
        size_t nlen = le16(c + 28), xlen = le16(c + 30), clen = le16(c + 32);
        if (cd_size - at - CENTRAL_LEN < nlen + xlen + clen) {
            rc = zfail(fn, z, TG_ERR_FORMAT, "central directory entry %llu overruns "
                       "the directory", (unsigned long long)k);
            break;
        }
        if ((rc = grow_members(fn, z)))
            break;
        npz_member *m = &z->m[z->count];
        memset(m, 0, sizeof *m);
        m->flags = (uint16_t)le16(c + 8);
        m->method = (uint16_t)le16(c + 10);
        m->crc = le32(c + 16);
        m->csize = le32(c + 20);
        m->usize = le32(c + 24);
        m->local = le32(c + 42);
        if (le16(c + 34) != 0) {
            rc = zfail(fn, z, TG_ERR_FORMAT, "multi-disk zip archives are not supported");
            break;
        }
        rc = zip64_extra(fn, z, c + CENTRAL_LEN + nlen, xlen, m,
                         m->usize == 0xFFFFFFFFu, m->csize == 0xFFFFFFFFu,
                         m->local == 0xFFFFFFFFu);
        if (rc)
            break;
        const char *nm = (const char *)c + CENTRAL_LEN;
        size_t keep = nlen >= 4 && !memcmp(nm + nlen - 4, ".npy", 4) ? nlen - 4 : nlen;
        if (memchr(nm, '\0', nlen)) {
            rc = zfail(fn, z, TG_ERR_FORMAT, "member %llu has a NUL in its name",
                       (unsigned long long)k);
            break;
        }
        m->name = tg__alloc(keep + 1);
        if (!m->name) {
            rc = tg__oom(fn);
            break;
        }
        m->name_cap = keep + 1;
        memcpy(m->name, nm, keep);
        m->name[keep] = '\0';
        z->count++;
        for (int j = 0; j < z->count - 1 && !rc; j++)
            if (!strcmp(z->m[j].name, m->name))
                rc = zfail(fn, z, TG_ERR_FORMAT, "duplicate member \"%.60s\"", m->name);
        at += CENTRAL_LEN + nlen + xlen + clen;
    }
    tg__dealloc(cd, cd_size ? (size_t)cd_size : 1);
    return rc;
}

/* ---- opening ---- */

static tg_npz *npz_new(const char *fn)
{
    tg_npz *z = tg__alloc(sizeof *z);
    if (!z) {
        tg__oom(fn);
        return NULL;
    }
    memset(z, 0, sizeof *z);
    return z;
}

tg_npz *tg_npz_open(const char *path)
{
    const char *fn = "tg_npz_open";
    if (!path) {
        tg__fail(TG_ERR_NULL, fn, "path is NULL");
        return NULL;
    }
    tg_npz *z = npz_new(fn);
    if (!z)
        return NULL;
    z->path_cap = strlen(path) + 1;
    if (!(z->path = tg__alloc(z->path_cap))) {
        z->path_cap = 0;
        tg__oom(fn);
        tg_npz_close(z);
        return NULL;
    }
    memcpy(z->path, path, z->path_cap);
    z->f = fopen(path, "rb");
    off_t end;
    if (!z->f || fseeko(z->f, 0, SEEK_END) != 0 || (end = ftello(z->f)) < 0) {
        tg__fail(TG_ERR_IO, fn, "cannot open '%s': %s", path, strerror(errno));
        tg_npz_close(z);
        return NULL;
    }
    z->len = (uint64_t)end;
    if (read_directory(fn, z)) {
        tg_npz_close(z);
        return NULL;
    }
    return z;
}

tg_npz *tg_npz_open_buffer(const void *buf, size_t len)
{
    const char *fn = "tg_npz_open_buffer";
    if (!buf) {
        tg__fail(TG_ERR_NULL, fn, "buffer is NULL");
        return NULL;
    }
    tg_npz *z = npz_new(fn);
    if (!z)
        return NULL;
    z->buf = buf;
    z->len = len;
    if (read_directory(fn, z)) {
        tg_npz_close(z);
        return NULL;
    }
    return z;
}

int tg_npz_count(const tg_npz *z)
{
    return z ? z->count : 0;
}

const char *tg_npz_name(const tg_npz *z, int i)
{
    return z && i >= 0 && i < z->count ? z->m[i].name : NULL;
}

/* ---- members ---- */

/* Inflates the raw deflate stream in (n bytes) into out (exactly want bytes). */
static int inflate_member(const char *fn, tg_npz *z, const npz_member *m,
                          const unsigned char *in, size_t n, unsigned char *out,
                          size_t want)
{
#ifdef TG_HAVE_ZLIB
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK)
        return zfail(fn, z, TG_ERR_NOMEM, "member \"%.60s\": zlib cannot start", m->name);
    int zr = Z_OK;
    size_t in_left = n, out_left = want;
    s.next_in = (unsigned char *)(uintptr_t)in;
    s.next_out = out;
    while (zr == Z_OK) {
        if (s.avail_in == 0 && in_left) {
            s.avail_in = in_left > 1u << 30 ? 1u << 30 : (uInt)in_left;
            in_left -= s.avail_in;
        }
        if (s.avail_out == 0 && out_left) {
            s.avail_out = out_left > 1u << 30 ? 1u << 30 : (uInt)out_left;
            out_left -= s.avail_out;
        }
        unsigned char spare;
        if (s.avail_out == 0) { /* all declared bytes out: is there more? */
            s.next_out = &spare;
            s.avail_out = 1;
            zr = inflate(&s, Z_FINISH);
            if (zr != Z_STREAM_END || s.avail_out == 0) {
                inflateEnd(&s);
                return zfail(fn, z, TG_ERR_FORMAT,
                             "member \"%.60s\" inflates to more than its declared "
                             "%zu bytes", m->name, want);
            }
            break;
        }
        zr = inflate(&s, Z_NO_FLUSH);
        if (zr == Z_BUF_ERROR && s.avail_in == 0 && in_left == 0)
            break;
    }
    size_t got = (size_t)s.total_out;
    inflateEnd(&s);
    if (zr != Z_STREAM_END)
        return zfail(fn, z, TG_ERR_FORMAT, "member \"%.60s\": bad deflate data (%s)",
                     m->name, zr == Z_BUF_ERROR ? "truncated" : "corrupt");
    if (got != want)
        return zfail(fn, z, TG_ERR_FORMAT,
                     "member \"%.60s\" inflates to %zu bytes, its entry says %zu",
                     m->name, got, want);
    return TG_OK;
#else
    (void)in; (void)n; (void)out; (void)want;
    return zfail(fn, z, TG_ERR_FORMAT,
                 "member \"%.60s\" is deflated (np.savez_compressed) and tapegrad "
                 "was built without zlib; rebuild with zlib1g-dev or save with "
                 "np.savez", m->name);
#endif
}

static tg_tensor *read_member(const char *fn, tg_npz *z, const npz_member *m)
{
    if (m->flags & 1) {
        zfail(fn, z, TG_ERR_FORMAT, "member \"%.60s\" is encrypted", m->name);
        return NULL;
    }
    if (m->method != 0 && m->method != 8) {
        zfail(fn, z, TG_ERR_FORMAT,
              "member \"%.60s\" uses compression method %u (tapegrad reads 0, "
              "stored, and 8, deflated)", m->name, m->method);
        return NULL;
    }
    if (m->method == 0 ? m->csize != m->usize
                       : m->usize / MAX_RATIO > m->csize) {
        zfail(fn, z, TG_ERR_FORMAT,
              "member \"%.60s\": %llu bytes cannot %s %llu bytes", m->name,
              (unsigned long long)m->csize,
              m->method == 0 ? "be stored as" : "inflate to",
              (unsigned long long)m->usize);
        return NULL;
    }
    unsigned char lh[LOCAL_LEN];
    if (zread(fn, z, m->local, lh, LOCAL_LEN, "a local header"))
        return NULL;
    if (le32(lh) != SIG_LOCAL) {
        zfail(fn, z, TG_ERR_FORMAT, "member \"%.60s\": bad local header signature",
              m->name);
        return NULL;
    }
    if (le16(lh + 8) != m->method) {
        zfail(fn, z, TG_ERR_FORMAT,
              "member \"%.60s\": local header and directory disagree on the method",
              m->name);
        return NULL;
    }
    uint64_t data = m->local + LOCAL_LEN + le16(lh + 26) + le16(lh + 28);
    if (data > z->len || m->csize > z->len - data) {
        zfail(fn, z, TG_ERR_FORMAT,
              "member \"%.60s\": %llu bytes of data at offset %llu lie outside the "
              "%llu-byte file", m->name, (unsigned long long)m->csize,
              (unsigned long long)data, (unsigned long long)z->len);
        return NULL;
    }
    size_t cs = (size_t)m->csize, us = (size_t)m->usize;
    unsigned char *comp = NULL, *raw;
    size_t comp_cap = 0;
    if (z->buf && m->method == 0) {
        raw = (unsigned char *)(uintptr_t)(z->buf + data);
    } else {
        comp_cap = cs ? cs : 1;
        if (!(comp = tg__alloc(comp_cap))) {
            tg__oom(fn);
            return NULL;
        }
        if (zread(fn, z, data, comp, cs, "member data")) {
            tg__dealloc(comp, comp_cap);
            return NULL;
        }
        raw = comp;
    }
    unsigned char *out = NULL;
    size_t out_cap = 0;
    int rc = TG_OK;
    if (m->method == 8) {
        out_cap = us ? us : 1;
        if (!(out = tg__alloc(out_cap)))
            rc = tg__oom(fn);
        else
            rc = inflate_member(fn, z, m, raw, cs, out, us);
        raw = out;
    }
    if (!rc && crc32_of(raw, us) != m->crc)
        rc = zfail(fn, z, TG_ERR_FORMAT, "member \"%.60s\": CRC-32 mismatch (corrupt "
                   "archive)", m->name);
    tg_tensor *t = NULL;
    if (!rc && !(t = tg_load_npy_buffer(raw, us))) {
        char why[300];
        const char *msg = tg_last_message();
        const char *skip = strstr(msg, ": ");
        snprintf(why, sizeof why, "%s", skip ? skip + 2 : msg);
        zfail(fn, z, tg_last_error(), "member \"%.60s\": %s", m->name, why);
    }
    tg__dealloc(out, out_cap);
    tg__dealloc(comp, comp_cap);
    return t;
}

tg_tensor *tg_npz_get(tg_npz *z, const char *name)
{
    const char *fn = "tg_npz_get";
    if (!z || !name) {
        tg__fail(TG_ERR_NULL, fn, "%s is NULL", z ? "name" : "archive");
        return NULL;
    }
    size_t n = strlen(name);
    size_t key = n >= 4 && !strcmp(name + n - 4, ".npy") ? n - 4 : n;
    for (int i = 0; i < z->count; i++)
        if (strlen(z->m[i].name) == key && !memcmp(z->m[i].name, name, key))
            return read_member(fn, z, &z->m[i]);
    zfail(fn, z, TG_ERR_INDEX, "no array named \"%.60s\"", name);
    return NULL;
}

tg_tensor *tg_load_npz(const char *path, const char *name)
{
    const char *fn = "tg_load_npz";
    if (!path || !name) {
        tg__fail(TG_ERR_NULL, fn, "%s is NULL", path ? "name" : "path");
        return NULL;
    }
    tg_npz *z = tg_npz_open(path);
    tg_tensor *t = z ? tg_npz_get(z, name) : NULL;
    if (!t) { /* the same message under this function's name */
        char why[400];
        const char *msg = tg_last_message();
        const char *skip = strstr(msg, ": ");
        snprintf(why, sizeof why, "%s", skip ? skip + 2 : msg);
        tg__fail(tg_last_error(), fn, "%s", why);
    }
    tg_npz_close(z);
    return t;
}
