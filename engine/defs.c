/*
 * defs.c - storing and loading saga definitions (contract in defs.h).
 *
 * What is stored is the spec's canonical JSON, and loading goes back through
 * saga_spec_parse: there is one parser and one validator, and a definition
 * loaded from the database is what was validated when it was applied.
 * Immutability is enforced here rather than by a trigger because a refusal
 * must explain itself: the two versions are compared as JSON trees and every
 * differing path is listed, which a constraint violation could not do.
 */
#include "defs.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "store.h"

/* How many differences the error message itself lists. */
#define DIFF_IN_MESSAGE 8
/* How much of a differing value a diff line shows. */
#define DIFF_VALUE_MAX 60

#define CREATED_AT_SQL                                                         \
    "to_char(created_at AT TIME ZONE 'UTC', "                                  \
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Reports a failed query with the server's first message line. */
static int db_error(PGconn *conn, PGresult *r, saga_error *err,
                    const char *what)
{
    const char *m = r ? PQresultErrorMessage(r) : "";
    if (!m || !*m)
        m = PQerrorMessage(conn);
    int len = (int)strcspn(m, "\n");
    saga_error_set(err, SAGA_EDB, "%s: %.*s", what, len, m);
    PQclear(r);
    return SAGA_EDB;
}

/* --- differences ------------------------------------------------------------- */

typedef struct differ {
    FILE *out;
    size_t lines, max, more;
} differ;

static bool plain_key(const char *k)
{
    if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
        return false;
    for (const char *c = k + 1; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

/* path + ".key" (or ["key"]), owned by the caller; NULL when out of memory. */
static char *child_key(const char *path, const char *key)
{
    char *p = NULL;
    if (plain_key(key)) {
        if (asprintf(&p, "%s%s%s", path, *path ? "." : "", key) < 0)
            return NULL;
        return p;
    }
    json_t *s = json_string(key);
    char *quoted = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    if (quoted && asprintf(&p, "%s[%s]", path, quoted) < 0)
        p = NULL;
    free(quoted);
    return p;
}

static void show_value(FILE *out, const json_t *v)
{
    if (!v) {
        fputs("(absent)", out);
        return;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS |
                                JSON_REAL_PRECISION(15));
    if (!s) {
        fputs("?", out);
        return;
    }
    if (strlen(s) > DIFF_VALUE_MAX) {
        size_t n = DIFF_VALUE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        fprintf(out, "%.*s...", (int)n, s);
    } else {
        fputs(s, out);
    }
    free(s);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int diff_value(differ *d, const char *path, const json_t *a,
                      const json_t *b);

static int diff_objects(differ *d, const char *path, const json_t *a,
                        const json_t *b)
{
    size_t n = json_object_size(a) + json_object_size(b), k = 0;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    const char *key;
    json_t *v;
    int rc = 0;

    if (!keys)
        return -1;
    json_object_foreach((json_t *)a, key, v) keys[k++] = key;
    json_object_foreach((json_t *)b, key, v) {
        if (!json_object_get(a, key))
            keys[k++] = key;
    }
    qsort(keys, k, sizeof *keys, key_cmp);
    for (size_t i = 0; i < k && rc == 0; i++) {
        char *p = child_key(path, keys[i]);
        rc = p ? diff_value(d, p, json_object_get(a, keys[i]),
                            json_object_get(b, keys[i]))
               : -1;
        free(p);
    }
    free(keys);
    return rc;
}

static int diff_arrays(differ *d, const char *path, const json_t *a,
                       const json_t *b)
{
    size_t na = json_array_size(a), nb = json_array_size(b);
    int rc = 0;
    for (size_t i = 0; i < (na > nb ? na : nb) && rc == 0; i++) {
        char *p;
        if (asprintf(&p, "%s[%zu]", path, i) < 0)
            return -1;
        rc = diff_value(d, p, json_array_get(a, i), json_array_get(b, i));
        free(p);
    }
    return rc;
}

static int diff_value(differ *d, const char *path, const json_t *a,
                      const json_t *b)
{
    if (a && b && json_equal(a, b))
        return 0;
    if (json_is_object(a) && json_is_object(b))
        return diff_objects(d, path, a, b);
    if (json_is_array(a) && json_is_array(b))
        return diff_arrays(d, path, a, b);
    if (d->lines >= d->max) {
        d->more++;
        return 0;
    }
    fprintf(d->out, "%s%s: ", d->lines ? "\n" : "", *path ? path : "(root)");
    show_value(d->out, a);
    fputs(" -> ", d->out);
    show_value(d->out, b);
    d->lines++;
    return 0;
}

char *saga_defs_diff(const char *old_canonical, const char *new_canonical,
                     size_t max_lines)
{
    json_t *a = json_loads(old_canonical, 0, NULL);
    json_t *b = json_loads(new_canonical, 0, NULL);
    char *text = NULL;
    size_t len = 0;
    differ d = {.max = max_lines};
    int rc = -1;

    if (a && b && (d.out = open_memstream(&text, &len))) {
        rc = diff_value(&d, "", a, b);
        if (rc == 0 && d.more)
            fprintf(d.out, "\n... and %zu more", d.more);
        if (fclose(d.out) != 0)
            rc = -1;
    }
    json_decref(a);
    json_decref(b);
    if (rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* --- fetching ------------------------------------------------------------------ */

void saga_def_row_free(saga_def_row *row)
{
    if (!row)
        return;
    free(row->name);
    free(row->canonical);
    memset(row, 0, sizeof *row);
}

int saga_defs_latest(PGconn *conn, const char *name, int *version,
                     saga_error *err)
{
    const char *params[1] = {name};
    /* Prepared: sagad asks this every turn that starts sagas, and planning
     * it cost seven times its execution. */
    PGresult *r = saga_pg_query(conn,
                                "SELECT max(version) FROM saga_definitions WHERE name = $1",
                                1, params, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_error(conn, r, err, "could not look up definitions");
    bool any = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
    *version = any ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    if (!any) {
        saga_error_set(err, SAGA_ENOTFOUND, "no definition named \"%s\"", name);
        saga_error_hint(err, "`sagactl def apply FILE` stores one; "
                             "`sagactl def list` shows what is stored");
        return SAGA_ENOTFOUND;
    }
    return 0;
}

/* Explains why name@version was not found. */
static int not_found(PGconn *conn, const char *name, int version,
                     saga_error *err)
{
    int latest = 0;
    int rc = saga_defs_latest(conn, name, &latest, err);
    if (rc)
        return rc;
    saga_error_set(err, SAGA_ENOTFOUND, "definition \"%s\" has no version %d", name, version);
    saga_error_hint(err, "the latest version is %d", latest);
    return SAGA_ENOTFOUND;
}

int saga_defs_fetch(PGconn *conn, const char *name, int version,
                    saga_def_row *out, saga_error *err)
{
    char ver[16];
    const char *params[2] = {name, ver};

    memset(out, 0, sizeof *out);
    snprintf(ver, sizeof ver, "%d", version);
    PGresult *r = PQexecParams(
        conn,
        "SELECT name, version, canonical, sha256, " CREATED_AT_SQL
        " FROM saga_definitions"
        " WHERE name = $1 AND ($2::integer = 0 OR version = $2::integer)"
        " ORDER BY version DESC LIMIT 1",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_error(conn, r, err, "could not read definition");
    if (PQntuples(r) == 0) {
        PQclear(r);
        return not_found(conn, name, version, err);
    }
    out->name = strdup(PQgetvalue(r, 0, 0));
    out->version = atoi(PQgetvalue(r, 0, 1));
    out->canonical = strdup(PQgetvalue(r, 0, 2));
    snprintf(out->sha256, sizeof out->sha256, "%s", PQgetvalue(r, 0, 3));
    snprintf(out->created_at, sizeof out->created_at, "%s",
             PQgetvalue(r, 0, 4));
    PQclear(r);
    if (!out->name || !out->canonical) {
        saga_def_row_free(out);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    return 0;
}

/* --- loading -------------------------------------------------------------------- */

/* Makes spec carry the stored text and checksum, which identify the
 * definition even if this build would format the canonical form
 * differently. */
static int adopt_stored(saga_spec *spec, const saga_def_row *row,
                        saga_error *err)
{
    if (strcmp(spec->canonical, row->canonical) == 0)
        return 0;
    char *c = strdup(row->canonical);
    if (!c)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    free(spec->canonical);
    spec->canonical = c;
    memcpy(spec->sha256, row->sha256, sizeof spec->sha256);
    return 0;
}

int saga_defs_load(PGconn *conn, const char *name, int version,
                   saga_spec **out, saga_error *err)
{
    saga_def_row row;
    char hex[65];
    char label[SAGA_SPEC_MAX_NAME + 32];
    int rc;

    *out = NULL;
    if ((rc = saga_defs_fetch(conn, name, version, &row, err)) != 0)
        return rc;
    snprintf(label, sizeof label, "definition %.63s@%d", row.name,
             row.version);
    saga_sha256_hex(row.canonical, strlen(row.canonical), hex);
    if (strcmp(hex, row.sha256) != 0) {
        rc = saga_error_set(err, SAGA_EDB,
                            "stored %s is corrupt: its text does not match "
                            "its SHA-256",
                            label);
        goto out;
    }
    saga_diag diag;
    saga_diag_init(&diag);
    rc = saga_spec_parse(label, row.canonical, strlen(row.canonical), out,
                         &diag, err);
    if (rc != 0 && rc != SAGA_ENOMEM) {
        saga_error_set(err, SAGA_EINVAL, "stored %s no longer validates: %s",
                       label, diag.n ? diag.lines[0] : "unknown error");
        rc = SAGA_EINVAL;
    }
    saga_diag_free(&diag);
    if (rc == 0 && (strcmp((*out)->name, row.name) != 0 ||
                    (*out)->version != row.version)) {
        rc = saga_error_set(err, SAGA_EDB, "stored %s holds %s@%d", label,
                            (*out)->name, (*out)->version);
    }
    if (rc == 0)
        rc = adopt_stored(*out, &row, err);
    if (rc != 0) {
        saga_spec_free(*out);
        *out = NULL;
    }
out:
    saga_def_row_free(&row);
    return rc;
}

/* --- applying ----------------------------------------------------------------- */

void saga_defs_apply_result_free(saga_defs_apply_result *res)
{
    if (!res)
        return;
    free(res->diff);
    res->diff = NULL;
}

/* The refusal of a changed spec under an existing version: the message
 * lists the first differences, as many as fit. */
static int refuse_change(PGconn *conn, const saga_spec *spec,
                         const char *diff, saga_error *err)
{
    char msg[SAGA_ERROR_MSG_MAX];
    size_t used = (size_t)snprintf(
        msg, sizeof msg,
        "definition %s@%d already exists with different content, and "
        "versions are immutable; differences (stored -> new):",
        spec->name, spec->version);
    size_t shown = 0, total = 0;
    const char *line = diff;

    while (*line) {
        size_t len = strcspn(line, "\n");
        total++;
        if (shown < DIFF_IN_MESSAGE && used + len + 32 < sizeof msg) {
            used += (size_t)snprintf(msg + used, sizeof msg - used,
                                     "\n  %.*s", (int)len, line);
            shown++;
        }
        line += len + (line[len] == '\n');
    }
    if (total > shown)
        snprintf(msg + used, sizeof msg - used, "\n  ... and %zu more",
                 total - shown);
    saga_error_set(err, SAGA_ECONFLICT, "%s", msg);

    char ver[16];
    const char *params[1] = {spec->name};
    PGresult *r = PQexecParams(conn,
                               "SELECT max(version) FROM saga_definitions"
                               " WHERE name = $1",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        !PQgetisnull(r, 0, 0)) {
        snprintf(ver, sizeof ver, "%d", atoi(PQgetvalue(r, 0, 0)) + 1);
        saga_error_hint(err, "give the changed spec a new \"version\" (%s is "
                             "the next free one)",
                        ver);
    } else {
        saga_error_hint(err, "give the changed spec a new \"version\"");
    }
    PQclear(r);
    return SAGA_ECONFLICT;
}

int saga_defs_apply(PGconn *conn, const saga_spec *spec,
                    saga_defs_apply_result *res, saga_error *err)
{
    char ver[16];
    const char *params[4] = {spec->name, ver, spec->canonical, spec->sha256};
    saga_def_row row;
    int rc;

    res->outcome = SAGA_DEFS_CREATED;
    res->diff = NULL;
    if (!spec->canonical)
        return saga_error_set(err, SAGA_EINVAL,
                              "spec %s has no canonical form", spec->name);
    if ((rc = saga_defs_check_family(conn, spec, err)))
        return rc;
    snprintf(ver, sizeof ver, "%d", spec->version);
    PGresult *r = PQexecParams(conn,
                               "INSERT INTO saga_definitions"
                               " (name, version, canonical, sha256)"
                               " VALUES ($1, $2::integer, $3, $4)"
                               " ON CONFLICT (name, version) DO NOTHING",
                               4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return db_error(conn, r, err, "could not store definition");
    bool inserted = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (inserted) {
        saga_error_clear(err);
        return 0;
    }

    if ((rc = saga_defs_fetch(conn, spec->name, spec->version, &row, err)))
        return rc;
    res->outcome = SAGA_DEFS_UNCHANGED;
    if (strcmp(row.canonical, spec->canonical) != 0) {
        /* Equal trees with different text (another build's formatting)
         * are the same definition. */
        res->diff = saga_defs_diff(row.canonical, spec->canonical, SIZE_MAX);
        if (!res->diff) {
            rc = saga_error_set(err, SAGA_EDB,
                                "could not compare with the stored "
                                "definition %s@%d",
                                spec->name, spec->version);
        } else if (*res->diff) {
            rc = refuse_change(conn, spec, res->diff, err);
        } else {
            free(res->diff);
            res->diff = NULL;
        }
    }
    saga_def_row_free(&row);
    if (rc == 0)
        saga_error_clear(err);
    return rc;
}

/* --- listing -------------------------------------------------------------------- */

void saga_def_list_free(saga_def_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].name);
        free(list->items[i].versions);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

int saga_defs_list(PGconn *conn, saga_def_list *out, saga_error *err)
{
    out->items = NULL;
    out->n = 0;
    PGresult *r = PQexecParams(conn,
                               "SELECT name, version, " CREATED_AT_SQL
                               " FROM saga_definitions"
                               " ORDER BY name, version",
                               0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_error(conn, r, err, "could not list definitions");
    int rows = PQntuples(r);
    if (rows > 0 && !(out->items = calloc((size_t)rows, sizeof *out->items)))
        goto oom;
    for (int i = 0; i < rows; i++) {
        const char *name = PQgetvalue(r, i, 0);
        saga_def_summary *s = out->n ? &out->items[out->n - 1] : NULL;
        if (!s || strcmp(s->name, name) != 0) {
            s = &out->items[out->n++];
            if (!(s->name = strdup(name)) ||
                !(s->versions = calloc((size_t)rows - (size_t)i,
                                       sizeof *s->versions)))
                goto oom;
        }
        s->latest = atoi(PQgetvalue(r, i, 1));
        s->versions[s->n_versions++] = s->latest;
        snprintf(s->created_at, sizeof s->created_at, "%s",
                 PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return 0;
oom:
    PQclear(r);
    saga_def_list_free(out);
    return saga_error_set(err, SAGA_ENOMEM, "out of memory");
}

/* --- references ------------------------------------------------------------------ */

int saga_defs_parse_ref(const char *ref, char *name, size_t name_cap,
                        int *version, saga_error *err)
{
    const char *at = strrchr(ref, '@');
    size_t len = at ? (size_t)(at - ref) : strlen(ref);

    *version = 0;
    if (len == 0 || len >= name_cap) {
        saga_error_set(err, SAGA_EINVAL, "invalid definition \"%s\"", ref);
        saga_error_hint(err, "write NAME or NAME@VERSION, e.g. "
                             "order_checkout@2");
        return SAGA_EINVAL;
    }
    if (at) {
        long v = 0;
        const char *d = at + 1;
        if (!*d)
            goto bad_version;
        for (; *d; d++) {
            if (*d < '0' || *d > '9' || v > INT_MAX / 10)
                goto bad_version;
            v = v * 10 + (*d - '0');
        }
        if (v < 1 || v > INT_MAX)
            goto bad_version;
        *version = (int)v;
    }
    memcpy(name, ref, len);
    name[len] = '\0';
    return 0;
bad_version:
    saga_error_set(err, SAGA_EINVAL, "invalid version in \"%s\"", ref);
    saga_error_hint(err, "a version is a whole number from 1 up, e.g. "
                         "order_checkout@2");
    return SAGA_EINVAL;
}
