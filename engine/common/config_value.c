/*
 * config_value.c - typed values and the one setter every layer goes through.
 *
 * A value is validated against its key's declared type and range at the
 * moment it is read, by the same function whatever its source, so an error
 * can always say where the bad value came from (file:line, variable, flag)
 * and no layer can accept what another would refuse. The hand-written
 * number parsers refuse what strtoll/strtod would quietly take or round
 * (leading blanks, overflow, "nan"). kafka.* values are checked by
 * librdkafka itself (config_names.c).
 */
#include "config_internal.h"

#include "duration.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- secrets --------------------------------------------------------------- */

static bool secret_name(const char *name)
{
    return strstr(name, "password") || strstr(name, "secret") ||
           strcmp(name, "kafka.ssl.key.pem") == 0 ||
           strcmp(name, "kafka.sasl.oauthbearer.config") == 0;
}

bool config_is_secret(const saga_config_key *k, const char *name)
{
    return (k && (k->flags & SAGA_CONFIG_SECRET)) || secret_name(name);
}

/* --- typed parsing ------------------------------------------------------- */

static bool parse_int(const char *s, int64_t *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const T[] = {"true", "yes", "on", "1"};
    static const char *const F[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, T[i]) == 0)
            return *out = true, true;
        if (strcasecmp(s, F[i]) == 0)
            return *out = false, true;
    }
    return false;
}

static bool enum_has(const char *choices, const char *s)
{
    size_t len = strlen(s);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, s, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* Parses raw as a value of k into v's typed fields (not raw itself). On
 * failure writes what was expected into why and returns false. */
static bool typed_parse(const saga_config_key *k, const config_bounds *b,
                        const char *raw, config_value *v, char *why, size_t len)
{
    bool ok = true, numeric = false;
    double num = 0;
    switch (k->type) {
    case SAGA_CONFIG_INT:
        ok = parse_int(raw, &v->i);
        v->d = (double)v->i;
        num = v->d;
        numeric = true;
        snprintf(why, len, "expected an integer");
        break;
    case SAGA_CONFIG_DOUBLE:
        ok = parse_double(raw, &v->d);
        num = v->d;
        numeric = true;
        snprintf(why, len, "expected a number");
        break;
    case SAGA_CONFIG_DURATION: {
        saga_error derr;
        ok = saga_duration_parse(raw, &v->i, &derr) == 0;
        num = (double)v->i;
        numeric = true;
        snprintf(why, len, "expected a duration");
        break;
    }
    case SAGA_CONFIG_BOOL: {
        bool bv = false;
        ok = parse_bool(raw, &bv);
        v->i = bv;
        snprintf(why, len, "expected true or false");
        break;
    }
    case SAGA_CONFIG_ENUM: {
        ok = enum_has(k->choices, raw);
        size_t n = (size_t)snprintf(why, len, "expected one of: ");
        for (const char *p = k->choices; *p && n + 3 < len; p++) {
            if (*p == '|')
                why[n++] = ',', why[n++] = ' ';
            else
                why[n++] = *p;
        }
        why[n] = '\0';
        break;
    }
    default:
        break;
    }
    if (ok && numeric && b &&
        ((b->has_min && num < b->min) || (b->has_max && num > b->max)))
        ok = false;
    if (!ok && numeric && b && (b->has_min || b->has_max)) {
        size_t n = strlen(why);
        if (b->has_min && b->has_max)
            snprintf(why + n, len - n, " from %s to %s", b->min_s, b->max_s);
        else if (b->has_min)
            snprintf(why + n, len - n, " of at least %s", b->min_s);
        else
            snprintf(why + n, len - n, " of at most %s", b->max_s);
    }
    return ok;
}

bool config_bounds_parse(const saga_config_key *k, config_bounds *b)
{
    memset(b, 0, sizeof *b);
    if (!k->range)
        return true;
    if (k->type != SAGA_CONFIG_INT && k->type != SAGA_CONFIG_DOUBLE &&
        k->type != SAGA_CONFIG_DURATION)
        return false;
    const char *dots = strstr(k->range, "..");
    if (!dots || (size_t)(dots - k->range) >= sizeof b->min_s ||
        strlen(dots + 2) >= sizeof b->max_s)
        return false;
    memcpy(b->min_s, k->range, (size_t)(dots - k->range));
    strcpy(b->max_s, dots + 2);
    char why[256];
    config_value v = {0};
    if (b->min_s[0]) {
        if (!typed_parse(k, NULL, b->min_s, &v, why, sizeof why))
            return false;
        b->has_min = true;
        b->min = k->type == SAGA_CONFIG_DOUBLE ? v.d : (double)v.i;
    }
    if (b->max_s[0]) {
        if (!typed_parse(k, NULL, b->max_s, &v, why, sizeof why))
            return false;
        b->has_max = true;
        b->max = k->type == SAGA_CONFIG_DOUBLE ? v.d : (double)v.i;
    }
    return !(b->has_min && b->has_max && b->min > b->max);
}

bool config_value_valid(const saga_config_key *k, const config_bounds *b,
                        const char *def, char *why, size_t len)
{
    config_value v = {0};
    return typed_parse(k, b, def, &v, why, len);
}

void config_value_clear(config_value *v)
{
    free(v->raw);
    free(v->origin);
    for (size_t i = 0; i < v->nitems; i++)
        free(v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

static bool list_split(const char *raw, config_value *v)
{
    for (const char *p = raw; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        while (n && isspace((unsigned char)*s))
            s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        if (n) {
            char **items = realloc(v->items, (v->nitems + 1) * sizeof *items);
            if (!items)
                return false;
            v->items = items;
            if (!(v->items[v->nitems] = config_strndup(s, n)))
                return false;
            v->nitems++;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return true;
}

/* --- the one setter ------------------------------------------------------ */

/* The hint of a refused duration: the grammar (core/duration.h), which is
 * the same for every program and source; for a bare number, the key and
 * the number with a unit, since milliseconds are the likely intent. Out of
 * range needs no hint: the message gives the range. */
static void duration_hint(const saga_config_key *k, const char *name,
                          const char *raw, saga_error *err)
{
    int64_t ms;
    saga_error derr;
    if (saga_duration_parse(raw, &ms, &derr) == 0)
        return;
    size_t digits = strspn(raw, "0123456789");
    if (digits == 0 || raw[digits] || digits > 18) {
        saga_error_hint(err, "%s", derr.hint);
        return;
    }
    /* A secret's value is never echoed, not even its digits. */
    const char *n = config_is_secret(k, name) ? "500" : raw;
    saga_error_hint(err, "%s needs a unit (ms, s, m, h or d): write %sms for "
                    "milliseconds", k->key, n);
}

int config_set_value(saga_config *c, const saga_config_key *k,
                     const config_bounds *b, config_value *v, const char *name,
                     const char *raw, config_source src, const char *origin,
                     const char *where, saga_error *err)
{
    config_value nv = {0};
    char why[256] = "";
    if (k && !typed_parse(k, b, raw, &nv, why, sizeof why)) {
        char echo[CONFIG_ECHO_MAX * 2 + 8];
        config_echo_value(k, name, raw, echo, sizeof echo);
        saga_error_set(err, SAGA_EINVAL, "%s: invalid value%s: %s", where, echo,
                       why);
        if (k->type == SAGA_CONFIG_DURATION)
            duration_hint(k, name, raw, err);
        return SAGA_EINVAL;
    }
    if (config_has_prefix(name, CONFIG_KAFKA_PREFIX)) {
        int rc = config_kafka_check(c, k, where, name, raw, err);
        if (rc < 0)
            return rc;
    }
    nv.raw = strdup(raw);
    nv.origin = origin ? strdup(origin) : NULL;
    if (!nv.raw || (origin && !nv.origin) ||
        (k && k->type == SAGA_CONFIG_LIST && !list_split(raw, &nv))) {
        config_value_clear(&nv);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    nv.src = src;
    nv.gen = v->gen;
    nv.line = v->line;
    config_value_clear(v);
    *v = nv;
    return 0;
}

static config_extra *extra_get(saga_config *c, const char *name, size_t len)
{
    config_extra *e = config_extra_find(c, name, len);
    if (e)
        return e;
    if (c->nextras == c->extras_cap) {
        size_t cap = c->extras_cap ? c->extras_cap * 2 : 8;
        config_extra *x = realloc(c->extras, cap * sizeof *x);
        if (!x)
            return NULL;
        c->extras = x;
        c->extras_cap = cap;
    }
    e = &c->extras[c->nextras];
    memset(e, 0, sizeof *e);
    if (!(e->key = config_strndup(name, len)))
        return NULL;
    c->nextras++;
    return e;
}

/* The entry is created only once the value is accepted, so a refused key
 * leaves nothing behind. */
int config_set_extra(saga_config *c, const char *name, size_t len,
                     const char *raw, config_source src, const char *origin,
                     const char *where, saga_error *err, config_extra **out)
{
    config_value tmp = {0};
    int rc = config_set_value(c, NULL, NULL, &tmp, name, raw, src, origin,
                              where, err);
    if (rc < 0)
        return rc;
    config_extra *e = extra_get(c, name, len);
    if (!e) {
        config_value_clear(&tmp);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    tmp.gen = e->v.gen;
    tmp.line = e->v.line;
    config_value_clear(&e->v);
    e->v = tmp;
    if (out)
        *out = e;
    return 0;
}
