/*
 * hops.c - the hop timing header (see hops.h): formatting in sagad and the
 * workers, the durations in sagad, reading them back in sagactl. Plain
 * decimal text, because it is read by people in `sagactl history` too.
 */
#include "hops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t saga_hops_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void saga_hops_turn(char *buf, size_t cap, const int64_t t[5])
{
    snprintf(buf, cap, "s%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64, t[0], t[1],
             t[2], t[3], t[4]);
}

/* Reads tag then five comma-separated integers from s; the end in *end. */
static bool read5(const char *s, char tag, int64_t v[5], const char **end)
{
    if (*s != tag)
        return false;
    s++;
    for (int i = 0; i < 5; i++) {
        char *e;
        v[i] = strtoll(s, &e, 10);
        if (e == s || (i < 4 && *e != ','))
            return false;
        s = i < 4 ? e + 1 : e;
    }
    *end = s;
    return true;
}

bool saga_hops_worker(char *buf, size_t cap, const char *cmd, size_t len, const int64_t t[5])
{
    char in[SAGA_HOPS_MAX];
    int64_t s[5];
    const char *end;
    if (!cmd || len >= sizeof in) /* a header with no value: nothing to carry */
        return false;
    memcpy(in, cmd, len);
    in[len] = '\0';
    if (!read5(in, 's', s, &end) || *end)
        return false;
    int n = snprintf(buf, cap, "%s;w%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
                     in, t[0], t[1], t[2], t[3], t[4]);
    return n > 0 && (size_t)n < cap;
}

/* The part of the gap from produced to taken during which the receiver
 * was still busy (it let go at free). */
static int64_t waited(int64_t produced, int64_t free, int64_t taken)
{
    int64_t w = free - produced;
    if (w < 0)
        return 0;
    return w > taken - produced ? taken - produced : w;
}

bool saga_hops_text(const char *v, size_t len, int64_t free_us, int64_t turn_us, char *out,
                    size_t cap)
{
    char in[SAGA_HOPS_MAX];
    int64_t s[5], w[5];
    const char *end;
    if (!v || len >= sizeof in)
        return false;
    memcpy(in, v, len);
    in[len] = '\0';
    if (!read5(in, 's', s, &end) || *end != ';' || !read5(end + 1, 'w', w, &end) || *end)
        return false;
    int64_t cmd_wait = waited(s[4], w[0], w[1]);
    int64_t reply_wait = waited(w[4], free_us, turn_us);
    int n = snprintf(out, cap,
                     "turn.decode=%" PRId64 " turn.decide=%" PRId64 " turn.commit=%" PRId64
                     " turn.publish=%" PRId64 " cmd.transit=%" PRId64 " cmd.wait=%" PRId64
                     " worker.fill=%" PRId64 " worker.apply=%" PRId64 " worker.reply=%" PRId64
                     " reply.transit=%" PRId64 " reply.wait=%" PRId64,
                     s[1] - s[0], s[2] - s[1], s[3] - s[2], s[4] - s[3],
                     w[1] - s[4] - cmd_wait, cmd_wait, w[2] - w[1], w[3] - w[2], w[4] - w[3],
                     turn_us - w[4] - reply_wait, reply_wait);
    return n > 0 && (size_t)n < cap;
}

bool saga_hops_get(const char *text, const char *key, int64_t *us)
{
    size_t k = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, k) == 0 && p[k] == '=') {
            char *e;
            *us = strtoll(p + k + 1, &e, 10);
            return e != p + k + 1;
        }
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return false;
}
