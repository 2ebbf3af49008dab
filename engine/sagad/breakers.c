/*
 * breakers.c - sagad's side of the circuit breakers: the configuration
 * (circuit.failures, circuit.window, circuit.cooldown are what a spec
 * leaves unset), the tick, and what a transition leaves behind: a log
 * line and saga_circuit_transitions_total from the process that made it,
 * and saga_circuit_state from every process, read from the shared copy.
 *
 * Kept out of sagad.c so that the loop reads as a loop; the tick is the
 * relay's because both are periodic work off the hot path.
 */
#include "breakers.h"

#include "circuits.h"
#include "log.h"
#include "store.h"

int sagad_breakers_init(sagad *d)
{
    saga_circuit_policy p = {
        .failures = (int)saga_config_int(d->cfg, "circuit.failures"),
        .window_ms = saga_config_ms(d->cfg, "circuit.window"),
        .cooldown_ms = saga_config_ms(d->cfg, "circuit.cooldown")};
    d->circuits = saga_circuits_new(&p);
    d->m.circuit_state = saga_metrics_gauge(
        d->metrics, "saga_circuit_state",
        "Circuit breaker per participant: 0 closed, 1 open, 2 half-open.", "participant");
    d->m.circuit_transitions = saga_metrics_counter(
        d->metrics, "saga_circuit_transitions_total",
        "Circuit breaker transitions this process decided, by participant and new state.",
        "participant,to");
    return d->circuits ? 0 : -1;
}

static void report(void *user, const char *participant, saga_circuit_state from,
                   saga_circuit_state to, const char *why)
{
    sagad *d = user;
    const char *lv[2] = {participant, saga_circuit_state_name(to)};
    saga_metrics_inc(d->m.circuit_transitions, lv, 1);
    if (to == SAGA_CIRCUIT_OPEN)
        saga_log_warn(NULL, "%s circuit %s -> OPEN: %s; new RESERVEs to it are held",
                      participant, saga_circuit_state_name(from), why);
    else
        saga_log_info(NULL, "%s circuit %s -> %s: %s", participant,
                      saga_circuit_state_name(from), saga_circuit_state_name(to), why);
}

void sagad_breakers_tick(sagad *d, int64_t interval)
{
    int64_t now = saga_now_ms();
    if (now < d->next_breakers)
        return;
    d->next_breakers = now + interval;
    saga_error err;
    bool woke = false;
    if (saga_circuits_tick(d->circuits, d->conn, report, d, &woke, &err)) {
        saga_log_warn(NULL, "circuit breakers: %s", err.msg);
        return;
    }
    if (woke)
        d->wake_now = true;
    for (size_t i = 0; i < saga_circuits_count(d->circuits); i++) {
        const saga_circuit_entry *e = saga_circuits_at(d->circuits, i);
        const char *lv[1] = {e->participant};
        saga_metrics_set(d->m.circuit_state, lv, (double)e->state);
    }
}
