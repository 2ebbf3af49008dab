/*
 * history.c - one saga_history row, read the same way by `show` (a saga's
 * timeline) and `tail` (every saga's, live).
 *
 * Both queries return the history columns in one order (QHIST_*,
 * queries.h), tail's with the saga's id and definition after them, so a
 * row reads the same whichever command fetched it and a field added to
 * history shows up in both outputs at once.
 */
#include "sagactl.h"

static json_t *int_or_null(const PGresult *r, int row, int col)
{
    return cli_null(r, row, col) ? json_null() : json_integer(cli_get_i64(r, row, col));
}

json_t *cli_history_json(const PGresult *r, int row, bool with_saga)
{
    json_t *o = json_pack("{s:I}", "seq", (json_int_t)cli_get_i64(r, row, QHIST_ID));
    json_object_set_new(o, "at", cli_time_json(cli_get_i64(r, row, QHIST_AT)));
    if (with_saga) {
        json_object_set_new(o, "saga_id", json_string(cli_get(r, row, QHIST_SAGA)));
        json_object_set_new(o, "name", cli_json_col(r, row, QHIST_DEF));
        json_object_set_new(o, "version", int_or_null(r, row, QHIST_VER));
    }
    json_object_set_new(o, "kind", json_string(cli_get(r, row, QHIST_KIND)));
    json_object_set_new(o, "step", cli_json_col(r, row, QHIST_STEP));
    json_object_set_new(o, "action", cli_json_col(r, row, QHIST_ACTION));
    json_object_set_new(o, "attempt", int_or_null(r, row, QHIST_ATTEMPT));
    json_object_set_new(o, "outcome", cli_json_col(r, row, QHIST_OUTCOME));
    json_object_set_new(o, "text", cli_json_col(r, row, QHIST_TEXT));
    json_object_set_new(o, "actor", cli_json_col(r, row, QHIST_ACTOR));
    return o;
}

void cli_history_action(const PGresult *r, int row, char *buf, size_t cap)
{
    bool attempt = !cli_null(r, row, QHIST_ATTEMPT);
    snprintf(buf, cap, "%s%s%s", cli_get(r, row, QHIST_ACTION), attempt ? " #" : "",
             attempt ? cli_get(r, row, QHIST_ATTEMPT) : "");
}
