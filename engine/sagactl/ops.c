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

typedef struct op {
    const char *verb;   /* "retry" */
    saga_event_kind kind;
} op;

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

static int report(const cli_args *a, const op *o, const saga_engine_event *ev,
                  const saga_writes *w, const char *actor, bool dry)
{
    if (cli_flag(a, "json")) {
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
        return cli_json_print(
            json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:i, s:o}", "id", ev->saga_id,
                      "action", o->verb, "actor", actor, "dry_run", dry,
                      "status_before", saga_status_name(ev->status_before),
                      "status_after", saga_status_name(ev->status_after),
                      "commands", (int)w->n_outbox, "effects", effects),
            false);
    }
    printf("%s%s saga %s (%s -> %s) as %s\n", dry ? "would " : "",
           dry ? o->verb : (strcmp(o->verb, "retry") == 0 ? "retried"
                            : strcmp(o->verb, "abort") == 0 ? "aborted"
                                                             : "resolved"),
           ev->saga_id, saga_status_name(ev->status_before),
           saga_status_name(ev->status_after), actor);
    size_t i;
    json_t *h;
    json_array_foreach(w->history, i, h) {
        char line[1024];
        effect_line(h, line, sizeof line);
        printf("  %s\n", line);
    }
    if (!dry && w->n_outbox)
        printf("%zu command%s queued in the outbox for sagad's relay\n", w->n_outbox,
               w->n_outbox == 1 ? "" : "s");
    if (dry)
        printf("(dry run: nothing was changed)\n");
    return CLI_EXIT_OK;
}

static int run_op(cli *c, const cli_args *a, const op *o, saga_event ev,
                  const char *step)
{
    saga_error err;
    char id[SAGA_ID_LEN + 1];
    if (cli_resolve_id(c, a->pos[0], id, &err))
        return cli_fail(c, &err);
    char actor[128];
    cli_actor(a, actor, sizeof actor);
    bool dry = cli_flag(a, "dry-run");
    if (!dry && !cli_confirm(c, cli_flag(a, "yes"), "%s saga %s?", o->verb, id)) {
        fprintf(stderr, "not done\n");
        return CLI_EXIT_FAIL;
    }
    ev.kind = o->kind;
    ev.now_ms = saga_now_ms();
    ev.random = saga_random32();
    saga_engine_event x = {.saga_id = id, .ev = ev, .step_name = step, .actor = actor};
    saga_writes w;
    saga_writes_init(&w);
    int status = CLI_EXIT_OK;
    int rc = saga_pg_begin(c->conn, &err);
    if (rc == 0)
        rc = saga_engine_apply(c->engine, c->conn, &x, 1, &w, NULL, &err);
    if (rc == 0 && x.rc) {
        saga_pg_rollback(c->conn);
        status = cli_fail(c, &x.err);
        goto out;
    }
    if (rc == 0)
        rc = saga_store_write(c->conn, &w, NULL, NULL, &err);
    if (rc == 0 && !dry && w.n_outbox)
        rc = saga_store_notify(c->conn, SAGA_CHANNEL_OUTBOX, &err);
    if (rc == 0 && dry)
        saga_pg_rollback(c->conn);
    else if (rc == 0)
        rc = saga_pg_commit(c->conn, &err);
    if (rc) {
        saga_pg_rollback(c->conn);
        status = cli_fail(c, &err);
        goto out;
    }
    status = report(a, o, &x, &w, actor, dry);
out:
    saga_writes_clear(&w);
    return status;
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
    static const op o = {"retry", SAGA_EV_RETRY};
    saga_event ev = {.op_reason = cli_value(a, "reason")};
    return run_op(c, a, &o, ev, cli_value(a, "step"));
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
    static const op o = {"abort", SAGA_EV_ABORT};
    saga_event ev = {.op_reason = cli_value(a, "reason")};
    return run_op(c, a, &o, ev, NULL);
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
    static const op o = {"resolve", SAGA_EV_RESOLVE};
    saga_status st = SAGA_COMPLETED;
    saga_status_parse(cli_value(a, "as"), &st);
    saga_event ev = {.op_reason = cli_value(a, "reason"), .resolve_as = st};
    return run_op(c, a, &o, ev, NULL);
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
