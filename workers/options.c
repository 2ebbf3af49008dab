/*
 * options.c - the worker's configuration keys and their meaning.
 *
 * Flag aliases keep the short spellings operators and scripts already use
 * (--topic, --reject-rate, --ignore); the keys themselves follow the
 * "area.name" scheme of sagad's configuration.
 */
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"

static const saga_config_key KEYS[] = {
    {.key = "pg.dsn", .type = SAGA_CONFIG_STRING, .flags = SAGA_CONFIG_REQUIRED,
     .env = "SAGA_PG_DSN", .flag = "--pg-dsn",
     .help = "PostgreSQL connection string of the participant's database"},
    {.key = "worker.topic", .type = SAGA_CONFIG_STRING, .flag = "--topic",
     .help = "command topic consumed (default saga.<participant>.commands)"},
    {.key = "worker.group", .type = SAGA_CONFIG_STRING, .flag = "--group",
     .help = "consumer group shared by the participant's workers (default saga.<participant>)"},
    {.key = "dlq.topic", .type = SAGA_CONFIG_STRING, .def = "saga.dlq", .flag = "--dlq-topic",
     .help = "where undecodable or oversized commands are copied, with the reason"},
    {.key = "worker.partitions", .type = SAGA_CONFIG_INT, .def = "4", .range = "1..1000",
     .help = "partitions of the command topic when the worker creates it"},
    {.key = "worker.replication", .type = SAGA_CONFIG_INT, .def = "-1", .range = "-1..100",
     .help = "replication factor of topics the worker creates (-1 = broker default)"},
    {.key = "worker.batch.max", .type = SAGA_CONFIG_INT, .def = "128", .range = "1..10000",
     .flag = "--batch-max", .help = "most commands handled in one PostgreSQL transaction"},
    {.key = "worker.max.message.bytes", .type = SAGA_CONFIG_INT, .def = "1048576",
     .range = "64..1073741824", .help = "larger commands are dead-lettered, not handled"},
    {.key = "fault.reject.rate", .type = SAGA_CONFIG_DOUBLE, .def = "0", .range = "0..1",
     .flag = "--reject-rate", .help = "fault: refuse this share of RESERVE commands"},
    {.key = "fault.retry.rate", .type = SAGA_CONFIG_DOUBLE, .def = "0", .range = "0..1",
     .flag = "--retry-rate", .help = "fault: answer RETRY (transient failure) to this share"},
    {.key = "fault.delay", .type = SAGA_CONFIG_DURATION, .def = "0ms", .range = "0ms..1h",
     .env = "SAGA_FAULT_DELAY_MS", .flag = "--delay-ms",
     .help = "fault: latency added to each batch"},
    {.key = "fault.drop.reply.rate", .type = SAGA_CONFIG_DOUBLE, .def = "0", .range = "0..1",
     .flag = "--drop-reply-rate", .help = "fault: commit the effect but send no reply"},
    {.key = "fault.crash.after.commit.rate", .type = SAGA_CONFIG_DOUBLE, .def = "0",
     .range = "0..1", .flag = "--crash-after-commit-rate",
     .help = "fault: commit the effect, then exit (status 3) before replying"},
    {.key = "fault.ignore", .type = SAGA_CONFIG_LIST, .flag = "--ignore",
     .help = "fault: actions consumed and never answered (RESERVE, CONFIRM, COMPENSATE)"},
    {.key = "fault.actions", .type = SAGA_CONFIG_LIST, .flag = "--fault-actions",
     .help = "actions the retry, delay, drop and crash faults apply to (empty = all)"},
    {.key = "fault.seed", .type = SAGA_CONFIG_INT, .def = "0", .range = "0..",
     .flag = "--fault-seed", .help = "seed of the fault decisions (same seed, same faults)"},
    {.key = "http.listen", .type = SAGA_CONFIG_STRING, .def = "off",
     .help = "address of /healthz, /readyz and /metrics; \"off\" disables"},
    {.key = "http.bind_timeout", .type = SAGA_CONFIG_DURATION, .def = "30s", .range = "0ms..10m",
     .help = "how long a port still in use (a predecessor dying) is waited for; 0ms = one try"},
    {.key = "log.level", .type = SAGA_CONFIG_ENUM, .def = "info",
     .choices = "debug|info|warn|error", .help = "lowest level logged"},
    {.key = "log.format", .type = SAGA_CONFIG_ENUM, .def = "auto", .choices = "auto|json|text",
     .help = "json lines, or text; auto = json unless stderr is a terminal"},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

_Static_assert(N_KEYS <= SAGA_WORKER_MAX_KEYS, "raise SAGA_WORKER_MAX_KEYS");

size_t saga_worker_keys(saga_config_key *keys, const char *http_listen)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        keys[i] = KEYS[i];
        if (strcmp(keys[i].key, "http.listen") == 0 && http_listen)
            keys[i].def = http_listen;
    }
    return N_KEYS;
}

void saga_worker_config_init(saga_worker_config *cfg, const char *participant)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->participant = participant;
    cfg->schema = participant;
    cfg->pg_dsn = getenv("SAGA_PG_DSN");
    cfg->brokers = getenv("SAGA_KAFKA_BROKERS");
    snprintf(cfg->topic, sizeof cfg->topic, "saga.%s.commands", participant);
    snprintf(cfg->group, sizeof cfg->group, "saga.%s", participant);
    cfg->partitions = 4;
    cfg->replication = -1;
    cfg->batch_max = 128;
    cfg->max_message_bytes = 1024 * 1024;
    cfg->http_bind_timeout_ms = 30000;
    saga_faults_init(&cfg->faults);
}

/* Turns a LIST of action names into a mask; empty means `empty`. */
static int action_mask(const saga_config *c, const char *key, unsigned empty, unsigned *out,
                       saga_error *err)
{
    size_t n = 0;
    const char *const *items = saga_config_list(c, key, &n);
    *out = n ? 0 : empty;
    for (size_t i = 0; i < n; i++) {
        unsigned m;
        if (saga_faults_parse_actions(items[i], &m)) {
            saga_error_set(err, SAGA_EINVAL, "%s: unknown action \"%s\"", key, items[i]);
            saga_error_hint(err, "actions are RESERVE, CONFIRM and COMPENSATE (or all)");
            return SAGA_EINVAL;
        }
        *out |= m;
    }
    return 0;
}

typedef struct kafka_copy {
    saga_worker_config *cfg;
    saga_error *err;
} kafka_copy;

static int copy_kafka(const char *key, const char *value, void *user)
{
    kafka_copy *k = user;
    if (strcmp(key, "bootstrap.servers") == 0) {
        k->cfg->brokers = value;
        return 0;
    }
    if (k->cfg->n_kafka_conf >= SAGA_WORKER_MAX_KAFKA_CONF)
        return saga_error_set(k->err, SAGA_EINVAL, "more than %d kafka.* settings",
                              SAGA_WORKER_MAX_KAFKA_CONF);
    k->cfg->kafka_conf[k->cfg->n_kafka_conf].key = key;
    k->cfg->kafka_conf[k->cfg->n_kafka_conf].value = value;
    k->cfg->n_kafka_conf++;
    return 0;
}

static int set_name(char *dst, size_t cap, const char *key, const char *v, saga_error *err)
{
    if (!v)
        return 0;
    if (!*v || strlen(v) >= cap)
        return saga_error_set(err, SAGA_EINVAL, "%s: must be 1 to %zu characters", key,
                              cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int saga_worker_config_from(saga_worker_config *cfg, saga_log_level *level,
                            saga_log_format *format, const saga_config *c,
                            const char *participant, saga_error *err)
{
    saga_worker_config_init(cfg, participant);
    cfg->pg_dsn = saga_config_str(c, "pg.dsn");
    cfg->dlq_topic = saga_config_str(c, "dlq.topic");
    cfg->partitions = (int)saga_config_int(c, "worker.partitions");
    cfg->replication = (int)saga_config_int(c, "worker.replication");
    cfg->batch_max = (int)saga_config_int(c, "worker.batch.max");
    cfg->max_message_bytes = (size_t)saga_config_int(c, "worker.max.message.bytes");
    cfg->http_listen = saga_config_str(c, "http.listen");
    cfg->http_bind_timeout_ms = saga_config_ms(c, "http.bind_timeout");
    saga_worker_faults *f = &cfg->faults;
    f->reject_rate = saga_config_double(c, "fault.reject.rate");
    f->retry_rate = saga_config_double(c, "fault.retry.rate");
    f->drop_reply_rate = saga_config_double(c, "fault.drop.reply.rate");
    f->crash_after_commit_rate = saga_config_double(c, "fault.crash.after.commit.rate");
    f->delay_ms = (int)saga_config_ms(c, "fault.delay");
    f->seed = (uint64_t)saga_config_int(c, "fault.seed");
    saga_log_level_parse(saga_config_str(c, "log.level"), level);
    saga_log_format_parse(saga_config_str(c, "log.format"), format);
    kafka_copy k = {cfg, err};
    cfg->brokers = NULL;
    if (set_name(cfg->topic, sizeof cfg->topic, "worker.topic",
                 saga_config_str(c, "worker.topic"), err) ||
        set_name(cfg->group, sizeof cfg->group, "worker.group",
                 saga_config_str(c, "worker.group"), err) ||
        action_mask(c, "fault.ignore", 0, &f->ignore_mask, err) ||
        action_mask(c, "fault.actions", f->action_mask, &f->action_mask, err) ||
        saga_config_each(c, "kafka.", copy_kafka, &k))
        return SAGA_EINVAL;
    return 0;
}

int saga_worker_argv_rewrite(saga_worker_argv *out, int argc, char **argv, saga_error *err)
{
    memset(out, 0, sizeof *out);
    out->argv = calloc((size_t)argc + 1, sizeof *out->argv);
    out->owned = calloc((size_t)argc + 1, sizeof *out->owned);
    if (!out->argv || !out->owned) {
        saga_worker_argv_free(out);
        return saga_error_set(err, SAGA_ENOMEM, "out of memory");
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *kv = NULL;
        if (strcmp(a, "--kafka") == 0)
            kv = i + 1 < argc ? argv[++i] : "";
        else if (strncmp(a, "--kafka=", 8) == 0)
            kv = a + 8;
        if (!kv) {
            out->argv[out->argc++] = argv[i];
            continue;
        }
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            saga_error_set(err, SAGA_EINVAL, "--kafka needs KEY=VALUE, got \"%s\"", kv);
            saga_error_hint(err, "e.g. --kafka session.timeout.ms=6000, or "
                                 "--kafka.session.timeout.ms=6000");
            saga_worker_argv_free(out);
            return SAGA_EINVAL;
        }
        size_t len = strlen(kv) + sizeof "--kafka.";
        char *flag = malloc(len);
        if (!flag) {
            saga_worker_argv_free(out);
            return saga_error_set(err, SAGA_ENOMEM, "out of memory");
        }
        snprintf(flag, len, "--kafka.%s", kv);
        out->owned[out->n_owned++] = flag;
        out->argv[out->argc++] = flag;
    }
    return 0;
}

void saga_worker_argv_free(saga_worker_argv *a)
{
    for (int i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    memset(a, 0, sizeof *a);
}
