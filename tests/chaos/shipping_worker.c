/*
 * shipping_worker.c - the "shipping" participant of
 * sagas/order_checkout_parallel.json, for the chaos suite: books a shipment
 * on RESERVE (book_shipment) and cancels it on COMPENSATE (cancel_shipment);
 * the step has no confirm.
 *
 * It is a whole participant in one file on purpose: the worker library
 * (workers/worker.h) supplies the barrier, batching, reconnects, fault
 * injection and the command line, so what is left is two statements and a
 * check. That the chaos suite's third participant is this small, and holds
 * its invariants under the same faults as the two real workers, is the
 * proof that the library is reusable. Its schema is embedded here rather
 * than under schema/, because it is test tooling, not a shipped component.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

static const saga_migration MIGRATIONS[] = {
    {1, "001_shipping",
     "CREATE SCHEMA IF NOT EXISTS shipping;\n"
     /* One row per booking step (idempotency key); cancelled, never deleted. */
     "CREATE TABLE shipping.shipments (\n"
     "    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),\n"
     "    idempotency_key text        NOT NULL UNIQUE,\n"
     "    saga_id         text        NOT NULL,\n"
     "    order_id        text        NOT NULL,\n"
     "    reference       text        NOT NULL,\n"
     "    reservation_id  text        NOT NULL,\n"
     "    address         jsonb,\n"
     "    status          text        NOT NULL DEFAULT 'booked'\n"
     "                                CHECK (status IN ('booked', 'cancelled')),\n"
     "    created_at      timestamptz NOT NULL DEFAULT now(),\n"
     "    cancelled_at    timestamptz\n"
     ");\n"
     "CREATE INDEX shipments_order_idx ON shipping.shipments (order_id);\n"
     /* The barrier every participant of the library has (docs/participants.md). */
     "CREATE TABLE shipping.barrier (\n"
     "    idempotency_key text        NOT NULL,\n"
     "    action          text        NOT NULL\n"
     "                    CHECK (action IN ('RESERVE', 'CONFIRM', 'COMPENSATE')),\n"
     "    outcome         text        CHECK (outcome IN ('OK', 'REJECTED')),\n"
     "    reason          text        NOT NULL DEFAULT '',\n"
     "    result          jsonb,\n"
     "    saga_id         text        NOT NULL,\n"
     "    step            text        NOT NULL,\n"
     "    attempt         integer     NOT NULL,\n"
     "    created_at      timestamptz NOT NULL DEFAULT now(),\n"
     "    PRIMARY KEY (idempotency_key, action)\n"
     ");\n"
     "CREATE INDEX barrier_created_idx ON shipping.barrier (created_at);\n"},
};

static saga_worker_outcome sql_failed(PGresult *r, char *reason, size_t reason_len)
{
    snprintf(reason, reason_len, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return SAGA_WORKER_RETRY;
}

static saga_worker_outcome book(const saga_worker_cmd *cmd, json_t **result, char *reason,
                                size_t reason_len, void *user)
{
    (void)user;
    const char *order_id, *reference, *reservation_id;
    if (saga_worker_payload_string(cmd, "order_id", &order_id, reason, reason_len) ||
        saga_worker_payload_string(cmd, "reference", &reference, reason, reason_len) ||
        saga_worker_payload_string(cmd, "reservation_id", &reservation_id, reason, reason_len))
        return SAGA_WORKER_REJECTED;
    json_t *address = json_object_get(cmd->payload, "address");
    char *addr = json_is_object(address) ? json_dumps(address, JSON_COMPACT) : NULL;
    const char *p[6] = {cmd->idempotency_key, cmd->saga_id, order_id, reference,
                        reservation_id, addr};
    PGresult *r = PQexecParams(cmd->conn,
                               "INSERT INTO shipping.shipments (idempotency_key, saga_id,"
                               " order_id, reference, reservation_id, address)"
                               " VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id",
                               6, NULL, p, NULL, NULL, 0);
    free(addr);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sql_failed(r, reason, reason_len);
    *result = json_pack("{s:s}", "shipment_id", PQgetvalue(r, 0, 0));
    PQclear(r);
    return SAGA_WORKER_OK;
}

static saga_worker_outcome cancel(const saga_worker_cmd *cmd, json_t **result, char *reason,
                                  size_t reason_len, void *user)
{
    (void)user;
    const char *p[1] = {cmd->idempotency_key};
    PGresult *r = PQexecParams(cmd->conn,
                               "UPDATE shipping.shipments SET status = 'cancelled',"
                               " cancelled_at = now()"
                               " WHERE idempotency_key = $1 AND status = 'booked' RETURNING id",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sql_failed(r, reason, reason_len);
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(reason, reason_len, "no booked shipment for this step");
        return SAGA_WORKER_REJECTED;
    }
    *result = json_pack("{s:s}", "shipment_id", PQgetvalue(r, 0, 0));
    PQclear(r);
    return SAGA_WORKER_OK;
}

/* Shipments whose status the barrier does not justify: booked without a
 * successful RESERVE row or with a successful (non-empty) COMPENSATE row,
 * cancelled without one. */
static const char *BAD_SHIPMENTS =
    "SELECT s.id, s.order_id, s.status FROM shipping.shipments s"
    " WHERE starts_with(s.order_id, $1) AND ("
    "  NOT EXISTS (SELECT 1 FROM shipping.barrier b WHERE b.idempotency_key ="
    "   s.idempotency_key AND b.action = 'RESERVE' AND b.outcome = 'OK')"
    "  OR (s.status = 'cancelled') <> EXISTS (SELECT 1 FROM shipping.barrier b WHERE"
    "   b.idempotency_key = s.idempotency_key AND b.action = 'COMPENSATE'"
    "   AND b.outcome = 'OK' AND b.result->>'noop' IS NULL))"
    " ORDER BY s.created_at LIMIT 20";

static int check(PGconn *conn, int argc, char **argv, void *user, saga_error *err)
{
    (void)user;
    const char *prefix = "";
    if (argc == 2 && strcmp(argv[0], "--prefix") == 0) {
        prefix = argv[1];
    } else if (argc != 0) {
        saga_error_set(err, SAGA_EINVAL, "check: unexpected argument \"%s\"", argv[0]);
        saga_error_hint(err, "usage: shipping_worker check [--prefix ORDER-PREFIX]");
        return SAGA_EINVAL;
    }
    const char *p[1] = {prefix};
    PGresult *r = PQexecParams(conn, BAD_SHIPMENTS, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        saga_error_set(err, SAGA_EDB, "check: %s", PQresultErrorMessage(r));
        PQclear(r);
        return SAGA_EDB;
    }
    int bad = PQntuples(r);
    for (int i = 0; i < bad; i++)
        printf("shipment %s (order %s, %s) disagrees with the barrier\n", PQgetvalue(r, i, 0),
               PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
    printf("shipments checked: %s\n", bad ? "invariants VIOLATED" : "invariants hold");
    PQclear(r);
    return bad ? 1 : 0;
}

static const saga_worker_subcommand SUBCOMMANDS[] = {
    {"check", "[--prefix P]",
     "verify every shipment (orders starting with P) agrees with the barrier; exit 1 if not",
     check},
};

int main(int argc, char **argv)
{
    saga_worker_participant p = {
        .name = "shipping",
        .summary = "shipping_worker books and cancels shipments for sagas "
                   "(topic saga.shipping.commands); a test participant of the chaos suite.",
        .migrations = MIGRATIONS,
        .n_migrations = sizeof MIGRATIONS / sizeof MIGRATIONS[0],
        .handlers = {book, NULL, cancel},
        .subcommands = SUBCOMMANDS,
        .n_subcommands = sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0],
    };
    return saga_worker_main(&p, argc, argv);
}
