/*
 * itest.h - small shared pieces of the C integration tests: connecting to the
 * real stack named by SAGA_PG_DSN / SAGA_KAFKA_BROKERS (tests/run.sh exports
 * them from .stack/env) and waiting on a condition with a deadline instead of
 * sleeping. Header-only so each it_*.c stays one self-contained program.
 */
#ifndef SAGA_ITEST_H
#define SAGA_ITEST_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline int64_t itest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline const char *itest_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set; run through `make test` or `. .stack/env`\n", name);
        exit(1);
    }
    return v;
}

static inline PGconn *itest_pg(void)
{
    PGconn *c = PQconnectdb(itest_env("SAGA_PG_DSN"));
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to PostgreSQL: %s", PQerrorMessage(c));
        exit(1);
    }
    return c;
}

/* Runs a parameter-less query and returns the first column of the first row
 * as a long (0 when there is no row); aborts the test on error. */
static inline long itest_pg_long(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "query failed: %s: %s", sql, PQresultErrorMessage(r));
        exit(1);
    }
    long v = PQntuples(r) ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return v;
}

/* Polls cond(arg) every few milliseconds until it holds or deadline_ms
 * passes; returns whether it held. The poll interval is not a sleep used as
 * synchronisation: the condition decides. */
static inline bool itest_wait(bool (*cond)(void *), void *arg, int64_t deadline_ms)
{
    int64_t end = itest_now_ms() + deadline_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (itest_now_ms() > end)
            return false;
        usleep(5000);
    }
}

#endif
