/*
 * start_item.h - a start request checked and ready to insert, for sagad.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
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
    json_t *tags;                           /* owned: saga_start_item_clear */
    saga_new row;
} saga_start_item;

/* What a start request sets beyond its input (all optional). */
typedef struct saga_start_opts {
    int64_t deadline_ms;  /* > 0 overrides the spec's; 0 = the spec's */
    int64_t start_at_ms;  /* 0 = now */
    bool past_ok;         /* a start time already passed starts now instead
                             of being refused (a StartSaga that waited in
                             Kafka) */
    const json_t *tags;   /* borrowed object of strings, or NULL */
} saga_start_opts;

/*
 * Validates a start for callers that already hold the parsed definition and
 * input (sagad's saga.start consumer batches them into one insert) and
 * fills *it; no I/O. wake_now: leave the first dispatch to a timer (true)
 * or to the caller, who applies SAGA_EV_START in the same transaction
 * (false); a scheduled saga is left to the timer at its start time either
 * way. opts may be NULL. Returns 0, SAGA_EINVAL (bad input, key, deadline,
 * start time or tag; the message names it) or SAGA_ELIMIT (input too
 * large). Free with saga_start_item_clear whatever it returns.
 */
int saga_start_prepare(const saga_spec *spec, const json_t *input,
                       const char *idempotency_key, const char *traceparent,
                       bool wake_now, const saga_start_opts *opts,
                       saga_start_item *it, saga_error *err);
void saga_start_item_clear(saga_start_item *it);

/* The options half of saga_start_prepare (start_opts.c): checks o (may be
 * NULL) and sets it->row's deadline, start time and tags. it->id and
 * it->row.now_ms must be set. */
int saga_start_apply_opts(const saga_spec *spec, const json_t *input,
                          const saga_start_opts *o, saga_start_item *it, saga_error *err);

/* Whether the item will wait for its start time (no START to apply). */
bool saga_start_item_scheduled(const saga_start_item *it);

#endif
