/*
 * config_load.c - the layers: defaults, the --config file, the environment
 * and the flags, applied in that order so each outranks the one before.
 *
 * argv is scanned first (the file's name is one of the flags), but the
 * flags are only collected then and applied last, after the file and the
 * environment they outrank. -h/--help is looked for before anything is
 * validated, so help works whatever else is wrong. Each layer hands its
 * values to the one setter (config_value.c) with a `where` naming the
 * source, which is what makes every error message point at the culprit.
 */
#include "config_internal.h"

#include "file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX (1024 * 1024)

typedef struct pending_flag {
    size_t key;        /* index into keys, or SIZE_MAX for an extra */
    const char *name;  /* extras: key name without "--" (borrowed from argv) */
    size_t name_len;
    const char *value; /* borrowed from argv */
    const char *opt;   /* the option as written, up to '=' */
    size_t opt_len;
} pending_flag;

/* --- the file layer ------------------------------------------------------ */

static const char *trim(const char *s, const char *end, const char **out_end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *out_end = end;
    return s;
}

static int parse_line(saga_config *c, const char *origin, int lineno,
                      const char *line, const char *end, saga_error *err)
{
    const char *lend;
    line = trim(line, end, &lend);
    if (line == lend || *line == '#')
        return 0;
    const char *eq = memchr(line, '=', (size_t)(lend - line));
    if (!eq) {
        saga_error_set(err, SAGA_EINVAL, "%s:%d: expected \"key = value\"", origin,
                       lineno);
        saga_error_hint(err, "comments start with '#' at the beginning of a line");
        return SAGA_EINVAL;
    }
    const char *kend, *vend;
    const char *key = trim(line, eq, &kend);
    const char *val = trim(eq + 1, lend, &vend);
    size_t klen = (size_t)(kend - key);
    if (klen == 0)
        return saga_error_set(err, SAGA_EINVAL, "%s:%d: missing key before '='",
                              origin, lineno);
    char name[CONFIG_KEY_MAX + 1];
    snprintf(name, sizeof name, "%.*s",
             klen > CONFIG_KEY_MAX ? CONFIG_KEY_MAX : (int)klen, key);
    char where[CONFIG_KEY_MAX + 256];
    snprintf(where, sizeof where, "%s:%d: %s", origin, lineno, name);
    char at[256];
    snprintf(at, sizeof at, "%s:%d", origin, lineno);

    ssize_t i = config_key_index(c, key, klen);
    const saga_config_key *k = i >= 0 ? c->keys[i] : NULL;
    const config_value *prev = k ? &c->vals[i] : NULL;
    bool extra_key = !k && config_kafka_extra_name(key, klen) && klen <= CONFIG_KEY_MAX;
    if (extra_key) {
        const config_extra *e = config_extra_find(c, key, klen);
        prev = e ? &e->v : NULL;
    } else if (!k) {
        saga_error_set(err, SAGA_EINVAL, "%s:%d: unknown key \"%s\"", origin,
                       lineno, name);
        config_hint_unknown(c, name, "", err);
        return SAGA_EINVAL;
    }
    if (prev && prev->gen == c->gen && prev->src == SRC_FILE)
        return saga_error_set(err, SAGA_EINVAL, "%s: set twice (first on line %d)",
                              where, prev->line);
    char *raw = config_strndup(val, (size_t)(vend - val));
    if (!raw)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    config_value *v = k ? &c->vals[i] : NULL;
    int rc;
    if (extra_key) {
        config_extra *e = NULL;
        rc = config_set_extra(c, name, klen, raw, SRC_FILE, at, where, err, &e);
        if (rc == 0)
            v = &e->v;
    } else {
        rc = config_set_value(c, k, &c->bounds[i], v, name, raw, SRC_FILE, at, where,
                       err);
    }
    free(raw);
    if (rc == 0) {
        v->gen = c->gen;
        v->line = lineno;
    }
    return rc;
}

int saga_config_parse(saga_config *c, const char *origin, const char *text,
                      size_t len, saga_error *err)
{
    saga_error_clear(err);
    c->gen++;
    const char *end = text + len;
    int lineno = 0;
    for (const char *p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *lend = nl ? nl : end;
        lineno++;
        if (memchr(p, '\0', (size_t)(lend - p)))
            return saga_error_set(err, SAGA_EINVAL, "%s:%d: NUL byte in the "
                                  "config file", origin, lineno);
        int rc = parse_line(c, origin, lineno, p, lend, err);
        if (rc < 0)
            return rc;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

static int load_file(saga_config *c, const char *path, saga_error *err)
{
    char *buf;
    size_t n;
    int rc = saga_file_read(path, FILE_MAX, &buf, &n, err);
    if (rc < 0)
        return rc;
    rc = saga_config_parse(c, path, buf, n, err);
    free(buf);
    return rc;
}

/* --- the environment layer ----------------------------------------------- */

static int load_env(saga_config *c, saga_error *err)
{
    for (size_t i = 0; i < c->nkeys; i++) {
        char env[CONFIG_KEY_MAX + 8];
        config_env_name(c->keys[i], env);
        const char *s = getenv(env);
        if (!s || !*s)
            continue;
        char where[2 * CONFIG_KEY_MAX + 32];
        snprintf(where, sizeof where, "%s (%s)", env, c->keys[i]->key);
        int rc = config_set_value(c, c->keys[i], &c->bounds[i], &c->vals[i],
                           c->keys[i]->key, s, SRC_ENV, env, where, err);
        if (rc < 0)
            return rc;
    }
    const char *brokers = getenv("SAGA_KAFKA_BROKERS");
    if (!brokers || !*brokers)
        return 0;
    static const char BS[] = "kafka.bootstrap.servers";
    const char *where = "SAGA_KAFKA_BROKERS (kafka.bootstrap.servers)";
    ssize_t i = config_key_index(c, BS, strlen(BS));
    if (i >= 0)
        return c->vals[i].src == SRC_ENV
                   ? 0
                   : config_set_value(c, c->keys[i], &c->bounds[i], &c->vals[i], BS,
                               brokers, SRC_ENV, "SAGA_KAFKA_BROKERS", where, err);
    return config_set_extra(c, BS, strlen(BS), brokers, SRC_ENV, "SAGA_KAFKA_BROKERS",
                     where, err, NULL);
}

/* --- the flag layer ------------------------------------------------------ */

/* Finds the key an option names: "--key" or a key's alias. */
static ssize_t flag_key(const saga_config *c, const char *opt, size_t len)
{
    ssize_t i = config_key_index(c, opt + 2, len - 2);
    if (i >= 0)
        return i;
    for (size_t j = 0; j < c->nkeys; j++) {
        const char *f = c->keys[j]->flag;
        if (f && strlen(f) == len && strncmp(f, opt, len) == 0)
            return (ssize_t)j;
    }
    return -1;
}

static int unknown_option(const saga_config *c, const char *opt, size_t len,
                          saga_error *err)
{
    saga_error_set(err, SAGA_EINVAL, "unknown option \"%.*s\"",
                   len > CONFIG_KEY_MAX ? CONFIG_KEY_MAX : (int)len, opt);
    char name[CONFIG_KEY_MAX + 1];
    const char *p = opt;
    while (*p == '-' && (size_t)(p - opt) < len)
        p++;
    size_t n = len - (size_t)(p - opt);
    snprintf(name, sizeof name, "%.*s", n > CONFIG_KEY_MAX ? CONFIG_KEY_MAX : (int)n, p);
    config_hint_unknown(c, name, "--", err);
    return SAGA_EINVAL;
}

/* Scans argv: built-in options, the config file, the flags (collected in
 * flags, applied later because they outrank the file and environment). */
static int scan_args(saga_config *c, int argc, char **argv, int *argi,
                     const char **config, pending_flag *flags, size_t *nflags,
                     saga_error *err)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "--print-config") == 0) {
            c->print = true;
            continue;
        }
        /* Only the flag itself is echoed: "-pSECRET" must not print SECRET. */
        if (a[1] != '-')
            return unknown_option(c, a, 2, err);
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const char *val = eq ? eq + 1 : NULL;
        if (len == 8 && strncmp(a, "--config", 8) == 0) {
            if (!val && i + 1 >= argc)
                return saga_error_set(err, SAGA_EINVAL, "option --config needs "
                                      "a file name");
            *config = val ? val : argv[++i];
            continue;
        }
        ssize_t k = flag_key(c, a, len);
        if (k < 0 && !config_kafka_extra_name(a + 2, len - 2))
            return unknown_option(c, a, len, err);
        if (k < 0 && len - 2 > CONFIG_KEY_MAX)
            return unknown_option(c, a, len, err);
        if (!val) {
            if (k >= 0 && c->keys[k]->type == SAGA_CONFIG_BOOL)
                val = "true";
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return saga_error_set(err, SAGA_EINVAL, "option %.*s needs a "
                                      "value", (int)len, a);
        }
        flags[*nflags] = (pending_flag){
            .key = k >= 0 ? (size_t)k : SIZE_MAX, .name = a + 2,
            .name_len = len - 2, .value = val, .opt = a, .opt_len = len};
        (*nflags)++;
    }
    if (i < argc && !argi)
        return saga_error_set(err, SAGA_EINVAL, "unexpected argument \"%s\"",
                              argv[i]);
    if (argi)
        *argi = i < argc ? i : argc;
    return 0;
}

static int apply_flag(saga_config *c, const pending_flag *f, saga_error *err)
{
    char opt[CONFIG_KEY_MAX + 8], where[2 * CONFIG_KEY_MAX + 32];
    snprintf(opt, sizeof opt, "%.*s", (int)f->opt_len, f->opt);
    if (f->key != SIZE_MAX) {
        const saga_config_key *k = c->keys[f->key];
        if (strcmp(opt + 2, k->key) == 0)
            snprintf(where, sizeof where, "%s", opt);
        else
            snprintf(where, sizeof where, "%s (%s)", opt, k->key);
        return config_set_value(c, k, &c->bounds[f->key], &c->vals[f->key], k->key,
                         f->value, SRC_FLAG, opt, where, err);
    }
    char name[CONFIG_KEY_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)f->name_len, f->name);
    snprintf(where, sizeof where, "%s", opt);
    return config_set_extra(c, name, f->name_len, f->value, SRC_FLAG, opt, where, err,
                     NULL);
}

/* --- load ---------------------------------------------------------------- */

static int load_defaults(saga_config *c, saga_error *err)
{
    for (size_t i = 0; i < c->nkeys; i++) {
        const saga_config_key *k = c->keys[i];
        if (!k->def)
            continue;
        char where[CONFIG_KEY_MAX + 32];
        snprintf(where, sizeof where, "%s (default)", k->key);
        int rc = config_set_value(c, k, &c->bounds[i], &c->vals[i], k->key, k->def,
                           SRC_DEFAULT, NULL, where, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int check_required(const saga_config *c, saga_error *err)
{
    for (size_t i = 0; i < c->nkeys; i++) {
        const saga_config_key *k = c->keys[i];
        if (!(k->flags & SAGA_CONFIG_REQUIRED) || c->vals[i].raw)
            continue;
        char env[CONFIG_KEY_MAX + 8];
        config_env_name(k, env);
        saga_error_set(err, SAGA_EINVAL, "missing required setting %s", k->key);
        saga_error_hint(err, "set it in the config file (%s = ...), the "
                        "environment (%s) or as a flag (--%s)", k->key, env,
                        k->key);
        return SAGA_EINVAL;
    }
    return 0;
}

/* Whether -h/--help is among the options. Runs before anything is checked,
 * so help works whatever else is wrong; an option is assumed to take the
 * next argument as its value unless it is a BOOL key, has "=", or is not a
 * known option at all. */
static bool wants_help(const saga_config *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '\0')
            return false;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return true;
        if (a[1] != '-' || strchr(a, '='))
            continue;
        ssize_t k = flag_key(c, a, strlen(a));
        bool takes_value = strcmp(a, "--config") == 0 ||
                           config_kafka_extra_name(a + 2, strlen(a + 2)) ||
                           (k >= 0 && c->keys[k]->type != SAGA_CONFIG_BOOL);
        if (takes_value)
            i++;
    }
    return false;
}

int saga_config_load(saga_config *c, int argc, char **argv, int *argi,
                     saga_error *err)
{
    saga_error_clear(err);
    config_values_reset(c);
    if (argi)
        *argi = argc > 0 ? argc : 0;
    int rc = load_defaults(c, err);
    if (rc < 0)
        return rc;
    if (wants_help(c, argc, argv)) {
        c->help = true;
        return 0;
    }
    pending_flag *flags = calloc(argc > 0 ? (size_t)argc : 1, sizeof *flags);
    if (!flags)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    size_t nflags = 0;
    const char *config = NULL;
    rc = scan_args(c, argc, argv, argi, &config, flags, &nflags, err);
    if (rc == 0 && !config) {
        config = getenv("SAGA_CONFIG");
        if (config && !*config)
            config = NULL;
    }
    if (rc == 0 && config)
        rc = load_file(c, config, err);
    if (rc == 0)
        rc = load_env(c, err);
    for (size_t i = 0; rc == 0 && i < nflags; i++)
        rc = apply_flag(c, &flags[i], err);
    free(flags);
    if (rc == 0)
        rc = check_required(c, err);
    return rc;
}
