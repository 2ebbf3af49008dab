/*
 * migrate.h - ordered, versioned SQL migrations applied once each.
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Migrations live as files (schema/NNN_name.sql for the engine,
 * schema/<component>/NNN_name.sql for a participant) and are compiled into
 * the binaries at build time, so an installed sagad needs no source tree.
 * Each component's applied versions are recorded in saga_schema_migrations.
 * All pending migrations of a component apply in one transaction under an
 * advisory lock, so several processes starting at once are safe and a failed
 * migration leaves nothing behind. Applied files must never be edited: a
 * changed checksum is refused.
 */
#ifndef SAGA_MIGRATE_H
#define SAGA_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "error.h"

typedef struct saga_migration {
    int version;      /* NNN from the file name, strictly increasing */
    const char *name; /* file name without extension: "001_core" */
    const char *sql;  /* the file's text */
} saga_migration;

/*
 * Applies the pending migrations of `component` on conn (borrowed; must not
 * be inside a transaction). Sets *applied (may be NULL) to how many were
 * applied now (0 when already up to date). Returns 0 or SAGA_EDB /
 * SAGA_ECONFLICT (an applied migration's text changed) with err set.
 */
int saga_migrate(PGconn *conn, const char *component,
                 const saga_migration *list, size_t n, int *applied,
                 saga_error *err);

#endif
