/* safetensors.c - the safetensors reader and writer (format in
 * safetensors.h). The header is untrusted JSON: it is parsed by a small
 * strict grammar that knows the schema (an object of tensor objects and
 * one metadata object of strings), so nothing nests deeper than two
 * levels, and every number, range and name is checked before any data is
 * read or any tensor allocated. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "safetensors.h"

/* ---- dtypes ---------------------------------------------------------------- */

typedef struct st_dtype_info {
    const char *name;
    unsigned size;
    int tg; /* tapegrad's dtype, or -1 */
} st_dtype_info;

static const st_dtype_info st_dtypes[] = {
    {"F64", 8, TG_FLOAT64}, {"F32", 4, TG_FLOAT32}, {"I64", 8, TG_INT64},
    {"I32", 4, TG_INT32},   {"U8", 1, TG_UINT8},    {"BOOL", 1, TG_BOOL},
    {"F16", 2, -1},         {"BF16", 2, -1},        {"I8", 1, -1},
    {"I16", 2, -1},         {"U16", 2, -1},         {"U32", 4, -1},
    {"U64", 8, -1},         {"F8_E5M2", 1, -1},     {"F8_E4M3", 1, -1},
};
#define ST_NDTYPES (int)(sizeof st_dtypes / sizeof st_dtypes[0])

static const char *st_name_of(tg_dtype dt)
{
    for (int i = 0; i < ST_NDTYPES; i++)
        if (st_dtypes[i].tg == (int)dt)
            return st_dtypes[i].name;
    return "?";
}

static bool little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void swap_bytes(unsigned char *p, size_t count, size_t width)
{
    for (size_t i = 0; i < count; i++, p += width)
        for (size_t a = 0, b = width - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* ---- the handle ------------------------------------------------------------ */

typedef struct st_entry {
    char *name;      /* NUL-terminated, allocated with name_cap bytes */
    size_t name_cap;
    int dt;          /* index into st_dtypes */
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    uint64_t begin, end; /* within the data section */
} st_entry;

typedef struct st_meta {
    char *key, *value;
    size_t key_cap, value_cap;
} st_meta;

struct tg_safetensors {
    FILE *f;                  /* or */
    const unsigned char *buf; /* an image in memory */
    uint64_t len;             /* bytes in the file or image */
    char *path;               /* for messages; NULL for an image */
    size_t path_cap;
    uint64_t data_start;      /* 8 + header length */
    int count, cap;
    st_entry *e;
    int nmeta, meta_cap;
    st_meta *meta;
};

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int st_fail(const char *fn, const char *path, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tg__vfail_at(code, fn, path, fmt, ap);
    va_end(ap);
    return rc;
}

/* Reads n bytes at off (off + n within the file, checked by the caller). */
static int st_read(const char *fn, tg_safetensors *st, uint64_t off, void *dst,
                   size_t n)
{
    if (n == 0)
        return TG_OK;
    if (st->buf) {
        memcpy(dst, st->buf + off, n);
        return TG_OK;
    }
    if (off > (uint64_t)INT64_MAX || fseeko(st->f, (off_t)off, SEEK_SET) != 0 ||
        fread(dst, 1, n, st->f) != n)
        return st_fail(fn, st->path, TG_ERR_IO, "cannot read: %s",
                       ferror(st->f) ? strerror(errno) : "file shrank");
    return TG_OK;
}

void tg_safetensors_close(tg_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->count; i++)
        tg__dealloc(st->e[i].name, st->e[i].name_cap);
    tg__dealloc(st->e, (size_t)st->cap * sizeof *st->e);
    for (int i = 0; i < st->nmeta; i++) {
        tg__dealloc(st->meta[i].key, st->meta[i].key_cap);
        tg__dealloc(st->meta[i].value, st->meta[i].value_cap);
    }
    tg__dealloc(st->meta, (size_t)st->meta_cap * sizeof *st->meta);
    if (st->f)
        fclose(st->f);
    tg__dealloc(st->path, st->path_cap);
    tg__dealloc(st, sizeof *st);
}

/* ---- the JSON header ---------------------------------------------------------- */

typedef struct jcur {
    const char *fn, *path;
    const unsigned char *p, *end, *start;
} jcur;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int jfail(const jcur *c, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return st_fail(c->fn, c->path, TG_ERR_FORMAT, "bad header at byte %zu: %s",
                   (size_t)(c->p - c->start), why);
}

static void jspace(jcur *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool jtake(jcur *c, char ch)
{
    jspace(c);
    if (c->p < c->end && *c->p == (unsigned char)ch) {
        c->p++;
        return true;
    }
    return false;
}

static int hexval(unsigned char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    if (h >= 'a' && h <= 'f')
        return h - 'a' + 10;
    if (h >= 'A' && h <= 'F')
        return h - 'A' + 10;
    return -1;
}

static int take_hex4(jcur *c, unsigned *out)
{
    if (c->end - c->p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(c->p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    c->p += 4;
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned b = p[0];
    size_t len;
    unsigned cp, min;
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf) {
        len = 2; cp = b & 0x1f; min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3; cp = b & 0x0f; min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4; cp = b & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A JSON string, decoded into a fresh NUL-terminated buffer of *cap bytes
 * (*out, caller frees with tg__dealloc). A decoded NUL is refused: names
 * and metadata are C strings. */
static int jstring(jcur *c, char **out, size_t *cap)
{
    jspace(c);
    if (c->p >= c->end || *c->p != '"')
        return jfail(c, "expected a string");
    c->p++;
    /* Find the closing quote; the decoded text is never longer. */
    const unsigned char *q = c->p;
    while (q < c->end && *q != '"')
        q += (*q == '\\' && q + 1 < c->end) ? 2 : 1;
    if (q >= c->end)
        return jfail(c, "unterminated string");
    size_t n = (size_t)(q - c->p) + 1;
    unsigned char *s = tg__alloc(n);
    if (!s)
        return tg__oom(c->fn);
    size_t k = 0;
    int rc = TG_OK;
    while (c->p < q) {
        unsigned char b = *c->p;
        if (b < 0x20) {
            rc = jfail(c, "control character in a string");
            break;
        }
        if (b != '\\') {
            size_t l = utf8_len(c->p, (size_t)(q - c->p));
            if (!l) {
                rc = jfail(c, "invalid UTF-8 in a string");
                break;
            }
            memcpy(s + k, c->p, l);
            k += l;
            c->p += l;
            continue;
        }
        c->p++;
        unsigned char e = *c->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            s[k++] = (unsigned char)map[simple - "\"\\/bfnrt"];
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || take_hex4(c, &cp)) {
            rc = jfail(c, "bad escape in a string");
            break;
        }
        if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair */
            if (q - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
                (c->p += 2, take_hex4(c, &lo)) || lo < 0xdc00 || lo > 0xdfff) {
                rc = jfail(c, "unpaired surrogate in a string");
                break;
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            rc = jfail(c, "unpaired surrogate in a string");
            break;
        }
        if (cp == 0) {
            rc = jfail(c, "NUL character in a string");
            break;
        }
        k += put_utf8(s + k, cp);
    }
    if (rc) {
        tg__dealloc(s, n);
        return rc;
    }
    s[k] = '\0';
    c->p = q + 1;
    *out = (char *)s;
    *cap = n;
    return TG_OK;
}

/* A non-negative JSON integer below 2^63 (no sign, fraction or exponent). */
static int juint(jcur *c, uint64_t *out)
{
    jspace(c);
    const unsigned char *q = c->p;
    if (q >= c->end || *q < '0' || *q > '9')
        return jfail(c, "expected a non-negative integer");
    if (*q == '0' && q + 1 < c->end && q[1] >= '0' && q[1] <= '9')
        return jfail(c, "integer with a leading zero");
    uint64_t v = 0;
    for (; q < c->end && *q >= '0' && *q <= '9'; q++) {
        if (v > ((uint64_t)INT64_MAX - (uint64_t)(*q - '0')) / 10)
            return jfail(c, "integer too large");
        v = v * 10 + (uint64_t)(*q - '0');
    }
    if (q < c->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return jfail(c, "expected an integer, found a fraction or exponent");
    c->p = q;
    *out = v;
    return TG_OK;
}

/* Grows an array of *cap elements of size sz to hold one more than used. */
static int grow(const char *fn, void **arr, int *cap, int used, size_t sz)
{
    if (used < *cap)
        return TG_OK;
    int ncap = *cap ? *cap * 2 : 8;
    void *p = tg__realloc(*arr, (size_t)*cap * sz, (size_t)ncap * sz);
    if (!p)
        return tg__oom(fn);
    *arr = p;
    *cap = ncap;
    return TG_OK;
}

static int parse_metadata(jcur *c, tg_safetensors *st)
{
    if (!jtake(c, '{'))
        return jfail(c, "\"__metadata__\" is not an object");
    if (jtake(c, '}'))
        return TG_OK;
    for (;;) {
        int rc = grow(c->fn, (void **)&st->meta, &st->meta_cap, st->nmeta,
                      sizeof *st->meta);
        if (rc)
            return rc;
        st_meta *m = &st->meta[st->nmeta];
        memset(m, 0, sizeof *m);
        if ((rc = jstring(c, &m->key, &m->key_cap)))
            return rc;
        st->nmeta++; /* owned from here on */
        if (!jtake(c, ':'))
            return jfail(c, "expected ':' in \"__metadata__\"");
        jspace(c);
        if (c->p < c->end && *c->p != '"')
            return jfail(c, "metadata value of \"%.40s\" is not a string", m->key);
        if ((rc = jstring(c, &m->value, &m->value_cap)))
            return rc;
        if (jtake(c, '}'))
            return TG_OK;
        if (!jtake(c, ','))
            return jfail(c, "expected ',' or '}' in \"__metadata__\"");
    }
}

static int parse_tensor(jcur *c, st_entry *e)
{
    bool seen_dtype = false, seen_shape = false, seen_offsets = false;
    if (!jtake(c, '{'))
        return jfail(c, "tensor \"%.60s\" is not an object", e->name);
    if (jtake(c, '}'))
        return jfail(c, "tensor \"%.60s\" has no fields", e->name);
    for (;;) {
        char *key;
        size_t kcap;
        int rc = jstring(c, &key, &kcap);
        if (rc)
            return rc;
        int which = !strcmp(key, "dtype") ? 0 : !strcmp(key, "shape") ? 1
                    : !strcmp(key, "data_offsets") ? 2 : -1;
        bool dup = (which == 0 && seen_dtype) || (which == 1 && seen_shape) ||
                   (which == 2 && seen_offsets);
        char kshow[24];
        snprintf(kshow, sizeof kshow, "%s", key);
        tg__dealloc(key, kcap);
        if (which < 0)
            return jfail(c, "tensor \"%.60s\" has an unknown field \"%s\"",
                         e->name, kshow);
        if (dup)
            return jfail(c, "tensor \"%.60s\" repeats \"%s\"", e->name, kshow);
        if (!jtake(c, ':'))
            return jfail(c, "expected ':' after \"%s\"", kshow);
        if (which == 0) {
            char *d;
            size_t dcap;
            if ((rc = jstring(c, &d, &dcap)))
                return rc;
            e->dt = -1;
            for (int i = 0; i < ST_NDTYPES; i++)
                if (!strcmp(d, st_dtypes[i].name))
                    e->dt = i;
            char dshow[16];
            snprintf(dshow, sizeof dshow, "%s", d);
            tg__dealloc(d, dcap);
            if (e->dt < 0)
                return jfail(c, "tensor \"%.60s\" has an unknown dtype \"%s\"",
                             e->name, dshow);
            seen_dtype = true;
        } else if (which == 1) {
            if (!jtake(c, '['))
                return jfail(c, "\"shape\" of \"%.60s\" is not an array", e->name);
            e->ndim = 0;
            if (!jtake(c, ']'))
                for (;;) {
                    uint64_t v;
                    if (e->ndim == TG_MAX_DIMS)
                        return jfail(c, "tensor \"%.60s\" has more than %d dimensions",
                                     e->name, TG_MAX_DIMS);
                    if ((rc = juint(c, &v)))
                        return rc;
                    e->shape[e->ndim++] = (int64_t)v;
                    if (jtake(c, ']'))
                        break;
                    if (!jtake(c, ','))
                        return jfail(c, "expected ',' or ']' in \"shape\"");
                }
            seen_shape = true;
        } else {
            if (!jtake(c, '['))
                return jfail(c, "\"data_offsets\" of \"%.60s\" is not an array",
                             e->name);
            if ((rc = juint(c, &e->begin)))
                return rc;
            if (!jtake(c, ','))
                return jfail(c, "\"data_offsets\" of \"%.60s\" is not [begin, end]",
                             e->name);
            if ((rc = juint(c, &e->end)))
                return rc;
            if (!jtake(c, ']'))
                return jfail(c, "\"data_offsets\" of \"%.60s\" is not [begin, end]",
                             e->name);
            seen_offsets = true;
        }
        if (jtake(c, '}'))
            break;
        if (!jtake(c, ','))
            return jfail(c, "expected ',' or '}' in tensor \"%.60s\"", e->name);
    }
    if (!seen_dtype || !seen_shape || !seen_offsets)
        return jfail(c, "tensor \"%.60s\" lacks \"%s\"", e->name,
                     !seen_dtype ? "dtype" : !seen_shape ? "shape" : "data_offsets");
    return TG_OK;
}

static int parse_header(jcur *c, tg_safetensors *st)
{
    bool seen_meta = false;
    if (!jtake(c, '{'))
        return jfail(c, "not a JSON object");
    if (!jtake(c, '}'))
        for (;;) {
            char *name;
            size_t cap;
            int rc = jstring(c, &name, &cap);
            if (rc)
                return rc;
            if (!jtake(c, ':')) {
                tg__dealloc(name, cap);
                return jfail(c, "expected ':' after a name");
            }
            if (!strcmp(name, "__metadata__")) {
                tg__dealloc(name, cap);
                if (seen_meta)
                    return jfail(c, "duplicate \"__metadata__\"");
                seen_meta = true;
                rc = parse_metadata(c, st);
            } else {
                rc = grow(c->fn, (void **)&st->e, &st->cap, st->count, sizeof *st->e);
                if (rc) {
                    tg__dealloc(name, cap);
                    return rc;
                }
                st_entry *e = &st->e[st->count++];
                memset(e, 0, sizeof *e);
                e->name = name;
                e->name_cap = cap;
                rc = parse_tensor(c, e);
            }
            if (rc)
                return rc;
            if (jtake(c, '}'))
                break;
            if (!jtake(c, ','))
                return jfail(c, "expected ',' or '}'");
        }
    /* The reference writer pads the header with spaces. */
    while (c->p < c->end && *c->p == ' ')
        c->p++;
    if (c->p != c->end)
        return jfail(c, "unexpected text after the JSON object");
    return TG_OK;
}

/* ---- checks on the parsed header ------------------------------------------------- */

/* qsort comparators over arrays of pointers (no shared state, so opening
 * files on several threads at once is safe). */
static int by_name(const void *a, const void *b)
{
    return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

static int by_meta_key(const void *a, const void *b)
{
    return strcmp((*(const st_meta *const *)a)->key, (*(const st_meta *const *)b)->key);
}

static int by_offset(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int check_entries(const char *fn, tg_safetensors *st, uint64_t data_len)
{
    int n = st->count > st->nmeta ? st->count : st->nmeta;
    if (n == 0)
        return TG_OK;
    size_t psz = (size_t)n * sizeof(void *);
    const st_entry **ep = tg__alloc(psz);
    if (!ep)
        return tg__oom(fn);
    const st_meta **mp = (const st_meta **)(void *)ep; /* the same block, reused */
    int rc = TG_OK;
    char sb[TG__SHAPE_BUF];
    /* Each tensor's byte count follows from its dtype and shape. */
    for (int i = 0; i < st->count && !rc; i++) {
        st_entry *e = &st->e[i];
        uint64_t bytes = st_dtypes[e->dt].size;
        for (int k = 0; k < e->ndim && !rc; k++) {
            if (e->shape[k] != 0 && bytes > (uint64_t)INT64_MAX / (uint64_t)e->shape[k])
                rc = st_fail(fn, st->path, TG_ERR_FORMAT,
                             "tensor \"%.60s\": shape %s overflows", e->name,
                             tg__shape_fmt(e->ndim, e->shape, sb, sizeof sb));
            else
                bytes *= (uint64_t)e->shape[k];
        }
        if (!rc && e->begin > e->end)
            rc = st_fail(fn, st->path, TG_ERR_FORMAT,
                         "tensor \"%.60s\": data_offsets [%llu, %llu] end before "
                         "they begin", e->name, (unsigned long long)e->begin,
                         (unsigned long long)e->end);
        if (!rc && e->end - e->begin != bytes)
            rc = st_fail(fn, st->path, TG_ERR_FORMAT,
                         "tensor \"%.60s\": %s %s needs %llu bytes, data_offsets "
                         "[%llu, %llu] hold %llu", e->name, st_dtypes[e->dt].name,
                         tg__shape_fmt(e->ndim, e->shape, sb, sizeof sb),
                         (unsigned long long)bytes, (unsigned long long)e->begin,
                         (unsigned long long)e->end,
                         (unsigned long long)(e->end - e->begin));
    }
    /* Unique names. */
    for (int i = 0; i < st->count; i++)
        ep[i] = &st->e[i];
    if (!rc)
        qsort(ep, (size_t)st->count, sizeof *ep, by_name);
    for (int i = 1; i < st->count && !rc; i++)
        if (!strcmp(ep[i]->name, ep[i - 1]->name))
            rc = st_fail(fn, st->path, TG_ERR_FORMAT, "duplicate tensor \"%.60s\"",
                         ep[i]->name);
    for (int i = 0; i < st->nmeta; i++)
        mp[i] = &st->meta[i];
    if (!rc)
        qsort(mp, (size_t)st->nmeta, sizeof *mp, by_meta_key);
    for (int i = 1; i < st->nmeta && !rc; i++)
        if (!strcmp(mp[i]->key, mp[i - 1]->key))
            rc = st_fail(fn, st->path, TG_ERR_FORMAT,
                         "duplicate metadata key \"%.60s\"", mp[i]->key);
    /* The ranges, in order of offset, tile the data section exactly. */
    for (int i = 0; i < st->count; i++)
        ep[i] = &st->e[i];
    if (!rc)
        qsort(ep, (size_t)st->count, sizeof *ep, by_offset);
    uint64_t at = 0;
    for (int i = 0; i < st->count && !rc; i++) {
        const st_entry *e = ep[i];
        if (e->begin != at)
            rc = st_fail(fn, st->path, TG_ERR_FORMAT,
                         "tensor \"%.60s\": data_offsets [%llu, %llu] %s (expected "
                         "it to begin at %llu)", e->name,
                         (unsigned long long)e->begin, (unsigned long long)e->end,
                         e->begin < at ? "overlap another tensor's"
                                       : "leave a gap after the previous tensor",
                         (unsigned long long)at);
        at = e->end;
    }
    if (!rc && at != data_len)
        rc = st_fail(fn, st->path, TG_ERR_FORMAT,
                     at > data_len ? "truncated: the tensors need %llu bytes of "
                                     "data, the file has %llu"
                                   : "the tensors cover %llu bytes of data, the "
                                     "file has %llu (trailing bytes)",
                     (unsigned long long)at, (unsigned long long)data_len);
    tg__dealloc(ep, psz);
    return rc;
}

/* ---- opening ------------------------------------------------------------------- */

static tg_safetensors *st_open(const char *fn, tg_safetensors *st)
{
    unsigned char pre[8];
    if (st->len < 8) {
        st_fail(fn, st->path, TG_ERR_FORMAT,
                "truncated: %llu bytes, too short for a safetensors header length",
                (unsigned long long)st->len);
        goto fail;
    }
    if (st_read(fn, st, 0, pre, 8))
        goto fail;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | pre[i];
    if (n < 2 || n > TG_SAFETENSORS_MAX_HEADER) {
        st_fail(fn, st->path, TG_ERR_FORMAT,
                "bad header length %llu (not a safetensors file? at most %u)",
                (unsigned long long)n, TG_SAFETENSORS_MAX_HEADER);
        goto fail;
    }
    if (n > st->len - 8) {
        st_fail(fn, st->path, TG_ERR_FORMAT,
                "truncated: header length %llu but %llu bytes follow",
                (unsigned long long)n, (unsigned long long)(st->len - 8));
        goto fail;
    }
    st->data_start = 8 + n;
    unsigned char *h;
    if (st->buf) {
        h = (unsigned char *)(uintptr_t)(st->buf + 8);
    } else {
        h = tg__alloc((size_t)n);
        if (!h) {
            tg__oom(fn);
            goto fail;
        }
        if (st_read(fn, st, 8, h, (size_t)n)) {
            tg__dealloc(h, (size_t)n);
            goto fail;
        }
    }
    jcur c = {fn, st->path, h, h + n, h};
    int rc;
    if (h[0] != '{')
        rc = st_fail(fn, st->path, TG_ERR_FORMAT,
                     "header does not start with '{' (not a safetensors file)");
    else
        rc = parse_header(&c, st);
    if (!st->buf)
        tg__dealloc(h, (size_t)n);
    if (rc || check_entries(fn, st, st->len - st->data_start))
        goto fail;
    return st;
fail:
    tg_safetensors_close(st);
    return NULL;
}

static tg_safetensors *st_new(const char *fn)
{
    tg_safetensors *st = tg__alloc(sizeof *st);
    if (!st) {
        tg__oom(fn);
        return NULL;
    }
    memset(st, 0, sizeof *st);
    return st;
}

tg_safetensors *tg_safetensors_open(const char *path)
{
    const char *fn = "tg_safetensors_open";
    if (!path) {
        tg__fail(TG_ERR_NULL, fn, "path is NULL");
        return NULL;
    }
    tg_safetensors *st = st_new(fn);
    if (!st)
        return NULL;
    st->path_cap = strlen(path) + 1;
    st->path = tg__alloc(st->path_cap);
    if (!st->path) {
        st->path_cap = 0;
        tg__oom(fn);
        tg_safetensors_close(st);
        return NULL;
    }
    memcpy(st->path, path, st->path_cap);
    st->f = fopen(path, "rb");
    off_t end;
    if (!st->f || fseeko(st->f, 0, SEEK_END) != 0 || (end = ftello(st->f)) < 0) {
        tg__fail(TG_ERR_IO, fn, "cannot open '%s': %s", path, strerror(errno));
        tg_safetensors_close(st);
        return NULL;
    }
    st->len = (uint64_t)end;
    return st_open(fn, st);
}

tg_safetensors *tg_safetensors_open_buffer(const void *buf, size_t len)
{
    const char *fn = "tg_safetensors_open_buffer";
    if (!buf) {
        tg__fail(TG_ERR_NULL, fn, "buffer is NULL");
        return NULL;
    }
    tg_safetensors *st = st_new(fn);
    if (!st)
        return NULL;
    st->buf = buf;
    st->len = len;
    return st_open(fn, st);
}

/* ---- queries ---------------------------------------------------------------------- */

int tg_safetensors_count(const tg_safetensors *st)
{
    return st ? st->count : 0;
}

const char *tg_safetensors_name(const tg_safetensors *st, int i)
{
    return st && i >= 0 && i < st->count ? st->e[i].name : NULL;
}

int tg_safetensors_find(const tg_safetensors *st, const char *name)
{
    if (!st || !name)
        return -1;
    for (int i = 0; i < st->count; i++)
        if (!strcmp(st->e[i].name, name))
            return i;
    return -1;
}

int tg_safetensors_info(const tg_safetensors *st, int i, int *dtype, int *ndim,
                        int64_t *shape, const char **st_dtype)
{
    const char *fn = "tg_safetensors_info";
    if (!st)
        return tg__fail(TG_ERR_NULL, fn, "handle is NULL");
    if (i < 0 || i >= st->count)
        return tg__fail(TG_ERR_INDEX, fn, "entry %d out of range [0, %d)", i,
                        st->count);
    const st_entry *e = &st->e[i];
    if (dtype)
        *dtype = st_dtypes[e->dt].tg;
    if (ndim)
        *ndim = e->ndim;
    if (shape)
        memcpy(shape, e->shape, (size_t)e->ndim * sizeof *shape);
    if (st_dtype)
        *st_dtype = st_dtypes[e->dt].name;
    return TG_OK;
}

tg_tensor *tg_safetensors_get(tg_safetensors *st, const char *name)
{
    const char *fn = "tg_safetensors_get";
    if (!st || !name) {
        tg__fail(TG_ERR_NULL, fn, "%s is NULL", st ? "name" : "handle");
        return NULL;
    }
    int i = tg_safetensors_find(st, name);
    if (i < 0) {
        st_fail(fn, st->path, TG_ERR_INDEX, "no tensor named \"%.60s\"", name);
        return NULL;
    }
    const st_entry *e = &st->e[i];
    if (st_dtypes[e->dt].tg < 0) {
        st_fail(fn, st->path, TG_ERR_FORMAT,
                "tensor \"%.60s\" has dtype %s, which tapegrad does not have "
                "(it reads F32, F64, I32, I64, U8 and BOOL)",
                name, st_dtypes[e->dt].name);
        return NULL;
    }
    tg_dtype dt = (tg_dtype)st_dtypes[e->dt].tg;
    int64_t numel;
    if (tg__check_shape(fn, e->ndim, e->shape, dt, &numel))
        return NULL;
    tg_tensor *t = tg__new(fn, dt, e->ndim, e->shape);
    if (!t)
        return NULL;
    size_t nb = (size_t)(e->end - e->begin);
    if (st_read(fn, st, st->data_start + e->begin, t->storage->data, nb)) {
        tg_free(t);
        return NULL;
    }
    if (!little_endian())
        swap_bytes(t->storage->data, (size_t)numel, st_dtypes[e->dt].size);
    if (dt == TG_BOOL) { /* a byte other than 0 or 1 reads as true */
        uint8_t *p = t->storage->data;
        for (size_t k = 0; k < nb; k++)
            p[k] = p[k] != 0;
    }
    return t;
}

const char *tg_safetensors_meta(const tg_safetensors *st, const char *key)
{
    if (!st || !key)
        return NULL;
    for (int i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta[i].key, key))
            return st->meta[i].value;
    return NULL;
}

int tg_safetensors_meta_count(const tg_safetensors *st)
{
    return st ? st->nmeta : 0;
}

int tg_safetensors_meta_at(const tg_safetensors *st, int i, const char **key,
                           const char **value)
{
    const char *fn = "tg_safetensors_meta_at";
    if (!st)
        return tg__fail(TG_ERR_NULL, fn, "handle is NULL");
    if (i < 0 || i >= st->nmeta)
        return tg__fail(TG_ERR_INDEX, fn, "pair %d out of range [0, %d)", i, st->nmeta);
    if (key)
        *key = st->meta[i].key;
    if (value)
        *value = st->meta[i].value;
    return TG_OK;
}

/* ---- writing ------------------------------------------------------------------------ */

/* A growing text buffer; a failed allocation sets oom and stops appending. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *q = tg__realloc(b->p, b->cap, ncap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* s as a JSON string literal: quotes, backslashes and control characters
 * escaped, everything else (UTF-8 included) as is. */
static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            sb_put(b, esc, 2);
        } else if (ch < 0x20) { /* JSON's short forms where it has them */
            const char *sh = strchr("\b\f\n\r\t", ch);
            if (ch && sh) {
                esc[0] = '\\';
                esc[1] = "bfnrt"[sh - "\b\f\n\r\t"];
                sb_put(b, esc, 2);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", ch);
                sb_put(b, esc, 6);
            }
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* One tensor to write, with its name. */
typedef struct st_item {
    const char *name;
    const tg_tensor *t;
} st_item;

/* The reference writer's order: larger elements first, then by name. */
static int write_order(const void *a, const void *b)
{
    const st_item *x = a, *y = b;
    size_t sx = tg_dtype_size(x->t->dtype), sy = tg_dtype_size(y->t->dtype);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool valid_utf8(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len((const unsigned char *)s + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

/* Writes t's elements in C order, little-endian. */
static int write_tensor(const char *fn, const char *path, FILE *f, const tg_tensor *t)
{
    if (t->numel == 0)
        return TG_OK;
    const tg_tensor *c = t;
    tg_tensor *tmp = NULL;
    if (!tg_is_contiguous(t)) {
        if (!(tmp = tg__clone(fn, t)))
            return tg_last_error();
        c = tmp;
    }
    size_t w = tg_dtype_size(c->dtype), n = (size_t)c->numel;
    const unsigned char *p = tg_data(c);
    bool ok = true;
    if (little_endian()) {
        ok = fwrite(p, w, n, f) == n;
    } else {
        unsigned char chunk[4096];
        for (size_t i = 0; i < n && ok;) {
            size_t k = n - i < sizeof chunk / w ? n - i : sizeof chunk / w;
            memcpy(chunk, p + i * w, k * w);
            swap_bytes(chunk, k, w);
            ok = fwrite(chunk, w, k, f) == k;
            i += k;
        }
    }
    tg_free(tmp);
    return ok ? TG_OK
              : st_fail(fn, path, TG_ERR_IO, "cannot write: %s", strerror(errno));
}

int tg_save_safetensors(const char *path, int n, const char *const *names,
                        const tg_tensor *const *tensors, const char *const *meta)
{
    const char *fn = "tg_save_safetensors";
    if (!path)
        return tg__fail(TG_ERR_NULL, fn, "path is NULL");
    if (n < 0)
        return tg__fail(TG_ERR_VALUE, fn, "count %d is negative", n);
    if (n > 0 && (!names || !tensors))
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", names ? "tensors" : "names");
    for (int i = 0; i < n; i++) {
        if (!names[i] || !tensors[i])
            return tg__fail(TG_ERR_NULL, fn, "%s %d is NULL",
                            names[i] ? "tensor" : "name", i);
        if (!names[i][0] || !strcmp(names[i], "__metadata__") || !valid_utf8(names[i]))
            return tg__fail(TG_ERR_VALUE, fn,
                            "name %d (\"%.60s\") is empty, \"__metadata__\" or not "
                            "UTF-8", i, names[i]);
        if (!tg__valid_dtype(tensors[i]->dtype))
            return tg__fail(TG_ERR_DTYPE, fn, "tensor \"%.60s\" has an unknown dtype",
                            names[i]);
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j]))
                return tg__fail(TG_ERR_VALUE, fn, "duplicate name \"%.60s\"", names[i]);
    }
    int nmeta = 0;
    for (; meta && meta[2 * nmeta]; nmeta++) {
        const char *k = meta[2 * nmeta], *v = meta[2 * nmeta + 1];
        if (!v)
            return tg__fail(TG_ERR_NULL, fn, "metadata value of \"%.60s\" is NULL", k);
        if (!valid_utf8(k) || !valid_utf8(v))
            return tg__fail(TG_ERR_VALUE, fn, "metadata \"%.60s\" is not UTF-8", k);
        for (int j = 0; j < nmeta; j++)
            if (!strcmp(k, meta[2 * j]))
                return tg__fail(TG_ERR_VALUE, fn, "duplicate metadata key \"%.60s\"", k);
    }

    size_t isz = (size_t)(n ? n : 1) * sizeof(st_item);
    st_item *order = tg__alloc(isz);
    if (!order)
        return tg__oom(fn);
    for (int i = 0; i < n; i++) {
        order[i].name = names[i];
        order[i].t = tensors[i];
    }
    qsort(order, (size_t)n, sizeof *order, write_order);

    sbuf h = {0};
    sb_str(&h, "{");
    if (nmeta) {
        sb_str(&h, "\"__metadata__\":{");
        for (int j = 0; j < nmeta; j++) {
            if (j)
                sb_str(&h, ",");
            sb_json(&h, meta[2 * j]);
            sb_str(&h, ":");
            sb_json(&h, meta[2 * j + 1]);
        }
        sb_str(&h, "}");
    }
    uint64_t at = 0;
    for (int k = 0; k < n; k++) {
        const tg_tensor *t = order[k].t;
        char num[64];
        if (k || nmeta)
            sb_str(&h, ",");
        sb_json(&h, order[k].name);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, st_name_of(t->dtype));
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            sb_str(&h, num);
        }
        uint64_t nb = (uint64_t)t->numel * tg_dtype_size(t->dtype);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}",
                 (unsigned long long)at, (unsigned long long)(at + nb));
        sb_str(&h, num);
        at += nb;
    }
    sb_str(&h, "}");
    while (!h.oom && h.len % 8) /* the data section starts 8-aligned */
        sb_str(&h, " ");
    int rc = TG_OK;
    if (h.oom)
        rc = tg__oom(fn);
    else if (h.len > TG_SAFETENSORS_MAX_HEADER)
        rc = tg__fail(TG_ERR_VALUE, fn, "header of %zu bytes exceeds %u", h.len,
                      TG_SAFETENSORS_MAX_HEADER);

    /* Write beside the target, then rename over it. */
    size_t tcap = strlen(path) + 5;
    char *tmp = rc ? NULL : tg__alloc(tcap);
    if (!rc && !tmp)
        rc = tg__oom(fn);
    FILE *f = NULL;
    if (!rc) {
        snprintf(tmp, tcap, "%s.tmp", path);
        if (!(f = fopen(tmp, "wb")))
            rc = tg__fail(TG_ERR_IO, fn, "cannot create '%s': %s", tmp,
                          strerror(errno));
    }
    if (!rc) {
        unsigned char pre[8];
        for (int i = 0; i < 8; i++)
            pre[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
        if (fwrite(pre, 1, 8, f) != 8 || fwrite(h.p, 1, h.len, f) != h.len)
            rc = st_fail(fn, path, TG_ERR_IO, "cannot write: %s", strerror(errno));
        for (int k = 0; k < n && !rc; k++)
            rc = write_tensor(fn, path, f, order[k].t);
    }
    if (f && fclose(f) != 0 && !rc)
        rc = st_fail(fn, path, TG_ERR_IO, "cannot write: %s", strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = tg__fail(TG_ERR_IO, fn, "cannot rename '%s' to '%s': %s", tmp, path,
                      strerror(errno));
    if (rc && f)
        remove(tmp);
    tg__dealloc(tmp, tcap);
    tg__dealloc(h.p, h.cap);
    tg__dealloc(order, isz);
    return rc;
}
