/*
 * test_utf8.c - engine/core/utf8.c: what inbound Replies, StartSagas and
 * worker Commands accept as text, at each boundary of the encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "utf8.h"

static void test_accepts(void **state)
{
    (void)state;
    assert_true(saga_utf8_valid(NULL));
    assert_true(saga_utf8_valid(""));
    assert_true(saga_utf8_valid("plain"));
    assert_true(saga_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    assert_true(saga_utf8_valid("\xc2\x80"));         /* shortest 2-byte */
    assert_true(saga_utf8_valid("\xe0\xa0\x80"));     /* shortest 3-byte */
    assert_true(saga_utf8_valid("\xed\x9f\xbf"));     /* just below surrogates */
    assert_true(saga_utf8_valid("\xee\x80\x80"));     /* just above surrogates */
    assert_true(saga_utf8_valid("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
}

static void test_refuses(void **state)
{
    (void)state;
    assert_false(saga_utf8_valid("\xc3"));             /* truncated */
    assert_false(saga_utf8_valid("ok\xe2\x82"));       /* truncated at the end */
    assert_false(saga_utf8_valid("\xc0\xaf"));         /* overlong */
    assert_false(saga_utf8_valid("\xe0\x9f\xbf"));     /* overlong 3-byte */
    assert_false(saga_utf8_valid("\xf0\x8f\xbf\xbf")); /* overlong 4-byte */
    assert_false(saga_utf8_valid("\xed\xa0\x80"));     /* surrogate */
    assert_false(saga_utf8_valid("\xf4\x90\x80\x80")); /* > U+10FFFF */
    assert_false(saga_utf8_valid("\x80"));             /* stray continuation */
    assert_false(saga_utf8_valid("\xf8\x88\x80\x80\x80")); /* 5-byte form */
    assert_false(saga_utf8_valid("\xc3\x28"));         /* bad continuation */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
