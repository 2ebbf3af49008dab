/*
 * rowcache.c - a bounded table of compact saga rows (see rowcache.h):
 * chained hash buckets for lookup, one doubly linked list for recency.
 * JSON values (input, reserve results) are shared by reference, never
 * copied: nothing changes one in place, a new result replaces the old.
 */
#include "rowcache.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char id[SAGA_ID_LEN + 1];
    char def_name[SAGA_SPEC_MAX_NAME + 1];
    int def_version;
    int64_t writer;
    char traceparent[SAGA_TRACEPARENT_LEN + 1];
    char parent_id[SAGA_ID_LEN + 1];
    char parent_step[SAGA_SPEC_MAX_NAME + 1];
    json_t *input;
    json_t **results;  /* st->n_steps of them */
    saga_state *st;    /* only its n_steps steps are allocated */
    struct entry *chain;
    struct entry *newer, *older;
} entry;

struct saga_rowcache {
    entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t cap, count;
    entry *newest, *oldest;
};

static size_t state_size(size_t n_steps)
{
    return offsetof(saga_state, steps) + n_steps * sizeof(saga_step_state);
}

static size_t bucket_of(const saga_rowcache *c, const char *id)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ull;
    return (size_t)h & (c->n_buckets - 1);
}

saga_rowcache *saga_rowcache_new(size_t cap)
{
    saga_rowcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = cap ? cap : 1;
    c->n_buckets = 16;
    while (c->n_buckets < 2 * c->cap)
        c->n_buckets *= 2;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    return c;
}

static void entry_free(entry *e)
{
    json_decref(e->input);
    for (size_t i = 0; e->results && i < e->st->n_steps; i++)
        json_decref(e->results[i]);
    free(e->results);
    free(e->st);
    free(e);
}

static entry **find(saga_rowcache *c, const char *id)
{
    entry **p = &c->buckets[bucket_of(c, id)];
    while (*p && strcmp((*p)->id, id) != 0)
        p = &(*p)->chain;
    return p;
}

static void unlink_recency(saga_rowcache *c, entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void link_newest(saga_rowcache *c, entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    c->newest = e;
    if (!c->oldest)
        c->oldest = e;
}

void saga_rowcache_drop(saga_rowcache *c, const char *id)
{
    entry **p = find(c, id);
    entry *e = *p;
    if (!e)
        return;
    *p = e->chain;
    unlink_recency(c, e);
    entry_free(e);
    c->count--;
}

void saga_rowcache_free(saga_rowcache *c)
{
    if (!c)
        return;
    while (c->newest)
        saga_rowcache_drop(c, c->newest->id);
    free(c->buckets);
    free(c);
}

bool saga_rowcache_get(saga_rowcache *c, const char *id, saga_row *row)
{
    entry *e = *find(c, id);
    if (!e)
        return false;
    unlink_recency(c, e);
    link_newest(c, e);
    memset(row, 0, sizeof *row);
    memcpy(row->id, e->id, sizeof row->id);
    memcpy(row->def_name, e->def_name, sizeof row->def_name);
    row->def_version = e->def_version;
    row->writer = e->writer;
    row->remembered = true;
    memcpy(row->traceparent, e->traceparent, sizeof row->traceparent);
    memcpy(row->parent_id, e->parent_id, sizeof row->parent_id);
    memcpy(row->parent_step, e->parent_step, sizeof row->parent_step);
    row->input = json_incref(e->input);
    memcpy(&row->st, e->st, state_size(e->st->n_steps));
    for (size_t i = 0; i < e->st->n_steps; i++)
        row->results[i] = json_incref(e->results[i]);
    row->loaded = row->st;
    return true;
}

void saga_rowcache_put(saga_rowcache *c, const saga_row *row)
{
    saga_rowcache_drop(c, row->id);
    size_t n = row->st.n_steps;
    entry *e = calloc(1, sizeof *e);
    saga_state *st = e ? malloc(state_size(n)) : NULL;
    json_t **results = st ? calloc(n ? n : 1, sizeof *results) : NULL;
    if (!results) {
        free(st);
        free(e);
        return;
    }
    memcpy(e->id, row->id, sizeof e->id);
    memcpy(e->def_name, row->def_name, sizeof e->def_name);
    e->def_version = row->def_version;
    e->writer = row->writer;
    memcpy(e->traceparent, row->traceparent, sizeof e->traceparent);
    memcpy(e->parent_id, row->parent_id, sizeof e->parent_id);
    memcpy(e->parent_step, row->parent_step, sizeof e->parent_step);
    e->input = json_incref(row->input);
    memcpy(st, &row->st, state_size(n));
    e->st = st;
    for (size_t i = 0; i < n; i++)
        results[i] = json_incref(row->results[i]);
    e->results = results;
    if (c->count == c->cap)
        saga_rowcache_drop(c, c->oldest->id);
    entry **p = &c->buckets[bucket_of(c, e->id)];
    e->chain = *p;
    *p = e;
    link_newest(c, e);
    c->count++;
}

size_t saga_rowcache_count(const saga_rowcache *c)
{
    return c->count;
}
