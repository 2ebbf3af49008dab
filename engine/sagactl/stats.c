/*
 * stats.c - `sagactl stats`: how the system is doing, at a glance.
 *
 * Everything but "active now" and "stuck now" covers a window (--since,
 * default the last hour): counting all sagas ever would make the numbers
 * slower to compute the longer the system runs and less useful too, since
 * yesterday's throughput says little about now. Percentiles are computed
 * by PostgreSQL (percentile_cont) over the window's finished sagas through
 * the finished_at index; active and stuck counts walk only the partial
 * index of non-terminal sagas.
 */
#include <stdlib.h>
#include <string.h>

#include "sagactl.h"

#define DEFAULT_WINDOW_MS (3600 * 1000LL)
#define MAX_BUCKETS 1000

static const cli_opt OPTS[] = {
    {"since", CLI_VALUE, "DUR|TIME", "window start (default 1h: the last hour)"},
    {"by", CLI_VALUE, "DUR", "also split the window into buckets of DUR (over time)"},
    {"json", CLI_FLAG, NULL, "print one JSON document"},
};

static const char *const STATUSES[] = {"RUNNING", "CONFIRMING", "COMPENSATING",
                                       "COMPLETED", "COMPENSATED"};

static int status_index(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(STATUSES[i], s) == 0)
            return i;
    return -1;
}

/* "{p50,p95,p99}" -> three milliseconds. */
static void percentiles(const char *arr, double out[3])
{
    out[0] = out[1] = out[2] = 0;
    const char *p = arr;
    for (int i = 0; i < 3 && p && *p; i++) {
        while (*p == '{' || *p == ',')
            p++;
        char *end;
        out[i] = strtod(p, &end);
        p = end;
    }
}

static void ms_text(double ms, char *buf, size_t cap)
{
    saga_duration_format((int64_t)(ms + 0.5), 2, buf, cap);
}

static json_t *stats_doc(cli *c, int64_t since, const PGresult *counts,
                         const PGresult *durs, const PGresult *now)
{
    double window_s = (double)(c->now_ms - since) / 1000.0;
    json_t *cs = json_array(), *totals = json_object();
    long started = 0;
    for (int i = 0; i < 5; i++)
        json_object_set_new(totals, STATUSES[i], json_integer(0));
    for (int i = 0; i < PQntuples(counts); i++) {
        int64_t n = cli_get_i64(counts, i, 2);
        started += (long)n;
        json_array_append_new(cs, json_pack("{s:s, s:s, s:I}", "name",
                                            cli_get(counts, i, 0), "status",
                                            cli_get(counts, i, 1), "count",
                                            (json_int_t)n));
        json_t *t = json_object_get(totals, cli_get(counts, i, 1));
        if (t)
            json_integer_set(t, json_integer_value(t) + n);
    }
    json_t *ds = json_array();
    long finished = 0;
    for (int i = 0; i < PQntuples(durs); i++) {
        double p[3];
        percentiles(cli_get(durs, i, 2), p);
        if (cli_null(durs, i, 0))
            finished = (long)cli_get_i64(durs, i, 1);
        json_array_append_new(ds, json_pack("{s:o, s:I, s:I, s:I, s:I, s:I}", "name",
                                            cli_json_col(durs, i, 0), "finished",
                                            (json_int_t)cli_get_i64(durs, i, 1),
                                            "p50_ms", (json_int_t)(p[0] + 0.5),
                                            "p95_ms", (json_int_t)(p[1] + 0.5),
                                            "p99_ms", (json_int_t)(p[2] + 0.5),
                                            "max_ms",
                                            (json_int_t)cli_get_i64(durs, i, 3)));
    }
    json_t *doc = json_pack("{s:o, s:I, s:o, s:o, s:o}", "since", cli_time_json(since),
                            "window_ms", (json_int_t)(c->now_ms - since), "counts", cs,
                            "totals", totals, "durations", ds);
    json_object_set_new(doc, "throughput",
                        json_pack("{s:I, s:I, s:f, s:f}", "started", (json_int_t)started,
                                  "finished", (json_int_t)finished, "started_per_s",
                                  window_s > 0 ? started / window_s : 0.0,
                                  "finished_per_s",
                                  window_s > 0 ? finished / window_s : 0.0));
    json_object_set_new(doc, "active", json_integer(cli_get_i64(now, 0, 0)));
    json_object_set_new(doc, "stuck", json_integer(cli_get_i64(now, 0, 1)));
    return doc;
}

/* Every bucket of the window, those without a saga as zeros, so a chart's
 * x axis is time and not "buckets that happened to have data". */
static json_t *series_json(int64_t since, int64_t by, int64_t now_ms, const PGresult *r)
{
    json_t *arr = json_array();
    int n = (int)((now_ms - since + by - 1) / by), row = 0;
    for (int k = 0; k < n; k++) {
        double p[3] = {0, 0, 0};
        int64_t started = 0, completed = 0, compensated = 0;
        while (row < PQntuples(r) && cli_get_i64(r, row, QSERIES_BUCKET) < k)
            row++;
        if (row < PQntuples(r) && cli_get_i64(r, row, QSERIES_BUCKET) == k) {
            started = cli_get_i64(r, row, QSERIES_STARTED);
            completed = cli_get_i64(r, row, QSERIES_COMPLETED);
            compensated = cli_get_i64(r, row, QSERIES_COMPENSATED);
            percentiles(cli_get(r, row, QSERIES_PCTL), p);
        }
        json_array_append_new(arr, json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "start",
                                             cli_time_json(since + k * by), "started",
                                             (json_int_t)started, "completed",
                                             (json_int_t)completed, "compensated",
                                             (json_int_t)compensated, "p50_ms",
                                             (json_int_t)(p[0] + 0.5), "p95_ms",
                                             (json_int_t)(p[1] + 0.5), "p99_ms",
                                             (json_int_t)(p[2] + 0.5)));
    }
    return arr;
}

static void print_counts(cli *c, const PGresult *r, long *started)
{
    saga_table *t = cli_table(7);
    saga_table_column(t, 0, "DEFINITION", 0);
    for (int i = 0; i < 5; i++)
        saga_table_column(t, (size_t)i + 1, STATUSES[i], SAGA_TABLE_RIGHT);
    saga_table_column(t, 6, "TOTAL", SAGA_TABLE_RIGHT);
    long total[6] = {0}, row[6] = {0};
    *started = 0;
    for (int i = 0; i <= PQntuples(r); i++) {
        bool flush = i == PQntuples(r) ||
                     (i > 0 && strcmp(cli_get(r, i, 0), cli_get(r, i - 1, 0)) != 0);
        if (flush && i > 0) {
            saga_table_row(t);
            saga_table_cell(t, 0, cli_get(r, i - 1, 0), NULL);
            for (int k = 0; k < 6; k++)
                saga_table_cellf(t, (size_t)k + 1, NULL, "%ld", row[k]);
            memset(row, 0, sizeof row);
        }
        if (i == PQntuples(r))
            break;
        int k = status_index(cli_get(r, i, 1));
        long n = (long)cli_get_i64(r, i, 2);
        if (k >= 0) {
            row[k] += n;
            total[k] += n;
        }
        row[5] += n;
        total[5] += n;
    }
    saga_table_row(t);
    saga_table_cell(t, 0, "all", CLI_SGR_BOLD);
    for (int k = 0; k < 6; k++)
        saga_table_cellf(t, (size_t)k + 1, CLI_SGR_BOLD, "%ld", total[k]);
    cli_table_print(c, t);
    saga_table_free(t);
    *started = total[5];
}

static long print_durations(cli *c, const PGresult *r)
{
    saga_table *t = cli_table(6);
    static const char *const heads[] = {"DEFINITION", "FINISHED", "P50", "P95", "P99",
                                        "MAX"};
    for (size_t k = 0; k < 6; k++)
        saga_table_column(t, k, heads[k], k ? SAGA_TABLE_RIGHT : 0);
    long finished = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        double p[3];
        char b[4][SAGA_TIME_TEXT_MAX];
        percentiles(cli_get(r, i, 2), p);
        for (int k = 0; k < 3; k++)
            ms_text(p[k], b[k], sizeof b[k]);
        ms_text((double)cli_get_i64(r, i, 3), b[3], sizeof b[3]);
        bool all = cli_null(r, i, 0);
        if (all)
            finished = (long)cli_get_i64(r, i, 1);
        const char *sgr = all ? CLI_SGR_BOLD : NULL;
        saga_table_row(t);
        saga_table_cell(t, 0, all ? "all" : cli_get(r, i, 0), sgr);
        saga_table_cell(t, 1, cli_get(r, i, 1), sgr);
        for (size_t k = 0; k < 4; k++)
            saga_table_cell(t, k + 2, b[k], sgr);
    }
    cli_table_print(c, t);
    saga_table_free(t);
    return finished;
}

static void print_human(cli *c, int64_t since, const PGresult *counts,
                        const PGresult *durs, const PGresult *now)
{
    char w[SAGA_TIME_TEXT_MAX], at[SAGA_TIME_TEXT_MAX];
    saga_duration_format(c->now_ms - since, 2, w, sizeof w);
    saga_time_format_utc(since, at, sizeof at);
    printf("window: the last %s (since %s)\n\n", w, at);
    long started = 0, finished = 0;
    if (PQntuples(counts) == 0)
        printf("no sagas started in the window\n");
    else
        print_counts(c, counts, &started);
    printf("\n");
    if (PQntuples(durs) == 0)
        printf("no sagas finished in the window\n");
    else
        finished = print_durations(c, durs);
    double window_s = (double)(c->now_ms - since) / 1000.0;
    printf("\nthroughput: %.3g started/s (%ld in %s), %.3g finished/s (%ld)\n",
           window_s > 0 ? started / window_s : 0.0, started, w,
           window_s > 0 ? finished / window_s : 0.0, finished);
    long stuck = (long)cli_get_i64(now, 0, 1);
    printf("now: %lld active, %s%ld stuck%s\n", (long long)cli_get_i64(now, 0, 0),
           stuck && c->color ? "\033[31m" : "", stuck, stuck && c->color ? "\033[0m" : "");
}

static int parse(cli *c, const cli_args *a, int64_t *since, int64_t *by, saga_error *err)
{
    *since = c->now_ms - DEFAULT_WINDOW_MS;
    *by = 0;
    if (cli_value_since(a, "since", c->now_ms, since, err) ||
        cli_value_duration(a, "by", by, err))
        return SAGA_EINVAL;
    if (cli_value(a, "by") && (*by <= 0 || (c->now_ms - *since) / *by >= MAX_BUCKETS)) {
        saga_error_set(err, SAGA_EINVAL, "--by: the window would have %s buckets",
                       *by <= 0 ? "endless" : "over " SAGA_QUERY_STR(MAX_BUCKETS));
        saga_error_hint(err, "pick a bucket of at least 1/" SAGA_QUERY_STR(MAX_BUCKETS)
                             " of the window (--since)");
        return SAGA_EINVAL;
    }
    return 0;
}

/* The four reads (series only with --by); all owned. */
typedef struct figures {
    int64_t since, by;
    PGresult *counts, *durs, *now, *series;
} figures;

static void figures_free(figures *f)
{
    PQclear(f->counts);
    PQclear(f->durs);
    PQclear(f->now);
    PQclear(f->series);
}

static int fetch(cli *c, const cli_args *a, figures *f, saga_error *err)
{
    memset(f, 0, sizeof *f);
    if (parse(c, a, &f->since, &f->by, err))
        return SAGA_EINVAL;
    char p[24], w[24];
    snprintf(p, sizeof p, "%lld", (long long)f->since);
    snprintf(w, sizeof w, "%lld", (long long)f->by);
    const char *params[2] = {p, w};
    bool ok = (f->counts = cli_query(c, saga_query_stats_counts, 1, params, err)) &&
              (f->durs = cli_query(c, saga_query_stats_durations, 1, params, err)) &&
              (f->now = cli_query(c, saga_query_stats_active, 0, NULL, err)) &&
              (!f->by || (f->series = cli_query(c, saga_query_stats_series, 2, params,
                                                err)));
    if (ok)
        return 0;
    figures_free(f);
    return err->code;
}

int cli_doc_stats(cli *c, const cli_args *a, json_t **doc, saga_error *err)
{
    figures f;
    int rc = fetch(c, a, &f, err);
    if (rc)
        return rc;
    *doc = stats_doc(c, f.since, f.counts, f.durs, f.now);
    if (*doc && f.by)
        json_object_set_new(*doc, "series", series_json(f.since, f.by, c->now_ms, f.series));
    figures_free(&f);
    if (!*doc)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    json_t *circuits = cli_circuits_json(c, err);
    if (!circuits) {
        json_decref(*doc);
        return err->code;
    }
    json_object_set_new(*doc, "circuits", circuits);
    return 0;
}

static void print_series(cli *c, const figures *f)
{
    json_t *arr = series_json(f->since, f->by, c->now_ms, f->series);
    saga_table *t = cli_table(6);
    static const char *const heads[] = {"FROM", "STARTED", "COMPLETED", "COMPENSATED",
                                        "P50", "P95"};
    for (size_t k = 0; k < 6; k++)
        saga_table_column(t, k, heads[k], k ? SAGA_TABLE_RIGHT : 0);
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b) {
        char p50[SAGA_TIME_TEXT_MAX], p95[SAGA_TIME_TEXT_MAX];
        ms_text((double)json_integer_value(json_object_get(b, "p50_ms")), p50, sizeof p50);
        ms_text((double)json_integer_value(json_object_get(b, "p95_ms")), p95, sizeof p95);
        saga_table_row(t);
        saga_table_cell(t, 0, json_string_value(json_object_get(b, "start")), NULL);
        saga_table_cellf(t, 1, NULL, "%lld", json_integer_value(json_object_get(b, "started")));
        saga_table_cellf(t, 2, NULL, "%lld",
                         json_integer_value(json_object_get(b, "completed")));
        saga_table_cellf(t, 3, NULL, "%lld",
                         json_integer_value(json_object_get(b, "compensated")));
        saga_table_cell(t, 4, p50, NULL);
        saga_table_cell(t, 5, p95, NULL);
    }
    printf("\nover time:\n");
    cli_table_print(c, t);
    saga_table_free(t);
    json_decref(arr);
}

static int check(cli *c, const cli_args *a)
{
    saga_error err;
    int64_t since, by;
    return parse(c, a, &since, &by, &err) ? cli_usage_fail(&err) : CLI_EXIT_OK;
}

static int run(cli *c, const cli_args *a)
{
    saga_error err;
    json_t *doc;
    if (cli_flag(a, "json"))
        return cli_doc_stats(c, a, &doc, &err) ? cli_fail(c, &err)
                                                : cli_json_print(doc, false);
    figures f;
    if (fetch(c, a, &f, &err))
        return cli_fail(c, &err);
    print_human(c, f.since, f.counts, f.durs, f.now);
    if (f.by)
        print_series(c, &f);
    if (cli_circuits_print(c, &err)) {
        figures_free(&f);
        return cli_fail(c, &err);
    }
    figures_free(&f);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_stats = {
    .name = "stats",
    .synopsis = "[--since DUR|TIME] [--by DUR] [--json]",
    .summary = "counts, durations and throughput",
    .description =
        "Counts of sagas started in the window by definition and status;\n"
        "p50/p95/p99/max durations (creation to finish) of sagas that finished\n"
        "in the window; started and finished per second over the window; and\n"
        "how many sagas are active and stuck right now. The window is the last\n"
        "hour unless --since says otherwise. --by DUR adds the same figures per\n"
        "bucket of DUR across the window (JSON: \"series\"), the console's charts.",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .check = check,
    .run = run,
};
