/*
 * kafka.h - what sagad and the workers share about their Kafka clients:
 * setting a configuration key with a message, the consumer group's
 * rebalances (logged, counted, applied for either protocol), and the
 * static member id that lets a restarted process take its partitions back.
 *
 * Layer: common (used by engine/bus.c and workers/worker.c).
 *
 * Why static membership and cooperative-sticky by default: a process
 * restarted after kill -9 rejoins under the same group.instance.id, so the
 * broker hands it its old partitions at once instead of waiting a session
 * timeout for the dead member; cooperative-sticky moves only the partitions
 * that must move, so the other members keep consuming during a rebalance.
 * The price: a static member stopped cleanly does not leave the group, so
 * its partitions move to the others only after session.timeout.ms.
 */
#ifndef SAGA_KAFKA_H
#define SAGA_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* rd_kafka_conf_set, with "kafka.KEY: why" in err on refusal. */
int saga_kafka_conf_set(rd_kafka_conf_t *conf, const char *key,
                        const char *value, saga_error *err);

/*
 * The consumer's assignment as rebalances leave it. Written by the thread
 * that polls the consumer; read by any (the HTTP thread's /readyz).
 */
typedef struct saga_kafka_assignment {
    int partitions;        /* currently assigned (atomic) */
    int64_t changed_ms;    /* wall clock of the last change, or of creation */
    int64_t rebalances;    /* assignments + revocations seen (atomic) */
} saga_kafka_assignment;

void saga_kafka_assignment_init(saga_kafka_assignment *a, int64_t now_ms);

/* Partitions assigned now, and since when that count has held. */
int saga_kafka_assignment_get(const saga_kafka_assignment *a, int64_t *since_ms);

/*
 * The body of a rebalance callback: applies the change with the protocol
 * in use (incremental for cooperative, whole for eager), logs each
 * assignment and revocation with its partitions at info, and updates a.
 * `who` names the consumer in the log line ("sagad", "payment-worker").
 */
void saga_kafka_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts,
                          saga_kafka_assignment *a, const char *who);

/*
 * The default group.instance.id of a process: "<role>@<host>:<port>" from
 * its HTTP listen address, which is unique per host while the process runs
 * and the same when it is restarted. Without an HTTP port (listen "off")
 * there is nothing stable to name it by: returns false and the process
 * stays a dynamic member. An explicit kafka.group.instance.id wins over it.
 */
bool saga_kafka_instance_id(const char *role, const char *http_listen,
                            char *out, size_t cap);

#endif
