/*
 * timers.c - due sagas and the next wake-up, from sagas_wake_idx.
 */
#include "timers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int saga_timers_claim(PGconn *conn, int64_t now_ms, size_t max,
                      char (*ids)[SAGA_ID_LEN + 1], size_t *n, saga_error *err)
{
    *n = 0;
    char now[24], lim[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(lim, sizeof lim, "%zu", max);
    const char *p[2] = {now, lim};
    PGresult *r = saga_pg_query(conn,
                                "SELECT id FROM sagas"
                                " WHERE wake_at <= to_timestamp($1::bigint / 1000.0)"
                                " ORDER BY wake_at LIMIT $2"
                                " FOR UPDATE SKIP LOCKED",
                                2, p, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        saga_error_set(err, SAGA_EDB, "claim due sagas: %s", PQresultErrorMessage(r));
        PQclear(r);
        return SAGA_EDB;
    }
    for (int i = 0; i < PQntuples(r) && (size_t)i < max; i++)
        snprintf(ids[(*n)++], SAGA_ID_LEN + 1, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

int saga_timers_next(PGconn *conn, int64_t *next_ms, saga_error *err)
{
    *next_ms = 0;
    PGresult *r = saga_pg_query(conn,
                                "SELECT round(extract(epoch FROM min(wake_at)) * 1000)::bigint"
                                " FROM sagas WHERE wake_at IS NOT NULL",
                                0, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        saga_error_set(err, SAGA_EDB, "next wake-up: %s", PQresultErrorMessage(r));
        PQclear(r);
        return SAGA_EDB;
    }
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        *next_ms = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}
