/*
 * engine_family.c - sub-sagas in the shell: starting a child, passing the
 * parent's orders down and the child's reports up.
 *
 * The coupling is messages through the outbox, both ways, plus one
 * synchronous write: the child is created in the very transaction in which
 * the parent decides to reserve the step (so there is never a parent
 * waiting for a child that does not exist, nor a child nobody waits for).
 * After that, the parent's CONFIRM / COMPENSATE go to the child as a
 * Signal (PARENT_*) on saga.signals, and the child's milestones come back
 * to the parent as a Reply on saga.replies for the parent's step, each
 * queued in the outbox of the transaction that decided it. Locking the
 * other saga's row instead would make two sagas' transactions lock each
 * other in opposite orders; messages cannot deadlock, are at-least-once
 * like every command, and the machine already treats repeated orders and
 * replies as duplicates. The child's id is derived from the parent's id
 * and step, so an order needs no lookup and a re-sent RESERVE finds the
 * child by its idempotency key ("<parent id>/<step>").
 */
#include "engine_family.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "saga.pb-c.h"
#include "sha256.h"
#include "template.h"
#include "topics.h"

void saga_engine_child_id(const char *parent_id, const char *step,
                          char out[SAGA_ID_LEN + 1])
{
    char key[SAGA_ID_LEN + SAGA_SPEC_MAX_NAME + 16];
    unsigned char h[32];
    snprintf(key, sizeof key, "subsaga:%s/%s", parent_id, step);
    saga_sha256(key, strlen(key), h);
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x80); /* version 8: custom */
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, SAGA_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10],
             h[11], h[12], h[13], h[14], h[15]);
}

/* Packs m into a new buffer (owned) and queues it (outbox, and msgs). */
static int queue_packed(saga_writes *w, saga_msgs *msgs, const char *topic,
                        const char *key, const char *tp, size_t len,
                        void (*pack)(const void *, uint8_t *), const void *m,
                        saga_error *err)
{
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    pack(m, buf);
    saga_writes_outbox(w, topic, key, buf, len, tp, msgs == NULL);
    if (!msgs) {
        free(buf);
        return 0;
    }
    if (saga_msgs_push(msgs, topic, key, buf, len, tp)) {
        free(buf);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    return 0;
}

static void pack_reply(const void *m, uint8_t *buf)
{
    saga__reply__pack(m, buf);
}

static void pack_signal(const void *m, uint8_t *buf)
{
    saga__signal__pack(m, buf);
}

/* Queues a Reply for step `step` of saga `saga_id`. */
static int queue_reply(const engine_family_io *io, const char *saga_id, const char *step,
                       saga_action action, int attempt, saga_outcome outcome,
                       const char *reason, const char *payload, const char *tp,
                       saga_error *err)
{
    Saga__Reply r = SAGA__REPLY__INIT;
    r.saga_id = (char *)saga_id;
    r.step = (char *)step;
    r.action = (Saga__Action)action;
    r.attempt = attempt;
    r.outcome = (Saga__Outcome)outcome;
    r.reason = (char *)(reason ? reason : "");
    r.traceparent = (char *)tp;
    if (payload) {
        r.payload.data = (uint8_t *)payload;
        r.payload.len = strlen(payload);
    }
    return queue_packed(io->w, io->msgs, io->reply_topic, saga_id, tp,
                        saga__reply__get_packed_size(&r), pack_reply, &r, err);
}

/* The child cannot be started: the parent's step is answered REJECTED, as
 * a participant would refuse a command, and the history says why. */
static int refuse_start(const engine_family_io *io, saga_row *row, const saga_step_def *d,
                        const saga_command *c, const char *why, saga_error *err)
{
    saga_writes_history(io->w, row->id, io->now_ms, "error", d->name, "RESERVE",
                        c->attempt, NULL, why, NULL);
    return queue_reply(io, row->id, d->name, SAGA_ACT_RESERVE, c->attempt,
                       SAGA_OUT_REJECTED, why, NULL, row->traceparent, err);
}

/* Renders the child's input from the parent's state; NULL with why set. */
static json_t *child_input(const saga_spec *spec, const saga_row *row,
                           const saga_step_def *d, const saga_spec *child,
                           char *why, size_t cap)
{
    saga_template_ctx ctx = {.saga_id = row->id, .saga_name = spec->name,
                             .input = row->input, .spec = spec,
                             .results = (const json_t *const *)row->results};
    saga_error e;
    json_t *in = saga_template_render(d->reserve.payload, &ctx, &e);
    if (in && saga_spec_check_input(child, in, &e) != 0) {
        json_decref(in);
        in = NULL;
    }
    if (!in)
        snprintf(why, cap, "sub-saga %s: %s", child->name, e.msg);
    return in;
}

static int start_child(const engine_family_io *io, const saga_spec *spec, saga_row *row,
                       const saga_command *c, saga_error *err)
{
    const saga_step_def *d = &spec->steps[c->step];
    const saga_spec *child = NULL;
    char why[SAGA_ERROR_MSG_MAX + 64];
    saga_error e;
    int rc = saga_engine_def(io->e, io->conn, d->subsaga, 0, &child, &e);
    if (rc == SAGA_ENOTFOUND) {
        snprintf(why, sizeof why, "sub-saga: %s", e.msg);
        return refuse_start(io, row, d, c, why, err);
    }
    if (rc) {
        *err = e;
        return rc;
    }
    json_t *input = child_input(spec, row, d, child, why, sizeof why);
    if (!input)
        return refuse_start(io, row, d, c, why, err);

    char id[SAGA_ID_LEN + 1], existing[SAGA_ID_LEN + 1];
    char key[SAGA_ID_LEN + SAGA_SPEC_MAX_NAME + 2];
    char tp[SAGA_TRACEPARENT_SIZE];
    bool existed = false;
    saga_engine_child_id(row->id, d->name, id);
    snprintf(key, sizeof key, "%s/%s", row->id, d->name);
    saga_trace_child(row->traceparent, tp);
    saga_new n = {.id = id, .spec = child, .input = input, .idempotency_key = key,
                  .traceparent = tp, .wake_now = true, .now_ms = io->now_ms};
    rc = saga_store_create(io->conn, &n, &existed, existing, err);
    if (rc == 0 && !existed)
        rc = saga_store_link_child(io->conn, id, row->id, d->name, err);
    json_decref(input);
    if (rc)
        return rc;
    snprintf(why, sizeof why, "%s sub-saga %s (%s@%d)",
             existed ? "already started:" : "started", id, child->name, child->version);
    saga_writes_history(io->w, row->id, io->now_ms, "command", d->name, "RESERVE",
                        c->attempt, NULL, why, NULL);
    if (!existed) {
        snprintf(why, sizeof why, "sub-saga of %s, step %s", row->id, d->name);
        saga_writes_history(io->w, id, io->now_ms, "parent", NULL, NULL, 0, NULL, why,
                            NULL);
    }
    return 0;
}

static int order_child(const engine_family_io *io, const saga_spec *spec, saga_row *row,
                       const saga_command *c, saga_error *err)
{
    const saga_step_def *d = &spec->steps[c->step];
    char id[SAGA_ID_LEN + 1], actor[SAGA_ID_LEN + 16], tp[SAGA_TRACEPARENT_SIZE];
    saga_engine_child_id(row->id, d->name, id);
    snprintf(actor, sizeof actor, "saga %s", row->id);
    saga_trace_child(row->traceparent, tp);
    Saga__Signal s = SAGA__SIGNAL__INIT;
    s.saga_id = id;
    s.decision = c->action == SAGA_ACT_CONFIRM ? SAGA__DECISION__PARENT_CONFIRM
                                               : SAGA__DECISION__PARENT_COMPENSATE;
    s.actor = actor;
    s.attempt = c->attempt;
    s.traceparent = tp;
    int rc = queue_packed(io->w, io->msgs, io->signal_topic, id, tp,
                          saga__signal__get_packed_size(&s), pack_signal, &s, err);
    char note[SAGA_ID_LEN + 64];
    snprintf(note, sizeof note, "sent to sub-saga %s", id);
    saga_writes_history(io->w, row->id, io->now_ms, "command", d->name,
                        saga_action_name(c->action), c->attempt, NULL, note, NULL);
    return rc;
}

int saga_engine_family_command(const engine_family_io *io, const saga_spec *spec,
                               saga_row *row, const saga_command *c, saga_error *err)
{
    if (c->action == SAGA_ACT_RESERVE)
        return start_child(io, spec, row, c, err);
    return order_child(io, spec, row, c, err);
}

int saga_engine_family_report(const engine_family_io *io, const saga_row *row,
                              const saga_effects *fx, saga_error *err)
{
    if (fx->report_action == SAGA_ACT_NONE || !row->parent_id[0])
        return 0;
    char payload[SAGA_ID_LEN + 16];
    bool result = fx->report_action == SAGA_ACT_RESERVE && fx->report_outcome == SAGA_OUT_OK;
    snprintf(payload, sizeof payload, "{\"saga_id\":\"%s\"}", row->id);
    char tp[SAGA_TRACEPARENT_SIZE];
    saga_trace_child(row->traceparent, tp);
    return queue_reply(io, row->parent_id, row->parent_step, fx->report_action,
                       fx->report_attempt, fx->report_outcome,
                       fx->report_reason[0] ? fx->report_reason : NULL,
                       result ? payload : NULL, tp, err);
}

int saga_engine_family_check(PGconn *conn, const saga_row *row, saga_engine_event *x,
                             saga_error *err)
{
    x->ev.parent_done = false;
    if (!row->st.held ||
        (x->ev.kind != SAGA_EV_ABORT && x->ev.kind != SAGA_EV_RESOLVE))
        return 0;
    return saga_store_finished(conn, row->parent_id, &x->ev.parent_done, err);
}
