/*
 * timing.c - `sagactl show ID --timing`: where a saga's time went, hop by
 * hop, from the "hop" rows sagad writes into its history (hops.h).
 *
 * One line per command-and-reply round: the sagad turn that sent the
 * command (by phase), the command's Kafka transit and the time it waited
 * for a busy worker, the worker's batch (by phase), the reply's transit and
 * its wait for a busy sagad. The StartSaga's own transit comes first. What
 * is left of created -> finished beyond these is the last turn, which
 * applies the final replies and has no hop after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hops.h"
#include "sagactl.h"

static const char *const KEYS[] = {
    "start.transit", "start.wait",   "turn.decode",   "turn.decide",
    "turn.commit",   "turn.publish", "cmd.transit",   "cmd.wait",
    "worker.fill",   "worker.apply", "worker.reply",  "reply.transit",
    "reply.wait",
};
#define N_KEYS (sizeof KEYS / sizeof *KEYS)

static const char *HOPS_SQL =
    "SELECT coalesce(step, 'start'), coalesce(action, ''), coalesce(attempt, 0), text"
    " FROM saga_history WHERE saga_id = $1 AND kind = 'hop' ORDER BY id";
static const char *SPAN_SQL =
    "SELECT round(extract(epoch FROM finished_at - created_at) * 1000000)::bigint"
    " FROM sagas WHERE id = $1";

static json_t *timing_doc(const char *id, const PGresult *h, const PGresult *span)
{
    json_t *hops = json_array();
    for (int i = 0; i < PQntuples(h); i++) {
        json_t *us = json_object();
        for (size_t k = 0; k < N_KEYS; k++) {
            int64_t v;
            if (saga_hops_get(cli_get(h, i, 3), KEYS[k], &v))
                json_object_set_new(us, KEYS[k], json_integer(v));
        }
        json_array_append_new(hops, json_pack("{s:s, s:o, s:I, s:o}", "step", cli_get(h, i, 0),
                                              "action", cli_json_str(cli_get(h, i, 1)),
                                              "attempt", (json_int_t)cli_get_i64(h, i, 2),
                                              "us", us));
    }
    json_t *total = PQntuples(span) && !cli_null(span, 0, 0)
                        ? json_integer(cli_get_i64(span, 0, 0))
                        : json_null();
    return json_pack("{s:s, s:o, s:o}", "saga_id", id, "created_to_finished_us", total,
                     "hops", hops);
}

static void print_ms(const json_t *us, const char *key, int width)
{
    const json_t *v = json_object_get(us, key);
    if (v)
        printf(" %*.2f", width, (double)json_integer_value(v) / 1000.0);
    else
        printf(" %*s", width, "-");
}

static void timing_print(const json_t *doc)
{
    printf("%-28s %s\n", "", "  turn (ms)                  | command     | worker            | reply");
    printf("%-28s %s\n", "hop",
           "decode decide commit publ. | trans. wait | fill apply reply | trans. wait");
    const json_t *hops = json_object_get(doc, "hops");
    size_t i;
    const json_t *h;
    json_array_foreach(hops, i, h) {
        const json_t *us = json_object_get(h, "us");
        char name[96];
        const char *action = json_string_value(json_object_get(h, "action"));
        if (action)
            snprintf(name, sizeof name, "%s %s #%lld", json_string_value(json_object_get(h, "step")),
                     action, (long long)json_integer_value(json_object_get(h, "attempt")));
        else
            snprintf(name, sizeof name, "start (transit, wait)");
        printf("%-28s", name);
        if (!action) {
            printf("%*s", 29, "");
            print_ms(us, "start.transit", 6);
            print_ms(us, "start.wait", 5);
            printf("\n");
            continue;
        }
        static const char *const cols[] = {"turn.decode", "turn.decide", "turn.commit",
                                           "turn.publish", "cmd.transit", "cmd.wait",
                                           "worker.fill", "worker.apply", "worker.reply",
                                           "reply.transit", "reply.wait"};
        static const int widths[] = {6, 6, 6, 5, 6, 5, 4, 6, 5, 6, 5};
        for (size_t k = 0; k < sizeof cols / sizeof *cols; k++) {
            if (k == 4 || k == 6 || k == 9)
                printf(" |");
            print_ms(us, cols[k], widths[k]);
        }
        printf("\n");
    }
    if (json_array_size(hops) == 0)
        printf("(no hop rows: sagad older than the hop header, or participants that do not "
               "return it)\n");
    const json_t *t = json_object_get(doc, "created_to_finished_us");
    if (json_is_integer(t))
        printf("created -> finished: %.2f ms\n", (double)json_integer_value(t) / 1000.0);
}

int cli_show_timing(cli *c, const char *arg, bool json)
{
    saga_error err;
    char id[SAGA_ID_LEN + 1];
    if (cli_resolve_id(c, arg, id, &err))
        return cli_fail(c, &err);
    const char *p[1] = {id};
    PGresult *h = cli_query(c, HOPS_SQL, 1, p, &err);
    PGresult *span = h ? cli_query(c, SPAN_SQL, 1, p, &err) : NULL;
    if (!span) {
        PQclear(h);
        return cli_fail(c, &err);
    }
    json_t *doc = timing_doc(id, h, span);
    PQclear(h);
    PQclear(span);
    if (json)
        return cli_json_print(doc, false);
    timing_print(doc);
    json_decref(doc);
    return CLI_EXIT_OK;
}
