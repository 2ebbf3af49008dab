/*
 * defs.h - saga definitions stored in PostgreSQL (table saga_definitions).
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * A definition is a validated spec's canonical JSON under (name, version).
 * Versions are immutable: applying the same spec again changes nothing, and
 * a different spec under an existing (name, version) is refused with the
 * list of what differs. New sagas use the highest version unless they name
 * one; running sagas keep theirs. Loading re-parses the stored canonical
 * text, so a loaded spec is exactly what validation produced; callers cache
 * by (name, version) since a version never changes once stored.
 *
 * Every function takes a borrowed connection that may be inside the caller's
 * transaction; none of them begins or commits one.
 */
#ifndef SAGA_DEFS_H
#define SAGA_DEFS_H

#include <libpq-fe.h>
#include <stddef.h>

#include "error.h"
#include "spec.h"

typedef enum saga_defs_outcome {
    SAGA_DEFS_CREATED = 0, /* stored now */
    SAGA_DEFS_UNCHANGED    /* an identical spec was already stored */
} saga_defs_outcome;

typedef struct saga_defs_apply_result {
    saga_defs_outcome outcome;
    /* On SAGA_ECONFLICT: every difference, one "path: stored -> new" line
     * each, '\n'-separated (owned: free with saga_defs_apply_result_free);
     * NULL otherwise. err->msg carries the first few lines too. */
    char *diff;
} saga_defs_apply_result;

/*
 * Stores spec (borrowed; must come from saga_spec_parse) as
 * (spec->name, spec->version). Returns 0 with res->outcome CREATED or
 * UNCHANGED; SAGA_ECONFLICT when a different spec is stored under that
 * version (err->msg names the definition and lists differences such as
 * `steps[1].timeout_ms: 5000 -> 3000`; the hint says to bump the version);
 * SAGA_EDB on a database error.
 */
int saga_defs_apply(PGconn *conn, const saga_spec *spec,
                    saga_defs_apply_result *res, saga_error *err);

void saga_defs_apply_result_free(saga_defs_apply_result *res);

/* Refuses (SAGA_EINVAL, SAGA_ELIMIT) a spec whose sub-saga steps name a
 * definition not applied yet, close a cycle through the latest versions
 * of the others, or nest deeper than SAGA_SUBSAGA_MAX_DEPTH; messages name
 * the step ("steps[2].saga: sub-saga cycle: a -> b -> a"). Called by
 * saga_defs_apply (defs_family.c). */
int saga_defs_check_family(PGconn *conn, const saga_spec *spec, saga_error *err);

/* One stored definition (all strings owned; free with saga_def_row_free). */
typedef struct saga_def_row {
    char *name;
    int version;
    char *canonical;
    char sha256[65];
    char created_at[40]; /* UTC, "2024-05-01T12:00:00Z" */
} saga_def_row;

/*
 * Fetches name@version (version 0 = the highest). Returns 0, SAGA_ENOTFOUND
 * (message says whether the name or only the version is unknown) or
 * SAGA_EDB.
 */
int saga_defs_fetch(PGconn *conn, const char *name, int version,
                    saga_def_row *out, saga_error *err);

void saga_def_row_free(saga_def_row *row);

/* The highest stored version of name in *version: one indexed probe, for
 * callers that cache parsed specs by name@version. 0, SAGA_ENOTFOUND (no
 * such definition) or SAGA_EDB. */
int saga_defs_latest(PGconn *conn, const char *name, int *version,
                     saga_error *err);

/*
 * Loads and parses name@version (version 0 = the highest). *out is owned by
 * the caller (saga_spec_free). Returns 0, SAGA_ENOTFOUND, SAGA_EDB (also when
 * the stored text does not match its stored SHA-256), or SAGA_EINVAL when the
 * stored spec no longer validates (message has the first problem).
 */
int saga_defs_load(PGconn *conn, const char *name, int version,
                   saga_spec **out, saga_error *err);

/* One saga name and its versions, for `sagactl def list`. */
typedef struct saga_def_summary {
    char *name;          /* owned */
    int *versions;       /* ascending (owned) */
    size_t n_versions;
    int latest;
    char created_at[40]; /* when the latest version was applied, UTC */
} saga_def_summary;

typedef struct saga_def_list {
    saga_def_summary *items; /* sorted by name (owned) */
    size_t n;
} saga_def_list;

/* Lists every definition. Returns 0 or SAGA_EDB. Free with
 * saga_def_list_free (safe on a zeroed or already freed list). */
int saga_defs_list(PGconn *conn, saga_def_list *out, saga_error *err);

void saga_def_list_free(saga_def_list *list);

/*
 * Parses "NAME" or "NAME@VERSION" (as typed on the command line) into
 * name[name_cap] and *version (0 when absent). Returns 0 or SAGA_EINVAL.
 */
int saga_defs_parse_ref(const char *ref, char *name, size_t name_cap,
                        int *version, saga_error *err);

/*
 * Differences between two canonical JSON texts (borrowed), one
 * "path: old -> new" line each ("(absent)" for a missing value), at most
 * max_lines lines plus a final "... and N more" line. Returns an owned
 * string (free()), "" when they are equal, or NULL when either text is not
 * valid JSON or memory ran out.
 */
char *saga_defs_diff(const char *old_canonical, const char *new_canonical,
                     size_t max_lines);

#endif
