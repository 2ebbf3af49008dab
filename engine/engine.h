/*
 * engine.h - advancing sagas: load, decide, build commands, queue writes.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * This is the one path every change of a saga takes, whoever causes it:
 * sagad applying replies and timers, saga_start creating a saga, sagactl's
 * retry / abort / resolve. It locks the sagas involved, runs the pure
 * decision core (machine.h) on each event, renders the payload templates of
 * the commands decided, encodes them, and queues state, history and outbox
 * rows into a saga_writes for the caller to write and commit. It never
 * commits or talks to Kafka itself.
 */
#ifndef SAGA_ENGINE_H
#define SAGA_ENGINE_H

#include <jansson.h>
#include <libpq-fe.h>

#include "error.h"
#include "machine.h"
#include "spec.h"
#include "store.h"

typedef struct saga_engine saga_engine;

/* reply_topic (copied) is put in every Command. Owned: saga_engine_free. */
saga_engine *saga_engine_new(const char *reply_topic);
void saga_engine_free(saga_engine *e);

/* Where a parent's CONFIRM / COMPENSATE orders to its sub-sagas are sent
 * (copied; default saga.signals): sagad's topics.signals. */
void saga_engine_set_signal_topic(saga_engine *e, const char *topic);

/*
 * The definition name@version (version 0 = the latest applied), parsed and
 * cached. *out is borrowed from the engine and lives as long as it. Which
 * version is the latest is asked of PostgreSQL once per turn, unless the
 * turn already checked it (saga_engine_defs_stale).
 */
int saga_engine_def(saga_engine *e, PGconn *conn, const char *name,
                    int version, const saga_spec **out, saga_error *err);

/*
 * The same, but for version 0 it takes the latest an earlier turn found
 * without asking, on the condition that the turn checks it inside its
 * transaction: saga_engine_defs_check defers the check (it travels with
 * the turn's first round trip), saga_engine_defs_stale reads it once a
 * later statement was waited for. When it says stale, a newer version was
 * applied meanwhile: the caller rolls the turn back and runs it again,
 * which asks PostgreSQL. A start never runs an older version than a lookup
 * at the start of its transaction would have found, and an idle system's
 * start costs no round trip for it.
 */
int saga_engine_def_hint(saga_engine *e, PGconn *conn, const char *name, int version,
                         const saga_spec **out, saga_error *err);
int saga_engine_defs_check(saga_engine *e, PGconn *conn, saga_error *err);
bool saga_engine_defs_stale(saga_engine *e);

/* Starts a new turn: "latest" is asked or checked again. */
void saga_engine_turn(saga_engine *e);

/*
 * Remember up to n sagas (0 = none, the default) between turns: the state
 * each committed turn wrote, so that the next turn for the same saga locks
 * it without reading it (rowcache.h). The engine then signs its writes
 * with a random id (sagas.writer), and the write of a remembered saga
 * succeeds only if nobody else wrote it meanwhile; otherwise
 * saga_engine_apply's caller sees SAGA_EBUSY from the write
 * (saga_store_changed), rolls back, calls saga_engine_settle(e, false),
 * which forgets the turn's sagas, and runs the turn again. One thread per
 * engine, as everywhere. SAGA_ENOMEM when the table cannot be made.
 */
int saga_engine_set_cache(saga_engine *e, size_t n);

/* After the write of the last saga_engine_apply committed (or did not):
 * the sagas it wrote are remembered as written (or forgotten; finished
 * ones always are). Without a cache it only frees. */
void saga_engine_settle(saga_engine *e, bool committed);

/* The id this engine signs sagas.writer with (0 without a cache). */
int64_t saga_engine_writer(const saga_engine *e);

/* Remembers a saga just inserted in the caller's transaction from s (with
 * s->writer = saga_engine_writer(e)), as the store wrote it, so that the
 * same turn's START needs no read. Rolled back after its apply, it is
 * forgotten with the turn's other sagas (saga_engine_settle); rolled back
 * before, the entry names a saga that does not exist, whose id is never
 * used again and whose write would fail the writer check, until evicted.
 * No-op without a cache. */
void saga_engine_remember_new(saga_engine *e, const saga_new *s);

/* How many sagas are remembered; how many sagas applied found in the
 * cache (*hits) and read from PostgreSQL (*reads) since the engine began. */
size_t saga_engine_cached(const saga_engine *e);
void saga_engine_cache_stats(const saga_engine *e, uint64_t *hits, uint64_t *reads);

/* One event for one saga. The caller fills the inputs; the engine fills
 * rc/err (0, or SAGA_ENOTFOUND for an unknown saga or step, SAGA_ECONFLICT
 * for an operator action refused in the saga's state) and the outputs. */
typedef struct saga_engine_event {
    const char *saga_id;      /* borrowed */
    saga_event ev;            /* kind, now_ms, random, action, attempt,
                                 outcome, reason, resolve_as, op_reason;
                                 ev.step is set by the engine from step_name;
                                 a TIMER for a saga never dispatched starts
                                 it (see `started`) */
    const char *step_name;    /* REPLY; RETRY of one step; NULL otherwise */
    const json_t *payload;    /* REPLY: the reply's JSON payload, or NULL */
    const char *actor;        /* operator events: who */
    /* outputs */
    int rc;
    saga_error err;
    saga_status status_before, status_after;
    char def_name[SAGA_SPEC_MAX_NAME + 1]; /* "" when the saga is unknown */
    char traceparent[SAGA_TRACEPARENT_SIZE]; /* the saga's, for log lines */
    void *source;             /* the caller's own tag (sagad: the Kafka
                                 message the event came from); never read */
    bool applied;             /* the event changed the saga */
    bool started;             /* the event dispatched the saga's first
                                 commands (START, or the first TIMER of a
                                 saga created by saga_start) */
    bool deadline_expired;    /* the event found the saga's deadline passed
                                 and began compensating */
    double step_seconds;      /* REPLY applied: dispatch-to-reply time of
                                 the command it answered; -1 otherwise */
    const saga_spec *spec;    /* the saga's definition (borrowed from the
                                 engine), NULL when the saga is unknown */
    saga_circuit_obs circuit[SAGA_EFFECTS_MAX_CIRCUIT]; /* what the machine
                                 told the circuit breakers (circuit.h) */
    size_t n_circuit;
} saga_engine_event;

/* A message to publish after commit (same bytes as its outbox row). */
typedef struct saga_msg {
    char *topic;       /* owned */
    char *key;         /* owned: the saga id */
    void *payload;     /* owned: encoded Command */
    size_t len;
    char traceparent[SAGA_TRACEPARENT_LEN + 1];
} saga_msg;

typedef struct saga_msgs {
    saga_msg *v;
    size_t n, cap;
} saga_msgs;

void saga_msgs_clear(saga_msgs *m); /* frees the messages, keeps nothing */

/*
 * Applies events in order, inside the caller's transaction on conn. Queues
 * every write into w. If msgs is non-NULL the caller promises to publish the
 * returned messages itself right after commit (their outbox rows get a grace
 * period before a relay may take them); if NULL, the rows are left for the
 * relay at once. Per-event results are in evs[i].rc. Returns non-zero only
 * when the transaction itself failed (database error): then roll back.
 */
int saga_engine_apply(saga_engine *e, PGconn *conn, saga_engine_event *evs,
                      size_t n, saga_writes *w, saga_msgs *msgs,
                      saga_error *err);

/*
 * Reconciliation's repair (sagactl reconcile --repair): queues `action` for
 * step `step` of the finished (COMPLETED or COMPENSATED) saga saga_id, in
 * the caller's transaction on conn, bypassing the machine, which has
 * nothing left to decide for a finished saga. The saga row is locked as by
 * saga_engine_apply; the command is rendered and encoded like any other,
 * left in the outbox for any relay, and counted as a new attempt of that
 * action; a history row "operator" with actor and why says who sent it and
 * why. The saga's status does not change, so the participant's reply is
 * recorded as ignored. Returns 0, SAGA_ENOTFOUND (saga or step),
 * SAGA_ECONFLICT (the saga is not finished), or a database error.
 */
int saga_engine_resend(saga_engine *e, PGconn *conn, const char *saga_id, const char *step,
                       saga_action action, const char *actor, const char *why,
                       saga_writes *w, saga_error *err);

#endif
