/*
 * idprefix.c - saga id prefixes to UUID ranges (see idprefix.h).
 */
#include "idprefix.h"

#include <ctype.h>
#include <string.h>

/* Writes 32 hex digits as 8-4-4-4-12. */
static void uuid_form(const char hex[SAGA_UUID_HEX_LEN], char out[SAGA_UUID_TEXT_LEN + 1])
{
    size_t k = 0;
    for (size_t i = 0; i < SAGA_UUID_HEX_LEN; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[k++] = '-';
        out[k++] = hex[i];
    }
    out[k] = '\0';
}

int saga_idprefix_parse(const char *s, saga_idprefix *out, saga_error *err)
{
    memset(out, 0, sizeof *out);
    for (const char *p = s; *p; p++) {
        if (*p == '-')
            continue;
        if (!isxdigit((unsigned char)*p)) {
            saga_error_set(err, SAGA_EINVAL,
                           "invalid saga id \"%.64s\": '%c' is not a hex digit",
                           s, isprint((unsigned char)*p) ? *p : '?');
            saga_error_hint(err, "a saga id is a UUID such as "
                                 "6f1c2a9e-0b7d-4c1e-9a4b-2f0e8d6c5b3a, or a "
                                 "unique prefix of one");
            return SAGA_EINVAL;
        }
        if (out->n_hex == SAGA_UUID_HEX_LEN) {
            saga_error_set(err, SAGA_EINVAL,
                           "invalid saga id \"%.64s\": more than 32 hex digits", s);
            return SAGA_EINVAL;
        }
        out->hex[out->n_hex++] = (char)tolower((unsigned char)*p);
    }
    if (out->n_hex == 0) {
        saga_error_set(err, SAGA_EINVAL, "empty saga id");
        saga_error_hint(err, "give a saga id or a unique prefix of one");
        return SAGA_EINVAL;
    }
    char lo[SAGA_UUID_HEX_LEN], hi[SAGA_UUID_HEX_LEN];
    memcpy(lo, out->hex, out->n_hex);
    memcpy(hi, out->hex, out->n_hex);
    memset(lo + out->n_hex, '0', SAGA_UUID_HEX_LEN - out->n_hex);
    memset(hi + out->n_hex, 'f', SAGA_UUID_HEX_LEN - out->n_hex);
    uuid_form(lo, out->lo);
    uuid_form(hi, out->hi);
    return 0;
}

size_t saga_idprefix_common(const saga_idprefix *p, const char *id)
{
    size_t n = 0;
    for (const char *q = id; *q && n < p->n_hex; q++) {
        if (*q == '-')
            continue;
        if (tolower((unsigned char)*q) != p->hex[n])
            break;
        n++;
    }
    return n;
}
