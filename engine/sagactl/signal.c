/*
 * signal.c - `sagactl signal ID STEP --approve|--reject`: deciding a signal
 * step by hand.
 *
 * The same path an application takes with saga_signal (signals.h): one
 * engine event in one transaction, audited with the actor. A decision that
 * cannot apply exits 1 with the reason and is still recorded in the saga's
 * history as ignored, so the timeline shows who tried what.
 */
#include <stdio.h>
#include <string.h>

#include "sagactl.h"
#include "signals.h"

static const cli_opt SIGNAL_OPTS[] = {
    {"approve", CLI_FLAG, NULL, "approve: the step reserves, the saga goes on"},
    {"reject", CLI_FLAG, NULL, "reject: the saga compensates (needs --reason)"},
    {"data", CLI_VALUE, "JSON", "approve: a JSON object for ${steps.STEP.signal.data.X}"},
    {"reason", CLI_VALUE, "TEXT", "why, for the audit trail (required with --reject)"},
    {"actor", CLI_VALUE, "NAME", "who decides, for the audit trail (default: OS user)"},
    {"json", CLI_FLAG, NULL, "print one JSON document"},
};

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
    char id[SAGA_ID_LEN + 1], actor[128];
    if (cli_resolve_id(c, a->pos[0], id, &err))
        return cli_fail(c, &err);
    cli_actor(a, actor, sizeof actor);
    bool approve = cli_flag(a, "approve");
    saga_signal_req req = {.saga_id = id, .step = a->pos[1], .approve = approve,
                           .data_json = cli_value(a, "data"),
                           .reason = cli_value(a, "reason"), .actor = actor};
    saga_signal_result res;
    if (saga_signal(c->conn, &req, &res, &err))
        return cli_fail(c, &err);
    if (cli_flag(a, "json"))
        return cli_json_print(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "step",
                                        a->pos[1], "decision",
                                        approve ? "approve" : "reject", "actor", actor,
                                        "status_before", res.status_before,
                                        "status_after", res.status_after),
                              false);
    printf("%s step %s of saga %s (%s -> %s) as %s\n", approve ? "approved" : "rejected",
           a->pos[1], id, res.status_before, res.status_after, actor);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_signal = {
    .name = "signal",
    .synopsis = "ID STEP --approve [--data JSON] | --reject --reason TEXT "
                "[--actor NAME] [--json]",
    .summary = "approve or reject a signal step that is waiting",
    .description =
        "Decides a signal step (\"signal\": {\"timeout_ms\": N} in the spec) that\n"
        "is waiting: --approve reserves it and the saga goes on (--data is kept\n"
        "as ${steps.STEP.signal.data.FIELD} for later payloads); --reject makes\n"
        "the saga compensate. Refused (exit 1) for an unknown saga or step, a\n"
        "step that is not a signal step or not waiting (pending, already\n"
        "decided, timed out) and a finished saga; a refused decision is\n"
        "recorded in the saga's history as ignored. Needs a running sagad to\n"
        "send the commands that follow (they wait in the outbox until then).",
    .opts = SIGNAL_OPTS,
    .n_opts = sizeof SIGNAL_OPTS / sizeof SIGNAL_OPTS[0],
    .min_pos = 2,
    .max_pos = 2,
    .needs_db = true,
    .check = check_signal,
    .run = run_signal,
};
