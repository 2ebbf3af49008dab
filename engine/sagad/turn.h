/*
 * turn.h - one turn of sagad's loop: one transaction over the consumed
 * messages and the due sagas, then publishing what it decided.
 *
 * Layer: engine/sagad, the sagad program; nothing else includes it.
 *
 * The loop (sagad.c) only decides when a turn runs and what to do when one
 * fails; everything between BEGIN and the consumer's offsets is here.
 */
#ifndef SAGA_SAGAD_TURN_H
#define SAGA_SAGAD_TURN_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "sagad.h"

/*
 * Runs one transaction over msgs (borrowed; the caller destroys them) and,
 * when timers is set, up to batch.max due sagas; publishes the commands
 * (not waiting for their acknowledgement), dead-letters the poison
 * messages and marks the messages done. Returns 0,
 * or -1 when the transaction failed (its error in *fail): nothing of it is
 * then published or marked done, and the caller decides what to consume
 * again. Sets d->wake_now when more sagas may be due.
 */
int saga_turn_run(sagad *d, rd_kafka_message_t **msgs, size_t n_msgs, bool timers,
                  saga_error *fail);

/*
 * After a failed turn on a healthy connection: redoes msgs one per
 * transaction and dead-letters, as refused by the database, any message
 * that still fails on its own. Returns 0, or -1 when the connection broke or
 * a dead letter could not be sent (the rest of msgs are then rewound).
 */
int saga_turn_isolate(sagad *d, rd_kafka_message_t **msgs, size_t n);

/* Deletes the outbox rows Kafka has acknowledged, in a transaction of its
 * own: for when no turn comes soon enough to do it. */
void saga_turn_forget_sent(sagad *d);

#endif
