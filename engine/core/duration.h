/*
 * duration.h - durations as people type and read them (the one grammar).
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
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

/* Large enough for every string the formatters here and in clock.h produce. */
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
 * Formats a duration with at most `units` units (1 or 2), largest first:
 * "250ms", "1.5s" (under 10 s, one decimal), "42s", "3m20s" / "3m",
 * "2h05m" / "2h", "3d4h" / "3d". Negative durations get a leading '-'.
 */
void saga_duration_format(int64_t ms, int units, char *buf, size_t cap);

/* "3m ago", "in 12s" or "now" (within a second), one unit. */
void saga_time_relative(int64_t t_ms, int64_t now_ms, char *buf, size_t cap);

#endif
