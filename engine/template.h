/*
 * template.h - payload templates.
 *
 * A template is any JSON value. A string that is exactly "${ref}" is replaced
 * by the referenced value with its JSON type kept; "${ref}" inside a longer
 * string is replaced by the value's text (strings unquoted, other values as
 * compact JSON). References:
 *   ${input.FIELD}                         a field of the saga input
 *   ${steps.STEP.reserve.result.FIELD}     a field of STEP's RESERVE reply payload
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
 * json_decref) or NULL with err set (malformed reference, out of memory). */
json_t *saga_template_render(const json_t *tmpl, const saga_template_ctx *ctx,
                             saga_error *err);

#endif
