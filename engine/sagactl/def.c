/*
 * def.c - `sagactl def validate|apply|list|show`: saga definitions.
 *
 * validate never touches the database, so it runs in CI and editors. apply
 * validates every file before connecting and stores them all in one
 * transaction: a deploy that ships three definitions gets all three or none,
 * and a refused version (same name@version, different content) leaves
 * nothing half-applied. Diagnostics go to stderr exactly as the spec parser
 * wrote them ("file:line:col: path: message" and "hint: ..." lines), so
 * editors can jump to them.
 */
#include <stdlib.h>
#include <string.h>

#include "defs.h"
#include "sagactl.h"

static const cli_opt JSON_OPT[] = {
    {"json", CLI_FLAG, NULL, "print one JSON document"},
};

static void print_diag(const saga_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->lines[i]);
}

static json_t *diag_json(const saga_diag *d)
{
    json_t *a = json_array();
    for (size_t i = 0; i < d->n; i++)
        json_array_append_new(a, json_string(d->lines[i]));
    return a;
}

/* Parses one file; prints its diagnostics unless json. Returns the spec
 * (owned) or NULL. */
static saga_spec *load_one(const char *path, bool json, json_t *files)
{
    saga_spec *spec = NULL;
    saga_diag d;
    saga_diag_init(&d);
    saga_error err;
    saga_error_clear(&err);
    int rc = saga_spec_load(path, &spec, &d, &err);
    if (json) {
        json_t *f = json_pack("{s:s, s:b}", "file", path, "valid", rc == 0);
        json_object_set_new(f, "name", spec ? json_string(spec->name) : json_null());
        json_object_set_new(f, "version", spec ? json_integer(spec->version) : json_null());
        json_t *lines = diag_json(&d);
        if (rc && d.n == 0)
            json_array_append_new(lines, json_string(err.msg));
        json_object_set_new(f, "diagnostics", lines);
        json_array_append_new(files, f);
    } else if (rc) {
        print_diag(&d);
        if (d.n == 0 || rc == SAGA_EIO)
            fprintf(stderr, "%s\n", err.msg);
    }
    saga_diag_free(&d);
    return rc ? NULL : spec;
}

static int run_validate(cli *c, const cli_args *a)
{
    (void)c;
    bool json = cli_flag(a, "json");
    json_t *files = json ? json_array() : NULL;
    int bad = 0;
    for (size_t i = 0; i < a->n_pos; i++) {
        saga_spec *spec = load_one(a->pos[i], json, files);
        if (!spec) {
            bad++;
            continue;
        }
        if (!json)
            printf("%s: ok (%s@%d, %zu step%s)\n", a->pos[i], spec->name,
                   spec->version, spec->n_steps, spec->n_steps == 1 ? "" : "s");
        saga_spec_free(spec);
    }
    if (json) {
        int rc = cli_json_print(json_pack("{s:o, s:b}", "files", files, "valid",
                                          bad == 0),
                                false);
        if (rc)
            return rc;
    } else if (bad && a->n_pos > 1) {
        fprintf(stderr, "%d of %zu files invalid\n", bad, a->n_pos);
    }
    return bad ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

const cli_command cli_cmd_def_validate = {
    .name = "def validate",
    .synopsis = "FILE... [--json]",
    .summary = "check saga spec files (no database needed)",
    .description =
        "Parses and validates each spec file and prints every problem as\n"
        "\"file:line:col: path: message\" (plus \"hint: ...\" lines) on stderr.\n"
        "Exit status 0 when every file is valid, 1 otherwise.",
    .opts = JSON_OPT,
    .n_opts = 1,
    .min_pos = 1,
    .max_pos = -1,
    .needs_db = false,
    .run = run_validate,
};

/* --- apply --------------------------------------------------------------- */

static const cli_opt APPLY_OPTS[] = {
    {"json", CLI_FLAG, NULL, "print one JSON document"},
    {"dry-run", CLI_FLAG, NULL, "validate and compare, store nothing"},
};

/* Prints why a spec that changed under an existing version was refused. */
static void print_conflict(cli *c, const char *file, const saga_spec *spec,
                           saga_defs_apply_result *res, const saga_error *err)
{
    fprintf(stderr, "%s: error: %s@%d (%s) differs from the stored definition:\n", c->prog,
            spec->name, spec->version, file);
    for (char *line = strtok(res->diff, "\n"); line; line = strtok(NULL, "\n"))
        fprintf(stderr, "    %s\n", line);
    fprintf(stderr, "hint: %s\n", err->hint[0] ? err->hint : "give the changed spec a new version");
}

/* Applies every spec in one transaction (rolled back with --dry-run) and
 * fills outcome[i] ("created" or "unchanged"). Returns the exit status. */
static int apply_all(cli *c, const cli_args *a, saga_spec **specs, const char **outcome)
{
    saga_error err;
    if (saga_pg_begin(c->conn, &err))
        return cli_fail(c, &err);
    for (size_t i = 0; i < a->n_pos; i++) {
        saga_defs_apply_result res = {0};
        int rc = saga_defs_apply(c->conn, specs[i], &res, &err);
        if (rc) {
            saga_pg_rollback(c->conn);
            int status = CLI_EXIT_FAIL;
            if (rc == SAGA_ECONFLICT && res.diff)
                print_conflict(c, a->pos[i], specs[i], &res, &err);
            else
                status = cli_fail(c, &err);
            saga_defs_apply_result_free(&res);
            return status;
        }
        outcome[i] = res.outcome == SAGA_DEFS_CREATED ? "created" : "unchanged";
        saga_defs_apply_result_free(&res);
    }
    if (cli_flag(a, "dry-run"))
        saga_pg_rollback(c->conn);
    else if (saga_pg_commit(c->conn, &err))
        return cli_fail(c, &err);
    return CLI_EXIT_OK;
}

static int print_applied(const cli_args *a, saga_spec **specs, const char **outcome,
                         json_t *files)
{
    bool dry = cli_flag(a, "dry-run"), json = cli_flag(a, "json");
    for (size_t i = 0; i < a->n_pos; i++) {
        const char *what = outcome[i];
        if (dry && strcmp(what, "created") == 0)
            what = "would be created";
        if (json)
            json_array_append_new(files, json_pack("{s:s, s:s, s:i, s:s, s:s}", "file",
                                                   a->pos[i], "name", specs[i]->name,
                                                   "version", specs[i]->version, "outcome",
                                                   outcome[i], "sha256", specs[i]->sha256));
        else
            printf("%s@%d: %s%s (%s)\n", specs[i]->name, specs[i]->version, what,
                   strcmp(what, "unchanged") == 0 ? ", identical spec already stored" : "",
                   a->pos[i]);
    }
    if (!json)
        return CLI_EXIT_OK;
    return cli_json_print(json_pack("{s:O, s:b}", "files", files, "dry_run", dry), false);
}

static int run_apply(cli *c, const cli_args *a)
{
    bool json = cli_flag(a, "json");
    saga_spec **specs = calloc(a->n_pos, sizeof *specs);
    const char **outcome = calloc(a->n_pos, sizeof *outcome);
    json_t *files = json_array();
    int status = CLI_EXIT_FAIL;
    if (specs && outcome && files) {
        int bad = 0;
        for (size_t i = 0; i < a->n_pos; i++)
            if (!(specs[i] = load_one(a->pos[i], json, files)))
                bad++;
        if (bad) {
            if (json)
                cli_json_print(json_pack("{s:O, s:b}", "files", files, "applied", 0), false);
            else if (a->n_pos > 1)
                fprintf(stderr, "%d of %zu files invalid: nothing applied\n", bad, a->n_pos);
        } else {
            json_array_clear(files);
            status = cli_connect(c, a);
            if (status == CLI_EXIT_OK)
                status = apply_all(c, a, specs, outcome);
            if (status == CLI_EXIT_OK)
                status = print_applied(a, specs, outcome, files);
        }
    }
    for (size_t i = 0; specs && i < a->n_pos; i++)
        saga_spec_free(specs[i]);
    free(specs);
    free(outcome);
    json_decref(files);
    return status;
}

const cli_command cli_cmd_def_apply = {
    .name = "def apply",
    .synopsis = "FILE... [--dry-run] [--json]",
    .summary = "validate spec files and store them as definitions",
    .description =
        "Validates every file first (nothing is stored if one is invalid), then\n"
        "stores each as name@version in one transaction. Applying an identical\n"
        "spec again is a no-op (\"unchanged\"); a different spec under an\n"
        "existing name@version is refused with the list of differences, because\n"
        "running sagas depend on a version never changing: bump \"version\".",
    .opts = APPLY_OPTS,
    .n_opts = sizeof APPLY_OPTS / sizeof APPLY_OPTS[0],
    .min_pos = 1,
    .max_pos = -1,
    .needs_db = false,
    .run = run_apply,
};

/* --- list ---------------------------------------------------------------- */

static int64_t parse_created(const char *s)
{
    int64_t ms = 0;
    saga_error err;
    if (!*s || saga_time_parse(s, &ms, &err))
        return 0;
    return ms;
}

static json_t *def_list_doc(const saga_def_list *list)
{
    json_t *defs = json_array();
    for (size_t i = 0; i < list->n; i++) {
        const saga_def_summary *d = &list->items[i];
        json_t *versions = json_array();
        for (size_t k = 0; k < d->n_versions; k++)
            json_array_append_new(versions, json_integer(d->versions[k]));
        json_array_append_new(defs, json_pack("{s:s, s:i, s:o, s:s}", "name", d->name,
                                              "latest", d->latest, "versions", versions,
                                              "applied_at", d->created_at));
    }
    return json_pack("{s:o}", "definitions", defs);
}

int cli_doc_def_list(cli *c, const cli_args *a, json_t **doc, saga_error *err)
{
    (void)a;
    saga_def_list list = {0};
    int rc = saga_defs_list(c->conn, &list, err);
    if (rc)
        return rc;
    *doc = def_list_doc(&list);
    saga_def_list_free(&list);
    return *doc ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
}

static int run_list(cli *c, const cli_args *a)
{
    saga_def_list list = {0};
    saga_error err;
    if (saga_defs_list(c->conn, &list, &err))
        return cli_fail(c, &err);
    if (cli_flag(a, "json")) {
        int status = cli_json_print(def_list_doc(&list), false);
        saga_def_list_free(&list);
        return status;
    }
    if (list.n == 0) {
        printf("no definitions yet; store one with sagactl def apply FILE\n");
        saga_def_list_free(&list);
        return CLI_EXIT_OK;
    }
    saga_table *t = cli_table(4);
    saga_table_column(t, 0, "NAME", 0);
    saga_table_column(t, 1, "LATEST", SAGA_TABLE_RIGHT);
    saga_table_column(t, 2, "VERSIONS", SAGA_TABLE_SHRINK);
    saga_table_column(t, 3, "APPLIED", 0);
    for (size_t i = 0; i < list.n; i++) {
        const saga_def_summary *d = &list.items[i];
        char versions[256] = "";
        size_t k = 0;
        for (size_t v = 0; v < d->n_versions && k + 16 < sizeof versions; v++)
            k += (size_t)snprintf(versions + k, sizeof versions - k, "%s%d",
                                  v ? "," : "", d->versions[v]);
        char when[SAGA_TIME_TEXT_MAX];
        cli_time_text(c, parse_created(d->created_at), when, sizeof when);
        saga_table_row(t);
        saga_table_cell(t, 0, d->name, NULL);
        saga_table_cellf(t, 1, NULL, "%d", d->latest);
        saga_table_cell(t, 2, versions, NULL);
        saga_table_cell(t, 3, when, NULL);
    }
    cli_table_print(c, t);
    saga_table_free(t);
    saga_def_list_free(&list);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_def_list = {
    .name = "def list",
    .synopsis = "[--json]",
    .summary = "list stored definitions and their versions",
    .description = "Lists every stored definition name with its versions and "
                   "when the latest\nversion was applied.",
    .opts = JSON_OPT,
    .n_opts = 1,
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .run = run_list,
};

/* --- show ---------------------------------------------------------------- */

static void print_steps(cli *c, const saga_spec *spec)
{
    saga_table *t = cli_table(7);
    static const char *const heads[] = {"STEP", "PARTICIPANT", "AFTER", "TIMEOUT",
                                        "ATTEMPTS", "CONFIRM", "COMPENSATE"};
    for (size_t i = 0; i < 7; i++)
        saga_table_column(t, i, heads[i], i == 2 ? SAGA_TABLE_SHRINK : 0);
    for (size_t i = 0; i < spec->n_steps; i++) {
        const saga_step_def *d = &spec->steps[i];
        char after[512] = "-";
        size_t k = 0;
        for (size_t j = 0; j < d->n_after && k + SAGA_SPEC_MAX_NAME + 2 < sizeof after; j++)
            k += (size_t)snprintf(after + k, sizeof after - k, "%s%s", j ? "," : "",
                                  spec->steps[d->after[j]].name);
        char timeout[SAGA_TIME_TEXT_MAX];
        saga_duration_format(d->timeout_ms, 2, timeout, sizeof timeout);
        saga_table_row(t);
        saga_table_cell(t, 0, d->name, NULL);
        saga_table_cell(t, 1, d->participant, NULL);
        saga_table_cell(t, 2, after, NULL);
        saga_table_cell(t, 3, timeout, NULL);
        saga_table_cellf(t, 4, NULL, "%d", d->retry.max_attempts);
        saga_table_cell(t, 5, d->confirm.command ? d->confirm.command : "-", NULL);
        saga_table_cell(t, 6,
                        d->compensate.command ? d->compensate.command
                                              : (d->irreversible ? "(irreversible)" : "-"),
                        NULL);
    }
    cli_table_print(c, t);
    saga_table_free(t);
}

static int fetch_def(cli *c, const cli_args *a, saga_def_row *row, saga_error *err)
{
    char name[SAGA_SPEC_MAX_NAME + 1];
    int version = 0;
    const char *f = cli_value(a, "format");
    if (f && strcmp(f, "dot") != 0 && strcmp(f, "svg") != 0) {
        saga_error_set(err, SAGA_EINVAL, "--format: invalid value \"%.32s\"", f);
        saga_error_hint(err, "expected dot or svg");
        return SAGA_EINVAL;
    }
    int rc = saga_defs_parse_ref(a->pos[0], name, sizeof name, &version, err);
    return rc ? rc : saga_defs_fetch(c->conn, name, version, row, err);
}

int cli_doc_def_show(cli *c, const cli_args *a, json_t **doc, saga_error *err)
{
    saga_def_row row = {0};
    int rc = fetch_def(c, a, &row, err);
    if (rc)
        return rc;
    json_t *spec_json = json_loads(row.canonical, 0, NULL);
    *doc = json_pack("{s:s, s:i, s:s, s:s, s:o}", "name", row.name, "version",
                     row.version, "sha256", row.sha256, "applied_at", row.created_at,
                     "spec", spec_json ? spec_json : json_null());
    saga_def_row_free(&row);
    return *doc ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
}

static int run_show(cli *c, const cli_args *a)
{
    saga_error err;
    json_t *doc;
    if (cli_flag(a, "json"))
        return cli_doc_def_show(c, a, &doc, &err) ? cli_fail(c, &err)
                                                   : cli_json_print(doc, false);
    saga_def_row row = {0};
    if (fetch_def(c, a, &row, &err))
        return cli_fail(c, &err);
    const saga_spec *spec = cli_spec(c, row.name, row.version, &err);
    const char *format = cli_value(a, "format");
    if (format) {
        saga_def_row_free(&row);
        return spec ? cli_graph_spec_print(spec, format) : cli_fail(c, &err);
    }
    json_t *spec_json = json_loads(row.canonical, 0, NULL);
    char when[SAGA_TIME_TEXT_MAX];
    cli_time_text(c, parse_created(row.created_at), when, sizeof when);
    printf("definition  %s@%d\n", row.name, row.version);
    printf("sha256      %s\n", row.sha256);
    printf("applied     %s\n", when);
    if (spec) {
        if (spec->description[0])
            printf("about       %s\n", spec->description);
        char stuck[SAGA_TIME_TEXT_MAX];
        saga_duration_format(spec->stuck_after_ms, 2, stuck, sizeof stuck);
        printf("stuck after %s without progress\n\n", stuck);
        print_steps(c, spec);
    } else {
        printf("(stored spec cannot be loaded: %s)\n", err.msg);
    }
    char *pretty = spec_json ? json_dumps(spec_json, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
    printf("\n%s\n", pretty ? pretty : row.canonical);
    free(pretty);
    json_decref(spec_json);
    saga_def_row_free(&row);
    return CLI_EXIT_OK;
}

static int check_show(cli *c, const cli_args *a)
{
    (void)c;
    const char *f = cli_value(a, "format");
    if (f && strcmp(f, "dot") != 0 && strcmp(f, "svg") != 0)
        return cli_usage_error(&cli_cmd_def_show, "--format: expected dot or svg");
    return CLI_EXIT_OK;
}

static const cli_opt SHOW_OPTS[] = {
    {"json", CLI_FLAG, NULL, "print one JSON document"},
    {"format", CLI_VALUE, "dot|svg", "print the step graph (Graphviz DOT or SVG) instead"},
};

const cli_command cli_cmd_def_show = {
    .name = "def show",
    .synopsis = "NAME[@VERSION] [--json | --format dot|svg]",
    .summary = "show a stored definition (latest version by default)",
    .description = "Shows name@version (the highest version when none is given): "
                   "its steps and\nthe stored canonical spec. --format dot|svg prints "
                   "the graph of its steps\n(dependencies; irreversible steps marked) "
                   "instead.",
    .opts = SHOW_OPTS,
    .n_opts = sizeof SHOW_OPTS / sizeof SHOW_OPTS[0],
    .min_pos = 1,
    .max_pos = 1,
    .needs_db = true,
    .check = check_show,
    .run = run_show,
};
