/*
 * http.h - the operations endpoint of every sagad binary: /healthz, /readyz
 * and /metrics over HTTP (libmicrohttpd).
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 *   GET /healthz  200 "ok\n" while the process is alive and its main loop
 *                 turns; 503 "unhealthy: <why>\n" otherwise.
 *   GET /readyz   200 "ok\n" when the program says it can serve (PostgreSQL
 *                 and Kafka reachable, consumer assigned); 503
 *                 "not ready: <why>\n" otherwise.
 *   GET /metrics  the registry in Prometheus text format 0.0.4.
 *   anything else 404; methods other than GET and HEAD 405.
 *
 * The server runs in its own thread (MHD_USE_INTERNAL_POLLING_THREAD): a
 * scrape never waits for the main loop, and a stalled main loop still
 * answers /healthz (with 503), which is what a liveness probe needs. So
 * every callback runs on that thread, concurrently with the program's own
 * threads, and must be thread-safe. Callbacks are never run concurrently
 * with each other (one server thread).
 */
#ifndef SAGA_HTTP_H
#define SAGA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "metrics.h"

/* Longest reason a ready/healthy callback may write (bytes, with NUL). */
#define SAGA_HTTP_WHY_MAX 256
/* Largest request body passed to a request handler; longer ones get 413. */
#define SAGA_HTTP_BODY_MAX (64 * 1024)

struct MHD_Connection;

typedef struct saga_http_handlers {
    /* Liveness. NULL = use the heartbeat: healthy while saga_http_beat was
     * called within liveness_ms (or liveness_ms is 0). When set, it replaces
     * the heartbeat check and may write a reason into why (len bytes). */
    bool (*healthy)(void *user, char *why, size_t len);
    /* Readiness; NULL = always ready. On false, write the reason into why
     * (len bytes, e.g. "kafka consumer has no partitions assigned"). */
    bool (*ready)(void *user, char *why, size_t len);
    /* Called before each /metrics render, e.g. to refresh gauges from the
     * database (saga_outbox_pending). NULL = none. Keep it fast: the scrape
     * waits for it. */
    void (*collect)(void *user);
    /* Rendered on /metrics; borrowed, must outlive the server. NULL = 404. */
    saga_metrics *metrics;
    /* Heartbeat staleness limit for the default liveness check, in ms. */
    int64_t liveness_ms;
    /* How long "address already in use" is retried before giving up, in
     * ms (backoff from 100 ms to 2 s, each try logged at warn); 0 = one
     * try. Programs pass their http.bind_timeout (30 s by default). A
     * signal with a handler (SIGTERM in sagad) ends the wait early. */
    int64_t bind_timeout_ms;
    /* A whole site instead of the three endpoints (sagactl serve): every
     * request, any method, once its body (NUL-terminated, len bytes, at
     * most SAGA_HTTP_BODY_MAX) has been read. It must queue a response on
     * conn (MHD_queue_response) and return libmicrohttpd's MHD_YES, or
     * MHD_NO to drop the connection. NULL = the endpoints above. */
    int (*request)(void *user, struct MHD_Connection *conn, const char *method,
                   const char *url, const char *body, size_t len);
} saga_http_handlers;

typedef struct saga_http saga_http;

/*
 * Starts serving. listen is "HOST:PORT" ("127.0.0.1:9464", "[::1]:9464",
 * "localhost:9464"), ":PORT" (every interface), or "off" (serve nothing:
 * a valid handle is still returned, so callers need no special case).
 * PORT 0 picks a free port (see saga_http_port). h is copied; user is
 * passed to every callback.
 *
 * Returns an owned handle (stop with saga_http_stop), or NULL with err
 * filled: SAGA_EINVAL for a malformed address, SAGA_EIO when the socket
 * cannot be bound (the message names the address and the reason, e.g.
 * "Address already in use", with the tries made when it was waited for,
 * see h->bind_timeout_ms), SAGA_ENOMEM. Blocks while it waits.
 */
saga_http *saga_http_start(const char *listen, const saga_http_handlers *h,
                           void *user, saga_error *err);

/* The bound TCP port (useful with port 0), or 0 when listen was "off". */
int saga_http_port(const saga_http *s);

/* Records that the main loop turned; cheap (one atomic store), call it on
 * every iteration. Safe from any thread; NULL is a no-op. */
void saga_http_beat(saga_http *s);

/* Stops the server thread, closes the socket and frees s. In-flight
 * requests are finished first. NULL is a no-op. */
void saga_http_stop(saga_http *s);

#endif
