/*
 * sagad.c - the coordinator daemon: wires the store, the bus, the engine,
 * the timers, the outbox relay and the HTTP endpoint into one loop.
 *
 * One thread, one loop. It sleeps in poll() on the Kafka consumer's
 * wake-up pipe and the PostgreSQL socket (LISTEN) with a timeout equal to
 * the next saga wake-up, so it reacts at once to a reply, a start request or
 * a NOTIFY, and wakes exactly when a deadline is due. Each turn (turn.c,
 * over the batch of batch.c) is one transaction covering every waiting
 * message and every due saga:
 *
 *   BEGIN; delete the outbox rows Kafka acknowledged since;
 *   lock + decide + write state, history, outbox; COMMIT;
 *   publish the commands (their acks are not waited for: the delivery
 *   reports wake the loop and list the rows the next turn deletes);
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
#include "engine.h"
#include "failpoint.h"
#include "hops.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "breakers.h"
#include "sagad.h"
#include "schema.h"
#include "outbox.h"
#include "queries.h"
#include "reconcile_job.h"
#include "start.h"
#include "store.h"
#include "timers.h"
#include "topics.h"
#include "turn.h"

static const saga_config_key KEYS[] = {
    {.key = "pg.dsn", .type = SAGA_CONFIG_STRING, .flags = SAGA_CONFIG_REQUIRED,
     .env = "SAGA_PG_DSN", .help = "PostgreSQL connection string (keyword or URI form)"},
    {.key = "http.listen", .type = SAGA_CONFIG_STRING, .def = "127.0.0.1:9464",
     .help = "address of /healthz, /readyz and /metrics; \"off\" disables"},
    {.key = "http.bind_timeout", .type = SAGA_CONFIG_DURATION, .def = "30s", .range = "0ms..10m",
     .help = "how long a port still in use (a predecessor dying) is waited for; 0ms = one try"},
    {.key = "log.level", .type = SAGA_CONFIG_ENUM, .def = "info",
     .choices = "debug|info|warn|error", .help = "lowest level logged"},
    {.key = "log.format", .type = SAGA_CONFIG_ENUM, .def = "auto",
     .choices = "auto|json|text", .help = "json lines, or text; auto = json unless stderr is a terminal"},
    {.key = "sagad.group", .type = SAGA_CONFIG_STRING, .def = "sagad",
     .help = "Kafka consumer group shared by every sagad process"},
    {.key = "batch.max", .type = SAGA_CONFIG_INT, .def = "500", .range = "1..10000",
     .help = "most messages and due sagas handled in one transaction"},
    {.key = "batch.sibling_wait", .type = SAGA_CONFIG_DURATION, .def = "3ms",
     .range = "0ms..100ms",
     .help = "how long a batch of nothing but replies whose sagas await a reply to another "
             "command sent with them waits for it (0ms = never)"},
    {.key = "cache.sagas", .type = SAGA_CONFIG_INT, .def = "10000", .range = "0..1000000",
     .help = "sagas remembered between turns so their next turn reads nothing (0 = none)"},
    {.key = "outbox.interval", .type = SAGA_CONFIG_DURATION, .def = "1s",
     .range = "10ms..1h", .help = "how often the outbox relay looks for orphaned rows"},
    {.key = "topics.replies", .type = SAGA_CONFIG_STRING, .def = "saga.replies",
     .help = "topic sagad consumes replies from and names in every Command"},
    {.key = "topics.signals", .type = SAGA_CONFIG_STRING, .def = "saga.signals",
     .help = "topic of Signal messages: approvals, rejections, a parent's orders to its sub-sagas"},
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
    {.key = "pg.lock_timeout", .type = SAGA_CONFIG_DURATION, .def = "5s", .range = "10ms..10m",
     .help = "longest wait of a turn for a saga row locked elsewhere (the turn is retried)"},
    {.key = "log.status_interval", .type = SAGA_CONFIG_DURATION, .def = "30s",
     .range = "0ms..1d", .help = "how often a status line is logged at info (0ms = never)"},
    {.key = "reconcile.interval", .type = SAGA_CONFIG_DURATION, .def = "0ms",
     .range = "0ms..7d", .help = "how often finished sagas are reconciled with the "
                                 "participants' records (0ms = never; see sagactl reconcile)"},
    {.key = "reconcile.window", .type = SAGA_CONFIG_DURATION, .def = "1h", .range = "1s..30d",
     .help = "how far back the first reconciliation round looks"},
    {.key = "reconcile.timeout", .type = SAGA_CONFIG_DURATION, .def = "10s",
     .range = "100ms..10m", .help = "how long a reconciliation round waits for the answers"},
    {.key = "circuit.failures", .type = SAGA_CONFIG_INT, .def = "0", .range = "0..100000",
     .help = "failures (timeouts, RETRY) of a participant within circuit.window that open its "
             "circuit, where the spec sets none; 0 = no breaker"},
    {.key = "circuit.window", .type = SAGA_CONFIG_DURATION, .def = "30s", .range = "1s..1d",
     .help = "sliding window failures are counted in, where the spec sets none"},
    {.key = "circuit.cooldown", .type = SAGA_CONFIG_DURATION, .def = "10s", .range = "100ms..1d",
     .help = "how long an open circuit holds RESERVEs before one probe goes out"},
    {.key = "ready.max_timer_lag", .type = SAGA_CONFIG_DURATION, .def = "1m",
     .range = "1s..1d", .help = "/readyz fails when the earliest due wake-up waits longer"},
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    if (stopping)
        _exit(1); /* a second signal: stop at once */
    stopping = 1;
}

/* --- metrics and health ------------------------------------------------ */

static void metrics_init(sagad *d)
{
    static const double batch_buckets[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
    saga_metrics *m = d->metrics;
    d->m.started = saga_metrics_counter(m, "saga_started_total",
                                        "Sagas started, by definition.", "definition");
    d->m.deadline_expired = saga_metrics_counter(
        m, "saga_deadline_expired_total",
        "Sagas whose deadline passed before every reserve succeeded (then compensated).",
        "definition");
    d->m.finished = saga_metrics_counter(m, "saga_finished_total",
                                         "Sagas that reached a terminal status.",
                                         "definition,status");
    d->m.replies = saga_metrics_counter(m, "saga_replies_total",
                                        "Participant replies consumed, by outcome.",
                                        "outcome");
    d->m.signals = saga_metrics_counter(m, "saga_signals_total",
                                        "Signal messages consumed from saga.signals: "
                                        "approvals, rejections and parents' orders to "
                                        "sub-sagas, applied or refused.",
                                        "definition,decision,result");
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
    return sagad_watch_ready(user, why, len);
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
        char lock_timeout[64];
        snprintf(lock_timeout, sizeof lock_timeout, "SET lock_timeout = %lld",
                 (long long)saga_config_ms(d->cfg, "pg.lock_timeout"));
        /* Generic plans: a turn's statements are the same few, their
         * record sets are opaque to the planner whatever the values, and
         * the array conditions keep them on the indexes (store_write.c);
         * replanning each call cost 0.5 ms of every turn's first round
         * trip (docs/benchmarks.md, the fifth round). */
        if (c && saga_migrate_core(c, &applied, &err) == 0 &&
            saga_pg_exec(c, lock_timeout, &err) == 0 &&
            saga_pg_exec(c, "SET plan_cache_mode = force_generic_plan", &err) == 0 &&
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

/* How long acknowledged outbox rows wait for a turn to delete them in. */
#define SENT_LINGER_MS 5

static bool acked_waiting(const sagad *d)
{
    size_t n;
    saga_bus_acked(d->bus, &n);
    return n > 0;
}

/* How long poll() may sleep: until the next wake-up or relay tick, at most
 * outbox.interval; not at all when a NOTIFY asked for work. */
static int poll_timeout(const sagad *d, int64_t interval)
{
    int64_t now = saga_now_ms();
    int timeout = (int)interval;
    if (d->next_wake) {
        int64_t until = d->next_wake - now;
        if (until < timeout)
            timeout = until < 0 ? 0 : (int)until;
    }
    if (d->next_relay && d->next_relay - now < timeout)
        timeout = d->next_relay - now < 0 ? 0 : (int)(d->next_relay - now);
    if (acked_waiting(d)) {
        int64_t until = d->last_turn_ms + SENT_LINGER_MS - now;
        if (until < timeout)
            timeout = until < 0 ? 0 : (int)until;
    }
    if (d->wake_now || d->relay_now)
        timeout = 0;
    return timeout;
}

/* Whether every message of msgs is a reply whose saga still awaits one
 * (siblings.h). */
static bool all_await_siblings(const sagad *d, rd_kafka_message_t **msgs, size_t n,
                               int64_t now_ms)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rd_kafka_topic_name(msgs[i]->rkt), d->topic_replies) != 0 ||
            !saga_siblings_awaits(d->siblings, msgs[i]->key, msgs[i]->key_len, now_ms))
            return false;
    return true;
}

/* Counts the replies in msgs[0..n) and, while all of them await siblings,
 * consumes more for up to batch.sibling_wait: two replies to one turn's
 * commands arrive about 0.1-1.5 ms apart on an idle system, and applying
 * them in one turn instead of two saves the saga a turn (docs/benchmarks.md,
 * the fifth round). Anything else arriving (a start, another saga's reply)
 * ends the wait, so other sagas are delayed by nothing but the poll.
 * Returns the new count. */
static size_t gather_siblings(sagad *d, rd_kafka_message_t **msgs, size_t n)
{
    int64_t until = saga_hops_now_us() + d->sibling_wait_us;
    size_t counted = 0;
    bool waited = false;
    for (;;) {
        int64_t now_ms = saga_now_ms();
        for (; counted < n; counted++)
            if (strcmp(rd_kafka_topic_name(msgs[counted]->rkt), d->topic_replies) == 0)
                saga_siblings_replied(d->siblings, msgs[counted]->key, msgs[counted]->key_len,
                                      now_ms);
        int64_t left = until - saga_hops_now_us();
        if (n == d->batch_max || left <= 0 || !all_await_siblings(d, msgs, n, now_ms))
            break;
        struct pollfd fd = {.fd = saga_bus_fd(d->bus), .events = POLLIN};
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left * 1000};
        if (ppoll(&fd, 1, &ts, NULL) < 0 && errno != EINTR)
            break;
        n += saga_bus_consume(d->bus, msgs + n, d->batch_max - n, 0);
        waited = true;
    }
    if (waited)
        d->free_us = saga_hops_now_us(); /* the wait shows as reply.wait */
    return n;
}

/* Runs a turn over msgs (destroyed here) and the due sagas, and decides
 * what a failed one consumes again. Returns non-zero when it failed. */
static int turn(sagad *d, rd_kafka_message_t **msgs, size_t n, bool due)
{
    saga_log_debug(NULL, "turn: %zu messages%s", n, due ? ", due sagas" : "");
    d->wake_now = false;
    saga_error err;
    int rc = saga_turn_run(d, msgs, n, due, &err);
    d->free_us = saga_hops_now_us();
    d->last_turn_ms = saga_now_ms();
    d->watch.counts.turns++;
    if (rc) {
        d->watch.counts.failed_turns++;
        saga_log_warn(NULL, "transaction failed: %s", err.msg);
        if (err.code == SAGA_EBUSY) {
            /* A lock held elsewhere (or a deadlock): the same messages will
             * pass once it is released; isolating them would not help. */
            saga_log_warn(NULL, "a saga this turn needs is locked elsewhere; the turn is "
                                "retried (pg.lock_timeout)");
            saga_bus_rewind(d->bus, msgs, n);
            usleep(100000);
        } else if (sagad_pg_broken(d)) {
            saga_bus_rewind(d->bus, msgs, n);
        } else if (n) {
            rc = saga_turn_isolate(d, msgs, n);
        } else {
            usleep(100000); /* due sagas alone failed: do not spin */
        }
    }
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy(msgs[i]);
    if (rc) {
        d->wake_now = due;
        return rc;
    }
    if (due && saga_timers_next(d->conn, &d->next_wake, &err))
        saga_log_warn(NULL, "%s", err.msg);
    if (due)
        d->earliest_wake = d->next_wake;
    /* Due sagas that no turn can claim are locked by another transaction:
     * look again at the next tick rather than spin on them. */
    if (due && d->claimed == 0 && d->next_wake && d->next_wake <= saga_now_ms())
        d->next_wake = d->next_relay;
    return 0;
}

/* The relay tick: orphaned outbox rows, the earliest wake-up, the lag. */
static void tick(sagad *d, int64_t interval)
{
    d->relay_now = false;
    relay(d);
    /* Also catches wake-ups written by other processes (a sagad that
     * died, sagactl) that no turn of this one has seen. */
    saga_error err;
    if (saga_timers_next(d->conn, &d->next_wake, &err))
        saga_log_warn(NULL, "%s", err.msg);
    d->earliest_wake = d->next_wake;
    sagad_breakers_tick(d, interval);
    d->next_relay = saga_now_ms() + interval;
    int64_t lag = saga_bus_lag(d->bus);
    if (lag >= 0)
        saga_metrics_set(d->m.lag, NULL, (double)lag);
}

static int loop(sagad *d)
{
    rd_kafka_message_t **msgs = calloc(d->batch_max, sizeof *msgs);
    if (!msgs)
        return 1;
    int64_t interval = saga_config_ms(d->cfg, "outbox.interval");
    int fatal = 0;
    d->next_relay = 0;
    while (!stopping) {
        saga_http_beat(d->http);
        sagad_watch_tick(d, saga_now_ms()); /* also while turns keep failing */
        if (!d->conn || sagad_pg_broken(d)) {
            if (pg_connect(d))
                break;
        }
        int timeout = poll_timeout(d, interval);
        struct pollfd fds[3] = {{.fd = saga_bus_fd(d->bus), .events = POLLIN},
                                {.fd = PQsocket(d->conn), .events = POLLIN},
                                {.fd = saga_bus_producer_fd(d->bus), .events = POLLIN}};
        if (poll(fds, 3, timeout) < 0 && errno != EINTR)
            saga_log_warn(NULL, "poll: %s", strerror(errno));
        saga_bus_serve(d->bus);
        if (saga_bus_fatal(d->bus)) {
            saga_log_error(NULL, "stopping: the Kafka client cannot go on (%s); a restart "
                                 "joins afresh (nothing is lost: see docs/operations.md)",
                           saga_bus_fatal(d->bus));
            fatal = 1;
            break;
        }
        drain_notifies(d);
        if (sagad_pg_broken(d))
            continue;

        bool due = d->wake_now || (d->next_wake && d->next_wake <= saga_now_ms());
        size_t n = saga_bus_consume(d->bus, msgs, d->batch_max, 0);
        if (n && !due && d->sibling_wait_us)
            n = gather_siblings(d, msgs, n);
        if (n || due) {
            if (turn(d, msgs, n, due))
                continue;
        } else if (acked_waiting(d) && saga_now_ms() - d->last_turn_ms >= SENT_LINGER_MS) {
            saga_turn_forget_sent(d);
        }
        if (d->relay_now || saga_now_ms() >= d->next_relay)
            tick(d, interval);
    }
    /* The last acknowledgements, so that a clean stop leaves no row for the
     * relay to send twice. */
    saga_error err;
    if (saga_bus_flush(d->bus, (int)saga_config_ms(d->cfg, "shutdown.timeout"), &err))
        saga_log_warn(NULL, "%s", err.msg);
    if (acked_waiting(d) && d->conn && !sagad_pg_broken(d))
        saga_turn_forget_sent(d);
    free(msgs);
    return fatal;
}

static int set_kafka(const char *key, const char *value, void *user)
{
    saga_error err;
    if (saga_kafka_conf_set(user, key, value, &err) == 0)
        return 0;
    saga_log_error(NULL, "%s", err.msg);
    return -1;
}

/* Role defaults first, then the user's kafka.* keys, so the user always
 * wins; bus.c then pins what correctness needs (manual offset commits,
 * idempotent producer). */
static rd_kafka_conf_t *kafka_conf(const saga_config *cfg, bool consumer)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    static const char *producer_defaults[][2] = {
        /* No turn waits for the broker, so nothing flushes: a linger would
         * delay every command by that much. A turn's commands still share
         * produce requests, queued while the previous one is in flight. */
        {"linger.ms", "0"},
    };
    static const char *consumer_defaults[][2] = {
        {"session.timeout.ms", "6000"}, /* a dead sagad's partitions move fast */
        {"heartbeat.interval.ms", "1500"},
        {"fetch.wait.max.ms", "100"},
        {"auto.commit.interval.ms", "250"}, /* of offsets marked done; see bus.h */
        /* Not cooperative-sticky (the workers' choice): it balances the
         * count of partitions over both topics, and gave one of two sagad
         * all of saga.start and the other every reply. The range assignor
         * splits each topic; static membership gives the fast restart. */
        {"partition.assignment.strategy", "range"},
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
                                {d->topic_signals, parts, repl},
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
        int rc = saga_topics_ensure(admin, topics, sizeof topics / sizeof *topics, 10000,
                                    &err);
        rd_kafka_destroy(admin);
        if (rc == 0)
            return 0;
        saga_log_warn(NULL, "%s; retrying in %lld ms", err.msg, (long long)delay);
        backoff_sleep(&delay, cap);
    }
    return -1;
}

/* Reads the configuration and sets logging up. Returns -1 to go on, or the
 * exit code (0 after --help or --print-config, 2 on a bad configuration). */
static int configure(sagad *d, int argc, char **argv)
{
    saga_error err;
    d->cfg = saga_config_new(KEYS, sizeof KEYS / sizeof *KEYS);
    if (!d->cfg)
        return 1;
    int code = -1;
    if (saga_config_load(d->cfg, argc, argv, NULL, &err)) {
        fprintf(stderr, "sagad: %s\n", err.msg);
        if (err.hint[0])
            fprintf(stderr, "hint: %s\n", err.hint);
        code = 2;
    } else if (saga_config_help_requested(d->cfg)) {
        printf("usage: sagad [--config FILE] [--KEY=VALUE ...]\n\n");
        saga_config_usage(d->cfg, stdout);
        code = 0;
    } else if (saga_config_print_requested(d->cfg)) {
        saga_config_print(d->cfg, stdout);
        code = 0;
    }
    if (code >= 0) {
        saga_config_free(d->cfg);
        return code;
    }
    saga_log_level lvl = SAGA_LOG_INFO;
    saga_log_format fmt = SAGA_LOG_AUTO;
    saga_log_level_parse(saga_config_str(d->cfg, "log.level"), &lvl);
    saga_log_format_parse(saga_config_str(d->cfg, "log.format"), &fmt);
    saga_log_setup("sagad", lvl, fmt);
    d->batch_max = (size_t)saga_config_int(d->cfg, "batch.max");
    d->sibling_wait_us = saga_config_ms(d->cfg, "batch.sibling_wait") * 1000;
    d->topic_replies = saga_config_str(d->cfg, "topics.replies");
    d->topic_start = saga_config_str(d->cfg, "topics.start");
    d->topic_signals = saga_config_str(d->cfg, "topics.signals");
    d->topic_dlq = saga_config_str(d->cfg, "topics.dlq");
    return -1;
}

/* Connects to PostgreSQL and Kafka and runs the loop until a stop.
 * Returns the exit code. */
static int serve(sagad *d, rd_kafka_conf_t *kc, rd_kafka_conf_t *cc)
{
    int code = 1;
    if (kc && cc && d->engine && pg_connect(d) == 0 && ensure_topics(d, kc) == 0) {
        const char *topics[] = {d->topic_replies, d->topic_start, d->topic_signals};
        /* A restarted sagad takes its partitions back at once (kafka.h). */
        char instance[512];
        bool is_static = !saga_config_str(d->cfg, "kafka.group.instance.id") &&
                         saga_kafka_instance_id("sagad", saga_config_str(d->cfg, "http.listen"),
                                                instance, sizeof instance);
        saga_bus_opts bo = {.producer = kc, .consumer = cc,
                            .group_id = saga_config_str(d->cfg, "sagad.group"),
                            .instance_id = is_static ? instance : NULL,
                            .topics = topics, .n_topics = 3};
        saga_error err;
        d->bus = saga_bus_new(&bo, &err);
        if (!d->bus) {
            saga_log_error(NULL, "%s", err.msg);
        } else {
            saga_log_info(NULL, "sagad running");
            sagad_reconcile_job *rj = sagad_reconcile_start(d);
            code = loop(d);
            saga_log_info(NULL, "stopping");
            sagad_reconcile_stop(rj);
        }
    } else if (stopping) {
        code = 0;
    }
    if (stopping && code == 1 && !d->bus)
        code = 0;
    return code;
}

int main(int argc, char **argv)
{
    saga_log_setup("sagad", SAGA_LOG_INFO, SAGA_LOG_AUTO);
    sagad d = {0};
    int code = configure(&d, argc, argv);
    if (code >= 0)
        return code;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    saga_error fperr;
    if (saga_failpoint_init(&fperr)) {
        fprintf(stderr, "sagad: %s\nhint: %s\n", fperr.msg, fperr.hint);
        saga_config_free(d.cfg);
        return 2;
    }
    d.metrics = saga_metrics_new(0);
    metrics_init(&d);
    sagad_watch_init(&d);
    /* Healthy while the loop turns: it wakes at least every outbox.interval. */
    saga_http_handlers hh = {.ready = ready, .collect = collect, .metrics = d.metrics,
                             .liveness_ms = 30000 + 3 * saga_config_ms(d.cfg, "outbox.interval"),
                             .bind_timeout_ms = saga_config_ms(d.cfg, "http.bind_timeout")};
    saga_error err;
    d.http = saga_http_start(saga_config_str(d.cfg, "http.listen"), &hh, &d, &err);
    if (!d.http) {
        saga_log_error(NULL, "http.listen: %s", err.msg);
        saga_metrics_free(d.metrics);
        saga_config_free(d.cfg);
        return 1;
    }

    rd_kafka_conf_t *kc = kafka_conf(d.cfg, false);
    rd_kafka_conf_t *cc = kafka_conf(d.cfg, true);
    d.engine = saga_engine_new(d.topic_replies);
    if (d.engine)
        saga_engine_set_signal_topic(d.engine, d.topic_signals);
    d.siblings = saga_siblings_new(4096);
    if (!d.siblings || sagad_breakers_init(&d) || !d.engine ||
        saga_engine_set_cache(d.engine, (size_t)saga_config_int(d.cfg, "cache.sagas"))) {
        saga_engine_free(d.engine); /* out of memory: serve() gives up */
        d.engine = NULL;
    }
    code = serve(&d, kc, cc);
    saga_http_stop(d.http);
    saga_bus_free(d.bus, (int)saga_config_ms(d.cfg, "shutdown.timeout"));
    d.bus = NULL;
    if (kc)
        rd_kafka_conf_destroy(kc);
    if (cc)
        rd_kafka_conf_destroy(cc);
    saga_engine_free(d.engine);
    saga_circuits_free(d.circuits);
    saga_siblings_free(d.siblings);
    PQfinish(d.conn);
    saga_metrics_free(d.metrics);
    saga_config_free(d.cfg);
    return code;
}
