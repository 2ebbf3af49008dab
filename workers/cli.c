/*
 * cli.c - saga_worker_main: the command line every participant shares.
 *
 *   <prog> [OPTIONS] [run|migrate] [OPTIONS]
 *   <prog> [OPTIONS] SUBCOMMAND [its own arguments]
 *
 * OPTIONS are the configuration keys (options.c) as flags, read by
 * engine/config.c together with --config FILE and the SAGA_* environment.
 * `run` and `migrate` take options on either side of the word, so
 * `inventory-worker --ignore COMPENSATE` and `inventory-worker run --ignore
 * COMPENSATE` are the same; a participant's own subcommand gets every
 * argument after its name untouched. Exit status: 0 success, 1 a check found
 * a problem, 2 usage or runtime error, 3 an injected crash.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barrier.h"
#include "options.h"
#include "pg.h"
#include "worker.h"

typedef struct cli {
    const saga_worker_participant *p;
    const char *prog;
    saga_config_key keys[SAGA_WORKER_MAX_KEYS];
    saga_config *conf;
    saga_worker_argv args;
    saga_worker_config cfg;
    saga_log_level level;
    saga_log_format format;
} cli;

static void usage(const cli *c, FILE *out)
{
    const saga_worker_participant *p = c->p;
    fprintf(out, "usage: %s [OPTIONS] [run|migrate] [OPTIONS]\n", c->prog);
    fprintf(out, "       %s [OPTIONS] COMMAND [ARGS]\n", c->prog);
    if (p->summary)
        fprintf(out, "\n%s\n", p->summary);
    fprintf(out, "\ncommands:\n");
    fprintf(out, "  %-34s %s\n", "run", "consume and execute commands (the default)");
    fprintf(out, "  %-34s %s\n", "migrate", "apply the schema migrations and exit");
    for (size_t i = 0; i < p->n_subcommands; i++) {
        char left[128];
        snprintf(left, sizeof left, "%s %s", p->subcommands[i].name,
                 p->subcommands[i].usage ? p->subcommands[i].usage : "");
        fprintf(out, "  %-34s %s\n", left, p->subcommands[i].summary);
    }
    fprintf(out, "\n");
    saga_config_usage(c->conf, out);
    fprintf(out, "\n  --kafka KEY=VALUE is accepted for --kafka.KEY=VALUE.\n");
    fprintf(out, "\nexit status: 0 ok, 1 check failed, 2 error, 3 injected crash\n");
}

static int fail(const cli *c, const saga_error *err)
{
    fprintf(stderr, "%s: %s\n", c->prog, err->msg);
    if (err->hint[0])
        fprintf(stderr, "hint: %s\n", err->hint);
    return 2;
}

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0;
}

/* Connects once and applies the migrations (the participant's, then the
 * barrier's); NULL with err set on failure. */
static PGconn *open_migrated(const cli *c, int *applied, saga_error *err)
{
    char app[128];
    snprintf(app, sizeof app, "%s-worker", c->p->name);
    PGconn *conn = saga_pg_connect(c->cfg.pg_dsn, app, err);
    int own = 0, barrier = 0;
    if (conn && ((c->p->migrations && saga_migrate(conn, c->p->name, c->p->migrations,
                                                   c->p->n_migrations, &own, err)) ||
                 saga_barrier_migrate(conn, c->cfg.schema, &barrier, err))) {
        PQfinish(conn);
        return NULL;
    }
    if (applied)
        *applied = own + barrier;
    return conn;
}

static int run(cli *c)
{
    saga_error err;
    c->cfg.migrations = c->p->migrations;
    c->cfg.n_migrations = c->p->n_migrations;
    c->cfg.install_signal_handlers = true;
    if (saga_worker_run(&c->cfg, &c->p->handlers, c->p->user, NULL, &err) == 0)
        return 0;
    saga_log_error(NULL, "%s%s%s", err.msg, err.hint[0] ? "; hint: " : "", err.hint);
    return 2;
}

static int migrate(cli *c)
{
    saga_error err;
    saga_error_clear(&err);
    int applied = 0;
    PGconn *conn = open_migrated(c, &applied, &err);
    if (!conn)
        return fail(c, &err);
    printf("%s: %d migrations applied, schema up to date\n", c->p->name, applied);
    PQfinish(conn);
    return 0;
}

static int subcommand(cli *c, const saga_worker_subcommand *sc, int argc, char **argv)
{
    saga_error err;
    saga_error_clear(&err);
    PGconn *conn = open_migrated(c, NULL, &err);
    if (!conn)
        return fail(c, &err);
    int rc = sc->run(conn, argc, argv, c->p->user, &err);
    PQfinish(conn);
    return rc < 0 ? fail(c, &err) : rc;
}

/* Loads the configuration from the options around the word at argi (the
 * subcommand) or, when around is false, from those before it only. */
static int load(cli *c, int argi, bool around, saga_error *err)
{
    char **v = c->args.argv;
    int n = c->args.argc;
    if (!around || argi >= n)
        return saga_config_load(c->conf, argi < n ? argi : n, v, NULL, err);
    char **merged = calloc((size_t)n, sizeof *merged);
    if (!merged)
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    int m = 0;
    for (int i = 0; i < n; i++)
        if (i != argi)
            merged[m++] = v[i];
    int rc = saga_config_load(c->conf, m, merged, NULL, err);
    free(merged);
    return rc;
}

static const saga_worker_subcommand *find(const saga_worker_participant *p, const char *name)
{
    for (size_t i = 0; i < p->n_subcommands; i++)
        if (strcmp(name, p->subcommands[i].name) == 0)
            return &p->subcommands[i];
    return NULL;
}

static int dispatch(cli *c)
{
    saga_error err;
    saga_error_clear(&err);
    char **v = c->args.argv;
    int n = c->args.argc;
    /* Where the subcommand is: the first word that is not an option. */
    int argi = n;
    if (saga_config_load(c->conf, n, v, &argi, &err) && argi >= n)
        return fail(c, &err);
    if (saga_config_help_requested(c->conf) || (argi < n && is_help(v[argi])) ||
        (argi + 1 < n && is_help(v[argi + 1]))) {
        usage(c, stdout);
        return 0;
    }
    const char *name = argi < n ? v[argi] : "run";
    bool builtin = strcmp(name, "run") == 0 || strcmp(name, "migrate") == 0;
    const saga_worker_subcommand *sc = builtin ? NULL : find(c->p, name);
    if (!builtin && !sc) {
        fprintf(stderr, "%s: unknown command \"%s\"\n", c->prog, name);
        fprintf(stderr, "hint: %s --help lists the commands\n", c->prog);
        return 2;
    }
    if (load(c, argi, builtin, &err))
        return fail(c, &err);
    if (saga_config_print_requested(c->conf)) {
        saga_config_print(c->conf, stdout);
        return 0;
    }
    if (saga_worker_config_from(&c->cfg, &c->level, &c->format, c->conf, c->p->name, &err))
        return fail(c, &err);
    saga_log_setup(c->prog, c->level, c->format);
    if (sc)
        return subcommand(c, sc, n - argi - 1, v + argi + 1);
    return strcmp(name, "run") == 0 ? run(c) : migrate(c);
}

int saga_worker_main(const saga_worker_participant *p, int argc, char **argv)
{
    cli c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.prog = argc > 0 ? basename(argv[0]) : "worker";
    saga_log_setup(c.prog, SAGA_LOG_INFO, SAGA_LOG_AUTO);
    size_t nk = saga_worker_keys(c.keys, p->http_listen);
    c.conf = saga_config_new(c.keys, nk);
    if (!c.conf)
        return 2;
    saga_error err;
    int rc = saga_worker_argv_rewrite(&c.args, argc, argv, &err) ? fail(&c, &err)
                                                                : dispatch(&c);
    saga_worker_argv_free(&c.args);
    saga_config_free(c.conf);
    return rc;
}
