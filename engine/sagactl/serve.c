/*
 * serve.c - `sagactl serve`: the web console. Routes requests to the same
 * document builders as `sagactl ... --json` (cli_doc_*), answering /api/...
 * with their JSON and the pages with HTML drawn from it.
 *
 * The server is sagactl's own process with one PostgreSQL connection:
 * sagad's turn loop never sees it, and it works with sagad down. It runs on
 * libmicrohttpd's single internal thread (engine/common/http.c), so
 * requests are served one at a time on that connection: the cli session
 * needs no locking, and a page costs the CLI's few indexed reads.
 *
 * A request's query string becomes the command's own options ("?status=
 * RUNNING&def=x" is `--status=RUNNING --def=x`), parsed by cli_args_parse
 * against the command's table, so a filter means on the page what it means
 * in the terminal, and an unknown one is refused the same way.
 *
 * Safety: binds 127.0.0.1 unless told otherwise; every response carries a
 * strict Content-Security-Policy (scripts and styles from /static only).
 * Actions are off unless --actions, and then need POST, a JSON body, the
 * token in X-Console-Token (a custom header, which a cross-site form cannot
 * send) and, when the browser says where the request comes from (Origin,
 * Sec-Fetch-Site), this very origin.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "file.h"
#include "http.h"

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';" \
            " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
#define MIN_TOKEN 16

static const cli_opt OPTS[] = {
    {"listen", CLI_VALUE, "HOST:PORT", "address to serve on (default 127.0.0.1:8080)"},
    {"actions", CLI_FLAG, NULL,
     "enable retry/abort/resolve and approve/reject buttons (needs a token)"},
    {"token-file", CLI_VALUE, "FILE",
     "file holding the actions token (default: $SAGA_CONSOLE_TOKEN)"},
    {"actor", CLI_VALUE, "NAME", "actor recorded for actions (default console:<address>)"},
};

typedef struct reply {
    int status;
    const char *type;
    saga_buf body;
} reply;

typedef struct route {
    const char *page, *api; /* path, or prefix when takes_arg */
    bool takes_arg;
    const cli_command *cmd;
    int (*doc)(cli *, const cli_args *, json_t **, saga_error *);
    void (*render)(console *, const json_t *, const cli_args *, saga_buf *);
} route;

static const route ROUTES[] = {
    {"/", "/api/sagas", false, &cli_cmd_list, cli_doc_list, console_page_list},
    {"/sagas/", "/api/sagas/", true, &cli_cmd_show, cli_doc_show, console_page_saga},
    {"/stuck", "/api/stuck", false, &cli_cmd_stuck, cli_doc_stuck, console_page_stuck},
    {"/stats", "/api/stats", false, &cli_cmd_stats, cli_doc_stats, console_page_stats},
    {"/defs", "/api/defs", false, &cli_cmd_def_list, cli_doc_def_list, console_page_defs},
    {"/defs/", "/api/defs/", true, &cli_cmd_def_show, cli_doc_def_show, console_page_def},
};

static int http_status(int code)
{
    switch (code) {
    case SAGA_EINVAL: return MHD_HTTP_BAD_REQUEST;
    case SAGA_ENOTFOUND: return MHD_HTTP_NOT_FOUND;
    case SAGA_ECONFLICT: return MHD_HTTP_CONFLICT;
    case SAGA_EDB: return MHD_HTTP_SERVICE_UNAVAILABLE;
    default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static void fail(reply *r, bool api, int status, const saga_error *err)
{
    r->status = status;
    saga_buf_free(&r->body);
    if (!api) {
        r->type = "text/html; charset=utf-8";
        console_page_error(&r->body, status, err);
        return;
    }
    r->type = "application/json";
    json_t *o = json_pack("{s:s, s:s}", "error", err->msg, "hint", err->hint);
    char *t = o ? json_dumps(o, CLI_JSON_PRETTY) : NULL;
    saga_buf_puts(&r->body, t ? t : "{}");
    saga_buf_puts(&r->body, "\n");
    free(t);
    json_decref(o);
}

static void ok_json(reply *r, const json_t *doc)
{
    char *t = json_dumps(doc, CLI_JSON_PRETTY);
    r->status = MHD_HTTP_OK;
    r->type = "application/json";
    saga_buf_puts(&r->body, t ? t : "");
    saga_buf_puts(&r->body, "\n");
    free(t);
}

/* --- the query string as the command's options --------------------------- */

typedef struct argv_list {
    char *v[CLI_MAX_ARGS];
    int n;
    bool refused; /* a key that is not one of the command's options */
    const cli_command *cmd;
} argv_list;

static void push(argv_list *l, const char *a, const char *b)
{
    if (l->n >= CLI_MAX_ARGS - 2)
        return;
    size_t n = strlen(a) + strlen(b) + 1;
    if ((l->v[l->n] = malloc(n)))
        snprintf(l->v[l->n++], n, "%s%s", a, b);
}

static bool is_own_opt(const cli_command *cmd, const char *key)
{
    static const char *const output_only[] = {"json", "jsonl", "format"};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(key, output_only[i]) == 0)
            return false;
    for (size_t i = 0; i < cmd->n_opts; i++)
        if (strcmp(cmd->opts[i].name, key) == 0)
            return true;
    return false;
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    argv_list *l = cls;
    if (!key || !*key || !value || !*value)
        return MHD_YES; /* an empty form field is an unset filter */
    if (!is_own_opt(l->cmd, key)) {
        l->refused = true;
        push(l, "--", key); /* for cli_args_parse's "unknown option" message */
        return MHD_YES;
    }
    for (size_t i = 0; i < l->cmd->n_opts; i++)
        if (strcmp(l->cmd->opts[i].name, key) == 0 && l->cmd->opts[i].kind == CLI_FLAG) {
            if (strcmp(value, "0") != 0 && strcmp(value, "off") != 0)
                push(l, "--", key);
            return MHD_YES;
        }
    char opt[80];
    snprintf(opt, sizeof opt, "--%.60s=", key);
    push(l, opt, value);
    return MHD_YES;
}

static void argv_free(argv_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

/* Parses the query (and the path's argument) for rt's command. */
static int parse_request(struct MHD_Connection *conn, const route *rt, const char *arg,
                         argv_list *l, cli_args *a, saga_error *err)
{
    l->cmd = rt->cmd;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, l);
    if (arg) {
        push(l, "--", "");
        push(l, arg, "");
    }
    int rc = cli_args_parse(rt->cmd, l->n, l->v, a, err);
    if (rc == 0 && l->refused)
        rc = saga_error_set(err, SAGA_EINVAL, "unknown parameter for %s", rt->cmd->name);
    return rc;
}

/* The page's defaults where the CLI's would not suit a browser: a longer
 * timeline, and a stats window split into buckets for the charts. */
static int page_defaults(console *k, const route *rt, argv_list *l, cli_args *a,
                         saga_error *err)
{
    bool stats = rt->cmd == &cli_cmd_stats && !cli_value(a, "by");
    bool show = rt->cmd == &cli_cmd_show && !cli_value(a, "last");
    if (!stats && !show)
        return 0;
    char opt[48] = "--last=500";
    if (stats) {
        int64_t since = k->c->now_ms - 3600 * 1000LL;
        if (cli_value_since(a, "since", k->c->now_ms, &since, err))
            return SAGA_EINVAL;
        int64_t w = (k->c->now_ms - since) / 24;
        snprintf(opt, sizeof opt, "--by=%lldms", (long long)(w > 1000 ? w : 1000));
    }
    /* First, so a path argument after "--" stays positional. */
    push(l, opt, "");
    char *added = l->v[l->n - 1];
    memmove(l->v + 1, l->v, (size_t)(l->n - 1) * sizeof *l->v);
    l->v[0] = added;
    return cli_args_parse(rt->cmd, l->n, l->v, a, err);
}

/* Reconnects a connection PostgreSQL dropped since the last request. */
static bool db_ready(console *k, saga_error *err)
{
    if (PQstatus(k->c->conn) == CONNECTION_OK)
        return true;
    PQreset(k->c->conn);
    if (PQstatus(k->c->conn) == CONNECTION_OK)
        return true;
    saga_error_set(err, SAGA_EDB, "PostgreSQL cannot be reached: %s",
                   PQerrorMessage(k->c->conn));
    saga_error_hint(err, "the console retries on the next request");
    return false;
}

static void serve_doc(console *k, struct MHD_Connection *conn, const route *rt,
                      const char *arg, bool api, reply *r)
{
    argv_list l = {0};
    cli_args a;
    saga_error err;
    saga_error_clear(&err);
    json_t *doc = NULL;
    int rc = parse_request(conn, rt, arg, &l, &a, &err);
    if (rc == 0 && !api)
        rc = page_defaults(k, rt, &l, &a, &err);
    if (rc == 0 && !db_ready(k, &err))
        rc = SAGA_EDB;
    if (rc == 0)
        rc = rt->doc(k->c, &a, &doc, &err);
    if (rc) {
        fail(r, api, http_status(rc), &err);
    } else if (api) {
        ok_json(r, doc);
    } else {
        r->status = MHD_HTTP_OK;
        r->type = "text/html; charset=utf-8";
        rt->render(k, doc, &a, &r->body);
    }
    json_decref(doc);
    argv_free(&l);
}

/* --- actions ----------------------------------------------------------------- */

static bool same_text(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < lb; i++)
        d |= (unsigned char)(a[i % (la ? la : 1)] ^ b[i]);
    return d == 0 && la > 0;
}

/* Why a POST is refused (403), or NULL: token, content type and origin. */
static const char *refusal(console *k, struct MHD_Connection *conn)
{
    const char *v;
    if (!k->actions)
        return "actions are off (start the console with --actions and a token)";
    const char *token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Console-Token");
    if (!token || !same_text(token, k->token))
        return "missing or wrong X-Console-Token";
    v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (!v || strncmp(v, "application/json", 16) != 0)
        return "actions take a JSON body (Content-Type: application/json)";
    v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (v && strcmp(v, "same-origin") != 0)
        return "cross-origin request refused";
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    if (origin && (!host || strncmp(origin, "http://", 7) != 0 ||
                   strcmp(origin + 7, host) != 0))
        return "cross-origin request refused";
    return NULL;
}

static void actor_for(console *k, struct MHD_Connection *conn, char *buf, size_t cap)
{
    if (k->actor[0]) {
        snprintf(buf, cap, "%s", k->actor);
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[INET6_ADDRSTRLEN] = "unknown";
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof addr);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof addr);
    snprintf(buf, cap, "console:%s", addr);
}

/* POST /api/sagas/{id}/{retry|abort|resolve|approve|reject} with {"reason",
 * "as", "step", "data"}: cli_op_doc, the CLI's own path for each. */
static void serve_action(console *k, struct MHD_Connection *conn, const char *path,
                         const char *body, reply *r)
{
    saga_error err;
    saga_error_clear(&err);
    const char *why = refusal(k, conn);
    if (why) {
        saga_error_set(&err, SAGA_EINVAL, "%s", why);
        fail(r, true, MHD_HTTP_FORBIDDEN, &err);
        return;
    }
    char id[80], verb[16];
    json_t *in = json_loads(body, 0, NULL);
    if (sscanf(path, "/api/sagas/%79[^/]/%15s", id, verb) != 2 || !json_is_object(in)) {
        json_decref(in);
        saga_error_set(&err, SAGA_EINVAL, "expected POST /api/sagas/ID/ACTION with a "
                                          "JSON object body");
        fail(r, true, MHD_HTTP_BAD_REQUEST, &err);
        return;
    }
    char actor[160];
    actor_for(k, conn, actor, sizeof actor);
    /* approve's data: a JSON object given as such or as its text. */
    const json_t *data = json_object_get(in, "data");
    char *data_text = json_is_object(data) ? json_dumps(data, JSON_COMPACT) : NULL;
    cli_op_request rq = {.verb = verb, .id = id, .actor = actor,
                         .data = data_text ? data_text : json_string_value(data),
                         .step = json_string_value(json_object_get(in, "step")),
                         .reason = json_string_value(json_object_get(in, "reason")),
                         .as = json_string_value(json_object_get(in, "as")),
                         .dry_run = json_is_true(json_object_get(in, "dry_run"))};
    json_t *doc = NULL;
    int rc = db_ready(k, &err) ? cli_op_doc(k->c, &rq, &doc, &err) : SAGA_EDB;
    if (rc)
        fail(r, true, http_status(rc), &err);
    else
        ok_json(r, doc);
    json_decref(doc);
    json_decref(in);
    free(data_text);
}

/* --- dispatch ------------------------------------------------------------------ */

static bool serve_static(const char *url, reply *r)
{
    const char *text = NULL;
    if (strcmp(url, "/static/console.css") == 0) {
        text = console_css;
        r->type = "text/css; charset=utf-8";
    } else if (strcmp(url, "/static/console.js") == 0) {
        text = console_js;
        r->type = "text/javascript; charset=utf-8";
    }
    if (text) {
        r->status = MHD_HTTP_OK;
        saga_buf_puts(&r->body, text);
    }
    return text != NULL;
}

static const route *find_route(const char *url, bool *api, const char **arg)
{
    *api = strncmp(url, "/api/", 5) == 0;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        const char *p = *api ? ROUTES[i].api : ROUTES[i].page;
        size_t n = strlen(p);
        if (!ROUTES[i].takes_arg && strcmp(url, p) == 0) {
            *arg = NULL;
            return &ROUTES[i];
        }
        if (ROUTES[i].takes_arg && strncmp(url, p, n) == 0 && url[n] &&
            !strchr(url + n, '/')) {
            *arg = url + n;
            return &ROUTES[i];
        }
    }
    return NULL;
}

static void dispatch(console *k, struct MHD_Connection *conn, const char *method,
                     const char *url, const char *body, reply *r)
{
    saga_error err;
    saga_error_clear(&err);
    bool api = strncmp(url, "/api/", 5) == 0;
    bool action = strncmp(url, "/api/sagas/", 11) == 0 && strchr(url + 11, '/');
    if (action && strcmp(method, "POST") == 0) {
        serve_action(k, conn, url, body, r);
        return;
    }
    if (action) {
        saga_error_set(&err, SAGA_EINVAL, "actions take POST");
        fail(r, api, MHD_HTTP_METHOD_NOT_ALLOWED, &err);
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        saga_error_set(&err, SAGA_EINVAL, "method %.16s not allowed here", method);
        fail(r, api, MHD_HTTP_METHOD_NOT_ALLOWED, &err);
        return;
    }
    if (serve_static(url, r))
        return;
    const char *arg = NULL;
    const route *rt = find_route(url, &api, &arg);
    if (!rt) {
        saga_error_set(&err, SAGA_ENOTFOUND, "no page at %.200s", url);
        saga_error_hint(&err, "the pages are /, /stuck, /sagas/ID, /defs, /defs/NAME, /stats");
        fail(r, api, MHD_HTTP_NOT_FOUND, &err);
        return;
    }
    serve_doc(k, conn, rt, arg, api, r);
}

static int on_request(void *user, struct MHD_Connection *conn, const char *method,
                      const char *url, const char *body, size_t len)
{
    (void)len;
    console *k = user;
    k->c->now_ms = saga_now_ms();
    reply r = {.status = 500, .type = "text/plain; charset=utf-8"};
    dispatch(k, conn, method, url, body, &r);
    size_t n = r.body.len;
    char *text = saga_buf_take(&r.body);
    if (!text)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* --- the command ------------------------------------------------------------------ */

static int load_token(const cli_args *a, console *k, saga_error *err)
{
    const char *file = cli_value(a, "token-file");
    const char *env = getenv("SAGA_CONSOLE_TOKEN");
    char *text = NULL;
    size_t len = 0;
    if (file && saga_file_read(file, 4096, &text, &len, err))
        return SAGA_EINVAL;
    const char *t = file ? text : env ? env : "";
    snprintf(k->token, sizeof k->token, "%s", t);
    free(text);
    k->token[strcspn(k->token, "\r\n")] = '\0';
    if (strlen(k->token) < MIN_TOKEN) {
        saga_error_set(err, SAGA_EINVAL, "--actions needs a token of at least %d characters",
                       MIN_TOKEN);
        saga_error_hint(err, "put one in a file for --token-file (e.g. openssl rand -hex 16)"
                             " or in SAGA_CONSOLE_TOKEN");
        return SAGA_EINVAL;
    }
    return 0;
}

static int check(cli *c, const cli_args *a)
{
    (void)c;
    console k = {0};
    saga_error err;
    if (cli_flag(a, "actions") && load_token(a, &k, &err))
        return cli_usage_fail(&err);
    if (!cli_flag(a, "actions") && (cli_value(a, "token-file") || cli_value(a, "actor")))
        return cli_usage_error(&cli_cmd_serve, "--token-file and --actor need --actions");
    return CLI_EXIT_OK;
}

static int run(cli *c, const cli_args *a)
{
    console k = {.c = c, .actions = cli_flag(a, "actions")};
    saga_error err;
    if (k.actions && load_token(a, &k, &err))
        return cli_usage_fail(&err);
    snprintf(k.actor, sizeof k.actor, "%s", cli_value(a, "actor") ? cli_value(a, "actor") : "");
    const char *listen = cli_value(a, "listen") ? cli_value(a, "listen") : "127.0.0.1:8080";
    /* Signals are taken by sigwait below, on this thread only: block them
     * before the server thread starts, so it inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    saga_http_handlers h = {.request = on_request};
    saga_http *s = saga_http_start(listen, &h, &k, &err);
    if (!s)
        return cli_fail(c, &err);
    char host[64];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    printf("console: http://%s:%d/ (actions %s; Ctrl-C stops it)\n",
           host[0] ? host : "127.0.0.1", saga_http_port(s), k.actions ? "on" : "off");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    saga_http_stop(s);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_serve = {
    .name = "serve",
    .synopsis = "[--listen HOST:PORT] [--actions [--token-file FILE] [--actor NAME]]",
    .summary = "serve the web console (sagas, stuck board, graphs, stats)",
    .description =
        "Serves the web console on 127.0.0.1:8080 (--listen to change; port 0\n"
        "picks a free one, printed on start). Pages: / (sagas), /stuck, /sagas/ID,\n"
        "/defs, /defs/NAME[@V], /stats; /api/... answers with exactly the JSON of\n"
        "the matching `sagactl ... --json`, and query parameters are that\n"
        "command's options (/api/sagas?status=RUNNING&limit=10). Reads only\n"
        "PostgreSQL, so it works whether or not sagad runs.\n"
        "Actions (retry, abort, resolve, and approve/reject of a signal step that\n"
        "waits) are off unless --actions is given with a token (--token-file or\n"
        "SAGA_CONSOLE_TOKEN, at least 16 characters), which the page sends in\n"
        "the X-Console-Token header; they go through the same engine path and\n"
        "audit trail as `sagactl retry|abort|resolve|signal`,\n"
        "recorded as actor console:<client address> (or --actor NAME).",
    .opts = OPTS,
    .n_opts = sizeof OPTS / sizeof OPTS[0],
    .min_pos = 0,
    .max_pos = 0,
    .needs_db = true,
    .check = check,
    .run = run,
};
