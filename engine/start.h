/*
 * start.h - starting a saga: the C API an application calls.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * saga_start works inside the caller's own open transaction, so an order
 * service can insert its order row and start the saga atomically: both
 * commit or neither does. It validates the input against the definition
 * before touching the database (an invalid start stores nothing and leaves
 * the caller's transaction usable), inserts the saga, and asks sagad to run
 * it via NOTIFY, which PostgreSQL delivers only at commit. A repeated
 * idempotency key returns the existing saga instead of starting another.
 * A start may also set the saga's deadline, a start time in the future
 * (the saga is stored at once as SCHEDULED and starts when due) and tags
 * (business keys `sagactl list --tag` finds it by); docs/spec.md.
 *
 * A public header (installed): it includes only libpq, jansson and error.h.
 */
#ifndef SAGA_START_H
#define SAGA_START_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* A saga id as text (a UUID) and its NUL: the size of saga_start_result.id. */
#define SAGA_START_ID_SIZE 37

/* NOTIFY channel sagad listens on for sagas to wake now. */
#define SAGA_CHANNEL_WAKE "saga_wake"

typedef struct saga_start_req {
    const char *name;            /* definition name */
    int version;                 /* 0 = latest applied version */
    const char *input_json;      /* the input as JSON text (an object) */
    const char *idempotency_key; /* NULL or "" = none */
    const char *traceparent;     /* NULL or invalid = a new trace */
    int64_t deadline_ms;         /* > 0: overrides the definition's
                                    deadline_ms; 0 = the definition's */
    int64_t start_at_ms;         /* 0 = now; else when to start (ms since
                                    the epoch), which must be in the future */
    const char *tags_json;       /* NULL or a JSON object of string values:
                                    tags added to the definition's (these
                                    win on a shared key) */
} saga_start_req;

typedef struct saga_start_result {
    char id[SAGA_START_ID_SIZE];
    bool existed;                /* the key was known: id is the earlier saga */
    int version;                 /* the definition version used */
} saga_start_result;

/*
 * Starts a saga on conn (borrowed). If conn is inside a transaction, works
 * in it and does not commit; otherwise runs in a transaction of its own.
 * Returns 0, SAGA_ENOTFOUND (no such definition), SAGA_EINVAL (bad input,
 * message names the field; a start time in the past; a bad deadline or
 * tag) or SAGA_EDB.
 */
int saga_start(PGconn *conn, const saga_start_req *req, saga_start_result *res,
               saga_error *err);

#endif
