/*
 * machine_reply.c - a participant's Reply: which ones apply, and what they do.
 *
 * A reply applies when it answers the command in flight, and also when it
 * is an OK or REJECTED for an earlier attempt of the action the step still
 * has pending (in flight or waiting to be re-sent), or for its latest
 * attempt after that timed out. That is safe because a participant's barrier
 * records one answer per (idempotency key, action) and replays it to every
 * later attempt: the earlier answer is the one the pending attempt would
 * get. RETRY is never recorded, so only the attempt in flight may be retried
 * by it. Without this, a participant slower than the step timeout has each
 * answer arrive after the next attempt was sent, and the saga livelocks.
 * Everything else (duplicates, answers to actions no longer pending,
 * attempts never sent, finished sagas) is ignored with a note saying why.
 */
#include "machine_ctx.h"

#include <assert.h>

static void apply_reserve_reply(machine_ctx *c, size_t i)
{
    saga_step_state *s = &c->st->steps[i];
    const saga_event *ev = c->ev;
    assert(c->st->status == SAGA_RUNNING);

    if (ev->outcome == SAGA_OUT_OK) {
        machine_set_step(c, i, SAGA_STEP_RESERVED, NULL);
        machine_clear_command(s);
        s->failures = 0;
        s->last_error[0] = '\0';
        machine_reserve_done(c);
    } else if (ev->outcome == SAGA_OUT_REJECTED) {
        machine_format(s->last_error, sizeof s->last_error, "%s",
                       machine_reason_or(ev->reason, "rejected without a reason"));
        machine_set_step(c, i, SAGA_STEP_REJECTED, NULL);
        machine_clear_command(s);
        char cause[SAGA_MACHINE_ERROR_MAX];
        machine_format(cause, sizeof cause, "step %s RESERVE rejected: %s",
                       c->spec->steps[i].name, s->last_error);
        machine_start_compensation(c, cause);
    } else {
        machine_format(s->last_error, sizeof s->last_error, "%s",
                       machine_reason_or(ev->reason,
                                         "asked to retry without a reason"));
        machine_fail_attempt(c, i);
    }
}

/* CONFIRM and COMPENSATE must eventually succeed: anything but OK is
 * recorded and retried after backoff. */
static void apply_final_reply(machine_ctx *c, size_t i)
{
    saga_step_state *s = &c->st->steps[i];
    const saga_event *ev = c->ev;

    if (ev->outcome != SAGA_OUT_OK) {
        const char *fallback = ev->outcome == SAGA_OUT_REJECTED
                                   ? "rejected without a reason"
                                   : "asked to retry without a reason";
        machine_format(s->last_error, sizeof s->last_error, "%s",
                       machine_reason_or(ev->reason, fallback));
        machine_fail_attempt(c, i);
        return;
    }
    bool confirm = s->action == SAGA_ACT_CONFIRM;
    machine_set_step(c, i, confirm ? SAGA_STEP_CONFIRMED : SAGA_STEP_COMPENSATED,
                     NULL);
    machine_clear_command(s);
    s->failures = 0;
    s->last_error[0] = '\0';
    if (confirm) {
        machine_complete_if_confirmed(c);
    } else {
        assert(c->st->status == SAGA_COMPENSATING);
        machine_dispatch_ready_compensations(c);
    }
}

/* Why a reply that fits no pending attempt is ignored. */
static void explain_ignored(machine_ctx *c, char *why, size_t size)
{
    const saga_event *ev = c->ev;
    saga_step_state *s = &c->st->steps[ev->step];
    int sent = *machine_attempts_of(s, ev->action);

    if (ev->action != s->action && sent == 0) {
        machine_format(why, size, "reply for action %s but step awaits %s",
                       saga_action_name(ev->action),
                       s->action == SAGA_ACT_NONE ? "nothing"
                                                  : saga_action_name(s->action));
        return;
    }
    if (ev->attempt > sent) {
        machine_format(why, size,
                       "reply for attempt %d which was never sent (current "
                       "attempt %d)",
                       ev->attempt, sent);
        return;
    }
    if (ev->attempt < sent) {
        machine_format(why, size,
                       "stale reply for attempt %d (current attempt %d)",
                       ev->attempt, sent);
        return;
    }
    if (*machine_outcome_of(s, ev->action) != SAGA_OUT_NONE) {
        machine_format(why, size, "duplicate reply");
        return;
    }
    /* An action that ended without an answer: only a RESERVE can, by
     * running out of attempts or by being abandoned for compensation. */
    assert(ev->action == SAGA_ACT_RESERVE);
    if (s->status == SAGA_STEP_FAILED)
        machine_format(why, size, "late reply: step already FAILED by timeout");
    else
        machine_format(why, size, "late reply: saga is %s",
                       saga_status_name(c->st->status));
}

typedef enum reply_fit {
    FIT_NONE = 0, /* ignored: `why` says why */
    FIT_CURRENT,  /* answers the command in flight */
    FIT_EARLIER   /* OK/REJECTED for an earlier (or timed-out) attempt of
                     the action still pending */
} reply_fit;

/* Decides, before anything is touched, whether a well-formed reply to an
 * existing step applies. */
static reply_fit fit_reply(machine_ctx *c, char *why, size_t size)
{
    const saga_event *ev = c->ev;
    saga_step_state *s = &c->st->steps[ev->step];

    if (s->action != ev->action || ev->attempt > s->attempt) {
        explain_ignored(c, why, size);
        return FIT_NONE;
    }
    if (ev->attempt == s->attempt && machine_in_flight(s))
        return FIT_CURRENT;
    saga_outcome latest = *machine_outcome_of(s, ev->action);
    if (ev->attempt == s->attempt && latest != SAGA_OUT_NONE) {
        machine_format(why, size, "duplicate reply");
        return FIT_NONE;
    }
    if (ev->outcome == SAGA_OUT_RETRY) {
        if (ev->attempt == s->attempt)
            machine_format(why, size,
                           "late RETRY for attempt %d: already timed out, "
                           "re-dispatch scheduled",
                           ev->attempt);
        else
            machine_format(why, size,
                           "stale RETRY for attempt %d (current attempt %d): "
                           "only the attempt in flight can be retried",
                           ev->attempt, s->attempt);
        return FIT_NONE;
    }
    /* OK ends the action, so a pending action's latest answer can only be
     * RETRY or a REJECTED of CONFIRM/COMPENSATE: the latter is as fresh an
     * answer as this one, and counting it twice would double the backoff. */
    if (latest == SAGA_OUT_REJECTED) {
        machine_format(why, size,
                       "stale reply for attempt %d: a REJECTED already counts "
                       "for attempt %d",
                       ev->attempt, s->attempt);
        return FIT_NONE;
    }
    return FIT_EARLIER;
}

/* Records the applied reply; for an earlier attempt the note says which
 * attempt was pending, because the history would otherwise show a reply the
 * saga seemingly had stopped waiting for. */
static void note_applied(machine_ctx *c, reply_fit fit)
{
    const saga_event *ev = c->ev;
    const saga_step_state *s = &c->st->steps[ev->step];
    const char *reason = ev->reason && ev->reason[0] ? ev->reason : NULL;

    if (fit == FIT_CURRENT)
        machine_note(c, SAGA_NOTE_REPLY_APPLIED, ev->step, ev->action,
                     ev->attempt, ev->outcome, "%s%s%s",
                     saga_outcome_name(ev->outcome), reason ? ": " : "",
                     reason ? reason : "");
    else if (ev->attempt < s->attempt)
        machine_note(c, SAGA_NOTE_REPLY_APPLIED, ev->step, ev->action,
                     ev->attempt, ev->outcome,
                     "reply for attempt %d accepted while attempt %d pending",
                     ev->attempt, s->attempt);
    else
        machine_note(c, SAGA_NOTE_REPLY_APPLIED, ev->step, ev->action,
                     ev->attempt, ev->outcome,
                     "reply for attempt %d accepted after its deadline, "
                     "before the re-send",
                     ev->attempt);
}

static void ignore_reply(machine_ctx *c, const char *why)
{
    const saga_event *ev = c->ev;
    machine_note(c, SAGA_NOTE_REPLY_IGNORED, ev->step, ev->action, ev->attempt,
                 ev->outcome, "%s", why);
}

/* The checks a reply passes whatever the step's state; false (with why)
 * when it is malformed or comes too late for the saga as a whole. */
static bool reply_well_formed(machine_ctx *c, char *why, size_t size)
{
    const saga_event *ev = c->ev;
    if (saga_status_terminal(c->st->status))
        machine_format(why, size, "saga is terminal");
    else if (ev->step < 0 || (size_t)ev->step >= c->st->n_steps)
        machine_format(why, size, "unknown step index %d", ev->step);
    else if (ev->action < SAGA_ACT_RESERVE || ev->action > SAGA_ACT_COMPENSATE)
        machine_format(why, size, "invalid action %d", (int)ev->action);
    else if (ev->outcome < SAGA_OUT_OK || ev->outcome > SAGA_OUT_RETRY)
        machine_format(why, size, "invalid outcome %d", (int)ev->outcome);
    else if (ev->attempt < 1)
        machine_format(why, size, "invalid attempt %d", ev->attempt);
    else if (machine_is_signal(c, (size_t)ev->step))
        machine_format(why, size, "step %s is a signal step: it takes signals, "
                       "not replies", c->spec->steps[ev->step].name);
    else
        return true;
    return false;
}

void machine_on_reply(machine_ctx *c)
{
    const saga_event *ev = c->ev;
    char why[SAGA_MACHINE_ERROR_MAX];

    if (!reply_well_formed(c, why, sizeof why)) {
        /* A step index out of range is noted against the saga as a whole,
         * unless the saga is finished and nothing was checked. */
        bool bad_step = ev->step < 0 || (size_t)ev->step >= c->st->n_steps;
        int step = bad_step && !saga_status_terminal(c->st->status) ? -1
                                                                      : ev->step;
        machine_note(c, SAGA_NOTE_REPLY_IGNORED, step, ev->action, ev->attempt,
                     ev->outcome, "%s", why);
        return;
    }
    reply_fit fit = fit_reply(c, why, sizeof why);
    if (fit == FIT_NONE) {
        ignore_reply(c, why);
        return;
    }

    size_t i = (size_t)ev->step;
    saga_step_state *s = &c->st->steps[i];
    note_applied(c, fit);
    *machine_outcome_of(s, ev->action) = ev->outcome;
    c->out->reply_applied = true;
    c->out->reply_earlier = fit == FIT_EARLIER;
    machine_circuit_observe(c, i, ev->outcome == SAGA_OUT_RETRY ? SAGA_CIRCUIT_FAILURE
                                                                : SAGA_CIRCUIT_SUCCESS);
    if (ev->action == SAGA_ACT_RESERVE)
        apply_reserve_reply(c, i);
    else
        apply_final_reply(c, i);
}
