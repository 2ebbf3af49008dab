/*
 * machine_family.c - a sub-saga as its parent sees it: a participant.
 *
 * The parent runs a sub-saga step like any other (RESERVE, CONFIRM,
 * COMPENSATE with attempts and deadlines); the child is the participant
 * that answers. So the child's side is all here: it is "held" (it never
 * confirms on its own), it takes the parent's CONFIRM or COMPENSATE as an
 * event, and it answers with reports that the engine turns into Replies
 * for the parent's step. Reports are computed once per apply from the
 * state before and after, so no phase has to remember to send one, and a
 * repeated order from the parent (its re-send after a timeout) is answered
 * again from the state, the way a participant's barrier answers a
 * duplicate command.
 */
#include "machine_ctx.h"

#include <string.h>

void machine_reserve_done(machine_ctx *c)
{
    if (!machine_all_steps(c->st, SAGA_STEP_RESERVED))
        machine_dispatch_ready_reserves(c);
    else if (!c->st->held)
        machine_start_confirm(c);
}

int machine_refuse_held(machine_ctx *c, const char *verb, saga_error *err)
{
    if (!c->st->held || c->ev->parent_done ||
        saga_status_terminal(c->st->status))
        return 0;
    saga_error_set(err, SAGA_ECONFLICT,
                   "saga is a sub-saga held by its parent: it cannot be %s "
                   "on its own",
                   verb);
    saga_error_hint(err, "act on the parent saga (`sagactl show` names it); "
                         "it confirms or compensates this one with itself");
    return SAGA_ECONFLICT;
}

static void report(machine_ctx *c, saga_action action, int attempt,
                   saga_outcome outcome, const char *reason)
{
    saga_effects *out = c->out;
    out->report_action = action;
    out->report_attempt = attempt;
    out->report_outcome = outcome;
    machine_format(out->report_reason, sizeof out->report_reason, "%s",
                   reason ? reason : "");
    machine_note(c, SAGA_NOTE_REPORT, -1, action, attempt, outcome,
                 "told the parent: %s %s%s%s", saga_action_name(action),
                 saga_outcome_name(outcome), reason ? ": " : "",
                 reason ? reason : "");
}

static int parent_confirm(machine_ctx *c, saga_error *err)
{
    saga_state *st = c->st;
    if (st->status == SAGA_RUNNING && machine_all_steps(st, SAGA_STEP_RESERVED)) {
        machine_note(c, SAGA_NOTE_PARENT, -1, SAGA_ACT_CONFIRM, c->ev->attempt,
                     SAGA_OUT_NONE, "the parent confirms");
        machine_start_confirm(c);
        return 0;
    }
    if (st->status == SAGA_CONFIRMING || st->status == SAGA_COMPLETED) {
        machine_note(c, SAGA_NOTE_PARENT, -1, SAGA_ACT_CONFIRM, c->ev->attempt,
                     SAGA_OUT_NONE, "the parent confirms again (%s)",
                     saga_status_name(st->status));
        return 0;
    }
    return saga_error_set(err, SAGA_ECONFLICT,
                          "the parent asks to confirm but the saga is %s%s",
                          saga_status_name(st->status),
                          st->status == SAGA_RUNNING ? " and not every step "
                                                       "has reserved"
                                                     : "");
}

static int parent_compensate(machine_ctx *c, saga_error *err)
{
    saga_state *st = c->st;
    if (st->status == SAGA_CONFIRMING || st->status == SAGA_COMPLETED)
        return saga_error_set(err, SAGA_ECONFLICT,
                              "the parent asks to compensate but the saga is "
                              "%s: confirm cannot be undone",
                              saga_status_name(st->status));
    machine_note(c, SAGA_NOTE_PARENT, -1, SAGA_ACT_COMPENSATE, c->ev->attempt,
                 SAGA_OUT_NONE, "the parent compensates%s",
                 st->status == SAGA_RUNNING ? "" : " (already under way)");
    st->aborted = true;
    if (st->status == SAGA_RUNNING)
        machine_start_compensation(c, "the parent saga compensates");
    return 0;
}

int machine_on_parent(machine_ctx *c, saga_error *err)
{
    if (!c->st->held)
        return saga_error_set(err, SAGA_ECONFLICT,
                              "saga has no parent to take orders from");
    if (c->ev->action == SAGA_ACT_CONFIRM)
        return parent_confirm(c, err);
    if (c->ev->action == SAGA_ACT_COMPENSATE)
        return parent_compensate(c, err);
    return saga_error_set(err, SAGA_EINVAL,
                          "a parent orders CONFIRM or COMPENSATE, not %s",
                          saga_action_name(c->ev->action));
}

/* The step whose failure made an unasked compensation: its name and error,
 * for the parent's REJECTED. */
static void failure_reason(const machine_ctx *c, char *buf, size_t size)
{
    for (size_t i = 0; i < c->st->n_steps; i++) {
        const saga_step_state *s = &c->st->steps[i];
        if (s->reserve_outcome != SAGA_OUT_OK && s->last_error[0] &&
            s->reserve_attempts > 0) {
            machine_format(buf, size, "sub-saga step %s: %s",
                           c->spec->steps[i].name, s->last_error);
            return;
        }
    }
    machine_format(buf, size, "sub-saga compensated");
}

void machine_report_milestone(machine_ctx *c, const saga_state *before)
{
    const saga_state *st = c->st;
    const saga_event *ev = c->ev;
    int attempt = ev->kind == SAGA_EV_PARENT ? ev->attempt : 1;
    bool again = ev->kind == SAGA_EV_PARENT;

    if (!st->held)
        return;
    if (st->status == SAGA_RUNNING && machine_all_steps(st, SAGA_STEP_RESERVED) &&
        !machine_all_steps(before, SAGA_STEP_RESERVED)) {
        report(c, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK, NULL);
    } else if (st->status == SAGA_COMPLETED &&
               (before->status != SAGA_COMPLETED || again)) {
        report(c, SAGA_ACT_CONFIRM, attempt, SAGA_OUT_OK, NULL);
    } else if (st->status == SAGA_COMPENSATED &&
               (before->status != SAGA_COMPENSATED || again)) {
        if (st->aborted) {
            report(c, SAGA_ACT_COMPENSATE, attempt, SAGA_OUT_OK, NULL);
        } else {
            char why[SAGA_MACHINE_ERROR_MAX];
            failure_reason(c, why, sizeof why);
            report(c, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED, why);
        }
    }
}
