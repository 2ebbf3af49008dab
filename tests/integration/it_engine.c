/*
 * it_engine.c - the coordinator on the real stack, with this test playing
 * the participants: a real sagad process, real PostgreSQL, real Kafka; the
 * test consumes the Commands sagad sends and answers them with Replies of
 * its choosing, so every protocol path can be driven precisely - happy path,
 * rejection and compensation order, timeouts and retries, exhausted
 * attempts, duplicate and stale replies, parallel reserves, poison messages,
 * and the start API's transaction and idempotency rules.
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
static rd_kafka_t *producer;

/* --- the fake participant ---------------------------------------------- */

typedef struct part {
    char name[64];
    char topic[96];
    rd_kafka_t *consumer;
} part;

static part PA, PB, PC;

static rd_kafka_conf_t *kconf(void)
{
    char errstr[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", itest_env("SAGA_KAFKA_BROKERS"), errstr, sizeof errstr);
    return c;
}

static void part_open(part *p, const char *prefix)
{
    snprintf(p->name, sizeof p->name, "%s%d", prefix, run_id);
    snprintf(p->topic, sizeof p->topic, "saga.%s.commands", p->name);
    saga_topic_spec t = {p->topic, 1, -1};
    saga_error err;
    assert_int_equal(saga_topics_ensure(producer, &t, 1, 10000, &err), 0);
    char errstr[256];
    rd_kafka_conf_t *c = kconf();
    rd_kafka_conf_set(c, "group.id", p->topic, errstr, sizeof errstr);
    p->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof errstr);
    assert_non_null(p->consumer);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(p->consumer, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
}

static void part_close(part *p)
{
    rd_kafka_consumer_close(p->consumer);
    rd_kafka_destroy(p->consumer);
}

/* The next command for saga_id on p (others are skipped), or NULL. */
static Saga__Command *cmd_wait(part *p, const char *saga_id, int64_t timeout_ms)
{
    int64_t end = itest_now_ms() + timeout_ms;
    while (itest_now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(p->consumer, 50);
        if (!m)
            continue;
        Saga__Command *c = NULL;
        if (!m->err)
            c = saga__command__unpack(NULL, m->len, m->payload);
        rd_kafka_message_destroy(m);
        if (c && strcmp(c->saga_id, saga_id) == 0)
            return c;
        if (c)
            saga__command__free_unpacked(c, NULL);
    }
    return NULL;
}

/* Asserts that no command for saga_id arrives on p within ms. */
static void cmd_none(part *p, const char *saga_id, int64_t ms)
{
    Saga__Command *c = cmd_wait(p, saga_id, ms);
    if (c) {
        fprintf(stderr, "unexpected %s %s attempt %d\n", c->step,
                c->action == 1 ? "RESERVE" : c->action == 2 ? "CONFIRM" : "COMPENSATE", c->attempt);
        saga__command__free_unpacked(c, NULL);
        fail();
    }
}

static void send_raw(const char *topic, const char *key, const void *buf, size_t len)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    assert_int_equal(e, 0);
    assert_int_equal(rd_kafka_flush(producer, 10000), 0);
}

static void reply_as(const Saga__Command *c, int action, int attempt, int outcome,
                     const char *payload)
{
    Saga__Reply r = SAGA__REPLY__INIT;
    r.saga_id = c->saga_id;
    r.step = c->step;
    r.action = action;
    r.attempt = attempt;
    r.outcome = outcome;
    r.reason = outcome == SAGA__OUTCOME__OK ? "" : "test says no";
    if (payload) {
        r.payload.data = (uint8_t *)payload;
        r.payload.len = strlen(payload);
    }
    r.traceparent = c->traceparent;
    uint8_t buf[4096];
    size_t len = saga__reply__pack(&r, buf);
    send_raw("saga.replies", c->saga_id, buf, len);
}

static void reply(const Saga__Command *c, int outcome, const char *payload)
{
    reply_as(c, c->action, c->attempt, outcome, payload);
}

/* Waits for the next command of p for id, checks step/action, replies. */
static Saga__Command *expect(part *p, const char *id, const char *step, int action)
{
    Saga__Command *c = cmd_wait(p, id, 15000);
    assert_non_null(c);
    assert_string_equal(c->step, step);
    assert_int_equal(c->action, action);
    return c;
}

static void expect_reply(part *p, const char *id, const char *step, int action,
                         int outcome, const char *payload)
{
    Saga__Command *c = expect(p, id, step, action);
    reply(c, outcome, payload);
    saga__command__free_unpacked(c, NULL);
}

/* --- database helpers -------------------------------------------------- */

static PGconn *db;

static long q_long(const char *sql, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = PQexecParams(db, sql, id ? 1 : 0, NULL, id ? p : NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        fail();
    }
    long v = PQntuples(r) ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

typedef struct status_wait {
    const char *id;
    const char *status;
} status_wait;

static bool has_status(void *arg)
{
    status_wait *w = arg;
    const char *p[2] = {w->id, w->status};
    PGresult *r = PQexecParams(db, "SELECT 1 FROM sagas WHERE id = $1 AND status = $2", 2,
                               NULL, p, NULL, NULL, 0);
    bool ok = PQntuples(r) == 1;
    PQclear(r);
    return ok;
}

static void wait_status(const char *id, const char *status)
{
    status_wait w = {id, status};
    if (!itest_wait(has_status, &w, 20000)) {
        const char *p[1] = {id};
        PGresult *r = PQexecParams(db, "SELECT status FROM sagas WHERE id = $1", 1, NULL, p,
                                   NULL, NULL, 0);
        fprintf(stderr, "saga %s: expected %s, is %s\n", id, status,
                PQntuples(r) ? PQgetvalue(r, 0, 0) : "(missing)");
        PQclear(r);
        fail();
    }
}

static const char *SPEC_FMT =
    "{\"name\": \"%s\", \"version\": %d,"
    " \"input\": {\"n\": {\"type\": \"integer\"}},"
    " \"defaults\": {\"timeout_ms\": %d, \"stuck_after_ms\": 600000,"
    "   \"retry\": {\"max_attempts\": %d, \"initial_backoff_ms\": 20, \"max_backoff_ms\": 100,"
    "               \"multiplier\": 2, \"jitter\": 0}},"
    " \"steps\": ["
    "  {\"name\": \"a\", \"participant\": \"%s\", %s"
    "   \"reserve\": {\"command\": \"ra\", \"payload\": {\"n\": \"${input.n}\"}},"
    "   \"confirm\": {\"command\": \"ca\", \"payload\": {\"rid\": \"${steps.a.reserve.result.rid}\"}},"
    "   \"compensate\": {\"command\": \"xa\", \"payload\": {\"rid\": \"${steps.a.reserve.result.rid}\"}}},"
    "  {\"name\": \"b\", \"participant\": \"%s\", %s"
    "   \"reserve\": {\"command\": \"rb\", \"payload\": {}},"
    "   \"confirm\": {\"command\": \"cb\", \"payload\": {}},"
    "   \"compensate\": {\"command\": \"xb\", \"payload\": {}}},"
    "  {\"name\": \"c\", \"participant\": \"%s\", \"after\": [\"b\"],"
    "   \"reserve\": {\"command\": \"rc\", \"payload\": {}},"
    "   \"compensate\": {\"command\": \"xc\", \"payload\": {}}}"
    " ]}";

/* Applies version of a 3-step spec a -> b -> c (or a, b parallel -> c) and
 * returns its name. */
static void apply_spec_version(char *name, size_t cap, const char *kind, int timeout_ms,
                               int attempts, bool parallel, int version)
{
    snprintf(name, cap, "it_%s_%d", kind, run_id);
    char text[4096];
    const char *root = parallel ? "\"after\": []," : "";
    snprintf(text, sizeof text, SPEC_FMT, name, version, timeout_ms, attempts, PA.name, root,
             PB.name, root, PC.name);
    saga_spec *spec = NULL;
    saga_diag diag;
    saga_diag_init(&diag);
    saga_error err;
    int rc = saga_spec_parse("it_engine", text, strlen(text), &spec, &diag, &err);
    for (size_t i = 0; i < diag.n; i++)
        fprintf(stderr, "%s\n", diag.lines[i]);
    saga_diag_free(&diag);
    assert_int_equal(rc, 0);
    saga_defs_apply_result res;
    rc = saga_defs_apply(db, spec, &res, &err);
    saga_defs_apply_result_free(&res);
    saga_spec_free(spec);
    assert_int_equal(rc, 0);
}

static void apply_spec(char *name, size_t cap, const char *kind, int timeout_ms,
                       int attempts, bool parallel)
{
    apply_spec_version(name, cap, kind, timeout_ms, attempts, parallel, 1);
}

static void start(const char *name, const char *input, const char *key, char id[37])
{
    saga_start_req req = {.name = name, .input_json = input, .idempotency_key = key};
    saga_start_result res;
    saga_error err;
    int rc = saga_start(db, &req, &res, &err);
    if (rc)
        fprintf(stderr, "saga_start: %s\n", err.msg);
    assert_int_equal(rc, 0);
    memcpy(id, res.id, 37);
}

/* --- fixtures ---------------------------------------------------------- */

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
    part_open(&PA, "ita");
    part_open(&PB, "itb");
    part_open(&PC, "itc");

    const char *bin = getenv("SAGA_BIN") ? getenv("SAGA_BIN") : "build/bin";
    char path[512], log[512];
    mkdir("build/test-logs", 0755);
    snprintf(path, sizeof path, "%s/sagad", bin);
    snprintf(log, sizeof log, "build/test-logs/it_engine.sagad.%d.log", run_id);
    sagad_pid = fork();
    if (sagad_pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execl(path, "sagad", "--http.listen=off", "--outbox.interval=200ms", (char *)NULL);
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
    part_close(&PA);
    part_close(&PB);
    part_close(&PC);
    rd_kafka_destroy(producer);
    PQfinish(db);
    /* A graceful stop is part of the contract. */
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* --- tests ------------------------------------------------------------- */

static void test_happy_path_confirms_with_reserve_results(void **state)
{
    (void)state;
    char name[64], id[37];
    apply_spec(name, sizeof name, "happy", 10000, 3, false);
    start(name, "{\"n\": 7}", NULL, id);

    Saga__Command *c = expect(&PA, id, "a", SAGA__ACTION__RESERVE);
    assert_string_equal(c->command, "ra");
    assert_int_equal(c->attempt, 1);
    char key[128];
    snprintf(key, sizeof key, "%s/a", id);
    assert_string_equal(c->idempotency_key, key);
    assert_memory_equal(c->payload.data, "{\"n\":7}", c->payload.len);
    assert_string_equal(c->reply_topic, "saga.replies");
    assert_int_equal(strlen(c->traceparent), 55);
    reply(c, SAGA__OUTCOME__OK, "{\"rid\": \"R-1\"}");
    saga__command__free_unpacked(c, NULL);

    expect_reply(&PB, id, "b", SAGA__ACTION__RESERVE, SAGA__OUTCOME__OK, NULL);
    expect_reply(&PC, id, "c", SAGA__ACTION__RESERVE, SAGA__OUTCOME__OK, NULL);
    /* Confirm phase: a and b have confirm commands, c has none. */
    c = expect(&PA, id, "a", SAGA__ACTION__CONFIRM);
    assert_memory_equal(c->payload.data, "{\"rid\":\"R-1\"}", c->payload.len);
    reply(c, SAGA__OUTCOME__OK, NULL);
    saga__command__free_unpacked(c, NULL);
    expect_reply(&PB, id, "b", SAGA__ACTION__CONFIRM, SAGA__OUTCOME__OK, NULL);
    wait_status(id, "COMPLETED");
    cmd_none(&PC, id, 200);
    assert_int_equal(q_long("SELECT count(*) FROM saga_outbox WHERE key = $1", id), 0);
    assert_int_equal(q_long("SELECT count(*) FROM saga_steps WHERE saga_id = $1"
                            " AND status = 'CONFIRMED'", id), 3);
    assert_true(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1 AND kind = 'command'", id) == 5);
}

static void test_rejected_reserve_compensates_in_reverse_order(void **state)
{
    (void)state;
    char name[64], id[37];
    apply_spec(name, sizeof name, "reject", 10000, 3, false);
    start(name, "{\"n\": 1}", NULL, id);
    expect_reply(&PA, id, "a", SAGA__ACTION__RESERVE, SAGA__OUTCOME__OK, "{\"rid\": \"R-2\"}");
    expect_reply(&PB, id, "b", SAGA__ACTION__RESERVE, SAGA__OUTCOME__OK, NULL);
    expect_reply(&PC, id, "c", SAGA__ACTION__RESERVE, SAGA__OUTCOME__REJECTED, NULL);
    /* c was rejected: nothing to undo there. b first, and a only after b. */
    Saga__Command *b = expect(&PB, id, "b", SAGA__ACTION__COMPENSATE);
    cmd_none(&PA, id, 300);
    reply(b, SAGA__OUTCOME__OK, NULL);
    saga__command__free_unpacked(b, NULL);
    Saga__Command *a = expect(&PA, id, "a", SAGA__ACTION__COMPENSATE);
    assert_memory_equal(a->payload.data, "{\"rid\":\"R-2\"}", a->payload.len);
    reply(a, SAGA__OUTCOME__OK, NULL);
    saga__command__free_unpacked(a, NULL);
    wait_status(id, "COMPENSATED");
    cmd_none(&PC, id, 200);
    assert_int_equal(q_long("SELECT count(*) FROM saga_steps WHERE saga_id = $1 AND"
                            " status = 'COMPENSATED'", id), 2);
    assert_int_equal(q_long("SELECT count(*) FROM saga_steps WHERE saga_id = $1 AND"
                            " name = 'c' AND status = 'REJECTED'", id), 1);
}

static void test_timeout_retries_then_succeeds(void **state)
{
    (void)state;
    char name[64], id[37];
    apply_spec(name, sizeof name, "timeout", 300, 3, false);
    start(name, "{\"n\": 2}", NULL, id);
    Saga__Command *c1 = expect(&PA, id, "a", SAGA__ACTION__RESERVE);
    assert_int_equal(c1->attempt, 1);
    /* No answer: after the deadline and a backoff, attempt 2 with the same key. */
    Saga__Command *c2 = expect(&PA, id, "a", SAGA__ACTION__RESERVE);
    assert_int_equal(c2->attempt, 2);
    assert_string_equal(c2->idempotency_key, c1->idempotency_key);
    reply(c2, SAGA__OUTCOME__OK, "{\"rid\": \"R-3\"}");
    saga__command__free_unpacked(c1, NULL);
    saga__command__free_unpacked(c2, NULL);
    expect_reply(&PB, id, "b", SAGA__ACTION__RESERVE, SAGA__OUTCOME__OK, NULL);
    expect_reply(&PC, id, "c", SAGA__ACTION__RESERVE, SAGA__OUTCOME__OK, NULL);
    expect_reply(&PA, id, "a", SAGA__ACTION__CONFIRM, SAGA__OUTCOME__OK, NULL);
    expect_reply(&PB, id, "b", SAGA__ACTION__CONFIRM, SAGA__OUTCOME__OK, NULL);
    wait_status(id, "COMPLETED");
    assert_true(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1 AND kind = 'timeout'", id) >= 1);
}

static void test_exhausted_reserve_compensates_unknown_outcome(void **state)
{
    (void)state;
    char name[64], id[37];
    apply_spec(name, sizeof name, "exhaust", 300, 2, false);
    start(name, "{\"n\": 3}", NULL, id);
    expect_reply(&PA, id, "a", SAGA__ACTION__RESERVE, SAGA__OUTCOME__OK, "{\"rid\": \"R-4\"}");
    /* b never answers: two attempts, then its outcome is unknown. */
    Saga__Command *b1 = expect(&PB, id, "b", SAGA__ACTION__RESERVE);
    Saga__Command *b2 = expect(&PB, id, "b", SAGA__ACTION__RESERVE);
    assert_int_equal(b2->attempt, 2);
    saga__command__free_unpacked(b1, NULL);
    saga__command__free_unpacked(b2, NULL);
    /* b is compensated (it may have happened), then a. */
    Saga__Command *xb = expect(&PB, id, "b", SAGA__ACTION__COMPENSATE);
    cmd_none(&PA, id, 200);
    reply(xb, SAGA__OUTCOME__OK, NULL);
    saga__command__free_unpacked(xb, NULL);
    expect_reply(&PA, id, "a", SAGA__ACTION__COMPENSATE, SAGA__OUTCOME__OK, NULL);
    wait_status(id, "COMPENSATED");
    assert_int_equal(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1 AND kind = 'exhausted'", id), 1);
}

static void test_duplicate_and_stale_replies_are_ignored(void **state)
{
    (void)state;
    char name[64], id[37];
    apply_spec(name, sizeof name, "dup", 10000, 3, false);
    start(name, "{\"n\": 4}", NULL, id);
    Saga__Command *a = expect(&PA, id, "a", SAGA__ACTION__RESERVE);
    reply_as(a, SAGA__ACTION__RESERVE, 5, SAGA__OUTCOME__OK, NULL);      /* stale: no attempt 5 */
    reply(a, SAGA__OUTCOME__OK, "{\"rid\": \"R-5\"}");
    reply(a, SAGA__OUTCOME__OK, "{\"rid\": \"R-5\"}");                  /* duplicate */
    reply_as(a, SAGA__ACTION__COMPENSATE, 1, SAGA__OUTCOME__OK, NULL);   /* wrong action */
    saga__command__free_unpacked(a, NULL);
    Saga__Command *b = expect(&PB, id, "b", SAGA__ACTION__RESERVE);
    assert_int_equal(b->attempt, 1);
    reply(b, SAGA__OUTCOME__REJECTED, NULL);
    reply(b, SAGA__OUTCOME__OK, NULL);                                   /* late and contradictory */
    saga__command__free_unpacked(b, NULL);
    expect_reply(&PA, id, "a", SAGA__ACTION__COMPENSATE, SAGA__OUTCOME__OK, NULL);
    wait_status(id, "COMPENSATED");
    cmd_none(&PA, id, 200);
    assert_int_equal(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1 AND kind = 'ignored'", id), 4);
    assert_int_equal(q_long("SELECT count(*) FROM saga_history WHERE saga_id = $1 AND kind = 'reply'", id), 7);
}

static void test_parallel_reserves_are_dispatched_together(void **state)
{
    (void)state;
    char name[64], id[37];
    apply_spec(name, sizeof name, "par", 10000, 3, true);
    start(name, "{\"n\": 5}", NULL, id);
    /* Both roots are sent before either is answered. */
    Saga__Command *a = expect(&PA, id, "a", SAGA__ACTION__RESERVE);
    Saga__Command *b = expect(&PB, id, "b", SAGA__ACTION__RESERVE);
    cmd_none(&PC, id, 200); /* c waits for b */
    reply(b, SAGA__OUTCOME__OK, NULL);
    expect_reply(&PC, id, "c", SAGA__ACTION__RESERVE, SAGA__OUTCOME__OK, NULL);
    reply(a, SAGA__OUTCOME__OK, "{\"rid\": \"R-6\"}");
    saga__command__free_unpacked(a, NULL);
    saga__command__free_unpacked(b, NULL);
    expect_reply(&PA, id, "a", SAGA__ACTION__CONFIRM, SAGA__OUTCOME__OK, NULL);
    expect_reply(&PB, id, "b", SAGA__ACTION__CONFIRM, SAGA__OUTCOME__OK, NULL);
    wait_status(id, "COMPLETED");
}

static void test_start_in_rolled_back_transaction_leaves_nothing(void **state)
{
    (void)state;
    char name[64], id[37];
    apply_spec(name, sizeof name, "rollback", 10000, 3, false);
    PGresult *r = PQexec(db, "BEGIN");
    PQclear(r);
    start(name, "{\"n\": 6}", "rollback-key", id);
    r = PQexec(db, "ROLLBACK");
    PQclear(r);
    assert_int_equal(q_long("SELECT count(*) FROM sagas WHERE id = $1", id), 0);
    cmd_none(&PA, id, 500);
}

static void test_invalid_input_is_refused_and_stores_nothing(void **state)
{
    (void)state;
    char name[64];
    apply_spec(name, sizeof name, "badinput", 10000, 3, false);
    long before = q_long("SELECT count(*) FROM sagas", NULL);
    saga_start_req req = {.name = name, .input_json = "{\"n\": \"seven\"}"};
    saga_start_result res;
    saga_error err;
    assert_int_equal(saga_start(db, &req, &res, &err), SAGA_EINVAL);
    assert_non_null(strstr(err.msg, "input.n"));
    req.input_json = "{\"n\": 1, \"extra\": true}";
    assert_int_equal(saga_start(db, &req, &res, &err), SAGA_EINVAL);
    assert_non_null(strstr(err.msg, "extra"));
    req.input_json = "{\"n\": 1, \"x\": \"'); DROP TABLE sagas; --\"}";
    assert_int_equal(saga_start(db, &req, &res, &err), SAGA_EINVAL);
    req.name = "no_such_saga";
    assert_int_equal(saga_start(db, &req, &res, &err), SAGA_ENOTFOUND);
    assert_int_equal(q_long("SELECT count(*) FROM sagas", NULL), before);
}

static void test_same_idempotency_key_starts_one_saga(void **state)
{
    (void)state;
    char name[64], id1[37], id2[37], key[64];
    apply_spec(name, sizeof name, "idem", 10000, 3, false);
    snprintf(key, sizeof key, "order-%d", run_id);
    start(name, "{\"n\": 8}", key, id1);
    start(name, "{\"n\": 8}", key, id2);
    assert_string_equal(id1, id2);
    const char *p[1] = {key};
    PGresult *r = PQexecParams(db, "SELECT count(*) FROM sagas WHERE idempotency_key = $1",
                               1, NULL, p, NULL, NULL, 0);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    /* Through Kafka the same key also maps to the same saga. */
    Saga__StartSaga s = SAGA__START_SAGA__INIT;
    s.name = name;
    s.input.data = (uint8_t *)"{\"n\": 8}";
    s.input.len = strlen((char *)s.input.data);
    s.idempotency_key = key;
    uint8_t buf[512];
    size_t len = saga__start_saga__pack(&s, buf);
    send_raw("saga.start", key, buf, len);
    expect_reply(&PA, id1, "a", SAGA__ACTION__RESERVE, SAGA__OUTCOME__REJECTED, NULL);
    wait_status(id1, "COMPENSATED");
    assert_int_equal(q_long("SELECT count(*) FROM sagas WHERE def_name = $1", name), 1);
}

/* Sends a StartSaga for name@version (0 = latest) with key. */
static void send_start(const char *name, int version, const char *key, const char *tp)
{
    Saga__StartSaga s = SAGA__START_SAGA__INIT;
    s.name = (char *)name;
    s.version = version;
    s.input.data = (uint8_t *)"{\"n\": 9}";
    s.input.len = strlen((char *)s.input.data);
    s.idempotency_key = (char *)key;
    s.traceparent = (char *)tp;
    uint8_t buf[512];
    size_t len = saga__start_saga__pack(&s, buf);
    send_raw("saga.start", key, buf, len);
}

/* Waits for the saga started with key; its id, definition version and
 * traceparent. */
static void started(const char *key, char id[64], int *version, char tp[64])
{
    *id = '\0';
    int64_t end = itest_now_ms() + 15000;
    while (!*id && itest_now_ms() < end) {
        const char *p[1] = {key};
        PGresult *r = PQexecParams(db, "SELECT id, def_version, traceparent FROM sagas"
                                       " WHERE idempotency_key = $1",
                                   1, NULL, p, NULL, NULL, 0);
        if (PQntuples(r) == 1) {
            snprintf(id, 64, "%s", PQgetvalue(r, 0, 0));
            *version = atoi(PQgetvalue(r, 0, 1));
            snprintf(tp, 64, "%s", PQgetvalue(r, 0, 2));
        }
        PQclear(r);
        if (!*id)
            usleep(20000);
    }
    assert_true(*id);
}

static void test_start_through_kafka_runs_the_saga(void **state)
{
    (void)state;
    char name[64], key[64], id[64], tp[64];
    int version = 0;
    const char *trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    apply_spec(name, sizeof name, "kstart", 10000, 3, false);
    snprintf(key, sizeof key, "kafka-%d", run_id);
    send_start(name, 0, key, trace);
    started(key, id, &version, tp);
    assert_string_equal(tp, trace);
    assert_int_equal(version, 1);
    Saga__Command *c = expect(&PA, id, "a", SAGA__ACTION__RESERVE);
    /* Same trace, new span. */
    assert_memory_equal(c->traceparent, trace, 36);
    reply(c, SAGA__OUTCOME__REJECTED, NULL);
    saga__command__free_unpacked(c, NULL);
    wait_status(id, "COMPENSATED");

    /* sagad caches parsed definitions; a version applied meanwhile is still
     * what the next start without a version gets, and a pinned one stays. */
    apply_spec_version(name, sizeof name, "kstart", 10000, 3, false, 2);
    snprintf(key, sizeof key, "kafka-%d-latest", run_id);
    send_start(name, 0, key, trace);
    started(key, id, &version, tp);
    assert_int_equal(version, 2);
    snprintf(key, sizeof key, "kafka-%d-pinned", run_id);
    send_start(name, 1, key, trace);
    started(key, id, &version, tp);
    assert_int_equal(version, 1);
}

static bool dlq_has(void *arg)
{
    return q_long("SELECT 1", NULL) == 1 && *(int *)arg > 0;
}

static void test_poison_messages_are_dead_lettered(void **state)
{
    (void)state;
    /* Read saga.dlq from its end, then send garbage to both input topics. */
    char errstr[256];
    rd_kafka_conf_t *c = kconf();
    char group[64];
    snprintf(group, sizeof group, "it-dlq-%d", run_id);
    rd_kafka_conf_set(c, "group.id", group, errstr, sizeof errstr);
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof errstr);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(cons, "saga.dlq", NULL);
    assert_int_equal(rd_kafka_metadata(cons, 0, rkt, &md, 10000), 0);
    int parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++) {
        int64_t lo = 0, hi = 0;
        assert_int_equal(rd_kafka_query_watermark_offsets(cons, "saga.dlq", p, &lo, &hi, 10000), 0);
        rd_kafka_topic_partition_list_add(l, "saga.dlq", p)->offset = hi;
    }
    rd_kafka_assign(cons, l);
    rd_kafka_topic_partition_list_destroy(l);

    send_raw("saga.replies", "junk", "\xff\xfe garbage \x01", 12);
    Saga__Reply r = SAGA__REPLY__INIT;
    r.saga_id = "00000000-0000-4000-8000-000000000000";
    r.step = "a";
    r.action = SAGA__ACTION__RESERVE;
    r.attempt = 1;
    r.outcome = SAGA__OUTCOME__OK;
    uint8_t buf[256];
    size_t len = saga__reply__pack(&r, buf);
    send_raw("saga.replies", r.saga_id, buf, len); /* unknown saga */
    r.attempt = -3;
    len = saga__reply__pack(&r, buf);
    send_raw("saga.replies", r.saga_id, buf, len); /* negative attempt */
    send_raw("saga.start", "junk", "\x0a\xff\xff\xff", 4);

    int found = 0;
    bool reasons[4] = {0};
    int64_t end = itest_now_ms() + 20000;
    while (!(reasons[0] && reasons[1] && reasons[2] && reasons[3]) && itest_now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
        if (!m)
            continue;
        if (!m->err) {
            rd_kafka_headers_t *h = NULL;
            const void *v;
            size_t vlen;
            if (rd_kafka_message_headers(m, &h) == 0 &&
                rd_kafka_header_get_last(h, "dlq.reason", &v, &vlen) == 0) {
                char reason[256];
                snprintf(reason, sizeof reason, "%.*s", (int)vlen, (const char *)v);
                fprintf(stderr, "dlq: %s\n", reason);
                if (strstr(reason, "undecodable Reply"))
                    reasons[0] = true;
                const void *cv;
                size_t cvlen;
                if (strstr(reason, "no saga") &&
                    rd_kafka_header_get_last(h, "dlq.class", &cv, &cvlen) == 0 &&
                    cvlen == strlen("unknown saga") && memcmp(cv, "unknown saga", cvlen) == 0)
                    reasons[1] = true;
                if (strstr(reason, "attempt"))
                    reasons[2] = true;
                if (strstr(reason, "StartSaga"))
                    reasons[3] = true;
                found++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    assert_true(dlq_has(&found));
    assert_true(reasons[0] && reasons[1] && reasons[2] && reasons[3]);
    /* And sagad still serves. */
    char name[64], id[37];
    apply_spec(name, sizeof name, "afterpoison", 10000, 3, false);
    start(name, "{\"n\": 10}", NULL, id);
    expect_reply(&PA, id, "a", SAGA__ACTION__RESERVE, SAGA__OUTCOME__REJECTED, NULL);
    wait_status(id, "COMPENSATED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path_confirms_with_reserve_results),
        cmocka_unit_test(test_rejected_reserve_compensates_in_reverse_order),
        cmocka_unit_test(test_timeout_retries_then_succeeds),
        cmocka_unit_test(test_exhausted_reserve_compensates_unknown_outcome),
        cmocka_unit_test(test_duplicate_and_stale_replies_are_ignored),
        cmocka_unit_test(test_parallel_reserves_are_dispatched_together),
        cmocka_unit_test(test_start_in_rolled_back_transaction_leaves_nothing),
        cmocka_unit_test(test_invalid_input_is_refused_and_stores_nothing),
        cmocka_unit_test(test_same_idempotency_key_starts_one_saga),
        cmocka_unit_test(test_start_through_kafka_runs_the_saga),
        cmocka_unit_test(test_poison_messages_are_dead_lettered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
