/*
 * machine_retry.c - deadlines, re-sends and backoff.
 *
 * A command that is not answered in time, or is answered RETRY (or REJECTED,
 * for a CONFIRM or COMPENSATE, which must eventually succeed), counts as one
 * failure of its step; the step then waits out an exponential backoff with
 * jitter and is re-sent as the next attempt, except a RESERVE that has used
 * its max_attempts, which gives up and compensates. Each re-send also waits
 * longer for its reply (saga_machine_timeout): a participant slower than the
 * timeout gets a few attempts with growing deadlines instead of a flood, and
 * since an earlier attempt's OK or REJECTED is accepted (machine_reply.c),
 * its first answer ends the wait. An operator retry of a RESERVE on its last
 * attempt grants one more attempt: attempt numbers, not failures, bound it.
 */
#include "machine_ctx.h"

int64_t saga_machine_timeout(const saga_step_def *d, int attempt)
{
    int64_t base = d->timeout_ms > 0 ? d->timeout_ms : 1;
    int64_t factor = 1;
    for (int k = 1; k < attempt && factor < SAGA_MACHINE_TIMEOUT_GROWTH; k++)
        factor *= 2;
    if (factor > SAGA_MACHINE_TIMEOUT_GROWTH)
        factor = SAGA_MACHINE_TIMEOUT_GROWTH;
    return base * factor;
}

int64_t saga_machine_backoff(const saga_retry_policy *p, int failures,
                             uint32_t random)
{
    double initial = p->initial_backoff_ms > 0 ? (double)p->initial_backoff_ms
                                               : 1.0;
    double max = (double)p->max_backoff_ms;
    double delay = initial;
    /* Stops at the cap, so the loop is short however many failures. */
    if (p->multiplier > 1.0)
        for (int k = 1; k < failures && delay < max; k++)
            delay *= p->multiplier;
    if (delay > max)
        delay = max;

    /* Jitter takes away a uniform fraction in [0, jitter) of the delay: many
     * sagas failing together spread out, and the cap is never exceeded. */
    double jitter = p->jitter < 0.0 ? 0.0 : p->jitter > 1.0 ? 1.0 : p->jitter;
    delay -= jitter * delay * ((double)random / 4294967296.0);

    int64_t ms = (int64_t)delay;
    return ms < 1 ? 1 : ms;
}

/* RESERVE ran out of attempts: the outcome is unknown, undo what was done. */
static void exhaust(machine_ctx *c, size_t i)
{
    saga_step_state *s = &c->st->steps[i];
    const saga_step_def *d = &c->spec->steps[i];
    machine_note(c, SAGA_NOTE_EXHAUSTED, (int)i, s->action, s->attempt,
                 SAGA_OUT_NONE, "RESERVE out of attempts (%d of %d)",
                 s->attempt, d->retry.max_attempts);
    machine_set_step(c, i, SAGA_STEP_FAILED, "out of attempts, outcome unknown");
    machine_clear_command(s);
    char cause[SAGA_MACHINE_ERROR_MAX];
    machine_format(cause, sizeof cause,
                   "step %s RESERVE out of attempts, last error \"%s\"", d->name,
                   s->last_error);
    machine_start_compensation(c, cause);
}

/* One more failure of the command of step i (timeout or unfavourable reply):
 * re-send after backoff, or give up on a RESERVE that used all attempts. */
void machine_fail_attempt(machine_ctx *c, size_t i)
{
    saga_step_state *s = &c->st->steps[i];
    const saga_step_def *d = &c->spec->steps[i];
    s->failures++;
    s->deadline_ms = 0;
    if (s->action == SAGA_ACT_RESERVE && s->attempt >= d->retry.max_attempts) {
        exhaust(c, i);
        return;
    }
    int64_t delay = saga_machine_backoff(&d->retry, s->failures, c->ev->random);
    s->retry_at_ms = c->now + delay;
    machine_note(c, SAGA_NOTE_BACKOFF, (int)i, s->action, s->attempt,
                 SAGA_OUT_NONE, "re-sending %s as attempt %d in %lld ms",
                 saga_action_name(s->action), s->attempt + 1,
                 (long long)delay);
}


/* Deadlines first, re-sends second: a RESERVE that runs out of attempts stops
 * the reserve phase before any other reserve is re-sent in vain, and each step
 * gets at most one command per apply. A saga created in someone else's
 * transaction (saga_start) and never dispatched is started by its first
 * timer. */
void machine_on_timer(machine_ctx *c)
{
    if (saga_status_terminal(c->st->status))
        return;
    if (machine_fresh(c->st)) {
        machine_begin(c);
        return;
    }
    for (size_t i = 0; i < c->st->n_steps; i++) {
        saga_step_state *s = &c->st->steps[i];
        if (!machine_in_flight(s) || c->now < s->deadline_ms)
            continue;
        if (machine_is_signal(c, i)) {
            machine_signal_expired(c, i);
            continue;
        }
        int64_t waited = saga_machine_timeout(&c->spec->steps[i], s->attempt);
        machine_note(c, SAGA_NOTE_TIMEOUT, (int)i, s->action, s->attempt,
                     SAGA_OUT_NONE, "no reply to %s attempt %d within %lld ms",
                     saga_action_name(s->action), s->attempt,
                     (long long)waited);
        machine_format(s->last_error, sizeof s->last_error,
                       "no reply within %lld ms", (long long)waited);
        machine_circuit_observe(c, i, SAGA_CIRCUIT_FAILURE);
        machine_fail_attempt(c, i);
    }
    for (size_t i = 0; i < c->st->n_steps; i++) {
        saga_step_state *s = &c->st->steps[i];
        if (!machine_backing_off(s) || c->now < s->retry_at_ms)
            continue;
        if (s->action == SAGA_ACT_RESERVE && machine_circuit_hold(c, i)) {
            if (c->st->status != SAGA_RUNNING)
                return;
            continue;
        }
        machine_dispatch(c, i, s->action);
    }
    /* Reserves held by an open circuit go out once it lets them. */
    if (c->st->status == SAGA_RUNNING)
        machine_dispatch_ready_reserves(c);
}
