/*
 * test_rowcache.c - engine/rowcache.c: a remembered saga comes back as it
 * was put (state, steps, results, writer), marked remembered and with
 * loaded equal to its state; a put replaces; a full table forgets the
 * least recently used; entries share JSON values by reference and outlive
 * the rows they were made from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rowcache.h"

static void make_row(saga_row *row, const char *id, int n_steps, int64_t writer)
{
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "%s", id);
    snprintf(row->def_name, sizeof row->def_name, "order_checkout");
    row->def_version = 3;
    row->writer = writer;
    row->input = json_pack("{s:s}", "sku", id);
    row->st.status = SAGA_RUNNING;
    row->st.wake_ms = 1234;
    row->st.n_steps = (size_t)n_steps;
    for (int i = 0; i < n_steps; i++) {
        row->st.steps[i].status = SAGA_STEP_RESERVED;
        row->st.steps[i].attempt = i + 1;
        row->results[i] = json_pack("{s:i}", "step", i);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    saga_rowcache *c = saga_rowcache_new(4);
    assert_non_null(c);
    saga_row in, out;
    make_row(&in, "aaaaaaaa-0000-4000-8000-000000000001", 3, 42);
    saga_rowcache_put(c, &in);
    saga_row_clear(&in); /* the entry keeps its own references */
    assert_false(saga_rowcache_get(c, "aaaaaaaa-0000-4000-8000-000000000002", &out));
    assert_true(saga_rowcache_get(c, "aaaaaaaa-0000-4000-8000-000000000001", &out));
    assert_true(out.remembered);
    assert_int_equal(out.writer, 42);
    assert_int_equal(out.def_version, 3);
    assert_string_equal(out.def_name, "order_checkout");
    assert_int_equal(out.st.n_steps, 3);
    assert_int_equal(out.st.wake_ms, 1234);
    assert_int_equal(out.st.steps[2].attempt, 3);
    assert_int_equal(out.st.steps[3].attempt, 0); /* beyond n_steps: zero */
    assert_memory_equal(&out.loaded, &out.st, sizeof out.st);
    assert_string_equal(json_string_value(json_object_get(out.input, "sku")),
                        "aaaaaaaa-0000-4000-8000-000000000001");
    assert_int_equal(json_integer_value(json_object_get(out.results[1], "step")), 1);
    saga_row_clear(&out);
    assert_int_equal(saga_rowcache_count(c), 1);
    saga_rowcache_free(c);
}

static void test_put_replaces_and_drop_forgets(void **state)
{
    (void)state;
    saga_rowcache *c = saga_rowcache_new(4);
    saga_row r, out;
    make_row(&r, "aaaaaaaa-0000-4000-8000-000000000001", 2, 1);
    saga_rowcache_put(c, &r);
    r.st.status = SAGA_CONFIRMING;
    r.writer = 2;
    saga_rowcache_put(c, &r);
    saga_row_clear(&r);
    assert_int_equal(saga_rowcache_count(c), 1);
    assert_true(saga_rowcache_get(c, "aaaaaaaa-0000-4000-8000-000000000001", &out));
    assert_int_equal(out.st.status, SAGA_CONFIRMING);
    assert_int_equal(out.writer, 2);
    saga_row_clear(&out);
    saga_rowcache_drop(c, "aaaaaaaa-0000-4000-8000-000000000001");
    saga_rowcache_drop(c, "aaaaaaaa-0000-4000-8000-000000000009"); /* absent: nothing */
    assert_false(saga_rowcache_get(c, "aaaaaaaa-0000-4000-8000-000000000001", &out));
    assert_int_equal(saga_rowcache_count(c), 0);
    saga_rowcache_free(c);
}

static void test_full_table_forgets_least_recently_used(void **state)
{
    (void)state;
    saga_rowcache *c = saga_rowcache_new(2);
    saga_row r, out;
    make_row(&r, "aaaaaaaa-0000-4000-8000-000000000001", 1, 1);
    saga_rowcache_put(c, &r);
    saga_row_clear(&r);
    make_row(&r, "aaaaaaaa-0000-4000-8000-000000000002", 1, 1);
    saga_rowcache_put(c, &r);
    saga_row_clear(&r);
    /* Using the first makes the second the least recently used. */
    assert_true(saga_rowcache_get(c, "aaaaaaaa-0000-4000-8000-000000000001", &out));
    saga_row_clear(&out);
    make_row(&r, "aaaaaaaa-0000-4000-8000-000000000003", 1, 1);
    saga_rowcache_put(c, &r);
    saga_row_clear(&r);
    assert_int_equal(saga_rowcache_count(c), 2);
    assert_false(saga_rowcache_get(c, "aaaaaaaa-0000-4000-8000-000000000002", &out));
    assert_true(saga_rowcache_get(c, "aaaaaaaa-0000-4000-8000-000000000001", &out));
    saga_row_clear(&out);
    assert_true(saga_rowcache_get(c, "aaaaaaaa-0000-4000-8000-000000000003", &out));
    saga_row_clear(&out);
    saga_rowcache_free(c);
}

static void test_many_entries(void **state)
{
    (void)state;
    saga_rowcache *c = saga_rowcache_new(1000);
    saga_row r, out;
    char id[SAGA_ID_LEN + 1];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "aaaaaaaa-0000-4000-8000-%012d", i);
        make_row(&r, id, 4, i);
        saga_rowcache_put(c, &r);
        saga_row_clear(&r);
    }
    assert_int_equal(saga_rowcache_count(c), 1000);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "aaaaaaaa-0000-4000-8000-%012d", i);
        bool hit = saga_rowcache_get(c, id, &out);
        assert_int_equal(hit, i >= 2000);
        if (hit) {
            assert_int_equal(out.writer, i);
            saga_row_clear(&out);
        }
    }
    saga_rowcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_put_replaces_and_drop_forgets),
        cmocka_unit_test(test_full_table_forgets_least_recently_used),
        cmocka_unit_test(test_many_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
