/*
 * console.h - what the console's files share (sagactl serve): the server's
 * state, the page frame, and one renderer per page.
 *
 * Layer: engine/sagactl, the sagactl program; nothing else includes it.
 *
 * Every page is drawn from the JSON document the matching `sagactl ...
 * --json` prints (cli_doc_*, sagactl.h), never from its own query: the
 * console shows what the CLI says. Renderers append HTML to a saga_buf and
 * write every value from a saga through console_text / console_attr, which
 * are saga_html_escape (engine/common/html.h): no other path puts outside
 * text into a page.
 */
#ifndef SAGA_CONSOLE_H
#define SAGA_CONSOLE_H

#include "buf.h"
#include "html.h"
#include "sagactl.h"

/* The server's state; one server thread touches it (see serve.c). */
typedef struct console {
    cli *c;
    bool actions;     /* --actions: the POST endpoints and the buttons */
    char token[256];  /* required in X-Console-Token when actions are on */
    char actor[128];  /* --actor, or "" to record "console:<address>" */
} console;

/* How often live pages poll themselves, in ms (console.js reads it from
 * the data-live attribute). */
#define CONSOLE_LIVE_MS 2000

/* The frame: <head> with the stylesheet and script, the navigation
 * (active: "sagas", "stuck", "defs", "stats"), then <main>, which
 * console.js refreshes every live_ms when live_ms > 0. */
void console_page_open(saga_buf *b, const char *title, const char *active, int live_ms);
void console_page_close(saga_buf *b);

/* Escaped text (NULL = nothing) and a JSON value as escaped text (strings
 * bare, null as "-", anything else as compact JSON). */
void console_text(saga_buf *b, const char *s);
void console_json_text(saga_buf *b, const json_t *v);
/* A JSON member by key: string value or "" (borrowed). */
const char *console_str(const json_t *o, const char *key);
/* An RFC 3339 time member as epoch ms, 0 when null or unreadable. */
int64_t console_time(const json_t *o, const char *key);
/* A table row of o's members keys[0..n) as text, the first as a time. */
void console_row(saga_buf *b, const json_t *o, const char *const keys[], size_t n);
/* <span class="st st-STATUS">STATUS</span>. */
void console_status(saga_buf *b, const char *status);

/* The pages. a: the request's arguments, as parsed for the command. */
void console_page_list(console *k, const json_t *doc, const cli_args *a, saga_buf *b);
void console_page_stuck(console *k, const json_t *doc, const cli_args *a, saga_buf *b);
void console_page_defs(console *k, const json_t *doc, const cli_args *a, saga_buf *b);
void console_page_def(console *k, const json_t *doc, const cli_args *a, saga_buf *b);
void console_page_stats(console *k, const json_t *doc, const cli_args *a, saga_buf *b);
void console_page_saga(console *k, const json_t *doc, const cli_args *a, saga_buf *b);
void console_page_error(saga_buf *b, int status, const saga_error *err);

/* A step graph as inline SVG (or, if Graphviz fails, a note saying why). */
void console_graph(saga_buf *b, const saga_spec *spec, const json_t *show);

/* The embedded static files (console_assets.c). */
extern const char console_css[];
extern const char console_js[];

#endif
