/*
 * kafka_cli.c - where sagactl's Kafka commands (reconcile, dlq) find the
 * brokers.
 *
 * Only these commands talk to Kafka, so the brokers are their option, not a
 * global one: every other command keeps working with PostgreSQL alone. The
 * environment variable is the one sagad and the workers read, so a shell set
 * up for the stack needs nothing more.
 */
#include <stdlib.h>

#include "sagactl.h"

const char *cli_brokers(const cli_args *a, saga_error *err)
{
    const char *b = cli_value(a, "brokers");
    if (!b || !*b)
        b = getenv("SAGA_KAFKA_BROKERS");
    if (b && *b)
        return b;
    saga_error_set(err, SAGA_EINVAL, "no Kafka brokers");
    saga_error_hint(err, "pass --brokers HOST:PORT or set SAGA_KAFKA_BROKERS");
    return NULL;
}
