/*
 * barrier.h - the participant barrier: what makes a participant idempotent.
 *
 * Layer: workers/, the participant library; built on core and common only,
 * used by the workers and your participants, never by the coordinator.
 *
 * Each participant schema has a table <schema>.barrier with one row per
 * (idempotency_key, action) that was answered OK or REJECTED, holding that
 * answer. A command first claims its row (INSERT ... ON CONFLICT DO NOTHING,
 * so concurrent redeliveries serialise on it), then the rules below decide
 * from the step's other rows whether the handler runs, and the answer is
 * written into the row in the same transaction as the handler's change:
 *
 *  1. own row already answered           -> duplicate: resend the recorded answer
 *  2. COMPENSATE, no RESERVE row         -> OK, empty compensation, no handler
 *     COMPENSATE, RESERVE was REJECTED   -> OK, nothing to undo, no handler
 *  3. RESERVE, a COMPENSATE row exists   -> REJECTED: hanging reserve
 *     RESERVE, a CONFIRM row exists      -> REJECTED: late reserve
 *  4. CONFIRM, COMPENSATE was OK         -> REJECTED: already compensated
 *     COMPENSATE, CONFIRM was OK         -> REJECTED: already confirmed
 *     CONFIRM, no successful RESERVE     -> REJECTED: nothing to confirm
 *  otherwise                             -> run the handler
 *
 * The decision (saga_barrier_decide) is pure and unit-tested; the rest is
 * its SQL, shaped for batches: one statement claims the rows of every
 * command of a batch and returns what the steps recorded before, one
 * statement writes every answer at the end. RETRY answers are never
 * recorded (the claimed row is removed again), so a later attempt runs.
 */
#ifndef SAGA_WORKER_BARRIER_H
#define SAGA_WORKER_BARRIER_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "error.h"
#include "saga.pb-c.h"
#include "worker.h"

/* Exact reasons and results written by the barrier (docs/participants.md). */
#define SAGA_BARRIER_HANGING "hanging reserve: step already compensated"
#define SAGA_BARRIER_LATE "late reserve: step already confirmed"
#define SAGA_BARRIER_COMPENSATED "already compensated"
#define SAGA_BARRIER_CONFIRMED "already confirmed"
#define SAGA_BARRIER_NOTHING_TO_CONFIRM "nothing to confirm: no successful reserve for this step"
#define SAGA_BARRIER_EMPTY_RESULT "{\"noop\":\"empty compensation\"}"
#define SAGA_BARRIER_NOOP_RESULT "{\"noop\":\"reserve was rejected\"}"

typedef enum saga_barrier_verdict {
    SAGA_BARRIER_RECORD = 1, /* record the decision's answer, no handler */
    SAGA_BARRIER_HANDLE      /* run the handler, record its answer */
} saga_barrier_verdict;

/* The recorded outcome per action for one key; 0 = no row. */
typedef struct saga_barrier_seen {
    saga_worker_outcome outcome[4];
} saga_barrier_seen;

typedef struct saga_barrier_decision {
    saga_barrier_verdict verdict;
    saga_worker_outcome outcome; /* RECORD */
    const char *reason;          /* RECORD: static, "" when none */
    const char *result;          /* RECORD: static JSON or NULL */
    bool anomaly;                /* an out-of-order command worth a warning */
} saga_barrier_decision;

/* Rules 2 to 4 for a command whose own (key, action) has no answer yet
 * (rule 1, the duplicate, is answered from the row before asking); seen
 * holds what the step's other actions recorded. */
saga_barrier_decision saga_barrier_decide(saga_worker_action action,
                                          const saga_barrier_seen *seen);

typedef struct saga_barrier {
    char *claim_sql;  /* owned */
    char *reread_sql; /* owned */
    char *record_sql; /* owned */
} saga_barrier;

/* Builds the SQL for <schema>.barrier (the identifier is quoted by libpq)
 * and checks the table exists. The statements run prepared on whatever
 * connection is passed (pg.h). 0, SAGA_ENOTFOUND (with a hint) or
 * SAGA_EDB. */
int saga_barrier_open(saga_barrier *b, PGconn *c, const char *schema, saga_error *err);
void saga_barrier_close(saga_barrier *b);

/*
 * Creates <schema>.barrier (and the schema) if it does not exist: the
 * library's own migrations (schema/barrier/, :"schema" standing for the
 * quoted schema), recorded as component "barrier:<schema>". Run after the
 * participant's migrations, on a connection not in a transaction. Sets
 * *applied (may be NULL) to how many were applied now. 0 or as
 * saga_migrate.
 */
int saga_barrier_migrate(PGconn *c, const char *schema, int *applied, saga_error *err);

/* One barrier row as read back. Strings owned by the saga_barrier_rows. */
typedef struct saga_barrier_row {
    char *key;
    saga_worker_action action;
    saga_worker_outcome outcome; /* OK or REJECTED; 0 for a row claimed now */
    char *reason;
    char *result;                /* JSON text or NULL */
    bool mine;                   /* inserted by this transaction's claim */
} saga_barrier_row;

typedef struct saga_barrier_rows {
    saga_barrier_row *rows; /* owned: saga_barrier_rows_free */
    size_t n, cap;
} saga_barrier_rows;

void saga_barrier_rows_free(saga_barrier_rows *r);

/* The row for (key, action) that is (mine) or is not (!mine) this
 * transaction's claim; NULL when there is none. Borrowed from r. */
const saga_barrier_row *saga_barrier_rows_find(const saga_barrier_rows *r, const char *key,
                                               saga_worker_action action, bool mine);

/*
 * Claims a row for each of cmds[0..n) (borrowed) and reads every row
 * recorded before for their keys, sending `before` (parameter-less SQL such
 * as BEGIN, or NULL) in the same round trip. A (key, action) that another
 * transaction claimed concurrently is waited for, then read again once it
 * committed. Fills *out (free with saga_barrier_rows_free, also on error).
 * 0, SAGA_EDB or SAGA_ENOMEM.
 */
int saga_barrier_claim(saga_barrier *b, PGconn *c, const char *before,
                       const Saga__Command *const *cmds, size_t n, saga_barrier_rows *out,
                       saga_error *err);

/*
 * Reads every recorded row of keys[0..n) (borrowed) in one statement, on a
 * connection not in a transaction: what a QUERY (reconciliation) answers
 * from. Claims nothing, changes nothing. Fills *out (free with
 * saga_barrier_rows_free, also on error). 0, SAGA_EDB or SAGA_ENOMEM.
 */
int saga_barrier_read(saga_barrier *b, PGconn *c, const char *const *keys, size_t n,
                      saga_barrier_rows *out, saga_error *err);

/* An answer to write: outcome 0 removes the claimed row (RETRY). */
typedef struct saga_barrier_answer {
    const char *key;
    saga_worker_action action;
    saga_worker_outcome outcome;
    const char *reason;
    const char *result; /* JSON text or NULL */
} saga_barrier_answer;

/*
 * Writes answers[0..n) into the claimed rows, between `before` and `after`
 * (parameter-less SQL such as RELEASE SAVEPOINT and COMMIT, or NULL) in one
 * round trip. *stored receives the recorded rows as PostgreSQL stored them
 * (their result text is canonical: replying with it makes every later
 * duplicate's reply byte-identical to the first). *after_ok tells whether
 * `after` succeeded. 0, SAGA_EDB or SAGA_ENOMEM.
 */
int saga_barrier_record(saga_barrier *b, PGconn *c, const char *before, const char *after,
                        const saga_barrier_answer *answers, size_t n,
                        saga_barrier_rows *stored, bool *after_ok, saga_error *err);

#endif
