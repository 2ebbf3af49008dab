/*
 * dlq.c - `sagactl dlq list|replay`: working the dead-letter topic.
 *
 * Kafka keeps the letters; PostgreSQL keeps only which ones were replayed
 * (saga_dlq_replays, schema/006), because "replay once" is a
 * check-and-set a topic cannot do. A replay claims the letter's row, then
 * re-publishes the original key, value and headers (minus the dlq.* ones,
 * plus dlq.replay-of naming the letter) to the original topic, and commits
 * the claim only once Kafka acknowledged the copy: a failed publish leaves
 * the letter replayable, a concurrent replay of the same letter waits on
 * the row and is then refused. A crash between the acknowledgement and the
 * commit can leave a letter replayable although its copy went out; the
 * barrier of the participant (or sagad's reply rules) absorbs that copy.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dlq_letters.h"
#include "outbox.h"
#include "pg.h"
#include "topics.h"

#define DELIVERY_TIMEOUT_MS 15000

static const char *dlq_topic(const cli_args *a)
{
    const char *t = cli_value(a, "dlq-topic");
    return t && *t ? t : SAGA_TOPIC_DLQ;
}

static int filter_from(cli *c, const cli_args *a, cli_dlq_filter *f, saga_error *err)
{
    memset(f, 0, sizeof *f);
    f->partition = -1;
    f->topic = cli_value(a, "topic");
    f->reason = cli_value(a, "reason");
    return cli_value_since(a, "since", c->now_ms, &f->since_ms, err);
}

/* Replays already recorded for the DLQ topic, "P:O" -> {at, actor}. */
static json_t *load_replays(cli *c, const char *topic, saga_error *err)
{
    const char *params[1] = {topic};
    PGresult *r = cli_query(c,
                            "SELECT dlq_partition || ':' || dlq_offset, " SAGA_QUERY_MS("replayed_at")
                            ", actor, target_offset FROM saga_dlq_replays WHERE dlq_topic = $1",
                            1, params, err);
    if (!r)
        return NULL;
    json_t *m = json_object();
    for (int i = 0; i < PQntuples(r); i++)
        json_object_set_new(m, cli_get(r, i, 0),
                            json_pack("{s:o, s:s, s:o}", "at",
                                      cli_time_json(cli_get_i64(r, i, 1)), "actor",
                                      cli_get(r, i, 2), "target_offset",
                                      cli_null(r, i, 3) ? json_null()
                                                        : json_integer(cli_get_i64(r, i, 3))));
    PQclear(r);
    return m;
}

static json_t *headers_json(const cli_letter *l)
{
    json_t *o = json_object();
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(l->msg, &h) || !h)
        return o;
    const char *name;
    const void *v;
    size_t len;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &v, &len) == 0; i++)
        json_object_set_new(o, name, json_stringn(v ? v : "", v ? len : 0));
    return o;
}

/* The value as text when it is UTF-8 (JSON from a confused producer), else
 * {"hex": ...}: a protobuf letter is best read through "decoded". */
static json_t *value_json(const rd_kafka_message_t *m)
{
    json_t *text = json_stringn(m->payload ? m->payload : "", m->payload ? m->len : 0);
    if (text)
        return text;
    char *hex = malloc(m->len * 2 + 1);
    if (!hex)
        return NULL;
    for (size_t i = 0; i < m->len; i++)
        sprintf(hex + 2 * i, "%02x", ((const unsigned char *)m->payload)[i]);
    hex[m->len * 2] = '\0';
    json_t *j = json_pack("{s:s}", "hex", hex);
    free(hex);
    return j;
}

static json_t *letter_json(const cli_letter *l, json_t *decoded, json_t *replayed)
{
    const rd_kafka_message_t *m = l->msg;
    json_t *key = m->key ? json_stringn(m->key, m->key_len) : json_null();
    json_t *value = value_json(m);
    return json_pack("{s:s, s:i, s:I, s:o, s:s, s:s, s:I, s:I, s:o, s:o, s:I, s:o, s:o, s:o}",
                     "id", l->id, "dlq_partition", (int)m->partition, "dlq_offset",
                     (json_int_t)m->offset, "dead_lettered_at", cli_time_json(l->timestamp_ms),
                     "reason", l->reason, "topic", l->topic, "partition",
                     (json_int_t)l->partition, "offset", (json_int_t)l->offset, "key",
                     key ? key : json_null(), "value", value ? value : json_null(), "bytes",
                     (json_int_t)m->len, "headers", headers_json(l), "decoded",
                     decoded ? decoded : json_null(), "replayed",
                     replayed ? json_incref(replayed) : json_null());
}

static void letter_row(cli *c, saga_table *t, const cli_letter *l, const char *summary,
                       json_t *replayed)
{
    char when[64], from[480];
    cli_time_text(c, l->timestamp_ms, when, sizeof when);
    snprintf(from, sizeof from, "%s [%lld] @%lld%s%s%s", l->topic, l->partition, l->offset,
             *l->replay_of ? " (replay of " : "", l->replay_of, *l->replay_of ? ")" : "");
    saga_table_row(t);
    saga_table_cell(t, 0, l->id, NULL);
    saga_table_cell(t, 1, when, NULL);
    saga_table_cell(t, 2, from, NULL);
    saga_table_cell(t, 3, l->reason, NULL);
    saga_table_cell(t, 4, summary, NULL);
    if (replayed)
        saga_table_cellf(t, 5, CLI_SGR_DIM, "by %s",
                         json_string_value(json_object_get(replayed, "actor")));
    else
        saga_table_cell(t, 5, "-", NULL);
}

static int run_list(cli *c, const cli_args *a)
{
    saga_error err;
    cli_dlq_filter f;
    const char *brokers = cli_brokers(a, &err);
    if (!brokers || filter_from(c, a, &f, &err))
        return cli_usage_fail(&err);
    json_t *replays = load_replays(c, dlq_topic(a), &err);
    if (!replays)
        return cli_fail(c, &err);
    cli_letters ls;
    if (cli_dlq_read(brokers, dlq_topic(a), &f, &ls, &err)) {
        json_decref(replays);
        cli_letters_free(&ls);
        return cli_fail(c, &err);
    }
    bool json = cli_flag(a, "json");
    json_t *arr = json_array();
    saga_table *t = json ? NULL : cli_table(6);
    const char *heads[] = {"ID", "DEAD-LETTERED", "FROM", "REASON", "DECODED", "REPLAYED"};
    for (size_t k = 0; t && k < 6; k++)
        saga_table_column(t, k, heads[k], 0);
    for (size_t i = 0; i < ls.n; i++) {
        char summary[256];
        json_t *decoded = cli_letter_decode(&ls.v[i], summary, sizeof summary);
        json_t *rep = json_object_get(replays, ls.v[i].id);
        if (json) {
            json_array_append_new(arr, letter_json(&ls.v[i], decoded, rep));
            continue;
        }
        letter_row(c, t, &ls.v[i], summary, rep);
        json_decref(decoded);
    }
    int status = CLI_EXIT_OK;
    if (json) {
        status = cli_json_print(arr, false);
    } else {
        json_decref(arr);
        if (ls.n)
            cli_table_print(c, t);
        printf("%zu dead letter%s in %s\n", ls.n, ls.n == 1 ? "" : "s", dlq_topic(a));
    }
    saga_table_free(t);
    json_decref(replays);
    cli_letters_free(&ls);
    return status;
}

#define DLQ_OPTS                                                                  \
    {"topic", CLI_VALUE, "TOPIC", "only letters consumed from this topic"},       \
    {"since", CLI_VALUE, "DUR|TIME", "only letters dead-lettered since"},         \
    {"dlq-topic", CLI_VALUE, "NAME", "the dead-letter topic (default: saga.dlq)"}, \
    {"json", CLI_FLAG, NULL, "print one JSON document"},                          \
    CLI_BROKERS_OPT

static const cli_opt LIST_OPTS[] = {
    {"reason", CLI_VALUE, "TEXT", "only letters whose reason contains TEXT"},
    DLQ_OPTS,
};

const cli_command cli_cmd_dlq_list = {
    .name = "dlq list",
    .synopsis = "[--since DUR] [--topic TOPIC] [--reason TEXT] [--json] [--brokers LIST]",
    .summary = "show the dead letters with their reason and origin",
    .description =
        "Reads the dead-letter topic from Kafka (no consumer group, nothing is\n"
        "committed) and shows each letter: its ID (PARTITION:OFFSET in the DLQ\n"
        "topic, what `dlq replay` takes), when it was dead-lettered, where it was\n"
        "consumed from (topic, partition, offset), why (dlq.reason), what it\n"
        "decodes to when it is a Command, Reply or StartSaga, and whether and by\n"
        "whom it was replayed. --json adds the key, value and headers.",
    .opts = LIST_OPTS,
    .n_opts = sizeof LIST_OPTS / sizeof LIST_OPTS[0],
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .run = run_list,
};

/* --- replay ----------------------------------------------------------------- */

typedef struct delivery {
    bool done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
} delivery;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivery *d = m->_private;
    d->done = true;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
}

static rd_kafka_t *producer(const char *brokers, saga_error *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "client.id", "sagactl", errstr, sizeof errstr)) {
        rd_kafka_conf_destroy(conf);
        saga_error_set(err, SAGA_EINVAL, "kafka: %s", errstr);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        saga_error_set(err, SAGA_EKAFKA, "kafka producer: %s", errstr);
    }
    return rk;
}

/* The letter's headers without dlq.*, plus the replay marker. Owned. */
static rd_kafka_headers_t *replay_headers(const cli_letter *l, const char *dlq)
{
    rd_kafka_headers_t *orig = NULL, *h = rd_kafka_headers_new(8);
    const char *name;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(l->msg, &orig) == 0 && orig)
        for (size_t i = 0; rd_kafka_header_get_all(orig, i, &name, &v, &len) == 0; i++)
            if (strncmp(name, "dlq.", 4) != 0)
                rd_kafka_header_add(h, name, -1, v, v ? (ssize_t)len : -1);
    char mark[320];
    snprintf(mark, sizeof mark, "%s:%s", dlq, l->id);
    rd_kafka_header_add(h, CLI_DLQ_REPLAY_HEADER, -1, mark, -1);
    return h;
}

/* Re-publishes l to its original topic and waits for Kafka's answer. */
static int publish(rd_kafka_t *p, const cli_letter *l, const char *dlq, delivery *d,
                   saga_error *err)
{
    const rd_kafka_message_t *m = l->msg;
    rd_kafka_headers_t *h = replay_headers(l, dlq);
    memset(d, 0, sizeof *d);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(l->topic), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        return saga_error_set(err, SAGA_EKAFKA, "cannot publish to %s: %s", l->topic,
                              rd_kafka_err2str(e));
    }
    rd_kafka_flush(p, DELIVERY_TIMEOUT_MS);
    if (!d->done || d->err)
        return saga_error_set(err, SAGA_EKAFKA, "publishing to %s failed: %s", l->topic,
                              d->done ? rd_kafka_err2str(d->err) : "no acknowledgement in time");
    return 0;
}

typedef struct replayer {
    cli *c;
    rd_kafka_t *producer; /* NULL in a dry run */
    const char *dlq;
    char actor[128];
    json_t *done;         /* one object per letter considered */
    size_t replayed, skipped, would;
} replayer;

/* Who replayed l before, as a JSON object, or NULL when nobody did. */
static json_t *earlier_replay(replayer *x, const cli_letter *l, saga_error *err, int *rc)
{
    char part[16], off[32];
    snprintf(part, sizeof part, "%d", (int)l->msg->partition);
    snprintf(off, sizeof off, "%" PRId64, l->msg->offset);
    const char *params[3] = {x->dlq, part, off};
    PGresult *r = cli_query(x->c,
                            "SELECT actor, " SAGA_QUERY_MS("replayed_at") " FROM saga_dlq_replays"
                            " WHERE dlq_topic = $1 AND dlq_partition = $2 AND dlq_offset = $3",
                            3, params, err);
    *rc = r ? 0 : SAGA_EDB;
    json_t *j = r && PQntuples(r) ? json_pack("{s:s, s:o}", "by", cli_get(r, 0, 0), "at",
                                              cli_time_json(cli_get_i64(r, 0, 1)))
                                  : NULL;
    PQclear(r);
    return j;
}

/* Claims l's row; 1 claimed, 0 already replayed, <0 error. In a
 * transaction. */
static int claim(replayer *x, const cli_letter *l, saga_error *err)
{
    char part[16], off[32];
    snprintf(part, sizeof part, "%d", (int)l->msg->partition);
    snprintf(off, sizeof off, "%" PRId64, l->msg->offset);
    const char *params[6] = {x->dlq, part, off, x->actor, l->reason, l->topic};
    PGresult *r = cli_query(x->c,
                            "INSERT INTO saga_dlq_replays (dlq_topic, dlq_partition, dlq_offset,"
                            " actor, reason, target_topic) VALUES ($1, $2, $3, $4, $5, $6)"
                            " ON CONFLICT DO NOTHING RETURNING 1",
                            6, params, err);
    if (!r)
        return SAGA_EDB;
    int n = PQntuples(r);
    PQclear(r);
    return n;
}

/* Records where the copy landed and, when the letter belongs to a known
 * saga, an operator row in its history. In the claim's transaction. */
static int record(replayer *x, const cli_letter *l, const json_t *decoded, const delivery *d,
                  saga_error *err)
{
    char part[16], off[32], tp[16], to[32];
    snprintf(part, sizeof part, "%d", (int)l->msg->partition);
    snprintf(off, sizeof off, "%" PRId64, l->msg->offset);
    snprintf(tp, sizeof tp, "%d", (int)d->partition);
    snprintf(to, sizeof to, "%" PRId64, d->offset);
    const char *p1[5] = {x->dlq, part, off, tp, to};
    PGresult *r = cli_query(x->c,
                            "UPDATE saga_dlq_replays SET target_partition = $4, target_offset = $5"
                            " WHERE dlq_topic = $1 AND dlq_partition = $2 AND dlq_offset = $3",
                            5, p1, err);
    if (!r)
        return SAGA_EDB;
    PQclear(r);
    char saga[SAGA_ID_LEN + 1];
    cli_letter_saga(decoded, saga);
    if (!*saga)
        return 0;
    char text[1200];
    snprintf(text, sizeof text, "replayed dead letter %s:%s to %s [%d] @%" PRId64 " (%s)",
             x->dlq, l->id, l->topic, (int)d->partition, d->offset, l->reason);
    const char *step = json_string_value(json_object_get(decoded, "step"));
    const char *action = json_string_value(json_object_get(decoded, "action"));
    const char *p2[5] = {saga, step, action, text, x->actor};
    r = cli_query(x->c,
                  "INSERT INTO saga_history (saga_id, kind, step, action, text, actor)"
                  " SELECT id, 'operator', $2, $3, $4, $5 FROM sagas WHERE id = $1::uuid",
                  5, p2, err);
    PQclear(r);
    return r ? 0 : SAGA_EDB;
}

static json_t *entry(const cli_letter *l, const char *status)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "id", l->id, "status", status, "topic", l->topic,
                     "reason", l->reason);
}

/* Replays l once; a letter replayed before is skipped (counted). */
static int replay_one(replayer *x, const cli_letter *l, saga_error *err)
{
    if (!*l->topic)
        return saga_error_set(err, SAGA_EINVAL, "letter %s has no dlq.topic header: "
                                                "its original topic is unknown", l->id);
    int rc;
    json_t *before = earlier_replay(x, l, err, &rc);
    if (rc)
        return rc;
    if (!x->producer || before) {
        json_t *e = entry(l, before ? "already_replayed" : "would_replay");
        if (before)
            json_object_update(e, before);
        json_array_append_new(x->done, e);
        json_decref(before);
        x->skipped += before != NULL;
        x->would += before == NULL;
        return 0;
    }
    char summary[256];
    json_t *decoded = cli_letter_decode(l, summary, sizeof summary);
    delivery d;
    rc = saga_pg_begin(x->c->conn, err);
    int claimed = rc ? rc : claim(x, l, err);
    if (claimed > 0) {
        rc = publish(x->producer, l, x->dlq, &d, err);
        if (rc == 0)
            rc = record(x, l, decoded, &d, err);
        if (rc == 0)
            rc = saga_pg_commit(x->c->conn, err);
    } else {
        rc = claimed; /* 0: a concurrent replay won the row */
    }
    if (rc || claimed <= 0)
        saga_pg_rollback(x->c->conn);
    json_decref(decoded);
    if (rc)
        return rc;
    json_t *e = entry(l, claimed ? "replayed" : "already_replayed");
    if (claimed)
        json_object_update_new(e, json_pack("{s:i, s:I}", "target_partition", (int)d.partition,
                                            "target_offset", (json_int_t)d.offset));
    json_array_append_new(x->done, e);
    x->replayed += claimed > 0;
    x->skipped += claimed == 0;
    return 0;
}

static int print_replays(const cli_args *a, const replayer *x, bool dry)
{
    if (cli_flag(a, "json"))
        return cli_json_print(json_pack("{s:b, s:I, s:I, s:I, s:O}", "dry_run", dry, "replayed",
                                        (json_int_t)x->replayed, "would_replay",
                                        (json_int_t)x->would, "skipped",
                                        (json_int_t)x->skipped, "letters", x->done),
                              false);
    size_t i;
    json_t *e;
    json_array_foreach(x->done, i, e) {
        const char *st = json_string_value(json_object_get(e, "status"));
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *topic = json_string_value(json_object_get(e, "topic"));
        if (strcmp(st, "replayed") == 0)
            printf("replayed %s to %s [%lld] @%lld\n", id, topic,
                   json_integer_value(json_object_get(e, "target_partition")),
                   json_integer_value(json_object_get(e, "target_offset")));
        else if (strcmp(st, "would_replay") == 0)
            printf("would replay %s to %s\n", id, topic);
        else
            printf("skipped %s: already replayed by %s at %s\n", id,
                   json_string_value(json_object_get(e, "by")),
                   json_string_value(json_object_get(e, "at")));
    }
    if (dry)
        printf("%zu would be replayed, %zu skipped as already replayed (dry run: nothing was "
               "changed)\n", x->would, x->skipped);
    else
        printf("%zu replayed, %zu skipped as already replayed\n", x->replayed, x->skipped);
    return CLI_EXIT_OK;
}

static int check_replay(cli *c, const cli_args *a)
{
    (void)c;
    bool all = cli_flag(a, "all-matching");
    if (all == (a->n_pos == 1))
        return cli_usage_error(&cli_cmd_dlq_replay, "give one letter ID or --all-matching");
    if (!all && (cli_value(a, "topic") || cli_value(a, "reason") || cli_value(a, "since")))
        return cli_usage_error(&cli_cmd_dlq_replay,
                               "--topic, --reason and --since select letters for --all-matching");
    int p;
    long long o;
    saga_error err;
    if (!all && cli_letter_id_parse(a->pos[0], &p, &o, &err))
        return cli_usage_fail(&err);
    return CLI_EXIT_OK;
}

static int replay_all(replayer *x, const cli_letters *ls, saga_error *err)
{
    for (size_t i = 0; i < ls->n; i++) {
        int rc = replay_one(x, &ls->v[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

static int run_replay(cli *c, const cli_args *a)
{
    saga_error err;
    cli_dlq_filter f;
    const char *brokers = cli_brokers(a, &err);
    if (!brokers || filter_from(c, a, &f, &err))
        return cli_usage_fail(&err);
    bool all = cli_flag(a, "all-matching"), dry = cli_flag(a, "dry-run");
    if (!all)
        cli_letter_id_parse(a->pos[0], &f.partition, &f.offset, &err);
    replayer x = {.c = c, .dlq = dlq_topic(a), .done = json_array()};
    cli_actor(a, x.actor, sizeof x.actor);
    cli_letters ls;
    int rc = cli_dlq_read(brokers, x.dlq, &f, &ls, &err);
    if (rc == 0 && !all && ls.n == 0)
        rc = saga_error_set(&err, SAGA_ENOTFOUND, "no dead letter %s in %s", a->pos[0], x.dlq);
    if (rc == 0 && !dry && ls.n &&
        !cli_confirm(c, cli_flag(a, "yes"), "replay %zu dead letter%s?", ls.n,
                     ls.n == 1 ? "" : "s")) {
        fprintf(stderr, "not done\n");
        cli_letters_free(&ls);
        json_decref(x.done);
        return CLI_EXIT_FAIL;
    }
    if (rc == 0 && !dry && !(x.producer = producer(brokers, &err)))
        rc = SAGA_EKAFKA;
    if (rc == 0)
        rc = replay_all(&x, &ls, &err);
    int status = rc ? cli_fail(c, &err) : print_replays(a, &x, dry);
    /* One letter named and refused: that is a refusal, not a success. */
    if (rc == 0 && !all && x.skipped && status == CLI_EXIT_OK)
        status = CLI_EXIT_FAIL;
    if (x.producer)
        rd_kafka_destroy(x.producer);
    cli_letters_free(&ls);
    json_decref(x.done);
    return status;
}

static const cli_opt REPLAY_OPTS[] = {
    {"all-matching", CLI_FLAG, NULL, "every letter that matches --topic/--reason/--since"},
    {"reason", CLI_VALUE, "TEXT", "only letters whose reason contains TEXT"},
    {"dry-run", CLI_FLAG, NULL, "show what would be replayed, change nothing"},
    {"actor", CLI_VALUE, "NAME", "who is acting, for the audit trail (default: OS user)"},
    {"yes", CLI_FLAG, NULL, "do not ask for confirmation on a terminal"},
    DLQ_OPTS,
};

const cli_command cli_cmd_dlq_replay = {
    .name = "dlq replay",
    .synopsis = "ID|--all-matching [--topic TOPIC] [--reason TEXT] [--since DUR] [--dry-run] "
                "[--actor NAME] [--yes] [--json] [--brokers LIST]",
    .summary = "re-publish dead letters to their original topic, once each",
    .description =
        "Re-publishes a dead letter (ID from `dlq list`), or every letter matching\n"
        "the filters, to the topic it was consumed from: same key and value, its\n"
        "headers minus the dlq.* ones, plus dlq.replay-of naming the letter. Do\n"
        "it after fixing the cause (a size limit, a bug in the consumer). Each\n"
        "letter is replayed at most once: the replay is recorded in PostgreSQL\n"
        "(saga_dlq_replays: when, by whom, where the copy landed) in the same\n"
        "transaction that claims it, and a letter replayed before is skipped\n"
        "(refused, exit 1, when named by ID). A replay of a saga's message is also\n"
        "written to that saga's history with the actor.",
    .opts = REPLAY_OPTS,
    .n_opts = sizeof REPLAY_OPTS / sizeof REPLAY_OPTS[0],
    .min_pos = 0,
    .max_pos = 1,
    .needs_db = true,
    .check = check_replay,
    .run = run_replay,
};
