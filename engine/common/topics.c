/*
 * topics.c - idempotent topic creation over the Kafka Admin API.
 *
 * One CreateTopics request carries every topic, its result arrives on a
 * private queue, and TOPIC_ALREADY_EXISTS counts as success so that starting
 * twice, or alongside another process, is harmless.
 */
#include "topics.h"

#include <stdlib.h>

static int create_all(rd_kafka_t *rk, rd_kafka_NewTopic_t **nt, size_t n,
                      int timeout_ms, saga_error *err)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, errstr, sizeof errstr);
    rd_kafka_AdminOptions_set_operation_timeout(opt, timeout_ms, errstr, sizeof errstr);
    rd_kafka_CreateTopics(rk, nt, n, opt, q);
    rd_kafka_AdminOptions_destroy(opt);

    /* The request itself times out after timeout_ms; the margin only lets
     * its result event reach the queue. */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    int rc = 0;
    if (!ev) {
        rc = saga_error_set(err, SAGA_EKAFKA,
                            "creating topics: no answer from the brokers within %d ms",
                            timeout_ms);
        saga_error_hint(err, "check bootstrap.servers and that the brokers are up");
    } else if (rd_kafka_event_error(ev)) {
        rc = saga_error_set(err, SAGA_EKAFKA, "creating topics: %s",
                            rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_CreateTopics_result_t *res =
            rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (size_t i = 0; i < cnt && rc == 0; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
                e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                continue;
            const char *why = rd_kafka_topic_result_error_string(tr[i]);
            rc = saga_error_set(err, SAGA_EKAFKA, "cannot create topic \"%s\": %s",
                                rd_kafka_topic_result_name(tr[i]),
                                why ? why : rd_kafka_err2str(e));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    return rc;
}

int saga_topics_ensure(rd_kafka_t *rk, const saga_topic_spec *topics, size_t n,
                       int timeout_ms, saga_error *err)
{
    if (n == 0)
        return 0;
    rd_kafka_NewTopic_t **nt = calloc(n, sizeof *nt);
    if (!nt)
        return saga_error_set(err, SAGA_ENOMEM, "creating topics: out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char errstr[256];
        nt[i] = rd_kafka_NewTopic_new(topics[i].name, topics[i].partitions,
                                      topics[i].replication, errstr, sizeof errstr);
        if (!nt[i])
            rc = saga_error_set(err, SAGA_EINVAL, "topic \"%s\": %s",
                                topics[i].name ? topics[i].name : "", errstr);
    }
    if (rc == 0)
        rc = create_all(rk, nt, n, timeout_ms, err);
    for (size_t i = 0; i < n; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return rc;
}
