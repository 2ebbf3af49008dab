/*
 * faults.h - fault injection decisions for the workers.
 *
 * Layer: workers/, the participant library; built on core and common only,
 * used by the workers and your participants, never by the coordinator.
 *
 * Each decision is a pure function of (seed, idempotency key, action,
 * attempt, kind of fault): a run with the same seed and the same commands
 * misbehaves identically however Kafka batches or interleaves them, and a
 * re-dispatch (a new attempt) draws afresh, so a RETRY fault cannot trap a
 * step for ever. The same attempt redelivered draws the same, which is what a
 * deterministic bug would do.
 */
#ifndef SAGA_WORKER_FAULTS_H
#define SAGA_WORKER_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "worker.h"

typedef struct saga_fault_draw {
    bool ignore;     /* consume, do nothing, never answer */
    bool retry;      /* answer RETRY without touching anything */
    bool reject;     /* RESERVE: refuse (recorded like a business refusal) */
    bool drop_reply; /* apply and record, send no reply */
    bool crash;      /* apply and record, then exit before any reply */
} saga_fault_draw;

/* Zero rates, no ignores, every action subject to faults, seed 0. */
void saga_faults_init(saga_worker_faults *f);

/* Whether any fault is configured (the fast path skips the draws). */
bool saga_faults_any(const saga_worker_faults *f);

/* The decisions for one command (key borrowed). */
saga_fault_draw saga_faults_draw(const saga_worker_faults *f, const char *key,
                                 saga_worker_action action, int attempt);

/* Whether the batch should be delayed for a command of this action. */
bool saga_faults_delays(const saga_worker_faults *f, saga_worker_action action);

/* Parses a probability "0" .. "1" (e.g. "0.25"); 0 or SAGA_EINVAL. */
int saga_faults_parse_rate(const char *s, double *out);

/* Parses a comma-separated action list ("reserve,compensate") into a mask of
 * 1 << action; "all" means every action. 0 or SAGA_EINVAL. */
int saga_faults_parse_actions(const char *s, unsigned *mask);

/* splitmix64: the mixing function behind the draws, exposed for tests. */
uint64_t saga_faults_mix(uint64_t x);

#endif
