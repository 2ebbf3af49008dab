/*
 * machine.c - the saga decision core: (state, event) -> (state', effects).
 *
 * Everything the coordinator decides happens here and nowhere else, so the
 * I/O shell (store, sagad) only loads, applies and persists. The function is
 * pure: time and randomness come in the event, effects go out in fixed-size
 * arrays, and nothing can fail half-way, which is what lets every transition
 * be unit-tested exhaustively. Each apply runs on a small context that
 * collects notes and a "progress" flag; the common tail (stuck check, next
 * wake-up, "changed") is computed once at the end, so no handler can forget it.
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
 *  - Compensation order is transitive: a step waits for every step that
 *    depends on it, directly or through steps that are not compensated, so
 *    the order holds even for graphs the spec validator would refuse.
 *  - Stuck is evaluated on every accepted event, not only on timers.
 *  - An operator retry of a RESERVE on its last attempt grants one more
 *    attempt (attempt numbers, not failures, bound RESERVE).
 */
#include "machine.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct machine_ctx {
    const saga_spec *spec;
    saga_state *st;
    const saga_event *ev;
    saga_effects *out;
    int64_t now;
    bool progress; /* a saga or step status changed during this apply */
} machine_ctx;

/* --- names -------------------------------------------------------------- */

static const char *const status_names[] = {
    "RUNNING", "CONFIRMING", "COMPENSATING", "COMPLETED", "COMPENSATED"};
static const char *const step_status_names[] = {
    "PENDING",    "RESERVING", "RESERVED",     "REJECTED",   "FAILED",
    "CONFIRMING", "CONFIRMED", "COMPENSATING", "COMPENSATED"};
static const char *const action_names[] = {"NONE", "RESERVE", "CONFIRM",
                                           "COMPENSATE"};
static const char *const outcome_names[] = {"NONE", "OK", "REJECTED", "RETRY"};
static const char *const note_kind_names[] = {
    "transition", "step",    "applied", "ignored",  "timeout", "backoff",
    "exhausted",  "stuck",   "unstuck", "operator", "skipped"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, int v)
{
    if (v < 0 || (size_t)v >= n)
        return "UNKNOWN";
    return names[v];
}

static int parse_name(const char *const *names, size_t n, const char *s,
                      int *out)
{
    if (!s)
        return SAGA_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return SAGA_EINVAL;
}

bool saga_status_terminal(saga_status s)
{
    return s == SAGA_COMPLETED || s == SAGA_COMPENSATED;
}

const char *saga_status_name(saga_status s)
{
    return name_of(status_names, N_OF(status_names), (int)s);
}

int saga_status_parse(const char *s, saga_status *out)
{
    int v;
    int rc = parse_name(status_names, N_OF(status_names), s, &v);
    if (rc == 0)
        *out = (saga_status)v;
    return rc;
}

const char *saga_step_status_name(saga_step_status s)
{
    return name_of(step_status_names, N_OF(step_status_names), (int)s);
}

int saga_step_status_parse(const char *s, saga_step_status *out)
{
    int v;
    int rc = parse_name(step_status_names, N_OF(step_status_names), s, &v);
    if (rc == 0)
        *out = (saga_step_status)v;
    return rc;
}

const char *saga_action_name(saga_action a)
{
    return name_of(action_names, N_OF(action_names), (int)a);
}

int saga_action_parse(const char *s, saga_action *out)
{
    int v;
    int rc = parse_name(action_names, N_OF(action_names), s, &v);
    if (rc == 0)
        *out = (saga_action)v;
    return rc;
}

const char *saga_outcome_name(saga_outcome o)
{
    return name_of(outcome_names, N_OF(outcome_names), (int)o);
}

int saga_outcome_parse(const char *s, saga_outcome *out)
{
    int v;
    int rc = parse_name(outcome_names, N_OF(outcome_names), s, &v);
    if (rc == 0)
        *out = (saga_outcome)v;
    return rc;
}

const char *saga_note_kind_name(saga_note_kind k)
{
    if ((int)k < 0 || (size_t)k >= N_OF(note_kind_names))
        return "unknown";
    return note_kind_names[k];
}

/* --- text ------------------------------------------------------------------ */

/* Formats into a fixed buffer. Texts end up in PostgreSQL text columns, so a
 * cut never leaves half a UTF-8 sequence behind (the server would refuse the
 * whole transaction). */
static void format_v(char *buf, size_t size, const char *fmt, va_list ap)
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

__attribute__((format(printf, 3, 4))) static void
format_to(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_v(buf, size, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 7, 8))) static void
note(machine_ctx *c, saga_note_kind kind, int step, saga_action action,
     int attempt, saga_outcome outcome, const char *fmt, ...)
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
    format_v(n->text, sizeof n->text, fmt, ap);
    va_end(ap);
}

static const char *reason_or(const char *reason, const char *fallback)
{
    return reason && reason[0] ? reason : fallback;
}

/* --- step helpers ------------------------------------------------------------ */

static int *attempts_of(saga_step_state *s, saga_action a)
{
    assert(a >= SAGA_ACT_RESERVE && a <= SAGA_ACT_COMPENSATE);
    return a == SAGA_ACT_RESERVE   ? &s->reserve_attempts
           : a == SAGA_ACT_CONFIRM ? &s->confirm_attempts
                                   : &s->compensate_attempts;
}

static saga_outcome *outcome_of(saga_step_state *s, saga_action a)
{
    assert(a >= SAGA_ACT_RESERVE && a <= SAGA_ACT_COMPENSATE);
    return a == SAGA_ACT_RESERVE   ? &s->reserve_outcome
           : a == SAGA_ACT_CONFIRM ? &s->confirm_outcome
                                   : &s->compensate_outcome;
}

static bool in_flight(const saga_step_state *s)
{
    return s->action != SAGA_ACT_NONE && s->deadline_ms != 0;
}

static bool backing_off(const saga_step_state *s)
{
    return s->action != SAGA_ACT_NONE && s->retry_at_ms != 0;
}

static bool depends_on(const saga_step_def *d, size_t j)
{
    for (size_t k = 0; k < d->n_after; k++)
        if (d->after[k] == j)
            return true;
    return false;
}

static void set_status(machine_ctx *c, saga_status to, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_status(machine_ctx *c, saga_status to, const char *fmt, ...)
{
    char cause[SAGA_MACHINE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    format_v(cause, sizeof cause, fmt, ap);
    va_end(ap);
    note(c, SAGA_NOTE_TRANSITION, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
         "%s -> %s: %s", saga_status_name(c->st->status), saga_status_name(to),
         cause);
    c->st->status = to;
    c->progress = true;
}

static void set_step(machine_ctx *c, size_t i, saga_step_status to,
                     const char *cause)
{
    saga_step_state *s = &c->st->steps[i];
    if (cause)
        note(c, SAGA_NOTE_STEP, (int)i, s->action, s->attempt, SAGA_OUT_NONE,
             "%s -> %s: %s", saga_step_status_name(s->status),
             saga_step_status_name(to), cause);
    else
        note(c, SAGA_NOTE_STEP, (int)i, s->action, s->attempt, SAGA_OUT_NONE,
             "%s -> %s", saga_step_status_name(s->status),
             saga_step_status_name(to));
    s->status = to;
    c->progress = true;
}

static void clear_command(saga_step_state *s)
{
    s->action = SAGA_ACT_NONE;
    s->deadline_ms = 0;
    s->retry_at_ms = 0;
}

static bool all_steps(const saga_state *st, saga_step_status status)
{
    for (size_t i = 0; i < st->n_steps; i++)
        if (st->steps[i].status != status)
            return false;
    return true;
}

/* "A step is never confirmed unless every reserve succeeded." Only
 * assertions call it, hence `unused` for NDEBUG builds. */
__attribute__((unused)) static bool
every_reserve_succeeded(const saga_state *st)
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
static void dispatch(machine_ctx *c, size_t i, saga_action action)
{
    const saga_step_def *d = &c->spec->steps[i];
    saga_step_state *s = &c->st->steps[i];

    if (action == SAGA_ACT_RESERVE) {
        assert(c->st->status == SAGA_RUNNING);
        assert(s->status == SAGA_STEP_PENDING ||
               s->status == SAGA_STEP_RESERVING);
    } else if (action == SAGA_ACT_CONFIRM) {
        assert(c->st->status == SAGA_CONFIRMING);
        assert(every_reserve_succeeded(c->st));
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
    s->deadline_ms = c->now + (d->timeout_ms > 0 ? d->timeout_ms : 1);
    s->retry_at_ms = 0;
    (*attempts_of(s, action))++;
    *outcome_of(s, action) = SAGA_OUT_NONE;
    assert(s->attempt == *attempts_of(s, action));

    assert(c->out->n_cmds < SAGA_SPEC_MAX_STEPS);
    saga_command *cmd = &c->out->cmds[c->out->n_cmds++];
    cmd->step = (int)i;
    cmd->action = action;
    cmd->attempt = s->attempt;
    cmd->deadline_ms = s->deadline_ms;
}

/* --- phases ----------------------------------------------------------------- */

static bool reserve_ready(const machine_ctx *c, size_t i)
{
    const saga_step_def *d = &c->spec->steps[i];
    if (c->st->steps[i].status != SAGA_STEP_PENDING)
        return false;
    for (size_t k = 0; k < d->n_after; k++)
        if (c->st->steps[d->after[k]].status != SAGA_STEP_RESERVED)
            return false;
    if (!d->irreversible)
        return true;
    for (size_t j = 0; j < c->st->n_steps; j++)
        if (!c->spec->steps[j].irreversible &&
            c->st->steps[j].status != SAGA_STEP_RESERVED)
            return false;
    return true;
}

static void dispatch_ready_reserves(machine_ctx *c)
{
    bool ready[SAGA_SPEC_MAX_STEPS];
    /* Decide first, then send: a step sent in this pass is not RESERVED, so
     * the result is the same, but the decision reads one consistent state. */
    for (size_t i = 0; i < c->st->n_steps; i++)
        ready[i] = reserve_ready(c, i);
    for (size_t i = 0; i < c->st->n_steps; i++) {
        if (!ready[i])
            continue;
        dispatch(c, i, SAGA_ACT_RESERVE);
        set_step(c, i, SAGA_STEP_RESERVING, NULL);
    }
}

static void complete_if_confirmed(machine_ctx *c)
{
    assert(c->st->status == SAGA_CONFIRMING);
    if (all_steps(c->st, SAGA_STEP_CONFIRMED))
        set_status(c, SAGA_COMPLETED, "every step confirmed");
}

static void start_confirm(machine_ctx *c)
{
    assert(every_reserve_succeeded(c->st));
    bool any_confirm = false;
    for (size_t i = 0; i < c->st->n_steps; i++)
        if (c->spec->steps[i].confirm.command)
            any_confirm = true;

    if (!any_confirm) {
        for (size_t i = 0; i < c->st->n_steps; i++)
            set_step(c, i, SAGA_STEP_CONFIRMED, "no confirm command");
        set_status(c, SAGA_COMPLETED,
                   "every reserve succeeded and no step needs a confirm");
        return;
    }
    set_status(c, SAGA_CONFIRMING, "every reserve succeeded");
    for (size_t i = 0; i < c->st->n_steps; i++) {
        if (c->spec->steps[i].confirm.command) {
            dispatch(c, i, SAGA_ACT_CONFIRM);
            set_step(c, i, SAGA_STEP_CONFIRMING, NULL);
        } else {
            set_step(c, i, SAGA_STEP_CONFIRMED, "no confirm command");
        }
    }
}

/* Reversible and its reserve may have taken effect, not yet undone. */
static bool needs_compensation(const machine_ctx *c, size_t i)
{
    saga_step_status s = c->st->steps[i].status;
    if (c->spec->steps[i].irreversible)
        return false;
    return s == SAGA_STEP_RESERVED || s == SAGA_STEP_RESERVING ||
           s == SAGA_STEP_FAILED;
}

static bool compensation_pending(const machine_ctx *c, size_t i)
{
    return needs_compensation(c, i) ||
           c->st->steps[i].status == SAGA_STEP_COMPENSATING;
}

/* True when some step that depends on i, directly or transitively, still has
 * compensation to do: i must be undone after it. */
static bool compensation_blocked(const machine_ctx *c, size_t i)
{
    bool seen[SAGA_SPEC_MAX_STEPS] = {false};
    size_t stack[SAGA_SPEC_MAX_STEPS];
    size_t top = 0;
    stack[top++] = i;
    seen[i] = true;
    while (top > 0) {
        size_t x = stack[--top];
        for (size_t y = 0; y < c->st->n_steps; y++) {
            if (seen[y] || !depends_on(&c->spec->steps[y], x))
                continue;
            if (compensation_pending(c, y))
                return true;
            seen[y] = true;
            stack[top++] = y;
        }
    }
    return false;
}

static void dispatch_ready_compensations(machine_ctx *c)
{
    bool ready[SAGA_SPEC_MAX_STEPS];
    for (size_t i = 0; i < c->st->n_steps; i++)
        ready[i] = needs_compensation(c, i) && !compensation_blocked(c, i);
    for (size_t i = 0; i < c->st->n_steps; i++) {
        if (!ready[i])
            continue;
        saga_step_state *s = &c->st->steps[i];
        assert(s->status != SAGA_STEP_PENDING &&
               s->status != SAGA_STEP_REJECTED);
        assert(s->action == SAGA_ACT_NONE);
        bool unknown = s->status != SAGA_STEP_RESERVED;
        dispatch(c, i, SAGA_ACT_COMPENSATE);
        set_step(c, i, SAGA_STEP_COMPENSATING,
                 unknown ? "reserve outcome unknown" : NULL);
    }
    for (size_t i = 0; i < c->st->n_steps; i++)
        if (compensation_pending(c, i))
            return;
    set_status(c, SAGA_COMPENSATED, "nothing left to compensate");
}

/* Stops forward progress: reserves in flight or waiting to be re-sent are
 * abandoned (their replies will be ignored) and counted as unknown. */
static void start_compensation(machine_ctx *c, const char *cause)
{
    assert(c->st->status == SAGA_RUNNING);
    set_status(c, SAGA_COMPENSATING, "%s", cause);
    for (size_t i = 0; i < c->st->n_steps; i++) {
        saga_step_state *s = &c->st->steps[i];
        assert(s->action == SAGA_ACT_NONE || s->action == SAGA_ACT_RESERVE);
        clear_command(s);
        if (c->spec->steps[i].irreversible &&
            (s->status == SAGA_STEP_RESERVED ||
             s->status == SAGA_STEP_RESERVING || s->status == SAGA_STEP_FAILED))
            note(c, SAGA_NOTE_SKIPPED, (int)i, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
                 "irreversible step left as it is (%s)",
                 s->status == SAGA_STEP_RESERVED ? "RESERVED"
                                                 : "reserve outcome unknown");
    }
    dispatch_ready_compensations(c);
}

/* --- failures and retries ------------------------------------------------- */

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
    note(c, SAGA_NOTE_EXHAUSTED, (int)i, s->action, s->attempt, SAGA_OUT_NONE,
         "RESERVE out of attempts (%d of %d)", s->attempt,
         d->retry.max_attempts);
    set_step(c, i, SAGA_STEP_FAILED, "out of attempts, outcome unknown");
    clear_command(s);
    char cause[SAGA_MACHINE_ERROR_MAX];
    format_to(cause, sizeof cause,
              "step %s RESERVE out of attempts, last error \"%s\"", d->name,
              s->last_error);
    start_compensation(c, cause);
}

/* One more failure of the command of step i (timeout or unfavourable reply):
 * re-send after backoff, or give up on a RESERVE that used all attempts. */
static void fail_attempt(machine_ctx *c, size_t i)
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
    note(c, SAGA_NOTE_BACKOFF, (int)i, s->action, s->attempt, SAGA_OUT_NONE,
         "re-sending %s as attempt %d in %lld ms", saga_action_name(s->action),
         s->attempt + 1, (long long)delay);
}

/* --- replies ---------------------------------------------------------------- */

static void apply_reserve_reply(machine_ctx *c, size_t i)
{
    saga_step_state *s = &c->st->steps[i];
    const saga_event *ev = c->ev;
    assert(c->st->status == SAGA_RUNNING);

    if (ev->outcome == SAGA_OUT_OK) {
        set_step(c, i, SAGA_STEP_RESERVED, NULL);
        clear_command(s);
        s->failures = 0;
        s->last_error[0] = '\0';
        if (all_steps(c->st, SAGA_STEP_RESERVED))
            start_confirm(c);
        else
            dispatch_ready_reserves(c);
    } else if (ev->outcome == SAGA_OUT_REJECTED) {
        format_to(s->last_error, sizeof s->last_error, "%s",
                  reason_or(ev->reason, "rejected without a reason"));
        set_step(c, i, SAGA_STEP_REJECTED, NULL);
        clear_command(s);
        char cause[SAGA_MACHINE_ERROR_MAX];
        format_to(cause, sizeof cause, "step %s RESERVE rejected: %s",
                  c->spec->steps[i].name, s->last_error);
        start_compensation(c, cause);
    } else {
        format_to(s->last_error, sizeof s->last_error, "%s",
                  reason_or(ev->reason, "asked to retry without a reason"));
        fail_attempt(c, i);
    }
}

/* CONFIRM and COMPENSATE must eventually succeed: anything but OK is
 * recorded and retried after backoff. */
static void apply_final_reply(machine_ctx *c, size_t i)
{
    saga_step_state *s = &c->st->steps[i];
    const saga_event *ev = c->ev;

    if (ev->outcome != SAGA_OUT_OK) {
        format_to(s->last_error, sizeof s->last_error, "%s",
                  reason_or(ev->reason, ev->outcome == SAGA_OUT_REJECTED
                                            ? "rejected without a reason"
                                            : "asked to retry without a reason"));
        fail_attempt(c, i);
        return;
    }
    bool confirm = s->action == SAGA_ACT_CONFIRM;
    set_step(c, i, confirm ? SAGA_STEP_CONFIRMED : SAGA_STEP_COMPENSATED,
             NULL);
    clear_command(s);
    s->failures = 0;
    s->last_error[0] = '\0';
    if (confirm) {
        complete_if_confirmed(c);
    } else {
        assert(c->st->status == SAGA_COMPENSATING);
        dispatch_ready_compensations(c);
    }
}

/* Why a reply that does not match the command in flight is ignored. */
static void explain_ignored(machine_ctx *c, char *why, size_t size)
{
    const saga_event *ev = c->ev;
    saga_step_state *s = &c->st->steps[ev->step];
    int sent = *attempts_of(s, ev->action);

    if (ev->action != s->action && sent == 0) {
        format_to(why, size, "reply for action %s but step awaits %s",
                  saga_action_name(ev->action),
                  s->action == SAGA_ACT_NONE ? "nothing"
                                             : saga_action_name(s->action));
        return;
    }
    if (ev->attempt < sent) {
        format_to(why, size, "stale reply for attempt %d (current attempt %d)",
                  ev->attempt, sent);
        return;
    }
    if (ev->attempt > sent) {
        format_to(why, size,
                  "reply for attempt %d which was never sent (current attempt %d)",
                  ev->attempt, sent);
        return;
    }
    if (*outcome_of(s, ev->action) != SAGA_OUT_NONE) {
        format_to(why, size, "duplicate reply");
        return;
    }
    if (ev->action == s->action) {
        assert(backing_off(s));
        format_to(why, size,
                  "late reply for attempt %d: already timed out, re-dispatch "
                  "scheduled",
                  ev->attempt);
        return;
    }
    /* An action that ended without an answer: only a RESERVE can, by
     * running out of attempts or by being abandoned for compensation. */
    assert(ev->action == SAGA_ACT_RESERVE);
    if (s->status == SAGA_STEP_FAILED)
        format_to(why, size, "late reply: step already FAILED by timeout");
    else
        format_to(why, size, "late reply: saga is %s",
                  saga_status_name(c->st->status));
}

static void ignore_reply(machine_ctx *c, const char *why)
{
    const saga_event *ev = c->ev;
    note(c, SAGA_NOTE_REPLY_IGNORED, ev->step, ev->action, ev->attempt,
         ev->outcome, "%s", why);
}

static void on_reply(machine_ctx *c)
{
    const saga_event *ev = c->ev;
    char why[SAGA_MACHINE_ERROR_MAX];

    if (saga_status_terminal(c->st->status)) {
        ignore_reply(c, "saga is terminal");
        return;
    }
    if (ev->step < 0 || (size_t)ev->step >= c->st->n_steps) {
        format_to(why, sizeof why, "unknown step index %d", ev->step);
        note(c, SAGA_NOTE_REPLY_IGNORED, -1, ev->action, ev->attempt,
             ev->outcome, "%s", why);
        return;
    }
    if (ev->action < SAGA_ACT_RESERVE || ev->action > SAGA_ACT_COMPENSATE) {
        format_to(why, sizeof why, "invalid action %d", (int)ev->action);
        ignore_reply(c, why);
        return;
    }
    if (ev->outcome < SAGA_OUT_OK || ev->outcome > SAGA_OUT_RETRY) {
        format_to(why, sizeof why, "invalid outcome %d", (int)ev->outcome);
        ignore_reply(c, why);
        return;
    }
    if (ev->attempt < 1) {
        format_to(why, sizeof why, "invalid attempt %d", ev->attempt);
        ignore_reply(c, why);
        return;
    }

    size_t i = (size_t)ev->step;
    saga_step_state *s = &c->st->steps[i];
    if (!(in_flight(s) && s->action == ev->action &&
          s->attempt == ev->attempt)) {
        explain_ignored(c, why, sizeof why);
        ignore_reply(c, why);
        return;
    }

    *outcome_of(s, ev->action) = ev->outcome;
    c->out->reply_applied = true;
    if (ev->reason && ev->reason[0])
        note(c, SAGA_NOTE_REPLY_APPLIED, ev->step, ev->action, ev->attempt,
             ev->outcome, "%s: %s", saga_outcome_name(ev->outcome), ev->reason);
    else
        note(c, SAGA_NOTE_REPLY_APPLIED, ev->step, ev->action, ev->attempt,
             ev->outcome, "%s", saga_outcome_name(ev->outcome));

    if (ev->action == SAGA_ACT_RESERVE)
        apply_reserve_reply(c, i);
    else
        apply_final_reply(c, i);
}

/* --- events ----------------------------------------------------------------- */

static int on_start(machine_ctx *c, saga_error *err)
{
    /* Aborted or resolved sagas have left RUNNING; a dispatched step has
     * left PENDING. */
    bool fresh = c->st->status == SAGA_RUNNING &&
                 all_steps(c->st, SAGA_STEP_PENDING);
    if (!fresh)
        return saga_error_set(err, SAGA_ECONFLICT, "saga has already started");
    dispatch_ready_reserves(c);
    return 0;
}

/* Deadlines first, re-sends second: a RESERVE that runs out of attempts stops
 * the reserve phase before any other reserve is re-sent in vain, and each step
 * gets at most one command per apply. */
static void on_timer(machine_ctx *c)
{
    if (saga_status_terminal(c->st->status))
        return;
    for (size_t i = 0; i < c->st->n_steps; i++) {
        saga_step_state *s = &c->st->steps[i];
        if (!in_flight(s) || c->now < s->deadline_ms)
            continue;
        int64_t waited = c->spec->steps[i].timeout_ms;
        note(c, SAGA_NOTE_TIMEOUT, (int)i, s->action, s->attempt, SAGA_OUT_NONE,
             "no reply to %s attempt %d within %lld ms",
             saga_action_name(s->action), s->attempt, (long long)waited);
        format_to(s->last_error, sizeof s->last_error,
                  "no reply within %lld ms", (long long)waited);
        fail_attempt(c, i);
    }
    for (size_t i = 0; i < c->st->n_steps; i++) {
        saga_step_state *s = &c->st->steps[i];
        if (backing_off(s) && c->now >= s->retry_at_ms)
            dispatch(c, i, s->action);
    }
}

static int on_operator_retry(machine_ctx *c, saga_error *err)
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
        if (st->steps[i].action != SAGA_ACT_NONE)
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

    note(c, SAGA_NOTE_OPERATOR, ev->step, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
         "retry: re-sending %zu command%s now%s%s", n, n == 1 ? "" : "s",
         ev->op_reason ? ": " : "", ev->op_reason ? ev->op_reason : "");
    for (size_t i = from; i < to; i++) {
        saga_step_state *s = &st->steps[i];
        if (s->action == SAGA_ACT_NONE)
            continue;
        s->failures = 0;
        dispatch(c, i, s->action);
    }
    return 0;
}

static int on_abort(machine_ctx *c, saga_error *err)
{
    saga_status status = c->st->status;
    if (status == SAGA_CONFIRMING) {
        saga_error_set(err, SAGA_ECONFLICT,
                       "saga is CONFIRMING: confirm has begun and cannot be "
                       "undone");
        saga_error_hint(err, "use resolve to close it once the participants "
                             "agree on its outcome");
        return SAGA_ECONFLICT;
    }
    if (status != SAGA_RUNNING)
        return saga_error_set(err, SAGA_ECONFLICT,
                              "saga is %s: only a RUNNING saga can be aborted",
                              saga_status_name(status));

    const char *why = c->ev->op_reason;
    note(c, SAGA_NOTE_OPERATOR, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
         "abort%s%s", why ? ": " : "", why ? why : "");
    c->st->aborted = true;
    char cause[SAGA_MACHINE_ERROR_MAX];
    format_to(cause, sizeof cause, "aborted by operator%s%s", why ? ": " : "",
              why ? why : "");
    start_compensation(c, cause);
    return 0;
}

static int on_resolve(machine_ctx *c, saga_error *err)
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

    const char *why = c->ev->op_reason;
    note(c, SAGA_NOTE_OPERATOR, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
         "resolve as %s%s%s", saga_status_name(as), why ? ": " : "",
         why ? why : "");
    for (size_t i = 0; i < c->st->n_steps; i++)
        clear_command(&c->st->steps[i]);
    c->st->resolved = true;
    set_status(c, as, "resolved by operator");
    return 0;
}

/* --- the common tail ------------------------------------------------------- */

/* The step most likely holding the saga up: the pending command with the
 * most consecutive failures (the first such step on a tie). */
static void describe_stuck(const machine_ctx *c, char *buf, size_t size)
{
    const saga_state *st = c->st;
    int best = -1;
    for (size_t i = 0; i < st->n_steps; i++)
        if (st->steps[i].action != SAGA_ACT_NONE &&
            (best < 0 || st->steps[i].failures > st->steps[best].failures))
            best = (int)i;
    if (best < 0) {
        format_to(buf, size, "no progress for %lld ms and no command pending",
                  (long long)(c->now - st->progress_ms));
        return;
    }
    const saga_step_state *s = &st->steps[best];
    const char *who = c->spec->steps[best].participant;
    char err[SAGA_MACHINE_ERROR_MAX + 16] = "";
    if (s->last_error[0])
        format_to(err, sizeof err, ", last error \"%s\"", s->last_error);
    if (in_flight(s))
        format_to(buf, size, "awaiting %s %s reply, attempt %d%s", who,
                  saga_action_name(s->action), s->attempt, err);
    else
        format_to(buf, size, "waiting to re-send %s %s after attempt %d%s",
                  who, saga_action_name(s->action), s->attempt, err);
}

static void finish(machine_ctx *c)
{
    saga_state *st = c->st;
    int64_t stuck_after = c->spec->stuck_after_ms;

    if (c->progress) {
        st->progress_ms = c->now;
        if (st->stuck) {
            st->stuck = false;
            st->stuck_reason[0] = '\0';
            note(c, SAGA_NOTE_UNSTUCK, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE,
                 "progress resumed");
        }
    }

    bool terminal = saga_status_terminal(st->status);
    if (!terminal && stuck_after > 0 && c->now - st->progress_ms >= stuck_after) {
        describe_stuck(c, st->stuck_reason, sizeof st->stuck_reason);
        if (!st->stuck) {
            st->stuck = true;
            note(c, SAGA_NOTE_STUCK, -1, SAGA_ACT_NONE, 0, SAGA_OUT_NONE, "%s",
                 st->stuck_reason);
        }
    }

    int64_t wake = 0;
    if (!terminal) {
        for (size_t i = 0; i < st->n_steps; i++) {
            const saga_step_state *s = &st->steps[i];
            int64_t t = in_flight(s) ? s->deadline_ms
                        : backing_off(s) ? s->retry_at_ms
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
    st->wake_ms = wake;
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

static void clear_effects(saga_effects *out)
{
    out->n_cmds = 0;
    out->n_notes = 0;
    out->changed = false;
    out->reply_applied = false;
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
    case SAGA_EV_START: rc = on_start(&c, err); break;
    case SAGA_EV_REPLY: on_reply(&c); break;
    case SAGA_EV_TIMER: on_timer(&c); break;
    case SAGA_EV_RETRY: rc = on_operator_retry(&c, err); break;
    case SAGA_EV_ABORT: rc = on_abort(&c, err); break;
    case SAGA_EV_RESOLVE: rc = on_resolve(&c, err); break;
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
    out->changed = memcmp(&before, st, sizeof before) != 0;
    return 0;
}
