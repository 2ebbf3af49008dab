/*
 * engine.c - the shell around the decision core (see engine.h).
 *
 * Events of a batch are grouped by saga: all sagas are locked and loaded in
 * one query, each event runs through saga_machine_apply against the
 * in-memory state, and the resulting commands are rendered from the spec's
 * templates at that moment (so a compensation can use the reserve's reply).
 * History rows record the event (reply received, operator action), every
 * note of the machine and every command sent, in that order, so the timeline
 * reads like what happened.
 */
#include "engine.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defs.h"
#include "engine_family.h"
#include "random.h"
#include "rowcache.h"
#include "saga.pb-c.h"
#include "template.h"
#include "topics.h"
#include "trace.h"

typedef struct def_entry {
    char name[SAGA_SPEC_MAX_NAME + 1];
    int version;
    bool latest;          /* the latest of its name when last asked */
    unsigned latest_turn; /* the turn that asked or checked that; 0 = none */
    unsigned hinted_turn; /* the turn that used it as latest unchecked */
    saga_spec *spec;
    struct def_entry *next;
} def_entry;

struct saga_engine {
    char *reply_topic;
    char signal_topic[256]; /* where a parent's orders to its sub-sagas go */
    PGconn *conn; /* during saga_engine_apply: the caller's connection */
    def_entry *defs;
    unsigned turn;
    bool checking;   /* saga_engine_defs_check deferred a statement */
    PGresult *check; /* its result, once read */
    saga_rowcache *cache;  /* NULL: every saga is read (sagactl) */
    int64_t writer;        /* this engine's id in sagas.writer; 0 without cache */
    saga_row *pending;     /* the last apply's rows, until saga_engine_settle */
    size_t n_pending;
    uint64_t hits, reads;  /* sagas found in the cache, read from PostgreSQL */
};

saga_engine *saga_engine_new(const char *reply_topic)
{
    saga_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->turn = 1;
    snprintf(e->signal_topic, sizeof e->signal_topic, "%s", SAGA_TOPIC_SIGNALS);
    e->reply_topic = strdup(reply_topic);
    if (!e->reply_topic) {
        free(e);
        return NULL;
    }
    return e;
}

void saga_engine_set_signal_topic(saga_engine *e, const char *topic)
{
    if (topic && *topic)
        snprintf(e->signal_topic, sizeof e->signal_topic, "%s", topic);
}

void saga_engine_free(saga_engine *e)
{
    if (!e)
        return;
    def_entry *d = e->defs;
    while (d) {
        def_entry *next = d->next;
        saga_spec_free(d->spec);
        free(d);
        d = next;
    }
    PQclear(e->check);
    saga_engine_settle(e, false);
    saga_rowcache_free(e->cache);
    free(e->reply_topic);
    free(e);
}

void saga_engine_turn(saga_engine *e)
{
    if (++e->turn == 0)
        e->turn = 1;
}

/* name@version, or name's latest: checked this turn, or also unchecked
 * when hint is set. */
static def_entry *cached(saga_engine *e, const char *name, int version, bool hint)
{
    for (def_entry *d = e->defs; d; d = d->next)
        if ((version ? d->version == version
                     : d->latest && (hint || d->latest_turn == e->turn)) &&
            strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

static void mark_latest(saga_engine *e, def_entry *latest)
{
    for (def_entry *d = e->defs; d; d = d->next)
        if (strcmp(d->name, latest->name) == 0)
            d->latest = d == latest;
    latest->latest_turn = e->turn;
}

/* Versions are immutable, so a cached name@version never goes stale.
 * Parsing and hashing a spec for every start was a sixth of sagad's CPU,
 * and asking for the latest number a round trip of every starting turn. */
static int engine_def(saga_engine *e, PGconn *conn, const char *name, int version, bool hint,
                      const saga_spec **out, saga_error *err)
{
    def_entry *d = cached(e, name, version, hint);
    if (d) {
        if (version == 0 && d->latest_turn != e->turn)
            d->hinted_turn = e->turn;
        *out = d->spec;
        return 0;
    }
    int want = version;
    if (want == 0) {
        int rc = saga_defs_latest(conn, name, &want, err);
        if (rc)
            return rc;
    }
    d = cached(e, name, want, false);
    if (!d) {
        saga_spec *spec = NULL;
        int rc = saga_defs_load(conn, name, want, &spec, err);
        if (rc)
            return rc;
        d = calloc(1, sizeof *d);
        if (!d) {
            saga_spec_free(spec);
            return saga_error_set(err, SAGA_ENOMEM, "out of memory");
        }
        snprintf(d->name, sizeof d->name, "%s", name);
        d->version = spec->version;
        d->spec = spec;
        d->next = e->defs;
        e->defs = d;
    }
    if (version == 0)
        mark_latest(e, d);
    *out = d->spec;
    return 0;
}

int saga_engine_def(saga_engine *e, PGconn *conn, const char *name,
                    int version, const saga_spec **out, saga_error *err)
{
    return engine_def(e, conn, name, version, false, out, err);
}

int saga_engine_def_hint(saga_engine *e, PGconn *conn, const char *name, int version,
                         const saga_spec **out, saga_error *err)
{
    return engine_def(e, conn, name, version, true, out, err);
}

/* Names used as latest unchecked this turn whose latest is another version
 * now (or none): one row each. */
static const char *CHECK_SQL =
    "SELECT c.n FROM jsonb_to_recordset($1::jsonb) AS c(n text, v integer)"
    " WHERE c.v IS DISTINCT FROM (SELECT max(version) FROM saga_definitions WHERE name = c.n)";

int saga_engine_defs_check(saga_engine *e, PGconn *conn, saga_error *err)
{
    PQclear(e->check);
    e->check = NULL;
    e->checking = false;
    json_t *used = json_array();
    if (!used)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    for (def_entry *d = e->defs; d; d = d->next)
        if (d->latest && d->hinted_turn == e->turn && d->latest_turn != e->turn)
            json_array_append_new(used, json_pack("{s:s, s:i}", "n", d->name, "v", d->version));
    int rc = 0;
    if (json_array_size(used)) {
        char *p = json_dumps(used, JSON_COMPACT);
        const char *params[1] = {p};
        rc = p ? saga_pg_defer(conn, CHECK_SQL, 1, params, &e->check, err)
               : saga_error_set(err, SAGA_ENOMEM, "out of memory");
        e->checking = rc == 0;
        free(p);
    }
    json_decref(used);
    return rc;
}

bool saga_engine_defs_stale(saga_engine *e)
{
    /* A check not read (or not run) confirmed nothing; a row names a
     * definition with a newer version. Either way every latest this turn
     * used unchecked is asked again. */
    bool stale = e->checking && (!e->check || PQresultStatus(e->check) != PGRES_TUPLES_OK ||
                                 PQntuples(e->check) > 0);
    for (def_entry *d = e->defs; d; d = d->next) {
        if (stale && d->hinted_turn == e->turn)
            d->latest = false;
        else if (d->latest && d->hinted_turn == e->turn)
            d->latest_turn = e->turn;
    }
    PQclear(e->check);
    e->check = NULL;
    e->checking = false;
    return stale;
}

void saga_msgs_clear(saga_msgs *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].topic);
        free(m->v[i].key);
        free(m->v[i].payload);
    }
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

int saga_msgs_push(saga_msgs *m, const char *topic, const char *key,
                     void *payload, size_t len, const char *tp)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        saga_msg *v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return SAGA_ENOMEM;
        m->v = v;
        m->cap = cap;
    }
    saga_msg *msg = &m->v[m->n];
    msg->topic = strdup(topic);
    msg->key = strdup(key);
    msg->payload = payload;
    msg->len = len;
    snprintf(msg->traceparent, sizeof msg->traceparent, "%s", tp);
    if (!msg->topic || !msg->key) {
        free(msg->topic);
        free(msg->key);
        return SAGA_ENOMEM;
    }
    m->n++;
    return 0;
}

static const saga_phase *phase_of(const saga_step_def *d, saga_action a)
{
    switch (a) {
    case SAGA_ACT_RESERVE: return &d->reserve;
    case SAGA_ACT_CONFIRM: return &d->confirm;
    case SAGA_ACT_COMPENSATE: return &d->compensate;
    default: return NULL;
    }
}

/* Renders, encodes and queues one command of row. */
static int queue_command(saga_engine *e, const saga_spec *spec, saga_row *row,
                         const saga_command *c, int64_t now_ms, saga_writes *w,
                         saga_msgs *msgs, saga_error *err)
{
    const saga_step_def *d = &spec->steps[c->step];
    if (d->kind == SAGA_STEP_SAGA) {
        engine_family_io io = {.e = e, .conn = e->conn, .reply_topic = e->reply_topic,
                               .signal_topic = e->signal_topic,
                               .w = w, .msgs = msgs, .now_ms = now_ms};
        return saga_engine_family_command(&io, spec, row, c, err);
    }
    const saga_phase *ph = phase_of(d, c->action);
    saga_template_ctx ctx = {
        .saga_id = row->id, .saga_name = spec->name, .input = row->input,
        .spec = spec, .results = (const json_t *const *)row->results};
    saga_error terr;
    json_t *payload = ph && ph->payload ? saga_template_render(ph->payload, &ctx, &terr)
                                        : json_object();
    char *text = NULL;
    if (!payload) {
        /* Validation makes this unreachable for stored specs; record it
         * rather than drop the command, and send an empty payload. */
        saga_writes_history(w, row->id, now_ms, "error", d->name,
                            saga_action_name(c->action), c->attempt, NULL,
                            terr.msg, NULL);
        payload = json_object();
    }
    text = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(payload);
    if (!text)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");

    char key[SAGA_ID_LEN + SAGA_SPEC_MAX_NAME + 2];
    snprintf(key, sizeof key, "%s/%s", row->id, d->name);
    char tp[SAGA_TRACEPARENT_SIZE];
    saga_trace_child(row->traceparent, tp);

    Saga__Command cmd = SAGA__COMMAND__INIT;
    cmd.saga_id = row->id;
    cmd.saga_name = (char *)spec->name;
    cmd.saga_version = spec->version;
    cmd.step = d->name;
    cmd.action = (Saga__Action)c->action;
    cmd.attempt = c->attempt;
    cmd.idempotency_key = key;
    cmd.payload.data = (uint8_t *)text;
    cmd.payload.len = strlen(text);
    cmd.deadline_ms = c->deadline_ms;
    cmd.reply_topic = e->reply_topic;
    cmd.traceparent = tp;
    cmd.command = ph && ph->command ? ph->command : "";
    size_t len = saga__command__get_packed_size(&cmd);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        free(text);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    saga__command__pack(&cmd, buf);
    free(text);

    saga_writes_outbox(w, d->topic, row->id, buf, len, tp, msgs == NULL);
    char note[160];
    snprintf(note, sizeof note, "sent to %s, deadline in %lld ms", d->topic,
             (long long)(c->deadline_ms - now_ms));
    saga_writes_history(w, row->id, now_ms, "command", d->name,
                        saga_action_name(c->action), c->attempt, NULL, note, NULL);
    if (msgs) {
        if (saga_msgs_push(msgs, d->topic, row->id, buf, len, tp)) {
            free(buf);
            return saga_error_set(err, SAGA_ENOMEM, "out of memory");
        }
    } else {
        free(buf);
    }
    return 0;
}

static const char *event_kind_text(const saga_engine_event *x)
{
    switch (x->ev.kind) {
    case SAGA_EV_RETRY: return "retry";
    case SAGA_EV_ABORT: return "abort";
    case SAGA_EV_RESOLVE: return "resolve";
    default: return NULL;
    }
}

/* Records what arrived, before the machine's notes about it. */
static void record_event(saga_writes *w, const saga_row *row,
                         const saga_engine_event *x)
{
    const saga_event *ev = &x->ev;
    if (saga_engine_signal_record(w, row, x))
        return;
    if (ev->kind == SAGA_EV_REPLY) {
        saga_writes_history(w, row->id, ev->now_ms, "reply", x->step_name,
                            saga_action_name(ev->action), ev->attempt,
                            saga_outcome_name(ev->outcome), ev->reason, NULL);
    } else if (event_kind_text(x)) {
        char text[SAGA_MACHINE_ERROR_MAX + 64];
        if (ev->kind == SAGA_EV_RESOLVE)
            snprintf(text, sizeof text, "resolve as %s: %s",
                     saga_status_name(ev->resolve_as),
                     ev->op_reason ? ev->op_reason : "");
        else if (ev->kind == SAGA_EV_RETRY)
            snprintf(text, sizeof text, "retry%s%s", x->step_name ? " step " : "",
                     x->step_name ? x->step_name : "");
        else
            snprintf(text, sizeof text, "abort: %s", ev->op_reason ? ev->op_reason : "");
        saga_writes_history(w, row->id, ev->now_ms, "request", x->step_name,
                            NULL, 0, NULL, text, x->actor);
    }
}

/*
 * Notes the timeline does not need, because another row of the same event
 * says it: "applied" repeats the reply row just written (a reply that is
 * not applied gets an "ignored" row instead; one applied for an earlier
 * attempt keeps its note, which says which attempt was pending), and a plain step transition
 * into a phase ("RESERVED -> CONFIRMING") repeats the command row of that
 * step. History is the largest write per saga, so this matters for
 * throughput; transitions with a reason are always kept.
 */
static bool redundant(const saga_note *nt, const saga_effects *fx)
{
    if (nt->kind == SAGA_NOTE_REPLY_APPLIED)
        return !fx->reply_earlier;
    if (nt->kind != SAGA_NOTE_STEP || strchr(nt->text, ':'))
        return false;
    for (size_t i = 0; i < fx->n_cmds; i++)
        if (fx->cmds[i].step == nt->step)
            return true;
    return false;
}

static int apply_one(saga_engine *e, const saga_spec *spec, saga_row *row,
                     saga_engine_event *x, saga_writes *w, saga_msgs *msgs,
                     saga_error *err)
{
    saga_event *ev = &x->ev;
    ev->step = -1;
    if (x->step_name) {
        ev->step = saga_spec_step_index(spec, x->step_name);
        if (ev->step < 0) {
            x->rc = saga_error_set(&x->err, SAGA_ENOTFOUND,
                                   "saga %s (%s@%d) has no step \"%s\"", row->id,
                                   spec->name, spec->version, x->step_name);
            saga_writes_history(w, row->id, ev->now_ms, "ignored", x->step_name,
                                saga_action_name(ev->action), ev->attempt,
                                saga_outcome_name(ev->outcome), x->err.msg, x->actor);
            return 0;
        }
    }
    x->status_before = row->st.status;
    x->step_seconds = -1;
    /* When the command in flight was sent, for the dispatch-to-reply time;
     * a reply to an earlier attempt has no send time left to measure from. */
    int64_t sent_ms = 0;
    if (ev->kind == SAGA_EV_REPLY && ev->step >= 0) {
        const saga_step_state *s = &row->st.steps[ev->step];
        if (s->deadline_ms)
            sent_ms = s->deadline_ms - saga_machine_timeout(&spec->steps[ev->step], s->attempt);
    }
    saga_effects fx;
    int rc = saga_engine_family_check(e->conn, row, x, err);
    if (rc)
        return rc;
    rc = saga_machine_apply(spec, &row->st, ev, &fx, &x->err);
    if (rc) {
        x->rc = rc;
        saga_engine_signal_refused(w, row, x);
        return 0;
    }
    record_event(w, row, x);
    if (fx.reply_applied && !fx.reply_earlier && sent_ms)
        x->step_seconds = (double)(ev->now_ms - sent_ms) / 1000.0;
    if (ev->kind == SAGA_EV_REPLY && fx.reply_applied && ev->action == SAGA_ACT_RESERVE &&
        ev->outcome == SAGA_OUT_OK && x->payload) {
        json_decref(row->results[ev->step]);
        row->results[ev->step] = json_deep_copy(x->payload);
        row->result_dirty[ev->step] = true;
    }
    saga_engine_signal_result(row, x, &fx);
    for (size_t i = 0; i < fx.n_notes; i++) {
        const saga_note *nt = &fx.notes[i];
        if (redundant(nt, &fx))
            continue;
        const char *step = nt->step >= 0 && (size_t)nt->step < spec->n_steps
                               ? spec->steps[nt->step].name
                               : NULL;
        saga_writes_history(w, row->id, ev->now_ms, saga_note_kind_name(nt->kind), step,
                            nt->action ? saga_action_name(nt->action) : NULL,
                            nt->attempt,
                            nt->outcome ? saga_outcome_name(nt->outcome) : NULL,
                            nt->text,
                            nt->kind == SAGA_NOTE_OPERATOR ? x->actor : NULL);
    }
    for (size_t i = 0; i < fx.n_cmds; i++) {
        rc = queue_command(e, spec, row, &fx.cmds[i], ev->now_ms, w, msgs, err);
        if (rc)
            return rc;
    }
    engine_family_io io = {.e = e, .conn = e->conn, .reply_topic = e->reply_topic,
                           .signal_topic = e->signal_topic,
                           .w = w, .msgs = msgs, .now_ms = ev->now_ms};
    if ((rc = saga_engine_family_report(&io, row, &fx, err)))
        return rc;
    x->status_after = row->st.status;
    x->applied = fx.changed;
    x->started = fx.started;
    x->deadline_expired = fx.deadline_expired;
    x->spec = spec;
    x->n_circuit = fx.n_circuit;
    memcpy(x->circuit, fx.circuit, fx.n_circuit * sizeof *fx.circuit);
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    return strcmp((*(saga_row *const *)a)->id, (*(saga_row *const *)b)->id);
}

static int id_cmp(const void *key, const void *elem)
{
    return strcmp(key, (*(saga_row *const *)elem)->id);
}

/* The attempt counter of action in s. */
static int *attempts_of(saga_step_state *s, saga_action action)
{
    return action == SAGA_ACT_RESERVE ? &s->reserve_attempts
         : action == SAGA_ACT_CONFIRM ? &s->confirm_attempts
                                      : &s->compensate_attempts;
}

static int resend_row(saga_engine *e, PGconn *conn, saga_row *row, const char *step,
                      saga_action action, const char *actor, const char *why,
                      saga_writes *w, saga_error *err)
{
    if (!saga_status_terminal(row->st.status))
        return saga_error_set(err, SAGA_ECONFLICT, "saga %s is %s, not finished", row->id,
                              saga_status_name(row->st.status));
    const saga_spec *spec = NULL;
    int rc = saga_engine_def(e, conn, row->def_name, row->def_version, &spec, err);
    if (rc)
        return rc;
    int i = saga_spec_step_index(spec, step);
    if (i < 0)
        return saga_error_set(err, SAGA_ENOTFOUND, "saga %s (%s@%d) has no step \"%s\"",
                              row->id, spec->name, spec->version, step);
    int64_t now = saga_now_ms();
    int *n = attempts_of(&row->st.steps[i], action);
    saga_command c = {.step = i, .action = action, .attempt = ++*n};
    c.deadline_ms = now + saga_machine_timeout(&spec->steps[i], c.attempt);
    char text[SAGA_MACHINE_ERROR_MAX + 64];
    snprintf(text, sizeof text, "repair: send %s (%s)", saga_action_name(action),
             why ? why : "");
    saga_writes_history(w, row->id, now, "operator", step, saga_action_name(action),
                        c.attempt, NULL, text, actor);
    rc = queue_command(e, spec, row, &c, now, w, NULL, err);
    if (rc == 0)
        saga_writes_row(w, row, e->writer);
    return rc;
}

int saga_engine_resend(saga_engine *e, PGconn *conn, const char *saga_id, const char *step,
                       saga_action action, const char *actor, const char *why,
                       saga_writes *w, saga_error *err)
{
    saga_row *rows = NULL;
    size_t n = 0;
    int rc = saga_store_load(conn, &saga_id, 1, &rows, &n, err);
    if (rc == 0 && n == 0)
        rc = saga_error_set(err, SAGA_ENOTFOUND, "no saga %s", saga_id);
    if (rc == 0)
        rc = resend_row(e, conn, &rows[0], step, action, actor, why, w, err);
    for (size_t j = 0; j < n; j++)
        saga_row_clear(&rows[j]);
    free(rows);
    return rc;
}

int saga_engine_set_cache(saga_engine *e, size_t n)
{
    saga_rowcache_free(e->cache);
    e->cache = NULL;
    e->writer = 0;
    if (n && !(e->cache = saga_rowcache_new(n)))
        return SAGA_ENOMEM;
    /* Random, so a restarted sagad never takes its predecessor's rows for
     * its own; positive, so it cannot be 0 (NULL). */
    while (n && e->writer <= 0) {
        uint64_t v;
        saga_random_bytes(&v, sizeof v);
        e->writer = (int64_t)(v >> 1);
    }
    return 0;
}

int64_t saga_engine_writer(const saga_engine *e)
{
    return e->writer;
}

void saga_engine_remember_new(saga_engine *e, const saga_new *s)
{
    if (!e->cache)
        return;
    saga_row *row = calloc(1, sizeof *row);
    if (!row)
        return; /* its turn reads it */
    snprintf(row->id, sizeof row->id, "%s", s->id);
    snprintf(row->def_name, sizeof row->def_name, "%s", s->spec->name);
    row->def_version = s->spec->version;
    snprintf(row->traceparent, sizeof row->traceparent, "%s", s->traceparent);
    row->input = json_deep_copy(s->input);
    saga_machine_init_opts(s->spec, &row->st, s->now_ms, &s->opts);
    row->loaded = row->st;
    row->writer = s->writer;
    if (row->input)
        saga_rowcache_put(e->cache, row);
    saga_row_clear(row);
    free(row);
}

size_t saga_engine_cached(const saga_engine *e)
{
    return e->cache ? saga_rowcache_count(e->cache) : 0;
}

void saga_engine_cache_stats(const saga_engine *e, uint64_t *hits, uint64_t *reads)
{
    *hits = e->hits;
    *reads = e->reads;
}

void saga_engine_settle(saga_engine *e, bool committed)
{
    for (size_t j = 0; j < e->n_pending; j++) {
        saga_row *row = &e->pending[j];
        if (e->cache && committed && !saga_status_terminal(row->st.status)) {
            row->writer = e->writer; /* what the write left */
            saga_rowcache_put(e->cache, row);
        } else if (e->cache) {
            saga_rowcache_drop(e->cache, row->id);
        }
        saga_row_clear(row);
    }
    free(e->pending);
    e->pending = NULL;
    e->n_pending = 0;
}

/* id as stored (uuids compare as lower-case text) in key; false when id is
 * longer than a uuid, which no saga has. */
static bool id_key(const char *id, char key[SAGA_ID_LEN + 1])
{
    size_t k = 0;
    for (; id[k] && k < SAGA_ID_LEN; k++)
        key[k] = (char)tolower((unsigned char)id[k]);
    key[k] = '\0';
    return !id[k];
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rows for the events' sagas (each once): the remembered ones from the
 * cache, the others read; all locked (store.h). */
static int rows_for(saga_engine *e, PGconn *conn, const saga_engine_event *evs, size_t n,
                    saga_row **rows, size_t *n_rows, saga_error *err)
{
    if (!e->cache) {
        const char **ids = malloc(n * sizeof *ids);
        if (!ids)
            return saga_error_set(err, SAGA_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            ids[i] = evs[i].saga_id;
        int rc = saga_store_load(conn, ids, n, rows, n_rows, err);
        free(ids);
        return rc;
    }
    char (*keys)[SAGA_ID_LEN + 1] = malloc(n * sizeof *keys);
    const char **ids = malloc(n * sizeof *ids), **miss = malloc(n * sizeof *miss);
    saga_row *out = calloc(n, sizeof *out);
    if (!keys || !ids || !miss || !out) {
        free(keys);
        free(ids);
        free(miss);
        free(out);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        id_key(evs[i].saga_id, keys[i]);
        ids[i] = keys[i];
    }
    qsort(ids, n, sizeof *ids, str_cmp);
    size_t n_ids = 0, n_miss = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (n_ids && strcmp(ids[n_ids - 1], ids[i]) == 0)
            continue;
        ids[n_ids++] = ids[i];
        if (saga_rowcache_get(e->cache, ids[i], &out[k]))
            k++;
        else
            miss[n_miss++] = ids[i];
    }
    saga_row *read = NULL;
    size_t n_read = 0;
    int rc = saga_store_lock_load(conn, ids, n_ids, miss, n_miss, &read, &n_read, err);
    e->hits += k;
    e->reads += n_miss;
    for (size_t j = 0; j < n_read; j++)
        out[k++] = read[j];
    free(read);
    free(keys);
    free(ids);
    free(miss);
    if (rc) {
        for (size_t j = 0; j < k; j++)
            saga_row_clear(&out[j]);
        free(out);
        return rc;
    }
    *rows = out;
    *n_rows = k;
    return 0;
}

int saga_engine_apply(saga_engine *e, PGconn *conn, saga_engine_event *evs,
                      size_t n, saga_writes *w, saga_msgs *msgs,
                      saga_error *err)
{
    saga_engine_settle(e, false);
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        evs[i].rc = 0;
        saga_error_clear(&evs[i].err);
        evs[i].applied = false;
        evs[i].started = false;
        evs[i].deadline_expired = false;
        evs[i].spec = NULL;
        evs[i].n_circuit = 0;
        evs[i].def_name[0] = '\0';
        evs[i].traceparent[0] = '\0';
    }
    saga_row *rows = NULL;
    size_t n_rows = 0;
    e->conn = conn;
    int rc = rows_for(e, conn, evs, n, &rows, &n_rows, err);
    if (rc)
        return rc;
    /* A full turn matches hundreds of events to hundreds of rows: sort
     * pointers once (rows are large), then binary search; ids compare as
     * lower-case text, as stored. */
    saga_row **by_id = malloc((n_rows ? n_rows : 1) * sizeof *by_id);
    if (!by_id)
        rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
    for (size_t j = 0; by_id && j < n_rows; j++)
        by_id[j] = &rows[j];
    if (by_id)
        qsort(by_id, n_rows, sizeof *by_id, row_cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        saga_engine_event *x = &evs[i];
        char key[SAGA_ID_LEN + 1];
        saga_row **hit = NULL;
        if (id_key(x->saga_id, key))
            hit = bsearch(key, by_id, n_rows, sizeof *by_id, id_cmp);
        saga_row *row = hit ? *hit : NULL;
        if (!row) {
            x->rc = saga_error_set(&x->err, SAGA_ENOTFOUND, "no saga %s", x->saga_id);
            continue;
        }
        const saga_spec *spec = NULL;
        rc = saga_engine_def(e, conn, row->def_name, row->def_version, &spec, err);
        if (rc)
            break;
        snprintf(x->def_name, sizeof x->def_name, "%s", row->def_name);
        snprintf(x->traceparent, sizeof x->traceparent, "%s", row->traceparent);
        rc = apply_one(e, spec, row, x, w, msgs, err);
    }
    if (rc == 0)
        for (size_t j = 0; j < n_rows; j++)
            saga_writes_row(w, &rows[j], e->writer);
    free(by_id);
    /* Kept until the caller knows whether the write committed. */
    e->pending = rows;
    e->n_pending = n_rows;
    if (rc || !e->cache)
        saga_engine_settle(e, false);
    return rc;
}
