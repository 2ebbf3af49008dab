/*
 * start_flows.c - the options of `sagactl start` beyond the input:
 * --deadline, --at / --in and --tag, turned into saga_start's request.
 *
 * Parsed once in the command's check (so a mistake is a usage error before
 * any connection is made) and again in its run, from the same code. The
 * times use the one grammar of durations and times (duration.h, clock.h).
 * A start time in the past is refused here with the option named, and
 * again by saga_start for applications.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sagactl.h"
#include "tags.h"

/* Names the option in front of a parser's message; returns its code. */
static int about(saga_error *err, const char *opt)
{
    char msg[sizeof err->msg + 32];
    snprintf(msg, sizeof msg, "%s: %s", opt, err->msg);
    snprintf(err->msg, sizeof err->msg, "%.*s", (int)sizeof err->msg - 1, msg);
    return err->code;
}

static int parse_start_time(const cli_args *a, int64_t now, int64_t *at, saga_error *err)
{
    const char *abs = cli_value(a, "at"), *rel = cli_value(a, "in");
    *at = 0;
    if (abs && rel) {
        saga_error_set(err, SAGA_EINVAL, "--at and --in both given");
        saga_error_hint(err, "give one: --at 2026-12-24T00:00:00Z or --in 10m");
        return SAGA_EINVAL;
    }
    if (rel) {
        int64_t d;
        if (saga_duration_parse(rel, &d, err))
            return about(err, "--in");
        if (d <= 0)
            return saga_error_set(err, SAGA_EINVAL, "--in: must be more than 0");
        *at = now + d;
        return 0;
    }
    if (!abs)
        return 0;
    if (saga_time_parse(abs, at, err))
        return about(err, "--at");
    if (*at > now)
        return 0;
    char when[SAGA_TIME_TEXT_MAX];
    saga_time_relative(*at, now, when, sizeof when);
    saga_error_set(err, SAGA_EINVAL, "--at: %s is in the past (%s)", abs, when);
    saga_error_hint(err, "leave --at out to start now, or give a later time");
    return SAGA_EINVAL;
}

static int parse_tags(const cli_args *a, char **tags_json, saga_error *err)
{
    const char *kv[SAGA_TAGS_MAX + 1];
    size_t n = cli_values(a, "tag", kv, SAGA_TAGS_MAX + 1);
    *tags_json = NULL;
    if (n == 0)
        return 0;
    json_t *obj = json_object();
    int rc = obj ? 0 : saga_error_set(err, SAGA_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = i < SAGA_TAGS_MAX + 1 ? saga_tag_parse(kv[i], obj, err)
                                   : saga_error_set(err, SAGA_EINVAL, "more than %d tags",
                                                    SAGA_TAGS_MAX);
    if (rc == 0 && !(*tags_json = json_dumps(obj, JSON_COMPACT)))
        rc = saga_error_set(err, SAGA_ENOMEM, "out of memory");
    json_decref(obj);
    return rc ? about(err, "--tag") : 0;
}

int cli_start_flows(const cli_args *a, int64_t now, saga_start_req *req, char **tags_json,
                    saga_error *err)
{
    *tags_json = NULL;
    const char *dl = cli_value(a, "deadline");
    if (dl) {
        if (saga_duration_parse(dl, &req->deadline_ms, err))
            return about(err, "--deadline");
        if (req->deadline_ms <= 0 || req->deadline_ms > SAGA_SPEC_MAX_DEADLINE_MS)
            return saga_error_set(err, SAGA_EINVAL,
                                  "--deadline: must be more than 0 and at most 30d");
    }
    int rc = parse_start_time(a, now, &req->start_at_ms, err);
    if (rc == 0)
        rc = parse_tags(a, tags_json, err);
    req->tags_json = *tags_json;
    return rc;
}
