/*
 * store_write.c - a batch's changes, queued as JSON records and written by
 * one statement (saga_store_write), the second round trip of a turn when
 * deferred with its COMMIT; and the outbox delete that rides on a turn.
 *
 * Only what changed is queued (the row as loaded is kept beside it), so a
 * reply that moves one step writes one step row; the saga's own row is
 * written when it changed or when another process wrote it last. The
 * record of a saga and of a step is also what saga_store_create inserts
 * (store_record.h), so a new saga's rows and a written one's cannot drift
 * apart.
 */
#include "store.h"
#include "store_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void saga_writes_init(saga_writes *w)
{
    w->sagas = json_array();
    w->remembered = json_array();
    w->steps = json_array();
    w->history = json_array();
    w->outbox = json_array();
    w->n_outbox = 0;
    w->earliest_wake_ms = 0;
    w->failed = !w->sagas || !w->remembered || !w->steps || !w->history || !w->outbox;
}

static void append(saga_writes *w, json_t *arr, json_t *rec)
{
    if (!rec || json_array_append_new(arr, rec))
        w->failed = true;
}

void saga_writes_clear(saga_writes *w)
{
    json_decref(w->sagas);
    json_decref(w->remembered);
    json_decref(w->steps);
    json_decref(w->history);
    json_decref(w->outbox);
    w->sagas = w->remembered = w->steps = w->history = w->outbox = NULL;
    w->n_outbox = 0;
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *outcome_json(saga_outcome o)
{
    return o == SAGA_OUT_NONE ? json_null() : json_string(saga_outcome_name(o));
}

static bool saga_level_changed(const saga_state *a, const saga_state *b)
{
    return a->status != b->status || a->stuck != b->stuck ||
           a->resolved != b->resolved || a->aborted != b->aborted ||
           a->progress_ms != b->progress_ms || a->wake_ms != b->wake_ms ||
           a->deadline_at_ms != b->deadline_at_ms ||
           a->deadline_expired != b->deadline_expired ||
           strcmp(a->stuck_reason, b->stuck_reason) != 0;
}

json_t *saga_store_saga_record(const char *id, const saga_state *st)
{
    json_t *rec = json_pack("{s:s, s:s, s:I, s:I, s:b, s:o, s:b, s:b}", "id", id, "status",
                            saga_status_name(st->status), "progress_ms",
                            (json_int_t)st->progress_ms, "wake_ms", (json_int_t)st->wake_ms,
                            "stuck", st->stuck, "stuck_reason", str_or_null(st->stuck_reason),
                            "aborted", st->aborted, "resolved", st->resolved);
    json_t *flows = json_pack("{s:I, s:I, s:I, s:b}", "start_ms", (json_int_t)st->start_at_ms,
                              "deadline_ms", (json_int_t)st->deadline_ms, "deadline_at_ms",
                              (json_int_t)st->deadline_at_ms, "deadline_expired",
                              st->deadline_expired);
    if (!rec || !flows || json_object_update(rec, flows)) {
        json_decref(rec);
        rec = NULL;
    }
    json_decref(flows);
    return rec;
}

json_t *saga_store_step_record(const char *saga_id, size_t idx, const saga_step_state *s)
{
    return json_pack(
        "{s:s, s:i, s:s, s:o, s:i, s:i, s:I, s:I, s:i, s:i, s:i, s:o, s:o, s:o, s:o}",
        "saga_id", saga_id, "idx", (int)idx, "status", saga_step_status_name(s->status),
        "action",
        s->action == SAGA_ACT_NONE ? json_null() : json_string(saga_action_name(s->action)),
        "attempt", s->attempt, "failures", s->failures, "deadline_ms",
        (json_int_t)s->deadline_ms, "retry_ms", (json_int_t)s->retry_at_ms, "ra",
        s->reserve_attempts, "ca", s->confirm_attempts, "xa", s->compensate_attempts, "ro",
        outcome_json(s->reserve_outcome), "co", outcome_json(s->confirm_outcome), "xo",
        outcome_json(s->compensate_outcome), "err", str_or_null(s->last_error));
}

void saga_writes_row(saga_writes *w, const saga_row *row, int64_t writer)
{
    const saga_state *st = &row->st;
    if (st->wake_ms > 0 && (w->earliest_wake_ms == 0 || st->wake_ms < w->earliest_wake_ms))
        w->earliest_wake_ms = st->wake_ms;
    if (row->remembered)
        append(w, w->remembered, json_pack("{s:s, s:I}", "id", row->id, "w",
                                           (json_int_t)row->writer));
    bool changed = saga_level_changed(st, &row->loaded);
    if (changed || row->writer != writer) {
        json_t *rec = saga_store_saga_record(row->id, st);
        if (rec && (json_object_set_new(rec, "writer", json_integer(writer)) ||
                    json_object_set_new(rec, "changed", json_boolean(changed)))) {
            json_decref(rec);
            rec = NULL;
        }
        append(w, w->sagas, rec);
    }
    for (size_t i = 0; i < st->n_steps; i++) {
        const saga_step_state *s = &st->steps[i];
        if (memcmp(s, &row->loaded.steps[i], sizeof *s) == 0 && !row->result_dirty[i])
            continue;
        json_t *rec = saga_store_step_record(row->id, i, s);
        if (rec && row->result_dirty[i] && row->results[i])
            json_object_set(rec, "result", row->results[i]);
        append(w, w->steps, rec);
    }
}

void saga_writes_history(saga_writes *w, const char *saga_id, int64_t at_ms,
                         const char *kind, const char *step,
                         const char *action, int attempt, const char *outcome,
                         const char *text, const char *actor)
{
    append(w, w->history,
        json_pack("{s:i, s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "seq",
                  (int)json_array_size(w->history), "saga_id", saga_id, "at_ms",
                  (json_int_t)at_ms, "kind", kind, "step", str_or_null(step),
                  "action", str_or_null(action), "attempt",
                  attempt > 0 ? json_integer(attempt) : json_null(), "outcome",
                  str_or_null(outcome), "text", str_or_null(text), "actor",
                  str_or_null(actor)));
}

void saga_writes_outbox(saga_writes *w, const char *topic, const char *key,
                        const void *payload, size_t len,
                        const char *traceparent, bool relay_now)
{
    static const char hexd[] = "0123456789abcdef";
    char *hex = malloc(len * 2 + 1);
    if (!hex) {
        w->failed = true;
        return;
    }
    const unsigned char *p = payload;
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = hexd[p[i] >> 4];
        hex[2 * i + 1] = hexd[p[i] & 15];
    }
    hex[len * 2] = '\0';
    append(w, w->outbox, json_pack("{s:i, s:s, s:s, s:s, s:o, s:b}", "seq",
                             (int)w->n_outbox, "topic", topic, "key", key,
                             "payload", hex, "tp", str_or_null(traceparent),
                             "now", relay_now));
    free(hex);
    w->n_outbox++;
}

/* Grace period before another relay may publish a row its writer is about
 * to publish itself; long enough for a normal Kafka acknowledgement. */
#define OUTBOX_GRACE "interval '5 seconds'"

/* The join to each record set also names the ids as an array: the planner
 * guesses 100 rows for jsonb_to_recordset and, on tables of a few thousand
 * rows (a pruned production table, a benchmark's first minute), would hash
 * them against a sequential scan of the whole table; the array makes it an
 * index scan at every size (1.1 -> 0.35 ms for one saga's write). */
static const char *WRITE_SQL =
    "WITH s AS ("
    "  UPDATE sagas x SET status = u.status, writer = nullif(u.writer, 0),"
    "    updated_at = CASE WHEN u.changed THEN now() ELSE x.updated_at END,"
    "    progress_at = to_timestamp(u.progress_ms / 1000.0),"
    "    finished_at = CASE WHEN u.status IN ('COMPLETED', 'COMPENSATED')"
    "                       THEN coalesce(x.finished_at, now()) END,"
    "    wake_at = CASE WHEN u.wake_ms > 0 THEN to_timestamp(u.wake_ms / 1000.0) END,"
    "    stuck = u.stuck, stuck_reason = u.stuck_reason,"
    "    aborted = u.aborted, resolved = u.resolved,"
    "    deadline_at = CASE WHEN u.deadline_at_ms > 0"
    "                       THEN to_timestamp(u.deadline_at_ms / 1000.0) END,"
    "    deadline_expired = u.deadline_expired"
    "  FROM jsonb_to_recordset($1::jsonb) AS u(id uuid, status text,"
    "    progress_ms bigint, wake_ms bigint, stuck boolean, stuck_reason text,"
    "    aborted boolean, resolved boolean, deadline_at_ms bigint,"
    "    deadline_expired boolean, writer bigint, changed boolean)"
    "  WHERE x.id = u.id"
    "    AND x.id = ANY(ARRAY(SELECT (e->>'id')::uuid FROM jsonb_array_elements($1) e))),"
    " g AS ("
    "  SELECT count(*) AS n FROM sagas x JOIN jsonb_to_recordset($5::jsonb) AS u(id uuid, w bigint)"
    "    ON x.id = u.id AND x.writer = u.w"
    "  WHERE x.id = ANY(ARRAY(SELECT (e->>'id')::uuid FROM jsonb_array_elements($5) e))),"
    " st AS ("
    "  UPDATE saga_steps x SET status = u.status, action = u.action,"
    "    attempt = u.attempt, failures = u.failures,"
    "    deadline_at = CASE WHEN u.deadline_ms > 0 THEN to_timestamp(u.deadline_ms / 1000.0) END,"
    "    retry_at = CASE WHEN u.retry_ms > 0 THEN to_timestamp(u.retry_ms / 1000.0) END,"
    "    reserve_attempts = u.ra, confirm_attempts = u.ca, compensate_attempts = u.xa,"
    "    reserve_outcome = u.ro, confirm_outcome = u.co, compensate_outcome = u.xo,"
    "    last_error = u.err, result = coalesce(u.result, x.result), updated_at = now()"
    "  FROM jsonb_to_recordset($2::jsonb) AS u(saga_id uuid, idx smallint,"
    "    status text, action text, attempt integer, failures integer,"
    "    deadline_ms bigint, retry_ms bigint, ra integer, ca integer, xa integer,"
    "    ro text, co text, xo text, err text, result jsonb)"
    "  WHERE x.saga_id = u.saga_id AND x.idx = u.idx"
    "    AND x.saga_id = ANY(ARRAY(SELECT (e->>'saga_id')::uuid"
    "                              FROM jsonb_array_elements($2) e))),"
    " h AS ("
    "  INSERT INTO saga_history (saga_id, at, kind, step, action, attempt, outcome, text, actor)"
    "  SELECT u.saga_id, to_timestamp(u.at_ms / 1000.0), u.kind, u.step, u.action,"
    "         u.attempt, u.outcome, u.text, u.actor"
    "  FROM jsonb_to_recordset($3::jsonb) AS u(seq integer, saga_id uuid,"
    "    at_ms bigint, kind text, step text, action text, attempt integer,"
    "    outcome text, text text, actor text)"
    "  ORDER BY u.seq),"
    " o AS ("
    "  INSERT INTO saga_outbox (topic, key, payload, traceparent, relay_after)"
    "  SELECT u.topic, u.key, decode(u.payload, 'hex'), u.tp,"
    "         CASE WHEN u.now THEN now() ELSE now() + " OUTBOX_GRACE " END"
    "  FROM jsonb_to_recordset($4::jsonb) AS u(seq integer, topic text, key text,"
    "    payload text, tp text, now boolean)"
    "  ORDER BY u.seq"
    "  RETURNING id)"
    "SELECT o.id FROM (SELECT saga_unchanged((SELECT n FROM g), $6::bigint)) c(ok)"
    " LEFT JOIN o ON c.ok ORDER BY o.id";

/* Writes w, then commits if commit is set: the write is deferred, so it
 * and COMMIT cost one round trip. */
static int write_batch(PGconn *conn, const saga_writes *w, bool commit, int64_t **outbox_ids,
                       size_t *n_ids, saga_error *err)
{
    if (outbox_ids) {
        *outbox_ids = NULL;
        *n_ids = 0;
    }
    if (w->failed)
        return saga_error_set(err, SAGA_ENOMEM,
                              "write sagas: a record could not be built (out of memory or invalid UTF-8)");
    /* A turn that decided nothing from a remembered state still checks
     * it: "nothing to do" on a stale state (a saga made due by someone
     * else) would otherwise be decided again on every wake-up. */
    if (!json_array_size(w->sagas) && !json_array_size(w->steps) &&
        !json_array_size(w->history) && !json_array_size(w->outbox) &&
        !json_array_size(w->remembered))
        return commit ? saga_pg_commit(conn, err) : 0;
    char *p[5], n_remembered[24];
    snprintf(n_remembered, sizeof n_remembered, "%zu", json_array_size(w->remembered));
    p[4] = json_dumps(w->remembered, JSON_COMPACT);
    p[0] = json_dumps(w->sagas, JSON_COMPACT);
    p[1] = json_dumps(w->steps, JSON_COMPACT);
    p[2] = json_dumps(w->history, JSON_COMPACT);
    p[3] = json_dumps(w->outbox, JSON_COMPACT);
    int rc = 0;
    PGresult *r = NULL;
    if (!p[0] || !p[1] || !p[2] || !p[3] || !p[4]) {
        rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
    } else {
        const char *params[6] = {p[0], p[1], p[2], p[3], p[4], n_remembered};
        if (commit) {
            rc = saga_pg_defer(conn, WRITE_SQL, 6, params, &r, err);
            if (rc == 0)
                rc = saga_pg_commit(conn, err);
        } else {
            r = saga_pg_query(conn, WRITE_SQL, 6, params, 0);
            rc = saga_pg_result_ok(r, conn, "write sagas", err);
        }
        /* With no outbox row the statement still returns one, a NULL id. */
        if (rc == 0 && outbox_ids && PQntuples(r) > 0) {
            int n = PQntuples(r);
            *outbox_ids = malloc(sizeof(int64_t) * (size_t)n);
            for (int i = 0; *outbox_ids && i < n; i++)
                if (!PQgetisnull(r, i, 0))
                    (*outbox_ids)[(*n_ids)++] = atoll(PQgetvalue(r, i, 0));
        }
        PQclear(r);
    }
    for (int i = 0; i < 5; i++)
        free(p[i]);
    return rc;
}

/* The message saga_unchanged raises (schema/009_saga_writer.sql),
 * with SQLSTATE 40001 (SAGA_EBUSY, like a deadlock): told apart by it. */
bool saga_store_changed(const saga_error *err)
{
    return err->code == SAGA_EBUSY && strstr(err->msg, "a saga changed since it was read");
}

int saga_store_write(PGconn *conn, const saga_writes *w, int64_t **outbox_ids,
                     size_t *n_ids, saga_error *err)
{
    return write_batch(conn, w, false, outbox_ids, n_ids, err);
}

int saga_store_write_commit(PGconn *conn, const saga_writes *w, int64_t **outbox_ids,
                            size_t *n_ids, saga_error *err)
{
    return write_batch(conn, w, true, outbox_ids, n_ids, err);
}

int saga_store_outbox_delete(PGconn *conn, const int64_t *ids, size_t n,
                             saga_error *err)
{
    if (n == 0)
        return 0;
    size_t cap = n * 21 + 3;
    char *arr = malloc(cap);
    if (!arr)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    size_t k = 0;
    arr[k++] = '{';
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(arr + k, cap - k, "%s%lld", i ? "," : "",
                              (long long)ids[i]);
    arr[k++] = '}';
    arr[k] = '\0';
    const char *params[1] = {arr};
    int rc = saga_pg_defer_unprepared(conn, "DELETE FROM saga_outbox WHERE id = ANY($1::bigint[])",
                                      1, params, NULL, err);
    free(arr);
    return rc;
}
