/*
 * bus.c - librdkafka clients for sagad (see bus.h).
 *
 * Producer: idempotent (no duplicates or reordering from its own retries),
 * acks=all. A message sent with an outbox id is tracked: its delivery
 * report, served by the loop, adds the id to the acknowledged list that the
 * next turn deletes, so no turn waits for the broker; a failed delivery
 * leaves its row to the relay. Failures of untracked messages (the
 * relay's, dead letters) are counted and reported by the next flush. The
 * producer's queue raises a pipe of its own, so delivery reports wake the
 * loop like messages do.
 */
#include "bus.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "hops.h"
#include "kafka.h"
#include "log.h"
#include "trace.h"

/* How long a produce waits for room in a full producer queue before the
 * turn fails (and is retried: its outbox rows stay in PostgreSQL). */
#define BUS_QUEUE_FULL_MAX_MS 30000

struct saga_bus {
    rd_kafka_t *producer;
    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue; /* the consumer's queue */
    int pipe[2];
    int ppipe[2];            /* raised by the producer's queue */
    int failed;              /* untracked delivery failures since the last flush */
    char last_failure[256];
    int64_t *acked;          /* tracked ids delivered, not yet dropped */
    size_t n_acked, cap_acked;
    size_t in_flight;        /* tracked messages without a delivery report */
    saga_kafka_assignment assignment;
    char fatal[512];         /* a fatal client error, "" when none */
};

/* Adds a delivered id; without memory the row is simply not deleted by a
 * turn and the relay sends it again (participants deduplicate). */
static void add_acked(saga_bus *b, int64_t id)
{
    if (b->n_acked == b->cap_acked) {
        size_t cap = b->cap_acked ? b->cap_acked * 2 : 256;
        int64_t *v = realloc(b->acked, cap * sizeof *v);
        if (!v)
            return;
        b->acked = v;
        b->cap_acked = cap;
    }
    b->acked[b->n_acked++] = id;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    saga_bus *b = opaque;
    int64_t track = (int64_t)(intptr_t)m->_private;
    if (track) {
        b->in_flight--;
        if (!m->err)
            add_acked(b, track);
        else
            saga_log_warn(NULL, "kafka: delivery to %s failed: %s; the outbox relay will "
                                "send it again", rd_kafka_topic_name(m->rkt),
                          rd_kafka_err2str(m->err));
    } else if (m->err) {
        b->failed++;
        snprintf(b->last_failure, sizeof b->last_failure, "%s: %s",
                 rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    }
}

/* A fatal error (a static member fenced, the idempotent producer's state
 * lost) leaves the client unusable for good: it is kept for the loop,
 * which stops sagad so that its supervisor starts a fresh one, as the
 * workers do, rather than idling with no partitions. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    saga_bus *b = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL && b && !b->fatal[0]) {
        rd_kafka_fatal_error(rk, b->fatal, sizeof b->fatal);
        saga_log_error(NULL, "kafka %s: fatal error: %s", rd_kafka_name(rk), b->fatal);
        return;
    }
    saga_log_warn(NULL, "kafka %s: %s: %s", rd_kafka_name(rk),
                  rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    saga_bus *b = opaque;
    saga_kafka_rebalance(rk, err, parts, &b->assignment, "sagad");
}

saga_bus *saga_bus_new(const saga_bus_opts *o, saga_error *err)
{
    saga_bus *b = calloc(1, sizeof *b);
    if (!b) {
        saga_error_set(err, SAGA_ENOMEM, "out of memory");
        return NULL;
    }
    b->pipe[0] = b->pipe[1] = b->ppipe[0] = b->ppipe[1] = -1;
    char errstr[512];

    rd_kafka_conf_t *pc = rd_kafka_conf_dup(o->producer);
    if (saga_kafka_conf_set(pc, "enable.idempotence", "true", err) ||
        saga_kafka_conf_set(pc, "acks", "all", err)) {
        rd_kafka_conf_destroy(pc);
        free(b);
        return NULL;
    }
    rd_kafka_conf_set_opaque(pc, b);
    rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
    rd_kafka_conf_set_error_cb(pc, on_error);
    b->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    if (!b->producer) {
        rd_kafka_conf_destroy(pc);
        saga_error_set(err, SAGA_EKAFKA, "kafka producer: %s", errstr);
        free(b);
        return NULL;
    }
    if (pipe2(b->ppipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        saga_error_set(err, SAGA_EIO, "pipe: cannot create");
        saga_bus_free(b, 0);
        return NULL;
    }
    rd_kafka_queue_t *main_q = rd_kafka_queue_get_main(b->producer);
    rd_kafka_queue_io_event_enable(main_q, b->ppipe[1], "1", 1);
    rd_kafka_queue_destroy(main_q);
    if (!o->group_id || !o->consumer)
        return b;

    rd_kafka_conf_t *cc = rd_kafka_conf_dup(o->consumer);
    if (saga_kafka_conf_set(cc, "group.id", o->group_id, err) ||
        saga_kafka_conf_set(cc, "enable.auto.commit", "true", err) ||
        saga_kafka_conf_set(cc, "enable.auto.offset.store", "false", err) ||
        saga_kafka_conf_set(cc, "auto.offset.reset", "earliest", err) ||
        (o->instance_id && saga_kafka_conf_set(cc, "group.instance.id", o->instance_id, err))) {
        rd_kafka_conf_destroy(cc);
        saga_bus_free(b, 0);
        return NULL;
    }
    rd_kafka_conf_set_error_cb(cc, on_error);
    rd_kafka_conf_set_opaque(cc, b);
    rd_kafka_conf_set_rebalance_cb(cc, on_rebalance);
    saga_kafka_assignment_init(&b->assignment, saga_clock_now_ms());
    b->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
    if (!b->consumer) {
        rd_kafka_conf_destroy(cc);
        saga_error_set(err, SAGA_EKAFKA, "kafka consumer: %s", errstr);
        saga_bus_free(b, 0);
        return NULL;
    }
    rd_kafka_poll_set_consumer(b->consumer);
    b->queue = rd_kafka_queue_get_consumer(b->consumer);
    if (pipe2(b->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        saga_error_set(err, SAGA_EIO, "pipe: cannot create");
        saga_bus_free(b, 0);
        return NULL;
    }
    rd_kafka_queue_io_event_enable(b->queue, b->pipe[1], "1", 1);
    rd_kafka_topic_partition_list_t *subs =
        rd_kafka_topic_partition_list_new((int)o->n_topics);
    for (size_t i = 0; i < o->n_topics; i++)
        rd_kafka_topic_partition_list_add(subs, o->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(b->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        saga_error_set(err, SAGA_EKAFKA, "kafka subscribe: %s", rd_kafka_err2str(e));
        saga_bus_free(b, 0);
        return NULL;
    }
    return b;
}

void saga_bus_free(saga_bus *b, int flush_timeout_ms)
{
    if (!b)
        return;
    if (b->queue)
        rd_kafka_queue_destroy(b->queue);
    if (b->consumer) {
        rd_kafka_consumer_close(b->consumer);
        rd_kafka_destroy(b->consumer);
    }
    if (b->producer) {
        rd_kafka_flush(b->producer, flush_timeout_ms);
        rd_kafka_destroy(b->producer);
    }
    for (int i = 0; i < 2; i++) {
        if (b->pipe[i] >= 0)
            close(b->pipe[i]);
        if (b->ppipe[i] >= 0)
            close(b->ppipe[i]);
    }
    free(b->acked);
    free(b);
}

const char *saga_bus_fatal(const saga_bus *b)
{
    return b->fatal[0] ? b->fatal : NULL;
}

int saga_bus_assignment(const saga_bus *b, int64_t *since_ms)
{
    if (!b->consumer) {
        if (since_ms)
            *since_ms = 0;
        return 0;
    }
    return saga_kafka_assignment_get(&b->assignment, since_ms);
}

int saga_bus_fd(const saga_bus *b)
{
    return b->pipe[0];
}

int saga_bus_producer_fd(const saga_bus *b)
{
    return b->ppipe[0];
}

size_t saga_bus_consume(saga_bus *b, rd_kafka_message_t **out, size_t max,
                        int timeout_ms)
{
    if (!b->consumer)
        return 0;
    char drain[64];
    while (read(b->pipe[0], drain, sizeof drain) > 0)
        ;
    ssize_t n = rd_kafka_consume_batch_queue(b->queue, timeout_ms, out, max);
    if (n <= 0)
        return 0;
    size_t k = 0;
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = out[i];
        if (m->err) {
            /* A fatal error (a fenced static member) also arrives this way:
             * kept for the loop, which stops sagad, as from on_error. */
            if (m->err == RD_KAFKA_RESP_ERR__FATAL && !b->fatal[0])
                rd_kafka_fatal_error(b->consumer, b->fatal, sizeof b->fatal);
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                saga_log_warn(NULL, "kafka consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        out[k++] = m;
    }
    return k;
}

int saga_bus_send(saga_bus *b, const saga_bus_msg *m, saga_error *err)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    if (m->traceparent && *m->traceparent)
        rd_kafka_header_add(h, SAGA_TRACE_HEADER, -1, m->traceparent, -1);
    if (m->hops && *m->hops)
        rd_kafka_header_add(h, SAGA_HOPS_HEADER, -1, m->hops, -1);
    int64_t t0 = 0, warned = 0;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            b->producer, RD_KAFKA_V_TOPIC(m->topic),
            RD_KAFKA_V_KEY(m->key, strlen(m->key)),
            RD_KAFKA_V_VALUE((void *)m->payload, m->len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)m->track), RD_KAFKA_V_END);
        if (!e) {
            b->in_flight += m->track != 0;
            return 0;
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            int64_t now = saga_clock_mono_ms();
            if (!t0)
                t0 = warned = now;
            if (now - t0 < BUS_QUEUE_FULL_MAX_MS) {
                if (now - warned >= 1000) {
                    saga_log_warn(NULL, "kafka producer queue full for %lldms "
                                        "(is the broker reachable?); waiting",
                                  (long long)(now - t0));
                    warned = now;
                }
                rd_kafka_poll(b->producer, 100);
                continue;
            }
            rd_kafka_headers_destroy(h);
            saga_error_set(err, SAGA_EKAFKA, "produce to %s: the producer queue "
                           "stayed full for %ds", m->topic, BUS_QUEUE_FULL_MAX_MS / 1000);
            saga_error_hint(err, "the broker is not taking messages; the outbox "
                                 "keeps them and the relay sends them again");
            return SAGA_EKAFKA;
        }
        rd_kafka_headers_destroy(h);
        return saga_error_set(err, SAGA_EKAFKA, "produce to %s: %s", m->topic,
                              rd_kafka_err2str(e));
    }
}

int saga_bus_produce(saga_bus *b, const char *topic, const char *key,
                     const void *payload, size_t len, const char *traceparent,
                     saga_error *err)
{
    saga_bus_msg m = {.topic = topic, .key = key, .payload = payload, .len = len,
                      .traceparent = traceparent};
    return saga_bus_send(b, &m, err);
}

int saga_bus_flush(saga_bus *b, int timeout_ms, saga_error *err)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(b->producer, timeout_ms);
    int failed = b->failed;
    b->failed = 0;
    if (e)
        return saga_error_set(err, SAGA_EKAFKA,
                              "kafka: messages not delivered within %d ms", timeout_ms);
    if (failed)
        return saga_error_set(err, SAGA_EKAFKA, "kafka: %d deliveries failed (%s)",
                              failed, b->last_failure);
    return 0;
}

void saga_bus_serve(saga_bus *b)
{
    char drain[64];
    while (b->ppipe[0] >= 0 && read(b->ppipe[0], drain, sizeof drain) > 0)
        ;
    rd_kafka_poll(b->producer, 0);
}

const int64_t *saga_bus_acked(const saga_bus *b, size_t *n)
{
    *n = b->n_acked;
    return b->acked;
}

void saga_bus_acked_drop(saga_bus *b, size_t n)
{
    if (n > b->n_acked)
        n = b->n_acked;
    if (n == 0) /* nothing acked yet: acked may still be NULL */
        return;
    memmove(b->acked, b->acked + n, (b->n_acked - n) * sizeof *b->acked);
    b->n_acked -= n;
}

size_t saga_bus_in_flight(const saga_bus *b)
{
    return b->in_flight;
}

/* Partitions of msgs with the lowest and highest offset seen in each. */
static rd_kafka_topic_partition_list_t *span(rd_kafka_message_t *const *msgs,
                                             size_t n, bool lowest)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const char *t = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(l, t, msgs[i]->partition);
        int64_t off = lowest ? msgs[i]->offset : msgs[i]->offset + 1;
        if (!p)
            rd_kafka_topic_partition_list_add(l, t, msgs[i]->partition)->offset = off;
        else if (lowest ? off < p->offset : off > p->offset)
            p->offset = off;
    }
    return l;
}

void saga_bus_done(saga_bus *b, rd_kafka_message_t *const *msgs, size_t n)
{
    if (!b->consumer || n == 0)
        return;
    rd_kafka_topic_partition_list_t *l = span(msgs, n, false);
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(b->consumer, l);
    /* A partition revoked meanwhile refuses the store; its new owner
     * consumes those messages again, which is harmless. */
    if (e && e != RD_KAFKA_RESP_ERR__STATE)
        saga_log_warn(NULL, "kafka offsets store: %s", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

void saga_bus_rewind(saga_bus *b, rd_kafka_message_t *const *msgs, size_t n)
{
    if (!b->consumer || n == 0)
        return;
    rd_kafka_topic_partition_list_t *l = span(msgs, n, true);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(b->consumer, l, 5000);
    if (e) {
        saga_log_warn(NULL, "kafka seek: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

rd_kafka_t *saga_bus_producer(saga_bus *b)
{
    return b->producer;
}

rd_kafka_t *saga_bus_consumer(saga_bus *b)
{
    return b->consumer;
}

int64_t saga_bus_lag(saga_bus *b)
{
    if (!b->consumer)
        return -1;
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(b->consumer, &l))
        return -1;
    rd_kafka_position(b->consumer, l);
    int64_t lag = 0;
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(b->consumer, l->elems[i].topic,
                                           l->elems[i].partition, &lo, &hi))
            continue;
        int64_t pos = l->elems[i].offset >= 0 ? l->elems[i].offset : lo;
        if (hi > pos)
            lag += hi - pos;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return lag;
}
