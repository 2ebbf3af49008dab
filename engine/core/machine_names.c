/*
 * machine_names.c - the names of the decision core's enums, and their
 * parsers.
 *
 * The names are what PostgreSQL stores (sagas.status, saga_steps.status,
 * saga_history.kind) and what the CLI prints and accepts, so they live in
 * one table per enum, indexed by value; parsing is case-insensitive because
 * people type them.
 */
#include "machine.h"

#include <strings.h>


static const char *const status_names[] = {
    "RUNNING", "CONFIRMING", "COMPENSATING", "COMPLETED", "COMPENSATED",
    "SCHEDULED"};
static const char *const step_status_names[] = {
    "PENDING",    "RESERVING", "RESERVED",     "REJECTED",   "FAILED",
    "CONFIRMING", "CONFIRMED", "COMPENSATING", "COMPENSATED"};
static const char *const action_names[] = {"NONE", "RESERVE", "CONFIRM",
                                           "COMPENSATE"};
static const char *const outcome_names[] = {"NONE", "OK", "REJECTED", "RETRY"};
static const char *const note_kind_names[] = {
    "transition", "step",    "applied", "ignored",  "timeout", "backoff",
    "exhausted",  "stuck",   "unstuck", "operator", "skipped",
    "signal",     "parent",  "report",
    "circuit"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, int v)
{
    if (v < 0 || (size_t)v >= n)
        return "UNKNOWN";
    return names[v];
}

static int parse_name(const char *const *names, size_t n, const char *s,
                      int *out)
{
    if (!s)
        return SAGA_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return SAGA_EINVAL;
}

bool saga_status_terminal(saga_status s)
{
    return s == SAGA_COMPLETED || s == SAGA_COMPENSATED;
}

const char *saga_status_name(saga_status s)
{
    return name_of(status_names, N_OF(status_names), (int)s);
}

int saga_status_parse(const char *s, saga_status *out)
{
    int v;
    int rc = parse_name(status_names, N_OF(status_names), s, &v);
    if (rc == 0)
        *out = (saga_status)v;
    return rc;
}

const char *saga_step_status_name(saga_step_status s)
{
    return name_of(step_status_names, N_OF(step_status_names), (int)s);
}

int saga_step_status_parse(const char *s, saga_step_status *out)
{
    int v;
    int rc = parse_name(step_status_names, N_OF(step_status_names), s, &v);
    if (rc == 0)
        *out = (saga_step_status)v;
    return rc;
}

const char *saga_action_name(saga_action a)
{
    return name_of(action_names, N_OF(action_names), (int)a);
}

int saga_action_parse(const char *s, saga_action *out)
{
    int v;
    int rc = parse_name(action_names, N_OF(action_names), s, &v);
    if (rc == 0)
        *out = (saga_action)v;
    return rc;
}

const char *saga_outcome_name(saga_outcome o)
{
    return name_of(outcome_names, N_OF(outcome_names), (int)o);
}

int saga_outcome_parse(const char *s, saga_outcome *out)
{
    int v;
    int rc = parse_name(outcome_names, N_OF(outcome_names), s, &v);
    if (rc == 0)
        *out = (saga_outcome)v;
    return rc;
}

const char *saga_note_kind_name(saga_note_kind k)
{
    if ((int)k < 0 || (size_t)k >= N_OF(note_kind_names))
        return "unknown";
    return note_kind_names[k];
}
