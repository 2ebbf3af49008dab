/*
 * clock.h - points in time: the clock, and times as people type and read them.
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Kept out of the core because a local time ("2026-11-23 14:00") means
 * something only in the process's time zone (TZ, the zone files), and the
 * clock is I/O; durations, which need neither, stay in core/duration.h.
 * Times are milliseconds since the Unix epoch, the unit the engine stores.
 */
#ifndef SAGA_CLOCK_H
#define SAGA_CLOCK_H

#include <stdint.h>

#include "duration.h"
#include "error.h"

/* Wall-clock time now, in milliseconds since the epoch (CLOCK_REALTIME). */
int64_t saga_clock_now_ms(void);

/* A monotonic clock in milliseconds, for measuring intervals. */
int64_t saga_clock_mono_ms(void);

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

/* RFC 3339 in UTC with milliseconds: "2026-11-23T14:00:00.123Z". */
void saga_time_format_utc(int64_t ms, char *buf, size_t cap);

#endif
