/*
 * stuck.c - `sagactl stuck`: sagas that stopped making progress, and why.
 *
 * By default "stuck" means what the engine means: flagged, or past its own
 * definition's stuck_after_ms (sagad may not have run its check yet), so
 * the definitions' thresholds are sent along as a small JSON record set and
 * joined, one query whatever the mix of definitions. --threshold replaces
 * them with one duration. During an incident hundreds of sagas are stuck
 * for the same reason, so a count by definition, step and reason comes
 * first: the operator sees one problem, not a wall of ids.
 */
#include <stdlib.h>
#include <string.h>

#include "defs.h"
#include "sagactl.h"

#define DEFAULT_LIMIT 100
#define GROUP_WHEN_MORE_THAN 5

static const cli_opt OPTS[] = {
    {"threshold", CLI_VALUE, "DUR",
     "no progress for longer than DUR (default: each definition's stuck_after_ms)"},
    {"def", CLI_VALUE, "NAME[@V]", "only sagas of this definition"},
    {"limit", CLI_VALUE, "N", "list at most N sagas (default 100; counts cover all)"},
    {"json", CLI_FLAG, NULL, "print one JSON document"},
};

/* [{"n": name, "v": version, "ms": stuck_after_ms}] for every stored version. */
static json_t *thresholds(cli *c, saga_error *err)
{
    saga_def_list list = {0};
    if (saga_defs_list(c->conn, &list, err))
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < list.n; i++) {
        for (size_t k = 0; k < list.items[i].n_versions; k++) {
            int v = list.items[i].versions[k];
            saga_error ignored;
            const saga_spec *spec = cli_spec(c, list.items[i].name, v, &ignored);
            int64_t ms = spec ? spec->stuck_after_ms : SAGA_SPEC_DEFAULT_STUCK_AFTER_MS;
            json_array_append_new(arr, json_pack("{s:s, s:i, s:I}", "n",
                                                 list.items[i].name, "v", v, "ms",
                                                 (json_int_t)ms));
        }
    }
    saga_def_list_free(&list);
    return arr;
}

/* The reason shared by a group: the waiting sentence without attempt and
 * times, and without in-flight versus backing-off, which only says where in
 * its retry cycle each saga happens to be. */
static void group_reason(cli *c, const PGresult *r, int i, char *buf, size_t cap)
{
    if (cli_null(r, i, QGROUP_STEP)) {
        snprintf(buf, cap, "no command pending");
        return;
    }
    const char *participant = cli_participant(c, cli_get(r, i, QGROUP_DEF),
                                              (int)cli_get_i64(r, i, QGROUP_VER),
                                              cli_get(r, i, QGROUP_STEP));
    const char *err = cli_get(r, i, QGROUP_ERROR);
    if (strcmp(participant, "signal") == 0) {
        snprintf(buf, cap, "waiting for signal %s", cli_get(r, i, QGROUP_STEP));
        return;
    }
    snprintf(buf, cap, "awaiting %s %s reply%s%s%s", participant,
             cli_get(r, i, QGROUP_ACTION), *err ? ", last error \"" : "", err,
             *err ? "\"" : "");
}

static void saga_reason(cli *c, const PGresult *r, int i, char *buf, size_t cap)
{
    cli_waiting w;
    cli_waiting_from(c, r, i, QSTUCK_WAIT, cli_get(r, i, QSTUCK_DEF),
                     (int)cli_get_i64(r, i, QSTUCK_VER),
                     &w);
    /* A saga compensating because its deadline passed says so first, as
     * the engine's stored reason does ("deadline of 30s passed; ..."). */
    size_t n = cli_flow_cause(r, i, QSTUCK_FLOW, buf, cap);
    if (w.any)
        cli_waiting_text(c, &w, buf + n, cap - n);
    else if (!cli_null(r, i, QSTUCK_REASON))
        snprintf(buf, cap, "%s", cli_get(r, i, QSTUCK_REASON));
    else
        snprintf(buf + n, cap - n, "no command pending");
}

static json_t *stuck_doc(cli *c, const PGresult *list, const PGresult *groups,
                         long total, int64_t threshold)
{
    json_t *g = json_array();
    for (int i = 0; i < PQntuples(groups); i++) {
        char reason[SAGA_MACHINE_ERROR_MAX * 2];
        group_reason(c, groups, i, reason, sizeof reason);
        json_t *o = json_pack("{s:s, s:i}", "name", cli_get(groups, i, QGROUP_DEF),
                              "version",
                              (int)cli_get_i64(groups, i, QGROUP_VER));
        json_object_set_new(o, "step", cli_json_col(groups, i, QGROUP_STEP));
        json_object_set_new(o, "action", cli_json_col(groups, i, QGROUP_ACTION));
        json_object_set_new(o, "last_error",
                            cli_json_str(cli_get(groups, i, QGROUP_ERROR)));
        json_object_set_new(o, "reason", json_string(reason));
        json_object_set_new(o, "count", json_integer(cli_get_i64(groups, i, QGROUP_COUNT)));
        json_object_set_new(o, "oldest_progress_at",
                            cli_time_json(cli_get_i64(groups, i, QGROUP_OLDEST)));
        json_array_append_new(g, o);
    }
    json_t *s = json_array();
    cli utc = *c;
    utc.utc = true;
    for (int i = 0; i < PQntuples(list); i++) {
        char reason[SAGA_MACHINE_ERROR_MAX * 2];
        saga_reason(&utc, list, i, reason, sizeof reason);
        int64_t progress = cli_get_i64(list, i, QSTUCK_PROGRESS);
        json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "id", cli_get(list, i, QSTUCK_ID),
                              "name",
                              cli_get(list, i, QSTUCK_DEF), "version",
                              (int)cli_get_i64(list, i, QSTUCK_VER), "status",
                              cli_get(list, i, QSTUCK_STATUS));
        json_object_set_new(o, "created_at",
                            cli_time_json(cli_get_i64(list, i, QSTUCK_CREATED)));
        json_object_set_new(o, "progress_at", cli_time_json(progress));
        json_object_set_new(o, "no_progress_ms", json_integer(c->now_ms - progress));
        json_object_set_new(o, "flagged",
                            json_boolean(cli_get(list, i, QSTUCK_FLAGGED)[0] == 't'));
        json_object_set_new(o, "stuck_reason", cli_json_col(list, i, QSTUCK_REASON));
        json_object_set_new(o, "reason", json_string(reason));
        json_array_append_new(s, o);
    }
    json_t *doc = json_pack("{s:o, s:I, s:o, s:o}", "threshold_ms",
                            threshold ? json_integer(threshold) : json_null(), "count",
                            (json_int_t)total, "groups", g, "sagas", s);
    return doc;
}

static void print_groups(cli *c, const PGresult *r)
{
    saga_table *t = cli_table(5);
    saga_table_column(t, 0, "COUNT", SAGA_TABLE_RIGHT);
    saga_table_column(t, 1, "DEFINITION", 0);
    saga_table_column(t, 2, "STEP", 0);
    saga_table_column(t, 3, "OLDEST", SAGA_TABLE_RIGHT);
    saga_table_column(t, 4, "REASON", SAGA_TABLE_SHRINK);
    for (int i = 0; i < PQntuples(r); i++) {
        char reason[SAGA_MACHINE_ERROR_MAX * 2], oldest[SAGA_TIME_TEXT_MAX];
        group_reason(c, r, i, reason, sizeof reason);
        cli_time_text(c, cli_get_i64(r, i, QGROUP_OLDEST), oldest, sizeof oldest);
        saga_table_row(t);
        saga_table_cell(t, 0, cli_get(r, i, QGROUP_COUNT), NULL);
        saga_table_cellf(t, 1, NULL, "%s@%s", cli_get(r, i, QGROUP_DEF),
                         cli_get(r, i, QGROUP_VER));
        const char *step = cli_null(r, i, QGROUP_STEP) ? "-" : cli_get(r, i, QGROUP_STEP);
        saga_table_cell(t, 2, step, NULL);
        saga_table_cell(t, 3, oldest, NULL);
        saga_table_cell(t, 4, reason, NULL);
    }
    cli_table_print(c, t);
    saga_table_free(t);
}

static void print_list(cli *c, const PGresult *r)
{
    saga_table *t = cli_table(5);
    saga_table_column(t, 0, "ID", 0);
    saga_table_column(t, 1, "DEFINITION", 0);
    saga_table_column(t, 2, "STATUS", 0);
    saga_table_column(t, 3, "PROGRESS", SAGA_TABLE_RIGHT);
    saga_table_column(t, 4, "REASON", SAGA_TABLE_SHRINK);
    for (int i = 0; i < PQntuples(r); i++) {
        char reason[SAGA_MACHINE_ERROR_MAX * 2], prog[SAGA_TIME_TEXT_MAX];
        saga_reason(c, r, i, reason, sizeof reason);
        cli_time_text(c, cli_get_i64(r, i, QSTUCK_PROGRESS), prog, sizeof prog);
        const char *status = cli_get(r, i, QSTUCK_STATUS);
        saga_table_row(t);
        saga_table_cell(t, 0, cli_get(r, i, QSTUCK_ID), NULL);
        saga_table_cellf(t, 1, NULL, "%s@%s", cli_get(r, i, QSTUCK_DEF),
                         cli_get(r, i, QSTUCK_VER));
        saga_table_cell(t, 2, status, cli_status_color(status));
        saga_table_cell(t, 3, prog, NULL);
        saga_table_cell(t, 4, reason, NULL);
    }
    cli_table_print(c, t);
    saga_table_free(t);
}

typedef struct options {
    int64_t threshold;
    long limit;
    char def[SAGA_SPEC_MAX_NAME + 1];
    int version;
} options;

static int parse(const cli_args *a, options *o, saga_error *err)
{
    memset(o, 0, sizeof *o);
    o->limit = DEFAULT_LIMIT;
    const char *v;
    if (cli_value_duration(a, "threshold", &o->threshold, err) ||
        cli_value_int(a, "limit", 1, 100000, &o->limit, err) ||
        ((v = cli_value(a, "def")) &&
         saga_defs_parse_ref(v, o->def, sizeof o->def, &o->version, err)))
        return SAGA_EINVAL;
    return 0;
}

static int check(cli *c, const cli_args *a)
{
    (void)c;
    saga_error err;
    options o;
    return parse(a, &o, &err) ? cli_usage_fail(&err) : CLI_EXIT_OK;
}

/* The counts and the sagas, as the query answered them (both owned). */
typedef struct board {
    PGresult *groups, *list;
    long total;
    bool has_threshold;
    int64_t threshold;
} board;

static int fetch(cli *c, const cli_args *a, board *b, saga_error *err)
{
    memset(b, 0, sizeof *b);
    options o;
    if (parse(a, &o, err))
        return SAGA_EINVAL;
    b->threshold = o.threshold;
    b->has_threshold = cli_value(a, "threshold") != NULL;
    json_t *th = b->has_threshold ? NULL : thresholds(c, err);
    if (!b->has_threshold && !th)
        return err->code;
    char *th_text = th ? json_dumps(th, JSON_COMPACT) : NULL;
    json_decref(th);
    char ms[24], ver[16], lim[16];
    snprintf(ms, sizeof ms, "%lld", (long long)o.threshold);
    snprintf(ver, sizeof ver, "%d", o.version);
    snprintf(lim, sizeof lim, "%ld", o.limit);
    const char *params[5] = {th_text, b->has_threshold ? ms : NULL,
                             o.def[0] ? o.def : NULL, o.version ? ver : NULL, lim};
    b->groups = cli_query(c, saga_query_stuck_groups, 4, params, err);
    b->list = b->groups ? cli_query(c, saga_query_stuck_list, 5, params, err) : NULL;
    free(th_text);
    if (!b->list) {
        PQclear(b->groups);
        return err->code;
    }
    for (int i = 0; i < PQntuples(b->groups); i++)
        b->total += (long)cli_get_i64(b->groups, i, QGROUP_COUNT);
    return 0;
}

int cli_doc_stuck(cli *c, const cli_args *a, json_t **doc, saga_error *err)
{
    board b;
    int rc = fetch(c, a, &b, err);
    if (rc)
        return rc;
    *doc = stuck_doc(c, b.list, b.groups, b.total, b.has_threshold ? b.threshold : 0);
    PQclear(b.groups);
    PQclear(b.list);
    json_t *circuits = *doc ? cli_circuits_json(c, err) : NULL;
    if (*doc && !circuits) {
        json_decref(*doc);
        return err->code;
    }
    if (*doc)
        json_object_set_new(*doc, "circuits", circuits);
    return *doc ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
}

static void print_human(cli *c, const board *b)
{
    char th_desc[64];
    if (b->has_threshold) {
        char d[SAGA_TIME_TEXT_MAX];
        saga_duration_format(b->threshold, 2, d, sizeof d);
        snprintf(th_desc, sizeof th_desc, "no progress for over %s", d);
    } else {
        snprintf(th_desc, sizeof th_desc, "flagged, or past their definition's stuck_after_ms");
    }
    if (b->total == 0) {
        printf("no stuck sagas (%s)\n", th_desc);
        return;
    }
    printf("%ld stuck saga%s (%s)\n\n", b->total, b->total == 1 ? "" : "s", th_desc);
    if (b->total > GROUP_WHEN_MORE_THAN) {
        print_groups(c, b->groups);
        printf("\n");
    }
    print_list(c, b->list);
    if (b->total > PQntuples(b->list))
        printf("... %ld more (raise --limit to list them)\n", b->total - PQntuples(b->list));
}

static int run(cli *c, const cli_args *a)
{
    saga_error err;
    json_t *doc;
    if (cli_flag(a, "json"))
        return cli_doc_stuck(c, a, &doc, &err) ? cli_fail(c, &err)
                                                : cli_json_print(doc, false);
    board b;
    if (fetch(c, a, &b, &err))
        return cli_fail(c, &err);
    if (cli_circuits_print(c, &err)) {
        PQclear(b.groups);
        PQclear(b.list);
        return cli_fail(c, &err);
    }
    print_human(c, &b);
    PQclear(b.groups);
    PQclear(b.list);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_stuck = {
    .name = "stuck",
    .synopsis = "[--threshold DUR] [--def NAME[@V]] [--limit N] [--json]",
    .summary = "non-terminal sagas without progress, with the reason",
    .description =
        "Lists RUNNING, CONFIRMING and COMPENSATING sagas that made no progress\n"
        "(no saga or step status change) for longer than their definition's\n"
        "stuck_after_ms, or flagged stuck by sagad; with --threshold, for longer\n"
        "than DUR. Each comes with what holds it up, e.g.\n"
        "  awaiting payment COMPENSATE reply, attempt 7, last error \"...\" 3m ago\n"
        "When there are more than 5, counts by definition, step and reason come\n"
        "first. Oldest progress first.",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .check = check,
    .run = run,
};
