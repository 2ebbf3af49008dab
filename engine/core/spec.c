/*
 * spec.c - parsing and validating saga specs (the format is docs/spec.md).
 *
 * Every error must point at a line and column, and jansson knows positions
 * only for syntax errors, so the file is read by a small recursive-descent
 * JSON parser of our own. It builds the jansson tree (what the rest of sagad
 * uses) and, beside it, an arena of nodes holding each value's position and
 * each member's key position. Validation then walks the nodes and never stops
 * at the first problem: errors are collected and sorted by position at the
 * end, so a user fixes a whole file in one pass. Syntax errors are the
 * exception - after one, nothing that follows can be trusted.
 *
 * Specs come from users and from the fuzzer alike, so everything is bounded:
 * file size, nesting depth, string length, number of steps and of kept
 * messages. A spec has at most 64 steps, so dependency sets are uint64_t
 * bitmasks and the graph checks need no allocation.
 */
#include "spec.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "template.h"

/* How much of a user-supplied string a message quotes. */
#define QUOTE_MAX 64
/* Longest word the "did you mean" hint compares. */
#define SUGGEST_MAX 64

#define NO_NODE UINT32_MAX

/* --- growable strings ------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static bool sb_reserve(sbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_vprintf(sbuf *b, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0 || !sb_reserve(b, (size_t)n))
        return;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

static void sb_trunc(sbuf *b, size_t len)
{
    if (b->p && len <= b->len) {
        b->len = len;
        b->p[len] = '\0';
    }
}

static const char *sb_str(const sbuf *b)
{
    return b->p ? b->p : "";
}

/* A quoted string for a message: s[0..n) in double quotes, JSON-escaped,
 * cut at QUOTE_MAX bytes on a UTF-8 boundary, so that user text in a
 * message stays on one line and short. Each call site owns its buffer. */
typedef struct qbuf {
    char s[QUOTE_MAX * 6 + 8];
} qbuf;

static const char *q(qbuf *b, const char *s, size_t n)
{
    size_t o = 0;
    bool cut = false;
    if (n > QUOTE_MAX) {
        n = QUOTE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        cut = true;
    }
    b->s[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            b->s[o++] = '\\';
            b->s[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(b->s + o, sizeof b->s - o, "\\u%04x", c);
        } else {
            b->s[o++] = (char)c;
        }
    }
    if (cut) {
        memcpy(b->s + o, "...", 3);
        o += 3;
    }
    b->s[o++] = '"';
    b->s[o] = '\0';
    return b->s;
}

static const char *qs(qbuf *b, const char *s)
{
    return q(b, s, strlen(s));
}

/* --- parse state and diagnostics -------------------------------------------- */

/* One JSON value with its position. Children of a container are linked in
 * document order through first/next; index 0 is the root, so 0 doubles as
 * "no node" in links. */
typedef struct pnode {
    json_t *v;     /* borrowed: owned by the tree under spec_cx.root */
    char *key;     /* object member: its key (owned); NULL otherwise */
    uint32_t first, next, n_kids;
    int line, col; /* of the value's first character */
    int key_line, key_col;
} pnode;

typedef struct spec_msg {
    int line, col;
    size_t seq;
    char *text;
    char *hint; /* NULL when none */
} spec_msg;

typedef struct step_aux {
    uint32_t node;      /* the step's object; 0 when it is not an object */
    uint32_t after;     /* its "after" array; 0 when absent */
    uint32_t irrev;     /* its "irreversible" value; 0 when absent */
    const char *name;   /* borrowed from the built step; NULL if none */
    bool implicit;      /* no "after": runs after the previous step */
    uint64_t deps;      /* direct dependencies */
    uint64_t anc;       /* transitive dependencies */
    uint32_t edge_node[SAGA_SPEC_MAX_STEPS]; /* after entry naming step j */
    uint32_t edge_idx[SAGA_SPEC_MAX_STEPS];  /* its index in "after" */
} step_aux;

typedef struct spec_cx {
    const char *file;
    spec_msg *msgs;
    size_t n_msgs, cap_msgs;
    size_t n_errors;  /* all errors, kept or not */
    bool last_kept;   /* the latest error was kept: a hint may follow */
    bool limit;       /* some error was a size limit */
    bool oom;
    pnode *nodes;
    size_t n_nodes, cap_nodes;
    json_t *root;
    sbuf path;        /* JSON path of what is being looked at */
    saga_spec *spec;
    step_aux aux[SAGA_SPEC_MAX_STEPS];
    bool steps_ok;    /* spec->steps holds every step of the file */
    bool inputs_ok;   /* spec->inputs holds every declared field */
    bool graph_ok;    /* every "after" resolved and there is no cycle */
} spec_cx;

#define NODE(cx, i) ((cx)->nodes[(i)])

static void cx_verror(spec_cx *cx, int line, int col, bool limit,
                      const char *fmt, va_list ap)
{
    cx->n_errors++;
    cx->limit |= limit;
    cx->last_kept = false;
    if (cx->n_msgs >= SAGA_SPEC_MAX_ERRORS)
        return;
    if (cx->n_msgs == cx->cap_msgs) {
        size_t cap = cx->cap_msgs ? cx->cap_msgs * 2 : 8;
        spec_msg *m = realloc(cx->msgs, cap * sizeof *m);
        if (!m) {
            cx->oom = true;
            return;
        }
        cx->msgs = m;
        cx->cap_msgs = cap;
    }
    sbuf t = {0};
    sb_printf(&t, "%s:%d:%d: %s: ", cx->file, line, col,
              cx->path.len ? sb_str(&cx->path) : "(root)");
    sb_vprintf(&t, fmt, ap);
    if (t.oom) {
        free(t.p);
        cx->oom = true;
        return;
    }
    cx->msgs[cx->n_msgs] = (spec_msg){line, col, cx->n_msgs, t.p, NULL};
    cx->n_msgs++;
    cx->last_kept = true;
}

/* An error at a position, about the current path. */
static void __attribute__((format(printf, 4, 5)))
err_pos(spec_cx *cx, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cx_verror(cx, line, col, false, fmt, ap);
    va_end(ap);
}

/* A size-limit error at a position, about the current path. */
static void __attribute__((format(printf, 4, 5)))
limit_pos(spec_cx *cx, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cx_verror(cx, line, col, true, fmt, ap);
    va_end(ap);
}

/* An error at node n's value, about the current path. */
static void __attribute__((format(printf, 3, 4)))
err_at(spec_cx *cx, uint32_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cx_verror(cx, NODE(cx, n).line, NODE(cx, n).col, false, fmt, ap);
    va_end(ap);
}

/* An error at member n's key, about the current path. */
static void __attribute__((format(printf, 3, 4)))
err_key(spec_cx *cx, uint32_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cx_verror(cx, NODE(cx, n).key_line, NODE(cx, n).key_col, false, fmt, ap);
    va_end(ap);
}

/* Attaches a hint to the error just reported (if it was kept). */
static void __attribute__((format(printf, 2, 3)))
hint(spec_cx *cx, const char *fmt, ...)
{
    if (!cx->last_kept)
        return;
    sbuf h = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_puts(&h, "hint: ");
    sb_vprintf(&h, fmt, ap);
    va_end(ap);
    if (h.oom) {
        free(h.p);
        cx->oom = true;
        return;
    }
    spec_msg *m = &cx->msgs[cx->n_msgs - 1];
    free(m->hint);
    m->hint = h.p;
}

/* --- JSON paths ------------------------------------------------------------- */

static bool is_plain_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > QUOTE_MAX)
        return false;
    if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z') ||
          k[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
              (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
            return false;
    return true;
}

/* Appends ".key" (or ["key"] for keys that are not identifiers). */
static void path_put_key(sbuf *p, const char *key)
{
    if (is_plain_key(key)) {
        if (p->len)
            sb_putn(p, ".", 1);
        sb_puts(p, key);
    } else {
        qbuf b;
        sb_putn(p, "[", 1);
        sb_puts(p, qs(&b, key));
        sb_putn(p, "]", 1);
    }
}

static size_t enter_key(spec_cx *cx, const char *key)
{
    size_t mark = cx->path.len;
    path_put_key(&cx->path, key);
    return mark;
}

/* Enters member n of an object. */
static size_t enter(spec_cx *cx, uint32_t n)
{
    return enter_key(cx, NODE(cx, n).key);
}

static size_t enter_index(spec_cx *cx, size_t i)
{
    size_t mark = cx->path.len;
    sb_printf(&cx->path, "[%zu]", i);
    return mark;
}

static void leave(spec_cx *cx, size_t mark)
{
    sb_trunc(&cx->path, mark);
}

static void path_reset(spec_cx *cx)
{
    sb_trunc(&cx->path, 0);
}

/* --- node arena ------------------------------------------------------------- */

static uint32_t node_new(spec_cx *cx, int line, int col)
{
    if (cx->n_nodes == cx->cap_nodes) {
        size_t cap = cx->cap_nodes ? cx->cap_nodes * 2 : 256;
        pnode *n = realloc(cx->nodes, cap * sizeof *n);
        if (!n) {
            cx->oom = true;
            return NO_NODE;
        }
        cx->nodes = n;
        cx->cap_nodes = cap;
    }
    uint32_t i = (uint32_t)cx->n_nodes++;
    cx->nodes[i] = (pnode){.line = line, .col = col};
    return i;
}

/* Drops the nodes from `mark` on (a discarded duplicate member's value). */
static void nodes_truncate(spec_cx *cx, size_t mark)
{
    for (size_t i = mark; i < cx->n_nodes; i++)
        free(cx->nodes[i].key);
    cx->n_nodes = mark;
}

/* Member `key` of object node obj, or 0 when absent. */
static uint32_t member(spec_cx *cx, uint32_t obj, const char *key)
{
    for (uint32_t k = NODE(cx, obj).first; k; k = NODE(cx, k).next)
        if (strcmp(NODE(cx, k).key, key) == 0)
            return k;
    return 0;
}

/* --- the JSON parser ---------------------------------------------------------- */

typedef struct jp {
    spec_cx *cx;
    const unsigned char *s;
    size_t n, i;
    int line, col; /* 1-based; columns count characters, not bytes */
    int depth;
    sbuf str;      /* the string being decoded */
} jp;

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
    cx_verror(p->cx, line, col, false, fmt, ap);
    va_end(ap);
    return -1;
}

#define jp_fail(p, ...) jp_fail_at((p), (p)->line, (p)->col, __VA_ARGS__)

static int jp_oom(jp *p)
{
    p->cx->oom = true;
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

static void put_utf8(sbuf *b, unsigned long cp)
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
    sb_putn(b, u, n);
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
        sb_putn(&p->str, &ch, 1);
        return 0;
    }
    case 'b': sb_putn(&p->str, "\b", 1); return 0;
    case 'f': sb_putn(&p->str, "\f", 1); return 0;
    case 'n': sb_putn(&p->str, "\n", 1); return 0;
    case 'r': sb_putn(&p->str, "\r", 1); return 0;
    case 't': sb_putn(&p->str, "\t", 1); return 0;
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

    sb_trunc(&p->str, 0);
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
                hint(p->cx, "a string cannot span lines: is its closing "
                            "quote missing? (write a line break as \\n)");
            else
                hint(p->cx, "escape it, e.g. \\t for a tab");
            return -1;
        }
        if (c < 0x80) {
            char ch = (char)c;
            sb_putn(&p->str, &ch, 1);
            adv(p);
            continue;
        }
        size_t len = utf8_len(p->s + p->i, p->n - p->i);
        if (len == 0) {
            jp_fail(p, "invalid UTF-8 in a string");
            hint(p->cx, "a spec must be encoded in UTF-8");
            return -1;
        }
        sb_putn(&p->str, (const char *)p->s + p->i, len);
        for (size_t k = 0; k < len; k++)
            adv(p);
    }
    if (p->str.oom)
        return jp_oom(p);
    if (p->str.len > SAGA_SPEC_MAX_STRING)
        limit_pos(p->cx, line, col,
                  "string of %zu bytes is longer than the limit of %d bytes",
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
            err_pos(p->cx, line, col, "integer is out of range");
            hint(p->cx, "integers must fit in 64 bits (at most %lld)",
                 LLONG_MAX);
            v = 0;
        }
        *out = json_integer(v);
    } else {
        double d = strtod(text, NULL);
        if (!isfinite(d)) {
            err_pos(p->cx, line, col, "number is out of range");
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
    qbuf qb;
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
                   q(&qb, w, len));
        hint(p->cx, "the JSON literals are true, false and null; strings "
                    "are written in double quotes");
        return -1;
    }
    return 0;
}

static int jp_value(jp *p, uint32_t *out);

static int jp_object(jp *p, uint32_t self, json_t **out)
{
    spec_cx *cx = p->cx;
    char what[24];

    if (p->depth >= SAGA_SPEC_MAX_DEPTH) {
        limit_pos(cx, p->line, p->col,
                  "nesting is deeper than the limit of %d levels",
                  SAGA_SPEC_MAX_DEPTH);
        return -1;
    }
    p->depth++;
    adv(p);
    json_t *obj = json_object();
    if (!obj)
        return jp_oom(p);
    uint32_t last = 0;
    jp_ws(p);
    if (peek(p) == '}') {
        adv(p);
        goto done;
    }
    for (;;) {
        jp_ws(p);
        int c = peek(p);
        if (c != '"') {
            describe(c, what);
            if (c == '}')
                jp_fail(p, "expected a key after ',' (trailing commas are "
                           "not allowed)");
            else
                jp_fail(p, "expected a string key, got %s", what);
            goto bad;
        }
        int kline = p->line, kcol = p->col;
        if (jp_string(p) != 0)
            goto bad;
        char *key = strndup(sb_str(&p->str), p->str.len);
        if (!key) {
            jp_oom(p);
            goto bad;
        }
        size_t mark = enter_key(cx, key);
        jp_ws(p);
        if (peek(p) != ':') {
            describe(peek(p), what);
            jp_fail(p, "expected ':' after the key, got %s", what);
            free(key);
            leave(cx, mark);
            goto bad;
        }
        adv(p);
        size_t nmark = cx->n_nodes;
        uint32_t kid;
        if (jp_value(p, &kid) != 0) {
            free(key);
            leave(cx, mark);
            goto bad;
        }
        if (json_object_get(obj, key)) {
            uint32_t first = member(cx, self, key);
            err_pos(cx, kline, kcol, "duplicate key");
            if (first)
                hint(cx, "first given at line %d, column %d",
                     NODE(cx, first).key_line, NODE(cx, first).key_col);
            json_decref(NODE(cx, kid).v);
            nodes_truncate(cx, nmark);
            free(key);
        } else {
            pnode *k = &NODE(cx, kid);
            k->key = key;
            k->key_line = kline;
            k->key_col = kcol;
            if (json_object_set_new_nocheck(obj, key, k->v) != 0) {
                leave(cx, mark);
                jp_oom(p);
                goto bad;
            }
            if (last)
                NODE(cx, last).next = kid;
            else
                NODE(cx, self).first = kid;
            last = kid;
            NODE(cx, self).n_kids++;
        }
        leave(cx, mark);
        jp_ws(p);
        c = peek(p);
        if (c == ',') {
            adv(p);
            continue;
        }
        if (c == '}') {
            adv(p);
            break;
        }
        describe(c, what);
        jp_fail(p, "expected ',' or '}' after an object member, got %s", what);
        if (c == '"')
            hint(cx, "is a ',' missing before it?");
        goto bad;
    }
done:
    p->depth--;
    *out = obj;
    return 0;
bad:
    json_decref(obj);
    return -1;
}

static int jp_array(jp *p, uint32_t self, json_t **out)
{
    spec_cx *cx = p->cx;
    char what[24];

    if (p->depth >= SAGA_SPEC_MAX_DEPTH) {
        limit_pos(cx, p->line, p->col,
                  "nesting is deeper than the limit of %d levels",
                  SAGA_SPEC_MAX_DEPTH);
        return -1;
    }
    p->depth++;
    adv(p);
    json_t *arr = json_array();
    if (!arr)
        return jp_oom(p);
    uint32_t last = 0;
    size_t idx = 0;
    jp_ws(p);
    if (peek(p) == ']') {
        adv(p);
        goto done;
    }
    for (;;) {
        jp_ws(p);
        if (peek(p) == ']') {
            jp_fail(p, "expected a value after ',' (trailing commas are "
                       "not allowed)");
            goto bad;
        }
        size_t mark = enter_index(cx, idx);
        uint32_t kid;
        if (jp_value(p, &kid) != 0) {
            leave(cx, mark);
            goto bad;
        }
        leave(cx, mark);
        if (json_array_append_new(arr, NODE(cx, kid).v) != 0) {
            jp_oom(p);
            goto bad;
        }
        if (last)
            NODE(cx, last).next = kid;
        else
            NODE(cx, self).first = kid;
        last = kid;
        NODE(cx, self).n_kids++;
        idx++;
        jp_ws(p);
        int c = peek(p);
        if (c == ',') {
            adv(p);
            continue;
        }
        if (c == ']') {
            adv(p);
            break;
        }
        describe(c, what);
        jp_fail(p, "expected ',' or ']' after an array element, got %s", what);
        if (c == '"' || c == '{' || c == '[')
            hint(cx, "is a ',' missing before it?");
        goto bad;
    }
done:
    p->depth--;
    *out = arr;
    return 0;
bad:
    json_decref(arr);
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
    uint32_t self = node_new(p->cx, p->line, p->col);
    if (self == NO_NODE)
        return -1;
    if (c == '{') {
        rc = jp_object(p, self, &v);
    } else if (c == '[') {
        rc = jp_array(p, self, &v);
    } else if (c == '"') {
        rc = jp_string(p);
        if (rc == 0 && !(v = json_stringn(sb_str(&p->str), p->str.len)))
            rc = jp_oom(p);
    } else if (c == '-' || is_digit(c)) {
        rc = jp_number(p, &v);
    } else if (is_alpha(c)) {
        rc = jp_word(p, &v);
    } else {
        describe(c, what);
        if (c >= 0x80) {
            jp_fail(p, "unexpected %s, expected a value", what);
            hint(p->cx, "text outside strings must be plain JSON "
                        "(ASCII punctuation, numbers, true, false, null)");
            return -1;
        }
        return jp_fail(p, "unexpected %s, expected a value", what);
    }
    if (rc != 0)
        return -1;
    NODE(p->cx, self).v = v;
    *out = self;
    return 0;
}

/* Parses buf into cx->root and the node arena; 0 or -1 (errors reported). */
static int jp_parse(spec_cx *cx, const char *buf, size_t len)
{
    jp p = {.cx = cx, .s = (const unsigned char *)buf, .n = len, .line = 1,
            .col = 1};
    char what[24];
    uint32_t root;
    int rc;

    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        p.i = 3;
    rc = jp_value(&p, &root);
    if (rc == 0) {
        cx->root = NODE(cx, root).v;
        jp_ws(&p);
        if (p.i < p.n) {
            describe(peek(&p), what);
            rc = jp_fail(&p, "unexpected %s after the end of the JSON value",
                         what);
        }
    }
    free(p.str.p);
    return rc;
}

/* --- validation helpers ------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static bool has_type(const json_t *v, const char *want)
{
    if (strcmp(want, "number") == 0)
        return json_is_number(v);
    if (strcmp(want, "boolean") == 0)
        return json_is_boolean(v);
    return strcmp(type_name(v), want) == 0;
}

static bool want_type(spec_cx *cx, uint32_t n, const char *want)
{
    if (has_type(NODE(cx, n).v, want))
        return true;
    err_at(cx, n, "expected %s, got %s", want, type_name(NODE(cx, n).v));
    return false;
}

/* Levenshtein distance, or SIZE_MAX for words too long to compare. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[SUGGEST_MAX + 1];
    if (la > SUGGEST_MAX || lb > SUGGEST_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Hints at the candidate closest to word ("did you mean"), or lists them
 * all ("<what>: a, b, c"); NULL candidates are skipped. */
static void suggest(spec_cx *cx, const char *word, const char *const *cands,
                    size_t n, const char *what)
{
    qbuf qb;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    size_t shown = 0;

    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        size_t d = edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    size_t wl = strlen(word);
    if (best && best_d <= 2 && best_d < wl && best_d * 3 <= wl + 2) {
        hint(cx, "did you mean %s?", qs(&qb, best));
        return;
    }
    sbuf list = {0};
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        sb_puts(&list, shown++ ? ", " : "");
        sb_puts(&list, cands[i]);
    }
    if (shown)
        hint(cx, "%s: %s", what, sb_str(&list));
    cx->oom |= list.oom;
    free(list.p);
}

static size_t count_list(const char *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

/* Reports every key of obj not in known (NULL-terminated). */
static void check_keys(spec_cx *cx, uint32_t obj, const char *const *known)
{
    size_t n_known = count_list(known);
    for (uint32_t k = NODE(cx, obj).first; k; k = NODE(cx, k).next) {
        size_t i = 0;
        while (i < n_known && strcmp(known[i], NODE(cx, k).key) != 0)
            i++;
        if (i < n_known)
            continue;
        size_t m = enter(cx, k);
        err_key(cx, k, "unknown key");
        suggest(cx, NODE(cx, k).key, known, n_known, "known keys");
        leave(cx, m);
    }
}

/* Member key of obj, reporting it when absent (about obj's path). */
static uint32_t require(spec_cx *cx, uint32_t obj, const char *key)
{
    uint32_t k = member(cx, obj, key);
    if (!k)
        err_at(cx, obj, "missing required key \"%s\"", key);
    return k;
}

static bool int_in(spec_cx *cx, uint32_t k, long long lo, long long hi,
                   int64_t *out)
{
    if (!want_type(cx, k, "integer"))
        return false;
    long long v = json_integer_value(NODE(cx, k).v);
    if (v < lo) {
        err_at(cx, k, "must be at least %lld, got %lld", lo, v);
        return false;
    }
    if (v > hi) {
        err_at(cx, k, "must be at most %lld, got %lld", hi, v);
        return false;
    }
    *out = v;
    return true;
}

/* Optional integer member: returns its node (0 when absent); *ok (ok may
 * be NULL) is cleared when it is present but invalid. */
static uint32_t opt_int(spec_cx *cx, uint32_t obj, const char *key,
                        long long lo, long long hi, int64_t *out, bool *ok)
{
    uint32_t k = member(cx, obj, key);
    if (!k)
        return 0;
    size_t m = enter(cx, k);
    if (!int_in(cx, k, lo, hi, out) && ok)
        *ok = false;
    leave(cx, m);
    return k;
}

static void opt_number(spec_cx *cx, uint32_t obj, const char *key, double lo,
                       double hi, double *out)
{
    uint32_t k = member(cx, obj, key);
    if (!k)
        return;
    size_t m = enter(cx, k);
    if (want_type(cx, k, "number")) {
        double v = json_number_value(NODE(cx, k).v);
        if (v < lo)
            err_at(cx, k, "must be at least %g, got %g", lo, v);
        else if (v > hi)
            err_at(cx, k, "must be at most %g, got %g", hi, v);
        else
            *out = v;
    }
    leave(cx, m);
}

/* Optional string member: a copy (owned) or NULL when absent or invalid. */
static char *opt_string(spec_cx *cx, uint32_t obj, const char *key,
                        uint32_t *node)
{
    uint32_t k = member(cx, obj, key);
    char *s = NULL;
    if (node)
        *node = k;
    if (!k)
        return NULL;
    size_t m = enter(cx, k);
    if (want_type(cx, k, "string") &&
        !(s = strdup(json_string_value(NODE(cx, k).v))))
        cx->oom = true;
    leave(cx, m);
    return s;
}

static bool lower_ident(const char *s)
{
    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (const char *c = s + 1; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return false;
    return true;
}

static bool field_ident(const char *s)
{
    if (!(is_alpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (const char *c = s + 1; *c; c++)
        if (!(is_alpha((unsigned char)*c) || is_digit((unsigned char)*c) ||
              *c == '_'))
            return false;
    return true;
}

static bool command_ident(const char *s)
{
    if (!is_alpha((unsigned char)s[0]))
        return false;
    for (const char *c = s + 1; *c; c++)
        if (!(is_alpha((unsigned char)*c) || is_digit((unsigned char)*c) ||
              *c == '_' || *c == '.' || *c == '-'))
            return false;
    return true;
}

static bool topic_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const char *c = s; *c; c++)
        if (!(is_alpha((unsigned char)*c) || is_digit((unsigned char)*c) ||
              *c == '_' || *c == '.' || *c == '-'))
            return false;
    return true;
}

/* Checks a name against the length limit and a pattern; reports at node n
 * (whose path is current). `kind` is "name", "participant", ... */
static void check_name(spec_cx *cx, uint32_t n, const char *s,
                       bool (*ok)(const char *), const char *kind,
                       const char *rule)
{
    qbuf qb;
    size_t len = strlen(s);
    if (len > SAGA_SPEC_MAX_NAME) {
        limit_pos(cx, NODE(cx, n).line, NODE(cx, n).col,
                  "%s is %zu characters long, longer than the limit of %d",
                  kind, len, SAGA_SPEC_MAX_NAME);
        return;
    }
    if (!ok(s)) {
        err_at(cx, n, "invalid %s %s", kind, qs(&qb, s));
        hint(cx, "%s", rule);
    }
}

#define NAME_RULE                                                              \
    "names start with a lower-case letter, followed by lower-case letters, "   \
    "digits or '_'"

/* Required name-like string member: a copy (owned) or NULL. The copy is
 * kept even when the pattern does not match, so that references to it
 * resolve and one mistake is reported once. */
static char *take_name(spec_cx *cx, uint32_t obj, const char *key,
                       bool (*ok)(const char *), const char *kind,
                       const char *rule, uint32_t *node)
{
    uint32_t k = require(cx, obj, key);
    char *s = NULL;
    if (node)
        *node = k;
    if (!k)
        return NULL;
    size_t m = enter(cx, k);
    if (want_type(cx, k, "string")) {
        const char *v = json_string_value(NODE(cx, k).v);
        check_name(cx, k, v, ok, kind, rule);
        if (!(s = strdup(v)))
            cx->oom = true;
    }
    leave(cx, m);
    return s;
}

/* --- building the spec --------------------------------------------------------- */

static const char *const field_types[] = {"string", "integer", "number",
                                          "boolean", "object", "array", NULL};

static void build_inputs(spec_cx *cx, uint32_t k)
{
    qbuf qb;
    static const char *const keys[] = {"type", "required", "description",
                                       NULL};
    saga_spec *spec = cx->spec;

    cx->inputs_ok = false;
    size_t m = enter(cx, k);
    if (!want_type(cx, k, "object"))
        goto out;
    size_t n = NODE(cx, k).n_kids;
    if (n > SAGA_SPEC_MAX_INPUTS) {
        limit_pos(cx, NODE(cx, k).line, NODE(cx, k).col,
                  "%zu input fields, more than the limit of %d", n,
                  SAGA_SPEC_MAX_INPUTS);
        goto out;
    }
    spec->inputs = calloc(n ? n : 1, sizeof *spec->inputs);
    if (!spec->inputs) {
        cx->oom = true;
        goto out;
    }
    cx->inputs_ok = true;
    for (uint32_t f = NODE(cx, k).first; f; f = NODE(cx, f).next) {
        size_t fm = enter(cx, f);
        const char *name = NODE(cx, f).key;
        saga_input_field *in = &spec->inputs[spec->n_inputs++];
        in->type = SAGA_FIELD_STRING;
        in->required = true;
        if (!(in->name = strdup(name)))
            cx->oom = true;
        if (strlen(name) > SAGA_SPEC_MAX_NAME) {
            limit_pos(cx, NODE(cx, f).key_line, NODE(cx, f).key_col,
                      "field name is %zu characters long, longer than the "
                      "limit of %d",
                      strlen(name), SAGA_SPEC_MAX_NAME);
        } else if (!field_ident(name)) {
            err_key(cx, f, "invalid input field name");
            hint(cx, "field names are letters, digits and '_', not "
                     "starting with a digit");
        }
        if (want_type(cx, f, "object")) {
            check_keys(cx, f, keys);
            uint32_t t = require(cx, f, "type");
            if (t) {
                size_t tm = enter(cx, t);
                if (want_type(cx, t, "string")) {
                    const char *tn = json_string_value(NODE(cx, t).v);
                    size_t i = 0;
                    while (field_types[i] && strcmp(field_types[i], tn) != 0)
                        i++;
                    if (field_types[i]) {
                        in->type = (saga_field_type)i;
                    } else {
                        err_at(cx, t, "unknown type %s", qs(&qb, tn));
                        suggest(cx, tn, field_types, count_list(field_types),
                                "types");
                    }
                }
                leave(cx, tm);
            }
            uint32_t r = member(cx, f, "required");
            if (r) {
                size_t rm = enter(cx, r);
                if (want_type(cx, r, "boolean"))
                    in->required = json_is_true(NODE(cx, r).v);
                leave(cx, rm);
            }
            free(opt_string(cx, f, "description", NULL));
        }
        leave(cx, fm);
    }
out:
    leave(cx, m);
}

/* Retry policy at node k: base (inherited from `from`) overridden by k. */
static void build_retry(spec_cx *cx, uint32_t k, const saga_retry_policy *base,
                        const char *from, saga_retry_policy *out)
{
    static const char *const keys[] = {"max_attempts", "initial_backoff_ms",
                                       "max_backoff_ms", "multiplier",
                                       "jitter", NULL};
    bool ok = true, bounds_ok = true;
    int64_t v;

    *out = *base;
    size_t m = enter(cx, k);
    if (!want_type(cx, k, "object"))
        goto out;
    check_keys(cx, k, keys);
    if (opt_int(cx, k, "max_attempts", 1, SAGA_SPEC_MAX_ATTEMPTS, &v, &ok) &&
        ok)
        out->max_attempts = (int)v;
    uint32_t ki = opt_int(cx, k, "initial_backoff_ms", 1,
                          SAGA_SPEC_MAX_TIMEOUT_MS, &out->initial_backoff_ms,
                          &bounds_ok);
    uint32_t km = opt_int(cx, k, "max_backoff_ms", 1, SAGA_SPEC_MAX_TIMEOUT_MS,
                          &out->max_backoff_ms, &bounds_ok);
    opt_number(cx, k, "multiplier", 1, SAGA_SPEC_MAX_MULTIPLIER,
               &out->multiplier);
    opt_number(cx, k, "jitter", 0, 1, &out->jitter);
    if (bounds_ok && out->max_backoff_ms < out->initial_backoff_ms) {
        long long lo = out->initial_backoff_ms, hi = out->max_backoff_ms;
        if (km) {
            size_t mm = enter(cx, km);
            err_at(cx, km, "must not be less than initial_backoff_ms (%lld%s%s),"
                           " got %lld",
                   lo, ki ? "" : ", inherited from ", ki ? "" : from, hi);
            leave(cx, mm);
        } else {
            size_t mi = enter(cx, ki);
            err_at(cx, ki, "must not be greater than max_backoff_ms (%lld, "
                           "inherited from %s), got %lld",
                   hi, from, lo);
            hint(cx, "set max_backoff_ms here too");
            leave(cx, mi);
        }
    }
out:
    leave(cx, m);
}

static void build_defaults(spec_cx *cx, uint32_t k)
{
    static const char *const keys[] = {"timeout_ms", "retry", "stuck_after_ms",
                                       NULL};
    static const saga_retry_policy builtin = {
        SAGA_SPEC_DEFAULT_MAX_ATTEMPTS, SAGA_SPEC_DEFAULT_INITIAL_BACKOFF_MS,
        SAGA_SPEC_DEFAULT_MAX_BACKOFF_MS, SAGA_SPEC_DEFAULT_MULTIPLIER,
        SAGA_SPEC_DEFAULT_JITTER};
    saga_spec *spec = cx->spec;

    spec->timeout_ms = SAGA_SPEC_DEFAULT_TIMEOUT_MS;
    spec->stuck_after_ms = SAGA_SPEC_DEFAULT_STUCK_AFTER_MS;
    spec->retry = builtin;
    if (!k)
        return;
    size_t m = enter(cx, k);
    if (want_type(cx, k, "object")) {
        check_keys(cx, k, keys);
        opt_int(cx, k, "timeout_ms", 1, SAGA_SPEC_MAX_TIMEOUT_MS,
                &spec->timeout_ms, NULL);
        uint32_t r = member(cx, k, "retry");
        if (r)
            build_retry(cx, r, &builtin, "the built-in defaults",
                        &spec->retry);
        opt_int(cx, k, "stuck_after_ms", 1, SAGA_SPEC_MAX_STUCK_AFTER_MS,
                &spec->stuck_after_ms, NULL);
    }
    leave(cx, m);
}

/* Reads phase `key` of step s into ph. Returns its node (0 when absent).
 * null counts as absent when null_ok. */
static uint32_t build_phase(spec_cx *cx, uint32_t s, const char *key,
                            bool null_ok, saga_phase *ph)
{
    static const char *const keys[] = {"command", "payload", NULL};
    uint32_t k = member(cx, s, key);
    if (!k || (null_ok && json_is_null(NODE(cx, k).v)))
        return k;
    size_t m = enter(cx, k);
    if (want_type(cx, k, "object")) {
        check_keys(cx, k, keys);
        ph->command = take_name(cx, k, "command", command_ident,
                                "command name",
                                "command names start with a letter, followed "
                                "by letters, digits, '_', '.' or '-'",
                                NULL);
        uint32_t p = member(cx, k, "payload");
        ph->payload = p ? json_incref(NODE(cx, p).v) : json_object();
        if (!ph->payload)
            cx->oom = true;
    }
    leave(cx, m);
    return k;
}

static void build_step(spec_cx *cx, size_t i, uint32_t s)
{
    qbuf qb;
    static const char *const keys[] = {
        "name", "participant", "topic", "after", "reserve", "confirm",
        "compensate", "irreversible", "timeout_ms", "retry", "description",
        NULL};
    saga_spec *spec = cx->spec;
    saga_step_def *d = &spec->steps[i];
    step_aux *a = &cx->aux[i];
    uint32_t n;

    d->timeout_ms = spec->timeout_ms;
    d->retry = spec->retry;
    if (!want_type(cx, s, "object"))
        return;
    a->node = s;
    check_keys(cx, s, keys);

    d->name = take_name(cx, s, "name", lower_ident, "step name", NAME_RULE, &n);
    a->name = d->name;
    for (size_t j = 0; d->name && j < i; j++) {
        if (cx->aux[j].name && strcmp(cx->aux[j].name, d->name) == 0) {
            size_t m = enter(cx, n);
            err_at(cx, n, "duplicate step name %s", qs(&qb, d->name));
            hint(cx, "steps[%zu] already has this name", j);
            leave(cx, m);
            break;
        }
    }

    d->participant = take_name(cx, s, "participant", lower_ident,
                               "participant", NAME_RULE, NULL);
    uint32_t t;
    d->topic = opt_string(cx, s, "topic", &t);
    if (d->topic && !topic_ok(d->topic)) {
        size_t m = enter(cx, t);
        err_at(cx, t, "invalid topic %s", qs(&qb, d->topic));
        hint(cx, "Kafka topic names are 1 to 249 letters, digits, '.', '_' "
                 "or '-'");
        leave(cx, m);
    }
    if (!t && d->participant) {
        sbuf topic = {0};
        sb_printf(&topic, "saga.%s.commands", d->participant);
        cx->oom |= topic.oom;
        d->topic = topic.p;
    }

    a->after = member(cx, s, "after");
    if (a->after) {
        size_t m = enter(cx, a->after);
        if (want_type(cx, a->after, "array") &&
            NODE(cx, a->after).n_kids > SAGA_SPEC_MAX_STEPS) {
            limit_pos(cx, NODE(cx, a->after).line, NODE(cx, a->after).col,
                      "%u entries, more than the limit of %d steps",
                      NODE(cx, a->after).n_kids, SAGA_SPEC_MAX_STEPS);
        }
        leave(cx, m);
    }

    uint32_t kr = build_phase(cx, s, "reserve", false, &d->reserve);
    if (!kr)
        err_at(cx, s, "missing required key \"reserve\"");
    build_phase(cx, s, "confirm", true, &d->confirm);

    a->irrev = member(cx, s, "irreversible");
    if (a->irrev) {
        size_t m = enter(cx, a->irrev);
        if (want_type(cx, a->irrev, "boolean"))
            d->irreversible = json_is_true(NODE(cx, a->irrev).v);
        leave(cx, m);
    }

    uint32_t kc = build_phase(cx, s, "compensate", true, &d->compensate);
    if (!kc && !d->irreversible) {
        err_at(cx, s, "missing required key \"compensate\"");
        hint(cx, "a step whose effect cannot be undone declares "
                 "\"compensate\": null and \"irreversible\": true");
    } else if (kc) {
        size_t m = enter(cx, kc);
        bool null = json_is_null(NODE(cx, kc).v);
        if (null && !d->irreversible) {
            err_at(cx, kc, "null is only allowed for an irreversible step");
            hint(cx, "give a compensate command, or add \"irreversible\": "
                     "true if the step's effect cannot be undone");
        } else if (!null && d->irreversible) {
            err_at(cx, kc, "an irreversible step cannot have a compensate "
                           "command");
            hint(cx, "set \"compensate\": null, or drop \"irreversible\"");
        }
        leave(cx, m);
    }

    opt_int(cx, s, "timeout_ms", 1, SAGA_SPEC_MAX_TIMEOUT_MS, &d->timeout_ms,
            NULL);
    uint32_t r = member(cx, s, "retry");
    if (r)
        build_retry(cx, r, &spec->retry, "defaults", &d->retry);
    free(opt_string(cx, s, "description", NULL));

    saga_phase *phases[] = {&d->reserve, &d->confirm, &d->compensate};
    for (size_t ph = 0; ph < 3; ph++)
        if (!phases[ph]->payload)
            phases[ph]->payload = json_null();
}

static void build_steps(spec_cx *cx, uint32_t k)
{
    saga_spec *spec = cx->spec;
    size_t m = enter(cx, k);

    if (!want_type(cx, k, "array"))
        goto out;
    size_t n = NODE(cx, k).n_kids;
    if (n == 0) {
        err_at(cx, k, "at least one step is required");
        goto out;
    }
    if (n > SAGA_SPEC_MAX_STEPS) {
        limit_pos(cx, NODE(cx, k).line, NODE(cx, k).col,
                  "%zu steps, more than the limit of %d", n,
                  SAGA_SPEC_MAX_STEPS);
        goto out;
    }
    spec->steps = calloc(n, sizeof *spec->steps);
    if (!spec->steps) {
        cx->oom = true;
        goto out;
    }
    spec->n_steps = n;
    size_t i = 0;
    for (uint32_t s = NODE(cx, k).first; s; s = NODE(cx, s).next, i++) {
        size_t sm = enter_index(cx, i);
        build_step(cx, i, s);
        leave(cx, sm);
    }
    cx->steps_ok = true;
out:
    leave(cx, m);
}

/* --- the step graph ------------------------------------------------------------ */

static int find_step(spec_cx *cx, const char *name, size_t len)
{
    for (size_t j = 0; j < cx->spec->n_steps; j++) {
        const char *s = cx->aux[j].name;
        if (s && strlen(s) == len && memcmp(s, name, len) == 0)
            return (int)j;
    }
    return -1;
}

static void step_names(spec_cx *cx, const char **names)
{
    for (size_t j = 0; j < cx->spec->n_steps; j++)
        names[j] = cx->aux[j].name;
}

static void path_step(spec_cx *cx, size_t i)
{
    path_reset(cx);
    sb_printf(&cx->path, "steps[%zu]", i);
}

static void resolve_after(spec_cx *cx)
{
    qbuf qb;
    saga_spec *spec = cx->spec;
    const char *names[SAGA_SPEC_MAX_STEPS];

    step_names(cx, names);
    cx->graph_ok = true;
    for (size_t i = 0; i < spec->n_steps; i++) {
        saga_step_def *d = &spec->steps[i];
        step_aux *a = &cx->aux[i];
        if (!a->node || !a->name) {
            cx->graph_ok = false;
            continue;
        }
        if (!a->after) {
            a->implicit = true;
            if (i == 0)
                continue;
            if (!(d->after = malloc(sizeof *d->after))) {
                cx->oom = true;
                continue;
            }
            d->after[0] = i - 1;
            d->n_after = 1;
            a->deps = UINT64_C(1) << (i - 1);
            continue;
        }
        uint32_t an = a->after;
        if (!json_is_array(NODE(cx, an).v) ||
            NODE(cx, an).n_kids > SAGA_SPEC_MAX_STEPS) {
            cx->graph_ok = false;
            continue;
        }
        if (NODE(cx, an).n_kids &&
            !(d->after = calloc(NODE(cx, an).n_kids, sizeof *d->after))) {
            cx->oom = true;
            continue;
        }
        path_step(cx, i);
        enter(cx, an);
        uint32_t idx = 0;
        for (uint32_t e = NODE(cx, an).first; e; e = NODE(cx, e).next, idx++) {
            size_t m = enter_index(cx, idx);
            if (!want_type(cx, e, "string")) {
                cx->graph_ok = false;
                leave(cx, m);
                continue;
            }
            const char *name = json_string_value(NODE(cx, e).v);
            int j = find_step(cx, name, strlen(name));
            if (j < 0) {
                err_at(cx, e, "unknown step %s", qs(&qb, name));
                suggest(cx, name, names, spec->n_steps, "known steps");
                cx->graph_ok = false;
            } else if ((size_t)j == i) {
                err_at(cx, e, "a step cannot run after itself");
                cx->graph_ok = false;
            } else if (a->deps & (UINT64_C(1) << j)) {
                err_at(cx, e, "step %s is listed twice", qs(&qb, name));
            } else {
                d->after[d->n_after++] = (size_t)j;
                a->deps |= UINT64_C(1) << j;
                a->edge_node[j] = e;
                a->edge_idx[j] = idx;
            }
            leave(cx, m);
        }
        path_reset(cx);
    }
}

/* Reports the cycle closed by the edge from stack[depth] back to stack[at]:
 * at the first explicit "after" entry on it, starting the text there. */
static void report_cycle(spec_cx *cx, const size_t *stack, size_t at,
                         size_t depth)
{
    size_t len = depth - at + 1;
    size_t from = len;
    bool implicit = false;

    for (size_t t = 0; t < len; t++) {
        size_t u = stack[at + (len - 1 + t) % len];
        if (cx->aux[u].implicit)
            implicit = true;
        else if (from == len)
            from = (len - 1 + t) % len;
    }
    if (from == len)
        return;
    size_t u = stack[at + from], v = stack[at + (from + 1) % len];
    sbuf text = {0};
    for (size_t t = 0; t <= len; t++) {
        sb_puts(&text, t ? " -> " : "");
        sb_puts(&text, cx->aux[stack[at + (from + t) % len]].name);
    }
    path_step(cx, u);
    enter(cx, cx->aux[u].after);
    enter_index(cx, cx->aux[u].edge_idx[v]);
    err_at(cx, cx->aux[u].edge_node[v], "dependency cycle: %s",
           sb_str(&text));
    if (implicit)
        hint(cx, "each step runs after the next one in the cycle, so none "
                 "can start; a step without \"after\" runs after the "
                 "previous step in the list");
    else
        hint(cx, "each step runs after the next one in the cycle, so none "
                 "can start");
    path_reset(cx);
    cx->oom |= text.oom;
    free(text.p);
}

static void cycle_dfs(spec_cx *cx, size_t i, int *color, size_t *stack,
                      size_t depth)
{
    const saga_step_def *d = &cx->spec->steps[i];
    color[i] = 1;
    stack[depth] = i;
    for (size_t k = 0; k < d->n_after; k++) {
        size_t j = d->after[k];
        if (color[j] == 1) {
            size_t at = 0;
            while (stack[at] != j)
                at++;
            report_cycle(cx, stack, at, depth);
            cx->graph_ok = false;
        } else if (color[j] == 0) {
            cycle_dfs(cx, j, color, stack, depth + 1);
        }
    }
    color[i] = 2;
}

static void check_cycles(spec_cx *cx)
{
    int color[SAGA_SPEC_MAX_STEPS] = {0};
    size_t stack[SAGA_SPEC_MAX_STEPS];
    for (size_t i = 0; i < cx->spec->n_steps; i++)
        if (color[i] == 0)
            cycle_dfs(cx, i, color, stack, 0);
}

/* Transitive dependencies; the graph is acyclic, so this settles within
 * n_steps rounds. */
static void compute_ancestors(spec_cx *cx)
{
    size_t n = cx->spec->n_steps;
    bool changed = true;
    for (size_t i = 0; i < n; i++)
        cx->aux[i].anc = cx->aux[i].deps;
    for (size_t round = 0; changed && round <= n; round++) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            uint64_t anc = cx->aux[i].anc;
            for (size_t j = 0; j < n; j++)
                if (cx->aux[i].anc & (UINT64_C(1) << j))
                    anc |= cx->aux[j].anc;
            if (anc != cx->aux[i].anc) {
                cx->aux[i].anc = anc;
                changed = true;
            }
        }
    }
}

static void check_irreversible(spec_cx *cx)
{
    qbuf qb;
    const saga_spec *spec = cx->spec;
    uint64_t reversible = 0;

    for (size_t j = 0; j < spec->n_steps; j++)
        if (!spec->steps[j].irreversible)
            reversible |= UINT64_C(1) << j;
    for (size_t i = 0; i < spec->n_steps; i++) {
        if (!spec->steps[i].irreversible)
            continue;
        uint64_t missing = reversible & ~cx->aux[i].anc;
        if (!missing)
            continue;
        sbuf list = {0};
        size_t count = 0;
        for (size_t j = 0; j < spec->n_steps; j++) {
            if (!(missing & (UINT64_C(1) << j)))
                continue;
            sb_puts(&list, count++ ? ", " : "");
            sb_puts(&list, spec->steps[j].name);
        }
        path_step(cx, i);
        enter(cx, cx->aux[i].irrev);
        err_at(cx, cx->aux[i].irrev,
               "irreversible step %s may run before reversible step%s %s",
               qs(&qb, spec->steps[i].name), count > 1 ? "s" : "",
               sb_str(&list));
        hint(cx, "an irreversible step runs only after every reversible step "
                 "has reserved: list %s in its \"after\", directly or "
                 "through steps it runs after",
             count > 1 ? "them" : "it");
        path_reset(cx);
        cx->oom |= list.oom;
        free(list.p);
    }
}

/* --- templates ---------------------------------------------------------------- */

typedef struct tmpl_check {
    spec_cx *cx;
    uint32_t node;    /* the string being checked */
    size_t step;
    const char *phase;
    uint64_t allowed; /* steps whose result this payload may use */
} tmpl_check;

static void check_input_ref(tmpl_check *tc, const saga_template_piece *pc)
{
    qbuf qb, qb2;
    spec_cx *cx = tc->cx;
    const saga_spec *spec = cx->spec;
    const char *dot = memchr(pc->path, '.', pc->path_len);
    size_t flen = dot ? (size_t)(dot - pc->path) : pc->path_len;
    const char *names[SAGA_SPEC_MAX_INPUTS];
    char field[SAGA_SPEC_MAX_NAME + 1];

    if (!cx->inputs_ok)
        return;
    for (size_t f = 0; f < spec->n_inputs; f++) {
        const saga_input_field *in = &spec->inputs[f];
        names[f] = in->name;
        if (!in->name || strlen(in->name) != flen ||
            memcmp(in->name, pc->path, flen) != 0)
            continue;
        if (dot && in->type != SAGA_FIELD_OBJECT) {
            err_at(cx, tc->node, "%s: input field %s is of type %s and has "
                                 "no fields",
                   q(&qb, pc->text, pc->len), qs(&qb2, in->name),
                   field_types[in->type]);
            hint(cx, "only fields of type object can be referenced into");
        }
        return;
    }
    err_at(cx, tc->node, "unknown input field %s", q(&qb, pc->path, flen));
    if (spec->n_inputs == 0) {
        hint(cx, "the spec declares no input fields");
    } else if (flen <= SAGA_SPEC_MAX_NAME) {
        memcpy(field, pc->path, flen);
        field[flen] = '\0';
        suggest(cx, field, names, spec->n_inputs, "known input fields");
    }
}

static void check_step_ref(tmpl_check *tc, const saga_template_piece *pc)
{
    qbuf qb;
    spec_cx *cx = tc->cx;
    const char *names[SAGA_SPEC_MAX_STEPS];
    char name[SAGA_SPEC_MAX_NAME + 1];
    int j = find_step(cx, pc->step, pc->step_len);

    if (j < 0) {
        err_at(cx, tc->node, "unknown step %s", q(&qb, pc->step, pc->step_len));
        if (pc->step_len <= SAGA_SPEC_MAX_NAME) {
            memcpy(name, pc->step, pc->step_len);
            name[pc->step_len] = '\0';
            step_names(cx, names);
            suggest(cx, name, names, cx->spec->n_steps, "known steps");
        }
        return;
    }
    if (!cx->graph_ok || (tc->allowed & (UINT64_C(1) << j)))
        return;
    err_at(cx, tc->node, "step %s is not guaranteed to have reserved when "
                         "this %s command is built",
           qs(&qb, cx->aux[j].name), tc->phase);
    if (strcmp(tc->phase, "reserve") != 0)
        hint(cx, "a compensate payload may use the results of its own step "
                 "and of the steps it runs after");
    else if ((size_t)j == tc->step)
        hint(cx, "a reserve payload cannot use its own step's result; "
                 "confirm and compensate payloads can");
    else
        hint(cx, "list %s in steps[%zu].after, directly or through a step "
                 "it runs after",
             qs(&qb, cx->aux[j].name), tc->step);
}

static int check_piece(const saga_template_piece *pc, void *arg)
{
    tmpl_check *tc = arg;
    if (pc->kind == SAGA_PIECE_INPUT)
        check_input_ref(tc, pc);
    else if (pc->kind == SAGA_PIECE_STEP)
        check_step_ref(tc, pc);
    return 0;
}

static void check_payload(tmpl_check *tc, uint32_t n)
{
    spec_cx *cx = tc->cx;
    const json_t *v = NODE(cx, n).v;

    if (json_is_string(v)) {
        saga_error e;
        saga_error_clear(&e);
        tc->node = n;
        if (saga_template_scan(json_string_value(v), json_string_length(v),
                               check_piece, tc, &e) != 0) {
            err_at(cx, n, "%s", e.msg);
            if (e.hint[0])
                hint(cx, "%s", e.hint);
        }
        return;
    }
    size_t idx = 0;
    for (uint32_t k = NODE(cx, n).first; k; k = NODE(cx, k).next, idx++) {
        size_t m = json_is_object(v) ? enter(cx, k) : enter_index(cx, idx);
        check_payload(tc, k);
        leave(cx, m);
    }
}

static void check_templates(spec_cx *cx)
{
    static const char *const phases[] = {"reserve", "confirm", "compensate"};
    const saga_spec *spec = cx->spec;
    uint64_t all = spec->n_steps == 64 ? UINT64_MAX
                                       : (UINT64_C(1) << spec->n_steps) - 1;

    for (size_t i = 0; i < spec->n_steps; i++) {
        step_aux *a = &cx->aux[i];
        if (!a->node)
            continue;
        for (size_t ph = 0; ph < 3; ph++) {
            uint32_t k = member(cx, a->node, phases[ph]);
            uint32_t p = k && json_is_object(NODE(cx, k).v)
                             ? member(cx, k, "payload")
                             : 0;
            if (!p)
                continue;
            tmpl_check tc = {.cx = cx, .step = i, .phase = phases[ph]};
            tc.allowed = ph == 0   ? a->anc
                         : ph == 1 ? all
                                   : a->anc | (UINT64_C(1) << i);
            path_step(cx, i);
            enter(cx, k);
            enter(cx, p);
            check_payload(&tc, p);
            path_reset(cx);
        }
    }
}

/* --- the whole spec ------------------------------------------------------------ */

static void build(spec_cx *cx)
{
    static const char *const keys[] = {"name", "version", "description",
                                       "input", "defaults", "steps", NULL};
    saga_spec *spec = cx->spec;
    int64_t version;

    if (!json_is_object(NODE(cx, 0).v)) {
        err_at(cx, 0, "a spec must be a JSON object, got %s",
               type_name(NODE(cx, 0).v));
        return;
    }
    check_keys(cx, 0, keys);
    spec->name = take_name(cx, 0, "name", lower_ident, "saga name", NAME_RULE,
                           NULL);
    uint32_t k = require(cx, 0, "version");
    if (k) {
        size_t m = enter(cx, k);
        if (int_in(cx, k, 1, INT_MAX, &version))
            spec->version = (int)version;
        leave(cx, m);
    }
    spec->description = opt_string(cx, 0, "description", NULL);
    if (!spec->description && !(spec->description = strdup("")))
        cx->oom = true;

    cx->inputs_ok = true;
    if ((k = member(cx, 0, "input")))
        build_inputs(cx, k);
    build_defaults(cx, member(cx, 0, "defaults"));
    if ((k = require(cx, 0, "steps")))
        build_steps(cx, k);
    if (!cx->steps_ok || cx->oom)
        return;

    resolve_after(cx);
    if (cx->graph_ok)
        check_cycles(cx);
    if (cx->graph_ok) {
        compute_ancestors(cx);
        check_irreversible(cx);
    }
    check_templates(cx);
}

static void make_canonical(spec_cx *cx)
{
    saga_spec *spec = cx->spec;
    char *c = json_dumps(cx->root, JSON_SORT_KEYS | JSON_COMPACT |
                                     JSON_REAL_PRECISION(15));
    if (!c) {
        cx->oom = true;
        return;
    }
    size_t len = strlen(c);
    if (len > SAGA_SPEC_MAX_FILE_BYTES) {
        limit_pos(cx, 1, 1,
                  "canonical form is %zu bytes, larger than the limit of %d "
                  "bytes",
                  len, SAGA_SPEC_MAX_FILE_BYTES);
        hint(cx, "numbers such as 1e5 are written out in full in the "
                 "canonical form");
        free(c);
        return;
    }
    spec->canonical = c;
    saga_sha256_hex(c, len, spec->sha256);
}

static int msg_cmp(const void *a, const void *b)
{
    const spec_msg *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int diag_push(saga_diag *d, char *line)
{
    char **l = realloc(d->lines, (d->n + 1) * sizeof *l);
    if (!l) {
        free(line);
        return SAGA_ENOMEM;
    }
    d->lines = l;
    d->lines[d->n++] = line;
    return 0;
}

/* Moves the kept messages, sorted, into d (which may be NULL). */
static void flush_diag(spec_cx *cx, saga_diag *d)
{
    qsort(cx->msgs, cx->n_msgs, sizeof *cx->msgs, msg_cmp);
    for (size_t i = 0; i < cx->n_msgs; i++) {
        spec_msg *m = &cx->msgs[i];
        if (d && diag_push(d, m->text) == 0) {
            d->n_errors++;
            if (m->hint)
                diag_push(d, m->hint);
        } else {
            free(m->text);
            free(m->hint);
        }
        m->text = m->hint = NULL;
    }
    if (d && cx->n_errors > cx->n_msgs) {
        sbuf more = {0};
        sb_printf(&more, "%s: %zu more errors not shown (at most %d are "
                         "listed)",
                  cx->file, cx->n_errors - cx->n_msgs, SAGA_SPEC_MAX_ERRORS);
        if (!more.oom)
            diag_push(d, more.p);
        else
            free(more.p);
    }
}

static void cx_free(spec_cx *cx)
{
    for (size_t i = 0; i < cx->n_msgs; i++) {
        free(cx->msgs[i].text);
        free(cx->msgs[i].hint);
    }
    free(cx->msgs);
    nodes_truncate(cx, 0);
    free(cx->nodes);
    json_decref(cx->root);
    free(cx->path.p);
}

/* --- public API ------------------------------------------------------------------ */

void saga_diag_init(saga_diag *d)
{
    d->lines = NULL;
    d->n = 0;
    d->n_errors = 0;
}

void saga_diag_free(saga_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    saga_diag_init(d);
}

int saga_spec_parse(const char *file, const char *buf, size_t len,
                    saga_spec **out, saga_diag *diag, saga_error *err)
{
    spec_cx cx = {.file = file ? file : "<spec>"};
    int rc = 0;

    *out = NULL;
    if (!(cx.spec = calloc(1, sizeof *cx.spec)))
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    if (len > SAGA_SPEC_MAX_FILE_BYTES) {
        limit_pos(&cx, 1, 1, "file is larger than the limit of %d bytes",
                  SAGA_SPEC_MAX_FILE_BYTES);
    } else if (jp_parse(&cx, buf ? buf : "", buf ? len : 0) == 0 && !cx.oom) {
        build(&cx);
        if (cx.n_errors == 0 && !cx.oom)
            make_canonical(&cx);
    }

    if (cx.oom) {
        rc = saga_error_set(err, SAGA_ENOMEM, "%s: out of memory", cx.file);
    } else if (cx.n_errors) {
        flush_diag(&cx, diag);
        rc = saga_error_set(err, cx.limit ? SAGA_ELIMIT : SAGA_EINVAL,
                            "%s: %zu error%s", cx.file, cx.n_errors,
                            cx.n_errors == 1 ? "" : "s");
    } else {
        *out = cx.spec;
        cx.spec = NULL;
        saga_error_clear(err);
    }
    saga_spec_free(cx.spec);
    cx_free(&cx);
    return rc;
}

static void phase_free(saga_phase *p)
{
    free(p->command);
    json_decref(p->payload);
}

void saga_spec_free(saga_spec *spec)
{
    if (!spec)
        return;
    free(spec->name);
    free(spec->description);
    for (size_t i = 0; i < spec->n_inputs; i++)
        free(spec->inputs[i].name);
    free(spec->inputs);
    for (size_t i = 0; i < spec->n_steps; i++) {
        saga_step_def *d = &spec->steps[i];
        free(d->name);
        free(d->participant);
        free(d->topic);
        free(d->after);
        phase_free(&d->reserve);
        phase_free(&d->confirm);
        phase_free(&d->compensate);
    }
    free(spec->steps);
    free(spec->canonical);
    free(spec);
}

int saga_spec_step_index(const saga_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->n_steps; i++)
        if (strcmp(spec->steps[i].name, name) == 0)
            return (int)i;
    return -1;
}

static bool field_matches(saga_field_type t, const json_t *v)
{
    switch (t) {
    case SAGA_FIELD_STRING: return json_is_string(v);
    case SAGA_FIELD_INTEGER: return json_is_integer(v);
    case SAGA_FIELD_NUMBER: return json_is_number(v);
    case SAGA_FIELD_BOOLEAN: return json_is_boolean(v);
    case SAGA_FIELD_OBJECT: return json_is_object(v);
    case SAGA_FIELD_ARRAY: return json_is_array(v);
    }
    return false;
}

static const saga_input_field *find_field(const saga_spec *spec,
                                          const char *name)
{
    for (size_t f = 0; f < spec->n_inputs; f++)
        if (strcmp(spec->inputs[f].name, name) == 0)
            return &spec->inputs[f];
    return NULL;
}

int saga_spec_check_input(const saga_spec *spec, const json_t *input,
                          saga_error *err)
{
    const char *key;
    json_t *v;
    sbuf path = {0};
    int rc = 0;

    if (!json_is_object(input))
        return saga_error_set(err, SAGA_EINVAL,
                              "input: expected object, got %s",
                              input ? type_name(input) : "nothing");
    size_t size = json_dumpb(input, NULL, 0, JSON_COMPACT);
    if (size > SAGA_INPUT_MAX_BYTES)
        return saga_error_set(err, SAGA_ELIMIT,
                              "input: %zu bytes, larger than the limit of %d "
                              "bytes",
                              size, SAGA_INPUT_MAX_BYTES);

    json_object_foreach((json_t *)input, key, v) {
        if (find_field(spec, key))
            continue;
        sb_puts(&path, "input");
        path_put_key(&path, key);
        rc = saga_error_set(err, SAGA_EINVAL, "%s: unknown field",
                            sb_str(&path));
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (size_t f = 0; f < spec->n_inputs; f++) {
            size_t d = edit_distance(key, spec->inputs[f].name);
            if (d < best_d) {
                best_d = d;
                best = spec->inputs[f].name;
            }
        }
        if (best && best_d <= 2 && best_d < strlen(key)) {
            saga_error_hint(err, "did you mean \"%s\"?", best);
        } else if (spec->n_inputs) {
            sbuf list = {0};
            for (size_t f = 0; f < spec->n_inputs; f++) {
                sb_puts(&list, f ? ", " : "");
                sb_puts(&list, spec->inputs[f].name);
            }
            saga_error_hint(err, "known fields: %s", sb_str(&list));
            free(list.p);
        } else {
            saga_error_hint(err, "saga %s takes no input fields", spec->name);
        }
        goto out;
    }
    for (size_t f = 0; f < spec->n_inputs; f++) {
        const saga_input_field *in = &spec->inputs[f];
        v = json_object_get(input, in->name);
        if ((!v || json_is_null(v)) && !in->required)
            continue;
        if (!v) {
            rc = saga_error_set(err, SAGA_EINVAL,
                                "input.%s: required field missing", in->name);
            goto out;
        }
        if (!field_matches(in->type, v)) {
            rc = saga_error_set(err, SAGA_EINVAL,
                                "input.%s: expected %s, got %s", in->name,
                                field_types[in->type], type_name(v));
            goto out;
        }
    }
    saga_error_clear(err);
out:
    free(path.p);
    return rc;
}
