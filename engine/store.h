/*
 * store.h - sagas in PostgreSQL: create, lock-and-load, write back.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * The store is batch-shaped because throughput comes from doing many sagas
 * per round trip: one query locks and loads every saga a batch touches
 * (FOR UPDATE, in id order so concurrent batches cannot deadlock), and one
 * statement writes every change of the batch - saga rows, step rows, history
 * and outbox - as data-modifying CTEs over JSON record sets. Every function
 * runs on a connection the caller has put inside a transaction; the store
 * commits only when told to (saga_pg_commit, saga_store_write_commit), so
 * a caller (sagad, saga_start, sagactl) decides what is atomic with what.
 * Transactions, prepared statements and deferred statements are pg.h's
 * (saga_pg_begin, saga_pg_defer, ...): statements whose results can wait
 * are deferred and travel with the next one that is waited for, so a turn
 * of sagad costs two round trips however many statements it has, and one
 * when every saga it touches is in its cache.
 */
#ifndef SAGA_STORE_H
#define SAGA_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "machine.h"
#include "pg.h"
#include "trace.h"

#define SAGA_ID_LEN 36

/* One saga as loaded for update. */
typedef struct saga_row {
    char id[SAGA_ID_LEN + 1];
    char def_name[SAGA_SPEC_MAX_NAME + 1];
    int def_version;
    char traceparent[SAGA_TRACEPARENT_LEN + 1];
    json_t *input;                            /* owned */
    json_t *results[SAGA_SPEC_MAX_STEPS];     /* owned; reserve results or NULL */
    bool result_dirty[SAGA_SPEC_MAX_STEPS];   /* set when results[i] changed */
    saga_state st;
    saga_state loaded;                        /* as read: to write only changes */
    char parent_id[SAGA_ID_LEN + 1];          /* a sub-saga's parent, or "" */
    char parent_step[SAGA_SPEC_MAX_NAME + 1]; /* the parent's step it runs for */
    int64_t writer;                           /* sagas.writer as read (0: NULL) */
    bool remembered;                          /* from a cache, not read: its write
                                                 requires writer unchanged */
} saga_row;

/* Frees what a row owns (not the row itself). */
void saga_row_clear(saga_row *row);

/*
 * Locks (FOR UPDATE) and loads the sagas whose ids are given (duplicates
 * allowed, unknown ids skipped). *rows is a new array (owned: free each with
 * saga_row_clear, then free()) in ascending id order; *n_rows its length.
 */
int saga_store_load(PGconn *conn, const char *const *ids, size_t n,
                    saga_row **rows, size_t *n_rows, saga_error *err);

/*
 * The same for a caller that remembers some of the sagas (sagad's cache):
 * all n_lock ids are locked, in one statement and in id order as above,
 * but only the n_load ids are read. With nothing to read, the lock is
 * deferred (saga_pg_defer) and nothing is waited for.
 */
int saga_store_lock_load(PGconn *conn, const char *const *lock_ids, size_t n_lock,
                         const char *const *load_ids, size_t n_load, saga_row **rows,
                         size_t *n_rows, saga_error *err);

/* A new saga to insert. */
typedef struct saga_new {
    const char *id;             /* generated UUID */
    const saga_spec *spec;      /* its definition */
    const json_t *input;        /* validated input (borrowed) */
    const char *idempotency_key;/* NULL or "" = none */
    const char *traceparent;
    bool wake_now;              /* let a timer apply START (external starts);
                                   ignored for a scheduled saga, due at its
                                   start time */
    int64_t now_ms;
    saga_machine_opts opts;     /* deadline and start time (0 = none) */
    const json_t *tags;         /* the saga's tags (borrowed object) or NULL */
    int64_t writer;             /* sagas.writer of the new row: the creating
                                   engine's id when it remembers the saga
                                   (saga_engine_remember_new), 0 = NULL */
} saga_new;

/*
 * Inserts the saga and its steps as saga_machine_init_opts makes them for
 * the spec and s->opts (RUNNING or SCHEDULED, every step PENDING), its
 * tags, and a "created" history row; with wake_now a saga that is not
 * scheduled is due at once. When the idempotency key already
 * exists nothing is inserted: *existed is set and existing_id receives the
 * earlier saga's id.
 */
int saga_store_create(PGconn *conn, const saga_new *s, bool *existed,
                      char existing_id[SAGA_ID_LEN + 1], saga_error *err);

/* Inserts n sagas (s borrowed) in one statement, each as saga_store_create
 * would; created[i] (caller's array of n) tells which were inserted: false
 * means its idempotency key exists already or repeats an earlier one of s. */
int saga_store_create_many(PGconn *conn, const saga_new *const *s, size_t n, bool *created,
                           saga_error *err);

/* Accumulates the writes of a batch; see saga_store_write. */
typedef struct saga_writes {
    json_t *sagas;    /* arrays of records, owned */
    json_t *remembered; /* {id, writer} of sagas written from memory */
    json_t *steps;
    json_t *history;
    json_t *outbox;
    size_t n_outbox;
    int64_t earliest_wake_ms; /* least wake_ms of the rows added, 0 = none */
    bool failed;      /* a record could not be built (memory, bad UTF-8):
                         saga_store_write refuses rather than drop it */
} saga_writes;

void saga_writes_init(saga_writes *w);
void saga_writes_clear(saga_writes *w);

/* Queues the changes of row (state vs loaded, dirty results), written by
 * the process whose id is writer (0: one that remembers nothing): the
 * saga's own row is written when it changed or its writer does. */
void saga_writes_row(saga_writes *w, const saga_row *row, int64_t writer);

/* Queues one history row. step/action/outcome/text/actor may be NULL. */
void saga_writes_history(saga_writes *w, const char *saga_id, int64_t at_ms,
                         const char *kind, const char *step,
                         const char *action, int attempt, const char *outcome,
                         const char *text, const char *actor);

/* Queues one outbox row. relay_now: any relay may publish it at once (the
 * writer will not publish it itself). */
void saga_writes_outbox(saga_writes *w, const char *topic, const char *key,
                        const void *payload, size_t len,
                        const char *traceparent, bool relay_now);

/*
 * Writes everything queued in one statement. *outbox_ids (may be NULL)
 * receives the new outbox row ids (owned array, free()), *n_ids its length.
 * A saga queued from memory (row->remembered) is written only if its row
 * still names the same writer: otherwise the statement fails with
 * SAGA_EBUSY (SQLSTATE 40001, "a saga changed since it was read") and
 * nothing of it stays (schema/009_saga_writer.sql). The caller holds the
 * saga's row lock (saga_store_lock_load) when the statement runs.
 */
int saga_store_write(PGconn *conn, const saga_writes *w, int64_t **outbox_ids,
                     size_t *n_ids, saga_error *err);

/* err is the write's refusal of a saga changed since it was read. */
bool saga_store_changed(const saga_error *err);

/* saga_store_write, then COMMIT (saga_pg_commit), in one round trip (with anything deferred
 * before them). On failure the caller rolls back. */
int saga_store_write_commit(PGconn *conn, const saga_writes *w, int64_t **outbox_ids,
                            size_t *n_ids, saga_error *err);

/* Deletes published outbox rows: one statement, deferred (see
 * saga_pg_defer), so it travels with the caller's next statement, in the
 * caller's transaction if one is open (sagad folds it into its next turn);
 * on its own, saga_pg_settle sends it. Losing it in a crash only
 * re-sends commands that participants deduplicate. */
int saga_store_outbox_delete(PGconn *conn, const int64_t *ids, size_t n,
                             saga_error *err);

/* Sends NOTIFY on channel (delivered at commit) with an empty payload. */
int saga_store_notify(PGconn *conn, const char *channel, saga_error *err);

/* Marks a saga created in this transaction as the sub-saga run for step
 * `parent_step` of saga parent_id (store_family.c). */
int saga_store_link_child(PGconn *conn, const char *child_id, const char *parent_id,
                          const char *parent_step, saga_error *err);

/* Whether saga id has finished (*done; false when it does not exist). */
int saga_store_finished(PGconn *conn, const char *id, bool *done, saga_error *err);

/* Fills a random (version 4) UUID. */
void saga_uuid_new(char out[SAGA_ID_LEN + 1]);

/* Milliseconds since the Unix epoch (wall clock: deadlines are stored). */
int64_t saga_now_ms(void);

#endif
