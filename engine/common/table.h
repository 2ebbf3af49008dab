/*
 * table.h - aligned text tables for terminals and pipes (sagactl's output).
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Cells are collected first and printed at the end, because a column's width
 * is known only once every row is in. When a terminal width is given and the
 * table is wider, only columns declared shrinkable (free text such as a
 * reason or an error) are cut, widest first, each ending in "..."; ids and
 * statuses are never cut, since a truncated id cannot be pasted back. Width
 * is counted in characters (UTF-8 code points), colour codes are added after
 * padding so they never disturb alignment, and control characters inside a
 * cell (a newline in an error message) are shown as spaces so one row stays
 * one line.
 */
#ifndef SAGA_TABLE_H
#define SAGA_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum {
    SAGA_TABLE_RIGHT = 1 << 0,  /* right-aligned (numbers, durations) */
    SAGA_TABLE_SHRINK = 1 << 1  /* may be cut to fit the width */
};

/* Narrowest a shrinkable column is cut to (its header may be cut too). */
#define SAGA_TABLE_MIN_SHRINK 12

typedef struct saga_table saga_table;

/* A table with n_cols columns; NULL when out of memory.
 * Owned: saga_table_free. */
saga_table *saga_table_new(size_t n_cols);
void saga_table_free(saga_table *t);

/* Sets column col's header (copied) and SAGA_TABLE_* flags. */
void saga_table_column(saga_table *t, size_t col, const char *header,
                       int flags);

/* Starts a new row; cells not set stay empty. */
void saga_table_row(saga_table *t);

/* Sets a cell of the current row (text copied; NULL = empty). sgr is an
 * ANSI SGR parameter string such as "32" or "1;31" (borrowed, must be a
 * literal or outlive the table), or NULL for none. */
void saga_table_cell(saga_table *t, size_t col, const char *text,
                     const char *sgr);
void saga_table_cellf(saga_table *t, size_t col, const char *sgr,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

size_t saga_table_rows(const saga_table *t);

/* Whether every allocation so far succeeded (a table that ran out of
 * memory prints what it holds). */
bool saga_table_ok(const saga_table *t);

/*
 * Prints the header (unless header is false) and the rows, columns separated
 * by two spaces, with no trailing blanks. width 0 = never cut. color: emit
 * the cells' SGR codes (headers are bold).
 */
void saga_table_print(const saga_table *t, FILE *out, size_t width,
                      bool header, bool color);

/* Display width of a UTF-8 string: its code points. */
size_t saga_text_width(const char *s);

#endif
