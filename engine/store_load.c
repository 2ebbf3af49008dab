/*
 * store_load.c - locking and loading a batch of sagas (saga_store_load).
 *
 * Two statements, one round trip: the lock is deferred and travels with the
 * load, behind whatever the caller deferred before (sagad's BEGIN and
 * outbox delete), so the first half of a turn costs one round trip. Sagas
 * the caller remembers are locked with the others but not read.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    " st.result::text,"
    " coalesce(round(extract(epoch FROM s.start_at) * 1000)::bigint, 0), s.deadline_ms,"
    " coalesce(round(extract(epoch FROM s.deadline_at) * 1000)::bigint, 0),"
    " s.deadline_expired,"
    " coalesce(s.parent_id::text, ''), coalesce(s.parent_step, ''), coalesce(s.writer, 0)"
    " FROM sagas s JOIN saga_steps st ON st.saga_id = s.id"
    " WHERE s.id = ANY($1::uuid[]) AND st.saga_id = ANY($1::uuid[])"
    " ORDER BY s.id, st.idx";

/* Locks first, then reads: a join read FOR UPDATE that has to wait for a
 * lock re-reads the locked saga row but not the joined step rows, and would
 * pair another transaction's new status with old steps. */
static const char *LOCK_SQL =
    "SELECT 1 FROM sagas WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE";

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

/* Columns 0-11 and 27-33 of LOAD_SQL's row i: the saga itself. */
static void load_saga(saga_row *row, PGresult *r, int i)
{
    snprintf(row->id, sizeof row->id, "%s", PQgetvalue(r, i, 0));
    snprintf(row->def_name, sizeof row->def_name, "%s", PQgetvalue(r, i, 1));
    row->def_version = atoi(PQgetvalue(r, i, 2));
    snprintf(row->traceparent, sizeof row->traceparent, "%s", PQgetvalue(r, i, 3));
    row->input = json_loads(PQgetvalue(r, i, 4), 0, NULL);
    saga_state *st = &row->st;
    saga_status_parse(PQgetvalue(r, i, 5), &st->status);
    st->stuck = PQgetvalue(r, i, 6)[0] == 't';
    st->resolved = PQgetvalue(r, i, 7)[0] == 't';
    st->aborted = PQgetvalue(r, i, 8)[0] == 't';
    st->progress_ms = atoll(PQgetvalue(r, i, 9));
    st->wake_ms = atoll(PQgetvalue(r, i, 10));
    snprintf(st->stuck_reason, sizeof st->stuck_reason, "%s", PQgetvalue(r, i, 11));
    st->start_at_ms = atoll(PQgetvalue(r, i, 27));
    st->deadline_ms = atoll(PQgetvalue(r, i, 28));
    st->deadline_at_ms = atoll(PQgetvalue(r, i, 29));
    st->deadline_expired = PQgetvalue(r, i, 30)[0] == 't';
    snprintf(row->parent_id, sizeof row->parent_id, "%s", PQgetvalue(r, i, 31));
    snprintf(row->parent_step, sizeof row->parent_step, "%s", PQgetvalue(r, i, 32));
    st->held = row->parent_id[0] != '\0';
    row->writer = atoll(PQgetvalue(r, i, 33));
}

/* Columns 12-26 of LOAD_SQL's row i: one step of the saga. */
static void load_step(saga_row *row, PGresult *r, int i)
{
    int idx = atoi(PQgetvalue(r, i, 12));
    if (idx < 0 || idx >= SAGA_SPEC_MAX_STEPS)
        return;
    if ((size_t)idx + 1 > row->st.n_steps)
        row->st.n_steps = (size_t)idx + 1;
    saga_step_state *s = &row->st.steps[idx];
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
    snprintf(s->last_error, sizeof s->last_error, "%s", PQgetvalue(r, i, 25));
    if (!PQgetisnull(r, i, 26))
        row->results[idx] = json_loads(PQgetvalue(r, i, 26), 0, NULL);
}

/* Locks, then loads: the lock is deferred, so both (and whatever was
 * deferred before) cost one round trip; with nothing to load, nothing is
 * waited for. *res is owned (PQclear). */
static int lock_and_load(PGconn *conn, const char *const *lock_ids, size_t n_lock,
                         const char *const *load_ids, size_t n_load, PGresult **res,
                         saga_error *err)
{
    *res = NULL;
    char *locks = uuid_array(lock_ids, n_lock);
    char *loads = n_load ? uuid_array(load_ids, n_load) : NULL;
    if (!locks || (n_load && !loads)) {
        free(locks);
        free(loads);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    const char *lp[1] = {locks}, *rp[1] = {loads};
    int rc = saga_pg_defer(conn, LOCK_SQL, 1, lp, NULL, err);
    if (rc == 0 && n_load) {
        *res = saga_pg_query(conn, LOAD_SQL, 1, rp, 0);
        rc = saga_pg_result_ok(*res, conn, "load sagas", err);
    } else if (rc) {
        saga_error late;
        saga_pg_settle(conn, &late);
    }
    free(locks);
    free(loads);
    if (rc) {
        PQclear(*res);
        *res = NULL;
    }
    return rc;
}

int saga_store_lock_load(PGconn *conn, const char *const *lock_ids, size_t n_lock,
                         const char *const *load_ids, size_t n_load, saga_row **rows,
                         size_t *n_rows, saga_error *err)
{
    *rows = NULL;
    *n_rows = 0;
    if (n_lock == 0)
        return 0;
    PGresult *r;
    int rc = lock_and_load(conn, lock_ids, n_lock, load_ids, n_load, &r, err);
    if (rc || n_load == 0)
        return rc;
    saga_row *out = calloc(n_load, sizeof *out);
    if (!out) {
        PQclear(r);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    size_t k = 0;
    saga_row *cur = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        if (!cur || strcmp(cur->id, PQgetvalue(r, i, 0)) != 0) {
            cur = &out[k++];
            load_saga(cur, r, i);
        }
        load_step(cur, r, i);
    }
    PQclear(r);
    for (size_t i = 0; i < k; i++)
        out[i].loaded = out[i].st;
    *rows = out;
    *n_rows = k;
    return 0;
}

int saga_store_load(PGconn *conn, const char *const *ids, size_t n,
                    saga_row **rows, size_t *n_rows, saga_error *err)
{
    return saga_store_lock_load(conn, ids, n, ids, n, rows, n_rows, err);
}
