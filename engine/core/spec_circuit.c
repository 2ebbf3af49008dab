/*
 * spec_circuit.c - "circuit" in "defaults" and in a step: when the
 * participant's circuit breaker opens, and what a saga does while it is
 * open (docs/spec.md).
 *
 * Kept apart from spec_build.c because the circuit is a policy of the
 * participant more than of the saga: the thresholds a spec leaves out are
 * sagad's own (circuit.* in its configuration), so unset fields stay 0
 * here and the coordinator fills them, and only "on_open" reaches the
 * decision machine. A step's object overrides defaults.circuit field by
 * field, as "retry" does.
 */
#include "spec_internal.h"

#include <string.h>

static const char *const KEYS[] = {"failures", "window_ms", "cooldown_ms", "on_open",
                                   NULL};

#define CIRCUIT_MAX_FAILURES 100000

/* Integer member key of obj within lo..hi into *out, when present. */
static void read_int(spec_cx *cx, uint32_t obj, const char *key, long long lo,
                     long long hi, int64_t *out)
{
    uint32_t k = spec_member(cx, obj, key);
    if (!k)
        return;
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "integer")) {
        json_int_t v = json_integer_value(NODE(cx, k).v);
        if (v < lo)
            spec_err_at(cx, k, "must be at least %lld, got %lld", lo, (long long)v);
        else if (v > hi)
            spec_err_at(cx, k, "must be at most %lld, got %lld", hi, (long long)v);
        else
            *out = v;
    }
    spec_leave(cx, m);
}

static void read_on_open(spec_cx *cx, uint32_t obj, saga_circuit_on_open *out)
{
    uint32_t k = spec_member(cx, obj, "on_open");
    if (!k)
        return;
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "string")) {
        const char *v = json_string_value(NODE(cx, k).v);
        if (strcmp(v, "wait") == 0) {
            *out = SAGA_CIRCUIT_WAIT;
        } else if (strcmp(v, "reject") == 0) {
            *out = SAGA_CIRCUIT_REJECT;
        } else {
            spec_err_at(cx, k, "must be \"wait\" or \"reject\", got \"%s\"", v);
            spec_hint(cx, "\"wait\" holds the reserve until the circuit closes, "
                          "\"reject\" compensates at once");
        }
    }
    spec_leave(cx, m);
}

/* The "circuit" object at node k over base. */
static void build_circuit(spec_cx *cx, uint32_t k, const saga_circuit_policy *base,
                          saga_circuit_policy *out)
{
    *out = *base;
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "object")) {
        spec_check_keys(cx, k, KEYS);
        int64_t failures = out->failures;
        read_int(cx, k, "failures", 1, CIRCUIT_MAX_FAILURES, &failures);
        out->failures = (int)failures;
        read_int(cx, k, "window_ms", 1, SAGA_SPEC_MAX_STUCK_AFTER_MS, &out->window_ms);
        read_int(cx, k, "cooldown_ms", 1, SAGA_SPEC_MAX_STUCK_AFTER_MS, &out->cooldown_ms);
        read_on_open(cx, k, &out->on_open);
    }
    spec_leave(cx, m);
}

void spec_build_circuits(spec_cx *cx)
{
    saga_spec *spec = cx->spec;
    memset(&spec->circuit, 0, sizeof spec->circuit);
    uint32_t defaults = spec_member(cx, 0, "defaults");
    uint32_t k = defaults && json_is_object(NODE(cx, defaults).v)
                     ? spec_member(cx, defaults, "circuit")
                     : 0;
    if (k) {
        size_t m = spec_enter(cx, defaults);
        saga_circuit_policy none = {0};
        build_circuit(cx, k, &none, &spec->circuit);
        spec_leave(cx, m);
    }
    for (size_t i = 0; i < spec->n_steps; i++) {
        saga_step_def *d = &spec->steps[i];
        d->circuit = spec->circuit;
        uint32_t s = cx->aux[i].node;
        uint32_t c = s ? spec_member(cx, s, "circuit") : 0;
        if (!c)
            continue;
        size_t m = spec_enter(cx, spec_member(cx, 0, "steps"));
        size_t mi = spec_enter_index(cx, i);
        build_circuit(cx, c, &spec->circuit, &d->circuit);
        spec_leave(cx, mi);
        spec_leave(cx, m);
    }
}
