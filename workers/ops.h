/*
 * ops.h - what an operator sees of a running worker: Prometheus metrics and
 * the /healthz, /readyz, /metrics endpoint (engine/http.h).
 *
 * Layer: workers/, the participant library; built on core and common only,
 * used by the workers and your participants, never by the coordinator.
 *
 * The loop reports facts (a batch was answered, the database went away, the
 * consumer has partitions); this module turns them into metric series and
 * into the readiness answer, so worker.c carries no presentation logic.
 */
#ifndef SAGA_WORKER_OPS_H
#define SAGA_WORKER_OPS_H

#include <stdbool.h>

#include "apply.h"
#include "http.h"
#include "metrics.h"

typedef struct saga_wops {
    saga_metrics *metrics; /* owned */
    saga_http *http;       /* owned; NULL when http.listen is off */
    saga_metrics_family *commands, *duplicates, *handler_seconds, *dead_lettered,
        *batch_size, *faults, *reconnects;
    int db_ok;    /* read by the HTTP thread: atomics */
    int assigned;
} saga_wops;

/* Registers the metrics and, unless listen is NULL or "off", starts the
 * endpoint, waiting up to bind_timeout_ms for an address in use. 0, or
 * SAGA_EINVAL / SAGA_EIO (address in use) / SAGA_ENOMEM. */
int saga_wops_start(saga_wops *o, const char *listen, int64_t bind_timeout_ms,
                    saga_error *err);
void saga_wops_stop(saga_wops *o);

/* The loop turned (liveness). */
void saga_wops_beat(saga_wops *o);

/* Readiness facts: PostgreSQL usable, consumer has partitions. */
void saga_wops_ready(saga_wops *o, bool db_ok, bool assigned);

/* Counts an answered batch: per command outcome, duplicates, handler time,
 * dead letters, injected faults, batch size. */
void saga_wops_batch(saga_wops *o, const saga_item *items, int n);

/* A batch was delayed on purpose (fault.delay). */
void saga_wops_delay(saga_wops *o);
void saga_wops_reconnect(saga_wops *o);

#endif
