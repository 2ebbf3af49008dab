/*
 * spec.c - saga specs (format in docs/spec.md, interface in spec.h): the
 * parse entry point, the canonical form, and what the rest of sagad asks
 * of a parsed spec (lookups, the input check).
 *
 * A parse runs in three stages over one context (spec_internal.h):
 * jsonpos.c reads the file into a tree that remembers positions,
 * spec_build.c builds the saga_spec from it, spec_graph.c checks the
 * relations between steps and what payloads reference; spec_diag.c
 * collects what they report. No stage stops at the first problem, so a
 * user fixes a whole file in one pass; a syntax error is the exception,
 * since nothing after it can be trusted. Specs come from users and from
 * the fuzzer alike, so everything is bounded: file size, nesting depth,
 * string length, number of steps and of kept messages.
 */
#include "spec_internal.h"

#include <stdlib.h>
#include <string.h>

#include "sha256.h"

/* The canonical text (sorted keys, compact, defaults not expanded) and its
 * SHA-256: what is stored, so the same spec always hashes the same. */
static void make_canonical(spec_cx *cx)
{
    saga_spec *spec = cx->spec;
    char *c = json_dumps(cx->doc.root, JSON_SORT_KEYS | JSON_COMPACT |
                                       JSON_REAL_PRECISION(15));
    if (!c) {
        cx->diag.oom = true;
        return;
    }
    size_t len = strlen(c);
    if (len > SAGA_SPEC_MAX_FILE_BYTES) {
        spec_limit_pos(cx, 1, 1,
                       "canonical form is %zu bytes, larger than the limit of "
                       "%d bytes",
                       len, SAGA_SPEC_MAX_FILE_BYTES);
        spec_hint(cx, "numbers such as 1e5 are written out in full in the "
                      "canonical form");
        free(c);
        return;
    }
    spec->canonical = c;
    saga_sha256_hex(c, len, spec->sha256);
}

int saga_spec_parse(const char *file, const char *buf, size_t len,
                    saga_spec **out, saga_diag *diag, saga_error *err)
{
    spec_cx cx = {.diag.file = file ? file : "<spec>"};
    spec_diag *d = &cx.diag;
    int rc = 0;

    *out = NULL;
    if (!(cx.spec = calloc(1, sizeof *cx.spec)))
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    if (len > SAGA_SPEC_MAX_FILE_BYTES) {
        spec_diag_limit(d, 1, 1, "file is larger than the limit of %d bytes",
                        SAGA_SPEC_MAX_FILE_BYTES);
    } else if (jsonpos_parse(&cx.doc, d, buf ? buf : "", buf ? len : 0) == 0 &&
               !d->oom) {
        spec_build(&cx);
        if (d->n_errors == 0 && !d->oom)
            make_canonical(&cx);
    }

    if (d->oom) {
        rc = saga_error_set(err, SAGA_ENOMEM, "%s: out of memory", d->file);
    } else if (d->n_errors) {
        spec_diag_flush(d, diag);
        rc = saga_error_set(err, d->limit ? SAGA_ELIMIT : SAGA_EINVAL,
                            "%s: %zu error%s", d->file, d->n_errors,
                            d->n_errors == 1 ? "" : "s");
    } else {
        *out = cx.spec;
        cx.spec = NULL;
        saga_error_clear(err);
    }
    saga_spec_free(cx.spec);
    spec_diag_free(d);
    jsonpos_free(&cx.doc);
    return rc;
}

static void phase_free(saga_phase *p)
{
    free(p->command);
    json_decref(p->payload);
}

void saga_spec_free(saga_spec *spec)
{
    if (!spec)
        return;
    free(spec->name);
    free(spec->description);
    for (size_t i = 0; i < spec->n_inputs; i++)
        free(spec->inputs[i].name);
    free(spec->inputs);
    for (size_t i = 0; i < spec->n_steps; i++) {
        saga_step_def *d = &spec->steps[i];
        free(d->name);
        free(d->participant);
        free(d->subsaga);
        free(d->topic);
        free(d->after);
        phase_free(&d->reserve);
        phase_free(&d->confirm);
        phase_free(&d->compensate);
    }
    free(spec->steps);
    json_decref(spec->tags);
    free(spec->canonical);
    free(spec);
}

int saga_spec_step_index(const saga_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->n_steps; i++)
        if (strcmp(spec->steps[i].name, name) == 0)
            return (int)i;
    return -1;
}

static bool field_matches(saga_field_type t, const json_t *v)
{
    switch (t) {
    case SAGA_FIELD_STRING: return json_is_string(v);
    case SAGA_FIELD_INTEGER: return json_is_integer(v);
    case SAGA_FIELD_NUMBER: return json_is_number(v);
    case SAGA_FIELD_BOOLEAN: return json_is_boolean(v);
    case SAGA_FIELD_OBJECT: return json_is_object(v);
    case SAGA_FIELD_ARRAY: return json_is_array(v);
    }
    return false;
}

static const saga_input_field *find_field(const saga_spec *spec,
                                          const char *name)
{
    for (size_t f = 0; f < spec->n_inputs; f++)
        if (strcmp(spec->inputs[f].name, name) == 0)
            return &spec->inputs[f];
    return NULL;
}

/* Sets err for input field `key`, which the spec does not declare, with a
 * hint at the closest declared field or the list of them. */
static int unknown_field(const saga_spec *spec, const char *key,
                         saga_error *err)
{
    saga_buf path = {0};
    saga_buf_puts(&path, "input");
    spec_path_put_key(&path, key);
    int rc = saga_error_set(err, SAGA_EINVAL, "%s: unknown field",
                            saga_buf_str(&path));
    saga_buf_free(&path);
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t f = 0; f < spec->n_inputs; f++) {
        size_t d = spec_edit_distance(key, spec->inputs[f].name);
        if (d < best_d) {
            best_d = d;
            best = spec->inputs[f].name;
        }
    }
    if (best && best_d <= 2 && best_d < strlen(key)) {
        saga_error_hint(err, "did you mean \"%s\"?", best);
    } else if (spec->n_inputs) {
        saga_buf list = {0};
        for (size_t f = 0; f < spec->n_inputs; f++) {
            saga_buf_puts(&list, f ? ", " : "");
            saga_buf_puts(&list, spec->inputs[f].name);
        }
        saga_error_hint(err, "known fields: %s", saga_buf_str(&list));
        saga_buf_free(&list);
    } else {
        saga_error_hint(err, "saga %s takes no input fields", spec->name);
    }
    return rc;
}

int saga_spec_check_input(const saga_spec *spec, const json_t *input,
                          saga_error *err)
{
    const char *key;
    json_t *v;

    if (!json_is_object(input))
        return saga_error_set(err, SAGA_EINVAL,
                              "input: expected object, got %s",
                              input ? spec_type_name(input) : "nothing");
    size_t size = json_dumpb(input, NULL, 0, JSON_COMPACT);
    if (size > SAGA_INPUT_MAX_BYTES)
        return saga_error_set(err, SAGA_ELIMIT,
                              "input: %zu bytes, larger than the limit of %d "
                              "bytes",
                              size, SAGA_INPUT_MAX_BYTES);

    json_object_foreach((json_t *)input, key, v) {
        if (!find_field(spec, key))
            return unknown_field(spec, key, err);
    }
    for (size_t f = 0; f < spec->n_inputs; f++) {
        const saga_input_field *in = &spec->inputs[f];
        v = json_object_get(input, in->name);
        if ((!v || json_is_null(v)) && !in->required)
            continue;
        if (!v)
            return saga_error_set(err, SAGA_EINVAL,
                                  "input.%s: required field missing",
                                  in->name);
        if (!field_matches(in->type, v))
            return saga_error_set(err, SAGA_EINVAL,
                                  "input.%s: expected %s, got %s", in->name,
                                  spec_field_types[in->type],
                                  spec_type_name(v));
    }
    saga_error_clear(err);
    return 0;
}
