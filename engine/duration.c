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
#include <time.h>

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

/* Reads exactly n digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

static int time_error(saga_error *err, const char *s)
{
    saga_error_set(err, SAGA_EINVAL, "invalid time \"%s\"", s);
    saga_error_hint(err, "write RFC 3339 (2026-11-23T14:00:00Z) or local time "
                         "as \"2026-11-23 14:00\" or 2026-11-23");
    return SAGA_EINVAL;
}

int saga_time_parse(const char *s, int64_t *ms, saga_error *err)
{
    const char *p = s;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int year, mon, day, hour = 0, min = 0, sec = 0, frac_ms = 0;
    if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &mon) ||
        *p++ != '-' || !digits(&p, 2, &day))
        return time_error(err, s);
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon))
        return time_error(err, s);
    bool zoned = false;
    int offset_min = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &min))
            return time_error(err, s);
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return time_error(err, s);
            if (*p == '.') {
                p++;
                int scale = 100, n = 0;
                while (isdigit((unsigned char)*p)) {
                    frac_ms += (*p++ - '0') * scale;
                    scale /= 10;
                    n++;
                }
                if (n == 0)
                    return time_error(err, s);
            }
        }
        if (hour > 23 || min > 59 || sec > 60)
            return time_error(err, s);
        if (*p == 'Z' || *p == 'z') {
            zoned = true;
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) ||
                oh > 23 || om > 59)
                return time_error(err, s);
            zoned = true;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (*p)
        return time_error(err, s);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t;
    if (zoned) {
        t = timegm(&tm) - (time_t)offset_min * 60;
    } else {
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    *ms = (int64_t)t * 1000 + frac_ms;
    return 0;
}

int saga_since_parse(const char *s, int64_t now_ms, int64_t *ms,
                     saga_error *err)
{
    if (isdigit((unsigned char)s[0]) && strlen(s) >= 10 && s[4] == '-')
        return saga_time_parse(s, ms, err);
    int64_t d;
    if (saga_duration_parse(s, &d, err)) {
        saga_error_hint(err, "write a duration (90s, 5m, 2h, 1d) or a time "
                             "(2026-11-23T14:00:00Z, \"2026-11-23 14:00\")");
        return SAGA_EINVAL;
    }
    *ms = now_ms - d;
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

void saga_time_format_utc(int64_t ms, char *buf, size_t cap)
{
    int64_t sec = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "%lld", (long long)ms);
        return;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)rem);
}
