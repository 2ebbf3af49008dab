/*
 * schema.c - saga_migrate_core (see schema.h).
 */
#include "schema.h"

int saga_migrate_core(PGconn *conn, int *applied, saga_error *err)
{
    return saga_migrate(conn, "core", saga_migrations_core,
                        saga_migrations_core_count, applied, err);
}
