/*
 * idprefix.h - saga ids as operators type them: whole, or any unique prefix.
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * Saga ids are UUIDs, and nobody retypes 36 characters during an incident,
 * so `sagactl show 6f1c2a` works like a short git hash. A prefix becomes a
 * closed range [lo, hi] of UUIDs, which PostgreSQL answers from the primary
 * key index (uuid order is the order of the hex text), so resolving a
 * prefix costs one index probe however many sagas there are. The ids nearest
 * to an unknown prefix in that order are also the ones sharing its longest
 * prefix, which is what a "did you mean" needs.
 */
#ifndef SAGA_IDPREFIX_H
#define SAGA_IDPREFIX_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define SAGA_UUID_TEXT_LEN 36
#define SAGA_UUID_HEX_LEN 32

typedef struct saga_idprefix {
    char hex[SAGA_UUID_HEX_LEN + 1];    /* the typed hex digits, lower case */
    size_t n_hex;                       /* 1..32 */
    char lo[SAGA_UUID_TEXT_LEN + 1];    /* prefix padded with 0s, UUID form */
    char hi[SAGA_UUID_TEXT_LEN + 1];    /* prefix padded with fs, UUID form */
} saga_idprefix;

/*
 * Parses an id or prefix: 1 to 32 hex digits in any case, dashes allowed
 * anywhere (they are ignored). Returns 0 or SAGA_EINVAL naming the first
 * character that is not a hex digit. A complete id has n_hex == 32 and
 * lo == hi == the canonical id.
 */
int saga_idprefix_parse(const char *s, saga_idprefix *out, saga_error *err);

/* How many leading hex digits of the UUID text `id` match p. */
size_t saga_idprefix_common(const saga_idprefix *p, const char *id);

#endif
