/*
 * config_internal.h - what the config_*.c files share; nothing outside them
 * includes it (the public interface is config.h).
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * The configuration is one module split by concern: config.c the key table
 * and the getters, config_value.c typed values and the one setter every
 * layer goes through, config_names.c the names that exist (typo hints,
 * librdkafka's properties), config_load.c the layers (defaults, file,
 * environment, flags), config_print.c --print-config, --help and DSN
 * masking. They share the representation below rather than accessors
 * because they are one module: the split is for the reader, not a boundary.
 */
#ifndef SAGA_CONFIG_INTERNAL_H
#define SAGA_CONFIG_INTERNAL_H

#include "config.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_KEY_MAX 100
#define CONFIG_ECHO_MAX 80
#define CONFIG_KAFKA_PREFIX "kafka."

typedef enum config_source {
    SRC_NONE,
    SRC_DEFAULT,
    SRC_FILE,
    SRC_ENV,
    SRC_FLAG
} config_source;

typedef struct config_bounds {
    bool has_min, has_max;
    double min, max; /* INT and DURATION values are exact below 2^53 */
    char min_s[32], max_s[32];
} config_bounds;

typedef struct config_value {
    char *raw;        /* owned; NULL = unset */
    config_source src;
    char *origin;     /* owned; "file.conf:12", "SAGA_X" or "--x"; NULL for defaults */
    unsigned gen;     /* saga_config_parse call that set it, for duplicates */
    int line;
    int64_t i;        /* INT, DURATION; BOOL as 0/1 */
    double d;         /* DOUBLE, and INT as a double */
    char **items;     /* LIST: owned items */
    size_t nitems;
} config_value;

typedef struct config_extra { /* an undeclared kafka.* key */
    char *key;
    config_value v;
} config_extra;

struct saga_config {
    const saga_config_key **keys;
    config_bounds *bounds;
    config_value *vals;
    size_t nkeys, cap;
    config_extra *extras;
    size_t nextras, extras_cap;
    bool help, print;
    unsigned gen;
    rd_kafka_conf_t *kconf; /* scratch: validates kafka.* values */
};

/* --- config.c: the key table --------------------------------------------- */

bool config_has_prefix(const char *s, const char *p);
/* Owned copy of s[0..n), NUL-terminated; NULL when out of memory. */
char *config_strndup(const char *s, size_t n);
/* The key's environment variable: .env, or SAGA_ + the key in upper case. */
void config_env_name(const saga_config_key *k, char out[CONFIG_KEY_MAX + 8]);
/* Index of the declared key name[0..len), or -1. */
ssize_t config_key_index(const saga_config *c, const char *name, size_t len);
config_extra *config_extra_find(const saga_config *c, const char *name, size_t len);
/* Whether name[0..len) may be an undeclared kafka.* key. */
bool config_kafka_extra_name(const char *name, size_t len);
/* Clears every value (keeps the table): the start of each load. */
void config_values_reset(saga_config *c);

/* --- config_value.c: typed values and the one setter --------------------- */

/* Whether a key's value must never be shown (SAGA_CONFIG_SECRET or a name
 * that says so). k is NULL for an undeclared kafka.* key. */
bool config_is_secret(const saga_config_key *k, const char *name);
/* Parses "MIN..MAX" (either side optional) with the key's own type; false
 * when the range is malformed. */
bool config_bounds_parse(const saga_config_key *k, config_bounds *b);
/* Whether def is a valid value of k within b; why says what was expected. */
bool config_value_valid(const saga_config_key *k, const config_bounds *b,
                        const char *def, char *why, size_t len);
void config_value_clear(config_value *v);
/* Validates raw for key k (NULL for an undeclared kafka.* key named name)
 * and stores it in v, which keeps its gen and line. where prefixes error
 * messages; origin (copied, may be NULL) is what --print-config shows. */
int config_set_value(saga_config *c, const saga_config_key *k,
                     const config_bounds *b, config_value *v, const char *name,
                     const char *raw, config_source src, const char *origin,
                     const char *where, saga_error *err);
/* Sets an undeclared kafka.* key name (NUL-terminated, len long); its entry
 * is created only once the value is accepted. *out (may be NULL) receives
 * the entry. */
int config_set_extra(saga_config *c, const char *name, size_t len,
                     const char *raw, config_source src, const char *origin,
                     const char *where, saga_error *err, config_extra **out);

/* --- config_names.c: the names that exist -------------------------------- */

/* Sets the hint of an unknown-key error: the closest declared key, if close
 * enough to be a typo; dashes ("" or "--") is written before it. */
void config_hint_unknown(const saga_config *c, const char *name,
                         const char *dashes, saga_error *err);
/* Hands a kafka.* value to a scratch librdkafka configuration: librdkafka
 * is the only authority on its own properties. */
int config_kafka_check(saga_config *c, const saga_config_key *k,
                       const char *where, const char *name, const char *raw,
                       saga_error *err);

/* --- config_print.c ------------------------------------------------------ */

/* The value as it may appear in a message: "" for a secret, else
 * ` "value"` with DSNs masked and long values shortened. */
void config_echo_value(const saga_config_key *k, const char *name,
                       const char *raw, char *out, size_t len);

#endif
