/*
 * pg.c - connection and pipeline helpers.
 *
 * A worker must survive PostgreSQL restarts without losing or duplicating
 * anything: the barrier makes re-processing safe, so recovery here is simply
 * "connect again, with growing pauses, for as long as it takes", logged so an
 * operator sees why nothing moves.
 */
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

void saga_wpg_describe(PGconn *c, char *buf, size_t len)
{
    const char *host = PQhost(c), *port = PQport(c), *db = PQdb(c), *user = PQuser(c);
    snprintf(buf, len, "%s@%s:%s/%s", user ? user : "?", host && *host ? host : "localhost",
             port && *port ? port : "5432", db ? db : "?");
}

PGconn *saga_wpg_connect_once(const char *dsn, const char *application_name,
                              saga_error *err)
{
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {dsn ? dsn : "", application_name, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    char where[256] = "?";
    const char *why = "out of memory";
    if (c) {
        saga_wpg_describe(c, where, sizeof where);
        why = PQerrorMessage(c);
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s", why);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    /* libpq's message spans lines ("...failed: ...\n\tIs the server
     * running..."); an error is one line. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    saga_error_set(err, SAGA_EDB, "cannot connect to PostgreSQL at %s: %s", where, msg);
    saga_error_hint(err, "check SAGA_PG_DSN / --pg-dsn and that the server is up");
    PQfinish(c);
    return NULL;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

PGconn *saga_wpg_connect(const char *dsn, const char *application_name,
                         bool (*stopping)(void))
{
    int backoff = 100;
    for (int tries = 1;; tries++) {
        saga_error err;
        PGconn *c = saga_wpg_connect_once(dsn, application_name, &err);
        if (c) {
            if (tries > 1)
                saga_log_info(NULL, "connected to PostgreSQL after %d attempts", tries);
            return c;
        }
        if (stopping())
            return NULL;
        saga_log_warn(NULL, "%s; retrying in %d ms", err.msg, backoff);
        /* Sleep in slices so a stop request is honoured promptly. */
        for (int slept = 0; slept < backoff && !stopping(); slept += 50)
            pause_ms(50);
        if (stopping())
            return NULL;
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
}

static void first_error(saga_error *err, const char *sql, PGresult *r, PGconn *c)
{
    if (err->code)
        return;
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    char msg[600];
    snprintf(msg, sizeof msg, "%s", m && *m ? m : "no result");
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    char head[48];
    snprintf(head, sizeof head, "%.40s", sql);
    saga_error_set(err, SAGA_EDB, "%s (in \"%s...\")", msg, head);
}

typedef struct prepared {
    char *sql;
    char name[24];
} prepared;

struct saga_wpg_stmts {
    prepared *list;
    int n, cap;
    unsigned generation; /* names stay unique across reconnects */
};

saga_wpg_stmts *saga_wpg_stmts_new(void)
{
    return calloc(1, sizeof(saga_wpg_stmts));
}

void saga_wpg_stmts_forget(saga_wpg_stmts *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->list[i].sql);
    s->n = 0;
    s->generation++;
}

void saga_wpg_stmts_free(saga_wpg_stmts *s)
{
    if (!s)
        return;
    saga_wpg_stmts_forget(s);
    free(s->list);
    free(s);
}

const char *saga_wpg_stmts_get(saga_wpg_stmts *s, PGconn *c, const char *sql, int nparams)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->list[i].sql, sql) == 0)
            return s->list[i].name;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        prepared *l = realloc(s->list, sizeof *l * (size_t)cap);
        if (!l)
            return NULL;
        s->list = l;
        s->cap = cap;
    }
    prepared *p = &s->list[s->n];
    snprintf(p->name, sizeof p->name, "saga_w%u_%d", s->generation, s->n);
    PGresult *r = PQprepare(c, p->name, sql, nparams, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || !(p->sql = strdup(sql)))
        return NULL;
    s->n++;
    return p->name;
}

PGresult *saga_wpg_exec_prepared(saga_wpg_stmts *s, PGconn *c, const char *sql, int nparams,
                                 const char *const *values)
{
    const char *name = saga_wpg_stmts_get(s, c, sql, nparams);
    if (!name)
        return PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
    return PQexecPrepared(c, name, nparams, values, NULL, NULL, 0);
}

int saga_wpg_pipeline(PGconn *c, saga_wpg_stmts *cache, saga_wpg_stmt *stmts, int n,
                      saga_error *err)
{
    saga_error_clear(err);
    if (n > SAGA_WPG_PIPELINE_MAX)
        return saga_error_set(err, SAGA_EINVAL, "pipeline of %d statements, the limit is %d", n,
                              SAGA_WPG_PIPELINE_MAX);
    const char *names[SAGA_WPG_PIPELINE_MAX] = {NULL};
    for (int i = 0; i < n; i++) {
        stmts[i].res = NULL;
        if (cache && stmts[i].nparams > 0 &&
            !(names[i] = saga_wpg_stmts_get(cache, c, stmts[i].sql, stmts[i].nparams))) {
            first_error(err, stmts[i].sql, NULL, c);
            return SAGA_EDB;
        }
    }
    if (!PQenterPipelineMode(c)) {
        first_error(err, "pipeline", NULL, c);
        return SAGA_EDB;
    }
    int sent = 0;
    for (; sent < n; sent++) {
        const saga_wpg_stmt *st = &stmts[sent];
        int ok = names[sent]
                     ? PQsendQueryPrepared(c, names[sent], st->nparams, st->values, NULL, NULL, 0)
                     : PQsendQueryParams(c, st->sql, st->nparams, NULL, st->values, NULL, NULL, 0);
        if (!ok)
            break;
    }
    if (sent < n)
        first_error(err, stmts[sent].sql, NULL, c);
    if (!PQpipelineSync(c)) {
        first_error(err, "sync", NULL, c);
        PQexitPipelineMode(c);
        return SAGA_EDB;
    }
    /* Each statement yields its result then NULL; the sync point ends it.
     * A broken connection yields NULL early: stop reading then. */
    for (int i = 0; i < sent; i++) {
        PGresult *r = PQgetResult(c);
        if (!r) {
            first_error(err, stmts[i].sql, NULL, c);
            break;
        }
        stmts[i].res = r;
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            first_error(err, stmts[i].sql, r, c);
        PGresult *end;
        while ((end = PQgetResult(c)) != NULL)
            PQclear(end);
    }
    PGresult *r;
    while (PQstatus(c) == CONNECTION_OK && (r = PQgetResult(c)) != NULL) {
        int done = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (done)
            break;
    }
    if (!PQexitPipelineMode(c))
        first_error(err, "pipeline end", NULL, c);
    return err->code ? SAGA_EDB : 0;
}

void saga_wpg_clear(saga_wpg_stmt *stmts, int n)
{
    for (int i = 0; i < n; i++) {
        PQclear(stmts[i].res);
        stmts[i].res = NULL;
    }
}

int saga_wpg_exec(PGconn *c, const char *sql, saga_error *err)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        saga_error_clear(err);
        first_error(err, sql, r, c);
    }
    PQclear(r);
    return ok ? 0 : SAGA_EDB;
}

bool saga_wpg_alive(PGconn *c)
{
    return c && PQstatus(c) == CONNECTION_OK;
}
