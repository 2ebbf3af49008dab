/*
 * test_reconcile_rules.c - every kind of mismatch sagactl reconcile reports,
 * the agreements it must not report, and which kinds --repair may act on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "reconcile_rules.h"

enum { R = SAGA_ACT_RESERVE, C = SAGA_ACT_CONFIRM, X = SAGA_ACT_COMPENSATE };

static saga_recon_log log_of(saga_status st, int r, int c, int x)
{
    saga_recon_log l;
    memset(&l, 0, sizeof l);
    l.status = st;
    l.attempts[R] = r ? 1 : 0;
    l.outcome[R] = (saga_outcome)r;
    l.attempts[C] = c ? 1 : 0;
    l.outcome[C] = (saga_outcome)c;
    l.attempts[X] = x ? 1 : 0;
    l.outcome[X] = (saga_outcome)x;
    return l;
}

static saga_recon_seen seen_of(int r, int c, int x)
{
    saga_recon_seen s = {.answered = true};
    s.outcome[R] = (saga_outcome)r;
    s.outcome[C] = (saga_outcome)c;
    s.outcome[X] = (saga_outcome)x;
    return s;
}

static size_t compare(saga_recon_log l, saga_recon_seen s, saga_recon_mismatch *out)
{
    return saga_recon_compare(&l, &s, out);
}

static void test_agreement(void **state)
{
    (void)state;
    saga_recon_mismatch m[SAGA_RECON_MAX];
    /* completed: reserved and confirmed on both sides */
    assert_int_equal(compare(log_of(SAGA_COMPLETED, 1, 1, 0), seen_of(1, 1, 0), m), 0);
    /* compensated after a reserve */
    assert_int_equal(compare(log_of(SAGA_COMPENSATED, 1, 0, 1), seen_of(1, 0, 1), m), 0);
    /* rejected reserve, nothing else */
    assert_int_equal(compare(log_of(SAGA_COMPENSATED, 2, 0, 0), seen_of(2, 0, 0), m), 0);
    /* a step never dispatched, no record */
    assert_int_equal(compare(log_of(SAGA_COMPENSATED, 0, 0, 0), seen_of(0, 0, 0), m), 0);
}

static void test_reserved_not_compensated(void **state)
{
    (void)state;
    saga_recon_mismatch m[SAGA_RECON_MAX];
    /* resolved as compensated while the reserve was in flight: the log sent
     * it but never saw the answer */
    saga_recon_log l = log_of(SAGA_COMPENSATED, 0, 0, 0);
    l.attempts[R] = 1;
    assert_int_equal(compare(l, seen_of(1, 0, 0), m), 1);
    assert_int_equal(m[0].kind, SAGA_RECON_RESERVED_NOT_COMPENSATED);
    assert_int_equal(m[0].repair, SAGA_ACT_COMPENSATE);
    /* a refused compensation does not release anything either */
    l.attempts[X] = 1;
    l.outcome[X] = SAGA_OUT_REJECTED;
    assert_int_equal(compare(l, seen_of(1, 0, 2), m), 1);
    assert_int_equal(m[0].kind, SAGA_RECON_RESERVED_NOT_COMPENSATED);
}

static void test_confirmed_on_compensated(void **state)
{
    (void)state;
    saga_recon_mismatch m[SAGA_RECON_MAX];
    /* a confirm the log sent and gave up on, then a compensation the
     * barrier refused as "already confirmed" */
    saga_recon_log l = log_of(SAGA_COMPENSATED, 1, 0, 2);
    l.attempts[C] = 1;
    assert_int_equal(compare(l, seen_of(1, 1, 2), m), 1);
    assert_int_equal(m[0].kind, SAGA_RECON_CONFIRMED_ON_COMPENSATED);
    assert_int_equal(m[0].repair, SAGA_ACT_NONE);
    assert_string_equal(saga_recon_kind_name(m[0].kind), "confirmed_on_compensated");
}

static void test_completed_side(void **state)
{
    (void)state;
    saga_recon_mismatch m[SAGA_RECON_MAX];
    saga_recon_log l = log_of(SAGA_COMPLETED, 1, 0, 0);
    l.attempts[C] = 1;
    assert_int_equal(compare(l, seen_of(1, 0, 0), m), 1);
    assert_int_equal(m[0].kind, SAGA_RECON_RESERVED_NOT_CONFIRMED);
    assert_int_equal(m[0].repair, SAGA_ACT_CONFIRM);
    l.attempts[X] = 1;
    assert_int_equal(compare(l, seen_of(1, 0, 1), m), 1);
    assert_int_equal(m[0].kind, SAGA_RECON_COMPENSATED_ON_COMPLETED);
    assert_int_equal(m[0].repair, SAGA_ACT_NONE);
}

/* A step without a confirm phase is done once reserved; an irreversible one
 * has nothing to undo: neither is a mismatch. */
static void test_phases_the_step_lacks(void **state)
{
    (void)state;
    saga_recon_mismatch m[SAGA_RECON_MAX];
    saga_recon_log l = log_of(SAGA_COMPLETED, 1, 0, 0);
    assert_int_equal(compare(l, seen_of(1, 0, 0), m), 1);
    l.without_confirm = true;
    assert_int_equal(compare(l, seen_of(1, 0, 0), m), 0);
    saga_recon_log x = log_of(SAGA_COMPENSATED, 1, 0, 0);
    assert_int_equal(compare(x, seen_of(1, 0, 0), m), 1);
    x.without_compensate = true;
    assert_int_equal(compare(x, seen_of(1, 0, 0), m), 0);
}

static void test_records_and_log(void **state)
{
    (void)state;
    saga_recon_mismatch m[SAGA_RECON_MAX];
    /* the participant confirmed what the log never sent */
    size_t n = compare(log_of(SAGA_COMPENSATED, 1, 0, 1), seen_of(1, 1, 1), m);
    assert_int_equal(n, 2);
    assert_int_equal(m[0].kind, SAGA_RECON_CONFIRMED_ON_COMPENSATED);
    assert_int_equal(m[1].kind, SAGA_RECON_UNKNOWN_RECORD);
    assert_int_equal(m[1].action, SAGA_ACT_CONFIRM);
    /* the log applied a CONFIRM OK the participant has no row for */
    n = compare(log_of(SAGA_COMPLETED, 1, 1, 0), seen_of(1, 0, 0), m);
    assert_int_equal(n, 2);
    assert_int_equal(m[0].kind, SAGA_RECON_RESERVED_NOT_CONFIRMED);
    assert_int_equal(m[1].kind, SAGA_RECON_NOT_RECORDED);
    assert_int_equal(m[1].action, SAGA_ACT_CONFIRM);
}

static void test_no_answer(void **state)
{
    (void)state;
    saga_recon_mismatch m[SAGA_RECON_MAX];
    saga_recon_seen s = seen_of(0, 0, 0);
    s.answered = false;
    assert_int_equal(compare(log_of(SAGA_COMPLETED, 1, 1, 0), s, m), 1);
    assert_int_equal(m[0].kind, SAGA_RECON_NO_ANSWER);
    assert_int_equal(m[0].repair, SAGA_ACT_NONE);
    assert_string_equal(saga_recon_kind_name((saga_recon_kind)0), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agreement),
        cmocka_unit_test(test_reserved_not_compensated),
        cmocka_unit_test(test_confirmed_on_compensated),
        cmocka_unit_test(test_completed_side),
        cmocka_unit_test(test_phases_the_step_lacks),
        cmocka_unit_test(test_records_and_log),
        cmocka_unit_test(test_no_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
