/*
 * config.h - schema-driven configuration: one `key = value` file, the
 * environment and command-line flags, in that order of precedence (flags
 * win over the environment, which wins over the file, which wins over the
 * declared defaults).
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Each program declares the keys it understands in a static table; anything
 * else is refused at start-up, naming the key, where it was set (file:line,
 * environment variable or flag) and the closest known key. Keys starting
 * with "kafka." need no declaration: they are librdkafka properties, checked
 * against librdkafka while loading and handed over unchanged (minus the
 * "kafka." prefix) through saga_config_each, so TLS and SASL need no code.
 *
 * File syntax (like librdkafka property files):
 *     # a comment: '#' first on the line (after blanks)
 *     pg.dsn = host=127.0.0.1 port=55432 dbname=saga
 *     kafka.security.protocol = SASL_SSL
 * Blanks around key and value are trimmed; the value is otherwise taken
 * verbatim: no quoting, and '#' inside a value is literal (passwords may
 * contain it). A key may appear once per file.
 *
 * Flags: every key is also `--KEY=VALUE` or `--KEY VALUE`, plus the key's
 * optional alias (`.flag`). A BOOL key given as a bare `--KEY` means true
 * (write `--KEY=false` to turn it off). Built in: `--config FILE` (or env
 * SAGA_CONFIG), `--print-config`, `-h`/`--help`. Parsing stops at the first
 * non-option argument or after `--` (POSIX style), so a program with
 * subcommands reads `prog [options] SUBCOMMAND [args]` and may load the
 * subcommand's own table from argv + argi (its argv[0] is the subcommand).
 *
 * Environment: every declared key is read from its .env name, or by default
 * SAGA_ + the key in upper case with '.' and '-' turned into '_'
 * ("batch.max" -> SAGA_BATCH_MAX). An empty variable counts as unset.
 * Undeclared kafka.* keys have no environment form (underscores cannot be
 * mapped back to dots unambiguously), except SAGA_KAFKA_BROKERS, which always
 * sets kafka.bootstrap.servers unless the key's own variable is set.
 *
 * Typical use:
 *     static const saga_config_key KEYS[] = {
 *         {.key = "pg.dsn", .type = SAGA_CONFIG_STRING,
 *          .flags = SAGA_CONFIG_REQUIRED, .help = "PostgreSQL connection string"},
 *         {.key = "batch.max", .type = SAGA_CONFIG_INT, .def = "128",
 *          .range = "1..10000", .help = "commands handled per transaction"},
 *     };
 *     saga_config *c = saga_config_new(KEYS, 2);
 *     saga_error err;
 *     if (saga_config_load(c, argc, argv, NULL, &err) < 0) { print err; exit(2); }
 *     if (saga_config_help_requested(c)) { saga_config_usage(c, stdout); exit(0); }
 *     if (saga_config_print_requested(c)) { saga_config_print(c, stdout); exit(0); }
 *     int64_t batch = saga_config_int(c, "batch.max");
 *
 * A loaded saga_config is read-only: getters may be called from any thread.
 * Loading and adding keys are not thread-safe.
 */
#ifndef SAGA_CONFIG_H
#define SAGA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum saga_config_type {
    SAGA_CONFIG_STRING = 0, /* any text */
    SAGA_CONFIG_INT,        /* 64-bit decimal integer */
    SAGA_CONFIG_DOUBLE,     /* finite number: "0.25", "1e-3" */
    SAGA_CONFIG_BOOL,       /* true|false|yes|no|on|off|1|0, any case */
    SAGA_CONFIG_DURATION,   /* milliseconds, written as saga_duration_parse
                               reads them (duration.h): "250ms", "10s",
                               "5m", "1h", "1d", "1h30m"; a unit is
                               required, a bare number is refused */
    SAGA_CONFIG_ENUM,       /* one of .choices */
    SAGA_CONFIG_LIST        /* comma-separated; items trimmed, empty ones dropped */
} saga_config_type;

enum {
    SAGA_CONFIG_SECRET = 1 << 0,  /* value masked as **** when printed */
    SAGA_CONFIG_REQUIRED = 1 << 1 /* load fails unless some layer sets it */
};

typedef struct saga_config_key {
    const char *key;     /* "batch.max": [a-z0-9._-], starts with a letter */
    saga_config_type type;
    const char *def;     /* default, in file syntax; NULL = unset */
    const char *help;    /* one line for --help */
    const char *choices; /* ENUM only: "json|text|auto" */
    int flags;           /* SAGA_CONFIG_SECRET | SAGA_CONFIG_REQUIRED */
    const char *env;     /* NULL = derived (see above) */
    const char *flag;    /* extra alias such as "--reject-rate", or NULL */
    const char *range;   /* INT, DOUBLE, DURATION: inclusive "MIN..MAX",
                            either side may be empty: "1..", "0..1",
                            "100ms..1h"; NULL = any value */
} saga_config_key;

typedef struct saga_config saga_config;

/* A configuration knowing keys[0..n). The table is borrowed and must outlive
 * the configuration (a static array is typical); nothing is loaded yet
 * (getters see no values until saga_config_load). Returns NULL when out of
 * memory or when the table is malformed (a bad name, range or default, a
 * duplicate key or env/flag name, a reserved name such as "config" or
 * "help"; the reason is logged): fix the table. Owned: saga_config_free. */
saga_config *saga_config_new(const saga_config_key *keys, size_t n);

/* Adds a further table (e.g. a library's keys next to its program's), with
 * the same checks and lifetime rule as saga_config_new. Returns 0 or
 * SAGA_EINVAL/SAGA_ENOMEM with err filled. Call before loading. */
int saga_config_add(saga_config *c, const saga_config_key *keys, size_t n,
                    saga_error *err);

/* NULL is a no-op. */
void saga_config_free(saga_config *c);

/*
 * Loads every layer, from scratch each time: defaults, then the file named
 * by --config (or SAGA_CONFIG), then the environment, then the flags in
 * argv[1..] (a flag given twice: the last wins). argv[0] is skipped.
 *
 * argi: receives the index of the first non-option argument (argc when there
 * is none). When argi is NULL, a non-option argument is an error.
 *
 * When -h/--help appears among the options, only defaults are applied and 0
 * is returned at once (nothing else is validated), so help always works.
 *
 * Returns 0, or a negative code with err filled:
 *   SAGA_EINVAL  unknown key or option, bad value, missing required key;
 *                the message names the key and where it came from, e.g.
 *                `sagad.conf:12: batch.max: invalid value "ten": expected an
 *                integer`, with a hint such as `did you mean "batch.max"?`.
 *                Values of secret keys are never echoed; DSNs are masked.
 *   SAGA_EIO     the config file cannot be read (path and errno text)
 *   SAGA_ELIMIT  the config file is larger than 1 MiB
 *   SAGA_ENOMEM
 */
int saga_config_load(saga_config *c, int argc, char **argv, int *argi,
                     saga_error *err);

/* Applies text in file syntax on top of the current values, as a config file
 * named origin (used in messages: "origin:line: ..."). saga_config_load uses
 * it for --config; tests and fuzzers call it directly. text need not be
 * NUL-terminated; a NUL byte inside it is an error. Same return codes. */
int saga_config_parse(saga_config *c, const char *origin, const char *text,
                      size_t len, saga_error *err);

/* Whether the last load saw -h/--help, or --print-config. */
bool saga_config_help_requested(const saga_config *c);
bool saga_config_print_requested(const saga_config *c);

/*
 * Getters. key must be declared with a matching type (checked by assert():
 * asking for an undeclared key is a programming error), except that
 * saga_config_str reads any declared key as its text, and also undeclared
 * kafka.* keys. Returned strings are borrowed, valid until the next load or
 * saga_config_free.
 */
const char *saga_config_str(const saga_config *c, const char *key); /* NULL when unset */
int64_t saga_config_int(const saga_config *c, const char *key);     /* 0 when unset */
double saga_config_double(const saga_config *c, const char *key);   /* DOUBLE or INT */
bool saga_config_bool(const saga_config *c, const char *key);
int64_t saga_config_ms(const saga_config *c, const char *key);      /* DURATION */
/* LIST items; *n receives their count. The array is borrowed. */
const char *const *saga_config_list(const saga_config *c, const char *key,
                                    size_t *n);

/* Whether some layer (including a default) gave key a value. */
bool saga_config_is_set(const saga_config *c, const char *key);

/* Calls cb for every key that has a value and starts with prefix (declared
 * keys in declaration order, then undeclared kafka.* keys in the order they
 * were first set), passing the key with the prefix removed:
 *     saga_config_each(c, "kafka.", set_rdkafka, conf);
 * hands "bootstrap.servers", "security.protocol", ... to rd_kafka_conf_set.
 * Stops at the first non-zero return of cb and returns it; else 0. */
int saga_config_each(const saga_config *c, const char *prefix,
                     int (*cb)(const char *key, const char *value, void *user),
                     void *user);

/* Prints the effective configuration as a valid config file (each value
 * that did not come from a default is preceded by a comment saying where it
 * came from). Secrets are masked as ****: keys flagged SAGA_CONFIG_SECRET,
 * any key whose name contains "password" or "secret" (kafka.sasl.password,
 * kafka.ssl.key.password, ...), kafka.ssl.key.pem and
 * kafka.sasl.oauthbearer.config, and the password inside any DSN or URL
 * value (see saga_dsn_mask). */
void saga_config_print(const saga_config *c, FILE *out);

/* Prints every option with its type, environment variable, default and help
 * (for --help), then the kafka.* pass-through and the built-in options. */
void saga_config_usage(const saga_config *c, FILE *out);

/* Copies dsn into out with passwords replaced by ****: `password=...` and
 * `sslpassword=...` in libpq keyword form (quoted values included), the
 * password of `scheme://user:password@host` URIs, and password= query
 * parameters. Other strings are copied unchanged. Never writes an unmasked
 * secret, even when truncating. Returns 0, or SAGA_ELIMIT when out was too
 * small (out is still NUL-terminated when outlen > 0). */
int saga_dsn_mask(const char *dsn, char *out, size_t outlen);

#endif
