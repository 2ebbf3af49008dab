/*
 * test_template.c - payload templates (engine/template.c): typed
 * substitution, interpolation into longer strings, values absent at run
 * time, nesting, escapes, the scanner's pieces and its error messages, and
 * the size budget. The spec is parsed from text so that step names resolve
 * exactly as they do in sagad.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

static const char *const SPEC =
    "{\"name\": \"tmpl\", \"version\": 1,"
    " \"input\": {\"order_id\": {\"type\": \"string\"},"
    "             \"qty\": {\"type\": \"integer\"},"
    "             \"price\": {\"type\": \"number\"},"
    "             \"gift\": {\"type\": \"boolean\"},"
    "             \"address\": {\"type\": \"object\"},"
    "             \"tags\": {\"type\": \"array\"},"
    "             \"note\": {\"type\": \"string\", \"required\": false}},"
    " \"steps\": ["
    "  {\"name\": \"inv\", \"participant\": \"inventory\","
    "   \"reserve\": {\"command\": \"r\"}, \"compensate\": {\"command\": \"c\"}},"
    "  {\"name\": \"pay\", \"participant\": \"payment\","
    "   \"reserve\": {\"command\": \"r\"}, \"compensate\": {\"command\": \"c\"}}"
    " ]}";

typedef struct fixture {
    saga_spec *spec;
    json_t *input;
    json_t *results[2];
    saga_template_ctx ctx;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    saga_error err;
    if (saga_spec_parse("tmpl.json", SPEC, strlen(SPEC), &f->spec, NULL,
                        &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    f->input = json_loads(
        "{\"order_id\": \"o-17\", \"qty\": 3, \"price\": 9.5, \"gift\": true,"
        " \"address\": {\"city\": \"Lyon\", \"geo\": {\"lat\": 45.76}},"
        " \"tags\": [\"a\", \"b\"]}",
        0, NULL);
    f->results[0] = json_loads("{\"reservation_id\": \"R1\", \"n\": 2}", 0,
                               NULL);
    f->results[1] = NULL; /* payment has not replied */
    f->ctx = (saga_template_ctx){
        .saga_id = "6f1c2d3e-0000-4000-8000-000000000001",
        .saga_name = "tmpl",
        .input = f->input,
        .spec = f->spec,
        .results = (const json_t *const *)f->results,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    saga_spec_free(f->spec);
    json_decref(f->input);
    json_decref(f->results[0]);
    free(f);
    return 0;
}

/* Renders the JSON template text and returns its compact form (owned). */
static char *render_text(fixture *f, const char *tmpl_text)
{
    json_t *tmpl = json_loads(tmpl_text, JSON_DECODE_ANY, NULL);
    saga_error err;
    saga_error_clear(&err);
    assert_non_null(tmpl);
    json_t *out = saga_template_render(tmpl, &f->ctx, &err);
    if (!out)
        fprintf(stderr, "render %s: %s\n", tmpl_text, err.msg);
    assert_non_null(out);
    char *s = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS |
                                  JSON_REAL_PRECISION(15));
    json_decref(out);
    json_decref(tmpl);
    return s;
}

static void expect_render(fixture *f, const char *tmpl, const char *want)
{
    char *got = render_text(f, tmpl);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "template %s\n  want %s\n  got  %s\n", tmpl, want, got);
    assert_string_equal(got, want);
    free(got);
}

static void test_types_kept(void **state)
{
    fixture *f = *state;
    expect_render(f, "\"${input.order_id}\"", "\"o-17\"");
    expect_render(f, "\"${input.qty}\"", "3");
    expect_render(f, "\"${input.price}\"", "9.5");
    expect_render(f, "\"${input.gift}\"", "true");
    expect_render(f, "\"${input.tags}\"", "[\"a\",\"b\"]");
    expect_render(f, "\"${input.address}\"",
                  "{\"city\":\"Lyon\",\"geo\":{\"lat\":45.76}}");
    expect_render(f, "\"${steps.inv.reserve.result.n}\"", "2");
    expect_render(f, "\"${saga.id}\"",
                  "\"6f1c2d3e-0000-4000-8000-000000000001\"");
    expect_render(f, "\"${saga.name}\"", "\"tmpl\"");
}

static void test_dotted_paths(void **state)
{
    fixture *f = *state;
    expect_render(f, "\"${input.address.city}\"", "\"Lyon\"");
    expect_render(f, "\"${input.address.geo.lat}\"", "45.76");
    /* through a non-object, or a missing key: absent */
    expect_render(f, "\"${input.qty.x}\"", "null");
    expect_render(f, "\"${input.address.zip}\"", "null");
}

static void test_interpolation(void **state)
{
    fixture *f = *state;
    expect_render(f, "\"order-${input.order_id}\"", "\"order-o-17\"");
    expect_render(f, "\"${input.qty}x${input.price}\"", "\"3x9.5\"");
    expect_render(f, "\"gift=${input.gift} tags=${input.tags}\"",
                  "\"gift=true tags=[\\\"a\\\",\\\"b\\\"]\"");
    expect_render(f, "\"at ${input.address}\"",
                  "\"at {\\\"city\\\":\\\"Lyon\\\",\\\"geo\\\":{\\\"lat\\\":"
                  "45.76}}\"");
    expect_render(f, "\"${saga.name}/${saga.id}\"",
                  "\"tmpl/6f1c2d3e-0000-4000-8000-000000000001\"");
    expect_render(f, "\"no refs, $5 and $ {x}\"", "\"no refs, $5 and $ {x}\"");
}

static void test_absent_values(void **state)
{
    fixture *f = *state;
    /* an optional input not given, a reserve with no reply yet */
    expect_render(f, "\"${input.note}\"", "null");
    expect_render(f, "\"${steps.pay.reserve.result.hold_id}\"", "null");
    expect_render(f, "\"note: ${input.note}.\"", "\"note: .\"");
    expect_render(f, "\"hold ${steps.pay.reserve.result.hold_id}!\"",
                  "\"hold !\"");
    /* no results array at all, no saga id */
    f->ctx.results = NULL;
    f->ctx.saga_id = NULL;
    expect_render(f, "\"${steps.inv.reserve.result.n}\"", "null");
    expect_render(f, "\"${saga.id}\"", "null");
}

static void test_nested_templates(void **state)
{
    fixture *f = *state;
    expect_render(
        f,
        "{\"order\": {\"id\": \"${input.order_id}\", \"lines\": [{\"qty\": "
        "\"${input.qty}\", \"ref\": \"${steps.inv.reserve.result."
        "reservation_id}\"}, 7, null, false, 1.25]}, \"city\": "
        "\"${input.address.city}\", \"plain\": \"text\"}",
        "{\"city\":\"Lyon\",\"order\":{\"id\":\"o-17\",\"lines\":[{\"qty\":3,"
        "\"ref\":\"R1\"},7,null,false,1.25]},\"plain\":\"text\"}");
    expect_render(f, "{}", "{}");
    expect_render(f, "[]", "[]");
    expect_render(f, "null", "null");
}

static void test_escape(void **state)
{
    fixture *f = *state;
    expect_render(f, "\"$${input.qty}\"", "\"${input.qty}\"");
    expect_render(f, "\"a $${b} ${input.qty}\"", "\"a ${b} 3\"");
}

static void test_result_is_a_copy(void **state)
{
    fixture *f = *state;
    json_t *tmpl = json_loads("{\"a\": \"${input.address}\", \"b\": 1}", 0,
                              NULL);
    saga_error err;
    json_t *out = saga_template_render(tmpl, &f->ctx, &err);
    assert_non_null(out);
    json_object_set_new(json_object_get(out, "a"), "city",
                        json_string("Paris"));
    json_integer_set(json_object_get(out, "b"), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(f->input, "address"), "city")),
                        "Lyon");
    assert_int_equal(json_integer_value(json_object_get(tmpl, "b")), 1);
    json_decref(out);
    json_decref(tmpl);
}

static void expect_render_error(fixture *f, const char *tmpl_text, int code,
                                const char *msg)
{
    json_t *tmpl = json_loads(tmpl_text, JSON_DECODE_ANY, NULL);
    saga_error err;
    saga_error_clear(&err);
    json_t *out = saga_template_render(tmpl, &f->ctx, &err);
    assert_null(out);
    assert_int_equal(err.code, code);
    if (strstr(err.msg, msg) == NULL)
        fprintf(stderr, "want \"%s\" in \"%s\"\n", msg, err.msg);
    assert_non_null(strstr(err.msg, msg));
    json_decref(tmpl);
}

static void test_render_errors(void **state)
{
    fixture *f = *state;
    expect_render_error(f, "{\"x\": [\"${input.qty\"]}", SAGA_EINVAL,
                        "unterminated reference \"${input.qty\"");
    expect_render_error(f, "\"${steps.nope.reserve.result.x}\"", SAGA_EINVAL,
                        "unknown step in reference");
    expect_render_error(f, "\"${foo}\"", SAGA_EINVAL,
                        "unknown reference \"${foo}\"");
    saga_error err;
    assert_null(saga_template_render(NULL, &f->ctx, &err));
}

static void test_size_budget(void **state)
{
    fixture *f = *state;
    json_t *big = json_object();
    char *s = malloc(200 * 1024 + 1);
    memset(s, 'x', 200 * 1024);
    s[200 * 1024] = '\0';
    json_object_set_new(big, "note", json_string(s));
    free(s);
    const json_t *saved = f->ctx.input;
    f->ctx.input = big;

    /* 200 KiB fits once, not five times */
    json_t *once = json_string("${input.note}");
    json_t *five = json_pack("[sssss]", "${input.note}", "${input.note}",
                             "${input.note}", "x ${input.note}",
                             "${input.note}");
    saga_error err;
    json_t *out = saga_template_render(once, &f->ctx, &err);
    assert_non_null(out);
    assert_int_equal(json_string_length(out), 200 * 1024);
    json_decref(out);
    assert_null(saga_template_render(five, &f->ctx, &err));
    assert_int_equal(err.code, SAGA_ELIMIT);
    assert_non_null(strstr(err.msg, "larger than the limit"));

    json_decref(once);
    json_decref(five);
    f->ctx.input = saved;
    json_decref(big);
}

/* --- the scanner ------------------------------------------------------------- */

typedef struct collected {
    char text[16][80];
    size_t n;
} collected;

static int collect(const saga_template_piece *pc, void *arg)
{
    collected *c = arg;
    static const char *const kinds[] = {"text", "input", "step", "id", "name"};
    if (pc->kind == SAGA_PIECE_STEP)
        snprintf(c->text[c->n++], 80, "step:%.*s:%.*s", (int)pc->step_len,
                 pc->step, (int)pc->path_len, pc->path);
    else if (pc->kind == SAGA_PIECE_INPUT)
        snprintf(c->text[c->n++], 80, "input:%.*s", (int)pc->path_len,
                 pc->path);
    else
        snprintf(c->text[c->n++], 80, "%s:%.*s", kinds[pc->kind],
                 (int)pc->len, pc->text);
    return 0;
}

static void test_scan_pieces(void **state)
{
    (void)state;
    const char *s = "id=${saga.id}; $${x} ${input.a.b}${steps.s-1.reserve."
                    "result.r.q}${saga.name}$";
    collected c = {0};
    saga_error err;
    assert_int_equal(saga_template_scan(s, strlen(s), collect, &c, &err), 0);
    assert_int_equal(c.n, 9);
    assert_string_equal(c.text[0], "text:id=");
    assert_string_equal(c.text[1], "id:${saga.id}");
    assert_string_equal(c.text[2], "text:; ");
    assert_string_equal(c.text[3], "text:${");
    assert_string_equal(c.text[4], "text:x} ");
    assert_string_equal(c.text[5], "input:a.b");
    assert_string_equal(c.text[6], "step:s-1:r.q");
    assert_string_equal(c.text[7], "name:${saga.name}");
    assert_string_equal(c.text[8], "text:$");
}

static int stop_at_second(const saga_template_piece *pc, void *arg)
{
    (void)pc;
    return ++*(int *)arg == 2 ? 42 : 0;
}

static void test_scan_stops(void **state)
{
    (void)state;
    int calls = 0;
    const char *s = "a${input.x}b";
    assert_int_equal(saga_template_scan(s, strlen(s), stop_at_second, &calls,
                                        NULL),
                     42);
    assert_int_equal(calls, 2);
}

static void expect_scan_error(const char *s, const char *msg)
{
    collected c = {0};
    saga_error err;
    saga_error_clear(&err);
    assert_int_equal(saga_template_scan(s, strlen(s), collect, &c, &err),
                     SAGA_EINVAL);
    if (strcmp(err.msg, msg) != 0)
        fprintf(stderr, "want \"%s\"\n got \"%s\"\n", msg, err.msg);
    assert_string_equal(err.msg, msg);
    assert_true(err.hint[0] != '\0');
}

static void test_scan_errors(void **state)
{
    (void)state;
    expect_scan_error("${", "unterminated reference \"${\"");
    expect_scan_error("x ${input.a", "unterminated reference \"${input.a\"");
    expect_scan_error("${}", "empty name in reference \"${}\"");
    expect_scan_error("${input..a}", "empty name in reference \"${input..a}\"");
    expect_scan_error("${input.a.}", "empty name in reference \"${input.a.}\"");
    expect_scan_error("${input}", "reference \"${input}\" names no input field");
    expect_scan_error("${input.a b}",
                      "invalid character in reference \"${input.a b}\"");
    expect_scan_error("${input.\"}",
                      "invalid character in reference \"${input.\\\"}\"");
    expect_scan_error("${saga}", "unknown reference \"${saga}\"");
    expect_scan_error("${saga.id.x}", "unknown reference \"${saga.id.x}\"");
    expect_scan_error("${steps.a.reserve.result}",
                      "malformed step reference "
                      "\"${steps.a.reserve.result}\"");
    expect_scan_error("${steps.a.confirm.result.x}",
                      "malformed step reference "
                      "\"${steps.a.confirm.result.x}\"");
    expect_scan_error("${Input.a}", "unknown reference \"${Input.a}\"");
    /* long references are cut in messages */
    char longref[300];
    snprintf(longref, sizeof longref, "${input.%0200d", 0);
    collected c = {0};
    saga_error err;
    assert_int_equal(saga_template_scan(longref, strlen(longref), collect, &c,
                                        &err),
                     SAGA_EINVAL);
    assert_true(strlen(err.msg) < 140);
    assert_non_null(strstr(err.msg, "...\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_types_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotted_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interpolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_templates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_is_a_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_budget, setup, teardown),
        cmocka_unit_test(test_scan_pieces),
        cmocka_unit_test(test_scan_stops),
        cmocka_unit_test(test_scan_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
