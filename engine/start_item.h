/*
 * start_item.h - a start request checked and ready to insert, for sagad.
 *
 * sagad's saga.start consumer validates many starts and creates them in one
 * statement; this is the half of saga_start it shares. Kept out of start.h
 * because start.h is installed for applications and must not pull in the
 * store's and the machine's types.
 */
#ifndef SAGA_START_ITEM_H
#define SAGA_START_ITEM_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"
#include "spec.h"
#include "store.h"
#include "trace.h"

/*
 * A start request checked against its definition, ready for
 * saga_store_create / saga_store_create_many. row borrows spec, input and
 * key from the caller and id and traceparent from this struct, so the item
 * must stay where it is until inserted.
 */
typedef struct saga_start_item {
    char id[SAGA_ID_LEN + 1];               /* a new UUID */
    char traceparent[SAGA_TRACEPARENT_SIZE]; /* the caller's, or a new trace */
    saga_new row;
} saga_start_item;

/*
 * Validates a start for callers that already hold the parsed definition and
 * input (sagad's saga.start consumer batches them into one insert) and
 * fills *it; no I/O. wake_now: leave the first dispatch to a timer (true)
 * or to the caller, who applies SAGA_EV_START in the same transaction
 * (false). Returns 0, SAGA_EINVAL (bad input or key, message names the
 * field) or SAGA_ELIMIT (input too large).
 */
int saga_start_prepare(const saga_spec *spec, const json_t *input,
                       const char *idempotency_key, const char *traceparent,
                       bool wake_now, saga_start_item *it, saga_error *err);

#endif
