/*
 * start.h - starting a saga: the C API an application calls.
 *
 * saga_start works inside the caller's own open transaction, so an order
 * service can insert its order row and start the saga atomically: both
 * commit or neither does. It validates the input against the definition
 * before touching the database (an invalid start stores nothing and leaves
 * the caller's transaction usable), inserts the saga, and asks sagad to run
 * it via NOTIFY, which PostgreSQL delivers only at commit. A repeated
 * idempotency key returns the existing saga instead of starting another.
 */
#ifndef SAGA_START_H
#define SAGA_START_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "error.h"
#include "store.h"
#include "trace.h"

/* NOTIFY channel sagad listens on for sagas to wake now. */
#define SAGA_CHANNEL_WAKE "saga_wake"

typedef struct saga_start_req {
    const char *name;            /* definition name */
    int version;                 /* 0 = latest applied version */
    const char *input_json;      /* the input as JSON text (an object) */
    const char *idempotency_key; /* NULL or "" = none */
    const char *traceparent;     /* NULL or invalid = a new trace */
} saga_start_req;

typedef struct saga_start_result {
    char id[SAGA_ID_LEN + 1];
    bool existed;                /* the key was known: id is the earlier saga */
    int version;                 /* the definition version used */
} saga_start_result;

/*
 * Starts a saga on conn (borrowed). If conn is inside a transaction, works
 * in it and does not commit; otherwise runs in a transaction of its own.
 * Returns 0, SAGA_ENOTFOUND (no such definition), SAGA_EINVAL (bad input,
 * message names the field) or SAGA_EDB.
 */
int saga_start(PGconn *conn, const saga_start_req *req, saga_start_result *res,
               saga_error *err);

/*
 * A start request checked against its definition, ready for
 * saga_store_create / saga_store_create_many. row borrows spec, input and
 * key from the caller and id and traceparent from this struct, so the item
 * must stay where it is until inserted.
 */
typedef struct saga_start_item {
    char id[SAGA_ID_LEN + 1];               /* a new UUID */
    char traceparent[SAGA_TRACEPARENT_SIZE]; /* the caller's, or a new trace */
    saga_new row;
} saga_start_item;

/*
 * Validates a start for callers that already hold the parsed definition and
 * input (sagad's saga.start consumer batches them into one insert) and
 * fills *it; no I/O. wake_now: leave the first dispatch to a timer (true)
 * or to the caller, who applies SAGA_EV_START in the same transaction
 * (false). Returns 0, SAGA_EINVAL (bad input or key, message names the
 * field) or SAGA_ELIMIT (input too large).
 */
int saga_start_prepare(const saga_spec *spec, const json_t *input,
                       const char *idempotency_key, const char *traceparent,
                       bool wake_now, saga_start_item *it, saga_error *err);

#endif
