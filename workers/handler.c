/*
 * handler.c - what a handler calls: typed access to the command's JSON
 * payload, and SQL that is prepared once per connection.
 *
 * A malformed payload is a permanent problem of that command (retrying will
 * not fix it), so the accessors produce a REJECTED-ready reason that names
 * the field and what was expected.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pg.h"
#include "worker.h"

PGresult *saga_worker_sql(const saga_worker_cmd *cmd, const char *sql, int nparams,
                          const char *const *values)
{
    return saga_pg_query(cmd->conn, sql, nparams, values, 0);
}

saga_worker_outcome saga_worker_sql_failed(PGresult *r, char *reason, size_t reason_len)
{
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(reason, reason_len, "%s", m ? m : PQresultErrorMessage(r));
    PQclear(r);
    return SAGA_WORKER_RETRY;
}

int saga_worker_payload_string(const saga_worker_cmd *cmd, const char *name,
                               const char **out, char *reason, size_t reason_len)
{
    json_t *v = json_object_get(cmd->payload, name);
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(reason, reason_len, "invalid payload: \"%s\" must be a non-empty string",
                 name);
        return SAGA_EINVAL;
    }
    *out = json_string_value(v);
    return 0;
}

int saga_worker_payload_int(const saga_worker_cmd *cmd, const char *name, int64_t min,
                            int64_t max, int64_t *out, char *reason, size_t reason_len)
{
    json_t *v = json_object_get(cmd->payload, name);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(reason, reason_len,
                 "invalid payload: \"%s\" must be an integer from %" PRId64 " to %" PRId64,
                 name, min, max);
        return SAGA_EINVAL;
    }
    *out = (int64_t)json_integer_value(v);
    return 0;
}
