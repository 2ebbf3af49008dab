/*
 * config.c - configuration from defaults, a file, the environment and flags.
 *
 * Every layer goes through one setter that validates the value against the
 * key's declared type at the moment it is read, so an error can always say
 * where the bad value came from (file:line, variable, flag). Values are kept
 * as text plus their parsed form: getters are then plain reads, and
 * --print-config shows exactly what the user wrote. kafka.* values are
 * checked by handing them to a scratch librdkafka configuration, because
 * librdkafka is the only authority on its own properties: a misspelt TLS
 * option is refused at start-up rather than when the first connection fails.
 */
#include "config.h"

#include "log.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#define KEY_MAX 100
#define FILE_MAX (1024 * 1024)
#define ECHO_MAX 80
#define KAFKA_PREFIX "kafka."

typedef enum source { SRC_NONE, SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG } source;

typedef struct bounds {
    bool has_min, has_max;
    double min, max; /* INT and DURATION values are exact below 2^53 */
    char min_s[32], max_s[32];
} bounds;

typedef struct value {
    char *raw;        /* owned; NULL = unset */
    source src;
    char *origin;     /* owned; "file.conf:12", "SAGA_X" or "--x"; NULL for defaults */
    unsigned gen;     /* saga_config_parse call that set it, for duplicates */
    int line;
    int64_t i;        /* INT, DURATION; BOOL as 0/1 */
    double d;         /* DOUBLE, and INT as a double */
    char **items;     /* LIST: owned items */
    size_t nitems;
} value;

typedef struct extra { /* an undeclared kafka.* key */
    char *key;
    value v;
} extra;

typedef struct pending_flag {
    size_t key;        /* index into keys, or SIZE_MAX for an extra */
    const char *name;  /* extras: key name without "--" (borrowed from argv) */
    size_t name_len;
    const char *value; /* borrowed from argv */
    const char *opt;   /* the option as written, up to '=' */
    size_t opt_len;
} pending_flag;

struct saga_config {
    const saga_config_key **keys;
    bounds *bounds;
    value *vals;
    size_t nkeys, cap;
    extra *extras;
    size_t nextras, extras_cap;
    bool help, print;
    unsigned gen;
    rd_kafka_conf_t *kconf; /* scratch: validates kafka.* values */
};

static const char *const RESERVED[] = {"config", "help", "print-config", "h"};

/* --- small helpers ------------------------------------------------------- */

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void env_name(const saga_config_key *k, char out[KEY_MAX + 8])
{
    if (k->env) {
        snprintf(out, KEY_MAX + 8, "%s", k->env);
        return;
    }
    size_t n = (size_t)snprintf(out, KEY_MAX + 8, "SAGA_");
    for (const char *p = k->key; *p && n < KEY_MAX + 7; p++)
        out[n++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

static bool secret_name(const char *name)
{
    return strstr(name, "password") || strstr(name, "secret") ||
           strcmp(name, "kafka.ssl.key.pem") == 0 ||
           strcmp(name, "kafka.sasl.oauthbearer.config") == 0;
}

static bool is_secret(const saga_config_key *k, const char *name)
{
    return (k && (k->flags & SAGA_CONFIG_SECRET)) || secret_name(name);
}

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

/* Optimal string alignment distance (a transposition counts as one edit):
 * the usual typos are a missing, extra, wrong or swapped letter. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, KEY_MAX), lb = strnlen(b, KEY_MAX);
    size_t d[3][KEY_MAX + 1]; /* rows i-2, i-1, i (rotating) */
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v)
                v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
        }
    }
    return d[la % 3][lb];
}

/* The declared key closest to name, if close enough to be a typo. */
static const char *closest_key(const saga_config *c, const char *name)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < c->nkeys; i++) {
        size_t d = edit_distance(name, c->keys[i]->key);
        if (d < best_d) {
            best_d = d;
            best = c->keys[i]->key;
        }
    }
    size_t len = strnlen(name, KEY_MAX);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    return best_d <= limit ? best : NULL;
}

static void hint_unknown(const saga_config *c, const char *name,
                         const char *dashes, saga_error *err)
{
    const char *near = closest_key(c, name);
    if (near)
        saga_error_hint(err, "did you mean \"%s%s\"? (--help lists every key)",
                        dashes, near);
    else
        saga_error_hint(err, "--help lists every key; librdkafka properties "
                        "are written with a \"kafka.\" prefix");
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

static bool parse_duration(const char *s, int64_t *out)
{
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    int64_t n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (INT64_MAX - (*p - '0')) / 10)
            return false;
        n = n * 10 + (*p - '0');
    }
    int64_t mult;
    if (!*p || strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 3600 * 1000;
    else
        return false;
    if (n > INT64_MAX / mult)
        return false;
    *out = n * mult;
    return true;
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
static bool typed_parse(const saga_config_key *k, const bounds *b,
                        const char *raw, value *v, char *why, size_t len)
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
    case SAGA_CONFIG_DURATION:
        ok = parse_duration(raw, &v->i);
        num = (double)v->i;
        numeric = true;
        snprintf(why, len, "expected a duration such as 250ms, 10s, 5m or 1h "
                 "(a plain integer means milliseconds)");
        break;
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

/* Parses "MIN..MAX" (either side optional) with the key's own type. */
static bool bounds_parse(const saga_config_key *k, bounds *b)
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
    value v = {0};
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

static void value_clear(value *v)
{
    free(v->raw);
    free(v->origin);
    for (size_t i = 0; i < v->nitems; i++)
        free(v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

static bool list_split(const char *raw, value *v)
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
            if (!(v->items[v->nitems] = xstrndup(s, n)))
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

/* The value as it may appear in a message: never a secret, DSNs masked,
 * long values shortened. */
static void echo_value(const saga_config_key *k, const char *name,
                       const char *raw, char *out, size_t len)
{
    if (is_secret(k, name)) {
        out[0] = '\0';
        return;
    }
    char masked[ECHO_MAX * 2];
    saga_dsn_mask(raw, masked, sizeof masked);
    if (strlen(masked) > ECHO_MAX)
        strcpy(masked + ECHO_MAX - 3, "...");
    snprintf(out, len, " \"%s\"", masked);
}

/* The declared key or librdkafka property (as kafka.NAME) closest to name,
 * if close enough to be a typo. */
static bool closest_kafka(const saga_config *c, const char *name, char *out,
                          size_t len_out)
{
    const char *best = closest_key(c, name);
    size_t best_d = best ? edit_distance(name, best) : (size_t)-1;
    if (best)
        snprintf(out, len_out, "%s", best);
    /* librdkafka lists its properties only as its CONFIGURATION.md table:
     * the first word of each table row is a property name. */
    char *table = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&table, &tlen);
    if (f) {
        rd_kafka_conf_properties_show(f);
        fclose(f);
    }
    const char *prop = name + strlen(KAFKA_PREFIX);
    size_t plen = strnlen(prop, KEY_MAX);
    size_t limit = plen / 3 > 2 ? plen / 3 : 2;
    for (const char *line = table; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t n = strcspn(line, " |\n");
        if (n && n <= KEY_MAX && islower((unsigned char)line[0]) &&
            memchr(line, '|', len)) {
            char cand[KEY_MAX + 1];
            snprintf(cand, sizeof cand, "%.*s", (int)n, line);
            size_t d = edit_distance(prop, cand);
            if (d <= limit && d < best_d) {
                best_d = d;
                snprintf(out, len_out, "%s%s", KAFKA_PREFIX, cand);
            }
        }
        line = nl ? nl + 1 : line + len;
    }
    free(table);
    return best_d != (size_t)-1;
}

static int kafka_check(saga_config *c, const saga_config_key *k,
                       const char *where, const char *name, const char *raw,
                       saga_error *err)
{
    if (!c->kconf && !(c->kconf = rd_kafka_conf_new()))
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    char errstr[512] = "";
    rd_kafka_conf_res_t r = rd_kafka_conf_set(c->kconf, name + strlen(KAFKA_PREFIX),
                                              raw, errstr, sizeof errstr);
    if (r == RD_KAFKA_CONF_OK)
        return 0;
    if (r == RD_KAFKA_CONF_UNKNOWN) {
        saga_error_set(err, SAGA_EINVAL, "%s: unknown librdkafka property \"%s\"",
                       where, name + strlen(KAFKA_PREFIX));
        char near[KEY_MAX + 8];
        if (closest_kafka(c, name, near, sizeof near))
            saga_error_hint(err, "did you mean \"%s\"?", near);
        else
            saga_error_hint(err, "keys starting with \"kafka.\" are passed to "
                            "librdkafka without the prefix; see its "
                            "CONFIGURATION.md for the property names");
        return SAGA_EINVAL;
    }
    char echo[ECHO_MAX * 2 + 8];
    echo_value(k, name, raw, echo, sizeof echo);
    if (is_secret(k, name))
        return saga_error_set(err, SAGA_EINVAL, "%s: invalid value: librdkafka "
                              "refused it", where);
    return saga_error_set(err, SAGA_EINVAL, "%s: invalid value%s: %s", where,
                          echo, errstr);
}

/* Validates raw for key k (NULL for an extra kafka.* key named name) and
 * stores it in v. where prefixes error messages. */
static int set_value(saga_config *c, const saga_config_key *k, const bounds *b,
                     value *v, const char *name, const char *raw, source src,
                     const char *origin, const char *where, saga_error *err)
{
    value nv = {0};
    char why[256] = "";
    if (k && !typed_parse(k, b, raw, &nv, why, sizeof why)) {
        char echo[ECHO_MAX * 2 + 8];
        echo_value(k, name, raw, echo, sizeof echo);
        return saga_error_set(err, SAGA_EINVAL, "%s: invalid value%s: %s", where,
                              echo, why);
    }
    if (has_prefix(name, KAFKA_PREFIX)) {
        int rc = kafka_check(c, k, where, name, raw, err);
        if (rc < 0)
            return rc;
    }
    nv.raw = strdup(raw);
    nv.origin = origin ? strdup(origin) : NULL;
    if (!nv.raw || (origin && !nv.origin) ||
        (k && k->type == SAGA_CONFIG_LIST && !list_split(raw, &nv))) {
        value_clear(&nv);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    nv.src = src;
    nv.gen = v->gen;
    nv.line = v->line;
    value_clear(v);
    *v = nv;
    return 0;
}

static ssize_t key_index(const saga_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nkeys; i++)
        if (strlen(c->keys[i]->key) == len && strncmp(c->keys[i]->key, name, len) == 0)
            return (ssize_t)i;
    return -1;
}

static extra *extra_find(const saga_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nextras; i++)
        if (strlen(c->extras[i].key) == len && strncmp(c->extras[i].key, name, len) == 0)
            return &c->extras[i];
    return NULL;
}

static extra *extra_get(saga_config *c, const char *name, size_t len)
{
    extra *e = extra_find(c, name, len);
    if (e)
        return e;
    if (c->nextras == c->extras_cap) {
        size_t cap = c->extras_cap ? c->extras_cap * 2 : 8;
        extra *x = realloc(c->extras, cap * sizeof *x);
        if (!x)
            return NULL;
        c->extras = x;
        c->extras_cap = cap;
    }
    e = &c->extras[c->nextras];
    memset(e, 0, sizeof *e);
    if (!(e->key = xstrndup(name, len)))
        return NULL;
    c->nextras++;
    return e;
}

/* Whether name (len bytes) may be an undeclared kafka.* key. */
static bool kafka_extra_name(const char *name, size_t len)
{
    size_t p = strlen(KAFKA_PREFIX);
    return len > p && strncmp(name, KAFKA_PREFIX, p) == 0;
}

/* Sets an undeclared kafka.* key; its entry is created only once the value
 * is accepted, so a refused key leaves nothing behind. name is NUL-terminated
 * and len long. */
static int set_extra(saga_config *c, const char *name, size_t len,
                     const char *raw, source src, const char *origin,
                     const char *where, saga_error *err, extra **out)
{
    value tmp = {0};
    int rc = set_value(c, NULL, NULL, &tmp, name, raw, src, origin, where, err);
    if (rc < 0)
        return rc;
    extra *e = extra_get(c, name, len);
    if (!e) {
        value_clear(&tmp);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    tmp.gen = e->v.gen;
    tmp.line = e->v.line;
    value_clear(&e->v);
    e->v = tmp;
    if (out)
        *out = e;
    return 0;
}

/* --- construction -------------------------------------------------------- */

static bool valid_key_name(const char *s)
{
    if (!s || !islower((unsigned char)s[0]) || strlen(s) > KEY_MAX)
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
    char env[KEY_MAX + 8], other[KEY_MAX + 8];
    env_name(k, env);
    for (size_t i = 0; i < c->nkeys; i++) {
        const saga_config_key *o = c->keys[i];
        env_name(o, other);
        if (strcmp(o->key, k->key) == 0 || strcmp(env, other) == 0 ||
            (k->flag && o->flag && strcmp(k->flag, o->flag) == 0) ||
            (k->flag && strcmp(k->flag + 2, o->key) == 0) ||
            (o->flag && strcmp(o->flag + 2, k->key) == 0))
            return saga_error_set(err, SAGA_EINVAL, "config key \"%s\" clashes "
                                  "with \"%s\" (same name, flag or environment "
                                  "variable)", k->key, o->key);
    }
    if (k->flag && (!has_prefix(k->flag, "--") || !valid_key_name(k->flag + 2)))
        return saga_error_set(err, SAGA_EINVAL, "config key \"%s\": flag alias "
                              "\"%s\" must look like --name", k->key, k->flag);
    if (k->type == SAGA_CONFIG_ENUM && (!k->choices || !*k->choices))
        return saga_error_set(err, SAGA_EINVAL, "config key \"%s\": an ENUM needs "
                              "choices", k->key);
    bounds b;
    if (!bounds_parse(k, &b))
        return saga_error_set(err, SAGA_EINVAL, "config key \"%s\": invalid range "
                              "\"%s\"", k->key, k->range ? k->range : "");
    if (k->def) {
        value v = {0};
        char why[256];
        bool ok = typed_parse(k, &b, k->def, &v, why, sizeof why);
        if (!ok)
            return saga_error_set(err, SAGA_EINVAL, "config key \"%s\": invalid "
                                  "default \"%s\": %s", k->key, k->def, why);
    }
    if (c->nkeys == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        const saga_config_key **keys = realloc(c->keys, cap * sizeof *keys);
        if (keys)
            c->keys = keys;
        bounds *bs = realloc(c->bounds, cap * sizeof *bs);
        if (bs)
            c->bounds = bs;
        value *vals = realloc(c->vals, cap * sizeof *vals);
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

static void values_reset(saga_config *c)
{
    for (size_t i = 0; i < c->nkeys; i++)
        value_clear(&c->vals[i]);
    for (size_t i = 0; i < c->nextras; i++) {
        value_clear(&c->extras[i].v);
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
    values_reset(c);
    free(c->keys);
    free(c->bounds);
    free(c->vals);
    free(c->extras);
    free(c);
}

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
    char name[KEY_MAX + 1];
    snprintf(name, sizeof name, "%.*s", klen > KEY_MAX ? KEY_MAX : (int)klen, key);
    char where[KEY_MAX + 256];
    snprintf(where, sizeof where, "%s:%d: %s", origin, lineno, name);
    char at[256];
    snprintf(at, sizeof at, "%s:%d", origin, lineno);

    ssize_t i = key_index(c, key, klen);
    const saga_config_key *k = i >= 0 ? c->keys[i] : NULL;
    const value *prev = k ? &c->vals[i] : NULL;
    bool extra_key = !k && kafka_extra_name(key, klen) && klen <= KEY_MAX;
    if (extra_key) {
        const extra *e = extra_find(c, key, klen);
        prev = e ? &e->v : NULL;
    } else if (!k) {
        saga_error_set(err, SAGA_EINVAL, "%s:%d: unknown key \"%s\"", origin,
                       lineno, name);
        hint_unknown(c, name, "", err);
        return SAGA_EINVAL;
    }
    if (prev && prev->gen == c->gen && prev->src == SRC_FILE)
        return saga_error_set(err, SAGA_EINVAL, "%s: set twice (first on line %d)",
                              where, prev->line);
    char *raw = xstrndup(val, (size_t)(vend - val));
    if (!raw)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    value *v = k ? &c->vals[i] : NULL;
    int rc;
    if (extra_key) {
        extra *e = NULL;
        rc = set_extra(c, name, klen, raw, SRC_FILE, at, where, err, &e);
        if (rc == 0)
            v = &e->v;
    } else {
        rc = set_value(c, k, &c->bounds[i], v, name, raw, SRC_FILE, at, where,
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
    FILE *f = fopen(path, "rb");
    if (!f)
        return saga_error_set(err, SAGA_EIO, "cannot open config file %s: %s",
                              path, strerror(errno));
    char *buf = malloc(FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, FILE_MAX + 1, f);
    int rc = 0;
    if (ferror(f))
        rc = saga_error_set(err, SAGA_EIO, "cannot read config file %s: %s",
                            path, strerror(errno));
    else if (n > FILE_MAX)
        rc = saga_error_set(err, SAGA_ELIMIT, "config file %s is larger than "
                            "1 MiB", path);
    fclose(f);
    if (rc == 0)
        rc = saga_config_parse(c, path, buf, n, err);
    free(buf);
    return rc;
}

/* --- the environment layer ----------------------------------------------- */

static int load_env(saga_config *c, saga_error *err)
{
    for (size_t i = 0; i < c->nkeys; i++) {
        char env[KEY_MAX + 8];
        env_name(c->keys[i], env);
        const char *s = getenv(env);
        if (!s || !*s)
            continue;
        char where[2 * KEY_MAX + 32];
        snprintf(where, sizeof where, "%s (%s)", env, c->keys[i]->key);
        int rc = set_value(c, c->keys[i], &c->bounds[i], &c->vals[i],
                           c->keys[i]->key, s, SRC_ENV, env, where, err);
        if (rc < 0)
            return rc;
    }
    const char *brokers = getenv("SAGA_KAFKA_BROKERS");
    if (!brokers || !*brokers)
        return 0;
    static const char BS[] = "kafka.bootstrap.servers";
    const char *where = "SAGA_KAFKA_BROKERS (kafka.bootstrap.servers)";
    ssize_t i = key_index(c, BS, strlen(BS));
    if (i >= 0)
        return c->vals[i].src == SRC_ENV
                   ? 0
                   : set_value(c, c->keys[i], &c->bounds[i], &c->vals[i], BS,
                               brokers, SRC_ENV, "SAGA_KAFKA_BROKERS", where, err);
    return set_extra(c, BS, strlen(BS), brokers, SRC_ENV, "SAGA_KAFKA_BROKERS",
                     where, err, NULL);
}

/* --- the flag layer ------------------------------------------------------ */

/* Finds the key an option names: "--key" or a key's alias. */
static ssize_t flag_key(const saga_config *c, const char *opt, size_t len)
{
    ssize_t i = key_index(c, opt + 2, len - 2);
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
                   len > KEY_MAX ? KEY_MAX : (int)len, opt);
    char name[KEY_MAX + 1];
    const char *p = opt;
    while (*p == '-' && (size_t)(p - opt) < len)
        p++;
    size_t n = len - (size_t)(p - opt);
    snprintf(name, sizeof name, "%.*s", n > KEY_MAX ? KEY_MAX : (int)n, p);
    hint_unknown(c, name, "--", err);
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
        if (k < 0 && !kafka_extra_name(a + 2, len - 2))
            return unknown_option(c, a, len, err);
        if (k < 0 && len - 2 > KEY_MAX)
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
    char opt[KEY_MAX + 8], where[2 * KEY_MAX + 32];
    snprintf(opt, sizeof opt, "%.*s", (int)f->opt_len, f->opt);
    if (f->key != SIZE_MAX) {
        const saga_config_key *k = c->keys[f->key];
        if (strcmp(opt + 2, k->key) == 0)
            snprintf(where, sizeof where, "%s", opt);
        else
            snprintf(where, sizeof where, "%s (%s)", opt, k->key);
        return set_value(c, k, &c->bounds[f->key], &c->vals[f->key], k->key,
                         f->value, SRC_FLAG, opt, where, err);
    }
    char name[KEY_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)f->name_len, f->name);
    snprintf(where, sizeof where, "%s", opt);
    return set_extra(c, name, f->name_len, f->value, SRC_FLAG, opt, where, err,
                     NULL);
}

/* --- load ---------------------------------------------------------------- */

static int load_defaults(saga_config *c, saga_error *err)
{
    for (size_t i = 0; i < c->nkeys; i++) {
        const saga_config_key *k = c->keys[i];
        if (!k->def)
            continue;
        char where[KEY_MAX + 32];
        snprintf(where, sizeof where, "%s (default)", k->key);
        int rc = set_value(c, k, &c->bounds[i], &c->vals[i], k->key, k->def,
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
        char env[KEY_MAX + 8];
        env_name(k, env);
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
                           kafka_extra_name(a + 2, strlen(a + 2)) ||
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
    values_reset(c);
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

bool saga_config_help_requested(const saga_config *c) { return c->help; }
bool saga_config_print_requested(const saga_config *c) { return c->print; }

/* --- getters ------------------------------------------------------------- */

static const value *declared(const saga_config *c, const char *key,
                             saga_config_type type)
{
    ssize_t i = key_index(c, key, strlen(key));
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
    ssize_t i = key_index(c, key, strlen(key));
    if (i >= 0)
        return c->vals[i].raw;
    const extra *e = extra_find(c, key, strlen(key));
    assert((e || has_prefix(key, KAFKA_PREFIX)) && "config key not declared");
    return e ? e->v.raw : NULL;
}

int64_t saga_config_int(const saga_config *c, const char *key)
{
    const value *v = declared(c, key, SAGA_CONFIG_INT);
    return v && v->raw ? v->i : 0;
}

double saga_config_double(const saga_config *c, const char *key)
{
    const value *v = declared(c, key, SAGA_CONFIG_DOUBLE);
    return v && v->raw ? v->d : 0;
}

bool saga_config_bool(const saga_config *c, const char *key)
{
    const value *v = declared(c, key, SAGA_CONFIG_BOOL);
    return v && v->raw && v->i;
}

int64_t saga_config_ms(const saga_config *c, const char *key)
{
    const value *v = declared(c, key, SAGA_CONFIG_DURATION);
    return v && v->raw ? v->i : 0;
}

const char *const *saga_config_list(const saga_config *c, const char *key,
                                    size_t *n)
{
    const value *v = declared(c, key, SAGA_CONFIG_LIST);
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
        if (!c->vals[i].raw || !has_prefix(c->keys[i]->key, prefix))
            continue;
        int rc = cb(c->keys[i]->key + plen, c->vals[i].raw, user);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < c->nextras; i++) {
        if (!c->extras[i].v.raw || !has_prefix(c->extras[i].key, prefix))
            continue;
        int rc = cb(c->extras[i].key + plen, c->extras[i].v.raw, user);
        if (rc)
            return rc;
    }
    return 0;
}

/* --- printing ------------------------------------------------------------ */

static void print_value(FILE *out, const saga_config_key *k, const char *name,
                        const value *v)
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
    if (is_secret(k, name) && *v->raw) {
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
        char env[KEY_MAX + 8];
        env_name(k, env);
        fprintf(out, "\n        %s\n        [env %s", k->help ? k->help : "", env);
        if (k->flags & SAGA_CONFIG_REQUIRED)
            fprintf(out, "; required");
        if (k->def) {
            if (is_secret(k, k->key))
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
