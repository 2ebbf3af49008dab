/*
 * reconcile.c - one reconciliation run: read the finished sagas' steps, ask
 * their participants, compare.
 *
 * The run is a closed conversation: a reply topic of its own
 * ("saga.reconcile.<uuid>", one partition, created now, deleted at the end)
 * read by an unsubscribed consumer from its first offset, so answers that
 * arrive before the consumer is ready are not lost and no consumer group
 * keeps offsets for it. Answers are matched by idempotency key, which is
 * unique per step; a second answer to the same key (a redelivered QUERY)
 * says the same and is ignored.
 */
#include "reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "pg.h"
#include "saga.pb-c.h"
#include "topics.h"

#define POLL_MS 100
/* Steps queried per run at most: a bound on memory, not a tuning knob. */
#define MAX_STEPS 200000

static const char LOAD_SQL[] =
    "SELECT s.id, s.def_name, s.def_version, s.status, s.resolved, st.name,"
    " st.reserve_attempts, st.confirm_attempts, st.compensate_attempts,"
    " coalesce(st.reserve_outcome, ''), coalesce(st.confirm_outcome, ''),"
    " coalesce(st.compensate_outcome, '')"
    " FROM (SELECT id, def_name, def_version, status, resolved, finished_at FROM sagas"
    "  WHERE status IN ('COMPLETED', 'COMPENSATED')"
    "   AND finished_at >= 'epoch'::timestamptz + $1::bigint * interval '1 millisecond'"
    "   AND ($3::bigint = 0"
    "        OR finished_at < 'epoch'::timestamptz + $3::bigint * interval '1 millisecond')"
    "  ORDER BY finished_at DESC, id LIMIT $2) s"
    " JOIN saga_steps st ON st.saga_id = s.id"
    " ORDER BY s.finished_at DESC, s.id, st.idx";

void saga_reconcile_report_free(saga_reconcile_report *r)
{
    for (size_t i = 0; i < r->n_steps; i++)
        for (int a = 0; a < 4; a++) {
            free(r->steps[i].reason[a]);
            free(r->steps[i].result[a]);
        }
    free(r->steps);
    memset(r, 0, sizeof *r);
}

static saga_outcome outcome_of(const char *s)
{
    saga_outcome o = SAGA_OUT_NONE;
    return *s && saga_outcome_parse(s, &o) == 0 ? o : SAGA_OUT_NONE;
}

/* Fills st from row i of r; false when the step is not wanted (another
 * participant) or its definition cannot be loaded. */
static bool step_from(saga_engine *e, PGconn *conn, const saga_reconcile_opts *o,
                      PGresult *r, int i, saga_reconcile_step *st)
{
    memset(st, 0, sizeof *st);
    snprintf(st->saga_id, sizeof st->saga_id, "%s", PQgetvalue(r, i, 0));
    snprintf(st->def_name, sizeof st->def_name, "%s", PQgetvalue(r, i, 1));
    st->def_version = atoi(PQgetvalue(r, i, 2));
    saga_status_parse(PQgetvalue(r, i, 3), &st->log.status);
    st->resolved = strcmp(PQgetvalue(r, i, 4), "t") == 0;
    snprintf(st->step, sizeof st->step, "%s", PQgetvalue(r, i, 5));
    for (int a = SAGA_ACT_RESERVE; a <= SAGA_ACT_COMPENSATE; a++) {
        st->log.attempts[a] = atoi(PQgetvalue(r, i, 5 + a));
        st->log.outcome[a] = outcome_of(PQgetvalue(r, i, 8 + a));
    }
    const saga_spec *spec;
    saga_error err;
    if (saga_engine_def(e, conn, st->def_name, st->def_version, &spec, &err))
        return false;
    int k = saga_spec_step_index(spec, st->step);
    /* Signal steps have no participant to ask; a sub-saga step's records are
     * its child's, reconciled as a saga of its own. */
    if (k < 0 || spec->steps[k].kind != SAGA_STEP_TASK)
        return false;
    st->log.without_confirm = spec->steps[k].confirm.command == NULL;
    st->log.without_compensate = spec->steps[k].compensate.command == NULL;
    snprintf(st->participant, sizeof st->participant, "%s", spec->steps[k].participant);
    snprintf(st->topic, sizeof st->topic, "%s", spec->steps[k].topic);
    return !o->participant || strcmp(o->participant, st->participant) == 0;
}

static int load_steps(saga_engine *e, PGconn *conn, const saga_reconcile_opts *o,
                      saga_reconcile_report *out, saga_error *err)
{
    char since[32], limit[32], until[32];
    snprintf(since, sizeof since, "%lld", (long long)o->since_ms);
    snprintf(limit, sizeof limit, "%ld", o->limit > 0 ? o->limit : 1000L);
    snprintf(until, sizeof until, "%lld", (long long)o->until_ms);
    const char *params[3] = {since, limit, until};
    PGresult *r = saga_pg_query(conn, LOAD_SQL, 3, params, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        saga_error_set(err, SAGA_EDB, "reconcile: %s", PQresultErrorMessage(r));
        PQclear(r);
        return SAGA_EDB;
    }
    int n = PQntuples(r) < MAX_STEPS ? PQntuples(r) : MAX_STEPS;
    out->steps = calloc((size_t)n + 1, sizeof *out->steps);
    if (!out->steps) {
        PQclear(r);
        return saga_error_set(err, SAGA_ENOMEM, "reconcile: out of memory");
    }
    const char *last = "";
    for (int i = 0; i < n; i++) {
        if (!step_from(e, conn, o, r, i, &out->steps[out->n_steps]))
            continue;
        if (strcmp(last, out->steps[out->n_steps].saga_id) != 0)
            out->n_sagas++;
        last = out->steps[out->n_steps++].saga_id;
    }
    PQclear(r);
    return 0;
}

/* --- asking the participants ------------------------------------------------ */

static rd_kafka_t *client(const saga_reconcile_opts *o, rd_kafka_type_t type,
                          const char *group, saga_error *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = saga_kafka_conf_set(conf, "client.id", "saga-reconcile", err);
    for (int i = 0; rc == 0 && i < o->n_kafka; i++)
        rc = saga_kafka_conf_set(conf, o->kafka[i].key, o->kafka[i].value, err);
    if (rc == 0 && group)
        rc = saga_kafka_conf_set(conf, "group.id", group, err) ||
             saga_kafka_conf_set(conf, "enable.auto.commit", "false", err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        saga_error_set(err, SAGA_EKAFKA, "reconcile: kafka client: %s", errstr);
    }
    return rk;
}

static int produce_query(rd_kafka_t *p, const saga_reconcile_step *st, const char *reply_topic,
                         int64_t deadline_ms, saga_error *err)
{
    char key[SAGA_ID_LEN + SAGA_SPEC_MAX_NAME + 2];
    snprintf(key, sizeof key, "%s/%s", st->saga_id, st->step);
    Saga__Command c = SAGA__COMMAND__INIT;
    c.saga_id = (char *)st->saga_id;
    c.saga_name = (char *)st->def_name;
    c.saga_version = st->def_version;
    c.step = (char *)st->step;
    c.action = SAGA__ACTION__QUERY;
    c.attempt = 1;
    c.idempotency_key = key;
    c.deadline_ms = deadline_ms;
    c.reply_topic = (char *)reply_topic;
    size_t len = saga__command__get_packed_size(&c);
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        return saga_error_set(err, SAGA_ENOMEM, "reconcile: out of memory");
    saga__command__pack(&c, buf);
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(st->topic),
                                  RD_KAFKA_V_KEY(st->saga_id, strlen(st->saga_id)),
                                  RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                  RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 50);
    if (e) {
        free(buf);
        return saga_error_set(err, SAGA_EKAFKA, "reconcile: cannot send QUERY to %s: %s",
                              st->topic, rd_kafka_err2str(e));
    }
    return 0;
}

static int by_key(const void *a, const void *b)
{
    const saga_reconcile_step *x = *(saga_reconcile_step *const *)a;
    const saga_reconcile_step *y = *(saga_reconcile_step *const *)b;
    int c = strcmp(x->saga_id, y->saga_id);
    return c ? c : strcmp(x->step, y->step);
}

/* Records one answer; returns 1 when it was the first for its step. */
static int take_answer(saga_reconcile_step **index, size_t n, const Saga__Reply *r)
{
    if (r->action != SAGA__ACTION__QUERY || !r->saga_id || !r->step)
        return 0;
    saga_reconcile_step probe;
    snprintf(probe.saga_id, sizeof probe.saga_id, "%s", r->saga_id);
    snprintf(probe.step, sizeof probe.step, "%s", r->step);
    saga_reconcile_step *pp = &probe;
    saga_reconcile_step **hit = bsearch(&pp, index, n, sizeof *index, by_key);
    if (!hit || (*hit)->seen.answered)
        return 0;
    saga_reconcile_step *st = *hit;
    st->seen.answered = true;
    for (size_t i = 0; i < r->n_recorded; i++) {
        const Saga__Recorded *e = r->recorded[i];
        if (e->action < SAGA__ACTION__RESERVE || e->action > SAGA__ACTION__COMPENSATE)
            continue;
        st->seen.outcome[e->action] = (saga_outcome)e->outcome;
        free(st->reason[e->action]);
        st->reason[e->action] = strdup(e->reason ? e->reason : "");
        free(st->result[e->action]);
        st->result[e->action] = e->result.len ? strndup((const char *)e->result.data,
                                                        e->result.len)
                                              : NULL;
    }
    return 1;
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Reads answers until every step has one or the time is up. */
static void collect(rd_kafka_t *consumer, saga_reconcile_report *out, int64_t timeout_ms)
{
    saga_reconcile_step **index = malloc((out->n_steps + 1) * sizeof *index);
    if (!index)
        return;
    for (size_t i = 0; i < out->n_steps; i++)
        index[i] = &out->steps[i];
    qsort(index, out->n_steps, sizeof *index, by_key);
    size_t answered = 0;
    int64_t end = mono_ms() + timeout_ms;
    while (answered < out->n_steps && mono_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, POLL_MS);
        if (!m)
            continue;
        if (!m->err) {
            Saga__Reply *r = saga__reply__unpack(NULL, m->len, m->payload);
            if (r) {
                answered += (size_t)take_answer(index, out->n_steps, r);
                saga__reply__free_unpacked(r, NULL);
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(index);
}

/* Best effort: a topic left behind is harmless (nothing reads it) and is
 * named for what it was. */
static void delete_topic(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_DeleteTopic_t *t = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, &t, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(t);
}

static int ask(const saga_reconcile_opts *o, saga_reconcile_report *out, saga_error *err)
{
    char id[SAGA_ID_LEN + 1];
    saga_uuid_new(id);
    snprintf(out->reply_topic, sizeof out->reply_topic, "saga.reconcile.%s", id);
    rd_kafka_t *producer = client(o, RD_KAFKA_PRODUCER, NULL, err);
    if (!producer)
        return SAGA_EKAFKA;
    saga_topic_spec spec = {out->reply_topic, 1, -1};
    int rc = saga_topics_ensure(producer, &spec, 1, 10000, err);
    bool created = rc == 0;
    rd_kafka_t *consumer = rc ? NULL : client(o, RD_KAFKA_CONSUMER, out->reply_topic, err);
    if (rc == 0 && !consumer)
        rc = SAGA_EKAFKA;
    if (rc == 0) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, out->reply_topic, 0)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
        int64_t deadline = (int64_t)time(NULL) * 1000 + o->timeout_ms;
        for (size_t i = 0; rc == 0 && i < out->n_steps; i++)
            rc = produce_query(producer, &out->steps[i], out->reply_topic, deadline, err);
        if (rc == 0 && rd_kafka_flush(producer, (int)o->timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = saga_error_set(err, SAGA_EKAFKA, "reconcile: QUERY commands not delivered "
                                                  "within %lld ms", (long long)o->timeout_ms);
        if (rc == 0)
            collect(consumer, out, o->timeout_ms);
    }
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    if (created)
        delete_topic(producer, out->reply_topic);
    rd_kafka_destroy(producer);
    return rc;
}

int saga_reconcile_run(saga_engine *e, PGconn *conn, const saga_reconcile_opts *o,
                       saga_reconcile_report *out, saga_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = load_steps(e, conn, o, out, err);
    if (rc || out->n_steps == 0)
        return rc;
    rc = ask(o, out, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < out->n_steps; i++) {
        saga_reconcile_step *st = &out->steps[i];
        st->n_found = saga_recon_compare(&st->log, &st->seen, st->found);
        out->n_mismatches += st->n_found;
        out->n_unanswered += !st->seen.answered;
    }
    return 0;
}
