/*
 * failpoint.h - named crash points for tests: make a process die (or fail,
 * or stall) at an exact place in its work, so a test can show that nothing
 * is lost or applied twice when it happens there.
 *
 * Layer: common (sagad's turn and the workers' batch call it).
 *
 * Set by the environment, never by configuration, so a config file cannot
 * switch one on by accident:
 *   SAGA_FAILPOINTS="turn.after_commit=crash@3,worker.after_commit=delay:200ms"
 * Actions: crash (_exit at once, as kill -9 would leave things), error (the
 * caller fails the unit of work as if the database had refused it),
 * delay:DURATION (sleep, then go on; the duration grammar of
 * docs/operations.md, at most 10m). "@N" fires on the Nth hit of that point
 * only (1-based); without it, on every hit. With SAGA_FAILPOINTS unset every
 * point is one predictable branch on a static flag: inert.
 *
 * The points (docs/reliability.md lists them with what each proves):
 *   turn.after_begin, turn.before_commit, turn.after_commit,
 *   turn.after_publish, worker.after_commit, worker.after_reply
 */
#ifndef SAGA_FAILPOINT_H
#define SAGA_FAILPOINT_H

#include <stdbool.h>

#include "error.h"

/* The exit status of a process a crash point ended. */
#define SAGA_FAILPOINT_EXIT 86

/*
 * Reads SAGA_FAILPOINTS once (call at startup, before threads). Returns 0,
 * or SAGA_EINVAL naming the bad entry: a misspelt point must not pass
 * silently, or a test would prove nothing.
 */
int saga_failpoint_init(saga_error *err);

/* True when any point is armed (the startup log says so loudly). */
bool saga_failpoint_armed(void);

/*
 * Passes the point `name`: returns 0 to go on, or SAGA_EIO with err set
 * when the point's action is "error"; does not return for "crash".
 */
int saga_failpoint(const char *name, saga_error *err);

#endif
