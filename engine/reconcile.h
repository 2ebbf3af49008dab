/*
 * reconcile.h - comparing the saga log with what the participants recorded
 * (sagactl reconcile; a periodic job can call the same function).
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine/sagad and
 * engine/sagactl, never by the workers; it includes core, common and engine/.
 *
 * For every step of the sagas that finished in a window, a QUERY command
 * (schema/saga.proto) goes to the step's participant over its usual command
 * topic, with a private reply topic created for this run and deleted after
 * it: nothing else consumes it, so no other process sees the answers and no
 * group offsets are left behind. The worker library answers a QUERY from its
 * barrier table without running a handler. Both sides are then compared by
 * reconcile_rules.h. Nothing is changed here: repairs are a separate, audited
 * call (saga_engine_resend).
 */
#ifndef SAGA_RECONCILE_H
#define SAGA_RECONCILE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "reconcile_rules.h"
#include "spec.h"
#include "store.h"

#define SAGA_RECONCILE_MAX_KAFKA 64

typedef struct saga_reconcile_opts {
    int64_t since_ms;          /* sagas finished at or after (epoch ms) */
    int64_t until_ms;          /* and before (epoch ms); 0: no bound */
    const char *participant;   /* only this participant's steps; NULL: all */
    int64_t timeout_ms;        /* how long to wait for the answers */
    long limit;                /* at most this many sagas, newest first */
    /* librdkafka properties for both clients ("bootstrap.servers", TLS...);
     * borrowed. */
    struct {
        const char *key, *value;
    } kafka[SAGA_RECONCILE_MAX_KAFKA];
    int n_kafka;
} saga_reconcile_opts;

/* One step as both sides see it. */
typedef struct saga_reconcile_step {
    char saga_id[SAGA_ID_LEN + 1];
    char def_name[SAGA_SPEC_MAX_NAME + 1];
    int def_version;
    bool resolved;             /* closed by an operator */
    char step[SAGA_SPEC_MAX_NAME + 1];
    char participant[SAGA_SPEC_MAX_NAME + 1];
    char topic[256];           /* where the QUERY went */
    saga_recon_log log;
    saga_recon_seen seen;
    char *reason[4];           /* participant's recorded reason per action (owned) */
    char *result[4];           /* and result JSON text (owned), NULL when none */
    saga_recon_mismatch found[SAGA_RECON_MAX];
    size_t n_found;
} saga_reconcile_step;

typedef struct saga_reconcile_report {
    saga_reconcile_step *steps; /* owned: saga_reconcile_report_free */
    size_t n_steps;
    size_t n_sagas;
    size_t n_mismatches;       /* sum of n_found */
    size_t n_unanswered;       /* steps whose QUERY got no answer */
    char reply_topic[64];
} saga_reconcile_report;

/*
 * Runs one reconciliation with e's definitions (borrowed) on conn (borrowed,
 * not in a transaction). Fills *out (free with saga_reconcile_report_free,
 * also on error). Returns 0 (mismatches are data, not errors), SAGA_EKAFKA
 * (no broker, the reply topic cannot be created), or SAGA_EDB.
 */
int saga_reconcile_run(saga_engine *e, PGconn *conn, const saga_reconcile_opts *o,
                       saga_reconcile_report *out, saga_error *err);

void saga_reconcile_report_free(saga_reconcile_report *r);

#endif
