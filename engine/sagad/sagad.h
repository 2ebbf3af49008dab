/*
 * sagad.h - the daemon's state, shared by its loop (sagad.c) and its turns
 * (turn.c, batch.c). Internal to the sagad program; nothing else includes it.
 *
 * Layer: engine/sagad, the sagad program; nothing else includes it.
 *
 * One struct for all of it because one thread owns all of it: the loop
 * decides when a turn runs, a turn reads the configuration and the
 * connections and leaves behind what the next one needs (the published
 * outbox ids, the earliest wake-up). The HTTP thread reads only pg_ok, the
 * bus's assignment and watch.lag_ms.
 */
#ifndef SAGA_SAGAD_H
#define SAGA_SAGAD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "circuits.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "metrics.h"
#include "siblings.h"
#include "watch.h"

typedef struct sagad {
    saga_config *cfg;
    PGconn *conn;
    saga_bus *bus;
    saga_engine *engine;
    saga_metrics *metrics;
    saga_http *http;
    size_t batch_max;
    int64_t sibling_wait_us; /* batch.sibling_wait */
    const char *topic_start, *topic_replies, *topic_dlq, *topic_signals; /* borrowed from cfg */
    int64_t next_wake;      /* when to look at due sagas next, 0 = none known */
    int64_t earliest_wake;  /* earliest sagas.wake_at last read (the timer lag) */
    bool wake_now;          /* a NOTIFY said: look at due sagas */
    bool relay_now;         /* a NOTIFY said: outbox rows are waiting */
    int64_t next_relay;
    saga_circuits *circuits;  /* breakers as of the last tick (breakers.c) */
    int64_t next_breakers;
    /* Outbox rows the broker acknowledged (saga_bus_acked) are deleted by
     * the next turn's transaction, or on their own when no turn comes
     * within a few milliseconds of the last one. */
    int64_t last_turn_ms;
    volatile bool pg_ok;
    size_t claimed;         /* due sagas the last turn claimed */
    int64_t free_us;        /* when the last turn let go of the loop, or the loop
                             * stopped waiting for sibling replies (hops.h) */
    saga_siblings *siblings; /* sagas awaiting replies sent together (siblings.h) */
    struct {
        int64_t status_every, next_status, max_timer_lag, next_check;
        int64_t lag_ms;     /* atomic: read by /readyz */
        sagad_counts counts;
        uint64_t hits, reads; /* saga_engine_cache_stats at the last status line */
    } watch;
    struct {
        saga_metrics_family *started, *finished, *replies, *dlq, *batch,
            *outbox, *lag, *stuck, *step_seconds, *ignored, *timer_lag,
            *deadline_expired, *signals, *circuit_state, *circuit_transitions;
    } m;
} sagad;

/* Whether the PostgreSQL connection is lost (the loop then reconnects). */
static inline bool sagad_pg_broken(const sagad *d)
{
    return PQstatus(d->conn) != CONNECTION_OK;
}

#endif
