/*
 * dlq.h - dead-lettering: a message that cannot be processed (it does not
 * decode, lacks required fields, is too large) is copied verbatim to the
 * dead-letter topic so the consumer can move past it without losing it.
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * The copy keeps the original key, value and headers byte for byte and adds
 * five headers saying why and where from: "dlq.reason" (human text),
 * "dlq.class" (the reason's kind, one of the labels below), "dlq.topic",
 * "dlq.partition" and "dlq.offset" (decimal). An operator can inspect it
 * with kcat and re-publish it once the cause is fixed.
 *
 * Every dead letter carries a reason code chosen by whoever refused the
 * message, where the cause is known, rather than one read back out of the
 * human text: the text may name ids and change wording, the code's label is
 * what metrics (saga_dlq_total{reason}) and dashboards key on and must stay
 * fixed.
 */
#ifndef SAGA_DLQ_H
#define SAGA_DLQ_H

#include <librdkafka/rdkafka.h>

#include "error.h"

#define SAGA_DLQ_HDR_REASON "dlq.reason"
#define SAGA_DLQ_HDR_CLASS "dlq.class"
#define SAGA_DLQ_HDR_TOPIC "dlq.topic"
#define SAGA_DLQ_HDR_PARTITION "dlq.partition"
#define SAGA_DLQ_HDR_OFFSET "dlq.offset"

/* Why a message was dead-lettered. The comment after each is its label. */
typedef enum saga_dlq_reason {
    SAGA_DLQ_TOO_LARGE,         /* "message larger than 1 MiB" (sagad's limit) */
    SAGA_DLQ_UNDECODABLE_REPLY, /* "undecodable Reply protobuf" */
    SAGA_DLQ_UNDECODABLE_START, /* "undecodable StartSaga protobuf" */
    SAGA_DLQ_INVALID_REPLY,     /* "invalid Reply": a field out of range */
    SAGA_DLQ_INVALID_START,     /* "invalid StartSaga": a field, or no such
                                   definition, or input its schema refuses */
    SAGA_DLQ_UNKNOWN_SAGA,      /* "unknown saga": a Reply for no saga */
    SAGA_DLQ_UNKNOWN_STEP,      /* "unknown step": a Reply for no step of it */
    SAGA_DLQ_REFUSED_BY_DB,     /* "refused by the database": failed alone */
    SAGA_DLQ_COMMAND_TOO_LARGE, /* "Command too large": over a worker's limit */
    SAGA_DLQ_INVALID_COMMAND,   /* "invalid Command": a worker cannot decode
                                   or use it */
    SAGA_DLQ_INVALID_SIGNAL,    /* "invalid Signal": undecodable, or a field
                                   out of range */
} saga_dlq_reason;

/* The label of a reason code: a static string, never NULL ("other" for a
 * value outside the enum). */
const char *saga_dlq_reason_label(saga_dlq_reason code);

/*
 * Enqueues a copy of the consumed message m (borrowed; may be destroyed as
 * soon as this returns) on producer (borrowed) to topic dlq_topic (NULL for
 * "saga.dlq"), with the reason code and its human text (borrowed; NULL for
 * none). msg_opaque is handed to the
 * producer's delivery report callback, so the caller can wait until the copy
 * is durable before committing the consumer offset. Returns 0 once enqueued
 * or SAGA_EKAFKA (e.g. the local queue is full: poll and try again).
 */
int saga_dlq_send(rd_kafka_t *producer, const char *dlq_topic,
                  const rd_kafka_message_t *m, saga_dlq_reason code,
                  const char *reason, void *msg_opaque, saga_error *err);

#endif
