/*
 * circuits.c - the circuit breakers that are not CLOSED, as `sagactl stuck`
 * and `sagactl stats` show them: "payment circuit open since 2m, 14 sagas
 * waiting". One small query on saga_circuits (schema/008); during an
 * outage this line explains a whole page of stuck sagas at once, so it
 * comes first.
 */
#include <stdio.h>

#include "sagactl.h"

static const char *SQL =
    "SELECT c.participant, c.state,"
    "  (extract(epoch FROM c.since) * 1000)::bigint,"
    "  (SELECT count(*) FROM saga_circuit_waits w WHERE w.participant = c.participant),"
    "  c.reason"
    " FROM saga_circuits c WHERE c.state <> 'CLOSED' ORDER BY c.participant";

static const char *state_text(const char *state)
{
    return state[0] == 'O' ? "open" : "half-open";
}

int cli_circuits_print(cli *c, saga_error *err)
{
    PGresult *r = cli_query(c, SQL, 0, NULL, err);
    if (!r)
        return err->code;
    int64_t now = saga_clock_now_ms();
    for (int i = 0; i < PQntuples(r); i++) {
        char d[SAGA_TIME_TEXT_MAX];
        cli_duration_text(now - cli_get_i64(r, i, 2), d, sizeof d);
        long waiting = (long)cli_get_i64(r, i, 3);
        printf("%s circuit %s since %s, %ld saga%s waiting (%s)\n", cli_get(r, i, 0),
               state_text(cli_get(r, i, 1)), d, waiting, waiting == 1 ? "" : "s",
               cli_get(r, i, 4));
    }
    if (PQntuples(r))
        printf("\n");
    PQclear(r);
    return 0;
}

json_t *cli_circuits_json(cli *c, saga_error *err)
{
    PGresult *r = cli_query(c, SQL, 0, NULL, err);
    if (!r)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; r && i < PQntuples(r); i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:o, s:I, s:s}", "participant", cli_get(r, i, 0),
                           "state", cli_get(r, i, 1), "since",
                           cli_time_json(cli_get_i64(r, i, 2)), "waiting",
                           (json_int_t)cli_get_i64(r, i, 3), "reason", cli_get(r, i, 4)));
    PQclear(r);
    return arr;
}
