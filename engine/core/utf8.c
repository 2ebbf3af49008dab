/*
 * utf8.c - UTF-8 well-formedness (see utf8.h).
 *
 * Decodes each sequence to its code point rather than matching byte
 * ranges: the three rules that matter (shortest form, no surrogates,
 * at most U+10FFFF) then read as one comparison each.
 */
#include "utf8.h"

bool saga_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned cp = *p;
        int n;
        unsigned min;
        if (cp < 0x80) {
            p++;
            continue;
        } else if ((cp & 0xe0) == 0xc0) {
            n = 1, min = 0x80, cp &= 0x1f;
        } else if ((cp & 0xf0) == 0xe0) {
            n = 2, min = 0x800, cp &= 0x0f;
        } else if ((cp & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, cp &= 0x07;
        } else {
            return false;
        }
        /* A NUL inside a sequence fails the continuation test, so the loop
         * never reads past the terminator. */
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        p += n + 1;
    }
    return true;
}
