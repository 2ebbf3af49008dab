/*
 * shipping.c - a complete saga participant in one file, built on the sagad
 * worker library (libsagaworker): it books a courier for an order.
 *
 *   RESERVE    {"order_id": "o-1", "address": {...}}  -> a tentative booking
 *   CONFIRM                                          -> the booking is final
 *   COMPENSATE                                       -> the booking is cancelled
 *
 * It serves the `ship` step of sagas/order_checkout_parallel.json.
 *
 * The library does everything else: Kafka, the idempotency barrier (so a
 * duplicate, a replay or a compensation that overtakes its reserve is
 * handled without this file knowing), batching, retries, dead-lettering and
 * a graceful stop. A handler only changes its own rows, with the connection
 * it is given, and says OK, REJECTED or RETRY.
 *
 * Run: ./shipping-worker migrate && ./shipping-worker run
 *      (SAGA_PG_DSN and SAGA_KAFKA_BROKERS set; consumes saga.shipping.commands)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

/* The schema, applied once by the library (`run` and `migrate`). Append new
 * migrations; never edit one that was applied. The barrier table's layout
 * is part of the participant contract (docs/participants.md). */
static const saga_migration MIGRATIONS[] = {
    {1, "001_shipping",
     "CREATE SCHEMA IF NOT EXISTS shipping;\n"
     "CREATE TABLE shipping.bookings (\n"
     "    idempotency_key text PRIMARY KEY,\n"
     "    order_id        text NOT NULL,\n"
     "    address         jsonb NOT NULL,\n"
     "    status          text NOT NULL DEFAULT 'booked'\n"
     "                    CHECK (status IN ('booked', 'final', 'cancelled')),\n"
     "    created_at      timestamptz NOT NULL DEFAULT now()\n"
     ");\n"
     "CREATE TABLE shipping.barrier (\n"
     "    idempotency_key text NOT NULL,\n"
     "    action          text NOT NULL CHECK (action IN ('RESERVE', 'CONFIRM', 'COMPENSATE')),\n"
     "    outcome         text CHECK (outcome IN ('OK', 'REJECTED')),\n"
     "    reason          text NOT NULL DEFAULT '',\n"
     "    result          jsonb,\n"
     "    saga_id         text NOT NULL,\n"
     "    step            text NOT NULL,\n"
     "    attempt         integer NOT NULL,\n"
     "    created_at      timestamptz NOT NULL DEFAULT now(),\n"
     "    PRIMARY KEY (idempotency_key, action)\n"
     ");\n"},
};

static saga_worker_outcome reserve(const saga_worker_cmd *cmd, json_t **result, char *reason,
                                   size_t reason_len, void *user)
{
    (void)user;
    const char *order;
    if (saga_worker_payload_string(cmd, "order_id", &order, reason, reason_len))
        return SAGA_WORKER_REJECTED; /* a refusal: retrying would not help */
    json_t *address = json_object_get(cmd->payload, "address");
    if (!json_is_object(address) || !json_is_string(json_object_get(address, "street"))) {
        snprintf(reason, reason_len, "order %s has no address with a street to ship to", order);
        return SAGA_WORKER_REJECTED;
    }
    char *address_text = json_dumps(address, JSON_COMPACT);
    const char *p[3] = {cmd->idempotency_key, order, address_text};
    PGresult *r = saga_worker_sql(cmd,
                                  "INSERT INTO shipping.bookings (idempotency_key, order_id, address)"
                                  " VALUES ($1, $2, $3::jsonb) RETURNING created_at",
                                  3, p);
    free(address_text);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return saga_worker_sql_failed(r, reason, reason_len); /* RETRY, rolled back */
    *result = json_pack("{s:s, s:s}", "order_id", order, "booked_at", PQgetvalue(r, 0, 0));
    PQclear(r);
    saga_log_info(&cmd->log, "booked a courier for order %s", order);
    return SAGA_WORKER_OK;
}

/* CONFIRM and COMPENSATE move the step's booking out of 'booked'. The
 * barrier guarantees they only run after a successful RESERVE of the same
 * step, at most once each, and never both. */
static saga_worker_outcome settle(const saga_worker_cmd *cmd, const char *status,
                                  char *reason, size_t reason_len)
{
    const char *p[2] = {cmd->idempotency_key, status};
    PGresult *r = saga_worker_sql(cmd,
                                  "UPDATE shipping.bookings SET status = $2"
                                  " WHERE idempotency_key = $1 AND status = 'booked'",
                                  2, p);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return saga_worker_sql_failed(r, reason, reason_len); /* RETRY, rolled back */
    bool changed = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (!changed) {
        snprintf(reason, reason_len, "no open booking for this step");
        return SAGA_WORKER_REJECTED;
    }
    return SAGA_WORKER_OK;
}

static saga_worker_outcome confirm(const saga_worker_cmd *cmd, json_t **result, char *reason,
                                   size_t reason_len, void *user)
{
    (void)result;
    (void)user;
    return settle(cmd, "final", reason, reason_len);
}

static saga_worker_outcome compensate(const saga_worker_cmd *cmd, json_t **result,
                                      char *reason, size_t reason_len, void *user)
{
    (void)result;
    (void)user;
    return settle(cmd, "cancelled", reason, reason_len);
}

/* An operator subcommand: `shipping-worker bookings` lists the bookings. */
static int list_bookings(PGconn *conn, int argc, char **argv, void *user, saga_error *err)
{
    (void)argv;
    (void)user;
    if (argc != 0)
        return saga_error_set(err, SAGA_EINVAL, "bookings takes no arguments");
    PGresult *r = PQexec(conn, "SELECT order_id, status, address->>'street'"
                               " FROM shipping.bookings ORDER BY created_at");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        saga_error_set(err, SAGA_EDB, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return SAGA_EDB;
    }
    printf("%-20s %-10s %s\n", "ORDER", "STATUS", "STREET");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-20s %-10s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2));
    PQclear(r);
    return 0;
}

static const saga_worker_subcommand SUBCOMMANDS[] = {
    {"bookings", "", "list the bookings", list_bookings},
};

int main(int argc, char **argv)
{
    saga_worker_participant p = {
        .name = "shipping", /* topic saga.shipping.commands, group saga.shipping */
        .summary = "shipping-worker books couriers for sagas (an example participant).",
        .migrations = MIGRATIONS,
        .n_migrations = sizeof MIGRATIONS / sizeof MIGRATIONS[0],
        .handlers = {reserve, confirm, compensate},
        .subcommands = SUBCOMMANDS,
        .n_subcommands = sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0],
    };
    return saga_worker_main(&p, argc, argv);
}
