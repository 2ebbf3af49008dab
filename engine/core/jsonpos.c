/*
 * jsonpos.c - the position-tracking JSON reader (interface in jsonpos.h).
 *
 * A small recursive-descent parser of our own, because jansson knows
 * positions only for syntax errors. It is strict JSON (RFC 8259) and
 * nothing more: no comments, no trailing commas, UTF-8 only, no NUL in
 * strings; each refusal says why and, where a common slip explains it,
 * hints at the fix. Input comes from users and from the fuzzer alike, so
 * nesting depth and string length are bounded (SAGA_SPEC_MAX_DEPTH,
 * SAGA_SPEC_MAX_STRING) and nothing recurses deeper than the depth limit.
 */
#include "jsonpos.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_NODE UINT32_MAX

/* --- node arena ----------------------------------------------------------- */

typedef struct jp {
    jsonpos_doc *doc;
    spec_diag *diag;
    const unsigned char *s;
    size_t n, i;
    int line, col; /* 1-based; columns count characters, not bytes */
    int depth;
    saga_buf str;  /* the string being decoded */
} jp;

#define NODE(p, i) ((p)->doc->nodes[(i)])

static uint32_t node_new(jp *p)
{
    jsonpos_doc *doc = p->doc;
    if (doc->n_nodes == doc->cap_nodes) {
        size_t cap = doc->cap_nodes ? doc->cap_nodes * 2 : 256;
        jsonpos_node *n = realloc(doc->nodes, cap * sizeof *n);
        if (!n) {
            p->diag->oom = true;
            return NO_NODE;
        }
        doc->nodes = n;
        doc->cap_nodes = cap;
    }
    uint32_t i = (uint32_t)doc->n_nodes++;
    doc->nodes[i] = (jsonpos_node){.line = p->line, .col = p->col};
    return i;
}

/* Drops the nodes from `mark` on (a discarded duplicate member's value). */
static void nodes_truncate(jsonpos_doc *doc, size_t mark)
{
    for (size_t i = mark; i < doc->n_nodes; i++)
        free(doc->nodes[i].key);
    doc->n_nodes = mark;
}

/* Appends node kid to container self's children; *last is its last child
 * so far (0 when none). */
static void link_kid(jp *p, uint32_t self, uint32_t *last, uint32_t kid)
{
    if (*last)
        NODE(p, *last).next = kid;
    else
        NODE(p, self).first = kid;
    *last = kid;
    NODE(p, self).n_kids++;
}

uint32_t jsonpos_member(const jsonpos_doc *doc, uint32_t obj, const char *key)
{
    for (uint32_t k = doc->nodes[obj].first; k; k = doc->nodes[k].next)
        if (strcmp(doc->nodes[k].key, key) == 0)
            return k;
    return 0;
}

void jsonpos_free(jsonpos_doc *doc)
{
    nodes_truncate(doc, 0);
    free(doc->nodes);
    json_decref(doc->root);
}

/* --- the parser ----------------------------------------------------------- */

static int peek(const jp *p)
{
    return p->i < p->n ? p->s[p->i] : -1;
}

static void adv(jp *p)
{
    unsigned char c = p->s[p->i++];
    if (c == '\n') {
        p->line++;
        p->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        p->col++;
    }
}

static void describe(int c, char out[24])
{
    if (c < 0)
        snprintf(out, 24, "end of file");
    else if (c == 0)
        snprintf(out, 24, "NUL byte");
    else if (c > 0x20 && c < 0x7f)
        snprintf(out, 24, "'%c'", c);
    else
        snprintf(out, 24, "byte 0x%02x", (unsigned)c);
}

static int __attribute__((format(printf, 4, 5)))
jp_fail_at(jp *p, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    spec_diag_verror(p->diag, line, col, false, fmt, ap);
    va_end(ap);
    return -1;
}

#define jp_fail(p, ...) jp_fail_at((p), (p)->line, (p)->col, __VA_ARGS__)

static int jp_oom(jp *p)
{
    p->diag->oom = true;
    return -1;
}

static void jp_ws(jp *p)
{
    while (p->i < p->n) {
        unsigned char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        adv(p);
    }
}

/* Length of the valid UTF-8 sequence at s (avail bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < need; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return need;
}

static void put_utf8(saga_buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    saga_buf_putn(b, u, n);
}

/* Reads 4 hex digits after "\u"; -1 when they are not there. */
static long jp_hex4(jp *p)
{
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int c = peek(p);
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
        adv(p);
    }
    return v;
}

static int jp_escape(jp *p)
{
    int line = p->line, col = p->col;
    char what[24];

    adv(p);
    int c = peek(p);
    if (c < 0)
        return jp_fail(p, "unexpected end of file in a string");
    adv(p);
    switch (c) {
    case '"': case '\\': case '/': {
        char ch = (char)c;
        saga_buf_putn(&p->str, &ch, 1);
        return 0;
    }
    case 'b': saga_buf_putn(&p->str, "\b", 1); return 0;
    case 'f': saga_buf_putn(&p->str, "\f", 1); return 0;
    case 'n': saga_buf_putn(&p->str, "\n", 1); return 0;
    case 'r': saga_buf_putn(&p->str, "\r", 1); return 0;
    case 't': saga_buf_putn(&p->str, "\t", 1); return 0;
    case 'u': break;
    default:
        describe(c, what);
        return jp_fail_at(p, line, col, "invalid escape: backslash before %s",
                          what);
    }
    long cp = jp_hex4(p);
    if (cp < 0)
        return jp_fail_at(p, line, col,
                          "invalid \\u escape: expected 4 hex digits");
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return jp_fail_at(p, line, col,
                          "invalid \\u escape: unpaired surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (peek(p) != '\\' || p->i + 1 >= p->n || p->s[p->i + 1] != 'u')
            return jp_fail_at(p, line, col,
                              "invalid \\u escape: unpaired surrogate");
        adv(p);
        adv(p);
        long lo = jp_hex4(p);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return jp_fail_at(p, line, col,
                              "invalid \\u escape: unpaired surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return jp_fail_at(p, line, col,
                          "\\u0000 is not allowed in strings");
    put_utf8(&p->str, (unsigned long)cp);
    return 0;
}

/* Decodes the string at p (on its opening quote) into p->str. */
static int jp_string(jp *p)
{
    int line = p->line, col = p->col;

    saga_buf_trunc(&p->str, 0);
    adv(p);
    for (;;) {
        int c = peek(p);
        if (c < 0)
            return jp_fail_at(p, line, col, "unterminated string");
        if (c == '"') {
            adv(p);
            break;
        }
        if (c == '\\') {
            if (jp_escape(p) != 0)
                return -1;
            continue;
        }
        if (c == 0)
            return jp_fail(p, "NUL byte in a string");
        if (c < 0x20) {
            jp_fail(p, "control character 0x%02x in a string", (unsigned)c);
            if (c == '\n')
                spec_diag_hint(p->diag, "a string cannot span lines: is its "
                                        "closing quote missing? (write a line "
                                        "break as \\n)");
            else
                spec_diag_hint(p->diag, "escape it, e.g. \\t for a tab");
            return -1;
        }
        if (c < 0x80) {
            char ch = (char)c;
            saga_buf_putn(&p->str, &ch, 1);
            adv(p);
            continue;
        }
        size_t len = utf8_len(p->s + p->i, p->n - p->i);
        if (len == 0) {
            jp_fail(p, "invalid UTF-8 in a string");
            spec_diag_hint(p->diag, "a spec must be encoded in UTF-8");
            return -1;
        }
        saga_buf_putn(&p->str, (const char *)p->s + p->i, len);
        for (size_t k = 0; k < len; k++)
            adv(p);
    }
    if (p->str.oom)
        return jp_oom(p);
    if (p->str.len > SAGA_SPEC_MAX_STRING)
        spec_diag_limit(p->diag, line, col,
                        "string of %zu bytes is longer than the limit of %d "
                        "bytes",
                        p->str.len, SAGA_SPEC_MAX_STRING);
    return 0;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int jp_number(jp *p, json_t **out)
{
    size_t start = p->i;
    int line = p->line, col = p->col;
    bool integer = true;

    if (peek(p) == '-')
        adv(p);
    if (!is_digit(peek(p)))
        return jp_fail(p, "invalid number: expected a digit");
    if (peek(p) == '0') {
        adv(p);
        if (is_digit(peek(p)))
            return jp_fail(p, "invalid number: leading zeros are not allowed");
    } else {
        while (is_digit(peek(p)))
            adv(p);
    }
    if (peek(p) == '.') {
        integer = false;
        adv(p);
        if (!is_digit(peek(p)))
            return jp_fail(p, "invalid number: expected a digit after '.'");
        while (is_digit(peek(p)))
            adv(p);
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        integer = false;
        adv(p);
        if (peek(p) == '+' || peek(p) == '-')
            adv(p);
        if (!is_digit(peek(p)))
            return jp_fail(p, "invalid number: expected a digit in the "
                              "exponent");
        while (is_digit(peek(p)))
            adv(p);
    }

    size_t len = p->i - start;
    char small[64];
    char *text = len < sizeof small ? small : malloc(len + 1);
    if (!text)
        return jp_oom(p);
    memcpy(text, p->s + start, len);
    text[len] = '\0';
    if (integer) {
        errno = 0;
        long long v = strtoll(text, NULL, 10);
        if (errno == ERANGE) {
            spec_diag_error(p->diag, line, col, "integer is out of range");
            spec_diag_hint(p->diag,
                           "integers must fit in 64 bits (at most %lld)",
                           LLONG_MAX);
            v = 0;
        }
        *out = json_integer(v);
    } else {
        double d = strtod(text, NULL);
        if (!isfinite(d)) {
            spec_diag_error(p->diag, line, col, "number is out of range");
            d = 0;
        }
        *out = json_real(d);
    }
    if (text != small)
        free(text);
    return *out ? 0 : jp_oom(p);
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int jp_word(jp *p, json_t **out)
{
    spec_qbuf qb;
    int line = p->line, col = p->col;
    size_t start = p->i;
    while (is_alpha(peek(p)))
        adv(p);
    size_t len = p->i - start;
    const char *w = (const char *)p->s + start;
    if (len == 4 && memcmp(w, "true", 4) == 0)
        *out = json_true();
    else if (len == 5 && memcmp(w, "false", 5) == 0)
        *out = json_false();
    else if (len == 4 && memcmp(w, "null", 4) == 0)
        *out = json_null();
    else {
        jp_fail_at(p, line, col, "unexpected word %s, expected a value",
                   spec_quote(&qb, w, len));
        spec_diag_hint(p->diag, "the JSON literals are true, false and null; "
                                "strings are written in double quotes");
        return -1;
    }
    return 0;
}

static int jp_value(jp *p, uint32_t *out);

/* Opens a container at p (on its bracket), refusing nesting past the
 * limit. */
static int jp_descend(jp *p)
{
    if (p->depth >= SAGA_SPEC_MAX_DEPTH) {
        spec_diag_limit(p->diag, p->line, p->col,
                        "nesting is deeper than the limit of %d levels",
                        SAGA_SPEC_MAX_DEPTH);
        return -1;
    }
    p->depth++;
    adv(p);
    return 0;
}

/* Adds member kid (named key, owned; written at kline:kcol) to object self
 * unless the key is a duplicate, which is reported and dropped. */
static int jp_add_member(jp *p, uint32_t self, json_t *obj, uint32_t *last,
                         uint32_t kid, char *key, size_t nmark, int kline,
                         int kcol)
{
    if (json_object_get(obj, key)) {
        uint32_t first = jsonpos_member(p->doc, self, key);
        spec_diag_error(p->diag, kline, kcol, "duplicate key");
        if (first)
            spec_diag_hint(p->diag, "first given at line %d, column %d",
                           NODE(p, first).key_line, NODE(p, first).key_col);
        json_decref(NODE(p, kid).v);
        nodes_truncate(p->doc, nmark);
        free(key);
        return 0;
    }
    jsonpos_node *k = &NODE(p, kid);
    k->key = key;
    k->key_line = kline;
    k->key_col = kcol;
    if (json_object_set_new_nocheck(obj, key, k->v) != 0)
        return jp_oom(p);
    link_kid(p, self, last, kid);
    return 0;
}

/* Reads one "key": value member (p on the key's quote) into object self. */
static int jp_member(jp *p, uint32_t self, json_t *obj, uint32_t *last)
{
    char what[24];
    int kline = p->line, kcol = p->col;

    if (jp_string(p) != 0)
        return -1;
    char *key = strndup(saga_buf_str(&p->str), p->str.len);
    if (!key)
        return jp_oom(p);
    size_t mark = spec_path_key(p->diag, key);
    jp_ws(p);
    if (peek(p) != ':') {
        describe(peek(p), what);
        jp_fail(p, "expected ':' after the key, got %s", what);
        free(key);
        spec_path_leave(p->diag, mark);
        return -1;
    }
    adv(p);
    size_t nmark = p->doc->n_nodes;
    uint32_t kid;
    if (jp_value(p, &kid) != 0) {
        free(key);
        spec_path_leave(p->diag, mark);
        return -1;
    }
    int rc = jp_add_member(p, self, obj, last, kid, key, nmark, kline, kcol);
    spec_path_leave(p->diag, mark);
    return rc;
}

/* Reads one object member (idx unused) into v; p is past '{' or ','. */
static int jp_object_item(jp *p, uint32_t self, json_t *v, uint32_t *last,
                          size_t idx)
{
    char what[24];
    int c = peek(p);

    (void)idx;
    if (c == '"')
        return jp_member(p, self, v, last);
    describe(c, what);
    if (c == '}')
        jp_fail(p, "expected a key after ',' (trailing commas are not "
                   "allowed)");
    else
        jp_fail(p, "expected a string key, got %s", what);
    return -1;
}

/* Reads array element idx into v; p is past '[' or ','. */
static int jp_array_item(jp *p, uint32_t self, json_t *v, uint32_t *last,
                         size_t idx)
{
    if (peek(p) == ']') {
        jp_fail(p, "expected a value after ',' (trailing commas are not "
                   "allowed)");
        return -1;
    }
    size_t mark = spec_path_index(p->diag, idx);
    uint32_t kid;
    int rc = jp_value(p, &kid);
    spec_path_leave(p->diag, mark);
    if (rc != 0)
        return -1;
    if (json_array_append_new(v, NODE(p, kid).v) != 0)
        return jp_oom(p);
    link_kid(p, self, last, kid);
    return 0;
}

typedef int (*jp_item_fn)(jp *p, uint32_t self, json_t *v, uint32_t *last,
                          size_t idx);

/* Reads a container (p on its opening bracket) into a new value from
 * make(), set in *out (owned by the caller). Items are separated by ','
 * and closed by `close`. */
static int jp_container(jp *p, uint32_t self, json_t *(*make)(void),
                        int close, jp_item_fn item, json_t **out)
{
    char what[24];
    uint32_t last = 0;

    if (jp_descend(p) != 0)
        return -1;
    json_t *v = make();
    if (!v)
        return jp_oom(p);
    jp_ws(p);
    if (peek(p) == close) {
        adv(p);
        goto done;
    }
    for (size_t idx = 0;; idx++) {
        jp_ws(p);
        if (item(p, self, v, &last, idx) != 0)
            goto bad;
        jp_ws(p);
        int c = peek(p);
        if (c == ',') {
            adv(p);
            continue;
        }
        if (c == close) {
            adv(p);
            break;
        }
        describe(c, what);
        jp_fail(p, "expected ',' or '%c' after %s, got %s", close,
                close == '}' ? "an object member" : "an array element", what);
        if (c == '"' || (close == ']' && (c == '{' || c == '[')))
            spec_diag_hint(p->diag, "is a ',' missing before it?");
        goto bad;
    }
done:
    p->depth--;
    *out = v;
    return 0;
bad:
    json_decref(v);
    return -1;
}

static int jp_value(jp *p, uint32_t *out)
{
    char what[24];
    json_t *v = NULL;
    int rc;

    jp_ws(p);
    int c = peek(p);
    if (c < 0)
        return jp_fail(p, "unexpected end of file, expected a value");
    uint32_t self = node_new(p);
    if (self == NO_NODE)
        return -1;
    if (c == '{') {
        rc = jp_container(p, self, json_object, '}', jp_object_item, &v);
    } else if (c == '[') {
        rc = jp_container(p, self, json_array, ']', jp_array_item, &v);
    } else if (c == '"') {
        rc = jp_string(p);
        if (rc == 0 && !(v = json_stringn(saga_buf_str(&p->str), p->str.len)))
            rc = jp_oom(p);
    } else if (c == '-' || is_digit(c)) {
        rc = jp_number(p, &v);
    } else if (is_alpha(c)) {
        rc = jp_word(p, &v);
    } else {
        describe(c, what);
        if (c >= 0x80) {
            jp_fail(p, "unexpected %s, expected a value", what);
            spec_diag_hint(p->diag, "text outside strings must be plain JSON "
                                    "(ASCII punctuation, numbers, true, "
                                    "false, null)");
            return -1;
        }
        return jp_fail(p, "unexpected %s, expected a value", what);
    }
    if (rc != 0)
        return -1;
    NODE(p, self).v = v;
    *out = self;
    return 0;
}

int jsonpos_parse(jsonpos_doc *doc, spec_diag *d, const char *buf,
                  size_t len)
{
    jp p = {.doc = doc, .diag = d, .s = (const unsigned char *)buf, .n = len,
            .line = 1, .col = 1};
    char what[24];
    uint32_t root;
    int rc;

    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        p.i = 3;
    rc = jp_value(&p, &root);
    if (rc == 0) {
        doc->root = NODE(&p, root).v;
        jp_ws(&p);
        if (p.i < p.n) {
            describe(peek(&p), what);
            rc = jp_fail(&p, "unexpected %s after the end of the JSON value",
                         what);
        }
    }
    saga_buf_free(&p.str);
    return rc;
}
