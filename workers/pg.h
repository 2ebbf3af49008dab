/*
 * pg.h - the worker's PostgreSQL connection: connecting with backoff, and
 * sending several statements in one round trip (libpq pipeline mode).
 *
 * Round trips, not PostgreSQL's own work, bound how many commands a worker
 * can push through one connection, so the library's bookkeeping statements
 * (savepoint, barrier claim, barrier record, release) travel in pipelines.
 */
#ifndef SAGA_WORKER_PG_H
#define SAGA_WORKER_PG_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "error.h"

/*
 * A cache of prepared statements for one connection, keyed by SQL text.
 * Parsing and planning cost PostgreSQL more than executing the short
 * statements of a command does, so every statement with parameters is
 * prepared once and then only executed. Owned: saga_wpg_stmts_free.
 */
typedef struct saga_wpg_stmts saga_wpg_stmts;

saga_wpg_stmts *saga_wpg_stmts_new(void);
void saga_wpg_stmts_free(saga_wpg_stmts *s);
/* Forgets every statement: call when the connection was replaced. */
void saga_wpg_stmts_forget(saga_wpg_stmts *s);

/* The name of sql's prepared statement on c, preparing it on first use
 * (borrowed from the cache). NULL when preparing failed: the reason is in
 * PQerrorMessage(c), and inside a transaction the transaction is aborted. */
const char *saga_wpg_stmts_get(saga_wpg_stmts *s, PGconn *c, const char *sql, int nparams);

/* Runs sql as a prepared statement through s; the result is owned (PQclear)
 * and never NULL. */
PGresult *saga_wpg_exec_prepared(saga_wpg_stmts *s, PGconn *c, const char *sql, int nparams,
                                 const char *const *values);

#define SAGA_WPG_PIPELINE_MAX 8

/* One statement of a pipeline. values are borrowed text parameters (NULL
 * entries are SQL NULL); res is filled by saga_wpg_pipeline. */
typedef struct saga_wpg_stmt {
    const char *sql;
    int nparams;
    const char *const *values;
    PGresult *res;
} saga_wpg_stmt;

/*
 * Connects to dsn (borrowed), naming the session application_name, retrying
 * with exponential backoff (100 ms doubling to 5 s, each failure logged)
 * until it succeeds or stopping() returns true. Returns the connection
 * (owned: PQfinish) or NULL when asked to stop.
 */
PGconn *saga_wpg_connect(const char *dsn, const char *application_name,
                         bool (*stopping)(void));

/* Connects once; NULL with err set (the DSN is shown without password). */
PGconn *saga_wpg_connect_once(const char *dsn, const char *application_name,
                              saga_error *err);

/* "user@host:port/dbname" of a connection, for messages (never a password). */
void saga_wpg_describe(PGconn *c, char *buf, size_t len);

/*
 * Sends stmts[0..n) as one pipeline and reads every result; statements with
 * parameters run prepared through cache (may be NULL). Returns 0 when
 * every statement succeeded, else SAGA_EDB with err (required) naming the first
 * failure (later statements were skipped by the server). Results are left
 * in stmts[i].res either way: free them with saga_wpg_clear.
 */
int saga_wpg_pipeline(PGconn *c, saga_wpg_stmts *cache, saga_wpg_stmt *stmts, int n,
                      saga_error *err);
void saga_wpg_clear(saga_wpg_stmt *stmts, int n);

/* Runs parameter-less SQL (may hold several statements). 0 or SAGA_EDB
 * with err (required) set. */
int saga_wpg_exec(PGconn *c, const char *sql, saga_error *err);

/* Whether the connection is still usable (false: reconnect). */
bool saga_wpg_alive(PGconn *c);

#endif
