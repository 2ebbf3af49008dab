/*
 * audit.c - the operator's side of inventory: seeding stock and checking
 * that no saga, duplicate or crash ever created or destroyed any.
 *
 * seed sets a SKU's total to a level rather than adding to it, so a script
 * can run it again and again and always leave the same stock. check
 * recomputes every total from the reservations and compares it with the
 * running totals the handlers keep, and compares every reservation with the
 * barrier rows that justify it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"

static int parse_qty(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : -1;
    if (!s || errno || *end || v < 0)
        return SAGA_EINVAL;
    *out = v;
    return 0;
}

static int exec_or_fail(PGconn *c, const char *sql, saga_error *err)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        saga_error_set(err, SAGA_EDB, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : SAGA_EDB;
}

int inventory_seed(PGconn *conn, int argc, char **argv, void *user, saga_error *err)
{
    (void)user;
    if (argc == 0 || argc % 4 != 0) {
        saga_error_set(err, SAGA_EINVAL, "seed needs pairs of --sku SKU --qty N");
        saga_error_hint(err, "e.g. inventory-worker seed --sku A-1 --qty 100 --sku B-2 --qty 5");
        return SAGA_EINVAL;
    }
    for (int i = 0; i < argc; i += 4) {
        long long q;
        if (strcmp(argv[i], "--sku") != 0 || !*argv[i + 1] || strcmp(argv[i + 2], "--qty") != 0 ||
            parse_qty(argv[i + 3], &q)) {
            saga_error_set(err, SAGA_EINVAL, "seed: expected --sku SKU --qty N, got \"%s %s %s %s\"",
                           argv[i], argv[i + 1], argv[i + 2], argv[i + 3]);
            saga_error_hint(err, "N is a whole number >= 0");
            return SAGA_EINVAL;
        }
    }
    if (exec_or_fail(conn, "BEGIN", err))
        return SAGA_EDB;
    printf("%-24s %12s %12s %12s %12s\n", "SKU", "AVAILABLE", "RESERVED", "SOLD", "SEEDED");
    for (int i = 0; i < argc; i += 4) {
        const char *p[2] = {argv[i + 1], argv[i + 3]};
        /* Reaching the level moves only the difference into available. */
        PGresult *r = PQexecParams(
            conn,
            "INSERT INTO inventory.stock AS s (sku, available, seeded)"
            " VALUES ($1, $2::bigint, $2::bigint)"
            " ON CONFLICT (sku) DO UPDATE SET"
            "  available = s.available + (EXCLUDED.seeded - s.seeded),"
            "  seeded = EXCLUDED.seeded, updated_at = now()"
            " RETURNING available, reserved, sold, seeded",
            2, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            saga_error_set(err, SAGA_EDB, "cannot seed sku \"%s\" to %s: %s", argv[i + 1],
                           argv[i + 3], PQresultErrorMessage(r));
            saga_error_hint(err, "a level below what is reserved or sold cannot be reached");
            PQclear(r);
            PQclear(PQexec(conn, "ROLLBACK"));
            return SAGA_EDB;
        }
        printf("%-24s %12s %12s %12s %12s\n", argv[i + 1], PQgetvalue(r, 0, 0),
               PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
        PQclear(r);
    }
    return exec_or_fail(conn, "COMMIT", err);
}

/* Per SKU: the running totals next to what the reservations say. */
static const char *PER_SKU =
    "SELECT s.sku, s.available, s.reserved, s.sold, s.seeded,"
    " coalesce(sum(r.qty) FILTER (WHERE r.status = 'reserved'), 0),"
    " coalesce(sum(r.qty) FILTER (WHERE r.status = 'confirmed'), 0),"
    " s.available + s.reserved + s.sold = s.seeded"
    "  AND s.reserved = coalesce(sum(r.qty) FILTER (WHERE r.status = 'reserved'), 0)"
    "  AND s.sold = coalesce(sum(r.qty) FILTER (WHERE r.status = 'confirmed'), 0)"
    " FROM inventory.stock s LEFT JOIN inventory.reservations r ON r.sku = s.sku"
    " WHERE starts_with(s.sku, $1)"
    " GROUP BY s.sku ORDER BY s.sku";

/* Reservations whose state the barrier does not justify: both confirmed
 * and released, or a status without the matching successful barrier row. */
static const char *BAD_RESERVATIONS =
    "SELECT r.id, r.sku, r.status, r.idempotency_key FROM inventory.reservations r"
    " WHERE starts_with(r.sku, $1) AND ("
    "  (r.confirmed_at IS NOT NULL AND r.released_at IS NOT NULL)"
    "  OR NOT EXISTS (SELECT 1 FROM inventory.barrier b WHERE b.idempotency_key ="
    "   r.idempotency_key AND b.action = 'RESERVE' AND b.outcome = 'OK')"
    "  OR (r.status = 'confirmed') <> EXISTS (SELECT 1 FROM inventory.barrier b WHERE"
    "   b.idempotency_key = r.idempotency_key AND b.action = 'CONFIRM' AND b.outcome = 'OK')"
    "  OR (r.status = 'released') <> EXISTS (SELECT 1 FROM inventory.barrier b WHERE"
    "   b.idempotency_key = r.idempotency_key AND b.action = 'COMPENSATE' AND b.outcome = 'OK'"
    "   AND b.result->>'noop' IS NULL))"
    " ORDER BY r.created_at LIMIT 20";

static PGresult *query(PGconn *c, const char *sql, const char *prefix, saga_error *err)
{
    const char *p[1] = {prefix};
    PGresult *r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    saga_error_set(err, SAGA_EDB, "check: %s", PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

int inventory_check(PGconn *conn, int argc, char **argv, void *user, saga_error *err)
{
    (void)user;
    const char *prefix = "";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc) {
            prefix = argv[++i];
            continue;
        }
        saga_error_set(err, SAGA_EINVAL, "check: unexpected argument \"%s\"", argv[i]);
        saga_error_hint(err, "usage: inventory-worker check [--prefix SKU-PREFIX]");
        return SAGA_EINVAL;
    }
    /* One snapshot for both queries, so running workers cannot skew them. */
    if (exec_or_fail(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return SAGA_EDB;
    PGresult *skus = query(conn, PER_SKU, prefix, err);
    PGresult *bad = skus ? query(conn, BAD_RESERVATIONS, prefix, err) : NULL;
    PQclear(PQexec(conn, "COMMIT"));
    if (!bad) {
        PQclear(skus);
        return SAGA_EDB;
    }
    int broken = 0;
    printf("%-24s %12s %12s %12s %12s  %s\n", "SKU", "AVAILABLE", "RESERVED", "SOLD", "SEEDED",
           "STATUS");
    for (int i = 0; i < PQntuples(skus); i++) {
        bool ok = strcmp(PQgetvalue(skus, i, 7), "t") == 0;
        broken += !ok;
        printf("%-24s %12s %12s %12s %12s  %s", PQgetvalue(skus, i, 0), PQgetvalue(skus, i, 1),
               PQgetvalue(skus, i, 2), PQgetvalue(skus, i, 3), PQgetvalue(skus, i, 4),
               ok ? "ok" : "VIOLATED");
        if (!ok)
            printf(" (reservations say reserved %s, sold %s)", PQgetvalue(skus, i, 5),
                   PQgetvalue(skus, i, 6));
        printf("\n");
    }
    for (int i = 0; i < PQntuples(bad); i++)
        printf("reservation %s (sku %s, %s, step %s) disagrees with the barrier\n",
               PQgetvalue(bad, i, 0), PQgetvalue(bad, i, 1), PQgetvalue(bad, i, 2),
               PQgetvalue(bad, i, 3));
    int n_bad = PQntuples(bad);
    printf("%d skus checked: %s\n", PQntuples(skus),
           broken || n_bad ? "invariants VIOLATED" : "invariants hold");
    PQclear(skus);
    PQclear(bad);
    return broken || n_bad ? 1 : 0;
}
