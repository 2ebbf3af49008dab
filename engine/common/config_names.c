/*
 * config_names.c - which names exist: "did you mean" hints for typed keys,
 * and librdkafka as the authority on kafka.* properties.
 *
 * kafka.* values are checked by handing them to a scratch librdkafka
 * configuration, because librdkafka is the only authority on its own
 * properties: a misspelt TLS option is refused at start-up rather than when
 * the first connection fails. Hints use an edit distance bounded by a third
 * of the name, so "bach.max" finds "batch.max" but "zzz" finds nothing
 * rather than something arbitrary.
 */
#include "config_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Optimal string alignment distance (a transposition counts as one edit):
 * the usual typos are a missing, extra, wrong or swapped letter. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, CONFIG_KEY_MAX), lb = strnlen(b, CONFIG_KEY_MAX);
    size_t d[3][CONFIG_KEY_MAX + 1]; /* rows i-2, i-1, i (rotating) */
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v)
                v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
        }
    }
    return d[la % 3][lb];
}

/* The declared key closest to name, if close enough to be a typo. */
static const char *closest_key(const saga_config *c, const char *name)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < c->nkeys; i++) {
        size_t d = edit_distance(name, c->keys[i]->key);
        if (d < best_d) {
            best_d = d;
            best = c->keys[i]->key;
        }
    }
    size_t len = strnlen(name, CONFIG_KEY_MAX);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    return best_d <= limit ? best : NULL;
}

void config_hint_unknown(const saga_config *c, const char *name,
                         const char *dashes, saga_error *err)
{
    const char *near = closest_key(c, name);
    if (near)
        saga_error_hint(err, "did you mean \"%s%s\"? (--help lists every key)",
                        dashes, near);
    else
        saga_error_hint(err, "--help lists every key; librdkafka properties "
                        "are written with a \"kafka.\" prefix");
}

/* The declared key or librdkafka property (as kafka.NAME) closest to name,
 * if close enough to be a typo. */
static bool closest_kafka(const saga_config *c, const char *name, char *out,
                          size_t len_out)
{
    const char *best = closest_key(c, name);
    size_t best_d = best ? edit_distance(name, best) : (size_t)-1;
    if (best)
        snprintf(out, len_out, "%s", best);
    /* librdkafka lists its properties only as its CONFIGURATION.md table:
     * the first word of each table row is a property name. */
    char *table = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&table, &tlen);
    if (f) {
        rd_kafka_conf_properties_show(f);
        fclose(f);
    }
    const char *prop = name + strlen(CONFIG_KAFKA_PREFIX);
    size_t plen = strnlen(prop, CONFIG_KEY_MAX);
    size_t limit = plen / 3 > 2 ? plen / 3 : 2;
    for (const char *line = table; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t n = strcspn(line, " |\n");
        if (n && n <= CONFIG_KEY_MAX && islower((unsigned char)line[0]) &&
            memchr(line, '|', len)) {
            char cand[CONFIG_KEY_MAX + 1];
            snprintf(cand, sizeof cand, "%.*s", (int)n, line);
            size_t d = edit_distance(prop, cand);
            if (d <= limit && d < best_d) {
                best_d = d;
                snprintf(out, len_out, "%s%s", CONFIG_KAFKA_PREFIX, cand);
            }
        }
        line = nl ? nl + 1 : line + len;
    }
    free(table);
    return best_d != (size_t)-1;
}

int config_kafka_check(saga_config *c, const saga_config_key *k,
                       const char *where, const char *name, const char *raw,
                       saga_error *err)
{
    if (!c->kconf && !(c->kconf = rd_kafka_conf_new()))
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    char errstr[512] = "";
    const char *prop = name + strlen(CONFIG_KAFKA_PREFIX);
    rd_kafka_conf_res_t r = rd_kafka_conf_set(c->kconf, prop, raw, errstr,
                                              sizeof errstr);
    if (r == RD_KAFKA_CONF_OK)
        return 0;
    if (r == RD_KAFKA_CONF_UNKNOWN) {
        saga_error_set(err, SAGA_EINVAL, "%s: unknown librdkafka property \"%s\"",
                       where, prop);
        char near[CONFIG_KEY_MAX + 8];
        if (closest_kafka(c, name, near, sizeof near))
            saga_error_hint(err, "did you mean \"%s\"?", near);
        else
            saga_error_hint(err, "keys starting with \"kafka.\" are passed to "
                            "librdkafka without the prefix; see its "
                            "CONFIGURATION.md for the property names");
        return SAGA_EINVAL;
    }
    char echo[CONFIG_ECHO_MAX * 2 + 8];
    config_echo_value(k, name, raw, echo, sizeof echo);
    if (config_is_secret(k, name))
        return saga_error_set(err, SAGA_EINVAL, "%s: invalid value: librdkafka "
                              "refused it", where);
    return saga_error_set(err, SAGA_EINVAL, "%s: invalid value%s: %s", where,
                          echo, errstr);
}
