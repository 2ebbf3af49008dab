/*
 * start.c - saga_start and saga_start_prepare (see start.h).
 */
#include "start.h"
#include "start_item.h"

#include <string.h>

#include "defs.h"
#include "trace.h"

_Static_assert(SAGA_START_ID_SIZE == SAGA_ID_LEN + 1,
               "start.h's id size must hold a saga id");

int saga_start_prepare(const saga_spec *spec, const json_t *input,
                       const char *idempotency_key, const char *traceparent,
                       bool wake_now, const saga_start_opts *opts,
                       saga_start_item *it, saga_error *err)
{
    it->tags = NULL;
    int rc = saga_spec_check_input(spec, input, err);
    if (rc)
        return rc;
    if (idempotency_key && strlen(idempotency_key) > 200)
        return saga_error_set(err, SAGA_EINVAL,
                              "idempotency key: longer than 200 bytes");
    saga_trace tr;
    if (traceparent && saga_trace_parse(traceparent, &tr) == 0)
        saga_trace_format(&tr, it->traceparent);
    else
        saga_trace_new(it->traceparent);
    saga_uuid_new(it->id);
    it->row = (saga_new){.id = it->id, .spec = spec, .input = input,
                         .idempotency_key = idempotency_key,
                         .traceparent = it->traceparent, .wake_now = wake_now,
                         .now_ms = saga_now_ms()};
    return saga_start_apply_opts(spec, input, opts, it, err);
}

/* The request's options; *tags receives the parsed tags (owned). */
static int request_opts(const saga_start_req *req, saga_start_opts *o, json_t **tags,
                        saga_error *err)
{
    *o = (saga_start_opts){.deadline_ms = req->deadline_ms, .start_at_ms = req->start_at_ms};
    *tags = NULL;
    if (!req->tags_json)
        return 0;
    json_error_t jerr;
    *tags = json_loads(req->tags_json, 0, &jerr);
    if (!json_is_object(*tags))
        return saga_error_set(err, SAGA_EINVAL, "tags: not a JSON object");
    o->tags = *tags;
    return 0;
}

int saga_start(PGconn *conn, const saga_start_req *req, saga_start_result *res,
               saga_error *err)
{
    memset(res, 0, sizeof *res);
    if (!req->name || !*req->name)
        return saga_error_set(err, SAGA_EINVAL, "saga name is empty");
    json_error_t jerr;
    json_t *input = json_loads(req->input_json ? req->input_json : "", 0, &jerr);
    if (!input) {
        saga_error_set(err, SAGA_EINVAL, "input: not valid JSON at %d:%d: %s",
                       jerr.line, jerr.column, jerr.text);
        return SAGA_EINVAL;
    }
    saga_start_opts opts;
    json_t *tags = NULL;
    bool own = PQtransactionStatus(conn) == PQTRANS_IDLE;
    saga_spec *spec = NULL;
    int rc = request_opts(req, &opts, &tags, err);
    if (rc == 0)
        rc = saga_defs_load(conn, req->name, req->version, &spec, err);
    if (rc == 0 && own)
        rc = saga_pg_begin(conn, err);
    if (rc == 0) {
        saga_start_item it;
        rc = saga_start_prepare(spec, input, req->idempotency_key, req->traceparent,
                                true, &opts, &it, err);
        if (rc == 0) {
            res->version = spec->version;
            memcpy(res->id, it.id, sizeof it.id);
            rc = saga_store_create(conn, &it.row, &res->existed, res->id, err);
        }
        if (rc == 0 && !res->existed)
            rc = saga_store_notify(conn, SAGA_CHANNEL_WAKE, err);
        saga_start_item_clear(&it);
        if (own) {
            if (rc == 0)
                rc = saga_pg_commit(conn, err);
            else
                saga_pg_rollback(conn);
        }
    }
    saga_spec_free(spec);
    json_decref(tags);
    json_decref(input);
    return rc;
}
