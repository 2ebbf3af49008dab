/*
 * turn_hops.h - the hop rows a turn writes: for every Reply it applied that
 * carries the hop header (hops.h), one history row of kind "hop" with the
 * durations of the whole command-and-reply round; for every saga it
 * started, one with how long the StartSaga took to reach the turn.
 *
 * They go into the turn's own write set, so they cost no round trip, and
 * are what `sagactl show --timing` reads.
 */
#ifndef SAGA_SAGAD_TURN_HOPS_H
#define SAGA_SAGAD_TURN_HOPS_H

#include <stdint.h>

#include "batch.h"
#include "store.h"

/* free_us: when the loop finished the turn before; turn_us: when this one
 * started (both wall-clock microseconds). */
void saga_turn_hops(const saga_batch *b, saga_writes *w, int64_t free_us, int64_t turn_us);

#endif
