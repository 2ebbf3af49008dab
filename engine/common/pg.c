/*
 * pg.c - connections, prepared and deferred statements (see pg.h).
 *
 * Prepared statements are keyed by their SQL text and named by their
 * position in the connection's list ("saga_p<n>"), so the list can grow
 * (reallocate) freely: nothing outside this file holds a pointer into it,
 * and a statement whose prepare failed keeps its name for the next try.
 * A deferred statement that is a first use sends its prepare right before
 * it, in the same pipeline, so preparing costs no round trip of its own.
 * Recovery from a lost server is "connect again, with growing pauses, for
 * as long as it takes", logged so an operator sees why nothing moves.
 */
#include "pg.h"

#include <libpq-events.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"

/* --- messages ----------------------------------------------------------- */

/* libpq's message as one line: "ERROR:  x\nDETAIL:  y\n" -> "ERROR:  x;
 * DETAIL:  y" (a line break and the indentation after it become "; "). */
static void one_line(char *out, size_t cap, const char *msg)
{
    size_t k = 0;
    for (const char *p = msg ? msg : ""; *p && k + 3 < cap; p++) {
        if (*p == '\n') {
            while (p[1] == '\n' || p[1] == '\t' || p[1] == ' ')
                p++;
            if (p[1]) {
                out[k++] = ';';
                out[k++] = ' ';
            }
        } else {
            out[k++] = *p == '\t' ? ' ' : *p;
        }
    }
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

int saga_pg_error(saga_error *err, const char *what, const char *pq_msg)
{
    char msg[SAGA_ERROR_MSG_MAX];
    one_line(msg, sizeof msg, pq_msg);
    return saga_error_set(err, SAGA_EDB, "%s: %s", what, msg);
}

/* A statement that failed for a lock or a conflict (lock_timeout, a
 * deadlock, a serialization failure) will pass when retried: callers
 * retry it rather than treat its input as poison. */
static int classify(int rc, const PGresult *r, saga_error *err)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (rc && st && (strcmp(st, "55P03") == 0 || strcmp(st, "40P01") == 0 ||
                     strcmp(st, "40001") == 0)) {
        if (err)
            err->code = SAGA_EBUSY;
        return SAGA_EBUSY;
    }
    return rc;
}

int saga_pg_result_ok(PGresult *r, PGconn *c, const char *what, saga_error *err)
{
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return 0;
    const char *m = PQresultErrorMessage(r);
    return classify(saga_pg_error(err, what, m && *m ? m : PQerrorMessage(c)), r, err);
}

/* "what" of a statement in messages: its first 40 bytes. */
static void sql_head(char out[48], const char *sql)
{
    snprintf(out, 48, "%.40s%s", sql, strlen(sql) > 40 ? "..." : "");
}

/* --- connecting --------------------------------------------------------- */

PGconn *saga_pg_connect(const char *dsn, const char *application_name, saga_error *err)
{
    const char *keys[] = {"dbname", application_name ? "fallback_application_name" : NULL,
                          NULL};
    const char *vals[] = {dsn ? dsn : "", application_name, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    char masked[512], msg[SAGA_ERROR_MSG_MAX / 2];
    saga_dsn_mask(dsn, masked, sizeof masked);
    one_line(msg, sizeof msg, c ? PQerrorMessage(c) : "out of memory");
    saga_error_set(err, SAGA_EDB, "cannot connect to PostgreSQL (%s): %s", masked, msg);
    saga_error_hint(err, "check pg.dsn / SAGA_PG_DSN and that the server is up");
    PQfinish(c);
    return NULL;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

PGconn *saga_pg_connect_retry(const char *dsn, const char *application_name,
                              bool (*stopping)(void))
{
    int backoff = 100;
    for (int tries = 1;; tries++) {
        saga_error err;
        PGconn *c = saga_pg_connect(dsn, application_name, &err);
        if (c) {
            if (tries > 1)
                saga_log_info(NULL, "connected to PostgreSQL after %d attempts", tries);
            return c;
        }
        if (stopping())
            return NULL;
        saga_log_warn(NULL, "%s; retrying in %d ms", err.msg, backoff);
        for (int slept = 0; slept < backoff && !stopping(); slept += 50)
            pause_ms(50);
        if (stopping())
            return NULL;
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
}

bool saga_pg_alive(PGconn *c)
{
    return c && PQstatus(c) == CONNECTION_OK;
}

/* --- per-connection state ----------------------------------------------- */

/* Beyond this many distinct statements (SQL formatted with its values, say)
 * the rest run unprepared rather than grow the server's session for ever. */
#define MAX_PREPARED 1024
#define MAX_PENDING 16

typedef struct stmt {
    char *sql; /* owned copy: the key */
    size_t len;
    bool prepared; /* sent or done; cleared when its prepare failed */
} stmt;

/* A deferred statement whose result is still on its way: a prepare (prep is
 * the index of the statement it prepares) or an execution (prep = -1). */
typedef struct pending {
    long prep;
    char what[48];   /* for messages */
    PGresult **keep; /* where its result goes, or NULL to drop it */
} pending;

typedef struct conn_state {
    stmt *stmts;
    size_t n, cap;
    pending q[MAX_PENDING];
    size_t nq;
} conn_state;

static void state_clear(conn_state *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->stmts[i].sql);
    s->n = s->nq = 0;
}

static int pg_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    conn_state *s = NULL;
    if (id == PGEVT_CONNRESET)
        s = PQinstanceData(((PGEventConnReset *)info)->conn, pg_event);
    else if (id == PGEVT_CONNDESTROY)
        s = PQinstanceData(((PGEventConnDestroy *)info)->conn, pg_event);
    if (s)
        state_clear(s); /* a new session has nothing prepared */
    if (s && id == PGEVT_CONNDESTROY) {
        free(s->stmts);
        free(s);
    }
    return 1;
}

static conn_state *state_of(PGconn *c)
{
    conn_state *s = PQinstanceData(c, pg_event);
    if (s || !c)
        return s;
    if (!PQregisterEventProc(c, pg_event, "saga_pg", NULL))
        return NULL;
    s = calloc(1, sizeof *s);
    if (s && !PQsetInstanceData(c, pg_event, s)) {
        free(s);
        s = NULL;
    }
    return s;
}

/* The index of sql's statement, adding it if new; -1 when it is not to be
 * prepared (list full, out of memory). */
static long stmt_index(conn_state *s, const char *sql)
{
    size_t len = strlen(sql);
    for (size_t i = 0; i < s->n; i++)
        if (s->stmts[i].len == len && memcmp(s->stmts[i].sql, sql, len) == 0)
            return (long)i;
    if (s->n == MAX_PREPARED)
        return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        stmt *v = realloc(s->stmts, cap * sizeof *v);
        if (!v)
            return -1;
        s->stmts = v;
        s->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, sql, len + 1);
    s->stmts[s->n] = (stmt){copy, len, false};
    return (long)s->n++;
}

static void stmt_name(char out[24], long i)
{
    snprintf(out, 24, "saga_p%ld", i);
}

/* --- deferred statements ------------------------------------------------ */

static int defer(PGconn *c, const char *sql, int n_params, const char *const *params,
                 bool prepare, PGresult **keep, saga_error *err)
{
    char what[48];
    sql_head(what, sql);
    if (keep)
        *keep = NULL;
    conn_state *s = state_of(c);
    if (!s)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    if (s->nq + 2 > MAX_PENDING)
        return saga_error_set(err, SAGA_EINVAL, "more than %d deferred statements",
                              MAX_PENDING / 2);
    if (PQpipelineStatus(c) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c))
        return saga_pg_error(err, what, PQerrorMessage(c));
    long i = prepare ? stmt_index(s, sql) : -1;
    char name[24];
    stmt_name(name, i);
    /* Marked prepared when sent, so a second use before the results are read
     * does not prepare it twice; settle() unmarks it if the prepare failed. */
    if (i >= 0 && !s->stmts[i].prepared) {
        if (!PQsendPrepare(c, name, sql, n_params, NULL))
            return saga_pg_error(err, what, PQerrorMessage(c));
        s->stmts[i].prepared = true;
        pending *p = &s->q[s->nq++];
        p->prep = i;
        p->keep = NULL;
        memcpy(p->what, what, sizeof what);
    }
    int sent = i >= 0 ? PQsendQueryPrepared(c, name, n_params, params, NULL, NULL, 0)
                      : PQsendQueryParams(c, sql, n_params, NULL, params, NULL, NULL, 0);
    if (!sent)
        return saga_pg_error(err, what, PQerrorMessage(c));
    pending *p = &s->q[s->nq++];
    p->prep = -1;
    p->keep = keep;
    memcpy(p->what, what, sizeof what);
    return 0;
}

int saga_pg_defer(PGconn *c, const char *sql, int n_params, const char *const *params,
                  PGresult **keep, saga_error *err)
{
    return defer(c, sql, n_params, params, n_params > 0, keep, err);
}

int saga_pg_defer_unprepared(PGconn *c, const char *sql, int n_params,
                             const char *const *params, PGresult **keep, saga_error *err)
{
    return defer(c, sql, n_params, params, false, keep, err);
}

/* Reads the results of the pending statements; the first failure goes to
 * err and, if failed is not NULL and nobody keeps it, its result there. */
static int read_pending(PGconn *c, conn_state *s, size_t nq, PGresult **failed,
                        bool *broken, saga_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < nq; i++) {
        const pending *q = &s->q[i];
        PGresult *r = *broken ? NULL : PQgetResult(c);
        ExecStatusType st = PQresultStatus(r);
        bool ok = r && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
        if (!ok && q->prep >= 0)
            s->stmts[q->prep].prepared = false;
        if (!r) {
            *broken = true;
            continue;
        }
        if (!ok && rc == 0 && st != PGRES_PIPELINE_ABORTED) {
            rc = classify(saga_pg_error(err, q->what, PQresultErrorMessage(r)), r, err);
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
        while ((end = PQgetResult(c)) != NULL)
            PQclear(end);
    }
    return rc;
}

static int settle(PGconn *c, PGresult **failed, saga_error *err)
{
    if (failed)
        *failed = NULL;
    if (PQpipelineStatus(c) == PQ_PIPELINE_OFF)
        return 0;
    conn_state *s = state_of(c);
    size_t nq = s ? s->nq : 0;
    if (s)
        s->nq = 0;
    bool broken = !PQpipelineSync(c);
    int rc = nq ? read_pending(c, s, nq, failed, &broken, err) : 0;
    PGresult *r;
    while (!broken && (r = PQgetResult(c)) != NULL) {
        bool done = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (done)
            break;
    }
    if (!PQexitPipelineMode(c))
        broken = true;
    if (broken && rc == 0)
        rc = saga_pg_error(err, "pipeline", PQerrorMessage(c));
    return rc;
}

int saga_pg_settle(PGconn *c, saga_error *err)
{
    return settle(c, NULL, err);
}

/* --- statements that wait ----------------------------------------------- */

PGresult *saga_pg_query(PGconn *c, const char *sql, int n_params, const char *const *params,
                        int result_format)
{
    if (c && PQpipelineStatus(c) != PQ_PIPELINE_OFF) {
        /* Deferred statements are waiting: this one travels with them (in
         * text format; binary results are asked after them). */
        PGresult *res = NULL, *failed = NULL;
        saga_error err;
        bool along = result_format == 0 &&
                     defer(c, sql, n_params, params, true, &res, &err) == 0;
        settle(c, &failed, &err);
        if (failed) {
            PQclear(res); /* not run: the earlier failure is the one to show */
            return failed;
        }
        if (along)
            return res ? res : PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
        if (PQpipelineStatus(c) != PQ_PIPELINE_OFF)
            return PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
    }
    conn_state *s = state_of(c);
    long i = s ? stmt_index(s, sql) : -1;
    char name[24];
    stmt_name(name, i);
    if (i >= 0 && !s->stmts[i].prepared) {
        PGresult *r = PQprepare(c, name, sql, n_params, NULL);
        s->stmts[i].prepared = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }
    if (i < 0 || !s->stmts[i].prepared)
        return PQexecParams(c, sql, n_params, NULL, params, NULL, NULL, result_format);
    return PQexecPrepared(c, name, n_params, params, NULL, NULL, result_format);
}

int saga_pg_exec(PGconn *c, const char *sql, saga_error *err)
{
    if (settle(c, NULL, err))
        return SAGA_EDB;
    char what[48];
    sql_head(what, sql);
    PGresult *r = PQexec(c, sql);
    int rc = saga_pg_result_ok(r, c, what, err);
    PQclear(r);
    return rc;
}

int saga_pg_begin(PGconn *c, saga_error *err)
{
    return saga_pg_exec(c, "BEGIN", err);
}

int saga_pg_commit(PGconn *c, saga_error *err)
{
    PGresult *r = NULL;
    if (PQpipelineStatus(c) != PQ_PIPELINE_OFF) {
        /* The deferred statements and COMMIT: one round trip. */
        saga_error late;
        int rc = defer(c, "COMMIT", 0, NULL, false, &r, err);
        if (settle(c, NULL, rc ? &late : err) || rc) {
            PQclear(r);
            return SAGA_EDB;
        }
    } else {
        r = PQexec(c, "COMMIT");
    }
    int rc = saga_pg_result_ok(r, c, "commit", err);
    /* COMMIT of an aborted transaction "succeeds" as ROLLBACK. */
    if (rc == 0 && strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
        rc = saga_error_set(err, SAGA_EDB, "commit: transaction was rolled back");
    PQclear(r);
    return rc;
}

void saga_pg_rollback(PGconn *c)
{
    saga_error ignored;
    settle(c, NULL, &ignored);
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK"));
}
