/*
 * turn.c - one turn of sagad's loop, as the steps it takes:
 *
 *   decode   the batch's messages, definitions resolved (batch.c), before
 *            the transaction so that none of its round trips waits on them
 *            (the latest version as remembered; checked in begin);
 *   begin    BEGIN, the previous turn's outbox delete, the definitions'
 *            check, then create / claim: deferred statements that travel
 *            together in one round trip;
 *   decide   lock, load (only the sagas not remembered: engine.h) and run
 *            the engine on every event;
 *   commit   state, history and outbox written with COMMIT: round trip two;
 *   publish  the commands (their acks not awaited), dead letters, offsets.
 *
 * Two round trips per turn whatever its size is the shape the throughput
 * rests on, and one when every saga of a turn of replies is remembered:
 * a step added here must join one of them, not make a third.
 */
#include "turn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "dlq.h"
#include "failpoint.h"
#include "hops.h"
#include "log.h"
#include "store.h"
#include "turn_hops.h"

typedef struct turn {
    sagad *d;
    saga_batch b;
    saga_writes w;
    saga_msgs out;
    int64_t *ids; /* outbox ids written, owned */
    size_t n_ids;
    int64_t us[5]; /* start, decoded, decided, committed, produced (hops.h) */
    size_t n_forget; /* acknowledged outbox ids this turn deletes */
    bool stale;      /* started a saga from a definition no longer the latest */
} turn;

void saga_turn_forget_sent(sagad *d)
{
    saga_error err;
    size_t n;
    const int64_t *ids = saga_bus_acked(d->bus, &n);
    if (saga_store_outbox_delete(d->conn, ids, n, &err) == 0 &&
        saga_pg_settle(d->conn, &err) == 0)
        saga_bus_acked_drop(d->bus, n);
    else
        saga_log_warn(NULL, "%s", err.msg);
}

/* Logs, counts and enqueues one dead letter. */
static int dead_letter(sagad *d, rd_kafka_message_t *m, saga_dlq_reason code,
                       const char *reason, saga_error *err)
{
    saga_log_warn(NULL, "dead-lettering %s [%d] at offset %lld: %s", rd_kafka_topic_name(m->rkt),
                  m->partition, (long long)m->offset, reason);
    const char *lv[1] = {saga_dlq_reason_label(code)};
    saga_metrics_inc(d->m.dlq, lv, 1);
    d->watch.counts.dead++;
    return saga_dlq_send(saga_bus_producer(d->bus), d->topic_dlq, m, code, reason, NULL, err);
}

/* The first round trip: nothing in it is waited for until create, claim
 * or the engine's load. */
static int turn_begin(turn *t, bool timers, saga_error *err)
{
    sagad *d = t->d;
    int rc = saga_pg_defer(d->conn, "BEGIN", 0, NULL, NULL, err);
    const int64_t *acked = saga_bus_acked(d->bus, &t->n_forget);
    if (rc == 0)
        rc = saga_store_outbox_delete(d->conn, acked, t->n_forget, err);
    if (rc == 0)
        rc = saga_engine_defs_check(d->engine, d->conn, err);
    if (rc == 0 && t->b.n_starts)
        rc = saga_batch_create(&t->b, d->engine, d->conn, err);
    if (rc == 0 && timers)
        rc = saga_batch_claim(&t->b, d->conn, d->batch_max, err);
    return rc;
}

static int turn_decide(turn *t, saga_error *err)
{
    saga_circuits_gate(t->d->circuits, t->b.evs, t->b.n_evs);
    int rc = saga_engine_apply(t->d->engine, t->d->conn, t->b.evs, t->b.n_evs, &t->w, &t->out,
                               err);
    if (rc == 0 && saga_engine_defs_stale(t->d->engine)) {
        t->stale = true;
        return saga_error_set(err, SAGA_EBUSY, "a definition was applied during the turn");
    }
    if (rc == 0)
        rc = saga_circuits_defer(t->d->circuits, t->d->conn, t->b.evs, t->b.n_evs, err);
    if (rc == 0) {
        saga_batch_unknown(&t->b);
        saga_turn_hops(&t->b, &t->w, t->d->free_us, t->us[0]);
    }
    t->us[2] = saga_hops_now_us();
    return rc;
}

static void count_event(sagad_counts *c, const saga_engine_event *x)
{
    if (x->rc)
        return;
    if (x->ev.kind == SAGA_EV_TIMER)
        c->timers++;
    if (x->ev.kind == SAGA_EV_REPLY) {
        if (x->applied)
            c->applied++;
        else
            c->ignored++;
    }
    c->started += x->started;
    c->finished += x->status_after != x->status_before && saga_status_terminal(x->status_after);
}

static void report_event(sagad *d, const saga_engine_event *x)
{
    count_event(&d->watch.counts, x);
    if (x->ev.kind == SAGA_EV_REPLY) {
        const char *lv[1] = {saga_outcome_name(x->ev.outcome)};
        saga_metrics_inc(d->m.replies, lv, 1);
        if (x->rc == 0 && !x->applied)
            saga_metrics_inc(d->m.ignored, NULL, 1);
        if (x->rc == 0 && x->step_seconds >= 0) {
            const char *sv[3] = {x->def_name, x->step_name, saga_action_name(x->ev.action)};
            saga_metrics_observe(d->m.step_seconds, sv, x->step_seconds);
        }
    }
    if (x->ev.kind == SAGA_EV_SIGNAL || x->ev.kind == SAGA_EV_PARENT) {
        const char *lv[3] = {x->def_name[0] ? x->def_name : "unknown",
                             x->ev.kind == SAGA_EV_PARENT
                                 ? (x->ev.action == SAGA_ACT_CONFIRM ? "parent_confirm"
                                                                     : "parent_compensate")
                                 : (x->ev.approve ? "approve" : "reject"),
                             x->rc ? "refused" : "applied"};
        saga_metrics_inc(d->m.signals, lv, 1);
    }
    saga_log_ctx lc = {.saga_id = x->saga_id, .traceparent = x->traceparent};
    if (x->rc == 0 && x->started) {
        const char *lv[1] = {x->def_name};
        saga_metrics_inc(d->m.started, lv, 1);
        saga_log_info(&lc, "saga %s started", x->def_name);
    }
    if (x->rc == 0 && x->deadline_expired) {
        const char *lv[1] = {x->def_name};
        saga_metrics_inc(d->m.deadline_expired, lv, 1);
        saga_log_info(&lc, "saga %s: deadline passed, compensating", x->def_name);
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

/* What a committed turn leaves for the loop and the metrics. */
static void turn_settle(turn *t)
{
    sagad *d = t->d;
    saga_bus_acked_drop(d->bus, t->n_forget);
    /* The turn's own wake-ups; the exact earliest of all sagas is asked
     * after turns that claimed due sagas and on every relay tick. */
    if (t->w.earliest_wake_ms && (!d->next_wake || t->w.earliest_wake_ms < d->next_wake))
        d->next_wake = t->w.earliest_wake_ms;
    saga_metrics_observe(d->m.batch, NULL, (double)(t->b.n_msgs + t->b.n_due));
    for (size_t i = 0; i < t->b.n_evs; i++)
        report_event(d, &t->b.evs[i]);
}

/* Sagas sent several commands by this turn await as many replies
 * (siblings.h). A saga's commands are queued together while its event is
 * applied, so runs of one key are counted; messages to sub-sagas (the
 * signals topic) are not commands awaiting replies. */
static void note_siblings(turn *t)
{
    sagad *d = t->d;
    int64_t now = saga_now_ms();
    for (size_t i = 0, j; i < t->out.n; i = j) {
        const char *key = t->out.v[i].key;
        size_t n = 0;
        for (j = i; j < t->out.n && strcmp(t->out.v[j].key, key) == 0; j++)
            n += strcmp(t->out.v[j].topic, d->topic_signals) != 0;
        saga_siblings_sent(d->siblings, key, strlen(key), n, now);
    }
}

/*
 * Publishes what was just committed, without waiting for the broker: each
 * command carries its outbox id, and its delivery report puts the id on
 * the list a later turn deletes (bus.h); a command never acknowledged keeps
 * its row, which the relay sends after its grace period. The consumed
 * messages are marked done at once, since the outbox holds what they
 * caused, except when the turn dead-lettered some: a dead letter has no
 * row, so it must be delivered before its message is marked done.
 */
static void turn_publish(turn *t)
{
    sagad *d = t->d;
    const saga_batch *b = &t->b;
    saga_error err;
    int rc = 0;
    char hops[SAGA_HOPS_MAX];
    t->us[4] = saga_hops_now_us();
    saga_hops_turn(hops, sizeof hops, t->us);
    /* The write returns one id per command, in the order they were
     * queued; anything else would be a bug, and the relay covers it. */
    bool tracked = t->n_ids == t->out.n;
    if (!tracked)
        saga_log_warn(NULL, "%zu commands but %zu outbox ids: the relay will send them",
                      t->out.n, t->n_ids);
    for (size_t i = 0; i < t->out.n && rc == 0; i++) {
        const saga_msg *m = &t->out.v[i];
        saga_bus_msg bm = {.topic = m->topic, .key = m->key, .payload = m->payload,
                           .len = m->len, .traceparent = m->traceparent, .hops = hops,
                           .track = tracked ? t->ids[i] : 0};
        rc = saga_bus_send(d->bus, &bm, &err);
    }
    if (rc == 0 && b->n_bad) {
        for (size_t i = 0; i < b->n_bad; i++)
            dead_letter(d, b->bad[i].m, b->bad[i].code, b->bad[i].reason, &err);
        rc = saga_bus_flush(d->bus, 30000, &err);
    }
    if (rc == 0) {
        d->watch.counts.sent += t->out.n;
        note_siblings(t);
    }
    if (rc == 0)
        rc = saga_failpoint("turn.after_publish", &err);
    if (rc == 0) {
        saga_bus_done(d->bus, b->msgs, b->n_msgs);
    } else {
        saga_log_warn(NULL, "publish failed, the outbox relay will resend: %s", err.msg);
        if (b->n_bad)
            saga_bus_rewind(d->bus, b->msgs, b->n_msgs); /* dead letters may be lost */
        else
            saga_bus_done(d->bus, b->msgs, b->n_msgs);
    }
}

static int turn_once(sagad *d, rd_kafka_message_t **msgs, size_t n_msgs, bool timers,
                     saga_error *fail, bool *stale)
{
    turn t = {.d = d, .us[0] = saga_hops_now_us()};
    saga_writes_init(&t.w);
    saga_error err;
    saga_error_clear(&err);
    int rc = saga_batch_init(&t.b, msgs, n_msgs, d->batch_max, saga_now_ms(), &err);
    saga_engine_turn(d->engine); /* "latest" is asked or checked again */
    if (rc == 0)
        rc = saga_batch_decode(&t.b, d, &err);
    t.us[1] = saga_hops_now_us();
    if (rc == 0)
        rc = turn_begin(&t, timers, &err);
    if (rc == 0)
        rc = saga_failpoint("turn.after_begin", &err);
    if (rc == 0)
        rc = turn_decide(&t, &err);
    if (rc == 0)
        rc = saga_failpoint("turn.before_commit", &err);
    if (rc == 0)
        rc = saga_store_write_commit(d->conn, &t.w, &t.ids, &t.n_ids, &err);
    t.us[3] = saga_hops_now_us();
    d->claimed = t.b.n_due;
    saga_engine_settle(d->engine, rc == 0);
    if (rc) {
        saga_pg_rollback(d->conn);
        /* A remembered saga changed meanwhile (engine.h): the retry reads. */
        t.stale = t.stale || saga_store_changed(&err);
        *fail = err;
        rc = -1;
    } else {
        turn_settle(&t);
        saga_error fp;
        if (saga_failpoint("turn.after_commit", &fp))
            saga_log_warn(NULL, "%s; the outbox relay will publish", fp.msg);
        else
            turn_publish(&t);
    }
    size_t n_due = t.b.n_due;
    *stale = t.stale;
    free(t.ids);
    saga_msgs_clear(&t.out);
    saga_writes_clear(&t.w);
    saga_batch_free(&t.b);
    if (rc == 0 && n_due == d->batch_max)
        d->wake_now = true; /* more may be due */
    return rc;
}

/* A turn that decided on what was no longer so when it wrote is rolled
 * back and run again at once, reading what is stored this time (engine.h):
 * a definition found no longer the latest inside its transaction, or a
 * remembered saga someone else changed meanwhile. A third miss in a row
 * goes to the caller's failed-turn handling. */
int saga_turn_run(sagad *d, rd_kafka_message_t **msgs, size_t n_msgs, bool timers,
                  saga_error *fail)
{
    bool stale = false;
    int rc = turn_once(d, msgs, n_msgs, timers, fail, &stale);
    for (int tries = 1; rc && stale && tries < 3; tries++) {
        d->watch.counts.reruns++;
        saga_log_info(NULL, "running the turn again: %s",
                      saga_store_changed(fail)
                          ? "a saga it remembered was changed meanwhile (sagactl, another "
                            "sagad); reading what is stored"
                          : "a newer definition was applied meanwhile");
        rc = turn_once(d, msgs, n_msgs, timers, fail, &stale);
    }
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
int saga_turn_isolate(sagad *d, rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        saga_error err;
        int rc = 0;
        for (int tries = 0; tries < 3; tries++) {
            rc = saga_turn_run(d, &msgs[i], 1, false, &err);
            if (rc == 0 || sagad_pg_broken(d))
                break;
        }
        if (rc && sagad_pg_broken(d)) {
            saga_bus_rewind(d->bus, &msgs[i], n - i);
            return -1;
        }
        if (rc) {
            char reason[SAGA_ERROR_MSG_MAX + 64];
            snprintf(reason, sizeof reason, "refused by the database: %s", err.msg);
            if (dead_letter(d, msgs[i], SAGA_DLQ_REFUSED_BY_DB, reason, &err) ||
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
