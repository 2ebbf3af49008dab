/*
 * test_metrics.c - the Prometheus registry: exact rendering of counters,
 * gauges and histograms (cumulative buckets, +Inf, _sum, _count), escaping,
 * registration rules, the cardinality cap, thread safety, and a validator of
 * the text exposition format run over every rendering (and tested itself on
 * broken input, so a passing validation means something).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

/* --- a validator of the text exposition format 0.0.4 ---------------------- */

typedef struct prom_family {
    char name[128];
    char type[16];
    bool has_help, has_samples, closed;
} prom_family;

typedef struct prom_check {
    prom_family fam[64];
    size_t nfam;
    prom_family *current; /* family whose samples are being read */
    /* histogram bookkeeping for the current label set */
    char hist_labels[512];
    double last_bucket, inf_bucket;
    bool saw_inf;
} prom_check;

static bool prom_name_ok(const char *s, size_t n, bool colon)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalpha((unsigned char)c) || c == '_' || (colon && c == ':') ||
              (i > 0 && isdigit((unsigned char)c))))
            return false;
    }
    return true;
}

static bool prom_value_ok(const char *s, double *out)
{
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0)
        return *out = INFINITY, true;
    if (strcmp(s, "-Inf") == 0)
        return *out = -INFINITY, true;
    if (strcmp(s, "NaN") == 0)
        return *out = NAN, true;
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0' && !isspace((unsigned char)*s);
}

static prom_family *prom_find(prom_check *c, const char *name, size_t n)
{
    for (size_t i = 0; i < c->nfam; i++)
        if (strlen(c->fam[i].name) == n && strncmp(c->fam[i].name, name, n) == 0)
            return &c->fam[i];
    return NULL;
}

static prom_family *prom_add(prom_check *c, const char *name, size_t n)
{
    prom_family *f = prom_find(c, name, n);
    if (f || c->nfam == 64)
        return f;
    f = &c->fam[c->nfam++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%.*s", (int)n, name);
    return f;
}

/* Parses {a="x",b="y"}: fills labels without the le pair, and le. */
static const char *prom_labels(const char *p, char *labels, size_t len,
                               char *le, size_t lelen, const char **why)
{
    labels[0] = le[0] = '\0';
    char seen[16][64];
    size_t nseen = 0, used = 0;
    p++; /* '{' */
    while (*p != '}') {
        const char *n = p;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        if (!prom_name_ok(n, (size_t)(p - n), false))
            return *why = "bad label name", NULL;
        for (size_t i = 0; i < nseen; i++)
            if (strlen(seen[i]) == (size_t)(p - n) && strncmp(seen[i], n, (size_t)(p - n)) == 0)
                return *why = "label repeated", NULL;
        if (nseen < 16)
            snprintf(seen[nseen++], 64, "%.*s", (int)(p - n), n);
        if (p[0] != '=' || p[1] != '"')
            return *why = "expected =\" after label name", NULL;
        bool is_le = p - n == 2 && strncmp(n, "le", 2) == 0;
        const char *v = p + 2;
        for (p = v; *p != '"'; p++) {
            if (*p == '\0' || *p == '\n')
                return *why = "unterminated label value", NULL;
            if (*p == '\\') {
                if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                    return *why = "bad escape in label value", NULL;
                p++;
            }
        }
        if (is_le)
            snprintf(le, lelen, "%.*s", (int)(p - v), v);
        else
            used += (size_t)snprintf(labels + used, used < len ? len - used : 0,
                                     "%.*s,", (int)(p - n + 1), n);
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return *why = "expected , or } after label value", NULL;
    }
    return p + 1;
}

static const char *prom_sample(prom_check *c, const char *line)
{
    const char *why = NULL;
    const char *p = line;
    while (prom_name_ok(line, (size_t)(p - line + 1), true) && *p)
        p++;
    size_t nlen = (size_t)(p - line);
    if (!prom_name_ok(line, nlen, true))
        return "bad metric name";
    char labels[512], le[64];
    labels[0] = le[0] = '\0';
    if (*p == '{' && !(p = prom_labels(p, labels, sizeof labels, le, sizeof le, &why)))
        return why;
    if (*p != ' ')
        return "expected a space before the value";
    char val[64];
    const char *v = ++p;
    p += strcspn(p, " ");
    snprintf(val, sizeof val, "%.*s", (int)(p - v), v);
    double value;
    if (!prom_value_ok(val, &value))
        return "bad value";
    if (*p == ' ') {
        char *end;
        strtoll(p + 1, &end, 10);
        if (end == p + 1 || *end)
            return "bad timestamp";
    }
    /* Which family does the sample belong to? */
    prom_family *f = prom_find(c, line, nlen);
    const char *suffix = "";
    if (!f) {
        static const char *const sfx[] = {"_bucket", "_sum", "_count"};
        for (size_t i = 0; i < 3 && !f; i++) {
            size_t sl = strlen(sfx[i]);
            if (nlen > sl && strncmp(line + nlen - sl, sfx[i], sl) == 0 &&
                (f = prom_find(c, line, nlen - sl)) && strcmp(f->type, "histogram") == 0)
                suffix = sfx[i];
            else
                f = NULL;
        }
    }
    if (!f || !f->type[0])
        return "sample without a preceding # TYPE";
    if (f->closed || (c->current && c->current != f))
        return "samples of a family are not contiguous";
    c->current = f;
    f->has_samples = true;
    if (strcmp(f->type, "histogram") != 0)
        return *suffix || *le ? "unexpected suffix or le label" : NULL;
    if (strcmp(suffix, "_bucket") == 0) {
        double bound;
        if (!*le || !prom_value_ok(le, &bound))
            return "bucket without a valid le label";
        if (strcmp(labels, c->hist_labels) != 0) {
            if (c->hist_labels[0] != '\x01' && !c->saw_inf && c->hist_labels[0])
                return "histogram series without a +Inf bucket";
            snprintf(c->hist_labels, sizeof c->hist_labels, "%s", labels);
            c->last_bucket = 0;
            c->saw_inf = false;
        }
        if (value < c->last_bucket)
            return "histogram buckets are not cumulative";
        c->last_bucket = value;
        if (isinf(bound)) {
            c->saw_inf = true;
            c->inf_bucket = value;
        }
    } else if (strcmp(suffix, "_count") == 0) {
        if (strcmp(labels, c->hist_labels) != 0 || !c->saw_inf)
            return "_count without a +Inf bucket before it";
        if (value != c->inf_bucket)
            return "_count differs from the +Inf bucket";
    } else if (*suffix == '\0') {
        return "histogram sample without _bucket, _sum or _count";
    }
    return NULL;
}

/* Returns NULL when text is valid exposition format, else "line N: why". */
static const char *prom_validate(const char *text)
{
    static char msg[256];
    prom_check *c = calloc(1, sizeof *c);
    const char *why = NULL;
    int lineno = 0;
    const char *p = text;
    if (*text && text[strlen(text) - 1] != '\n')
        why = "text does not end with a newline";
    while (!why && *p) {
        lineno++;
        const char *nl = strchr(p, '\n');
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
        p = nl + 1;
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            bool help = line[2] == 'H';
            const char *n = line + 7;
            size_t nlen = strcspn(n, " ");
            if (!prom_name_ok(n, nlen, true) || n[nlen] != ' ') {
                why = "bad metric name in # HELP/# TYPE";
                break;
            }
            prom_family *f = prom_add(c, n, nlen);
            if (f != c->current && c->current) {
                if (strcmp(c->current->type, "histogram") == 0 &&
                    c->current->has_samples && !c->saw_inf) {
                    why = "histogram series without a +Inf bucket";
                    break;
                }
                c->current->closed = true;
            }
            if (f->has_samples) {
                why = "# HELP/# TYPE after the family's samples";
                break;
            }
            const char *rest = n + nlen + 1;
            if (help) {
                if (f->has_help)
                    why = "second # HELP";
                for (const char *q = rest; !why && *q; q++)
                    if (*q == '\\' && q[1] != '\\' && q[1] != 'n')
                        why = "bad escape in # HELP";
                    else if (*q == '\\')
                        q++;
                f->has_help = true;
            } else {
                if (f->type[0])
                    why = "second # TYPE";
                else if (strcmp(rest, "counter") && strcmp(rest, "gauge") &&
                         strcmp(rest, "histogram") && strcmp(rest, "summary") &&
                         strcmp(rest, "untyped"))
                    why = "unknown type in # TYPE";
                else
                    snprintf(f->type, sizeof f->type, "%s", rest);
            }
            c->current = f;
            c->hist_labels[0] = '\x01';
            continue;
        }
        if (line[0] == '#' || line[0] == '\0')
            continue;
        why = prom_sample(c, line);
    }
    if (!why && c->current && strcmp(c->current->type, "histogram") == 0 &&
        c->current->has_samples && !c->saw_inf)
        why = "histogram series without a +Inf bucket";
    free(c);
    if (!why)
        return NULL;
    snprintf(msg, sizeof msg, "line %d: %s", lineno, why);
    return msg;
}

#define assert_valid(text)                                                     \
    do {                                                                       \
        const char *why_ = prom_validate(text);                                \
        if (why_)                                                              \
            fail_msg("invalid exposition (%s):\n%s", why_, text);              \
    } while (0)

/* --- the validator refuses what it should ------------------------------ */

static void test_validator_refuses_broken_text(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "x 1\n",                                               /* no TYPE */
        "# TYPE x counter\nx 1",                               /* no newline */
        "# TYPE x counter\nx{a=\"b} 1\n",                      /* unterminated */
        "# TYPE x counter\nx{a=\"\\q\"} 1\n",                  /* bad escape */
        "# TYPE x counter\nx{a=\"1\",a=\"2\"} 1\n",            /* repeated label */
        "# TYPE x counter\nx one\n",                           /* bad value */
        "# TYPE x wat\nx 1\n",                                 /* bad type */
        "# TYPE x counter\n# TYPE x counter\nx 1\n",           /* TYPE twice */
        "# TYPE x counter\n# TYPE y counter\nx 1\ny 1\nx 2\n", /* interleaved */
        ("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
         "h_count 1\n"),                                       /* not cumulative */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_count 2\n", /* no +Inf */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n", /* count */
        "# TYPE h histogram\nh 2\n",                           /* no suffix */
        "# TYPE 1x counter\n",                                 /* bad name */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (!prom_validate(bad[i]))
            fail_msg("validator accepted:\n%s", bad[i]);
    assert_null(prom_validate("# HELP x a \\\\ b\\n\n# TYPE x counter\nx{a=\"q\\\"\"} 1 1700000000\n"));
}

/* --- rendering ---------------------------------------------------------- */

static void test_counter(void **state)
{
    (void)state;
    saga_log_setup("test_metrics", SAGA_LOG_ERROR + 1, SAGA_LOG_TEXT);
    saga_metrics *m = saga_metrics_new(0);
    saga_metrics_family *plain =
        saga_metrics_counter(m, "participant_duplicates_total", "Duplicate commands.", NULL);
    saga_metrics_family *fin = saga_metrics_counter(
        m, "saga_finished_total", "Sagas that finished.", "definition,status");
    assert_non_null(plain);
    assert_non_null(fin);

    char *text = saga_metrics_render(m);
    assert_string_equal(text,
                        "# HELP participant_duplicates_total Duplicate commands.\n"
                        "# TYPE participant_duplicates_total counter\n"
                        "participant_duplicates_total 0\n"
                        "# HELP saga_finished_total Sagas that finished.\n"
                        "# TYPE saga_finished_total counter\n");
    assert_valid(text);
    free(text);

    saga_metrics_inc(plain, NULL, 1);
    saga_metrics_inc(plain, NULL, 2.5);
    saga_metrics_inc(plain, NULL, -1);  /* dropped: counters only go up */
    saga_metrics_inc(plain, NULL, NAN); /* dropped */
    saga_metrics_inc(fin, (const char *[]){"order", "COMPLETED"}, 1);
    saga_metrics_inc(fin, (const char *[]){"order", "COMPENSATED"}, 1);
    saga_metrics_inc(fin, (const char *[]){"order", "COMPLETED"}, 1);
    saga_metrics_set(fin, (const char *[]){"order", "COMPLETED"}, 100); /* not a gauge */
    saga_metrics_observe(fin, (const char *[]){"order", "COMPLETED"}, 1); /* not a histogram */
    text = saga_metrics_render(m);
    assert_string_equal(text,
                        "# HELP participant_duplicates_total Duplicate commands.\n"
                        "# TYPE participant_duplicates_total counter\n"
                        "participant_duplicates_total 3.5\n"
                        "# HELP saga_finished_total Sagas that finished.\n"
                        "# TYPE saga_finished_total counter\n"
                        "saga_finished_total{definition=\"order\",status=\"COMPLETED\"} 2\n"
                        "saga_finished_total{definition=\"order\",status=\"COMPENSATED\"} 1\n");
    assert_valid(text);
    free(text);
    saga_metrics_free(m);
    saga_log_setup("test_metrics", SAGA_LOG_INFO, SAGA_LOG_TEXT);
}

static void test_gauge(void **state)
{
    (void)state;
    saga_metrics *m = saga_metrics_new(0);
    saga_metrics_family *g = saga_metrics_gauge(m, "saga_outbox_pending", "Rows.", NULL);
    saga_metrics_family *s = saga_metrics_gauge(m, "saga_stuck", "Stuck.", "definition");
    saga_metrics_set(g, NULL, 7);
    saga_metrics_inc(g, NULL, -2);
    saga_metrics_set(s, (const char *[]){"a"}, 1);
    saga_metrics_set(s, (const char *[]){"b"}, 2);
    char *text = saga_metrics_render(m);
    assert_string_equal(text, "# HELP saga_outbox_pending Rows.\n"
                              "# TYPE saga_outbox_pending gauge\n"
                              "saga_outbox_pending 5\n"
                              "# HELP saga_stuck Stuck.\n"
                              "# TYPE saga_stuck gauge\n"
                              "saga_stuck{definition=\"a\"} 1\n"
                              "saga_stuck{definition=\"b\"} 2\n");
    assert_valid(text);
    free(text);

    /* clear drops labelled series and zeroes an unlabelled one */
    saga_metrics_clear(s);
    saga_metrics_clear(g);
    saga_metrics_set(s, (const char *[]){"b"}, 3);
    text = saga_metrics_render(m);
    assert_string_equal(text, "# HELP saga_outbox_pending Rows.\n"
                              "# TYPE saga_outbox_pending gauge\n"
                              "saga_outbox_pending 0\n"
                              "# HELP saga_stuck Stuck.\n"
                              "# TYPE saga_stuck gauge\n"
                              "saga_stuck{definition=\"b\"} 3\n");
    free(text);

    saga_metrics_set(g, NULL, 0.1);
    saga_metrics_set(s, (const char *[]){"b"}, INFINITY);
    saga_metrics_set(s, (const char *[]){"c"}, -1e300);
    saga_metrics_set(s, (const char *[]){"d"}, NAN);
    text = saga_metrics_render(m);
    assert_non_null(strstr(text, "saga_outbox_pending 0.1\n"));
    assert_non_null(strstr(text, "saga_stuck{definition=\"b\"} +Inf\n"));
    assert_non_null(strstr(text, "saga_stuck{definition=\"c\"} -1e+300\n"));
    assert_non_null(strstr(text, "saga_stuck{definition=\"d\"} NaN\n"));
    assert_valid(text);
    free(text);
    saga_metrics_free(m);
}

static void test_histogram(void **state)
{
    (void)state;
    saga_metrics *m = saga_metrics_new(0);
    const double b[] = {0.125, 0.5, 1};
    saga_metrics_family *h = saga_metrics_histogram(
        m, "saga_step_duration_seconds", "Step time.", "definition,step,action", b, 3);
    assert_non_null(h);
    const char *lv[] = {"order", "reserve_inventory", "RESERVE"};
    saga_metrics_observe(h, lv, 0.0625);
    saga_metrics_observe(h, lv, 0.125); /* le is inclusive: lands in 0.125 */
    saga_metrics_observe(h, lv, 0.75);
    saga_metrics_observe(h, lv, 30);  /* only in +Inf */
    saga_metrics_observe(h, lv, NAN); /* dropped */
    saga_metrics_inc(h, lv, 1);       /* not a counter: no-op */
    char *text = saga_metrics_render(m);
    assert_string_equal(
        text,
        "# HELP saga_step_duration_seconds Step time.\n"
        "# TYPE saga_step_duration_seconds histogram\n"
        "saga_step_duration_seconds_bucket{definition=\"order\",step=\"reserve_inventory\",action=\"RESERVE\",le=\"0.125\"} 2\n"
        "saga_step_duration_seconds_bucket{definition=\"order\",step=\"reserve_inventory\",action=\"RESERVE\",le=\"0.5\"} 2\n"
        "saga_step_duration_seconds_bucket{definition=\"order\",step=\"reserve_inventory\",action=\"RESERVE\",le=\"1\"} 3\n"
        "saga_step_duration_seconds_bucket{definition=\"order\",step=\"reserve_inventory\",action=\"RESERVE\",le=\"+Inf\"} 4\n"
        "saga_step_duration_seconds_sum{definition=\"order\",step=\"reserve_inventory\",action=\"RESERVE\"} 30.9375\n"
        "saga_step_duration_seconds_count{definition=\"order\",step=\"reserve_inventory\",action=\"RESERVE\"} 4\n");
    assert_valid(text);
    free(text);
    saga_metrics_free(m);
}

static void test_histogram_default_buckets_unlabelled(void **state)
{
    (void)state;
    saga_metrics *m = saga_metrics_new(0);
    saga_metrics_family *h =
        saga_metrics_histogram(m, "participant_handler_seconds", "Handler time.", NULL, NULL, 0);
    const double with_inf[] = {1, 10, INFINITY};
    saga_metrics_family *b =
        saga_metrics_histogram(m, "saga_batch_size", "Batch.", "", with_inf, 3);
    assert_non_null(h);
    assert_non_null(b);
    saga_metrics_observe(b, NULL, 5);
    char *text = saga_metrics_render(m);
    assert_non_null(strstr(text, "participant_handler_seconds_bucket{le=\"0.005\"} 0\n"
                                 "participant_handler_seconds_bucket{le=\"0.01\"} 0\n"));
    assert_non_null(strstr(text, "participant_handler_seconds_bucket{le=\"10\"} 0\n"
                                 "participant_handler_seconds_bucket{le=\"+Inf\"} 0\n"
                                 "participant_handler_seconds_sum 0\n"
                                 "participant_handler_seconds_count 0\n"));
    assert_non_null(strstr(text, "saga_batch_size_bucket{le=\"1\"} 0\n"
                                 "saga_batch_size_bucket{le=\"10\"} 1\n"
                                 "saga_batch_size_bucket{le=\"+Inf\"} 1\n"
                                 "saga_batch_size_sum 5\n"
                                 "saga_batch_size_count 1\n"));
    assert_valid(text);
    free(text);
    saga_metrics_free(m);
}

static void test_escaping(void **state)
{
    (void)state;
    saga_metrics *m = saga_metrics_new(0);
    saga_metrics_family *f =
        saga_metrics_counter(m, "saga_dlq_total", "Dead letters \\ by \"reason\"\nsecond line.", "reason");
    saga_metrics_inc(f, (const char *[]){"bad \"json\" \\ at\nline 2"}, 1);
    saga_metrics_inc(f, (const char *[]){NULL}, 1); /* NULL counts as "" */
    saga_metrics_inc(f, (const char *[]){""}, 1);
    saga_metrics_inc(f, (const char *[]){"caf\xc3\xa9"}, 1); /* UTF-8 kept */
    char *text = saga_metrics_render(m);
    assert_string_equal(text,
                        "# HELP saga_dlq_total Dead letters \\\\ by \"reason\"\\nsecond line.\n"
                        "# TYPE saga_dlq_total counter\n"
                        "saga_dlq_total{reason=\"bad \\\"json\\\" \\\\ at\\nline 2\"} 1\n"
                        "saga_dlq_total{reason=\"\"} 2\n"
                        "saga_dlq_total{reason=\"caf\xc3\xa9\"} 1\n");
    assert_valid(text);
    free(text);
    saga_metrics_free(m);
}

static void test_registration_rules(void **state)
{
    (void)state;
    saga_log_setup("test_metrics", SAGA_LOG_ERROR + 1, SAGA_LOG_TEXT);
    saga_metrics *m = saga_metrics_new(0);
    saga_metrics_family *a = saga_metrics_counter(m, "x_total", "X.", " a , b ");
    assert_non_null(a);
    /* same shape: same family (a library and its program may both declare) */
    assert_ptr_equal(saga_metrics_counter(m, "x_total", "other help", "a,b"), a);
    /* conflicting shape */
    assert_null(saga_metrics_gauge(m, "x_total", "X.", "a,b"));
    assert_null(saga_metrics_counter(m, "x_total", "X.", "a"));
    assert_null(saga_metrics_counter(m, "x_total", "X.", "b,a"));
    /* names */
    assert_null(saga_metrics_counter(m, "", "X.", NULL));
    assert_null(saga_metrics_counter(m, NULL, "X.", NULL));
    assert_null(saga_metrics_counter(m, "1x", "X.", NULL));
    assert_null(saga_metrics_counter(m, "x-y", "X.", NULL));
    assert_non_null(saga_metrics_counter(m, "ns:x_y1", "colons are allowed", NULL));
    assert_null(saga_metrics_counter(m, "y", "X.", "a:b"));
    assert_null(saga_metrics_counter(m, "y", "X.", "__reserved"));
    assert_null(saga_metrics_counter(m, "y", "X.", "a,a"));
    assert_null(saga_metrics_counter(m, "y", "X.", "a,,b"));
    assert_null(saga_metrics_counter(m, "y", "X.", "a,"));
    assert_null(saga_metrics_counter(m, "y", "X.", "a,b,c,d,e,f,g,h,i"));
    /* histograms */
    const double down[] = {1, 0.5};
    const double nan[] = {NAN};
    assert_null(saga_metrics_histogram(m, "h", "H.", "le", NULL, 0));
    assert_null(saga_metrics_histogram(m, "h", "H.", NULL, down, 2));
    assert_null(saga_metrics_histogram(m, "h", "H.", NULL, nan, 1));
    const double b1[] = {1, 2};
    const double b2[] = {1, 3};
    saga_metrics_family *h = saga_metrics_histogram(m, "h", "H.", NULL, b1, 2);
    assert_non_null(h);
    assert_ptr_equal(saga_metrics_histogram(m, "h", "H.", NULL, b1, 2), h);
    assert_null(saga_metrics_histogram(m, "h", "H.", NULL, b2, 2));
    /* a NULL family is accepted everywhere */
    saga_metrics_inc(NULL, NULL, 1);
    saga_metrics_set(NULL, NULL, 1);
    saga_metrics_observe(NULL, NULL, 1);
    saga_metrics_clear(NULL);
    assert_null(saga_metrics_counter(NULL, "z", "Z.", NULL));
    char *text = saga_metrics_render(m);
    assert_valid(text);
    free(text);
    saga_metrics_free(m);
    saga_metrics_free(NULL);
    saga_log_setup("test_metrics", SAGA_LOG_INFO, SAGA_LOG_TEXT);
}

static void test_cardinality_cap(void **state)
{
    (void)state;
    saga_log_setup("test_metrics", SAGA_LOG_ERROR + 1, SAGA_LOG_TEXT);
    saga_metrics *m = saga_metrics_new(3);
    saga_metrics_family *f = saga_metrics_counter(m, "c_total", "C.", "id,kind");
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "s%d", i);
        saga_metrics_inc(f, (const char *[]){id, "k"}, 1);
    }
    saga_metrics_inc(f, (const char *[]){"s1", "k"}, 1); /* existing series still counted */
    char *text = saga_metrics_render(m);
    assert_string_equal(text, "# HELP c_total C.\n"
                              "# TYPE c_total counter\n"
                              "c_total{id=\"s0\",kind=\"k\"} 1\n"
                              "c_total{id=\"s1\",kind=\"k\"} 2\n"
                              "c_total{id=\"s2\",kind=\"k\"} 1\n"
                              "c_total{id=\"_overflow\",kind=\"_overflow\"} 7\n");
    assert_valid(text);
    free(text);
    saga_metrics_free(m);
    saga_log_setup("test_metrics", SAGA_LOG_INFO, SAGA_LOG_TEXT);
}

static void test_many_series_hash(void **state)
{
    (void)state;
    saga_metrics *m = saga_metrics_new(0);
    saga_metrics_family *f = saga_metrics_counter(m, "c_total", "C.", "a,b");
    /* ("ab","") and ("a","b") must be different series */
    saga_metrics_inc(f, (const char *[]){"ab", ""}, 1);
    saga_metrics_inc(f, (const char *[]){"a", "b"}, 2);
    char v[16];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < SAGA_METRICS_DEFAULT_MAX_SERIES - 2; i++) {
            snprintf(v, sizeof v, "v%d", i);
            saga_metrics_inc(f, (const char *[]){v, "x"}, 1);
        }
    char *text = saga_metrics_render(m);
    assert_non_null(strstr(text, "c_total{a=\"ab\",b=\"\"} 1\n"));
    assert_non_null(strstr(text, "c_total{a=\"a\",b=\"b\"} 2\n"));
    assert_non_null(strstr(text, "c_total{a=\"v997\",b=\"x\"} 2\n"));
    assert_null(strstr(text, "_overflow"));
    assert_valid(text);
    free(text);
    saga_metrics_free(m);
}

typedef struct worker_arg {
    saga_metrics_family *c, *h;
    int n;
} worker_arg;

static void *hammer(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        saga_metrics_inc(a->c, (const char *[]){i % 2 ? "odd" : "even"}, 1);
        saga_metrics_observe(a->h, NULL, 0.001 * (i % 100));
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    saga_metrics *m = saga_metrics_new(0);
    worker_arg a = {.c = saga_metrics_counter(m, "t_total", "T.", "parity"),
                    .h = saga_metrics_histogram(m, "t_seconds", "T.", NULL, NULL, 0),
                    .n = 20000};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, &a);
    for (int i = 0; i < 20; i++) {
        char *text = saga_metrics_render(m);
        assert_valid(text);
        free(text);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *text = saga_metrics_render(m);
    assert_non_null(strstr(text, "t_total{parity=\"even\"} 40000\n"));
    assert_non_null(strstr(text, "t_total{parity=\"odd\"} 40000\n"));
    assert_non_null(strstr(text, "t_seconds_count 80000\n"));
    free(text);
    saga_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validator_refuses_broken_text),
        cmocka_unit_test(test_counter),
        cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_default_buckets_unlabelled),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_registration_rules),
        cmocka_unit_test(test_cardinality_cap),
        cmocka_unit_test(test_many_series_hash),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
