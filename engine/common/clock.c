/*
 * clock.c - the clock and the time grammar (see clock.h).
 *
 * Hand-written parser rather than strptime: strptime is locale-dependent
 * and accepts trailing garbage.
 */
#include "clock.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t saga_clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t saga_clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
