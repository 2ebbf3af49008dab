/*
 * signals.c - saga_signal (see signals.h).
 *
 * The request is checked before the database is touched (a malformed one
 * leaves the caller's transaction usable), then applied as one engine
 * event with an engine of its own: its commands, if the approval lets the
 * saga go on, are left in the outbox for sagad's relay (NOTIFY), and a
 * sub-saga it starts is woken at commit.
 */
#include "signals.h"

#include <jansson.h>
#include <string.h>

#include "engine.h"
#include "inbound.h"
#include "outbox.h"
#include "random.h"
#include "start.h"
#include "topics.h"

static int check_req(const saga_signal_req *req, json_t **data, saga_error *err)
{
    *data = NULL;
    if (!req->saga_id || !saga_inbound_uuid(req->saga_id))
        return saga_error_set(err, SAGA_EINVAL, "saga id \"%.64s\" is not a UUID",
                              req->saga_id ? req->saga_id : "");
    if (!req->step || !*req->step)
        return saga_error_set(err, SAGA_EINVAL, "signal: no step named");
    if (!req->actor || !*req->actor)
        return saga_error_set(err, SAGA_EINVAL, "signal: no actor given");
    if (!req->data_json || !*req->data_json)
        return 0;
    if (!req->approve)
        return saga_error_set(err, SAGA_EINVAL, "signal: data goes with approve only");
    json_error_t je;
    *data = json_loads(req->data_json, 0, &je);
    if (!*data)
        return saga_error_set(err, SAGA_EINVAL, "signal data: not valid JSON at %d:%d: %s",
                              je.line, je.column, je.text);
    if (!json_is_object(*data) || strlen(req->data_json) > SAGA_INPUT_MAX_BYTES) {
        json_decref(*data);
        *data = NULL;
        saga_error_set(err, SAGA_EINVAL, "signal data: expected a JSON object of at most "
                                         "%d bytes", SAGA_INPUT_MAX_BYTES);
        saga_error_hint(err, "e.g. {\"approved_by\": \"alice\"}");
        return SAGA_EINVAL;
    }
    return 0;
}

/* The engine part, in the open transaction. */
static int apply(PGconn *conn, const saga_signal_req *req, json_t *data,
                 saga_signal_result *res, saga_error *err)
{
    saga_engine *e = saga_engine_new(SAGA_TOPIC_REPLIES);
    if (!e)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    saga_engine_event x = {.saga_id = req->saga_id, .step_name = req->step,
                           .payload = data, .actor = req->actor};
    x.ev = (saga_event){.kind = SAGA_EV_SIGNAL, .now_ms = saga_now_ms(),
                        .random = saga_random32(), .approve = req->approve,
                        .reason = req->reason};
    saga_writes w;
    saga_writes_init(&w);
    int rc = saga_engine_apply(e, conn, &x, 1, &w, NULL, err);
    if (rc == 0)
        rc = saga_store_write(conn, &w, NULL, NULL, err);
    if (rc == 0 && w.n_outbox)
        rc = saga_store_notify(conn, SAGA_CHANNEL_OUTBOX, err);
    if (rc == 0 && x.rc == 0)
        rc = saga_store_notify(conn, SAGA_CHANNEL_WAKE, err);
    if (rc == 0 && x.rc) {
        *err = x.err;
        rc = x.rc;
    }
    snprintf(res->status_before, sizeof res->status_before, "%s",
             saga_status_name(x.status_before));
    snprintf(res->status_after, sizeof res->status_after, "%s",
             saga_status_name(x.rc ? x.status_before : x.status_after));
    saga_writes_clear(&w);
    saga_engine_free(e);
    return rc;
}

int saga_signal(PGconn *conn, const saga_signal_req *req, saga_signal_result *res,
                saga_error *err)
{
    memset(res, 0, sizeof *res);
    json_t *data = NULL;
    int rc = check_req(req, &data, err);
    if (rc)
        return rc;
    bool own = PQtransactionStatus(conn) == PQTRANS_IDLE;
    if (own && (rc = saga_pg_begin(conn, err))) {
        json_decref(data);
        return rc;
    }
    rc = apply(conn, req, data, res, err);
    json_decref(data);
    if (!own)
        return rc;
    /* A refused decision still commits its "ignored" history row. */
    bool refused = rc == SAGA_EINVAL || rc == SAGA_ENOTFOUND || rc == SAGA_ECONFLICT;
    if (rc == 0 || refused) {
        saga_error keep = *err;
        int crc = saga_pg_commit(conn, err);
        if (crc)
            return crc;
        *err = keep;
        return rc;
    }
    saga_pg_rollback(conn);
    return rc;
}
