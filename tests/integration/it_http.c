/*
 * it_http.c - the operations endpoint over real TCP: a server on an
 * ephemeral 127.0.0.1 port, scraped by a plain socket client (no HTTP
 * library, so the test sees the bytes a Prometheus server or a kubelet
 * would). Covers /healthz (heartbeat going stale and recovering, custom
 * check), /readyz, /metrics (parsed line by line as Prometheus text, values
 * checked, collect hook called), 404/405/HEAD, "off", and start-up errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>

#include "http.h"
#include "itest.h"
#include "log.h"
#include "metrics.h"

/* --- a minimal HTTP/1.1 client ------------------------------------------- */

typedef struct reply {
    int status;
    char headers[2048];
    char *body; /* owned */
    size_t body_len;
} reply;

static void reply_free(reply *r)
{
    free(r->body);
    r->body = NULL;
}

/* Sends one request with Connection: close and reads to EOF (5 s limit). */
static int http_request(int port, const char *method, const char *path, reply *r)
{
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                     method, path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1024 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t got = read(fd, buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    snprintf(r->headers, sizeof r->headers, "%.*s", (int)(end - buf), buf);
    r->body_len = len - (size_t)(end + 4 - buf);
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, end + 4, r->body_len + 1);
    free(buf);
    return 0;
}

static const char *header(const reply *r, const char *name)
{
    static char value[256];
    const char *p = r->headers;
    size_t n = strlen(name);
    while ((p = strstr(p, "\r\n"))) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(value, sizeof value, "%.*s", (int)strcspn(v, "\r"), v);
            return value;
        }
    }
    return NULL;
}

/* --- parsing the Prometheus text format ---------------------------------- */

typedef struct sample {
    char series[256]; /* name{labels} exactly as written */
    double value;
} sample;

#define SCRAPE_MAX 2048

typedef struct scrape {
    sample s[SCRAPE_MAX];
    size_t n;
    char typed[64][128];
    size_t ntyped;
} scrape;

static bool typed(const scrape *sc, const char *series)
{
    size_t n = strcspn(series, "{");
    for (size_t i = 0; i < sc->ntyped; i++) {
        size_t t = strlen(sc->typed[i]);
        if (n >= t && strncmp(series, sc->typed[i], t) == 0 &&
            (n == t || (n - t == 7 && strncmp(series + t, "_bucket", 7) == 0) ||
             (n - t == 4 && strncmp(series + t, "_sum", 4) == 0) ||
             (n - t == 6 && strncmp(series + t, "_count", 6) == 0)))
            return true;
    }
    return false;
}

/* Parses text into sc; fails the test on any malformed line. */
static void parse_scrape(const char *text, scrape *sc)
{
    memset(sc, 0, sizeof *sc);
    assert_true(*text && text[strlen(text) - 1] == '\n');
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
        p = nl + 1;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[128], type[32];
            if (sscanf(line + 7, "%127s %31s", name, type) != 2)
                fail_msg("bad TYPE line: %s", line);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            snprintf(sc->typed[sc->ntyped++], 128, "%s", name);
            continue;
        }
        if (line[0] == '#')
            continue;
        /* name{label="value",...} value */
        const char *q = line;
        if (!(isalpha((unsigned char)*q) || *q == '_' || *q == ':'))
            fail_msg("bad metric name: %s", line);
        while (isalnum((unsigned char)*q) || *q == '_' || *q == ':')
            q++;
        if (*q == '{') {
            for (q++; *q != '}';) {
                while (isalnum((unsigned char)*q) || *q == '_')
                    q++;
                if (q[0] != '=' || q[1] != '"')
                    fail_msg("bad label in: %s", line);
                for (q += 2; *q != '"'; q++) {
                    if (!*q)
                        fail_msg("unterminated label value: %s", line);
                    if (*q == '\\' && !strchr("\\\"n", *++q))
                        fail_msg("bad escape: %s", line);
                }
                q++;
                if (*q == ',')
                    q++;
                else if (*q != '}')
                    fail_msg("bad label list: %s", line);
            }
            q++;
        }
        if (*q != ' ')
            fail_msg("no value: %s", line);
        if (sc->n == SCRAPE_MAX)
            fail_msg("more than %d samples", SCRAPE_MAX);
        sample *s = &sc->s[sc->n++];
        snprintf(s->series, sizeof s->series, "%.*s", (int)(q - line), line);
        char *end;
        s->value = strcmp(q + 1, "+Inf") == 0 ? INFINITY : strtod(q + 1, &end);
        if (strcmp(q + 1, "+Inf") != 0 && *end)
            fail_msg("bad value: %s", line);
        if (!typed(sc, s->series))
            fail_msg("sample before its # TYPE: %s", line);
    }
}

static double value_of(const scrape *sc, const char *series)
{
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->s[i].series, series) == 0)
            return sc->s[i].value;
    fail_msg("no series %s in the scrape", series);
    return NAN;
}

/* --- the program under test --------------------------------------------- */

typedef struct program {
    bool ready;
    int collects;
    saga_metrics *m;
    saga_metrics_family *started, *outbox, *step;
} program;

static bool ready(void *user, char *why, size_t len)
{
    program *p = user;
    if (__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE))
        return true;
    snprintf(why, len, "kafka consumer has no partitions assigned");
    return false;
}

static void collect(void *user)
{
    program *p = user;
    p->collects++;
    saga_metrics_set(p->outbox, NULL, 40 + p->collects);
}

static void program_init(program *p)
{
    memset(p, 0, sizeof *p);
    p->m = saga_metrics_new(0);
    p->started = saga_metrics_counter(p->m, "saga_started_total", "Sagas started.",
                                      "definition");
    p->outbox = saga_metrics_gauge(p->m, "saga_outbox_pending", "Outbox rows not yet sent.",
                                   NULL);
    const double b[] = {0.01, 0.1, 1};
    p->step = saga_metrics_histogram(p->m, "saga_step_duration_seconds", "Step time.",
                                     "definition,step,action", b, 3);
}

typedef struct probe {
    int port;
    const char *path;
    int want;
} probe;

static bool status_is(void *arg)
{
    probe *pr = arg;
    reply r;
    bool ok = http_request(pr->port, "GET", pr->path, &r) == 0 && r.status == pr->want;
    reply_free(&r);
    return ok;
}

/* --- tests --------------------------------------------------------------- */

static void test_health_ready_metrics(void **state)
{
    (void)state;
    program p;
    program_init(&p);
    saga_http_handlers h = {.ready = ready, .collect = collect, .metrics = p.m,
                            .liveness_ms = 1000};
    saga_error err;
    saga_http *s = saga_http_start("127.0.0.1:0", &h, &p, &err);
    if (!s)
        fail_msg("start: %s", err.msg);
    int port = saga_http_port(s);
    assert_true(port > 0);

    reply r;
    saga_http_beat(s);
    assert_int_equal(http_request(port, "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    reply_free(&r);

    assert_int_equal(http_request(port, "GET", "/readyz", &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready: kafka consumer has no partitions assigned\n");
    reply_free(&r);
    __atomic_store_n(&p.ready, true, __ATOMIC_RELEASE);
    assert_int_equal(http_request(port, "GET", "/readyz", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    reply_free(&r);

    /* the main loop stops beating: /healthz turns 503 by itself ... */
    probe stale = {port, "/healthz", 503};
    assert_true(itest_wait(status_is, &stale, 5000));
    assert_int_equal(http_request(port, "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "unhealthy: main loop has not turned for "));
    assert_non_null(strstr(r.body, "(limit 1000 ms)\n"));
    reply_free(&r);
    /* ... and one beat brings it back */
    saga_http_beat(s);
    assert_int_equal(http_request(port, "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);

    saga_metrics_inc(p.started, (const char *[]){"order_checkout"}, 3);
    saga_metrics_inc(p.started, (const char *[]){"re\"fund\\\n"}, 1);
    const char *lv[] = {"order_checkout", "reserve_inventory", "RESERVE"};
    saga_metrics_observe(p.step, lv, 0.005);
    saga_metrics_observe(p.step, lv, 0.5);
    saga_metrics_observe(p.step, lv, 7);

    assert_int_equal(http_request(port, "GET", "/metrics?debug=1", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    assert_int_equal(r.body_len, strlen(r.body));
    scrape *sc = malloc(sizeof *sc);
    parse_scrape(r.body, sc);
    assert_int_equal(p.collects, 1);
    assert_true(value_of(sc, "saga_outbox_pending") == 41);
    assert_true(value_of(sc, "saga_started_total{definition=\"order_checkout\"}") == 3);
    assert_true(value_of(sc, "saga_started_total{definition=\"re\\\"fund\\\\\\n\"}") == 1);
#define STEP "definition=\"order_checkout\",step=\"reserve_inventory\",action=\"RESERVE\""
    assert_true(value_of(sc, "saga_step_duration_seconds_bucket{" STEP ",le=\"0.01\"}") == 1);
    assert_true(value_of(sc, "saga_step_duration_seconds_bucket{" STEP ",le=\"0.1\"}") == 1);
    assert_true(value_of(sc, "saga_step_duration_seconds_bucket{" STEP ",le=\"1\"}") == 2);
    assert_true(value_of(sc, "saga_step_duration_seconds_bucket{" STEP ",le=\"+Inf\"}") == 3);
    assert_true(value_of(sc, "saga_step_duration_seconds_count{" STEP "}") == 3);
    assert_true(fabs(value_of(sc, "saga_step_duration_seconds_sum{" STEP "}") - 7.505) < 1e-9);
    assert_non_null(strstr(r.body, "# HELP saga_outbox_pending Outbox rows not yet sent.\n"));
    reply_free(&r);

    /* a second scrape sees the gauge the hook refreshed */
    assert_int_equal(http_request(port, "GET", "/metrics", &r), 0);
    parse_scrape(r.body, sc);
    assert_true(value_of(sc, "saga_outbox_pending") == 42);
    reply_free(&r);
    free(sc);

    saga_http_stop(s);
    saga_metrics_free(p.m);
}

static void test_routes_and_methods(void **state)
{
    (void)state;
    saga_error err;
    saga_http_handlers h = {0}; /* no checks, no metrics */
    saga_http *s = saga_http_start("127.0.0.1:0", &h, NULL, &err);
    assert_non_null(s);
    int port = saga_http_port(s);
    reply r;

    assert_int_equal(http_request(port, "GET", "/nope", &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "not found\n");
    reply_free(&r);
    assert_int_equal(http_request(port, "GET", "/metrics", &r), 0);
    assert_int_equal(r.status, 404); /* no registry given */
    reply_free(&r);
    assert_int_equal(http_request(port, "POST", "/healthz", &r), 0);
    assert_int_equal(r.status, 405);
    assert_string_equal(header(&r, "Allow"), "GET, HEAD");
    reply_free(&r);
    assert_int_equal(http_request(port, "HEAD", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    reply_free(&r);
    /* liveness_ms 0 and no callback: always healthy; no ready callback: ready */
    assert_int_equal(http_request(port, "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_int_equal(http_request(port, "GET", "/readyz", &r), 0);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    saga_http_stop(s);
}

static bool sick(void *user, char *why, size_t len)
{
    (void)user;
    snprintf(why, len, "reply consumer thread exited");
    return false;
}

static void test_custom_health_check(void **state)
{
    (void)state;
    saga_error err;
    saga_http_handlers h = {.healthy = sick, .liveness_ms = 1};
    saga_http *s = saga_http_start("127.0.0.1:0", &h, NULL, &err);
    assert_non_null(s);
    reply r;
    assert_int_equal(http_request(saga_http_port(s), "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "unhealthy: reply consumer thread exited\n");
    reply_free(&r);
    saga_http_stop(s);
}

static void test_off_and_errors(void **state)
{
    (void)state;
    saga_error err;
    saga_http *off = saga_http_start("off", NULL, NULL, &err);
    assert_non_null(off);
    assert_int_equal(saga_http_port(off), 0);
    saga_http_beat(off);
    saga_http_stop(off);
    saga_http_stop(NULL);
    saga_http_beat(NULL);

    static const char *const bad[] = {"nope", "1.2.3.4", ":99999", "::1:80", ":",
                                      "[::1]80", "127.0.0.1:12a", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        saga_http *s = saga_http_start(bad[i], NULL, NULL, &err);
        if (s)
            fail_msg("accepted listen address \"%s\"", bad[i]);
        assert_int_equal(err.code, SAGA_EINVAL);
        char want[64];
        snprintf(want, sizeof want, "invalid listen address \"%s\"", bad[i]);
        assert_string_equal(err.msg, want);
        assert_string_equal(err.hint, "expected HOST:PORT (127.0.0.1:9464, [::1]:9464), "
                                      ":PORT for every interface, or off");
    }
    assert_null(saga_http_start(NULL, NULL, NULL, &err));
    assert_int_equal(err.code, SAGA_EINVAL);

    /* a port already taken is reported with the address and the reason */
    saga_http *first = saga_http_start("127.0.0.1:0", NULL, NULL, &err);
    assert_non_null(first);
    char addr[64], want[128];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", saga_http_port(first));
    assert_null(saga_http_start(addr, NULL, NULL, &err));
    assert_int_equal(err.code, SAGA_EIO);
    snprintf(want, sizeof want, "cannot listen on %s: Address already in use", addr);
    assert_string_equal(err.msg, want);
    saga_http_stop(first);

    /* an address this host does not have */
    assert_null(saga_http_start("192.0.2.1:0", NULL, NULL, &err));
    assert_int_equal(err.code, SAGA_EIO);
    assert_string_equal(err.msg, "cannot listen on 192.0.2.1:0: Cannot assign requested address");

    /* host names resolve */
    saga_http *named = saga_http_start("localhost:0", NULL, NULL, &err);
    if (!named)
        fail_msg("localhost:0: %s", err.msg);
    saga_http_stop(named);
}

typedef struct scraper {
    int port;
    int ok;
} scraper;

static void *scrape_loop(void *arg)
{
    scraper *sc = arg;
    for (int i = 0; i < 50; i++) {
        reply r;
        if (http_request(sc->port, "GET", "/metrics", &r) == 0 && r.status == 200 &&
            r.body_len == strlen(r.body))
            sc->ok++;
        reply_free(&r);
    }
    return NULL;
}

static void test_scrapes_while_updating(void **state)
{
    (void)state;
    program p;
    program_init(&p);
    saga_http_handlers h = {.metrics = p.m};
    saga_error err;
    saga_http *s = saga_http_start("127.0.0.1:0", &h, &p, &err);
    assert_non_null(s);
    scraper a = {.port = saga_http_port(s)}, b = a;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, scrape_loop, &a);
    pthread_create(&tb, NULL, scrape_loop, &b);
    char def[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(def, sizeof def, "def%d", i % 50);
        saga_metrics_inc(p.started, (const char *[]){def}, 1);
        saga_metrics_observe(p.step, (const char *[]){def, "s", "RESERVE"}, i * 1e-4);
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.ok, 50);
    assert_int_equal(b.ok, 50);
    reply r;
    assert_int_equal(http_request(a.port, "GET", "/metrics", &r), 0);
    scrape *sc = malloc(sizeof *sc);
    parse_scrape(r.body, sc);
    assert_true(value_of(sc, "saga_started_total{definition=\"def7\"}") == 400);
    assert_int_equal(sc->n, 1 + 50 * (1 + 6)); /* outbox gauge + 50 series */
    free(sc);
    reply_free(&r);
    saga_http_stop(s);
    saga_metrics_free(p.m);
}

int main(void)
{
    saga_log_setup("it_http", SAGA_LOG_WARN, SAGA_LOG_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_ready_metrics),
        cmocka_unit_test(test_routes_and_methods),
        cmocka_unit_test(test_custom_health_check),
        cmocka_unit_test(test_off_and_errors),
        cmocka_unit_test(test_scrapes_while_updating),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
