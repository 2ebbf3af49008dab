/*
 * failpoint.c - SAGA_FAILPOINTS (see failpoint.h).
 *
 * A fixed table rather than a registry: the set of points is part of the
 * test contract, and an unknown name in the environment is an error.
 */
#include "failpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "log.h"

typedef enum { FP_OFF, FP_CRASH, FP_ERROR, FP_DELAY } fp_action;

static struct {
    const char *name;
    fp_action action;
    int delay_ms;
    long at;    /* fire on this hit only; 0 = every hit */
    long hits;
} points[] = {
    {"turn.after_begin", FP_OFF, 0, 0, 0},
    {"turn.before_commit", FP_OFF, 0, 0, 0},
    {"turn.after_commit", FP_OFF, 0, 0, 0},
    {"turn.after_publish", FP_OFF, 0, 0, 0},
    {"worker.after_commit", FP_OFF, 0, 0, 0},
    {"worker.after_reply", FP_OFF, 0, 0, 0},
};
#define N_POINTS (sizeof points / sizeof points[0])

static bool armed;

static int bad_entry(saga_error *err, const char *entry, const char *why)
{
    saga_error_set(err, SAGA_EINVAL, "SAGA_FAILPOINTS: \"%.80s\": %s", entry, why);
    saga_error_hint(err, "write NAME=crash|error|delay:DURATION[@N], comma-separated; "
                         "names: turn.after_begin, turn.before_commit, "
                         "turn.after_commit, turn.after_publish, "
                         "worker.after_commit, worker.after_reply");
    return SAGA_EINVAL;
}

static int parse_action(const char *a, int *delay, long *at, fp_action *out)
{
    char *end;
    const char *atp = strchr(a, '@');
    size_t len = atp ? (size_t)(atp - a) : strlen(a);
    *at = 0;
    if (atp) {
        *at = strtol(atp + 1, &end, 10);
        if (end == atp + 1 || *end || *at < 1)
            return -1;
    }
    if (len == 5 && strncmp(a, "crash", 5) == 0)
        *out = FP_CRASH;
    else if (len == 5 && strncmp(a, "error", 5) == 0)
        *out = FP_ERROR;
    else if (len > 6 && len < 64 && strncmp(a, "delay:", 6) == 0) {
        char d[64];
        int64_t ms;
        saga_error ignored;
        snprintf(d, sizeof d, "%.*s", (int)(len - 6), a + 6);
        if (saga_duration_parse(d, &ms, &ignored) || ms > 600000)
            return -1;
        *delay = (int)ms;
        *out = FP_DELAY;
    } else
        return -1;
    return 0;
}

static int parse_entry(char *entry, saga_error *err)
{
    char *eq = strchr(entry, '=');
    if (!eq)
        return bad_entry(err, entry, "no '=' (NAME=ACTION)");
    *eq = '\0';
    for (size_t i = 0; i < N_POINTS; i++) {
        if (strcmp(points[i].name, entry) != 0)
            continue;
        *eq = '=';
        if (parse_action(eq + 1, &points[i].delay_ms, &points[i].at, &points[i].action))
            return bad_entry(err, entry, "unknown action");
        armed = true;
        return 0;
    }
    *eq = '=';
    return bad_entry(err, entry, "no such failpoint");
}

int saga_failpoint_init(saga_error *err)
{
    const char *env = getenv("SAGA_FAILPOINTS");
    if (!env || !*env)
        return 0;
    char *copy = strdup(env), *save = NULL;
    if (!copy)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    int rc = 0;
    for (char *e = strtok_r(copy, ",", &save); e && rc == 0; e = strtok_r(NULL, ",", &save))
        rc = parse_entry(e, err);
    free(copy);
    if (rc == 0)
        saga_log_warn(NULL, "failpoints armed (SAGA_FAILPOINTS=%s): this process "
                            "will crash, fail or stall on purpose", env);
    return rc;
}

bool saga_failpoint_armed(void)
{
    return armed;
}

int saga_failpoint(const char *name, saga_error *err)
{
    if (!armed)
        return 0;
    for (size_t i = 0; i < N_POINTS; i++) {
        if (points[i].action == FP_OFF || strcmp(points[i].name, name) != 0)
            continue;
        long hit = ++points[i].hits;
        if (points[i].at && hit != points[i].at)
            return 0;
        switch (points[i].action) {
        case FP_CRASH:
            saga_log_error(NULL, "failpoint %s: crashing (hit %ld)", name, hit);
            _exit(SAGA_FAILPOINT_EXIT);
        case FP_ERROR:
            return saga_error_set(err, SAGA_EIO, "failpoint %s: injected error", name);
        case FP_DELAY: {
            struct timespec ts = {points[i].delay_ms / 1000,
                                  (long)(points[i].delay_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            return 0;
        }
        case FP_OFF:
            break;
        }
    }
    return 0;
}
