/*
 * signals.h - deciding a signal step: the C API an application calls.
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * A signal step (docs/spec.md) waits for an outside approve or reject; an
 * approval service calls saga_signal when its analyst decides. Like
 * saga_start it works inside the caller's open transaction, so the
 * service can record the analyst's verdict and decide the step
 * atomically. The decision goes through the same engine path as sagad's
 * own events (lock, decision core, history, outbox), audited with the
 * actor. A decision that cannot apply (a step not waiting, a finished
 * saga, a step that is no signal step) is refused with the reason and
 * changes no state, but is recorded in the saga's history as ignored.
 * A public header (installed): it includes only libpq and error.h.
 */
#ifndef SAGA_SIGNALS_H
#define SAGA_SIGNALS_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "error.h"

typedef struct saga_signal_req {
    const char *saga_id;   /* the saga's full id */
    const char *step;      /* the signal step's name */
    bool approve;          /* true: approve; false: reject */
    const char *data_json; /* approve: a JSON object (or NULL), usable as
                              ${steps.STEP.signal.data.FIELD} */
    const char *reason;    /* reject: why; may be NULL */
    const char *actor;     /* who decided (required), for the audit trail */
} saga_signal_req;

typedef struct saga_signal_result {
    char status_before[16]; /* the saga's status before and after, e.g. */
    char status_after[16];  /* "RUNNING" -> "CONFIRMING" */
} saga_signal_result;

/*
 * Applies the decision on conn (borrowed). If conn is inside a
 * transaction, works in it and does not commit; otherwise runs in one of
 * its own (committed even when the decision is refused, for the history
 * row). Returns 0, SAGA_EINVAL (malformed request or data, or not a
 * signal step), SAGA_ENOTFOUND (no such saga or step), SAGA_ECONFLICT (the
 * step is not waiting for a signal: pending, already decided, saga
 * finished) or SAGA_EDB; err says which, with a hint where one helps.
 */
int saga_signal(PGconn *conn, const saga_signal_req *req, saga_signal_result *res,
                saga_error *err);

#endif
