/*
 * show.c - `sagactl show ID`: one saga, told as a story.
 *
 * Three reads (saga, steps, history), not one join: the history can hold
 * thousands of rows for a saga that has retried for days, and repeating the
 * saga's input on each of them would multiply the transfer for nothing.
 * The timeline prints times as offsets from the saga's creation, because
 * what an operator reads there is the order and the gaps ("the reply came
 * 30 s after the command"), and ends with what the saga waits for now.
 */
#include <stdlib.h>
#include <string.h>

#include "sagactl.h"

static const cli_opt OPTS[] = {
    {"last", CLI_VALUE, "N", "show only the last N timeline entries"},
    {"json", CLI_FLAG, NULL, "print one JSON document"},
    {"format", CLI_VALUE, "dot|svg", "print the step graph (Graphviz DOT or SVG) instead"},
    {"timing", CLI_FLAG, NULL, "print where the time went, hop by hop, instead (timing.c)"},
};

typedef struct shown {
    PGresult *saga, *steps, *history;
    long total_history;
} shown;

/* --- JSON ------------------------------------------------------------------ */

static json_t *steps_json(cli *c, const shown *s)
{
    const PGresult *r = s->steps;
    const char *def = cli_get(s->saga, 0, QSAGA_DEF);
    int ver = (int)cli_get_i64(s->saga, 0, QSAGA_VER);
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "name", cli_get(r, i, QSTEP_NAME),
                              "participant",
                              cli_participant(c, def, ver, cli_get(r, i, QSTEP_NAME)),
                              "status", cli_get(r, i, QSTEP_STATUS));
        json_object_set_new(o, "action", cli_json_col(r, i, QSTEP_ACTION));
        json_object_set_new(o, "attempt", json_integer(cli_get_i64(r, i, QSTEP_ATTEMPT)));
        json_object_set_new(o, "failures", json_integer(cli_get_i64(r, i, QSTEP_FAILURES)));
        json_object_set_new(o, "deadline_at",
                            cli_time_json(cli_get_i64(r, i, QSTEP_DEADLINE)));
        json_object_set_new(o, "retry_at", cli_time_json(cli_get_i64(r, i, QSTEP_RETRY)));
        json_object_set_new(o, "attempts",
                            json_pack("{s:I, s:I, s:I}", "reserve",
                                      (json_int_t)cli_get_i64(r, i, QSTEP_RA), "confirm",
                                      (json_int_t)cli_get_i64(r, i, QSTEP_CA), "compensate",
                                      (json_int_t)cli_get_i64(r, i, QSTEP_XA)));
        json_object_set_new(o, "outcomes",
                            json_pack("{s:o, s:o, s:o}", "reserve",
                                      cli_json_col(r, i, QSTEP_RO), "confirm",
                                      cli_json_col(r, i, QSTEP_CO), "compensate",
                                      cli_json_col(r, i, QSTEP_XO)));
        json_object_set_new(o, "last_error", cli_json_col(r, i, QSTEP_ERROR));
        json_object_set_new(o, "result", cli_json_parse_col(r, i, QSTEP_RESULT));
        json_object_set_new(o, "updated_at",
                            cli_time_json(cli_get_i64(r, i, QSTEP_UPDATED)));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *history_json(const PGresult *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(arr, cli_history_json(r, i, false));
    return arr;
}

/* Operator actions (who, when, what and why) from the history's "operator"
 * rows, which the engine writes only for accepted actions, with the actor. */
static json_t *audit_json(const PGresult *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        if (cli_null(r, i, QHIST_ACTOR) ||
            strcmp(cli_get(r, i, QHIST_KIND), "operator") != 0)
            continue;
        json_t *o = json_pack("{s:o, s:s, s:o}", "at",
                              cli_time_json(cli_get_i64(r, i, QHIST_AT)), "actor",
                              cli_get(r, i, QHIST_ACTOR), "action",
                              cli_json_col(r, i, QHIST_TEXT));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* What the saga waits for: one sentence per pending command. */
static void pending_lines(cli *c, const shown *s, json_t *json_out, bool print)
{
    const PGresult *r = s->steps;
    const char *status = cli_get(s->saga, 0, QSAGA_STATUS);
    const char *def = cli_get(s->saga, 0, QSAGA_DEF);
    int ver = (int)cli_get_i64(s->saga, 0, QSAGA_VER);
    int n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (cli_null(r, i, QSTEP_ACTION))
            continue;
        const char *participant = cli_participant(c, def, ver, cli_get(r, i, QSTEP_NAME));
        int64_t deadline = cli_get_i64(r, i, QSTEP_DEADLINE);
        int64_t retry = cli_get_i64(r, i, QSTEP_RETRY);
        char when[SAGA_TIME_TEXT_MAX], line[512];
        if (cli_signal_wait(c, def, ver, cli_get(r, i, QSTEP_NAME), deadline, line,
                            sizeof line)) {
        } else if (deadline) {
            cli_time_text(c, deadline, when, sizeof when);
            snprintf(line, sizeof line, "%s %s reply from %s (attempt %lld), times out %s%s",
                     cli_get(r, i, QSTEP_NAME), cli_get(r, i, QSTEP_ACTION), participant,
                     (long long)cli_get_i64(r, i,
                                            QSTEP_ATTEMPT), c->utc ? "at " : "", when);
        } else {
            cli_time_text(c, retry, when, sizeof when);
            snprintf(line, sizeof line, "%s %s to %s (attempt %lld), re-sent %s%s",
                     cli_get(r, i, QSTEP_NAME), cli_get(r, i, QSTEP_ACTION), participant,
                     (long long)cli_get_i64(r, i, QSTEP_ATTEMPT) + 1, c->utc ? "at " : "",
                     when);
        }
        if (json_out)
            json_array_append_new(json_out, json_string(line));
        if (print)
            printf("%s %s\n", n ? "            " : "waiting for:", line);
        n++;
    }
    if (n || !print)
        return;
    saga_status st;
    if (saga_status_parse(status, &st) == 0 && saga_status_terminal(st))
        printf("waiting for: nothing, the saga is %s\n", status);
    else
        printf("waiting for: sagad to dispatch the next commands\n");
}

static json_t *show_doc(cli *c, const shown *s)
{
    const PGresult *r = s->saga;
    int64_t created = cli_get_i64(r, 0, QSAGA_CREATED);
    int64_t finished = cli_get_i64(r, 0, QSAGA_FINISHED);
    json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "id", cli_get(r, 0, QSAGA_ID), "name",
                          cli_get(r, 0, QSAGA_DEF), "version",
                          (int)cli_get_i64(r, 0, QSAGA_VER),
                          "status", cli_get(r, 0, QSAGA_STATUS));
    json_object_set_new(o, "input", cli_json_parse_col(r, 0, QSAGA_INPUT));
    json_object_set_new(o, "idempotency_key", cli_json_col(r, 0, QSAGA_KEY));
    json_object_set_new(o, "traceparent", cli_json_col(r, 0, QSAGA_TRACE));
    json_object_set_new(o, "created_at", cli_time_json(created));
    json_object_set_new(o, "updated_at", cli_time_json(cli_get_i64(r, 0, QSAGA_UPDATED)));
    json_object_set_new(o, "progress_at", cli_time_json(cli_get_i64(r, 0, QSAGA_PROGRESS)));
    json_object_set_new(o, "finished_at", cli_time_json(finished));
    json_object_set_new(o, "wake_at", cli_time_json(cli_get_i64(r, 0, QSAGA_WAKE)));
    json_object_set_new(o, "duration_ms",
                        finished ? json_integer(finished - created) : json_null());
    json_object_set_new(o, "stuck", json_boolean(cli_get(r, 0, QSAGA_STUCK)[0] == 't'));
    json_object_set_new(o, "stuck_reason", cli_json_col(r, 0, QSAGA_REASON));
    json_object_set_new(o, "aborted", json_boolean(cli_get(r, 0, QSAGA_ABORTED)[0] == 't'));
    json_object_set_new(o, "resolved",
                        json_boolean(cli_get(r, 0, QSAGA_RESOLVED)[0] == 't'));
    cli_flow_json(r, 0, QSAGA_FLOW, o);
    json_object_set_new(o, "sub_sagas", cli_children_json(c, cli_get(r, 0, QSAGA_ID)));
    json_t *waiting = json_array();
    pending_lines(c, s, waiting, false);
    json_object_set_new(o, "waiting_for", waiting);
    json_object_set_new(o, "steps", steps_json(c, s));
    json_object_set_new(o, "operator_actions", audit_json(s->history));
    json_object_set_new(o, "timeline", history_json(s->history));
    json_object_set_new(o, "timeline_total", json_integer(s->total_history));
    return o;
}

/* --- human ------------------------------------------------------------------ */

static void print_header(cli *c, const shown *s)
{
    const PGresult *r = s->saga;
    const char *status = cli_get(r, 0, QSAGA_STATUS);
    int64_t created = cli_get_i64(r, 0, QSAGA_CREATED);
    int64_t finished = cli_get_i64(r, 0, QSAGA_FINISHED);
    char t1[SAGA_TIME_TEXT_MAX], t2[SAGA_TIME_TEXT_MAX], dur[SAGA_TIME_TEXT_MAX];
    bool stuck = cli_get(r, 0, QSAGA_STUCK)[0] == 't';
    printf("saga        %s\n", cli_get(r, 0, QSAGA_ID));
    printf("definition  %s@%s\n", cli_get(r, 0, QSAGA_DEF), cli_get(r, 0, QSAGA_VER));
    const char *sgr = c->color ? cli_status_color(status) : NULL;
    printf("status      %s%s%s%s%s%s\n", sgr ? "\033[" : "", sgr ? sgr : "",
           sgr ? "m" : "", status, sgr ? "\033[0m" : "",
           cli_get(r, 0, QSAGA_RESOLVED)[0] == 't'  ? " (resolved by an operator)"
           : cli_get(r, 0, QSAGA_ABORTED)[0] == 't'
               ? (cli_has_parent(c, cli_get(r, 0, QSAGA_ID)) ? " (compensated by its parent)"
                                                              : " (aborted by an operator)")
                                                : "");
    printf("input       %s\n", cli_get(r, 0, QSAGA_INPUT));
    if (!cli_null(r, 0, QSAGA_KEY))
        printf("key         %s\n", cli_get(r, 0, QSAGA_KEY));
    printf("trace       %s\n", cli_get(r, 0, QSAGA_TRACE));
    cli_show_family(c, cli_get(r, 0, QSAGA_ID));
    cli_flow_print(c, r, 0, QSAGA_FLOW, status);
    cli_time_text(c, created, t1, sizeof t1);
    saga_time_format_utc(created, t2, sizeof t2);
    printf("created     %s%s%s%s\n", t1, c->utc ? "" : " (", c->utc ? "" : t2,
           c->utc ? "" : ")");
    if (finished) {
        cli_time_text(c, finished, t1, sizeof t1);
        cli_duration_text(finished - created, dur, sizeof dur);
        printf("finished    %s\nduration    %s\n", t1, dur);
    } else {
        cli_duration_text(c->now_ms - created, dur, sizeof dur);
        cli_time_text(c, cli_get_i64(r, 0, QSAGA_PROGRESS), t1, sizeof t1);
        printf("finished    -\nduration    %s so far\nprogress    %s\n", dur, t1);
    }
    if (stuck) {
        cli_waiting w;
        cli_waiting_from(c, r, 0, QSAGA_WAIT, cli_get(r, 0, QSAGA_DEF),
                         (int)cli_get_i64(r, 0, QSAGA_VER), &w);
        char text[SAGA_MACHINE_ERROR_MAX * 2];
        size_t n = cli_flow_cause(r, 0, QSAGA_FLOW, text, sizeof text);
        if (w.any)
            cli_waiting_text(c, &w, text + n, sizeof text - n);
        else
            snprintf(text, sizeof text, "%s", cli_get(r, 0, QSAGA_REASON));
        printf("stuck       %s%s%s\n", c->color ? "\033[31m" : "", text,
               c->color ? "\033[0m" : "");
    }
}

static const char *dash(const PGresult *r, int i, int col)
{
    return cli_null(r, i, col) || !*cli_get(r, i, col) ? "-" : cli_get(r, i, col);
}

static const char *outcome_color(const char *o)
{
    if (strcmp(o, "OK") == 0)
        return "32";
    if (strcmp(o, "REJECTED") == 0)
        return CLI_SGR_YELLOW;
    if (strcmp(o, "RETRY") == 0)
        return CLI_SGR_RED;
    return NULL;
}

static void print_steps(cli *c, const shown *s)
{
    const PGresult *r = s->steps;
    const char *def = cli_get(s->saga, 0, QSAGA_DEF);
    int ver = (int)cli_get_i64(s->saga, 0, QSAGA_VER);
    saga_table *t = cli_table(9);
    static const char *const heads[] = {"STEP", "PARTICIPANT", "STATUS", "ATTEMPTS",
                                        "RESERVE", "CONFIRM", "COMPENSATE",
                                        "LAST ERROR", "RESULT"};
    for (size_t k = 0; k < 9; k++)
        saga_table_column(t, k, heads[k], k >= 7 ? SAGA_TABLE_SHRINK : 0);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *status = cli_get(r, i, QSTEP_STATUS);
        saga_table_row(t);
        saga_table_cell(t, 0, cli_get(r, i, QSTEP_NAME), NULL);
        saga_table_cell(t, 1, cli_participant(c, def, ver, cli_get(r, i, QSTEP_NAME)),
                        NULL);
        saga_table_cell(t, 2, status, cli_status_color(status));
        saga_table_cellf(t, 3, NULL, "%s/%s/%s", cli_get(r, i, QSTEP_RA),
                         cli_get(r, i, QSTEP_CA),
                         cli_get(r, i, QSTEP_XA));
        for (int k = 0; k < 3; k++) {
            const char *o = dash(r, i, QSTEP_RO + k);
            saga_table_cell(t, 4 + (size_t)k, o, outcome_color(o));
        }
        saga_table_cell(t, 7, dash(r, i, QSTEP_ERROR), NULL);
        saga_table_cell(t, 8, dash(r, i, QSTEP_RESULT), NULL);
    }
    cli_table_print(c, t);
    saga_table_free(t);
}

static const char *kind_color(const char *kind)
{
    if (strcmp(kind, "timeout") == 0 || strcmp(kind, "stuck") == 0 ||
        strcmp(kind, "error") == 0 || strcmp(kind, "exhausted") == 0)
        return CLI_SGR_RED;
    if (strcmp(kind, "operator") == 0 || strcmp(kind, "request") == 0 ||
        strcmp(kind, "transition") == 0)
        return CLI_SGR_BOLD;
    if (strcmp(kind, "ignored") == 0 || strcmp(kind, "backoff") == 0)
        return CLI_SGR_YELLOW;
    return NULL;
}

static void print_timeline(cli *c, const shown *s)
{
    const PGresult *r = s->history;
    int64_t created = cli_get_i64(s->saga, 0, QSAGA_CREATED);
    saga_table *t = cli_table(6);
    static const char *const heads[] = {"TIME", "KIND", "STEP", "ACTION", "OUTCOME",
                                        "DETAIL"};
    for (size_t k = 0; k < 6; k++)
        saga_table_column(t, k, heads[k],
                          k == 0 ? SAGA_TABLE_RIGHT : k == 5 ? SAGA_TABLE_SHRINK : 0);
    for (int i = 0; i < PQntuples(r); i++) {
        if (strcmp(cli_get(r, i, QHIST_KIND), "hop") == 0)
            continue; /* --timing tells these */
        int64_t at = cli_get_i64(r, i, QHIST_AT);
        char when[SAGA_TIME_TEXT_MAX], action[48] = "-", detail[1024];
        if (c->utc) {
            saga_time_format_utc(at, when, sizeof when);
        } else {
            /* The created row is stamped by the client's clock and
             * created_at by the server's: never show a negative offset. */
            saga_duration_format(at > created ? at - created : 0, 2, when + 1,
                                 sizeof when - 1);
            when[0] = '+';
        }
        if (!cli_null(r, i, QHIST_ACTION))
            cli_history_action(r, i, action, sizeof action);
        snprintf(detail, sizeof detail, "%s%s%s", cli_get(r, i, QHIST_TEXT),
                 cli_null(r, i, QHIST_ACTOR) ? "" : " (by ",
                 cli_null(r, i, QHIST_ACTOR) ? "" : cli_get(r, i, QHIST_ACTOR));
        if (!cli_null(r, i, QHIST_ACTOR))
            strncat(detail, ")", sizeof detail - strlen(detail) - 1);
        const char *kind = cli_get(r, i, QHIST_KIND);
        const char *outcome = dash(r, i, QHIST_OUTCOME);
        saga_table_row(t);
        saga_table_cell(t, 0, when, CLI_SGR_DIM);
        saga_table_cell(t, 1, kind, kind_color(kind));
        saga_table_cell(t, 2, dash(r, i, QHIST_STEP), NULL);
        saga_table_cell(t, 3, action, NULL);
        saga_table_cell(t, 4, outcome, outcome_color(outcome));
        saga_table_cell(t, 5, detail, NULL);
    }
    cli_table_print(c, t);
    saga_table_free(t);
}

static void print_audit(cli *c, const shown *s)
{
    const PGresult *r = s->history;
    saga_table *t = cli_table(3);
    saga_table_column(t, 0, "WHEN", 0);
    saga_table_column(t, 1, "WHO", 0);
    saga_table_column(t, 2, "ACTION", SAGA_TABLE_SHRINK);
    for (int i = 0; i < PQntuples(r); i++) {
        if (cli_null(r, i, QHIST_ACTOR) ||
            strcmp(cli_get(r, i, QHIST_KIND), "operator") != 0)
            continue;
        char when[SAGA_TIME_TEXT_MAX];
        cli_time_text(c, cli_get_i64(r, i, QHIST_AT), when, sizeof when);
        saga_table_row(t);
        saga_table_cell(t, 0, when, NULL);
        saga_table_cell(t, 1, cli_get(r, i, QHIST_ACTOR), NULL);
        saga_table_cell(t, 2, cli_get(r, i, QHIST_TEXT), NULL);
    }
    if (saga_table_rows(t)) {
        printf("\noperator actions:\n");
        cli_table_print(c, t);
    }
    saga_table_free(t);
}

static void print_human(cli *c, const shown *s)
{
    print_header(c, s);
    printf("\n");
    print_steps(c, s);
    printf("\ntimeline");
    if (s->total_history > PQntuples(s->history))
        printf(" (last %d of %ld entries)", PQntuples(s->history), s->total_history);
    printf(":\n");
    print_timeline(c, s);
    print_audit(c, s);
    printf("\n");
    pending_lines(c, s, NULL, true);
}

static int load(cli *c, const char *id, const char *last, shown *s, saga_error *err)
{
    const char *p1[1] = {id};
    if (!(s->saga = cli_query(c, saga_query_saga, 1, p1, err)))
        return err->code;
    if (PQntuples(s->saga) == 0)
        return saga_error_set(err, SAGA_ENOTFOUND, "saga %s disappeared (pruned?)", id);
    if (!(s->steps = cli_query(c, saga_query_steps, 1, p1, err)))
        return err->code;
    const char *p2[2] = {id, last};
    if (!(s->history = cli_query(c, saga_query_history, 2, p2, err)))
        return err->code;
    s->total_history = PQntuples(s->history);
    if (last) {
        PGresult *r = cli_query(c, saga_query_history_count, 1, p1, err);
        if (!r)
            return err->code;
        s->total_history = (long)cli_get_i64(r, 0, 0);
        PQclear(r);
    }
    return 0;
}

static void shown_free(shown *s)
{
    PQclear(s->saga);
    PQclear(s->steps);
    PQclear(s->history);
    *s = (shown){0};
}

static int parse_last(const cli_args *a, long *last, saga_error *err)
{
    *last = 0;
    if (cli_value_int(a, "last", 1, 1000000, last, err))
        return SAGA_EINVAL;
    const char *f = cli_value(a, "format");
    if (f && strcmp(f, "dot") != 0 && strcmp(f, "svg") != 0) {
        saga_error_set(err, SAGA_EINVAL, "--format: invalid value \"%.32s\"", f);
        saga_error_hint(err, "expected dot or svg");
        return SAGA_EINVAL;
    }
    return 0;
}

/* Resolves the id and reads the saga, its steps and history in one
 * snapshot: a saga advancing meanwhile must not show steps newer than its
 * header. */
static int fetch(cli *c, const cli_args *a, shown *s, saga_error *err)
{
    *s = (shown){0};
    long last;
    if (parse_last(a, &last, err))
        return SAGA_EINVAL;
    char id[SAGA_ID_LEN + 1];
    int rc = cli_resolve_id(c, a->pos[0], id, err);
    if (rc)
        return rc;
    if ((rc = saga_pg_exec(c->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err)))
        return rc;
    char last_text[24];
    snprintf(last_text, sizeof last_text, "%ld", last);
    rc = load(c, id, last ? last_text : NULL, s, err);
    saga_pg_rollback(c->conn);
    if (rc)
        shown_free(s);
    return rc;
}

int cli_doc_show(cli *c, const cli_args *a, json_t **doc, saga_error *err)
{
    shown s;
    int rc = fetch(c, a, &s, err);
    if (rc)
        return rc;
    *doc = show_doc(c, &s);
    shown_free(&s);
    return *doc ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
}

static int check(cli *c, const cli_args *a)
{
    (void)c;
    saga_error err;
    long last;
    return parse_last(a, &last, &err) ? cli_usage_fail(&err) : CLI_EXIT_OK;
}

static int run(cli *c, const cli_args *a)
{
    saga_error err;
    json_t *doc;
    const char *format = cli_value(a, "format");
    if (cli_flag(a, "timing"))
        return cli_show_timing(c, a->pos[0], cli_flag(a, "json"));
    if (format || cli_flag(a, "json")) {
        if (cli_doc_show(c, a, &doc, &err))
            return cli_fail(c, &err);
        if (!format)
            return cli_json_print(doc, false);
        int status = cli_graph_print(c, doc, format);
        json_decref(doc);
        return status;
    }
    shown s;
    if (fetch(c, a, &s, &err))
        return cli_fail(c, &err);
    print_human(c, &s);
    shown_free(&s);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_show = {
    .name = "show",
    .synopsis = "ID [--last N] [--json | --format dot|svg | --timing [--json]]",
    .summary = "show one saga: header, steps, timeline, what it waits for",
    .description =
        "Shows a saga (ID may be any unique prefix of its id): definition,\n"
        "status, input, times and stuck reason; a table of its steps (attempts\n"
        "as reserve/confirm/compensate, the outcome of each action's latest\n"
        "dispatch, last error, reserve result); the timeline of every command\n"
        "sent, reply received (applied or ignored, and why), timeout, backoff,\n"
        "transition and operator action, timed from the saga's creation; the\n"
        "operator actions with who asked for them; and what the saga is waiting\n"
        "for now. --format dot|svg prints the step graph instead, coloured by\n"
        "step status (the picture the console shows). --timing prints, per\n"
        "command and reply, the sagad turn by phase, the Kafka transits, the\n"
        "waits for a busy sagad or worker, and the worker's batch by phase.",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 1,
    .max_pos = 1,
    .needs_db = true,
    .check = check,
    .run = run,
};
