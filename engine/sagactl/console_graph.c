/*
 * console_graph.c - a saga's or a definition's steps as a picture: DOT
 * text written here, laid out by Graphviz's own library (libgvc) into SVG.
 *
 * The DOT is built from the parsed spec (steps and their "after" edges)
 * and, for a saga, from the `show --json` document's steps, so the picture
 * and the JSON cannot disagree. Node ids are "s<index>", never step names:
 * names only appear inside quoted labels, escaped for DOT, and Graphviz's
 * SVG renderer escapes label text for XML. The SVG's XML prolog and
 * DOCTYPE are cut so the <svg> element can be inlined in a page.
 *
 * One Graphviz context per call: creating it loads the plugin list (a few
 * milliseconds), cheap next to the page's queries, and it keeps this file
 * free of process-wide state.
 */
#include <gvc.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sagactl.h"

/* Fill colours by step status; the legend on the saga page uses the same. */
static const struct {
    const char *status, *fill;
} FILLS[] = {
    {"PENDING", "#eeeeee"},    {"RESERVING", "#cde4ff"},  {"RESERVED", "#d6f0dc"},
    {"CONFIRMING", "#cde4ff"}, {"CONFIRMED", "#8fd19e"},  {"COMPENSATING", "#ffd88a"},
    {"COMPENSATED", "#f3b562"}, {"REJECTED", "#f2a7a7"},  {"FAILED", "#c9a7f2"},
};

static const char *fill_of(const char *status)
{
    for (size_t i = 0; status && i < sizeof FILLS / sizeof FILLS[0]; i++)
        if (strcmp(FILLS[i].status, status) == 0)
            return FILLS[i].fill;
    return "#ffffff";
}

/* s as the inside of a DOT quoted string: quotes and backslashes escaped
 * (a backslash would otherwise start a Graphviz escape such as \N). */
static void dot_text(saga_buf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '"' || *p == '\\')
            saga_buf_putn(b, "\\", 1);
        if (*p == '\n' || *p == '\r')
            continue;
        saga_buf_putn(b, p, 1);
    }
}

static const json_t *saga_step(const json_t *show, const char *name)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(show, "steps"), i, st) {
        const char *n = json_string_value(json_object_get(st, "name"));
        if (n && strcmp(n, name) == 0)
            return st;
    }
    return NULL;
}

static void node(saga_buf *b, const saga_spec *spec, size_t i, const json_t *show)
{
    const saga_step_def *d = &spec->steps[i];
    const json_t *st = show ? saga_step(show, d->name) : NULL;
    const char *status = st ? json_string_value(json_object_get(st, "status")) : NULL;
    saga_buf_printf(b, "  s%zu [label=\"", i);
    dot_text(b, d->name);
    saga_buf_puts(b, "\\n");
    dot_text(b, d->participant);
    if (status) {
        saga_buf_puts(b, "\\n");
        dot_text(b, status);
        json_int_t attempt = json_integer_value(json_object_get(st, "attempt"));
        if (attempt > 1)
            saga_buf_printf(b, " (attempt %lld)", (long long)attempt);
    }
    if (d->irreversible)
        saga_buf_puts(b, "\\nirreversible");
    saga_buf_printf(b, "\", fillcolor=\"%s\"%s];\n", show ? fill_of(status) : "#ffffff",
                    d->irreversible ? ", peripheries=2, color=\"#b03030\"" : "");
}

char *cli_graph_dot(const saga_spec *spec, const json_t *show)
{
    saga_buf b = {0};
    saga_buf_puts(&b, "digraph steps {\n"
                      "  graph [rankdir=LR, bgcolor=\"transparent\", nodesep=0.25,"
                      " ranksep=0.45, fontname=\"DejaVu Sans\"];\n"
                      "  node [shape=box, style=\"rounded,filled\", fontsize=11,"
                      " fontname=\"DejaVu Sans\", color=\"#666666\", margin=\"0.15,0.06\"];\n"
                      "  edge [color=\"#777777\", arrowsize=0.7];\n");
    for (size_t i = 0; i < spec->n_steps; i++)
        node(&b, spec, i, show);
    for (size_t i = 0; i < spec->n_steps; i++)
        for (size_t k = 0; k < spec->steps[i].n_after; k++)
            saga_buf_printf(&b, "  s%zu -> s%zu;\n", spec->steps[i].after[k], i);
    saga_buf_puts(&b, "}\n");
    return saga_buf_take(&b);
}

/*
 * One Graphviz context for the life of the process, never freed: Graphviz
 * 2.43's pango text plugin remembers the last font name in a static pointer
 * into the context's font table, so freeing a context and laying out with
 * the next one read freed memory (ASan caught it on the console's second
 * page). Every layout runs on the console's one server thread, or once in
 * `show --format svg`.
 */
static GVC_t *graphviz(void)
{
    static GVC_t *gvc;
    if (!gvc)
        gvc = gvContext();
    return gvc;
}

char *cli_graph_svg(const char *dot, saga_error *err)
{
    GVC_t *gvc = graphviz();
    Agraph_t *g = gvc ? agmemread(dot) : NULL;
    char *data = NULL, *out = NULL;
    unsigned int len = 0;
    if (!g) {
        saga_error_set(err, SAGA_EINVAL, "Graphviz could not read the step graph");
    } else if (gvLayout(gvc, g, "dot") != 0) {
        saga_error_set(err, SAGA_EIO, "Graphviz could not lay out the step graph");
        saga_error_hint(err, "is the dot layout plugin installed (libgvc6; run dot -c)?");
    } else {
        if (gvRenderData(gvc, g, "svg", &data, &len) == 0 && data) {
            const char *svg = strstr(data, "<svg");
            out = svg ? strdup(svg) : NULL;
        }
        if (!out)
            saga_error_set(err, SAGA_EIO, "Graphviz could not render the step graph as SVG");
        gvFreeRenderData(data);
        gvFreeLayout(gvc, g);
    }
    if (g)
        agclose(g);
    return out;
}

static int print_graph(const saga_spec *spec, const json_t *show, const char *format)
{
    char *dot = cli_graph_dot(spec, show);
    saga_error err;
    saga_error_clear(&err);
    char *text = dot && strcmp(format, "svg") == 0 ? cli_graph_svg(dot, &err) : NULL;
    const char *out = strcmp(format, "svg") == 0 ? text : dot;
    int status = CLI_EXIT_OK;
    if (out) {
        fputs(out, stdout);
    } else {
        fprintf(stderr, "sagactl: error: %s\n", err.msg[0] ? err.msg : "out of memory");
        if (err.hint[0])
            fprintf(stderr, "hint: %s\n", err.hint);
        status = CLI_EXIT_FAIL;
    }
    free(text);
    free(dot);
    return status;
}

int cli_graph_spec_print(const saga_spec *spec, const char *format)
{
    return print_graph(spec, NULL, format);
}

int cli_graph_print(cli *c, const json_t *show, const char *format)
{
    saga_error err;
    const saga_spec *spec =
        cli_spec(c, json_string_value(json_object_get(show, "name")),
                 (int)json_integer_value(json_object_get(show, "version")), &err);
    if (!spec)
        return cli_fail(c, &err);
    return print_graph(spec, show, format);
}
