/*
 * dlq.c - copies a poison message to the dead-letter topic.
 *
 * The copy is asynchronous like any produce: the caller owns the decision of
 * when to commit the source offset (after the delivery report), which keeps
 * "nothing is lost" in one place - the consumer loop - for sagad and the
 * workers alike.
 */
#include "dlq.h"

#include <inttypes.h>
#include <stdio.h>

#include "topics.h"

const char *saga_dlq_reason_label(saga_dlq_reason code)
{
    switch (code) {
    case SAGA_DLQ_TOO_LARGE:
        return "message larger than 1 MiB";
    case SAGA_DLQ_UNDECODABLE_REPLY:
        return "undecodable Reply protobuf";
    case SAGA_DLQ_UNDECODABLE_START:
        return "undecodable StartSaga protobuf";
    case SAGA_DLQ_INVALID_REPLY:
        return "invalid Reply";
    case SAGA_DLQ_INVALID_START:
        return "invalid StartSaga";
    case SAGA_DLQ_UNKNOWN_SAGA:
        return "unknown saga";
    case SAGA_DLQ_UNKNOWN_STEP:
        return "unknown step";
    case SAGA_DLQ_REFUSED_BY_DB:
        return "refused by the database";
    case SAGA_DLQ_COMMAND_TOO_LARGE:
        return "Command too large";
    case SAGA_DLQ_INVALID_COMMAND:
        return "invalid Command";
    case SAGA_DLQ_INVALID_SIGNAL:
        return "invalid Signal";
    }
    return "other";
}

int saga_dlq_send(rd_kafka_t *producer, const char *dlq_topic,
                  const rd_kafka_message_t *m, saga_dlq_reason code,
                  const char *reason, void *msg_opaque, saga_error *err)
{
    const char *src = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    if (!dlq_topic)
        dlq_topic = SAGA_TOPIC_DLQ;
    if (!reason)
        reason = "";

    /* rd_kafka_message_headers() borrows from m; the producer needs its own. */
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(5);

    char part[16], off[32];
    snprintf(part, sizeof part, "%" PRId32, m->partition);
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    rd_kafka_header_add(h, SAGA_DLQ_HDR_REASON, -1, reason, -1);
    rd_kafka_header_add(h, SAGA_DLQ_HDR_CLASS, -1, saga_dlq_reason_label(code), -1);
    rd_kafka_header_add(h, SAGA_DLQ_HDR_TOPIC, -1, src, -1);
    rd_kafka_header_add(h, SAGA_DLQ_HDR_PARTITION, -1, part, -1);
    rd_kafka_header_add(h, SAGA_DLQ_HDR_OFFSET, -1, off, -1);

    rd_kafka_resp_err_t e = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(dlq_topic),
        RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* On failure the headers were not taken over. */
        rd_kafka_headers_destroy(h);
        return saga_error_set(err, SAGA_EKAFKA,
                              "cannot dead-letter %s [%" PRId32 "] @%" PRId64 ": %s",
                              src, m->partition, m->offset, rd_kafka_err2str(e));
    }
    return 0;
}
