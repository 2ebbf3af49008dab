/*
 * flows.c - how sagactl names the steps no participant runs: a signal step
 * ("waiting for signal approve_large_order since 4m") and a sub-saga step
 * ("sub-saga shipping"), and a saga's parent and children for `show`.
 *
 * list, show and stuck describe waits through cli_participant and
 * waiting.c; these helpers are what they ask when the step turns out to be
 * one of these kinds, so the wording lives in one place.
 */
#include <stdio.h>
#include <string.h>

#include "sagactl.h"

static const saga_step_def *step_def(cli *c, const char *def, int ver, const char *step)
{
    saga_error err;
    const saga_spec *spec = cli_spec(c, def, ver, &err);
    int i = spec ? saga_spec_step_index(spec, step) : -1;
    return i >= 0 ? &spec->steps[i] : NULL;
}

const char *cli_step_runner(cli *c, const char *def, int ver, const char *step)
{
    static char label[SAGA_SPEC_MAX_NAME + 16];
    const saga_step_def *d = step_def(c, def, ver, step);
    if (!d)
        return step;
    if (d->kind == SAGA_STEP_SIGNAL)
        return "signal";
    if (d->kind == SAGA_STEP_SAGA) {
        snprintf(label, sizeof label, "sub-saga %s", d->subsaga);
        return label;
    }
    return d->participant;
}

bool cli_signal_wait(cli *c, const char *def, int ver, const char *step,
                     int64_t deadline_ms, char *buf, size_t cap)
{
    const saga_step_def *d = step_def(c, def, ver, step);
    if (!d || d->kind != SAGA_STEP_SIGNAL)
        return false;
    char since[32] = "?";
    if (deadline_ms) {
        int64_t waited = saga_now_ms() - (deadline_ms - d->timeout_ms);
        cli_duration_text(waited < 0 ? 0 : waited, since, sizeof since);
    }
    snprintf(buf, cap, "waiting for signal %s since %s", step, since);
    return true;
}

/* The saga's parent (one row, kind 'parent') and its sub-sagas ('child'):
 * kind, id, step, status. NULL on a database error (links are extras: the
 * caller shows the rest). */
static PGresult *family(cli *c, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = saga_pg_query(c->conn,
                                "SELECT 'parent', parent_id::text, parent_step, NULL FROM sagas"
                                " WHERE id = $1::uuid AND parent_id IS NOT NULL"
                                " UNION ALL SELECT 'child', id::text, parent_step, status"
                                " FROM sagas WHERE parent_id = $1::uuid",
                                1, p, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    PQclear(r);
    return NULL;
}

void cli_show_family(cli *c, const char *id)
{
    PGresult *r = family(c, id);
    for (int i = 0; r && i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 0), "parent") == 0)
            printf("parent      %s (this saga runs its step %s)\n", PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2));
        else
            printf("sub-saga    %s for step %s (%s)\n", PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
    }
    PQclear(r);
}

json_t *cli_children_json(cli *c, const char *id)
{
    json_t *arr = json_array();
    PGresult *r = family(c, id);
    for (int i = 0; r && i < PQntuples(r); i++)
        if (strcmp(PQgetvalue(r, i, 0), "child") == 0)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "id", PQgetvalue(r, i, 1),
                                                 "step", PQgetvalue(r, i, 2), "status",
                                                 PQgetvalue(r, i, 3)));
    PQclear(r);
    return arr;
}

void cli_flow_json(const PGresult *r, int row, int col, json_t *o)
{
    json_t *tags = cli_json_parse_col(r, row, col + QFLOW_TAGS);
    json_object_set_new(o, "tags", json_is_object(tags) ? tags : json_object());
    if (!json_is_object(tags))
        json_decref(tags);
    int64_t ms = cli_get_i64(r, row, col + QFLOW_DEADLINE_MS);
    json_object_set_new(o, "deadline_ms", ms ? json_integer(ms) : json_null());
    json_object_set_new(o, "deadline_at",
                        cli_time_json(cli_get_i64(r, row, col + QFLOW_DEADLINE_AT)));
    json_object_set_new(o, "deadline_expired",
                        json_boolean(cli_get(r, row, col + QFLOW_EXPIRED)[0] == 't'));
    json_object_set_new(o, "start_at", cli_time_json(cli_get_i64(r, row, col + QFLOW_START_AT)));
    json_object_set_new(o, "parent_id", cli_json_col(r, row, col + QFLOW_PARENT));
    json_object_set_new(o, "parent_step", cli_json_col(r, row, col + QFLOW_PARENT_STEP));
}

size_t cli_flow_cause(const PGresult *r, int row, int col, char *buf, size_t cap)
{
    buf[0] = '\0';
    int64_t ms = cli_get_i64(r, row, col + QFLOW_DEADLINE_MS);
    if (cap < 3 || ms <= 0 || cli_get(r, row, col + QFLOW_EXPIRED)[0] != 't')
        return 0;
    saga_machine_deadline_cause(ms, buf, cap - 2);
    strcat(buf, "; ");
    return strlen(buf);
}

/* "order=o-1 customer=alice", or "" when the saga has none. */
static void tags_text(const PGresult *r, int row, int col, char *buf, size_t cap)
{
    json_t *tags = cli_json_parse_col(r, row, col + QFLOW_TAGS);
    const char *k;
    json_t *v;
    size_t n = 0;
    buf[0] = '\0';
    json_object_foreach(tags, k, v) {
        int w = snprintf(buf + n, cap - n, "%s%s=%s", n ? " " : "", k,
                         json_string_value(v) ? json_string_value(v) : "");
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    json_decref(tags);
}

void cli_flow_print(cli *c, const PGresult *r, int row, int col, const char *status)
{
    char when[SAGA_TIME_TEXT_MAX], dur[SAGA_TIME_TEXT_MAX], text[1024];
    int64_t start_at = cli_get_i64(r, row, col + QFLOW_START_AT);
    if (start_at) {
        cli_time_text(c, start_at, when, sizeof when);
        printf("scheduled   %s %s%s\n", strcmp(status, "SCHEDULED") == 0 ? "starts" : "started",
               c->utc ? "at " : "", when);
    }
    int64_t ms = cli_get_i64(r, row, col + QFLOW_DEADLINE_MS);
    int64_t at = cli_get_i64(r, row, col + QFLOW_DEADLINE_AT);
    if (ms > 0) {
        saga_duration_format(ms, 2, dur, sizeof dur);
        cli_time_text(c, at, when, sizeof when);
        char cause[SAGA_MACHINE_ERROR_MAX];
        saga_machine_deadline_cause(ms, cause, sizeof cause);
        if (cli_get(r, row, col + QFLOW_EXPIRED)[0] == 't')
            printf("deadline    expired %s%s: %s, the saga compensates what it reserved\n",
                   c->utc ? "at " : "", when, cause);
        else if (!at)
            printf("deadline    %s, armed when the saga starts\n", dur);
        else
            printf("deadline    %s, %s%s%s\n", dur, at > c->now_ms ? "expires " : "passed ",
                   c->utc ? "at " : "", when);
    }
    tags_text(r, row, col, text, sizeof text);
    if (text[0])
        printf("tags        %s\n", text);
}

bool cli_has_parent(cli *c, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = saga_pg_query(c->conn,
                                "SELECT 1 FROM sagas WHERE id = $1::uuid AND parent_id IS NOT NULL",
                                1, p, 0);
    bool yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    return yes;
}
