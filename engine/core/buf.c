/*
 * buf.c - a growable string (see buf.h).
 *
 * Capacity doubles from 64 bytes, so n appends cost O(total length) and a
 * short string costs one small allocation.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for `extra` more bytes and the NUL; false (and oom set) otherwise. */
static bool reserve(saga_buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void saga_buf_putn(saga_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void saga_buf_puts(saga_buf *b, const char *s)
{
    saga_buf_putn(b, s, strlen(s));
}

void saga_buf_vprintf(saga_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) {
        b->oom = true;
    } else if (reserve(b, (size_t)n)) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void saga_buf_printf(saga_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    saga_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

const char *saga_buf_str(const saga_buf *b)
{
    return b->p ? b->p : "";
}

void saga_buf_trunc(saga_buf *b, size_t len)
{
    if (b->p && len <= b->len) {
        b->len = len;
        b->p[len] = '\0';
    }
}

char *saga_buf_take(saga_buf *b)
{
    char *p = b->oom ? NULL : b->p ? b->p : strdup("");
    if (b->oom)
        free(b->p);
    *b = (saga_buf){0};
    return p;
}

void saga_buf_free(saga_buf *b)
{
    free(b->p);
    *b = (saga_buf){0};
}
