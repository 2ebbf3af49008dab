/*
 * buf.h - the one growable string: append text, take the result.
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * Several builders (payload rendering, spec messages, the /metrics page,
 * SQL assembled from filters) append many small pieces whose total size is
 * not known in advance. saga_buf doubles its capacity, keeps the text
 * NUL-terminated after every append, and makes running out of memory
 * sticky: appends after a failure do nothing, so a builder appends without
 * checking each call and asks once at the end (saga_buf_take returns NULL).
 * Pure: no I/O, so the core may use it.
 */
#ifndef SAGA_BUF_H
#define SAGA_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Zero-initialise ({0}) before use; the text is p[0..len), NUL-terminated
 * once anything was appended (p is NULL before). Owns p: release with
 * saga_buf_free, or take it with saga_buf_take. */
typedef struct saga_buf {
    char *p;
    size_t len, cap;
    bool oom; /* an append failed; the content is incomplete */
} saga_buf;

/* Appends n bytes of s (which may contain no NUL). */
void saga_buf_putn(saga_buf *b, const char *s, size_t n);
void saga_buf_puts(saga_buf *b, const char *s);
void saga_buf_printf(saga_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void saga_buf_vprintf(saga_buf *b, const char *fmt, va_list ap);

/* The text so far (borrowed, valid until the next append); "" when nothing
 * was appended. */
const char *saga_buf_str(const saga_buf *b);

/* Cuts the text back to its first len bytes (no-op when it is shorter):
 * undoes the appends made since b->len was len. */
void saga_buf_trunc(saga_buf *b, size_t len);

/* The text (owned by the caller, free()), "" when nothing was appended, or
 * NULL when an append ran out of memory. Leaves b empty either way. */
char *saga_buf_take(saga_buf *b);

/* Frees the text and leaves b empty. */
void saga_buf_free(saga_buf *b);

#endif
