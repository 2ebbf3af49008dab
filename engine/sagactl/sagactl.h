/*
 * sagactl.h - what sagactl's command files share: the command table shape,
 * option parsing, the connection, and output helpers.
 *
 * Layer: engine/sagactl, the sagactl program; nothing else includes it.
 *
 * Each command lives in its own file and exports one cli_command; main.c
 * only dispatches. Commands print results on stdout and problems on stderr
 * (one line, then "hint: ..."), and return the process exit status, so the
 * documented exit codes are decided in one place (cli_exit_code).
 */
#ifndef SAGACTL_H
#define SAGACTL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "duration.h"
#include "engine.h"
#include "error.h"
#include "start.h"
#include "idprefix.h"
#include "machine.h"
#include "queries.h"
#include "specfile.h"
#include "table.h"

/* Exit statuses (docs/cli.md). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,        /* not found, refused, invalid, failed */
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_CONNECT = 3,     /* PostgreSQL cannot be reached */
    CLI_EXIT_COMPENSATED = 4, /* start --wait: the saga compensated */
    CLI_EXIT_TIMEOUT = 5      /* start --wait: no terminal status in time */
};

/* --- options ---------------------------------------------------------- */

typedef enum cli_opt_kind {
    CLI_FLAG = 0, /* --name */
    CLI_VALUE     /* --name VALUE or --name=VALUE */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name;    /* without dashes: "status" */
    cli_opt_kind kind;
    const char *metavar; /* "S[,S]" (CLI_VALUE only) */
    const char *help;
} cli_opt;

#define CLI_MAX_OPTS 32
#define CLI_MAX_ARGS 64

/* Options and positional arguments of one command line (all borrowed from
 * argv). A value option given twice keeps the last value for cli_value;
 * cli_values returns every one (repeatable options such as --tag). */
typedef struct cli_args {
    const cli_opt *opts[CLI_MAX_OPTS];
    const char *values[CLI_MAX_OPTS]; /* CLI_VALUE: the value, or NULL */
    bool set[CLI_MAX_OPTS];
    const char *all[CLI_MAX_ARGS];    /* every value given, in order */
    int all_opt[CLI_MAX_ARGS];        /* the option index of all[i] */
    size_t n_all;
    size_t n_opts;
    const char *pos[CLI_MAX_ARGS];
    size_t n_pos;
} cli_args;

/* --- the session ------------------------------------------------------- */

typedef struct cli {
    const char *prog;     /* "sagactl" */
    const char *dsn;      /* --dsn or SAGA_PG_DSN (borrowed) */
    bool utc;             /* --utc: absolute times */
    bool color;           /* stdout is a terminal, NO_COLOR unset, not --color=never */
    size_t width;         /* terminal width, 0 when stdout is not a terminal */
    bool stdin_tty;
    PGconn *conn;         /* opened by main for commands that need it */
    saga_engine *engine;  /* definition cache and operator actions (owned) */
    int64_t now_ms;       /* one "now" for a whole command's output */
} cli;

typedef struct cli_command {
    const char *name;        /* "list", "def apply" */
    const char *synopsis;    /* arguments after the name: "ID [--step STEP]" */
    const char *summary;     /* one line for the command list */
    const char *description; /* paragraph(s) for CMD --help */
    const cli_opt *opts;
    size_t n_opts;
    int min_pos, max_pos;    /* positional arguments; max -1 = unbounded */
    bool needs_db;
    /* Optional: checks the options before any connection is made, so a
     * usage error is reported as one even when PostgreSQL is down. Returns
     * an exit status. */
    int (*check)(cli *c, const cli_args *a);
    int (*run)(cli *c, const cli_args *a);
} cli_command;

/* The commands, each defined in its own file. */
extern const cli_command cli_cmd_migrate, cli_cmd_def_validate,
    cli_cmd_def_apply, cli_cmd_def_list, cli_cmd_def_show, cli_cmd_start,
    cli_cmd_list, cli_cmd_show, cli_cmd_stuck, cli_cmd_retry, cli_cmd_abort,
    cli_cmd_resolve, cli_cmd_stats, cli_cmd_tail, cli_cmd_prune,
    cli_cmd_participant_check, cli_cmd_serve, cli_cmd_reconcile, cli_cmd_dlq_list,
    cli_cmd_dlq_replay, cli_cmd_signal;

/* --- ops.c ------------------------------------------------------------- */

/* Who is acting, for the audit trail: --actor, else the OS user. */
void cli_actor(const cli_args *a, char *buf, size_t cap);

/* --- kafka_cli.c ------------------------------------------------------- */

/* The commands that talk to Kafka (reconcile, dlq) take --brokers; these are
 * its declaration and its value (--brokers, else $SAGA_KAFKA_BROKERS;
 * NULL with err set, a usage error, when neither is given). */
#define CLI_BROKERS_OPT                                                        \
    {"brokers", CLI_VALUE, "LIST", "Kafka bootstrap servers (default: $SAGA_KAFKA_BROKERS)"}
const char *cli_brokers(const cli_args *a, saga_error *err);

/* --- main.c ------------------------------------------------------------ */

/* Connects (--dsn or SAGA_PG_DSN) and creates c->engine, for commands that
 * need the database only after checking their input. Returns an exit
 * status: 0, CLI_EXIT_USAGE (no DSN) or CLI_EXIT_CONNECT. */
int cli_connect(cli *c, const cli_args *a);

/* --- args.c ------------------------------------------------------------ */

/* Options every command accepts (--dsn, --utc, --color, --help). */
extern const cli_opt cli_global_opts[];
extern const size_t cli_n_global_opts;

/*
 * Parses argv[0..argc) against the command's options plus the global ones.
 * Options and arguments may be mixed; "--" ends the options. Returns 0, or
 * SAGA_EINVAL with err set (unknown option with a "did you mean" hint,
 * missing value, value given to a flag).
 */
int cli_args_parse(const cli_command *cmd, int argc, char **argv,
                   cli_args *a, saga_error *err);

bool cli_flag(const cli_args *a, const char *name);
const char *cli_value(const cli_args *a, const char *name); /* NULL if unset */
/* Every value of a repeatable option, in order, into out (up to max);
 * returns how many were given (may exceed max). */
size_t cli_values(const cli_args *a, const char *name, const char **out, size_t max);

/* Levenshtein distance (bounded inputs: names and words). */
size_t cli_edit_distance(const char *a, const char *b);

/* Typed option values; each returns 0 or SAGA_EINVAL with err naming the
 * option. Unset options leave *out untouched. */
int cli_value_duration(const cli_args *a, const char *name, int64_t *out,
                       saga_error *err);
int cli_value_int(const cli_args *a, const char *name, long min, long max,
                  long *out, saga_error *err);
/* DUR (before now_ms) or TIME, as epoch milliseconds. */
int cli_value_since(const cli_args *a, const char *name, int64_t now_ms,
                    int64_t *out, saga_error *err);

/* --- output.c ---------------------------------------------------------- */

/* Prints "sagactl: error: MSG" and "hint: HINT" on stderr and returns the
 * exit status for err->code (cli_exit_code). */
int cli_fail(cli *c, const saga_error *err);

/* Who is acting, for the audit trail: --actor, else the OS user (ops.c). */
void cli_actor(const cli_args *a, char *buf, size_t cap);
int cli_exit_code(const cli *c, int code);

/* Prints err (a bad option value) like cli_fail but returns CLI_EXIT_USAGE:
 * a mistake on the command line is a usage error whatever its code. */
int cli_usage_fail(const saga_error *err);

/* Prints a usage error and returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* How --json documents are written (jansson flags): by cli_json_print and
 * by the console's /api/..., byte for byte alike. */
#define CLI_JSON_PRETTY (JSON_INDENT(2) | JSON_REAL_PRECISION(15))

/* Prints a JSON document (steals the reference) on stdout, pretty unless
 * compact (JSON lines). Returns 0 or CLI_EXIT_FAIL when out of memory. */
int cli_json_print(json_t *doc, bool compact);

/* Time cells: relative ("3m ago") or, with --utc, RFC 3339. 0 = "-". */
void cli_time_text(const cli *c, int64_t ms, char *buf, size_t cap);
/* JSON time: RFC 3339 UTC string, or null for 0. New reference. */
json_t *cli_time_json(int64_t ms);
/* Duration text with two units, "-" for a negative value. */
void cli_duration_text(int64_t ms, char *buf, size_t cap);

/* SGR colour for a saga / step status, or NULL. */
const char *cli_status_color(const char *status);
#define CLI_SGR_RED "31"
#define CLI_SGR_YELLOW "33"
#define CLI_SGR_DIM "2"
#define CLI_SGR_BOLD "1"

/* A table sized to the terminal. Owned: saga_table_free. Exits the process
 * on out-of-memory (nothing useful can be printed then). */
saga_table *cli_table(size_t n_cols);
void cli_table_print(const cli *c, const saga_table *t);

/* Asks "question [y/N] " on a terminal; true without asking when stdin is
 * not a terminal or yes is set. */
bool cli_confirm(const cli *c, bool yes, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- lookup.c ---------------------------------------------------------- */

/*
 * Resolves an id or unique prefix typed by the user to a full saga id.
 * Returns 0, SAGA_EINVAL (not hex), SAGA_ENOTFOUND (the hint lists the
 * closest ids), SAGA_ECONFLICT (ambiguous prefix; the hint lists matches) or
 * SAGA_EDB.
 */
int cli_resolve_id(cli *c, const char *typed, char id[SAGA_ID_LEN + 1],
                   saga_error *err);

/* A definition's parsed spec, cached for the whole command (borrowed from
 * c->engine), or NULL when it cannot be loaded (err set). */
const saga_spec *cli_spec(cli *c, const char *name, int version,
                          saga_error *err);

/* Participant of step `step` in name@version, or the step name itself when
 * the definition cannot be loaded. Borrowed. */
const char *cli_participant(cli *c, const char *name, int version,
                            const char *step);

/* Parses "S[,S]" into a list of saga statuses (also accepts "active" for
 * the three non-terminal ones and "terminal" for the two others); fills
 * names[] with canonical names (borrowed). Returns 0 or SAGA_EINVAL listing
 * the valid statuses. */
int cli_parse_statuses(const char *list, const char *names[SAGA_STATUS_COUNT], size_t *n,
                       saga_error *err);

/* Runs a parameterised query (PQexecParams, text results); NULL on error
 * with err set (SAGA_EDB). Free with PQclear. */
PGresult *cli_query(cli *c, const char *sql, int n, const char *const *params,
                    saga_error *err);

/* Circuit breakers not CLOSED (circuits.c), for stuck and stats: printed
 * one line each ("payment circuit open since 2m, 14 sagas waiting"), or
 * as a JSON array (new reference; NULL with err set). */
int cli_circuits_print(cli *c, saga_error *err);
json_t *cli_circuits_json(cli *c, saga_error *err);

/* Field accessors on a result: text ("" for NULL), NULL-aware int64. */
const char *cli_get(const PGresult *r, int row, int col);
bool cli_null(const PGresult *r, int row, int col);
int64_t cli_get_i64(const PGresult *r, int row, int col);

/* JSON helpers: string or null for "" / SQL NULL. New references. */
json_t *cli_json_str(const char *s);
json_t *cli_json_col(const PGresult *r, int row, int col);
/* A JSON column (jsonb text) parsed, or null. New reference. */
json_t *cli_json_parse_col(const PGresult *r, int row, int col);

/* --- start_flows.c ------------------------------------------------------ */

/* Reads start's --deadline, --at / --in and --tag into req (now: the
 * clock, for --in and the past check). *tags_json receives the tags as a
 * JSON object (owned: free) that req->tags_json borrows, NULL when none.
 * Returns 0 or SAGA_EINVAL with the option named. */
int cli_start_flows(const cli_args *a, int64_t now, saga_start_req *req, char **tags_json,
                    saga_error *err);

/* --- list_keys.c -------------------------------------------------------- */

/* list's --tag K=V and --where input.PATH=VALUE (both repeatable) as the
 * JSON objects saga_query_list_filter takes; each *out is owned (free) or
 * NULL when the option was not given. Returns 0 or SAGA_EINVAL. */
int cli_list_keys(const cli_args *a, char **tags_json, char **input_json, saga_error *err);
/* --- flows.c (signal steps, sub-sagas) ------------------------------- */

/* Who runs a step, for messages: its participant, "signal", or
 * "sub-saga NAME" (static buffer: use before the next call). */
const char *cli_step_runner(cli *c, const char *def, int ver, const char *step);
/* For a signal step in flight (deadline_ms its deadline): writes "waiting
 * for signal STEP since 4m" and returns true; false for other steps. */
bool cli_signal_wait(cli *c, const char *def, int ver, const char *step,
                     int64_t deadline_ms, char *buf, size_t cap);
/* Whether saga id is a sub-saga (its "aborted" means: by its parent). */
bool cli_has_parent(cli *c, const char *id);
/* Prints a saga's parent and sub-sagas, one line each (show). */
void cli_show_family(cli *c, const char *id);
/* A saga's sub-sagas as [{id, step, status}]. New reference. */
json_t *cli_children_json(cli *c, const char *id);
/* The flow columns (QFLOW_*, queries.h) of a row starting at col: sets
 * tags, deadline_ms, deadline_at, deadline_expired, start_at, parent_id
 * and parent_step on o, for show, list and the console alike. */
void cli_flow_json(const PGresult *r, int row, int col, json_t *o);
/* When the saga's deadline expired, writes "deadline of 30s passed; " (the
 * engine's words) into buf and returns its length; else "" and 0. */
size_t cli_flow_cause(const PGresult *r, int row, int col, char *buf, size_t cap);
/* show's header lines for the flow columns: scheduled start, deadline
 * (and whether it expired), tags; status is the saga's. */
void cli_flow_print(cli *c, const PGresult *r, int row, int col, const char *status);

/* --- timing.c ----------------------------------------------------------- */

/* `show ID --timing [--json]`: the saga's hop rows as a table or a JSON
 * document. Returns the exit code. */
int cli_show_timing(cli *c, const char *id, bool json);

/* --- waiting.c --------------------------------------------------------- */

/* What a non-terminal saga is waiting for, built from its step rows: the
 * step holding it up (the pending command with most consecutive failures)
 * and a one-line sentence in the engine's stuck-reason style. */
typedef struct cli_waiting {
    bool any;                  /* some command is pending */
    char step[SAGA_SPEC_MAX_NAME + 1];
    char participant[SAGA_SPEC_MAX_NAME + 1];
    char action[16];           /* "COMPENSATE" */
    int attempt;
    bool in_flight;            /* false: backing off, will re-send */
    int64_t due_ms;            /* deadline (in flight) or re-send time */
    char last_error[SAGA_MACHINE_ERROR_MAX];
    int64_t error_ms;          /* when last_error was recorded; 0 unknown */
    bool signal;               /* a signal step waiting: signal_text says so */
    char signal_text[SAGA_SPEC_MAX_NAME + 64];
} cli_waiting;

/* Writes `awaiting payment COMPENSATE reply, attempt 7, last error
 * "connection refused" 3m ago` (or "waiting to re-send ..."). */
void cli_waiting_text(const cli *c, const cli_waiting *w, char *buf, size_t cap);

/* Fills w from columns col..col+6 of a row selected with
 * SAGA_QUERY_WAITING_COLS (queries.h). */
void cli_waiting_from(cli *c, const PGresult *r, int row, int col,
                      const char *def_name, int def_version, cli_waiting *w);

/* --- history.c --------------------------------------------------------- */

/* One saga_history row (columns QHIST_*, queries.h) as JSON: seq, at,
 * then with_saga (saga_query_history_after rows) saga_id, name, version,
 * then kind, step, action, attempt, outcome, text, actor. New reference. */
json_t *cli_history_json(const PGresult *r, int row, bool with_saga);

/* The row's action and attempt as "RESERVE #2": each part only when not
 * NULL, "" when both are. */
void cli_history_action(const PGresult *r, int row, char *buf, size_t cap);

/* --- documents: what --json prints, shared with the console ---------------- */

/*
 * Each builds the JSON document `sagactl CMD ... --json` prints from the
 * command's parsed arguments (the console parses its query string into the
 * same cli_args), so the CLI and /api/... answer one question one way.
 * Returns 0 with *doc set (owned), or an error code with err set:
 * SAGA_EINVAL (bad argument), SAGA_ENOTFOUND, SAGA_ECONFLICT (ambiguous id
 * prefix), SAGA_EDB, SAGA_ENOMEM.
 */
int cli_doc_list(cli *c, const cli_args *a, json_t **doc, saga_error *err);
int cli_doc_show(cli *c, const cli_args *a, json_t **doc, saga_error *err);
int cli_doc_stuck(cli *c, const cli_args *a, json_t **doc, saga_error *err);
int cli_doc_stats(cli *c, const cli_args *a, json_t **doc, saga_error *err);
int cli_doc_def_list(cli *c, const cli_args *a, json_t **doc, saga_error *err);
int cli_doc_def_show(cli *c, const cli_args *a, json_t **doc, saga_error *err);

/* An operator action (ops.c), whoever asks: the CLI from its options, the
 * console from a POST. All borrowed. */
typedef struct cli_op_request {
    const char *verb;   /* "retry", "abort", "resolve", "approve" or "reject" */
    const char *id;     /* id or unique prefix */
    const char *step;   /* retry: one step, or NULL; approve/reject: the
                           signal step (required) */
    const char *reason; /* required by abort, resolve and reject */
    const char *data;   /* approve: a JSON object (text), or NULL */
    const char *as;     /* resolve: "completed" or "compensated" */
    const char *actor;  /* recorded in the audit trail */
    bool dry_run;
} cli_op_request;

/* Runs the action through the engine (same lock, machine, history and
 * outbox as sagad) and builds the `retry|abort|resolve --json` document.
 * Returns 0, SAGA_EINVAL (bad request), the engine's refusal
 * (SAGA_ECONFLICT, ...) or a lookup/database error, err set. */
int cli_op_doc(cli *c, const cli_op_request *rq, json_t **doc, saga_error *err);

/* approve / reject (signal.c; cli_op_doc hands them on): saga_signal in a
 * transaction of sagactl's own, rolled back for dry_run, and the document
 * `sagactl signal --json` prints: id, step, action, actor, dry_run,
 * status_before, status_after, effects (the history rows written, as
 * cli_history_json). A refusal returns its code with err set (and, unless
 * dry_run, its "ignored" history row committed). */
int cli_signal_doc(cli *c, const cli_op_request *rq, json_t **doc, saga_error *err);

/* Prints an action's effects (history rows as JSON: kind, step, action,
 * attempt, text), one indented line each (ops.c). */
void cli_effects_print(const json_t *effects);

/* --- console_graph.c: step graphs laid out by Graphviz ---------------------- */

/* DOT text of a definition's steps (dependencies as edges, irreversible
 * steps marked) or, with show (a `show --json` document), of one saga's
 * steps filled by status. Owned (free), or NULL when out of memory. */
char *cli_graph_dot(const saga_spec *spec, const json_t *show);

/* Lays DOT out with Graphviz's dot engine into SVG (the <svg> element,
 * without XML prolog, so it can be inlined in HTML). Owned, or NULL with
 * err set. */
char *cli_graph_svg(const char *dot, saga_error *err);

/* `show ID --format F` and `def show NAME --format F`: prints the graph as
 * DOT or SVG on stdout; returns an exit status. */
int cli_graph_print(cli *c, const json_t *show, const char *format);
int cli_graph_spec_print(const saga_spec *spec, const char *format);

#endif
