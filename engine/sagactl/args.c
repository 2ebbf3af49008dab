/*
 * args.c - command-line options, GNU style: options and arguments in any
 * order, "--name value" or "--name=value", "--" ends the options.
 *
 * Not saga_config: that layers files and SAGA_* environment variables over
 * flags, which is right for daemons but would let an exported SAGA_STATUS
 * silently filter `sagactl list`. Here only what is typed counts (plus
 * SAGA_PG_DSN for the connection, like psql's PG* variables).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sagactl.h"

const cli_opt cli_global_opts[] = {
    {"dsn", CLI_VALUE, "DSN",
     "PostgreSQL connection string (default: $SAGA_PG_DSN)"},
    {"utc", CLI_FLAG, NULL, "print absolute UTC times instead of relative ones"},
    {"color", CLI_VALUE, "WHEN", "auto (default), always or never"},
    {"help", CLI_FLAG, NULL, "show this help"},
};
const size_t cli_n_global_opts = sizeof cli_global_opts / sizeof cli_global_opts[0];

size_t cli_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return la > lb ? la : lb;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

static void add_opts(cli_args *a, const cli_opt *opts, size_t n)
{
    for (size_t i = 0; i < n && a->n_opts < CLI_MAX_OPTS; i++)
        a->opts[a->n_opts++] = &opts[i];
}

static int find_opt(const cli_args *a, const char *name, size_t len)
{
    for (size_t i = 0; i < a->n_opts; i++)
        if (strlen(a->opts[i]->name) == len &&
            strncmp(a->opts[i]->name, name, len) == 0)
            return (int)i;
    return -1;
}

static int unknown_opt(const cli_command *cmd, const cli_args *a,
                       const char *name, size_t len, saga_error *err)
{
    char typed[64];
    snprintf(typed, sizeof typed, "%.*s", (int)(len < 60 ? len : 60), name);
    saga_error_set(err, SAGA_EINVAL, "unknown option --%s for \"%s\"", typed,
                   cmd->name);
    size_t best = (size_t)-1;
    const char *hint = NULL;
    for (size_t i = 0; i < a->n_opts; i++) {
        size_t d = cli_edit_distance(typed, a->opts[i]->name);
        if (d < best) {
            best = d;
            hint = a->opts[i]->name;
        }
    }
    if (hint && best <= 2)
        saga_error_hint(err, "did you mean --%s? (sagactl %s --help lists the "
                             "options)", hint, cmd->name);
    else
        saga_error_hint(err, "sagactl %s --help lists the options", cmd->name);
    return SAGA_EINVAL;
}

int cli_args_parse(const cli_command *cmd, int argc, char **argv,
                   cli_args *a, saga_error *err)
{
    memset(a, 0, sizeof *a);
    add_opts(a, cmd->opts, cmd->n_opts);
    add_opts(a, cli_global_opts, cli_n_global_opts);
    bool options = true;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (options && strcmp(s, "--") == 0) {
            options = false;
            continue;
        }
        if (options && (strcmp(s, "-h") == 0)) {
            a->set[find_opt(a, "help", 4)] = true;
            continue;
        }
        bool is_long = options && s[0] == '-' && s[1] == '-';
        if (!is_long && options && s[0] == '-' && s[1] != '\0')
            return saga_error_set(err, SAGA_EINVAL,
                                  "unknown option %.64s for \"%s\": options "
                                  "are spelled --name",
                                  s, cmd->name);
        if (!is_long) {
            if (a->n_pos == CLI_MAX_ARGS)
                return saga_error_set(err, SAGA_EINVAL,
                                      "too many arguments (the limit is %d)",
                                      CLI_MAX_ARGS);
            a->pos[a->n_pos++] = s;
            continue;
        }
        const char *name = s + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int k = find_opt(a, name, len);
        if (k < 0)
            return unknown_opt(cmd, a, name, len, err);
        const cli_opt *o = a->opts[k];
        if (o->kind == CLI_FLAG) {
            if (eq)
                return saga_error_set(err, SAGA_EINVAL,
                                      "option --%s takes no value", o->name);
            a->set[k] = true;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) {
                saga_error_set(err, SAGA_EINVAL, "option --%s needs a value",
                               o->name);
                saga_error_hint(err, "write --%s %s", o->name,
                                o->metavar ? o->metavar : "VALUE");
                return SAGA_EINVAL;
            }
            v = argv[++i];
        }
        a->set[k] = true;
        a->values[k] = v;
        if (a->n_all == CLI_MAX_ARGS)
            return saga_error_set(err, SAGA_EINVAL, "too many options (the limit is %d)",
                                  CLI_MAX_ARGS);
        a->all_opt[a->n_all] = k;
        a->all[a->n_all++] = v;
    }
    return 0;
}

static int index_of(const cli_args *a, const char *name)
{
    return find_opt(a, name, strlen(name));
}

bool cli_flag(const cli_args *a, const char *name)
{
    int k = index_of(a, name);
    return k >= 0 && a->set[k];
}

const char *cli_value(const cli_args *a, const char *name)
{
    int k = index_of(a, name);
    return k >= 0 && a->set[k] ? a->values[k] : NULL;
}

size_t cli_values(const cli_args *a, const char *name, const char **out, size_t max)
{
    int k = index_of(a, name);
    size_t n = 0;
    for (size_t i = 0; k >= 0 && i < a->n_all; i++) {
        if (a->all_opt[i] != k)
            continue;
        if (n < max)
            out[n] = a->all[i];
        n++;
    }
    return n;
}

int cli_value_duration(const cli_args *a, const char *name, int64_t *out,
                       saga_error *err)
{
    const char *v = cli_value(a, name);
    if (!v)
        return 0;
    if (saga_duration_parse(v, out, err)) {
        char msg[SAGA_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        saga_error_set(err, SAGA_EINVAL, "--%s: %s", name, msg);
        saga_error_hint(err, "write a number and a unit (ms, s, m, h, d), "
                             "e.g. 250ms, 90s, 5m, 2h, 1d or 1h30m");
        return SAGA_EINVAL;
    }
    return 0;
}

int cli_value_since(const cli_args *a, const char *name, int64_t now_ms,
                    int64_t *out, saga_error *err)
{
    const char *v = cli_value(a, name);
    if (!v || saga_since_parse(v, now_ms, out, err) == 0)
        return 0;
    char msg[SAGA_ERROR_MSG_MAX], hint[SAGA_ERROR_HINT_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    snprintf(hint, sizeof hint, "%s", err->hint);
    saga_error_set(err, SAGA_EINVAL, "--%s: %s", name, msg);
    saga_error_hint(err, "%s", hint);
    return SAGA_EINVAL;
}

int cli_value_int(const cli_args *a, const char *name, long min, long max,
                  long *out, saga_error *err)
{
    const char *v = cli_value(a, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return saga_error_set(err, SAGA_EINVAL,
                              "--%s: invalid value \"%.64s\": expected an "
                              "integer from %ld to %ld",
                              name, v, min, max);
    *out = n;
    return 0;
}
