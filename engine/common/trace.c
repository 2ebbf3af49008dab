/*
 * trace.c - W3C traceparent parsing and generation.
 *
 * Validation is strict (lower-case hex, fixed positions, no all-zero ids)
 * because a malformed traceparent copied into every log line would make a
 * trace impossible to follow; callers replace an invalid one with a fresh
 * trace rather than propagate it. Ids come from the kernel's CSPRNG: trace
 * ids must not collide across processes started in the same instant, which
 * a time- or pid-seeded PRNG cannot promise.
 */
#include "trace.h"

#include "error.h"
#include "random.h"

#include <stdbool.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Checks n lower-case hex digits at s; reports whether any is non-zero. */
static bool hex_field(const char *s, size_t n, bool *nonzero)
{
    bool nz = false;
    for (size_t i = 0; i < n; i++) {
        int v = hexval(s[i]);
        if (v < 0)
            return false;
        if (v)
            nz = true;
    }
    if (nonzero)
        *nonzero = nz;
    return true;
}

int saga_trace_parse(const char *tp, saga_trace *out)
{
    memset(out, 0, sizeof *out);
    if (!tp)
        return SAGA_EINVAL;
    size_t len = strnlen(tp, SAGA_TRACEPARENT_LEN + 1);
    if (len < SAGA_TRACEPARENT_LEN)
        return SAGA_EINVAL;
    if (tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return SAGA_EINVAL;
    bool trace_nz, parent_nz;
    if (!hex_field(tp, 2, NULL) || !hex_field(tp + 3, 32, &trace_nz) ||
        !hex_field(tp + 36, 16, &parent_nz) || !hex_field(tp + 53, 2, NULL))
        return SAGA_EINVAL;
    int version = hexval(tp[0]) * 16 + hexval(tp[1]);
    if (version == 0xff || !trace_nz || !parent_nz)
        return SAGA_EINVAL;
    if (len > SAGA_TRACEPARENT_LEN && (version == 0 || tp[55] != '-'))
        return SAGA_EINVAL;
    out->version = (uint8_t)version;
    memcpy(out->trace_id, tp + 3, 32);
    memcpy(out->parent_id, tp + 36, 16);
    out->flags = (uint8_t)(hexval(tp[53]) * 16 + hexval(tp[54]));
    return 0;
}

void saga_trace_format(const saga_trace *t, char out[SAGA_TRACEPARENT_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned flags = t->flags & SAGA_TRACE_SAMPLED;
    memcpy(out, "00-", 3);
    memcpy(out + 3, t->trace_id, 32);
    out[35] = '-';
    memcpy(out + 36, t->parent_id, 16);
    out[52] = '-';
    out[53] = hex[flags >> 4];
    out[54] = hex[flags & 15];
    out[55] = '\0';
}


/* n random bytes as 2n hex digits, never all zeros (the spec forbids it). */
static void random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    bool nz;
    do {
        saga_random_bytes(b, nbytes);
        nz = false;
        for (size_t i = 0; i < nbytes; i++)
            nz |= b[i] != 0;
    } while (!nz);
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

void saga_trace_new(char out[SAGA_TRACEPARENT_SIZE])
{
    saga_trace t = {.version = 0, .flags = SAGA_TRACE_SAMPLED};
    random_hex(t.trace_id, 16);
    random_hex(t.parent_id, 8);
    saga_trace_format(&t, out);
}

void saga_trace_child(const char *parent, char out[SAGA_TRACEPARENT_SIZE])
{
    saga_trace t;
    if (saga_trace_parse(parent, &t) != 0) {
        saga_trace_new(out);
        return;
    }
    random_hex(t.parent_id, 8);
    saga_trace_format(&t, out);
}

int saga_trace_id(const char *tp, char out[33])
{
    saga_trace t;
    if (saga_trace_parse(tp, &t) != 0) {
        out[0] = '\0';
        return SAGA_EINVAL;
    }
    memcpy(out, t.trace_id, 33);
    return 0;
}
