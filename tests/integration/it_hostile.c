/*
 * it_hostile.c - races and bad input at the C API, on the real PostgreSQL,
 * reproduced deterministically.
 *
 * The chaos suite found that sagad could abort with
 *   machine.c: apply_reserve_reply: Assertion `status == SAGA_RUNNING'
 * when two coordinators touched one saga at once (a reply racing its own
 * timeout, taken by another sagad's timer). The cause is the load: it locks
 * the saga row with `FOR UPDATE OF s` in a statement that joins the steps,
 * and after waiting for the lock PostgreSQL re-reads the locked row but not
 * the joined ones, so the loader sees the new saga status next to the steps
 * as they were before the other transaction: a saga COMPENSATING with a
 * RESERVE still in flight. Whatever the machine decides from that mix is
 * then written back over the other transaction's steps. Timing made it rare
 * in the chaos runs; here a second connection holds the lock while the load
 * waits, so the case happens every time.
 *
 * Also: a start refused for its input leaves the caller's transaction
 * usable and stores nothing (start.h), whatever the refusal; and deferred
 * statements (saga_pg_defer, the pipelined turn of sagad) report their
 * errors through the statement that waits, commit only what the caller
 * commits, and leave the connection usable whatever failed.
 *
 * Runs in a database of its own, dropped at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>

#include <cmocka.h>

#include "defs.h"
#include "itest.h"
#include "migrate.h"
#include "schema.h"
#include "spec.h"
#include "start.h"
#include "store.h"

static const char SPEC[] =
    "{\"name\": \"race\", \"version\": 1,"
    " \"input\": {\"sku\": {\"type\": \"string\"}, \"qty\": {\"type\": \"integer\"}},"
    " \"steps\": ["
    "  {\"name\": \"stock\", \"participant\": \"inventory\","
    "   \"reserve\": {\"command\": \"r\"}, \"confirm\": {\"command\": \"c\"},"
    "   \"compensate\": {\"command\": \"u\"}},"
    "  {\"name\": \"funds\", \"participant\": \"payment\","
    "   \"reserve\": {\"command\": \"r\"}, \"confirm\": {\"command\": \"c\"},"
    "   \"compensate\": {\"command\": \"u\"}}]}";

static char dbname[64];
static char dsn[1024];

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static void exec_params_ok(PGconn *c, const char *sql, const char *p1)
{
    const char *p[1] = {p1};
    PGresult *r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static PGconn *connect_test_db(void)
{
    saga_error err;
    PGconn *c = saga_pg_connect(dsn, NULL, &err);
    if (!c)
        fail_msg("%s", err.msg);
    return c;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dbname, sizeof dbname, "saga_it_hostile_%d", (int)getpid());
    PGconn *admin = itest_pg();
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
    exec_ok(admin, sql);
    PQfinish(admin);
    snprintf(dsn, sizeof dsn, "%s dbname=%s", itest_env("SAGA_PG_DSN"), dbname);

    PGconn *c = connect_test_db();
    saga_error err;
    int applied = 0;
    assert_int_equal(saga_migrate_core(c, &applied, &err), 0);
    saga_spec *spec = NULL;
    assert_int_equal(saga_spec_parse("race.json", SPEC, strlen(SPEC), &spec, NULL, &err), 0);
    saga_defs_apply_result res = {0};
    assert_int_equal(saga_defs_apply(c, spec, &res, &err), 0);
    saga_defs_apply_result_free(&res);
    saga_spec_free(spec);
    PQfinish(c);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PGconn *admin = itest_pg();
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    exec_ok(admin, sql);
    PQfinish(admin);
    return 0;
}

static void start_saga(PGconn *c, const char *key, char id[SAGA_ID_LEN + 1])
{
    saga_start_req req = {.name = "race", .input_json = "{\"sku\": \"A\", \"qty\": 1}",
                          .idempotency_key = key};
    saga_start_result res;
    saga_error err;
    if (saga_start(c, &req, &res, &err))
        fail_msg("saga_start: %s", err.msg);
    memcpy(id, res.id, sizeof res.id);
}

/* --- the load racing a concurrent commit ----------------------------------- */

typedef struct loader {
    PGconn *conn;
    const char *id;
    saga_row *rows;
    size_t n_rows;
    int rc;
    saga_error err;
} loader;

static void *load_thread(void *arg)
{
    loader *l = arg;
    const char *ids[1] = {l->id};
    l->rc = saga_pg_begin(l->conn, &l->err);
    if (l->rc == 0)
        l->rc = saga_store_load(l->conn, ids, 1, &l->rows, &l->n_rows, &l->err);
    return NULL;
}

typedef struct waiting {
    PGconn *observer;
    int pid;
} waiting;

/* The loader's backend is blocked on a lock. */
static bool blocked(void *arg)
{
    waiting *w = arg;
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND wait_event_type = 'Lock'",
             w->pid);
    return itest_pg_long(w->observer, sql) == 1;
}

static void load_after_concurrent_commit_is_consistent(void **state)
{
    (void)state;
    PGconn *setup_conn = connect_test_db();
    char id[SAGA_ID_LEN + 1];
    start_saga(setup_conn, "race-1", id);

    /* Another coordinator holds the saga (as a timer claim does) and moves
     * it on: the saga to COMPENSATING, its steps to COMPENSATING with a
     * COMPENSATE in flight. */
    PGconn *other = connect_test_db();
    exec_ok(other, "BEGIN");
    exec_params_ok(other, "SELECT id FROM sagas WHERE id = $1 FOR UPDATE", id);
    exec_params_ok(other, "UPDATE sagas SET status = 'COMPENSATING' WHERE id = $1", id);
    exec_params_ok(other,
                   "UPDATE saga_steps SET status = 'COMPENSATING', action = 'COMPENSATE',"
                   " attempt = 1, compensate_attempts = 1,"
                   " deadline_at = now() + interval '1 minute' WHERE saga_id = $1",
                   id);

    loader l = {.conn = connect_test_db(), .id = id};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, load_thread, &l), 0);
    waiting w = {.observer = setup_conn, .pid = PQbackendPID(l.conn)};
    assert_true(itest_wait(blocked, &w, 10000));
    exec_ok(other, "COMMIT");
    assert_int_equal(pthread_join(t, NULL), 0);

    if (l.rc)
        fail_msg("saga_store_load: %s", l.err.msg);
    assert_int_equal(l.n_rows, 1);
    const saga_state *st = &l.rows[0].st;
    assert_int_equal(st->status, SAGA_COMPENSATING);
    for (size_t i = 0; i < st->n_steps; i++)
        if (st->steps[i].status != SAGA_STEP_COMPENSATING ||
            st->steps[i].action != SAGA_ACT_COMPENSATE)
            fail_msg("after waiting for the saga's lock, the load returned the saga as "
                     "%s (committed by the other transaction) but step %zu as %s with %s "
                     "in flight (as before it): a mix no transaction wrote",
                     saga_status_name(st->status), i,
                     saga_step_status_name(st->steps[i].status),
                     saga_action_name(st->steps[i].action));

    saga_pg_rollback(l.conn);
    for (size_t i = 0; i < l.n_rows; i++)
        saga_row_clear(&l.rows[i]);
    free(l.rows);
    PQfinish(l.conn);
    PQfinish(other);
    PQfinish(setup_conn);
}

/* --- refused starts inside the caller's transaction --------------------------- */

static void refused_start_leaves_transaction_usable(void **state)
{
    (void)state;
    PGconn *c = connect_test_db();
    exec_ok(c, "CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY)");
    char *huge = malloc(400 * 1024);
    assert_non_null(huge);
    int n = snprintf(huge, 64, "{\"sku\": \"");
    memset(huge + n, 'x', 300 * 1024);
    strcpy(huge + n + 300 * 1024, "\", \"qty\": 1}");
    const struct {
        const char *name, *input, *key;
        int want;
    } cases[] = {
        {"race", "{\"sku\": 7, \"qty\": 1}", "bad-type", SAGA_EINVAL},
        {"race", "{\"sku\": \"A\"}", "missing", SAGA_EINVAL},
        {"race", "{\"sku\": \"A\", \"qty\": 1, \"x\": 1}", "unknown-field", SAGA_EINVAL},
        {"race", "[1]", "not-object", SAGA_EINVAL},
        {"race", "{\"sku\": ", "not-json", SAGA_EINVAL},
        {"race", huge, "huge", SAGA_EINVAL},
        {"race'; DROP TABLE sagas; --", "{}", "sql-name", SAGA_ENOTFOUND},
        {"", "{}", "empty-name", SAGA_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        exec_ok(c, "BEGIN");
        exec_params_ok(c, "INSERT INTO orders VALUES ($1)", cases[i].key);
        saga_start_req req = {.name = cases[i].name, .input_json = cases[i].input,
                              .idempotency_key = cases[i].key};
        saga_start_result res;
        saga_error err;
        saga_error_clear(&err);
        int rc = saga_start(c, &req, &res, &err);
        /* An input over the size limit is a bad input: the limit is one of
         * the input's documented constraints (spec.h). */
        bool ok = rc == cases[i].want || (cases[i].want == SAGA_EINVAL && rc == SAGA_ELIMIT);
        if (!ok)
            fail_msg("start %s: returned %d (%s), wanted %d", cases[i].key, rc, err.msg,
                     cases[i].want);
        assert_true(err.msg[0] != '\0');
        assert_int_equal(PQtransactionStatus(c), PQTRANS_INTRANS);
        exec_ok(c, "COMMIT");
    }
    free(huge);
    assert_int_equal(itest_pg_long(c, "SELECT count(*) FROM orders"), 8);
    assert_int_equal(itest_pg_long(c, "SELECT count(*) FROM sagas WHERE idempotency_key IN"
                                      " ('bad-type', 'missing', 'unknown-field', 'not-object',"
                                      " 'not-json', 'huge', 'sql-name', 'empty-name')"),
                     0);
    assert_int_equal(itest_pg_long(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'sagas'"),
                     1);
    PQfinish(c);
}

/* --- deferred statements --------------------------------------------------------- */

static void deferred(PGconn *c, const char *sql, PGresult **keep)
{
    saga_error err;
    if (saga_pg_defer(c, sql, 0, NULL, keep, &err))
        fail_msg("defer %s: %s", sql, err.msg);
}

static void deferred_statements_fail_and_commit_as_one(void **state)
{
    (void)state;
    PGconn *c = connect_test_db();
    PGconn *observer = connect_test_db();
    exec_ok(c, "CREATE TABLE IF NOT EXISTS deferred_rows (id text PRIMARY KEY)");
    saga_error err;

    /* A failed deferred statement is what the waiting query reports; the
     * transaction is aborted, the pipeline over, the connection usable. */
    deferred(c, "BEGIN", NULL);
    deferred(c, "INSERT INTO deferred_rows VALUES ('lost')", NULL);
    deferred(c, "SELECT 1 / 0", NULL);
    PGresult *r = saga_pg_query(c, "SELECT 1", 0, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_non_null(strstr(PQresultErrorMessage(r), "division by zero"));
    PQclear(r);
    assert_int_equal(PQpipelineStatus(c), PQ_PIPELINE_OFF);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_INERROR);
    saga_pg_rollback(c);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);

    /* Statements and COMMIT together: all of it or, when one fails at
     * commit time, none of it, with the failure's own message. */
    PGresult *kept = NULL;
    deferred(c, "BEGIN", NULL);
    deferred(c, "INSERT INTO deferred_rows VALUES ('a') RETURNING id", &kept);
    deferred(c, "INSERT INTO deferred_rows VALUES ('b')", NULL);
    assert_int_equal(saga_pg_commit(c, &err), 0);
    assert_int_equal(PQresultStatus(kept), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(kept, 0, 0), "a");
    PQclear(kept);
    assert_int_equal(itest_pg_long(observer, "SELECT count(*) FROM deferred_rows"), 2);

    deferred(c, "BEGIN", NULL);
    deferred(c, "INSERT INTO deferred_rows VALUES ('c')", NULL);
    deferred(c, "INSERT INTO deferred_rows VALUES ('a')", NULL);
    saga_error_clear(&err);
    assert_int_not_equal(saga_pg_commit(c, &err), 0);
    assert_non_null(strstr(err.msg, "duplicate key"));
    saga_pg_rollback(c);
    assert_int_equal(itest_pg_long(observer, "SELECT count(*) FROM deferred_rows"), 2);

    /* Alone, outside a transaction, settled: committed on its own. */
    deferred(c, "INSERT INTO deferred_rows VALUES ('d')", NULL);
    assert_int_equal(saga_pg_settle(c, &err), 0);
    assert_int_equal(itest_pg_long(observer, "SELECT count(*) FROM deferred_rows"), 3);
    assert_int_equal(itest_pg_long(c, "SELECT count(*) FROM deferred_rows"), 3);

    PQfinish(observer);
    PQfinish(c);
}

int main(void)
{
    itest_env("SAGA_PG_DSN");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_after_concurrent_commit_is_consistent),
        cmocka_unit_test(refused_start_leaves_transaction_usable),
        cmocka_unit_test(deferred_statements_fail_and_commit_as_one),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
