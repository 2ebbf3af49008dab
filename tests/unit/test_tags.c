/*
 * test_tags.c - saga tags (engine/core/tags.c): the key and value rules,
 * "key=value" parsing, and the tags of a new saga from the spec's
 * templates and the start request; plus the spec's "deadline_ms" and
 * "tags" as parsed (tests/specs/valid/flows.json).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "specfile.h"
#include "tags.h"

static saga_spec *load_flows(void)
{
    saga_spec *s = NULL;
    saga_diag d;
    saga_error err;
    saga_diag_init(&d);
    assert_int_equal(saga_spec_load("tests/specs/valid/flows.json", &s, &d, &err), 0);
    saga_diag_free(&d);
    return s;
}

static void test_key_rules(void **state)
{
    (void)state;
    saga_error err;
    assert_int_equal(saga_tag_key_check("order.id-2_x", &err), 0);
    assert_int_equal(saga_tag_key_check("", &err), SAGA_EINVAL);
    assert_string_equal(err.msg, "tag key is empty");
    assert_int_equal(saga_tag_key_check("a b", &err), SAGA_EINVAL);
    assert_string_equal(err.msg, "tag key \"a b\" has a character not allowed at byte 2");
    char long_key[80];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    assert_int_equal(saga_tag_key_check(long_key, &err), SAGA_EINVAL);
    assert_int_equal(saga_tag_value_check("k", "\xff", &err), SAGA_EINVAL);
}

static void test_parse_key_value(void **state)
{
    (void)state;
    saga_error err;
    json_t *o = json_object();
    assert_int_equal(saga_tag_parse("order=o-1", o, &err), 0);
    assert_int_equal(saga_tag_parse("note=a=b", o, &err), 0); /* first '=' splits */
    assert_string_equal(json_string_value(json_object_get(o, "note")), "a=b");
    assert_int_equal(saga_tag_parse("empty=", o, &err), 0);
    assert_int_equal(saga_tag_parse("=alice", o, &err), SAGA_EINVAL);
    assert_string_equal(err.msg, "tag key is empty");
    assert_string_equal(err.hint, "write a tag as key=value, e.g. --tag order=o-1");
    assert_int_equal(saga_tag_parse("order", o, &err), SAGA_EINVAL);
    assert_string_equal(err.msg, "tag \"order\": expected key=value");
    assert_int_equal(saga_tag_parse("order=o-2", o, &err), SAGA_EINVAL);
    assert_string_equal(err.msg, "tag order given twice");
    assert_int_equal(json_object_size(o), 3);
    char kv[16];
    for (int i = 0; i < SAGA_TAGS_MAX - 3; i++) {
        snprintf(kv, sizeof kv, "k%d=v", i);
        assert_int_equal(saga_tag_parse(kv, o, &err), 0);
    }
    assert_int_equal(saga_tag_parse("one=more", o, &err), SAGA_EINVAL);
    assert_string_equal(err.msg, "more than 16 tags");
    json_decref(o);
}

static void test_spec_fields(void **state)
{
    (void)state;
    saga_spec *s = load_flows();
    assert_int_equal(s->deadline_ms, 30000);
    assert_int_equal(json_object_size(s->tags), 4);
    saga_spec_free(s);
}

static void test_build_from_spec_and_request(void **state)
{
    (void)state;
    saga_spec *s = load_flows();
    saga_error err;
    json_t *input = json_pack("{s:s, s:i}", "order_id", "o-1", "qty", 2);
    json_t *given = json_pack("{s:s, s:s}", "customer", "alice", "qty", "two");
    json_t *tags = NULL;
    assert_int_equal(saga_tags_build(s, input, "id-1", given, &tags, &err), 0);
    assert_string_equal(json_string_value(json_object_get(tags, "order")), "o-1");
    /* the request wins on a shared key */
    assert_string_equal(json_string_value(json_object_get(tags, "qty")), "two");
    assert_string_equal(json_string_value(json_object_get(tags, "flow")), "flows/id-1");
    /* an optional field left out renders no tag */
    assert_null(json_object_get(tags, "city"));
    json_decref(tags);
    /* a number renders as its text */
    assert_int_equal(saga_tags_build(s, input, "id-1", NULL, &tags, &err), 0);
    assert_string_equal(json_string_value(json_object_get(tags, "qty")), "2");
    json_decref(tags);
    /* a bad request tag is refused, nothing built */
    json_t *bad = json_pack("{s:s}", "", "x");
    tags = NULL;
    assert_int_equal(saga_tags_build(s, input, "id-1", bad, &tags, &err), SAGA_EINVAL);
    assert_null(tags);
    json_decref(bad);
    bad = json_pack("{s:i}", "n", 1);
    assert_int_equal(saga_tags_build(s, input, "id-1", bad, &tags, &err), SAGA_EINVAL);
    assert_string_equal(err.msg, "tag n: value must be a string");
    json_decref(bad);
    json_decref(given);
    json_decref(input);
    saga_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_rules),
        cmocka_unit_test(test_parse_key_value),
        cmocka_unit_test(test_spec_fields),
        cmocka_unit_test(test_build_from_spec_and_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
