/*
 * circuits.c - circuit breakers per participant (see circuits.h): the copy a
 * turn reads, what a turn records, and the tick that decides.
 *
 * The turn's part only appends rows and never reads a breaker row, so
 * failures observed by many turns at once (the moment a participant goes
 * down) do not queue on one lock. Every decision is taken by a tick
 * holding the breaker rows FOR UPDATE, in participant order, so two sagad
 * processes ticking together take turns and the second sees what the
 * first decided. Waking held sagas is a sweep the tick repeats: a saga a
 * turn held after the breaker closed (its copy was stale) is woken by the
 * next tick, so no wake-up can be lost to a race between the two.
 */
#include "circuits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "pg.h"
#include "start.h"

struct saga_circuits {
    saga_circuit_policy defaults;
    saga_circuit_entry *v;
    size_t n;
    const char **open; /* participants not CLOSED, into v */
    size_t n_open;
    const char **views; /* per-event lists for probe sagas */
    size_t cap_views;
};

saga_circuits *saga_circuits_new(const saga_circuit_policy *defaults)
{
    saga_circuits *cs = calloc(1, sizeof *cs);
    if (cs)
        cs->defaults = *defaults;
    return cs;
}

void saga_circuits_free(saga_circuits *cs)
{
    if (!cs)
        return;
    free(cs->v);
    free(cs->open);
    free(cs->views);
    free(cs);
}

size_t saga_circuits_count(const saga_circuits *cs)
{
    return cs->n;
}

const saga_circuit_entry *saga_circuits_at(const saga_circuits *cs, size_t i)
{
    return &cs->v[i];
}

static const saga_circuit_entry *find(const saga_circuits *cs, const char *participant)
{
    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(cs->v[i].participant, participant) == 0)
            return &cs->v[i];
    return NULL;
}

/* --- the turn ------------------------------------------------------------- */

void saga_circuits_gate(saga_circuits *cs, saga_engine_event *evs, size_t n)
{
    size_t probes = 0;
    for (size_t i = 0; i < n; i++) {
        evs[i].ev.circuit_open = cs->open;
        evs[i].ev.n_circuit_open = cs->n_open;
        for (size_t k = 0; k < cs->n; k++)
            probes += cs->v[k].state == SAGA_CIRCUIT_HALF_OPEN &&
                      strcasecmp(cs->v[k].probe, evs[i].saga_id) == 0;
    }
    if (probes == 0)
        return;
    /* The probe saga sees its breaker closed; rare, so a list per probe. */
    size_t need = probes * (cs->n_open ? cs->n_open : 1);
    if (need > cs->cap_views) {
        const char **v = realloc(cs->views, need * sizeof *v);
        if (!v)
            return; /* every saga stays held; the probe goes out next tick */
        cs->views = v;
        cs->cap_views = need;
    }
    const char **next = cs->views;
    for (size_t i = 0; i < n; i++) {
        const char **mine = next;
        size_t m = 0;
        bool probe = false;
        for (size_t k = 0; k < cs->n; k++) {
            const saga_circuit_entry *c = &cs->v[k];
            if (c->state == SAGA_CIRCUIT_CLOSED)
                continue;
            if (c->state == SAGA_CIRCUIT_HALF_OPEN && strcasecmp(c->probe, evs[i].saga_id) == 0)
                probe = true;
            else
                mine[m++] = c->participant;
        }
        if (!probe)
            continue;
        evs[i].ev.circuit_open = mine;
        evs[i].ev.n_circuit_open = m;
        next += cs->n_open ? cs->n_open : 1;
    }
}

/* The step's policy with sagad's defaults where the spec left it unset. */
static saga_circuit_policy policy_of(const saga_circuits *cs, const saga_step_def *d)
{
    saga_circuit_policy p = d->circuit;
    if (!p.failures)
        p.failures = cs->defaults.failures;
    if (!p.window_ms)
        p.window_ms = cs->defaults.window_ms;
    if (!p.cooldown_ms)
        p.cooldown_ms = cs->defaults.cooldown_ms;
    return p;
}

/* Adds n to the event record of (participant, ok, policy) in arr. */
static void count_event(json_t *arr, const char *participant, bool ok,
                        const saga_circuit_policy *p)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "p")), participant) == 0 &&
            json_is_true(json_object_get(e, "ok")) == ok &&
            json_integer_value(json_object_get(e, "t")) == p->failures &&
            json_integer_value(json_object_get(e, "w")) == p->window_ms &&
            json_integer_value(json_object_get(e, "c")) == p->cooldown_ms) {
            json_object_set_new(e, "n", json_integer(json_integer_value(json_object_get(e, "n")) + 1));
            return;
        }
    }
    json_array_append_new(arr, json_pack("{s:s, s:b, s:i, s:i, s:I, s:I}", "p", participant,
                                         "ok", ok, "n", 1, "t", p->failures, "w",
                                         (json_int_t)p->window_ms, "c",
                                         (json_int_t)p->cooldown_ms));
}

/* What one event observed, into the three record sets. */
static void collect(const saga_circuits *cs, const saga_engine_event *x, json_t *events,
                    json_t *held, json_t *released)
{
    for (size_t k = 0; k < x->n_circuit; k++) {
        const saga_circuit_obs *o = &x->circuit[k];
        const saga_step_def *d = &x->spec->steps[o->step];
        saga_circuit_policy p = policy_of(cs, d);
        bool tracked = find(cs, d->participant) != NULL &&
                       find(cs, d->participant)->state != SAGA_CIRCUIT_CLOSED;
        if (o->kind == SAGA_CIRCUIT_FAILURE && p.failures > 0)
            count_event(events, d->participant, false, &p);
        else if (o->kind == SAGA_CIRCUIT_SUCCESS && tracked)
            count_event(events, d->participant, true, &p);
        else if (o->kind == SAGA_CIRCUIT_HELD)
            json_array_append_new(held, json_pack("{s:s, s:s}", "p", d->participant, "s",
                                                  x->saga_id));
        else if (o->kind == SAGA_CIRCUIT_SENT && tracked)
            json_array_append_new(released, json_pack("{s:s, s:s}", "p", d->participant,
                                                      "s", x->saga_id));
    }
}

static const char *RECORD_SQL =
    "WITH ev AS ("
    "  INSERT INTO saga_circuit_events (participant, ok, n, threshold, window_ms, cooldown_ms)"
    "  SELECT u.p, u.ok, u.n, u.t, u.w, u.c"
    "  FROM jsonb_to_recordset($1::jsonb) AS u(p text, ok boolean, n integer, t integer,"
    "    w bigint, c bigint)),"
    " h AS ("
    "  INSERT INTO saga_circuit_waits (participant, saga_id)"
    "  SELECT u.p, u.s FROM jsonb_to_recordset($2::jsonb) AS u(p text, s uuid)"
    "  ON CONFLICT DO NOTHING),"
    " r AS ("
    "  DELETE FROM saga_circuit_waits w USING jsonb_to_recordset($3::jsonb) AS u(p text, s uuid)"
    "  WHERE w.participant = u.p AND w.saga_id = u.s)"
    "SELECT 1";

int saga_circuits_defer(saga_circuits *cs, PGconn *conn, const saga_engine_event *evs,
                        size_t n, saga_error *err)
{
    json_t *sets[3] = {json_array(), json_array(), json_array()};
    for (size_t i = 0; i < n; i++)
        if (evs[i].rc == 0 && evs[i].spec && evs[i].n_circuit)
            collect(cs, &evs[i], sets[0], sets[1], sets[2]);
    int rc = 0;
    if (json_array_size(sets[0]) || json_array_size(sets[1]) || json_array_size(sets[2])) {
        char *p[3];
        for (int k = 0; k < 3; k++)
            p[k] = json_dumps(sets[k], JSON_COMPACT);
        if (!p[0] || !p[1] || !p[2])
            rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
        else
            rc = saga_pg_defer(conn, RECORD_SQL, 3, (const char *const *)p, NULL, err);
        for (int k = 0; k < 3; k++)
            free(p[k]);
    }
    for (int k = 0; k < 3; k++)
        json_decref(sets[k]);
    return rc;
}

/* --- the tick ------------------------------------------------------------- */

/* Breakers for every participant that failed, with the policy of its
 * latest failure: the spec that saw it fail says how much is too much. */
static const char *ADOPT_SQL =
    "INSERT INTO saga_circuits (participant, threshold, window_ms, cooldown_ms)"
    " SELECT DISTINCT ON (participant) participant, threshold, window_ms, cooldown_ms"
    " FROM saga_circuit_events WHERE NOT ok ORDER BY participant, id DESC"
    " ON CONFLICT (participant) DO UPDATE SET threshold = excluded.threshold,"
    "   window_ms = excluded.window_ms, cooldown_ms = excluded.cooldown_ms"
    " WHERE (saga_circuits.threshold, saga_circuits.window_ms, saga_circuits.cooldown_ms)"
    "   IS DISTINCT FROM (excluded.threshold, excluded.window_ms, excluded.cooldown_ms)";

enum { L_PART, L_STATE, L_SINCE, L_THRESHOLD, L_WINDOW, L_COOLDOWN, L_PROBE, L_FAILURES,
       L_ANSWERED, L_WAITING, L_OLDEST, L_NOW };

static const char *LOAD_SQL =
    "SELECT c.participant, c.state, (extract(epoch FROM c.since) * 1000)::bigint,"
    "  c.threshold, c.window_ms, c.cooldown_ms, coalesce(c.probe_saga::text, ''),"
    "  (SELECT coalesce(sum(e.n), 0) FROM saga_circuit_events e"
    "    WHERE e.participant = c.participant AND NOT e.ok AND e.at >= c.since"
    "      AND e.at >= now() - c.window_ms * interval '1 millisecond'),"
    "  EXISTS (SELECT 1 FROM saga_circuit_events e"
    "    WHERE e.participant = c.participant AND e.ok AND e.at >= c.since),"
    "  (SELECT count(*) FROM saga_circuit_waits w WHERE w.participant = c.participant),"
    "  coalesce((SELECT w.saga_id::text FROM saga_circuit_waits w"
    "    WHERE w.participant = c.participant ORDER BY w.since, w.saga_id LIMIT 1), ''),"
    "  (extract(epoch FROM now()) * 1000)::bigint"
    " FROM saga_circuits c ORDER BY c.participant FOR UPDATE OF c";

static const char *CHANGE_SQL =
    "WITH c AS ("
    "  UPDATE saga_circuits SET state = $2, since = now(), reason = $3,"
    "    probe_saga = nullif($4, '')::uuid, transitions = transitions + 1"
    "  WHERE participant = $1)"
    " INSERT INTO saga_history (saga_id, at, kind, text)"
    " SELECT saga_id, now(), 'circuit', $1 || ' circuit ' || $2 || ': ' || $3"
    " FROM saga_circuit_waits WHERE participant = $1";

static const char *PROBE_SQL =
    "UPDATE saga_circuits SET probe_saga = $2::uuid WHERE participant = $1";

/* Wakes the sagas a breaker lets go (all of a CLOSED one, the probe of a
 * HALF_OPEN one), skipping sagas a turn holds (the next tick gets them),
 * and forgets holds of sagas that no longer reserve; then drops events no
 * count can use any more. */
static const char *SWEEP_SQL =
    "WITH due AS ("
    "  SELECT w.saga_id, w.participant, c.state FROM saga_circuit_waits w"
    "  JOIN saga_circuits c USING (participant)"
    "  WHERE c.state = 'CLOSED' OR (c.state = 'HALF_OPEN' AND c.probe_saga = w.saga_id)),"
    " lk AS (SELECT s.id FROM sagas s WHERE s.id IN (SELECT saga_id FROM due)"
    "  AND s.status = 'RUNNING' FOR UPDATE SKIP LOCKED),"
    " woke AS (UPDATE sagas s SET wake_at = now(), writer = NULL"
    "  FROM lk WHERE s.id = lk.id RETURNING s.id),"
    " gone AS (DELETE FROM saga_circuit_waits w USING due"
    "  WHERE w.saga_id = due.saga_id AND w.participant = due.participant"
    "    AND due.state = 'CLOSED' AND w.saga_id IN (SELECT id FROM woke)),"
    " dead AS (DELETE FROM saga_circuit_waits w USING sagas s"
    "  WHERE s.id = w.saga_id AND s.status <> 'RUNNING'),"
    " old AS (DELETE FROM saga_circuit_events e USING saga_circuits c"
    "  WHERE e.participant = c.participant AND (e.at < c.since"
    "    OR e.at < now() - c.window_ms * interval '1 millisecond'))"
    "SELECT count(*) FROM woke";

/* Decides row i of the loaded breakers into e; changes are written. */
static int decide(saga_circuits *cs, PGconn *conn, PGresult *r, int i, saga_circuit_entry *e,
                  saga_circuit_report_fn report, void *user, saga_error *err)
{
    (void)cs;
    saga_circuit c = {0};
    snprintf(e->participant, sizeof e->participant, "%s", PQgetvalue(r, i, L_PART));
    saga_circuit_state_parse(PQgetvalue(r, i, L_STATE), &c.state);
    c.since_ms = atoll(PQgetvalue(r, i, L_SINCE));
    c.threshold = atoi(PQgetvalue(r, i, L_THRESHOLD));
    c.window_ms = atoll(PQgetvalue(r, i, L_WINDOW));
    c.cooldown_ms = atoll(PQgetvalue(r, i, L_COOLDOWN));
    c.failures = atoi(PQgetvalue(r, i, L_FAILURES));
    c.answered = PQgetvalue(r, i, L_ANSWERED)[0] == 't';
    int64_t now = atoll(PQgetvalue(r, i, L_NOW));
    const char *oldest = PQgetvalue(r, i, L_OLDEST);
    snprintf(e->probe, sizeof e->probe, "%s", PQgetvalue(r, i, L_PROBE));
    e->waiting = atol(PQgetvalue(r, i, L_WAITING));
    c.waiting = e->waiting > 0 || e->probe[0];
    e->state = c.state;
    e->since_ms = c.since_ms;

    char why[SAGA_CIRCUIT_WHY_MAX];
    saga_circuit_state to = saga_circuit_next(&c, now, why, sizeof why);
    if (to == c.state) {
        if (c.state != SAGA_CIRCUIT_HALF_OPEN || e->probe[0] || !oldest[0])
            return 0;
        snprintf(e->probe, sizeof e->probe, "%s", oldest);
        const char *pp[2] = {e->participant, oldest};
        PGresult *u = saga_pg_query(conn, PROBE_SQL, 2, pp, 0);
        int rc = saga_pg_result_ok(u, conn, "circuit probe", err);
        PQclear(u);
        return rc;
    }
    snprintf(e->probe, sizeof e->probe, "%s", to == SAGA_CIRCUIT_HALF_OPEN ? oldest : "");
    const char *p[4] = {e->participant, saga_circuit_state_name(to), why, e->probe};
    PGresult *u = saga_pg_query(conn, CHANGE_SQL, 4, p, 0);
    int rc = saga_pg_result_ok(u, conn, "circuit transition", err);
    PQclear(u);
    if (rc == 0 && report)
        report(user, e->participant, c.state, to, why);
    e->state = to;
    e->since_ms = now;
    return rc;
}

/* Replaces the copy by v (taken). */
static void adopt(saga_circuits *cs, saga_circuit_entry *v, size_t n)
{
    const char **open = calloc(n ? n : 1, sizeof *open);
    if (!open) {
        free(v);
        return; /* the old copy stays: at worst one tick more of it */
    }
    free(cs->v);
    free(cs->open);
    cs->v = v;
    cs->n = n;
    cs->open = open;
    cs->n_open = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].state != SAGA_CIRCUIT_CLOSED)
            open[cs->n_open++] = v[i].participant;
}

static int tick_in_tx(saga_circuits *cs, PGconn *conn, saga_circuit_report_fn report,
                      void *user, bool *woke, saga_error *err)
{
    int rc = saga_pg_exec(conn, ADOPT_SQL, err);
    if (rc)
        return rc;
    PGresult *r = saga_pg_query(conn, LOAD_SQL, 0, NULL, 0);
    rc = saga_pg_result_ok(r, conn, "load circuits", err);
    int n = rc == 0 ? PQntuples(r) : 0;
    saga_circuit_entry *v = calloc(n ? (size_t)n : 1, sizeof *v);
    if (rc == 0 && !v)
        rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
    for (int i = 0; i < n && rc == 0; i++)
        rc = decide(cs, conn, r, i, &v[i], report, user, err);
    PQclear(r);
    if (rc == 0) {
        PGresult *s = saga_pg_query(conn, SWEEP_SQL, 0, NULL, 0);
        rc = saga_pg_result_ok(s, conn, "wake held sagas", err);
        *woke = rc == 0 && atol(PQgetvalue(s, 0, 0)) > 0;
        PQclear(s);
    }
    if (rc == 0 && *woke)
        rc = saga_store_notify(conn, SAGA_CHANNEL_WAKE, err);
    if (rc == 0)
        rc = saga_pg_commit(conn, err);
    if (rc == 0)
        adopt(cs, v, (size_t)n);
    else
        free(v);
    return rc;
}

int saga_circuits_tick(saga_circuits *cs, PGconn *conn, saga_circuit_report_fn report,
                       void *user, bool *woke, saga_error *err)
{
    *woke = false;
    int rc = saga_pg_begin(conn, err);
    if (rc == 0)
        rc = tick_in_tx(cs, conn, report, user, woke, err);
    if (rc)
        saga_pg_rollback(conn);
    return rc;
}
