/*
 * http.c - /healthz, /readyz and /metrics on libmicrohttpd's own thread.
 *
 * libmicrohttpd binds the socket itself (MHD_OPTION_SOCK_ADDR) so the
 * listening socket has one owner from start to stop. Before starting it, the
 * address is bound once by hand: that is the only way to turn "address
 * already in use" or "cannot assign requested address" into a message that
 * names the address, and it picks which of the resolved addresses works.
 *
 * "Address already in use" is waited out (bind_timeout_ms, with backoff):
 * a process restarted right after kill -9 of its predecessor finds the port
 * still held while the dying process is torn down, and exiting then would
 * leave nothing running. Other errors (no such address, permission) are
 * final at once. Both sockets use SO_REUSEADDR (libmicrohttpd's default on
 * POSIX), so connections in TIME_WAIT left by scrapes never block a
 * restart; SO_REUSEPORT is not used, because it would let a second live
 * process share the port and answer probes meant for the first.
 *
 * Liveness defaults to a heartbeat (an atomic timestamp the main loop
 * refreshes) because "the process answers HTTP" proves nothing when the
 * server has its own thread: only a loop that keeps turning is alive.
 */
#include "http.h"

#include "log.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECTION_LIMIT 64
#define CONNECTION_TIMEOUT_S 10

struct saga_http {
    struct MHD_Daemon *daemon; /* NULL when listen was "off" */
    saga_http_handlers h;
    void *user;
    int port;
    int64_t last_beat_ms;       /* atomic */
    bool starting;              /* atomic: logger records into start_error */
    char start_error[256];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- responses ----------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
                               const char *type, char *body, size_t len,
                               enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn,
                                    unsigned status, const char *text)
{
    return respond(conn, status, "text/plain; charset=utf-8", (char *)text,
                   strlen(text), MHD_RESPMEM_MUST_COPY);
}

/* 200 "ok" or 503 "<what>: <why>". */
static enum MHD_Result respond_check(struct MHD_Connection *conn, bool ok,
                                     const char *what, const char *why)
{
    if (ok)
        return respond_text(conn, MHD_HTTP_OK, "ok\n");
    char body[SAGA_HTTP_WHY_MAX + 32];
    snprintf(body, sizeof body, "%s: %s\n", what, *why ? why : "no reason given");
    return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static bool check_live(saga_http *s, char *why, size_t len)
{
    if (s->h.healthy)
        return s->h.healthy(s->user, why, len);
    if (s->h.liveness_ms <= 0)
        return true;
    int64_t age = now_ms() - __atomic_load_n(&s->last_beat_ms, __ATOMIC_RELAXED);
    if (age <= s->h.liveness_ms)
        return true;
    snprintf(why, len, "main loop has not turned for %lld ms (limit %lld ms)",
             (long long)age, (long long)s->h.liveness_ms);
    return false;
}

static enum MHD_Result serve_metrics(saga_http *s, struct MHD_Connection *conn)
{
    if (s->h.collect)
        s->h.collect(s->user);
    char *text = saga_metrics_render(s->h.metrics);
    if (!text)
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "out of memory\n");
    return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                   text, strlen(text), MHD_RESPMEM_MUST_FREE);
}

/* A request for h.request: its body is gathered across calls (con_cls
 * holds it, freed by on_completed), then handed over whole. */
typedef struct body {
    saga_http *s;
    size_t len;
    bool too_big;
    char data[SAGA_HTTP_BODY_MAX + 1];
} body;

static enum MHD_Result on_site(saga_http *s, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *upload_data, size_t *upload_data_size,
                               void **con_cls)
{
    body *b = *con_cls;
    if (!b) {
        if (!(b = calloc(1, sizeof *b)))
            return MHD_NO;
        b->s = s;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (b->len + n > SAGA_HTTP_BODY_MAX)
            b->too_big = true;
        else
            memcpy(b->data + b->len, upload_data, n);
        b->len += b->too_big ? 0 : n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (b->too_big)
        return respond_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
    b->data[b->len] = '\0';
    return s->h.request(s->user, conn, method, url, b->data, b->len) ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)conn;
    (void)why;
    saga_http *s = cls;
    if (s->h.request)
        free(*con_cls);
    *con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    saga_http *s = cls;
    if (s->h.request)
        return on_site(s, conn, url, method, upload_data, upload_data_size, con_cls);
    /* First call: headers only. Answer on a later call, once any request
     * body has been read (and discarded), as libmicrohttpd expects. */
    if (!*con_cls) {
        *con_cls = s;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed\n");
    char why[SAGA_HTTP_WHY_MAX] = "";
    if (strcmp(url, "/healthz") == 0) {
        bool ok = check_live(s, why, sizeof why);
        return respond_check(conn, ok, "unhealthy", why);
    }
    if (strcmp(url, "/readyz") == 0) {
        bool ok = !s->h.ready || s->h.ready(s->user, why, sizeof why);
        return respond_check(conn, ok, "not ready", why);
    }
    if (strcmp(url, "/metrics") == 0 && s->h.metrics)
        return serve_metrics(s, conn);
    return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* libmicrohttpd's messages: kept while starting (for the error message),
 * logged afterwards. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    saga_http *s = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (__atomic_load_n(&s->starting, __ATOMIC_ACQUIRE))
        snprintf(s->start_error, sizeof s->start_error, "%s", msg);
    else
        saga_log_warn(NULL, "http: %s", msg);
}

/* --- start and stop ------------------------------------------------------ */

/* Splits "host:port", "[v6]:port" or ":port"; host is "" for every
 * interface. */
static int split_listen(const char *listen, char *host, size_t hostlen,
                        char *port, size_t portlen, saga_error *err)
{
    const char *colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            goto bad;
        if ((size_t)(close - listen - 1) >= hostlen)
            goto bad;
        snprintf(host, hostlen, "%.*s", (int)(close - listen - 1), listen + 1);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen)))
            goto bad;
        if ((size_t)(colon - listen) >= hostlen)
            goto bad;
        snprintf(host, hostlen, "%.*s", (int)(colon - listen), listen);
    }
    const char *p = colon + 1;
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 5 || p[n] || atoi(p) > 65535 || n >= portlen)
        goto bad;
    snprintf(port, portlen, "%s", p);
    return 0;
bad:
    saga_error_set(err, SAGA_EINVAL, "invalid listen address \"%s\"", listen);
    saga_error_hint(err, "expected HOST:PORT (127.0.0.1:9464, [::1]:9464), "
                    ":PORT for every interface, or off");
    return SAGA_EINVAL;
}

/* Binds a throw-away socket to a; returns 0 or errno. */
static int try_bind(const struct addrinfo *a)
{
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
        return errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* The first of res that binds, in *chosen; returns 0 or the last errno. */
static int bind_any(const struct addrinfo *res, const struct addrinfo **chosen)
{
    int e = 0;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if ((e = try_bind(a)) == 0) {
            *chosen = a;
            return 0;
        }
    return e;
}

/* Sleeps ms; false when a signal with a handler (a stop request) woke it. */
static bool pause_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    return nanosleep(&ts, NULL) == 0;
}

/* bind_any, retried while the address is in use and wait_ms has not run out
 * (backoff from 100 ms doubling to 2 s, each try logged). */
static int bind_patiently(const struct addrinfo *res, const char *listen, int64_t wait_ms,
                          const struct addrinfo **chosen, saga_error *err)
{
    int64_t start = now_ms(), backoff = 100;
    int tries = 1, e;
    while ((e = bind_any(res, chosen)) == EADDRINUSE) {
        int64_t left = start + wait_ms - now_ms();
        if (left <= 0)
            break;
        int64_t pause = backoff < left ? backoff : left;
        saga_log_warn(NULL, "http: cannot listen on %s: %s (try %d); retrying in %lld ms, "
                      "giving up in %lld ms", listen, strerror(e), tries, (long long)pause,
                      (long long)left);
        if (!pause_ms(pause)) {
            e = EINTR;
            break;
        }
        backoff = backoff * 2 < 2000 ? backoff * 2 : 2000;
        tries++;
    }
    if (e == 0) {
        if (tries > 1)
            saga_log_info(NULL, "http: %s is free after %d tries", listen, tries);
        return 0;
    }
    if (e == EINTR)
        saga_error_set(err, SAGA_EIO, "cannot listen on %s: %s (interrupted while waiting "
                       "for it)", listen, strerror(EADDRINUSE));
    else if (tries > 1)
        saga_error_set(err, SAGA_EIO, "cannot listen on %s: %s (still in use after %d tries "
                       "over %lld ms)", listen, strerror(e), tries,
                       (long long)(now_ms() - start));
    else
        saga_error_set(err, SAGA_EIO, "cannot listen on %s: %s", listen, strerror(e));
    saga_error_hint(err, "another process may hold the port (ss -ltnp shows which); stop "
                    "it, pick another address with http.listen, or use port 0 for any free "
                    "port; http.bind_timeout sets how long a busy port is waited for");
    return SAGA_EIO;
}

saga_http *saga_http_start(const char *listen, const saga_http_handlers *h,
                           void *user, saga_error *err)
{
    saga_error_clear(err);
    saga_http *s = calloc(1, sizeof *s);
    if (!s) {
        saga_error_set(err, SAGA_ENOMEM, "out of memory");
        return NULL;
    }
    if (h)
        s->h = *h;
    s->user = user;
    s->last_beat_ms = now_ms();
    if (listen && strcmp(listen, "off") == 0)
        return s;

    char host[256], port[8];
    if (!listen || split_listen(listen, host, sizeof host, port, sizeof port,
                                err) < 0) {
        if (!listen)
            saga_error_set(err, SAGA_EINVAL, "no listen address given");
        free(s);
        return NULL;
    }
    struct addrinfo hints = {.ai_family = host[0] ? AF_UNSPEC : AF_INET,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        saga_error_set(err, SAGA_EINVAL, "cannot resolve listen address \"%s\": %s",
                       listen, gai_strerror(gai));
        free(s);
        return NULL;
    }
    const struct addrinfo *a = NULL;
    if (bind_patiently(res, listen, s->h.bind_timeout_ms, &a, err) < 0) {
        freeaddrinfo(res);
        free(s);
        return NULL;
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                     MHD_USE_ERROR_LOG;
    if (a->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    __atomic_store_n(&s->starting, true, __ATOMIC_RELEASE);
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)atoi(port), NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_SOCK_ADDR, a->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_END);
    __atomic_store_n(&s->starting, false, __ATOMIC_RELEASE);
    freeaddrinfo(res);
    if (!s->daemon) {
        saga_error_set(err, SAGA_EIO, "cannot start the HTTP server on %s: %s",
                       listen, s->start_error[0] ? s->start_error
                                                  : "libmicrohttpd refused to start");
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : atoi(port);
    saga_log_info(NULL, "http: serving %s on %s (port %d)",
                  s->h.request ? "the console" : "/healthz /readyz /metrics", listen, s->port);
    return s;
}

int saga_http_port(const saga_http *s)
{
    return s ? s->port : 0;
}

void saga_http_beat(saga_http *s)
{
    if (s)
        __atomic_store_n(&s->last_beat_ms, now_ms(), __ATOMIC_RELAXED);
}

void saga_http_stop(saga_http *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    free(s);
}
