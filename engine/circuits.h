/*
 * circuits.h - the coordinator's circuit breakers, one per participant.
 *
 * What is shared lives in PostgreSQL (schema/008_circuits.sql); each sagad
 * keeps a copy of the breakers that are not CLOSED, refreshed by its relay
 * tick, and a turn uses only that copy: saga_circuits_gate tells the
 * machine which participants refuse new RESERVEs before it decides, and
 * saga_circuits_defer queues what the machine observed (failures, answers,
 * held and released sagas) to travel with the turn's own write, so a turn
 * still costs two round trips. The tick (circuits.c) does the rest in
 * a transaction of its own: it counts, decides each transition with
 * engine/core/circuit.c, records it in the history of the sagas it holds,
 * picks the half-open probe and wakes the sagas a breaker lets go. A copy
 * at most one tick old is safe: a saga held by a stale copy is woken again
 * by the next tick, and a RESERVE let through by one is one more command
 * the participant's barrier handles like any other.
 */
#ifndef SAGA_CIRCUITS_H
#define SAGA_CIRCUITS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "circuit.h"
#include "engine.h"
#include "error.h"
#include "spec.h"
#include "store.h"

typedef struct saga_circuits saga_circuits;

/* A breaker as the last tick saw it. */
typedef struct saga_circuit_entry {
    char participant[SAGA_SPEC_MAX_NAME + 1];
    saga_circuit_state state;
    int64_t since_ms;
    char probe[SAGA_ID_LEN + 1]; /* HALF_OPEN: the saga let through; "" none */
    long waiting;                /* sagas it holds */
} saga_circuit_entry;

/* defaults: what a spec leaves unset (sagad's circuit.* keys); copied.
 * Owned: saga_circuits_free. NULL when out of memory. */
saga_circuits *saga_circuits_new(const saga_circuit_policy *defaults);
void saga_circuits_free(saga_circuits *cs);

/* The breakers known (every participant that ever failed), borrowed until
 * the next tick. */
size_t saga_circuits_count(const saga_circuits *cs);
const saga_circuit_entry *saga_circuits_at(const saga_circuits *cs, size_t i);

/* Fills each event's circuit_open from the copy (the half-open probe saga
 * is let through its breaker). The lists are borrowed from cs and valid
 * until the next gate or tick. */
void saga_circuits_gate(saga_circuits *cs, saga_engine_event *evs, size_t n);

/* Defers (saga_pg_defer) one statement recording what evs observed, in the
 * caller's transaction; nothing when there is nothing to record. */
int saga_circuits_defer(saga_circuits *cs, PGconn *conn, const saga_engine_event *evs,
                        size_t n, saga_error *err);

/* A transition the tick made, for the caller's log and metrics. */
typedef void (*saga_circuit_report_fn)(void *user, const char *participant,
                                       saga_circuit_state from, saga_circuit_state to,
                                       const char *why);

/* The tick: one transaction on conn (none may be open). *woke tells
 * whether sagas were made due (a NOTIFY went out with the commit). */
int saga_circuits_tick(saga_circuits *cs, PGconn *conn, saga_circuit_report_fn report,
                       void *user, bool *woke, saga_error *err);

#endif
