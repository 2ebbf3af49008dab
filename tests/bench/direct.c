/*
 * direct.c - the ceiling: the business work of order_checkout done straight
 * against PostgreSQL, with no coordinator and no Kafka.
 *
 * Per order it runs the four commands the workers run for a saga
 * (inventory RESERVE, payment RESERVE, inventory CONFIRM, payment CONFIRM)
 * through the worker library's own batch path, saga_apply_batch: the same
 * barrier claim, the same handler calls under the same savepoint rules, the
 * same barrier record and commit, and the same handlers
 * (workers/inventory/stock.c and workers/payment/funds.c). What is left out
 * is exactly what a saga adds: sagad, its tables and Kafka.
 *
 * Concurrency and batching are the workers': --conns connections (2 = one
 * inventory-worker and one payment-worker connection), each applying
 * --batch commands per transaction (the workers' --batch-max, 128). With
 * --batch 1 every command is its own durable transaction, the cost of a
 * participant that cannot batch.
 *
 * usage: direct --prefix P [--sku-prefix X] [--account-prefix X] [--skus K]
 *               [--conns N] [--batch B] [--duration S]
 * prints {"orders": ..., "orders_per_s": ...} on stdout.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "apply.h"
#include "bench.h"
#include "inventory/inventory.h"
#include "payment/payment.h"
#include "store.h"

#define MAX_CONNS 64
/* The workers' own handlers (workers/inventory/stock.c and
 * workers/payment/funds.c, linked in by the Makefile), so the ceiling runs
 * exactly the SQL a saga's commands run. */
static const saga_worker_handlers INVENTORY = {inventory_reserve, inventory_confirm,
                                               inventory_compensate};
static const saga_worker_handlers PAYMENT = {payment_reserve, payment_confirm,
                                             payment_compensate};

/* --- the load ---------------------------------------------------------------- */

typedef struct opts {
    const char *dsn, *prefix, *sku_prefix, *account_prefix;
    int skus, conns, batch;
    double duration;
} opts;

typedef struct shared {
    const opts *o;
    atomic_long next_order;
    atomic_long orders_done;
    atomic_long commands;
    atomic_int failed;
    int64_t deadline_mono;
} shared;

/* One participant on one connection: what saga_apply_batch needs. Both
 * participants of a connection share its prepared-statement cache (the
 * statement names are per connection). */
typedef struct side {
    saga_barrier barrier;
    saga_worker_stats stats;
    saga_applier applier;
} side;

static int side_open(side *s, PGconn *c, const char *schema, const saga_worker_handlers *h)
{
    saga_error err;
    memset(s, 0, sizeof *s);
    if (saga_barrier_open(&s->barrier, c, schema, &err)) {
        fprintf(stderr, "direct: %s: %s\n", schema, err.msg);
        return -1;
    }
    s->applier = (saga_applier){.pg = c, .barrier = &s->barrier, .h = h,
                                .stats = &s->stats};
    return 0;
}

/* Encodes and decodes a Command exactly as a worker receives it. */
static int make_item(saga_item *it, const char *saga_id, const char *step, int action,
                     const char *key, const char *payload)
{
    memset(it, 0, sizeof *it);
    it->origin = -1;
    Saga__Command cmd = SAGA__COMMAND__INIT;
    cmd.saga_id = (char *)saga_id;
    cmd.saga_name = "order_checkout";
    cmd.saga_version = 1;
    cmd.step = (char *)step;
    cmd.action = (Saga__Action)action;
    cmd.attempt = 1;
    cmd.idempotency_key = (char *)key;
    cmd.payload.data = (uint8_t *)payload;
    cmd.payload.len = strlen(payload);
    cmd.deadline_ms = 0;
    cmd.reply_topic = "saga.replies";
    cmd.traceparent = "";
    cmd.command = "";
    uint8_t buf[2048];
    size_t len = saga__command__get_packed_size(&cmd);
    if (len > sizeof buf)
        return -1;
    saga__command__pack(&cmd, buf);
    char why[256];
    if (saga_wire_decode(buf, len, sizeof buf, &it->cmd, why, sizeof why)) {
        fprintf(stderr, "direct: %s\n", why);
        return -1;
    }
    const Saga__Command *pb = it->cmd.pb;
    it->log = (saga_log_ctx){pb->saga_id, pb->step, saga_worker_action_name(action),
                             pb->attempt, pb->traceparent};
    return 0;
}

static void free_items(saga_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        saga_wire_cmd_free(&items[i].cmd);
        free(items[i].result);
        items[i].result = NULL;
    }
}

typedef struct order {
    char saga_id[SAGA_ID_LEN + 1];
    char key_inv[128], key_pay[128];
    char sku[96], account[96];
} order;

/* One participant action for a batch of orders: one saga_apply_batch. */
static int phase(side *s, saga_item *items, const order *ods, int n, bool inventory, int action,
                 shared *sh)
{
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char payload[256];
        if (action == SAGA__ACTION__RESERVE && inventory)
            snprintf(payload, sizeof payload, "{\"sku\":\"%s\",\"qty\":1}", ods[i].sku);
        else if (action == SAGA__ACTION__RESERVE)
            snprintf(payload, sizeof payload, "{\"account\":\"%s\",\"amount\":100}",
                     ods[i].account);
        else
            snprintf(payload, sizeof payload, "{}");
        rc = make_item(&items[i], ods[i].saga_id, inventory ? "reserve_inventory" : "reserve_payment",
                       action, inventory ? ods[i].key_inv : ods[i].key_pay, payload);
    }
    if (rc == 0 && saga_apply_batch(&s->applier, items, n))
        rc = -1;
    for (int i = 0; i < n && rc == 0; i++)
        if (items[i].outcome != SAGA_WORKER_OK) {
            fprintf(stderr, "direct: %s answered %s: %s\n", items[i].cmd.pb->idempotency_key,
                    saga_worker_outcome_name(items[i].outcome), items[i].reason);
            rc = -1;
        }
    if (rc == 0)
        atomic_fetch_add(&sh->commands, n);
    free_items(items, n);
    return rc;
}

static void *conn_main(void *arg)
{
    shared *sh = arg;
    const opts *o = sh->o;
    PGconn *c = PQconnectdb(o->dsn);
    side inv, pay;
    order *ods = calloc((size_t)o->batch, sizeof *ods);
    saga_item *items = calloc((size_t)o->batch, sizeof *items);
    bool ok = PQstatus(c) == CONNECTION_OK && ods && items;
    if (!ok)
        fprintf(stderr, "direct: cannot start: %s", PQerrorMessage(c));
    bool inv_open = ok && side_open(&inv, c, "inventory", &INVENTORY) == 0;
    bool pay_open = inv_open && side_open(&pay, c, "payment", &PAYMENT) == 0;
    if (!pay_open)
        atomic_store(&sh->failed, 1);
    while (!atomic_load(&sh->failed) && bench_mono_us() < sh->deadline_mono) {
        long first = atomic_fetch_add(&sh->next_order, o->batch);
        for (int i = 0; i < o->batch; i++) {
            order *od = &ods[i];
            long k = first + i;
            saga_uuid_new(od->saga_id);
            snprintf(od->key_inv, sizeof od->key_inv, "%s-%09ld/reserve_inventory", o->prefix, k);
            snprintf(od->key_pay, sizeof od->key_pay, "%s-%09ld/reserve_payment", o->prefix, k);
            snprintf(od->sku, sizeof od->sku, "%s-%ld", o->sku_prefix, k % o->skus);
            snprintf(od->account, sizeof od->account, "%s-%ld", o->account_prefix, k % o->skus);
        }
        /* Reserve stock, then funds; confirm both: the saga's order. */
        if (phase(&inv, items, ods, o->batch, true, SAGA__ACTION__RESERVE, sh) ||
            phase(&pay, items, ods, o->batch, false, SAGA__ACTION__RESERVE, sh) ||
            phase(&inv, items, ods, o->batch, true, SAGA__ACTION__CONFIRM, sh) ||
            phase(&pay, items, ods, o->batch, false, SAGA__ACTION__CONFIRM, sh)) {
            atomic_store(&sh->failed, 1);
            break;
        }
        atomic_fetch_add(&sh->orders_done, o->batch);
    }
    if (pay_open)
        saga_barrier_close(&pay.barrier);
    if (inv_open)
        saga_barrier_close(&inv.barrier);
    free(ods);
    free(items);
    PQfinish(c);
    return NULL;
}

static void parse(opts *o, int argc, char **argv)
{
    o->dsn = getenv("SAGA_PG_DSN");
    o->skus = 1000;
    o->conns = 2;
    o->batch = 128;
    o->duration = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--prefix") == 0)
            o->prefix = bench_arg(argc, argv, &i);
        else if (strcmp(a, "--sku-prefix") == 0)
            o->sku_prefix = bench_arg(argc, argv, &i);
        else if (strcmp(a, "--account-prefix") == 0)
            o->account_prefix = bench_arg(argc, argv, &i);
        else if (strcmp(a, "--skus") == 0)
            o->skus = atoi(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--conns") == 0)
            o->conns = atoi(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--batch") == 0)
            o->batch = atoi(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--duration") == 0)
            o->duration = atof(bench_arg(argc, argv, &i));
        else if (strcmp(a, "--pg-dsn") == 0)
            o->dsn = bench_arg(argc, argv, &i);
        else
            o->prefix = NULL, i = argc;
    }
    if (!o->prefix || !o->dsn || o->skus < 1 || o->conns < 1 || o->conns > MAX_CONNS ||
        o->batch < 1 || o->duration <= 0) {
        fprintf(stderr, "usage: direct --prefix P [--sku-prefix X] [--account-prefix X] "
                        "[--skus K] [--conns N] [--batch B] [--duration S] [--pg-dsn DSN]\n");
        exit(2);
    }
    if (!o->sku_prefix)
        o->sku_prefix = o->prefix;
    if (!o->account_prefix)
        o->account_prefix = o->prefix;
}

int main(int argc, char **argv)
{
    opts o = {0};
    parse(&o, argc, argv);
    saga_log_setup("direct", SAGA_LOG_WARN, SAGA_LOG_TEXT);
    shared sh = {.o = &o};
    atomic_init(&sh.next_order, 0);
    atomic_init(&sh.orders_done, 0);
    atomic_init(&sh.commands, 0);
    atomic_init(&sh.failed, 0);
    pthread_t th[MAX_CONNS];
    double cpu0 = bench_proc_cpu(getpid());
    int64_t t0 = bench_mono_us();
    sh.deadline_mono = t0 + (int64_t)(o.duration * 1e6);
    for (int i = 0; i < o.conns; i++)
        pthread_create(&th[i], NULL, conn_main, &sh);
    for (int i = 0; i < o.conns; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(bench_mono_us() - t0) / 1e6;
    double cpu = bench_proc_cpu(getpid()) - cpu0;
    long orders = atomic_load(&sh.orders_done);
    printf("{\"conns\": %d, \"batch\": %d, \"orders\": %ld, \"commands\": %ld, "
           "\"seconds\": %.3f, \"orders_per_s\": %.1f, \"client_cpu_s\": %.2f, \"failed\": %s}\n",
           o.conns, o.batch, orders, atomic_load(&sh.commands), secs,
           secs > 0 ? (double)orders / secs : 0, cpu,
           atomic_load(&sh.failed) ? "true" : "false");
    return atomic_load(&sh.failed) ? 1 : 0;
}
