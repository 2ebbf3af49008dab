/*
 * fuzz_spec.c - libFuzzer target for the spec parser and validator, the
 * template scanner and renderer, and the input check.
 *
 * Beyond "no crash, no hang, no leak" it checks the properties the rest of
 * sagad relies on, aborting when one fails:
 *  - a parse either yields a spec and no diagnostics, or no spec and at
 *    least one single-line diagnostic;
 *  - the canonical form parses back to itself (same text, same SHA-256), as
 *    saga_defs_load assumes;
 *  - an input built to the spec's declared types passes the input check;
 *  - every payload of a valid spec renders (validation already saw every
 *    reference), unless the rendered size limit is hit.
 * The same bytes also go through the scanner, the renderer (as a template)
 * and the input check of a fixed spec, so one corpus exercises all of them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "template.h"

static saga_spec *fixed;

static const char FIXED_SPEC[] =
    "{\"name\": \"fixed\", \"version\": 1,"
    " \"input\": {\"s\": {\"type\": \"string\"},"
    "  \"i\": {\"type\": \"integer\", \"required\": false},"
    "  \"n\": {\"type\": \"number\", \"required\": false},"
    "  \"o\": {\"type\": \"object\", \"required\": false}},"
    " \"steps\": [{\"name\": \"a\", \"participant\": \"p\","
    "  \"reserve\": {\"command\": \"go\"},"
    "  \"compensate\": {\"command\": \"undo\"}}]}";

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_spec: property violated: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    saga_error err;
    if (saga_spec_parse("fixed.json", FIXED_SPEC, strlen(FIXED_SPEC), &fixed,
                        NULL, &err) != 0)
        fail(err.msg);
    return 0;
}

static json_t *sample_value(saga_field_type t)
{
    switch (t) {
    case SAGA_FIELD_STRING: return json_string("s");
    case SAGA_FIELD_INTEGER: return json_integer(7);
    case SAGA_FIELD_NUMBER: return json_real(1.5);
    case SAGA_FIELD_BOOLEAN: return json_true();
    case SAGA_FIELD_OBJECT: return json_pack("{s:{s:s}}", "k", "x", "y");
    case SAGA_FIELD_ARRAY: return json_pack("[i]", 1);
    }
    return json_null();
}

static void check_roundtrip(const saga_spec *spec)
{
    saga_spec *again;
    saga_error err;
    if (saga_spec_parse("canonical", spec->canonical, strlen(spec->canonical),
                        &again, NULL, &err) != 0)
        fail("the canonical form does not parse");
    if (strcmp(again->canonical, spec->canonical) != 0 ||
        strcmp(again->sha256, spec->sha256) != 0)
        fail("the canonical form is not a fixed point");
    saga_spec_free(again);
}

static void check_render(const saga_spec *spec, unsigned bits)
{
    json_t *input = json_object();
    json_t **results = calloc(spec->n_steps, sizeof *results);
    saga_error err;

    for (size_t f = 0; f < spec->n_inputs; f++)
        if (spec->inputs[f].required || (bits & 1))
            json_object_set_new(input, spec->inputs[f].name,
                                sample_value(spec->inputs[f].type));
    if (saga_spec_check_input(spec, input, &err) != 0)
        fail("an input of the declared types is refused");
    for (size_t i = 0; i < spec->n_steps; i++)
        if ((bits >> 1) & 1)
            results[i] = json_pack("{s:s,s:{s:i}}", "id", "r", "nested", "n",
                                   (int)i);

    saga_template_ctx ctx = {.saga_id = "00000000-0000-4000-8000-000000000000",
                             .saga_name = spec->name,
                             .input = input,
                             .spec = spec,
                             .results = (const json_t *const *)results};
    for (size_t i = 0; i < spec->n_steps; i++) {
        const saga_phase *ph[3] = {&spec->steps[i].reserve,
                                   &spec->steps[i].confirm,
                                   &spec->steps[i].compensate};
        for (int k = 0; k < 3; k++) {
            json_t *out = saga_template_render(ph[k]->payload, &ctx, &err);
            if (!out && err.code != SAGA_ELIMIT)
                fail(err.msg);
            json_decref(out);
        }
    }
    for (size_t i = 0; i < spec->n_steps; i++)
        json_decref(results[i]);
    free(results);
    json_decref(input);
}

static int count_piece(const saga_template_piece *pc, void *arg)
{
    (void)pc;
    ++*(size_t *)arg;
    return 0;
}

/* The bytes as a template string, as a template tree and as a saga input. */
static void fuzz_templates_and_input(const uint8_t *data, size_t size)
{
    size_t pieces = 0;
    saga_error err;
    saga_template_scan((const char *)data, size, count_piece, &pieces, &err);

    json_t *v = json_loadb((const char *)data, size,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!v)
        return;
    json_t *input = json_pack("{s:s,s:i,s:O}", "s", "text", "i", 3, "o", v);
    json_t *results[1] = {v};
    saga_template_ctx ctx = {.saga_id = "id", .saga_name = "fixed",
                             .input = input, .spec = fixed,
                             .results = (const json_t *const *)results};
    json_decref(saga_template_render(v, &ctx, &err));
    saga_spec_check_input(fixed, v, &err);
    json_decref(input);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    saga_diag diag;
    saga_error err;
    saga_spec *spec = NULL;

    saga_diag_init(&diag);
    int rc = saga_spec_parse("fuzz.json", (const char *)data, size, &spec,
                             &diag, &err);
    if (rc == 0) {
        if (!spec || diag.n != 0)
            fail("success with diagnostics");
        check_roundtrip(spec);
        check_render(spec, size > 0 ? data[0] : 0);
        saga_spec_free(spec);
    } else {
        if (spec)
            fail("failure with a spec");
        if (rc != SAGA_ENOMEM && diag.n_errors == 0)
            fail("failure without diagnostics");
        for (size_t i = 0; i < diag.n; i++)
            if (strchr(diag.lines[i], '\n'))
                fail("a diagnostic spans lines");
    }
    saga_diag_free(&diag);

    fuzz_templates_and_input(data, size);
    return 0;
}
