/*
 * store_record.h - the JSON records of a saga row and a step row, shared
 * by store_write.c (changes) and store_create.c (new sagas) so both write
 * the same columns from the same state. Private to the store.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 */
#ifndef SAGA_STORE_RECORD_H
#define SAGA_STORE_RECORD_H

#include <jansson.h>
#include <stddef.h>

#include "machine.h"

/* {id, status, progress_ms, wake_ms, stuck, stuck_reason, aborted,
 * resolved, start_ms, deadline_ms, deadline_at_ms, deadline_expired}: the
 * saga-level columns of st. New reference (owned), NULL when
 * out of memory. */
json_t *saga_store_saga_record(const char *id, const saga_state *st);

/* {saga_id, idx, status, action, attempt, failures, deadline_ms, retry_ms,
 * ra, ca, xa, ro, co, xo, err}: step idx's columns. Owned; NULL when out of
 * memory. */
json_t *saga_store_step_record(const char *saga_id, size_t idx, const saga_step_state *s);

#endif
