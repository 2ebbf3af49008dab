/*
 * kafka_rtt.c - the latency floor of one Kafka hop on this stack: produce a
 * message, consume it back, repeat.
 *
 * A saga hop (sagad -> participant -> sagad) crosses Kafka twice, so twice
 * this round trip is the least any hop can cost before PostgreSQL does any
 * work. The clients use sagad's settings (acks=all, idempotent producer,
 * linger 0, Nagle off, fetch.wait.max.ms 100); --set overrides any property
 * on both clients, and --flush follows every produce with rd_kafka_flush,
 * as sagad and the workers do (a flush sends at once whatever linger.ms
 * says), e.g. to show that their linger costs no latency. The
 * consumer is assigned the partition directly (its group is never joined),
 * so nothing but the produce -> fetch path is measured.
 *
 * usage: kafka_rtt [--brokers B] [--topic T] [--count N] [--set k=v ...] [--flush]
 * prints {"count":..., "rtt_ms": {p50, p95, p99, max, mean}} on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "bench.h"
#include "error.h"
#include "topics.h"

#define MAX_SETS 16

typedef struct opts {
    const char *brokers;
    const char *topic;
    int count;
    const char *sets[MAX_SETS];
    int n_sets;
    bool flush;
} opts;

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char errstr[512];
    if (rd_kafka_conf_set(c, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_rtt: %s: %s\n", k, errstr);
        return -1;
    }
    return 0;
}

/* A delivery report callback, as sagad and the workers have: without one,
 * rd_kafka_flush has nothing to wake it when the ack arrives and sleeps
 * out its 10 ms poll slices, which would be measured as Kafka latency. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)m;
    (void)opaque;
}

static rd_kafka_conf_t *make_conf(const opts *o, bool consumer)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    int bad = conf_set(c, "bootstrap.servers", o->brokers) |
              conf_set(c, "socket.nagle.disable", "true");
    if (consumer)
        bad |= conf_set(c, "fetch.wait.max.ms", "100") |
               conf_set(c, "group.id", "bench.rtt") |
               conf_set(c, "enable.auto.commit", "false") |
               conf_set(c, "enable.partition.eof", "false");
    else
        bad |= conf_set(c, "linger.ms", "0") | conf_set(c, "acks", "all") |
               conf_set(c, "enable.idempotence", "true");
    if (!consumer)
        rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    for (int i = 0; i < o->n_sets && !bad; i++) {
        char key[256];
        const char *eq = strchr(o->sets[i], '=');
        if (!eq) {
            fprintf(stderr, "kafka_rtt: --set wants key=value, got %s\n", o->sets[i]);
            bad = 1;
            break;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - o->sets[i]), o->sets[i]);
        /* Producer-only or consumer-only keys are skipped on the other. */
        char errstr[512];
        rd_kafka_conf_set(c, key, eq + 1, errstr, sizeof errstr);
    }
    if (bad) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    return c;
}

static void parse(opts *o, int argc, char **argv)
{
    o->brokers = getenv("SAGA_KAFKA_BROKERS");
    o->topic = "bench.rtt";
    o->count = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0)
            o->brokers = bench_arg(argc, argv, &i);
        else if (strcmp(argv[i], "--topic") == 0)
            o->topic = bench_arg(argc, argv, &i);
        else if (strcmp(argv[i], "--count") == 0)
            o->count = atoi(bench_arg(argc, argv, &i));
        else if (strcmp(argv[i], "--flush") == 0)
            o->flush = true;
        else if (strcmp(argv[i], "--set") == 0 && o->n_sets < MAX_SETS)
            o->sets[o->n_sets++] = bench_arg(argc, argv, &i);
        else {
            fprintf(stderr, "usage: kafka_rtt [--brokers B] [--topic T] [--count N] "
                            "[--set key=value ...]\n");
            exit(2);
        }
    }
    if (!o->brokers || o->count < 1) {
        fprintf(stderr, "kafka_rtt: no brokers (set SAGA_KAFKA_BROKERS) or bad --count\n");
        exit(2);
    }
}

/* Waits until the consumer has a position, so the first probe is not
 * charged with the partition assignment. */
static int warm_up(rd_kafka_t *p, rd_kafka_t *c, const char *topic)
{
    for (int i = 0; i < 50; i++) {
        char v[24];
        snprintf(v, sizeof v, "warm-%d", i);
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE(v, strlen(v)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END);
        rd_kafka_flush(p, 5000);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
        if (m) {
            int ok = !m->err;
            rd_kafka_message_destroy(m);
            if (ok)
                return 0;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    opts o = {0};
    parse(&o, argc, argv);
    char errstr[512];
    rd_kafka_conf_t *pc = make_conf(&o, false), *cc = make_conf(&o, true);
    if (!pc || !cc)
        return 2;
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    if (!p) {
        fprintf(stderr, "kafka_rtt: producer: %s\n", errstr);
        return 2;
    }
    saga_error err;
    saga_topic_spec t = {o.topic, 1, -1};
    if (saga_topics_ensure(p, &t, 1, 10000, &err)) {
        fprintf(stderr, "kafka_rtt: %s\n", err.msg);
        rd_kafka_destroy(p);
        return 2;
    }
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
    if (!c) {
        fprintf(stderr, "kafka_rtt: consumer: %s\n", errstr);
        rd_kafka_destroy(p);
        return 2;
    }
    rd_kafka_topic_partition_list_t *as = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(as, o.topic, 0)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_assign(c, as);
    rd_kafka_topic_partition_list_destroy(as);

    int rc = 0;
    double *rtt = calloc((size_t)o.count, sizeof *rtt);
    size_t n = 0;
    if (!rtt || warm_up(p, c, o.topic)) {
        fprintf(stderr, "kafka_rtt: the consumer never received a message\n");
        rc = 1;
    }
    for (int i = 0; i < o.count && rc == 0; i++) {
        char v[32];
        int len = snprintf(v, sizeof v, "rtt-%d", i);
        int64_t t0 = bench_mono_us();
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(o.topic), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE(v, (size_t)len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (o.flush)
            rd_kafka_flush(p, 5000);
        bool got = false;
        while (!got && bench_mono_us() - t0 < 5000000) {
            rd_kafka_poll(p, 0);
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
            if (!m)
                continue;
            got = !m->err && m->len == (size_t)len && memcmp(m->payload, v, (size_t)len) == 0;
            rd_kafka_message_destroy(m);
        }
        if (!got) {
            fprintf(stderr, "kafka_rtt: message %d did not come back within 5 s\n", i);
            rc = 1;
            break;
        }
        rtt[n++] = (double)(bench_mono_us() - t0) / 1000.0;
    }
    if (rc == 0) {
        bench_sort(rtt, n);
        printf("{\"count\": %zu, \"rtt_ms\": ", n);
        bench_print_pcts(stdout, rtt, n);
        printf("}\n");
    }
    free(rtt);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_flush(p, 5000);
    rd_kafka_destroy(p);
    return rc;
}
