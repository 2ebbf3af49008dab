/*
 * test_file.c - saga_file_read: contents and their terminating NUL, the
 * size limit at its edge (exactly full is fine, one byte more is not), and
 * the messages for a missing file and one that cannot be read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"

/* A file holding n bytes of text (NUL bytes included); path is written into
 * out. */
static void write_file(char out[64], const char *text, size_t n)
{
    snprintf(out, 64, "/tmp/test_file.XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

static void test_contents(void **state)
{
    (void)state;
    char path[64];
    write_file(path, "a\0b\n", 4);
    char *buf;
    size_t len;
    saga_error err;
    assert_int_equal(saga_file_read(path, 100, &buf, &len, &err), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "a\0b\n", 5); /* and the NUL after them */
    free(buf);
    unlink(path);

    write_file(path, "", 0);
    assert_int_equal(saga_file_read(path, 100, &buf, &len, &err), 0);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);
    unlink(path);
}

static void test_limit(void **state)
{
    (void)state;
    char path[64], want[128];
    enum { MAX = 10000 }; /* more than one read's worth */
    static char text[MAX + 1];
    memset(text, 'x', sizeof text);
    char *buf;
    size_t len;
    saga_error err;

    write_file(path, text, MAX);
    assert_int_equal(saga_file_read(path, MAX, &buf, &len, &err), 0);
    assert_int_equal(len, MAX);
    free(buf);
    unlink(path);

    write_file(path, text, MAX + 1);
    assert_int_equal(saga_file_read(path, MAX, &buf, &len, &err), SAGA_ELIMIT);
    assert_null(buf);
    assert_int_equal(len, MAX + 1);
    snprintf(want, sizeof want, "\"%s\" is larger than the limit of 10000 bytes",
             path);
    assert_string_equal(err.msg, want);
    unlink(path);
}

static void test_errors(void **state)
{
    (void)state;
    char *buf;
    size_t len;
    saga_error err;
    assert_int_equal(saga_file_read("/nonexistent/x.conf", 10, &buf, &len, &err),
                     SAGA_EIO);
    assert_null(buf);
    assert_string_equal(err.msg, "could not open \"/nonexistent/x.conf\": No such "
                                 "file or directory");
    /* a directory opens but cannot be read */
    assert_int_equal(saga_file_read("/tmp", 10, &buf, &len, &err), SAGA_EIO);
    assert_null(buf);
    assert_string_equal(err.msg, "could not read \"/tmp\": Is a directory");
}

static void test_stream(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    fputs("{\"k\": 1}", f);
    rewind(f);
    char *buf;
    size_t len;
    saga_error err;
    assert_int_equal(saga_file_read_stream(f, "standard input", 8, &buf, &len, &err),
                     0);
    assert_string_equal(buf, "{\"k\": 1}");
    free(buf);
    rewind(f);
    assert_int_equal(saga_file_read_stream(f, "standard input", 7, &buf, &len, &err),
                     SAGA_ELIMIT);
    assert_string_equal(err.msg, "\"standard input\" is larger than the limit of 7 "
                                 "bytes");
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contents),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
