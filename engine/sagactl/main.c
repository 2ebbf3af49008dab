/*
 * main.c - sagactl's entry point: finds the command, parses its options,
 * prepares the session (terminal, colour, connection) and maps the outcome
 * to an exit status.
 *
 * Commands are a flat table of "noun verb" names ("def apply") so that
 * `sagactl --help`, `sagactl def --help` and `sagactl CMD --help` are all
 * generated from the same declarations the parser uses: help can never
 * drift from what is accepted.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "config.h"
#include "sagactl.h"
#include "topics.h"

static const cli_command *const COMMANDS[] = {
    &cli_cmd_list,  &cli_cmd_show,         &cli_cmd_stuck,     &cli_cmd_stats,
    &cli_cmd_tail,  &cli_cmd_retry,        &cli_cmd_abort,     &cli_cmd_resolve,
    &cli_cmd_start, &cli_cmd_def_validate, &cli_cmd_def_apply, &cli_cmd_def_list,
    &cli_cmd_def_show, &cli_cmd_migrate,   &cli_cmd_prune,     &cli_cmd_participant_check,
    &cli_cmd_serve,    &cli_cmd_reconcile, &cli_cmd_dlq_list,  &cli_cmd_dlq_replay,
    &cli_cmd_signal,
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void print_opts(FILE *out, const cli_opt *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", opts[i].name,
                 opts[i].kind == CLI_VALUE ? " " : "",
                 opts[i].kind == CLI_VALUE ? opts[i].metavar : "");
        fprintf(out, "  %-24s %s\n", left, opts[i].help);
    }
}

static void command_help(const cli_command *cmd, FILE *out)
{
    fprintf(out, "usage: sagactl %s %s\n\n%s\n", cmd->name, cmd->synopsis,
            cmd->description);
    if (cmd->n_opts) {
        fputs("\noptions:\n", out);
        print_opts(out, cmd->opts, cmd->n_opts);
    }
    fputs("\nglobal options:\n", out);
    print_opts(out, cli_global_opts, cli_n_global_opts);
    fputs("\nexit status: 0 ok, 1 not found / refused / invalid, 2 usage, "
          "3 cannot connect (see man sagactl)\n",
          out);
}

static void main_help(FILE *out, const char *group)
{
    fputs("usage: sagactl [--dsn DSN] COMMAND [ARGS] [OPTIONS]\n\n"
          "Inspect and repair sagas run by sagad. Reads need only PostgreSQL\n"
          "(--dsn or SAGA_PG_DSN); operator actions go through the same\n"
          "decision logic, locking and outbox as sagad.\n\ncommands:\n",
          out);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const cli_command *c = COMMANDS[i];
        if (group && strncmp(c->name, group, strlen(group)) != 0)
            continue;
        fprintf(out, "  %-18s %s\n", c->name, c->summary);
    }
    fputs("\nglobal options:\n", out);
    print_opts(out, cli_global_opts, cli_n_global_opts);
    fputs("\nRun `sagactl COMMAND --help` for a command's options; the manual "
          "is `man sagactl`.\n"
          "exit status: 0 ok, 1 not found / refused / invalid, 2 usage, 3 "
          "cannot connect\n",
          out);
}

/* Index of the first argument from `from` on that is not a global option or
 * its value (argc when there is none). */
static int next_word(int argc, char **argv, int from)
{
    for (int i = from; i < argc; i++) {
        const char *s = argv[i];
        if (s[0] != '-' || strcmp(s, "-") == 0)
            return i;
        if (strcmp(s, "--") == 0)
            return i + 1 < argc ? i + 1 : argc;
        for (size_t k = 0; k < cli_n_global_opts; k++)
            if (cli_global_opts[k].kind == CLI_VALUE &&
                strcmp(s + 2, cli_global_opts[k].name) == 0 && s[1] == '-')
                i++;
    }
    return argc;
}

static const cli_command *find_command(const char *w1, const char *w2,
                                       int *words)
{
    char two[64];
    snprintf(two, sizeof two, "%s %s", w1, w2 ? w2 : "");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (w2 && strcmp(COMMANDS[i]->name, two) == 0) {
            *words = 2;
            return COMMANDS[i];
        }
        if (strcmp(COMMANDS[i]->name, w1) == 0) {
            *words = 1;
            return COMMANDS[i];
        }
    }
    return NULL;
}

static bool is_group(const char *w)
{
    size_t n = strlen(w);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strncmp(COMMANDS[i]->name, w, n) == 0 && COMMANDS[i]->name[n] == ' ')
            return true;
    return false;
}

static int unknown_command(const char *w)
{
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char first[32];
        snprintf(first, sizeof first, "%s", COMMANDS[i]->name);
        char *sp = strchr(first, ' ');
        if (sp)
            *sp = '\0';
        size_t d = cli_edit_distance(w, first);
        if (d < bd) {
            bd = d;
            best = COMMANDS[i]->name;
        }
    }
    fprintf(stderr, "sagactl: error: unknown command \"%.64s\"\n", w);
    if (best)
        fprintf(stderr, "hint: did you mean \"%s\"? sagactl --help lists the "
                        "commands\n",
                best);
    else
        fputs("hint: sagactl --help lists the commands\n", stderr);
    return CLI_EXIT_USAGE;
}

static size_t terminal_width(void)
{
    if (!isatty(STDOUT_FILENO))
        return 0;
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 120;
}

static int setup_output(cli *c, const cli_args *a)
{
    const char *when = cli_value(a, "color");
    if (!when)
        when = "auto";
    const char *nc = getenv("NO_COLOR");
    bool tty = isatty(STDOUT_FILENO);
    if (strcmp(when, "auto") == 0)
        c->color = tty;
    else if (strcmp(when, "always") == 0)
        c->color = true;
    else if (strcmp(when, "never") == 0)
        c->color = false;
    else
        return -1;
    if (nc && *nc)
        c->color = false;
    c->width = terminal_width();
    c->stdin_tty = isatty(STDIN_FILENO);
    c->utc = cli_flag(a, "utc");
    return 0;
}

int cli_connect(cli *c, const cli_args *a)
{
    /* Commands queued by operator actions name the reply topic sagad
     * consumes; SAGA_TOPICS_REPLIES is the variable sagad reads for its
     * topics.replies key, so one setting serves both (and
     * SAGA_TOPICS_SIGNALS for a parent's orders to its sub-sagas). */
    const char *replies = getenv("SAGA_TOPICS_REPLIES");
    if (!c->engine) {
        c->engine = saga_engine_new(replies && *replies ? replies : SAGA_TOPIC_REPLIES);
        if (c->engine) /* sagad's topics.signals, the same way */
            saga_engine_set_signal_topic(c->engine, getenv("SAGA_TOPICS_SIGNALS"));
    }
    if (!c->engine) {
        fputs("sagactl: error: out of memory\n", stderr);
        return CLI_EXIT_FAIL;
    }
    c->dsn = cli_value(a, "dsn");
    if (!c->dsn || !*c->dsn)
        c->dsn = getenv("SAGA_PG_DSN");
    if (!c->dsn || !*c->dsn) {
        fprintf(stderr, "sagactl: error: no database to connect to\n"
                        "hint: pass --dsn \"host=... dbname=...\" or set "
                        "SAGA_PG_DSN\n");
        return CLI_EXIT_USAGE;
    }
    /* Bound a connection attempt to a host that drops packets; a DSN's own
     * connect_timeout still wins. */
    setenv("PGCONNECT_TIMEOUT", "10", 0);
    setenv("PGAPPNAME", "sagactl", 0);
    saga_error err;
    c->conn = saga_pg_connect(c->dsn, NULL, &err);
    if (!c->conn) {
        saga_error_hint(&err, "check --dsn / SAGA_PG_DSN and that PostgreSQL is up");
        return cli_fail(c, &err);
    }
    return CLI_EXIT_OK;
}

/* `sagactl help [WORD [WORD]]`. */
static int run_help(int argc, char **argv, int w)
{
    if (w + 1 >= argc) {
        main_help(stdout, NULL);
        return CLI_EXIT_OK;
    }
    int words = 0;
    const cli_command *cmd = find_command(argv[w + 1], w + 2 < argc ? argv[w + 2] : NULL, &words);
    if (cmd && (words == 2 || !is_group(argv[w + 1]))) {
        command_help(cmd, stdout);
        return CLI_EXIT_OK;
    }
    if (is_group(argv[w + 1])) {
        main_help(stdout, argv[w + 1]);
        return CLI_EXIT_OK;
    }
    return unknown_command(argv[w + 1]);
}

/* A group word (`def`, `participant`, ...) needs its subcommand: sets *w2
 * and returns -1 when it names one, else the exit status (its --help, or a
 * usage error). */
static int group_word(int argc, char **argv, int w, const char **w2)
{
    int i = next_word(argc, argv, w + 1), words = 0;
    *w2 = i < argc ? argv[i] : NULL;
    const cli_command *cmd = *w2 ? find_command(argv[w], *w2, &words) : NULL;
    if (cmd && words == 2)
        return -1;
    for (int k = w + 1; k < argc; k++)
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            main_help(stdout, argv[w]);
            return CLI_EXIT_OK;
        }
    if (*w2)
        fprintf(stderr, "sagactl: error: unknown command \"%s %.64s\"\n", argv[w], *w2);
    else
        fprintf(stderr, "sagactl: error: \"%s\" needs a subcommand\n", argv[w]);
    fprintf(stderr, "hint: sagactl %s --help lists them\n", argv[w]);
    return CLI_EXIT_USAGE;
}

/* Parses the command's arguments (rest: everything but the command words),
 * checks them, connects when it needs the database, and runs it. */
static int run_command(cli *c, const cli_command *cmd, int n, char **rest)
{
    cli_args a;
    saga_error err;
    if (cli_args_parse(cmd, n, rest, &a, &err)) {
        int status = cli_usage_fail(&err);
        fprintf(stderr, "usage: sagactl %s %s\n", cmd->name, cmd->synopsis);
        return status;
    }
    if (cli_flag(&a, "help")) {
        command_help(cmd, stdout);
        return CLI_EXIT_OK;
    }
    if (setup_output(c, &a))
        return cli_usage_error(cmd, "--color: expected auto, always or never");
    if ((int)a.n_pos < cmd->min_pos)
        return cli_usage_error(cmd, "missing argument%s",
                               cmd->min_pos - (int)a.n_pos > 1 ? "s" : "");
    if (cmd->max_pos >= 0 && (int)a.n_pos > cmd->max_pos)
        return cli_usage_error(cmd, "unexpected argument \"%.64s\"", a.pos[cmd->max_pos]);
    c->now_ms = saga_now_ms();
    int status;
    if (cmd->check && (status = cmd->check(c, &a)))
        return status;
    if (cmd->needs_db && (status = cli_connect(c, &a)))
        return status;
    c->now_ms = saga_now_ms();
    return cmd->run(c, &a);
}

int main(int argc, char **argv)
{
    cli c = {.prog = "sagactl"};
    int w = next_word(argc, argv, 1);
    if (w >= argc) {
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                main_help(stdout, NULL);
                return CLI_EXIT_OK;
            }
        main_help(stderr, NULL);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[w], "help") == 0)
        return run_help(argc, argv, w);
    int words = 0, status;
    const char *w2 = NULL;
    if (is_group(argv[w]) && (status = group_word(argc, argv, w, &w2)) >= 0)
        return status;
    const cli_command *cmd = find_command(argv[w], w2, &words);
    if (!cmd)
        return unknown_command(argv[w]);

    /* Everything but the command words, in order. */
    char **rest = calloc((size_t)argc, sizeof *rest);
    if (!rest)
        return CLI_EXIT_FAIL;
    int n = 0;
    bool w2_skipped = false;
    for (int i = 1; i < argc; i++) {
        if (i == w)
            continue;
        if (words == 2 && !w2_skipped && argv[i] == w2) {
            w2_skipped = true;
            continue;
        }
        rest[n++] = argv[i];
    }
    status = run_command(&c, cmd, n, rest);
    fflush(stdout);
    if (c.conn)
        PQfinish(c.conn);
    saga_engine_free(c.engine);
    free(rest);
    return status;
}
