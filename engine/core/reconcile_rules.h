/*
 * reconcile_rules.h - what counts as a disagreement between the saga log and
 * a participant's own record of one step (sagactl reconcile).
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * Pure: the caller gathers both sides (saga_steps on one hand, the
 * participant's answer to a QUERY on the other) and this decides, so every
 * kind of mismatch is a unit test rather than an integration scenario. Only
 * finished sagas are compared: while a saga runs, the two sides legitimately
 * differ (a command is in flight).
 */
#ifndef SAGA_RECONCILE_RULES_H
#define SAGA_RECONCILE_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "machine.h"

typedef enum saga_recon_kind {
    SAGA_RECON_RESERVED_NOT_COMPENSATED = 1, /* COMPENSATED saga, reservation still held */
    SAGA_RECON_CONFIRMED_ON_COMPENSATED,     /* COMPENSATED saga, participant confirmed */
    SAGA_RECON_RESERVED_NOT_CONFIRMED,       /* COMPLETED saga, reservation never confirmed */
    SAGA_RECON_COMPENSATED_ON_COMPLETED,     /* COMPLETED saga, participant compensated */
    SAGA_RECON_UNKNOWN_RECORD,               /* a record of an action the log never sent */
    SAGA_RECON_NOT_RECORDED,                 /* the log applied an answer the participant
                                                has no record of */
    SAGA_RECON_NO_ANSWER                     /* the participant did not answer the QUERY */
} saga_recon_kind;

/* What the saga log says about one step of a finished saga. Indexed by
 * saga_action (RESERVE..COMPENSATE); index 0 unused. */
typedef struct saga_recon_log {
    saga_status status;        /* SAGA_COMPLETED or SAGA_COMPENSATED */
    int attempts[4];           /* commands sent per action */
    saga_outcome outcome[4];   /* answer applied to the latest one, NONE if none */
    bool without_confirm;      /* the step has no confirm phase: done once reserved */
    bool without_compensate;   /* irreversible: nothing can undo its reserve */
} saga_recon_log;

/* What the participant recorded for the step's idempotency key. */
typedef struct saga_recon_seen {
    bool answered;             /* false: the QUERY timed out */
    saga_outcome outcome[4];   /* OK, REJECTED, or NONE: no record */
} saga_recon_seen;

typedef struct saga_recon_mismatch {
    saga_recon_kind kind;
    saga_action action;        /* the action the mismatch is about */
    saga_action repair;        /* what --repair would send, NONE: nothing safe */
} saga_recon_mismatch;

#define SAGA_RECON_MAX 8

/* Compares both sides of one step; writes up to SAGA_RECON_MAX mismatches
 * into out and returns how many (0: they agree). */
size_t saga_recon_compare(const saga_recon_log *log, const saga_recon_seen *seen,
                          saga_recon_mismatch out[SAGA_RECON_MAX]);

/* "reserved_not_compensated", ... (stable: the JSON output and the docs use
 * them). */
const char *saga_recon_kind_name(saga_recon_kind k);

/* One line saying what the kind means, for the human report. */
const char *saga_recon_kind_text(saga_recon_kind k);

#endif
