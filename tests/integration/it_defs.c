/*
 * it_defs.c - saga definitions in the real PostgreSQL (engine/defs.c):
 * apply creates, re-apply is a no-op, a changed spec under an existing
 * version is refused with the differences, the highest version is the
 * default, and list / fetch / load agree with what was applied.
 *
 * Names carry the process id so reruns and parallel runs never collide; the
 * rows are deleted at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "defs.h"
#include "itest.h"
#include "migrate.h"
#include "schema.h"
#include "sha256.h"

static PGconn *conn;
static char name[64];
static char other[64];

/* A two-step spec named `n` at `version`; `timeout` is step 2's timeout. */
static saga_spec *make_spec(const char *n, int version, int timeout,
                            const char *extra_step)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"name\": \"%s\", \"version\": %d,"
             " \"input\": {\"sku\": {\"type\": \"string\"}},"
             " \"steps\": ["
             "  {\"name\": \"reserve_inventory\", \"participant\": \"inventory\","
             "   \"reserve\": {\"command\": \"reserve_stock\","
             "                 \"payload\": {\"sku\": \"${input.sku}\"}},"
             "   \"compensate\": {\"command\": \"release_stock\"}},"
             "  {\"name\": \"reserve_payment\", \"participant\": \"payment\","
             "   \"timeout_ms\": %d,"
             "   \"reserve\": {\"command\": \"hold_funds\"},"
             "   \"compensate\": {\"command\": \"release_funds\"}}%s"
             " ]}",
             n, version, timeout, extra_step);
    saga_spec *spec;
    saga_error err;
    int rc = saga_spec_parse("it.json", text, strlen(text), &spec, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    return spec;
}

static void delete_rows(void)
{
    const char *params[2] = {name, other};
    PGresult *r = PQexecParams(conn,
                               "DELETE FROM saga_definitions"
                               " WHERE name IN ($1, $2)",
                               2, NULL, params, NULL, NULL, 0);
    PQclear(r);
}

static int setup(void **state)
{
    (void)state;
    saga_error err;
    conn = itest_pg();
    if (saga_migrate_core(conn, NULL, &err) != 0) {
        fprintf(stderr, "migrate: %s\n", err.msg);
        return -1;
    }
    snprintf(name, sizeof name, "it_defs_%d", (int)getpid());
    snprintf(other, sizeof other, "it_defs_other_%d", (int)getpid());
    delete_rows();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    delete_rows();
    PQfinish(conn);
    return 0;
}

static void test_apply_create_then_unchanged(void **state)
{
    (void)state;
    saga_spec *spec = make_spec(name, 1, 5000, "");
    saga_defs_apply_result res;
    saga_error err;

    assert_int_equal(saga_defs_apply(conn, spec, &res, &err), 0);
    assert_int_equal(res.outcome, SAGA_DEFS_CREATED);
    assert_null(res.diff);

    assert_int_equal(saga_defs_apply(conn, spec, &res, &err), 0);
    assert_int_equal(res.outcome, SAGA_DEFS_UNCHANGED);
    assert_null(res.diff);

    /* the same spec written differently is the same definition */
    saga_spec *again = make_spec(name, 1, 5000, "");
    assert_int_equal(saga_defs_apply(conn, again, &res, &err), 0);
    assert_int_equal(res.outcome, SAGA_DEFS_UNCHANGED);

    saga_def_row row;
    assert_int_equal(saga_defs_fetch(conn, name, 1, &row, &err), 0);
    assert_string_equal(row.canonical, spec->canonical);
    assert_string_equal(row.sha256, spec->sha256);
    assert_int_equal(row.version, 1);
    assert_int_equal(strlen(row.created_at), 20);
    assert_int_equal(row.created_at[19], 'Z');
    saga_def_row_free(&row);

    saga_spec_free(spec);
    saga_spec_free(again);
}

static void test_changed_version_refused(void **state)
{
    (void)state;
    saga_spec *changed = make_spec(
        name, 1, 3000,
        ", {\"name\": \"ship\", \"participant\": \"shipping\","
        " \"reserve\": {\"command\": \"book\"},"
        " \"compensate\": {\"command\": \"cancel\"}}");
    saga_defs_apply_result res;
    saga_error err;

    assert_int_equal(saga_defs_apply(conn, changed, &res, &err),
                     SAGA_ECONFLICT);
    assert_non_null(strstr(err.msg, "already exists with different content"));
    assert_non_null(strstr(err.msg, "steps[1].timeout_ms: 5000 -> 3000"));
    assert_non_null(strstr(err.msg, "steps[2]: (absent) -> {"));
    assert_non_null(strstr(err.hint, "new \"version\""));
    assert_non_null(res.diff);
    assert_non_null(strstr(res.diff, "steps[1].timeout_ms: 5000 -> 3000\n"));
    saga_defs_apply_result_free(&res);
    assert_null(res.diff);

    /* the stored version is untouched */
    saga_spec *loaded;
    assert_int_equal(saga_defs_load(conn, name, 1, &loaded, &err), 0);
    assert_int_equal(loaded->steps[1].timeout_ms, 5000);
    assert_int_equal(loaded->n_steps, 2);
    saga_spec_free(loaded);
    saga_spec_free(changed);
}

static void test_latest_version_is_default(void **state)
{
    (void)state;
    saga_spec *v2 = make_spec(name, 2, 3000, "");
    saga_defs_apply_result res;
    saga_error err;
    saga_spec *s;

    assert_int_equal(saga_defs_apply(conn, v2, &res, &err), 0);
    assert_int_equal(res.outcome, SAGA_DEFS_CREATED);

    assert_int_equal(saga_defs_load(conn, name, 0, &s, &err), 0);
    assert_int_equal(s->version, 2);
    assert_int_equal(s->steps[1].timeout_ms, 3000);
    assert_string_equal(s->sha256, v2->sha256);
    assert_string_equal(s->steps[0].topic, "saga.inventory.commands");
    saga_spec_free(s);

    assert_int_equal(saga_defs_load(conn, name, 1, &s, &err), 0);
    assert_int_equal(s->version, 1);
    assert_int_equal(s->steps[1].timeout_ms, 5000);
    saga_spec_free(s);
    saga_spec_free(v2);
}

static void test_not_found(void **state)
{
    (void)state;
    saga_spec *s;
    saga_error err;
    assert_int_equal(saga_defs_load(conn, name, 9, &s, &err), SAGA_ENOTFOUND);
    assert_null(s);
    assert_non_null(strstr(err.msg, "has no version 9"));
    assert_string_equal(err.hint, "the latest version is 2");

    assert_int_equal(saga_defs_load(conn, other, 0, &s, &err),
                     SAGA_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no definition named"));
}

static void test_list(void **state)
{
    (void)state;
    saga_spec *o = make_spec(other, 4, 100, "");
    saga_defs_apply_result res;
    saga_error err;
    saga_def_list list;

    assert_int_equal(saga_defs_apply(conn, o, &res, &err), 0);
    assert_int_equal(saga_defs_list(conn, &list, &err), 0);
    const saga_def_summary *mine = NULL, *theirs = NULL;
    for (size_t i = 0; i < list.n; i++) {
        if (strcmp(list.items[i].name, name) == 0)
            mine = &list.items[i];
        if (strcmp(list.items[i].name, other) == 0)
            theirs = &list.items[i];
        if (i > 0)
            assert_true(strcmp(list.items[i - 1].name, list.items[i].name) < 0);
    }
    assert_non_null(mine);
    assert_int_equal(mine->n_versions, 2);
    assert_int_equal(mine->versions[0], 1);
    assert_int_equal(mine->versions[1], 2);
    assert_int_equal(mine->latest, 2);
    assert_int_equal(strlen(mine->created_at), 20);
    assert_non_null(theirs);
    assert_int_equal(theirs->n_versions, 1);
    assert_int_equal(theirs->latest, 4);
    saga_def_list_free(&list);
    saga_def_list_free(&list);
    saga_spec_free(o);
}

static void test_corrupt_row_detected(void **state)
{
    (void)state;
    const char *params[1] = {other};
    PGresult *r = PQexecParams(conn,
                               "UPDATE saga_definitions SET canonical ="
                               " replace(canonical, '100', '200')"
                               " WHERE name = $1",
                               1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    saga_spec *s;
    saga_error err;
    assert_int_equal(saga_defs_load(conn, other, 0, &s, &err), SAGA_EDB);
    assert_non_null(strstr(err.msg, "is corrupt"));
}

static void test_parse_ref(void **state)
{
    (void)state;
    char n[64];
    int v;
    saga_error err;
    assert_int_equal(saga_defs_parse_ref("order_checkout", n, sizeof n, &v,
                                         &err),
                     0);
    assert_string_equal(n, "order_checkout");
    assert_int_equal(v, 0);
    assert_int_equal(saga_defs_parse_ref("order_checkout@12", n, sizeof n, &v,
                                         &err),
                     0);
    assert_int_equal(v, 12);
    assert_int_equal(saga_defs_parse_ref("x@", n, sizeof n, &v, &err),
                     SAGA_EINVAL);
    assert_int_equal(saga_defs_parse_ref("x@0", n, sizeof n, &v, &err),
                     SAGA_EINVAL);
    assert_int_equal(saga_defs_parse_ref("x@1a", n, sizeof n, &v, &err),
                     SAGA_EINVAL);
    assert_int_equal(saga_defs_parse_ref("x@99999999999", n, sizeof n, &v,
                                         &err),
                     SAGA_EINVAL);
    assert_int_equal(saga_defs_parse_ref("@3", n, sizeof n, &v, &err),
                     SAGA_EINVAL);
}

static void test_diff(void **state)
{
    (void)state;
    char *d = saga_defs_diff("{\"a\":1,\"b\":[1,2],\"c\":{\"x\":\"y\"},"
                             "\"odd key\":true}",
                             "{\"a\":2,\"b\":[1],\"c\":{\"x\":\"y\",\"z\":null}}",
                             10);
    assert_non_null(d);
    assert_string_equal(d, "a: 1 -> 2\n"
                           "b[1]: 2 -> (absent)\n"
                           "c.z: (absent) -> null\n"
                           "[\"odd key\"]: true -> (absent)");
    free(d);
    d = saga_defs_diff("{\"a\":1,\"b\":2,\"c\":3}", "{}", 1);
    assert_string_equal(d, "a: 1 -> (absent)\n... and 2 more");
    free(d);
    d = saga_defs_diff("[1]", "[1]", 5);
    assert_string_equal(d, "");
    free(d);
    assert_null(saga_defs_diff("{", "{}", 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_create_then_unchanged),
        cmocka_unit_test(test_changed_version_refused),
        cmocka_unit_test(test_latest_version_is_default),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_corrupt_row_detected),
        cmocka_unit_test(test_parse_ref),
        cmocka_unit_test(test_diff),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
