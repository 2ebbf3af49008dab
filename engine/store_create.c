/*
 * store_create.c - new sagas: their saga row, step rows and "created"
 * history row, many in one statement (a turn of sagad creates every saga its
 * StartSaga messages ask for at once).
 *
 * What a new saga's rows hold is the decision core's, not this file's: the
 * rows are saga_machine_init's state for the spec, written through the same
 * records as every later change (store_record.h). The one thing decided here
 * is scheduling: a saga started outside sagad is due at once, so a timer
 * applies its START.
 */
#include "store.h"
#include "store_record.h"

#include "clock.h"

#include <stdio.h>
#include <stdlib.h>

/* $1: the sagas, $2: their steps. An idempotency key that exists (or
 * repeats within the batch) inserts nothing; the positions of the created
 * ones come back. */
static const char *CREATE_SQL =
    "WITH u AS ("
    "  SELECT * FROM jsonb_to_recordset($1::jsonb) AS u(seq integer, id uuid,"
    "    def_name text, def_version integer, input jsonb, key text, tp text,"
    "    wake boolean, text text, status text, progress_ms bigint, wake_ms bigint,"
    "    stuck boolean, stuck_reason text, aborted boolean, resolved boolean,"
    "    start_ms bigint, deadline_ms bigint, deadline_at_ms bigint, tags jsonb,"
    "    writer bigint)),"
    " s AS ("
    "  INSERT INTO sagas (id, def_name, def_version, status, input, idempotency_key,"
    "                     traceparent, created_at, updated_at, progress_at, wake_at,"
    "                     stuck, stuck_reason, aborted, resolved, start_at,"
    "                     deadline_ms, deadline_at, tags, writer)"
    "  SELECT id, def_name, def_version, status, input, nullif(key, ''), tp,"
    "         now(), now(), to_timestamp(progress_ms / 1000.0),"
    "         CASE WHEN wake THEN now()"
    "              WHEN wake_ms > 0 THEN to_timestamp(wake_ms / 1000.0) END,"
    "         stuck, stuck_reason, aborted, resolved,"
    "         CASE WHEN start_ms > 0 THEN to_timestamp(start_ms / 1000.0) END,"
    "         deadline_ms,"
    "         CASE WHEN deadline_at_ms > 0 THEN to_timestamp(deadline_at_ms / 1000.0) END,"
    "         coalesce(tags, '{}'), nullif(writer, 0)"
    "  FROM u ORDER BY seq"
    "  ON CONFLICT (idempotency_key) DO NOTHING"
    "  RETURNING id),"
    " st AS ("
    "  INSERT INTO saga_steps (saga_id, idx, name, status, action, attempt, failures,"
    "    deadline_at, retry_at, reserve_attempts, confirm_attempts, compensate_attempts,"
    "    reserve_outcome, confirm_outcome, compensate_outcome, last_error)"
    "  SELECT e.saga_id, e.idx, e.name, e.status, e.action, e.attempt, e.failures,"
    "    CASE WHEN e.deadline_ms > 0 THEN to_timestamp(e.deadline_ms / 1000.0) END,"
    "    CASE WHEN e.retry_ms > 0 THEN to_timestamp(e.retry_ms / 1000.0) END,"
    "    e.ra, e.ca, e.xa, e.ro, e.co, e.xo, e.err"
    "  FROM jsonb_to_recordset($2::jsonb) AS e(saga_id uuid, idx smallint, name text,"
    "    status text, action text, attempt integer, failures integer,"
    "    deadline_ms bigint, retry_ms bigint, ra integer, ca integer, xa integer,"
    "    ro text, co text, xo text, err text)"
    "  JOIN s ON s.id = e.saga_id),"
    " h AS ("
    "  INSERT INTO saga_history (saga_id, at, kind, text)"
    "  SELECT u.id, to_timestamp(u.progress_ms / 1000.0), 'created', u.text"
    "  FROM u JOIN s ON s.id = u.id)"
    "SELECT u.seq FROM u JOIN s ON s.id = u.id";

/* The "created" history line: the definition, and when a scheduled saga
 * starts. */
static void created_text(const saga_new *s, const saga_state *st, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "saga created from %s@%d", s->spec->name, s->spec->version);
    if (st->status == SAGA_SCHEDULED && n > 0 && (size_t)n < cap) {
        char at[SAGA_TIME_TEXT_MAX];
        saga_time_format_utc(st->start_at_ms, at, sizeof at);
        snprintf(buf + n, cap - (size_t)n, ", scheduled to start at %s", at);
    }
}

/* Appends s's saga record to sagas and its step records to steps; false
 * when out of memory (or the input is not UTF-8). */
static bool add_new(json_t *sagas, json_t *steps, const saga_new *s, size_t seq)
{
    saga_state st;
    saga_machine_init_opts(s->spec, &st, s->now_ms, &s->opts);
    bool wake = s->wake_now && st.status != SAGA_SCHEDULED;
    char text[160];
    created_text(s, &st, text, sizeof text);
    json_t *rec = saga_store_saga_record(s->id, &st);
    json_t *more = json_pack("{s:I, s:s, s:i, s:O, s:s, s:s, s:b, s:s, s:O, s:I}", "seq",
                             (json_int_t)seq, "def_name", s->spec->name, "def_version",
                             s->spec->version, "input", s->input, "key",
                             s->idempotency_key ? s->idempotency_key : "", "tp",
                             s->traceparent, "wake", wake, "text", text, "tags",
                             s->tags ? s->tags : json_null(), "writer",
                             (json_int_t)s->writer);
    bool ok = rec && more && json_object_update(rec, more) == 0 &&
              json_array_append(sagas, rec) == 0;
    json_decref(more);
    json_decref(rec);
    for (size_t i = 0; ok && i < st.n_steps; i++) {
        json_t *step = saga_store_step_record(s->id, i, &st.steps[i]);
        ok = step && json_object_set_new(step, "name", json_string(s->spec->steps[i].name)) == 0 &&
             json_array_append(steps, step) == 0;
        json_decref(step);
    }
    return ok;
}

int saga_store_create_many(PGconn *conn, const saga_new *const *s, size_t n, bool *created,
                           saga_error *err)
{
    for (size_t i = 0; i < n; i++)
        created[i] = false;
    if (n == 0)
        return 0;
    json_t *sagas = json_array(), *steps = json_array();
    bool ok = sagas && steps;
    for (size_t i = 0; ok && i < n; i++)
        ok = add_new(sagas, steps, s[i], i);
    char *p[2] = {ok ? json_dumps(sagas, JSON_COMPACT) : NULL,
                  ok ? json_dumps(steps, JSON_COMPACT) : NULL};
    json_decref(sagas);
    json_decref(steps);
    int rc = 0;
    if (!p[0] || !p[1]) {
        rc = saga_error_set(err, SAGA_ENOMEM, "out of memory (or input not UTF-8)");
    } else {
        const char *params[2] = {p[0], p[1]};
        PGresult *r = saga_pg_query(conn, CREATE_SQL, 2, params, 0);
        rc = saga_pg_result_ok(r, conn, "create sagas", err);
        for (int j = 0; rc == 0 && j < PQntuples(r); j++) {
            long seq = atol(PQgetvalue(r, j, 0));
            if (seq >= 0 && (size_t)seq < n)
                created[seq] = true;
        }
        PQclear(r);
    }
    free(p[0]);
    free(p[1]);
    return rc;
}

int saga_store_create(PGconn *conn, const saga_new *s, bool *existed,
                      char existing_id[SAGA_ID_LEN + 1], saga_error *err)
{
    bool created = false;
    *existed = false;
    int rc = saga_store_create_many(conn, &s, 1, &created, err);
    if (rc || created)
        return rc;
    /* The key exists: a row locked by a concurrent creator is waited for by
     * the INSERT above, so this SELECT sees the committed one. */
    const char *p[1] = {s->idempotency_key ? s->idempotency_key : ""};
    PGresult *r = PQexecParams(conn, "SELECT id FROM sagas WHERE idempotency_key = $1",
                               1, NULL, p, NULL, NULL, 0);
    rc = saga_pg_result_ok(r, conn, "find saga by idempotency key", err);
    if (rc == 0 && PQntuples(r) == 1) {
        *existed = true;
        snprintf(existing_id, SAGA_ID_LEN + 1, "%s", PQgetvalue(r, 0, 0));
    } else if (rc == 0) {
        rc = saga_error_set(err, SAGA_EDB, "idempotency key conflict but no saga found");
    }
    PQclear(r);
    return rc;
}
