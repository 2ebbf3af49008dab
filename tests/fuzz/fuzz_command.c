/*
 * fuzz_command.c - libFuzzer target for what a participant accepts from
 * Kafka: saga_wire_decode of a Command (workers/wire.h), and what the
 * library does with one that passes: the Reply it packs and the barrier's
 * decision (workers/barrier.h).
 *
 * The input picks one of two shapes by its first byte:
 *  - even: the next two bytes set the size limit (0 = none), the rest is one
 *          message;
 *  - odd:  the rest is a sequence of frames [ctl][len][len bytes], each a
 *          Command delivered to a participant whose barrier table is modelled
 *          in memory (ctl decides whether the handler says OK or REJECTED),
 *          which is how redeliveries, reorderings and hanging reserves arrive.
 * Properties checked (abort on violation), beyond no crash/leak/UB:
 *  - a refusal says why, leaves the output zeroed, and is SAGA_ELIMIT exactly
 *    when the message is over the limit;
 *  - an accepted command has every field inside the documented bounds, a
 *    JSON object payload and a reply topic;
 *  - the Reply the worker packs for it, whatever the outcome, is accepted by
 *    sagad's own validation (engine/inbound.h) whenever the command carries
 *    what sagad always sends (a UUID and an attempt >= 1): a worker can never
 *    answer something the coordinator would dead-letter;
 *  - the barrier's decision never lets one step be both confirmed and
 *    compensated, never runs a reserve after the step's compensation or
 *    confirmation, never runs a confirm or compensation without a
 *    successful reserve, and records only OK or REJECTED.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barrier.h"
#include "inbound.h"
#include "utf8.h"
#include "wire.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_command: property violated: %s\n", what);
    abort();
}

static bool zeroed(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static bool field_ok(const char *s, size_t max, bool required)
{
    if (!s)
        return !required;
    return (!required || *s) && strlen(s) <= max && saga_utf8_valid(s);
}

static void check_command(const saga_wire_cmd *c)
{
    const Saga__Command *pb = c->pb;
    if (!field_ok(pb->saga_id, SAGA_WIRE_MAX_ID, true) ||
        !field_ok(pb->step, SAGA_WIRE_MAX_ID, true) ||
        !field_ok(pb->idempotency_key, SAGA_WIRE_MAX_KEY, true) ||
        !field_ok(pb->saga_name, SAGA_WIRE_MAX_ID, false) ||
        !field_ok(pb->command, SAGA_WIRE_MAX_ID, false) ||
        !field_ok(pb->traceparent, SAGA_WIRE_MAX_ID, false) ||
        pb->action < SAGA__ACTION__RESERVE || pb->action > SAGA__ACTION__QUERY ||
        pb->attempt < 0)
        fail("an accepted Command breaks a documented bound");
    if (!json_is_object(c->payload))
        fail("an accepted Command's payload is not an object");
    if (!c->reply_topic || !*c->reply_topic)
        fail("an accepted Command has no reply topic");
}

/* The worker's answer must pass the coordinator's door. */
static void check_reply(const Saga__Command *pb, saga_worker_outcome o, const char *reason,
                        const char *result)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (saga_wire_reply(pb, o, reason, result, &buf, &len))
        return;
    saga_inbound_reply r;
    char why[256];
    bool ok = saga_inbound_reply_decode(buf, len, &r, NULL, why, sizeof why);
    if (saga_inbound_uuid(pb->saga_id) && pb->attempt >= 1 && !ok) {
        fprintf(stderr, "sagad refuses the reply: %s\n", why);
        fail("sagad refuses a reply the worker packs for a valid command");
    }
    if (ok) {
        if (strcmp(r.pb->saga_id, pb->saga_id) || strcmp(r.pb->step, pb->step) ||
            (int)r.pb->action != (int)pb->action || r.pb->attempt != pb->attempt ||
            (int)r.pb->outcome != (int)o)
            fail("the reply does not echo its command");
        saga_inbound_reply_free(&r);
    }
    free(buf);
}

static int decode(const uint8_t *data, size_t size, size_t max, saga_wire_cmd *c)
{
    char reason[256] = "";
    int rc = saga_wire_decode(data, size, max, c, reason, sizeof reason);
    if (rc == 0) {
        check_command(c);
        return 0;
    }
    if (!reason[0] || !zeroed(c, sizeof *c))
        fail("a refused Command without a reason or with output left");
    if ((rc == SAGA_ELIMIT) != (max && size > max))
        fail("SAGA_ELIMIT does not match the size limit");
    return rc;
}

static void one_message(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    size_t max = (size_t)data[0] << 8 | data[1];
    saga_wire_cmd c;
    if (decode(data + 2, size - 2, max, &c))
        return;
    /* A QUERY (reconciliation) is answered from the barrier by its own
     * reply (saga_wire_query_reply), read by sagactl reconcile, never by
     * sagad's door: the properties below are about the three actions. */
    if (c.pb->action == SAGA__ACTION__QUERY) {
        saga_wire_cmd_free(&c);
        return;
    }
    static const char *const results[] = {NULL, "{}", "{\"reservation_id\":\"r-1\",\"qty\":3}"};
    check_reply(c.pb, SAGA_WORKER_OK, "", results[size % 3]);
    check_reply(c.pb, SAGA_WORKER_REJECTED, "insufficient stock for sku \"\xc3\xa9\"", NULL);
    check_reply(c.pb, SAGA_WORKER_RETRY, "injected fault: transient error", NULL);
    saga_wire_cmd_free(&c);
}

/* --- a participant's barrier, modelled ------------------------------------ */

#define SLOTS 8

typedef struct slot {
    char key[SAGA_WIRE_MAX_KEY + 1];
    saga_barrier_seen seen;         /* recorded outcome per action */
    const char *result[4];          /* recorded result per action */
} slot;

static slot *find_slot(slot *s, size_t *n, const char *key)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(s[i].key, key) == 0)
            return &s[i];
    if (*n == SLOTS)
        return NULL;
    slot *x = &s[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->key, sizeof x->key, "%s", key);
    return x;
}

static void deliver(slot *sl, saga_worker_action a, uint8_t ctl)
{
    /* Rule 1: a recorded (key, action) is answered from its row, untouched. */
    if (sl->seen.outcome[a])
        return;
    saga_barrier_decision d = saga_barrier_decide(a, &sl->seen);
    switch (d.verdict) {
    case SAGA_BARRIER_RECORD:
        if (d.outcome != SAGA_WORKER_OK && d.outcome != SAGA_WORKER_REJECTED)
            fail("the barrier records an outcome other than OK or REJECTED");
        sl->seen.outcome[a] = d.outcome;
        sl->result[a] = d.result;
        break;
    case SAGA_BARRIER_HANDLE:
        if (a == SAGA_WORKER_RESERVE && sl->seen.outcome[SAGA_WORKER_COMPENSATE])
            fail("a reserve runs after its step was compensated");
        if (a == SAGA_WORKER_RESERVE && sl->seen.outcome[SAGA_WORKER_CONFIRM])
            fail("a reserve runs after its step was confirmed");
        if (a != SAGA_WORKER_RESERVE && sl->seen.outcome[SAGA_WORKER_RESERVE] != SAGA_WORKER_OK)
            fail("a confirm or compensation runs without a successful reserve");
        if (ctl & 0x40)
            return; /* RETRY: rolled back, nothing recorded */
        sl->seen.outcome[a] = (ctl & 0x80) ? SAGA_WORKER_REJECTED : SAGA_WORKER_OK;
        sl->result[a] = NULL;
        break;
    default:
        fail("an unknown barrier verdict");
    }
    bool confirmed = sl->seen.outcome[SAGA_WORKER_CONFIRM] == SAGA_WORKER_OK;
    bool undone = sl->seen.outcome[SAGA_WORKER_COMPENSATE] == SAGA_WORKER_OK &&
                  !sl->result[SAGA_WORKER_COMPENSATE] &&
                  sl->seen.outcome[SAGA_WORKER_RESERVE] == SAGA_WORKER_OK;
    if (confirmed && undone)
        fail("one step both confirmed and compensated");
}

static void sequence(const uint8_t *data, size_t size)
{
    slot slots[SLOTS];
    size_t n_slots = 0;
    while (size >= 2) {
        uint8_t ctl = data[0];
        size_t n = data[1] < size - 2 ? data[1] : size - 2;
        saga_wire_cmd c;
        if (decode(data + 2, n, 0, &c) == 0) {
            slot *sl = c.pb->action == SAGA__ACTION__QUERY
                           ? NULL /* no side effect on the barrier */
                           : find_slot(slots, &n_slots, c.pb->idempotency_key);
            if (sl)
                deliver(sl, (saga_worker_action)c.pb->action, ctl);
            saga_wire_cmd_free(&c);
        }
        data += 2 + n, size -= 2 + n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 2 * 1024 * 1024)
        return 0;
    if (data[0] & 1)
        sequence(data + 1, size - 1);
    else
        one_message(data + 1, size - 1);
    return 0;
}
