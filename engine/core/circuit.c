/*
 * circuit.c - the breaker's transitions (see circuit.h).
 *
 * Counting is the caller's: it knows where failures are recorded and how
 * several processes share them. This file only turns counts and times into
 * the next state, so the rule reads in one place and cannot drift between
 * the processes that apply it.
 */
#include "circuit.h"

#include <stdio.h>
#include <strings.h>

#include "duration.h"

static const char *const NAMES[] = {"CLOSED", "OPEN", "HALF_OPEN"};

const char *saga_circuit_state_name(saga_circuit_state s)
{
    return (int)s >= 0 && (size_t)s < sizeof NAMES / sizeof *NAMES ? NAMES[s] : "UNKNOWN";
}

int saga_circuit_state_parse(const char *s, saga_circuit_state *out)
{
    for (size_t i = 0; s && i < sizeof NAMES / sizeof *NAMES; i++)
        if (strcasecmp(s, NAMES[i]) == 0) {
            *out = (saga_circuit_state)i;
            return 0;
        }
    return -1;
}

saga_circuit_state saga_circuit_next(const saga_circuit *c, int64_t now_ms, char *why,
                                     size_t size)
{
    char dur[SAGA_TIME_TEXT_MAX];
    switch (c->state) {
    case SAGA_CIRCUIT_CLOSED:
        if (c->threshold <= 0 || c->failures < c->threshold)
            return c->state;
        saga_duration_format(c->window_ms, 2, dur, sizeof dur);
        snprintf(why, size, "%d failures within %s", c->failures, dur);
        return SAGA_CIRCUIT_OPEN;
    case SAGA_CIRCUIT_OPEN:
        if (now_ms - c->since_ms < c->cooldown_ms)
            return c->state;
        saga_duration_format(c->cooldown_ms, 2, dur, sizeof dur);
        snprintf(why, size, "cool-down of %s over, one probe may go out", dur);
        return SAGA_CIRCUIT_HALF_OPEN;
    case SAGA_CIRCUIT_HALF_OPEN:
        if (c->failures > 0) {
            snprintf(why, size, "probe failed");
            return SAGA_CIRCUIT_OPEN;
        }
        if (c->answered) {
            snprintf(why, size, "probe answered");
            return SAGA_CIRCUIT_CLOSED;
        }
        if (!c->waiting) {
            snprintf(why, size, "no saga waiting to probe with");
            return SAGA_CIRCUIT_CLOSED;
        }
        if (now_ms - c->since_ms < c->window_ms)
            return c->state;
        saga_duration_format(c->window_ms, 2, dur, sizeof dur);
        snprintf(why, size, "no answer to a probe within %s", dur);
        return SAGA_CIRCUIT_OPEN;
    }
    return c->state;
}
