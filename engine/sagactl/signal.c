/*
 * signal.c - `sagactl signal ID STEP --approve|--reject`: deciding a signal
 * step by hand, and the console's Approve / Reject buttons (cli_op_doc
 * hands them here).
 *
 * The same path an application takes with saga_signal (signals.h): one
 * engine event in one transaction, audited with the actor. sagactl opens
 * that transaction itself and lets saga_signal work inside it, so it can
 * read back the history rows the decision wrote (what it prints) and, for
 * --dry-run, roll the very same transaction back: what would be decided,
 * not a guess. A decision that cannot apply exits 1 with the reason and,
 * unless it was a dry run, is still committed as an "ignored" history row,
 * so the timeline shows who tried what.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sagactl.h"
#include "signals.h"

static const cli_opt SIGNAL_OPTS[] = {
    {"approve", CLI_FLAG, NULL, "approve: the step reserves, the saga goes on"},
    {"reject", CLI_FLAG, NULL, "reject: the saga compensates (needs --reason)"},
    {"data", CLI_VALUE, "JSON", "approve: a JSON object for ${steps.STEP.signal.data.X}"},
    {"reason", CLI_VALUE, "TEXT", "why, for the audit trail (required with --reject)"},
    {"actor", CLI_VALUE, "NAME", "who decides, for the audit trail (default: OS user)"},
    {"dry-run", CLI_FLAG, NULL, "show what would happen, change nothing"},
    {"json", CLI_FLAG, NULL, "print one JSON document"},
};

/* What check_signal refuses before connecting, for callers that build a
 * request without the command line (the console). */
static int validate(const cli_op_request *rq, bool approve, saga_error *err)
{
    if (!rq->step || !*rq->step)
        return saga_error_set(err, SAGA_EINVAL, "%s needs the signal step's name", rq->verb);
    if (!approve && (!rq->reason || !*rq->reason))
        return saga_error_set(err, SAGA_EINVAL, "reject needs a reason");
    if (!approve && rq->data)
        return saga_error_set(err, SAGA_EINVAL, "data goes with approve only");
    return 0;
}

/* How many history rows saga id has; -1 with err set on a database error. */
static long history_count(cli *c, const char *id, saga_error *err)
{
    const char *p[1] = {id};
    PGresult *r = cli_query(c, saga_query_history_count, 1, p, err);
    long n = r ? (long)cli_get_i64(r, 0, 0) : -1;
    PQclear(r);
    return n;
}

/* The history rows after the first `before` ones: what the decision wrote
 * in the open transaction. The count is taken before saga_signal locks the
 * saga, so a sagad turn on the same saga in between would add its rows
 * too: the report may then say more than the decision did, never less. */
static json_t *effects(cli *c, const char *id, long before, saga_error *err)
{
    long after = history_count(c, id, err);
    if (after < 0)
        return NULL;
    char n[24];
    snprintf(n, sizeof n, "%ld", after - before);
    const char *p[2] = {id, n};
    PGresult *r = after > before ? cli_query(c, saga_query_history, 2, p, err) : NULL;
    if (after > before && !r)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; r && i < PQntuples(r); i++)
        json_array_append_new(arr, cli_history_json(r, i, false));
    PQclear(r);
    return arr;
}

/* saga_signal in a transaction of our own: committed, or rolled back on a
 * dry run or a database error. A refusal keeps its "ignored" row unless
 * dry. Fills *fx with the rows the decision wrote. */
static int decide(cli *c, const saga_signal_req *req, bool dry, saga_signal_result *res,
                  json_t **fx, saga_error *err)
{
    int rc = saga_pg_begin(c->conn, err);
    long before = rc ? -1 : history_count(c, req->saga_id, err);
    if (rc == 0 && before < 0)
        rc = err->code;
    if (rc == 0)
        rc = saga_signal(c->conn, req, res, err);
    bool refused = rc == SAGA_EINVAL || rc == SAGA_ENOTFOUND || rc == SAGA_ECONFLICT;
    if (rc == 0) {
        saga_error ferr;
        if (!(*fx = effects(c, req->saga_id, before, &ferr))) {
            *err = ferr;
            rc = ferr.code;
        }
    }
    if (dry || (rc && !refused)) {
        saga_pg_rollback(c->conn);
        return rc;
    }
    saga_error keep = *err;
    int crc = saga_pg_commit(c->conn, err);
    if (crc)
        return crc;
    *err = keep;
    return rc;
}

int cli_signal_doc(cli *c, const cli_op_request *rq, json_t **doc, saga_error *err)
{
    bool approve = strcmp(rq->verb, "approve") == 0;
    int rc = validate(rq, approve, err);
    char id[SAGA_ID_LEN + 1];
    if (rc || (rc = cli_resolve_id(c, rq->id, id, err)))
        return rc;
    saga_signal_req req = {.saga_id = id, .step = rq->step, .approve = approve,
                           .data_json = rq->data, .reason = rq->reason, .actor = rq->actor};
    saga_signal_result res;
    json_t *fx = NULL;
    if ((rc = decide(c, &req, rq->dry_run, &res, &fx, err)))
        return rc;
    *doc = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:o}", "id", id, "step", rq->step,
                     "action", rq->verb, "actor", rq->actor, "dry_run", rq->dry_run,
                     "status_before", res.status_before, "status_after", res.status_after,
                     "effects", fx);
    return *doc ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
}

static int check_signal(cli *c, const cli_args *a)
{
    (void)c;
    bool approve = cli_flag(a, "approve"), reject = cli_flag(a, "reject");
    if (approve == reject)
        return cli_usage_error(&cli_cmd_signal, "give exactly one of --approve, --reject");
    const char *reason = cli_value(a, "reason");
    if (reject && (!reason || !*reason))
        return cli_usage_error(&cli_cmd_signal, "--reject needs --reason TEXT");
    if (reject && cli_value(a, "data"))
        return cli_usage_error(&cli_cmd_signal, "--data goes with --approve only");
    return CLI_EXIT_OK;
}

static int run_signal(cli *c, const cli_args *a)
{
    saga_error err;
    char actor[128];
    cli_actor(a, actor, sizeof actor);
    bool approve = cli_flag(a, "approve"), dry = cli_flag(a, "dry-run");
    cli_op_request rq = {.verb = approve ? "approve" : "reject", .id = a->pos[0],
                         .step = a->pos[1], .reason = cli_value(a, "reason"),
                         .data = cli_value(a, "data"), .actor = actor, .dry_run = dry};
    json_t *doc;
    if (cli_signal_doc(c, &rq, &doc, &err))
        return cli_fail(c, &err);
    if (cli_flag(a, "json"))
        return cli_json_print(doc, false);
    printf("%s%s step %s of saga %s (%s -> %s) as %s\n", dry ? "would " : "",
           dry ? rq.verb : approve ? "approved" : "rejected", rq.step,
           json_string_value(json_object_get(doc, "id")),
           json_string_value(json_object_get(doc, "status_before")),
           json_string_value(json_object_get(doc, "status_after")), actor);
    cli_effects_print(json_object_get(doc, "effects"));
    if (dry)
        printf("(dry run: nothing was changed)\n");
    json_decref(doc);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_signal = {
    .name = "signal",
    .synopsis = "ID STEP --approve [--data JSON] | --reject --reason TEXT "
                "[--actor NAME] [--dry-run] [--json]",
    .summary = "approve or reject a signal step that is waiting",
    .description =
        "Decides a signal step (\"signal\": {\"timeout_ms\": N} in the spec) that\n"
        "is waiting: --approve reserves it and the saga goes on (--data is kept\n"
        "as ${steps.STEP.signal.data.FIELD} for later payloads); --reject makes\n"
        "the saga compensate. Refused (exit 1) for an unknown saga or step, a\n"
        "step that is not a signal step or not waiting (pending, already\n"
        "decided, timed out) and a finished saga; a refused decision is\n"
        "recorded in the saga's history as ignored. --dry-run runs the same\n"
        "transaction and rolls it back, printing the history rows it would\n"
        "write (or the refusal). Needs a running sagad to send the commands\n"
        "that follow (they wait in the outbox until then).",
    .opts = SIGNAL_OPTS,
    .n_opts = sizeof SIGNAL_OPTS / sizeof SIGNAL_OPTS[0],
    .min_pos = 2,
    .max_pos = 2,
    .needs_db = true,
    .check = check_signal,
    .run = run_signal,
};
