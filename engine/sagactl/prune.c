/*
 * prune.c - `sagactl prune`: deletes finished sagas past their retention.
 *
 * Deletes in batches of SAGA_QUERY_PRUNE_BATCH sagas, each its own
 * transaction, so pruning a backlog of millions never holds locks or a
 * snapshot for long and sagad keeps running at full speed meanwhile; steps
 * and history go with their saga in the same statement. Only terminal sagas
 * are touched: a saga that is still running is never lost, however old.
 * Batches are found through the finished_at index.
 */
#include "sagactl.h"

static const cli_opt OPTS[] = {
    {"older-than", CLI_VALUE, "DUR", "delete sagas finished more than DUR ago (required)"},
    {"dry-run", CLI_FLAG, NULL, "count what would be deleted, delete nothing"},
    {"json", CLI_FLAG, NULL, "print {\"deleted\": N, \"before\": TIME, \"dry_run\": B}"},
};

static int check(cli *c, const cli_args *a)
{
    (void)c;
    saga_error err;
    int64_t d;
    if (!cli_value(a, "older-than"))
        return cli_usage_error(&cli_cmd_prune, "prune needs --older-than DUR");
    if (cli_value_duration(a, "older-than", &d, &err))
        return cli_usage_fail(&err);
    return CLI_EXIT_OK;
}

static int run(cli *c, const cli_args *a)
{
    saga_error err;
    int64_t older = 0;
    cli_value_duration(a, "older-than", &older, &err);
    int64_t cutoff = c->now_ms - older;
    char p[24];
    snprintf(p, sizeof p, "%lld", (long long)cutoff);
    const char *params[1] = {p};
    bool dry = cli_flag(a, "dry-run");
    long long total = 0;
    if (dry) {
        PGresult *r = cli_query(c, saga_query_prune_count, 1, params, &err);
        if (!r)
            return cli_fail(c, &err);
        total = cli_get_i64(r, 0, 0);
        PQclear(r);
    } else {
        for (;;) {
            PGresult *r = cli_query(c, saga_query_prune_batch, 1, params, &err);
            if (!r) {
                if (total)
                    fprintf(stderr, "%lld sagas were deleted before the failure\n", total);
                return cli_fail(c, &err);
            }
            long long n = cli_get_i64(r, 0, 0);
            PQclear(r);
            total += n;
            if (n < SAGA_QUERY_PRUNE_BATCH)
                break;
        }
    }
    char before[SAGA_TIME_TEXT_MAX];
    saga_time_format_utc(cutoff, before, sizeof before);
    if (cli_flag(a, "json"))
        return cli_json_print(json_pack("{s:I, s:s, s:b}", "deleted", (json_int_t)total,
                                        "before", before, "dry_run", dry),
                              false);
    printf("%s %lld finished saga%s (finished before %s)\n",
           dry ? "would delete" : "deleted", total, total == 1 ? "" : "s", before);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_prune = {
    .name = "prune",
    .synopsis = "--older-than DUR [--dry-run] [--json]",
    .summary = "delete finished sagas older than a retention period",
    .description =
        "Deletes COMPLETED and COMPENSATED sagas that finished more than DUR ago,\n"
        "with their steps and history, in batches of "
        SAGA_QUERY_STR(SAGA_QUERY_PRUNE_BATCH) " (each its own\n"
        "transaction). Running sagas are never deleted. Prints the count.",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .check = check,
    .run = run,
};
