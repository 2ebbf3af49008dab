/*
 * test_html.c - engine/common/html.c: the console's one escaping function
 * turns every character that could end a text node or a quoted attribute
 * into an entity, leaves everything else (UTF-8 included) alone, and the
 * URL encoder leaves only unreserved characters bare.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "html.h"

static char *escaped(const char *s)
{
    saga_buf b = {0};
    saga_html_escape(&b, s);
    return saga_buf_take(&b);
}

static void test_hostile_inputs_become_text(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"},
        {"</script><script>alert(1)</script>",
         "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"},
        {"\" onmouseover=\"x", "&quot; onmouseover=&quot;x"},
        {"' autofocus onfocus='x", "&#39; autofocus onfocus=&#39;x"},
        {"a & b &amp;", "a &amp; b &amp;amp;"},
        {"plain text, caf\xc3\xa9 \xe2\x9c\x93", "plain text, caf\xc3\xa9 \xe2\x9c\x93"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = escaped(cases[i].in);
        assert_string_equal(got, cases[i].out);
        assert_null(strpbrk(got, "<>\"'"));
        free(got);
    }
}

static void test_null_and_append(void **state)
{
    (void)state;
    saga_buf b = {0};
    saga_buf_puts(&b, "<p>");
    saga_html_escape(&b, NULL);
    saga_html_escape(&b, "1<2");
    saga_buf_puts(&b, "</p>");
    assert_string_equal(b.p, "<p>1&lt;2</p>");
    saga_buf_free(&b);
}

static void test_url_encode(void **state)
{
    (void)state;
    saga_buf b = {0};
    saga_url_encode(&b, "order_checkout@2 a&b=c/\"<");
    assert_string_equal(b.p, "order_checkout%402%20a%26b%3Dc%2F%22%3C");
    saga_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_inputs_become_text),
        cmocka_unit_test(test_null_and_append),
        cmocka_unit_test(test_url_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
