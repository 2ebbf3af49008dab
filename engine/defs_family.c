/*
 * defs_family.c - sub-saga references across definitions, checked when a
 * spec is applied: every "saga" a step names must be applied already, no
 * definition may reach itself through sub-sagas, and nesting stays within
 * SAGA_SUBSAGA_MAX_DEPTH.
 *
 * A child always runs the latest version of its definition, so the check
 * walks the latest versions, with the spec being applied standing in for
 * its own name: applying a new version that would close a cycle is exactly
 * what must be refused. A spec's own parser cannot do this (it sees one
 * file), which is why these errors name the step's JSON path but no line.
 */
#include "defs.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"

typedef struct walk {
    PGconn *conn;
    const saga_spec *root;
    const char *path[SAGA_SUBSAGA_MAX_DEPTH + 2];
    size_t depth;
    saga_error *err;
} walk;

static void chain(const walk *wk, const char *last, saga_buf *b)
{
    for (size_t i = 0; i < wk->depth; i++)
        saga_buf_printf(b, "%s -> ", wk->path[i]);
    saga_buf_puts(b, last);
}

static int visit(walk *wk, const saga_spec *spec, size_t root_step);

/* Step `step` of spec names child; root_step is the step of the applied
 * spec the walk came through (for the JSON path of the error). */
static int follow(walk *wk, const char *child, size_t root_step)
{
    saga_buf b = {0};
    for (size_t i = 0; i < wk->depth; i++) {
        if (strcmp(wk->path[i], child) != 0)
            continue;
        chain(wk, child, &b);
        saga_error_set(wk->err, SAGA_EINVAL, "steps[%zu].saga: sub-saga cycle: %s",
                       root_step, saga_buf_str(&b));
        saga_error_hint(wk->err, "a saga cannot run itself as a sub-saga, directly "
                                 "or through others");
        saga_buf_free(&b);
        return SAGA_EINVAL;
    }
    if (wk->depth >= SAGA_SUBSAGA_MAX_DEPTH) {
        chain(wk, child, &b);
        saga_error_set(wk->err, SAGA_ELIMIT,
                       "steps[%zu].saga: sub-sagas nest deeper than the limit of %d: %s",
                       root_step, SAGA_SUBSAGA_MAX_DEPTH, saga_buf_str(&b));
        saga_buf_free(&b);
        return SAGA_ELIMIT;
    }
    if (strcmp(child, wk->root->name) == 0)
        return visit(wk, wk->root, root_step);
    saga_spec *spec = NULL;
    saga_error e;
    int rc = saga_defs_load(wk->conn, child, 0, &spec, &e);
    if (rc == SAGA_ENOTFOUND) {
        saga_error_set(wk->err, SAGA_EINVAL,
                       "steps[%zu].saga: unknown saga definition \"%s\"%s%s", root_step,
                       child, wk->depth > 1 ? " (reached through " : "",
                       wk->depth > 1 ? wk->path[wk->depth - 1] : "");
        if (wk->depth > 1)
            strncat(wk->err->msg, ")", sizeof wk->err->msg - strlen(wk->err->msg) - 1);
        saga_error_hint(wk->err, "apply the child's definition first: "
                                 "sagactl def apply sagas/%s.json",
                        child);
        return SAGA_EINVAL;
    }
    if (rc) {
        *wk->err = e;
        return rc;
    }
    rc = visit(wk, spec, root_step);
    saga_spec_free(spec);
    return rc;
}

static int visit(walk *wk, const saga_spec *spec, size_t root_step)
{
    wk->path[wk->depth++] = spec->name;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < spec->n_steps; i++) {
        if (spec->steps[i].kind != SAGA_STEP_SAGA)
            continue;
        rc = follow(wk, spec->steps[i].subsaga, wk->depth == 1 ? i : root_step);
    }
    wk->depth--;
    return rc;
}

int saga_defs_check_family(PGconn *conn, const saga_spec *spec, saga_error *err)
{
    walk wk = {.conn = conn, .root = spec, .err = err};
    return visit(&wk, spec, 0);
}
