/*
 * machine_operator.c - what an operator may do to a saga: retry now, abort,
 * resolve.
 *
 * Operator actions are the only events the machine refuses: each checks the
 * saga's state first and returns SAGA_ECONFLICT / SAGA_ENOTFOUND /
 * SAGA_EINVAL with a message (and a hint) sagactl prints unchanged, before
 * touching anything, so a refused action leaves the state as it was
 * (saga_machine_apply asserts it). An accepted one is noted with the
 * operator's reason; the engine adds who asked.
 */
#include "machine_ctx.h"

int machine_on_operator_retry(machine_ctx *c, saga_error *err)
{
    const saga_event *ev = c->ev;
    saga_state *st = c->st;
    if (saga_status_terminal(st->status))
        return saga_error_set(err, SAGA_ECONFLICT,
                              "saga is %s: nothing to retry",
                              saga_status_name(st->status));
    if (ev->step < -1 || ev->step >= (int)st->n_steps)
        return saga_error_set(err, SAGA_ENOTFOUND, "no step with index %d",
                              ev->step);

    size_t from = ev->step < 0 ? 0 : (size_t)ev->step;
    size_t to = ev->step < 0 ? st->n_steps : (size_t)ev->step + 1;
    size_t n = 0;
    for (size_t i = from; i < to; i++)
        if (st->steps[i].action != SAGA_ACT_NONE && !machine_is_signal(c, i))
            n++;
    if (n == 0) {
        if (ev->step < 0)
            saga_error_set(err, SAGA_ECONFLICT,
                           "nothing to retry: no command is in flight or "
                           "waiting to be re-sent");
        else
            saga_error_set(err, SAGA_ECONFLICT,
                           "nothing to retry: step %s has no command in flight "
                           "or waiting to be re-sent",
                           c->spec->steps[ev->step].name);
        saga_error_hint(err, "the saga is %s; see its timeline",
                        saga_status_name(st->status));
        return SAGA_ECONFLICT;
    }

    machine_note(c, SAGA_NOTE_OPERATOR, ev->step, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
                 "retry: re-sending %zu command%s now%s%s", n, n == 1 ? "" : "s",
                 ev->op_reason ? ": " : "", ev->op_reason ? ev->op_reason : "");
    for (size_t i = from; i < to; i++) {
        saga_step_state *s = &st->steps[i];
        if (s->action == SAGA_ACT_NONE || machine_is_signal(c, i))
            continue;
        s->failures = 0;
        machine_dispatch(c, i, s->action);
    }
    return 0;
}

int machine_on_abort(machine_ctx *c, saga_error *err)
{
    saga_status status = c->st->status;
    if (machine_refuse_held(c, "aborted", err))
        return SAGA_ECONFLICT;
    if (status == SAGA_CONFIRMING) {
        saga_error_set(err, SAGA_ECONFLICT,
                       "saga is CONFIRMING: confirm has begun and cannot be "
                       "undone");
        saga_error_hint(err, "use resolve to close it once the participants "
                             "agree on its outcome");
        return SAGA_ECONFLICT;
    }
    const char *why = c->ev->op_reason;
    if (status == SAGA_SCHEDULED) {
        machine_flow_abort_scheduled(c, why);
        return 0;
    }
    if (status != SAGA_RUNNING)
        return saga_error_set(err, SAGA_ECONFLICT,
                              "saga is %s: only a RUNNING saga can be aborted",
                              saga_status_name(status));

    machine_note(c, SAGA_NOTE_OPERATOR, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
                 "abort%s%s", why ? ": " : "", why ? why : "");
    c->st->aborted = true;
    char cause[SAGA_MACHINE_ERROR_MAX];
    machine_format(cause, sizeof cause, "aborted by operator%s%s", why ? ": " : "",
                   why ? why : "");
    machine_start_compensation(c, cause);
    return 0;
}

int machine_on_resolve(machine_ctx *c, saga_error *err)
{
    saga_status as = c->ev->resolve_as;
    if (as != SAGA_COMPLETED && as != SAGA_COMPENSATED)
        return saga_error_set(err, SAGA_EINVAL,
                              "a saga can only be resolved as COMPLETED or "
                              "COMPENSATED, not %s",
                              saga_status_name(as));
    if (saga_status_terminal(c->st->status))
        return saga_error_set(err, SAGA_ECONFLICT,
                              "saga is %s: it has already finished",
                              saga_status_name(c->st->status));
    if (machine_refuse_held(c, "resolved", err))
        return SAGA_ECONFLICT;

    const char *why = c->ev->op_reason;
    machine_note(c, SAGA_NOTE_OPERATOR, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
                 "resolve as %s%s%s", saga_status_name(as), why ? ": " : "",
                 why ? why : "");
    for (size_t i = 0; i < c->st->n_steps; i++)
        machine_clear_command(&c->st->steps[i]);
    c->st->resolved = true;
    machine_set_status(c, as, "resolved by operator");
    return 0;
}
