/*
 * test_inbound_signal.c - the Signal decoder (engine/inbound_signal.c):
 * what it accepts from saga.signals and each refusal, with its reason and
 * dead-letter class.
 *
 * Every case packs a real Signal with protobuf-c and changes one field
 * from a valid APPROVE, so a refusal can only come from that field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dlq.h"
#include "inbound.h"

#define SAGA_ID "0f8fad5b-d9cb-469f-a165-70867728950e"

static Saga__Signal approve(void)
{
    Saga__Signal s = SAGA__SIGNAL__INIT;
    s.saga_id = SAGA_ID;
    s.step = "approve_large_order";
    s.decision = SAGA__DECISION__APPROVE;
    s.actor = "carol";
    return s;
}

/* Packs s and decodes it; returns whether it was accepted, the reason and
 * class of a refusal in why / code. */
static bool decode(const Saga__Signal *s, saga_inbound_signal *out, saga_dlq_reason *code,
                   char *why, size_t cap)
{
    size_t n = saga__signal__get_packed_size(s);
    uint8_t *buf = malloc(n + 1);
    assert_non_null(buf);
    saga__signal__pack(s, buf);
    why[0] = '\0';
    bool ok = saga_inbound_signal_decode(buf, n, out, code, why, cap);
    free(buf);
    return ok;
}

/* Asserts that s is refused with a reason containing `part`, as an
 * invalid Signal, leaving nothing to free. */
static void refused(const Saga__Signal *s, const char *part)
{
    saga_inbound_signal out;
    saga_dlq_reason code = SAGA_DLQ_TOO_LARGE;
    char why[256];
    assert_false(decode(s, &out, &code, why, sizeof why));
    if (!strstr(why, part)) {
        fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", why, part);
        fail();
    }
    assert_int_equal(code, SAGA_DLQ_INVALID_SIGNAL);
    assert_null(out.pb);
    assert_null(out.data);
}

static void test_approve_with_data_is_accepted(void **state)
{
    (void)state;
    Saga__Signal s = approve();
    const char *data = "{\"approved_by\": \"carol\"}";
    s.data.data = (uint8_t *)data;
    s.data.len = strlen(data);
    saga_inbound_signal out;
    char why[256];
    assert_true(decode(&s, &out, NULL, why, sizeof why));
    assert_string_equal(out.pb->step, "approve_large_order");
    assert_string_equal(json_string_value(json_object_get(out.data, "approved_by")), "carol");
    saga_inbound_signal_free(&out);
}

static void test_reject_and_parent_orders_are_accepted(void **state)
{
    (void)state;
    Saga__Signal s = approve();
    s.decision = SAGA__DECISION__REJECT;
    s.reason = "fraud suspected";
    saga_inbound_signal out;
    char why[256];
    assert_true(decode(&s, &out, NULL, why, sizeof why));
    assert_null(out.data);
    saga_inbound_signal_free(&out);
    /* A parent's order names no step but an attempt. */
    s = approve();
    s.step = "";
    s.decision = SAGA__DECISION__PARENT_COMPENSATE;
    s.attempt = 2;
    assert_true(decode(&s, &out, NULL, why, sizeof why));
    saga_inbound_signal_free(&out);
}

static void test_refusals_name_the_field(void **state)
{
    (void)state;
    Saga__Signal s = approve();
    s.saga_id = "not-a-uuid";
    refused(&s, "saga_id is not a UUID");

    s = approve();
    s.decision = SAGA__DECISION__DECISION_UNSPECIFIED;
    refused(&s, "decision is not APPROVE, REJECT");
    s.decision = (Saga__Decision)9;
    refused(&s, "decision is not APPROVE, REJECT");

    s = approve();
    s.step = "";
    refused(&s, "step is empty");
    char long_name[400];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    s.step = long_name;
    refused(&s, "step is empty, too long");
    s.step = "caf\xc3";
    refused(&s, "not UTF-8");

    s = approve();
    s.decision = SAGA__DECISION__PARENT_CONFIRM;
    s.attempt = 0;
    refused(&s, "a parent's order needs a positive attempt");

    s = approve();
    s.actor = long_name;
    refused(&s, "actor is not UTF-8 or longer than 256 bytes");
    s = approve();
    s.reason = "\xff";
    refused(&s, "reason is not UTF-8");
    s = approve();
    s.traceparent = "\xc0\xaf";
    refused(&s, "traceparent is not UTF-8");
}

static void test_data_must_be_an_object_on_approve(void **state)
{
    (void)state;
    Saga__Signal s = approve();
    s.data.data = (uint8_t *)"[1, 2]";
    s.data.len = 6;
    refused(&s, "data is not a JSON object");
    s.data.data = (uint8_t *)"{\"a\":";
    s.data.len = 5;
    refused(&s, "data is not a JSON object");
    s.decision = SAGA__DECISION__REJECT;
    s.data.data = (uint8_t *)"{}";
    s.data.len = 2;
    refused(&s, "only APPROVE carries data");
}

static void test_garbage_and_oversized_messages(void **state)
{
    (void)state;
    saga_inbound_signal out;
    saga_dlq_reason code;
    char why[256];
    assert_false(saga_inbound_signal_decode("\x0a\xff\xff\xff", 4, &out, &code, why, sizeof why));
    assert_string_equal(why, "undecodable Signal protobuf");
    assert_int_equal(code, SAGA_DLQ_INVALID_SIGNAL);
    size_t big = SAGA_INBOUND_MAX_BYTES + 1;
    char *buf = calloc(1, big);
    assert_non_null(buf);
    assert_false(saga_inbound_signal_decode(buf, big, &out, &code, why, sizeof why));
    free(buf);
    assert_string_equal(why, "message larger than 1 MiB");
    assert_int_equal(code, SAGA_DLQ_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approve_with_data_is_accepted),
        cmocka_unit_test(test_reject_and_parent_orders_are_accepted),
        cmocka_unit_test(test_refusals_name_the_field),
        cmocka_unit_test(test_data_must_be_an_object_on_approve),
        cmocka_unit_test(test_garbage_and_oversized_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
