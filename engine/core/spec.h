/*
 * spec.h - declarative saga specs: parse, validate, canonicalise.
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * A spec is one JSON file (format in docs/spec.md). Parsing reports every
 * problem in the file at once, each as "file:line:col: json.path: message"
 * (plus an optional hint line), because a user fixing a spec wants the whole
 * list, not one error per run. The parsed saga_spec is immutable after
 * parsing and is shared read-only by the decision core, the store and the CLI.
 */
#ifndef SAGA_SPEC_H
#define SAGA_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Documented limits (docs/spec.md); exceeding one is a validation error that
 * names the limit. */
#define SAGA_SPEC_MAX_FILE_BYTES (1024 * 1024)
#define SAGA_SPEC_MAX_STEPS 64
#define SAGA_SPEC_MAX_INPUTS 128
#define SAGA_SPEC_MAX_DEPTH 32
#define SAGA_SPEC_MAX_STRING 4096
#define SAGA_SPEC_MAX_NAME 63
/* Largest saga input accepted by saga_spec_check_input, in bytes of JSON. */
#define SAGA_INPUT_MAX_BYTES (256 * 1024)
/* Upper bounds on durations and attempts, so deadline and backoff
 * arithmetic can never overflow. */
#define SAGA_SPEC_MAX_TIMEOUT_MS (24LL * 3600 * 1000)
#define SAGA_SPEC_MAX_STUCK_AFTER_MS (30LL * 24 * 3600 * 1000)
#define SAGA_SPEC_MAX_ATTEMPTS 1000
#define SAGA_SPEC_MAX_DEADLINE_MS (30LL * 24 * 3600 * 1000)
#define SAGA_SPEC_MAX_MULTIPLIER 100
/* A signal step waits at most this long for its decision. */
#define SAGA_SPEC_MAX_SIGNAL_TIMEOUT_MS (30LL * 24 * 3600 * 1000)
/* Sub-sagas nest at most this deep (a parent with a child is depth 2);
 * checked with cycles across definitions when a spec is applied (defs.c). */
#define SAGA_SUBSAGA_MAX_DEPTH 4
/* Diagnostics kept per file; the rest are counted, not listed. */
#define SAGA_SPEC_MAX_ERRORS 100

/* What applies when "defaults" (or a part of it) is left out. */
#define SAGA_SPEC_DEFAULT_TIMEOUT_MS 30000
#define SAGA_SPEC_DEFAULT_STUCK_AFTER_MS 300000
#define SAGA_SPEC_DEFAULT_MAX_ATTEMPTS 3
#define SAGA_SPEC_DEFAULT_INITIAL_BACKOFF_MS 200
#define SAGA_SPEC_DEFAULT_MAX_BACKOFF_MS 10000
#define SAGA_SPEC_DEFAULT_MULTIPLIER 2.0
#define SAGA_SPEC_DEFAULT_JITTER 0.2

typedef enum saga_field_type {
    SAGA_FIELD_STRING,
    SAGA_FIELD_INTEGER,
    SAGA_FIELD_NUMBER,
    SAGA_FIELD_BOOLEAN,
    SAGA_FIELD_OBJECT,
    SAGA_FIELD_ARRAY
} saga_field_type;

typedef struct saga_input_field {
    char *name;
    saga_field_type type;
    bool required; /* default true */
} saga_input_field;

typedef struct saga_retry_policy {
    int max_attempts;           /* >= 1; bounds RESERVE only: confirm and
                                   compensate retry for ever */
    int64_t initial_backoff_ms; /* > 0 */
    int64_t max_backoff_ms;     /* >= initial_backoff_ms */
    double multiplier;          /* >= 1 */
    double jitter;              /* 0..1: fraction of the delay randomised away */
} saga_retry_policy;

/* The circuit breaker of a step's participant (docs/spec.md "circuit",
 * spec_circuit.c). Zero in failures/window_ms/cooldown_ms means "not set
 * here": sagad's circuit.* configuration decides. */
typedef enum saga_circuit_on_open {
    SAGA_CIRCUIT_WAIT = 0, /* hold the RESERVE until the circuit closes */
    SAGA_CIRCUIT_REJECT    /* compensate at once: "circuit open" */
} saga_circuit_on_open;

typedef struct saga_circuit_policy {
    int failures;          /* failures within window_ms that open it; 0 = unset */
    int64_t window_ms;     /* 0 = unset */
    int64_t cooldown_ms;   /* open this long before a probe; 0 = unset */
    saga_circuit_on_open on_open;
} saga_circuit_policy;

typedef struct saga_phase {
    char *command; /* NULL when the phase is absent */
    json_t *payload; /* template (owned); JSON null when the phase is
                        absent, {} when the phase gives no payload */
} saga_phase;

/* What runs a step (docs/spec.md). */
typedef enum saga_step_kind {
    SAGA_STEP_TASK = 0, /* a participant's reserve / confirm / compensate */
    SAGA_STEP_SIGNAL,   /* waits for an outside approve or reject; timeout_ms
                           is how long; no participant, no commands */
    SAGA_STEP_SAGA      /* runs definition `subsaga` as a child saga: reserve
                           payload = the child's input template; the phases
                           carry the internal commands "start", "confirm" and
                           "compensate" so the machine treats it as a task */
} saga_step_kind;

typedef struct saga_step_def {
    char *name;
    saga_step_kind kind;
    char *subsaga;   /* SAGA_STEP_SAGA: the child's definition name; else NULL */
    char *participant; /* NULL for signal and sub-saga steps */
    char *topic;       /* the "topic" key or "saga.<participant>.commands";
                          NULL for signal and sub-saga steps */
    size_t *after;   /* indices into saga_spec.steps, all < this step's index
                        is NOT guaranteed; the graph is acyclic */
    size_t n_after;
    saga_phase reserve;    /* always present */
    saga_phase confirm;    /* command NULL: done when reserve succeeds */
    saga_phase compensate; /* command NULL only when irreversible */
    bool irreversible;
    int64_t timeout_ms;       /* resolved against defaults */
    saga_retry_policy retry;  /* resolved against defaults */
    saga_circuit_policy circuit; /* resolved against defaults.circuit */
} saga_step_def;

typedef struct saga_spec {
    char *name;
    int version;
    char *description; /* "" when absent */
    saga_input_field *inputs;
    size_t n_inputs;
    int64_t timeout_ms;      /* defaults.timeout_ms */
    saga_retry_policy retry; /* defaults.retry */
    int64_t stuck_after_ms;  /* defaults.stuck_after_ms */
    saga_circuit_policy circuit; /* defaults.circuit */
    int64_t deadline_ms;     /* "deadline_ms": the whole saga's; 0 = none */
    json_t *tags;            /* "tags": {key: template string} (owned), or
                                NULL when the spec declares none */
    saga_step_def *steps;
    size_t n_steps;          /* 1..SAGA_SPEC_MAX_STEPS */
    char *canonical;         /* canonical JSON text (sorted keys, compact,
                                defaults not expanded): what is stored */
    char sha256[65];         /* hex SHA-256 of canonical */
} saga_spec;

/* A list of diagnostics, one line each ("file:line:col: path: message"),
 * optionally followed by "hint: ..." lines. Owned by the caller. */
typedef struct saga_diag {
    char **lines;
    size_t n;
    size_t n_errors; /* lines that are errors (hints do not count) */
} saga_diag;

void saga_diag_init(saga_diag *d);
void saga_diag_free(saga_diag *d);

/*
 * Parses and validates a spec held in buf[0..len). `file` is only used in
 * messages. On success returns 0 and sets *out (owned; free with
 * saga_spec_free). On failure returns SAGA_EINVAL (SAGA_ELIMIT when one of
 * the errors is a size limit, SAGA_ENOMEM when memory ran out), appends every
 * error to diag (may be NULL; lines are sorted by position, at most
 * SAGA_SPEC_MAX_ERRORS of them), sets *out to NULL, and sets err to a
 * one-line summary ("sagas/x.json: 3 errors"). Never crashes, hangs or leaks
 * on any input.
 */
int saga_spec_parse(const char *file, const char *buf, size_t len,
                    saga_spec **out, saga_diag *diag, saga_error *err);


void saga_spec_free(saga_spec *spec);

/* Index of the step named `name`, or -1. */
int saga_spec_step_index(const saga_spec *spec, const char *name);

/*
 * Checks a start request's input (borrowed) against the spec: missing
 * required fields, wrong types, unknown fields, size limit. Returns 0,
 * SAGA_EINVAL with a message naming the field, e.g.
 * `input.qty: expected integer, got string`, or SAGA_ELIMIT when the input
 * is larger than SAGA_INPUT_MAX_BYTES (the message gives both sizes).
 */
int saga_spec_check_input(const saga_spec *spec, const json_t *input,
                          saga_error *err);

#endif
