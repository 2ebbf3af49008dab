/*
 * rogue_participant.c - a participant that breaks one rule of the contract
 * on request, to show that `sagactl participant check` fails each broken
 * participant on the rule it breaks (tests/integration/conformance.sh).
 *
 *   rogue_participant --participant NAME --break MODE
 *
 * It cannot be built on the worker library, which enforces every rule; it
 * is a bare librdkafka loop instead, reusing only the library's pure parts
 * (saga_wire_decode/reply, saga_barrier_decide) so that with --break none
 * it is an independent, correct participant, and each mode changes exactly
 * one decision. Its barrier lives in memory (a test fake: nothing survives
 * a restart), its consumer is assigned to partition 0 of a one-partition
 * command topic it creates (no group to join). The handler: RESERVE needs
 * {"qty": N >= 1} and answers {"reservation": K} with a fresh K, CONFIRM and
 * COMPENSATE answer {"reservation": K, "status": ...}.
 */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barrier.h"
#include "dlq.h"
#include "topics.h"
#include "wire.h"

static const char *const MODES[] = {
    "none",                     /* correct */
    "ok-to-all",                /* answers OK to everything, refuses nothing */
    "reapply-duplicates",       /* a duplicate RESERVE runs the handler again */
    "no-empty-compensation",    /* COMPENSATE without RESERVE is REJECTED */
    "no-hanging-protection",    /* RESERVE after COMPENSATE runs the handler */
    "confirm-after-compensate", /* CONFIRM after COMPENSATE runs the handler */
    "silent-on-reject",         /* a payload it refuses gets no answer */
    "dies-on-poison",           /* exits on an undecodable message */
    "no-traceparent",           /* replies without the traceparent header */
    "no-dlq",                   /* drops undecodable messages silently */
};
enum { NONE, OK_TO_ALL, REAPPLY, NO_EMPTY, NO_HANGING, CONFIRM_LATE, SILENT, DIES, NO_TP, NO_DLQ };
#define N_MODES (int)(sizeof MODES / sizeof *MODES)
#define MAX_ROWS 4096

typedef struct row {
    char key[SAGA_WIRE_MAX_KEY + 1];
    saga_worker_action action;
    saga_worker_outcome outcome;
    char reason[128];
    char result[128];
    int reservation;
} row;

static row rows[MAX_ROWS];
static int n_rows, mode, next_reservation = 1;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static row *find(const char *key, saga_worker_action a)
{
    for (int i = 0; i < n_rows; i++)
        if (rows[i].action == a && strcmp(rows[i].key, key) == 0)
            return &rows[i];
    return NULL;
}

/* The business change; the in-memory barrier has let it through. */
static void handle(const Saga__Command *c, json_t *payload, row *out)
{
    const row *reserve = find(c->idempotency_key, SAGA_WORKER_RESERVE);
    json_t *qty = json_object_get(payload, "qty");
    out->outcome = SAGA_WORKER_OK;
    if (c->action == SAGA__ACTION__RESERVE && (!json_is_integer(qty) || json_integer_value(qty) < 1)) {
        out->outcome = SAGA_WORKER_REJECTED;
        snprintf(out->reason, sizeof out->reason, "invalid payload: qty must be >= 1");
    } else if (c->action == SAGA__ACTION__RESERVE) {
        out->reservation = next_reservation++;
        snprintf(out->result, sizeof out->result, "{\"reservation\":%d}", out->reservation);
    } else {
        out->reservation = reserve ? reserve->reservation : 0;
        snprintf(out->result, sizeof out->result, "{\"reservation\":%d,\"status\":\"%s\"}",
                 out->reservation, c->action == SAGA__ACTION__CONFIRM ? "confirmed" : "released");
    }
}

/* Decides, applies and records one command; NULL when it goes unanswered. */
static const row *apply(const Saga__Command *c, json_t *payload)
{
    saga_worker_action a = (saga_worker_action)c->action;
    row *own = find(c->idempotency_key, a);
    if (own && !(mode == REAPPLY && a == SAGA_WORKER_RESERVE))
        return own;
    if (!own && n_rows == MAX_ROWS)
        return NULL;
    row *r = own ? own : &rows[n_rows];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", c->idempotency_key);
    r->action = a;
    saga_barrier_seen seen = {{0}};
    for (int x = SAGA_WORKER_RESERVE; x <= SAGA_WORKER_COMPENSATE; x++) {
        const row *o = find(c->idempotency_key, (saga_worker_action)x);
        seen.outcome[x] = o && o != r ? o->outcome : 0;
    }
    saga_barrier_decision d = saga_barrier_decide(a, &seen);
    bool handled = false;
    bool broken = mode == OK_TO_ALL || (mode == NO_HANGING && a == SAGA_WORKER_RESERVE) ||
                  (mode == CONFIRM_LATE && a == SAGA_WORKER_CONFIRM);
    if (mode == NO_EMPTY && a == SAGA_WORKER_COMPENSATE && !seen.outcome[SAGA_WORKER_RESERVE]) {
        r->outcome = SAGA_WORKER_REJECTED;
        snprintf(r->reason, sizeof r->reason, "nothing to compensate");
    } else if (d.verdict == SAGA_BARRIER_RECORD && !broken) {
        r->outcome = d.outcome;
        snprintf(r->reason, sizeof r->reason, "%s", d.reason);
        snprintf(r->result, sizeof r->result, "%s", d.result ? d.result : "");
    } else {
        handle(c, payload, r);
        handled = true;
        if (mode == OK_TO_ALL)
            r->outcome = SAGA_WORKER_OK;
    }
    if (!own)
        n_rows++;
    return mode == SILENT && handled && r->outcome == SAGA_WORKER_REJECTED ? NULL : r;
}

static void reply(rd_kafka_t *p, const saga_wire_cmd *cmd, const row *r)
{
    uint8_t *buf;
    size_t len;
    const Saga__Command *c = cmd->pb;
    if (saga_wire_reply(c, r->outcome, r->reason, *r->result ? r->result : NULL, &buf, &len))
        return;
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (mode != NO_TP && c->traceparent && *c->traceparent)
        rd_kafka_header_add(h, "traceparent", -1, c->traceparent, -1);
    if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(cmd->reply_topic),
                          RD_KAFKA_V_KEY(c->saga_id, strlen(c->saga_id)),
                          RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END))
        rd_kafka_headers_destroy(h);
    free(buf);
    rd_kafka_flush(p, 5000);
}

static void on_message(rd_kafka_t *p, const rd_kafka_message_t *m)
{
    saga_wire_cmd cmd;
    char why[256];
    if (saga_wire_decode(m->payload, m->len, 1 << 20, &cmd, why, sizeof why)) {
        fprintf(stderr, "rogue: undecodable message: %s\n", why);
        if (mode == DIES)
            exit(1);
        saga_error err;
        if (mode != NO_DLQ && saga_dlq_send(p, NULL, m, SAGA_DLQ_INVALID_COMMAND, why, NULL, &err) == 0)
            rd_kafka_flush(p, 5000);
        return;
    }
    const row *r = apply(cmd.pb, cmd.payload);
    if (r)
        reply(p, &cmd, r);
    saga_wire_cmd_free(&cmd);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_conf_set(conf, "group.id", "rogue", errstr, sizeof errstr);
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", errstr, sizeof errstr);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "rogue: %s\n", errstr);
        exit(2);
    }
    return rk;
}

int main(int argc, char **argv)
{
    const char *name = NULL, *brk = "none", *brokers = getenv("SAGA_KAFKA_BROKERS");
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--participant") == 0)
            name = argv[i + 1];
        else if (strcmp(argv[i], "--break") == 0)
            brk = argv[i + 1];
    }
    for (mode = 0; mode < N_MODES && strcmp(MODES[mode], brk) != 0; mode++)
        ;
    if (!name || !brokers || mode == N_MODES) {
        fprintf(stderr, "usage: SAGA_KAFKA_BROKERS=... rogue_participant --participant NAME"
                        " [--break MODE]\nmodes:");
        for (int i = 0; i < N_MODES; i++)
            fprintf(stderr, " %s", MODES[i]);
        fputc('\n', stderr);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    char topic[300];
    snprintf(topic, sizeof topic, "saga.%s.commands", name);
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, brokers), *c = client(RD_KAFKA_CONSUMER, brokers);
    saga_topic_spec t[2] = {{topic, 1, -1}, {SAGA_TOPIC_DLQ, 4, -1}};
    saga_error err;
    if (saga_topics_ensure(p, t, 2, 10000, &err)) {
        fprintf(stderr, "rogue: %s\n", err.msg);
        return 2;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    fprintf(stderr, "rogue: consuming %s, breaking %s\n", topic, MODES[mode]);
    while (!stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err)
            on_message(p, m);
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    return 0;
}
