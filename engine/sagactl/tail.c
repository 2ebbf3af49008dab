/*
 * tail.c - `sagactl tail`: follow the history as it is written.
 *
 * Polls saga_history by id (its primary key) four times a second. Ids come
 * from a sequence, so a row with a smaller id can commit after a larger one
 * is already visible; following "id > last seen" would skip it for ever.
 * The follower therefore keeps a low watermark below which every id has
 * been seen, remembers what it printed above it, and waits for a gap to
 * fill; a gap still open after GAP_MS is a rolled-back insert (ids are
 * never reused), and is passed. Filtering by kind and definition happens
 * here, not in SQL, because a filtered-out row is otherwise
 * indistinguishable from a gap.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sagactl.h"

#define POLL_MS 250
#define GAP_MS 10000
#define MAX_SEEN 4096

static const cli_opt OPTS[] = {
    {"def", CLI_VALUE, "NAME", "only sagas of this definition"},
    {"steps", CLI_FLAG, NULL, "also step status changes"},
    {"all", CLI_FLAG, NULL, "every history entry (commands, replies, timeouts, ...)"},
    {"count", CLI_VALUE, "N", "exit after N entries"},
    {"timeout", CLI_VALUE, "DUR", "exit after DUR"},
    {"json", CLI_FLAG, NULL, "print one JSON object per entry per line"},
};

static const char *const SAGA_KINDS[] = {"created", "transition", "stuck", "unstuck",
                                         "operator", "request", "exhausted"};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

typedef struct follower {
    long long low;               /* every id <= low has been seen */
    long long seen[MAX_SEEN];    /* ids > low already seen, ascending */
    size_t n_seen;
    int64_t gap_since;           /* when the gap above low was first seen */
} follower;

static bool was_seen(const follower *f, long long id)
{
    if (id <= f->low)
        return true;
    for (size_t i = 0; i < f->n_seen; i++)
        if (f->seen[i] == id)
            return true;
    return false;
}

static void mark_seen(follower *f, long long id)
{
    if (f->n_seen == MAX_SEEN) {
        /* More in-flight ids than any gap could explain: settle the oldest. */
        f->low = f->seen[0];
        memmove(f->seen, f->seen + 1, (f->n_seen - 1) * sizeof *f->seen);
        f->n_seen--;
    }
    size_t i = f->n_seen;
    while (i > 0 && f->seen[i - 1] > id) {
        f->seen[i] = f->seen[i - 1];
        i--;
    }
    f->seen[i] = id;
    f->n_seen++;
}

/* Raises the watermark over contiguous ids, and over a gap that has stayed
 * open too long. */
static void settle(follower *f, int64_t now)
{
    size_t k = 0;
    while (k < f->n_seen && f->seen[k] == f->low + 1)
        f->low = f->seen[k++];
    if (k == 0 && f->n_seen) {
        if (!f->gap_since)
            f->gap_since = now;
        else if (now - f->gap_since > GAP_MS)
            f->low = f->seen[k++];
        while (k < f->n_seen && f->seen[k] == f->low + 1)
            f->low = f->seen[k++];
    }
    if (k) {
        memmove(f->seen, f->seen + k, (f->n_seen - k) * sizeof *f->seen);
        f->n_seen -= k;
        f->gap_since = 0;
    }
}

static bool wanted(const cli_args *a, const PGresult *r, int i)
{
    const char *def = cli_value(a, "def");
    if (def && strcmp(def, cli_get(r, i, QHIST_DEF)) != 0)
        return false;
    if (cli_flag(a, "all"))
        return true;
    const char *kind = cli_get(r, i, QHIST_KIND);
    if (cli_flag(a, "steps") && strcmp(kind, "step") == 0)
        return true;
    for (size_t k = 0; k < sizeof SAGA_KINDS / sizeof SAGA_KINDS[0]; k++)
        if (strcmp(kind, SAGA_KINDS[k]) == 0)
            return true;
    return false;
}

static void print_entry(cli *c, bool json, const PGresult *r, int i)
{
    int64_t at = cli_get_i64(r, i, QHIST_AT);
    if (json) {
        cli_json_print(cli_history_json(r, i, true), true);
        fflush(stdout);
        return;
    }
    char when[SAGA_TIME_TEXT_MAX];
    if (c->utc) {
        saga_time_format_utc(at, when, sizeof when);
    } else {
        time_t t = (time_t)(at / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        snprintf(when, sizeof when, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)(at % 1000));
    }
    const char *kind = cli_get(r, i, QHIST_KIND);
    bool red = strcmp(kind, "stuck") == 0 || strcmp(kind, "exhausted") == 0;
    char what[256] = "", action[64];
    if (!cli_null(r, i, QHIST_STEP)) {
        cli_history_action(r, i, action, sizeof action);
        snprintf(what, sizeof what, "%s%s%s ", cli_get(r, i, QHIST_STEP),
                 cli_null(r, i, QHIST_ACTION) ? "" : " ", action);
    }
    printf("%s  %s  %s@%s  %s%-10s%s  %s%s%s%s%s%s\n", when, cli_get(r, i, QHIST_SAGA),
           cli_null(r, i, QHIST_DEF) ? "?" : cli_get(r, i, QHIST_DEF),
           cli_get(r, i, QHIST_VER),
           red && c->color ? "\033[31m" : "", kind, red && c->color ? "\033[0m" : "",
           what, cli_get(r, i, QHIST_OUTCOME), cli_null(r, i, QHIST_OUTCOME) ? "" : " ",
           cli_get(r, i, QHIST_TEXT), cli_null(r, i, QHIST_ACTOR) ? "" : " by ",
           cli_get(r, i, QHIST_ACTOR));
    fflush(stdout);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int check(cli *c, const cli_args *a)
{
    (void)c;
    saga_error err;
    int64_t d;
    long n;
    if (cli_value_duration(a, "timeout", &d, &err) ||
        cli_value_int(a, "count", 1, 1000000000L, &n, &err))
        return cli_usage_fail(&err);
    return CLI_EXIT_OK;
}

static int run(cli *c, const cli_args *a)
{
    saga_error err;
    int64_t timeout = 0;
    long count = 0;
    cli_value_duration(a, "timeout", &timeout, &err);
    cli_value_int(a, "count", 1, 1000000000L, &count, &err);
    bool json = cli_flag(a, "json");
    int64_t deadline = timeout ? saga_now_ms() + timeout : 0;

    PGresult *r = cli_query(c, saga_query_history_max, 0, NULL, &err);
    if (!r)
        return cli_fail(c, &err);
    follower *f = calloc(1, sizeof *f);
    if (!f) {
        PQclear(r);
        return CLI_EXIT_FAIL;
    }
    f->low = cli_get_i64(r, 0, 0);
    PQclear(r);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* On stderr even with --json: it says the follower has started, which
     * scripts (and tests) can wait for. */
    fprintf(stderr, "following saga transitions%s%s (Ctrl-C to stop)\n",
            cli_value(a, "def") ? " of " : "",
            cli_value(a, "def") ? cli_value(a, "def") : "");
    long printed = 0;
    int status = CLI_EXIT_OK;
    while (!stop && (!count || printed < count) && (!deadline || saga_now_ms() < deadline)) {
        char low[24];
        snprintf(low, sizeof low, "%lld", f->low);
        const char *params[1] = {low};
        r = cli_query(c, saga_query_history_after, 1, params, &err);
        if (!r) {
            status = cli_fail(c, &err);
            break;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n && (!count || printed < count); i++) {
            long long id = cli_get_i64(r, i, QHIST_ID);
            if (was_seen(f, id))
                continue;
            mark_seen(f, id);
            if (wanted(a, r, i)) {
                print_entry(c, json, r, i);
                printed++;
            }
        }
        PQclear(r);
        settle(f, saga_now_ms());
        if (n < SAGA_QUERY_HISTORY_BATCH)
            sleep_ms(POLL_MS);
    }
    free(f);
    return status;
}

const cli_command cli_cmd_tail = {
    .name = "tail",
    .synopsis = "[--def NAME] [--steps|--all] [--count N] [--timeout DUR] [--json]",
    .summary = "follow new transitions live",
    .description =
        "Prints history entries as they are committed, from now on: saga\n"
        "creations, status transitions, stuck/unstuck flags, exhausted reserves\n"
        "and operator requests and actions (with --steps also step status\n"
        "changes; with --all every entry, including each command and reply).\n"
        "Runs until interrupted, --count entries or --timeout.",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .check = check,
    .run = run,
};
