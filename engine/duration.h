/*
 * duration.h - durations and points in time as people type and read them.
 *
 * sagactl takes "--since 5m", "--older-than 30d" or "--since 2026-11-23
 * 14:00" and prints ages such as "3m ago". The parsers are strict (a bare
 * number is refused rather than guessed at: 5 what?) and the formatters are
 * lossy on purpose: an operator scanning a table wants "3m20s", not
 * milliseconds. All values are milliseconds since the Unix epoch or
 * milliseconds of duration, the unit the engine stores.
 */
#ifndef SAGA_DURATION_H
#define SAGA_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Large enough for every string the formatters below produce. */
#define SAGA_TIME_TEXT_MAX 40

/*
 * Parses a duration: one or more <integer><unit> terms with units ms, s, m,
 * h, d ("250ms", "90s", "5m", "2h", "1d", "1h30m"). Returns 0 or SAGA_EINVAL
 * (err says what was expected; a bare number gets a hint to add a unit).
 * Durations are capped at 100 years so later arithmetic cannot overflow.
 */
int saga_duration_parse(const char *s, int64_t *ms, saga_error *err);

/*
 * Parses a point in time: RFC 3339 ("2026-11-23T14:00:00Z",
 * "2026-11-23T14:00:00.250+01:00", 't'/'z' and a space for 'T' accepted),
 * or "YYYY-MM-DD HH:MM[:SS]" or "YYYY-MM-DD" in the local time zone (TZ).
 * Returns 0 or SAGA_EINVAL.
 */
int saga_time_parse(const char *s, int64_t *ms, saga_error *err);

/* A duration meaning "that long before now_ms", or a point in time. */
int saga_since_parse(const char *s, int64_t now_ms, int64_t *ms,
                     saga_error *err);

/*
 * Formats a duration with at most `units` units (1 or 2), largest first:
 * "250ms", "1.5s" (under 10 s, one decimal), "42s", "3m20s" / "3m",
 * "2h05m" / "2h", "3d4h" / "3d". Negative durations get a leading '-'.
 */
void saga_duration_format(int64_t ms, int units, char *buf, size_t cap);

/* "3m ago", "in 12s" or "now" (within a second), one unit. */
void saga_time_relative(int64_t t_ms, int64_t now_ms, char *buf, size_t cap);

/* RFC 3339 in UTC with milliseconds: "2026-11-23T14:00:00.123Z". */
void saga_time_format_utc(int64_t ms, char *buf, size_t cap);

#endif
