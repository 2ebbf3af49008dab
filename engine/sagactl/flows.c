/*
 * flows.c - how sagactl names the steps no participant runs: a signal step
 * ("waiting for signal approve_large_order since 4m") and a sub-saga step
 * ("sub-saga shipping"), and a saga's parent and children for `show`.
 *
 * list, show and stuck describe waits through cli_participant and
 * waiting.c; these helpers are what they ask when the step turns out to be
 * one of these kinds, so the wording lives in one place.
 */
#include <stdio.h>
#include <string.h>

#include "sagactl.h"

static const saga_step_def *step_def(cli *c, const char *def, int ver, const char *step)
{
    saga_error err;
    const saga_spec *spec = cli_spec(c, def, ver, &err);
    int i = spec ? saga_spec_step_index(spec, step) : -1;
    return i >= 0 ? &spec->steps[i] : NULL;
}

const char *cli_step_runner(cli *c, const char *def, int ver, const char *step)
{
    static char label[SAGA_SPEC_MAX_NAME + 16];
    const saga_step_def *d = step_def(c, def, ver, step);
    if (!d)
        return step;
    if (d->kind == SAGA_STEP_SIGNAL)
        return "signal";
    if (d->kind == SAGA_STEP_SAGA) {
        snprintf(label, sizeof label, "sub-saga %s", d->subsaga);
        return label;
    }
    return d->participant;
}

bool cli_signal_wait(cli *c, const char *def, int ver, const char *step,
                     int64_t deadline_ms, char *buf, size_t cap)
{
    const saga_step_def *d = step_def(c, def, ver, step);
    if (!d || d->kind != SAGA_STEP_SIGNAL)
        return false;
    char since[32] = "?";
    if (deadline_ms) {
        int64_t waited = saga_now_ms() - (deadline_ms - d->timeout_ms);
        cli_duration_text(waited < 0 ? 0 : waited, since, sizeof since);
    }
    snprintf(buf, cap, "waiting for signal %s since %s", step, since);
    return true;
}

void cli_show_family(cli *c, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = saga_pg_query(c->conn,
                                "SELECT 'parent', parent_id::text, parent_step FROM sagas"
                                " WHERE id = $1::uuid AND parent_id IS NOT NULL"
                                " UNION ALL SELECT 'child', id::text, parent_step || ' ('"
                                " || status || ')' FROM sagas WHERE parent_id = $1::uuid",
                                1, p, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(r); i++) {
            if (strcmp(PQgetvalue(r, i, 0), "parent") == 0)
                printf("parent      %s (this saga runs its step %s)\n", PQgetvalue(r, i, 1),
                       PQgetvalue(r, i, 2));
            else
                printf("sub-saga    %s for step %s\n", PQgetvalue(r, i, 1),
                       PQgetvalue(r, i, 2));
        }
    }
    PQclear(r);
}

bool cli_has_parent(cli *c, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = saga_pg_query(c->conn,
                                "SELECT 1 FROM sagas WHERE id = $1::uuid AND parent_id IS NOT NULL",
                                1, p, 0);
    bool yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    return yes;
}
