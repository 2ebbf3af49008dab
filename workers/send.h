/*
 * send.h - a worker batch's way out: its replies and dead-letter copies
 * produced, their delivery awaited (failures re-sent), then its offsets
 * marked done.
 *
 * Offsets are marked only after every answer of the batch is durable in
 * Kafka: a crash in between redelivers the commands, which the barrier
 * answers again. Producing and awaiting are separate calls so that the loop
 * can apply the next batch while this one's answers are in flight
 * (worker.c); a batch's answers are all delivered before the next batch's
 * are produced, so answers leave in the order their commands came.
 */
#ifndef SAGA_WORKER_SEND_H
#define SAGA_WORKER_SEND_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "apply.h"

typedef struct saga_wsend {
    rd_kafka_t *producer, *consumer; /* borrowed */
    const char *dlq_topic;           /* borrowed */
    int in_flight;                   /* answers without a delivery report */
    /* The batch's times for the hop header (hops.h): when the loop let go of
     * the batch before, when this one started, when it committed. */
    int64_t free_us, start_us, applied_us;
} saga_wsend;

/* The producer's delivery report callback hands each report here. */
void saga_wsend_report(saga_wsend *s, const rd_kafka_message_t *m);

/* Enqueues every item marked send (a failure counts as a failed delivery). */
void saga_wsend_produce(saga_wsend *s, saga_item *items, int n);

/* Waits for the deliveries of items, re-producing failures with backoff.
 * 0 when all are delivered; 1 when stopping() made it give up (after a
 * grace period). */
int saga_wsend_await(saga_wsend *s, saga_item *items, int n, bool (*stopping)(void));

/* Marks the offsets of items done (committed by the next periodic commit). */
void saga_wsend_mark_done(saga_wsend *s, const saga_item *items, int n);

#endif
