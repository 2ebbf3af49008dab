/*
 * main.c - payment-worker: the participant library plus the payment
 * handlers, schema (schema/payment/) and operator subcommands.
 */
#include "payment.h"

extern const saga_migration saga_migrations_payment[];
extern const size_t saga_migrations_payment_count;

static const saga_worker_subcommand SUBCOMMANDS[] = {
    {"seed", "--account ID --balance N [--blocked] ...",
     "set each account's total funds to N and its blocked flag (idempotent)", payment_seed},
    {"check", "[--prefix P]",
     "verify balance + held + captured = seeded per account and the holds; exit 1 if not",
     payment_check},
};

int main(int argc, char **argv)
{
    saga_worker_participant p = {
        .name = "payment",
        .summary = "payment-worker holds, captures and releases funds for sagas "
                   "(topic saga.payment.commands).",
        .http_listen = "127.0.0.1:9466",
        .migrations = saga_migrations_payment,
        .n_migrations = saga_migrations_payment_count,
        .handlers = {payment_reserve, payment_confirm, payment_compensate},
        .subcommands = SUBCOMMANDS,
        .n_subcommands = sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0],
    };
    return saga_worker_main(&p, argc, argv);
}
