/*
 * reconcile_job.c - the periodic reconciliation thread (see reconcile_job.h).
 *
 * Each round looks at the sagas that finished since the previous round
 * ended (the first, at those of the last reconcile.window), so each
 * finished saga is checked once by this sagad; it sends the participants
 * their QUERYs and logs each mismatch at warn; the counts go to
 * saga_reconcile_mismatches_total{kind,participant}. Repairs stay an
 * operator's decision (`sagactl reconcile --repair`): a mismatch can mean
 * the log is wrong as well as the participant.
 */
#include "reconcile_job.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "pg.h"
#include "reconcile.h"
#include "sagad.h"

/* Any fixed key: the lock only serialises sagad's own rounds. */
#define RECONCILE_LOCK "7370616761"

struct sagad_reconcile_job {
    sagad *d;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    int64_t interval_ms;
    int64_t checked_until;  /* sagas finished before this were checked */
    saga_reconcile_opts opts;
    saga_metrics_family *runs, *mismatches;
};

static int add_kafka(const char *key, const char *value, void *user)
{
    saga_reconcile_opts *o = user;
    if (o->n_kafka >= SAGA_RECONCILE_MAX_KAFKA)
        return -1;
    o->kafka[o->n_kafka].key = key;
    o->kafka[o->n_kafka++].value = value;
    return 0;
}

static void report(sagad_reconcile_job *j, const saga_reconcile_report *r)
{
    for (size_t i = 0; i < r->n_steps; i++) {
        const saga_reconcile_step *s = &r->steps[i];
        for (size_t k = 0; k < s->n_found; k++) {
            const char *lv[2] = {saga_recon_kind_name(s->found[k].kind), s->participant};
            saga_metrics_inc(j->mismatches, lv, 1);
            saga_log_ctx lc = {.saga_id = s->saga_id, .step = s->step};
            saga_log_warn(&lc, "reconcile: %s at %s (%s); see sagactl reconcile",
                          saga_recon_kind_name(s->found[k].kind), s->participant,
                          saga_recon_kind_text(s->found[k].kind));
        }
    }
    saga_log_info(NULL, "reconcile: %zu sagas, %zu steps, %zu mismatches, %zu unanswered",
                  r->n_sagas, r->n_steps, r->n_mismatches, r->n_unanswered);
}

/* One round, if this sagad gets the lock. */
static void round_once(sagad_reconcile_job *j, PGconn **conn, saga_engine *e)
{
    saga_error err;
    if (!*conn || PQstatus(*conn) != CONNECTION_OK) {
        PQfinish(*conn);
        *conn = saga_pg_connect(saga_config_str(j->d->cfg, "pg.dsn"), NULL, &err);
        if (!*conn) {
            saga_log_warn(NULL, "reconcile: %s", err.msg);
            return;
        }
    }
    PGresult *r = PQexec(*conn, "SELECT pg_try_advisory_lock(" RECONCILE_LOCK ")");
    bool mine = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!mine)
        return;
    j->opts.since_ms = j->checked_until;
    j->opts.until_ms = saga_clock_now_ms();
    saga_reconcile_report rep;
    if (saga_reconcile_run(e, *conn, &j->opts, &rep, &err) == 0) {
        saga_metrics_inc(j->runs, NULL, 1);
        report(j, &rep);
        j->checked_until = j->opts.until_ms;
    } else {
        saga_log_warn(NULL, "reconcile: %s", err.msg);
    }
    saga_reconcile_report_free(&rep);
    PQclear(PQexec(*conn, "SELECT pg_advisory_unlock(" RECONCILE_LOCK ")"));
}

static void *run(void *arg)
{
    sagad_reconcile_job *j = arg;
    saga_engine *e = saga_engine_new(j->d->topic_replies);
    PGconn *conn = NULL;
    pthread_mutex_lock(&j->lock);
    while (!j->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += j->interval_ms / 1000;
        until.tv_nsec += (j->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!j->stop && pthread_cond_timedwait(&j->wake, &j->lock, &until) == 0)
            ;
        if (j->stop)
            break;
        pthread_mutex_unlock(&j->lock);
        if (e)
            round_once(j, &conn, e);
        pthread_mutex_lock(&j->lock);
    }
    pthread_mutex_unlock(&j->lock);
    PQfinish(conn);
    saga_engine_free(e);
    return NULL;
}

sagad_reconcile_job *sagad_reconcile_start(sagad *d)
{
    int64_t interval = saga_config_ms(d->cfg, "reconcile.interval");
    if (interval <= 0)
        return NULL;
    sagad_reconcile_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->d = d;
    j->interval_ms = interval;
    j->opts.timeout_ms = saga_config_ms(d->cfg, "reconcile.timeout");
    j->opts.limit = 10000;
    j->checked_until = saga_clock_now_ms() - saga_config_ms(d->cfg, "reconcile.window");
    saga_config_each(d->cfg, "kafka.", add_kafka, &j->opts);
    j->runs = saga_metrics_counter(d->metrics, "saga_reconcile_runs_total",
                                   "Periodic reconciliation rounds run by this sagad.", NULL);
    j->mismatches = saga_metrics_counter(
        d->metrics, "saga_reconcile_mismatches_total",
        "Disagreements between the saga log and a participant's records, found by the "
        "periodic reconciliation.",
        "kind,participant");
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->wake, NULL);
    if (pthread_create(&j->thread, NULL, run, j) != 0) {
        saga_log_error(NULL, "reconcile: cannot start its thread");
        pthread_cond_destroy(&j->wake);
        pthread_mutex_destroy(&j->lock);
        free(j);
        return NULL;
    }
    saga_log_info(NULL, "reconcile: every %lld ms, each finished saga once (from %lld ms ago)",
                  (long long)interval, (long long)saga_config_ms(d->cfg, "reconcile.window"));
    return j;
}

void sagad_reconcile_stop(sagad_reconcile_job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    j->stop = true;
    pthread_cond_signal(&j->wake);
    pthread_mutex_unlock(&j->lock);
    pthread_join(j->thread, NULL);
    pthread_cond_destroy(&j->wake);
    pthread_mutex_destroy(&j->lock);
    free(j);
}
