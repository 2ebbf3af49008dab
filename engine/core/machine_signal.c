/*
 * machine_signal.c - signal steps: a RESERVE nobody is sent, answered by an
 * outside decision (approve or reject) or by its deadline.
 *
 * A signal step is a step like any other to the phases (it reserves, is
 * confirmed at once because it has no confirm command, is "compensated" at
 * once because there is nothing to undo), so the graph rules need no
 * change; only the three moments that differ live here: the decision
 * arriving, the deadline passing, the compensation. A decision is refused,
 * not ignored, when the step is not waiting for one: sagactl must be able
 * to tell the operator that their approval did nothing (the engine records
 * the refusal in the history all the same).
 */
#include "machine_ctx.h"

#include <assert.h>

/* Why step i does not take a signal now; 0 when it does. */
static int refuse_signal(machine_ctx *c, size_t i, saga_error *err)
{
    const saga_step_def *d = &c->spec->steps[i];
    const saga_step_state *s = &c->st->steps[i];

    if (saga_status_terminal(c->st->status))
        return saga_error_set(err, SAGA_ECONFLICT,
                              "saga is %s: it no longer waits for signals",
                              saga_status_name(c->st->status));
    if (d->kind != SAGA_STEP_SIGNAL) {
        saga_error_set(err, SAGA_EINVAL, "step %s is not a signal step",
                       d->name);
        saga_error_hint(err, "only steps declared with \"signal\" take "
                             "approve or reject");
        return SAGA_EINVAL;
    }
    if (s->status == SAGA_STEP_RESERVING && machine_in_flight(s))
        return 0;
    if (s->status == SAGA_STEP_PENDING) {
        saga_error_set(err, SAGA_ECONFLICT,
                       "step %s is not waiting for a signal yet: the steps it "
                       "runs after have not all reserved",
                       d->name);
        saga_error_hint(err, "send it once `sagactl show` says \"waiting for "
                             "signal %s\"",
                        d->name);
        return SAGA_ECONFLICT;
    }
    return saga_error_set(err, SAGA_ECONFLICT,
                          "step %s is not waiting for a signal: it is %s%s",
                          d->name, saga_step_status_name(s->status),
                          s->status == SAGA_STEP_RESERVED ||
                                  s->status == SAGA_STEP_CONFIRMED
                              ? " (already approved)"
                          : s->status == SAGA_STEP_REJECTED
                              ? " (already rejected or timed out)"
                              : "");
}

int machine_on_signal(machine_ctx *c, saga_error *err)
{
    const saga_event *ev = c->ev;
    if (ev->step < 0 || (size_t)ev->step >= c->st->n_steps)
        return saga_error_set(err, SAGA_ENOTFOUND, "no step with index %d",
                              ev->step);
    size_t i = (size_t)ev->step;
    int rc = refuse_signal(c, i, err);
    if (rc)
        return rc;

    saga_step_state *s = &c->st->steps[i];
    const char *why = ev->reason && ev->reason[0] ? ev->reason : NULL;
    machine_note(c, SAGA_NOTE_SIGNAL, (int)i, SAGA_ACT_RESERVE, s->attempt,
                 ev->approve ? SAGA_OUT_OK : SAGA_OUT_REJECTED, "%s%s%s",
                 ev->approve ? "approved" : "rejected", why ? ": " : "",
                 why ? why : "");
    machine_clear_command(s);
    if (ev->approve) {
        s->reserve_outcome = SAGA_OUT_OK;
        machine_set_step(c, i, SAGA_STEP_RESERVED, "approved");
        c->out->signal_applied = true;
        machine_reserve_done(c);
        return 0;
    }
    s->reserve_outcome = SAGA_OUT_REJECTED;
    machine_format(s->last_error, sizeof s->last_error, "%s",
                   machine_reason_or(ev->reason, "rejected without a reason"));
    machine_set_step(c, i, SAGA_STEP_REJECTED, "rejected");
    char cause[SAGA_MACHINE_ERROR_MAX];
    machine_format(cause, sizeof cause, "step %s rejected by signal: %s",
                   c->spec->steps[i].name, s->last_error);
    machine_start_compensation(c, cause);
    return 0;
}

void machine_signal_expired(machine_ctx *c, size_t i)
{
    saga_step_state *s = &c->st->steps[i];
    const saga_step_def *d = &c->spec->steps[i];
    assert(d->kind == SAGA_STEP_SIGNAL && s->action == SAGA_ACT_RESERVE);

    machine_note(c, SAGA_NOTE_TIMEOUT, (int)i, s->action, s->attempt,
                 SAGA_OUT_NONE, "no signal within %lld ms",
                 (long long)d->timeout_ms);
    machine_format(s->last_error, sizeof s->last_error,
                   "no signal within %lld ms", (long long)d->timeout_ms);
    machine_clear_command(s);
    machine_set_step(c, i, SAGA_STEP_REJECTED, "timed out");
    char cause[SAGA_MACHINE_ERROR_MAX];
    machine_format(cause, sizeof cause, "step %s: no signal within %lld ms",
                   d->name, (long long)d->timeout_ms);
    machine_start_compensation(c, cause);
}

void machine_signal_undo(machine_ctx *c, size_t i)
{
    saga_step_state *s = &c->st->steps[i];
    const char *cause = s->status == SAGA_STEP_RESERVED
                            ? "signal step: nothing to undo"
                            : "signal no longer awaited";
    machine_clear_command(s);
    machine_set_step(c, i, SAGA_STEP_COMPENSATED, cause);
}

bool machine_describe_wait(const machine_ctx *c, char *buf, size_t size)
{
    const saga_state *st = c->st;
    for (size_t i = 0; i < st->n_steps; i++) {
        if (machine_is_signal(c, i) && machine_in_flight(&st->steps[i])) {
            machine_format(buf, size, "waiting for signal %s",
                           c->spec->steps[i].name);
            return true;
        }
    }
    if (st->held && st->status == SAGA_RUNNING &&
        machine_all_steps(st, SAGA_STEP_RESERVED)) {
        machine_format(buf, size,
                       "every step reserved; waiting for the parent saga");
        return true;
    }
    return false;
}
