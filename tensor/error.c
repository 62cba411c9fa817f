/* error.c - error codes, their fixed descriptions and the per-thread last
 * error message ("tg_add: shapes (3,4) and (5,) cannot be broadcast"). */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local int last_code;
static _Thread_local char last_msg[512];

static const char *const descriptions[TG_ERR_COUNT_] = {
    [TG_OK] = "no error",
    [TG_ERR_NULL] = "NULL argument",
    [TG_ERR_NOMEM] = "out of memory",
    [TG_ERR_DTYPE] = "dtype mismatch or unsupported dtype",
    [TG_ERR_SHAPE] = "shape mismatch",
    [TG_ERR_AXIS] = "axis out of range",
    [TG_ERR_INDEX] = "index out of range",
    [TG_ERR_VALUE] = "invalid argument value",
    [TG_ERR_OVERFLOW] = "size overflows",
    [TG_ERR_IO] = "input/output error",
    [TG_ERR_FORMAT] = "malformed or unsupported file",
    [TG_ERR_TAPE] = "autograd tape misuse",
};

const char *tg_strerror(int code)
{
    if (code < 0 || code >= TG_ERR_COUNT_)
        return "unknown error code";
    return descriptions[code];
}

int tg_last_error(void) { return last_code; }
const char *tg_last_message(void) { return last_msg; }

void tg_clear_error(void)
{
    last_code = TG_OK;
    last_msg[0] = '\0';
}

int tg__fail(int code, const char *fn, const char *fmt, ...)
{
    int n = snprintf(last_msg, sizeof last_msg, "%s: ", fn ? fn : "tapegrad");
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof last_msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last_msg + n, sizeof last_msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    last_code = code;
    return code;
}

int tg__vfail_at(int code, const char *fn, const char *path, const char *fmt,
                 va_list ap)
{
    char msg[300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (path)
        return tg__fail(code, fn, "%s: %s", path, msg);
    return tg__fail(code, fn, "%s", msg);
}

int tg__oom(const char *fn) { return tg__fail(TG_ERR_NOMEM, fn, "out of memory"); }
