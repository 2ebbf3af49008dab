/*
 * inbound.c - validation of Reply and StartSaga (see inbound.h).
 */
#include "inbound.h"

#include <stdio.h>
#include <string.h>

#include "tags.h"
#include "utf8.h"

bool saga_inbound_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                     (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

static bool name_ok(const char *s)
{
    return s && *s && strlen(s) <= SAGA_INBOUND_MAX_NAME && saga_utf8_valid(s);
}

static bool refuse(saga_dlq_reason *code, saga_dlq_reason c, char *why, size_t len,
                   const char *what)
{
    if (code)
        *code = c;
    snprintf(why, len, "%s", what);
    return false;
}

bool saga_inbound_reply_decode(const void *buf, size_t len,
                               saga_inbound_reply *out, saga_dlq_reason *code,
                               char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (len > SAGA_INBOUND_MAX_BYTES)
        return refuse(code, SAGA_DLQ_TOO_LARGE, why, why_len, "message larger than 1 MiB");
    Saga__Reply *r = saga__reply__unpack(NULL, len, buf);
    if (!r)
        return refuse(code, SAGA_DLQ_UNDECODABLE_REPLY, why, why_len,
                      "undecodable Reply protobuf");
    const char *bad = NULL;
    if (!saga_inbound_uuid(r->saga_id))
        bad = "invalid Reply: saga_id is not a UUID";
    else if (!name_ok(r->step))
        bad = "invalid Reply: step is empty, too long or not UTF-8";
    else if (r->action < SAGA__ACTION__RESERVE || r->action > SAGA__ACTION__COMPENSATE)
        bad = "invalid Reply: action is not RESERVE, CONFIRM or COMPENSATE";
    else if (r->outcome < SAGA__OUTCOME__OK || r->outcome > SAGA__OUTCOME__RETRY)
        bad = "invalid Reply: outcome is not OK, REJECTED or RETRY";
    else if (r->attempt < 1)
        bad = "invalid Reply: attempt is not positive";
    else if (!saga_utf8_valid(r->reason) || strlen(r->reason) > 4096)
        bad = "invalid Reply: reason is not UTF-8 or longer than 4096 bytes";
    else if (!saga_utf8_valid(r->traceparent))
        bad = "invalid Reply: traceparent is not UTF-8";
    json_t *payload = NULL;
    if (!bad && r->payload.len > 0) {
        payload = json_loadb((const char *)r->payload.data, r->payload.len, 0, NULL);
        if (!json_is_object(payload))
            bad = "invalid Reply: payload is not a JSON object";
    }
    if (bad) {
        json_decref(payload);
        saga__reply__free_unpacked(r, NULL);
        return refuse(code, SAGA_DLQ_INVALID_REPLY, why, why_len, bad);
    }
    out->pb = r;
    out->payload = payload;
    return true;
}

void saga_inbound_reply_free(saga_inbound_reply *r)
{
    if (r->pb)
        saga__reply__free_unpacked(r->pb, NULL);
    json_decref(r->payload);
    memset(r, 0, sizeof *r);
}

/* StartSaga's tags as a JSON object (*out owned, NULL when none), or the
 * reason they are refused (written to why, which is returned). */
static const char *start_tags(const Saga__StartSaga *s, json_t **out, char *why,
                              size_t why_len)
{
    *out = NULL;
    if (s->n_tags == 0)
        return NULL;
    json_t *tags = json_object();
    if (!tags)
        return "invalid StartSaga: out of memory";
    for (size_t i = 0; i < s->n_tags; i++) {
        const char *k = s->tags[i]->key, *v = s->tags[i]->value;
        if (!saga_utf8_valid(k) || !saga_utf8_valid(v) ||
            json_object_set_new(tags, k, json_string(v))) {
            json_decref(tags);
            return "invalid StartSaga: a tag is not UTF-8";
        }
    }
    saga_error e;
    if (saga_tags_check(tags, &e) != 0) {
        json_decref(tags);
        snprintf(why, why_len, "invalid StartSaga: %s", e.msg);
        return why;
    }
    *out = tags;
    return NULL;
}

bool saga_inbound_start_decode(const void *buf, size_t len,
                               saga_inbound_start *out, saga_dlq_reason *code,
                               char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (len > SAGA_INBOUND_MAX_BYTES)
        return refuse(code, SAGA_DLQ_TOO_LARGE, why, why_len, "message larger than 1 MiB");
    Saga__StartSaga *s = saga__start_saga__unpack(NULL, len, buf);
    if (!s)
        return refuse(code, SAGA_DLQ_UNDECODABLE_START, why, why_len,
                      "undecodable StartSaga protobuf");
    const char *bad = NULL;
    json_t *input = NULL;
    if (!name_ok(s->name))
        bad = "invalid StartSaga: name is empty, too long or not UTF-8";
    else if (s->version < 0)
        bad = "invalid StartSaga: negative version";
    else if (!saga_utf8_valid(s->idempotency_key) ||
             strlen(s->idempotency_key) > SAGA_INBOUND_MAX_NAME)
        bad = "invalid StartSaga: idempotency_key is not UTF-8 or too long";
    else if (!saga_utf8_valid(s->traceparent))
        bad = "invalid StartSaga: traceparent is not UTF-8";
    else if (s->deadline_ms < 0 || s->start_at_ms < 0)
        bad = "invalid StartSaga: negative deadline_ms or start_at_ms";
    if (!bad) {
        input = json_loadb((const char *)s->input.data, s->input.len, 0, NULL);
        if (!json_is_object(input))
            bad = "invalid StartSaga: input is not a JSON object";
    }
    json_t *tags = NULL;
    if (!bad)
        bad = start_tags(s, &tags, why, why_len);
    if (bad) {
        json_decref(tags);
        json_decref(input);
        saga__start_saga__free_unpacked(s, NULL);
        return refuse(code, SAGA_DLQ_INVALID_START, why, why_len, bad);
    }
    out->pb = s;
    out->input = input;
    out->tags = tags;
    return true;
}

void saga_inbound_start_free(saga_inbound_start *s)
{
    if (s->pb)
        saga__start_saga__free_unpacked(s->pb, NULL);
    json_decref(s->tags);
    json_decref(s->input);
    memset(s, 0, sizeof *s);
}
