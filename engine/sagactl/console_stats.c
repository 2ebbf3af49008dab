/*
 * console_stats.c - /stats: the `sagactl stats --since W --by B --json`
 * document as figures and charts. Throughput and outcomes per bucket are
 * bars, duration percentiles per bucket are lines, both drawn here as
 * inline SVG straight from the numbers (no charting library: the console
 * must work offline and under a CSP that allows no outside script).
 */
#include <stdlib.h>
#include <string.h>

#include "console.h"

#define W 900
#define H 200
#define PAD 40

static json_int_t member(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static json_int_t series_max(const json_t *series, const char *const keys[], size_t n)
{
    json_int_t max = 1;
    size_t i;
    json_t *b;
    json_array_foreach(series, i, b)
        for (size_t k = 0; k < n; k++)
            max = member(b, keys[k]) > max ? member(b, keys[k]) : max;
    return max;
}

static void axes(saga_buf *b, const char *id, json_int_t max, const char *unit)
{
    saga_buf_printf(b, "<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %d %d\" width=\"%d\" "
                       "height=\"%d\"><line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
                       "y2=\"%d\"/><text class=\"tick\" x=\"2\" y=\"14\">%lld%s</text>"
                       "<text class=\"tick\" x=\"2\" y=\"%d\">0</text>",
                    id, W, H + 20, W, H + 20, PAD, H, W, H, (long long)max, unit, H);
}

static void x_labels(saga_buf *b, const json_t *series, double step)
{
    size_t n = json_array_size(series);
    for (size_t i = 0; i < n; i += n > 6 ? n / 6 : 1) {
        const char *t = json_string_value(json_object_get(json_array_get(series, i), "start"));
        saga_buf_printf(b, "<text class=\"tick\" x=\"%.0f\" y=\"%d\">%.5s</text>",
                        PAD + step * (double)i, H + 16, t && strlen(t) > 16 ? t + 11 : "");
    }
}

static void bars_chart(saga_buf *b, const json_t *series)
{
    static const char *const keys[] = {"started", "completed", "compensated"};
    json_int_t max = series_max(series, keys, 3);
    size_t n = json_array_size(series);
    double step = n ? (double)(W - PAD) / (double)n : 1;
    axes(b, "throughput", max, "");
    size_t i;
    json_t *s;
    json_array_foreach(series, i, s) {
        for (size_t k = 0; k < 3; k++) {
            double h = (double)member(s, keys[k]) * H / (double)max;
            saga_buf_printf(b, "<rect class=\"c-%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                               "height=\"%.1f\"><title>%s: %lld</title></rect>",
                            keys[k], PAD + step * (double)i + step * (double)k / 3.5,
                            H - h, step / 3.5, h, keys[k], (long long)member(s, keys[k]));
        }
    }
    x_labels(b, series, step);
    saga_buf_puts(b, "</svg><p class=\"legend\"><span class=\"k c-started\"></span>started "
                     "<span class=\"k c-completed\"></span>completed <span class=\"k "
                     "c-compensated\"></span>compensated</p>\n");
}

static void lines_chart(saga_buf *b, const json_t *series)
{
    static const char *const keys[] = {"p50_ms", "p95_ms", "p99_ms"};
    json_int_t max = series_max(series, keys, 3);
    size_t n = json_array_size(series);
    double step = n > 1 ? (double)(W - PAD) / (double)(n - 1) : 1;
    axes(b, "durations", max, " ms");
    for (size_t k = 0; k < 3; k++) {
        saga_buf_printf(b, "<polyline class=\"l-%zu\" points=\"", k);
        size_t i;
        json_t *s;
        json_array_foreach(series, i, s)
            saga_buf_printf(b, "%.1f,%.1f ", PAD + step * (double)i,
                            H - (double)member(s, keys[k]) * H / (double)max);
        saga_buf_puts(b, "\"/>");
    }
    x_labels(b, series, n > 1 ? step : 0);
    saga_buf_puts(b, "</svg><p class=\"legend\"><span class=\"k l-0\"></span>p50 "
                     "<span class=\"k l-1\"></span>p95 <span class=\"k l-2\"></span>p99 "
                     "(of sagas finished in each bucket)</p>\n");
}

static void figures(saga_buf *b, const json_t *doc)
{
    const json_t *t = json_object_get(doc, "throughput");
    const json_t *totals = json_object_get(doc, "totals");
    json_int_t done = member(totals, "COMPLETED"), comp = member(totals, "COMPENSATED");
    saga_buf_printf(b, "<div class=\"cards\"><div><b>%lld</b>started</div>"
                       "<div><b>%.3g/s</b>started per second</div>"
                       "<div><b>%lld</b>finished</div>"
                       "<div><b>%.0f%%</b>completed (of finished started)</div>"
                       "<div><b>%.0f%%</b>compensated</div>"
                       "<div><b>%lld</b>active now</div><div><b>%lld</b>stuck now</div></div>\n",
                    (long long)member(t, "started"),
                    json_real_value(json_object_get(t, "started_per_s")),
                    (long long)member(t, "finished"),
                    done + comp ? 100.0 * (double)done / (double)(done + comp) : 0.0,
                    done + comp ? 100.0 * (double)comp / (double)(done + comp) : 0.0,
                    (long long)member(doc, "active"), (long long)member(doc, "stuck"));
}

static void durations_table(saga_buf *b, const json_t *doc)
{
    saga_buf_puts(b, "<h2>Durations <small>sagas finished in the window</small></h2>"
                     "<table class=\"list\" id=\"durations\"><thead><tr><th>definition</th>"
                     "<th>finished</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th>"
                     "<th>max ms</th></tr></thead><tbody>\n");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(doc, "durations"), i, d) {
        saga_buf_puts(b, "<tr><td>");
        const json_t *name = json_object_get(d, "name");
        if (json_is_null(name))
            saga_buf_puts(b, "<b>all</b>");
        else
            console_json_text(b, name);
        saga_buf_printf(b, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
                           "<td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
                           "<td class=\"n\">%lld</td></tr>\n",
                        (long long)member(d, "finished"), (long long)member(d, "p50_ms"),
                        (long long)member(d, "p95_ms"), (long long)member(d, "p99_ms"),
                        (long long)member(d, "max_ms"));
    }
    saga_buf_puts(b, "</tbody></table>\n");
}

void console_page_stats(console *k, const json_t *doc, const cli_args *a, saga_buf *b)
{
    (void)k;
    console_page_open(b, "stats", "stats", 0);
    saga_buf_puts(b, "<h1>Stats <small>since ");
    console_text(b, console_str(doc, "since"));
    saga_buf_puts(b, "</small></h1>\n<form class=\"filters\" method=\"get\" action=\"/stats\">"
                     "<label>window <input name=\"since\" placeholder=\"1h\" value=\"");
    console_text(b, cli_value(a, "since"));
    saga_buf_puts(b, "\"></label><button type=\"submit\">show</button></form>\n");
    figures(b, doc);
    const json_t *series = json_object_get(doc, "series");
    saga_buf_puts(b, "<h2>Throughput and outcomes over time</h2>\n");
    bars_chart(b, series);
    saga_buf_puts(b, "<h2>Duration percentiles over time</h2>\n");
    lines_chart(b, series);
    durations_table(b, doc);
    console_page_close(b);
}
