/*
 * circuit.h - a participant's circuit breaker as a pure transition:
 * (breaker, what was counted, now) -> next state and why.
 *
 * The coordinator's shell (engine/circuit.c) counts, in PostgreSQL, the
 * failures and answers each participant gave since the breaker last
 * changed, and asks this function what follows; keeping the rule here
 * keeps it the same for every sagad process and lets every transition be
 * a unit test (tests/unit/test_circuit.c). Rules:
 *  - CLOSED -> OPEN: failures within the window (counted from when it
 *    closed) reach the threshold.
 *  - OPEN -> HALF_OPEN: the cool-down has passed; one waiting saga is then
 *    let through as the probe.
 *  - HALF_OPEN -> CLOSED: a command was answered (OK or REJECTED) since,
 *    or no saga waits for it and no probe is out: with nothing held there
 *    is nothing to probe with, and the next failures count afresh.
 *  - HALF_OPEN -> OPEN: a command failed since (timeout or RETRY), or no
 *    answer came within the window (the probe never went out or was lost).
 * An answer while OPEN changes nothing: only the cool-down ends it.
 */
#ifndef SAGA_CIRCUIT_H
#define SAGA_CIRCUIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum saga_circuit_state {
    SAGA_CIRCUIT_CLOSED = 0,
    SAGA_CIRCUIT_OPEN,
    SAGA_CIRCUIT_HALF_OPEN
} saga_circuit_state;

typedef struct saga_circuit {
    saga_circuit_state state;
    int64_t since_ms;    /* when it entered state */
    int threshold;       /* failures that open it; 0 = never opens */
    int64_t window_ms;
    int64_t cooldown_ms;
    int failures;        /* counted within the window and since since_ms */
    bool answered;       /* a command was answered since since_ms */
    bool waiting;        /* a saga waits for it, or its probe is out */
} saga_circuit;

#define SAGA_CIRCUIT_WHY_MAX 160

/* The state that follows c at now_ms; when it differs, why receives a
 * sentence for logs and histories ("5 failures within 30s"). */
saga_circuit_state saga_circuit_next(const saga_circuit *c, int64_t now_ms, char *why,
                                     size_t size);

/* "CLOSED", "OPEN", "HALF_OPEN" ("UNKNOWN" out of range); parse accepts
 * them in any case: 0 or -1. */
const char *saga_circuit_state_name(saga_circuit_state s);
int saga_circuit_state_parse(const char *s, saga_circuit_state *out);

#endif
