/*
 * ops.c - the worker's metrics and health endpoint.
 *
 * Metric names are part of the operations contract (docs/operations.md):
 * participant_commands_total{action,outcome}, participant_duplicates_total,
 * participant_handler_seconds{action}, participant_dead_lettered_total,
 * participant_batch_size, participant_faults_injected_total,
 * participant_db_reconnects_total.
 */
#include "ops.h"

#include <stdio.h>
#include <string.h>

static bool ready(void *user, char *why, size_t len)
{
    saga_wops *o = user;
    if (!__atomic_load_n(&o->db_ok, __ATOMIC_RELAXED)) {
        snprintf(why, len, "PostgreSQL unreachable");
        return false;
    }
    if (!__atomic_load_n(&o->assigned, __ATOMIC_RELAXED)) {
        snprintf(why, len, "Kafka consumer has no partitions assigned");
        return false;
    }
    return true;
}

int saga_wops_start(saga_wops *o, const char *listen, int64_t bind_timeout_ms,
                    saga_error *err)
{
    memset(o, 0, sizeof *o);
    o->metrics = saga_metrics_new(0);
    if (!o->metrics)
        return saga_error_set(err, SAGA_ENOMEM, "metrics: out of memory");
    saga_metrics *m = o->metrics;
    o->commands = saga_metrics_counter(m, "participant_commands_total",
                                       "Commands answered, by action and outcome.",
                                       "action,outcome");
    o->duplicates = saga_metrics_counter(m, "participant_duplicates_total",
                                         "Commands answered from the barrier (redeliveries).",
                                         NULL);
    o->handler_seconds = saga_metrics_histogram(m, "participant_handler_seconds",
                                                "Time spent in the participant's handler.",
                                                "action", NULL, 0);
    o->dead_lettered = saga_metrics_counter(m, "participant_dead_lettered_total",
                                            "Undecodable commands copied to the dead-letter "
                                            "topic.", NULL);
    static const double sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    o->batch_size = saga_metrics_histogram(m, "participant_batch_size",
                                           "Messages handled per PostgreSQL transaction.",
                                           NULL, sizes, sizeof sizes / sizeof sizes[0]);
    o->faults = saga_metrics_counter(m, "participant_faults_injected_total",
                                     "Faults injected on purpose (fault.* settings).", NULL);
    o->reconnects = saga_metrics_counter(m, "participant_db_reconnects_total",
                                         "Reconnections to PostgreSQL.", NULL);
    if (!listen || strcmp(listen, "off") == 0)
        return 0;
    saga_http_handlers h = {.ready = ready, .metrics = m, .liveness_ms = 60000,
                            .bind_timeout_ms = bind_timeout_ms};
    o->http = saga_http_start(listen, &h, o, err);
    if (!o->http) {
        saga_metrics_free(o->metrics);
        o->metrics = NULL;
        return err->code ? err->code : SAGA_EIO;
    }
    saga_log_info(NULL, "serving /healthz, /readyz and /metrics on %s (port %d)", listen,
                  saga_http_port(o->http));
    return 0;
}

void saga_wops_stop(saga_wops *o)
{
    saga_http_stop(o->http);
    saga_metrics_free(o->metrics);
    memset(o, 0, sizeof *o);
}

void saga_wops_beat(saga_wops *o)
{
    saga_http_beat(o->http);
}

void saga_wops_ready(saga_wops *o, bool db_ok, bool assigned)
{
    __atomic_store_n(&o->db_ok, db_ok, __ATOMIC_RELAXED);
    __atomic_store_n(&o->assigned, assigned, __ATOMIC_RELAXED);
}

void saga_wops_batch(saga_wops *o, const saga_item *items, int n)
{
    saga_metrics_observe(o->batch_size, NULL, n);
    for (int i = 0; i < n; i++) {
        const saga_item *it = &items[i];
        if (!it->cmd.pb) {
            saga_metrics_inc(o->dead_lettered, NULL, 1);
            continue;
        }
        if (it->faulted)
            saga_metrics_inc(o->faults, NULL, 1);
        if (!it->outcome)
            continue;
        const char *action = saga_worker_action_name((saga_worker_action)it->cmd.pb->action);
        const char *labels[2] = {action, saga_worker_outcome_name(it->outcome)};
        saga_metrics_inc(o->commands, labels, 1);
        if (it->duplicate)
            saga_metrics_inc(o->duplicates, NULL, 1);
        if (it->handler_seconds >= 0)
            saga_metrics_observe(o->handler_seconds, &action, it->handler_seconds);
    }
}

void saga_wops_delay(saga_wops *o)
{
    saga_metrics_inc(o->faults, NULL, 1);
}

void saga_wops_reconnect(saga_wops *o)
{
    saga_metrics_inc(o->reconnects, NULL, 1);
}
