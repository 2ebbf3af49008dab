/*
 * test_cli_duration.c - durations and times as sagactl reads and prints
 * them (engine/duration.c): every unit, sums, the strictness that refuses
 * guesses (bare numbers, unknown units, impossible dates), time zones, and
 * the lossy formatting tables rely on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "duration.h"

static int64_t dur(const char *s)
{
    int64_t ms = -1;
    saga_error err;
    assert_int_equal(saga_duration_parse(s, &ms, &err), 0);
    return ms;
}

static void dur_bad(const char *s, const char *msg_part)
{
    int64_t ms = 12345;
    saga_error err;
    saga_error_clear(&err);
    assert_int_equal(saga_duration_parse(s, &ms, &err), SAGA_EINVAL);
    assert_int_equal(ms, 12345);
    assert_non_null(strstr(err.msg, msg_part));
    assert_non_null(strstr(err.hint, "unit"));
}

static void test_duration_units(void **state)
{
    (void)state;
    assert_int_equal(dur("250ms"), 250);
    assert_int_equal(dur("90s"), 90000);
    assert_int_equal(dur("5m"), 300000);
    assert_int_equal(dur("2h"), 7200000);
    assert_int_equal(dur("1d"), 86400000);
    assert_int_equal(dur("0s"), 0);
    assert_int_equal(dur("1h30m"), 5400000);
    assert_int_equal(dur("1m500ms"), 60500);
    assert_int_equal(dur("36500d"), 36500LL * 86400000);
}

static void test_duration_refused(void **state)
{
    (void)state;
    dur_bad("", "empty");
    dur_bad("5", "missing unit");
    dur_bad("5min", "unknown unit");
    dur_bad("5x", "unknown unit");
    dur_bad("m", "expected a number");
    dur_bad("-5s", "expected a number");
    dur_bad(" 5s", "expected a number");
    dur_bad("5s ", "expected a number");
    dur_bad("1.5s", "unknown unit");
    dur_bad("36501d", "too long");
    dur_bad("99999999999999999999ms", "too long");
    dur_bad("36500d1d", "too long");
}

static int64_t at(const char *s)
{
    int64_t ms = -1;
    saga_error err;
    assert_int_equal(saga_time_parse(s, &ms, &err), 0);
    return ms;
}

static void time_bad(const char *s)
{
    int64_t ms = 7;
    saga_error err;
    assert_int_equal(saga_time_parse(s, &ms, &err), SAGA_EINVAL);
    assert_int_equal(ms, 7);
    assert_non_null(strstr(err.msg, "invalid time"));
}

static void test_time_rfc3339(void **state)
{
    (void)state;
    /* 2026-11-23T14:00:00Z */
    const int64_t base = 1795442400000LL;
    assert_int_equal(at("2026-11-23T14:00:00Z"), base);
    assert_int_equal(at("2026-11-23t14:00:00z"), base);
    assert_int_equal(at("2026-11-23 14:00:00Z"), base);
    assert_int_equal(at("2026-11-23T14:00:00.250Z"), base + 250);
    assert_int_equal(at("2026-11-23T14:00:00.1Z"), base + 100);
    assert_int_equal(at("2026-11-23T14:00:00.123456Z"), base + 123);
    assert_int_equal(at("2026-11-23T15:30:00+01:30"), base);
    assert_int_equal(at("2026-11-23T12:00:00-02:00"), base);
    assert_int_equal(at("2024-02-29T00:00:00Z"), 1709164800000LL);
}

static void test_time_local(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    assert_int_equal(at("2026-11-23 14:00"), 1795442400000LL);
    assert_int_equal(at("2026-11-23T14:00:30"), 1795442430000LL);
    assert_int_equal(at("2026-11-23"), 1795392000000LL);
    setenv("TZ", "Europe/Paris", 1);
    tzset();
    assert_int_equal(at("2026-11-23 15:00"), 1795442400000LL); /* CET = UTC+1 */
    assert_int_equal(at("2026-07-01 14:00"), at("2026-07-01T12:00:00Z")); /* CEST */
    setenv("TZ", "UTC", 1);
    tzset();
}

static void test_time_refused(void **state)
{
    (void)state;
    time_bad("");
    time_bad("yesterday");
    time_bad("2026-11-23T14");
    time_bad("2026-13-01");
    time_bad("2026-02-29");
    time_bad("2026-04-31");
    time_bad("2026-11-23T24:00:00Z");
    time_bad("2026-11-23T14:60:00Z");
    time_bad("2026-11-23T14:00:00.Z");
    time_bad("2026-11-23T14:00:00+0100");
    time_bad("2026-11-23T14:00:00Zjunk");
    time_bad("26-11-23");
}

static void test_since(void **state)
{
    (void)state;
    int64_t ms;
    saga_error err;
    assert_int_equal(saga_since_parse("5m", 1000000000, &ms, &err), 0);
    assert_int_equal(ms, 1000000000 - 300000);
    assert_int_equal(saga_since_parse("2026-11-23T14:00:00Z", 5, &ms, &err), 0);
    assert_int_equal(ms, 1795442400000LL);
    assert_int_equal(saga_since_parse("soon", 5, &ms, &err), SAGA_EINVAL);
    assert_non_null(strstr(err.hint, "a time"));
}

static void fmt(int64_t ms, int units, const char *want)
{
    char buf[SAGA_TIME_TEXT_MAX];
    saga_duration_format(ms, units, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_duration_format(void **state)
{
    (void)state;
    fmt(0, 2, "0ms");
    fmt(999, 2, "999ms");
    fmt(1000, 2, "1.0s");
    fmt(1549, 2, "1.5s");
    fmt(9999, 2, "9.9s");
    fmt(10000, 2, "10s");
    fmt(59999, 2, "59s");
    fmt(60000, 2, "1m");
    fmt(200000, 2, "3m20s");
    fmt(185000, 2, "3m05s");
    fmt(200000, 1, "3m");
    fmt(7500000, 2, "2h05m");
    fmt(7200000, 2, "2h");
    fmt(7500000, 1, "2h");
    fmt(3 * 86400000LL + 4 * 3600000LL, 2, "3d4h");
    fmt(3 * 86400000LL + 4 * 3600000LL, 1, "3d");
    fmt(-1500, 2, "-1.5s");
    fmt(INT64_MIN, 1, "-106751991167d");
}

static void rel(int64_t t, int64_t now, const char *want)
{
    char buf[SAGA_TIME_TEXT_MAX];
    saga_time_relative(t, now, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_relative(void **state)
{
    (void)state;
    const int64_t now = 1795442400000LL;
    rel(now, now, "now");
    rel(now - 999, now, "now");
    rel(now + 999, now, "now");
    rel(now - 5000, now, "5s ago");
    rel(now - 42000, now, "42s ago");
    rel(now - 200000, now, "3m ago");
    rel(now - 3 * 3600000LL, now, "3h ago");
    rel(now + 12000, now, "in 12s");
    rel(now + 2 * 86400000LL, now, "in 2d");
}

static void test_format_utc(void **state)
{
    (void)state;
    char buf[SAGA_TIME_TEXT_MAX];
    saga_time_format_utc(1795442400123LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-23T14:00:00.123Z");
    saga_time_format_utc(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    saga_time_format_utc(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    int64_t back;
    saga_error err;
    saga_time_format_utc(1795442400123LL, buf, sizeof buf);
    assert_int_equal(saga_time_parse(buf, &back, &err), 0);
    assert_int_equal(back, 1795442400123LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units),  cmocka_unit_test(test_duration_refused),
        cmocka_unit_test(test_time_rfc3339),    cmocka_unit_test(test_time_local),
        cmocka_unit_test(test_time_refused),    cmocka_unit_test(test_since),
        cmocka_unit_test(test_duration_format), cmocka_unit_test(test_relative),
        cmocka_unit_test(test_format_utc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
