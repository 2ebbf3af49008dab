/*
 * log.h - structured logs on stderr: JSON lines (the default when stderr is
 * not a terminal) or human text. Every line can carry the saga context
 * (saga_id, step, action, attempt, traceparent) so one order can be followed
 * across sagad and every worker with a single grep of its trace id.
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 */
#ifndef SAGA_LOG_H
#define SAGA_LOG_H

#include <stdbool.h>

typedef enum saga_log_level {
    SAGA_LOG_DEBUG = 0,
    SAGA_LOG_INFO,
    SAGA_LOG_WARN,
    SAGA_LOG_ERROR
} saga_log_level;

typedef enum saga_log_format {
    SAGA_LOG_AUTO = 0, /* json unless stderr is a terminal */
    SAGA_LOG_JSON,
    SAGA_LOG_TEXT
} saga_log_format;

/* Optional context of a line; every field may be NULL / 0. Borrowed. */
typedef struct saga_log_ctx {
    const char *saga_id;
    const char *step;
    const char *action;
    int attempt;
    const char *traceparent;
} saga_log_ctx;

/* Sets the program name (borrowed, must outlive logging), threshold and
 * format. Safe to call again (e.g. after reading the config). */
void saga_log_setup(const char *program, saga_log_level level,
                    saga_log_format format);

/* Parses "debug", "info", "warn", "error" / "auto", "json", "text". */
int saga_log_level_parse(const char *s, saga_log_level *out);
int saga_log_format_parse(const char *s, saga_log_format *out);

bool saga_log_enabled(saga_log_level level);

/* One line; thread-safe (a line is written with a single write). */
void saga_log(saga_log_level level, const saga_log_ctx *ctx, const char *fmt,
              ...) __attribute__((format(printf, 3, 4)));

#define saga_log_debug(ctx, ...) saga_log(SAGA_LOG_DEBUG, ctx, __VA_ARGS__)
#define saga_log_info(ctx, ...) saga_log(SAGA_LOG_INFO, ctx, __VA_ARGS__)
#define saga_log_warn(ctx, ...) saga_log(SAGA_LOG_WARN, ctx, __VA_ARGS__)
#define saga_log_error(ctx, ...) saga_log(SAGA_LOG_ERROR, ctx, __VA_ARGS__)

#endif
