/*
 * fuzz_config.c - libFuzzer target for the configuration parsers: the
 * `key = value` file syntax (every value type, ranges, secrets, kafka.*
 * pass-through checked by librdkafka), the command-line scanner, DSN masking
 * and W3C traceparent parsing.
 *
 * Input: a first byte 'A' makes the rest a list of command-line arguments
 * (one per line); otherwise the whole input is a config file. Beyond "no
 * crash, no leak, no undefined behaviour", it checks properties that must
 * always hold: every refusal carries a message (naming the file for file
 * errors), masked output is never longer than the buffer, and a traceparent
 * that parses formats back to one that parses with the same ids.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "trace.h"

static const saga_config_key KEYS[] = {
    {.key = "pg.dsn", .type = SAGA_CONFIG_STRING, .help = "dsn"},
    {.key = "http.listen", .type = SAGA_CONFIG_STRING, .def = "127.0.0.1:9464", .help = "addr"},
    {.key = "log.level", .type = SAGA_CONFIG_ENUM, .def = "info",
     .choices = "debug|info|warn|error", .help = "level"},
    {.key = "batch.max", .type = SAGA_CONFIG_INT, .def = "128", .range = "1..10000",
     .help = "batch"},
    {.key = "any.int", .type = SAGA_CONFIG_INT, .help = "int"},
    {.key = "poll.timeout", .type = SAGA_CONFIG_DURATION, .def = "250ms",
     .range = "1ms..1h", .help = "duration"},
    {.key = "any.duration", .type = SAGA_CONFIG_DURATION, .help = "duration"},
    {.key = "fault.reject.rate", .type = SAGA_CONFIG_DOUBLE, .def = "0", .range = "0..1",
     .flag = "--reject-rate", .help = "rate"},
    {.key = "dry-run", .type = SAGA_CONFIG_BOOL, .def = "false", .help = "bool"},
    {.key = "topics", .type = SAGA_CONFIG_LIST, .help = "list"},
    {.key = "api.token", .type = SAGA_CONFIG_STRING, .flags = SAGA_CONFIG_SECRET,
     .help = "secret"},
    {.key = "kafka.bootstrap.servers", .type = SAGA_CONFIG_STRING, .help = "brokers"},
};
#define NKEYS (sizeof KEYS / sizeof *KEYS)

static int count_cb(const char *key, const char *value, void *user)
{
    (void)key;
    (void)value;
    (*(int *)user)++;
    return 0;
}

static void exercise(saga_config *c, FILE *null)
{
    size_t n;
    for (size_t i = 0; i < NKEYS; i++)
        saga_config_str(c, KEYS[i].key);
    saga_config_int(c, "batch.max");
    saga_config_int(c, "any.int");
    saga_config_ms(c, "poll.timeout");
    saga_config_ms(c, "any.duration");
    saga_config_double(c, "fault.reject.rate");
    saga_config_bool(c, "dry-run");
    const char *const *items = saga_config_list(c, "topics", &n);
    for (size_t i = 0; i < n; i++)
        if (!items[i][0])
            __builtin_trap(); /* empty items are dropped */
    int count = 0;
    saga_config_each(c, "kafka.", count_cb, &count);
    saga_config_print(c, null);
}

static void fuzz_file(const char *text, size_t len, FILE *null)
{
    saga_config *c = saga_config_new(KEYS, NKEYS);
    if (!c)
        return;
    saga_error err;
    if (saga_config_load(c, 0, NULL, NULL, &err) == 0) {
        int rc = saga_config_parse(c, "fuzz.conf", text, len, &err);
        if (rc < 0 && (rc != err.code || strncmp(err.msg, "fuzz.conf:", 10) != 0))
            __builtin_trap();
        exercise(c, null);
    }
    saga_config_free(c);
}

static void fuzz_args(char *text, FILE *null)
{
    char *argv[64] = {"fuzz"};
    int argc = 1;
    for (char *line = text; line && argc < 64;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        /* --config would open a file the fuzzer names (/dev/stdin blocks) */
        if (!(strncmp(line, "--config", 8) == 0 && (line[8] == '\0' || line[8] == '=')))
            argv[argc++] = line;
        line = nl ? nl + 1 : NULL;
    }
    saga_config *c = saga_config_new(KEYS, NKEYS);
    if (!c)
        return;
    saga_error err;
    int argi = -1;
    int rc = saga_config_load(c, argc, argv, &argi, &err);
    if (rc < 0 && (rc != err.code || !err.msg[0]))
        __builtin_trap();
    if (rc == 0 && (argi < 1 || argi > argc))
        __builtin_trap();
    if (rc == 0)
        exercise(c, null);
    saga_config_free(c);
}

static void fuzz_mask_and_trace(const char *s, size_t len)
{
    char out[512];
    size_t outlen = len % sizeof out;
    saga_dsn_mask(s, out, outlen);
    if (outlen && strlen(out) >= outlen)
        __builtin_trap();
    saga_dsn_mask(s, out, sizeof out);

    saga_trace t, u;
    if (saga_trace_parse(s, &t) == 0) {
        char tp[SAGA_TRACEPARENT_SIZE], child[SAGA_TRACEPARENT_SIZE];
        saga_trace_format(&t, tp);
        if (saga_trace_parse(tp, &u) != 0 || strcmp(t.trace_id, u.trace_id) ||
            strcmp(t.parent_id, u.parent_id))
            __builtin_trap();
        saga_trace_child(s, child);
        if (saga_trace_parse(child, &u) != 0 || strcmp(t.trace_id, u.trace_id))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null;
    if (!null) {
        saga_log_setup("fuzz_config", SAGA_LOG_ERROR + 1, SAGA_LOG_TEXT);
        null = fopen("/dev/null", "w");
    }
    if (size > 64 * 1024)
        return 0;
    /* Loading librdkafka plugins from fuzzer-chosen paths tests dlopen, not
     * the parser. */
    if (memmem(data, size, "plugin", 6))
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (size && data[0] == 'A')
        fuzz_args(s + 1, null);
    else
        fuzz_file(s, size, null);
    if (!memchr(data, '\0', size))
        fuzz_mask_and_trace(s, size);
    free(s);
    return 0;
}
