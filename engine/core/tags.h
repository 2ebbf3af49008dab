/*
 * tags.h - business keys on a saga ("order" = "o-1"), for finding it again.
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * A saga's tags are a flat JSON object of strings, stored beside its input
 * and indexed, so support can look a saga up by order id without knowing
 * its UUID. They come from two places: the spec's "tags" templates
 * (rendered from the input when the saga is created, so every start gets
 * them) and the start request (which wins on a shared key). The rules for
 * keys and values live here so the spec parser, saga_start, sagad's
 * StartSaga consumer and sagactl refuse the same things with the same words.
 * Pure: no I/O.
 */
#ifndef SAGA_TAGS_H
#define SAGA_TAGS_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"
#include "spec.h"

/* Documented limits (docs/spec.md). */
#define SAGA_TAGS_MAX 16
#define SAGA_TAG_KEY_MAX 63
#define SAGA_TAG_VALUE_MAX 256

/* Whether key is 1..SAGA_TAG_KEY_MAX bytes of letters, digits, '_', '-'
 * and '.'; SAGA_EINVAL with a message naming it and a hint otherwise. */
int saga_tag_key_check(const char *key, saga_error *err);
/* Whether value is valid UTF-8 of at most SAGA_TAG_VALUE_MAX bytes. */
int saga_tag_value_check(const char *key, const char *value, saga_error *err);

/* Parses "key=value" (as sagactl --tag takes it) into obj (borrowed: a
 * JSON object it adds to). Returns 0 or SAGA_EINVAL: no '=', an empty or
 * malformed key, a bad value, a key given twice, too many tags. */
int saga_tag_parse(const char *kv, json_t *obj, saga_error *err);

/* Checks a whole set of tags given with a start request (borrowed; NULL
 * or an object of string values). Returns 0 or SAGA_EINVAL. */
int saga_tags_check(const json_t *tags, saga_error *err);

/*
 * The tags of a new saga: spec's templates rendered against input (a
 * template whose value is absent renders no tag), then `given` (borrowed,
 * checked with saga_tags_check; may be NULL) on top. *out is a new object
 * (owned; json_decref), {} when there are none. Returns 0, SAGA_EINVAL
 * (a rendered value breaks the value rule: the message names the tag) or
 * SAGA_ENOMEM.
 */
int saga_tags_build(const saga_spec *spec, const json_t *input,
                    const char *saga_id, const json_t *given, json_t **out,
                    saga_error *err);

#endif
