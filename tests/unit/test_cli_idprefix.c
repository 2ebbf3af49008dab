/*
 * test_cli_idprefix.c - saga id prefixes (engine/idprefix.c): the UUID
 * ranges a prefix stands for, what is refused, and the shared-prefix length
 * used to suggest the closest ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "idprefix.h"

static void test_short_prefix(void **state)
{
    (void)state;
    saga_idprefix p;
    saga_error err;
    assert_int_equal(saga_idprefix_parse("6F1c2a", &p, &err), 0);
    assert_string_equal(p.hex, "6f1c2a");
    assert_int_equal(p.n_hex, 6);
    assert_string_equal(p.lo, "6f1c2a00-0000-0000-0000-000000000000");
    assert_string_equal(p.hi, "6f1c2aff-ffff-ffff-ffff-ffffffffffff");
}

static void test_prefix_across_dashes(void **state)
{
    (void)state;
    saga_idprefix p;
    saga_error err;
    assert_int_equal(saga_idprefix_parse("6f1c2a9e-0b7d-4", &p, &err), 0);
    assert_int_equal(p.n_hex, 13);
    assert_string_equal(p.lo, "6f1c2a9e-0b7d-4000-0000-000000000000");
    assert_string_equal(p.hi, "6f1c2a9e-0b7d-4fff-ffff-ffffffffffff");
    /* Dashes are ignored wherever they are: ids pasted from other tools. */
    assert_int_equal(saga_idprefix_parse("6f1c-2a9e", &p, &err), 0);
    assert_string_equal(p.hex, "6f1c2a9e");
}

static void test_full_id(void **state)
{
    (void)state;
    saga_idprefix p;
    saga_error err;
    const char *id = "6f1c2a9e-0b7d-4c1e-9a4b-2f0e8d6c5b3a";
    assert_int_equal(saga_idprefix_parse(id, &p, &err), 0);
    assert_int_equal(p.n_hex, SAGA_UUID_HEX_LEN);
    assert_string_equal(p.lo, id);
    assert_string_equal(p.hi, id);
    assert_int_equal(saga_idprefix_parse("6F1C2A9E0B7D4C1E9A4B2F0E8D6C5B3A", &p, &err), 0);
    assert_string_equal(p.lo, id);
}

static void test_refused(void **state)
{
    (void)state;
    saga_idprefix p;
    saga_error err;
    assert_int_equal(saga_idprefix_parse("", &p, &err), SAGA_EINVAL);
    assert_string_equal(err.msg, "empty saga id");
    assert_int_equal(saga_idprefix_parse("---", &p, &err), SAGA_EINVAL);
    assert_int_equal(saga_idprefix_parse("6f1g", &p, &err), SAGA_EINVAL);
    assert_non_null(strstr(err.msg, "'g' is not a hex digit"));
    assert_non_null(strstr(err.hint, "unique prefix"));
    assert_int_equal(saga_idprefix_parse("6f1c' OR 1=1", &p, &err), SAGA_EINVAL);
    assert_int_equal(saga_idprefix_parse("6f1c2a9e-0b7d-4c1e-9a4b-2f0e8d6c5b3a0", &p, &err),
                     SAGA_EINVAL);
    assert_non_null(strstr(err.msg, "more than 32 hex digits"));
    assert_int_equal(saga_idprefix_parse("ab\x01", &p, &err), SAGA_EINVAL);
    assert_non_null(strstr(err.msg, "'?'"));
}

static void test_common(void **state)
{
    (void)state;
    saga_idprefix p;
    saga_error err;
    assert_int_equal(saga_idprefix_parse("6f1c2b", &p, &err), 0);
    assert_int_equal(saga_idprefix_common(&p, "6f1c2a9e-0b7d-4c1e-9a4b-2f0e8d6c5b3a"), 5);
    assert_int_equal(saga_idprefix_common(&p, "6F1C2B9E-0b7d-4c1e-9a4b-2f0e8d6c5b3a"), 6);
    assert_int_equal(saga_idprefix_common(&p, "00000000-0000-4000-8000-000000000000"), 0);
    assert_int_equal(saga_idprefix_parse("6f1c2a9e0", &p, &err), 0);
    assert_int_equal(saga_idprefix_common(&p, "6f1c2a9e-0b7d-4c1e-9a4b-2f0e8d6c5b3a"), 9);
    assert_int_equal(saga_idprefix_common(&p, ""), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_prefix), cmocka_unit_test(test_prefix_across_dashes),
        cmocka_unit_test(test_full_id),      cmocka_unit_test(test_refused),
        cmocka_unit_test(test_common),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
