/*
 * test_worker_options.c - a worker's settings: the keys' defaults, the
 * environment and flags (through engine/config.c), their translation into
 * saga_worker_config, and the older --kafka KEY=VALUE spelling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static const char *ENV[] = {"SAGA_PG_DSN", "SAGA_KAFKA_BROKERS", "SAGA_WORKER_TOPIC",
                            "SAGA_WORKER_BATCH_MAX", "SAGA_FAULT_RETRY_RATE",
                            "SAGA_FAULT_IGNORE", "SAGA_FAULT_SEED", "SAGA_LOG_LEVEL",
                            "SAGA_FAULT_DELAY_MS", "SAGA_HTTP_LISTEN", "SAGA_CONFIG", NULL};

static saga_config_key keys[SAGA_WORKER_MAX_KEYS];

static int clean_env(void **state)
{
    (void)state;
    for (int i = 0; ENV[i]; i++)
        unsetenv(ENV[i]);
    setenv("SAGA_PG_DSN", "host=env", 1);
    return 0;
}

/* Loads argv (argv[0] included) and translates it; returns the rc of the
 * first step that failed. */
static int load(saga_config **c, int argc, char **argv, saga_worker_config *cfg,
                saga_error *err)
{
    size_t n = saga_worker_keys(keys, "127.0.0.1:9465");
    *c = saga_config_new(keys, n);
    assert_non_null(*c);
    saga_worker_argv a;
    int rc = saga_worker_argv_rewrite(&a, argc, argv, err);
    if (rc == 0)
        rc = saga_config_load(*c, a.argc, a.argv, NULL, err);
    saga_log_level level;
    saga_log_format format;
    if (rc == 0)
        rc = saga_worker_config_from(cfg, &level, &format, *c, "inventory", err);
    saga_worker_argv_free(&a);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    char *argv[] = {"w", NULL};
    saga_config *c;
    saga_worker_config cfg;
    saga_error err;
    assert_int_equal(load(&c, 1, argv, &cfg, &err), 0);
    assert_string_equal(cfg.participant, "inventory");
    assert_string_equal(cfg.schema, "inventory");
    assert_string_equal(cfg.topic, "saga.inventory.commands");
    assert_string_equal(cfg.group, "saga.inventory");
    assert_string_equal(cfg.dlq_topic, "saga.dlq");
    assert_string_equal(cfg.pg_dsn, "host=env");
    assert_string_equal(cfg.http_listen, "127.0.0.1:9465");
    assert_int_equal(cfg.partitions, 4);
    assert_int_equal(cfg.replication, -1);
    assert_int_equal(cfg.batch_max, 128);
    assert_int_equal(cfg.max_message_bytes, 1024 * 1024);
    assert_null(cfg.brokers);
    assert_int_equal(cfg.n_kafka_conf, 0);
    assert_true(cfg.faults.retry_rate == 0);
    assert_int_equal(cfg.faults.ignore_mask, 0);
    assert_int_equal(cfg.faults.action_mask, (1u << SAGA_WORKER_RESERVE) |
                                                 (1u << SAGA_WORKER_CONFIRM) |
                                                 (1u << SAGA_WORKER_COMPENSATE));
    saga_config_free(c);
}

static void test_env_then_flags(void **state)
{
    (void)state;
    setenv("SAGA_KAFKA_BROKERS", "env:9092", 1);
    setenv("SAGA_WORKER_BATCH_MAX", "64", 1);
    setenv("SAGA_FAULT_RETRY_RATE", "0.5", 1);
    setenv("SAGA_FAULT_IGNORE", "confirm,compensate", 1);
    setenv("SAGA_FAULT_DELAY_MS", "250ms", 1);
    char *argv[] = {"w", "--pg-dsn", "host=flag", "--batch-max=8", "--topic", "t.cmds",
                    "--kafka", "linger.ms=5", "--kafka.acks=all", "--retry-rate", "0",
                    "--fault-actions", "reserve", "--fault-seed", "16", NULL};
    saga_config *c;
    saga_worker_config cfg;
    saga_error err;
    assert_int_equal(load(&c, 15, argv, &cfg, &err), 0);
    assert_string_equal(cfg.pg_dsn, "host=flag");
    assert_string_equal(cfg.brokers, "env:9092");
    assert_string_equal(cfg.topic, "t.cmds");
    assert_int_equal(cfg.batch_max, 8);
    assert_int_equal(cfg.faults.delay_ms, 250);
    assert_true(cfg.faults.retry_rate == 0);
    assert_true(cfg.faults.seed == 16);
    assert_int_equal(cfg.faults.ignore_mask,
                     (1u << SAGA_WORKER_CONFIRM) | (1u << SAGA_WORKER_COMPENSATE));
    assert_int_equal(cfg.faults.action_mask, 1u << SAGA_WORKER_RESERVE);
    assert_int_equal(cfg.n_kafka_conf, 2);
    assert_string_equal(cfg.kafka_conf[0].key, "linger.ms");
    assert_string_equal(cfg.kafka_conf[0].value, "5");
    assert_string_equal(cfg.kafka_conf[1].key, "acks");
    saga_config_free(c);
}

static void expect_error(char **argv, int argc, const char *msg_part)
{
    saga_config *c;
    saga_worker_config cfg;
    saga_error err;
    saga_error_clear(&err);
    assert_int_not_equal(load(&c, argc, argv, &cfg, &err), 0);
    if (!strstr(err.msg, msg_part))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
    saga_config_free(c);
}

static void test_bad_values(void **state)
{
    (void)state;
    char *a1[] = {"w", "--retry-rate", "1.5", NULL};
    expect_error(a1, 3, "--retry-rate");
    char *a2[] = {"w", "--batch-max", "0", NULL};
    expect_error(a2, 3, "--batch-max");
    char *a3[] = {"w", "--ignore", "refund", NULL};
    expect_error(a3, 3, "fault.ignore: unknown action \"refund\"");
    char *a4[] = {"w", "--kafka", "novalue", NULL};
    expect_error(a4, 3, "--kafka needs KEY=VALUE");
    char *a5[] = {"w", "--kafka", NULL};
    expect_error(a5, 2, "--kafka needs KEY=VALUE");
    char *a6[] = {"w", "--topic", "", NULL};
    expect_error(a6, 3, "worker.topic");
    char *a7[] = {"w", "--no-such-option", "1", NULL};
    expect_error(a7, 3, "unknown option");
    unsetenv("SAGA_PG_DSN");
    char *a8[] = {"w", NULL};
    expect_error(a8, 1, "pg.dsn");
}

static void test_argv_rewrite(void **state)
{
    (void)state;
    char *argv[] = {"w", "run", "--kafka", "a.b=1", "--kafka=c=2", "--kafka.d=3", "x", NULL};
    saga_worker_argv a;
    saga_error err;
    assert_int_equal(saga_worker_argv_rewrite(&a, 7, argv, &err), 0);
    assert_int_equal(a.argc, 6);
    assert_string_equal(a.argv[1], "run");
    assert_string_equal(a.argv[2], "--kafka.a.b=1");
    assert_string_equal(a.argv[3], "--kafka.c=2");
    assert_string_equal(a.argv[4], "--kafka.d=3");
    assert_ptr_equal(a.argv[5], argv[6]);
    assert_null(a.argv[6]);
    saga_worker_argv_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clean_env),
        cmocka_unit_test_setup(test_env_then_flags, clean_env),
        cmocka_unit_test_setup(test_bad_values, clean_env),
        cmocka_unit_test_setup(test_argv_rewrite, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
