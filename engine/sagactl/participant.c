/*
 * participant.c - `sagactl participant check`: the command line and the
 * Kafka side of the conformance check.
 *
 * The checker is a small sagad: it produces saga.Command messages to the
 * participant's command topic (key = saga id, "traceparent" header and
 * field, fresh saga ids and idempotency keys), and reads the answers from a
 * reply topic made for this run, so nothing else answers or consumes them.
 * The consumer is assigned, not subscribed: no group to join, and the
 * dead-letter topic is read from its end as it was when the run began, so
 * only this run's poison can be found there. Commands go one at a time: a
 * saga's commands are answered in order anyway, and one in flight makes
 * every answer unambiguous.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kafka.h"
#include "participant.h"
#include "random.h"
#include "saga.pb-c.h"
#include "sagactl.h"
#include "topics.h"

#define MAX_RETRIES 3
#define RETRY_PAUSE_MS 200
#define POLL_MS 50
#define MAX_SEEN 64 /* a check sends about 20 commands */

typedef struct seen_reply {
    char key[PC_MAX_TEXT];
    Saga__Reply *pb; /* owned; NULL when it did not decode */
    char tp_header[PC_MAX_TEXT];
    bool taken;
} seen_reply;

struct pc_session {
    pc_options opt;
    char reply_topic[128];
    rd_kafka_t *producer, *consumer;
    bool dlq_assigned;
    seen_reply seen[MAX_SEEN];
    size_t n_seen;
    char sent[MAX_SEEN][SAGA_TRACEPARENT_SIZE]; /* traceparents, in sending order */
    size_t n_sent;
    char dlq_keys[MAX_SEEN][PC_MAX_TEXT];
    char dlq_reasons[MAX_SEEN][PC_MAX_TEXT];
    size_t n_dlq;
};

const pc_options *pc_session_options(const pc_session *s)
{
    return &s->opt;
}

void pc_reply_free(pc_reply *r)
{
    free(r->result);
    r->result = NULL;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void copy_header(const rd_kafka_message_t *m, const char *name, char *out, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    out[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == 0 &&
        rd_kafka_header_get_last(h, name, &v, &len) == 0 && v)
        snprintf(out, cap, "%.*s", (int)len, (const char *)v);
}

/* Files one consumed message: a reply, or a dead-letter copy. */
static void file_message(pc_session *s, const rd_kafka_message_t *m)
{
    char key[PC_MAX_TEXT];
    snprintf(key, sizeof key, "%.*s", (int)m->key_len, m->key ? (const char *)m->key : "");
    if (strcmp(rd_kafka_topic_name(m->rkt), s->reply_topic) != 0) {
        if (s->n_dlq < MAX_SEEN) {
            snprintf(s->dlq_keys[s->n_dlq], PC_MAX_TEXT, "%s", key);
            copy_header(m, "dlq.reason", s->dlq_reasons[s->n_dlq], PC_MAX_TEXT);
            s->n_dlq++;
        }
        return;
    }
    if (s->n_seen == MAX_SEEN)
        return;
    seen_reply *r = &s->seen[s->n_seen++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
    r->pb = saga__reply__unpack(NULL, m->len, m->payload);
    copy_header(m, SAGA_TRACE_HEADER, r->tp_header, sizeof r->tp_header);
}

static void poll_once(pc_session *s, int ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(s->consumer, ms);
    if (m && !m->err)
        file_message(s, m);
    if (m)
        rd_kafka_message_destroy(m);
}

/* Whether r carries the traceparent of a command sent before the current
 * one: a late or repeated answer to it, not the answer awaited now. */
static bool stale(const pc_session *s, const seen_reply *r)
{
    for (size_t i = 0; r->pb && r->pb->traceparent && i + 1 < s->n_sent; i++)
        if (strcmp(r->pb->traceparent, s->sent[i]) == 0)
            return true;
    return false;
}

/* The first reply not yet taken that is about saga_id (by key or field). */
static seen_reply *find_reply(pc_session *s, const char *saga_id)
{
    for (size_t i = 0; i < s->n_seen; i++) {
        seen_reply *r = &s->seen[i];
        if (r->taken || stale(s, r))
            continue;
        if (strcmp(r->key, saga_id) == 0 ||
            (r->pb && r->pb->saga_id && strcmp(r->pb->saga_id, saga_id) == 0))
            return r;
    }
    return NULL;
}

static int produce(pc_session *s, const char *key, const void *value, size_t len,
                   const char *traceparent, saga_error *err)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (traceparent)
        rd_kafka_header_add(h, SAGA_TRACE_HEADER, -1, traceparent, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        s->producer, RD_KAFKA_V_TOPIC(s->opt.topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        return saga_error_set(err, SAGA_EKAFKA, "cannot send to %s: %s", s->opt.topic,
                              rd_kafka_err2str(e));
    }
    if (rd_kafka_flush(s->producer, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return saga_error_set(err, SAGA_EKAFKA, "cannot send to %s: not acknowledged in 10 s",
                              s->opt.topic);
    return 0;
}

static int send_command(pc_session *s, const pc_cmd *c, int attempt, const char *tp,
                        saga_error *err)
{
    char key[PC_MAX_TEXT];
    snprintf(key, sizeof key, "%s/%s", c->saga_id, PC_STEP);
    Saga__Command pb = SAGA__COMMAND__INIT;
    pb.saga_id = (char *)c->saga_id;
    pb.saga_name = "sagactl-participant-check";
    pb.saga_version = 1;
    pb.step = PC_STEP;
    pb.action = (Saga__Action)c->action;
    pb.attempt = attempt;
    pb.idempotency_key = key;
    pb.payload.data = (uint8_t *)c->payload;
    pb.payload.len = strlen(c->payload);
    pb.deadline_ms = saga_now_ms() + s->opt.timeout_ms;
    pb.reply_topic = s->reply_topic;
    pb.traceparent = (char *)tp;
    pb.command = c->action == SAGA__ACTION__RESERVE   ? "check_reserve"
               : c->action == SAGA__ACTION__CONFIRM   ? "check_confirm"
                                                      : "check_compensate";
    if (s->n_sent < MAX_SEEN)
        snprintf(s->sent[s->n_sent++], SAGA_TRACEPARENT_SIZE, "%s", tp);
    size_t len = saga__command__get_packed_size(&pb);
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    saga__command__pack(&pb, buf);
    int rc = produce(s, c->saga_id, buf, len, tp, err);
    free(buf);
    return rc;
}

/* Copies what r says into out. */
static void take(seen_reply *r, pc_reply *out)
{
    r->taken = true;
    out->got = true;
    out->decoded = r->pb != NULL;
    snprintf(out->key, sizeof out->key, "%s", r->key);
    snprintf(out->tp_header, sizeof out->tp_header, "%s", r->tp_header);
    if (!r->pb)
        return;
    const Saga__Reply *p = r->pb;
    out->outcome = p->outcome;
    out->action = p->action;
    out->attempt = p->attempt;
    snprintf(out->saga_id, sizeof out->saga_id, "%s", p->saga_id ? p->saga_id : "");
    snprintf(out->step, sizeof out->step, "%s", p->step ? p->step : "");
    snprintf(out->reason, sizeof out->reason, "%s", p->reason ? p->reason : "");
    snprintf(out->tp_field, sizeof out->tp_field, "%s", p->traceparent ? p->traceparent : "");
    free(out->result);
    out->result = p->payload.len ? strndup((const char *)p->payload.data, p->payload.len) : NULL;
}

int pc_exchange(pc_session *s, const pc_cmd *cmd, pc_reply *out, saga_error *err)
{
    memset(out, 0, sizeof *out);
    for (int attempt = cmd->attempt;; attempt++) {
        saga_trace_new(out->tp_sent);
        out->attempt_sent = attempt;
        out->got = false;
        int64_t t0 = saga_now_ms(), deadline = t0 + s->opt.timeout_ms;
        int rc = send_command(s, cmd, attempt, out->tp_sent, err);
        if (rc)
            return rc;
        seen_reply *r;
        while (!(r = find_reply(s, cmd->saga_id)) && saga_now_ms() < deadline)
            poll_once(s, POLL_MS);
        if (!r)
            return 0;
        out->ms = saga_now_ms() - t0;
        take(r, out);
        if (out->outcome != SAGA__OUTCOME__RETRY || out->retries == MAX_RETRIES)
            return 0;
        out->retries++;
        pause_ms(RETRY_PAUSE_MS);
    }
}

int pc_send_poison(pc_session *s, const char *key, saga_error *err)
{
    /* Field 1 as a varint then a truncated length-delimited field: no
     * protobuf decoder accepts it. */
    static const uint8_t bad[] = {0x08, 0x96, 0x01, 0x12, 0x7f, 'n', 'o', 't', ' ', 'a'};
    return produce(s, key, bad, sizeof bad, NULL, err);
}

bool pc_dead_lettered(pc_session *s, const char *key, char *reason, size_t cap)
{
    if (!s->dlq_assigned)
        return false;
    int64_t deadline = saga_now_ms() + s->opt.timeout_ms;
    for (;;) {
        for (size_t i = 0; i < s->n_dlq; i++)
            if (strcmp(s->dlq_keys[i], key) == 0) {
                snprintf(reason, cap, "%s", s->dlq_reasons[i]);
                return true;
            }
        if (saga_now_ms() >= deadline)
            return false;
        poll_once(s, POLL_MS);
    }
}

/* --- the session ------------------------------------------------------- */

static rd_kafka_t *client(rd_kafka_type_t type, const pc_options *o, saga_error *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    static const char *const common[][2] = {
        {"client.id", "sagactl-participant-check"},
        {"socket.nagle.disable", "true"},
        {"log_level", "3"},
    };
    static const char *const producer[][2] = {{"enable.idempotence", "true"}, {"linger.ms", "0"}};
    static const char *const consumer[][2] = {
        {"group.id", "sagactl-participant-check"}, /* assign() only: never joined */
        {"enable.auto.commit", "false"},
        {"fetch.wait.max.ms", "20"},
    };
#define N_OF(a) (sizeof a / sizeof *a)
    int rc = saga_kafka_conf_set(conf, "bootstrap.servers", o->brokers, err);
    for (size_t i = 0; rc == 0 && i < N_OF(common); i++)
        rc = saga_kafka_conf_set(conf, common[i][0], common[i][1], err);
    for (size_t i = 0; rc == 0 && type == RD_KAFKA_PRODUCER && i < N_OF(producer); i++)
        rc = saga_kafka_conf_set(conf, producer[i][0], producer[i][1], err);
    for (size_t i = 0; rc == 0 && type == RD_KAFKA_CONSUMER && i < N_OF(consumer); i++)
        rc = saga_kafka_conf_set(conf, consumer[i][0], consumer[i][1], err);
#undef N_OF
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        saga_error_set(err, SAGA_EKAFKA, "kafka: %s", errstr);
    }
    return rk;
}

/* Partitions of topic (0 when it does not exist), from the cluster's whole
 * metadata: asking for the one topic could make a broker create it. */
static int partitions_of(rd_kafka_t *rk, const char *topic, saga_error *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (e) {
        saga_error_set(err, SAGA_EKAFKA, "kafka metadata from %s: %s", "the brokers",
                       rd_kafka_err2str(e));
        saga_error_hint(err, "check --brokers / SAGA_KAFKA_BROKERS and that Kafka is up");
        return -1;
    }
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Assigns the reply topic from its start and the dead-letter topic from its
 * current end. */
static int assign(pc_session *s, saga_error *err)
{
    int n_dlq = partitions_of(s->producer, s->opt.dlq_topic, err);
    if (n_dlq < 0)
        return SAGA_EKAFKA;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1 + n_dlq);
    rd_kafka_topic_partition_list_add(l, s->reply_topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    for (int p = 0; p < n_dlq; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(s->producer, s->opt.dlq_topic, p, &lo, &hi, 10000))
            continue;
        rd_kafka_topic_partition_list_add(l, s->opt.dlq_topic, p)->offset = hi;
        s->dlq_assigned = true;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(s->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return saga_error_set(err, SAGA_EKAFKA, "kafka assign: %s", rd_kafka_err2str(e));
    return 0;
}

static int session_open(pc_session *s, saga_error *err)
{
    char id[37];
    saga_random_uuid(id);
    snprintf(s->reply_topic, sizeof s->reply_topic, "sagactl.check.%s.replies", id);
    if (!(s->producer = client(RD_KAFKA_PRODUCER, &s->opt, err)) ||
        !(s->consumer = client(RD_KAFKA_CONSUMER, &s->opt, err)))
        return SAGA_EKAFKA;
    int n = partitions_of(s->producer, s->opt.topic, err);
    if (n < 0)
        return SAGA_EKAFKA;
    if (n == 0) {
        saga_error_set(err, SAGA_ENOTFOUND, "command topic %s does not exist", s->opt.topic);
        saga_error_hint(err, "is the participant running? it creates its command topic when it "
                             "starts (--topic names another one)");
        return SAGA_ENOTFOUND;
    }
    saga_topic_spec t = {s->reply_topic, 1, -1};
    int rc = saga_topics_ensure(s->producer, &t, 1, 10000, err);
    return rc ? rc : assign(s, err);
}

/* Removes the run's reply topic; a failure only leaves an empty topic. */
static void delete_reply_topic(pc_session *s)
{
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(s->reply_topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(s->producer);
    rd_kafka_DeleteTopics(s->producer, &dt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 5000);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
}

static void session_close(pc_session *s)
{
    if (s->consumer) {
        rd_kafka_consumer_close(s->consumer);
        rd_kafka_destroy(s->consumer);
    }
    if (s->producer) {
        if (s->reply_topic[0])
            delete_reply_topic(s);
        rd_kafka_destroy(s->producer);
    }
    for (size_t i = 0; i < s->n_seen; i++)
        if (s->seen[i].pb)
            saga__reply__free_unpacked(s->seen[i].pb, NULL);
}

/* --- the command ------------------------------------------------------- */

static const cli_opt OPTS[] = {
    {"reserve-payload", CLI_VALUE, "JSON", "payload of a RESERVE the participant accepts "
                                           "(required)"},
    {"confirm-payload", CLI_VALUE, "JSON", "payload of CONFIRM (default {})"},
    {"compensate-payload", CLI_VALUE, "JSON", "payload of COMPENSATE (default {})"},
    {"reject-payload", CLI_VALUE, "JSON", "payload of a RESERVE it must refuse (rule "
                                          "skipped without it)"},
    {"timeout", CLI_VALUE, "DUR", "wait for each answer (default 5s)"},
    {"topic", CLI_VALUE, "TOPIC", "command topic (default saga.PARTICIPANT.commands)"},
    {"brokers", CLI_VALUE, "HOSTS", "Kafka bootstrap servers (default $SAGA_KAFKA_BROKERS)"},
    {"dlq-topic", CLI_VALUE, "TOPIC", "dead-letter topic (default saga.dlq)"},
    {"json", CLI_FLAG, NULL, "print one JSON document"},
};

static int check_payload(const cli_command *cmd, const cli_args *a, const char *name)
{
    const char *v = cli_value(a, name);
    json_error_t je;
    json_t *j = v ? json_loads(v, 0, &je) : NULL;
    bool ok = !v || json_is_object(j);
    json_decref(j);
    return ok ? 0 : cli_usage_error(cmd, "--%s: expected a JSON object", name);
}

static int check(cli *c, const cli_args *a)
{
    (void)c;
    const cli_command *cmd = &cli_cmd_participant_check;
    if (!cli_value(a, "reserve-payload"))
        return cli_usage_error(cmd, "--reserve-payload is required");
    static const char *const payloads[] = {"reserve-payload", "confirm-payload",
                                           "compensate-payload", "reject-payload"};
    for (size_t i = 0; i < 4; i++)
        if (check_payload(cmd, a, payloads[i]))
            return CLI_EXIT_USAGE;
    int64_t t = 5000;
    saga_error err;
    if (cli_value_duration(a, "timeout", &t, &err))
        return cli_usage_fail(&err);
    if (t < 100 || t > 600000)
        return cli_usage_error(cmd, "--timeout: expected 100ms to 10m");
    const char *b = cli_value(a, "brokers");
    if ((!b || !*b) && !getenv("SAGA_KAFKA_BROKERS"))
        return cli_usage_error(cmd, "no Kafka brokers: pass --brokers or set SAGA_KAFKA_BROKERS");
    return 0;
}

static const char *STATUS[] = {"PASS", "FAIL", "SKIP"};

static int print(const pc_session *s, const pc_rule *rules, size_t n, bool json, bool passed)
{
    const pc_options *o = pc_session_options(s);
    if (json) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, json_pack("{s:s, s:b, s:s, s:s}", "rule", rules[i].id,
                                                  "required", rules[i].required, "status",
                                                  STATUS[rules[i].status], "saw", rules[i].saw));
        return cli_json_print(json_pack("{s:s, s:s, s:b, s:o}", "participant", o->participant,
                                        "topic", o->topic, "passed", passed, "rules", list),
                              false);
    }
    for (size_t i = 0; i < n; i++)
        printf("%s  %-26s %s%s\n",
               rules[i].status == PC_FAIL && !rules[i].required ? "WARN" : STATUS[rules[i].status],
               rules[i].id, rules[i].required ? "" : "(not required) ", rules[i].saw);
    printf("%s: %s the participant contract (%s)\n", o->participant,
           passed ? "follows" : "breaks", o->topic);
    return 0;
}

static int run(cli *c, const cli_args *a)
{
    pc_session *s = calloc(1, sizeof *s);
    if (!s)
        return CLI_EXIT_FAIL;
    pc_options *o = &s->opt;
    char topic[300];
    o->participant = a->pos[0];
    snprintf(topic, sizeof topic, "saga.%s.commands", o->participant);
    o->topic = cli_value(a, "topic") ? cli_value(a, "topic") : topic;
    o->brokers = cli_value(a, "brokers") ? cli_value(a, "brokers") : getenv("SAGA_KAFKA_BROKERS");
    o->dlq_topic = cli_value(a, "dlq-topic") ? cli_value(a, "dlq-topic") : SAGA_TOPIC_DLQ;
    o->reserve = cli_value(a, "reserve-payload");
    o->confirm = cli_value(a, "confirm-payload") ? cli_value(a, "confirm-payload") : "{}";
    o->compensate = cli_value(a, "compensate-payload") ? cli_value(a, "compensate-payload") : "{}";
    o->reject = cli_value(a, "reject-payload");
    o->timeout_ms = 5000;
    saga_error err;
    cli_value_duration(a, "timeout", &o->timeout_ms, &err);
    int status;
    if (session_open(s, &err)) {
        status = cli_fail(c, &err);
    } else {
        pc_rule rules[PC_MAX_RULES];
        size_t n = 0;
        pc_rules_run(s, rules, &n);
        bool passed = true;
        for (size_t i = 0; i < n; i++)
            passed &= !(rules[i].required && rules[i].status == PC_FAIL);
        status = print(s, rules, n, cli_flag(a, "json"), passed) ? CLI_EXIT_FAIL
               : passed                                          ? CLI_EXIT_OK
                                                                 : CLI_EXIT_FAIL;
    }
    session_close(s);
    free(s);
    return status;
}

const cli_command cli_cmd_participant_check = {
    .name = "participant check",
    .synopsis = "PARTICIPANT --reserve-payload JSON [--confirm-payload JSON] "
                "[--compensate-payload JSON] [--reject-payload JSON] [--timeout DUR] [--json]",
    .summary = "check a running participant against the wire contract",
    .description =
        "Drives a running participant through Kafka as sagad would (its command topic,\n"
        "fresh saga ids and idempotency keys, a traceparent, a reply topic of this run)\n"
        "and checks every rule of the contract in docs/participants.md: answers and\n"
        "their envelope, duplicates, confirm, empty compensation, hanging reserve,\n"
        "compensate, confirm xor compensate, refusals, undecodable messages. Prints one\n"
        "PASS/FAIL line per rule with what it saw (WARN: a convention that is reported,\n"
        "not required). Exit status 0 when every required rule passes, 1 otherwise,\n"
        "2 on a usage error. It leaves rows for its test steps in the participant's\n"
        "tables (saga ids are fresh UUIDs; step \"check\").",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 1,
    .max_pos = 1,
    .needs_db = false,
    .check = check,
    .run = run,
};
