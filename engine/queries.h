/*
 * queries.h - the reads operators make of sagad's tables, by name: every
 * statement sagactl sends and sagad's /metrics query, each with its
 * parameters and the order of its result columns.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * Why named queries in C rather than SQL views in a migration: a view
 * fixes its columns in the database, so changing what `sagactl show`
 * prints would need a migration and would break an older sagactl against a
 * newer schema (or the reverse), while a query compiled into the binary
 * always matches the code that reads its columns, and the column enums sit
 * next to the SQL they index. `sagactl list` also assembles its query from
 * the filters given (one index walk per status, see saga_query_list),
 * which no view can express without hiding that plan shape. The programs
 * (sagactl, sagad's metrics) name no table or column; the coordinator's
 * own statements stay next to the code that runs them (store.c, defs.c,
 * outbox.c, timers.c), the workers' in barrier.c.
 *
 * Column enums are short (QSAGA_ID rather than SAGA_QUERY_SAGA_ID): the
 * commands index rows with them on nearly every line.
 *
 * Every query takes its parameters as text ($1..$n, PQexecParams) and
 * returns text columns; times come back as epoch milliseconds (0 for SQL
 * NULL) through SAGA_QUERY_MS. Strings are static: borrowed, never freed.
 */
#ifndef SAGA_QUERIES_H
#define SAGA_QUERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "spec.h"
#include "store.h"

/* A number macro as a string literal, for help text quoting a limit. */
#define SAGA_QUERY_STR(x) SAGA_QUERY_STR_(x)
#define SAGA_QUERY_STR_(x) #x

/* Epoch milliseconds of a timestamptz expression, 0 when NULL. */
#define SAGA_QUERY_MS(col) "coalesce((extract(epoch FROM " col ") * 1000)::bigint, 0)"

/* A LATERAL join over the saga_steps of alias s yielding the step holding
 * the saga up (the pending command with most consecutive failures; all
 * NULL when no command is pending), and the 7 columns to select from it,
 * in this order: step, action, attempt, in_flight (bool),
 * due_ms (deadline when in flight, else re-send time), last_error,
 * error_ms (when the step's latest timeout or reply was recorded). */
#define SAGA_QUERY_WAITING_JOIN                                               \
    " LEFT JOIN LATERAL ("                                                    \
    "  SELECT st.name AS step, st.action, st.attempt,"                       \
    "   st.deadline_at IS NOT NULL AS in_flight,"                            \
    "   " SAGA_QUERY_MS("coalesce(st.deadline_at, st.retry_at)") " AS due_ms," \
    "   st.last_error,"                                                       \
    "   (SELECT " SAGA_QUERY_MS("h.at") " FROM saga_history h"               \
    "     WHERE h.saga_id = st.saga_id AND h.step = st.name"                 \
    "       AND h.kind IN ('timeout', 'reply')"                               \
    "     ORDER BY h.id DESC LIMIT 1) AS error_ms"                           \
    "  FROM saga_steps st"                                                    \
    "  WHERE st.saga_id = s.id AND st.action IS NOT NULL"                    \
    "  ORDER BY st.failures DESC, st.idx LIMIT 1) w ON true"
#define SAGA_QUERY_WAITING_COLS                                               \
    "w.step, w.action, w.attempt, w.in_flight, w.due_ms, w.last_error,"      \
    " w.error_ms"

/* The columns of a saga's deadline, schedule, tags and parent, relative to
 * their first (QSAGA_FLOW, QSTUCK_FLOW, QLIST_FLOW): tags (JSON object
 * text), deadline_ms (0 = none), deadline_at (ms, 0 until armed),
 * deadline_expired (bool), start_at (ms, 0 unless scheduled), parent_id
 * and parent_step (NULL for a top-level saga). */
enum {
    QFLOW_TAGS, QFLOW_DEADLINE_MS, QFLOW_DEADLINE_AT, QFLOW_EXPIRED,
    QFLOW_START_AT, QFLOW_PARENT, QFLOW_PARENT_STEP, QFLOW_N
};

/* --- one saga (sagactl show) --------------------------------------------- */

/* $1 saga id. At most one row: the saga, the flow columns, then the
 * waiting columns. */
extern const char saga_query_saga[];
enum {
    QSAGA_ID, QSAGA_DEF, QSAGA_VER, QSAGA_STATUS,
    QSAGA_INPUT, QSAGA_KEY, QSAGA_TRACE, QSAGA_CREATED,
    QSAGA_UPDATED, QSAGA_PROGRESS, QSAGA_FINISHED,
    QSAGA_WAKE, QSAGA_STUCK, QSAGA_REASON, QSAGA_ABORTED,
    QSAGA_RESOLVED, QSAGA_FLOW, QSAGA_WAIT = QSAGA_FLOW + QFLOW_N
};

/* $1 saga id. Its steps in definition order; RA/CA/XA count the reserve,
 * confirm and compensate attempts, RO/CO/XO hold their latest outcomes. */
extern const char saga_query_steps[];
enum {
    QSTEP_IDX, QSTEP_NAME, QSTEP_STATUS, QSTEP_ACTION,
    QSTEP_ATTEMPT, QSTEP_FAILURES, QSTEP_DEADLINE,
    QSTEP_RETRY, QSTEP_RA, QSTEP_CA, QSTEP_XA,
    QSTEP_RO, QSTEP_CO, QSTEP_XO, QSTEP_ERROR,
    QSTEP_RESULT, QSTEP_UPDATED
};

/* $1 saga id, $2 N or NULL. The saga's last N history rows (all when $2
 * is NULL), oldest first; columns QHIST_ID..QHIST_ACTOR. */
extern const char saga_query_history[];
/* $1 saga id. One row, one column: how many history rows the saga has. */
extern const char saga_query_history_count[];

/* The history columns, shared by saga_query_history and
 * saga_query_history_after so one row reader serves both. */
enum {
    QHIST_ID, QHIST_AT, QHIST_KIND, QHIST_STEP,
    QHIST_ACTION, QHIST_ATTEMPT, QHIST_OUTCOME,
    QHIST_TEXT, QHIST_ACTOR,
    /* saga_query_history_after only; name and version are NULL when the
     * saga was pruned meanwhile */
    QHIST_SAGA, QHIST_DEF, QHIST_VER
};

/* --- following the history (sagactl tail) ------------------------------- */

/* No parameter. One row, one column: the highest history id (0 if none). */
extern const char saga_query_history_max[];
/* $1 history id. Up to SAGA_QUERY_HISTORY_BATCH rows of every saga with a
 * larger id, ascending; columns QHIST_ID..QHIST_VER. */
#define SAGA_QUERY_HISTORY_BATCH 1000
extern const char saga_query_history_after[];

/* --- ids and status (every command taking an ID; start --wait) ----------- */

/* $1 lowest, $2 highest UUID of a prefix's range. Up to 6 ids, ascending:
 * one id is a match, more an ambiguous prefix. */
extern const char saga_query_id_range[];
/* $1 a UUID. Up to 3 ids on each side of it (the closest by prefix). */
extern const char saga_query_id_near[];
/* $1 saga id. At most one row, one column: its status. */
extern const char saga_query_saga_status[];

/* --- sagactl stats --------------------------------------------------------- */

/* $1 window start (epoch ms). (def_name, status, count) of sagas created
 * since, ordered by both. */
extern const char saga_query_stats_counts[];
/* $1 window start (epoch ms). Per definition of sagas finished since, and
 * a last ROLLUP row (def_name NULL) over all: def_name, count,
 * "{p50,p95,p99}" of the duration in ms, max duration in ms. */
extern const char saga_query_stats_durations[];
/* No parameter. One row: active sagas, of which flagged stuck. */
extern const char saga_query_stats_active[];
/* $1 window start (epoch ms), $2 bucket width (ms). One row per bucket
 * that saw a saga start or finish, in order: bucket number (0 = the one
 * starting at $1), sagas created in it, sagas finished in it COMPLETED and
 * COMPENSATED, "{p50,p95,p99}" of their durations in ms (NULL when none
 * finished). */
extern const char saga_query_stats_series[];
enum {
    QSERIES_BUCKET, QSERIES_STARTED, QSERIES_COMPLETED, QSERIES_COMPENSATED,
    QSERIES_PCTL
};

/* --- sagactl stuck --------------------------------------------------------- */

/* Parameters shared by both: $1 JSON [{"n": name, "v": version, "ms":
 * stuck_after_ms}] or NULL, $2 threshold ms or NULL (replaces $1), $3 def
 * name or NULL, $4 version or NULL. A saga is stuck when non-terminal and
 * past $2 without progress, or (without $2) flagged or past its own
 * definition's stuck_after_ms. */

/* $1..$4, $5 limit. Stuck sagas, oldest progress first, then the flow and
 * the waiting columns. */
extern const char saga_query_stuck_list[];
enum {
    QSTUCK_ID, QSTUCK_DEF, QSTUCK_VER, QSTUCK_STATUS,
    QSTUCK_CREATED, QSTUCK_PROGRESS, QSTUCK_FLAGGED,
    QSTUCK_REASON, QSTUCK_FLOW, QSTUCK_WAIT = QSTUCK_FLOW + QFLOW_N
};

/* $1..$4. Counts of stuck sagas by definition, version and the holding
 * step's action and last error, largest first. */
extern const char saga_query_stuck_groups[];
enum {
    QGROUP_DEF, QGROUP_VER, QGROUP_STEP, QGROUP_ACTION,
    QGROUP_ERROR, QGROUP_COUNT, QGROUP_OLDEST
};

/* No parameter. (def_name, count) of flagged non-terminal sagas: sagad's
 * saga_stuck gauge. */
extern const char saga_query_stuck_by_def[];

/* --- sagactl prune --------------------------------------------------------- */

/* Both take $1 the cutoff (epoch ms) and count terminal sagas finished
 * before it. _batch deletes up to SAGA_QUERY_PRUNE_BATCH of them with their
 * history (steps go by ON DELETE CASCADE) and returns how many; _count
 * deletes nothing. */
#define SAGA_QUERY_PRUNE_BATCH 1000
extern const char saga_query_prune_batch[];
extern const char saga_query_prune_count[];

/* --- sagactl list ----------------------------------------------------------- */

/* The filters of a page of sagas; zero means unset. */
typedef struct saga_query_list_filter {
    const char *statuses[SAGA_STATUS_COUNT]; /* canonical names (borrowed) */
    size_t n_status;
    char def[SAGA_SPEC_MAX_NAME + 1];
    int def_version;
    bool stuck;
    int64_t since_ms, older_ms; /* created at or after / before */
    char after_us[24];          /* cursor: created_at in microseconds */
    char after_id[SAGA_ID_LEN + 1];
    long limit;
    const char *tags_json;  /* {"k": "v", ...}: sagas with all these tags
                               (borrowed; NULL = any) */
    const char *input_json; /* an object the input must contain (nested
                               for dotted paths; borrowed; NULL = any) */
    char parent[SAGA_ID_LEN + 1]; /* sub-sagas of this saga (sagas_parent_idx) */
} saga_query_list_filter;

#define SAGA_QUERY_MAX_PARAMS 40

/* A statement assembled from filters, with its parameters (stored inside). */
typedef struct saga_query_built {
    char *sql; /* owned: saga_query_built_free */
    const char *params[SAGA_QUERY_MAX_PARAMS];
    char store[SAGA_QUERY_MAX_PARAMS][64];
    int n;
} saga_query_built;

/*
 * Builds the page query: up to limit + 1 sagas (the extra one says a next
 * page exists), newest first, keyset-paginated after the cursor. Columns
 * QLIST_*: CURRENT is a JSON array of the commands in flight
 * ({step, action, attempt, in_flight}) or NULL, CURSOR created_at in
 * microseconds, then the flow and the waiting columns. Returns 0 or SAGA_ENOMEM.
 */
int saga_query_list(const saga_query_list_filter *f, saga_query_built *q);
void saga_query_built_free(saga_query_built *q);
enum {
    QLIST_ID, QLIST_DEF, QLIST_VER, QLIST_STATUS,
    QLIST_CREATED, QLIST_PROGRESS, QLIST_FINISHED,
    QLIST_STUCK, QLIST_REASON, QLIST_ABORTED,
    QLIST_RESOLVED, QLIST_ATTEMPTS, QLIST_CURRENT,
    QLIST_CURSOR, QLIST_FLOW, QLIST_WAIT = QLIST_FLOW + QFLOW_N
};

#endif
