/*
 * test_cli_table.c - aligned tables (engine/table.c): alignment, no
 * trailing blanks, UTF-8 widths, cutting only shrinkable columns to fit a
 * width, colour codes that never disturb alignment, control characters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

/* Prints t into a string (owned by the caller). */
static char *render(const saga_table *t, size_t width, bool header, bool color)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    saga_table_print(t, f, width, header, color);
    fclose(f);
    return buf;
}

static saga_table *sample(void)
{
    saga_table *t = saga_table_new(3);
    assert_non_null(t);
    saga_table_column(t, 0, "ID", 0);
    saga_table_column(t, 1, "N", SAGA_TABLE_RIGHT);
    saga_table_column(t, 2, "REASON", SAGA_TABLE_SHRINK);
    saga_table_row(t);
    saga_table_cell(t, 0, "abc", NULL);
    saga_table_cellf(t, 1, NULL, "%d", 7);
    saga_table_cell(t, 2, "awaiting payment COMPENSATE reply", "31");
    saga_table_row(t);
    saga_table_cell(t, 0, "a", NULL);
    saga_table_cell(t, 1, "1234", NULL);
    return t;
}

static void test_aligned(void **state)
{
    (void)state;
    saga_table *t = sample();
    assert_int_equal(saga_table_rows(t), 2);
    char *s = render(t, 0, true, false);
    assert_string_equal(s, "ID      N  REASON\n"
                           "abc     7  awaiting payment COMPENSATE reply\n"
                           "a    1234\n");
    free(s);
    s = render(t, 0, false, false);
    assert_string_equal(s, "abc     7  awaiting payment COMPENSATE reply\n"
                           "a    1234\n");
    free(s);
    assert_true(saga_table_ok(t));
    saga_table_free(t);
}

static void test_cut_to_width(void **state)
{
    (void)state;
    saga_table *t = sample();
    char *s = render(t, 30, true, false);
    assert_string_equal(s, "ID      N  REASON\n"
                           "abc     7  awaiting payment...\n"
                           "a    1234\n");
    free(s);
    /* Never below the minimum: ids and counts are not cut either. */
    s = render(t, 5, true, false);
    assert_string_equal(s, "ID      N  REASON\n"
                           "abc     7  awaiting ...\n"
                           "a    1234\n");
    free(s);
    saga_table_free(t);
}

static void test_color(void **state)
{
    (void)state;
    saga_table *t = sample();
    char *s = render(t, 0, true, true);
    assert_string_equal(s, "\033[1mID\033[0m   "
                           "   \033[1mN\033[0m  \033[1mREASON\033[0m\n"
                           "abc     7  \033[31mawaiting payment COMPENSATE reply\033[0m\n"
                           "a    1234\n");
    free(s);
    saga_table_free(t);
}

static void test_utf8_and_controls(void **state)
{
    (void)state;
    assert_int_equal(saga_text_width("d\xc3\xa9j\xc3\xa0"), 4);
    assert_int_equal(saga_text_width(NULL), 0);
    saga_table *t = saga_table_new(2);
    saga_table_column(t, 0, "A", 0);
    saga_table_column(t, 1, "B", 0);
    saga_table_row(t);
    saga_table_cell(t, 0, "d\xc3\xa9j\xc3\xa0", NULL);
    saga_table_cell(t, 1, "x", NULL);
    saga_table_row(t);
    saga_table_cell(t, 0, "two\nlines", NULL);
    saga_table_cell(t, 1, "tab\there", NULL);
    saga_table_cell(t, 7, "ignored", NULL);
    char *s = render(t, 0, true, false);
    assert_string_equal(s, "A          B\n"
                           "d\xc3\xa9j\xc3\xa0       x\n"
                           "two lines  tab here\n");
    free(s);
    saga_table_free(t);
}

static void test_cut_utf8(void **state)
{
    (void)state;
    saga_table *t = saga_table_new(1);
    saga_table_column(t, 0, "R", SAGA_TABLE_SHRINK);
    saga_table_row(t);
    saga_table_cell(t, 0, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                          "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                    NULL);
    char *s = render(t, 12, false, false);
    assert_string_equal(s, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xc3\xa9\xc3\xa9...\n");
    free(s);
    saga_table_free(t);
}

static void test_empty(void **state)
{
    (void)state;
    saga_table *t = saga_table_new(2);
    saga_table_column(t, 0, "A", 0);
    saga_table_column(t, 1, "B", 0);
    saga_table_cell(t, 0, "no row yet: ignored", NULL);
    char *s = render(t, 0, true, false);
    assert_string_equal(s, "A  B\n");
    free(s);
    saga_table_free(t);
    saga_table_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aligned),         cmocka_unit_test(test_cut_to_width),
        cmocka_unit_test(test_color),           cmocka_unit_test(test_utf8_and_controls),
        cmocka_unit_test(test_cut_utf8),        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
