/*
 * spec_graph.c - the relations between steps: each "after" resolved to step
 * indices, dependency cycles, irreversible steps that could run before a
 * reversible one, and what each payload may reference.
 *
 * A spec has at most SAGA_SPEC_MAX_STEPS (64) steps, so dependency sets are
 * uint64_t bitmasks and the checks need no allocation. The checks run in
 * order and each needs the previous ones to have passed (cx->graph_ok): a
 * cycle cannot be reported over an unresolved name, and "guaranteed to
 * have reserved" means nothing in a cyclic graph. Template references are
 * always checked against the names, and against the ordering only when
 * the graph is sound. Errors about a step's "after" point at the entry
 * that closes the problem, so the user edits the right line.
 */
#include "spec_internal.h"

#include <stdlib.h>
#include <string.h>

#include "template.h"

/* --- resolving "after" ---------------------------------------------------- */

static int find_step(spec_cx *cx, const char *name, size_t len)
{
    for (size_t j = 0; j < cx->spec->n_steps; j++) {
        const char *s = cx->aux[j].name;
        if (s && strlen(s) == len && memcmp(s, name, len) == 0)
            return (int)j;
    }
    return -1;
}

static void step_names(spec_cx *cx, const char **names)
{
    for (size_t j = 0; j < cx->spec->n_steps; j++)
        names[j] = cx->aux[j].name;
}

static void path_step(spec_cx *cx, size_t i)
{
    spec_path_reset(cx);
    saga_buf_printf(&cx->diag.path, "steps[%zu]", i);
}

/* Resolves step i's explicit "after" list (node an, an array of at most
 * SAGA_SPEC_MAX_STEPS entries) into d->after and a->deps. */
static void resolve_after_list(spec_cx *cx, size_t i, uint32_t an,
                               const char *const *names)
{
    spec_qbuf qb;
    saga_step_def *d = &cx->spec->steps[i];
    step_aux *a = &cx->aux[i];

    path_step(cx, i);
    spec_enter(cx, an);
    uint32_t idx = 0;
    for (uint32_t e = NODE(cx, an).first; e; e = NODE(cx, e).next, idx++) {
        size_t m = spec_enter_index(cx, idx);
        if (!spec_want_type(cx, e, "string")) {
            cx->graph_ok = false;
            spec_leave(cx, m);
            continue;
        }
        const char *name = json_string_value(NODE(cx, e).v);
        int j = find_step(cx, name, strlen(name));
        if (j < 0) {
            spec_err_at(cx, e, "unknown step %s", spec_quote_str(&qb, name));
            spec_suggest(cx, name, names, cx->spec->n_steps, "known steps");
            cx->graph_ok = false;
        } else if ((size_t)j == i) {
            spec_err_at(cx, e, "a step cannot run after itself");
            cx->graph_ok = false;
        } else if (a->deps & (UINT64_C(1) << j)) {
            spec_err_at(cx, e, "step %s is listed twice",
                        spec_quote_str(&qb, name));
        } else {
            d->after[d->n_after++] = (size_t)j;
            a->deps |= UINT64_C(1) << j;
            a->edge_node[j] = e;
            a->edge_idx[j] = idx;
        }
        spec_leave(cx, m);
    }
    spec_path_reset(cx);
}

/* Every step's dependencies; a step without "after" runs after the previous
 * one. Clears cx->graph_ok when one cannot be resolved. */
static void resolve_after(spec_cx *cx)
{
    saga_spec *spec = cx->spec;
    const char *names[SAGA_SPEC_MAX_STEPS];

    step_names(cx, names);
    cx->graph_ok = true;
    for (size_t i = 0; i < spec->n_steps; i++) {
        saga_step_def *d = &spec->steps[i];
        step_aux *a = &cx->aux[i];
        if (!a->node || !a->name) {
            cx->graph_ok = false;
            continue;
        }
        if (!a->after) {
            a->implicit = true;
            if (i == 0)
                continue;
            if (!(d->after = malloc(sizeof *d->after))) {
                cx->diag.oom = true;
                continue;
            }
            d->after[0] = i - 1;
            d->n_after = 1;
            a->deps = UINT64_C(1) << (i - 1);
            continue;
        }
        uint32_t an = a->after;
        if (!json_is_array(NODE(cx, an).v) ||
            NODE(cx, an).n_kids > SAGA_SPEC_MAX_STEPS) {
            cx->graph_ok = false;
            continue;
        }
        if (NODE(cx, an).n_kids &&
            !(d->after = calloc(NODE(cx, an).n_kids, sizeof *d->after))) {
            cx->diag.oom = true;
            continue;
        }
        resolve_after_list(cx, i, an, names);
    }
}

/* --- cycles and irreversible steps ---------------------------------------- */

/* Reports the cycle closed by the edge from stack[depth] back to stack[at]:
 * at the first explicit "after" entry on it, starting the text there. */
static void report_cycle(spec_cx *cx, const size_t *stack, size_t at,
                         size_t depth)
{
    size_t len = depth - at + 1;
    size_t from = len;
    bool implicit = false;

    for (size_t t = 0; t < len; t++) {
        size_t u = stack[at + (len - 1 + t) % len];
        if (cx->aux[u].implicit)
            implicit = true;
        else if (from == len)
            from = (len - 1 + t) % len;
    }
    if (from == len)
        return;
    size_t u = stack[at + from], v = stack[at + (from + 1) % len];
    saga_buf text = {0};
    for (size_t t = 0; t <= len; t++) {
        saga_buf_puts(&text, t ? " -> " : "");
        saga_buf_puts(&text, cx->aux[stack[at + (from + t) % len]].name);
    }
    path_step(cx, u);
    spec_enter(cx, cx->aux[u].after);
    spec_enter_index(cx, cx->aux[u].edge_idx[v]);
    spec_err_at(cx, cx->aux[u].edge_node[v], "dependency cycle: %s",
                saga_buf_str(&text));
    if (implicit)
        spec_hint(cx, "each step runs after the next one in the cycle, so none "
                      "can start; a step without \"after\" runs after the "
                      "previous step in the list");
    else
        spec_hint(cx, "each step runs after the next one in the cycle, so none "
                      "can start");
    spec_path_reset(cx);
    cx->diag.oom |= text.oom;
    saga_buf_free(&text);
}

static void cycle_dfs(spec_cx *cx, size_t i, int *color, size_t *stack,
                      size_t depth)
{
    const saga_step_def *d = &cx->spec->steps[i];
    color[i] = 1;
    stack[depth] = i;
    for (size_t k = 0; k < d->n_after; k++) {
        size_t j = d->after[k];
        if (color[j] == 1) {
            size_t at = 0;
            while (stack[at] != j)
                at++;
            report_cycle(cx, stack, at, depth);
            cx->graph_ok = false;
        } else if (color[j] == 0) {
            cycle_dfs(cx, j, color, stack, depth + 1);
        }
    }
    color[i] = 2;
}

static void check_cycles(spec_cx *cx)
{
    int color[SAGA_SPEC_MAX_STEPS] = {0};
    size_t stack[SAGA_SPEC_MAX_STEPS];
    for (size_t i = 0; i < cx->spec->n_steps; i++)
        if (color[i] == 0)
            cycle_dfs(cx, i, color, stack, 0);
}

/* Transitive dependencies; the graph is acyclic, so this settles within
 * n_steps rounds. */
static void compute_ancestors(spec_cx *cx)
{
    size_t n = cx->spec->n_steps;
    bool changed = true;
    for (size_t i = 0; i < n; i++)
        cx->aux[i].anc = cx->aux[i].deps;
    for (size_t round = 0; changed && round <= n; round++) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            uint64_t anc = cx->aux[i].anc;
            for (size_t j = 0; j < n; j++)
                if (cx->aux[i].anc & (UINT64_C(1) << j))
                    anc |= cx->aux[j].anc;
            if (anc != cx->aux[i].anc) {
                cx->aux[i].anc = anc;
                changed = true;
            }
        }
    }
}

static void check_irreversible(spec_cx *cx)
{
    spec_qbuf qb;
    const saga_spec *spec = cx->spec;
    uint64_t reversible = 0;

    for (size_t j = 0; j < spec->n_steps; j++)
        if (!spec->steps[j].irreversible)
            reversible |= UINT64_C(1) << j;
    for (size_t i = 0; i < spec->n_steps; i++) {
        if (!spec->steps[i].irreversible)
            continue;
        uint64_t missing = reversible & ~cx->aux[i].anc;
        if (!missing)
            continue;
        saga_buf list = {0};
        size_t count = 0;
        for (size_t j = 0; j < spec->n_steps; j++) {
            if (!(missing & (UINT64_C(1) << j)))
                continue;
            saga_buf_puts(&list, count++ ? ", " : "");
            saga_buf_puts(&list, spec->steps[j].name);
        }
        path_step(cx, i);
        spec_enter(cx, cx->aux[i].irrev);
        spec_err_at(cx, cx->aux[i].irrev,
                    "irreversible step %s may run before reversible step%s "
                    "%s",
                    spec_quote_str(&qb, spec->steps[i].name),
                    count > 1 ? "s" : "", saga_buf_str(&list));
        spec_hint(cx, "an irreversible step runs only after every reversible "
                      "step has reserved: list %s in its \"after\", directly "
                      "or through steps it runs after",
                  count > 1 ? "them" : "it");
        spec_path_reset(cx);
        cx->diag.oom |= list.oom;
        saga_buf_free(&list);
    }
}

/* --- templates ------------------------------------------------------------ */

typedef struct tmpl_check {
    spec_cx *cx;
    uint32_t node;    /* the string being checked */
    size_t step;
    const char *phase;
    uint64_t allowed; /* steps whose result this payload may use */
} tmpl_check;

void spec_check_input_ref(spec_cx *cx, uint32_t n,
                          const saga_template_piece *pc)
{
    spec_qbuf qb, qb2;
    const saga_spec *spec = cx->spec;
    const char *dot = memchr(pc->path, '.', pc->path_len);
    size_t flen = dot ? (size_t)(dot - pc->path) : pc->path_len;
    const char *names[SAGA_SPEC_MAX_INPUTS];
    char field[SAGA_SPEC_MAX_NAME + 1];

    if (!cx->inputs_ok)
        return;
    for (size_t f = 0; f < spec->n_inputs; f++) {
        const saga_input_field *in = &spec->inputs[f];
        names[f] = in->name;
        if (!in->name || strlen(in->name) != flen ||
            memcmp(in->name, pc->path, flen) != 0)
            continue;
        if (dot && in->type != SAGA_FIELD_OBJECT) {
            spec_err_at(cx, n,
                        "%s: input field %s is of type %s and has no fields",
                        spec_quote(&qb, pc->text, pc->len),
                        spec_quote_str(&qb2, in->name),
                        spec_field_types[in->type]);
            spec_hint(cx, "only fields of type object can be referenced into");
        }
        return;
    }
    spec_err_at(cx, n, "unknown input field %s",
                spec_quote(&qb, pc->path, flen));
    if (spec->n_inputs == 0) {
        spec_hint(cx, "the spec declares no input fields");
    } else if (flen <= SAGA_SPEC_MAX_NAME) {
        memcpy(field, pc->path, flen);
        field[flen] = '\0';
        spec_suggest(cx, field, names, spec->n_inputs, "known input fields");
    }
}

/* A signal's data is written ${steps.S.signal.data.F}, any other result
 * ${steps.S.reserve.result.F}; true (reported) when pc uses the other. */
static bool check_ref_kind(tmpl_check *tc, const saga_template_piece *pc,
                           size_t j)
{
    spec_qbuf qb;
    spec_cx *cx = tc->cx;
    bool is_signal = cx->spec->steps[j].kind == SAGA_STEP_SIGNAL;

    if (pc->signal == is_signal)
        return false;
    if (pc->signal) {
        spec_err_at(cx, tc->node, "step %s is not a signal step",
                    spec_quote_str(&qb, cx->aux[j].name));
        spec_hint(cx, "its result is ${steps.%s.reserve.result.FIELD}",
                  cx->aux[j].name);
    } else {
        spec_err_at(cx, tc->node, "step %s is a signal step and has no "
                                  "reserve result",
                    spec_quote_str(&qb, cx->aux[j].name));
        spec_hint(cx, "the data it was approved with is "
                      "${steps.%s.signal.data.FIELD}",
                  cx->aux[j].name);
    }
    return true;
}

static void check_step_ref(tmpl_check *tc, const saga_template_piece *pc)
{
    spec_qbuf qb;
    spec_cx *cx = tc->cx;
    const char *names[SAGA_SPEC_MAX_STEPS];
    char name[SAGA_SPEC_MAX_NAME + 1];
    int j = find_step(cx, pc->step, pc->step_len);

    if (j < 0) {
        spec_err_at(cx, tc->node, "unknown step %s",
                    spec_quote(&qb, pc->step, pc->step_len));
        if (pc->step_len <= SAGA_SPEC_MAX_NAME) {
            memcpy(name, pc->step, pc->step_len);
            name[pc->step_len] = '\0';
            step_names(cx, names);
            spec_suggest(cx, name, names, cx->spec->n_steps, "known steps");
        }
        return;
    }
    if (check_ref_kind(tc, pc, (size_t)j))
        return;
    if (!cx->graph_ok || (tc->allowed & (UINT64_C(1) << j)))
        return;
    spec_err_at(cx, tc->node,
                "step %s is not guaranteed to have reserved when this %s "
                "is built",
                spec_quote_str(&qb, cx->aux[j].name), tc->phase);
    if (strcmp(tc->phase, "reserve command") != 0 &&
        strcmp(tc->phase, "sub-saga input") != 0)
        spec_hint(cx, "a compensate payload may use the results of its own "
                      "step and of the steps it runs after");
    else if ((size_t)j == tc->step)
        spec_hint(cx, "a reserve payload cannot use its own step's result; "
                      "confirm and compensate payloads can");
    else
        spec_hint(cx, "list %s in steps[%zu].after, directly or through a step "
                      "it runs after",
                  spec_quote_str(&qb, cx->aux[j].name), tc->step);
}

static int check_piece(const saga_template_piece *pc, void *arg)
{
    tmpl_check *tc = arg;
    if (pc->kind == SAGA_PIECE_INPUT)
        spec_check_input_ref(tc->cx, tc->node, pc);
    else if (pc->kind == SAGA_PIECE_STEP)
        check_step_ref(tc, pc);
    return 0;
}

static void check_payload(tmpl_check *tc, uint32_t n)
{
    spec_cx *cx = tc->cx;
    const json_t *v = NODE(cx, n).v;

    if (json_is_string(v)) {
        saga_error e;
        saga_error_clear(&e);
        tc->node = n;
        if (saga_template_scan(json_string_value(v), json_string_length(v),
                               check_piece, tc, &e) != 0) {
            spec_err_at(cx, n, "%s", e.msg);
            if (e.hint[0])
                spec_hint(cx, "%s", e.hint);
        }
        return;
    }
    size_t idx = 0;
    for (uint32_t k = NODE(cx, n).first; k; k = NODE(cx, k).next, idx++) {
        size_t m = json_is_object(v) ? spec_enter(cx, k)
                                     : spec_enter_index(cx, idx);
        check_payload(tc, k);
        spec_leave(cx, m);
    }
}

/* A sub-saga's input is rendered when the child starts, as a reserve
 * payload would be. */
static void check_subsaga_input(spec_cx *cx, size_t i)
{
    step_aux *a = &cx->aux[i];
    if (cx->spec->steps[i].kind != SAGA_STEP_SAGA)
        return;
    uint32_t in = spec_member(cx, a->node, "input");
    if (!in || !json_is_object(NODE(cx, in).v))
        return;
    tmpl_check tc = {.cx = cx, .step = i, .phase = "sub-saga input",
                     .allowed = a->anc};
    path_step(cx, i);
    spec_enter(cx, in);
    check_payload(&tc, in);
    spec_path_reset(cx);
}

static void check_templates(spec_cx *cx)
{
    static const char *const phases[] = {"reserve", "confirm", "compensate"};
    static const char *const what[] = {"reserve command", "confirm command",
                                       "compensate command"};
    const saga_spec *spec = cx->spec;
    uint64_t all = spec->n_steps == 64 ? UINT64_MAX
                                       : (UINT64_C(1) << spec->n_steps) - 1;

    for (size_t i = 0; i < spec->n_steps; i++) {
        step_aux *a = &cx->aux[i];
        if (!a->node)
            continue;
        for (size_t ph = 0; ph < 3; ph++) {
            uint32_t k = spec_member(cx, a->node, phases[ph]);
            uint32_t p = k && json_is_object(NODE(cx, k).v)
                             ? spec_member(cx, k, "payload")
                             : 0;
            if (!p)
                continue;
            tmpl_check tc = {.cx = cx, .step = i, .phase = what[ph]};
            tc.allowed = ph == 0   ? a->anc
                         : ph == 1 ? all
                                   : a->anc | (UINT64_C(1) << i);
            path_step(cx, i);
            spec_enter(cx, k);
            spec_enter(cx, p);
            check_payload(&tc, p);
            spec_path_reset(cx);
        }
        check_subsaga_input(cx, i);
    }
}

/* --- entry point ---------------------------------------------------------- */

void spec_graph_check(spec_cx *cx)
{
    resolve_after(cx);
    if (cx->graph_ok)
        check_cycles(cx);
    if (cx->graph_ok) {
        compute_ancestors(cx);
        check_irreversible(cx);
    }
    check_templates(cx);
}
