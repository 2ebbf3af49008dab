/*
 * stock.c - the inventory handlers.
 *
 * Each action is one statement (a data-modifying CTE) so a command costs a
 * single round trip: the stock row and the reservation row change together
 * or not at all. The barrier guarantees each handler runs at most once per
 * step and action, and that CONFIRM/COMPENSATE only run after a successful
 * RESERVE; the WHERE clauses still refuse to move stock that is not there,
 * so even a bug upstream cannot make a total negative.
 */
#include <stdio.h>
#include <stdlib.h>

#include "inventory.h"

#define MAX_QTY 1000000000000LL

/* Explains why nothing was reserved: unknown SKU or not enough stock. */
static saga_worker_outcome refuse(const saga_worker_cmd *cmd, const char *sku, const char *qty,
                                  char *reason, size_t reason_len)
{
    const char *p[1] = {sku};
    PGresult *r = saga_worker_sql(cmd, "SELECT available FROM inventory.stock WHERE sku = $1",
                                  1, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return saga_worker_sql_failed(r, reason, reason_len);
    if (PQntuples(r) == 0)
        snprintf(reason, reason_len, "unknown sku \"%s\"", sku);
    else
        snprintf(reason, reason_len, "insufficient stock for sku \"%s\": %s requested, %s available",
                 sku, qty, PQgetvalue(r, 0, 0));
    PQclear(r);
    return SAGA_WORKER_REJECTED;
}

saga_worker_outcome inventory_reserve(const saga_worker_cmd *cmd, json_t **result,
                                      char *reason, size_t reason_len, void *user)
{
    (void)user;
    const char *sku;
    int64_t qty;
    if (saga_worker_payload_string(cmd, "sku", &sku, reason, reason_len) ||
        saga_worker_payload_int(cmd, "qty", 1, MAX_QTY, &qty, reason, reason_len))
        return SAGA_WORKER_REJECTED;
    char qtys[24];
    snprintf(qtys, sizeof qtys, "%lld", (long long)qty);
    const char *p[5] = {sku, qtys, cmd->idempotency_key, cmd->saga_id, cmd->step};
    PGresult *r = saga_worker_sql(
        cmd,
        "WITH s AS (UPDATE inventory.stock"
        "  SET available = available - $2::bigint, reserved = reserved + $2::bigint,"
        "      updated_at = now()"
        "  WHERE sku = $1 AND available >= $2::bigint RETURNING sku)"
        " INSERT INTO inventory.reservations (idempotency_key, saga_id, step, sku, qty)"
        " SELECT $3, $4, $5, sku, $2::bigint FROM s RETURNING id",
        5, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return saga_worker_sql_failed(r, reason, reason_len);
    if (PQntuples(r) == 0) {
        PQclear(r);
        return refuse(cmd, sku, qtys, reason, reason_len);
    }
    *result = json_pack("{s:s, s:s, s:I}", "reservation_id", PQgetvalue(r, 0, 0), "sku", sku,
                        "qty", (json_int_t)qty);
    PQclear(r);
    return SAGA_WORKER_OK;
}

/* Runs sql, which settles the step's open reservation ($1: idempotency
 * key) and returns (id, sku, qty), or nothing when there was none. */
static saga_worker_outcome settle(const saga_worker_cmd *cmd, const char *sql,
                                  json_t **result, char *reason, size_t reason_len)
{
    const char *p[1] = {cmd->idempotency_key};
    PGresult *r = saga_worker_sql(cmd, sql, 1, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return saga_worker_sql_failed(r, reason, reason_len);
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(reason, reason_len, "no open reservation for this step");
        return SAGA_WORKER_REJECTED;
    }
    *result = json_pack("{s:s, s:s, s:I}", "reservation_id", PQgetvalue(r, 0, 0), "sku",
                        PQgetvalue(r, 0, 1), "qty", (json_int_t)strtoll(PQgetvalue(r, 0, 2),
                                                                         NULL, 10));
    PQclear(r);
    return SAGA_WORKER_OK;
}

saga_worker_outcome inventory_confirm(const saga_worker_cmd *cmd, json_t **result,
                                      char *reason, size_t reason_len, void *user)
{
    (void)user;
    return settle(cmd,
                  "WITH r AS (UPDATE inventory.reservations"
                  "  SET status = 'confirmed', confirmed_at = now()"
                  "  WHERE idempotency_key = $1 AND status = 'reserved'"
                  "  RETURNING id, sku, qty)"
                  " UPDATE inventory.stock s SET reserved = s.reserved - r.qty,"
                  "  sold = s.sold + r.qty, updated_at = now()"
                  " FROM r WHERE s.sku = r.sku RETURNING r.id, r.sku, r.qty",
                  result, reason, reason_len);
}

saga_worker_outcome inventory_compensate(const saga_worker_cmd *cmd, json_t **result,
                                         char *reason, size_t reason_len, void *user)
{
    (void)user;
    return settle(cmd,
                  "WITH r AS (UPDATE inventory.reservations"
                  "  SET status = 'released', released_at = now()"
                  "  WHERE idempotency_key = $1 AND status = 'reserved'"
                  "  RETURNING id, sku, qty)"
                  " UPDATE inventory.stock s SET reserved = s.reserved - r.qty,"
                  "  available = s.available + r.qty, updated_at = now()"
                  " FROM r WHERE s.sku = r.sku RETURNING r.id, r.sku, r.qty",
                  result, reason, reason_len);
}
