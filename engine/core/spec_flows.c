/*
 * spec_flows.c - the spec's top-level "deadline_ms" and "tags": what a
 * definition sets for every saga started from it (docs/spec.md).
 *
 * Kept apart from spec_build.c, which reads the sections every spec has,
 * because these two are optional policies a start request may also set or
 * override. Tag templates are checked here, when the spec is applied, not
 * when a saga starts: tags are rendered as the saga is created, before any
 * step ran, so they may use the input and the saga's own id and name but
 * no step result, and a reference to an undeclared input field is the same
 * error it is in a payload.
 */
#include "spec_internal.h"

#include <string.h>

#include "tags.h"

static void build_deadline(spec_cx *cx, uint32_t k)
{
    size_t m = spec_enter(cx, k);
    if (spec_want_type(cx, k, "integer")) {
        json_int_t v = json_integer_value(NODE(cx, k).v);
        if (v < 1) {
            spec_err_at(cx, k, "must be at least 1, got %lld", (long long)v);
            spec_hint(cx, "leave \"deadline_ms\" out for a saga without a "
                          "deadline");
        } else if (v > SAGA_SPEC_MAX_DEADLINE_MS) {
            spec_err_at(cx, k, "must be at most %lld, got %lld",
                        SAGA_SPEC_MAX_DEADLINE_MS, (long long)v);
        } else {
            cx->spec->deadline_ms = v;
        }
    }
    spec_leave(cx, m);
}

/* The tag template being scanned. */
typedef struct tag_check {
    spec_cx *cx;
    uint32_t node;
} tag_check;

static int check_tag_piece(const saga_template_piece *pc, void *arg)
{
    tag_check *t = arg;
    if (pc->kind == SAGA_PIECE_INPUT) {
        spec_check_input_ref(t->cx, t->node, pc);
    } else if (pc->kind == SAGA_PIECE_STEP) {
        spec_err_at(t->cx, t->node,
                    "a tag cannot use a step's result: tags are set when the "
                    "saga is created");
        spec_hint(t->cx, "use ${input.FIELD}, ${saga.id} or ${saga.name}");
    }
    return 0;
}

static void build_tag(spec_cx *cx, uint32_t k)
{
    saga_error e;
    saga_error_clear(&e);
    size_t m = spec_enter(cx, k);
    if (saga_tag_key_check(NODE(cx, k).key, &e) != 0) {
        spec_err_key(cx, k, "%s", e.msg);
        if (e.hint[0])
            spec_hint(cx, "%s", e.hint);
    }
    if (spec_want_type(cx, k, "string")) {
        const json_t *v = NODE(cx, k).v;
        tag_check t = {cx, k};
        saga_error_clear(&e);
        if (saga_template_scan(json_string_value(v), json_string_length(v),
                               check_tag_piece, &t, &e) != 0) {
            spec_err_at(cx, k, "%s", e.msg);
            if (e.hint[0])
                spec_hint(cx, "%s", e.hint);
        }
    }
    spec_leave(cx, m);
}

static void build_tags(spec_cx *cx, uint32_t k)
{
    size_t m = spec_enter(cx, k);
    if (!spec_want_type(cx, k, "object")) {
        spec_leave(cx, m);
        return;
    }
    size_t n = 0;
    for (uint32_t t = NODE(cx, k).first; t; t = NODE(cx, t).next, n++)
        build_tag(cx, t);
    if (n > SAGA_TAGS_MAX)
        spec_err_at(cx, k, "%zu tags, more than the limit of %d", n,
                    SAGA_TAGS_MAX);
    else if (n > 0 && !(cx->spec->tags = json_deep_copy(NODE(cx, k).v)))
        cx->diag.oom = true;
    spec_leave(cx, m);
}

void spec_build_flows(spec_cx *cx)
{
    uint32_t k = spec_member(cx, 0, "deadline_ms");
    if (k)
        build_deadline(cx, k);
    if ((k = spec_member(cx, 0, "tags")))
        build_tags(cx, k);
}
