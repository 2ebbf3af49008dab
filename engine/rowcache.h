/*
 * rowcache.h - the sagas sagad has just written, kept in memory so that its
 * next turn for them needs no load (engine.h, saga_engine_set_cache).
 *
 * Layer: engine/, the coordinator's I/O shell; used by engine.c only; it
 * includes core, common and engine/.
 *
 * An entry is the state a committed turn wrote, with the writer id that
 * write left on the saga's row. Correctness does not rest on the cache: a
 * turn's write of a remembered saga succeeds only if the row still names
 * that writer (store.h), so an entry made stale by anyone (sagactl,
 * another sagad, a circuit breaker) costs a rolled-back turn, never a
 * decision taken on old state. Entries hold only the saga's own
 * steps (a saga_row is 40 kB, an entry of order_checkout under 1 kB), and
 * the table is bounded: the least recently used entry goes first.
 */
#ifndef SAGA_ROWCACHE_H
#define SAGA_ROWCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

typedef struct saga_rowcache saga_rowcache;

/* At most cap entries (cap >= 1). Owned: saga_rowcache_free. NULL when out
 * of memory. */
saga_rowcache *saga_rowcache_new(size_t cap);
void saga_rowcache_free(saga_rowcache *c);

/* Fills *row (overwritten; free it with saga_row_clear) from id's entry,
 * with loaded equal to st and remembered set: true on a hit. id in lower
 * case, as stored. */
bool saga_rowcache_get(saga_rowcache *c, const char *id, saga_row *row);

/* Remembers row's state as committed, with writer row->writer, in place
 * of any entry for its id; when out of memory it only forgets that id. */
void saga_rowcache_put(saga_rowcache *c, const saga_row *row);

void saga_rowcache_drop(saga_rowcache *c, const char *id);
size_t saga_rowcache_count(const saga_rowcache *c);

#endif
