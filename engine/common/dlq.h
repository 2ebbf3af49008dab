/*
 * dlq.h - dead-lettering: a message that cannot be processed (it does not
 * decode, lacks required fields, is too large) is copied verbatim to the
 * dead-letter topic so the consumer can move past it without losing it.
 *
 * The copy keeps the original key, value and headers byte for byte and adds
 * four headers saying why and where from: "dlq.reason" (human text),
 * "dlq.topic", "dlq.partition" and "dlq.offset" (decimal). An operator can
 * inspect it with kcat and re-publish it once the cause is fixed.
 */
#ifndef SAGA_DLQ_H
#define SAGA_DLQ_H

#include <librdkafka/rdkafka.h>

#include "error.h"

#define SAGA_DLQ_HDR_REASON "dlq.reason"
#define SAGA_DLQ_HDR_TOPIC "dlq.topic"
#define SAGA_DLQ_HDR_PARTITION "dlq.partition"
#define SAGA_DLQ_HDR_OFFSET "dlq.offset"

/*
 * Enqueues a copy of the consumed message m (borrowed; may be destroyed as
 * soon as this returns) on producer (borrowed) to topic dlq_topic (NULL for
 * "saga.dlq"), with reason (borrowed). msg_opaque is handed to the
 * producer's delivery report callback, so the caller can wait until the copy
 * is durable before committing the consumer offset. Returns 0 once enqueued
 * or SAGA_EKAFKA (e.g. the local queue is full: poll and try again).
 */
int saga_dlq_send(rd_kafka_t *producer, const char *dlq_topic,
                  const rd_kafka_message_t *m, const char *reason,
                  void *msg_opaque, saga_error *err);

#endif
