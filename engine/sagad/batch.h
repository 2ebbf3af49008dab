/*
 * batch.h - what one turn works on: its Kafka messages decoded into engine
 * events or dead letters, its StartSaga messages created together, its due
 * sagas. The turn (turn.c) owns the transaction; this owns the inputs.
 *
 * Layer: engine/sagad, the sagad program; nothing else includes it.
 *
 * Kept apart from the turn because it is the part that judges messages:
 * whether a message can be used is decided here, before the database or
 * after the engine said the saga or step is unknown, and each poison
 * message leaves with a reason code as well as its text.
 */
#ifndef SAGA_SAGAD_BATCH_H
#define SAGA_SAGAD_BATCH_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "dlq.h"
#include "engine.h"
#include "inbound.h"
#include "sagad.h"
#include "start_item.h"

typedef struct saga_poison {
    rd_kafka_message_t *m; /* borrowed from the batch */
    saga_dlq_reason code;
    char reason[SAGA_ERROR_MSG_MAX + 64];
} saga_poison;

typedef struct saga_batch_start {
    rd_kafka_message_t *m;    /* borrowed from the batch */
    saga_inbound_start in;    /* decoded, owned */
    char key[SAGA_INBOUND_MAX_NAME + 64];
    saga_start_item item;     /* borrows in and key */
} saga_batch_start;

typedef struct saga_batch {
    rd_kafka_message_t **msgs; /* borrowed */
    size_t n_msgs;
    int64_t now;               /* every event's now_ms */
    saga_engine_event *evs;    /* source: the message, NULL for a START or TIMER */
    rd_kafka_message_t **ev_msg; /* indexed like evs: the message each event came
                                    from, a START's StartSaga too (borrowed) */
    size_t n_evs;
    saga_inbound_reply *replies; /* decoded, owned; indexed like msgs */
    saga_inbound_signal *signals; /* decoded, owned; indexed like msgs */
    saga_poison *bad;
    size_t n_bad;
    char (*due)[SAGA_ID_LEN + 1];
    size_t n_due;
    saga_batch_start *starts; /* valid StartSaga messages, created together */
    size_t n_starts;
} saga_batch;

/* Sizes a batch for n messages (borrowed) and up to max_due due sagas.
 * Returns 0 or SAGA_ENOMEM; free with saga_batch_free either way. */
int saga_batch_init(saga_batch *b, rd_kafka_message_t **msgs, size_t n, size_t max_due,
                    int64_t now, saga_error *err);
void saga_batch_free(saga_batch *b);

/* Decodes every message: a Reply or a Signal becomes an event, a StartSaga checked
 * against its definition is queued for saga_batch_create, anything else is
 * poison. Runs before the transaction (definitions may be read on d->conn).
 * Returns non-zero only on a database error. */
int saga_batch_decode(saga_batch *b, sagad *d, saga_error *err);

/* Creates the queued sagas in one statement and adds a START event for
 * each one created (a known idempotency key starts nothing); e remembers
 * those it starts now, so their START reads nothing. */
int saga_batch_create(saga_batch *b, saga_engine *e, PGconn *conn, saga_error *err);

/* Claims up to max due sagas and adds a TIMER event for each. */
int saga_batch_claim(saga_batch *b, PGconn *conn, size_t max, saga_error *err);

/* After the engine applied the events: the Replies it found no saga or no
 * step for become poison. */
void saga_batch_unknown(saga_batch *b);

#endif
