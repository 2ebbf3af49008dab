/*
 * reconcile.c - `sagactl reconcile`: the saga log against the participants'
 * own records, mismatch by mismatch.
 *
 * Reporting and repairing are separate on purpose: without --repair nothing
 * is changed anywhere (a QUERY has no side effect), and with it each repair
 * is its own transaction through the engine (saga_engine_resend: row lock,
 * outbox, history row with the actor), so a failure stops at one saga and
 * the audit trail shows exactly what was sent. The exit status reports what
 * was found, repaired or not: a repair is a command queued, and only a later
 * run can say the participant carried it out.
 */
#include <stdlib.h>
#include <string.h>

#include "outbox.h"
#include "reconcile.h"
#include "sagactl.h"

static const char *const ACTION_WORDS[] = {"", "reserve", "confirm", "compensate"};

/* "reserve OK (2 sent), confirm -, compensate -" */
static void log_text(const saga_recon_log *l, bool resolved, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s%s:", saga_status_name(l->status),
                                resolved ? " (resolved)" : "");
    for (int a = SAGA_ACT_RESERVE; a <= SAGA_ACT_COMPENSATE && n < cap; a++) {
        const char *sep = a == SAGA_ACT_RESERVE ? " " : ", ";
        if (l->attempts[a] == 0)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s -", sep, ACTION_WORDS[a]);
        else
            n += (size_t)snprintf(buf + n, cap - n, "%s%s %s (%d sent)", sep, ACTION_WORDS[a],
                                  l->outcome[a] ? saga_outcome_name(l->outcome[a]) : "no answer",
                                  l->attempts[a]);
    }
}

/* "reserve OK, confirm -, compensate -" or "no answer" */
static void seen_text(const saga_recon_seen *s, char *buf, size_t cap)
{
    if (!s->answered) {
        snprintf(buf, cap, "no answer");
        return;
    }
    size_t n = 0;
    for (int a = SAGA_ACT_RESERVE; a <= SAGA_ACT_COMPENSATE && n < cap; a++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s %s", a == SAGA_ACT_RESERVE ? "" : ", ",
                              ACTION_WORDS[a],
                              s->outcome[a] ? saga_outcome_name(s->outcome[a]) : "-");
}

static json_t *log_json(const saga_recon_log *l)
{
    json_t *o = json_object();
    for (int a = SAGA_ACT_RESERVE; a <= SAGA_ACT_COMPENSATE; a++)
        json_object_set_new(o, ACTION_WORDS[a],
                            json_pack("{s:i, s:o}", "sent", l->attempts[a], "outcome",
                                      l->outcome[a] ? json_string(saga_outcome_name(l->outcome[a]))
                                                    : json_null()));
    return o;
}

static json_t *seen_json(const saga_reconcile_step *st)
{
    if (!st->seen.answered)
        return json_null();
    json_t *o = json_object();
    for (int a = SAGA_ACT_RESERVE; a <= SAGA_ACT_COMPENSATE; a++) {
        json_t *v = json_null();
        if (st->seen.outcome[a]) {
            json_t *res = st->result[a] ? json_loads(st->result[a], JSON_DECODE_ANY, NULL) : NULL;
            v = json_pack("{s:s, s:o, s:o}", "outcome", saga_outcome_name(st->seen.outcome[a]),
                          "reason", cli_json_str(st->reason[a]), "result",
                          res ? res : json_null());
        }
        json_object_set_new(o, ACTION_WORDS[a], v);
    }
    return o;
}

/* Sends m's repair for st in a transaction of its own. 0 or an error. */
static int repair(cli *c, const saga_reconcile_step *st, const saga_recon_mismatch *m,
                  const char *actor, saga_error *err)
{
    char why[256];
    snprintf(why, sizeof why, "reconcile found %s at %s", saga_recon_kind_name(m->kind),
             st->participant);
    saga_writes w;
    saga_writes_init(&w);
    int rc = saga_pg_begin(c->conn, err);
    if (rc == 0)
        rc = saga_engine_resend(c->engine, c->conn, st->saga_id, st->step, m->repair, actor, why,
                                &w, err);
    if (rc == 0)
        rc = saga_store_write(c->conn, &w, NULL, NULL, err);
    if (rc == 0)
        rc = saga_store_notify(c->conn, SAGA_CHANNEL_OUTBOX, err);
    if (rc == 0)
        rc = saga_pg_commit(c->conn, err);
    if (rc)
        saga_pg_rollback(c->conn);
    saga_writes_clear(&w);
    return rc;
}

typedef struct outcome {
    bool tried, done;
    char error[SAGA_ERROR_MSG_MAX];
} outcome;

static json_t *mismatch_json(const saga_reconcile_step *st, const saga_recon_mismatch *m,
                             const outcome *r)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:i, s:s, s:b, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:b}",
        "saga_id", st->saga_id, "definition", st->def_name, "version", st->def_version,
        "status", saga_status_name(st->log.status), "resolved", st->resolved, "step", st->step,
        "participant", st->participant, "kind", saga_recon_kind_name(m->kind), "description",
        saga_recon_kind_text(m->kind), "action",
        m->action ? json_string(ACTION_WORDS[m->action]) : json_null(), "log",
        log_json(&st->log), "participant_record", seen_json(st), "repair",
        m->repair ? json_string(saga_action_name(m->repair)) : json_null(), "repaired",
        r->done);
    if (r->tried && !r->done)
        json_object_set_new(o, "repair_error", json_string(r->error));
    return o;
}

static void add_row(saga_table *t, const saga_reconcile_step *st, const saga_recon_mismatch *m,
                    const outcome *r)
{
    char logt[256], seent[160];
    log_text(&st->log, st->resolved, logt, sizeof logt);
    seen_text(&st->seen, seent, sizeof seent);
    saga_table_row(t);
    saga_table_cell(t, 0, st->saga_id, NULL);
    saga_table_cell(t, 1, st->step, NULL);
    saga_table_cell(t, 2, st->participant, NULL);
    saga_table_cell(t, 3, saga_recon_kind_name(m->kind), CLI_SGR_RED);
    saga_table_cell(t, 4, logt, NULL);
    saga_table_cell(t, 5, seent, NULL);
    if (r->done)
        saga_table_cellf(t, 6, NULL, "%s sent", saga_action_name(m->repair));
    else if (r->tried)
        saga_table_cellf(t, 6, CLI_SGR_RED, "failed: %s", r->error);
    else
        saga_table_cell(t, 6, m->repair ? saga_action_name(m->repair) : "-", NULL);
}

static int print_report(cli *c, const cli_args *a, const saga_reconcile_report *rep,
                        const outcome *res, int64_t since)
{
    bool json = cli_flag(a, "json");
    json_t *items = json ? json_array() : NULL;
    saga_table *t = json ? NULL : cli_table(7);
    const char *heads[] = {"SAGA", "STEP", "PARTICIPANT", "MISMATCH", "SAGA LOG",
                           "PARTICIPANT SAYS", "REPAIR"};
    for (size_t k = 0; t && k < 7; k++)
        saga_table_column(t, k, heads[k], 0);
    for (size_t i = 0, n = 0; i < rep->n_steps; i++)
        for (size_t k = 0; k < rep->steps[i].n_found; k++, n++) {
            if (json)
                json_array_append_new(items, mismatch_json(&rep->steps[i],
                                                           &rep->steps[i].found[k], &res[n]));
            else
                add_row(t, &rep->steps[i], &rep->steps[i].found[k], &res[n]);
        }
    if (json)
        return cli_json_print(
                   json_pack("{s:o, s:I, s:I, s:I, s:I, s:o}", "since", cli_time_json(since),
                             "sagas", (json_int_t)rep->n_sagas, "steps", (json_int_t)rep->n_steps,
                             "mismatches", (json_int_t)rep->n_mismatches, "unanswered",
                             (json_int_t)rep->n_unanswered, "items", items),
                   false) ? CLI_EXIT_FAIL : (rep->n_mismatches ? CLI_EXIT_FAIL : CLI_EXIT_OK);
    if (rep->n_mismatches)
        cli_table_print(c, t);
    saga_table_free(t);
    printf("%zu mismatch%s in %zu step%s of %zu finished saga%s", rep->n_mismatches,
           rep->n_mismatches == 1 ? "" : "es", rep->n_steps, rep->n_steps == 1 ? "" : "s",
           rep->n_sagas, rep->n_sagas == 1 ? "" : "s");
    if (rep->n_unanswered)
        printf(" (%zu step%s unanswered)", rep->n_unanswered, rep->n_unanswered == 1 ? "" : "s");
    printf("\n");
    return rep->n_mismatches ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* Runs every safe repair; res[i] says what became of the i-th mismatch. */
static void repair_all(cli *c, const cli_args *a, const saga_reconcile_report *rep,
                       outcome *res)
{
    char actor[128];
    cli_actor(a, actor, sizeof actor);
    for (size_t i = 0, n = 0; i < rep->n_steps; i++)
        for (size_t k = 0; k < rep->steps[i].n_found; k++, n++) {
            const saga_recon_mismatch *m = &rep->steps[i].found[k];
            if (!m->repair)
                continue;
            saga_error err;
            res[n].tried = true;
            res[n].done = repair(c, &rep->steps[i], m, actor, &err) == 0;
            if (!res[n].done)
                snprintf(res[n].error, sizeof res[n].error, "%s", err.msg);
        }
}

static int options(cli *c, const cli_args *a, saga_reconcile_opts *o, saga_error *err)
{
    memset(o, 0, sizeof *o);
    o->since_ms = c->now_ms - 24LL * 3600 * 1000;
    o->timeout_ms = 10000;
    o->limit = 1000;
    o->participant = cli_value(a, "participant");
    if (cli_value_since(a, "since", c->now_ms, &o->since_ms, err) ||
        cli_value_duration(a, "timeout", &o->timeout_ms, err) ||
        cli_value_int(a, "limit", 1, 100000, &o->limit, err))
        return SAGA_EINVAL;
    const char *brokers = cli_brokers(a, err);
    if (!brokers)
        return SAGA_EINVAL;
    o->kafka[o->n_kafka].key = "bootstrap.servers";
    o->kafka[o->n_kafka++].value = brokers;
    return 0;
}

static int check_reconcile(cli *c, const cli_args *a)
{
    saga_reconcile_opts o;
    saga_error err;
    return options(c, a, &o, &err) ? cli_usage_fail(&err) : CLI_EXIT_OK;
}

static int run_reconcile(cli *c, const cli_args *a)
{
    saga_reconcile_opts o;
    saga_error err;
    if (options(c, a, &o, &err))
        return cli_usage_fail(&err);
    saga_reconcile_report rep;
    if (saga_reconcile_run(c->engine, c->conn, &o, &rep, &err)) {
        saga_reconcile_report_free(&rep);
        return cli_fail(c, &err);
    }
    outcome *res = calloc(rep.n_mismatches + 1, sizeof *res);
    if (!res) {
        saga_reconcile_report_free(&rep);
        return CLI_EXIT_FAIL;
    }
    if (cli_flag(a, "repair"))
        repair_all(c, a, &rep, res);
    int status = print_report(c, a, &rep, res, o.since_ms);
    free(res);
    saga_reconcile_report_free(&rep);
    return status;
}

static const cli_opt RECONCILE_OPTS[] = {
    {"since", CLI_VALUE, "DUR|TIME", "sagas finished since (default: 24h)"},
    {"participant", CLI_VALUE, "NAME", "only this participant's steps"},
    {"timeout", CLI_VALUE, "DUR", "how long to wait for the answers (default: 10s)"},
    {"limit", CLI_VALUE, "N", "at most N sagas, most recently finished first (default: 1000)"},
    {"repair", CLI_FLAG, NULL, "send the missing COMPENSATE / CONFIRM, audited"},
    {"actor", CLI_VALUE, "NAME", "who repairs, for the audit trail (default: OS user)"},
    {"json", CLI_FLAG, NULL, "print one JSON document"},
    CLI_BROKERS_OPT,
};

const cli_command cli_cmd_reconcile = {
    .name = "reconcile",
    .synopsis = "[--since DUR] [--participant P] [--timeout DUR] [--limit N] [--repair] "
                "[--actor NAME] [--json] [--brokers LIST]",
    .summary = "compare finished sagas with the participants' own records",
    .description =
        "Asks each participant (a QUERY command on its topic, answered from its\n"
        "barrier table without side effects) what it recorded for every step of\n"
        "the sagas that finished (COMPLETED or COMPENSATED, including those\n"
        "resolved by an operator) in the window, and reports each disagreement\n"
        "with the saga log: reserved_not_compensated, confirmed_on_compensated,\n"
        "reserved_not_confirmed, compensated_on_completed, unknown_record,\n"
        "not_recorded, no_answer. Nothing is changed unless --repair is given:\n"
        "then the missing COMPENSATE (compensated saga) or CONFIRM (completed\n"
        "saga) is queued through the outbox and recorded in the saga's history\n"
        "with the actor; sagad publishes it. The other kinds need a human.\n"
        "Exit status 1 when any mismatch was found (repaired or not): run again\n"
        "to see the repairs take effect.",
    .opts = RECONCILE_OPTS,
    .n_opts = sizeof RECONCILE_OPTS / sizeof RECONCILE_OPTS[0],
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .check = check_reconcile,
    .run = run_reconcile,
};
