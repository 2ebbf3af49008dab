/*
 * test_trace.c - W3C traceparent: what is accepted and refused, and that new
 * and child traces are valid, random and linked the way the spec requires.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "error.h"
#include "trace.h"

#define EXAMPLE "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static void test_parse_valid(void **state)
{
    (void)state;
    saga_trace t;
    assert_int_equal(saga_trace_parse(EXAMPLE, &t), 0);
    assert_int_equal(t.version, 0);
    assert_string_equal(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_string_equal(t.parent_id, "b7ad6b7169203331");
    assert_int_equal(t.flags, 1);

    assert_int_equal(saga_trace_parse(
                         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", &t),
                     0);
    assert_int_equal(t.flags, 0);
}

static void test_parse_future_version(void **state)
{
    (void)state;
    saga_trace t;
    /* A higher version may carry more fields after a '-'. */
    assert_int_equal(saga_trace_parse(
                         "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what", &t),
                     0);
    assert_int_equal(t.version, 0xcc);
    assert_string_equal(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_int_equal(saga_trace_parse(
                         "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &t),
                     0);
    assert_int_equal(saga_trace_parse(
                         "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x", &t),
                     SAGA_EINVAL);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "00",
        /* version 00 must be exactly 55 characters */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
        /* version ff is forbidden */
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        /* upper case hex is invalid */
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
        /* all-zero ids */
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        /* separators and hex */
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01",
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0z",
        "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    };
    saga_trace t;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&t, 0x55, sizeof t);
        if (saga_trace_parse(bad[i], &t) != SAGA_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_string_equal(t.trace_id, "");
    }
    assert_int_equal(saga_trace_parse(NULL, &t), SAGA_EINVAL);
}

static void test_new_is_valid_and_random(void **state)
{
    (void)state;
    char a[SAGA_TRACEPARENT_SIZE], b[SAGA_TRACEPARENT_SIZE];
    saga_trace_new(a);
    saga_trace_new(b);
    assert_int_equal(strlen(a), SAGA_TRACEPARENT_LEN);
    saga_trace ta, tb;
    assert_int_equal(saga_trace_parse(a, &ta), 0);
    assert_int_equal(saga_trace_parse(b, &tb), 0);
    assert_int_equal(ta.version, 0);
    assert_int_equal(ta.flags, SAGA_TRACE_SAMPLED);
    assert_string_not_equal(ta.trace_id, tb.trace_id);
    assert_string_not_equal(ta.parent_id, tb.parent_id);
}

static void test_child_keeps_trace(void **state)
{
    (void)state;
    char c[SAGA_TRACEPARENT_SIZE];
    saga_trace_child(EXAMPLE, c);
    saga_trace t;
    assert_int_equal(saga_trace_parse(c, &t), 0);
    assert_string_equal(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_string_not_equal(t.parent_id, "b7ad6b7169203331");
    assert_int_equal(t.flags, 1);

    /* Not sampled stays not sampled; a future version comes out as 00 with
     * undefined flag bits dropped. */
    saga_trace_child("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", c);
    assert_int_equal(saga_trace_parse(c, &t), 0);
    assert_int_equal(t.flags, 0);
    saga_trace_child("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff-x", c);
    assert_int_equal(saga_trace_parse(c, &t), 0);
    assert_int_equal(t.version, 0);
    assert_int_equal(t.flags, 1);
    assert_memory_equal(c, "00-0af7651916cd43dd8448eb211c80319c-", 36);
}

static void test_child_of_nothing_starts_a_trace(void **state)
{
    (void)state;
    static const char *const parents[] = {NULL, "", "garbage",
                                          "00-00000000000000000000000000000000-b7ad6b7169203331-01"};
    for (size_t i = 0; i < sizeof parents / sizeof *parents; i++) {
        char c[SAGA_TRACEPARENT_SIZE];
        saga_trace_child(parents[i], c);
        saga_trace t;
        assert_int_equal(saga_trace_parse(c, &t), 0);
        assert_int_equal(t.flags, SAGA_TRACE_SAMPLED);
    }
}

static void test_trace_id(void **state)
{
    (void)state;
    char id[33];
    assert_int_equal(saga_trace_id(EXAMPLE, id), 0);
    assert_string_equal(id, "0af7651916cd43dd8448eb211c80319c");
    assert_int_equal(saga_trace_id("nope", id), SAGA_EINVAL);
    assert_string_equal(id, "");
}

static void test_format_roundtrip(void **state)
{
    (void)state;
    saga_trace t;
    assert_int_equal(saga_trace_parse(EXAMPLE, &t), 0);
    char out[SAGA_TRACEPARENT_SIZE];
    saga_trace_format(&t, out);
    assert_string_equal(out, EXAMPLE);
    t.flags = 0xfe;
    saga_trace_format(&t, out);
    assert_string_equal(out + 52, "-00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_future_version),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_new_is_valid_and_random),
        cmocka_unit_test(test_child_keeps_trace),
        cmocka_unit_test(test_child_of_nothing_starts_a_trace),
        cmocka_unit_test(test_trace_id),
        cmocka_unit_test(test_format_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
