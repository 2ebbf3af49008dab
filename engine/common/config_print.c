/*
 * config_print.c - what a configuration may show: --print-config, --help,
 * values echoed in error messages, and passwords masked inside DSNs.
 *
 * Everything printed passes one rule: a secret is never written, not even
 * truncated. Whole values are masked by key (SAGA_CONFIG_SECRET, or a name
 * that says password or secret); a password inside a DSN or URL is masked
 * by parsing the value, because pg.dsn is not a secret as a whole and an
 * operator debugging a connection needs to see the host and database.
 */
#include "config_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How --help shows a key's value. */
static const char *value_meta(const saga_config_key *k)
{
    switch (k->type) {
    case SAGA_CONFIG_INT: return "INT";
    case SAGA_CONFIG_DOUBLE: return "NUMBER";
    case SAGA_CONFIG_BOOL: return "true|false";
    case SAGA_CONFIG_DURATION: return "DURATION";
    case SAGA_CONFIG_ENUM: return k->choices;
    case SAGA_CONFIG_LIST: return "A,B,...";
    default: return "TEXT";
    }
}

void config_echo_value(const saga_config_key *k, const char *name,
                       const char *raw, char *out, size_t len)
{
    if (config_is_secret(k, name)) {
        out[0] = '\0';
        return;
    }
    char masked[CONFIG_ECHO_MAX * 2];
    saga_dsn_mask(raw, masked, sizeof masked);
    if (strlen(masked) > CONFIG_ECHO_MAX)
        strcpy(masked + CONFIG_ECHO_MAX - 3, "...");
    snprintf(out, len, " \"%s\"", masked);
}

/* --- printing ------------------------------------------------------------ */

static void print_value(FILE *out, const saga_config_key *k, const char *name,
                        const config_value *v)
{
    if (!v->raw) {
        fprintf(out, "# %s = (not set)\n", name);
        return;
    }
    switch (v->src) {
    case SRC_FILE: fprintf(out, "# from %s\n", v->origin); break;
    case SRC_ENV: fprintf(out, "# from environment %s\n", v->origin); break;
    case SRC_FLAG: fprintf(out, "# from flag %s\n", v->origin); break;
    default: break;
    }
    if (config_is_secret(k, name) && *v->raw) {
        fprintf(out, "%s = ****\n", name);
        return;
    }
    size_t len = strlen(v->raw) * 4 + 16;
    char *masked = malloc(len);
    if (!masked) {
        fprintf(out, "%s = ****\n", name);
        return;
    }
    saga_dsn_mask(v->raw, masked, len);
    fprintf(out, "%s =%s%s\n", name, *masked ? " " : "", masked);
    free(masked);
}

void saga_config_print(const saga_config *c, FILE *out)
{
    fprintf(out, "# effective configuration (secrets masked)\n");
    for (size_t i = 0; i < c->nkeys; i++)
        print_value(out, c->keys[i], c->keys[i]->key, &c->vals[i]);
    for (size_t i = 0; i < c->nextras; i++)
        print_value(out, NULL, c->extras[i].key, &c->extras[i].v);
}

void saga_config_usage(const saga_config *c, FILE *out)
{
    fprintf(out, "Options (each KEY may also be set as \"KEY = value\" in the "
                 "--config file or from the environment;\nflags win over the "
                 "environment, which wins over the file):\n");
    for (size_t i = 0; i < c->nkeys; i++) {
        const saga_config_key *k = c->keys[i];
        fprintf(out, k->type == SAGA_CONFIG_BOOL ? "  --%s[=%s]" : "  --%s=%s",
                k->key, value_meta(k));
        if (k->flag)
            fprintf(out, ", %s", k->flag);
        char env[CONFIG_KEY_MAX + 8];
        config_env_name(k, env);
        fprintf(out, "\n        %s\n        [env %s", k->help ? k->help : "", env);
        if (k->flags & SAGA_CONFIG_REQUIRED)
            fprintf(out, "; required");
        if (k->def) {
            if (config_is_secret(k, k->key))
                fprintf(out, "; default ****");
            else
                fprintf(out, "; default %s", *k->def ? k->def : "\"\"");
        }
        if (k->range)
            fprintf(out, "; range %s", k->range);
        fprintf(out, "]\n");
    }
    fprintf(out,
            "  --kafka.PROPERTY=VALUE\n"
            "        any librdkafka property, passed to librdkafka unchanged "
            "(TLS, SASL, tuning)\n"
            "  --config FILE\n"
            "        read \"key = value\" lines from FILE [env SAGA_CONFIG]\n"
            "  --print-config\n"
            "        print the effective configuration, secrets masked, and exit\n"
            "  -h, --help\n"
            "        show this help and exit\n");
}

/* --- DSN masking --------------------------------------------------------- */

typedef struct outbuf {
    char *p;
    size_t len, cap;
    bool truncated;
} outbuf;

static void ob_put(outbuf *o, const char *s, size_t n)
{
    if (o->cap == 0) {
        o->truncated = o->truncated || n > 0;
        return;
    }
    size_t room = o->cap - 1 - o->len;
    if (n > room) {
        n = room;
        o->truncated = true;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static bool password_keyword(const char *s, size_t n)
{
    return (n == 8 && strncmp(s, "password", 8) == 0) ||
           (n == 11 && strncmp(s, "sslpassword", 11) == 0);
}

/* "scheme://": the scheme is a letter then letters, digits, '+', '-', '.'. */
static const char *uri_authority(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return NULL;
    const char *p = s + 1;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    return strncmp(p, "://", 3) == 0 ? p + 3 : NULL;
}

static void mask_uri(outbuf *o, const char *s, const char *auth)
{
    const char *query = strchr(auth, '?');
    const char *qend = query ? query : auth + strlen(auth);
    const char *at = NULL;
    for (const char *p = auth; p < qend; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        ob_put(o, s, (size_t)(colon + 1 - s));
        ob_put(o, "****", 4);
        ob_put(o, at, (size_t)(qend - at));
    } else {
        ob_put(o, s, (size_t)(qend - s));
    }
    if (!query)
        return;
    for (const char *p = query; *p;) {
        ob_put(o, p, 1); /* '?' or '&' */
        p++;
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        if (eq && password_keyword(p, (size_t)(eq - p))) {
            ob_put(o, p, (size_t)(eq + 1 - p));
            ob_put(o, "****", 4);
        } else {
            ob_put(o, p, n);
        }
        p += n;
    }
}

/* libpq keyword form: key = value pairs, values bare or 'quoted' with
 * backslash escapes. Anything that does not parse is copied as it is,
 * except after a password keyword, where the rest is masked. */
static void mask_keywords(outbuf *o, const char *s)
{
    const char *p = s;
    while (*p) {
        size_t ws = strspn(p, " \t\r\n\f\v");
        ob_put(o, p, ws);
        p += ws;
        if (!*p)
            break;
        size_t klen = strcspn(p, "= \t\r\n\f\v");
        bool secret = password_keyword(p, klen);
        ob_put(o, p, klen);
        p += klen;
        ws = strspn(p, " \t\r\n\f\v");
        ob_put(o, p, ws);
        p += ws;
        if (*p != '=') {
            if (secret && *p) {
                ob_put(o, "****", 4);
                return;
            }
            continue;
        }
        ob_put(o, "=", 1);
        p++;
        ws = strspn(p, " \t\r\n\f\v");
        ob_put(o, p, ws);
        p += ws;
        const char *v = p;
        if (*p == '\'') {
            for (p++; *p && *p != '\''; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p)
                p++;
        } else {
            p += strcspn(p, " \t\r\n\f\v");
        }
        if (secret)
            ob_put(o, "****", 4);
        else
            ob_put(o, v, (size_t)(p - v));
    }
}

int saga_dsn_mask(const char *dsn, char *out, size_t outlen)
{
    outbuf o = {.p = out, .cap = outlen};
    if (outlen)
        out[0] = '\0';
    if (!dsn)
        return 0;
    const char *auth = uri_authority(dsn);
    if (auth)
        mask_uri(&o, dsn, auth);
    else
        mask_keywords(&o, dsn);
    return o.truncated ? SAGA_ELIMIT : 0;
}
