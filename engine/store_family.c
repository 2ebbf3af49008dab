/*
 * store_family.c - the link between a sub-saga and its parent.
 *
 * A child is created by the ordinary create path (store_create.c), inside
 * the parent's transaction; this adds the two columns that make it a child
 * in a statement of its own, so the create path, which starts every saga,
 * stays one shape. Only sub-saga starts pay for it.
 */
#include "store.h"

int saga_store_link_child(PGconn *conn, const char *child_id, const char *parent_id,
                          const char *parent_step, saga_error *err)
{
    const char *p[3] = {child_id, parent_id, parent_step};
    PGresult *r = saga_pg_query(conn,
                               "UPDATE sagas SET parent_id = $2::uuid, parent_step = $3,"
                               " writer = NULL"
                               " WHERE id = $1::uuid",
                               3, p, 0);
    int rc = saga_pg_result_ok(r, conn, "link sub-saga to its parent", err);
    PQclear(r);
    return rc;
}

int saga_store_finished(PGconn *conn, const char *id, bool *done, saga_error *err)
{
    const char *p[1] = {id};
    PGresult *r = saga_pg_query(conn,
                               "SELECT status IN ('COMPLETED', 'COMPENSATED')"
                               " FROM sagas WHERE id = $1::uuid",
                               1, p, 0);
    int rc = saga_pg_result_ok(r, conn, "read the parent's status", err);
    *done = rc == 0 && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return rc;
}
