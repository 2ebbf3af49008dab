/*
 * migrate.c - `sagactl migrate`: installs or upgrades the core schema.
 *
 * The migrations are compiled into the binary (engine/migrate.h), so the
 * sagactl that matches a sagad release can prepare its database before the
 * daemon starts, with nothing else installed.
 */
#include "migrate.h"
#include "schema.h"
#include "sagactl.h"

static const cli_opt OPTS[] = {
    {"json", CLI_FLAG, NULL, "print {\"applied\": N, \"latest\": VERSION}"},
};

static int run(cli *c, const cli_args *a)
{
    saga_error err;
    int applied = 0;
    if (saga_migrate_core(c->conn, &applied, &err))
        return cli_fail(c, &err);
    int latest = saga_migrations_core_count
                     ? saga_migrations_core[saga_migrations_core_count - 1].version
                     : 0;
    if (cli_flag(a, "json"))
        return cli_json_print(json_pack("{s:i, s:i}", "applied", applied,
                                        "latest", latest),
                              false);
    if (applied == 0)
        printf("schema up to date (version %d)\n", latest);
    else
        printf("applied %d migration%s, schema now at version %d\n", applied,
               applied == 1 ? "" : "s", latest);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_migrate = {
    .name = "migrate",
    .synopsis = "[--json]",
    .summary = "apply the core schema migrations",
    .description =
        "Applies the core schema migrations compiled into this binary that the\n"
        "database does not have yet, in one transaction under an advisory lock\n"
        "(safe while sagad processes start). Prints how many were applied, or\n"
        "that the schema is up to date.",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .run = run,
};
