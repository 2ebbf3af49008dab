/*
 * table.c - aligned text tables (see table.h).
 */
#include "table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct cell {
    char *text;      /* owned; NULL = empty */
    const char *sgr; /* borrowed */
} cell;

struct saga_table {
    size_t n_cols;
    char **headers;  /* owned */
    int *flags;
    cell *cells;     /* n_rows * n_cols */
    size_t n_rows, cap_rows;
    bool oom;
};

saga_table *saga_table_new(size_t n_cols)
{
    saga_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->n_cols = n_cols;
    t->headers = calloc(n_cols ? n_cols : 1, sizeof *t->headers);
    t->flags = calloc(n_cols ? n_cols : 1, sizeof *t->flags);
    if (!t->headers || !t->flags) {
        saga_table_free(t);
        return NULL;
    }
    return t;
}

void saga_table_free(saga_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_cols && t->headers; i++)
        free(t->headers[i]);
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i].text);
    free(t->headers);
    free(t->flags);
    free(t->cells);
    free(t);
}

/* A copy with control characters turned into spaces. */
static char *clean_copy(const char *s)
{
    char *c = strdup(s);
    if (!c)
        return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return c;
}

void saga_table_column(saga_table *t, size_t col, const char *header, int flags)
{
    if (col >= t->n_cols)
        return;
    free(t->headers[col]);
    t->headers[col] = clean_copy(header);
    if (!t->headers[col])
        t->oom = true;
    t->flags[col] = flags;
}

void saga_table_row(saga_table *t)
{
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        cell *c = realloc(t->cells, cap * t->n_cols * sizeof *c);
        if (!c) {
            t->oom = true;
            return;
        }
        t->cells = c;
        t->cap_rows = cap;
    }
    memset(&t->cells[t->n_rows * t->n_cols], 0, t->n_cols * sizeof *t->cells);
    t->n_rows++;
}

void saga_table_cell(saga_table *t, size_t col, const char *text, const char *sgr)
{
    if (t->n_rows == 0 || col >= t->n_cols)
        return;
    cell *c = &t->cells[(t->n_rows - 1) * t->n_cols + col];
    free(c->text);
    c->text = NULL;
    c->sgr = sgr;
    if (text) {
        c->text = clean_copy(text);
        if (!c->text)
            t->oom = true;
    }
}

void saga_table_cellf(saga_table *t, size_t col, const char *sgr,
                      const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    saga_table_cell(t, col, buf, sgr);
}

size_t saga_table_rows(const saga_table *t)
{
    return t->n_rows;
}

bool saga_table_ok(const saga_table *t)
{
    return !t->oom;
}

size_t saga_text_width(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Byte length of the first `chars` code points of s. */
static size_t prefix_bytes(const char *s, size_t chars)
{
    size_t i = 0, n = 0;
    while (s[i]) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (n == chars)
                break;
            n++;
        }
        i++;
    }
    return i;
}

static void print_cell(FILE *out, const char *text, const char *sgr,
                       size_t width, int flags, bool last, bool color)
{
    const char *s = text ? text : "";
    size_t w = saga_text_width(s);
    size_t shown = w, keep = strlen(s);
    bool cut = w > width;
    if (cut) {
        size_t room = width > 3 ? width - 3 : width;
        keep = prefix_bytes(s, room);
        shown = width;
    }
    size_t pad = width - shown;
    if (flags & SAGA_TABLE_RIGHT)
        fprintf(out, "%*s", (int)pad, "");
    if (color && sgr)
        fprintf(out, "\033[%sm", sgr);
    fwrite(s, 1, keep, out);
    if (cut && width > 3)
        fputs("...", out);
    if (color && sgr)
        fputs("\033[0m", out);
    if (!(flags & SAGA_TABLE_RIGHT) && !last)
        fprintf(out, "%*s", (int)pad, "");
}

/* Cuts shrinkable columns, widest first, until the row fits in width. */
static void fit(const saga_table *t, size_t *w, size_t width)
{
    size_t total = 0;
    for (size_t i = 0; i < t->n_cols; i++)
        total += w[i] + (i ? 2 : 0);
    while (total > width) {
        size_t best = t->n_cols;
        for (size_t i = 0; i < t->n_cols; i++)
            if ((t->flags[i] & SAGA_TABLE_SHRINK) && w[i] > SAGA_TABLE_MIN_SHRINK &&
                (best == t->n_cols || w[i] > w[best]))
                best = i;
        if (best == t->n_cols)
            return;
        w[best]--;
        total--;
    }
}

/* Prints one line with its trailing blanks removed (empty last cells). */
static void print_line(const saga_table *t, FILE *out, const size_t *w,
                       char *const *texts, const char *const *sgrs, bool color)
{
    char *line = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&line, &len);
    if (!m)
        return;
    for (size_t i = 0; i < t->n_cols; i++) {
        if (i)
            fputs("  ", m);
        print_cell(m, texts[i], sgrs[i], w[i], t->flags[i], i + 1 == t->n_cols,
                   color);
    }
    fclose(m);
    while (len && line[len - 1] == ' ')
        len--;
    fwrite(line, 1, len, out);
    fputc('\n', out);
    free(line);
}

void saga_table_print(const saga_table *t, FILE *out, size_t width,
                      bool header, bool color)
{
    if (t->n_cols == 0)
        return;
    size_t *w = calloc(t->n_cols, sizeof *w);
    char **texts = calloc(t->n_cols, sizeof *texts);
    const char **sgrs = calloc(t->n_cols, sizeof *sgrs);
    if (!w || !texts || !sgrs)
        goto out;
    for (size_t i = 0; i < t->n_cols; i++) {
        if (header)
            w[i] = saga_text_width(t->headers[i]);
        for (size_t r = 0; r < t->n_rows; r++) {
            size_t cw = saga_text_width(t->cells[r * t->n_cols + i].text);
            if (cw > w[i])
                w[i] = cw;
        }
    }
    if (width)
        fit(t, w, width);
    if (header) {
        for (size_t i = 0; i < t->n_cols; i++) {
            texts[i] = t->headers[i];
            sgrs[i] = "1";
        }
        print_line(t, out, w, texts, sgrs, color);
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t i = 0; i < t->n_cols; i++) {
            texts[i] = t->cells[r * t->n_cols + i].text;
            sgrs[i] = t->cells[r * t->n_cols + i].sgr;
        }
        print_line(t, out, w, texts, sgrs, color);
    }
out:
    free(w);
    free(texts);
    free(sgrs);
}
