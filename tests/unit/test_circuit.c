/*
 * test_circuit.c - every transition of a participant's circuit breaker
 * (engine/core/circuit.c), and the ones that must not happen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "circuit.h"

#define T0 1700000000000LL

static saga_circuit breaker(saga_circuit_state s)
{
    return (saga_circuit){.state = s, .since_ms = T0, .threshold = 5, .window_ms = 30000,
                          .cooldown_ms = 10000};
}

static void test_closed_opens_at_threshold(void **state)
{
    (void)state;
    char why[SAGA_CIRCUIT_WHY_MAX] = "";
    saga_circuit c = breaker(SAGA_CIRCUIT_CLOSED);
    c.failures = 4;
    assert_int_equal(saga_circuit_next(&c, T0 + 1000, why, sizeof why), SAGA_CIRCUIT_CLOSED);
    assert_string_equal(why, "");
    c.failures = 5;
    assert_int_equal(saga_circuit_next(&c, T0 + 1000, why, sizeof why), SAGA_CIRCUIT_OPEN);
    assert_non_null(strstr(why, "5 failures within 30"));
    /* A breaker without a threshold never opens. */
    c.threshold = 0;
    assert_int_equal(saga_circuit_next(&c, T0 + 1000, why, sizeof why), SAGA_CIRCUIT_CLOSED);
}

static void test_open_waits_for_cooldown(void **state)
{
    (void)state;
    char why[SAGA_CIRCUIT_WHY_MAX] = "";
    saga_circuit c = breaker(SAGA_CIRCUIT_OPEN);
    c.answered = true; /* an answer while open changes nothing */
    assert_int_equal(saga_circuit_next(&c, T0 + 9999, why, sizeof why), SAGA_CIRCUIT_OPEN);
    assert_int_equal(saga_circuit_next(&c, T0 + 10000, why, sizeof why),
                     SAGA_CIRCUIT_HALF_OPEN);
    assert_non_null(strstr(why, "cool-down of 10"));
}

static void test_half_open_probe_outcomes(void **state)
{
    (void)state;
    char why[SAGA_CIRCUIT_WHY_MAX] = "";
    saga_circuit c = breaker(SAGA_CIRCUIT_HALF_OPEN);
    c.waiting = true;
    assert_int_equal(saga_circuit_next(&c, T0 + 100, why, sizeof why),
                     SAGA_CIRCUIT_HALF_OPEN);
    c.answered = true;
    assert_int_equal(saga_circuit_next(&c, T0 + 100, why, sizeof why), SAGA_CIRCUIT_CLOSED);
    assert_string_equal(why, "probe answered");
    /* A failure wins over an answer: the participant still fails. */
    c.failures = 1;
    assert_int_equal(saga_circuit_next(&c, T0 + 100, why, sizeof why), SAGA_CIRCUIT_OPEN);
    assert_string_equal(why, "probe failed");
    c = breaker(SAGA_CIRCUIT_HALF_OPEN);
    c.waiting = true;
    assert_int_equal(saga_circuit_next(&c, T0 + 30000, why, sizeof why), SAGA_CIRCUIT_OPEN);
    assert_non_null(strstr(why, "no answer to a probe within 30"));
    /* Nobody held and no probe out: nothing to probe with. */
    c.waiting = false;
    assert_int_equal(saga_circuit_next(&c, T0 + 100, why, sizeof why), SAGA_CIRCUIT_CLOSED);
    assert_string_equal(why, "no saga waiting to probe with");
}

static void test_names(void **state)
{
    (void)state;
    saga_circuit_state s = SAGA_CIRCUIT_CLOSED;
    assert_int_equal(saga_circuit_state_parse("half_open", &s), 0);
    assert_int_equal(s, SAGA_CIRCUIT_HALF_OPEN);
    assert_int_equal(saga_circuit_state_parse("ajar", &s), -1);
    assert_string_equal(saga_circuit_state_name(SAGA_CIRCUIT_OPEN), "OPEN");
    assert_string_equal(saga_circuit_state_name((saga_circuit_state)7), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_opens_at_threshold),
        cmocka_unit_test(test_open_waits_for_cooldown),
        cmocka_unit_test(test_half_open_probe_outcomes),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
