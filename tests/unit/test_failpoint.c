/*
 * test_failpoint.c - SAGA_FAILPOINTS parsing and actions (common/failpoint.c).
 *
 * The failpoint table is process state read once, so every case runs in a
 * child process with its own environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "failpoint.h"
#include "log.h"

/* Runs body in a child with SAGA_FAILPOINTS=env; returns its wait status. */
static int in_child(const char *env, int (*body)(void))
{
    pid_t p = fork();
    if (p == 0) {
        setenv("SAGA_FAILPOINTS", env, 1);
        _exit(body());
    }
    int st = 0;
    waitpid(p, &st, 0);
    return st;
}

static int init_rc(void)
{
    saga_error err;
    saga_error_clear(&err);
    int rc = saga_failpoint_init(&err);
    return rc == 0 ? 0 : (strstr(err.msg, "SAGA_FAILPOINTS") ? 10 : 11);
}

static void bad_entries_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"turn.after_commit", "turn.nowhere=crash",
                         "turn.after_commit=explode", "turn.after_commit=crash@0",
                         "turn.after_commit=delay:", "turn.after_commit=delay:x", "turn.after_commit=delay:200",
                         "worker.after_reply=crash@2x", "turn.after_begin=crash,x=y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = in_child(bad[i], init_rc);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 10);
    }
    int st = in_child("turn.after_begin=crash@2,worker.after_reply=delay:5ms", init_rc);
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int pass_three(void)
{
    saga_error err;
    if (saga_failpoint_init(&err))
        return 20;
    for (int i = 1; i <= 3; i++)
        if (saga_failpoint("turn.after_commit", &err))
            return 30 + i;
    return 0;
}

static void crash_fires_on_the_nth_hit_only(void **state)
{
    (void)state;
    int st = in_child("turn.after_commit=crash@2", pass_three);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), SAGA_FAILPOINT_EXIT);
    st = in_child("turn.after_commit=crash@4", pass_three);
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void error_is_returned_and_other_points_pass(void **state)
{
    (void)state;
    int st = in_child("turn.after_commit=error@3", pass_three);
    assert_int_equal(WEXITSTATUS(st), 33);
    st = in_child("turn.after_begin=crash", pass_three);
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int unarmed(void)
{
    saga_error err;
    unsetenv("SAGA_FAILPOINTS");
    if (saga_failpoint_init(&err) || saga_failpoint_armed())
        return 1;
    return saga_failpoint("turn.after_commit", &err) == 0 ? 0 : 2;
}

static void inert_without_the_variable(void **state)
{
    (void)state;
    assert_int_equal(WEXITSTATUS(in_child("", unarmed)), 0);
}

int main(void)
{
    saga_log_setup("test_failpoint", SAGA_LOG_ERROR, SAGA_LOG_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_entries_are_refused),
        cmocka_unit_test(crash_fires_on_the_nth_hit_only),
        cmocka_unit_test(error_is_returned_and_other_points_pass),
        cmocka_unit_test(inert_without_the_variable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
