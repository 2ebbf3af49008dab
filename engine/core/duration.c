/*
 * duration.c - parsing and formatting durations and times (see duration.h).
 *
 * Hand-written parsers rather than sscanf/strptime: sscanf accepts leading
 * blanks, signs and trailing garbage, strptime is locale-dependent, and both
 * report failure without saying where. Each field here is checked for its
 * range so "2026-02-30" is an error, not the 2nd of March.
 */
#include "duration.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_DURATION_MS (100LL * 365 * 24 * 3600 * 1000)

static const struct {
    const char *name;
    int64_t ms;
} UNITS[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

static int duration_error(saga_error *err, const char *s, const char *why)
{
    saga_error_set(err, SAGA_EINVAL, "invalid duration \"%s\": %s", s, why);
    saga_error_hint(err, "write a number and a unit (ms, s, m, h, d), e.g. "
                         "250ms, 90s, 5m, 2h, 1d or 1h30m");
    return SAGA_EINVAL;
}

int saga_duration_parse(const char *s, int64_t *ms, saga_error *err)
{
    const char *p = s;
    int64_t total = 0;
    if (!*p)
        return duration_error(err, s, "empty");
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return duration_error(err, s, "expected a number");
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            v = v * 10 + (*p++ - '0');
            if (v > MAX_DURATION_MS)
                return duration_error(err, s, "too long (the limit is 100 years)");
        }
        size_t best = sizeof UNITS / sizeof UNITS[0];
        for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++) {
            size_t n = strlen(UNITS[i].name);
            /* p[n] is only read once p is known to hold n more chars. */
            if (strncmp(p, UNITS[i].name, n) == 0 && !isalpha((unsigned char)p[n])) {
                best = i;
                break;
            }
        }
        if (best == sizeof UNITS / sizeof UNITS[0])
            return duration_error(err, s, *p ? "unknown unit" : "missing unit");
        p += strlen(UNITS[best].name);
        if (v > MAX_DURATION_MS / UNITS[best].ms ||
            total + v * UNITS[best].ms > MAX_DURATION_MS)
            return duration_error(err, s, "too long (the limit is 100 years)");
        total += v * UNITS[best].ms;
    }
    *ms = total;
    return 0;
}

void saga_duration_format(int64_t ms, int units, char *buf, size_t cap)
{
    const char *sign = "";
    if (ms < 0) {
        sign = "-";
        ms = ms == INT64_MIN ? INT64_MAX : -ms;
    }
    static const struct {
        int64_t ms;
        char name;
        int width; /* digits of the next smaller unit */
    } big[] = {{86400000, 'd', 1}, {3600000, 'h', 2}, {60000, 'm', 2}};
    if (ms < 1000) {
        snprintf(buf, cap, "%s%lldms", sign, (long long)ms);
        return;
    }
    if (ms < 10000) {
        long long tenths = ms / 100;
        snprintf(buf, cap, "%s%lld.%llds", sign, tenths / 10, tenths % 10);
        return;
    }
    if (ms < 60000) {
        snprintf(buf, cap, "%s%llds", sign, (long long)(ms / 1000));
        return;
    }
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        if (ms < big[i].ms)
            continue;
        long long n = ms / big[i].ms;
        int64_t rest = ms % big[i].ms;
        int64_t sub = i + 1 < sizeof big / sizeof big[0] ? big[i + 1].ms : 1000;
        long long r = rest / sub;
        if (units < 2 || r == 0)
            snprintf(buf, cap, "%s%lld%c", sign, n, big[i].name);
        else
            snprintf(buf, cap, "%s%lld%c%0*lld%c", sign, n, big[i].name,
                     big[i].width, r,
                     i + 1 < sizeof big / sizeof big[0] ? big[i + 1].name : 's');
        return;
    }
}

void saga_time_relative(int64_t t_ms, int64_t now_ms, char *buf, size_t cap)
{
    int64_t d = now_ms - t_ms;
    if (d > -1000 && d < 1000) {
        snprintf(buf, cap, "now");
        return;
    }
    char dur[SAGA_TIME_TEXT_MAX];
    if (d >= 10000 || d <= -10000)
        saga_duration_format(d < 0 ? -d : d, 1, dur, sizeof dur);
    else
        snprintf(dur, sizeof dur, "%llds", (long long)((d < 0 ? -d : d) / 1000));
    if (d > 0)
        snprintf(buf, cap, "%s ago", dur);
    else
        snprintf(buf, cap, "in %s", dur);
}
