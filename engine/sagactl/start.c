/*
 * start.c - `sagactl start`: starts a saga through saga_start, the same C
 * API applications call, so the CLI can never accept an input the API
 * would refuse or vice versa.
 *
 * --wait polls the saga's row rather than LISTENing: the engine announces
 * no per-saga notifications, and a 100 ms poll of one primary-key row is
 * negligible next to the saga's own round trips through Kafka.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "defs.h"
#include "file.h"
#include "sagactl.h"
#include "start.h"

#define POLL_MS 100
#define DEFAULT_WAIT_MS 60000

static const cli_opt OPTS[] = {
    {"input", CLI_VALUE, "JSON", "the saga's input object, or @FILE to read it"},
    {"key", CLI_VALUE, "KEY", "idempotency key: a repeated key returns the "
                              "existing saga"},
    {"traceparent", CLI_VALUE, "TP", "W3C traceparent to continue a trace"},
    {"deadline", CLI_VALUE, "DUR", "compensate if not every reserve succeeded within DUR "
                                   "(overrides the definition's deadline_ms)"},
    {"at", CLI_VALUE, "TIME", "start at TIME (2026-12-24T00:00:00Z): stored now as SCHEDULED"},
    {"in", CLI_VALUE, "DUR", "start in DUR (10m): stored now as SCHEDULED"},
    {"tag", CLI_VALUE, "K=V", "a business key to find the saga by (repeatable)"},
    {"wait", CLI_FLAG, NULL, "wait for a terminal status and print it"},
    {"timeout", CLI_VALUE, "DUR", "with --wait: give up after DUR (default 60s)"},
    {"json", CLI_FLAG, NULL, "print one JSON document"},
};

/* Reads @FILE (or @- for stdin) into an owned string. The file may be
 * larger than the input limit, which applies to the compact JSON that
 * saga_start measures: twice the limit leaves room for indentation. */
static char *read_input(const char *arg, saga_error *err)
{
    if (arg[0] != '@') {
        char *copy = strdup(arg);
        if (!copy)
            saga_error_set(err, SAGA_ENOMEM, "out of memory");
        return copy;
    }
    char *buf;
    size_t len;
    size_t max = 2 * (size_t)SAGA_INPUT_MAX_BYTES;
    int rc = strcmp(arg + 1, "-") == 0
                 ? saga_file_read_stream(stdin, "standard input", max, &buf,
                                         &len, err)
                 : saga_file_read(arg + 1, max, &buf, &len, err);
    return rc < 0 ? NULL : buf;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until the saga is terminal or the deadline passes; fills status. */
static int wait_terminal(cli *c, const char *id, int64_t timeout_ms,
                         char *status, size_t cap, saga_error *err)
{
    int64_t deadline = saga_now_ms() + timeout_ms;
    const char *params[1] = {id};
    for (;;) {
        PGresult *r = cli_query(c, saga_query_saga_status, 1, params, err);
        if (!r)
            return err->code;
        snprintf(status, cap, "%s", PQntuples(r) ? cli_get(r, 0, 0) : "");
        PQclear(r);
        saga_status st;
        if (saga_status_parse(status, &st) == 0 && saga_status_terminal(st))
            return 0;
        if (saga_now_ms() >= deadline)
            return SAGA_ELIMIT;
        sleep_ms(POLL_MS);
    }
}

static int check(cli *c, const cli_args *a)
{
    (void)c;
    saga_error err;
    int64_t timeout;
    if (!cli_value(a, "input")) {
        saga_error_set(&err, SAGA_EINVAL, "missing --input");
        saga_error_hint(&err, "give the input as JSON: --input '{\"order_id\": "
                              "\"o-1\"}' (or --input @file.json)");
        return cli_usage_fail(&err);
    }
    if (cli_value_duration(a, "timeout", &timeout, &err))
        return cli_usage_fail(&err);
    saga_start_req req = {0};
    char *tags = NULL;
    int rc = cli_start_flows(a, saga_clock_now_ms(), &req, &tags, &err);
    free(tags);
    if (rc)
        return cli_usage_fail(&err);
    return CLI_EXIT_OK;
}

static int run(cli *c, const cli_args *a)
{
    saga_error err;
    char name[SAGA_SPEC_MAX_NAME + 1];
    int version = 0;
    if (saga_defs_parse_ref(a->pos[0], name, sizeof name, &version, &err))
        return cli_fail(c, &err);
    const char *input_arg = cli_value(a, "input");
    int64_t timeout = DEFAULT_WAIT_MS;
    cli_value_duration(a, "timeout", &timeout, &err);
    char *input = read_input(input_arg, &err);
    if (!input)
        return cli_fail(c, &err);
    saga_start_req req = {.name = name, .version = version, .input_json = input,
                          .idempotency_key = cli_value(a, "key"),
                          .traceparent = cli_value(a, "traceparent")};
    char *tags = NULL;
    saga_start_result res;
    int rc = cli_start_flows(a, saga_clock_now_ms(), &req, &tags, &err);
    if (rc == 0)
        rc = saga_start(c->conn, &req, &res, &err);
    free(tags);
    free(input);
    if (rc)
        return cli_fail(c, &err);
    bool json = cli_flag(a, "json");
    if (!cli_flag(a, "wait")) {
        if (json)
            return cli_json_print(json_pack("{s:s, s:s, s:i, s:b}", "id", res.id,
                                            "name", name, "version", res.version,
                                            "existed", res.existed),
                                  false);
        printf("%s\n", res.id);
        if (res.existed)
            fprintf(stderr, "note: idempotency key already used: this is the "
                            "existing saga\n");
        return CLI_EXIT_OK;
    }
    if (!json) {
        printf("%s\n", res.id);
        fflush(stdout);
    }
    char status[32];
    rc = wait_terminal(c, res.id, timeout, status, sizeof status, &err);
    if (rc && rc != SAGA_ELIMIT)
        return cli_fail(c, &err);
    int exit_status = rc == SAGA_ELIMIT              ? CLI_EXIT_TIMEOUT
                      : strcmp(status, "COMPLETED") == 0 ? CLI_EXIT_OK
                                                         : CLI_EXIT_COMPENSATED;
    if (json) {
        int prc = cli_json_print(json_pack("{s:s, s:s, s:i, s:b, s:s, s:b}", "id",
                                           res.id, "name", name, "version",
                                           res.version, "existed", res.existed,
                                           "status", status, "timed_out",
                                           rc == SAGA_ELIMIT),
                                 false);
        return prc ? prc : exit_status;
    }
    if (rc == SAGA_ELIMIT) {
        char d[SAGA_TIME_TEXT_MAX];
        saga_duration_format(timeout, 2, d, sizeof d);
        fprintf(stderr, "sagactl: error: saga %s still %s after %s\n"
                        "hint: sagactl show %s shows what it is waiting for\n",
                res.id, status, d, res.id);
        return exit_status;
    }
    printf("%s\n", status);
    return exit_status;
}

const cli_command cli_cmd_start = {
    .name = "start",
    .synopsis = "NAME[@VERSION] --input JSON [--key KEY] [--traceparent TP] "
                "[--deadline DUR] [--at TIME | --in DUR] [--tag K=V]... "
                "[--wait [--timeout DUR]] [--json]",
    .summary = "start a saga and print its id",
    .description =
        "Starts a saga of definition NAME (its latest version unless @VERSION is\n"
        "given) with the input object, and prints the saga id. The input is\n"
        "checked against the definition first; an invalid input is refused with\n"
        "the field named, and nothing is stored. sagad runs the saga.\n"
        "\n"
        "--deadline DUR: if not every reserve has succeeded DUR after the saga\n"
        "starts, it compensates (\"deadline of 30s passed\"); once every reserve\n"
        "succeeded the deadline no longer applies. --at TIME / --in DUR store the\n"
        "saga at once as SCHEDULED; it starts when due (abort cancels it, sending\n"
        "nothing). --tag K=V (repeatable) adds business keys for `list --tag`.\n"
        "\n"
        "With --wait, prints the id, then waits for a terminal status and prints\n"
        "it. Exit status with --wait: 0 COMPLETED, 4 COMPENSATED, 5 timed out.",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 1,
    .max_pos = 1,
    .needs_db = true,
    .check = check,
    .run = run,
};
