/*
 * test_machine_flows.c - the decision core's signal steps and sub-sagas
 * (machine_signal.c, machine_family.c): every transition they add.
 *
 * Kept apart from test_machine.c, which covers the participant steps and
 * is already long; the specs are built by hand in the same way, so each
 * case states the graph it exercises: a task, then a signal step, then a
 * task using nothing (linear), and for sub-sagas the child's side (a held
 * saga of two task steps) and the parent's side (a sub-saga step between
 * two tasks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "machine.h"

#define T0 1700000000000LL
#define TIMEOUT 1000
#define WAIT 60000
#define STUCK 600000

static saga_spec spec;
static saga_step_def defs[4];
static size_t afters[4][1];
static saga_state st;
static saga_effects out;
static saga_error err;

static void add(const char *name, saga_step_kind kind)
{
    size_t i = spec.n_steps++;
    saga_step_def *d = &defs[i];
    memset(d, 0, sizeof *d);
    d->name = (char *)name;
    d->kind = kind;
    d->retry = spec.retry;
    d->timeout_ms = TIMEOUT;
    if (kind == SAGA_STEP_TASK) {
        d->participant = "p";
        d->topic = "saga.p.commands";
        d->reserve.command = "reserve";
        d->confirm.command = "confirm";
        d->compensate.command = "release";
    } else if (kind == SAGA_STEP_SIGNAL) {
        d->timeout_ms = WAIT;
        d->retry.max_attempts = 1;
    } else {
        d->subsaga = "child";
        d->reserve.command = "start";
        d->confirm.command = "confirm";
        d->compensate.command = "compensate";
        d->retry.max_attempts = 1;
        d->timeout_ms = WAIT;
    }
    if (i > 0) {
        afters[i][0] = i - 1;
        d->after = afters[i];
        d->n_after = 1;
    }
}

/* kinds: a string of 't' (task), 's' (signal), 'c' (sub-saga) */
static void build(const char *kinds)
{
    static const char *const names[] = {"first", "second", "third", "fourth"};
    memset(&spec, 0, sizeof spec);
    spec.name = "flows";
    spec.version = 1;
    spec.description = "";
    spec.timeout_ms = TIMEOUT;
    spec.retry = (saga_retry_policy){3, 100, 1000, 2.0, 0.0};
    spec.stuck_after_ms = STUCK;
    spec.steps = defs;
    for (size_t i = 0; kinds[i]; i++)
        add(names[i], kinds[i] == 't'   ? SAGA_STEP_TASK
                      : kinds[i] == 's' ? SAGA_STEP_SIGNAL
                                        : SAGA_STEP_SAGA);
}

static int apply(saga_event ev)
{
    return saga_machine_apply(&spec, &st, &ev, &out, &err);
}

static void begin(bool held)
{
    saga_machine_init(&spec, &st, T0);
    st.held = held;
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_START, .now_ms = T0}), 0);
}

static void ok(int64_t now, int step, saga_action a)
{
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_REPLY, .now_ms = now,
                                        .step = step, .action = a, .attempt = 1,
                                        .outcome = SAGA_OUT_OK}),
                     0);
}

static int signal_ev(int64_t now, int step, bool approve, const char *reason)
{
    return apply((saga_event){.kind = SAGA_EV_SIGNAL, .now_ms = now, .step = step,
                              .approve = approve, .reason = reason});
}

static int parent(int64_t now, saga_action a, int attempt)
{
    return apply((saga_event){.kind = SAGA_EV_PARENT, .now_ms = now, .action = a,
                              .attempt = attempt});
}

static bool has_note(saga_note_kind k, const char *text)
{
    for (size_t i = 0; i < out.n_notes; i++)
        if (out.notes[i].kind == k && strstr(out.notes[i].text, text))
            return true;
    return false;
}

/* --- signal steps ---------------------------------------------------------- */

static void test_signal_waits_without_command(void **state)
{
    (void)state;
    build("tst");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(out.n_cmds, 0); /* nothing is sent for a signal step */
    assert_int_equal(st.steps[1].status, SAGA_STEP_RESERVING);
    assert_int_equal(st.steps[1].deadline_ms, T0 + 10 + WAIT);
    assert_int_equal(st.wake_ms, T0 + 10 + WAIT);
    assert_true(has_note(SAGA_NOTE_STEP, "waiting for a signal"));
}

static void test_signal_approve_reserves_and_continues(void **state)
{
    (void)state;
    build("tst");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(signal_ev(T0 + 20, 1, true, "looks fine"), 0);
    assert_true(out.signal_applied);
    assert_int_equal(st.steps[1].status, SAGA_STEP_RESERVED);
    assert_int_equal(st.steps[1].reserve_outcome, SAGA_OUT_OK);
    assert_true(has_note(SAGA_NOTE_SIGNAL, "approved: looks fine"));
    assert_int_equal(out.n_cmds, 1);
    assert_int_equal(out.cmds[0].step, 2);
    /* and at the end the signal step is confirmed without a command */
    ok(T0 + 30, 2, SAGA_ACT_RESERVE);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_int_equal(st.steps[1].status, SAGA_STEP_CONFIRMED);
    assert_int_equal(out.n_cmds, 2);
}

static void test_signal_reject_compensates(void **state)
{
    (void)state;
    build("tst");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(signal_ev(T0 + 20, 1, false, "fraud"), 0);
    assert_false(out.signal_applied);
    assert_int_equal(st.steps[1].status, SAGA_STEP_REJECTED);
    assert_string_equal(st.steps[1].last_error, "fraud");
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_int_equal(out.n_cmds, 1);
    assert_int_equal(out.cmds[0].step, 0);
    assert_int_equal(out.cmds[0].action, SAGA_ACT_COMPENSATE);
}

static void test_signal_timeout_compensates(void **state)
{
    (void)state;
    build("tst");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_TIMER,
                                        .now_ms = T0 + 10 + WAIT - 1}), 0);
    assert_int_equal(st.steps[1].status, SAGA_STEP_RESERVING);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_TIMER,
                                        .now_ms = T0 + 10 + WAIT}), 0);
    assert_int_equal(st.steps[1].status, SAGA_STEP_REJECTED);
    assert_string_equal(st.steps[1].last_error, "no signal within 60000 ms");
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_true(has_note(SAGA_NOTE_TIMEOUT, "no signal within 60000 ms"));
}

static void test_signal_refused_when_not_waiting(void **state)
{
    (void)state;
    build("tst");
    begin(false);
    /* pending: first has not reserved yet */
    assert_int_equal(signal_ev(T0 + 5, 1, true, NULL), SAGA_ECONFLICT);
    assert_non_null(strstr(err.msg, "not waiting for a signal yet"));
    assert_int_equal(out.n_notes, 0);
    /* not a signal step */
    assert_int_equal(signal_ev(T0 + 5, 0, true, NULL), SAGA_EINVAL);
    assert_string_equal(err.msg, "step first is not a signal step");
    /* out of range */
    assert_int_equal(signal_ev(T0 + 5, 7, true, NULL), SAGA_ENOTFOUND);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(signal_ev(T0 + 20, 1, true, NULL), 0);
    /* duplicate */
    saga_state before = st;
    assert_int_equal(signal_ev(T0 + 30, 1, false, "late"), SAGA_ECONFLICT);
    assert_non_null(strstr(err.msg, "already approved"));
    assert_memory_equal(&before, &st, sizeof st);
}

static void test_signal_refused_on_finished_saga(void **state)
{
    (void)state;
    build("ts");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(signal_ev(T0 + 20, 1, false, "no"), 0);
    ok(T0 + 30, 0, SAGA_ACT_COMPENSATE);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(signal_ev(T0 + 40, 1, true, NULL), SAGA_ECONFLICT);
    assert_string_equal(err.msg, "saga is COMPENSATED: it no longer waits for signals");
}

static void test_signal_step_ignores_replies_and_retry(void **state)
{
    (void)state;
    build("ts");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    ok(T0 + 20, 1, SAGA_ACT_RESERVE); /* forged reply to the signal step */
    assert_int_equal(st.steps[1].status, SAGA_STEP_RESERVING);
    assert_true(has_note(SAGA_NOTE_REPLY_IGNORED, "takes signals, not replies"));
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_RETRY, .now_ms = T0 + 30,
                                        .step = -1}),
                     SAGA_ECONFLICT);
}

static void test_signal_waiting_compensated_at_once(void **state)
{
    (void)state;
    /* signal waiting, then the operator aborts: the signal step has nothing
     * to undo and must not hold up the step before it */
    build("ts");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_ABORT, .now_ms = T0 + 20,
                                        .op_reason = "x"}), 0);
    assert_int_equal(st.steps[1].status, SAGA_STEP_COMPENSATED);
    assert_int_equal(st.steps[0].status, SAGA_STEP_COMPENSATING);
    assert_int_equal(out.n_cmds, 1);
    assert_int_equal(out.cmds[0].step, 0);
}

static void test_signal_stuck_reason(void **state)
{
    (void)state;
    build("ts");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    spec.stuck_after_ms = 100;
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_TIMER, .now_ms = T0 + 200}), 0);
    assert_true(st.stuck);
    assert_string_equal(st.stuck_reason, "waiting for signal second");
}

/* --- sub-sagas: the child -------------------------------------------------- */

static void test_held_child_reports_reserved_and_waits(void **state)
{
    (void)state;
    build("tt");
    begin(true);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(out.report_action, SAGA_ACT_NONE);
    ok(T0 + 20, 1, SAGA_ACT_RESERVE);
    assert_int_equal(st.status, SAGA_RUNNING); /* no confirm on its own */
    assert_int_equal(out.n_cmds, 0);
    assert_int_equal(out.report_action, SAGA_ACT_RESERVE);
    assert_int_equal(out.report_outcome, SAGA_OUT_OK);
    assert_int_equal(out.report_attempt, 1);
    assert_true(has_note(SAGA_NOTE_REPORT, "told the parent: RESERVE OK"));
}

static void test_held_child_confirms_on_parent_order(void **state)
{
    (void)state;
    build("tt");
    begin(true);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    ok(T0 + 20, 1, SAGA_ACT_RESERVE);
    assert_int_equal(parent(T0 + 30, SAGA_ACT_CONFIRM, 1), 0);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_int_equal(out.n_cmds, 2);
    assert_int_equal(out.report_action, SAGA_ACT_NONE);
    /* a re-sent order while confirming: noted, nothing reported */
    assert_int_equal(parent(T0 + 35, SAGA_ACT_CONFIRM, 2), 0);
    assert_int_equal(out.report_action, SAGA_ACT_NONE);
    ok(T0 + 40, 0, SAGA_ACT_CONFIRM);
    ok(T0 + 50, 1, SAGA_ACT_CONFIRM);
    assert_int_equal(st.status, SAGA_COMPLETED);
    assert_int_equal(out.report_action, SAGA_ACT_CONFIRM);
    assert_int_equal(out.report_outcome, SAGA_OUT_OK);
    /* the parent re-sends after its timeout: answered again */
    assert_int_equal(parent(T0 + 60, SAGA_ACT_CONFIRM, 3), 0);
    assert_int_equal(out.report_action, SAGA_ACT_CONFIRM);
    assert_int_equal(out.report_attempt, 3);
}

static void test_held_child_compensates_on_parent_order(void **state)
{
    (void)state;
    build("tt");
    begin(true);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE); /* second still reserving */
    assert_int_equal(parent(T0 + 20, SAGA_ACT_COMPENSATE, 1), 0);
    assert_true(st.aborted);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    ok(T0 + 30, 1, SAGA_ACT_COMPENSATE);
    ok(T0 + 40, 0, SAGA_ACT_COMPENSATE);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(out.report_action, SAGA_ACT_COMPENSATE);
    assert_int_equal(out.report_outcome, SAGA_OUT_OK);
}

static void test_held_child_own_failure_reports_rejected(void **state)
{
    (void)state;
    build("tt");
    begin(true);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_REPLY, .now_ms = T0 + 20,
                                        .step = 1, .action = SAGA_ACT_RESERVE,
                                        .attempt = 1, .outcome = SAGA_OUT_REJECTED,
                                        .reason = "no truck"}), 0);
    ok(T0 + 30, 0, SAGA_ACT_COMPENSATE);
    assert_int_equal(st.status, SAGA_COMPENSATED);
    assert_int_equal(out.report_action, SAGA_ACT_RESERVE);
    assert_int_equal(out.report_outcome, SAGA_OUT_REJECTED);
    assert_string_equal(out.report_reason, "sub-saga step second: no truck");
    /* the parent compensates anyway (it had given up waiting): answered OK */
    assert_int_equal(parent(T0 + 40, SAGA_ACT_COMPENSATE, 1), 0);
    assert_int_equal(out.report_action, SAGA_ACT_COMPENSATE);
    assert_int_equal(out.report_outcome, SAGA_OUT_OK);
}

static void test_held_child_refuses_operator_and_bad_orders(void **state)
{
    (void)state;
    build("tt");
    begin(true);
    saga_state before = st;
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_ABORT, .now_ms = T0 + 1}),
                     SAGA_ECONFLICT);
    assert_non_null(strstr(err.msg, "held by its parent"));
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_RESOLVE, .now_ms = T0 + 1,
                                        .resolve_as = SAGA_COMPLETED}),
                     SAGA_ECONFLICT);
    assert_memory_equal(&before, &st, sizeof st);
    /* confirm before every step reserved */
    assert_int_equal(parent(T0 + 2, SAGA_ACT_CONFIRM, 1), SAGA_ECONFLICT);
    assert_int_equal(parent(T0 + 2, SAGA_ACT_RESERVE, 1), SAGA_EINVAL);
    /* once the parent has finished, the operator may act */
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_ABORT, .now_ms = T0 + 3,
                                        .parent_done = true}),
                     0);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    /* compensate after confirm is refused */
    build("t");
    begin(true);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(parent(T0 + 20, SAGA_ACT_CONFIRM, 1), 0);
    assert_int_equal(parent(T0 + 30, SAGA_ACT_COMPENSATE, 1), SAGA_ECONFLICT);
}

static void test_parent_event_without_parent_refused(void **state)
{
    (void)state;
    build("t");
    begin(false);
    assert_int_equal(parent(T0 + 1, SAGA_ACT_CONFIRM, 1), SAGA_ECONFLICT);
    assert_string_equal(err.msg, "saga has no parent to take orders from");
}

static void test_held_child_stuck_reason(void **state)
{
    (void)state;
    build("t");
    begin(true);
    spec.stuck_after_ms = 100;
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_TIMER, .now_ms = T0 + 500}), 0);
    assert_string_equal(st.stuck_reason, "every step reserved; waiting for the parent saga");
}

/* --- sub-sagas: the parent ------------------------------------------------- */

static void test_parent_runs_subsaga_step_as_task(void **state)
{
    (void)state;
    build("tct");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(out.n_cmds, 1); /* the child's start */
    assert_int_equal(out.cmds[0].step, 1);
    assert_int_equal(out.cmds[0].deadline_ms, T0 + 10 + WAIT);
    ok(T0 + 20, 1, SAGA_ACT_RESERVE); /* the child's report */
    ok(T0 + 30, 2, SAGA_ACT_RESERVE);
    assert_int_equal(st.status, SAGA_CONFIRMING);
    assert_int_equal(st.steps[1].status, SAGA_STEP_CONFIRMING);
    /* the child's reserve never reported in time: one attempt, compensate */
    build("tct");
    begin(false);
    ok(T0 + 10, 0, SAGA_ACT_RESERVE);
    assert_int_equal(apply((saga_event){.kind = SAGA_EV_TIMER,
                                        .now_ms = T0 + 10 + WAIT}), 0);
    assert_int_equal(st.status, SAGA_COMPENSATING);
    assert_int_equal(st.steps[1].status, SAGA_STEP_COMPENSATING);
    assert_int_equal(out.cmds[0].action, SAGA_ACT_COMPENSATE);
    assert_int_equal(out.cmds[0].step, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_waits_without_command),
        cmocka_unit_test(test_signal_approve_reserves_and_continues),
        cmocka_unit_test(test_signal_reject_compensates),
        cmocka_unit_test(test_signal_timeout_compensates),
        cmocka_unit_test(test_signal_refused_when_not_waiting),
        cmocka_unit_test(test_signal_refused_on_finished_saga),
        cmocka_unit_test(test_signal_step_ignores_replies_and_retry),
        cmocka_unit_test(test_signal_waiting_compensated_at_once),
        cmocka_unit_test(test_signal_stuck_reason),
        cmocka_unit_test(test_held_child_reports_reserved_and_waits),
        cmocka_unit_test(test_held_child_confirms_on_parent_order),
        cmocka_unit_test(test_held_child_compensates_on_parent_order),
        cmocka_unit_test(test_held_child_own_failure_reports_rejected),
        cmocka_unit_test(test_held_child_refuses_operator_and_bad_orders),
        cmocka_unit_test(test_parent_event_without_parent_refused),
        cmocka_unit_test(test_held_child_stuck_reason),
        cmocka_unit_test(test_parent_runs_subsaga_step_as_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
