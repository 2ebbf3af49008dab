/*
 * test_worker_barrier.c - the barrier's rules (saga_barrier_decide) for
 * every action against every combination of what the step already
 * recorded: empty compensation, hanging and late reserves,
 * confirm/compensate conflicts. (Duplicates are covered end to end by
 * tests/integration/it_workers.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "barrier.h"

#define RES SAGA_WORKER_RESERVE
#define CON SAGA_WORKER_CONFIRM
#define CMP SAGA_WORKER_COMPENSATE
#define OK SAGA_WORKER_OK
#define REJ SAGA_WORKER_REJECTED

static saga_barrier_seen seen(int reserve, int confirm, int compensate)
{
    saga_barrier_seen s;
    memset(&s, 0, sizeof s);
    s.outcome[RES] = (saga_worker_outcome)reserve;
    s.outcome[CON] = (saga_worker_outcome)confirm;
    s.outcome[CMP] = (saga_worker_outcome)compensate;
    return s;
}

static void expect_record(saga_worker_action a, saga_barrier_seen s, int outcome,
                          const char *reason, bool anomaly)
{
    saga_barrier_decision d = saga_barrier_decide(a, &s);
    assert_int_equal(d.verdict, SAGA_BARRIER_RECORD);
    assert_int_equal(d.outcome, outcome);
    assert_string_equal(d.reason, reason);
    assert_int_equal(d.anomaly, anomaly);
}

static void expect_handle(saga_worker_action a, saga_barrier_seen s)
{
    assert_int_equal(saga_barrier_decide(a, &s).verdict, SAGA_BARRIER_HANDLE);
}

static void test_first_reserve_runs_the_handler(void **state)
{
    (void)state;
    expect_handle(RES, seen(0, 0, 0));
}

static void test_hanging_and_late_reserve(void **state)
{
    (void)state;
    expect_record(RES, seen(0, 0, OK), REJ, SAGA_BARRIER_HANGING, true);
    expect_record(RES, seen(0, 0, REJ), REJ, SAGA_BARRIER_HANGING, true);
    expect_record(RES, seen(0, OK, 0), REJ, SAGA_BARRIER_LATE, true);
    expect_record(RES, seen(0, REJ, 0), REJ, SAGA_BARRIER_LATE, true);
}

static void test_confirm(void **state)
{
    (void)state;
    expect_handle(CON, seen(OK, 0, 0));
    /* A compensate refused (because of an earlier confirm attempt's
     * conflict) did not undo anything: confirming is still allowed. */
    expect_handle(CON, seen(OK, 0, REJ));
    expect_record(CON, seen(OK, 0, OK), REJ, SAGA_BARRIER_COMPENSATED, true);
    expect_record(CON, seen(0, 0, OK), REJ, SAGA_BARRIER_COMPENSATED, true);
    expect_record(CON, seen(0, 0, 0), REJ, SAGA_BARRIER_NOTHING_TO_CONFIRM, true);
    expect_record(CON, seen(REJ, 0, 0), REJ, SAGA_BARRIER_NOTHING_TO_CONFIRM, true);
}

static void test_compensate(void **state)
{
    (void)state;
    expect_handle(CMP, seen(OK, 0, 0));
    expect_handle(CMP, seen(OK, REJ, 0));
    expect_record(CMP, seen(OK, OK, 0), REJ, SAGA_BARRIER_CONFIRMED, true);

    saga_barrier_seen none = seen(0, 0, 0);
    saga_barrier_decision d = saga_barrier_decide(CMP, &none);
    assert_int_equal(d.verdict, SAGA_BARRIER_RECORD);
    assert_int_equal(d.outcome, OK);
    assert_false(d.anomaly);
    assert_string_equal(d.result, SAGA_BARRIER_EMPTY_RESULT);

    saga_barrier_seen rejected = seen(REJ, 0, 0);
    d = saga_barrier_decide(CMP, &rejected);
    assert_int_equal(d.verdict, SAGA_BARRIER_RECORD);
    assert_int_equal(d.outcome, OK);
    assert_string_equal(d.result, SAGA_BARRIER_NOOP_RESULT);
}

/* Whatever the history, an applied CONFIRM and an applied COMPENSATE never
 * both happen: walk every order of the three actions. */
static void test_confirm_and_compensate_exclude_each_other(void **state)
{
    (void)state;
    static const int orders[6][3] = {{RES, CON, CMP}, {RES, CMP, CON}, {CON, RES, CMP},
                                     {CON, CMP, RES}, {CMP, RES, CON}, {CMP, CON, RES}};
    for (int reserve_ok = 0; reserve_ok <= 1; reserve_ok++)
        for (int i = 0; i < 6; i++) {
            saga_barrier_seen s = seen(0, 0, 0);
            bool confirmed = false, compensated = false;
            for (int j = 0; j < 3; j++) {
                saga_worker_action a = (saga_worker_action)orders[i][j];
                saga_barrier_decision d = saga_barrier_decide(a, &s);
                saga_worker_outcome o = d.outcome;
                if (d.verdict == SAGA_BARRIER_HANDLE) {
                    /* The handler: reserve succeeds or not; others succeed. */
                    o = (a == RES && !reserve_ok) ? REJ : OK;
                    confirmed |= a == CON;
                    compensated |= a == CMP;
                }
                s.outcome[a] = o;
            }
            assert_false(confirmed && compensated);
            if (compensated || confirmed)
                assert_int_equal(s.outcome[RES], OK);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_reserve_runs_the_handler),
        cmocka_unit_test(test_hanging_and_late_reserve),
        cmocka_unit_test(test_confirm),
        cmocka_unit_test(test_compensate),
        cmocka_unit_test(test_confirm_and_compensate_exclude_each_other),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
