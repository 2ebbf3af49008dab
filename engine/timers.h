/*
 * timers.h - finding the sagas whose wake-up time has come.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * Deadlines, backoff retries and stuck checks are all folded by the
 * decision core into one sagas.wake_at per saga, so a single partial index
 * answers both questions sagad asks: which sagas are due now (claimed with
 * FOR UPDATE SKIP LOCKED, so several sagad processes split them without
 * waiting on each other) and when the next one is due (so sagad sleeps
 * exactly until then instead of polling).
 */
#ifndef SAGA_TIMERS_H
#define SAGA_TIMERS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

/* Claims (locks) up to max sagas due at now_ms, inside the caller's
 * transaction. ids must hold max entries. */
int saga_timers_claim(PGconn *conn, int64_t now_ms, size_t max,
                      char (*ids)[SAGA_ID_LEN + 1], size_t *n, saga_error *err);

/* The earliest wake-up time of any saga (ms since epoch), 0 when none. */
int saga_timers_next(PGconn *conn, int64_t *next_ms, saga_error *err);

#endif
