/*
 * machine_circuit.c - what a saga does when a participant's circuit breaker
 * is open, and what it tells the breakers.
 *
 * The breakers themselves (counting failures, opening, cooling down,
 * probing) live in the shell, because they span every saga and every
 * sagad process; the machine sees only their verdict for this saga, the
 * event's circuit_open list, filled from PostgreSQL. That keeps it pure:
 * the same state, event and list always give the same decision. Only
 * RESERVE is ever held, whether first sent or re-sent after a backoff:
 * a CONFIRM or a COMPENSATE finishes work the participant already holds,
 * so withholding it would only lengthen the outage for the sagas that
 * already went through. A held RESERVE uses no attempt; the step stays as
 * it was (PENDING, or RESERVING and backing off) and contributes no
 * wake-up, since the shell wakes the saga when its circuit closes or when
 * it is picked as the half-open probe.
 */
#include "machine_ctx.h"

#include <assert.h>
#include <string.h>

bool machine_circuit_blocked(const machine_ctx *c, size_t i)
{
    const char *p = c->spec->steps[i].participant;
    for (size_t k = 0; k < c->ev->n_circuit_open; k++)
        if (c->ev->circuit_open[k] && p && strcmp(c->ev->circuit_open[k], p) == 0)
            return true;
    return false;
}

void machine_circuit_observe(machine_ctx *c, size_t i, saga_circuit_obs_kind kind)
{
    assert(c->out->n_circuit < SAGA_EFFECTS_MAX_CIRCUIT);
    if (c->out->n_circuit >= SAGA_EFFECTS_MAX_CIRCUIT)
        return;
    saga_circuit_obs *o = &c->out->circuit[c->out->n_circuit++];
    o->step = (int)i;
    o->kind = kind;
}

/* "on_open": "reject": the saga gives up on the step as on a REJECTED
 * reserve, with the reason "circuit open". */
static void reject(machine_ctx *c, size_t i)
{
    const saga_step_def *d = &c->spec->steps[i];
    machine_note(c, SAGA_NOTE_CIRCUIT, (int)i, SAGA_ACT_RESERVE, 0, SAGA_OUT_NONE,
                 "RESERVE refused: %s circuit open", d->participant);
    machine_format(c->st->steps[i].last_error, sizeof c->st->steps[i].last_error,
                   "circuit open");
    char cause[SAGA_MACHINE_ERROR_MAX];
    machine_format(cause, sizeof cause, "step %s: circuit open, participant %s", d->name,
                   d->participant);
    machine_start_compensation(c, cause);
}

bool machine_circuit_hold(machine_ctx *c, size_t i)
{
    if (!machine_circuit_blocked(c, i))
        return false;
    assert(c->st->status == SAGA_RUNNING);
    if (c->spec->steps[i].circuit.on_open == SAGA_CIRCUIT_REJECT) {
        reject(c, i);
        return true;
    }
    const saga_step_state *s = &c->st->steps[i];
    machine_note(c, SAGA_NOTE_CIRCUIT, (int)i, SAGA_ACT_RESERVE, s->attempt, SAGA_OUT_NONE,
                 "RESERVE held: %s circuit open", c->spec->steps[i].participant);
    machine_circuit_observe(c, i, SAGA_CIRCUIT_HELD);
    return true;
}

bool machine_circuit_gate(machine_ctx *c, bool *ready)
{
    for (size_t i = 0; i < c->st->n_steps; i++) {
        if (!ready[i] || !machine_circuit_hold(c, i))
            continue;
        ready[i] = false;
        if (c->st->status != SAGA_RUNNING)
            return true;
    }
    return false;
}

bool machine_circuit_waiting(const machine_ctx *c, size_t i)
{
    const saga_step_state *s = &c->st->steps[i];
    return s->action == SAGA_ACT_RESERVE && machine_backing_off(s) &&
           c->now >= s->retry_at_ms && machine_circuit_blocked(c, i);
}
