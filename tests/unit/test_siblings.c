/*
 * test_siblings.c - engine/siblings.c: a saga sent several commands at
 * once awaits exactly that many replies; a single command, the last reply
 * or the time to live ends the wait; a full table drops entries instead of
 * losing others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "siblings.h"

#define K(s) (s), strlen(s)

static void test_group_of_two(void **state)
{
    (void)state;
    saga_siblings *s = saga_siblings_new(16);
    assert_non_null(s);
    saga_siblings_sent(s, K("saga-a"), 2, 1000);
    assert_true(saga_siblings_awaits(s, K("saga-a"), 1000));
    assert_false(saga_siblings_awaits(s, K("saga-b"), 1000));
    assert_true(saga_siblings_replied(s, K("saga-a"), 1001));  /* one more to come */
    assert_true(saga_siblings_awaits(s, K("saga-a"), 1001));
    assert_false(saga_siblings_replied(s, K("saga-a"), 1002)); /* that was the last */
    assert_false(saga_siblings_awaits(s, K("saga-a"), 1002));
    assert_false(saga_siblings_replied(s, K("saga-a"), 1003)); /* a duplicate */
    assert_int_equal(saga_siblings_count(s, 1003), 0);
    saga_siblings_free(s);
}

static void test_single_command_clears(void **state)
{
    (void)state;
    saga_siblings *s = saga_siblings_new(16);
    saga_siblings_sent(s, K("saga-a"), 3, 1000);
    saga_siblings_sent(s, K("saga-a"), 1, 1500); /* a retry of one: no group */
    assert_false(saga_siblings_awaits(s, K("saga-a"), 1500));
    saga_siblings_sent(s, K("saga-b"), 1, 1500);
    assert_false(saga_siblings_awaits(s, K("saga-b"), 1500));
    assert_false(saga_siblings_replied(s, K("saga-b"), 1500));
    saga_siblings_free(s);
}

static void test_expiry_and_keys(void **state)
{
    (void)state;
    saga_siblings *s = saga_siblings_new(16);
    saga_siblings_sent(s, K("saga-a"), 2, 1000);
    assert_true(saga_siblings_awaits(s, K("saga-a"), 1000 + SAGA_SIBLINGS_TTL_MS - 1));
    assert_false(saga_siblings_awaits(s, K("saga-a"), 1000 + SAGA_SIBLINGS_TTL_MS));
    char longkey[SAGA_SIBLINGS_KEY_MAX + 2];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    saga_siblings_sent(s, K(longkey), 2, 1000); /* not tracked */
    assert_false(saga_siblings_awaits(s, K(longkey), 1000));
    saga_siblings_sent(s, "", 0, 2, 1000);
    assert_false(saga_siblings_awaits(s, "", 0, 1000));
    /* keys are bytes: a prefix is another key */
    saga_siblings_sent(s, K("saga-cd"), 2, 1000);
    assert_false(saga_siblings_awaits(s, K("saga-c"), 1000));
    assert_true(saga_siblings_awaits(s, K("saga-cd"), 1000));
    saga_siblings_free(s);
}

static void test_full_table(void **state)
{
    (void)state;
    saga_siblings *s = saga_siblings_new(8); /* one window: 8 slots */
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "saga-%d", i);
        saga_siblings_sent(s, K(key), 2, 1000);
    }
    size_t n = saga_siblings_count(s, 1000);
    assert_true(n > 0 && n <= 8);
    size_t found = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "saga-%d", i);
        found += saga_siblings_awaits(s, K(key), 1000);
    }
    assert_int_equal(found, n); /* the ones kept are whole, the rest absent */
    /* once expired, slots are reused */
    saga_siblings_sent(s, K("late"), 2, 1000 + SAGA_SIBLINGS_TTL_MS);
    assert_true(saga_siblings_awaits(s, K("late"), 1000 + SAGA_SIBLINGS_TTL_MS));
    saga_siblings_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_of_two),
        cmocka_unit_test(test_single_command_clears),
        cmocka_unit_test(test_expiry_and_keys),
        cmocka_unit_test(test_full_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
