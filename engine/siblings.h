/*
 * siblings.h - which sagas await replies to commands sent together.
 *
 * Layer: engine (the coordinator's I/O shell; no I/O here); included by
 * engine/sagad only.
 *
 * A turn that sends a saga two or more commands at once (the confirms of
 * every step, parallel compensations) will see their replies arrive within
 * a millisecond or so of each other. Applied one per turn they cost the
 * saga a whole extra turn; sagad's loop asks this table whether a batch
 * holds nothing but replies whose sagas still await a sibling, and if so
 * waits briefly for the siblings (sagad.c). It is a hint, never a
 * correctness matter: a lost or stale entry only means one more turn.
 *
 * Fixed capacity, keys are saga ids as Kafka message keys (compared as
 * bytes). Entries older than SAGA_SIBLINGS_TTL_MS are reused.
 */
#ifndef SAGA_SIBLINGS_H
#define SAGA_SIBLINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAGA_SIBLINGS_KEY_MAX 64
#define SAGA_SIBLINGS_TTL_MS 30000

typedef struct saga_siblings saga_siblings;

/* A table of up to cap sagas (rounded up to a power of two); NULL when out
 * of memory. */
saga_siblings *saga_siblings_new(size_t cap);
void saga_siblings_free(saga_siblings *s);

/* A turn sent n commands with this key at now_ms: with n >= 2 the saga
 * awaits n replies (replacing what it awaited before); with n < 2 it
 * awaits nothing. A key too long or a full neighbourhood is not tracked. */
void saga_siblings_sent(saga_siblings *s, const void *key, size_t len, size_t n, int64_t now_ms);

/* A reply with this key was consumed. Returns true when its saga still
 * awaits another reply of the same group after this one. */
bool saga_siblings_replied(saga_siblings *s, const void *key, size_t len, int64_t now_ms);

/* Whether the saga still awaits a reply of a group (without counting). */
bool saga_siblings_awaits(const saga_siblings *s, const void *key, size_t len, int64_t now_ms);

/* Sagas tracked (for tests and metrics). */
size_t saga_siblings_count(const saga_siblings *s, int64_t now_ms);

#endif
