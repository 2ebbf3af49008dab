/*
 * template.c - scanning and rendering payload templates (rules in
 * template.h and docs/spec.md).
 *
 * The scanner is the single definition of the reference syntax: the spec
 * validator walks the same pieces to check every reference when a spec is
 * applied, so a template that validated can only fail to render on a size
 * limit or out of memory. Rendering copies everything it returns (the result
 * never shares nodes with the spec or the saga input), and it keeps a byte
 * budget because a small template can copy a large input many times.
 */
#include "template.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_HINT                                                               \
    "a reference is ${input.FIELD}, ${steps.STEP.reserve.result.FIELD}, "      \
    "${saga.id} or ${saga.name}; write $${ for a literal ${"

/* How much of a reference a message quotes. */
#define SHOW_MAX 80

/* Copies s[0..n) into out as text fit for a one-line message: quotes and
 * control characters escaped, cut at SHOW_MAX bytes on a UTF-8 boundary. */
static void show(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    bool cut = false;
    if (n > SHOW_MAX) {
        n = SHOW_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        cut = true;
    }
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (cut && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static bool ref_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool seg_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* Splits body[0..n) at '.' into at most 5 segments (seg, seg_len) and
 * counts them all in *nseg; SAGA_EINVAL for a character that is not
 * allowed or an empty segment (shown = the reference, for messages). */
static int split_ref(const char *body, size_t n, const char *shown,
                     const char **seg, size_t *seg_len, size_t *nseg,
                     saga_error *err)
{
    size_t start = 0;

    *nseg = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && body[i] != '.') {
            if (!ref_char(body[i])) {
                saga_error_set(err, SAGA_EINVAL,
                               "invalid character in reference \"%s\"", shown);
                saga_error_hint(err, "names in a reference use letters, "
                                     "digits, '_' and '-', separated by '.'");
                return SAGA_EINVAL;
            }
            continue;
        }
        if (i == start) {
            saga_error_set(err, SAGA_EINVAL, "empty name in reference \"%s\"",
                           shown);
            saga_error_hint(err, REF_HINT);
            return SAGA_EINVAL;
        }
        if (*nseg < 5) {
            seg[*nseg] = body + start;
            seg_len[*nseg] = i - start;
        }
        (*nseg)++;
        start = i + 1;
    }
    return 0;
}

/* Parses the body of "${body}" (whole = the "${...}" text, for messages). */
static int parse_ref(const char *body, size_t n, const char *whole,
                     size_t whole_len, saga_template_piece *pc,
                     saga_error *err)
{
    char shown[SHOW_MAX * 6 + 8];
    const char *seg[5];
    size_t seg_len[5];
    size_t nseg;

    show(shown, sizeof shown, whole, whole_len);
    if (split_ref(body, n, shown, seg, seg_len, &nseg, err) != 0)
        return SAGA_EINVAL;

    if (nseg >= 1 && seg_is(seg[0], seg_len[0], "input")) {
        if (nseg < 2) {
            saga_error_set(err, SAGA_EINVAL,
                           "reference \"%s\" names no input field", shown);
            saga_error_hint(err, "write ${input.FIELD}");
            return SAGA_EINVAL;
        }
        pc->kind = SAGA_PIECE_INPUT;
        pc->path = seg[1];
        pc->path_len = (size_t)(body + n - seg[1]);
        return 0;
    }
    if (nseg >= 1 && seg_is(seg[0], seg_len[0], "saga")) {
        if (nseg == 2 && seg_is(seg[1], seg_len[1], "id")) {
            pc->kind = SAGA_PIECE_SAGA_ID;
            return 0;
        }
        if (nseg == 2 && seg_is(seg[1], seg_len[1], "name")) {
            pc->kind = SAGA_PIECE_SAGA_NAME;
            return 0;
        }
        saga_error_set(err, SAGA_EINVAL, "unknown reference \"%s\"", shown);
        saga_error_hint(err, "the saga itself offers ${saga.id} and "
                             "${saga.name}");
        return SAGA_EINVAL;
    }
    if (nseg >= 1 && seg_is(seg[0], seg_len[0], "steps")) {
        bool signal = nseg >= 5 && seg_is(seg[2], seg_len[2], "signal") &&
                      seg_is(seg[3], seg_len[3], "data");
        if (!signal && (nseg < 5 || !seg_is(seg[2], seg_len[2], "reserve") ||
                        !seg_is(seg[3], seg_len[3], "result"))) {
            saga_error_set(err, SAGA_EINVAL,
                           "malformed step reference \"%s\"", shown);
            saga_error_hint(err, "a step's result is referenced as "
                                 "${steps.STEP.reserve.result.FIELD}, a "
                                 "signal's data as "
                                 "${steps.STEP.signal.data.FIELD}");
            return SAGA_EINVAL;
        }
        pc->kind = SAGA_PIECE_STEP;
        pc->signal = signal;
        pc->step = seg[1];
        pc->step_len = seg_len[1];
        pc->path = seg[4];
        pc->path_len = (size_t)(body + n - seg[4]);
        return 0;
    }
    saga_error_set(err, SAGA_EINVAL, "unknown reference \"%s\"", shown);
    saga_error_hint(err, REF_HINT);
    return SAGA_EINVAL;
}

static int emit_text(const char *s, size_t n, saga_template_piece_fn fn,
                     void *arg)
{
    if (n == 0)
        return 0;
    saga_template_piece pc = {.kind = SAGA_PIECE_TEXT, .text = s, .len = n};
    return fn(&pc, arg);
}

int saga_template_scan(const char *s, size_t len, saga_template_piece_fn fn,
                       void *arg, saga_error *err)
{
    size_t i = 0, lit = 0;
    int rc;

    while (i < len) {
        if (s[i] != '$') {
            i++;
            continue;
        }
        if (i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
            if ((rc = emit_text(s + lit, i - lit, fn, arg)) != 0 ||
                (rc = emit_text(s + i + 1, 2, fn, arg)) != 0)
                return rc;
            i += 3;
            lit = i;
            continue;
        }
        if (i + 1 >= len || s[i + 1] != '{') {
            i++;
            continue;
        }
        const char *close = memchr(s + i + 2, '}', len - i - 2);
        if (!close) {
            char shown[SHOW_MAX * 6 + 8];
            show(shown, sizeof shown, s + i, len - i);
            saga_error_set(err, SAGA_EINVAL, "unterminated reference \"%s\"",
                           shown);
            saga_error_hint(err, "a reference ends with '}'; write $${ for "
                                 "a literal ${");
            return SAGA_EINVAL;
        }
        size_t end = (size_t)(close - s) + 1;
        saga_template_piece pc = {.text = s + i, .len = end - i};
        if ((rc = parse_ref(s + i + 2, end - i - 3, s + i, end - i, &pc,
                            err)) != 0)
            return rc;
        if ((rc = emit_text(s + lit, i - lit, fn, arg)) != 0 ||
            (rc = fn(&pc, arg)) != 0)
            return rc;
        i = end;
        lit = i;
    }
    return emit_text(s + lit, len - lit, fn, arg);
}

/* --- rendering -------------------------------------------------------------- */

typedef struct render_state {
    const saga_template_ctx *ctx;
    size_t budget; /* bytes still allowed in the result */
    saga_error *err;
} render_state;

/* A growable string for interpolation. */
typedef struct strbuf {
    char *p;
    size_t len, cap;
} strbuf;

static int strbuf_put(strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return SAGA_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int spend(render_state *rs, size_t n)
{
    if (n > rs->budget)
        return saga_error_set(rs->err, SAGA_ELIMIT,
                              "rendered payload is larger than the limit of "
                              "%d bytes",
                              SAGA_TEMPLATE_MAX_BYTES);
    rs->budget -= n;
    return 0;
}

/* Follows a dotted path from v through nested objects; NULL when absent. */
static const json_t *follow(const json_t *v, const char *path, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n && v; i++) {
        if (i < n && path[i] != '.')
            continue;
        if (!json_is_object(v))
            return NULL;
        v = json_object_getn(v, path + start, i - start);
        start = i + 1;
    }
    return v;
}

/* Resolves a reference into *out: a new reference owned by the caller, or
 * NULL when the value is absent at run time. */
static int resolve(render_state *rs, const saga_template_piece *pc,
                   json_t **out)
{
    const saga_template_ctx *ctx = rs->ctx;
    const json_t *v = NULL;
    *out = NULL;

    switch (pc->kind) {
    case SAGA_PIECE_SAGA_ID:
    case SAGA_PIECE_SAGA_NAME: {
        const char *s = pc->kind == SAGA_PIECE_SAGA_ID ? ctx->saga_id
                                                       : ctx->saga_name;
        if (s && !(*out = json_string(s)))
            return saga_error_set(rs->err, SAGA_EINVAL,
                                  "saga id or name is not valid UTF-8");
        return 0;
    }
    case SAGA_PIECE_INPUT:
        v = follow(ctx->input, pc->path, pc->path_len);
        break;
    case SAGA_PIECE_STEP: {
        size_t i = 0, n = ctx->spec ? ctx->spec->n_steps : 0;
        while (i < n && !(strlen(ctx->spec->steps[i].name) == pc->step_len &&
                          memcmp(ctx->spec->steps[i].name, pc->step,
                                 pc->step_len) == 0))
            i++;
        if (i == n) {
            char shown[SHOW_MAX * 6 + 8];
            show(shown, sizeof shown, pc->text, pc->len);
            return saga_error_set(rs->err, SAGA_EINVAL,
                                  "unknown step in reference \"%s\"", shown);
        }
        if (ctx->results && ctx->results[i])
            v = follow(ctx->results[i], pc->path, pc->path_len);
        break;
    }
    case SAGA_PIECE_TEXT:
        break;
    }
    if (v && !(*out = json_deep_copy(v)))
        return saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
    return 0;
}

typedef struct interp {
    render_state *rs;
    strbuf out;
    int rc;
} interp;

static int interp_piece(const saga_template_piece *pc, void *arg)
{
    interp *it = arg;
    render_state *rs = it->rs;
    json_t *v = NULL;
    char *dumped = NULL;
    const char *text = pc->text;
    size_t n = pc->len;
    int rc;

    if (pc->kind != SAGA_PIECE_TEXT) {
        if ((rc = resolve(rs, pc, &v)) != 0)
            return rc;
        if (!v || json_is_null(v)) {
            n = 0;
        } else if (json_is_string(v)) {
            text = json_string_value(v);
            n = json_string_length(v);
        } else {
            dumped = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT |
                                       JSON_REAL_PRECISION(15));
            if (!dumped) {
                json_decref(v);
                return saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
            }
            text = dumped;
            n = strlen(dumped);
        }
    }
    rc = spend(rs, n);
    if (rc == 0 && strbuf_put(&it->out, text, n) != 0)
        rc = saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
    free(dumped);
    json_decref(v);
    return rc;
}

typedef struct first_ref {
    size_t n;
    saga_template_piece pc;
} first_ref;

static int count_piece(const saga_template_piece *pc, void *arg)
{
    first_ref *f = arg;
    if (f->n++ == 0)
        f->pc = *pc;
    return 0;
}

static json_t *render(render_state *rs, const json_t *t);

static json_t *render_string(render_state *rs, const json_t *t)
{
    const char *s = json_string_value(t);
    size_t len = json_string_length(t);

    if (!memchr(s, '$', len)) {
        if (spend(rs, len + 2) != 0)
            return NULL;
        json_t *copy = json_stringn(s, len);
        if (!copy)
            saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
        return copy;
    }

    first_ref f = {0};
    if (saga_template_scan(s, len, count_piece, &f, rs->err) != 0)
        return NULL;
    if (f.n == 1 && f.pc.kind != SAGA_PIECE_TEXT) {
        json_t *v;
        if (resolve(rs, &f.pc, &v) != 0)
            return NULL;
        if (!v)
            return json_null();
        size_t size = json_dumpb(v, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT);
        if (spend(rs, size) != 0) {
            json_decref(v);
            return NULL;
        }
        return v;
    }

    interp it = {.rs = rs};
    json_t *res = NULL;
    if (strbuf_put(&it.out, "", 0) != 0)
        saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
    else if (saga_template_scan(s, len, interp_piece, &it, rs->err) == 0 &&
             !(res = json_stringn(it.out.p, it.out.len)))
        saga_error_set(rs->err, SAGA_EINVAL,
                       "rendered string is not valid UTF-8");
    free(it.out.p);
    return res;
}

static json_t *render_object(render_state *rs, const json_t *t)
{
    json_t *obj = json_object();
    const char *key;
    size_t key_len;
    json_t *val;

    if (!obj) {
        saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
        return NULL;
    }
    json_object_keylen_foreach((json_t *)t, key, key_len, val) {
        json_t *r;
        if (spend(rs, key_len + 4) != 0 || !(r = render(rs, val))) {
            json_decref(obj);
            return NULL;
        }
        if (json_object_setn_new_nocheck(obj, key, key_len, r) != 0) {
            saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *render_array(render_state *rs, const json_t *t)
{
    json_t *arr = json_array();
    size_t i;
    json_t *val;

    if (!arr) {
        saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
        return NULL;
    }
    json_array_foreach(t, i, val) {
        json_t *r;
        if (spend(rs, 1) != 0 || !(r = render(rs, val))) {
            json_decref(arr);
            return NULL;
        }
        if (json_array_append_new(arr, r) != 0) {
            saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *render(render_state *rs, const json_t *t)
{
    json_t *r;
    switch (json_typeof(t)) {
    case JSON_OBJECT:
        return render_object(rs, t);
    case JSON_ARRAY:
        return render_array(rs, t);
    case JSON_STRING:
        return render_string(rs, t);
    default:
        if (spend(rs, 8) != 0)
            return NULL;
        if (!(r = json_copy((json_t *)t)))
            saga_error_set(rs->err, SAGA_ENOMEM, "out of memory");
        return r;
    }
}

json_t *saga_template_render(const json_t *tmpl, const saga_template_ctx *ctx,
                             saga_error *err)
{
    render_state rs = {.ctx = ctx, .budget = SAGA_TEMPLATE_MAX_BYTES,
                       .err = err};
    if (!tmpl) {
        saga_error_set(err, SAGA_EINVAL, "no template to render");
        return NULL;
    }
    return render(&rs, tmpl);
}
