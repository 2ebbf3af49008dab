/*
 * outbox.c - the outbox relay (see outbox.h).
 */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>

#include "store.h"

int saga_outbox_relay(PGconn *conn, saga_bus *bus, size_t max, size_t *sent,
                      saga_error *err)
{
    *sent = 0;
    int rc = saga_pg_begin(conn, err);
    if (rc)
        return rc;
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", max);
    const char *p[1] = {lim};
    /* Binary results: the payload column arrives as raw bytes. */
    PGresult *r = PQexecParams(conn,
                               "SELECT id, topic, key, payload, coalesce(traceparent, '')"
                               " FROM saga_outbox WHERE relay_after <= now()"
                               " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                               1, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = saga_error_set(err, SAGA_EDB, "outbox relay: %s", PQresultErrorMessage(r));
        PQclear(r);
        saga_pg_rollback(conn);
        return rc;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n && rc == 0; i++) {
        char topic[256], key[256], tp[64];
        snprintf(topic, sizeof topic, "%.*s", PQgetlength(r, i, 1), PQgetvalue(r, i, 1));
        snprintf(key, sizeof key, "%.*s", PQgetlength(r, i, 2), PQgetvalue(r, i, 2));
        snprintf(tp, sizeof tp, "%.*s", PQgetlength(r, i, 4), PQgetvalue(r, i, 4));
        rc = saga_bus_produce(bus, topic, key, PQgetvalue(r, i, 3),
                              (size_t)PQgetlength(r, i, 3), tp, err);
    }
    if (rc == 0 && n > 0)
        rc = saga_bus_flush(bus, 30000, err);
    if (rc == 0 && n > 0) {
        int64_t *ids = malloc(sizeof *ids * (size_t)n);
        if (!ids) {
            rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
        } else {
            /* ids arrive in network byte order (binary int8). */
            for (int i = 0; i < n; i++) {
                const unsigned char *b = (const unsigned char *)PQgetvalue(r, i, 0);
                uint64_t id = 0;
                for (int j = 0; j < 8; j++)
                    id = id << 8 | b[j];
                ids[i] = (int64_t)id;
            }
            /* Deferred: it travels with the COMMIT below. */
            rc = saga_store_outbox_delete(conn, ids, (size_t)n, err);
            free(ids);
        }
    }
    PQclear(r);
    if (rc == 0)
        rc = saga_pg_commit(conn, err);
    else
        saga_pg_rollback(conn);
    if (rc == 0)
        *sent = (size_t)n;
    return rc;
}

int saga_outbox_pending(PGconn *conn, long *pending, saga_error *err)
{
    PGresult *r = PQexec(conn, "SELECT count(*) FROM saga_outbox");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        saga_error_set(err, SAGA_EDB, "outbox count: %s", PQresultErrorMessage(r));
        PQclear(r);
        return SAGA_EDB;
    }
    *pending = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}
