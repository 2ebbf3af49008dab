/*
 * sha256.h - SHA-256 (FIPS 180-4), for definition checksums and migration
 * checksums. Self-contained so the spec validator needs no crypto library.
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 */
#ifndef SAGA_SHA256_H
#define SAGA_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Digest of data[0..len) into out[32]. */
void saga_sha256(const void *data, size_t len, uint8_t out[32]);

/* Lower-case hex digest into out[65] (NUL-terminated). */
void saga_sha256_hex(const void *data, size_t len, char out[65]);

#endif
