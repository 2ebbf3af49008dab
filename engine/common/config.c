/*
 * config.c - the key table: declaring keys, looking them up, reading values.
 *
 * A program's keys are a static table it keeps (borrowed here), checked once
 * when added so that every later failure is the user's, not the
 * programmer's: a bad name, range or default, or a name, flag or variable
 * that two keys would share, makes saga_config_new fail at once. Values are
 * kept as text plus their parsed form (config_value.c), so the getters here
 * are plain reads that may run on any thread once loading is done. How the
 * module is split: config_internal.h.
 */
#include "config_internal.h"

#include "log.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const RESERVED[] = {"config", "help", "print-config", "h"};

/* --- names ---------------------------------------------------------------- */

bool config_has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

char *config_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void config_env_name(const saga_config_key *k, char out[CONFIG_KEY_MAX + 8])
{
    if (k->env) {
        snprintf(out, CONFIG_KEY_MAX + 8, "%s", k->env);
        return;
    }
    size_t n = (size_t)snprintf(out, CONFIG_KEY_MAX + 8, "SAGA_");
    for (const char *p = k->key; *p && n < CONFIG_KEY_MAX + 7; p++)
        out[n++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

ssize_t config_key_index(const saga_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nkeys; i++)
        if (strlen(c->keys[i]->key) == len && strncmp(c->keys[i]->key, name, len) == 0)
            return (ssize_t)i;
    return -1;
}

config_extra *config_extra_find(const saga_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nextras; i++)
        if (strlen(c->extras[i].key) == len && strncmp(c->extras[i].key, name, len) == 0)
            return &c->extras[i];
    return NULL;
}

bool config_kafka_extra_name(const char *name, size_t len)
{
    size_t p = strlen(CONFIG_KAFKA_PREFIX);
    return len > p && strncmp(name, CONFIG_KAFKA_PREFIX, p) == 0;
}

/* --- construction -------------------------------------------------------- */

static bool valid_key_name(const char *s)
{
    if (!s || !islower((unsigned char)s[0]) || strlen(s) > CONFIG_KEY_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
            *p != '.' && *p != '-' && *p != '_')
            return false;
    return true;
}

static int add_one(saga_config *c, const saga_config_key *k, saga_error *err)
{
    if (!valid_key_name(k->key))
        return saga_error_set(err, SAGA_EINVAL, "invalid config key name \"%s\"",
                              k->key ? k->key : "");
    for (size_t i = 0; i < sizeof RESERVED / sizeof *RESERVED; i++)
        if (strcmp(k->key, RESERVED[i]) == 0)
            return saga_error_set(err, SAGA_EINVAL, "config key \"%s\" is reserved "
                                  "for a built-in option", k->key);
    char env[CONFIG_KEY_MAX + 8], other[CONFIG_KEY_MAX + 8];
    config_env_name(k, env);
    for (size_t i = 0; i < c->nkeys; i++) {
        const saga_config_key *o = c->keys[i];
        config_env_name(o, other);
        if (strcmp(o->key, k->key) == 0 || strcmp(env, other) == 0 ||
            (k->flag && o->flag && strcmp(k->flag, o->flag) == 0) ||
            (k->flag && strcmp(k->flag + 2, o->key) == 0) ||
            (o->flag && strcmp(o->flag + 2, k->key) == 0))
            return saga_error_set(err, SAGA_EINVAL, "config key \"%s\" clashes "
                                  "with \"%s\" (same name, flag or environment "
                                  "variable)", k->key, o->key);
    }
    if (k->flag && (!config_has_prefix(k->flag, "--") || !valid_key_name(k->flag + 2)))
        return saga_error_set(err, SAGA_EINVAL, "config key \"%s\": flag alias "
                              "\"%s\" must look like --name", k->key, k->flag);
    if (k->type == SAGA_CONFIG_ENUM && (!k->choices || !*k->choices))
        return saga_error_set(err, SAGA_EINVAL, "config key \"%s\": an ENUM needs "
                              "choices", k->key);
    config_bounds b;
    if (!config_bounds_parse(k, &b))
        return saga_error_set(err, SAGA_EINVAL, "config key \"%s\": invalid range "
                              "\"%s\"", k->key, k->range ? k->range : "");
    if (k->def) {
        char why[256];
        if (!config_value_valid(k, &b, k->def, why, sizeof why))
            return saga_error_set(err, SAGA_EINVAL, "config key \"%s\": invalid "
                                  "default \"%s\": %s", k->key, k->def, why);
    }
    if (c->nkeys == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        const saga_config_key **keys = realloc(c->keys, cap * sizeof *keys);
        if (keys)
            c->keys = keys;
        config_bounds *bs = realloc(c->bounds, cap * sizeof *bs);
        if (bs)
            c->bounds = bs;
        config_value *vals = realloc(c->vals, cap * sizeof *vals);
        if (vals)
            c->vals = vals;
        if (!keys || !bs || !vals)
            return saga_error_set(err, SAGA_ENOMEM, "out of memory");
        c->cap = cap;
    }
    c->keys[c->nkeys] = k;
    c->bounds[c->nkeys] = b;
    memset(&c->vals[c->nkeys], 0, sizeof c->vals[c->nkeys]);
    c->nkeys++;
    return 0;
}

int saga_config_add(saga_config *c, const saga_config_key *keys, size_t n,
                    saga_error *err)
{
    saga_error_clear(err);
    for (size_t i = 0; i < n; i++) {
        int rc = add_one(c, &keys[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

saga_config *saga_config_new(const saga_config_key *keys, size_t n)
{
    saga_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    saga_error err;
    if (saga_config_add(c, keys, n, &err) < 0) {
        saga_log_error(NULL, "%s", err.msg);
        saga_config_free(c);
        return NULL;
    }
    return c;
}

void config_values_reset(saga_config *c)
{
    for (size_t i = 0; i < c->nkeys; i++)
        config_value_clear(&c->vals[i]);
    for (size_t i = 0; i < c->nextras; i++) {
        config_value_clear(&c->extras[i].v);
        free(c->extras[i].key);
    }
    c->nextras = 0;
    c->help = c->print = false;
    if (c->kconf) {
        rd_kafka_conf_destroy(c->kconf);
        c->kconf = NULL;
    }
}

void saga_config_free(saga_config *c)
{
    if (!c)
        return;
    config_values_reset(c);
    free(c->keys);
    free(c->bounds);
    free(c->vals);
    free(c->extras);
    free(c);
}

bool saga_config_help_requested(const saga_config *c) { return c->help; }
bool saga_config_print_requested(const saga_config *c) { return c->print; }

/* --- getters ------------------------------------------------------------- */

static const config_value *declared(const saga_config *c, const char *key,
                                    saga_config_type type)
{
    ssize_t i = config_key_index(c, key, strlen(key));
    assert(i >= 0 && "config key not declared");
    if (i < 0)
        return NULL;
    assert((c->keys[i]->type == type ||
            (type == SAGA_CONFIG_DOUBLE && c->keys[i]->type == SAGA_CONFIG_INT)) &&
           "config getter does not match the key's type");
    return &c->vals[i];
}

const char *saga_config_str(const saga_config *c, const char *key)
{
    ssize_t i = config_key_index(c, key, strlen(key));
    if (i >= 0)
        return c->vals[i].raw;
    const config_extra *e = config_extra_find(c, key, strlen(key));
    assert((e || config_has_prefix(key, CONFIG_KAFKA_PREFIX)) &&
           "config key not declared");
    return e ? e->v.raw : NULL;
}

int64_t saga_config_int(const saga_config *c, const char *key)
{
    const config_value *v = declared(c, key, SAGA_CONFIG_INT);
    return v && v->raw ? v->i : 0;
}

double saga_config_double(const saga_config *c, const char *key)
{
    const config_value *v = declared(c, key, SAGA_CONFIG_DOUBLE);
    return v && v->raw ? v->d : 0;
}

bool saga_config_bool(const saga_config *c, const char *key)
{
    const config_value *v = declared(c, key, SAGA_CONFIG_BOOL);
    return v && v->raw && v->i;
}

int64_t saga_config_ms(const saga_config *c, const char *key)
{
    const config_value *v = declared(c, key, SAGA_CONFIG_DURATION);
    return v && v->raw ? v->i : 0;
}

const char *const *saga_config_list(const saga_config *c, const char *key,
                                    size_t *n)
{
    const config_value *v = declared(c, key, SAGA_CONFIG_LIST);
    *n = v ? v->nitems : 0;
    return v ? (const char *const *)v->items : NULL;
}

bool saga_config_is_set(const saga_config *c, const char *key)
{
    return saga_config_str(c, key) != NULL;
}

int saga_config_each(const saga_config *c, const char *prefix,
                     int (*cb)(const char *key, const char *value, void *user),
                     void *user)
{
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < c->nkeys; i++) {
        if (!c->vals[i].raw || !config_has_prefix(c->keys[i]->key, prefix))
            continue;
        int rc = cb(c->keys[i]->key + plen, c->vals[i].raw, user);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < c->nextras; i++) {
        if (!c->extras[i].v.raw || !config_has_prefix(c->extras[i].key, prefix))
            continue;
        int rc = cb(c->extras[i].key + plen, c->extras[i].v.raw, user);
        if (rc)
            return rc;
    }
    return 0;
}
