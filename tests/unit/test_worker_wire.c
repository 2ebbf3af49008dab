/*
 * test_worker_wire.c - what the worker accepts as a Command and what it
 * dead-letters, and the Reply it packs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static uint8_t *pack(const Saga__Command *c, size_t *len)
{
    *len = saga__command__get_packed_size(c);
    uint8_t *buf = malloc(*len + 1);
    saga__command__pack(c, buf);
    return buf;
}

static Saga__Command valid(void)
{
    Saga__Command c = SAGA__COMMAND__INIT;
    c.saga_id = "3f1c2a9e-0000-4000-8000-000000000001";
    c.step = "reserve_inventory";
    c.action = SAGA__ACTION__RESERVE;
    c.attempt = 1;
    c.idempotency_key = "3f1c2a9e-0000-4000-8000-000000000001/reserve_inventory";
    c.payload.data = (uint8_t *)"{\"sku\":\"A\",\"qty\":2}";
    c.payload.len = strlen((char *)c.payload.data);
    c.reply_topic = "saga.replies";
    return c;
}

/* Decodes c; returns the rc and leaves the reason in why. */
static int decode(const Saga__Command *c, size_t max, char *why, size_t why_len)
{
    size_t len;
    uint8_t *buf = pack(c, &len);
    saga_wire_cmd out;
    int rc = saga_wire_decode(buf, len, max, &out, why, why_len);
    if (rc == 0) {
        assert_non_null(out.pb);
        assert_true(json_is_object(out.payload));
    } else {
        assert_null(out.pb);
        assert_null(out.payload);
    }
    saga_wire_cmd_free(&out);
    free(buf);
    return rc;
}

static void expect_poison(const Saga__Command *c, const char *why_part)
{
    char why[256] = "";
    assert_int_not_equal(decode(c, 1 << 20, why, sizeof why), 0);
    if (!strstr(why, why_part))
        fail_msg("reason \"%s\" lacks \"%s\"", why, why_part);
}

static void test_valid_command(void **state)
{
    (void)state;
    Saga__Command c = valid();
    size_t len;
    uint8_t *buf = pack(&c, &len);
    saga_wire_cmd out;
    char why[256];
    assert_int_equal(saga_wire_decode(buf, len, 1 << 20, &out, why, sizeof why), 0);
    assert_string_equal(out.pb->saga_id, c.saga_id);
    assert_string_equal(out.reply_topic, "saga.replies");
    assert_int_equal(json_integer_value(json_object_get(out.payload, "qty")), 2);
    saga_wire_cmd_free(&out);
    saga_wire_cmd_free(&out); /* safe twice */
    free(buf);
}

static void test_lenient_defaults(void **state)
{
    (void)state;
    Saga__Command c = valid();
    c.payload.len = 0;
    c.reply_topic = "";
    c.attempt = 0;
    size_t len;
    uint8_t *buf = pack(&c, &len);
    saga_wire_cmd out;
    char why[256];
    assert_int_equal(saga_wire_decode(buf, len, 0, &out, why, sizeof why), 0);
    assert_int_equal(json_object_size(out.payload), 0);
    assert_string_equal(out.reply_topic, "saga.replies");
    saga_wire_cmd_free(&out);
    free(buf);
}

static void test_poison(void **state)
{
    (void)state;
    char why[256];
    saga_wire_cmd out;
    const char junk[] = "\xff\xff\xff\xff garbage";
    assert_int_equal(saga_wire_decode(junk, sizeof junk - 1, 0, &out, why, sizeof why),
                     SAGA_EINVAL);
    assert_non_null(strstr(why, "not a saga.Command"));

    Saga__Command c = valid();
    c.saga_id = "";
    expect_poison(&c, "saga_id is empty");
    c = valid();
    c.step = "";
    expect_poison(&c, "step is empty");
    c = valid();
    c.idempotency_key = "";
    expect_poison(&c, "idempotency_key is empty");
    c = valid();
    c.action = SAGA__ACTION__ACTION_UNSPECIFIED;
    expect_poison(&c, "action 0");
    c = valid();
    c.action = (Saga__Action)9;
    expect_poison(&c, "action 9");
    c = valid();
    c.attempt = -1;
    expect_poison(&c, "attempt -1");
    c = valid();
    c.payload.data = (uint8_t *)"[1,2]";
    c.payload.len = 5;
    expect_poison(&c, "not an object");
    c = valid();
    c.payload.data = (uint8_t *)"{\"sku\":";
    c.payload.len = 7;
    expect_poison(&c, "payload is not JSON");
    c = valid();
    c.step = "caf\xc3";
    expect_poison(&c, "step is not valid UTF-8");
    c = valid();
    char longkey[SAGA_WIRE_MAX_KEY + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    c.idempotency_key = longkey;
    expect_poison(&c, "idempotency_key is");
}

static void test_size_limit(void **state)
{
    (void)state;
    Saga__Command c = valid();
    char why[256];
    assert_int_equal(decode(&c, 16, why, sizeof why), SAGA_ELIMIT);
    assert_non_null(strstr(why, "exceeds the limit of 16 bytes"));
}

static void test_reply(void **state)
{
    (void)state;
    Saga__Command c = valid();
    c.attempt = 4;
    c.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    uint8_t *buf;
    size_t len;
    assert_int_equal(saga_wire_reply(&c, SAGA_WORKER_OK, "", "{\"id\":1}", &buf, &len), 0);
    Saga__Reply *r = saga__reply__unpack(NULL, len, buf);
    assert_non_null(r);
    assert_string_equal(r->saga_id, c.saga_id);
    assert_string_equal(r->step, c.step);
    assert_int_equal(r->action, SAGA__ACTION__RESERVE);
    assert_int_equal(r->attempt, 4);
    assert_int_equal(r->outcome, SAGA__OUTCOME__OK);
    assert_string_equal(r->traceparent, c.traceparent);
    assert_int_equal(r->payload.len, 8);
    assert_memory_equal(r->payload.data, "{\"id\":1}", 8);
    saga__reply__free_unpacked(r, NULL);
    free(buf);

    /* Only OK carries a payload. */
    assert_int_equal(saga_wire_reply(&c, SAGA_WORKER_REJECTED, "no stock", "{\"x\":1}", &buf,
                                     &len), 0);
    r = saga__reply__unpack(NULL, len, buf);
    assert_int_equal(r->outcome, SAGA__OUTCOME__REJECTED);
    assert_string_equal(r->reason, "no stock");
    assert_int_equal(r->payload.len, 0);
    saga__reply__free_unpacked(r, NULL);
    free(buf);
}

static void test_action_names(void **state)
{
    (void)state;
    saga_worker_action a;
    assert_int_equal(saga_worker_action_parse("compensate", &a), 0);
    assert_int_equal(a, SAGA_WORKER_COMPENSATE);
    assert_int_equal(saga_worker_action_parse("Confirm", &a), 0);
    assert_int_equal(a, SAGA_WORKER_CONFIRM);
    assert_int_equal(saga_worker_action_parse("UNKNOWN", &a), SAGA_EINVAL);
    assert_string_equal(saga_worker_action_name(SAGA_WORKER_RESERVE), "RESERVE");
    assert_string_equal(saga_worker_action_name((saga_worker_action)0), "UNKNOWN");
    assert_string_equal(saga_worker_outcome_name(SAGA_WORKER_RETRY), "RETRY");
}

/* A QUERY decodes like any command and is answered with the rows recorded
 * for its key only, whatever else the barrier read returned. */
static void test_query_reply(void **state)
{
    (void)state;
    Saga__Command c = valid();
    c.action = SAGA__ACTION__QUERY;
    c.payload.len = 0;
    size_t len;
    uint8_t *buf = pack(&c, &len);
    saga_wire_cmd cmd;
    char why[256] = "";
    assert_int_equal(saga_wire_decode(buf, len, 0, &cmd, why, sizeof why), 0);
    free(buf);
    saga_barrier_row rows[4] = {
        {.key = "3f1c2a9e-0000-4000-8000-000000000001/reserve_inventory",
         .action = SAGA_WORKER_RESERVE, .outcome = SAGA_WORKER_OK, .reason = "",
         .result = "{\"reservation_id\":\"r1\"}"},
        {.key = "3f1c2a9e-0000-4000-8000-000000000001/reserve_inventory",
         .action = SAGA_WORKER_COMPENSATE, .outcome = SAGA_WORKER_REJECTED,
         .reason = "already confirmed"},
        {.key = "other/step", .action = SAGA_WORKER_CONFIRM, .outcome = SAGA_WORKER_OK,
         .reason = ""},
        /* superseded by a re-read (action 0): not an answer */
        {.key = "3f1c2a9e-0000-4000-8000-000000000001/reserve_inventory",
         .action = 0, .outcome = SAGA_WORKER_OK, .reason = ""},
    };
    saga_barrier_rows rs = {.rows = rows, .n = 4, .cap = 4};
    assert_int_equal(saga_wire_query_reply(cmd.pb, &rs, &buf, &len), 0);
    Saga__Reply *r = saga__reply__unpack(NULL, len, buf);
    assert_non_null(r);
    assert_int_equal(r->action, SAGA__ACTION__QUERY);
    assert_int_equal(r->outcome, SAGA__OUTCOME__OK);
    assert_string_equal(r->idempotency_key, c.idempotency_key);
    assert_int_equal(r->n_recorded, 2);
    assert_int_equal(r->recorded[0]->action, SAGA__ACTION__RESERVE);
    assert_int_equal(r->recorded[0]->outcome, SAGA__OUTCOME__OK);
    assert_memory_equal(r->recorded[0]->result.data, "{\"reservation_id\":\"r1\"}",
                        r->recorded[0]->result.len);
    assert_int_equal(r->recorded[1]->action, SAGA__ACTION__COMPENSATE);
    assert_string_equal(r->recorded[1]->reason, "already confirmed");
    saga__reply__free_unpacked(r, NULL);
    free(buf);
    /* No record of the key at all: an empty answer, not no answer. */
    rs.n = 0;
    assert_int_equal(saga_wire_query_reply(cmd.pb, &rs, &buf, &len), 0);
    r = saga__reply__unpack(NULL, len, buf);
    assert_int_equal(r->n_recorded, 0);
    saga__reply__free_unpacked(r, NULL);
    free(buf);
    saga_wire_cmd_free(&cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_command),
        cmocka_unit_test(test_lenient_defaults),
        cmocka_unit_test(test_poison),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_query_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
