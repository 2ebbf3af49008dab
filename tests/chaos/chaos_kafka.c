/*
 * chaos_kafka.c - the Kafka side of the chaos and hostile-input tests:
 * starts sagas through saga.start, injects poison messages and reads back
 * what was dead-lettered, with exact coordinates.
 *
 *   chaos_kafka start [TOPIC]         lines "KEY<TAB>NAME<TAB>INPUT-JSON" on
 *                                     stdin -> StartSaga on TOPIC (saga.start);
 *                                     prints each KEY once Kafka has
 *                                     acknowledged it
 *   chaos_kafka poison TOPIC KIND [--count N] [--saga ID] [--seed S] [--bytes N]
 *                      [--reply-topic T]
 *                                     prints "TOPIC PARTITION OFFSET KIND" per
 *                                     delivered message; TOPIC "*.replies" gets
 *                                     Replies, "*.start" StartSagas, any other
 *                                     Commands
 *   chaos_kafka kinds                 lists the kinds and whether each is poison
 *   chaos_kafka end TOPIC             prints "PARTITION HIGH-WATERMARK" lines
 *   chaos_kafka lag GROUP TOPIC...    prints how many messages GROUP has not
 *                                     committed yet on those topics
 *   chaos_kafka dlq TOPIC FROM-FILE   reads TOPIC from the offsets in FROM-FILE
 *                                     (the output of `end`) to its current end;
 *                                     prints "ORIGIN-TOPIC PARTITION OFFSET<TAB>
 *                                     REASON" per message from the dlq.* headers
 *
 * The shell could produce with kcat, but it could not learn where a message
 * landed; "the dead-letter topic holds exactly what was injected" is only
 * checkable when every injected message is known by its (topic, partition,
 * offset), which is what dead-letter copies carry in their headers. Messages
 * are built with the real protobuf-c code from schema/saga.proto, so
 * "valid protobuf, nonsense content" really is valid protobuf. Brokers come
 * from SAGA_KAFKA_BROKERS. Exit status: 0, 1 on a Kafka failure, 2 on usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "dlq.h"
#include "saga.pb-c.h"

#define TIMEOUT_MS 15000
#define HUGE_BYTES (800 * 1024)

static const char *brokers(void)
{
    const char *b = getenv("SAGA_KAFKA_BROKERS");
    return b && *b ? b : "127.0.0.1:59092";
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "chaos_kafka: %s: %s\n", what, why);
    exit(1);
}

static rd_kafka_conf_t *conf_new(void)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char errstr[256];
    if (rd_kafka_conf_set(c, "bootstrap.servers", brokers(), errstr, sizeof errstr) ||
        rd_kafka_conf_set(c, "client.id", "chaos_kafka", errstr, sizeof errstr))
        die("config", errstr);
    return c;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char errstr[256];
    if (rd_kafka_conf_set(c, k, v, errstr, sizeof errstr))
        die(k, errstr);
}

/* --- producing --------------------------------------------------------------- */

typedef struct delivery {
    int pending;
    int failed;
} delivery;

/* Each message's opaque is a malloc'd label printed with its coordinates. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    delivery *d = opaque;
    char *label = m->_private;
    d->pending--;
    if (m->err) {
        d->failed++;
        fprintf(stderr, "chaos_kafka: %s not delivered: %s\n", label, rd_kafka_err2str(m->err));
    } else if (strchr(label, '\t')) {
        printf("%s %" PRId32 " %" PRId64 " %s\n", rd_kafka_topic_name(m->rkt), m->partition,
               m->offset, strchr(label, '\t') + 1);
    } else {
        printf("%s\n", label);
    }
    fflush(stdout);
    free(label);
}

static rd_kafka_t *producer_new(delivery *d)
{
    rd_kafka_conf_t *c = conf_new();
    set(c, "enable.idempotence", "true");
    set(c, "linger.ms", "5");
    /* Outlives a broker restart: a start request is retried, never dropped. */
    set(c, "message.timeout.ms", "600000");
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_conf_set_opaque(c, d);
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof errstr);
    if (!rk)
        die("producer", errstr);
    return rk;
}

static void produce(rd_kafka_t *rk, delivery *d, const char *topic, const char *key,
                    const void *value, size_t len, char *label)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(len ? (void *)value : NULL, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(label), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            d->pending++;
            return;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            die(topic, rd_kafka_err2str(e));
        rd_kafka_poll(rk, 100);
    }
}

static int finish(rd_kafka_t *rk, delivery *d)
{
    while (d->pending > 0)
        rd_kafka_poll(rk, 100);
    rd_kafka_destroy(rk);
    return d->failed ? 1 : 0;
}

/* --- start -------------------------------------------------------------------- */

static int cmd_start(const char *topic)
{
    delivery d = {0};
    rd_kafka_t *rk = producer_new(&d);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        char *name = strchr(line, '\t');
        char *input = name ? strchr(name + 1, '\t') : NULL;
        if (!input) {
            fprintf(stderr, "chaos_kafka start: expected KEY<TAB>NAME<TAB>INPUT, got \"%s\"\n",
                    line);
            free(line);
            return 2;
        }
        *name++ = '\0';
        *input++ = '\0';
        Saga__StartSaga s = SAGA__START_SAGA__INIT;
        s.name = name;
        s.idempotency_key = line;
        s.input.data = (uint8_t *)input;
        s.input.len = strlen(input);
        size_t len = saga__start_saga__get_packed_size(&s);
        uint8_t *buf = malloc(len + 1);
        if (!buf)
            die("start", "out of memory");
        saga__start_saga__pack(&s, buf);
        produce(rk, &d, topic, line, buf, len, strdup(line));
        free(buf);
        rd_kafka_poll(rk, 0);
    }
    free(line);
    return finish(rk, &d);
}

/* --- poison --------------------------------------------------------------------- */

typedef enum family { F_REPLY, F_START, F_COMMAND } family;

typedef struct opts {
    const char *saga;     /* an existing saga id, for kinds that need one */
    uint64_t seed;
    size_t bytes;         /* size of "big" */
    const char *reply_topic;
    int index;
} opts;

static uint64_t next_random(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void random_uuid(uint64_t *s, char out[37])
{
    uint64_t a = next_random(s), b = next_random(s);
    snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff, (unsigned)(b >> 48) & 0xfff,
             (unsigned long long)(b & 0xffffffffffffULL));
}

/* A JSON object of about n bytes: {"blob":"xxxx..."}. */
static char *big_object(size_t n)
{
    char *s = malloc(n + 16);
    if (!s)
        die("poison", "out of memory");
    size_t len = (size_t)sprintf(s, "{\"blob\":\"");
    memset(s + len, 'x', n);
    strcpy(s + len + n, "\"}");
    return s;
}

static char *long_text(size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        die("poison", "out of memory");
    memset(s, 'k', n);
    s[n] = '\0';
    return s;
}

/* Packs a message of `kind` into *buf (malloc'd). Returns false for an
 * unknown kind. */
static bool build_reply(const char *kind, const opts *o, uint8_t **buf, size_t *len)
{
    uint64_t rs = o->seed ^ (uint64_t)o->index * 7919;
    char uuid[37];
    random_uuid(&rs, uuid);
    char *blob = NULL;
    Saga__Reply r = SAGA__REPLY__INIT;
    r.saga_id = uuid;
    r.step = "reserve_inventory";
    r.action = SAGA__ACTION__RESERVE;
    r.attempt = 1;
    r.outcome = SAGA__OUTCOME__OK;
    r.reason = "";
    if (strcmp(kind, "not_uuid") == 0)
        r.saga_id = "not-a-saga-id";
    else if (strcmp(kind, "unknown_saga") == 0 || strcmp(kind, "truncated") == 0)
        ;
    else if (strcmp(kind, "unknown_step") == 0)
        r.saga_id = (char *)o->saga, r.step = "no_such_step";
    else if (strcmp(kind, "negative_attempt") == 0)
        r.attempt = -1;
    else if (strcmp(kind, "bad_action") == 0)
        r.action = (Saga__Action)7;
    else if (strcmp(kind, "bad_outcome") == 0)
        r.outcome = (Saga__Outcome)0;
    else if (strcmp(kind, "bad_utf8") == 0)
        r.step = "reserve_\xc3\x28inventory";
    else if (strcmp(kind, "bad_json") == 0)
        r.payload.data = (uint8_t *)"{\"reservation_id\": ", r.payload.len = 19;
    else if (strcmp(kind, "payload_array") == 0)
        r.payload.data = (uint8_t *)"[1, 2, 3]", r.payload.len = 9;
    else if (strcmp(kind, "huge_payload") == 0)
        blob = big_object(o->bytes ? o->bytes : HUGE_BYTES), r.payload.data = (uint8_t *)blob,
        r.payload.len = strlen(blob);
    else if (strcmp(kind, "wrong_action") == 0)
        r.saga_id = (char *)o->saga, r.action = SAGA__ACTION__COMPENSATE;
    else if (strcmp(kind, "stale_attempt") == 0)
        r.saga_id = (char *)o->saga, r.attempt = 99;
    else
        return false;
    *len = saga__reply__get_packed_size(&r);
    *buf = malloc(*len + 1);
    saga__reply__pack(&r, *buf);
    if (strcmp(kind, "truncated") == 0)
        *len /= 2;
    free(blob);
    return true;
}

static bool build_start(const char *kind, const opts *o, uint8_t **buf, size_t *len)
{
    static const char good[] = "{\"order_id\": \"poison\", \"sku\": \"poison\", \"qty\": 1,"
                               " \"account\": \"poison\", \"amount\": 1}";
    char *blob = NULL, *key = NULL;
    Saga__StartSaga s = SAGA__START_SAGA__INIT;
    s.name = "order_checkout";
    s.input.data = (uint8_t *)good;
    s.input.len = strlen(good);
    const char *input = NULL;
    if (strcmp(kind, "truncated") == 0)
        ;
    else if (strcmp(kind, "unknown_def") == 0)
        s.name = "no_such_saga";
    else if (strcmp(kind, "sql_name") == 0)
        s.name = "order_checkout'; DROP TABLE sagas; --";
    else if (strcmp(kind, "negative_version") == 0)
        s.version = -1;
    else if (strcmp(kind, "input_array") == 0)
        input = "[{\"order_id\": \"x\"}]";
    else if (strcmp(kind, "input_bad_json") == 0)
        input = "{\"order_id\": \"x\",";
    else if (strcmp(kind, "input_wrong_types") == 0)
        input = "{\"order_id\": 7, \"sku\": [\"A\"], \"qty\": \"one\", \"account\": null,"
                " \"amount\": 1.5}";
    else if (strcmp(kind, "input_missing") == 0)
        input = "{\"order_id\": \"x\"}";
    else if (strcmp(kind, "bad_utf8") == 0)
        s.name = "order_\xff_checkout";
    else if (strcmp(kind, "long_key") == 0)
        s.idempotency_key = key = long_text(300);
    else if (strcmp(kind, "huge_input") == 0)
        input = blob = big_object(o->bytes ? o->bytes : HUGE_BYTES);
    else
        return false;
    if (input)
        s.input.data = (uint8_t *)input, s.input.len = strlen(input);
    *len = saga__start_saga__get_packed_size(&s);
    *buf = malloc(*len + 1);
    saga__start_saga__pack(&s, *buf);
    if (strcmp(kind, "truncated") == 0)
        *len /= 2;
    free(blob);
    free(key);
    return true;
}

static bool build_command(const char *kind, const opts *o, uint8_t **buf, size_t *len)
{
    uint64_t rs = o->seed ^ (uint64_t)o->index * 7919;
    char uuid[37], key[80];
    random_uuid(&rs, uuid);
    snprintf(key, sizeof key, "%s/reserve_inventory", uuid);
    char *blob = NULL, *longkey = NULL;
    Saga__Command c = SAGA__COMMAND__INIT;
    c.saga_id = uuid;
    c.saga_name = "order_checkout";
    c.saga_version = 1;
    c.step = "reserve_inventory";
    c.action = SAGA__ACTION__RESERVE;
    c.attempt = 1;
    c.idempotency_key = key;
    c.reply_topic = (char *)o->reply_topic;
    c.payload.data = (uint8_t *)"{}";
    c.payload.len = 2;
    if (strcmp(kind, "truncated") == 0)
        ;
    else if (strcmp(kind, "empty_saga_id") == 0)
        c.saga_id = "";
    else if (strcmp(kind, "bad_action") == 0)
        c.action = (Saga__Action)0;
    else if (strcmp(kind, "negative_attempt") == 0)
        c.attempt = -5;
    else if (strcmp(kind, "bad_utf8") == 0)
        c.step = "reserve_\xed\xa0\x80";
    else if (strcmp(kind, "bad_json") == 0)
        c.payload.data = (uint8_t *)"{\"sku\": A-1}", c.payload.len = 12;
    else if (strcmp(kind, "payload_array") == 0)
        c.payload.data = (uint8_t *)"[\"sku\"]", c.payload.len = 7;
    else if (strcmp(kind, "long_key") == 0)
        c.idempotency_key = longkey = long_text(700);
    else if (strcmp(kind, "big") == 0)
        blob = big_object(o->bytes ? o->bytes : 4096), c.payload.data = (uint8_t *)blob,
        c.payload.len = strlen(blob);
    else if (strcmp(kind, "unknown_saga") == 0)
        ; /* well-formed: the worker answers it and sagad dead-letters the reply */
    else
        return false;
    *len = saga__command__get_packed_size(&c);
    *buf = malloc(*len + 1);
    saga__command__pack(&c, *buf);
    if (strcmp(kind, "truncated") == 0)
        *len /= 2;
    free(blob);
    free(longkey);
    return true;
}

static bool build_garbage(const opts *o, uint8_t **buf, size_t *len)
{
    uint64_t rs = o->seed ^ (uint64_t)o->index * 104729;
    *len = 1 + next_random(&rs) % 512;
    *buf = malloc(*len);
    for (size_t i = 0; i < *len; i++)
        (*buf)[i] = (uint8_t)next_random(&rs);
    /* A valid protobuf can be made of almost any bytes; start with a field
     * tag of wire type 7, which no decoder accepts. */
    (*buf)[0] = 0x0f;
    return true;
}

/* By name, as the tests name topics: "*.replies", "*.start", else commands. */
static family family_of(const char *topic)
{
    size_t n = strlen(topic);
    if (n >= 8 && strcmp(topic + n - 8, ".replies") == 0)
        return F_REPLY;
    if (n >= 6 && strcmp(topic + n - 6, ".start") == 0)
        return F_START;
    return F_COMMAND;
}

static bool build(family f, const char *kind, const opts *o, uint8_t **buf, size_t *len)
{
    if (strcmp(kind, "garbage") == 0)
        return build_garbage(o, buf, len);
    if (strcmp(kind, "empty") == 0) {
        *buf = malloc(1);
        *len = 0;
        /* A null value (tombstone): it decodes as an all-default message,
         * which every validation refuses (no saga id, no name). */
        return true;
    }
    return f == F_REPLY ? build_reply(kind, o, buf, len)
         : f == F_START ? build_start(kind, o, buf, len)
                        : build_command(kind, o, buf, len);
}

static const struct {
    family f;
    const char *kind;
    bool poison;
    bool needs_saga;
    const char *what;
} KINDS[] = {
    {F_REPLY, "garbage", true, false, "random bytes"},
    {F_REPLY, "empty", true, false, "null value (tombstone)"},
    {F_REPLY, "truncated", true, false, "a valid Reply cut in half"},
    {F_REPLY, "not_uuid", true, false, "saga_id that is not a UUID"},
    {F_REPLY, "unknown_saga", true, false, "a UUID no saga has"},
    {F_REPLY, "unknown_step", true, true, "an existing saga, a step it does not have"},
    {F_REPLY, "negative_attempt", true, false, "attempt -1"},
    {F_REPLY, "bad_action", true, false, "action 7"},
    {F_REPLY, "bad_outcome", true, false, "outcome 0"},
    {F_REPLY, "bad_utf8", true, false, "step name not UTF-8"},
    {F_REPLY, "bad_json", true, false, "payload is not JSON"},
    {F_REPLY, "payload_array", true, false, "payload is a JSON array"},
    {F_REPLY, "huge_payload", true, false, "800 KiB (or --bytes) JSON payload, unknown saga"},
    {F_REPLY, "wrong_action", false, true, "COMPENSATE OK for an existing saga: ignored"},
    {F_REPLY, "stale_attempt", false, true, "RESERVE attempt 99 for an existing saga: ignored"},
    {F_START, "garbage", true, false, "random bytes"},
    {F_START, "empty", true, false, "null value (tombstone)"},
    {F_START, "truncated", true, false, "a valid StartSaga cut in half"},
    {F_START, "unknown_def", true, false, "definition that does not exist"},
    {F_START, "sql_name", true, false, "definition name that looks like SQL"},
    {F_START, "negative_version", true, false, "version -1"},
    {F_START, "input_array", true, false, "input is a JSON array"},
    {F_START, "input_bad_json", true, false, "input is not JSON"},
    {F_START, "input_wrong_types", true, false, "input fields of the wrong types"},
    {F_START, "input_missing", true, false, "required input fields missing"},
    {F_START, "bad_utf8", true, false, "definition name not UTF-8"},
    {F_START, "long_key", true, false, "idempotency key of 300 bytes"},
    {F_START, "huge_input", true, false, "800 KiB (or --bytes) input (limit 256 KiB)"},
    {F_COMMAND, "garbage", true, false, "random bytes"},
    {F_COMMAND, "empty", true, false, "null value (tombstone)"},
    {F_COMMAND, "truncated", true, false, "a valid Command cut in half"},
    {F_COMMAND, "empty_saga_id", true, false, "no saga_id"},
    {F_COMMAND, "bad_action", true, false, "action 0"},
    {F_COMMAND, "negative_attempt", true, false, "attempt -5"},
    {F_COMMAND, "bad_utf8", true, false, "step name with a UTF-16 surrogate"},
    {F_COMMAND, "bad_json", true, false, "payload is not JSON"},
    {F_COMMAND, "payload_array", true, false, "payload is a JSON array"},
    {F_COMMAND, "long_key", true, false, "idempotency key of 700 bytes"},
    {F_COMMAND, "big", true, false, "--bytes (4096) of payload: poison above the worker's limit"},
    {F_COMMAND, "unknown_saga", false, false,
     "well-formed RESERVE for no saga: answered, the reply is dead-lettered by sagad"},
};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

static int cmd_kinds(void)
{
    static const char *const names[] = {"*.replies", "*.start", "commands"};
    for (size_t i = 0; i < N_KINDS; i++)
        printf("%-13s %-18s %-9s %s\n", names[KINDS[i].f], KINDS[i].kind,
               KINDS[i].poison ? "poison" : "accepted", KINDS[i].what);
    return 0;
}

static int cmd_poison(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *topic = argv[0], *kind = argv[1];
    opts o = {.seed = 1, .reply_topic = "saga.replies"};
    int count = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--count") == 0)
            count = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--saga") == 0)
            o.saga = argv[i + 1];
        else if (strcmp(argv[i], "--seed") == 0)
            o.seed = strtoull(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--bytes") == 0)
            o.bytes = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--reply-topic") == 0)
            o.reply_topic = argv[i + 1];
        else
            return 2;
    }
    family f = family_of(topic);
    size_t k = 0;
    while (k < N_KINDS && !(KINDS[k].f == f && strcmp(KINDS[k].kind, kind) == 0))
        k++;
    if (k == N_KINDS) {
        fprintf(stderr, "chaos_kafka poison: no kind \"%s\" for %s (see: chaos_kafka kinds)\n",
                kind, topic);
        return 2;
    }
    if (KINDS[k].needs_saga && !o.saga) {
        fprintf(stderr, "chaos_kafka poison: %s needs --saga ID\n", kind);
        return 2;
    }
    delivery d = {0};
    rd_kafka_t *rk = producer_new(&d);
    for (int i = 0; i < count; i++) {
        o.index = i;
        uint8_t *buf = NULL;
        size_t len = 0;
        build(f, kind, &o, &buf, &len);
        char key[64], *label;
        snprintf(key, sizeof key, "poison-%s-%d", kind, i);
        if (asprintf(&label, "%s\t%s", key, kind) < 0)
            die("poison", "out of memory");
        produce(rk, &d, topic, key, buf, len, label);
        free(buf);
    }
    return finish(rk, &d);
}

/* --- offsets ------------------------------------------------------------------------ */

static rd_kafka_t *consumer_new(const char *group)
{
    rd_kafka_conf_t *c = conf_new();
    set(c, "group.id", group ? group : "chaos_kafka.reader");
    set(c, "enable.auto.commit", "false");
    set(c, "enable.partition.eof", "true");
    set(c, "auto.offset.reset", "earliest");
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof errstr);
    if (!rk)
        die("consumer", errstr);
    return rk;
}

/* The partitions of topic (0 when it does not exist). */
static int partitions(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    if (e)
        die(topic, rd_kafka_err2str(e));
    int n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    return n;
}

static int cmd_end(const char *topic)
{
    rd_kafka_t *rk = consumer_new(NULL);
    int n = partitions(rk, topic);
    for (int p = 0; p < n; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
                                                                 TIMEOUT_MS);
        if (e)
            die(topic, rd_kafka_err2str(e));
        printf("%d %" PRId64 "\n", p, hi);
    }
    rd_kafka_destroy(rk);
    return 0;
}

static int cmd_lag(const char *group, int n_topics, char **topics)
{
    rd_kafka_t *rk = consumer_new(group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (int i = 0; i < n_topics; i++) {
        int n = partitions(rk, topics[i]);
        for (int p = 0; p < n; p++)
            rd_kafka_topic_partition_list_add(l, topics[i], p);
    }
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, TIMEOUT_MS);
    if (e)
        die("committed offsets", rd_kafka_err2str(e));
    int64_t lag = 0;
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi,
                                             TIMEOUT_MS);
        if (e)
            die(tp->topic, rd_kafka_err2str(e));
        int64_t pos = tp->offset >= 0 ? tp->offset : lo;
        if (hi > pos)
            lag += hi - pos;
    }
    printf("%" PRId64 "\n", lag);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return 0;
}

static void header(const rd_kafka_message_t *m, const char *name, char *out, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    out[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == 0 &&
        rd_kafka_header_get_last(h, name, &v, &n) == 0 && v)
        snprintf(out, cap, "%.*s", (int)n, (const char *)v);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

static int cmd_dlq(const char *topic, const char *from_file)
{
    FILE *f = fopen(from_file, "r");
    if (!f)
        die(from_file, strerror(errno));
    rd_kafka_t *rk = consumer_new(NULL);
    int n = partitions(rk, topic);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n + 1);
    int64_t *end = calloc((size_t)n + 1, sizeof *end);
    bool *done = calloc((size_t)n + 1, sizeof *done);
    if (!end || !done)
        die("dlq", "out of memory");
    for (int p = 0; p < n; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, TIMEOUT_MS))
            die(topic, "cannot read watermarks");
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = lo;
        end[p] = hi;
    }
    int part;
    long long off;
    while (fscanf(f, "%d %lld", &part, &off) == 2)
        if (part >= 0 && part < n && off > l->elems[part].offset)
            l->elems[part].offset = off;
    fclose(f);
    int remaining = 0;
    for (int p = 0; p < n; p++) {
        done[p] = l->elems[p].offset >= end[p];
        remaining += !done[p];
    }
    if (remaining && rd_kafka_assign(rk, l))
        die(topic, "cannot assign");
    while (remaining > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, TIMEOUT_MS);
        if (!m)
            die(topic, "timed out reading the dead-letter topic");
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            die(topic, rd_kafka_message_errstr(m));
        if (!m->err) {
            char src[256], sp[32], so[32], reason[1200];
            header(m, SAGA_DLQ_HDR_TOPIC, src, sizeof src);
            header(m, SAGA_DLQ_HDR_PARTITION, sp, sizeof sp);
            header(m, SAGA_DLQ_HDR_OFFSET, so, sizeof so);
            header(m, SAGA_DLQ_HDR_REASON, reason, sizeof reason);
            printf("%s %s %s\t%s\n", src[0] ? src : "-", sp[0] ? sp : "-", so[0] ? so : "-",
                   reason[0] ? reason : "-");
        }
        int p = m->partition;
        if (p >= 0 && p < n && !done[p] && (m->err || m->offset + 1 >= end[p])) {
            done[p] = true;
            remaining--;
        }
        rd_kafka_message_destroy(m);
    }
    free(end);
    free(done);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: chaos_kafka start [TOPIC] < KEY<TAB>NAME<TAB>INPUT lines\n"
            "       chaos_kafka poison TOPIC KIND [--count N] [--saga ID] [--seed S] [--bytes N]\n"
            "                          [--reply-topic T]\n"
            "       chaos_kafka kinds\n"
            "       chaos_kafka end TOPIC\n"
            "       chaos_kafka lag GROUP TOPIC...\n"
            "       chaos_kafka dlq TOPIC FROM-FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *c = argv[1];
    int rc = 2;
    if (strcmp(c, "start") == 0 && argc <= 3)
        rc = cmd_start(argc == 3 ? argv[2] : "saga.start");
    else if (strcmp(c, "poison") == 0)
        rc = cmd_poison(argc - 2, argv + 2);
    else if (strcmp(c, "kinds") == 0)
        rc = cmd_kinds();
    else if (strcmp(c, "end") == 0 && argc == 3)
        rc = cmd_end(argv[2]);
    else if (strcmp(c, "lag") == 0 && argc >= 4)
        rc = cmd_lag(argv[2], argc - 3, argv + 3);
    else if (strcmp(c, "dlq") == 0 && argc == 4)
        rc = cmd_dlq(argv[2], argv[3]);
    return rc == 2 ? usage() : rc;
}
