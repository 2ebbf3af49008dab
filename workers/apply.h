/*
 * apply.h - applying a batch of commands in PostgreSQL: one transaction,
 * the barrier around each handler, a failing handler rolled back alone.
 *
 * Layer: workers/, the participant library; built on core and common only,
 * used by the workers and your participants, never by the coordinator.
 *
 * Kept apart from the Kafka loop (worker.c) because it is the part whose
 * every step must be atomic with the business change; worker.c only decides
 * when to call it again (after a reconnect) and what to send afterwards.
 */
#ifndef SAGA_WORKER_APPLY_H
#define SAGA_WORKER_APPLY_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "barrier.h"
#include "dlq.h"
#include "faults.h"
#include "wire.h"
#include "worker.h"

/* One consumed message and what became of it. */
typedef struct saga_item {
    rd_kafka_message_t *msg; /* owned */
    saga_wire_cmd cmd;       /* cmd.pb NULL: poison */
    bool query;              /* a QUERY: answered from the barrier after the
                                batch commits (worker.c), never applied */
    char poison[256];        /* why, when poison */
    saga_dlq_reason poison_code;
    saga_fault_draw fault;
    saga_log_ctx log;
    /* The answer, reset whenever the batch is (re-)applied. */
    saga_worker_outcome outcome; /* 0: none (poison or ignored) */
    char reason[512];
    char *result;   /* owned JSON text or NULL */
    bool recorded;  /* written to the barrier by this batch */
    bool duplicate; /* answered from the barrier */
    bool faulted;   /* a fault was injected on it */
    bool forced_retry; /* its handler failed: RETRY, not run again */
    int origin;     /* answered as a copy of items[origin] (same step and
                       action earlier in the batch); -1 otherwise */
    double handler_seconds; /* time in the handler; -1 when it did not run */
    /* Delivery of the reply or dead-letter copy (worker.c). */
    bool send;
    uint8_t *reply; /* owned packed Reply */
    size_t reply_len;
    bool in_flight;
    rd_kafka_resp_err_t dr_err;
    int64_t polled_us; /* when the loop took it from the consumer (hops.h) */
} saga_item;

/* What applying needs; all borrowed. */
typedef struct saga_applier {
    PGconn *pg;
    saga_barrier *barrier;
    const saga_worker_handlers *h;
    void *user;
    saga_worker_stats *stats;
} saga_applier;

/*
 * Applies every valid, not ignored command of items[0..n) in one
 * transaction and sets each one's answer. A command whose handler fails or
 * answers RETRY is rolled back alone and answered RETRY. Returns 0 once
 * committed, or SAGA_EDB when nothing was committed (connection lost,
 * COMMIT failed): apply the same batch again later, the barrier makes that
 * safe. Handlers may run more than once for one command (in transactions
 * that are then rolled back), so they must only change the database.
 */
int saga_apply_batch(saga_applier *a, saga_item *items, int n);

#endif
