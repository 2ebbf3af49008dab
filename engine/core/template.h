/*
 * template.h - payload templates.
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * A template is any JSON value. A string that is exactly "${ref}" is replaced
 * by the referenced value with its JSON type kept; "${ref}" inside a longer
 * string is replaced by the value's text (strings unquoted, other values as
 * compact JSON). References:
 *   ${input.FIELD}                         a field of the saga input
 *   ${steps.STEP.reserve.result.FIELD}     a field of STEP's RESERVE reply payload
 *   ${steps.STEP.signal.data.FIELD}        a field of the data a signal step
 *                                          was approved with (same slot)
 *   ${saga.id}  ${saga.name}
 * FIELD may be a dotted path into nested objects (input.address.city).
 * A reference whose value is absent at run time (an optional input field not
 * given, a reserve whose reply never came) renders as JSON null, or as the
 * empty string inside a longer string: compensation of a step whose outcome is
 * unknown must still be sent, and the participant finds its own record by the
 * idempotency key.
 */
#ifndef SAGA_TEMPLATE_H
#define SAGA_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"
#include "spec.h"

typedef struct saga_template_ctx {
    const char *saga_id;
    const char *saga_name;
    const json_t *input;          /* borrowed; the saga input object */
    const saga_spec *spec;        /* borrowed; resolves step names */
    const json_t *const *results; /* borrowed; results[i] = step i's reserve
                                     reply payload, or NULL if none yet */
} saga_template_ctx;

/* Renders tmpl (borrowed). Returns a new reference (owned by the caller:
 * json_decref) or NULL with err set (malformed reference, unknown step,
 * out of memory, or SAGA_ELIMIT when the result would exceed
 * SAGA_TEMPLATE_MAX_BYTES). */
json_t *saga_template_render(const json_t *tmpl, const saga_template_ctx *ctx,
                             saga_error *err);

/* Largest rendered payload, in bytes of compact JSON (roughly): a Kafka
 * message must stay under the broker's default message.max.bytes. */
#define SAGA_TEMPLATE_MAX_BYTES (900 * 1024)

/*
 * Scanning, shared by rendering and by the spec validator (which checks every
 * reference when a spec is applied, not when a saga runs). A template string
 * is a sequence of pieces: literal text and references. "$${" is the escape
 * for a literal "${".
 */
typedef enum saga_template_piece_kind {
    SAGA_PIECE_TEXT = 0,   /* literal text: text[0..len) */
    SAGA_PIECE_INPUT,      /* ${input.PATH} */
    SAGA_PIECE_STEP,       /* ${steps.STEP.reserve.result.PATH} or
                              ${steps.STEP.signal.data.PATH} */
    SAGA_PIECE_SAGA_ID,    /* ${saga.id} */
    SAGA_PIECE_SAGA_NAME   /* ${saga.name} */
} saga_template_piece_kind;

/* All pointers point into the scanned string (borrowed, not NUL-terminated). */
typedef struct saga_template_piece {
    saga_template_piece_kind kind;
    const char *text;  /* TEXT: the literal; otherwise the whole "${...}" */
    size_t len;
    const char *step;  /* STEP: the step name */
    bool signal;       /* STEP: written ${steps.STEP.signal.data.PATH} */
    size_t step_len;
    const char *path;  /* INPUT, STEP: dotted field path, e.g. "address.city" */
    size_t path_len;
} saga_template_piece;

/* Called once per piece, in order; a non-zero return stops the scan and is
 * returned by saga_template_scan. */
typedef int (*saga_template_piece_fn)(const saga_template_piece *piece,
                                      void *arg);

/*
 * Splits s[0..len) into pieces. Returns 0, the callback's non-zero value, or
 * SAGA_EINVAL with err set for a malformed reference (message quotes it,
 * e.g. `unknown reference "${inpt.sku}"`, hint gives the accepted forms).
 */
int saga_template_scan(const char *s, size_t len, saga_template_piece_fn fn,
                       void *arg, saga_error *err);

#endif
