/*
 * worker.c - the participant loop: poll a batch, apply it in one
 * transaction, answer, then acknowledge.
 *
 * The order is what makes the worker safe to kill at any instant:
 *   1. poll whatever is already there (up to batch_max; never wait to fill);
 *   2. in one transaction: claim every command's barrier row, run the
 *      handlers the barrier lets through, record every answer; COMMIT once
 *      (apply.c);
 *   3. wait for the delivery of the previous batch's answers, then mark
 *      its Kafka offsets done (send.c); librdkafka commits marked offsets
 *      every auto.commit.interval.ms and on close (one commit request per
 *      batch was a large part of the broker's work);
 *   4. produce this batch's replies and dead-letter copies and hold the
 *      batch: its deliveries complete while the next one is polled and
 *      applied, so no batch waits for the broker's acknowledgement unless
 *      there is nothing else to do.
 * A crash before 2 commits loses nothing (Kafka redelivers); after 2 but
 * before the offsets are committed, the redelivered commands find their
 * barrier rows and get the recorded replies again. If PostgreSQL goes away in 2, the same batch is
 * re-applied after reconnecting (nothing was acknowledged).
 */
#include "worker.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "apply.h"
#include "clock.h"
#include "dlq.h"
#include "failpoint.h"
#include "hops.h"
#include "kafka.h"
#include "ops.h"
#include "pg.h"
#include "send.h"
#include "topics.h"

/* Exit status of an injected crash, distinct from errors (2) and signals. */
#define CRASH_STATUS 3
#define POLL_MS 200

static volatile sig_atomic_t stop_requested;

void saga_worker_request_stop(void)
{
    stop_requested = 1;
}

static bool stopping(void)
{
    return stop_requested != 0;
}

/* The first signal stops gracefully; a second one stops at once. */
static void on_signal(int sig)
{
    (void)sig;
    if (stop_requested)
        _exit(1);
    stop_requested = 1;
}

typedef struct worker {
    const saga_worker_config *cfg;
    const saga_worker_handlers *h;
    void *user;
    saga_worker_stats *stats;
    saga_worker_stats own_stats;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    PGconn *pg;
    saga_barrier barrier;
    saga_applier applier;
    saga_wops ops;
    struct timespec assignment_checked;
    saga_kafka_assignment assignment;
    char app_name[128];
    char fatal[512]; /* a fatal Kafka error, "" when none */
    saga_item *items;
    int n;
    saga_item *held; /* the previous batch, its answers in flight */
    int n_held;
    saga_wsend send;
} worker;

static void count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* --- Kafka ------------------------------------------------------------------ */

static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    saga_log_level l = level <= 3 ? SAGA_LOG_ERROR : level <= 5 ? SAGA_LOG_WARN
                     : level == 6 ? SAGA_LOG_INFO : SAGA_LOG_DEBUG;
    saga_log(l, NULL, "kafka %s: %s", fac, buf);
}

/* Served by the loop's polls, on its thread. */
static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    worker *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, w->fatal, sizeof w->fatal);
        saga_log_error(NULL, "kafka fatal error: %s; stopping", w->fatal);
        stop_requested = 1;
        return;
    }
    saga_log_warn(NULL, "kafka: %s", reason);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    worker *w = opaque;
    saga_wsend_report(&w->send, m);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    (void)opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        saga_log_warn(NULL, "offset commit failed: %s (the commands will be redelivered "
                            "and answered from the barrier)", rd_kafka_err2str(err));
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    worker *w = opaque;
    char who[160];
    snprintf(who, sizeof who, "%s-worker", w->cfg->participant);
    saga_kafka_rebalance(rk, err, parts, &w->assignment, who);
}

static bool has_kafka_key(const saga_worker_config *c, const char *key)
{
    for (int i = 0; i < c->n_kafka_conf; i++)
        if (strcmp(c->kafka_conf[i].key, key) == 0)
            return true;
    return false;
}

/* Role defaults first, then the user's kafka.* settings (so they win), then
 * what correctness needs: offsets committed only by the loop, after the
 * replies; an idempotent producer, so a retried reply is not duplicated. */
static rd_kafka_conf_t *kafka_conf(worker *w, bool consumer, saga_error *err)
{
    const saga_worker_config *c = w->cfg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char client_id[160], instance[512];
    snprintf(client_id, sizeof client_id, "%s-worker", c->participant);
    static const char *const consumer_defaults[][2] = {
        {"session.timeout.ms", "6000"}, /* a dead worker's partitions move fast */
        {"heartbeat.interval.ms", "1500"},
        {"fetch.wait.max.ms", "100"},
        {"auto.offset.reset", "earliest"}, /* a new group starts at the beginning */
        {"auto.commit.interval.ms", "250"}, /* of offsets marked done (step 4) */
        /* only the partitions that must move stop during a rebalance */
        {"partition.assignment.strategy", "cooperative-sticky"},
    };
    static const char *const producer_defaults[][2] = {
        /* Nothing flushes a batch's replies (send.h): a linger would delay
         * each by that much. They still share produce requests, queued
         * while the previous one is in flight. */
        {"linger.ms", "0"},
    };
    static const char *const consumer_pinned[][2] = {
        {"enable.auto.commit", "true"}, /* only offsets marked done */
        {"enable.auto.offset.store", "false"},
    };
    static const char *const producer_pinned[][2] = {
        {"enable.idempotence", "true"},
    };
    int rc = saga_kafka_conf_set(conf, "client.id", client_id, err);
    if (rc == 0)
        rc = saga_kafka_conf_set(conf, "socket.nagle.disable", "true", err);
#define N_OF(a) (sizeof a / sizeof *a)
    size_t nd = consumer ? N_OF(consumer_defaults) : N_OF(producer_defaults);
    size_t np = consumer ? N_OF(consumer_pinned) : N_OF(producer_pinned);
#undef N_OF
    for (size_t i = 0; rc == 0 && i < nd; i++)
        rc = consumer ? saga_kafka_conf_set(conf, consumer_defaults[i][0], consumer_defaults[i][1], err)
                      : saga_kafka_conf_set(conf, producer_defaults[i][0], producer_defaults[i][1], err);
    for (int i = 0; rc == 0 && i < c->n_kafka_conf; i++)
        rc = saga_kafka_conf_set(conf, c->kafka_conf[i].key, c->kafka_conf[i].value, err);
    if (rc == 0 && c->brokers)
        rc = saga_kafka_conf_set(conf, "bootstrap.servers", c->brokers, err);
    if (rc == 0 && consumer)
        rc = saga_kafka_conf_set(conf, "group.id", c->group, err);
    if (rc == 0 && consumer && !has_kafka_key(c, "group.instance.id") &&
        saga_kafka_instance_id(client_id, c->http_listen, instance, sizeof instance))
        rc = saga_kafka_conf_set(conf, "group.instance.id", instance, err);
    for (size_t i = 0; rc == 0 && i < np; i++)
        rc = consumer ? saga_kafka_conf_set(conf, consumer_pinned[i][0], consumer_pinned[i][1], err)
                      : saga_kafka_conf_set(conf, producer_pinned[i][0], producer_pinned[i][1], err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, w);
    rd_kafka_conf_set_log_cb(conf, on_kafka_log);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    if (consumer) {
        rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    }
    else
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    return conf;
}

static int kafka_open(worker *w, saga_error *err)
{
    char errstr[512];
    rd_kafka_conf_t *pc = kafka_conf(w, false, err);
    if (!pc)
        return SAGA_EINVAL;
    w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    if (!w->producer) {
        rd_kafka_conf_destroy(pc);
        return saga_error_set(err, SAGA_EKAFKA, "kafka producer: %s", errstr);
    }
    rd_kafka_conf_t *cc = kafka_conf(w, true, err);
    if (!cc)
        return SAGA_EINVAL;
    w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
    if (!w->consumer) {
        rd_kafka_conf_destroy(cc);
        return saga_error_set(err, SAGA_EKAFKA, "kafka consumer: %s", errstr);
    }
    rd_kafka_poll_set_consumer(w->consumer);
    saga_kafka_assignment_init(&w->assignment, saga_clock_now_ms());
    w->send = (saga_wsend){.producer = w->producer, .consumer = w->consumer,
                           .dlq_topic = w->cfg->dlq_topic, .free_us = saga_hops_now_us()};
    return 0;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Creates the command and dead-letter topics, retrying while Kafka is not
 * reachable. 0, or 1 when asked to stop first. */
static int ensure_topics(worker *w)
{
    const saga_worker_config *c = w->cfg;
    saga_topic_spec t[2] = {
        {c->topic, c->partitions, c->replication},
        {c->dlq_topic ? c->dlq_topic : SAGA_TOPIC_DLQ, c->partitions, c->replication},
    };
    for (int backoff = 200; !stopping();) {
        saga_error err;
        if (saga_topics_ensure(w->producer, t, 2, 10000, &err) == 0)
            return 0;
        saga_log_warn(NULL, "%s (brokers %s); retrying in %d ms", err.msg, c->brokers,
                      backoff);
        for (int slept = 0; slept < backoff && !stopping(); slept += 50)
            pause_ms(50);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return 1;
}

/* --- one batch ---------------------------------------------------------------- */

/* Packs the answer of every QUERY of the batch from the barrier rows of
 * their keys, read after the batch committed (so a QUERY sees the effect of
 * a command just before it). 0 or SAGA_EDB / SAGA_ENOMEM. */
static int answer_queries(worker *w)
{
    const char **keys = calloc((size_t)w->n + 1, sizeof *keys);
    if (!keys)
        return SAGA_ENOMEM;
    size_t n = 0;
    for (int i = 0; i < w->n; i++)
        if (w->items[i].query)
            keys[n++] = w->items[i].cmd.pb->idempotency_key;
    int rc = 0;
    saga_barrier_rows rows = {0};
    saga_error err;
    if (n > 0 && (rc = saga_barrier_read(&w->barrier, w->pg, keys, n, &rows, &err)))
        saga_log_error(NULL, "answering QUERY: %s", err.msg);
    for (int i = 0; rc == 0 && n > 0 && i < w->n; i++) {
        saga_item *it = &w->items[i];
        if (!it->query)
            continue;
        free(it->reply);
        it->reply = NULL;
        rc = saga_wire_query_reply(it->cmd.pb, &rows, &it->reply, &it->reply_len);
    }
    saga_barrier_rows_free(&rows);
    free(keys);
    return rc;
}

/* Applies the batch, reconnecting to PostgreSQL and re-applying as long as
 * needed (a batch applied twice is answered from the barrier the second
 * time). 0, or 1 when asked to stop before it could be applied. */
static int apply_until_done(worker *w)
{
    for (int backoff = 100;;) {
        w->applier.pg = w->pg;
        if (w->pg && saga_apply_batch(&w->applier, w->items, w->n) == 0 &&
            answer_queries(w) == 0)
            return 0;
        if (stopping()) {
            saga_log_warn(NULL, "stopping with a batch of %d messages not applied; "
                                "they will be redelivered", w->n);
            return 1;
        }
        count(&w->stats->batch_retries, 1);
        saga_wops_beat(&w->ops);
        if (!saga_pg_alive(w->pg)) {
            saga_log_warn(NULL, "lost the PostgreSQL connection; reconnecting");
            saga_wops_ready(&w->ops, false, false);
            PQfinish(w->pg);
            w->pg = saga_pg_connect_retry(w->cfg->pg_dsn, w->app_name, stopping);
            if (!w->pg)
                continue;
            count(&w->stats->db_reconnects, 1);
            saga_wops_reconnect(&w->ops);
            saga_log_info(NULL, "reconnected to PostgreSQL; applying the batch again");
            backoff = 100;
        } else {
            for (int slept = 0; slept < backoff && !stopping(); slept += 50)
                pause_ms(50);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
    }
}

static void crash_if_drawn(worker *w)
{
    for (int i = 0; i < w->n; i++) {
        saga_item *it = &w->items[i];
        if (it->recorded && it->fault.crash) {
            saga_log_error(&it->log, "injected fault: crash after commit (exit %d)",
                           CRASH_STATUS);
            _exit(CRASH_STATUS);
        }
    }
}

/* Decides what goes out for each message and packs replies. */
static int prepare_sends(worker *w)
{
    for (int i = 0; i < w->n; i++) {
        saga_item *it = &w->items[i];
        it->send = false;
        if (!it->cmd.pb) {
            it->send = true;
            continue;
        }
        if (it->query) {
            /* Past its deadline the asking run has gone, and with it the
             * reply topic: an answer would only recreate that topic. */
            if (it->cmd.pb->deadline_ms && it->cmd.pb->deadline_ms < saga_clock_now_ms()) {
                saga_log_info(&it->log, "past its deadline: not answered");
                continue;
            }
            count(&w->stats->queries, 1);
            saga_log_info(&it->log, "answered from the barrier");
            it->send = true;
            continue;
        }
        if (it->fault.ignore) {
            saga_log_info(&it->log, "injected fault: ignored, no answer");
            count(&w->stats->ignored, 1);
            it->faulted = true;
            continue;
        }
        count(&w->stats->commands[it->cmd.pb->action][it->outcome], 1);
        if (it->duplicate)
            count(&w->stats->duplicates, 1);
        /* One info line per command: with the trace id on it, one order can
         * be followed across every process by grepping its trace id. */
        saga_log_info(&it->log, "%s%s%s%s", saga_worker_outcome_name(it->outcome),
                      it->duplicate ? " (duplicate)" : "", *it->reason ? ": " : "", it->reason);
        if (it->recorded && it->fault.drop_reply) {
            saga_log_info(&it->log, "injected fault: reply dropped");
            count(&w->stats->replies_dropped, 1);
            it->faulted = true;
            continue;
        }
        free(it->reply);
        if (saga_wire_reply(it->cmd.pb, it->outcome, it->reason, it->result, &it->reply,
                            &it->reply_len))
            return SAGA_ENOMEM;
        it->send = true;
    }
    return 0;
}

static void free_items(saga_item *items, int *n)
{
    for (int i = 0; i < *n; i++) {
        saga_item *it = &items[i];
        saga_wire_cmd_free(&it->cmd);
        free(it->result);
        free(it->reply);
        rd_kafka_message_destroy(it->msg);
    }
    *n = 0;
}

static void add_message(worker *w, rd_kafka_message_t *m)
{
    if (m->err) {
        /* A fatal error (a fenced static member) may arrive as a message
         * rather than through the error callback: stop the same way. */
        if (m->err == RD_KAFKA_RESP_ERR__FATAL && !w->fatal[0]) {
            rd_kafka_fatal_error(w->consumer, w->fatal, sizeof w->fatal);
            saga_log_error(NULL, "kafka fatal error: %s; stopping", w->fatal);
            stop_requested = 1;
        }
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            saga_log_warn(NULL, "kafka consume: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    saga_item *it = &w->items[w->n++];
    memset(it, 0, sizeof *it);
    it->msg = m;
    it->polled_us = saga_hops_now_us();
    int rc = saga_wire_decode(m->payload, m->len, w->cfg->max_message_bytes, &it->cmd,
                              it->poison, sizeof it->poison);
    if (rc) {
        it->poison_code = rc == SAGA_ELIMIT ? SAGA_DLQ_COMMAND_TOO_LARGE : SAGA_DLQ_INVALID_COMMAND;
        saga_log_warn(NULL, "dead-lettering %s [%" PRId32 "] @%" PRId64 ": %s",
                      rd_kafka_topic_name(m->rkt), m->partition, m->offset, it->poison);
        count(&w->stats->dead_lettered, 1);
        return;
    }
    const Saga__Command *pb = it->cmd.pb;
    saga_worker_action a = (saga_worker_action)pb->action;
    it->query = pb->action == SAGA__ACTION__QUERY;
    it->log = (saga_log_ctx){pb->saga_id, pb->step,
                             it->query ? "QUERY" : saga_worker_action_name(a), pb->attempt,
                             pb->traceparent};
    if (it->query)
        return; /* no faults: a QUERY changes nothing to disturb */
    it->fault = saga_faults_draw(&w->cfg->faults, pb->idempotency_key, a, pb->attempt);
}

/* Polls what is available: waits for the first message only, and hardly
 * at all while a held batch waits to be settled. */
static void poll_batch(worker *w)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, w->n_held ? 1 : POLL_MS);
    while (m) {
        add_message(w, m);
        m = w->n < w->cfg->batch_max ? rd_kafka_consumer_poll(w->consumer, 0) : NULL;
    }
}

static void delay_if_drawn(worker *w)
{
    const saga_worker_faults *f = &w->cfg->faults;
    for (int i = 0; i < w->n; i++) {
        saga_item *it = &w->items[i];
        if (it->cmd.pb && !it->query && !it->fault.ignore &&
            saga_faults_delays(f, (saga_worker_action)it->cmd.pb->action)) {
            count(&w->stats->faults_injected, 1);
            saga_wops_delay(&w->ops);
            pause_ms(f->delay_ms);
            return;
        }
    }
}

/* A failpoint's "error" stops the worker without acknowledging the batch,
 * as a lost connection would: its commands are consumed again. */
static int failpoint(const char *name)
{
    saga_error err;
    saga_error_clear(&err);
    if (saga_failpoint(name, &err) == 0)
        return 0;
    saga_log_error(NULL, "%s; stopping without acknowledging the batch", err.msg);
    return 1;
}

/* Settles the held batch: waits for its answers' delivery, then marks its
 * offsets done. 1 when the worker must stop without acknowledging it. */
static int settle_held(worker *w)
{
    if (w->n_held == 0)
        return 0;
    if (saga_wsend_await(&w->send, w->held, w->n_held, stopping))
        return 1;
    if (failpoint("worker.after_reply"))
        return 1;
    saga_wsend_mark_done(&w->send, w->held, w->n_held);
    saga_wops_batch(&w->ops, w->held, w->n_held);
    free_items(w->held, &w->n_held);
    return 0;
}

/* Applies one batch, settles the one before, then sends this one's
 * answers and holds it. 1 when the worker must stop without acknowledging
 * either. */
static int handle_batch(worker *w)
{
    count(&w->stats->batches, 1);
    w->send.start_us = saga_hops_now_us();
    delay_if_drawn(w);
    if (apply_until_done(w))
        return 1;
    w->send.applied_us = saga_hops_now_us();
    crash_if_drawn(w);
    if (failpoint("worker.after_commit"))
        return 1;
    if (prepare_sends(w)) {
        saga_log_error(NULL, "out of memory packing replies");
        return 1;
    }
    if (settle_held(w))
        return 1;
    saga_wsend_produce(&w->send, w->items, w->n);
    saga_item *v = w->held;
    w->held = w->items;
    w->n_held = w->n;
    w->items = v;
    w->n = 0;
    return 0;
}

/* Tells the health endpoint whether this worker can serve; the assignment
 * is looked up at most once a second (it allocates). */
static void report_readiness(worker *w)
{
    saga_wops_beat(&w->ops);
    if (!w->ops.http)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec == w->assignment_checked.tv_sec)
        return;
    w->assignment_checked = now;
    rd_kafka_topic_partition_list_t *l = NULL;
    bool assigned = rd_kafka_assignment(w->consumer, &l) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    l && l->cnt > 0;
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    saga_wops_ready(&w->ops, saga_pg_alive(w->pg), assigned);
}

/* --- run ------------------------------------------------------------------------ */

static int check_config(const saga_worker_config *c, const saga_worker_handlers *h,
                        saga_error *err)
{
    if (!c->participant || !*c->participant || !c->schema || !*c->schema)
        return saga_error_set(err, SAGA_EINVAL, "worker: no participant name");
    if (!c->pg_dsn || !*c->pg_dsn) {
        saga_error_set(err, SAGA_EINVAL, "no PostgreSQL DSN");
        saga_error_hint(err, "set SAGA_PG_DSN or pass --pg-dsn");
        return SAGA_EINVAL;
    }
    if (!c->brokers || !*c->brokers) {
        saga_error_set(err, SAGA_EINVAL, "no Kafka brokers");
        saga_error_hint(err, "set SAGA_KAFKA_BROKERS or kafka.bootstrap.servers");
        return SAGA_EINVAL;
    }
    if (c->batch_max < 1 || c->partitions < 1)
        return saga_error_set(err, SAGA_EINVAL, "batch-max and partitions must be >= 1");
    if (!h || (!h->reserve && !h->confirm && !h->compensate))
        return saga_error_set(err, SAGA_EINVAL, "worker: no handlers");
    return 0;
}

/* Connects, applies the migrations and checks the barrier table, starting
 * over (with the connection's backoff) when the connection is lost on the
 * way. 0, 1 when asked to stop first, or a negative SAGA_E* code. */
static int open_db(worker *w, saga_error *err)
{
    for (;;) {
        w->pg = saga_pg_connect_retry(w->cfg->pg_dsn, w->app_name, stopping);
        if (!w->pg)
            return 1;
        int rc = 0, applied = 0;
        if (w->cfg->migrations)
            rc = saga_migrate(w->pg, w->cfg->participant, w->cfg->migrations,
                              w->cfg->n_migrations, &applied, err);
        if (rc == 0 && applied > 0)
            saga_log_info(NULL, "applied %d migrations of %s", applied, w->cfg->participant);
        if (rc == 0)
            rc = saga_barrier_migrate(w->pg, w->cfg->schema, NULL, err);
        if (rc == 0)
            rc = saga_barrier_open(&w->barrier, w->pg, w->cfg->schema, err);
        if (rc == 0 || saga_pg_alive(w->pg)) {
            w->applier = (saga_applier){w->pg, &w->barrier, w->h, w->user, w->stats};
            return rc;
        }
        saga_log_warn(NULL, "%s; reconnecting", err->msg);
        PQfinish(w->pg);
        w->pg = NULL;
    }
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void log_summary(const saga_worker_stats *s)
{
    uint64_t total = 0;
    for (int a = 0; a < 4; a++)
        for (int o = 0; o < 4; o++)
            total += s->commands[a][o];
    saga_log_info(NULL, "stopped: %" PRIu64 " commands answered (%" PRIu64
                        " duplicates) in %" PRIu64 " batches, %" PRIu64 " dead-lettered, %" PRIu64
                        " faults injected, %" PRIu64 " reconnects",
                  total, s->duplicates, s->batches, s->dead_lettered, s->faults_injected,
                  s->db_reconnects);
}

static int consume(worker *w, saga_error *err)
{
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, w->cfg->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(w->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e)
        return saga_error_set(err, SAGA_EKAFKA, "cannot subscribe to %s: %s", w->cfg->topic,
                              rd_kafka_err2str(e));
    saga_log_info(NULL, "consuming %s as group %s (batches of up to %d)", w->cfg->topic,
                  w->cfg->group, w->cfg->batch_max);
    w->items = calloc((size_t)w->cfg->batch_max, sizeof *w->items);
    w->held = calloc((size_t)w->cfg->batch_max, sizeof *w->held);
    if (!w->items || !w->held)
        return saga_error_set(err, SAGA_ENOMEM, "worker: out of memory");
    int give_up = 0;
    while (!stopping() && !give_up) {
        report_readiness(w);
        poll_batch(w);
        if (w->n == 0) {
            give_up = settle_held(w);
            continue;
        }
        give_up = handle_batch(w);
        free_items(w->items, &w->n);
        w->send.free_us = saga_hops_now_us();
    }
    if (!give_up)
        settle_held(w); /* a stop: the last answers, then their offsets */
    free_items(w->held, &w->n_held);
    return 0;
}

int saga_worker_run(const saga_worker_config *cfg, const saga_worker_handlers *h,
                    void *user, saga_worker_stats *stats, saga_error *err)
{
    saga_error_clear(err);
    int rc = check_config(cfg, h, err);
    if (rc == 0)
        rc = saga_failpoint_init(err);
    if (rc)
        return rc;
    worker w;
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    w.h = h;
    w.user = user;
    w.stats = stats ? stats : &w.own_stats;
    snprintf(w.app_name, sizeof w.app_name, "%s-worker", cfg->participant);
    rc = saga_wops_start(&w.ops, cfg->http_listen, cfg->http_bind_timeout_ms, err);
    if (rc)
        return rc;
    if (cfg->install_signal_handlers)
        install_signals();

    rc = open_db(&w, err);
    if (rc == 0)
        rc = kafka_open(&w, err);
    if (rc == 0 && ensure_topics(&w) == 0)
        rc = consume(&w, err);
    if (rc > 0)
        rc = 0; /* asked to stop while starting */
    if (rc == 0 && w.fatal[0])
        rc = saga_error_set(err, SAGA_EKAFKA, "kafka fatal error: %s", w.fatal);

    if (w.consumer) {
        rd_kafka_consumer_close(w.consumer);
        rd_kafka_destroy(w.consumer);
    }
    if (w.producer) {
        rd_kafka_flush(w.producer, 5000);
        rd_kafka_destroy(w.producer);
    }
    saga_barrier_close(&w.barrier);
    PQfinish(w.pg);
    free(w.items);
    free(w.held);
    saga_wops_stop(&w.ops);
    if (rc == 0)
        log_summary(w.stats);
    return rc;
}
