/*
 * machine.c - the saga decision core: (state, event) -> (state', effects).
 *
 * Everything the coordinator decides happens here and nowhere else, so the
 * I/O shell (store, sagad) only loads, applies and persists. The function is
 * pure: time and randomness come in the event, effects go out in fixed-size
 * arrays, and nothing can fail half-way, which is what lets every transition
 * be unit-tested exhaustively. Each apply runs on a small context
 * (machine_ctx.h) that collects notes and a "progress" flag; the common tail
 * (stuck check, next wake-up, "changed") is computed once at the end, so no
 * handler can forget it. This file holds the entry points, that tail and the
 * helpers every concern shares; the concerns themselves are machine_phases.c,
 * machine_retry.c, machine_reply.c, machine_operator.c, machine_signal.c
 * (signal steps) and machine_family.c (sub-sagas).
 *
 * Choices the header leaves open, made here:
 *  - Progress is a change of the saga's or of a step's status. A RETRY reply,
 *    or a REJECTED reply to CONFIRM/COMPENSATE, is applied but is not
 *    progress: a saga whose compensation is refused for ever must end up
 *    flagged stuck instead of looking busy.
 *  - *_outcome is the answer to the latest dispatch of that action: it is
 *    reset to NONE on every dispatch and a timeout leaves it NONE. That is
 *    how a reply to the current attempt of a step that is backing off is told
 *    apart: answered before (duplicate) or never answered (late, timed out).
 *  - Stuck is evaluated on every accepted event, not only on timers.
 *  - The first TIMER of a saga nobody has started (created by saga_start in
 *    the caller's transaction) starts it: the shell need not know which
 *    sagas are fresh.
 */
#include "machine_ctx.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* --- text ------------------------------------------------------------------ */

/* Formats into a fixed buffer. Texts end up in PostgreSQL text columns, so a
 * cut never leaves half a UTF-8 sequence behind (the server would refuse the
 * whole transaction). */
void machine_format_v(char *buf, size_t size, const char *fmt, va_list ap)
{
    buf[0] = '\0';
    int n = vsnprintf(buf, size, fmt, ap);
    if (n < 0 || (size_t)n < size)
        return;
    size_t len = size - 1;
    size_t start = len;
    while (start > 0 && ((unsigned char)buf[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return;
    unsigned char lead = (unsigned char)buf[start - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (len - (start - 1) < need)
        buf[start - 1] = '\0';
}

void machine_format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    machine_format_v(buf, size, fmt, ap);
    va_end(ap);
}

void machine_note(machine_ctx *c, saga_note_kind kind, int step,
                  saga_action action, int attempt, saga_outcome outcome,
                  const char *fmt, ...)
{
    assert(c->out->n_notes < SAGA_EFFECTS_MAX_NOTES);
    if (c->out->n_notes >= SAGA_EFFECTS_MAX_NOTES)
        return;
    saga_note *n = &c->out->notes[c->out->n_notes++];
    n->kind = kind;
    n->step = step;
    n->action = action;
    n->attempt = attempt;
    n->outcome = outcome;
    va_list ap;
    va_start(ap, fmt);
    machine_format_v(n->text, sizeof n->text, fmt, ap);
    va_end(ap);
}

const char *machine_reason_or(const char *reason, const char *fallback)
{
    return reason && reason[0] ? reason : fallback;
}

/* --- step helpers ------------------------------------------------------------ */

int *machine_attempts_of(saga_step_state *s, saga_action a)
{
    assert(a >= SAGA_ACT_RESERVE && a <= SAGA_ACT_COMPENSATE);
    return a == SAGA_ACT_RESERVE   ? &s->reserve_attempts
           : a == SAGA_ACT_CONFIRM ? &s->confirm_attempts
                                   : &s->compensate_attempts;
}

saga_outcome *machine_outcome_of(saga_step_state *s, saga_action a)
{
    assert(a >= SAGA_ACT_RESERVE && a <= SAGA_ACT_COMPENSATE);
    return a == SAGA_ACT_RESERVE   ? &s->reserve_outcome
           : a == SAGA_ACT_CONFIRM ? &s->confirm_outcome
                                   : &s->compensate_outcome;
}

bool machine_depends_on(const saga_step_def *d, size_t j)
{
    for (size_t k = 0; k < d->n_after; k++)
        if (d->after[k] == j)
            return true;
    return false;
}

void machine_set_status(machine_ctx *c, saga_status to, const char *fmt, ...)
{
    char cause[SAGA_MACHINE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    machine_format_v(cause, sizeof cause, fmt, ap);
    va_end(ap);
    machine_note(c, SAGA_NOTE_TRANSITION, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
                 "%s -> %s: %s", saga_status_name(c->st->status),
                 saga_status_name(to), cause);
    c->st->status = to;
    c->progress = true;
}

void machine_set_step(machine_ctx *c, size_t i, saga_step_status to,
                      const char *cause)
{
    saga_step_state *s = &c->st->steps[i];
    if (cause)
        machine_note(c, SAGA_NOTE_STEP, (int)i, s->action, s->attempt,
                     SAGA_OUT_NONE, "%s -> %s: %s",
                     saga_step_status_name(s->status),
                     saga_step_status_name(to), cause);
    else
        machine_note(c, SAGA_NOTE_STEP, (int)i, s->action, s->attempt,
                     SAGA_OUT_NONE, "%s -> %s",
                     saga_step_status_name(s->status),
                     saga_step_status_name(to));
    s->status = to;
    c->progress = true;
}

void machine_clear_command(saga_step_state *s)
{
    s->action = SAGA_ACT_NONE;
    s->deadline_ms = 0;
    s->retry_at_ms = 0;
}

bool machine_all_steps(const saga_state *st, saga_step_status status)
{
    for (size_t i = 0; i < st->n_steps; i++)
        if (st->steps[i].status != status)
            return false;
    return true;
}

bool machine_fresh(const saga_state *st)
{
    /* Aborted or resolved sagas have left RUNNING; a dispatched step has
     * left PENDING. */
    return st->status == SAGA_RUNNING && machine_all_steps(st, SAGA_STEP_PENDING);
}

bool machine_every_reserve_succeeded(const saga_state *st)
{
    for (size_t i = 0; i < st->n_steps; i++) {
        saga_step_status s = st->steps[i].status;
        if (s != SAGA_STEP_RESERVED && s != SAGA_STEP_CONFIRMING &&
            s != SAGA_STEP_CONFIRMED)
            return false;
    }
    return true;
}

/* Sends `action` for step i: attempt 1 for a new action, +1 for a re-send. */
void machine_dispatch(machine_ctx *c, size_t i, saga_action action)
{
    const saga_step_def *d = &c->spec->steps[i];
    saga_step_state *s = &c->st->steps[i];

    if (action == SAGA_ACT_RESERVE) {
        assert(c->st->status == SAGA_RUNNING);
        assert(s->status == SAGA_STEP_PENDING ||
               s->status == SAGA_STEP_RESERVING);
    } else if (action == SAGA_ACT_CONFIRM) {
        assert(c->st->status == SAGA_CONFIRMING);
        assert(machine_every_reserve_succeeded(c->st));
        assert(d->confirm.command != NULL);
    } else {
        assert(action == SAGA_ACT_COMPENSATE);
        assert(c->st->status == SAGA_COMPENSATING);
        /* "compensation is never dispatched for a PENDING step" */
        assert(s->status == SAGA_STEP_RESERVED ||
               s->status == SAGA_STEP_RESERVING ||
               s->status == SAGA_STEP_FAILED ||
               s->status == SAGA_STEP_COMPENSATING);
        assert(!d->irreversible);
    }

    if (s->action == action) {
        s->attempt++;
    } else {
        s->attempt = 1;
        s->failures = 0;
    }
    s->action = action;
    s->deadline_ms = c->now + saga_machine_timeout(d, s->attempt);
    s->retry_at_ms = 0;
    (*machine_attempts_of(s, action))++;
    *machine_outcome_of(s, action) = SAGA_OUT_NONE;
    assert(s->attempt == *machine_attempts_of(s, action));
    if (d->kind == SAGA_STEP_SIGNAL)
        return; /* nothing is sent: the deadline is all it needs */

    assert(c->out->n_cmds < SAGA_SPEC_MAX_STEPS);
    saga_command *cmd = &c->out->cmds[c->out->n_cmds++];
    cmd->step = (int)i;
    cmd->action = action;
    cmd->attempt = s->attempt;
    cmd->deadline_ms = s->deadline_ms;
    if (action == SAGA_ACT_RESERVE)
        machine_circuit_observe(c, i, SAGA_CIRCUIT_SENT);
}

/* --- the common tail ------------------------------------------------------- */

/* The step most likely holding the saga up: the pending command with the
 * most consecutive failures (the first such step on a tie). */
static void describe_stuck(const machine_ctx *c, char *buf, size_t size)
{
    const saga_state *st = c->st;
    int best = -1;
    if (machine_describe_wait(c, buf, size))
        return;
    for (size_t i = 0; i < st->n_steps; i++)
        if (st->steps[i].action != SAGA_ACT_NONE &&
            (best < 0 || st->steps[i].failures > st->steps[best].failures))
            best = (int)i;
    if (best < 0) {
        machine_format(buf, size, "no progress for %lld ms and no command pending",
                       (long long)(c->now - st->progress_ms));
        return;
    }
    const saga_step_state *s = &st->steps[best];
    const char *who = c->spec->steps[best].participant
                          ? c->spec->steps[best].participant
                          : c->spec->steps[best].subsaga;
    char err[SAGA_MACHINE_ERROR_MAX + 16] = "";
    if (s->last_error[0])
        machine_format(err, sizeof err, ", last error \"%s\"", s->last_error);
    if (machine_in_flight(s))
        machine_format(buf, size, "awaiting %s %s reply, attempt %d%s", who,
                       saga_action_name(s->action), s->attempt, err);
    else
        machine_format(buf, size, "waiting to re-send %s %s after attempt %d%s",
                       who, saga_action_name(s->action), s->attempt, err);
}

static void finish(machine_ctx *c)
{
    saga_state *st = c->st;
    int64_t stuck_after = c->spec->stuck_after_ms;

    if (st->status == SAGA_SCHEDULED) {
        /* Waiting on purpose is not being stuck. */
        st->wake_ms = st->start_at_ms;
        return;
    }
    if (c->progress) {
        st->progress_ms = c->now;
        if (st->stuck) {
            st->stuck = false;
            st->stuck_reason[0] = '\0';
            machine_note(c, SAGA_NOTE_UNSTUCK, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
                         "progress resumed");
        }
    }

    bool terminal = saga_status_terminal(st->status);
    if (!terminal && stuck_after > 0 && c->now - st->progress_ms >= stuck_after) {
        describe_stuck(c, st->stuck_reason, sizeof st->stuck_reason);
        machine_flow_stuck_cause(st, st->stuck_reason, sizeof st->stuck_reason);
        if (!st->stuck) {
            st->stuck = true;
            machine_note(c, SAGA_NOTE_STUCK, -1, SAGA_ACT_NONE, 0,
                         SAGA_OUT_NONE, "%s", st->stuck_reason);
        }
    }

    int64_t wake = 0;
    if (!terminal) {
        for (size_t i = 0; i < st->n_steps; i++) {
            const saga_step_state *s = &st->steps[i];
            int64_t t = machine_in_flight(s)                                  ? s->deadline_ms
                        : machine_backing_off(s) && !machine_circuit_waiting(c, i) ? s->retry_at_ms
                                                                                   : 0;
            if (t && (wake == 0 || t < wake))
                wake = t;
        }
        if (!st->stuck && stuck_after > 0) {
            int64_t t = st->progress_ms + stuck_after;
            if (wake == 0 || t < wake)
                wake = t;
        }
    }
    st->wake_ms = machine_flow_wake(st, wake);
}

/* --- entry points ---------------------------------------------------------- */

void saga_machine_init(const saga_spec *spec, saga_state *st, int64_t now_ms)
{
    assert(spec->n_steps <= SAGA_SPEC_MAX_STEPS);
    memset(st, 0, sizeof *st);
    st->status = SAGA_RUNNING;
    st->progress_ms = now_ms;
    st->n_steps = spec->n_steps;
    if (spec->stuck_after_ms > 0)
        st->wake_ms = now_ms + spec->stuck_after_ms;
}

void machine_begin(machine_ctx *c)
{
    assert(machine_fresh(c->st));
    machine_dispatch_ready_reserves(c);
    /* Roots held by an open circuit leave the saga fresh: it starts when
     * the circuit lets them go, and counts as started then. */
    c->out->started = c->out->n_cmds > 0 || c->st->status != SAGA_RUNNING;
}

static int on_start(machine_ctx *c, saga_error *err)
{
    if (!machine_fresh(c->st))
        return saga_error_set(err, SAGA_ECONFLICT, "saga has already started");
    machine_begin(c);
    return 0;
}

static void clear_effects(saga_effects *out)
{
    out->n_cmds = 0;
    out->n_notes = 0;
    out->changed = false;
    out->reply_applied = false;
    out->reply_earlier = false;
    out->started = false;
    out->deadline_expired = false;
    out->signal_applied = false;
    out->report_action = SAGA_ACT_NONE;
    out->n_circuit = 0;
}

int saga_machine_apply(const saga_spec *spec, saga_state *st,
                       const saga_event *ev, saga_effects *out,
                       saga_error *err)
{
    assert(st->n_steps == spec->n_steps);
    /* Only the counts and flags: the arrays are written before they are
     * read, and clearing all 74 KB per event was a sixth of sagad's CPU. */
    clear_effects(out);
    saga_error_clear(err);

    saga_state before;
    memcpy(&before, st, sizeof before);
    machine_ctx c = {.spec = spec, .st = st, .ev = ev, .out = out,
                     .now = ev->now_ms, .progress = false};
    int rc = 0;
    switch (ev->kind) {
    case SAGA_EV_START:
        rc = st->status == SAGA_SCHEDULED ? machine_flow_refuse_start(&c, err)
                                          : on_start(&c, err);
        break;
    case SAGA_EV_REPLY:
        machine_flow_before(&c);
        machine_on_reply(&c);
        break;
    case SAGA_EV_TIMER:
        if (!machine_flow_before(&c))
            machine_on_timer(&c);
        break;
    case SAGA_EV_RETRY: rc = machine_on_operator_retry(&c, err); break;
    case SAGA_EV_ABORT: rc = machine_on_abort(&c, err); break;
    case SAGA_EV_RESOLVE: rc = machine_on_resolve(&c, err); break;
    case SAGA_EV_SIGNAL: rc = machine_on_signal(&c, err); break;
    case SAGA_EV_PARENT: rc = machine_on_parent(&c, err); break;
    default:
        rc = saga_error_set(err, SAGA_EINVAL, "unknown event kind %d",
                            (int)ev->kind);
        break;
    }
    if (rc != 0) {
        /* Refusals are decided before anything is touched. */
        assert(memcmp(&before, st, sizeof before) == 0);
        clear_effects(out);
        return rc;
    }
    finish(&c);
    machine_report_milestone(&c, &before);
    out->changed = memcmp(&before, st, sizeof before) != 0;
    return 0;
}
