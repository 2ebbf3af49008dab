/*
 * machine_phases.c - the three phases of a saga: reserve along the
 * dependency graph, confirm everything, or compensate in reverse order.
 *
 * Each function here moves the whole saga forward from a state the reply,
 * timer and operator handlers have just changed: they ask "what is ready
 * now?" and dispatch it, so the graph rules (after-lists, irreversible steps
 * last, children compensated before their parents) live in one place.
 * Compensation order is transitive: a step waits for every step that depends
 * on it, directly or through steps that are not compensated, so the order
 * holds even for graphs the spec validator would refuse.
 */
#include "machine_ctx.h"

#include <assert.h>


static bool reserve_ready(const machine_ctx *c, size_t i)
{
    const saga_step_def *d = &c->spec->steps[i];
    if (c->st->steps[i].status != SAGA_STEP_PENDING)
        return false;
    for (size_t k = 0; k < d->n_after; k++)
        if (c->st->steps[d->after[k]].status != SAGA_STEP_RESERVED)
            return false;
    if (!d->irreversible)
        return true;
    for (size_t j = 0; j < c->st->n_steps; j++)
        if (!c->spec->steps[j].irreversible &&
            c->st->steps[j].status != SAGA_STEP_RESERVED)
            return false;
    return true;
}

void machine_dispatch_ready_reserves(machine_ctx *c)
{
    bool ready[SAGA_SPEC_MAX_STEPS];
    /* Decide first, then send: a step sent in this pass is not RESERVED, so
     * the result is the same, but the decision reads one consistent state. */
    for (size_t i = 0; i < c->st->n_steps; i++)
        ready[i] = reserve_ready(c, i);
    if (machine_circuit_gate(c, ready))
        return;
    for (size_t i = 0; i < c->st->n_steps; i++) {
        if (!ready[i])
            continue;
        machine_dispatch(c, i, SAGA_ACT_RESERVE);
        machine_set_step(c, i, SAGA_STEP_RESERVING,
                         machine_is_signal(c, i) ? "waiting for a signal"
                                                 : NULL);
    }
}

void machine_complete_if_confirmed(machine_ctx *c)
{
    assert(c->st->status == SAGA_CONFIRMING);
    if (machine_all_steps(c->st, SAGA_STEP_CONFIRMED))
        machine_set_status(c, SAGA_COMPLETED, "every step confirmed");
}

void machine_start_confirm(machine_ctx *c)
{
    assert(machine_every_reserve_succeeded(c->st));
    bool any_confirm = false;
    for (size_t i = 0; i < c->st->n_steps; i++)
        if (c->spec->steps[i].confirm.command)
            any_confirm = true;

    if (!any_confirm) {
        for (size_t i = 0; i < c->st->n_steps; i++)
            machine_set_step(c, i, SAGA_STEP_CONFIRMED, "no confirm command");
        machine_set_status(c, SAGA_COMPLETED,
                           "every reserve succeeded and no step needs a confirm");
        return;
    }
    machine_set_status(c, SAGA_CONFIRMING, "every reserve succeeded");
    for (size_t i = 0; i < c->st->n_steps; i++) {
        if (c->spec->steps[i].confirm.command) {
            machine_dispatch(c, i, SAGA_ACT_CONFIRM);
            machine_set_step(c, i, SAGA_STEP_CONFIRMING, NULL);
        } else {
            machine_set_step(c, i, SAGA_STEP_CONFIRMED, "no confirm command");
        }
    }
}

/* Reversible and its reserve may have taken effect, not yet undone. */
static bool needs_compensation(const machine_ctx *c, size_t i)
{
    saga_step_status s = c->st->steps[i].status;
    if (c->spec->steps[i].irreversible)
        return false;
    return s == SAGA_STEP_RESERVED || s == SAGA_STEP_RESERVING ||
           s == SAGA_STEP_FAILED;
}

static bool compensation_pending(const machine_ctx *c, size_t i)
{
    return needs_compensation(c, i) ||
           c->st->steps[i].status == SAGA_STEP_COMPENSATING;
}

/* True when some step that depends on i, directly or transitively, still has
 * compensation to do: i must be undone after it. */
static bool compensation_blocked(const machine_ctx *c, size_t i)
{
    bool seen[SAGA_SPEC_MAX_STEPS] = {false};
    size_t stack[SAGA_SPEC_MAX_STEPS];
    size_t top = 0;
    stack[top++] = i;
    seen[i] = true;
    while (top > 0) {
        size_t x = stack[--top];
        for (size_t y = 0; y < c->st->n_steps; y++) {
            if (seen[y] || !machine_depends_on(&c->spec->steps[y], x))
                continue;
            if (compensation_pending(c, y))
                return true;
            seen[y] = true;
            stack[top++] = y;
        }
    }
    return false;
}

void machine_dispatch_ready_compensations(machine_ctx *c)
{
    bool ready[SAGA_SPEC_MAX_STEPS];
    bool undone = false;
    for (size_t i = 0; i < c->st->n_steps; i++)
        ready[i] = needs_compensation(c, i) && !compensation_blocked(c, i);
    for (size_t i = 0; i < c->st->n_steps; i++) {
        if (!ready[i])
            continue;
        if (machine_is_signal(c, i)) {
            machine_signal_undo(c, i);
            undone = true;
            continue;
        }
        saga_step_state *s = &c->st->steps[i];
        assert(s->status != SAGA_STEP_PENDING &&
               s->status != SAGA_STEP_REJECTED);
        assert(s->action == SAGA_ACT_NONE);
        bool unknown = s->status != SAGA_STEP_RESERVED;
        machine_dispatch(c, i, SAGA_ACT_COMPENSATE);
        machine_set_step(c, i, SAGA_STEP_COMPENSATING,
                         unknown ? "reserve outcome unknown" : NULL);
    }
    /* A signal step undone at once may have been all that held the steps
     * it runs after: look again (each pass undoes at least one step). */
    if (undone) {
        machine_dispatch_ready_compensations(c);
        return;
    }
    for (size_t i = 0; i < c->st->n_steps; i++)
        if (compensation_pending(c, i))
            return;
    machine_set_status(c, SAGA_COMPENSATED, "nothing left to compensate");
}

/* Stops forward progress: reserves in flight or waiting to be re-sent are
 * abandoned (their replies will be ignored) and counted as unknown. */
void machine_start_compensation(machine_ctx *c, const char *cause)
{
    assert(c->st->status == SAGA_RUNNING);
    machine_set_status(c, SAGA_COMPENSATING, "%s", cause);
    for (size_t i = 0; i < c->st->n_steps; i++) {
        saga_step_state *s = &c->st->steps[i];
        assert(s->action == SAGA_ACT_NONE || s->action == SAGA_ACT_RESERVE);
        machine_clear_command(s);
        if (c->spec->steps[i].irreversible &&
            (s->status == SAGA_STEP_RESERVED ||
             s->status == SAGA_STEP_RESERVING || s->status == SAGA_STEP_FAILED))
            machine_note(c, SAGA_NOTE_SKIPPED, (int)i, SAGA_ACT_NONE, 0,
                         SAGA_OUT_NONE, "irreversible step left as it is (%s)",
                         s->status == SAGA_STEP_RESERVED
                             ? "RESERVED"
                             : "reserve outcome unknown");
    }
    machine_dispatch_ready_compensations(c);
}

