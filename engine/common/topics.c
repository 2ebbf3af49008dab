/*
 * topics.c - idempotent topic creation over the Kafka Admin API.
 *
 * One CreateTopics request carries every topic, its result arrives on a
 * private queue, and TOPIC_ALREADY_EXISTS counts as success so that starting
 * twice, or alongside another process, is harmless. Creation returns before
 * every broker's metadata shows the topic; a consumer that subscribed then
 * would be assigned only the topics it could see and look again only at
 * the next metadata refresh (minutes), so ensure waits until each topic is
 * visible with its partitions.
 */
#include "topics.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whether the brokers' metadata shows topic with its partitions. */
static bool visible(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    if (!t)
        return false;
    const struct rd_kafka_metadata *md = NULL;
    bool ok = rd_kafka_metadata(rk, 0, t, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR &&
              md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
              md->topics[0].partition_cnt > 0;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return ok;
}

static int await_visible(rd_kafka_t *rk, const saga_topic_spec *topics, size_t n,
                         int timeout_ms, saga_error *err)
{
    struct timespec t0, now, pause = {0, 100 * 1000000L};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n;) {
        if (visible(rk, topics[i].name, timeout_ms)) {
            i++;
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
            return saga_error_set(err, SAGA_EKAFKA, "topic \"%s\" created but not visible "
                                  "in the brokers' metadata after %d ms", topics[i].name,
                                  timeout_ms);
        nanosleep(&pause, NULL);
    }
    return 0;
}

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
    if (rc == 0)
        rc = await_visible(rk, topics, n, timeout_ms, err);
    for (size_t i = 0; i < n; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return rc;
}
