/*
 * test_worker_faults.c - fault injection decisions: reproducible from the
 * seed, independent of order, fresh per attempt, honouring rates, the
 * RESERVE-only reject, --fault-actions and --ignore; and the parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "faults.h"

#define ALL ((1u << SAGA_WORKER_RESERVE) | (1u << SAGA_WORKER_CONFIRM) | \
             (1u << SAGA_WORKER_COMPENSATE))

static void test_defaults_inject_nothing(void **state)
{
    (void)state;
    saga_worker_faults f;
    saga_faults_init(&f);
    assert_false(saga_faults_any(&f));
    assert_int_equal(f.action_mask, ALL);
    for (int i = 0; i < 1000; i++) {
        char key[32];
        snprintf(key, sizeof key, "saga-%d/step", i);
        saga_fault_draw d = saga_faults_draw(&f, key, SAGA_WORKER_RESERVE, 1);
        assert_false(d.ignore || d.retry || d.reject || d.drop_reply || d.crash);
    }
    assert_false(saga_faults_delays(&f, SAGA_WORKER_RESERVE));
}

static void test_rate_one_always_fires(void **state)
{
    (void)state;
    saga_worker_faults f;
    saga_faults_init(&f);
    f.retry_rate = f.reject_rate = f.drop_reply_rate = f.crash_after_commit_rate = 1;
    assert_true(saga_faults_any(&f));
    for (int i = 0; i < 200; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        saga_fault_draw d = saga_faults_draw(&f, key, SAGA_WORKER_RESERVE, i);
        assert_true(d.retry && d.reject && d.drop_reply && d.crash);
        assert_false(d.ignore);
    }
}

static int count_retries(const saga_worker_faults *f, int n, int attempt)
{
    int hits = 0;
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "saga-%d/pay", i);
        hits += saga_faults_draw(f, key, SAGA_WORKER_CONFIRM, attempt).retry;
    }
    return hits;
}

static void test_rates_are_roughly_honoured(void **state)
{
    (void)state;
    saga_worker_faults f;
    saga_faults_init(&f);
    f.retry_rate = 0.25;
    f.seed = 42;
    int hits = count_retries(&f, 20000, 1);
    /* 20000 draws at p = 0.25: mean 5000, sd ~61; allow 6 sd. */
    assert_in_range(hits, 4630, 5370);
}

static void test_same_seed_same_decisions(void **state)
{
    (void)state;
    saga_worker_faults a, b;
    saga_faults_init(&a);
    a.retry_rate = a.drop_reply_rate = 0.5;
    a.seed = 7;
    b = a;
    for (int i = 0; i < 500; i++) {
        char key[32];
        snprintf(key, sizeof key, "x%d/s", i);
        saga_fault_draw da = saga_faults_draw(&a, key, SAGA_WORKER_COMPENSATE, 3);
        saga_fault_draw db = saga_faults_draw(&b, key, SAGA_WORKER_COMPENSATE, 3);
        assert_memory_equal(&da, &db, sizeof da);
    }
    /* A different seed gives a different pattern. */
    b.seed = 8;
    int differ = 0;
    for (int i = 0; i < 500; i++) {
        char key[32];
        snprintf(key, sizeof key, "x%d/s", i);
        differ += saga_faults_draw(&a, key, SAGA_WORKER_COMPENSATE, 3).retry !=
                  saga_faults_draw(&b, key, SAGA_WORKER_COMPENSATE, 3).retry;
    }
    assert_true(differ > 100);
}

static void test_new_attempt_draws_afresh(void **state)
{
    (void)state;
    saga_worker_faults f;
    saga_faults_init(&f);
    f.retry_rate = 0.5;
    int stuck = 0;
    for (int i = 0; i < 1000; i++) {
        char key[32];
        snprintf(key, sizeof key, "s%d/x", i);
        int all = 1;
        for (int attempt = 1; attempt <= 12; attempt++)
            all &= saga_faults_draw(&f, key, SAGA_WORKER_RESERVE, attempt).retry;
        stuck += all;
    }
    /* 0.5^12 * 1000 ~ 0.24: no step stays retried for ever. */
    assert_true(stuck <= 2);
}

static void test_reject_is_reserve_only(void **state)
{
    (void)state;
    saga_worker_faults f;
    saga_faults_init(&f);
    f.reject_rate = 1;
    assert_true(saga_faults_draw(&f, "k", SAGA_WORKER_RESERVE, 1).reject);
    assert_false(saga_faults_draw(&f, "k", SAGA_WORKER_CONFIRM, 1).reject);
    assert_false(saga_faults_draw(&f, "k", SAGA_WORKER_COMPENSATE, 1).reject);
}

static void test_fault_actions_and_ignore(void **state)
{
    (void)state;
    saga_worker_faults f;
    saga_faults_init(&f);
    f.retry_rate = 1;
    f.delay_ms = 10;
    f.action_mask = 1u << SAGA_WORKER_CONFIRM;
    f.ignore_mask = 1u << SAGA_WORKER_COMPENSATE;
    assert_false(saga_faults_draw(&f, "k", SAGA_WORKER_RESERVE, 1).retry);
    assert_true(saga_faults_draw(&f, "k", SAGA_WORKER_CONFIRM, 1).retry);
    saga_fault_draw d = saga_faults_draw(&f, "k", SAGA_WORKER_COMPENSATE, 1);
    assert_true(d.ignore);
    assert_false(d.retry);
    assert_true(saga_faults_delays(&f, SAGA_WORKER_CONFIRM));
    assert_false(saga_faults_delays(&f, SAGA_WORKER_RESERVE));
}

static void test_parse_rate(void **state)
{
    (void)state;
    double v = -1;
    assert_int_equal(saga_faults_parse_rate("0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(saga_faults_parse_rate("0.25", &v), 0);
    assert_true(v == 0.25);
    assert_int_equal(saga_faults_parse_rate("1", &v), 0);
    assert_true(v == 1);
    const char *bad[] = {"", "-0.1", "1.01", "abc", "0.5x", "nan", "inf", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(saga_faults_parse_rate(bad[i], &v), SAGA_EINVAL);
    assert_int_equal(saga_faults_parse_rate(NULL, &v), SAGA_EINVAL);
}

static void test_parse_actions(void **state)
{
    (void)state;
    unsigned m = 0;
    assert_int_equal(saga_faults_parse_actions("reserve", &m), 0);
    assert_int_equal(m, 1u << SAGA_WORKER_RESERVE);
    assert_int_equal(saga_faults_parse_actions("CONFIRM,compensate", &m), 0);
    assert_int_equal(m, (1u << SAGA_WORKER_CONFIRM) | (1u << SAGA_WORKER_COMPENSATE));
    assert_int_equal(saga_faults_parse_actions("all", &m), 0);
    assert_int_equal(m, ALL);
    const char *bad[] = {"", "refund", "reserve,,confirm", ",reserve", "reservex", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(saga_faults_parse_actions(bad[i], &m), SAGA_EINVAL);
}

static void test_mix_is_splitmix64(void **state)
{
    (void)state;
    /* Reference values of splitmix64 seeded with 0 (first two outputs). */
    assert_true(saga_faults_mix(0) == 0xe220a8397b1dcdafULL);
    assert_true(saga_faults_mix(0x9e3779b97f4a7c15ULL) == 0x6e789e6aa1b965f4ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_inject_nothing),
        cmocka_unit_test(test_rate_one_always_fires),
        cmocka_unit_test(test_rates_are_roughly_honoured),
        cmocka_unit_test(test_same_seed_same_decisions),
        cmocka_unit_test(test_new_attempt_draws_afresh),
        cmocka_unit_test(test_reject_is_reserve_only),
        cmocka_unit_test(test_fault_actions_and_ignore),
        cmocka_unit_test(test_parse_rate),
        cmocka_unit_test(test_parse_actions),
        cmocka_unit_test(test_mix_is_splitmix64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
