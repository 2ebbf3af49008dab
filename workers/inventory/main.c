/*
 * main.c - inventory-worker: the participant library plus the inventory
 * handlers, schema (schema/inventory/) and operator subcommands.
 */
#include "inventory.h"

extern const saga_migration saga_migrations_inventory[];
extern const size_t saga_migrations_inventory_count;

static const saga_worker_subcommand SUBCOMMANDS[] = {
    {"seed", "--sku SKU --qty N ...",
     "set each SKU's total stock to N (idempotent; repeat the pair for more SKUs)",
     inventory_seed},
    {"check", "[--prefix P]",
     "verify available + reserved + sold = seeded per SKU and the reservations; exit 1 if not",
     inventory_check},
};

int main(int argc, char **argv)
{
    saga_worker_participant p = {
        .name = "inventory",
        .summary = "inventory-worker reserves, sells and releases stock for sagas "
                   "(topic saga.inventory.commands).",
        .http_listen = "127.0.0.1:9465",
        .migrations = saga_migrations_inventory,
        .n_migrations = saga_migrations_inventory_count,
        .handlers = {inventory_reserve, inventory_confirm, inventory_compensate},
        .subcommands = SUBCOMMANDS,
        .n_subcommands = sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0],
    };
    return saga_worker_main(&p, argc, argv);
}
