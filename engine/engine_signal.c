/*
 * engine_signal.c - what the engine writes for signals: the decision as it
 * arrived (with its actor), a refusal as an "ignored" row, an approval's
 * data as the step's result.
 *
 * A refused signal changes no state, but it is still written down: an
 * operator who approved a step that had already timed out must find their
 * approval in the timeline, next to the reason it did nothing.
 */
#include "engine_family.h"

#include <stdio.h>

bool saga_engine_signal_record(saga_writes *w, const saga_row *row,
                               const saga_engine_event *x)
{
    const saga_event *ev = &x->ev;
    char text[SAGA_MACHINE_ERROR_MAX + 64];
    if (ev->kind == SAGA_EV_SIGNAL) {
        snprintf(text, sizeof text, "%s%s%s", ev->approve ? "approve" : "reject",
                 ev->reason && *ev->reason ? ": " : "", ev->reason ? ev->reason : "");
        saga_writes_history(w, row->id, ev->now_ms, "signal", x->step_name, "RESERVE",
                            0, ev->approve ? "OK" : "REJECTED", text, x->actor);
        return true;
    }
    if (ev->kind == SAGA_EV_PARENT) {
        snprintf(text, sizeof text, "the parent orders %s", saga_action_name(ev->action));
        saga_writes_history(w, row->id, ev->now_ms, "request", NULL,
                            saga_action_name(ev->action), ev->attempt, NULL, text,
                            x->actor);
        return true;
    }
    return false;
}

void saga_engine_signal_refused(saga_writes *w, const saga_row *row,
                                const saga_engine_event *x)
{
    const saga_event *ev = &x->ev;
    if (ev->kind != SAGA_EV_SIGNAL && ev->kind != SAGA_EV_PARENT)
        return;
    char text[SAGA_ERROR_MSG_MAX + 32];
    snprintf(text, sizeof text, "%s ignored: %s",
             ev->kind == SAGA_EV_PARENT ? "order"
             : ev->approve              ? "approve"
                                        : "reject",
             x->err.msg);
    saga_writes_history(w, row->id, ev->now_ms, "ignored", x->step_name,
                        ev->kind == SAGA_EV_PARENT ? saga_action_name(ev->action) : NULL,
                        0, NULL, text, x->actor);
}

void saga_engine_signal_result(saga_row *row, const saga_engine_event *x,
                               const saga_effects *fx)
{
    if (!fx->signal_applied || x->ev.step < 0)
        return;
    json_decref(row->results[x->ev.step]);
    row->results[x->ev.step] = x->payload ? json_deep_copy(x->payload) : json_object();
    row->result_dirty[x->ev.step] = true;
}
