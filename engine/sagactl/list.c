/*
 * list.c - `sagactl list`: sagas newest first, filtered, keyset-paginated.
 *
 * The query (saga_query_list, engine/queries.c) is assembled from the
 * filters given so that each shape walks one index in order and stops after
 * --limit rows, and the page's sagas are then decorated (steps in flight,
 * attempts) by primary key: a page costs O(limit) however many millions of
 * rows the table holds.
 *
 * A cursor is the last row's (created_at in microseconds, id): stable under
 * concurrent inserts, unlike OFFSET.
 */
#include <stdlib.h>
#include <string.h>

#include "defs.h"
#include "sagactl.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 100000

static const cli_opt OPTS[] = {
    {"status", CLI_VALUE, "S[,S]", "only these statuses (also: active, terminal)"},
    {"def", CLI_VALUE, "NAME[@V]", "only sagas of this definition (and version)"},
    {"parent", CLI_VALUE, "ID", "only the sub-sagas of this saga (id or unique prefix)"},
    {"stuck", CLI_FLAG, NULL, "only sagas flagged stuck"},
    {"since", CLI_VALUE, "DUR|TIME", "only sagas created since (5m, 2h, 2026-11-23 14:00)"},
    {"older-than", CLI_VALUE, "DUR", "only sagas created more than DUR ago"},
    {"limit", CLI_VALUE, "N", "at most N sagas (default 50)"},
    {"after", CLI_VALUE, "CURSOR", "continue after this cursor (from a previous page)"},
    {"tag", CLI_VALUE, "K=V", "only sagas with this tag (repeatable: all of them)"},
    {"where", CLI_VALUE, "input.F=V", "only sagas whose input field F equals V (repeatable)"},
    {"json", CLI_FLAG, NULL, "print one JSON document"},
    {"jsonl", CLI_FLAG, NULL, "print one JSON object per saga per line"},
};

static int parse_filters(cli *c, const cli_args *a, saga_query_list_filter *f,
                         saga_error *err)
{
    memset(f, 0, sizeof *f);
    f->limit = DEFAULT_LIMIT;
    const char *v;
    if ((v = cli_value(a, "status")) &&
        cli_parse_statuses(v, f->statuses, &f->n_status, err))
        return SAGA_EINVAL;
    if ((v = cli_value(a, "def")) &&
        saga_defs_parse_ref(v, f->def, sizeof f->def, &f->def_version, err))
        return SAGA_EINVAL;
    f->stuck = cli_flag(a, "stuck");
    /* Checked here (before the database is there), resolved in run_list. */
    if ((v = cli_value(a, "parent")) && (!*v || strlen(v) > SAGA_ID_LEN))
        return saga_error_set(err, SAGA_EINVAL, "--parent: \"%.64s\" is not a saga id", v);
    if (cli_value_since(a, "since", c->now_ms, &f->since_ms, err))
        return SAGA_EINVAL;
    int64_t older = 0;
    if (cli_value_duration(a, "older-than", &older, err))
        return SAGA_EINVAL;
    if (cli_value(a, "older-than"))
        f->older_ms = c->now_ms - older;
    if (cli_value_int(a, "limit", 1, MAX_LIMIT, &f->limit, err))
        return SAGA_EINVAL;
    if ((v = cli_value(a, "after"))) {
        const char *us = strchr(v, '_');
        saga_idprefix p;
        saga_error ignored;
        size_t n = us ? (size_t)(us - v) : 0;
        bool ok = us && n > 0 && n < sizeof f->after_us &&
                  strspn(v, "0123456789") == n &&
                  saga_idprefix_parse(us + 1, &p, &ignored) == 0 &&
                  p.n_hex == SAGA_UUID_HEX_LEN;
        if (!ok) {
            saga_error_set(err, SAGA_EINVAL, "--after: invalid cursor \"%.80s\"", v);
            saga_error_hint(err, "use the cursor printed by the previous page "
                                 "(\"next\" or the JSON field next_cursor)");
            return SAGA_EINVAL;
        }
        memcpy(f->after_us, v, n);
        f->after_us[n] = '\0';
        snprintf(f->after_id, sizeof f->after_id, "%s", p.lo);
    }
    return 0;
}

static json_t *saga_json(cli *c, const PGresult *r, int i)
{
    json_t *current = cli_json_parse_col(r, i, QLIST_CURRENT);
    if (json_is_null(current)) {
        json_decref(current);
        current = json_array();
    }
    char cursor[80];
    snprintf(cursor, sizeof cursor, "%s_%s", cli_get(r, i, QLIST_CURSOR),
             cli_get(r, i, QLIST_ID));
    json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "id", cli_get(r, i, QLIST_ID), "name",
                          cli_get(r, i, QLIST_DEF), "version",
                          (int)cli_get_i64(r, i, QLIST_VER), "status",
                          cli_get(r, i, QLIST_STATUS));
    json_object_set_new(o, "created_at", cli_time_json(cli_get_i64(r, i, QLIST_CREATED)));
    json_object_set_new(o, "progress_at", cli_time_json(cli_get_i64(r, i, QLIST_PROGRESS)));
    json_object_set_new(o, "finished_at", cli_time_json(cli_get_i64(r, i, QLIST_FINISHED)));
    json_object_set_new(o, "age_ms",
                        json_integer(c->now_ms - cli_get_i64(r, i, QLIST_CREATED)));
    json_object_set_new(o, "attempts", json_integer(cli_get_i64(r, i, QLIST_ATTEMPTS)));
    json_object_set_new(o, "current", current);
    json_object_set_new(o, "stuck", json_boolean(cli_get(r, i, QLIST_STUCK)[0] == 't'));
    json_object_set_new(o, "stuck_reason", cli_json_col(r, i, QLIST_REASON));
    json_object_set_new(o, "aborted", json_boolean(cli_get(r, i, QLIST_ABORTED)[0] == 't'));
    json_object_set_new(o, "resolved",
                        json_boolean(cli_get(r, i, QLIST_RESOLVED)[0] == 't'));
    cli_waiting w;
    cli_waiting_from(c, r, i, QLIST_WAIT, cli_get(r, i, QLIST_DEF),
                     (int)cli_get_i64(r, i, QLIST_VER), &w);
    if (w.any) {
        char text[SAGA_MACHINE_ERROR_MAX * 2];
        cli utc = *c;
        utc.utc = true;
        cli_waiting_text(&utc, &w, text, sizeof text);
        json_object_set_new(o, "waiting_for", json_string(text));
    } else {
        json_object_set_new(o, "waiting_for", json_null());
    }
    cli_flow_json(r, i, QLIST_FLOW, o);
    json_object_set_new(o, "cursor", json_string(cursor));
    return o;
}

/* "COMPENSATE payment (attempt 7)", further steps appended. */
static void current_text(const PGresult *r, int i, char *buf, size_t cap)
{
    buf[0] = '\0';
    json_t *cur = cli_json_parse_col(r, i, QLIST_CURRENT);
    size_t k = 0, idx;
    json_t *s;
    const char *last_action = "";
    json_array_foreach(cur, idx, s) {
        const char *action = json_string_value(json_object_get(s, "action"));
        const char *step = json_string_value(json_object_get(s, "step"));
        int attempt = (int)json_integer_value(json_object_get(s, "attempt"));
        bool in_flight = json_is_true(json_object_get(s, "in_flight"));
        if (!action || !step || k >= cap)
            continue;
        bool same = strcmp(action, last_action) == 0;
        k += (size_t)snprintf(buf + k, cap - k, "%s%s%s%s (attempt %d%s)",
                              idx ? ", " : "", same ? "" : action, same ? "" : " ",
                              step, attempt, in_flight ? "" : ", backing off");
        last_action = action;
    }
    if (!buf[0] && k < cap)
        snprintf(buf, cap, "-");
    json_decref(cur);
}

static void flags_text(const PGresult *r, int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s",
             cli_get(r, i, QLIST_STUCK)[0] == 't' ? "stuck " : "",
             cli_get(r, i, QLIST_ABORTED)[0] == 't' ? "aborted " : "",
             cli_get(r, i, QLIST_RESOLVED)[0] == 't' ? "resolved " : "");
    size_t n = strlen(buf);
    if (n)
        buf[n - 1] = '\0';
}

static void print_table(cli *c, const PGresult *r, int rows)
{
    saga_table *t = cli_table(8);
    saga_table_column(t, 0, "ID", 0);
    saga_table_column(t, 1, "DEFINITION", 0);
    saga_table_column(t, 2, "STATUS", 0);
    saga_table_column(t, 3, "CURRENT", SAGA_TABLE_SHRINK);
    saga_table_column(t, 4, "AGE", SAGA_TABLE_RIGHT);
    saga_table_column(t, 5, "PROGRESS", SAGA_TABLE_RIGHT);
    saga_table_column(t, 6, "ATTEMPTS", SAGA_TABLE_RIGHT);
    saga_table_column(t, 7, "FLAGS", 0);
    for (int i = 0; i < rows; i++) {
        char cur[512], flags[32], age[SAGA_TIME_TEXT_MAX], prog[SAGA_TIME_TEXT_MAX];
        current_text(r, i, cur, sizeof cur);
        flags_text(r, i, flags, sizeof flags);
        int64_t created = cli_get_i64(r, i, QLIST_CREATED);
        if (c->utc)
            saga_time_format_utc(created, age, sizeof age);
        else
            saga_duration_format(c->now_ms - created, 1, age, sizeof age);
        cli_time_text(c, cli_get_i64(r, i, QLIST_PROGRESS), prog, sizeof prog);
        const char *status = cli_get(r, i, QLIST_STATUS);
        saga_table_row(t);
        saga_table_cell(t, 0, cli_get(r, i, QLIST_ID), NULL);
        saga_table_cellf(t, 1, NULL, "%s@%s", cli_get(r, i, QLIST_DEF),
                         cli_get(r, i, QLIST_VER));
        saga_table_cell(t, 2, status, cli_status_color(status));
        saga_table_cell(t, 3, cur, NULL);
        saga_table_cell(t, 4, age, NULL);
        saga_table_cell(t, 5, prog, NULL);
        saga_table_cellf(t, 6, NULL, "%lld", (long long)cli_get_i64(r, i, QLIST_ATTEMPTS));
        saga_table_cell(t, 7, flags, flags[0] == 's' ? CLI_SGR_RED : NULL);
    }
    cli_table_print(c, t);
    saga_table_free(t);
}

static int check(cli *c, const cli_args *a)
{
    saga_error err;
    saga_query_list_filter f;
    char *tags = NULL, *input = NULL;
    int rc = parse_filters(c, a, &f, &err) || cli_list_keys(a, &tags, &input, &err);
    free(tags);
    free(input);
    return rc ? cli_usage_fail(&err) : CLI_EXIT_OK;
}

/* One page of sagas: the query's rows (owned), how many belong to the page
 * (the query fetches one more to learn whether a next page exists) and the
 * cursor of that next page ("" when none). */
typedef struct page {
    PGresult *r;
    int rows;
    bool more;
    char next[80];
} page;

static int fetch(cli *c, const cli_args *a, page *p, saga_error *err)
{
    memset(p, 0, sizeof *p);
    saga_query_list_filter f;
    char *tags = NULL, *input = NULL;
    if (parse_filters(c, a, &f, err) || cli_list_keys(a, &tags, &input, err)) {
        free(tags);
        free(input);
        return SAGA_EINVAL;
    }
    f.tags_json = tags;
    f.input_json = input;
    const char *parent = cli_value(a, "parent");
    if (parent && cli_resolve_id(c, parent, f.parent, err)) {
        free(tags);
        free(input);
        return err->code;
    }
    saga_query_built q;
    int rc = saga_query_list(&f, &q);
    if (rc == 0)
        p->r = cli_query(c, q.sql, q.n, q.params, err);
    else
        saga_error_set(err, SAGA_ENOMEM, "out of memory");
    saga_query_built_free(&q);
    free(tags);
    free(input);
    if (!p->r)
        return err->code;
    int n = PQntuples(p->r);
    p->more = n > f.limit;
    p->rows = p->more ? (int)f.limit : n;
    if (p->more)
        snprintf(p->next, sizeof p->next, "%s_%s", cli_get(p->r, p->rows - 1, QLIST_CURSOR),
                 cli_get(p->r, p->rows - 1, QLIST_ID));
    return 0;
}

int cli_doc_list(cli *c, const cli_args *a, json_t **doc, saga_error *err)
{
    page p;
    int rc = fetch(c, a, &p, err);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < p.rows; i++)
        json_array_append_new(arr, saga_json(c, p.r, i));
    *doc = json_pack("{s:o, s:i, s:o}", "sagas", arr, "count", p.rows, "next_cursor",
                     cli_json_str(p.next));
    PQclear(p.r);
    return *doc ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
}

static int run(cli *c, const cli_args *a)
{
    saga_error err;
    json_t *doc;
    if (cli_flag(a, "json"))
        return cli_doc_list(c, a, &doc, &err) ? cli_fail(c, &err)
                                               : cli_json_print(doc, false);
    page p;
    if (fetch(c, a, &p, &err))
        return cli_fail(c, &err);
    int status = CLI_EXIT_OK;
    if (cli_flag(a, "jsonl")) {
        for (int i = 0; i < p.rows && status == 0; i++)
            status = cli_json_print(saga_json(c, p.r, i), true);
    } else if (p.rows == 0) {
        printf("no sagas match\n");
    } else {
        print_table(c, p.r, p.rows);
        if (p.more)
            printf("more: sagactl list ... --after %s\n", p.next);
    }
    PQclear(p.r);
    return status;
}

const cli_command cli_cmd_list = {
    .name = "list",
    .synopsis = "[--status S[,S]] [--def NAME[@V]] [--parent ID] [--stuck] [--since DUR|TIME] "
                "[--older-than DUR] [--tag K=V]... [--where input.F=V]... [--limit N] "
                "[--after CURSOR] [--json|--jsonl]",
    .summary = "list sagas, newest first",
    .description =
        "Lists sagas newest first: id, definition@version, status, the commands\n"
        "in flight (CURRENT: action, step, attempt), age, last progress, total\n"
        "commands sent (ATTEMPTS) and flags (stuck, aborted, resolved).\n"
        "Filters combine with AND. Pages are keyset-paginated: when more rows\n"
        "exist, the last line (or next_cursor in JSON) gives the --after cursor\n"
        "of the next page. Each page costs the same however large the table.",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .check = check,
    .run = run,
};
