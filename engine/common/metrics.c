/*
 * metrics.c - the Prometheus registry behind /metrics.
 *
 * One mutex guards the whole registry. Updates are a hash lookup and an add,
 * and a scrape every few seconds is the only long holder, so finer locking
 * would buy nothing measurable and cost a lock-order story. Series live in a
 * per-family chained hash keyed by their label values, plus an insertion
 * order array so output is stable between scrapes. Histograms keep
 * per-bucket counts and make them cumulative only when rendering, so an
 * observation touches one bucket, not all the ones above it.
 */
#include "metrics.h"

#include "buf.h"
#include "log.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum fam_type { FAM_COUNTER, FAM_GAUGE, FAM_HISTOGRAM } fam_type;

static const char *const TYPE_NAMES[] = {"counter", "gauge", "histogram"};

static const double DEFAULT_BUCKETS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10};

typedef struct series {
    char **values;       /* nlabels owned strings; NULL when unlabeled */
    uint64_t hash;
    struct series *next; /* hash chain */
    double value;        /* counter, gauge */
    double sum;          /* histogram */
    uint64_t count;      /* histogram */
    uint64_t *buckets;   /* histogram: per-bucket (not cumulative) counts */
} series;

struct saga_metrics_family {
    saga_metrics *reg;
    fam_type type;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[SAGA_METRICS_MAX_LABELS];
    double *bounds;
    size_t nbounds;
    series **order; /* insertion order, nseries entries */
    size_t nseries, order_cap;
    series **table; /* hash buckets, tsize (power of two) entries */
    size_t tsize;
    series *overflow;
    bool warned_overflow;
    bool warned_negative;
    struct saga_metrics_family *next;
};

struct saga_metrics {
    pthread_mutex_t lock;
    size_t max_series;
    saga_metrics_family *first, *last;
};

saga_metrics *saga_metrics_new(size_t max_series)
{
    saga_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->max_series = max_series ? max_series : SAGA_METRICS_DEFAULT_MAX_SERIES;
    return m;
}

static void series_free(series *s, size_t nlabels)
{
    if (!s)
        return;
    if (s->values)
        for (size_t i = 0; i < nlabels; i++)
            free(s->values[i]);
    free(s->values);
    free(s->buckets);
    free(s);
}

static void family_drop_series(saga_metrics_family *f)
{
    for (size_t i = 0; i < f->nseries; i++)
        series_free(f->order[i], f->nlabels);
    series_free(f->overflow, f->nlabels);
    f->overflow = NULL;
    f->nseries = 0;
    if (f->table)
        memset(f->table, 0, f->tsize * sizeof *f->table);
}

static void family_free(saga_metrics_family *f)
{
    family_drop_series(f);
    free(f->order);
    free(f->table);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void saga_metrics_free(saga_metrics *m)
{
    if (!m)
        return;
    saga_metrics_family *f = m->first;
    while (f) {
        saga_metrics_family *next = f->next;
        family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* --- registration -------------------------------------------------------- */

static bool name_ok(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_' || (colon && c == ':');
        if (!alpha && !(p > s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* Splits "a, b" into owned label names; returns false (and logs) when a name
 * is empty, invalid or repeated. */
static bool parse_labels(const char *metric, const char *list,
                         saga_metrics_family *f)
{
    if (!list || !list[strspn(list, " ")])
        return true;
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (f->nlabels == SAGA_METRICS_MAX_LABELS) {
            saga_log_error(NULL, "metric %s: more than %d labels", metric,
                           SAGA_METRICS_MAX_LABELS);
            return false;
        }
        char *name = strndup(p, len);
        if (!name)
            return false;
        f->labels[f->nlabels++] = name;
        if (!name_ok(name, false) || strncmp(name, "__", 2) == 0) {
            saga_log_error(NULL, "metric %s: invalid label name \"%s\"", metric,
                           name);
            return false;
        }
        for (size_t i = 0; i + 1 < f->nlabels; i++)
            if (strcmp(f->labels[i], name) == 0) {
                saga_log_error(NULL, "metric %s: label \"%s\" declared twice",
                               metric, name);
                return false;
            }
        if (!end)
            return true;
        p = end + 1;
    }
}

static bool same_shape(const saga_metrics_family *a,
                       const saga_metrics_family *b)
{
    if (a->type != b->type || a->nlabels != b->nlabels ||
        a->nbounds != b->nbounds)
        return false;
    for (size_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i], b->labels[i]) != 0)
            return false;
    for (size_t i = 0; i < a->nbounds; i++)
        if (a->bounds[i] != b->bounds[i])
            return false;
    return true;
}

static series *series_new(saga_metrics_family *f)
{
    series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (f->type == FAM_HISTOGRAM) {
        s->buckets = calloc(f->nbounds + 1, sizeof *s->buckets);
        if (!s->buckets) {
            free(s);
            return NULL;
        }
    }
    return s;
}

static bool order_push(saga_metrics_family *f, series *s)
{
    if (f->nseries == f->order_cap) {
        size_t cap = f->order_cap ? f->order_cap * 2 : 8;
        series **o = realloc(f->order, cap * sizeof *o);
        if (!o)
            return false;
        f->order = o;
        f->order_cap = cap;
    }
    f->order[f->nseries++] = s;
    return true;
}

static saga_metrics_family *family_register(saga_metrics *m, fam_type type,
                                            const char *name, const char *help,
                                            const char *label_names,
                                            const double *buckets, size_t n)
{
    if (!m)
        return NULL;
    if (!name_ok(name, true)) {
        saga_log_error(NULL, "invalid metric name \"%s\"", name ? name : "");
        return NULL;
    }
    saga_metrics_family *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->reg = m;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    bool ok = f->name && f->help && parse_labels(name, label_names, f);
    if (ok && type == FAM_HISTOGRAM) {
        if (!buckets || n == 0) {
            buckets = DEFAULT_BUCKETS;
            n = sizeof DEFAULT_BUCKETS / sizeof DEFAULT_BUCKETS[0];
        }
        if (isinf(buckets[n - 1]) && buckets[n - 1] > 0)
            n--;
        f->bounds = malloc((n ? n : 1) * sizeof *f->bounds);
        ok = f->bounds != NULL;
        for (size_t i = 0; ok && i < n; i++) {
            if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
                saga_log_error(NULL, "metric %s: bucket bounds must be finite "
                               "and strictly increasing", name);
                ok = false;
                break;
            }
            f->bounds[i] = buckets[i];
        }
        f->nbounds = n;
        for (size_t i = 0; ok && i < f->nlabels; i++)
            if (strcmp(f->labels[i], "le") == 0) {
                saga_log_error(NULL, "metric %s: \"le\" is reserved for "
                               "histogram buckets", name);
                ok = false;
            }
    }
    if (ok && f->nlabels == 0) {
        series *s = series_new(f);
        ok = s && order_push(f, s);
        if (s && !ok)
            series_free(s, 0);
    }
    if (!ok) {
        family_free(f);
        return NULL;
    }

    pthread_mutex_lock(&m->lock);
    for (saga_metrics_family *g = m->first; g; g = g->next) {
        if (strcmp(g->name, name) != 0)
            continue;
        bool same = same_shape(f, g);
        pthread_mutex_unlock(&m->lock);
        if (!same)
            saga_log_error(NULL, "metric %s registered twice with a different "
                           "type, labels or buckets", name);
        family_free(f);
        return same ? g : NULL;
    }
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    pthread_mutex_unlock(&m->lock);
    return f;
}

saga_metrics_family *saga_metrics_counter(saga_metrics *m, const char *name,
                                          const char *help,
                                          const char *label_names)
{
    return family_register(m, FAM_COUNTER, name, help, label_names, NULL, 0);
}

saga_metrics_family *saga_metrics_gauge(saga_metrics *m, const char *name,
                                        const char *help,
                                        const char *label_names)
{
    return family_register(m, FAM_GAUGE, name, help, label_names, NULL, 0);
}

saga_metrics_family *saga_metrics_histogram(saga_metrics *m, const char *name,
                                            const char *help,
                                            const char *label_names,
                                            const double *buckets, size_t n)
{
    return family_register(m, FAM_HISTOGRAM, name, help, label_names, buckets,
                           n);
}

/* --- series lookup (registry lock held) ---------------------------------- */

static const char *label_at(const char *const *values, size_t i)
{
    return values && values[i] ? values[i] : "";
}

static uint64_t labels_hash(const saga_metrics_family *f,
                            const char *const *values)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < f->nlabels; i++) {
        for (const char *p = label_at(values, i); *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* separator: ("ab","") != ("a","b") */
    }
    return h;
}

static bool labels_equal(const saga_metrics_family *f, const series *s,
                         const char *const *values)
{
    for (size_t i = 0; i < f->nlabels; i++)
        if (strcmp(s->values[i], label_at(values, i)) != 0)
            return false;
    return true;
}

static bool table_grow(saga_metrics_family *f)
{
    size_t size = f->tsize ? f->tsize * 2 : 16;
    series **t = calloc(size, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < f->nseries; i++) {
        series *s = f->order[i];
        s->next = t[s->hash & (size - 1)];
        t[s->hash & (size - 1)] = s;
    }
    free(f->table);
    f->table = t;
    f->tsize = size;
    return true;
}

/* A new series labelled with values, or with SAGA_METRICS_OVERFLOW for
 * every label when overflow is set. */
static series *series_with_values(saga_metrics_family *f,
                                  const char *const *values, bool overflow)
{
    series *s = series_new(f);
    if (!s)
        return NULL;
    s->values = calloc(f->nlabels, sizeof *s->values);
    if (!s->values) {
        series_free(s, f->nlabels);
        return NULL;
    }
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] =
            strdup(overflow ? SAGA_METRICS_OVERFLOW : label_at(values, i));
        if (!s->values[i]) {
            series_free(s, f->nlabels);
            return NULL;
        }
    }
    return s;
}

static series *overflow_series(saga_metrics_family *f)
{
    if (!f->warned_overflow) {
        f->warned_overflow = true;
        saga_log_warn(NULL, "metric %s: more than %zu label combinations; "
                      "further ones are counted under label value \"%s\"",
                      f->name, f->reg->max_series, SAGA_METRICS_OVERFLOW);
    }
    if (!f->overflow)
        f->overflow = series_with_values(f, NULL, true);
    return f->overflow;
}

/* The series for values, created on first use; NULL when out of memory. */
static series *series_find(saga_metrics_family *f, const char *const *values)
{
    if (f->nlabels == 0)
        return f->order[0];
    uint64_t h = labels_hash(f, values);
    if (f->tsize)
        for (series *s = f->table[h & (f->tsize - 1)]; s; s = s->next)
            if (s->hash == h && labels_equal(f, s, values))
                return s;
    if (f->nseries >= f->reg->max_series)
        return overflow_series(f);
    if (f->nseries >= f->tsize && !table_grow(f))
        return NULL;
    series *s = series_with_values(f, values, false);
    if (!s)
        return NULL;
    if (!order_push(f, s)) {
        series_free(s, f->nlabels);
        return NULL;
    }
    s->hash = h;
    s->next = f->table[h & (f->tsize - 1)];
    f->table[h & (f->tsize - 1)] = s;
    return s;
}

/* --- updates ------------------------------------------------------------- */

void saga_metrics_inc(saga_metrics_family *f, const char *const *label_values,
                      double v)
{
    if (!f || f->type == FAM_HISTOGRAM || isnan(v))
        return;
    pthread_mutex_lock(&f->reg->lock);
    if (f->type == FAM_COUNTER && v < 0) {
        if (!f->warned_negative) {
            f->warned_negative = true;
            saga_log_warn(NULL, "metric %s: negative increment dropped "
                          "(counters only go up)", f->name);
        }
    } else {
        series *s = series_find(f, label_values);
        if (s)
            s->value += v;
    }
    pthread_mutex_unlock(&f->reg->lock);
}

void saga_metrics_set(saga_metrics_family *f, const char *const *label_values,
                      double v)
{
    if (!f || f->type != FAM_GAUGE)
        return;
    pthread_mutex_lock(&f->reg->lock);
    series *s = series_find(f, label_values);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&f->reg->lock);
}

void saga_metrics_observe(saga_metrics_family *f,
                          const char *const *label_values, double v)
{
    if (!f || f->type != FAM_HISTOGRAM || isnan(v))
        return;
    pthread_mutex_lock(&f->reg->lock);
    series *s = series_find(f, label_values);
    if (s) {
        size_t i = 0;
        while (i < f->nbounds && v > f->bounds[i])
            i++;
        s->buckets[i]++;
        s->count++;
        s->sum += v;
    }
    pthread_mutex_unlock(&f->reg->lock);
}

void saga_metrics_clear(saga_metrics_family *f)
{
    if (!f || f->type != FAM_GAUGE)
        return;
    pthread_mutex_lock(&f->reg->lock);
    if (f->nlabels == 0)
        f->order[0]->value = 0;
    else
        family_drop_series(f);
    pthread_mutex_unlock(&f->reg->lock);
}

/* --- rendering ----------------------------------------------------------- */

/* Escapes backslash and newline (HELP), plus '"' in label values. */
static void sb_escaped(saga_buf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\"
                          : *s == '\n' ? "\\n"
                          : (quote && *s == '"') ? "\\\""
                                                   : NULL;
        if (!esc)
            continue;
        saga_buf_putn(b, run, (size_t)(s - run));
        saga_buf_puts(b, esc);
        run = s + 1;
    }
    saga_buf_putn(b, run, (size_t)(s - run));
}

/* Shortest text that reads back as v; Prometheus spells infinities +Inf and
 * -Inf and not-a-number NaN. */
static void format_double(char out[32], double v)
{
    if (isnan(v))
        strcpy(out, "NaN");
    else if (isinf(v))
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
    else if (fabs(v) < 1e15 && v == (double)(long long)v)
        snprintf(out, 32, "%lld", (long long)v);
    else {
        snprintf(out, 32, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, 32, "%.17g", v);
    }
}

static void sb_double(saga_buf *b, double v)
{
    char num[32];
    format_double(num, v);
    saga_buf_puts(b, num);
}

/* name{l1="v1",...,extra_label="extra"} value\n */
static void sb_sample(saga_buf *b, const saga_metrics_family *f, const series *s,
                      const char *suffix, const char *le, double value)
{
    saga_buf_puts(b, f->name);
    saga_buf_puts(b, suffix);
    if (f->nlabels || le) {
        saga_buf_putn(b, "{", 1);
        for (size_t i = 0; i < f->nlabels; i++) {
            if (i)
                saga_buf_putn(b, ",", 1);
            saga_buf_puts(b, f->labels[i]);
            saga_buf_putn(b, "=\"", 2);
            sb_escaped(b, s->values[i], true);
            saga_buf_putn(b, "\"", 1);
        }
        if (le) {
            saga_buf_puts(b, f->nlabels ? ",le=\"" : "le=\"");
            saga_buf_puts(b, le);
            saga_buf_putn(b, "\"", 1);
        }
        saga_buf_putn(b, "}", 1);
    }
    saga_buf_putn(b, " ", 1);
    sb_double(b, value);
    saga_buf_putn(b, "\n", 1);
}

static void render_series(saga_buf *b, const saga_metrics_family *f,
                          const series *s)
{
    if (f->type != FAM_HISTOGRAM) {
        sb_sample(b, f, s, "", NULL, s->value);
        return;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i < f->nbounds; i++) {
        char le[32];
        format_double(le, f->bounds[i]);
        cum += s->buckets[i];
        sb_sample(b, f, s, "_bucket", le, (double)cum);
    }
    sb_sample(b, f, s, "_bucket", "+Inf", (double)s->count);
    sb_sample(b, f, s, "_sum", NULL, s->sum);
    sb_sample(b, f, s, "_count", NULL, (double)s->count);
}

char *saga_metrics_render(saga_metrics *m)
{
    saga_buf b = {0};
    pthread_mutex_lock(&m->lock);
    for (const saga_metrics_family *f = m->first; f; f = f->next) {
        saga_buf_puts(&b, "# HELP ");
        saga_buf_puts(&b, f->name);
        saga_buf_putn(&b, " ", 1);
        sb_escaped(&b, f->help, false);
        saga_buf_puts(&b, "\n# TYPE ");
        saga_buf_puts(&b, f->name);
        saga_buf_putn(&b, " ", 1);
        saga_buf_puts(&b, TYPE_NAMES[f->type]);
        saga_buf_putn(&b, "\n", 1);
        for (size_t i = 0; i < f->nseries; i++)
            render_series(&b, f, f->order[i]);
        if (f->overflow)
            render_series(&b, f, f->overflow);
    }
    pthread_mutex_unlock(&m->lock);
    return saga_buf_take(&b);
}
