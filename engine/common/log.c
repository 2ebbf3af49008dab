/*
 * log.c - one line per event on stderr. JSON lines are built by hand (no
 * allocation, fixed buffer, escaped per RFC 8259) because logging must keep
 * working when memory or the database is what failed. Each line goes out in
 * a single write(2), so lines of concurrent threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "saga";
static saga_log_level threshold = SAGA_LOG_INFO;
static bool json = true;

static const char *LEVELS[] = {"debug", "info", "warn", "error"};

void saga_log_setup(const char *program, saga_log_level level,
                    saga_log_format format)
{
    if (program)
        prog = program;
    threshold = level;
    json = format == SAGA_LOG_JSON ||
           (format == SAGA_LOG_AUTO && !isatty(STDERR_FILENO));
}

int saga_log_level_parse(const char *s, saga_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, LEVELS[i]) == 0) {
            *out = (saga_log_level)i;
            return 0;
        }
    return -1;
}

int saga_log_format_parse(const char *s, saga_log_format *out)
{
    if (strcmp(s, "auto") == 0)
        *out = SAGA_LOG_AUTO;
    else if (strcmp(s, "json") == 0)
        *out = SAGA_LOG_JSON;
    else if (strcmp(s, "text") == 0)
        *out = SAGA_LOG_TEXT;
    else
        return -1;
    return 0;
}

bool saga_log_enabled(saga_log_level level)
{
    return level >= threshold;
}

typedef struct buf {
    char d[4096];
    size_t n;
} buf;

static void put(buf *b, const char *s, size_t len)
{
    if (len > sizeof b->d - 2 - b->n)
        len = sizeof b->d - 2 - b->n;
    memcpy(b->d + b->n, s, len);
    b->n += len;
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_json_str(buf *b, const char *s)
{
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c == '\n') {
            put(b, "\\n", 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        } else {
            put(b, s, 1);
        }
    }
    put(b, "\"", 1);
}

static void field(buf *b, const char *key, const char *val)
{
    if (!val || !*val)
        return;
    if (json) {
        put(b, ",\"", 2);
        puts_(b, key);
        put(b, "\":", 2);
        put_json_str(b, val);
    } else {
        put(b, " ", 1);
        puts_(b, key);
        put(b, "=", 1);
        puts_(b, val);
    }
}

void saga_log(saga_log_level level, const saga_log_ctx *ctx, const char *fmt,
              ...)
{
    if (level < threshold)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[96];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
    char attempt[16] = "";
    if (ctx && ctx->attempt > 0)
        snprintf(attempt, sizeof attempt, "%d", ctx->attempt);

    buf b;
    b.n = 0;
    if (json) {
        puts_(&b, "{\"ts\":\"");
        puts_(&b, ts);
        puts_(&b, "\",\"level\":\"");
        puts_(&b, LEVELS[level]);
        puts_(&b, "\",\"prog\":");
        put_json_str(&b, prog);
        puts_(&b, ",\"msg\":");
        put_json_str(&b, msg);
    } else {
        puts_(&b, ts);
        put(&b, " ", 1);
        puts_(&b, prog);
        put(&b, " ", 1);
        puts_(&b, LEVELS[level]);
        put(&b, ": ", 2);
        puts_(&b, msg);
    }
    if (ctx) {
        field(&b, "saga_id", ctx->saga_id);
        field(&b, "step", ctx->step);
        field(&b, "action", ctx->action);
        field(&b, "attempt", attempt);
        field(&b, "traceparent", ctx->traceparent);
    }
    if (json)
        put(&b, "}", 1);
    b.d[b.n++] = '\n';
    ssize_t w = write(STDERR_FILENO, b.d, b.n);
    (void)w;
}
