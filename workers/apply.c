/*
 * apply.c - one transaction per batch, and as few statements per command as
 * the barrier allows.
 *
 * A batch costs PostgreSQL:
 *   BEGIN + claim of every command's barrier row    -> 1 round trip
 *   each handler that runs                          -> its own statements
 *   record of every answer + COMMIT                 -> 1 round trip
 * Duplicates and the barrier's own refusals cost nothing in between: they
 * are decided in memory from what the claim returned (and from the answers
 * of earlier commands of the same step in the batch).
 *
 * The first pass runs the handlers without savepoints. If one fails (RETRY,
 * or its SQL failed), the transaction is rolled back and the batch is run
 * again with a SAVEPOINT around every handler, the failed command answering
 * RETRY without running again: a failure costs one re-run, while the usual
 * batch, where nothing fails, pays no subtransactions at all.
 */
#include "apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"

#define SAVEPOINT "SAVEPOINT saga_cmd"
#define NEXT_SAVEPOINT "RELEASE SAVEPOINT saga_cmd; SAVEPOINT saga_cmd"
#define RELEASE "RELEASE SAVEPOINT saga_cmd"
#define ROLLBACK_TO "ROLLBACK TO SAVEPOINT saga_cmd; RELEASE SAVEPOINT saga_cmd"

/* A handler failed in the pass without savepoints: run the batch again. */
#define RERUN 1

typedef struct pass {
    saga_applier *a;
    saga_item *items;
    int n;
    bool savepoints;    /* a savepoint around every handler */
    bool savepoint_open;
    saga_barrier_rows rows;
} pass;

static void count(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Sets the answer; reason and result are copied (they may be another
 * item's). */
static void answer(saga_item *it, saga_worker_outcome o, const char *reason, const char *result)
{
    char text[sizeof it->reason];
    snprintf(text, sizeof text, "%.*s", (int)sizeof text - 1, reason ? reason : "");
    memcpy(it->reason, text, sizeof text);
    char *copy = result ? strdup(result) : NULL;
    free(it->result);
    it->result = copy;
    it->outcome = o;
}

static bool takes_part(const saga_item *it)
{
    return it->cmd.pb && !it->query && !it->fault.ignore && !it->fault.retry &&
           !it->forced_retry;
}

static const char *key_of(const saga_item *it)
{
    return it->cmd.pb->idempotency_key;
}

static saga_worker_action action_of(const saga_item *it)
{
    return (saga_worker_action)it->cmd.pb->action;
}

/* What the step of items[i] recorded before it: rows committed before the
 * batch, then the answers of the batch's earlier commands of that step. */
static saga_barrier_seen seen_before(const pass *p, int i, const char **reserve_result)
{
    saga_barrier_seen seen;
    memset(&seen, 0, sizeof seen);
    *reserve_result = NULL;
    const char *key = key_of(&p->items[i]);
    for (int a = SAGA_WORKER_RESERVE; a <= SAGA_WORKER_COMPENSATE; a++) {
        const saga_barrier_row *r = saga_barrier_rows_find(&p->rows, key, a, false);
        if (r) {
            seen.outcome[a] = r->outcome;
            if (a == SAGA_WORKER_RESERVE)
                *reserve_result = r->result;
        }
    }
    for (int j = 0; j < i; j++) {
        const saga_item *e = &p->items[j];
        if (!takes_part(e) || !e->recorded || strcmp(key_of(e), key) != 0)
            continue;
        seen.outcome[action_of(e)] = e->outcome;
        if (action_of(e) == SAGA_WORKER_RESERVE)
            *reserve_result = e->result;
    }
    return seen;
}

/* The batch's earlier command that answered the same step and action, or -1. */
static int earlier_answer(const pass *p, int i)
{
    const saga_item *it = &p->items[i];
    for (int j = 0; j < i; j++) {
        const saga_item *e = &p->items[j];
        if (takes_part(e) && (e->recorded || e->duplicate) && action_of(e) == action_of(it) &&
            strcmp(key_of(e), key_of(it)) == 0)
            return j;
    }
    return -1;
}

static int exec(saga_applier *a, const char *sql)
{
    saga_error err;
    return saga_pg_alive(a->pg) && saga_pg_exec(a->pg, sql, &err) == 0 ? 0 : SAGA_EDB;
}

/* Runs the participant's handler for items[i]. 0 with the command answered,
 * RERUN, or SAGA_EDB when the transaction is lost. */
static int run_handler(pass *p, saga_item *it, const char *reserve_result)
{
    saga_applier *a = p->a;
    const Saga__Command *pb = it->cmd.pb;
    if (p->savepoints) {
        if (exec(a, p->savepoint_open ? NEXT_SAVEPOINT : SAVEPOINT))
            return SAGA_EDB;
        p->savepoint_open = true;
    }
    saga_worker_handler fn = pb->action == SAGA__ACTION__RESERVE ? a->h->reserve
                           : pb->action == SAGA__ACTION__CONFIRM ? a->h->confirm
                                                                 : a->h->compensate;
    json_t *reserve = reserve_result ? json_loads(reserve_result, JSON_DECODE_ANY, NULL) : NULL;
    saga_worker_cmd cmd = {
        .action = (saga_worker_action)pb->action,
        .saga_id = pb->saga_id,
        .saga_name = pb->saga_name,
        .saga_version = pb->saga_version,
        .step = pb->step,
        .command = pb->command ? pb->command : "",
        .attempt = pb->attempt,
        .idempotency_key = pb->idempotency_key,
        .deadline_ms = pb->deadline_ms,
        .traceparent = pb->traceparent,
        .payload = it->cmd.payload,
        .reserve_result = reserve,
        .conn = a->pg,
        .log = it->log,
    };
    json_t *result = NULL;
    char reason[512] = "";
    saga_worker_outcome o = SAGA_WORKER_REJECTED;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (fn)
        o = fn(&cmd, &result, reason, sizeof reason, a->user);
    else
        snprintf(reason, sizeof reason, "%s is not supported by this participant",
                 saga_worker_action_name(cmd.action));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    it->handler_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    reason[sizeof reason - 1] = '\0';
    json_decref(reserve);
    char *text = NULL;
    if (o == SAGA_WORKER_OK && result)
        text = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(result);
    if (!saga_pg_alive(a->pg)) {
        free(text);
        return SAGA_EDB;
    }
    bool sql_failed = PQtransactionStatus(a->pg) == PQTRANS_INERROR;
    if (!sql_failed && (o == SAGA_WORKER_OK || o == SAGA_WORKER_REJECTED)) {
        answer(it, o, reason, text);
        it->recorded = true;
        free(text);
        return 0;
    }
    free(text);
    char why[SAGA_ERROR_MSG_MAX + 64];
    if (sql_failed && !*reason)
        snprintf(why, sizeof why, "handler failed: %.*s",
                 (int)strcspn(PQerrorMessage(a->pg), "\n"), PQerrorMessage(a->pg));
    else if (sql_failed)
        snprintf(why, sizeof why, "handler failed: %s", reason);
    else
        snprintf(why, sizeof why, "%s", *reason ? reason : "transient failure");
    saga_log(sql_failed ? SAGA_LOG_ERROR : SAGA_LOG_INFO, &it->log, "answering RETRY: %s", why);
    answer(it, SAGA_WORKER_RETRY, why, NULL);
    if (!p->savepoints) {
        it->forced_retry = true;
        return RERUN;
    }
    p->savepoint_open = false;
    return exec(a, ROLLBACK_TO);
}

/* Decides items[i] and answers it. 0, RERUN or SAGA_EDB. */
static int decide(pass *p, int i)
{
    saga_item *it = &p->items[i];
    int j = earlier_answer(p, i);
    if (j >= 0) {
        answer(it, p->items[j].outcome, p->items[j].reason, p->items[j].result);
        it->duplicate = true;
        it->origin = j;
        return 0;
    }
    const saga_barrier_row *prior = saga_barrier_rows_find(&p->rows, key_of(it), action_of(it),
                                                           false);
    if (prior) {
        answer(it, prior->outcome, prior->reason, prior->result);
        it->duplicate = true;
        return 0;
    }
    const char *reserve_result;
    saga_barrier_seen seen = seen_before(p, i, &reserve_result);
    saga_barrier_decision d = saga_barrier_decide(action_of(it), &seen);
    if (d.verdict == SAGA_BARRIER_RECORD) {
        if (d.anomaly)
            saga_log_warn(&it->log, "refused: %s", d.reason);
        answer(it, d.outcome, d.reason, d.result);
        it->recorded = true;
        return 0;
    }
    if (action_of(it) == SAGA_WORKER_RESERVE && it->fault.reject) {
        saga_log_info(&it->log, "injected fault: reject");
        count(&p->a->stats->faults_injected);
        it->faulted = true;
        answer(it, SAGA_WORKER_REJECTED, "injected fault: reserve rejected", NULL);
        it->recorded = true;
        return 0;
    }
    return run_handler(p, it, reserve_result);
}

/* Answers for the claimed rows: for each step and action, the recorded
 * answer of the batch's command that gave one, or none (the row is
 * removed) when every command of that step and action answered RETRY. */
static int build_answers(const pass *p, saga_barrier_answer **out, size_t *n)
{
    *out = calloc((size_t)p->n + 1, sizeof **out);
    if (!*out)
        return SAGA_ENOMEM;
    *n = 0;
    for (int i = 0; i < p->n; i++) {
        const saga_item *it = &p->items[i];
        if (!takes_part(it) || it->duplicate)
            continue;
        saga_barrier_answer *a = NULL;
        for (size_t k = 0; k < *n && !a; k++)
            if ((*out)[k].action == action_of(it) && strcmp((*out)[k].key, key_of(it)) == 0)
                a = &(*out)[k];
        if (!a) {
            a = &(*out)[(*n)++];
            a->key = key_of(it);
            a->action = action_of(it);
        }
        if (it->recorded) {
            a->outcome = it->outcome;
            a->reason = it->reason;
            a->result = it->result;
        }
    }
    return 0;
}

/* Replaces each recorded answer's result by the text PostgreSQL stored, and
 * copies the final answer into the batch's duplicates of it. */
static void adopt_stored(pass *p, const saga_barrier_rows *stored)
{
    for (int i = 0; i < p->n; i++) {
        saga_item *it = &p->items[i];
        if (!takes_part(it) || !it->recorded)
            continue;
        const saga_barrier_row *r = saga_barrier_rows_find(stored, key_of(it), action_of(it),
                                                           true);
        if (r) {
            free(it->result);
            it->result = r->result ? strdup(r->result) : NULL;
        }
    }
    for (int i = 0; i < p->n; i++) {
        saga_item *it = &p->items[i];
        if (takes_part(it) && it->origin >= 0) {
            const saga_item *o = &p->items[it->origin];
            answer(it, o->outcome, o->reason, o->result);
        }
    }
}

static void reset(pass *p)
{
    for (int i = 0; i < p->n; i++) {
        saga_item *it = &p->items[i];
        if (it->forced_retry)
            continue;
        free(it->result);
        it->result = NULL;
        it->outcome = 0;
        it->reason[0] = '\0';
        it->recorded = it->duplicate = it->faulted = false;
        it->handler_seconds = -1;
        it->origin = -1;
    }
}

/* One pass over the batch. 0 (committed), RERUN or SAGA_EDB. */
static int run_pass(pass *p)
{
    saga_applier *a = p->a;
    reset(p);
    const Saga__Command **cmds = calloc((size_t)p->n + 1, sizeof *cmds);
    if (!cmds)
        return SAGA_EDB;
    size_t m = 0;
    for (int i = 0; i < p->n; i++) {
        saga_item *it = &p->items[i];
        if (it->cmd.pb && !it->fault.ignore && it->fault.retry) {
            saga_log_info(&it->log, "injected fault: retry");
            count(&a->stats->faults_injected);
            it->faulted = true;
            answer(it, SAGA_WORKER_RETRY, "injected fault: transient error", NULL);
        }
        if (takes_part(it))
            cmds[m++] = it->cmd.pb;
    }
    if (m == 0) {
        free(cmds);
        return 0;
    }
    saga_error err;
    int rc = saga_barrier_claim(a->barrier, a->pg, "BEGIN", cmds, m, &p->rows, &err);
    free(cmds);
    if (rc)
        saga_log_error(NULL, "%s", err.msg);
    for (int i = 0; rc == 0 && i < p->n; i++)
        if (takes_part(&p->items[i]))
            rc = decide(p, i);
    saga_barrier_answer *answers = NULL;
    size_t n_answers = 0;
    if (rc == 0 && build_answers(p, &answers, &n_answers))
        rc = SAGA_EDB;
    if (rc == 0) {
        saga_barrier_rows stored;
        bool committed;
        rc = saga_barrier_record(a->barrier, a->pg, p->savepoint_open ? RELEASE : NULL,
                                 "COMMIT", answers, n_answers, &stored, &committed, &err);
        if (rc || !committed) {
            saga_log_error(NULL, "recording the batch failed: %s", err.msg);
            rc = SAGA_EDB;
        } else {
            adopt_stored(p, &stored);
        }
        saga_barrier_rows_free(&stored);
    }
    free(answers);
    saga_barrier_rows_free(&p->rows);
    p->savepoint_open = false;
    if (rc && saga_pg_alive(a->pg))
        exec(a, "ROLLBACK");
    return rc;
}

int saga_apply_batch(saga_applier *a, saga_item *items, int n)
{
    for (int i = 0; i < n; i++)
        items[i].forced_retry = false;
    pass p = {.a = a, .items = items, .n = n};
    int rc = run_pass(&p);
    if (rc == RERUN) {
        p.savepoints = true;
        rc = run_pass(&p);
    }
    return rc ? SAGA_EDB : 0;
}
