/*
 * schema.h - the coordinator's own tables: its embedded migrations.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * The migration runner (common/migrate.h) is shared with the workers, who
 * bring their own lists; the coordinator's list lives here so that a worker
 * linking the runner does not drag the coordinator's schema in with it.
 */
#ifndef SAGA_SCHEMA_H
#define SAGA_SCHEMA_H

#include <libpq-fe.h>
#include <stddef.h>

#include "error.h"
#include "migrate.h"

/* The engine's own migrations (schema/NNN_*.sql), generated at build time. */
extern const saga_migration saga_migrations_core[];
extern const size_t saga_migrations_core_count;

/* saga_migrate for the engine's own schema (component "core"). */
int saga_migrate_core(PGconn *conn, int *applied, saga_error *err);

#endif
