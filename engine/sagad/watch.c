/*
 * watch.c - the status line and the liveness guard (see watch.h).
 */
#include "watch.h"

#include <inttypes.h>
#include <stdio.h>

#include "duration.h"
#include "log.h"
#include "sagad.h"

void sagad_watch_init(sagad *d)
{
    d->watch.status_every = saga_config_ms(d->cfg, "log.status_interval");
    d->watch.max_timer_lag = saga_config_ms(d->cfg, "ready.max_timer_lag");
    d->watch.next_status = 0;
    d->m.timer_lag = saga_metrics_gauge(
        d->metrics, "saga_timer_lag_seconds",
        "How long the earliest due wake-up (deadline, retry, stuck check) has waited.", NULL);
}

/* How late the earliest wake-up is; 0 when none is overdue. */
static int64_t timer_lag(const sagad *d, int64_t now)
{
    return d->earliest_wake && d->earliest_wake < now ? now - d->earliest_wake : 0;
}

static void status_line(sagad *d, int64_t now, int64_t lag)
{
    int64_t since = 0;
    int parts = saga_bus_assignment(d->bus, &since);
    char ago[SAGA_TIME_TEXT_MAX], lagtxt[SAGA_TIME_TEXT_MAX];
    saga_duration_format(now - since, 1, ago, sizeof ago);
    saga_duration_format(lag, 1, lagtxt, sizeof lagtxt);
    const sagad_counts *c = &d->watch.counts;
    uint64_t hits, reads;
    saga_engine_cache_stats(d->engine, &hits, &reads);
    saga_log_info(NULL,
                  "status: %" PRIu64 " turns (%" PRIu64 " failed), %" PRIu64 " commands sent, "
                  "%" PRIu64 " timers fired, %" PRIu64 " replies applied, %" PRIu64 " ignored, "
                  "%" PRIu64 " dead-lettered, %" PRIu64 " started, %" PRIu64 " finished; "
                  "%d partition%s assigned (for %s); %s%s; %zu sagas remembered, "
                  "%" PRIu64 " of %" PRIu64 " saga reads saved, %" PRIu64 " turns rerun",
                  c->turns, c->failed_turns, c->sent, c->timers, c->applied, c->ignored, c->dead,
                  c->started, c->finished, parts, parts == 1 ? "" : "s", ago,
                  lag ? "earliest wake-up overdue by " : "no wake-up overdue", lag ? lagtxt : "",
                  saga_engine_cached(d->engine), hits - d->watch.hits,
                  hits - d->watch.hits + reads - d->watch.reads,
                  c->reruns);
    d->watch.hits = hits;
    d->watch.reads = reads;
    d->watch.counts = (sagad_counts){0};
}

void sagad_watch_tick(sagad *d, int64_t now)
{
    if (now < d->watch.next_check)
        return;
    d->watch.next_check = now + 100;
    int64_t lag = timer_lag(d, now);
    __atomic_store_n(&d->watch.lag_ms, lag, __ATOMIC_RELAXED);
    saga_metrics_set(d->m.timer_lag, NULL, (double)lag / 1000.0);
    if (d->watch.status_every <= 0)
        return;
    if (!d->watch.next_status)
        d->watch.next_status = now + d->watch.status_every;
    if (now < d->watch.next_status)
        return;
    status_line(d, now, lag);
    d->watch.next_status = now + d->watch.status_every;
}

bool sagad_watch_ready(sagad *d, char *why, size_t len)
{
    if (!d->pg_ok) {
        snprintf(why, len, "PostgreSQL unreachable");
        return false;
    }
    int64_t since = 0, now = saga_now_ms();
    char t[SAGA_TIME_TEXT_MAX];
    if (!d->bus) {
        snprintf(why, len, "Kafka consumer not started");
        return false;
    }
    if (saga_bus_assignment(d->bus, &since) == 0) {
        saga_duration_format(now - since, 1, t, sizeof t);
        snprintf(why, len, "Kafka consumer has no partitions assigned (for %s)", t);
        return false;
    }
    int64_t lag = __atomic_load_n(&d->watch.lag_ms, __ATOMIC_RELAXED);
    if (lag > d->watch.max_timer_lag) {
        saga_duration_format(lag, 2, t, sizeof t);
        snprintf(why, len, "due wake-ups are not being served: the earliest is %s overdue "
                           "(a saga row locked elsewhere?)", t);
        return false;
    }
    return true;
}
