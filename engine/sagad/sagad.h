/*
 * sagad.h - the daemon's state, shared by its loop (sagad.c) and its turns
 * (turn.c, batch.c). Internal to the sagad program; nothing else includes it.
 *
 * One struct for all of it because one thread owns all of it: the loop
 * decides when a turn runs, a turn reads the configuration and the
 * connections and leaves behind what the next one needs (the published
 * outbox ids, the earliest wake-up). Only pg_ok is read by the HTTP thread.
 */
#ifndef SAGA_SAGAD_H
#define SAGA_SAGAD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "metrics.h"

typedef struct sagad {
    saga_config *cfg;
    PGconn *conn;
    saga_bus *bus;
    saga_engine *engine;
    saga_metrics *metrics;
    saga_http *http;
    size_t batch_max;
    const char *topic_start, *topic_replies, *topic_dlq; /* borrowed from cfg */
    int64_t next_wake;      /* earliest sagas.wake_at, 0 = none known */
    bool wake_now;          /* a NOTIFY said: look at due sagas */
    bool relay_now;         /* a NOTIFY said: outbox rows are waiting */
    int64_t next_relay;
    /* Outbox rows already published, deleted by the next turn's transaction
     * (or on their own when none comes soon): a turn then ends at its
     * flush, not at a transaction of its own. */
    int64_t *sent_ids;
    size_t n_sent, cap_sent;
    volatile bool pg_ok;
    struct {
        saga_metrics_family *started, *finished, *replies, *dlq, *batch,
            *outbox, *lag, *stuck, *step_seconds, *ignored;
    } m;
} sagad;

/* Whether the PostgreSQL connection is lost (the loop then reconnects). */
static inline bool sagad_pg_broken(const sagad *d)
{
    return PQstatus(d->conn) != CONNECTION_OK;
}

#endif
