/*
 * topics.h - make sure the Kafka topics a process needs exist before it
 * produces to or subscribes to them.
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Relying on the broker's auto.create.topics.enable gives topics the broker's
 * default partition count and fails outright on clusters that disable it, so
 * sagad and every worker create their topics explicitly at start through the
 * Admin API. Creating a topic that already exists is success: several
 * processes may start at once, and an existing topic is never altered (its
 * partition count stays what the operator chose).
 */
#ifndef SAGA_TOPICS_H
#define SAGA_TOPICS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "error.h"

/* The dead-letter topic shared by sagad and the workers (see dlq.h). */
#define SAGA_TOPIC_DLQ "saga.dlq"
#define SAGA_TOPIC_REPLIES "saga.replies"
/* Signal messages: outside decisions for signal steps, and parents' orders
 * to their sub-sagas (engine_family.c). */
#define SAGA_TOPIC_SIGNALS "saga.signals"

typedef struct saga_topic_spec {
    const char *name;  /* borrowed */
    int partitions;    /* >= 1 */
    int replication;   /* >= 1, or -1 for the broker's default.replication.factor */
} saga_topic_spec;

/*
 * Creates every topic of `topics` that does not exist yet, using rk
 * (borrowed; any client type, its configuration - TLS, SASL - is reused).
 * Waits at most timeout_ms for the brokers' answer, then as long again for
 * every topic to show in their metadata (so a consumer subscribing next is
 * assigned all of them). Returns 0 when every topic now exists and is
 * visible, SAGA_EINVAL for a bad spec, or SAGA_EKAFKA naming the first
 * topic that could not be created (and the broker's reason) or seen.
 */
int saga_topics_ensure(rd_kafka_t *rk, const saga_topic_spec *topics, size_t n,
                       int timeout_ms, saga_error *err);

#endif
