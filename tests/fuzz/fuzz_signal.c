/*
 * fuzz_signal.c - libFuzzer target for the Signal decoder
 * (engine/inbound_signal.c): what sagad accepts from saga.signals, and the
 * decision core's handling of whatever passes.
 *
 * Like fuzz_inbound for Reply, validation is followed by use: an accepted
 * APPROVE or REJECT becomes a SIGNAL event exactly as sagad builds it (step
 * looked up by name; an unknown step is dead-lettered before the machine
 * sees it) and is applied to a saga of a fixed definition waiting on its
 * signal step, and an accepted parent's order to the same saga as a PARENT
 * event. The first input byte picks what the saga has been through before
 * the signal arrives (waiting, already approved, timed out, aborted);
 * the rest is the message.
 * Properties checked (abort on violation), beyond no crash/leak/UB:
 *  - a refusal says why and leaves the output zeroed;
 *  - an accepted Signal has every field inside the documented bounds, its
 *    data is a JSON object (only on APPROVE), and re-packing it gives a
 *    message that is accepted again;
 *  - a signal the machine refuses changes neither status nor step and sends
 *    nothing; one it applies to a waiting step leaves that step RESERVED
 *    (approve) or the saga compensating (reject).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inbound.h"
#include "machine.h"
#include "spec.h"
#include "utf8.h"

static const char SPEC[] =
    "{\"name\": \"approval\", \"version\": 1,"
    " \"defaults\": {\"timeout_ms\": 1000},"
    " \"steps\": ["
    "  {\"name\": \"approve\", \"signal\": {\"timeout_ms\": 5000}},"
    "  {\"name\": \"ship\", \"participant\": \"shipping\", \"after\": [\"approve\"],"
    "   \"reserve\": {\"command\": \"book\","
    "    \"payload\": {\"by\": \"${steps.approve.signal.data.by}\"}},"
    "   \"compensate\": {\"command\": \"cancel\"}}]}";

static saga_spec *spec;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_signal: property violated: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    saga_error err;
    if (saga_spec_parse("fixed.json", SPEC, strlen(SPEC), &spec, NULL, &err))
        fail(err.msg);
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

static void check_bounds(const saga_inbound_signal *in)
{
    const Saga__Signal *s = in->pb;
    bool parent = s->decision == SAGA__DECISION__PARENT_CONFIRM ||
                  s->decision == SAGA__DECISION__PARENT_COMPENSATE;
    if (!saga_inbound_uuid(s->saga_id) || s->decision < SAGA__DECISION__APPROVE ||
        s->decision > SAGA__DECISION__PARENT_COMPENSATE ||
        (!parent && (!s->step[0] || strlen(s->step) > SAGA_INBOUND_MAX_NAME ||
                     !saga_utf8_valid(s->step))) ||
        (parent && s->attempt < 1) || !saga_utf8_valid(s->reason) ||
        strlen(s->reason) > 4096 || !saga_utf8_valid(s->actor) ||
        strlen(s->actor) > SAGA_INBOUND_MAX_NAME || !saga_utf8_valid(s->traceparent))
        fail("an accepted Signal breaks a documented bound");
    if (in->data ? !json_is_object(in->data) || s->decision != SAGA__DECISION__APPROVE
                 : s->data.len != 0)
        fail("accepted Signal data is not an object on an APPROVE");
}

static void roundtrip(const Saga__Signal *in)
{
    /* The fields this code knows, as its producers pack them: protobuf-c
     * keeps unknown fields and writes them back as it read them, including
     * ones it would not read a second time (a field number 0). */
    Saga__Signal copy = *in;
    copy.base.n_unknown_fields = 0;
    copy.base.unknown_fields = NULL;
    const Saga__Signal *s = &copy;
    size_t n = saga__signal__get_packed_size(s);
    uint8_t *buf = malloc(n + 1);
    if (!buf)
        return;
    saga__signal__pack(s, buf);
    saga_inbound_signal again;
    char why[256];
    if (!saga_inbound_signal_decode(buf, n, &again, NULL, why, sizeof why))
        fail("a re-packed accepted Signal is refused");
    saga_inbound_signal_free(&again);
    free(buf);
}

/* A saga of SPEC brought to one of four situations before the signal. */
static void prepare(uint8_t how, saga_state *st, int64_t *now)
{
    saga_effects fx;
    saga_error err;
    saga_machine_init(spec, st, *now);
    saga_event ev = {.kind = SAGA_EV_START, .now_ms = *now};
    if (saga_machine_apply(spec, st, &ev, &fx, &err))
        fail("START of a fresh saga refused");
    switch (how % 4) {
    case 1: /* approved once already */
        ev = (saga_event){.kind = SAGA_EV_SIGNAL, .now_ms = ++*now, .step = 0, .approve = true};
        if (saga_machine_apply(spec, st, &ev, &fx, &err))
            fail("the first approval was refused");
        break;
    case 2: /* its signal timed out */
        *now = st->wake_ms;
        ev = (saga_event){.kind = SAGA_EV_TIMER, .now_ms = *now};
        saga_machine_apply(spec, st, &ev, &fx, &err);
        break;
    case 3: /* aborted by an operator */
        ev = (saga_event){.kind = SAGA_EV_ABORT, .now_ms = ++*now, .step = -1,
                          .op_reason = "fuzz"};
        saga_machine_apply(spec, st, &ev, &fx, &err);
        break;
    default: /* waiting */
        break;
    }
}

/* The event sagad builds from an accepted Signal (engine/sagad/batch.c),
 * applied; checks what a refusal and an approval may do. */
static void apply(uint8_t how, const Saga__Signal *s)
{
    bool parent = s->decision == SAGA__DECISION__PARENT_CONFIRM ||
                  s->decision == SAGA__DECISION__PARENT_COMPENSATE;
    int step = parent ? -1 : saga_spec_step_index(spec, s->step);
    if (!parent && step < 0)
        return; /* dead-lettered as an unknown step */
    saga_state st;
    int64_t now = 1700000000000;
    prepare(how, &st, &now);
    saga_state before = st;
    bool waiting = st.steps[0].status == SAGA_STEP_RESERVING;
    saga_event ev = {.kind = parent ? SAGA_EV_PARENT : SAGA_EV_SIGNAL, .now_ms = now + 1,
                     .step = step, .approve = s->decision == SAGA__DECISION__APPROVE,
                     .reason = s->reason, .attempt = s->attempt,
                     .action = s->decision == SAGA__DECISION__PARENT_CONFIRM
                                   ? SAGA_ACT_CONFIRM
                                   : SAGA_ACT_COMPENSATE};
    saga_effects fx;
    saga_error err;
    if (saga_machine_apply(spec, &st, &ev, &fx, &err)) {
        if (!err.msg[0])
            fail("a signal refused without a message");
        if (st.status != before.status || fx.n_cmds ||
            memcmp(st.steps, before.steps, sizeof st.steps[0] * st.n_steps) != 0)
            fail("a refused signal changed the saga or sent a command");
        return;
    }
    if (parent || step != 0 || !waiting)
        return;
    if (ev.approve && st.steps[0].status != SAGA_STEP_RESERVED &&
        st.steps[0].status != SAGA_STEP_CONFIRMED)
        fail("an applied approval left the signal step unreserved");
    if (!ev.approve && st.status != SAGA_COMPENSATING && st.status != SAGA_COMPENSATED)
        fail("an applied reject did not compensate");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > SAGA_INBOUND_MAX_BYTES + 16)
        return 0;
    saga_inbound_signal in;
    char why[256];
    why[0] = '\0';
    if (!saga_inbound_signal_decode(data + 1, size - 1, &in, NULL, why, sizeof why)) {
        if (!why[0] || !zeroed(&in, sizeof in))
            fail("a refused Signal without a reason or with output left");
        return 0;
    }
    check_bounds(&in);
    roundtrip(in.pb);
    apply(data[0], in.pb);
    saga_inbound_signal_free(&in);
    return 0;
}
