/*
 * machine.h - the saga decision core: (state, event) -> (state', effects).
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * A pure function with no I/O, no clock and no randomness of its own: the
 * caller passes the time and a random number in the event, loads the state
 * from PostgreSQL, and persists the new state together with the effects
 * (commands to publish via the outbox, history notes, the next wake-up) in
 * one transaction. Because nothing here can fail half-way, every transition
 * - including duplicate, stale and late replies and timeouts racing replies -
 * is exhaustively unit-tested (tests/unit/test_machine.c).
 *
 * Semantics (docs/architecture.md):
 *  - RUNNING: steps reserve along the dependency graph; a step is dispatched
 *    once every step in its `after` list is RESERVED; independent steps go in
 *    parallel. An irreversible step is dispatched only once every reversible
 *    step is RESERVED.
 *  - All reserves OK -> CONFIRMING: every step with a confirm command gets
 *    CONFIRM (in parallel); steps without one are CONFIRMED at once. All
 *    confirmed -> COMPLETED.
 *  - A reserve REJECTED, or out of attempts -> COMPENSATING: every reversible
 *    step that is RESERVED, in flight (RESERVING) or FAILED (outcome unknown)
 *    is compensated, a step only after every step that depends on it is done
 *    compensating. Never-dispatched (PENDING) and REJECTED steps are not.
 *    All compensated -> COMPENSATED.
 *  - Timeouts and RETRY replies re-dispatch after exponential backoff with
 *    jitter; RESERVE up to retry.max_attempts, CONFIRM and COMPENSATE for
 *    ever (a REJECTED reply to them is recorded as an error and retried).
 *    Attempt n waits timeout_ms * min(2^(n-1), SAGA_MACHINE_TIMEOUT_GROWTH)
 *    for its reply (saga_machine_timeout).
 *  - A reply is applied when its (action, attempt) is the step's command in
 *    flight, or when it is an OK or REJECTED for an earlier attempt of the
 *    action still pending (in flight or backing off), or for its latest
 *    attempt after that timed out: the participant's barrier replays one
 *    answer per (key, action) to every attempt (docs/participants.md). A
 *    RETRY for anything but the attempt in flight, a reply for an action no
 *    longer pending or for an attempt never sent, a duplicate, and a reply
 *    to a finished saga are reported as ignored, with the reason.
 *  - START dispatches the roots of a fresh saga (RUNNING, every step
 *    PENDING); so does a TIMER, for a saga created in someone else's
 *    transaction (saga_start) that nobody has started yet.
 *  - No progress (a change of saga or step status) for stuck_after_ms ->
 *    stuck flag (cleared on progress); retries go on regardless, and a reply
 *    that only leads to another retry is not progress.
 *  - SCHEDULED (created with a start time in the future, machine_flows.c):
 *    nothing is dispatched; the first TIMER at or after start_at_ms makes it
 *    RUNNING and dispatches the roots; ABORT makes it COMPENSATED at once
 *    (nothing was reserved, nothing is sent); never flagged stuck.
 *  - Saga deadline (machine_flows.c): armed when the saga starts running
 *    (deadline_at_ms = start + deadline_ms). A TIMER or REPLY at or after
 *    it, while the saga is still RUNNING (some reserve has not succeeded),
 *    compensates as a rejected reserve would, with the cause "deadline of
 *    30s passed"; once every reserve succeeded (CONFIRMING) it no longer
 *    applies. The deadline folds into wake_ms like every other time.
 *  - A signal step (machine_signal.c) sends nothing: its RESERVE waits
 *    timeout_ms for a SIGNAL event. Approve = RESERVED (the engine keeps
 *    its data as the step's result); reject, or the deadline passing, =
 *    REJECTED and the saga compensates. It has nothing to confirm or undo.
 *    A SIGNAL for a step not waiting is refused (SAGA_ECONFLICT), never
 *    applied; so is a reply addressed to a signal step (ignored).
 *  - A held saga (a sub-saga, machine_family.c) does not confirm on its
 *    own: with every step RESERVED it stays RUNNING and reports RESERVE OK
 *    to its parent; a PARENT event CONFIRM starts its confirm, COMPENSATE
 *    its compensation (as an abort by the parent). Reaching COMPLETED
 *    reports CONFIRM OK; COMPENSATED reports COMPENSATE OK when the parent
 *    asked, else RESERVE REJECTED. Operators may not abort or resolve it
 *    while the parent is unfinished (SAGA_ECONFLICT).
 */
#ifndef SAGA_MACHINE_H
#define SAGA_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "spec.h"

typedef enum saga_status {
    SAGA_RUNNING = 0,
    SAGA_CONFIRMING,
    SAGA_COMPENSATING,
    SAGA_COMPLETED,   /* terminal */
    SAGA_COMPENSATED, /* terminal */
    SAGA_SCHEDULED    /* created, waiting for start_at_ms: nothing sent yet */
} saga_status;
#define SAGA_STATUS_COUNT (SAGA_SCHEDULED + 1)

typedef enum saga_step_status {
    SAGA_STEP_PENDING = 0,   /* not dispatched yet */
    SAGA_STEP_RESERVING,     /* RESERVE in flight or waiting to be re-sent */
    SAGA_STEP_RESERVED,      /* RESERVE answered OK */
    SAGA_STEP_REJECTED,      /* RESERVE answered REJECTED: nothing to undo */
    SAGA_STEP_FAILED,        /* RESERVE out of attempts: outcome unknown */
    SAGA_STEP_CONFIRMING,
    SAGA_STEP_CONFIRMED,     /* also: done, for a step without confirm */
    SAGA_STEP_COMPENSATING,
    SAGA_STEP_COMPENSATED
} saga_step_status;

typedef enum saga_action {
    SAGA_ACT_NONE = 0,
    SAGA_ACT_RESERVE = 1,   /* values match saga.proto's Action */
    SAGA_ACT_CONFIRM = 2,
    SAGA_ACT_COMPENSATE = 3
} saga_action;

typedef enum saga_outcome {
    SAGA_OUT_NONE = 0,
    SAGA_OUT_OK = 1,        /* values match saga.proto's Outcome */
    SAGA_OUT_REJECTED = 2,
    SAGA_OUT_RETRY = 3
} saga_outcome;

#define SAGA_MACHINE_ERROR_MAX 256

typedef struct saga_step_state {
    saga_step_status status;
    saga_action action;   /* command in flight or backing off; NONE if idle */
    int attempt;          /* attempt number of `action`'s latest dispatch (1..) */
    int failures;         /* consecutive timeouts/RETRYs of `action`: drives
                             backoff; reset by an operator retry */
    int64_t deadline_ms;  /* in flight: when it times out; else 0 */
    int64_t retry_at_ms;  /* backing off: when to re-send; else 0 */
    int reserve_attempts, confirm_attempts, compensate_attempts;
    /* The answer to the latest dispatch of that action: reset to NONE by
     * every dispatch, so NONE also means "timed out" (or still awaited). */
    saga_outcome reserve_outcome, confirm_outcome, compensate_outcome;
    char last_error[SAGA_MACHINE_ERROR_MAX]; /* "" when none */
} saga_step_state;

typedef struct saga_state {
    saga_status status;
    bool stuck;
    bool resolved;          /* closed by an operator (resolve) */
    bool aborted;           /* compensation started by an operator (abort),
                               or by the parent of a held saga */
    bool held;              /* a sub-saga: confirm waits for its parent (not
                               stored: the engine sets it from the row) */
    int64_t progress_ms;    /* last progress (creation counts) */
    int64_t wake_ms;        /* earliest deadline / retry / stuck check; 0 = none */
    char stuck_reason[SAGA_MACHINE_ERROR_MAX];
    int64_t start_at_ms;    /* SCHEDULED: when it starts; else as it was */
    int64_t deadline_ms;    /* the saga's deadline as a duration; 0 = none */
    int64_t deadline_at_ms; /* when it passes (armed when running); 0 = none */
    bool deadline_expired;  /* compensating because the deadline passed */
    size_t n_steps;         /* == spec->n_steps */
    saga_step_state steps[SAGA_SPEC_MAX_STEPS];
} saga_state;

typedef enum saga_event_kind {
    SAGA_EV_START = 0, /* the saga was just created: dispatch the roots */
    SAGA_EV_REPLY,     /* a participant's Reply */
    SAGA_EV_TIMER,     /* wake_ms has passed: deadlines, retries, stuck check;
                          starts a saga never dispatched */
    SAGA_EV_RETRY,     /* operator: re-send pending commands now */
    SAGA_EV_ABORT,     /* operator: stop forward progress, compensate */
    SAGA_EV_RESOLVE,   /* operator: close as COMPLETED or COMPENSATED */
    SAGA_EV_SIGNAL,    /* an outside decision for a signal step */
    SAGA_EV_PARENT     /* a held saga's parent: action CONFIRM or COMPENSATE */
} saga_event_kind;

typedef struct saga_event {
    saga_event_kind kind;
    int64_t now_ms;
    uint32_t random;        /* uniform random bits for backoff jitter */
    /* REPLY */
    int step;               /* REPLY: step index; RETRY: step index or -1 = all */
    saga_action action;
    int attempt;
    saga_outcome outcome;
    const char *reason;     /* borrowed; may be NULL */
    /* RESOLVE */
    saga_status resolve_as; /* SAGA_COMPLETED or SAGA_COMPENSATED */
    /* ABORT and RESOLVE: borrowed operator reason, may be NULL */
    const char *op_reason;
    /* SIGNAL: step (index), approve, reason (reject: why; may be NULL) */
    bool approve;
    /* ABORT and RESOLVE of a held saga: its parent has finished, so the
     * operator may act on the child (the engine checks) */
    bool parent_done;
    /* Participants whose circuit breaker refuses this saga new RESERVEs
     * (open, or half-open with the probe given to another saga), as the
     * shell knows them (machine_circuit.c); borrowed; NULL = none. */
    const char *const *circuit_open;
    size_t n_circuit_open;
} saga_event;

/* A command to send: build its payload from the step's template, publish it
 * through the outbox. Idempotency key = "<saga_id>/<step name>". */
typedef struct saga_command {
    int step;
    saga_action action;
    int attempt;
    int64_t deadline_ms;
} saga_command;

typedef enum saga_note_kind {
    SAGA_NOTE_TRANSITION = 0, /* saga status changed: text "RUNNING -> COMPENSATING" */
    SAGA_NOTE_STEP,           /* a step's status changed */
    SAGA_NOTE_REPLY_APPLIED,  /* the reply changed the state */
    SAGA_NOTE_REPLY_IGNORED,  /* duplicate / stale / late / unknown: text says why */
    SAGA_NOTE_TIMEOUT,        /* a command's deadline passed */
    SAGA_NOTE_BACKOFF,        /* re-send scheduled: text has the delay */
    SAGA_NOTE_EXHAUSTED,      /* RESERVE out of attempts */
    SAGA_NOTE_STUCK,          /* stuck flag set (text = reason) */
    SAGA_NOTE_UNSTUCK,
    SAGA_NOTE_OPERATOR,       /* retry / abort / resolve accepted */
    SAGA_NOTE_SKIPPED,        /* irreversible step left as is during compensation */
    SAGA_NOTE_SIGNAL,         /* a signal applied: approved or rejected */
    SAGA_NOTE_PARENT,         /* the parent's order to a held saga */
    SAGA_NOTE_REPORT,         /* a milestone reported to the parent */
    SAGA_NOTE_CIRCUIT         /* a RESERVE held, or refused, by an open circuit */
} saga_note_kind;

typedef struct saga_note {
    saga_note_kind kind;
    int step;          /* -1 for the saga as a whole */
    saga_action action;
    int attempt;
    saga_outcome outcome;
    char text[SAGA_MACHINE_ERROR_MAX];
} saga_note;

#define SAGA_EFFECTS_MAX_NOTES (SAGA_SPEC_MAX_STEPS * 4 + 8)

/* What one apply tells the circuit breakers about a step's participant. */
typedef enum saga_circuit_obs_kind {
    SAGA_CIRCUIT_FAILURE = 0, /* a command timed out or was answered RETRY */
    SAGA_CIRCUIT_SUCCESS,     /* a command was answered OK or REJECTED */
    SAGA_CIRCUIT_HELD,        /* a RESERVE waits for the circuit to close */
    SAGA_CIRCUIT_SENT         /* a RESERVE was sent (no longer waiting) */
} saga_circuit_obs_kind;

typedef struct saga_circuit_obs {
    int step;
    saga_circuit_obs_kind kind;
} saga_circuit_obs;

#define SAGA_EFFECTS_MAX_CIRCUIT (SAGA_SPEC_MAX_STEPS * 3)

typedef struct saga_effects {
    saga_command cmds[SAGA_SPEC_MAX_STEPS];
    size_t n_cmds;
    saga_note notes[SAGA_EFFECTS_MAX_NOTES];
    size_t n_notes;
    bool changed;        /* state differs from before: persist it */
    bool reply_applied;  /* REPLY only: store its payload as the result */
    bool reply_earlier;  /* REPLY applied although it answers an earlier or
                            timed-out attempt: its APPLIED note says which */
    bool started;        /* the saga's first commands were dispatched (START,
                            or the first TIMER of a saga nobody started) */
    bool deadline_expired; /* this event found the saga's deadline passed */
    bool signal_applied; /* SIGNAL only: approved; keep its data as result */
    /* A held saga's report to its parent: a Reply for the parent's step
     * with this action, attempt and outcome (report_action NONE = none). */
    saga_action report_action;
    int report_attempt;
    saga_outcome report_outcome;
    char report_reason[SAGA_MACHINE_ERROR_MAX];
    saga_circuit_obs circuit[SAGA_EFFECTS_MAX_CIRCUIT]; /* first n_circuit */
    size_t n_circuit;
} saga_effects;

/* Initial state for a new saga of `spec` created at now_ms (all PENDING,
 * RUNNING). Follow with a SAGA_EV_START event, or leave the saga to its first
 * SAGA_EV_TIMER (at wake_ms, or earlier when woken), which starts it. */
void saga_machine_init(const saga_spec *spec, saga_state *st, int64_t now_ms);

/* What a start request may set beyond the spec (machine_flows.c). */
typedef struct saga_machine_opts {
    int64_t deadline_ms; /* the saga's deadline; 0 = none */
    int64_t start_at_ms; /* later than now_ms: SCHEDULED until then */
} saga_machine_opts;

/* saga_machine_init, then the options: a start_at_ms later than now_ms
 * makes the saga SCHEDULED (wake_ms = start_at_ms, deadline not armed
 * yet); otherwise the deadline (if any) is armed from now_ms. o may be
 * NULL (no options). */
void saga_machine_init_opts(const saga_spec *spec, saga_state *st,
                            int64_t now_ms, const saga_machine_opts *o);

/*
 * Applies one event. Fills *out (counts and flags reset first; only
 * the first n_cmds commands and n_notes notes are written). Returns 0, or, for events
 * refused in the current state, an error with err set (err may be NULL), the
 * state unchanged and *out empty:
 *   SAGA_ECONFLICT  START of a saga already started or SCHEDULED; RETRY of a
 *                   terminal saga or with nothing in flight or backing off;
 *                   ABORT of a saga not RUNNING or SCHEDULED; RESOLVE of a
 *                   terminal saga
 *   SAGA_ENOTFOUND  RETRY with a step index out of range (other than -1)
 *   SAGA_EINVAL     RESOLVE as anything but COMPLETED/COMPENSATED; an unknown
 *                   event kind; a SIGNAL for a step that is not a signal step
 *   SAGA_ECONFLICT  also: a SIGNAL for a step not waiting (pending, already
 *                   decided) or a finished saga; ABORT or RESOLVE of a held
 *                   saga whose parent is unfinished; a PARENT event for a
 *                   saga without parent or in a state it cannot apply to
 *   SAGA_ENOTFOUND  also: a SIGNAL with a step index out of range
 * A reply that does not apply is not an error: it yields a REPLY_IGNORED note.
 */
int saga_machine_apply(const saga_spec *spec, saga_state *st,
                       const saga_event *ev, saga_effects *out,
                       saga_error *err);

/* How long attempt `attempt` (>= 1) of a command of step d waits for its
 * reply: d->timeout_ms doubled for each earlier attempt, at most
 * SAGA_MACHINE_TIMEOUT_GROWTH times d->timeout_ms. The Command carries the
 * resulting deadline; the engine uses this to tell when it was sent. */
#define SAGA_MACHINE_TIMEOUT_GROWTH 4
int64_t saga_machine_timeout(const saga_step_def *d, int attempt);

/* Why a saga compensates when its deadline (deadline_ms, > 0) passed:
 * "deadline of 30s passed", the words of its stuck reason and history, for
 * readers (sagactl) that rebuild the sentence from the saga's columns. */
void saga_machine_deadline_cause(int64_t deadline_ms, char *buf, size_t size);

/* Backoff before re-sending after `failures` consecutive failures (>= 1):
 * min(max, initial * multiplier^(failures-1)) minus up to jitter*delay. */
int64_t saga_machine_backoff(const saga_retry_policy *p, int failures,
                             uint32_t random);

/* Names are the enum names without prefix ("UNKNOWN" for a value out of
 * range); the parsers accept them in any case. */
bool saga_status_terminal(saga_status s);
const char *saga_status_name(saga_status s);            /* "RUNNING" */
int saga_status_parse(const char *s, saga_status *out); /* 0 or SAGA_EINVAL */
const char *saga_step_status_name(saga_step_status s);  /* "RESERVING" */
int saga_step_status_parse(const char *s, saga_step_status *out);
const char *saga_action_name(saga_action a);            /* "RESERVE" */
int saga_action_parse(const char *s, saga_action *out);
const char *saga_outcome_name(saga_outcome o);          /* "OK" */
int saga_outcome_parse(const char *s, saga_outcome *out);
/* saga_history.kind of a note: "transition", "step", "applied", "ignored",
 * "timeout", "backoff", "exhausted", "stuck", "unstuck", "operator",
 * "skipped", "signal", "parent", "report", "circuit". */
const char *saga_note_kind_name(saga_note_kind k);

#endif
