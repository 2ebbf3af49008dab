/*
 * batch.c - a turn's inputs: Kafka messages decoded into engine events or
 * dead letters, StartSaga messages created in one statement, due sagas.
 *
 * Each event keeps the message it came from in its source field, so a
 * Reply the engine finds no saga or step for is dead-lettered as that very
 * message; STARTs and TIMERs have none and are never poison. Everything a
 * turn allocates is sized here, once, from the number of messages and
 * batch.max: a turn never grows an array while its transaction is open.
 */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "random.h"
#include "topics.h"
#include "start.h"
#include "start_item.h"
#include "timers.h"

int saga_batch_init(saga_batch *b, rd_kafka_message_t **msgs, size_t n, size_t max_due,
                    int64_t now, saga_error *err)
{
    size_t cap = n + max_due;
    memset(b, 0, sizeof *b);
    b->msgs = msgs;
    b->n_msgs = n;
    b->now = now;
    b->evs = calloc(cap ? cap : 1, sizeof *b->evs);
    b->ev_msg = calloc(cap ? cap : 1, sizeof *b->ev_msg);
    b->replies = calloc(n + 1, sizeof *b->replies);
    b->signals = calloc(n + 1, sizeof *b->signals);
    b->bad = calloc(n + 1, sizeof *b->bad);
    b->due = calloc(max_due, sizeof *b->due);
    b->starts = calloc(n + 1, sizeof *b->starts);
    if (!b->evs || !b->ev_msg || !b->replies || !b->signals || !b->bad || !b->due || !b->starts)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    return 0;
}

void saga_batch_free(saga_batch *b)
{
    for (size_t i = 0; b->replies && i < b->n_msgs; i++)
        saga_inbound_reply_free(&b->replies[i]);
    for (size_t i = 0; b->signals && i < b->n_msgs; i++)
        saga_inbound_signal_free(&b->signals[i]);
    for (size_t i = 0; i < b->n_starts; i++) {
        saga_start_item_clear(&b->starts[i].item);
        saga_inbound_start_free(&b->starts[i].in);
    }
    free(b->evs);
    free(b->ev_msg);
    free(b->replies);
    free(b->signals);
    free(b->bad);
    free(b->due);
    free(b->starts);
    memset(b, 0, sizeof *b);
}

static void add_poison(saga_batch *b, rd_kafka_message_t *m, saga_dlq_reason code,
                       const char *fmt, const char *detail)
{
    saga_poison *p = &b->bad[b->n_bad++];
    p->m = m;
    p->code = code;
    snprintf(p->reason, sizeof p->reason, fmt, detail ? detail : "");
}

static saga_engine_event *add_event(saga_batch *b, const char *saga_id, saga_event_kind kind,
                                    rd_kafka_message_t *source)
{
    b->ev_msg[b->n_evs] = source;
    saga_engine_event *x = &b->evs[b->n_evs++];
    memset(x, 0, sizeof *x);
    x->saga_id = saga_id;
    x->source = source;
    x->ev.kind = kind;
    x->ev.now_ms = b->now;
    x->ev.random = saga_random32();
    return x;
}

/* Decodes a Reply into an event, or records why it is poison. */
static void take_reply(saga_batch *b, size_t i)
{
    rd_kafka_message_t *m = b->msgs[i];
    saga_dlq_reason code;
    char why[256];
    if (!saga_inbound_reply_decode(m->payload, m->len, &b->replies[i], &code, why,
                                   sizeof why)) {
        add_poison(b, m, code, "%s", why);
        return;
    }
    const Saga__Reply *r = b->replies[i].pb;
    saga_engine_event *x = add_event(b, r->saga_id, SAGA_EV_REPLY, m);
    x->step_name = r->step;
    x->payload = b->replies[i].payload;
    x->ev.action = (saga_action)r->action;
    x->ev.attempt = r->attempt;
    x->ev.outcome = (saga_outcome)r->outcome;
    x->ev.reason = r->reason;
}

/* Decodes a Signal into an event (SIGNAL, or PARENT for a parent's order
 * to its sub-saga), or records why it is poison. */
static void take_signal(saga_batch *b, size_t i)
{
    rd_kafka_message_t *m = b->msgs[i];
    saga_dlq_reason code;
    char why[256];
    if (!saga_inbound_signal_decode(m->payload, m->len, &b->signals[i], &code, why,
                                    sizeof why)) {
        add_poison(b, m, code, "%s", why);
        return;
    }
    const Saga__Signal *s = b->signals[i].pb;
    bool parent = s->decision == SAGA__DECISION__PARENT_CONFIRM ||
                  s->decision == SAGA__DECISION__PARENT_COMPENSATE;
    saga_engine_event *x = add_event(b, s->saga_id, parent ? SAGA_EV_PARENT : SAGA_EV_SIGNAL, m);
    x->step_name = parent ? NULL : s->step;
    x->payload = b->signals[i].data;
    x->actor = *s->actor ? s->actor : "kafka";
    x->ev.approve = s->decision == SAGA__DECISION__APPROVE;
    x->ev.reason = s->reason;
    x->ev.action = s->decision == SAGA__DECISION__PARENT_CONFIRM ? SAGA_ACT_CONFIRM
                                                                 : SAGA_ACT_COMPENSATE;
    x->ev.attempt = s->attempt;
}

/* Checks a StartSaga message against its definition and queues it for
 * saga_batch_create, or records why it is poison. */
static int take_start(saga_batch *b, sagad *d, size_t i, saga_error *err)
{
    rd_kafka_message_t *m = b->msgs[i];
    saga_batch_start *q = &b->starts[b->n_starts];
    saga_dlq_reason code;
    char why[256];
    if (!saga_inbound_start_decode(m->payload, m->len, &q->in, &code, why, sizeof why)) {
        add_poison(b, m, code, "%s", why);
        return 0;
    }
    const Saga__StartSaga *s = q->in.pb;
    const saga_spec *spec = NULL;
    saga_error e;
    saga_error_clear(&e);
    int rc = saga_engine_def_hint(d->engine, d->conn, s->name, s->version, &spec, &e);
    if (rc == 0) {
        /* Without a key, the message's own coordinates are the key, so a
         * redelivery after a crash cannot start the saga twice. */
        if (*s->idempotency_key)
            snprintf(q->key, sizeof q->key, "%s", s->idempotency_key);
        else
            snprintf(q->key, sizeof q->key, "kafka:%s:%d:%lld", rd_kafka_topic_name(m->rkt),
                     m->partition, (long long)m->offset);
        saga_start_opts o = {.deadline_ms = s->deadline_ms, .start_at_ms = s->start_at_ms,
                             .past_ok = true, .tags = q->in.tags};
        rc = saga_start_prepare(spec, q->in.input, q->key, s->traceparent, false, &o,
                                &q->item, &e);
    }
    if (rc == 0) {
        q->m = m;
        b->n_starts++;
        return 0;
    }
    saga_start_item_clear(&q->item);
    saga_inbound_start_free(&q->in);
    if (rc == SAGA_ENOTFOUND || rc == SAGA_EINVAL || rc == SAGA_ELIMIT) {
        add_poison(b, m, SAGA_DLQ_INVALID_START, "invalid StartSaga: %s", e.msg);
        return 0;
    }
    *err = e;
    return rc;
}

int saga_batch_decode(saga_batch *b, sagad *d, saga_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < b->n_msgs && rc == 0; i++) {
        const char *topic = rd_kafka_topic_name(b->msgs[i]->rkt);
        if (strcmp(topic, d->topic_start) == 0)
            rc = take_start(b, d, i, err);
        else if (strcmp(topic, d->topic_signals) == 0)
            take_signal(b, i);
        else
            take_reply(b, i);
    }
    return rc;
}

int saga_batch_create(saga_batch *b, saga_engine *e, PGconn *conn, saga_error *err)
{
    const saga_new **rows = malloc(b->n_starts * sizeof *rows);
    bool *created = malloc(b->n_starts * sizeof *created);
    int rc = rows && created ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < b->n_starts; i++) {
        b->starts[i].item.row.writer = saga_engine_writer(e);
        rows[i] = &b->starts[i].item.row;
    }
    if (rc == 0)
        rc = saga_store_create_many(conn, rows, b->n_starts, created, err);
    for (size_t i = 0; rc == 0 && i < b->n_starts; i++) {
        /* A scheduled saga waits for its timer. The others are started in
         * this turn, from what was just inserted: nothing to read. */
        if (created[i] && !saga_start_item_scheduled(&b->starts[i].item)) {
            saga_engine_remember_new(e, rows[i]);
            add_event(b, b->starts[i].item.id, SAGA_EV_START, NULL);
            b->ev_msg[b->n_evs - 1] = b->starts[i].m;
        }
    }
    free(rows);
    free(created);
    return rc;
}

int saga_batch_claim(saga_batch *b, PGconn *conn, size_t max, saga_error *err)
{
    int rc = saga_timers_claim(conn, b->now, max, b->due, &b->n_due, err);
    for (size_t i = 0; i < b->n_due && rc == 0; i++)
        add_event(b, b->due[i], SAGA_EV_TIMER, NULL);
    return rc;
}

void saga_batch_unknown(saga_batch *b)
{
    for (size_t i = 0; i < b->n_evs; i++) {
        const saga_engine_event *x = &b->evs[i];
        if (x->rc != SAGA_ENOTFOUND || !x->source)
            continue;
        /* The engine names the definition once it found the saga. */
        add_poison(b, x->source, x->def_name[0] ? SAGA_DLQ_UNKNOWN_STEP : SAGA_DLQ_UNKNOWN_SAGA,
                   "%s", x->err.msg);
    }
}
