/*
 * it_workers.c - the participant workers on the real stack, end to end:
 * the real inventory-worker and payment-worker binaries run as child
 * processes, commands go to them straight over Kafka, and the test asserts
 * on their replies and on their PostgreSQL rows.
 *
 * Covered: every barrier rule (duplicates, empty compensation, hanging
 * reserve, confirm/compensate conflicts), business refusals, a replay of the
 * whole command topic from offset 0 by a new consumer group (tables must not
 * move), a crash between commit and reply (the redelivered command gets the
 * recorded reply, no double effect), dead-lettering of undecodable commands
 * while the worker keeps serving, fault injection (retry, ignore), `check`
 * catching a corrupted row, and a graceful SIGTERM (exit 0).
 *
 * Every run uses its own topics, consumer groups, SKUs and accounts, so runs
 * on the same stack never see each other's data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <librdkafka/rdkafka.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "barrier.h"
#include "inventory/inventory.h"
#include "itest.h"
#include "saga.pb-c.h"
#include "topics.h"

#define WAIT_MS 60000

static char run_id[64];
static char bin_dir[PATH_MAX];
static rd_kafka_t *producer;
static PGconn *db;
/* Workers still running, killed after each test whatever its outcome. */
static pid_t live[16];
static int n_live;

/* --- child processes --------------------------------------------------------- */

/* Starts bin_dir/<prog> with args (NULL-terminated); stdout/stderr go to the
 * test's own stderr so a failing run shows the worker's logs. */
static pid_t spawn(const char *prog, const char *const *args)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", bin_dir, prog);
    const char *argv[64];
    int n = 0;
    argv[n++] = path;
    for (; args && *args && n < 63; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execv(path, (char *const *)argv);
        fprintf(stderr, "cannot exec %s\n", path);
        _exit(127);
    }
    if (n_live < 16)
        live[n_live++] = pid;
    return pid;
}

/* Waits for pid to exit within deadline_ms; returns its exit status, or -1
 * (after killing it) when it did not exit in time or died by a signal. */
static void forget(pid_t pid)
{
    for (int i = 0; i < n_live; i++)
        if (live[i] == pid)
            live[i] = live[--n_live];
}

static int wait_exit(pid_t pid, int64_t deadline_ms)
{
    int64_t end = itest_now_ms() + deadline_ms;
    int st, rc = -1;
    for (;;) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        if (itest_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    forget(pid);
    return rc;
}

static int kill_workers(void **state)
{
    (void)state;
    while (n_live > 0) {
        pid_t pid = live[0];
        kill(pid, SIGKILL);
        wait_exit(pid, WAIT_MS);
    }
    return 0;
}

/* Runs a CLI subcommand to completion and returns its exit status. */
static int run_cli(const char *prog, const char *const *args)
{
    return wait_exit(spawn(prog, args), WAIT_MS);
}

static int stop_worker(pid_t pid)
{
    kill(pid, SIGTERM);
    return wait_exit(pid, WAIT_MS);
}

/* --- Kafka --------------------------------------------------------------------- */

static void make_topic(const char *name, int partitions)
{
    saga_topic_spec t = {name, partitions, 1};
    saga_error err;
    int rc = saga_topics_ensure(producer, &t, 1, 20000, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void produce_raw(const char *topic, const char *key, const void *val, size_t len,
                        rd_kafka_headers_t *hdrs)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs ? hdrs : rd_kafka_headers_new(0)), RD_KAFKA_V_END);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(producer, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

typedef struct cmd_spec {
    const char *saga;   /* suffix; the saga id is run_id + "-" + saga */
    Saga__Action action;
    int attempt;
    const char *payload;
} cmd_spec;

static void saga_id_of(const char *saga, char *out, size_t len)
{
    snprintf(out, len, "%s-%s", run_id, saga);
}

static void send_cmd(const char *topic, const char *reply_topic, const char *step,
                     const cmd_spec *c)
{
    char saga_id[128], key[192];
    saga_id_of(c->saga, saga_id, sizeof saga_id);
    snprintf(key, sizeof key, "%s/%s", saga_id, step);
    Saga__Command cmd = SAGA__COMMAND__INIT;
    cmd.saga_id = saga_id;
    cmd.saga_name = "it_workers";
    cmd.saga_version = 1;
    cmd.step = (char *)step;
    cmd.action = c->action;
    cmd.attempt = c->attempt;
    cmd.idempotency_key = key;
    cmd.payload.data = (uint8_t *)c->payload;
    cmd.payload.len = c->payload ? strlen(c->payload) : 0;
    cmd.reply_topic = (char *)reply_topic;
    cmd.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    size_t len = saga__command__get_packed_size(&cmd);
    uint8_t *buf = malloc(len);
    saga__command__pack(&cmd, buf);
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "traceparent", -1, cmd.traceparent, -1);
    produce_raw(topic, saga_id, buf, len, h);
    free(buf);
}

/* A reply as received. */
typedef struct reply {
    char saga_id[128];
    char step[64];
    int action;
    int attempt;
    int outcome;
    char reason[512];
    char payload[512];
    char traceparent[128];
    char key[128];
} reply;

/* Reads a topic from the beginning, without a consumer group. */
typedef struct reader {
    rd_kafka_t *rk;
    reply *got;
    int n, cap;
    /* raw messages, for the dead-letter topic */
    rd_kafka_message_t **raw;
    int n_raw;
    bool keep_raw;
} reader;

static void reader_open(reader *r, const char *topic, int partitions, bool keep_raw)
{
    memset(r, 0, sizeof *r);
    r->keep_raw = keep_raw;
    char errstr[512], group[128];
    snprintf(group, sizeof group, "%s.reader", run_id);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", itest_env("SAGA_KAFKA_BROKERS"), errstr,
                      sizeof errstr);
    rd_kafka_conf_set(c, "group.id", group, errstr, sizeof errstr);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", errstr, sizeof errstr);
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof errstr);
    assert_non_null(r->rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(r->rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
}

static void reader_close(reader *r)
{
    /* Messages hold references to the client: free them first. */
    for (int i = 0; i < r->n_raw; i++)
        rd_kafka_message_destroy(r->raw[i]);
    free(r->raw);
    rd_kafka_assign(r->rk, NULL);
    rd_kafka_destroy(r->rk);
    free(r->got);
}

static void copy_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

static void reader_take(reader *r, rd_kafka_message_t *m)
{
    if (r->keep_raw) {
        r->raw = realloc(r->raw, sizeof *r->raw * (size_t)(r->n_raw + 1));
        r->raw[r->n_raw++] = m;
        return;
    }
    Saga__Reply *rep = saga__reply__unpack(NULL, m->len, m->payload);
    assert_non_null(rep);
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->got = realloc(r->got, sizeof *r->got * (size_t)r->cap);
    }
    reply *x = &r->got[r->n++];
    memset(x, 0, sizeof *x);
    copy_str(x->saga_id, sizeof x->saga_id, rep->saga_id);
    copy_str(x->step, sizeof x->step, rep->step);
    x->action = rep->action;
    x->attempt = rep->attempt;
    x->outcome = rep->outcome;
    copy_str(x->reason, sizeof x->reason, rep->reason);
    snprintf(x->payload, sizeof x->payload, "%.*s", (int)rep->payload.len,
             rep->payload.data ? (const char *)rep->payload.data : "");
    const void *v;
    size_t vlen;
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(m, &h) == 0 &&
        rd_kafka_header_get_last(h, "traceparent", &v, &vlen) == 0)
        snprintf(x->traceparent, sizeof x->traceparent, "%.*s", (int)vlen, (const char *)v);
    snprintf(x->key, sizeof x->key, "%.*s", (int)m->key_len, (const char *)m->key);
    saga__reply__free_unpacked(rep, NULL);
    rd_kafka_message_destroy(m);
}

/* Reads until at least n messages arrived or the deadline passed. */
static bool reader_wait(reader *r, int n, int64_t deadline_ms)
{
    int64_t end = itest_now_ms() + deadline_ms;
    while ((r->keep_raw ? r->n_raw : r->n) < n && itest_now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        reader_take(r, m);
    }
    return (r->keep_raw ? r->n_raw : r->n) >= n;
}

/* The k-th (0-based) reply for (saga, action, attempt), or NULL. */
static const reply *find_reply(const reader *r, const char *saga, int action, int attempt, int k)
{
    char saga_id[128];
    saga_id_of(saga, saga_id, sizeof saga_id);
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->got[i].saga_id, saga_id) == 0 && r->got[i].action == action &&
            r->got[i].attempt == attempt && k-- == 0)
            return &r->got[i];
    return NULL;
}

static const reply *expect(const reader *r, const char *saga, int action, int attempt,
                           int outcome, const char *reason_part)
{
    const reply *x = find_reply(r, saga, action, attempt, 0);
    if (!x)
        fail_msg("no reply for %s action %d attempt %d", saga, action, attempt);
    if (x->outcome != outcome || !strstr(x->reason, reason_part))
        fail_msg("%s action %d: got outcome %d reason \"%s\", want %d with \"%s\"", saga, action,
                 x->outcome, x->reason, outcome, reason_part);
    assert_string_equal(x->traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_string_equal(x->key, x->saga_id);
    return x;
}

static int64_t high_watermark(const char *topic, int partitions)
{
    int64_t total = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo, hi;
        assert_int_equal(rd_kafka_query_watermark_offsets(producer, topic, p, &lo, &hi, 10000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        total += hi;
    }
    return total;
}

/* --- PostgreSQL ------------------------------------------------------------------ */

static long q_long(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return itest_pg_long(db, sql);
}

static void q_exec(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* "available,reserved,sold" of a SKU of this run. */
static void stock_of(const char *sku, char *out, size_t len)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT available || ',' || reserved || ',' || sold FROM inventory.stock"
             " WHERE sku = '%s-%s'", run_id, sku);
    PGresult *r = PQexec(db, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(out, len, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "none");
    PQclear(r);
}

static void assert_stock(const char *sku, const char *want)
{
    char got[128];
    stock_of(sku, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("stock of %s: got %s, want %s", sku, got, want);
}

static void account_of(const char *acct, char *out, size_t len)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT balance || ',' || held || ',' || captured FROM payment.accounts"
             " WHERE id = '%s-%s'", run_id, acct);
    PGresult *r = PQexec(db, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(out, len, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "none");
    PQclear(r);
}

static void assert_account(const char *acct, const char *want)
{
    char got[128];
    account_of(acct, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("account %s: got %s, want %s", acct, got, want);
}

/* --- names ------------------------------------------------------------------------ */

static void name(char *out, size_t len, const char *what)
{
    snprintf(out, len, "%s-%s", run_id, what);
}

static void dotted(char *out, size_t len, const char *what)
{
    snprintf(out, len, "it.workers.%s.%s", run_id, what);
}

static int check_prefix(const char *prog)
{
    char prefix[96];
    name(prefix, sizeof prefix, "");
    const char *args[] = {"check", "--prefix", prefix, NULL};
    return run_cli(prog, args);
}

/* --- tests ------------------------------------------------------------------------- */

#define RES SAGA__ACTION__RESERVE
#define CON SAGA__ACTION__CONFIRM
#define CMP SAGA__ACTION__COMPENSATE
#define OK SAGA__OUTCOME__OK
#define REJ SAGA__OUTCOME__REJECTED
#define RETRY SAGA__OUTCOME__RETRY

/* Runs an inventory handler (workers/inventory/stock.c, linked in by the
 * Makefile) on db for a step of no saga: the stock moves exactly as a
 * command's would, outside any worker and barrier. */
static void inventory_direct(saga_worker_handler fn, const char *key, const char *sku)
{
    json_t *payload = json_pack("{s:s, s:i}", "sku", sku, "qty", 1);
    saga_worker_cmd cmd = {.saga_id = "stray", .step = "reserve_inventory", .command = "",
                           .attempt = 1, .idempotency_key = key, .payload = payload,
                           .conn = db};
    json_t *result = NULL;
    char reason[256] = "";
    if (fn(&cmd, &result, reason, sizeof reason, NULL) != SAGA_WORKER_OK)
        fail_msg("inventory handler on %s: %s", key, reason);
    json_decref(result);
    json_decref(payload);
}

static void seed_inventory(const char *sku, const char *qty)
{
    char s[96];
    name(s, sizeof s, sku);
    const char *args[] = {"seed", "--sku", s, "--qty", qty, NULL};
    assert_int_equal(run_cli("inventory-worker", args), 0);
}

static void test_inventory_barrier_and_replay(void **state)
{
    (void)state;
    char topic[128], replies[128], group[128], group2[128], sku_a[96], sku_b[96];
    dotted(topic, sizeof topic, "inventory");
    dotted(replies, sizeof replies, "inventory.replies");
    dotted(group, sizeof group, "inventory.g1");
    dotted(group2, sizeof group2, "inventory.g2");
    name(sku_a, sizeof sku_a, "A");
    name(sku_b, sizeof sku_b, "B");
    make_topic(topic, 4);
    make_topic(replies, 1);
    seed_inventory("A", "10");
    seed_inventory("B", "5");
    seed_inventory("A", "10"); /* seeding is idempotent */
    assert_stock("A", "10,0,0");

    char pa2[128], pa1[128], pa3[128], pb99[128], pb2[128];
    snprintf(pa2, sizeof pa2, "{\"sku\":\"%s\",\"qty\":2}", sku_a);
    snprintf(pa1, sizeof pa1, "{\"sku\":\"%s\",\"qty\":1}", sku_a);
    snprintf(pa3, sizeof pa3, "{\"sku\":\"%s\",\"qty\":3}", sku_a);
    snprintf(pb99, sizeof pb99, "{\"sku\":\"%s\",\"qty\":99}", sku_b);
    snprintf(pb2, sizeof pb2, "{\"sku\":\"%s\",\"qty\":2}", sku_b);
    /* Sent before the worker starts, so most land in one batch: commands of
     * one step in one transaction must see each other. */
    const cmd_spec first[] = {
        {"s1", RES, 1, pa2},  {"s1", RES, 1, pa2},  {"s1", CON, 1, "{}"},
        {"s1", CON, 1, "{}"}, {"s1", CMP, 1, "{}"}, /* compensate after confirm */
        {"s2", CMP, 1, "{}"}, {"s2", RES, 1, pa1},  /* empty compensation, hanging reserve */
        {"s3", RES, 1, pb99}, {"s3", CMP, 1, ""},   /* short stock, nothing to undo */
        {"s4", RES, 1, "{\"sku\":\"no-such-sku\",\"qty\":1}"},
        {"s5", RES, 1, pa3},  {"s5", CMP, 1, "{}"}, {"s5", CON, 1, "{}"},
        {"s6", RES, 1, pb2},  {"s7", CON, 1, "{}"}, /* confirm with no reserve */
        {"s8", RES, 1, "{\"sku\":\"x\"}"},          /* invalid payload */
    };
    int n_first = sizeof first / sizeof first[0];
    for (int i = 0; i < n_first; i++)
        send_cmd(topic, replies, "reserve_inventory", &first[i]);

    const char *args[] = {"--topic", topic, "--group", group, NULL};
    pid_t w = spawn("inventory-worker", args);
    reader r;
    reader_open(&r, replies, 1, false);
    assert_true(reader_wait(&r, n_first, WAIT_MS));

    const reply *s1 = expect(&r, "s1", RES, 1, OK, "");
    const reply *s1dup = find_reply(&r, "s1", RES, 1, 1);
    assert_non_null(s1dup);
    assert_string_equal(s1->payload, s1dup->payload); /* same reservation id */
    assert_non_null(strstr(s1->payload, "reservation_id"));
    expect(&r, "s1", CON, 1, OK, "");
    assert_int_equal(find_reply(&r, "s1", CON, 1, 1)->outcome, OK);
    expect(&r, "s1", CMP, 1, REJ, "already confirmed");
    const reply *empty = expect(&r, "s2", CMP, 1, OK, "");
    assert_non_null(strstr(empty->payload, "empty compensation"));
    expect(&r, "s2", RES, 1, REJ, "hanging reserve");
    expect(&r, "s3", RES, 1, REJ, "insufficient stock");
    expect(&r, "s3", CMP, 1, OK, "");
    expect(&r, "s4", RES, 1, REJ, "unknown sku");
    expect(&r, "s5", RES, 1, OK, "");
    expect(&r, "s5", CMP, 1, OK, "");
    expect(&r, "s5", CON, 1, REJ, "already compensated");
    expect(&r, "s6", RES, 1, OK, "");
    expect(&r, "s7", CON, 1, REJ, "nothing to confirm");
    expect(&r, "s8", RES, 1, REJ, "invalid payload");

    /* Redeliveries while running, in later batches, with new attempts. */
    const cmd_spec second[] = {
        {"s1", RES, 2, pa2}, {"s5", CMP, 2, "{}"}, {"s2", RES, 2, pa1}, {"s6", RES, 1, pb2},
    };
    int n_second = sizeof second / sizeof second[0];
    for (int i = 0; i < n_second; i++)
        send_cmd(topic, replies, "reserve_inventory", &second[i]);
    assert_true(reader_wait(&r, n_first + n_second, WAIT_MS));
    const reply *s1again = expect(&r, "s1", RES, 2, OK, "");
    assert_string_equal(s1again->payload, s1->payload);
    expect(&r, "s5", CMP, 2, OK, "");
    expect(&r, "s2", RES, 2, REJ, "hanging reserve");
    assert_string_equal(find_reply(&r, "s6", RES, 1, 1)->payload,
                        find_reply(&r, "s6", RES, 1, 0)->payload);

    /* A sold 2 (s1), B holds 2 for s6; everything else back or untouched. */
    assert_stock("A", "8,0,2");
    assert_stock("B", "3,2,0");
    assert_int_equal(check_prefix("inventory-worker"), 0);
    assert_int_equal(stop_worker(w), 0);

    /* Replay the whole topic with a new group: every command is answered
     * again exactly as before and the tables do not move. */
    int total = n_first + n_second;
    const char *args2[] = {"--topic", topic, "--group", group2, NULL};
    w = spawn("inventory-worker", args2);
    assert_true(reader_wait(&r, 2 * total, WAIT_MS));
    for (int i = 0; i < total; i++) {
        const cmd_spec *c = i < n_first ? &first[i] : &second[i - n_first];
        const reply *a = find_reply(&r, c->saga, c->action, c->attempt, 0);
        int k = 0;
        for (const reply *b; (b = find_reply(&r, c->saga, c->action, c->attempt, k)); k++) {
            assert_int_equal(a->outcome, b->outcome);
            assert_string_equal(a->reason, b->reason);
            assert_string_equal(a->payload, b->payload);
        }
        assert_true(k >= 2);
    }
    assert_stock("A", "8,0,2");
    assert_stock("B", "3,2,0");
    assert_int_equal(check_prefix("inventory-worker"), 0);
    assert_int_equal(stop_worker(w), 0);
    reader_close(&r);
}

static void test_payment_rules(void **state)
{
    (void)state;
    char topic[128], replies[128], group[128], a1[96], a2[96];
    dotted(topic, sizeof topic, "payment");
    dotted(replies, sizeof replies, "payment.replies");
    dotted(group, sizeof group, "payment.g1");
    name(a1, sizeof a1, "acc1");
    name(a2, sizeof a2, "acc2");
    make_topic(topic, 4);
    make_topic(replies, 1);
    const char *seed[] = {"seed", "--account", a1, "--balance", "100", "--account", a2,
                          "--balance", "50", "--blocked", NULL};
    assert_int_equal(run_cli("payment-worker", seed), 0);
    assert_int_equal(run_cli("payment-worker", seed), 0);
    assert_account("acc1", "100,0,0");

    char p30[128], p20[128], p1000[128], pblocked[128];
    snprintf(p30, sizeof p30, "{\"account\":\"%s\",\"amount\":30}", a1);
    snprintf(p20, sizeof p20, "{\"account\":\"%s\",\"amount\":20}", a1);
    snprintf(p1000, sizeof p1000, "{\"account\":\"%s\",\"amount\":1000}", a1);
    snprintf(pblocked, sizeof pblocked, "{\"account\":\"%s\",\"amount\":5}", a2);
    const cmd_spec cmds[] = {
        {"p1", RES, 1, p30},      {"p1", CON, 1, "{}"}, {"p1", CON, 2, "{}"},
        {"p2", RES, 1, p20},      {"p2", CMP, 1, "{}"}, {"p2", CMP, 1, "{}"},
        {"p3", RES, 1, p1000},    {"p4", RES, 1, pblocked},
        {"p5", RES, 1, "{\"account\":\"nobody\",\"amount\":1}"},
        {"p6", CMP, 1, "{}"},     {"p6", RES, 1, p20},
    };
    int n = sizeof cmds / sizeof cmds[0];
    for (int i = 0; i < n; i++)
        send_cmd(topic, replies, "charge", &cmds[i]);
    const char *args[] = {"--topic", topic, "--group", group, NULL};
    pid_t w = spawn("payment-worker", args);
    reader r;
    reader_open(&r, replies, 1, false);
    assert_true(reader_wait(&r, n, WAIT_MS));
    const reply *hold = expect(&r, "p1", RES, 1, OK, "");
    assert_non_null(strstr(hold->payload, "hold_id"));
    expect(&r, "p1", CON, 1, OK, "");
    expect(&r, "p1", CON, 2, OK, "");
    expect(&r, "p2", RES, 1, OK, "");
    expect(&r, "p2", CMP, 1, OK, "");
    assert_int_equal(find_reply(&r, "p2", CMP, 1, 1)->outcome, OK);
    expect(&r, "p3", RES, 1, REJ, "insufficient funds");
    expect(&r, "p4", RES, 1, REJ, "blocked");
    expect(&r, "p5", RES, 1, REJ, "unknown account");
    expect(&r, "p6", CMP, 1, OK, "");
    expect(&r, "p6", RES, 1, REJ, "hanging reserve");
    assert_account("acc1", "70,0,30");
    assert_account("acc2", "50,0,0");
    assert_int_equal(check_prefix("payment-worker"), 0);
    assert_int_equal(stop_worker(w), 0);
    reader_close(&r);
}

static void test_crash_after_commit(void **state)
{
    (void)state;
    char topic[128], replies[128], group[128], sku[96], payload[128];
    dotted(topic, sizeof topic, "crash");
    dotted(replies, sizeof replies, "crash.replies");
    dotted(group, sizeof group, "crash.g1");
    name(sku, sizeof sku, "C");
    make_topic(topic, 4);
    make_topic(replies, 1);
    seed_inventory("C", "5");
    snprintf(payload, sizeof payload, "{\"sku\":\"%s\",\"qty\":2}", sku);
    cmd_spec c = {"c1", RES, 1, payload};
    send_cmd(topic, replies, "reserve_inventory", &c);

    /* A short session lets the restarted worker take over the crashed
     * one's partitions without waiting out the default 45 s. */
    const char *crashing[] = {"--topic", topic, "--group", group,
                              "--crash-after-commit-rate", "1",
                              "--kafka", "session.timeout.ms=6000", NULL};
    pid_t w = spawn("inventory-worker", crashing);
    assert_int_equal(wait_exit(w, WAIT_MS), 3);
    /* The effect is committed, the reply never left. */
    assert_stock("C", "3,2,0");
    assert_int_equal(high_watermark(replies, 1), 0);
    char key[192];
    snprintf(key, sizeof key, "%s-c1/reserve_inventory", run_id);
    assert_int_equal(q_long("SELECT count(*) FROM inventory.barrier WHERE idempotency_key = '%s'"
                            " AND outcome = 'OK'", key), 1);

    /* Restarted without the fault: the redelivered command gets the
     * recorded reply, and nothing is reserved twice. */
    const char *args[] = {"--topic", topic, "--group", group, NULL};
    w = spawn("inventory-worker", args);
    reader r;
    reader_open(&r, replies, 1, false);
    assert_true(reader_wait(&r, 1, WAIT_MS));
    const reply *x = expect(&r, "c1", RES, 1, OK, "");
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM inventory.reservations WHERE idempotency_key = '%s'"
                              " AND position(id::text in '%s') > 0", key, x->payload);
    assert_int_equal(itest_pg_long(db, sql), 1);
    assert_stock("C", "3,2,0");
    assert_int_equal(check_prefix("inventory-worker"), 0);
    assert_int_equal(stop_worker(w), 0);
    reader_close(&r);
}

static bool header_is(rd_kafka_message_t *m, const char *name, const char *want)
{
    rd_kafka_headers_t *h;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len))
        return false;
    return !want || (len == strlen(want) && memcmp(v, want, len) == 0);
}

static void test_poison_is_dead_lettered(void **state)
{
    (void)state;
    char topic[128], replies[128], group[128], dlq[128], sku[96], payload[128];
    dotted(topic, sizeof topic, "poison");
    dotted(replies, sizeof replies, "poison.replies");
    dotted(group, sizeof group, "poison.g1");
    dotted(dlq, sizeof dlq, "poison.dlq");
    name(sku, sizeof sku, "D");
    make_topic(topic, 1);
    make_topic(replies, 1);
    make_topic(dlq, 1);
    seed_inventory("D", "5");

    const char *junk = "\xff\xfe definitely not protobuf";
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "x-origin", -1, "it_workers", -1);
    produce_raw(topic, "poison-key", junk, strlen(junk), h);
    /* Decodes, but lacks a saga id. */
    Saga__Command bad = SAGA__COMMAND__INIT;
    bad.step = "s";
    bad.action = SAGA__ACTION__RESERVE;
    bad.idempotency_key = "k";
    size_t len = saga__command__get_packed_size(&bad);
    uint8_t *buf = malloc(len);
    saga__command__pack(&bad, buf);
    produce_raw(topic, "no-saga-id", buf, len, NULL);
    free(buf);
    cmd_spec not_object = {"d0", RES, 1, "[1,2]"};
    send_cmd(topic, replies, "reserve_inventory", &not_object);
    snprintf(payload, sizeof payload, "{\"sku\":\"%s\",\"qty\":1}", sku);
    cmd_spec good = {"d1", RES, 1, payload};
    send_cmd(topic, replies, "reserve_inventory", &good);

    const char *args[] = {"--topic", topic, "--group", group, "--dlq-topic", dlq, NULL};
    pid_t w = spawn("inventory-worker", args);
    reader r;
    reader_open(&r, replies, 1, false);
    assert_true(reader_wait(&r, 1, WAIT_MS));
    expect(&r, "d1", RES, 1, OK, "");
    assert_int_equal(r.n, 1);

    reader d;
    reader_open(&d, dlq, 1, true);
    assert_true(reader_wait(&d, 3, WAIT_MS));
    rd_kafka_message_t *m = d.raw[0];
    assert_int_equal(m->len, strlen(junk));
    assert_memory_equal(m->payload, junk, m->len);
    assert_int_equal(m->key_len, strlen("poison-key"));
    assert_true(header_is(m, "x-origin", "it_workers"));
    assert_true(header_is(m, "dlq.topic", topic));
    assert_true(header_is(m, "dlq.partition", "0"));
    assert_true(header_is(m, "dlq.offset", "0"));
    assert_true(header_is(m, "dlq.reason", NULL));
    assert_true(header_is(d.raw[1], "dlq.offset", "1"));
    assert_true(header_is(d.raw[2], "dlq.offset", "2"));
    const void *why;
    size_t why_len;
    rd_kafka_headers_t *hh;
    rd_kafka_message_headers(d.raw[2], &hh);
    rd_kafka_header_get_last(hh, "dlq.reason", &why, &why_len);
    char reason[256];
    snprintf(reason, sizeof reason, "%.*s", (int)why_len, (const char *)why);
    assert_non_null(strstr(reason, "not an object"));
    reader_close(&d);

    /* Still serving after the poison. */
    cmd_spec again = {"d2", RES, 1, payload};
    send_cmd(topic, replies, "reserve_inventory", &again);
    assert_true(reader_wait(&r, 2, WAIT_MS));
    expect(&r, "d2", RES, 1, OK, "");
    assert_stock("D", "3,2,0");
    assert_int_equal(stop_worker(w), 0);
    reader_close(&r);
}

/* A handler whose SQL fails rolls back alone: the rest of its batch is
 * applied, it answers RETRY, and a later attempt succeeds. */
static void test_failing_handler_is_isolated(void **state)
{
    (void)state;
    char topic[128], replies[128], group[128], sku[96], payload[128], key[192];
    dotted(topic, sizeof topic, "isolate");
    dotted(replies, sizeof replies, "isolate.replies");
    dotted(group, sizeof group, "isolate.g1");
    name(sku, sizeof sku, "I");
    make_topic(topic, 1);
    make_topic(replies, 1);
    seed_inventory("I", "10");
    /* A stray reservation under i2's key makes its handler's INSERT fail. */
    snprintf(key, sizeof key, "%s-i2/reserve_inventory", run_id);
    inventory_direct(inventory_reserve, key, sku);
    snprintf(payload, sizeof payload, "{\"sku\":\"%s\",\"qty\":2}", sku);
    const cmd_spec cmds[] = {
        {"i1", RES, 1, payload}, {"i2", RES, 1, payload}, {"i3", RES, 1, payload},
        {"i1", CON, 1, "{}"},
    };
    for (int i = 0; i < 4; i++)
        send_cmd(topic, replies, "reserve_inventory", &cmds[i]);
    const char *args[] = {"--topic", topic, "--group", group, NULL};
    pid_t w = spawn("inventory-worker", args);
    reader r;
    reader_open(&r, replies, 1, false);
    assert_true(reader_wait(&r, 4, WAIT_MS));
    expect(&r, "i1", RES, 1, OK, "");
    expect(&r, "i2", RES, 1, RETRY, "handler failed");
    expect(&r, "i3", RES, 1, OK, "");
    expect(&r, "i1", CON, 1, OK, "");
    assert_int_equal(q_long("SELECT count(*) FROM inventory.barrier WHERE idempotency_key = '%s'",
                            key), 0);
    /* stray 1 reserved; i1 sold 2; i3 reserved 2. */
    assert_stock("I", "5,3,2");

    /* Once the cause is gone (released, then its row deleted), the next
     * attempt is applied. */
    inventory_direct(inventory_compensate, key, sku);
    q_exec("DELETE FROM inventory.reservations WHERE idempotency_key = '%s'", key);
    cmd_spec again = {"i2", RES, 2, payload};
    send_cmd(topic, replies, "reserve_inventory", &again);
    assert_true(reader_wait(&r, 5, WAIT_MS));
    expect(&r, "i2", RES, 2, OK, "");
    assert_stock("I", "4,4,2");
    assert_int_equal(check_prefix("inventory-worker"), 0);
    assert_int_equal(stop_worker(w), 0);
    reader_close(&r);
}

typedef struct backend_probe {
    const char *app;
} backend_probe;

static bool backend_up(void *arg)
{
    backend_probe *b = arg;
    return q_long("SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'",
                  b->app) > 0;
}

/* PostgreSQL dropping the worker's connection: the worker reconnects and
 * the command is applied once. */
static void test_reconnects_to_postgres(void **state)
{
    (void)state;
    char topic[128], replies[128], group[128], sku[96], payload[128], app[96], dsn[640];
    dotted(topic, sizeof topic, "reconnect");
    dotted(replies, sizeof replies, "reconnect.replies");
    dotted(group, sizeof group, "reconnect.g1");
    name(sku, sizeof sku, "R");
    snprintf(app, sizeof app, "itw-%s", run_id);
    snprintf(dsn, sizeof dsn, "%s application_name=%s", itest_env("SAGA_PG_DSN"), app);
    make_topic(topic, 1);
    make_topic(replies, 1);
    seed_inventory("R", "5");
    /* The application name singles out this worker's connection. */
    const char *args[] = {"--topic", topic, "--group", group, "--pg-dsn", dsn, NULL};
    pid_t w = spawn("inventory-worker", args);
    snprintf(payload, sizeof payload, "{\"sku\":\"%s\",\"qty\":2}", sku);
    cmd_spec c0 = {"r0", RES, 1, payload};
    send_cmd(topic, replies, "reserve_inventory", &c0);
    reader r;
    reader_open(&r, replies, 1, false);
    assert_true(reader_wait(&r, 1, WAIT_MS));
    expect(&r, "r0", RES, 1, OK, "");

    backend_probe b = {app};
    assert_true(itest_wait(backend_up, &b, WAIT_MS));
    assert_int_equal(q_long("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE application_name = '%s'", app), 1);
    cmd_spec c1 = {"r1", RES, 1, payload};
    send_cmd(topic, replies, "reserve_inventory", &c1);
    assert_true(reader_wait(&r, 2, WAIT_MS));
    expect(&r, "r1", RES, 1, OK, "");
    assert_stock("R", "1,4,0");
    assert_true(itest_wait(backend_up, &b, WAIT_MS));
    assert_int_equal(stop_worker(w), 0);
    reader_close(&r);
}

static void test_faults_retry_and_ignore(void **state)
{
    (void)state;
    char topic[128], replies[128], group[128], sku[96], payload[128];
    dotted(topic, sizeof topic, "faults");
    dotted(replies, sizeof replies, "faults.replies");
    dotted(group, sizeof group, "faults.g1");
    name(sku, sizeof sku, "F");
    make_topic(topic, 4);
    make_topic(replies, 1);
    seed_inventory("F", "5");
    snprintf(payload, sizeof payload, "{\"sku\":\"%s\",\"qty\":1}", sku);
    /* One saga, so one partition, consumed in order: the last RESERVE is
     * answered only after the ignored COMPENSATE before it was consumed. */
    const cmd_spec cmds[] = {
        {"f1", RES, 1, payload}, {"f1", CON, 1, "{}"}, {"f1", CMP, 1, "{}"},
        {"f1", RES, 2, payload},
    };
    for (int i = 0; i < 4; i++)
        send_cmd(topic, replies, "reserve_inventory", &cmds[i]);
    const char *args[] = {"--topic", topic, "--group", group, "--retry-rate", "1",
                          "--fault-actions", "confirm", "--ignore", "compensate", NULL};
    pid_t w = spawn("inventory-worker", args);
    reader r;
    reader_open(&r, replies, 1, false);
    assert_true(reader_wait(&r, 3, WAIT_MS));
    expect(&r, "f1", RES, 1, OK, "");
    expect(&r, "f1", CON, 1, RETRY, "injected fault");
    expect(&r, "f1", RES, 2, OK, "");
    char key[192];
    snprintf(key, sizeof key, "%s-f1/reserve_inventory", run_id);
    assert_int_equal(q_long("SELECT count(*) FROM inventory.barrier WHERE idempotency_key = '%s'"
                            " AND action <> 'RESERVE'", key), 0);
    assert_int_equal(stop_worker(w), 0);
    /* Everything was consumed and acknowledged; the ignored one never answered. */
    assert_int_equal(r.n, 3);
    assert_int_equal(high_watermark(replies, 1), 3);
    assert_stock("F", "4,1,0");
    reader_close(&r);
}

/* A free TCP port on 127.0.0.1 (bound, read, released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* GET path on 127.0.0.1:port; the whole response in buf ("" when the
 * connection failed). */
static void http_get(int port, const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        char req[256];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
        if (write(fd, req, (size_t)n) == n) {
            size_t got = 0;
            ssize_t r;
            while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0)
                got += (size_t)r;
            buf[got] = '\0';
        }
    }
    close(fd);
}

typedef struct probe {
    int port;
    const char *path;
    const char *want;
} probe;

static bool responds(void *arg)
{
    probe *p = arg;
    static char buf[65536];
    http_get(p->port, p->path, buf, sizeof buf);
    return strstr(buf, p->want) != NULL;
}

static void test_health_and_metrics(void **state)
{
    (void)state;
    char topic[128], replies[128], group[128], sku[96], payload[128], listen[64];
    dotted(topic, sizeof topic, "ops");
    dotted(replies, sizeof replies, "ops.replies");
    dotted(group, sizeof group, "ops.g1");
    name(sku, sizeof sku, "O");
    make_topic(topic, 4);
    make_topic(replies, 1);
    seed_inventory("O", "5");
    int port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *args[] = {"run", "--topic", topic, "--group", group, "--http.listen", listen, NULL};
    pid_t w = spawn("inventory-worker", args);
    probe live = {port, "/healthz", "200 OK"};
    assert_true(itest_wait(responds, &live, WAIT_MS));
    probe ready = {port, "/readyz", "200 OK"};
    assert_true(itest_wait(responds, &ready, WAIT_MS));

    snprintf(payload, sizeof payload, "{\"sku\":\"%s\",\"qty\":1}", sku);
    cmd_spec c = {"o1", RES, 1, payload};
    send_cmd(topic, replies, "reserve_inventory", &c);
    send_cmd(topic, replies, "reserve_inventory", &c);
    reader r;
    reader_open(&r, replies, 1, false);
    assert_true(reader_wait(&r, 2, WAIT_MS));
    probe counted = {port, "/metrics",
                     "participant_commands_total{action=\"RESERVE\",outcome=\"OK\"} 2"};
    assert_true(itest_wait(responds, &counted, WAIT_MS));
    probe dups = {port, "/metrics", "participant_duplicates_total 1"};
    assert_true(itest_wait(responds, &dups, WAIT_MS));
    assert_int_equal(stop_worker(w), 0);
    reader_close(&r);
}

static void test_check_detects_corruption(void **state)
{
    (void)state;
    seed_inventory("Z", "7");
    char prefix[96];
    name(prefix, sizeof prefix, "Z");
    const char *args[] = {"check", "--prefix", prefix, NULL};
    assert_int_equal(run_cli("inventory-worker", args), 0);
    q_exec("UPDATE inventory.stock SET available = available + 1 WHERE sku = '%s'", prefix);
    assert_int_equal(run_cli("inventory-worker", args), 1);
    q_exec("UPDATE inventory.stock SET available = available - 1 WHERE sku = '%s'", prefix);
    assert_int_equal(run_cli("inventory-worker", args), 0);

    char acct[96];
    name(acct, sizeof acct, "Zacct");
    const char *seed[] = {"seed", "--account", acct, "--balance", "9", NULL};
    assert_int_equal(run_cli("payment-worker", seed), 0);
    const char *pargs[] = {"check", "--prefix", acct, NULL};
    q_exec("UPDATE payment.accounts SET captured = captured + 4 WHERE id = '%s'", acct);
    assert_int_equal(run_cli("payment-worker", pargs), 1);
    q_exec("UPDATE payment.accounts SET captured = captured - 4 WHERE id = '%s'", acct);
    assert_int_equal(run_cli("payment-worker", pargs), 0);
}

/* The barrier table is the library's: a participant whose migrations do
 * not create it gets it (in a schema whose name needs quoting), the
 * inventory and payment tables created by their own first migrations are
 * left as they are, and a second run applies nothing. */
static void test_barrier_migration(void **state)
{
    (void)state;
    char schema[96];
    name(schema, sizeof schema, "Bar rier");
    saga_error err;
    saga_barrier b;
    assert_int_equal(saga_barrier_open(&b, db, schema, &err), SAGA_ENOTFOUND);
    int applied = -1;
    if (saga_barrier_migrate(db, schema, &applied, &err))
        fail_msg("barrier migration: %s", err.msg);
    assert_int_equal(applied, 1);
    if (saga_barrier_open(&b, db, schema, &err))
        fail_msg("barrier after migration: %s", err.msg);
    saga_barrier_close(&b);
    assert_int_equal(saga_barrier_migrate(db, schema, &applied, &err), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(q_long("SELECT count(*) FROM saga_schema_migrations"
                            " WHERE component IN ('barrier:inventory', 'barrier:payment')"),
                     2);
    q_exec("DROP SCHEMA \"%s\" CASCADE", schema);
    q_exec("DELETE FROM saga_schema_migrations WHERE component = 'barrier:%s'", schema);
}

static int setup(void **state)
{
    (void)state;
    snprintf(run_id, sizeof run_id, "w%d%ld", (int)getpid(), (long)time(NULL) % 100000);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    /* build/tests/it_workers -> build/bin (build/asan/... alike). */
    snprintf(bin_dir, sizeof bin_dir, "%s/../bin", dirname(exe));
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", itest_env("SAGA_KAFKA_BROKERS"), errstr,
                      sizeof errstr);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof errstr);
    if (!producer)
        return -1;
    db = itest_pg();
    /* Several workers of one binary run in turn: no fixed HTTP port. */
    setenv("SAGA_HTTP_LISTEN", "off", 1);
    /* The schemas exist before the first direct query. */
    const char *mig[] = {"migrate", NULL};
    if (run_cli("inventory-worker", mig) != 0 || run_cli("payment-worker", mig) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rd_kafka_destroy(producer);
    PQfinish(db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_inventory_barrier_and_replay, kill_workers),
        cmocka_unit_test_teardown(test_payment_rules, kill_workers),
        cmocka_unit_test_teardown(test_crash_after_commit, kill_workers),
        cmocka_unit_test_teardown(test_poison_is_dead_lettered, kill_workers),
        cmocka_unit_test_teardown(test_failing_handler_is_isolated, kill_workers),
        cmocka_unit_test_teardown(test_reconnects_to_postgres, kill_workers),
        cmocka_unit_test_teardown(test_faults_retry_and_ignore, kill_workers),
        cmocka_unit_test_teardown(test_health_and_metrics, kill_workers),
        cmocka_unit_test_teardown(test_check_detects_corruption, kill_workers),
        cmocka_unit_test(test_barrier_migration),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
