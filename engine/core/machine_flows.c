/*
 * machine_flows.c - what a start request adds to a saga's life: a start
 * time in the future (SCHEDULED) and a deadline for the whole saga.
 *
 * Both are times, and the machine never reads the clock: a scheduled saga
 * waits for the first TIMER at or after its start time, and a deadline is
 * noticed by whichever event (TIMER or REPLY) first carries a time past it.
 * Both fold into the one wake_ms the timer wheel already serves (finish()
 * in machine.c asks machine_flow_wake), so neither needs a timer of its own
 * and both survive restarts as a column. A deadline passing is treated
 * exactly like a rejected reserve: the compensation rules (in-flight and
 * unknown-outcome steps included, dependents first) are machine_phases.c's.
 * It applies only while the saga is RUNNING: once every reserve succeeded
 * the saga is committed to confirm, and confirming late beats undoing
 * confirmed work.
 */
#include "machine_ctx.h"

#include <assert.h>

#include "duration.h"

void saga_machine_init_opts(const saga_spec *spec, saga_state *st,
                            int64_t now_ms, const saga_machine_opts *o)
{
    saga_machine_init(spec, st, now_ms);
    if (!o)
        return;
    st->deadline_ms = o->deadline_ms > 0 ? o->deadline_ms : 0;
    if (o->start_at_ms > now_ms) {
        st->status = SAGA_SCHEDULED;
        st->start_at_ms = o->start_at_ms;
        st->wake_ms = o->start_at_ms;
        return;
    }
    if (st->deadline_ms > 0) {
        st->deadline_at_ms = now_ms + st->deadline_ms;
        if (st->wake_ms == 0 || st->deadline_at_ms < st->wake_ms)
            st->wake_ms = st->deadline_at_ms;
    }
}

int64_t machine_flow_wake(const saga_state *st, int64_t wake)
{
    if (st->status != SAGA_RUNNING || st->deadline_at_ms == 0)
        return wake;
    return wake == 0 || st->deadline_at_ms < wake ? st->deadline_at_ms : wake;
}

/* A SCHEDULED saga whose time has come: RUNNING, deadline armed, roots
 * dispatched. Before its time a TIMER (an early wake) changes nothing. */
static void start_scheduled(machine_ctx *c)
{
    saga_state *st = c->st;
    if (c->now < st->start_at_ms)
        return;
    st->status = SAGA_RUNNING;
    machine_note(c, SAGA_NOTE_TRANSITION, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
                 "SCHEDULED -> RUNNING: scheduled start");
    c->progress = true;
    if (st->deadline_ms > 0)
        st->deadline_at_ms = c->now + st->deadline_ms;
    machine_begin(c);
}

/* "2s" as it was asked for, not the duration formatter's "2.0s". */
void saga_machine_deadline_cause(int64_t deadline_ms, char *buf, size_t size)
{
    char dur[SAGA_TIME_TEXT_MAX];
    if (deadline_ms % 1000 == 0 && deadline_ms < 10000)
        machine_format(dur, sizeof dur, "%llds", (long long)(deadline_ms / 1000));
    else
        saga_duration_format(deadline_ms, 2, dur, sizeof dur);
    machine_format(buf, size, "deadline of %s passed", dur);
}

void machine_flow_stuck_cause(const saga_state *st, char *reason, size_t size)
{
    if (!st->deadline_expired)
        return;
    char cause[SAGA_MACHINE_ERROR_MAX];
    char rest[SAGA_MACHINE_ERROR_MAX];
    saga_machine_deadline_cause(st->deadline_ms, cause, sizeof cause);
    machine_format(rest, sizeof rest, "%s", reason);
    machine_format(reason, size, "%s; %s", cause, rest);
}

/* The deadline has passed while some reserve has not succeeded. */
static void expire(machine_ctx *c)
{
    saga_state *st = c->st;
    st->deadline_expired = true;
    c->out->deadline_expired = true;
    char cause[SAGA_MACHINE_ERROR_MAX];
    saga_machine_deadline_cause(st->deadline_ms, cause, sizeof cause);
    machine_start_compensation(c, cause);
}

bool machine_flow_before(machine_ctx *c)
{
    saga_state *st = c->st;
    if (st->status == SAGA_SCHEDULED) {
        if (c->ev->kind == SAGA_EV_TIMER)
            start_scheduled(c);
        return c->ev->kind == SAGA_EV_TIMER;
    }
    if (st->status != SAGA_RUNNING || st->deadline_at_ms == 0 ||
        c->now < st->deadline_at_ms)
        return false;
    expire(c);
    /* A TIMER has nothing left to do: the compensations just went out. */
    return c->ev->kind == SAGA_EV_TIMER;
}

int machine_flow_refuse_start(machine_ctx *c, saga_error *err)
{
    assert(c->st->status == SAGA_SCHEDULED);
    saga_error_set(err, SAGA_ECONFLICT,
                   "saga is SCHEDULED: it starts by itself when due");
    saga_error_hint(err, "abort it to cancel it before it starts");
    return SAGA_ECONFLICT;
}

/* Nothing was sent, so nothing needs undoing: the saga ends COMPENSATED
 * (aborted) at once, and no participant ever hears of it. */
void machine_flow_abort_scheduled(machine_ctx *c, const char *why)
{
    assert(c->st->status == SAGA_SCHEDULED);
    machine_note(c, SAGA_NOTE_OPERATOR, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
                 "abort%s%s", why ? ": " : "", why ? why : "");
    c->st->aborted = true;
    machine_set_status(c, SAGA_COMPENSATED,
                       "aborted by operator before its scheduled start%s%s",
                       why ? ": " : "", why ? why : "");
}
