/*
 * pg.h - the one libpq layer of sagad, sagactl and the workers: connecting
 * (once, or with backoff), libpq's messages as saga_error, prepared
 * statements, and deferred statements (libpq pipeline mode).
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Round trips, not PostgreSQL's own work, bound how much one connection
 * does, so two things are built in. Every statement run through here with
 * parameters is prepared once per connection and then only executed
 * (planning cost several times the execution of the short statements of a
 * turn or a command), unless it is on a table whose size swings so far
 * that no one plan fits (saga_pg_defer_unprepared). And a statement whose
 * result can wait is deferred: it is sent at once and travels with the next
 * statement that is waited for, so a transaction's BEGIN, its bookkeeping
 * and its first query cost one round trip. What a connection has prepared and deferred is kept with the
 * connection itself (libpq instance data, dropped when the connection is
 * reset or finished), so any PGconn can be passed and nothing is to free.
 */
#ifndef SAGA_PG_H
#define SAGA_PG_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "error.h"

/* Connects to dsn (borrowed; key=value or URI) once. application_name (may
 * be NULL) names the session unless the DSN does. Returns the connection
 * (owned: PQfinish) or NULL with err set; the message shows the DSN with its
 * password masked. */
PGconn *saga_pg_connect(const char *dsn, const char *application_name, saga_error *err);

/* saga_pg_connect until it succeeds, pausing 100 ms doubling to 5 s between
 * attempts (each failure logged), or until stopping() returns true (checked
 * every 50 ms): then NULL. */
PGconn *saga_pg_connect_retry(const char *dsn, const char *application_name,
                              bool (*stopping)(void));

/* Whether c is still usable (false: reconnect). */
bool saga_pg_alive(PGconn *c);

/* Sets err to SAGA_EDB "what: message", libpq's message made one line (its
 * line breaks become "; ", the trailing newline goes). Returns SAGA_EDB. */
int saga_pg_error(saga_error *err, const char *what, const char *pq_msg);

/* 0 if r is COMMAND_OK or TUPLES_OK, else saga_pg_error with r's message
 * (or c's when r has none). r is not freed. */
int saga_pg_result_ok(PGresult *r, PGconn *c, const char *what, saga_error *err);

/*
 * PQexecParams through the connection's prepared statements: the first use
 * of sql (keyed by its text) prepares it, later uses only execute it. Falls
 * back to PQexecParams when preparing is impossible (inside an aborted
 * transaction, say: the result then carries the real error). Deferred
 * statements are sent first, with this one (in text format) in the same
 * round trip; if one of them failed, its result is returned instead (this
 * one did not run). The result is owned (PQclear) and never NULL for a
 * connection.
 */
PGresult *saga_pg_query(PGconn *c, const char *sql, int n_params, const char *const *params,
                        int result_format);

/* Runs parameter-less sql (may hold several statements) after anything
 * deferred. 0 or SAGA_EDB with err set. */
int saga_pg_exec(PGconn *c, const char *sql, saga_error *err);

/* BEGIN; COMMIT (with anything deferred: one round trip; a transaction that
 * had failed and so "commits" as ROLLBACK is an error); ROLLBACK of whatever
 * is open, after reading what was deferred, errors ignored. */
int saga_pg_begin(PGconn *c, saga_error *err);
int saga_pg_commit(PGconn *c, saga_error *err);
void saga_pg_rollback(PGconn *c);

/*
 * Sends a statement without waiting for its result; statements with
 * parameters are prepared as by saga_pg_query. It travels with the next
 * statement that is waited for (saga_pg_query, saga_pg_exec, saga_pg_commit
 * and everything built on them) or with saga_pg_settle. A deferred
 * statement's error is reported, with its own message, by the statement
 * that waits; the later ones are not run. keep (may be NULL) receives the
 * statement's result once it is read (owned: PQclear): its own, failed,
 * aborted (PGRES_PIPELINE_ABORTED: not run), or nothing when the connection
 * broke. While statements are deferred only this module may use c. At most
 * 8 statements are deferred at once.
 */
int saga_pg_defer(PGconn *c, const char *sql, int n_params, const char *const *params,
                  PGresult **keep, saga_error *err);

/* saga_pg_defer without the preparing: planned at every execution, from
 * the table's size at that moment. For a queue such as the outbox, empty
 * one moment and thousands of dead rows the next until vacuum comes: a
 * plan made once while it was empty scans the whole table on every later
 * use (up to 1.5 ms a delete at 200 sagas/s, docs/benchmarks.md). */
int saga_pg_defer_unprepared(PGconn *c, const char *sql, int n_params,
                             const char *const *params, PGresult **keep, saga_error *err);

/* Reads the result of every deferred statement and leaves pipeline mode.
 * 0, or SAGA_EDB with the first failure in err. Nothing deferred: 0. */
int saga_pg_settle(PGconn *c, saga_error *err);

#endif
