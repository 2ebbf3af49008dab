/*
 * worker.h - the participant library: everything a saga participant needs
 * except its business logic.
 *
 * Layer: workers/, the participant library; built on core and common only,
 * used by the workers and your participants, never by the coordinator.
 *
 * A participant supplies three handlers (RESERVE, CONFIRM, COMPENSATE) that
 * change its own PostgreSQL tables. The library consumes the participant's
 * command topic, enforces the idempotency barrier (docs/participants.md) in
 * the same transaction as the handler's change, answers on the command's
 * reply topic and only then marks the Kafka offset for commit. It also owns
 * reconnects, dead-lettering of undecodable commands, fault injection and a
 * graceful stop, so every participant gets them right the same way.
 *
 * Commands are processed in batches: one PostgreSQL transaction per batch,
 * so the batch pays a single durable commit, and a command whose handler
 * fails is rolled back alone (the batch is re-applied with a savepoint
 * around each handler) and answered RETRY.
 *
 * A QUERY command (sagactl reconcile) is answered by the library alone, from
 * the barrier rows of its idempotency key as committed after the batch: no
 * handler runs, nothing is written.
 */
#ifndef SAGA_WORKER_H
#define SAGA_WORKER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "log.h"
#include "migrate.h"

/* Values match saga.proto's Action and Outcome. */
typedef enum saga_worker_action {
    SAGA_WORKER_RESERVE = 1,
    SAGA_WORKER_CONFIRM = 2,
    SAGA_WORKER_COMPENSATE = 3
} saga_worker_action;

typedef enum saga_worker_outcome {
    SAGA_WORKER_OK = 1,       /* done; *result (optional) goes in the reply */
    SAGA_WORKER_REJECTED = 2, /* business refusal, recorded, final */
    SAGA_WORKER_RETRY = 3     /* transient: rolled back, not recorded */
} saga_worker_outcome;

/* "RESERVE", "CONFIRM", "COMPENSATE" ("UNKNOWN" otherwise). */
const char *saga_worker_action_name(saga_worker_action a);
/* Case-insensitive; 0 or SAGA_EINVAL. */
int saga_worker_action_parse(const char *s, saga_worker_action *out);
/* "OK", "REJECTED", "RETRY". */
const char *saga_worker_outcome_name(saga_worker_outcome o);

/* One command as a handler sees it. Everything is borrowed and valid only
 * during the handler call. */
typedef struct saga_worker_cmd {
    saga_worker_action action;
    const char *saga_id;
    const char *saga_name;
    int saga_version;
    const char *step;
    const char *command;         /* the spec's command name ("hold_funds"),
                                    "" when sagad sent none */
    int attempt;
    const char *idempotency_key; /* "<saga_id>/<step>", same for all actions */
    int64_t deadline_ms;
    const char *traceparent;
    json_t *payload;             /* always a JSON object */
    /* CONFIRM and COMPENSATE: the result recorded for this step's RESERVE
     * (its reply payload), or NULL when it had none. */
    json_t *reserve_result;
    /* In the batch's open transaction. Use saga_worker_sql (or
     * PQexecParams); do not COMMIT, ROLLBACK or leave pipeline mode on. */
    PGconn *conn;
    saga_log_ctx log;            /* pass to saga_log for lines about it */
} saga_worker_cmd;

/*
 * A handler. Returns OK (optionally setting *result to a JSON object it
 * owns; the library takes it over), REJECTED or RETRY with a human reason
 * written into reason (reason_len bytes, NUL-terminated). A failed SQL
 * statement inside the handler is treated as RETRY whatever it returns.
 */
typedef saga_worker_outcome (*saga_worker_handler)(const saga_worker_cmd *cmd,
                                                   json_t **result,
                                                   char *reason,
                                                   size_t reason_len,
                                                   void *user);

typedef struct saga_worker_handlers {
    saga_worker_handler reserve;
    saga_worker_handler confirm;
    saga_worker_handler compensate;
} saga_worker_handlers;

/* Payload accessors for handlers: payload[name] as a non-empty string
 * (borrowed from the payload) or as an integer in [min, max]. On failure
 * they return SAGA_EINVAL and write "invalid payload: ..." into reason,
 * ready to be answered as REJECTED. */
int saga_worker_payload_string(const saga_worker_cmd *cmd, const char *name,
                               const char **out, char *reason, size_t reason_len);
int saga_worker_payload_int(const saga_worker_cmd *cmd, const char *name, int64_t min,
                            int64_t max, int64_t *out, char *reason, size_t reason_len);

/*
 * Runs sql with text parameters (NULL entries are SQL NULL) on cmd->conn as
 * a prepared statement: prepared on first use per connection, keyed by the
 * SQL text, so later commands skip PostgreSQL's parse and plan. Returns the
 * result (owned: PQclear; never NULL); check PQresultStatus exactly as for
 * PQexecParams, which it replaces (and which it falls back to when the
 * statement cannot be prepared). Works on any connection, so a handler's
 * test may build cmd itself.
 */
PGresult *saga_worker_sql(const saga_worker_cmd *cmd, const char *sql, int nparams,
                          const char *const *values);

/* For a statement that failed: writes its primary error message into
 * reason, frees r and returns SAGA_WORKER_RETRY (the library rolls the
 * command back and answers RETRY). */
saga_worker_outcome saga_worker_sql_failed(PGresult *r, char *reason, size_t reason_len);

/* Fault injection (see docs/participants.md). Rates are probabilities in
 * [0, 1]; decisions are a pure function of (seed, idempotency key, action,
 * attempt), so a run is reproducible whatever the batching. */
typedef struct saga_worker_faults {
    double reject_rate;             /* RESERVE only: refuse as if short */
    double retry_rate;              /* answer RETRY, change nothing */
    int delay_ms;                   /* added latency, once per batch */
    double drop_reply_rate;         /* commit the effect, send no reply */
    double crash_after_commit_rate; /* commit the effect, exit before replying */
    unsigned ignore_mask;           /* 1 << action: consume, never answer */
    unsigned action_mask;           /* 1 << action: where retry, delay, drop
                                       and crash apply (default all) */
    uint64_t seed;
} saga_worker_faults;

#define SAGA_WORKER_MAX_KAFKA_CONF 64

/* Everything saga_worker_run needs. Strings are borrowed and must outlive
 * the run. saga_worker_config_init fills the defaults for a participant. */
typedef struct saga_worker_config {
    const char *participant;   /* "inventory" */
    const char *schema;        /* PostgreSQL schema holding <schema>.barrier */
    const char *pg_dsn;
    const char *brokers;
    char topic[256];           /* default saga.<participant>.commands */
    char group[256];           /* default saga.<participant> */
    const char *dlq_topic;     /* default saga.dlq */
    int partitions;            /* of the command topic when created; 4 */
    int replication;           /* -1: the broker's default */
    int batch_max;             /* commands per transaction; 128 */
    size_t max_message_bytes;  /* larger commands are dead-lettered; 1 MiB */
    /* Extra librdkafka properties, applied to both clients after the
     * library's defaults (so they win). */
    struct {
        const char *key, *value;
    } kafka_conf[SAGA_WORKER_MAX_KAFKA_CONF];
    int n_kafka_conf;
    const char *http_listen;   /* /healthz /readyz /metrics; NULL or "off": none */
    int64_t http_bind_timeout_ms; /* wait for a port in use; 30 s, 0: one try */
    saga_worker_faults faults;
    /* Applied before consuming (NULL: none). */
    const saga_migration *migrations;
    size_t n_migrations;
    bool install_signal_handlers; /* SIGTERM/SIGINT -> saga_worker_request_stop */
} saga_worker_config;

/* Defaults for participant (borrowed): topic, group, schema, limits; DSN
 * and brokers from SAGA_PG_DSN / SAGA_KAFKA_BROKERS; no HTTP endpoint. */
void saga_worker_config_init(saga_worker_config *cfg, const char *participant);

/* Counters kept by a run, readable from another thread (relaxed atomics),
 * for programs that embed the library; the same facts are exported on
 * /metrics (http_listen). */
typedef struct saga_worker_stats {
    uint64_t commands[4][4];    /* [action][outcome] replied or recorded */
    uint64_t duplicates;        /* answered from the barrier */
    uint64_t dead_lettered;
    uint64_t batches;
    uint64_t batch_retries;     /* whole batch re-run after a failure */
    uint64_t db_reconnects;
    uint64_t faults_injected;
    uint64_t replies_dropped;   /* by fault injection */
    uint64_t ignored;           /* by --ignore */
    uint64_t queries;           /* QUERY commands answered (reconciliation) */
} saga_worker_stats;

/*
 * Runs the participant until saga_worker_request_stop (or a signal, when
 * cfg->install_signal_handlers; a second signal exits at once). Serves
 * cfg->http_listen, connects to PostgreSQL (retrying with backoff), applies
 * cfg->migrations, creates the command and dead-letter topics, then
 * consumes. On stop, the batch in hand is finished (commit, replies,
 * offsets) before returning 0. Returns a negative SAGA_E* code with err set
 * when it cannot start (bad config, address in use, a migration failed) or
 * on a fatal Kafka error. stats (may be NULL) is updated as it goes.
 */
int saga_worker_run(const saga_worker_config *cfg, const saga_worker_handlers *h,
                    void *user, saga_worker_stats *stats, saga_error *err);

/* Async-signal-safe: asks the running saga_worker_run to stop. */
void saga_worker_request_stop(void);

/* A participant's extra subcommand (seed, check...). run gets the arguments
 * after the subcommand name, untouched, and an open
 * connection (borrowed, not in a transaction, migrations applied). It
 * returns the exit status (0, or 1 for "checked and found wrong"), or a
 * negative SAGA_E* code with err set (exit status 2). */
typedef struct saga_worker_subcommand {
    const char *name;
    const char *usage;   /* arguments, e.g. "--sku SKU --qty N ..." */
    const char *summary; /* one line for --help */
    int (*run)(PGconn *conn, int argc, char **argv, void *user, saga_error *err);
} saga_worker_subcommand;

/* A complete participant program, for saga_worker_main. */
typedef struct saga_worker_participant {
    const char *name;                  /* topic, group, schema, migrations */
    const char *summary;               /* one line for --help */
    const char *http_listen;           /* default of http.listen; NULL: "off" */
    const saga_migration *migrations;
    size_t n_migrations;
    saga_worker_handlers handlers;
    const saga_worker_subcommand *subcommands;
    size_t n_subcommands;
    void *user;
} saga_worker_participant;

/*
 * The whole main() of a participant: `<prog> [OPTIONS] [run|migrate]
 * [OPTIONS]` or `<prog> [OPTIONS] SUBCOMMAND [ARGS]`, where OPTIONS are the
 * keys of examples/worker.conf (also from --config FILE and SAGA_*
 * variables; `--help` lists them, `--print-config` shows the result).
 * Returns the process exit status: 0 success, 1 a subcommand's check
 * failed, 2 usage or runtime error (3 is an injected crash).
 */
int saga_worker_main(const saga_worker_participant *p, int argc, char **argv);

#endif
