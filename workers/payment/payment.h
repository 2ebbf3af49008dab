/*
 * payment.h - the payment participant: accounts whose funds sagas hold,
 * then capture (CONFIRM) or release (COMPENSATE).
 */
#ifndef SAGA_PAYMENT_H
#define SAGA_PAYMENT_H

#include <libpq-fe.h>

#include "worker.h"

/* Handlers (funds.c). RESERVE payload: {"account": text, "amount": integer > 0},
 * amount in minor units (cents). */
saga_worker_outcome payment_reserve(const saga_worker_cmd *cmd, json_t **result,
                                    char *reason, size_t reason_len, void *user);
saga_worker_outcome payment_confirm(const saga_worker_cmd *cmd, json_t **result,
                                    char *reason, size_t reason_len, void *user);
saga_worker_outcome payment_compensate(const saga_worker_cmd *cmd, json_t **result,
                                       char *reason, size_t reason_len, void *user);

/* Subcommands (audit.c): `seed --account ID --balance N [--blocked] ...`,
 * `check [--prefix P]`. */
int payment_seed(PGconn *conn, int argc, char **argv, void *user, saga_error *err);
int payment_check(PGconn *conn, int argc, char **argv, void *user, saga_error *err);

#endif
