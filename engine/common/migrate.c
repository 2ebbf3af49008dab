/*
 * migrate.c - applies embedded SQL migrations once, in order, atomically.
 *
 * One transaction per call: take a per-component advisory lock (several
 * sagad processes may start together), read what is applied, check that no
 * applied migration was edited (its checksum is recorded), apply the rest,
 * record them, commit. Any failure rolls everything back, so a database is
 * never left between two schema versions.
 */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static const char *CREATE_TABLE =
    "CREATE TABLE IF NOT EXISTS saga_schema_migrations ("
    " component text NOT NULL,"
    " version integer NOT NULL,"
    " name text NOT NULL,"
    " sha256 text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (component, version))";

static int exec_simple(PGconn *conn, const char *sql, saga_error *err)
{
    PGresult *r = PQexec(conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
             PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        saga_error_set(err, SAGA_EDB, "migrate: %s",
                       PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : SAGA_EDB;
}

static void rollback(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK"));
}

/* Compares recorded checksums with the embedded files; counts applied ones. */
static int check_applied(PGconn *conn, const char *component,
                         const saga_migration *list, size_t n, int *max_applied,
                         saga_error *err)
{
    const char *params[1] = {component};
    PGresult *r = PQexecParams(conn,
                               "SELECT version, name, sha256 FROM saga_schema_migrations"
                               " WHERE component = $1 ORDER BY version",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        saga_error_set(err, SAGA_EDB, "migrate: %s", PQresultErrorMessage(r));
        PQclear(r);
        return SAGA_EDB;
    }
    *max_applied = 0;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        int version = atoi(PQgetvalue(r, i, 0));
        if (version > *max_applied)
            *max_applied = version;
        for (size_t j = 0; j < n; j++) {
            if (list[j].version != version)
                continue;
            char hex[65];
            saga_sha256_hex(list[j].sql, strlen(list[j].sql), hex);
            if (strcmp(hex, PQgetvalue(r, i, 2)) != 0) {
                rc = saga_error_set(err, SAGA_ECONFLICT,
                                    "migration %s of %s was changed after it was applied",
                                    list[j].name, component);
                saga_error_hint(err, "never edit an applied migration; add a new one");
            }
        }
    }
    PQclear(r);
    return rc;
}

int saga_migrate(PGconn *conn, const char *component,
                 const saga_migration *list, size_t n, int *applied,
                 saga_error *err)
{
    if (applied)
        *applied = 0;
    if (exec_simple(conn, "BEGIN", err) ||
        exec_simple(conn, "SET LOCAL client_min_messages = warning", err))
        return SAGA_EDB;
    char lock[160];
    /* hashtext keeps the lock per component; the constant namespaces it. */
    const char *params[1] = {component};
    snprintf(lock, sizeof lock,
             "SELECT pg_advisory_xact_lock(7001, hashtext($1))");
    PGresult *r = PQexecParams(conn, lock, 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        saga_error_set(err, SAGA_EDB, "migrate: %s", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok || exec_simple(conn, CREATE_TABLE, err)) {
        rollback(conn);
        return SAGA_EDB;
    }
    int max_applied = 0;
    int rc = check_applied(conn, component, list, n, &max_applied, err);
    if (rc) {
        rollback(conn);
        return rc;
    }
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        if (list[i].version <= max_applied)
            continue;
        r = PQexec(conn, list[i].sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK &&
            PQresultStatus(r) != PGRES_TUPLES_OK) {
            saga_error_set(err, SAGA_EDB, "migration %s of %s failed: %s",
                           list[i].name, component, PQresultErrorMessage(r));
            PQclear(r);
            rollback(conn);
            return SAGA_EDB;
        }
        PQclear(r);
        char hex[65], ver[16];
        saga_sha256_hex(list[i].sql, strlen(list[i].sql), hex);
        snprintf(ver, sizeof ver, "%d", list[i].version);
        const char *p[4] = {component, ver, list[i].name, hex};
        r = PQexecParams(conn,
                         "INSERT INTO saga_schema_migrations (component, version, name, sha256)"
                         " VALUES ($1, $2, $3, $4)",
                         4, NULL, p, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            saga_error_set(err, SAGA_EDB, "migrate: %s", PQresultErrorMessage(r));
        PQclear(r);
        if (!ok) {
            rollback(conn);
            return SAGA_EDB;
        }
        count++;
    }
    if (exec_simple(conn, "COMMIT", err))
        return SAGA_EDB;
    if (applied)
        *applied = count;
    return 0;
}
