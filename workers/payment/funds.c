/*
 * funds.c - the payment handlers.
 *
 * As for inventory, each action is one data-modifying statement: the
 * account's running totals and the hold row change together in a single
 * round trip. A blocked account refuses new holds but still lets existing
 * ones be captured or released, so a saga in flight can always finish.
 */
#include <stdio.h>
#include <stdlib.h>

#include "payment.h"

#define MAX_AMOUNT 1000000000000000LL

/* Explains why no hold was placed: unknown, blocked or short account. */
static saga_worker_outcome refuse(const saga_worker_cmd *cmd, const char *account, const char *amount,
                                  char *reason, size_t reason_len)
{
    const char *p[1] = {account};
    PGresult *r = saga_worker_sql(
        cmd, "SELECT balance, blocked FROM payment.accounts WHERE id = $1", 1, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return saga_worker_sql_failed(r, reason, reason_len);
    if (PQntuples(r) == 0)
        snprintf(reason, reason_len, "unknown account \"%s\"", account);
    else if (PQgetvalue(r, 0, 1)[0] == 't')
        snprintf(reason, reason_len, "account \"%s\" is blocked", account);
    else
        snprintf(reason, reason_len, "insufficient funds in account \"%s\": %s requested, %s available",
                 account, amount, PQgetvalue(r, 0, 0));
    PQclear(r);
    return SAGA_WORKER_REJECTED;
}

saga_worker_outcome payment_reserve(const saga_worker_cmd *cmd, json_t **result,
                                    char *reason, size_t reason_len, void *user)
{
    (void)user;
    const char *account;
    int64_t amount;
    if (saga_worker_payload_string(cmd, "account", &account, reason, reason_len) ||
        saga_worker_payload_int(cmd, "amount", 1, MAX_AMOUNT, &amount, reason, reason_len))
        return SAGA_WORKER_REJECTED;
    char amounts[24];
    snprintf(amounts, sizeof amounts, "%lld", (long long)amount);
    const char *p[5] = {account, amounts, cmd->idempotency_key, cmd->saga_id, cmd->step};
    PGresult *r = saga_worker_sql(
        cmd,
        "WITH a AS (UPDATE payment.accounts"
        "  SET balance = balance - $2::bigint, held = held + $2::bigint, updated_at = now()"
        "  WHERE id = $1 AND NOT blocked AND balance >= $2::bigint RETURNING id)"
        " INSERT INTO payment.holds (idempotency_key, saga_id, step, account_id, amount)"
        " SELECT $3, $4, $5, id, $2::bigint FROM a RETURNING id",
        5, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return saga_worker_sql_failed(r, reason, reason_len);
    if (PQntuples(r) == 0) {
        PQclear(r);
        return refuse(cmd, account, amounts, reason, reason_len);
    }
    *result = json_pack("{s:s, s:s, s:I}", "hold_id", PQgetvalue(r, 0, 0), "account", account,
                        "amount", (json_int_t)amount);
    PQclear(r);
    return SAGA_WORKER_OK;
}

/* Runs sql, which settles the step's open hold ($1: idempotency key) and
 * returns (id, account, amount), or nothing when there was none. */
static saga_worker_outcome settle(const saga_worker_cmd *cmd, const char *sql,
                                  json_t **result, char *reason, size_t reason_len)
{
    const char *p[1] = {cmd->idempotency_key};
    PGresult *r = saga_worker_sql(cmd, sql, 1, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return saga_worker_sql_failed(r, reason, reason_len);
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(reason, reason_len, "no open hold for this step");
        return SAGA_WORKER_REJECTED;
    }
    *result = json_pack("{s:s, s:s, s:I}", "hold_id", PQgetvalue(r, 0, 0), "account",
                        PQgetvalue(r, 0, 1),
                        "amount", (json_int_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10));
    PQclear(r);
    return SAGA_WORKER_OK;
}

saga_worker_outcome payment_confirm(const saga_worker_cmd *cmd, json_t **result,
                                    char *reason, size_t reason_len, void *user)
{
    (void)user;
    return settle(cmd,
                  "WITH h AS (UPDATE payment.holds SET status = 'captured', captured_at = now()"
                  "  WHERE idempotency_key = $1 AND status = 'held'"
                  "  RETURNING id, account_id, amount)"
                  " UPDATE payment.accounts a SET held = a.held - h.amount,"
                  "  captured = a.captured + h.amount, updated_at = now()"
                  " FROM h WHERE a.id = h.account_id RETURNING h.id, h.account_id, h.amount",
                  result, reason, reason_len);
}

saga_worker_outcome payment_compensate(const saga_worker_cmd *cmd, json_t **result,
                                       char *reason, size_t reason_len, void *user)
{
    (void)user;
    return settle(cmd,
                  "WITH h AS (UPDATE payment.holds SET status = 'released', released_at = now()"
                  "  WHERE idempotency_key = $1 AND status = 'held'"
                  "  RETURNING id, account_id, amount)"
                  " UPDATE payment.accounts a SET held = a.held - h.amount,"
                  "  balance = a.balance + h.amount, updated_at = now()"
                  " FROM h WHERE a.id = h.account_id RETURNING h.id, h.account_id, h.amount",
                  result, reason, reason_len);
}
