/*
 * ops.c - `sagactl retry|abort|resolve`: operator actions.
 *
 * An operator action is just another event for the engine: it goes through
 * saga_engine_apply like a reply does, so it takes the same row lock (and
 * waits for a sagad holding the saga), is decided by the same machine (which
 * refuses, say, aborting a saga that is already confirming), and writes the
 * same history and outbox rows. sagactl never talks to Kafka: it leaves the
 * commands in the outbox and NOTIFYs sagad's relay, which publishes them at
 * once, so retry/abort need a running sagad but can never double-send. The
 * history rows carry the actor, which is the audit trail `show` prints.
 *
 * --dry-run runs the very same transaction and rolls it back, printing the
 * history it would have written: what would be decided, not a guess.
 */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outbox.h"
#include "random.h"
#include "sagactl.h"

static const struct {
    const char *verb, *done;
    saga_event_kind kind;
} OPS[] = {
    {"retry", "retried", SAGA_EV_RETRY},
    {"abort", "aborted", SAGA_EV_ABORT},
    {"resolve", "resolved", SAGA_EV_RESOLVE},
};

void cli_actor(const cli_args *a, char *buf, size_t cap)
{
    const char *v = cli_value(a, "actor");
    if (v && *v) {
        snprintf(buf, cap, "%s", v);
        return;
    }
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name && *pw->pw_name)
        snprintf(buf, cap, "%s", pw->pw_name);
    else if ((v = getenv("USER")) && *v)
        snprintf(buf, cap, "%s", v);
    else
        snprintf(buf, cap, "uid %u", (unsigned)geteuid());
}

/* One history row queued by the engine, as a line. */
static void effect_line(const json_t *h, char *buf, size_t cap)
{
    const char *kind = json_string_value(json_object_get(h, "kind"));
    const char *step = json_string_value(json_object_get(h, "step"));
    const char *action = json_string_value(json_object_get(h, "action"));
    const char *text = json_string_value(json_object_get(h, "text"));
    json_int_t attempt = json_integer_value(json_object_get(h, "attempt"));
    char att[24] = "";
    if (attempt > 0)
        snprintf(att, sizeof att, " #%lld", (long long)attempt);
    snprintf(buf, cap, "%-10s %s%s%s%s%s%s", kind ? kind : "", step ? step : "",
             step ? " " : "", action ? action : "", att, (step || action) ? ": " : "",
             text ? text : "");
}

void cli_effects_print(const json_t *effects)
{
    size_t i;
    json_t *h;
    json_array_foreach(effects, i, h) {
        char line[1024];
        effect_line(h, line, sizeof line);
        printf("  %s\n", line);
    }
}

static json_t *op_doc(const cli_op_request *rq, const saga_engine_event *ev,
                      const saga_writes *w)
{
    json_t *effects = json_array();
    size_t i;
    json_t *h;
    json_array_foreach(w->history, i, h) {
        json_t *e = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "kind",
                              json_object_get(h, "kind"), "step",
                              json_object_get(h, "step"), "action",
                              json_object_get(h, "action"), "attempt",
                              json_object_get(h, "attempt"), "outcome",
                              json_object_get(h, "outcome"), "text",
                              json_object_get(h, "text"));
        json_array_append_new(effects, e);
    }
    return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:i, s:o}", "id", ev->saga_id,
                     "action", rq->verb, "actor", rq->actor, "dry_run", rq->dry_run,
                     "status_before", saga_status_name(ev->status_before),
                     "status_after", saga_status_name(ev->status_after), "commands",
                     (int)w->n_outbox, "effects", effects);
}

static void print_report(const json_t *doc)
{
    const char *verb = json_string_value(json_object_get(doc, "action"));
    bool dry = json_is_true(json_object_get(doc, "dry_run"));
    const char *done = verb;
    for (size_t k = 0; k < sizeof OPS / sizeof OPS[0]; k++)
        if (strcmp(OPS[k].verb, verb) == 0)
            done = OPS[k].done;
    printf("%s%s saga %s (%s -> %s) as %s\n", dry ? "would " : "", dry ? verb : done,
           json_string_value(json_object_get(doc, "id")),
           json_string_value(json_object_get(doc, "status_before")),
           json_string_value(json_object_get(doc, "status_after")),
           json_string_value(json_object_get(doc, "actor")));
    cli_effects_print(json_object_get(doc, "effects"));
    json_int_t n = json_integer_value(json_object_get(doc, "commands"));
    if (!dry && n)
        printf("%lld command%s queued in the outbox for sagad's relay\n", (long long)n,
               n == 1 ? "" : "s");
    if (dry)
        printf("(dry run: nothing was changed)\n");
}

/* What the CLI's checks refuse before connecting, for callers that build a
 * request without the command line (the console). */
static int validate(const cli_op_request *rq, saga_event_kind *kind, saga_status *as,
                    saga_error *err)
{
    size_t k = 0;
    while (k < sizeof OPS / sizeof OPS[0] && strcmp(OPS[k].verb, rq->verb) != 0)
        k++;
    if (k == sizeof OPS / sizeof OPS[0])
        return saga_error_set(err, SAGA_EINVAL, "unknown action \"%.32s\"", rq->verb);
    *kind = OPS[k].kind;
    if (*kind != SAGA_EV_RETRY && (!rq->reason || !*rq->reason))
        return saga_error_set(err, SAGA_EINVAL, "%s needs a reason", rq->verb);
    if (*kind == SAGA_EV_RESOLVE &&
        (!rq->as || saga_status_parse(rq->as, as) || !saga_status_terminal(*as))) {
        saga_error_set(err, SAGA_EINVAL, "resolve: invalid status \"%.64s\"",
                       rq->as ? rq->as : "");
        saga_error_hint(err, "a saga is resolved as completed or compensated");
        return SAGA_EINVAL;
    }
    return 0;
}

/* The engine's transaction: apply, write, notify, commit (rolled back on a
 * dry run or any failure). */
static int apply(cli *c, saga_engine_event *x, saga_writes *w, bool dry, saga_error *err)
{
    int rc = saga_pg_begin(c->conn, err);
    if (rc == 0)
        rc = saga_engine_apply(c->engine, c->conn, x, 1, w, NULL, err);
    if (rc == 0 && x->rc) {
        saga_pg_rollback(c->conn);
        *err = x->err;
        return x->rc;
    }
    if (rc == 0)
        rc = saga_store_write(c->conn, w, NULL, NULL, err);
    if (rc == 0 && !dry && w->n_outbox)
        rc = saga_store_notify(c->conn, SAGA_CHANNEL_OUTBOX, err);
    if (rc == 0 && dry)
        saga_pg_rollback(c->conn);
    else if (rc == 0)
        rc = saga_pg_commit(c->conn, err);
    if (rc)
        saga_pg_rollback(c->conn);
    return rc;
}

int cli_op_doc(cli *c, const cli_op_request *rq, json_t **doc, saga_error *err)
{
    if (strcmp(rq->verb, "approve") == 0 || strcmp(rq->verb, "reject") == 0)
        return cli_signal_doc(c, rq, doc, err);
    saga_event ev = {.op_reason = rq->reason};
    saga_status as = SAGA_COMPLETED;
    int rc = validate(rq, &ev.kind, &as, err);
    if (rc)
        return rc;
    ev.resolve_as = as;
    char id[SAGA_ID_LEN + 1];
    if ((rc = cli_resolve_id(c, rq->id, id, err)))
        return rc;
    ev.now_ms = saga_now_ms();
    ev.random = saga_random32();
    saga_engine_event x = {.saga_id = id, .ev = ev, .step_name = rq->step,
                           .actor = rq->actor};
    saga_writes w;
    saga_writes_init(&w);
    rc = apply(c, &x, &w, rq->dry_run, err);
    if (rc == 0 && !(*doc = op_doc(rq, &x, &w)))
        rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
    saga_writes_clear(&w);
    return rc;
}

static int run_op(cli *c, const cli_args *a, const char *verb)
{
    char actor[128];
    cli_actor(a, actor, sizeof actor);
    cli_op_request rq = {.verb = verb, .id = a->pos[0], .step = cli_value(a, "step"),
                         .reason = cli_value(a, "reason"), .as = cli_value(a, "as"),
                         .actor = actor, .dry_run = cli_flag(a, "dry-run")};
    if (!rq.dry_run && !cli_confirm(c, cli_flag(a, "yes"), "%s saga %s?", verb, rq.id)) {
        fprintf(stderr, "not done\n");
        return CLI_EXIT_FAIL;
    }
    saga_error err;
    json_t *doc;
    if (cli_op_doc(c, &rq, &doc, &err))
        return cli_fail(c, &err);
    if (cli_flag(a, "json"))
        return cli_json_print(doc, false);
    print_report(doc);
    json_decref(doc);
    return CLI_EXIT_OK;
}

#define COMMON_OPTS                                                              \
    {"actor", CLI_VALUE, "NAME", "who is acting, for the audit trail (default: OS user)"}, \
    {"dry-run", CLI_FLAG, NULL, "show what would be done, change nothing"},                 \
    {"yes", CLI_FLAG, NULL, "do not ask for confirmation on a terminal"},                   \
    {"json", CLI_FLAG, NULL, "print one JSON document"}

/* --- retry --------------------------------------------------------------- */

static const cli_opt RETRY_OPTS[] = {
    {"step", CLI_VALUE, "STEP", "re-send only this step's pending command"},
    {"reason", CLI_VALUE, "TEXT", "why, for the audit trail"},
    COMMON_OPTS,
};

static int run_retry(cli *c, const cli_args *a)
{
    return run_op(c, a, "retry");
}

const cli_command cli_cmd_retry = {
    .name = "retry",
    .synopsis = "ID [--step STEP] [--reason TEXT] [--actor NAME] [--dry-run] [--yes] [--json]",
    .summary = "re-send a saga's pending commands now",
    .description =
        "Re-dispatches the saga's pending commands (in flight or backing off) at\n"
        "once, with a new attempt number and the backoff reset; idempotency keys\n"
        "stay the same, so a participant that already acted answers from its\n"
        "record. Refused when nothing is pending. Needs a running sagad to\n"
        "publish the commands (they wait in the outbox until then).",
    .opts = RETRY_OPTS,
    .n_opts = sizeof RETRY_OPTS / sizeof RETRY_OPTS[0],
    .min_pos = 1,
    .max_pos = 1,
    .needs_db = true,
    .run = run_retry,
};

/* --- abort --------------------------------------------------------------- */

static const cli_opt ABORT_OPTS[] = {
    {"reason", CLI_VALUE, "TEXT", "why (required), for the audit trail"},
    COMMON_OPTS,
};

static int check_abort(cli *c, const cli_args *a)
{
    (void)c;
    const char *reason = cli_value(a, "reason");
    if (!reason || !*reason)
        return cli_usage_error(&cli_cmd_abort, "abort needs --reason TEXT");
    return CLI_EXIT_OK;
}

static int run_abort(cli *c, const cli_args *a)
{
    return run_op(c, a, "abort");
}

const cli_command cli_cmd_abort = {
    .name = "abort",
    .synopsis = "ID --reason TEXT [--actor NAME] [--dry-run] [--yes] [--json]",
    .summary = "stop a RUNNING saga and compensate what it reserved",
    .description =
        "Stops a RUNNING saga's forward progress: no further reserve is sent,\n"
        "and every step that reserved (or may have) is compensated; the saga\n"
        "ends COMPENSATED. Refused for a saga that is confirming (confirm cannot\n"
        "be undone: use resolve) or finished.",
    .opts = ABORT_OPTS,
    .n_opts = sizeof ABORT_OPTS / sizeof ABORT_OPTS[0],
    .min_pos = 1,
    .max_pos = 1,
    .needs_db = true,
    .check = check_abort,
    .run = run_abort,
};

/* --- resolve ------------------------------------------------------------- */

static const cli_opt RESOLVE_OPTS[] = {
    {"as", CLI_VALUE, "STATUS", "completed or compensated (required)"},
    {"reason", CLI_VALUE, "TEXT", "why (required), for the audit trail"},
    COMMON_OPTS,
};

static int check_resolve(cli *c, const cli_args *a)
{
    (void)c;
    const char *as = cli_value(a, "as");
    const char *reason = cli_value(a, "reason");
    if (!as)
        return cli_usage_error(&cli_cmd_resolve,
                               "resolve needs --as completed|compensated");
    saga_status st;
    if (saga_status_parse(as, &st) || !saga_status_terminal(st)) {
        saga_error err;
        saga_error_set(&err, SAGA_EINVAL, "--as: invalid value \"%.64s\"", as);
        saga_error_hint(&err, "a saga is resolved as completed or compensated");
        return cli_usage_fail(&err);
    }
    if (!reason || !*reason)
        return cli_usage_error(&cli_cmd_resolve, "resolve needs --reason TEXT");
    return CLI_EXIT_OK;
}

static int run_resolve(cli *c, const cli_args *a)
{
    return run_op(c, a, "resolve");
}

const cli_command cli_cmd_resolve = {
    .name = "resolve",
    .synopsis = "ID --as completed|compensated --reason TEXT [--actor NAME] "
                "[--dry-run] [--yes] [--json]",
    .summary = "close a stuck saga by hand, after fixing the participant's side",
    .description =
        "Closes a non-terminal saga as COMPLETED or COMPENSATED without sending\n"
        "anything: for when the operator has made the participants' state agree\n"
        "by hand. Pending commands are dropped (late replies are then ignored)\n"
        "and the saga is marked as resolved by an operator. Refused for a saga\n"
        "that has already finished.",
    .opts = RESOLVE_OPTS,
    .n_opts = sizeof RESOLVE_OPTS / sizeof RESOLVE_OPTS[0],
    .min_pos = 1,
    .max_pos = 1,
    .needs_db = true,
    .check = check_resolve,
    .run = run_resolve,
};
