/*
 * test_config.c - configuration layers and their precedence (default < file
 * < environment < flag), every error message a user can meet, secret
 * masking (keyword and URI DSNs, kafka passwords) and the kafka.*
 * pass-through.
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

#include "config.h"
#include "log.h"

static const saga_config_key KEYS[] = {
    {.key = "pg.dsn", .type = SAGA_CONFIG_STRING, .env = "SAGA_PG_DSN",
     .help = "PostgreSQL connection string"},
    {.key = "http.listen", .type = SAGA_CONFIG_STRING, .def = "127.0.0.1:9464",
     .help = "health and metrics address"},
    {.key = "log.format", .type = SAGA_CONFIG_ENUM, .def = "auto",
     .choices = "json|text|auto", .help = "log line format"},
    {.key = "batch.max", .type = SAGA_CONFIG_INT, .def = "128", .range = "1..10000",
     .help = "commands per transaction"},
    {.key = "poll.timeout", .type = SAGA_CONFIG_DURATION, .def = "250ms",
     .range = "1ms..1h", .help = "longest wait for messages"},
    {.key = "fault.reject.rate", .type = SAGA_CONFIG_DOUBLE, .def = "0", .range = "0..1",
     .flag = "--reject-rate", .help = "share of RESERVE commands refused"},
    {.key = "dry-run", .type = SAGA_CONFIG_BOOL, .def = "false", .help = "change nothing"},
    {.key = "topics", .type = SAGA_CONFIG_LIST, .def = "a, b,,c ",
     .help = "topics to watch"},
    {.key = "api.token", .type = SAGA_CONFIG_STRING, .flags = SAGA_CONFIG_SECRET,
     .def = "hush", .help = "a secret"},
    {.key = "api.pin", .type = SAGA_CONFIG_INT, .flags = SAGA_CONFIG_SECRET,
     .help = "a secret number"},
};
#define NKEYS (sizeof KEYS / sizeof *KEYS)

static const char *const ENV_USED[] = {
    "SAGA_PG_DSN", "SAGA_HTTP_LISTEN", "SAGA_LOG_FORMAT", "SAGA_BATCH_MAX",
    "SAGA_POLL_TIMEOUT", "SAGA_FAULT_REJECT_RATE", "SAGA_DRY_RUN", "SAGA_TOPICS",
    "SAGA_API_TOKEN", "SAGA_API_PIN", "SAGA_KAFKA_BROKERS", "SAGA_CONFIG",
    "SAGA_KAFKA_BOOTSTRAP_SERVERS"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof ENV_USED / sizeof *ENV_USED; i++)
        unsetenv(ENV_USED[i]);
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    saga_log_setup("test_config", SAGA_LOG_ERROR + 1, SAGA_LOG_TEXT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* Loads with argv = {"prog", args..., NULL-terminated list}. */
static int load(saga_config *c, saga_error *err, int *argi, ...)
{
    char *argv[32] = {"prog"};
    int argc = 1;
    va_list ap;
    va_start(ap, argi);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    return saga_config_load(c, argc, argv, argi, err);
}

/* A config file with the given text; path is written into out. */
static void write_file(char out[64], const char *text)
{
    snprintf(out, 64, "/tmp/test_config.XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static char *print_to_string(const saga_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    saga_config_print(c, f);
    fclose(f);
    return buf;
}

/* --- layers -------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    saga_config *c = saga_config_new(KEYS, NKEYS);
    saga_error err;
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    assert_null(saga_config_str(c, "pg.dsn"));
    assert_false(saga_config_is_set(c, "pg.dsn"));
    assert_string_equal(saga_config_str(c, "http.listen"), "127.0.0.1:9464");
    assert_string_equal(saga_config_str(c, "log.format"), "auto");
    assert_int_equal(saga_config_int(c, "batch.max"), 128);
    assert_true(saga_config_double(c, "batch.max") == 128.0);
    assert_int_equal(saga_config_ms(c, "poll.timeout"), 250);
    assert_true(saga_config_double(c, "fault.reject.rate") == 0.0);
    assert_false(saga_config_bool(c, "dry-run"));
    assert_int_equal(saga_config_int(c, "api.pin"), 0);
    size_t n;
    const char *const *t = saga_config_list(c, "topics", &n);
    assert_int_equal(n, 3);
    assert_string_equal(t[0], "a");
    assert_string_equal(t[1], "b");
    assert_string_equal(t[2], "c");
    assert_false(saga_config_help_requested(c));
    assert_false(saga_config_print_requested(c));
    saga_config_free(c);
}

static void test_precedence(void **state)
{
    (void)state;
    char path[64];
    write_file(path, "batch.max = 200\npoll.timeout = 10s\nlog.format = json\n"
                     "http.listen = :1\n");
    saga_config *c = saga_config_new(KEYS, NKEYS);
    saga_error err;

    /* file over default */
    assert_int_equal(load(c, &err, NULL, "--config", path, NULL), 0);
    assert_int_equal(saga_config_int(c, "batch.max"), 200);
    assert_int_equal(saga_config_ms(c, "poll.timeout"), 10000);
    assert_string_equal(saga_config_str(c, "log.format"), "json");
    assert_string_equal(saga_config_str(c, "http.listen"), ":1");

    /* environment over file */
    setenv("SAGA_BATCH_MAX", "300", 1);
    setenv("SAGA_LOG_FORMAT", "text", 1);
    setenv("SAGA_HTTP_LISTEN", "", 1); /* empty counts as unset */
    assert_int_equal(load(c, &err, NULL, "--config", path, NULL), 0);
    assert_int_equal(saga_config_int(c, "batch.max"), 300);
    assert_string_equal(saga_config_str(c, "log.format"), "text");
    assert_string_equal(saga_config_str(c, "http.listen"), ":1");
    assert_int_equal(saga_config_ms(c, "poll.timeout"), 10000);

    /* flags over environment; the last of a repeated flag wins; both forms */
    assert_int_equal(load(c, &err, NULL, "--batch.max=400", "--config", path,
                          "--log.format", "auto", "--batch.max", "500", NULL),
                     0);
    assert_int_equal(saga_config_int(c, "batch.max"), 500);
    assert_string_equal(saga_config_str(c, "log.format"), "auto");
    assert_int_equal(saga_config_ms(c, "poll.timeout"), 10000);

    /* SAGA_CONFIG names the file when --config does not */
    clear_env();
    setenv("SAGA_CONFIG", path, 1);
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    assert_int_equal(saga_config_int(c, "batch.max"), 200);

    /* a second load starts from scratch */
    clear_env();
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    assert_int_equal(saga_config_int(c, "batch.max"), 128);
    saga_config_free(c);
    unlink(path);
}

static void test_flag_forms(void **state)
{
    (void)state;
    saga_config *c = saga_config_new(KEYS, NKEYS);
    saga_error err;
    int argi = -1;
    assert_int_equal(load(c, &err, &argi, "--dry-run", "--reject-rate", "0.25",
                          "--topics=x,y", "--print-config", "seed", "--qty", "5",
                          NULL),
                     0);
    assert_true(saga_config_bool(c, "dry-run"));
    assert_true(saga_config_double(c, "fault.reject.rate") == 0.25);
    size_t n;
    const char *const *t = saga_config_list(c, "topics", &n);
    assert_int_equal(n, 2);
    assert_string_equal(t[1], "y");
    assert_true(saga_config_print_requested(c));
    assert_int_equal(argi, 6); /* "seed": options stop at the first argument */

    assert_int_equal(load(c, &err, &argi, "--dry-run=off", "--", "--batch.max", NULL), 0);
    assert_false(saga_config_bool(c, "dry-run"));
    assert_int_equal(argi, 3);
    assert_int_equal(saga_config_int(c, "batch.max"), 128);

    assert_int_equal(load(c, &err, &argi, "--batch.max", "7", NULL), 0);
    assert_int_equal(argi, 3);
    assert_int_equal(saga_config_int(c, "batch.max"), 7);

    /* "-" alone is an argument (stdin by convention) */
    assert_int_equal(load(c, &err, &argi, "-", NULL), 0);
    assert_int_equal(argi, 1);
    saga_config_free(c);
}

static void test_value_syntax(void **state)
{
    (void)state;
    saga_config *c = saga_config_new(KEYS, NKEYS);
    saga_error err;
    static const struct {
        const char *flag;
        int64_t ms;
    } durations[] = {{"--poll.timeout=1ms", 1},      {"--poll.timeout=250ms", 250},
                     {"--poll.timeout=10s", 10000},  {"--poll.timeout=5m", 300000},
                     {"--poll.timeout=1h", 3600000}, {"--poll.timeout=59m60s", 3600000},
                     {"--poll.timeout=1m500ms", 60500}};
    for (size_t i = 0; i < sizeof durations / sizeof *durations; i++) {
        assert_int_equal(load(c, &err, NULL, durations[i].flag, NULL), 0);
        assert_int_equal(saga_config_ms(c, "poll.timeout"), durations[i].ms);
    }
    static const char *const yes[] = {"true", "YES", "on", "1"};
    static const char *const no[] = {"False", "no", "OFF", "0"};
    char flag[64];
    for (size_t i = 0; i < 4; i++) {
        snprintf(flag, sizeof flag, "--dry-run=%s", yes[i]);
        assert_int_equal(load(c, &err, NULL, flag, NULL), 0);
        assert_true(saga_config_bool(c, "dry-run"));
        snprintf(flag, sizeof flag, "--dry-run=%s", no[i]);
        assert_int_equal(load(c, &err, NULL, flag, NULL), 0);
        assert_false(saga_config_bool(c, "dry-run"));
    }
    assert_int_equal(load(c, &err, NULL, "--batch.max=+10000", NULL), 0);
    assert_int_equal(saga_config_int(c, "batch.max"), 10000);
    assert_int_equal(load(c, &err, NULL, "--fault.reject.rate=1e-1", NULL), 0);
    assert_true(saga_config_double(c, "fault.reject.rate") == 0.1);
    assert_int_equal(load(c, &err, NULL, "--topics=", NULL), 0);
    size_t n = 9;
    saga_config_list(c, "topics", &n);
    assert_int_equal(n, 0);
    saga_config_free(c);
}

static void test_file_syntax(void **state)
{
    (void)state;
    saga_config *c = saga_config_new(KEYS, NKEYS);
    saga_error err;
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    static const char text[] =
        "# a comment\r\n"
        "\n"
        "   # an indented comment\n"
        "\tpg.dsn\t=  host=db password=a#b  \r\n"
        "http.listen=\n"
        "api.token = = starts with equals\n"
        "batch.max = 9"; /* no final newline */
    assert_int_equal(saga_config_parse(c, "t.conf", text, sizeof text - 1, &err), 0);
    assert_string_equal(saga_config_str(c, "pg.dsn"), "host=db password=a#b");
    assert_string_equal(saga_config_str(c, "http.listen"), "");
    assert_string_equal(saga_config_str(c, "api.token"), "= starts with equals");
    assert_int_equal(saga_config_int(c, "batch.max"), 9);
    /* parse applies on top: a second "file" may set the same key again */
    assert_int_equal(saga_config_parse(c, "u.conf", "batch.max = 10\n", 15, &err), 0);
    assert_int_equal(saga_config_int(c, "batch.max"), 10);
    saga_config_free(c);
}

/* --- error messages ------------------------------------------------------ */

typedef struct err_case {
    const char *file;  /* file text, or NULL */
    const char *env;   /* "NAME=value", or NULL */
    const char *args[4];
    int code;
    const char *msg;
    const char *hint;  /* "" = no hint expected; NULL = not checked */
} err_case;

static void run_error_case(const err_case *e)
{
    clear_env();
    saga_config *c = saga_config_new(KEYS, NKEYS);
    char path[64] = "";
    char *argv[8] = {"prog"};
    int argc = 1;
    if (e->file) {
        write_file(path, e->file);
        argv[argc++] = "--config";
        argv[argc++] = path;
    }
    for (size_t i = 0; i < 4 && e->args[i]; i++)
        argv[argc++] = (char *)e->args[i];
    if (e->env) {
        char name[64];
        const char *eq = strchr(e->env, '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - e->env), e->env);
        setenv(name, eq + 1, 1);
    }
    saga_error err;
    int rc = saga_config_load(c, argc, argv, NULL, &err);
    char expected[512];
    snprintf(expected, sizeof expected, e->msg, path);
    if (rc != e->code || strcmp(err.msg, expected) != 0)
        fail_msg("expected %d \"%s\"\n     got %d \"%s\"", e->code, expected, rc, err.msg);
    assert_int_equal(err.code, e->code);
    if (e->hint && strcmp(err.hint, e->hint) != 0)
        fail_msg("hint: expected \"%s\"\n           got \"%s\"", e->hint, err.hint);
    saga_config_free(c);
    if (*path)
        unlink(path);
    clear_env();
}

static void test_error_messages(void **state)
{
    (void)state;
    static const err_case cases[] = {
        /* unknown keys, with the closest known key as a hint */
        {.file = "batch.max = 1\nbach.max = 5\n", .code = SAGA_EINVAL,
         .msg = "%s:2: unknown key \"bach.max\"",
         .hint = "did you mean \"batch.max\"? (--help lists every key)"},
        {.file = "zzz = 1\n", .code = SAGA_EINVAL, .msg = "%s:1: unknown key \"zzz\"",
         .hint = "--help lists every key; librdkafka properties are written with "
                 "a \"kafka.\" prefix"},
        {.args = {"--batch.mx=3"}, .code = SAGA_EINVAL,
         .msg = "unknown option \"--batch.mx\"",
         .hint = "did you mean \"--batch.max\"? (--help lists every key)"},
        {.args = {"-x"}, .code = SAGA_EINVAL, .msg = "unknown option \"-x\""},
        /* a value glued to a short flag (a typed password) is not echoed */
        {.args = {"-pSECRET"}, .code = SAGA_EINVAL, .msg = "unknown option \"-p\""},
        {.args = {"--logformat", "json"}, .code = SAGA_EINVAL,
         .msg = "unknown option \"--logformat\"",
         .hint = "did you mean \"--log.format\"? (--help lists every key)"},
        /* bad values name the key, the source and what was expected */
        {.args = {"--batch.max=ten"}, .code = SAGA_EINVAL,
         .msg = "--batch.max: invalid value \"ten\": expected an integer from 1 to 10000"},
        {.args = {"--batch.max", "0"}, .code = SAGA_EINVAL,
         .msg = "--batch.max: invalid value \"0\": expected an integer from 1 to 10000"},
        {.args = {"--batch.max=99999999999999999999"}, .code = SAGA_EINVAL,
         .msg = "--batch.max: invalid value \"99999999999999999999\": expected an "
                "integer from 1 to 10000"},
        /* durations: the one grammar (core/duration.h), units required */
        {.env = "SAGA_POLL_TIMEOUT=10 s", .code = SAGA_EINVAL,
         .msg = "SAGA_POLL_TIMEOUT (poll.timeout): invalid value \"10 s\": expected a "
                "duration from 1ms to 1h",
         .hint = "write a number and a unit (ms, s, m, h, d), e.g. 250ms, 90s, 5m, "
                 "2h, 1d or 1h30m"},
        {.env = "SAGA_POLL_TIMEOUT=-5", .code = SAGA_EINVAL, .msg = NULL},
        {.file = "poll.timeout = 2h\n", .code = SAGA_EINVAL,
         .msg = "%s:1: poll.timeout: invalid value \"2h\": expected a duration from "
                "1ms to 1h",
         .hint = ""},
        {.file = "poll.timeout = 1d\n", .code = SAGA_EINVAL,
         .msg = "%s:1: poll.timeout: invalid value \"1d\": expected a duration from "
                "1ms to 1h"},
        {.file = "poll.timeout = 500\n", .code = SAGA_EINVAL,
         .msg = "%s:1: poll.timeout: invalid value \"500\": expected a duration from "
                "1ms to 1h",
         .hint = "poll.timeout needs a unit (ms, s, m, h or d): write 500ms for "
                 "milliseconds"},
        {.env = "SAGA_POLL_TIMEOUT=0", .code = SAGA_EINVAL,
         .msg = "SAGA_POLL_TIMEOUT (poll.timeout): invalid value \"0\": expected a "
                "duration from 1ms to 1h",
         .hint = "poll.timeout needs a unit (ms, s, m, h or d): write 0ms for "
                 "milliseconds"},
        {.args = {"--poll.timeout", "250"}, .code = SAGA_EINVAL,
         .msg = "--poll.timeout: invalid value \"250\": expected a duration from 1ms "
                "to 1h",
         .hint = "poll.timeout needs a unit (ms, s, m, h or d): write 250ms for "
                 "milliseconds"},
        {.args = {"--poll.timeout=5min"}, .code = SAGA_EINVAL,
         .msg = "--poll.timeout: invalid value \"5min\": expected a duration from 1ms "
                "to 1h",
         .hint = "write a number and a unit (ms, s, m, h, d), e.g. 250ms, 90s, 5m, "
                 "2h, 1d or 1h30m"},
        {.file = "\n\nlog.format = xml\n", .code = SAGA_EINVAL,
         .msg = "%s:3: log.format: invalid value \"xml\": expected one of: json, text, auto"},
        {.args = {"--reject-rate", "1.5"}, .code = SAGA_EINVAL,
         .msg = "--reject-rate (fault.reject.rate): invalid value \"1.5\": expected a "
                "number from 0 to 1"},
        {.args = {"--reject-rate=nan"}, .code = SAGA_EINVAL,
         .msg = "--reject-rate (fault.reject.rate): invalid value \"nan\": expected a "
                "number from 0 to 1"},
        {.args = {"--dry-run=maybe"}, .code = SAGA_EINVAL,
         .msg = "--dry-run: invalid value \"maybe\": expected true or false"},
        /* a secret is never echoed; a DSN is masked */
        {.args = {"--api.pin=s3cret"}, .code = SAGA_EINVAL,
         .msg = "--api.pin: invalid value: expected an integer"},
        {.args = {"--log.format=postgresql://u:pw@h/db"}, .code = SAGA_EINVAL,
         .msg = "--log.format: invalid value \"postgresql://u:****@h/db\": expected one "
                "of: json, text, auto"},
        /* file structure */
        {.file = "batch.max = 1\n\nthis line has no equals sign\n", .code = SAGA_EINVAL,
         .msg = "%s:3: expected \"key = value\"",
         .hint = "comments start with '#' at the beginning of a line"},
        {.file = " = 5\n", .code = SAGA_EINVAL, .msg = "%s:1: missing key before '='"},
        {.file = "batch.max = 1\nlog.format = json\nbatch.max = 2\n", .code = SAGA_EINVAL,
         .msg = "%s:3: batch.max: set twice (first on line 1)"},
        /* options */
        {.args = {"--batch.max"}, .code = SAGA_EINVAL, .msg = "option --batch.max needs a value"},
        {.args = {"--config"}, .code = SAGA_EINVAL, .msg = "option --config needs a file name"},
        {.args = {"run"}, .code = SAGA_EINVAL, .msg = "unexpected argument \"run\""},
        {.args = {"--config", "/nonexistent/sagad.conf"}, .code = SAGA_EIO,
         .msg = "could not open \"/nonexistent/sagad.conf\": No such file or directory"},
        /* kafka.* is checked by librdkafka itself */
        {.file = "kafka.bootstrap.server = x:1\n", .code = SAGA_EINVAL,
         .msg = "%s:1: kafka.bootstrap.server: unknown librdkafka property "
                "\"bootstrap.server\"",
         .hint = "did you mean \"kafka.bootstrap.servers\"?"},
        {.args = {"--kafka.no.such.thing=1"}, .code = SAGA_EINVAL,
         .msg = "--kafka.no.such.thing: unknown librdkafka property \"no.such.thing\"",
         .hint = "keys starting with \"kafka.\" are passed to librdkafka without the "
                 "prefix; see its CONFIGURATION.md for the property names"},
        {.args = {"--kafka.enable.idempotence=perhaps"}, .code = SAGA_EINVAL, .msg = NULL},
        {.file = "kafka. = 1\n", .code = SAGA_EINVAL, .msg = "%s:1: unknown key \"kafka.\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (cases[i].msg) {
            run_error_case(&cases[i]);
            continue;
        }
        /* message checked loosely: it comes partly from libc or librdkafka */
        err_case e = cases[i];
        saga_config *c = saga_config_new(KEYS, NKEYS);
        char *argv[4] = {"prog", (char *)e.args[0]};
        if (e.env)
            setenv("SAGA_POLL_TIMEOUT", strchr(e.env, '=') + 1, 1);
        saga_error err;
        assert_int_equal(saga_config_load(c, e.args[0] ? 2 : 1, argv, NULL, &err), e.code);
        assert_true(strstr(err.msg, e.env ? "SAGA_POLL_TIMEOUT (poll.timeout): invalid value"
                                          : "--kafka.enable.idempotence: invalid value") ==
                    err.msg);
        saga_config_free(c);
        clear_env();
    }
}

static void test_more_errors(void **state)
{
    (void)state;
    static const saga_config_key keys[] = {
        {.key = "low", .type = SAGA_CONFIG_INT, .range = "1..", .help = "at least one"},
        {.key = "high", .type = SAGA_CONFIG_DOUBLE, .range = "..0.5", .help = "at most half"},
        {.key = "word", .type = SAGA_CONFIG_ENUM, .choices = "a|b", .help = "a or b"},
        {.key = "kafka.acks", .flags = SAGA_CONFIG_SECRET, .help = "a secret kafka key"},
        {.key = "hush.wait", .type = SAGA_CONFIG_DURATION, .flags = SAGA_CONFIG_SECRET,
         .range = "0ms..", .help = "a secret duration"},
    };
    saga_config *c = saga_config_new(keys, 5);
    saga_error err;
    assert_int_equal(load(c, &err, NULL, "--low=0", NULL), SAGA_EINVAL);
    assert_string_equal(err.msg, "--low: invalid value \"0\": expected an integer of at least 1");
    assert_int_equal(load(c, &err, NULL, "--high=0.75", NULL), SAGA_EINVAL);
    assert_string_equal(err.msg, "--high: invalid value \"0.75\": expected a number of at most 0.5");
    assert_int_equal(load(c, &err, NULL, "--low=99999999", "--high=-1e9", NULL), 0);

    assert_int_equal(load(c, &err, NULL, "--hush.wait=0ms", NULL), 0);

    /* a secret bare number is not echoed, not even in the hint */
    assert_int_equal(load(c, &err, NULL, "--hush.wait=1234", NULL), SAGA_EINVAL);
    assert_string_equal(err.msg, "--hush.wait: invalid value: expected a duration "
                                 "of at least 0ms");
    assert_string_equal(err.hint, "hush.wait needs a unit (ms, s, m, h or d): write "
                                  "500ms for milliseconds");

    /* long values are shortened in messages */
    char arg[300];
    snprintf(arg, sizeof arg, "--word=%0200d", 7);
    assert_int_equal(load(c, &err, NULL, arg, NULL), SAGA_EINVAL);
    assert_non_null(strstr(err.msg, "...\": expected one of: a, b"));
    assert_true(strlen(err.msg) < 140);

    /* librdkafka's refusal of a secret is reported without the value */
    assert_int_equal(load(c, &err, NULL, "--kafka.acks=s3cret", NULL), SAGA_EINVAL);
    assert_string_equal(err.msg, "--kafka.acks: invalid value: librdkafka refused it");

    /* a NUL byte, an oversized file, an empty SAGA_CONFIG */
    assert_int_equal(saga_config_parse(c, "t.conf", "low = 1\nhigh\0 = 0\n", 18, &err),
                     SAGA_EINVAL);
    assert_string_equal(err.msg, "t.conf:2: NUL byte in the config file");
    char path[64];
    write_file(path, "");
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 70000; i++)
        fputs("# padding padding\n", f);
    fclose(f);
    assert_int_equal(load(c, &err, NULL, "--config", path, NULL), SAGA_ELIMIT);
    char want[128];
    snprintf(want, sizeof want, "\"%s\" is larger than the limit of 1048576 bytes",
             path);
    assert_string_equal(err.msg, want);
    unlink(path);
    setenv("SAGA_CONFIG", "", 1);
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    saga_config_free(c);
}

static void test_required(void **state)
{
    (void)state;
    static const saga_config_key keys[] = {
        {.key = "pg.dsn", .type = SAGA_CONFIG_STRING, .flags = SAGA_CONFIG_REQUIRED,
         .env = "SAGA_PG_DSN", .help = "PostgreSQL"},
    };
    saga_config *c = saga_config_new(keys, 1);
    saga_error err;
    assert_int_equal(load(c, &err, NULL, NULL), SAGA_EINVAL);
    assert_string_equal(err.msg, "missing required setting pg.dsn");
    assert_string_equal(err.hint, "set it in the config file (pg.dsn = ...), the "
                                  "environment (SAGA_PG_DSN) or as a flag (--pg.dsn)");
    setenv("SAGA_PG_DSN", "dbname=x", 1);
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    assert_string_equal(saga_config_str(c, "pg.dsn"), "dbname=x");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    saga_config_usage(c, f);
    fclose(f);
    assert_non_null(strstr(buf, "        [env SAGA_PG_DSN; required]\n"));
    free(buf);
    /* --help works even when a required key is missing or an option is bad */
    unsetenv("SAGA_PG_DSN");
    assert_int_equal(load(c, &err, NULL, "--bogus", "--config", "/nonexistent", "-h", NULL), 0);
    assert_true(saga_config_help_requested(c));
    assert_int_equal(load(c, &err, NULL, "--pg.dsn", "x", "--help", NULL), 0);
    assert_true(saga_config_help_requested(c));
    /* ...but not after the arguments */
    int argi;
    assert_int_equal(load(c, &err, &argi, "--pg.dsn", "x", "run", "--help", NULL), 0);
    assert_false(saga_config_help_requested(c));
    assert_int_equal(argi, 3);
    saga_config_free(c);
}

static void test_bad_tables(void **state)
{
    (void)state;
    static const saga_config_key bad[][2] = {
        {{.key = "a", .type = SAGA_CONFIG_INT}, {.key = "a", .type = SAGA_CONFIG_INT}},
        {{.key = "a.b", .type = SAGA_CONFIG_INT}, {.key = "a-b", .type = SAGA_CONFIG_INT}},
        {{.key = "Upper"}, {.key = "ok"}},
        {{.key = "config"}, {.key = "ok"}},
        {{.key = "x", .type = SAGA_CONFIG_INT, .def = "nope"}, {.key = "ok"}},
        {{.key = "x", .type = SAGA_CONFIG_INT, .def = "0", .range = "1..2"}, {.key = "ok"}},
        {{.key = "x", .type = SAGA_CONFIG_INT, .range = "2..1"}, {.key = "ok"}},
        {{.key = "x", .type = SAGA_CONFIG_INT, .range = "1-2"}, {.key = "ok"}},
        {{.key = "x", .type = SAGA_CONFIG_STRING, .range = "1..2"}, {.key = "ok"}},
        {{.key = "x", .type = SAGA_CONFIG_ENUM}, {.key = "ok"}},
        /* tables use the one duration grammar too: no bare numbers */
        {{.key = "x", .type = SAGA_CONFIG_DURATION, .def = "500"}, {.key = "ok"}},
        {{.key = "x", .type = SAGA_CONFIG_DURATION, .range = "0..1h"}, {.key = "ok"}},
        {{.key = "x", .flag = "-x"}, {.key = "ok"}},
        {{.key = "x", .flag = "--y"}, {.key = "y"}},
        {{.key = "x", .env = "SAME"}, {.key = "y", .env = "SAME"}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (saga_config_new(bad[i], 2))
            fail_msg("table %zu accepted", i);

    /* a library's table plus its program's */
    static const saga_config_key lib[] = {{.key = "pg.dsn", .help = "db"}};
    static const saga_config_key prog[] = {{.key = "qty", .type = SAGA_CONFIG_INT, .def = "1"}};
    saga_config *c = saga_config_new(lib, 1);
    saga_error err;
    assert_int_equal(saga_config_add(c, prog, 1, &err), 0);
    assert_int_equal(saga_config_add(c, lib, 1, &err), SAGA_EINVAL);
    assert_string_equal(err.msg, "config key \"pg.dsn\" clashes with \"pg.dsn\" (same "
                                 "name, flag or environment variable)");
    assert_int_equal(load(c, &err, NULL, "--qty", "3", "--pg.dsn=x", NULL), 0);
    assert_int_equal(saga_config_int(c, "qty"), 3);
    saga_config_free(c);
    saga_config_free(NULL);
}

/* --- masking ------------------------------------------------------------- */

static void test_dsn_mask(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"host=db port=5432 password=s3cret dbname=saga",
         "host=db port=5432 password=**** dbname=saga"},
        {"password = 's3 \\'cr\\\\et' user=u", "password = **** user=u"},
        {"user=u password='unterminated", "user=u password=****"},
        {"sslpassword=k host=h", "sslpassword=**** host=h"},
        {"password", "password"},
        {"password s3cret", "password ****"},
        {"postgresql://saga:s3cret@127.0.0.1:55432/saga?sslmode=disable",
         "postgresql://saga:****@127.0.0.1:55432/saga?sslmode=disable"},
        {"postgres://u:p@ss:w@rd@h/db", "postgres://u:****@h/db"},
        {"postgresql://u@h/db?password=x&sslmode=require",
         "postgresql://u@h/db?password=****&sslmode=require"},
        {"postgresql://h:5432/db", "postgresql://h:5432/db"},
        {"http://admin:pw@proxy:3128", "http://admin:****@proxy:3128"},
        {"127.0.0.1:9464", "127.0.0.1:9464"},
        {"", ""},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(saga_dsn_mask(cases[i][0], out, sizeof out), 0);
        if (strcmp(out, cases[i][1]) != 0)
            fail_msg("mask(\"%s\") = \"%s\", expected \"%s\"", cases[i][0], out, cases[i][1]);
    }
    /* truncation never reveals the secret */
    char small[24];
    assert_int_equal(saga_dsn_mask("host=h password=topsecretvalue", small, 19),
                     SAGA_ELIMIT);
    assert_string_equal(small, "host=h password=**");
    assert_int_equal(saga_dsn_mask("postgresql://u:topsecret@h", small, 18), SAGA_ELIMIT);
    assert_string_equal(small, "postgresql://u:**");
    assert_int_equal(saga_dsn_mask("x", small, 0), SAGA_ELIMIT);
    assert_int_equal(saga_dsn_mask(NULL, small, sizeof small), 0);
    assert_string_equal(small, "");
}

static void test_print_masks_secrets(void **state)
{
    (void)state;
    char path[64];
    write_file(path, "pg.dsn = host=db password=filesecret\n"
                     "kafka.sasl.password = kafkasecret\n"
                     "kafka.sasl.username = alice\n");
    saga_config *c = saga_config_new(KEYS, NKEYS);
    saga_error err;
    setenv("SAGA_API_PIN", "1234", 1);
    assert_int_equal(load(c, &err, NULL, "--config", path, "--kafka.ssl.key.password=kp",
                          "--http.listen=postgresql://u:urlsecret@h/db", NULL),
                     0);
    char *text = print_to_string(c);
    char expected[1024];
    snprintf(expected, sizeof expected,
             "# effective configuration (secrets masked)\n"
             "# from %s:1\n"
             "pg.dsn = host=db password=****\n"
             "# from flag --http.listen\n"
             "http.listen = postgresql://u:****@h/db\n"
             "log.format = auto\n"
             "batch.max = 128\n"
             "poll.timeout = 250ms\n"
             "fault.reject.rate = 0\n"
             "dry-run = false\n"
             "topics = a, b,,c \n"
             "api.token = ****\n"
             "# from environment SAGA_API_PIN\n"
             "api.pin = ****\n"
             "# from %s:2\n"
             "kafka.sasl.password = ****\n"
             "# from %s:3\n"
             "kafka.sasl.username = alice\n"
             "# from flag --kafka.ssl.key.password\n"
             "kafka.ssl.key.password = ****\n",
             path, path, path);
    assert_string_equal(text, expected);
    static const char *const secrets[] = {"filesecret", "kafkasecret", "urlsecret",
                                          "1234", "= kp\n"};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
        assert_null(strstr(text, secrets[i]));
    free(text);

    /* unset keys are shown as comments */
    clear_env();
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    text = print_to_string(c);
    assert_non_null(strstr(text, "# pg.dsn = (not set)\n"));
    assert_non_null(strstr(text, "# api.pin = (not set)\n"));
    free(text);
    saga_config_free(c);
    unlink(path);
}

/* --- kafka.* pass-through ------------------------------------------------ */

typedef struct collected {
    char keys[8][64];
    char values[8][64];
    int n;
    int stop_at;
} collected;

static int collect(const char *key, const char *value, void *user)
{
    collected *c = user;
    snprintf(c->keys[c->n], 64, "%s", key);
    snprintf(c->values[c->n], 64, "%s", value);
    c->n++;
    return c->n == c->stop_at ? 42 : 0;
}

static void test_kafka_passthrough(void **state)
{
    (void)state;
    char path[64];
    write_file(path, "kafka.security.protocol = SASL_SSL\n");
    saga_config *c = saga_config_new(KEYS, NKEYS);
    saga_error err;
    setenv("SAGA_KAFKA_BROKERS", "b1:9092,b2:9092", 1);
    assert_int_equal(load(c, &err, NULL, "--config", path, "--kafka.sasl.mechanisms",
                          "PLAIN", "--kafka.security.protocol=SSL", NULL),
                     0);
    collected got = {.stop_at = -1};
    assert_int_equal(saga_config_each(c, "kafka.", collect, &got), 0);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.keys[0], "security.protocol");
    assert_string_equal(got.values[0], "SSL"); /* the flag won over the file */
    assert_string_equal(got.keys[1], "bootstrap.servers");
    assert_string_equal(got.values[1], "b1:9092,b2:9092");
    assert_string_equal(got.keys[2], "sasl.mechanisms");
    assert_string_equal(saga_config_str(c, "kafka.sasl.mechanisms"), "PLAIN");
    assert_null(saga_config_str(c, "kafka.client.id"));

    /* the callback's non-zero return stops the walk and is returned */
    collected first = {.stop_at = 1};
    assert_int_equal(saga_config_each(c, "kafka.", collect, &first), 42);
    assert_int_equal(first.n, 1);

    /* other prefixes work the same way, on declared keys */
    collected pg = {.stop_at = -1};
    assert_int_equal(saga_config_each(c, "poll.", collect, &pg), 0);
    assert_int_equal(pg.n, 1);
    assert_string_equal(pg.keys[0], "timeout");
    saga_config_free(c);

    /* a declared kafka.bootstrap.servers: its own variable beats the alias */
    static const saga_config_key keys[] = {
        {.key = "kafka.bootstrap.servers", .def = "localhost:9092", .help = "brokers"}};
    c = saga_config_new(keys, 1);
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    assert_string_equal(saga_config_str(c, "kafka.bootstrap.servers"), "b1:9092,b2:9092");
    setenv("SAGA_KAFKA_BOOTSTRAP_SERVERS", "own:1", 1);
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    assert_string_equal(saga_config_str(c, "kafka.bootstrap.servers"), "own:1");
    clear_env();
    assert_int_equal(load(c, &err, NULL, NULL), 0);
    assert_string_equal(saga_config_str(c, "kafka.bootstrap.servers"), "localhost:9092");
    saga_config_free(c);
    unlink(path);
}

/* --- usage --------------------------------------------------------------- */

static void test_usage(void **state)
{
    (void)state;
    saga_config *c = saga_config_new(KEYS, NKEYS);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    saga_config_usage(c, f);
    fclose(f);
    assert_non_null(strstr(buf, "  --batch.max=INT\n        commands per transaction\n"
                                "        [env SAGA_BATCH_MAX; default 128; range 1..10000]\n"));
    assert_non_null(strstr(buf, "  --fault.reject.rate=NUMBER, --reject-rate\n"));
    assert_non_null(strstr(buf, "  --log.format=json|text|auto\n"));
    assert_non_null(strstr(buf, "  --dry-run[=true|false]\n"));
    assert_non_null(strstr(buf, "[env SAGA_PG_DSN]\n"));
    assert_non_null(strstr(buf, "[env SAGA_API_TOKEN; default ****]\n"));
    assert_non_null(strstr(buf, "  --kafka.PROPERTY=VALUE\n"));
    assert_non_null(strstr(buf, "  --config FILE\n"));
    assert_null(strstr(buf, "hush"));
    free(buf);
    saga_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_more_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dsn_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_masks_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_passthrough, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
