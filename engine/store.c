/*
 * store.c - the coordinator's PostgreSQL access (see store.h for the shape).
 *
 * Batches are passed to PostgreSQL as JSON record sets
 * (jsonb_to_recordset), which keeps every statement parameterised and the
 * number of round trips independent of the batch size. Times travel as
 * milliseconds since the epoch and are stored as timestamptz for humans.
 */
#include "store.h"

#include <libpq-events.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "random.h"

void saga_row_clear(saga_row *row)
{
    if (!row)
        return;
    json_decref(row->input);
    row->input = NULL;
    for (size_t i = 0; i < SAGA_SPEC_MAX_STEPS; i++) {
        json_decref(row->results[i]);
        row->results[i] = NULL;
    }
}

int64_t saga_now_ms(void)
{
    return saga_clock_now_ms();
}

void saga_uuid_new(char out[SAGA_ID_LEN + 1])
{
    saga_random_uuid(out);
}

PGconn *saga_store_connect(const char *dsn, saga_error *err)
{
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        char masked[512];
        saga_dsn_mask(dsn, masked, sizeof masked);
        char *msg = PQerrorMessage(c);
        size_t len = strlen(msg);
        while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
            msg[--len] = '\0';
        for (char *p = msg; *p; p++)
            if (*p == '\n' || *p == '\t')
                *p = ' '; /* libpq's message spans lines; ours is one */
        saga_error_set(err, SAGA_EDB, "cannot connect to PostgreSQL (%s): %s",
                       masked, msg);
        saga_error_hint(err, "check pg.dsn / SAGA_PG_DSN and that the server is up");
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int settle(PGconn *conn, PGresult **failed, saga_error *err);

/* "what: libpq's message", without the message's trailing newline. */
static int db_error(saga_error *err, const char *what, const char *pq_msg)
{
    char msg[SAGA_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", pq_msg ? pq_msg : "");
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    return saga_error_set(err, SAGA_EDB, "%s: %s", what, msg);
}

static int result_ok(PGresult *r, PGconn *conn, const char *what, saga_error *err)
{
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return 0;
    const char *m = PQresultErrorMessage(r);
    return db_error(err, what, m && *m ? m : PQerrorMessage(conn));
}

int saga_store_exec(PGconn *conn, const char *sql, saga_error *err)
{
    if (settle(conn, NULL, err))
        return SAGA_EDB;
    PGresult *r = PQexec(conn, sql);
    int rc = result_ok(r, conn, sql, err);
    PQclear(r);
    return rc;
}

int saga_store_begin(PGconn *conn, saga_error *err)
{
    return saga_store_exec(conn, "BEGIN", err);
}

int saga_store_commit(PGconn *conn, saga_error *err)
{
    PGresult *r = NULL;
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
        /* The deferred statements and COMMIT: one round trip. */
        saga_error late;
        int rc = saga_store_defer(conn, NULL, "COMMIT", 0, NULL, &r, err);
        if (settle(conn, NULL, rc ? &late : err) || rc) {
            PQclear(r);
            return SAGA_EDB;
        }
    } else {
        r = PQexec(conn, "COMMIT");
    }
    int rc = result_ok(r, conn, "commit", err);
    /* COMMIT of an aborted transaction "succeeds" as ROLLBACK. */
    if (rc == 0 && strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
        rc = saga_error_set(err, SAGA_EDB, "commit: transaction was rolled back");
    PQclear(r);
    return rc;
}

void saga_store_rollback(PGconn *conn)
{
    saga_error ignored;
    settle(conn, NULL, &ignored);
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
}

/* --- prepared statements and deferred ones --------------------------- */

/* A deferred statement whose result is still on its way: a prepare (prep
 * names the statement it creates) or an execution. */
typedef struct pending {
    const char *prep;
    const char *what; /* for messages */
    PGresult **keep;  /* where its result goes, or NULL to drop it */
} pending;

#define MAX_PREPARED 32
#define MAX_PENDING 16

/* Per-connection record of the statements prepared on it, and of the
 * statements sent in pipeline mode whose results are not read yet. */
typedef struct prepared {
    const char *names[MAX_PREPARED];
    size_t n;
    pending q[MAX_PENDING];
    size_t nq;
} prepared;

static int store_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    if (id == PGEVT_CONNRESET) {
        prepared *p = PQinstanceData(((PGEventConnReset *)info)->conn, store_event);
        if (p)
            p->n = p->nq = 0;
    } else if (id == PGEVT_CONNDESTROY) {
        free(PQinstanceData(((PGEventConnDestroy *)info)->conn, store_event));
    }
    return 1;
}

static prepared *prepared_of(PGconn *conn)
{
    prepared *p = PQinstanceData(conn, store_event);
    if (p)
        return p;
    if (!PQregisterEventProc(conn, store_event, "saga_store", NULL))
        return NULL;
    p = calloc(1, sizeof *p);
    if (p && !PQsetInstanceData(conn, store_event, p)) {
        free(p);
        p = NULL;
    }
    return p;
}

static bool is_prepared(const prepared *p, const char *name)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (p->names[i] == name)
            return true;
    return false;
}

static void forget_prepared(prepared *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->names[i] == name) {
            p->names[i] = p->names[--p->n];
            return;
        }
}

int saga_store_defer(PGconn *conn, const char *name, const char *sql, int n_params,
                     const char *const *params, PGresult **keep, saga_error *err)
{
    if (keep)
        *keep = NULL;
    prepared *p = prepared_of(conn);
    if (!p)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    if (p->nq + 2 > MAX_PENDING)
        return saga_error_set(err, SAGA_EINVAL, "more than %d deferred statements",
                              MAX_PENDING / 2);
    if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF && !PQenterPipelineMode(conn))
        goto broken;
    /* Marked prepared when sent, so a second use before the results are read
     * does not prepare it twice; settle() forgets it if the prepare failed. */
    bool named = name && (is_prepared(p, name) || p->n < MAX_PREPARED);
    if (named && !is_prepared(p, name)) {
        if (!PQsendPrepare(conn, name, sql, n_params, NULL))
            goto broken;
        p->names[p->n++] = name;
        p->q[p->nq++] = (pending){.prep = name, .what = name};
    }
    int sent = named ? PQsendQueryPrepared(conn, name, n_params, params, NULL, NULL, 0)
                     : PQsendQueryParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
    if (!sent)
        goto broken;
    p->q[p->nq++] = (pending){.what = name ? name : sql, .keep = keep};
    return 0;
broken:
    return db_error(err, name ? name : sql, PQerrorMessage(conn));
}

/* Reads the result of every deferred statement and leaves pipeline mode.
 * The first failure is reported in *err and, if failed is not NULL, its
 * result is handed over there (owned). */
static int settle(PGconn *conn, PGresult **failed, saga_error *err)
{
    if (failed)
        *failed = NULL;
    if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF)
        return 0;
    prepared *p = prepared_of(conn);
    size_t nq = p ? p->nq : 0;
    if (p)
        p->nq = 0;
    int rc = 0;
    bool broken = !PQpipelineSync(conn);
    for (size_t i = 0; i < nq; i++) {
        const pending *q = &p->q[i];
        PGresult *r = broken ? NULL : PQgetResult(conn);
        if (!r) {
            broken = true;
            if (q->prep)
                forget_prepared(p, q->prep);
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        if (!ok && q->prep)
            forget_prepared(p, q->prep);
        if (!ok && rc == 0 && st != PGRES_PIPELINE_ABORTED) {
            rc = db_error(err, q->what, PQresultErrorMessage(r));
            if (failed && !q->keep) {
                *failed = r;
                r = NULL;
            }
        }
        if (q->keep)
            *q->keep = r;
        else
            PQclear(r);
        PGresult *end;
        while (!broken && (end = PQgetResult(conn)) != NULL)
            PQclear(end);
    }
    PGresult *r;
    while (!broken && (r = PQgetResult(conn)) != NULL) {
        bool done = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (done)
            break;
    }
    if (!PQexitPipelineMode(conn) && rc == 0)
        broken = true;
    if (broken && rc == 0)
        rc = db_error(err, "pipeline", PQerrorMessage(conn));
    return rc;
}

int saga_store_settle(PGconn *conn, saga_error *err)
{
    return settle(conn, NULL, err);
}

PGresult *saga_store_query(PGconn *conn, const char *name, const char *sql,
                           int n_params, const char *const *params,
                           int result_format)
{
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
        /* Deferred statements are waiting: this one travels with them (in
         * text format; binary results are asked after them). */
        PGresult *res = NULL, *failed = NULL;
        saga_error err;
        bool along = result_format == 0 &&
                     saga_store_defer(conn, name, sql, n_params, params, &res, &err) == 0;
        settle(conn, &failed, &err);
        if (failed) {
            PQclear(res); /* not run: the earlier failure is the one to show */
            return failed;
        }
        if (along)
            return res ? res : PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
        if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
            return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
    }
    prepared *p = prepared_of(conn);
    bool ready = is_prepared(p, name);
    if (p && !ready && p->n < MAX_PREPARED) {
        PGresult *r = PQprepare(conn, name, sql, n_params, NULL);
        ready = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (ready)
            p->names[p->n++] = name;
    }
    if (!ready)
        return PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, result_format);
    return PQexecPrepared(conn, name, n_params, params, NULL, NULL, result_format);
}

/* --- load -------------------------------------------------------------- */

/* st.saga_id is bound too, so that the steps are found by index even when
 * the planner would rather scan a small table (see WRITE_SQL). */
static const char *LOAD_SQL =
    "SELECT s.id, s.def_name, s.def_version, s.traceparent, s.input::text,"
    " s.status, s.stuck, s.resolved, s.aborted,"
    " round(extract(epoch FROM s.progress_at) * 1000)::bigint,"
    " coalesce(round(extract(epoch FROM s.wake_at) * 1000)::bigint, 0),"
    " coalesce(s.stuck_reason, ''),"
    " st.idx, st.status, coalesce(st.action, ''), st.attempt, st.failures,"
    " coalesce(round(extract(epoch FROM st.deadline_at) * 1000)::bigint, 0),"
    " coalesce(round(extract(epoch FROM st.retry_at) * 1000)::bigint, 0),"
    " st.reserve_attempts, st.confirm_attempts, st.compensate_attempts,"
    " coalesce(st.reserve_outcome, ''), coalesce(st.confirm_outcome, ''),"
    " coalesce(st.compensate_outcome, ''), coalesce(st.last_error, ''),"
    " st.result::text"
    " FROM sagas s JOIN saga_steps st ON st.saga_id = s.id"
    " WHERE s.id = ANY($1::uuid[]) AND st.saga_id = ANY($1::uuid[])"
    " ORDER BY s.id, st.idx";

/* Locks first, then reads: a join read FOR UPDATE that has to wait for a
 * lock re-reads the locked saga row but not the joined step rows, and would
 * pair another transaction's new status with old steps. */
static const char *LOCK_SQL =
    "SELECT 1 FROM sagas WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE";

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

static saga_outcome outcome_of(const char *s)
{
    saga_outcome o = SAGA_OUT_NONE;
    if (*s)
        saga_outcome_parse(s, &o);
    return o;
}

/* Builds "{id1,id2}" for a uuid[] parameter; ids are validated UUID text. */
static char *uuid_array(const char *const *ids, size_t n)
{
    char *s = malloc(n * (SAGA_ID_LEN + 1) + 3);
    if (!s)
        return NULL;
    size_t k = 0;
    s[k++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            s[k++] = ',';
        size_t len = strnlen(ids[i], SAGA_ID_LEN);
        memcpy(s + k, ids[i], len);
        k += len;
    }
    s[k++] = '}';
    s[k] = '\0';
    return s;
}

int saga_store_load(PGconn *conn, const char *const *ids, size_t n,
                    saga_row **rows, size_t *n_rows, saga_error *err)
{
    *rows = NULL;
    *n_rows = 0;
    if (n == 0)
        return 0;
    char *arr = uuid_array(ids, n);
    if (!arr)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    const char *params[1] = {arr};
    /* The lock travels with the load (and whatever else was deferred). */
    int rc = saga_store_defer(conn, "saga_store_lock", LOCK_SQL, 1, params, NULL, err);
    if (rc) {
        saga_error late;
        settle(conn, NULL, &late);
        free(arr);
        return rc;
    }
    PGresult *r = saga_store_query(conn, "saga_store_load", LOAD_SQL, 1, params, 0);
    free(arr);
    rc = result_ok(r, conn, "load sagas", err);
    if (rc) {
        PQclear(r);
        return rc;
    }
    int nt = PQntuples(r);
    saga_row *out = calloc(n, sizeof *out);
    if (!out) {
        PQclear(r);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    size_t k = 0;
    saga_row *cur = NULL;
    for (int i = 0; i < nt; i++) {
        const char *id = PQgetvalue(r, i, 0);
        if (!cur || strcmp(cur->id, id) != 0) {
            cur = &out[k++];
            copy_str(cur->id, sizeof cur->id, id);
            copy_str(cur->def_name, sizeof cur->def_name, PQgetvalue(r, i, 1));
            cur->def_version = atoi(PQgetvalue(r, i, 2));
            copy_str(cur->traceparent, sizeof cur->traceparent, PQgetvalue(r, i, 3));
            cur->input = json_loads(PQgetvalue(r, i, 4), 0, NULL);
            saga_state *st = &cur->st;
            saga_status_parse(PQgetvalue(r, i, 5), &st->status);
            st->stuck = PQgetvalue(r, i, 6)[0] == 't';
            st->resolved = PQgetvalue(r, i, 7)[0] == 't';
            st->aborted = PQgetvalue(r, i, 8)[0] == 't';
            st->progress_ms = atoll(PQgetvalue(r, i, 9));
            st->wake_ms = atoll(PQgetvalue(r, i, 10));
            copy_str(st->stuck_reason, sizeof st->stuck_reason, PQgetvalue(r, i, 11));
        }
        int idx = atoi(PQgetvalue(r, i, 12));
        if (idx < 0 || idx >= SAGA_SPEC_MAX_STEPS)
            continue;
        if ((size_t)idx + 1 > cur->st.n_steps)
            cur->st.n_steps = (size_t)idx + 1;
        saga_step_state *s = &cur->st.steps[idx];
        saga_step_status_parse(PQgetvalue(r, i, 13), &s->status);
        const char *act = PQgetvalue(r, i, 14);
        s->action = SAGA_ACT_NONE;
        if (*act)
            saga_action_parse(act, &s->action);
        s->attempt = atoi(PQgetvalue(r, i, 15));
        s->failures = atoi(PQgetvalue(r, i, 16));
        s->deadline_ms = atoll(PQgetvalue(r, i, 17));
        s->retry_at_ms = atoll(PQgetvalue(r, i, 18));
        s->reserve_attempts = atoi(PQgetvalue(r, i, 19));
        s->confirm_attempts = atoi(PQgetvalue(r, i, 20));
        s->compensate_attempts = atoi(PQgetvalue(r, i, 21));
        s->reserve_outcome = outcome_of(PQgetvalue(r, i, 22));
        s->confirm_outcome = outcome_of(PQgetvalue(r, i, 23));
        s->compensate_outcome = outcome_of(PQgetvalue(r, i, 24));
        copy_str(s->last_error, sizeof s->last_error, PQgetvalue(r, i, 25));
        if (!PQgetisnull(r, i, 26))
            cur->results[idx] = json_loads(PQgetvalue(r, i, 26), 0, NULL);
    }
    PQclear(r);
    for (size_t i = 0; i < k; i++)
        out[i].loaded = out[i].st;
    *rows = out;
    *n_rows = k;
    return 0;
}

/* --- create ------------------------------------------------------------ */

/* Many sagas in one statement: a turn of sagad creates every saga its
 * StartSaga messages ask for at once. An idempotency key that exists (or
 * repeats within the batch) inserts nothing; the positions of the created
 * ones come back. */
static const char *CREATE_SQL =
    "WITH u AS ("
    "  SELECT * FROM jsonb_to_recordset($1::jsonb) AS u(seq integer, id uuid,"
    "    def_name text, def_version integer, input jsonb, key text, tp text,"
    "    now_ms bigint, wake boolean, steps jsonb, text text)),"
    " s AS ("
    "  INSERT INTO sagas (id, def_name, def_version, status, input, idempotency_key,"
    "                     traceparent, created_at, updated_at, progress_at, wake_at)"
    "  SELECT id, def_name, def_version, 'RUNNING', input, nullif(key, ''), tp,"
    "         now(), now(), to_timestamp(now_ms / 1000.0), CASE WHEN wake THEN now() END"
    "  FROM u ORDER BY seq"
    "  ON CONFLICT (idempotency_key) DO NOTHING"
    "  RETURNING id),"
    " st AS ("
    "  INSERT INTO saga_steps (saga_id, idx, name, status)"
    "  SELECT u.id, e.ord - 1, e.name, 'PENDING'"
    "  FROM u JOIN s ON s.id = u.id,"
    "       jsonb_array_elements_text(u.steps) WITH ORDINALITY AS e(name, ord)),"
    " h AS ("
    "  INSERT INTO saga_history (saga_id, at, kind, text)"
    "  SELECT u.id, to_timestamp(u.now_ms / 1000.0), 'created', u.text"
    "  FROM u JOIN s ON s.id = u.id)"
    "SELECT u.seq FROM u JOIN s ON s.id = u.id";

static json_t *new_record(const saga_new *s, size_t seq)
{
    json_t *steps = json_array();
    for (size_t i = 0; steps && i < s->spec->n_steps; i++)
        json_array_append_new(steps, json_string(s->spec->steps[i].name));
    char text[128];
    snprintf(text, sizeof text, "saga created from %s@%d", s->spec->name, s->spec->version);
    return json_pack("{s:I, s:s, s:s, s:i, s:O, s:s, s:s, s:I, s:b, s:o, s:s}",
                     "seq", (json_int_t)seq, "id", s->id, "def_name", s->spec->name,
                     "def_version", s->spec->version, "input", s->input, "key",
                     s->idempotency_key ? s->idempotency_key : "", "tp", s->traceparent,
                     "now_ms", (json_int_t)s->now_ms, "wake", s->wake_now, "steps", steps,
                     "text", text);
}

int saga_store_create_many(PGconn *conn, const saga_new *const *s, size_t n, bool *created,
                           saga_error *err)
{
    for (size_t i = 0; i < n; i++)
        created[i] = false;
    if (n == 0)
        return 0;
    json_t *recs = json_array();
    for (size_t i = 0; recs && i < n; i++)
        if (json_array_append_new(recs, new_record(s[i], i))) {
            json_decref(recs);
            recs = NULL;
        }
    char *text = recs ? json_dumps(recs, JSON_COMPACT) : NULL;
    json_decref(recs);
    if (!text)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory (or input not UTF-8)");
    const char *params[1] = {text};
    PGresult *r = saga_store_query(conn, "saga_store_create", CREATE_SQL, 1, params, 0);
    free(text);
    int rc = result_ok(r, conn, "create sagas", err);
    for (int j = 0; rc == 0 && j < PQntuples(r); j++) {
        long seq = atol(PQgetvalue(r, j, 0));
        if (seq >= 0 && (size_t)seq < n)
            created[seq] = true;
    }
    PQclear(r);
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
    rc = result_ok(r, conn, "find saga by idempotency key", err);
    if (rc == 0 && PQntuples(r) == 1) {
        *existed = true;
        copy_str(existing_id, SAGA_ID_LEN + 1, PQgetvalue(r, 0, 0));
    } else if (rc == 0) {
        rc = saga_error_set(err, SAGA_EDB, "idempotency key conflict but no saga found");
    }
    PQclear(r);
    return rc;
}

/* --- write ------------------------------------------------------------- */

void saga_writes_init(saga_writes *w)
{
    w->sagas = json_array();
    w->steps = json_array();
    w->history = json_array();
    w->outbox = json_array();
    w->n_outbox = 0;
    w->earliest_wake_ms = 0;
    w->failed = !w->sagas || !w->steps || !w->history || !w->outbox;
}

static void append(saga_writes *w, json_t *arr, json_t *rec)
{
    if (!rec || json_array_append_new(arr, rec))
        w->failed = true;
}

void saga_writes_clear(saga_writes *w)
{
    json_decref(w->sagas);
    json_decref(w->steps);
    json_decref(w->history);
    json_decref(w->outbox);
    w->sagas = w->steps = w->history = w->outbox = NULL;
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
           strcmp(a->stuck_reason, b->stuck_reason) != 0;
}

void saga_writes_row(saga_writes *w, const saga_row *row)
{
    const saga_state *st = &row->st;
    if (st->wake_ms > 0 && (w->earliest_wake_ms == 0 || st->wake_ms < w->earliest_wake_ms))
        w->earliest_wake_ms = st->wake_ms;
    if (saga_level_changed(st, &row->loaded)) {
        append(w, w->sagas,
            json_pack("{s:s, s:s, s:I, s:I, s:b, s:o, s:b, s:b}", "id", row->id,
                      "status", saga_status_name(st->status), "progress_ms",
                      (json_int_t)st->progress_ms, "wake_ms",
                      (json_int_t)st->wake_ms, "stuck", st->stuck,
                      "stuck_reason", str_or_null(st->stuck_reason), "aborted",
                      st->aborted, "resolved", st->resolved));
    }
    for (size_t i = 0; i < st->n_steps; i++) {
        const saga_step_state *s = &st->steps[i];
        if (memcmp(s, &row->loaded.steps[i], sizeof *s) == 0 && !row->result_dirty[i])
            continue;
        json_t *rec = json_pack(
            "{s:s, s:i, s:s, s:o, s:i, s:i, s:I, s:I, s:i, s:i, s:i, s:o, s:o, s:o, s:o}",
            "saga_id", row->id, "idx", (int)i, "status",
            saga_step_status_name(s->status), "action",
            s->action == SAGA_ACT_NONE ? json_null() : json_string(saga_action_name(s->action)),
            "attempt", s->attempt, "failures", s->failures, "deadline_ms",
            (json_int_t)s->deadline_ms, "retry_ms", (json_int_t)s->retry_at_ms,
            "ra", s->reserve_attempts, "ca", s->confirm_attempts, "xa",
            s->compensate_attempts, "ro", outcome_json(s->reserve_outcome), "co",
            outcome_json(s->confirm_outcome), "xo", outcome_json(s->compensate_outcome),
            "err", str_or_null(s->last_error));
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
    "  UPDATE sagas x SET status = u.status, updated_at = now(),"
    "    progress_at = to_timestamp(u.progress_ms / 1000.0),"
    "    finished_at = CASE WHEN u.status IN ('COMPLETED', 'COMPENSATED')"
    "                       THEN coalesce(x.finished_at, now()) END,"
    "    wake_at = CASE WHEN u.wake_ms > 0 THEN to_timestamp(u.wake_ms / 1000.0) END,"
    "    stuck = u.stuck, stuck_reason = u.stuck_reason,"
    "    aborted = u.aborted, resolved = u.resolved"
    "  FROM jsonb_to_recordset($1::jsonb) AS u(id uuid, status text,"
    "    progress_ms bigint, wake_ms bigint, stuck boolean, stuck_reason text,"
    "    aborted boolean, resolved boolean)"
    "  WHERE x.id = u.id"
    "    AND x.id = ANY(ARRAY(SELECT (e->>'id')::uuid FROM jsonb_array_elements($1) e))),"
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
    "SELECT id FROM o ORDER BY id";

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
    if (!json_array_size(w->sagas) && !json_array_size(w->steps) &&
        !json_array_size(w->history) && !json_array_size(w->outbox))
        return commit ? saga_store_commit(conn, err) : 0;
    char *p[4];
    p[0] = json_dumps(w->sagas, JSON_COMPACT);
    p[1] = json_dumps(w->steps, JSON_COMPACT);
    p[2] = json_dumps(w->history, JSON_COMPACT);
    p[3] = json_dumps(w->outbox, JSON_COMPACT);
    int rc = 0;
    PGresult *r = NULL;
    if (!p[0] || !p[1] || !p[2] || !p[3]) {
        rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
    } else {
        const char *params[4] = {p[0], p[1], p[2], p[3]};
        if (commit) {
            rc = saga_store_defer(conn, "saga_store_write", WRITE_SQL, 4, params, &r, err);
            if (rc == 0)
                rc = saga_store_commit(conn, err);
        } else {
            r = saga_store_query(conn, "saga_store_write", WRITE_SQL, 4, params, 0);
            rc = result_ok(r, conn, "write sagas", err);
        }
        if (rc == 0 && outbox_ids && PQntuples(r) > 0) {
            int n = PQntuples(r);
            *outbox_ids = malloc(sizeof(int64_t) * (size_t)n);
            if (*outbox_ids) {
                for (int i = 0; i < n; i++)
                    (*outbox_ids)[i] = atoll(PQgetvalue(r, i, 0));
                *n_ids = (size_t)n;
            }
        }
        PQclear(r);
    }
    for (int i = 0; i < 4; i++)
        free(p[i]);
    return rc;
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
    int rc = saga_store_defer(conn, "saga_store_outbox_delete",
                              "DELETE FROM saga_outbox WHERE id = ANY($1::bigint[])", 1,
                              params, NULL, err);
    free(arr);
    return rc;
}

int saga_store_notify(PGconn *conn, const char *channel, saga_error *err)
{
    const char *params[1] = {channel};
    PGresult *r = PQexecParams(conn, "SELECT pg_notify($1, '')", 1, NULL,
                               params, NULL, NULL, 0);
    int rc = result_ok(r, conn, "notify", err);
    PQclear(r);
    return rc;
}
