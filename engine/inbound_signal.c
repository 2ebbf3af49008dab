/*
 * inbound_signal.c - validation of Signal messages (see inbound.h).
 *
 * Kept beside inbound.c's Reply and StartSaga checks, in a file of its own
 * because a Signal has two audiences: people's approval services (APPROVE,
 * REJECT with a step) and sagad's own parents (PARENT_* with an attempt).
 */
#include "inbound.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

static const char *check(const Saga__Signal *s)
{
    bool parent = s->decision == SAGA__DECISION__PARENT_CONFIRM ||
                  s->decision == SAGA__DECISION__PARENT_COMPENSATE;
    if (!saga_inbound_uuid(s->saga_id))
        return "invalid Signal: saga_id is not a UUID";
    if (s->decision < SAGA__DECISION__APPROVE ||
        s->decision > SAGA__DECISION__PARENT_COMPENSATE)
        return "invalid Signal: decision is not APPROVE, REJECT, PARENT_CONFIRM or "
               "PARENT_COMPENSATE";
    if (!parent && (!*s->step || strlen(s->step) > SAGA_INBOUND_MAX_NAME ||
                    !saga_utf8_valid(s->step)))
        return "invalid Signal: step is empty, too long or not UTF-8";
    if (parent && s->attempt < 1)
        return "invalid Signal: a parent's order needs a positive attempt";
    if (!saga_utf8_valid(s->reason) || strlen(s->reason) > 4096)
        return "invalid Signal: reason is not UTF-8 or longer than 4096 bytes";
    if (!saga_utf8_valid(s->actor) || strlen(s->actor) > SAGA_INBOUND_MAX_NAME)
        return "invalid Signal: actor is not UTF-8 or longer than 256 bytes";
    if (!saga_utf8_valid(s->traceparent))
        return "invalid Signal: traceparent is not UTF-8";
    if (s->data.len && s->decision != SAGA__DECISION__APPROVE)
        return "invalid Signal: only APPROVE carries data";
    return NULL;
}

bool saga_inbound_signal_decode(const void *buf, size_t len, saga_inbound_signal *out,
                                saga_dlq_reason *code, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    const char *bad = NULL;
    Saga__Signal *s = NULL;
    if (len > SAGA_INBOUND_MAX_BYTES)
        bad = "message larger than 1 MiB";
    else if (!(s = saga__signal__unpack(NULL, len, buf)))
        bad = "undecodable Signal protobuf";
    else
        bad = check(s);
    json_t *data = NULL;
    if (!bad && s->data.len > 0) {
        data = json_loadb((const char *)s->data.data, s->data.len, 0, NULL);
        if (!json_is_object(data))
            bad = "invalid Signal: data is not a JSON object";
    }
    if (bad) {
        json_decref(data);
        if (s)
            saga__signal__free_unpacked(s, NULL);
        if (code)
            *code = len > SAGA_INBOUND_MAX_BYTES ? SAGA_DLQ_TOO_LARGE : SAGA_DLQ_INVALID_SIGNAL;
        snprintf(why, why_len, "%s", bad);
        return false;
    }
    out->pb = s;
    out->data = data;
    return true;
}

void saga_inbound_signal_free(saga_inbound_signal *s)
{
    if (s->pb)
        saga__signal__free_unpacked(s->pb, NULL);
    json_decref(s->data);
    memset(s, 0, sizeof *s);
}
