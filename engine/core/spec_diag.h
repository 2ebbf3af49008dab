/*
 * spec_diag.h - collecting a spec's diagnostics (private to the core: used
 * by spec*.c and jsonpos.c, not part of the public spec.h).
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * A spec_diag is the report of one saga_spec_parse run: the messages kept so
 * far (each already formatted "file:line:col: path: message"), how many errors
 * there were in all, whether one was a size limit or memory ran out, and the
 * JSON path of what is being looked at, which every message is prefixed
 * with. The reader and the validators push into it and never stop at the
 * first problem; spec_diag_flush sorts the messages by position at the end.
 * It also quotes user text for messages; messages are built in saga_bufs
 * (buf.h).
 */
#ifndef SAGA_SPEC_DIAG_H
#define SAGA_SPEC_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "spec.h"

/* How much of a user-supplied string a message quotes. */
#define SPEC_QUOTE_MAX 64

/* A quoted string for a message: s[0..n) in double quotes, JSON-escaped,
 * cut at SPEC_QUOTE_MAX bytes on a UTF-8 boundary, so that user text in a
 * message stays on one line and short. Each call site owns its buffer; the
 * returned pointer is into it. */
typedef struct spec_qbuf {
    char s[SPEC_QUOTE_MAX * 6 + 8];
} spec_qbuf;

const char *spec_quote(spec_qbuf *b, const char *s, size_t n);
const char *spec_quote_str(spec_qbuf *b, const char *s);

struct spec_msg;

/* Zero-initialise, then set file (borrowed, only quoted in messages). */
typedef struct spec_diag {
    const char *file;
    struct spec_msg *msgs;
    size_t n_msgs, cap_msgs;
    size_t n_errors;  /* all errors, kept or not */
    bool last_kept;   /* the latest error was kept: a hint may follow */
    bool limit;       /* some error was a size limit */
    bool oom;         /* memory ran out somewhere in the run */
    saga_buf path;    /* JSON path of what is being looked at */
} spec_diag;

/* Records an error at line:col about the current path; `limit` marks it as
 * a size limit. Past SAGA_SPEC_MAX_ERRORS it is counted, not kept. */
void spec_diag_verror(spec_diag *d, int line, int col, bool limit,
                      const char *fmt, va_list ap);
void __attribute__((format(printf, 4, 5)))
spec_diag_error(spec_diag *d, int line, int col, const char *fmt, ...);
void __attribute__((format(printf, 4, 5)))
spec_diag_limit(spec_diag *d, int line, int col, const char *fmt, ...);
/* Attaches a hint to the error just reported (if it was kept). */
void __attribute__((format(printf, 2, 3)))
spec_diag_hint(spec_diag *d, const char *fmt, ...);

/* Hints at the candidate closest to word ("did you mean"), or lists them
 * all ("<what>: a, b, c"); NULL candidates are skipped. */
void spec_diag_suggest(spec_diag *d, const char *word,
                       const char *const *cands, size_t n, const char *what);
/* Levenshtein distance, or SIZE_MAX for words too long to compare. */
size_t spec_edit_distance(const char *a, const char *b);

/* Appends ".key" to p (or ["key"] for keys that are not identifiers). */
void spec_path_put_key(saga_buf *p, const char *key);
/* Enter a member or an element: each returns a mark for spec_path_leave,
 * which restores the path to what it was (mark 0: the root). */
size_t spec_path_key(spec_diag *d, const char *key);
size_t spec_path_index(spec_diag *d, size_t i);
void spec_path_leave(spec_diag *d, size_t mark);

/* Moves the kept messages, sorted by position, into out (which may be
 * NULL: they are then dropped), then a line counting those not kept. */
void spec_diag_flush(spec_diag *d, saga_diag *out);
/* Frees what d holds (not d itself). */
void spec_diag_free(spec_diag *d);

#endif
