/*
 * test_buf.c - engine/core/buf.c: appends of every kind keep the text
 * whole and NUL-terminated across growth, and taking leaves the buffer
 * reusable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_appends(void **state)
{
    (void)state;
    saga_buf b = {0};
    saga_buf_puts(&b, "SELECT ");
    saga_buf_putn(&b, "id, name", 2);
    saga_buf_printf(&b, " FROM t WHERE x = $%d", 3);
    assert_string_equal(b.p, "SELECT id FROM t WHERE x = $3");
    assert_int_equal(b.len, strlen(b.p));
    char *s = saga_buf_take(&b);
    assert_string_equal(s, "SELECT id FROM t WHERE x = $3");
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    free(s);
}

static void test_growth(void **state)
{
    (void)state;
    saga_buf b = {0};
    char want[10001];
    for (int i = 0; i < 10000; i++) {
        saga_buf_printf(&b, "%c", 'a' + i % 26);
        want[i] = (char)('a' + i % 26);
    }
    want[10000] = '\0';
    assert_false(b.oom);
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    assert_string_equal(b.p, want);
    saga_buf_free(&b);
    assert_null(b.p);
}

static void test_empty_take(void **state)
{
    (void)state;
    saga_buf b = {0};
    char *s = saga_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

static void test_oom_is_sticky(void **state)
{
    (void)state;
    saga_buf b = {0};
    saga_buf_puts(&b, "partial");
    b.oom = true; /* as after a failed realloc */
    saga_buf_puts(&b, " more");
    assert_string_equal(b.p, "partial");
    assert_null(saga_buf_take(&b));
    assert_null(b.p);
    assert_false(b.oom);
}

/* str reads without taking; trunc undoes appends back to a mark (how the
 * spec validator leaves a JSON path) and ignores marks past the end. */
static void test_str_and_trunc(void **state)
{
    (void)state;
    saga_buf b = {0};
    assert_string_equal(saga_buf_str(&b), "");
    saga_buf_trunc(&b, 0);
    saga_buf_puts(&b, "steps[0]");
    size_t mark = b.len;
    saga_buf_puts(&b, ".after[2]");
    assert_string_equal(saga_buf_str(&b), "steps[0].after[2]");
    saga_buf_trunc(&b, mark);
    assert_string_equal(saga_buf_str(&b), "steps[0]");
    saga_buf_trunc(&b, 100);
    assert_string_equal(saga_buf_str(&b), "steps[0]");
    saga_buf_puts(&b, ".name");
    assert_string_equal(saga_buf_str(&b), "steps[0].name");
    saga_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_empty_take),
        cmocka_unit_test(test_oom_is_sticky),
        cmocka_unit_test(test_str_and_trunc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
