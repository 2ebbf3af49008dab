/*
 * dlq_read.c - reading and decoding dead letters for `sagactl dlq`.
 *
 * The end of each partition is fixed when reading starts (the high
 * watermark), so a list terminates even while workers keep dead-lettering.
 * Decoding is best effort and says which message type matched: protobuf
 * decodes many byte strings as something, so a type is only claimed when
 * its required fields are present and valid.
 */
#include "dlq_letters.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "saga.pb-c.h"
#include "utf8.h"

#define READ_TIMEOUT_MS 10000

void cli_letters_free(cli_letters *l)
{
    for (size_t i = 0; i < l->n; i++)
        rd_kafka_message_destroy(l->v[i].msg);
    free(l->v);
    if (l->consumer) {
        rd_kafka_consumer_close(l->consumer);
        rd_kafka_destroy(l->consumer);
    }
    memset(l, 0, sizeof *l);
}

int cli_letter_id_parse(const char *s, int *partition, long long *offset, saga_error *err)
{
    char *end;
    errno = 0;
    long p = strtol(s, &end, 10);
    if (errno || end == s || *end != ':' || p < 0 || p > 100000)
        goto bad;
    const char *o = end + 1;
    long long off = strtoll(o, &end, 10);
    if (errno || end == o || *end || off < 0)
        goto bad;
    *partition = (int)p;
    *offset = off;
    return 0;
bad:
    saga_error_set(err, SAGA_EINVAL, "invalid dead letter id \"%.64s\"", s);
    saga_error_hint(err, "an id is PARTITION:OFFSET in the DLQ topic, as `sagactl dlq list` "
                         "prints it (e.g. 2:17)");
    return SAGA_EINVAL;
}

static void header(rd_kafka_headers_t *h, const char *name, char *buf, size_t cap)
{
    const void *v = NULL;
    size_t len = 0;
    buf[0] = '\0';
    if (h && rd_kafka_header_get_last(h, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR && v)
        snprintf(buf, cap, "%.*s", (int)len, (const char *)v);
}

static bool keep(const cli_letter *l, const cli_dlq_filter *f)
{
    if (f->since_ms > 0 && l->timestamp_ms < f->since_ms)
        return false;
    if (f->topic && strcmp(f->topic, l->topic) != 0)
        return false;
    return !f->reason || strstr(l->reason, f->reason);
}

/* Takes m over: kept as a letter if it passes f, destroyed otherwise. */
static int add_letter(cli_letters *out, rd_kafka_message_t *m, const cli_dlq_filter *f)
{
    cli_letter l;
    memset(&l, 0, sizeof l);
    l.msg = m;
    snprintf(l.id, sizeof l.id, "%" PRId32 ":%" PRId64, m->partition, m->offset);
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(m, &h);
    char num[32];
    header(h, "dlq.reason", l.reason, sizeof l.reason);
    header(h, "dlq.topic", l.topic, sizeof l.topic);
    header(h, CLI_DLQ_REPLAY_HEADER, l.replay_of, sizeof l.replay_of);
    header(h, "dlq.partition", num, sizeof num);
    l.partition = *num ? atoll(num) : -1;
    header(h, "dlq.offset", num, sizeof num);
    l.offset = *num ? atoll(num) : -1;
    l.timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    if (!keep(&l, f)) {
        rd_kafka_message_destroy(m);
        return 0;
    }
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        cli_letter *v = realloc(out->v, cap * sizeof *v);
        if (!v) {
            rd_kafka_message_destroy(m);
            return SAGA_ENOMEM;
        }
        out->v = v;
        out->cap = cap;
    }
    out->v[out->n++] = l;
    return 0;
}

static rd_kafka_t *consumer(const char *brokers, saga_error *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "group.id", "sagactl-dlq", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "client.id", "sagactl", errstr, sizeof errstr)) {
        rd_kafka_conf_destroy(conf);
        saga_error_set(err, SAGA_EINVAL, "kafka: %s", errstr);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        saga_error_set(err, SAGA_EKAFKA, "kafka consumer: %s", errstr);
    }
    return rk;
}

/* The partitions of topic, each with the offset to start at and, in
 * metadata, the end offset to stop before. 0 (an empty list when the
 * topic does not exist) or SAGA_EKAFKA. */
static int plan(rd_kafka_t *rk, const char *topic, const cli_dlq_filter *f,
                rd_kafka_topic_partition_list_t *l, saga_error *err)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, READ_TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    if (e)
        return saga_error_set(err, SAGA_EKAFKA, "kafka: cannot read the metadata of %s: %s",
                              topic, rd_kafka_err2str(e));
    int n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
    for (int i = 0; i < n; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        if (f->partition >= 0 && p != f->partition)
            continue;
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, READ_TIMEOUT_MS);
        if (e) {
            rd_kafka_metadata_destroy(md);
            return saga_error_set(err, SAGA_EKAFKA, "kafka: offsets of %s [%d]: %s", topic,
                                  (int)p, rd_kafka_err2str(e));
        }
        int64_t start = f->partition >= 0 ? f->offset : lo;
        if (start < lo || start >= hi)
            continue;
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, topic, p);
        tp->offset = f->since_ms > 0 && f->partition < 0 ? f->since_ms : start;
        tp->opaque = (void *)(intptr_t)(f->partition >= 0 ? f->offset + 1 : hi);
    }
    rd_kafka_metadata_destroy(md);
    if (f->since_ms > 0 && f->partition < 0 && l->cnt > 0) {
        /* Start each partition at the first letter written since then. */
        e = rd_kafka_offsets_for_times(rk, l, READ_TIMEOUT_MS);
        if (e)
            return saga_error_set(err, SAGA_EKAFKA, "kafka: offsets for --since: %s",
                                  rd_kafka_err2str(e));
    }
    return 0;
}

/* Reads every planned partition up to its end offset. */
static int drain(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, const cli_dlq_filter *f,
                 cli_letters *out, saga_error *err)
{
    int open = 0;
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset >= 0 && l->elems[i].offset < (int64_t)(intptr_t)l->elems[i].opaque)
            open++;
        else
            l->elems[i].offset = RD_KAFKA_OFFSET_END; /* nothing to read there */
    if (open == 0)
        return 0;
    rd_kafka_assign(rk, l);
    int rc = 0;
    int idle = 0;
    while (open > 0 && rc == 0 && idle < READ_TIMEOUT_MS / 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
            l, rd_kafka_topic_name(m->rkt), m->partition);
        int64_t end = tp ? (int64_t)(intptr_t)tp->opaque : 0;
        if (!tp || m->offset >= end) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->offset == end - 1)
            open--;
        rc = add_letter(out, m, f);
    }
    if (rc == 0 && open > 0)
        rc = saga_error_set(err, SAGA_EKAFKA, "kafka: reading the dead-letter topic stalled "
                                              "(%d partitions unfinished)", open);
    return rc;
}

int cli_dlq_read(const char *brokers, const char *dlq_topic, const cli_dlq_filter *f,
                 cli_letters *out, saga_error *err)
{
    memset(out, 0, sizeof *out);
    rd_kafka_t *rk = consumer(brokers, err);
    if (!rk)
        return SAGA_EKAFKA;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    int rc = plan(rk, dlq_topic, f, l, err);
    if (rc == 0)
        rc = drain(rk, l, f, out, err);
    rd_kafka_topic_partition_list_destroy(l);
    out->consumer = rk;
    return rc;
}

/* --- decoding ---------------------------------------------------------------- */

static bool text_ok(const char *s)
{
    return s && *s && saga_utf8_valid(s);
}

static json_t *bytes_json(const ProtobufCBinaryData *b)
{
    if (b->len == 0)
        return json_null();
    json_t *j = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY, NULL);
    return j ? j : json_stringn_nocheck("(not JSON)", 10);
}

static const char *const ACTIONS[] = {"UNSPECIFIED", "RESERVE", "CONFIRM", "COMPENSATE", "QUERY"};
static const char *const OUTCOMES[] = {"UNSPECIFIED", "OK", "REJECTED", "RETRY"};

static json_t *as_command(const cli_letter *l, char *summary, size_t cap)
{
    Saga__Command *c = saga__command__unpack(NULL, l->msg->len, l->msg->payload);
    if (!c)
        return NULL;
    json_t *j = NULL;
    if (text_ok(c->saga_id) && text_ok(c->step) && c->action >= 1 && c->action <= 4) {
        j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:o, s:s}", "type", "Command",
                      "saga_id", c->saga_id, "saga_name", c->saga_name ? c->saga_name : "",
                      "saga_version", c->saga_version, "step", c->step, "action",
                      ACTIONS[c->action], "attempt", c->attempt, "idempotency_key",
                      c->idempotency_key ? c->idempotency_key : "", "payload",
                      bytes_json(&c->payload), "reply_topic",
                      c->reply_topic ? c->reply_topic : "");
        snprintf(summary, cap, "Command %s %s saga %.8s #%d", ACTIONS[c->action], c->step,
                 c->saga_id, (int)c->attempt);
    }
    saga__command__free_unpacked(c, NULL);
    return j;
}

static json_t *as_reply(const cli_letter *l, char *summary, size_t cap)
{
    Saga__Reply *r = saga__reply__unpack(NULL, l->msg->len, l->msg->payload);
    if (!r)
        return NULL;
    json_t *j = NULL;
    if (text_ok(r->saga_id) && text_ok(r->step) && r->action >= 1 && r->action <= 4 &&
        r->outcome >= 1 && r->outcome <= 3) {
        j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:o}", "type", "Reply", "saga_id",
                      r->saga_id, "step", r->step, "action", ACTIONS[r->action], "attempt",
                      r->attempt, "outcome", OUTCOMES[r->outcome], "reason",
                      r->reason ? r->reason : "", "payload", bytes_json(&r->payload));
        snprintf(summary, cap, "Reply %s %s %s saga %.8s", ACTIONS[r->action],
                 OUTCOMES[r->outcome], r->step, r->saga_id);
    }
    saga__reply__free_unpacked(r, NULL);
    return j;
}

static json_t *as_start(const cli_letter *l, char *summary, size_t cap)
{
    Saga__StartSaga *s = saga__start_saga__unpack(NULL, l->msg->len, l->msg->payload);
    if (!s)
        return NULL;
    json_t *j = NULL;
    if (text_ok(s->name)) {
        j = json_pack("{s:s, s:s, s:i, s:o, s:s}", "type", "StartSaga", "name", s->name,
                      "version", s->version, "input", bytes_json(&s->input),
                      "idempotency_key", s->idempotency_key ? s->idempotency_key : "");
        snprintf(summary, cap, "StartSaga %s", s->name);
    }
    saga__start_saga__free_unpacked(s, NULL);
    return j;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

json_t *cli_letter_decode(const cli_letter *l, char *summary, size_t cap)
{
    snprintf(summary, cap, "-");
    if (!l->msg->payload || l->msg->len == 0)
        return NULL;
    if (ends_with(l->topic, ".commands"))
        return as_command(l, summary, cap);
    if (strcmp(l->topic, "saga.replies") == 0)
        return as_reply(l, summary, cap);
    if (strcmp(l->topic, "saga.start") == 0)
        return as_start(l, summary, cap);
    json_t *j = as_command(l, summary, cap);
    if (!j)
        j = as_reply(l, summary, cap);
    return j ? j : as_start(l, summary, cap);
}

void cli_letter_saga(const json_t *decoded, char id[SAGA_ID_LEN + 1])
{
    const char *s = json_string_value(json_object_get(decoded, "saga_id"));
    saga_idprefix p;
    saga_error err;
    id[0] = '\0';
    if (s && strlen(s) == SAGA_ID_LEN && saga_idprefix_parse(s, &p, &err) == 0 &&
        p.n_hex == SAGA_UUID_HEX_LEN)
        snprintf(id, SAGA_ID_LEN + 1, "%s", p.lo);
}
