/*
 * test_machine.c - every transition of the saga decision core.
 *
 * Specs are built by hand (no parser) so each case states exactly the graph
 * it exercises: linear (inventory -> payment), parallel (a, b -> c), diamond
 * (a -> b, c -> d, optionally -> e), steps without confirm, irreversible
 * steps, a single step, and 64 parallel roots for the capacity limits. Time
 * is a plain number the test advances; jitter is 0 unless a case is about it,
 * so every delay and deadline is asserted exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "machine.h"

#define T0 1700000000000LL
#define TIMEOUT 1000
#define STUCK 60000

static saga_spec spec;
static saga_step_def defs[SAGA_SPEC_MAX_STEPS];
static size_t afters[SAGA_SPEC_MAX_STEPS][SAGA_SPEC_MAX_STEPS];
static char step_names[SAGA_SPEC_MAX_STEPS][16];
static saga_state st;
static saga_effects out;
static saga_error err;

/* --- building specs -------------------------------------------------------- */

static void spec_begin(void)
{
    memset(&spec, 0, sizeof spec);
    memset(defs, 0, sizeof defs);
    memset(afters, 0, sizeof afters);
    spec.name = "test";
    spec.version = 1;
    spec.description = "";
    spec.timeout_ms = TIMEOUT;
    spec.retry = (saga_retry_policy){3, 100, 1000, 2.0, 0.0};
    spec.stuck_after_ms = STUCK;
    spec.steps = defs;
}

/* Adds a step; the variadic part is n_after step indices (int). */
static size_t add_step(const char *name, const char *participant, bool confirm,
                       bool irreversible, int n_after, ...)
{
    size_t i = spec.n_steps++;
    saga_step_def *d = &defs[i];
    d->name = (char *)name;
    d->participant = (char *)participant;
    d->topic = "saga.test.commands";
    d->reserve.command = "reserve";
    d->confirm.command = confirm ? "confirm" : NULL;
    d->compensate.command = irreversible ? NULL : "release";
    d->irreversible = irreversible;
    d->timeout_ms = TIMEOUT;
    d->retry = spec.retry;
    d->after = afters[i];
    va_list ap;
    va_start(ap, n_after);
    for (int k = 0; k < n_after; k++)
        afters[i][k] = (size_t)va_arg(ap, int);
    va_end(ap);
    d->n_after = (size_t)n_after;
    return i;
}

enum { INV = 0, PAY = 1 };
static void spec_linear(void)
{
    spec_begin();
    add_step("reserve_inventory", "inventory", true, false, 0);
    add_step("charge_payment", "payment", true, false, 1, INV);
}

enum { A = 0, B = 1, C = 2, D = 3, E = 4 };
static void spec_parallel(void)
{
    spec_begin();
    add_step("a", "pa", true, false, 0);
    add_step("b", "pb", true, false, 0);
    add_step("c", "pc", true, false, 2, A, B);
}

static void spec_diamond(bool with_e)
{
    spec_begin();
    add_step("a", "pa", true, false, 0);
    add_step("b", "pb", true, false, 1, A);
    add_step("c", "pc", true, false, 1, A);
    add_step("d", "pd", true, false, 2, B, C);
    if (with_e)
        add_step("e", "pe", true, false, 1, D);
}

/* --- driving the machine --------------------------------------------------- */

static int apply(saga_event ev)
{
    return saga_machine_apply(&spec, &st, &ev, &out, &err);
}

static void begin(int64_t now)
{
    saga_machine_init(&spec, &st, now);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = now}),
                     0);
}

static int reply_r(int64_t now, int step, saga_action a, int attempt,
                   saga_outcome o, const char *reason)
{
    return apply((saga_event){.kind = SAGA_EV_REPLY, .now_ms = now,
                              .step = step, .action = a, .attempt = attempt,
                              .outcome = o, .reason = reason});
}

static void reply(int64_t now, int step, saga_action a, int attempt,
                  saga_outcome o)
{
    assert_int_equal(reply_r(now, step, a, attempt, o, NULL), 0);
}

static void timer(int64_t now)
{
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_TIMER, .now_ms = now}),
                     0);
}

static int op_retry(int64_t now, int step)
{
    return apply((saga_event){.kind = SAGA_EV_RETRY, .now_ms = now,
                              .step = step, .op_reason = "kick"});
}

static int op_abort(int64_t now, const char *why)
{
    return apply(
        (saga_event){.kind = SAGA_EV_ABORT, .now_ms = now, .op_reason = why});
}

static int op_resolve(int64_t now, saga_status as, const char *why)
{
    return apply((saga_event){.kind = SAGA_EV_RESOLVE, .now_ms = now,
                              .resolve_as = as, .op_reason = why});
}

/* --- looking at effects ---------------------------------------------------- */

static const saga_note *find_note(saga_note_kind kind, int step)
{
    for (size_t i = 0; i < out.n_notes; i++)
        if (out.notes[i].kind == kind && out.notes[i].step == step)
            return &out.notes[i];
    return NULL;
}

static void assert_note(saga_note_kind kind, int step, const char *text)
{
    for (size_t i = 0; i < out.n_notes; i++)
        if (out.notes[i].kind == kind && out.notes[i].step == step &&
            strcmp(out.notes[i].text, text) == 0)
            return;
    for (size_t i = 0; i < out.n_notes; i++)
        print_error("note %zu: %s step %d: %s\n", i,
                    saga_note_kind_name(out.notes[i].kind), out.notes[i].step,
                    out.notes[i].text);
    fail_msg("no %s note for step %d with text \"%s\"",
             saga_note_kind_name(kind), step, text);
}

static size_t count_notes(saga_note_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < out.n_notes; i++)
        n += out.notes[i].kind == kind;
    return n;
}

static bool has_cmd(int step, saga_action a, int attempt)
{
    for (size_t i = 0; i < out.n_cmds; i++)
        if (out.cmds[i].step == step && out.cmds[i].action == a &&
            out.cmds[i].attempt == attempt)
            return true;
    return false;
}

static void assert_cmds1(int step, saga_action a, int attempt, int64_t deadline)
{
    assert_int_equal(out.n_cmds, 1);
    assert_int_equal(out.cmds[0].step, step);
    assert_int_equal(out.cmds[0].action, a);
    assert_int_equal(out.cmds[0].attempt, attempt);
    assert_int_equal(out.cmds[0].deadline_ms, deadline);
}

/* An ignored reply changes nothing and says why. */
static void assert_ignored(int step, const char *why)
{
    assert_false(out.reply_applied);
    assert_int_equal(out.n_cmds, 0);
    assert_false(out.changed);
    assert_int_equal(out.n_notes, 1);
    assert_int_equal(out.notes[0].kind, SAGA_NOTE_REPLY_IGNORED);
    assert_int_equal(out.notes[0].step, step);
    assert_string_equal(out.notes[0].text, why);
}

#define STEP(i) (st.steps[(i)])

/* Runs the linear spec up to CONFIRMING at T0+20. */
static void linear_to_confirming_with(int64_t payment_timeout)
{
    spec_linear();
    defs[PAY].timeout_ms = payment_timeout;
    begin(T0);
    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 20, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_CONFIRMING);
}

static void linear_to_confirming(void)
{
    linear_to_confirming_with(TIMEOUT);
}

/* --- names and backoff ------------------------------------------------------ */

static void test_names(void **state)
{
    (void)state;
    const char *statuses[] = {"RUNNING", "CONFIRMING", "COMPENSATING",
                              "COMPLETED", "COMPENSATED"};
    for (int i = 0; i < 5; i++) {
        saga_status s;
        assert_string_equal(saga_status_name((saga_status)i), statuses[i]);
        assert_int_equal(saga_status_parse(statuses[i], &s), 0);
        assert_int_equal(s, i);
    }
    const char *steps[] = {"PENDING",    "RESERVING", "RESERVED",
                           "REJECTED",   "FAILED",    "CONFIRMING",
                           "CONFIRMED",  "COMPENSATING", "COMPENSATED"};
    for (int i = 0; i < 9; i++) {
        saga_step_status s;
        assert_string_equal(saga_step_status_name((saga_step_status)i),
                            steps[i]);
        assert_int_equal(saga_step_status_parse(steps[i], &s), 0);
        assert_int_equal(s, i);
    }
    const char *actions[] = {"NONE", "RESERVE", "CONFIRM", "COMPENSATE"};
    for (int i = 0; i < 4; i++) {
        saga_action a;
        assert_string_equal(saga_action_name((saga_action)i), actions[i]);
        assert_int_equal(saga_action_parse(actions[i], &a), 0);
        assert_int_equal(a, i);
    }
    const char *outcomes[] = {"NONE", "OK", "REJECTED", "RETRY"};
    for (int i = 0; i < 4; i++) {
        saga_outcome o;
        assert_string_equal(saga_outcome_name((saga_outcome)i), outcomes[i]);
        assert_int_equal(saga_outcome_parse(outcomes[i], &o), 0);
        assert_int_equal(o, i);
    }
    const char *kinds[] = {"transition", "step",    "applied", "ignored",
                           "timeout",    "backoff", "exhausted", "stuck",
                           "unstuck",    "operator", "skipped", "signal",
                           "parent",     "report",   "circuit"};
    for (int i = 0; i < 15; i++)
        assert_string_equal(saga_note_kind_name((saga_note_kind)i), kinds[i]);

    saga_status s = SAGA_RUNNING;
    assert_int_equal(saga_status_parse("completed", &s), 0);
    assert_int_equal(s, SAGA_COMPLETED);
    assert_int_equal(saga_status_parse("DONE", &s), SAGA_EINVAL);
    assert_int_equal(s, SAGA_COMPLETED);
    assert_int_equal(saga_status_parse(NULL, &s), SAGA_EINVAL);
    saga_step_status ss;
    assert_int_equal(saga_step_status_parse("", &ss), SAGA_EINVAL);
    saga_action a;
    assert_int_equal(saga_action_parse("UNDO", &a), SAGA_EINVAL);
    saga_outcome o;
    assert_int_equal(saga_outcome_parse("MAYBE", &o), SAGA_EINVAL);

    assert_string_equal(saga_status_name((saga_status)99), "UNKNOWN");
    assert_string_equal(saga_status_name((saga_status)-1), "UNKNOWN");
    assert_string_equal(saga_step_status_name((saga_step_status)9), "UNKNOWN");
    assert_string_equal(saga_action_name((saga_action)4), "UNKNOWN");
    assert_string_equal(saga_outcome_name((saga_outcome)4), "UNKNOWN");
    assert_string_equal(saga_note_kind_name((saga_note_kind)15), "unknown");
    assert_string_equal(saga_note_kind_name((saga_note_kind)-1), "unknown");

    assert_true(saga_status_terminal(SAGA_COMPLETED));
    assert_true(saga_status_terminal(SAGA_COMPENSATED));
    assert_false(saga_status_terminal(SAGA_RUNNING));
    assert_false(saga_status_terminal(SAGA_CONFIRMING));
    assert_false(saga_status_terminal(SAGA_COMPENSATING));
}

static void test_backoff_exponential_and_cap(void **state)
{
    (void)state;
    saga_retry_policy p = {3, 100, 1000, 2.0, 0.0};
    assert_int_equal(saga_machine_backoff(&p, 1, 0), 100);
    assert_int_equal(saga_machine_backoff(&p, 2, 0), 200);
    assert_int_equal(saga_machine_backoff(&p, 3, 0), 400);
    assert_int_equal(saga_machine_backoff(&p, 4, 0), 800);
    assert_int_equal(saga_machine_backoff(&p, 5, 0), 1000);
    assert_int_equal(saga_machine_backoff(&p, 6, 0), 1000);
    assert_int_equal(saga_machine_backoff(&p, INT_MAX, 0), 1000);
    /* failures below 1 are treated as the first failure */
    assert_int_equal(saga_machine_backoff(&p, 0, 0), 100);

    saga_retry_policy flat = {3, 250, 1000, 1.0, 0.0};
    assert_int_equal(saga_machine_backoff(&flat, 1, 0), 250);
    assert_int_equal(saga_machine_backoff(&flat, 50, 0), 250);

    saga_retry_policy frac = {3, 100, 100000, 1.5, 0.0};
    assert_int_equal(saga_machine_backoff(&frac, 3, 0), 225);

    /* a nonsensical policy still yields a usable delay */
    saga_retry_policy zero = {1, 0, 0, 2.0, 0.0};
    assert_int_equal(saga_machine_backoff(&zero, 1, 0), 1);
    saga_retry_policy inverted = {1, 500, 200, 2.0, 0.0};
    assert_int_equal(saga_machine_backoff(&inverted, 1, 0), 200);
}

static void test_backoff_jitter_bounds(void **state)
{
    (void)state;
    saga_retry_policy p = {3, 100, 1000, 2.0, 0.5};
    /* random 0 takes nothing away; the top of the range almost `jitter` */
    assert_int_equal(saga_machine_backoff(&p, 1, 0), 100);
    assert_int_equal(saga_machine_backoff(&p, 1, UINT32_MAX), 50);
    assert_int_equal(saga_machine_backoff(&p, 1, 1u << 31), 75);
    assert_int_equal(saga_machine_backoff(&p, 6, 1u << 31), 750);

    uint32_t r = 12345;
    for (int i = 0; i < 10000; i++) {
        r = r * 1664525u + 1013904223u;
        int failures = 1 + i % 8;
        int64_t full = saga_machine_backoff(
            &(saga_retry_policy){3, 100, 1000, 2.0, 0.0}, failures, 0);
        int64_t d = saga_machine_backoff(&p, failures, r);
        assert_true(d <= full);
        assert_true(d >= full / 2);
        assert_true(d >= 1);
    }

    /* full jitter can approach zero but never reaches it */
    saga_retry_policy all = {3, 100, 1000, 2.0, 1.0};
    assert_int_equal(saga_machine_backoff(&all, 1, UINT32_MAX), 1);
    /* out-of-range jitter is clamped to 0..1 */
    saga_retry_policy over = {3, 100, 1000, 2.0, 7.0};
    assert_int_equal(saga_machine_backoff(&over, 1, UINT32_MAX), 1);
    saga_retry_policy under = {3, 100, 1000, 2.0, -1.0};
    assert_int_equal(saga_machine_backoff(&under, 1, UINT32_MAX), 100);
}

/* --- start and the reserve phase ------------------------------------------ */

static void test_init(void **state)
{
    (void)state;
    spec_linear();
    saga_machine_init(&spec, &st, T0);
    assert_int_equal(st.status, SAGA_RUNNING);
    assert_int_equal(st.n_steps, 2);
    assert_int_equal(st.progress_ms, T0);
    assert_int_equal(st.wake_ms, T0 + STUCK);
    assert_false(st.stuck);
    assert_false(st.resolved);
    assert_false(st.aborted);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(STEP(i).status, SAGA_STEP_PENDING);
        assert_int_equal(STEP(i).action, SAGA_ACT_NONE);
        assert_int_equal(STEP(i).attempt, 0);
        assert_string_equal(STEP(i).last_error, "");
    }
    spec.stuck_after_ms = 0;
    saga_machine_init(&spec, &st, T0);
    assert_int_equal(st.wake_ms, 0);
}

static void test_start_dispatches_roots(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    assert_cmds1(INV, SAGA_ACT_RESERVE, 1, T0 + TIMEOUT);
    assert_true(out.changed);
    assert_false(out.reply_applied);
    assert_int_equal(out.n_notes, 1);
    assert_note(SAGA_NOTE_STEP, INV, "PENDING -> RESERVING");
    assert_int_equal(out.notes[0].action, SAGA_ACT_RESERVE);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVING);
    assert_int_equal(STEP(INV).action, SAGA_ACT_RESERVE);
    assert_int_equal(STEP(INV).attempt, 1);
    assert_int_equal(STEP(INV).deadline_ms, T0 + TIMEOUT);
    assert_int_equal(STEP(INV).retry_at_ms, 0);
    assert_int_equal(STEP(INV).reserve_attempts, 1);
    assert_int_equal(STEP(PAY).status, SAGA_STEP_PENDING);
    assert_int_equal(st.wake_ms, T0 + TIMEOUT);
    assert_int_equal(st.progress_ms, T0);
}

static void test_start_refused_twice(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    saga_state before = st;
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}),
                     SAGA_ECONFLICT);
    assert_int_equal(err.code, SAGA_ECONFLICT);
    assert_string_equal(err.msg, "saga has already started");
    assert_memory_equal(&before, &st, sizeof st);
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(out.n_notes, 0);
    assert_false(out.changed);

    /* aborted before it started: not fresh either */
    saga_machine_init(&spec, &st, T0);
    assert_int_equal(op_abort(T0, NULL), 0);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}),
                     SAGA_ECONFLICT);
}

/* A saga created in the caller's transaction (saga_start) is started by
 * its first timer: the shell does not relabel events. */
static void test_timer_starts_fresh_saga(void **state)
{
    (void)state;
    spec_parallel();
    saga_machine_init(&spec, &st, T0);
    timer(T0 + 3); /* woken by NOTIFY, long before wake_ms */
    assert_true(out.started);
    assert_true(out.changed);
    assert_int_equal(out.n_cmds, 2);
    assert_true(has_cmd(A, SAGA_ACT_RESERVE, 1));
    assert_true(has_cmd(B, SAGA_ACT_RESERVE, 1));
    assert_int_equal(out.cmds[0].deadline_ms, T0 + 3 + TIMEOUT);
    assert_note(SAGA_NOTE_STEP, A, "PENDING -> RESERVING");
    assert_note(SAGA_NOTE_STEP, B, "PENDING -> RESERVING");
    assert_int_equal(count_notes(SAGA_NOTE_TIMEOUT), 0);
    assert_int_equal(STEP(C).status, SAGA_STEP_PENDING);
    assert_int_equal(st.wake_ms, T0 + 3 + TIMEOUT);

    /* started now: a second timer only checks deadlines, START is refused */
    timer(T0 + 4);
    assert_false(out.started);
    assert_false(out.changed);
    assert_int_equal(out.n_cmds, 0);
    saga_state before = st;
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}),
                     SAGA_ECONFLICT);
    assert_false(out.started);
    assert_memory_equal(&before, &st, sizeof st);

    /* START says so too; a reply does not */
    begin(T0);
    assert_true(out.started);
    reply(T0 + 1, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_false(out.started);

    /* the first timer of a saga at its stuck check still starts it */
    saga_machine_init(&spec, &st, T0);
    timer(T0 + STUCK);
    assert_true(out.started);
    assert_false(st.stuck);
    assert_int_equal(out.n_cmds, 2);

    /* aborted before it started: a timer finds nothing to do */
    saga_machine_init(&spec, &st, T0);
    assert_int_equal(op_abort(T0, NULL), 0);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    timer(T0 + 1);
    assert_false(out.started);
    assert_int_equal(out.n_cmds, 0);
}

static void test_happy_path_linear(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);

    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_true(out.reply_applied);
    assert_true(out.changed);
    assert_note(SAGA_NOTE_REPLY_APPLIED, INV, "OK");
    assert_note(SAGA_NOTE_STEP, INV, "RESERVING -> RESERVED");
    assert_note(SAGA_NOTE_STEP, PAY, "PENDING -> RESERVING");
    assert_cmds1(PAY, SAGA_ACT_RESERVE, 1, T0 + 10 + TIMEOUT);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVED);
    assert_int_equal(STEP(INV).action, SAGA_ACT_NONE);
    assert_int_equal(STEP(INV).deadline_ms, 0);
    assert_int_equal(STEP(INV).reserve_outcome, SAGA_OUT_OK);
    assert_int_equal(st.progress_ms, T0 + 10);
    assert_int_equal(st.wake_ms, T0 + 10 + TIMEOUT);

    reply(T0 + 20, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> CONFIRMING: every reserve succeeded");
    assert_note(SAGA_NOTE_STEP, INV, "RESERVED -> CONFIRMING");
    assert_note(SAGA_NOTE_STEP, PAY, "RESERVED -> CONFIRMING");
    assert_int_equal(out.n_cmds, 2);
    assert_true(has_cmd(INV, SAGA_ACT_CONFIRM, 1));
    assert_true(has_cmd(PAY, SAGA_ACT_CONFIRM, 1));
    assert_int_equal(out.cmds[0].deadline_ms, T0 + 20 + TIMEOUT);

    reply(T0 + 30, PAY, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_int_equal(STEP(PAY).status, SAGA_STEP_CONFIRMED);
    assert_note(SAGA_NOTE_STEP, PAY, "CONFIRMING -> CONFIRMED");
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(st.wake_ms, T0 + 20 + TIMEOUT);

    reply(T0 + 40, INV, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPLETED);
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "CONFIRMING -> COMPLETED: every step confirmed");
    assert_int_equal(st.wake_ms, 0);
    assert_false(st.stuck);
    assert_false(st.resolved);

    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(STEP(i).status, SAGA_STEP_CONFIRMED);
        assert_int_equal(STEP(i).reserve_attempts, 1);
        assert_int_equal(STEP(i).confirm_attempts, 1);
        assert_int_equal(STEP(i).compensate_attempts, 0);
        assert_int_equal(STEP(i).reserve_outcome, SAGA_OUT_OK);
        assert_int_equal(STEP(i).confirm_outcome, SAGA_OUT_OK);
        assert_int_equal(STEP(i).compensate_outcome, SAGA_OUT_NONE);
        assert_int_equal(STEP(i).failures, 0);
    }

    /* terminal: replies and timers change nothing */
    reply(T0 + 50, INV, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_ignored(INV, "saga is terminal");
    timer(T0 + STUCK * 10);
    assert_false(out.changed);
    assert_int_equal(out.n_notes, 0);
    assert_int_equal(st.wake_ms, 0);
    assert_false(st.stuck);
}

static void test_parallel_dispatch(void **state)
{
    (void)state;
    spec_parallel();
    begin(T0);
    assert_int_equal(out.n_cmds, 2);
    assert_true(has_cmd(A, SAGA_ACT_RESERVE, 1));
    assert_true(has_cmd(B, SAGA_ACT_RESERVE, 1));
    assert_int_equal(STEP(C).status, SAGA_STEP_PENDING);

    reply(T0 + 5, B, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(STEP(C).status, SAGA_STEP_PENDING);

    reply(T0 + 6, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_cmds1(C, SAGA_ACT_RESERVE, 1, T0 + 6 + TIMEOUT);

    reply(T0 + 7, C, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 3);
    for (int i = 0; i < 3; i++)
        assert_true(has_cmd(i, SAGA_ACT_CONFIRM, 1));
}

static void test_diamond_happy(void **state)
{
    (void)state;
    spec_diamond(false);
    begin(T0);
    assert_cmds1(A, SAGA_ACT_RESERVE, 1, T0 + TIMEOUT);
    reply(T0 + 1, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 2);
    assert_true(has_cmd(B, SAGA_ACT_RESERVE, 1));
    assert_true(has_cmd(C, SAGA_ACT_RESERVE, 1));
    reply(T0 + 2, C, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 0);
    reply(T0 + 3, B, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_cmds1(D, SAGA_ACT_RESERVE, 1, T0 + 3 + TIMEOUT);
    reply(T0 + 4, D, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 4);
    for (int i = 0; i < 4; i++)
        reply(T0 + 5 + i, i, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPLETED);
}

static void test_single_step(void **state)
{
    (void)state;
    spec_begin();
    add_step("only", "solo", true, false, 0);
    begin(T0);
    assert_cmds1(0, SAGA_ACT_RESERVE, 1, T0 + TIMEOUT);
    reply(T0 + 1, 0, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_cmds1(0, SAGA_ACT_CONFIRM, 1, T0 + 1 + TIMEOUT);
    reply(T0 + 2, 0, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPLETED);

    /* rejected at once: nothing to undo, straight to COMPENSATED */
    begin(T0);
    assert_int_equal(
        reply_r(T0 + 1, 0, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED, "sold out"),
        0);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPENSATING: step only RESERVE rejected: sold out");
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "COMPENSATING -> COMPENSATED: nothing left to compensate");
    assert_note(SAGA_NOTE_REPLY_APPLIED, 0, "REJECTED: sold out");
    assert_int_equal(STEP(0).status, SAGA_STEP_REJECTED);
    assert_int_equal(STEP(0).compensate_attempts, 0);
    assert_string_equal(STEP(0).last_error, "sold out");
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(st.wake_ms, 0);
}

static void test_steps_without_confirm(void **state)
{
    (void)state;
    spec_begin();
    add_step("a", "pa", false, false, 0);
    add_step("b", "pb", false, false, 0);
    begin(T0);
    reply(T0 + 1, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 2, B, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPLETED);
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPLETED: every reserve succeeded and no step "
                "needs a confirm");
    assert_note(SAGA_NOTE_STEP, A, "RESERVED -> CONFIRMED: no confirm command");
    assert_note(SAGA_NOTE_STEP, B, "RESERVED -> CONFIRMED: no confirm command");
    assert_int_equal(count_notes(SAGA_NOTE_TRANSITION), 1);
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(STEP(A).confirm_attempts, 0);
    assert_int_equal(st.wake_ms, 0);

    /* mixed: the step without confirm is done at once, the other confirms */
    spec_begin();
    add_step("a", "pa", false, false, 0);
    add_step("b", "pb", true, false, 0);
    begin(T0);
    reply(T0 + 1, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 2, B, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_int_equal(STEP(A).status, SAGA_STEP_CONFIRMED);
    assert_note(SAGA_NOTE_STEP, A, "RESERVED -> CONFIRMED: no confirm command");
    assert_cmds1(B, SAGA_ACT_CONFIRM, 1, T0 + 2 + TIMEOUT);
    reply(T0 + 3, B, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPLETED);
}

static void test_irreversible_goes_last(void **state)
{
    (void)state;
    spec_begin();
    add_step("hold", "inventory", true, false, 0);
    add_step("charge", "payment", true, false, 0);
    /* no `after` (the validator would insist on one): the machine's own
     * rule still holds it back until every reversible step is RESERVED */
    add_step("ship", "shipping", false, true, 0);
    begin(T0);
    assert_int_equal(out.n_cmds, 2);
    assert_false(has_cmd(2, SAGA_ACT_RESERVE, 1));
    reply(T0 + 1, 0, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(STEP(2).status, SAGA_STEP_PENDING);
    reply(T0 + 2, 1, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_cmds1(2, SAGA_ACT_RESERVE, 1, T0 + 2 + TIMEOUT);
    reply(T0 + 3, 2, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_int_equal(out.n_cmds, 2);
    assert_int_equal(STEP(2).status, SAGA_STEP_CONFIRMED);
    reply(T0 + 4, 0, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    reply(T0 + 5, 1, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPLETED);
}

/* --- compensation ---------------------------------------------------------- */

static void test_reject_compensates_in_reverse(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(reply_r(T0 + 20, PAY, SAGA_ACT_RESERVE, 1,
                             SAGA_OUT_REJECTED, "card declined"),
                     0);
    assert_true(out.reply_applied);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPENSATING: step charge_payment RESERVE "
                "rejected: card declined");
    assert_note(SAGA_NOTE_STEP, PAY, "RESERVING -> REJECTED");
    assert_note(SAGA_NOTE_STEP, INV, "RESERVED -> COMPENSATING");
    assert_cmds1(INV, SAGA_ACT_COMPENSATE, 1, T0 + 20 + TIMEOUT);
    assert_int_equal(STEP(PAY).status, SAGA_STEP_REJECTED);
    assert_int_equal(STEP(PAY).reserve_outcome, SAGA_OUT_REJECTED);
    assert_string_equal(STEP(PAY).last_error, "card declined");
    assert_false(st.aborted);

    reply(T0 + 30, INV, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_note(SAGA_NOTE_STEP, INV, "COMPENSATING -> COMPENSATED");
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "COMPENSATING -> COMPENSATED: nothing left to compensate");
    assert_int_equal(STEP(INV).compensate_outcome, SAGA_OUT_OK);
    assert_int_equal(STEP(INV).compensate_attempts, 1);
    assert_int_equal(STEP(PAY).compensate_attempts, 0);
    assert_int_equal(st.wake_ms, 0);
}

static void test_reject_without_reason(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    reply_r(T0 + 1, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED, "");
    assert_string_equal(STEP(INV).last_error, "rejected without a reason");
    assert_note(SAGA_NOTE_REPLY_APPLIED, INV, "REJECTED");
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(STEP(PAY).status, SAGA_STEP_PENDING);
}

static void test_diamond_compensation_order(void **state)
{
    (void)state;
    spec_diamond(true);
    begin(T0);
    reply(T0 + 1, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 2, B, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 3, C, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 4, D, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_cmds1(E, SAGA_ACT_RESERVE, 1, T0 + 4 + TIMEOUT);

    reply(T0 + 5, E, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_cmds1(D, SAGA_ACT_COMPENSATE, 1, T0 + 5 + TIMEOUT);
    assert_int_equal(STEP(B).status, SAGA_STEP_RESERVED);
    assert_int_equal(STEP(C).status, SAGA_STEP_RESERVED);
    assert_int_equal(STEP(A).status, SAGA_STEP_RESERVED);

    reply(T0 + 6, D, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 2); /* b and c together */
    assert_true(has_cmd(B, SAGA_ACT_COMPENSATE, 1));
    assert_true(has_cmd(C, SAGA_ACT_COMPENSATE, 1));
    assert_int_equal(STEP(A).status, SAGA_STEP_RESERVED);

    reply(T0 + 7, C, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 0); /* a waits for b too */
    assert_int_equal(STEP(A).status, SAGA_STEP_RESERVED);

    reply(T0 + 8, B, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_cmds1(A, SAGA_ACT_COMPENSATE, 1, T0 + 8 + TIMEOUT);
    reply(T0 + 9, A, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(STEP(E).status, SAGA_STEP_REJECTED);
    assert_int_equal(STEP(E).compensate_attempts, 0);
    for (int i = A; i <= D; i++)
        assert_int_equal(STEP(i).status, SAGA_STEP_COMPENSATED);
}

/* d runs out of attempts: its outcome is unknown, so it is undone first. */
static void test_diamond_exhausted_step_compensated_first(void **state)
{
    (void)state;
    spec_diamond(false);
    defs[D].retry.max_attempts = 1;
    begin(T0);
    reply(T0 + 1, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 2, B, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 3, C, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    timer(T0 + 3 + TIMEOUT);
    assert_int_equal(STEP(D).status, SAGA_STEP_COMPENSATING);
    assert_note(SAGA_NOTE_EXHAUSTED, D, "RESERVE out of attempts (1 of 1)");
    assert_note(SAGA_NOTE_STEP, D, "RESERVING -> FAILED: out of attempts, "
                                   "outcome unknown");
    assert_note(SAGA_NOTE_STEP, D,
                "FAILED -> COMPENSATING: reserve outcome unknown");
    assert_cmds1(D, SAGA_ACT_COMPENSATE, 1, T0 + 3 + TIMEOUT + TIMEOUT);
    reply(T0 + 5000, D, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 2);
    assert_true(has_cmd(B, SAGA_ACT_COMPENSATE, 1));
    assert_true(has_cmd(C, SAGA_ACT_COMPENSATE, 1));
}

static void test_timeout_backoff_retry_success(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    const int64_t dl = T0 + TIMEOUT;

    timer(dl - 1); /* early wake-up: nothing due */
    assert_false(out.changed);
    assert_int_equal(out.n_notes, 0);

    timer(dl);
    assert_true(out.changed);
    assert_note(SAGA_NOTE_TIMEOUT, INV, "no reply to RESERVE attempt 1 within "
                                        "1000 ms");
    assert_note(SAGA_NOTE_BACKOFF, INV, "re-sending RESERVE as attempt 2 in "
                                        "100 ms");
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVING);
    assert_int_equal(STEP(INV).action, SAGA_ACT_RESERVE);
    assert_int_equal(STEP(INV).failures, 1);
    assert_int_equal(STEP(INV).deadline_ms, 0);
    assert_int_equal(STEP(INV).retry_at_ms, dl + 100);
    assert_int_equal(STEP(INV).reserve_outcome, SAGA_OUT_NONE);
    assert_string_equal(STEP(INV).last_error, "no reply within 1000 ms");
    assert_int_equal(st.wake_ms, dl + 100);
    assert_int_equal(st.progress_ms, T0); /* a timeout is no progress */

    timer(dl + 99);
    assert_false(out.changed);

    /* a re-send waits twice as long for its reply */
    timer(dl + 100);
    assert_cmds1(INV, SAGA_ACT_RESERVE, 2, dl + 100 + 2 * TIMEOUT);
    assert_int_equal(out.n_notes, 0);
    assert_int_equal(STEP(INV).attempt, 2);
    assert_int_equal(STEP(INV).retry_at_ms, 0);
    assert_int_equal(STEP(INV).reserve_attempts, 2);
    assert_int_equal(st.wake_ms, dl + 100 + 2 * TIMEOUT);

    /* second timeout doubles the delay */
    timer(dl + 100 + 2 * TIMEOUT);
    assert_note(SAGA_NOTE_TIMEOUT, INV, "no reply to RESERVE attempt 2 within "
                                        "2000 ms");
    assert_string_equal(STEP(INV).last_error, "no reply within 2000 ms");
    assert_note(SAGA_NOTE_BACKOFF, INV, "re-sending RESERVE as attempt 3 in "
                                        "200 ms");
    timer(dl + 300 + 2 * TIMEOUT);
    assert_cmds1(INV, SAGA_ACT_RESERVE, 3, dl + 300 + 6 * TIMEOUT);

    reply(dl + 400 + 2 * TIMEOUT, INV, SAGA_ACT_RESERVE, 3, SAGA_OUT_OK);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVED);
    assert_int_equal(STEP(INV).failures, 0);
    assert_string_equal(STEP(INV).last_error, "");
    assert_int_equal(STEP(INV).reserve_attempts, 3);
    assert_int_equal(STEP(INV).reserve_outcome, SAGA_OUT_OK);
    assert_cmds1(PAY, SAGA_ACT_RESERVE, 1, dl + 400 + 3 * TIMEOUT);
}

static void test_jitter_used_for_backoff(void **state)
{
    (void)state;
    spec_linear();
    defs[INV].retry.jitter = 0.5;
    begin(T0);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_TIMER,
                                        .now_ms = T0 + TIMEOUT,
                                        .random = 1u << 31}),
                     0);
    assert_int_equal(STEP(INV).retry_at_ms, T0 + TIMEOUT + 75);
    assert_note(SAGA_NOTE_BACKOFF, INV, "re-sending RESERVE as attempt 2 in "
                                        "75 ms");
}

static void test_exhausted_compensates_unknown_and_in_flight(void **state)
{
    (void)state;
    spec_parallel();
    defs[B].timeout_ms = 100000; /* b stays in flight throughout */
    begin(T0);
    timer(T0 + 1000);
    assert_int_equal(out.n_cmds, 0);
    timer(T0 + 1100);
    assert_cmds1(A, SAGA_ACT_RESERVE, 2, T0 + 3100);
    timer(T0 + 3100);
    timer(T0 + 3300);
    assert_cmds1(A, SAGA_ACT_RESERVE, 3, T0 + 7300);
    assert_int_equal(st.status, SAGA_RUNNING);

    timer(T0 + 7300);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_note(SAGA_NOTE_TIMEOUT, A, "no reply to RESERVE attempt 3 within "
                                      "4000 ms");
    assert_note(SAGA_NOTE_EXHAUSTED, A, "RESERVE out of attempts (3 of 3)");
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPENSATING: step a RESERVE out of attempts, last "
                "error \"no reply within 4000 ms\"");
    assert_note(SAGA_NOTE_STEP, A,
                "FAILED -> COMPENSATING: reserve outcome unknown");
    assert_note(SAGA_NOTE_STEP, B,
                "RESERVING -> COMPENSATING: reserve outcome unknown");
    assert_int_equal(count_notes(SAGA_NOTE_BACKOFF), 0);
    assert_int_equal(out.n_cmds, 2);
    assert_true(has_cmd(A, SAGA_ACT_COMPENSATE, 1));
    assert_true(has_cmd(B, SAGA_ACT_COMPENSATE, 1));
    assert_int_equal(STEP(C).status, SAGA_STEP_PENDING);
    assert_int_equal(STEP(A).failures, 0); /* new action, new count */
    assert_int_equal(STEP(A).reserve_attempts, 3);
    assert_int_equal(STEP(B).reserve_attempts, 1);
    assert_int_equal(st.progress_ms, T0 + 7300);

    /* the abandoned reserve's late answer does not count */
    reply(T0 + 7400, B, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(B, "late reply: saga is COMPENSATING");
    reply(T0 + 7400, A, SAGA_ACT_RESERVE, 3, SAGA_OUT_OK);
    assert_ignored(A, "late reply: saga is COMPENSATING");
    reply(T0 + 7400, A, SAGA_ACT_RESERVE, 2, SAGA_OUT_OK);
    assert_ignored(A, "stale reply for attempt 2 (current attempt 3)");

    reply(T0 + 7500, B, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    reply(T0 + 7600, A, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(STEP(C).compensate_attempts, 0);
}

static void test_retry_replies_on_reserve(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    assert_int_equal(reply_r(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_RETRY,
                             "db busy"),
                     0);
    assert_true(out.reply_applied);
    assert_true(out.changed);
    assert_note(SAGA_NOTE_REPLY_APPLIED, INV, "RETRY: db busy");
    assert_note(SAGA_NOTE_BACKOFF, INV, "re-sending RESERVE as attempt 2 in "
                                        "100 ms");
    assert_int_equal(STEP(INV).failures, 1);
    assert_int_equal(STEP(INV).reserve_outcome, SAGA_OUT_RETRY);
    assert_string_equal(STEP(INV).last_error, "db busy");
    assert_int_equal(STEP(INV).retry_at_ms, T0 + 110);
    assert_int_equal(STEP(INV).deadline_ms, 0);
    assert_int_equal(st.progress_ms, T0); /* RETRY is not progress */
    assert_int_equal(st.wake_ms, T0 + 110);

    /* the same answer again while backing off */
    reply_r(T0 + 20, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_RETRY, "db busy");
    assert_ignored(INV, "duplicate reply");

    timer(T0 + 110);
    assert_cmds1(INV, SAGA_ACT_RESERVE, 2, T0 + 110 + 2 * TIMEOUT);
    assert_int_equal(STEP(INV).reserve_outcome, SAGA_OUT_NONE);
    reply(T0 + 120, INV, SAGA_ACT_RESERVE, 2, SAGA_OUT_RETRY);
    assert_string_equal(STEP(INV).last_error,
                        "asked to retry without a reason");
    assert_note(SAGA_NOTE_REPLY_APPLIED, INV, "RETRY");
    assert_int_equal(STEP(INV).retry_at_ms, T0 + 320);
    timer(T0 + 320);
    assert_cmds1(INV, SAGA_ACT_RESERVE, 3, T0 + 320 + 4 * TIMEOUT);

    reply_r(T0 + 330, INV, SAGA_ACT_RESERVE, 3, SAGA_OUT_RETRY, "still busy");
    assert_note(SAGA_NOTE_EXHAUSTED, INV, "RESERVE out of attempts (3 of 3)");
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPENSATING: step reserve_inventory RESERVE out "
                "of attempts, last error \"still busy\"");
    assert_cmds1(INV, SAGA_ACT_COMPENSATE, 1, T0 + 330 + TIMEOUT);
    assert_int_equal(STEP(INV).reserve_outcome, SAGA_OUT_RETRY);

    reply_r(T0 + 340, INV, SAGA_ACT_RESERVE, 3, SAGA_OUT_RETRY, "still busy");
    assert_ignored(INV, "duplicate reply");
}

/* A RESERVE out of attempts while the step stays FAILED: irreversible. */
static void test_irreversible_exhausted_is_skipped(void **state)
{
    (void)state;
    spec_begin();
    add_step("hold", "inventory", true, false, 0);
    add_step("charge", "payment", true, false, 0);
    add_step("ship", "shipping", false, true, 1, 0);
    defs[2].retry.max_attempts = 1;
    begin(T0);
    reply(T0 + 1, 0, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 2, 1, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_cmds1(2, SAGA_ACT_RESERVE, 1, T0 + 2 + TIMEOUT);
    timer(T0 + 2 + TIMEOUT);
    assert_int_equal(STEP(2).status, SAGA_STEP_FAILED);
    assert_note(SAGA_NOTE_SKIPPED, 2,
                "irreversible step left as it is (reserve outcome unknown)");
    /* hold is depended on by ship, but ship is never compensated */
    assert_int_equal(out.n_cmds, 2);
    assert_true(has_cmd(0, SAGA_ACT_COMPENSATE, 1));
    assert_true(has_cmd(1, SAGA_ACT_COMPENSATE, 1));

    reply(T0 + 3000, 2, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(2, "late reply: step already FAILED by timeout");

    reply(T0 + 3001, 0, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    reply(T0 + 3002, 1, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(STEP(2).status, SAGA_STEP_FAILED);
    assert_int_equal(STEP(2).compensate_attempts, 0);
}

static void test_irreversible_reserved_is_skipped(void **state)
{
    (void)state;
    spec_begin();
    add_step("hold", "inventory", true, false, 0);
    add_step("notify", "mail", false, true, 1, 0);
    add_step("ship", "shipping", false, true, 0);
    add_step("print", "printer", false, true, 0);
    begin(T0);
    assert_cmds1(0, SAGA_ACT_RESERVE, 1, T0 + TIMEOUT);
    reply(T0 + 1, 0, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(out.n_cmds, 3);
    reply(T0 + 2, 1, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 3, 2, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_note(SAGA_NOTE_SKIPPED, 1,
                "irreversible step left as it is (RESERVED)");
    assert_note(SAGA_NOTE_SKIPPED, 3,
                "irreversible step left as it is (reserve outcome unknown)");
    assert_null(find_note(SAGA_NOTE_SKIPPED, 2)); /* rejected: nothing done */
    assert_cmds1(0, SAGA_ACT_COMPENSATE, 1, T0 + 3 + TIMEOUT);
    assert_int_equal(STEP(3).action, SAGA_ACT_NONE);
    assert_int_equal(STEP(3).deadline_ms, 0);
    reply(T0 + 4, 0, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(STEP(1).status, SAGA_STEP_RESERVED);
    assert_int_equal(STEP(3).status, SAGA_STEP_RESERVING);
}

/* --- confirm and compensate never give up ---------------------------------- */

static void test_confirm_rejected_retried_for_ever(void **state)
{
    (void)state;
    linear_to_confirming_with(1000000);
    spec.stuck_after_ms = 5000;
    int64_t now = T0 + 20;
    const int64_t delays[] = {100, 200, 400, 800, 1000, 1000, 1000};
    bool was_stuck = false;
    for (int k = 1; k <= 20; k++) {
        now += 5;
        assert_int_equal(reply_r(now, INV, SAGA_ACT_CONFIRM, k,
                                 SAGA_OUT_REJECTED, "ledger closed"),
                         0);
        assert_true(out.reply_applied);
        assert_int_equal(st.status, SAGA_CONFIRMING);
        assert_int_equal(STEP(INV).status, SAGA_STEP_CONFIRMING);
        assert_int_equal(STEP(INV).failures, k);
        assert_int_equal(STEP(INV).confirm_outcome, SAGA_OUT_REJECTED);
        assert_string_equal(STEP(INV).last_error, "ledger closed");
        int64_t delay = delays[k - 1 < 6 ? k - 1 : 6];
        assert_int_equal(STEP(INV).retry_at_ms, now + delay);
        char text[64];
        snprintf(text, sizeof text, "re-sending CONFIRM as attempt %d in %lld ms",
                 k + 1, (long long)delay);
        assert_note(SAGA_NOTE_BACKOFF, INV, text);
        now += delay;
        timer(now);
        assert_true(has_cmd(INV, SAGA_ACT_CONFIRM, k + 1));
        was_stuck |= st.stuck;
    }
    /* rejections are not progress: the saga was flagged, retries went on */
    assert_true(was_stuck);
    assert_true(st.stuck);
    assert_int_equal(st.progress_ms, T0 + 20);
    assert_int_equal(STEP(INV).confirm_attempts, 21);

    reply(now + 1, PAY, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_false(st.stuck);
    assert_note(SAGA_NOTE_UNSTUCK, -1, "progress resumed");
    reply(now + 2, INV, SAGA_ACT_CONFIRM, 21, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPLETED);
    assert_int_equal(STEP(INV).confirm_outcome, SAGA_OUT_OK);
    assert_int_equal(STEP(INV).failures, 0);
    assert_string_equal(STEP(INV).last_error, "");
}

static void test_confirm_timeout_and_retry_reply(void **state)
{
    (void)state;
    linear_to_confirming();
    int64_t dl = T0 + 20 + TIMEOUT;
    timer(dl);
    assert_note(SAGA_NOTE_TIMEOUT, INV, "no reply to CONFIRM attempt 1 within "
                                        "1000 ms");
    assert_note(SAGA_NOTE_TIMEOUT, PAY, "no reply to CONFIRM attempt 1 within "
                                        "1000 ms");
    assert_int_equal(count_notes(SAGA_NOTE_BACKOFF), 2);
    /* no max_attempts for CONFIRM: far past it, still retrying */
    int64_t now = dl;
    for (int k = 2; k <= 6; k++) {
        now = st.wake_ms;
        timer(now);
        assert_int_equal(out.n_cmds, 2);
        now = st.wake_ms;
        timer(now);
        assert_int_equal(count_notes(SAGA_NOTE_TIMEOUT), 2);
    }
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_int_equal(STEP(INV).confirm_attempts, 6);
    assert_int_equal(STEP(INV).failures, 6);
    timer(st.wake_ms);
    reply_r(st.wake_ms - TIMEOUT, INV, SAGA_ACT_CONFIRM, 7, SAGA_OUT_RETRY,
            NULL);
    assert_string_equal(STEP(INV).last_error,
                        "asked to retry without a reason");
    assert_int_equal(STEP(INV).failures, 7);
}

static void test_compensate_rejected_and_timeout_retried(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    reply(T0 + 1, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 2, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_cmds1(INV, SAGA_ACT_COMPENSATE, 1, T0 + 2 + TIMEOUT);

    reply_r(T0 + 3, INV, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_REJECTED,
            "hold not found");
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_int_equal(STEP(INV).status, SAGA_STEP_COMPENSATING);
    assert_string_equal(STEP(INV).last_error, "hold not found");
    assert_int_equal(STEP(INV).compensate_outcome, SAGA_OUT_REJECTED);
    assert_note(SAGA_NOTE_BACKOFF, INV, "re-sending COMPENSATE as attempt 2 in "
                                        "100 ms");
    reply(T0 + 4, INV, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_REJECTED);
    assert_ignored(INV, "duplicate reply");

    timer(T0 + 103);
    assert_cmds1(INV, SAGA_ACT_COMPENSATE, 2, T0 + 103 + 2 * TIMEOUT);
    timer(T0 + 103 + 2 * TIMEOUT);
    assert_note(SAGA_NOTE_TIMEOUT, INV, "no reply to COMPENSATE attempt 2 "
                                        "within 2000 ms");
    assert_note(SAGA_NOTE_BACKOFF, INV, "re-sending COMPENSATE as attempt 3 in "
                                        "200 ms");
    timer(T0 + 303 + 2 * TIMEOUT);
    assert_cmds1(INV, SAGA_ACT_COMPENSATE, 3, T0 + 303 + 6 * TIMEOUT);
    reply(T0 + 304 + 2 * TIMEOUT, INV, SAGA_ACT_COMPENSATE, 3, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(STEP(INV).compensate_attempts, 3);
    assert_int_equal(STEP(INV).compensate_outcome, SAGA_OUT_OK);
    assert_string_equal(STEP(INV).last_error, "");
}

/* --- replies that do not apply --------------------------------------------- */

static void test_duplicate_reply(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    reply(T0 + 1, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    saga_state before = st;
    reply(T0 + 2, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(INV, "duplicate reply");
    assert_int_equal(out.notes[0].action, SAGA_ACT_RESERVE);
    assert_int_equal(out.notes[0].attempt, 1);
    assert_int_equal(out.notes[0].outcome, SAGA_OUT_OK);
    assert_memory_equal(&before, &st, sizeof st);

    /* even a contradicting answer to an answered attempt */
    reply(T0 + 3, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_ignored(INV, "duplicate reply");
    assert_int_equal(st.status, SAGA_RUNNING);

    reply(T0 + 4, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 5, PAY, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    reply(T0 + 6, PAY, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_ignored(PAY, "duplicate reply");
    reply(T0 + 7, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(PAY, "duplicate reply");
}

/* Linear saga whose inventory RESERVE timed out once: attempt 2 in flight
 * since T0 + TIMEOUT + 100, until T0 + 3 * TIMEOUT + 100. */
static void inventory_on_attempt_2(void)
{
    spec_linear();
    begin(T0);
    timer(T0 + TIMEOUT);
    timer(T0 + TIMEOUT + 100);
    assert_cmds1(INV, SAGA_ACT_RESERVE, 2, T0 + 3 * TIMEOUT + 100);
}

/* The barrier replays one answer per (key, action) to every attempt, so an
 * earlier attempt's OK is the pending attempt's answer. */
static void test_earlier_ok_applied(void **state)
{
    (void)state;
    inventory_on_attempt_2();
    reply_r(T0 + TIMEOUT + 150, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK, "held");
    assert_true(out.reply_applied);
    assert_true(out.reply_earlier);
    assert_true(out.changed);
    assert_note(SAGA_NOTE_REPLY_APPLIED, INV,
                "reply for attempt 1 accepted while attempt 2 pending");
    assert_int_equal(out.notes[0].attempt, 1);
    assert_int_equal(out.notes[0].outcome, SAGA_OUT_OK);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVED);
    assert_int_equal(STEP(INV).action, SAGA_ACT_NONE);
    assert_int_equal(STEP(INV).reserve_attempts, 2);
    assert_int_equal(STEP(INV).reserve_outcome, SAGA_OUT_OK);
    assert_int_equal(STEP(INV).failures, 0);
    assert_string_equal(STEP(INV).last_error, "");
    assert_cmds1(PAY, SAGA_ACT_RESERVE, 1, T0 + 2 * TIMEOUT + 150);

    /* the pending attempt's own answer, arriving after, is a duplicate */
    reply(T0 + TIMEOUT + 160, INV, SAGA_ACT_RESERVE, 2, SAGA_OUT_OK);
    assert_ignored(INV, "duplicate reply");
    reply(T0 + TIMEOUT + 170, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(INV, "stale reply for attempt 1 (current attempt 2)");

    /* an answer to the current attempt is not "earlier" */
    reply(T0 + TIMEOUT + 180, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_true(out.reply_applied);
    assert_false(out.reply_earlier);
}

static void test_earlier_rejected_applied(void **state)
{
    (void)state;
    inventory_on_attempt_2();
    reply_r(T0 + TIMEOUT + 150, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED,
            "out of stock");
    assert_true(out.reply_applied);
    assert_true(out.reply_earlier);
    assert_note(SAGA_NOTE_REPLY_APPLIED, INV,
                "reply for attempt 1 accepted while attempt 2 pending");
    assert_int_equal(STEP(INV).status, SAGA_STEP_REJECTED);
    assert_string_equal(STEP(INV).last_error, "out of stock");
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(out.n_cmds, 0);
    reply(T0 + TIMEOUT + 160, INV, SAGA_ACT_RESERVE, 2, SAGA_OUT_REJECTED);
    assert_ignored(INV, "saga is terminal");
}

/* RETRY is never recorded by the barrier: it speaks only for its own
 * attempt, so an earlier attempt's RETRY changes nothing. */
static void test_earlier_retry_ignored(void **state)
{
    (void)state;
    inventory_on_attempt_2();
    saga_state before = st;
    reply(T0 + TIMEOUT + 150, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_RETRY);
    assert_ignored(INV, "stale RETRY for attempt 1 (current attempt 2): only "
                        "the attempt in flight can be retried");
    assert_memory_equal(&before, &st, sizeof st);

    /* the timed-out latest attempt cannot be retried either */
    timer(T0 + 3 * TIMEOUT + 100);
    before = st;
    reply(T0 + 3 * TIMEOUT + 110, INV, SAGA_ACT_RESERVE, 2, SAGA_OUT_RETRY);
    assert_ignored(INV, "late RETRY for attempt 2: already timed out, "
                        "re-dispatch scheduled");
    assert_memory_equal(&before, &st, sizeof st);
}

/* Only the action still pending takes earlier answers; attempts never sent
 * are refused whatever the action. */
static void test_earlier_reply_not_pending_or_never_sent(void **state)
{
    (void)state;
    inventory_on_attempt_2();
    reply(T0 + TIMEOUT + 160, INV, SAGA_ACT_RESERVE, 3, SAGA_OUT_OK);
    assert_ignored(INV, "reply for attempt 3 which was never sent (current "
                        "attempt 2)");
    reply(T0 + TIMEOUT + 160, INV, SAGA_ACT_RESERVE, 9, SAGA_OUT_RETRY);
    assert_ignored(INV, "reply for attempt 9 which was never sent (current "
                        "attempt 2)");

    reply(T0 + TIMEOUT + 170, INV, SAGA_ACT_RESERVE, 2, SAGA_OUT_OK);
    assert_false(out.reply_earlier);
    reply(T0 + TIMEOUT + 180, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_CONFIRMING);

    /* RESERVE is over: neither an earlier nor an unsent attempt applies */
    saga_state before = st;
    reply(T0 + TIMEOUT + 190, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(INV, "stale reply for attempt 1 (current attempt 2)");
    reply(T0 + TIMEOUT + 190, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_ignored(INV, "stale reply for attempt 1 (current attempt 2)");
    reply(T0 + TIMEOUT + 190, INV, SAGA_ACT_RESERVE, 5, SAGA_OUT_OK);
    assert_ignored(INV, "reply for attempt 5 which was never sent (current "
                        "attempt 2)");
    assert_memory_equal(&before, &st, sizeof st);

    /* CONFIRM is pending at attempt 1: attempt 2 was never sent */
    reply(T0 + TIMEOUT + 200, INV, SAGA_ACT_CONFIRM, 2, SAGA_OUT_OK);
    assert_ignored(INV, "reply for attempt 2 which was never sent (current "
                        "attempt 1)");
}

/* An earlier REJECTED of a CONFIRM counts as one failure of the attempt in
 * flight (re-sent after backoff), and only once. */
static void test_earlier_rejected_confirm_counts_once(void **state)
{
    (void)state;
    linear_to_confirming();
    timer(T0 + 20 + TIMEOUT);
    timer(T0 + 120 + TIMEOUT);
    assert_true(has_cmd(INV, SAGA_ACT_CONFIRM, 2));
    timer(T0 + 120 + 3 * TIMEOUT);
    timer(T0 + 320 + 3 * TIMEOUT);
    assert_true(has_cmd(INV, SAGA_ACT_CONFIRM, 3));
    assert_int_equal(STEP(INV).failures, 2);

    const int64_t t = T0 + 330 + 3 * TIMEOUT;
    reply_r(t, INV, SAGA_ACT_CONFIRM, 1, SAGA_OUT_REJECTED, "ledger closed");
    assert_true(out.reply_earlier);
    assert_note(SAGA_NOTE_REPLY_APPLIED, INV,
                "reply for attempt 1 accepted while attempt 3 pending");
    assert_note(SAGA_NOTE_BACKOFF, INV, "re-sending CONFIRM as attempt 4 in "
                                        "400 ms");
    assert_int_equal(STEP(INV).failures, 3);
    assert_int_equal(STEP(INV).deadline_ms, 0);
    assert_int_equal(STEP(INV).retry_at_ms, t + 400);
    assert_string_equal(STEP(INV).last_error, "ledger closed");

    saga_state before = st;
    reply(t + 1, INV, SAGA_ACT_CONFIRM, 2, SAGA_OUT_REJECTED);
    assert_ignored(INV, "stale reply for attempt 2: a REJECTED already counts "
                        "for attempt 3");
    reply(t + 2, INV, SAGA_ACT_CONFIRM, 3, SAGA_OUT_REJECTED);
    assert_ignored(INV, "duplicate reply");
    assert_memory_equal(&before, &st, sizeof st);

    timer(t + 400);
    assert_cmds1(INV, SAGA_ACT_CONFIRM, 4, t + 400 + 4 * TIMEOUT);
    reply(t + 410, INV, SAGA_ACT_CONFIRM, 2, SAGA_OUT_OK);
    assert_true(out.reply_earlier);
    assert_int_equal(STEP(INV).status, SAGA_STEP_CONFIRMED);
}

/* A reply to the latest attempt after its deadline, while the re-send is
 * still waiting out its backoff, ends the wait: no re-send. */
static void test_late_reply_after_timeout(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    timer(T0 + TIMEOUT);
    reply(T0 + TIMEOUT + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_true(out.reply_applied);
    assert_true(out.reply_earlier);
    assert_note(SAGA_NOTE_REPLY_APPLIED, INV,
                "reply for attempt 1 accepted after its deadline, before the "
                "re-send");
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVED);
    assert_int_equal(STEP(INV).retry_at_ms, 0);
    assert_int_equal(STEP(INV).reserve_attempts, 1);
    assert_cmds1(PAY, SAGA_ACT_RESERVE, 1, T0 + 2 * TIMEOUT + 10);
    timer(T0 + TIMEOUT + 100); /* the re-send that was scheduled */
    assert_int_equal(out.n_cmds, 0);
    assert_false(out.changed);
}

/* Attempt n waits timeout * min(2^(n-1), SAGA_MACHINE_TIMEOUT_GROWTH). */
static void test_deadline_grows_with_attempts(void **state)
{
    (void)state;
    saga_step_def d = {.timeout_ms = 400};
    assert_int_equal(saga_machine_timeout(&d, 1), 400);
    assert_int_equal(saga_machine_timeout(&d, 2), 800);
    assert_int_equal(saga_machine_timeout(&d, 3), 1600);
    assert_int_equal(saga_machine_timeout(&d, 4), 1600);
    assert_int_equal(saga_machine_timeout(&d, 1000), 1600);
    assert_int_equal(saga_machine_timeout(&d, 0), 400);
    d.timeout_ms = SAGA_SPEC_MAX_TIMEOUT_MS;
    assert_int_equal(saga_machine_timeout(&d, INT_MAX),
                     SAGA_SPEC_MAX_TIMEOUT_MS * SAGA_MACHINE_TIMEOUT_GROWTH);
    d.timeout_ms = 0;
    assert_int_equal(saga_machine_timeout(&d, 2), 2);

    /* a COMPENSATE retried for ever: deadlines 1x, 2x, 4x, 4x... */
    spec_linear();
    begin(T0);
    reply(T0, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_cmds1(INV, SAGA_ACT_COMPENSATE, 1, T0 + TIMEOUT);
    const int64_t want[] = {1, 2, 4, 4, 4, 4};
    int64_t now = T0;
    for (int k = 1; k <= 6; k++) {
        assert_int_equal(STEP(INV).attempt, k);
        assert_int_equal(STEP(INV).deadline_ms - now, want[k - 1] * TIMEOUT);
        now = STEP(INV).deadline_ms;
        timer(now);
        now = STEP(INV).retry_at_ms;
        timer(now);
        assert_true(has_cmd(INV, SAGA_ACT_COMPENSATE, k + 1));
    }
}

static void test_timeout_racing_reply(void **state)
{
    (void)state;
    /* reply first, in the deadline's very millisecond: applied */
    spec_linear();
    begin(T0);
    reply(T0 + TIMEOUT, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_true(out.reply_applied);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVED);
    timer(T0 + TIMEOUT); /* the timer that raced it finds nothing */
    assert_false(out.changed);
    assert_int_equal(count_notes(SAGA_NOTE_TIMEOUT), 0);

    /* even a little after the deadline, as long as the timer has not run */
    begin(T0);
    reply(T0 + TIMEOUT + 7, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_true(out.reply_applied);

    /* timer first: the reply of the same millisecond still ends the wait */
    begin(T0);
    timer(T0 + TIMEOUT);
    assert_int_equal(STEP(INV).retry_at_ms, T0 + TIMEOUT + 100);
    reply(T0 + TIMEOUT, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_true(out.reply_earlier);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVED);
}

static void test_reply_validation(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);

    reply(T0 + 1, 2, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(-1, "unknown step index 2");
    reply(T0 + 1, -1, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(-1, "unknown step index -1");
    assert_int_equal(out.notes[0].action, SAGA_ACT_RESERVE);

    reply(T0 + 1, INV, SAGA_ACT_NONE, 1, SAGA_OUT_OK);
    assert_ignored(INV, "invalid action 0");
    reply(T0 + 1, INV, (saga_action)9, 1, SAGA_OUT_OK);
    assert_ignored(INV, "invalid action 9");
    reply(T0 + 1, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_NONE);
    assert_ignored(INV, "invalid outcome 0");
    reply(T0 + 1, INV, SAGA_ACT_RESERVE, 1, (saga_outcome)4);
    assert_ignored(INV, "invalid outcome 4");
    reply(T0 + 1, INV, SAGA_ACT_RESERVE, 0, SAGA_OUT_OK);
    assert_ignored(INV, "invalid attempt 0");

    reply(T0 + 1, INV, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_ignored(INV, "reply for action CONFIRM but step awaits RESERVE");
    reply(T0 + 1, PAY, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_ignored(PAY, "reply for action COMPENSATE but step awaits nothing");
    reply(T0 + 1, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(PAY, "reply for action RESERVE but step awaits nothing");
    assert_int_equal(st.status, SAGA_RUNNING);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVING);

    /* terminal wins over everything else */
    assert_int_equal(op_resolve(T0 + 2, SAGA_COMPENSATED, NULL), 0);
    reply(T0 + 3, 9, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(9, "saga is terminal");
}

/* --- stuck and wake-ups ---------------------------------------------------- */

static void test_stuck_set_and_cleared(void **state)
{
    (void)state;
    spec_linear();
    defs[INV].timeout_ms = 100000;
    begin(T0);
    assert_int_equal(st.wake_ms, T0 + STUCK);

    timer(T0 + STUCK - 1);
    assert_false(st.stuck);
    assert_false(out.changed);

    timer(T0 + STUCK);
    assert_true(st.stuck);
    assert_true(out.changed);
    assert_string_equal(st.stuck_reason,
                        "awaiting inventory RESERVE reply, attempt 1");
    assert_note(SAGA_NOTE_STUCK, -1,
                "awaiting inventory RESERVE reply, attempt 1");
    /* stuck: no more stuck checks, only the deadline */
    assert_int_equal(st.wake_ms, T0 + 100000);

    timer(T0 + STUCK + 10); /* still stuck, nothing new to say */
    assert_false(out.changed);
    assert_int_equal(out.n_notes, 0);

    /* an ignored reply is no progress */
    reply(T0 + STUCK + 20, INV, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_true(st.stuck);

    reply(T0 + STUCK + 30, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_false(st.stuck);
    assert_string_equal(st.stuck_reason, "");
    assert_note(SAGA_NOTE_UNSTUCK, -1, "progress resumed");
    assert_int_equal(st.progress_ms, T0 + STUCK + 30);
    assert_int_equal(st.wake_ms, T0 + STUCK + 30 + TIMEOUT);
}

/* The example from the product issue, reproduced exactly. */
static void test_stuck_reason_compensate(void **state)
{
    (void)state;
    spec_begin();
    add_step("reserve_inventory", "inventory", true, false, 0);
    add_step("charge_payment", "payment", true, false, 0);
    defs[1].timeout_ms = 120000;
    begin(T0);
    reply(T0 + 1, 1, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 2, 0, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_cmds1(1, SAGA_ACT_COMPENSATE, 1, T0 + 2 + 120000);
    for (int k = 1; k <= 6; k++) {
        int64_t now =
            st.steps[1].deadline_ms - saga_machine_timeout(&defs[1], k) + 1;
        reply_r(now, 1, SAGA_ACT_COMPENSATE, k, SAGA_OUT_RETRY,
                "connection refused");
        timer(st.wake_ms);
        assert_true(has_cmd(1, SAGA_ACT_COMPENSATE, k + 1));
    }
    assert_false(st.stuck);
    assert_int_equal(st.progress_ms, T0 + 2);
    assert_int_equal(st.wake_ms, T0 + 2 + STUCK);
    timer(T0 + 2 + STUCK);
    assert_true(st.stuck);
    assert_string_equal(st.stuck_reason,
                        "awaiting payment COMPENSATE reply, attempt 7, last "
                        "error \"connection refused\"");
}

static void test_stuck_reason_backing_off_and_refreshed(void **state)
{
    (void)state;
    spec_linear();
    defs[INV].retry = (saga_retry_policy){10, 100000, 100000, 2.0, 0.0};
    begin(T0);
    timer(T0 + TIMEOUT);
    assert_int_equal(STEP(INV).retry_at_ms, T0 + TIMEOUT + 100000);
    timer(T0 + STUCK);
    assert_true(st.stuck);
    assert_string_equal(st.stuck_reason,
                        "waiting to re-send inventory RESERVE after attempt 1, "
                        "last error \"no reply within 1000 ms\"");
    /* retries continue while stuck, and the reason follows them */
    timer(T0 + TIMEOUT + 100000);
    assert_cmds1(INV, SAGA_ACT_RESERVE, 2, T0 + 3 * TIMEOUT + 100000);
    assert_true(st.stuck);
    assert_true(out.changed);
    assert_int_equal(count_notes(SAGA_NOTE_STUCK), 0);
    assert_string_equal(st.stuck_reason,
                        "awaiting inventory RESERVE reply, attempt 2, last "
                        "error \"no reply within 1000 ms\"");
}

/* The step with most failures is named; the first one on a tie. */
static void test_stuck_names_worst_step(void **state)
{
    (void)state;
    spec_parallel();
    defs[A].timeout_ms = 100000;
    defs[B].timeout_ms = 100000;
    begin(T0);
    timer(T0 + STUCK);
    assert_string_equal(st.stuck_reason, "awaiting pa RESERVE reply, attempt 1");
    reply_r(T0 + STUCK + 1, B, SAGA_ACT_RESERVE, 1, SAGA_OUT_RETRY, "busy");
    assert_string_equal(st.stuck_reason,
                        "waiting to re-send pb RESERVE after attempt 1, last "
                        "error \"busy\"");
}

/* A reversible step after an irreversible one can never run. The spec
 * validator refuses such a graph; should one get through, the machine flags
 * the saga stuck instead of spinning, and wakes no more once nothing is
 * pending. */
static void test_stuck_with_nothing_pending(void **state)
{
    (void)state;
    spec_begin();
    add_step("ship", "shipping", false, true, 0);
    add_step("hold", "inventory", true, false, 1, 0);
    begin(T0);
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(st.wake_ms, T0 + STUCK);
    timer(T0 + STUCK + 5);
    assert_true(st.stuck);
    assert_string_equal(st.stuck_reason,
                        "no progress for 60005 ms and no command pending");
    assert_int_equal(st.wake_ms, 0);
    assert_int_equal(op_retry(T0 + STUCK + 6, -1), SAGA_ECONFLICT);
    assert_string_equal(err.msg, "nothing to retry: no command is in flight "
                                 "or waiting to be re-sent");
    assert_string_equal(err.hint, "the saga is RUNNING; see its timeline");
    assert_int_equal(op_abort(T0 + STUCK + 7, NULL), 0);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_false(st.stuck);
}

static void test_stuck_disabled(void **state)
{
    (void)state;
    spec_linear();
    spec.stuck_after_ms = 0;
    defs[INV].timeout_ms = 10 * STUCK;
    begin(T0);
    assert_int_equal(st.wake_ms, T0 + 10 * STUCK);
    timer(T0 + 5 * STUCK);
    assert_false(st.stuck);
    assert_false(out.changed);
}

static void test_wake_ms(void **state)
{
    (void)state;
    spec_parallel();
    defs[B].timeout_ms = 700;
    spec.stuck_after_ms = 5000;
    begin(T0);
    assert_int_equal(st.wake_ms, T0 + 700); /* earliest deadline */
    timer(T0 + 700);
    assert_int_equal(STEP(B).retry_at_ms, T0 + 800);
    assert_int_equal(st.wake_ms, T0 + 800); /* retry before a's deadline */
    timer(T0 + 800);
    assert_int_equal(st.wake_ms, T0 + 1000); /* a's deadline, b's at 2200 */
    reply(T0 + 900, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.wake_ms, T0 + 2200);

    reply(T0 + 901, B, SAGA_ACT_RESERVE, 2, SAGA_OUT_RETRY);
    assert_int_equal(STEP(B).retry_at_ms, T0 + 901 + 200);
    assert_int_equal(st.wake_ms, T0 + 901 + 200);
    spec.stuck_after_ms = 100; /* now the stuck check comes first */
    timer(T0 + 902);
    assert_int_equal(out.n_notes, 0);
    assert_int_equal(st.wake_ms, T0 + 900 + 100);
}

/* --- operator events -------------------------------------------------------- */

static void test_operator_retry_in_flight(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    assert_int_equal(op_retry(T0 + 5, -1), 0);
    assert_cmds1(INV, SAGA_ACT_RESERVE, 2, T0 + 5 + 2 * TIMEOUT);
    assert_note(SAGA_NOTE_OPERATOR, -1, "retry: re-sending 1 command now: kick");
    assert_true(out.changed);
    assert_int_equal(STEP(INV).reserve_attempts, 2);
    assert_int_equal(STEP(INV).deadline_ms, T0 + 5 + 2 * TIMEOUT);
    assert_int_equal(st.wake_ms, T0 + 5 + 2 * TIMEOUT);

    /* the first attempt's answer still counts */
    reply(T0 + 6, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_true(out.reply_earlier);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVED);
    reply(T0 + 7, INV, SAGA_ACT_RESERVE, 2, SAGA_OUT_OK);
    assert_ignored(INV, "duplicate reply");
}

static void test_operator_retry_backing_off_resets_backoff(void **state)
{
    (void)state;
    linear_to_confirming_with(100000);
    int64_t now = T0 + 20;
    for (int k = 1; k <= 4; k++) {
        reply(now, INV, SAGA_ACT_CONFIRM, k, SAGA_OUT_RETRY);
        now = st.wake_ms;
        timer(now);
    }
    reply(now, INV, SAGA_ACT_CONFIRM, 5, SAGA_OUT_RETRY);
    assert_int_equal(STEP(INV).failures, 5);
    assert_int_equal(STEP(INV).retry_at_ms, now + 1000);

    assert_int_equal(op_retry(now + 1, INV), 0);
    assert_note(SAGA_NOTE_OPERATOR, INV,
                "retry: re-sending 1 command now: kick");
    assert_cmds1(INV, SAGA_ACT_CONFIRM, 6, now + 1 + 4 * TIMEOUT);
    assert_int_equal(STEP(INV).failures, 0);
    assert_int_equal(STEP(INV).retry_at_ms, 0);

    reply(now + 2, INV, SAGA_ACT_CONFIRM, 6, SAGA_OUT_RETRY);
    assert_int_equal(STEP(INV).retry_at_ms, now + 2 + 100); /* from the start */

    /* all pending commands at once; no reason given */
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_RETRY,
                                        .now_ms = now + 3, .step = -1}),
                     0);
    assert_int_equal(out.n_cmds, 2);
    assert_true(has_cmd(INV, SAGA_ACT_CONFIRM, 7));
    assert_true(has_cmd(PAY, SAGA_ACT_CONFIRM, 2));
    assert_note(SAGA_NOTE_OPERATOR, -1, "retry: re-sending 2 commands now");
}

static void test_operator_retry_grants_one_more_reserve(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    timer(T0 + TIMEOUT);
    timer(T0 + TIMEOUT + 100);
    timer(T0 + 3 * TIMEOUT + 100);
    timer(T0 + 3 * TIMEOUT + 300);
    assert_int_equal(STEP(INV).attempt, 3);
    assert_int_equal(op_retry(T0 + 3 * TIMEOUT + 400, INV), 0);
    assert_cmds1(INV, SAGA_ACT_RESERVE, 4, T0 + 7 * TIMEOUT + 400);
    timer(T0 + 7 * TIMEOUT + 400);
    assert_note(SAGA_NOTE_EXHAUSTED, INV, "RESERVE out of attempts (4 of 3)");
    assert_int_equal(st.status, SAGA_COMPENSATING);
}

static void test_operator_retry_refused(void **state)
{
    (void)state;
    spec_parallel();
    begin(T0);
    reply(T0 + 1, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    saga_state before = st;

    assert_int_equal(op_retry(T0 + 2, A), SAGA_ECONFLICT);
    assert_string_equal(err.msg, "nothing to retry: step a has no command in "
                                 "flight or waiting to be re-sent");
    assert_string_equal(err.hint, "the saga is RUNNING; see its timeline");
    assert_memory_equal(&before, &st, sizeof st);
    assert_int_equal(out.n_notes, 0);
    assert_int_equal(out.n_cmds, 0);
    assert_false(out.changed);

    assert_int_equal(op_retry(T0 + 2, 3), SAGA_ENOTFOUND);
    assert_string_equal(err.msg, "no step with index 3");
    assert_int_equal(op_retry(T0 + 2, -2), SAGA_ENOTFOUND);
    assert_memory_equal(&before, &st, sizeof st);

    assert_int_equal(op_resolve(T0 + 3, SAGA_COMPLETED, NULL), 0);
    assert_int_equal(op_retry(T0 + 4, -1), SAGA_ECONFLICT);
    assert_string_equal(err.msg, "saga is COMPLETED: nothing to retry");
}

static void test_abort(void **state)
{
    (void)state;
    spec_parallel();
    begin(T0);
    reply(T0 + 1, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(op_abort(T0 + 10, "customer cancelled"), 0);
    assert_true(st.aborted);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_note(SAGA_NOTE_OPERATOR, -1, "abort: customer cancelled");
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPENSATING: aborted by operator: customer "
                "cancelled");
    assert_note(SAGA_NOTE_STEP, A, "RESERVED -> COMPENSATING");
    assert_note(SAGA_NOTE_STEP, B,
                "RESERVING -> COMPENSATING: reserve outcome unknown");
    assert_int_equal(out.n_cmds, 2);
    assert_true(has_cmd(A, SAGA_ACT_COMPENSATE, 1));
    assert_true(has_cmd(B, SAGA_ACT_COMPENSATE, 1));
    assert_int_equal(STEP(C).status, SAGA_STEP_PENDING);
    assert_int_equal(st.progress_ms, T0 + 10);

    reply(T0 + 11, B, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(B, "late reply: saga is COMPENSATING");

    saga_state before = st;
    assert_int_equal(op_abort(T0 + 12, NULL), SAGA_ECONFLICT);
    assert_string_equal(err.msg,
                        "saga is COMPENSATING: only a RUNNING saga can be "
                        "aborted");
    assert_memory_equal(&before, &st, sizeof st);

    reply(T0 + 13, A, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    reply(T0 + 14, B, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(op_abort(T0 + 15, NULL), SAGA_ECONFLICT);
    assert_string_equal(err.msg,
                        "saga is COMPENSATED: only a RUNNING saga can be "
                        "aborted");
}

static void test_abort_backing_off_and_without_reason(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    timer(T0 + TIMEOUT); /* inventory waits to be re-sent */
    assert_int_equal(op_abort(T0 + TIMEOUT + 1, NULL), 0);
    assert_note(SAGA_NOTE_OPERATOR, -1, "abort");
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPENSATING: aborted by operator");
    assert_cmds1(INV, SAGA_ACT_COMPENSATE, 1, T0 + 2 * TIMEOUT + 1);
    assert_int_equal(STEP(INV).retry_at_ms, 0);
    timer(T0 + TIMEOUT + 100); /* the old retry time passes: nothing re-sent */
    assert_int_equal(out.n_cmds, 0);
}

static void test_abort_refused_when_confirming(void **state)
{
    (void)state;
    linear_to_confirming();
    saga_state before = st;
    assert_int_equal(op_abort(T0 + 30, "too late"), SAGA_ECONFLICT);
    assert_int_equal(err.code, SAGA_ECONFLICT);
    assert_string_equal(err.msg, "saga is CONFIRMING: confirm has begun and "
                                 "cannot be undone");
    assert_non_null(strstr(err.hint, "resolve"));
    assert_memory_equal(&before, &st, sizeof st);
    assert_int_equal(out.n_notes, 0);
}

static void test_resolve(void **state)
{
    (void)state;
    spec_parallel();
    defs[A].timeout_ms = 100000;
    begin(T0);
    timer(T0 + TIMEOUT); /* b backs off */
    timer(T0 + STUCK);   /* and a makes the saga stuck */
    assert_true(st.stuck);

    assert_int_equal(op_resolve(T0 + STUCK + 1, SAGA_COMPENSATED,
                                "undone by hand in the ERP"),
                     0);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_true(st.resolved);
    assert_false(st.stuck);
    assert_string_equal(st.stuck_reason, "");
    assert_int_equal(st.wake_ms, 0);
    assert_int_equal(out.n_cmds, 0);
    assert_note(SAGA_NOTE_OPERATOR, -1,
                "resolve as COMPENSATED: undone by hand in the ERP");
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPENSATED: resolved by operator");
    assert_note(SAGA_NOTE_UNSTUCK, -1, "progress resumed");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(STEP(i).action, SAGA_ACT_NONE);
        assert_int_equal(STEP(i).deadline_ms, 0);
        assert_int_equal(STEP(i).retry_at_ms, 0);
    }
    assert_int_equal(STEP(A).status, SAGA_STEP_RESERVING);

    reply(T0 + STUCK + 2, A, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_ignored(A, "saga is terminal");
    timer(T0 + 599999);
    assert_false(out.changed);

    saga_state before = st;
    assert_int_equal(op_resolve(T0 + STUCK + 3, SAGA_COMPLETED, NULL),
                     SAGA_ECONFLICT);
    assert_string_equal(err.msg, "saga is COMPENSATED: it has already "
                                 "finished");
    assert_memory_equal(&before, &st, sizeof st);
}

static void test_resolve_confirming_as_completed(void **state)
{
    (void)state;
    linear_to_confirming();
    saga_state before = st;
    assert_int_equal(op_resolve(T0 + 30, SAGA_RUNNING, NULL), SAGA_EINVAL);
    assert_string_equal(err.msg, "a saga can only be resolved as COMPLETED "
                                 "or COMPENSATED, not RUNNING");
    assert_memory_equal(&before, &st, sizeof st);
    assert_int_equal(op_resolve(T0 + 30, SAGA_COMPLETED, NULL), 0);
    assert_note(SAGA_NOTE_OPERATOR, -1, "resolve as COMPLETED");
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "CONFIRMING -> COMPLETED: resolved by operator");
    assert_int_equal(count_notes(SAGA_NOTE_UNSTUCK), 0);
    assert_int_equal(STEP(INV).status, SAGA_STEP_CONFIRMING);
    reply(T0 + 31, INV, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_ignored(INV, "saga is terminal");
}

static void test_unknown_event_kind(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    saga_state before = st;
    assert_int_equal(apply((saga_event){.kind = (saga_event_kind)42,
                                        .now_ms = T0}),
                     SAGA_EINVAL);
    assert_string_equal(err.msg, "unknown event kind 42");
    assert_memory_equal(&before, &st, sizeof st);
    /* err may be NULL */
    saga_event ev = {.kind = SAGA_EV_ABORT, .now_ms = T0};
    linear_to_confirming();
    assert_int_equal(saga_machine_apply(&spec, &st, &ev, &out, NULL),
                     SAGA_ECONFLICT);
}

/* --- limits ----------------------------------------------------------------- */

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 0;
        if (n == 0)
            return false;
        for (int k = 1; k < n; k++)
            if ((p[k] & 0xC0) != 0x80)
                return false;
        p += n;
    }
    return true;
}

static void test_long_reasons_cut_on_utf8_boundaries(void **state)
{
    (void)state;
    const char *glyphs[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x92\xb3"};
    for (size_t g = 0; g < 3; g++) {
        for (size_t lead = 0; lead < 4; lead++) {
            char reason[2048] = "";
            for (size_t k = 0; k < lead; k++)
                strcat(reason, "x");
            for (int k = 0; k < 300; k++)
                strcat(reason, glyphs[g]);
            spec_linear();
            begin(T0);
            reply_r(T0 + 1, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED,
                    reason);
            size_t len = strlen(STEP(INV).last_error);
            assert_true(len <= SAGA_MACHINE_ERROR_MAX - 1);
            assert_true(len >= SAGA_MACHINE_ERROR_MAX - 4);
            assert_true(valid_utf8(STEP(INV).last_error));
            for (size_t i = 0; i < out.n_notes; i++)
                assert_true(valid_utf8(out.notes[i].text));
        }
    }
    /* invalid UTF-8 from a participant is not repaired, only not worsened */
    char junk[400];
    memset(junk, 0x80, sizeof junk - 1);
    junk[sizeof junk - 1] = '\0';
    spec_linear();
    begin(T0);
    reply_r(T0 + 1, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED, junk);
    assert_int_equal(strlen(STEP(INV).last_error), SAGA_MACHINE_ERROR_MAX - 1);

    /* ASCII is cut at the exact limit */
    char reason[600];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    spec_linear();
    begin(T0);
    reply_r(T0 + 1, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED, reason);
    assert_int_equal(strlen(STEP(INV).last_error), SAGA_MACHINE_ERROR_MAX - 1);
}

/* 64 parallel roots: the widest fan-out and the most notes one apply makes. */
static void test_capacity_64_steps(void **state)
{
    (void)state;
    spec_begin();
    for (int i = 0; i < SAGA_SPEC_MAX_STEPS; i++) {
        snprintf(step_names[i], sizeof step_names[i], "s%d", i);
        add_step(step_names[i], "p", true, false, 0);
    }
    const int last = SAGA_SPEC_MAX_STEPS - 1;
    begin(T0);
    assert_int_equal(out.n_cmds, SAGA_SPEC_MAX_STEPS);
    /* push the last step to its final attempt, then let everything time out
     * together: 63 backoffs, one exhaustion, 64 compensations */
    assert_int_equal(op_retry(T0, last), 0);
    assert_int_equal(op_retry(T0, last), 0);
    assert_int_equal(STEP(last).attempt, 3);
    timer(T0 + 4 * TIMEOUT); /* attempt 3 waits 4 timeouts */
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_int_equal(out.n_cmds, SAGA_SPEC_MAX_STEPS);
    assert_int_equal(count_notes(SAGA_NOTE_BACKOFF), SAGA_SPEC_MAX_STEPS - 1);
    assert_int_equal(count_notes(SAGA_NOTE_TIMEOUT), SAGA_SPEC_MAX_STEPS);
    assert_true(out.n_notes <= SAGA_EFFECTS_MAX_NOTES);
    for (int i = 0; i < SAGA_SPEC_MAX_STEPS; i++)
        assert_true(has_cmd(i, SAGA_ACT_COMPENSATE, 1));

    /* and the happy path: 64 confirms in one apply */
    begin(T0);
    for (int i = 0; i < SAGA_SPEC_MAX_STEPS; i++)
        reply(T0 + 1, i, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_int_equal(out.n_cmds, SAGA_SPEC_MAX_STEPS);
    timer(T0 + 1 + TIMEOUT);
    assert_int_equal(count_notes(SAGA_NOTE_TIMEOUT), SAGA_SPEC_MAX_STEPS);
    assert_int_equal(count_notes(SAGA_NOTE_BACKOFF), SAGA_SPEC_MAX_STEPS);
    assert_int_equal(op_retry(T0 + 2 + TIMEOUT, -1), 0);
    assert_int_equal(out.n_cmds, SAGA_SPEC_MAX_STEPS);
}

/* --- scheduled starts and saga deadlines (machine_flows.c) ----------------- */

#define DEADLINE 5000

static void begin_opts(int64_t now, int64_t deadline, int64_t start_at)
{
    saga_machine_opts o = {.deadline_ms = deadline, .start_at_ms = start_at};
    saga_machine_init_opts(&spec, &st, now, &o);
}

static void test_scheduled_init_waits(void **state)
{
    (void)state;
    spec_linear();
    begin_opts(T0, DEADLINE, T0 + 600000);
    assert_int_equal(st.status, SAGA_SCHEDULED);
    assert_int_equal(st.wake_ms, T0 + 600000);
    assert_int_equal(st.deadline_at_ms, 0); /* armed only when it runs */
    assert_false(saga_status_terminal(st.status));
    /* a start time not in the future is an ordinary start */
    begin_opts(T0, 0, T0);
    assert_int_equal(st.status, SAGA_RUNNING);
    assert_int_equal(st.start_at_ms, 0);
    /* no options at all */
    saga_machine_init_opts(&spec, &st, T0, NULL);
    assert_int_equal(st.status, SAGA_RUNNING);
    assert_int_equal(st.deadline_ms, 0);
}

static void test_scheduled_early_timer_and_start_refused(void **state)
{
    (void)state;
    spec_linear();
    begin_opts(T0, 0, T0 + 600000);
    timer(T0 + 1000); /* woken early (a NOTIFY): nothing happens */
    assert_int_equal(st.status, SAGA_SCHEDULED);
    assert_int_equal(out.n_cmds, 0);
    assert_false(out.changed);
    assert_int_equal(st.wake_ms, T0 + 600000);
    /* never flagged stuck however long it waits */
    timer(T0 + 599999);
    assert_false(st.stuck);
    assert_int_equal(out.n_notes, 0);
    /* START is refused: it starts by itself */
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}),
                     SAGA_ECONFLICT);
    assert_string_equal(err.msg, "saga is SCHEDULED: it starts by itself when due");
    assert_int_equal(st.status, SAGA_SCHEDULED);
    /* a stray reply is ignored */
    reply(T0 + 2, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_false(out.reply_applied);
    assert_int_equal(st.status, SAGA_SCHEDULED);
    /* retry has nothing to re-send */
    assert_int_equal(op_retry(T0 + 3, -1), SAGA_ECONFLICT);
}

static void test_scheduled_starts_when_due(void **state)
{
    (void)state;
    spec_linear();
    begin_opts(T0, DEADLINE, T0 + 600000);
    timer(T0 + 600005);
    assert_int_equal(st.status, SAGA_RUNNING);
    assert_true(out.started);
    assert_note(SAGA_NOTE_TRANSITION, -1, "SCHEDULED -> RUNNING: scheduled start");
    assert_cmds1(INV, SAGA_ACT_RESERVE, 1, T0 + 600005 + TIMEOUT);
    /* the deadline counts from the real start */
    assert_int_equal(st.deadline_at_ms, T0 + 600005 + DEADLINE);
    assert_int_equal(st.progress_ms, T0 + 600005);
    assert_int_equal(st.wake_ms, T0 + 600005 + TIMEOUT);
}

static void test_scheduled_abort_sends_nothing(void **state)
{
    (void)state;
    spec_linear();
    begin_opts(T0, 0, T0 + 600000);
    assert_int_equal(op_abort(T0 + 5, "customer cancelled"), 0);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_true(st.aborted);
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(st.wake_ms, 0);
    assert_note(SAGA_NOTE_OPERATOR, -1, "abort: customer cancelled");
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "SCHEDULED -> COMPENSATED: aborted by operator before its "
                "scheduled start: customer cancelled");
    for (size_t i = 0; i < st.n_steps; i++)
        assert_int_equal(STEP(i).status, SAGA_STEP_PENDING);
    /* and a later timer finds it finished */
    timer(T0 + 600000);
    assert_int_equal(out.n_cmds, 0);
    /* abort without a reason; resolve works too */
    begin_opts(T0, 0, T0 + 600000);
    assert_int_equal(op_abort(T0 + 5, NULL), 0);
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "SCHEDULED -> COMPENSATED: aborted by operator before its "
                "scheduled start");
    begin_opts(T0, 0, T0 + 600000);
    assert_int_equal(op_resolve(T0 + 5, SAGA_COMPLETED, "done by hand"), 0);
    assert_int_equal(st.status, SAGA_COMPLETED);
    assert_int_equal(st.wake_ms, 0);
}

static void test_deadline_armed_and_in_wake(void **state)
{
    (void)state;
    spec_linear();
    defs[INV].timeout_ms = 10 * DEADLINE;
    begin_opts(T0, DEADLINE, 0);
    assert_int_equal(st.deadline_at_ms, T0 + DEADLINE);
    assert_int_equal(st.wake_ms, T0 + DEADLINE);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
    /* the deadline comes before the step's own timeout */
    assert_int_equal(st.wake_ms, T0 + DEADLINE);
    timer(T0 + DEADLINE - 1);
    assert_int_equal(st.status, SAGA_RUNNING);
    assert_false(out.deadline_expired);
}

static void test_deadline_compensates_in_flight_and_reserved(void **state)
{
    (void)state;
    spec_linear();
    begin_opts(T0, 30000, 0);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    /* payment's reserve is in flight when the deadline passes */
    defs[PAY].timeout_ms = 60000;
    timer(T0 + 30000);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_true(st.deadline_expired);
    assert_true(out.deadline_expired);
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPENSATING: deadline of 30s passed");
    /* payment (in flight, outcome unknown) is undone first, then inventory */
    assert_cmds1(PAY, SAGA_ACT_COMPENSATE, 1, T0 + 30000 + 60000);
    assert_int_equal(STEP(PAY).status, SAGA_STEP_COMPENSATING);
    assert_int_equal(STEP(INV).status, SAGA_STEP_RESERVED);
    /* the late reserve reply is ignored */
    reply_r(T0 + 30001, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK, NULL);
    assert_false(out.reply_applied);
    reply(T0 + 30002, PAY, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_true(has_cmd(INV, SAGA_ACT_COMPENSATE, 1));
    reply(T0 + 30003, INV, SAGA_ACT_COMPENSATE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_false(out.deadline_expired); /* counted once */
}

static void test_deadline_named_in_stuck_reason(void **state)
{
    (void)state;
    spec_linear();
    begin_opts(T0, 2000, 0);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
    timer(T0 + 2000);
    assert_note(SAGA_NOTE_TRANSITION, -1, "RUNNING -> COMPENSATING: deadline of 2s passed");
    /* the compensation is never answered: stuck, and the reason says why
     * the saga is compensating */
    timer(T0 + 2000 + STUCK);
    assert_true(st.stuck);
    assert_non_null(strstr(st.stuck_reason, "deadline of 2s passed; "));
    assert_non_null(strstr(st.stuck_reason, "COMPENSATE"));
}

static void test_deadline_compensates_unknown_outcome(void **state)
{
    (void)state;
    spec_linear();
    begin_opts(T0, DEADLINE, 0);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
    timer(T0 + TIMEOUT); /* inventory times out: backing off */
    assert_true(STEP(INV).retry_at_ms > 0);
    timer(T0 + DEADLINE);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_true(has_cmd(INV, SAGA_ACT_COMPENSATE, 1));
    assert_int_equal(out.n_cmds, 1); /* no re-send of the reserve */
    assert_note(SAGA_NOTE_STEP, INV, "RESERVING -> COMPENSATING: reserve outcome unknown");
}

static void test_deadline_noticed_by_a_reply(void **state)
{
    (void)state;
    spec_linear();
    begin_opts(T0, DEADLINE, 0);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
    /* the OK arrives after the deadline, before the timer fired: too late */
    reply_r(T0 + DEADLINE + 1, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK, NULL);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_true(out.deadline_expired);
    assert_false(out.reply_applied);
    assert_true(has_cmd(INV, SAGA_ACT_COMPENSATE, 1));
    assert_int_equal(STEP(PAY).status, SAGA_STEP_PENDING);
}

static void test_deadline_no_longer_applies_once_confirming(void **state)
{
    (void)state;
    spec_linear();
    defs[PAY].timeout_ms = 10 * DEADLINE;
    begin_opts(T0, DEADLINE, 0);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 20, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    /* wake is the confirms' timeout, not the deadline */
    assert_int_equal(st.wake_ms, T0 + 20 + TIMEOUT);
    timer(T0 + DEADLINE + 1);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_false(out.deadline_expired);
    reply(T0 + DEADLINE + 2, INV, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    reply(T0 + DEADLINE + 3, PAY, SAGA_ACT_CONFIRM, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_COMPLETED);
    assert_false(st.deadline_expired);
}

static void test_deadline_after_rejection_changes_nothing(void **state)
{
    (void)state;
    spec_linear();
    begin_opts(T0, DEADLINE, 0);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    timer(T0 + DEADLINE);
    assert_false(out.deadline_expired);
    assert_false(st.deadline_expired);
    /* an operator abort before the deadline: compensation, no expiry */
    begin_opts(T0, DEADLINE, 0);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
    assert_int_equal(op_abort(T0 + 1, NULL), 0);
    timer(T0 + DEADLINE);
    assert_false(st.deadline_expired);
}

/* --- circuit breakers ------------------------------------------------------- */

static const char *const PAYMENT_OPEN[] = {"payment"};

/* An event with payment's circuit refusing this saga new RESERVEs. */
static int apply_open(saga_event ev)
{
    ev.circuit_open = PAYMENT_OPEN;
    ev.n_circuit_open = 1;
    return apply(ev);
}

static bool has_obs(int step, saga_circuit_obs_kind kind)
{
    for (size_t i = 0; i < out.n_circuit; i++)
        if (out.circuit[i].step == step && out.circuit[i].kind == kind)
            return true;
    return false;
}

static void test_circuit_holds_first_reserve(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    assert_true(has_obs(INV, SAGA_CIRCUIT_SENT));
    assert_int_equal(apply_open((saga_event){.kind = SAGA_EV_REPLY, .now_ms = T0 + 10,
                                             .step = INV, .action = SAGA_ACT_RESERVE,
                                             .attempt = 1, .outcome = SAGA_OUT_OK}),
                     0);
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(STEP(PAY).status, SAGA_STEP_PENDING);
    assert_int_equal(STEP(PAY).reserve_attempts, 0);
    assert_note(SAGA_NOTE_CIRCUIT, PAY, "RESERVE held: payment circuit open");
    assert_true(has_obs(INV, SAGA_CIRCUIT_SUCCESS));
    assert_true(has_obs(PAY, SAGA_CIRCUIT_HELD));
    /* Nothing to wake for but the stuck check: the shell wakes it. */
    assert_int_equal(st.wake_ms, T0 + 10 + STUCK);
    assert_int_equal(st.status, SAGA_RUNNING);
}

static void test_circuit_timer_sends_held_reserve_once_closed(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    apply_open((saga_event){.kind = SAGA_EV_REPLY, .now_ms = T0 + 10, .step = INV,
                            .action = SAGA_ACT_RESERVE, .attempt = 1,
                            .outcome = SAGA_OUT_OK});
    /* Still open: a timer holds it again and sends nothing. */
    assert_int_equal(apply_open((saga_event){.kind = SAGA_EV_TIMER, .now_ms = T0 + 500}), 0);
    assert_int_equal(out.n_cmds, 0);
    assert_true(has_obs(PAY, SAGA_CIRCUIT_HELD));
    /* Closed (or this saga is the half-open probe): it goes out. */
    timer(T0 + 1000);
    assert_cmds1(PAY, SAGA_ACT_RESERVE, 1, T0 + 1000 + TIMEOUT);
    assert_int_equal(STEP(PAY).status, SAGA_STEP_RESERVING);
    assert_true(has_obs(PAY, SAGA_CIRCUIT_SENT));
    assert_int_equal(count_notes(SAGA_NOTE_CIRCUIT), 0);
}

static void test_circuit_holds_fresh_saga_roots(void **state)
{
    (void)state;
    spec_begin();
    add_step("charge_payment", "payment", true, false, 0);
    saga_machine_init(&spec, &st, T0);
    assert_int_equal(apply_open((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
    assert_int_equal(out.n_cmds, 0);
    assert_false(out.started);
    assert_true(has_obs(0, SAGA_CIRCUIT_HELD));
    /* Its first timer after the circuit closed starts it. */
    timer(T0 + 100);
    assert_cmds1(0, SAGA_ACT_RESERVE, 1, T0 + 100 + TIMEOUT);
    assert_true(out.started);
}

static void test_circuit_holds_resend_after_backoff(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 20, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_RETRY);
    assert_true(has_obs(PAY, SAGA_CIRCUIT_FAILURE));
    assert_int_equal(STEP(PAY).retry_at_ms, T0 + 20 + 100);
    assert_int_equal(apply_open((saga_event){.kind = SAGA_EV_TIMER, .now_ms = T0 + 120}), 0);
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(STEP(PAY).attempt, 1);
    assert_int_equal(STEP(PAY).status, SAGA_STEP_RESERVING);
    assert_note(SAGA_NOTE_CIRCUIT, PAY, "RESERVE held: payment circuit open");
    /* The due re-send is no wake-up: only the stuck check is left. */
    assert_int_equal(st.wake_ms, T0 + 10 + STUCK);
    timer(T0 + 5000);
    assert_cmds1(PAY, SAGA_ACT_RESERVE, 2, T0 + 5000 + 2 * TIMEOUT);
}

static void test_circuit_timeout_is_a_failure(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    timer(T0 + TIMEOUT);
    assert_true(has_obs(INV, SAGA_CIRCUIT_FAILURE));
    assert_false(has_obs(INV, SAGA_CIRCUIT_SUCCESS));
    /* A REJECTED is an answer: the participant is up. */
    reply(T0 + TIMEOUT + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_true(has_obs(INV, SAGA_CIRCUIT_SUCCESS));
    /* An ignored reply tells the breaker nothing. */
    reply(T0 + TIMEOUT + 20, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_REJECTED);
    assert_int_equal(out.n_circuit, 0);
}

static void test_circuit_reject_compensates(void **state)
{
    (void)state;
    spec_linear();
    defs[PAY].circuit.on_open = SAGA_CIRCUIT_REJECT;
    begin(T0);
    assert_int_equal(apply_open((saga_event){.kind = SAGA_EV_REPLY, .now_ms = T0 + 10,
                                             .step = INV, .action = SAGA_ACT_RESERVE,
                                             .attempt = 1, .outcome = SAGA_OUT_OK}),
                     0);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_note(SAGA_NOTE_TRANSITION, -1,
                "RUNNING -> COMPENSATING: step charge_payment: circuit open, "
                "participant payment");
    assert_note(SAGA_NOTE_CIRCUIT, PAY, "RESERVE refused: payment circuit open");
    assert_cmds1(INV, SAGA_ACT_COMPENSATE, 1, T0 + 10 + TIMEOUT);
    assert_int_equal(STEP(PAY).status, SAGA_STEP_PENDING);
    assert_string_equal(STEP(PAY).last_error, "circuit open");
    assert_false(has_obs(PAY, SAGA_CIRCUIT_HELD));
}

static void test_circuit_reject_on_resend(void **state)
{
    (void)state;
    spec_linear();
    defs[PAY].circuit.on_open = SAGA_CIRCUIT_REJECT;
    begin(T0);
    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 20, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_RETRY);
    assert_int_equal(apply_open((saga_event){.kind = SAGA_EV_TIMER, .now_ms = T0 + 120}), 0);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    /* The RETRYed attempt may have taken effect: undone, children first. */
    assert_int_equal(STEP(PAY).status, SAGA_STEP_COMPENSATING);
    assert_true(has_cmd(PAY, SAGA_ACT_COMPENSATE, 1));
    assert_false(has_cmd(PAY, SAGA_ACT_RESERVE, 2));
}

static void test_circuit_never_holds_confirm_or_compensate(void **state)
{
    (void)state;
    spec_linear();
    begin(T0);
    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 20, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_int_equal(apply_open((saga_event){.kind = SAGA_EV_REPLY, .now_ms = T0 + 30,
                                             .step = PAY, .action = SAGA_ACT_CONFIRM,
                                             .attempt = 1, .outcome = SAGA_OUT_RETRY}),
                     0);
    assert_true(has_obs(PAY, SAGA_CIRCUIT_FAILURE));
    assert_int_equal(apply_open((saga_event){.kind = SAGA_EV_TIMER, .now_ms = T0 + 130}), 0);
    assert_cmds1(PAY, SAGA_ACT_CONFIRM, 2, T0 + 130 + 2 * TIMEOUT);

    spec_linear();
    begin(T0);
    reply(T0 + 10, INV, SAGA_ACT_RESERVE, 1, SAGA_OUT_OK);
    reply(T0 + 20, PAY, SAGA_ACT_RESERVE, 1, SAGA_OUT_RETRY);
    assert_int_equal(apply_open((saga_event){.kind = SAGA_EV_ABORT, .now_ms = T0 + 30}), 0);
    assert_true(has_cmd(PAY, SAGA_ACT_COMPENSATE, 1));
    assert_int_equal(count_notes(SAGA_NOTE_CIRCUIT), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_backoff_exponential_and_cap),
        cmocka_unit_test(test_backoff_jitter_bounds),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_start_dispatches_roots),
        cmocka_unit_test(test_start_refused_twice),
        cmocka_unit_test(test_timer_starts_fresh_saga),
        cmocka_unit_test(test_happy_path_linear),
        cmocka_unit_test(test_parallel_dispatch),
        cmocka_unit_test(test_diamond_happy),
        cmocka_unit_test(test_single_step),
        cmocka_unit_test(test_steps_without_confirm),
        cmocka_unit_test(test_irreversible_goes_last),
        cmocka_unit_test(test_reject_compensates_in_reverse),
        cmocka_unit_test(test_reject_without_reason),
        cmocka_unit_test(test_diamond_compensation_order),
        cmocka_unit_test(test_diamond_exhausted_step_compensated_first),
        cmocka_unit_test(test_timeout_backoff_retry_success),
        cmocka_unit_test(test_jitter_used_for_backoff),
        cmocka_unit_test(test_exhausted_compensates_unknown_and_in_flight),
        cmocka_unit_test(test_retry_replies_on_reserve),
        cmocka_unit_test(test_irreversible_exhausted_is_skipped),
        cmocka_unit_test(test_irreversible_reserved_is_skipped),
        cmocka_unit_test(test_confirm_rejected_retried_for_ever),
        cmocka_unit_test(test_confirm_timeout_and_retry_reply),
        cmocka_unit_test(test_compensate_rejected_and_timeout_retried),
        cmocka_unit_test(test_duplicate_reply),
        cmocka_unit_test(test_earlier_ok_applied),
        cmocka_unit_test(test_earlier_rejected_applied),
        cmocka_unit_test(test_earlier_retry_ignored),
        cmocka_unit_test(test_earlier_reply_not_pending_or_never_sent),
        cmocka_unit_test(test_earlier_rejected_confirm_counts_once),
        cmocka_unit_test(test_deadline_grows_with_attempts),
        cmocka_unit_test(test_late_reply_after_timeout),
        cmocka_unit_test(test_timeout_racing_reply),
        cmocka_unit_test(test_reply_validation),
        cmocka_unit_test(test_stuck_set_and_cleared),
        cmocka_unit_test(test_stuck_reason_compensate),
        cmocka_unit_test(test_stuck_reason_backing_off_and_refreshed),
        cmocka_unit_test(test_stuck_names_worst_step),
        cmocka_unit_test(test_stuck_with_nothing_pending),
        cmocka_unit_test(test_stuck_disabled),
        cmocka_unit_test(test_wake_ms),
        cmocka_unit_test(test_operator_retry_in_flight),
        cmocka_unit_test(test_operator_retry_backing_off_resets_backoff),
        cmocka_unit_test(test_operator_retry_grants_one_more_reserve),
        cmocka_unit_test(test_operator_retry_refused),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_abort_backing_off_and_without_reason),
        cmocka_unit_test(test_abort_refused_when_confirming),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_resolve_confirming_as_completed),
        cmocka_unit_test(test_unknown_event_kind),
        cmocka_unit_test(test_long_reasons_cut_on_utf8_boundaries),
        cmocka_unit_test(test_capacity_64_steps),
        cmocka_unit_test(test_scheduled_init_waits),
        cmocka_unit_test(test_scheduled_early_timer_and_start_refused),
        cmocka_unit_test(test_scheduled_starts_when_due),
        cmocka_unit_test(test_scheduled_abort_sends_nothing),
        cmocka_unit_test(test_deadline_armed_and_in_wake),
        cmocka_unit_test(test_deadline_compensates_in_flight_and_reserved),
        cmocka_unit_test(test_deadline_compensates_unknown_outcome),
        cmocka_unit_test(test_deadline_named_in_stuck_reason),
        cmocka_unit_test(test_deadline_noticed_by_a_reply),
        cmocka_unit_test(test_deadline_no_longer_applies_once_confirming),
        cmocka_unit_test(test_deadline_after_rejection_changes_nothing),
        cmocka_unit_test(test_circuit_holds_first_reserve),
        cmocka_unit_test(test_circuit_timer_sends_held_reserve_once_closed),
        cmocka_unit_test(test_circuit_holds_fresh_saga_roots),
        cmocka_unit_test(test_circuit_holds_resend_after_backoff),
        cmocka_unit_test(test_circuit_timeout_is_a_failure),
        cmocka_unit_test(test_circuit_reject_compensates),
        cmocka_unit_test(test_circuit_reject_on_resend),
        cmocka_unit_test(test_circuit_never_holds_confirm_or_compensate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
