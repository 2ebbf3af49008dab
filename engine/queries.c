/*
 * queries.c - the text of the named queries (see queries.h for what each
 * takes and returns, and why they live here rather than in views).
 *
 * Each statement is shaped so PostgreSQL answers it from an index and
 * stops early: a saga by primary key, id prefixes as a primary-key range,
 * history by (saga_id, id) or its own primary key, stats through the
 * created_at and finished_at indexes, stuck and active counts through the
 * partial index of non-terminal sagas, list pages as one ordered index walk
 * per status (saga_query_list). Parameters always travel as parameters.
 */
#include "queries.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"

/* $n (epoch milliseconds) as a timestamptz. */
#define EPOCH_MS(n) "'epoch'::timestamptz + $" #n "::bigint * interval '1 millisecond'"
#define ACTIVE "('RUNNING', 'CONFIRMING', 'COMPENSATING')"
#define TERMINAL "('COMPLETED', 'COMPENSATED')"

/* The issue-13 columns of a saga, in the order of QFLOW_* (queries.h). */
#define FLOW_COLS                                                             \
    "s.tags::text, s.deadline_ms, " SAGA_QUERY_MS("s.deadline_at") ","        \
    " s.deadline_expired, " SAGA_QUERY_MS("s.start_at") ", s.parent_id,"     \
    " s.parent_step"

const char saga_query_saga[] =
    "SELECT s.id, s.def_name, s.def_version, s.status, s.input::text,"
    " s.idempotency_key, s.traceparent, " SAGA_QUERY_MS("s.created_at") ","
    " " SAGA_QUERY_MS("s.updated_at") ", " SAGA_QUERY_MS("s.progress_at") ","
    " " SAGA_QUERY_MS("s.finished_at") ", " SAGA_QUERY_MS("s.wake_at") ", s.stuck,"
    " s.stuck_reason, s.aborted, s.resolved, " FLOW_COLS ", " SAGA_QUERY_WAITING_COLS
    " FROM sagas s" SAGA_QUERY_WAITING_JOIN " WHERE s.id = $1";

const char saga_query_steps[] =
    "SELECT idx, name, status, action, attempt, failures,"
    " " SAGA_QUERY_MS("deadline_at") ", " SAGA_QUERY_MS("retry_at") ","
    " reserve_attempts, confirm_attempts, compensate_attempts,"
    " reserve_outcome, confirm_outcome, compensate_outcome, last_error,"
    " result::text, " SAGA_QUERY_MS("updated_at")
    " FROM saga_steps WHERE saga_id = $1 ORDER BY idx";

#define HISTORY_COLS(h)                                                       \
    h "id, " SAGA_QUERY_MS(h "at") ", " h "kind, " h "step, " h "action, "    \
    h "attempt, " h "outcome, " h "text, " h "actor"

const char saga_query_history[] =
    "SELECT * FROM (SELECT " HISTORY_COLS("") " FROM saga_history WHERE saga_id = $1"
    " ORDER BY id DESC LIMIT $2::bigint) h ORDER BY id";

const char saga_query_history_count[] =
    "SELECT count(*) FROM saga_history WHERE saga_id = $1";

const char saga_query_history_max[] = "SELECT coalesce(max(id), 0) FROM saga_history";

const char saga_query_history_after[] =
    "SELECT " HISTORY_COLS("h.") ", h.saga_id, s.def_name, s.def_version"
    " FROM saga_history h LEFT JOIN sagas s ON s.id = h.saga_id"
    " WHERE h.id > $1::bigint ORDER BY h.id"
    " LIMIT " SAGA_QUERY_STR(SAGA_QUERY_HISTORY_BATCH);

const char saga_query_id_range[] =
    "SELECT id::text FROM sagas WHERE id BETWEEN $1::uuid AND $2::uuid"
    " ORDER BY id LIMIT 6";

const char saga_query_id_near[] =
    "(SELECT id::text FROM sagas WHERE id >= $1::uuid ORDER BY id LIMIT 3)"
    " UNION ALL "
    "(SELECT id::text FROM sagas WHERE id < $1::uuid ORDER BY id DESC LIMIT 3)";

const char saga_query_saga_status[] = "SELECT status FROM sagas WHERE id = $1";

const char saga_query_stats_counts[] =
    "SELECT def_name, status, count(*) FROM sagas WHERE created_at >= " EPOCH_MS(1)
    " GROUP BY 1, 2 ORDER BY 1, 2";

const char saga_query_stats_durations[] =
    "SELECT def_name, count(*),"
    " percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP"
    "   (ORDER BY extract(epoch FROM finished_at - created_at) * 1000),"
    " (max(extract(epoch FROM finished_at - created_at)) * 1000)::bigint"
    " FROM sagas WHERE finished_at >= " EPOCH_MS(1)
    " GROUP BY ROLLUP (def_name) ORDER BY def_name NULLS LAST";

const char saga_query_stats_active[] =
    "SELECT count(*), count(*) FILTER (WHERE stuck) FROM sagas"
    " WHERE status IN " ACTIVE;

/* Buckets are numbered from the window start, so a bucket is the same span
 * of time whichever table its rows came from. */
#define BUCKET(col) "floor((extract(epoch FROM " col ") * 1000 - $1::bigint) / $2::bigint)::int"

const char saga_query_stats_series[] =
    "WITH s AS (SELECT " BUCKET("created_at") " AS k, count(*) AS started"
    "  FROM sagas WHERE created_at >= " EPOCH_MS(1) " GROUP BY 1),"
    " f AS (SELECT " BUCKET("finished_at") " AS k,"
    "  count(*) FILTER (WHERE status = 'COMPLETED') AS completed,"
    "  count(*) FILTER (WHERE status = 'COMPENSATED') AS compensated,"
    "  percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP"
    "   (ORDER BY extract(epoch FROM finished_at - created_at) * 1000) AS p"
    "  FROM sagas WHERE finished_at >= " EPOCH_MS(1) " GROUP BY 1)"
    " SELECT coalesce(s.k, f.k), coalesce(s.started, 0), coalesce(f.completed, 0),"
    " coalesce(f.compensated, 0), f.p FROM s FULL JOIN f ON f.k = s.k ORDER BY 1";

#define STUCK_FROM                                                            \
    " FROM sagas s"                                                           \
    " LEFT JOIN jsonb_to_recordset($1::jsonb) d(n text, v int, ms bigint)"   \
    "   ON d.n = s.def_name AND d.v = s.def_version" SAGA_QUERY_WAITING_JOIN  \
    " WHERE s.status IN " ACTIVE                                              \
    "   AND ($3::text IS NULL OR s.def_name = $3)"                            \
    "   AND ($4::int IS NULL OR s.def_version = $4)"                          \
    "   AND CASE WHEN $2::bigint IS NOT NULL"                                 \
    "     THEN s.progress_at < now() - $2::bigint * interval '1 millisecond'" \
    "     ELSE s.stuck OR (d.ms > 0 AND"                                      \
    "       s.progress_at < now() - d.ms * interval '1 millisecond') END"

const char saga_query_stuck_list[] =
    "SELECT s.id, s.def_name, s.def_version, s.status, "
    SAGA_QUERY_MS("s.created_at") ", " SAGA_QUERY_MS("s.progress_at") ","
    " s.stuck, s.stuck_reason, " FLOW_COLS ", " SAGA_QUERY_WAITING_COLS
    STUCK_FROM " ORDER BY s.progress_at, s.id LIMIT $5::int";

const char saga_query_stuck_groups[] =
    "SELECT s.def_name, s.def_version, w.step, w.action, w.last_error, count(*),"
    " " SAGA_QUERY_MS("min(s.progress_at)")
    STUCK_FROM
    " GROUP BY 1, 2, 3, 4, 5 ORDER BY count(*) DESC, 1, 2, 3";

const char saga_query_stuck_by_def[] =
    "SELECT def_name, count(*) FROM sagas WHERE stuck AND status IN " ACTIVE
    " GROUP BY def_name";

/* History has no foreign key (it is written on sagad's hot path,
 * schema/004), so the batch deletes it alongside. */
const char saga_query_prune_batch[] =
    "WITH d AS (DELETE FROM sagas WHERE id IN (SELECT id FROM sagas"
    "  WHERE finished_at < " EPOCH_MS(1) " AND status IN " TERMINAL
    "  LIMIT " SAGA_QUERY_STR(SAGA_QUERY_PRUNE_BATCH) ") RETURNING id),"
    " h AS (DELETE FROM saga_history WHERE saga_id IN (SELECT id FROM d))"
    "SELECT count(*) FROM d";

const char saga_query_prune_count[] =
    "SELECT count(*) FROM sagas WHERE finished_at < " EPOCH_MS(1)
    " AND status IN " TERMINAL;

/* --- list pages ------------------------------------------------------------- */

/* Adds a parameter (copied) and returns its placeholder number. */
static int param(saga_query_built *q, const char *v)
{
    snprintf(q->store[q->n], sizeof q->store[q->n], "%s", v);
    q->params[q->n] = q->store[q->n];
    return ++q->n;
}

/* Adds a borrowed parameter (too long for the store: tags, input) and
 * returns its placeholder number. */
static int param_ref(saga_query_built *q, const char *v)
{
    q->params[q->n] = v;
    return ++q->n;
}

/* Containment on the GIN (jsonb_path_ops) indexes of schema/005. */
static void where_keys(saga_buf *b, saga_query_built *q, const saga_query_list_filter *f)
{
    if (f->tags_json)
        saga_buf_printf(b, " AND tags @> $%d::jsonb", param_ref(q, f->tags_json));
    if (f->input_json)
        saga_buf_printf(b, " AND input @> $%d::jsonb", param_ref(q, f->input_json));
}

/* The WHERE conditions shared by every per-status walk. */
static void where(saga_buf *b, saga_query_built *q, const saga_query_list_filter *f,
                  const char *status)
{
    saga_buf_puts(b, " WHERE true");
    if (status)
        saga_buf_printf(b, " AND status = $%d", param(q, status));
    if (f->def[0])
        saga_buf_printf(b, " AND def_name = $%d", param(q, f->def));
    if (f->def_version) {
        char v[16];
        snprintf(v, sizeof v, "%d", f->def_version);
        saga_buf_printf(b, " AND def_version = $%d::int", param(q, v));
    }
    if (f->stuck)
        saga_buf_puts(b, " AND stuck");
    where_keys(b, q, f);
    if (f->parent[0])
        saga_buf_printf(b, " AND parent_id = $%d::uuid", param(q, f->parent));
    char n[24];
    if (f->since_ms) {
        snprintf(n, sizeof n, "%" PRId64, f->since_ms);
        saga_buf_printf(b, " AND created_at >= 'epoch'::timestamptz + $%d::bigint"
                           " * interval '1 millisecond'", param(q, n));
    }
    if (f->older_ms) {
        snprintf(n, sizeof n, "%" PRId64, f->older_ms);
        saga_buf_printf(b, " AND created_at < 'epoch'::timestamptz + $%d::bigint"
                           " * interval '1 millisecond'", param(q, n));
    }
    if (f->after_id[0]) {
        int a = param(q, f->after_us);
        int c = param(q, f->after_id);
        saga_buf_printf(b, " AND (created_at, id) < ('epoch'::timestamptz + $%d::bigint"
                           " * interval '1 microsecond', $%d::uuid)", a, c);
    }
}

/* Each filter shape has a plan that walks one index in order and stops
 * after limit rows: (created_at, id) for no filter, (status, created_at, id)
 * for one status, (def_name, created_at, id) for a definition, the partial
 * stuck index for stuck. Several statuses become one such walk per status,
 * merged: still limit rows per status at most, where "status = ANY(...)"
 * would sort every match. The cursor (created_at in microseconds, id) is
 * stable under concurrent inserts, unlike OFFSET. */
int saga_query_list(const saga_query_list_filter *f, saga_query_built *q)
{
    *q = (saga_query_built){0};
    saga_buf b = {0};
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", f->limit + 1);
    int l = param(q, lim);
    saga_buf_puts(&b, "WITH page AS (SELECT id, created_at FROM (");
    size_t walks = f->n_status ? f->n_status : 1;
    for (size_t i = 0; i < walks; i++) {
        if (i)
            saga_buf_puts(&b, " UNION ALL ");
        saga_buf_puts(&b, "(SELECT id, created_at FROM sagas");
        where(&b, q, f, f->n_status ? f->statuses[i] : NULL);
        saga_buf_printf(&b, " ORDER BY created_at DESC, id DESC LIMIT $%d::int)", l);
    }
    saga_buf_printf(&b, ") u ORDER BY created_at DESC, id DESC LIMIT $%d::int)", l);
    saga_buf_puts(&b,
        " SELECT s.id, s.def_name, s.def_version, s.status,"
        " " SAGA_QUERY_MS("s.created_at") ", " SAGA_QUERY_MS("s.progress_at") ","
        " " SAGA_QUERY_MS("s.finished_at") ", s.stuck, s.stuck_reason, s.aborted,"
        " s.resolved, c.attempts, c.current,"
        " (extract(epoch FROM s.created_at) * 1000000)::bigint, " FLOW_COLS ","
        " " SAGA_QUERY_WAITING_COLS
        " FROM page p JOIN sagas s ON s.id = p.id"
        " LEFT JOIN LATERAL (SELECT"
        "   sum(reserve_attempts + confirm_attempts + compensate_attempts) AS attempts,"
        "   json_agg(json_build_object('step', name, 'action', action,"
        "     'attempt', attempt, 'in_flight', deadline_at IS NOT NULL) ORDER BY idx)"
        "     FILTER (WHERE action IS NOT NULL) AS current"
        "   FROM saga_steps WHERE saga_id = s.id) c ON true" SAGA_QUERY_WAITING_JOIN
        " ORDER BY s.created_at DESC, s.id DESC");
    q->sql = saga_buf_take(&b);
    return q->sql ? 0 : SAGA_ENOMEM;
}

void saga_query_built_free(saga_query_built *q)
{
    free(q->sql);
    q->sql = NULL;
}
