/*
 * sagad.c - the coordinator daemon: wires the store, the bus, the engine,
 * the timers, the outbox relay and the HTTP endpoint into one loop.
 *
 * One thread, one loop. It sleeps in poll() on the Kafka consumer's
 * wake-up pipe and the PostgreSQL socket (LISTEN) with a timeout equal to
 * the next saga wake-up, so it reacts at once to a reply, a start request or
 * a NOTIFY, and wakes exactly when a deadline is due. Each turn is one
 * transaction covering every waiting message and every due saga:
 *
 *   BEGIN; delete the outbox rows the previous turn published;
 *   lock + decide + write state, history, outbox; COMMIT;
 *   publish the commands; wait for Kafka's acks;
 *   dead-letter the poison messages; mark the consumed offsets done.
 *
 * Any crash between those steps re-does work (messages are consumed again,
 * outbox rows re-sent) and never loses it; replies applied twice are
 * recognised by the decision core and ignored.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "bus.h"
#include "config.h"
#include "dlq.h"
#include "engine.h"
#include "http.h"
#include "inbound.h"
#include "log.h"
#include "random.h"
#include "metrics.h"
#include "migrate.h"
#include "schema.h"
#include "outbox.h"
#include "queries.h"
#include "start.h"
#include "start_item.h"
#include "store.h"
#include "timers.h"
#include "topics.h"
#include "trace.h"


static const saga_config_key KEYS[] = {
    {.key = "pg.dsn", .type = SAGA_CONFIG_STRING, .flags = SAGA_CONFIG_REQUIRED,
     .env = "SAGA_PG_DSN", .help = "PostgreSQL connection string (keyword or URI form)"},
    {.key = "http.listen", .type = SAGA_CONFIG_STRING, .def = "127.0.0.1:9464",
     .help = "address of /healthz, /readyz and /metrics; \"off\" disables"},
    {.key = "http.bind_timeout", .type = SAGA_CONFIG_DURATION, .def = "30s", .range = "0ms..10m",
     .help = "how long a port still in use (a predecessor dying) is waited for; 0 = one try"},
    {.key = "log.level", .type = SAGA_CONFIG_ENUM, .def = "info",
     .choices = "debug|info|warn|error", .help = "lowest level logged"},
    {.key = "log.format", .type = SAGA_CONFIG_ENUM, .def = "auto",
     .choices = "auto|json|text", .help = "json lines, or text; auto = json unless stderr is a terminal"},
    {.key = "sagad.group", .type = SAGA_CONFIG_STRING, .def = "sagad",
     .help = "Kafka consumer group shared by every sagad process"},
    {.key = "batch.max", .type = SAGA_CONFIG_INT, .def = "500", .range = "1..10000",
     .help = "most messages and due sagas handled in one transaction"},
    {.key = "outbox.interval", .type = SAGA_CONFIG_DURATION, .def = "1s",
     .range = "10ms..1h", .help = "how often the outbox relay looks for orphaned rows"},
    {.key = "topics.replies", .type = SAGA_CONFIG_STRING, .def = "saga.replies",
     .help = "topic sagad consumes replies from and names in every Command"},
    {.key = "topics.start", .type = SAGA_CONFIG_STRING, .def = "saga.start",
     .help = "topic of StartSaga requests"},
    {.key = "topics.dlq", .type = SAGA_CONFIG_STRING, .def = "saga.dlq",
     .help = "dead-letter topic for messages sagad cannot use"},
    {.key = "topics.partitions", .type = SAGA_CONFIG_INT, .def = "4", .range = "1..1000",
     .help = "partitions of saga.replies and saga.start when sagad creates them"},
    {.key = "topics.replication", .type = SAGA_CONFIG_INT, .def = "-1", .range = "-1..100",
     .help = "replication factor of topics sagad creates (-1 = broker default)"},
    {.key = "shutdown.timeout", .type = SAGA_CONFIG_DURATION, .def = "10s",
     .range = "0ms..10m", .help = "longest graceful stop after SIGTERM before exiting anyway"},
    {.key = "reconnect.max_backoff", .type = SAGA_CONFIG_DURATION, .def = "5s",
     .range = "100ms..5m", .help = "cap of the backoff between reconnection attempts"},
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    if (stopping)
        _exit(1); /* a second signal: stop at once */
    stopping = 1;
}

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

/* --- metrics and health ------------------------------------------------ */

static void metrics_init(sagad *d)
{
    static const double batch_buckets[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
    saga_metrics *m = d->metrics;
    d->m.started = saga_metrics_counter(m, "saga_started_total",
                                        "Sagas started, by definition.", "definition");
    d->m.finished = saga_metrics_counter(m, "saga_finished_total",
                                         "Sagas that reached a terminal status.",
                                         "definition,status");
    d->m.replies = saga_metrics_counter(m, "saga_replies_total",
                                        "Participant replies consumed, by outcome.",
                                        "outcome");
    d->m.ignored = saga_metrics_counter(m, "saga_replies_ignored_total",
                                        "Replies recorded but not applied (duplicate, stale, late).",
                                        NULL);
    d->m.dlq = saga_metrics_counter(m, "saga_dlq_total",
                                    "Messages dead-lettered to saga.dlq, by reason.", "reason");
    d->m.batch = saga_metrics_histogram(m, "saga_batch_size",
                                        "Messages and due sagas per transaction.", NULL,
                                        batch_buckets, sizeof batch_buckets / sizeof *batch_buckets);
    d->m.step_seconds = saga_metrics_histogram(
        m, "saga_step_duration_seconds",
        "From a command's dispatch to its applied reply, by definition, step and action.",
        "definition,step,action", NULL, 0);
    d->m.outbox = saga_metrics_gauge(m, "saga_outbox_pending",
                                     "Outbox rows not yet published.", NULL);
    d->m.lag = saga_metrics_gauge(m, "saga_reply_consumer_lag",
                                  "Messages waiting on this process's assigned partitions.", NULL);
    d->m.stuck = saga_metrics_gauge(m, "saga_stuck", "Sagas flagged stuck, by definition.",
                                    "definition");
}

/* Called by the HTTP thread before rendering /metrics: the gauges read the
 * database on a connection of their own (libpq connections are not shared
 * across threads). */
static void collect(void *user)
{
    sagad *d = user;
    saga_error err;
    PGconn *c = saga_pg_connect(saga_config_str(d->cfg, "pg.dsn"), NULL, &err);
    if (!c)
        return;
    long pending = 0;
    if (saga_outbox_pending(c, &pending, &err) == 0)
        saga_metrics_set(d->m.outbox, NULL, (double)pending);
    PGresult *r = PQexec(c, saga_query_stuck_by_def);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        saga_metrics_clear(d->m.stuck);
        for (int i = 0; i < PQntuples(r); i++) {
            const char *lv[1] = {PQgetvalue(r, i, 0)};
            saga_metrics_set(d->m.stuck, lv, atof(PQgetvalue(r, i, 1)));
        }
    }
    PQclear(r);
    PQfinish(c);
}

static bool ready(void *user, char *why, size_t len)
{
    sagad *d = user;
    if (!d->pg_ok) {
        snprintf(why, len, "PostgreSQL unreachable");
        return false;
    }
    if (!d->bus || !saga_bus_assigned(d->bus)) {
        snprintf(why, len, "Kafka consumer has no partitions assigned");
        return false;
    }
    return true;
}

/* --- PostgreSQL connection --------------------------------------------- */

static void backoff_sleep(int64_t *delay, int64_t cap)
{
    int64_t left = *delay;
    while (left > 0 && !stopping) {
        int64_t step = left < 100 ? left : 100;
        usleep((useconds_t)step * 1000);
        left -= step;
    }
    *delay = *delay * 2 > cap ? cap : *delay * 2;
}

/* Connects, migrates and LISTENs, retrying with backoff until it works or
 * a stop is requested. */
static int pg_connect(sagad *d)
{
    int64_t delay = 100, cap = saga_config_ms(d->cfg, "reconnect.max_backoff");
    if (d->conn) {
        PQfinish(d->conn);
        d->conn = NULL;
    }
    d->pg_ok = false;
    while (!stopping) {
        saga_error err;
        saga_error_clear(&err);
        PGconn *c = saga_pg_connect(saga_config_str(d->cfg, "pg.dsn"), NULL, &err);
        int applied = 0;
        if (c && saga_migrate_core(c, &applied, &err) == 0 &&
            saga_pg_exec(c, "LISTEN " SAGA_CHANNEL_WAKE, &err) == 0 &&
            saga_pg_exec(c, "LISTEN " SAGA_CHANNEL_OUTBOX, &err) == 0) {
            if (applied)
                saga_log_info(NULL, "applied %d schema migrations", applied);
            d->conn = c;
            d->pg_ok = true;
            d->wake_now = d->relay_now = true;
            saga_log_info(NULL, "connected to PostgreSQL");
            return 0;
        }
        PQfinish(c);
        saga_log_warn(NULL, "%s; retrying in %lld ms", err.msg, (long long)delay);
        backoff_sleep(&delay, cap);
    }
    return -1;
}

static bool pg_broken(sagad *d)
{
    return PQstatus(d->conn) != CONNECTION_OK;
}

/* --- one turn ---------------------------------------------------------- */

typedef struct poison {
    rd_kafka_message_t *m; /* borrowed from the batch */
    char reason[SAGA_ERROR_MSG_MAX + 64];
} poison;

typedef struct start_req {
    rd_kafka_message_t *m;    /* borrowed from the batch */
    saga_inbound_start in;    /* decoded, owned */
    char key[SAGA_INBOUND_MAX_NAME + 64];
    saga_start_item item;     /* borrows in and key */
} start_req;

typedef struct turn {
    rd_kafka_message_t **msgs;
    size_t n_msgs;
    saga_engine_event *evs;
    size_t n_evs;
    saga_inbound_reply *replies; /* decoded, owned; indexed like msgs */
    poison *bad;
    size_t n_bad;
    char (*due)[SAGA_ID_LEN + 1];
    start_req *starts; /* valid StartSaga messages, created together */
    size_t n_starts;
} turn;

/* The saga_dlq_total label: the kind of reason, never the ids in it, so
 * the series stay few ("invalid Reply", "unknown saga", ...). */
static void dlq_reason_class(const char *reason, char *out, size_t len)
{
    if (strncmp(reason, "no saga ", 8) == 0) {
        snprintf(out, len, "unknown saga");
    } else if (strstr(reason, "has no step")) {
        snprintf(out, len, "unknown step");
    } else {
        size_t n = strcspn(reason, ":\"");
        snprintf(out, len, "%.*s", (int)(n < 40 ? n : 40), reason);
        while (*out && out[strlen(out) - 1] == ' ')
            out[strlen(out) - 1] = '\0';
    }
}

static void add_poison(turn *t, rd_kafka_message_t *m, const char *fmt, const char *detail)
{
    poison *p = &t->bad[t->n_bad++];
    p->m = m;
    snprintf(p->reason, sizeof p->reason, fmt, detail ? detail : "");
}

/* Decodes a Reply into an event, or records why it is poison. */
static void take_reply(turn *t, size_t i, int64_t now)
{
    rd_kafka_message_t *m = t->msgs[i];
    char why[256];
    if (!saga_inbound_reply_decode(m->payload, m->len, &t->replies[i], why, sizeof why)) {
        add_poison(t, m, "%s", why);
        return;
    }
    const Saga__Reply *r = t->replies[i].pb;
    saga_engine_event *x = &t->evs[t->n_evs++];
    memset(x, 0, sizeof *x);
    x->saga_id = r->saga_id;
    x->step_name = r->step;
    x->payload = t->replies[i].payload;
    x->ev.kind = SAGA_EV_REPLY;
    x->ev.now_ms = now;
    x->ev.random = saga_random32();
    x->ev.action = (saga_action)r->action;
    x->ev.attempt = r->attempt;
    x->ev.outcome = (saga_outcome)r->outcome;
    x->ev.reason = r->reason;
    x->created_ms = (int64_t)i; /* remembers which message it came from */
}

/* Checks a StartSaga message against its definition and queues it for
 * create_started, or records why it is poison. */
static int take_start(sagad *d, turn *t, size_t i, saga_error *err)
{
    rd_kafka_message_t *m = t->msgs[i];
    start_req *q = &t->starts[t->n_starts];
    char why[256];
    if (!saga_inbound_start_decode(m->payload, m->len, &q->in, why, sizeof why)) {
        add_poison(t, m, "%s", why);
        return 0;
    }
    const Saga__StartSaga *s = q->in.pb;
    const saga_spec *spec = NULL;
    saga_error e;
    saga_error_clear(&e);
    int rc = saga_engine_def(d->engine, d->conn, s->name, s->version, &spec, &e);
    if (rc == 0) {
        /* Without a key, the message's own coordinates are the key, so a
         * redelivery after a crash cannot start the saga twice. */
        if (*s->idempotency_key)
            snprintf(q->key, sizeof q->key, "%s", s->idempotency_key);
        else
            snprintf(q->key, sizeof q->key, "kafka:%s:%d:%lld", rd_kafka_topic_name(m->rkt),
                     m->partition, (long long)m->offset);
        rc = saga_start_prepare(spec, q->in.input, q->key, s->traceparent, false, &q->item,
                                &e);
    }
    if (rc == 0) {
        q->m = m;
        t->n_starts++;
        return 0;
    }
    saga_inbound_start_free(&q->in);
    if (rc == SAGA_ENOTFOUND || rc == SAGA_EINVAL || rc == SAGA_ELIMIT) {
        add_poison(t, m, "invalid StartSaga: %s", e.msg);
        return 0;
    }
    *err = e;
    return rc;
}

/* Creates the sagas of the turn's StartSaga messages in one statement and
 * queues START for each one created (a known key starts nothing). */
static int create_started(turn *t, int64_t now, PGconn *conn, saga_error *err)
{
    const saga_new **rows = malloc(t->n_starts * sizeof *rows);
    bool *created = malloc(t->n_starts * sizeof *created);
    int rc = rows && created ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < t->n_starts; i++)
        rows[i] = &t->starts[i].item.row;
    if (rc == 0)
        rc = saga_store_create_many(conn, rows, t->n_starts, created, err);
    for (size_t i = 0; rc == 0 && i < t->n_starts; i++) {
        if (!created[i])
            continue;
        saga_engine_event *x = &t->evs[t->n_evs++];
        memset(x, 0, sizeof *x);
        x->saga_id = t->starts[i].item.id;
        x->ev.kind = SAGA_EV_START;
        x->ev.now_ms = now;
        x->ev.random = saga_random32();
        x->created_ms = -1;
    }
    free(rows);
    free(created);
    return rc;
}

/* Keeps published outbox ids for the next turn to delete; if memory runs
 * out they are simply not deleted here and the relay re-sends them later
 * (participants deduplicate). */
static void remember_sent(sagad *d, const int64_t *ids, size_t n)
{
    if (n == 0)
        return;
    if (d->n_sent + n > d->cap_sent) {
        size_t cap = (d->n_sent + n) * 2;
        int64_t *v = realloc(d->sent_ids, cap * sizeof *v);
        if (!v)
            return;
        d->sent_ids = v;
        d->cap_sent = cap;
    }
    memcpy(d->sent_ids + d->n_sent, ids, n * sizeof *ids);
    d->n_sent += n;
}

/* Deletes the published outbox rows on their own (no turn came soon). */
static void forget_sent(sagad *d)
{
    saga_error err;
    if (saga_store_outbox_delete(d->conn, d->sent_ids, d->n_sent, &err) == 0 &&
        saga_pg_settle(d->conn, &err) == 0)
        d->n_sent = 0;
    else
        saga_log_warn(NULL, "%s", err.msg);
}

/* Runs one transaction over the messages and due sagas. Returns 0, or -1
 * when the transaction failed (its error in *fail); nothing of it is then
 * published or committed, and the caller decides what to consume again. */
static int run_turn(sagad *d, rd_kafka_message_t **msgs, size_t n_msgs, bool timers,
                    saga_error *fail)
{
    size_t cap = n_msgs + d->batch_max;
    turn t = {.msgs = msgs, .n_msgs = n_msgs};
    t.evs = calloc(cap ? cap : 1, sizeof *t.evs);
    t.replies = calloc(n_msgs + 1, sizeof *t.replies);
    t.bad = calloc(n_msgs + 1, sizeof *t.bad);
    t.due = calloc(d->batch_max, sizeof *t.due);
    t.starts = calloc(n_msgs + 1, sizeof *t.starts);
    saga_writes w;
    saga_writes_init(&w);
    saga_msgs out = {0};
    int64_t *ids = NULL;
    size_t n_ids = 0, n_due = 0;
    saga_error err;
    saga_error_clear(&err);
    int rc = 0;
    int64_t now = saga_now_ms();

    if (!t.evs || !t.replies || !t.bad || !t.due || !t.starts)
        rc = saga_error_set(&err, SAGA_ENOMEM, "out of memory");
    saga_engine_turn(d->engine); /* a new "latest" definition may exist */
    /* Definitions are resolved before the transaction, so that BEGIN, the
     * outbox delete and the first statement that is waited for (create,
     * claim or load) travel together; the write and COMMIT go in a second
     * round trip. */
    for (size_t i = 0; i < n_msgs && rc == 0; i++) {
        rd_kafka_message_t *m = msgs[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        if (strcmp(topic, d->topic_start) == 0)
            rc = take_start(d, &t, i, &err);
        else
            take_reply(&t, i, now);
    }
    if (rc == 0)
        rc = saga_pg_defer(d->conn, "BEGIN", 0, NULL, NULL, &err);
    if (rc == 0)
        rc = saga_store_outbox_delete(d->conn, d->sent_ids, d->n_sent, &err);
    if (rc == 0 && t.n_starts)
        rc = create_started(&t, now, d->conn, &err);
    if (rc == 0 && timers) {
        rc = saga_timers_claim(d->conn, now, d->batch_max, t.due, &n_due, &err);
        for (size_t i = 0; i < n_due && rc == 0; i++) {
            saga_engine_event *x = &t.evs[t.n_evs++];
            memset(x, 0, sizeof *x);
            x->saga_id = t.due[i];
            x->ev.kind = SAGA_EV_TIMER;
            x->ev.now_ms = now;
            x->ev.random = saga_random32();
            x->created_ms = -1;
        }
    }
    if (rc == 0)
        rc = saga_engine_apply(d->engine, d->conn, t.evs, t.n_evs, &w, &out, &err);
    for (size_t i = 0; i < t.n_evs && rc == 0; i++) {
        saga_engine_event *x = &t.evs[i];
        if (x->rc == SAGA_ENOTFOUND && x->created_ms >= 0)
            add_poison(&t, msgs[x->created_ms], "%s", x->err.msg);
    }
    if (rc == 0)
        rc = saga_store_write_commit(d->conn, &w, &ids, &n_ids, &err);

    if (rc) {
        saga_pg_rollback(d->conn);
        *fail = err;
        rc = -1;
    } else {
        d->n_sent = 0;
        /* The turn's own wake-ups; the exact earliest of all sagas is asked
         * after turns that claimed due sagas and on every relay tick. */
        if (w.earliest_wake_ms && (!d->next_wake || w.earliest_wake_ms < d->next_wake))
            d->next_wake = w.earliest_wake_ms;
        saga_metrics_observe(d->m.batch, NULL, (double)(n_msgs + n_due));
        for (size_t i = 0; i < t.n_evs; i++) {
            saga_engine_event *x = &t.evs[i];
            if (x->ev.kind == SAGA_EV_REPLY) {
                const char *lv[1] = {saga_outcome_name(x->ev.outcome)};
                saga_metrics_inc(d->m.replies, lv, 1);
                if (x->rc == 0 && !x->applied)
                    saga_metrics_inc(d->m.ignored, NULL, 1);
                if (x->rc == 0 && x->step_seconds >= 0) {
                    const char *sv[3] = {x->def_name, x->step_name,
                                         saga_action_name(x->ev.action)};
                    saga_metrics_observe(d->m.step_seconds, sv, x->step_seconds);
                }
            }
            saga_log_ctx lc = {.saga_id = x->saga_id, .traceparent = x->traceparent};
            if (x->rc == 0 && x->started) {
                const char *lv[1] = {x->def_name};
                saga_metrics_inc(d->m.started, lv, 1);
                saga_log_info(&lc, "saga %s started", x->def_name);
            }
            if (x->rc == 0 && x->status_after != x->status_before &&
                saga_status_terminal(x->status_after)) {
                const char *lv[2] = {x->def_name, saga_status_name(x->status_after)};
                saga_metrics_inc(d->m.finished, lv, 1);
                saga_log_info(&lc, "saga %s %s", x->def_name, saga_status_name(x->status_after));
            }
            if (x->rc == SAGA_ENOTFOUND || x->rc == SAGA_ECONFLICT)
                saga_log_warn(&lc, "%s", x->err.msg);
        }
        /* Publish what was just committed; on failure the rows stay and the
         * relay sends them after their grace period. */
        int prc = 0;
        for (size_t i = 0; i < out.n && prc == 0; i++)
            prc = saga_bus_produce(d->bus, out.v[i].topic, out.v[i].key, out.v[i].payload,
                                   out.v[i].len, out.v[i].traceparent, &err);
        if (prc == 0 && (out.n || t.n_bad)) {
            for (size_t i = 0; i < t.n_bad; i++) {
                saga_log_warn(NULL, "dead-lettering %s [%d] at offset %lld: %s",
                              rd_kafka_topic_name(t.bad[i].m->rkt), t.bad[i].m->partition,
                              (long long)t.bad[i].m->offset, t.bad[i].reason);
                char cls[64];
                dlq_reason_class(t.bad[i].reason, cls, sizeof cls);
                const char *lv[1] = {cls};
                saga_metrics_inc(d->m.dlq, lv, 1);
                saga_dlq_send(saga_bus_producer(d->bus), d->topic_dlq, t.bad[i].m,
                              t.bad[i].reason, NULL, &err);
            }
            prc = saga_bus_flush(d->bus, 30000, &err);
        }
        if (prc == 0) {
            remember_sent(d, ids, n_ids);
            saga_bus_done(d->bus, msgs, n_msgs);
        } else {
            saga_log_warn(NULL, "publish failed, the outbox relay will resend: %s", err.msg);
            /* The dead letters may not have landed: consume those again. */
            if (t.n_bad)
                saga_bus_rewind(d->bus, msgs, n_msgs); /* dead letters may be lost */
            else
                saga_bus_done(d->bus, msgs, n_msgs);
        }
    }

    for (size_t i = 0; t.replies && i < n_msgs; i++)
        saga_inbound_reply_free(&t.replies[i]);
    free(ids);
    saga_msgs_clear(&out);
    saga_writes_clear(&w);
    free(t.evs);
    free(t.replies);
    free(t.bad);
    free(t.due);
    for (size_t i = 0; i < t.n_starts; i++)
        saga_inbound_start_free(&t.starts[i].in);
    free(t.starts);
    if (rc == 0 && n_due == d->batch_max)
        d->wake_now = true; /* more may be due */
    return rc;
}

/*
 * A batch whose transaction failed while the connection is fine may hold
 * one message the database refuses (a value it cannot store). Left alone,
 * that message would fail every batch it is in, for ever, and stop its
 * partition. So the batch is redone one message per transaction; a message
 * that still fails on its own, three times, is dead-lettered with the
 * database's reason and its offset committed. Transient failures (a
 * deadlock) pass on a retry and are not mistaken for poison.
 */
static int isolate(sagad *d, rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        saga_error err;
        int rc = 0;
        for (int tries = 0; tries < 3; tries++) {
            rc = run_turn(d, &msgs[i], 1, false, &err);
            if (rc == 0 || pg_broken(d))
                break;
        }
        if (rc && pg_broken(d)) {
            saga_bus_rewind(d->bus, &msgs[i], n - i);
            return -1;
        }
        if (rc) {
            char reason[SAGA_ERROR_MSG_MAX + 64];
            snprintf(reason, sizeof reason, "refused by the database: %s", err.msg);
            saga_log_warn(NULL, "dead-lettering %s [%d] at offset %lld: %s",
                          rd_kafka_topic_name(msgs[i]->rkt), msgs[i]->partition,
                          (long long)msgs[i]->offset, reason);
            const char *lv[1] = {"refused by the database"};
            saga_metrics_inc(d->m.dlq, lv, 1);
            if (saga_dlq_send(saga_bus_producer(d->bus), d->topic_dlq, msgs[i], reason,
                              NULL, &err) ||
                saga_bus_flush(d->bus, 30000, &err)) {
                saga_log_warn(NULL, "%s", err.msg);
                saga_bus_rewind(d->bus, &msgs[i], n - i);
                return -1;
            }
            saga_bus_done(d->bus, &msgs[i], 1);
        }
    }
    return 0;
}

/* --- the loop ---------------------------------------------------------- */

static void drain_notifies(sagad *d)
{
    PQconsumeInput(d->conn);
    PGnotify *n;
    while ((n = PQnotifies(d->conn))) {
        if (strcmp(n->relname, SAGA_CHANNEL_WAKE) == 0)
            d->wake_now = true;
        else if (strcmp(n->relname, SAGA_CHANNEL_OUTBOX) == 0)
            d->relay_now = true;
        PQfreemem(n);
    }
}

static void relay(sagad *d)
{
    size_t sent = 0;
    saga_error err;
    do {
        if (saga_outbox_relay(d->conn, d->bus, d->batch_max, &sent, &err)) {
            saga_log_warn(NULL, "%s", err.msg);
            break;
        }
        if (sent)
            saga_log_info(NULL, "outbox relay published %zu commands", sent);
    } while (sent == d->batch_max && !stopping);
}

/* How long published outbox rows wait for a turn to delete them in. */
#define SENT_LINGER_MS 5

static int loop(sagad *d)
{
    rd_kafka_message_t **msgs = calloc(d->batch_max, sizeof *msgs);
    if (!msgs)
        return 1;
    int64_t interval = saga_config_ms(d->cfg, "outbox.interval");
    d->next_relay = 0;
    while (!stopping) {
        saga_http_beat(d->http);
        if (!d->conn || pg_broken(d)) {
            if (pg_connect(d))
                break;
        }
        int64_t now = saga_now_ms();
        int timeout = (int)interval;
        if (d->next_wake) {
            int64_t until = d->next_wake - now;
            if (until < timeout)
                timeout = until < 0 ? 0 : (int)until;
        }
        if (d->next_relay && d->next_relay - now < timeout)
            timeout = d->next_relay - now < 0 ? 0 : (int)(d->next_relay - now);
        if (d->n_sent && timeout > SENT_LINGER_MS)
            timeout = SENT_LINGER_MS;
        if (d->wake_now || d->relay_now)
            timeout = 0;
        struct pollfd fds[2] = {{.fd = saga_bus_fd(d->bus), .events = POLLIN},
                                {.fd = PQsocket(d->conn), .events = POLLIN}};
        if (poll(fds, 2, timeout) < 0 && errno != EINTR)
            saga_log_warn(NULL, "poll: %s", strerror(errno));
        saga_bus_serve(d->bus);
        drain_notifies(d);
        if (pg_broken(d))
            continue;

        now = saga_now_ms();
        bool due = d->wake_now || (d->next_wake && d->next_wake <= now);
        size_t n = saga_bus_consume(d->bus, msgs, d->batch_max, 0);
        if (n || due) {
            saga_log_debug(NULL, "turn: %zu messages%s", n, due ? ", due sagas" : "");
            d->wake_now = false;
            saga_error err;
            int rc = run_turn(d, msgs, n, due, &err);
            if (rc) {
                saga_log_warn(NULL, "transaction failed: %s", err.msg);
                if (pg_broken(d))
                    saga_bus_rewind(d->bus, msgs, n);
                else if (n)
                    rc = isolate(d, msgs, n);
                else
                    usleep(100000); /* due sagas alone failed: do not spin */
            }
            for (size_t i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
            if (rc) {
                d->wake_now = due;
                continue;
            }
            if (due && saga_timers_next(d->conn, &d->next_wake, &err))
                saga_log_warn(NULL, "%s", err.msg);
        } else if (d->n_sent) {
            forget_sent(d);
        }
        if (d->relay_now || saga_now_ms() >= d->next_relay) {
            d->relay_now = false;
            relay(d);
            /* Also catches wake-ups written by other processes (a sagad that
             * died, sagactl) that no turn of this one has seen. */
            saga_error err;
            if (saga_timers_next(d->conn, &d->next_wake, &err))
                saga_log_warn(NULL, "%s", err.msg);
            d->next_relay = saga_now_ms() + interval;
            int64_t lag = saga_bus_lag(d->bus);
            if (lag >= 0)
                saga_metrics_set(d->m.lag, NULL, (double)lag);
        }
    }
    if (d->n_sent && d->conn && !pg_broken(d))
        forget_sent(d);
    free(msgs);
    return 0;
}

static int set_kafka(const char *key, const char *value, void *user)
{
    char errstr[512];
    if (rd_kafka_conf_set(user, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        saga_log_error(NULL, "kafka.%s: %s", key, errstr);
        return -1;
    }
    return 0;
}

/* Role defaults first, then the user's kafka.* keys, so the user always
 * wins; bus.c then pins what correctness needs (manual offset commits,
 * idempotent producer). */
static rd_kafka_conf_t *kafka_conf(const saga_config *cfg, bool consumer)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    static const char *producer_defaults[][2] = {
        /* Each turn ends in a flush, which sends at once whatever linger
         * says; the linger only keeps a turn's commands together in one
         * produce request instead of one request per command. */
        {"linger.ms", "5"},
    };
    static const char *consumer_defaults[][2] = {
        {"session.timeout.ms", "6000"}, /* a dead sagad's partitions move fast */
        {"heartbeat.interval.ms", "1500"},
        {"fetch.wait.max.ms", "100"},
        {"auto.commit.interval.ms", "250"}, /* of offsets marked done; see bus.h */
    };
    set_kafka("client.id", "sagad", c);
    set_kafka("socket.nagle.disable", "true", c);
    size_t n = consumer ? sizeof consumer_defaults / sizeof *consumer_defaults
                        : sizeof producer_defaults / sizeof *producer_defaults;
    for (size_t i = 0; i < n; i++) {
        const char *const *kv = consumer ? consumer_defaults[i] : producer_defaults[i];
        set_kafka(kv[0], kv[1], c);
    }
    if (saga_config_each(cfg, "kafka.", set_kafka, c)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    return c;
}

static int ensure_topics(sagad *d, rd_kafka_conf_t *kc)
{
    int parts = (int)saga_config_int(d->cfg, "topics.partitions");
    int repl = (int)saga_config_int(d->cfg, "topics.replication");
    saga_topic_spec topics[] = {{d->topic_replies, parts, repl},
                                {d->topic_start, parts, repl},
                                {d->topic_dlq, 1, repl}};
    int64_t delay = 100, cap = saga_config_ms(d->cfg, "reconnect.max_backoff");
    while (!stopping) {
        char errstr[512];
        saga_error err;
        rd_kafka_t *admin = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_dup(kc),
                                         errstr, sizeof errstr);
        if (!admin) {
            saga_log_error(NULL, "kafka: %s", errstr);
            return -1;
        }
        int rc = saga_topics_ensure(admin, topics, 3, 10000, &err);
        rd_kafka_destroy(admin);
        if (rc == 0)
            return 0;
        saga_log_warn(NULL, "%s; retrying in %lld ms", err.msg, (long long)delay);
        backoff_sleep(&delay, cap);
    }
    return -1;
}

int main(int argc, char **argv)
{
    saga_log_setup("sagad", SAGA_LOG_INFO, SAGA_LOG_AUTO);
    sagad d = {0};
    saga_error err;
    d.cfg = saga_config_new(KEYS, sizeof KEYS / sizeof *KEYS);
    if (!d.cfg)
        return 1;
    if (saga_config_load(d.cfg, argc, argv, NULL, &err)) {
        fprintf(stderr, "sagad: %s\n", err.msg);
        if (err.hint[0])
            fprintf(stderr, "hint: %s\n", err.hint);
        saga_config_free(d.cfg);
        return 2;
    }
    if (saga_config_help_requested(d.cfg)) {
        printf("usage: sagad [--config FILE] [--KEY=VALUE ...]\n\n");
        saga_config_usage(d.cfg, stdout);
        saga_config_free(d.cfg);
        return 0;
    }
    if (saga_config_print_requested(d.cfg)) {
        saga_config_print(d.cfg, stdout);
        saga_config_free(d.cfg);
        return 0;
    }
    saga_log_level lvl = SAGA_LOG_INFO;
    saga_log_format fmt = SAGA_LOG_AUTO;
    saga_log_level_parse(saga_config_str(d.cfg, "log.level"), &lvl);
    saga_log_format_parse(saga_config_str(d.cfg, "log.format"), &fmt);
    saga_log_setup("sagad", lvl, fmt);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    d.batch_max = (size_t)saga_config_int(d.cfg, "batch.max");
    d.topic_replies = saga_config_str(d.cfg, "topics.replies");
    d.topic_start = saga_config_str(d.cfg, "topics.start");
    d.topic_dlq = saga_config_str(d.cfg, "topics.dlq");
    d.metrics = saga_metrics_new(0);
    metrics_init(&d);
    /* Healthy while the loop turns: it wakes at least every outbox.interval. */
    saga_http_handlers hh = {.ready = ready, .collect = collect, .metrics = d.metrics,
                             .liveness_ms = 30000 + 3 * saga_config_ms(d.cfg, "outbox.interval"),
                             .bind_timeout_ms = saga_config_ms(d.cfg, "http.bind_timeout")};
    d.http = saga_http_start(saga_config_str(d.cfg, "http.listen"), &hh, &d, &err);
    if (!d.http) {
        saga_log_error(NULL, "http.listen: %s", err.msg);
        saga_metrics_free(d.metrics);
        saga_config_free(d.cfg);
        return 1;
    }

    int code = 1;
    rd_kafka_conf_t *kc = kafka_conf(d.cfg, false);
    rd_kafka_conf_t *cc = kafka_conf(d.cfg, true);
    d.engine = saga_engine_new(d.topic_replies);
    if (kc && cc && d.engine && pg_connect(&d) == 0 && ensure_topics(&d, kc) == 0) {
        const char *topics[] = {d.topic_replies, d.topic_start};
        saga_bus_opts bo = {.producer = kc, .consumer = cc,
                            .group_id = saga_config_str(d.cfg, "sagad.group"),
                            .topics = topics, .n_topics = 2};
        d.bus = saga_bus_new(&bo, &err);
        if (!d.bus) {
            saga_log_error(NULL, "%s", err.msg);
        } else {
            saga_log_info(NULL, "sagad running");
            code = loop(&d);
            saga_log_info(NULL, "stopping");
        }
    } else if (stopping) {
        code = 0;
    }
    if (stopping && code == 1 && !d.bus)
        code = 0;
    saga_http_stop(d.http);
    saga_bus_free(d.bus, (int)saga_config_ms(d.cfg, "shutdown.timeout"));
    d.bus = NULL;
    if (kc)
        rd_kafka_conf_destroy(kc);
    if (cc)
        rd_kafka_conf_destroy(cc);
    saga_engine_free(d.engine);
    PQfinish(d.conn);
    free(d.sent_ids);
    saga_metrics_free(d.metrics);
    saga_config_free(d.cfg);
    return code;
}
