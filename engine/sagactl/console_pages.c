/*
 * console_pages.c - the console's frame and its list pages: sagas, the
 * stuck board, definitions and one definition, and the error page.
 *
 * Each page reads the document of the matching `sagactl ... --json`
 * (passed in by serve.c) and nothing else, so what it shows is what the
 * CLI says. Links carry the same options as query parameters, written with
 * saga_url_encode and then escaped like any attribute value.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

/* --- frame and helpers -------------------------------------------------------- */

void console_text(saga_buf *b, const char *s)
{
    saga_html_escape(b, s);
}

void console_json_text(saga_buf *b, const json_t *v)
{
    if (!v || json_is_null(v)) {
        saga_buf_puts(b, "-");
    } else if (json_is_string(v)) {
        saga_html_escape(b, json_string_value(v));
    } else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        saga_html_escape(b, t);
        free(t);
    }
}

const char *console_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

int64_t console_time(const json_t *o, const char *key)
{
    int64_t ms = 0;
    saga_error err;
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || saga_time_parse(s, &ms, &err))
        return 0;
    return ms;
}

void console_status(saga_buf *b, const char *status)
{
    saga_buf_puts(b, "<span class=\"st st-");
    console_text(b, status);
    saga_buf_puts(b, "\">");
    console_text(b, status);
    saga_buf_puts(b, "</span>");
}

void console_page_open(saga_buf *b, const char *title, const char *active, int live_ms)
{
    static const char *const nav[][2] = {
        {"sagas", "/"}, {"stuck", "/stuck"}, {"defs", "/defs"}, {"stats", "/stats"}};
    saga_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                     "<title>");
    console_text(b, title);
    saga_buf_puts(b, " - sagad console</title>"
                     "<link rel=\"stylesheet\" href=\"/static/console.css\">"
                     "<script src=\"/static/console.js\" defer></script></head>\n"
                     "<body><header><a class=\"brand\" href=\"/\">sagad console</a><nav>");
    for (size_t i = 0; i < sizeof nav / sizeof nav[0]; i++)
        saga_buf_printf(b, "<a href=\"%s\"%s>%s</a>", nav[i][1],
                        active && strcmp(active, nav[i][0]) == 0 ? " class=\"on\"" : "",
                        nav[i][0]);
    saga_buf_puts(b, "</nav></header>\n<main id=\"main\"");
    if (live_ms > 0)
        saga_buf_printf(b, " data-live=\"%d\"", live_ms);
    saga_buf_puts(b, ">\n");
}

void console_page_close(saga_buf *b)
{
    saga_buf_puts(b, "</main></body></html>\n");
}

void console_page_error(saga_buf *b, int status, const saga_error *err)
{
    console_page_open(b, "error", NULL, 0);
    saga_buf_printf(b, "<h1>%d</h1><p class=\"error\">", status);
    console_text(b, err->msg[0] ? err->msg : saga_strerror(err->code));
    saga_buf_puts(b, "</p>");
    if (err->hint[0]) {
        saga_buf_puts(b, "<p class=\"hint\">hint: ");
        console_text(b, err->hint);
        saga_buf_puts(b, "</p>");
    }
    console_page_close(b);
}

static void saga_link(saga_buf *b, const char *id)
{
    saga_buf_puts(b, "<a class=\"id\" href=\"/sagas/");
    saga_url_encode(b, id);
    saga_buf_puts(b, "\">");
    console_text(b, id);
    saga_buf_puts(b, "</a>");
}

static void def_link(saga_buf *b, const json_t *o)
{
    char ref[SAGA_SPEC_MAX_NAME + 16];
    snprintf(ref, sizeof ref, "%s@%lld", console_str(o, "name"),
             (long long)json_integer_value(json_object_get(o, "version")));
    saga_buf_puts(b, "<a href=\"/defs/");
    saga_url_encode(b, ref);
    saga_buf_puts(b, "\">");
    console_text(b, ref);
    saga_buf_puts(b, "</a>");
}

static void time_cell(saga_buf *b, const json_t *o, const char *key)
{
    saga_buf_puts(b, "<td class=\"t\">");
    console_json_text(b, json_object_get(o, key));
    saga_buf_puts(b, "</td>");
}

/* The last cell of a stuck row, and the row's end. */
static void reason_cell(saga_buf *b, const json_t *o)
{
    saga_buf_puts(b, "<td class=\"reason\">");
    console_text(b, console_str(o, "reason"));
    saga_buf_puts(b, "</td></tr>\n");
}

void console_row(saga_buf *b, const json_t *o, const char *const keys[], size_t n)
{
    saga_buf_puts(b, "<tr>");
    for (size_t k = 0; k < n; k++) {
        saga_buf_puts(b, k ? "<td>" : "<td class=\"t\">");
        console_json_text(b, json_object_get(o, keys[k]));
        saga_buf_puts(b, "</td>");
    }
    saga_buf_puts(b, "</tr>\n");
}

/* --- / : sagas ----------------------------------------------------------------- */

static void input_field(saga_buf *b, const cli_args *a, const char *name,
                        const char *label, const char *placeholder)
{
    saga_buf_printf(b, "<label>%s <input name=\"%s\" placeholder=\"", label, name);
    console_text(b, placeholder);
    saga_buf_puts(b, "\" value=\"");
    console_text(b, cli_value(a, name));
    saga_buf_puts(b, "\"></label>");
}

static void list_filters(saga_buf *b, const cli_args *a)
{
    static const char *const statuses[] = {"",           "active",       "terminal",
                                           "SCHEDULED",  "RUNNING",      "CONFIRMING",
                                           "COMPENSATING", "COMPLETED",  "COMPENSATED"};
    const char *cur = cli_value(a, "status");
    saga_buf_puts(b, "<form class=\"filters\" method=\"get\" action=\"/\">"
                     "<label>status <select name=\"status\">");
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        saga_buf_printf(b, "<option value=\"%s\"%s>%s</option>", statuses[i],
                        cur && strcmp(cur, statuses[i]) == 0 ? " selected" : "",
                        statuses[i][0] ? statuses[i] : "any");
    saga_buf_puts(b, "</select></label>");
    input_field(b, a, "def", "definition", "name[@version]");
    input_field(b, a, "since", "since", "1h, 2026-01-31 14:00");
    input_field(b, a, "older-than", "older than", "10m");
    saga_buf_printf(b, "<label><input type=\"checkbox\" name=\"stuck\" value=\"1\"%s> stuck"
                       "</label>", cli_flag(a, "stuck") ? " checked" : "");
    input_field(b, a, "tag", "tag", "order=o-1");
    input_field(b, a, "where", "input field", "input.sku=WIDGET");
    input_field(b, a, "limit", "per page", "50");
    saga_buf_puts(b, "<button type=\"submit\">filter</button> <a href=\"/\">clear</a></form>\n");
}

/* "?opt=value&..." of the list's filters, then after=cursor. */
static void next_link(saga_buf *b, const cli_args *a, const char *cursor)
{
    static const char *const keys[] = {"status", "def", "since", "older-than", "limit",
                                       "tag", "where"};
    saga_buf_puts(b, "<p class=\"more\"><a href=\"/?");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *vs[CLI_MAX_ARGS];
        size_t n = cli_values(a, keys[i], vs, CLI_MAX_ARGS);
        for (size_t k = 0; k < n && k < CLI_MAX_ARGS; k++) {
            saga_buf_printf(b, "%s=", keys[i]);
            saga_url_encode(b, vs[k]);
            saga_buf_puts(b, "&amp;");
        }
    }
    if (cli_flag(a, "stuck"))
        saga_buf_puts(b, "stuck=1&amp;");
    saga_buf_puts(b, "after=");
    saga_url_encode(b, cursor);
    saga_buf_puts(b, "\">next page &rarr;</a></p>\n");
}

void console_page_list(console *k, const json_t *doc, const cli_args *a, saga_buf *b)
{
    (void)k;
    console_page_open(b, "sagas", "sagas", 0);
    saga_buf_puts(b, "<h1>Sagas <small>newest first</small></h1>\n");
    list_filters(b, a);
    const json_t *sagas = json_object_get(doc, "sagas");
    if (json_array_size(sagas) == 0) {
        saga_buf_puts(b, "<p class=\"empty\">no sagas match</p>\n");
        console_page_close(b);
        return;
    }
    saga_buf_puts(b, "<table class=\"list\" id=\"sagas\"><thead><tr><th>id</th>"
                     "<th>definition</th><th>status</th><th>waiting for</th><th>created</th>"
                     "<th>progress</th><th>attempts</th><th>flags</th></tr></thead><tbody>\n");
    size_t i;
    json_t *s;
    json_array_foreach(sagas, i, s) {
        saga_buf_puts(b, "<tr><td>");
        saga_link(b, console_str(s, "id"));
        saga_buf_puts(b, "</td><td>");
        def_link(b, s);
        saga_buf_puts(b, "</td><td>");
        console_status(b, console_str(s, "status"));
        saga_buf_puts(b, "</td><td class=\"wait\">");
        console_json_text(b, json_object_get(s, "waiting_for"));
        saga_buf_puts(b, "</td>");
        time_cell(b, s, "created_at");
        time_cell(b, s, "progress_at");
        saga_buf_printf(b, "<td class=\"n\">%lld</td><td>%s%s%s</td></tr>\n",
                        (long long)json_integer_value(json_object_get(s, "attempts")),
                        json_is_true(json_object_get(s, "stuck")) ? "<b class=\"bad\">stuck</b> " : "",
                        json_is_true(json_object_get(s, "aborted")) ? "aborted " : "",
                        json_is_true(json_object_get(s, "resolved")) ? "resolved" : "");
    }
    saga_buf_puts(b, "</tbody></table>\n");
    const char *next = json_string_value(json_object_get(doc, "next_cursor"));
    if (next)
        next_link(b, a, next);
    console_page_close(b);
}

/* --- /stuck ------------------------------------------------------------------- */

static void stuck_groups(saga_buf *b, const json_t *groups)
{
    saga_buf_puts(b, "<h2>By definition, step and reason</h2><table class=\"list\" "
                     "id=\"groups\"><thead><tr><th>count</th><th>definition</th><th>step</th>"
                     "<th>oldest progress</th><th>reason</th></tr></thead><tbody>\n");
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        saga_buf_printf(b, "<tr><td class=\"n\">%lld</td><td>",
                        (long long)json_integer_value(json_object_get(g, "count")));
        def_link(b, g);
        saga_buf_puts(b, "</td><td>");
        console_json_text(b, json_object_get(g, "step"));
        saga_buf_puts(b, "</td>");
        time_cell(b, g, "oldest_progress_at");
        reason_cell(b, g);
    }
    saga_buf_puts(b, "</tbody></table>\n");
}

void console_page_stuck(console *k, const json_t *doc, const cli_args *a, saga_buf *b)
{
    (void)k;
    (void)a;
    console_page_open(b, "stuck", "stuck", CONSOLE_LIVE_MS);
    json_int_t total = json_integer_value(json_object_get(doc, "count"));
    saga_buf_printf(b, "<h1>Stuck board <small>%lld stuck saga%s; updates every %d s"
                       "</small></h1>\n",
                    (long long)total, total == 1 ? "" : "s", CONSOLE_LIVE_MS / 1000);
    if (total == 0) {
        saga_buf_puts(b, "<p class=\"empty\">no stuck sagas: none flagged, none past its "
                         "definition's stuck_after_ms</p>\n");
        console_page_close(b);
        return;
    }
    stuck_groups(b, json_object_get(doc, "groups"));
    saga_buf_puts(b, "<h2>Sagas <small>oldest progress first</small></h2><table class=\"list\""
                     " id=\"stuck\"><thead><tr><th>id</th><th>definition</th><th>status</th>"
                     "<th>progress</th><th>reason</th></tr></thead><tbody>\n");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "sagas"), i, s) {
        saga_buf_puts(b, "<tr><td>");
        saga_link(b, console_str(s, "id"));
        saga_buf_puts(b, "</td><td>");
        def_link(b, s);
        saga_buf_puts(b, "</td><td>");
        console_status(b, console_str(s, "status"));
        saga_buf_puts(b, "</td>");
        time_cell(b, s, "progress_at");
        reason_cell(b, s);
    }
    saga_buf_puts(b, "</tbody></table>\n");
    console_page_close(b);
}

/* --- /defs and /defs/NAME ------------------------------------------------------ */

void console_page_defs(console *k, const json_t *doc, const cli_args *a, saga_buf *b)
{
    (void)k;
    (void)a;
    console_page_open(b, "definitions", "defs", 0);
    saga_buf_puts(b, "<h1>Definitions</h1>\n<table class=\"list\" id=\"defs\"><thead><tr>"
                     "<th>name</th><th>versions</th><th>latest applied</th></tr></thead>"
                     "<tbody>\n");
    size_t i, v;
    json_t *d, *ver;
    json_array_foreach(json_object_get(doc, "definitions"), i, d) {
        saga_buf_puts(b, "<tr><td><a href=\"/defs/");
        saga_url_encode(b, console_str(d, "name"));
        saga_buf_puts(b, "\">");
        console_text(b, console_str(d, "name"));
        saga_buf_puts(b, "</a></td><td>");
        json_array_foreach(json_object_get(d, "versions"), v, ver) {
            json_t *ref = json_pack("{s:s, s:I}", "name", console_str(d, "name"), "version",
                                    json_integer_value(ver));
            def_link(b, ref);
            saga_buf_puts(b, " ");
            json_decref(ref);
        }
        saga_buf_puts(b, "</td><td class=\"t\">");
        console_text(b, console_str(d, "applied_at"));
        saga_buf_puts(b, "</td></tr>\n");
    }
    saga_buf_puts(b, "</tbody></table>\n");
    console_page_close(b);
}

static void def_steps(saga_buf *b, const saga_spec *spec)
{
    saga_buf_puts(b, "<table class=\"list\" id=\"steps\"><thead><tr><th>step</th>"
                     "<th>participant</th><th>after</th><th>timeout</th><th>attempts</th>"
                     "<th>confirm</th><th>compensate</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < spec->n_steps; i++) {
        const saga_step_def *d = &spec->steps[i];
        char timeout[SAGA_TIME_TEXT_MAX];
        saga_duration_format(d->timeout_ms, 2, timeout, sizeof timeout);
        saga_buf_puts(b, "<tr><td>");
        console_text(b, d->name);
        saga_buf_puts(b, "</td><td>");
        console_text(b, d->participant);
        saga_buf_puts(b, "</td><td>");
        for (size_t j = 0; j < d->n_after; j++) {
            saga_buf_puts(b, j ? ", " : "");
            console_text(b, spec->steps[d->after[j]].name);
        }
        saga_buf_printf(b, "</td><td>%s</td><td class=\"n\">%d</td><td>", timeout,
                        d->retry.max_attempts);
        console_text(b, d->confirm.command ? d->confirm.command : "-");
        saga_buf_puts(b, "</td><td>");
        if (d->irreversible)
            saga_buf_puts(b, "<b class=\"bad\">irreversible</b>");
        else
            console_text(b, d->compensate.command);
        saga_buf_puts(b, "</td></tr>\n");
    }
    saga_buf_puts(b, "</tbody></table>\n");
}

void console_page_def(console *k, const json_t *doc, const cli_args *a, saga_buf *b)
{
    (void)a;
    char ref[SAGA_SPEC_MAX_NAME + 16];
    snprintf(ref, sizeof ref, "%s@%lld", console_str(doc, "name"),
             (long long)json_integer_value(json_object_get(doc, "version")));
    console_page_open(b, ref, "defs", 0);
    saga_buf_puts(b, "<h1>");
    console_text(b, ref);
    saga_buf_puts(b, "</h1>\n<dl class=\"head\"><dt>sha256</dt><dd class=\"id\">");
    console_text(b, console_str(doc, "sha256"));
    saga_buf_puts(b, "</dd><dt>applied</dt><dd>");
    console_text(b, console_str(doc, "applied_at"));
    saga_buf_puts(b, "</dd></dl>\n");
    saga_error err;
    const saga_spec *spec = cli_spec(k->c, console_str(doc, "name"),
                                     (int)json_integer_value(json_object_get(doc, "version")),
                                     &err);
    if (spec) {
        if (spec->description[0]) {
            saga_buf_puts(b, "<p>");
            console_text(b, spec->description);
            saga_buf_puts(b, "</p>\n");
        }
        saga_buf_puts(b, "<h2>Graph <small>double border: irreversible</small></h2>\n");
        console_graph(b, spec, NULL);
        def_steps(b, spec);
    } else {
        saga_buf_puts(b, "<p class=\"error\">the stored spec cannot be loaded: ");
        console_text(b, err.msg);
        saga_buf_puts(b, "</p>\n");
    }
    char *pretty = json_dumps(json_object_get(doc, "spec"), CLI_JSON_PRETTY);
    saga_buf_puts(b, "<h2>Spec</h2><pre class=\"json\">");
    console_text(b, pretty);
    saga_buf_puts(b, "</pre>\n");
    free(pretty);
    console_page_close(b);
}

void console_graph(saga_buf *b, const saga_spec *spec, const json_t *show)
{
    saga_error err;
    saga_error_clear(&err);
    char *dot = cli_graph_dot(spec, show);
    char *svg = dot ? cli_graph_svg(dot, &err) : NULL;
    if (svg) {
        saga_buf_puts(b, "<div class=\"graph\">");
        saga_buf_puts(b, svg);
        saga_buf_puts(b, "</div>\n");
    } else {
        saga_buf_puts(b, "<p class=\"error\">no graph: ");
        console_text(b, err.msg[0] ? err.msg : "out of memory");
        saga_buf_puts(b, "</p>\n");
    }
    free(svg);
    free(dot);
}
