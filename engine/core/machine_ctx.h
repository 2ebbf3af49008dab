/*
 * machine_ctx.h - private to engine/core/machine*.c: the context one apply
 * runs on, and the helpers every part of the decision core uses.
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * The machine is one function (saga_machine_apply, machine.c) split by
 * concern so that each file reads as one idea: the reserve / confirm /
 * compensate phases (machine_phases.c), deadlines, retries and backoff
 * (machine_retry.c), replies (machine_reply.c), operator actions
 * (machine_operator.c), scheduled starts and saga deadlines
 * (machine_flows.c). They share this context instead of passing the
 * spec, state, event and effects around separately; nothing outside those
 * files may include this header.
 */
#ifndef SAGA_MACHINE_CTX_H
#define SAGA_MACHINE_CTX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "machine.h"

typedef struct machine_ctx {
    const saga_spec *spec;
    saga_state *st;
    const saga_event *ev;
    saga_effects *out;
    int64_t now;
    bool progress; /* a saga or step status changed during this apply */
} machine_ctx;

/* --- text (machine.c) ------------------------------------------------------ */

/* Formats into a fixed buffer, never cutting a UTF-8 sequence in half. */
void machine_format_v(char *buf, size_t size, const char *fmt, va_list ap);
void machine_format(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends a note to the effects. */
void machine_note(machine_ctx *c, saga_note_kind kind, int step,
                  saga_action action, int attempt, saga_outcome outcome,
                  const char *fmt, ...) __attribute__((format(printf, 7, 8)));
const char *machine_reason_or(const char *reason, const char *fallback);

/* --- step helpers (machine.c) --------------------------------------------- */

int *machine_attempts_of(saga_step_state *s, saga_action a);
saga_outcome *machine_outcome_of(saga_step_state *s, saga_action a);

static inline bool machine_in_flight(const saga_step_state *s)
{
    return s->action != SAGA_ACT_NONE && s->deadline_ms != 0;
}

static inline bool machine_backing_off(const saga_step_state *s)
{
    return s->action != SAGA_ACT_NONE && s->retry_at_ms != 0;
}

bool machine_depends_on(const saga_step_def *d, size_t j);
bool machine_all_steps(const saga_state *st, saga_step_status status);
/* Created and never dispatched: RUNNING with every step PENDING. */
bool machine_fresh(const saga_state *st);
/* "A step is never confirmed unless every reserve succeeded." */
bool machine_every_reserve_succeeded(const saga_state *st);

void machine_set_status(machine_ctx *c, saga_status to, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void machine_set_step(machine_ctx *c, size_t i, saga_step_status to,
                      const char *cause);
void machine_clear_command(saga_step_state *s);
/* Sends `action` for step i: attempt 1 for a new action, +1 for a re-send. */
void machine_dispatch(machine_ctx *c, size_t i, saga_action action);

/* Dispatches the roots of a fresh saga (START, or its first TIMER). */
void machine_begin(machine_ctx *c);

/* --- phases (machine_phases.c) --------------------------------------------- */

void machine_dispatch_ready_reserves(machine_ctx *c);
void machine_start_confirm(machine_ctx *c);
void machine_complete_if_confirmed(machine_ctx *c);
void machine_dispatch_ready_compensations(machine_ctx *c);
void machine_start_compensation(machine_ctx *c, const char *cause);

/* --- deadlines and retries (machine_retry.c) ------------------------------- */

void machine_fail_attempt(machine_ctx *c, size_t i);
void machine_on_timer(machine_ctx *c);

/* --- events (machine_reply.c, machine_operator.c) -------------------------- */

void machine_on_reply(machine_ctx *c);
int machine_on_operator_retry(machine_ctx *c, saga_error *err);
int machine_on_abort(machine_ctx *c, saga_error *err);
int machine_on_resolve(machine_ctx *c, saga_error *err);

/* --- circuit breakers (machine_circuit.c) --------------------------------- */

/* Whether step i's participant refuses this saga new RESERVEs. */
bool machine_circuit_blocked(const machine_ctx *c, size_t i);
/* Reports an observation of step i's participant in the effects. */
void machine_circuit_observe(machine_ctx *c, size_t i, saga_circuit_obs_kind kind);
/* Before a RESERVE of step i goes out: false when its circuit lets it;
 * true when it is held (noted, reported) or, with "on_open": "reject",
 * when the saga started compensating instead. */
bool machine_circuit_hold(machine_ctx *c, size_t i);
/* machine_circuit_hold over the steps ready[] marks; held ones are
 * cleared from ready[]. True when the saga started compensating. */
bool machine_circuit_gate(machine_ctx *c, bool *ready);
/* Step i is a RESERVE due for its re-send but held: no wake-up for it. */
bool machine_circuit_waiting(const machine_ctx *c, size_t i);

/* --- scheduled starts and saga deadlines (machine_flows.c) ----------------- */

/* Runs before a TIMER or REPLY is handled: starts a SCHEDULED saga that is
 * due, or compensates a RUNNING one past its deadline. True when the event
 * needs nothing more (a TIMER on a SCHEDULED saga, or one that found the
 * deadline passed). */
bool machine_flow_before(machine_ctx *c);
/* wake, or the saga's deadline when that comes first and still applies. */
int64_t machine_flow_wake(const saga_state *st, int64_t wake);
/* START of a SCHEDULED saga: refused (SAGA_ECONFLICT), nothing touched. */
int machine_flow_refuse_start(machine_ctx *c, saga_error *err);
/* Prefixes a stuck reason with why the saga compensates when its deadline
 * passed ("deadline of 30s passed; awaiting ..."). */
void machine_flow_stuck_cause(const saga_state *st, char *reason, size_t size);
/* ABORT of a SCHEDULED saga: COMPENSATED at once, nothing sent. */
void machine_flow_abort_scheduled(machine_ctx *c, const char *why);
/* --- signal steps (machine_signal.c) -------------------------------------- */

static inline bool machine_is_signal(const machine_ctx *c, size_t i)
{
    return c->spec->steps[i].kind == SAGA_STEP_SIGNAL;
}

int machine_on_signal(machine_ctx *c, saga_error *err);
/* Step i's signal deadline has passed: REJECTED, the saga compensates. */
void machine_signal_expired(machine_ctx *c, size_t i);
/* Compensation of a signal step: nothing to undo, COMPENSATED at once. */
void machine_signal_undo(machine_ctx *c, size_t i);
/* What a saga waiting on a signal or on its parent waits for, into buf;
 * false when it waits for neither. */
bool machine_describe_wait(const machine_ctx *c, char *buf, size_t size);

/* --- sub-sagas (machine_family.c) ------------------------------------------ */

/* After a step reserved: dispatch what is now ready, or confirm when every
 * step has reserved (a held saga waits for its parent instead). */
void machine_reserve_done(machine_ctx *c);
int machine_on_parent(machine_ctx *c, saga_error *err);
/* ABORT / RESOLVE of a held saga whose parent is unfinished: refused. */
int machine_refuse_held(machine_ctx *c, const char *verb, saga_error *err);
/* After an accepted event: a held saga that reached a milestone reports
 * it to its parent (out->report_*). */
void machine_report_milestone(machine_ctx *c, const saga_state *before);

#endif
