/*
 * trace.h - W3C Trace Context (traceparent) for following one saga across
 * sagad, Kafka and every participant.
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * A traceparent is "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>",
 * 55 characters. sagad takes it from the start request (or makes a new one),
 * derives a child for every command it sends (same trace id, new span id),
 * carries it in the Kafka header SAGA_TRACE_HEADER and in the protobuf
 * message, and writes it in every log line (saga_log_ctx.traceparent).
 *
 * Everything here works on caller-provided fixed buffers: no allocation, no
 * global state beyond the kernel's random source, safe from any thread.
 */
#ifndef SAGA_TRACE_H
#define SAGA_TRACE_H

#include <stdint.h>

/* Kafka message header carrying the traceparent. */
#define SAGA_TRACE_HEADER "traceparent"

/* strlen of a version-00 traceparent, and the buffer size to hold one. */
#define SAGA_TRACEPARENT_LEN 55
#define SAGA_TRACEPARENT_SIZE 56

/* The "sampled" bit of trace flags. */
#define SAGA_TRACE_SAMPLED 0x01

typedef struct saga_trace {
    uint8_t version;     /* 0x00 for the current spec; 0xff is never valid */
    char trace_id[33];   /* 32 lower-case hex digits, NUL-terminated */
    char parent_id[17];  /* 16 lower-case hex digits, NUL-terminated */
    uint8_t flags;       /* bit 0 = sampled; other bits carried, not interpreted */
} saga_trace;

/* Parses and validates tp per W3C Trace Context level 1: lower-case hex only,
 * version not "ff", trace id and parent id not all zeros; version 00 must be
 * exactly 55 characters, a higher version may be longer if character 55 is
 * '-' (its extra fields are ignored, as the spec requires). Returns 0 and
 * fills out, or SAGA_EINVAL (out is then zeroed). tp may be NULL (invalid). */
int saga_trace_parse(const char *tp, saga_trace *out);

/* Formats t as a version-00 traceparent into out (always 55 chars + NUL).
 * Only the sampled flag is kept: level 1 defines no other flag. */
void saga_trace_format(const saga_trace *t, char out[SAGA_TRACEPARENT_SIZE]);

/* A new trace: random trace id and parent id (getrandom, falling back to
 * /dev/urandom), sampled. */
void saga_trace_new(char out[SAGA_TRACEPARENT_SIZE]);

/* A child span of parent: same trace id and sampled flag, new random parent
 * id. When parent is NULL, empty or invalid, starts a new trace instead, so
 * callers can pass whatever arrived on the wire. out may not alias parent. */
void saga_trace_child(const char *parent, char out[SAGA_TRACEPARENT_SIZE]);

/* Copies the trace id of tp into out (32 hex + NUL). Returns 0, or
 * SAGA_EINVAL with out set to "" when tp is not a valid traceparent. */
int saga_trace_id(const char *tp, char out[33]);

#endif
