/*
 * spec_internal.h - what spec.c, spec_build.c and spec_graph.c share
 * (private to the core; the public interface is spec.h).
 *
 * Layer: engine/core, the pure core (no I/O, no clock, no randomness); every
 * layer may include it, and it includes only other core headers.
 *
 * One parse run is a spec_cx: the diagnostics being collected, the
 * positioned tree from jsonpos, the spec being built and, per step, what
 * the graph checks need to know about it. spec_build fills the spec from
 * the tree, spec_graph checks the relations between steps and what each
 * payload may reference, spec.c drives the run. Validators take the
 * context and a node index and report at that node's position.
 */
#ifndef SAGA_SPEC_INTERNAL_H
#define SAGA_SPEC_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jsonpos.h"
#include "spec.h"
#include "spec_diag.h"
#include "template.h"

/* Per step, beside the built saga_step_def. */
typedef struct step_aux {
    uint32_t node;      /* the step's object; 0 when it is not an object */
    uint32_t after;     /* its "after" array; 0 when absent */
    uint32_t irrev;     /* its "irreversible" value; 0 when absent */
    const char *name;   /* borrowed from the built step; NULL if none */
    bool implicit;      /* no "after": runs after the previous step */
    uint64_t deps;      /* direct dependencies */
    uint64_t anc;       /* transitive dependencies */
    uint32_t edge_node[SAGA_SPEC_MAX_STEPS]; /* after entry naming step j */
    uint32_t edge_idx[SAGA_SPEC_MAX_STEPS];  /* its index in "after" */
} step_aux;

typedef struct spec_cx {
    spec_diag diag;
    jsonpos_doc doc;
    saga_spec *spec;  /* owned until handed to the caller */
    step_aux aux[SAGA_SPEC_MAX_STEPS];
    bool steps_ok;    /* spec->steps holds every step of the file */
    bool inputs_ok;   /* spec->inputs holds every declared field */
    bool graph_ok;    /* every "after" resolved and there is no cycle */
} spec_cx;

#define NODE(cx, i) ((cx)->doc.nodes[(i)])

/* Forwarders to the diagnostics and the tree; the varargs ones are macros
 * because C cannot forward "..." through a function. */
#define spec_hint(cx, ...) spec_diag_hint(&(cx)->diag, __VA_ARGS__)
#define spec_limit_pos(cx, line, col, ...)                                     \
    spec_diag_limit(&(cx)->diag, (line), (col), __VA_ARGS__)

static inline size_t spec_enter_index(spec_cx *cx, size_t i)
{
    return spec_path_index(&cx->diag, i);
}

static inline void spec_leave(spec_cx *cx, size_t mark)
{
    spec_path_leave(&cx->diag, mark);
}

static inline void spec_path_reset(spec_cx *cx)
{
    spec_path_leave(&cx->diag, 0);
}

static inline uint32_t spec_member(spec_cx *cx, uint32_t obj, const char *key)
{
    return jsonpos_member(&cx->doc, obj, key);
}

static inline void spec_suggest(spec_cx *cx, const char *word,
                                const char *const *cands, size_t n,
                                const char *what)
{
    spec_diag_suggest(&cx->diag, word, cands, n, what);
}

/* --- spec_build.c --------------------------------------------------------- */

/* The names of saga_field_type values, indexed by them; NULL-terminated. */
extern const char *const spec_field_types[];

/* "object", "integer", "boolean", ... as a spec message names v's type. */
const char *spec_type_name(const json_t *v);

/* An error at node n's value / at member n's key, about the current path. */
void __attribute__((format(printf, 3, 4)))
spec_err_at(spec_cx *cx, uint32_t n, const char *fmt, ...);
void __attribute__((format(printf, 3, 4)))
spec_err_key(spec_cx *cx, uint32_t n, const char *fmt, ...);

/* Reports every key of obj not in known (NULL-terminated), with the
 * closest known key. */
void spec_check_keys(spec_cx *cx, uint32_t obj, const char *const *known);
/* Enters member n of an object; returns the mark for spec_leave. */
size_t spec_enter(spec_cx *cx, uint32_t n);

/* Whether node n has JSON type `want` (a spec_type_name, "number" taking
 * integers too); reports it when not. */
bool spec_want_type(spec_cx *cx, uint32_t n, const char *want);

/* Builds cx->spec from the tree (root node 0), every section and then the
 * graph checks, reporting every problem found. */
void spec_build(spec_cx *cx);

/* --- spec_flows.c --------------------------------------------------------- */

/* Reads the top-level "deadline_ms" and "tags" (needs the inputs built:
 * tag templates may name input fields only). */
void spec_build_flows(spec_cx *cx);
/* Whether s follows the naming rule of saga, step and participant names. */
bool spec_name_ok(const char *s);
/* Whether node k is an integer in [lo, hi] (into *out); reports it if not. */
bool spec_int_in(spec_cx *cx, uint32_t k, long long lo, long long hi, int64_t *out);

/* --- spec_kinds.c --------------------------------------------------------- */

/* When step object s is a signal or a sub-saga step ("signal" or "saga"
 * present), reads everything of it but "name" and "after" into d and
 * returns true; false for a participant's step, left to spec_build. */
bool spec_build_step_kind(spec_cx *cx, uint32_t s, saga_step_def *d);

/* --- spec_circuit.c ------------------------------------------------------- */

/* Reads defaults.circuit and every step's "circuit" (after the steps are
 * built): the step's object over the defaults, field by field. */
void spec_build_circuits(spec_cx *cx);

/* --- spec_graph.c --------------------------------------------------------- */

/* Reports an ${input.PATH} reference (pc, found in string node n) that
 * names no declared input field or reaches into a non-object one. */
void spec_check_input_ref(spec_cx *cx, uint32_t n,
                          const saga_template_piece *pc);

/* Resolves each step's "after", then checks for cycles, for irreversible
 * steps that may run before a reversible one, and that every payload
 * reference names a declared input field or a step guaranteed to have
 * reserved. Needs cx->steps_ok. */
void spec_graph_check(spec_cx *cx);

#endif
