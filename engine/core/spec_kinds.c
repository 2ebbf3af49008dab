/*
 * spec_kinds.c - the steps no participant runs: signal steps, which wait for
 * an outside approve or reject, and sub-saga steps, which run another
 * definition as a child saga.
 *
 * Both are ordinary steps to the graph and to the decision core (they
 * reserve, may be confirmed, are compensated), so they are read into the
 * same saga_step_def with a kind; what differs is which keys they take. A
 * key that belongs to a participant's step is reported at that key with
 * what to do instead, because copying a step and turning it into a signal
 * is how these specs get written. Sub-saga references across definitions
 * (unknown names, cycles, depth) need the stored definitions and are
 * checked when the spec is applied (defs_family.c).
 */
#include "spec_internal.h"

#include <stdlib.h>
#include <string.h>

/* Reports every key of step s that a step of this kind does not take. */
static void refuse_keys(spec_cx *cx, uint32_t s, const char *const *keys,
                        const char *kind, const char *hint)
{
    for (size_t i = 0; keys[i]; i++) {
        uint32_t k = spec_member(cx, s, keys[i]);
        if (!k)
            continue;
        size_t m = spec_enter(cx, k);
        spec_err_key(cx, k, "a %s step has no \"%s\"", kind, keys[i]);
        spec_hint(cx, "%s", hint);
        spec_leave(cx, m);
    }
}

/* Integer member key of obj in [lo, hi] into *out; absent leaves *out. */
static uint32_t read_ms(spec_cx *cx, uint32_t obj, const char *key,
                        long long lo, long long hi, int64_t *out)
{
    uint32_t k = spec_member(cx, obj, key);
    if (!k)
        return 0;
    size_t m = spec_enter(cx, k);
    spec_int_in(cx, k, lo, hi, out);
    spec_leave(cx, m);
    return k;
}

static void build_signal(spec_cx *cx, uint32_t s, uint32_t k,
                         saga_step_def *d)
{
    static const char *const refused[] = {
        "participant", "topic", "reserve", "confirm", "compensate",
        "irreversible", "timeout_ms", "retry", "input", NULL};
    static const char *const known[] = {"timeout_ms", NULL};

    d->kind = SAGA_STEP_SIGNAL;
    d->retry.max_attempts = 1;
    refuse_keys(cx, s, refused, "signal",
                "a signal step waits for `sagactl signal`, saga_signal() or "
                "a Signal message; its only setting is "
                "\"signal\": {\"timeout_ms\": N}");
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "object")) {
        for (uint32_t f = NODE(cx, k).first; f; f = NODE(cx, f).next) {
            if (strcmp(NODE(cx, f).key, "timeout_ms") == 0)
                continue;
            size_t fm = spec_enter(cx, f);
            spec_err_key(cx, f, "unknown key");
            spec_suggest(cx, NODE(cx, f).key, known, 1, "known keys");
            spec_leave(cx, fm);
        }
        if (!read_ms(cx, k, "timeout_ms", 1, SAGA_SPEC_MAX_SIGNAL_TIMEOUT_MS,
                     &d->timeout_ms)) {
            spec_err_at(cx, k, "missing required key \"timeout_ms\"");
            spec_hint(cx, "how long to wait for the decision, in "
                          "milliseconds; when it passes, the saga "
                          "compensates as if rejected");
        }
    }
    spec_leave(cx, m);
}

static void build_subsaga(spec_cx *cx, uint32_t s, uint32_t k,
                          saga_step_def *d)
{
    static const char *const refused[] = {
        "participant", "topic", "reserve", "confirm", "compensate",
        "irreversible", "retry", NULL};
    spec_qbuf qb;

    d->kind = SAGA_STEP_SAGA;
    d->retry.max_attempts = 1;
    d->timeout_ms = SAGA_SPEC_MAX_TIMEOUT_MS;
    refuse_keys(cx, s, refused, "sub-saga",
                "the child saga's own steps reserve, confirm and compensate; "
                "a sub-saga step takes \"saga\", \"input\" and "
                "\"timeout_ms\"");
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "string")) {
        const char *v = json_string_value(NODE(cx, k).v);
        if (strlen(v) > SAGA_SPEC_MAX_NAME || !spec_name_ok(v)) {
            spec_err_at(cx, k, "invalid saga name %s", spec_quote_str(&qb, v));
            spec_hint(cx, "names start with a lower-case letter, followed by "
                          "lower-case letters, digits or '_'");
        }
        if (!(d->subsaga = strdup(v)))
            cx->diag.oom = true;
    }
    spec_leave(cx, m);

    uint32_t in = spec_member(cx, s, "input");
    if (in) {
        size_t im = spec_enter(cx, in);
        if (spec_want_type(cx, in, "object"))
            d->reserve.payload = json_incref(NODE(cx, in).v);
        spec_leave(cx, im);
    }
    if (!d->reserve.payload && !(d->reserve.payload = json_object()))
        cx->diag.oom = true;
    read_ms(cx, s, "timeout_ms", 1, SAGA_SPEC_MAX_TIMEOUT_MS, &d->timeout_ms);
    d->reserve.command = strdup("start");
    d->confirm.command = strdup("confirm");
    d->compensate.command = strdup("compensate");
    d->confirm.payload = json_object();
    d->compensate.payload = json_object();
    if (!d->reserve.command || !d->confirm.command || !d->compensate.command ||
        !d->confirm.payload || !d->compensate.payload)
        cx->diag.oom = true;
}

bool spec_build_step_kind(spec_cx *cx, uint32_t s, saga_step_def *d)
{
    uint32_t sig = spec_member(cx, s, "signal");
    uint32_t sub = spec_member(cx, s, "saga");

    if (!sig && !sub) {
        uint32_t in = spec_member(cx, s, "input");
        if (in) {
            size_t m = spec_enter(cx, in);
            spec_err_key(cx, in, "only a sub-saga step has \"input\"");
            spec_hint(cx, "add \"saga\": NAME to run a child saga, or put "
                          "the values in reserve.payload");
            spec_leave(cx, m);
        }
        return false;
    }
    if (sig && sub) {
        size_t m = spec_enter(cx, sub);
        spec_err_key(cx, sub, "a step cannot be both a signal and a sub-saga");
        spec_hint(cx, "split it into two steps");
        spec_leave(cx, m);
    }
    if (sig)
        build_signal(cx, s, sig, d);
    else
        build_subsaga(cx, s, sub, d);
    saga_phase *phases[] = {&d->reserve, &d->confirm, &d->compensate};
    for (size_t ph = 0; ph < 3; ph++)
        if (!phases[ph]->payload)
            phases[ph]->payload = json_null();
    return true;
}
