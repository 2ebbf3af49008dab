/*
 * siblings.c - the table of siblings.h: open addressing over a power-of-two
 * array, each key confined to a window of PROBE slots from its hash. A
 * lookup reads the whole window (so a freed slot needs no tombstone) and an
 * insert takes the key's own slot or the first free or expired one; a full
 * window drops the entry, which costs one turn, not a correctness bug.
 */
#include "siblings.h"

#include <stdlib.h>
#include <string.h>

#define PROBE 8

typedef struct slot {
    char key[SAGA_SIBLINGS_KEY_MAX];
    uint8_t len;
    uint32_t left; /* replies still awaited; 0 = free */
    int64_t sent_ms;
} slot;

struct saga_siblings {
    slot *v;
    size_t mask;
};

saga_siblings *saga_siblings_new(size_t cap)
{
    size_t n = PROBE;
    while (n < cap)
        n *= 2;
    saga_siblings *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->v = calloc(n, sizeof *s->v);
    if (!s->v) {
        free(s);
        return NULL;
    }
    s->mask = n - 1;
    return s;
}

void saga_siblings_free(saga_siblings *s)
{
    if (s)
        free(s->v);
    free(s);
}

static size_t hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return (size_t)h;
}

static bool live(const slot *e, int64_t now_ms)
{
    return e->left && now_ms - e->sent_ms < SAGA_SIBLINGS_TTL_MS;
}

/* The live slot holding key, or NULL. */
static slot *find(const saga_siblings *s, const void *key, size_t len, int64_t now_ms)
{
    if (len == 0 || len > SAGA_SIBLINGS_KEY_MAX)
        return NULL;
    size_t h = hash(key, len);
    for (size_t i = 0; i < PROBE; i++) {
        slot *e = &s->v[(h + i) & s->mask];
        if (live(e, now_ms) && e->len == len && memcmp(e->key, key, len) == 0)
            return e;
    }
    return NULL;
}

void saga_siblings_sent(saga_siblings *s, const void *key, size_t len, size_t n, int64_t now_ms)
{
    slot *e = find(s, key, len, now_ms);
    if (n < 2) {
        if (e)
            e->left = 0;
        return;
    }
    if (!e && len && len <= SAGA_SIBLINGS_KEY_MAX) {
        size_t h = hash(key, len);
        for (size_t i = 0; i < PROBE && !e; i++) {
            slot *c = &s->v[(h + i) & s->mask];
            if (!live(c, now_ms))
                e = c;
        }
    }
    if (!e)
        return;
    memcpy(e->key, key, len);
    e->len = (uint8_t)len;
    e->left = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    e->sent_ms = now_ms;
}

bool saga_siblings_replied(saga_siblings *s, const void *key, size_t len, int64_t now_ms)
{
    slot *e = find(s, key, len, now_ms);
    if (!e)
        return false;
    e->left--;
    return e->left > 0;
}

bool saga_siblings_awaits(const saga_siblings *s, const void *key, size_t len, int64_t now_ms)
{
    return find(s, key, len, now_ms) != NULL;
}

size_t saga_siblings_count(const saga_siblings *s, int64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i <= s->mask; i++)
        n += live(&s->v[i], now_ms);
    return n;
}
