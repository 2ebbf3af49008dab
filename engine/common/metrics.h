/*
 * metrics.h - a small thread-safe Prometheus registry: counters, gauges and
 * histograms with labels, rendered in the text exposition format 0.0.4 for
 * the /metrics endpoint (engine/http.h).
 *
 * Layer: engine/common, shared by the coordinator, sagactl and the workers;
 * it may include core and common headers only.
 *
 * Register each family once at start-up, keep the returned handle, update it
 * from any thread by label values. Label cardinality is capped per family:
 * past the cap, updates land in one overflow series whose every label value
 * is SAGA_METRICS_OVERFLOW, and a warning is logged once for that family, so
 * a bug that puts saga ids into labels degrades the metric instead of the
 * process's memory.
 *
 * Usage:
 *     saga_metrics *m = saga_metrics_new(0);
 *     saga_metrics_family *fin = saga_metrics_counter(m,
 *         "saga_finished_total", "Sagas that reached a terminal status.",
 *         "definition,status");
 *     saga_metrics_inc(fin, (const char *[]){"order_checkout", "COMPLETED"}, 1);
 *     char *text = saga_metrics_render(m);  ... free(text);
 *     saga_metrics_free(m);
 */
#ifndef SAGA_METRICS_H
#define SAGA_METRICS_H

#include <stddef.h>

/* Series per family before updates go to the overflow series. */
#define SAGA_METRICS_DEFAULT_MAX_SERIES 1000

/* Label value of every label of the overflow series. */
#define SAGA_METRICS_OVERFLOW "_overflow"

/* Most labels one family may declare. */
#define SAGA_METRICS_MAX_LABELS 8

typedef struct saga_metrics saga_metrics;
typedef struct saga_metrics_family saga_metrics_family;

/* A new empty registry; max_series caps the series of each family
 * (0 = SAGA_METRICS_DEFAULT_MAX_SERIES). Returns NULL when out of memory.
 * Owned: free with saga_metrics_free. */
saga_metrics *saga_metrics_new(size_t max_series);

/* Frees the registry and every family in it (their handles become invalid).
 * NULL is a no-op. No other thread may be using the registry. */
void saga_metrics_free(saga_metrics *m);

/*
 * Registration. name must match [a-zA-Z_:][a-zA-Z0-9_:]*; help is free text
 * (escaped on output); label_names is a comma-separated list such as
 * "definition,status" (each [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__",
 * no duplicates, at most SAGA_METRICS_MAX_LABELS) or NULL/"" for none.
 * Strings are copied.
 *
 * Registering a name again with the same type and labels returns the same
 * family, so a library and its program may both declare a metric. A
 * conflicting registration, a bad name or out of memory returns NULL and
 * logs the reason; every update function accepts a NULL family and does
 * nothing, so a metric bug never takes the process down.
 *
 * Returned handles are borrowed from the registry and valid until
 * saga_metrics_free.
 */
saga_metrics_family *saga_metrics_counter(saga_metrics *m, const char *name,
                                          const char *help,
                                          const char *label_names);
saga_metrics_family *saga_metrics_gauge(saga_metrics *m, const char *name,
                                        const char *help,
                                        const char *label_names);

/* buckets: upper bounds, strictly increasing and finite (a trailing +Inf is
 * accepted and ignored: the +Inf bucket is always rendered). NULL with n = 0
 * selects the Prometheus defaults .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10
 * (seconds). A "le" label name is refused: it is the bucket label. */
saga_metrics_family *saga_metrics_histogram(saga_metrics *m, const char *name,
                                            const char *help,
                                            const char *label_names,
                                            const double *buckets, size_t n);

/*
 * Updates. label_values holds one string per declared label, in declaration
 * order (NULL when the family has no labels; a NULL element counts as "").
 * Values are copied on first use of a series. All are thread-safe.
 */

/* Counter: adds v (v < 0 or NaN is dropped: counters only go up).
 * Gauge: adds v (negative to decrease). Histogram: no-op. */
void saga_metrics_inc(saga_metrics_family *f, const char *const *label_values,
                      double v);

/* Gauge: sets the value. Other types: no-op. */
void saga_metrics_set(saga_metrics_family *f, const char *const *label_values,
                      double v);

/* Histogram: records one observation (NaN is dropped). Other types: no-op. */
void saga_metrics_observe(saga_metrics_family *f,
                          const char *const *label_values, double v);

/* Removes every series of a gauge family (e.g. before re-filling per-label
 * gauges from a fresh database query, so vanished labels disappear).
 * Counters and histograms are never reset. */
void saga_metrics_clear(saga_metrics_family *f);

/* Renders every family in registration order, series in first-use order.
 * A family without labels always shows its one series (0 before any
 * update), so dashboards see the metric from the first scrape.
 * Returns an owned NUL-terminated string (free()), or NULL when out of
 * memory. Thread-safe; updates wait while it runs. */
char *saga_metrics_render(saga_metrics *m);

#endif
