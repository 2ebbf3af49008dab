/*
 * fuzz_inbound.c - libFuzzer target for what sagad accepts from Kafka: the
 * decoding and validation of Reply and StartSaga (engine/inbound.h), and
 * the handling of whatever passes, by the decision core.
 *
 * Validation is only worth something if what it lets through is safe to
 * handle, so the target goes one step further than decoding: a valid Reply
 * is turned into an event exactly as sagad does (step looked up by name,
 * unknown steps refused) and applied to a saga of a fixed definition.
 * The input picks one of two shapes by its first byte:
 *  - even: the rest is one message, decoded both as Reply and as StartSaga;
 *  - odd:  the rest is a sequence of frames [ctl][len][len bytes] driving
 *          one saga: ctl advances the clock, may fire its timer or an
 *          operator event, and may turn the frame into a reply to the
 *          command in flight (so deep states are reached without guessing
 *          attempt numbers); otherwise the bytes are decoded as a Reply.
 * Properties checked (abort on violation), beyond no crash/leak/UB and the
 * machine's own assertions:
 *  - a refusal always says why and leaves the output zeroed;
 *  - an accepted message has every field inside the documented bounds, and
 *    re-packing it gives a message that is accepted again;
 *  - an accepted StartSaga input is a JSON object;
 *  - whatever the sequence: COMPLETED means every step CONFIRMED, CONFIRMING
 *    means every reserve succeeded, COMPENSATED leaves nothing reserved or
 *    in flight, a terminal saga never changes again, and every command
 *    emitted is the one the step's state says is in flight.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inbound.h"
#include "machine.h"
#include "spec.h"
#include "utf8.h"

static const char *const SPECS[2] = {
    "{\"name\": \"seq\", \"version\": 1,"
    " \"input\": {\"sku\": {\"type\": \"string\"}, \"qty\": {\"type\": \"integer\"}},"
    " \"defaults\": {\"timeout_ms\": 1000, \"stuck_after_ms\": 20000,"
    "  \"retry\": {\"max_attempts\": 3, \"initial_backoff_ms\": 100,"
    "   \"max_backoff_ms\": 1000, \"multiplier\": 2, \"jitter\": 0.2}},"
    " \"steps\": ["
    "  {\"name\": \"stock\", \"participant\": \"inventory\","
    "   \"reserve\": {\"command\": \"r\"}, \"confirm\": {\"command\": \"c\"},"
    "   \"compensate\": {\"command\": \"u\"}},"
    "  {\"name\": \"funds\", \"participant\": \"payment\", \"after\": [\"stock\"],"
    "   \"reserve\": {\"command\": \"r\"}, \"confirm\": {\"command\": \"c\"},"
    "   \"compensate\": {\"command\": \"u\"}}]}",
    "{\"name\": \"par\", \"version\": 1,"
    " \"input\": {\"order_id\": {\"type\": \"string\"},"
    "  \"address\": {\"type\": \"object\", \"required\": false}},"
    " \"defaults\": {\"timeout_ms\": 500,"
    "  \"retry\": {\"max_attempts\": 2, \"initial_backoff_ms\": 50}},"
    " \"steps\": ["
    "  {\"name\": \"stock\", \"participant\": \"inventory\", \"after\": [],"
    "   \"reserve\": {\"command\": \"r\"}, \"confirm\": {\"command\": \"c\"},"
    "   \"compensate\": {\"command\": \"u\"}},"
    "  {\"name\": \"funds\", \"participant\": \"payment\", \"after\": [],"
    "   \"reserve\": {\"command\": \"r\"}, \"confirm\": {\"command\": \"c\"},"
    "   \"compensate\": {\"command\": \"u\"}},"
    "  {\"name\": \"ship\", \"participant\": \"shipping\","
    "   \"after\": [\"stock\", \"funds\"], \"timeout_ms\": 800,"
    "   \"reserve\": {\"command\": \"book\"}, \"compensate\": {\"command\": \"cancel\"}}]}",
};

static saga_spec *specs[2];

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_inbound: property violated: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (int i = 0; i < 2; i++) {
        saga_error err;
        if (saga_spec_parse("fixed.json", SPECS[i], strlen(SPECS[i]), &specs[i], NULL, &err))
            fail(err.msg);
    }
    return 0;
}

static bool zeroed(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* --- one message --------------------------------------------------------- */

static void check_reply(const Saga__Reply *r, const json_t *payload)
{
    if (!saga_inbound_uuid(r->saga_id) || !r->step[0] ||
        strlen(r->step) > SAGA_INBOUND_MAX_NAME || !saga_utf8_valid(r->step) ||
        r->action < SAGA__ACTION__RESERVE || r->action > SAGA__ACTION__COMPENSATE ||
        r->outcome < SAGA__OUTCOME__OK || r->outcome > SAGA__OUTCOME__RETRY ||
        r->attempt < 1 || !saga_utf8_valid(r->reason) || strlen(r->reason) > 4096)
        fail("an accepted Reply breaks a documented bound");
    if (payload ? !json_is_object(payload) : r->payload.len != 0)
        fail("an accepted Reply payload is not an object");
}

/* Packs what was accepted and decodes it again: validation must be stable,
 * or a message sagad re-publishes (dead letter, replay) would change fate. */
static void reply_roundtrip(const Saga__Reply *r)
{
    size_t n = saga__reply__get_packed_size(r);
    uint8_t *buf = malloc(n + 1);
    if (!buf)
        return;
    saga__reply__pack(r, buf);
    saga_inbound_reply again;
    char why[256];
    if (!saga_inbound_reply_decode(buf, n, &again, NULL, why, sizeof why))
        fail("a re-packed accepted Reply is refused");
    saga_inbound_reply_free(&again);
    free(buf);
}

static void start_roundtrip(const Saga__StartSaga *s)
{
    size_t n = saga__start_saga__get_packed_size(s);
    uint8_t *buf = malloc(n + 1);
    if (!buf)
        return;
    saga__start_saga__pack(s, buf);
    saga_inbound_start again;
    char why[256];
    if (!saga_inbound_start_decode(buf, n, &again, NULL, why, sizeof why))
        fail("a re-packed accepted StartSaga is refused");
    saga_inbound_start_free(&again);
    free(buf);
}

static void one_message(const uint8_t *data, size_t size)
{
    char why[256];
    saga_inbound_reply r;
    why[0] = '\0';
    if (saga_inbound_reply_decode(data, size, &r, NULL, why, sizeof why)) {
        check_reply(r.pb, r.payload);
        reply_roundtrip(r.pb);
        saga_inbound_reply_free(&r);
    } else if (!why[0] || !zeroed(&r, sizeof r)) {
        fail("a refused Reply without a reason or with output left");
    }

    saga_inbound_start s;
    why[0] = '\0';
    if (saga_inbound_start_decode(data, size, &s, NULL, why, sizeof why)) {
        if (!json_is_object(s.input) || s.pb->version < 0 || !s.pb->name[0] ||
            strlen(s.pb->name) > SAGA_INBOUND_MAX_NAME ||
            strlen(s.pb->idempotency_key) > SAGA_INBOUND_MAX_NAME)
            fail("an accepted StartSaga breaks a documented bound");
        saga_error err;
        for (int i = 0; i < 2; i++)
            if (saga_spec_check_input(specs[i], s.input, &err) && !err.msg[0])
                fail("an input refused without a message");
        start_roundtrip(s.pb);
        saga_inbound_start_free(&s);
    } else if (!why[0] || !zeroed(&s, sizeof s)) {
        fail("a refused StartSaga without a reason or with output left");
    }
}

/* --- a saga driven by a sequence of events --------------------------------- */

static void check_state(const saga_spec *spec, const saga_state *st, const saga_effects *fx)
{
    size_t confirmed = 0, final_ok = 0;
    for (size_t i = 0; i < st->n_steps; i++) {
        saga_step_status s = st->steps[i].status;
        confirmed += s == SAGA_STEP_CONFIRMED;
        final_ok += s == SAGA_STEP_CONFIRMING || s == SAGA_STEP_CONFIRMED;
        if (st->status == SAGA_COMPENSATED && !st->resolved &&
            (s == SAGA_STEP_RESERVED || s == SAGA_STEP_RESERVING || s == SAGA_STEP_FAILED ||
             s == SAGA_STEP_COMPENSATING || s == SAGA_STEP_CONFIRMING ||
             s == SAGA_STEP_CONFIRMED))
            fail("COMPENSATED with a step still reserved or in flight");
    }
    if (st->status == SAGA_COMPLETED && !st->resolved && confirmed != st->n_steps)
        fail("COMPLETED without every step confirmed");
    if (st->status == SAGA_CONFIRMING && final_ok != st->n_steps)
        fail("CONFIRMING although a reserve did not succeed");
    for (size_t k = 0; k < fx->n_cmds; k++) {
        const saga_command *c = &fx->cmds[k];
        if (c->step < 0 || (size_t)c->step >= spec->n_steps)
            fail("a command for a step out of range");
        const saga_step_state *s = &st->steps[c->step];
        if (c->action == SAGA_ACT_NONE || c->attempt < 1 || s->action != c->action ||
            s->attempt != c->attempt || s->deadline_ms != c->deadline_ms)
            fail("a command that is not the step's command in flight");
    }
    if (fx->n_notes > SAGA_EFFECTS_MAX_NOTES)
        fail("more notes than the effects can hold");
}

/* Builds a reply event from one frame; false when the frame yields none. */
static bool frame_reply(const saga_spec *spec, const saga_state *st, uint8_t ctl,
                        const uint8_t *b, size_t n, saga_event *ev,
                        saga_inbound_reply *decoded)
{
    if (ctl & 0x40) {
        /* Synthetic: answer (or mis-answer) the step's command in flight. */
        if (n < 2)
            return false;
        size_t i = b[0] % spec->n_steps;
        const saga_step_state *s = &st->steps[i];
        ev->step = (int)i;
        ev->action = s->action != SAGA_ACT_NONE ? s->action : (saga_action)(1 + b[1] % 3);
        ev->attempt = s->attempt + ((b[1] & 0x30) == 0x30 ? -1 : 0);
        ev->outcome = (saga_outcome)(1 + (b[1] >> 2) % 3);
        ev->reason = "synthetic";
        return true;
    }
    char why[256];
    if (!saga_inbound_reply_decode(b, n, decoded, NULL, why, sizeof why))
        return false;
    const Saga__Reply *r = decoded->pb;
    check_reply(r, decoded->payload);
    ev->step = saga_spec_step_index(spec, r->step);
    if (ev->step < 0)
        return false; /* sagad dead-letters it before the machine sees it */
    ev->action = (saga_action)r->action;
    ev->attempt = r->attempt;
    ev->outcome = (saga_outcome)r->outcome;
    ev->reason = r->reason;
    return true;
}

static void drive(const uint8_t *data, size_t size)
{
    const saga_spec *spec = specs[data[0] >> 1 & 1];
    data++, size--;
    saga_state st;
    saga_effects fx;
    saga_error err;
    int64_t now = 1700000000000;
    saga_machine_init(spec, &st, now);
    saga_event ev = {.kind = SAGA_EV_START, .now_ms = now};
    if (saga_machine_apply(spec, &st, &ev, &fx, &err))
        fail("START of a fresh saga refused");
    check_state(spec, &st, &fx);

    while (size >= 2) {
        uint8_t ctl = data[0];
        size_t n = data[1] < size - 2 ? data[1] : size - 2;
        const uint8_t *b = data + 2;
        data += 2 + n, size -= 2 + n;

        now += (int64_t)(ctl & 0x0f) * 97;
        saga_status before = st.status;
        saga_inbound_reply decoded = {0};
        memset(&ev, 0, sizeof ev);
        ev.now_ms = now;
        ev.random = (uint32_t)ctl * 2654435761u;
        int rc = 0;
        switch (ctl >> 4 & 3) {
        case 1: /* the timer, at its due time */
            if (st.wake_ms > now)
                ev.now_ms = now = st.wake_ms;
            ev.kind = SAGA_EV_TIMER;
            rc = saga_machine_apply(spec, &st, &ev, &fx, &err);
            break;
        case 2: /* operators: retry everything, or abort */
            ev.kind = (ctl & 0x80) ? SAGA_EV_ABORT : SAGA_EV_RETRY;
            ev.step = -1;
            ev.op_reason = "fuzz";
            if (saga_machine_apply(spec, &st, &ev, &fx, &err) == 0)
                check_state(spec, &st, &fx);
            else if (st.status != before || fx.n_cmds || fx.n_notes)
                fail("a refused operator event changed something");
            continue;
        default:
            ev.kind = SAGA_EV_REPLY;
            if (!frame_reply(spec, &st, ctl, b, n, &ev, &decoded)) {
                saga_inbound_reply_free(&decoded);
                continue;
            }
            rc = saga_machine_apply(spec, &st, &ev, &fx, &err);
            saga_inbound_reply_free(&decoded);
            break;
        }
        if (rc)
            fail("a reply or timer was refused instead of ignored");
        if (saga_status_terminal(before) && (st.status != before || fx.n_cmds))
            fail("a terminal saga changed or sent a command");
        check_state(spec, &st, &fx);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > SAGA_INBOUND_MAX_BYTES + 16)
        return 0;
    if (data[0] & 1)
        drive(data, size);
    else
        one_message(data + 1, size - 1);
    return 0;
}
