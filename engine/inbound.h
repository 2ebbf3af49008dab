/*
 * inbound.h - what sagad accepts from Kafka: decoding and validating Reply
 * and StartSaga messages before any database work.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * Everything that makes a message unusable is decided here, in pure code
 * that is unit-tested and fuzzed: it does not decode, it is too large, a
 * required field is empty or malformed, a string is not UTF-8 (PostgreSQL
 * would refuse it inside the transaction and take the whole batch down with
 * it), or a JSON field is not an object. Such a message is dead-lettered
 * with the reason; anything that passes can be handed to the engine.
 */
#ifndef SAGA_INBOUND_H
#define SAGA_INBOUND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "dlq.h"
#include "saga.pb-c.h"

/* Largest message sagad accepts on saga.replies or saga.start. */
#define SAGA_INBOUND_MAX_BYTES (1024 * 1024)
/* Longest step name, definition name or idempotency key accepted. */
#define SAGA_INBOUND_MAX_NAME 256

typedef struct saga_inbound_reply {
    Saga__Reply *pb;  /* owned */
    json_t *payload;  /* owned; NULL when the reply carried none */
} saga_inbound_reply;

typedef struct saga_inbound_start {
    Saga__StartSaga *pb; /* owned */
    json_t *input;       /* owned; a JSON object */
    json_t *tags;        /* owned; the tags as a JSON object, NULL if none */
} saga_inbound_start;

/* Decodes and validates a Reply. Returns true and fills *out (free with
 * saga_inbound_reply_free), or false with the reason's code in *code (when
 * code is not NULL) and its text in why. */
bool saga_inbound_reply_decode(const void *buf, size_t len,
                               saga_inbound_reply *out, saga_dlq_reason *code,
                               char *why, size_t why_len);
void saga_inbound_reply_free(saga_inbound_reply *r);

/* The same for StartSaga (input must be a JSON object; version >= 0;
 * deadline_ms and start_at_ms not negative; tags follow tags.h's rules). */
bool saga_inbound_start_decode(const void *buf, size_t len,
                               saga_inbound_start *out, saga_dlq_reason *code,
                               char *why, size_t why_len);
void saga_inbound_start_free(saga_inbound_start *s);

typedef struct saga_inbound_signal {
    Saga__Signal *pb; /* owned */
    json_t *data;     /* owned; APPROVE's data object, or NULL */
} saga_inbound_signal;

/* The same for Signal (inbound_signal.c): APPROVE / REJECT name a step;
 * PARENT_* carry a positive attempt; data, if any, is a JSON object. */
bool saga_inbound_signal_decode(const void *buf, size_t len, saga_inbound_signal *out,
                                saga_dlq_reason *code, char *why, size_t why_len);
void saga_inbound_signal_free(saga_inbound_signal *s);

/* Whether s is a UUID in text form (8-4-4-4-12 hex digits). */
bool saga_inbound_uuid(const char *s);

#endif
