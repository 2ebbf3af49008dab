/*
 * barrier.c - the barrier's rules and the SQL that applies them.
 *
 * The claim is one statement for a whole batch: it inserts a row per
 * command and, in the same snapshot, returns the rows the steps recorded
 * before. A command that loses an insert race waits for the winner's commit
 * and then finds its row missing from that snapshot; its keys are read once
 * more, in a fresh snapshot, and it answers as a duplicate. Rows are keyed
 * by the step's idempotency key, so the rules need nothing but the step's
 * own history. Batches travel as one JSON parameter (jsonb_to_recordset):
 * one prepared statement whatever the batch size, no array quoting.
 */
#include "barrier.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "pg.h"

/* build/gen/migrations_barrier.c, from schema/barrier/. */
extern const saga_migration saga_migrations_barrier[];
extern const size_t saga_migrations_barrier_count;

static saga_barrier_decision record(saga_worker_outcome o, const char *reason,
                                    const char *result, bool anomaly)
{
    saga_barrier_decision d = {SAGA_BARRIER_RECORD, o, reason, result, anomaly};
    return d;
}

saga_barrier_decision saga_barrier_decide(saga_worker_action action,
                                          const saga_barrier_seen *seen)
{
    saga_barrier_decision handle = {SAGA_BARRIER_HANDLE, 0, "", NULL, false};
    saga_worker_outcome reserve = seen->outcome[SAGA_WORKER_RESERVE];
    saga_worker_outcome confirm = seen->outcome[SAGA_WORKER_CONFIRM];
    saga_worker_outcome compensate = seen->outcome[SAGA_WORKER_COMPENSATE];
    switch (action) {
    case SAGA_WORKER_RESERVE:
        if (compensate)
            return record(SAGA_WORKER_REJECTED, SAGA_BARRIER_HANGING, NULL, true);
        if (confirm)
            return record(SAGA_WORKER_REJECTED, SAGA_BARRIER_LATE, NULL, true);
        return handle;
    case SAGA_WORKER_CONFIRM:
        if (compensate == SAGA_WORKER_OK)
            return record(SAGA_WORKER_REJECTED, SAGA_BARRIER_COMPENSATED, NULL, true);
        if (reserve != SAGA_WORKER_OK)
            return record(SAGA_WORKER_REJECTED, SAGA_BARRIER_NOTHING_TO_CONFIRM, NULL, true);
        return handle;
    case SAGA_WORKER_COMPENSATE:
        if (confirm == SAGA_WORKER_OK)
            return record(SAGA_WORKER_REJECTED, SAGA_BARRIER_CONFIRMED, NULL, true);
        if (!reserve)
            return record(SAGA_WORKER_OK, "", SAGA_BARRIER_EMPTY_RESULT, false);
        if (reserve == SAGA_WORKER_REJECTED)
            return record(SAGA_WORKER_OK, "", SAGA_BARRIER_NOOP_RESULT, false);
        return handle;
    }
    return handle;
}

/* fmt uses %1$s (possibly several times) for the quoted schema. */
static char *format_sql(const char *fmt, const char *ident)
{
    size_t len = strlen(fmt) + 4 * strlen(ident) + 1;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, fmt, ident);
    return s;
}

static int check_table(PGconn *c, const char *ident, const char *schema, saga_error *err)
{
    char table[600];
    snprintf(table, sizeof table, "%s.barrier", ident);
    const char *p[1] = {table};
    PGresult *r = PQexecParams(c, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, p, NULL,
                               NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = saga_error_set(err, SAGA_EDB, "barrier: %s", PQresultErrorMessage(r));
    } else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        rc = saga_error_set(err, SAGA_ENOTFOUND, "barrier table %s.barrier does not exist",
                            schema);
        saga_error_hint(err, "the worker library creates it (saga_barrier_migrate, run by "
                             "`<name>-worker migrate` and at start); its layout is in "
                             "docs/participants.md");
    }
    PQclear(r);
    return rc;
}

int saga_barrier_open(saga_barrier *b, PGconn *c, const char *schema, saga_error *err)
{
    memset(b, 0, sizeof *b);
    char *ident = PQescapeIdentifier(c, schema, strlen(schema));
    if (!ident)
        return saga_error_set(err, SAGA_EDB, "barrier: %s", PQerrorMessage(c));
    /* Inserting in key order keeps two overlapping batches (a rebalance)
     * from deadlocking on each other's rows. Keys are matched as an array
     * (= ANY(ARRAY(...))), not only by joining the record set: the planner
     * guesses 100 rows for jsonb_to_recordset and would otherwise hash them
     * against a sequential scan of a barrier table of a few thousand rows
     * (0.8 -> 0.3 ms for a batch of one). */
    b->claim_sql = format_sql(
        "WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb)"
        "  AS t(k text, a text, s text, st text, n integer)),"
        " ins AS (INSERT INTO %1$s.barrier (idempotency_key, action, saga_id, step, attempt)"
        "  SELECT k, a, s, st, n FROM input ORDER BY k, a"
        "  ON CONFLICT DO NOTHING RETURNING idempotency_key, action)"
        " SELECT idempotency_key, action, outcome, reason, result::text, false"
        "  FROM %1$s.barrier WHERE idempotency_key = ANY(ARRAY(SELECT k FROM input))"
        " UNION ALL SELECT idempotency_key, action, NULL, NULL, NULL, true FROM ins",
        ident);
    b->reread_sql = format_sql(
        "SELECT idempotency_key, action, outcome, reason, result::text, false"
        " FROM %1$s.barrier WHERE idempotency_key IN"
        " (SELECT jsonb_array_elements_text($1::jsonb))",
        ident);
    b->record_sql = format_sql(
        "WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb)"
        "  AS t(k text, a text, o text, r text, res jsonb)),"
        " unclaim AS (DELETE FROM %1$s.barrier b USING input i"
        "  WHERE i.o IS NULL AND b.idempotency_key = i.k AND b.action = i.a)"
        " UPDATE %1$s.barrier b SET outcome = i.o, reason = i.r, result = i.res"
        " FROM input i WHERE i.o IS NOT NULL AND b.idempotency_key = i.k AND b.action = i.a"
        "  AND b.idempotency_key = ANY(ARRAY(SELECT k FROM input))"
        " RETURNING b.idempotency_key, b.action, b.outcome, b.reason, b.result::text, true",
        ident);
    int rc = 0;
    if (!b->claim_sql || !b->reread_sql || !b->record_sql)
        rc = saga_error_set(err, SAGA_ENOMEM, "barrier: out of memory");
    else
        rc = check_table(c, ident, schema, err);
    PQfreemem(ident);
    if (rc)
        saga_barrier_close(b);
    return rc;
}

/* sql with every :"schema" replaced by ident (owned; NULL: out of memory). */
static char *with_schema(const char *sql, const char *ident)
{
    static const char mark[] = ":\"schema\"";
    size_t n = 0;
    for (const char *p = strstr(sql, mark); p; p = strstr(p + 1, mark))
        n++;
    char *out = malloc(strlen(sql) + n * strlen(ident) + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = sql, *m; *p; p = m + sizeof mark - 1) {
        if (!(m = strstr(p, mark))) {
            strcpy(o, p);
            return out;
        }
        memcpy(o, p, (size_t)(m - p));
        o += m - p;
        o = stpcpy(o, ident);
    }
    *o = '\0';
    return out;
}

int saga_barrier_migrate(PGconn *c, const char *schema, int *applied, saga_error *err)
{
    size_t n = saga_migrations_barrier_count;
    saga_migration *list = calloc(n ? n : 1, sizeof *list);
    char *ident = PQescapeIdentifier(c, schema, strlen(schema));
    char *component = malloc(strlen(schema) + sizeof "barrier:");
    int rc = list && ident && component ? 0 : saga_error_set(err, SAGA_ENOMEM, "barrier: out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        list[i] = saga_migrations_barrier[i];
        if (!(list[i].sql = with_schema(saga_migrations_barrier[i].sql, ident)))
            rc = saga_error_set(err, SAGA_ENOMEM, "barrier: out of memory");
    }
    if (rc == 0) {
        sprintf(component, "barrier:%s", schema);
        rc = saga_migrate(c, component, list, n, applied, err);
    }
    for (size_t i = 0; list && i < n; i++)
        free((char *)list[i].sql);
    free(list);
    free(component);
    PQfreemem(ident);
    return rc;
}

void saga_barrier_close(saga_barrier *b)
{
    free(b->claim_sql);
    free(b->reread_sql);
    free(b->record_sql);
    memset(b, 0, sizeof *b);
}

static saga_worker_outcome outcome_parse(const char *s)
{
    if (strcmp(s, "OK") == 0)
        return SAGA_WORKER_OK;
    if (strcmp(s, "REJECTED") == 0)
        return SAGA_WORKER_REJECTED;
    return 0;
}

void saga_barrier_rows_free(saga_barrier_rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->rows[i].key);
        free(r->rows[i].reason);
        free(r->rows[i].result);
    }
    free(r->rows);
    memset(r, 0, sizeof *r);
}

const saga_barrier_row *saga_barrier_rows_find(const saga_barrier_rows *r, const char *key,
                                               saga_worker_action action, bool mine)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->rows[i].action == action && r->rows[i].mine == mine &&
            strcmp(r->rows[i].key, key) == 0)
            return &r->rows[i];
    return NULL;
}

static char *dup_value(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

/* Appends the rows (key, action, outcome, reason, result, mine) of r. */
static int add_rows(saga_barrier_rows *out, PGresult *r, saga_error *err)
{
    for (int i = 0; i < PQntuples(r); i++) {
        saga_worker_action a;
        if (saga_worker_action_parse(PQgetvalue(r, i, 1), &a) != 0)
            continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 64;
            saga_barrier_row *rows = realloc(out->rows, cap * sizeof *rows);
            if (!rows)
                return saga_error_set(err, SAGA_ENOMEM, "barrier: out of memory");
            out->rows = rows;
            out->cap = cap;
        }
        saga_barrier_row *row = &out->rows[out->n];
        memset(row, 0, sizeof *row);
        row->action = a;
        row->mine = strcmp(PQgetvalue(r, i, 5), "t") == 0;
        row->outcome = PQgetisnull(r, i, 2) ? 0 : outcome_parse(PQgetvalue(r, i, 2));
        row->key = strdup(PQgetvalue(r, i, 0));
        row->reason = strdup(PQgetisnull(r, i, 3) ? "" : PQgetvalue(r, i, 3));
        row->result = dup_value(r, i, 4);
        out->n++;
        if (!row->key || !row->reason || (!PQgetisnull(r, i, 4) && !row->result))
            return saga_error_set(err, SAGA_ENOMEM, "barrier: out of memory");
    }
    return 0;
}

static int statement_failed(PGresult *r, saga_error *err)
{
    ExecStatusType st = PQresultStatus(r);
    if (r && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
        return 0;
    return saga_error_set(err, SAGA_EDB, "barrier: %s",
                          r && st != PGRES_PIPELINE_ABORTED ? PQresultErrorMessage(r)
                                                            : "statement not run");
}

/* The barrier's statements and the caller's bookkeeping around them, sent
 * as one round trip (deferred, pg.h). Each statement's result is kept (its
 * own, failed or aborted) for statement_failed to judge; once one cannot be
 * sent, the later ones are not. */
typedef struct pipeline {
    PGresult *res[3];
    int n;
    bool unsent;
    saga_error why; /* when unsent */
} pipeline;

static void pipeline_add(pipeline *p, PGconn *c, const char *sql, int n_params,
                         const char *const *params)
{
    p->res[p->n] = NULL;
    if (!p->unsent && saga_pg_defer(c, sql, n_params, params, &p->res[p->n], &p->why))
        p->unsent = true;
    p->n++;
}

/* Reads every result. 0, or SAGA_EDB when a statement could not be sent. */
static int pipeline_run(pipeline *p, PGconn *c, saga_error *err)
{
    saga_error judged_later; /* each result is judged by statement_failed */
    saga_pg_settle(c, &judged_later);
    if (p->unsent)
        return saga_error_set(err, SAGA_EDB, "barrier: %s", p->why.msg);
    return 0;
}

static void pipeline_clear(pipeline *p)
{
    for (int i = 0; i < p->n; i++)
        PQclear(p->res[i]);
    p->n = 0;
}

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* The recorded rows of keys (a JSON array, taken over); NULL when out of
 * memory. */
static PGresult *read_keys(saga_barrier *b, PGconn *c, json_t *keys)
{
    char *param = dump(keys);
    if (!param)
        return NULL;
    const char *vals[1] = {param};
    PGresult *r = saga_pg_query(c, b->reread_sql, 1, vals, 0);
    free(param);
    return r;
}

int saga_barrier_read(saga_barrier *b, PGconn *c, const char *const *keys, size_t n,
                      saga_barrier_rows *out, saga_error *err)
{
    memset(out, 0, sizeof *out);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(keys[i]));
    PGresult *r = read_keys(b, c, arr);
    int rc = r ? statement_failed(r, err) : saga_error_set(err, SAGA_ENOMEM, "barrier: out of memory");
    if (rc == 0)
        rc = add_rows(out, r, err);
    PQclear(r);
    return rc;
}

/* Reads again, in a fresh snapshot, the keys whose claim lost a race. */
static int reread_lost(saga_barrier *b, PGconn *c, const Saga__Command *const *cmds, size_t n,
                       saga_barrier_rows *out, saga_error *err)
{
    json_t *keys = json_array();
    for (size_t i = 0; i < n; i++) {
        saga_worker_action a = (saga_worker_action)cmds[i]->action;
        if (!saga_barrier_rows_find(out, cmds[i]->idempotency_key, a, true) &&
            !saga_barrier_rows_find(out, cmds[i]->idempotency_key, a, false))
            json_array_append_new(keys, json_string(cmds[i]->idempotency_key));
    }
    if (json_array_size(keys) == 0) {
        json_decref(keys);
        return 0;
    }
    PGresult *r = read_keys(b, c, keys);
    int rc = r ? statement_failed(r, err) : saga_error_set(err, SAGA_ENOMEM, "barrier: out of memory");
    if (rc == 0) {
        /* The earlier snapshot's rows of these keys are superseded: action 0
         * makes them invisible to saga_barrier_rows_find. */
        for (size_t i = 0; i < out->n; i++)
            for (int j = 0; j < PQntuples(r); j++)
                if (!out->rows[i].mine && strcmp(out->rows[i].key, PQgetvalue(r, j, 0)) == 0)
                    out->rows[i].action = 0;
        rc = add_rows(out, r, err);
    }
    PQclear(r);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        saga_worker_action a = (saga_worker_action)cmds[i]->action;
        if (!saga_barrier_rows_find(out, cmds[i]->idempotency_key, a, true) &&
            !saga_barrier_rows_find(out, cmds[i]->idempotency_key, a, false))
            rc = saga_error_set(err, SAGA_EDB, "barrier: row %s/%s neither claimed nor recorded",
                                cmds[i]->idempotency_key, saga_worker_action_name(a));
    }
    return rc;
}

int saga_barrier_claim(saga_barrier *b, PGconn *c, const char *before,
                       const Saga__Command *const *cmds, size_t n, saga_barrier_rows *out,
                       saga_error *err)
{
    memset(out, 0, sizeof *out);
    json_t *input = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            input, json_pack("{s:s, s:s, s:s, s:s, s:i}", "k", cmds[i]->idempotency_key, "a",
                             saga_worker_action_name((saga_worker_action)cmds[i]->action), "s",
                             cmds[i]->saga_id, "st", cmds[i]->step, "n", (int)cmds[i]->attempt));
    char *param = dump(input);
    if (!param)
        return saga_error_set(err, SAGA_ENOMEM, "barrier: out of memory");
    const char *vals[1] = {param};
    pipeline p = {0};
    if (before)
        pipeline_add(&p, c, before, 0, NULL);
    int at = p.n;
    pipeline_add(&p, c, b->claim_sql, 1, vals);
    int rc = pipeline_run(&p, c, err);
    if (rc == 0 && before)
        rc = statement_failed(p.res[0], err);
    if (rc == 0)
        rc = statement_failed(p.res[at], err);
    if (rc == 0)
        rc = add_rows(out, p.res[at], err);
    pipeline_clear(&p);
    free(param);
    if (rc == 0)
        rc = reread_lost(b, c, cmds, n, out, err);
    return rc;
}

int saga_barrier_record(saga_barrier *b, PGconn *c, const char *before, const char *after,
                        const saga_barrier_answer *answers, size_t n,
                        saga_barrier_rows *stored, bool *after_ok, saga_error *err)
{
    memset(stored, 0, sizeof *stored);
    *after_ok = false;
    json_t *input = json_array();
    for (size_t i = 0; i < n; i++) {
        const saga_barrier_answer *a = &answers[i];
        json_t *row = json_pack("{s:s, s:s}", "k", a->key, "a", saga_worker_action_name(a->action));
        if (a->outcome) {
            json_object_set_new(row, "o", json_string(saga_worker_outcome_name(a->outcome)));
            json_object_set_new(row, "r", json_string(a->reason ? a->reason : ""));
            json_t *res = a->result ? json_loads(a->result, JSON_DECODE_ANY, NULL) : NULL;
            if (res)
                json_object_set_new(row, "res", res);
        }
        json_array_append_new(input, row);
    }
    char *param = dump(input);
    if (!param)
        return saga_error_set(err, SAGA_ENOMEM, "barrier: out of memory");
    const char *vals[1] = {param};
    pipeline p = {0};
    if (before)
        pipeline_add(&p, c, before, 0, NULL);
    int at = p.n;
    pipeline_add(&p, c, b->record_sql, 1, vals);
    if (after)
        pipeline_add(&p, c, after, 0, NULL);
    int rc = pipeline_run(&p, c, err);
    if (rc == 0 && before)
        rc = statement_failed(p.res[0], err);
    if (rc == 0)
        rc = statement_failed(p.res[at], err);
    if (rc == 0)
        rc = add_rows(stored, p.res[at], err);
    if (rc == 0 && after)
        *after_ok = statement_failed(p.res[p.n - 1], err) == 0;
    pipeline_clear(&p);
    free(param);
    return rc;
}
