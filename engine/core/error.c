/*
 * error.c - filling saga_error. Kept tiny and dependency-free so every module,
 * including the pure decision core, can report errors the same way.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

void saga_error_clear(saga_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
    err->hint[0] = '\0';
}

int saga_error_set(saga_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    err->hint[0] = '\0';
    return code;
}

void saga_error_hint(saga_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof err->hint, fmt, ap);
    va_end(ap);
}

const char *saga_strerror(int code)
{
    switch (code) {
    case SAGA_OK: return "ok";
    case SAGA_EINVAL: return "invalid input";
    case SAGA_ENOTFOUND: return "not found";
    case SAGA_ECONFLICT: return "conflict";
    case SAGA_EDB: return "database error";
    case SAGA_EKAFKA: return "kafka error";
    case SAGA_ENOMEM: return "out of memory";
    case SAGA_EIO: return "i/o error";
    case SAGA_ELIMIT: return "limit exceeded";
    case SAGA_EBUSY: return "busy, try again";
    default: return "unknown error";
    }
}
