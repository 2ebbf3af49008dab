/*
 * inventory.h - the inventory participant: stock per SKU that sagas
 * reserve, then sell (CONFIRM) or give back (COMPENSATE).
 */
#ifndef SAGA_INVENTORY_H
#define SAGA_INVENTORY_H

#include <libpq-fe.h>

#include "worker.h"

/* Handlers (stock.c). RESERVE payload: {"sku": text, "qty": integer > 0}. */
saga_worker_outcome inventory_reserve(const saga_worker_cmd *cmd, json_t **result,
                                      char *reason, size_t reason_len, void *user);
saga_worker_outcome inventory_confirm(const saga_worker_cmd *cmd, json_t **result,
                                      char *reason, size_t reason_len, void *user);
saga_worker_outcome inventory_compensate(const saga_worker_cmd *cmd, json_t **result,
                                         char *reason, size_t reason_len, void *user);

/* Subcommands (audit.c): `seed --sku SKU --qty N ...`, `check [--prefix P]`. */
int inventory_seed(PGconn *conn, int argc, char **argv, void *user, saga_error *err);
int inventory_check(PGconn *conn, int argc, char **argv, void *user, saga_error *err);

#endif
