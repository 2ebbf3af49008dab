/*
 * output.c - how sagactl talks to people and scripts: error lines, exit
 * codes, JSON documents, times, colours and tables.
 *
 * Human output follows the terminal (width, colour) and the clock (relative
 * times), script output (--json) never does: JSON times are always RFC 3339
 * UTC and durations integer milliseconds, so a script's parse does not
 * depend on where or when it ran.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sagactl.h"

int cli_exit_code(const cli *c, int code)
{
    switch (code) {
    case SAGA_OK:
        return CLI_EXIT_OK;
    case SAGA_EDB:
        /* A lost or never-made connection is "cannot connect"; a statement
         * that failed on a live connection is an ordinary failure. */
        if (!c->conn || PQstatus(c->conn) != CONNECTION_OK)
            return CLI_EXIT_CONNECT;
        return CLI_EXIT_FAIL;
    default:
        return CLI_EXIT_FAIL;
    }
}

/* Prints s on one line: line breaks (libpq's messages have them) and the
 * indentation after them become "; ". */
static void put_one_line(FILE *out, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p != '\n' && *p != '\r') {
            fputc(*p, out);
            continue;
        }
        while (p[1] == '\n' || p[1] == '\r' || p[1] == ' ' || p[1] == '\t')
            p++;
        if (p[1])
            fputs("; ", out);
    }
    fputc('\n', out);
}

int cli_fail(cli *c, const saga_error *err)
{
    fprintf(stderr, "%s: error: ", c->prog);
    put_one_line(stderr, err->msg[0] ? err->msg : saga_strerror(err->code));
    if (err->hint[0]) {
        fputs("hint: ", stderr);
        put_one_line(stderr, err->hint);
    }
    return cli_exit_code(c, err->code);
}

int cli_usage_fail(const saga_error *err)
{
    fputs("sagactl: error: ", stderr);
    put_one_line(stderr, err->msg);
    if (err->hint[0]) {
        fputs("hint: ", stderr);
        put_one_line(stderr, err->hint);
    }
    return CLI_EXIT_USAGE;
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    char msg[SAGA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sagactl: error: %s\n", msg);
    if (cmd)
        fprintf(stderr, "usage: sagactl %s %s\n", cmd->name, cmd->synopsis);
    return CLI_EXIT_USAGE;
}

int cli_json_print(json_t *doc, bool compact)
{
    if (!doc) {
        fputs("sagactl: error: out of memory\n", stderr);
        return CLI_EXIT_FAIL;
    }
    size_t flags = compact ? JSON_COMPACT | JSON_REAL_PRECISION(15) : CLI_JSON_PRETTY;
    int rc = json_dumpf(doc, stdout, flags);
    json_decref(doc);
    fputc('\n', stdout);
    if (rc) {
        fputs("sagactl: error: cannot write JSON output\n", stderr);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

void cli_time_text(const cli *c, int64_t ms, char *buf, size_t cap)
{
    if (ms == 0)
        snprintf(buf, cap, "-");
    else if (c->utc)
        saga_time_format_utc(ms, buf, cap);
    else
        saga_time_relative(ms, c->now_ms, buf, cap);
}

json_t *cli_time_json(int64_t ms)
{
    if (ms == 0)
        return json_null();
    char buf[SAGA_TIME_TEXT_MAX];
    saga_time_format_utc(ms, buf, sizeof buf);
    return json_string(buf);
}

void cli_duration_text(int64_t ms, char *buf, size_t cap)
{
    if (ms < 0)
        snprintf(buf, cap, "-");
    else
        saga_duration_format(ms, 2, buf, cap);
}

const char *cli_status_color(const char *status)
{
    static const struct {
        const char *status, *sgr;
    } colors[] = {
        {"COMPLETED", "32"},   {"CONFIRMED", "32"},  {"RESERVED", "32"},
        {"COMPENSATED", "33"}, {"REJECTED", "33"},   {"FAILED", "31"},
        {"COMPENSATING", "35"}, {"RUNNING", "36"},   {"CONFIRMING", "36"},
        {"RESERVING", "36"},   {"PENDING", "2"},
    };
    for (size_t i = 0; status && i < sizeof colors / sizeof colors[0]; i++)
        if (strcmp(colors[i].status, status) == 0)
            return colors[i].sgr;
    return NULL;
}

saga_table *cli_table(size_t n_cols)
{
    saga_table *t = saga_table_new(n_cols);
    if (!t) {
        fputs("sagactl: error: out of memory\n", stderr);
        exit(CLI_EXIT_FAIL);
    }
    return t;
}

void cli_table_print(const cli *c, const saga_table *t)
{
    saga_table_print(t, stdout, c->width, true, c->color);
}

bool cli_confirm(const cli *c, bool yes, const char *fmt, ...)
{
    if (yes || !c->stdin_tty)
        return true;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" [y/N] ", stderr);
    fflush(stderr);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return false;
    return line[0] == 'y' || line[0] == 'Y';
}
