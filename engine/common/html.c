/*
 * html.c - escaping for the console's pages (see html.h for the contract).
 *
 * Five characters are enough for element text and quoted attribute values;
 * the console never writes outside values into unquoted attributes, URLs'
 * schemes, <script> or style, which is what keeps five enough.
 */
#include "html.h"

#include <string.h>

void saga_html_escape(saga_buf *b, const char *s)
{
    if (!s)
        return;
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *ent = NULL;
        switch (*p) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: continue;
        }
        saga_buf_putn(b, run, (size_t)(p - run));
        saga_buf_puts(b, ent);
        run = p + 1;
    }
    saga_buf_puts(b, run);
}

void saga_url_encode(saga_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
            saga_buf_putn(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            saga_buf_putn(b, e, 3);
        }
    }
}
