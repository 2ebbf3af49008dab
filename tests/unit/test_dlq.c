/*
 * test_dlq.c - the dead-letter reason codes: the labels saga_dlq_total and
 * dashboards key on, and the code sagad's inbound checks give each kind of
 * unusable message. The labels are the ones the metric had when they were
 * read out of the reason text; a change here breaks dashboards.
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

static void test_labels(void **state)
{
    (void)state;
    static const struct {
        saga_dlq_reason code;
        const char *label;
    } want[] = {
        {SAGA_DLQ_TOO_LARGE, "message larger than 1 MiB"},
        {SAGA_DLQ_UNDECODABLE_REPLY, "undecodable Reply protobuf"},
        {SAGA_DLQ_UNDECODABLE_START, "undecodable StartSaga protobuf"},
        {SAGA_DLQ_INVALID_REPLY, "invalid Reply"},
        {SAGA_DLQ_INVALID_START, "invalid StartSaga"},
        {SAGA_DLQ_UNKNOWN_SAGA, "unknown saga"},
        {SAGA_DLQ_UNKNOWN_STEP, "unknown step"},
        {SAGA_DLQ_REFUSED_BY_DB, "refused by the database"},
        {SAGA_DLQ_COMMAND_TOO_LARGE, "Command too large"},
        {SAGA_DLQ_INVALID_COMMAND, "invalid Command"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_string_equal(saga_dlq_reason_label(want[i].code), want[i].label);
    assert_string_equal(saga_dlq_reason_label((saga_dlq_reason)999), "other");
}

static Saga__Reply valid_reply(void)
{
    Saga__Reply r = SAGA__REPLY__INIT;
    r.saga_id = "3f1c2a9e-0000-4000-8000-000000000001";
    r.step = "reserve_inventory";
    r.action = SAGA__ACTION__RESERVE;
    r.attempt = 1;
    r.outcome = SAGA__OUTCOME__OK;
    return r;
}

/* The code the Reply decoder gives r, or -1 when it accepts r. */
static int reply_code(const Saga__Reply *r)
{
    uint8_t buf[1024];
    size_t len = saga__reply__pack(r, buf);
    saga_inbound_reply out;
    saga_dlq_reason code = (saga_dlq_reason)-1;
    char why[256];
    if (saga_inbound_reply_decode(buf, len, &out, &code, why, sizeof why)) {
        saga_inbound_reply_free(&out);
        return -1;
    }
    return (int)code;
}

static void test_reply_codes(void **state)
{
    (void)state;
    Saga__Reply r = valid_reply();
    assert_int_equal(reply_code(&r), -1);
    r.attempt = -3;
    assert_int_equal(reply_code(&r), SAGA_DLQ_INVALID_REPLY);
    r = valid_reply();
    r.saga_id = "not-a-uuid";
    assert_int_equal(reply_code(&r), SAGA_DLQ_INVALID_REPLY);

    saga_inbound_reply out;
    saga_dlq_reason code = (saga_dlq_reason)-1;
    char why[256];
    assert_false(saga_inbound_reply_decode("\xff\xfe garbage \x01", 12, &out, &code, why,
                                           sizeof why));
    assert_int_equal(code, SAGA_DLQ_UNDECODABLE_REPLY);
    size_t big = SAGA_INBOUND_MAX_BYTES + 1;
    char *huge = calloc(1, big);
    assert_non_null(huge);
    assert_false(saga_inbound_reply_decode(huge, big, &out, &code, why, sizeof why));
    assert_int_equal(code, SAGA_DLQ_TOO_LARGE);
    /* The code is optional. */
    assert_false(saga_inbound_reply_decode(huge, big, &out, NULL, why, sizeof why));
    free(huge);
}

static void test_start_codes(void **state)
{
    (void)state;
    saga_inbound_start out;
    saga_dlq_reason code = (saga_dlq_reason)-1;
    char why[256];
    assert_false(saga_inbound_start_decode("\x0a\xff\xff\xff", 4, &out, &code, why, sizeof why));
    assert_int_equal(code, SAGA_DLQ_UNDECODABLE_START);

    Saga__StartSaga s = SAGA__START_SAGA__INIT;
    s.name = "order_checkout";
    s.input.data = (uint8_t *)"[1]";
    s.input.len = 3;
    uint8_t buf[256];
    size_t len = saga__start_saga__pack(&s, buf);
    assert_false(saga_inbound_start_decode(buf, len, &out, &code, why, sizeof why));
    assert_int_equal(code, SAGA_DLQ_INVALID_START);

    s.input.data = (uint8_t *)"{}";
    s.input.len = 2;
    len = saga__start_saga__pack(&s, buf);
    assert_true(saga_inbound_start_decode(buf, len, &out, &code, why, sizeof why));
    saga_inbound_start_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_reply_codes),
        cmocka_unit_test(test_start_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
