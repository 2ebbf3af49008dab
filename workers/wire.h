/*
 * wire.h - the worker's side of schema/saga.proto: turning the bytes of a
 * Kafka message into a command the barrier can trust, and a decision into
 * the bytes of a Reply.
 *
 * Layer: workers/, the participant library; built on core and common only,
 * used by the workers and your participants, never by the coordinator.
 *
 * Everything that makes a message unusable is decided here, before any
 * database work, so a poison message is dead-lettered instead of being
 * retried for ever: it does not decode as Command, a required field is empty
 * or too long for the barrier's index, a string is not UTF-8 (PostgreSQL
 * would refuse it), the action is unknown, or the payload is not a JSON
 * object. Pure functions: unit-tested and fuzzable.
 *
 * A QUERY command (reconciliation) passes the same checks; it is answered
 * from the barrier rows of its key, never by a handler.
 */
#ifndef SAGA_WORKER_WIRE_H
#define SAGA_WORKER_WIRE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "barrier.h"
#include "saga.pb-c.h"
#include "worker.h"

/* Longest accepted saga_id / step / idempotency_key, in bytes; the key is
 * part of the barrier's primary key, whose btree entries must stay small. */
#define SAGA_WIRE_MAX_ID 256
#define SAGA_WIRE_MAX_KEY 640

typedef struct saga_wire_cmd {
    Saga__Command *pb;       /* owned: saga__command__free_unpacked */
    json_t *payload;         /* owned: a JSON object ({} when empty) */
    const char *reply_topic; /* borrowed from pb, or "saga.replies" */
} saga_wire_cmd;

/*
 * Decodes and validates one message value. On success fills *out (free with
 * saga_wire_cmd_free) and returns 0. Otherwise returns SAGA_EINVAL or
 * SAGA_ELIMIT (larger than max_bytes) and writes why into reason.
 */
int saga_wire_decode(const void *buf, size_t len, size_t max_bytes,
                     saga_wire_cmd *out, char *reason, size_t reason_len);

/* Frees what saga_wire_decode filled; safe on a zeroed struct. */
void saga_wire_cmd_free(saga_wire_cmd *c);

/*
 * Packs the Reply to cmd (borrowed): saga_id, step, action, attempt and
 * traceparent copied, outcome and reason as given, result_json (may be NULL,
 * sent for OK only) as payload. *buf is malloc'd (caller frees). Returns 0
 * or SAGA_ENOMEM.
 */
int saga_wire_reply(const Saga__Command *cmd, saga_worker_outcome outcome,
                    const char *reason, const char *result_json,
                    uint8_t **buf, size_t *len);

/*
 * Packs the Reply to the QUERY cmd (borrowed): outcome OK, idempotency_key
 * copied, and one Recorded per row of rows (borrowed) answered for cmd's
 * key (none: the participant has no record of it). *buf is malloc'd
 * (caller frees). Returns 0 or SAGA_ENOMEM.
 */
int saga_wire_query_reply(const Saga__Command *cmd, const saga_barrier_rows *rows,
                          uint8_t **buf, size_t *len);

#endif
