/*
 * wire.c - Command validation and Reply packing.
 *
 * Validation is strict where a lax answer would hurt later (a key that
 * PostgreSQL cannot index, bytes it cannot store) and lenient where proto3
 * defaults are harmless (attempt 0, empty reply_topic, empty payload).
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "topics.h"
#include "utf8.h"

static const char *ACTIONS[] = {"UNKNOWN", "RESERVE", "CONFIRM", "COMPENSATE"};
static const char *OUTCOMES[] = {"UNKNOWN", "OK", "REJECTED", "RETRY"};

const char *saga_worker_action_name(saga_worker_action a)
{
    return (a >= SAGA_WORKER_RESERVE && a <= SAGA_WORKER_COMPENSATE) ? ACTIONS[a]
                                                                   : ACTIONS[0];
}

int saga_worker_action_parse(const char *s, saga_worker_action *out)
{
    for (int a = SAGA_WORKER_RESERVE; a <= SAGA_WORKER_COMPENSATE; a++)
        if (s && strcasecmp(s, ACTIONS[a]) == 0) {
            *out = (saga_worker_action)a;
            return 0;
        }
    return SAGA_EINVAL;
}

const char *saga_worker_outcome_name(saga_worker_outcome o)
{
    return (o >= SAGA_WORKER_OK && o <= SAGA_WORKER_RETRY) ? OUTCOMES[o] : OUTCOMES[0];
}

/* Checks one string field: present, short enough, UTF-8. */
static int check_field(const char *name, const char *v, size_t max, bool required,
                       char *reason, size_t reason_len)
{
    if (required && (!v || !*v)) {
        snprintf(reason, reason_len, "%s is empty", name);
        return SAGA_EINVAL;
    }
    if (!v)
        return 0;
    size_t len = strlen(v);
    if (max && len > max) {
        snprintf(reason, reason_len, "%s is %zu bytes long, the limit is %zu",
                 name, len, max);
        return SAGA_EINVAL;
    }
    if (!saga_utf8_valid(v)) {
        snprintf(reason, reason_len, "%s is not valid UTF-8", name);
        return SAGA_EINVAL;
    }
    return 0;
}

static int check_command(const Saga__Command *c, char *reason, size_t reason_len)
{
    int rc;
    if ((rc = check_field("saga_id", c->saga_id, SAGA_WIRE_MAX_ID, true, reason, reason_len)) ||
        (rc = check_field("step", c->step, SAGA_WIRE_MAX_ID, true, reason, reason_len)) ||
        (rc = check_field("idempotency_key", c->idempotency_key, SAGA_WIRE_MAX_KEY, true,
                          reason, reason_len)) ||
        (rc = check_field("saga_name", c->saga_name, SAGA_WIRE_MAX_ID, false, reason, reason_len)) ||
        (rc = check_field("command", c->command, SAGA_WIRE_MAX_ID, false, reason, reason_len)) ||
        (rc = check_field("reply_topic", c->reply_topic, 249, false, reason, reason_len)) ||
        (rc = check_field("traceparent", c->traceparent, SAGA_WIRE_MAX_ID, false, reason,
                          reason_len)))
        return rc;
    if (c->action < SAGA__ACTION__RESERVE || c->action > SAGA__ACTION__QUERY) {
        snprintf(reason, reason_len, "action %d is not RESERVE, CONFIRM, COMPENSATE or QUERY",
                 (int)c->action);
        return SAGA_EINVAL;
    }
    if (c->attempt < 0) {
        snprintf(reason, reason_len, "attempt %d is negative", (int)c->attempt);
        return SAGA_EINVAL;
    }
    return 0;
}

static json_t *parse_payload(const ProtobufCBinaryData *p, char *reason, size_t reason_len)
{
    if (p->len == 0)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb((const char *)p->data, p->len, 0, &je);
    if (!j) {
        snprintf(reason, reason_len, "payload is not JSON: %s at byte %d", je.text,
                 je.position);
        return NULL;
    }
    if (!json_is_object(j)) {
        snprintf(reason, reason_len, "payload is JSON but not an object");
        json_decref(j);
        return NULL;
    }
    return j;
}

int saga_wire_decode(const void *buf, size_t len, size_t max_bytes,
                     saga_wire_cmd *out, char *reason, size_t reason_len)
{
    memset(out, 0, sizeof *out);
    if (max_bytes && len > max_bytes) {
        snprintf(reason, reason_len, "message of %zu bytes exceeds the limit of %zu bytes",
                 len, max_bytes);
        return SAGA_ELIMIT;
    }
    Saga__Command *c = saga__command__unpack(NULL, len, buf);
    if (!c) {
        snprintf(reason, reason_len, "not a saga.Command protobuf (%zu bytes)", len);
        return SAGA_EINVAL;
    }
    int rc = check_command(c, reason, reason_len);
    json_t *payload = rc ? NULL : parse_payload(&c->payload, reason, reason_len);
    if (!payload) {
        saga__command__free_unpacked(c, NULL);
        return SAGA_EINVAL;
    }
    out->pb = c;
    out->payload = payload;
    out->reply_topic = (c->reply_topic && *c->reply_topic) ? c->reply_topic
                                                           : SAGA_TOPIC_REPLIES;
    return 0;
}

void saga_wire_cmd_free(saga_wire_cmd *c)
{
    if (c->pb)
        saga__command__free_unpacked(c->pb, NULL);
    json_decref(c->payload);
    memset(c, 0, sizeof *c);
}

int saga_wire_reply(const Saga__Command *cmd, saga_worker_outcome outcome,
                    const char *reason, const char *result_json,
                    uint8_t **buf, size_t *len)
{
    Saga__Reply r = SAGA__REPLY__INIT;
    r.saga_id = cmd->saga_id;
    r.step = cmd->step;
    r.action = cmd->action;
    r.attempt = cmd->attempt;
    r.outcome = (Saga__Outcome)outcome;
    r.reason = (char *)(reason ? reason : "");
    r.traceparent = cmd->traceparent;
    if (outcome == SAGA_WORKER_OK && result_json) {
        r.payload.data = (uint8_t *)result_json;
        r.payload.len = strlen(result_json);
    }
    *len = saga__reply__get_packed_size(&r);
    /* +1: a zero-length reply is legal and malloc(0) may return NULL. */
    *buf = malloc(*len + 1);
    if (!*buf)
        return SAGA_ENOMEM;
    saga__reply__pack(&r, *buf);
    return 0;
}

int saga_wire_query_reply(const Saga__Command *cmd, const saga_barrier_rows *rows,
                          uint8_t **buf, size_t *len)
{
    Saga__Reply r = SAGA__REPLY__INIT;
    r.saga_id = cmd->saga_id;
    r.step = cmd->step;
    r.action = SAGA__ACTION__QUERY;
    r.attempt = cmd->attempt;
    r.outcome = SAGA__OUTCOME__OK;
    r.traceparent = cmd->traceparent;
    r.idempotency_key = cmd->idempotency_key;
    Saga__Recorded rec[3], *ptrs[3];
    for (size_t i = 0; i < rows->n && r.n_recorded < 3; i++) {
        const saga_barrier_row *row = &rows->rows[i];
        if (row->mine || !row->action || !row->outcome ||
            strcmp(row->key, cmd->idempotency_key) != 0)
            continue;
        Saga__Recorded *e = &rec[r.n_recorded];
        saga__recorded__init(e);
        e->action = (Saga__Action)row->action;
        e->outcome = (Saga__Outcome)row->outcome;
        e->reason = row->reason;
        if (row->result) {
            e->result.data = (uint8_t *)row->result;
            e->result.len = strlen(row->result);
        }
        ptrs[r.n_recorded++] = e;
    }
    r.recorded = ptrs;
    *len = saga__reply__get_packed_size(&r);
    *buf = malloc(*len + 1);
    if (!*buf)
        return SAGA_ENOMEM;
    saga__reply__pack(&r, *buf);
    return 0;
}
