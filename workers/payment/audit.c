/*
 * audit.c - the operator's side of payment: seeding accounts and checking
 * that no saga, duplicate or crash ever created or destroyed money.
 *
 * seed sets an account's total funds to a level (and its blocked flag to
 * what the command line says), so running it again leaves the same state.
 * check recomputes held and captured from the holds, compares them with the
 * running totals, and compares every hold with the barrier rows that
 * justify it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payment.h"

typedef struct seed_row {
    const char *account;
    const char *balance;
    bool blocked;
} seed_row;

static int exec_or_fail(PGconn *c, const char *sql, saga_error *err)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        saga_error_set(err, SAGA_EDB, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : SAGA_EDB;
}

static bool whole_number(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return *s && !errno && !*end && v >= 0;
}

/* Parses `--account ID --balance N [--blocked]` groups; rows has argc/4+1 room. */
static int parse_seed(int argc, char **argv, seed_row *rows, int *n, saga_error *err)
{
    *n = 0;
    for (int i = 0; i < argc;) {
        if (i + 3 >= argc || strcmp(argv[i], "--account") != 0 || !*argv[i + 1] ||
            strcmp(argv[i + 2], "--balance") != 0 || !whole_number(argv[i + 3])) {
            saga_error_set(err, SAGA_EINVAL, "seed: expected --account ID --balance N [--blocked] "
                                             "at \"%s\"", argv[i]);
            saga_error_hint(err, "e.g. payment-worker seed --account acc-1 --balance 10000 "
                                 "--account acc-2 --balance 0 --blocked");
            return SAGA_EINVAL;
        }
        seed_row *r = &rows[(*n)++];
        r->account = argv[i + 1];
        r->balance = argv[i + 3];
        r->blocked = i + 4 < argc && strcmp(argv[i + 4], "--blocked") == 0;
        i += r->blocked ? 5 : 4;
    }
    if (*n == 0) {
        saga_error_set(err, SAGA_EINVAL, "seed needs --account ID --balance N");
        return SAGA_EINVAL;
    }
    return 0;
}

int payment_seed(PGconn *conn, int argc, char **argv, void *user, saga_error *err)
{
    (void)user;
    seed_row *rows = calloc((size_t)argc / 4 + 1, sizeof *rows);
    if (!rows)
        return saga_error_set(err, SAGA_ENOMEM, "seed: out of memory");
    int n, rc = parse_seed(argc, argv, rows, &n, err);
    if (rc == 0)
        rc = exec_or_fail(conn, "BEGIN", err);
    if (rc == 0)
        printf("%-24s %14s %14s %14s %14s  %s\n", "ACCOUNT", "BALANCE", "HELD", "CAPTURED",
               "SEEDED", "BLOCKED");
    for (int i = 0; i < n && rc == 0; i++) {
        const char *p[3] = {rows[i].account, rows[i].balance, rows[i].blocked ? "t" : "f"};
        /* Reaching the level moves only the difference into the balance. */
        PGresult *r = PQexecParams(
            conn,
            "INSERT INTO payment.accounts AS a (id, balance, seeded, blocked)"
            " VALUES ($1, $2::bigint, $2::bigint, $3::boolean)"
            " ON CONFLICT (id) DO UPDATE SET"
            "  balance = a.balance + (EXCLUDED.seeded - a.seeded),"
            "  seeded = EXCLUDED.seeded, blocked = EXCLUDED.blocked, updated_at = now()"
            " RETURNING balance, held, captured, seeded, blocked",
            3, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = saga_error_set(err, SAGA_EDB, "cannot seed account \"%s\" to %s: %s",
                                rows[i].account, rows[i].balance, PQresultErrorMessage(r));
            saga_error_hint(err, "a level below what is held or captured cannot be reached");
            PQclear(PQexec(conn, "ROLLBACK"));
        } else {
            printf("%-24s %14s %14s %14s %14s  %s\n", rows[i].account, PQgetvalue(r, 0, 0),
                   PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
                   PQgetvalue(r, 0, 4)[0] == 't' ? "yes" : "no");
        }
        PQclear(r);
    }
    free(rows);
    return rc ? rc : exec_or_fail(conn, "COMMIT", err);
}

/* Per account: the running totals next to what the holds say. */
static const char *PER_ACCOUNT =
    "SELECT a.id, a.balance, a.held, a.captured, a.seeded,"
    " coalesce(sum(h.amount) FILTER (WHERE h.status = 'held'), 0),"
    " coalesce(sum(h.amount) FILTER (WHERE h.status = 'captured'), 0),"
    " a.balance + a.held + a.captured = a.seeded"
    "  AND a.held = coalesce(sum(h.amount) FILTER (WHERE h.status = 'held'), 0)"
    "  AND a.captured = coalesce(sum(h.amount) FILTER (WHERE h.status = 'captured'), 0),"
    " a.blocked"
    " FROM payment.accounts a LEFT JOIN payment.holds h ON h.account_id = a.id"
    " WHERE starts_with(a.id, $1)"
    " GROUP BY a.id ORDER BY a.id";

/* Holds whose state the barrier does not justify: both captured and
 * released, or a status without the matching successful barrier row. */
static const char *BAD_HOLDS =
    "SELECT h.id, h.account_id, h.status, h.idempotency_key FROM payment.holds h"
    " WHERE starts_with(h.account_id, $1) AND ("
    "  (h.captured_at IS NOT NULL AND h.released_at IS NOT NULL)"
    "  OR NOT EXISTS (SELECT 1 FROM payment.barrier b WHERE b.idempotency_key ="
    "   h.idempotency_key AND b.action = 'RESERVE' AND b.outcome = 'OK')"
    "  OR (h.status = 'captured') <> EXISTS (SELECT 1 FROM payment.barrier b WHERE"
    "   b.idempotency_key = h.idempotency_key AND b.action = 'CONFIRM' AND b.outcome = 'OK')"
    "  OR (h.status = 'released') <> EXISTS (SELECT 1 FROM payment.barrier b WHERE"
    "   b.idempotency_key = h.idempotency_key AND b.action = 'COMPENSATE' AND b.outcome = 'OK'"
    "   AND b.result->>'noop' IS NULL))"
    " ORDER BY h.created_at LIMIT 20";

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

int payment_check(PGconn *conn, int argc, char **argv, void *user, saga_error *err)
{
    (void)user;
    const char *prefix = "";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc) {
            prefix = argv[++i];
            continue;
        }
        saga_error_set(err, SAGA_EINVAL, "check: unexpected argument \"%s\"", argv[i]);
        saga_error_hint(err, "usage: payment-worker check [--prefix ACCOUNT-PREFIX]");
        return SAGA_EINVAL;
    }
    /* One snapshot for both queries, so running workers cannot skew them. */
    if (exec_or_fail(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return SAGA_EDB;
    PGresult *accts = query(conn, PER_ACCOUNT, prefix, err);
    PGresult *bad = accts ? query(conn, BAD_HOLDS, prefix, err) : NULL;
    PQclear(PQexec(conn, "COMMIT"));
    if (!bad) {
        PQclear(accts);
        return SAGA_EDB;
    }
    int broken = 0;
    printf("%-24s %14s %14s %14s %14s  %-7s  %s\n", "ACCOUNT", "BALANCE", "HELD", "CAPTURED",
           "SEEDED", "BLOCKED", "STATUS");
    for (int i = 0; i < PQntuples(accts); i++) {
        bool ok = strcmp(PQgetvalue(accts, i, 7), "t") == 0;
        broken += !ok;
        printf("%-24s %14s %14s %14s %14s  %-7s  %s", PQgetvalue(accts, i, 0),
               PQgetvalue(accts, i, 1), PQgetvalue(accts, i, 2), PQgetvalue(accts, i, 3),
               PQgetvalue(accts, i, 4), PQgetvalue(accts, i, 8)[0] == 't' ? "yes" : "no",
               ok ? "ok" : "VIOLATED");
        if (!ok)
            printf(" (holds say held %s, captured %s)", PQgetvalue(accts, i, 5),
                   PQgetvalue(accts, i, 6));
        printf("\n");
    }
    for (int i = 0; i < PQntuples(bad); i++)
        printf("hold %s (account %s, %s, step %s) disagrees with the barrier\n",
               PQgetvalue(bad, i, 0), PQgetvalue(bad, i, 1), PQgetvalue(bad, i, 2),
               PQgetvalue(bad, i, 3));
    int n_bad = PQntuples(bad);
    printf("%d accounts checked: %s\n", PQntuples(accts),
           broken || n_bad ? "invariants VIOLATED" : "invariants hold");
    PQclear(accts);
    PQclear(bad);
    return broken || n_bad ? 1 : 0;
}
