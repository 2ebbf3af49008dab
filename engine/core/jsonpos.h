/*
 * jsonpos.h - a JSON reader that remembers where each value was (private to
 * the core: the spec parser's front end).
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * jansson reports positions only for syntax errors, but every spec error
 * must point at a line and column. jsonpos_parse builds the jansson tree the
 * rest of sagad uses and, beside it, an arena of nodes holding each value's
 * position and each member's key position. Errors go to a spec_diag, under
 * the JSON path of the value being read.
 */
#ifndef SAGA_JSONPOS_H
#define SAGA_JSONPOS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "spec_diag.h"

/* One JSON value with its position. Children of a container are linked in
 * document order through first/next; index 0 is the root, so 0 doubles as
 * "no node" in links. */
typedef struct jsonpos_node {
    json_t *v;     /* borrowed: owned by the tree under jsonpos_doc.root */
    char *key;     /* object member: its key (owned); NULL otherwise */
    uint32_t first, next, n_kids;
    int line, col; /* of the value's first character; columns count
                      characters, not bytes */
    int key_line, key_col;
} jsonpos_node;

/* Zero-initialise before jsonpos_parse; free with jsonpos_free. */
typedef struct jsonpos_doc {
    jsonpos_node *nodes;
    size_t n_nodes, cap_nodes;
    json_t *root; /* owned; NULL until a parse succeeds */
} jsonpos_doc;

/*
 * Parses buf[0..len) (a leading UTF-8 BOM is skipped) into doc. Returns 0,
 * or -1 after a syntax error (reported to d; nothing after it can be
 * trusted; nesting deeper than SAGA_SPEC_MAX_DEPTH counts as one) or when
 * memory ran out (d->oom set). Errors that do not stop the reader (duplicate
 * keys, out-of-range numbers, over-long strings) are reported and reading
 * goes on.
 */
int jsonpos_parse(jsonpos_doc *doc, spec_diag *d, const char *buf,
                  size_t len);

/* Member `key` of object node obj, or 0 when absent. */
uint32_t jsonpos_member(const jsonpos_doc *doc, uint32_t obj, const char *key);

/* Frees the nodes and the tree (not doc itself). */
void jsonpos_free(jsonpos_doc *doc);

#endif
