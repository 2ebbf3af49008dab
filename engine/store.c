/*
 * store.c - the coordinator's PostgreSQL access (see store.h for the shape):
 * what belongs to no one statement. The statements live by concern:
 * store_load.c (lock and load), store_create.c (new sagas), store_write.c
 * (a batch's changes); connections, prepared and deferred statements are
 * common/pg.c's, shared with sagactl and the workers.
 *
 * Batches are passed to PostgreSQL as JSON record sets
 * (jsonb_to_recordset), which keeps every statement parameterised and the
 * number of round trips independent of the batch size. Times travel as
 * milliseconds since the epoch and are stored as timestamptz for humans.
 */
#include "store.h"

#include "clock.h"
#include "random.h"

void saga_row_clear(saga_row *row)
{
    if (!row)
        return;
    json_decref(row->input);
    row->input = NULL;
    for (size_t i = 0; i < SAGA_SPEC_MAX_STEPS; i++) {
        json_decref(row->results[i]);
        row->results[i] = NULL;
    }
}

int64_t saga_now_ms(void)
{
    return saga_clock_now_ms();
}

void saga_uuid_new(char out[SAGA_ID_LEN + 1])
{
    saga_random_uuid(out);
}

int saga_store_notify(PGconn *conn, const char *channel, saga_error *err)
{
    const char *params[1] = {channel};
    PGresult *r = PQexecParams(conn, "SELECT pg_notify($1, '')", 1, NULL,
                               params, NULL, NULL, 0);
    int rc = saga_pg_result_ok(r, conn, "notify", err);
    PQclear(r);
    return rc;
}
