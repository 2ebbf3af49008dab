/*
 * lookup.c - turning what an operator typed into rows: saga ids and
 * prefixes, statuses, definitions; plus the thin query helpers every
 * command uses.
 *
 * Every lookup is an index probe (primary key range for an id prefix), so
 * an operator's typo costs the same on ten sagas as on ten million, and a
 * wrong guess comes back with the closest valid answers rather than a bare
 * "not found".
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sagactl.h"

PGresult *cli_query(cli *c, const char *sql, int n, const char *const *params,
                    saga_error *err)
{
    PGresult *r = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    const char *m = PQresultErrorMessage(r);
    if (!m || !*m)
        m = PQerrorMessage(c->conn);
    char msg[SAGA_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", m);
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    saga_error_set(err, SAGA_EDB, "query failed: %s", msg);
    if (PQstatus(c->conn) != CONNECTION_OK)
        saga_error_hint(err, "the connection to PostgreSQL was lost");
    else if (strstr(msg, "does not exist"))
        saga_error_hint(err, "is the schema installed? run sagactl migrate");
    PQclear(r);
    return NULL;
}

const char *cli_get(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col);
}

bool cli_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

int64_t cli_get_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

json_t *cli_json_str(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *cli_json_col(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

json_t *cli_json_parse_col(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    json_t *v = json_loads(PQgetvalue(r, row, col), JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

/* --- saga ids ---------------------------------------------------------- */

/* Sets err to "no saga X" with the ids sharing the longest prefix. */
static int not_found(cli *c, const char *typed, const saga_idprefix *p,
                     saga_error *err)
{
    const char *params[1] = {p->lo};
    PGresult *r = cli_query(c, saga_query_id_near, 1, params, err);
    if (!r)
        return err->code;
    size_t best = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        size_t n = saga_idprefix_common(p, cli_get(r, i, 0));
        if (n > best)
            best = n;
    }
    saga_error_set(err, SAGA_ENOTFOUND, "no saga \"%.64s\"", typed);
    if (best == 0) {
        saga_error_hint(err, "no saga id starts like that; sagactl list shows "
                             "recent sagas");
    } else {
        char list[3 * (SAGA_ID_LEN + 2) + 1] = "";
        int shown = 0;
        for (int i = 0; i < PQntuples(r) && shown < 3; i++) {
            if (saga_idprefix_common(p, cli_get(r, i, 0)) != best)
                continue;
            if (shown++)
                strcat(list, ", ");
            strcat(list, cli_get(r, i, 0));
        }
        saga_error_hint(err, "closest: %s", list);
    }
    PQclear(r);
    return SAGA_ENOTFOUND;
}

int cli_resolve_id(cli *c, const char *typed, char id[SAGA_ID_LEN + 1],
                   saga_error *err)
{
    saga_idprefix p;
    if (saga_idprefix_parse(typed, &p, err))
        return SAGA_EINVAL;
    const char *params[2] = {p.lo, p.hi};
    PGresult *r = cli_query(c, saga_query_id_range, 2, params, err);
    if (!r)
        return err->code;
    int n = PQntuples(r);
    if (n == 1) {
        snprintf(id, SAGA_ID_LEN + 1, "%s", cli_get(r, 0, 0));
        PQclear(r);
        return 0;
    }
    if (n == 0) {
        PQclear(r);
        return not_found(c, typed, &p, err);
    }
    char list[5 * (SAGA_ID_LEN + 2) + 8] = "";
    for (int i = 0; i < n && i < 5; i++) {
        if (i)
            strcat(list, ", ");
        strcat(list, cli_get(r, i, 0));
    }
    if (n > 5)
        strcat(list, ", ...");
    PQclear(r);
    saga_error_set(err, SAGA_ECONFLICT, "saga id prefix \"%.64s\" is ambiguous",
                   typed);
    saga_error_hint(err, "it matches %s; type more of the id", list);
    return SAGA_ECONFLICT;
}

/* --- definitions ------------------------------------------------------- */

const saga_spec *cli_spec(cli *c, const char *name, int version,
                          saga_error *err)
{
    const saga_spec *spec = NULL;
    if (saga_engine_def(c->engine, c->conn, name, version, &spec, err))
        return NULL;
    return spec;
}

const char *cli_participant(cli *c, const char *name, int version,
                            const char *step)
{
    saga_error err;
    const saga_spec *spec = cli_spec(c, name, version, &err);
    int i = spec ? saga_spec_step_index(spec, step) : -1;
    return i >= 0 && spec->steps[i].participant ? spec->steps[i].participant
                                                : cli_step_runner(c, name, version, step);
}

/* --- statuses ---------------------------------------------------------- */

static const char *const ALL_STATUSES[] = {"RUNNING", "CONFIRMING",
                                           "COMPENSATING", "COMPLETED",
                                           "COMPENSATED", "SCHEDULED"};

static void add_status(const char *names[SAGA_STATUS_COUNT], size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(names[i], s) == 0)
            return;
    names[(*n)++] = s;
}

int cli_parse_statuses(const char *list, const char *names[SAGA_STATUS_COUNT], size_t *n,
                       saga_error *err)
{
    *n = 0;
    const char *p = list;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        char word[32];
        size_t k = 0;
        while (*p && *p != ',' && !isspace((unsigned char)*p)) {
            if (k + 1 < sizeof word)
                word[k++] = *p;
            p++;
        }
        word[k] = '\0';
        saga_status st;
        if (strcasecmp(word, "active") == 0) {
            for (int i = 0; i < 3; i++)
                add_status(names, n, ALL_STATUSES[i]);
        } else if (strcasecmp(word, "terminal") == 0) {
            for (int i = 3; i < 5; i++)
                add_status(names, n, ALL_STATUSES[i]);
        } else if (saga_status_parse(word, &st) == 0) {
            add_status(names, n, saga_status_name(st));
        } else {
            saga_error_set(err, SAGA_EINVAL, "--status: unknown status \"%s\"",
                           word);
            const char *close = NULL;
            size_t best = 3;
            char upper[32];
            for (k = 0; word[k] && k + 1 < sizeof upper; k++)
                upper[k] = (char)toupper((unsigned char)word[k]);
            upper[k] = '\0';
            for (size_t i = 0; i < SAGA_STATUS_COUNT; i++) {
                size_t d = cli_edit_distance(upper, ALL_STATUSES[i]);
                if (d < best) {
                    best = d;
                    close = ALL_STATUSES[i];
                }
            }
            saga_error_hint(err, "%s%s%svalid statuses: RUNNING, CONFIRMING, "
                                 "COMPENSATING, COMPLETED, COMPENSATED, "
                                 "SCHEDULED, or active / terminal",
                            close ? "did you mean " : "", close ? close : "",
                            close ? "? " : "");
            return SAGA_EINVAL;
        }
    }
    if (*n == 0)
        return saga_error_set(err, SAGA_EINVAL, "--status: no status given");
    return 0;
}
