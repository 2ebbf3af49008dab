/*
 * spec_diag.c - the diagnostics of a spec: collected, prefixed with the
 * JSON path, sorted by position at the end (interface in spec_diag.h).
 *
 * Messages are formatted when reported, not when flushed, because the path
 * they name is only current at that moment. At most SAGA_SPEC_MAX_ERRORS
 * are kept, so a hostile file cannot make the report large; the others are
 * counted and summarised in one line. Every allocation failure is recorded
 * in d->oom instead of being returned, so that the many call sites of the
 * validators stay one line each and the run checks once at the end.
 */
#include "spec_diag.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest word the "did you mean" hint compares. */
#define SUGGEST_MAX 64

/* --- quoting -------------------------------------------------------------- */

const char *spec_quote(spec_qbuf *b, const char *s, size_t n)
{
    size_t o = 0;
    bool cut = false;
    if (n > SPEC_QUOTE_MAX) {
        n = SPEC_QUOTE_MAX;
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

const char *spec_quote_str(spec_qbuf *b, const char *s)
{
    return spec_quote(b, s, strlen(s));
}

/* --- messages ------------------------------------------------------------- */

typedef struct spec_msg {
    int line, col;
    size_t seq;
    char *text;
    char *hint; /* NULL when none */
} spec_msg;

void spec_diag_verror(spec_diag *d, int line, int col, bool limit,
                      const char *fmt, va_list ap)
{
    d->n_errors++;
    d->limit |= limit;
    d->last_kept = false;
    if (d->n_msgs >= SAGA_SPEC_MAX_ERRORS)
        return;
    if (d->n_msgs == d->cap_msgs) {
        size_t cap = d->cap_msgs ? d->cap_msgs * 2 : 8;
        spec_msg *m = realloc(d->msgs, cap * sizeof *m);
        if (!m) {
            d->oom = true;
            return;
        }
        d->msgs = m;
        d->cap_msgs = cap;
    }
    saga_buf t = {0};
    saga_buf_printf(&t, "%s:%d:%d: %s: ", d->file, line, col,
                    d->path.len ? saga_buf_str(&d->path) : "(root)");
    saga_buf_vprintf(&t, fmt, ap);
    char *text = saga_buf_take(&t);
    if (!text) {
        d->oom = true;
        return;
    }
    d->msgs[d->n_msgs] = (spec_msg){line, col, d->n_msgs, text, NULL};
    d->n_msgs++;
    d->last_kept = true;
}

void spec_diag_error(spec_diag *d, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    spec_diag_verror(d, line, col, false, fmt, ap);
    va_end(ap);
}

void spec_diag_limit(spec_diag *d, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    spec_diag_verror(d, line, col, true, fmt, ap);
    va_end(ap);
}

void spec_diag_hint(spec_diag *d, const char *fmt, ...)
{
    if (!d->last_kept)
        return;
    saga_buf h = {0};
    va_list ap;
    va_start(ap, fmt);
    saga_buf_puts(&h, "hint: ");
    saga_buf_vprintf(&h, fmt, ap);
    va_end(ap);
    char *text = saga_buf_take(&h);
    if (!text) {
        d->oom = true;
        return;
    }
    spec_msg *m = &d->msgs[d->n_msgs - 1];
    free(m->hint);
    m->hint = text;
}

/* --- JSON paths ----------------------------------------------------------- */

static bool is_plain_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > SPEC_QUOTE_MAX)
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

void spec_path_put_key(saga_buf *p, const char *key)
{
    if (is_plain_key(key)) {
        if (p->len)
            saga_buf_putn(p, ".", 1);
        saga_buf_puts(p, key);
    } else {
        spec_qbuf b;
        saga_buf_putn(p, "[", 1);
        saga_buf_puts(p, spec_quote_str(&b, key));
        saga_buf_putn(p, "]", 1);
    }
}

size_t spec_path_key(spec_diag *d, const char *key)
{
    size_t mark = d->path.len;
    spec_path_put_key(&d->path, key);
    return mark;
}

size_t spec_path_index(spec_diag *d, size_t i)
{
    size_t mark = d->path.len;
    saga_buf_printf(&d->path, "[%zu]", i);
    return mark;
}

void spec_path_leave(spec_diag *d, size_t mark)
{
    saga_buf_trunc(&d->path, mark);
}

/* --- suggestions ---------------------------------------------------------- */

size_t spec_edit_distance(const char *a, const char *b)
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

void spec_diag_suggest(spec_diag *d, const char *word,
                       const char *const *cands, size_t n, const char *what)
{
    spec_qbuf qb;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    size_t shown = 0;

    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        size_t dist = spec_edit_distance(word, cands[i]);
        if (dist < best_d) {
            best_d = dist;
            best = cands[i];
        }
    }
    size_t wl = strlen(word);
    if (best && best_d <= 2 && best_d < wl && best_d * 3 <= wl + 2) {
        spec_diag_hint(d, "did you mean %s?", spec_quote_str(&qb, best));
        return;
    }
    saga_buf list = {0};
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        saga_buf_puts(&list, shown++ ? ", " : "");
        saga_buf_puts(&list, cands[i]);
    }
    if (shown)
        spec_diag_hint(d, "%s: %s", what, saga_buf_str(&list));
    d->oom |= list.oom;
    saga_buf_free(&list);
}

/* --- flushing ------------------------------------------------------------- */

static int msg_cmp(const void *a, const void *b)
{
    const spec_msg *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Appends line to d, taking it: it is freed when it cannot be added. */
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

void spec_diag_flush(spec_diag *d, saga_diag *out)
{
    qsort(d->msgs, d->n_msgs, sizeof *d->msgs, msg_cmp);
    for (size_t i = 0; i < d->n_msgs; i++) {
        spec_msg *m = &d->msgs[i];
        if (!out) {
            free(m->text);
            free(m->hint);
        } else if (diag_push(out, m->text) == 0) {
            out->n_errors++;
            if (m->hint)
                diag_push(out, m->hint);
        } else {
            free(m->hint); /* diag_push freed the text */
        }
        m->text = m->hint = NULL;
    }
    if (out && d->n_errors > d->n_msgs) {
        saga_buf more = {0};
        saga_buf_printf(&more, "%s: %zu more errors not shown (at most %d are "
                               "listed)",
                        d->file, d->n_errors - d->n_msgs,
                        SAGA_SPEC_MAX_ERRORS);
        char *line = saga_buf_take(&more);
        if (line)
            diag_push(out, line);
    }
}

void spec_diag_free(spec_diag *d)
{
    for (size_t i = 0; i < d->n_msgs; i++) {
        free(d->msgs[i].text);
        free(d->msgs[i].hint);
    }
    free(d->msgs);
    saga_buf_free(&d->path);
}

/* --- saga_diag (public, spec.h) ------------------------------------------- */

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
