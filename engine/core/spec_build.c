/*
 * spec_build.c - building a saga_spec from the positioned tree: each
 * section (name, version, input, defaults, steps) read, type-checked and
 * bounded, with defaults resolved into every step.
 *
 * Reading never stops at the first problem: a bad value is reported and
 * left at its default so that the rest of the file is still checked, and a
 * name that breaks the naming rule is still kept so that references to it
 * resolve and one mistake is reported once. The readers below each report
 * at the node they were given, under the path the caller entered; the
 * relations between steps are left to spec_graph.c.
 */
#include "spec_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* --- reporting at nodes --------------------------------------------------- */

void spec_err_at(spec_cx *cx, uint32_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    spec_diag_verror(&cx->diag, NODE(cx, n).line, NODE(cx, n).col, false, fmt,
                     ap);
    va_end(ap);
}

void spec_err_key(spec_cx *cx, uint32_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    spec_diag_verror(&cx->diag, NODE(cx, n).key_line, NODE(cx, n).key_col,
                     false, fmt, ap);
    va_end(ap);
}

size_t spec_enter(spec_cx *cx, uint32_t n)
{
    return spec_path_key(&cx->diag, NODE(cx, n).key);
}

/* --- typed readers -------------------------------------------------------- */

const char *spec_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static bool has_type(const json_t *v, const char *want)
{
    if (strcmp(want, "number") == 0)
        return json_is_number(v);
    if (strcmp(want, "boolean") == 0)
        return json_is_boolean(v);
    return strcmp(spec_type_name(v), want) == 0;
}

bool spec_want_type(spec_cx *cx, uint32_t n, const char *want)
{
    if (has_type(NODE(cx, n).v, want))
        return true;
    spec_err_at(cx, n, "expected %s, got %s", want,
                spec_type_name(NODE(cx, n).v));
    return false;
}

static size_t count_list(const char *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

/* Reports every key of obj not in known (NULL-terminated). */
static void check_keys(spec_cx *cx, uint32_t obj, const char *const *known)
{
    size_t n_known = count_list(known);
    for (uint32_t k = NODE(cx, obj).first; k; k = NODE(cx, k).next) {
        size_t i = 0;
        while (i < n_known && strcmp(known[i], NODE(cx, k).key) != 0)
            i++;
        if (i < n_known)
            continue;
        size_t m = spec_enter(cx, k);
        spec_err_key(cx, k, "unknown key");
        spec_suggest(cx, NODE(cx, k).key, known, n_known, "known keys");
        spec_leave(cx, m);
    }
}

void spec_check_keys(spec_cx *cx, uint32_t obj, const char *const *known)
{
    check_keys(cx, obj, known);
}

/* Member key of obj, reporting it when absent (about obj's path). */
static uint32_t require(spec_cx *cx, uint32_t obj, const char *key)
{
    uint32_t k = spec_member(cx, obj, key);
    if (!k)
        spec_err_at(cx, obj, "missing required key \"%s\"", key);
    return k;
}

static bool int_in(spec_cx *cx, uint32_t k, long long lo, long long hi,
                   int64_t *out)
{
    if (!spec_want_type(cx, k, "integer"))
        return false;
    long long v = json_integer_value(NODE(cx, k).v);
    if (v < lo) {
        spec_err_at(cx, k, "must be at least %lld, got %lld", lo, v);
        return false;
    }
    if (v > hi) {
        spec_err_at(cx, k, "must be at most %lld, got %lld", hi, v);
        return false;
    }
    *out = v;
    return true;
}

/* Optional integer member: returns its node (0 when absent); *ok (ok may
 * be NULL) is cleared when it is present but invalid. */
static uint32_t opt_int(spec_cx *cx, uint32_t obj, const char *key,
                        long long lo, long long hi, int64_t *out, bool *ok)
{
    uint32_t k = spec_member(cx, obj, key);
    if (!k)
        return 0;
    size_t m = spec_enter(cx, k);
    if (!int_in(cx, k, lo, hi, out) && ok)
        *ok = false;
    spec_leave(cx, m);
    return k;
}

static void opt_number(spec_cx *cx, uint32_t obj, const char *key, double lo,
                       double hi, double *out)
{
    uint32_t k = spec_member(cx, obj, key);
    if (!k)
        return;
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "number")) {
        double v = json_number_value(NODE(cx, k).v);
        if (v < lo)
            spec_err_at(cx, k, "must be at least %g, got %g", lo, v);
        else if (v > hi)
            spec_err_at(cx, k, "must be at most %g, got %g", hi, v);
        else
            *out = v;
    }
    spec_leave(cx, m);
}

/* Optional string member: a copy (owned) or NULL when absent or invalid. */
static char *opt_string(spec_cx *cx, uint32_t obj, const char *key,
                        uint32_t *node)
{
    uint32_t k = spec_member(cx, obj, key);
    char *s = NULL;
    if (node)
        *node = k;
    if (!k)
        return NULL;
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "string") &&
        !(s = strdup(json_string_value(NODE(cx, k).v))))
        cx->diag.oom = true;
    spec_leave(cx, m);
    return s;
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool lower_ident(const char *s)
{
    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (const char *c = s + 1; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return false;
    return true;
}

static bool field_ident(const char *s)
{
    if (!(is_alpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (const char *c = s + 1; *c; c++)
        if (!(is_alpha((unsigned char)*c) || is_digit((unsigned char)*c) ||
              *c == '_'))
            return false;
    return true;
}

static bool command_ident(const char *s)
{
    if (!is_alpha((unsigned char)s[0]))
        return false;
    for (const char *c = s + 1; *c; c++)
        if (!(is_alpha((unsigned char)*c) || is_digit((unsigned char)*c) ||
              *c == '_' || *c == '.' || *c == '-'))
            return false;
    return true;
}

static bool topic_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const char *c = s; *c; c++)
        if (!(is_alpha((unsigned char)*c) || is_digit((unsigned char)*c) ||
              *c == '_' || *c == '.' || *c == '-'))
            return false;
    return true;
}

/* Checks a name against the length limit and a pattern; reports at node n
 * (whose path is current). `kind` is "name", "participant", ... */
static void check_name(spec_cx *cx, uint32_t n, const char *s,
                       bool (*ok)(const char *), const char *kind,
                       const char *rule)
{
    spec_qbuf qb;
    size_t len = strlen(s);
    if (len > SAGA_SPEC_MAX_NAME) {
        spec_limit_pos(cx, NODE(cx, n).line, NODE(cx, n).col,
                       "%s is %zu characters long, longer than the limit of %d",
                       kind, len, SAGA_SPEC_MAX_NAME);
        return;
    }
    if (!ok(s)) {
        spec_err_at(cx, n, "invalid %s %s", kind, spec_quote_str(&qb, s));
        spec_hint(cx, "%s", rule);
    }
}

#define NAME_RULE                                                              \
    "names start with a lower-case letter, followed by lower-case letters, "   \
    "digits or '_'"

/* Required name-like string member: a copy (owned) or NULL. The copy is
 * kept even when the pattern does not match, so that references to it
 * resolve and one mistake is reported once. */
static char *take_name(spec_cx *cx, uint32_t obj, const char *key,
                       bool (*ok)(const char *), const char *kind,
                       const char *rule, uint32_t *node)
{
    uint32_t k = require(cx, obj, key);
    char *s = NULL;
    if (node)
        *node = k;
    if (!k)
        return NULL;
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "string")) {
        const char *v = json_string_value(NODE(cx, k).v);
        check_name(cx, k, v, ok, kind, rule);
        if (!(s = strdup(v)))
            cx->diag.oom = true;
    }
    spec_leave(cx, m);
    return s;
}

bool spec_name_ok(const char *s)
{
    return lower_ident(s);
}

bool spec_int_in(spec_cx *cx, uint32_t k, long long lo, long long hi, int64_t *out)
{
    return int_in(cx, k, lo, hi, out);
}

/* --- building the spec ---------------------------------------------------- */

const char *const spec_field_types[] = {"string", "integer", "number",
                                        "boolean", "object", "array", NULL};

/* The "type" of input field f into in->type (left as string when bad). */
static void build_input_type(spec_cx *cx, uint32_t f, saga_input_field *in)
{
    spec_qbuf qb;
    uint32_t t = require(cx, f, "type");
    if (!t)
        return;
    size_t m = spec_enter(cx, t);
    if (spec_want_type(cx, t, "string")) {
        const char *tn = json_string_value(NODE(cx, t).v);
        size_t i = 0;
        while (spec_field_types[i] && strcmp(spec_field_types[i], tn) != 0)
            i++;
        if (spec_field_types[i]) {
            in->type = (saga_field_type)i;
        } else {
            spec_err_at(cx, t, "unknown type %s", spec_quote_str(&qb, tn));
            spec_suggest(cx, tn, spec_field_types,
                         count_list(spec_field_types), "types");
        }
    }
    spec_leave(cx, m);
}

/* Input field f (a member of "input", whose path is current) into in. */
static void build_input_field(spec_cx *cx, uint32_t f, saga_input_field *in)
{
    static const char *const keys[] = {"type", "required", "description",
                                       NULL};
    const char *name = NODE(cx, f).key;

    in->type = SAGA_FIELD_STRING;
    in->required = true;
    if (!(in->name = strdup(name)))
        cx->diag.oom = true;
    if (strlen(name) > SAGA_SPEC_MAX_NAME) {
        spec_limit_pos(cx, NODE(cx, f).key_line, NODE(cx, f).key_col,
                       "field name is %zu characters long, longer than the "
                       "limit of %d",
                       strlen(name), SAGA_SPEC_MAX_NAME);
    } else if (!field_ident(name)) {
        spec_err_key(cx, f, "invalid input field name");
        spec_hint(cx, "field names are letters, digits and '_', not "
                      "starting with a digit");
    }
    if (!spec_want_type(cx, f, "object"))
        return;
    check_keys(cx, f, keys);
    build_input_type(cx, f, in);
    uint32_t r = spec_member(cx, f, "required");
    if (r) {
        size_t m = spec_enter(cx, r);
        if (spec_want_type(cx, r, "boolean"))
            in->required = json_is_true(NODE(cx, r).v);
        spec_leave(cx, m);
    }
    free(opt_string(cx, f, "description", NULL));
}

static void build_inputs(spec_cx *cx, uint32_t k)
{
    saga_spec *spec = cx->spec;

    cx->inputs_ok = false;
    size_t m = spec_enter(cx, k);
    if (!spec_want_type(cx, k, "object"))
        goto out;
    size_t n = NODE(cx, k).n_kids;
    if (n > SAGA_SPEC_MAX_INPUTS) {
        spec_limit_pos(cx, NODE(cx, k).line, NODE(cx, k).col,
                       "%zu input fields, more than the limit of %d", n,
                       SAGA_SPEC_MAX_INPUTS);
        goto out;
    }
    spec->inputs = calloc(n ? n : 1, sizeof *spec->inputs);
    if (!spec->inputs) {
        cx->diag.oom = true;
        goto out;
    }
    cx->inputs_ok = true;
    for (uint32_t f = NODE(cx, k).first; f; f = NODE(cx, f).next) {
        size_t fm = spec_enter(cx, f);
        build_input_field(cx, f, &spec->inputs[spec->n_inputs++]);
        spec_leave(cx, fm);
    }
out:
    spec_leave(cx, m);
}

/* Retry policy at node k: base (inherited from `from`) overridden by k. */
static void build_retry(spec_cx *cx, uint32_t k, const saga_retry_policy *base,
                        const char *from, saga_retry_policy *out)
{
    static const char *const keys[] = {"max_attempts", "initial_backoff_ms",
                                       "max_backoff_ms", "multiplier",
                                       "jitter", NULL};
    bool ok = true, bounds_ok = true;
    int64_t v;

    *out = *base;
    size_t m = spec_enter(cx, k);
    if (!spec_want_type(cx, k, "object"))
        goto out;
    check_keys(cx, k, keys);
    if (opt_int(cx, k, "max_attempts", 1, SAGA_SPEC_MAX_ATTEMPTS, &v, &ok) &&
        ok)
        out->max_attempts = (int)v;
    uint32_t ki = opt_int(cx, k, "initial_backoff_ms", 1,
                          SAGA_SPEC_MAX_TIMEOUT_MS, &out->initial_backoff_ms,
                          &bounds_ok);
    uint32_t km = opt_int(cx, k, "max_backoff_ms", 1, SAGA_SPEC_MAX_TIMEOUT_MS,
                          &out->max_backoff_ms, &bounds_ok);
    opt_number(cx, k, "multiplier", 1, SAGA_SPEC_MAX_MULTIPLIER,
               &out->multiplier);
    opt_number(cx, k, "jitter", 0, 1, &out->jitter);
    if (bounds_ok && out->max_backoff_ms < out->initial_backoff_ms) {
        long long lo = out->initial_backoff_ms, hi = out->max_backoff_ms;
        if (km) {
            size_t mm = spec_enter(cx, km);
            spec_err_at(cx, km,
                        "must not be less than initial_backoff_ms (%lld%s%s),"
                        " got %lld",
                        lo, ki ? "" : ", inherited from ", ki ? "" : from, hi);
            spec_leave(cx, mm);
        } else {
            size_t mi = spec_enter(cx, ki);
            spec_err_at(cx, ki,
                        "must not be greater than max_backoff_ms (%lld, "
                        "inherited from %s), got %lld",
                        hi, from, lo);
            spec_hint(cx, "set max_backoff_ms here too");
            spec_leave(cx, mi);
        }
    }
out:
    spec_leave(cx, m);
}

static void build_defaults(spec_cx *cx, uint32_t k)
{
    static const char *const keys[] = {"timeout_ms", "retry", "stuck_after_ms",
                                       "circuit", NULL};
    static const saga_retry_policy builtin = {
        SAGA_SPEC_DEFAULT_MAX_ATTEMPTS, SAGA_SPEC_DEFAULT_INITIAL_BACKOFF_MS,
        SAGA_SPEC_DEFAULT_MAX_BACKOFF_MS, SAGA_SPEC_DEFAULT_MULTIPLIER,
        SAGA_SPEC_DEFAULT_JITTER};
    saga_spec *spec = cx->spec;

    spec->timeout_ms = SAGA_SPEC_DEFAULT_TIMEOUT_MS;
    spec->stuck_after_ms = SAGA_SPEC_DEFAULT_STUCK_AFTER_MS;
    spec->retry = builtin;
    if (!k)
        return;
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "object")) {
        check_keys(cx, k, keys);
        opt_int(cx, k, "timeout_ms", 1, SAGA_SPEC_MAX_TIMEOUT_MS,
                &spec->timeout_ms, NULL);
        uint32_t r = spec_member(cx, k, "retry");
        if (r)
            build_retry(cx, r, &builtin, "the built-in defaults",
                        &spec->retry);
        opt_int(cx, k, "stuck_after_ms", 1, SAGA_SPEC_MAX_STUCK_AFTER_MS,
                &spec->stuck_after_ms, NULL);
    }
    spec_leave(cx, m);
}

/* Reads phase `key` of step s into ph. Returns its node (0 when absent).
 * null counts as absent when null_ok. */
static uint32_t build_phase(spec_cx *cx, uint32_t s, const char *key,
                            bool null_ok, saga_phase *ph)
{
    static const char *const keys[] = {"command", "payload", NULL};
    uint32_t k = spec_member(cx, s, key);
    if (!k || (null_ok && json_is_null(NODE(cx, k).v)))
        return k;
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "object")) {
        check_keys(cx, k, keys);
        ph->command = take_name(cx, k, "command", command_ident,
                                "command name",
                                "command names start with a letter, followed "
                                "by letters, digits, '_', '.' or '-'",
                                NULL);
        uint32_t p = spec_member(cx, k, "payload");
        ph->payload = p ? json_incref(NODE(cx, p).v) : json_object();
        if (!ph->payload)
            cx->diag.oom = true;
    }
    spec_leave(cx, m);
    return k;
}

/* The name of step i (object s); a name given to an earlier step too is
 * reported once, at the later one. */
static void build_step_name(spec_cx *cx, size_t i, uint32_t s)
{
    spec_qbuf qb;
    saga_step_def *d = &cx->spec->steps[i];
    uint32_t n;

    d->name = take_name(cx, s, "name", lower_ident, "step name", NAME_RULE, &n);
    cx->aux[i].name = d->name;
    for (size_t j = 0; d->name && j < i; j++) {
        if (cx->aux[j].name && strcmp(cx->aux[j].name, d->name) == 0) {
            size_t m = spec_enter(cx, n);
            spec_err_at(cx, n, "duplicate step name %s",
                        spec_quote_str(&qb, d->name));
            spec_hint(cx, "steps[%zu] already has this name", j);
            spec_leave(cx, m);
            break;
        }
    }
}

/* The step's "topic", or the participant's default topic when absent. */
static void build_step_topic(spec_cx *cx, uint32_t s, saga_step_def *d)
{
    spec_qbuf qb;
    uint32_t t;

    d->topic = opt_string(cx, s, "topic", &t);
    if (d->topic && !topic_ok(d->topic)) {
        size_t m = spec_enter(cx, t);
        spec_err_at(cx, t, "invalid topic %s", spec_quote_str(&qb, d->topic));
        spec_hint(cx, "Kafka topic names are 1 to 249 letters, digits, '.', "
                      "'_' or '-'");
        spec_leave(cx, m);
    }
    if (!t && d->participant) {
        saga_buf topic = {0};
        saga_buf_printf(&topic, "saga.%s.commands", d->participant);
        if (!(d->topic = saga_buf_take(&topic)))
            cx->diag.oom = true;
    }
}

/* Notes the step's "after" array for spec_graph and checks its size; its
 * entries are resolved once every step has a name. */
static void build_step_after(spec_cx *cx, uint32_t s, step_aux *a)
{
    a->after = spec_member(cx, s, "after");
    if (!a->after)
        return;
    size_t m = spec_enter(cx, a->after);
    if (spec_want_type(cx, a->after, "array") &&
        NODE(cx, a->after).n_kids > SAGA_SPEC_MAX_STEPS) {
        spec_limit_pos(cx, NODE(cx, a->after).line, NODE(cx, a->after).col,
                       "%u entries, more than the limit of %d steps",
                       NODE(cx, a->after).n_kids, SAGA_SPEC_MAX_STEPS);
    }
    spec_leave(cx, m);
}

/* "irreversible" and "compensate", which must agree: an irreversible step
 * has "compensate": null, any other step a compensate command. */
static void build_step_undo(spec_cx *cx, uint32_t s, saga_step_def *d,
                            step_aux *a)
{
    a->irrev = spec_member(cx, s, "irreversible");
    if (a->irrev) {
        size_t m = spec_enter(cx, a->irrev);
        if (spec_want_type(cx, a->irrev, "boolean"))
            d->irreversible = json_is_true(NODE(cx, a->irrev).v);
        spec_leave(cx, m);
    }

    uint32_t kc = build_phase(cx, s, "compensate", true, &d->compensate);
    if (!kc && !d->irreversible) {
        spec_err_at(cx, s, "missing required key \"compensate\"");
        spec_hint(cx, "a step whose effect cannot be undone declares "
                      "\"compensate\": null and \"irreversible\": true");
    } else if (kc) {
        size_t m = spec_enter(cx, kc);
        bool null = json_is_null(NODE(cx, kc).v);
        if (null && !d->irreversible) {
            spec_err_at(cx, kc,
                        "null is only allowed for an irreversible step");
            spec_hint(cx, "give a compensate command, or add "
                          "\"irreversible\": true if the step's effect "
                          "cannot be undone");
        } else if (!null && d->irreversible) {
            spec_err_at(cx, kc, "an irreversible step cannot have a "
                                "compensate command");
            spec_hint(cx, "set \"compensate\": null, or drop "
                          "\"irreversible\"");
        }
        spec_leave(cx, m);
    }
}

static void build_step(spec_cx *cx, size_t i, uint32_t s)
{
    static const char *const keys[] = {
        "name", "participant", "topic", "after", "reserve", "confirm",
        "compensate", "irreversible", "timeout_ms", "retry", "description",
        "signal", "saga", "input", "circuit", NULL};
    saga_spec *spec = cx->spec;
    saga_step_def *d = &spec->steps[i];
    step_aux *a = &cx->aux[i];

    d->timeout_ms = spec->timeout_ms;
    d->retry = spec->retry;
    if (!spec_want_type(cx, s, "object"))
        return;
    a->node = s;
    check_keys(cx, s, keys);

    build_step_name(cx, i, s);
    if (spec_build_step_kind(cx, s, d)) {
        build_step_after(cx, s, a);
        return;
    }
    d->participant = take_name(cx, s, "participant", lower_ident,
                               "participant", NAME_RULE, NULL);
    build_step_topic(cx, s, d);
    build_step_after(cx, s, a);

    uint32_t kr = build_phase(cx, s, "reserve", false, &d->reserve);
    if (!kr)
        spec_err_at(cx, s, "missing required key \"reserve\"");
    build_phase(cx, s, "confirm", true, &d->confirm);
    build_step_undo(cx, s, d, a);

    opt_int(cx, s, "timeout_ms", 1, SAGA_SPEC_MAX_TIMEOUT_MS, &d->timeout_ms,
            NULL);
    uint32_t r = spec_member(cx, s, "retry");
    if (r)
        build_retry(cx, r, &spec->retry, "defaults", &d->retry);
    free(opt_string(cx, s, "description", NULL));

    saga_phase *phases[] = {&d->reserve, &d->confirm, &d->compensate};
    for (size_t ph = 0; ph < 3; ph++)
        if (!phases[ph]->payload)
            phases[ph]->payload = json_null();
}

static void build_steps(spec_cx *cx, uint32_t k)
{
    saga_spec *spec = cx->spec;
    size_t m = spec_enter(cx, k);

    if (!spec_want_type(cx, k, "array"))
        goto out;
    size_t n = NODE(cx, k).n_kids;
    if (n == 0) {
        spec_err_at(cx, k, "at least one step is required");
        goto out;
    }
    if (n > SAGA_SPEC_MAX_STEPS) {
        spec_limit_pos(cx, NODE(cx, k).line, NODE(cx, k).col,
                       "%zu steps, more than the limit of %d", n,
                       SAGA_SPEC_MAX_STEPS);
        goto out;
    }
    spec->steps = calloc(n, sizeof *spec->steps);
    if (!spec->steps) {
        cx->diag.oom = true;
        goto out;
    }
    spec->n_steps = n;
    size_t i = 0;
    for (uint32_t s = NODE(cx, k).first; s; s = NODE(cx, s).next, i++) {
        size_t sm = spec_enter_index(cx, i);
        build_step(cx, i, s);
        spec_leave(cx, sm);
    }
    cx->steps_ok = true;
out:
    spec_leave(cx, m);
}

void spec_build(spec_cx *cx)
{
    static const char *const keys[] = {"name", "version", "description",
                                       "input", "defaults", "steps",
                                       "deadline_ms", "tags", NULL};
    saga_spec *spec = cx->spec;
    int64_t version;

    if (!json_is_object(NODE(cx, 0).v)) {
        spec_err_at(cx, 0, "a spec must be a JSON object, got %s",
                    spec_type_name(NODE(cx, 0).v));
        return;
    }
    check_keys(cx, 0, keys);
    spec->name = take_name(cx, 0, "name", lower_ident, "saga name", NAME_RULE,
                           NULL);
    uint32_t k = require(cx, 0, "version");
    if (k) {
        size_t m = spec_enter(cx, k);
        if (int_in(cx, k, 1, INT_MAX, &version))
            spec->version = (int)version;
        spec_leave(cx, m);
    }
    spec->description = opt_string(cx, 0, "description", NULL);
    if (!spec->description && !(spec->description = strdup("")))
        cx->diag.oom = true;

    cx->inputs_ok = true;
    if ((k = spec_member(cx, 0, "input")))
        build_inputs(cx, k);
    build_defaults(cx, spec_member(cx, 0, "defaults"));
    spec_build_flows(cx);
    if ((k = require(cx, 0, "steps")))
        build_steps(cx, k);
    if (!cx->steps_ok || cx->diag.oom)
        return;
    spec_build_circuits(cx);
    spec_graph_check(cx);
}
