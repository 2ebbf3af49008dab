/*
 * random.h - the one source of randomness: ids, trace ids, jitter.
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Everything random in sagad (saga UUIDs, W3C trace ids, retry jitter, the
 * CLI's jitter) comes from here, so there is one place that decides what
 * happens when the kernel cannot give randomness: never spin, never fail,
 * fall back to weaker bytes rather than to no id.
 */
#ifndef SAGA_RANDOM_H
#define SAGA_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n random bytes (see random.c for the fallbacks). */
void saga_random_bytes(void *buf, size_t n);

/* A uniformly random 32-bit value. */
uint32_t saga_random32(void);

/* A new random (version 4) UUID as text, 8-4-4-4-12, NUL-terminated. */
void saga_random_uuid(char out[37]);

#endif
