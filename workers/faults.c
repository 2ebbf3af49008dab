/*
 * faults.c - seeded, stateless fault decisions.
 *
 * A stream PRNG would make the n-th decision depend on how many commands
 * came before it; hashing the command's identity with the seed instead gives
 * every command its own reproducible coin, which is what lets a chaos run be
 * replayed from its seed alone.
 */
#include "faults.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALL_ACTIONS ((1u << SAGA_WORKER_RESERVE) | (1u << SAGA_WORKER_CONFIRM) | \
                     (1u << SAGA_WORKER_COMPENSATE))

enum { SALT_RETRY = 1, SALT_REJECT, SALT_DROP, SALT_CRASH };

void saga_faults_init(saga_worker_faults *f)
{
    memset(f, 0, sizeof *f);
    f->action_mask = ALL_ACTIONS;
}

bool saga_faults_any(const saga_worker_faults *f)
{
    return f->reject_rate > 0 || f->retry_rate > 0 || f->delay_ms > 0 ||
           f->drop_reply_rate > 0 || f->crash_after_commit_rate > 0 ||
           f->ignore_mask != 0;
}

uint64_t saga_faults_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A uniform number in [0, 1) for one (command, fault kind). */
static double coin(uint64_t base, int salt)
{
    uint64_t x = saga_faults_mix(base ^ saga_faults_mix((uint64_t)salt));
    return (double)(x >> 11) * 0x1.0p-53;
}

saga_fault_draw saga_faults_draw(const saga_worker_faults *f, const char *key,
                                 saga_worker_action action, int attempt)
{
    saga_fault_draw d = {0};
    unsigned bit = 1u << action;
    if (f->ignore_mask & bit) {
        d.ignore = true;
        return d;
    }
    uint64_t base = saga_faults_mix(f->seed ^ fnv1a(key ? key : ""));
    base = saga_faults_mix(base ^ ((uint64_t)action << 32) ^ (uint32_t)attempt);
    if (action == SAGA_WORKER_RESERVE && f->reject_rate > 0)
        d.reject = coin(base, SALT_REJECT) < f->reject_rate;
    if (!(f->action_mask & bit))
        return d;
    if (f->retry_rate > 0)
        d.retry = coin(base, SALT_RETRY) < f->retry_rate;
    if (f->drop_reply_rate > 0)
        d.drop_reply = coin(base, SALT_DROP) < f->drop_reply_rate;
    if (f->crash_after_commit_rate > 0)
        d.crash = coin(base, SALT_CRASH) < f->crash_after_commit_rate;
    return d;
}

bool saga_faults_delays(const saga_worker_faults *f, saga_worker_action action)
{
    return f->delay_ms > 0 && (f->action_mask & (1u << action));
}

int saga_faults_parse_rate(const char *s, double *out)
{
    if (!s || !*s)
        return SAGA_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0 || v > 1)
        return SAGA_EINVAL;
    *out = v;
    return 0;
}

int saga_faults_parse_actions(const char *s, unsigned *mask)
{
    if (!s || !*s)
        return SAGA_EINVAL;
    unsigned m = 0;
    const char *p = s;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char word[16];
        if (len == 0 || len >= sizeof word)
            return SAGA_EINVAL;
        memcpy(word, p, len);
        word[len] = '\0';
        saga_worker_action a;
        if (strcasecmp(word, "all") == 0)
            m |= ALL_ACTIONS;
        else if (saga_worker_action_parse(word, &a) == 0)
            m |= 1u << a;
        else
            return SAGA_EINVAL;
        p += len;
        if (*p == ',')
            p++;
    }
    *mask = m;
    return 0;
}
