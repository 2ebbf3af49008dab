/*
 * utf8.h - the one UTF-8 check, for every string that arrives from outside.
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * Replies and StartSaga messages (engine/inbound.c) and Commands
 * (workers/wire.c) carry strings that end up in PostgreSQL text columns,
 * which refuse malformed UTF-8 with an error that would abort a whole
 * batch; both refuse such a message up front with this same rule, so a
 * string one side accepts the other never rejects. Pure: in the core, so
 * the coordinator and the worker library share it.
 */
#ifndef SAGA_UTF8_H
#define SAGA_UTF8_H

#include <stdbool.h>

/* Whether s (NUL-terminated; NULL counts as "") is well-formed UTF-8:
 * no truncated or stray continuation bytes, no overlong forms, no UTF-16
 * surrogates, nothing past U+10FFFF. */
bool saga_utf8_valid(const char *s);

#endif
