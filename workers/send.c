/*
 * send.c - producing a batch's answers and acknowledging its commands (see
 * send.h). Moved out of the loop (worker.c) because waiting for Kafka is
 * the part the loop overlaps with the next batch.
 */
#include "send.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "hops.h"
#include "log.h"

/* How long a stopping worker keeps trying to deliver the batch in hand. */
#define STOP_GRACE_MS 30000

void saga_wsend_report(saga_wsend *s, const rd_kafka_message_t *m)
{
    saga_item *it = m->_private;
    if (!it)
        return;
    it->dr_err = m->err;
    it->in_flight = false;
    s->in_flight--;
}

/* The hop header of the reply to it, from its command's; false without. */
static bool reply_hops(const saga_wsend *s, const saga_item *it, char *buf, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;
    if (rd_kafka_message_headers(it->msg, &h) || !h ||
        rd_kafka_header_get_last(h, SAGA_HOPS_HEADER, &v, &len) || !v)
        return false;
    int64_t t[5] = {s->free_us, it->polled_us, s->start_us, s->applied_us,
                    saga_hops_now_us()};
    return saga_hops_worker(buf, cap, v, len, t);
}

static void produce_one(saga_wsend *s, saga_item *it)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!it->cmd.pb) {
        saga_error err;
        if (saga_dlq_send(s->producer, s->dlq_topic, it->msg, it->poison_code, it->poison, it,
                          &err))
            e = RD_KAFKA_RESP_ERR__FAIL;
    } else {
        const Saga__Command *pb = it->cmd.pb;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
        char hops[SAGA_HOPS_MAX];
        if (pb->traceparent && *pb->traceparent)
            rd_kafka_header_add(hdrs, "traceparent", -1, pb->traceparent, -1);
        if (reply_hops(s, it, hops, sizeof hops))
            rd_kafka_header_add(hdrs, SAGA_HOPS_HEADER, -1, hops, -1);
        e = rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(it->cmd.reply_topic),
                              RD_KAFKA_V_KEY(pb->saga_id, strlen(pb->saga_id)),
                              RD_KAFKA_V_VALUE(it->reply, it->reply_len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(it), RD_KAFKA_V_END);
        if (e)
            rd_kafka_headers_destroy(hdrs);
    }
    it->dr_err = e;
    if (!e) {
        it->in_flight = true;
        s->in_flight++;
    }
}

void saga_wsend_produce(saga_wsend *s, saga_item *items, int n)
{
    for (int i = 0; i < n; i++)
        if (items[i].send)
            produce_one(s, &items[i]);
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits for every delivery report. A stopping worker waits STOP_GRACE_MS at
 * most, then purges what is left (reported as failed). */
static void await_reports(saga_wsend *s, const struct timespec *t0, bool (*stopping)(void))
{
    bool purged = false;
    while (s->in_flight > 0) {
        rd_kafka_flush(s->producer, 100);
        if (!purged && stopping() && elapsed_ms(t0) > STOP_GRACE_MS) {
            rd_kafka_purge(s->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            purged = true;
        }
    }
}

/* Counts the failed deliveries of items; those that need no retry (QUERY
 * answers, delivered ones) are unmarked. */
static int failures(saga_item *items, int n)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        saga_item *it = &items[i];
        if (!it->send)
            continue;
        if (it->dr_err && it->query) {
            /* Best effort: the run that asked treats silence as "no
             * answer", and a retry must not hold up the batch. */
            saga_log_warn(&it->log, "QUERY answer to %s not delivered: %s",
                          it->cmd.reply_topic, rd_kafka_err2str(it->dr_err));
            it->send = false;
        } else if (it->dr_err) {
            failed++;
            saga_log_warn(it->cmd.pb ? &it->log : NULL, "delivery to %s failed: %s",
                          it->cmd.pb ? it->cmd.reply_topic : "the dead-letter topic",
                          rd_kafka_err2str(it->dr_err));
        } else {
            it->send = false;
        }
    }
    return failed;
}

int saga_wsend_await(saga_wsend *s, saga_item *items, int n, bool (*stopping)(void))
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int backoff = 100;;) {
        await_reports(s, &t0, stopping);
        int failed = failures(items, n);
        if (!failed)
            return 0;
        if (stopping() && elapsed_ms(&t0) > STOP_GRACE_MS) {
            saga_log_warn(NULL, "stopping with %d answers undelivered; the commands will be "
                                "redelivered and answered from the barrier", failed);
            return 1;
        }
        for (int slept = 0; slept < backoff; slept += 50)
            pause_ms(50);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        saga_wsend_produce(s, items, n);
    }
}

void saga_wsend_mark_done(saga_wsend *s, const saga_item *items, int n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        rd_kafka_message_t *m = items[i].msg;
        const char *t = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(l, t, m->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(l, t, m->partition);
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
    /* A partition revoked meanwhile refuses the store: its new owner gets
     * those commands again and answers them from the barrier. */
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(s->consumer, l);
    if (e && e != RD_KAFKA_RESP_ERR__STATE)
        saga_log_warn(NULL, "offsets store: %s (the commands will be redelivered "
                            "and answered from the barrier)", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}
