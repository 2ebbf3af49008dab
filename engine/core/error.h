/*
 * error.h - the one error type every layer returns.
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * Functions return 0 or a negative SAGA_E* code and fill a caller-provided
 * saga_error with a message a human can act on (PostgreSQL style: lower case
 * primary message, optional hint). The CLI prints msg unchanged, so messages
 * never contain passwords. A fixed buffer keeps error paths allocation-free:
 * reporting "out of memory" must not itself need memory.
 */
#ifndef SAGA_ERROR_H
#define SAGA_ERROR_H

#include <stddef.h>

enum {
    SAGA_OK = 0,
    SAGA_EINVAL = -1,    /* bad input: spec, saga input, flag, message */
    SAGA_ENOTFOUND = -2, /* no such saga, definition, step */
    SAGA_ECONFLICT = -3, /* refused: immutable version, wrong state */
    SAGA_EDB = -4,       /* PostgreSQL failed or is unreachable */
    SAGA_EKAFKA = -5,    /* Kafka failed or is unreachable */
    SAGA_ENOMEM = -6,
    SAGA_EIO = -7,       /* file or socket */
    SAGA_ELIMIT = -8,    /* a documented size limit was exceeded */
    SAGA_EBUSY = -9      /* a lock or conflict a retry resolves (lock_timeout, deadlock) */
};

#define SAGA_ERROR_MSG_MAX 1024
#define SAGA_ERROR_HINT_MAX 512

typedef struct saga_error {
    int code;
    char msg[SAGA_ERROR_MSG_MAX];
    char hint[SAGA_ERROR_HINT_MAX]; /* "" when there is none */
} saga_error;

/* Clears err (code 0, empty strings). err may be NULL. */
void saga_error_clear(saga_error *err);

/* Sets code and a printf-formatted message, clears the hint; returns code so
 * callers can write `return saga_error_set(err, SAGA_EINVAL, "...")`.
 * err may be NULL (the message is dropped). */
int saga_error_set(saga_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the hint of an error already set. */
void saga_error_hint(saga_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short name of a code ("invalid input", "database error", ...). */
const char *saga_strerror(int code);

#endif
