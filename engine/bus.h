/*
 * bus.h - sagad's Kafka: one producer for commands and dead letters, one
 * consumer (in a group) for replies and start requests.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * An offset becomes committable only when sagad marks it done, after the
 * PostgreSQL transaction that applied its message (librdkafka then commits
 * the marked offsets every auto.commit.interval.ms and on close, instead of
 * one commit request per turn: the broker's CPU is paid per request), and
 * sagad rewinds to the messages when that transaction fails. A crash
 * replays at most one interval of messages, which the decision core
 * recognises as duplicates. The consumer queue raises a file descriptor,
 * so sagad's loop can sleep in poll() on Kafka and PostgreSQL at once and
 * wake for whichever speaks first - no fixed-interval polling.
 */
#ifndef SAGA_BUS_H
#define SAGA_BUS_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct saga_bus saga_bus;

typedef struct saga_bus_opts {
    const rd_kafka_conf_t *producer; /* borrowed; duplicated */
    const rd_kafka_conf_t *consumer; /* borrowed; duplicated; NULL with no group */
    const char *group_id;          /* consumer group; NULL: producer only */
    const char *instance_id;       /* group.instance.id (static member); NULL: dynamic */
    const char *const *topics;     /* borrowed; subscribed */
    size_t n_topics;
} saga_bus_opts;

/* Owned: saga_bus_free (closes the consumer, flushes, destroys). */
saga_bus *saga_bus_new(const saga_bus_opts *o, saga_error *err);
void saga_bus_free(saga_bus *b, int flush_timeout_ms);

/* The fatal error that made a client unusable for good, or NULL. */
const char *saga_bus_fatal(const saga_bus *b);

/* Partitions assigned to the consumer now (0 without one); *since_ms (may
 * be NULL) gets the wall-clock time that count has held since. */
int saga_bus_assignment(const saga_bus *b, int64_t *since_ms);

/* Readable when the consumer queue has something (-1 without a consumer). */
int saga_bus_fd(const saga_bus *b);

/* Up to max messages already waiting (waits at most timeout_ms when none).
 * Messages are owned by the caller: rd_kafka_message_destroy. Consumer
 * errors are logged and not returned. */
size_t saga_bus_consume(saga_bus *b, rd_kafka_message_t **out, size_t max,
                        int timeout_ms);

/* Readable when delivery reports wait for saga_bus_serve. */
int saga_bus_producer_fd(const saga_bus *b);

typedef struct saga_bus_msg {
    const char *topic, *key;
    const void *payload;
    size_t len;
    const char *traceparent; /* header when non-empty; may be NULL */
    const char *hops;        /* SAGA_HOPS_HEADER (hops.h) when non-empty; may be NULL */
    int64_t track;           /* outbox id: once delivered it is listed by
                                saga_bus_acked; 0: untracked (flush reports it) */
} saga_bus_msg;

/* Enqueues a copy of m's payload (everything in m is borrowed). */
int saga_bus_send(saga_bus *b, const saga_bus_msg *m, saga_error *err);

/* Ids of tracked messages delivered, in the order of their reports
 * (borrowed; valid until the next call into the bus). */
const int64_t *saga_bus_acked(const saga_bus *b, size_t *n);

/* Forgets the first n acknowledged ids (their rows are deleted). */
void saga_bus_acked_drop(saga_bus *b, size_t n);

/* Tracked messages still waiting for their delivery report. */
size_t saga_bus_in_flight(const saga_bus *b);

/* Enqueues a copy of payload with key and a traceparent header, untracked. */
int saga_bus_produce(saga_bus *b, const char *topic, const char *key,
                     const void *payload, size_t len, const char *traceparent,
                     saga_error *err);

/* Waits until everything enqueued so far is delivered. Returns SAGA_EKAFKA
 * if any delivery since the previous flush failed or the wait timed out. */
int saga_bus_flush(saga_bus *b, int timeout_ms, saga_error *err);

/* Serves delivery reports without blocking (tracked ones fill the
 * acknowledged list). */
void saga_bus_serve(saga_bus *b);

/* Marks msgs done: per partition, the offset after the last of them is
 * committed by the next periodic commit (or on close). */
void saga_bus_done(saga_bus *b, rd_kafka_message_t *const *msgs, size_t n);

/* Seeks each partition of msgs back to its first offset in msgs, so they
 * are consumed again (after a failed transaction). */
void saga_bus_rewind(saga_bus *b, rd_kafka_message_t *const *msgs, size_t n);

rd_kafka_t *saga_bus_producer(saga_bus *b); /* borrowed */
rd_kafka_t *saga_bus_consumer(saga_bus *b); /* borrowed; NULL without one */

/* Sum over assigned partitions of (high watermark - position), or -1. */
int64_t saga_bus_lag(saga_bus *b);

#endif
