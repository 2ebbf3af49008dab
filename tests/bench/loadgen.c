/*
 * loadgen.c - the open-loop load generator: starts order_checkout sagas
 * through Kafka (saga.start) at a fixed rate, whatever happens to them, and
 * afterwards reads from PostgreSQL when each one finished.
 *
 * Open loop is the point. A generator that waits for completions before
 * sending more slows down with the system and hides its latency (coordinated
 * omission); this one schedules send i at t0 + i/rate and measures each
 * saga's latency from that intended time, so falling behind shows up as
 * latency, and its own lag is reported so it can be ruled out. Latency ends
 * at sagas.finished_at, which sagad sets to now() of the transaction that
 * decided the terminal status (its start, a little before COMMIT); --single
 * also polls the saga until its committed status is visible, which bounds
 * that error for the light-load figure. It polls every 2 ms, not faster:
 * each poll is a query, and at every 0.5 ms their CPU on a 2-core box made
 * the saga itself 2-3 ms slower (single p50 19.9 -> 16.3 and 17.4 -> 15.6
 * ms with 0.5 and 5 ms polls, interleaved).
 *
 * A monitor thread samples, once a second, how many of the run's sagas are
 * created and finished (by idempotency-key range, an index range scan) and
 * the CPU and RSS of the processes given with --watch, so a run shows
 * whether the backlog grows and whether memory does.
 *
 * Modes: default open loop (--rate R --duration S, or --count N; rate 0 is
 * as fast as possible), --no-wait (send only), --via-db (create --count
 * sagas with saga_start(), 500 per transaction, without Kafka: a backlog
 * for a sagad that is not running), --wait-only (wait for --count sagas of
 * --prefix, e.g. after a restart), --single N (one saga at a time on an
 * idle system). One JSON object goes to stdout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "bench.h"
#include "saga.pb-c.h"
#include "start.h"
#include "topics.h"

#define MAX_WATCH 8
#define MAX_SERIES 7200

typedef enum mode { MODE_OPEN, MODE_NO_WAIT, MODE_WAIT_ONLY, MODE_SINGLE, MODE_VIA_DB } mode;

typedef struct opts {
    mode mode;
    const char *brokers, *dsn, *prefix, *sku_prefix, *account_prefix, *def_name;
    double rate;
    double duration;
    long count;
    int skus;
    int version;
    int single_gap_ms;
    int single_poll_us;
    double drain_timeout;
    int64_t since_us; /* --wait-only: time the drain is measured from */
    bench_proc watch[MAX_WATCH];
    int n_watch;
} opts;

typedef struct sample {
    double t;      /* seconds since the first send */
    long sent, created, done;
    long rss_kb[MAX_WATCH];
    double cpu_s[MAX_WATCH];
} sample;

typedef struct run {
    opts *o;           /* its watch[] entries are updated as the run goes */
    rd_kafka_t *producer;
    int64_t *intended_us;  /* wall clock of each send's schedule */
    atomic_long sent;
    atomic_long delivery_failed;
    atomic_bool stop_monitor;
    int64_t t0_us;         /* wall clock of the first send */
    sample *series;
    size_t n_series;
    long last_done, last_created;
    char lo[256], hi[256]; /* idempotency-key range of the run */
} run;

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --prefix P [--rate R --duration S | --count N] [options]\n"
            "  --rate R            sagas per second, 0 = as fast as possible (default 100)\n"
            "  --duration S        seconds of sending (default 10)\n"
            "  --count N           sagas to send (instead of --duration)\n"
            "  --skus K            spread orders over K SKUs and K accounts (default 1000)\n"
            "  --sku-prefix X      SKU names X-0..X-(K-1) (default: the --prefix)\n"
            "  --account-prefix X  account names (default: the --prefix)\n"
            "  --version V         definition version in StartSaga, 0 = latest (default 0)\n"
            "  --watch NAME=PID    report CPU and RSS of a process (repeatable)\n"
            "  --drain-timeout S   longest wait for the last saga to finish (default 120)\n"
            "  --no-wait           send only\n"
            "  --via-db            create --count sagas with saga_start(), no Kafka\n"
            "  --wait-only         only wait for --count sagas of --prefix to finish\n"
            "  --since-us T        --wait-only: measure the drain from wall-clock T (us)\n"
            "  --single N          N sagas one at a time, --gap-ms apart (default 200)\n"
            "  --poll-us US        with --single: how often the saga's row is read (default 2000)\n"
            "  --brokers B, --pg-dsn DSN (default SAGA_KAFKA_BROKERS, SAGA_PG_DSN)\n");
    exit(2);
}

static void parse(opts *o, int argc, char **argv)
{
    o->brokers = getenv("SAGA_KAFKA_BROKERS");
    o->dsn = getenv("SAGA_PG_DSN");
    o->def_name = "order_checkout";
    o->rate = 100;
    o->duration = 10;
    o->skus = 1000;
    o->single_gap_ms = 200;
    o->single_poll_us = 2000;
    o->drain_timeout = 120;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--prefix") == 0)
            o->prefix = bench_arg(argc, argv, &i);
        else if (strcmp(a, "--rate") == 0)
            o->rate = atof(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--duration") == 0)
            o->duration = atof(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--count") == 0)
            o->count = atol(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--skus") == 0)
            o->skus = atoi(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--sku-prefix") == 0)
            o->sku_prefix = bench_arg(argc, argv, &i);
        else if (strcmp(a, "--account-prefix") == 0)
            o->account_prefix = bench_arg(argc, argv, &i);
        else if (strcmp(a, "--version") == 0)
            o->version = atoi(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--drain-timeout") == 0)
            o->drain_timeout = atof(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--since-us") == 0)
            o->since_us = atoll(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--gap-ms") == 0)
            o->single_gap_ms = atoi(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--poll-us") == 0)
            o->single_poll_us = atoi(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--brokers") == 0)
            o->brokers = bench_arg(argc, argv, &i);
        else if (strcmp(a, "--pg-dsn") == 0)
            o->dsn = bench_arg(argc, argv, &i);
        else if (strcmp(a, "--no-wait") == 0)
            o->mode = MODE_NO_WAIT;
        else if (strcmp(a, "--wait-only") == 0)
            o->mode = MODE_WAIT_ONLY;
        else if (strcmp(a, "--via-db") == 0)
            o->mode = MODE_VIA_DB;
        else if (strcmp(a, "--single") == 0) {
            o->mode = MODE_SINGLE;
            o->count = atol(bench_arg(argc, argv, &i));
        } else if (strcmp(a, "--watch") == 0) {
            if (o->n_watch == MAX_WATCH ||
                bench_proc_parse(&o->watch[o->n_watch++], bench_arg(argc, argv, &i)))
                usage();
        } else {
            usage();
        }
    }
    bool kafka = o->mode != MODE_WAIT_ONLY && o->mode != MODE_VIA_DB;
    if (!o->prefix || !*o->prefix || !o->dsn || (kafka && !o->brokers) ||
        o->rate < 0 || o->skus < 1)
        usage();
    if (!o->sku_prefix)
        o->sku_prefix = o->prefix;
    if (!o->account_prefix)
        o->account_prefix = o->prefix;
    if (o->count <= 0 && o->mode != MODE_SINGLE)
        o->count = (long)(o->rate * o->duration + 0.5);
    if (o->count <= 0)
        usage();
}

/* --- sending ------------------------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    run *r = opaque;
    if (m->err) {
        if (atomic_fetch_add(&r->delivery_failed, 1) == 0)
            fprintf(stderr, "loadgen: delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
}

static rd_kafka_t *producer_new(run *r)
{
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    /* A client in a hurry: nothing waits for company, nothing is lost. */
    static const char *kv[][2] = {{"linger.ms", "0"}, {"acks", "all"},
                                  {"enable.idempotence", "true"},
                                  {"socket.nagle.disable", "true"},
                                  {"queue.buffering.max.messages", "1000000"}};
    if (rd_kafka_conf_set(c, "bootstrap.servers", r->o->brokers, errstr, sizeof errstr)) {
        fprintf(stderr, "loadgen: %s\n", errstr);
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        rd_kafka_conf_set(c, kv[i][0], kv[i][1], errstr, sizeof errstr);
    rd_kafka_conf_set_opaque(c, r);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof errstr);
    if (!p)
        fprintf(stderr, "loadgen: producer: %s\n", errstr);
    return p;
}

/* Readies the producer before anything is timed: the first produce waits
 * for the broker's metadata and the idempotent producer's id, hundreds of
 * milliseconds that belong to the generator, not to the sagas. A message to
 * a topic of its own, flushed, proves both are there. */
static int producer_ready(run *r)
{
    saga_topic_spec t = {"bench.warmup", 1, -1};
    saga_error err;
    if (saga_topics_ensure(r->producer, &t, 1, 10000, &err)) {
        fprintf(stderr, "loadgen: %s\n", err.msg);
        return -1;
    }
    rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC("bench.warmup"), RD_KAFKA_V_VALUE("w", 1),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *start = rd_kafka_topic_new(r->producer, "saga.start", NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(r->producer, 0, start, &md, 10000);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(start);
    if (e || rd_kafka_flush(r->producer, 10000) || atomic_load(&r->delivery_failed)) {
        fprintf(stderr, "loadgen: the producer did not get ready: %s\n", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static void key_of(const opts *o, long i, char *buf, size_t len)
{
    snprintf(buf, len, "%s-%09ld", o->prefix, i);
}

/* The input of order i: one unit of SKU i mod K, 1.00 from account i mod K. */
static int input_of(const opts *o, long i, const char *key, char *buf, size_t len)
{
    long k = i % o->skus;
    return snprintf(buf, len,
                    "{\"order_id\":\"%s\",\"sku\":\"%s-%ld\",\"qty\":1,"
                    "\"account\":\"%s-%ld\",\"amount\":100}",
                    key, o->sku_prefix, k, o->account_prefix, k);
}

/* Produces StartSaga number i. 0, or -1 when the producer refused it. */
static int send_one(run *r, long i)
{
    const opts *o = r->o;
    char key[256], input[768];
    key_of(o, i, key, sizeof key);
    int len = input_of(o, i, key, input, sizeof input);
    Saga__StartSaga s = SAGA__START_SAGA__INIT;
    s.name = (char *)o->def_name;
    s.version = o->version;
    s.input.data = (uint8_t *)input;
    s.input.len = (size_t)len;
    s.idempotency_key = key;
    uint8_t buf[1024];
    size_t n = saga__start_saga__get_packed_size(&s);
    if (n > sizeof buf)
        return -1;
    saga__start_saga__pack(&s, buf);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            r->producer, RD_KAFKA_V_TOPIC("saga.start"), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(buf, n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!e)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "loadgen: produce: %s\n", rd_kafka_err2str(e));
            return -1;
        }
        rd_kafka_poll(r->producer, 10);
    }
}

/* Sends every saga on schedule; records the send lag (actual - intended). */
static int send_all(run *r, double *lag_max_ms, double *lag_p99_ms)
{
    const opts *o = r->o;
    double *lag = calloc((size_t)o->count, sizeof *lag);
    if (!lag)
        return -1;
    int64_t start_mono = bench_mono_us();
    int rc = 0;
    for (long i = 0; i < o->count && rc == 0; i++) {
        int64_t due = o->rate > 0 ? start_mono + (int64_t)((double)i * 1e6 / o->rate) : 0;
        int64_t now = bench_mono_us();
        if (due > now) {
            rd_kafka_poll(r->producer, 0);
            bench_sleep_us(due - now);
            now = bench_mono_us();
        }
        if (o->rate <= 0)
            due = now;
        /* The schedule runs on the monotonic clock, finished_at on the
         * wall clock; converting with the offset of this moment keeps a
         * slewing wall clock (0.5 % seen here after a host's clock was
         * corrected) from adding latency that grows through the run. */
        r->intended_us[i] = due + (bench_wall_us() - bench_mono_us());
        rc = send_one(r, i);
        lag[i] = (double)(bench_mono_us() - due) / 1000.0;
        atomic_store(&r->sent, i + 1);
        if ((i & 63) == 0)
            rd_kafka_poll(r->producer, 0);
    }
    rd_kafka_flush(r->producer, 30000);
    bench_sort(lag, (size_t)atomic_load(&r->sent));
    size_t n = (size_t)atomic_load(&r->sent);
    *lag_max_ms = n ? lag[n - 1] : 0;
    *lag_p99_ms = bench_pct(lag, n, 99);
    free(lag);
    return rc;
}

/* --- watching ------------------------------------------------------------ */

/* Created and finished sagas of the run's key range. */
static int count_progress(PGconn *c, const run *r, long *created, long *done)
{
    const char *p[2] = {r->lo, r->hi};
    PGresult *res = PQexecParams(
        c,
        "SELECT count(*), count(*) FILTER (WHERE status IN ('COMPLETED', 'COMPENSATED'))"
        " FROM sagas WHERE idempotency_key >= $1 AND idempotency_key < $2",
        2, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (ok) {
        *created = atol(PQgetvalue(res, 0, 0));
        *done = atol(PQgetvalue(res, 0, 1));
    } else {
        fprintf(stderr, "loadgen: progress query: %s", PQerrorMessage(c));
    }
    PQclear(res);
    return ok ? 0 : -1;
}

static void take_sample(run *r, PGconn *c)
{
    long created = r->last_created, done = r->last_done;
    if (c)
        count_progress(c, r, &created, &done);
    r->last_created = created;
    r->last_done = done;
    if (r->n_series == MAX_SERIES)
        return;
    sample *s = &r->series[r->n_series++];
    s->t = (double)(bench_wall_us() - r->t0_us) / 1e6;
    s->sent = atomic_load(&r->sent);
    s->created = created;
    s->done = done;
    for (int i = 0; i < r->o->n_watch; i++) {
        bench_proc *p = &r->o->watch[i];
        bench_proc_sample(p);
        s->rss_kb[i] = p->rss_kb;
        s->cpu_s[i] = bench_proc_cpu(p->pid);
    }
}

static void *monitor(void *arg)
{
    run *r = arg;
    PGconn *c = PQconnectdb(r->o->dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "loadgen: monitor: %s", PQerrorMessage(c));
        PQfinish(c);
        c = NULL;
    }
    int64_t next = bench_mono_us();
    while (!atomic_load(&r->stop_monitor)) {
        next += 1000000;
        take_sample(r, c);
        const sample *s = &r->series[r->n_series ? r->n_series - 1 : 0];
        fprintf(stderr, "loadgen: %6.1fs sent %ld created %ld finished %ld backlog %ld\n", s->t,
                s->sent, s->created, s->done, s->sent - s->done);
        while (!atomic_load(&r->stop_monitor) && bench_mono_us() < next)
            bench_sleep_us(20000);
    }
    PQfinish(c);
    return NULL;
}

/* Waits until `want` sagas of the run finished, or the deadline. */
static long wait_done(run *r, PGconn *c, long want, double timeout_s)
{
    int64_t deadline = bench_mono_us() + (int64_t)(timeout_s * 1e6);
    long created = 0, done = 0;
    while (bench_mono_us() < deadline) {
        if (count_progress(c, r, &created, &done) == 0 && done >= want)
            return done;
        bench_sleep_us(100000);
    }
    return done;
}

/* --- results ---------------------------------------------------------------- */

typedef struct outcome {
    long completed, compensated, unfinished;
    double *lat_ms;          /* per finished saga, by send order */
    size_t n_lat;
    long in_window;          /* finished before the last send */
    int64_t first_finish_us, last_finish_us;
    double q1_p50, q4_p50;   /* median latency of the first and last quarter */
} outcome;

static double median_of(const double *v, size_t n)
{
    double *c = malloc((n ? n : 1) * sizeof *c);
    if (!c)
        return 0;
    memcpy(c, v, n * sizeof *c);
    bench_sort(c, n);
    double m = bench_pct(c, n, 50);
    free(c);
    return m;
}

static int collect(run *r, PGconn *c, int64_t send_end_us, outcome *out)
{
    const opts *o = r->o;
    memset(out, 0, sizeof *out);
    const char *p[2] = {r->lo, r->hi};
    PGresult *res = PQexecParams(
        c,
        "SELECT idempotency_key, status,"
        " coalesce((extract(epoch FROM finished_at) * 1000000)::bigint, 0)"
        " FROM sagas WHERE idempotency_key >= $1 AND idempotency_key < $2",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "loadgen: collect: %s", PQerrorMessage(c));
        PQclear(res);
        return -1;
    }
    int n = PQntuples(res);
    double *by_index = malloc((size_t)o->count * sizeof *by_index);
    out->lat_ms = malloc((size_t)o->count * sizeof *out->lat_ms);
    if (!by_index || !out->lat_ms) {
        free(by_index);
        PQclear(res);
        return -1;
    }
    for (long i = 0; i < o->count; i++)
        by_index[i] = -1;
    size_t plen = strlen(o->prefix) + 1;
    for (int i = 0; i < n; i++) {
        const char *key = PQgetvalue(res, i, 0);
        const char *st = PQgetvalue(res, i, 1);
        int64_t fin = atoll(PQgetvalue(res, i, 2));
        long idx = strlen(key) > plen ? atol(key + plen) : -1;
        if (idx < 0 || idx >= o->count || fin == 0)
            continue;
        if (strcmp(st, "COMPLETED") == 0)
            out->completed++;
        else
            out->compensated++;
        if (r->intended_us)
            by_index[idx] = (double)(fin - r->intended_us[idx]) / 1000.0;
        if (fin <= send_end_us)
            out->in_window++;
        if (!out->first_finish_us || fin < out->first_finish_us)
            out->first_finish_us = fin;
        if (fin > out->last_finish_us)
            out->last_finish_us = fin;
    }
    PQclear(res);
    out->unfinished = o->count - out->completed - out->compensated;
    for (long i = 0; i < o->count; i++)
        if (by_index[i] >= 0)
            out->lat_ms[out->n_lat++] = by_index[i];
    size_t q = out->n_lat / 4;
    if (q > 0) {
        out->q1_p50 = median_of(out->lat_ms, q);
        out->q4_p50 = median_of(out->lat_ms + out->n_lat - q, q);
    }
    bench_sort(out->lat_ms, out->n_lat);
    free(by_index);
    return 0;
}

static void print_procs(const opts *o, long sagas)
{
    printf(", \"procs\": {");
    for (int i = 0; i < o->n_watch; i++) {
        if (i)
            printf(", ");
        bench_proc_print(stdout, &o->watch[i], sagas);
    }
    printf("}");
}

static void print_series(const run *r)
{
    printf(", \"series\": [");
    for (size_t i = 0; i < r->n_series; i++) {
        const sample *s = &r->series[i];
        printf("%s{\"t\": %.1f, \"sent\": %ld, \"created\": %ld, \"finished\": %ld", i ? ", " : "",
               s->t, s->sent, s->created, s->done);
        for (int k = 0; k < r->o->n_watch; k++)
            printf(", \"%s_rss_kb\": %ld, \"%s_cpu_s\": %.2f", r->o->watch[k].name, s->rss_kb[k],
                   r->o->watch[k].name, s->cpu_s[k]);
        printf("}");
    }
    printf("]");
}

/* --- modes ------------------------------------------------------------------- */

static int open_loop(run *r, PGconn *c)
{
    opts *o = r->o;
    for (int i = 0; i < o->n_watch; i++)
        bench_proc_begin(&o->watch[i]);
    pthread_t mon;
    r->t0_us = bench_wall_us();
    int64_t t0_mono = bench_mono_us();
    pthread_create(&mon, NULL, monitor, r);
    double lag_max = 0, lag_p99 = 0;
    int rc = send_all(r, &lag_max, &lag_p99);
    int64_t send_end_us = bench_wall_us();
    /* How fast the wall clock ran against the monotonic one: latencies
     * of a run whose clock was being corrected are suspect. */
    int64_t mono_s = bench_mono_us() - t0_mono;
    double slew_ppm = mono_s > 0 ? (double)(send_end_us - r->t0_us - mono_s) * 1e6 / (double)mono_s
                                 : 0;
    double send_s = (double)(send_end_us - r->t0_us) / 1e6;
    long backlog_end = atomic_load(&r->sent) - r->last_done;
    if (rc == 0 && o->mode == MODE_OPEN)
        wait_done(r, c, o->count, o->drain_timeout);
    int64_t wait_end_us = bench_wall_us();
    atomic_store(&r->stop_monitor, true);
    pthread_join(mon, NULL);
    for (int i = 0; i < o->n_watch; i++)
        bench_proc_end(&o->watch[i]);

    printf("{\"prefix\": \"%s\", \"rate\": %.1f, \"count\": %ld, \"sent\": %ld, "
           "\"send_s\": %.3f, \"send_lag_ms\": {\"p99\": %.3f, \"max\": %.3f}, "
           "\"delivery_failed\": %ld, \"clock_slew_ppm\": %.0f",
           o->prefix, o->rate, o->count, atomic_load(&r->sent), send_s, lag_p99, lag_max,
           atomic_load(&r->delivery_failed), slew_ppm);
    if (o->mode == MODE_NO_WAIT) {
        printf("}\n");
        return rc;
    }
    outcome out;
    if (collect(r, c, send_end_us, &out))
        return -1;
    double span_s = out.last_finish_us > r->t0_us
                        ? (double)(out.last_finish_us - r->t0_us) / 1e6 : 0;
    printf(", \"completed\": %ld, \"compensated\": %ld, \"unfinished\": %ld, "
           "\"backlog_at_send_end\": %ld, "
           "\"throughput_in_window\": %.1f, \"throughput_overall\": %.1f, "
           "\"drain_after_send_s\": %.3f, \"waited_s\": %.3f, "
           "\"latency_q1_p50_ms\": %.3f, \"latency_q4_p50_ms\": %.3f, \"latency_ms\": ",
           out.completed, out.compensated, out.unfinished, backlog_end,
           send_s > 0 ? (double)out.in_window / send_s : 0,
           span_s > 0 ? (double)(out.completed + out.compensated) / span_s : 0,
           out.last_finish_us > send_end_us ? (double)(out.last_finish_us - send_end_us) / 1e6 : 0,
           (double)(wait_end_us - send_end_us) / 1e6, out.q1_p50, out.q4_p50);
    bench_print_pcts(stdout, out.lat_ms, out.n_lat);
    print_procs(o, out.completed + out.compensated);
    print_series(r);
    printf("}\n");
    free(out.lat_ms);
    return rc || out.unfinished ? 1 : 0;
}

static int wait_only(run *r, PGconn *c)
{
    opts *o = r->o;
    int64_t since = o->since_us ? o->since_us : bench_wall_us();
    r->t0_us = since;
    for (int i = 0; i < o->n_watch; i++)
        bench_proc_begin(&o->watch[i]);
    pthread_t mon;
    pthread_create(&mon, NULL, monitor, r);
    long done = wait_done(r, c, o->count, o->drain_timeout);
    int64_t seen_us = bench_wall_us();
    atomic_store(&r->stop_monitor, true);
    pthread_join(mon, NULL);
    for (int i = 0; i < o->n_watch; i++)
        bench_proc_end(&o->watch[i]);
    outcome out;
    if (collect(r, c, seen_us, &out))
        return -1;
    printf("{\"prefix\": \"%s\", \"count\": %ld, \"finished\": %ld, \"completed\": %ld, "
           "\"compensated\": %ld, \"drain_s\": %.3f, \"observed_s\": %.3f, "
           "\"first_finish_s\": %.3f",
           o->prefix, o->count, done, out.completed, out.compensated,
           out.last_finish_us > since ? (double)(out.last_finish_us - since) / 1e6 : -1,
           (double)(seen_us - since) / 1e6,
           out.first_finish_us > since ? (double)(out.first_finish_us - since) / 1e6 : -1);
    print_procs(o, out.completed + out.compensated);
    print_series(r);
    printf("}\n");
    free(out.lat_ms);
    return done >= o->count ? 0 : 1;
}

/* One saga at a time: send, poll its row every --poll-us until it is terminal. */
static int single(run *r, PGconn *c)
{
    const opts *o = r->o;
    double *seen = calloc((size_t)o->count, sizeof *seen);
    double *fin = calloc((size_t)o->count, sizeof *fin);
    size_t n = 0;
    int rc = 0;
    for (long i = 0; i < o->count && rc == 0; i++) {
        bench_sleep_us((int64_t)o->single_gap_ms * 1000);
        char key[256];
        key_of(o, i, key, sizeof key);
        int64_t t0 = bench_wall_us();
        r->intended_us[i] = t0;
        if (send_one(r, i)) {
            rc = 1;
            break;
        }
        rd_kafka_poll(r->producer, 0);
        const char *p[1] = {key};
        bool finished = false;
        while (!finished && bench_wall_us() - t0 < 30000000) {
            bench_sleep_us(o->single_poll_us);
            rd_kafka_poll(r->producer, 0);
            PGresult *res = PQexecParams(
                c,
                "SELECT (extract(epoch FROM finished_at) * 1000000)::bigint FROM sagas"
                " WHERE idempotency_key = $1 AND finished_at IS NOT NULL",
                1, NULL, p, NULL, NULL, 0);
            if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
                int64_t now = bench_wall_us();
                seen[n] = (double)(now - t0) / 1000.0;
                fin[n] = (double)(atoll(PQgetvalue(res, 0, 0)) - t0) / 1000.0;
                n++;
                finished = true;
            }
            PQclear(res);
        }
        if (!finished) {
            fprintf(stderr, "loadgen: saga %s did not finish within 30 s\n", key);
            rc = 1;
        }
    }
    bench_sort(seen, n);
    bench_sort(fin, n);
    printf("{\"prefix\": \"%s\", \"count\": %ld, \"finished\": %zu, \"latency_ms\": ", o->prefix,
           o->count, n);
    bench_print_pcts(stdout, fin, n);
    printf(", \"observed_latency_ms\": ");
    bench_print_pcts(stdout, seen, n);
    printf("}\n");
    free(seen);
    free(fin);
    return rc;
}

/* Creates every saga with saga_start(), 500 per transaction. */
static int via_db(run *r, PGconn *c)
{
    const opts *o = r->o;
    int64_t t0 = bench_mono_us();
    saga_error err;
    int rc = 0;
    for (long i = 0; i < o->count && rc == 0; i++) {
        if (i % 500 == 0)
            PQclear(PQexec(c, "BEGIN"));
        char key[256], input[768];
        key_of(o, i, key, sizeof key);
        input_of(o, i, key, input, sizeof input);
        saga_start_req req = {.name = o->def_name, .version = o->version,
                              .input_json = input, .idempotency_key = key};
        saga_start_result res;
        rc = saga_start(c, &req, &res, &err);
        if (rc)
            fprintf(stderr, "loadgen: saga_start: %s\n", err.msg);
        if (rc == 0 && (i % 500 == 499 || i == o->count - 1)) {
            PGresult *x = PQexec(c, "COMMIT");
            rc = PQresultStatus(x) == PGRES_COMMAND_OK ? 0 : -1;
            PQclear(x);
        }
    }
    printf("{\"prefix\": \"%s\", \"count\": %ld, \"created_s\": %.3f, \"ok\": %s}\n", o->prefix,
           o->count, (double)(bench_mono_us() - t0) / 1e6, rc ? "false" : "true");
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    opts o = {0};
    parse(&o, argc, argv);
    run r = {.o = &o};
    atomic_init(&r.sent, 0);
    atomic_init(&r.delivery_failed, 0);
    atomic_init(&r.stop_monitor, false);
    snprintf(r.lo, sizeof r.lo, "%s-", o.prefix);
    snprintf(r.hi, sizeof r.hi, "%s.", o.prefix);
    PGconn *c = PQconnectdb(o.dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "loadgen: %s", PQerrorMessage(c));
        PQfinish(c);
        return 2;
    }
    r.series = calloc(MAX_SERIES, sizeof *r.series);
    bool kafka = o.mode != MODE_WAIT_ONLY && o.mode != MODE_VIA_DB;
    if (kafka) {
        r.intended_us = calloc((size_t)o.count, sizeof *r.intended_us);
        r.producer = producer_new(&r);
    }
    int rc;
    if (!r.series || (kafka && (!r.intended_us || !r.producer || producer_ready(&r))))
        rc = 2;
    else if (o.mode == MODE_VIA_DB)
        rc = via_db(&r, c);
    else if (o.mode == MODE_WAIT_ONLY)
        rc = wait_only(&r, c);
    else if (o.mode == MODE_SINGLE)
        rc = single(&r, c);
    else
        rc = open_loop(&r, c);
    if (r.producer) {
        rd_kafka_flush(r.producer, 10000);
        rd_kafka_destroy(r.producer);
    }
    PQfinish(c);
    free(r.intended_us);
    free(r.series);
    return rc;
}
