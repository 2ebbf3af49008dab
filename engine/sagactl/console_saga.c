/*
 * console_saga.c - /sagas/ID: one saga as a picture. The header, the step
 * graph coloured by step status, the timeline drawn as one bar per
 * command (sent -> reply or timeout), inputs and results, what it waits
 * for, the audit trail and the full history, with the action buttons when
 * the console was started with --actions.
 *
 * All of it comes from the `sagactl show ID --json` document. The bars are
 * paired from its timeline: a "command" row opens a bar for (step, action,
 * attempt), the next "reply" or "timeout" row for that step and action
 * closes it; a bar still open is drawn up to now (the saga waits on it).
 * The page polls itself while the saga is not finished.
 */
#include <stdlib.h>
#include <string.h>

#include "console.h"

#define BARS_MAX 512
#define ROW_H 22
#define LABEL_W 150
#define CHART_W 760

typedef struct bar {
    const char *step, *action, *result; /* borrowed from the document */
    json_int_t attempt;
    int64_t from, to;
    bool open;
} bar;

static bool terminal(const char *status)
{
    return strcmp(status, "COMPLETED") == 0 || strcmp(status, "COMPENSATED") == 0;
}

static void header(saga_buf *b, const json_t *doc)
{
    const char *status = console_str(doc, "status");
    saga_buf_puts(b, "<h1>Saga <span class=\"id\">");
    console_text(b, console_str(doc, "id"));
    saga_buf_puts(b, "</span> ");
    console_status(b, status);
    if (json_is_true(json_object_get(doc, "stuck")))
        saga_buf_puts(b, " <b class=\"bad\">stuck</b>");
    saga_buf_puts(b, "</h1>\n<dl class=\"head\"><dt>definition</dt><dd><a href=\"/defs/");
    char ref[SAGA_SPEC_MAX_NAME + 16];
    snprintf(ref, sizeof ref, "%s@%lld", console_str(doc, "name"),
             (long long)json_integer_value(json_object_get(doc, "version")));
    saga_url_encode(b, ref);
    saga_buf_puts(b, "\">");
    console_text(b, ref);
    saga_buf_puts(b, "</a></dd>");
    static const char *const keys[][2] = {
        {"idempotency key", "idempotency_key"}, {"created", "created_at"},
        {"last progress", "progress_at"},       {"finished", "finished_at"},
        {"duration (ms)", "duration_ms"},       {"stuck reason", "stuck_reason"},
        {"trace", "traceparent"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        saga_buf_printf(b, "<dt>%s</dt><dd>", keys[i][0]);
        console_json_text(b, json_object_get(doc, keys[i][1]));
        saga_buf_puts(b, "</dd>");
    }
    saga_buf_printf(b, "<dt>operator</dt><dd>%s</dd></dl>\n",
                    json_is_true(json_object_get(doc, "resolved"))  ? "resolved by an operator"
                    : json_is_true(json_object_get(doc, "aborted")) ? "aborted by an operator"
                                                                    : "-");
}

static void waiting(saga_buf *b, const json_t *doc)
{
    saga_buf_puts(b, "<h2>Waiting for</h2><ul class=\"waiting\" id=\"waiting\">");
    const json_t *w = json_object_get(doc, "waiting_for");
    size_t i;
    json_t *line;
    json_array_foreach(w, i, line) {
        saga_buf_puts(b, "<li>");
        console_json_text(b, line);
        saga_buf_puts(b, "</li>");
    }
    if (json_array_size(w) == 0)
        saga_buf_printf(b, "<li>%s</li>", terminal(console_str(doc, "status"))
                                              ? "nothing: the saga has finished"
                                              : "sagad to dispatch the next commands");
    saga_buf_puts(b, "</ul>\n");
}

/* Approve / Reject for each signal step waiting (as `sagactl signal`:
 * approve takes optional data, reject a reason). */
static void signal_actions(saga_buf *b, const json_t *doc)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(doc, "steps"), i, st) {
        if (strcmp(console_str(st, "participant"), "signal") != 0 ||
            strcmp(console_str(st, "status"), "RESERVING") != 0)
            continue;
        for (int approve = 1; approve >= 0; approve--) {
            saga_buf_printf(b, "<form class=\"action signal\" data-action=\"%s\" data-id=\"",
                            approve ? "approve" : "reject");
            console_text(b, console_str(doc, "id"));
            saga_buf_puts(b, "\"><input type=\"hidden\" name=\"step\" value=\"");
            console_text(b, console_str(st, "name"));
            saga_buf_puts(b, approve ? "\"><input name=\"data\" placeholder=\"data (optional "
                                       "JSON object)\"><input name=\"reason\" "
                                       "placeholder=\"reason (optional)\">"
                                     : "\"><input name=\"reason\" placeholder=\"reason\" "
                                       "required>");
            saga_buf_puts(b, approve ? "<button type=\"submit\">approve " : "<button "
                                                                        "type=\"submit\">reject ");
            console_text(b, console_str(st, "name"));
            saga_buf_puts(b, "</button></form>");
        }
    }
}

static void actions(saga_buf *b, const json_t *doc)
{
    const char *id = console_str(doc, "id");
    saga_buf_puts(b, "<h2>Actions</h2><div class=\"actions\" id=\"actions\">");
    static const char *const verbs[] = {"retry", "abort", "resolve"};
    for (size_t i = 0; i < 3; i++) {
        saga_buf_printf(b, "<form class=\"action\" data-action=\"%s\" data-id=\"", verbs[i]);
        console_text(b, id);
        saga_buf_printf(b, "\"><input name=\"reason\" placeholder=\"reason%s\"%s>",
                        i ? "" : " (optional)", i ? " required" : "");
        if (i == 2)
            saga_buf_puts(b, "<select name=\"as\"><option>completed</option>"
                             "<option>compensated</option></select>");
        saga_buf_printf(b, "<button type=\"submit\">%s</button></form>", verbs[i]);
    }
    signal_actions(b, doc);
    saga_buf_puts(b, "<output id=\"action-result\"></output></div>\n");
}

/* The bars, paired from the timeline (see the top of this file). */
static size_t pair_bars(const json_t *doc, int64_t now, bar *bars)
{
    size_t n = 0, i;
    json_t *h;
    json_array_foreach(json_object_get(doc, "timeline"), i, h) {
        const char *kind = console_str(h, "kind"), *step = console_str(h, "step");
        const char *action = console_str(h, "action");
        int64_t at = console_time(h, "at");
        if (!*step || !*action)
            continue;
        if (strcmp(kind, "command") == 0 && n < BARS_MAX) {
            bars[n++] = (bar){.step = step, .action = action, .result = "pending",
                              .attempt = json_integer_value(json_object_get(h, "attempt")),
                              .from = at, .to = now, .open = true};
            continue;
        }
        bool reply = strcmp(kind, "reply") == 0, timeout = strcmp(kind, "timeout") == 0;
        for (size_t k = n; (reply || timeout) && k-- > 0;) {
            if (!bars[k].open || strcmp(bars[k].step, step) != 0 ||
                strcmp(bars[k].action, action) != 0)
                continue;
            bars[k].open = false;
            bars[k].to = at;
            bars[k].result = timeout ? "TIMEOUT" : *console_str(h, "outcome")
                                                   ? console_str(h, "outcome") : "reply";
            break;
        }
    }
    return n;
}

static void bar_svg(saga_buf *b, const bar *r, int row, int64_t t0, double scale)
{
    double x = LABEL_W + (double)(r->from - t0) * scale;
    double w = (double)(r->to - r->from) * scale;
    saga_buf_printf(b, "<rect class=\"bar b-%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                       "height=\"%d\"><title>",
                    strcmp(r->result, "OK") == 0        ? "ok"
                    : strcmp(r->result, "REJECTED") == 0 ? "rejected"
                    : strcmp(r->result, "TIMEOUT") == 0  ? "timeout"
                    : strcmp(r->result, "pending") == 0  ? "pending"
                                                         : "other",
                    x, row * ROW_H + 4, w < 2 ? 2 : w, ROW_H - 8);
    console_text(b, r->step);
    saga_buf_puts(b, " ");
    console_text(b, r->action);
    saga_buf_printf(b, " #%lld: ", (long long)r->attempt);
    console_text(b, r->result);
    saga_buf_printf(b, " after %lld ms</title></rect>", (long long)(r->to - r->from));
}

static void timeline_svg(saga_buf *b, const json_t *doc, int64_t now)
{
    bar *bars = calloc(BARS_MAX, sizeof *bars);
    size_t n = bars ? pair_bars(doc, now, bars) : 0;
    const json_t *steps = json_object_get(doc, "steps");
    int64_t t0 = console_time(doc, "created_at"), t1 = t0 + 1;
    for (size_t i = 0; i < n; i++)
        t1 = bars[i].to > t1 ? bars[i].to : t1;
    double scale = (double)CHART_W / (double)(t1 - t0);
    size_t rows = json_array_size(steps);
    saga_buf_printf(b, "<h2>Timeline <small>one bar per command: sent &rarr; reply or timeout"
                       "</small></h2><svg class=\"timeline\" id=\"timeline\" viewBox=\"0 0 %d %zu\""
                       " width=\"%d\" height=\"%zu\">",
                    LABEL_W + CHART_W + 10, rows * ROW_H + 24, LABEL_W + CHART_W + 10,
                    rows * ROW_H + 24);
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st) {
        const char *name = console_str(st, "name");
        saga_buf_printf(b, "<text class=\"lbl\" x=\"4\" y=\"%zu\">", i * ROW_H + 15);
        console_text(b, name);
        saga_buf_printf(b, "</text><line class=\"row\" x1=\"%d\" x2=\"%d\" y1=\"%zu\" "
                           "y2=\"%zu\"/>", LABEL_W, LABEL_W + CHART_W, i * ROW_H + ROW_H,
                        i * ROW_H + ROW_H);
        for (size_t k = 0; k < n; k++)
            if (strcmp(bars[k].step, name) == 0)
                bar_svg(b, &bars[k], (int)i, t0, scale);
    }
    for (int q = 0; q <= 4; q++) {
        char d[SAGA_TIME_TEXT_MAX];
        saga_duration_format((t1 - t0) * q / 4, 2, d, sizeof d);
        saga_buf_printf(b, "<text class=\"tick\" x=\"%d\" y=\"%zu\">+%s</text>",
                        LABEL_W + CHART_W * q / 4 - (q == 4 ? 40 : 0), rows * ROW_H + 18, d);
    }
    saga_buf_puts(b, "</svg>\n<p class=\"legend\"><span class=\"k b-ok\"></span>OK "
                     "<span class=\"k b-rejected\"></span>rejected <span class=\"k b-timeout\">"
                     "</span>timed out <span class=\"k b-pending\"></span>no reply (yet)</p>\n");
    free(bars);
}

static void steps_table(saga_buf *b, const json_t *doc)
{
    saga_buf_puts(b, "<h2>Steps</h2><table class=\"list\" id=\"steps\"><thead><tr><th>step</th>"
                     "<th>participant</th><th>status</th><th>attempts r/c/x</th>"
                     "<th>outcomes r/c/x</th><th>last error</th><th>result</th></tr></thead>"
                     "<tbody>\n");
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(doc, "steps"), i, st) {
        const json_t *at = json_object_get(st, "attempts"), *oc = json_object_get(st, "outcomes");
        saga_buf_puts(b, "<tr><td>");
        console_text(b, console_str(st, "name"));
        saga_buf_puts(b, "</td><td>");
        console_text(b, console_str(st, "participant"));
        saga_buf_puts(b, "</td><td>");
        console_status(b, console_str(st, "status"));
        saga_buf_printf(b, "</td><td>%lld/%lld/%lld</td><td>",
                        (long long)json_integer_value(json_object_get(at, "reserve")),
                        (long long)json_integer_value(json_object_get(at, "confirm")),
                        (long long)json_integer_value(json_object_get(at, "compensate")));
        static const char *const phases[] = {"reserve", "confirm", "compensate"};
        for (size_t k = 0; k < 3; k++) {
            saga_buf_puts(b, k ? "/" : "");
            console_json_text(b, json_object_get(oc, phases[k]));
        }
        saga_buf_puts(b, "</td><td class=\"reason\">");
        console_json_text(b, json_object_get(st, "last_error"));
        saga_buf_puts(b, "</td><td class=\"json\">");
        console_json_text(b, json_object_get(st, "result"));
        saga_buf_puts(b, "</td></tr>\n");
    }
    saga_buf_puts(b, "</tbody></table>\n");
}

static void audit_and_history(saga_buf *b, const json_t *doc)
{
    size_t i;
    json_t *h;
    saga_buf_puts(b, "<h2>Audit <small>operator actions</small></h2><table class=\"list\" "
                     "id=\"audit\"><thead><tr><th>when</th><th>who</th><th>action</th></tr>"
                     "</thead><tbody>\n");
    static const char *const audit[] = {"at", "actor", "action"};
    json_array_foreach(json_object_get(doc, "operator_actions"), i, h)
        console_row(b, h, audit, 3);
    saga_buf_printf(b, "</tbody></table>\n<h2>History <small>%zu of %lld entries</small></h2>"
                       "<table class=\"list\" id=\"history\"><thead><tr><th>at</th><th>kind</th>"
                       "<th>step</th><th>action</th><th>attempt</th><th>outcome</th>"
                       "<th>detail</th><th>actor</th></tr></thead><tbody>\n",
                    json_array_size(json_object_get(doc, "timeline")),
                    (long long)json_integer_value(json_object_get(doc, "timeline_total")));
    static const char *const cols[] = {"at", "kind", "step", "action", "attempt", "outcome",
                                       "text", "actor"};
    json_array_foreach(json_object_get(doc, "timeline"), i, h)
        console_row(b, h, cols, sizeof cols / sizeof cols[0]);
    saga_buf_puts(b, "</tbody></table>\n");
}

void console_page_saga(console *k, const json_t *doc, const cli_args *a, saga_buf *b)
{
    (void)a;
    char title[64];
    snprintf(title, sizeof title, "saga %.8s", console_str(doc, "id"));
    bool done = terminal(console_str(doc, "status"));
    console_page_open(b, title, "sagas", done ? 0 : CONSOLE_LIVE_MS);
    header(b, doc);
    waiting(b, doc);
    if (k->actions && !done)
        actions(b, doc);
    saga_error err;
    const saga_spec *spec = cli_spec(k->c, console_str(doc, "name"),
                                     (int)json_integer_value(json_object_get(doc, "version")),
                                     &err);
    saga_buf_puts(b, "<h2>Steps graph</h2>\n");
    if (spec)
        console_graph(b, spec, doc);
    saga_buf_puts(b, "<p class=\"legend\">");
    static const char *const states[] = {"PENDING", "RESERVING", "RESERVED", "CONFIRMING",
                                         "CONFIRMED", "COMPENSATING", "COMPENSATED",
                                         "REJECTED", "FAILED"};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        console_status(b, states[i]);
    saga_buf_puts(b, " <small>FAILED: reserve out of attempts, outcome unknown</small></p>\n");
    timeline_svg(b, doc, done ? console_time(doc, "finished_at") : k->c->now_ms);
    steps_table(b, doc);
    char *input = json_dumps(json_object_get(doc, "input"), CLI_JSON_PRETTY | JSON_ENCODE_ANY);
    saga_buf_puts(b, "<h2>Input</h2><pre class=\"json\" id=\"input\">");
    console_text(b, input);
    saga_buf_puts(b, "</pre>\n");
    free(input);
    audit_and_history(b, doc);
    console_page_close(b);
}
