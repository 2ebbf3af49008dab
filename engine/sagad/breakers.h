/*
 * breakers.h - sagad's side of the circuit breakers (engine/circuits.h):
 * the circuit.* configuration, the tick, logs and metrics of transitions.
 */
#ifndef SAGAD_BREAKERS_H
#define SAGAD_BREAKERS_H

#include "sagad.h"

/* Creates d->circuits from the configuration and registers the metrics.
 * 0, or -1 when out of memory. */
int sagad_breakers_init(sagad *d);

/* The breakers' share of the relay tick, at most once per outbox.interval:
 * decide, wake, refresh the copy turns read, set the gauges. */
void sagad_breakers_tick(sagad *d, int64_t interval);

#endif
