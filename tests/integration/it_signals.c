/*
 * it_signals.c - approvals arriving as Kafka messages: this test plays an
 * approval service publishing real Signal protobufs on saga.signals, and
 * the participant of the step after the approval, against a real sagad,
 * PostgreSQL and Kafka.
 *
 * Cases: an APPROVE with data lets the saga go on (the data reaches the
 * next command's payload) and is recorded with its actor; a REJECT makes
 * it compensate without a command sent; a duplicate APPROVE is applied
 * once and the copy recorded as ignored; a Signal for a saga that does not
 * exist is dead-lettered (class "unknown saga", docs/reliability.md) and
 * creates nothing.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "defs.h"
#include "itest.h"
#include "migrate.h"
#include "schema.h"
#include "saga.pb-c.h"
#include "start.h"
#include "topics.h"

static pid_t sagad_pid;
static int run_id;
static rd_kafka_t *producer, *participant;
static char part_name[64], part_topic[96], spec_name[64];
static PGconn *db;

static rd_kafka_conf_t *kconf(void)
{
    char errstr[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", itest_env("SAGA_KAFKA_BROKERS"), errstr,
                      sizeof errstr);
    return c;
}

/* --- Kafka: the approval service and the participant ------------------------ */

static void send_signal(const char *id, const char *step, Saga__Decision d, const char *data,
                        const char *reason, const char *actor)
{
    Saga__Signal s = SAGA__SIGNAL__INIT;
    s.saga_id = (char *)id;
    s.step = (char *)step;
    s.decision = d;
    s.reason = (char *)(reason ? reason : "");
    s.actor = (char *)actor;
    if (data) {
        s.data.data = (uint8_t *)data;
        s.data.len = strlen(data);
    }
    uint8_t buf[1024];
    size_t len = saga__signal__pack(&s, buf);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(SAGA_TOPIC_SIGNALS), RD_KAFKA_V_KEY(id, strlen(id)),
        RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    assert_int_equal(e, 0);
    assert_int_equal(rd_kafka_flush(producer, 10000), 0);
}

/* The next command for saga id on the participant's topic, or NULL. */
static Saga__Command *cmd_wait(const char *id, int64_t timeout_ms)
{
    int64_t end = itest_now_ms() + timeout_ms;
    while (itest_now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(participant, 50);
        if (!m)
            continue;
        Saga__Command *c = m->err ? NULL : saga__command__unpack(NULL, m->len, m->payload);
        rd_kafka_message_destroy(m);
        if (c && strcmp(c->saga_id, id) == 0)
            return c;
        if (c)
            saga__command__free_unpacked(c, NULL);
    }
    return NULL;
}

/* Answers the next command for id, which must be `action`, with OK;
 * returns its payload (owned) for the caller to check. */
static char *answer(const char *id, Saga__Action action)
{
    Saga__Command *c = cmd_wait(id, 20000);
    assert_non_null(c);
    assert_int_equal(c->action, action);
    char *payload = strndup((const char *)c->payload.data, c->payload.len);
    Saga__Reply r = SAGA__REPLY__INIT;
    r.saga_id = c->saga_id;
    r.step = c->step;
    r.action = c->action;
    r.attempt = c->attempt;
    r.outcome = SAGA__OUTCOME__OK;
    r.payload.data = (uint8_t *)"{}";
    r.payload.len = 2;
    uint8_t buf[1024];
    size_t len = saga__reply__pack(&r, buf);
    assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(SAGA_TOPIC_REPLIES),
                                       RD_KAFKA_V_KEY(id, strlen(id)), RD_KAFKA_V_VALUE(buf, len),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    assert_int_equal(rd_kafka_flush(producer, 10000), 0);
    saga__command__free_unpacked(c, NULL);
    return payload;
}

/* --- PostgreSQL ---------------------------------------------------------------- */

static char *q_text(const char *sql, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = PQexecParams(db, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        fail();
    }
    char *v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return v;
}

static long q_long(const char *sql, const char *id)
{
    char *v = q_text(sql, id);
    long n = atol(v);
    free(v);
    return n;
}

typedef struct until {
    const char *sql, *id, *want;
} until;

static bool holds(void *arg)
{
    until *u = arg;
    char *v = q_text(u->sql, u->id);
    bool ok = strcmp(v, u->want) == 0;
    free(v);
    return ok;
}

static void wait_for(const char *sql, const char *id, const char *want)
{
    until u = {sql, id, want};
    if (!itest_wait(holds, &u, 30000)) {
        char *v = q_text(sql, id);
        fprintf(stderr, "saga %s: %s gave \"%s\", expected \"%s\"\n", id, sql, v, want);
        free(v);
        fail();
    }
}

#define STATUS "SELECT status FROM sagas WHERE id = $1"
#define WAITING                                                                \
    "SELECT status FROM saga_steps WHERE saga_id = $1 AND name = 'approve'"

/* Starts a saga of the spec and waits until its signal step waits. */
static void start_waiting(const char *key, char id[37])
{
    char input[64];
    snprintf(input, sizeof input, "{\"order_id\": \"%s\"}", key);
    saga_start_req req = {.name = spec_name, .input_json = input, .idempotency_key = key};
    saga_start_result res;
    saga_error err;
    int rc = saga_start(db, &req, &res, &err);
    if (rc)
        fprintf(stderr, "saga_start: %s\n", err.msg);
    assert_int_equal(rc, 0);
    memcpy(id, res.id, 37);
    wait_for(WAITING, id, "RESERVING");
}

/* --- fixtures ---------------------------------------------------------------------- */

static void apply_spec(void)
{
    snprintf(spec_name, sizeof spec_name, "it_signal_%d", run_id);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"name\": \"%s\", \"version\": 1,"
             " \"input\": {\"order_id\": {\"type\": \"string\"}},"
             " \"defaults\": {\"timeout_ms\": 20000, \"stuck_after_ms\": 600000},"
             " \"steps\": ["
             "  {\"name\": \"approve\", \"signal\": {\"timeout_ms\": 120000}},"
             "  {\"name\": \"ship\", \"participant\": \"%s\", \"after\": [\"approve\"],"
             "   \"reserve\": {\"command\": \"book\","
             "    \"payload\": {\"by\": \"${steps.approve.signal.data.by}\"}},"
             "   \"confirm\": {\"command\": \"dispatch\"},"
             "   \"compensate\": {\"command\": \"cancel\"}}]}",
             spec_name, part_name);
    saga_spec *spec = NULL;
    saga_error err;
    int rc = saga_spec_parse("it_signals", text, strlen(text), &spec, NULL, &err);
    if (rc)
        fprintf(stderr, "spec: %s\n", err.msg);
    assert_int_equal(rc, 0);
    saga_defs_apply_result res;
    rc = saga_defs_apply(db, spec, &res, &err);
    saga_defs_apply_result_free(&res);
    saga_spec_free(spec);
    assert_int_equal(rc, 0);
}

static void open_participant(void)
{
    snprintf(part_name, sizeof part_name, "itsig%d", run_id);
    snprintf(part_topic, sizeof part_topic, "saga.%s.commands", part_name);
    saga_topic_spec t = {part_topic, 1, -1};
    saga_error err;
    assert_int_equal(saga_topics_ensure(producer, &t, 1, 10000, &err), 0);
    char errstr[256];
    rd_kafka_conf_t *c = kconf();
    rd_kafka_conf_set(c, "group.id", part_topic, errstr, sizeof errstr);
    participant = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof errstr);
    assert_non_null(participant);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, part_topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(participant, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
}

static int setup(void **state)
{
    (void)state;
    run_id = (int)getpid();
    db = itest_pg();
    saga_error err;
    if (saga_migrate_core(db, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    char errstr[256];
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, kconf(), errstr, sizeof errstr);
    open_participant();
    apply_spec();
    const char *bin = getenv("SAGA_BIN") ? getenv("SAGA_BIN") : "build/bin";
    char path[512], log[512];
    mkdir("build/test-logs", 0755);
    snprintf(path, sizeof path, "%s/sagad", bin);
    snprintf(log, sizeof log, "build/test-logs/it_signals.sagad.%d.log", run_id);
    sagad_pid = fork();
    if (sagad_pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execl(path, "sagad", "--http.listen=off", (char *)NULL);
        _exit(127);
    }
    return sagad_pid > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kill(sagad_pid, SIGTERM);
    int st = 0;
    waitpid(sagad_pid, &st, 0);
    rd_kafka_consumer_close(participant);
    rd_kafka_destroy(participant);
    rd_kafka_destroy(producer);
    PQfinish(db);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* --- tests --------------------------------------------------------------------------- */

static void test_approve_message_lets_the_saga_go_on(void **state)
{
    (void)state;
    char id[37], key[64];
    snprintf(key, sizeof key, "%d-approve", run_id);
    start_waiting(key, id);
    send_signal(id, "approve", SAGA__DECISION__APPROVE, "{\"by\": \"carol\"}", NULL, "carol");
    char *payload = answer(id, SAGA__ACTION__RESERVE);
    assert_non_null(strstr(payload, "\"carol\"")); /* the data reached the payload */
    free(payload);
    free(answer(id, SAGA__ACTION__CONFIRM));
    wait_for(STATUS, id, "COMPLETED");
    assert_int_equal(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1 AND"
                            " kind = 'signal' AND step = 'approve' AND outcome = 'OK'"
                            " AND actor = 'carol'",
                            id),
                     1);
    char *result = q_text("SELECT result->>'by' FROM saga_steps WHERE saga_id = $1"
                          " AND name = 'approve'",
                          id);
    assert_string_equal(result, "carol");
    free(result);
}

static void test_reject_message_compensates_without_a_command(void **state)
{
    (void)state;
    char id[37], key[64];
    snprintf(key, sizeof key, "%d-reject", run_id);
    start_waiting(key, id);
    send_signal(id, "approve", SAGA__DECISION__REJECT, NULL, "fraud suspected", "dave");
    wait_for(STATUS, id, "COMPENSATED");
    Saga__Command *c = cmd_wait(id, 500);
    assert_null(c); /* the step after the approval was never asked */
    assert_int_equal(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1 AND"
                            " kind = 'signal' AND outcome = 'REJECTED' AND actor = 'dave'"
                            " AND text = 'reject: fraud suspected'",
                            id),
                     1);
    char *st = q_text("SELECT string_agg(status, ' ' ORDER BY idx) FROM saga_steps"
                      " WHERE saga_id = $1",
                      id);
    assert_string_equal(st, "REJECTED PENDING");
    free(st);
}

static void test_duplicate_approve_is_applied_once(void **state)
{
    (void)state;
    char id[37], key[64];
    snprintf(key, sizeof key, "%d-dup", run_id);
    start_waiting(key, id);
    send_signal(id, "approve", SAGA__DECISION__APPROVE, "{\"by\": \"erin\"}", NULL, "erin");
    send_signal(id, "approve", SAGA__DECISION__APPROVE, "{\"by\": \"erin\"}", NULL, "erin");
    wait_for("SELECT count(*) FROM saga_history WHERE saga_id = $1 AND kind = 'ignored'"
             " AND actor = 'erin' AND text LIKE 'approve ignored: step approve is not"
             " waiting for a signal%'",
             id, "1");
    free(answer(id, SAGA__ACTION__RESERVE));
    free(answer(id, SAGA__ACTION__CONFIRM));
    wait_for(STATUS, id, "COMPLETED");
    assert_null(cmd_wait(id, 500)); /* one RESERVE, one CONFIRM: nothing more */
    assert_int_equal(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1"
                            " AND kind = 'signal' AND actor = 'erin'",
                            id),
                     1);
    assert_int_equal(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1"
                            " AND kind = 'command' AND action = 'RESERVE'",
                            id),
                     1);
}

/* A consumer of saga.dlq positioned at its current end. */
static rd_kafka_t *dlq_from_end(void)
{
    char errstr[256], group[64];
    rd_kafka_conf_t *c = kconf();
    snprintf(group, sizeof group, "it-signals-dlq-%d", run_id);
    rd_kafka_conf_set(c, "group.id", group, errstr, sizeof errstr);
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof errstr);
    assert_non_null(cons);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(cons, SAGA_TOPIC_DLQ, NULL);
    assert_int_equal(rd_kafka_metadata(cons, 0, rkt, &md, 10000), 0);
    int parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++) {
        int64_t lo = 0, hi = 0;
        assert_int_equal(
            rd_kafka_query_watermark_offsets(cons, SAGA_TOPIC_DLQ, p, &lo, &hi, 10000), 0);
        rd_kafka_topic_partition_list_add(l, SAGA_TOPIC_DLQ, p)->offset = hi;
    }
    rd_kafka_assign(cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    return cons;
}

/* Whether m is the dead letter of a Signal for id, dead-lettered as an
 * unknown saga. */
static bool unknown_saga_letter(rd_kafka_message_t *m, const char *id)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    if (m->err || rd_kafka_message_headers(m, &h) != 0 ||
        rd_kafka_header_get_last(h, "dlq.class", &v, &n) != 0 ||
        n != strlen("unknown saga") || memcmp(v, "unknown saga", n) != 0 ||
        rd_kafka_header_get_last(h, "dlq.topic", &v, &n) != 0 ||
        n != strlen(SAGA_TOPIC_SIGNALS) || memcmp(v, SAGA_TOPIC_SIGNALS, n) != 0)
        return false;
    Saga__Signal *s = saga__signal__unpack(NULL, m->len, m->payload);
    bool same = s && strcmp(s->saga_id, id) == 0;
    if (s)
        saga__signal__free_unpacked(s, NULL);
    return same;
}

static void test_signal_for_unknown_saga_is_dead_lettered(void **state)
{
    (void)state;
    rd_kafka_t *cons = dlq_from_end();
    char id[37];
    snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", run_id);
    send_signal(id, "approve", SAGA__DECISION__APPROVE, NULL, NULL, "mallory");
    bool found = false;
    int64_t end = itest_now_ms() + 30000;
    while (!found && itest_now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
        if (m) {
            found = unknown_saga_letter(m, id);
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    assert_true(found);
    assert_int_equal(q_long("SELECT count(*) FROM sagas WHERE id = $1::uuid", id), 0);
    assert_int_equal(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1::uuid", id),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approve_message_lets_the_saga_go_on),
        cmocka_unit_test(test_reject_message_compensates_without_a_command),
        cmocka_unit_test(test_duplicate_approve_is_applied_once),
        cmocka_unit_test(test_signal_for_unknown_saga_is_dead_lettered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
